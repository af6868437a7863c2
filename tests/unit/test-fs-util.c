/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the confined-path helpers of fs-util.c (bl_open_in_root, bl_mkdir_in_root) and
 * bl_write_file_atomic_at. Each test builds <tmp>/root, a hostile tree (symlinks to "/", ".."
 * chains, absolute links, loops, files where directories are expected), next to <tmp>/outside,
 * which nothing may reach. Every path test runs three times: with the kernel's openat2(), with
 * the userspace walk forced, and in AUTO mode; and AUTO again under a seccomp filter that makes
 * openat2() fail with ENOSYS or EPERM, as on old kernels and old container profiles.
 */
#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "../lib/tap.h"
#include "alloc-util.h"
#include "fs-util.h"

static const enum bl_resolve_mode all_modes[] = {BL_RESOLVE_KERNEL, BL_RESOLVE_USERSPACE,
                                                 BL_RESOLVE_AUTO};
/* The modes each path test runs in; without openat2, KERNEL is left out (it would fail). */
static const enum bl_resolve_mode *modes = all_modes;
static size_t n_modes = ELEMENTSOF(all_modes);

static const char *mode_name(enum bl_resolve_mode m)
{
    switch (m) {
    case BL_RESOLVE_AUTO:
        return "auto";
    case BL_RESOLVE_KERNEL:
        return "kernel";
    case BL_RESOLVE_USERSPACE:
        return "userspace";
    }
    return "?";
}

/* Where openat2() is missing (valgrind answers ENOSYS itself, and the seccomp children below)
 * the KERNEL mode cannot run: the path tests keep the other two. */
static void drop_kernel_mode_without_openat2(void)
{
    struct open_how how = {.flags = O_PATH | O_CLOEXEC};
    long fd = syscall(SYS_openat2, AT_FDCWD, ".", &how, sizeof(how));
    if (fd >= 0) {
        (void) close((int) fd);
        return;
    }
    modes = all_modes + 1;
    n_modes = ELEMENTSOF(all_modes) - 1;
}

/* <tmp>/root with its hostile tree, and <tmp>/outside/secret; returns an fd of the root. */
static int make_tree(void)
{
    drop_kernel_mode_without_openat2();
    const char *tmp = tap_tmpdir();
    _cleanup_close_ int t = open(tmp, O_PATH | O_DIRECTORY | O_CLOEXEC);
    ASSERT_TRUE(t >= 0);
    ASSERT_OK(mkdirat(t, "root", 0755));
    ASSERT_OK(mkdirat(t, "outside", 0755));
    ASSERT_OK(bl_write_file_atomic_at(t, "outside/secret", "outside", 7, 0644, NULL));
    int root = openat(t, "root", O_PATH | O_DIRECTORY | O_CLOEXEC);
    ASSERT_TRUE(root >= 0);
    ASSERT_OK(mkdirat(root, "etc", 0755));
    ASSERT_OK(mkdirat(root, "dir", 0755));
    ASSERT_OK(bl_write_file_atomic_at(root, "etc/passwd", "inside", 6, 0644, NULL));
    ASSERT_OK(bl_write_file_atomic_at(root, "file", "f", 1, 0644, NULL));
    ASSERT_OK(symlinkat("/", root, "to_slash"));
    ASSERT_OK(symlinkat("../../../../../..", root, "up"));
    ASSERT_OK(symlinkat("../../outside", root, "dir_up_link"));
    ASSERT_OK(symlinkat("/etc", root, "abs_etc"));
    ASSERT_OK(symlinkat("etc/passwd", root, "last_link"));
    ASSERT_OK(symlinkat("loop_b", root, "loop_a"));
    ASSERT_OK(symlinkat("loop_a", root, "loop_b"));
    ASSERT_OK(symlinkat("/proc/self/root/etc", root, "magic"));
    _cleanup_free_ char *host_outside = bl_asprintf("%s/outside", tmp);
    ASSERT_TRUE(host_outside);
    ASSERT_OK(symlinkat(host_outside, root, "abs_host"));
    ASSERT_OK(symlinkat("/nowhere/deeper", root, "dangling"));
    _cleanup_free_ char *host_new = bl_asprintf("%s/outside/created", tmp);
    ASSERT_TRUE(host_new);
    ASSERT_OK(symlinkat(host_new, root, "dangling_host"));
    return root;
}

