/* SPDX-License-Identifier: MIT */
/*
 * The routes of `boxlite serve` (spec/cli.md §8.3 and the newest upstream OpenAPI, see
 * docs/design/serve.md): the route table, /v1/config, /v1/me, /v1/metrics, boxes list,
 * create, get, delete, start, stop and metrics, and the non-detached boxes the server owns.
 * Each handler is a thin call into the public API with a runtime handle of the pool.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc-util.h"
#include "json-util.h"
#include "server.h"
#include "strv.h"

BL_DEFINE_CLEANUP_FUNC(boxlite_box *, boxlite_box_free)

/* A runtime handle of the pool, given back at the end of the scope. */
struct lease {
    struct rtpool *pool;
    boxlite_runtime *rt;
};
static void lease_done(struct lease *l)
{
    if (l->rt)
        rtpool_put(l->pool, l->rt);
}
#define _cleanup_lease_ _cleanup_(lease_done)

/* Takes a handle; 0, or -1 with a reply queued in *reply. */
static int lease_get(struct http_req *q, struct lease *l, enum MHD_Result *reply)
{
    boxlite_error *e = NULL;
    l->pool = &q->srv->pool;
    if (rtpool_get(l->pool, &l->rt, &e) < 0) {
        *reply = serve_reply_lib_error(q, e);
        return -1;
    }
    return 0;
}

static enum MHD_Result bad_arg(struct http_req *q, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum MHD_Result bad_arg(struct http_req *q, unsigned status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    (void) vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return serve_reply_error(q, status, "InvalidArgumentError", "invalid_argument", "%s", msg);
}

/* The box `id` names (id, name or unique prefix); 0, or -1 with a reply queued. */
static int lookup(struct http_req *q, boxlite_runtime *rt, const char *id, boxlite_box **ret,
                  enum MHD_Result *reply)
{
    boxlite_error *e = NULL;
    if (boxlite_box_lookup(rt, id, ret, &e) == 0)
        return 0;
    if (boxlite_error_code(e) == -ENOENT) {
        boxlite_error_free(e);
        *reply = serve_reply_error(q, 404, "NotFoundError", "not_found", "box not found: %s", id);
    } else
        *reply = serve_reply_lib_error(q, e);
    return -1;
}

static void rfc3339(int64_t ns, char out[static 40])
{
    time_t secs = (time_t) (ns / 1000000000);
    struct tm tm;
    size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", gmtime_r(&secs, &tm));
    snprintf(out + n, 40 - n, ".%03dZ", (int) (ns % 1000000000 / 1000000));
}

/* The box's configuration as `inspect` gives it (cpus, memory, detach, auto-remove). */
static int inspect(boxlite_runtime *rt, boxlite_box *box, json_t **ret, boxlite_error **err)
{
    char *s = NULL;
    int r = boxlite_box_inspect(rt, box, &s, err);
    if (r < 0)
        return r;
    json_t *o = json_loads(s, 0, NULL);
    boxlite_free(s);
    if (!o)
        return -ENOMEM;
    *ret = o;
    return 0;
}

/* BoxResponse (spec §8.3, with the newest OpenAPI's fields). */
static int box_json(boxlite_runtime *rt, boxlite_box *box, json_t **ret, boxlite_error **err)
{
    _cleanup_json_ json_t *ins = NULL;
    int r = inspect(rt, box, &ins, err);
    if (r < 0)
        return r;
    char created[40];
    rfc3339(boxlite_box_created_ns(box), created);
    const char *status = boxlite_box_status(box), *name = boxlite_box_name(box);
    int running = !strcmp(status, "running");
    double cpus = json_number_value(json_object_get(ins, "Cpus"));
    json_int_t mem = json_integer_value(json_object_get(ins, "Memory"));
    /* the wire has whole CPUs (upstream: u8); a fraction is rounded up */
    json_int_t cpus_i = cpus > 0 ? (json_int_t) ceil(cpus) : 0;
    json_t *o = json_pack(
        "{s:s,s:o,s:s,s:s,s:s,s:o,s:s,s:I,s:I,s:{},s:i,s:i,s:b,s:i,s:b}", "box_id",
        boxlite_box_id(box), "name", *name ? json_string(name) : json_null(), "status", status,
        "created_at", created, "updated_at", created, "pid",
        running ? json_integer(boxlite_box_pid(box)) : json_null(), "image",
        boxlite_box_image(box), "cpus", cpus_i, "memory_mib",
        (json_int_t) (mem > 0 ? mem / 1048576 : 0), "labels", "auto_stop", 0, "auto_delete",
        json_is_true(json_object_get(ins, "AutoRemove")) ? 1 : 0, "auto_resume", 0, "auto_pause",
        0, "detach", json_is_true(json_object_get(ins, "Detach")));
    if (!o)
        return -ENOMEM;
    if (!strcmp(status, "stopped") &&
        json_object_set_new(o, "exit_code", json_integer(boxlite_box_exit_code(box))) < 0) {
        json_decref(o);
        return -ENOMEM;
    }
    *ret = o;
    return 0;
}

static enum MHD_Result reply_box(struct http_req *q, unsigned status, boxlite_runtime *rt,
                                 boxlite_box *box)
{
    _cleanup_json_ json_t *o = NULL;
    boxlite_error *e = NULL;
    int r = box_json(rt, box, &o, &e);
    if (r < 0)
        return e ? serve_reply_lib_error(q, e)
                 : serve_reply_error(q, 500, "InternalError", "internal",
                                     "internal error: out of memory");
    return serve_reply_json(q, status, o);
}

/* ---- /v1/config, /v1/me, /v1/metrics ---------------------------------------------------------- */

static enum MHD_Result get_config(struct http_req *q, char **segs)
{
    (void) segs;
    /* what exists today; exec, attach and files come with the execution sessions, snapshots,
     * clone, export and import with the box-state work */
    _cleanup_json_ json_t *o = json_pack(
        "{s:{s:i,s:i},s:{s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b},s:[s,s,s,s,s,s,s,s,s,s]}",
        "defaults", "cpus", 1, "memory_mib", 1024, "capabilities", "linux_capabilities_enabled", 1,
        "snapshots_enabled", 0, "clone_enabled", 0, "export_enabled", 0, "import_enabled", 0,
        "tty_enabled", 0, "streaming_enabled", 0, "exec_enabled", 0, "files_enabled", 0,
        "attach_enabled", 0, "unsupported", "exec", "executions", "attach", "files", "snapshots",
        "clone", "export", "import", "volumes", "network tunnel");
    return serve_reply_json(q, 200, o);
}

static enum MHD_Result get_me(struct http_req *q, char **segs)
{
    (void) segs;
    /* serve has no tenants: both spellings of the prefix are null */
    _cleanup_json_ json_t *o = json_pack(
        "{s:s,s:s,s:s,s:s,s:n,s:n,s:[s,s,s,s],s:n}", "sub", "local-anonymous", "principal_type",
        "service_account", "email", "local@boxlite.local", "display_name", "Local development",
        "path_prefix", "prefix", "scopes", "box:read", "box:write", "box:delete", "me:read",
        "expires_at");
    return serve_reply_json(q, 200, o);
}

static enum MHD_Result get_metrics(struct http_req *q, char **segs)
{
    (void) segs;
    _cleanup_lease_ struct lease l = {0};
    enum MHD_Result reply;
    if (lease_get(q, &l, &reply) < 0)
        return reply;
    boxlite_box **list = NULL;
    size_t n = 0;
    boxlite_error *e = NULL;
    if (boxlite_box_list(l.rt, /* all= */ 0, &list, &n, &e) < 0)
        return serve_reply_lib_error(q, e);
    boxlite_box_list_free(list, n);
    struct server *s = q->srv;
    _cleanup_json_ json_t *o = json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:I}", "boxes_created_total", (json_int_t) s->boxes_created,
        "boxes_failed_total", (json_int_t) s->boxes_failed, "boxes_stopped_total",
        (json_int_t) s->boxes_stopped, "num_running_boxes", (json_int_t) n,
        "total_commands_executed", (json_int_t) 0, "total_exec_errors", (json_int_t) 0);
    return serve_reply_json(q, 200, o);
}

