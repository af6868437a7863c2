/* SPDX-License-Identifier: MIT */
/*
 * The exec request to a box's shim (docs/design/shim-protocol.md, `exec`), shared by the blocking
 * boxlite_box_exec() (box-exec.c) and execution sessions (box-session.c).
 */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "error.h"

struct boxlite_box;

/* The fields of one exec request; they point into the caller's strings and the box's config
 * (borrowed while the request lives). */
struct bl_exec_request {
    json_t *env;    /* owned: the caller's K=V, a later K replacing an earlier one */
    const char **f; /* owned array of borrowed fields */
    size_t n;
    char nargs[16], nenv[16];
};
#define BL_EXEC_REQUEST_NULL                                                                       \
    {                                                                                              \
        .env = NULL, .f = NULL, .n = 0                                                             \
    }

/* Build the request: argv (required, NULL-terminated), env (may be NULL), workdir and user (NULL:
 * the box's), detach, and with tty the pty's rows and cols (decimal strings; "0" = unknown).
 * -E2BIG (with the message users see) when it exceeds BL_EXEC_REQUEST_MAX. */
int bl_exec_request_init(struct bl_exec_request *q, const struct boxlite_box *b,
                         const char *const *argv, const char *const *env, const char *workdir,
                         const char *user, int detach, int tty, const char *rows, const char *cols,
                         bl_error **err);
void bl_exec_request_done(struct bl_exec_request *q);

/* Test hooks of the execution sessions (box-session.c), for tests/unit/test-execution.c only:
 * the bytes allocated for the stdin queue of x, and make the next n SIGKILLs the sessions send
 * fail as if the connection to the shim were full (-EAGAIN). */
struct boxlite_execution;
size_t bl_execution_test_stdin_alloc(struct boxlite_execution *x);
void bl_execution_test_fail_kills(int n);
