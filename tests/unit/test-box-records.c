/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the box records (src/lib/box/box-records.c), through the public API and without a
 * shim (no box is ever started): boxlite_box_create with --rootfs writes a "configured" record and
 * its directory; lookup by exact id, exact name and unique id prefix (ambiguous and unknown ones
 * refused); listing all or only running boxes; name uniqueness (-EEXIST, nothing left behind) and
 * invalid names; the option errors; removal of the record and the directory; and (in
 * fault-injection builds) a torture loop over create, lookup and remove that checks after every
 * failure that each record has its directory, each directory its record, and no staging directory
 * is left.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "../lib/tap.h"
#include "alloc-util.h"
#include "boxlite/box.h"
#include "fs-util.h"
#include "runtime.h"

static const char *rootfs(void)
{
    static char *p;
    if (!p) {
        p = tap_tmp_path("rootfs");
        ASSERT_OK(mkdir(p, 0755));
    }
    return p;
}

static int create(boxlite_runtime *rt, const char *name, boxlite_box **ret, bl_error **err)
{
    boxlite_box_opts o;
    boxlite_box_opts_init(&o);
    o.rootfs = rootfs();
    o.name = name;
    return boxlite_box_create(rt, &o, ret, err);
}

static size_t count_entries(int dir_fd)
{
    int fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
    ASSERT_TRUE(fd >= 0);
    DIR *d = fdopendir(fd);
    ASSERT_NOT_NULL(d);
    rewinddir(d);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    closedir(d);
    return n;
}

static int count_boxes(boxlite_runtime *rt)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    ASSERT_OK(bl_store_prepare(rt->store, "SELECT COUNT(*) FROM boxes", &st, &tap_last_err));
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    return sqlite3_column_int(st, 0);
}

static void lookup_ok(boxlite_runtime *rt, const char *arg, const char *want_id)
{
    boxlite_box *b = NULL;
    ASSERT_OK(boxlite_box_lookup(rt, arg, &b, &tap_last_err));
    ASSERT_STREQ(boxlite_box_id(b), want_id);
    boxlite_box_free(b);
}

static void lookup_err(boxlite_runtime *rt, const char *arg, int code, const char *msg_prefix)
{
    boxlite_box *b = NULL;
    bl_error *e = NULL;
    ASSERT_ERR(boxlite_box_lookup(rt, arg, &b, &e), code);
    ASSERT_NULL(b);
    ASSERT_NOT_NULL(e);
    if (strncmp(bl_error_msg(e), msg_prefix, strlen(msg_prefix)) != 0)
        tap_fail(__FILE__, __LINE__, "message '%s' does not start with '%s'", bl_error_msg(e),
                 msg_prefix);
    bl_error_free(e);
}

