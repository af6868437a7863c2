/* SPDX-License-Identifier: MIT */
/*
 * boxlite-shim BOX_DIR: the per-box supervisor (design §1, docs/design/shim-protocol.md).
 * Reads BOX_DIR/shim.conf, takes BOX_DIR/shim.lock, creates the box's cgroups and PID 1, then
 * serves the spawn channel (fd 3) and BOX_DIR/shim.sock until PID 1 exits, tears the box down
 * and reports its status.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "alloc-util.h"
#include "box.h"
#include "boxlite/version.h"
#include "cgroup.h"
#include "conf.h"
#include "console.h"
#include "devices.h"
#include "fs-util.h"
#include "net.h"
#include "process.h"
#include "proto.h"
#include "supervisor.h"
#include "userns.h"

#define SPAWN_FD 3
#define BOX_NS_FLAGS (CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET)

/* PID 1 failed by itself (before its "go", so before any exec): it wrote its setup error to its
 * error pipe, or closed it by dying, before its namespaces went. That error (or its exit) is
 * then the one to report, not what failed around PID 1 because it was gone (slirp4netns cannot
 * join namespaces that are no more). */
static bool pid1_gone(const struct shim *s, int errfd)
{
    struct pollfd p[2] = {{.fd = errfd, .events = POLLIN}, {.fd = s->pid1.pidfd, .events = POLLIN}};
    return poll(p, 2, 0) > 0;
}

/* An error before we own the box (or before there is one): report it, touch nothing. */
static int early_error(struct shim *s, const bl_error *err)
{
    shim_log("error: %s", bl_error_msg(err));
    (void) proto_send_error(s->spawnfd, ST_BOXLITE_FAILED, bl_error_msg(err));
    return 1;
}

static int load_seccomp(struct shim *s, bl_error **err)
{
    const char *path = s->conf.seccomp;
    if (!*path)
        return 0;
    char *buf = NULL;
    size_t len = 0;
    int r = bl_read_file_at(AT_FDCWD, path, BPF_MAXINSNS * sizeof(struct sock_filter) + 1, &buf,
                            &len, err);
    if (r < 0)
        return bl_err_prefix(err, r, "seccomp filter");
    s->filter = (struct sock_filter *) buf;
    if (len == 0 || len % sizeof(struct sock_filter) ||
        len > BPF_MAXINSNS * sizeof(struct sock_filter))
        return bl_err(err, -EINVAL, "seccomp filter '%s': not a BPF program (%zu bytes)", path,
                      len);
    s->seccomp = (struct sock_fprog){.len = (unsigned short) (len / sizeof(struct sock_filter)),
                                     .filter = s->filter};
    return 0;
}

/* BOX_DIR/hosts, hostname and resolv.conf, bind-mounted into the box by PID 1. */
static int write_etc_files(struct shim *s, bl_error **err)
{
    const char *h = s->conf.hostname;
    _cleanup_free_ char *net_lines = NULL;
    if (net_hosts_lines(&s->net, &net_lines) < 0)
        return bl_oom(err);
    _cleanup_free_ char *hosts_txt =
        bl_asprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s%s%s%s",
                    *h ? "127.0.1.1\t" : "", h, *h ? "\n" : "", net_lines);
    _cleanup_free_ char *hostname_txt = bl_asprintf("%s\n", h);
    if (!hosts_txt || !hostname_txt)
        return bl_oom(err);
    _cleanup_free_ char *resolv_txt = NULL;
    size_t resolv_len = 0;
    const char *net_resolv = net_resolv_conf(&s->net);
    if (net_resolv) {
        resolv_txt = bl_strdup(net_resolv);
        if (!resolv_txt)
            return bl_oom(err);
        resolv_len = strlen(resolv_txt);
    } else if (bl_read_file_at(AT_FDCWD, "/etc/resolv.conf", 64 * 1024, &resolv_txt, &resolv_len,
                               NULL) < 0) {
        resolv_len = 0; /* no resolver on the host: an empty file */
    }
    struct {
        const char *name, *data;
        size_t len;
    } files[] = {{"hosts", hosts_txt, strlen(hosts_txt)},
                 {"hostname", hostname_txt, strlen(hostname_txt)},
                 {"resolv.conf", resolv_txt ? resolv_txt : "", resolv_len}};
    for (size_t i = 0; i < ELEMENTSOF(files); i++) {
        /* In place (a rename costs a journal commit): only this box binds them. */
        _cleanup_close_ int fd = openat(
            s->boxfd, files[i].name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        int r = fd < 0 ? -errno : bl_write_all(fd, files[i].data, files[i].len);
        if (r < 0)
            return bl_err_code(err, r, "cannot write %s/%s", s->box_dir, files[i].name);
    }
    return 0;
}