/* The outside directory holds exactly "secret" with its content. */
static void assert_outside_untouched(void)
{
    _cleanup_free_ char *p = bl_asprintf("%s/outside", tap_tmpdir());
    ASSERT_TRUE(p);
    _cleanup_close_ int fd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
    ASSERT_TRUE(fd >= 0);
    struct stat st;
    ASSERT_TRUE(fstatat(fd, "created", &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT);
    ASSERT_TRUE(fstatat(fd, "escape", &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT);
    _cleanup_free_ char *data = NULL;
    ASSERT_OK(bl_read_file_at(fd, "secret", 64, &data, NULL, NULL));
    ASSERT_STREQ(data, "outside");
    _cleanup_free_ char *top = bl_asprintf("%s/escape", tap_tmpdir());
    ASSERT_TRUE(top);
    ASSERT_TRUE(lstat(top, &st) < 0 && errno == ENOENT);
}

/* Open path in root (mode m) and check it is root's etc/passwd. */
static void assert_opens_inside_passwd(int root, const char *path, enum bl_resolve_mode m)
{
    _cleanup_close_ int fd = bl_open_in_root(root, path, O_RDONLY, m);
    if (fd < 0)
        tap_fail(__FILE__, __LINE__, "'%s' (%s): %s", path, mode_name(m), strerror(-fd));
    _cleanup_free_ char *data = NULL;
    ASSERT_OK(bl_read_full_fd(fd, 64, &data, NULL));
    ASSERT_STREQ(data, "inside");
}

static void assert_open_fails(int root, const char *path, int flags, enum bl_resolve_mode m,
                              int code)
{
    int fd = bl_open_in_root(root, path, flags, m);
    if (fd >= 0)
        (void) close(fd);
    if (fd != code)
        tap_fail(__FILE__, __LINE__, "'%s' (%s): got %d (%s), expected %d (%s)", path, mode_name(m),
                 fd, fd < 0 ? strerror(-fd) : "an fd", code, strerror(-code));
}

static void assert_same_inode(int a, int b)
{
    struct stat sa, sb;
    ASSERT_OK(fstat(a, &sa));
    ASSERT_OK(fstat(b, &sb));
    ASSERT_TRUE(sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino);
}

TEST(open_plain_and_root)
{
    _cleanup_close_ int root = make_tree();
    for (size_t i = 0; i < n_modes; i++) {
        assert_opens_inside_passwd(root, "etc/passwd", modes[i]);
        assert_opens_inside_passwd(root, "/etc/passwd", modes[i]);
        assert_opens_inside_passwd(root, "./etc//./passwd", modes[i]);
        assert_opens_inside_passwd(root, "etc/../etc/passwd", modes[i]);
        const char *roots[] = {"", "/", ".", "..", "/../..", "dir/.."};
        for (size_t j = 0; j < ELEMENTSOF(roots); j++) {
            _cleanup_close_ int fd =
                bl_open_in_root(root, roots[j], O_PATH | O_DIRECTORY, modes[i]);
            ASSERT_OK(fd);
            assert_same_inode(fd, root);
        }
        assert_open_fails(root, "missing", O_RDONLY, modes[i], -ENOENT);
    }
    ASSERT_ERR(bl_open_in_root(-1, "etc", O_PATH, BL_RESOLVE_AUTO), -EBADF);
}

TEST(open_dotdot_chains)
{
    _cleanup_close_ int root = make_tree();
    for (size_t i = 0; i < n_modes; i++) {
        assert_opens_inside_passwd(root, "../../../../etc/passwd", modes[i]);
        assert_opens_inside_passwd(root, "dir/../../../etc/passwd", modes[i]);
        assert_opens_inside_passwd(root, "/../dir/../../etc/../etc/passwd", modes[i]);
        assert_open_fails(root, "../outside/secret", O_RDONLY, modes[i], -ENOENT);
        assert_open_fails(root, "dir/../../outside/secret", O_RDONLY, modes[i], -ENOENT);
        assert_outside_untouched();
    }
}

TEST(open_symlink_to_slash_and_up)
{
    _cleanup_close_ int root = make_tree();
    for (size_t i = 0; i < n_modes; i++) {
        assert_opens_inside_passwd(root, "to_slash/etc/passwd", modes[i]);
        assert_opens_inside_passwd(root, "to_slash/to_slash/../etc/passwd", modes[i]);
        assert_opens_inside_passwd(root, "up/etc/passwd", modes[i]);
        assert_opens_inside_passwd(root, "dir/../up/../up/etc/passwd", modes[i]);
        assert_open_fails(root, "to_slash/../outside/secret", O_RDONLY, modes[i], -ENOENT);
        assert_open_fails(root, "up/outside/secret", O_RDONLY, modes[i], -ENOENT);
        assert_open_fails(root, "dir_up_link/secret", O_RDONLY, modes[i], -ENOENT);
        _cleanup_close_ int fd = bl_open_in_root(root, "to_slash", O_PATH | O_DIRECTORY, modes[i]);
        ASSERT_OK(fd);
        assert_same_inode(fd, root);
    }
}

TEST(open_absolute_symlinks)
{
    _cleanup_close_ int root = make_tree();
    for (size_t i = 0; i < n_modes; i++) {
        assert_opens_inside_passwd(root, "abs_etc/passwd", modes[i]);
        /* the host's absolute path of outside/, read inside the root: nothing there */
        assert_open_fails(root, "abs_host/secret", O_RDONLY, modes[i], -ENOENT);
        /* a /proc magic link spelled in a symlink resolves inside the root too */
        assert_open_fails(root, "magic/passwd", O_RDONLY, modes[i], -ENOENT);
        assert_open_fails(root, "dangling", O_RDONLY, modes[i], -ENOENT);
    }
}

TEST(open_symlink_last_component)
{
    _cleanup_close_ int root = make_tree();
    for (size_t i = 0; i < n_modes; i++) {
        assert_opens_inside_passwd(root, "last_link", modes[i]);
        assert_open_fails(root, "last_link", O_RDONLY | O_NOFOLLOW, modes[i], -ELOOP);
        _cleanup_close_ int fd = bl_open_in_root(root, "last_link", O_PATH | O_NOFOLLOW, modes[i]);
        ASSERT_OK(fd);
        struct stat st;
        ASSERT_OK(fstat(fd, &st));
        ASSERT_TRUE(S_ISLNK(st.st_mode));
        /* O_NOFOLLOW is about the last component only */
        assert_opens_inside_passwd(root, "to_slash/last_link", modes[i]);
        int r = bl_open_in_root(root, "to_slash/to_slash", O_RDONLY | O_NOFOLLOW | O_DIRECTORY,
                                modes[i]);
        ASSERT_TRUE(r == -ELOOP || r == -ENOTDIR);
        /* a trailing slash asks for a directory, and follows a last symlink as the kernel does */
        _cleanup_close_ int dir = bl_open_in_root(root, "to_slash/", O_PATH | O_NOFOLLOW, modes[i]);
        ASSERT_OK(dir);
        assert_same_inode(dir, root);
        assert_open_fails(root, "loop_a", O_RDONLY, modes[i], -ELOOP);
        assert_open_fails(root, "loop_a/x", O_RDONLY, modes[i], -ELOOP);
    }
}

TEST(open_file_where_dir_expected)
{
    _cleanup_close_ int root = make_tree();
    for (size_t i = 0; i < n_modes; i++) {
        assert_open_fails(root, "file/x", O_RDONLY, modes[i], -ENOTDIR);
        assert_open_fails(root, "file/..", O_PATH, modes[i], -ENOTDIR);
        assert_open_fails(root, "etc/passwd/", O_RDONLY, modes[i], -ENOTDIR);
        assert_open_fails(root, "file", O_RDONLY | O_DIRECTORY, modes[i], -ENOTDIR);
    }
}

TEST(mkdir_in_root_creates_inside)
{
    _cleanup_close_ int root = make_tree();
    for (size_t i = 0; i < n_modes; i++) {
        _cleanup_free_ char *p = bl_asprintf("m%zu/a/b/", i);
        ASSERT_TRUE(p);
        _cleanup_close_ int fd = bl_mkdir_in_root(root, p, 0750, modes[i]);
        ASSERT_OK(fd);
        _cleanup_close_ int check = openat(root, p, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        ASSERT_TRUE(check >= 0);
        assert_same_inode(fd, check);
        struct stat st;
        ASSERT_OK(fstat(check, &st));
        ASSERT_EQ(st.st_mode & 07777, 0750 & ~umask(022));
        /* again: it exists, same directory */
        _cleanup_close_ int again = bl_mkdir_in_root(root, p, 0750, modes[i]);
        ASSERT_OK(again);
        assert_same_inode(again, check);
        _cleanup_close_ int top = bl_mkdir_in_root(root, "/", 0755, modes[i]);
        ASSERT_OK(top);
        assert_same_inode(top, root);
    }
}

TEST(mkdir_in_root_through_hostile_links)
{
    _cleanup_close_ int root = make_tree();
    for (size_t i = 0; i < n_modes; i++) {
        _cleanup_free_ char *a = bl_asprintf("to_slash/s%zu/x", i);
        _cleanup_free_ char *b = bl_asprintf("up/escape/u%zu", i);
        _cleanup_free_ char *c = bl_asprintf("../../escape/d%zu", i);
        _cleanup_free_ char *d = bl_asprintf("abs_etc/../escape/e%zu", i);
        ASSERT_TRUE(a && b && c && d);
        const char *paths[] = {a, b, c, d};
        for (size_t j = 0; j < ELEMENTSOF(paths); j++) {
            _cleanup_close_ int fd = bl_mkdir_in_root(root, paths[j], 0755, modes[i]);
            if (fd < 0)
                tap_fail(__FILE__, __LINE__, "'%s' (%s): %s", paths[j], mode_name(modes[i]),
                         strerror(-fd));
            _cleanup_close_ int check = bl_open_in_root(root, paths[j], O_PATH, modes[i]);
            ASSERT_OK(check);
            assert_same_inode(fd, check);
        }
        /* they all landed in the root */
        struct stat st;
        _cleanup_free_ char *in = bl_asprintf("s%zu/x", i);
        ASSERT_TRUE(in);
        ASSERT_OK(fstatat(root, in, &st, AT_SYMLINK_NOFOLLOW));
        ASSERT_TRUE(S_ISDIR(st.st_mode));
        ASSERT_OK(fstatat(root, "escape", &st, AT_SYMLINK_NOFOLLOW));
        assert_outside_untouched();
    }
}

TEST(mkdir_in_root_refuses)
{
    _cleanup_close_ int root = make_tree();
    for (size_t i = 0; i < n_modes; i++) {
        /* a dangling symlink is not followed to create its target, inside or outside */
        int r = bl_mkdir_in_root(root, "dangling", 0755, modes[i]);
        ASSERT_TRUE(r == -ENOTDIR || r == -ELOOP);
        r = bl_mkdir_in_root(root, "dangling_host", 0755, modes[i]);
        ASSERT_TRUE(r == -ENOTDIR || r == -ELOOP);
        r = bl_mkdir_in_root(root, "dangling_host/sub", 0755, modes[i]);
        ASSERT_TRUE(r == -ENOTDIR || r == -ELOOP);
        r = bl_mkdir_in_root(root, "abs_host/escape", 0755, modes[i]);
        ASSERT_TRUE(r == -ENOTDIR || r == -ELOOP);
        struct stat st;
        ASSERT_TRUE(fstatat(root, "nowhere", &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT);
        /* a file where a directory is expected */
        ASSERT_ERR(bl_mkdir_in_root(root, "file", 0755, modes[i]), -ENOTDIR);
        ASSERT_ERR(bl_mkdir_in_root(root, "file/sub", 0755, modes[i]), -ENOTDIR);
        ASSERT_ERR(bl_mkdir_in_root(root, "etc/passwd/sub/deeper", 0755, modes[i]), -ENOTDIR);
        /* a symlink last component that exists is followed inside the root... */
        _cleanup_close_ int fd = bl_mkdir_in_root(root, "to_slash", 0755, modes[i]);
        ASSERT_OK(fd);
        assert_same_inode(fd, root);
        /* ...a loop is not */
        ASSERT_ERR(bl_mkdir_in_root(root, "loop_a/sub", 0755, modes[i]), -ELOOP);
        /* "." or ".." as a missing last component */
        ASSERT_ERR(bl_mkdir_in_root(root, "dir/missing/..", 0755, modes[i]), -EINVAL);
        ASSERT_ERR(bl_mkdir_in_root(root, "dir/missing/.", 0755, modes[i]), -EINVAL);
        ASSERT_TRUE(fstatat(root, "dir/missing", &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT);
        assert_outside_untouched();
    }
    ASSERT_ERR(bl_mkdir_in_root(-1, "x", 0755, BL_RESOLVE_AUTO), -EBADF);
}

TEST(mkdir_in_root_depth_limit)
{
    _cleanup_close_ int root = make_tree();
    size_t n = 300;
    _cleanup_free_ char *p = bl_malloc(n * 2 + 1);
    ASSERT_TRUE(p);
    for (size_t i = 0; i < n; i++)
        memcpy(p + 2 * i, "a/", 2);
    p[2 * n - 1] = 0;
    ASSERT_ERR(bl_mkdir_in_root(root, p, 0755, BL_RESOLVE_AUTO), -ENOENT);
    p[2 * 200 - 1] = 0; /* 200 components: within the limit */
    _cleanup_close_ int fd = bl_mkdir_in_root(root, p, 0755, BL_RESOLVE_AUTO);
    ASSERT_OK(fd);
}

TEST(mkdir_host_mode)
{
    _cleanup_free_ char *p = bl_asprintf("%s/host/a/b", tap_tmpdir());
    ASSERT_TRUE(p);
    _cleanup_close_ int fd = bl_mkdir_in_root(AT_FDCWD, p, 0755, BL_RESOLVE_AUTO);
    ASSERT_OK(fd);
    _cleanup_close_ int check = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
    ASSERT_TRUE(check >= 0);
    assert_same_inode(fd, check);
}

TEST(write_file_atomic)
{
    _cleanup_close_ int root = make_tree();
    ASSERT_OK(bl_write_file_atomic_at(root, "dir/new", "one", 3, 0600, NULL));
    ASSERT_OK(bl_write_file_atomic_at(root, "dir/new", "second", 6, 0640, NULL));
    _cleanup_free_ char *data = NULL;
    ASSERT_OK(bl_read_file_at(root, "dir/new", 64, &data, NULL, NULL));
    ASSERT_STREQ(data, "second");
    struct stat st;
    ASSERT_OK(fstatat(root, "dir/new", &st, AT_SYMLINK_NOFOLLOW));
    ASSERT_TRUE(S_ISREG(st.st_mode));
    ASSERT_EQ(st.st_mode & 0777, 0640 & ~umask(022));

    /* no temporary file is left, after success or failure */
    _cleanup_free_ char *tmp = bl_asprintf("dir/new.tmp-%d", (int) getpid());
    ASSERT_TRUE(tmp);
    ASSERT_TRUE(fstatat(root, tmp, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT);
    bl_error *err = NULL;
    ASSERT_ERR(bl_write_file_atomic_at(root, "missing/new", "x", 1, 0644, &err), -ENOENT);
    ASSERT_TRUE(err != NULL);
    bl_error_free(err);
    /* renaming over a directory fails, and the temporary file goes */
    ASSERT_TRUE(bl_write_file_atomic_at(root, "dir", "x", 1, 0644, NULL) < 0);
    _cleanup_free_ char *tmp2 = bl_asprintf("dir.tmp-%d", (int) getpid());
    ASSERT_TRUE(tmp2);
    ASSERT_TRUE(fstatat(root, tmp2, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT);

    /* a symlink planted at the temporary name is not written through */
    _cleanup_free_ char *host_secret = bl_asprintf("%s/outside/secret", tap_tmpdir());
    _cleanup_free_ char *tmp3 = bl_asprintf("victim.tmp-%d", (int) getpid());
    ASSERT_TRUE(host_secret && tmp3);
    ASSERT_OK(symlinkat(host_secret, root, tmp3));
    ASSERT_ERR(bl_write_file_atomic_at(root, "victim", "pwned", 5, 0644, NULL), -ELOOP);
    /* and the target itself being a symlink: it is replaced, never written through */
    ASSERT_OK(unlinkat(root, tmp3, 0));
    ASSERT_OK(symlinkat(host_secret, root, "victim"));
    ASSERT_OK(bl_write_file_atomic_at(root, "victim", "mine", 4, 0644, NULL));
    ASSERT_OK(fstatat(root, "victim", &st, AT_SYMLINK_NOFOLLOW));
    ASSERT_TRUE(S_ISREG(st.st_mode));
    assert_outside_untouched();
}

/* The tree of the torture runs (made and removed in each child). */
static int torture_root = -1;

static void torture_setup(void *userdata)
{
    (void) userdata;
    torture_root = make_tree();
}

static void torture_teardown(void *userdata)
{
    (void) userdata;
    torture_root = bl_close(torture_root);
    _cleanup_close_ int t = open(tap_tmpdir(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    (void) bl_rm_rf_at(t, "root");
    (void) bl_rm_rf_at(t, "outside");
}

/* The helpers' allocating paths, each with a hostile path: each succeeds or fails cleanly. */
static int torture_run(unsigned long n, void *userdata)
{
    int root = torture_root, failed = 0, r;
    (void) n;
    (void) userdata;
    r = bl_open_in_root(root, "up/dir/../to_slash/last_link", O_RDONLY, BL_RESOLVE_USERSPACE);
    if (r >= 0)
        (void) close(r);
    else if (r != -ENOMEM)
        return TAP_RUN_BUG;
    failed |= r < 0;
    r = bl_mkdir_in_root(root, "dir/../to_slash/t/u/v", 0755, BL_RESOLVE_USERSPACE);
    if (r >= 0)
        (void) close(r);
    else if (r != -ENOMEM)
        return TAP_RUN_BUG;
    failed |= r < 0;
    bl_error *e = NULL;
    r = bl_write_file_atomic_at(root, "dir/w", "w", 1, 0644, &e);
    if (r < 0 && (!e || (r != -ENOMEM && r != -EIO)))
        return TAP_RUN_BUG;
    bl_error_free(e);
    failed |= r < 0;
    struct stat st;
    char tmp[64]; /* not bl_asprintf: that is a fault point too */
    (void) snprintf(tmp, sizeof(tmp), "dir/w.tmp-%d", (int) getpid());
    if (fstatat(root, tmp, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return TAP_RUN_BUG; /* a temporary file was left behind */
    return failed ? TAP_RUN_FAILED : TAP_RUN_OK;
}

/* Fail the Nth fault point (allocations, writes) for N = 1, 2, ... until a run reaches none:
 * every failure must be a clean -ENOMEM/-EIO, with no fd or temporary file left. Building the
 * tree takes fault points too: the faults start after them. */
TEST(fault_torture)
{
    tap_torture(&(struct tap_torture){.name = "open, mkdir, write in root",
                                      .run = torture_run,
                                      .child_setup = torture_setup,
                                      .child_teardown = torture_teardown,
                                      .max_faults = 2000,
                                      .min_faults = 4});
}

static void assert_beneath(int root, const char *path, int flags, enum bl_resolve_mode m, int code)
{
    int fd = bl_open_beneath(root, path, flags, m);
    if (fd >= 0)
        (void) close(fd);
    if ((code == 0 && fd < 0) || (code < 0 && fd != code))
        tap_fail(__FILE__, __LINE__, "beneath '%s' (%s): got %d (%s), expected %d (%s)", path,
                 mode_name(m), fd, fd < 0 ? strerror(-fd) : "an fd", code,
                 code < 0 ? strerror(-code) : "an fd");
}

/* bl_open_beneath: plain paths open, a symlink anywhere (first, middle, last; to "/", up, to the
 * host, a magic link) is -ELOOP, leaving is -EXDEV, a file on the way -ENOTDIR; and (root, in a
 * mount namespace of its own) a mount point on the way is -EXDEV. */
TEST(open_beneath_strict)
{
    _cleanup_close_ int root = make_tree();
    for (size_t i = 0; i < n_modes; i++) {
        enum bl_resolve_mode m = modes[i];
        assert_beneath(root, "etc", O_PATH | O_DIRECTORY, m, 0);
        assert_beneath(root, "", O_PATH | O_DIRECTORY, m, 0);
        assert_beneath(root, "etc//passwd", O_RDONLY, m, 0);
        assert_beneath(root, "last_link", O_RDONLY, m, -ELOOP);
        assert_beneath(root, "last_link", O_PATH, m, -ELOOP);
        assert_beneath(root, "abs_etc/passwd", O_RDONLY, m, -ELOOP);
        assert_beneath(root, "to_slash/etc", O_PATH | O_DIRECTORY, m, -ELOOP);
        assert_beneath(root, "dir_up_link/secret", O_RDONLY, m, -ELOOP);
        assert_beneath(root, "abs_host", O_PATH, m, -ELOOP);
        assert_beneath(root, "magic/passwd", O_RDONLY, m, -ELOOP);
        assert_beneath(root, "file/x", O_PATH, m, -ENOTDIR);
        assert_beneath(root, "nope/x", O_PATH, m, -ENOENT);
        assert_beneath(root, "../outside/secret", O_RDONLY, m, -EXDEV);
        assert_beneath(root, "/etc", O_PATH, m, -EXDEV);
    }
    assert_outside_untouched();
    fflush(stdout);
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        /* a mount namespace of our own: the tmpfs goes with this child */
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
            _exit(77);
        _cleanup_free_ char *dir = bl_asprintf("%s/root/dir", tap_tmpdir());
        if (!dir || mount("tmpfs", dir, "tmpfs", 0, "size=64k") < 0)
            _exit(77);
        /* the root again, from this namespace: an fd opened before unshare() still walks the
         * mounts of the namespace it was opened in, where there is no tmpfs */
        (void) close(root);
        _cleanup_free_ char *root_path = bl_asprintf("%s/root", tap_tmpdir());
        root = root_path ? open(root_path, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
        if (root < 0)
            _exit(1);
        for (size_t i = 0; i < n_modes; i++) {
            int r = bl_open_beneath(root, "dir", O_PATH | O_DIRECTORY, modes[i]);
            if (r != -EXDEV) {
                printf("# beneath 'dir' across a mount (%s): %d\n", mode_name(modes[i]), r);
                fflush(stdout);
                _exit(1);
            }
        }
        _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
        printf("# open_beneath_strict: mount crossing not checked (no mount namespace here)\n");
    else
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

#define PATH_TESTS                                                                                 \
    T(open_plain_and_root), T(open_dotdot_chains), T(open_symlink_to_slash_and_up),                \
        T(open_absolute_symlinks), T(open_symlink_last_component),                                 \
        T(open_file_where_dir_expected), T(mkdir_in_root_creates_inside),                          \
        T(mkdir_in_root_through_hostile_links), T(mkdir_in_root_refuses), T(open_beneath_strict)

/*
 * The path tests again with openat2() failing (ENOSYS: kernel < 5.6, valgrind; EPERM: container
 * profiles older than the call), so that BL_RESOLVE_AUTO takes the userspace walk by itself
 * (the KERNEL passes then expect the same failure, so they are skipped there). Each runs in its
 * own child, which installs the filter first.
 */
static void run_without_openat2(const struct tap_test *t, int errno_value)
{
    int status = 0;

    fflush(stdout);
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        struct open_how how = {.flags = O_PATH | O_CLOEXEC};
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
        if (!ctx || seccomp_rule_add(ctx, SCMP_ACT_ERRNO(errno_value), SCMP_SYS(openat2), 0) < 0 ||
            seccomp_load(ctx) < 0)
            tap_skip("cannot install a seccomp filter");
        seccomp_release(ctx);
        if (syscall(SYS_openat2, AT_FDCWD, ".", &how, sizeof(how)) != -1 || errno != errno_value)
            tap_skip("the filter does not decide what openat2 returns here");
        t->fn(); /* make_tree() leaves the KERNEL mode out */
        (void) bl_rm_rf_at(AT_FDCWD, tap_tmpdir());
        exit(0); /* exit, not _exit: LeakSanitizer runs at exit */
    }
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 77))
        tap_fail(__FILE__, __LINE__, "'%s' with openat2 failing with %s: status 0x%x", t->name,
                 strerror(errno_value), (unsigned) status);
}

TEST(auto_without_openat2)
{
    static const struct tap_test tests[] = {PATH_TESTS};
    static const int errnos[] = {ENOSYS, EPERM};

    for (size_t e = 0; e < ELEMENTSOF(errnos); e++)
        for (size_t i = 0; i < ELEMENTSOF(tests); i++)
            run_without_openat2(&tests[i], errnos[e]);
}

TAP_MAIN(PATH_TESTS, T(mkdir_in_root_depth_limit), T(mkdir_host_mode), T(write_file_atomic),
         T(fault_torture), T(auto_without_openat2))