/* ---- boxes ------------------------------------------------------------------------------------ */

static enum MHD_Result list_boxes(struct http_req *q, char **segs)
{
    (void) segs;
    _cleanup_lease_ struct lease l = {0};
    enum MHD_Result reply;
    if (lease_get(q, &l, &reply) < 0)
        return reply;
    boxlite_box **list = NULL;
    size_t n = 0;
    boxlite_error *e = NULL;
    if (boxlite_box_list(l.rt, /* all= */ 1, &list, &n, &e) < 0)
        return serve_reply_lib_error(q, e);
    _cleanup_json_ json_t *arr = json_array();
    int r = arr ? 0 : -ENOMEM;
    for (size_t i = 0; r == 0 && i < n; i++) {
        json_t *b = NULL;
        r = box_json(l.rt, list[i], &b, &e);
        if (r == -ENOENT) { /* removed meanwhile */
            boxlite_error_free(e);
            e = NULL;
            r = 0;
            continue;
        }
        if (r == 0 && json_array_append_new(arr, b) < 0)
            r = -ENOMEM;
    }
    boxlite_box_list_free(list, n);
    if (r < 0)
        return e ? serve_reply_lib_error(q, e)
                 : serve_reply_error(q, 500, "InternalError", "internal",
                                     "internal error: out of memory");
    _cleanup_json_ json_t *o = json_pack("{s:O,s:n}", "boxes", arr, "next_page_token");
    return serve_reply_json(q, 200, o);
}

/* What a create request holds beyond borrowed strings of its body. */
struct create_args {
    char **cmd, **env, **cap_add, **cap_drop, **allow_net;
};
static void create_args_done(struct create_args *a)
{
    bl_strv_free(a->cmd);
    bl_strv_free(a->env);
    bl_strv_free(a->cap_add);
    bl_strv_free(a->cap_drop);
    bl_strv_free(a->allow_net);
}

/* A field that must be an array of strings, appended to *l; 0 or -1 with a reply queued. */
static int str_array(struct http_req *q, json_t *v, const char *field, char ***l,
                     enum MHD_Result *reply)
{
    size_t i;
    json_t *e;
    if (!json_is_array(v)) {
        *reply = bad_arg(q, 422, "invalid type for `%s`: expected an array of strings", field);
        return -1;
    }
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e)) {
            *reply = bad_arg(q, 422, "invalid type for `%s`: expected an array of strings", field);
            return -1;
        }
        if (bl_strv_push(l, json_string_value(e)) < 0) {
            *reply = serve_reply_error(q, 500, "InternalError", "internal",
                                       "internal error: out of memory");
            return -1;
        }
    }
    return 0;
}

