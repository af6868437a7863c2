/* SPDX-License-Identifier: MIT */
/*
 * Layer unpacking: one image layer blob (tar, tar+gzip or tar+zstd) read in a single pass into a
 * directory, plus the sha256 of the uncompressed tar stream (the OCI diff_id).
 *
 * The stream runs through two libarchive readers. The outer one reads blob_fd, decompresses
 * (gzip and zstd, in-process only) and hands out the raw uncompressed bytes with the "raw"
 * format. Every block it produces is hashed and then given, without a copy, to the inner reader,
 * which parses the tar. When the tar ends, the rest of the outer stream (the zero blocks and
 * record padding after the end-of-archive marker) is drained into the hash, so the digest covers
 * the whole uncompressed stream.
 *
 * Safety invariant: nothing outside root_fd is ever read, written, created, chowned or chmodded,
 * whatever the tar contains. Names are normalised ("/" and "./" prefixes dropped) and any ".."
 * component fails the layer. A directory named by the tar is only ever turned into an fd with
 * openat2(root_fd, ..., RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) (or, where openat2 is missing,
 * bl_open_in_root()'s userspace walk with the same rules), so symlinks in the tree (including
 * ones the tar just created) resolve as if root_fd were "/". The last component is then
 * handled with *at() calls that never follow it: O_CREAT|O_EXCL|O_NOFOLLOW, mkdirat, symlinkat,
 * mknodat, AT_SYMLINK_NOFOLLOW. Whatever already sits at a name is removed (unlinked, never
 * written through) before a new entry takes its place. Hardlink targets are opened the same
 * confined way and linked from that fd. The module assumes it is the only writer under root_fd
 * while it runs; the threat it defends against is the content of the tar.
 *
 * Directory modes and times are applied in a final pass, because creating entries changes a
 * directory's mtime and a read-only directory would block its own children for a non-root user.
 */
#include <archive.h>
#include <archive_entry.h>
#include <assert.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "alloc-util.h"
#include "fs-util.h"
#include "layer-unpack.h"
#include "log.h"

/* Read size for blob_fd; large reads keep the syscall count down on uncompressed layers. */
#define BLOB_READ_SIZE ((size_t) 1 << 20)
/* Symlinks followed while creating missing parent directories, as the kernel's ELOOP limit. */
#define MAX_SYMLINK_HOPS 40

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_META_PREFIX ".wh..wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"
/* Overlay metadata: trusted.* as root; user.* (mounted with "userxattr") without it. */
#define OVERLAY_OPAQUE_XATTR "trusted.overlay.opaque"
#define OVERLAY_XATTR_PREFIX "trusted.overlay."
#define USER_OVERLAY_OPAQUE_XATTR "user.overlay.opaque"
#define USER_OVERLAY_XATTR_PREFIX "user.overlay."

BL_DEFINE_CLEANUP_FUNC(struct archive *, archive_read_free)

