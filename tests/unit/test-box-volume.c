/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for box-volume.c: the `-v` spec parser against the VolumeFlags table of
 * spec/cli.md §4.1 (forms, modes, Windows drive letters, every error message), docker's option
 * words (the ones we honour accepted, the rest refused), the box paths refused ("/", "..",
 * /proc) and tidied, the output left untouched on failure, relative host paths, and (in
 * fault-injection builds) clean failure at every allocation.
 */
#include <limits.h>
#include <sys/stat.h>

#include "../lib/tap.h"
#include "alloc-util.h"
#include "box-volume.h"

static char sentinel;

static void parse_ok(const char *spec, const char *source, const char *target, int ro,
                     int anonymous)
{
    struct bl_volume v = {0};
    ASSERT_OK(bl_volume_parse(spec, &v, &tap_last_err));
    if (source)
        ASSERT_STREQ(v.source, source);
    else
        ASSERT_NULL(v.source);
    ASSERT_STREQ(v.target, target);
    ASSERT_EQ(v.ro, ro);
    ASSERT_EQ(v.anonymous, anonymous);
    bl_volume_done(&v);
    ASSERT_NULL(v.source);
    ASSERT_NULL(v.target);
}

static void parse_err(const char *spec, const char *msg)
{
    struct bl_volume v = {.source = &sentinel, .target = &sentinel};
    bl_error *e = NULL;
    ASSERT_ERR(bl_volume_parse(spec, &v, &e) < 0, 1);
    ASSERT_NOT_NULL(e);
    ASSERT_STREQ(bl_error_msg(e), msg);
    ASSERT_TRUE(v.source == &sentinel && v.target == &sentinel);
    bl_error_free(e);
}

TEST(forms)
{
    parse_ok("/tmp:/app/data", "/tmp", "/app/data", 0, 0);
    parse_ok("/tmp:/app/data:ro", "/tmp", "/app/data", 1, 0);
    parse_ok("/tmp:/app/data:rw", "/tmp", "/app/data", 0, 0);
    parse_ok("/tmp:/app/data:z,ro", "/tmp", "/app/data", 1, 0);
    parse_ok("/tmp:/app/data: z , ro ", "/tmp", "/app/data", 1, 0);
    parse_ok("/tmp:/app/data:rw,Z", "/tmp", "/app/data", 0, 0);
    parse_ok("/tmp:/app/data:", "/tmp", "/app/data", 0, 0);
    /* docker's other options that hold for what we do: private propagation (what a volume
     * is), no copy into an anonymous volume (we never copy), any consistency (Linux binds are
     * consistent) */
    parse_ok("/tmp:/x:ro,rprivate", "/tmp", "/x", 1, 0);
    parse_ok("/tmp:/x:private", "/tmp", "/x", 0, 0);
    parse_ok("/tmp:/x:cached", "/tmp", "/x", 0, 0);
    parse_ok("/tmp:/x:delegated,rw", "/tmp", "/x", 0, 0);
    parse_ok("/tmp:/x:consistent,Z,rprivate,ro", "/tmp", "/x", 1, 0);
    parse_ok("/data:nocopy", NULL, "/data", 0, 1);
    parse_ok("/data:ro,nocopy", NULL, "/data", 1, 1);
    parse_ok("/data:z", NULL, "/data", 0, 1);
    /* the box path, tidied: repeated slashes, "." and a trailing slash go */
    parse_ok("/tmp://app//./data/", "/tmp", "/app/data", 0, 0);
    parse_ok("/a/./b/", NULL, "/a/b", 0, 1);
    /* near /proc is not in it */
    parse_ok("/tmp:/procfs", "/tmp", "/procfs", 0, 0);
    parse_ok("/tmp:/dev/shm/x", "/tmp", "/dev/shm/x", 0, 0);
    parse_ok(" /tmp : /x ", "/tmp", "/x", 0, 0);
    parse_ok("/data", NULL, "/data", 0, 1);
    parse_ok("/data:ro", NULL, "/data", 1, 1);
    parse_ok("/data:rw", NULL, "/data", 0, 1);
    /* the host path is canonical */
    parse_ok("/tmp/../tmp/./:/x", "/tmp", "/x", 0, 0);
}

