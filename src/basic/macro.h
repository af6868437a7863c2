/* SPDX-License-Identifier: MIT */
/*
 * Cleanup attributes and ownership moves. Every owned local is declared with a _cleanup_
 * attribute and initialised on the same line; ownership leaves only through TAKE_*.
 */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_ __attribute__((noreturn))
#define _must_check_ __attribute__((warn_unused_result))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

static inline void freep(void *p)
{
    free(*(void **) p);
}

static inline void closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno; /* cleanups run after the return value is computed; keep errno */
        (void) close(*fd);
        errno = saved;
    }
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)

/* Move a value out of a cleanup-managed variable, leaving the "empty" value behind. */
#define TAKE_GENERIC(var, empty)                                                                   \
    ({                                                                                             \
        __typeof__(var) _take = (var);                                                             \
        (var) = (empty);                                                                           \
        _take;                                                                                     \
    })
#define TAKE_PTR(p) TAKE_GENERIC(p, NULL)
#define TAKE_FD(fd) TAKE_GENERIC(fd, -1)

/* Generates name##p, a cleanup function for a pointer of type `type` released by `func`. */
#define BL_DEFINE_CLEANUP_FUNC(type, func)                                                         \
    static inline void func##p(type *p)                                                            \
    {                                                                                              \
        if (*p) {                                                                                  \
            int saved_ = errno;                                                                    \
            func(*p);                                                                              \
            errno = saved_;                                                                        \
        }                                                                                          \
    }

/* Close an fd and return -1, for `fd = bl_close(fd);`. */
static inline int bl_close(int fd)
{
    if (fd >= 0) {
        int saved = errno;
        (void) close(fd);
        errno = saved;
    }
    return -1;
}

static inline int negative_errno(void)
{
    return errno > 0 ? -errno : -EIO;
}
