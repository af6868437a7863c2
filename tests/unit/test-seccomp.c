/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for seccomp.c: the cache (file created once, reused without recompiling, keyed by
 * the capabilities that matter, damaged files replaced, racing processes, failures leave no
 * temporary file), the exported program's shape, and real enforcement: a child loads the cached
 * file the way the shim does (no_new_privs + PR_SET_SECCOMP) and checks which syscalls fail and
 * which still work, for the native ABI, the i386 ABI and x32. Prints compile vs cached timings.
 */
#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "../lib/tap.h"
#include "alloc-util.h"
#include "caps.h"
#include "fs-util.h"
#include "seccomp-profile.h"

#define M(c) BL_CAP_MASK(CAP_##c)

/* A fresh path under the test's temporary directory (not created). Owned by the caller. */
static char *tmp_path(const char *name)
{
    char *p = bl_path_join(tap_tmpdir(), name);
    ASSERT_NOT_NULL(p);
    return p;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Counts the cache files and the temporary files left in dir. */
static void count_entries(const char *dir, int *ret_bpf, int *ret_tmp)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int bpf = 0, tmp = 0;

    ASSERT_NOT_NULL(d);
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (de->d_name[0] == '.')
            tmp++;
        else if (strncmp(de->d_name, "seccomp-v", 9) == 0)
            bpf++;
    }
    closedir(d);
    *ret_bpf = bpf;
    *ret_tmp = tmp;
}

static void assert_program_file(const char *path)
{
    struct stat st;

    ASSERT_OK(stat(path, &st));
    ASSERT_TRUE(S_ISREG(st.st_mode));
    ASSERT_TRUE(st.st_size > 0);
    ASSERT_EQ(st.st_size % (off_t) sizeof(struct sock_filter), 0);
    ASSERT_TRUE(st.st_size / (off_t) sizeof(struct sock_filter) <= BPF_MAXINSNS);
}

TEST(profile_created)
{
    _cleanup_free_ char *dir = tmp_path("cache/seccomp");
    _cleanup_free_ char *path = NULL;
    char want[64];
    struct stat st;
    int bpf, tmp;

    ASSERT_OK(bl_seccomp_profile(dir, bl_caps_default(), &path, &tap_last_err));
    ASSERT_NOT_NULL(path);
    ASSERT_TRUE(strncmp(path, dir, strlen(dir)) == 0 && path[strlen(dir)] == '/');
    (void) snprintf(want, sizeof(want), "seccomp-v%d-%016" PRIx64 ".bpf",
                    BL_SECCOMP_PROFILE_VERSION, bl_caps_default() & bl_seccomp_relevant_caps());
    ASSERT_STREQ(base_name(path), want);
    assert_program_file(path);

    ASSERT_OK(stat(dir, &st));
    ASSERT_TRUE(S_ISDIR(st.st_mode));
    ASSERT_EQ(st.st_mode & 07777, 0700);
    count_entries(dir, &bpf, &tmp);
    ASSERT_EQ(bpf, 1);
    ASSERT_EQ(tmp, 0);
}

TEST(profile_cached)
{
    _cleanup_free_ char *dir = tmp_path("cache");
    _cleanup_free_ char *p1 = NULL, *p2 = NULL;
    struct stat s1, s2;

    ASSERT_OK(bl_seccomp_profile(dir, bl_caps_default(), &p1, &tap_last_err));
    ASSERT_OK(stat(p1, &s1));
    ASSERT_OK(bl_seccomp_profile(dir, bl_caps_default(), &p2, &tap_last_err));
    ASSERT_STREQ(p1, p2);
    ASSERT_OK(stat(p2, &s2));
    /* not rewritten: same inode, same modification time */
    ASSERT_EQ(s1.st_ino, s2.st_ino);
    ASSERT_EQ(s1.st_mtim.tv_sec, s2.st_mtim.tv_sec);
    ASSERT_EQ(s1.st_mtim.tv_nsec, s2.st_mtim.tv_nsec);
}

