/* SPDX-License-Identifier: MIT */
/*
 * What dead processes left behind: the recovery pass of every runtime open, and the cgroups a
 * shim left when it went.
 *
 * Who removes a box's cgroups (one owner at a time):
 *  - the shim, for as long as it lives: its teardown (src/shim/supervisor.c) kills what is left
 *    in them and removes them, then writes <box>/exit.json, reports the exit and releases
 *    shim.lock. It gives up on one that stays busy too long (CG_DRAIN_TIMEOUT_MS);
 *  - the library, only once the shim is gone (its shim.lock is free), for what it left: all of
 *    them when it died without its teardown (SIGKILL, a crash), a busy one it gave up on. This is
 *    bl_box_reap_cgroups() and nothing else; it is called by the client that finds the shim gone
 *    (wait, stop, remove, a start whose shim vanished) and by the recovery pass of every open.
 *    What it cannot remove either keeps a --rm box's record for the next open to try again.
 */
#pragma once

#include "error.h"

struct boxlite_runtime;

/* A box whose shim is gone (its shim.lock is free, or it never ran): remove the box's cgroups
 * that are left, killing anything still in them (no-op when the shim removed them). Returns
 * how many are still there (tasks that would not die in time: the caller keeps the box's record
 * so that the next open tries again). */
int bl_box_reap_cgroups(struct boxlite_runtime *rt, const char *id);

/* Repair what dead processes left: boxes marked running whose shim is gone become stopped with
 * their recorded exit code; stale auto-remove and half-created boxes are deleted. Cheap. Called
 * by the API's runtime open (src/lib/api.c), after the runtime's own staging sweep. */
void bl_box_recover(struct boxlite_runtime *rt);
