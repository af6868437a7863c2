/* SPDX-License-Identifier: MIT */
/*
 * Execution sessions (include/boxlite/exec.h) against a real box: a root filesystem made of the
 * host's static busybox, run by the boxlite-shim built beside this test. Needs root and
 * /bin/busybox (static); skips (with the reason) otherwise. Besides the harness's fd and child
 * checks, each test checks that the session thread is gone once its sessions have ended.
 */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "../lib/tap.h"
#include "alloc-util.h"
#include "box-exec.h"
#include "boxlite/exec.h"
#include "boxlite/runtime.h"

/* asprintf that cannot fail (the test process must reach no fault point: bl_* allocations
 * are ones) */
static char *tstr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *tstr(const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    ASSERT_TRUE(n >= 0);
    return s;
}

static boxlite_runtime *rt;
static boxlite_box *box;
static char *home;

static int count_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    ASSERT_NOT_NULL(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int base_threads = 1; /* the test's own (a sanitizer may add one) */

/* The session thread ends by itself once no session has fds: wait for it (at most 3 s). */
static void assert_one_thread(void)
{
    for (int i = 0; i < 300 && count_threads() > base_threads; i++)
        sleep_ms(10);
    ASSERT_EQ(count_threads(), base_threads);
}

static boxlite_runtime *open_rt(void)
{
    boxlite_runtime_opts o;
    boxlite_runtime_opts_init(&o);
    o.home = home;
    boxlite_runtime *r = NULL;
    ASSERT_OK(boxlite_runtime_open(&o, &r, &tap_last_err));
    return r;
}

/* Skips without root, busybox or the shim; else makes the home's path and a busybox rootfs. */
static void setup_env(void)
{
    base_threads = count_threads();
    if (geteuid() != 0)
        SKIP("needs root (boxes are made with the host's ids)");
    struct stat st;
    if (stat("/bin/busybox", &st) < 0)
        SKIP("needs /bin/busybox (Debian: busybox-static) for the box's root filesystem");
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    ASSERT_TRUE(n > 0);
    self[n] = 0;
    *strrchr(self, '/') = 0;
    _cleanup_free_ char *shim = tstr("%s/../boxlite-shim", self);
    if (access(shim, X_OK) < 0)
        SKIP("needs boxlite-shim beside the tests (make)");
    ASSERT_OK(setenv("BOXLITE_SHIM", shim, 1));
    home = tstr("%s/home", tap_tmpdir());
    _cleanup_free_ char *root = tstr("%s/rootfs", tap_tmpdir());
    _cleanup_free_ char *bin = tstr("%s/bin", root);
    ASSERT_OK(mkdir(root, 0755));
    ASSERT_OK(mkdir(bin, 0755));
    _cleanup_free_ char *cmd = tstr("cp /bin/busybox %s/busybox", bin);
    ASSERT_EQ(system(cmd), 0);
    static const char *const links[] = {"sh",   "cat",  "sleep", "stty",
                                        "echo", "true", "head",  "seq"};
    for (size_t i = 0; i < ELEMENTSOF(links); i++) {
        _cleanup_free_ char *l = tstr("%s/%s", bin, links[i]);
        ASSERT_OK(symlink("busybox", l));
    }
}

/* A runtime and a box (rootfs of busybox, no command), started attached to this test process:
 * a test that fails half-way (its process exits at the failed assertion, teardown never runs)
 * takes the box with it, as a foreground `run` does, so no shim outlives a failure. */
static void setup(void)
{
    setup_env();
    _cleanup_free_ char *root = tstr("%s/rootfs", tap_tmpdir());
    rt = open_rt();
    boxlite_box_opts o;
    boxlite_box_opts_init(&o);
    o.rootfs = root;
    o.network = "disabled";
    ASSERT_OK(boxlite_box_create(rt, &o, &box, &tap_last_err));
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    ASSERT_TRUE(null >= 0);
    const int stdio[3] = {null, null, null};
    int status = -1;
    ASSERT_OK(boxlite_box_start(rt, box, stdio, &status, &tap_last_err));
    (void) close(null);
}

static void teardown(void)
{
    ASSERT_OK(boxlite_box_stop(rt, box, 0, &tap_last_err));
    ASSERT_OK(boxlite_box_remove(rt, box, 1, &tap_last_err));
    boxlite_box_free(box);
    boxlite_runtime_free(rt);
    free(home);
    assert_one_thread();
}

static boxlite_execution *start_opts(boxlite_execution_opts *o)
{
    boxlite_execution *x = NULL;
    int status = -1;
    ASSERT_OK(boxlite_execution_start(rt, box, o, &x, &status, &tap_last_err));
    ASSERT_EQ(status, 0);
    return x;
}

static boxlite_execution *start(const char *const *argv)
{
    boxlite_execution_opts o;
    boxlite_execution_opts_init(&o);
    o.argv = argv;
    return start_opts(&o);
}

#define CHUNK_MAX (32 * 1024 + 1) /* the largest attach datagram */

struct output {
    char out[400 * 1024], err[64 * 1024];
    size_t out_len, err_len;
    int exit_code; /* -1: no EXIT datagram */
    bool eof;
};

/* Read an attachment until `want` appears on stdout, or until its end (want NULL), at most
 * 10 s. */
static void read_attach(int fd, struct output *o, const char *want)
{
    static char buf[64 * 1024];
    for (int spins = 0; spins < 1000; spins++) {
        if (want && memmem(o->out, o->out_len, want, strlen(want)))
            return;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 10) <= 0)
            continue;
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        ASSERT_TRUE(n >= 0);
        if (n == 0) {
            o->eof = true;
            ASSERT_TRUE(!want);
            return;
        }
        ASSERT_TRUE(n <= 32 * 1024 + 1);
        if (buf[0] == BOXLITE_ATTACH_STDOUT) {
            ASSERT_TRUE(o->out_len + (size_t) n - 1 <= sizeof(o->out));
            memcpy(o->out + o->out_len, buf + 1, (size_t) n - 1);
            o->out_len += (size_t) n - 1;
        } else if (buf[0] == BOXLITE_ATTACH_STDERR) {
            ASSERT_TRUE(o->err_len + (size_t) n - 1 <= sizeof(o->err));
            memcpy(o->err + o->err_len, buf + 1, (size_t) n - 1);
            o->err_len += (size_t) n - 1;
        } else {
            ASSERT_EQ(buf[0], BOXLITE_ATTACH_EXIT);
            ASSERT_EQ(n, 5);
            int32_t st;
            memcpy(&st, buf + 1, 4);
            o->exit_code = st;
        }
    }
    tap_fail(__FILE__, __LINE__, "attachment: no %s within 10 s", want ? want : "end");
}

