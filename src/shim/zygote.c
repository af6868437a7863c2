/* SPDX-License-Identifier: MIT */
/*
 * The exec zygote (docs/design/shim-protocol.md, "Exec zygote"). Joining the box's cgroups costs
 * an RCU grace period per v1 hierarchy write (~12 ms on an idle machine), so instead of paying it
 * in every exec child, one helper forked from the shim right after PID 1 starts joins the box's
 * cgroups and namespaces once and then forks the exec children on request. They inherit all of
 * it; with CLONE_PARENT their parent is the shim, which reaps them and reports `pid` and `exit`
 * exactly as for a child it forked itself.
 *
 * The zygote stays in the shim's pid namespace (its children are born in the box's: setns of
 * CLONE_NEWPID), so the box does not see it in ps; it is in the box's cgroups (one task of the
 * box's pids count, which `stats` leaves out). It dies with the shim (PR_SET_PDEATHSIG) and is
 * killed by the shim when PID 1 exits.
 *
 * Shim -> zygote: `exec\0<tty>\0<argc>\0<arg>...\0<envc>\0<env>...\0<cwd>\0<user>` with four
 * fds (stdin, stdout, stderr, the write end of the exec error pipe). Zygote -> shim: `ready`
 * once, then per request `error\0<errno>` when no child was created; the child itself sends
 * `child` with its own pidfd attached, as the first thing it does, on the socket it inherited.
 * So the socket reaches EOF (the zygote and every child gone) only if no child of that request
 * lives on: a zygote killed half-way through a request (the box's OOM) never leaves a command
 * running that the shim does not know of, and the shim may safely ask a new zygote.
 *
 * The zygote is the only way into the box: a child forked from the shim itself would hold the
 * shim's fds and memory while it joins the box, a door the box's root could reach through
 * /proc (the escape that removed that fallback). A zygote that is gone (the box OOM-killed it)
 * is started again on the next exec; one that cannot be (the box is at its pids limit) makes
 * that exec fail, as a fork in the box would. The zygote has oom_score_adj -1000 where the
 * shim may set it; the box's processes get the shim's original value back (process.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc-util.h"
#include "fs-util.h"
#include "proto.h"
#include "zygote.h"

#define ZYG_FDS 4
#define ZYG_TIMEOUT_MS 5000
#define ZYG_NS_FLAGS                                                                               \
    (CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP)

struct zyg_clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
        set_tid_size, cgroup;
};

/* ---- in the zygote ------------------------------------------------------------------------ */

/* Fork an exec child as a sibling (its parent is the shim) and send back its pidfd. */
static void zygote_serve(const struct zygote_box *b, int sock, struct bl_msg *m)
{
    int argc, envc;
    size_t i = 2;
    if (m->n < 3 || m->n_fds != ZYG_FDS || strcmp(m->field[0], "exec") ||
        parse_int(m->field[i++], 1, 1 << 20, &argc) < 0 || m->n < i + (size_t) argc + 1) {
        (void) proto_send(sock, 2, "error", "malformed request");
        return;
    }
    char **argv = m->field + i;
    i += (size_t) argc;
    if (parse_int(m->field[i++], 0, 1 << 20, &envc) < 0 || m->n != i + (size_t) envc + 2) {
        (void) proto_send(sock, 2, "error", "malformed request");
        return;
    }
    char **envp = m->field + i;
    i += (size_t) envc;
    /* argv and envp end where the next field starts: NUL-terminate the lists in place, their
     * terminators overwrite the envc and cwd pointers, which are read first. */
    const char *cwd = m->field[i], *user = m->field[i + 1];
    argv[argc] = NULL;
    envp[envc] = NULL;
    struct proc_spec spec = {
        .argv = argv,
        .envp = envp,
        .cwd = cwd,
        .user = user,
        .caps = b->conf->caps,
        .seccomp = b->seccomp->len ? b->seccomp : NULL,
        .tty = !strcmp(m->field[1], "1"),
    };
    struct zyg_clone_args a = {
        .flags = CLONE_PARENT,
        .exit_signal = 0, /* CLONE_PARENT: the child gets ours, SIGCHLD to the shim */
    };
    long r = syscall(SYS_clone3, &a, sizeof(a));
    if (r < 0) {
        char num[16];
        (void) snprintf(num, sizeof(num), "%d", errno);
        (void) proto_send(sock, 2, "error", num);
        return;
    }
    if (r == 0) {
        /* the shim learns of us from us (see the top): before anything else */
        int self = pidfd_open(getpid(), 0);
        if (self < 0 || proto_send_fd(sock, self, 1, "child") < 0)
            _exit(ST_BOXLITE_FAILED);
        (void) close(self);
        exec_child_run(m->fds, &spec, m->fds[3]);
    }
}

/* Into PID 1's namespaces: through its pidfd, or (an init without root, whose /proc entries are
 * closed to us) through the namespace fds it handed over, the user namespace first. */
