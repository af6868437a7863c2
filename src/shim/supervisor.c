/* SPDX-License-Identifier: MIT */
/*
 * The shim's event loop: one epoll over a signalfd (SIGCHLD, SIGTERM, SIGINT, SIGHUP), the
 * spawn channel, PID 1's error pipe, the control socket and its connections, exec error pipes
 * and the stop timer. Single-threaded; children are reaped with waitpid(-1) on SIGCHLD (the
 * kernel only lets PID 1 go after every process of its pid namespace, execs included, has been
 * reaped, so the loop must never block on one child).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alloc-util.h"
#include "fs-util.h"
#include "parse-util.h"
#include "proto.h"
#include "supervisor.h"

enum conn_state { CONN_REQUEST, CONN_EXEC, CONN_WAIT };

struct conn {
    struct ev ev; /* EV_CONN; first member */
    struct conn *next;
    int fd; /* -1 once closed; freed after the current batch of events */
    enum conn_state state;
    struct exec_proc *proc;
};

struct exec_proc {
    struct ev ev; /* EV_EXEC_ERR; first member */
    struct exec_proc *next;
    pid_t pid;
    int pidfd, errfd;
    int tty_master;    /* -1 unless the exec has a pty: our copy, for `resize` */
    struct conn *conn; /* NULL once the client is gone (or for a detached exec) */
    bool detach, err_done, failed, exited, pid_sent;
    int status;
    struct child_error err;
    size_t err_got;
};

static long long mono_now_us(void)
{
    struct timespec ts;
    (void) clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int exit_status(int wstatus)
{
    return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
}

static int ep_add(struct supervisor *s, int fd, struct ev *ev, uint32_t events)
{
    struct epoll_event e = {.events = events, .data.ptr = ev};
    return epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &e) < 0 ? -errno : 0;
}

static void ep_del(struct supervisor *s, int fd)
{
    if (fd >= 0)
        (void) epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL);
}

static void kill_box(struct supervisor *s, int sig)
{
    if (s->pid1.pidfd < 0 || s->pid1_exited)
        return;
    if (pidfd_send_signal(s->pid1.pidfd, sig, NULL, 0) < 0 && errno != ESRCH)
        shim_log("cannot send signal %d to PID 1: %s", sig, strerror(errno));
    if (sig == SIGKILL)
        s->kill_requested = true;
}

/* ---- connections and exec'd processes ---------------------------------------------------- */

static void conn_close(struct supervisor *s, struct conn *c)
{
    if (c->fd < 0)
        return;
    ep_del(s, c->fd);
    c->fd = bl_close(c->fd);
    struct exec_proc *p = c->proc;
    if (p) {
        p->conn = NULL;
        c->proc = NULL;
        /* The client went away before its process ended: the process goes too. */
        if (!p->exited && !p->failed && !p->detach &&
            pidfd_send_signal(p->pidfd, SIGKILL, NULL, 0) < 0)
            shim_log("cannot kill exec'd pid %d: %s", (int) p->pid, strerror(errno));
    }
}

static void proc_close_errpipe(struct supervisor *s, struct exec_proc *p)
{
    ep_del(s, p->errfd);
    p->errfd = bl_close(p->errfd);
    p->err_done = true;
}

/* Read what the exec child reported; EOF without a report means its execve() succeeded. */
static void proc_read_err(struct supervisor *s, struct exec_proc *p)
{
    while (!p->err_done) {
        ssize_t n = read(p->errfd, (char *) &p->err + p->err_got, sizeof(p->err) - p->err_got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n > 0)
            p->err_got += (size_t) n;
        if (n <= 0 || p->err_got == sizeof(p->err)) {
            p->failed = p->err_got == sizeof(p->err);
            proc_close_errpipe(s, p);
        }
    }
}

/* Advance the reply sequence of an exec: `pid` (or `error`), then `exit`. */
static void proc_progress(struct supervisor *s, struct exec_proc *p)
{
    if (!p->err_done)
        return;
    struct conn *c = p->conn;
    if (p->failed) {
        if (c) {
            s->n_exec_errors++;
            p->err.msg[sizeof(p->err.msg) - 1] = 0;
            (void) proto_send_error(c->fd, p->err.status, p->err.msg);
            conn_close(s, c);
        }
        return;
    }
    if (c && !p->pid_sent) {
        char num[16];
        (void) snprintf(num, sizeof(num), "%d", (int) p->pid);
        (void) proto_send_fd(c->fd, p->tty_master, 2, "pid", num);
        s->n_execs++;
        p->pid_sent = true;
        if (p->detach)
            conn_close(s, c);
        c = p->conn;
    }
    if (c && p->exited) {
        (void) proto_send_int(c->fd, "exit", p->status);
        conn_close(s, c);
    }
}

static void proc_free(struct exec_proc *p)
{
    p->tty_master = bl_close(p->tty_master);
    p->errfd = bl_close(p->errfd);
    p->pidfd = bl_close(p->pidfd);
    free(p);
}

/* Free closed connections and finished processes (after a batch, so no event points at
 * freed memory). */
