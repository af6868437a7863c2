/* SPDX-License-Identifier: MIT */
/* Unpacking layers in parallel, on threads started on demand (see unpack-pool.h). */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "alloc-util.h"
#include "idmap.h"
#include "image-store.h"
#include "layer-unpack.h"
#include "unpack-pool.h"

struct unpack_job {
    const struct bl_new_layer *layer; /* borrowed */
    int state;                        /* BL_UNPACK_* */
    bl_error *err;
    int r;
};

struct bl_unpack_pool {
    struct boxlite_runtime *rt;
    int stage_fd; /* borrowed */
    pthread_mutex_t lock;
    pthread_cond_t work;    /* a job was queued, or the pool is closing */
    pthread_cond_t changed; /* a job finished */
    struct unpack_job *jobs;
    size_t n, capacity;
    size_t next;     /* first job not started */
    size_t finished; /* jobs done or failed */
    int closing;     /* no more jobs: threads leave once the queue is empty */
    int cancel;      /* leave now, dropping jobs not started */
    pthread_t threads[64];
    size_t n_threads, max_threads;
};

/* The blob of a layer: staged as B<hex>, else in the store. */
static int open_layer_blob(struct boxlite_runtime *rt, int stage_fd, const char *digest,
                           bl_error **err)
{
    char n[80];
    snprintf(n, sizeof(n), "B%s", bl_digest_hex(digest));
    int fd = openat(stage_fd, n, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 || errno != ENOENT)
        return fd >= 0 ? fd : bl_err_errno(err, "cannot open staged blob %s", digest);
    if (!bl_store_has_blob(rt, digest))
        return bl_err(err, -ENOENT, "layer blob %s is missing", digest);
    return bl_store_open_blob(rt, digest, err);
}

static int unpack_one(struct boxlite_runtime *rt, int stage_fd, const struct bl_new_layer *l,
                      bl_error **err)
{
    _cleanup_close_ int bfd = open_layer_blob(rt, stage_fd, l->blob_digest, err);
    if (bfd < 0)
        return bfd;
    char dir[80];
    snprintf(dir, sizeof(dir), "L%s", bl_digest_hex(l->diff_id));
    if (mkdirat(stage_fd, dir, 0755) < 0)
        return bl_err_errno(err, "cannot create layer directory");
    _cleanup_close_ int dfd = openat(stage_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return bl_err_errno(err, "cannot open layer directory");
    /* with a subordinate id range, the owners the user cannot set are applied afterwards */
    _cleanup_close_ int owners_fd = -1;
    if (rt->idmap.range) {
        owners_fd = memfd_create("boxlite-owners", MFD_CLOEXEC);
        if (owners_fd < 0)
            return bl_err_errno(err, "cannot create the owner records");
    }
    char got[BL_DIGEST_STR_LEN + 1];
    int r = bl_layer_unpack(bfd, dfd, got, NULL, owners_fd, err);
    if (r < 0)
        return bl_err_prefix(err, r, "layer %s", l->blob_digest);
    if (strcmp(got, l->diff_id) != 0)
        return bl_err(err, -EBADMSG, "layer %s: content is %s, the image config says %s",
                      l->blob_digest, got, l->diff_id);
    r = bl_idmap_chown(rt, dfd, owners_fd, err);
    if (r < 0)
        return bl_err_prefix(err, r, "layer %s", l->blob_digest);
    return 0;
}

static void *pool_worker(void *arg)
{
    struct bl_unpack_pool *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (p->next >= p->n && !p->closing && !p->cancel)
            pthread_cond_wait(&p->work, &p->lock);
        if (p->cancel || p->next >= p->n)
            break;
        struct unpack_job *j = &p->jobs[p->next++];
        j->state = BL_UNPACK_RUNNING;
        pthread_cond_broadcast(&p->changed);
        pthread_mutex_unlock(&p->lock);
        bl_error *e = NULL;
        int r = unpack_one(p->rt, p->stage_fd, j->layer, &e);
        pthread_mutex_lock(&p->lock);
        j->r = r;
        j->err = e;
        j->state = r < 0 ? BL_UNPACK_FAILED : BL_UNPACK_DONE;
        p->finished++;
        pthread_cond_broadcast(&p->changed);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int bl_unpack_pool_new(struct boxlite_runtime *rt, int stage_fd, size_t capacity,
                       struct bl_unpack_pool **ret, bl_error **err)
{
    struct bl_unpack_pool *p = bl_calloc(1, sizeof(*p));
    if (!p)
        return bl_oom(err);
    p->jobs = bl_calloc(capacity ? capacity : 1, sizeof(*p->jobs));
    if (!p->jobs) {
        free(p);
        return bl_oom(err);
    }
    p->rt = rt;
    p->stage_fd = stage_fd;
    p->capacity = capacity;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    p->max_threads = (size_t) MIN(MAX(cpus, 1L), (long) ELEMENTSOF(p->threads));
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->changed, NULL);
    *ret = p;
    return 0;
}

int bl_unpack_pool_add(struct bl_unpack_pool *p, const struct bl_new_layer *layer, bl_error **err)
{
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->jobs[i].layer->diff_id, layer->diff_id)) {
            pthread_mutex_unlock(&p->lock);
            return (int) i;
        }
    if (p->n >= p->capacity) {
        pthread_mutex_unlock(&p->lock);
        return bl_err(err, -ENOSPC, "too many layers to unpack");
    }
    size_t idx = p->n++;
    p->jobs[idx] = (struct unpack_job){.layer = layer, .state = BL_UNPACK_QUEUED};
    /* one more thread while there is queued work no thread is free for; a failed
     * pthread_create only means less parallelism: finish() runs what is left */
    if (p->n_threads < p->max_threads && p->n - p->next > 0 &&
        pthread_create(&p->threads[p->n_threads], NULL, pool_worker, p) == 0)
        p->n_threads++;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->lock);
    return (int) idx;
}

