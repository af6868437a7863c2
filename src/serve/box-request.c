/* SPDX-License-Identifier: MIT */
/*
 * The JSON bodies of box requests into the library's options: the strict field checks (an
 * unknown field or a wrong type is 422, a bad value 400, both naming the field) and the create
 * request, whose network spec arrives in either of upstream's two shapes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc-util.h"
#include "box-request.h"
#include "strv.h"

enum MHD_Result serve_bad_arg(struct http_req *q, unsigned status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    (void) vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return serve_reply_error(q, status, "InvalidArgumentError", "invalid_argument", "%s", msg);
}

void serve_create_args_done(struct create_args *a)
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
        *reply =
            serve_bad_arg(q, 422, "invalid type for `%s`: expected an array of strings", field);
        return -1;
    }
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e)) {
            *reply =
                serve_bad_arg(q, 422, "invalid type for `%s`: expected an array of strings", field);
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
        *reply = serve_bad_arg(q, 422, "invalid type for `%s`: expected a string", field);
        return -1;
    }
    *ret = json_string_value(v);
    return 0;
}

int serve_want_number(struct http_req *q, json_t *v, const char *field, double min, double max,
                      double *ret, enum MHD_Result *reply)
{
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v)) {
        *reply = serve_bad_arg(q, 422, "invalid type for `%s`: expected a number", field);
        return -1;
    }
    double d = json_number_value(v);
    if (!(d >= min && d <= max)) {
        *reply = serve_bad_arg(q, 400, "invalid value for `%s`: %g is not in [%g, %g]", field, d,
                               min, max);
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
        *reply = serve_bad_arg(q, 422, "invalid type for `%s`: expected a boolean", field);
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
        *reply = serve_bad_arg(
            q, 400, "invalid network spec: `%s` must be \"enabled\" or \"disabled\"", field);
        return -1;
    }
    if (m)
        *ret = m;
    return 0;
}

/* An object whose keys must all be in `known` (NULL-terminated); 0 or -1 with a 422 queued. */
int serve_known_keys(struct http_req *q, json_t *o, const char *where, const char *const *known,
                     enum MHD_Result *reply)
{
    const char *k;
    json_t *v;
    if (!json_is_object(o)) {
        *reply = serve_bad_arg(q, 422, "invalid type for `%s`: expected an object", where);
        return -1;
    }
    json_object_foreach(o, k, v)
    {
        size_t i = 0;
        while (known[i] && strcmp(known[i], k) != 0)
            i++;
        if (!known[i]) {
            *reply = serve_bad_arg(q, 422, "unknown field `%s` in %s", k, where);
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
    if (serve_known_keys(q, net, "network", keys, reply) < 0)
        return -1;
    json_t *out = json_object_get(net, "outbound"), *in = json_object_get(net, "inbound");
    int flat = json_object_get(net, "mode") || json_object_get(net, "allow_net");
    if (flat && (out || in)) {
        *reply = serve_bad_arg(q, 400,
                               "invalid network spec: give either `mode`/`allow_net` or "
                               "`outbound`/`inbound`, not both");
        return -1;
    }
    json_t *spec = flat ? net : out;
    if (in && !json_is_null(in)) {
        const char *m = NULL;
        if (serve_known_keys(q, in, "network.inbound", dir_keys, reply) < 0 ||
            want_mode(q, json_object_get(in, "mode"), "network.inbound.mode", &m, reply) < 0)
            return -1;
        json_t *al = json_object_get(in, "allow_net");
        if (al && !json_is_null(al) && (!json_is_array(al) || json_array_size(al) > 0)) {
            *reply =
                serve_bad_arg(q, 400,
                              "invalid network spec: `network.inbound.allow_net` is not supported "
                              "by this server (it must be empty)");
            return -1;
        }
    }
    if (!spec || json_is_null(spec))
        return 0;
    const char *where = flat ? "network" : "network.outbound";
    if (!flat && serve_known_keys(q, spec, where, dir_keys, reply) < 0)
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
            *reply =
                serve_bad_arg(q, 400, "invalid network spec: `allow_net` needs mode \"enabled\"");
            return -1;
        }
        bo->allow_net = (const char *const *) a->allow_net;
    }
    return 0;
}

