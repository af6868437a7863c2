/* SPDX-License-Identifier: MIT */
/*
 * Boxes: create, start, stop, remove, list, inspect, exec. A box is a persistent isolated
 * environment made from an image; its main command (ENTRYPOINT + CMD) is its PID 1.
 */
#ifndef BOXLITE_BOX_H
#define BOXLITE_BOX_H

#include "runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct boxlite_box boxlite_box;

typedef struct {
    unsigned version;           /* BOXLITE_BOX_OPTS_VERSION */
    const char *image;          /* reference, id or id prefix; NULL when rootfs is set */
    const char *rootfs;         /* a prepared root filesystem directory, or NULL */
    const char *name;           /* NULL = none */
    const char *const *cmd;     /* NULL-terminated; NULL = the image's Cmd */
    const char *entrypoint;     /* NULL = the image's Entrypoint; "" clears it */
    const char *const *env;     /* NULL-terminated "K=V" overriding the image's Env */
    const char *workdir;        /* NULL = the image's WorkingDir, else "/" */
    const char *user;           /* NULL = the image's User */
    const char *const *cap_add; /* NULL-terminated capability names, "ALL" allowed */
    const char *const *cap_drop;
    int init;        /* put a minimal init in front of the command */
    int auto_remove; /* remove the box when it stops (foreground run --rm) */
    int detach;      /* the box outlives the process that started it */
    /* version 2 */
    int64_t memory_mib;         /* memory limit in MiB; 0 = the default (1024), < 0 = none */
    double cpus;                /* CPU limit (fractions allowed); 0 = the default (1), < 0 =
                                 * none. The defaults are skipped where the host has no
                                 * cgroup controller for them; explicit limits are not. */
    int64_t pids_limit;         /* most tasks at once; <= 0 = no limit */
    const char *const *volumes; /* NULL-terminated `docker -v` specs: HOST:BOX[:OPTS],
                                 * /BOX[:ro|rw] (an anonymous volume, made under the home and
                                 * removed with the box); OPTS is a comma list, "ro" counts */
    int tty;                    /* an attached start gives PID 1 a pseudo-terminal */
    /* version 3: networking. Giving any of these makes the network explicit: a start then fails
     * when the host cannot provide it, where the default falls back to loopback only. */
    const char *network;          /* "enabled" or "disabled" (case-insensitive); NULL = enabled */
    const char *const *allow_net; /* NULL-terminated destinations the box may reach (all others
                                   * are dropped): HOST, *.DOMAIN, IPv4 or IPv4/PREFIX, each
                                   * with an optional :PORT; "host.boxlite.internal" is the
                                   * host's loopback. Implies "enabled". Host names are resolved
                                   * at each start. */
    const char *const *publish;   /* NULL-terminated `docker -p` specs, TCP only:
                                   * [[HOST_IP:][HOST_PORT]:]BOX_PORT[/tcp]; HOST_IP defaults to
                                   * 127.0.0.1, a HOST_PORT omitted or 0 is chosen at start */
} boxlite_box_opts;

#define BOXLITE_BOX_OPTS_VERSION 3
#define BOXLITE_BOX_OPTS_INIT                                                                      \
    {                                                                                              \
        BOXLITE_BOX_OPTS_VERSION, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0    \
    }
BOXLITE_API void boxlite_box_opts_init(boxlite_box_opts *opts);

/**
 * Constructor. Create a box (status "configured"); does not start it.
 * @param ret_box  a handle owned by the caller (boxlite_box_free()).
 * @return 0, -ENOENT (no such image), -EEXIST (name taken), -EINVAL (bad options).
 */
BOXLITE_API int boxlite_box_create(boxlite_runtime *rt, const boxlite_box_opts *opts,
                                   boxlite_box **ret_box, boxlite_error **err);

/**
 * Constructor. Find a box by exact id, exact name, or unique id prefix.
 * @return 0, -ENOENT (none), -EINVAL (ambiguous prefix).
 */
BOXLITE_API int boxlite_box_lookup(boxlite_runtime *rt, const char *id_or_name,
                                   boxlite_box **ret_box, boxlite_error **err);

/** List boxes, newest first; `all` = 0 lists only running ones. Free with boxlite_box_list_free. */
BOXLITE_API int boxlite_box_list(boxlite_runtime *rt, int all, boxlite_box ***ret_list,
                                 size_t *ret_n, boxlite_error **err);
BOXLITE_API void boxlite_box_list_free(boxlite_box **list, size_t n);

/** Accessors; strings borrowed until boxlite_box_free(). */
BOXLITE_API const char *boxlite_box_id(const boxlite_box *box);
BOXLITE_API const char *boxlite_box_name(const boxlite_box *box);  /* "" if none */
BOXLITE_API const char *boxlite_box_image(const boxlite_box *box); /* ref or "rootfs:<path>" */
/** "configured", "running", "stopped". */
BOXLITE_API const char *boxlite_box_status(const boxlite_box *box);
BOXLITE_API int64_t boxlite_box_created_ns(const boxlite_box *box);
BOXLITE_API int boxlite_box_pid(const boxlite_box *box);
BOXLITE_API int boxlite_box_exit_code(const boxlite_box *box);
/** Whether the box has a user main command (exec/cp/stats then never start it implicitly). */
BOXLITE_API int boxlite_box_has_user_command(const boxlite_box *box);