static void sweep(struct supervisor *s)
{
    for (struct conn **cp = &s->conns; *cp;) {
        struct conn *c = *cp;
        if (c->fd >= 0) {
            cp = &c->next;
            continue;
        }
        *cp = c->next;
        free(c);
    }
    for (struct exec_proc **pp = &s->procs; *pp;) {
        struct exec_proc *p = *pp;
        if (!(p->exited && p->err_done && !p->conn)) {
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        proc_free(p);
    }
}

/* A new pty in the box's devpts, found from PID 1's root (RESOLVE_IN_ROOT: whatever the box
 * did to its /dev, the lookup stays in the box). */
static int box_pty(struct supervisor *s, unsigned short rows, unsigned short cols, int *ret_slave)
{
    if (s->box_root_fd >= 0)
        return pty_open_in_root(s->box_root_fd, rows, cols, ret_slave);
    char path[64];
    (void) snprintf(path, sizeof(path), "/proc/%d/root", (int) s->pid1.pid);
    _cleanup_close_ int root = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        return -errno;
    return pty_open_in_root(root, rows, cols, ret_slave);
}

/* (Re)start the exec zygote while the box runs; a failure is logged here, once (execs then
 * fail with "cannot create process"). */
static int start_zygote(struct supervisor *s)
{
    if (s->pid1_exited || s->kill_requested)
        return -ESRCH;
    _cleanup_(bl_error_freep) bl_error *err = NULL;
    int r = zygote_start(&s->zyg, &err);
    if (r < 0 && err)
        shim_log("%s", bl_error_msg(err));
    return r;
}

/* Environment of an exec: the box's, with the request's entries added or replacing. */
static char **merge_env(char **base, char **extra, size_t n_extra)
{
    size_t n_base = 0;
    while (base[n_base])
        n_base++;
    char **env = bl_calloc(n_base + n_extra + 1, sizeof(char *));
    if (!env)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < n_base; i++) {
        size_t k = strcspn(base[i], "=");
        bool overridden = false;
        for (size_t j = 0; j < n_extra && !overridden; j++)
            overridden = !strncmp(extra[j], base[i], k) && extra[j][k] == '=';
        if (!overridden)
            env[n++] = base[i];
    }
    for (size_t j = 0; j < n_extra; j++)
        env[n++] = extra[j];
    return env;
}

/* exec\0argc\0arg...\0envc\0env...\0cwd\0user\0detach[\0tty\0rows\0cols], three fds
 * attached (none with tty 1: the process gets a pty, whose master goes back with `pid`). */
static int start_exec(struct supervisor *s, struct conn *c, struct bl_msg *m, bl_error **err)
{
    int argc, envc;
    if (m->n < 2 || parse_int(m->field[1], 1, 1 << 20, &argc) < 0 || m->n < 3 + (size_t) argc ||
        parse_int(m->field[2 + argc], 0, 1 << 20, &envc) < 0 || m->n < 5 + (size_t) (argc + envc)) {
        return bl_err(err, -EINVAL, "malformed exec request");
    }
    size_t base = 6 + (size_t) (argc + envc); /* index of the field after `detach` */
    bool tty = m->n > base && !strcmp(m->field[base], "1");
    int rows = 0, cols = 0;
    if (tty && (m->n < base + 3 || parse_int(m->field[base + 1], 0, 0xffff, &rows) < 0 ||
                parse_int(m->field[base + 2], 0, 0xffff, &cols) < 0)) {
        return bl_err(err, -EINVAL, "malformed exec request");
    }
    if (!tty && m->n_fds < 3) {
        return bl_err(err, -EINVAL, "exec request without stdin, stdout and stderr fds");
    }
    if (!s->started || s->pid1_exited || s->kill_requested ||
        (!s->pid1.pidns_joined && !s->userns)) {
        return bl_err(err, -ESRCH, "box is not running");
    }
    char **argv = m->field + 2;
    char **extra_env = m->field + 3 + argc;
    const char *cwd = m->field[3 + argc + envc];
    const char *user = m->field[4 + argc + envc];
    bool detach = m->n > 5 + (size_t) (argc + envc) && !strcmp(m->field[5 + argc + envc], "1");
    /* argv must be NULL-terminated for execve: cut the list there (fields are copied). */
    _cleanup_free_ char **args = bl_calloc((size_t) argc + 1, sizeof(char *));
    _cleanup_free_ char **env = merge_env(s->conf.env, extra_env, (size_t) envc);
    _cleanup_free_ struct exec_proc *p = bl_calloc(1, sizeof(*p));
    if (!args || !env || !p) {
        return bl_oom(err);
    }
    memcpy(args, argv, (size_t) argc * sizeof(char *));
    struct proc_spec spec = {
        .argv = args,
        .envp = env,
        .cwd = *cwd ? cwd : s->conf.cwd,
        .user = *user ? user : s->conf.user,
        .caps = s->conf.caps,
        .seccomp = s->seccomp.len ? &s->seccomp : NULL,
        .tty = tty,
    };
    _cleanup_close_ int master = -1, slave = -1;
    int stdio[3] = {m->fds[0], m->fds[1], m->fds[2]};
    if (tty) {
        master = box_pty(s, (unsigned short) rows, (unsigned short) cols, &slave);
        if (master < 0) {
            return bl_err_code(err, master, "cannot open a pty in the box");
        }
        stdio[0] = stdio[1] = stdio[2] = slave;
    }
    int pfds[2];
    if (pipe2(pfds, O_CLOEXEC) < 0)
        return bl_err_errno(err, "pipe");
    _cleanup_close_ int err_r = pfds[0], err_w = pfds[1];
    int pidfd = -1;
    /* The zygote forks it already in the box's cgroups and namespaces: the only way in (see
     * zygote.c). One that is gone (OOM-killed by the box) is started again, once. */
    pid_t pid = -1;
    int zr = zygote_spawn(&s->zyg, &spec, stdio, err_w, &pid, &pidfd);
    if (zr == -ENOENT) {
        zygote_reap(&s->zyg);
        zr = start_zygote(s);
        if (zr == 0)
            zr = zygote_spawn(&s->zyg, &spec, stdio, err_w, &pid, &pidfd);
        if (zr == -ENOENT)
            zr = -EAGAIN; /* it died on the way in: the box is out of memory or pids */
    }
    if (zr < 0)
        return bl_err(err, zr, "cannot create process: %s",
                      zr == -E2BIG ? "argument list too long" : strerror(-zr));
    err_w = bl_close(err_w);
    slave = bl_close(slave); /* the process holds it now: the master sees EIO once it is gone */
    *p = (struct exec_proc){
        .ev = {EV_EXEC_ERR},
        .pid = pid,
        .pidfd = pidfd,
        .errfd = TAKE_FD(err_r),
        .tty_master = TAKE_FD(master),
        .conn = c,
        .detach = detach,
    };
    (void) fcntl(p->errfd, F_SETFL, O_NONBLOCK);
    int r = ep_add(s, p->errfd, &p->ev, EPOLLIN);
    if (r < 0) /* cannot watch it: wait for it synchronously instead (rare) */
        shim_log("epoll: %s", strerror(-r));
    c->state = CONN_EXEC;
    c->proc = p;
    p->next = s->procs;
    s->procs = TAKE_PTR(p);
    shim_log("exec pid %d: %s", (int) pid, args[0]);
    if (r < 0) {
        struct exec_proc *q = s->procs;
        (void) fcntl(q->errfd, F_SETFL, 0);
        proc_read_err(s, q);
        proc_progress(s, q);
    }
    return 0;
}