static int join_box(const struct zygote_box *b)
{
    if (b->ns_fd[0] < 0)
        return setns(b->pid1->pidfd, ZYG_NS_FLAGS | (b->userns ? CLONE_NEWUSER : 0));
    for (size_t i = 0; i < SHIM_BOX_NS; i++)
        if (setns(b->ns_fd[i], 0) < 0)
            return -1;
    return 0;
}

static _noreturn_ void zygote_main(const struct zygote_box *b, pid_t shim_pid, int sock,
                                   bool in_cgroup)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != shim_pid)
        _exit(1);
    (void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); /* the box's root may not ptrace or peek at us */
    (void) prctl(PR_SET_NAME, "boxlite-zygote", 0, 0, 0);
    /* the box's processes get the fd limit the shim was given, not the one it raised */
    (void) setrlimit(RLIMIT_NOFILE, b->nofile);
    if (cg_join_self(b->cg, in_cgroup) < 0 || join_box(b) < 0)
        _exit(1); /* the shim reads EOF instead of `ready`: execs fail */
    /* Nothing of the shim but our socket (0, 1 and 2 are /dev/null by now). */
    if (sock > 3)
        (void) close_range(3, (unsigned) sock - 1, 0);
    (void) close_range((unsigned) sock + 1, ~0U, 0);
    if (proto_send(sock, 1, "ready") < 0)
        _exit(1);
    for (;;) {
        struct pollfd pfd = {.fd = sock, .events = POLLIN};
        if (poll(&pfd, 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            _exit(1);
        }
        struct bl_msg m = BL_MSG_NULL;
        int r = proto_recv(sock, &m);
        if (r == 0)
            zygote_serve(b, sock, &m);
        bl_msg_done(&m);
        if (r < 0 && r != -EAGAIN && r != -EINTR)
            _exit(0); /* the shim closed its end (or is gone) */
    }
}

/* ---- in the shim -------------------------------------------------------------------------- */

void zygote_init(struct zygote *z, const struct zygote_box *box)
{
    *z = (struct zygote){.box = *box, .pid = 0, .pidfd = -1, .fd = -1, .ready = false};
}

int zygote_start(struct zygote *z, bl_error **err)
{
    struct box_pid1 *p1 = z->box.pid1;
    /* (without root we never joined the box's pid namespace: nothing to step out of) */
    bool step_out = !z->box.userns;
    if (step_out && (!p1->pidns_joined || p1->orig_pidns_fd < 0))
        return -ESRCH;
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
        return bl_err_errno(err, "exec zygote: socketpair");
    _cleanup_close_ int ours = sp[0], theirs = sp[1];
    /* Born in our own pid namespace (invisible to the box), not the box's. */
    if (step_out && setns(p1->orig_pidns_fd, CLONE_NEWPID) < 0)
        return bl_err_errno(err, "exec zygote: cannot return to our pid namespace");
    pid_t shim_pid = getpid();
    int pidfd = -1;
    bool in_cgroup = false;
    pid_t pid = shim_clone(0, z->box.cg->v2_fd, &pidfd, &in_cgroup);
    if (pid == 0) {
        ours = bl_close(ours);
        zygote_main(&z->box, shim_pid, theirs, in_cgroup);
    }
    if (step_out && setns(p1->pidfd, CLONE_NEWPID) < 0) {
        shim_log("cannot join the box's pid namespace again: %s (exec disabled)", strerror(errno));
        p1->pidns_joined = false;
    }
    if (pid < 0)
        return bl_err_code(err, pid, "exec zygote: cannot create it");
    z->pid = pid;
    z->pidfd = pidfd;
    z->fd = TAKE_FD(ours);
    z->ready = false;
    return 0;
}

/* Kill the zygote (it is reaped by the SIGCHLD loop, or by zygote_reap). */
void zygote_stop(struct zygote *z)
{
    z->fd = bl_close(z->fd);
    z->ready = false;
    if (z->pidfd >= 0)
        (void) pidfd_send_signal(z->pidfd, SIGKILL, NULL, 0);
}

bool zygote_reaped(struct zygote *z, pid_t pid)
{
    if (z->pid <= 0 || pid != z->pid)
        return false;
    z->pid = 0;
    z->pidfd = bl_close(z->pidfd);
    zygote_stop(z);
    return true;
}

void zygote_reap(struct zygote *z)
{
    zygote_stop(z);
    if (z->pid > 0) {
        int st;
        while (waitpid(z->pid, &st, 0) < 0 && errno == EINTR)
            ;
        z->pid = 0;
    }
    z->pidfd = bl_close(z->pidfd);
}

/* Wait up to the timeout for one datagram from the zygote. */
static int zyg_recv(struct zygote *z, struct bl_msg *m)
{
    struct pollfd pfd = {.fd = z->fd, .events = POLLIN};
    int r;
    do
        r = poll(&pfd, 1, ZYG_TIMEOUT_MS);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return -errno;
    if (r == 0)
        return -ETIMEDOUT;
    return proto_recv(z->fd, m);
}