/**
 * Start the box's shim and PID 1, returning once the main command has been exec'd.
 * @param stdio  for an attached start, the three fds (borrowed) PID 1 gets as stdin, stdout,
 *               stderr; NULL for a detached start. For a box created with `tty`, PID 1 gets a
 *               pty of the box instead, and boxlite_box_wait() copies stdio[0] to it and its
 *               output to stdio[1] (the fds must then stay open until the wait returns; the
 *               window size is read from stdio[0] when it is a terminal). Pipes, sockets,
 *               terminals and /dev/null are handed to PID 1 as they are; any other fd (a regular
 *               file, a directory, another device) is never handed to the box, which could
 *               reopen it through /proc with more access: boxlite_box_wait() copies it through
 *               a pipe instead, so it too must stay open until the wait returns.
 * @param ret_status  when the command could not be started: 125 (boxlite failure), 126 (cannot
 *               invoke), 127 (not found); set together with the error.
 * @return 0, -EBUSY (already running by another process), or an error. A box created with
 *               `auto_remove` that fails to start is removed at once (its record, directory and
 *               anonymous volumes), as it would be once it stopped: the handle then names a box
 *               that no longer exists and only boxlite_box_free() is left to call. When even that
 *               removal fails, a warning is logged and the next runtime open removes it.
 */
BOXLITE_API int boxlite_box_start(boxlite_runtime *rt, boxlite_box *box, const int *stdio,
                                  int *ret_status, boxlite_error **err);

/** Forward a signal to PID 1 of a box this handle started (attached) or to a running box. */
BOXLITE_API int boxlite_box_signal(boxlite_runtime *rt, boxlite_box *box, int sig,
                                   boxlite_error **err);

/**
 * Wait for PID 1 of a box this handle started attached; on return the shim is gone, the box is
 * stopped (or removed, for auto_remove) and *ret_status holds the command's status (128+N for
 * signal N). Blocks.
 * @param sigfd  optional fd (borrowed, -1 for none): each int read from it is a signal number
 *               forwarded to PID 1 while waiting; SIGWINCH instead resizes the box's pty to the
 *               window size of stdio[0].
 */
BOXLITE_API int boxlite_box_wait(boxlite_runtime *rt, boxlite_box *box, int sigfd, int *ret_status,
                                 boxlite_error **err);

/** Stop a running box: SIGTERM, then SIGKILL after grace_seconds. No-op if not running. */
BOXLITE_API int boxlite_box_stop(boxlite_runtime *rt, boxlite_box *box, int grace_seconds,
                                 boxlite_error **err);

/** Remove a box (force: stop it first if running; else -EBUSY when running). */
BOXLITE_API int boxlite_box_remove(boxlite_runtime *rt, boxlite_box *box, int force,
                                   boxlite_error **err);

/** The box as a JSON object (pretty), owned by the caller (boxlite_free). */
BOXLITE_API int boxlite_box_inspect(boxlite_runtime *rt, boxlite_box *box, char **ret_json,
                                    boxlite_error **err);

/**
 * The box's published ports in `docker ps` style, e.g. "127.0.0.1:43210->80/tcp,
 * 127.0.0.1:43211->81/tcp": the host ports in use while the box runs, else the configured ones
 * (0: chosen at start). "" when the box publishes none.
 * @param ret_ports  owned by the caller (boxlite_free); untouched on failure.
 * @return 0, or -ENOMEM.
 */
BOXLITE_API int boxlite_box_ports(boxlite_box *box, char **ret_ports, boxlite_error **err);

typedef struct {
    unsigned version;        /* BOXLITE_EXEC_OPTS_VERSION */
    const char *const *argv; /* required, NULL-terminated */
    const char *const *env;  /* extra "K=V" on top of the box's env */
    const char *workdir;     /* NULL = the box's */
    const char *user;        /* NULL = the box's */
    int detach;              /* start and return at once */
    int stdio[3];            /* fds (borrowed) for the process; -1 = /dev/null. Pipes,
                              * sockets, terminals and /dev/null are handed over as they are;
                              * any other fd is copied through a pipe while the exec runs
                              * (refused, -EINVAL, with detach: nobody would copy it) */
    /* version 2 */
    int tty; /* the process gets a pty of the box: stdio[0] is copied to it (EOF
              * becomes the terminal's EOF character) and its output to
              * stdio[1]; the window size follows stdio[0] (see sigfd) */
} boxlite_exec_opts;
#define BOXLITE_EXEC_OPTS_VERSION 2
BOXLITE_API void boxlite_exec_opts_init(boxlite_exec_opts *opts);

/**
 * Run a process in a box. A stopped or configured box without a user command is started
 * (detached) first; one with a user command is refused (-EINVAL... see message).
 * @param sigfd  optional fd (borrowed, -1 for none) whose readability means "a signal number
 *               is waiting" : an int written by the caller is forwarded to the process
 *               (SIGWINCH with tty: the pty takes the window size of stdio[0] instead).
 * @param ret_status  exit status of the process (128+N for signal N), or 125/126/127 when it
 *               could not be started (with *err set).
 */
