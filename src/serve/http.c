/* SPDX-License-Identifier: MIT */
/*
 * What every handler of `boxlite serve` uses to answer: the replies (JSON, empty, the error
 * envelope with the request id), library errors mapped to HTTP statuses, and the request's
 * JSON body and query parameters.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "json-util.h"

/* ---- replies ----------------------------------------------------------------------------------
 */

static enum MHD_Result queue(struct http_req *q, unsigned status, const char *type, char *data,
                             size_t len, const char *allow)
{
    const struct bl_mhd *m = q->srv->mhd;
    struct MHD_Response *r = m->create_response_from_buffer(len, data, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    if (type)
        (void) m->add_response_header(r, "Content-Type", type);
    if (allow)
        (void) m->add_response_header(r, "Allow", allow);
    (void) m->add_response_header(r, "X-Request-Id", q->request_id);
    enum MHD_Result ret = m->queue_response(q->conn, status, r);
    m->destroy_response(r);
    q->answered = 1;
    return ret;
}

enum MHD_Result serve_reply_json(struct http_req *q, unsigned status, json_t *body)
{
    _cleanup_free_ char *s = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (!s)
        return serve_reply_error(q, 500, "InternalError", "internal", "internal error: %s",
                                 "out of memory");
    return queue(q, status, "application/json", s, strlen(s), NULL);
}

enum MHD_Result serve_reply_empty(struct http_req *q, unsigned status)
{
    return queue(q, status, NULL, NULL, 0, NULL);
}

static enum MHD_Result reply_envelope(struct http_req *q, unsigned status, const char *type,
                                      const char *code, const char *msg, const char *allow)
{
    _cleanup_json_ json_t *o = json_pack("{s:{s:s,s:s,s:s,s:s}}", "error", "message", msg, "type",
                                         type, "code", code, "request_id", q->request_id);
    _cleanup_free_ char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (!s) {
        static const char oom[] = "{\"error\":{\"message\":\"internal error: out of memory\","
                                  "\"type\":\"InternalError\",\"code\":\"internal\"}}";
        return queue(q, 500, "application/json", (char *) oom, sizeof(oom) - 1, NULL);
    }
    return queue(q, status, "application/json", s, strlen(s), allow);
}

enum MHD_Result serve_reply_error(struct http_req *q, unsigned status, const char *type,
                                  const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    (void) vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return reply_envelope(q, status, type, code, msg, NULL);
}

enum MHD_Result serve_reply_lib_error(struct http_req *q, boxlite_error *err)
{
    int code = err ? boxlite_error_code(err) : -EIO;
    const char *msg = err ? boxlite_error_message(err) : "unknown error";
    unsigned status = 500;
    const char *type = "InternalError", *c = "internal";
    switch (-code) {
    case ENOENT:
        status = 404, type = "NotFoundError", c = "not_found";
        break;
    case EEXIST: /* a name clash is upstream's invalid argument (spec §8.3) */
    case E2BIG:
    case ERANGE:
        status = 400, type = "InvalidArgumentError", c = "invalid_argument";
        break;
    case EINVAL:
        /* the library says "invalid state: ..." where upstream has InvalidState */
        if (!strncmp(msg, "invalid state", 13) || strstr(msg, ": invalid state"))
            status = 409, type = "InvalidStateError", c = "invalid_state";
        else
            status = 400, type = "InvalidArgumentError", c = "invalid_argument";
        break;
    case EBUSY:
        status = 409, type = "InvalidStateError", c = "invalid_state";
        break;
    case ESRCH:
        status = 409, type = "StoppedError", c = "stopped";
        break;
    case EPERM:
    case EACCES:
        status = 403, type = "PermissionError", c = "permission_denied";
        break;
    case ENOTSUP:
        status = 400, type = "UnsupportedError", c = "unsupported";
        break;
    case ETIMEDOUT:
        status = 504, type = "TimeoutError", c = "timeout";
        break;
    case ENOSPC:
    case EMFILE:
    case ENFILE:
    case EAGAIN:
        status = 429, type = "ResourceExhaustedError", c = "resource_exhausted";
        break;
    default:
        break;
    }
    enum MHD_Result r = reply_envelope(q, status, type, c, msg, NULL);
    boxlite_error_free(err);
    return r;
}

enum MHD_Result serve_reply_unsupported(struct http_req *q, const char *what)
{
    return serve_reply_error(q, 400, "UnsupportedError", "unsupported",
                             "unsupported: %s is not implemented by this server yet", what);
}

/* ---- request helpers --------------------------------------------------------------------------
 */

const char *serve_query(struct http_req *q, const char *key)
{
    return q->srv->mhd->lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, key);
}

int serve_body_json(struct http_req *q, json_t **ret, enum MHD_Result *ret_reply)
{
    if (q->body_len == 0) {
        json_t *o = json_object();
        if (!o) {
            *ret_reply = serve_reply_error(q, 500, "InternalError", "internal",
                                           "internal error: out of memory");
            return -1;
        }
        *ret = o;
        return 0;
    }
    const char *ct = q->srv->mhd->lookup_connection_value(q->conn, MHD_HEADER_KIND,
                                                          MHD_HTTP_HEADER_CONTENT_TYPE);
    size_t n = ct ? strcspn(ct, "; \t") : 0;
    if (!ct || n != strlen("application/json") || strncasecmp(ct, "application/json", n) != 0) {
        *ret_reply = serve_reply_error(q, 415, "InvalidArgumentError", "invalid_argument",
                                       "expected request with `Content-Type: application/json`");
        return -1;
    }
    json_error_t je;
    json_t *o = json_loadb(q->body, q->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        *ret_reply = serve_reply_error(q, 400, "InvalidArgumentError", "invalid_argument",
                                       "invalid JSON body: %s at line %d column %d", je.text,
                                       je.line, je.column);
        return -1;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        *ret_reply = serve_reply_error(q, 422, "InvalidArgumentError", "invalid_argument",
                                       "invalid body: expected a JSON object");
        return -1;
    }
    *ret = o;
    return 0;
}

enum MHD_Result serve_reply_no_route(struct http_req *q, const char *method)
{
    return serve_reply_error(q, 404, "NotFoundError", "not_found", "no route for %s %s", method,
                             q->url);
}

enum MHD_Result serve_reply_bad_method(struct http_req *q, const char *method, const char *allow)
{
    char msg[128];
    snprintf(msg, sizeof(msg), "method %s not allowed here (allowed: %s)", method, allow);
    return reply_envelope(q, 405, "InvalidArgumentError", "method_not_allowed", msg, allow);
}
