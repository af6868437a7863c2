/* SPDX-License-Identifier: MIT */
/*
 * Execution sessions (include/boxlite/exec.h; docs/design/sessions.md says why it is built so).
 *
 * A session is an exec request to the box's shim whose connection we keep: the shim kills the
 * process when that connection closes, so a session never outlives the process that owns it.
 * Its stdio are pipes of ours (or the pty master the shim hands back), read by one thread per
 * process, the hub, which owns every session's fds in one epoll set: it keeps each output
 * stream's last 256 KiB in a ring, feeds queued stdin, serves the attacher, reads the shim's
 * `exit`, fires timeouts, and evicts ended sessions from the registry. The hub thread starts
 * with the first session that has fds and ends when none has.
 *
 * Locking: one process-wide mutex (hub.lock) guards every session and the registry; the hub
 * thread holds it while it handles events (all its I/O is non-blocking) and drops it in
 * epoll_wait. Callers' threads take it for each call and wait on hub.cond. Only the hub thread
 * drops the hub's reference to a session (at the end of a batch of events, so no event of the
 * batch can point at freed memory); fds are closed under the lock and every event is checked
 * against the watch's current fd.
 */
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "alloc-util.h"
#include "box-exec.h"
#include "box-internal.h"
#include "box-lifecycle.h"
#include "box-shim.h"
#include "boxlite/exec.h"
#include "shim-proto.h"

#define CHUNK (32 * 1024)     /* one read, one attach datagram */
#define STDIN_MAX (64 * 1024) /* queued stdin before writers wait */
#define NS_PER_MS INT64_C(1000000)
#define NS_PER_S INT64_C(1000000000)
#define DEFAULT_RETAIN_NS (300 * NS_PER_S) /* spec/cli.md §8.5: evicted 5 min after exit */
#define TTY_QUIET_NS (200 * NS_PER_MS)     /* after the exit: a pty's output ends after this */
#define DRAIN_MAX_NS (2 * NS_PER_S)        /* after the exit: any output ends by this */
#define DRAIN_READS 8                      /* reads of one stream in one pass after the exit */

enum { W_CONN, W_OUT, W_ERR, W_IN, W_ATT, W_N };

struct watch {
    struct boxlite_execution *x;
    int fd;      /* -1: closed */
    uint32_t ev; /* the events registered in the hub's epoll set; 0: not registered */
};

/* The last BOXLITE_EXECUTION_BACKLOG bytes of one output stream; byte number o (counted from
 * the first ever read) is at buf[o % cap]. cap grows (before anything wraps) up to the limit. */
struct ring {
    char *buf;
    size_t cap;
    uint64_t total; /* bytes read from the stream so far */
    uint64_t sent;  /* the attacher's position */
};

struct boxlite_execution {
    struct boxlite_execution *next;  /* the registry (lookup) */
    struct boxlite_execution *anext; /* the hub's active list (sessions with fds) */
    struct boxlite_execution *snext; /* the starting list (connected, not yet registered) */
    unsigned refs;                   /* handles + registry + hub */
    bool registered, active, starting;
    char id[23];
    char *box_id;
    struct watch w[W_N];
    struct ring out[2]; /* stdout, stderr */
    char *in_buf;       /* stdin queue: the bytes [in_off, in_len) of in_cap allocated */
    size_t in_len, in_off, in_cap;
    bool in_eof; /* stdin is to end once the queue is written (or has ended) */
    bool tty;
    char veof; /* the tty's EOF character */
    int pid;
    bool exited;                        /* the shim said `exit` (or went away) */
    bool done;                          /* exited, and the output read */
    bool kill_requested, timed_out;     /* a SIGKILL was sent for kill, for the timeout */
    bool kill_pending, pending_timeout; /* one is to be sent (the connection was full) */
    int kill_err;                       /* why the last try failed */
    bool exit_sent;
    int status;
    int64_t started_ns, ended_ns; /* CLOCK_REALTIME */
    int64_t deadline;             /* CLOCK_MONOTONIC: the timeout, 0 = none */
    int64_t quiet_until;          /* tty after exit: output ends at this time */
    int64_t drain_end;            /* after exit: output ends by this time (exit + DRAIN_MAX_NS) */
    int64_t retain_ns;            /* < 0: evicted when done */
    int64_t evict_at;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* CLOCK_MONOTONIC; broadcast on every change callers wait for */
    int epfd, wakefd;    /* -1 while no hub thread runs */
    bool thread;
    struct boxlite_execution *registry, *active, *starting;
} hub = {.lock = PTHREAD_MUTEX_INITIALIZER, .epfd = -1, .wakefd = -1};
static pthread_once_t hub_once = PTHREAD_ONCE_INIT;

static void hub_cond_init(void)
{
    pthread_condattr_t a;
    (void) pthread_condattr_init(&a);
    (void) pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    (void) pthread_cond_init(&hub.cond, &a);
    (void) pthread_condattr_destroy(&a);
}

/* fork(): the hub is locked across it, so the child's copy is consistent. The child has no hub
 * thread and must not keep the parent's sessions alive: it closes its copies of their fds (the
 * shim kills a process only when every copy of its connection is closed) and sees them as
 * ended. */
static void hub_prepare_fork(void)
{
    (void) pthread_mutex_lock(&hub.lock);
}

static void hub_parent_fork(void)
{
    (void) pthread_mutex_unlock(&hub.lock);
}