static void begin_stop(struct supervisor *s, int grace_ms)
{
    if (s->pid1_exited)
        return;
    if (grace_ms <= 0 || s->timerfd < 0) {
        kill_box(s, SIGKILL);
        return;
    }
    if (s->stopping)
        return; /* the first stop's timer stands */
    s->stopping = true;
    kill_box(s, SIGTERM);
    struct itimerspec its = {
        .it_value = {.tv_sec = grace_ms / 1000, .tv_nsec = (long) (grace_ms % 1000) * 1000000}};
    if (timerfd_settime(s->timerfd, 0, &its, NULL) < 0)
        kill_box(s, SIGKILL);
}

static int set_winsize(int master, const char *rows, const char *cols)
{
    int r, c;
    if (master < 0)
        return -ENOTTY;
    if (parse_int(rows, 1, 0xffff, &r) < 0 || parse_int(cols, 1, 0xffff, &c) < 0)
        return -EINVAL;
    struct winsize ws = {.ws_row = (unsigned short) r, .ws_col = (unsigned short) c};
    return ioctl(master, TIOCSWINSZ, &ws) < 0 ? -errno : 0;
}

/* Bytes received and sent by the box's interfaces other than lo, and its TCP figures, from
 * PID 1's view of /proc/net (its network namespace). */
static void net_stats(struct supervisor *s, uint64_t *rx, uint64_t *tx, uint64_t *tcp_conns,
                      uint64_t *tcp_errs)
{
    char path[64];
    _cleanup_free_ char *buf = NULL;
    (void) snprintf(path, sizeof(path), "/proc/%d/net/dev", (int) s->pid1.pid);
    if (bl_read_file_at(AT_FDCWD, path, 1024 * 1024, &buf, NULL, NULL) == 0) {
        *rx = *tx = 0;
        for (char *line = buf; line && *line;
             line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
            char *colon = strchr(line, ':');
            char *nl = strchr(line, '\n');
            if (!colon || (nl && colon > nl))
                continue;
            char *name = line + strspn(line, " ");
            if (!strncmp(name, "lo:", 3))
                continue;
            unsigned long long v[9];
            if (sscanf(colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
                       &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8]) == 9) {
                *rx += v[0];
                *tx += v[8];
            }
        }
    }
    static const char *const tcp[] = {"tcp", "tcp6"};
    for (size_t i = 0; i < ELEMENTSOF(tcp); i++) {
        _cleanup_free_ char *t = NULL;
        (void) snprintf(path, sizeof(path), "/proc/%d/net/%s", (int) s->pid1.pid, tcp[i]);
        if (bl_read_file_at(AT_FDCWD, path, 16 * 1024 * 1024, &t, NULL, NULL) < 0)
            continue;
        if (*tcp_conns == UINT64_MAX)
            *tcp_conns = 0;
        /* "  N: local remote st ...": state 01 is ESTABLISHED */
        for (char *line = strchr(t, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
            char st[8];
            if (sscanf(line + 1, "%*s %*s %*s %7s", st) == 1 && !strcmp(st, "01"))
                (*tcp_conns)++;
        }
    }
    _cleanup_free_ char *snmp = NULL;
    (void) snprintf(path, sizeof(path), "/proc/%d/net/snmp", (int) s->pid1.pid);
    if (bl_read_file_at(AT_FDCWD, path, 1024 * 1024, &snmp, NULL, NULL) == 0) {
        /* "Tcp: RtoAlgorithm ... AttemptFails EstabResets ... InErrs" then the values */
        char *hdr = strstr(snmp, "\nTcp: ");
        char *val = hdr ? strstr(hdr + 1, "\nTcp: ") : NULL;
        if (hdr && val) {
            char *h = hdr + 6, *v = val + 6;
            uint64_t errs = 0;
            while (*h && *h != '\n' && *v && *v != '\n') {
                size_t hl = strcspn(h, " \n"), vl = strcspn(v, " \n");
                if ((hl == 12 && !strncmp(h, "AttemptFails", hl)) ||
                    (hl == 11 && !strncmp(h, "EstabResets", hl)) ||
                    (hl == 6 && !strncmp(h, "InErrs", hl)))
                    errs += bl_scan_u64_or0(v);
                h += hl + (h[hl] == ' ');
                v += vl + (v[vl] == ' ');
            }
            *tcp_errs = errs;
        }
    }
}

