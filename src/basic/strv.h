/* SPDX-License-Identifier: MIT */
/* NULL-terminated string vectors. */
#pragma once

#include <stddef.h>

#include "macro.h"

void bl_strv_free(char **l);
size_t bl_strv_length(char *const *l);
/* Append a copy of s; returns 0 or -ENOMEM. */
int bl_strv_push(char ***l, const char *s);
/* Append s itself (consumed on success and on failure). */
int bl_strv_consume(char ***l, char *s);
BL_DEFINE_CLEANUP_FUNC(char **, bl_strv_free)
#define _cleanup_strv_free_ _cleanup_(bl_strv_freep)
