/* SPDX-License-Identifier: MIT */
/*
 * init: issue 12, finding 7 (--init PID 1 exposes the host binary; the CVE-2019-5736
 * precondition). Whatever runs as PID 1 of the box (or the helper an idle box runs) must not be
 * a host binary the box can open, and must not be ptraceable. SHIM_DEV and SHIM_INO name the
 * host's boxlite-shim (st_dev as the kernel reports it, st_ino).
 */
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include "probe.h"

int main(int argc, char **argv)
{
    probe_init();
    int target = argc > 1 ? atoi(argv[1]) : 1;
    char exe[64];
    snprintf(exe, sizeof(exe), "/proc/%d/exe", target);
    if (target == getpid()) {
        note("we are pid %d ourselves: nothing to check", target);
        return probe_done();
    }

    int fd = open(exe, O_RDONLY | O_CLOEXEC);
    expect_refused("open /proc/1/exe for reading", fd, EACCES, EPERM, ENOENT, 0);
    if (fd >= 0)
        close(fd);
    fd = open(exe, O_WRONLY | O_CLOEXEC);
    expect_refused("open /proc/1/exe for writing", fd, EACCES, EPERM, ENOENT, ETXTBSY, 0);
    if (fd >= 0)
        close(fd);
    char link[512];
    ssize_t n = readlink(exe, link, sizeof(link) - 1);
    if (n >= 0) {
        link[n] = 0;
        escaped("readlink /proc/1/exe: %s", link);
    } else {
        expect_refused("readlink /proc/1/exe", n, EACCES, EPERM, ENOENT, 0);
    }
    struct stat st;
    if (stat(exe, &st) == 0) {
        unsigned long long d = strtoull(env_or("SHIM_DEV", "0"), NULL, 10);
        unsigned long long i = strtoull(env_or("SHIM_INO", "0"), NULL, 10);
        if (i && st.st_ino == i && st.st_dev == d)
            escaped("/proc/1/exe is the host's boxlite-shim (dev %llu ino %llu)", d, i);
        else
            note("/proc/1/exe is not the host's boxlite-shim (dev %llu ino %llu)",
                 (unsigned long long) st.st_dev, (unsigned long long) st.st_ino);
    } else {
        held("stat /proc/1/exe: %s", strerror(errno));
    }

    long r = ptrace(PTRACE_SEIZE, target, 0, 0);
    int e = errno;
    if (r == 0) {
        escaped("PTRACE_SEIZE of pid %d", target);
        ptrace(PTRACE_DETACH, target, 0, 0);
    } else {
        errno = e;
        expect_refused("PTRACE_SEIZE of pid 1", r, EPERM, EACCES, 0);
    }
    r = ptrace(PTRACE_ATTACH, target, 0, 0);
    e = errno;
    if (r == 0) {
        escaped("PTRACE_ATTACH of pid %d", target);
        waitpid(target, NULL, __WALL);
        ptrace(PTRACE_DETACH, target, 0, 0);
    } else {
        errno = e;
        expect_refused("PTRACE_ATTACH of pid 1", r, EPERM, EACCES, 0);
    }
    /* its memory and fds, the other ways in */
    snprintf(exe, sizeof(exe), "/proc/%d/mem", target);
    fd = open(exe, O_RDONLY | O_CLOEXEC);
    expect_refused("open /proc/1/mem", fd, EACCES, EPERM, 0);
    if (fd >= 0)
        close(fd);
    return probe_done();
}