/* Attach, read everything to the end; returns the output (static). */
static struct output *collect(boxlite_execution *x)
{
    static struct output o;
    memset(&o, 0, sizeof(o));
    o.exit_code = -1;
    int fd = -1;
    ASSERT_OK(boxlite_execution_attach(x, &fd, &tap_last_err));
    read_attach(fd, &o, NULL);
    close(fd);
    return &o;
}

static int wait_exit(boxlite_execution *x)
{
    int code = -1;
    ASSERT_OK(boxlite_execution_wait(x, 10000, &code, &tap_last_err));
    return code;
}

static boxlite_execution_state state_of(boxlite_execution *x)
{
    boxlite_execution_info i;
    boxlite_execution_get_info(x, &i);
    return i.state;
}

/* Start the box (on demand, by a first session): until then the handle that created it holds
 * its lock, which other handles wait for. */
static void start_box(void)
{
    const char *ok[] = {"true", NULL};
    boxlite_execution *x = start(ok);
    ASSERT_EQ(wait_exit(x), 0);
    ASSERT_OK(boxlite_execution_kill(x, 1000, &tap_last_err));
    boxlite_execution_free(x);
}

TEST(exit_codes_and_kill)
{
    setup();
    const char *ok[] = {"true", NULL}, *three[] = {"sh", "-c", "exit 3", NULL};
    const char *slp[] = {"sleep", "100", NULL};
    boxlite_execution *a = start(ok), *b = start(three), *c = start(slp);
    ASSERT_EQ(wait_exit(a), 0);
    ASSERT_EQ(wait_exit(b), 3);
    ASSERT_EQ(state_of(a), BOXLITE_EXECUTION_COMPLETED);
    ASSERT_ERR(boxlite_execution_wait(c, 100, NULL, NULL), -ETIMEDOUT);
    boxlite_execution_info i;
    boxlite_execution_get_info(c, &i);
    ASSERT_EQ(i.state, BOXLITE_EXECUTION_RUNNING);
    ASSERT_EQ(i.exit_code, -1);
    ASSERT_TRUE(i.pid > 0 && kill(i.pid, 0) == 0);
    ASSERT_TRUE(i.started_ns > 0 && i.ended_ns == 0);
    ASSERT_OK(boxlite_execution_kill(c, 5000, &tap_last_err));
    boxlite_execution_get_info(c, &i);
    ASSERT_EQ(i.state, BOXLITE_EXECUTION_KILLED);
    ASSERT_EQ(i.exit_code, 137);
    ASSERT_TRUE(i.ended_ns >= i.started_ns);
    ASSERT_STREQ(boxlite_execution_state_name(i.state), "killed");
    /* killed = evicted; the others stay findable */
    boxlite_execution *l = NULL;
    ASSERT_ERR(boxlite_execution_lookup(rt, boxlite_execution_id(c), &l, NULL), -ENOENT);
    ASSERT_OK(boxlite_execution_lookup(rt, boxlite_execution_id(b), &l, &tap_last_err));
    ASSERT_TRUE(l == b);
    ASSERT_STREQ(boxlite_execution_box_id(l), boxlite_box_id(box));
    boxlite_execution_free(l);
    ASSERT_OK(boxlite_execution_kill(b, 0, &tap_last_err)); /* ended: only evicted */
    ASSERT_ERR(boxlite_execution_lookup(rt, boxlite_execution_id(b), &l, NULL), -ENOENT);
    ASSERT_OK(boxlite_execution_kill(a, 0, &tap_last_err));
    boxlite_execution_free(a);
    boxlite_execution_free(b);
    boxlite_execution_free(c);
    /* a command that cannot be found: 127, with a message */
    const char *none[] = {"/nonexistent", NULL};
    boxlite_execution_opts o;
    boxlite_execution_opts_init(&o);
    o.argv = none;
    boxlite_execution *x = NULL;
    int status = 0;
    bl_error *e = NULL;
    ASSERT_TRUE(boxlite_execution_start(rt, box, &o, &x, &status, &e) < 0);
    ASSERT_EQ(status, 127);
    ASSERT_NULL(x);
    ASSERT_NOT_NULL(e);
    bl_error_free(e);
    o.argv = ok;
    o.timeout_seconds = -1;
    ASSERT_ERR(boxlite_execution_start(rt, box, &o, &x, NULL, NULL), -EINVAL);
    teardown();
}

