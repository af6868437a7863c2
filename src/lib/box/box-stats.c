/* SPDX-License-Identifier: MIT */
/* Resource usage of a running box: one `stats` request to its shim (docs/design/shim-protocol.md),
 * which reads the box's cgroups and its view of /proc/net. */
#include <stdio.h>
#include <string.h>

#include "box-internal.h"
#include "box-lifecycle.h"
#include "parse-util.h"
#include "shim-proto.h"

static int64_t value(const struct bl_msg *m, const char *key)
{
    size_t k = strlen(key);
    for (size_t i = 1; i < m->n; i++) {
        const char *f = m->field[i];
        if (strncmp(f, key, k) != 0 || f[k] != '=')
            continue;
        int64_t v;
        return bl_parse_i64(f + k + 1, &v) == 0 && v >= 0 ? v : -1;
    }
    return -1;
}

BOXLITE_API int boxlite_box_stats_get(boxlite_runtime *rt, boxlite_box *b, boxlite_box_stats *ret,
                                      boxlite_error **err)
{
    if (!rt || !b || !ret)
        return bl_err(err, -EINVAL, "invalid arguments");
    int r = bl_box_start_on_demand(rt, b, "metrics", err);
    if (r < 0)
        return r;
    _cleanup_(bl_msg_freep) struct bl_msg *m = bl_msg_new();
    if (!m)
        return bl_oom(err);
    const char *req[] = {"stats"};
    r = bl_msg_call(b->dir_fd, req, 1, m, err);
    if (r < 0)
        return r == -ECONNREFUSED || r == -ENOENT
                   ? bl_err_prefix(err, -ESRCH, "box %s is not running", b->id)
                   : r;
    if (m->n < 1 || strcmp(m->field[0], "stats") != 0)
        return bl_err(err, -EPROTO, "box %s: unexpected reply from the shim", b->id);
    int64_t boot_us = value(m, "boot_us");
    *ret = (boxlite_box_stats){
        .version = BOXLITE_BOX_STATS_VERSION,
        .time_ns = value(m, "time_ns"),
        .cpu_ns = value(m, "cpu_ns"),
        .memory_bytes = value(m, "memory"),
        .memory_limit = value(m, "memory_limit"),
        .pids = value(m, "pids"),
        .pids_limit = value(m, "pids_limit"),
        .block_read_bytes = value(m, "blk_read"),
        .block_write_bytes = value(m, "blk_write"),
        .net_rx_bytes = value(m, "net_rx"),
        .net_tx_bytes = value(m, "net_tx"),
        .tcp_connections = value(m, "tcp_conns"),
        .tcp_errors = value(m, "tcp_errors"),
        .execs = value(m, "execs"),
        .exec_errors = value(m, "exec_errors"),
        .boot_ms = boot_us < 0 ? -1 : boot_us / 1000,
    };
    for (size_t i = 1; i < m->n; i++)
        if (!strncmp(m->field[i], "ip=", 3))
            snprintf(ret->ip_address, sizeof(ret->ip_address), "%s", m->field[i] + 3);
    return 0;
}
