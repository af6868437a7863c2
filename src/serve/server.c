/* SPDX-License-Identifier: MIT */
/*
 * The server of `boxlite serve`: the libmicrohttpd daemon (one thread per connection, so
 * handlers call the blocking library directly), each request's body (with its limit),
 * authentication, X-Request-Id, the dispatch to the routes (routes.c), and the shutdown on
 * SIGINT/SIGTERM.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include "alloc-util.h"
#include "http.h"
#include "owned.h"
#include "parse-util.h"
#include "routes.h"
#include "server.h"
#include "strv.h"

/* A fresh UUID (version 4) as the request id. */
static void mint_request_id(char out[static 37])
{
    unsigned char b[16] = {0};
    if (getrandom(b, sizeof(b), 0) != (ssize_t) sizeof(b))
        for (size_t i = 0; i < sizeof(b); i++) /* never short for 16 bytes; be safe anyway */
            b[i] = (unsigned char) (rand() & 0xff);
    b[6] = (unsigned char) ((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char) ((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

/* A client's X-Request-Id is echoed when it is 1-128 printable ASCII characters. */
static void set_request_id(struct http_req *q)
{
    const char *v = q->srv->mhd->lookup_connection_value(q->conn, MHD_HEADER_KIND, "X-Request-Id");
    size_t n = v ? strlen(v) : 0;
    int ok = n > 0 && n < sizeof(q->request_id);
    for (size_t i = 0; ok && i < n; i++)
        ok = v[i] > 0x20 && v[i] < 0x7f;
    if (ok)
        memcpy(q->request_id, v, n + 1);
    else
        mint_request_id(q->request_id);
}

/* "Bearer KEY" (or "bearer KEY") compared in time that does not depend on where it differs. */
static int authorized(const struct server *s, const char *hdr)
{
    if (!s->api_key)
        return 1;
    if (!hdr || (strncmp(hdr, "Bearer ", 7) != 0 && strncmp(hdr, "bearer ", 7) != 0))
        return 0;
    const char *t = hdr + 7;
    size_t tl = strlen(t);
    volatile unsigned char d = tl != s->api_key_len;
    for (size_t i = 0; i < s->api_key_len; i++)
        d |= (unsigned char) (s->api_key[i] ^ (i < tl ? t[i] : 0));
    return d == 0 && tl > 0;
}

/* The path after "/v1/" split at '/', into segs (at most max); -1 when it is not under /v1,
 * has an empty segment or too many. */
static int split_path(char *path, char **segs, size_t max, size_t *ret_n)
{
    if (strncmp(path, "/v1/", 4) != 0)
        return -1;
    size_t n = 0;
    for (char *p = path + 4;;) {
        char *slash = strchr(p, '/');
        if (slash)
            *slash = 0;
        if (!*p || n == max)
            return -1;
        segs[n++] = p;
        if (!slash)
            break;
        p = slash + 1;
    }
    *ret_n = n;
    return 0;
}

static enum MHD_Result dispatch(struct http_req *q, const char *url, const char *method)
{
    struct server *s = q->srv;
    int is_config =
        !strcmp(url, "/v1/config") && (!strcmp(method, "GET") || !strcmp(method, "HEAD"));
    if (!is_config && !authorized(s, s->mhd->lookup_connection_value(
                                         q->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION)))
        return serve_reply_error(q, 401, "AuthError", "unauthenticated",
                                 "invalid or missing API key");
    if (q->too_large)
        return serve_reply_error(q, 413, "PayloadTooLargeError", "payload_too_large",
                                 "request body larger than %u bytes", SERVE_BODY_MAX);
    _cleanup_free_ char *path = bl_strdup(url);
    if (!path)
        return serve_reply_error(q, 500, "InternalError", "internal",
                                 "internal error: out of memory");
    char *segs[8];
    size_t n = 0;
    if (split_path(path, segs, ELEMENTSOF(segs), &n) < 0)
        return serve_reply_no_route(q, method);
    enum MHD_Result r = serve_route(q, method, segs, n);
    if (!q->answered) /* the router answers every request; this is a safety net */
        return serve_reply_error(q, 500, "InternalError", "internal", "internal error: %s",
                                 "no reply");
    return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void) version;
    struct server *s = cls;
    struct http_req *q = *con_cls;
    if (!q) {
        q = bl_calloc(1, sizeof(*q));
        if (!q)
            return MHD_NO;
        q->srv = s;
        q->conn = conn;
        q->url = url;
        *con_cls = q;
        set_request_id(q);
        /* a body announced too large is refused before it is read (MHD then closes) */
        const char *cl =
            s->mhd->lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        uint64_t len;
        if (cl && bl_parse_u64(cl, &len) == 0 && len > SERVE_BODY_MAX) {
            q->too_large = 1;
            return dispatch(q, url, method);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (q->answered || q->too_large)
            return MHD_YES;
        if (q->body_len + n > SERVE_BODY_MAX) {
            q->too_large = 1;
            free(q->body);
            q->body = NULL;
            q->body_len = q->body_cap = 0;
            return MHD_YES;
        }
        if (q->body_len + n + 1 > q->body_cap) {
            size_t cap = MAX(q->body_cap * 2, q->body_len + n + 1);
            char *b = bl_realloc(q->body, cap);
            if (!b)
                return MHD_NO;
            q->body = b;
            q->body_cap = cap;
        }
        memcpy(q->body + q->body_len, upload_data, n);
        q->body_len += n;
        q->body[q->body_len] = 0;
        return MHD_YES;
    }
    if (q->answered)
        return MHD_YES;
    return dispatch(q, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void) cls, (void) conn, (void) toe;
    struct http_req *q = *con_cls;
    if (!q)
        return;
    free(q->body);
    free(q);
    *con_cls = NULL;
}

/* libmicrohttpd's own messages (bad requests it answers itself, socket errors): dropped, as
 * the library's debug lines are. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void) cls, (void) fmt, (void) ap;
}

/* ---- signals and the daemon -------------------------------------------------------------------
 */

static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char) sig;
    (void) !write(sig_pipe[1], &b, 1);
    errno = saved;
}

static int resolve(const char *host, unsigned port, struct sockaddr_storage *ret, int *ret_v6,
                   bl_error **err)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char p[16];
    snprintf(p, sizeof(p), "%u", port);
    int r = getaddrinfo(host, p, &hints, &ai);
    if (r != 0 || !ai)
        return bl_err(err, -EINVAL, "invalid --host '%s': %s", host, gai_strerror(r));
    memcpy(ret, ai->ai_addr, ai->ai_addrlen);
    *ret_v6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    return 0;
}

static void server_done(struct server *s)
{
    bl_strv_free(s->auto_delete);
    rtpool_done(&s->pool);
    pthread_mutex_destroy(&s->owned_lock);
    pthread_cond_destroy(&s->owned_cond);
}

int bl_serve_run(const struct bl_serve_opts *o, bl_error **err)
{
    boxlite_runtime *first = o->first;
    const struct bl_mhd *mhd = NULL;
    int r = bl_mhd_load(&mhd, err);
    struct sockaddr_storage addr;
    int v6 = 0;
    if (r == 0 && o->port > 65535)
        r = bl_err(err, -EINVAL, "invalid --port %u", o->port);
    if (r == 0)
        r = resolve(o->host, o->port, &addr, &v6, err);
    if (r < 0) {
        boxlite_runtime_free(first);
        return r;
    }
    struct server s = {.mhd = mhd};
    if (o->api_key && *o->api_key) {
        s.api_key = o->api_key;
        s.api_key_len = strlen(o->api_key);
    }
    pthread_mutex_init(&s.owned_lock, NULL);
    pthread_cond_init(&s.owned_cond, NULL);
    (void) rtpool_init(&s.pool, 32, o->open_runtime, first);
    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        server_done(&s);
        return bl_err_errno(err, "pipe");
    }
    struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    (void) sigaction(SIGINT, &sa, &old_int);
    (void) sigaction(SIGTERM, &sa, &old_term);
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    struct MHD_Daemon *d = mhd->start_daemon(
        flags, (uint16_t) o->port, NULL, NULL, on_request, &s, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *) &addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) 60, MHD_OPTION_CONNECTION_LIMIT, (unsigned) 512,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
    if (!d) {
        r = bl_err(err, -EADDRINUSE,
                   "cannot listen on %s:%u (in use, or not an address of this "
                   "host)",
                   o->host, o->port);
    } else {
        const union MHD_DaemonInfo *di = mhd->get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
        unsigned port = di && di->port ? di->port : o->port;
        fprintf(stderr, "BoxLite REST API server listening on http://%s%s%s:%u\n", v6 ? "[" : "",
                o->host, v6 ? "]" : "", port);
        for (;;) {
            struct pollfd p = {.fd = sig_pipe[0], .events = POLLIN};
            unsigned char b;
            if (poll(&p, 1, -1) > 0 && read(sig_pipe[0], &b, 1) == 1)
                break;
        }
        fprintf(stderr, "\nShutting down...\n");
        /* stop accepting and finish the requests in flight, then the boxes we own */
        mhd->stop_daemon(d);
        serve_owned_stop_all(&s);
        r = 0;
    }
    (void) sigaction(SIGINT, &old_int, NULL);
    (void) sigaction(SIGTERM, &old_term, NULL);
    sig_pipe[0] = bl_close(sig_pipe[0]);
    sig_pipe[1] = bl_close(sig_pipe[1]);
    server_done(&s);
    return r;
}
