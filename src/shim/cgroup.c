/* SPDX-License-Identifier: MIT */
/*
 * The box's cgroups. Pure cgroup v2 (/sys/fs/cgroup is cgroup2): one leaf there. Hybrid: a leaf
 * in the cgroup2 mount at /sys/fs/cgroup/unified (cgroup.kill, cgroup.events,
 * CLONE_INTO_CGROUP) and one in each of the v1 hierarchies cpu, cpuacct, memory, pids and
 * blkio. Limits go to the v1 hierarchy of their controller when there is one, else to the
 * cgroup2 leaf; `stats` reads them back the same way.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "alloc-util.h"
#include "cgroup.h"
#include "fs-util.h"
#include "parse-util.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif

#define CG_ROOT "/sys/fs/cgroup"
#define CG_DRAIN_TIMEOUT_MS 5000

static bool is_fs(const char *path, long magic)
{
    struct statfs sf;
    return statfs(path, &sf) == 0 && (long) sf.f_type == magic;
}

static long long now_ms(void)
{
    struct timespec ts;
    (void) clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void remove_leaf(const char *dir, bool v2);

/* Create dir (a stale one, left by a killed shim, is emptied and made anew) and open its
 * cgroup.procs for writing. */
static int make_leaf(const char *path, bool v2, int *ret_procs, bl_error **err)
{
    if (mkdir(path, 0755) < 0) {
        if (errno != EEXIST)
            return bl_err_errno(err, "cannot create cgroup '%s'", path);
        shim_log("removing stale cgroup %s", path);
        remove_leaf(path, v2);
        if (mkdir(path, 0755) < 0)
            return bl_err_errno(err, "cannot create cgroup '%s'", path);
    }
    _cleanup_free_ char *procs = bl_path_join(path, "cgroup.procs");
    if (!procs)
        return bl_oom(err);
    *ret_procs = open(procs, O_WRONLY | O_CLOEXEC);
    if (*ret_procs < 0)
        return bl_err_errno(err, "cannot open '%s'", procs);
    return 0;
}

/*
 * The cgroup we are in, in the hierarchy of v1 controller `name` (NULL: the cgroup2 one), as a
 * path below the hierarchy's root ("/" for the root). From /proc/self/cgroup. Caller frees.
 */
static char *own_cgroup(const char *name)
{
    _cleanup_free_ char *text = NULL;
    if (bl_read_file_at(AT_FDCWD, "/proc/self/cgroup", 1 << 16, &text, NULL, NULL) < 0)
        return NULL;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (c2) {
            *c2 = 0;
            const char *ctrls = c1 + 1;
            /* "0::PATH" is cgroup2; "N:ctrl,ctrl:PATH" a v1 hierarchy */
            bool match = !name ? c1 - line == 1 && line[0] == '0' && !*ctrls : false;
            for (const char *p = ctrls; name && *p;) {
                size_t k = strcspn(p, ",");
                match |= k == strlen(name) && !strncmp(p, name, k);
                p += k + (p[k] == ',');
            }
            if (match)
                return bl_strdup(c2 + 1);
        }
        if (!nl)
            break;
        line = nl + 1;
    }
    return NULL;
}

static bool writable(const char *dir)
{
    return access(dir, W_OK | X_OK) == 0;
}

/* systemd marks the cgroup of a unit with Delegate=yes with user.delegate=1 (v252 and later). */
static bool delegated(const char *dir)
{
    char v[2] = {0};
    return getxattr(dir, "user.delegate", v, sizeof(v)) == 1 && v[0] == '1';
}

/*
 * Where the box's leaf goes in the hierarchy mounted at root (v1 controller `name`, or NULL
 * for cgroup2): as root, the hierarchy's top. Without root, a cgroup delegated to us (chowned
 * to us, as pam_cgfs or an administrator does, or systemd's Delegate=): in v1 the cgroup we
 * are in; in cgroup2 its parent when that is a delegated unit's (ours is a leaf of it: a
 * cgroup2 cgroup with processes cannot give its children controllers), never a slice systemd
 * keeps for itself even if the user owns it; else our own cgroup when it is ours. Else NULL:
 * the box goes without that hierarchy. Caller frees.
 */
