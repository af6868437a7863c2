/* SPDX-License-Identifier: MIT */
/*
 * `boxlite cp`: files between the host and a box, as a direct tree copy (no archive in
 * between: both ends are local, so the kernel copies the data with copy_file_range).
 *
 * The box's files are reached through a directory fd of its root: a running box's own view
 * (its shim opens /proc/<PID 1>/root and passes it over), a stopped one's overlay and volumes
 * mounted in the private mount namespace of `boxlite-shim --mount` (nothing is started and
 * nothing is mounted on the host). Safety in the box rests on three rules:
 *   - a path given by the user is resolved with bl_open_in_root() (openat2(RESOLVE_IN_ROOT |
 *     RESOLVE_NO_MAGICLINKS), or its userspace walk on older kernels) from that root, so ".."
 *     and symlinks, absolute or not, stay inside the box;
 *   - below it, the tree is walked one component at a time with *at() calls on directory fds
 *     and O_NOFOLLOW, never by path, so a directory swapped for a symlink during the copy fails
 *     the copy instead of redirecting it;
 *   - nothing that follows a symlink by name is ever called on a name the box can change:
 *     new files are created O_EXCL under a temporary name and renamed into place; modes and
 *     times are set through fds (or with AT_SYMLINK_NOFOLLOW); a source file is reopened
 *     through its own O_PATH fd, and only when it is a regular file (a FIFO is recreated,
 *     never opened).
 * Device nodes and sockets are not copied, in either direction. A device node made in the box
 * (whose root may choose any mode) would hand the host's users a device that the host's own
 * /dev refuses them, and a host device copied in would be a node the box never got from its
 * device policy; a socket is no file to copy (tar skips them too). Named as the source, either
 * is an error; met inside a tree, it is left out and the rest is copied.
 * With --follow-symlinks, a symlink in a box source is followed by resolving its path again
 * from the box's root (RESOLVE_IN_ROOT), so it too stays in the box.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "alloc-util.h"
#include "box-records.h"
#include "box-shim.h"
#include "fs-util.h"
#include "log.h"
#include "proc-util.h"
#include "runtime.h"
#include "shim-proto.h"

#define MAX_DEPTH 256
#define MAX_LINK_FDS 256

/* ---- where files are: the host, or a box's root ----------------------------------------- */

