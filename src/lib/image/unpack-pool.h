/* SPDX-License-Identifier: MIT */
/*
 * Unpacking layers in parallel. Each queued layer's blob is read from <stage>/B<hex> or, when
 * not staged, from the store, unpacked into <stage>/L<diff hex> (bl_layer_unpack(), owners
 * applied by bl_idmap_chown() with a subordinate id range), and its diff_id checked. Layers
 * are queued while others unpack (a pull queues each layer as its download ends); the threads
 * (at most one per CPU) start on demand. The results are committed with bl_images_commit();
 * a failed layer's partial L<hex> is left in the stage, which its owner removes.
 */
#pragma once

#include <stddef.h>

#include "error.h"

struct boxlite_runtime;
struct bl_new_layer;
struct bl_unpack_pool;
enum { BL_UNPACK_QUEUED, BL_UNPACK_RUNNING, BL_UNPACK_DONE, BL_UNPACK_FAILED };

/* Constructor. `stage_fd` (borrowed) must outlive the pool; `capacity`: the most layers that
 * will be queued. */
int bl_unpack_pool_new(struct boxlite_runtime *rt, int stage_fd, size_t capacity,
                       struct bl_unpack_pool **ret, bl_error **err);
/* Queue a layer (borrowed until the pool is finished or freed). A diff_id queued before is not
 * queued again. Returns the job's index (>= 0) for bl_unpack_pool_state(); -ENOSPC past the
 * capacity. */
int bl_unpack_pool_add(struct bl_unpack_pool *p, const struct bl_new_layer *layer, bl_error **err);
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
