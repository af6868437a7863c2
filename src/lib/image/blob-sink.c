/* SPDX-License-Identifier: MIT */
/* The blob sink: staging files written once and hashed as they are written (see blob-sink.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "blob-sink.h"
#include "fs-util.h"

static int no_hash(bl_error **err)
{
    return errno == ENOSYS ? bl_err(err, -ENOSYS, "cannot hash: libcrypto.so.3 is missing")
                           : bl_oom(err);
}

int bl_blob_sink_open(struct bl_blob_sink *s, int dir_fd, const char *tmpname, uint64_t limit,
                      bl_error **err)
{
    *s = BL_BLOB_SINK_NULL;
    s->dir_fd = dir_fd;
    s->limit = limit;
    s->sha = bl_sha256_new();
    if (!s->sha)
        return no_hash(err);
    s->fd = openat(dir_fd, tmpname, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (s->fd < 0)
        return bl_err_errno(err, "cannot create staging file");
    snprintf(s->tmpname, sizeof(s->tmpname), "%s", tmpname); /* ours now: unlinked on close */
    return 0;
}

void bl_blob_sink_close(struct bl_blob_sink *s)
{
    s->fd = bl_close(s->fd);
    bl_sha256_free(s->sha);
    s->sha = NULL;
    if (s->tmpname[0])
        (void) unlinkat(s->dir_fd, s->tmpname, 0);
    s->tmpname[0] = 0;
}

int bl_blob_sink_write(struct bl_blob_sink *s, uint64_t offset, const void *buf, size_t len,
                       bl_error **err)
{
    static const char zeros[4096];
    if (!bl_blob_sink_fits(s, offset, len))
        return bl_err(err, -EMSGSIZE, "blob is larger than its %llu bytes",
                      (unsigned long long) s->limit);
    while (s->off < offset) { /* sparse hole: hash and write zeros in order */
        size_t n = (size_t) MIN(offset - s->off, sizeof(zeros));
        bl_sha256_update(s->sha, zeros, n);
        int r = bl_write_all(s->fd, zeros, n);
        if (r < 0)
            return bl_err_code(err, r, "cannot write staging file");
        s->off += n;
    }
    bl_sha256_update(s->sha, buf, len);
    int r = bl_write_all(s->fd, buf, len);
    if (r < 0)
        return bl_err_code(err, r, "cannot write staging file");
    s->off += len;
    return 0;
}

int bl_blob_sink_reset(struct bl_blob_sink *s, bl_error **err)
{
    struct bl_sha256 *fresh = bl_sha256_new();
    if (!fresh)
        return no_hash(err);
    bl_sha256_free(s->sha);
    s->sha = fresh;
    if (ftruncate(s->fd, 0) < 0 || lseek(s->fd, 0, SEEK_SET) < 0)
        return bl_err_errno(err, "cannot truncate staging file");
    s->off = 0;
    return 0;
}

int bl_blob_sink_commit(struct bl_blob_sink *s, const char *expect,
                        char digest[BL_DIGEST_STR_LEN + 1], uint64_t *size, bl_error **err)
{
    char got[BL_DIGEST_STR_LEN + 1];
    bl_sha256_final(s->sha, got);
    if (expect && strcmp(expect, got) != 0)
        return bl_err(err, -EBADMSG, "digest mismatch: content is %s, expected %s", got, expect);
    char final[80];
    snprintf(final, sizeof(final), "B%s", bl_digest_hex(got));
    if (renameat(s->dir_fd, s->tmpname, s->dir_fd, final) < 0)
        return bl_err_errno(err, "cannot rename staging file");
    s->tmpname[0] = 0;
    memcpy(digest, got, sizeof(got));
    *size = s->off;
    return 0;
}
