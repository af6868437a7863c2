/* SPDX-License-Identifier: MIT */
/*
 * The error model: functions return 0/positive on success and a negative errno on failure, and
 * fill an optional `bl_error **err` with a message. The first error wins; callers may prefix
 * context with bl_err_prefix(). Out-of-memory uses a static object so that reporting it never
 * allocates.
 */
#pragma once

#include "boxlite/common.h"
#include "macro.h"

struct boxlite_error {
    int code;  /* negative errno */
    char *msg; /* owned; NULL only for the static OOM object */
    int is_static;
};
typedef struct boxlite_error bl_error;

int bl_err(bl_error **err, int code, const char *fmt, ...) _printf_(3, 4);
/* Uses -errno (or -EIO when errno is 0) and appends ": strerror". */
int bl_err_errno(bl_error **err, const char *fmt, ...) _printf_(2, 3);
/* Same with an explicit negative errno. */
int bl_err_code(bl_error **err, int code, const char *fmt, ...) _printf_(3, 4);
/* Adds "ctx: " in front of an existing message; returns code. */
int bl_err_prefix(bl_error **err, int code, const char *fmt, ...) _printf_(3, 4);
int bl_oom(bl_error **err);
void bl_error_free(bl_error *e);
const char *bl_error_msg(const bl_error *e);
BL_DEFINE_CLEANUP_FUNC(bl_error *, bl_error_free)