TEST(relevant_caps)
{
    uint64_t r = bl_seccomp_relevant_caps();

    ASSERT_TRUE(r & M(SYS_ADMIN));
    ASSERT_TRUE(r & M(SYS_BOOT));
    ASSERT_TRUE(r & M(SYS_MODULE));
    ASSERT_TRUE(r & M(SYS_TIME));
    ASSERT_TRUE(r & M(SYS_PTRACE));
    ASSERT_TRUE(r & M(SYS_NICE));
    ASSERT_TRUE(r & M(DAC_READ_SEARCH));
    ASSERT_TRUE(!(r & M(NET_ADMIN)));
    ASSERT_TRUE(!(r & M(CHOWN)));
    ASSERT_TRUE(!(r & bl_caps_default())); /* the default set changes nothing: one key */
}

TEST(profile_keyed_by_caps)
{
    _cleanup_free_ char *dir = tmp_path("cache");
    _cleanup_free_ char *def = NULL, *admin = NULL, *net = NULL, *none = NULL;
    _cleanup_free_ char *def_data = NULL, *admin_data = NULL;
    size_t def_len = 0, admin_len = 0;
    int bpf, tmp;

    ASSERT_OK(bl_seccomp_profile(dir, bl_caps_default(), &def, &tap_last_err));
    ASSERT_OK(bl_seccomp_profile(dir, bl_caps_default() | M(SYS_ADMIN), &admin, &tap_last_err));
    ASSERT_OK(bl_seccomp_profile(dir, bl_caps_default() | M(NET_ADMIN), &net, &tap_last_err));
    ASSERT_OK(bl_seccomp_profile(dir, 0, &none, &tap_last_err));

    ASSERT_TRUE(strcmp(def, admin) != 0);
    ASSERT_STREQ(def, net);  /* NET_ADMIN does not change the filter */
    ASSERT_STREQ(def, none); /* nor does the default set */
    assert_program_file(admin);

    ASSERT_OK(bl_read_file_at(AT_FDCWD, def, 1 << 20, &def_data, &def_len, &tap_last_err));
    ASSERT_OK(bl_read_file_at(AT_FDCWD, admin, 1 << 20, &admin_data, &admin_len, &tap_last_err));
    ASSERT_TRUE(def_len != admin_len || memcmp(def_data, admin_data, def_len) != 0);
    count_entries(dir, &bpf, &tmp);
    ASSERT_EQ(bpf, 2);
    ASSERT_EQ(tmp, 0);
}

TEST(damaged_file_replaced)
{
    _cleanup_free_ char *dir = tmp_path("cache");
    _cleanup_free_ char *p1 = NULL, *p2 = NULL;
    struct stat s1, s2;

    ASSERT_OK(bl_seccomp_profile(dir, bl_caps_default(), &p1, &tap_last_err));
    ASSERT_OK(truncate(p1, 5)); /* not a whole number of instructions */
    ASSERT_OK(stat(p1, &s1));
    ASSERT_OK(bl_seccomp_profile(dir, bl_caps_default(), &p2, &tap_last_err));
    ASSERT_STREQ(p1, p2);
    assert_program_file(p2);
    ASSERT_OK(stat(p2, &s2));
    ASSERT_TRUE(s1.st_ino != s2.st_ino);

    ASSERT_OK(truncate(p1, 0)); /* empty */
    free(p2);
    p2 = NULL;
    ASSERT_OK(bl_seccomp_profile(dir, bl_caps_default(), &p2, &tap_last_err));
    assert_program_file(p2);
}

TEST(profile_errors)
{
    _cleanup_free_ char *file = tmp_path("file");
    _cleanup_free_ char *below = tmp_path("file/cache");
    _cleanup_close_ int fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    char *sentinel = (char *) "untouched", *path = sentinel;
    bl_error *e = NULL;

    ASSERT_TRUE(fd >= 0);
    ASSERT_ERR(bl_seccomp_profile(file, bl_caps_default(), &path, &e), -ENOTDIR);
    ASSERT_TRUE(path == sentinel);
    ASSERT_NOT_NULL(e);
    ASSERT_TRUE(strstr(e->msg, "is not a directory") != NULL);
    bl_error_free(e);
    e = NULL;

    ASSERT_ERR(bl_seccomp_profile(below, bl_caps_default(), &path, &e), -ENOTDIR);
    ASSERT_TRUE(path == sentinel);
    ASSERT_NOT_NULL(e);
    ASSERT_TRUE(strstr(e->msg, "cannot create directory") != NULL);
    bl_error_free(e);
    e = NULL;

    ASSERT_ERR(bl_seccomp_profile("", bl_caps_default(), &path, &e), -EINVAL);
    ASSERT_TRUE(path == sentinel);
    bl_error_free(e);

    /* a read-only cache directory: creating the file fails, nothing is left behind */
    if (geteuid() != 0) {
        _cleanup_free_ char *ro = tmp_path("ro");
        int bpf, tmp;
        ASSERT_OK(mkdir(ro, 0500));
        e = NULL;
        ASSERT_ERR(bl_seccomp_profile(ro, bl_caps_default(), &path, &e), -EACCES);
        ASSERT_TRUE(path == sentinel);
        bl_error_free(e);
        count_entries(ro, &bpf, &tmp);
        ASSERT_EQ(bpf + tmp, 0);
    }
}

