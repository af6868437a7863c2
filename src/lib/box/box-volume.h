/* SPDX-License-Identifier: MIT */
/* Volumes of a box: `-v` specs, and the anonymous volumes under <home>/volumes/anonymous/. */
#pragma once

#include <jansson.h>

#include "error.h"

struct boxlite_runtime;

struct bl_volume {
    char *source; /* canonical host path; NULL for an anonymous volume until it is made */
    char *target; /* absolute path in the box */
    int ro, anonymous;
};
void bl_volume_done(struct bl_volume *v);
/* Parse a `-v` spec (messages of spec/cli.md §4.1); a host path is canonicalized and must
 * exist. */
int bl_volume_parse(const char *spec, struct bl_volume *ret, bl_error **err);
/* Make <home>/volumes/anonymous/<ULID>; *ret_path is owned by the caller. */
int bl_volume_make_anonymous(struct boxlite_runtime *rt, char **ret_path, bl_error **err);
/* Remove one (only a path under <home>/volumes/anonymous/). */
void bl_volume_remove_anonymous(struct boxlite_runtime *rt, const char *path);
/* Remove the anonymous ones of a box's "volumes" config array (borrowed; may be NULL). */
void bl_volume_remove_anonymous_all(struct boxlite_runtime *rt, json_t *volumes);
