/* SPDX-License-Identifier: MIT */
/*
 * Sending the datagrams of the spawn channel and the control socket (src/basic/wire.h is the
 * codec): fields given as arguments, never blocking, never raising SIGPIPE.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "proto.h"

/* At most this many fields through the variadic senders (the zygote's exec request, the one
 * message with a list in it, is built with bl_wire_send). */
#define PROTO_MAX_ARGS 32

static int sendv(int sock, const int *fds, size_t nfds, size_t n, va_list ap)
{
    const char *f[PROTO_MAX_ARGS];
    if (n > PROTO_MAX_ARGS)
        return -E2BIG;
    for (size_t i = 0; i < n; i++)
        f[i] = va_arg(ap, const char *);
    return bl_wire_send(sock, f, n, fds, nfds, MSG_DONTWAIT);
}

int proto_send(int fd, size_t n, ...)
{
    va_list ap;
    va_start(ap, n);
    int r = sendv(fd, NULL, 0, n, ap);
    va_end(ap);
    return r;
}

int proto_send_fd(int sock, int fd, size_t n, ...)
{
    va_list ap;
    va_start(ap, n);
    int r = sendv(sock, &fd, fd >= 0, n, ap);
    va_end(ap);
    return r;
}

int proto_send_fds(int sock, const int *fds, size_t nfds, size_t n, ...)
{
    va_list ap;
    va_start(ap, n);
    int r = sendv(sock, fds, nfds, n, ap);
    va_end(ap);
    return r;
}

int proto_send_int(int fd, const char *verb, int value)
{
    char num[16];
    (void) snprintf(num, sizeof(num), "%d", value);
    return proto_send(fd, 2, verb, num);
}

int proto_send_error(int fd, int status, const char *msg)
{
    char num[16];
    (void) snprintf(num, sizeof(num), "%d", status);
    return proto_send(fd, 3, "error", num, msg);
}