TEST(create_lookup_remove)
{
    boxlite_runtime *rt = tap_open_runtime();
    boxlite_box *b = NULL;
    ASSERT_OK(create(rt, "web", &b, &tap_last_err));
    char id[16];
    (void) snprintf(id, sizeof(id), "%s", boxlite_box_id(b));
    ASSERT_EQ(strlen(id), 12);
    ASSERT_EQ(strspn(id, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"), 12);
    ASSERT_STREQ(boxlite_box_name(b), "web");
    ASSERT_STREQ(boxlite_box_status(b), "configured");
    ASSERT_EQ(boxlite_box_pid(b), 0);
    ASSERT_EQ(boxlite_box_has_user_command(b), 0);
    ASSERT_TRUE(boxlite_box_created_ns(b) > 0);
    char want[4200];
    char real[4096];
    ASSERT_NOT_NULL(realpath(rootfs(), real));
    (void) snprintf(want, sizeof(want), "rootfs:%s", real);
    ASSERT_STREQ(boxlite_box_image(b), want);
    ASSERT_EQ(faccessat(rt->boxes_fd, id, F_OK, 0), 0);
    boxlite_box_free(b);

    /* by id, by name, by prefix */
    lookup_ok(rt, id, id);
    lookup_ok(rt, "web", id);
    char pfx[8];
    (void) snprintf(pfx, sizeof(pfx), "%.3s", id);
    lookup_ok(rt, pfx, id);
    lookup_err(rt, "nope", -ENOENT, "No such box: nope");
    lookup_err(rt, "We", -ENOENT, "No such box: We"); /* names are exact */

    /* a record read back has what create wrote */
    ASSERT_OK(boxlite_box_lookup(rt, "web", &b, &tap_last_err));
    ASSERT_STREQ(boxlite_box_name(b), "web");
    ASSERT_STREQ(boxlite_box_status(b), "configured");
    ASSERT_STREQ(boxlite_box_image(b), want);

    /* listed with all, not among the running */
    boxlite_box **list = NULL;
    size_t n = 0;
    ASSERT_OK(boxlite_box_list(rt, 1, &list, &n, &tap_last_err));
    ASSERT_EQ(n, 1);
    ASSERT_STREQ(boxlite_box_id(list[0]), id);
    boxlite_box_list_free(list, n);
    ASSERT_OK(boxlite_box_list(rt, 0, &list, &n, &tap_last_err));
    ASSERT_EQ(n, 0);
    boxlite_box_list_free(list, n);

    /* removed: record and directory */
    ASSERT_OK(boxlite_box_remove(rt, b, 0, &tap_last_err));
    boxlite_box_free(b);
    ASSERT_TRUE(faccessat(rt->boxes_fd, id, F_OK, 0) < 0);
    ASSERT_EQ(count_boxes(rt), 0);
    ASSERT_EQ(count_entries(rt->boxes_fd), 0);
    ASSERT_EQ(count_entries(rt->tmp_fd), 0);
    lookup_err(rt, id, -ENOENT, "No such box: ");
    lookup_err(rt, "web", -ENOENT, "No such box: web");
    boxlite_runtime_free(rt);
}

TEST(unnamed_and_command)
{
    boxlite_runtime *rt = tap_open_runtime();
    boxlite_box_opts o;
    boxlite_box_opts_init(&o);
    o.rootfs = rootfs();
    static const char *const cmd[] = {"/bin/true", NULL};
    o.cmd = cmd;
    boxlite_box *b = NULL, *c = NULL;
    ASSERT_OK(boxlite_box_create(rt, &o, &b, &tap_last_err));
    ASSERT_STREQ(boxlite_box_name(b), "");
    ASSERT_EQ(boxlite_box_has_user_command(b), 1);
    /* several boxes may have no name */
    ASSERT_OK(create(rt, NULL, &c, &tap_last_err));
    ASSERT_TRUE(strcmp(boxlite_box_id(b), boxlite_box_id(c)) != 0);
    ASSERT_EQ(count_boxes(rt), 2);
    ASSERT_OK(boxlite_box_remove(rt, b, 0, &tap_last_err));
    ASSERT_OK(boxlite_box_remove(rt, c, 0, &tap_last_err));
    boxlite_box_free(b);
    boxlite_box_free(c);
    ASSERT_EQ(count_entries(rt->boxes_fd), 0);
    boxlite_runtime_free(rt);
}

TEST(name_unique)
{
    boxlite_runtime *rt = tap_open_runtime();
    boxlite_box *b = NULL, *c = NULL;
    ASSERT_OK(create(rt, "db", &b, &tap_last_err));
    bl_error *e = NULL;
    ASSERT_ERR(create(rt, "db", &c, &e), -EEXIST);
    ASSERT_NULL(c);
    ASSERT_STREQ(bl_error_msg(e), "invalid argument: box with name 'db' already exists");
    bl_error_free(e);
    /* nothing left of the refused one */
    ASSERT_EQ(count_boxes(rt), 1);
    ASSERT_EQ(count_entries(rt->boxes_fd), 1);
    ASSERT_EQ(count_entries(rt->tmp_fd), 0);
    /* once the first is gone, the name is free */
    ASSERT_OK(boxlite_box_remove(rt, b, 0, &tap_last_err));
    boxlite_box_free(b);
    ASSERT_OK(create(rt, "db", &c, &tap_last_err));
    ASSERT_STREQ(boxlite_box_name(c), "db");
    ASSERT_OK(boxlite_box_remove(rt, c, 0, &tap_last_err));
    boxlite_box_free(c);
    boxlite_runtime_free(rt);
}

TEST(create_errors)
{
    boxlite_runtime *rt = tap_open_runtime();
    boxlite_box_opts o;
    boxlite_box_opts_init(&o);
    boxlite_box *b = NULL;
    bl_error *e = NULL;
    ASSERT_ERR(boxlite_box_create(rt, &o, &b, &e), -EINVAL);
    ASSERT_STREQ(bl_error_msg(e), "provide IMAGE or --rootfs PATH");
    bl_error_free(e);
    e = NULL;
    o.image = "alpine";
    o.rootfs = rootfs();
    ASSERT_ERR(boxlite_box_create(rt, &o, &b, &e), -EINVAL);
    bl_error_free(e);
    e = NULL;
    o.image = NULL;
    _cleanup_free_ char *missing = tap_tmp_path("missing");
    o.rootfs = missing;
    ASSERT_ERR(boxlite_box_create(rt, &o, &b, &e), -ENOENT);
    bl_error_free(e);
    e = NULL;
    _cleanup_free_ char *file = tap_tmp_path("file");
    int fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_TRUE(fd >= 0);
    close(fd);
    o.rootfs = file;
    ASSERT_ERR(boxlite_box_create(rt, &o, &b, &e), -ENOTDIR);
    bl_error_free(e);
    e = NULL;
    o.rootfs = rootfs();
    o.name = "bad/name";
    ASSERT_ERR(boxlite_box_create(rt, &o, &b, &e), -EINVAL);
    bl_error_free(e);
    ASSERT_NULL(b);
    ASSERT_EQ(count_boxes(rt), 0);
    ASSERT_EQ(count_entries(rt->boxes_fd), 0);
    ASSERT_EQ(count_entries(rt->tmp_fd), 0);
    e = NULL;
    ASSERT_ERR(boxlite_box_lookup(rt, NULL, &b, &e), -EINVAL);
    bl_error_free(e);
    boxlite_runtime_free(rt);
}

TEST(ambiguous_prefix)
{
    boxlite_runtime *rt = tap_open_runtime();
    /* ids are 12 base62 characters: among 63 boxes two start alike (usually within ~10) */
    boxlite_box *boxes[64] = {0};
    size_t n = 0;
    int first = -1, second = -1;
    while (first < 0) {
        ASSERT_TRUE(n < 64);
        ASSERT_OK(create(rt, NULL, &boxes[n], &tap_last_err));
        for (size_t i = 0; i < n; i++)
            if (boxlite_box_id(boxes[i])[0] == boxlite_box_id(boxes[n])[0]) {
                first = (int) i;
                second = (int) n;
            }
        n++;
    }
    char pfx[2] = {boxlite_box_id(boxes[first])[0], 0};
    char want[64];
    (void) snprintf(want, sizeof(want), "invalid argument: multiple boxes match prefix '%s': [",
                    pfx);
    lookup_err(rt, pfx, -EINVAL, want);
    /* a longer prefix that tells them apart, and each full id */
    const char *a = boxlite_box_id(boxes[first]), *b = boxlite_box_id(boxes[second]);
    size_t k = 0;
    while (a[k] == b[k])
        k++;
    char longer[16];
    (void) snprintf(longer, sizeof(longer), "%.*s", (int) k + 1, a);
    lookup_ok(rt, longer, a);
    lookup_ok(rt, a, a);
    lookup_ok(rt, b, b);
    /* an exact name wins over an id prefix */
    boxlite_box *named = NULL;
    ASSERT_OK(create(rt, pfx, &named, &tap_last_err));
    lookup_ok(rt, pfx, boxlite_box_id(named));
    ASSERT_OK(boxlite_box_remove(rt, named, 0, &tap_last_err));
    boxlite_box_free(named);
    for (size_t i = 0; i < n; i++) {
        ASSERT_OK(boxlite_box_remove(rt, boxes[i], 0, &tap_last_err));
        boxlite_box_free(boxes[i]);
    }
    ASSERT_EQ(count_entries(rt->boxes_fd), 0);
    ASSERT_EQ(count_entries(rt->tmp_fd), 0);
    boxlite_runtime_free(rt);
}

/* In a child with BL_FAULT=n: create, look up and remove a box, or fail with a message. */
static int oom_run(unsigned long n, void *userdata)
{
    const char *home = userdata;
    boxlite_runtime_opts o;
    boxlite_runtime_opts_init(&o);
    o.home = home;
    boxlite_runtime *rt = NULL;
    boxlite_box *b = NULL, *l = NULL;
    bl_error *e = NULL;
    int r = boxlite_runtime_open(&o, &rt, &e);
    /* The create warms the cgroup lock in a thread (cgroup-warm.c) whose allocations are fault
     * points too, reached at any time and ignored (best effort): the count would not be
     * deterministic. Make the runtime believe a warm-up is running, so none starts. */
    if (r == 0) {
        rt->warm_started = true;
        atomic_store(&rt->warm_done, false);
    }
    if (r == 0)
        r = create(rt, "t", &b, &e);
    if (r == 0)
        r = boxlite_box_lookup(rt, "t", &l, &e);
    if (r == 0)
        r = boxlite_box_remove(rt, l, 0, &e);
    /* an error must come with its message */
    int res = r == 0 ? TAP_RUN_OK : e && e->code == r ? TAP_RUN_FAILED : TAP_RUN_BUG;
    if (res == TAP_RUN_BUG)
        printf("# BL_FAULT=%lu: r=%d err=%s\n", n, r, e ? bl_error_msg(e) : "(none)");
    bl_error_free(e);
    boxlite_box_free(l);
    boxlite_box_free(b);
    if (rt)
        rt->warm_started = false; /* no thread to join */
    boxlite_runtime_free(rt);
    return res;
}

/* Without faults: every record has its directory and the reverse, tmp/ is empty; then the
 * boxes are removed for the next round. 0 if all held. */
static int check_and_reset(void *userdata)
{
    const char *home = userdata;
    boxlite_runtime_opts o;
    boxlite_runtime_opts_init(&o);
    o.home = home;
    boxlite_runtime *rt = NULL;
    if (boxlite_runtime_open(&o, &rt, NULL) < 0)
        return 1;
    int bad = count_entries(rt->tmp_fd) != 0;
    bad |= count_entries(rt->boxes_fd) != (size_t) count_boxes(rt);
    boxlite_box **list = NULL;
    size_t n = 0;
    if (boxlite_box_list(rt, 1, &list, &n, NULL) < 0)
        bad = 1;
    bad |= n != (size_t) count_boxes(rt);
    for (size_t i = 0; i < n; i++)
        bad |= boxlite_box_remove(rt, list[i], 0, NULL) < 0;
    boxlite_box_list_free(list, n);
    boxlite_runtime_free(rt);
    return bad;
}

/* whatever failed, the records and directories agree */
static void oom_check(int result, void *userdata)
{
    (void) result;
    ASSERT_EQ(tap_in_child(check_and_reset, userdata), 0);
}

TEST(oom_torture)
{
    tap_require_fault_injection();
    _cleanup_free_ char *home = tap_tmp_path("home");
    (void) rootfs();
    tap_torture(&(struct tap_torture){.name = "create, lookup, remove",
                                      .run = oom_run,
                                      .after = oom_check,
                                      .userdata = home,
                                      .max_faults = 1000});
}

/* A record whose directory went (another process removing the box between list's query and its
 * open of the directory) is skipped: list succeeds, counts only the others, and leaves *err
 * alone (it used to set it and still return 0: a leak, and a lie to the caller). */
TEST(list_skips_a_vanishing_box)
{
    boxlite_runtime *rt = tap_open_runtime();
    boxlite_box *keep = NULL, *gone = NULL;
    ASSERT_OK(create(rt, "keep", &keep, &tap_last_err));
    ASSERT_OK(create(rt, "gone", &gone, &tap_last_err));
    ASSERT_OK(bl_rm_rf_at(rt->boxes_fd, boxlite_box_id(gone)));
    boxlite_box **list = NULL;
    size_t n = 0;
    bl_error *e = NULL;
    ASSERT_OK(boxlite_box_list(rt, 1, &list, &n, &e));
    ASSERT_NULL(e);
    ASSERT_EQ(n, 1);
    ASSERT_STREQ(boxlite_box_id(list[0]), boxlite_box_id(keep));
    boxlite_box_list_free(list, n);
    boxlite_box_free(gone);
    boxlite_box_free(keep);
    boxlite_runtime_free(rt);
}

TAP_MAIN(T(create_lookup_remove), T(list_skips_a_vanishing_box), T(unnamed_and_command),
         T(name_unique), T(create_errors), T(ambiguous_prefix), T(oom_torture))
