/* SPDX-License-Identifier: MIT */
/*
 * Pulling images from registries (the OCI distribution API).
 *
 * A pull first looks in the store: a reference it already has is answered without network.
 * Otherwise, for each candidate the reference names (registry.c), it fetches the manifest
 * (choosing from an index the manifest of the wanted platform), the config, then every layer
 * blob the store lacks: all of them at once over libcurl's multi interface, each streamed
 * straight through sha256 into a staging file (blob-sink.h, as image-load.c stages too),
 * checked for size and digest as its last byte arrives, and handed at once to the unpack pool
 * (unpack-pool.h), which unpacks layers on other threads while the rest are still downloading.
 * A transfer cut short resumes with a Range request from the bytes already staged, continuing
 * the same hash.
 * When every layer is unpacked and verified, bl_images_commit() moves the files into the store
 * under the database's write lock, so a concurrent pull or load of the same image ends with one
 * correct copy. Any failure leaves the store as it was: the staging directory goes with its
 * cleanup.
 *
 * Progress callbacks run on the caller's thread only: the download loop reports bytes, and
 * polls the unpack pool for layers that start or finish unpacking.
 */
#include <ctype.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "alloc-util.h"
#include "blob-sink.h"
#include "boxlite/image.h"
#include "curl-dl.h"
#include "image-ref.h"
#include "image-store.h"
#include "json-util.h"
#include "log.h"
#include "oci.h"
#include "registry.h"
#include "strv.h"
#include "unpack-pool.h"

#define MAX_MANIFEST (4u << 20)
#define MAX_CONFIG (16u << 20)
#define MAX_ERROR_BODY (64u << 10)
#define MAX_ATTEMPTS 5 /* per blob, counting the first */
#define RECV_BUFFER (256L << 10)
#define PROGRESS_EVERY_MS 100
#define MAX_PARALLEL 6 /* connections per host */

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define ACCEPT_MANIFESTS                                                                           \
    MT_OCI_INDEX ", " MT_OCI_MANIFEST ", " MT_DOCKER_LIST ", " MT_DOCKER_MANIFEST

BOXLITE_API void boxlite_pull_opts_init(boxlite_pull_opts *opts)
{
    *opts = (boxlite_pull_opts) BOXLITE_PULL_OPTS_INIT;
}

/* ---- platforms ---- */

struct platform {
    char os[32], arch[32], variant[32]; /* variant "" when none */
};

static void normalise_arch(char *arch, size_t size)
{
    if (!strcmp(arch, "x86_64") || !strcmp(arch, "x86-64"))
        snprintf(arch, size, "amd64");
    else if (!strcmp(arch, "aarch64"))
        snprintf(arch, size, "arm64");
}

static int parse_platform(const char *s, struct platform *ret, bl_error **err)
{
    struct platform p = {{0}};
    if (!s) {
        const char *os, *arch, *variant;
        bl_host_platform(&os, &arch, &variant);
        snprintf(p.os, sizeof(p.os), "%s", os);
        snprintf(p.arch, sizeof(p.arch), "%s", arch);
        snprintf(p.variant, sizeof(p.variant), "%s", variant ? variant : "");
        *ret = p;
        return 0;
    }
    const char *a = strchr(s, '/');
    const char *v = a ? strchr(a + 1, '/') : NULL;
    size_t los = a ? (size_t) (a - s) : 0;
    size_t larch = a ? (v ? (size_t) (v - a - 1) : strlen(a + 1)) : 0;
    size_t lvar = v ? strlen(v + 1) : 0;
    if (!a || !los || !larch || (v && (!lvar || strchr(v + 1, '/'))) || los >= sizeof(p.os) ||
        larch >= sizeof(p.arch) || lvar >= sizeof(p.variant))
        return bl_err(err, -EINVAL, "invalid platform '%s': expected os/arch[/variant]", s);
    snprintf(p.os, sizeof(p.os), "%.*s", (int) los, s);
    snprintf(p.arch, sizeof(p.arch), "%.*s", (int) larch, a + 1);
    if (v)
        snprintf(p.variant, sizeof(p.variant), "%s", v + 1);
    for (char *c = p.os; *c; c++)
        *c = (char) tolower((unsigned char) *c);
    for (char *c = p.arch; *c; c++)
        *c = (char) tolower((unsigned char) *c);
    normalise_arch(p.arch, sizeof(p.arch));
    *ret = p;
    return 0;
}

/* Does a descriptor's platform object match? arm64's only variant v8 matches no variant. */
static int platform_matches(json_t *pl, const struct platform *want)
{
    const char *os = json_string_value(json_object_get(pl, "os"));
    const char *arch = json_string_value(json_object_get(pl, "architecture"));
    const char *variant = json_string_value(json_object_get(pl, "variant"));
    if (!os || !arch || strcasecmp(os, want->os) != 0)
        return 0;
    char a[32];
    snprintf(a, sizeof(a), "%s", arch);
    normalise_arch(a, sizeof(a));
    if (strcmp(a, want->arch) != 0)
        return 0;
    if (!want->variant[0] || (variant && !strcmp(variant, want->variant)))
        return 1;
    return !variant && !strcmp(a, "arm64") && !strcmp(want->variant, "v8");
}

