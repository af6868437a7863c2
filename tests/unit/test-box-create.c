/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the split of creation: the box layer (bl_box_create) takes an image that is
 * present and never pulls one (a missing image is -ENOENT "No such image", at once), while the
 * API's boxlite_box_create() ensures the image first (a missing one is pulled: here from a
 * registry that is not there, so the pull fails with the pull's message). Neither leaves a box.
 */
#include <sys/stat.h>

#include "../lib/tap.h"
#include "alloc-util.h"
#include "box-create.h"
#include "box-records.h"
#include "runtime.h"

/* a reference on a closed loopback port: tests never reach the internet */
#define NO_REGISTRY_IMAGE "127.0.0.1:1/nosuchimage:1"

static boxlite_runtime *open_rt(void)
{
    _cleanup_free_ char *home = NULL;
    ASSERT_TRUE(asprintf(&home, "%s/home", tap_tmpdir()) > 0);
    boxlite_runtime_opts o;
    boxlite_runtime_opts_init(&o);
    o.home = home;
    boxlite_runtime *rt = NULL;
    ASSERT_OK(boxlite_runtime_open(&o, &rt, &tap_last_err));
    return rt;
}

static size_t count_boxes(boxlite_runtime *rt)
{
    boxlite_box **list = NULL;
    size_t n = 0;
    ASSERT_OK(boxlite_box_list(rt, /* all= */ 1, &list, &n, &tap_last_err));
    boxlite_box_list_free(list, n);
    return n;
}

static void err_contains(bl_error *e, const char *want)
{
    ASSERT_NOT_NULL(e);
    if (!strstr(bl_error_msg(e), want))
        tap_fail(__FILE__, __LINE__, "message '%s' lacks '%s'", bl_error_msg(e), want);
}

TEST(box_layer_does_not_pull)
{
    boxlite_runtime *rt = open_rt();
    boxlite_box_opts o;
    boxlite_box_opts_init(&o);
    o.image = NO_REGISTRY_IMAGE;
    struct boxlite_box *b = NULL;
    bl_error *e = NULL;
    ASSERT_ERR(bl_box_create(rt, &o, /* image_id= */ NULL, &b, &e), -ENOENT);
    err_contains(e, "No such image: " NO_REGISTRY_IMAGE);
    bl_error_free(e);
    ASSERT_NULL(b);
    ASSERT_EQ(count_boxes(rt), 0);
    boxlite_runtime_free(rt);
}

TEST(api_create_ensures_the_image)
{
    boxlite_runtime *rt = open_rt();
    boxlite_box_opts o;
    boxlite_box_opts_init(&o);
    o.image = NO_REGISTRY_IMAGE;
    boxlite_box *b = NULL;
    bl_error *e = NULL;
    ASSERT_TRUE(boxlite_box_create(rt, &o, &b, &e) < 0);
    err_contains(e, "failed to pull");
    bl_error_free(e);
    ASSERT_NULL(b);
    ASSERT_EQ(count_boxes(rt), 0);
    boxlite_runtime_free(rt);
}

TEST(checks_before_anything)
{
    boxlite_box_opts o;
    boxlite_box_opts_init(&o);
    bl_error *e = NULL;
    ASSERT_ERR(bl_box_create_check(&o, &e), -EINVAL); /* neither image nor rootfs */
    err_contains(e, "provide IMAGE or --rootfs PATH");
    bl_error_free(e);
    e = NULL;
    o.image = "busybox";
    o.rootfs = "/";
    ASSERT_ERR(bl_box_create_check(&o, &e), -EINVAL); /* both */
    bl_error_free(e);
    e = NULL;
    o.rootfs = NULL;
    o.name = "-bad";
    ASSERT_ERR(bl_box_create_check(&o, &e), -EINVAL);
    err_contains(e, "invalid argument");
    bl_error_free(e);
    o.name = "good.name";
    ASSERT_OK(bl_box_create_check(&o, &tap_last_err));
    /* a bad name is refused by the API before the image is looked at (nothing is pulled) */
    boxlite_runtime *rt = open_rt();
    o.image = NO_REGISTRY_IMAGE;
    o.name = "-bad";
    boxlite_box *b = NULL;
    e = NULL;
    ASSERT_ERR(boxlite_box_create(rt, &o, &b, &e), -EINVAL);
    err_contains(e, "invalid argument");
    bl_error_free(e);
    boxlite_runtime_free(rt);
}

TAP_MAIN(T(box_layer_does_not_pull), T(api_create_ensures_the_image), T(checks_before_anything))