static int want_string(struct http_req *q, json_t *v, const char *field, const char **ret,
                       enum MHD_Result *reply)
{
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        *reply = bad_arg(q, 422, "invalid type for `%s`: expected a string", field);
        return -1;
    }
    *ret = json_string_value(v);
    return 0;
}

static int want_number(struct http_req *q, json_t *v, const char *field, double min, double max,
                       double *ret, enum MHD_Result *reply)
{
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v)) {
        *reply = bad_arg(q, 422, "invalid type for `%s`: expected a number", field);
        return -1;
    }
    double d = json_number_value(v);
    if (!(d >= min && d <= max)) {
        *reply = bad_arg(q, 400, "invalid value for `%s`: %g is not in [%g, %g]", field, d, min,
                         max);
        return -1;
    }
    *ret = d;
    return 0;
}

static int want_bool(struct http_req *q, json_t *v, const char *field, int *ret,
                     enum MHD_Result *reply)
{
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v)) {
        *reply = bad_arg(q, 422, "invalid type for `%s`: expected a boolean", field);
        return -1;
    }
    *ret = json_is_true(v);
    return 0;
}

static int want_mode(struct http_req *q, json_t *v, const char *field, const char **ret,
                     enum MHD_Result *reply)
{
    const char *m = NULL;
    if (want_string(q, v, field, &m, reply) < 0)
        return -1;
    if (m && strcmp(m, "enabled") != 0 && strcmp(m, "disabled") != 0) {
        *reply = bad_arg(q, 400, "invalid network spec: `%s` must be \"enabled\" or \"disabled\"",
                         field);
        return -1;
    }
    if (m)
        *ret = m;
    return 0;
}

/* An object whose keys must all be in `known` (NULL-terminated); 0 or -1 with a 422 queued. */
static int known_keys(struct http_req *q, json_t *o, const char *where, const char *const *known,
                      enum MHD_Result *reply)
{
    const char *k;
    json_t *v;
    if (!json_is_object(o)) {
        *reply = bad_arg(q, 422, "invalid type for `%s`: expected an object", where);
        return -1;
    }
    json_object_foreach(o, k, v)
    {
        size_t i = 0;
        while (known[i] && strcmp(known[i], k) != 0)
            i++;
        if (!known[i]) {
            *reply = bad_arg(q, 422, "unknown field `%s` in %s", k, where);
            return -1;
        }
    }
    return 0;
}

/*
 * The network spec, in either shape: the old flat {"mode","allow_net"} (spec §8.3) or the newest
 * OpenAPI's {"outbound":{"mode","allow_net"},"inbound":{"mode","allow_net"}}; both at once is
 * refused. Outbound is the box's network; inbound (a cloud proxy's) is accepted when it asks
 * for nothing we would have to publish.
 */
static int parse_network(struct http_req *q, json_t *net, boxlite_box_opts *bo,
                         struct create_args *a, enum MHD_Result *reply)
{
    static const char *const keys[] = {"mode", "allow_net", "outbound", "inbound", NULL};
    static const char *const dir_keys[] = {"mode", "allow_net", NULL};
    if (!net || json_is_null(net))
        return 0;
    if (known_keys(q, net, "network", keys, reply) < 0)
        return -1;
    json_t *out = json_object_get(net, "outbound"), *in = json_object_get(net, "inbound");
    int flat = json_object_get(net, "mode") || json_object_get(net, "allow_net");
    if (flat && (out || in)) {
        *reply = bad_arg(q, 400,
                         "invalid network spec: give either `mode`/`allow_net` or "
                         "`outbound`/`inbound`, not both");
        return -1;
    }
    json_t *spec = flat ? net : out;
    if (in && !json_is_null(in)) {
        const char *m = NULL;
        if (known_keys(q, in, "network.inbound", dir_keys, reply) < 0 ||
            want_mode(q, json_object_get(in, "mode"), "network.inbound.mode", &m, reply) < 0)
            return -1;
        json_t *al = json_object_get(in, "allow_net");
        if (al && !json_is_null(al) && (!json_is_array(al) || json_array_size(al) > 0)) {
            *reply = bad_arg(q, 400,
                             "invalid network spec: `network.inbound.allow_net` is not supported "
                             "by this server (it must be empty)");
            return -1;
        }
    }
    if (!spec || json_is_null(spec))
        return 0;
    const char *where = flat ? "network" : "network.outbound";
    if (!flat && known_keys(q, spec, where, dir_keys, reply) < 0)
        return -1;
    char field[64];
    snprintf(field, sizeof(field), "%s.mode", flat ? "network" : "network.outbound");
    if (want_mode(q, json_object_get(spec, "mode"), field, &bo->network, reply) < 0)
        return -1;
    json_t *al = json_object_get(spec, "allow_net");
    if (al && !json_is_null(al)) {
        snprintf(field, sizeof(field), "%s.allow_net", where);
        if (str_array(q, al, field, &a->allow_net, reply) < 0)
            return -1;
        if (a->allow_net && bo->network && !strcmp(bo->network, "disabled")) {
            *reply = bad_arg(q, 400, "invalid network spec: `allow_net` needs mode \"enabled\"");
            return -1;
        }
        bo->allow_net = (const char *const *) a->allow_net;
    }
    return 0;
}