BOXLITE_API int boxlite_box_exec(boxlite_runtime *rt, boxlite_box *box,
                                 const boxlite_exec_opts *opts, int sigfd, int *ret_status,
                                 boxlite_error **err);

/* ---- resource usage ---- */

/** Resource usage of a running box; a field is -1 when unknown (or, for limits, unlimited). */
typedef struct {
    unsigned version;     /* BOXLITE_BOX_STATS_VERSION, set by the library */
    int64_t time_ns;      /* monotonic time of the sample, for rates between samples */
    int64_t cpu_ns;       /* CPU time used by the box's processes */
    int64_t memory_bytes; /* memory in use (without the inactive page cache) */
    int64_t memory_limit;
    int64_t pids; /* tasks */
    int64_t pids_limit;
    int64_t block_read_bytes; /* block I/O */
    int64_t block_write_bytes;
    int64_t net_rx_bytes; /* the box's interfaces other than loopback */
    int64_t net_tx_bytes;
    int64_t tcp_connections; /* established */
    int64_t tcp_errors;      /* failed attempts, resets, bad segments */
    int64_t execs;           /* commands exec'd since the box started */
    int64_t exec_errors;     /* execs that failed to start */
    int64_t boot_ms;         /* from the shim's start to PID 1's exec */
    /* version 2 */
    char ip_address[16]; /* the box's IPv4 address; "" when it has only loopback */
} boxlite_box_stats;
#define BOXLITE_BOX_STATS_VERSION 2

/**
 * Sample the box's resource usage. A box that is not running is started on demand when it
 * has no user command; one with a user command is refused with -EINVAL (see the message).
 * @return 0, -ENOENT, -EINVAL (refused), or -ESRCH (the box stopped meanwhile).
 */
BOXLITE_API int boxlite_box_stats_get(boxlite_runtime *rt, boxlite_box *box,
                                      boxlite_box_stats *ret_stats, boxlite_error **err);

/* ---- logs ---- */

typedef struct {
    unsigned version;          /* BOXLITE_LOGS_OPTS_VERSION */
    int64_t tail;              /* the last N lines only; < 0 = all */
    int follow;                /* then keep printing what the box writes, until it stops */
    int timestamps;            /* prefix each line with the RFC 3339 time it was written */
    int stop_fd;               /* follow: readable means "stop now" (borrowed; -1 = none) */
    const char *follow_notice; /* follow: written to err_fd once what was there is printed */
} boxlite_logs_opts;
#define BOXLITE_LOGS_OPTS_VERSION 1
BOXLITE_API void boxlite_logs_opts_init(boxlite_logs_opts *opts);

/**
 * Write the main command's logged output (detached runs; see docs/user-guide.md): its stdout
 * to out_fd and its stderr to err_fd (both borrowed; they may be the same fd).
 * @return 0; -ENOENT when the box has no log yet (nothing written); or an error. Follow
 * returns when the box stops or stop_fd becomes readable.
 */
BOXLITE_API int boxlite_box_logs(boxlite_runtime *rt, boxlite_box *box,
                                 const boxlite_logs_opts *opts, int out_fd, int err_fd,
                                 boxlite_error **err);
/** The box's current log file (borrowed until boxlite_box_free). */
BOXLITE_API const char *boxlite_box_log_path(boxlite_runtime *rt, boxlite_box *box);

/* ---- copying files ---- */

enum {
    BOXLITE_COPY_FOLLOW_SYMLINKS = 1, /* copy what symlinks in the source point at */
    BOXLITE_COPY_NO_OVERWRITE = 2,    /* fail when the destination exists */
};

/**
 * Copy a host file or tree into the box (host_src: a host path; box_dst: a path in the box),
 * or out of it (boxlite_box_copy_out). A running box is copied into through its own view of its
 * files; a stopped or never started box is copied into without starting it. Paths in the box
 * are resolved inside the box: no symlink can make the copy read or write outside it. Modes and
 * times are kept; files are owned by the caller. Destination rules: a DST that ends with '/' or
 * is a directory receives SRC inside it; else a non-directory SRC becomes DST (parents are
 * created); else DST is created as a directory and receives SRC inside it.
 * @param flags  BOXLITE_COPY_* bits.
 * @return 0, -ENOENT (no such source), -EEXIST (NO_OVERWRITE), or an error.
 */
BOXLITE_API int boxlite_box_copy_in(boxlite_runtime *rt, boxlite_box *box, const char *host_src,
                                    const char *box_dst, int flags, boxlite_error **err);
BOXLITE_API int boxlite_box_copy_out(boxlite_runtime *rt, boxlite_box *box, const char *box_src,
                                     const char *host_dst, int flags, boxlite_error **err);

/** Destructor. Releases the handle only (a running box keeps running). NULL is a no-op. */
BOXLITE_API void boxlite_box_free(boxlite_box *box);

#ifdef __cplusplus
}
#endif
#endif
