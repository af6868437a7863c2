/* SPDX-License-Identifier: MIT */
/*
 * Execution sessions: a process started in a box that the caller does not have to wait for. It
 * gets an id, keeps running when its handle is freed, and can be found again by that id, fed
 * stdin, signalled, resized, killed, waited for and attached to (its output is kept in a backlog
 * for late or returning attachers). This is what `boxlite serve` exposes as executions; see
 * docs/design/sessions.md.
 *
 * Sessions live in the process that started them: lookup finds the sessions of this process
 * (whichever runtime handle asks). A process that ends (even by SIGKILL) takes its sessions'
 * processes with it. Every function here may be called from any thread, at the same time as
 * the others, on the same session or different ones (but a handle is not freed while another
 * thread still uses it: take one handle per thread with boxlite_execution_lookup()).
 */
#ifndef BOXLITE_EXEC_H
#define BOXLITE_EXEC_H

#include "box.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct boxlite_execution boxlite_execution;

typedef struct {
    unsigned version;        /* BOXLITE_EXECUTION_OPTS_VERSION */
    const char *const *argv; /* required, NULL-terminated */
    const char *const *env;  /* extra "K=V" on top of the box's env; NULL = none */
    const char *workdir;     /* NULL = the box's */
    const char *user;        /* NULL = the box's */
    int tty;                 /* the process gets a pty of the box (stdout carries its output) */
    unsigned rows, cols;     /* tty: its initial window size; 0 = the box's default */
    double timeout_seconds;  /* > 0: SIGKILL after this long (state TIMED_OUT, exit code 137);
                              * 0 = none; negative, NaN or infinite: -EINVAL */
    const void *stdin_data;  /* written to the process's stdin first (copied; may be NULL) */
    size_t stdin_len;
    int close_stdin;       /* stdin ends (EOF) after stdin_data: nothing more can be written */
    double retain_seconds; /* how long a finished session can still be looked up; 0 = 300 s
                            * (the server's eviction time); negative = not once it has ended */
} boxlite_execution_opts;
#define BOXLITE_EXECUTION_OPTS_VERSION 1
BOXLITE_API void boxlite_execution_opts_init(boxlite_execution_opts *opts);

/** Output kept per stream (stdout, stderr) for attachers that come late or come back. */
#define BOXLITE_EXECUTION_BACKLOG (256 * 1024)

/**
 * Constructor. Start a process in the box (a stopped or configured box without a user command
 * is started first, as for boxlite_box_exec()). Returns once the process runs (its pid is
 * known). rt and box are used only during the call, as by every boxlite_box_* call.
 * @param ret  a handle owned by the caller (boxlite_execution_free()).
 * @param ret_status  when the command could not be started: 125 (boxlite failure), 126 (cannot
 *               invoke), 127 (not found); set together with the error. May be NULL.
 * @return 0, -EINVAL (bad options or refused start), -EIO (the command could not be started).
 */
BOXLITE_API int boxlite_execution_start(boxlite_runtime *rt, boxlite_box *box,
                                        const boxlite_execution_opts *opts, boxlite_execution **ret,
                                        int *ret_status, boxlite_error **err);

/**
 * Constructor. Find a session of this process by id: one that runs, or ended less than its
 * retain_seconds ago and was not killed with boxlite_execution_kill(). rt is not used yet (a
 * remote runtime will ask its server); it may be NULL.
 * @param ret  a new handle owned by the caller (boxlite_execution_free()).
 * @return 0, -ENOENT.
 */
BOXLITE_API int boxlite_execution_lookup(boxlite_runtime *rt, const char *id,
                                         boxlite_execution **ret, boxlite_error **err);

/** The session's id: 22 random letters and digits, unguessable. Borrowed from the handle. */
BOXLITE_API const char *boxlite_execution_id(const boxlite_execution *x);
/** The id of the box it runs in. Borrowed from the handle. */
BOXLITE_API const char *boxlite_execution_box_id(const boxlite_execution *x);

/**
 * Queue bytes for the process's stdin; blocks while more than 64 KiB wait to be read.
 * @return 0, -EPIPE (stdin was closed, or the process has ended or closed it).
 */
BOXLITE_API int boxlite_execution_write(boxlite_execution *x, const void *buf, size_t len,
                                        boxlite_error **err);
/** End stdin once what is queued is written (a tty gets its EOF character). No-op if ended. */
BOXLITE_API int boxlite_execution_close_stdin(boxlite_execution *x, boxlite_error **err);