TEST(relative_host_path)
{
    char cwd[PATH_MAX], want[PATH_MAX + 8];
    ASSERT_NOT_NULL(getcwd(cwd, sizeof(cwd)));
    ASSERT_OK(chdir(tap_tmpdir()));
    ASSERT_OK(mkdir("sub", 0755));
    char real[PATH_MAX];
    ASSERT_NOT_NULL(realpath(tap_tmpdir(), real));
    (void) snprintf(want, sizeof(want), "%s/sub", real);
    parse_ok("sub:/s", want, "/s", 0, 0);
    parse_ok("./sub/:/s:ro", want, "/s", 1, 0);
    ASSERT_OK(chdir(cwd));
}

TEST(errors)
{
    parse_err("", "empty volume spec");
    parse_err("  ", "empty volume spec");
    parse_err("data", "anonymous volume box path must be absolute (e.g. /data), got \"data\"");
    parse_err("data:ro", "anonymous volume box path must be absolute (e.g. /data), got \"data\"");
    parse_err(":/app", "volume host path must be non-empty");
    parse_err("/data:", "volume box path must be non-empty");
    parse_err(":ro", "volume box path must be non-empty");
    parse_err(
        "/a:b:c:d",
        "invalid volume spec \"/a:b:c:d\"; use hostPath:boxPath[:options] or boxPath[:ro|rw]");
    parse_err("/a:/b:c:d:e:f:g:h:i:j", "invalid volume spec \"/a:/b:c:d:e:f:g:h:i:j\"; use "
                                       "hostPath:boxPath[:options] or boxPath[:ro|rw]");
    parse_err("/tmp:rel", "volume box path must be absolute (e.g. /data), got \"rel\"");
    parse_err("/tmp:/", "volume box path must not be \"/\"");
    parse_err("/tmp://", "volume box path must not be \"/\"");
    parse_err("/tmp:/./", "volume box path must not be \"/\"");
    parse_err("/", "volume box path must not be \"/\"");
    /* ".." is refused, not resolved: what it means in the box is the box's business */
    parse_err("/tmp:/a/../b", "volume box path \"/a/../b\" must not contain \"..\"");
    parse_err("/tmp:/..", "volume box path \"/..\" must not contain \"..\"");
    parse_err("/tmp:/a/..", "volume box path \"/a/..\" must not contain \"..\"");
    parse_err("/a/../b:ro", "volume box path \"/a/../b\" must not contain \"..\"");
    parse_err("/tmp:/a/..b/../c", "volume box path \"/a/..b/../c\" must not contain \"..\"");
    /* /proc is the runtime's (runc refuses it too) */
    parse_err("/tmp:/proc", "volume box path \"/proc\" is in /proc, which cannot be mounted over");
    parse_err("/tmp://proc/",
              "volume box path \"//proc/\" is in /proc, which cannot be mounted over");
    parse_err("/tmp:/proc/sys/kernel",
              "volume box path \"/proc/sys/kernel\" is in /proc, which cannot be mounted over");
    parse_err("/proc/1:ro",
              "volume box path \"/proc/1\" is in /proc, which cannot be mounted over");
    /* an option we do not know, or do not do, is an error: never a read-write mount */
    static const char valid[] =
        "valid options: ro, rw, z, Z, private, rprivate, nocopy, consistent, cached, delegated";
    char want[512];
    static const char *const bad[][2] = {
        {"/tmp:/x:RO", "RO"},        {"/tmp:/x:readonly", "readonly"},
        {"/tmp:/x:ro2", "ro2"},      {"/tmp:/x:ro,", ""},
        {"/tmp:/x:,ro", ""},         {"/tmp:/x:ro,,rw", ""},
        {"/tmp:/x:r o", "r o"},      {"C:\\d:/x:Ro", "Ro"},
        {"/tmp:/x:ro,bind", "bind"}, {"/tmp:/x:nodev", "nodev"},
    };
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        (void) snprintf(want, sizeof(want), "invalid volume option \"%s\" in \"%s\"; %s", bad[i][1],
                        bad[i][0], valid);
        parse_err(bad[i][0], want);
    }
    parse_err("/tmp:/x:ro,rw", "conflicting volume options \"ro\" and \"rw\" in \"/tmp:/x:ro,rw\"");
    parse_err("/tmp:/x:ro,ro", "conflicting volume options \"ro\" and \"ro\" in \"/tmp:/x:ro,ro\"");
    parse_err("/tmp:/x:z,Z", "conflicting volume options \"z\" and \"Z\" in \"/tmp:/x:z,Z\"");
    parse_err(
        "/tmp:/x:private,rprivate",
        "conflicting volume options \"private\" and \"rprivate\" in \"/tmp:/x:private,rprivate\"");
    parse_err(
        "/tmp:/x:cached,delegated",
        "conflicting volume options \"cached\" and \"delegated\" in \"/tmp:/x:cached,delegated\"");
    static const char *const propagation[] = {"shared", "rshared", "slave", "rslave"};
    for (size_t i = 0; i < ELEMENTSOF(propagation); i++) {
        char spec[64];
        (void) snprintf(spec, sizeof(spec), "/tmp:/x:ro,%s", propagation[i]);
        (void) snprintf(want, sizeof(want),
                        "unsupported: volume option \"%s\" in \"%s\": volumes are private mounts "
                        "(no mount propagation)",
                        propagation[i], spec);
        parse_err(spec, want);
        (void) snprintf(spec, sizeof(spec), "/data:%s", propagation[i]);
        (void) snprintf(want, sizeof(want),
                        "unsupported: volume option \"%s\" in \"%s\": volumes are private mounts "
                        "(no mount propagation)",
                        propagation[i], spec);
        parse_err(spec, want);
    }
    parse_err("/tmp:/x:nocopy",
              "volume option \"nocopy\" in \"/tmp:/x:nocopy\" is for anonymous volumes only");
    /* an anonymous volume's options are checked as well: "RO" is no option, so this is a bind
     * of /data on a relative path */
    parse_err("/data:RO", "volume box path must be absolute (e.g. /data), got \"RO\"");
    parse_err("/no/such/dir:/x", "volume host path \"/no/such/dir\": No such file or directory");
    /* a Windows drive letter is one path (which Linux does not have) */
    parse_err("C:\\data:/app/data", "volume host path \"C:\\data\": No such file or directory");
    parse_err("C:\\data:/app/data:ro", "volume host path \"C:\\data\": No such file or directory");
    parse_err("D:\\path:/mnt:rw", "volume host path \"D:\\path\": No such file or directory");
    parse_err("C:\\data:/a:ro:x", "invalid volume spec \"C:\\data:/a:ro:x\"; use "
                                  "hostPath:boxPath[:options] or boxPath[:ro|rw]");
}

