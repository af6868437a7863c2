/* SPDX-License-Identifier: MIT */
/* Fork-per-test TAP runner with fd and child-process leak checks. */
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "fs-util.h"
#include "tap.h"

bl_error *tap_last_err;
static char tmpdir[4096];

void tap_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stdout, "# %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fprintf(stdout, "\n");
    fflush(stdout);
    _exit(1); /* a failed test's leaks are noise; skip LSan */
}

void tap_skip(const char *why)
{
    fprintf(stdout, "# SKIP %s\n", why);
    fflush(stdout);
    _exit(77);
}

const char *tap_tmpdir(void)
{
    if (!tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof(tmpdir), "%s/bl-unit-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(tmpdir))
            tap_fail(__FILE__, __LINE__, "mkdtemp: %s", strerror(errno));
    }
    return tmpdir;
}

static int count_fds(char *list, size_t len)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    size_t off = 0;
    struct dirent *de;
    list[0] = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || atoi(de->d_name) == dirfd(d)) /* NOLINT */
            continue;
        n++;
        int w = snprintf(list + off, len - off, "%s ", de->d_name);
        if (w > 0 && (size_t) w < len - off)
            off += (size_t) w;
    }
    closedir(d);
    return n;
}

int tap_open_fds(void)
{
    char list[4096];
    return count_fds(list, sizeof(list));
}

static int run_one(const struct tap_test *t)
{
    char before[4096], after[4096];
    int nb = count_fds(before, sizeof(before));
    t->fn();
    int na = count_fds(after, sizeof(after));
    if (na != nb) {
        printf("# fd leak: before [%s] after [%s]\n", before, after);
        return 1;
    }
    int status;
    pid_t p = waitpid(-1, &status, WNOHANG);
    if (p > 0 || (p == 0)) {
        printf("# test left a child process behind\n");
        while (waitpid(-1, &status, 0) > 0)
            ;
        return 1;
    }
    if (tmpdir[0])
        (void) bl_rm_rf_at(AT_FDCWD, tmpdir);
    bl_error_free(tap_last_err);
    return 0;
}

int tap_main(const struct tap_test *tests, size_t n, int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    (void) prctl(PR_SET_CHILD_SUBREAPER, 1);
    printf("1..%zu\n", n);
    fflush(stdout);
    int failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (only && strcmp(only, tests[i].name) != 0) {
            printf("ok %zu - %s # SKIP not selected\n", i + 1, tests[i].name);
            continue;
        }
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        if (pid == 0)
            exit(run_one(&tests[i])); /* exit, not _exit: LeakSanitizer runs at exit */
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        /* reap anything the test leaked after its child died (we are a subreaper) */
        int st2;
        while (waitpid(-1, &st2, WNOHANG) > 0)
            ;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            printf("ok %zu - %s\n", i + 1, tests[i].name);
        } else if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
            printf("ok %zu - %s # SKIP\n", i + 1, tests[i].name);
        } else {
            failed++;
            if (WIFSIGNALED(status))
                printf("# killed by signal %d\n", WTERMSIG(status));
            printf("not ok %zu - %s\n", i + 1, tests[i].name);
        }
        fflush(stdout);
    }
    return failed ? 1 : 0;
}
