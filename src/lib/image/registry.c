/* SPDX-License-Identifier: MIT */
/*
 * Registries: configuration, reference candidates, credentials and an authenticating HTTP
 * client (see registry.h). The pure parts (configuration, candidates, WWW-Authenticate, docker
 * config.json, base64) have unit tests in tests/unit/test-registry.c; the client is exercised
 * against a real registry by tests/integration/cli/030-pull.sh.
 *
 * The client owns one curl easy handle for its small requests (manifests, configs, tokens), so
 * they share one connection; blob transfers get handles of their own (bl_reg_new_handle) to run
 * in parallel. Credentials are sent as an "Authorization:" header, which libcurl drops when a
 * redirect leaves the original host, port or scheme (blob storage behind a redirect never sees
 * them). Nothing here logs a credential or puts one in an error message.
 */
#include <ctype.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "alloc-util.h"
#include "curl-dl.h"
#include "fs-util.h"
#include "image-ref.h"
#include "json-util.h"
#include "log.h"
#include "registry.h"
#include "strv.h"

#define DOCKER_HUB "docker.io"
#define DOCKER_HUB_API "registry-1.docker.io"
#define MAX_TOKEN_REPLY (1u << 20)
#define MAX_DOCKER_CONFIG (4u << 20)
#define USER_AGENT "boxlite/0.1"

/* ---- configuration ---- */

static void registry_done(struct bl_registry *r)
{
    free(r->host);
    free(r->username);
    if (r->password)
        explicit_bzero(r->password, strlen(r->password));
    free(r->password);
    if (r->token)
        explicit_bzero(r->token, strlen(r->token));
    free(r->token);
    free(r->ca);
    *r = (struct bl_registry){0};
}

void bl_registries_done(struct bl_registries *r)
{
    for (size_t i = 0; i < r->n; i++)
        registry_done(&r->v[i]);
    free(r->v);
    free(r->home_dir);
    *r = (struct bl_registries){0};
}

char *bl_registry_canonical_host(const char *host)
{
    if (!strcasecmp(host, "index.docker.io") || !strcasecmp(host, DOCKER_HUB_API))
        return bl_strdup(DOCKER_HUB);
    char *h = bl_strdup(host);
    if (h)
        for (char *p = h; *p; p++)
            *p = (char) tolower((unsigned char) *p);
    return h;
}

/* A host as configured: "name[:port]" or "[v6]:port", no scheme, no path, no whitespace. */
static int valid_host(const char *h)
{
    if (!*h || strstr(h, "://"))
        return 0;
    for (const char *p = h; *p; p++)
        if ((unsigned char) *p <= ' ' || *p == '/' || *p == '@' || *p == 0x7f)
            return 0;
    return 1;
}

static int add_registry(struct bl_registries *R, struct bl_registry *reg, bl_error **err)
{
    struct bl_registry *v = bl_realloc(R->v, (R->n + 1) * sizeof(*v));
    if (!v) {
        registry_done(reg);
        return bl_oom(err);
    }
    R->v = v;
    R->v[R->n++] = *reg;
    *reg = (struct bl_registry){0};
    return 0;
}

/* Optional string member: 0 if absent or null, 1 if set (copied), <0 on a wrong type. */
static int opt_string(json_t *o, const char *key, const char *where, char **ret, bl_error **err)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return bl_err(err, -EINVAL, "invalid configuration: %s.%s must be a string", where, key);
    char *s = bl_strdup(json_string_value(v));
    if (!s)
        return bl_oom(err);
    free(*ret);
    *ret = s;
    return 1;
}

static int opt_bool(json_t *o, const char *key, const char *where, int *ret, bl_error **err)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return bl_err(err, -EINVAL, "invalid configuration: %s.%s must be true or false", where,
                      key);
    *ret = json_is_true(v);
    return 1;
}

static int parse_auth(json_t *a, const char *where, struct bl_registry *reg, bl_error **err)
{
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_object(a))
        return bl_err(err, -EINVAL, "invalid configuration: %s.auth must be an object", where);
    const char *type = json_string_value(json_object_get(a, "type"));
    char w[96];
    snprintf(w, sizeof(w), "%s.auth", where);
    int r;
    if (!type)
        return bl_err(err, -EINVAL, "invalid configuration: %s.type must be a string", w);
    if (!strcasecmp(type, "anonymous")) {
        reg->auth = BL_REGISTRY_AUTH_ANONYMOUS;
    } else if (!strcasecmp(type, "basic")) {
        reg->auth = BL_REGISTRY_AUTH_BASIC;
        if ((r = opt_string(a, "username", w, &reg->username, err)) < 0 ||
            (r = opt_string(a, "password", w, &reg->password, err)) < 0)
            return r;
        if (!reg->username || !reg->password)
            return bl_err(err, -EINVAL,
                          "invalid configuration: %s of type basic needs username and password", w);
    } else if (!strcasecmp(type, "bearer")) {
        reg->auth = BL_REGISTRY_AUTH_BEARER;
        if ((r = opt_string(a, "token", w, &reg->token, err)) < 0)
            return r;
        if (!reg->token)
            return bl_err(err, -EINVAL, "invalid configuration: %s of type bearer needs a token",
                          w);
    } else {
        return bl_err(err, -EINVAL,
                      "invalid configuration: %s.type '%s' is not one of anonymous, basic, bearer",
                      w, type);
    }
    return 0;
}

