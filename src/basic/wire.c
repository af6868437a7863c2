/* SPDX-License-Identifier: MIT */
/*
 * The shim's wire formats (wire.h): datagrams of NUL-terminated fields with fds, and the
 * records of shim.conf with their one table of keys. libc only; fault points through bl_malloc.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "alloc-util.h"
#include "macro.h"
#include "wire.h"

void bl_msg_done(struct bl_msg *m)
{
    free(m->field);
    free(m->buf);
    m->field = NULL;
    m->buf = NULL;
    m->len = m->n = 0;
    for (size_t i = 0; i < BL_WIRE_MAX_FDS; i++)
        m->fds[i] = bl_close(m->fds[i]);
    m->n_fds = 0;
}

/* m->buf holds len bytes and a NUL after them: point m->field at its fields. */
static int split(struct bl_msg *m, size_t len)
{
    m->len = len;
    if (len > 0 && m->buf[len - 1] == 0)
        len--; /* the last field's terminator */
    size_t n = 1;
    for (size_t i = 0; i < len; i++)
        n += m->buf[i] == 0;
    m->field = bl_calloc(n + 1, sizeof(char *));
    if (!m->field)
        return -ENOMEM;
    char *p = m->buf;
    for (size_t i = 0; i < n; i++) {
        m->field[i] = p;
        p += strlen(p) + 1;
    }
    m->n = n;
    return 0;
}

int bl_wire_decode(const void *data, size_t len, struct bl_msg *m)
{
    bl_msg_done(m);
    if (len == 0)
        return -EPIPE;
    if (len > BL_WIRE_MAX_MSG)
        return -EMSGSIZE;
    m->buf = bl_malloc(len + 1);
    if (!m->buf)
        return -ENOMEM;
    memcpy(m->buf, data, len);
    m->buf[len] = 0;
    int r = split(m, len);
    if (r < 0)
        bl_msg_done(m);
    return r;
}

/* Keep (or, past the limit, close) the fds a received datagram carried. */
static void take_fds(struct bl_msg *m, struct msghdr *mh)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (m->n_fds < BL_WIRE_MAX_FDS)
                m->fds[m->n_fds++] = fd;
            else
                (void) close(fd);
        }
    }
}

int bl_wire_recv(int sock, struct bl_msg *m, int flags)
{
    bl_msg_done(m);
    flags &= MSG_DONTWAIT;
    /* the datagram's size, to receive it whole (MSG_TRUNC: its real length) */
    ssize_t len;
    do
        len = recv(sock, NULL, 0, MSG_PEEK | MSG_TRUNC | flags);
    while (len < 0 && errno == EINTR);
    if (len < 0)
        return errno == ECONNRESET ? -EPIPE : -errno;
    if (len == 0) {
        /* EOF; a zero-length datagram (never sent) is consumed, with its fds, and means the
         * same: the peer is dropped */
        char c;
        union {
            struct cmsghdr align;
            char b[CMSG_SPACE(sizeof(int) * BL_WIRE_MAX_FDS)];
        } cbuf;
        struct iovec iov = {.iov_base = &c, .iov_len = 1};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = cbuf.b,
                            .msg_controllen = sizeof(cbuf)};
        if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT) >= 0)
            take_fds(m, &mh);
        bl_msg_done(m);
        return -EPIPE;
    }
    bool too_long = len > BL_WIRE_MAX_MSG;
    size_t want = too_long ? 1 : (size_t) len;
    m->buf = bl_malloc(want + 1);
    if (!m->buf)
        return -ENOMEM;
    union {
        struct cmsghdr align;
        char b[CMSG_SPACE(sizeof(int) * BL_WIRE_MAX_FDS)];
    } cbuf;
    struct iovec iov = {.iov_base = m->buf, .iov_len = want};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.b, .msg_controllen = sizeof(cbuf)};
    ssize_t got;
    do
        got = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | flags);
    while (got < 0 && errno == EINTR);
    if (got < 0) {
        int e = errno;
        bl_msg_done(m);
        return e == ECONNRESET ? -EPIPE : -e;
    }
    take_fds(m, &mh);
    if (too_long || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
        bl_msg_done(m); /* never a message cut short: closes what came with it */
        return -EMSGSIZE;
    }
    if (got == 0) {
        bl_msg_done(m);
        return -EPIPE;
    }
    m->buf[got] = 0;
    int r = split(m, (size_t) got);
    if (r < 0)
        bl_msg_done(m);
    return r;
}

