/* SPDX-License-Identifier: MIT */
/*
 * The non-detached boxes this server started (upstream's SDKs create such boxes): started
 * attached to the server, so that they die with it even when it is SIGKILLed (spec deviation 6),
 * each with a runtime handle of its own and a thread that waits for its PID 1; stopped all at
 * once on shutdown.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc-util.h"
#include "owned.h"
#include "strv.h"

/* ---- the boxes the server owns -----------------------------------------------------------------
 */

static void owned_free(struct owned_box *ob)
{
    if (!ob)
        return;
    boxlite_box_free(ob->box);
    boxlite_runtime_free(ob->rt);
    for (int i = 0; i < 3; i++)
        if (ob->stdio[i] >= 0)
            (void) close(ob->stdio[i]);
    if (ob->stdin_w >= 0)
        (void) close(ob->stdin_w);
    free(ob->id);
    free(ob);
}
BL_DEFINE_CLEANUP_FUNC(struct owned_box *, owned_free)

static void *owned_wait(void *arg)
{
    struct owned_box *ob = arg;
    struct server *s = ob->srv;
    int status = 0;
    boxlite_error *e = NULL;
    (void) boxlite_box_wait(ob->rt, ob->box, /* sigfd= */ -1, &status, &e);
    boxlite_error_free(e);
    s->boxes_stopped++;
    if (serve_owned_is_auto_delete(s, ob->id)) {
        e = NULL;
        if (boxlite_box_remove(ob->rt, ob->box, /* force= */ 1, &e) == 0)
            serve_owned_unmark_auto_delete(s, ob->id);
        boxlite_error_free(e);
    }
    pthread_mutex_lock(&s->owned_lock);
    for (struct owned_box **p = &s->owned; *p; p = &(*p)->next)
        if (*p == ob) {
            *p = ob->next;
            break;
        }
    pthread_cond_broadcast(&s->owned_cond);
    pthread_mutex_unlock(&s->owned_lock);
    owned_free(ob);
    return NULL;
}

/*
 * Start a non-detached box: attached to this process (it dies with the server, even a
 * SIGKILLed one, spec deviation 6), with a handle of its own that a thread waits with until
 * PID 1 exits. PID 1's stdin is a pipe that stays open, its output goes nowhere for now (the
 * attach route will own both).
 */
int serve_owned_start(struct server *s, const char *id, boxlite_error **err)
{
    _cleanup_(owned_freep) struct owned_box *ob = bl_calloc(1, sizeof(*ob));
    if (!ob)
        return -ENOMEM;
    ob->srv = s;
    ob->stdio[0] = ob->stdio[1] = ob->stdio[2] = ob->stdin_w = -1;
    int r = s->pool.open(&ob->rt, err);
    if (r < 0)
        return r;
    r = boxlite_box_lookup(ob->rt, id, &ob->box, err);
    if (r < 0)
        return r;
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    ob->stdio[0] = p[0];
    ob->stdin_w = p[1];
    ob->stdio[1] = open("/dev/null", O_WRONLY | O_CLOEXEC);
    ob->stdio[2] = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (ob->stdio[1] < 0 || ob->stdio[2] < 0)
        return -errno;
    int status = 0;
    r = boxlite_box_start(ob->rt, ob->box, ob->stdio, &status, err);
    if (r < 0)
        return r;
    ob->id = bl_strdup(boxlite_box_id(ob->box));
    pthread_attr_t attr;
    pthread_t th;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&s->owned_lock);
    r = ob->id ? pthread_create(&th, &attr, owned_wait, ob) : ENOMEM;
    if (r == 0) {
        ob->next = s->owned;
        s->owned = TAKE_PTR(ob);
    }
    pthread_mutex_unlock(&s->owned_lock);
    pthread_attr_destroy(&attr);
    if (r != 0) {
        /* nobody would wait for it: stop it now */
        (void) boxlite_box_stop(ob->rt, ob->box, 0, NULL);
        return -r;
    }
    return 0;
}

