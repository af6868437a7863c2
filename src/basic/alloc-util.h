/* SPDX-License-Identifier: MIT */
/* Allocation wrappers with fault points. They set no error; callers report with bl_oom(). */
#pragma once

#include <stddef.h>

#include "macro.h"

void *bl_malloc(size_t n);
void *bl_calloc(size_t n, size_t size);
void *bl_realloc(void *p, size_t n);
char *bl_strdup(const char *s);
char *bl_strndup(const char *s, size_t n);
/* Returns NULL on failure. */
char *bl_asprintf(const char *fmt, ...) _printf_(1, 2);