/* The create body into box options (strings borrowed from `body`); 0 or -1 with a reply. */
static int parse_create(struct http_req *q, json_t *body, boxlite_box_opts *bo,
                        struct create_args *a, enum MHD_Result *reply)
{
    static const char *const keys[] = {
        "name",    "image",   "rootfs_path", "cpus",       "memory_mib",  "disk_size_gb",
        "working_dir", "env", "entrypoint",  "cmd",        "user",        "tty",
        "advanced", "network", "auto_pause", "auto_stop",  "auto_delete", "auto_resume",
        "detach",  "volumes", "secrets",     NULL};
    if (known_keys(q, body, "the request body", keys, reply) < 0)
        return -1;
    if (want_string(q, json_object_get(body, "name"), "name", &bo->name, reply) < 0 ||
        want_string(q, json_object_get(body, "image"), "image", &bo->image, reply) < 0 ||
        want_string(q, json_object_get(body, "rootfs_path"), "rootfs_path", &bo->rootfs, reply) <
            0 ||
        want_string(q, json_object_get(body, "working_dir"), "working_dir", &bo->workdir, reply) <
            0 ||
        want_string(q, json_object_get(body, "user"), "user", &bo->user, reply) < 0 ||
        want_bool(q, json_object_get(body, "tty"), "tty", &bo->tty, reply) < 0 ||
        want_bool(q, json_object_get(body, "detach"), "detach", &bo->detach, reply) < 0)
        return -1;
    if (bo->image && bo->rootfs) {
        *reply = bad_arg(q, 400, "give `image` or `rootfs_path`, not both");
        return -1;
    }
    if (!bo->image && !bo->rootfs)
        bo->image = "alpine:latest";
    double cpus = 0, mem = 0, disk = 0, auto_del = 0, auto_stop = 0, auto_pause = 0;
    int resume = 0;
    if (want_number(q, json_object_get(body, "cpus"), "cpus", 1, 255, &cpus, reply) < 0 ||
        want_number(q, json_object_get(body, "memory_mib"), "memory_mib", 1, 4294967295.0, &mem,
                    reply) < 0 ||
        want_number(q, json_object_get(body, "disk_size_gb"), "disk_size_gb", 1, 1e9, &disk,
                    reply) < 0 ||
        want_number(q, json_object_get(body, "auto_delete"), "auto_delete", 0, 1e12, &auto_del,
                    reply) < 0 ||
        want_number(q, json_object_get(body, "auto_stop"), "auto_stop", 0, 1e12, &auto_stop,
                    reply) < 0 ||
        want_number(q, json_object_get(body, "auto_pause"), "auto_pause", 0, 1e12, &auto_pause,
                    reply) < 0 ||
        want_bool(q, json_object_get(body, "auto_resume"), "auto_resume", &resume, reply) < 0)
        return -1;
    if (auto_stop > 0 || auto_pause > 0) {
        *reply = serve_reply_error(q, 400, "UnsupportedError", "unsupported",
                                   "unsupported: `%s` (boxes are never stopped or paused when "
                                   "idle); send 0 or leave it out",
                                   auto_stop > 0 ? "auto_stop" : "auto_pause");
        return -1;
    }
    bo->cpus = cpus;
    bo->memory_mib = (int64_t) mem;
    /* auto_delete > 0: the box goes once it stops (only boxes the server owns: a detached box
     * outlives the server, and the library ignores it there) */
    bo->auto_remove = auto_del > 0;
    json_t *v = json_object_get(body, "env");
    if (v && !json_is_null(v)) {
        const char *k;
        json_t *ev;
        if (!json_is_object(v)) {
            *reply = bad_arg(q, 422, "invalid type for `env`: expected an object of strings");
            return -1;
        }
        json_object_foreach(v, k, ev)
        {
            if (!json_is_string(ev)) {
                *reply = bad_arg(q, 422, "invalid type for `env.%s`: expected a string", k);
                return -1;
            }
            if (!*k || strchr(k, '=')) {
                *reply = bad_arg(q, 400, "invalid environment variable name `%s`", k);
                return -1;
            }
            if (bl_strv_consume(&a->env, bl_asprintf("%s=%s", k, json_string_value(ev))) < 0) {
                *reply = serve_reply_error(q, 500, "InternalError", "internal",
                                           "internal error: out of memory");
                return -1;
            }
        }
        bo->env = (const char *const *) a->env;
    }
    /* entrypoint [E, A...]: E replaces the image's ENTRYPOINT and A... go in front of CMD, so
     * that the box runs E A... CMD...; [] clears the ENTRYPOINT */
    v = json_object_get(body, "entrypoint");
    if (v && !json_is_null(v)) {
        _cleanup_strv_free_ char **ep = NULL;
        if (str_array(q, v, "entrypoint", &ep, reply) < 0)
            return -1;
        for (size_t i = 1; ep && ep[i]; i++)
            if (bl_strv_push(&a->cmd, ep[i]) < 0) {
                *reply = serve_reply_error(q, 500, "InternalError", "internal",
                                           "internal error: out of memory");
                return -1;
            }
        /* borrowed from the body, which outlives the create */
        bo->entrypoint = ep && ep[0] ? json_string_value(json_array_get(v, 0)) : "";
    }
    v = json_object_get(body, "cmd");
    if (v && !json_is_null(v) && str_array(q, v, "cmd", &a->cmd, reply) < 0)
        return -1;
    if (a->cmd)
        bo->cmd = (const char *const *) a->cmd;
    v = json_object_get(body, "advanced");
    if (v && !json_is_null(v)) {
        static const char *const adv_keys[] = {"capabilities", NULL};
        static const char *const cap_keys[] = {"add", "drop", NULL};
        if (known_keys(q, v, "advanced", adv_keys, reply) < 0)
            return -1;
        json_t *c = json_object_get(v, "capabilities");
        if (c && !json_is_null(c)) {
            if (known_keys(q, c, "advanced.capabilities", cap_keys, reply) < 0)
                return -1;
            json_t *add = json_object_get(c, "add"), *drop = json_object_get(c, "drop");
            if ((add && !json_is_null(add) &&
                 str_array(q, add, "advanced.capabilities.add", &a->cap_add, reply) < 0) ||
                (drop && !json_is_null(drop) &&
                 str_array(q, drop, "advanced.capabilities.drop", &a->cap_drop, reply) < 0))
                return -1;
            bo->cap_add = (const char *const *) a->cap_add;
            bo->cap_drop = (const char *const *) a->cap_drop;
        }
    }
    static const char *const unsupported[] = {"volumes", "secrets"};
    for (size_t i = 0; i < ELEMENTSOF(unsupported); i++) {
        v = json_object_get(body, unsupported[i]);
        if (!v || json_is_null(v))
            continue;
        if (!json_is_array(v)) {
            *reply = bad_arg(q, 422, "invalid type for `%s`: expected an array", unsupported[i]);
            return -1;
        }
        if (json_array_size(v) > 0) {
            *reply = serve_reply_error(q, 400, "UnsupportedError", "unsupported",
                                       "unsupported: `%s` (%s)", unsupported[i],
                                       i == 0 ? "managed volumes do not exist yet"
                                              : "there is no secret proxy");
            return -1;
        }
    }
    return parse_network(q, json_object_get(body, "network"), bo, a, reply);
}

