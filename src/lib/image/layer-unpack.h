/* SPDX-License-Identifier: MIT */
/*
 * Unpacking one image layer (a tar stream, uncompressed, gzip or zstd) into a directory, safely:
 * nothing is ever read or written outside that directory whatever the tar contains (`..`,
 * absolute names, symlinked parents, links pointing outside). Whiteouts become overlay
 * whiteouts: `.wh.NAME` a 0/0 character device NAME, `.wh..wh..opq` the xattr
 * trusted.overlay.opaque=y on its directory. Modes, owners, times, xattrs, symlinks, hardlinks
 * and (as root) device nodes are preserved.
 */
#pragma once

#include <stdint.h>

#include "digest.h"
#include "error.h"

struct bl_layer_stats {
    uint64_t tar_size; /* bytes of the uncompressed tar stream */
    uint64_t entries;
};

/*
 * Unpack the layer read from `blob_fd` (borrowed; read from its current offset to EOF) into the
 * empty directory `root_fd` (borrowed). On success writes the sha256 of the *uncompressed* tar
 * stream (the OCI diff_id) into ret_diff_id and fills *stats if given.
 * Errors: -EINVAL (not a tar, unsafe entry), -EBADMSG (corrupt/truncated stream), -errno from
 * the filesystem. On failure the directory may hold partial content: the caller discards it.
 * Without root, owners cannot be set: with owners_fd >= 0, a layer that has files not owned by
 * 0:0 gets every entry's "UID GID MODE PATH\0" appended there, in order, for bl_idmap_chown()
 * (nothing is written when all are 0:0). With owners_fd < 0 they are ignored (single-id boxes).
 */
int bl_layer_unpack(int blob_fd, int root_fd, char ret_diff_id[BL_DIGEST_STR_LEN + 1],
                    struct bl_layer_stats *stats, int owners_fd, bl_error **err);