bool zygote_ready(struct zygote *z)
{
    if (z->fd < 0)
        return false;
    if (z->ready)
        return true;
    struct bl_msg m = BL_MSG_NULL;
    int r = zyg_recv(z, &m);
    z->ready = r == 0 && m.n >= 1 && !strcmp(m.field[0], "ready");
    bl_msg_done(&m);
    if (!z->ready) {
        shim_log("exec zygote did not come up (%s)", r < 0 ? strerror(-r) : "unexpected message");
        zygote_stop(z);
    }
    return z->ready;
}

/* The pid of a pidfd, in our pid namespace. */
static pid_t pidfd_pid(int pidfd)
{
    char path[64];
    (void) snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
    _cleanup_free_ char *buf = NULL;
    if (bl_read_file_at(AT_FDCWD, path, 64 * 1024, &buf, NULL, NULL) < 0)
        return -1;
    const char *p = strstr(buf, "\nPid:\t");
    int pid;
    if (!p)
        return -1;
    p += 6;
    char num[16];
    size_t k = strcspn(p, "\n");
    if (k == 0 || k >= sizeof(num))
        return -1;
    memcpy(num, p, k);
    num[k] = 0;
    return parse_int(num, 1, 0x7fffffff, &pid) < 0 ? -1 : (pid_t) pid;
}

static int send_request(int sock, const struct proc_spec *spec, const int *fds)
{
    size_t argc = 0, envc = 0;
    while (spec->argv[argc])
        argc++;
    while (spec->envp[envc])
        envc++;
    char nargs[24], nenv[24];
    (void) snprintf(nargs, sizeof(nargs), "%zu", argc);
    (void) snprintf(nenv, sizeof(nenv), "%zu", envc);
    _cleanup_free_ const char **f = bl_calloc(3 + argc + 1 + envc + 2, sizeof(char *));
    if (!f)
        return -ENOMEM;
    size_t n = 0;
    f[n++] = "exec";
    f[n++] = spec->tty ? "1" : "0";
    f[n++] = nargs;
    for (size_t i = 0; i < argc; i++)
        f[n++] = spec->argv[i];
    f[n++] = nenv;
    for (size_t i = 0; i < envc; i++)
        f[n++] = spec->envp[i];
    f[n++] = spec->cwd;
    f[n++] = spec->user; /* may be empty: every field is terminated, the last one too */
    /* blocking: the zygote reads it at once (-E2BIG past BL_WIRE_MAX_MSG) */
    return bl_wire_send(sock, f, n, fds, ZYG_FDS, /* flags= */ 0);
}

int zygote_spawn(struct zygote *z, const struct proc_spec *spec, const int *stdio, int errfd,
                 pid_t *ret_pid, int *ret_pidfd)
{
    if (!zygote_ready(z))
        return -ENOENT;
    int fds[ZYG_FDS] = {stdio[0], stdio[1], stdio[2], errfd};
    int r = send_request(z->fd, spec, fds);
    if (r == -E2BIG || r == -ENOMEM)
        return r;
    if (r < 0) {
        shim_log("exec zygote is gone (%s): a new one is started", strerror(-r));
        zygote_stop(z);
        return -ENOENT;
    }
    /* A child reports itself; the zygote only reports a fork that failed. EOF means the zygote
     * is gone and no child of this request lives (one that did would hold the socket): nothing
     * of the command ran, and a new zygote may be asked. */
    struct bl_msg m = BL_MSG_NULL;
    r = zyg_recv(z, &m);
    if (r == -EPIPE) {
        bl_msg_done(&m);
        shim_log("exec zygote died with the request: a new one is started");
        zygote_stop(z);
        return -ENOENT;
    }
    if (r == 0 && m.n >= 1 && !strcmp(m.field[0], "error")) {
        int e = EIO;
        if (m.n >= 2)
            (void) parse_int(m.field[1], 1, 4095, &e);
        bl_msg_done(&m);
        return e == ENOENT ? -EIO : -e; /* nothing was created (-ENOENT means "no zygote") */
    }
    if (r < 0 || m.n < 1 || strcmp(m.field[0], "child") || m.n_fds != 1) {
        bl_msg_done(&m);
        shim_log("exec zygote failed: %s", r < 0 ? strerror(-r) : "bad reply");
        zygote_stop(z);
        return r < 0 ? r : -EPROTO;
    }
    _cleanup_close_ int pidfd = TAKE_FD(m.fds[0]);
    bl_msg_done(&m);
    pid_t pid = pidfd_pid(pidfd);
    if (pid <= 0) {
        (void) pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
        return -ESRCH;
    }
    *ret_pid = pid;
    *ret_pidfd = TAKE_FD(pidfd);
    return 0;
}
