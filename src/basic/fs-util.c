/* SPDX-License-Identifier: MIT */
/*
 * File and directory helpers shared by the library and the shim (which links this file, so it
 * uses libc and alloc-util/error/fault only). bl_open_in_root() and bl_mkdir_in_root() are what
 * keep `boxlite cp`, layer unpacking, mount and volume targets and the pty lookup inside a
 * root: every path they are given may come from a hostile image or box.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

int bl_write_file_atomic_at(int dirfd, const char *path, const void *data, size_t len, mode_t mode,
                            bl_error **err)
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

/* ---- paths confined to a root ------------------------------------------------------------ */

#define MAX_SYMLINK_HOPS 40 /* the kernel's own limit */
#define MAX_MKDIR_DEPTH 256 /* missing components that one bl_mkdir_in_root() creates */

static bool is_name(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

/* openat2() with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS. Returns an fd or -errno. */
static int open_in_root_kernel(int root_fd, const char *path, int flags)
{
    struct open_how how = {
        .flags = (uint64_t) (flags | O_CLOEXEC),
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };

    /* EAGAIN: a concurrent rename raced with a ".." lookup and the kernel asks us to retry
     * (every attempt is checked again, so retrying confines as strictly as the first try). */
    for (unsigned i = 0;; i++) {
        long fd = syscall(SYS_openat2, root_fd, *path ? path : ".", &how, sizeof(how));
        if (fd >= 0)
            return (int) fd;
        if (errno != EAGAIN || i >= 16)
            return -errno;
    }
}

/* An O_PATH fd of root_fd/walked, where `walked` ("a/b/c", or "") names real directories only:
 * each component is opened with O_NOFOLLOW, so a component swapped for a symlink fails. */
static int reopen_walked(int root_fd, const char *walked)
{
    _cleanup_close_ int cur = openat(root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cur < 0)
        return -errno;
    char name[NAME_MAX + 1];
    for (const char *p = walked; *p;) {
        size_t len = strcspn(p, "/");
        memcpy(name, p, len); /* len <= NAME_MAX: checked when the name was appended */
        name[len] = 0;
        p += len + (p[len] == '/');
        int next = openat(cur, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0)
            return -errno;
        (void) bl_close(cur);
        cur = next;
    }
    return TAKE_FD(cur);
}

/*
 * RESOLVE_IN_ROOT done by hand, for when openat2() is missing: one component at a time with
 * O_PATH|O_NOFOLLOW, each symlink expanded from its text (an absolute target restarts at the
 * root), magic links never followed, only read as text. ".." is never asked of the kernel: the
 * walk keeps the names of the real directories it went down through (`walked`), and ".." drops
 * the last one and walks down again from the root, so ".." at the root stays there and a
 * directory moved out of the root during the walk (by a writer that can see outside it) can
 * never lead above the root.
 */
static int open_in_root_userspace(int root_fd, const char *path, int flags)
{
    _cleanup_free_ char *buf = bl_strdup(path); /* what is left to walk */
    size_t walked_cap = 256, walked_len = 0;
    _cleanup_free_ char *walked = bl_malloc(walked_cap);
    if (!buf || !walked)
        return -ENOMEM;
    walked[0] = 0;
    _cleanup_close_ int cur = openat(root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cur < 0)
        return -errno;
    unsigned hops = 0;
    const char *p = buf;

    for (;;) {
        while (*p == '/')
            p++;
        if (!*p) { /* the path named the directory we stand in */
            int fd = openat(cur, ".", flags | O_CLOEXEC);
            return fd < 0 ? -errno : fd;
        }
        size_t len = strcspn(p, "/");
        if (len > NAME_MAX)
            return -ENAMETOOLONG;
        char name[NAME_MAX + 1];
        memcpy(name, p, len);
        name[len] = 0;
        p += len;
        bool last = p[strspn(p, "/")] == 0;
        /* "name/" at the end asks for a directory, and follows a symlink despite O_NOFOLLOW,
         * as in the kernel */
        bool dir_wanted = last && *p == '/';

        if (is_name(name, "."))
            continue;
        if (is_name(name, "..")) {
            if (walked_len == 0)
                continue; /* ".." of the root is the root */
            char *slash = strrchr(walked, '/');
            walked_len = slash ? (size_t) (slash - walked) : 0;
            walked[walked_len] = 0;
            int up = reopen_walked(root_fd, walked);
            if (up < 0)
                return up;
            (void) bl_close(cur);
            cur = up;
            continue;
        }

        struct stat st;
        if (fstatat(cur, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return -errno;
        if (S_ISLNK(st.st_mode) && !(last && !dir_wanted && (flags & O_NOFOLLOW))) {
            if (++hops > MAX_SYMLINK_HOPS)
                return -ELOOP;
            _cleanup_free_ char *target = bl_malloc(PATH_MAX);
            if (!target)
                return -ENOMEM;
            ssize_t n = readlinkat(cur, name, target, PATH_MAX);
            if (n < 0)
                return -errno;
            if (n == 0 || n >= PATH_MAX)
                return -ENAMETOOLONG;
            target[n] = 0;
            /* Continue with the target followed by the rest (which starts with "/" if any; with
             * dir_wanted it is that "/", so the target's last component wants a directory). */
            char *next = bl_asprintf("%s%s", target, p);
            if (!next)
                return -ENOMEM;
            free(buf);
            buf = next;
            p = buf;
            if (target[0] == '/') {
                (void) bl_close(cur);
                cur = openat(root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (cur < 0)
                    return -errno;
                walked_len = 0;
                walked[0] = 0;
            }
            continue;
        }
        if (last) {
            int fd =
                openat(cur, name, flags | (dir_wanted ? O_DIRECTORY : 0) | O_NOFOLLOW | O_CLOEXEC);
            return fd < 0 ? -errno : fd;
        }
        if (!S_ISDIR(st.st_mode))
            return -ENOTDIR;
        int next = openat(cur, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0)
            return -errno;
        (void) bl_close(cur);
        cur = next;

        if (walked_len + 1 + len + 1 > walked_cap) {
            size_t ncap = (walked_len + 1 + len + 1) * 2;
            char *nw = bl_realloc(walked, ncap);
            if (!nw)
                return -ENOMEM;
            walked = nw;
            walked_cap = ncap;
        }
        if (walked_len > 0)
            walked[walked_len++] = '/';
        memcpy(walked + walked_len, name, len + 1);
        walked_len += len;
    }
}

/* Whether an openat2() that failed with `r` means the kernel has none for us (ENOSYS: kernel <
 * 5.6; EPERM from a seccomp profile that predates it): then the userspace walk stands in. A real
 * EPERM of that open is told apart by opening "." of a directory we hold, which cannot
 * legitimately fail with it. */
static bool openat2_missing(int r, int root_fd)
{
    if (r == -ENOSYS)
        return true;
    if (r != -EPERM)
        return false;
    int probe = open_in_root_kernel(root_fd, ".", O_PATH | O_DIRECTORY);
    if (probe >= 0) {
        (void) bl_close(probe);
        return false;
    }
    return probe == -EPERM || probe == -ENOSYS;
}

int bl_open_in_root(int root_fd, const char *path, int flags, enum bl_resolve_mode mode)
{
    if (root_fd < 0)
        return -EBADF;
    switch (mode) {
    case BL_RESOLVE_USERSPACE:
        return open_in_root_userspace(root_fd, path, flags);
    case BL_RESOLVE_KERNEL:
        return open_in_root_kernel(root_fd, path, flags);
    case BL_RESOLVE_AUTO:
        break;
    }
    int fd = open_in_root_kernel(root_fd, path, flags);
    if (fd < 0 && openat2_missing(fd, root_fd))
        return open_in_root_userspace(root_fd, path, flags);
    return fd;
}

/* openat2() with RESOLVE_BENEATH and no symlinks, magic links or mount crossings. */
static int open_beneath_kernel(int dir_fd, const char *path, int flags)
{
    struct open_how how = {
        .flags = (uint64_t) (flags | O_CLOEXEC),
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
    };
    for (unsigned i = 0;; i++) { /* EAGAIN: as in open_in_root_kernel */
        long fd = syscall(SYS_openat2, dir_fd, *path ? path : ".", &how, sizeof(how));
        if (fd >= 0)
            return (int) fd;
        if (errno != EAGAIN || i >= 16)
            return -errno;
    }
}

/* The same by hand: each component opened with O_NOFOLLOW and checked (a symlink is -ELOOP, a
 * non-directory on the way -ENOTDIR, another filesystem -EXDEV); ".." and absolute paths are
 * refused outright (-EXDEV), which is stricter than RESOLVE_BENEATH (it allows a ".." that stays
 * beneath). */
static int open_beneath_userspace(int dir_fd, const char *path, int flags)
{
    struct stat root_st, st;
    if (fstat(dir_fd, &root_st) < 0)
        return -errno;
    if (*path == '/')
        return -EXDEV;
    _cleanup_close_ int cur = openat(dir_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cur < 0)
        return -errno;
    char name[NAME_MAX + 1];
    for (const char *p = path;;) {
        while (*p == '/')
            p++;
        size_t len = strcspn(p, "/");
        const char *rest = p + len;
        while (*rest == '/')
            rest++;
        bool last = !*rest;
        if (len > NAME_MAX)
            return -ENAMETOOLONG;
        memcpy(name, len ? p : ".", len ? len : 1);
        name[len ? len : 1] = 0;
        if (is_name(name, ".."))
            return -EXDEV;
        int f = last ? flags | O_NOFOLLOW | O_CLOEXEC : O_PATH | O_NOFOLLOW | O_CLOEXEC;
        _cleanup_close_ int next = openat(cur, name, f);
        if (next < 0)
            return -errno;
        if (fstat(next, &st) < 0)
            return -errno;
        if (S_ISLNK(st.st_mode)) /* O_PATH|O_NOFOLLOW opens a symlink itself */
            return -ELOOP;
        if (st.st_dev != root_st.st_dev)
            return -EXDEV;
        if (last)
            return TAKE_FD(next);
        if (!S_ISDIR(st.st_mode))
            return -ENOTDIR;
        (void) bl_close(cur);
        cur = TAKE_FD(next);
        p = rest;
    }
}

int bl_open_beneath(int dir_fd, const char *path, int flags, enum bl_resolve_mode mode)
{
    if (dir_fd < 0)
        return -EBADF;
    switch (mode) {
    case BL_RESOLVE_USERSPACE:
        return open_beneath_userspace(dir_fd, path, flags);
    case BL_RESOLVE_KERNEL:
        return open_beneath_kernel(dir_fd, path, flags);
    case BL_RESOLVE_AUTO:
        break;
    }
    int fd = open_beneath_kernel(dir_fd, path, flags);
    if (fd < 0 && openat2_missing(fd, dir_fd))
        return open_beneath_userspace(dir_fd, path, flags);
    return fd;
}

/* Open in the place: confined to root_fd, or (AT_FDCWD) as open(2) would. */
static int place_open(int root_fd, const char *path, int flags, enum bl_resolve_mode rmode)
{
    if (root_fd == AT_FDCWD) {
        int fd = openat(AT_FDCWD, path, flags | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
    }
    return bl_open_in_root(root_fd, path, flags, rmode);
}

static int mkdir_in_root(int root_fd, const char *path, mode_t mode, enum bl_resolve_mode rmode,
                         unsigned depth)
{
    int fd = place_open(root_fd, path, O_PATH | O_DIRECTORY, rmode);
    if (fd != -ENOENT || depth > MAX_MKDIR_DEPTH)
        return fd;

    /* Something is missing: make sure the parent exists, then create the last component. */
    _cleanup_free_ char *copy = bl_strdup(path);
    if (!copy)
        return -ENOMEM;
    size_t n = strlen(copy);
    while (n > 1 && copy[n - 1] == '/')
        copy[--n] = 0;
    char *slash = strrchr(copy, '/');
    const char *last = slash ? slash + 1 : copy;
    if (!*last || is_name(last, ".") || is_name(last, ".."))
        return -EINVAL;
    _cleanup_close_ int parent = -1;
    if (slash) {
        *slash = 0;
        parent = mkdir_in_root(root_fd, slash == copy ? "/" : copy, mode, rmode, depth + 1);
    } else {
        parent = place_open(root_fd, ".", O_PATH | O_DIRECTORY, rmode);
    }
    if (parent < 0)
        return parent;
    if (mkdirat(parent, last, mode) < 0 && errno != EEXIST)
        return -errno;
    /* O_NOFOLLOW: what is there now (ours, or raced in) must be a directory, not a link. */
    fd = openat(parent, last, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int bl_mkdir_in_root(int root_fd, const char *path, mode_t mode, enum bl_resolve_mode rmode)
{
    if (root_fd < 0 && root_fd != AT_FDCWD)
        return -EBADF;
    return mkdir_in_root(root_fd, path, mode, rmode, 0);
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

int bl_ofd_lock(int fd, short type, bool wait)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    for (;;) {
        if (fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) == 0)
            return 0;
        if (errno == EINTR && wait)
            continue;
        return errno == EACCES ? -EAGAIN : -errno;
    }
}

int bl_ofd_lock_held(int fd)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
        return -errno;
    return fl.l_type != F_UNLCK;
}