static inline bool streq(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

static const char *aerr(struct archive *a)
{
    const char *s = archive_error_string(a);
    return s ? s : "unknown error";
}

/* A directory whose mode and times are applied after all entries (see fixup_dirs). */
struct dir_fixup {
    char *path; /* normalised; "" is the root itself */
    dev_t dev;  /* identity when the entry was unpacked, to skip a directory replaced later */
    ino_t ino;
    mode_t mode;
    struct timespec times[2]; /* atime, mtime */
    bool has_times;
    size_t seq; /* entry order, so that the last entry for a path wins */
};

/* The directory we unpack into, and how paths are confined to it. */
struct root {
    int fd; /* borrowed */
    /* KERNEL, or USERSPACE where openat2() is missing (kernel < 5.6, a seccomp filter,
     * valgrind): probed once per layer rather than on every entry */
    enum bl_resolve_mode resolve;
};

/* The metadata of one tar entry, checked and converted. */
struct meta {
    uid_t uid;
    gid_t gid;
    mode_t mode; /* permission bits including setuid, setgid and sticky */
    struct timespec times[2];
    bool has_times;
};

struct unpack {
    int blob_fd; /* borrowed */
    struct root root;
    bool privileged; /* real root: see bl_initial_userns_root() */

    /* The stream. */
    struct archive *outer; /* borrowed: owned by bl_layer_unpack's scope */
    struct bl_sha256 *sha; /* borrowed, likewise */
    void *read_buf;        /* owned; BLOB_READ_SIZE bytes */
    uint64_t blob_bytes;   /* bytes read from blob_fd */
    uint64_t tar_bytes;    /* uncompressed bytes hashed so far */
    int read_errno;        /* read(2) on blob_fd failed with this; 0 if it did not */
    bool outer_failed;     /* decompression failed; libarchive's message is in outer */
    bool outer_eof;

    /*
     * The last parent directory resolved, as (path, O_PATH fd). It stays valid while entries
     * share that parent: they only add or remove names inside it, and the resolution of a
     * directory cannot depend on its own children without a symlink loop.
     */
    char *parent_path; /* owned */
    int parent_fd;     /* owned */

    struct dir_fixup *dirs; /* owned */
    size_t n_dirs, cap_dirs;
    uint64_t entries;

    /* Owners we could not set (no root): "UID GID MODE PATH\0" per entry, in order, so that an
     * entry replaced later in the layer ends with its last owner (see bl_layer_unpack()). */
    bool record_owners;
    bool foreign_owner; /* some entry is not 0:0: the records matter */
    char *owners;       /* owned */
    size_t n_owners, cap_owners;
    int owners_errno;
};

static void unpack_done(struct unpack *u)
{
    free(u->owners);
    free(u->read_buf);
    free(u->parent_path);
    u->parent_fd = bl_close(u->parent_fd);
    for (size_t i = 0; i < u->n_dirs; i++)
        free(u->dirs[i].path);
    free(u->dirs);
}

/* ---- the stream ---------------------------------------------------------------------------- */

/* libarchive read callback for the outer reader: raw bytes from blob_fd. */
static la_ssize_t blob_read(struct archive *a, void *userdata, const void **ret_buf)
{
    struct unpack *u = userdata;

    for (;;) {
        ssize_t n = read(u->blob_fd, u->read_buf, BLOB_READ_SIZE);
        if (n >= 0) {
            u->blob_bytes += (uint64_t) n;
            *ret_buf = u->read_buf;
            return n;
        }
        if (errno == EINTR)
            continue;
        u->read_errno = errno;
        archive_set_error(a, errno, "cannot read layer blob");
        return ARCHIVE_FATAL;
    }
}

/*
 * The next block of the uncompressed stream, hashed and counted. Returns 1 with a block
 * (borrowed from the outer reader, valid until the next call), 0 at the end, <0 on failure.
 */
static int next_block(struct unpack *u, const void **ret_buf, size_t *ret_size)
{
    while (!u->outer_eof) {
        const void *buf = NULL;
        size_t size = 0;
        la_int64_t offset = 0;
        int r = archive_read_data_block(u->outer, &buf, &size, &offset);
        if (r == ARCHIVE_EOF) {
            u->outer_eof = true;
            break;
        }
        if (r != ARCHIVE_OK) {
            u->outer_failed = true;
            return -EBADMSG;
        }
        if (size == 0)
            continue;
        bl_sha256_update(u->sha, buf, size);
        u->tar_bytes += size;
        *ret_buf = buf;
        *ret_size = size;
        return 1;
    }
    return 0;
}

/* libarchive read callback for the inner (tar) reader: blocks of the outer one, no copy. */
static la_ssize_t tar_read(struct archive *a, void *userdata, const void **ret_buf)
{
    struct unpack *u = userdata;
    size_t size = 0;

    int r = next_block(u, ret_buf, &size);
    if (r < 0) {
        archive_set_error(a, EBADMSG, "%s", aerr(u->outer));
        return ARCHIVE_FATAL;
    }
    return r == 0 ? 0 : (la_ssize_t) size;
}

/* Error for a failure of the outer reader: read(2) errno, otherwise a corrupt stream. */
static int outer_error(struct unpack *u, bl_error **err)
{
    if (u->read_errno)
        return bl_err_code(err, -u->read_errno, "cannot read layer blob");
    return bl_err(err, -EBADMSG, "corrupt or truncated layer stream: %s", aerr(u->outer));
}

/*
 * Error for a failure of the tar reader in the data of entry `path`, or in a header when path is
 * NULL. The outer reader is blamed when it is the one that failed.
 */
static int tar_error(struct unpack *u, struct archive *tar, const char *path, bl_error **err)
{
    if (u->read_errno || u->outer_failed)
        return outer_error(u, err);
    if (path)
        return bl_err(err, -EBADMSG, "corrupt or truncated tar stream in '%s': %s", path,
                      aerr(tar));
    return bl_err(err, -EBADMSG, "corrupt or truncated tar stream after %llu entries: %s",
                  (unsigned long long) u->entries, aerr(tar));
}

/* ---- paths --------------------------------------------------------------------------------- */

/*
 * The canonical form of a name from the tar: no leading "/" or "./", no empty or "." components,
 * no trailing "/"; "" names the root itself. Returns -EINVAL for a ".." component, -ENOMEM.
 */
static int normalize_name(const char *name, char **ret)
{
    size_t len = strlen(name), o = 0;
    _cleanup_free_ char *out = bl_malloc(len + 1);
    if (!out)
        return -ENOMEM;

    for (const char *p = name; *p;) {
        while (*p == '/')
            p++;
        const char *s = p;
        while (*p && *p != '/')
            p++;
        size_t n = (size_t) (p - s);
        if (n == 0 || (n == 1 && s[0] == '.'))
            continue;
        if (n == 2 && s[0] == '.' && s[1] == '.')
            return -EINVAL;
        if (o > 0)
            out[o++] = '/';
        memcpy(out + o, s, n);
        o += n;
    }
    out[o] = 0;
    *ret = TAKE_PTR(out);
    return 0;
}

/*
 * Split a path at its last "/" (trailing slashes ignored) into a newly allocated parent ("" for
 * a single component) and last component. Returns -ENOENT for a path naming the root, -ENOMEM.
 */
static int split_path(const char *path, char **ret_parent, char **ret_last)
{
    size_t len = strlen(path);
    while (len > 0 && path[len - 1] == '/')
        len--;
    if (len == 0)
        return -ENOENT;
    size_t slash = len;
    while (slash > 0 && path[slash - 1] != '/')
        slash--;
    _cleanup_free_ char *parent = bl_strndup(path, slash > 0 ? slash - 1 : 0);
    _cleanup_free_ char *last = bl_strndup(path + slash, len - slash);
    if (!parent || !last)
        return -ENOMEM;
    *ret_parent = TAKE_PTR(parent);
    *ret_last = TAKE_PTR(last);
    return 0;
}

/*
 * Open `path` confined to the root: symlinks and ".." resolve as if the root were "/", /proc
 * magic links are refused. "" opens the root itself. Returns an fd (O_CLOEXEC) or -errno.
 */
static int open_in_root(const struct root *root, const char *path, int flags)
{
    return bl_open_in_root(root->fd, path, flags, root->resolve);
}

static int resolve_dir(const struct root *root, const char *path, unsigned *hops);

/*
 * dfd/name is a symlink whose target is missing: create that target as a directory, inside the
 * root, as `mkdir -p` through the link would. `parent` is the path of dfd, for relative targets.
 */
static int create_link_target(const struct root *root, int dfd, const char *parent,
                              const char *name, unsigned *hops)
{
    if (++*hops > MAX_SYMLINK_HOPS)
        return -ELOOP;

    _cleanup_free_ char *target = bl_malloc(PATH_MAX);
    if (!target)
        return -ENOMEM;
    ssize_t n = readlinkat(dfd, name, target, PATH_MAX - 1);
    if (n < 0)
        return -errno;
    target[n] = 0;

    _cleanup_free_ char *where =
        target[0] == '/' || !*parent ? bl_strdup(target) : bl_asprintf("%s/%s", parent, target);
    if (!where)
        return -ENOMEM;
    _cleanup_close_ int fd = resolve_dir(root, where, hops);
    return fd < 0 ? fd : 0;
}

/*
 * Open directory `path` inside the root as an O_PATH fd, creating missing components as 0755
 * directories. Every mkdirat() happens in a directory fd obtained through open_in_root(), so
 * nothing is ever created outside the root. Returns the fd (owned by the caller) or -errno.
 */
static int resolve_dir(const struct root *root, const char *path, unsigned *hops)
{
    int fd = open_in_root(root, path, O_PATH | O_DIRECTORY);
    if (fd != -ENOENT)
        return fd;

    /* Something is missing: make sure the parent exists, then create the last component. */
    _cleanup_free_ char *parent = NULL, *last = NULL;
    int r = split_path(path, &parent, &last);
    if (r < 0)
        return r;
    _cleanup_close_ int pfd = resolve_dir(root, parent, hops);
    if (pfd < 0)
        return pfd;
    /* "." and ".." (possible in symlink targets) exist once their parent does. */
    if (!streq(last, ".") && !streq(last, "..") && mkdirat(pfd, last, 0755) < 0) {
        if (errno != EEXIST)
            return -errno;
        /*
         * Something is there. A directory means the missing piece was further up and exists
         * now; a symlink is dangling and its target gets created; anything else is in the way.
         */
        struct stat st;
        if (fstatat(pfd, last, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return -errno;
        if (S_ISLNK(st.st_mode)) {
            r = create_link_target(root, pfd, parent, last, hops);
            if (r < 0)
                return r;
        } else if (!S_ISDIR(st.st_mode)) {
            return -ENOTDIR;
        }
    }
    return open_in_root(root, path, O_PATH | O_DIRECTORY);
}

/*
 * A borrowed O_PATH fd of directory `parent` inside the root, created if missing; valid until
 * the next call.
 */
static int get_parent(struct unpack *u, const char *parent, bl_error **err)
{
    if (u->parent_path && streq(u->parent_path, parent))
        return u->parent_fd;

    _cleanup_free_ char *p = bl_strdup(parent);
    if (!p)
        return bl_oom(err);
    unsigned hops = 0;
    _cleanup_close_ int fd = resolve_dir(&u->root, parent, &hops);
    if (fd == -ENOMEM)
        return bl_oom(err);
    if (fd < 0)
        return bl_err_code(err, fd, "cannot open directory '%s'", parent);

    free(u->parent_path);
    u->parent_fd = bl_close(u->parent_fd);
    u->parent_path = TAKE_PTR(p);
    u->parent_fd = TAKE_FD(fd);
    return u->parent_fd;
}

/* Remove whatever is at dfd/name (a directory recursively) so that a new entry can take it. */
static int remove_existing(int dfd, const char *name, const char *path, bl_error **err)
{
    int r = bl_rm_rf_at(dfd, name);
    if (r < 0)
        return bl_err_code(err, r, "cannot replace '%s'", path);
    return 0;
}

/* ---- metadata ------------------------------------------------------------------------------ */

static int entry_meta(struct archive_entry *e, const char *path, struct meta *m, bl_error **err)
{
    la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);

    /* (uid_t) -1 would mean "leave unchanged" to chown(2). */
    if (uid < 0 || uid >= (la_int64_t) UINT32_MAX || gid < 0 || gid >= (la_int64_t) UINT32_MAX)
        return bl_err(err, -EINVAL, "entry '%s' has an invalid owner %lld:%lld", path,
                      (long long) uid, (long long) gid);
    *m = (struct meta){
        .uid = (uid_t) uid,
        .gid = (gid_t) gid,
        .mode = archive_entry_perm(e) & 07777,
        .has_times = archive_entry_mtime_is_set(e),
    };
    if (m->has_times) {
        m->times[1] = (struct timespec){.tv_sec = archive_entry_mtime(e),
                                        .tv_nsec = archive_entry_mtime_nsec(e)};
        m->times[0] = archive_entry_atime_is_set(e)
                          ? (struct timespec){.tv_sec = archive_entry_atime(e),
                                              .tv_nsec = archive_entry_atime_nsec(e)}
                          : m->times[1];
    }
    return 0;
}

/*
 * chown dfd/name, never following a symlink; name "" means dfd itself. Without privilege, EPERM
 * is expected and ignored; EINVAL (an id not mapped in this user namespace) is ignored too.
 */
static void record_owner(struct unpack *u, const struct meta *m, const char *path)
{
    char head[48];
    int n = snprintf(head, sizeof(head), "%u %u %o ", (unsigned) m->uid, (unsigned) m->gid,
                     (unsigned) m->mode);
    size_t need = (size_t) n + strlen(path) + 1;
    if (u->owners_errno)
        return;
    if (u->n_owners + need > u->cap_owners) {
        size_t cap = u->cap_owners ? u->cap_owners * 2 : 4096;
        while (cap < u->n_owners + need)
            cap *= 2;
        char *p = realloc(u->owners, cap);
        if (!p) {
            u->owners_errno = ENOMEM;
            return;
        }
        u->owners = p;
        u->cap_owners = cap;
    }
    memcpy(u->owners + u->n_owners, head, (size_t) n);
    memcpy(u->owners + u->n_owners + n, path, strlen(path) + 1);
    u->n_owners += need;
    if (m->uid != 0 || m->gid != 0)
        u->foreign_owner = true;
}

/* path: the object's own path in the layer (whiteouts pass NULL: their owner does not matter). */
static int set_owner(struct unpack *u, int dfd, const char *name, const struct meta *m,
                     const char *path, bl_error **err)
{
    int flags = AT_SYMLINK_NOFOLLOW | (*name ? 0 : AT_EMPTY_PATH);

    if (u->record_owners) {
        /* ids 0:0 are already right (ours); the others are applied in a mapped namespace */
        if (path)
            record_owner(u, m, path);
        return 0;
    }
    if (!path)
        path = name;

    if (fchownat(dfd, name, m->uid, m->gid, flags) >= 0)
        return 0;
    if (errno == EINVAL || (errno == EPERM && !u->privileged)) {
        /* EINVAL: an id not mapped in our user namespace. */
        bl_debug("cannot chown '%s' to %u:%u, ignoring: %s", path, (unsigned) m->uid,
                 (unsigned) m->gid, strerror(errno));
        return 0;
    }
    return bl_err_errno(err, "cannot change owner of '%s'", path);
}

/*
 * Apply the entry's xattrs to fd. trusted.overlay.* and user.overlay.* names are dropped: overlay
 * metadata in a layer comes only from whiteout entries, never from a tar header that could forge
 * redirects or opaque directories.
 */
static int set_xattrs(const struct unpack *u, int fd, struct archive_entry *e, const char *path,
                      bl_error **err)
{
    if (archive_entry_xattr_reset(e) == 0)
        return 0;

    const char *name;
    const void *value;
    size_t size;
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
        if (!name || !*name)
            continue;
        if (strncmp(name, OVERLAY_XATTR_PREFIX, strlen(OVERLAY_XATTR_PREFIX)) == 0 ||
            strncmp(name, USER_OVERLAY_XATTR_PREFIX, strlen(USER_OVERLAY_XATTR_PREFIX)) == 0) {
            bl_debug("dropping xattr '%s' of '%s'", name, path);
            continue;
        }
        if (fsetxattr(fd, name, value, size, 0) >= 0)
            continue;
        if (errno == EOPNOTSUPP || (errno == EPERM && !u->privileged)) {
            bl_debug("cannot set xattr '%s' on '%s', ignoring: %s", name, path, strerror(errno));
            continue;
        }
        return bl_err_errno(err, "cannot set xattr '%s' on '%s'", name, path);
    }
    return 0;
}

/* ---- entries ------------------------------------------------------------------------------- */

static int pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t) n;
        off += n;
    }
    return 0;
}