/* Several processes miss the cache at once; all succeed and leave one whole file. */
TEST(concurrent_compile)
{
    enum { N = 8 };
    _cleanup_free_ char *dir = tmp_path("cache");
    _cleanup_free_ char *path = NULL;
    pid_t pids[N];
    int gate[2], bpf, tmp;

    ASSERT_OK(pipe2(gate, O_CLOEXEC));
    (void) fflush(stdout);
    for (int i = 0; i < N; i++) {
        pids[i] = fork();
        ASSERT_TRUE(pids[i] >= 0);
        if (pids[i] == 0) {
            char c;
            char *p = NULL;
            (void) close(gate[1]);
            (void) !read(gate[0], &c, 1); /* released all together by the close below */
            int r = bl_seccomp_profile(dir, bl_caps_default(), &p, NULL);
            int ok = r == 0 && p != NULL;
            free(p);
            exit(ok ? 0 : 1); /* exit, not _exit: LeakSanitizer runs at exit */
        }
    }
    (void) close(gate[0]);
    (void) close(gate[1]);
    for (int i = 0; i < N; i++) {
        int status = 0;
        ASSERT_EQ(waitpid(pids[i], &status, 0), pids[i]);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    count_entries(dir, &bpf, &tmp);
    ASSERT_EQ(bpf, 1);
    ASSERT_EQ(tmp, 0);
    ASSERT_OK(bl_seccomp_profile(dir, bl_caps_default(), &path, &tap_last_err));
    assert_program_file(path);
}

/* ---- enforcement: a child loads the program as the shim does ---- */

static int report_fd = -1;

/* In the filtered child: report what failed through the pipe, then _exit. */
static _noreturn_ void child_fail(int line, const char *what, long r, int e)
{
    char buf[512];
    int n = snprintf(buf, sizeof(buf), "line %d: %s (returned %ld, errno %d %s)", line, what, r, e,
                     strerrorname_np(e) ? strerrorname_np(e) : "?");
    if (n > 0)
        (void) !write(report_fd, buf, (size_t) MIN(n, (int) sizeof(buf) - 1));
    _exit(1);
}

/* r must be -1 with errno e. */
#define EXPECT_ERRNO(call, e)                                                                      \
    do {                                                                                           \
        errno = 0;                                                                                 \
        long r_ = (long) (call);                                                                   \
        int e_ = errno;                                                                            \
        if (r_ != -1 || e_ != (e))                                                                 \
            child_fail(__LINE__, #call " should fail with " #e, r_, e_);                           \
    } while (0)
/* The call must not fail with errno e (the filter did not block it). */
#define EXPECT_NOT_ERRNO(call, e)                                                                  \
    do {                                                                                           \
        errno = 0;                                                                                 \
        long r_ = (long) (call);                                                                   \
        int e_ = errno;                                                                            \
        if (r_ == -1 && e_ == (e))                                                                 \
            child_fail(__LINE__, #call " was blocked with " #e, r_, e_);                           \
    } while (0)
#define EXPECT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond))                                                                               \
            child_fail(__LINE__, #cond, 0, errno);                                                 \
    } while (0)

static void *thread_fn(void *arg)
{
    return arg;
}

/* Runs fn in a grandchild and returns its wait status (0 on fork failure is impossible here). */
static int in_grandchild(void (*fn)(void))
{
    int status = 0;
    pid_t p = fork();
    if (p < 0)
        return -1;
    if (p == 0) {
        fn();
        _exit(0);
    }
    while (waitpid(p, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return status;
}

static void x32_getpid(void)
{
    struct rlimit no_core = {0, 0};
    (void) setrlimit(RLIMIT_CORE, &no_core);
    (void) syscall(0x40000000 /* __X32_SYSCALL_BIT */ | SYS_getpid);
    _exit(3); /* not reached: the filter kills non-native ABIs */
}

#if defined(__x86_64__)
/* A syscall through the i386 entry (int $0x80), as a 32-bit program would make it. */
static long i386_syscall(long nr, long a, long b, long c)
{
    long ret = nr;
    __asm__ volatile("int $0x80"
                     : "+a"(ret)
                     : "b"(a), "c"(b), "d"(c)
                     : "memory", "r8", "r9", "r10", "r11");
    return ret;
}
#define I386_getpid 20
#define I386_personality 136
#define I386_keyctl 288
#define I386_unshare 310
#define I386_clone3 435
#endif

static _noreturn_ void personality_fail(int line, unsigned long v, long r, int e)
{
    char what[64];
    (void) snprintf(what, sizeof(what), "personality(0x%lx) filtered wrongly", v);
    child_fail(line, what, r, e);
}

static void check_personality(void)
{
    static const unsigned long allowed[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};

    for (size_t i = 0; i < ELEMENTSOF(allowed); i++)
        EXPECT_NOT_ERRNO(syscall(SYS_personality, allowed[i]), EPERM);
    /* every single bit, every pair of bits, and all ones but one bit */
    for (int a = 0; a < 32; a++) {
        for (int b = a; b < 32; b++) {
            unsigned long v = (1UL << a) | (1UL << b);
            int ok = (v & ~0x20008UL) == 0;
            errno = 0;
            long r = syscall(SYS_personality, v);
            if (ok ? (r == -1) : (r != -1 || errno != EPERM))
                personality_fail(__LINE__, v, r, errno);
        }
        unsigned long v = 0xffffffffUL & ~(1UL << a);
        errno = 0;
        long r = syscall(SYS_personality, v);
        if (r != -1 || errno != EPERM)
            personality_fail(__LINE__, v, r, errno);
    }
    EXPECT_ERRNO(syscall(SYS_personality, 0x0040000UL /* ADDR_NO_RANDOMIZE */), EPERM);
    EXPECT_ERRNO(syscall(SYS_personality, 0x0400000UL /* READ_IMPLIES_EXEC */), EPERM);
    EXPECT_NOT_ERRNO(syscall(SYS_personality, 0UL), EPERM); /* back to PER_LINUX */
}

static const unsigned long ns_flags[] = {CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,   CLONE_NEWUSER,
                                         CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP};

/* The checks for a box with the default capabilities. */
static void check_default(pid_t pid)
{
    int p[2];
    char c = 0;
    int status;
    pthread_t t;
    void *tret = NULL;

    /* what every program needs still works */
    EXPECT(getpid() == pid);
    EXPECT(syscall(SYS_getpid) == pid);
    EXPECT(pipe2(p, O_CLOEXEC) == 0);
    EXPECT(write(p[1], "x", 1) == 1);
    EXPECT(read(p[0], &c, 1) == 1 && c == 'x');
    int fd = openat(AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC);
    EXPECT(fd >= 0);
    (void) close(fd);
    /* fork is clone without namespace flags */
    pid_t g = fork();
    if (g == 0)
        _exit(7);
    EXPECT(g > 0);
    EXPECT(waitpid(g, &status, 0) == g && WIFEXITED(status) && WEXITSTATUS(status) == 7);
    /* glibc tries clone3 first and falls back to clone on ENOSYS */
    EXPECT(pthread_create(&t, NULL, thread_fn, &c) == 0);
    EXPECT(pthread_join(t, &tret) == 0 && tret == &c);
    EXPECT_NOT_ERRNO(syscall(SYS_ptrace, -1L /* no such request */, 0, NULL, NULL), EPERM);

    /*
     * Namespaces and mounts. Arguments are chosen so that a call the filter failed to block is
     * harmless even as root (a missing mount point, a bad fd).
     */
    EXPECT_ERRNO(syscall(SYS_unshare, CLONE_NEWUTS), EPERM);
    EXPECT_ERRNO(syscall(SYS_unshare, CLONE_NEWUSER), EPERM);
    EXPECT_ERRNO(syscall(SYS_unshare, CLONE_FILES), EPERM);
    EXPECT_ERRNO(syscall(SYS_setns, -1, 0), EPERM);
    EXPECT_ERRNO(syscall(SYS_mount, "none", "/nonexistent-bl", "tmpfs", 0UL, NULL), EPERM);
    EXPECT_ERRNO(syscall(SYS_umount2, "/nonexistent-bl", 0), EPERM);
    EXPECT_ERRNO(syscall(SYS_fsopen, "tmpfs", 0), EPERM);
    EXPECT_ERRNO(syscall(SYS_open_tree, AT_FDCWD, "/", 0), EPERM);
    EXPECT_ERRNO(syscall(SYS_clone3, NULL, 0), ENOSYS);
    for (size_t i = 0; i < ELEMENTSOF(ns_flags); i++) {
        errno = 0;
        long r = syscall(SYS_clone, ns_flags[i] | SIGCHLD, 0UL, NULL, NULL, 0UL);
        if (r == 0)
            _exit(0); /* the filter let it through: the parent reports it below */
        int e = errno;
        if (r > 0)
            (void) waitpid((pid_t) r, &status, 0);
        if (r != -1 || e != EPERM)
            child_fail(__LINE__, "clone with a namespace flag", r, e);
    }

    /* always denied */
    EXPECT_ERRNO(syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* session */, 0), EPERM);
    EXPECT_ERRNO(syscall(SYS_add_key, "user", "bl", "x", 1, -3), EPERM);
    EXPECT_ERRNO(syscall(SYS_io_uring_setup, 1, NULL), EPERM);
    EXPECT_ERRNO(syscall(SYS_kexec_load, 0UL, 0UL, NULL, ~0UL /* invalid flags */), EPERM);
    EXPECT_ERRNO(syscall(SYS_swapoff, "/nonexistent"), EPERM);
    /* capability-conditional, none of which the default set holds */
    EXPECT_ERRNO(syscall(SYS_reboot, 0, 0, 0, NULL), EPERM);
    EXPECT_ERRNO(syscall(SYS_init_module, NULL, 0UL, ""), EPERM);
    EXPECT_ERRNO(syscall(SYS_settimeofday, NULL, NULL), EPERM);
    EXPECT_ERRNO(syscall(SYS_clock_settime, CLOCK_REALTIME, NULL), EPERM);
    EXPECT_ERRNO(syscall(SYS_bpf, 0, NULL, 0), EPERM);
    EXPECT_ERRNO(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0UL), EPERM);
    EXPECT_ERRNO(syscall(SYS_open_by_handle_at, -1, NULL, 0), EPERM);
    EXPECT_ERRNO(syscall(SYS_kcmp, 1, 1, 0, 0UL, 0UL), EPERM);
    EXPECT_ERRNO(syscall(SYS_get_mempolicy, NULL, NULL, 0UL, NULL, 0UL), EPERM);
    EXPECT_ERRNO(syscall(SYS_acct, "/nonexistent-bl/acct"), EPERM);
    EXPECT_ERRNO(syscall(SYS_iopl, 0), EPERM);
    /* allowed on purpose */
    EXPECT_NOT_ERRNO(syscall(SYS_name_to_handle_at, AT_FDCWD, "/", NULL, NULL, 0), EPERM);
    EXPECT_NOT_ERRNO(syscall(SYS_process_vm_readv, getpid(), NULL, 0UL, NULL, 0UL, 0UL), EPERM);

    check_personality();

    /* other ABIs: x32 is killed, i386 gets the same rules */
    status = in_grandchild(x32_getpid);
    EXPECT(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS);
#if defined(__x86_64__)
    EXPECT(i386_syscall(I386_getpid, 0, 0, 0) == pid);
    EXPECT(i386_syscall(I386_unshare, CLONE_NEWUTS, 0, 0) == -EPERM);
    EXPECT(i386_syscall(I386_keyctl, 0, -3, 0) == -EPERM);
    EXPECT(i386_syscall(I386_clone3, 0, 0, 0) == -ENOSYS);
    EXPECT(i386_syscall(I386_personality, 0x0040000, 0, 0) == -EPERM);
    EXPECT(i386_syscall(I386_personality, 0xffffffff, 0, 0) >= 0);
#endif
}

/* The checks for a box holding CAP_SYS_ADMIN: the namespace rules are gone, the rest stays. */
static void check_sys_admin(void)
{
    int status;

    EXPECT_NOT_ERRNO(syscall(SYS_clone3, NULL, 0), ENOSYS);
    EXPECT_ERRNO(syscall(SYS_setns, -1, 0), EBADF);
    if (geteuid() == 0) { /* root, or root of a user namespace: the kernel allows these */
        EXPECT(syscall(SYS_unshare, CLONE_NEWUTS) == 0);
        long r = syscall(SYS_clone, CLONE_NEWUTS | SIGCHLD, 0UL, NULL, NULL, 0UL);
        if (r == 0)
            _exit(0);
        EXPECT(r > 0);
        EXPECT(waitpid((pid_t) r, &status, 0) == r);
    }
    EXPECT_ERRNO(syscall(SYS_keyctl, 0, -3, 0), EPERM);
    EXPECT_ERRNO(syscall(SYS_reboot, 0, 0, 0, NULL), EPERM);
    EXPECT_ERRNO(syscall(SYS_personality, 0x0040000UL), EPERM);
}

/*
 * Fork a child that installs the program in `path` and runs `sys_admin ? check_sys_admin :
 * check_default`; fail the test with the child's report if any check failed.
 */
static void skip_under_valgrind(void)
{
    const char *preload = getenv("LD_PRELOAD");
    if (preload && strstr(preload, "vgpreload"))
        SKIP("valgrind answers some syscalls (clone3, setns on a bad fd) without the kernel");
}

static void run_enforced(const char *path, int sys_admin)
{
    _cleanup_free_ char *data = NULL;
    _cleanup_close_ int rd = -1;
    size_t len = 0;
    int p[2], status = 0;
    char msg[512];

    ASSERT_OK(bl_read_file_at(AT_FDCWD, path, 1 << 20, &data, &len, &tap_last_err));
    ASSERT_TRUE(len > 0 && len % sizeof(struct sock_filter) == 0);
    ASSERT_OK(pipe2(p, O_CLOEXEC));
    rd = p[0];
    (void) fflush(stdout);
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        struct sock_fprog prog = {
            .len = (unsigned short) (len / sizeof(struct sock_filter)),
            .filter = (struct sock_filter *) (void *) data,
        };
        pid_t self = getpid();
        report_fd = p[1];
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
            child_fail(__LINE__, "PR_SET_NO_NEW_PRIVS", -1, errno);
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
            child_fail(__LINE__, "PR_SET_SECCOMP", -1, errno);
        if (sys_admin)
            check_sys_admin();
        else
            check_default(self);
        _exit(0); /* never return into the test's cleanup scopes */
    }
    (void) close(p[1]);
    ssize_t n = read(rd, msg, sizeof(msg) - 1);
    msg[n > 0 ? n : 0] = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        tap_fail(__FILE__, __LINE__, "filtered child: status 0x%x: %s", (unsigned) status,
                 msg[0] ? msg : "(no report)");
}

TEST(enforced_default)
{
    skip_under_valgrind(); /* first: a skip leaves the temporary directory */
    _cleanup_free_ char *dir = tmp_path("cache");
    _cleanup_free_ char *path = NULL;

    ASSERT_OK(bl_seccomp_profile(dir, bl_caps_default(), &path, &tap_last_err));
    run_enforced(path, /* sys_admin= */ 0);
}

TEST(enforced_sys_admin)
{
    skip_under_valgrind(); /* first: a skip leaves the temporary directory */
    _cleanup_free_ char *dir = tmp_path("cache");
    _cleanup_free_ char *path = NULL;

    ASSERT_OK(bl_seccomp_profile(dir, bl_caps_default() | M(SYS_ADMIN), &path, &tap_last_err));
    run_enforced(path, /* sys_admin= */ 1);
}

static double elapsed_us(const struct timespec *a, const struct timespec *b)
{
    return (double) (b->tv_sec - a->tv_sec) * 1e6 + (double) (b->tv_nsec - a->tv_nsec) / 1e3;
}

/* What a box start costs: a miss compiles; a hit is the lookup plus the shim's read. */
TEST(timing)
{
    enum { ROUNDS = 200 };
    _cleanup_free_ char *dir = tmp_path("cache");
    _cleanup_free_ char *path = NULL;
    _cleanup_close_ int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    struct timespec t0, t1, t2;
    double lookup = 0, read_us = 0, export_us = 1e12;

    ASSERT_TRUE(devnull >= 0);
    ASSERT_OK(clock_gettime(CLOCK_MONOTONIC, &t0));
    ASSERT_OK(bl_seccomp_profile(dir, bl_caps_default(), &path, &tap_last_err));
    ASSERT_OK(clock_gettime(CLOCK_MONOTONIC, &t1));
    double compile_us = elapsed_us(&t0, &t1);

    /* libseccomp alone, best of a few (no file system) */
    for (int i = 0; i < 5; i++) {
        ASSERT_OK(clock_gettime(CLOCK_MONOTONIC, &t0));
        ASSERT_OK(bl_seccomp_export(bl_caps_default(), devnull, &tap_last_err));
        ASSERT_OK(clock_gettime(CLOCK_MONOTONIC, &t1));
        export_us = MIN(export_us, elapsed_us(&t0, &t1));
    }

    for (int i = 0; i < ROUNDS; i++) {
        _cleanup_free_ char *p = NULL, *data = NULL;
        size_t len = 0;

        ASSERT_OK(clock_gettime(CLOCK_MONOTONIC, &t0));
        ASSERT_OK(bl_seccomp_profile(dir, bl_caps_default(), &p, &tap_last_err));
        ASSERT_OK(clock_gettime(CLOCK_MONOTONIC, &t1));
        ASSERT_OK(bl_read_file_at(AT_FDCWD, p, 1 << 20, &data, &len, &tap_last_err));
        ASSERT_OK(clock_gettime(CLOCK_MONOTONIC, &t2));
        lookup += elapsed_us(&t0, &t1);
        read_us += elapsed_us(&t1, &t2);
        if (i == 0)
            printf("# program: %zu instructions\n", len / sizeof(struct sock_filter));
    }
    lookup /= ROUNDS;
    read_us /= ROUNDS;
    /*
     * compile: the first miss of a fresh process (libseccomp cold, mkdir, write, fsync, rename);
     * on a disk the fsync dominates, which is one more reason to pay it once.
     */
    printf("# compile %.2f ms, cached %.1f us (cached = lookup %.1f us + read %.1f us, mean of %d;"
           " libseccomp alone, warm: %.2f ms)\n",
           compile_us / 1e3, lookup + read_us, lookup, read_us, ROUNDS, export_us / 1e3);
    (void) fflush(stdout);
}

/* In a child with BL_FAULT=n: a miss (a new cache directory per run) must succeed, or fail
 * cleanly and leave no temporary file. */
static int torture_run(unsigned long n, void *userdata)
{
    char dir[4200];
    char *sentinel = (char *) "untouched", *path = sentinel;
    bl_error *e = NULL;
    int res, bpf = 0, tmp = 0;

    (void) userdata;
    (void) snprintf(dir, sizeof(dir), "%s/cache-%lu", tap_tmpdir(), n);
    int r = bl_seccomp_profile(dir, bl_caps_default(), &path, &e);
    if (r < 0) {
        DIR *d = opendir(dir);
        if (d) {
            closedir(d);
            count_entries(dir, &bpf, &tmp);
        }
        res = e && e->code == r && path == sentinel && bpf == 0 && tmp == 0 ? TAP_RUN_FAILED
                                                                            : TAP_RUN_BUG;
        bl_error_free(e);
        return res;
    }
    res = !e && path != sentinel ? TAP_RUN_OK : TAP_RUN_BUG;
    free(path);
    return res;
}

/* Fail the Nth fault point for N = 1, 2, ... until a run reaches none: path, directory,
 * temporary name and export are exercised. */
TEST(torture)
{
    tap_torture(&(struct tap_torture){
        .name = "profile miss", .run = torture_run, .max_faults = 50, .min_faults = 3});
}

TAP_MAIN(T(profile_created), T(profile_cached), T(relevant_caps), T(profile_keyed_by_caps),
         T(damaged_file_replaced), T(profile_errors), T(concurrent_compile), T(enforced_default),
         T(enforced_sys_admin), T(timing), T(torture))