static void platform_format(const struct platform *p, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s%s%s", p->os, p->arch, p->variant[0] ? "/" : "", p->variant);
}

/* ---- one pull ---- */

struct pull;

/* One layer of the image being pulled. */
struct layer {
    struct bl_new_layer *nl; /* in P->img.layers */
    int state;               /* BOXLITE_PULL_LAYER_* */
    int reported;            /* the state last reported, or -1 */
    int job;                 /* unpack job, or -1 */
    int same_as;             /* an earlier layer with this blob (fetched once), or -1 */
    uint64_t done;
};

/* The download of one blob. */
struct xfer {
    struct pull *P;
    size_t layer;
    CURL *h;
    struct curl_slist *hdrs;
    struct bl_blob_sink sink;
    char range[32];
    long code;          /* status of the response being received */
    long long cr_start; /* its Content-Range start, or -1 */
    int started;        /* the body of this response has begun */
    int bad_range;      /* the server resumed at another offset: start over */
    int too_long;       /* more bytes than the descriptor says */
    bl_error *werr;     /* a failure inside the write callback */
    char *errbody;
    size_t errlen;
    char *www_auth;
    char errbuf[CURL_ERROR_SIZE];
    int attempts;
    int auth_rounds;
    int64_t retry_at_ms; /* waiting to be retried from then; 0: not waiting */
    int active;          /* in the multi handle */
    int finished;
};

struct pull {
    const struct bl_curl *cu; /* libcurl */
    struct boxlite_runtime *rt;
    const boxlite_pull_opts *opts;
    struct bl_reg_client *client;
    struct bl_stage stage;
    struct bl_new_image img;
    struct layer *layers;
    struct xfer *xfers;
    size_t n_xfers;
    CURLM *multi;
    struct bl_unpack_pool *pool;
    int64_t last_progress_ms;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void xfer_release(struct pull *P, struct xfer *x)
{
    if (x->h) {
        if (x->active)
            (void) P->cu->multi_remove_handle(P->multi, x->h);
        P->cu->easy_cleanup(x->h);
        x->h = NULL;
    }
    x->active = 0;
    P->cu->slist_free_all(x->hdrs);
    x->hdrs = NULL;
    free(x->errbody);
    x->errbody = NULL;
    x->errlen = 0;
    free(x->www_auth);
    x->www_auth = NULL;
    bl_error_free(x->werr);
    x->werr = NULL;
}

static void pull_done(struct pull *P)
{
    for (size_t i = 0; i < P->n_xfers; i++) {
        xfer_release(P, &P->xfers[i]);
        bl_blob_sink_close(&P->xfers[i].sink);
    }
    free(P->xfers);
    /* the pool joins its threads before the stage they write into goes */
    bl_unpack_pool_free(P->pool);
    if (P->multi)
        (void) P->cu->multi_cleanup(P->multi);
    free(P->layers);
    bl_new_image_done(&P->img);
    bl_reg_client_free(P->client);
    bl_stage_done(&P->stage);
}

static void report(struct pull *P, size_t i)
{
    struct layer *l = &P->layers[i];
    l->reported = l->state;
    if (!P->opts || !P->opts->progress)
        return;
    boxlite_pull_progress ev = {
        .version = BOXLITE_PULL_PROGRESS_VERSION,
        .layer = i,
        .n_layers = P->img.n_layers,
        .digest = l->nl->blob_digest,
        .state = l->state,
        .done = l->state == BOXLITE_PULL_LAYER_CACHED ? 0 : l->done,
        .total = l->nl->size,
    };
    P->opts->progress(&ev, P->opts->userdata);
}

/* Report every layer whose state changed (and, when `bytes`, every one downloading). */
static void report_changes(struct pull *P, int bytes)
{
    for (size_t i = 0; i < P->img.n_layers; i++) {
        struct layer *l = &P->layers[i];
        const struct layer *src = l->same_as >= 0 ? &P->layers[l->same_as] : l;
        if (src->job >= 0 && src->state >= BOXLITE_PULL_LAYER_DOWNLOADED) {
            int s = bl_unpack_pool_state(P->pool, (size_t) src->job);
            l->state = s == BL_UNPACK_DONE      ? BOXLITE_PULL_LAYER_DONE
                       : s == BL_UNPACK_RUNNING ? BOXLITE_PULL_LAYER_EXTRACTING
                                                : BOXLITE_PULL_LAYER_DOWNLOADED;
        } else if (l != src) {
            l->state = src->state;
        }
        l->done = src->done;
        if (l->state != l->reported || (bytes && l->state == BOXLITE_PULL_LAYER_DOWNLOADING))
            report(P, i);
    }
}

/* ---- blob transfers ---- */

/*
 * The decimal number that [p, end) starts with, after blanks; -1 if there is none or it does
 * not fit. Header lines from curl are not NUL-terminated: nothing at or past `end` is read.
 */
static long long header_number(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    const char *digits = p;
    long long v = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        if (v > (LLONG_MAX - (*p - '0')) / 10)
            return -1;
        v = v * 10 + (*p - '0');
    }
    return p > digits ? v : -1;
}

