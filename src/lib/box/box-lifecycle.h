/* SPDX-License-Identifier: MIT */
/* The lifecycle of a box (start, wait, stop, remove: box-lifecycle.c), for the other parts. */
#pragma once

#include "error.h"

struct boxlite_runtime;
struct boxlite_box;

/* Refuse (or do) an implicit start for `op`, as spec/cli.md §3 says. */
int bl_box_start_on_demand(struct boxlite_runtime *rt, struct boxlite_box *b, const char *op,
                           bl_error **err);