int bl_wire_send(int sock, const char *const *fields, size_t n, const int *fds, size_t nfds,
                 int flags)
{
    if (n == 0 || nfds > BL_WIRE_MAX_FDS)
        return -EINVAL;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        len += strlen(fields[i]) + 1;
        if (len > BL_WIRE_MAX_MSG)
            return -E2BIG;
    }
    _cleanup_free_ char *buf = bl_malloc(len);
    if (!buf)
        return -ENOMEM;
    char *p = buf;
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(fields[i]) + 1;
        memcpy(p, fields[i], k);
        p += k;
    }
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    union {
        struct cmsghdr align;
        char b[CMSG_SPACE(sizeof(int) * BL_WIRE_MAX_FDS)];
    } cbuf;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > 0) {
        memset(&cbuf, 0, sizeof(cbuf));
        mh.msg_control = cbuf.b;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    ssize_t r;
    do
        r = sendmsg(sock, &mh, MSG_NOSIGNAL | (flags & MSG_DONTWAIT));
    while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : 0;
}

/* ---- shim.conf -------------------------------------------------------------------------- */

static const struct {
    const char *name;
    enum bl_conf_kind kind;
} conf_keys[BL_CONF__N] = {
#define BL_CONF_ROW_(name, kind) [BL_CONF_##name] = {#name, BL_CONF_##kind},
    BL_SHIM_CONF_KEYS(BL_CONF_ROW_)
#undef BL_CONF_ROW_
};

const char *bl_conf_key_name(enum bl_conf_key k)
{
    return (unsigned) k < BL_CONF__N ? conf_keys[k].name : NULL;
}

enum bl_conf_kind bl_conf_key_kind(enum bl_conf_key k)
{
    return (unsigned) k < BL_CONF__N ? conf_keys[k].kind : BL_CONF_STRING;
}

int bl_conf_key_lookup(const char *name)
{
    for (int k = 0; k < BL_CONF__N; k++)
        if (!strcmp(conf_keys[k].name, name))
            return k;
    return -1;
}

void bl_conf_buf_done(struct bl_conf_buf *c)
{
    free(c->data);
    *c = (struct bl_conf_buf) BL_CONF_BUF_NULL;
}

static bool valid_value(enum bl_conf_kind kind, const char *v)
{
    switch (kind) {
    case BL_CONF_STRING:
    case BL_CONF_LIST:
        return true;
    case BL_CONF_INT:
        v += *v == '~';
        return *v && strspn(v, "0123456789abcdefABCDEF") == strlen(v);
    case BL_CONF_FLAG:
        return !strcmp(v, "0") || !strcmp(v, "1") || !strcmp(v, "~1");
    }
    return false;
}

void bl_conf_put(struct bl_conf_buf *c, enum bl_conf_key key, const char *value)
{
    if (c->err < 0)
        return;
    const char *k = bl_conf_key_name(key);
    if (!k || !value || !valid_value(conf_keys[key].kind, value)) {
        c->err = -EINVAL;
        return;
    }
    size_t kl = strlen(k) + 1, vl = strlen(value) + 1;
    if (c->len + kl + vl > c->cap) {
        size_t ncap = (c->cap + kl + vl) * 2;
        char *n = bl_realloc(c->data, ncap);
        if (!n) {
            c->err = -ENOMEM;
            return;
        }
        c->data = n;
        c->cap = ncap;
    }
    memcpy(c->data + c->len, k, kl);
    memcpy(c->data + c->len + kl, value, vl);
    c->len += kl + vl;
}

void bl_conf_put_name(struct bl_conf_buf *c, const char *name, const char *value)
{
    int k = bl_conf_key_lookup(name);
    if (k < 0) {
        if (c->err == 0)
            c->err = -EINVAL;
        return;
    }
    bl_conf_put(c, (enum bl_conf_key) k, value);
}

int bl_conf_next(char *buf, size_t len, size_t *off, char **ret_key, char **ret_value)
{
    if (*off >= len)
        return 0;
    char *p = buf + *off, *end = buf + len;
    char *kend = memchr(p, 0, (size_t) (end - p));
    if (!kend)
        return -EINVAL;
    char *val = kend + 1;
    char *vend = val < end ? memchr(val, 0, (size_t) (end - val)) : NULL;
    if (!vend)
        vend = end; /* the last value may lack its NUL; buf[len] is 0 */
    *off = (size_t) (vend + 1 - buf);
    *ret_key = p;
    *ret_value = val;
    return 1;
}