/* A copy of the n bytes at p, NUL-terminated; NULL on OOM. Unlike strndup() it never looks for
 * a NUL in the source, which a header line need not have (ASan's strict_string_checks does). */
static char *header_dup(const char *p, size_t n)
{
    char *s = bl_malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = 0;
    }
    return s;
}

/* One response header line, `len` bytes that curl does not NUL-terminate. */
static size_t xfer_header(char *line, size_t size, size_t n, void *userdata)
{
    struct xfer *x = userdata;
    size_t len = size * n;
    const char *end = line + len;
    if (len >= 5 && !strncmp(line, "HTTP/", 5)) { /* a new response (after a redirect) */
        const char *sp = memchr(line, ' ', len);
        long long code = sp ? header_number(sp + 1, end) : -1;
        x->code = code >= 0 ? (long) code : 0;
        x->cr_start = -1;
        x->started = 0;
        free(x->www_auth);
        x->www_auth = NULL;
        return len;
    }
    if (len > 14 && !strncasecmp(line, "Content-Range:", 14)) {
        const char *p = line + 14;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (end - p >= 6 && !strncasecmp(p, "bytes ", 6))
            x->cr_start = header_number(p + 6, end);
    } else if (len > 17 && !strncasecmp(line, "WWW-Authenticate:", 17) && !x->www_auth) {
        const char *v = line + 17;
        while (v < end && *v == ' ')
            v++;
        const char *e = end;
        while (e > v && (e[-1] == '\r' || e[-1] == '\n'))
            e--;
        x->www_auth = header_dup(v, (size_t) (e - v));
    }
    return len;
}

static size_t xfer_write(char *data, size_t size, size_t n, void *userdata)
{
    struct xfer *x = userdata;
    struct pull *P = x->P;
    struct layer *l = &P->layers[x->layer];
    size_t len = size * n;
    if (x->code < 200 || x->code > 299) { /* an error reply: keep its body for the message */
        size_t keep = MIN(len, MAX_ERROR_BODY - MIN(x->errlen, MAX_ERROR_BODY));
        char *b = keep ? bl_realloc(x->errbody, x->errlen + keep + 1) : NULL;
        if (b) {
            memcpy(b + x->errlen, data, keep);
            x->errbody = b;
            x->errlen += keep;
            b[x->errlen] = 0;
        }
        return len;
    }
    if (!x->started) {
        x->started = 1;
        if (x->code == 206 && x->cr_start != (long long) x->sink.off) {
            x->bad_range = 1;
            return 0;
        }
        if (x->code != 206 && x->sink.off > 0) { /* the server ignored Range: start over */
            if (bl_blob_sink_reset(&x->sink, &x->werr) < 0)
                return 0;
            l->done = 0;
        }
    }
    if (!bl_blob_sink_fits(&x->sink, x->sink.off, len)) { /* its limit: the layer's size */
        x->too_long = 1;
        return 0;
    }
    if (bl_blob_sink_write(&x->sink, x->sink.off, data, len, &x->werr) < 0)
        return 0;
    l->done = x->sink.off;
    return len;
}

static int xfer_start(struct pull *P, struct xfer *x, bl_error **err)
{
    char what[96];
    snprintf(what, sizeof(what), "blobs/%s", P->layers[x->layer].nl->blob_digest);
    xfer_release(P, x);
    int r = bl_reg_new_handle(P->client, what, &x->h, &x->hdrs, err);
    if (r < 0)
        return r;
    x->code = 0;
    x->cr_start = -1;
    x->started = x->bad_range = x->too_long = 0;
    x->errbuf[0] = 0;
    (void) P->cu->easy_setopt(x->h, CURLOPT_WRITEFUNCTION, xfer_write);
    (void) P->cu->easy_setopt(x->h, CURLOPT_WRITEDATA, x);
    (void) P->cu->easy_setopt(x->h, CURLOPT_HEADERFUNCTION, xfer_header);
    (void) P->cu->easy_setopt(x->h, CURLOPT_HEADERDATA, x);
    (void) P->cu->easy_setopt(x->h, CURLOPT_PRIVATE, x);
    (void) P->cu->easy_setopt(x->h, CURLOPT_ERRORBUFFER, x->errbuf);
    (void) P->cu->easy_setopt(x->h, CURLOPT_BUFFERSIZE, RECV_BUFFER);
    if (x->sink.off > 0) {
        snprintf(x->range, sizeof(x->range), "%llu-", (unsigned long long) x->sink.off);
        (void) P->cu->easy_setopt(x->h, CURLOPT_RANGE, x->range);
        bl_debug("resuming %s at byte %s", P->layers[x->layer].nl->blob_digest, x->range);
    }
    if (P->cu->multi_add_handle(P->multi, x->h) != CURLM_OK)
        return bl_err(err, -EIO, "cannot start a download");
    x->active = 1;
    x->retry_at_ms = 0;
    P->layers[x->layer].state = BOXLITE_PULL_LAYER_DOWNLOADING;
    return 0;
}

