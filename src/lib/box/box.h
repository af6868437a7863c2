/* SPDX-License-Identifier: MIT */
/* Boxes inside the library: the handle, the recovery pass, and the shim's location. */
#pragma once

#include <jansson.h>

#include "boxlite/box.h"
#include "proc-util.h"
#include "runtime.h"

struct box_stdio;

struct boxlite_box {
    char *id;
    char *name;   /* NULL if none */
    char *status; /* configured | running | stopped */
    int64_t created_ns;
    int pid;
    int exit_code;
    json_t *config;
    int dir_fd;  /* boxes/<id> */
    int lock_fd; /* flock on boxes/<id>/lock while this handle owns the box's lifecycle */
    struct bl_proc shim; /* attached start: our child */
    int chan_fd;         /* attached start: the spawn channel */
    int tty_master;      /* attached start of a tty box: PID 1's pty */
    int io_in, io_out;   /* attached tty start: the caller's fds (borrowed) */
    struct box_stdio *stdio; /* attached start: the relays of the caller's files (box.c) */
    char *log_path;      /* boxlite_box_log_path() */
};

/* Sizes (bytes of NUL-terminated strings) that every exec can carry. An exec request travels
 * as one SOCK_SEQPACKET datagram to the shim (the caller's argv, -e, cwd and user; the shim
 * adds the box's environment), then as one more, with the box's environment merged in, from
 * the shim to its exec zygote. A datagram is bounded by the sender's socket buffer (Linux:
 * net.core.wmem_default, 208 KiB unless changed), so the two budgets together stay below it:
 * a box whose environment is larger is refused at create (it could run, but no exec could
 * enter it), and so is an exec request that is. */
#define BL_BOX_ENV_MAX (128 * 1024)
#define BL_EXEC_REQUEST_MAX (64 * 1024)

void bl_box_free(struct boxlite_box *b);
BL_DEFINE_CLEANUP_FUNC(struct boxlite_box *, bl_box_free)

/* box.c helpers shared with the other box-*.c files */
/* Refuse (or do) an implicit start for `op`, as spec/cli.md §3 says. */
int bl_box_start_on_demand(struct boxlite_runtime *rt, struct boxlite_box *b, const char *op,
                           bl_error **err);
/* 1 if a process holds the flock on dir/name, 0 if not (or the file is missing). */
int bl_lock_held(int dir_fd, const char *name);
/* Write BOX_DIR/shim.conf for a start (stdio: the attached start's fds, else NULL). */
int bl_box_write_shim_conf(struct boxlite_runtime *rt, struct boxlite_box *b, const int *stdio,
                           bl_error **err);
/* The boxlite-shim binary to run. */
int bl_shim_path(char **ret, bl_error **err);
/* Run `boxlite-shim [MODE] BOX_DIR` with `stdio` (borrowed, NULL = /dev/null) and the spawn
 * channel as fd 3. On success *ret_proc owns the child (none with BL_SPAWN_DETACH) and
 * *ret_chan our end of the channel. */
int bl_shim_spawn(struct boxlite_runtime *rt, struct boxlite_box *b, const char *mode,
                  const int *stdio, int flags, struct bl_proc *ret_proc, int *ret_chan,
                  bl_error **err);

/* box-volume.c */
struct bl_volume {
    char *source; /* canonical host path; NULL for an anonymous volume until it is made */
    char *target; /* absolute path in the box */
    int ro, anonymous;
};
void bl_volume_done(struct bl_volume *v);
/* Parse a `-v` spec (messages of spec/cli.md §4.1); a host path is canonicalized and must
 * exist. */
int bl_volume_parse(const char *spec, struct bl_volume *ret, bl_error **err);
/* Make <home>/volumes/anonymous/<ULID>; *ret_path is owned by the caller. */
int bl_volume_make_anonymous(struct boxlite_runtime *rt, char **ret_path, bl_error **err);
/* Remove one (only a path under <home>/volumes/anonymous/). */
void bl_volume_remove_anonymous(struct boxlite_runtime *rt, const char *path);

/* box-net.c: the network settings of a box (spec/cli.md §4.1 PublishFlags, NetworkFlags) */
struct bl_port {
    char host_ip[16];   /* dotted quad; 127.0.0.1 by default */
    unsigned host_port; /* 0 = chosen at start */
    unsigned box_port;  /* 1-65535 */
};
/* Parse a `-p` spec: BOX, HOST_PORT:BOX, HOST_IP:HOST_PORT:BOX or HOST_IP::BOX, each with an
 * optional /tcp. No allocation; *ret untouched on failure (-EINVAL). */
int bl_port_parse(const char *spec, struct bl_port *ret, bl_error **err);

enum bl_allow_kind {
    BL_ALLOW_CIDR,     /* host = network address, prefix = 0-32 (a bare IP is /32) */
    BL_ALLOW_HOST,     /* host = a name (lowercase), resolved at each start */
    BL_ALLOW_WILDCARD, /* host = DOMAIN of "*.DOMAIN" (lowercase) */
    BL_ALLOW_HOSTLO,   /* "host.boxlite.internal": the host's loopback */
};
struct bl_allow {
    enum bl_allow_kind kind;
    char host[254];
    unsigned prefix;
    unsigned port; /* 0 = any */
};
/* Parse an --allow-net entry. No allocation; *ret untouched on failure (-EINVAL). */
int bl_allow_parse(const char *entry, struct bl_allow *ret, bl_error **err);
/* "enabled"/"disabled" (any case); NULL is "enabled". *ret_enabled untouched on failure. */
int bl_net_mode_parse(const char *mode, int *ret_enabled, bl_error **err);
/* Validate the network options of a create (any may be NULL) and store "network", "ports" and
 * "network_explicit" in cfg. cfg may be half updated on failure. */
int bl_box_net_config(const char *mode, const char *const *allow_net, const char *const *publish,
                      json_t *cfg, bl_error **err);
/* Absolute path of helper `name`: $env if set, else searched in $PATH and the sbin/bin
 * directories. *ret owned by the caller. -ENOENT (no message) when not found. */
int bl_net_find_helper(const char *name, const char *env, char **ret, bl_error **err);
/* Call put(userdata, key, value) for the network keys of shim.conf (net, slirp, nft, port,
 * allow, allow_host, allow_hostlo, allow_dns), resolving host names now. Nothing is put when
 * it fails (-ENOENT: a helper or a host is missing). */
typedef void (*bl_conf_put_fn)(void *userdata, const char *key, const char *value);
int bl_box_net_shim_conf(json_t *cfg, bl_conf_put_fn put, void *userdata, bl_error **err);
/* The box's published ports: [{"host_ip", "host_port", "box_port"}], as the running shim
 * reports them in BOX_DIR/ports when `running`, else as configured (host_port 0 = any). */
int bl_box_net_ports(struct boxlite_box *b, int running, json_t **ret, bl_error **err);
/* inspect's "NetworkSettings" object (a new reference). */
int bl_box_net_inspect(struct boxlite_box *b, json_t **ret, bl_error **err);

/* Repair what dead processes left: boxes marked running whose shim is gone become stopped with
 * their recorded exit code; stale auto-remove and half-created boxes are deleted. Cheap. */
void bl_box_recover(struct boxlite_runtime *rt);