static int parse_entry(json_t *e, size_t i, struct bl_registry *reg, bl_error **err)
{
    char where[64];
    snprintf(where, sizeof(where), "image_registries[%zu]", i);
    if (!json_is_object(e))
        return bl_err(err, -EINVAL, "invalid configuration: %s must be an object", where);
    _cleanup_free_ char *host = NULL, *transport = NULL;
    int r;
    if ((r = opt_string(e, "host", where, &host, err)) < 0)
        return r;
    if (!host || !valid_host(host))
        return bl_err(err, -EINVAL,
                      "invalid configuration: %s.host must be a host name with an optional port "
                      "and no scheme, got '%s'",
                      where, host ? host : "");
    reg->host = bl_registry_canonical_host(host);
    if (!reg->host)
        return bl_oom(err);
    if ((r = opt_string(e, "transport", where, &transport, err)) < 0)
        return r;
    if (transport && strcasecmp(transport, "http") && strcasecmp(transport, "https"))
        return bl_err(err, -EINVAL,
                      "invalid configuration: %s.transport must be \"http\" or \"https\", got "
                      "'%s'",
                      where, transport);
    reg->http = transport && !strcasecmp(transport, "http");
    if ((r = opt_bool(e, "skip_verify", where, &reg->skip_verify, err)) < 0 ||
        (r = opt_bool(e, "search", where, &reg->search, err)) < 0 ||
        (r = opt_string(e, "ca", where, &reg->ca, err)) < 0)
        return r;
    return parse_auth(json_object_get(e, "auth"), where, reg, err);
}

int bl_registries_parse(const char *config_json, const char *const *hosts,
                        struct bl_registries *ret, bl_error **err)
{
    _cleanup_(bl_registries_done) struct bl_registries R = {0};
    for (const char *const *h = hosts; h && *h; h++) {
        if (!valid_host(*h))
            return bl_err(err, -EINVAL,
                          "invalid registry '%s': expected a host name with an optional port "
                          "and no scheme",
                          *h);
        struct bl_registry reg = {.host = bl_registry_canonical_host(*h), .search = 1};
        if (!reg.host)
            return bl_oom(err);
        int r = add_registry(&R, &reg, err);
        if (r < 0)
            return r;
    }
    if (config_json) {
        json_error_t je;
        _cleanup_json_ json_t *root = json_loads(config_json, 0, &je);
        if (!root)
            return bl_err(err, -EINVAL, "invalid configuration: %s (line %d)", je.text, je.line);
        if (!json_is_object(root))
            return bl_err(err, -EINVAL, "invalid configuration: expected a JSON object");
        int r = opt_string(root, "home_dir", "configuration", &R.home_dir, err);
        if (r < 0)
            return r;
        json_t *regs = json_object_get(root, "image_registries");
        if (regs && !json_is_null(regs) && !json_is_array(regs))
            return bl_err(err, -EINVAL, "invalid configuration: image_registries must be a list");
        size_t i;
        json_t *e;
        json_array_foreach(regs, i, e)
        {
            struct bl_registry reg = {0};
            r = parse_entry(e, i, &reg, err);
            if (r < 0) {
                registry_done(&reg);
                return r;
            }
            r = add_registry(&R, &reg, err);
            if (r < 0)
                return r;
        }
    }
    *ret = R;
    R = (struct bl_registries){0};
    return 0;
}

/* The entry for a host. A configured entry (with its transport and credentials) wins over the
 * bare https entry a --registry flag made for the same host: configured entries come after. */
const struct bl_registry *bl_registries_find(const struct bl_registries *r, const char *host)
{
    _cleanup_free_ char *h = bl_registry_canonical_host(host);
    if (!r || !h)
        return NULL;
    for (size_t i = r->n; i > 0; i--)
        if (!strcmp(r->v[i - 1].host, h))
            return &r->v[i - 1];
    return NULL;
}

/* Whether a reference names its registry: a first path component with '.' or ':' or equal to
 * "localhost" (image-ref.c's rule). */
static int names_registry(const char *ref)
{
    size_t name_len = strcspn(ref, "@");
    const char *slash = memchr(ref, '/', name_len);
    if (!slash)
        return 0;
    size_t n = (size_t) (slash - ref);
    return memchr(ref, '.', n) || memchr(ref, ':', n) || (n == 9 && !memcmp(ref, "localhost", 9));
}

static int push_normalised(char ***list, const char *s, bl_error **err)
{
    struct bl_image_ref p = BL_IMAGE_REF_NULL;
    int r = bl_image_ref_parse(s, &p, err);
    if (r < 0)
        return r;
    char *f = bl_image_ref_format(&p);
    bl_image_ref_done(&p);
    if (!f)
        return bl_oom(err);
    for (char **q = *list; q && *q; q++)
        if (!strcmp(*q, f)) {
            free(f);
            return 0;
        }
    if (bl_strv_consume(list, f) < 0)
        return bl_oom(err);
    return 0;
}