/* The create body into box options (strings borrowed from `body`); 0 or -1 with a reply. */
int serve_parse_create(struct http_req *q, json_t *body, boxlite_box_opts *bo,
                       struct create_args *a, enum MHD_Result *reply)
{
    static const char *const keys[] = {
        "name",        "image",   "rootfs_path", "cpus",      "memory_mib",  "disk_size_gb",
        "working_dir", "env",     "entrypoint",  "cmd",       "user",        "tty",
        "advanced",    "network", "auto_pause",  "auto_stop", "auto_delete", "auto_resume",
        "detach",      "volumes", "secrets",     NULL};
    if (serve_known_keys(q, body, "the request body", keys, reply) < 0)
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
        *reply = serve_bad_arg(q, 400, "give `image` or `rootfs_path`, not both");
        return -1;
    }
    if (!bo->image && !bo->rootfs)
        bo->image = "alpine:latest";
    double cpus = 0, mem = 0, disk = 0, auto_del = 0, auto_stop = 0, auto_pause = 0;
    int resume = 0;
    if (serve_want_number(q, json_object_get(body, "cpus"), "cpus", 1, 255, &cpus, reply) < 0 ||
        serve_want_number(q, json_object_get(body, "memory_mib"), "memory_mib", 1, 4294967295.0,
                          &mem, reply) < 0 ||
        serve_want_number(q, json_object_get(body, "disk_size_gb"), "disk_size_gb", 1, 1e9, &disk,
                          reply) < 0 ||
        serve_want_number(q, json_object_get(body, "auto_delete"), "auto_delete", 0, 1e12,
                          &auto_del, reply) < 0 ||
        serve_want_number(q, json_object_get(body, "auto_stop"), "auto_stop", 0, 1e12, &auto_stop,
                          reply) < 0 ||
        serve_want_number(q, json_object_get(body, "auto_pause"), "auto_pause", 0, 1e12,
                          &auto_pause, reply) < 0 ||
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
    /* auto_delete > 0: the box goes once it stops; the server does it (owned.c), since a box
     * marked auto-remove in the library before it starts is removed by the next open's
     * recovery (each request opens one) */
    a->auto_delete = auto_del > 0;
    json_t *v = json_object_get(body, "env");
    if (v && !json_is_null(v)) {
        const char *k;
        json_t *ev;
        if (!json_is_object(v)) {
            *reply = serve_bad_arg(q, 422, "invalid type for `env`: expected an object of strings");
            return -1;
        }
        json_object_foreach(v, k, ev)
        {
            if (!json_is_string(ev)) {
                *reply = serve_bad_arg(q, 422, "invalid type for `env.%s`: expected a string", k);
                return -1;
            }
            if (!*k || strchr(k, '=')) {
                *reply = serve_bad_arg(q, 400, "invalid environment variable name `%s`", k);
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
        if (serve_known_keys(q, v, "advanced", adv_keys, reply) < 0)
            return -1;
        json_t *c = json_object_get(v, "capabilities");
        if (c && !json_is_null(c)) {
            if (serve_known_keys(q, c, "advanced.capabilities", cap_keys, reply) < 0)
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
            *reply =
                serve_bad_arg(q, 422, "invalid type for `%s`: expected an array", unsupported[i]);
            return -1;
        }
        if (json_array_size(v) > 0) {
            *reply = serve_reply_error(
                q, 400, "UnsupportedError", "unsupported", "unsupported: `%s` (%s)", unsupported[i],
                i == 0 ? "managed volumes do not exist yet" : "there is no secret proxy");
            return -1;
        }
    }
    return parse_network(q, json_object_get(body, "network"), bo, a, reply);
}
