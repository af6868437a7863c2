/* SPDX-License-Identifier: MIT */
/*
 * Datagrams of the spawn channel and the control socket: NUL-separated fields, first field the
 * verb, optionally with fds attached (SCM_RIGHTS). One trailing NUL is accepted as a terminator.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "alloc-util.h"
#include "shim.h"

void proto_msg_free(struct proto_msg *m)
{
    free(m->f);
    free(m->buf);
    m->f = NULL;
    m->buf = NULL;
    m->n = 0;
    for (size_t i = 0; i < PROTO_MAX_FDS; i++)
        m->fds[i] = bl_close(m->fds[i]);
    m->n_fds = 0;
}

static int split(struct proto_msg *m, size_t len)
{
    size_t n = 1;
    if (len > 0 && m->buf[len - 1] == 0)
        len--; /* trailing terminator */
    for (size_t i = 0; i < len; i++)
        n += m->buf[i] == 0;
    m->f = bl_calloc(n + 1, sizeof(char *));
    if (!m->f)
        return -ENOMEM;
    char *p = m->buf;
    for (size_t i = 0; i < n; i++) {
        m->f[i] = p;
        p += strlen(p) + 1;
    }
    m->n = n;
    return 0;
}

int proto_recv(int fd, struct proto_msg *m)
{
    ssize_t len;
    do
        len = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
    while (len < 0 && errno == EINTR);
    if (len < 0)
        return errno == ECONNRESET ? -EPIPE : -errno;
    if (len == 0) {
        /* EOF (the protocol never sends an empty datagram; if one comes, drop the peer). */
        return -EPIPE;
    }
    if (len > PROTO_MAX_MSG)
        return -EMSGSIZE;
    m->buf = bl_malloc((size_t) len + 1);
    if (!m->buf)
        return -ENOMEM;
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * PROTO_MAX_FDS)];
    } cbuf;
    struct iovec iov = {.iov_base = m->buf, .iov_len = (size_t) len};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf)};
    ssize_t got;
    do
        got = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    while (got < 0 && errno == EINTR);
    if (got < 0)
        return -errno;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int rfd;
            memcpy(&rfd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (m->n_fds < PROTO_MAX_FDS)
                m->fds[m->n_fds++] = rfd;
            else
                (void) close(rfd);
        }
    }
    m->buf[got] = 0;
    return split(m, (size_t) got) < 0 ? -ENOMEM : 0;
}

static int sendv(int sock, const int *fds, size_t nfds, size_t n, va_list ap0)
{
    size_t len = 0;
    va_list ap;
    va_copy(ap, ap0);
    for (size_t i = 0; i < n; i++)
        len += strlen(va_arg(ap, const char *)) + 1;
    va_end(ap);
    _cleanup_free_ char *buf = bl_malloc(len);
    if (!buf)
        return -ENOMEM;
    char *p = buf;
    va_copy(ap, ap0);
    for (size_t i = 0; i < n; i++) {
        const char *f = va_arg(ap, const char *);
        size_t k = strlen(f) + 1;
        memcpy(p, f, k);
        p += k;
    }
    va_end(ap);
    struct iovec iov = {.iov_base = buf, .iov_len = len > 0 ? len - 1 : 0};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * PROTO_MAX_FDS)];
    } cbuf;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > PROTO_MAX_FDS)
        return -EINVAL;
    if (nfds > 0) {
        memset(&cbuf, 0, sizeof(cbuf));
        mh.msg_control = cbuf.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    ssize_t r;
    do
        r = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : 0;
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