static void send_stats(struct supervisor *s, struct conn *c)
{
    struct cg_stats st;
    cg_read_stats(&s->cg, &st);
    /* The zygote is the shim's, not the box's: leave it out of the box's task count. */
    if (zygote_ready(&s->zyg) && st.pids != UINT64_MAX && st.pids > 0)
        st.pids--;
    uint64_t rx = UINT64_MAX, tx = UINT64_MAX, conns = UINT64_MAX, errs = UINT64_MAX;
    net_stats(s, &rx, &tx, &conns, &errs);
    /* published ports' traffic is loopback inside the box: count it here */
    uint64_t rin, rout;
    net_relayed(&s->net, &rin, &rout);
    if (rx != UINT64_MAX)
        rx += rin;
    if (tx != UINT64_MAX)
        tx += rout;
    struct timespec ts;
    (void) clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
    uint64_t boot =
        s->t_started_us > s->t_start_us ? (uint64_t) (s->t_started_us - s->t_start_us) : UINT64_MAX;
    const struct {
        const char *k;
        uint64_t v;
    } kv[] = {{"time_ns", now},
              {"cpu_ns", st.cpu_ns},
              {"memory", st.mem_bytes},
              {"memory_limit", st.mem_limit},
              {"pids", st.pids},
              {"pids_limit", st.pids_limit},
              {"blk_read", st.blk_read},
              {"blk_write", st.blk_write},
              {"net_rx", rx},
              {"net_tx", tx},
              {"tcp_conns", conns},
              {"tcp_errors", errs},
              {"execs", s->n_execs},
              {"exec_errors", s->n_exec_errors},
              {"boot_us", boot}};
    char f[ELEMENTSOF(kv)][48];
    for (size_t i = 0; i < ELEMENTSOF(kv); i++) {
        if (kv[i].v == UINT64_MAX)
            (void) snprintf(f[i], sizeof(f[i]), "%s=", kv[i].k);
        else
            (void) snprintf(f[i], sizeof(f[i]), "%s=%llu", kv[i].k, (unsigned long long) kv[i].v);
    }
    (void) proto_send(c->fd, 17, "stats", f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8],
                      f[9], f[10], f[11], f[12], f[13], f[14],
                      net_address(&s->net) ? "ip=" NET_BOX_ADDR : "ip=");
}

static void send_root(struct supervisor *s, struct conn *c)
{
    char path[64];
    (void) snprintf(path, sizeof(path), "/proc/%d/root", (int) s->pid1.pid);
    /* (an init without root handed its root over: its /proc entries are closed to us) */
    _cleanup_close_ int root = s->pid1_exited || s->kill_requested ? -1
                               : s->box_root_fd >= 0
                                   ? openat(s->box_root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                                   : open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) {
        (void) proto_send_error(c->fd, ST_BOXLITE_FAILED,
                                s->pid1_exited || s->kill_requested ? "box is not running"
                                                                    : strerror(errno));
        return;
    }
    /* without root, also the box's user namespace: a copy acts as the box's root in it */
    _cleanup_close_ int userns = -1;
    if (s->userns && s->box_ns_fd[0] >= 0) {
        userns = fcntl(s->box_ns_fd[0], F_DUPFD_CLOEXEC, 3);
    } else if (s->userns) {
        (void) snprintf(path, sizeof(path), "/proc/%d/ns/user", (int) s->pid1.pid);
        userns = open(path, O_RDONLY | O_CLOEXEC);
    }
    int fds[2] = {root, userns};
    (void) proto_send_fds(c->fd, fds, userns >= 0 ? 2 : 1, 1, "root");
}