struct oom_case {
    const char *spec;
    int code; /* the spec's own error without faults (0: it parses) */
};

/* In a child with BL_FAULT=n: the parse, or a clean -ENOMEM with the output untouched. */
static int oom_run(unsigned long n, void *userdata)
{
    const struct oom_case *c = userdata;
    struct bl_volume v = {.source = &sentinel, .target = &sentinel};
    bl_error *e = NULL;
    (void) n;
    if (bl_volume_parse(c->spec, &v, &e) < 0) {
        int untouched = v.source == &sentinel && v.target == &sentinel;
        int res = !e || !untouched     ? TAP_RUN_BUG
                  : e->code == -ENOMEM ? TAP_RUN_FAILED
                  : e->code == c->code ? TAP_RUN_OK
                                       : TAP_RUN_BUG;
        bl_error_free(e);
        return res;
    }
    bl_volume_done(&v);
    return c->code ? TAP_RUN_BUG : TAP_RUN_OK;
}

TEST(oom_torture)
{
    /* a non-existent Windows path fails with its message, not ENOMEM: also clean */
    static const struct oom_case cases[] = {
        {"/tmp:/x:ro", 0}, {"/data:ro", 0}, {"C:\\d:/x:ro", -ENOENT}, {"/tmp:/a//./b:z,ro", 0}};
    for (size_t i = 0; i < ELEMENTSOF(cases); i++)
        tap_torture(&(struct tap_torture){.name = cases[i].spec,
                                          .run = oom_run,
                                          .userdata = (void *) &cases[i],
                                          .max_faults = 50});
}

TAP_MAIN(T(forms), T(relative_host_path), T(errors), T(oom_torture))
