/* SPDX-License-Identifier: MIT */
/* The runtime handle: an open home directory and its store. */
#pragma once

#include <pthread.h>
#include <stdbool.h>

#include "boxlite/runtime.h"
#include "idmap.h"
#include "store.h"

struct bl_registries;

struct boxlite_runtime {
    char *home;
    int home_fd;
    int tmp_fd;
    int blobs_fd;  /* images/blobs/sha256 */
    int layers_fd; /* images/layers */
    int boxes_fd;
    struct bl_store *store;
    struct bl_registries *registries; /* the configuration's image registries (never NULL) */
    pthread_t warm_thread;            /* cgroup-warm.c, when warm_started */
    bool warm_started;
    _Atomic bool warm_done;           /* set by the thread when it is finished */
    struct bl_idmap idmap;            /* without root: the ids of boxes (idmap.h) */
};

/* A box is about to start: warm the kernel's cgroup migration lock in a thread (once per
 * runtime; joined by bl_cgroup_warm_done(), from boxlite_runtime_free()). */
void bl_cgroup_warm(struct boxlite_runtime *rt);
void bl_cgroup_warm_done(struct boxlite_runtime *rt);

BL_DEFINE_CLEANUP_FUNC(struct boxlite_runtime *, boxlite_runtime_free)

/* A staging directory under <home>/tmp, locked (flock) for as long as it is open, so that the
 * recovery of another process never removes it; removed (and unlocked) by bl_stage_done(). */
struct bl_stage {
    struct boxlite_runtime *rt; /* borrowed */
    int tmp_fd;   /* borrowed */
    char *name;   /* entry under tmp/ */
    int fd;       /* the directory, holding the lock */
};
#define BL_STAGE_NULL ((struct bl_stage){.rt = NULL, .tmp_fd = -1, .name = NULL, .fd = -1})
int bl_stage_new(struct boxlite_runtime *rt, const char *prefix, struct bl_stage *ret,
                 bl_error **err);
void bl_stage_done(struct bl_stage *s);
#define _cleanup_stage_ _cleanup_(bl_stage_done)

/* Resolve the home: explicit > $BOXLITE_HOME > ~/.boxlite > ./.boxlite. Caller frees. */
int bl_home_resolve(const char *explicit_home, char **ret, bl_error **err);
