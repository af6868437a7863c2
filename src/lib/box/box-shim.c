/* SPDX-License-Identifier: MIT */
/*
 * Starting the shim: the shim.conf encoder (the keys of src/basic/wire.h's table, from the box's
 * config) and the spawn of boxlite-shim (found once, at runtime open).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>

#include "alloc-util.h"
#include "box-internal.h"
#include "box-net.h"
#include "box-shim.h"
#include "digest.h"
#include "fs-util.h"
#include "parse-util.h"
#include "runtime.h"
#include "seccomp-profile.h"
#include "wire.h"

/* box-net.c names its keys: an unknown one fails the write (bl_conf_put_name). */
static void conf_put_cb(void *c, const char *k, const char *v)
{
    bl_conf_put_name(c, k, v);
}

static size_t path_depth(const char *p)
{
    size_t n = 0;
    for (; *p; p++)
        n += *p == '/' && p[1] && p[1] != '/';
    return n;
}

/* Volumes, parents before children (a volume inside another one is mounted on top of it). */
static void conf_put_volumes(struct bl_conf_buf *c, json_t *volumes)
{
    size_t n = json_array_size(volumes);
    for (size_t depth = 0, done = 0; done < n && depth < 4096; depth++) {
        size_t i;
        json_t *v;
        json_array_foreach(volumes, i, v)
        {
            const char *target = json_string_value(json_object_get(v, "target"));
            const char *source = json_string_value(json_object_get(v, "source"));
            if (!target || !source || path_depth(target) != depth)
                continue;
            bl_conf_put(c, BL_CONF_volume, source);
            bl_conf_put(c, BL_CONF_volume_target, target);
            bl_conf_put(c, BL_CONF_volume_ro, json_is_true(json_object_get(v, "ro")) ? "1" : "0");
            done++;
        }
    }
}

/* Resource limits; a default one (not asked for) is marked best effort with '~'. Records made
 * before limits existed get the defaults. */
static void conf_put_limits(struct bl_conf_buf *c, json_t *cfg)
{
    char v[64];
    json_t *mem = json_object_get(cfg, "memory_mib");
    int mem_soft = !json_is_true(json_object_get(cfg, "memory_explicit"));
    if (!mem || json_is_integer(mem)) {
        long long mib = mem ? (long long) json_integer_value(mem) : 1024;
        snprintf(v, sizeof(v), "%s%lld", mem_soft ? "~" : "", mib * 1024 * 1024);
        bl_conf_put(c, BL_CONF_memory, v);
    }
    json_t *cpus = json_object_get(cfg, "cpus");
    int cpus_soft = !json_is_true(json_object_get(cfg, "cpus_explicit"));
    if (!cpus || json_is_number(cpus)) {
        long long millis = cpus ? (long long) (json_number_value(cpus) * 1000 + 0.5) : 1000;
        snprintf(v, sizeof(v), "%s%lld", cpus_soft ? "~" : "", millis);
        bl_conf_put(c, BL_CONF_cpus, v);
    }
    json_int_t pids = json_integer_value(json_object_get(cfg, "pids_limit"));
    if (pids > 0) {
        snprintf(v, sizeof(v), "%lld", (long long) pids);
        bl_conf_put(c, BL_CONF_pids, v);
    }
}

/* `stdio` set: this start's client holds the box (a foreground run); otherwise the box runs on
 * its own, whatever the box was created as (a stopped `run` box restarted by `start`). */
