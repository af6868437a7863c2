/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for box-shim.c without a shim: the shim.conf that bl_box_write_shim_conf() writes
 * for a given box (every key of a box with limits, volumes nested two deep, its own env and
 * workdir, no network; then the defaults; then an attached start), and the protocol's status
 * words (bl_shim_parse_status). Boxes are made with --rootfs, so no image is involved.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "../lib/tap.h"
#include "alloc-util.h"
#include "box-create.h"
#include "box-internal.h"
#include "box-records.h"
#include "box-shim.h"
#include "fault.h"
#include "fs-util.h"
#include "runtime.h"
#include "wire.h"

static char *tmp_dir(const char *name)
{
    char *p = tap_tmp_path(name); /* (libc only: no fault point, see oom_torture) */
    ASSERT_OK(mkdir(p, 0755));
    char *real = realpath(p, NULL);
    ASSERT_NOT_NULL(real);
    free(p);
    return real;
}

/* shim.conf of b as "key=value\n" lines, in order. */
static char *conf_text(struct boxlite_box *b)
{
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    ASSERT_OK(bl_read_file_at(b->dir_fd, "shim.conf", 1 << 20, &buf, &len, &tap_last_err));
    _cleanup_free_ char *out = bl_strdup("");
    ASSERT_NOT_NULL(out);
    size_t off = 0;
    char *k, *v;
    int r;
    while ((r = bl_conf_next(buf, len, &off, &k, &v)) > 0) {
        char *n = bl_asprintf("%s%s=%s\n", out, k, v);
        ASSERT_NOT_NULL(n);
        free(out);
        out = n;
    }
    ASSERT_EQ(r, 0);
    return TAKE_PTR(out);
}

/* The value of the one line "key=..." of text (borrowed into a static buffer), or NULL. */
static const char *value_of(const char *text, const char *key)
{
    static char v[PATH_MAX + 64];
    size_t kl = strlen(key);
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        if (!strncmp(p, key, kl) && p[kl] == '=') {
            (void) snprintf(v, sizeof(v), "%.*s", (int) (nl - p - (ptrdiff_t) kl - 1), p + kl + 1);
            return v;
        }
        p = nl + 1;
    }
    return NULL;
}

static void assert_contains(const char *text, const char *want)
{
    if (!strstr(text, want))
        tap_fail(__FILE__, __LINE__, "shim.conf lacks \"%s\":\n%s", want, text);
}

__attribute__((format(printf, 2, 3))) static void assert_containsf(const char *text,
                                                                   const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *want = NULL;
    ASSERT_TRUE(vasprintf(&want, fmt, ap) >= 0);
    va_end(ap);
    assert_contains(text, want);
}

TEST(full_config)
{
    boxlite_runtime *rt = tap_open_runtime();
    _cleanup_free_ char *root = tmp_dir("rootfs"), *outer = tmp_dir("outer"),
                        *inner = tmp_dir("inner");
    _cleanup_free_ char *v_inner = bl_asprintf("%s:/data/sub:ro", inner),
                        *v_outer = bl_asprintf("%s:/data", outer);
    ASSERT_NOT_NULL(v_inner);
    ASSERT_NOT_NULL(v_outer);
    /* the deeper volume first: the writer puts parents before children */
    const char *vols[] = {v_inner, v_outer, NULL};
    const char *cmd[] = {"/bin/sh", "-c", "echo hi", NULL};
    const char *env[] = {"A=1", "PATH=/x", "A=2", NULL};
    boxlite_box_opts o;
    boxlite_box_opts_init(&o);
    o.rootfs = root;
    o.cmd = cmd;
    o.env = env;
    o.workdir = "/work";
    o.user = "1000:1000";
    o.init = 1;
    o.memory_mib = 256;
    o.cpus = 1.5;
    o.pids_limit = 100;
    o.volumes = vols;
    o.network = "disabled";
    struct boxlite_box *b = NULL;
    ASSERT_OK(bl_box_create(rt, &o, NULL, &b, &tap_last_err));
    ASSERT_OK(bl_box_write_shim_conf(rt, b, NULL, &tap_last_err));
    _cleanup_free_ char *t = conf_text(b);

    _cleanup_free_ char *box_dir = bl_asprintf("%s/boxes/%s", rt->home, b->id);
    ASSERT_NOT_NULL(box_dir);
    ASSERT_STREQ(value_of(t, "id"), b->id);
    ASSERT_STREQ(value_of(t, "hostname"), b->id);
    ASSERT_STREQ(value_of(t, "layer"), root);
    assert_containsf(t, "upper=%s/rootfs/upper\nwork=%s/rootfs/work\nmerged=%s/rootfs/merged\n",
                     box_dir, box_dir, box_dir);
    assert_contains(t, "arg=/bin/sh\narg=-c\narg=echo hi\n");
    /* the default PATH comes first and -e replaces it in place; a later A= replaces an
     * earlier one */
    assert_contains(t, "env=PATH=/x\nenv=A=2\ncwd=/work\nuser=1000:1000\n");
    ASSERT_TRUE(value_of(t, "caps") != NULL);
    const char *bpf = value_of(t, "seccomp");
    ASSERT_NOT_NULL(bpf);
    ASSERT_EQ(access(bpf, R_OK), 0);
    assert_contains(t, "init=1\ndetach=1\n");
    /* explicit limits: no '~' (best effort) mark */
    assert_contains(t, "memory=268435456\ncpus=1500\npids=100\n");
    assert_containsf(t,
                     "volume=%s\nvolume_target=/data\nvolume_ro=0\n"
                     "volume=%s\nvolume_target=/data/sub\nvolume_ro=1\n",
                     outer, inner);
    assert_containsf(t, "cgroup=boxlite-%s\n", b->id);
    /* network disabled: no key of it; no terminal for a detached start */
    ASSERT_NULL(value_of(t, "net"));
    ASSERT_NULL(value_of(t, "slirp"));
    ASSERT_NULL(value_of(t, "tty"));
    struct stat st;
    ASSERT_EQ(fstatat(b->dir_fd, "shim.conf", &st, 0), 0);
    ASSERT_EQ(st.st_mode & 07777, 0600);
    bl_box_free(b);
    boxlite_runtime_free(rt);
}

