/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "fault.h"

void *bl_malloc(size_t n)
{
    if (bl_fault_hit())
        return NULL;
    return malloc(n ? n : 1);
}

void *bl_calloc(size_t n, size_t size)
{
    if (bl_fault_hit())
        return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

void *bl_realloc(void *p, size_t n)
{
    if (bl_fault_hit())
        return NULL;
    return realloc(p, n ? n : 1);
}

char *bl_strdup(const char *s)
{
    if (bl_fault_hit())
        return NULL;
    return strdup(s);
}

char *bl_strndup(const char *s, size_t n)
{
    if (bl_fault_hit())
        return NULL;
    return strndup(s, n);
}

char *bl_asprintf(const char *fmt, ...)
{
    if (bl_fault_hit())
        return NULL;
    char *p = NULL;
    va_list ap;
    va_start(ap, fmt);
    int r = vasprintf(&p, fmt, ap);
    va_end(ap);
    return r < 0 ? NULL : p;
}
