/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for box-stdio.c, the caller's side of a box's stdio, without a box: which of the
 * caller's fds are handed over as they are (pipes, /dev/null) and which get a relay (regular
 * files), one pipe for stdout and stderr on one file, the copy of the box's output into a file
 * when the command has exited (drain), the copy of a file into the box's stdin up to its EOF,
 * and the pty pump's output side.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "../lib/tap.h"
#include "alloc-util.h"
#include "box-stdio.h"
#include "fs-util.h"

static int tmp_file(const char *name, const char *content)
{
    _cleanup_free_ char *p = NULL;
    ASSERT_TRUE(asprintf(&p, "%s/%s", tap_tmpdir(), name) > 0);
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_TRUE(fd >= 0);
    if (content) {
        ASSERT_OK(bl_write_all(fd, content, strlen(content)));
        ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
    }
    return fd;
}

static char *file_content(int fd)
{
    ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
    char *buf = NULL;
    size_t len = 0;
    ASSERT_OK(bl_read_full_fd(fd, 1 << 20, &buf, &len));
    return buf;
}

TEST(pipes_are_handed_over)
{
    int p[2];
    ASSERT_OK(pipe2(p, O_CLOEXEC));
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    ASSERT_TRUE(devnull >= 0);
    int caller[3] = {p[0], p[1], devnull};
    struct box_stdio *s = NULL;
    ASSERT_OK(bl_box_stdio_new(caller, &s, &tap_last_err));
    const int *fds = bl_box_stdio_fds(s);
    for (int i = 0; i < 3; i++)
        ASSERT_EQ(fds[i], caller[i]);
    ASSERT_EQ(bl_box_stdio_relays(s), 0);
    bl_box_stdio_free(s);
    /* none at all: -1 stays -1 */
    int none[3] = {-1, -1, -1};
    ASSERT_OK(bl_box_stdio_new(none, &s, &tap_last_err));
    for (int i = 0; i < 3; i++)
        ASSERT_EQ(bl_box_stdio_fds(s)[i], -1);
    ASSERT_EQ(bl_box_stdio_relays(s), 0);
    bl_box_stdio_free(s);
    ASSERT_EQ(bl_box_stdio_relays(NULL), 0);
    (void) close(p[0]);
    (void) close(p[1]);
    (void) close(devnull);
}

TEST(output_file_is_relayed)
{
    int out = tmp_file("out", NULL);
    int caller[3] = {-1, out, out}; /* `>out 2>&1` */
    struct box_stdio *s = NULL;
    ASSERT_OK(bl_box_stdio_new(caller, &s, &tap_last_err));
    const int *fds = bl_box_stdio_fds(s);
    ASSERT_TRUE(fds[1] >= 0 && fds[1] != out); /* a pipe of ours, not the file */
    ASSERT_EQ(fds[2], fds[1]);                 /* one file: one pipe, the box's order */
    ASSERT_EQ(bl_box_stdio_relays(s), 1);
    /* the box's copy of the pipe, then ours goes (as once the shim has it) */
    int box_end = fcntl(fds[1], F_DUPFD_CLOEXEC, 3);
    ASSERT_TRUE(box_end >= 0);
    bl_box_stdio_handed(s);
    ASSERT_OK(bl_write_all(box_end, "out\n", 4));
    ASSERT_OK(bl_write_all(box_end, "err\n", 4));
    (void) close(box_end);
    /* the command has exited: what it left in the pipe reaches the file */
    bl_box_stdio_drain(s);
    bl_box_stdio_free(s);
    _cleanup_free_ char *got = file_content(out);
    ASSERT_STREQ(got, "out\nerr\n");
    (void) close(out);
}

TEST(input_file_is_relayed)
{
    int in = tmp_file("in", "from a file\n");
    int caller[3] = {in, -1, -1};
    struct box_stdio *s = NULL;
    ASSERT_OK(bl_box_stdio_new(caller, &s, &tap_last_err));
    int box_end = fcntl(bl_box_stdio_fds(s)[0], F_DUPFD_CLOEXEC, 3);
    ASSERT_TRUE(box_end >= 0);
    ASSERT_TRUE(box_end != in);
    bl_box_stdio_handed(s);
    /* a control socket with a message waiting: no step blocks */
    int ctl[2];
    ASSERT_OK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl));
    ASSERT_EQ(write(ctl[1], "x", 1), 1);
    for (int i = 0; i < 4; i++) {
        int ev = bl_box_stdio_step(s, ctl[0], /* sigfd= */ -1);
        ASSERT_TRUE(ev >= 0);
        ASSERT_TRUE(ev & POLLIN); /* the control socket's, handed back */
        ASSERT_EQ(ev >> 16, 0);
    }
    /* the file, then EOF: the relay ended at the caller's EOF */
    _cleanup_free_ char *got = NULL;
    size_t len = 0;
    ASSERT_OK(bl_read_full_fd(box_end, 4096, &got, &len));
    ASSERT_STREQ(got, "from a file\n");
    bl_box_stdio_drain(s);
    bl_box_stdio_free(s);
    (void) close(box_end);
    (void) close(ctl[0]);
    (void) close(ctl[1]);
    (void) close(in);
}

TEST(not_a_terminal)
{
    int p[2];
    ASSERT_OK(pipe2(p, O_CLOEXEC));
    char rows[8], cols[8];
    ASSERT_EQ(bl_winsize_fields(p[0], rows, cols), -ENOTTY);
    ASSERT_EQ(bl_winsize_fields(-1, rows, cols), -ENOTTY);
    bl_send_resize(p[1], p[0]); /* nothing is sent for a non-terminal */
    ASSERT_OK(fcntl(p[0], F_SETFL, O_NONBLOCK));
    char c;
    ASSERT_EQ(read(p[0], &c, 1), -1);
    ASSERT_EQ(errno, EAGAIN);
    (void) close(p[0]);
    (void) close(p[1]);
}

TEST(tty_pump_output)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0)
        SKIP("no pseudo-terminals here");
    ASSERT_OK(grantpt(master));
    ASSERT_OK(unlockpt(master));
    const char *name = ptsname(master);
    ASSERT_NOT_NULL(name);
    int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    ASSERT_TRUE(slave >= 0);
    int out[2], ctl[2];
    ASSERT_OK(pipe2(out, O_CLOEXEC));
    ASSERT_OK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl));
    struct bl_tty_pump p;
    bl_tty_pump_init(&p, /* in= */ -1, out[1], master);
    ASSERT_OK(bl_write_all(slave, "hi\n", 3));
    /* the box's output reaches the caller's fd, through the terminal (\n becomes \r\n) */
    char buf[16] = {0};
    size_t got = 0;
    while (got < 4) {
        ASSERT_TRUE(bl_tty_pump_step(&p, ctl[0], -1) >= 0);
        struct pollfd f = {.fd = out[0], .events = POLLIN};
        if (poll(&f, 1, 0) == 1) {
            ssize_t n = read(out[0], buf + got, sizeof(buf) - 1 - got);
            ASSERT_TRUE(n > 0);
            got += (size_t) n;
        }
    }
    ASSERT_STREQ(buf, "hi\r\n");
    /* every slave closed: the drain ends at once */
    (void) close(slave);
    bl_tty_pump_drain(&p, 5000);
    ASSERT_TRUE(p.master_done);
    (void) close(master);
    (void) close(out[0]);
    (void) close(out[1]);
    (void) close(ctl[0]);
    (void) close(ctl[1]);
}

TAP_MAIN(T(pipes_are_handed_over), T(output_file_is_relayed), T(input_file_is_relayed),
         T(not_a_terminal), T(tty_pump_output))
