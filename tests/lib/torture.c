/* SPDX-License-Identifier: MIT */
/*
 * The fault-injection loop of the unit tests (tap_torture in tap.h), and tap_in_child. Every run is
 * a child, so that its fault counter starts at zero and BL_FAULT (read once per process, at the
 * first fault point) is its own; the child exit()s so that LeakSanitizer checks its memory.
 */
#include <fcntl.h>
#include <sys/wait.h>

#include "fault.h"
#include "tap.h"

int tap_in_child(int (*fn)(void *userdata), void *userdata)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        tap_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
    if (pid == 0)
        exit(fn(userdata)); /* exit, not _exit: LeakSanitizer runs at exit */
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            tap_fail(__FILE__, __LINE__, "waitpid: %s", strerror(errno));
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void tap_require_fault_injection(void)
{
#ifndef BL_FAULT_INJECTION
    tap_skip("fault injection is not compiled in (BUILD=debug or BUILD=asan)");
#endif
}

#ifndef BL_FAULT_INJECTION
unsigned long tap_torture(const struct tap_torture *t)
{
    (void) t;
    tap_require_fault_injection();
    return 0;
}
#else
static const char *name_of(const struct tap_torture *t)
{
    return t->name ? t->name : "torture";
}

/* How many fault points child_setup reaches, counted in a child without faults. */
static unsigned long setup_fault_points(const struct tap_torture *t)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        tap_fail(__FILE__, __LINE__, "pipe2: %s", strerror(errno));
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        tap_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
    if (pid == 0) {
        (void) close(p[0]);
        t->child_setup(t->userdata);
        unsigned long n = bl_fault_count();
        if (t->child_teardown)
            t->child_teardown(t->userdata);
        exit(write(p[1], &n, sizeof(n)) == (ssize_t) sizeof(n) ? 0 : 1);
    }
    (void) close(p[1]);
    unsigned long n = 0;
    ssize_t got = read(p[0], &n, sizeof(n));
    (void) close(p[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (got != (ssize_t) sizeof(n) || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        tap_fail(__FILE__, __LINE__, "%s: setup without faults failed (status 0x%x)", name_of(t),
                 (unsigned) status);
    return n;
}

/* In the child: one run with fault point `fault` failing. Returns TAP_RUN_*. */
static int torture_child(const struct tap_torture *t, unsigned long setup_points,
                         unsigned long fault)
{
    char num[32];
    (void) snprintf(num, sizeof(num), "%lu", fault);
    (void) setenv("BL_FAULT", num, 1);
    if (t->child_setup)
        t->child_setup(t->userdata);
    if (bl_fault_count() != setup_points) {
        printf("# %s: setup reached %lu fault points, %lu without faults\n", name_of(t),
               bl_fault_count(), setup_points);
        return TAP_RUN_BUG;
    }
    int fds = tap_open_fds();
    int res = t->run(fault, t->userdata);
    int fds_after = tap_open_fds();
    int status;
    pid_t left = waitpid(-1, &status, WNOHANG);
    const char *bug = NULL;
    if (res != TAP_RUN_OK && res != TAP_RUN_FAILED)
        bug = "the run's checks failed";
    else if (fds_after != fds)
        bug = "an fd leaked";
    else if (left >= 0)
        bug = "a child process was left behind";
    else if (res == TAP_RUN_OK && bl_fault_count() >= fault)
        bug = "the run succeeded although its fault point failed";
    if (bug) {
        printf("# %s: BL_FAULT=%lu: %s (run returned %d, fds %d then %d)\n", name_of(t), fault, bug,
               res, fds, fds_after);
        res = TAP_RUN_BUG;
    }
    if (t->child_teardown)
        t->child_teardown(t->userdata);
    return res;
}

unsigned long tap_torture(const struct tap_torture *t)
{
    const char *name = name_of(t);
    unsigned long min = t->min_faults ? t->min_faults : 1;
    unsigned long max = t->max_faults ? t->max_faults : 1000;
    /* made here, once: each child would otherwise make its own and leave it behind */
    (void) tap_tmpdir();
    unsigned long base = t->child_setup ? setup_fault_points(t) : 0;
    for (unsigned long n = 1;; n++) {
        if (n > max + 1)
            tap_fail(__FILE__, __LINE__, "%s: still failing after %lu fault points", name, max);
        if (t->before)
            t->before(t->userdata);
        /* a fault point reached here would fix BL_FAULT (unset) for every child */
        if (bl_fault_count() != 0)
            tap_fail(__FILE__, __LINE__,
                     "%s: the test process reached %lu fault points; its children would ignore "
                     "BL_FAULT (reach them in the callbacks that run in the child)",
                     name, bl_fault_count());
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0)
            tap_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
        if (pid == 0)
            exit(torture_child(t, base, base + n)); /* exit, not _exit: LeakSanitizer runs */
        int status = 0;
        while (waitpid(pid, &status, 0) < 0)
            if (errno != EINTR)
                tap_fail(__FILE__, __LINE__, "waitpid: %s", strerror(errno));
        if (!WIFEXITED(status))
            tap_fail(__FILE__, __LINE__, "%s: BL_FAULT=%lu: killed by signal %d", name, base + n,
                     WTERMSIG(status));
        int res = WEXITSTATUS(status);
        if (res != TAP_RUN_OK && res != TAP_RUN_FAILED)
            tap_fail(__FILE__, __LINE__, "%s: BL_FAULT=%lu: exit status %d", name, base + n, res);
        if (t->after)
            t->after(res, t->userdata);
        if (res == TAP_RUN_OK) {
            if (n - 1 < min)
                tap_fail(
                    __FILE__, __LINE__,
                    "%s: %lu fault points failed, at least %lu expected (are faults injected?)",
                    name, n - 1, min);
            printf("# %s: %lu fault points failed cleanly\n", name, n - 1);
            fflush(stdout);
            return n - 1;
        }
    }
}
#endif