static int retryable(CURLcode c)
{
    return c == CURLE_PARTIAL_FILE || c == CURLE_RECV_ERROR || c == CURLE_SEND_ERROR ||
           c == CURLE_GOT_NOTHING || c == CURLE_COULDNT_CONNECT || c == CURLE_OPERATION_TIMEDOUT ||
           c == CURLE_HTTP2 || c == CURLE_HTTP2_STREAM;
}

/* Schedule another attempt, or fail with the last error once there is none left. */
static int xfer_retry(struct pull *P, struct xfer *x, bl_error **last, bl_error **err)
{
    if (++x->attempts >= MAX_ATTEMPTS) {
        struct layer *l = &P->layers[x->layer];
        int code = (*last)->code;
        if (err && !*err)
            *err = TAKE_PTR(*last);
        return bl_err_prefix(err, code,
                             "layer %s: download interrupted at %llu of %llu bytes (%d attempts)",
                             l->nl->blob_digest, (unsigned long long) x->sink.off,
                             (unsigned long long) l->nl->size, x->attempts);
    }
    bl_debug("retrying %s: %s", P->layers[x->layer].nl->blob_digest, bl_error_msg(*last));
    x->retry_at_ms = now_ms() + MIN(2000, 250 << (x->attempts - 1));
    return 0;
}

/* A transfer ended (well or not): verify and queue the layer, or retry, or fail. */
static int xfer_finished(struct pull *P, struct xfer *x, CURLcode result, bl_error **err)
{
    struct layer *l = &P->layers[x->layer];
    long code = x->code;
    int bad_range = x->bad_range, too_long = x->too_long;
    _cleanup_(bl_error_freep) bl_error *werr = TAKE_PTR(x->werr);
    _cleanup_free_ char *body = TAKE_PTR(x->errbody);
    size_t body_len = x->errlen;
    _cleanup_free_ char *www = TAKE_PTR(x->www_auth);
    char errbuf[CURL_ERROR_SIZE];
    snprintf(errbuf, sizeof(errbuf), "%s", x->errbuf);
    xfer_release(P, x);

    if (werr) { /* the staging file could not be written: the disk, not the network */
        if (err && !*err)
            *err = TAKE_PTR(werr);
        return (*err)->code;
    }
    if (too_long)
        return bl_err(err, -EBADMSG,
                      "layer %s: the registry sent more than the %llu bytes its "
                      "manifest says",
                      l->nl->blob_digest, (unsigned long long) l->nl->size);
    if (bad_range) { /* resumed at the wrong place: start again from zero */
        int r = bl_blob_sink_reset(&x->sink, err);
        if (r < 0)
            return r;
        l->done = 0;
        _cleanup_(bl_error_freep) bl_error *last = NULL;
        (void) bl_err(&last, -EPROTO, "registry resumed the download at the wrong offset");
        return xfer_retry(P, x, &last, err);
    }
    if (result != CURLE_OK) {
        _cleanup_(bl_error_freep) bl_error *last = NULL;
        int r = bl_reg_curl_error(P->client, result, errbuf, &last);
        if (!retryable(result)) {
            if (err && !*err)
                *err = TAKE_PTR(last);
            return r;
        }
        return xfer_retry(P, x, &last, err);
    }
    if (code == 401 && x->auth_rounds++ < 2) {
        int r = bl_reg_authenticate(P->client, www, err);
        if (r < 0)
            return r;
        if (r == 0) {
            x->retry_at_ms = now_ms();
            return 0;
        }
    }
    if (code < 200 || code > 299) {
        int r = bl_reg_http_error(code, body, body_len, err);
        return bl_err_prefix(err, r, "layer %s", l->nl->blob_digest);
    }
    if (x->sink.off < l->nl->size) { /* the connection ended cleanly, early */
        _cleanup_(bl_error_freep) bl_error *last = NULL;
        (void) bl_err(&last, -EBADMSG, "truncated blob");
        return xfer_retry(P, x, &last, err);
    }
    char digest[BL_DIGEST_STR_LEN + 1];
    uint64_t size;
    int r = bl_blob_sink_commit(&x->sink, l->nl->blob_digest, digest, &size, err);
    if (r < 0)
        return bl_err_prefix(err, r, "layer %s", l->nl->blob_digest);
    bl_blob_sink_close(&x->sink);
    x->finished = 1;
    l->state = BOXLITE_PULL_LAYER_DOWNLOADED;
    r = bl_unpack_pool_add(P->pool, l->nl, err);
    if (r < 0)
        return r;
    l->job = r;
    return 0;
}

