/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for runtime.c: opening a home creates its layout (db, tmp, images, boxes) and
 * reopens it; the home resolution rules (explicit > $BOXLITE_HOME > the configuration's
 * home_dir > ~/.boxlite, trailing slashes dropped, relative and empty homes refused); the
 * recovery pass on open (unlocked staging directories of dead processes removed, locked ones
 * kept, ".new-*" ones kept until an hour old, stray files and symlinks unlinked); staging
 * directories (bl_stage_new, bl_stage_done); and (in fault-injection builds) clean failure at
 * every fault point of an open and of a staging directory.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "../lib/tap.h"
#include "alloc-util.h"
#include "runtime.h"

/* Our start time (field 22 of /proc/self/stat), as bl_stage_new names a stage being made. */
static unsigned long long self_starttime(void)
{
    char buf[1024] = {0};
    FILE *f = fopen("/proc/self/stat", "re");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    for (int i = 0; p && i < 20; i++)
        p = strchr(p + 1, ' ');
    return p ? strtoull(p + 1, NULL, 10) : 0;
}

static char *tmp_path(const char *name)
{
    char *p = NULL;
    ASSERT_TRUE(asprintf(&p, "%s/%s", tap_tmpdir(), name) > 0);
    return p;
}

static int exists_at(const char *dir, const char *name)
{
    char p[4200];
    struct stat st;
    (void) snprintf(p, sizeof(p), "%s/%s", dir, name);
    return lstat(p, &st) == 0;
}