static int setup_loop(struct shim *s, bl_error **err)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
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

/* Replace our 0/1/2 with /dev/null: the client's pipes must see EOF when the box closes them. */
static void drop_client_stdio(void)
{
    _cleanup_close_ int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int i = 0; fd >= 0 && i < 3; i++)
        (void) dup3(fd, i, 0);
}

static int start_box(struct shim *s, bl_error **err)
{
    int r = load_seccomp(s, err);
    if (r < 0)
        return r;
    struct net_box nb = {.conf = &s->conf,
                         .boxfd = s->boxfd,
                         .box_dir = s->box_dir,
                         .epfd = s->epfd,
                         .pid1 = &s->pid1,
                         .userns = s->userns};
    r = net_prepare(&s->net, &nb, err);
    if (r < 0)
        return r;
    r = write_etc_files(s, err);
    if (r < 0)
        return r;
    r = cg_create(&s->cg, s->conf.cgroup, err);
    if (r < 0)
        return r;
    if (!s->userns && s->cg.v2_fd < 0) {
        /* No cgroup2 leaf, so no device allow-list (devices.c): the box gets no CAP_MKNOD at
         * all rather than a node it could plant on the host. */
        shim_log("no cgroup2 leaf for the box, so no device allow-list: the box gets no "
                 "CAP_MKNOD");
        s->conf.caps &= ~(UINT64_C(1) << CAP_MKNOD);
    }
    if (geteuid() != 0) {
        /* delegated cgroups sit where our own cgroup is: tell the library, which removes them
         * if we are killed (as root they are at each hierarchy's top, found by name) */
        char list[4096];
        size_t n = 0;
        if (s->cg.v2_path)
            n += (size_t) snprintf(list + n, sizeof(list) - n, "%s\n", s->cg.v2_path);
        for (size_t i = 0; i < s->cg.n_v1 && n < sizeof(list); i++)
            n += (size_t) snprintf(list + n, sizeof(list) - n, "%s\n", s->cg.v1_path[i]);
        int q = n < sizeof(list)
                    ? bl_write_file_atomic_at(s->boxfd, "cgroups", list, n, 0644, /* err= */ NULL)
                    : 0;
        if (q < 0)
            shim_log("cannot record the box's cgroups: %s", strerror(-q));
    }

    _cleanup_close_ int in_r = -1, out_w = -1, err_w2 = -1, tty_child = -1;
    if (s->conf.detach) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
            return bl_err_errno(err, "pipe");
        in_r = p[0];
        s->console.stdin_w = p[1];
        r = console_open(&s->console, s->boxfd, s->conf.log_max, err);
        if (r < 0)
            return r;
        struct log_stream *ls[] = {&s->console.out, &s->console.err};
        int *wends[] = {&out_w, &err_w2};
        for (size_t i = 0; i < ELEMENTSOF(ls); i++) {
            if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
                return bl_err_errno(err, "pipe");
            ls[i]->fd = p[0];
            *wends[i] = p[1];
            /* the box's end blocks like any pipe (a full log pipe slows the box, as a
             * terminal would) */
            (void) fcntl(p[1], F_SETFL, 0);
            struct epoll_event e = {.events = EPOLLIN, .data.ptr = &ls[i]->ev};
            if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, ls[i]->fd, &e) < 0)
                return bl_err_errno(err, "cannot watch the log pipe");
        }
    }
    /* (a detached box has no pty; an init without root hands over its namespaces) */
    if ((s->conf.tty && !s->conf.detach) || (s->userns && (s->conf.argc == 0 || s->conf.init))) {
        int sp[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
            return bl_err_errno(err, "cannot create the pty channel");
        s->tty_sock = sp[0];
        tty_child = sp[1];
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return bl_err_errno(err, "pipe");
    _cleanup_close_ int err_r = p[0], err_w = p[1];
    if (pipe2(p, O_CLOEXEC) < 0)
        return bl_err_errno(err, "pipe");
    _cleanup_close_ int go_r = p[0], go_w = p[1];
    _cleanup_close_ int map_r = -1, map_w = -1;
    if (s->userns) {
        if (pipe2(p, O_CLOEXEC) < 0)
            return bl_err_errno(err, "pipe");
        map_r = p[0];
        map_w = p[1];
    }

    struct box_start b = {
        .conf = &s->conf,
        .errfd = err_w,
        .go_fd = go_r,
        .stdin_fd = in_r,
        .stdout_fd = out_w,
        .stderr_fd = err_w2,
        .tty = s->conf.tty && !s->conf.detach,
        .tty_sock = tty_child,
        .box_dir = s->box_dir,
        .seccomp = s->seccomp.len ? &s->seccomp : NULL,
        .map_fd = map_r,
    };
    int pidfd = -1;
    bool in_cgroup = false;
    pid_t pid =
        shim_clone(BOX_NS_FLAGS | (s->userns ? CLONE_NEWUSER : 0), s->cg.v2_fd, &pidfd, &in_cgroup);
    if (pid < 0)
        return bl_err_code(err, pid, "cannot create the box's PID 1");
    if (pid == 0) {
        (void) close(go_w); /* so that a dead shim reads as EOF */
        if (map_w >= 0)
            (void) close(map_w);
        box_pid1_main(&b);
    }
    if (s->userns) {
        _cleanup_(bl_error_freep) bl_error *merr = NULL;
        int q = map_userns(pid, &s->conf.idmap, &merr);
        if (q >= 0 && write(map_w, "1", 1) != 1)
            q = bl_err(&merr, -errno, "%s", strerror(errno));
        if (q < 0) {
            (void) bl_err_prefix(&merr, q, "cannot map the box's user namespace");
            supervisor_setup_error(s, ST_BOXLITE_FAILED, bl_error_msg(merr));
        }
    }
    /* The box's ends are PID 1's alone: their EOF must mean the box is done with them. */
    out_w = bl_close(out_w);
    err_w2 = bl_close(err_w2);
    tty_child = bl_close(tty_child);

    s->pid1.pid = pid;
    s->pid1.pidfd = pidfd;
    /* slirp4netns (a host process) starts before we join the box's pid namespace */
    _cleanup_(bl_error_freep) bl_error *nerr = NULL;
    if (net_start(&s->net, &nerr) < 0 && !pid1_gone(s, err_r))
        supervisor_setup_error(s, ST_BOXLITE_FAILED, bl_error_msg(nerr));
    /* Later children (execs) are born in the box's pid namespace. (Without root the kernel
     * does not let us in: the exec zygote, inside the box's user namespace, forks them.) */
    if (s->userns)
        ; /* see above */
    else if (setns(s->pid1.pidfd, CLONE_NEWPID) < 0)
        shim_log("cannot join the box's pid namespace: %s (exec disabled)", strerror(errno));
    else
        s->pid1.pidns_joined = true;
    s->pid1_errfd = TAKE_FD(err_r);
    (void) fcntl(s->pid1_errfd, F_SETFL, O_NONBLOCK);
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = &s->pid1_err_ev};
    if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->pid1_errfd, &e) < 0)
        shim_log("epoll: %s", strerror(errno)); /* finish() reads the pipe synchronously then */
    drop_client_stdio();

    /* PID 1 builds its rootfs meanwhile (a v1 migration waits for an RCU grace period); it
     * waits for "go" before running anything of the box, so the limits, written here off the
     * critical path, are in place before the box's first instruction. */
    _cleanup_(bl_error_freep) bl_error *lerr = NULL;
    r = cg_attach(&s->cg, pid, in_cgroup);
    if (r >= 0) {
        /* The device allow-list, off the critical path too (PID 1 opens nothing but its pty
         * before "go"); one that cannot be attached fails the start, it is not skipped. */
        int q = 0;
        if (!s->userns && s->cg.v2_fd >= 0 && devices_restrict(s->cg.v2_fd, &lerr) < 0)
            q = bl_err_prefix(&lerr, -EPERM, "cannot apply the box's device allow-list");
        if (q >= 0)
            q = cg_set_limits(&s->cg, &s->conf, &lerr);
        struct stat bst;
        if (q >= 0 && fstat(s->boxfd, &bst) == 0)
            cg_account_io(&s->cg, bst.st_dev);
        if (q < 0) {
            supervisor_setup_error(s, ST_BOXLITE_FAILED, bl_error_msg(lerr));
        } else if (!nerr) { /* (a network error was reported above: no go) */
            if (net_wait_ready(&s->net, &nerr) < 0) {
                if (!pid1_gone(s, s->pid1_errfd))
                    supervisor_setup_error(s, ST_BOXLITE_FAILED, bl_error_msg(nerr));
            } else if (write(go_w, "1", 1) != 1)
                r = -errno;
        }
    }
    if (r == -ESRCH || r == -EPIPE)
        r = 0; /* PID 1 is already gone: its error pipe says why */
    if (r < 0) {
        (void) bl_err_code(&lerr, r, "cannot move PID 1 into the box cgroup");
        supervisor_setup_error(s, ST_BOXLITE_FAILED, bl_error_msg(lerr));
    }
    shim_log("PID 1 is %d", (int) pid);
    return 0;
}