static enum MHD_Result create_box(struct http_req *q, char **segs)
{
    (void) segs;
    _cleanup_json_ json_t *body = NULL;
    enum MHD_Result reply;
    if (serve_body_json(q, &body, &reply) < 0)
        return reply;
    boxlite_box_opts bo;
    boxlite_box_opts_init(&bo);
    _cleanup_(create_args_done) struct create_args a = {0};
    if (parse_create(q, body, &bo, &a, &reply) < 0)
        return reply;
    _cleanup_lease_ struct lease l = {0};
    if (lease_get(q, &l, &reply) < 0)
        return reply;
    _cleanup_(boxlite_box_freep) boxlite_box *box = NULL;
    boxlite_error *e = NULL;
    if (boxlite_box_create(l.rt, &bo, &box, &e) < 0) {
        q->srv->boxes_failed++;
        int c = boxlite_error_code(e);
        if (c == -ENOENT || c == -EPROTO) { /* the image: missing, or its pull failed */
            enum MHD_Result r = serve_reply_error(q, 422, "ImageError", "image_pull_failed", "%s",
                                                  boxlite_error_message(e));
            boxlite_error_free(e);
            return r;
        }
        return serve_reply_lib_error(q, e);
    }
    q->srv->boxes_created++;
    return reply_box(q, 201, l.rt, box);
}

static enum MHD_Result get_box(struct http_req *q, char **segs)
{
    _cleanup_lease_ struct lease l = {0};
    enum MHD_Result reply;
    if (lease_get(q, &l, &reply) < 0)
        return reply;
    _cleanup_(boxlite_box_freep) boxlite_box *box = NULL;
    if (lookup(q, l.rt, segs[1], &box, &reply) < 0)
        return reply;
    return reply_box(q, 200, l.rt, box);
}

static enum MHD_Result head_box(struct http_req *q, char **segs)
{
    _cleanup_lease_ struct lease l = {0};
    enum MHD_Result reply;
    if (lease_get(q, &l, &reply) < 0)
        return reply;
    _cleanup_(boxlite_box_freep) boxlite_box *box = NULL;
    boxlite_error *e = NULL;
    int r = boxlite_box_lookup(l.rt, segs[1], &box, &e);
    if (r == -ENOENT) {
        boxlite_error_free(e);
        return serve_reply_empty(q, 404);
    }
    if (r < 0)
        return serve_reply_lib_error(q, e);
    return serve_reply_empty(q, 204);
}

static enum MHD_Result delete_box(struct http_req *q, char **segs)
{
    /* `force` defaults to false, as in the newest OpenAPI (the old serve defaulted to true) */
    const char *f = serve_query(q, "force");
    int force = 0;
    if (f && (!strcmp(f, "true") || !strcmp(f, "1")))
        force = 1;
    else if (f && strcmp(f, "false") != 0 && strcmp(f, "0") != 0)
        return bad_arg(q, 400, "invalid value for `force`: expected true or false");
    _cleanup_lease_ struct lease l = {0};
    enum MHD_Result reply;
    if (lease_get(q, &l, &reply) < 0)
        return reply;
    _cleanup_(boxlite_box_freep) boxlite_box *box = NULL;
    if (lookup(q, l.rt, segs[1], &box, &reply) < 0)
        return reply;
    boxlite_error *e = NULL;
    if (boxlite_box_remove(l.rt, box, force, &e) < 0)
        return serve_reply_lib_error(q, e);
    return serve_reply_empty(q, 204);
}

