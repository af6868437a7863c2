/* SPDX-License-Identifier: MIT */
/*
 * exec: one more process in a running box (started on demand where spec/cli.md §3 allows it),
 * its stdio relayed or given a pty, its signals forwarded, its exit status returned.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "alloc-util.h"
#include "box-exec.h"
#include "box-internal.h"
#include "box-lifecycle.h"
#include "box-shim.h"
#include "box-stdio.h"
#include "fs-util.h"
#include "shim-proto.h"
#include "strv.h"

_Static_assert(BL_EXEC_REQUEST_MAX <= BL_WIRE_MAX_MSG, "an exec request must fit in a message");

BOXLITE_API void boxlite_exec_opts_init(boxlite_exec_opts *opts)
{
    *opts = (boxlite_exec_opts){.version = BOXLITE_EXEC_OPTS_VERSION, .stdio = {-1, -1, -1}};
}

int bl_exec_request_init(struct bl_exec_request *q, const struct boxlite_box *b,
                         const char *const *argv, const char *const *env, const char *workdir,
                         const char *user, int detach, int tty, const char *rows, const char *cols,
                         bl_error **err)
{
    /* env: only ours (the shim puts it over the box's, which it has from shim.conf), a later
     * K=V replacing an earlier K */
    _cleanup_json_ json_t *e = json_array();
    if (!e)
        return bl_oom(err);
    for (const char *const *p = env; p && *p; p++)
        if (bl_box_env_set(e, *p) < 0)
            return bl_oom(err);
    size_t argc = bl_strv_length((char *const *) argv), envc = json_array_size(e);
    _cleanup_free_ const char **f = bl_calloc(argc + envc + 12, sizeof(char *));
    if (!f)
        return bl_oom(err);
    snprintf(q->nargs, sizeof(q->nargs), "%zu", argc);
    snprintf(q->nenv, sizeof(q->nenv), "%zu", envc);
    size_t k = 0;
    f[k++] = "exec";
    f[k++] = q->nargs;
    for (size_t i = 0; i < argc; i++)
        f[k++] = argv[i];
    f[k++] = q->nenv;
    for (size_t i = 0; i < envc; i++)
        f[k++] = json_string_value(json_array_get(e, i));
    f[k++] = workdir ? workdir : json_string_value(json_object_get(b->config, "workdir"));
    f[k++] = user ? user : json_string_value(json_object_get(b->config, "user"));
    f[k++] = detach ? "1" : "0";
    if (tty) {
        f[k++] = "1";
        f[k++] = rows;
        f[k++] = cols;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < k; i++)
        bytes += strlen(f[i]) + 1;
    if (bytes > BL_EXEC_REQUEST_MAX)
        return bl_err(err, -E2BIG,
                      "cannot exec in box %s: the command, its -e environment, working "
                      "directory and user are too large: %zu bytes (at most %d)",
                      b->id, bytes, BL_EXEC_REQUEST_MAX);
    q->env = TAKE_PTR(e);
    q->f = TAKE_PTR(f);
    q->n = k;
    return 0;
}

void bl_exec_request_done(struct bl_exec_request *q)
{
    free(q->f);
    q->f = NULL;
    if (q->env)
        json_decref(q->env);
    q->env = NULL;
    q->n = 0;
}

