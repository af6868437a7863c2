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
/* Write a file through a temporary name and rename(2), so readers see old or new, never half. */
int bl_write_file_atomic_at(int dirfd, const char *path, const void *data, size_t len,
                            mode_t mode, bl_error **err);
/* mkdir -p; returns 0 if it exists already as a directory. */
int bl_mkdir_p(const char *path, mode_t mode, bl_error **err);
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