int bl_registry_candidates(const struct bl_registries *r, const char *ref, char ***ret,
                           bl_error **err)
{
    _cleanup_strv_free_ char **list = NULL;
    struct bl_image_ref p = BL_IMAGE_REF_NULL;
    int rc = bl_image_ref_parse(ref, &p, err); /* validates: the message names `ref` */
    if (rc < 0)
        return rc;
    bl_image_ref_done(&p);
    int searched = 0;
    if (!names_registry(ref) && r) {
        for (size_t i = 0; i < r->n; i++) {
            if (!r->v[i].search)
                continue;
            _cleanup_free_ char *full = bl_asprintf("%s/%s", r->v[i].host, ref);
            if (!full)
                return bl_oom(err);
            rc = push_normalised(&list, full, err);
            if (rc < 0)
                return rc;
            searched = 1;
        }
    }
    if (!searched) {
        rc = push_normalised(&list, ref, err);
        if (rc < 0)
            return rc;
    }
    *ret = TAKE_PTR(list);
    return 0;
}

/* ---- WWW-Authenticate ---- */

void bl_auth_challenge_done(struct bl_auth_challenge *c)
{
    free(c->realm);
    free(c->service);
    free(c->scope);
    *c = BL_AUTH_CHALLENGE_NULL;
}

static int is_tchar(char c)
{
    return c > ' ' && c < 0x7f && !strchr("\"(),/:;<=>?@[\\]{}", c);
}

/* A quoted-string at *p (just past the opening quote), unescaped. */
static int read_quoted(const char **p, char **ret, bl_error **err)
{
    const char *s = *p;
    _cleanup_free_ char *out = bl_malloc(strlen(s) + 1);
    if (!out)
        return bl_oom(err);
    size_t o = 0;
    for (;; s++) {
        if (!*s)
            return bl_err(err, -EINVAL, "unterminated quoted string in WWW-Authenticate");
        if (*s == '"')
            break;
        if (*s == '\\' && s[1])
            s++;
        out[o++] = *s;
    }
    out[o] = 0;
    *p = s + 1;
    *ret = TAKE_PTR(out);
    return 0;
}

int bl_auth_challenge_parse(const char *value, struct bl_auth_challenge *ret, bl_error **err)
{
    _cleanup_(bl_auth_challenge_done) struct bl_auth_challenge basic = BL_AUTH_CHALLENGE_NULL;
    _cleanup_(bl_auth_challenge_done) struct bl_auth_challenge bearer = BL_AUTH_CHALLENGE_NULL;
    struct bl_auth_challenge *cur = NULL; /* the challenge parameters go to; NULL: skip them */
    int in_challenge = 0;
    const char *p = value;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *t = p;
        while (is_tchar(*p))
            p++;
        size_t tlen = (size_t) (p - t);
        if (tlen == 0)
            return bl_err(err, -EINVAL, "malformed WWW-Authenticate header");
        const char *q = p;
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q == '=' && in_challenge) { /* name=value of the current challenge */
            p = q + 1;
            while (*p == ' ' || *p == '\t')
                p++;
            _cleanup_free_ char *v = NULL;
            if (*p == '"') {
                p++;
                int r = read_quoted(&p, &v, err);
                if (r < 0)
                    return r;
            } else {
                const char *vs = p;
                while (*p && *p != ',' && *p != ' ' && *p != '\t')
                    p++;
                v = bl_strndup(vs, (size_t) (p - vs));
                if (!v)
                    return bl_oom(err);
            }
            char **slot = NULL;
            if (cur && tlen == 5 && !strncasecmp(t, "realm", 5))
                slot = &cur->realm;
            else if (cur && tlen == 7 && !strncasecmp(t, "service", 7))
                slot = &cur->service;
            else if (cur && tlen == 5 && !strncasecmp(t, "scope", 5))
                slot = &cur->scope;
            if (slot && !*slot)
                *slot = TAKE_PTR(v);
            continue;
        }
        if (*q == '=') /* a parameter before any scheme */
            return bl_err(err, -EINVAL, "malformed WWW-Authenticate header");
        /* a new challenge: its scheme */
        in_challenge = 1;
        cur = NULL;
        if (tlen == 6 && !strncasecmp(t, "bearer", 6) && bearer.scheme == BL_CHALLENGE_NONE) {
            bearer.scheme = BL_CHALLENGE_BEARER;
            cur = &bearer;
        } else if (tlen == 5 && !strncasecmp(t, "basic", 5) && basic.scheme == BL_CHALLENGE_NONE) {
            basic.scheme = BL_CHALLENGE_BASIC;
            cur = &basic;
        }
        /* token68 credentials of another scheme ("Negotiate abc=="): skip to the next comma */
        if (!cur && *q && *q != ',' && *q != '=') {
            const char *z = q;
            while (*z && *z != ',' && *z != '=')
                z++;
            while (*z == '=')
                z++;
            if (!*z || *z == ',' || *z == ' ')
                p = z;
        }
    }
    if (bearer.scheme) {
        *ret = bearer;
        bearer = BL_AUTH_CHALLENGE_NULL;
        return 1;
    }
    if (basic.scheme) {
        *ret = basic;
        basic = BL_AUTH_CHALLENGE_NULL;
        return 1;
    }
    return 0;
}