TEST(lookup_unknown_id)
{
    boxlite_execution *x = NULL;
    ASSERT_ERR(boxlite_execution_lookup(NULL, "nosuchexecutionidatall", &x, NULL), -ENOENT);
    ASSERT_NULL(x);
}

TEST(stdout_stderr_and_ids)
{
    setup();
    const char *argv[] = {"sh", "-c", "echo out; echo err >&2; echo more", NULL};
    boxlite_execution *x = start(argv), *y = start(argv);
    ASSERT_EQ(strlen(boxlite_execution_id(x)), 22);
    ASSERT_TRUE(strcmp(boxlite_execution_id(x), boxlite_execution_id(y)) != 0);
    struct output *o = collect(x);
    ASSERT_EQ(o->exit_code, 0);
    ASSERT_TRUE(o->eof);
    ASSERT_EQ(o->out_len, 9);
    ASSERT_TRUE(!memcmp(o->out, "out\nmore\n", 9));
    ASSERT_EQ(o->err_len, 4);
    ASSERT_TRUE(!memcmp(o->err, "err\n", 4));
    ASSERT_EQ(wait_exit(y), 0);
    ASSERT_OK(boxlite_execution_kill(x, 1000, &tap_last_err));
    ASSERT_OK(boxlite_execution_kill(y, 1000, &tap_last_err));
    boxlite_execution_free(x);
    boxlite_execution_free(y);
    teardown();
}

TEST(stdin_streamed_and_inline)
{
    setup();
    const char *cat[] = {"cat", NULL};
    boxlite_execution *x = start(cat);
    int fd = -1;
    ASSERT_OK(boxlite_execution_attach(x, &fd, &tap_last_err));
    ASSERT_OK(boxlite_execution_write(x, "hello ", 6, &tap_last_err));
    static struct output o;
    memset(&o, 0, sizeof(o));
    o.exit_code = -1;
    read_attach(fd, &o, "hello ");
    /* stdin through the attachment too */
    char d[] = "\0world";
    ASSERT_EQ(send(fd, d, 6, 0), 6);
    read_attach(fd, &o, "world");
    ASSERT_EQ(state_of(x), BOXLITE_EXECUTION_RUNNING);
    /* a large write (blocks while the queue is full) */
    static char big[200 * 1024];
    memset(big, 'z', sizeof(big));
    ASSERT_OK(boxlite_execution_write(x, big, sizeof(big), &tap_last_err));
    ASSERT_OK(boxlite_execution_close_stdin(x, &tap_last_err));
    ASSERT_ERR(boxlite_execution_write(x, "x", 1, NULL), -EPIPE);
    read_attach(fd, &o, NULL);
    close(fd);
    ASSERT_EQ(o.exit_code, 0);
    ASSERT_EQ(o.out_len, 11 + sizeof(big));
    ASSERT_TRUE(!memcmp(o.out, "hello world", 11));
    ASSERT_EQ(wait_exit(x), 0);
    boxlite_execution_free(x);

    boxlite_execution_opts op;
    boxlite_execution_opts_init(&op);
    op.argv = cat;
    op.stdin_data = "inline\n";
    op.stdin_len = 7;
    op.close_stdin = 1;
    op.retain_seconds = -1; /* not findable once ended */
    x = start_opts(&op);
    struct output *p = collect(x);
    ASSERT_EQ(p->exit_code, 0);
    ASSERT_EQ(p->out_len, 7);
    ASSERT_TRUE(!memcmp(p->out, "inline\n", 7));
    boxlite_execution *l = NULL;
    ASSERT_ERR(boxlite_execution_lookup(rt, boxlite_execution_id(x), &l, NULL), -ENOENT);
    boxlite_execution_free(x);
    teardown();
}