static void handle_request(struct supervisor *s, struct conn *c, struct bl_msg *m)
{
    const char *verb = m->field[0];
    int n;
    if (!strcmp(verb, "ping")) {
        (void) proto_send_int(c->fd, "pong", (int) s->pid1.pid);
    } else if (!strcmp(verb, "signal")) {
        if (m->n < 2 || parse_int(m->field[1], 1, 64, &n) < 0)
            (void) proto_send_error(c->fd, ST_BOXLITE_FAILED, "bad signal number");
        else if (s->pid1_exited || pidfd_send_signal(s->pid1.pidfd, n, NULL, 0) < 0)
            (void) proto_send_error(c->fd, ST_BOXLITE_FAILED,
                                    s->pid1_exited ? "box is not running" : strerror(errno));
        else
            (void) proto_send(c->fd, 1, "ok");
    } else if (!strcmp(verb, "wait")) {
        c->state = CONN_WAIT;
        return;
    } else if (!strcmp(verb, "stop")) {
        if (m->n < 2 || parse_int(m->field[1], 0, 0x7fffffff, &n) < 0)
            n = 10000;
        shim_log("stop requested (grace %d ms)", n);
        c->state = CONN_WAIT;
        begin_stop(s, n);
        return;
    } else if (!strcmp(verb, "stats")) {
        send_stats(s, c);
    } else if (!strcmp(verb, "root")) {
        send_root(s, c);
    } else if (!strcmp(verb, "resize")) {
        int r = m->n < 3 ? -EINVAL : set_winsize(s->tty_master, m->field[1], m->field[2]);
        if (r < 0)
            (void) proto_send_error(c->fd, ST_BOXLITE_FAILED,
                                    r == -ENOTTY ? "the box has no terminal" : strerror(-r));
        else
            (void) proto_send(c->fd, 1, "ok");
    } else if (!strcmp(verb, "exec")) {
        _cleanup_(bl_error_freep) bl_error *err = NULL;
        if (start_exec(s, c, m, &err) >= 0)
            return;
        shim_log("exec refused: %s", bl_error_msg(err));
        (void) proto_send_error(c->fd, ST_BOXLITE_FAILED, bl_error_msg(err));
    } else {
        char msg[128];
        (void) snprintf(msg, sizeof(msg), "unknown request '%.64s'", verb);
        (void) proto_send_error(c->fd, ST_BOXLITE_FAILED, msg);
    }
    conn_close(s, c);
}

static void on_conn(struct supervisor *s, struct conn *c, uint32_t events)
{
    for (;;) {
        if (c->fd < 0)
            return;
        struct bl_msg m = BL_MSG_NULL;
        int r = proto_recv(c->fd, &m);
        if (r == -EAGAIN) {
            bl_msg_done(&m);
            if (events & (EPOLLHUP | EPOLLERR))
                conn_close(s, c);
            return;
        }
        if (r < 0) { /* EOF, error or a datagram too big */
            bl_msg_done(&m);
            conn_close(s, c);
            return;
        }
        int sig;
        if (c->state == CONN_REQUEST) {
            handle_request(s, c, &m);
        } else if (c->state == CONN_EXEC && c->proc && !c->proc->exited &&
                   !strcmp(m.field[0], "signal") && m.n >= 2 &&
                   parse_int(m.field[1], 1, 64, &sig) == 0) {
            /* `signal` on an exec connection goes to that process (the client forwards its
             * own signals); no reply, so that the stream stays `pid`, `exit`. */
            if (pidfd_send_signal(c->proc->pidfd, sig, NULL, 0) < 0)
                shim_log("cannot signal exec'd pid %d: %s", (int) c->proc->pid, strerror(errno));
        } else if (c->state == CONN_EXEC && c->proc && !strcmp(m.field[0], "hangup")) {
            /* the client's terminal hung up: so does the process's (no reply) */
            c->proc->tty_master = bl_close(c->proc->tty_master);
        } else if (c->state == CONN_EXEC && c->proc && !strcmp(m.field[0], "resize") && m.n >= 3) {
            /* likewise, no reply */
            int q = set_winsize(c->proc->tty_master, m.field[1], m.field[2]);
            if (q < 0)
                shim_log("cannot resize the pty of pid %d: %s", (int) c->proc->pid, strerror(-q));
        }
        /* Anything else a client sends after its request is ignored. */
        bl_msg_done(&m);
    }
}

static void on_listen(struct supervisor *s)
{
    for (;;) {
        int fd = accept4(s->listenfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                shim_log("accept: %s", strerror(errno));
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return;
        }
        struct conn *c = bl_calloc(1, sizeof(*c));
        if (!c) {
            (void) close(fd);
            continue;
        }
        *c = (struct conn){.ev = {EV_CONN}, .fd = fd, .state = CONN_REQUEST};
        if (ep_add(s, fd, &c->ev, EPOLLIN | EPOLLRDHUP) < 0) {
            (void) close(fd);
            free(c);
            continue;
        }
        c->next = s->conns;
        s->conns = c;
    }
}

/* ---- PID 1 ----------------------------------------------------------------------------- */

static int listen_socket(struct supervisor *s)
{
    (void) unlinkat(s->boxfd, "shim.sock", 0);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    /* Bound relative to our cwd (BOX_DIR): sun_path is only 108 bytes. */
    struct sockaddr_un a = {.sun_family = AF_UNIX, .sun_path = "shim.sock"};
    mode_t old = umask(0177);
    int r = bind(fd, (struct sockaddr *) &a, offsetof(struct sockaddr_un, sun_path) + 10);
    (void) umask(old);
    if (r < 0 || listen(fd, 64) < 0)
        return -errno;
    return TAKE_FD(fd);
}

static int write_pid_file(struct supervisor *s)
{
    unsigned long long start = 0;
    int r = self_starttime(&start);
    if (r < 0)
        return r;
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "%d\n%llu\n", (int) getpid(), start);
    return bl_write_file_atomic_at(s->boxfd, "shim.pid", buf, (size_t) n, 0644, NULL);
}

