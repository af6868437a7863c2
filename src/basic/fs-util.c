/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc-util.h"
#include "fault.h"
#include "fs-util.h"

int bl_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    if (bl_fault_hit())
        return -EIO;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t) n;
    }
    return 0;
}

int bl_read_full_fd(int fd, size_t max, char **ret, size_t *ret_len)
{
    size_t cap = 4096, len = 0;
    _cleanup_free_ char *buf = bl_malloc(cap + 1);
    if (!buf)
        return -ENOMEM;
    for (;;) {
        if (len == cap) {
            if (cap >= max)
                return -EFBIG;
            size_t ncap = MIN(cap * 2, max);
            char *nb = bl_realloc(buf, ncap + 1);
            if (!nb)
                return -ENOMEM;
            buf = nb;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        len += (size_t) n;
    }
    buf[len] = 0;
    if (ret_len)
        *ret_len = len;
    *ret = TAKE_PTR(buf);
    return 0;
}

int bl_read_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len,
                    bl_error **err)
{
    _cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return bl_err_errno(err, "cannot open '%s'", path);
    int r = bl_read_full_fd(fd, max, ret, ret_len);
    if (r == -ENOMEM)
        return bl_oom(err);
    if (r < 0)
        return bl_err_code(err, r, "cannot read '%s'", path);
    return 0;
}

int bl_write_file_atomic_at(int dirfd, const char *path, const void *data, size_t len,
                            mode_t mode, bl_error **err)
{
    _cleanup_free_ char *tmp = bl_asprintf("%s.tmp-%d", path, (int) getpid());
    if (!tmp)
        return bl_oom(err);
    _cleanup_close_ int fd =
        openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return bl_err_errno(err, "cannot create '%s'", tmp);
    int r = bl_write_all(fd, data, len);
    if (r < 0) {
        (void) unlinkat(dirfd, tmp, 0);
        return bl_err_code(err, r, "cannot write '%s'", tmp);
    }
    if (renameat(dirfd, tmp, dirfd, path) < 0) {
        r = bl_err_errno(err, "cannot rename '%s'", tmp);
        (void) unlinkat(dirfd, tmp, 0);
        return r;
    }
    return 0;
}

int bl_mkdir_p(const char *path, mode_t mode, bl_error **err)
{
    _cleanup_free_ char *p = bl_strdup(path);
    if (!p)
        return bl_oom(err);
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != 0)
            continue;
        char saved = *s;
        *s = 0;
        if (mkdir(p, mode) < 0 && errno != EEXIST)
            return bl_err_errno(err, "cannot create directory '%s'", p);
        *s = saved;
        if (!saved)
            break;
    }
    struct stat st;
    if (stat(path, &st) < 0)
        return bl_err_errno(err, "cannot access '%s'", path);
    if (!S_ISDIR(st.st_mode))
        return bl_err(err, -ENOTDIR, "'%s' is not a directory", path);
    return 0;
}

/* Without root, a directory of ours that we may not read or change (overlayfs makes its
 * work/work mode 000 in a user namespace; a box may chmod its files) must be opened up
 * before it can be emptied. */
static void make_traversable(int dirfd, const char *name, const struct stat *st)
{
    if ((st->st_mode & 0700) != 0700 && st->st_uid == geteuid() && geteuid() != 0)
        (void) !fchmodat(dirfd, name, (st->st_mode & 07777) | 0700, 0);
}

static int rm_rf_children(int fd, dev_t dev)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        (void) close(fd);
        return -errno;
    }
    int r = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno != ENOENT && r == 0)
                r = -errno;
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            if (st.st_dev != dev) { /* never descend into a mount */
                if (r == 0)
                    r = -EBUSY;
                continue;
            }
            make_traversable(dirfd(d), de->d_name, &st);
            int cfd = openat(dirfd(d), de->d_name,
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
            if (cfd < 0 && errno == EPERM)
                cfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (cfd < 0) {
                if (errno != ENOENT && r == 0)
                    r = -errno;
                continue;
            }
            int q = rm_rf_children(cfd, dev);
            if (q < 0 && r == 0)
                r = q;
            if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0)
                r = -errno;
        } else if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT && r == 0) {
            r = -errno;
        }
    }
    closedir(d);
    return r;
}

int bl_rm_rf_at(int dirfd, const char *name)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
    make_traversable(dirfd, name, &st);
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    int r = rm_rf_children(fd, st.st_dev);
    if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0)
        r = -errno;
    return r;
}

char *bl_path_join(const char *a, const char *b)
{
    size_t la = strlen(a);
    while (la > 1 && a[la - 1] == '/')
        la--;
    while (*b == '/')
        b++;
    return bl_asprintf("%.*s/%s", (int) la, a, b);
}

bool bl_initial_userns_root(void)
{
    if (geteuid() != 0)
        return false;
    _cleanup_close_ int fd = open("/proc/self/uid_map", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return true; /* no /proc: nothing says otherwise */
    char map[64] = {0};
    ssize_t n = read(fd, map, sizeof(map) - 1);
    unsigned long inside, outside, count;
    if (n <= 0 || sscanf(map, "%lu %lu %lu", &inside, &outside, &count) != 3)
        return true;
    /* The initial namespace maps every id to itself; a child one maps a subrange. */
    return inside == 0 && outside == 0 && count == 4294967295UL;
}