TEST(timeout_and_signal)
{
    setup();
    const char *slp[] = {"sleep", "100", NULL};
    boxlite_execution_opts o;
    boxlite_execution_opts_init(&o);
    o.argv = slp;
    o.timeout_seconds = 0.3;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    boxlite_execution *x = start_opts(&o);
    ASSERT_EQ(wait_exit(x), 137);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
    ASSERT_TRUE(secs >= 0.3 && secs < 5);
    ASSERT_EQ(state_of(x), BOXLITE_EXECUTION_TIMED_OUT);
    ASSERT_ERR(boxlite_execution_signal(x, SIGTERM, NULL), -ESRCH);
    boxlite_execution_free(x);

    boxlite_execution *y = start(slp);
    ASSERT_ERR(boxlite_execution_signal(y, 0, NULL), -EINVAL);
    ASSERT_ERR(boxlite_execution_resize(y, 10, 10, NULL), -EINVAL); /* no tty */
    ASSERT_OK(boxlite_execution_signal(y, SIGTERM, &tap_last_err));
    ASSERT_EQ(wait_exit(y), 128 + SIGTERM);
    ASSERT_EQ(state_of(y), BOXLITE_EXECUTION_COMPLETED);
    ASSERT_OK(boxlite_execution_kill(y, 1000, &tap_last_err));
    boxlite_execution_free(y);
    teardown();
}

TEST(tty_and_resize)
{
    setup();
    const char *argv[] = {"sh", "-c", "stty size; read x; stty size; echo got $x", NULL};
    boxlite_execution_opts o;
    boxlite_execution_opts_init(&o);
    o.argv = argv;
    o.tty = 1;
    o.rows = 24;
    o.cols = 80;
    boxlite_execution *x = start_opts(&o);
    int fd = -1;
    ASSERT_OK(boxlite_execution_attach(x, &fd, &tap_last_err));
    static struct output out;
    memset(&out, 0, sizeof(out));
    out.exit_code = -1;
    read_attach(fd, &out, "24 80");
    ASSERT_OK(boxlite_execution_resize(x, 40, 100, &tap_last_err));
    ASSERT_OK(boxlite_execution_write(x, "abc\n", 4, &tap_last_err));
    read_attach(fd, &out, NULL);
    close(fd);
    ASSERT_EQ(out.exit_code, 0);
    ASSERT_TRUE(memmem(out.out, out.out_len, "40 100", 6) != NULL);
    ASSERT_TRUE(memmem(out.out, out.out_len, "got abc", 7) != NULL);
    ASSERT_EQ(out.err_len, 0);
    boxlite_execution_info i;
    boxlite_execution_get_info(x, &i);
    ASSERT_TRUE(i.tty);
    ASSERT_OK(boxlite_execution_kill(x, 1000, &tap_last_err));
    boxlite_execution_free(x);

    /* the end of stdin is the terminal's EOF character */
    const char *cat[] = {"cat", NULL};
    o.argv = cat;
    x = start_opts(&o);
    ASSERT_OK(boxlite_execution_write(x, "line\n", 5, &tap_last_err));
    ASSERT_OK(boxlite_execution_close_stdin(x, &tap_last_err));
    ASSERT_EQ(wait_exit(x), 0);
    ASSERT_OK(boxlite_execution_kill(x, 1000, &tap_last_err));
    boxlite_execution_free(x);
    teardown();
}

TEST(backlog_busy_and_reattach)
{
    setup();
    /* 300 KiB on stdout while nobody is attached: the last 256 KiB are kept */
    const char *argv[] = {"sh", "-c", "echo early >&2; head -c 307200 /dev/zero; echo late >&2",
                          NULL};
    boxlite_execution *x = start(argv);
    ASSERT_EQ(wait_exit(x), 0);
    struct output *o = collect(x);
    ASSERT_EQ(o->out_len, BOXLITE_EXECUTION_BACKLOG);
    ASSERT_EQ(o->err_len, 11);
    ASSERT_TRUE(!memcmp(o->err, "early\nlate\n", 11));
    ASSERT_EQ(o->exit_code, 0);
    /* again: the same backlog */
    o = collect(x);
    ASSERT_EQ(o->out_len, BOXLITE_EXECUTION_BACKLOG);
    ASSERT_EQ(o->exit_code, 0);
    ASSERT_OK(boxlite_execution_kill(x, 1000, &tap_last_err));
    boxlite_execution_free(x);

    /* one attacher at a time; detach, attach again: what was said is replayed */
    const char *sh[] = {"sh", "-c", "echo one; read x; echo two $x", NULL};
    x = start(sh);
    int a = -1, b = -1;
    ASSERT_OK(boxlite_execution_attach(x, &a, &tap_last_err));
    ASSERT_ERR(boxlite_execution_attach(x, &b, NULL), -EBUSY);
    static struct output p;
    memset(&p, 0, sizeof(p));
    read_attach(a, &p, "one\n");
    boxlite_execution_info i;
    boxlite_execution_get_info(x, &i);
    ASSERT_TRUE(i.attached);
    close(a);
    int r = -EBUSY;
    for (int k = 0; k < 300 && r == -EBUSY; k++) { /* the detach is seen by the session thread */
        r = boxlite_execution_attach(x, &b, NULL);
        if (r == -EBUSY)
            sleep_ms(10);
    }
    ASSERT_OK(r);
    memset(&p, 0, sizeof(p));
    p.exit_code = -1;
    read_attach(b, &p, "one\n");
    ASSERT_OK(boxlite_execution_write(x, "2\n", 2, &tap_last_err));
    read_attach(b, &p, NULL);
    close(b);
    ASSERT_EQ(p.out_len, 10);
    ASSERT_TRUE(!memcmp(p.out, "one\ntwo 2\n", 10));
    ASSERT_EQ(p.exit_code, 0);
    ASSERT_OK(boxlite_execution_kill(x, 1000, &tap_last_err));
    boxlite_execution_free(x);
    teardown();
}