/** Send signal sig (1..64) to the process. @return 0, -EINVAL, -ESRCH (it has ended). */
BOXLITE_API int boxlite_execution_signal(boxlite_execution *x, int sig, boxlite_error **err);

/** Set the window size of a tty session. @return 0, -EINVAL (no tty, or 0), -ESRCH (ended). */
BOXLITE_API int boxlite_execution_resize(boxlite_execution *x, unsigned rows, unsigned cols,
                                         boxlite_error **err);

/**
 * SIGKILL the process, wait (at most timeout_ms; < 0 = no limit) for it to end, then remove the
 * session from lookup (the handle stays valid). An ended session is only removed. The SIGKILL
 * is sent again while the connection to the box cannot take it; an attacher that does not read
 * does not hold it back.
 * @return 0, -ETIMEDOUT (still running; the session stays findable; the message says when the
 *         SIGKILL could not even be sent).
 */
BOXLITE_API int boxlite_execution_kill(boxlite_execution *x, int timeout_ms, boxlite_error **err);

/**
 * Wait (at most timeout_ms; < 0 = no limit, 0 = just look) for the process to end and its
 * output to be read: the output ends at the latest 2 s after the exit, even if a background
 * process of the box keeps writing to it. @param ret_exit_code  its status (128+N for signal N);
 * may be NULL.
 * @return 0, -ETIMEDOUT.
 */
BOXLITE_API int boxlite_execution_wait(boxlite_execution *x, int timeout_ms, int *ret_exit_code,
                                       boxlite_error **err);

typedef enum {
    BOXLITE_EXECUTION_RUNNING = 0,
    BOXLITE_EXECUTION_COMPLETED = 1, /* ended by itself (or by a signal not sent by kill) */
    BOXLITE_EXECUTION_KILLED = 2,    /* ended by boxlite_execution_kill() */
    BOXLITE_EXECUTION_TIMED_OUT = 3, /* killed when timeout_seconds had passed */
} boxlite_execution_state;

typedef struct {
    unsigned version; /* BOXLITE_EXECUTION_INFO_VERSION, set by the library */
    boxlite_execution_state state;
    int exit_code;      /* -1 while running */
    int pid;            /* in the host's pid namespace */
    int64_t started_ns; /* CLOCK_REALTIME */
    int64_t ended_ns;   /* 0 while running */
    int attached;       /* a client is attached (boxlite_execution_attach) */
    int tty;
} boxlite_execution_info;
#define BOXLITE_EXECUTION_INFO_VERSION 1
/** Fill *ret (never fails for a valid handle). */
BOXLITE_API void boxlite_execution_get_info(const boxlite_execution *x,
                                            boxlite_execution_info *ret);
/** "running", "completed", "killed", "timed_out" (static strings). */
BOXLITE_API const char *boxlite_execution_state_name(boxlite_execution_state state);

/* Datagrams of an attachment: the first byte says what follows. */
enum {
    BOXLITE_ATTACH_STDIN = 0,     /* in: bytes for stdin */
    BOXLITE_ATTACH_STDOUT = 1,    /* out: bytes the process wrote to stdout (or its tty) */
    BOXLITE_ATTACH_STDERR = 2,    /* out: bytes it wrote to stderr */
    BOXLITE_ATTACH_EXIT = 3,      /* out, last: the exit code as 4 bytes, int32, host order */
    BOXLITE_ATTACH_STDIN_EOF = 4, /* in: end stdin (as boxlite_execution_close_stdin) */
};

/**
 * Attach: *ret_fd (owned by the caller) is a SOCK_SEQPACKET socket. Reading it yields the
 * backlog (stdout's, then stderr's), then live output as it comes, then, once the process has
 * ended and all its output was read, one EXIT datagram and the end of the stream (read returns
 * 0). Each output datagram is at most 32 KiB + 1 byte. While the attacher does not read, the
 * process's output is held back (it blocks writing, as on a terminal); while none is attached,
 * output is only kept in the backlog. Writing STDIN (at most 32 KiB + 1 bytes each) and
 * STDIN_EOF datagrams feeds stdin; they are read while less than 64 KiB of stdin wait. Closing
 * the fd detaches; the session runs on. One attacher at a time.
 * @return 0, -EBUSY (another client is attached).
 */
BOXLITE_API int boxlite_execution_attach(boxlite_execution *x, int *ret_fd, boxlite_error **err);

/** Destructor of the handle only: the process runs on, and the session stays findable. NULL is
 * a no-op. */
BOXLITE_API void boxlite_execution_free(boxlite_execution *x);

#ifdef __cplusplus
}
#endif
#endif
