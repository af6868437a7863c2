/* SPDX-License-Identifier: MIT */
/*
 * Recovery: the boxes and the cgroups that dead processes left (box-recover.h says who owns a
 * box's cgroups when).
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "alloc-util.h"
#include "box-records.h"
#include "box-recover.h"
#include "fs-util.h"
#include "log.h"
#include "parse-util.h"
#include "runtime.h"
#include "store.h"

/* Remove what a dead shim could not: the box's cgroups (killing anything still in them). */
static int cgroup_cleanup_at(const char *root, const char *id);

/* Remove what a dead shim could not: the box's cgroups in every hierarchy (pure cgroup v2 at
 * /sys/fs/cgroup, or each v1 controller and the unified mount below it), killing anything
 * still in them. The hierarchies are listed, not assumed: the shim may use any controller. */
static int cgroup_cleanup_path(const char *path);

/* Without root, the shim's delegated cgroups (below its own cgroup) are listed in the box's
 * `cgroups` file: only leaves of this box under /sys/fs/cgroup are taken from it. */
static int cgroup_cleanup_recorded(struct boxlite_runtime *rt, const char *id)
{
    char rel[64];
    snprintf(rel, sizeof(rel), "%s/cgroups", id);
    _cleanup_free_ char *list = NULL;
    int left = 0;
    if (bl_read_file_at(rt->boxes_fd, rel, 1 << 16, &list, NULL, NULL) < 0)
        return 0;
    char leaf[64];
    snprintf(leaf, sizeof(leaf), "/boxlite-%s", id);
    for (char *line = list; *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        size_t n = strlen(line), k = strlen(leaf);
        if (!strncmp(line, "/sys/fs/cgroup/", 15) && !strstr(line, "/..") && n > k &&
            !strcmp(line + n - k, leaf))
            left += cgroup_cleanup_path(line);
        if (!nl)
            break;
        line = nl + 1;
    }
    return left;
}

/* Remove the box's cgroups; returns how many are still there (tasks that would not die in
 * time: the caller keeps the box's record so that the next open tries again). */
static int cgroup_cleanup(struct boxlite_runtime *rt, const char *id)
{
    int left = 0;
    if (geteuid() != 0)
        left += cgroup_cleanup_recorded(rt, id);
    left += cgroup_cleanup_at("/sys/fs/cgroup", id);
    DIR *d = opendir("/sys/fs/cgroup");
    if (!d)
        return left;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || !strncmp(de->d_name, "boxlite-", 8) || de->d_type != DT_DIR)
            continue;
        char root[300];
        snprintf(root, sizeof(root), "/sys/fs/cgroup/%s", de->d_name);
        left += cgroup_cleanup_at(root, id);
    }
    closedir(d);
    return left;
}

static int cgroup_cleanup_at(const char *root, const char *id)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/boxlite-%s", root, id);
    return cgroup_cleanup_path(path);
}

/* 0 when path is gone, 1 when it is still there after the bounded wait. */
static int cgroup_cleanup_path(const char *path)
{
    if (rmdir(path) == 0 || errno == ENOENT || errno == ENOTDIR)
        return 0;
    char f[512];
    snprintf(f, sizeof(f), "%s/cgroup.kill", path);
    _cleanup_close_ int kfd = open(f, O_WRONLY | O_CLOEXEC);
    if (kfd >= 0)
        (void) !write(kfd, "1", 1);
    for (int tries = 0; tries < 200 && rmdir(path) < 0 && errno == EBUSY; tries++) {
        snprintf(f, sizeof(f), "%s/cgroup.procs", path);
        _cleanup_free_ char *procs = NULL;
        if (bl_read_file_at(AT_FDCWD, f, 1 << 20, &procs, NULL, NULL) == 0)
            for (const char *p = procs; *p;) {
                const char *end;
                uint64_t pid;
                if (bl_scan_u64(p, &end, &pid) < 0)
                    break;
                if (pid > 0) {
                    struct bl_proc victim = {.pid = (pid_t) pid, .pidfd = -1};
                    (void) bl_proc_signal(&victim, SIGKILL);
                }
                p = *end ? end + 1 : end;
            }
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL); /* bounded wait for the kernel to empty the cgroup */
    }
    if (rmdir(path) == 0 || errno == ENOENT)
        return 0;
    bl_debug("cgroup '%s' is still busy: left for the next open", path);
    return 1;
}

