/* SPDX-License-Identifier: MIT */
/*
 * Processes of the shim: clone3 of its children, and the setup that PID 1, exec children and
 * the built-in init share (user, capabilities, no_new_privs, seccomp, fds, PATH lookup).
 *
 * The error rule of forked children (the one place it is written down): code that runs in a
 * child between clone/fork and execve is async-signal-safe only. It never returns and never
 * uses bl_error (no malloc): it reports a setup failure as one fixed-size struct child_error
 * (a status of design §6 and a message formatted into a fixed buffer, usually with
 * strerror(errno)) written to a CLOEXEC error pipe, then _exit()s (child_fail). The parent
 * learns "exec succeeded" from EOF on that pipe with nothing in it.
 */
#pragma once

#include <linux/filter.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "shim.h"

/* ---- clone3 ---------------------------------------------------------------------------- */

/* Raw clone3 returning like fork(): 0 in the child. cgroup_fd < 0: no CLONE_INTO_CGROUP.
 * *ret_pidfd receives a pidfd. On ENOSYS falls back to clone(2) without a cgroup. The child is
 * non-dumpable until it execs (unless it has a new user namespace: see process.c). */
pid_t shim_clone(uint64_t flags, int cgroup_fd, int *ret_pidfd, bool *ret_in_cgroup);

/* ---- in a child ------------------------------------------------------------------------ */

struct child_error {
    int status;
    char msg[512];
};

/* Report an error to the shim through errfd and _exit(status). */
_noreturn_ void child_fail(int errfd, int status, const char *fmt, ...) _printf_(3, 4);

struct proc_spec {
    char *const *argv;
    char *const *envp;
    const char *cwd;
    const char *user;
    uint64_t caps;
    const struct sock_fprog *seccomp; /* NULL: none */
    bool tty; /* stdin is the controlling terminal: the command gets the foreground */
};

#define BOX_MAX_GROUPS 64
struct box_user {
    uid_t uid;
    gid_t gid;
    size_t n_groups;
    gid_t groups[BOX_MAX_GROUPS];
    char home[256];
};

/* Resolve "", "uid", "uid:gid", "name", "name:group" against the current root's /etc files
 * (child only: the message goes into msg, the fixed buffer of a child_error). */
int user_resolve(const char *spec, struct box_user *u, char *msg, size_t msgsz);
/* Unblock every signal and reset every disposition to the default. */
void child_reset_signals(void);
/* Drop the bounding set, switch user, set capabilities (child only; _exits on failure). */
void proc_apply_user_caps(const struct proc_spec *s, const struct box_user *u, int errfd);
/* no_new_privs and seccomp (child only; _exits on failure). */
void proc_apply_nnp_seccomp(const struct proc_spec *s, int errfd);
/* The shim's own oom_score_adj before it made itself (and so the zygote) unkillable by the OOM
 * killer: what the box's processes get back. SHIM_OOM_UNCHANGED when the shim could not lower
 * it (no CAP_SYS_RESOURCE: then a box that OOM-kills the zygote only stops its own execs). */
#define SHIM_OOM_UNCHANGED (-10000)
extern int shim_oom_orig;
/* Make the shim's oom_score_adj -1000 if it may, remembering the old value (shim start). */
void shim_oom_protect(void);
/* In a child about to run box code: the oom_score_adj the box's processes get. */
void proc_oom_restore(void);
/* In a child about to run box code: close every fd above 2 but keep (-1: none). */
void proc_close_fds(int keep);
/* Full process setup and execve; never returns. */
_noreturn_ void proc_exec(const struct proc_spec *s, int errfd);
/* PID 1 without a command: reap forever, exit 0 on SIGTERM/SIGINT. Closes errfd when ready. */
_noreturn_ void init_idle(const struct proc_spec *s, int errfd);
/* PID 1 in front of a command: fork+exec it, forward signals, reap, exit with its status. */
_noreturn_ void init_command(const struct proc_spec *s, int errfd);
/* An exec child (forked by the zygote, already in the box): stdio fds[0..2], a session or the
 * pty as its terminal, then proc_exec(). Never returns. */
_noreturn_ void exec_child_run(const int *fds, const struct proc_spec *spec, int errfd);

/* ---- ptys ------------------------------------------------------------------------------- */

/* Open a new pty in the devpts of the root `rootfd` (an openat2 RESOLVE_IN_ROOT lookup of
 * dev/pts/ptmx, checked to be a devpts ptmx), unlocked and sized; *ret_slave gets its slave.
 * Returns the master or -errno. */
int pty_open_in_root(int rootfd, unsigned short rows, unsigned short cols, int *ret_slave);
/* Make the pty on fd 0 our controlling terminal in a new session (child only). */
int pty_make_controlling(void);
