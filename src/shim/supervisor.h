/* SPDX-License-Identifier: MIT */
/*
 * The supervisor (supervisor.c): the shim's state while a box lives, and its event loop (one
 * epoll over a signalfd, the spawn channel, PID 1's error pipe, shim.sock and its clients, exec
 * error pipes, the stop timer, the console's pipes and the network's sockets). start.c creates
 * the box into this state, then hands it to supervisor_run(). The supervisor drives the zygote,
 * the network and the console through their headers; none of them calls back.
 */
#pragma once

#include <linux/filter.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "cgroup.h"
#include "conf.h"
#include "console.h"
#include "net.h"
#include "process.h"
#include "shim.h"
#include "zygote.h"

struct conn;
struct exec_proc;

struct supervisor {
    const char *box_dir;
    struct shim_conf conf;
    int boxfd, lockfd, spawnfd;
    struct box_cgroups cg;
    struct sock_filter *filter; /* owned; seccomp.filter points here */
    struct sock_fprog seccomp;
    int tty_sock;    /* conf.tty: PID 1 sends the pty master here before it execs; without
                      * root, an init also sends its root and namespaces (`ns`) */
    int box_root_fd; /* without root, an init's root directory (O_PATH); else -1 */
    int box_ns_fd[SHIM_BOX_NS]; /* and its namespaces, user first (the order of setns) */
    int tty_master;             /* conf.tty: our copy of PID 1's pty master (for `resize`) */
    long long t_start_us, t_started_us; /* boot time for `stats` */
    uint64_t n_execs, n_exec_errors;

    struct box_pid1 pid1;
    int pid1_errfd; /* read end of PID 1's error pipe, until EOF */
    struct child_error setup_err;
    size_t setup_err_got;
    bool started, pid1_exited, kill_requested, stopping, spawn_open;
    bool userns;          /* not root: the box gets its own user namespace (our uid is its root) */
    struct rlimit nofile; /* RLIMIT_NOFILE as we were given it (net.c raises ours) */
    int pid1_status;

    struct zygote zyg;      /* the exec zygote (zygote.h) */
    struct net net;         /* the box's network (net.h) */
    struct console console; /* a detached box's logs (console.h) */

    int epfd, sigfd, listenfd, timerfd;
    struct ev sig_ev, spawn_ev, pid1_err_ev, listen_ev, timer_ev;
    struct conn *conns;
    struct exec_proc *procs;
};

/* The loop's own fds: epoll, a signalfd (SIGCHLD, SIGTERM, SIGINT, SIGHUP), the stop timer,
 * and the spawn channel watched. */
int supervisor_open(struct supervisor *s, bl_error **err);
/* The signals the loop takes through its signalfd (SIGCHLD, SIGTERM, SIGINT, SIGHUP): blocked
 * from the shim's first instruction (main.c), so none is lost before the loop opens. */
void supervisor_signals(sigset_t *set);
/* Everything empty (no fd, no process), the parts initialised. */
void supervisor_init(struct supervisor *s);
/* Runs the event loop until the box is gone and torn down; returns the shim's exit status. */
int supervisor_run(struct supervisor *s);
/* Tear down (idempotent) and report `error` on the spawn channel and to waiters. */
void supervisor_fail(struct supervisor *s, int status, const char *msg);
/* Record a setup error found by the shim itself and kill PID 1 (the first error wins). */
void supervisor_setup_error(struct supervisor *s, int status, const char *msg);
/* Release everything (the done function: connections, processes, parts, fds, conf). */
void supervisor_done(struct supervisor *s);
