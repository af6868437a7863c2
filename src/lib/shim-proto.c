/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "shim-proto.h"

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
    ssize_t r;
    do
        r = recv(sock, m->buf, BL_MSG_MAX, 0);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return -errno;
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
