/* SPDX-License-Identifier: MIT */
/*
 * The lifecycle of a box: start (attached or detached), signal, wait, stop, remove, and the
 * implicit start of exec/stats. `--rm` (auto_remove) is owned here: an attached box created
 * with it is removed by the client that waits for it once it has stopped, or at once when its
 * start fails; recovery removes one whose client died (box-recover.c).
 */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "alloc-util.h"
#include "box-lifecycle.h"
#include "box-records.h"
#include "box-recover.h"
#include "box-shim.h"
#include "box-stdio.h"
#include "cgroup-warm.h"
#include "fs-util.h"
#include "log.h"
#include "parse-util.h"
#include "runtime.h"
#include "shim-proto.h"

static int start_box(struct boxlite_runtime *rt, struct boxlite_box *b, const int *stdio,
                     int *ret_status, bl_error **err)
{
    int attached = stdio != NULL;
    if (attached && json_is_true(json_object_get(b->config, "detach")))
        return bl_err(err, -EINVAL, "box %s is detached", b->id);
    if (b->lock_fd < 0) {
        b->lock_fd = openat(b->dir_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (b->lock_fd < 0 || flock(b->lock_fd, LOCK_EX) < 0)
            return bl_err_errno(err, "cannot lock box %s", b->id);
    }
    int r = bl_box_write_shim_conf(rt, b, stdio, err);
    if (r < 0)
        return r;
    /* PID 1's stdio: with a terminal, a pty of the box (we copy the caller's fds to and from
     * it), so the shim needs none of ours; else the caller's pipes, sockets and terminals, and
     * a relay for anything else */
    int tty = attached && json_is_true(json_object_get(b->config, "tty"));
    _cleanup_(bl_box_stdio_freep) struct box_stdio *io = NULL;
    if (attached && !tty) {
        r = bl_box_stdio_new(stdio, &io, err);
        if (r < 0)
            return r;
    }
    (void) unlinkat(b->dir_fd, "exit.json", 0);
    _cleanup_close_ int chan = -1;
    _cleanup_proc_ struct bl_proc proc = BL_PROC_NULL;
    r = bl_shim_spawn(rt, b, NULL, bl_box_stdio_fds(io), attached ? 0 : BL_SPAWN_DETACH, &proc,
                      &chan, err);
    if (r < 0)
        return r;
    bl_box_stdio_handed(io);
    _cleanup_(bl_msg_freep) struct bl_msg *msg = bl_msg_new();
    if (!msg)
        return bl_oom(err);
    r = bl_msg_recv(chan, msg);
    if (r < 0 || msg->n < 1) {
        if (proc.pid > 0)
            (void) bl_proc_wait(&proc);
        (void) bl_box_reap_cgroups(rt, b->id);
        if (ret_status)
            *ret_status = 125;
        return bl_err(err, -EIO, "box %s: the shim exited before starting the box", b->id);
    }
    if (!strcmp(msg->field[0], "error")) {
        int status = bl_shim_parse_status(msg->n > 1 ? msg->field[1] : NULL);
        if (ret_status)
            *ret_status = status;
        if (proc.pid > 0)
            (void) bl_proc_wait(&proc);
        (void) bl_box_set_status(
            rt, b, json_is_true(json_object_get(b->config, "user_command")) ? "stopped" : b->status,
            0, status, 1, NULL);
        /* 125: the box's process could not be set up (its working directory, user, mounts):
         * upstream's words for that, which scripts grep for (spec/cli.md §4.2) */
        const char *why = msg->n > 2 && *msg->field[2] ? msg->field[2] : "cannot start the box";
        if (status == 125)
            return bl_err(err, -EIO, "Failed to create container: %s", why);
        return bl_err(err, status == 127 ? -ENOENT : -EACCES, "%s", why);
    }
    if (strcmp(msg->field[0], "started") != 0 || msg->n < 2)
        return bl_err(err, -EPROTO, "box %s: unexpected message from the shim", b->id);
    int pid;
    if (bl_parse_int(msg->field[1], 1, INT_MAX, &pid) < 0)
        return bl_err(err, -EPROTO, "box %s: unexpected message from the shim", b->id);
    if (tty && msg->n_fds < 1)
        return bl_err(err, -EPROTO, "box %s: the shim sent no terminal", b->id);
    r = bl_box_set_status(rt, b, "running", pid, 0, 0, err);
    if (r < 0)
        return r;
    if (attached) {
        b->shim = TAKE_PROC(proc);
        b->chan_fd = TAKE_FD(chan);
        b->stdio = TAKE_PTR(io);
        if (tty) {
            b->tty_master = TAKE_FD(msg->fds[0]);
            b->io_in = stdio[0];
            b->io_out = stdio[1];
        }
    } else {
        /* a detached box's lifecycle is the shim's now */
        b->lock_fd = bl_close(b->lock_fd);
    }
    return 0;
}

BOXLITE_API int boxlite_box_start(boxlite_runtime *rt, boxlite_box *b, const int *stdio,
                                  int *ret_status, boxlite_error **err)
{
    if (!rt || !b)
        return bl_err(err, -EINVAL, "invalid arguments");
    if (bl_shim_lock_held(b->dir_fd))
        return stdio ? bl_err(err, -EBUSY, "box %s is already running", b->id) : 0;
    bl_cgroup_warm(rt);
    int r = start_box(rt, b, stdio, ret_status, err);
    if (r < 0 && json_is_true(json_object_get(b->config, "auto_remove"))) {
        /* --rm: a box that could not start goes at once, as one that ran goes once it has
         * stopped (finish_stopped) */
        _cleanup_(bl_error_freep) bl_error *rm_err = NULL;
        if (boxlite_box_remove(rt, b, /* force= */ 1, &rm_err) < 0)
            bl_warn("box %s: cannot remove it after its failed start: %s", b->id,
                    bl_error_msg(rm_err));
    }
    return r;
}

BOXLITE_API int boxlite_box_signal(boxlite_runtime *rt, boxlite_box *b, int sig,
                                   boxlite_error **err)
{
    char n[16];
    snprintf(n, sizeof(n), "%d", sig);
    const char *f[] = {"signal", n};
    if (b->chan_fd >= 0) {
        int r = bl_msg_send(b->chan_fd, f, 2, NULL, 0);
        return r < 0 ? bl_err_code(err, r, "cannot signal box %s", b->id) : 0;
    }
    (void) rt;
    _cleanup_close_ int s = bl_msg_connect(b->dir_fd, "shim.sock", err);
    if (s < 0)
        return s;
    int r = bl_msg_send(s, f, 2, NULL, 0);
    return r < 0 ? bl_err_code(err, r, "cannot signal box %s", b->id) : 0;
}

/* After the shim has gone (reaped, or its lock released): record the exit and clean up. */
static int finish_stopped(struct boxlite_runtime *rt, struct boxlite_box *b, int status,
                          bl_error **err)
{
    int busy = bl_box_reap_cgroups(rt, b->id);
    (void) unlinkat(b->dir_fd, "shim.pid", 0);
    (void) unlinkat(b->dir_fd, "shim.sock", 0);
    /* (a --rm box whose cgroups are still busy stays, stopped, for the recovery of the next
     * open: removing its record would leave the cgroups to nobody) */
    if (json_is_true(json_object_get(b->config, "auto_remove")) && !busy)
        return bl_box_delete(rt, b->id, err);
    return bl_box_set_status(rt, b, "stopped", 0, status, 1, err);
}

BOXLITE_API int boxlite_box_wait(boxlite_runtime *rt, boxlite_box *b, int sigfd, int *ret_status,
                                 boxlite_error **err)
{
    if (b->chan_fd < 0)
        return bl_err(err, -EINVAL, "box %s was not started attached by this handle", b->id);
    int status = -1;
    _cleanup_(bl_msg_freep) struct bl_msg *msg = bl_msg_new();
    if (!msg)
        return bl_oom(err);
    struct bl_tty_pump pump;
    int tty = b->tty_master >= 0;
    if (tty)
        bl_tty_pump_init(&pump, b->io_in, b->io_out, b->tty_master);
    for (;;) {
        int ctl_ev, sig_ev;
        if (tty) {
            int ev = bl_tty_pump_step(&pump, b->chan_fd, sigfd);
            ctl_ev = ev < 0 ? POLLERR : ev & 0xffff;
            sig_ev = ev < 0 ? 0 : ev >> 16;
        } else {
            int ev = bl_box_stdio_step(b->stdio, b->chan_fd, sigfd);
            ctl_ev = ev < 0 ? POLLERR : ev & 0xffff;
            sig_ev = ev < 0 ? 0 : ev >> 16;
        }
        if (sigfd >= 0 && (sig_ev & POLLIN)) {
            int sig = 0;
            if (read(sigfd, &sig, sizeof(sig)) == (ssize_t) sizeof(sig) && sig > 0) {
                if (sig == SIGWINCH)
                    bl_send_resize(b->chan_fd, tty ? b->io_in : -1);
                else
                    (void) boxlite_box_signal(rt, b, sig, NULL);
            }
        }
        if (!(ctl_ev & (POLLIN | POLLHUP | POLLERR)))
            continue;
        int r = bl_msg_recv(b->chan_fd, msg);
        if (r < 0)
            break; /* the shim is gone */
        if (msg->n >= 2 && !strcmp(msg->field[0], "exit")) {
            status = bl_shim_parse_status(msg->field[1]);
            break;
        }
    }
    if (tty) {
        /* PID 1 and the whole box are gone: the master reads to EIO soon */
        bl_tty_pump_drain(&pump, 2000);
        b->tty_master = bl_close(b->tty_master);
    }
    b->chan_fd = bl_close(b->chan_fd);
    int shim_status = bl_proc_wait(&b->shim);
    /* the box is torn down: its output is all in the pipes */
    bl_box_stdio_drain(b->stdio);
    bl_box_stdio_free(TAKE_PTR(b->stdio));
    if (status < 0) {
        /* the shim died without reporting (killed): PID 1 died with it */
        int code = bl_box_read_exit_code(b->dir_fd);
        status = code >= 0 ? code : 137;
        bl_debug("box %s: shim ended with %d without reporting", b->id, shim_status);
    }
    int r = finish_stopped(rt, b, status, err);
    b->lock_fd = bl_close(b->lock_fd);
    if (r < 0)
        return r;
    *ret_status = status;
    return 0;
}

/* Block until the shim of a running box has exited (its lock is free). */
static void wait_shim_gone(struct boxlite_box *b)
{
    _cleanup_close_ int fd = openat(b->dir_fd, "shim.lock", O_RDONLY | O_CLOEXEC);
    if (fd >= 0)
        (void) bl_ofd_lock(fd, F_RDLCK, true); /* released with fd at once */
}

BOXLITE_API int boxlite_box_stop(boxlite_runtime *rt, boxlite_box *b, int grace_seconds,
                                 boxlite_error **err)
{
    if (!bl_shim_lock_held(b->dir_fd)) {
        if (!strcmp(b->status, "running")) /* died without us noticing: repair */
            return finish_stopped(rt, b,
                                  bl_box_read_exit_code(b->dir_fd) >= 0
                                      ? bl_box_read_exit_code(b->dir_fd)
                                      : b->exit_code,
                                  err);
        return 0;
    }
    char ms[32];
    snprintf(ms, sizeof(ms), "%d", grace_seconds < 0 ? 10000 : grace_seconds * 1000);
    int status = -1;
    _cleanup_close_ int s = bl_msg_connect(b->dir_fd, "shim.sock", NULL);
    if (s >= 0) {
        const char *f[] = {"stop", ms};
        if (bl_msg_send(s, f, 2, NULL, 0) == 0) {
            _cleanup_(bl_msg_freep) struct bl_msg *msg = bl_msg_new();
            if (!msg)
                return bl_oom(err);
            while (bl_msg_recv(s, msg) == 0)
                if (msg->n >= 2 && !strcmp(msg->field[0], "exit")) {
                    status = bl_shim_parse_status(msg->field[1]);
                    break;
                }
        }
    }
    wait_shim_gone(b);
    if (status < 0)
        status = bl_box_read_exit_code(b->dir_fd);
    if (status < 0)
        status = 137;
    if (bl_lock_held(b->dir_fd, "lock")) {
        /* an attached client owns it and records the exit itself (or removes an --rm box):
         * refresh this handle's view, which may already be gone */
        (void) bl_box_reload(rt, b, NULL);
        return 0;
    }
    return finish_stopped(rt, b, status, err);
}

BOXLITE_API int boxlite_box_remove(boxlite_runtime *rt, boxlite_box *b, int force,
                                   boxlite_error **err)
{
    if (bl_shim_lock_held(b->dir_fd)) {
        if (!force)
            return bl_err(err, -EBUSY,
                          "invalid state: cannot remove box %s with live pid Some(%d) (status: "
                          "Running). Use force=true to stop first",
                          b->id, b->pid);
        int r = boxlite_box_stop(rt, b, 0, err);
        if (r < 0)
            return r;
    }
    if (bl_box_reap_cgroups(rt, b->id) > 0)
        return bl_err(err, -EBUSY,
                      "cannot remove box %s: its cgroups are still busy (its "
                      "processes are exiting); try again",
                      b->id);
    return bl_box_delete(rt, b->id, err);
}

int bl_box_start_on_demand(struct boxlite_runtime *rt, struct boxlite_box *b, const char *op,
                           bl_error **err)
{
    int r = bl_box_reload(rt, b, err);
    if (r < 0)
        return r;
    if (bl_shim_lock_held(b->dir_fd))
        return 0;
    if (boxlite_box_has_user_command(b))
        return bl_err(err, -EINVAL,
                      "invalid state: Cannot %s box %s: it is %s, and %s. That is a decision for "
                      "you, not for a side effect — start the box explicitly if it is what you "
                      "want.",
                      op, b->id, !strcmp(b->status, "running") ? "stopped" : b->status,
                      !strcmp(b->status, "configured")
                          ? "starting the box would run its main command"
                          : "its main command has already run, and starting the box again "
                            "would run it a second time");
    int status = 0;
    return boxlite_box_start(rt, b, NULL, &status, err);
}