/* ---- the boxes the server owns ----------------------------------------------------------------- */

static void owned_free(struct owned_box *ob)
{
    if (!ob)
        return;
    boxlite_box_free(ob->box);
    boxlite_runtime_free(ob->rt);
    for (int i = 0; i < 3; i++)
        if (ob->stdio[i] >= 0)
            (void) close(ob->stdio[i]);
    if (ob->stdin_w >= 0)
        (void) close(ob->stdin_w);
    free(ob->id);
    free(ob);
}
BL_DEFINE_CLEANUP_FUNC(struct owned_box *, owned_free)

static void *owned_wait(void *arg)
{
    struct owned_box *ob = arg;
    struct server *s = ob->srv;
    int status = 0;
    boxlite_error *e = NULL;
    (void) boxlite_box_wait(ob->rt, ob->box, /* sigfd= */ -1, &status, &e);
    boxlite_error_free(e);
    s->boxes_stopped++;
    pthread_mutex_lock(&s->owned_lock);
    for (struct owned_box **p = &s->owned; *p; p = &(*p)->next)
        if (*p == ob) {
            *p = ob->next;
            break;
        }
    pthread_cond_broadcast(&s->owned_cond);
    pthread_mutex_unlock(&s->owned_lock);
    owned_free(ob);
    return NULL;
}

/*
 * Start a non-detached box: attached to this process (it dies with the server, even a
 * SIGKILLed one, spec deviation 6), with a handle of its own that a thread waits with until
 * PID 1 exits. PID 1's stdin is a pipe that stays open, its output goes nowhere for now (the
 * attach route will own both).
 */
static int start_owned(struct server *s, const char *id, boxlite_error **err)
{
    _cleanup_(owned_freep) struct owned_box *ob = bl_calloc(1, sizeof(*ob));
    if (!ob)
        return -ENOMEM;
    ob->srv = s;
    ob->stdio[0] = ob->stdio[1] = ob->stdio[2] = ob->stdin_w = -1;
    int r = s->pool.open(&ob->rt, err);
    if (r < 0)
        return r;
    r = boxlite_box_lookup(ob->rt, id, &ob->box, err);
    if (r < 0)
        return r;
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    ob->stdio[0] = p[0];
    ob->stdin_w = p[1];
    ob->stdio[1] = open("/dev/null", O_WRONLY | O_CLOEXEC);
    ob->stdio[2] = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (ob->stdio[1] < 0 || ob->stdio[2] < 0)
        return -errno;
    int status = 0;
    r = boxlite_box_start(ob->rt, ob->box, ob->stdio, &status, err);
    if (r < 0)
        return r;
    ob->id = bl_strdup(boxlite_box_id(ob->box));
    pthread_attr_t attr;
    pthread_t th;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&s->owned_lock);
    r = ob->id ? pthread_create(&th, &attr, owned_wait, ob) : ENOMEM;
    if (r == 0) {
        ob->next = s->owned;
        s->owned = TAKE_PTR(ob);
    }
    pthread_mutex_unlock(&s->owned_lock);
    pthread_attr_destroy(&attr);
    if (r != 0) {
        /* nobody would wait for it: stop it now */
        (void) boxlite_box_stop(ob->rt, ob->box, 0, NULL);
        return -r;
    }
    return 0;
}

static void *stop_one(void *arg)
{
    struct owned_box *ob = arg; /* a copy: id and srv only */
    boxlite_runtime *rt = NULL;
    boxlite_box *box = NULL;
    if (rtpool_get(&ob->srv->pool, &rt, NULL) == 0) {
        if (boxlite_box_lookup(rt, ob->id, &box, NULL) == 0)
            (void) boxlite_box_stop(rt, box, /* grace_seconds= */ 10, NULL);
        boxlite_box_free(box);
        rtpool_put(&ob->srv->pool, rt);
    }
    return NULL;
}

void serve_owned_stop_all(struct server *s)
{
    /* stop them all at once (each may take its grace time), from handles of the pool: the
     * threads waiting for them then return */
    struct owned_box copies[64];
    pthread_t th[64];
    int started[64] = {0};
    size_t n = 0;
    pthread_mutex_lock(&s->owned_lock);
    for (struct owned_box *ob = s->owned; ob && n < ELEMENTSOF(copies); ob = ob->next)
        copies[n++] = (struct owned_box){.srv = s, .id = bl_strdup(ob->id)};
    pthread_mutex_unlock(&s->owned_lock);
    for (size_t i = 0; i < n; i++)
        started[i] = copies[i].id && pthread_create(&th[i], NULL, stop_one, &copies[i]) == 0;
    for (size_t i = 0; i < n; i++) {
        if (started[i])
            pthread_join(th[i], NULL);
        else if (copies[i].id)
            stop_one(&copies[i]);
        free(copies[i].id);
    }
    /* the waiting threads finish the stop (status, --rm); more than 64 boxes: stopped in
     * rounds */
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 30;
    pthread_mutex_lock(&s->owned_lock);
    while (s->owned && n < ELEMENTSOF(copies) &&
           pthread_cond_timedwait(&s->owned_cond, &s->owned_lock, &deadline) == 0)
        ;
    int more = s->owned != NULL && n == ELEMENTSOF(copies);
    pthread_mutex_unlock(&s->owned_lock);
    if (more)
        serve_owned_stop_all(s);
}

