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
#include "box-request.h"
#include "json-util.h"
#include "owned.h"
#include "routes.h"

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
static int box_json(struct server *s, boxlite_runtime *rt, boxlite_box *box, json_t **ret,
                    boxlite_error **err)
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
        running ? json_integer(boxlite_box_pid(box)) : json_null(), "image", boxlite_box_image(box),
        "cpus", cpus_i, "memory_mib", (json_int_t) (mem > 0 ? mem / 1048576 : 0), "labels",
        "auto_stop", 0, "auto_delete", serve_owned_is_auto_delete(s, boxlite_box_id(box)),
        "auto_resume", 0, "auto_pause", 0, "detach", json_is_true(json_object_get(ins, "Detach")));
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
    int r = box_json(q->srv, rt, box, &o, &e);
    if (r < 0)
        return e ? serve_reply_lib_error(q, e)
                 : serve_reply_error(q, 500, "InternalError", "internal",
                                     "internal error: out of memory");
    return serve_reply_json(q, status, o);
}

/* ---- /v1/config, /v1/me, /v1/metrics ----------------------------------------------------------
 */

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
    _cleanup_json_ json_t *o =
        json_pack("{s:s,s:s,s:s,s:s,s:n,s:n,s:[s,s,s,s],s:n}", "sub", "local-anonymous",
                  "principal_type", "service_account", "email", "local@boxlite.local",
                  "display_name", "Local development", "path_prefix", "prefix", "scopes",
                  "box:read", "box:write", "box:delete", "me:read", "expires_at");
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
    /* the library leaves an error set when it skipped a box removed meanwhile */
    boxlite_error_free(TAKE_PTR(e));
    boxlite_box_list_free(list, n);
    struct server *s = q->srv;
    _cleanup_json_ json_t *o =
        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "boxes_created_total", (json_int_t) s->boxes_created,
                  "boxes_failed_total", (json_int_t) s->boxes_failed, "boxes_stopped_total",
                  (json_int_t) s->boxes_stopped, "num_running_boxes", (json_int_t) n,
                  "total_commands_executed", (json_int_t) 0, "total_exec_errors", (json_int_t) 0);
    return serve_reply_json(q, 200, o);
}