/* PID 1 exec'd (its error pipe reached EOF with nothing in it). */
static void on_started(struct supervisor *s)
{
    s->started = true;
    if (!s->pid1_exited) {
        _cleanup_(bl_error_freep) bl_error *err = NULL;
        int r = write_pid_file(s);
        if (r < 0)
            (void) bl_err_code(&err, r, "cannot write shim.pid");
        else {
            s->listenfd = listen_socket(s);
            r = s->listenfd < 0 ? s->listenfd : ep_add(s, s->listenfd, &s->listen_ev, EPOLLIN);
            if (r < 0)
                (void) bl_err_code(&err, r, "cannot listen on shim.sock");
        }
        if (r < 0) {
            supervisor_setup_error(s, ST_BOXLITE_FAILED, bl_error_msg(err));
            return;
        }
    }
    if (s->tty_sock >= 0) {
        /* PID 1 sent its pty master and (an init without root) its namespaces before it
         * exec'd or closed its error pipe: both are queued by now */
        (void) fcntl(s->tty_sock, F_SETFL, O_NONBLOCK);
        for (;;) {
            struct bl_msg m = BL_MSG_NULL;
            if (proto_recv(s->tty_sock, &m) < 0) {
                bl_msg_done(&m);
                break;
            }
            if (m.n >= 1 && !strcmp(m.field[0], "pty") && m.n_fds == 1 && s->tty_master < 0)
                s->tty_master = TAKE_FD(m.fds[0]);
            else if (m.n >= 1 && !strcmp(m.field[0], "ns") && m.n_fds == 1 + SHIM_BOX_NS &&
                     s->box_root_fd < 0) {
                s->box_root_fd = TAKE_FD(m.fds[0]);
                for (size_t i = 0; i < SHIM_BOX_NS; i++)
                    s->box_ns_fd[i] = TAKE_FD(m.fds[1 + i]);
            }
            bl_msg_done(&m);
        }
        s->tty_sock = bl_close(s->tty_sock);
        if (s->conf.tty && !s->conf.detach && s->tty_master < 0) {
            supervisor_setup_error(s, ST_BOXLITE_FAILED, "PID 1 did not pass its pty");
            return;
        }
        if (s->userns && (s->conf.argc == 0 || s->conf.init) && s->box_root_fd < 0) {
            supervisor_setup_error(s, ST_BOXLITE_FAILED, "PID 1 did not pass its namespaces");
            return;
        }
    }
    s->t_started_us = mono_now_us();
    if (s->spawn_open) {
        char num[16];
        (void) snprintf(num, sizeof(num), "%d", (int) s->pid1.pid);
        (void) proto_send_fd(s->spawnfd, s->tty_master, 2, "started", num);
    }
    /* Off the critical path: the zygote joins the box's cgroups while the client goes on. */
    (void) start_zygote(s);
    shim_log("box started, PID 1 is %d", (int) s->pid1.pid);
}

void supervisor_setup_error(struct supervisor *s, int status, const char *msg)
{
    if (s->setup_err_got == sizeof(s->setup_err))
        return;
    s->setup_err.status = status;
    (void) snprintf(s->setup_err.msg, sizeof(s->setup_err.msg), "%s", msg);
    s->setup_err_got = sizeof(s->setup_err);
    shim_log("box setup failed (%d): %s", status, msg);
    kill_box(s, SIGKILL);
}

static void pid1_read_err(struct supervisor *s, bool block)
{
    if (s->pid1_errfd < 0)
        return;
    if (block)
        (void) fcntl(s->pid1_errfd, F_SETFL, 0);
    bool known = s->setup_err_got == sizeof(s->setup_err); /* the shim found one first */
    while (s->setup_err_got < sizeof(s->setup_err)) {
        ssize_t n = read(s->pid1_errfd, (char *) &s->setup_err + s->setup_err_got,
                         sizeof(s->setup_err) - s->setup_err_got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n > 0)
            s->setup_err_got += (size_t) n;
        if (n > 0 && s->setup_err_got < sizeof(s->setup_err))
            continue;
        break;
    }
    ep_del(s, s->pid1_errfd);
    s->pid1_errfd = bl_close(s->pid1_errfd);
    if (s->setup_err_got == sizeof(s->setup_err)) {
        s->setup_err.msg[sizeof(s->setup_err.msg) - 1] = 0;
        if (!known) {
            shim_log("box setup failed (%d): %s", s->setup_err.status, s->setup_err.msg);
            kill_box(s, SIGKILL); /* PID 1 exits by itself; make sure */
        }
        return;
    }
    s->setup_err_got = 0;
    if (!s->kill_requested)
        on_started(s);
}

static void reap_all(struct supervisor *s)
{
    for (;;) {
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid <= 0)
            return;
        if (pid == s->pid1.pid) {
            s->pid1_exited = true;
            s->pid1_status = exit_status(st);
            shim_log("PID 1 exited with status %d", s->pid1_status);
            continue;
        }
        if (zygote_reaped(&s->zyg, pid) || net_reaped(&s->net, pid))
            continue;
        for (struct exec_proc *p = s->procs; p; p = p->next) {
            if (p->pid != pid)
                continue;
            p->exited = true;
            p->status = exit_status(st);
            proc_progress(s, p);
            break;
        }
    }
}

