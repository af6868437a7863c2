/* SPDX-License-Identifier: MIT */
/* Finding the helper programs boxlite runs: boxlite-shim, newuidmap/newgidmap, slirp4netns,
 * nft. No state: the runtime resolves the ones every box needs once, at open (runtime.h). */
#pragma once

#include "error.h"

/* Absolute path of helper `name`: $env if set (a path, or a name searched instead of `name`),
 * else searched in $PATH and the sbin/bin directories. *ret owned by the caller. -ENOENT (no
 * message) when not found. */
int bl_net_find_helper(const char *name, const char *env, char **ret, bl_error **err);

/* The boxlite-shim binary: $BOXLITE_SHIM, else beside the running executable, else the
 * installed one (BOXLITE_SHIM_PATH). *ret owned by the caller; -ENOENT (no message) when there
 * is none. */
int bl_shim_find(char **ret, bl_error **err);
