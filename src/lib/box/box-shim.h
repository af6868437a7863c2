/* SPDX-License-Identifier: MIT */
/* The shim as the library starts it: BOX_DIR/shim.conf, the spawn, and its status words. */
#pragma once

#include "error.h"
#include "proc-util.h"

struct boxlite_runtime;
struct boxlite_box;

/* Write BOX_DIR/shim.conf for a start from the box's config. `stdio` set (the caller's three
 * fds, borrowed): this start's client holds the box (a foreground run; with a tty box, the
 * window size of stdio[0] is passed on); NULL: the box runs on its own. */
int bl_box_write_shim_conf(struct boxlite_runtime *rt, struct boxlite_box *b, const int *stdio,
                           bl_error **err);
/* Run `boxlite-shim [MODE] BOX_DIR` with `stdio` (borrowed, NULL = /dev/null) and the spawn
 * channel as fd 3. On success *ret_proc owns the child (none with BL_SPAWN_DETACH) and
 * *ret_chan our end of the channel. */
int bl_shim_spawn(struct boxlite_runtime *rt, struct boxlite_box *b, const char *mode,
                  const int *stdio, int flags, struct bl_proc *ret_proc, int *ret_chan,
                  bl_error **err);
/* A status field of the shim's protocol (0-383); 125 when it is missing or malformed. */
int bl_shim_parse_status(const char *s);
