/* SPDX-License-Identifier: MIT */
/* File and directory helpers. All fds are O_CLOEXEC; all walks are *at() and never follow links. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

/* Write all of buf; returns 0 or -errno. */
int bl_write_all(int fd, const void *buf, size_t len);
/* Read up to max bytes (whole file) into a NUL-terminated buffer. -EFBIG past max. */
int bl_read_full_fd(int fd, size_t max, char **ret, size_t *ret_len);
int bl_read_file_at(int dirfd, const char *path, size_t max, char **ret, size_t *ret_len,
                    bl_error **err);
/*
 * Write a file through a temporary name ("<path>.tmp-<pid>", O_NOFOLLOW, so two writers never
 * share one) and rename(2), so readers see the old file or the new one, never half of one.
 * The temporary file is removed on failure. Returns 0 or -errno; err may be NULL (the shim).
 */
int bl_write_file_atomic_at(int dirfd, const char *path, const void *data, size_t len, mode_t mode,
                            bl_error **err);
/* mkdir -p; returns 0 if it exists already as a directory. */
int bl_mkdir_p(const char *path, mode_t mode, bl_error **err);
/*
 * How bl_open_in_root() resolves a path. AUTO is what callers want: the kernel's openat2()
 * where it exists, the userspace walk where it does not (ENOSYS: kernel < 5.6, valgrind, a
 * seccomp filter; EPERM: container profiles older than openat2, Docker < 20.10). KERNEL and
 * USERSPACE force one of them: a caller that probed once (layer-unpack.c), and the tests.
 */
enum bl_resolve_mode {
    BL_RESOLVE_AUTO,
    BL_RESOLVE_KERNEL,
    BL_RESOLVE_USERSPACE,
};

/*
 * Open `path` confined to the directory `root_fd`, as openat2(RESOLVE_IN_ROOT |
 * RESOLVE_NO_MAGICLINKS) does: ".." and symlinks, absolute or relative, resolve as if root_fd
 * were "/", so nothing outside it is ever reached; /proc magic links are refused (the kernel)
 * or read as text and resolved inside the root (the userspace walk). "" and "/" open the root
 * itself. O_NOFOLLOW in `flags` applies to the last component only; `flags` must not hold
 * O_CREAT (create with *at() in a directory fd this returned). The fd is O_CLOEXEC.
 * Returns the fd (owned by the caller) or -errno: -ENOENT, -ENOTDIR, -ELOOP (a symlink where
 * O_NOFOLLOW forbade one, or too many hops), -ENAMETOOLONG, -ENOMEM.
 */
int bl_open_in_root(int root_fd, const char *path, int flags, enum bl_resolve_mode mode);

/*
 * Open `path` beneath the directory `dir_fd`, strictly: no symlink anywhere in it (the last
 * component included), no magic link, no other filesystem, nothing outside (openat2's
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV). For paths
 * that name what we made ourselves, where a symlink on the way is a sign of tampering, not
 * something to follow. The userspace walk (kernels without openat2) also refuses ".." and an
 * absolute path (-EXDEV). Returns an O_CLOEXEC fd or -errno: -ELOOP (a symlink), -EXDEV,
 * -ENOTDIR, -ENOENT, -ENAMETOOLONG.
 */
int bl_open_beneath(int dir_fd, const char *path, int flags, enum bl_resolve_mode mode);

/*
 * mkdir -p of `path` inside `root_fd` (each missing component created with `mode` in a
 * directory fd that bl_open_in_root() returned, so nothing is ever created outside the root).
 * A last component "." or ".." that does not exist yet is -EINVAL; a symlink or a file where a
 * directory is needed is -ELOOP or -ENOTDIR (a dangling symlink is not followed to create its
 * target). root_fd AT_FDCWD means no root at all: the host's own paths, resolved as open(2)
 * does (the host side of `boxlite cp`). Returns an O_PATH fd of the directory or -errno.
 */
int bl_mkdir_in_root(int root_fd, const char *path, mode_t mode, enum bl_resolve_mode rmode);

/*
 * Whole-file open-file-description locks (fcntl F_OFD_*): held by the open file (shared across
 * fork, released when its last fd closes), like flock(), but a holder can be detected without
 * taking the lock (F_OFD_GETLK): a probe never makes the owner's own non-blocking take fail.
 * bl_ofd_lock: type F_WRLCK (fd open for writing) or F_RDLCK; wait or not; 0, -EAGAIN when held
 * elsewhere (not waiting), -errno. bl_ofd_lock_held: 1 if another open file holds a lock that
 * conflicts with a write lock, 0 if not, -errno.
 */
int bl_ofd_lock(int fd, short type, bool wait);
int bl_ofd_lock_held(int fd);

/* rm -rf of dirfd/name without following symlinks or crossing mount points. ENOENT is success. */
int bl_rm_rf_at(int dirfd, const char *name);
/* Join two path pieces with one '/'. NULL on OOM. */
char *bl_path_join(const char *a, const char *b);

/*
 * Whether we are root in the initial user namespace. Root of a child namespace (rootless, or
 * `unshare -r`) cannot chown to unmapped ids nor use trusted.* xattrs, and mounts overlays with
 * "userxattr".
 */
bool bl_initial_userns_root(void);
