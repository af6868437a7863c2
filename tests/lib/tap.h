/* SPDX-License-Identifier: MIT */
/*
 * A small TAP harness for unit tests. Each test runs in a forked child; the harness fails a test
 * that leaks an fd or leaves a child process, even if every assertion passed, and the child
 * exit()s so that LeakSanitizer checks memory in sanitizer builds.
 *
 *   TEST(parse_simple) { ASSERT_OK(bl_x(...)); }
 *   TAP_MAIN(T(parse_simple), T(...))
 */
#pragma once

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"

struct tap_test {
    const char *name;
    void (*fn)(void);
};

int tap_main(const struct tap_test *tests, size_t n, int argc, char **argv);
void tap_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
void tap_skip(const char *why) __attribute__((noreturn));
/* A fresh directory for this test, removed when the test ends. Borrowed. */
const char *tap_tmpdir(void);
/* <tap_tmpdir()>/name (freed by the caller), and a runtime opened on <tap_tmpdir()>/home
 * (tests/lib/runtime.c; freed with boxlite_runtime_free()). */
char *tap_tmp_path(const char *name);
struct boxlite_runtime;
struct boxlite_runtime *tap_open_runtime(void);
/* How many fds this process has open (for fault-injection children that check they leak none;
 * -1 if /proc cannot be read). */
int tap_open_fds(void);
/* The last error set through tap_err (printed by failing assertions). */
extern bl_error *tap_last_err;
/* Run fn(userdata) in a forked child and return its exit status (128 + signal number if it was
 * killed). The child exit()s, so that LeakSanitizer checks it in sanitizer builds. */
int tap_in_child(int (*fn)(void *userdata), void *userdata);

/*
 * Fault injection ("torture", tests/lib/torture.c): fail fault point 1, then 2, ... (allocations,
 * writes: src/basic/fault.h) until the operation runs without reaching the failed one. Each run
 * is a forked child with BL_FAULT=N, so the test process itself must reach no fault point.
 */
enum {
    TAP_RUN_OK = 0,     /* the operation succeeded */
    TAP_RUN_BUG = 1,    /* a check failed (wrong code, no message, an output changed, ...) */
    TAP_RUN_FAILED = 2, /* the operation failed cleanly, as the failed fault point asked */
};

struct tap_torture {
    const char *name; /* in messages, e.g. "parse 'busybox'" */
    /* In the child: run the operation, check its result and release what it returned; return
     * TAP_RUN_*. fault is the fault point that fails (BL_FAULT). */
    int (*run)(unsigned long fault, void *userdata);
    /* Optional, in the child around run: setup (a tree to work on, ...) may reach fault points,
     * always the same number; they are counted once, and the failures start after them.
     * teardown runs after the checks, so its fault points are not counted. */
    void (*child_setup)(void *userdata);
    void (*child_teardown)(void *userdata);
    /* Optional, in the test process around each run (must reach no fault point): before
     * prepares it, after checks what it left with ASSERT_*s, knowing its result. */
    void (*before)(void *userdata);
    void (*after)(int result, void *userdata);
    void *userdata;
    unsigned long max_faults; /* fail if it still fails after this many (0: 1000) */
    unsigned long min_faults; /* fail if fewer fault points were reached (at least 1) */
};

/*
 * Runs the torture; the test fails on the first run that did not exit with TAP_RUN_OK or
 * TAP_RUN_FAILED (a crash, a sanitizer report, a leaked memory block), leaked an fd, left a child
 * process, or succeeded although its fault point was reached. Skips the test when fault injection
 * is not compiled in. Returns how many fault points failed cleanly (also printed as a comment).
 */
unsigned long tap_torture(const struct tap_torture *t);
/* Skip the test unless fault injection is compiled in (BUILD=debug or BUILD=asan). */
void tap_require_fault_injection(void);

#define TEST(name) static void test_##name(void)
#define T(test)                                                                                    \
    {                                                                                              \
        .name = #test, .fn = test_##test                                                           \
    }
#define TAP_MAIN(...)                                                                              \
    int main(int argc, char **argv)                                                                \
    {                                                                                              \
        static const struct tap_test tests_[] = {__VA_ARGS__};                                     \
        return tap_main(tests_, sizeof(tests_) / sizeof(tests_[0]), argc, argv);                   \
    }

#define SKIP(why) tap_skip(why)

#define ASSERT_TRUE(e)                                                                             \
    do {                                                                                           \
        if (!(e))                                                                                  \
            tap_fail(__FILE__, __LINE__, "assertion failed: %s", #e);                              \
    } while (0)

#define ASSERT_OK(e)                                                                               \
    do {                                                                                           \
        long long r_ = (long long) (e);                                                            \
        if (r_ < 0)                                                                                \
            tap_fail(__FILE__, __LINE__, "%s failed: %lld (%s) %s", #e, r_, strerror((int) -r_),   \
                     tap_last_err ? tap_last_err->msg : "");                                       \
    } while (0)

#define ASSERT_ERR(e, code)                                                                        \
    do {                                                                                           \
        long long r_ = (long long) (e);                                                            \
        if (r_ != (long long) (code))                                                              \
            tap_fail(__FILE__, __LINE__, "%s returned %lld (%s), expected %s", #e, r_,             \
                     r_ < 0 ? strerror((int) -r_) : "success", #code);                             \
    } while (0)

#define ASSERT_EQ(a, b)                                                                            \
    do {                                                                                           \
        long long a_ = (long long) (a), b_ = (long long) (b);                                      \
        if (a_ != b_)                                                                              \
            tap_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_);                \
    } while (0)

#define ASSERT_STREQ(a, b)                                                                         \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                                     \
            tap_fail(__FILE__, __LINE__, "%s == %s: '%s' != '%s'", #a, #b, a_ ? a_ : "(null)",     \
                     b_ ? b_ : "(null)");                                                          \
    } while (0)

#define ASSERT_NULL(a) ASSERT_TRUE((a) == NULL)
#define ASSERT_NOT_NULL(a) ASSERT_TRUE((a) != NULL)
