/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for unpack-pool.c, the threads that unpack layers into a staging directory while
 * a load or pull goes on. Layers are small tars built in memory, staged as B<hex> the way the
 * blob sink leaves them (or put in the store's blob directory, for a layer the store has).
 * Covered: several layers unpacked in parallel, each into L<diff hex> with its diff_id checked;
 * layers queued while others run, a diff_id queued twice, the capacity; one failing layer
 * among good ones (wrong diff_id, missing blob, not a tar): finish() reports the first failure
 * with its message, the others still finish, and freeing the pool (finished or not) leaves no
 * thread, fd or allocation behind, and the stage goes with its owner; and (in fault-injection
 * builds) a torture loop that fails each fault point in turn with the same checks.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "../lib/tap.h"
#include "alloc-util.h"
#include "boxlite/runtime.h"
#include "digest.h"
#include "fault.h"
#include "fs-util.h"
#include "image-store.h"
#include "runtime.h"
#include "unpack-pool.h"

#define N_LAYERS 6

/* A layer: its tar (one file "f<i>" holding "layer <i>", plus a directory), digests. */
struct layer {
    char tar[16384];
    size_t len;
    struct bl_new_layer nl;
};

static void layer_build(struct layer *l, int i)
{
    struct archive *a = archive_write_new();
    ASSERT_NOT_NULL(a);
    ASSERT_EQ(archive_write_set_format(a, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED), ARCHIVE_OK);
    ASSERT_EQ(archive_write_set_bytes_per_block(a, 512), ARCHIVE_OK);
    ASSERT_EQ(archive_write_open_memory(a, l->tar, sizeof(l->tar), &l->len), ARCHIVE_OK);
    char name[32], data[32];
    (void) snprintf(name, sizeof(name), "d%d/f%d", i, i);
    (void) snprintf(data, sizeof(data), "layer %d", i);
    struct archive_entry *e = archive_entry_new();
    ASSERT_NOT_NULL(e);
    archive_entry_copy_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t) strlen(data));
    archive_entry_set_mtime(e, 1500000000, 0);
    ASSERT_TRUE(archive_write_header(a, e) >= ARCHIVE_WARN);
    ASSERT_EQ(archive_write_data(a, data, strlen(data)), strlen(data));
    archive_entry_free(e);
    ASSERT_EQ(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    l->nl = (struct bl_new_layer){.media_type = "application/vnd.oci.image.layer.v1.tar",
                                  .size = l->len};
    /* uncompressed: the blob digest is the diff_id */
    ASSERT_OK(bl_sha256_buf(l->tar, l->len, l->nl.blob_digest));
    memcpy(l->nl.diff_id, l->nl.blob_digest, sizeof(l->nl.diff_id));
}

static int write_file(int dir_fd, const char *name, const void *data, size_t len)
{
    int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int r = write(fd, data, len) == (ssize_t) len ? 0 : -EIO;
    (void) close(fd);
    return r;
}

/* Stage the layer's blob as B<hex>, as the blob sink leaves it. */
static int stage_blob(int stage_fd, const struct layer *l)
{
    char name[80];
    (void) snprintf(name, sizeof(name), "B%s", bl_digest_hex(l->nl.blob_digest));
    return write_file(stage_fd, name, l->tar, l->len);
}

/* Did the layer land in L<diff hex> with its file? */
static int unpacked(int stage_fd, const struct layer *l, int i)
{
    char path[160], want[32], got[32] = "";
    (void) snprintf(path, sizeof(path), "L%s/d%d/f%d", bl_digest_hex(l->nl.diff_id), i, i);
    (void) snprintf(want, sizeof(want), "layer %d", i);
    int fd = openat(stage_fd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, got, sizeof(got) - 1);
    (void) close(fd);
    return n == (ssize_t) strlen(want) && !memcmp(got, want, (size_t) n);
}

/* Threads of this process (the harness runs each test in a single-threaded child). */
static int n_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    ASSERT_NOT_NULL(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    (void) closedir(d);
    return n;
}