static char *leaf_base(const char *root, const char *name)
{
    if (geteuid() == 0)
        return bl_strdup(root);
    _cleanup_free_ char *own = own_cgroup(name);
    if (!own || own[0] != '/' || strstr(own, "/.."))
        return NULL;
    _cleanup_free_ char *base = bl_path_join(root, own);
    if (!base)
        return NULL;
    if (!name && strcmp(own, "/") != 0) {
        _cleanup_free_ char *parent = bl_strdup(base);
        char *slash = parent ? strrchr(parent, '/') : NULL;
        if (slash && slash > parent + strlen(root)) {
            *slash = 0;
            if (writable(parent) && delegated(parent))
                return TAKE_PTR(parent);
        }
    }
    return writable(base) ? TAKE_PTR(base) : NULL;
}

/* Without root, a hierarchy the user may not write to is one the box goes without. */
static bool no_delegation(int r, bl_error **err)
{
    if (geteuid() == 0 || (r != -EACCES && r != -EPERM && r != -EROFS))
        return false;
    if (err && *err) { /* not an error after all */
        bl_error_free(*err);
        *err = NULL;
    }
    return true;
}

int cg_create(struct box_cgroups *cg, const char *leaf, bl_error **err)
{
    int r;
    if (!leaf || !*leaf)
        return 0;
    bool pure = is_fs(CG_ROOT, CGROUP2_SUPER_MAGIC);
    const char *v2root = pure                                             ? CG_ROOT
                         : is_fs(CG_ROOT "/unified", CGROUP2_SUPER_MAGIC) ? CG_ROOT "/unified"
                                                                          : NULL;
    _cleanup_free_ char *v2base = v2root ? leaf_base(v2root, NULL) : NULL;
    if (v2root && !v2base)
        shim_log("no cgroup2 cgroup for the box: user %u has no delegated cgroup in %s",
                 (unsigned) geteuid(), v2root);
    if (v2base) {
        cg->v2_path = bl_path_join(v2base, leaf);
        if (!cg->v2_path)
            return bl_oom(err);
        r = make_leaf(cg->v2_path, true, &cg->v2_procs_fd, err);
        if (r < 0 && no_delegation(r, err)) {
            shim_log("no cgroup for the box: user %u cannot create one in %s", (unsigned) geteuid(),
                     v2base);
            free(cg->v2_path);
            cg->v2_path = NULL;
        } else if (r < 0) {
            return r;
        } else {
            cg->v2_fd = open(cg->v2_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (cg->v2_fd < 0)
                return bl_err_errno(err, "cannot open cgroup '%s'", cg->v2_path);
        }
    }
    cg->v2_pure = pure;
    if (pure)
        return 0;
    static const char *const v1[] = {"cpu", "cpuacct", "memory", "pids", "blkio"};
    dev_t seen[CG_MAX_V1];
    for (size_t i = 0; i < ELEMENTSOF(v1); i++) {
        char root[64];
        (void) snprintf(root, sizeof(root), CG_ROOT "/%s", v1[i]);
        struct stat st;
        if (!is_fs(root, CGROUP_SUPER_MAGIC) || stat(root, &st) < 0)
            continue;
        bool dup = false; /* cpu and cpuacct are often one hierarchy behind two names */
        for (size_t j = 0; j < cg->n_v1; j++)
            dup |= seen[j] == st.st_dev;
        if (dup)
            continue;
        size_t k = cg->n_v1;
        _cleanup_free_ char *base = leaf_base(root, v1[i]);
        if (!base) {
            shim_log("no %s cgroup for the box: user %u has no delegated cgroup there", v1[i],
                     (unsigned) geteuid());
            continue;
        }
        cg->v1_path[k] = bl_path_join(base, leaf);
        if (!cg->v1_path[k])
            return bl_oom(err);
        cg->v1_name[k] = v1[i];
        seen[k] = st.st_dev;
        cg->n_v1++;
        r = make_leaf(cg->v1_path[k], false, &cg->v1_procs_fd[k], err);
        if (r < 0 && no_delegation(r, err)) {
            shim_log("no %s cgroup for the box: user %u cannot create one", v1[i],
                     (unsigned) geteuid());
            free(cg->v1_path[k]);
            cg->v1_path[k] = NULL;
            cg->n_v1--;
            continue;
        }
        if (r < 0)
            return r;
    }
    return 0;
}

/* ---- limits and statistics ------------------------------------------------------------- */

/* The v1 directory that has controller `name` (a co-mounted "cpu,cpuacct" counts), or NULL. */
static const char *v1_dir(const struct box_cgroups *cg, const char *name)
{
    for (size_t i = 0; i < cg->n_v1; i++)
        if (!strcmp(cg->v1_name[i], name))
            return cg->v1_path[i];
    /* cpu and cpuacct mounted together appear once, under the first of the two names */
    if (strcmp(name, "cpu") != 0 && strcmp(name, "cpuacct") != 0)
        return NULL;
    const char *probe = !strcmp(name, "cpuacct") ? "cpuacct.usage" : "cpu.cfs_quota_us";
    for (size_t i = 0; i < cg->n_v1; i++) {
        char path[512];
        (void) snprintf(path, sizeof(path), "%s/%s", cg->v1_path[i], probe);
        if (access(path, F_OK) == 0)
            return cg->v1_path[i];
    }
    return NULL;
}

static int write_at(const char *dir, const char *file, const char *value)
{
    char path[512];
    if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int) sizeof(path))
        return -ENAMETOOLONG;
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    return write_str(fd, value);
}

