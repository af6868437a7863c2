/* SPDX-License-Identifier: MIT */
/*
 * Child processes as resources: a struct bl_proc (pid plus pidfd) under _cleanup_proc_ is
 * SIGKILLed and reaped when its scope ends. The one place that forks, signals and reaps.
 */
#pragma once

#include <sys/types.h>

#include "error.h"
#include "macro.h"

struct bl_proc {
    pid_t pid;
    int pidfd;
};
#define BL_PROC_NULL ((struct bl_proc){.pid = 0, .pidfd = -1})

/* SIGKILL via pidfd (pid as fallback), reap, close the pidfd. Safe on BL_PROC_NULL. */
void bl_proc_kill_and_reap(struct bl_proc *p);
#define _cleanup_proc_ _cleanup_(bl_proc_kill_and_reap)
#define TAKE_PROC(p) TAKE_GENERIC(p, BL_PROC_NULL)

/* Wait for the process and return its status as a shell would (128+N for signal N). */
int bl_proc_wait(struct bl_proc *p);

enum {
    BL_SPAWN_DETACH = 1, /* double fork: the program is not our child and outlives us */
};

/*
 * Run `argv[0]` (a path) with fds[0..nfds-1] as its fds 0..nfds-1 (a -1 entry becomes
 * /dev/null) and every other fd closed. Without BL_SPAWN_DETACH *ret owns the child.
 * Only async-signal-safe calls happen between fork and exec.
 */
int bl_proc_spawn(char *const *argv, const int *fds, int nfds, int flags, struct bl_proc *ret,
                  bl_error **err);

/* Send a signal through the pidfd. */
int bl_proc_signal(const struct bl_proc *p, int sig);

/*
 * Run fn(arg, &err) in a forked child and return its result and error here: for work that needs
 * a single-threaded process (joining a user namespace with setns). A caller with other threads
 * gets a child where only fork-safe code may run: glibc's malloc and stdio are.
 */
int bl_proc_fork_call(int (*fn)(void *arg, bl_error **err), void *arg, bl_error **err);
