/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for box-recover.c on fabricated dead-box state, without a shim: a box marked
 * running whose shim is gone becomes stopped with the exit code of its exit.json (or keeps its
 * own); a box whose shim.lock or lock is held is left alone; a stale --rm box is deleted, a
 * configured one kept; the staging directory of a killed creator goes, with the box directory
 * no row names; and bl_box_reap_cgroups() of a box without cgroups has nothing left.
 */
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <pthread.h>
#include <stdatomic.h>

#include "../lib/tap.h"
#include "alloc-util.h"
#include "box-create.h"
#include "box-internal.h"
#include "box-records.h"
#include "box-recover.h"
#include "fs-util.h"
#include "runtime.h"

/* A box from a fresh root directory; its handle (holding the box's lock) is released. */
static void make_box(boxlite_runtime *rt, int auto_remove, char id[13])
{
    static int n;
    char name[32];
    (void) snprintf(name, sizeof(name), "rootfs%d", n++);
    _cleanup_free_ char *root = tap_tmp_path(name);
    ASSERT_OK(mkdir(root, 0755));
    boxlite_box_opts o;
    boxlite_box_opts_init(&o);
    o.rootfs = root;
    o.auto_remove = auto_remove;
    o.network = "disabled";
    struct boxlite_box *b = NULL;
    ASSERT_OK(bl_box_create(rt, &o, NULL, &b, &tap_last_err));
    memcpy(id, b->id, 13);
    bl_box_free(b);
}

static struct boxlite_box *get(boxlite_runtime *rt, const char *id)
{
    boxlite_box *b = NULL;
    ASSERT_OK(boxlite_box_lookup(rt, id, &b, &tap_last_err));
    return b;
}