static enum MHD_Result start_box(struct http_req *q, char **segs)
{
    _cleanup_lease_ struct lease l = {0};
    enum MHD_Result reply;
    if (lease_get(q, &l, &reply) < 0)
        return reply;
    _cleanup_(boxlite_box_freep) boxlite_box *box = NULL;
    if (lookup(q, l.rt, segs[1], &box, &reply) < 0)
        return reply;
    if (!strcmp(boxlite_box_status(box), "running")) /* idempotent */
        return reply_box(q, 200, l.rt, box);
    _cleanup_json_ json_t *ins = NULL;
    boxlite_error *e = NULL;
    int r = inspect(l.rt, box, &ins, &e);
    if (r == 0) {
        int status = 0;
        if (json_is_true(json_object_get(ins, "Detach")))
            r = boxlite_box_start(l.rt, box, /* stdio= */ NULL, &status, &e);
        else
            r = start_owned(q->srv, boxlite_box_id(box), &e);
        if (r < 0 && e && status >= 125) {
            /* the main command could not be started */
            q->srv->boxes_failed++;
            enum MHD_Result ret = serve_reply_error(q, 422, "ExecutionError", "execution_failed",
                                                    "%s", boxlite_error_message(e));
            boxlite_error_free(e);
            return ret;
        }
    }
    if (r < 0) {
        q->srv->boxes_failed++;
        return e ? serve_reply_lib_error(q, e)
                 : serve_reply_error(q, 500, "InternalError", "internal", "internal error: %s",
                                     strerror(-r));
    }
    boxlite_box_free(TAKE_PTR(box));
    if (lookup(q, l.rt, segs[1], &box, &reply) < 0)
        return reply;
    return reply_box(q, 200, l.rt, box);
}

static enum MHD_Result stop_box(struct http_req *q, char **segs)
{
    _cleanup_json_ json_t *body = NULL;
    enum MHD_Result reply;
    if (serve_body_json(q, &body, &reply) < 0)
        return reply;
    static const char *const keys[] = {"timeout_seconds", NULL};
    double timeout = 10;
    if (known_keys(q, body, "the request body", keys, &reply) < 0 ||
        want_number(q, json_object_get(body, "timeout_seconds"), "timeout_seconds", 0, 3600,
                    &timeout, &reply) < 0)
        return reply;
    _cleanup_lease_ struct lease l = {0};
    if (lease_get(q, &l, &reply) < 0)
        return reply;
    _cleanup_(boxlite_box_freep) boxlite_box *box = NULL;
    if (lookup(q, l.rt, segs[1], &box, &reply) < 0)
        return reply;
    _cleanup_free_ char *id = bl_strdup(boxlite_box_id(box));
    if (!id)
        return serve_reply_error(q, 500, "InternalError", "internal",
                                 "internal error: out of memory");
    _cleanup_json_ json_t *before = NULL;
    boxlite_error *e = NULL;
    if (box_json(l.rt, box, &before, &e) < 0)
        return e ? serve_reply_lib_error(q, e)
                 : serve_reply_error(q, 500, "InternalError", "internal",
                                     "internal error: out of memory");
    int was_running = !strcmp(boxlite_box_status(box), "running");
    if (boxlite_box_stop(l.rt, box, (int) ceil(timeout), &e) < 0)
        return serve_reply_lib_error(q, e);
    if (was_running)
        q->srv->boxes_stopped++;
    boxlite_box_free(TAKE_PTR(box));
    if (boxlite_box_lookup(l.rt, id, &box, &e) < 0) {
        /* an auto-removed box is gone once stopped: answer with what it was */
        boxlite_error_free(e);
        json_object_set_new(before, "status", json_string("stopped"));
        json_object_set_new(before, "pid", json_null());
        return serve_reply_json(q, 200, before);
    }
    return reply_box(q, 200, l.rt, box);
}