static void on_signal(struct supervisor *s)
{
    struct signalfd_siginfo si;
    while (read(s->sigfd, &si, sizeof(si)) == (ssize_t) sizeof(si)) {
        if (si.ssi_signo == SIGCHLD) {
            reap_all(s);
        } else {
            shim_log("got signal %u: killing the box", si.ssi_signo);
            kill_box(s, SIGKILL);
        }
    }
}

static void on_spawn(struct supervisor *s, uint32_t events)
{
    for (;;) {
        struct bl_msg m = BL_MSG_NULL;
        int r = proto_recv(s->spawnfd, &m);
        if (r == -EAGAIN && !(events & (EPOLLHUP | EPOLLERR))) {
            bl_msg_done(&m);
            return;
        }
        if (r < 0) {
            bl_msg_done(&m);
            ep_del(s, s->spawnfd);
            s->spawn_open = false;
            if (!s->conf.detach) {
                shim_log("spawn channel closed: killing the box");
                kill_box(s, SIGKILL);
            }
            return;
        }
        int sig;
        if (!strcmp(m.field[0], "signal") && m.n >= 2 && parse_int(m.field[1], 1, 64, &sig) == 0)
            kill_box(s, sig);
        else if (!strcmp(m.field[0], "resize") && m.n >= 3)
            (void) set_winsize(s->tty_master, m.field[1], m.field[2]);
        else if (!strcmp(m.field[0], "hangup")) /* the client's terminal hung up: so does PID 1's */
            s->tty_master = bl_close(s->tty_master);
        else
            shim_log("spawn channel: ignoring '%.32s'", m.field[0]);
        bl_msg_done(&m);
    }
}

static void on_timer(struct supervisor *s)
{
    uint64_t ticks;
    if (read(s->timerfd, &ticks, sizeof(ticks)) > 0) {
        shim_log("stop grace period over: killing the box");
        kill_box(s, SIGKILL);
    }
}

/* ---- logs of a detached box ---------------------------------------------------------------- */

static void on_log(struct supervisor *s, struct log_stream *l)
{
    if (l->fd >= 0 && console_pump(&s->console, l)) {
        ep_del(s, l->fd);
        l->fd = bl_close(l->fd);
    }
}

/* ---- teardown ---------------------------------------------------------------------------- */

static void teardown(struct supervisor *s, int status)
{
    /* Back to our own pid namespace for any later child (LSan's tracer, for one). */
    if (s->pid1.orig_pidns_fd >= 0 && s->pid1.pidns_joined &&
        setns(s->pid1.orig_pidns_fd, CLONE_NEWPID) == 0)
        s->pid1.pidns_joined = false;
    ep_del(s, s->listenfd);
    s->listenfd = bl_close(s->listenfd);
    (void) unlinkat(s->boxfd, "shim.sock", 0);
    net_done(&s->net);
    cg_destroy(&s->cg);
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "{\"exit_code\": %d}\n", status);
    int r = bl_write_file_atomic_at(s->boxfd, "exit.json", buf, (size_t) n, 0644, NULL);
    if (r < 0)
        shim_log("cannot write exit.json: %s", strerror(-r));
    (void) unlinkat(s->boxfd, "shim.pid", 0);
    /* The box is gone and its files are final: let a new start take the lock now. */
    s->lockfd = bl_close(s->lockfd);
}

/* Report to the spawn channel and every waiter; close every connection. */
static void report(struct supervisor *s, bool error, int status, const char *msg)
{
    if (s->spawn_open) {
        if (error)
            (void) proto_send_error(s->spawnfd, status, msg);
        else
            (void) proto_send_int(s->spawnfd, "exit", status);
    }
    for (struct conn *c = s->conns; c; c = c->next) {
        if (c->fd >= 0 && c->state == CONN_WAIT) {
            if (error)
                (void) proto_send_error(c->fd, status, msg);
            else
                (void) proto_send_int(c->fd, "exit", status);
        }
        conn_close(s, c);
    }
}

void supervisor_fail(struct supervisor *s, int status, const char *msg)
{
    shim_log("error %d: %s", status, msg);
    teardown(s, status);
    report(s, true, status, msg);
}

/* Returns the shim's exit status: 0 after `exit`, 1 after `error`. */
static int finish(struct supervisor *s)
{
    int ret = 1;
    zygote_reap(&s->zyg); /* not in the box's pid namespace: it does not die with PID 1 */
    reap_all(s);
    /* Every process of the box is gone: exec error pipes hold EOF or a report. */
    for (struct exec_proc *p = s->procs; p; p = p->next) {
        if (p->errfd >= 0)
            (void) fcntl(p->errfd, F_SETFL, 0);
        proc_read_err(s, p);
        proc_progress(s, p);
    }
    if (!s->started)
        pid1_read_err(s, true);
    /* Every writer of the log pipes is gone: what is left in them is the end of the log. */
    on_log(s, &s->console.out);
    on_log(s, &s->console.err);
    if (s->setup_err_got == sizeof(s->setup_err)) {
        supervisor_fail(s, s->setup_err.status, s->setup_err.msg);
    } else if (!s->started) {
        supervisor_fail(s, ST_BOXLITE_FAILED, "box start was interrupted");
    } else {
        teardown(s, s->pid1_status);
        shim_log("box exited with status %d", s->pid1_status);
        report(s, false, s->pid1_status, NULL);
        ret = 0;
    }
    sweep(s);
    return ret;
}