/* Open path in the place: the host (root < 0) as any program would, or inside a box. */
static int place_open(int root, const char *path, int flags)
{
    if (root < 0) {
        int fd = open(path, flags | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
    }
    return bl_open_in_root(root, path, flags, BL_RESOLVE_AUTO);
}

/* mkdir -p in the place; returns an O_PATH fd of the directory. */
static int place_mkdir_p(int root, const char *path)
{
    return bl_mkdir_in_root(root < 0 ? AT_FDCWD : root, path, 0755, BL_RESOLVE_AUTO);
}

/* "a/b/c/" -> parent "a/b" and name "c"; "c" -> "." and "c"; "/c" -> "/" and "c". */
static int split_path(const char *path, char **ret_parent, char **ret_name)
{
    _cleanup_free_ char *copy = bl_strdup(path);
    if (!copy)
        return -ENOMEM;
    size_t n = strlen(copy);
    while (n > 1 && copy[n - 1] == '/')
        copy[--n] = 0;
    char *slash = strrchr(copy, '/');
    char *parent, *name;
    if (!slash) {
        parent = bl_strdup(".");
        name = bl_strdup(copy);
    } else {
        name = bl_strdup(slash + 1);
        *slash = 0;
        parent = bl_strdup(slash == copy ? "/" : copy);
    }
    if (!parent || !name) {
        free(parent);
        free(name);
        return -ENOMEM;
    }
    *ret_parent = parent;
    *ret_name = name;
    return 0;
}

/* ---- the box's root ------------------------------------------------------------------------ */

struct box_root {
    int fd;
    int userns_fd;         /* without root: the box's user namespace (the copy runs in it) */
    struct bl_proc helper; /* stopped box: `boxlite-shim --mount` */
    int helper_sock;       /* its end of fd 3: closing it unmounts everything */
    int lock_fd;           /* stopped box: the box's lifecycle lock, so that no start races */
};

static void box_root_done(struct box_root *r)
{
    r->fd = bl_close(r->fd);
    r->userns_fd = bl_close(r->userns_fd);
    r->helper_sock = bl_close(r->helper_sock);
    if (r->helper.pid > 0)
        (void) bl_proc_wait(&r->helper); /* it exits once it sees the socket close */
    r->lock_fd = bl_close(r->lock_fd);
}

static int root_of_running(struct boxlite_box *b, struct box_root *r, bl_error **err)
{
    _cleanup_(bl_msg_freep) struct bl_msg *m = bl_msg_new();
    if (!m)
        return bl_oom(err);
    const char *req[] = {"root"};
    int q = bl_msg_call(b->dir_fd, req, 1, m, err);
    if (q < 0)
        return q;
    if (m->n < 1 || strcmp(m->field[0], "root") != 0 || m->n_fds < 1)
        return bl_err(err, -EPROTO, "box %s: unexpected reply from the shim", b->id);
    r->fd = TAKE_FD(m->fds[0]);
    if (m->n_fds > 1)
        r->userns_fd = TAKE_FD(m->fds[1]);
    return 0;
}

static int root_of_stopped(struct boxlite_runtime *rt, struct boxlite_box *b, struct box_root *r,
                           bl_error **err)
{
    int q = bl_box_write_shim_conf(rt, b, NULL, err);
    if (q < 0)
        return q;
    _cleanup_close_ int sock = -1;
    q = bl_shim_spawn(rt, b, "--mount", NULL, 0, &r->helper, &sock, err);
    if (q < 0)
        return q;
    _cleanup_(bl_msg_freep) struct bl_msg *m = bl_msg_new();
    if (!m)
        return bl_oom(err);
    q = bl_msg_recv(sock, m);
    if (q < 0)
        return bl_err(err, -EIO, "box %s: cannot mount its files", b->id);
    if (!strcmp(m->field[0], "error"))
        return bl_err(err, -EIO, "box %s: cannot mount its files: %s", b->id,
                      m->n > 2 ? m->field[2] : "?");
    if (strcmp(m->field[0], "root") != 0 || m->n_fds < 1)
        return bl_err(err, -EPROTO, "box %s: unexpected message from the shim", b->id);
    r->fd = TAKE_FD(m->fds[0]);
    if (m->n_fds > 1)
        r->userns_fd = TAKE_FD(m->fds[1]);
    r->helper_sock = TAKE_FD(sock);
    return 0;
}

static int box_root_open(struct boxlite_runtime *rt, struct boxlite_box *b, struct box_root *r,
                         bl_error **err)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        if (bl_shim_lock_held(b->dir_fd)) {
            _cleanup_(bl_error_freep) bl_error *e = NULL;
            if (root_of_running(b, r, &e) == 0)
                return 0;
            if (bl_shim_lock_held(b->dir_fd)) /* still running: a real failure */
                return bl_err(err, e ? e->code : -EIO, "%s", bl_error_msg(e));
            continue; /* it stopped meanwhile */
        }
        /* Stopped: hold its lifecycle lock (a start waits for it), then make sure no start
         * got in first. */
        r->lock_fd = openat(b->dir_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (r->lock_fd < 0 || flock(r->lock_fd, LOCK_EX) < 0)
            return bl_err_errno(err, "cannot lock box %s", b->id);
        if (!bl_shim_lock_held(b->dir_fd))
            return root_of_stopped(rt, b, r, err);
        r->lock_fd = bl_close(r->lock_fd);
    }
    return bl_err(err, -EBUSY, "box %s keeps starting and stopping", b->id);
}

/* ---- the copy ------------------------------------------------------------------------------- */

struct link_fd {
    dev_t dev;
    ino_t ino;
    int fd; /* O_PATH of the first copy */
};

