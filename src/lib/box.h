/* SPDX-License-Identifier: MIT */
/* Boxes inside the library: the handle, the recovery pass, and the shim's location. */
#pragma once

#include <jansson.h>

#include "boxlite/box.h"
#include "proc-util.h"
#include "runtime.h"

struct boxlite_box {
    char *id;
    char *name;   /* NULL if none */
    char *status; /* configured | running | stopped */
    int64_t created_ns;
    int pid;
    int exit_code;
    json_t *config;
    int dir_fd;  /* boxes/<id> */
    int lock_fd; /* flock on boxes/<id>/lock while this handle owns the box's lifecycle */
    struct bl_proc shim; /* attached start: our child */
    int chan_fd;         /* attached start: the spawn channel */
};

void bl_box_free(struct boxlite_box *b);
BL_DEFINE_CLEANUP_FUNC(struct boxlite_box *, bl_box_free)

/* Repair what dead processes left: boxes marked running whose shim is gone become stopped with
 * their recorded exit code; stale auto-remove and half-created boxes are deleted. Cheap. */
void bl_box_recover(struct boxlite_runtime *rt);
