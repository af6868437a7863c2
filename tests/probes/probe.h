/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the adversarial suite's probes (tests/integration/cli/060-escape.sh). A probe
 * is a small static program run inside a box as an attacker would run it. It prints one line per
 * check and a last verdict line, and exits 0 when every check held, 1 when one got out:
 *
 *   HELD: <what was tried>: <how it was refused>
 *   ESCAPED: <what was reached>
 *   NOTE: <something the test may want to know, neither>
 *   VERDICT: HELD | VERDICT: ESCAPED
 *
 * Probes never harm the host on success: they stat or read a marker the test planted, open a
 * device without writing to it, and undo what they made.
 */
#ifndef BOXLITE_PROBE_H
#define BOXLITE_PROBE_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int probe_escapes;

static inline void probe_init(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
}

static inline void probe_line(const char *tag, const char *fmt, va_list ap)
{
    char buf[1024];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    printf("%s: %s\n", tag, buf);
    fflush(stdout);
}

__attribute__((format(printf, 1, 2))) static inline void held(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    probe_line("HELD", fmt, ap);
    va_end(ap);
}

__attribute__((format(printf, 1, 2))) static inline void escaped(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    probe_line("ESCAPED", fmt, ap);
    va_end(ap);
    probe_escapes++;
}

__attribute__((format(printf, 1, 2))) static inline void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    probe_line("NOTE", fmt, ap);
    va_end(ap);
}

/* The verdict line and the exit status: 0 held, 1 escaped. */
static inline int probe_done(void)
{
    printf("VERDICT: %s\n", probe_escapes ? "ESCAPED" : "HELD");
    fflush(stdout);
    return probe_escapes ? 1 : 0;
}

/* A syscall's result r (with errno) that must be a failure with one of the errnos listed
 * (0-terminated); any other failure is noted, a success is an escape. */
static inline int expect_refused(const char *what, long r, ...)
{
    int e = errno;
    if (r >= 0) {
        escaped("%s succeeded (%ld)", what, r);
        return 1;
    }
    va_list ap;
    va_start(ap, r);
    int ok = 0;
    for (int x; (x = va_arg(ap, int)) != 0;)
        ok |= x == e;
    va_end(ap);
    if (ok)
        held("%s: %s", what, strerror(e));
    else
        note("%s failed with an unexpected error: %s", what, strerror(e));
    return 0;
}

static inline const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

/* Whether the host marker (MARKER, an absolute host path outside the box, holding TOKEN) can be
 * read at path (relative to dirfd): the test plants it where nothing of the box reaches. */
static inline int marker_at(int dirfd, const char *path)
{
    const char *token = getenv("TOKEN");
    int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return 0;
    char buf[256];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    return token && strstr(buf, token) != NULL;
}

/* The marker's path without its leading '/', below as many ".." as any path has parts: from any
 * directory of the host, openat(dir, climb) reaches the marker. */
static inline const char *marker_climb(void)
{
    static char buf[4096];
    const char *m = getenv("MARKER");
    if (!m)
        return NULL;
    if (!buf[0]) {
        size_t n = 0;
        for (int i = 0; i < 40; i++)
            n += (size_t) snprintf(buf + n, sizeof(buf) - n, "../");
        snprintf(buf + n, sizeof(buf) - n, "%s", m + (*m == '/'));
    }
    return buf;
}

#endif