/* Run every transfer to its end, reporting progress. Stops at the first failure. */
static int download_all(struct pull *P, bl_error **err)
{
    size_t left = 0;
    for (size_t i = 0; i < P->n_xfers; i++) {
        int r = xfer_start(P, &P->xfers[i], err);
        if (r < 0)
            return r;
        left++;
    }
    report_changes(P, 0);
    while (left > 0) {
        int running = 0;
        CURLMcode mc = P->cu->multi_perform(P->multi, &running);
        if (mc != CURLM_OK)
            return bl_err(err, -EIO, "download failed: %s", P->cu->multi_strerror(mc));
        CURLMsg *msg;
        int q;
        while ((msg = P->cu->multi_info_read(P->multi, &q))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            struct xfer *x = NULL;
            (void) P->cu->easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &x);
            CURLcode result = msg->data.result;
            int r = xfer_finished(P, x, result, err);
            if (r < 0)
                return r;
            if (x->finished)
                left--;
        }
        int64_t now = now_ms();
        for (size_t i = 0; i < P->n_xfers; i++) {
            struct xfer *x = &P->xfers[i];
            if (!x->finished && !x->active && x->retry_at_ms && now >= x->retry_at_ms) {
                int r = xfer_start(P, x, err);
                if (r < 0)
                    return r;
            }
        }
        int bytes = now - P->last_progress_ms >= PROGRESS_EVERY_MS;
        if (bytes)
            P->last_progress_ms = now;
        report_changes(P, bytes);
        if (left > 0)
            (void) P->cu->multi_poll(P->multi, NULL, 0, PROGRESS_EVERY_MS / 2, NULL);
    }
    return 0;
}

/* ---- manifests and config ---- */

static int is_index(const char *mt)
{
    return mt && (!strcmp(mt, MT_OCI_INDEX) || !strcmp(mt, MT_DOCKER_LIST));
}

static int is_manifest(const char *mt)
{
    return mt && (!strcmp(mt, MT_OCI_MANIFEST) || !strcmp(mt, MT_DOCKER_MANIFEST));
}

/* The media type of a manifest reply: its Content-Type when it is one we know, else the
 * document's own mediaType, else what its shape says. */
static const char *manifest_type(const struct bl_reg_response *resp, json_t *doc)
{
    const char *ct = resp->content_type;
    if (is_index(ct) || is_manifest(ct))
        return ct;
    const char *mt = json_string_value(json_object_get(doc, "mediaType"));
    if (mt)
        return mt;
    if (json_is_array(json_object_get(doc, "manifests")))
        return MT_OCI_INDEX;
    if (json_object_get(doc, "config") && json_is_array(json_object_get(doc, "layers")))
        return MT_OCI_MANIFEST;
    return ct ? ct : "";
}

/* GET a manifest by tag or digest; check a digest reference against the bytes. */
static int get_manifest(struct pull *P, const char *ref, struct bl_reg_response *resp,
                        json_t **ret_doc, const char **ret_type, bl_error **err)
{
    _cleanup_free_ char *what = bl_asprintf("manifests/%s", ref);
    if (!what)
        return bl_oom(err);
    int r = bl_reg_get(P->client, what, ACCEPT_MANIFESTS, MAX_MANIFEST, resp, err);
    if (r < 0)
        return r;
    if (resp->status != 200)
        return bl_reg_status_error(resp, err);
    if (!strncmp(ref, "sha256:", 7)) {
        char got[BL_DIGEST_STR_LEN + 1];
        if (bl_sha256_buf(resp->body, resp->len, got) < 0)
            return bl_err(err, -ENOSYS, "cannot hash: %s is missing", "libcrypto.so.3");
        if (strcmp(got, ref) != 0)
            return bl_err(err, -EBADMSG, "digest mismatch for manifest %s: content is %s", ref,
                          got);
    }
    json_error_t je;
    json_t *doc = json_loadb(resp->body, resp->len, 0, &je);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return bl_err(err, -EPROTO, "manifest '%s' is not a JSON object", ref);
    }
    *ret_type = manifest_type(resp, doc);
    *ret_doc = doc;
    return 0;
}

/* Pick the manifest for `want` from an index. */
static int select_platform(json_t *index, const struct platform *want, const char **ret_digest,
                           bl_error **err)
{
    json_t *ms = json_object_get(index, "manifests");
    if (!json_is_array(ms) || json_array_size(ms) == 0)
        return bl_err(err, -EPROTO, "image index lists no manifests");
    size_t i;
    json_t *d;
    char seen[256] = "";
    json_array_foreach(ms, i, d)
    {
        json_t *pl = json_object_get(d, "platform");
        const char *dg = json_string_value(json_object_get(d, "digest"));
        const char *mt = json_string_value(json_object_get(d, "mediaType"));
        if (!bl_digest_valid(dg))
            continue;
        if (!pl && json_array_size(ms) > 1)
            continue;
        if (pl && !platform_matches(pl, want)) {
            const char *os = json_string_value(json_object_get(pl, "os"));
            const char *arch = json_string_value(json_object_get(pl, "architecture"));
            const char *var = json_string_value(json_object_get(pl, "variant"));
            size_t o = strlen(seen);
            if (os && arch && strcmp(os, "unknown") != 0 && o < sizeof(seen) - 1)
                snprintf(seen + o, sizeof(seen) - o, "%s%s/%s%s%s", o ? ", " : "", os, arch,
                         var ? "/" : "", var ? var : "");
            continue;
        }
        if (mt && is_index(mt))
            return bl_err(err, -ENOTSUP, "nested image indexes are not supported");
        *ret_digest = dg;
        return 0;
    }
    char w[100];
    platform_format(want, w, sizeof(w));
    return bl_err(err, -ENOENT, "no image for platform %s in the index (it has: %s)", w,
                  seen[0] ? seen : "none");
}