/* ---- boxes ------------------------------------------------------------------------------------
 */

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
    /* the library leaves an error set when it skipped a box removed meanwhile */
    boxlite_error_free(TAKE_PTR(e));
    _cleanup_json_ json_t *arr = json_array();
    int r = arr ? 0 : -ENOMEM;
    for (size_t i = 0; r == 0 && i < n; i++) {
        json_t *b = NULL;
        r = box_json(q->srv, l.rt, list[i], &b, &e);
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

static enum MHD_Result create_box(struct http_req *q, char **segs)
{
    (void) segs;
    _cleanup_json_ json_t *body = NULL;
    enum MHD_Result reply;
    if (serve_body_json(q, &body, &reply) < 0)
        return reply;
    boxlite_box_opts bo;
    boxlite_box_opts_init(&bo);
    _cleanup_(serve_create_args_done) struct create_args a = {0};
    if (serve_parse_create(q, body, &bo, &a, &reply) < 0)
        return reply;
    _cleanup_lease_ struct lease l = {0};
    if (lease_get(q, &l, &reply) < 0)
        return reply;
    _cleanup_(boxlite_box_freep) boxlite_box *box = NULL;
    boxlite_error *e = NULL;
    if (boxlite_box_create(l.rt, &bo, &box, &e) < 0) {
        q->srv->boxes_failed++;
        int c = boxlite_error_code(e);
        /* the image: missing, or its pull failed */
        if (c == -ENOENT || c == -EPROTO ||
            !strncmp(boxlite_error_message(e), "failed to pull", 14)) {
            enum MHD_Result r = serve_reply_error(q, 422, "ImageError", "image_pull_failed", "%s",
                                                  boxlite_error_message(e));
            boxlite_error_free(e);
            return r;
        }
        return serve_reply_lib_error(q, e);
    }
    q->srv->boxes_created++;
    if (a.auto_delete && !bo.detach &&
        serve_owned_mark_auto_delete(q->srv, boxlite_box_id(box)) < 0)
        return serve_reply_error(q, 500, "InternalError", "internal",
                                 "internal error: out of memory");
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
        return serve_bad_arg(q, 400, "invalid value for `force`: expected true or false");
    _cleanup_lease_ struct lease l = {0};
    enum MHD_Result reply;
    if (lease_get(q, &l, &reply) < 0)
        return reply;
    _cleanup_(boxlite_box_freep) boxlite_box *box = NULL;
    if (lookup(q, l.rt, segs[1], &box, &reply) < 0)
        return reply;
    boxlite_error *e = NULL;
    _cleanup_free_ char *id = bl_strdup(boxlite_box_id(box));
    if (!id)
        return serve_reply_error(q, 500, "InternalError", "internal",
                                 "internal error: out of memory");
    if (boxlite_box_remove(l.rt, box, force, &e) < 0)
        return serve_reply_lib_error(q, e);
    serve_owned_wait_gone(q->srv, id, 10);
    serve_owned_unmark_auto_delete(q->srv, id);
    return serve_reply_empty(q, 204);
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
            r = serve_owned_start(q->srv, boxlite_box_id(box), &e);
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
    if (serve_known_keys(q, body, "the request body", keys, &reply) < 0 ||
        serve_want_number(q, json_object_get(body, "timeout_seconds"), "timeout_seconds", 0, 3600,
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
    if (box_json(q->srv, l.rt, box, &before, &e) < 0)
        return e ? serve_reply_lib_error(q, e)
                 : serve_reply_error(q, 500, "InternalError", "internal",
                                     "internal error: out of memory");
    /* the thread waiting for an owned box counts its stop */
    int was_running = !strcmp(boxlite_box_status(box), "running") && !serve_owned_has(q->srv, id);
    if (boxlite_box_stop(l.rt, box, (int) ceil(timeout), &e) < 0)
        return serve_reply_lib_error(q, e);
    serve_owned_wait_gone(q->srv, id, 10);
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
    _cleanup_json_ json_t *o = json_pack(
        "{s:I,s:I,s:I,s:I}", "commands_executed_total", (json_int_t) (st.execs > 0 ? st.execs : 0),
        "exec_errors_total", (json_int_t) (st.exec_errors > 0 ? st.exec_errors : 0),
        "bytes_sent_total", (json_int_t) 0, "bytes_received_total", (json_int_t) 0);
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

/* ---- the route table ----------------------------------------------------------------------------
 */

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
        if (i >= n ||
            (!(len == 1 && *p == '*') && (strlen(segs[i]) != len || strncmp(segs[i], p, len) != 0)))
            return 0;
        p += len;
        if (*p == '/')
            p++;
    }
    return i == n;
}

/* Adds a method to the Allow list (", "-separated) unless it is there. */
static void allow_add(char *allow, size_t size, const char *method)
{
    size_t len = strlen(allow);
    if (!strstr(allow, method))
        snprintf(allow + len, size - len, "%s%s", len ? ", " : "", method);
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
        allow_add(allow, sizeof(allow), r->method);
    }
    /* HEAD is GET without the body (libmicrohttpd drops it) where no HEAD route exists */
    if (!hit && get && !strcmp(method, "HEAD"))
        hit = get;
    if (!hit && !*allow)
        return serve_reply_no_route(q, method);
    if (!hit) {
        if (get)
            allow_add(allow, sizeof(allow), "HEAD");
        return serve_reply_bad_method(q, method, allow);
    }
    if (!hit->fn)
        return serve_reply_unsupported(q, hit->unsupported);
    return hit->fn(q, segs);
}
