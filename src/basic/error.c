/* SPDX-License-Identifier: MIT */
/* Error objects: allocation, prefixing, and the static out-of-memory error. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

static bl_error oom_error = {.code = -ENOMEM, .msg = (char *) "out of memory", .is_static = 1};

int bl_oom(bl_error **err)
{
    if (err && !*err)
        *err = &oom_error;
    return -ENOMEM;
}

__attribute__((format(printf, 4, 0))) static int set_v(bl_error **err, int code, const char *suffix,
                                                       const char *fmt, va_list ap)
{
    if (code >= 0)
        code = -EIO;
    if (!err || *err)
        return code;
    char *m = NULL;
    if (vasprintf(&m, fmt, ap) < 0)
        return bl_oom(err);
    if (suffix) {
        char *m2 = NULL;
        if (asprintf(&m2, "%s: %s", m, suffix) < 0) {
            free(m);
            return bl_oom(err);
        }
        free(m);
        m = m2;
    }
    bl_error *e = calloc(1, sizeof(*e));
    if (!e) {
        free(m);
        return bl_oom(err);
    }
    e->code = code;
    e->msg = m;
    *err = e;
    return code;
}

int bl_err(bl_error **err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = set_v(err, code, NULL, fmt, ap);
    va_end(ap);
    return r;
}

int bl_err_code(bl_error **err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = set_v(err, code, strerror(code < 0 ? -code : EIO), fmt, ap);
    va_end(ap);
    return r;
}

int bl_err_errno(bl_error **err, const char *fmt, ...)
{
    int code = errno > 0 ? -errno : -EIO;
    va_list ap;
    va_start(ap, fmt);
    int r = set_v(err, code, strerror(-code), fmt, ap);
    va_end(ap);
    return r;
}

int bl_err_prefix(bl_error **err, int code, const char *fmt, ...)
{
    if (!err || !*err || (*err)->is_static)
        return code;
    char *p = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&p, fmt, ap);
    va_end(ap);
    if (n < 0)
        return code;
    char *m = NULL;
    if (asprintf(&m, "%s: %s", p, (*err)->msg) >= 0) {
        free((*err)->msg);
        (*err)->msg = m;
    }
    free(p);
    return code;
}

void bl_error_free(bl_error *e)
{
    if (!e || e->is_static)
        return;
    free(e->msg);
    free(e);
}

const char *bl_error_msg(const bl_error *e)
{
    return e ? e->msg : "";
}