static boxlite_runtime *open_rt(const char *home, bl_error **err)
{
    boxlite_runtime_opts o;
    boxlite_runtime_opts_init(&o);
    o.home = home;
    boxlite_runtime *rt = NULL;
    if (boxlite_runtime_open(&o, &rt, err) < 0)
        return NULL;
    return rt;
}

struct world {
    char *home;
    boxlite_runtime *rt;
    struct bl_stage stage;
    struct layer layers[N_LAYERS];
};

static void world_done(struct world *w)
{
    bl_stage_done(&w->stage);
    boxlite_runtime_free(w->rt);
    free(w->home);
}

static void world_init(struct world *w)
{
    *w = (struct world){.stage = BL_STAGE_NULL};
    ASSERT_TRUE(asprintf(&w->home, "%s/home", tap_tmpdir()) > 0);
    w->rt = open_rt(w->home, &tap_last_err);
    ASSERT_NOT_NULL(w->rt);
    ASSERT_OK(bl_stage_new(w->rt, "test", &w->stage, &tap_last_err));
    for (int i = 0; i < N_LAYERS; i++)
        layer_build(&w->layers[i], i);
}

/* Entries under <home>/tmp: staging directories left behind. */
static int tmp_entries(const char *home)
{
    char path[4200];
    (void) snprintf(path, sizeof(path), "%s/tmp", home);
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..") ? 1 : 0;
    (void) closedir(d);
    return n;
}

TEST(layers_in_parallel)
{
    _cleanup_(world_done) struct world w = {.stage = BL_STAGE_NULL};
    world_init(&w);
    for (int i = 0; i < N_LAYERS; i++)
        ASSERT_OK(stage_blob(w.stage.fd, &w.layers[i]));
    {
        _cleanup_(bl_unpack_pool_freep) struct bl_unpack_pool *pool = NULL;
        ASSERT_OK(bl_unpack_pool_new(w.rt, w.stage.fd, N_LAYERS, &pool, &tap_last_err));
        ASSERT_TRUE(bl_unpack_pool_idle(pool)); /* nothing queued */
        for (int i = 0; i < N_LAYERS; i++)
            ASSERT_EQ(bl_unpack_pool_add(pool, &w.layers[i].nl, &tap_last_err), i);
        /* a thread per queued layer, up to one per CPU; they stay until finish() */
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        ASSERT_EQ(n_threads(), 1 + MIN(MAX(cpus, 1L), N_LAYERS));
        ASSERT_OK(bl_unpack_pool_finish(pool, &tap_last_err));
        ASSERT_TRUE(bl_unpack_pool_idle(pool));
        for (int i = 0; i < N_LAYERS; i++) {
            ASSERT_EQ(bl_unpack_pool_state(pool, (size_t) i), BL_UNPACK_DONE);
            ASSERT_TRUE(unpacked(w.stage.fd, &w.layers[i], i));
        }
        ASSERT_EQ(bl_unpack_pool_state(pool, N_LAYERS), BL_UNPACK_FAILED); /* no such job */
    }
    ASSERT_EQ(n_threads(), 1);
}

