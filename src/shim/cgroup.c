/* SPDX-License-Identifier: MIT */
/*
 * The box's cgroups. Pure cgroup v2 (/sys/fs/cgroup is cgroup2): one leaf there. Hybrid: a leaf
 * in the cgroup2 mount at /sys/fs/cgroup/unified (cgroup.kill, cgroup.events,
 * CLONE_INTO_CGROUP) and one in each of the v1 hierarchies cpu, cpuacct, memory and pids.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "alloc-util.h"
#include "fs-util.h"
#include "shim.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif

#define CG_ROOT "/sys/fs/cgroup"
#define CG_DRAIN_TIMEOUT_MS 5000

static bool is_fs(const char *path, long magic)
{
    struct statfs sf;
    return statfs(path, &sf) == 0 && (long) sf.f_type == magic;
}

static long long now_ms(void)
{
    struct timespec ts;
    (void) clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void remove_leaf(const char *dir, bool v2);

/* Create dir (a stale one, left by a killed shim, is emptied and made anew) and open its
 * cgroup.procs for writing. */
static int make_leaf(const char *path, bool v2, int *ret_procs, bl_error **err)
{
    if (mkdir(path, 0755) < 0) {
        if (errno != EEXIST)
            return bl_err_errno(err, "cannot create cgroup '%s'", path);
        shim_log("removing stale cgroup %s", path);
        remove_leaf(path, v2);
        if (mkdir(path, 0755) < 0)
            return bl_err_errno(err, "cannot create cgroup '%s'", path);
    }
    _cleanup_free_ char *procs = bl_path_join(path, "cgroup.procs");
    if (!procs)
        return bl_oom(err);
    *ret_procs = open(procs, O_WRONLY | O_CLOEXEC);
    if (*ret_procs < 0)
        return bl_err_errno(err, "cannot open '%s'", procs);
    return 0;
}

int cg_create(struct box_cgroups *cg, const char *leaf, bl_error **err)
{
    int r;
    if (!leaf || !*leaf)
        return 0;
    bool pure = is_fs(CG_ROOT, CGROUP2_SUPER_MAGIC);
    const char *v2root = pure                                             ? CG_ROOT
                         : is_fs(CG_ROOT "/unified", CGROUP2_SUPER_MAGIC) ? CG_ROOT "/unified"
                                                                          : NULL;
    if (v2root) {
        cg->v2_path = bl_path_join(v2root, leaf);
        if (!cg->v2_path)
            return bl_oom(err);
        r = make_leaf(cg->v2_path, true, &cg->v2_procs_fd, err);
        if (r < 0)
            return r;
        cg->v2_fd = open(cg->v2_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (cg->v2_fd < 0)
            return bl_err_errno(err, "cannot open cgroup '%s'", cg->v2_path);
    }
    if (pure)
        return 0;
    static const char *const v1[] = {"cpu", "cpuacct", "memory", "pids"};
    dev_t seen[CG_MAX_V1];
    for (size_t i = 0; i < ELEMENTSOF(v1); i++) {
        char root[64];
        (void) snprintf(root, sizeof(root), CG_ROOT "/%s", v1[i]);
        struct stat st;
        if (!is_fs(root, CGROUP_SUPER_MAGIC) || stat(root, &st) < 0)
            continue;
        bool dup = false; /* cpu and cpuacct are often one hierarchy behind two names */
        for (size_t j = 0; j < cg->n_v1; j++)
            dup |= seen[j] == st.st_dev;
        if (dup)
            continue;
        size_t k = cg->n_v1;
        cg->v1_path[k] = bl_path_join(root, leaf);
        if (!cg->v1_path[k])
            return bl_oom(err);
        seen[k] = st.st_dev;
        cg->n_v1++;
        r = make_leaf(cg->v1_path[k], false, &cg->v1_procs_fd[k], err);
        if (r < 0)
            return r;
    }
    return 0;
}

int cg_join_self(const struct box_cgroups *cg, bool skip_v2)
{
    if (!skip_v2 && cg->v2_procs_fd >= 0) {
        int r = write_str(cg->v2_procs_fd, "0");
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < cg->n_v1; i++) {
        int r = write_str(cg->v1_procs_fd[i], "0");
        if (r < 0)
            return r;
    }
    return 0;
}

int cg_attach(const struct box_cgroups *cg, pid_t pid, bool skip_v2)
{
    char num[16];
    (void) snprintf(num, sizeof(num), "%d", (int) pid);
    if (!skip_v2 && cg->v2_procs_fd >= 0) {
        int r = write_str(cg->v2_procs_fd, num);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < cg->n_v1; i++) {
        int r = write_str(cg->v1_procs_fd[i], num);
        if (r < 0)
            return r;
    }
    return 0;
}

/* SIGKILL every pid listed in dir/cgroup.procs. Returns how many were listed, or <0. */
static int kill_listed(const char *dir)
{
    _cleanup_free_ char *path = bl_path_join(dir, "cgroup.procs");
    if (!path)
        return -ENOMEM;
    _cleanup_free_ char *buf = NULL;
    int r = bl_read_file_at(AT_FDCWD, path, 4 * 1024 * 1024, &buf, NULL, NULL);
    if (r < 0)
        return r;
    int n = 0;
    for (char *p = buf; *p;) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = 0;
        int pid;
        if (parse_int(p, 1, 0x7fffffff, &pid) == 0) {
            (void) kill(pid, SIGKILL);
            n++;
        }
        if (!nl)
            break;
        p = nl + 1;
    }
    return n;
}