/* Stage a blob held in memory, checking it against its descriptor. */
static int stage_memory(struct pull *P, const char *name, const char *expect, const void *data,
                        size_t len, bl_error **err)
{
    _cleanup_(bl_blob_sink_close) struct bl_blob_sink s = BL_BLOB_SINK_NULL;
    int r = bl_blob_sink_open(&s, P->stage.fd, name, BL_BLOB_SINK_NO_LIMIT, err);
    if (r < 0)
        return r;
    r = bl_blob_sink_write(&s, 0, data, len, err);
    if (r < 0)
        return r;
    char digest[BL_DIGEST_STR_LEN + 1];
    uint64_t size;
    return bl_blob_sink_commit(&s, expect, digest, &size, err);
}

/* The image config: from the store when it has it, else downloaded (and staged). */
static int get_config(struct pull *P, const char *digest, json_int_t size, json_t **ret,
                      bl_error **err)
{
    if (bl_store_has_blob(P->rt, digest))
        return bl_image_read_blob_json(P->rt, digest, ret, err);
    _cleanup_free_ char *what = bl_asprintf("blobs/%s", digest);
    if (!what)
        return bl_oom(err);
    _cleanup_(bl_reg_response_done) struct bl_reg_response resp = {0};
    int r = bl_reg_get(P->client, what, NULL, MAX_CONFIG, &resp, err);
    if (r < 0)
        return r;
    if (resp.status != 200) {
        r = bl_reg_status_error(&resp, err);
        return bl_err_prefix(err, r, "config %s", digest);
    }
    if (size >= 0 && (uint64_t) size != resp.len)
        return bl_err(err, -EBADMSG, "config %s has %zu bytes, its descriptor says %lld", digest,
                      resp.len, (long long) size);
    r = stage_memory(P, "config", digest, resp.body, resp.len, err);
    if (r < 0)
        return bl_err_prefix(err, r, "config %s", digest);
    json_t *j = json_loadb(resp.body, resp.len, 0, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return bl_err(err, -EPROTO, "config %s is not a JSON object", digest);
    }
    *ret = j;
    return 0;
}

/* Layers: fill P->img.layers from the manifest and config, decide what to fetch. */
static int plan_layers(struct pull *P, json_t *manifest, json_t *config, bl_error **err)
{
    json_t *layers = json_object_get(manifest, "layers");
    json_t *diff_ids = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
    if (!json_is_array(layers) || !json_is_array(diff_ids) ||
        json_array_size(layers) != json_array_size(diff_ids))
        return bl_err(err, -EPROTO, "manifest and config disagree on the layers");
    size_t n = json_array_size(layers);
    P->img.n_layers = n;
    P->img.layers = bl_calloc(n ? n : 1, sizeof(*P->img.layers));
    P->layers = bl_calloc(n ? n : 1, sizeof(*P->layers));
    P->xfers = bl_calloc(n ? n : 1, sizeof(*P->xfers));
    if (!P->img.layers || !P->layers || !P->xfers)
        return bl_oom(err);
    int r = bl_unpack_pool_new(P->rt, P->stage.fd, n, &P->pool, err);
    if (r < 0)
        return r;
    for (size_t k = 0; k < n; k++) {
        json_t *d = json_array_get(layers, k);
        struct bl_new_layer *nl = &P->img.layers[k];
        struct layer *l = &P->layers[k];
        *l = (struct layer){.nl = nl, .reported = -1, .job = -1, .same_as = -1};
        const char *mt_in = json_string_value(json_object_get(d, "mediaType"));
        const char *mt = bl_layer_media_type(mt_in);
        const char *dg = json_string_value(json_object_get(d, "digest"));
        const char *di = json_string_value(json_array_get(diff_ids, k));
        json_t *sz = json_object_get(d, "size");
        if (!mt)
            return bl_err(err, -ENOTSUP, "unsupported layer media type '%s'", mt_in ? mt_in : "");
        if (!bl_digest_valid(dg) || !bl_digest_valid(di) || !json_is_integer(sz) ||
            json_integer_value(sz) < 0)
            return bl_err(err, -EPROTO, "layer %zu has an invalid descriptor or diff_id", k);
        memcpy(nl->blob_digest, dg, sizeof(nl->blob_digest));
        memcpy(nl->diff_id, di, sizeof(nl->diff_id));
        nl->media_type = mt;
        nl->size = (uint64_t) json_integer_value(sz);
        for (size_t q = 0; q < k && l->same_as < 0; q++)
            if (!strcmp(P->img.layers[q].diff_id, nl->diff_id))
                l->same_as = (int) q;
        if (l->same_as >= 0) {
            l->state = P->layers[l->same_as].state;
            continue;
        }
        r = bl_store_has_layer(P->rt, nl->diff_id, err);
        if (r < 0)
            return r;
        if (r > 0) {
            l->state = BOXLITE_PULL_LAYER_CACHED;
            continue;
        }
        if (bl_store_has_blob(P->rt, nl->blob_digest)) { /* downloaded before, not unpacked */
            l->state = BOXLITE_PULL_LAYER_DOWNLOADED;
            r = bl_unpack_pool_add(P->pool, nl, err);
            if (r < 0)
                return r;
            l->job = r;
            continue;
        }
        l->state = BOXLITE_PULL_LAYER_WAITING;
        struct xfer *x = &P->xfers[P->n_xfers++];
        *x = (struct xfer){.P = P, .layer = k, .sink = BL_BLOB_SINK_NULL};
        char name[32];
        snprintf(name, sizeof(name), "layer%zu", k);
        r = bl_blob_sink_open(&x->sink, P->stage.fd, name, nl->size, err);
        if (r < 0)
            return r;
    }
    return 0;
}

