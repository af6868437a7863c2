/* SPDX-License-Identifier: MIT */
/*
 * The start of a box, the host side of PID 1's set-up: the seccomp filter, the network's
 * preparation, BOX_DIR/{hosts,hostname,resolv.conf}, the cgroups, the console's pipes, then
 * PID 1 (box.c) in fresh namespaces, its id maps, the network helpers, its cgroups, limits and
 * device allow-list, and its "go". Errors before PID 1 exists are returned (main.c reports
 * them once); after, they go to supervisor_setup_error(), which kills PID 1 and lets the loop
 * report the first one.
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
#include "cgroup.h"
#include "conf.h"
#include "console.h"
#include "devices.h"
#include "fs-util.h"
#include "net.h"
#include "process.h"
#include "proto.h"
#include "start.h"
#include "supervisor.h"
#include "userns.h"

#define BOX_NS_FLAGS (CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET)

/* PID 1 failed by itself (before its "go", so before any exec): it wrote its setup error to its
 * error pipe, or closed it by dying, before its namespaces went. That error (or its exit) is
 * then the one to report, not what failed around PID 1 because it was gone (slirp4netns cannot
 * join namespaces that are no more). */
static bool pid1_gone(const struct supervisor *s, int errfd)
{
    struct pollfd p[2] = {{.fd = errfd, .events = POLLIN}, {.fd = s->pid1.pidfd, .events = POLLIN}};
    return poll(p, 2, 0) > 0;
}

static int load_seccomp(struct supervisor *s, bl_error **err)
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
static int write_etc_files(struct supervisor *s, bl_error **err)
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

/* Replace our 0/1/2 with /dev/null: the client's pipes must see EOF when the box closes them. */
static void drop_client_stdio(void)
{
    _cleanup_close_ int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int i = 0; fd >= 0 && i < 3; i++)
        (void) dup3(fd, i, 0);
}

int start_box(struct supervisor *s, bl_error **err)
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
