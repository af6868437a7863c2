/* SPDX-License-Identifier: MIT */
/*
 * seccomp: the box's filter holds for denied calls on every ABI a 64-bit x86 program can reach:
 * x86-64, i386 (int $0x80 from a 64-bit program) and x32 (nr | 0x40000000). The test call is
 * unshare(CLONE_NEWUSER), which the kernel would grant (and which the default profile denies
 * without CAP_SYS_ADMIN): if it succeeds, the filter let it through. Each try runs in a child.
 */
#include <linux/bpf.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "probe.h"

#ifdef __x86_64__
static long i386_syscall(long nr, long a, long b, long c)
{
    long ret;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(0L), "D"(0L)
                     : "memory");
    return ret;
}
#endif

/* Runs fn in a child; reports how it went. fn returns the raw result (-errno on failure). */
static void in_child(const char *what, long (*fn)(void))
{
    int pfd[2];
    if (pipe(pfd) < 0)
        return;
    pid_t p = fork();
    if (p == 0) {
        long r = fn();
        (void) !write(pfd[1], &r, sizeof(r));
        _exit(0);
    }
    close(pfd[1]);
    long r = 0;
    ssize_t n = read(pfd[0], &r, sizeof(r));
    close(pfd[0]);
    int st;
    waitpid(p, &st, 0);
    if (n != sizeof(r)) {
        if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS)
            held("%s: killed by SIGSYS", what);
        else if (WIFSIGNALED(st))
            held("%s: the ABI is not there (signal %d)", what, WTERMSIG(st));
        else
            note("%s: no result", what);
        return;
    }
    if (r >= 0)
        escaped("%s succeeded (%ld): the filter let it through", what, r);
    else if (r == -EPERM || r == -ENOSYS)
        held("%s: %s", what, strerror((int) -r));
    else
        note("%s: %s", what, strerror((int) -r));
}

static long raw(long r)
{
    return r < 0 ? -errno : r;
}
static long x64_unshare(void)
{
    return raw(syscall(SYS_unshare, CLONE_NEWUSER));
}
static long x64_kexec(void)
{
    return raw(syscall(SYS_kexec_load, 0, 0, NULL, 0));
}
static long x64_open_by_handle(void)
{
    char h[sizeof(struct file_handle) + 8] = {0};
    struct file_handle *fh = (struct file_handle *) h;
    fh->handle_bytes = 8;
    fh->handle_type = 1;
    return raw(syscall(SYS_open_by_handle_at, AT_FDCWD, fh, O_RDONLY));
}
static long x64_bpf(void)
{
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.map_type = BPF_MAP_TYPE_ARRAY;
    a.key_size = 4;
    a.value_size = 4;
    a.max_entries = 1;
    return raw(syscall(SYS_bpf, BPF_MAP_CREATE, &a, sizeof(a)));
}
#ifdef __x86_64__
static long i386_unshare(void)
{
    return i386_syscall(310, CLONE_NEWUSER, 0, 0); /* __NR_unshare on i386 */
}
static long i386_mount(void)
{
    /* __NR_mount on i386: a tmpfs on /tmp (needs CAP_SYS_ADMIN, which the box lacks, and the
     * filter must refuse it first) */
    return i386_syscall(21, (long) (uintptr_t) "none", (long) (uintptr_t) "/tmp",
                        (long) (uintptr_t) "tmpfs");
}
static long x32_unshare(void)
{
    return raw(syscall(0x40000000 | 272, CLONE_NEWUSER));
}
#endif

int main(void)
{
    probe_init();
    in_child("unshare(CLONE_NEWUSER) (x86-64)", x64_unshare);
    in_child("kexec_load (x86-64)", x64_kexec);
    in_child("open_by_handle_at (x86-64)", x64_open_by_handle);
    in_child("bpf(BPF_MAP_CREATE) (x86-64)", x64_bpf);
#ifdef __x86_64__
    in_child("unshare(CLONE_NEWUSER) through int $0x80 (i386)", i386_unshare);
    in_child("mount through int $0x80 (i386)", i386_mount);
    in_child("unshare(CLONE_NEWUSER) through x32", x32_unshare);
#else
    note("not x86-64: the i386 and x32 ABIs are not tried");
#endif
    return probe_done();
}