/* Copy the entry's data into fd, leaving holes where a sparse entry has them. */
static int copy_data(struct unpack *u, struct archive *tar, struct archive_entry *e, int fd,
                     const char *path, bl_error **err)
{
    la_int64_t end = 0;

    for (;;) {
        const void *buf = NULL;
        size_t size = 0;
        la_int64_t off = 0;
        int r = archive_read_data_block(tar, &buf, &size, &off);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK)
            return tar_error(u, tar, path, err);
        if (size == 0)
            continue;
        if (off < 0 || (uint64_t) off > (uint64_t) INT64_MAX - size)
            return bl_err(err, -EBADMSG, "entry '%s' has a bad data offset", path);
        r = pwrite_all(fd, buf, size, (off_t) off);
        if (r < 0)
            return bl_err_code(err, r, "cannot write '%s'", path);
        end = MAX(end, off + (la_int64_t) size);
    }
    /* A sparse file may end in a hole. */
    if (archive_entry_size_is_set(e) && archive_entry_size(e) > end &&
        ftruncate(fd, (off_t) archive_entry_size(e)) < 0)
        return bl_err_errno(err, "cannot extend '%s'", path);
    return 0;
}

static int unpack_file(struct unpack *u, struct archive *tar, struct archive_entry *e, int dfd,
                       const char *name, const char *path, const struct meta *m, bl_error **err)
{
    /* O_EXCL: an existing name (a symlink above all) is removed, never opened and written. */
    const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    _cleanup_close_ int fd = openat(dfd, name, flags, 0600);
    if (fd < 0 && errno == EEXIST) {
        int r = remove_existing(dfd, name, path, err);
        if (r < 0)
            return r;
        fd = openat(dfd, name, flags, 0600);
    }
    if (fd < 0)
        return bl_err_errno(err, "cannot create '%s'", path);

    int r = copy_data(u, tar, e, fd, path, err);
    if (r < 0)
        return r;
    /* Order matters: writing and chown clear setuid bits and security.capability. */
    r = set_owner(u, fd, "", m, path, err);
    if (r < 0)
        return r;
    r = set_xattrs(u, fd, e, path, err);
    if (r < 0)
        return r;
    if (fchmod(fd, m->mode) < 0)
        return bl_err_errno(err, "cannot change mode of '%s'", path);
    if (m->has_times && futimens(fd, m->times) < 0)
        return bl_err_errno(err, "cannot set times of '%s'", path);
    return 0;
}

