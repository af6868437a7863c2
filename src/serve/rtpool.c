/* SPDX-License-Identifier: MIT */
/*
 * Runtime handles for requests. A handle is used by one thread at a time (runtime.h), and it
 * sees the home as it was when it was opened: only the open's recovery pass marks a detached
 * box whose shim has exited as stopped. So each request opens its own handle and frees it
 * afterwards (measured: ~0.7 ms more per request than reusing idle handles, which answered
 * "running" for boxes long gone; docs/design/serve.md). At most `max` are open at once; more
 * requests wait for one to be freed.
 */
#include <errno.h>
#include <stdlib.h>

#include "rtpool.h"

int rtpool_init(struct rtpool *p, size_t max, int (*open)(boxlite_runtime **, boxlite_error **),
                boxlite_runtime *first)
{
    *p = (struct rtpool){.max = max, .open = open};
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->inited = 1;
    /* the handle the CLI opened (recovery ran) is not kept: it would go stale */
    boxlite_runtime_free(first);
    return 0;
}

int rtpool_get(struct rtpool *p, boxlite_runtime **ret, boxlite_error **err)
{
    pthread_mutex_lock(&p->lock);
    while (p->n_open >= p->max)
        pthread_cond_wait(&p->cond, &p->lock);
    p->n_open++;
    pthread_mutex_unlock(&p->lock);
    boxlite_runtime *rt = NULL;
    int r = p->open(&rt, err);
    if (r < 0) {
        rtpool_put(p, NULL);
        return r;
    }
    *ret = rt;
    return 0;
}

void rtpool_put(struct rtpool *p, boxlite_runtime *rt)
{
    boxlite_runtime_free(rt);
    pthread_mutex_lock(&p->lock);
    p->n_open--;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

void rtpool_done(struct rtpool *p)
{
    if (!p->inited)
        return;
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    p->inited = 0;
}