/* An attacher that does not read holds the process back: nothing it has not seen is lost, even
 * far past the backlog's size; one that goes away mid-stream leaves the session running. */
TEST(slow_attacher_loses_nothing)
{
    setup();
    const char *argv[] = {"seq", "1", "200000", NULL};
    size_t want_len = 0;
    char *want = malloc(2 * 1024 * 1024), *got = malloc(2 * 1024 * 1024);
    ASSERT_TRUE(want && got);
    for (int i = 1; i <= 200000; i++)
        want_len += (size_t) sprintf(want + want_len, "%d\n", i);
    boxlite_execution *x = start(argv);
    int fd = -1;
    ASSERT_OK(boxlite_execution_attach(x, &fd, &tap_last_err));
    sleep_ms(300); /* not reading: the process blocks */
    boxlite_execution_info i;
    boxlite_execution_get_info(x, &i);
    ASSERT_EQ(i.state, BOXLITE_EXECUTION_RUNNING);
    size_t len = 0;
    int code = -1;
    static char buf[CHUNK_MAX];
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ASSERT_TRUE(poll(&p, 1, 10000) == 1);
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        ASSERT_TRUE(n >= 0);
        if (n == 0)
            break;
        if (buf[0] == BOXLITE_ATTACH_EXIT) {
            memcpy(&code, buf + 1, 4);
            continue;
        }
        ASSERT_EQ(buf[0], BOXLITE_ATTACH_STDOUT);
        ASSERT_TRUE(len + (size_t) n - 1 <= want_len);
        memcpy(got + len, buf + 1, (size_t) n - 1);
        len += (size_t) n - 1;
    }
    close(fd);
    ASSERT_EQ(code, 0);
    ASSERT_EQ(len, want_len);
    ASSERT_TRUE(!memcmp(got, want, len));
    ASSERT_OK(boxlite_execution_kill(x, 1000, &tap_last_err));
    boxlite_execution_free(x);

    /* the attacher leaves with unread output: the session runs on, unattached */
    const char *cat[] = {"sh", "-c", "seq 1 100000; cat", NULL};
    x = start(cat);
    ASSERT_OK(boxlite_execution_attach(x, &fd, &tap_last_err));
    sleep_ms(100);
    close(fd);
    int k = 0;
    do {
        sleep_ms(10);
        boxlite_execution_get_info(x, &i);
    } while (i.attached && k++ < 300);
    ASSERT_TRUE(!i.attached);
    ASSERT_EQ(i.state, BOXLITE_EXECUTION_RUNNING);
    ASSERT_OK(boxlite_execution_close_stdin(x, &tap_last_err));
    ASSERT_EQ(wait_exit(x), 0);
    ASSERT_OK(boxlite_execution_kill(x, 1000, &tap_last_err));
    boxlite_execution_free(x);
    free(want);
    free(got);
    teardown();
}

/* Sessions driven from several threads at once, each with its own runtime handle. */
struct worker {
    int n, failures;
    pthread_t t;
};

static pthread_barrier_t all_started;

/* Read an attachment to its end (at most 20 s) into out (NUL-terminated); returns the exit code,
 * -1 on a failure. */
static int worker_read(int fd, char *out, size_t size)
{
    char buf[CHUNK_MAX];
    size_t len = 0;
    int code = -1;
    for (int spins = 0; spins < 2000; spins++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 10) <= 0)
            continue;
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0)
            return n == 0 ? code : -1;
        if (buf[0] == BOXLITE_ATTACH_STDOUT && len + (size_t) n < size) {
            memcpy(out + len, buf + 1, (size_t) n - 1);
            len += (size_t) n - 1;
            out[len] = 0;
        } else if (buf[0] == BOXLITE_ATTACH_EXIT && n == 5) {
            int32_t st;
            memcpy(&st, buf + 1, 4);
            code = st;
        } else {
            return -1;
        }
    }
    return -1;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    boxlite_runtime *r = open_rt();
    boxlite_box *b = NULL;
    boxlite_execution *xs[5] = {0};
    if (boxlite_box_lookup(r, boxlite_box_id(box), &b, NULL) < 0)
        w->failures++;
    for (int i = 0; i < 5 && b; i++) {
        char script[32];
        snprintf(script, sizeof(script), "cat; exit %d", w->n * 5 + i);
        const char *argv[] = {"sh", "-c", script, NULL};
        boxlite_execution_opts o;
        boxlite_execution_opts_init(&o);
        o.argv = argv;
        if (boxlite_execution_start(r, b, &o, &xs[i], NULL, NULL) < 0)
            w->failures++;
    }
    boxlite_box_free(b);
    boxlite_runtime_free(r);
    (void) pthread_barrier_wait(&all_started); /* 20 sessions run at once */
    for (int i = 0; i < 5; i++) {
        if (!xs[i])
            continue;
        char line[32], out[64] = "";
        snprintf(line, sizeof(line), "line %d.%d\n", w->n, i);
        int fd = -1;
        if (boxlite_execution_attach(xs[i], &fd, NULL) < 0 ||
            boxlite_execution_write(xs[i], line, strlen(line), NULL) < 0 ||
            boxlite_execution_close_stdin(xs[i], NULL) < 0 ||
            worker_read(fd, out, sizeof(out)) != w->n * 5 + i || strcmp(out, line) != 0)
            w->failures++;
        if (fd >= 0)
            close(fd);
        int code = -1;
        if (boxlite_execution_wait(xs[i], 20000, &code, NULL) < 0 || code != w->n * 5 + i)
            w->failures++;
        /* found again by id, from this thread */
        boxlite_execution *l = NULL;
        if (boxlite_execution_lookup(NULL, boxlite_execution_id(xs[i]), &l, NULL) < 0 || l != xs[i])
            w->failures++;
        boxlite_execution_free(l);
        if (boxlite_execution_kill(xs[i], 1000, NULL) < 0)
            w->failures++;
        boxlite_execution_free(xs[i]);
    }
    return NULL;
}