/* A pull queues each layer as its download ends, and polls for progress meanwhile. */
TEST(queued_while_running)
{
    _cleanup_(world_done) struct world w = {.stage = BL_STAGE_NULL};
    world_init(&w);
    _cleanup_(bl_unpack_pool_freep) struct bl_unpack_pool *pool = NULL;
    ASSERT_OK(bl_unpack_pool_new(w.rt, w.stage.fd, 3, &pool, &tap_last_err));
    ASSERT_OK(stage_blob(w.stage.fd, &w.layers[0]));
    ASSERT_EQ(bl_unpack_pool_add(pool, &w.layers[0].nl, &tap_last_err), 0);
    for (int waited = 0; !bl_unpack_pool_idle(pool); waited++) {
        ASSERT_TRUE(waited < 1000);
        bl_unpack_pool_wait(pool, 10);
    }
    ASSERT_EQ(bl_unpack_pool_state(pool, 0), BL_UNPACK_DONE);
    ASSERT_TRUE(unpacked(w.stage.fd, &w.layers[0], 0));
    ASSERT_OK(stage_blob(w.stage.fd, &w.layers[1]));
    ASSERT_EQ(bl_unpack_pool_add(pool, &w.layers[1].nl, &tap_last_err), 1);
    /* the same diff_id again (a layer shared by two images): the job it already has */
    ASSERT_EQ(bl_unpack_pool_add(pool, &w.layers[1].nl, &tap_last_err), 1);
    ASSERT_EQ(bl_unpack_pool_add(pool, &w.layers[0].nl, &tap_last_err), 0);
    ASSERT_OK(stage_blob(w.stage.fd, &w.layers[2]));
    ASSERT_EQ(bl_unpack_pool_add(pool, &w.layers[2].nl, &tap_last_err), 2);
    _cleanup_(bl_error_freep) bl_error *e = NULL;
    ASSERT_ERR(bl_unpack_pool_add(pool, &w.layers[3].nl, &e), -ENOSPC); /* past capacity */
    ASSERT_OK(bl_unpack_pool_finish(pool, &tap_last_err));
    for (int i = 0; i < 3; i++)
        ASSERT_TRUE(unpacked(w.stage.fd, &w.layers[i], i));
}

/* A layer the store has (downloaded before, not unpacked) is read from the store. */
TEST(blob_from_store)
{
    _cleanup_(world_done) struct world w = {.stage = BL_STAGE_NULL};
    world_init(&w);
    ASSERT_OK(write_file(w.rt->blobs_fd, bl_digest_hex(w.layers[0].nl.blob_digest), w.layers[0].tar,
                         w.layers[0].len));
    _cleanup_(bl_unpack_pool_freep) struct bl_unpack_pool *pool = NULL;
    ASSERT_OK(bl_unpack_pool_new(w.rt, w.stage.fd, 1, &pool, &tap_last_err));
    ASSERT_EQ(bl_unpack_pool_add(pool, &w.layers[0].nl, &tap_last_err), 0);
    ASSERT_OK(bl_unpack_pool_finish(pool, &tap_last_err));
    ASSERT_TRUE(unpacked(w.stage.fd, &w.layers[0], 0));
}

enum { BAD_DIFF_ID, BAD_MISSING, BAD_NOT_TAR };

/* Layers 0..N-1 with layer `bad` broken in the given way: finish() fails with `expect` and a
 * message holding `msg`; everything is released. */
static void one_fails(int how, int bad, int expect, const char *msg)
{
    _cleanup_(world_done) struct world w = {.stage = BL_STAGE_NULL};
    world_init(&w);
    char expect_diff[BL_DIGEST_STR_LEN + 1];
    memcpy(expect_diff, w.layers[bad].nl.diff_id, sizeof(expect_diff));
    for (int i = 0; i < N_LAYERS; i++) {
        if (i == bad && how == BAD_MISSING)
            continue;
        if (i == bad && how == BAD_NOT_TAR) {
            char name[80];
            (void) snprintf(name, sizeof(name), "B%s", bl_digest_hex(w.layers[i].nl.blob_digest));
            ASSERT_OK(write_file(w.stage.fd, name, "this is not a tar archive at all", 32));
            continue;
        }
        ASSERT_OK(stage_blob(w.stage.fd, &w.layers[i]));
    }
    if (how == BAD_DIFF_ID) /* the config claims another diff_id */
        ASSERT_OK(bl_sha256_buf("another", 7, w.layers[bad].nl.diff_id));
    {
        _cleanup_(bl_unpack_pool_freep) struct bl_unpack_pool *pool = NULL;
        _cleanup_(bl_error_freep) bl_error *e = NULL;
        ASSERT_OK(bl_unpack_pool_new(w.rt, w.stage.fd, N_LAYERS, &pool, &tap_last_err));
        for (int i = 0; i < N_LAYERS; i++)
            ASSERT_EQ(bl_unpack_pool_add(pool, &w.layers[i].nl, &tap_last_err), i);
        ASSERT_ERR(bl_unpack_pool_finish(pool, &e), expect);
        ASSERT_NOT_NULL(e);
        ASSERT_EQ(e->code, expect);
        if (!strstr(e->msg, msg) || !strstr(e->msg, w.layers[bad].nl.blob_digest))
            tap_fail(__FILE__, __LINE__, "unexpected message: %s", e->msg);
        for (int i = 0; i < N_LAYERS; i++) { /* the others still finish */
            ASSERT_EQ(bl_unpack_pool_state(pool, (size_t) i),
                      i == bad ? BL_UNPACK_FAILED : BL_UNPACK_DONE);
            if (i != bad)
                ASSERT_TRUE(unpacked(w.stage.fd, &w.layers[i], i));
        }
    }
    ASSERT_EQ(n_threads(), 1);
    /* the stage, with the failed layer's partial directory, goes with its owner */
    bl_stage_done(&w.stage);
    ASSERT_EQ(tmp_entries(w.home), 0);
}