/* Owner and xattrs now; mode and times are remembered for fixup_dirs(). */
static int finish_dir(struct unpack *u, struct archive_entry *e, int fd, const char *path,
                      const struct meta *m, bl_error **err)
{
    int r = set_owner(u, fd, "", m, path, err);
    if (r < 0)
        return r;
    r = set_xattrs(u, fd, e, path, err);
    if (r < 0)
        return r;

    struct stat st;
    if (fstat(fd, &st) < 0)
        return bl_err_errno(err, "cannot stat '%s'", path);
    if (u->n_dirs == u->cap_dirs) {
        size_t cap = u->cap_dirs ? u->cap_dirs * 2 : 64;
        struct dir_fixup *d = bl_realloc(u->dirs, cap * sizeof(*d));
        if (!d)
            return bl_oom(err);
        u->dirs = d;
        u->cap_dirs = cap;
    }
    char *p = bl_strdup(path);
    if (!p)
        return bl_oom(err);
    u->dirs[u->n_dirs] = (struct dir_fixup){
        .path = p,
        .dev = st.st_dev,
        .ino = st.st_ino,
        .mode = m->mode,
        .times = {m->times[0], m->times[1]},
        .has_times = m->has_times,
        .seq = u->n_dirs,
    };
    u->n_dirs++;
    return 0;
}