/* The staging directories of box creations ("box-<id>-*", see boxlite_box_create) whose creator
 * is gone: a creator killed after it moved the box's directory into boxes/ but before its row
 * was committed left a directory no row names; it goes, through the stage, with the stage. */
static void recover_box_stages(struct boxlite_runtime *rt)
{
    _cleanup_close_ int fd = fcntl(rt->tmp_fd, F_DUPFD_CLOEXEC, 3);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d)
        return;
    TAKE_FD(fd);
    rewinddir(d); /* (a dup shares the offset that recover_tmp's listing left at the end) */
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        if (strncmp(n, "box-", 4) != 0 || strlen(n) < 4 + 12 + 1 || n[4 + 12] != '-')
            continue;
        _cleanup_close_ int sfd =
            openat(rt->tmp_fd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sfd < 0 || flock(sfd, LOCK_EX | LOCK_NB) < 0)
            continue; /* (not a directory, or its creator lives) */
        char id[13];
        memcpy(id, n + 4, 12);
        id[12] = 0;
        _cleanup_close_ int dfd = openat(rt->boxes_fd, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0 && !bl_shim_lock_held(dfd) && !bl_lock_held(dfd, "lock") &&
            !bl_box_row_exists(rt, id)) {
            bl_debug("recovery: removing the directory of box %s, never created", id);
            (void) renameat(rt->boxes_fd, id, sfd, id);
        }
        (void) bl_rm_tree(rt, rt->tmp_fd, n);
    }
    closedir(d);
}

int bl_box_reap_cgroups(struct boxlite_runtime *rt, const char *id)
{
    return cgroup_cleanup(rt, id);
}

void bl_box_recover(struct boxlite_runtime *rt)
{
    recover_box_stages(rt);
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    if (bl_store_prepare(rt->store,
                         "SELECT id, status, json_extract(config, '$.auto_remove') FROM boxes "
                         "WHERE status IN ('running', 'configured') OR "
                         "json_extract(config, '$.auto_remove')",
                         &st, NULL) < 0)
        return;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *id = bl_stmt_text(st, 0);
        const char *status = bl_stmt_text(st, 1);
        int auto_remove = sqlite3_column_int(st, 2);
        _cleanup_close_ int dfd = openat(rt->boxes_fd, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0 && (bl_shim_lock_held(dfd) || bl_lock_held(dfd, "lock")))
            continue; /* alive, or owned by a live process */
        /* A first start whose client was killed before it recorded 'running' (the shim was
         * up, saw its client go and stopped the box): only its exit.json tells. */
        bool ran = !strcmp(status, "configured") && dfd >= 0 && bl_box_read_exit_code(dfd) >= 0;
        if (!strcmp(status, "configured") && !ran && !auto_remove)
            continue;
        /* a shim killed with SIGKILL could not remove them; while one is left (its tasks
         * still dying), a --rm box's record stays for the next open to try again (another box
         * has its next start or its rm for that) */
        if (bl_box_reap_cgroups(rt, id) > 0 && auto_remove && dfd >= 0)
            continue;
        if (auto_remove || dfd < 0) {
            bl_debug("recovery: removing stale box %s", id);
            (void) bl_box_delete(rt, id, NULL);
            continue;
        }
        if (!strcmp(status, "running") || ran) {
            int code = bl_box_read_exit_code(dfd);
            bl_debug("recovery: box %s is no longer running (exit %d)", id, code);
            _cleanup_stmt_ sqlite3_stmt *up = NULL;
            if (bl_store_prepare(rt->store,
                                 "UPDATE boxes SET status = 'stopped', pid = 0, exit_code = "
                                 "CASE WHEN ?2 >= 0 THEN ?2 ELSE exit_code END WHERE id = ?1",
                                 &up, NULL) == 0) {
                bl_stmt_bind_text(up, 1, id);
                sqlite3_bind_int(up, 2, code);
                (void) sqlite3_step(up);
            }
            (void) unlinkat(dfd, "shim.pid", 0);
            (void) unlinkat(dfd, "shim.sock", 0);
        }
    }
}
