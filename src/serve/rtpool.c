/* SPDX-License-Identifier: MIT */
/*
 * The runtime pool: a runtime handle is used by one thread at a time (runtime.h), and opening
 * one per request would run the home's recovery each time. Requests take an idle handle, or
 * open one while fewer than `max` exist, else wait for one to come back.
 */
#include <errno.h>
#include <stdlib.h>

#include "alloc-util.h"
#include "server.h"

int rtpool_init(struct rtpool *p, size_t max, int (*open)(boxlite_runtime **, boxlite_error **),
                boxlite_runtime *first)
{
    *p = (struct rtpool){.max = max, .open = open};
    p->idle = bl_calloc(max, sizeof(*p->idle));
    if (!p->idle)
        return -ENOMEM;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->idle[p->n_idle++] = first;
    p->n_open = 1;
    return 0;
}

int rtpool_get(struct rtpool *p, boxlite_runtime **ret, boxlite_error **err)
{
    pthread_mutex_lock(&p->lock);
    while (p->n_idle == 0 && p->n_open >= p->max)
        pthread_cond_wait(&p->cond, &p->lock);
    if (p->n_idle > 0) {
        *ret = p->idle[--p->n_idle];
        pthread_mutex_unlock(&p->lock);
        return 0;
    }
    p->n_open++;
    pthread_mutex_unlock(&p->lock);
    boxlite_runtime *rt = NULL;
    int r = p->open(&rt, err);
    if (r < 0) {
        pthread_mutex_lock(&p->lock);
        p->n_open--;
        pthread_cond_signal(&p->cond);
        pthread_mutex_unlock(&p->lock);
        return r;
    }
    *ret = rt;
    return 0;
}

void rtpool_put(struct rtpool *p, boxlite_runtime *rt)
{
    if (!rt)
        return;
    pthread_mutex_lock(&p->lock);
    p->idle[p->n_idle++] = rt;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

void rtpool_done(struct rtpool *p)
{
    if (!p->idle)
        return;
    for (size_t i = 0; i < p->n_idle; i++)
        boxlite_runtime_free(p->idle[i]);
    free(p->idle);
    p->idle = NULL;
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
}