static int unpack_dir(struct unpack *u, struct archive_entry *e, int dfd, const char *name,
                      const char *path, const struct meta *m, bl_error **err)
{
    /* 0700 until fixup_dirs(): the real mode could keep us out of the directory. */
    if (mkdirat(dfd, name, 0700) < 0) {
        if (errno != EEXIST)
            return bl_err_errno(err, "cannot create directory '%s'", path);
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return bl_err_errno(err, "cannot stat '%s'", path);
        if (!S_ISDIR(st.st_mode)) { /* a directory over a file or symlink replaces it */
            int r = remove_existing(dfd, name, path, err);
            if (r < 0)
                return r;
            if (mkdirat(dfd, name, 0700) < 0)
                return bl_err_errno(err, "cannot create directory '%s'", path);
        }
    }
    _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return bl_err_errno(err, "cannot open directory '%s'", path);
    return finish_dir(u, e, fd, path, m, err);
}

/* The entry "./" (or "/"): metadata of the root directory itself. */
static int unpack_root(struct unpack *u, struct archive_entry *e, const struct meta *m,
                       bl_error **err)
{
    _cleanup_close_ int fd = openat(u->root.fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return bl_err_errno(err, "cannot open the layer directory");
    return finish_dir(u, e, fd, "", m, err);
}

static int unpack_symlink(struct unpack *u, struct archive_entry *e, int dfd, const char *name,
                          const char *path, const struct meta *m, bl_error **err)
{
    /* The target is stored as it is: it is only ever followed through RESOLVE_IN_ROOT. */
    const char *target = archive_entry_symlink(e);
    if (!target || !*target)
        return bl_err(err, -EINVAL, "symlink '%s' has no target", path);

    if (symlinkat(target, dfd, name) < 0) {
        if (errno != EEXIST)
            return bl_err_errno(err, "cannot create symlink '%s'", path);
        int r = remove_existing(dfd, name, path, err);
        if (r < 0)
            return r;
        if (symlinkat(target, dfd, name) < 0)
            return bl_err_errno(err, "cannot create symlink '%s'", path);
    }
    int r = set_owner(u, dfd, name, m, path, err);
    if (r < 0)
        return r;
    if (m->has_times && utimensat(dfd, name, m->times, AT_SYMLINK_NOFOLLOW) < 0)
        return bl_err_errno(err, "cannot set times of '%s'", path);
    return 0;
}

/* mknodat() replacing whatever is at the name. Returns 0, 1 if not permitted (skip), or <0. */
static int make_node(int dfd, const char *name, mode_t type, dev_t rdev, const char *path,
                     bl_error **err)
{
    if (mknodat(dfd, name, type | 0600, rdev) >= 0)
        return 0;
    if (errno == EEXIST) {
        int r = remove_existing(dfd, name, path, err);
        if (r < 0)
            return r;
        if (mknodat(dfd, name, type | 0600, rdev) >= 0)
            return 0;
    }
    /* Without CAP_MKNOD (rootless) devices cannot exist; fifos always can. */
    if (errno == EPERM && type != AE_IFIFO) {
        bl_debug("cannot create device '%s', skipping: %s", path, strerror(errno));
        return 1;
    }
    return bl_err_errno(err, "cannot create '%s'", path);
}

/* Character and block devices and fifos. Devices we may not create are skipped. */
static int unpack_node(struct unpack *u, struct archive_entry *e, int dfd, const char *name,
                       const char *path, const struct meta *m, bl_error **err)
{
    mode_t type = archive_entry_filetype(e);
    dev_t rdev = type == AE_IFIFO ? 0 : archive_entry_rdev(e);

    int r = make_node(dfd, name, type, rdev, path, err);
    if (r != 0)
        return r < 0 ? r : 0;
    r = set_owner(u, dfd, name, m, path, err);
    if (r < 0)
        return r;
    /* mknodat() applied the umask; the node was just created, but never follow anyway. */
    if (fchmodat(dfd, name, m->mode, AT_SYMLINK_NOFOLLOW) < 0)
        return bl_err_errno(err, "cannot change mode of '%s'", path);
    if (m->has_times && utimensat(dfd, name, m->times, AT_SYMLINK_NOFOLLOW) < 0)
        return bl_err_errno(err, "cannot set times of '%s'", path);
    return 0;
}

/* Link fd (an O_PATH fd of a non-directory) as dfd/name. Returns 0 or -errno. */
static int link_fd(int fd, int dfd, const char *name)
{
    if (linkat(fd, "", dfd, name, AT_EMPTY_PATH) >= 0)
        return 0;
    /* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH (ENOENT without it); /proc/self/fd does not. */
    if (errno != ENOENT && errno != EPERM)
        return -errno;
    char proc[64];
    (void) snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    if (linkat(AT_FDCWD, proc, dfd, name, AT_SYMLINK_FOLLOW) >= 0)
        return 0;
    return -errno;
}

static int unpack_hardlink(struct unpack *u, struct archive_entry *e, int dfd, const char *name,
                           const char *path, bl_error **err)
{
    const char *raw = archive_entry_hardlink(e);
    _cleanup_free_ char *target = NULL;
    int r = normalize_name(raw, &target);
    if (r == -ENOMEM)
        return bl_oom(err);
    if (r < 0 || !*target)
        return bl_err(err, -EINVAL, "unsafe hardlink '%s' -> '%s'", path, raw);

    /* The target is resolved inside the root like any other name, its last symlink not followed. */
    _cleanup_close_ int tfd = open_in_root(&u->root, target, O_PATH | O_NOFOLLOW);
    if (tfd < 0)
        return bl_err_code(err, tfd, "cannot open target '%s' of hardlink '%s'", raw, path);
    struct stat st;
    if (fstat(tfd, &st) < 0)
        return bl_err_errno(err, "cannot stat target '%s' of hardlink '%s'", raw, path);
    if (S_ISDIR(st.st_mode))
        return bl_err(err, -EINVAL, "hardlink '%s' points to directory '%s'", path, raw);

    r = link_fd(tfd, dfd, name);
    if (r == -EEXIST) {
        struct stat cur;
        if (fstatat(dfd, name, &cur, AT_SYMLINK_NOFOLLOW) >= 0 && cur.st_dev == st.st_dev &&
            cur.st_ino == st.st_ino)
            return 0; /* already that file, e.g. a link to itself */
        r = remove_existing(dfd, name, path, err);
        if (r < 0)
            return r;
        r = link_fd(tfd, dfd, name);
    }
    if (r < 0)
        return bl_err_code(err, r, "cannot create hardlink '%s'", path);
    return 0;
}

/* `.wh.NAME`: NAME is deleted in this layer, which overlayfs spells as a 0/0 character device. */
static int unpack_whiteout(struct unpack *u, int dfd, const char *name, const char *path,
                           const struct meta *m, bl_error **err)
{
    const char *victim = name + strlen(WHITEOUT_PREFIX);
    if (!*victim || streq(victim, ".") || streq(victim, ".."))
        return bl_err(err, -EINVAL, "invalid whiteout '%s'", path);

    int r = remove_existing(dfd, victim, path, err);
    if (r < 0)
        return r;
    if (mknodat(dfd, victim, S_IFCHR | 0, makedev(0, 0)) < 0)
        return bl_err_errno(err, "cannot create whiteout for '%s'", path);
    (void) path;
    return set_owner(u, dfd, victim, m, NULL, err);
}

/*
 * `.wh..wh..opq`: the directory hides everything below it in lower layers. Without root the
 * trusted.* namespace is out of reach; boxes of such a store mount their overlay with
 * "userxattr", which reads user.overlay.opaque instead.
 */
static int unpack_opaque(const struct unpack *u, int dfd, const char *path, bl_error **err)
{
    _cleanup_close_ int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return bl_err_errno(err, "cannot open directory of '%s'", path);
    const char *name = u->privileged ? OVERLAY_OPAQUE_XATTR : USER_OVERLAY_OPAQUE_XATTR;
    if (fsetxattr(fd, name, "y", 1, 0) < 0)
        return bl_err_errno(err, "cannot mark directory of '%s' opaque", path);
    return 0;
}

static int unpack_entry(struct unpack *u, struct archive *tar, struct archive_entry *e,
                        bl_error **err)
{
    const char *raw = archive_entry_pathname(e);
    if (!raw)
        return bl_err(err, -EINVAL, "tar entry without a name");

    _cleanup_free_ char *path = NULL;
    int r = normalize_name(raw, &path);
    if (r == -ENOMEM)
        return bl_oom(err);
    if (r < 0)
        return bl_err(err, -EINVAL, "unsafe entry '%s': name contains '..'", raw);

    struct meta m = {0};
    r = entry_meta(e, raw, &m, err);
    if (r < 0)
        return r;

    bool hardlink = archive_entry_hardlink(e) != NULL;
    mode_t type = archive_entry_filetype(e);
    /* libarchive gives NULL, not "", for an empty hardlink target, and tar stores no type for
     * a hardlink: what is left is an entry of no type, which names nothing to create. */
    if (!hardlink && type == 0)
        return bl_err(err, -EINVAL, "entry '%s' has no file type (a hardlink without a target?)",
                      raw);
    if (!*path) {
        if (hardlink || type != AE_IFDIR)
            return bl_err(err, -EINVAL, "entry '%s' would replace the layer directory", raw);
        return unpack_root(u, e, &m, err);
    }

    _cleanup_free_ char *parent = NULL, *name = NULL;
    r = split_path(path, &parent, &name);
    if (r < 0)
        return bl_oom(err); /* path is normalised and non-empty: only allocation can fail */
    int dfd = get_parent(u, parent, err);
    if (dfd < 0)
        return dfd;

    if (strncmp(name, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)) == 0) {
        if (streq(name, WHITEOUT_OPAQUE))
            return unpack_opaque(u, dfd, path, err);
        if (strncmp(name, WHITEOUT_META_PREFIX, strlen(WHITEOUT_META_PREFIX)) == 0) {
            bl_debug("skipping aufs metadata entry '%s'", path);
            return 0;
        }
        return unpack_whiteout(u, dfd, name, path, &m, err);
    }

    if (hardlink)
        return unpack_hardlink(u, e, dfd, name, path, err);
    switch (type) {
    case AE_IFREG:
        return unpack_file(u, tar, e, dfd, name, path, &m, err);
    case AE_IFDIR:
        return unpack_dir(u, e, dfd, name, path, &m, err);
    case AE_IFLNK:
        return unpack_symlink(u, e, dfd, name, path, &m, err);
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO:
        return unpack_node(u, e, dfd, name, path, &m, err);
    default:
        bl_debug("skipping '%s' of unsupported type 0%o", path, (unsigned) type);
        return 0;
    }
}