TEST(one_fails_diff_id)
{
    one_fails(BAD_DIFF_ID, 2, -EBADMSG, "the image config says");
}

TEST(one_fails_missing_blob)
{
    one_fails(BAD_MISSING, 0, -ENOENT, "is missing");
}

TEST(one_fails_not_tar)
{
    one_fails(BAD_NOT_TAR, N_LAYERS - 1, -EINVAL, "layer ");
}

/* Two failures: finish() reports the first layer's, whichever thread failed first. */
TEST(first_failure_wins)
{
    _cleanup_(world_done) struct world w = {.stage = BL_STAGE_NULL};
    world_init(&w);
    for (int i = 2; i < N_LAYERS; i++)
        ASSERT_OK(stage_blob(w.stage.fd, &w.layers[i]));
    _cleanup_(bl_unpack_pool_freep) struct bl_unpack_pool *pool = NULL;
    _cleanup_(bl_error_freep) bl_error *e = NULL;
    ASSERT_OK(bl_unpack_pool_new(w.rt, w.stage.fd, N_LAYERS, &pool, &tap_last_err));
    for (int i = N_LAYERS - 1; i >= 0; i--) /* 0 and 1 (missing) queued last */
        ASSERT_OK(bl_unpack_pool_add(pool, &w.layers[i].nl, &tap_last_err));
    ASSERT_ERR(bl_unpack_pool_finish(pool, &e), -ENOENT);
    /* job indexes follow the order of queueing: layer 1 was queued before layer 0 */
    ASSERT_TRUE(strstr(e->msg, w.layers[1].nl.blob_digest) != NULL);
}

/* An owner that gives up early (a download failed) frees the pool without finishing it. */
TEST(free_without_finish)
{
    _cleanup_(world_done) struct world w = {.stage = BL_STAGE_NULL};
    world_init(&w);
    for (int i = 0; i < N_LAYERS; i++)
        ASSERT_OK(stage_blob(w.stage.fd, &w.layers[i]));
    struct bl_unpack_pool *pool = NULL;
    ASSERT_OK(bl_unpack_pool_new(w.rt, w.stage.fd, N_LAYERS, &pool, &tap_last_err));
    for (int i = 0; i < N_LAYERS; i++)
        ASSERT_OK(bl_unpack_pool_add(pool, &w.layers[i].nl, &tap_last_err));
    bl_unpack_pool_free(pool); /* drops what has not started, joins what runs */
    bl_unpack_pool_free(NULL);
    ASSERT_EQ(n_threads(), 1);
    bl_stage_done(&w.stage);
    ASSERT_EQ(tmp_entries(w.home), 0);
}

#ifdef BL_FAULT_INJECTION
enum { RUN_CLEAN = 0, RUN_BUG = 1, RUN_FAILED = 2, RUN_SETUP = 3 };