static void hub_child_forget(struct boxlite_execution *x)
{
    for (int i = 0; i < W_N; i++) {
        x->w[i].fd = bl_close(x->w[i].fd);
        x->w[i].ev = 0;
    }
    if (!x->done) {
        x->exited = x->done = true;
        x->status = 137;
    }
}

static void hub_child_fork(void)
{
    for (struct boxlite_execution *x = hub.registry; x; x = x->next)
        hub_child_forget(x);
    for (struct boxlite_execution *x = hub.active; x; x = x->anext)
        hub_child_forget(x);
    for (struct boxlite_execution *x = hub.starting; x; x = x->snext)
        hub_child_forget(x); /* its _start is in a thread the child does not have */
    hub.epfd = bl_close(hub.epfd);
    hub.wakefd = bl_close(hub.wakefd);
    hub.thread = false;
    hub_cond_init(); /* the parent's waiters are not here to leave it */
    (void) pthread_mutex_unlock(&hub.lock);
}

static void hub_init_once(void)
{
    hub_cond_init();
    (void) pthread_atfork(hub_prepare_fork, hub_parent_fork, hub_child_fork);
}

static void hub_lock(void)
{
    (void) pthread_once(&hub_once, hub_init_once);
    (void) pthread_mutex_lock(&hub.lock);
}

static void hub_unlock(void)
{
    (void) pthread_mutex_unlock(&hub.lock);
}