/* ---- the final pass over directories ------------------------------------------------------- */

static int cmp_dir_fixup(const void *a, const void *b)
{
    const struct dir_fixup *x = a, *y = b;
    int c = strcmp(x->path, y->path);
    if (c != 0)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * Apply the recorded modes and times. Sorted by path and walked backwards, children come before
 * their parents (so a read-only parent is set last) and the last entry for a path comes first;
 * earlier entries for that path are skipped. A directory removed or replaced by a later entry is
 * skipped too.
 */
static int fixup_dirs(struct unpack *u, bl_error **err)
{
    if (u->n_dirs > 1)
        qsort(u->dirs, u->n_dirs, sizeof(u->dirs[0]), cmp_dir_fixup);

    for (size_t i = u->n_dirs; i-- > 0;) {
        const struct dir_fixup *d = &u->dirs[i];
        if (i + 1 < u->n_dirs && streq(d->path, u->dirs[i + 1].path))
            continue;

        _cleanup_close_ int fd =
            open_in_root(&u->root, d->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
        if (fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP)
            continue;
        if (fd < 0)
            return bl_err_code(err, fd, "cannot open directory '%s'", d->path);
        struct stat st;
        if (fstat(fd, &st) < 0)
            return bl_err_errno(err, "cannot stat '%s'", d->path);
        if (st.st_dev != d->dev || st.st_ino != d->ino)
            continue;
        if (fchmod(fd, d->mode) < 0)
            return bl_err_errno(err, "cannot change mode of '%s'", d->path);
        if (d->has_times && futimens(fd, d->times) < 0)
            return bl_err_errno(err, "cannot set times of '%s'", d->path);
    }
    return 0;
}

/*
 * Check the root is a directory, and whether openat2() works. ENOSYS: kernel < 5.6, a seccomp
 * filter, or valgrind. EPERM: container seccomp profiles written before openat2 existed (Docker
 * < 20.10) answer EPERM to calls they do not know; opening "." of a directory we hold cannot
 * legitimately fail with it.
 */
static int probe_root(struct root *root, bl_error **err)
{
    struct stat st;
    if (fstat(root->fd, &st) < 0)
        return bl_err_errno(err, "cannot stat the layer directory");
    if (!S_ISDIR(st.st_mode))
        return bl_err(err, -ENOTDIR, "the layer directory is not a directory");
    root->resolve = BL_RESOLVE_KERNEL;
    int fd = bl_open_in_root(root->fd, ".", O_PATH | O_DIRECTORY, BL_RESOLVE_KERNEL);
    if (fd >= 0) {
        (void) bl_close(fd);
        return 0;
    }
    if (fd != -ENOSYS && fd != -EPERM)
        return bl_err_code(err, fd, "cannot open the layer directory");
    bl_debug("openat2() is not available (%s), resolving paths in userspace", strerror(-fd));
    root->resolve = BL_RESOLVE_USERSPACE;
    return 0;
}

/* ---- entry point --------------------------------------------------------------------------- */

int bl_layer_unpack(int blob_fd, int root_fd, char ret_diff_id[BL_DIGEST_STR_LEN + 1],
                    struct bl_layer_stats *stats, int owners_fd, bl_error **err)
{
    _cleanup_(unpack_done) struct unpack u = {
        .blob_fd = blob_fd,
        .root = {.fd = root_fd},
        .privileged = bl_initial_userns_root(),
        .parent_fd = -1,
    };
    u.record_owners = owners_fd >= 0 && !u.privileged;
    int r;

    assert(blob_fd >= 0 && root_fd >= 0 && ret_diff_id);

    r = probe_root(&u.root, err);
    if (r < 0)
        return r;

    _cleanup_(bl_sha256_freep) struct bl_sha256 *sha = bl_sha256_new();
    if (!sha && errno == ENOSYS)
        return bl_err(err, -ENOSYS, "cannot hash: libcrypto.so.3 is missing");
    u.read_buf = bl_malloc(BLOB_READ_SIZE);
    if (!sha || !u.read_buf)
        return bl_oom(err);
    u.sha = sha;

    /*
     * Outer reader: decompression only. Filters are named one by one because
     * archive_read_support_filter_all() includes some that run an external program; ARCHIVE_WARN
     * from a support call means exactly that fallback, so anything but ARCHIVE_OK is refused.
     */
    _cleanup_(archive_read_freep) struct archive *outer = archive_read_new();
    if (!outer)
        return bl_oom(err);
    if (archive_read_support_filter_gzip(outer) != ARCHIVE_OK ||
        archive_read_support_filter_zstd(outer) != ARCHIVE_OK ||
        archive_read_support_format_raw(outer) != ARCHIVE_OK)
        return bl_err(err, -ENOTSUP, "libarchive cannot decompress gzip and zstd in-process: %s",
                      aerr(outer));
    u.outer = outer;
    /* Opening reads the first block to detect the compression; raw then bids on any byte. */
    struct archive_entry *raw_entry;
    if (archive_read_open(outer, &u, NULL, blob_read, NULL) != ARCHIVE_OK ||
        archive_read_next_header(outer, &raw_entry) != ARCHIVE_OK) {
        if (!u.read_errno && u.blob_bytes == 0)
            return bl_err(err, -EINVAL, "layer is empty, not a tar archive");
        return outer_error(&u, err);
    }

    /* Inner reader: the tar (ustar, pax and GNU), fed by tar_read() from the outer one. */
    _cleanup_(archive_read_freep) struct archive *tar = archive_read_new();
    if (!tar)
        return bl_oom(err);
    if (archive_read_support_format_tar(tar) != ARCHIVE_OK)
        return bl_err(err, -ENOTSUP, "libarchive cannot read tar: %s", aerr(tar));
    /* Opening already reads the first block and picks the format. */
    if (archive_read_open(tar, &u, NULL, tar_read, NULL) != ARCHIVE_OK) {
        if (u.outer_failed || u.read_errno)
            return outer_error(&u, err);
        return bl_err(err, -EINVAL, "not a tar archive: %s", aerr(tar));
    }

    for (;;) {
        struct archive_entry *e;
        r = archive_read_next_header(tar, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r == ARCHIVE_WARN) {
            /* e.g. a pax name that is not valid in the current locale; the bytes are kept */
            bl_debug("tar header warning, ignoring: %s", aerr(tar));
        } else if (r != ARCHIVE_OK) {
            return tar_error(&u, tar, NULL, err); /* the format was recognised: corruption */
        }
        u.entries++;
        r = unpack_entry(&u, tar, e, err);
        if (r < 0)
            return r;
    }

    /* Zero blocks may follow the end-of-archive marker: they are part of the diff_id too. */
    for (;;) {
        const void *buf;
        size_t size;
        r = next_block(&u, &buf, &size);
        if (r < 0)
            return outer_error(&u, err);
        if (r == 0)
            break;
    }

    r = fixup_dirs(&u, err);
    if (r < 0)
        return r;

    if (u.owners_errno)
        return bl_oom(err);
    if (u.foreign_owner) {
        r = bl_write_all(owners_fd, u.owners, u.n_owners);
        if (r < 0)
            return bl_err_code(err, r, "cannot record the owners of the layer's files");
    }

    bl_sha256_final(sha, ret_diff_id);
    if (stats)
        *stats = (struct bl_layer_stats){.tar_size = u.tar_bytes, .entries = u.entries};
    return 0;
}