static int run(const char *box_dir, long long t_start)
{
    _cleanup_(supervisor_done) struct shim s;
    supervisor_init(&s);
    s.box_dir = box_dir;
    s.t_start_us = t_start;
    s.spawnfd = SPAWN_FD;
    s.spawn_open = true;
    _cleanup_(bl_error_freep) bl_error *err = NULL;

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    (void) sigprocmask(SIG_BLOCK, &set, NULL);
    struct sigaction ign = {.sa_handler = SIG_IGN};
    (void) sigaction(SIGPIPE, &ign, NULL);

    s.boxfd = open(box_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s.boxfd < 0) {
        (void) bl_err_errno(&err, "cannot open box directory '%s'", box_dir);
        return early_error(&s, err);
    }
    s.lockfd = openat(s.boxfd, "shim.lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (s.lockfd < 0 || flock(s.lockfd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK)
            (void) bl_err(&err, -EBUSY, "box is already running: shim.lock is held");
        else
            (void) bl_err_errno(&err, "cannot lock the box");
        return early_error(&s, err);
    }
    if (fchdir(s.boxfd) < 0) {
        (void) bl_err_errno(&err, "cannot enter '%s'", box_dir);
        return early_error(&s, err);
    }
    shim_log_open(s.boxfd);
    if (conf_load(s.boxfd, "shim.conf", &s.conf, &err) < 0)
        return early_error(&s, err);
    shim_log("starting box %s (%zu layers, %s)", s.conf.id, s.conf.n_layers,
             s.conf.argc ? s.conf.argv[0] : "idle init");
    if (s.conf.detach)
        (void) setsid();
    else
        /* out of the client's process group: a terminal's Ctrl-C reaches only the client, which
         * forwards it to the command (the shim would otherwise take it as "stop the box") */
        (void) setpgid(0, 0);
    (void) prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    /* A box that fills its memory must not get its helpers (the zygote) OOM-killed */
    shim_oom_protect();
    (void) unlinkat(s.boxfd, "exit.json", 0); /* a stale status must not outlive this run */
    (void) getrlimit(RLIMIT_NOFILE, &s.nofile);
    s.pid1.orig_pidns_fd = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);

    if (setup_loop(&s, &err) < 0 || start_box(&s, &err) < 0) {
        supervisor_fail(&s, ST_BOXLITE_FAILED, bl_error_msg(err));
        return 1;
    }
    return supervisor_run(&s);
}

