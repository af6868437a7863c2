/* SPDX-License-Identifier: MIT */
/*
 * What dead processes left behind: the recovery pass of every runtime open, and the cleanup of
 * a box whose shim died without its teardown.
 *
 * Who removes a box's cgroups (one owner at a time):
 *  - the shim, for as long as it lives: its teardown (src/shim/supervisor.c) kills what is left
 *    in them and removes them, then writes <box>/exit.json, reports the exit and releases
 *    shim.lock. A shim that exits through its teardown has always written exit.json, since each
 *    start removes the previous one first;
 *  - the library, only for a shim that died without that teardown (SIGKILL, a crash: shim.lock
 *    is free and there is no exit.json), in bl_box_reap_dead_shim() and nowhere else. The client
 *    that finds the shim gone (wait, stop, remove, a start whose shim vanished) and the
 *    recovery pass of any later open call it.
 */
#pragma once

#include "error.h"

struct boxlite_runtime;

/* A box whose shim is gone (its shim.lock is free): if the shim died without its teardown
 * (dir_fd has no exit.json, or dir_fd < 0: the directory is gone), remove the box's cgroups,
 * killing anything still in them. Returns how many are still there (tasks that would not die
 * in time: the caller keeps the box's record so that the next open tries again); 0 when the
 * shim tore down itself. */
int bl_box_reap_dead_shim(struct boxlite_runtime *rt, int dir_fd, const char *id);

/* Repair what dead processes left: boxes marked running whose shim is gone become stopped with
 * their recorded exit code; stale auto-remove and half-created boxes are deleted. Cheap. Called
 * by the API's runtime open (src/lib/api.c), after the runtime's own staging sweep. */
void bl_box_recover(struct boxlite_runtime *rt);
