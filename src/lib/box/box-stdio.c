/* SPDX-License-Identifier: MIT */
/*
 * The caller's side of a box's stdio: the pty pump and the relays (box-stdio.h). Used by the
 * attached start (box-lifecycle.c) and by exec (box-exec.c).
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "alloc-util.h"
#include "box-stdio.h"
#include "fs-util.h"
#include "shim-proto.h"

/* ---- a pty between the caller's fds and the box ---------------------------------------- */

/* Copies `in` to the master and the master to `out`. The end of `in` becomes the terminal's EOF
 * character when `in` is a pipe; when it is a terminal, it was hung up, and so is the box's
 * terminal: every master copy is closed (ours here, the shim's on a "hangup" request), so the
 * box's processes read EOF and get SIGHUP, whatever mode their terminal is in (an EOF character
 * typed while a shell runs a command is lost when it goes back to raw mode). Between polls it
 * owns no thread: once the command has exited nothing reads `in` again, so a caller is never
 * stuck on its terminal's input. */
void bl_tty_pump_init(struct bl_tty_pump *p, int in, int out, int master)
{
    *p = (struct bl_tty_pump){
        .in = in, .out = out, .master = master, .in_eof = in < 0, .in_tty = in >= 0 && isatty(in)};
    (void) fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
}

static void pump_out(struct bl_tty_pump *p)
{
    char buf[16384];
    for (;;) {
        ssize_t n = read(p->master, buf, sizeof(buf));
        if (n > 0) {
            if (p->out >= 0)
                (void) bl_write_all(p->out, buf, (size_t) n); /* a closed output is ignored */
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || errno != EAGAIN)
            p->master_done = 1; /* EIO: every slave fd is closed */
        return;
    }
}

static void pump_in(struct bl_tty_pump *p)
{
    ssize_t n;
    do
        n = read(p->in, p->pending, sizeof(p->pending));
    while (n < 0 && errno == EINTR);
    if (n > 0) {
        p->len = (size_t) n;
        p->off = 0;
        return;
    }
    p->in_eof = 1;
    if (p->in_tty) {
        p->hangup = 1;
        return;
    }
    /* EOF (or an error) on our side: the box's terminal reads an end of file */
    struct termios t;
    p->pending[0] = tcgetattr(p->master, &t) == 0 && t.c_cc[VEOF] ? (char) t.c_cc[VEOF] : 4;
    p->len = 1;
    p->off = 0;
    p->in_eof = 1;
}

static void pump_write(struct bl_tty_pump *p)
{
    while (p->off < p->len) {
        ssize_t n = write(p->master, p->pending + p->off, p->len - p->off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            if (errno != EAGAIN)
                p->len = p->off = 0; /* the terminal is gone: drop the input */
            return;
        }
        p->off += (size_t) n;
    }
    p->len = p->off = 0;
}

/* One poll over the control socket, sigfd and the pty; returns the POLL* bits of ctl in the
 * low 16 bits and those of sigfd shifted by 16, or -errno. */
int bl_tty_pump_step(struct bl_tty_pump *p, int ctl, int sigfd)
{
    struct pollfd f[4] = {
        {.fd = ctl, .events = POLLIN},
        {.fd = sigfd, .events = POLLIN},
        {.fd = p->master_done ? -1 : p->master,
         .events = (short) (POLLIN | (p->len > p->off ? POLLOUT : 0))},
        {.fd = p->in_eof || p->len > p->off ? -1 : p->in, .events = POLLIN},
    };
    int n = poll(f, 4, -1);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    if (f[2].revents & (POLLIN | POLLHUP | POLLERR))
        pump_out(p);
    if (f[3].revents & (POLLIN | POLLHUP | POLLERR))
        pump_in(p);
    if (p->hangup == 1) {
        const char *h[] = {"hangup"};
        (void) bl_msg_send(ctl, h, 1, NULL, 0);
        /* our copy goes too, its number stays valid for its owner (/dev/null now) */
        _cleanup_close_ int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0)
            (void) dup3(null, p->master, O_CLOEXEC);
        p->master_done = 1;
        p->len = p->off = 0;
        p->hangup = 2;
    }
    if (!p->master_done && p->len > p->off)
        pump_write(p);
    return (f[0].revents & 0xffff) | (f[1].revents & 0xffff) << 16;
}

/* After the command's exit: the rest of its output, until every slave is closed (or a quiet
 * spell, when a background process of the box still holds the terminal). */
