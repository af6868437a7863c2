/* SPDX-License-Identifier: MIT */
/*
 * The box's network (net.c; docs/design/networking.md): slirp4netns, the nftables allow-list,
 * published ports relayed into the box, and the DNS filter (dns.h), which it owns.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "conf.h"
#include "dns.h"
#include "shim.h"

/* The box's address on its network (slirp4netns's default). */
#define NET_BOX_ADDR "10.0.2.100"

/* What the network needs of the box: borrowed from the supervisor, which outlives it. */
struct net_box {
    struct shim_conf *conf; /* net_prepare() turns a best-effort network off, and drops the
                             * capabilities a filtered box must not have */
    int boxfd;              /* BOX_DIR: net.log, ports */
    const char *box_dir;
    int epfd;
    struct box_pid1 *pid1; /* its pidns_joined drops if we cannot get back in */
    bool userns;           /* without root */
};

struct net_listener;
struct relay;

struct net {
    struct net_box box;
    int netns_fd, host_netns_fd;
    int userns_fd; /* without root: the box's user namespace, joined before its netns */
    pid_t slirp_pid;
    int slirp_pidfd, slirp_exit_w, slirp_ready_r;
    pid_t nft_pid;
    int nft_pidfd, nft_err_r;
    struct net_listener *listeners;
    size_t n_listeners;
    struct relay *relays;
    size_t n_relays, max_relays;
    bool up;             /* slirp runs: the box has a network */
    bool ports_only;     /* no network (loopback), but published ports relayed into it */
    uint64_t relayed[2]; /* bytes through published ports: [0] into the box, [1] out of it */
    struct dns dns;
};

void net_init(struct net *net);
/* Before PID 1: check the configuration, find the helpers, bind the published ports (a port in
 * use fails the start here). Turns a best-effort network off when slirp4netns is missing. */
int net_prepare(struct net *net, const struct net_box *box, bl_error **err);
/* Lines for the box's /etc/hosts (the host alias, pinned allow-list names); owned by the caller. */
int net_hosts_lines(const struct net *net, char **ret);
/* The box's /etc/resolv.conf, or NULL for the host's (a box without network). */
const char *net_resolv_conf(const struct net *net);
/* Right after PID 1 (box.pid1) is created: start slirp4netns (and nft for an allow-list). */
int net_start(struct net *net, bl_error **err);
/* Before "go": the allow-list is loaded and the interface is up; the ports file is written. */
int net_wait_ready(struct net *net, bl_error **err);
void net_on_event(struct net *net, struct ev *ev, uint32_t events);
/* Free what died in the last batch of events. */
void net_sweep(struct net *net);
/* pid was slirp4netns's (reaped): forget it. */
bool net_reaped(struct net *net, pid_t pid);
/* Whether the box has its network up (and so NET_BOX_ADDR). */
bool net_address(const struct net *net);
/* Bytes relayed through published ports since the start: into the box, out of it. */
void net_relayed(const struct net *net, uint64_t *in, uint64_t *out);
/* Teardown: listeners, relays, DNS filter and helpers gone (the done function; idempotent). */
void net_done(struct net *net);
