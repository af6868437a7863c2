/* SPDX-License-Identifier: MIT */
/*
 * Opening a home: layout creation, the store, the helpers every box needs, and the cheap
 * recovery pass of its staging directories that runs on every open (those of dead processes are
 * removed; the box module's own recovery follows, from the API's open). Many processes may open
 * the same home at once; nothing here assumes it is alone.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "alloc-util.h"
#include "fs-util.h"
#include "helpers.h"
#include "idmap.h"
#include "log.h"
#include "parse-util.h"
#include "runtime.h"

int bl_home_resolve(const char *explicit_home, char **ret, bl_error **err)
{
    const char *h = explicit_home;
    _cleanup_free_ char *p = NULL;
    if (!h || !*h) {
        const char *env = getenv("BOXLITE_HOME");
        const char *home = getenv("HOME");
        if (env && *env)
            h = env;
        else if (home && *home)
            h = p = bl_path_join(home, ".boxlite");
        else
            h = p = bl_strdup("./.boxlite");
        if (!h)
            return bl_oom(err);
    }
    if (h[0] != '/')
        return bl_err(err, -EINVAL, "home_dir must be absolute path, got: %s", h);
    char *c = bl_strdup(h);
    if (!c)
        return bl_oom(err);
    size_t n = strlen(c);
    while (n > 1 && c[n - 1] == '/')
        c[--n] = 0;
    *ret = c;
    return 0;
}

static int open_dir(const char *home, const char *sub, int *ret, bl_error **err)
{
    _cleanup_free_ char *p = bl_path_join(home, sub);
    if (!p)
        return bl_oom(err);
    int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* the common case: it exists */
    if (fd >= 0) {
        *ret = fd;
        return 0;
    }
    int r = bl_mkdir_p(p, 0700, err);
    if (r < 0)
        return r;
    fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return bl_err_errno(err, "cannot open '%s'", p);
    *ret = fd;
    return 0;
}

/* The start time of process pid (field 22 of /proc/PID/stat, clock ticks since boot): with the
 * pid, it names a process for good (a pid alone may be reused). 0 when there is no such process. */
static unsigned long long starttime_of(pid_t pid)
{
    char path[64];
    (void) snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
    _cleanup_free_ char *buf = NULL;
    if (bl_read_file_at(AT_FDCWD, path, 4096, &buf, NULL, NULL) < 0)
        return 0;
    const char *p = strrchr(buf, ')');
    for (int i = 0; p && i < 20; i++) /* from ')' to field 22 */
        p = strchr(p + 1, ' ');
    if (!p)
        return 0;
    return bl_scan_u64_or0(p + 1);
}

/* Whether a ".new-<pid>-<start>-XXXXXX" staging directory's creator is gone: then it never got
 * to lock it, and nobody will. A name of another form goes after an hour. */