/* Unpack four layers, one of them from the store. */
static int run_pool(struct world *w, bl_error **err)
{
    for (int i = 0; i < 4; i++) {
        layer_build(&w->layers[i], i);
        int r = i == 3 ? write_file(w->rt->blobs_fd, bl_digest_hex(w->layers[i].nl.blob_digest),
                                    w->layers[i].tar, w->layers[i].len)
                       : stage_blob(w->stage.fd, &w->layers[i]);
        if (r < 0)
            return bl_err(err, r, "cannot stage the test layers");
    }
    _cleanup_(bl_unpack_pool_freep) struct bl_unpack_pool *pool = NULL;
    int r = bl_unpack_pool_new(w->rt, w->stage.fd, 4, &pool, err);
    for (int i = 0; r >= 0 && i < 4; i++)
        r = bl_unpack_pool_add(pool, &w->layers[i].nl, err);
    if (r >= 0)
        r = bl_unpack_pool_finish(pool, err);
    for (int i = 0; r >= 0 && i < 4; i++)
        if (!unpacked(w->stage.fd, &w->layers[i], i))
            r = bl_err(err, -EIO, "layer %d was not unpacked", i);
    return r;
}

/* In a child with BL_FAULT=n. RUN_SETUP when the fault hit the runtime or the stage. */
static int torture_run(const char *home, unsigned long n)
{
    int fds = tap_open_fds();
    bl_error *e = NULL;
    struct world w = {.stage = BL_STAGE_NULL};
    int res = RUN_SETUP;
    w.rt = open_rt(home, &e);
    int r = w.rt ? bl_stage_new(w.rt, "test", &w.stage, &e) : -1;
    if (r >= 0 && bl_fault_count() < n) {
        r = run_pool(&w, &e);
        if (r < 0)
            res = e && e->code == r ? RUN_FAILED : RUN_BUG;
        else
            res = bl_fault_count() < n && !e ? RUN_CLEAN : RUN_BUG;
        if (n_threads() != 1)
            res = RUN_BUG;
    }
    bl_stage_done(&w.stage);
    boxlite_runtime_free(w.rt);
    bl_error_free(e);
    if (tap_open_fds() != fds || tmp_entries(home) > 0)
        res = RUN_BUG;
    return res;
}
#endif

TEST(fault_torture)
{
#ifndef BL_FAULT_INJECTION
    SKIP("fault injection is not compiled in (BUILD=debug or BUILD=asan)");
#else
    _cleanup_free_ char *home = NULL;
    ASSERT_TRUE(asprintf(&home, "%s/home", tap_tmpdir()) > 0);
    unsigned long failed = 0;
    for (unsigned long n = 1;; n++) {
        ASSERT_TRUE(n < 3000);
        (void) bl_rm_rf_at(AT_FDCWD, home);
        fflush(stdout);
        pid_t pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
            char num[32];
            (void) snprintf(num, sizeof(num), "%lu", n);
            (void) setenv("BL_FAULT", num, 1);
            exit(torture_run(home, n)); /* exit, not _exit: LeakSanitizer runs at exit */
        }
        int status = 0;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) == RUN_BUG)
            tap_fail(__FILE__, __LINE__, "BL_FAULT=%lu: status 0x%x", n, (unsigned) status);
        failed += WEXITSTATUS(status) == RUN_FAILED;
        if (WEXITSTATUS(status) == RUN_CLEAN) {
            ASSERT_TRUE(failed > 5); /* the pool's fault points were exercised */
            printf("# %lu fault points, %lu of them in the pool, failed cleanly\n", n - 1, failed);
            break;
        }
    }
#endif
}

TAP_MAIN(T(layers_in_parallel), T(queued_while_running), T(blob_from_store), T(one_fails_diff_id),
         T(one_fails_missing_blob), T(one_fails_not_tar), T(first_failure_wins),
         T(free_without_finish), T(fault_torture))
