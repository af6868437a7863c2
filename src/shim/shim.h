/* SPDX-License-Identifier: MIT */
/*
 * boxlite-shim: the glue every part of the shim shares (docs/design/shim.md has the module
 * map, docs/design/shim-protocol.md the contract with the library): exit statuses, the shim's
 * log, number parsing, the epoll tag and what the helpers know of the box's PID 1.
 *
 * Errors: a function that can fail returns 0 or a negative errno and fills `bl_error **err`
 * (src/basic/error.h); the caller that decides what a failure means logs it, once. Code that
 * runs in a forked or cloned child before it execs reports through its error pipe instead
 * (process.h, struct child_error).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "macro.h"

/* Statuses of design §6. */
#define ST_BOXLITE_FAILED 125
#define ST_CANNOT_INVOKE 126
#define ST_NOT_FOUND 127

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* ---- util.c ---------------------------------------------------------------------------- */

/* BOX_DIR/shim.log (timestamped lines, cut past 1 MiB); before it is open, logging is a no-op. */
void shim_log_open(int dirfd);
void shim_log(const char *fmt, ...) _printf_(1, 2);
/* Parse a whole decimal string into an int in [min, max]. */
int parse_int(const char *s, int min, int max, int *ret);
/* Parse a whole decimal string into a 64-bit unsigned. */
int parse_u64(const char *s, uint64_t *ret);
/* Parse a whole string of hex digits (optional 0x) into a 64-bit mask. */
int parse_hex64(const char *s, uint64_t *ret);
/* Parse a whole decimal string as a uid/gid (0 .. 2^32-2). */
int parse_id(const char *s, uint32_t *ret);
/* Start time (field 22 of /proc/self/stat) of the calling process. */
int self_starttime(unsigned long long *ret);
/* Write a small string to an fd, ignoring errors (for cgroup files and friends). */
int write_str(int fd, const char *s);
/* "/proc/self/fd/N" for mounting onto or from an fd. */
struct fd_path {
    char s[32];
};
const char *fd_path(struct fd_path *p, int fd);

/* Our argv area, so that the built-in init can rename itself (its cmdline would show host
 * paths inside the box otherwise). */
extern char *shim_argv_area;
extern size_t shim_argv_len;

/* ---- the event loop's tag --------------------------------------------------------------- */

/* What epoll_event.data.ptr points at: the first member of each watched object. The
 * supervisor dispatches on the kind; EV_NET objects belong to net.c (and dns.c). */
enum ev_kind {
    EV_SIGNAL,
    EV_SPAWN,
    EV_PID1_ERR,
    EV_LISTEN,
    EV_TIMER,
    EV_CONN,
    EV_EXEC_ERR,
    EV_LOG,
    EV_NET
};
struct ev {
    enum ev_kind kind;
};

/* ---- the box's PID 1, as the shim's helpers see it -------------------------------------- */

/* The namespaces an init without root hands over (it closes its /proc to us): user first, the
 * order of setns; then mnt, pid, net, uts, ipc, cgroup. */
#define SHIM_BOX_NS 7

/* Owned by the supervisor (start.c fills it when PID 1 is created); the zygote and the network
 * borrow it to step out of the box's pid namespace and back (their helpers are born in the
 * host's) and to join the box. */
struct box_pid1 {
    pid_t pid;         /* 0 until created */
    int pidfd;         /* -1 until created */
    int orig_pidns_fd; /* our own pid namespace (opened at start) */
    bool pidns_joined; /* our children are born in the box's pid namespace */
};
#define BOX_PID1_NULL                                                                              \
    {                                                                                              \
        .pid = 0, .pidfd = -1, .orig_pidns_fd = -1, .pidns_joined = false                          \
    }