static long long mono_us(void)
{
    struct timespec ts;
    (void) clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int main(int argc, char **argv)
{
    long long t_start = mono_us();
    if (argc > 1 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))) {
        printf("boxlite-shim %s\n", BOXLITE_VERSION_STRING);
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "--userns"))
        return userns_main(argc, argv);
    bool mount_mode = argc == 3 && !strcmp(argv[1], "--mount");
    if (mount_mode) {
        argv++;
        argc--;
    }
    if (argc != 2 || argv[1][0] != '/') {
        fprintf(stderr, "usage: boxlite-shim BOX_DIR (started by boxlite, not by hand)\n");
        return 2;
    }
    /* Closed 0/1/2 would be reused by our own files; make them /dev/null. */
    for (int i = 0; i < 3; i++)
        if (fcntl(i, F_GETFD) < 0 && errno == EBADF &&
            open("/dev/null", O_RDWR) != i) /* NOLINT: stdio, inherited on purpose */
            return 2;
    int type = 0;
    socklen_t len = sizeof(type);
    if (getsockopt(SPAWN_FD, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_SEQPACKET) {
        fprintf(stderr, "boxlite-shim: fd 3 is not the spawn channel (started by boxlite, not "
                        "by hand)\n");
        return 2;
    }
    shim_argv_area = argv[0];
    shim_argv_len = (size_t) (argv[argc - 1] + strlen(argv[argc - 1]) - argv[0]);
    /* Nothing we inherited may leak into the box. */
    (void) fcntl(SPAWN_FD, F_SETFD, FD_CLOEXEC);
    (void) close_range(SPAWN_FD + 1, ~0U, CLOSE_RANGE_CLOEXEC);
    if (mount_mode)
        return box_mount_main(argv[1]);
    return run(argv[1], t_start);
}
