/* SPDX-License-Identifier: MIT */
/*
 * What image-load.c shares with the other ways an image arrives (image-pull.c): staging a blob
 * through sha256 as it is written, the layer media types boxlite unpacks, the host's platform,
 * and a pool of threads that unpack layers into the stage (verifying each diff_id) while the
 * caller goes on producing blobs. The results are committed with bl_images_commit().
 */
#pragma once

#include <stdint.h>

#include "digest.h"
#include "image-store.h"

/*
 * A staging file: bytes written in order into <dir>/<tmpname> and through sha256 at the same
 * time, so the digest is known the moment the last byte is written (no second pass). On commit
 * the file becomes <dir>/B<hex>, where bl_images_commit() and the unpack pool find it.
 */
struct bl_blob_sink {
    int dir_fd; /* borrowed */
    int fd;
    char tmpname[48];
    struct bl_sha256 *sha;
    uint64_t off; /* bytes written (and hashed) so far */
};
#define BL_BLOB_SINK_NULL ((struct bl_blob_sink){.dir_fd = -1, .fd = -1})

/* Create <dir_fd>/<tmpname> (which must not exist) and a fresh hash. */
int bl_blob_sink_open(struct bl_blob_sink *s, int dir_fd, const char *tmpname, bl_error **err);
/* Append buf at `offset` (>= s->off; a gap is written and hashed as zeros, for sparse tar
 * entries). */
int bl_blob_sink_write(struct bl_blob_sink *s, uint64_t offset, const void *buf, size_t len,
                       bl_error **err);
/* Start over: empty the file and restart the hash (a server that ignored a Range request). */
int bl_blob_sink_reset(struct bl_blob_sink *s, bl_error **err);
/*
 * Finish: the digest of everything written goes into `digest`, the byte count into *size, and
 * the file is renamed B<hex>. With `expect` non-NULL a different digest fails with -EBADMSG
 * ("digest mismatch") and nothing is renamed.
 */
int bl_blob_sink_commit(struct bl_blob_sink *s, const char *expect,
                        char digest[BL_DIGEST_STR_LEN + 1], uint64_t *size, bl_error **err);
/* Release: close, free the hash, and unlink the file unless it was committed. */
void bl_blob_sink_close(struct bl_blob_sink *s);

/* The static string for a layer media type boxlite can unpack, or NULL. */
const char *bl_layer_media_type(const char *media_type);

/* The host's platform in OCI terms: "linux", "amd64"/"arm64"/..., variant or NULL. */
void bl_host_platform(const char **os, const char **arch, const char **variant);

/*
 * Unpacking layers in parallel. Each queued layer's blob is read from <stage>/B<hex> or, when
 * not staged, from the store, unpacked into <stage>/L<diff hex>, and its diff_id checked.
 * Layers are queued while others unpack; the threads (at most one per CPU) start on demand.
 */
struct bl_unpack_pool;
enum { BL_UNPACK_QUEUED, BL_UNPACK_RUNNING, BL_UNPACK_DONE, BL_UNPACK_FAILED };

/* `capacity`: the most layers that will be queued. */
int bl_unpack_pool_new(struct boxlite_runtime *rt, int stage_fd, size_t capacity,
                       struct bl_unpack_pool **ret, bl_error **err);
/* Queue a layer (borrowed until the pool is finished or freed). A diff_id queued before is not
 * queued again. Returns the job's index (>= 0) for bl_unpack_pool_state(). */
int bl_unpack_pool_add(struct bl_unpack_pool *p, const struct bl_new_layer *layer,
                       bl_error **err);
/* BL_UNPACK_* of a job. */
int bl_unpack_pool_state(struct bl_unpack_pool *p, size_t job);
/* Sleep until a job changes state or timeout_ms passes. */
void bl_unpack_pool_wait(struct bl_unpack_pool *p, int timeout_ms);
/* True once every queued job has finished (done or failed). */
int bl_unpack_pool_idle(struct bl_unpack_pool *p);
/* Wait for every queued job (helping on the calling thread), stop the threads, and return the
 * first failure (its message in *err), or 0. */
int bl_unpack_pool_finish(struct bl_unpack_pool *p, bl_error **err);
/* Destructor: drops jobs not started, waits for running ones. NULL is a no-op. */
void bl_unpack_pool_free(struct bl_unpack_pool *p);
BL_DEFINE_CLEANUP_FUNC(struct bl_unpack_pool *, bl_unpack_pool_free)