struct copy {
    int flags;
    int src_root; /* box root of the source, or -1 (host) */
    int to_host;  /* destination is the host: set-id bits are dropped */
    size_t depth;
    struct stat ancestors[MAX_DEPTH + 1]; /* for loops through followed symlinks */
    struct link_fd links[MAX_LINK_FDS];
    size_t n_links;
    unsigned skipped; /* device nodes and sockets left out */
};

static void copy_free(struct copy *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_links; i++)
        (void) bl_close(c->links[i].fd);
    free(c);
}
BL_DEFINE_CLEANUP_FUNC(struct copy *, copy_free)

static int copy_data(int in, int out)
{
    int mode = 0; /* 0 copy_file_range, 1 sendfile, 2 read/write */
    for (;;) {
        ssize_t n;
        if (mode == 0) {
            n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
            if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
                          errno == EOPNOTSUPP || errno == EBADF)) {
                mode = 1;
                continue;
            }
        } else if (mode == 1) {
            n = sendfile(out, in, NULL, 1 << 30);
            if (n < 0 && (errno == EINVAL || errno == ENOSYS)) {
                mode = 2;
                continue;
            }
        } else {
            char buf[65536];
            n = read(in, buf, sizeof(buf));
            if (n > 0) {
                int r = bl_write_all(out, buf, (size_t) n);
                if (r < 0)
                    return r;
            }
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return 0;
    }
}

/* A temporary name next to the final one, unlikely to clash (O_EXCL checks anyway). */
static void tmp_name(char *buf, size_t n, const char *name)
{
    static unsigned counter;
    unsigned r = 0;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t) sizeof(r))
        r = (unsigned) getpid() ^ ++counter; /* O_EXCL retries on a clash anyway */
    snprintf(buf, n, ".%.64s.blcp-%08x", name, r);
}

static mode_t out_mode(const struct copy *c, mode_t m)
{
    m &= 07777;
    return c->to_host ? m & ~(mode_t) (S_ISUID | S_ISGID) : m;
}

/* Move tmp over name in dfd; a directory in the way is an error. */
static int put_in_place(int dfd, const char *tmp, const char *name, bl_error **err)
{
    if (renameat(dfd, tmp, dfd, name) == 0)
        return 0;
    int e = errno;
    (void) unlinkat(dfd, tmp, 0);
    if (e == EISDIR || e == ENOTEMPTY || e == EEXIST)
        return bl_err(err, -EISDIR, "cannot overwrite directory '%s' with non-directory", name);
    return bl_err_code(err, -e, "cannot create '%s'", name);
}

static int set_times_nofollow(int dfd, const char *name, const struct stat *st)
{
    struct timespec ts[2] = {st->st_atim, st->st_mtim};
    return utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

/* chmod a FIFO we just made, through an O_PATH fd of it (a name may be swapped). */
static int chmod_fifo(int dfd, const char *name, mode_t mode)
{
    _cleanup_close_ int fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISFIFO(st.st_mode))
        return -EPERM; /* not ours any more */
    char p[64];
    snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
    return chmod(p, mode) < 0 ? -errno : 0;
}

static int copy_entry(struct copy *c, int src, const struct stat *st, const char *box_path,
                      int dst_dfd, const char *name, bl_error **err);