int bl_box_write_shim_conf(struct boxlite_runtime *rt, struct boxlite_box *b, const int *stdio,
                           bl_error **err)
{
    int attached = stdio != NULL;
    _cleanup_(bl_conf_buf_done) struct bl_conf_buf c = BL_CONF_BUF_NULL;
    _cleanup_free_ char *box_dir = bl_asprintf("%s/boxes/%s", rt->home, b->id);
    if (!box_dir)
        return bl_oom(err);
    json_t *cfg = b->config;
    bl_conf_put(&c, BL_CONF_id, b->id);
    bl_conf_put(&c, BL_CONF_hostname, b->id);
    size_t i;
    json_t *e;
    const char *rootfs = json_string_value(json_object_get(cfg, "rootfs"));
    if (rootfs)
        bl_conf_put(&c, BL_CONF_layer, rootfs);
    json_array_foreach(json_object_get(cfg, "layers"), i, e)
    {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/images/layers/%s", rt->home,
                 bl_digest_hex(json_string_value(e)));
        bl_conf_put(&c, BL_CONF_layer, p);
    }
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/rootfs/upper", box_dir);
    bl_conf_put(&c, BL_CONF_upper, p);
    snprintf(p, sizeof(p), "%s/rootfs/work", box_dir);
    bl_conf_put(&c, BL_CONF_work, p);
    snprintf(p, sizeof(p), "%s/rootfs/merged", box_dir);
    bl_conf_put(&c, BL_CONF_merged, p);
    json_array_foreach(json_object_get(cfg, "args"), i, e)
        bl_conf_put(&c, BL_CONF_arg, json_string_value(e));
    json_array_foreach(json_object_get(cfg, "env"), i, e)
        bl_conf_put(&c, BL_CONF_env, json_string_value(e));
    bl_conf_put(&c, BL_CONF_cwd, json_string_value(json_object_get(cfg, "workdir")));
    bl_conf_put(&c, BL_CONF_user, json_string_value(json_object_get(cfg, "user")));
    const char *caps = json_string_value(json_object_get(cfg, "caps"));
    bl_conf_put(&c, BL_CONF_caps, caps);
    _cleanup_free_ char *cache = bl_asprintf("%s/cache", rt->home);
    _cleanup_free_ char *bpf = NULL;
    if (!cache)
        return bl_oom(err);
    uint64_t capset;
    if (bl_parse_u64_base(caps, 16, &capset) < 0)
        return bl_err(err, -EINVAL, "box %s: bad capability set in its config", b->id);
    int r = bl_seccomp_profile(cache, capset, &bpf, err);
    if (r < 0)
        return r;
    bl_conf_put(&c, BL_CONF_seccomp, bpf);
    bl_conf_put(&c, BL_CONF_init, json_is_true(json_object_get(cfg, "init")) ? "1" : "0");
    bl_conf_put(&c, BL_CONF_detach, attached ? "0" : "1");
    conf_put_limits(&c, cfg);
    conf_put_volumes(&c, json_object_get(cfg, "volumes"));
    /* size at which logs/console.log rotates (the shim's default: 8 MiB) */
    const char *log_max = getenv("BOXLITE_LOG_MAX_BYTES");
    if (log_max && *log_max && strspn(log_max, "0123456789") == strlen(log_max))
        bl_conf_put(&c, BL_CONF_log_max, log_max);
    if (attached && json_is_true(json_object_get(cfg, "tty"))) {
        bl_conf_put(&c, BL_CONF_tty, "1");
        struct winsize ws;
        if (ioctl(stdio[0], TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
            char n[16];
            snprintf(n, sizeof(n), "%u", ws.ws_row);
            bl_conf_put(&c, BL_CONF_tty_rows, n);
            snprintf(n, sizeof(n), "%u", ws.ws_col);
            bl_conf_put(&c, BL_CONF_tty_cols, n);
        }
    }
    char cg[64];
    snprintf(cg, sizeof(cg), "boxlite-%s", b->id);
    bl_conf_put(&c, BL_CONF_cgroup, cg);
    if (rt->idmap.range) {
        _cleanup_free_ char *spec = bl_idmap_spec(&rt->idmap);
        if (!spec)
            return bl_oom(err);
        bl_conf_put(&c, BL_CONF_idmap, spec);
        bl_conf_put(&c, BL_CONF_newuidmap, rt->idmap.newuidmap);
        bl_conf_put(&c, BL_CONF_newgidmap, rt->idmap.newgidmap);
    }
    r = bl_box_net_shim_conf(cfg, conf_put_cb, &c, err);
    if (r < 0)
        return r;
    if (c.err == -ENOMEM)
        return bl_oom(err);
    if (c.err < 0)
        return bl_err(err, c.err, "box %s: a value of shim.conf is missing or malformed", b->id);
    return bl_write_file_atomic_at(b->dir_fd, "shim.conf", c.data, c.len, 0600, err);
}

int bl_shim_parse_status(const char *s)
{
    int v;
    return bl_parse_int(s, 0, 255 + 128, &v) == 0 ? v : 125;
}

int bl_shim_spawn(struct boxlite_runtime *rt, struct boxlite_box *b, const char *mode,
                  const int *stdio, int flags, struct bl_proc *ret_proc, int *ret_chan,
                  bl_error **err)
{
    const char *shim = NULL;
    int r = bl_runtime_shim_path(rt, &shim, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *box_dir = bl_asprintf("%s/boxes/%s", rt->home, b->id);
    if (!box_dir)
        return bl_oom(err);
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
        return bl_err_errno(err, "cannot create socket pair");
    _cleanup_close_ int chan = sp[0], chan_child = sp[1];
    char *argv[4] = {(char *) shim, box_dir, NULL, NULL};
    if (mode) {
        argv[1] = (char *) mode;
        argv[2] = box_dir;
    }
    int fds[4] = {stdio ? stdio[0] : -1, stdio ? stdio[1] : -1, stdio ? stdio[2] : -1, chan_child};
    _cleanup_proc_ struct bl_proc proc = BL_PROC_NULL;
    r = bl_proc_spawn(argv, fds, 4, flags, &proc, err);
    if (r < 0)
        return r;
    *ret_proc = TAKE_PROC(proc);
    *ret_chan = TAKE_FD(chan);
    return 0;
}