TEST(many_sessions_from_threads)
{
    setup();
    start_box();
    struct worker w[4] = {{0}};
    ASSERT_EQ(pthread_barrier_init(&all_started, NULL, 4), 0);
    for (int i = 0; i < 4; i++) {
        w[i].n = i;
        ASSERT_EQ(pthread_create(&w[i].t, NULL, worker_main, &w[i]), 0);
    }
    int failures = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(w[i].t, NULL);
        failures += w[i].failures;
    }
    pthread_barrier_destroy(&all_started);
    ASSERT_EQ(failures, 0);
    teardown();
}

/* A process that owns sessions dies by SIGKILL: the shim kills their processes. */
TEST(sigkilled_owner_leaves_no_process)
{
    setup();
    start_box();
    int p[2], q[2];
    ASSERT_OK(pipe2(p, O_CLOEXEC));
    ASSERT_OK(pipe2(q, O_CLOEXEC));
    pid_t child = fork();
    ASSERT_TRUE(child >= 0);
    if (child == 0) {
        const char *slp[] = {"sleep", "1000", NULL};
        boxlite_execution_opts o;
        boxlite_execution_opts_init(&o);
        o.argv = slp;
        boxlite_execution *x = NULL;
        int pids[2] = {-1, -1};
        boxlite_runtime *r = open_rt(); /* not the parent's: SQLite handles do not cross fork */
        boxlite_box *b = NULL;
        if (boxlite_box_lookup(r, boxlite_box_id(box), &b, NULL) == 0 &&
            boxlite_execution_start(r, b, &o, &x, NULL, NULL) == 0) {
            boxlite_execution_info i;
            boxlite_execution_get_info(x, &i);
            pids[0] = i.pid;
        }
        /* a child of its own that does not exec: its copy of the session must not keep the
         * process alive, and to it the session has ended */
        pids[1] = fork();
        if (pids[1] == 0) {
            int code = -1;
            (void) boxlite_execution_wait(x, 0, &code, NULL);
            (void) !write(q[1], &code, sizeof(code));
            for (;;)
                pause();
        }
        (void) !write(p[1], pids, sizeof(pids));
        for (;;)
            pause();
    }
    close(p[1]);
    close(q[1]);
    int pids[2] = {-1, -1}, code = -1;
    ssize_t n1 = read(p[0], pids, sizeof(pids)), n2 = read(q[0], &code, sizeof(code));
    close(p[0]);
    close(q[0]);
    /* the owner goes first, and the grandchild whatever happens (nothing may outlive the test) */
    int alive_before = pids[0] > 0 && kill(pids[0], 0) == 0;
    (void) kill(child, SIGKILL);
    ASSERT_EQ(waitpid(child, NULL, 0), child);
    int k = 0;
    while (pids[0] > 0 && kill(pids[0], 0) == 0 && k++ < 500)
        sleep_ms(10);
    int gone = pids[0] > 0 && kill(pids[0], 0) < 0 && errno == ESRCH;
    if (pids[1] > 0)
        (void) kill(pids[1], SIGKILL);
    ASSERT_EQ(n1, (ssize_t) sizeof(pids));
    ASSERT_EQ(n2, (ssize_t) sizeof(code));
    ASSERT_TRUE(alive_before);
    ASSERT_EQ(code, 137); /* to the grandchild the session has ended */
    ASSERT_TRUE(gone);    /* though the grandchild lived on */
    teardown();
}

/* ---- the review's attacks (docs/design/sessions.md, "Bounds") ---- */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct feeder {
    boxlite_execution *x;
    atomic_bool stop;
    size_t sent;
};

static void *feed(void *arg)
{
    struct feeder *f = arg;
    static char buf[64 * 1024];
    memset(buf, 'a', sizeof(buf));
    while (!atomic_load(&f->stop) && boxlite_execution_write(f->x, buf, sizeof(buf), NULL) == 0)
        f->sent += sizeof(buf);
    return NULL;
}