TEST(defaults_and_attached)
{
    boxlite_runtime *rt = tap_open_runtime();
    _cleanup_free_ char *root = tmp_dir("rootfs");
    boxlite_box_opts o;
    boxlite_box_opts_init(&o);
    o.rootfs = root;
    o.network = "disabled";
    o.tty = 1; /* without a terminal on stdio[0]: no size is passed on */
    struct boxlite_box *b = NULL;
    ASSERT_OK(bl_box_create(rt, &o, NULL, &b, &tap_last_err));
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    ASSERT_TRUE(devnull >= 0);
    int stdio[3] = {devnull, devnull, devnull};
    ASSERT_OK(bl_box_write_shim_conf(rt, b, stdio, &tap_last_err));
    (void) close(devnull);
    _cleanup_free_ char *t = conf_text(b);
    /* no command: no arg; the default PATH; "/" as the working directory */
    ASSERT_NULL(value_of(t, "arg"));
    assert_contains(t, "env=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
    ASSERT_STREQ(value_of(t, "cwd"), "/");
    ASSERT_STREQ(value_of(t, "user"), "");
    assert_contains(t, "init=0\ndetach=0\n");
    /* default limits are best effort: 1 GiB and one CPU, no pids limit */
    assert_contains(t, "memory=~1073741824\ncpus=~1000\n");
    ASSERT_NULL(value_of(t, "pids"));
    ASSERT_NULL(value_of(t, "volume"));
    ASSERT_STREQ(value_of(t, "tty"), "1");
    ASSERT_NULL(value_of(t, "tty_rows"));
    bl_box_free(b);
    boxlite_runtime_free(rt);
}

TEST(log_max_from_env)
{
    boxlite_runtime *rt = tap_open_runtime();
    _cleanup_free_ char *root = tmp_dir("rootfs");
    boxlite_box_opts o;
    boxlite_box_opts_init(&o);
    o.rootfs = root;
    o.network = "disabled";
    struct boxlite_box *b = NULL;
    ASSERT_OK(bl_box_create(rt, &o, NULL, &b, &tap_last_err));
    ASSERT_OK(setenv("BOXLITE_LOG_MAX_BYTES", "4096", 1));
    ASSERT_OK(bl_box_write_shim_conf(rt, b, NULL, &tap_last_err));
    _cleanup_free_ char *t = conf_text(b);
    ASSERT_STREQ(value_of(t, "log_max"), "4096");
    ASSERT_OK(setenv("BOXLITE_LOG_MAX_BYTES", "12k", 1)); /* not a number: ignored */
    ASSERT_OK(bl_box_write_shim_conf(rt, b, NULL, &tap_last_err));
    free(t);
    t = conf_text(b);
    ASSERT_NULL(value_of(t, "log_max"));
    (void) unsetenv("BOXLITE_LOG_MAX_BYTES");
    bl_box_free(b);
    boxlite_runtime_free(rt);
}

TEST(parse_status)
{
    ASSERT_EQ(bl_shim_parse_status("0"), 0);
    ASSERT_EQ(bl_shim_parse_status("42"), 42);
    ASSERT_EQ(bl_shim_parse_status("383"), 383);
    ASSERT_EQ(bl_shim_parse_status("384"), 125);
    ASSERT_EQ(bl_shim_parse_status("-1"), 125);
    ASSERT_EQ(bl_shim_parse_status("7x"), 125);
    ASSERT_EQ(bl_shim_parse_status(""), 125);
    ASSERT_EQ(bl_shim_parse_status(NULL), 125);
}

#ifdef BL_FAULT_INJECTION
/* In a child with BL_FAULT=n: open, look the box up, write its shim.conf. 0 when no fault point
 * was reached, 2 when one failed cleanly (an error with its message, no fd left open), 1 not. */
static int oom_run(const char *home, const char *id, unsigned long n)
{
    int fds = tap_open_fds();
    boxlite_runtime_opts o;
    boxlite_runtime_opts_init(&o);
    o.home = home;
    boxlite_runtime *rt = NULL;
    boxlite_box *b = NULL;
    bl_error *e = NULL;
    int r = boxlite_runtime_open(&o, &rt, &e);
    if (r >= 0)
        r = boxlite_box_lookup(rt, id, &b, &e);
    if (r >= 0)
        r = bl_box_write_shim_conf(rt, b, NULL, &e);
    int res = r < 0 ? (e && e->code == r ? 2 : 1) : bl_fault_count() < n ? 0 : 1;
    if (res == 1)
        fprintf(stderr, "BL_FAULT=%lu: r=%d err=%s\n", n, r, e ? bl_error_msg(e) : "(none)");
    bl_error_free(e);
    boxlite_box_free(b);
    boxlite_runtime_free(rt);
    return tap_open_fds() == fds ? res : 1;
}
#endif

TEST(oom_torture)
{
#ifndef BL_FAULT_INJECTION
    SKIP("fault injection is not compiled in (BUILD=debug or BUILD=asan)");
#else
    _cleanup_free_ char *home = tap_tmp_path("home"), *root = tmp_dir("rootfs"),
                        *vol = tmp_dir("vol");
    _cleanup_free_ char *spec = NULL;
    ASSERT_TRUE(asprintf(&spec, "%s:/data:ro", vol) > 0);
    const char *vols[] = {spec, NULL};
    const char *env[] = {"A=1", NULL};
    /* the box is made in a child: the fault counter of this process must stay untouched
     * (a child inherits it, and reads BL_FAULT only at its first fault point) */
    int p[2];
    ASSERT_OK(pipe2(p, O_CLOEXEC));
    pid_t setup = fork();
    ASSERT_TRUE(setup >= 0);
    if (setup == 0) {
        boxlite_runtime *rt = tap_open_runtime();
        boxlite_box_opts o;
        boxlite_box_opts_init(&o);
        o.rootfs = root;
        o.env = env;
        o.volumes = vols;
        o.pids_limit = 10;
        o.network = "disabled";
        struct boxlite_box *b = NULL;
        ASSERT_OK(bl_box_create(rt, &o, NULL, &b, &tap_last_err));
        ASSERT_EQ(write(p[1], b->id, 13), 13);
        bl_box_free(b);
        boxlite_runtime_free(rt);
        exit(0);
    }
    (void) close(p[1]);
    char id[13] = {0};
    ASSERT_EQ(read(p[0], id, 13), 13);
    (void) close(p[0]);
    int st = 0;
    ASSERT_EQ(waitpid(setup, &st, 0), setup);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ASSERT_EQ(id[12], 0);
    for (unsigned long n = 1;; n++) {
        ASSERT_TRUE(n < 1000);
        fflush(stdout);
        pid_t pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
            char num[32];
            (void) snprintf(num, sizeof(num), "%lu", n);
            (void) setenv("BL_FAULT", num, 1);
            exit(oom_run(home, id, n)); /* exit, not _exit: LeakSanitizer runs at exit */
        }
        int status = 0;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status));
        if (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 2)
            tap_fail(__FILE__, __LINE__, "BL_FAULT=%lu: exit status %d", n, WEXITSTATUS(status));
        if (WEXITSTATUS(status) == 0) {
            printf("# %lu fault points failed cleanly\n", n - 1);
            break;
        }
    }
#endif
}

TAP_MAIN(T(full_config), T(defaults_and_attached), T(log_max_from_env), T(parse_status),
         T(oom_torture))