int supervisor_run(struct supervisor *s)
{
    while (!s->pid1_exited) {
        struct epoll_event evs[16];
        int n = epoll_wait(s->epfd, evs, (int) ELEMENTSOF(evs), -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            shim_log("epoll_wait: %s", strerror(errno));
            kill_box(s, SIGKILL);
            /* Without the loop, wait for PID 1 (and the box's execs) the plain way. */
            while (!s->pid1_exited) {
                int st;
                pid_t pid = waitpid(-1, &st, 0);
                if (pid < 0 && errno != EINTR)
                    break;
                if (pid == s->pid1.pid) {
                    s->pid1_exited = true;
                    s->pid1_status = exit_status(st);
                }
            }
            break;
        }
        for (int i = 0; i < n; i++) {
            struct ev *ev = evs[i].data.ptr;
            uint32_t events = evs[i].events;
            switch (ev->kind) {
            case EV_SIGNAL:
                on_signal(s);
                break;
            case EV_SPAWN:
                if (s->spawn_open)
                    on_spawn(s, events);
                break;
            case EV_PID1_ERR:
                pid1_read_err(s, false);
                break;
            case EV_LISTEN:
                on_listen(s);
                break;
            case EV_TIMER:
                on_timer(s);
                break;
            case EV_CONN:
                on_conn(s, (struct conn *) ev, events);
                break;
            case EV_LOG:
                on_log(s, (struct log_stream *) ev);
                break;
            case EV_NET:
                net_on_event(&s->net, ev, events);
                break;
            case EV_EXEC_ERR: {
                struct exec_proc *p = (struct exec_proc *) ev;
                proc_read_err(s, p);
                proc_progress(s, p);
                break;
            }
            }
        }
        sweep(s);
        net_sweep(&s->net);
    }
    return finish(s);
}

void supervisor_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGCHLD);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
}

int supervisor_open(struct supervisor *s, bl_error **err)
{
    sigset_t set;
    supervisor_signals(&set);
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    s->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    s->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (s->epfd < 0 || s->sigfd < 0 || s->timerfd < 0)
        return bl_err_errno(err, "cannot set up the event loop");
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = &s->sig_ev};
    int r = epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->sigfd, &e);
    e = (struct epoll_event){.events = EPOLLIN, .data.ptr = &s->timer_ev};
    r = r < 0 ? r : epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->timerfd, &e);
    e = (struct epoll_event){.events = EPOLLIN | EPOLLRDHUP, .data.ptr = &s->spawn_ev};
    r = r < 0 ? r : epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->spawnfd, &e);
    if (r < 0)
        return bl_err_errno(err, "cannot set up the event loop");
    return 0;
}

void supervisor_init(struct supervisor *s)
{
    *s = (struct supervisor){
        .boxfd = -1,
        .lockfd = -1,
        .spawnfd = -1,
        .cg = BOX_CGROUPS_NULL,
        .tty_sock = -1,
        .tty_master = -1,
        .box_root_fd = -1,
        .box_ns_fd = {-1, -1, -1, -1, -1, -1, -1},
        .pid1 = BOX_PID1_NULL,
        .pid1_errfd = -1,
        .userns = geteuid() != 0,
        .epfd = -1,
        .sigfd = -1,
        .listenfd = -1,
        .timerfd = -1,
        .sig_ev = {EV_SIGNAL},
        .spawn_ev = {EV_SPAWN},
        .pid1_err_ev = {EV_PID1_ERR},
        .listen_ev = {EV_LISTEN},
        .timer_ev = {EV_TIMER},
    };
    /* (the parts borrow from *s: it must not move from here on) */
    zygote_init(&s->zyg, &(struct zygote_box){.conf = &s->conf,
                                              .seccomp = &s->seccomp,
                                              .cg = &s->cg,
                                              .nofile = &s->nofile,
                                              .pid1 = &s->pid1,
                                              .ns_fd = s->box_ns_fd,
                                              .userns = s->userns});
    net_init(&s->net);
    console_init(&s->console);
}

void supervisor_done(struct supervisor *s)
{
    for (struct conn *c = s->conns; c; c = c->next)
        conn_close(s, c);
    sweep(s);
    while (s->conns) {
        struct conn *c = s->conns;
        s->conns = c->next;
        free(c);
    }
    while (s->procs) {
        struct exec_proc *p = s->procs;
        s->procs = p->next;
        proc_free(p);
    }
    net_done(&s->net);
    zygote_reap(&s->zyg);
    cg_destroy(&s->cg); /* no-op after a teardown */
    console_done(&s->console);
    int *fds[] = {&s->boxfd,      &s->lockfd,     &s->spawnfd,  &s->pid1.orig_pidns_fd,
                  &s->pid1.pidfd, &s->pid1_errfd, &s->epfd,     &s->sigfd,
                  &s->listenfd,   &s->timerfd,    &s->tty_sock, &s->tty_master,
                  &s->box_root_fd};
    for (size_t i = 0; i < ELEMENTSOF(fds); i++)
        *fds[i] = bl_close(*fds[i]);
    for (size_t i = 0; i < SHIM_BOX_NS; i++)
        s->box_ns_fd[i] = bl_close(s->box_ns_fd[i]);
    free(s->filter);
    s->filter = NULL;
    conf_done(&s->conf);
}