TEST(stdin_queue_bounded_with_slow_reader)
{
    setup();
    start_box();
    /* reads 4 KiB every 10 ms while a thread streams 64 KiB writes into its stdin */
    const char *argv[] = {
        "sh", "-c", "while :; do busybox dd bs=4096 count=1 2>/dev/null; sleep 0.01; done", NULL};
    boxlite_execution *x = start(argv);
    struct feeder f = {.x = x};
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, feed, &f), 0);
    size_t most = 0;
    for (int64_t t0 = mono_ms(); mono_ms() - t0 < 3000;) {
        most = MAX(most, bl_execution_test_stdin_alloc(x));
        sleep_ms(20);
    }
    atomic_store(&f.stop, true);
    ASSERT_OK(boxlite_execution_kill(x, 5000, &tap_last_err));
    ASSERT_EQ(pthread_join(t, NULL), 0);
    fprintf(stderr,
            "# "
            "stdin: %zu bytes written, the queue's buffer at most %zu bytes\n",
            f.sent, most);
    ASSERT_TRUE(f.sent > 256 * 1024); /* the reader did read */
    ASSERT_TRUE(most <= 100 * 1024);  /* 64 KiB queued, plus one attach datagram */
    boxlite_execution_free(x);
    teardown();
}

/* `busybox ps` in the box lists a `yes` (at most 2 s for it to go) */
static bool yes_runs_in_box(void)
{
    const char *ps[] = {"sh", "-c", "busybox ps -o comm | busybox grep -c '^yes'", NULL};
    for (int i = 0; i < 20; i++) {
        boxlite_execution *x = start(ps);
        struct output *o = collect(x);
        ASSERT_OK(boxlite_execution_kill(x, 1000, &tap_last_err));
        boxlite_execution_free(x);
        if (o->out_len > 0 && o->out[0] == '0')
            return false;
        sleep_ms(100);
    }
    return true;
}

TEST(tty_background_writer_after_exit)
{
    setup();
    start_box();
    /* the command exits, its background `yes` (deaf to SIGHUP) keeps writing to the pty */
    const char *argv[] = {"sh", "-c", "trap '' HUP; busybox yes & sleep 0.2; exit 5", NULL};
    boxlite_execution_opts o;
    boxlite_execution_opts_init(&o);
    o.argv = argv;
    o.tty = 1;
    boxlite_execution *x = start_opts(&o);
    int64_t t0 = mono_ms();
    int code = -1;
    ASSERT_OK(boxlite_execution_wait(x, 8000, &code, &tap_last_err));
    fprintf(stderr,
            "# "
            "tty with a background writer: ended after %lld ms\n",
            (long long) (mono_ms() - t0));
    ASSERT_EQ(code, 5);
    ASSERT_TRUE(mono_ms() - t0 < 4000); /* 0.2 s, then at most 2 s of output */
    ASSERT_OK(boxlite_execution_kill(x, 1000, &tap_last_err));
    ASSERT_EQ(state_of(x), BOXLITE_EXECUTION_COMPLETED);
    boxlite_execution_free(x);
    ASSERT_TRUE(!yes_runs_in_box()); /* the pty's end: its writes fail, it ends */

    /* the same on pipes */
    const char *pipes[] = {"sh", "-c", "busybox yes & exit 0", NULL};
    x = start(pipes);
    t0 = mono_ms();
    ASSERT_OK(boxlite_execution_wait(x, 8000, &code, &tap_last_err));
    ASSERT_EQ(code, 0);
    ASSERT_TRUE(mono_ms() - t0 < 4000);
    ASSERT_OK(boxlite_execution_kill(x, 1000, &tap_last_err));
    boxlite_execution_free(x);
    ASSERT_TRUE(!yes_runs_in_box());
    teardown();
}

TEST(kill_with_stalled_attacher)
{
    setup();
    start_box();
    const char *argv[] = {"busybox", "yes", NULL};
    boxlite_execution *x = start(argv);
    int fd = -1;
    ASSERT_OK(boxlite_execution_attach(x, &fd, &tap_last_err)); /* never read */
    sleep_ms(300);
    ASSERT_OK(boxlite_execution_kill(x, 3000, &tap_last_err));
    boxlite_execution_info i;
    boxlite_execution_get_info(x, &i);
    ASSERT_EQ(i.state, BOXLITE_EXECUTION_KILLED);
    ASSERT_EQ(i.exit_code, 137);
    close(fd);
    boxlite_execution_free(x);
    teardown();
}

TEST(sigkill_retried_when_send_fails)
{
    setup();
    start_box();
    const char *slp[] = {"sleep", "100", NULL};
    /* the timeout's SIGKILL finds the connection full once */
    boxlite_execution_opts o;
    boxlite_execution_opts_init(&o);
    o.argv = slp;
    o.timeout_seconds = 0.2;
    boxlite_execution *x = start_opts(&o);
    bl_execution_test_fail_kills(1);
    int code = -1;
    ASSERT_OK(boxlite_execution_wait(x, 5000, &code, &tap_last_err));
    ASSERT_EQ(code, 137);
    ASSERT_EQ(state_of(x), BOXLITE_EXECUTION_TIMED_OUT);
    ASSERT_OK(boxlite_execution_kill(x, 1000, &tap_last_err));
    boxlite_execution_free(x);

    /* kill's */
    x = start(slp);
    bl_execution_test_fail_kills(1);
    ASSERT_OK(boxlite_execution_kill(x, 3000, &tap_last_err));
    ASSERT_EQ(state_of(x), BOXLITE_EXECUTION_KILLED);
    boxlite_execution_free(x);
    bl_execution_test_fail_kills(0);
    teardown();
}

