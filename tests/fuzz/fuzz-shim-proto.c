/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the decoders of the shim's datagram protocol (docs/design/shim-protocol.md):
 * the shim's proto_recv (src/shim/proto.c, compiled into this target since the shim is not part
 * of libboxlite) and the library's bl_msg_recv (src/lib/shim-proto.c). Each input goes through
 * a real SOCK_SEQPACKET socket pair, as the peer would send it.
 *
 * Input: byte 0 is the number of fds to attach (mod 12, more than either decoder keeps), the rest
 * is the datagram. Properties: the fields are exactly the NUL-separated pieces of the datagram
 * (one trailing NUL is a terminator for proto_recv), no fd leaks, and fds beyond the limit are
 * closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz-util.h"
#include "shim-proto.h"
#include "shim/shim.h"

static int pair[2] = {-1, -1};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
        abort();
    int sz = 4 << 20;
    (void) setsockopt(pair[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    (void) setsockopt(pair[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    return 0;
}

/* The lowest free fd number: with no leak it is the same after each input. */
static int lowest_free_fd(void)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    FUZZ_CHECK(fd >= 0, "cannot open /dev/null");
    (void) close(fd);
    return fd;
}

static void send_datagram(const uint8_t *buf, size_t len, size_t n_fds)
{
    int fds[12];
    for (size_t i = 0; i < n_fds; i++)
        FUZZ_CHECK((fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0, "open");
    struct iovec iov = {.iov_base = (void *) buf, .iov_len = len};
    union {
        struct cmsghdr align;
        char b[CMSG_SPACE(sizeof(fds))];
    } cbuf;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (n_fds) {
        memset(&cbuf, 0, sizeof(cbuf));
        mh.msg_control = cbuf.b;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
    }
    FUZZ_CHECK(sendmsg(pair[0], &mh, MSG_NOSIGNAL) == (ssize_t) len, "sendmsg: %m");
    for (size_t i = 0; i < n_fds; i++)
        (void) close(fds[i]);
}

/* The datagram split at NULs as the protocol defines it; *n fields. */
static void expect_field(const uint8_t *buf, size_t len, size_t i, const char *got, size_t *off)
{
    size_t start = *off;
    size_t end = start;
    while (end < len && buf[end])
        end++;
    FUZZ_CHECK(strlen(got) == end - start && !memcmp(got, buf + start, end - start),
               "field %zu differs", i);
    *off = end + 1;
}

static void shim_side(const uint8_t *buf, size_t len, size_t n_fds)
{
    send_datagram(buf, len, n_fds);
    struct proto_msg m = PROTO_MSG_NULL;
    int r = proto_recv(pair[1], &m);
    if (len == 0) {
        /* an empty datagram reads as EOF: the peer is dropped */
        FUZZ_CHECK(r == -EPIPE, "empty datagram: %d", r);
        /* its fds are still queued: drain them */
        char c;
        (void) recv(pair[1], &c, 1, MSG_DONTWAIT);
        proto_msg_free(&m);
        return;
    }
    FUZZ_CHECK(r == 0, "proto_recv: %d", r);
    size_t want = 1;
    size_t l = len && buf[len - 1] == 0 ? len - 1 : len;
    for (size_t i = 0; i < l; i++)
        want += buf[i] == 0;
    FUZZ_CHECK(m.n == want, "%zu fields, want %zu", m.n, want);
    FUZZ_CHECK(m.f[m.n] == NULL, "field list not NULL-terminated");
    size_t off = 0;
    for (size_t i = 0; i < m.n; i++)
        expect_field(buf, l, i, m.f[i], &off);
    FUZZ_CHECK(m.n_fds == (n_fds < PROTO_MAX_FDS ? n_fds : PROTO_MAX_FDS), "%zu fds", m.n_fds);
    for (size_t i = 0; i < m.n_fds; i++)
        FUZZ_CHECK(fcntl(m.fds[i], F_GETFD) == FD_CLOEXEC, "fd %d not CLOEXEC", m.fds[i]);
    proto_msg_free(&m);
}

static void lib_side(struct bl_msg *m, const uint8_t *buf, size_t len, size_t n_fds)
{
    send_datagram(buf, len, n_fds);
    int r = bl_msg_recv(pair[1], m);
    if (len == 0) {
        FUZZ_CHECK(r == -ECONNRESET, "empty datagram: %d", r);
        bl_msg_close_fds(m);
        return;
    }
    FUZZ_CHECK(r == 0, "bl_msg_recv: %d", r);
    FUZZ_CHECK(m->len == len, "%zu bytes, sent %zu", m->len, len);
    size_t want = 0;
    for (size_t off = 0; off < len; want++) {
        while (off < len && buf[off])
            off++;
        off++;
    }
    if (want > BL_MSG_MAX_FIELDS)
        want = BL_MSG_MAX_FIELDS;
    FUZZ_CHECK(m->n == want, "%zu fields, want %zu", m->n, want);
    size_t off = 0;
    for (size_t i = 0; i < m->n; i++)
        expect_field(buf, len, i, m->field[i], &off);
    FUZZ_CHECK(m->n_fds == (n_fds < BL_MSG_MAX_FDS ? n_fds : BL_MSG_MAX_FDS), "%zu fds",
               m->n_fds);
    bl_msg_close_fds(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct bl_msg *m;
    if (size < 1)
        return 0;
    if (!m)
        FUZZ_CHECK((m = bl_msg_new()), "oom");
    size_t n_fds = data[0] % 12;
    int before = lowest_free_fd();
    shim_side(data + 1, size - 1, n_fds);
    FUZZ_CHECK(lowest_free_fd() == before, "proto_recv leaked an fd");
    if (size - 1 <= BL_MSG_MAX)
        lib_side(m, data + 1, size - 1, n_fds);
    FUZZ_CHECK(lowest_free_fd() == before, "bl_msg_recv leaked an fd");
    return 0;
}
