/* SPDX-License-Identifier: MIT */
/*
 * Box records: the handle's life (new, free), its rows in the database (load, reload, status,
 * delete) and the flock-based facts of its directory (who holds a lock, the last exit code).
 *
 * Locks (all flock, released by the kernel when a process dies, so a kill -9 never wedges a box):
 *   boxes/<id>/shim.lock  held by the shim for its whole life: "running" iff it is held.
 *   boxes/<id>/lock       held by a process that owns the box's lifecycle right now (creating it,
 *                         or running it attached); recovery leaves such a box alone.
 * The database is the index (name, status, exit code); the shim never touches it (it is a static
 * libc-only binary), so status is brought up to date by the client that waits for the shim, by
 * stop, and by the recovery pass of any later open.
 */
#pragma once

#include <sqlite3.h>
#include <stdbool.h>

#include "box-internal.h"
#include "error.h"

struct boxlite_runtime;

/* A handle with every fd -1 and nothing else set; NULL when out of memory. */
struct boxlite_box *bl_box_new(void);
void bl_box_free(struct boxlite_box *b);
BL_DEFINE_CLEANUP_FUNC(struct boxlite_box *, bl_box_free)

/* Refresh status, pid and exit code from the box's row (-ENOENT: it is gone). */
int bl_box_reload(struct boxlite_runtime *rt, struct boxlite_box *b, bl_error **err);
/* Record status and pid (and exit_code when set_exit) in the row and in the handle. */
int bl_box_set_status(struct boxlite_runtime *rt, struct boxlite_box *b, const char *status,
                      int pid, int exit_code, int set_exit, bl_error **err);
/* Delete record and directory, and the box's anonymous volumes. The caller made sure no shim
 * runs. */
int bl_box_delete(struct boxlite_runtime *rt, const char *id, bl_error **err);
/* Whether the box has a row (true when that cannot be told). */
bool bl_box_row_exists(struct boxlite_runtime *rt, const char *id);

/* 1 if a process holds the flock on dir/name ("lock": a library call owns the box), 0 if not (or
 * the file is missing). The shim's lock is an OFD lock: bl_shim_lock_held(). */
int bl_lock_held(int dir_fd, const char *name);
/* 1 if the box's shim is alive (it holds BOX_DIR/shim.lock), else 0. Probes without taking the
 * lock (an OFD lock, src/basic/fs-util.h), so a probe never makes a starting shim fail. */
int bl_shim_lock_held(int dir_fd);
/* The exit code the shim recorded in <box>/exit.json, -1 if there is none. */
int bl_box_read_exit_code(int dir_fd);
