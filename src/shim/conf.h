/* SPDX-License-Identifier: MIT */
/*
 * BOX_DIR/shim.conf, parsed once into a plain struct that every other part reads (the keys and
 * the record format are src/basic/wire.h's). Depends on nothing of the shim but shim.h.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shim.h"

/* conf key `idmap` "UID:SUB:N:GID:SUB:N" (a subordinate range; absent: single id) and the
 * setuid helpers that may write it (`newuidmap`, `newgidmap`). */
struct conf_idmap {
    bool range;
    uint32_t uid, sub_uid, n_uid, gid, sub_gid, n_gid;
    const char *newuidmap, *newgidmap;
};
/* Parse "UID:SUB:N:GID:SUB:N" into m (range set). 0 or -EINVAL. */
int idmap_parse(const char *spec, struct conf_idmap *m);

/* A resource limit of shim.conf: absent, required, or best effort (a "~" before the value: a
 * default that is skipped, with a log line, where the cgroup controller is missing). */
struct conf_limit {
    bool set, soft;
    uint64_t value;
};

/* A bind mount of a host path into the box (`volume`, `volume_target`, `volume_ro`). */
struct conf_volume {
    const char *source; /* absolute host path */
    const char *target; /* absolute path in the box */
    bool ro;
};

struct shim_conf {
    char *buf; /* owns every string below */
    const char *id, *hostname, *upper, *work, *merged, *cwd, *user, *seccomp, *cgroup;
    char **layers; /* lowest first, NULL-terminated */
    size_t n_layers;
    char **argv; /* NULL-terminated; argc == 0: built-in idle init */
    size_t argc;
    char **env; /* NULL-terminated */
    size_t n_env;
    uint64_t caps;
    bool init, detach;
    struct conf_limit memory; /* bytes */
    struct conf_limit cpus;   /* thousandths of a CPU */
    struct conf_limit pids;   /* tasks */
    struct conf_volume *volumes;
    size_t n_volumes;
    bool tty;                          /* attached start: PID 1 gets a pty; master to the client */
    unsigned short tty_rows, tty_cols; /* its initial window size (0: unknown) */
    uint64_t log_max;                  /* detached: rotate logs/console.log past this size */
    /* networking (net.c): `net` "1" (required) or "~1" (default: loopback only, with a log
     * line, where slirp4netns is missing); absent: loopback only */
    bool net, net_soft;
    const char *slirp, *nft; /* absolute paths of the helpers */
    char **ports;            /* `port`: "HOST_IP HOST_PORT BOX_PORT" (0: the OS picks) */
    size_t n_ports;
    char **allow; /* `allow`: "A.B.C.D/N PORT" (PORT 0: any); non-empty = an allow-list */
    size_t n_allow;
    char **allow_host; /* `allow_host`: "NAME A.B.C.D", pinned in the box's /etc/hosts */
    size_t n_allow_host;
    char **allow_hostlo; /* `allow_hostlo`: "PORT" of the host's loopback (0: any) */
    size_t n_allow_hostlo;
    char **allow_dns; /* `allow_dns`: "DOMAIN PORT": names under DOMAIN, through our DNS */
    size_t n_allow_dns;
    struct conf_idmap idmap; /* without root */
};

/* The box has an allow-list: every destination not on it is refused. */
static inline bool conf_net_filtered(const struct shim_conf *c)
{
    return c->n_allow + c->n_allow_host + c->n_allow_hostlo + c->n_allow_dns > 0;
}

/* Read and check dirfd/name into *c (untouched on failure). Release with conf_done(). */
int conf_load(int dirfd, const char *name, struct shim_conf *c, bl_error **err);
/* Release what conf_load() allocated; *c becomes all zero (a no-op on a zeroed struct). */
void conf_done(struct shim_conf *c);
