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
    unsigned version;              /* BOXLITE_BOX_OPTS_VERSION */
    const char *image;             /* reference, id or id prefix; NULL when rootfs is set */
    const char *rootfs;            /* a prepared root filesystem directory, or NULL */
    const char *name;              /* NULL = none */
    const char *const *cmd;        /* NULL-terminated; NULL = the image's Cmd */
    const char *entrypoint;        /* NULL = the image's Entrypoint; "" clears it */
    const char *const *env;        /* NULL-terminated "K=V" overriding the image's Env */
    const char *workdir;           /* NULL = the image's WorkingDir, else "/" */
    const char *user;              /* NULL = the image's User */
    const char *const *cap_add;    /* NULL-terminated capability names, "ALL" allowed */
    const char *const *cap_drop;
    int init;                      /* put a minimal init in front of the command */
    int auto_remove;               /* remove the box when it stops (foreground run --rm) */
    int detach;                    /* the box outlives the process that started it */
} boxlite_box_opts;

#define BOXLITE_BOX_OPTS_VERSION 1
#define BOXLITE_BOX_OPTS_INIT {BOXLITE_BOX_OPTS_VERSION, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
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
BOXLITE_API const char *boxlite_box_name(const boxlite_box *box); /* "" if none */
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
 *               stderr; NULL for a detached start.
 * @param ret_status  when the command could not be started: 125 (boxlite failure), 126 (cannot
 *               invoke), 127 (not found); set together with the error.
 * @return 0, -EBUSY (already running by another process), or an error.
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
 *               forwarded to PID 1 while waiting.
 */
BOXLITE_API int boxlite_box_wait(boxlite_runtime *rt, boxlite_box *box, int sigfd,
                                 int *ret_status, boxlite_error **err);

/** Stop a running box: SIGTERM, then SIGKILL after grace_seconds. No-op if not running. */
BOXLITE_API int boxlite_box_stop(boxlite_runtime *rt, boxlite_box *box, int grace_seconds,
                                 boxlite_error **err);

/** Remove a box (force: stop it first if running; else -EBUSY when running). */
BOXLITE_API int boxlite_box_remove(boxlite_runtime *rt, boxlite_box *box, int force,
                                   boxlite_error **err);

/** The box as a JSON object (pretty), owned by the caller (boxlite_free). */
BOXLITE_API int boxlite_box_inspect(boxlite_runtime *rt, boxlite_box *box, char **ret_json,
                                    boxlite_error **err);

typedef struct {
    unsigned version;       /* BOXLITE_EXEC_OPTS_VERSION */
    const char *const *argv; /* required, NULL-terminated */
    const char *const *env;  /* extra "K=V" on top of the box's env */
    const char *workdir;     /* NULL = the box's */
    const char *user;        /* NULL = the box's */
    int detach;              /* start and return at once */
    int stdio[3];            /* fds (borrowed) for the process; -1 = /dev/null */
} boxlite_exec_opts;
#define BOXLITE_EXEC_OPTS_VERSION 1
BOXLITE_API void boxlite_exec_opts_init(boxlite_exec_opts *opts);

/**
 * Run a process in a box. A stopped or configured box without a user command is started
 * (detached) first; one with a user command is refused (-EINVAL... see message).
 * @param sigfd  optional fd (borrowed, -1 for none) whose readability means "a signal number
 *               is waiting" : an int written by the caller is forwarded to the process.
 * @param ret_status  exit status of the process (128+N for signal N), or 125/126/127 when it
 *               could not be started (with *err set).
 */
BOXLITE_API int boxlite_box_exec(boxlite_runtime *rt, boxlite_box *box,
                                 const boxlite_exec_opts *opts, int sigfd, int *ret_status,
                                 boxlite_error **err);

/** Destructor. Releases the handle only (a running box keeps running). NULL is a no-op. */
BOXLITE_API void boxlite_box_free(boxlite_box *box);

#ifdef __cplusplus
}
#endif
#endif