void bl_tty_pump_drain(struct bl_tty_pump *p, int quiet_ms)
{
    while (!p->master_done) {
        struct pollfd f = {.fd = p->master, .events = POLLIN};
        int n = poll(&f, 1, quiet_ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        pump_out(p);
    }
}

/* "resize", rows, cols of the terminal on fd, or -ENOTTY. */
int bl_winsize_fields(int fd, char rows[8], char cols[8])
{
    struct winsize ws;
    if (fd < 0 || ioctl(fd, TIOCGWINSZ, &ws) < 0 || !ws.ws_row || !ws.ws_col)
        return -ENOTTY;
    snprintf(rows, 8, "%u", ws.ws_row);
    snprintf(cols, 8, "%u", ws.ws_col);
    return 0;
}

void bl_send_resize(int sock, int term_fd)
{
    char rows[8], cols[8];
    if (bl_winsize_fields(term_fd, rows, cols) < 0)
        return;
    const char *f[] = {"resize", rows, cols};
    (void) bl_msg_send(sock, f, 3, NULL, 0);
}

/* ---- the caller's stdio: handed to the box, or relayed ------------------------------------ */

/*
 * The box gets the caller's pipes, sockets and terminals as they are (and /dev/null): bytes
 * never pass through boxlite. Anything else (a regular file, a directory, a device other than
 * a terminal) is never handed to the box, because its processes could reopen it through
 * /proc/self/fd/N with more access than they were given: read what a `>>` log held before,
 * truncate it, write a `<` input, walk a directory. Such a stream goes through a pipe of its
 * own instead, copied here, on the caller's side, while the caller waits for the box: with
 * splice() for a regular file (no copy through user space; not into an O_APPEND file, which
 * splice refuses), with read/write for the rest. stdout and stderr on one file (`>>log 2>&1`)
 * share one pipe, so the file gets them in the order the box wrote them.
 *
 * A relay ends at the pipe's EOF (output), at the caller's EOF (input: our end closes, so the
 * box reads EOF), or when the other side fails: the box then sees a closed pipe (EPIPE), and
 * the caller never gets a SIGPIPE from us. When the command has exited, what it wrote and is
 * still in the pipe is copied (bl_box_stdio_drain), and nothing after: a background process of the
 * box that keeps the pipe cannot hold the caller.
 */

#define RELAY_CHUNK (1 << 20) /* bytes per splice() */
#define RELAY_BUF 65536       /* bytes per read() */

struct relay {
    int pipe;        /* our end of the box's pipe (owned, O_NONBLOCK); -1 when ended */
    int caller;      /* the caller's fd (borrowed) */
    int input;       /* 1: caller → box (stdin); 0: box → caller */
    int use_splice;  /* the caller's fd is a regular file splice() takes */
    int caller_eof;  /* input: the caller's fd reached its end */
    size_t len, off; /* bytes of buf still to write */
    char *buf;       /* RELAY_BUF bytes, for read/write */
};

struct box_stdio {
    int box[3]; /* what the box gets: the caller's own fd (borrowed), a pipe end, or -1 */
    int own[3]; /* the box's pipe ends made here (owned until handed over) */
    struct relay r[3];
};

void bl_box_stdio_free(struct box_stdio *s)
{
    if (!s)
        return;
    for (int i = 0; i < 3; i++) {
        (void) bl_close(s->own[i]);
        (void) bl_close(s->r[i].pipe);
        free(s->r[i].buf);
    }
    free(s);
}

/* Whether fd must not be handed to the box (-errno if it cannot be looked at). */
static int must_relay(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))
        return 0;
    if (S_ISCHR(st.st_mode) && (isatty(fd) || st.st_rdev == makedev(1, 3) /* /dev/null */))
        return 0;
    return 1;
}

static int relay_init(struct relay *r, int caller, int input, int *ret_box_end, bl_error **err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return bl_err_errno(err, "cannot create a pipe for the box's stdio");
    r->pipe = input ? p[1] : p[0];
    *ret_box_end = input ? p[0] : p[1];
    r->caller = caller;
    r->input = input;
    (void) fcntl(r->pipe, F_SETFL, O_NONBLOCK); /* our end only: the box's blocks as usual */
    struct stat st;
    int fl = fcntl(caller, F_GETFL);
    r->use_splice = fstat(caller, &st) == 0 && S_ISREG(st.st_mode) && fl >= 0 && !(fl & O_APPEND);
    r->buf = bl_malloc(RELAY_BUF);
    return r->buf ? 0 : bl_oom(err);
}

