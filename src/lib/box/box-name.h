/* SPDX-License-Identifier: MIT */
/* Box names (upstream's rule) and quoting a user's value for a message printed to a terminal. */
#pragma once

#include <stddef.h>

#include "error.h"

#define BL_BOX_NAME_MAX 128

/*
 * Check a box name against upstream's rule: ^[a-zA-Z0-9][a-zA-Z0-9._-]*$, at most
 * BL_BOX_NAME_MAX characters. NULL (no name) passes. Returns 0, or -EINVAL with a one-line
 * message ("invalid argument: …") that quotes the name escaped (bl_escape_text).
 */
int bl_box_name_check(const char *name, bl_error **err);

/*
 * A copy of s that is safe to print to a terminal: C0 controls, DEL, C1 controls (U+0080 to
 * U+009F), the Unicode line separators and bidirectional overrides, and bytes that are not
 * UTF-8 become \n, \r, \t or \xNN (each byte); everything else, other UTF-8 included, is kept.
 * Returns NULL when out of memory. The caller frees the result.
 */
char *bl_escape_text(const char *s);