/* ---- base64 ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *bl_base64_encode(const void *data, size_t len)
{
    const unsigned char *d = data;
    char *out = bl_malloc((len + 2) / 3 * 4 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned) d[i] << 16;
        if (i + 1 < len)
            v |= (unsigned) d[i + 1] << 8;
        if (i + 2 < len)
            v |= d[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? b64[v & 63] : '=';
    }
    out[o] = 0;
    return out;
}

int bl_base64_decode(const char *s, char **ret, size_t *ret_len)
{
    size_t n = strlen(s);
    _cleanup_free_ char *out = bl_malloc(n / 4 * 3 + 3);
    if (!out)
        return -ENOMEM;
    size_t o = 0, pad = 0;
    unsigned v = 0, k = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '=') {
            pad++;
            continue;
        }
        const char *c = strchr(b64, *p);
        if (!c || !*p || pad)
            return -EINVAL; /* bad character, or data after padding */
        v = v << 6 | (unsigned) (c - b64);
        if (++k == 4) {
            out[o++] = (char) (v >> 16);
            out[o++] = (char) (v >> 8);
            out[o++] = (char) v;
            v = k = 0;
        }
    }
    if (k == 1 || pad > 2 || (pad && (k + pad) != 4))
        return -EINVAL;
    if (k == 2) {
        out[o++] = (char) (v >> 4);
    } else if (k == 3) {
        out[o++] = (char) (v >> 10);
        out[o++] = (char) (v >> 2);
    }
    out[o] = 0;
    if (ret_len)
        *ret_len = o;
    *ret = TAKE_PTR(out);
    return 0;
}

/* ---- docker config.json ---- */

/* "https://Host:5000/v2/" -> canonical "host:5000" */
static char *auths_key_host(const char *key)
{
    const char *k = key;
    if (!strncasecmp(k, "https://", 8))
        k += 8;
    else if (!strncasecmp(k, "http://", 7))
        k += 7;
    _cleanup_free_ char *h = bl_strndup(k, strcspn(k, "/"));
    if (!h)
        return NULL;
    return bl_registry_canonical_host(h);
}

int bl_docker_config_auth(const char *config_json, const char *host, char **ret_user,
                          char **ret_pass, bl_error **err)
{
    _cleanup_json_ json_t *root = json_loads(config_json, 0, NULL);
    json_t *auths = json_object_get(root, "auths");
    if (!json_is_object(auths))
        return 0;
    _cleanup_free_ char *want = bl_registry_canonical_host(host);
    if (!want)
        return bl_oom(err);
    const char *key;
    json_t *e;
    json_object_foreach(auths, key, e)
    {
        _cleanup_free_ char *h = auths_key_host(key);
        if (!h)
            return bl_oom(err);
        if (strcmp(h, want) != 0)
            continue;
        const char *a = json_string_value(json_object_get(e, "auth"));
        const char *u = json_string_value(json_object_get(e, "username"));
        const char *pw = json_string_value(json_object_get(e, "password"));
        _cleanup_free_ char *user = NULL, *pass = NULL;
        if (a && *a) {
            size_t len = 0;
            _cleanup_free_ char *dec = NULL;
            int r = bl_base64_decode(a, &dec, &len);
            if (r == -ENOMEM)
                return bl_oom(err);
            char *colon = r == 0 ? memchr(dec, ':', len) : NULL;
            if (!colon) {
                if (dec)
                    explicit_bzero(dec, len);
                continue; /* not "user:password": ignore the entry, as docker does */
            }
            user = bl_strndup(dec, (size_t) (colon - dec));
            pass = bl_strdup(colon + 1);
            explicit_bzero(dec, len);
        } else if (u && pw) {
            user = bl_strdup(u);
            pass = bl_strdup(pw);
        } else {
            continue;
        }
        if (!user || !pass)
            return bl_oom(err);
        *ret_user = TAKE_PTR(user);
        *ret_pass = TAKE_PTR(pass);
        return 1;
    }
    return 0;
}

/* ---- the client ---- */

struct bl_reg_client {
    const struct bl_curl *cu; /* libcurl */
    char *host;               /* as given */
    char *repo;
    char *base; /* "https://host" */
    int skip_verify;
    char *ca;
    int anonymous; /* configured anonymous: never send credentials */
    char *user, *pass;
    char *bearer;      /* the token in use: configured, or from the token server */
    int fixed_bearer;  /* the configured token: nothing else to try */
    int basic;         /* the registry asked for Basic: send the credentials */
    char *auth_header; /* "Authorization: ..." for the above, or NULL */
    char *token_scope; /* the scope of the fetched token */
    time_t token_time; /* when it was fetched */
    CURL *easy;
};

