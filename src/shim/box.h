/* SPDX-License-Identifier: MIT */
/*
 * PID 1 set-up: the box's root filesystem, mounts, /dev, pivot_root, masked /proc (box.c), in
 * a child of the shim; and `--mount`, the same rootfs in a private mount namespace for `cp`.
 */
#pragma once

#include <linux/filter.h>
#include <stdbool.h>

#include "conf.h"
#include "shim.h"

struct box_start {
    const struct shim_conf *conf;
    int errfd;           /* write end of the error pipe */
    int go_fd;           /* read end of the go pipe: one byte once the shim put us in every cgroup,
                          * EOF if it failed or died (this also covers a shim that died before our
                          * PR_SET_PDEATHSIG, which getppid() cannot show in a new pid namespace) */
    int stdin_fd;        /* detached: read end of the silent pipe; -1 attached */
    int stdout_fd;       /* detached: write end of the stdout log pipe; -1 attached */
    int stderr_fd;       /* detached: write end of the stderr log pipe; -1 attached */
    bool tty;            /* PID 1 gets a pty of the box's own (conf->tty, attached) */
    int tty_sock;        /* where PID 1 sends the pty master (conf->tty) and, as an init
                          * without root, its root and namespaces; -1 otherwise */
    const char *box_dir; /* BOX_DIR/{hosts,hostname,resolv.conf} are bound into /etc (by path:
                          * a bind source must be a mount of the box's own namespace) */
    const struct sock_fprog *seccomp;
    int map_fd; /* userns: read end of a pipe that gets one byte once our id maps are written;
                 * -1 otherwise */
};

/* The body of PID 1 (the child of shim_clone); never returns (process.h's error rule). */
_noreturn_ void box_pid1_main(const struct box_start *b);

/* Mount the box's overlay and volumes in a new mount namespace and hand its root to the client
 * on fd 3 (`boxlite-shim --mount BOX_DIR`, for `cp` on a stopped box). Returns the exit status. */
int box_mount_main(const char *box_dir);