/* Whether the cgroup2 leaf has controller `name`; enables it in the parent when it can. */
static bool v2_has(const struct box_cgroups *cg, const char *name)
{
    if (!cg->v2_path)
        return false;
    for (int attempt = 0; attempt < 2; attempt++) {
        char path[512], *buf = NULL;
        (void) snprintf(path, sizeof(path), "%s/cgroup.controllers", cg->v2_path);
        if (bl_read_file_at(AT_FDCWD, path, 4096, &buf, NULL, NULL) < 0)
            return false;
        bool found = false;
        for (char *tok = buf; tok && *tok;) {
            size_t n = strcspn(tok, " \n");
            found |= n == strlen(name) && !strncmp(tok, name, n);
            tok += n;
            tok += strspn(tok, " \n");
        }
        free(buf);
        if (found || attempt)
            return found;
        /* the parent's subtree_control decides what a child has (the leaf has no children of
         * its own yet, and processes only once PID 1 starts) */
        char parent[512], add[32];
        (void) snprintf(parent, sizeof(parent), "%s", cg->v2_path);
        char *slash = strrchr(parent, '/');
        if (!slash)
            return false;
        *slash = 0;
        (void) snprintf(add, sizeof(add), "+%s", name);
        if (write_at(parent, "cgroup.subtree_control", add) < 0)
            return false;
    }
    return false;
}

static int set_limit(const struct box_cgroups *cg, const char *what, const struct conf_limit *l,
                     const char *controller, bl_error **err)
{
    if (!l->set)
        return 0;
    char v[64];
    const char *dir = v1_dir(cg, controller);
    int r;
    if (dir) {
        if (!strcmp(controller, "memory")) {
            (void) snprintf(v, sizeof(v), "%llu", (unsigned long long) l->value);
            r = write_at(dir, "memory.limit_in_bytes", v);
            /* swap counts too where it is accounted (a box is a machine without swap) */
            int q = r < 0 ? 0 : write_at(dir, "memory.memsw.limit_in_bytes", v);
            if (q < 0 && q != -ENOENT) /* ENOENT: swap is not accounted */
                shim_log("cannot limit the box's swap: %s, ignoring", strerror(-q));
        } else if (!strcmp(controller, "cpu")) {
            /* per the default period of 100 ms (cpu.cfs_period_us of a new group) */
            (void) snprintf(v, sizeof(v), "%llu", (unsigned long long) l->value * 100);
            r = write_at(dir, "cpu.cfs_quota_us", v);
        } else {
            (void) snprintf(v, sizeof(v), "%llu", (unsigned long long) l->value);
            r = write_at(dir, "pids.max", v);
        }
    } else if (v2_has(cg, controller)) {
        if (!strcmp(controller, "memory")) {
            (void) snprintf(v, sizeof(v), "%llu", (unsigned long long) l->value);
            r = write_at(cg->v2_path, "memory.max", v);
            int q = r < 0 ? 0 : write_at(cg->v2_path, "memory.swap.max", "0");
            if (q < 0 && q != -ENOENT) /* ENOENT: swap is not accounted */
                shim_log("cannot limit the box's swap: %s, ignoring", strerror(-q));
        } else if (!strcmp(controller, "cpu")) {
            (void) snprintf(v, sizeof(v), "%llu 100000", (unsigned long long) l->value * 100);
            r = write_at(cg->v2_path, "cpu.max", v);
        } else {
            (void) snprintf(v, sizeof(v), "%llu", (unsigned long long) l->value);
            r = write_at(cg->v2_path, "pids.max", v);
        }
    } else {
        if (l->soft) {
            shim_log("no %s cgroup controller: the default %s limit is not applied", controller,
                     what);
            return 0;
        }
        return bl_err(err, -EOPNOTSUPP, "cannot apply the %s limit: no %s cgroup controller", what,
                      controller);
    }
    if (r < 0)
        return bl_err_code(err, r, "cannot apply the %s limit", what);
    return 0;
}