int bl_unpack_pool_state(struct bl_unpack_pool *p, size_t job)
{
    pthread_mutex_lock(&p->lock);
    int s = job < p->n ? p->jobs[job].state : BL_UNPACK_FAILED;
    pthread_mutex_unlock(&p->lock);
    return s;
}

int bl_unpack_pool_idle(struct bl_unpack_pool *p)
{
    pthread_mutex_lock(&p->lock);
    int idle = p->finished == p->n;
    pthread_mutex_unlock(&p->lock);
    return idle;
}

void bl_unpack_pool_wait(struct bl_unpack_pool *p, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->lock);
    if (p->finished < p->n)
        (void) pthread_cond_timedwait(&p->changed, &p->lock, &ts);
    pthread_mutex_unlock(&p->lock);
}

static void pool_join(struct bl_unpack_pool *p)
{
    pthread_mutex_lock(&p->lock);
    p->closing = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lock);
    for (size_t t = 0; t < p->n_threads; t++)
        (void) pthread_join(p->threads[t], NULL);
    p->n_threads = 0;
}

int bl_unpack_pool_finish(struct bl_unpack_pool *p, bl_error **err)
{
    pthread_mutex_lock(&p->lock);
    p->closing = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lock);
    if (p->n_threads < p->max_threads)
        pool_worker(p); /* help; this also does everything if no thread could be started */
    pool_join(p);
    for (size_t i = 0; i < p->n; i++)
        if (p->jobs[i].r < 0) {
            if (err && !*err)
                *err = TAKE_PTR(p->jobs[i].err);
            return p->jobs[i].r;
        }
    return 0;
}

void bl_unpack_pool_free(struct bl_unpack_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->cancel = 1;
    pthread_mutex_unlock(&p->lock);
    pool_join(p);
    for (size_t i = 0; i < p->n; i++)
        bl_error_free(p->jobs[i].err);
    free(p->jobs);
    pthread_cond_destroy(&p->changed);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
