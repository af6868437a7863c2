/* SPDX-License-Identifier: MIT */
/* Runtime handles for the requests of `boxlite serve` (rtpool.c). */
#pragma once

#include <pthread.h>
#include <stddef.h>

#include "boxlite/boxlite.h"

/* Runtime handles for requests (rtpool.c): one opened per request, at most `max` at once. */
struct rtpool {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    size_t n_open, max;
    int inited;
    int (*open)(boxlite_runtime **ret, boxlite_error **err);
};

/* The runtime handles (rtpool.c): init consumes `first`; get opens one (waiting while `max`
 * are open), put frees it. */
int rtpool_init(struct rtpool *p, size_t max, int (*open)(boxlite_runtime **, boxlite_error **),
                boxlite_runtime *first);
int rtpool_get(struct rtpool *p, boxlite_runtime **ret, boxlite_error **err);
void rtpool_put(struct rtpool *p, boxlite_runtime *rt);
void rtpool_done(struct rtpool *p);
