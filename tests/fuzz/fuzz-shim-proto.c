/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the decoders of the shim's wire formats (src/basic/wire.h, one codec
 * for the library and the shim; docs/design/shim-protocol.md): bl_wire_recv, through a real
 * SOCK_SEQPACKET socket pair as the peer would send it, bl_wire_decode on the same bytes, and
 * bl_conf_next over them as a shim.conf image.
 *
 * Input: byte 0 is the number of fds to attach (mod 12, more than the codec takes), the rest
 * is the datagram. Properties: the fields are exactly the NUL-separated pieces of the datagram
 * (one trailing NUL is a terminator); more than BL_WIRE_MAX_FDS fds is -EMSGSIZE, never a
 * message with some of them; no fd leaks; shim.conf records cover the input in order.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc-util.h"
#include "fuzz-util.h"
#include "wire.h"

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

/* The fields of m are the datagram's, as wire.h defines them. */
static void check_fields(const struct bl_msg *m, const uint8_t *buf, size_t len)
{
    FUZZ_CHECK(m->len == len, "%zu bytes, sent %zu", m->len, len);
    size_t want = 1;
    size_t l = buf[len - 1] == 0 ? len - 1 : len;
    for (size_t i = 0; i < l; i++)
        want += buf[i] == 0;
    FUZZ_CHECK(m->n == want, "%zu fields, want %zu", m->n, want);
    FUZZ_CHECK(m->field[m->n] == NULL, "field list not NULL-terminated");
    size_t off = 0;
    for (size_t i = 0; i < m->n; i++)
        expect_field(buf, l, i, m->field[i], &off);
}

static void recv_side(const uint8_t *buf, size_t len, size_t n_fds)
{
    send_datagram(buf, len, n_fds);
    struct bl_msg m = BL_MSG_NULL;
    int r = bl_wire_recv(pair[1], &m, MSG_DONTWAIT);
    if (len == 0) {
        /* an empty datagram reads as the end: the peer is dropped (its fds are closed) */
        FUZZ_CHECK(r == -EPIPE, "empty datagram: %d", r);
    } else if (len > BL_WIRE_MAX_MSG || n_fds > BL_WIRE_MAX_FDS) {
        FUZZ_CHECK(r == -EMSGSIZE, "%zu bytes, %zu fds: %d", len, n_fds, r);
    } else if (r == -ENOMEM) {
        /* a fault point (BL_FAULT): nothing is held */
    } else {
        FUZZ_CHECK(r == 0, "bl_wire_recv: %d", r);
        check_fields(&m, buf, len);
        FUZZ_CHECK(m.n_fds == n_fds, "%zu fds, sent %zu", m.n_fds, n_fds);
        for (size_t i = 0; i < m.n_fds; i++)
            FUZZ_CHECK(fcntl(m.fds[i], F_GETFD) == FD_CLOEXEC, "fd %d not CLOEXEC", m.fds[i]);
    }
    bl_msg_done(&m);
    /* nothing of this datagram is left queued */
    char c;
    FUZZ_CHECK(recv(pair[1], &c, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN, "datagram left queued");
}

static void decode_side(const uint8_t *buf, size_t len)
{
    struct bl_msg m = BL_MSG_NULL;
    int r = bl_wire_decode(buf, len, &m);
    if (len == 0)
        FUZZ_CHECK(r == -EPIPE, "empty: %d", r);
    else if (len > BL_WIRE_MAX_MSG)
        FUZZ_CHECK(r == -EMSGSIZE, "too long: %d", r);
    else if (r == 0)
        check_fields(&m, buf, len);
    bl_msg_done(&m);
}

/* The input as a shim.conf image: records in order, each key a NUL-free prefix ended by NUL. */
static void conf_side(const uint8_t *data, size_t len)
{
    char *buf = bl_malloc(len + 1);
    if (!buf)
        return;
    memcpy(buf, data, len);
    buf[len] = 0;
    size_t off = 0, prev = 0;
    char *key, *val;
    int r;
    while ((r = bl_conf_next(buf, len, &off, &key, &val)) > 0) {
        FUZZ_CHECK(key == buf + prev, "record does not start where the last ended");
        FUZZ_CHECK(val == key + strlen(key) + 1 && val <= buf + len, "value misplaced");
        FUZZ_CHECK(off > prev && off <= len + 1, "offset %zu after %zu", off, prev);
        (void) bl_conf_key_lookup(key);
        prev = off;
    }
    FUZZ_CHECK(r == 0 || (r == -EINVAL && !memchr(buf + prev, 0, len - prev)), "bad end: %d", r);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t n_fds = data[0] % 12;
    int before = lowest_free_fd();
    recv_side(data + 1, size - 1, n_fds);
    FUZZ_CHECK(lowest_free_fd() == before, "bl_wire_recv leaked an fd");
    decode_side(data + 1, size - 1);
    conf_side(data + 1, size - 1);
    return 0;
}