int cg_set_limits(struct box_cgroups *cg, const struct shim_conf *c, bl_error **err)
{
    if (!cg->v2_path && cg->n_v1 == 0) {
        bool any_hard = (c->memory.set && !c->memory.soft) || (c->cpus.set && !c->cpus.soft) ||
                        (c->pids.set && !c->pids.soft);
        if (!any_hard)
            return 0;
        if (geteuid() != 0)
            return bl_err(err, -EOPNOTSUPP,
                          "resource limits (--memory, --cpus, --pids-limit) need a cgroup the box "
                          "can have: user %u has no delegated cgroup here (one chowned to the "
                          "user, as systemd's Delegate= or pam_cgfs give); run without them",
                          (unsigned) geteuid());
        return bl_err(err, -EOPNOTSUPP, "resource limits need a box cgroup");
    }
    int r = set_limit(cg, "memory", &c->memory, "memory", err);
    r = r < 0 ? r : set_limit(cg, "CPU", &c->cpus, "cpu", err);
    r = r < 0 ? r : set_limit(cg, "pids", &c->pids, "pids", err);
    /* cgroup2 counts block I/O (io.stat, for `stats`) only with the io controller on */
    if (r >= 0 && cg->v2_pure && !v2_has(cg, "io"))
        shim_log("no io cgroup controller: block I/O is not counted");
    return r;
}

void cg_account_io(const struct box_cgroups *cg, dev_t dev)
{
    const char *blk = v1_dir(cg, "blkio");
    if (!blk || dev == 0)
        return;
    /* throttling needs the whole disk: a partition's disk is its parent in sysfs */
    char path[128], *buf = NULL;
    unsigned maj = major(dev), min = minor(dev);
    (void) snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/partition", maj, min);
    if (access(path, F_OK) == 0) {
        (void) snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/../dev", maj, min);
        if (bl_read_file_at(AT_FDCWD, path, 64, &buf, NULL, NULL) < 0 ||
            sscanf(buf, "%u:%u", &maj, &min) != 2) {
            free(buf);
            return;
        }
        free(buf);
    }
    char rule[64];
    (void) snprintf(rule, sizeof(rule), "%u:%u 1099511627776", maj, min); /* 1 TiB/s */
    int r = write_at(blk, "blkio.throttle.write_bps_device", rule);
    if (r < 0)
        shim_log("cannot turn on block I/O accounting for %u:%u: %s", maj, min, strerror(-r));
}

/* First unsigned number of dir/file (or after "key " in it when key is set). */
static uint64_t read_u64(const char *dir, const char *file, const char *key)
{
    char path[512], *buf = NULL;
    if (!dir || snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int) sizeof(path) ||
        bl_read_file_at(AT_FDCWD, path, 64 * 1024, &buf, NULL, NULL) < 0)
        return UINT64_MAX;
    uint64_t v = UINT64_MAX;
    char *p = buf;
    if (key) {
        size_t k = strlen(key);
        for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
            if (!strncmp(p, key, k) && p[k] == ' ')
                break;
        p = p && *p ? p + strlen(key) + 1 : NULL;
    }
    const char *end;
    if (p)
        (void) bl_scan_u64(p, &end, &v); /* "max" and the like: v stays UINT64_MAX */
    free(buf);
    return v;
}

