/* SPDX-License-Identifier: MIT */
/*
 * boxlite-shim BOX_DIR: the per-box supervisor (design §1, docs/design/shim-protocol.md).
 * Reads BOX_DIR/shim.conf, takes BOX_DIR/shim.lock, has start.c create the box's cgroups and
 * PID 1, then the supervisor serves the spawn channel (fd 3) and BOX_DIR/shim.sock until PID 1
 * exits, tears the box down and reports its status. `--mount` (box.c) and `--userns`
 * (userns.c) are one-shot helpers of the library. An error before the box exists is logged and
 * reported here, once (early_error); after, the supervisor reports it (supervisor_fail).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "box.h"
#include "boxlite/version.h"
#include "conf.h"
#include "fs-util.h"
#include "process.h"
#include "proto.h"
#include "start.h"
#include "supervisor.h"
#include "userns.h"

#define SPAWN_FD 3

static int early_error(struct supervisor *s, const bl_error *err)
{
    shim_log("error: %s", bl_error_msg(err));
    (void) proto_send_error(s->spawnfd, ST_BOXLITE_FAILED, bl_error_msg(err));
    return 1;
}

static int run(const char *box_dir, long long t_start)
{
    _cleanup_(supervisor_done) struct supervisor s;
    supervisor_init(&s);
    s.box_dir = box_dir;
    s.t_start_us = t_start;
    s.spawnfd = SPAWN_FD;
    s.spawn_open = true;
    _cleanup_(bl_error_freep) bl_error *err = NULL;

    sigset_t set;
    supervisor_signals(&set);
    (void) sigprocmask(SIG_BLOCK, &set, NULL);
    struct sigaction ign = {.sa_handler = SIG_IGN};
    (void) sigaction(SIGPIPE, &ign, NULL);

    s.boxfd = open(box_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s.boxfd < 0) {
        (void) bl_err_errno(&err, "cannot open box directory '%s'", box_dir);
        return early_error(&s, err);
    }
    s.lockfd = openat(s.boxfd, "shim.lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    int lr = s.lockfd < 0 ? -errno : bl_ofd_lock(s.lockfd, F_WRLCK, false);
    if (lr < 0) {
        if (lr == -EAGAIN)
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

    if (supervisor_open(&s, &err) < 0 || start_box(&s, &err) < 0) {
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