/*
 * Pull `ref` (a normalised reference) from its registry into the store. On success *ret_id is
 * the image id.
 */
static int pull_one(struct boxlite_runtime *rt, const char *ref, const struct platform *want,
                    int platform_given, const boxlite_pull_opts *opts, char **ret_id,
                    bl_error **err)
{
    _cleanup_(bl_image_ref_done) struct bl_image_ref pr = BL_IMAGE_REF_NULL;
    int r = bl_image_ref_parse(ref, &pr, err);
    if (r < 0)
        return r;
    _cleanup_(pull_done) struct pull P = {.rt = rt, .opts = opts, .stage = BL_STAGE_NULL};
    r = bl_curl_load(&P.cu, err);
    if (r < 0)
        return r;
    r = bl_reg_client_new(rt->registries, pr.registry, pr.repository, &P.client, err);
    if (r < 0)
        return r;

    _cleanup_(bl_reg_response_done) struct bl_reg_response mresp = {0};
    _cleanup_json_ json_t *manifest = NULL;
    const char *mt = NULL;
    r = get_manifest(&P, pr.digest ? pr.digest : pr.tag, &mresp, &manifest, &mt, err);
    if (r < 0)
        return r;
    if (is_index(mt)) {
        const char *dg = NULL;
        r = select_platform(manifest, want, &dg, err);
        if (r < 0)
            return r;
        _cleanup_free_ char *digest = bl_strdup(dg);
        if (!digest)
            return bl_oom(err);
        bl_reg_response_done(&mresp);
        json_decref(TAKE_PTR(manifest));
        r = get_manifest(&P, digest, &mresp, &manifest, &mt, err);
        if (r < 0)
            return r;
    }
    if (!is_manifest(mt))
        return bl_err(err, -ENOTSUP, "unsupported manifest media type '%s'", mt);

    r = bl_stage_new(rt, "pull", &P.stage, err);
    if (r < 0)
        return r;
    if (bl_sha256_buf(mresp.body, mresp.len, P.img.id) < 0)
        return bl_err(err, -ENOSYS, "cannot hash: %s is missing", "libcrypto.so.3");
    r = stage_memory(&P, "manifest", P.img.id, mresp.body, mresp.len, err);
    if (r < 0)
        return r;

    json_t *cd = json_object_get(manifest, "config");
    const char *cdg = json_string_value(json_object_get(cd, "digest"));
    json_t *csz = json_object_get(cd, "size");
    if (!bl_digest_valid(cdg))
        return bl_err(err, -EPROTO, "manifest has an invalid config descriptor");
    memcpy(P.img.config_digest, cdg, sizeof(P.img.config_digest));
    _cleanup_json_ json_t *config = NULL;
    r = get_config(&P, cdg, json_is_integer(csz) ? json_integer_value(csz) : -1, &config, err);
    if (r < 0)
        return r;
    const char *os = json_string_value(json_object_get(config, "os"));
    const char *arch = json_string_value(json_object_get(config, "architecture"));
    P.img.os = bl_strdup(os ? os : "linux");
    P.img.arch = bl_strdup(arch ? arch : "amd64");
    if (!P.img.os || !P.img.arch)
        return bl_oom(err);
    if (platform_given) {
        char a[32];
        snprintf(a, sizeof(a), "%s", P.img.arch);
        normalise_arch(a, sizeof(a));
        if (strcasecmp(P.img.os, want->os) != 0 || strcmp(a, want->arch) != 0) {
            char w[100];
            platform_format(want, w, sizeof(w));
            return bl_err(err, -ENOENT, "the image is for %s/%s, not the requested %s", P.img.os,
                          P.img.arch, w);
        }
    }
    r = bl_strv_push(&P.img.refs, ref);
    if (r < 0)
        return bl_oom(err);

    r = plan_layers(&P, manifest, config, err);
    if (r < 0)
        return r;
    P.multi = P.cu->multi_init();
    if (!P.multi)
        return bl_oom(err);
    (void) P.cu->multi_setopt(P.multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long) MAX_PARALLEL);
    r = download_all(&P, err);
    if (r < 0)
        return r;
    while (!bl_unpack_pool_idle(P.pool)) {
        bl_unpack_pool_wait(P.pool, PROGRESS_EVERY_MS);
        report_changes(&P, 0);
    }
    r = bl_unpack_pool_finish(P.pool, err);
    if (r < 0)
        return r;
    report_changes(&P, 0);
    r = bl_images_commit(rt, P.stage.fd, &P.img, 1, err);
    if (r < 0)
        return r;
    char *id = bl_strdup(P.img.id);
    if (!id)
        return bl_oom(err);
    *ret_id = id;
    return 0;
}

