/* SPDX-License-Identifier: MIT */
/* The non-detached boxes this server started (owned.c). */
#pragma once

#include "http.h"

/* A non-detached box this server started: its handle, and the thread waiting for it. */
struct owned_box {
    struct owned_box *next;
    struct server *srv;
    char *id;
    boxlite_runtime *rt;
    boxlite_box *box;
    int stdio[3]; /* /dev/null out and err, and the read end of a pipe as stdin */
    int stdin_w;  /* the pipe's write end, kept open: PID 1 reads no EOF */
};

/* Start box `id` attached to this process, with a thread that waits for it. */
int serve_owned_start(struct server *s, const char *id, boxlite_error **err);
/* Whether box `id` (a full id) is one of them. */
int serve_owned_has(struct server *s, const char *id);
/* Wait (at most `secs`) until the thread waiting for box `id` has finished its stop. */
void serve_owned_wait_gone(struct server *s, const char *id, int secs);
/* Box `id` is to be removed once it has stopped (auto_delete): mark it, unmark it (after a
 * removal), ask. The marks live as long as the server. */
int serve_owned_mark_auto_delete(struct server *s, const char *id);
void serve_owned_unmark_auto_delete(struct server *s, const char *id);
int serve_owned_is_auto_delete(struct server *s, const char *id);
/* Stop them all (at once) and wait for their threads. */
void serve_owned_stop_all(struct server *s);
