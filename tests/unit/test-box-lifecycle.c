/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for box-lifecycle.c that need no working shim: `--rm` is the library's, so a box
 * created with auto_remove whose start fails is gone when boxlite_box_start() returns (its
 * record, its directory, its anonymous volumes), whether no shim was found or the shim died
 * before starting the box; a box without auto_remove stays, and states that are refused
 * (stop, remove of a box that never ran) work without a shim.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "../lib/tap.h"
#include "alloc-util.h"
#include "boxlite/box.h"
#include "runtime.h"

static char *tmp_path(const char *name)
{
    char *p = NULL;
    ASSERT_TRUE(asprintf(&p, "%s/%s", tap_tmpdir(), name) > 0);
    return p;
}

/* shim: the BOXLITE_SHIM to find at open, or NULL for none (this test binary has no
 * boxlite-shim beside it). */
static boxlite_runtime *open_rt(const char *shim)
{
    if (shim)
        ASSERT_OK(setenv("BOXLITE_SHIM", shim, 1));
    else
        ASSERT_OK(unsetenv("BOXLITE_SHIM"));
    _cleanup_free_ char *home = tmp_path("home");
    boxlite_runtime_opts o;
    boxlite_runtime_opts_init(&o);
    o.home = home;
    boxlite_runtime *rt = NULL;
    ASSERT_OK(boxlite_runtime_open(&o, &rt, &tap_last_err));
    return rt;
}

static boxlite_box *create(boxlite_runtime *rt, int auto_remove, const char *volume)
{
    static char *root;
    if (!root) {
        root = tmp_path("rootfs");
        ASSERT_OK(mkdir(root, 0755));
    }
    const char *cmd[] = {"true", NULL};
    const char *vols[] = {volume, NULL};
    boxlite_box_opts o;
    boxlite_box_opts_init(&o);
    o.rootfs = root;
    o.cmd = cmd;
    o.auto_remove = auto_remove;
    o.network = "disabled";
    o.volumes = volume ? vols : NULL;
    boxlite_box *b = NULL;
    ASSERT_OK(boxlite_box_create(rt, &o, &b, &tap_last_err));
    return b;
}

static size_t entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    closedir(d);
    return n;
}

static size_t count_boxes(boxlite_runtime *rt)
{
    boxlite_box **list = NULL;
    size_t n = 0;
    ASSERT_OK(boxlite_box_list(rt, /* all= */ 1, &list, &n, &tap_last_err));
    boxlite_box_list_free(list, n);
    return n;
}

/* An attached start that fails; returns its error code (the message is checked to start with
 * `want`). */
static int failed_start(boxlite_runtime *rt, boxlite_box *b, const char *want, int *ret_status)
{
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    ASSERT_TRUE(devnull >= 0);
    int stdio[3] = {devnull, devnull, devnull};
    bl_error *e = NULL;
    int r = boxlite_box_start(rt, b, stdio, ret_status, &e);
    (void) close(devnull);
    ASSERT_TRUE(r < 0);
    ASSERT_NOT_NULL(e);
    if (!strstr(bl_error_msg(e), want))
        tap_fail(__FILE__, __LINE__, "message '%s' lacks '%s'", bl_error_msg(e), want);
    bl_error_free(e);
    return r;
}

TEST(rm_box_without_shim_is_removed)
{
    boxlite_runtime *rt = open_rt(NULL);
    boxlite_box *b = create(rt, 1, "/data"); /* with an anonymous volume */
    _cleanup_free_ char *anon = bl_asprintf("%s/volumes/anonymous", rt->home);
    ASSERT_EQ(entries(anon), 1);
    int status = 0;
    ASSERT_EQ(failed_start(rt, b, "cannot find boxlite-shim", &status), -ENOENT);
    boxlite_box *l = NULL;
    ASSERT_ERR(boxlite_box_lookup(rt, boxlite_box_id(b), &l, NULL), -ENOENT);
    ASSERT_EQ(count_boxes(rt), 0);
    _cleanup_free_ char *boxes = bl_asprintf("%s/boxes", rt->home);
    ASSERT_EQ(entries(boxes), 0);
    ASSERT_EQ(entries(anon), 0);
    boxlite_box_free(b);
    boxlite_runtime_free(rt);
}

TEST(rm_box_whose_shim_died_is_removed)
{
    boxlite_runtime *rt = open_rt("/bin/false");
    boxlite_box *b = create(rt, 1, NULL);
    int status = 0;
    ASSERT_EQ(failed_start(rt, b, "the shim exited before starting the box", &status), -EIO);
    ASSERT_EQ(status, 125);
    ASSERT_EQ(count_boxes(rt), 0);
    boxlite_box_free(b);
    boxlite_runtime_free(rt);
}

TEST(box_without_rm_stays)
{
    boxlite_runtime *rt = open_rt("/bin/false");
    boxlite_box *b = create(rt, 0, NULL);
    int status = 0;
    (void) failed_start(rt, b, "the shim exited before starting the box", &status);
    ASSERT_EQ(count_boxes(rt), 1);
    boxlite_box *l = NULL;
    ASSERT_OK(boxlite_box_lookup(rt, boxlite_box_id(b), &l, &tap_last_err));
    ASSERT_STREQ(boxlite_box_status(l), "configured");
    /* never ran: stop is a no-op, remove needs no shim */
    ASSERT_OK(boxlite_box_stop(rt, l, 0, &tap_last_err));
    ASSERT_OK(boxlite_box_remove(rt, l, 0, &tap_last_err));
    ASSERT_EQ(count_boxes(rt), 0);
    boxlite_box_free(l);
    boxlite_box_free(b);
    boxlite_runtime_free(rt);
}

TAP_MAIN(T(rm_box_without_shim_is_removed), T(rm_box_whose_shim_died_is_removed),
         T(box_without_rm_stays))
