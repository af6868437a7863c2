/* SPDX-License-Identifier: MIT */
/*
 * The blob sink: a blob written once, in order, into a staging directory and through sha256 at
 * the same time, so that its digest is known the moment its last byte is written (no second
 * pass). On commit the file is checked against the digest it should have and renamed B<hex>,
 * where the unpack pool and bl_images_commit() find it. Both ways an image arrives stage through
 * it: image-load.c (files of an archive or layout) and image-pull.c (downloads, resumed with
 * Range requests).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "digest.h"

#define BL_BLOB_SINK_NO_LIMIT UINT64_MAX

struct bl_blob_sink {
    int dir_fd; /* borrowed */
    int fd;
    char tmpname[48];
    struct bl_sha256 *sha;
    uint64_t off;   /* bytes written (and hashed) so far */
    uint64_t limit; /* the most bytes the blob may have (its descriptor's size) */
};
#define BL_BLOB_SINK_NULL                                                                          \
    ((struct bl_blob_sink){.dir_fd = -1, .fd = -1, .limit = BL_BLOB_SINK_NO_LIMIT})

/*
 * Create <dir_fd>/<tmpname> (which must not exist) and a fresh hash. `limit`: the most bytes
 * the blob may have, or BL_BLOB_SINK_NO_LIMIT. -ENOSYS when libcrypto cannot be loaded.
 * On failure *s is still safe to bl_blob_sink_close().
 */
int bl_blob_sink_open(struct bl_blob_sink *s, int dir_fd, const char *tmpname, uint64_t limit,
                      bl_error **err);

/* True if the blob stays within its limit with `len` bytes written at `offset`. */
static inline bool bl_blob_sink_fits(const struct bl_blob_sink *s, uint64_t offset, size_t len)
{
    return len <= s->limit && offset <= s->limit - len;
}

/*
 * Append buf at `offset` (>= s->off; a gap is written and hashed as zeros, for sparse tar
 * entries). -EMSGSIZE, with nothing written, when the blob would pass its limit.
 */
int bl_blob_sink_write(struct bl_blob_sink *s, uint64_t offset, const void *buf, size_t len,
                       bl_error **err);
/* Start over: empty the file and restart the hash (a server that ignored a Range request). */
int bl_blob_sink_reset(struct bl_blob_sink *s, bl_error **err);
/*
 * Finish: the digest of everything written goes into `digest`, the byte count into *size, and
 * the file is renamed B<hex>. With `expect` non-NULL a different digest fails with -EBADMSG
 * ("digest mismatch") and nothing is renamed (a blob cut short fails so too).
 */
int bl_blob_sink_commit(struct bl_blob_sink *s, const char *expect,
                        char digest[BL_DIGEST_STR_LEN + 1], uint64_t *size, bl_error **err);
/* Release: close, free the hash, and unlink the file unless it was committed. */
void bl_blob_sink_close(struct bl_blob_sink *s);
