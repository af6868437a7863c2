/* SPDX-License-Identifier: MIT */
/* The box's cgroups: a leaf in cgroup2 and in each cgroup v1 hierarchy, its limits, its stats. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "conf.h"
#include "shim.h"

#define CG_MAX_V1 5

struct box_cgroups {
    char *v2_path; /* NULL: no cgroup2 hierarchy */
    int v2_fd;     /* O_DIRECTORY fd of v2_path, for CLONE_INTO_CGROUP */
    int v2_procs_fd;
    bool v2_pure; /* /sys/fs/cgroup itself is cgroup2: every controller lives there */
    size_t n_v1;
    char *v1_path[CG_MAX_V1];
    const char *v1_name[CG_MAX_V1]; /* controller: cpu, cpuacct, memory, pids, blkio */
    int v1_procs_fd[CG_MAX_V1];     /* O_WRONLY cgroup.procs; a child joins by writing "0" */
};
#define BOX_CGROUPS_NULL                                                                           \
    {                                                                                              \
        .v2_path = NULL, .v2_fd = -1, .v2_procs_fd = -1, .v2_pure = false, .n_v1 = 0,              \
        .v1_path = {NULL}, .v1_name = {NULL}, .v1_procs_fd = {                                     \
            -1,                                                                                    \
            -1,                                                                                    \
            -1,                                                                                    \
            -1,                                                                                    \
            -1                                                                                     \
        }                                                                                          \
    }

int cg_create(struct box_cgroups *cg, const char *leaf, bl_error **err);
/* Write the box's memory, CPU and pids limits (before anything runs in the box). A required
 * limit whose controller is missing is an error; a best-effort one is logged and skipped. */
int cg_set_limits(struct box_cgroups *cg, const struct shim_conf *c, bl_error **err);

/* cgroup v1 (kernels since 6.x) counts a group's block I/O on a disk only once the group has a
 * throttle rule there: give the box one it never reaches (1 TiB/s of writes) on the disk of
 * dev, so that `stats` has numbers. Best effort. */
void cg_account_io(const struct box_cgroups *cg, dev_t dev);

/* What `stats` reports of the cgroups; UINT64_MAX = unknown (or no limit, for limits). */
struct cg_stats {
    uint64_t cpu_ns, mem_bytes, mem_limit, pids, pids_limit, blk_read, blk_write;
};
void cg_read_stats(const struct box_cgroups *cg, struct cg_stats *st);
/* In a child: join every hierarchy by writing "0" (skip_v2: CLONE_INTO_CGROUP did it). */
int cg_join_self(const struct box_cgroups *cg, bool skip_v2);
/* Move pid into every hierarchy (skip_v2 as above). A v1 migration waits for an RCU grace
 * period (~10 ms here), so the shim does this for PID 1 while PID 1 builds its rootfs. */
int cg_attach(const struct box_cgroups *cg, pid_t pid, bool skip_v2);
/* Kill what is left, wait until empty, rmdir, close. Idempotent; tolerates removed dirs (the
 * cgroups' done function: safe on BOX_CGROUPS_NULL). */
void cg_destroy(struct box_cgroups *cg);
