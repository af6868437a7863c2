/* SPDX-License-Identifier: MIT */
/*
 * The server's state and one HTTP request, and the replies every handler uses (http.c): JSON,
 * the error envelope, library errors mapped to HTTP, the request's body and query. See
 * docs/design/serve.md.
 */
#pragma once

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "boxlite/boxlite.h"
#include "mhd-dl.h"
#include "rtpool.h"

/* Largest request body the server reads (JSON routes): a larger one is answered 413. */
#define SERVE_BODY_MAX (1u << 20)

struct owned_box;

struct server {
    const struct bl_mhd *mhd;
    const char *api_key; /* NULL: no authentication */
    size_t api_key_len;
    struct rtpool pool;
    /* the non-detached boxes started here, stopped on shutdown */
    pthread_mutex_t owned_lock;
    pthread_cond_t owned_cond;
    struct owned_box *owned;
    char **auto_delete; /* ids of boxes to remove once they stop (under owned_lock) */
    /* counters of GET /v1/metrics */
    atomic_uint_fast64_t boxes_created, boxes_failed, boxes_stopped;
};

/* One HTTP request, from its headers to its reply. */
struct http_req {
    struct server *srv;
    struct MHD_Connection *conn;
    const char *url; /* borrowed from libmicrohttpd for the request's life */
    char request_id[129];
    char *body; /* what was read, NUL-terminated */
    size_t body_len, body_cap;
    int too_large; /* the body passed SERVE_BODY_MAX: the rest is discarded, 413 */
    int answered;  /* a reply is queued */
};

/* Replies; each returns what the access handler returns to libmicrohttpd. */
enum MHD_Result serve_reply_json(struct http_req *q, unsigned status, json_t *body);
enum MHD_Result serve_reply_empty(struct http_req *q, unsigned status);
enum MHD_Result serve_reply_error(struct http_req *q, unsigned status, const char *type,
                                  const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* A library error, mapped to its HTTP status and envelope (docs/design/serve.md); frees it. */
enum MHD_Result serve_reply_lib_error(struct http_req *q, boxlite_error *err);
/* 404 for a path no route has, 405 (with Allow) for a method the path's routes lack. */
enum MHD_Result serve_reply_no_route(struct http_req *q, const char *method);
enum MHD_Result serve_reply_bad_method(struct http_req *q, const char *method, const char *allow);
/* 400 UnsupportedError for a route this server does not implement yet. */
enum MHD_Result serve_reply_unsupported(struct http_req *q, const char *what);

/* The body parsed as a JSON object (an empty body is {}): 0, or a reply was queued (bad JSON
 * 400, not an object 422, a body without Content-Type: application/json 415) and *ret_reply
 * holds what to return. */
int serve_body_json(struct http_req *q, json_t **ret, enum MHD_Result *ret_reply);
/* A query parameter, or NULL. */
const char *serve_query(struct http_req *q, const char *key);
