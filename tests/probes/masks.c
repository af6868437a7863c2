/* SPDX-License-Identifier: MIT */
/*
 * masks: what the box's /proc and /sys hide or keep read-only. Nothing is ever written: an
 * open for writing that succeeds is the escape.
 */
#include "probe.h"

static void empty(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        held("%s: %s", path, strerror(errno));
        return;
    }
    char buf[512];
    ssize_t n = read(fd, buf, sizeof(buf));
    close(fd);
    if (n > 0)
        escaped("%s reads %zd bytes", path, n);
    else
        held("%s is empty", path);
}

static void no_write(const char *path)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0) {
        escaped("%s opened for writing", path);
        close(fd);
        return;
    }
    expect_refused(path, fd, EROFS, EACCES, EPERM, 0);
}

int main(void)
{
    probe_init();
    empty("/proc/kcore");
    empty("/proc/keys");
    empty("/proc/timer_list");
    empty("/proc/kmsg");
    no_write("/proc/sysrq-trigger");
    no_write("/proc/sys/kernel/domainname");
    no_write("/proc/sys/kernel/core_pattern");
    no_write("/proc/sys/vm/drop_caches");
    no_write("/sys/kernel/uevent_helper");
    no_write("/sys/kernel/mm/transparent_hugepage/enabled");
    no_write("/proc/irq/default_smp_affinity");
    return probe_done();
}