static int64_t now_ns(clockid_t clock)
{
    struct timespec ts;
    (void) clock_gettime(clock, &ts);
    return (int64_t) ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* Wait on hub.cond until deadline (CLOCK_MONOTONIC ns; < 0 = none); -ETIMEDOUT after it. */
static int hub_wait(int64_t deadline)
{
    if (deadline < 0)
        return -pthread_cond_wait(&hub.cond, &hub.lock);
    struct timespec ts = {.tv_sec = deadline / NS_PER_S, .tv_nsec = deadline % NS_PER_S};
    return -pthread_cond_timedwait(&hub.cond, &hub.lock, &ts);
}

static void hub_wake(void)
{
    uint64_t one = 1;
    if (hub.wakefd >= 0)
        (void) !write(hub.wakefd, &one, sizeof(one));
}

/* ---- the session object ---------------------------------------------------------------------- */

static void watch_set(struct watch *w, uint32_t ev)
{
    if (w->fd < 0 || w->ev == ev || hub.epfd < 0)
        return;
    struct epoll_event e = {.events = ev, .data.ptr = w};
    int op = !ev ? EPOLL_CTL_DEL : !w->ev ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    if (epoll_ctl(hub.epfd, op, w->fd, &e) == 0)
        w->ev = ev;
}

static void watch_close(struct watch *w)
{
    watch_set(w, 0);
    w->fd = bl_close(w->fd);
    w->ev = 0;
}

static void session_free(struct boxlite_execution *x)
{
    for (int i = 0; i < W_N; i++)
        x->w[i].fd = bl_close(x->w[i].fd);
    free(x->out[0].buf);
    free(x->out[1].buf);
    free(x->in_buf);
    free(x->box_id);
    free(x);
}

static void session_unref(struct boxlite_execution *x)
{
    if (x && --x->refs == 0)
        session_free(x);
}

static void registry_remove(struct boxlite_execution *x)
{
    if (!x->registered)
        return;
    for (struct boxlite_execution **p = &hub.registry; *p; p = &(*p)->next)
        if (*p == x) {
            *p = x->next;
            break;
        }
    x->next = NULL;
    x->registered = false;
    session_unref(x);
}

/* Ended sessions past their retention leave the registry (called under the lock). */
static void registry_expire(int64_t now)
{
    for (struct boxlite_execution *x = hub.registry, *next; x; x = next) {
        next = x->next;
        if (x->done && now >= x->evict_at)
            registry_remove(x);
    }
}

static size_t ring_kept(const struct ring *r)
{
    return r->total < r->cap ? (size_t) r->total : r->cap;
}

static void ring_append(struct ring *r, const char *data, size_t n)
{
    if (r->total + n > r->cap && r->total <= r->cap && r->cap < BOXLITE_EXECUTION_BACKLOG) {
        /* nothing has wrapped yet, so the bytes keep their places (once a growth failed for
         * want of memory and the ring wrapped, it stays as it is) */
        size_t want = MAX(MAX(r->cap * 2, (size_t) r->total + n), (size_t) 4096);
        want = MIN(want, (size_t) BOXLITE_EXECUTION_BACKLOG);
        char *nb = bl_realloc(r->buf, want);
        if (nb) {
            r->buf = nb;
            r->cap = want;
        }
    }
    if (!r->cap) {
        r->total += n; /* out of memory: the bytes are lost to the backlog */
        return;
    }
    while (n > 0) {
        size_t pos = (size_t) (r->total % r->cap), m = MIN(n, r->cap - pos);
        memcpy(r->buf + pos, data, m);
        r->total += m;
        data += m;
        n -= m;
    }
}

/* Copy bytes [from, from + n) (all kept) to dst. */
static void ring_copy(const struct ring *r, uint64_t from, char *dst, size_t n)
{
    while (n > 0) {
        size_t pos = (size_t) (from % r->cap), m = MIN(n, r->cap - pos);
        memcpy(dst, r->buf + pos, m);
        from += m;
        dst += m;
        n -= m;
    }
}

/* An attacher that is a backlog behind holds the output back (so it loses nothing) while the
 * process runs; once it has exited or is being killed, nothing holds the session: the output is
 * read into the ring and a slow attacher skips what the ring lost (att_flush). */
static bool stream_paused(const struct boxlite_execution *x, int s)
{
    const struct ring *r = &x->out[s];
    if (x->exited || x->kill_requested || x->timed_out)
        return false;
    return x->w[W_ATT].fd >= 0 && r->total - r->sent + CHUNK > BOXLITE_EXECUTION_BACKLOG;
}

static bool stdin_open(const struct boxlite_execution *x)
{
    return x->w[W_IN].fd >= 0 && !x->in_eof;
}

static bool att_pending(const struct boxlite_execution *x)
{
    return x->out[0].sent < x->out[0].total || x->out[1].sent < x->out[1].total ||
           (x->done && !x->exit_sent);
}

/* The events each fd of x waits for now. */
static void session_update(struct boxlite_execution *x)
{
    watch_set(&x->w[W_CONN], EPOLLIN | (x->kill_pending ? EPOLLOUT : 0));
    for (int s = 0; s < 2; s++)
        watch_set(&x->w[W_OUT + s], stream_paused(x, s) ? 0 : EPOLLIN);
    watch_set(&x->w[W_IN], x->in_len > x->in_off ? EPOLLOUT : 0);
    /* an attacher's stdin is read while the queue has room (dropped once stdin has ended) */
    uint32_t att =
        (x->in_len - x->in_off < STDIN_MAX ? EPOLLIN : 0) | (att_pending(x) ? EPOLLOUT : 0);
    watch_set(&x->w[W_ATT], att);
}

static void stdin_end(struct boxlite_execution *x)
{
    watch_close(&x->w[W_IN]);
    x->in_len = x->in_off = 0;
    x->in_eof = true;
    (void) pthread_cond_broadcast(&hub.cond);
}

/* Queue stdin bytes (the caller checked stdin_open). The unwritten bytes move to the front
 * first, so the buffer holds no more than the queue: at most STDIN_MAX plus one attach datagram
 * (and what a start's stdin_data brings). */
static int stdin_queue(struct boxlite_execution *x, const void *data, size_t n)
{
    if (!n)
        return 0;
    if (x->in_off > 0) {
        memmove(x->in_buf, x->in_buf + x->in_off, x->in_len - x->in_off);
        x->in_len -= x->in_off;
        x->in_off = 0;
    }
    if (x->in_len + n > x->in_cap) {
        size_t want = MAX(x->in_len + n, MIN(2 * x->in_cap, (size_t) STDIN_MAX));
        char *nb = bl_realloc(x->in_buf, want);
        if (!nb)
            return -ENOMEM;
        x->in_buf = nb;
        x->in_cap = want;
    }
    memcpy(x->in_buf + x->in_len, data, n);
    x->in_len += n;
    return 0;
}

/* Ask for the end of stdin: a tty's EOF character, or the pipe's end once the queue is out. */
static void stdin_close(struct boxlite_execution *x)
{
    if (!stdin_open(x))
        return;
    if (x->tty)
        (void) stdin_queue(x, &x->veof, 1);
    x->in_eof = true;
    if (x->in_len == x->in_off)
        stdin_end(x);
}

static int conn_send(struct boxlite_execution *x, const char *const *f, size_t n)
{
    if (x->w[W_CONN].fd < 0 || x->exited)
        return -ESRCH;
    return bl_wire_send(x->w[W_CONN].fd, f, n, NULL, 0, MSG_DONTWAIT);
}

static int fail_kills; /* bl_execution_test_fail_kills() */

static int send_signal(struct boxlite_execution *x, int sig)
{
    if (sig == SIGKILL && fail_kills > 0 && x->w[W_CONN].fd >= 0 && !x->exited) {
        fail_kills--;
        return -EAGAIN;
    }
    char sn[16];
    snprintf(sn, sizeof(sn), "%d", sig);
    const char *f[] = {"signal", sn};
    return conn_send(x, f, 2);
}

/* Send the pending SIGKILL; what it was for (kill, timeout) is recorded once it has gone. When
 * the connection is full it stays pending: the hub waits for room (EPOLLOUT) and tries again. */
static void kill_send(struct boxlite_execution *x)
{
    if (!x->kill_pending)
        return;
    int r = send_signal(x, SIGKILL);
    if (r == -EAGAIN || r == -EINTR) {
        x->kill_err = r;
        return;
    }
    x->kill_pending = false;
    if (r == 0 && x->pending_timeout)
        x->timed_out = true;
    else if (r == 0)
        x->kill_requested = true;
    /* -ESRCH: it has exited; another error: the shim went away, which on_conn sees as a kill */
}

/* Ask for a SIGKILL (for the timeout or for kill), sent now or as soon as the connection can
 * take it. */
static void kill_ask(struct boxlite_execution *x, bool timeout)
{
    if (x->exited || x->kill_requested || x->timed_out || x->kill_pending)
        return;
    x->kill_pending = true;
    x->pending_timeout = timeout;
    kill_send(x);
}

/* ---- the hub thread ------------------------------------------------------------------------ */

static void att_close(struct boxlite_execution *x)
{
    watch_close(&x->w[W_ATT]);
    (void) pthread_cond_broadcast(&hub.cond);
}

/* Send the attacher what it has not had: output, then (once done) the exit. */
static void att_flush(struct boxlite_execution *x)
{
    int fd = x->w[W_ATT].fd;
    if (fd < 0)
        return;
    char buf[CHUNK + 1];
    for (int s = 0; s < 2; s++) {
        struct ring *r = &x->out[s];
        while (r->sent < r->total) {
            uint64_t from = MAX(r->sent, r->total - ring_kept(r));
            size_t n = (size_t) MIN(r->total - from, (uint64_t) CHUNK);
            buf[0] = (char) (BOXLITE_ATTACH_STDOUT + s);
            ring_copy(r, from, buf + 1, n);
            ssize_t k = send(fd, buf, n + 1, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (k < 0 && (errno == EAGAIN || errno == EINTR))
                return;
            if (k < 0) {
                att_close(x);
                return;
            }
            r->sent = from + n;
        }
    }
    if (x->done && !x->exit_sent) {
        buf[0] = BOXLITE_ATTACH_EXIT;
        int32_t st = x->status;
        memcpy(buf + 1, &st, sizeof(st));
        ssize_t k = send(fd, buf, 1 + sizeof(st), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (k < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        x->exit_sent = true;
        att_close(x); /* the attacher reads the end of the stream */
    }
}

static void on_att_in(struct boxlite_execution *x)
{
    char buf[CHUNK + 1];
    while (x->w[W_ATT].fd >= 0 && x->in_len - x->in_off < STDIN_MAX) {
        ssize_t n = recv(x->w[W_ATT].fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) { /* the attacher closed its end: detached */
            att_close(x);
            return;
        }
        if (buf[0] == BOXLITE_ATTACH_STDIN && stdin_open(x))
            (void) stdin_queue(x, buf + 1, (size_t) n - 1);
        else if (buf[0] == BOXLITE_ATTACH_STDIN_EOF)
            stdin_close(x);
    }
}

static void on_stdin(struct boxlite_execution *x)
{
    while (x->w[W_IN].fd >= 0 && x->in_off < x->in_len) {
        ssize_t n = write(x->w[W_IN].fd, x->in_buf + x->in_off, x->in_len - x->in_off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) { /* the process closed its stdin (EPIPE: SIGPIPE is blocked here) */
            sigset_t pipe;
            sigemptyset(&pipe);
            sigaddset(&pipe, SIGPIPE);
            (void) sigtimedwait(&pipe, NULL, &(struct timespec){0, 0});
            stdin_end(x);
            return;
        }
        x->in_off += (size_t) n;
        (void) pthread_cond_broadcast(&hub.cond);
    }
    if (x->in_eof && x->in_off == x->in_len)
        stdin_end(x);
}

/* One read of an output stream; returns false when there was nothing to read. */
static bool on_output(struct boxlite_execution *x, int s, int64_t now)
{
    struct watch *w = &x->w[W_OUT + s];
    if (w->fd < 0 || stream_paused(x, s))
        return false;
    char buf[CHUNK];
    ssize_t n = read(w->fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
        return true;
    if (n < 0 && errno == EAGAIN) {
        /* after the exit, a pipe is read until it is empty (a background process of the box
         * that keeps it cannot hold the session); a pty until it has been quiet a while */
        if (x->exited && !x->tty)
            watch_close(w);
        return false;
    }
    if (n <= 0) { /* EOF, or EIO: every slave of the pty is closed */
        watch_close(w);
        return false;
    }
    ring_append(&x->out[s], buf, (size_t) n);
    if (x->exited)
        x->quiet_until = MIN(now + TTY_QUIET_NS, x->drain_end);
    att_flush(x);
    return true;
}

static void on_conn(struct boxlite_execution *x, int64_t now)
{
    while (x->w[W_CONN].fd >= 0) {
        struct bl_msg m = BL_MSG_NULL;
        int r = bl_wire_recv(x->w[W_CONN].fd, &m, MSG_DONTWAIT);
        if (r == -EAGAIN || r == -EINTR)
            return;
        bool exit = r == 0 && m.n >= 2 && !strcmp(m.field[0], "exit");
        if (r < 0 || exit) {
            /* the exit, or the shim went away (the box stopped under it: it was killed) */
            x->status = exit ? bl_shim_parse_status(m.field[1]) : 137;
            x->exited = true;
            x->drain_end = now + DRAIN_MAX_NS;
            x->quiet_until = now + TTY_QUIET_NS;
            watch_close(&x->w[W_CONN]);
        }
        bl_msg_done(&m);
    }
}

/* What follows from the state of x: the end of its output, its end, its attacher, its fds. */
static void session_progress(struct boxlite_execution *x, int64_t now)
{
    if (!x->exited && x->deadline && now >= x->deadline)
        kill_ask(x, true);
    kill_send(x); /* a SIGKILL the full connection refused (it has room when EPOLLOUT woke us) */
    if (x->exited) {
        /* a process of the box that keeps writing to the stream (a background one, or one that
         * inherited it) cannot hold the session: its output ends DRAIN_MAX_NS after the exit,
         * and one pass reads a bounded amount (the epoll set brings the rest) */
        for (int s = 0; s < 2; s++)
            for (int k = 0; k < DRAIN_READS && on_output(x, s, now); k++)
                ;
        if (now >= x->drain_end || (x->tty && now >= x->quiet_until)) {
            watch_close(&x->w[W_OUT]);
            watch_close(&x->w[W_ERR]);
        }
    }
    if (x->exited && !x->done && x->w[W_OUT].fd < 0 && x->w[W_ERR].fd < 0) {
        x->done = true;
        x->ended_ns = now_ns(CLOCK_REALTIME);
        stdin_end(x);
        x->evict_at = x->retain_ns < 0 ? now : now + x->retain_ns;
        if (x->retain_ns < 0)
            registry_remove(x);
        (void) pthread_cond_broadcast(&hub.cond);
    }
    att_flush(x);
    session_update(x);
}

static bool session_has_fds(const struct boxlite_execution *x)
{
    for (int i = 0; i < W_N; i++)
        if (x->w[i].fd >= 0)
            return true;
    return false;
}

/* The next time the hub must wake up by itself, in ms for epoll_wait (-1: none). */
static int hub_timeout(int64_t now)
{
    int64_t next = -1;
    for (struct boxlite_execution *x = hub.active; x; x = x->anext) {
        int64_t t = -1;
        if (!x->exited && x->deadline && !x->timed_out && !x->kill_requested && !x->kill_pending)
            t = x->deadline;
        else if (x->exited && (x->w[W_OUT].fd >= 0 || x->w[W_ERR].fd >= 0))
            t = x->tty ? x->quiet_until : x->drain_end;
        if (t >= 0 && (next < 0 || t < next))
            next = t;
    }
    if (next < 0)
        return -1;
    return next <= now ? 0 : (int) MIN((next - now + NS_PER_MS - 1) / NS_PER_MS, INT64_C(60000));
}

static void *hub_main(void *arg)
{
    (void) arg;
    sigset_t all;
    sigfillset(&all);
    (void) pthread_sigmask(SIG_BLOCK, &all, NULL); /* SIGPIPE included: writes say EPIPE */
    hub_lock();
    for (;;) {
        int64_t now = now_ns(CLOCK_MONOTONIC);
        /* sessions without fds leave the active list (and the hub drops its reference) */
        for (struct boxlite_execution **p = &hub.active; *p;) {
            struct boxlite_execution *x = *p;
            if (session_has_fds(x)) {
                p = &x->anext;
                continue;
            }
            *p = x->anext;
            x->anext = NULL;
            x->active = false;
            session_unref(x);
        }
        registry_expire(now);
        if (!hub.active)
            break;
        int timeout = hub_timeout(now);
        int epfd = hub.epfd;
        hub_unlock();
        struct epoll_event ev[64];
        int n = epoll_wait(epfd, ev, (int) ELEMENTSOF(ev), timeout);
        hub_lock();
        now = now_ns(CLOCK_MONOTONIC);
        for (int i = 0; i < n; i++) {
            if (!ev[i].data.ptr) { /* the wake-up eventfd */
                uint64_t v;
                (void) !read(hub.wakefd, &v, sizeof(v));
                continue;
            }
            struct watch *w = ev[i].data.ptr;
            struct boxlite_execution *x = w->x;
            if (w->fd < 0)
                continue; /* closed since */
            int kind = (int) (w - x->w);
            if (kind == W_CONN)
                on_conn(x, now);
            else if (kind == W_OUT || kind == W_ERR)
                (void) on_output(x, kind - W_OUT, now);
            else if (kind == W_IN)
                on_stdin(x);
            else if (kind == W_ATT) {
                on_att_in(x);
                att_flush(x);
            }
        }
        for (struct boxlite_execution *x = hub.active; x; x = x->anext)
            session_progress(x, now);
    }
    hub.epfd = bl_close(hub.epfd);
    hub.wakefd = bl_close(hub.wakefd);
    hub.thread = false;
    hub_unlock();
    return NULL;
}

/* Make x active (its fds watched by the hub), starting the hub thread if none runs. Called under
 * the lock. */
static int hub_activate(struct boxlite_execution *x, bl_error **err)
{
    if (!hub.thread) {
        _cleanup_close_ int epfd = epoll_create1(EPOLL_CLOEXEC);
        if (epfd < 0)
            return bl_err_errno(err, "epoll_create1");
        _cleanup_close_ int wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (wakefd < 0)
            return bl_err_errno(err, "eventfd");
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, wakefd, &e) < 0)
            return bl_err_errno(err, "epoll_ctl");
        pthread_attr_t attr;
        (void) pthread_attr_init(&attr);
        (void) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        sigset_t all, old;
        sigfillset(&all);
        (void) pthread_sigmask(SIG_BLOCK, &all, &old); /* the thread starts with all blocked */
        pthread_t t;
        int r = pthread_create(&t, &attr, hub_main, NULL);
        (void) pthread_sigmask(SIG_SETMASK, &old, NULL);
        (void) pthread_attr_destroy(&attr);
        if (r != 0)
            return bl_err(err, -r, "cannot start the session thread: %s", strerror(r));
        hub.epfd = TAKE_FD(epfd);
        hub.wakefd = TAKE_FD(wakefd);
        hub.thread = true;
    }
    if (!x->active) {
        x->active = true;
        x->refs++;
        x->anext = hub.active;
        hub.active = x;
    }
    session_update(x);
    hub_wake();
    return 0;
}

/* ---- the public API ------------------------------------------------------------------------ */

BOXLITE_API void boxlite_execution_opts_init(boxlite_execution_opts *opts)
{
    *opts = (boxlite_execution_opts){.version = BOXLITE_EXECUTION_OPTS_VERSION};
}

BOXLITE_API const char *boxlite_execution_state_name(boxlite_execution_state state)
{
    switch (state) {
    case BOXLITE_EXECUTION_RUNNING:
        return "running";
    case BOXLITE_EXECUTION_COMPLETED:
        return "completed";
    case BOXLITE_EXECUTION_KILLED:
        return "killed";
    case BOXLITE_EXECUTION_TIMED_OUT:
        return "timed_out";
    }
    return "unknown";
}

static int make_id(char id[23])
{
    static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    size_t k = 0;
    while (k < 22) {
        unsigned char b[32];
        if (getrandom(b, sizeof(b), 0) != (ssize_t) sizeof(b))
            return negative_errno();
        for (size_t i = 0; i < sizeof(b) && k < 22; i++)
            if (b[i] < 248) /* 4 * 62: no bias */
                id[k++] = digits[b[i] % 62];
    }
    id[22] = 0;
    return 0;
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? negative_errno() : 0;
}

/* A pipe whose two ends go to *ret_r and *ret_w (both still -1); -1 with errno on failure. */
static int make_pipe(int *ret_r, int *ret_w)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    *ret_r = p[0];
    *ret_w = p[1];
    return 0;
}

/* x leaves the starting list (called under the lock). */
static void starting_remove(struct boxlite_execution *x)
{
    if (!x->starting)
        return;
    for (struct boxlite_execution **p = &hub.starting; *p; p = &(*p)->snext)
        if (*p == x) {
            *p = x->snext;
            break;
        }
    x->snext = NULL;
    x->starting = false;
}

static void session_freep(struct boxlite_execution **x)
{
    if (!*x)
        return;
    if ((*x)->starting) {
        hub_lock();
        starting_remove(*x);
        hub_unlock();
    }
    session_free(*x);
}

static int check_opts(const boxlite_execution_opts *o, bl_error **err)
{
    if (!o || !o->argv || !o->argv[0])
        return bl_err(err, -EINVAL, "a command is required");
    if (!isfinite(o->timeout_seconds) || o->timeout_seconds < 0)
        return bl_err(err, -EINVAL, "timeout_seconds must be a finite number >= 0");
    if (!isfinite(o->retain_seconds) && !isinf(o->retain_seconds))
        return bl_err(err, -EINVAL, "retain_seconds must be a number");
    if (o->rows > 65535 || o->cols > 65535)
        return bl_err(err, -EINVAL, "the window size is at most 65535 x 65535");
    if (o->stdin_len && !o->stdin_data)
        return bl_err(err, -EINVAL, "stdin_len without stdin_data");
    return 0;
}

BOXLITE_API int boxlite_execution_start(boxlite_runtime *rt, boxlite_box *b,
                                        const boxlite_execution_opts *o, boxlite_execution **ret,
                                        int *ret_status, boxlite_error **err)
{
    if (ret_status)
        *ret_status = 125;
    if (!rt || !b || !ret)
        return bl_err(err, -EINVAL, "a runtime, a box and a result are required");
    int r = check_opts(o, err);
    if (r < 0)
        return r;
    char rows[8] = "0", cols[8] = "0";
    if (o->tty && o->rows && o->cols) {
        snprintf(rows, sizeof(rows), "%u", o->rows & 0xffff);
        snprintf(cols, sizeof(cols), "%u", o->cols & 0xffff);
    }
    _cleanup_(bl_exec_request_done) struct bl_exec_request q = BL_EXEC_REQUEST_NULL;
    r = bl_exec_request_init(&q, b, o->argv, o->env, o->workdir, o->user, /* detach= */ 0, o->tty,
                             rows, cols, err);
    if (r < 0)
        return r;
    _cleanup_(session_freep) struct boxlite_execution *x = bl_calloc(1, sizeof(*x));
    if (!x)
        return bl_oom(err);
    for (int i = 0; i < W_N; i++)
        x->w[i] = (struct watch){.x = x, .fd = -1};
    x->tty = o->tty != 0;
    x->box_id = bl_strdup(b->id);
    if (!x->box_id)
        return bl_oom(err);
    if (o->stdin_len && stdin_queue(x, o->stdin_data, o->stdin_len) < 0)
        return bl_oom(err);
    r = make_id(x->id);
    if (r < 0)
        return bl_err_code(err, r, "cannot make an execution id");
    /* the process's stdio: pipes whose other ends go to the box (a tty: the shim's pty) */
    _cleanup_close_ int in_r = -1, out_w = -1, err_w = -1;
    if (!x->tty) {
        if (make_pipe(&in_r, &x->w[W_IN].fd) < 0 || make_pipe(&x->w[W_OUT].fd, &out_w) < 0 ||
            make_pipe(&x->w[W_ERR].fd, &err_w) < 0)
            return bl_err_errno(err, "pipe");
        for (int i = W_OUT; i <= W_IN; i++)
            if (set_nonblock(x->w[i].fd) < 0)
                return bl_err_errno(err, "fcntl");
    }
    r = bl_box_start_on_demand(rt, b, "exec", err);
    if (r < 0)
        return r;
    /* connected under the lock, and on the starting list until registered: a fork() of another
     * thread in between closes the child's copy of the connection (hub_child_fork), so the
     * process still dies with us */
    hub_lock();
    x->w[W_CONN].fd = bl_msg_connect(b->dir_fd, "shim.sock", err);
    if (x->w[W_CONN].fd >= 0) {
        x->starting = true;
        x->snext = hub.starting;
        hub.starting = x;
    }
    hub_unlock();
    if (x->w[W_CONN].fd < 0)
        return x->w[W_CONN].fd;
    int fds[3] = {in_r, out_w, err_w};
    r = bl_msg_send(x->w[W_CONN].fd, q.f, q.n, fds, x->tty ? 0 : 3);
    if (r < 0)
        return bl_err_code(err, r, "cannot send the exec request");
    in_r = bl_close(in_r); /* the shim has its copies: our ends see the process's EOFs */
    out_w = bl_close(out_w);
    err_w = bl_close(err_w);
    _cleanup_(bl_msg_freep) struct bl_msg *msg = bl_msg_new();
    if (!msg)
        return bl_oom(err);
    r = bl_msg_recv(x->w[W_CONN].fd, msg);
    if (r < 0)
        return bl_err(err, -EIO, "the box's shim went away during exec");
    if (msg->n >= 1 && !strcmp(msg->field[0], "error")) {
        if (ret_status)
            *ret_status = bl_shim_parse_status(msg->n > 1 ? msg->field[1] : NULL);
        const char *why = msg->n > 2 && *msg->field[2] ? msg->field[2] : "exec failed";
        return bl_err(err, -EIO, "%s", why);
    }
    if (msg->n < 2 || strcmp(msg->field[0], "pid") != 0)
        return bl_err(err, -EPROTO, "unexpected reply from the box's shim");
    x->pid = (int) strtol(msg->field[1], NULL, 10); /* NOLINT: protocol field */
    x->started_ns = now_ns(CLOCK_REALTIME);
    if (x->tty) {
        if (msg->n_fds < 1)
            return bl_err(err, -EPROTO, "the box's shim sent no terminal");
        x->w[W_OUT].fd = TAKE_FD(msg->fds[0]);
        struct termios t;
        x->veof = tcgetattr(x->w[W_OUT].fd, &t) == 0 && t.c_cc[VEOF] ? (char) t.c_cc[VEOF] : 4;
        x->w[W_IN].fd = fcntl(x->w[W_OUT].fd, F_DUPFD_CLOEXEC, 3);
        if (x->w[W_IN].fd < 0 || set_nonblock(x->w[W_OUT].fd) < 0)
            return bl_err_errno(err, "the pty");
    }
    if (set_nonblock(x->w[W_CONN].fd) < 0)
        return bl_err_errno(err, "fcntl");
    int64_t now = now_ns(CLOCK_MONOTONIC);
    if (o->timeout_seconds > 0)
        x->deadline = now + (int64_t) MIN(o->timeout_seconds * 1e9, 1e18);
    x->retain_ns = o->retain_seconds < 0    ? -1
                   : o->retain_seconds == 0 ? DEFAULT_RETAIN_NS
                                            : (int64_t) MIN(o->retain_seconds * 1e9, 1e18);
    hub_lock();
    if (o->close_stdin)
        stdin_close(x); /* under the lock: it may wake waiters */
    registry_expire(now);
    r = hub_activate(x, err);
    if (r >= 0) {
        starting_remove(x);
        x->refs += 2; /* the caller's handle, the registry */
        x->registered = true;
        x->next = hub.registry;
        hub.registry = x;
        *ret = TAKE_PTR(x);
    }
    hub_unlock();
    if (r < 0)
        return r;
    if (ret_status)
        *ret_status = 0;
    return 0;
}

BOXLITE_API int boxlite_execution_lookup(boxlite_runtime *rt, const char *id,
                                         boxlite_execution **ret, boxlite_error **err)
{
    (void) rt;
    if (!id || !ret)
        return bl_err(err, -EINVAL, "an execution id is required");
    hub_lock();
    registry_expire(now_ns(CLOCK_MONOTONIC));
    struct boxlite_execution *x = hub.registry;
    while (x && strcmp(x->id, id) != 0)
        x = x->next;
    if (x) {
        x->refs++;
        *ret = x;
    }
    hub_unlock();
    return x ? 0 : bl_err(err, -ENOENT, "execution not found: %s", id);
}

BOXLITE_API const char *boxlite_execution_id(const boxlite_execution *x)
{
    return x ? x->id : "";
}

BOXLITE_API const char *boxlite_execution_box_id(const boxlite_execution *x)
{
    return x ? x->box_id : "";
}

BOXLITE_API int boxlite_execution_write(boxlite_execution *x, const void *buf, size_t len,
                                        boxlite_error **err)
{
    if (!x || (!buf && len))
        return bl_err(err, -EINVAL, "no execution or no data");
    const char *p = buf;
    int r = 0;
    hub_lock();
    while (len > 0) {
        if (!stdin_open(x)) {
            r = bl_err(err, -EPIPE, "the stdin of execution %s has ended", x->id);
            break;
        }
        size_t queued = x->in_len - x->in_off;
        if (queued >= STDIN_MAX) {
            (void) hub_wait(-1);
            continue;
        }
        size_t n = MIN(len, (size_t) STDIN_MAX - queued);
        if (stdin_queue(x, p, n) < 0) {
            r = bl_oom(err);
            break;
        }
        p += n;
        len -= n;
        session_update(x);
    }
    hub_unlock();
    return r;
}

BOXLITE_API int boxlite_execution_close_stdin(boxlite_execution *x, boxlite_error **err)
{
    if (!x)
        return bl_err(err, -EINVAL, "no execution");
    hub_lock();
    stdin_close(x);
    session_update(x);
    hub_unlock();
    return 0;
}

BOXLITE_API int boxlite_execution_signal(boxlite_execution *x, int sig, boxlite_error **err)
{
    if (!x || sig < 1 || sig > 64)
        return bl_err(err, -EINVAL, "signal %d is not a signal number (1-64)", sig);
    hub_lock();
    int r = send_signal(x, sig);
    hub_unlock();
    if (r == -ESRCH)
        return bl_err(err, r, "execution %s has ended", x->id);
    return r < 0 ? bl_err_code(err, r, "cannot send signal %d", sig) : 0;
}

BOXLITE_API int boxlite_execution_resize(boxlite_execution *x, unsigned rows, unsigned cols,
                                         boxlite_error **err)
{
    if (!x || !x->tty)
        return bl_err(err, -EINVAL, "execution %s has no tty", x ? x->id : "");
    if (rows < 1 || cols < 1 || rows > 65535 || cols > 65535)
        return bl_err(err, -EINVAL, "rows and cols must be 1-65535");
    char rs[8], cs[8];
    snprintf(rs, sizeof(rs), "%u", rows & 0xffff);
    snprintf(cs, sizeof(cs), "%u", cols & 0xffff);
    const char *f[] = {"resize", rs, cs};
    int r;
    hub_lock();
    if (!x->exited && x->w[W_OUT].fd >= 0) {
        /* the pty master is ours: set the size here, so that it holds when this returns (the
         * kernel sends SIGWINCH to the pty's foreground group), before any later stdin */
        struct winsize ws = {.ws_row = (unsigned short) rows, .ws_col = (unsigned short) cols};
        r = ioctl(x->w[W_OUT].fd, TIOCSWINSZ, &ws) < 0 ? -errno : 0;
    } else {
        r = conn_send(x, f, 3);
    }
    hub_unlock();
    if (r == -ESRCH)
        return bl_err(err, r, "execution %s has ended", x->id);
    return r < 0 ? bl_err_code(err, r, "cannot resize") : 0;
}

static int64_t deadline_of(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : now_ns(CLOCK_MONOTONIC) + (int64_t) timeout_ms * NS_PER_MS;
}

BOXLITE_API int boxlite_execution_kill(boxlite_execution *x, int timeout_ms, boxlite_error **err)
{
    if (!x)
        return bl_err(err, -EINVAL, "no execution");
    int64_t deadline = deadline_of(timeout_ms);
    hub_lock();
    kill_ask(x, false);
    if (x->kill_pending) { /* the hub sends it once the connection has room */
        session_update(x);
        hub_wake();
    }
    int r = 0;
    while (!x->done && r != -ETIMEDOUT)
        r = hub_wait(deadline);
    bool pending = x->kill_pending;
    int why = x->kill_err;
    if (x->done) {
        registry_remove(x);
        r = 0;
    }
    hub_unlock();
    if (r < 0 && pending)
        return bl_err(err, -ETIMEDOUT, "kill timed out: the SIGKILL could not be sent (%s)",
                      strerror(-why));
    return r < 0 ? bl_err(err, -ETIMEDOUT, "kill timed out; the process still runs") : 0;
}

BOXLITE_API int boxlite_execution_wait(boxlite_execution *x, int timeout_ms, int *ret_exit_code,
                                       boxlite_error **err)
{
    if (!x)
        return bl_err(err, -EINVAL, "no execution");
    int64_t deadline = deadline_of(timeout_ms);
    hub_lock();
    int r = 0;
    while (!x->done && r != -ETIMEDOUT)
        r = hub_wait(deadline);
    bool done = x->done;
    int status = x->status;
    hub_unlock();
    if (!done)
        return bl_err(err, -ETIMEDOUT, "execution %s is still running", x->id);
    if (ret_exit_code)
        *ret_exit_code = status;
    return 0;
}

BOXLITE_API void boxlite_execution_get_info(const boxlite_execution *cx,
                                            boxlite_execution_info *ret)
{
    const struct boxlite_execution *x = cx;
    *ret = (boxlite_execution_info){.version = BOXLITE_EXECUTION_INFO_VERSION, .exit_code = -1};
    if (!x)
        return;
    hub_lock();
    ret->state = !x->done                                ? BOXLITE_EXECUTION_RUNNING
                 : x->timed_out && x->status == 137      ? BOXLITE_EXECUTION_TIMED_OUT
                 : x->kill_requested && x->status == 137 ? BOXLITE_EXECUTION_KILLED
                                                         : BOXLITE_EXECUTION_COMPLETED;
    ret->exit_code = x->done ? x->status : -1;
    ret->pid = x->pid;
    ret->started_ns = x->started_ns;
    ret->ended_ns = x->ended_ns;
    ret->attached = x->w[W_ATT].fd >= 0;
    ret->tty = x->tty;
    hub_unlock();
}

BOXLITE_API int boxlite_execution_attach(boxlite_execution *x, int *ret_fd, boxlite_error **err)
{
    if (!x || !ret_fd)
        return bl_err(err, -EINVAL, "no execution");
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return bl_err_errno(err, "socketpair");
    _cleanup_close_ int ours = sv[0], theirs = sv[1];
    if (set_nonblock(ours) < 0)
        return bl_err_errno(err, "fcntl");
    hub_lock();
    int r = 0;
    if (x->w[W_ATT].fd >= 0) {
        r = bl_err(err, -EBUSY, "execution %s already has an attached client", x->id);
    } else {
        x->w[W_ATT].fd = TAKE_FD(ours);
        for (int s = 0; s < 2; s++) /* the backlog first */
            x->out[s].sent = x->out[s].total - ring_kept(&x->out[s]);
        x->exit_sent = false;
        r = hub_activate(x, err);
        if (r < 0)
            x->w[W_ATT].fd = bl_close(x->w[W_ATT].fd);
    }
    hub_unlock();
    if (r < 0)
        return r;
    *ret_fd = TAKE_FD(theirs);
    return 0;
}

BOXLITE_API void boxlite_execution_free(boxlite_execution *x)
{
    if (!x)
        return;
    hub_lock();
    session_unref(x);
    hub_unlock();
}

size_t bl_execution_test_stdin_alloc(struct boxlite_execution *x)
{
    hub_lock();
    size_t n = x->in_buf ? x->in_cap : 0;
    hub_unlock();
    return n;
}

void bl_execution_test_fail_kills(int n)
{
    hub_lock();
    fail_kills = n;
    hub_unlock();
}
