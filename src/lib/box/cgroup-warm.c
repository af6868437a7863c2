/* SPDX-License-Identifier: MIT */
/*
 * Warming the kernel's cgroup migration lock before a box starts.
 *
 * Moving a task into a cgroup v1 hierarchy takes the kernel's cgroup_threadgroup_rwsem for
 * writing. When no writer has taken it for a while, the first one waits for an RCU grace period
 * (rcu_sync: 7-20 ms on our 2-core VMs) while readers switch to the slow path; the lock stays
 * in writer mode for a grace period after the last writer. The shim must move PID 1 into the
 * box's v1 cgroups (CLONE_INTO_CGROUP exists for cgroup2 only), so every start after a pause
 * paid that wait on its critical path. A no-op migration (a thread of ours into the cgroup it
 * is already in), in a thread started as soon as the library knows a box will start, pays it
 * while the runtime does its database and filesystem work and the shim sets up. Best effort:
 * nothing changes, errors are ignored, and the runtime joins the thread when it is freed. (An
 * embedder that calls unshare(CLONE_NEWUSER) meanwhile would see EINVAL: a process with a
 * second thread cannot.)
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "alloc-util.h"
#include "cgroup-warm.h"
#include "fs-util.h"
#include "runtime.h"

static void *warm(void *arg)
{
    struct boxlite_runtime *rt = arg;
    _cleanup_free_ char *cg = NULL;
    /* this thread's own cgroups: the move concerns this thread alone ("tasks" and a tid;
     * cgroup.procs would move every thread of an embedding program) */
    if (bl_read_file_at(AT_FDCWD, "/proc/thread-self/cgroup", 64 * 1024, &cg, NULL, NULL) == 0) {
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
            char path[4096], tid[32];
            int k =
                snprintf(path, sizeof(path), "/sys/fs/cgroup/%s%.*s/tasks", ctrls[i], (int) n, p);
            if (k < 0 || (size_t) k >= sizeof(path))
                break;
            int fd = open(path, O_WRONLY | O_CLOEXEC);
            if (fd < 0)
                continue;
            /* a tid, not "0": the kernel takes the lock only for a named task */
            k = snprintf(tid, sizeof(tid), "%d", (int) gettid());
            (void) !write(fd, tid, (size_t) k);
            (void) close(fd);
            break;
        }
    }
    atomic_store(&rt->warm_done, true);
    return NULL;
}

void bl_cgroup_warm(struct boxlite_runtime *rt)
{
    if (rt->warm_started && !atomic_load(&rt->warm_done))
        return; /* warming now */
    /* (a long-lived runtime warms again for a later start: the lock cools down) */
    bl_cgroup_warm_done(rt);
    /* pure cgroup2 hosts start PID 1 in its cgroup directly: nothing to warm */
    if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0)
        return;
    atomic_store(&rt->warm_done, false);
    if (pthread_create(&rt->warm_thread, NULL, warm, rt) == 0)
        rt->warm_started = true;
}

void bl_cgroup_warm_done(struct boxlite_runtime *rt)
{
    if (rt->warm_started)
        (void) pthread_join(rt->warm_thread, NULL);
    rt->warm_started = false;
}
