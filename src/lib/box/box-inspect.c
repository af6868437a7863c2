/* SPDX-License-Identifier: MIT */
/* `inspect`: a box's record and config as upstream's JSON. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "box-net.h"
#include "box-records.h"
#include "runtime.h"

BOXLITE_API int boxlite_box_inspect(boxlite_runtime *rt, boxlite_box *b, char **ret_json,
                                    boxlite_error **err)
{
    int r = bl_box_reload(rt, b, err);
    if (r < 0)
        return r;
    char created[80];
    time_t secs = (time_t) (b->created_ns / 1000000000);
    struct tm tm;
    size_t n = strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%S", gmtime_r(&secs, &tm));
    snprintf(created + n, sizeof(created) - n, ".%09lld+00:00",
             (long long) (b->created_ns % 1000000000));
    int running = !strcmp(b->status, "running");
    json_t *cfg = b->config;
    /* limits as the box runs with them: 0 = none; records older than limits have defaults */
    json_t *jm = json_object_get(cfg, "memory_mib"), *jc = json_object_get(cfg, "cpus");
    json_int_t memory = !jm ? (json_int_t) 1073741824 : json_integer_value(jm) * 1048576;
    double cpus = !jc ? 1.0 : json_number_value(jc);
    json_t *cpus_j =
        cpus == (double) (json_int_t) cpus ? json_integer((json_int_t) cpus) : json_real(cpus);
    json_t *mounts = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(cfg, "volumes"), i, v) json_array_append_new(
        mounts,
        json_pack("{s:s,s:O,s:O,s:b}", "Type",
                  json_is_true(json_object_get(v, "anonymous")) ? "volume" : "bind", "Source",
                  json_object_get(v, "source"), "Destination", json_object_get(v, "target"), "RW",
                  !json_is_true(json_object_get(v, "ro"))));
    json_t *net = NULL;
    r = bl_box_net_inspect(b, &net, err);
    if (r < 0) {
        json_decref(mounts);
        json_decref(cpus_j);
        return r;
    }
    _cleanup_json_ json_t *o = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:{s:s,s:b,s:i,s:i},s:o,s:I,s:I,s:b,s:o,s:o,s:O,s:O,s:O,s:O,s:O,"
        "s:O}",
        "Id", b->id, "Name", b->name ? b->name : "", "Image", boxlite_box_image(b), "Created",
        created, "Status", b->status, "State", "Status", b->status, "Running", running, "Pid",
        running ? b->pid : 0, "ExitCode", b->exit_code, "Cpus", cpus_j, "Memory", memory,
        "PidsLimit", json_integer_value(json_object_get(cfg, "pids_limit")), "Tty",
        json_is_true(json_object_get(cfg, "tty")), "Mounts", mounts, "NetworkSettings", net,
        "Entrypoint", json_object_get(cfg, "args"), "Env", json_object_get(cfg, "env"),
        "WorkingDir", json_object_get(cfg, "workdir"), "User", json_object_get(cfg, "user"),
        "AutoRemove", json_object_get(cfg, "auto_remove"), "Detach",
        json_object_get(cfg, "detach"));
    if (!o)
        return bl_oom(err);
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!s)
        return bl_oom(err);
    *ret_json = s;
    return 0;
}
