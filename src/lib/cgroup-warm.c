/* SPDX-License-Identifier: MIT */
/*
 * Warming the kernel's cgroup migration lock before a box starts.
 *
 * Moving a task into a cgroup v1 hierarchy takes the kernel's cgroup_threadgroup_rwsem for
 * writing. When no writer has taken it for a while, the first one waits for an RCU grace period
 * (rcu_sync: 7-20 ms on our 2-core VMs) while readers switch to the slow path; the lock stays
 * in writer mode for a grace period after the last writer. The shim must move PID 1 into the
 * box's v1 cgroups (CLONE_INTO_CGROUP exists for cgroup2 only), so every start after a pause
 * paid that wait on its critical path. A no-op migration (our own process into the cgroup it
 * is already in), in a thread started as soon as the library knows a box will start, pays it
 * while the runtime does its database and filesystem work and the shim sets up. Best effort:
 * nothing changes, errors are ignored, and the runtime joins the thread when it is freed.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "alloc-util.h"
#include "fs-util.h"
#include "runtime.h"

static void *warm(void *arg)
{
    (void) arg;
    _cleanup_free_ char *cg = NULL;
    if (bl_read_file_at(AT_FDCWD, "/proc/self/cgroup", 64 * 1024, &cg, NULL, NULL) < 0)
        return NULL;
    /* "N:pids:/path": any v1 hierarchy will do, the lock is global */
    static const char *const ctrls[] = {"pids", "memory", "cpu,cpuacct", "cpu"};
    for (size_t i = 0; i < ELEMENTSOF(ctrls); i++) {
        char key[32];
        snprintf(key, sizeof(key), ":%s:", ctrls[i]);
        const char *p = strstr(cg, key);
        if (!p)
            continue;
        p += strlen(key);
        size_t n = strcspn(p, "\n");
        char path[4096];
        int k = snprintf(path, sizeof(path), "/sys/fs/cgroup/%s%.*s/cgroup.procs", ctrls[i],
                         (int) n, p);
        if (k < 0 || (size_t) k >= sizeof(path))
            return NULL;
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        (void) !write(fd, "0", 1);
        (void) close(fd);
        return NULL;
    }
    return NULL;
}

void bl_cgroup_warm(struct boxlite_runtime *rt)
{
    if (rt->warm_started)
        return;
    /* pure cgroup2 hosts start PID 1 in its cgroup directly: nothing to warm */
    if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0)
        return;
    if (pthread_create(&rt->warm_thread, NULL, warm, NULL) == 0)
        rt->warm_started = true;
}

void bl_cgroup_warm_done(struct boxlite_runtime *rt)
{
    if (rt->warm_started)
        (void) pthread_join(rt->warm_thread, NULL);
    rt->warm_started = false;
}
