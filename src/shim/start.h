/* SPDX-License-Identifier: MIT */
/* The start of a box: everything up to PID 1's "go" (start.c). */
#pragma once

#include "supervisor.h"

/* Create the box into s (whose loop is open: supervisor_open). A negative errno with *err set
 * means nothing of the box runs; 0 means PID 1 exists (any later setup error has gone to
 * supervisor_setup_error()). */
int start_box(struct supervisor *s, bl_error **err);
