/* SPDX-License-Identifier: MIT */
/*
 * The DNS filter of an allow-list with domains (dns.c). Owned and driven by the network
 * (net.c): it gets its socket in the box and a function that opens addresses, so that it
 * needs nothing of the network's (nor the supervisor's) internals.
 */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "conf.h"
#include "shim.h"

/* Let the box reach a[0..n) (port 0: any port) before the answer naming them reaches it. */
typedef int (*dns_allow_fn)(void *userdata, const struct in_addr *a, size_t n, unsigned short port);

struct dns_pending {
    bool used;
    uint16_t id, client_id;
    struct sockaddr_in client;
    time_t when;
    char name[256];
};

/* An address and port already opened for an answer. */
struct dns_known {
    uint32_t addr;
    uint16_t port;
};

struct dns {
    const struct shim_conf *conf; /* borrowed: allow_dns */
    int epfd;                     /* borrowed */
    dns_allow_fn allow;
    void *userdata;
    struct ev box_ev, up_ev; /* EV_NET */
    int box_fd, up_fd;
    struct sockaddr_in upstream;
    bool have_upstream;
    /* allocated by dns_start() (only a box with allow_dns pays for them) */
    struct dns_pending *pending; /* MAX_PENDING of dns.c */
    struct dns_known *known;     /* MAX_KNOWN of dns.c */
    size_t n_known;
};

void dns_init(struct dns *d);
/* Serve queries on box_fd (consumed: a UDP socket in the box's network namespace, its lo up),
 * watched in epfd (borrowed); allow(userdata, ...) opens the addresses of allowed answers. */
int dns_start(struct dns *d, int box_fd, const struct shim_conf *conf, int epfd, dns_allow_fn allow,
              void *userdata, bl_error **err);
/* Handles ev if it is one of ours. */
bool dns_on_event(struct dns *d, struct ev *ev);
/* Close the sockets, free what was pending and known (idempotent). */
void dns_done(struct dns *d);