/* cgroup2: cgroup.kill, then wait for "populated 0" in cgroup.events (poll, no sleeping). */
static void drain_v2(const char *dir, long long deadline)
{
    _cleanup_free_ char *kpath = bl_path_join(dir, "cgroup.kill");
    _cleanup_free_ char *epath = bl_path_join(dir, "cgroup.events");
    if (!kpath || !epath)
        return;
    _cleanup_close_ int kfd = open(kpath, O_WRONLY | O_CLOEXEC);
    if (kfd < 0 || write_str(kfd, "1") < 0)
        (void) kill_listed(dir); /* kernel without cgroup.kill */
    _cleanup_close_ int efd = open(epath, O_RDONLY | O_CLOEXEC);
    if (efd < 0)
        return;
    for (;;) {
        char buf[256];
        ssize_t n = pread(efd, buf, sizeof(buf) - 1, 0);
        if (n < 0)
            return;
        buf[n] = 0;
        if (strstr(buf, "populated 0"))
            return;
        long long left = deadline - now_ms();
        if (left <= 0)
            return;
        struct pollfd pfd = {.fd = efd, .events = POLLPRI};
        (void) poll(&pfd, 1, (int) MIN(left, 1000));
    }
}

/* rmdir dir, killing and waiting out what is left in it. */
static void remove_leaf(const char *dir, bool v2)
{
    long long deadline = now_ms() + CG_DRAIN_TIMEOUT_MS;
    long delay_us = 500;
    bool drained = false;
    for (;;) {
        if (rmdir(dir) == 0 || errno == ENOENT)
            return;
        if (errno != EBUSY) {
            shim_log("cannot remove cgroup %s: %m", dir);
            return;
        }
        if (now_ms() >= deadline) {
            shim_log("cgroup %s is still busy, leaving it", dir);
            return;
        }
        if (v2 && !drained) {
            drain_v2(dir, deadline);
            drained = true;
            continue;
        }
        /* v1 has no events to wait on: kill what is listed, then a short bounded poll. */
        if (!v2)
            (void) kill_listed(dir);
        struct timespec ts = {.tv_sec = 0, .tv_nsec = delay_us * 1000};
        (void) nanosleep(&ts, NULL);
        delay_us = MIN(delay_us * 2, 50000);
    }
}

void cg_destroy(struct box_cgroups *cg)
{
    cg->v2_fd = bl_close(cg->v2_fd);
    cg->v2_procs_fd = bl_close(cg->v2_procs_fd);
    if (cg->v2_path) {
        remove_leaf(cg->v2_path, true);
        free(cg->v2_path);
        cg->v2_path = NULL;
    }
    for (size_t i = 0; i < cg->n_v1; i++) {
        cg->v1_procs_fd[i] = bl_close(cg->v1_procs_fd[i]);
        if (cg->v1_path[i]) {
            remove_leaf(cg->v1_path[i], false);
            free(cg->v1_path[i]);
            cg->v1_path[i] = NULL;
        }
    }
    cg->n_v1 = 0;
}
