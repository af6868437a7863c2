/* SPDX-License-Identifier: MIT */
/*
 * The exec zygote (zygote.c): a helper that joins the box's cgroups and namespaces once and
 * forks exec children there on request. The supervisor drives it through this interface; the
 * zygote never calls back (it reports through return values, and its children report through
 * the error pipe the caller passes).
 */
#pragma once

#include <linux/filter.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "cgroup.h"
#include "conf.h"
#include "process.h"
#include "shim.h"

/* What the zygote needs of the box: borrowed from the supervisor, which outlives it. */
struct zygote_box {
    const struct shim_conf *conf;     /* caps */
    const struct sock_fprog *seccomp; /* len 0: none */
    const struct box_cgroups *cg;
    const struct rlimit *nofile; /* the fd limit the box's processes get */
    struct box_pid1 *pid1;       /* its pidns_joined drops if we cannot get back in */
    const int *ns_fd;            /* SHIM_BOX_NS fds an init without root handed over; ns_fd[0]
                                  * < 0: join through pid1->pidfd */
    bool userns;                 /* without root (the box has a user namespace of its own) */
};

struct zygote {
    struct zygote_box box;
    pid_t pid; /* 0: none */
    int pidfd, fd;
    bool ready; /* it said `ready`: it is in the box's cgroups and namespaces */
};

void zygote_init(struct zygote *z, const struct zygote_box *box);
/* Fork the zygote (after PID 1 started). -ESRCH if the box's pid namespace is out of reach;
 * other -errno with *err set (execs then fail). */
int zygote_start(struct zygote *z, bl_error **err);
/* Wait (bounded) until the zygote is in the box; false if there is none (any more). */
bool zygote_ready(struct zygote *z);
/* Have the zygote fork an exec child (a child of ours, by CLONE_PARENT). -ENOENT: there is no
 * zygote (any more), nothing was created; other errors: the exec failed (-EAGAIN: the box is at
 * its pids limit, -E2BIG: the request does not fit a datagram). */
int zygote_spawn(struct zygote *z, const struct proc_spec *spec, const int *stdio, int errfd,
                 pid_t *ret_pid, int *ret_pidfd);
/* SIGKILL it; the SIGCHLD loop reaps it. */
void zygote_stop(struct zygote *z);
/* pid was the zygote's (reaped): forget it. */
bool zygote_reaped(struct zygote *z, pid_t pid);
/* Kill and reap it now (the zygote's done function; idempotent). */
void zygote_reap(struct zygote *z);