/* ---- fault injection: every allocation of a session's life fails in turn ---- */

static boxlite_runtime *trt;
static boxlite_box *tbox;
static char *tbox_id;

static int torture_prepare(void *userdata)
{
    (void) userdata;
    rt = open_rt();
    boxlite_box_opts o;
    boxlite_box_opts_init(&o);
    _cleanup_free_ char *root = tstr("%s/rootfs", tap_tmpdir());
    o.rootfs = root;
    o.network = "disabled";
    if (boxlite_box_create(rt, &o, &box, NULL) < 0)
        return 1;
    start_box();
    int fd = open(tbox_id, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, boxlite_box_id(box), strlen(boxlite_box_id(box))) < 0)
        return 1;
    close(fd);
    boxlite_box_free(box);
    boxlite_runtime_free(rt);
    return 0;
}

static int torture_finish(void *userdata)
{
    (void) userdata;
    boxlite_runtime *r = open_rt();
    boxlite_box **list = NULL;
    size_t n = 0;
    int bad = boxlite_box_list(r, 1, &list, &n, NULL) < 0 || n != 1;
    for (size_t i = 0; i < n; i++)
        bad |= boxlite_box_remove(r, list[i], /* force= */ 1, NULL) < 0;
    boxlite_box_list_free(list, n);
    boxlite_runtime_free(r);
    return bad;
}

static void torture_setup(void *userdata)
{
    (void) userdata;
    char id[64] = "";
    int fd = open(tbox_id, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void) !read(fd, id, sizeof(id) - 1);
        close(fd);
    }
    boxlite_runtime_opts o;
    boxlite_runtime_opts_init(&o);
    o.home = home;
    if (boxlite_runtime_open(&o, &trt, NULL) == 0)
        (void) boxlite_box_lookup(trt, id, &tbox, NULL);
}

static void torture_teardown(void *userdata)
{
    (void) userdata;
    boxlite_box_free(tbox);
    boxlite_runtime_free(trt);
}

static int torture_run(unsigned long fault, void *userdata)
{
    (void) fault;
    (void) userdata;
    if (!tbox)
        return TAP_RUN_BUG;
    const char *argv[] = {"sh", "-c", "echo hi; cat", NULL};
    boxlite_execution_opts o;
    boxlite_execution_opts_init(&o);
    o.argv = argv;
    o.stdin_data = "in";
    o.stdin_len = 2;
    o.close_stdin = 1;
    boxlite_execution *x = NULL;
    bl_error *e = NULL;
    int r = boxlite_execution_start(trt, tbox, &o, &x, NULL, &e);
    if (r < 0) {
        int res = e && *bl_error_msg(e) && !x ? TAP_RUN_FAILED : TAP_RUN_BUG;
        bl_error_free(e);
        return res;
    }
    int fd = -1, code = -1;
    static struct output out;
    memset(&out, 0, sizeof(out));
    out.exit_code = -1;
    r = boxlite_execution_attach(x, &fd, &e);
    if (r >= 0) {
        read_attach(fd, &out, NULL);
        close(fd);
    }
    int res = TAP_RUN_OK;
    if (r < 0 || boxlite_execution_wait(x, 10000, &code, NULL) < 0 || code != 0 ||
        out.exit_code != 0 || out.out_len != 5 || memcmp(out.out, "hi\nin", 5) != 0)
        res = TAP_RUN_FAILED; /* an allocation of the session thread failed: output lost */
    if (boxlite_execution_kill(x, 5000, NULL) < 0)
        res = TAP_RUN_BUG;
    boxlite_execution_free(x);
    bl_error_free(e);
    return res;
}

TEST(oom_torture)
{
    tap_require_fault_injection();
    setup_env();
    tbox_id = tstr("%s/box-id", tap_tmpdir());
    ASSERT_EQ(tap_in_child(torture_prepare, NULL), 0);
    tap_torture(&(struct tap_torture){.name = "start, attach, wait, kill",
                                      .run = torture_run,
                                      .child_setup = torture_setup,
                                      .child_teardown = torture_teardown,
                                      .max_faults = 1000});
    ASSERT_EQ(tap_in_child(torture_finish, NULL), 0);
    free(tbox_id);
    free(home);
    assert_one_thread();
}

TAP_MAIN(T(exit_codes_and_kill), T(lookup_unknown_id), T(stdout_stderr_and_ids),
         T(stdin_streamed_and_inline), T(timeout_and_signal), T(tty_and_resize),
         T(backlog_busy_and_reattach), T(slow_attacher_loses_nothing),
         T(many_sessions_from_threads), T(sigkilled_owner_leaves_no_process),
         T(stdin_queue_bounded_with_slow_reader), T(tty_background_writer_after_exit),
         T(kill_with_stalled_attacher), T(sigkill_retried_when_send_fails), T(oom_torture))