BOXLITE_API int boxlite_box_exec(boxlite_runtime *rt, boxlite_box *b, const boxlite_exec_opts *o,
                                 int sigfd, int *ret_status, boxlite_error **err)
{
    if (!rt || !b || !o || !o->argv || !o->argv[0] || !ret_status)
        return bl_err(err, -EINVAL, "a command is required");
    *ret_status = 125;
    /* a detached exec gets no terminal: nothing would read it */
    int tty = o->version >= 2 && o->tty && !o->detach;
    char rows[8] = "0", cols[8] = "0";
    if (tty)
        (void) bl_winsize_fields(o->stdio[0], rows, cols);
    _cleanup_(bl_exec_request_done) struct bl_exec_request q = BL_EXEC_REQUEST_NULL;
    int r = bl_exec_request_init(&q, b, o->argv, o->env, o->workdir, o->user, o->detach, tty, rows,
                                 cols, err);
    if (r < 0)
        return r;
    /* the process's stdio: with a terminal, a pty of the box that we copy o->stdio to and
     * from; else the caller's pipes, sockets and terminals, and relays for anything else,
     * which need us until the process ends: a detached exec cannot have any */
    _cleanup_(bl_box_stdio_freep) struct box_stdio *io = NULL;
    if (!tty) {
        r = bl_box_stdio_new(o->stdio, &io, err);
        if (r < 0)
            return r;
        if (o->detach && bl_box_stdio_relays(io))
            return bl_err(err, -EINVAL,
                          "a detached exec cannot be given a file or a device as its stdin, "
                          "stdout or stderr (the box could reopen it): give a pipe, a socket, "
                          "a terminal or none");
    }
    r = bl_box_start_on_demand(rt, b, "exec", err);
    if (r < 0)
        return r;
    _cleanup_close_ int s = bl_msg_connect(b->dir_fd, "shim.sock", err);
    if (s < 0)
        return s;
    _cleanup_close_ int devnull = -1;
    int fds[3] = {-1, -1, -1};
    for (int i = 0; i < 3 && io; i++) {
        fds[i] = bl_box_stdio_fds(io)[i];
        if (fds[i] < 0) {
            if (devnull < 0)
                devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
            fds[i] = devnull;
        }
    }
    r = bl_msg_send(s, q.f, q.n, fds, tty ? 0 : 3);
    if (r < 0)
        return bl_err_code(err, r, "cannot send the exec request");
    bl_box_stdio_handed(io); /* the shim has its copies: an EOF of ours means the box's */
    _cleanup_(bl_msg_freep) struct bl_msg *msg = bl_msg_new();
    if (!msg)
        return bl_oom(err);
    _cleanup_close_ int master = -1;
    struct bl_tty_pump pump;
    for (;;) {
        int ev = master >= 0 ? bl_tty_pump_step(&pump, s, sigfd) : bl_box_stdio_step(io, s, sigfd);
        if (ev < 0)
            return bl_err_code(err, ev, "poll");
        int ctl_ev = ev & 0xffff, sig_ev = ev >> 16;
        if (sigfd >= 0 && (sig_ev & POLLIN)) {
            int sig = 0;
            if (read(sigfd, &sig, sizeof(sig)) == (ssize_t) sizeof(sig) && sig > 0) {
                if (sig == SIGWINCH) {
                    if (tty)
                        bl_send_resize(s, o->stdio[0]);
                } else {
                    char sn[16];
                    snprintf(sn, sizeof(sn), "%d", sig);
                    const char *sf[] = {"signal", sn};
                    (void) bl_msg_send(s, sf, 2, NULL, 0);
                }
            }
        }
        if (!(ctl_ev & (POLLIN | POLLHUP | POLLERR)))
            continue;
        r = bl_msg_recv(s, msg);
        if (r < 0)
            return bl_err(err, -EIO, "the box's shim went away during exec");
        if (msg->n >= 1 && !strcmp(msg->field[0], "error")) {
            *ret_status = bl_shim_parse_status(msg->n > 1 ? msg->field[1] : NULL);
            const char *why = msg->n > 2 && *msg->field[2] ? msg->field[2] : "exec failed";
            return bl_err(err, -EIO, "%s", why);
        }
        if (msg->n >= 1 && !strcmp(msg->field[0], "pid") && o->detach) {
            *ret_status = 0;
            return 0;
        }
        if (msg->n >= 1 && !strcmp(msg->field[0], "pid") && tty) {
            if (msg->n_fds < 1)
                return bl_err(err, -EPROTO, "the box's shim sent no terminal");
            master = TAKE_FD(msg->fds[0]);
            bl_tty_pump_init(&pump, o->stdio[0], o->stdio[1], master);
            continue;
        }
        if (msg->n >= 2 && !strcmp(msg->field[0], "exit")) {
            if (master >= 0)
                bl_tty_pump_drain(&pump, 200);
            bl_box_stdio_drain(io);
            *ret_status = bl_shim_parse_status(msg->field[1]);
            return 0;
        }
    }
}