static enum MHD_Result box_metrics(struct http_req *q, char **segs)
{
    _cleanup_lease_ struct lease l = {0};
    enum MHD_Result reply;
    if (lease_get(q, &l, &reply) < 0)
        return reply;
    _cleanup_(boxlite_box_freep) boxlite_box *box = NULL;
    if (lookup(q, l.rt, segs[1], &box, &reply) < 0)
        return reply;
    boxlite_box_stats st;
    boxlite_error *e = NULL;
    if (boxlite_box_stats_get(l.rt, box, &st, &e) < 0)
        return serve_reply_lib_error(q, e);
    _cleanup_json_ json_t *o =
        json_pack("{s:I,s:I,s:I,s:I}", "commands_executed_total",
                  (json_int_t) (st.execs > 0 ? st.execs : 0), "exec_errors_total",
                  (json_int_t) (st.exec_errors > 0 ? st.exec_errors : 0), "bytes_sent_total",
                  (json_int_t) 0, "bytes_received_total", (json_int_t) 0);
    if (!o)
        return serve_reply_error(q, 500, "InternalError", "internal",
                                 "internal error: out of memory");
    /* the optional fields, when known */
    const struct {
        const char *key;
        int64_t v;
    } opt[] = {
        {"memory_bytes", st.memory_bytes},
        {"network_bytes_sent", st.net_tx_bytes},
        {"network_bytes_received", st.net_rx_bytes},
        {"network_tcp_connections", st.tcp_connections},
        {"network_tcp_errors", st.tcp_errors},
    };
    for (size_t i = 0; i < ELEMENTSOF(opt); i++)
        if (opt[i].v >= 0)
            json_object_set_new(o, opt[i].key, json_integer((json_int_t) opt[i].v));
    if (st.boot_ms >= 0)
        json_object_set_new(o, "boot_timing",
                            json_pack("{s:I}", "total_create_ms", (json_int_t) st.boot_ms));
    return serve_reply_json(q, 200, o);
}

/* ---- the route table ---------------------------------------------------------------------------- */

typedef enum MHD_Result (*handler_fn)(struct http_req *q, char **segs);

/* A path pattern ("*" matches one segment), a method, and either a handler or, for a route
 * not implemented yet, what to name in the UnsupportedError. First match wins. */
static const struct route {
    const char *pattern;
    const char *method;
    handler_fn fn;
    const char *unsupported;
} routes[] = {
    {"config", "GET", get_config, NULL},
    {"me", "GET", get_me, NULL},
    {"metrics", "GET", get_metrics, NULL},
    {"boxes", "GET", list_boxes, NULL},
    {"boxes", "POST", create_box, NULL},
    {"boxes/import", "POST", NULL, "import"},
    {"boxes/*", "GET", get_box, NULL},
    {"boxes/*", "HEAD", head_box, NULL},
    {"boxes/*", "DELETE", delete_box, NULL},
    {"boxes/*/start", "POST", start_box, NULL},
    {"boxes/*/stop", "POST", stop_box, NULL},
    {"boxes/*/metrics", "GET", box_metrics, NULL},
    {"boxes/*/attach", "GET", NULL, "attach"},
    {"boxes/*/exec", "POST", NULL, "exec"},
    {"boxes/*/executions", "GET", NULL, "executions"},
    {"boxes/*/executions/*", "GET", NULL, "executions"},
    {"boxes/*/executions/*", "DELETE", NULL, "executions"},
    {"boxes/*/executions/*/attach", "GET", NULL, "attach"},
    {"boxes/*/executions/*/signal", "POST", NULL, "executions"},
    {"boxes/*/executions/*/resize", "POST", NULL, "executions"},
    {"boxes/*/files", "GET", NULL, "files"},
    {"boxes/*/files", "PUT", NULL, "files"},
    {"boxes/*/snapshots", "GET", NULL, "snapshots"},
    {"boxes/*/snapshots", "POST", NULL, "snapshots"},
    {"boxes/*/snapshots/*", "GET", NULL, "snapshots"},
    {"boxes/*/snapshots/*", "DELETE", NULL, "snapshots"},
    {"boxes/*/snapshots/*/restore", "POST", NULL, "snapshots"},
    {"boxes/*/clone", "POST", NULL, "clone"},
    {"boxes/*/export", "POST", NULL, "export"},
    {"boxes/*/network/tunnel", "POST", NULL, "network tunnel"},
    {"volumes", "GET", NULL, "volumes"},
    {"volumes", "POST", NULL, "volumes"},
    {"volumes/*", "GET", NULL, "volumes"},
    {"volumes/*", "DELETE", NULL, "volumes"},
};

static int match(const char *pattern, char **segs, size_t n)
{
    size_t i = 0;
    for (const char *p = pattern; *p; i++) {
        size_t len = strcspn(p, "/");
        if (i >= n || (!(len == 1 && *p == '*') &&
                       (strlen(segs[i]) != len || strncmp(segs[i], p, len) != 0)))
            return 0;
        p += len;
        if (*p == '/')
            p++;
    }
    return i == n;
}

enum MHD_Result serve_route(struct http_req *q, const char *method, char **segs, size_t n)
{
    const struct route *hit = NULL, *get = NULL;
    char allow[64] = "";
    for (size_t i = 0; i < ELEMENTSOF(routes); i++) {
        const struct route *r = &routes[i];
        if (!match(r->pattern, segs, n))
            continue;
        if (!hit && !strcmp(r->method, method))
            hit = r;
        if (!get && !strcmp(r->method, "GET"))
            get = r;
        if (!strstr(allow, r->method)) {
            if (*allow)
                strcat(allow, ", ");
            strcat(allow, r->method);
        }
    }
    /* HEAD is GET without the body (libmicrohttpd drops it) where no HEAD route exists */
    if (!hit && get && !strcmp(method, "HEAD"))
        hit = get;
    if (!hit && !*allow)
        return serve_reply_no_route(q, method);
    if (!hit) {
        if (get && !strstr(allow, "HEAD"))
            strcat(allow, ", HEAD");
        return serve_reply_bad_method(q, method, allow);
    }
    if (!hit->fn)
        return serve_reply_unsupported(q, hit->unsupported);
    return hit->fn(q, segs);
}