/* Sum of Read and Write lines of blkio.throttle.io_service_bytes, or rbytes=/wbytes= of io.stat */
static void read_blkio(const char *dir, const char *file, bool v2, uint64_t *rd, uint64_t *wr)
{
    char path[512], *buf = NULL;
    if (!dir || snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int) sizeof(path) ||
        bl_read_file_at(AT_FDCWD, path, 1024 * 1024, &buf, NULL, NULL) < 0)
        return;
    *rd = *wr = 0;
    for (char *line = buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        if (v2) {
            char *a = strstr(line, "rbytes="), *b = strstr(line, "wbytes=");
            if (a)
                *rd += bl_scan_u64_or0(a + 7);
            if (b)
                *wr += bl_scan_u64_or0(b + 7);
        } else {
            char *sp = strrchr(line, ' ');
            if (sp && sp > line) {
                uint64_t n = bl_scan_u64_or0(sp + 1);
                if (!strncmp(sp - 5, " Read", 5))
                    *rd += n;
                else if (!strncmp(sp - 6, " Write", 6))
                    *wr += n;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    free(buf);
}

void cg_read_stats(const struct box_cgroups *cg, struct cg_stats *st)
{
    *st = (struct cg_stats){UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX,
                            UINT64_MAX, UINT64_MAX, UINT64_MAX};
    const char *v2 = cg->v2_path;
    const char *acct = v1_dir(cg, "cpuacct");
    st->cpu_ns = read_u64(acct, "cpuacct.usage", NULL);
    if (st->cpu_ns == UINT64_MAX) {
        uint64_t us = read_u64(v2, "cpu.stat", "usage_usec"); /* every cgroup2 group has it */
        st->cpu_ns = us == UINT64_MAX ? us : us * 1000;
    }
    const char *mem = v1_dir(cg, "memory");
    /* what the box uses, as docker counts it: usage minus the inactive page cache */
    uint64_t usage =
        mem ? read_u64(mem, "memory.usage_in_bytes", NULL) : read_u64(v2, "memory.current", NULL);
    uint64_t inactive = mem ? read_u64(mem, "memory.stat", "total_inactive_file")
                            : read_u64(v2, "memory.stat", "inactive_file");
    if (usage != UINT64_MAX)
        st->mem_bytes = inactive != UINT64_MAX && inactive < usage ? usage - inactive : usage;
    uint64_t lim =
        mem ? read_u64(mem, "memory.limit_in_bytes", NULL) : read_u64(v2, "memory.max", NULL);
    st->mem_limit = lim >= (1ULL << 62) ? UINT64_MAX : lim; /* v1 says "no limit" so */
    const char *pids = v1_dir(cg, "pids");
    st->pids = read_u64(pids ? pids : v2, "pids.current", NULL);
    st->pids_limit = read_u64(pids ? pids : v2, "pids.max", NULL);
    const char *blk = v1_dir(cg, "blkio");
    if (blk)
        read_blkio(blk, "blkio.throttle.io_service_bytes", false, &st->blk_read, &st->blk_write);
    else
        read_blkio(v2, "io.stat", true, &st->blk_read, &st->blk_write);
}

int cg_join_self(const struct box_cgroups *cg, bool skip_v2)
{
    if (!skip_v2 && cg->v2_procs_fd >= 0) {
        int r = write_str(cg->v2_procs_fd, "0");
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < cg->n_v1; i++) {
        int r = write_str(cg->v1_procs_fd[i], "0");
        if (r < 0)
            return r;
    }
    return 0;
}

int cg_attach(const struct box_cgroups *cg, pid_t pid, bool skip_v2)
{
    char num[16];
    (void) snprintf(num, sizeof(num), "%d", (int) pid);
    if (!skip_v2 && cg->v2_procs_fd >= 0) {
        int r = write_str(cg->v2_procs_fd, num);
        if (r < 0)
            return r;
    }
    for (size_t i = 0; i < cg->n_v1; i++) {
        int r = write_str(cg->v1_procs_fd[i], num);
        if (r < 0)
            return r;
    }
    return 0;
}

/* SIGKILL every pid listed in dir/cgroup.procs. Returns how many were listed, or <0. */
static int kill_listed(const char *dir)
{
    _cleanup_free_ char *path = bl_path_join(dir, "cgroup.procs");
    if (!path)
        return -ENOMEM;
    _cleanup_free_ char *buf = NULL;
    int r = bl_read_file_at(AT_FDCWD, path, 4 * 1024 * 1024, &buf, NULL, NULL);
    if (r < 0)
        return r;
    int n = 0;
    for (char *p = buf; *p;) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = 0;
        int pid;
        if (parse_int(p, 1, 0x7fffffff, &pid) == 0) {
            (void) kill(pid, SIGKILL);
            n++;
        }
        if (!nl)
            break;
        p = nl + 1;
    }
    return n;
}

/* cgroup2: cgroup.kill, then wait for "populated 0" in cgroup.events (poll, no sleeping). */
static void drain_v2(const char *dir, long long deadline)
{
    _cleanup_free_ char *kpath = bl_path_join(dir, "cgroup.kill");
    _cleanup_free_ char *epath = bl_path_join(dir, "cgroup.events");
    if (!kpath || !epath)
        return;
    _cleanup_close_ int kfd = open(kpath, O_WRONLY | O_CLOEXEC);
    if (kfd < 0 || write_str(kfd, "1") < 0)
        (void) kill_listed(dir); /* kernel without cgroup.kill */
    _cleanup_close_ int efd = open(epath, O_RDONLY | O_CLOEXEC);
    if (efd < 0)
        return;
    for (;;) {
        char buf[256];
        ssize_t n = pread(efd, buf, sizeof(buf) - 1, 0);
        if (n < 0)
            return;
        buf[n] = 0;
        if (strstr(buf, "populated 0"))
            return;
        long long left = deadline - now_ms();
        if (left <= 0)
            return;
        struct pollfd pfd = {.fd = efd, .events = POLLPRI};
        (void) poll(&pfd, 1, (int) MIN(left, 1000));
    }
}

/* rmdir dir, killing and waiting out what is left in it. */
static void remove_leaf(const char *dir, bool v2)
{
    long long deadline = now_ms() + CG_DRAIN_TIMEOUT_MS;
    long delay_us = 500;
    bool drained = false;
    for (;;) {
        if (rmdir(dir) == 0 || errno == ENOENT)
            return;
        if (errno != EBUSY) {
            shim_log("cannot remove cgroup %s: %s", dir, strerror(errno));
            return;
        }
        if (now_ms() >= deadline) {
            shim_log("cgroup %s is still busy, leaving it", dir);
            return;
        }
        if (v2 && !drained) {
            drain_v2(dir, deadline);
            drained = true;
            continue;
        }
        /* v1 has no events to wait on: kill what is listed, then a short bounded poll. */
        if (!v2)
            (void) kill_listed(dir);
        struct timespec ts = {.tv_sec = 0, .tv_nsec = delay_us * 1000};
        (void) nanosleep(&ts, NULL);
        delay_us = MIN(delay_us * 2, 50000);
    }
}

void cg_destroy(struct box_cgroups *cg)
{
    cg->v2_fd = bl_close(cg->v2_fd);
    cg->v2_procs_fd = bl_close(cg->v2_procs_fd);
    if (cg->v2_path) {
        remove_leaf(cg->v2_path, true);
        free(cg->v2_path);
        cg->v2_path = NULL;
    }
    for (size_t i = 0; i < cg->n_v1; i++) {
        cg->v1_procs_fd[i] = bl_close(cg->v1_procs_fd[i]);
        if (cg->v1_path[i]) {
            remove_leaf(cg->v1_path[i], false);
            free(cg->v1_path[i]);
            cg->v1_path[i] = NULL;
        }
        cg->v1_name[i] = NULL;
    }
    cg->n_v1 = 0;
}