/* The fds for the box, made from the caller's (borrowed; -1 stays -1). On success *ret owns the
 * pipes; give the box s->box[], then call bl_box_stdio_handed(). */
int bl_box_stdio_new(const int caller[3], struct box_stdio **ret, bl_error **err)
{
    static const char *const names[] = {"stdin", "stdout", "stderr"};
    _cleanup_(bl_box_stdio_freep) struct box_stdio *s = bl_calloc(1, sizeof(*s));
    if (!s)
        return bl_oom(err);
    for (int i = 0; i < 3; i++) {
        s->box[i] = caller[i];
        s->own[i] = s->r[i].pipe = s->r[i].caller = -1;
    }
    for (int i = 0; i < 3; i++) {
        if (caller[i] < 0)
            continue;
        int r = must_relay(caller[i]);
        if (r < 0)
            return bl_err_code(err, r, "cannot look at fd %d given as the box's %s", caller[i],
                               names[i]);
        if (!r)
            continue;
        struct stat a, b;
        if (i == 2 && s->r[1].pipe >= 0 && fstat(caller[1], &a) == 0 && fstat(caller[2], &b) == 0 &&
            a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
            s->box[2] = s->box[1]; /* one file: one pipe, the box's order */
            continue;
        }
        r = relay_init(&s->r[i], caller[i], i == 0, &s->own[i], err);
        if (r < 0)
            return r;
        s->box[i] = s->own[i];
    }
    *ret = TAKE_PTR(s);
    return 0;
}

const int *bl_box_stdio_fds(const struct box_stdio *s)
{
    return s ? s->box : NULL;
}

/* The box (the shim, or the exec request) holds its own copies now. */
void bl_box_stdio_handed(struct box_stdio *s)
{
    for (int i = 0; s && i < 3; i++)
        s->own[i] = bl_close(s->own[i]);
}

int bl_box_stdio_relays(const struct box_stdio *s)
{
    for (int i = 0; s && i < 3; i++)
        if (s->r[i].pipe >= 0)
            return 1;
    return 0;
}

static void relay_end(struct relay *r)
{
    r->pipe = bl_close(r->pipe);
    r->len = r->off = 0;
}

/* Box → caller, until the pipe is empty for now or `budget` bytes were taken from it; returns
 * the bytes taken (written, or pending in buf while the caller's fd would block). */