static int is_dir(const char *dir, const char *name)
{
    char p[4200];
    struct stat st;
    (void) snprintf(p, sizeof(p), "%s/%s", dir, name);
    return lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static boxlite_runtime *open_home(const char *home)
{
    boxlite_runtime_opts o;
    boxlite_runtime_opts_init(&o);
    o.home = home;
    boxlite_runtime *rt = NULL;
    ASSERT_OK(boxlite_runtime_open(&o, &rt, &tap_last_err));
    ASSERT_NOT_NULL(rt);
    return rt;
}

static void open_fails(const boxlite_runtime_opts *o, int code, const char *msg)
{
    boxlite_runtime *rt = NULL;
    bl_error *e = NULL;
    ASSERT_ERR(boxlite_runtime_open(o, &rt, &e), code);
    ASSERT_NULL(rt);
    ASSERT_NOT_NULL(e);
    if (msg)
        ASSERT_STREQ(bl_error_msg(e), msg);
    bl_error_free(e);
}

static void resolve_ok(const char *explicit_home, const char *want)
{
    char *h = NULL;
    ASSERT_OK(bl_home_resolve(explicit_home, &h, &tap_last_err));
    ASSERT_STREQ(h, want);
    free(h);
}

static void resolve_err(const char *explicit_home, const char *msg)
{
    char *h = NULL;
    bl_error *e = NULL;
    ASSERT_ERR(bl_home_resolve(explicit_home, &h, &e), -EINVAL);
    ASSERT_NULL(h);
    ASSERT_STREQ(bl_error_msg(e), msg);
    bl_error_free(e);
}

TEST(open_creates_layout)
{
    _cleanup_free_ char *home = tmp_path("a/b/home");
    boxlite_runtime *rt = open_home(home);
    ASSERT_STREQ(boxlite_runtime_home(rt), home);
    ASSERT_NOT_NULL(boxlite_runtime_id_mapping(rt));
    static const char *const dirs[] = {"db", "tmp", "images/blobs/sha256", "images/layers",
                                       "boxes"};
    for (size_t i = 0; i < ELEMENTSOF(dirs); i++)
        ASSERT_TRUE(is_dir(home, dirs[i]));
    ASSERT_TRUE(exists_at(home, "db/boxlite.db"));
    struct stat st;
    ASSERT_OK(stat(home, &st));
    ASSERT_EQ(st.st_mode & 07777, 0700);
    ASSERT_TRUE(rt->store && rt->home_fd >= 0 && rt->tmp_fd >= 0 && rt->blobs_fd >= 0 &&
                rt->layers_fd >= 0 && rt->boxes_fd >= 0);
    boxlite_runtime_free(rt);
    /* again, on the existing home; and two at once */
    rt = open_home(home);
    boxlite_runtime *rt2 = open_home(home);
    boxlite_runtime_free(rt2);
    boxlite_runtime_free(rt);
    boxlite_runtime_free(NULL);
    ASSERT_NULL(boxlite_runtime_home(NULL));
    ASSERT_NULL(boxlite_runtime_id_mapping(NULL));
}

TEST(open_trailing_slashes)
{
    _cleanup_free_ char *home = tmp_path("h");
    _cleanup_free_ char *slashed = tmp_path("h///");
    boxlite_runtime *rt = open_home(slashed);
    ASSERT_STREQ(boxlite_runtime_home(rt), home);
    boxlite_runtime_free(rt);
}

TEST(empty_home_refused)
{
    /* "" is not "the default": refused, even when $BOXLITE_HOME would name a good home */
    _cleanup_free_ char *envhome = tmp_path("env");
    ASSERT_OK(setenv("BOXLITE_HOME", envhome, 1));
    boxlite_runtime_opts o;
    boxlite_runtime_opts_init(&o);
    o.home = "";
    open_fails(&o, -EINVAL, "home_dir must not be empty");
    ASSERT_TRUE(!exists_at(envhome, "db"));
    o.home = "relative/home";
    open_fails(&o, -EINVAL, "home_dir must be absolute path, got: relative/home");
    boxlite_runtime *rt = NULL;
    bl_error *e = NULL;
    ASSERT_ERR(boxlite_runtime_open(&o, NULL, &e), -EINVAL);
    ASSERT_STREQ(bl_error_msg(e), "ret_rt must not be NULL");
    bl_error_free(e);
    ASSERT_NULL(rt);
    /* a home that cannot be created */
    _cleanup_free_ char *file = tmp_path("file");
    int fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_TRUE(fd >= 0);
    close(fd);
    _cleanup_free_ char *under = tmp_path("file/home");
    o.home = under;
    e = NULL;
    ASSERT_TRUE(boxlite_runtime_open(&o, &rt, &e) < 0);
    ASSERT_NULL(rt);
    ASSERT_NOT_NULL(e);
    bl_error_free(e);
}

TEST(home_resolution)
{
    _cleanup_free_ char *envhome = tmp_path("env");
    _cleanup_free_ char *userhome = tmp_path("user");
    _cleanup_free_ char *user_boxlite = tmp_path("user/.boxlite");
    ASSERT_OK(setenv("BOXLITE_HOME", envhome, 1));
    ASSERT_OK(setenv("HOME", userhome, 1));
    /* explicit > $BOXLITE_HOME > ~/.boxlite */
    resolve_ok("/explicit/home", "/explicit/home");
    resolve_ok(NULL, envhome);
    resolve_ok("", envhome);
    ASSERT_OK(setenv("BOXLITE_HOME", "", 1));
    resolve_ok(NULL, user_boxlite);
    ASSERT_OK(unsetenv("BOXLITE_HOME"));
    resolve_ok(NULL, user_boxlite);
    /* slashes at the end go, "/" stays */
    resolve_ok("/a/b///", "/a/b");
    resolve_ok("/", "/");
    resolve_ok("///", "/");
    /* relative homes are refused, wherever they come from */
    resolve_err("a/b", "home_dir must be absolute path, got: a/b");
    resolve_err("./x", "home_dir must be absolute path, got: ./x");
    ASSERT_OK(setenv("BOXLITE_HOME", "rel", 1));
    resolve_err(NULL, "home_dir must be absolute path, got: rel");
    ASSERT_OK(unsetenv("BOXLITE_HOME"));
    ASSERT_OK(setenv("HOME", "relhome", 1));
    resolve_err(NULL, "home_dir must be absolute path, got: relhome/.boxlite");
    /* without $HOME the last resort, ./.boxlite, is relative: refused too */
    ASSERT_OK(unsetenv("HOME"));
    resolve_err(NULL, "home_dir must be absolute path, got: ./.boxlite");
}

TEST(open_home_precedence)
{
    _cleanup_free_ char *envhome = tmp_path("env");
    _cleanup_free_ char *cfghome = tmp_path("cfg");
    _cleanup_free_ char *opthome = tmp_path("opt");
    _cleanup_free_ char *userhome = tmp_path("user");
    _cleanup_free_ char *user_boxlite = tmp_path("user/.boxlite");
    _cleanup_free_ char *cfg = NULL;
    ASSERT_TRUE(asprintf(&cfg, "{\"home_dir\": \"%s\"}", cfghome) > 0);
    ASSERT_OK(setenv("HOME", userhome, 1));
    ASSERT_OK(unsetenv("BOXLITE_HOME"));
    boxlite_runtime *rt = NULL;
    /* no options at all: ~/.boxlite */
    ASSERT_OK(boxlite_runtime_open(NULL, &rt, &tap_last_err));
    ASSERT_STREQ(boxlite_runtime_home(rt), user_boxlite);
    boxlite_runtime_free(rt);
    boxlite_runtime_opts o;
    boxlite_runtime_opts_init(&o);
    o.config_json = cfg;
    /* the configuration's home_dir > ~/.boxlite */
    rt = NULL;
    ASSERT_OK(boxlite_runtime_open(&o, &rt, &tap_last_err));
    ASSERT_STREQ(boxlite_runtime_home(rt), cfghome);
    boxlite_runtime_free(rt);
    /* $BOXLITE_HOME > the configuration */
    ASSERT_OK(setenv("BOXLITE_HOME", envhome, 1));
    rt = NULL;
    ASSERT_OK(boxlite_runtime_open(&o, &rt, &tap_last_err));
    ASSERT_STREQ(boxlite_runtime_home(rt), envhome);
    boxlite_runtime_free(rt);
    /* the option > $BOXLITE_HOME */
    o.home = opthome;
    rt = NULL;
    ASSERT_OK(boxlite_runtime_open(&o, &rt, &tap_last_err));
    ASSERT_STREQ(boxlite_runtime_home(rt), opthome);
    boxlite_runtime_free(rt);
    /* version 1 options have no configuration: it is not read */
    o.version = 1;
    o.home = NULL;
    o.config_json = "{not json";
    rt = NULL;
    ASSERT_OK(boxlite_runtime_open(&o, &rt, &tap_last_err));
    ASSERT_STREQ(boxlite_runtime_home(rt), envhome);
    boxlite_runtime_free(rt);
    /* a bad configuration fails the open */
    o.version = 2;
    open_fails(&o, -EINVAL, NULL);
}

static void make_dir(const char *dir, const char *name)
{
    char p[4200];
    (void) snprintf(p, sizeof(p), "%s/%s", dir, name);
    ASSERT_OK(mkdir(p, 0700));
}

static void make_file(const char *dir, const char *name)
{
    char p[4200];
    (void) snprintf(p, sizeof(p), "%s/%s", dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    ASSERT_TRUE(fd >= 0);
    ASSERT_EQ(write(fd, "x", 1), 1);
    close(fd);
}

static size_t count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    ASSERT_NOT_NULL(d);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    closedir(d);
    return n;
}

TEST(stage_new_and_done)
{
    _cleanup_free_ char *home = tmp_path("home");
    _cleanup_free_ char *tmp = tmp_path("home/tmp");
    boxlite_runtime *rt = open_home(home);
    struct bl_stage s = BL_STAGE_NULL;
    ASSERT_OK(bl_stage_new(rt, "pull", &s, &tap_last_err));
    ASSERT_NOT_NULL(s.name);
    ASSERT_TRUE(strncmp(s.name, "pull-", 5) == 0 && strlen(s.name) == 11);
    ASSERT_TRUE(s.fd >= 0 && s.tmp_fd == rt->tmp_fd && s.rt == rt);
    ASSERT_TRUE(is_dir(tmp, s.name));
    ASSERT_EQ(count_entries(tmp), 1); /* no ".new-*" left behind */
    /* it is locked: nobody else can take the lock */
    int fd = openat(rt->tmp_fd, s.name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_TRUE(fd >= 0);
    ASSERT_ERR(flock(fd, LOCK_EX | LOCK_NB), -1);
    ASSERT_EQ(errno, EWOULDBLOCK);
    close(fd);
    /* with content, two at once */
    ASSERT_OK(mkdirat(s.fd, "sub", 0700));
    ASSERT_OK(mkdirat(s.fd, "sub/deeper", 0700));
    struct bl_stage s2 = BL_STAGE_NULL;
    ASSERT_OK(bl_stage_new(rt, "pull", &s2, &tap_last_err));
    ASSERT_TRUE(strcmp(s.name, s2.name) != 0);
    ASSERT_EQ(count_entries(tmp), 2);
    char name[64];
    (void) snprintf(name, sizeof(name), "%s", s.name);
    bl_stage_done(&s);
    ASSERT_NULL(s.name);
    ASSERT_EQ(s.fd, -1);
    ASSERT_TRUE(!exists_at(tmp, name));
    bl_stage_done(&s); /* twice: a no-op */
    bl_stage_done(&s2);
    ASSERT_EQ(count_entries(tmp), 0);
    struct bl_stage none = BL_STAGE_NULL;
    bl_stage_done(&none);
    boxlite_runtime_free(rt);
}

TEST(recovery_on_open)
{
    _cleanup_free_ char *home = tmp_path("home");
    _cleanup_free_ char *tmp = tmp_path("home/tmp");
    _cleanup_free_ char *outside = tmp_path("outside");
    boxlite_runtime *rt = open_home(home);
    /* our own staging directory, locked */
    struct bl_stage mine = BL_STAGE_NULL;
    ASSERT_OK(bl_stage_new(rt, "load", &mine, &tap_last_err));
    ASSERT_OK(mkdirat(mine.fd, "keep", 0700));
    /* a staging directory whose process died without removing it: no lock */
    fflush(stdout);
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        struct bl_stage s = BL_STAGE_NULL;
        bl_error *e = NULL;
        int r = bl_stage_new(rt, "dead", &s, &e);
        if (r == 0)
            r = mkdirat(s.fd, "content", 0700);
        _exit(r < 0 ? 1 : 0); /* dies holding it: the lock goes, the directory stays */
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* a staging directory a live process holds */
    int p[2], q[2];
    ASSERT_OK(pipe(p));
    ASSERT_OK(pipe(q));
    pid_t live = fork();
    ASSERT_TRUE(live >= 0);
    if (live == 0) {
        close(p[0]);
        close(q[1]);
        struct bl_stage s = BL_STAGE_NULL;
        int r = bl_stage_new(rt, "live", &s, NULL);
        char x = r < 0 ? 'e' : 'x';
        if (write(p[1], &x, 1) != 1 || read(q[0], &x, 1) < 0) /* until the parent says */
            _exit(1);
        _exit(0);
    }
    close(p[1]);
    close(q[0]);
    char x = 0;
    ASSERT_EQ(read(p[0], &x, 1), 1);
    ASSERT_EQ(x, 'x');
    /* debris: an old unlocked directory, a file, a symlink out of tmp, ".new-*" young and old */
    make_dir(tmp, "gc-stale");
    make_dir(tmp, "gc-stale/a");
    make_file(tmp, "gc-stale/a/f");
    make_file(tmp, "stray-file");
    make_dir(tap_tmpdir(), "outside");
    make_file(outside, "precious");
    char link[4200];
    (void) snprintf(link, sizeof(link), "%s/evil-link", tmp);
    ASSERT_OK(symlink(outside, link));
    make_dir(tmp, ".new-young");
    make_dir(tmp, ".new-old");
    /* named after their creator: a live one (us) is kept, a gone one removed at once (one left
     * by a process killed before it could lock it; on 96718d8 it stayed an hour) */
    char self_new[128];
    (void) snprintf(self_new, sizeof(self_new), ".new-%d-%llu-aaaaaa", (int) getpid(),
                    self_starttime());
    make_dir(tmp, self_new);
    make_dir(tmp, ".new-999999999-5-bbbbbb");
    char old[4200];
    (void) snprintf(old, sizeof(old), "%s/.new-old", tmp);
    struct timespec ts[2] = {{.tv_sec = time(NULL) - 7200}, {.tv_sec = time(NULL) - 7200}};
    ASSERT_OK(utimensat(AT_FDCWD, old, ts, AT_SYMLINK_NOFOLLOW));
    ASSERT_EQ(count_entries(tmp), 10);

    /* another open of the home recovers */
    boxlite_runtime *rt2 = open_home(home);
    ASSERT_TRUE(is_dir(tmp, mine.name));
    ASSERT_TRUE(exists_at(tmp, ".new-young"));
    ASSERT_TRUE(!exists_at(tmp, ".new-old"));
    ASSERT_TRUE(exists_at(tmp, self_new));
    ASSERT_TRUE(!exists_at(tmp, ".new-999999999-5-bbbbbb"));
    ASSERT_TRUE(!exists_at(tmp, "gc-stale"));
    ASSERT_TRUE(!exists_at(tmp, "stray-file"));
    ASSERT_TRUE(!exists_at(tmp, "evil-link"));
    ASSERT_TRUE(exists_at(outside, "precious"));
    /* left: mine, the live child's, .new-young, ours being made */
    ASSERT_EQ(count_entries(tmp), 4);
    DIR *d = opendir(tmp);
    ASSERT_NOT_NULL(d);
    struct dirent *de;
    int dead = 0, alive = 0;
    while ((de = readdir(d))) {
        dead += !strncmp(de->d_name, "dead-", 5);
        alive += !strncmp(de->d_name, "live-", 5);
    }
    closedir(d);
    ASSERT_EQ(dead, 0);
    ASSERT_EQ(alive, 1);
    boxlite_runtime_free(rt2);

    /* the live one dies: the next open removes its directory */
    close(q[1]);
    ASSERT_EQ(waitpid(live, &status, 0), live);
    close(p[0]);
    rt2 = open_home(home);
    ASSERT_EQ(count_entries(tmp), 3); /* mine, .new-young and ours being made */
    boxlite_runtime_free(rt2);
    bl_stage_done(&mine);
    boxlite_runtime_free(rt);
}

/* In a child with BL_FAULT=n: open the runtime and make a staging directory, or fail cleanly
 * with the outputs untouched. */
static int oom_run(unsigned long n, void *userdata)
{
    const char *home = userdata;
    boxlite_runtime_opts o;
    boxlite_runtime_opts_init(&o);
    o.home = home;
    boxlite_runtime *rt = NULL;
    bl_error *e = NULL;
    (void) n;
    int r = boxlite_runtime_open(&o, &rt, &e);
    if (r < 0) {
        int res = e && e->code == r && !rt ? TAP_RUN_FAILED : TAP_RUN_BUG;
        bl_error_free(e);
        return res;
    }
    struct bl_stage s = BL_STAGE_NULL;
    r = bl_stage_new(rt, "t", &s, &e);
    int res;
    if (r < 0) {
        res = e && e->code == r && !s.name && s.fd < 0 ? TAP_RUN_FAILED : TAP_RUN_BUG;
    } else {
        res = TAP_RUN_OK;
        bl_stage_done(&s);
    }
    bl_error_free(e);
    boxlite_runtime_free(rt);
    return res;
}

/* no staging directory is left behind by any run (once the runtime made tmp/) */
static void oom_check(int result, void *userdata)
{
    _cleanup_free_ char *tmp = NULL;
    struct stat st;
    (void) result;
    ASSERT_TRUE(asprintf(&tmp, "%s/tmp", (const char *) userdata) > 0);
    if (stat(tmp, &st) == 0)
        ASSERT_EQ(count_entries(tmp), 0);
}

TEST(oom_torture)
{
    _cleanup_free_ char *home = tmp_path("home");
    _cleanup_free_ char *tmp = tmp_path("home/tmp");
    tap_torture(&(struct tap_torture){.name = "open and stage",
                                      .run = oom_run,
                                      .after = oom_check,
                                      .userdata = home,
                                      .max_faults = 400});
    ASSERT_EQ(count_entries(tmp), 0);
}

TAP_MAIN(T(open_creates_layout), T(open_trailing_slashes), T(empty_home_refused),
         T(home_resolution), T(open_home_precedence), T(stage_new_and_done), T(recovery_on_open),
         T(oom_torture))