/* The stored image a normalised reference names, if its platform suits. */
static int cached(struct boxlite_runtime *rt, const char *ref, const struct platform *want,
                  int platform_given, char **ret_id, bl_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = bl_store_prepare(rt->store,
                             "SELECT i.id, i.os, i.architecture FROM image_refs r JOIN images i "
                             "ON i.id = r.image_id WHERE r.reference = ?",
                             &st, err);
    if (r < 0)
        return r;
    bl_stmt_bind_text(st, 1, ref);
    if (sqlite3_step(st) != SQLITE_ROW)
        return 0;
    if (platform_given) {
        const char *os = bl_stmt_text(st, 1), *arch = bl_stmt_text(st, 2);
        char a[32];
        snprintf(a, sizeof(a), "%s", arch ? arch : "");
        normalise_arch(a, sizeof(a));
        if (!os || strcasecmp(os, want->os) != 0 || strcmp(a, want->arch) != 0)
            return 0;
    }
    char *id = bl_strdup(bl_stmt_text(st, 0));
    if (!id)
        return bl_oom(err);
    *ret_id = id;
    return 1;
}

/* Pull (or find in the store) the image `ref` names. On success *ret_id is its id and
 * *ret_ref (if non-NULL) the normalised reference it is stored under. */
static int pull(struct boxlite_runtime *rt, const char *ref, const boxlite_pull_opts *opts,
                char **ret_id, char **ret_ref, bl_error **err)
{
    struct platform want;
    int r = parse_platform(opts ? opts->platform : NULL, &want, err);
    if (r < 0)
        return bl_err_prefix(err, r, "failed to pull '%s'", ref);
    int given = opts && opts->platform;
    _cleanup_strv_free_ char **cands = NULL;
    r = bl_registry_candidates(rt->registries, ref, &cands, err);
    if (r < 0)
        return bl_err_prefix(err, r, "failed to pull '%s'", ref);
    for (char **c = cands; *c; c++) {
        _cleanup_free_ char *id = NULL;
        r = cached(rt, *c, &want, given, &id, err);
        if (r < 0)
            return bl_err_prefix(err, r, "failed to pull '%s'", ref);
        if (r > 0) {
            char *cr = ret_ref ? bl_strdup(*c) : NULL;
            if (ret_ref && !cr)
                return bl_oom(err);
            *ret_id = TAKE_PTR(id);
            if (ret_ref)
                *ret_ref = cr;
            return 0;
        }
    }
    size_t n = bl_strv_length(cands);
    _cleanup_free_ char *why = NULL;
    int first = 0;
    for (char **c = cands; *c; c++) {
        _cleanup_free_ char *id = NULL;
        _cleanup_(bl_error_freep) bl_error *e = NULL;
        for (int attempt = 1;; attempt++) {
            r = pull_one(rt, *c, &want, given, opts, &id, &e);
            if (r != -EAGAIN || attempt >= 3)
                break; /* -EAGAIN: a layer counted on was removed meanwhile: once more */
            bl_error_free(TAKE_PTR(e));
        }
        if (r >= 0) {
            char *cr = ret_ref ? bl_strdup(*c) : NULL;
            if (ret_ref && !cr)
                return bl_oom(err);
            *ret_id = TAKE_PTR(id);
            if (ret_ref)
                *ret_ref = cr;
            return 0;
        }
        if (!first)
            first = r;
        bl_debug("pull of '%s' failed: %s", *c, bl_error_msg(e));
        char *w = n == 1 ? bl_strdup(bl_error_msg(e))
                         : bl_asprintf("%s%s%s: %s", why ? why : "", why ? "; " : "", *c,
                                       bl_error_msg(e));
        if (!w)
            return bl_oom(err);
        free(why);
        why = w;
    }
    if (n == 1)
        return bl_err(err, first, "failed to pull '%s': %s", ref, why);
    return bl_err(err, first, "failed to pull '%s' after trying %zu registries: %s", ref, n, why);
}

BOXLITE_API int boxlite_image_pull(boxlite_runtime *rt, const char *ref,
                                   const boxlite_pull_opts *opts, boxlite_image **ret_image,
                                   boxlite_error **err)
{
    if (!rt || !ref)
        return bl_err(err, -EINVAL, "runtime and reference are required");
    if (opts && opts->version < 1)
        return bl_err(err, -EINVAL, "boxlite_pull_opts: unknown version %u", opts->version);
    _cleanup_free_ char *id = NULL, *stored = NULL;
    int r = pull(rt, ref, opts, &id, &stored, err);
    if (r < 0)
        return r;
    if (ret_image)
        return bl_image_get(rt, id, stored, ret_image, err);
    return 0;
}

int bl_image_ensure(struct boxlite_runtime *rt, const char *ref, char **ret_id, bl_error **err)
{
    _cleanup_(bl_error_freep) bl_error *e = NULL;
    int r = bl_image_resolve(rt, ref, ret_id, NULL, &e);
    if (r != -ENOENT) {
        if (r < 0 && err && !*err)
            *err = TAKE_PTR(e);
        return r;
    }
    return pull(rt, ref, NULL, ret_id, NULL, err);
}