static int box_dir(boxlite_runtime *rt, const char *id)
{
    return openat(rt->boxes_fd, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void put_file(int dir_fd, const char *name, const char *content)
{
    ASSERT_OK(bl_write_file_atomic_at(dir_fd, name, content, strlen(content), 0600, &tap_last_err));
}

static void gone(boxlite_runtime *rt, const char *id)
{
    boxlite_box *b = NULL;
    ASSERT_ERR(boxlite_box_lookup(rt, id, &b, NULL), -ENOENT);
    ASSERT_TRUE(faccessat(rt->boxes_fd, id, F_OK, AT_SYMLINK_NOFOLLOW) < 0);
}

TEST(running_box_whose_shim_died)
{
    boxlite_runtime *rt = tap_open_runtime();
    char a[13], z[13];
    make_box(rt, 0, a);
    make_box(rt, 0, z);
    struct boxlite_box *b = get(rt, a);
    ASSERT_OK(bl_box_set_status(rt, b, "running", 4242, 0, 0, &tap_last_err));
    put_file(b->dir_fd, "exit.json", "{\"exit_code\": 7}\n");
    put_file(b->dir_fd, "shim.pid", "4242\n");
    put_file(b->dir_fd, "shim.sock", "");
    bl_box_free(b);
    /* z: killed before its shim wrote exit.json: the last exit code stays */
    b = get(rt, z);
    ASSERT_OK(bl_box_set_status(rt, b, "stopped", 0, 3, 1, &tap_last_err));
    ASSERT_OK(bl_box_set_status(rt, b, "running", 4243, 0, 0, &tap_last_err));
    bl_box_free(b);

    bl_box_recover(rt);

    b = get(rt, a);
    ASSERT_STREQ(boxlite_box_status(b), "stopped");
    ASSERT_EQ(boxlite_box_exit_code(b), 7);
    ASSERT_EQ(boxlite_box_pid(b), 0);
    ASSERT_TRUE(faccessat(b->dir_fd, "shim.pid", F_OK, 0) < 0);
    ASSERT_TRUE(faccessat(b->dir_fd, "shim.sock", F_OK, 0) < 0);
    ASSERT_EQ(faccessat(b->dir_fd, "exit.json", F_OK, 0), 0);
    bl_box_free(b);
    b = get(rt, z);
    ASSERT_STREQ(boxlite_box_status(b), "stopped");
    ASSERT_EQ(boxlite_box_exit_code(b), 3);
    bl_box_free(b);
    boxlite_runtime_free(rt);
}

TEST(live_boxes_are_left_alone)
{
    boxlite_runtime *rt = tap_open_runtime();
    char a[13], r[13];
    make_box(rt, 0, a);
    make_box(rt, 1, r);
    struct boxlite_box *b = get(rt, a);
    ASSERT_OK(bl_box_set_status(rt, b, "running", 4242, 0, 0, &tap_last_err));
    /* a shim holds shim.lock (an OFD lock: another open file of ours conflicts as well) */
    int shim_lock = openat(b->dir_fd, "shim.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_TRUE(shim_lock >= 0);
    ASSERT_OK(bl_ofd_lock(shim_lock, F_WRLCK, false));
    ASSERT_EQ(bl_shim_lock_held(b->dir_fd), 1);
    bl_box_free(b);
    /* an attached client holds the --rm box's lock */
    int dfd = box_dir(rt, r);
    ASSERT_TRUE(dfd >= 0);
    int lock = openat(dfd, "lock", O_RDWR | O_CLOEXEC);
    ASSERT_TRUE(lock >= 0);
    ASSERT_OK(flock(lock, LOCK_EX));

    bl_box_recover(rt);

    b = get(rt, a);
    ASSERT_STREQ(boxlite_box_status(b), "running");
    ASSERT_EQ(boxlite_box_pid(b), 4242);
    bl_box_free(b);
    b = get(rt, r);
    ASSERT_STREQ(boxlite_box_status(b), "configured");
    bl_box_free(b);

    /* the holders die: the next pass repairs both */
    (void) close(shim_lock);
    (void) close(lock);
    bl_box_recover(rt);
    b = get(rt, a);
    ASSERT_STREQ(boxlite_box_status(b), "stopped");
    bl_box_free(b);
    gone(rt, r);
    ASSERT_EQ(bl_lock_held(dfd, "lock"), 0);
    ASSERT_EQ(bl_lock_held(dfd, "no-such-file"), 0);
    (void) close(dfd);
    boxlite_runtime_free(rt);
}

TEST(stale_auto_remove_goes_configured_stays)
{
    boxlite_runtime *rt = tap_open_runtime();
    char keep[13], rm[13];
    make_box(rt, 0, keep);
    make_box(rt, 1, rm);
    bl_box_recover(rt);
    struct boxlite_box *b = get(rt, keep);
    ASSERT_STREQ(boxlite_box_status(b), "configured");
    bl_box_free(b);
    gone(rt, rm);
    /* a stopped --rm box (its client died before removing it) goes too */
    make_box(rt, 1, rm);
    b = get(rt, rm);
    ASSERT_OK(bl_box_set_status(rt, b, "stopped", 0, 0, 1, &tap_last_err));
    put_file(b->dir_fd, "exit.json", "{\"exit_code\": 0}\n");
    bl_box_free(b);
    bl_box_recover(rt);
    gone(rt, rm);
    boxlite_runtime_free(rt);
}

TEST(killed_creator_stage)
{
    boxlite_runtime *rt = tap_open_runtime();
    /* a creator killed between moving its directory into boxes/ and committing the row: the
     * unlocked stage "box-<id>-XXXXXX" is left, and a box directory no row names */
    const char *orphan = "ORPHAN000001";
    ASSERT_OK(mkdirat(rt->boxes_fd, orphan, 0700));
    ASSERT_OK(mkdirat(rt->tmp_fd, "box-ORPHAN000001-abcdef", 0700));
    /* a box with a row whose creator was killed after the commit keeps its directory */
    char id[13];
    make_box(rt, 0, id);
    char stage[64];
    (void) snprintf(stage, sizeof(stage), "box-%s-ghijkl", id);
    ASSERT_OK(mkdirat(rt->tmp_fd, stage, 0700));

    bl_box_recover(rt);

    ASSERT_TRUE(faccessat(rt->boxes_fd, orphan, F_OK, AT_SYMLINK_NOFOLLOW) < 0);
    ASSERT_TRUE(faccessat(rt->tmp_fd, "box-ORPHAN000001-abcdef", F_OK, AT_SYMLINK_NOFOLLOW) < 0);
    ASSERT_TRUE(faccessat(rt->tmp_fd, stage, F_OK, AT_SYMLINK_NOFOLLOW) < 0);
    ASSERT_EQ(faccessat(rt->boxes_fd, id, F_OK, AT_SYMLINK_NOFOLLOW), 0);
    boxlite_box_free(get(rt, id));
    boxlite_runtime_free(rt);
}

TEST(reap_cgroups_and_exit_code)
{
    boxlite_runtime *rt = tap_open_runtime();
    char id[13];
    make_box(rt, 0, id);
    int dfd = box_dir(rt, id);
    ASSERT_TRUE(dfd >= 0);
    /* no cgroup of this box exists: nothing is left */
    ASSERT_EQ(bl_box_reap_cgroups(rt, id), 0);
    ASSERT_EQ(bl_box_reap_cgroups(rt, "NOSUCHBOX000"), 0);
    put_file(dfd, "exit.json", "{\"exit_code\": 0}\n");
    ASSERT_EQ(bl_box_read_exit_code(dfd), 0);
    put_file(dfd, "exit.json", "{\"exit_code\": 137}\n");
    ASSERT_EQ(bl_box_read_exit_code(dfd), 137);
    put_file(dfd, "exit.json", "not json");
    ASSERT_EQ(bl_box_read_exit_code(dfd), -1);
    ASSERT_OK(unlinkat(dfd, "exit.json", 0));
    ASSERT_EQ(bl_box_read_exit_code(dfd), -1);
    (void) close(dfd);
    boxlite_runtime_free(rt);
}

/* Probing whether a shim is alive must never make a shim's own non-blocking take of its lock
 * fail (the soak caught 'box is already running: shim.lock is held' on a new box: the probe of
 * another process's recovery took the lock for an instant). A thread probes without pause while
 * this one takes and drops the lock as a starting shim does; with a probe that takes the lock,
 * some of the takes fail. */
struct prober {
    int dir_fd;
    atomic_bool stop;
};
static void *probe_loop(void *arg)
{
    struct prober *p = arg;
    while (!atomic_load(&p->stop))
        (void) bl_shim_lock_held(p->dir_fd);
    return NULL;
}

TEST(probe_never_blocks_a_starting_shim)
{
    _cleanup_close_ int dir = open(tap_tmpdir(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    ASSERT_TRUE(dir >= 0);
    int fd0 = openat(dir, "shim.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_TRUE(fd0 >= 0);
    (void) close(fd0);
    struct prober p = {.dir_fd = dir};
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, probe_loop, &p), 0);
    int failed = 0;
    for (int i = 0; i < 20000; i++) {
        int fd = openat(dir, "shim.lock", O_RDWR | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        failed += bl_ofd_lock(fd, F_WRLCK, false) < 0;
        (void) close(fd);
    }
    atomic_store(&p.stop, true);
    ASSERT_EQ(pthread_join(t, NULL), 0);
    ASSERT_EQ(failed, 0);
    /* and a held lock is seen */
    int held = openat(dir, "shim.lock", O_RDWR | O_CLOEXEC);
    ASSERT_TRUE(held >= 0);
    ASSERT_OK(bl_ofd_lock(held, F_WRLCK, false));
    ASSERT_EQ(bl_shim_lock_held(dir), 1);
    (void) close(held);
    ASSERT_EQ(bl_shim_lock_held(dir), 0);
}

TAP_MAIN(T(running_box_whose_shim_died), T(probe_never_blocks_a_starting_shim),
         T(live_boxes_are_left_alone), T(stale_auto_remove_goes_configured_stays),
         T(killed_creator_stage), T(reap_cgroups_and_exit_code))
