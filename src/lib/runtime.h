/* SPDX-License-Identifier: MIT */
/*
 * The runtime handle: an open home directory, its store, its staging directories, and the
 * helper programs and ids every box uses (found once, at open). The floor under the image and
 * box modules: it calls neither. The API (src/lib/api.c) opens it, then runs the box module's
 * recovery, and sets the image module's registries.
 */
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
    _Atomic bool warm_done; /* set by the thread when it is finished */
    struct bl_idmap idmap;  /* without root: the ids of boxes (idmap.h) */
    char *shim_path;        /* boxlite-shim (helpers.h), NULL when there is none */
};

BL_DEFINE_CLEANUP_FUNC(struct boxlite_runtime *, boxlite_runtime_free)

/* Open (creating what is missing) the home `home` (NULL: the default, bl_home_resolve()): its
 * directories, the store, the id mapping, the shim's path; stale staging directories are
 * removed. registries is left NULL for the caller to set; nothing of boxes is looked at. */
int bl_runtime_open(const char *home, struct boxlite_runtime **ret, bl_error **err);
/* Release what bl_runtime_open() made (not registries, not the warm thread). NULL is a no-op. */
void bl_runtime_free(struct boxlite_runtime *rt);
BL_DEFINE_CLEANUP_FUNC(struct boxlite_runtime *, bl_runtime_free)

/* The boxlite-shim found at open (borrowed), or -ENOENT "cannot find boxlite-shim". */
int bl_runtime_shim_path(const struct boxlite_runtime *rt, const char **ret, bl_error **err);

/*
 * Apply the owners recorded in owners_fd (records "UID GID MODE PATH\0", from bl_layer_unpack)
 * to the tree at root_fd, inside a namespace with the range. No-op for an empty record.
 */
int bl_idmap_chown(struct boxlite_runtime *rt, int root_fd, int owners_fd, bl_error **err);

/* rm -rf dirfd/name; what the user may not remove (files of subordinate ids) is removed inside a
 * namespace with the range. ENOENT is success. */
int bl_rm_tree(struct boxlite_runtime *rt, int dirfd, const char *name);

/* A staging directory under <home>/tmp, locked (flock) for as long as it is open, so that the
 * recovery of another process never removes it; removed (and unlocked) by bl_stage_done(). */
struct bl_stage {
    struct boxlite_runtime *rt; /* borrowed */
    int tmp_fd;                 /* borrowed */
    char *name;                 /* entry under tmp/ */
    int fd;                     /* the directory, holding the lock */
};
#define BL_STAGE_NULL ((struct bl_stage){.rt = NULL, .tmp_fd = -1, .name = NULL, .fd = -1})
int bl_stage_new(struct boxlite_runtime *rt, const char *prefix, struct bl_stage *ret,
                 bl_error **err);
void bl_stage_done(struct bl_stage *s);
#define _cleanup_stage_ _cleanup_(bl_stage_done)

/* Resolve the home: explicit > $BOXLITE_HOME > ~/.boxlite > ./.boxlite. Caller frees. */
int bl_home_resolve(const char *explicit_home, char **ret, bl_error **err);