static int copy_file(struct copy *c, int src, const struct stat *st, int dst_dfd, const char *name,
                     bl_error **err)
{
    char tmp[128];
    /* a second name of an inode already copied becomes a hard link to the copy */
    if (st->st_nlink > 1)
        for (size_t i = 0; i < c->n_links; i++)
            if (c->links[i].dev == st->st_dev && c->links[i].ino == st->st_ino) {
                tmp_name(tmp, sizeof(tmp), name);
                if (linkat(c->links[i].fd, "", dst_dfd, tmp, AT_EMPTY_PATH) == 0)
                    return put_in_place(dst_dfd, tmp, name, err);
                break; /* (another file system, say) a copy of its own then */
            }
    char p[64];
    snprintf(p, sizeof(p), "/proc/self/fd/%d", src);
    _cleanup_close_ int in = open(p, O_RDONLY | O_NOCTTY | O_CLOEXEC);
    struct stat ist;
    if (in < 0 || fstat(in, &ist) < 0)
        return bl_err_errno(err, "cannot read '%s'", name);
    if (ist.st_ino != st->st_ino || ist.st_dev != st->st_dev || !S_ISREG(ist.st_mode))
        return bl_err(err, -EAGAIN, "'%s' changed during the copy", name);
    _cleanup_close_ int out = -1;
    for (int i = 0; out < 0 && i < 16; i++) {
        tmp_name(tmp, sizeof(tmp), name);
        out = openat(dst_dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (out < 0 && errno != EEXIST)
            return bl_err_errno(err, "cannot create '%s'", name);
    }
    if (out < 0)
        return bl_err(err, -EEXIST, "cannot create '%s'", name);
    int r = copy_data(in, out);
    struct timespec ts[2] = {st->st_atim, st->st_mtim};
    if (r >= 0 && (fchmod(out, out_mode(c, st->st_mode)) < 0 || futimens(out, ts) < 0))
        r = -errno;
    if (r < 0) {
        (void) unlinkat(dst_dfd, tmp, 0);
        return bl_err_code(err, r, "cannot copy '%s'", name);
    }
    r = put_in_place(dst_dfd, tmp, name, err);
    if (r < 0 || st->st_nlink <= 1 || c->n_links >= MAX_LINK_FDS)
        return r;
    int lfd = openat(dst_dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (lfd >= 0)
        c->links[c->n_links++] = (struct link_fd){.dev = st->st_dev, .ino = st->st_ino, .fd = lfd};
    return 0;
}

static int copy_symlink(int src, const struct stat *st, int dst_dfd, const char *name,
                        bl_error **err)
{
    char target[PATH_MAX + 1];
    ssize_t n = readlinkat(src, "", target, sizeof(target) - 1);
    if (n < 0)
        return bl_err_errno(err, "cannot read symlink '%s'", name);
    target[n] = 0;
    char tmp[128];
    tmp_name(tmp, sizeof(tmp), name);
    if (symlinkat(target, dst_dfd, tmp) < 0)
        return bl_err_errno(err, "cannot create symlink '%s'", name);
    (void) set_times_nofollow(dst_dfd, tmp, st);
    return put_in_place(dst_dfd, tmp, name, err);
}

/* A FIFO, made anew (never opened: that would wait for a writer). */
static int copy_fifo(struct copy *c, const struct stat *st, int dst_dfd, const char *name,
                     bl_error **err)
{
    char tmp[128];
    tmp_name(tmp, sizeof(tmp), name);
    if (mknodat(dst_dfd, tmp, S_IFIFO | 0600, 0) < 0)
        return bl_err_errno(err, "cannot create '%s'", name);
    int r = chmod_fifo(dst_dfd, tmp, out_mode(c, st->st_mode));
    if (r >= 0)
        r = set_times_nofollow(dst_dfd, tmp, st);
    if (r < 0) {
        (void) unlinkat(dst_dfd, tmp, 0);
        return bl_err_code(err, r, "cannot create '%s'", name);
    }
    return put_in_place(dst_dfd, tmp, name, err);
}

/* The entries of directory src (an O_PATH fd) into the directory dst_fd. */
static int copy_children(struct copy *c, int src, const char *box_path, int dst_fd, bl_error **err)
{
    int dfd = openat(src, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return bl_err_errno(err, "cannot read directory '%s'", box_path ? box_path : "");
    DIR *d = fdopendir(dfd);
    if (!d) {
        (void) close(dfd);
        return bl_oom(err);
    }
    int r = 0;
    struct dirent *de;
    while (r >= 0 && (errno = 0, de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        _cleanup_close_ int child = openat(dirfd(d), de->d_name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        struct stat cst;
        if (child < 0 || fstat(child, &cst) < 0) {
            if (errno == ENOENT)
                continue; /* removed while we copy */
            r = bl_err_errno(err, "cannot open '%s'", de->d_name);
            break;
        }
        _cleanup_free_ char *cpath = NULL;
        if (box_path) {
            cpath = bl_asprintf("%s/%s", box_path, de->d_name);
            if (!cpath) {
                r = bl_oom(err);
                break;
            }
        }
        if (S_ISLNK(cst.st_mode) && (c->flags & BOXLITE_COPY_FOLLOW_SYMLINKS)) {
            /* what it points at: on the host as the host resolves it; in a box, resolved
             * again from the box's root. A dangling one is copied as the link it is. */
            int t = c->src_root < 0 ? openat(dirfd(d), de->d_name, O_PATH | O_CLOEXEC)
                                    : place_open(c->src_root, cpath, O_PATH);
            if (t < 0 && c->src_root < 0)
                t = -errno;
            struct stat tst;
            if (t >= 0 && fstat(t, &tst) < 0) {
                (void) close(t);
                t = -errno;
            }
            if (t < 0 && t != -ENOENT) {
                r = bl_err_code(err, t, "cannot follow symlink '%s'", de->d_name);
                break;
            }
            if (t >= 0) {
                (void) bl_close(child);
                child = t;
                cst = tst;
            }
        }
        r = copy_entry(c, child, &cst, cpath, dst_fd, de->d_name, err);
    }
    if (r >= 0 && errno)
        r = bl_err_errno(err, "cannot read a directory");
    closedir(d);
    return r;
}

static int copy_dir(struct copy *c, int src, const struct stat *st, const char *box_path,
                    int dst_dfd, const char *name, bl_error **err)
{
    for (size_t i = 0; i < c->depth; i++)
        if (c->ancestors[i].st_dev == st->st_dev && c->ancestors[i].st_ino == st->st_ino)
            return bl_err(err, -ELOOP, "'%s': symlink loop", name);
    if (c->depth >= MAX_DEPTH)
        return bl_err(err, -ELOOP, "'%s': directories nested too deep", name);
    if (mkdirat(dst_dfd, name, 0700) < 0) {
        struct stat dst;
        if (errno != EEXIST || fstatat(dst_dfd, name, &dst, AT_SYMLINK_NOFOLLOW) < 0)
            return bl_err_errno(err, "cannot create directory '%s'", name);
        if (!S_ISDIR(dst.st_mode))
            return bl_err(err, -ENOTDIR, "cannot overwrite non-directory '%s' with directory",
                          name);
    }
    _cleanup_close_ int out =
        openat(dst_dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (out < 0)
        return bl_err_errno(err, "cannot open directory '%s'", name);
    c->ancestors[c->depth++] = *st;
    int r = copy_children(c, src, box_path, out, err);
    c->depth--;
    if (r < 0)
        return r;
    struct timespec ts[2] = {st->st_atim, st->st_mtim};
    if (fchmod(out, out_mode(c, st->st_mode)) < 0 || futimens(out, ts) < 0)
        return bl_err_errno(err, "cannot set the mode or times of '%s'", name);
    return 0;
}

static int copy_entry(struct copy *c, int src, const struct stat *st, const char *box_path,
                      int dst_dfd, const char *name, bl_error **err)
{
    switch (st->st_mode & S_IFMT) {
    case S_IFDIR:
        return copy_dir(c, src, st, box_path, dst_dfd, name, err);
    case S_IFREG:
        return copy_file(c, src, st, dst_dfd, name, err);
    case S_IFLNK:
        return copy_symlink(src, st, dst_dfd, name, err);
    case S_IFIFO:
        return copy_fifo(c, st, dst_dfd, name, err);
    case S_IFCHR:
    case S_IFBLK:
    case S_IFSOCK:
        c->skipped++; /* never copied: see the top of this file */
        return 0;
    default:
        return bl_err(err, -EINVAL, "'%s': unknown file type", name);
    }
}

/* ---- the two directions ---------------------------------------------------------------------- */

/* An O_RDONLY directory fd from an O_PATH one (consumed), or -errno. */
static int open_dir_rw(int path_fd)
{
    if (path_fd < 0)
        return path_fd;
    int fd = openat(path_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int e = errno;
    (void) close(path_fd);
    return fd < 0 ? -e : fd;
}

static int has_trailing_dot(const char *p)
{
    size_t n = strlen(p);
    return (n >= 2 && !strcmp(p + n - 2, "/.")) || !strcmp(p, ".");
}

/* Copy SRC (in src_root, -1 = host) to DST (in dst_root) with the destination rules of
 * boxlite_box_copy_in(). */
static int do_copy(int src_root, const char *src_path, int dst_root, const char *dst_path,
                   int flags, const char *src_label, const char *dst_label, bl_error **err)
{
    if (!*src_path)
        return bl_err(err, -EINVAL, "source path cannot be empty");
    if (!*dst_path)
        return bl_err(err, -EINVAL, "destination path cannot be empty");
    int follow = flags & BOXLITE_COPY_FOLLOW_SYMLINKS;
    _cleanup_close_ int src = place_open(src_root, src_path, O_PATH | (follow ? 0 : O_NOFOLLOW));
    if (src < 0)
        return bl_err_code(err, src, "cannot copy %s'%s'", src_label, src_path);
    struct stat st;
    if (fstat(src, &st) < 0)
        return bl_err_errno(err, "cannot copy %s'%s'", src_label, src_path);
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
        return bl_err(err, -EINVAL,
                      "cannot copy %s'%s': a device node (device nodes are not copied)", src_label,
                      src_path);
    if (S_ISSOCK(st.st_mode))
        return bl_err(err, -EINVAL, "cannot copy %s'%s': a socket (sockets are not copied)",
                      src_label, src_path);
    int contents = has_trailing_dot(src_path);
    if (contents && !S_ISDIR(st.st_mode))
        return bl_err(err, -ENOTDIR, "cannot copy %s'%s': not a directory", src_label, src_path);
    _cleanup_free_ char *sparent = NULL, *sname = NULL;
    if (split_path(src_path, &sparent, &sname) < 0)
        return bl_oom(err);
    if (!strcmp(sname, "/") || !strcmp(sname, "") || !strcmp(sname, "..")) /* the root itself */
        contents = 1;
    /* the source's path from the box root, for following symlinks below it */
    const char *box_path = src_root >= 0 ? src_path : NULL;

    size_t dl = strlen(dst_path);
    int dst_slash = dst_path[dl - 1] == '/';
    _cleanup_close_ int dst = place_open(dst_root, dst_path, O_PATH);
    struct stat dstat;
    if (dst >= 0 && fstat(dst, &dstat) < 0)
        return bl_err_errno(err, "cannot copy to %s'%s'", dst_label, dst_path);
    if (dst >= 0 && (flags & BOXLITE_COPY_NO_OVERWRITE))
        return bl_err(err, -EEXIST, "destination %s%s exists and overwrite=false", dst_label,
                      dst_path);
    if (dst < 0 && dst != -ENOENT)
        return bl_err_code(err, dst, "cannot copy to %s'%s'", dst_label, dst_path);

    _cleanup_free_ char *dparent = NULL, *dname = NULL;
    const char *name = sname;
    _cleanup_close_ int dir = -1; /* the directory the entry goes into */
    if (dst >= 0 && S_ISDIR(dstat.st_mode)) {
        dir = openat(dst, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0)
            dir = -errno;
    } else if (dst >= 0) { /* an existing non-directory: SRC replaces it, if it is one too */
        if (dst_slash)
            return bl_err(err, -ENOTDIR, "cannot copy to %s'%s': not a directory", dst_label,
                          dst_path);
        if (S_ISDIR(st.st_mode))
            return bl_err(err, -ENOTDIR, "cannot overwrite non-directory %s'%s' with directory",
                          dst_label, dst_path);
        if (split_path(dst_path, &dparent, &dname) < 0)
            return bl_oom(err);
        dir = open_dir_rw(place_open(dst_root, dparent, O_PATH | O_DIRECTORY));
        name = dname;
    } else if (dst_slash || S_ISDIR(st.st_mode)) { /* a new directory receives SRC */
        dir = open_dir_rw(place_mkdir_p(dst_root, dst_path));
    } else { /* SRC becomes DST */
        if (split_path(dst_path, &dparent, &dname) < 0)
            return bl_oom(err);
        dir = open_dir_rw(place_mkdir_p(dst_root, dparent));
        name = dname;
    }
    if (dir < 0)
        return bl_err_code(err, dir, "cannot copy to %s'%s'", dst_label, dst_path);

    _cleanup_(copy_freep) struct copy *c = bl_calloc(1, sizeof(*c));
    if (!c)
        return bl_oom(err);
    *c = (struct copy){.flags = flags, .src_root = src_root, .to_host = dst_root < 0};
    int r;
    if (contents && S_ISDIR(st.st_mode)) {
        /* "SRC/.": what the directory holds, not the directory */
        c->ancestors[c->depth++] = st;
        r = copy_children(c, src, box_path, dir, err);
    } else {
        r = copy_entry(c, src, &st, box_path, dir, name, err);
    }
    if (r >= 0 && c->skipped)
        bl_debug("cp: %u device nodes and sockets left out", c->skipped);
    return r;
}

struct copy_call {
    int userns_fd;
    int src_root, dst_root;
    const char *src, *dst, *src_label, *dst_label;
    int flags;
};

/*
 * In a child that joined the box's user namespace: the copy acts as the box's root, so files of
 * the box's other ids (a subordinate range) are within reach, as they are for root's boxes.
 * What it creates on either side is still the user's (the box's root is the user).
 */
static int copy_in_userns(void *arg, bl_error **err)
{
    struct copy_call *c = arg;
    if (setns(c->userns_fd, CLONE_NEWUSER) < 0)
        return bl_err_errno(err, "cannot join the box's user namespace");
    return do_copy(c->src_root, c->src, c->dst_root, c->dst, c->flags, c->src_label, c->dst_label,
                   err);
}

/* Both directions: check the arguments, get the box's root, copy. */
static int copy_with_box(boxlite_runtime *rt, boxlite_box *b, const char *src, const char *dst,
                         int flags, bool into_box, bl_error **err)
{
    if (!rt || !b || !src || !dst)
        return bl_err(err, -EINVAL, "invalid arguments");
    if (!*src)
        return bl_err(err, -EINVAL, "source path cannot be empty");
    if (!*dst)
        return bl_err(err, -EINVAL, "destination path cannot be empty");
    _cleanup_(box_root_done) struct box_root root = {
        .fd = -1, .userns_fd = -1, .helper = BL_PROC_NULL, .helper_sock = -1, .lock_fd = -1};
    int r = box_root_open(rt, b, &root, err);
    if (r < 0)
        return r;
    struct copy_call c = {
        .userns_fd = root.userns_fd,
        .src_root = into_box ? -1 : root.fd,
        .dst_root = into_box ? root.fd : -1,
        .src = src,
        .dst = dst,
        .src_label = into_box ? "" : "box path ",
        .dst_label = into_box ? "box path " : "",
        .flags = flags,
    };
    if (root.userns_fd >= 0)
        return bl_proc_fork_call(copy_in_userns, &c, err);
    return do_copy(c.src_root, c.src, c.dst_root, c.dst, c.flags, c.src_label, c.dst_label, err);
}

BOXLITE_API int boxlite_box_copy_in(boxlite_runtime *rt, boxlite_box *b, const char *host_src,
                                    const char *box_dst, int flags, boxlite_error **err)
{
    return copy_with_box(rt, b, host_src, box_dst, flags, true, err);
}

BOXLITE_API int boxlite_box_copy_out(boxlite_runtime *rt, boxlite_box *b, const char *box_src,
                                     const char *host_dst, int flags, boxlite_error **err)
{
    return copy_with_box(rt, b, box_src, host_dst, flags, false, err);
}
