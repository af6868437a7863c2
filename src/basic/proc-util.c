/* SPDX-License-Identifier: MIT */
/* fork/exec, pidfds, signals and reaping (the only file besides the shim that may call them). */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc-util.h"
#include "fs-util.h"
#include "proc-util.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static int pidfd_open_(pid_t pid)
{
    return (int) syscall(SYS_pidfd_open, pid, 0);
}

int bl_proc_signal(const struct bl_proc *p, int sig)
{
    if (p->pidfd >= 0) {
        if (syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0) < 0)
            return -errno;
        return 0;
    }
    if (p->pid > 0 && kill(p->pid, sig) < 0)
        return -errno;
    return 0;
}

int bl_proc_wait(struct bl_proc *p)
{
    if (p->pid <= 0)
        return -ECHILD;
    siginfo_t si = {0};
    int r;
    do {
        if (p->pidfd >= 0)
            r = waitid((idtype_t) P_PIDFD, (id_t) p->pidfd, &si, WEXITED);
        else
            r = waitid(P_PID, (id_t) p->pid, &si, WEXITED);
    } while (r < 0 && errno == EINTR);
    if (r < 0)
        return -errno;
    p->pid = 0;
    p->pidfd = bl_close(p->pidfd);
    if (si.si_code == CLD_EXITED)
        return si.si_status & 0xff;
    return 128 + si.si_status;
}

void bl_proc_kill_and_reap(struct bl_proc *p)
{
    if (p->pid <= 0) {
        p->pidfd = bl_close(p->pidfd);
        return;
    }
    int saved = errno;
    (void) bl_proc_signal(p, SIGKILL);
    (void) bl_proc_wait(p);
    p->pidfd = bl_close(p->pidfd);
    p->pid = 0;
    errno = saved;
}

/* In the child: put fds in place and exec; never returns. */
static void _noreturn_ child_exec(char *const *argv, const int *fds, int nfds)
{
    int devnull = -1;
    int moved[8];
    /* move every source above the target range first, so no dup3 clobbers a later source */
    for (int i = 0; i < nfds && i < 8; i++) {
        int src = fds[i];
        if (src < 0) {
            if (devnull < 0)
                devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
            src = devnull;
        }
        moved[i] = fcntl(src, F_DUPFD_CLOEXEC, 16);
        if (moved[i] < 0)
            _exit(127);
    }
    for (int i = 0; i < nfds && i < 8; i++)
        if (dup3(moved[i], i, 0) < 0)
            _exit(127);
    (void) syscall(SYS_close_range, nfds, ~0U, 0);
    sigset_t all;
    sigemptyset(&all);
    (void) sigprocmask(SIG_SETMASK, &all, NULL);
    execv(argv[0], argv);
    _exit(127);
}

int bl_proc_spawn(char *const *argv, const int *fds, int nfds, int flags, struct bl_proc *ret,
                  bl_error **err)
{
    if (nfds > 8)
        return bl_err(err, -EINVAL, "too many fds for a child");
    pid_t pid = fork();
    if (pid < 0)
        return bl_err_errno(err, "cannot fork");
    if (pid == 0) {
        if (flags & BL_SPAWN_DETACH) {
            pid_t g = fork();
            if (g < 0)
                _exit(1);
            if (g > 0)
                _exit(0);
            (void) setsid();
        }
        child_exec(argv, fds, nfds);
    }
    struct bl_proc p = {.pid = pid, .pidfd = pidfd_open_(pid)};
    if (flags & BL_SPAWN_DETACH) {
        int st = bl_proc_wait(&p); /* the intermediate child exits at once */
        if (st != 0)
            return bl_err(err, -EIO, "cannot start '%s'", argv[0]);
        *ret = BL_PROC_NULL;
        return 0;
    }
    *ret = p;
    return 0;
}

int bl_proc_fork_call(int (*fn)(void *arg, bl_error **err), void *arg, bl_error **err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return bl_err_errno(err, "pipe");
    _cleanup_close_ int rd = p[0], wr = p[1];
    pid_t pid = fork();
    if (pid < 0)
        return bl_err_errno(err, "cannot fork");
    if (pid == 0) {
        bl_error *e = NULL;
        int r = fn(arg, &e);
        int head[2] = {r, e ? e->code : 0};
        const char *msg = e ? bl_error_msg(e) : "";
        (void) !write(wr, head, sizeof(head));
        (void) !write(wr, msg, strlen(msg));
        _exit(0);
    }
    _cleanup_proc_ struct bl_proc proc = {.pid = pid, .pidfd = pidfd_open_(pid)};
    wr = bl_close(wr);
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    int q = bl_read_full_fd(rd, 64 * 1024, &buf, &len);
    int st = bl_proc_wait(&proc);
    int head[2];
    if (q < 0 || len < sizeof(head))
        return bl_err(err, -EIO, "the helper process died (status %d)", st);
    memcpy(head, buf, sizeof(head));
    if (head[0] >= 0)
        return head[0];
    return bl_err(err, head[1] ? head[1] : head[0], "%.*s", (int) (len - sizeof(head)),
                  buf + sizeof(head));
}
