/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "alloc-util.h"
#include "shim-proto.h"

struct bl_msg *bl_msg_new(void)
{
    struct bl_msg *m = bl_malloc(sizeof(*m));
    if (m) {
        m->len = m->n = m->n_fds = 0;
        for (size_t i = 0; i < BL_MSG_MAX_FDS; i++)
            m->fds[i] = -1;
    }
    return m;
}

void bl_msg_close_fds(struct bl_msg *m)
{
    for (size_t i = 0; i < BL_MSG_MAX_FDS; i++)
        m->fds[i] = bl_close(m->fds[i]);
    m->n_fds = 0;
}

void bl_msg_free(struct bl_msg *m)
{
    if (!m)
        return;
    bl_msg_close_fds(m);
    free(m);
}

int bl_msg_send(int sock, const char *const *fields, size_t n, const int *fds, int nfds)
{
    char buf[BL_MSG_MAX];
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(fields[i]) + 1;
        if (len + l > sizeof(buf))
            return -E2BIG;
        memcpy(buf + len, fields[i], l);
        len += l;
    }
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    union {
        char b[CMSG_SPACE(sizeof(int) * 8)];
        struct cmsghdr align;
    } cbuf;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > 0) {
        if (nfds > 8)
            return -EINVAL;
        memset(&cbuf, 0, sizeof(cbuf));
        mh.msg_control = cbuf.b;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t) nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t) nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t) nfds);
    }
    ssize_t r;
    do
        r = sendmsg(sock, &mh, MSG_NOSIGNAL);
    while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : 0;
}

int bl_msg_recv(int sock, struct bl_msg *m)
{
    bl_msg_close_fds(m);
    union {
        char b[CMSG_SPACE(sizeof(int) * BL_MSG_MAX_FDS)];
        struct cmsghdr align;
    } cbuf;
    struct iovec iov = {.iov_base = m->buf, .iov_len = BL_MSG_MAX};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.b, .msg_controllen = sizeof(cbuf)};
    ssize_t r;
    do
        r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return -errno;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (m->n_fds < BL_MSG_MAX_FDS)
                m->fds[m->n_fds++] = fd;
            else
                (void) close(fd);
        }
    }
    if (r == 0)
        return -ECONNRESET;
    m->len = (size_t) r;
    m->buf[m->len] = 0;
    m->n = 0;
    for (size_t off = 0; off < m->len && m->n < BL_MSG_MAX_FIELDS;) {
        m->field[m->n++] = m->buf + off;
        off += strlen(m->buf + off) + 1;
    }
    return 0;
}

int bl_msg_connect(int dir_fd, const char *name, bl_error **err)
{
    _cleanup_close_ int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s < 0)
        return bl_err_errno(err, "cannot create socket");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dir_fd, name);
    if (connect(s, (struct sockaddr *) &sa, sizeof(sa)) < 0)
        return bl_err_errno(err, "cannot connect to the box's shim");
    return TAKE_FD(s);
}

int bl_msg_call(int dir_fd, const char *const *fields, size_t n, struct bl_msg *reply,
                bl_error **err)
{
    _cleanup_close_ int s = bl_msg_connect(dir_fd, "shim.sock", err);
    if (s < 0)
        return s;
    int r = bl_msg_send(s, fields, n, NULL, 0);
    if (r < 0)
        return bl_err_code(err, r, "cannot send a request to the box's shim");
    r = bl_msg_recv(s, reply);
    if (r < 0)
        return bl_err_code(err, r, "no reply from the box's shim");
    if (reply->n >= 1 && !strcmp(reply->field[0], "error"))
        return bl_err(err, -EIO, "%s", reply->n > 2 ? reply->field[2] : "request failed");
    return 0;
}