static bool new_stage_abandoned(int tmp_fd, const char *name, time_t now)
{
    int pid;
    unsigned long long start;
    if (sscanf(name, ".new-%d-%llu-", &pid, &start) == 2 && pid > 0)
        return starttime_of((pid_t) pid) != start;
    struct stat st;
    return fstatat(tmp_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && now - st.st_mtime > 3600;
}

/* Remove staging directories no live process holds. A directory being created is named
 * ".new-<pid>-<start>-*" until its owner holds the lock; it is removed once its owner is gone (a
 * process of another pid namespace sharing the home would lose one being made: its creation
 * then fails, nothing else does). */
static void recover_tmp(struct boxlite_runtime *rt)
{
    int tmp_fd = rt->tmp_fd;
    _cleanup_close_ int fd = fcntl(tmp_fd, F_DUPFD_CLOEXEC, 3);
    if (fd < 0)
        return;
    DIR *d = fdopendir(fd);
    if (!d)
        return;
    TAKE_FD(fd);
    struct dirent *de;
    time_t now = time(NULL);
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' && (!de->d_name[1] || !strcmp(de->d_name, "..")))
            continue;
        if (!strncmp(de->d_name, "box-", 4))
            continue; /* a box creation's: bl_box_recover() looks at what it left */
        if (!strncmp(de->d_name, ".new-", 5)) {
            if (new_stage_abandoned(tmp_fd, de->d_name, now))
                (void) bl_rm_tree(rt, tmp_fd, de->d_name);
            continue;
        }
        _cleanup_close_ int efd =
            openat(tmp_fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (efd < 0) {
            if (errno == ENOTDIR || errno == ELOOP)
                (void) unlinkat(tmp_fd, de->d_name, 0);
            continue;
        }
        if (flock(efd, LOCK_EX | LOCK_NB) < 0)
            continue; /* a live process owns it */
        bl_debug("removing stale staging directory '%s'", de->d_name);
        (void) bl_rm_tree(rt, tmp_fd, de->d_name);
    }
    closedir(d);
}

int bl_stage_new(struct boxlite_runtime *rt, const char *prefix, struct bl_stage *ret,
                 bl_error **err)
{
    /* Born as ".new-<our pid>-<our start time>-*" (recovery leaves it alone while we live),
     * locked, then renamed to its working name. */
    unsigned long long start = starttime_of(getpid());
    if (!start) /* (a name recovery would take for a dead creator's) */
        return bl_err(err, -EIO, "cannot create staging directory: cannot read /proc/self/stat");
    _cleanup_free_ char *path =
        bl_asprintf("%s/tmp/.new-%d-%llu-XXXXXX", rt->home, (int) getpid(), start);
    if (!path)
        return bl_oom(err);
    if (!mkdtemp(path))
        return bl_err_errno(err, "cannot create staging directory");
    const char *tmpl = strrchr(path, '/') + 1;
    _cleanup_close_ int fd = openat(rt->tmp_fd, tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    _cleanup_free_ char *name = bl_asprintf("%s-%s", prefix, tmpl + strlen(tmpl) - 6);
    int r = 0;
    if (fd < 0)
        r = bl_err_errno(err, "cannot open staging directory");
    else if (flock(fd, LOCK_EX) < 0)
        r = bl_err_errno(err, "cannot lock staging directory");
    else if (!name)
        r = bl_oom(err);
    else if (renameat(rt->tmp_fd, tmpl, rt->tmp_fd, name) < 0)
        r = bl_err_errno(err, "cannot rename staging directory");
    if (r < 0) {
        (void) unlinkat(rt->tmp_fd, tmpl, AT_REMOVEDIR);
        return r;
    }
    *ret = (struct bl_stage){
        .rt = rt, .tmp_fd = rt->tmp_fd, .name = TAKE_PTR(name), .fd = TAKE_FD(fd)};
    return 0;
}

void bl_stage_done(struct bl_stage *s)
{
    if (s->name) {
        (void) bl_rm_tree(s->rt, s->tmp_fd, s->name);
        free(s->name);
        s->name = NULL;
    }
    s->fd = bl_close(s->fd);
}

int bl_runtime_open(const char *home, struct boxlite_runtime **ret_rt, bl_error **err)
{
    _cleanup_(bl_runtime_freep) struct boxlite_runtime *rt = bl_calloc(1, sizeof(*rt));
    if (!rt)
        return bl_oom(err);
    rt->home_fd = rt->tmp_fd = rt->blobs_fd = rt->layers_fd = rt->boxes_fd = -1;
    int r = bl_home_resolve(home, &rt->home, err);
    if (r < 0)
        return r;
    r = open_dir(rt->home, "", &rt->home_fd, err);
    if (r < 0)
        return r;
    int dbfd = -1;
    r = open_dir(rt->home, "db", &dbfd, err);
    if (r < 0)
        return r;
    dbfd = bl_close(dbfd);
    r = open_dir(rt->home, "tmp", &rt->tmp_fd, err);
    if (r < 0)
        return r;
    r = open_dir(rt->home, "images/blobs/sha256", &rt->blobs_fd, err);
    if (r < 0)
        return r;
    r = open_dir(rt->home, "images/layers", &rt->layers_fd, err);
    if (r < 0)
        return r;
    r = open_dir(rt->home, "boxes", &rt->boxes_fd, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *dbpath = bl_path_join(rt->home, "db/boxlite.db");
    if (!dbpath)
        return bl_oom(err);
    r = bl_store_open(dbpath, &rt->store, err);
    if (r < 0)
        return r;
    r = bl_idmap_detect(&rt->idmap, err);
    if (r < 0)
        return r;
    /* (missing: commands that start nothing work without it; a start says so) */
    r = bl_shim_find(&rt->shim_path, err);
    if (r < 0 && r != -ENOENT)
        return r;
    recover_tmp(rt);
    *ret_rt = TAKE_PTR(rt);
    return 0;
}

int bl_runtime_shim_path(const struct boxlite_runtime *rt, const char **ret, bl_error **err)
{
    if (!rt->shim_path)
        return bl_err(err, -ENOENT, "cannot find boxlite-shim (set BOXLITE_SHIM)");
    *ret = rt->shim_path;
    return 0;
}

int bl_idmap_chown(struct boxlite_runtime *rt, int root_fd, int owners_fd, bl_error **err)
{
    struct stat st;
    if (!rt->idmap.range || owners_fd < 0)
        return 0;
    if (fstat(owners_fd, &st) < 0)
        return bl_err_errno(err, "cannot stat the owner records");
    if (st.st_size == 0)
        return 0;
    if (lseek(owners_fd, 0, SEEK_SET) < 0)
        return bl_err_errno(err, "cannot rewind the owner records");
    const char *shim = NULL;
    int r = bl_runtime_shim_path(rt, &shim, err);
    if (r < 0)
        return r;
    return bl_idmap_run(&rt->idmap, shim, "chown", owners_fd, root_fd, NULL, err);
}

int bl_rm_tree(struct boxlite_runtime *rt, int dirfd, const char *name)
{
    int r = bl_rm_rf_at(dirfd, name);
    if (r >= 0 || !rt->idmap.range || (r != -EACCES && r != -EPERM))
        return r;
    _cleanup_(bl_error_freep) bl_error *err = NULL;
    const char *shim = NULL;
    r = bl_runtime_shim_path(rt, &shim, &err);
    if (r >= 0)
        r = bl_idmap_run(&rt->idmap, shim, "rm", -1, dirfd, name, &err);
    if (r < 0)
        bl_warn("%s", bl_error_msg(err));
    return r;
}

BOXLITE_API const char *boxlite_runtime_id_mapping(const boxlite_runtime *rt)
{
    return rt ? rt->idmap.desc : NULL;
}

BOXLITE_API const char *boxlite_runtime_home(const boxlite_runtime *rt)
{
    return rt ? rt->home : NULL;
}

void bl_runtime_free(struct boxlite_runtime *rt)
{
    if (!rt)
        return;
    bl_store_free(rt->store);
    (void) bl_close(rt->home_fd);
    (void) bl_close(rt->tmp_fd);
    (void) bl_close(rt->blobs_fd);
    (void) bl_close(rt->layers_fd);
    (void) bl_close(rt->boxes_fd);
    bl_idmap_done(&rt->idmap);
    free(rt->shim_path);
    free(rt->home);
    free(rt);
}