static void free_secret(char **s)
{
    if (*s) {
        explicit_bzero(*s, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

void bl_reg_client_free(struct bl_reg_client *c)
{
    if (!c)
        return;
    if (c->easy)
        c->cu->easy_cleanup(c->easy);
    free(c->host);
    free(c->repo);
    free(c->base);
    free(c->ca);
    free(c->user);
    free_secret(&c->pass);
    free_secret(&c->bearer);
    free_secret(&c->auth_header);
    free(c->token_scope);
    free(c);
}

const char *bl_reg_client_host(const struct bl_reg_client *c)
{
    return c->host;
}

static int update_auth_header(struct bl_reg_client *c, bl_error **err)
{
    free_secret(&c->auth_header);
    if (c->bearer) {
        c->auth_header = bl_asprintf("Authorization: Bearer %s", c->bearer);
    } else if (c->basic && c->user && c->pass) {
        _cleanup_free_ char *plain = bl_asprintf("%s:%s", c->user, c->pass);
        if (!plain)
            return bl_oom(err);
        _cleanup_free_ char *enc = bl_base64_encode(plain, strlen(plain));
        explicit_bzero(plain, strlen(plain));
        if (!enc)
            return bl_oom(err);
        c->auth_header = bl_asprintf("Authorization: Basic %s", enc);
        explicit_bzero(enc, strlen(enc));
    } else {
        return 0;
    }
    return c->auth_header ? 0 : bl_oom(err);
}

static int load_docker_config(struct bl_reg_client *c, bl_error **err)
{
    const char *dir = getenv("DOCKER_CONFIG");
    const char *home = getenv("HOME");
    _cleanup_free_ char *path = NULL;
    if (dir && *dir)
        path = bl_path_join(dir, "config.json");
    else if (home && *home)
        path = bl_asprintf("%s/.docker/config.json", home);
    else
        return 0;
    if (!path)
        return bl_oom(err);
    _cleanup_free_ char *text = NULL;
    size_t len;
    if (bl_read_file_at(AT_FDCWD, path, MAX_DOCKER_CONFIG, &text, &len, NULL) < 0)
        return 0; /* absent or unreadable: anonymous */
    int r = bl_docker_config_auth(text, c->host, &c->user, &c->pass, err);
    explicit_bzero(text, len);
    if (r > 0)
        bl_debug("registry '%s': using credentials from %s", c->host, path);
    return r < 0 ? r : 0;
}

int bl_reg_client_new(const struct bl_registries *regs, const char *host, const char *repository,
                      struct bl_reg_client **ret, bl_error **err)
{
    const struct bl_curl *cu = NULL;
    int r = bl_curl_load(&cu, err);
    if (r < 0)
        return r;
    _cleanup_(bl_reg_client_freep) struct bl_reg_client *c = bl_calloc(1, sizeof(*c));
    if (!c)
        return bl_oom(err);
    c->cu = cu;
    const struct bl_registry *reg = bl_registries_find(regs, host);
    c->host = bl_strdup(host);
    c->repo = bl_strdup(repository);
    int is_hub = !strcmp(host, DOCKER_HUB);
    c->base =
        bl_asprintf("%s://%s", reg && reg->http ? "http" : "https", is_hub ? DOCKER_HUB_API : host);
    if (!c->host || !c->repo || !c->base)
        return bl_oom(err);
    c->skip_verify = reg && reg->skip_verify;
    const char *ca = reg && reg->ca ? reg->ca : getenv("CURL_CA_BUNDLE");
    if (!ca || !*ca)
        ca = getenv("SSL_CERT_FILE");
    if (ca && *ca && !(c->ca = bl_strdup(ca)))
        return bl_oom(err);
    switch (reg ? reg->auth : BL_REGISTRY_AUTH_DEFAULT) {
    case BL_REGISTRY_AUTH_ANONYMOUS:
        c->anonymous = 1;
        break;
    case BL_REGISTRY_AUTH_BASIC:
        c->user = bl_strdup(reg->username);
        c->pass = bl_strdup(reg->password);
        if (!c->user || !c->pass)
            return bl_oom(err);
        break;
    case BL_REGISTRY_AUTH_BEARER:
        c->bearer = bl_strdup(reg->token);
        if (!c->bearer)
            return bl_oom(err);
        c->fixed_bearer = 1;
        break;
    case BL_REGISTRY_AUTH_DEFAULT:
        r = load_docker_config(c, err);
        if (r < 0)
            return r;
        break;
    }
    r = update_auth_header(c, err);
    if (r < 0)
        return r;
    c->easy = c->cu->easy_init();
    if (!c->easy)
        return bl_oom(err);
    *ret = TAKE_PTR(c);
    return 0;
}

/* The host[:port] part of a URL, lowercased; NULL if it cannot be parsed. */
static char *url_hostport(struct bl_reg_client *c, const char *url)
{
    CURLU *u = c->cu->url();
    if (!u)
        return NULL;
    char *host = NULL, *port = NULL, *out = NULL;
    if (c->cu->url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        c->cu->url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        if (c->cu->url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK && port)
            out = bl_asprintf("%s:%s", host, port);
        else
            out = bl_strdup(host);
    }
    c->cu->free(host);
    c->cu->free(port);
    c->cu->url_cleanup(u);
    if (out)
        for (char *p = out; *p; p++)
            *p = (char) tolower((unsigned char) *p);
    return out;
}

/* Common settings of every handle. `tls_of_registry`: apply the registry's TLS exceptions
 * (skip_verify, its CA file), which hold for its own host only. */
static void setup_common(struct bl_reg_client *c, CURL *h, const char *url, int tls_of_registry,
                         struct curl_slist *headers)
{
    (void) c->cu->easy_setopt(h, CURLOPT_URL, url);
    (void) c->cu->easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    (void) c->cu->easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    (void) c->cu->easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    (void) c->cu->easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
    (void) c->cu->easy_setopt(h, CURLOPT_UNRESTRICTED_AUTH, 0L); /* never to another host */
    (void) c->cu->easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    (void) c->cu->easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
    /* a stalled transfer fails (and may resume) instead of hanging forever */
    (void) c->cu->easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    (void) c->cu->easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
    (void) c->cu->easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT);
    (void) c->cu->easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    int skip = tls_of_registry && c->skip_verify;
    (void) c->cu->easy_setopt(h, CURLOPT_SSL_VERIFYPEER, skip ? 0L : 1L);
    (void) c->cu->easy_setopt(h, CURLOPT_SSL_VERIFYHOST, skip ? 0L : 2L);
    const char *ca = c->ca;
    if (!tls_of_registry) /* only the environment's CA bundle applies to other hosts */
        ca = getenv("CURL_CA_BUNDLE") && *getenv("CURL_CA_BUNDLE") ? getenv("CURL_CA_BUNDLE")
                                                                   : getenv("SSL_CERT_FILE");
    if (ca && *ca)
        (void) c->cu->easy_setopt(h, CURLOPT_CAINFO, ca);
    (void) c->cu->easy_setopt(h, CURLOPT_HTTPHEADER, headers);
}

static char *v2_url(struct bl_reg_client *c, const char *what)
{
    return bl_asprintf("%s/v2/%s/%s", c->base, c->repo, what);
}

int bl_reg_new_handle(struct bl_reg_client *c, const char *what, CURL **ret,
                      struct curl_slist **ret_headers, bl_error **err)
{
    _cleanup_free_ char *url = v2_url(c, what);
    if (!url)
        return bl_oom(err);
    struct curl_slist *hdrs = NULL;
    if (c->auth_header && !c->anonymous) {
        hdrs = c->cu->slist_append(NULL, c->auth_header);
        if (!hdrs)
            return bl_oom(err);
    }
    CURL *h = c->cu->easy_init();
    if (!h) {
        c->cu->slist_free_all(hdrs);
        return bl_oom(err);
    }
    setup_common(c, h, url, 1, hdrs);
    (void) c->cu->easy_setopt(h, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
    *ret = h;
    *ret_headers = hdrs;
    return 0;
}

int bl_reg_curl_error(struct bl_reg_client *c, CURLcode code, const char *errbuf, bl_error **err)
{
    const char *why = errbuf && *errbuf ? errbuf : c->cu->easy_strerror(code);
    if (code == CURLE_OPERATION_TIMEDOUT)
        return bl_err(err, -ETIMEDOUT, "registry '%s' timed out: %s", c->host, why);
    if (code == CURLE_OUT_OF_MEMORY)
        return bl_oom(err);
    static const CURLcode unreachable[] = {
        CURLE_COULDNT_RESOLVE_HOST,  CURLE_COULDNT_RESOLVE_PROXY,    CURLE_COULDNT_CONNECT,
        CURLE_SSL_CONNECT_ERROR,     CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE,
        CURLE_SSL_CERTPROBLEM,       CURLE_SSL_ISSUER_ERROR,         CURLE_SSL_PINNEDPUBKEYNOTMATCH,
        CURLE_SSL_INVALIDCERTSTATUS, CURLE_UNSUPPORTED_PROTOCOL,
    };
    for (size_t i = 0; i < ELEMENTSOF(unreachable); i++)
        if (code == unreachable[i])
            return bl_err(err, -EHOSTUNREACH, "cannot reach registry '%s': %s", c->host, why);
    return bl_err(err, -EIO, "registry '%s': %s", c->host, why);
}

/* Receiving a small response. Headers are reset at every status line (redirects). */
struct small_rx {
    char *body;
    size_t len, max;
    int too_big;
    char *content_type;
    char *www_auth;
};

static void small_rx_done(struct small_rx *x)
{
    free(x->body);
    free(x->content_type);
    free(x->www_auth);
    *x = (struct small_rx){0};
}

static size_t small_write(char *data, size_t size, size_t n, void *userdata)
{
    struct small_rx *x = userdata;
    size_t len = size * n;
    if (x->len + len > x->max) {
        x->too_big = 1;
        return 0;
    }
    char *b = bl_realloc(x->body, x->len + len + 1);
    if (!b)
        return 0;
    memcpy(b + x->len, data, len);
    x->body = b;
    x->len += len;
    x->body[x->len] = 0;
    return len;
}

/* "Name: value\r\n" -> value (trimmed), if the name matches. The line is `len` bytes that curl
 * does not NUL-terminate: nothing past them is read (strndup() may look for a NUL, and does
 * under ASan's strict_string_checks). */
static char *header_value(const char *line, size_t len, const char *name)
{
    size_t nl = strlen(name);
    if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return NULL;
    const char *v = line + nl + 1, *e = line + len;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
        e--;
    char *value = bl_malloc((size_t) (e - v) + 1);
    if (value) {
        memcpy(value, v, (size_t) (e - v));
        value[e - v] = 0;
    }
    return value;
}

static size_t small_header(char *line, size_t size, size_t n, void *userdata)
{
    struct small_rx *x = userdata;
    size_t len = size * n;
    if (len >= 5 && !strncmp(line, "HTTP/", 5)) {
        free(x->content_type);
        free(x->www_auth);
        x->content_type = x->www_auth = NULL;
        x->len = 0; /* a body of an earlier response (redirect) is not ours */
        return len;
    }
    char *v;
    if ((v = header_value(line, len, "Content-Type"))) {
        v[strcspn(v, "; ")] = 0;
        free(x->content_type);
        x->content_type = v;
    } else if ((v = header_value(line, len, "WWW-Authenticate"))) {
        if (x->www_auth) { /* several challenges: one list */
            char *both = bl_asprintf("%s, %s", x->www_auth, v);
            free(v);
            v = both;
            if (!v)
                return 0;
            free(x->www_auth);
        }
        x->www_auth = v;
    }
    return len;
}

static int transient(CURLcode code)
{
    return code == CURLE_PARTIAL_FILE || code == CURLE_RECV_ERROR || code == CURLE_SEND_ERROR ||
           code == CURLE_GOT_NOTHING || code == CURLE_HTTP2 || code == CURLE_HTTP2_STREAM;
}

/* A GET on the client's handle. `tls_of_registry` as in setup_common. */
static int perform_small(struct bl_reg_client *c, const char *url, int tls_of_registry,
                         const char *accept, const char *auth_header, size_t max,
                         struct small_rx *x, long *ret_status, bl_error **err)
{
    struct curl_slist *hdrs = NULL, *t;
    _cleanup_free_ char *accept_h = accept ? bl_asprintf("Accept: %s", accept) : NULL;
    if (accept && !accept_h)
        return bl_oom(err);
    if (accept_h) {
        if (!(t = c->cu->slist_append(hdrs, accept_h)))
            return bl_oom(err);
        hdrs = t;
    }
    if (auth_header) {
        if (!(t = c->cu->slist_append(hdrs, auth_header))) {
            c->cu->slist_free_all(hdrs);
            return bl_oom(err);
        }
        hdrs = t;
    }
    char errbuf[CURL_ERROR_SIZE];
    CURLcode code = CURLE_OK;
    for (int attempt = 0; attempt < 3; attempt++) {
        small_rx_done(x);
        x->max = max;
        errbuf[0] = 0;
        c->cu->easy_reset(c->easy);
        setup_common(c, c->easy, url, tls_of_registry, hdrs);
        (void) c->cu->easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, small_write);
        (void) c->cu->easy_setopt(c->easy, CURLOPT_WRITEDATA, x);
        (void) c->cu->easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, small_header);
        (void) c->cu->easy_setopt(c->easy, CURLOPT_HEADERDATA, x);
        (void) c->cu->easy_setopt(c->easy, CURLOPT_ERRORBUFFER, errbuf);
        bl_debug("GET %s", url);
        code = c->cu->easy_perform(c->easy);
        if (!transient(code))
            break;
        struct timespec ts = {0, 200 * 1000000L * (attempt + 1)};
        (void) nanosleep(&ts, NULL);
    }
    (void) c->cu->easy_setopt(c->easy, CURLOPT_ERRORBUFFER, NULL);
    (void) c->cu->easy_setopt(c->easy, CURLOPT_HTTPHEADER, NULL);
    c->cu->slist_free_all(hdrs);
    if (x->too_big)
        return bl_err(err, -EFBIG, "registry '%s': response larger than %zu bytes", c->host, max);
    if (code != CURLE_OK)
        return bl_reg_curl_error(c, code, errbuf, err);
    long status = 0;
    (void) c->cu->easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    *ret_status = status;
    return 0;
}

/* GET <realm>?service=…&scope=… with the basic credentials, if any. */
static int fetch_token(struct bl_reg_client *c, const struct bl_auth_challenge *ch, bl_error **err)
{
    if (!ch->realm ||
        (strncasecmp(ch->realm, "https://", 8) && strncasecmp(ch->realm, "http://", 7)))
        return bl_err(err, -EPROTO, "registry '%s' asks for a token from an invalid realm",
                      c->host);
    _cleanup_free_ char *default_scope = bl_asprintf("repository:%s:pull", c->repo);
    if (!default_scope)
        return bl_oom(err);
    const char *scope = ch->scope ? ch->scope : default_scope;
    /* refused with a fresh token for this very scope: another one would be refused too (an
     * old one may have expired: ask again) */
    if (c->bearer && c->token_scope && !strcmp(c->token_scope, scope) &&
        time(NULL) - c->token_time < 60)
        return 1;
    char *svc = ch->service ? c->cu->easy_escape(c->easy, ch->service, 0) : NULL;
    char *scp = c->cu->easy_escape(c->easy, scope, 0);
    _cleanup_free_ char *url = NULL;
    if (scp && (svc || !ch->service))
        url = bl_asprintf("%s%sservice=%s&scope=%s", ch->realm, strchr(ch->realm, '?') ? "&" : "?",
                          svc ? svc : "", scp);
    c->cu->free(svc);
    c->cu->free(scp);
    if (!url)
        return bl_oom(err);
    _cleanup_free_ char *realm_host = url_hostport(c, ch->realm);
    _cleanup_free_ char *reg_host = url_hostport(c, c->base);
    int same_host = realm_host && reg_host && !strcmp(realm_host, reg_host);
    _cleanup_free_ char *basic = NULL;
    if (c->user && c->pass && !c->anonymous) {
        _cleanup_free_ char *plain = bl_asprintf("%s:%s", c->user, c->pass);
        if (!plain)
            return bl_oom(err);
        _cleanup_free_ char *enc = bl_base64_encode(plain, strlen(plain));
        explicit_bzero(plain, strlen(plain));
        if (!enc || !(basic = bl_asprintf("Authorization: Basic %s", enc)))
            return bl_oom(err);
        explicit_bzero(enc, strlen(enc));
    }
    _cleanup_(small_rx_done) struct small_rx x = {0};
    long status = 0;
    int r = perform_small(c, url, same_host, NULL, basic, MAX_TOKEN_REPLY, &x, &status, err);
    if (basic)
        explicit_bzero(basic, strlen(basic));
    if (r < 0)
        return bl_err_prefix(err, r, "token request");
    if (status == 401 || status == 403)
        return bl_err(err, -EACCES, "unauthorized: the token server of registry '%s' %s (HTTP %ld)",
                      c->host, basic ? "refused the credentials" : "requires credentials", status);
    if (status != 200)
        return bl_err(err, -EPROTO, "token request to registry '%s' failed: HTTP %ld", c->host,
                      status);
    _cleanup_json_ json_t *j = json_loadb(x.body ? x.body : "", x.len, 0, NULL);
    const char *tok = json_string_value(json_object_get(j, "token"));
    if (!tok || !*tok)
        tok = json_string_value(json_object_get(j, "access_token"));
    if (!tok || !*tok)
        return bl_err(err, -EPROTO, "token server of registry '%s' sent no token", c->host);
    free_secret(&c->bearer);
    c->bearer = bl_strdup(tok);
    free(c->token_scope);
    c->token_scope = bl_strdup(scope);
    c->token_time = time(NULL);
    if (x.body)
        explicit_bzero(x.body, x.len);
    if (!c->bearer || !c->token_scope)
        return bl_oom(err);
    bl_debug("registry '%s': got a token for '%s'", c->host, scope);
    return update_auth_header(c, err);
}

int bl_reg_authenticate(struct bl_reg_client *c, const char *www_authenticate, bl_error **err)
{
    if (c->anonymous || c->fixed_bearer || !www_authenticate)
        return 1;
    _cleanup_(bl_auth_challenge_done) struct bl_auth_challenge ch = BL_AUTH_CHALLENGE_NULL;
    int r = bl_auth_challenge_parse(www_authenticate, &ch, NULL);
    if (r <= 0)
        return 1;
    if (ch.scheme == BL_CHALLENGE_BASIC) {
        if (c->basic || !c->user || !c->pass)
            return 1; /* sent already, or nothing to send */
        c->basic = 1;
        free_secret(&c->bearer);
        r = update_auth_header(c, err);
        return r < 0 ? r : 0;
    }
    return fetch_token(c, &ch, err);
}

void bl_reg_response_done(struct bl_reg_response *r)
{
    free(r->body);
    free(r->content_type);
    *r = (struct bl_reg_response){0};
}

int bl_reg_get(struct bl_reg_client *c, const char *what, const char *accept, size_t max,
               struct bl_reg_response *resp, bl_error **err)
{
    _cleanup_free_ char *url = v2_url(c, what);
    if (!url)
        return bl_oom(err);
    _cleanup_(small_rx_done) struct small_rx x = {0};
    long status = 0;
    for (int auth_round = 0;; auth_round++) {
        int r = perform_small(c, url, 1, accept, c->anonymous ? NULL : c->auth_header, max, &x,
                              &status, err);
        if (r < 0)
            return r;
        if (status != 401 || auth_round >= 2)
            break;
        r = bl_reg_authenticate(c, x.www_auth, err);
        if (r < 0)
            return r;
        if (r > 0)
            break;
    }
    *resp = (struct bl_reg_response){.status = status,
                                     .body = TAKE_PTR(x.body),
                                     .len = x.len,
                                     .content_type = TAKE_PTR(x.content_type)};
    if (!resp->body && !(resp->body = bl_strdup("")))
        return bl_oom(err);
    return 0;
}

int bl_reg_http_error(long status, const char *body, size_t len, bl_error **err)
{
    int code = status == 404 ? -ENOENT : (status == 401 || status == 403) ? -EACCES : -EPROTO;
    _cleanup_json_ json_t *j = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *e0 = json_array_get(json_object_get(j, "errors"), 0);
    const char *ecode = json_string_value(json_object_get(e0, "code"));
    const char *msg = json_string_value(json_object_get(e0, "message"));
    if (ecode && *ecode) {
        char c[64];
        snprintf(c, sizeof(c), "%s", ecode);
        for (char *p = c; *p; p++)
            *p = *p == '_' ? ' ' : (char) tolower((unsigned char) *p);
        if (msg && *msg && strcasecmp(msg, c) != 0)
            return bl_err(err, code, "%s: %s", c, msg);
        return bl_err(err, code, "%s", c);
    }
    if (status == 401)
        return bl_err(err, code, "unauthorized (HTTP 401)");
    if (status == 404)
        return bl_err(err, code, "not found (HTTP 404)");
    return bl_err(err, code, "HTTP %ld", status);
}

int bl_reg_status_error(const struct bl_reg_response *resp, bl_error **err)
{
    return bl_reg_http_error(resp->status, resp->body, resp->len, err);
}