static size_t relay_out(struct relay *r, size_t budget)
{
    size_t took = 0;
    while (r->pipe >= 0) {
        ssize_t n;
        if (r->len > r->off) {
            n = write(r->caller, r->buf + r->off, r->len - r->off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == EAGAIN)
                return took; /* a non-blocking caller's fd: POLLOUT is waited for */
            if (n <= 0) {
                relay_end(r); /* the caller's side failed: the box gets EPIPE */
                return took;
            }
            r->off += (size_t) n;
            if (r->off == r->len)
                r->len = r->off = 0;
            continue;
        }
        if (budget == 0)
            return took;
        if (r->use_splice) {
            n = splice(r->pipe, NULL, r->caller, NULL, MIN(budget, (size_t) RELAY_CHUNK),
                       SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (n < 0 && errno == EINVAL) { /* a file splice() does not write to */
                r->use_splice = 0;
                continue;
            }
        } else {
            n = read(r->pipe, r->buf, MIN(budget, (size_t) RELAY_BUF));
            if (n > 0) {
                r->len = (size_t) n;
                r->off = 0;
            }
        }
        if (n > 0) {
            budget -= (size_t) n;
            took += (size_t) n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return took;
        relay_end(r); /* EOF: every writer in the box is gone (or an error) */
        return took;
    }
    return took;
}

/* SIGPIPE from a write into the box's stdin pipe (the box closed it) would hit the caller's
 * process: it is blocked in this thread meanwhile, and one we raised is taken back. */
struct sigpipe_guard {
    sigset_t old;
    int was_pending;
};

static void sigpipe_hold(struct sigpipe_guard *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    (void) pthread_sigmask(SIG_BLOCK, &set, &g->old);
    g->was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
}

static void sigpipe_release(struct sigpipe_guard *g, int raised)
{
    int saved = errno;
    if (raised && !g->was_pending) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        struct timespec zero = {0, 0};
        while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    (void) pthread_sigmask(SIG_SETMASK, &g->old, NULL);
    errno = saved;
}

/* Caller → box, until the pipe is full or the input ends (then the box reads EOF). */
static void relay_in(struct relay *r)
{
    struct sigpipe_guard g;
    int epipe = 0;
    sigpipe_hold(&g);
    while (r->pipe >= 0) {
        ssize_t n;
        if (r->len > r->off) {
            n = write(r->pipe, r->buf + r->off, r->len - r->off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == EAGAIN)
                break;
            if (n <= 0) {
                epipe |= errno == EPIPE;
                relay_end(r); /* the box closed its stdin */
                break;
            }
            r->off += (size_t) n;
            if (r->off == r->len)
                r->len = r->off = 0;
            continue;
        }
        if (r->caller_eof) {
            relay_end(r);
            break;
        }
        if (r->use_splice) {
            n = splice(r->caller, NULL, r->pipe, NULL, RELAY_CHUNK,
                       SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (n < 0 && errno == EINVAL) {
                r->use_splice = 0;
                continue;
            }
            if (n < 0 && errno == EPIPE) {
                epipe = 1;
                relay_end(r);
                break;
            }
        } else {
            n = read(r->caller, r->buf, RELAY_BUF);
            if (n > 0) {
                r->len = (size_t) n;
                r->off = 0;
            }
        }
        if (n > 0)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        /* the pipe is full (splice), or a non-blocking caller's fd is dry */
        if (n < 0 && errno == EAGAIN)
            break;
        /* EOF, or an input that cannot be read (a directory): the box's EOF too */
        r->caller_eof = 1;
    }
    sigpipe_release(&g, epipe);
}

/* The poll entry of relay r: the side it waits for. */
static struct pollfd relay_pollfd(const struct relay *r)
{
    if (r->pipe < 0)
        return (struct pollfd){.fd = -1};
    int pending = r->len > r->off;
    if (r->input)
        return pending || r->use_splice ? (struct pollfd){.fd = r->pipe, .events = POLLOUT}
                                        : (struct pollfd){.fd = r->caller, .events = POLLIN};
    return pending ? (struct pollfd){.fd = r->caller, .events = POLLOUT}
                   : (struct pollfd){.fd = r->pipe, .events = POLLIN};
}

/* One poll over ctl, sigfd (may be -1) and the relays of s (may be NULL), copying what is
 * ready; returns the revents of ctl in the low 16 bits and those of sigfd above, or -errno. */
int bl_box_stdio_step(struct box_stdio *s, int ctl, int sigfd)
{
    struct pollfd f[5] = {{.fd = ctl, .events = POLLIN}, {.fd = sigfd, .events = POLLIN}};
    for (int i = 0; i < 3; i++)
        f[2 + i] = s ? relay_pollfd(&s->r[i]) : (struct pollfd){.fd = -1};
    int n = poll(f, 5, -1);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < 3; i++) {
        if (!f[2 + i].revents)
            continue;
        if (s->r[i].input)
            relay_in(&s->r[i]);
        else
            relay_out(&s->r[i], 16 * (size_t) RELAY_CHUNK); /* then the control socket */
    }
    return (f[0].revents & 0xffff) | (f[1].revents & 0xffff) << 16;
}

/* The command has exited: copy what it left in the pipes, then end every relay. Whatever is
 * in a pipe now was written before the exit; later bytes come from processes that outlive it
 * (an exec's background job), which nothing waits for. */
void bl_box_stdio_drain(struct box_stdio *s)
{
    for (int i = 0; s && i < 3; i++) {
        struct relay *r = &s->r[i];
        int avail = 0;
        if (r->pipe >= 0 && !r->input && ioctl(r->pipe, FIONREAD, &avail) == 0 && avail > 0) {
            size_t left = (size_t) avail;
            while (r->pipe >= 0 && (left > 0 || r->len > r->off)) {
                size_t took = relay_out(r, left);
                left -= MIN(took, left);
                if (took > 0 || r->pipe < 0)
                    continue;
                if (r->len == r->off) /* the pipe is empty: nothing more to take */
                    break;
                /* the caller's fd would block: wait for it, but not for ever */
                struct pollfd f = relay_pollfd(r);
                if (poll(&f, 1, 10000) <= 0)
                    break;
            }
        }
        relay_end(r);
    }
}
