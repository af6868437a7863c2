/* SPDX-License-Identifier: MIT */
/* The log sink: the one process-wide setting of the library. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

static boxlite_log_fn sink_fn;
static void *sink_userdata;
static int sink_level = -1;

BOXLITE_API void boxlite_set_log_fn(boxlite_log_fn fn, int max_level, void *userdata)
{
    sink_fn = fn;
    sink_level = fn ? max_level : -1;
    sink_userdata = userdata;
}

void bl_log(int level, const char *fmt, ...)
{
    if (!sink_fn || level > sink_level)
        return;
    char *m = NULL;
    va_list ap;
    va_start(ap, fmt);
    int r = vasprintf(&m, fmt, ap);
    va_end(ap);
    if (r < 0)
        return;
    sink_fn(level, m, sink_userdata);
    free(m);
}