static void *stop_one(void *arg)
{
    struct owned_box *ob = arg; /* a copy: id and srv only */
    boxlite_runtime *rt = NULL;
    boxlite_box *box = NULL;
    if (rtpool_get(&ob->srv->pool, &rt, NULL) == 0) {
        if (boxlite_box_lookup(rt, ob->id, &box, NULL) == 0)
            (void) boxlite_box_stop(rt, box, /* grace_seconds= */ 10, NULL);
        boxlite_box_free(box);
        rtpool_put(&ob->srv->pool, rt);
    }
    return NULL;
}

void serve_owned_stop_all(struct server *s)
{
    /* stop them all at once (each may take its grace time), from handles of the pool: the
     * threads waiting for them then return */
    struct owned_box copies[64];
    pthread_t th[64];
    int started[64] = {0};
    size_t n = 0;
    pthread_mutex_lock(&s->owned_lock);
    for (struct owned_box *ob = s->owned; ob && n < ELEMENTSOF(copies); ob = ob->next)
        copies[n++] = (struct owned_box){.srv = s, .id = bl_strdup(ob->id)};
    pthread_mutex_unlock(&s->owned_lock);
    for (size_t i = 0; i < n; i++)
        started[i] = copies[i].id && pthread_create(&th[i], NULL, stop_one, &copies[i]) == 0;
    for (size_t i = 0; i < n; i++) {
        if (started[i])
            pthread_join(th[i], NULL);
        else if (copies[i].id)
            stop_one(&copies[i]);
        free(copies[i].id);
    }
    /* the waiting threads finish the stop (status, --rm); more than 64 boxes: stopped in
     * rounds */
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 30;
    pthread_mutex_lock(&s->owned_lock);
    while (s->owned && n < ELEMENTSOF(copies) &&
           pthread_cond_timedwait(&s->owned_cond, &s->owned_lock, &deadline) == 0)
        ;
    int more = s->owned != NULL && n == ELEMENTSOF(copies);
    pthread_mutex_unlock(&s->owned_lock);
    if (more)
        serve_owned_stop_all(s);
}

static struct owned_box *owned_find(struct server *s, const char *id)
{
    struct owned_box *ob = s->owned;
    while (ob && strcmp(ob->id, id) != 0)
        ob = ob->next;
    return ob;
}

int serve_owned_has(struct server *s, const char *id)
{
    pthread_mutex_lock(&s->owned_lock);
    int r = owned_find(s, id) != NULL;
    pthread_mutex_unlock(&s->owned_lock);
    return r;
}

/* After a stop or a removal: the thread waiting for an owned box finishes its stop (status,
 * exit code, --rm); wait for it (at most `secs`) so that the reply shows the result. */
void serve_owned_wait_gone(struct server *s, const char *id, int secs)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += secs;
    pthread_mutex_lock(&s->owned_lock);
    for (;;) {
        if (!owned_find(s, id) ||
            pthread_cond_timedwait(&s->owned_cond, &s->owned_lock, &deadline) != 0)
            break;
    }
    pthread_mutex_unlock(&s->owned_lock);
}

int serve_owned_mark_auto_delete(struct server *s, const char *id)
{
    pthread_mutex_lock(&s->owned_lock);
    int r = bl_strv_push(&s->auto_delete, id);
    pthread_mutex_unlock(&s->owned_lock);
    return r;
}

/* The index of `id` among the marks, or -1 (under owned_lock). */
static ssize_t auto_delete_find(struct server *s, const char *id)
{
    for (size_t i = 0; s->auto_delete && s->auto_delete[i]; i++)
        if (!strcmp(s->auto_delete[i], id))
            return (ssize_t) i;
    return -1;
}

void serve_owned_unmark_auto_delete(struct server *s, const char *id)
{
    pthread_mutex_lock(&s->owned_lock);
    ssize_t i = auto_delete_find(s, id);
    if (i >= 0) {
        free(s->auto_delete[i]);
        /* move the rest down, the NULL included */
        memmove(&s->auto_delete[i], &s->auto_delete[i + 1],
                (bl_strv_length(s->auto_delete + i + 1) + 1) * sizeof(char *));
    }
    pthread_mutex_unlock(&s->owned_lock);
}

int serve_owned_is_auto_delete(struct server *s, const char *id)
{
    pthread_mutex_lock(&s->owned_lock);
    int r = auto_delete_find(s, id) >= 0;
    pthread_mutex_unlock(&s->owned_lock);
    return r;
}
