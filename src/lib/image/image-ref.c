/* SPDX-License-Identifier: MIT */
/*
 * Image references, parsed and normalised the way docker reads familiar names:
 * [host[:port]/]path[:tag][@sha256:<hex>]. Without a host the registry is docker.io, and a
 * one-component path on docker.io lives under "library/"; "index.docker.io" means docker.io.
 * The parser validates the whole reference on borrowed slices of the input before it allocates
 * anything, so a caller gets either a complete, normalised struct bl_image_ref (whose four
 * strings it owns) or an error and an untouched output. Formatting a parsed reference and
 * parsing the result again gives the same reference; tests/fuzz/fuzz-image-ref.c checks that.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "alloc-util.h"
#include "image-ref.h"

#define DEFAULT_REGISTRY "docker.io"
#define LEGACY_REGISTRY "index.docker.io"
#define OFFICIAL_PREFIX "library/"
#define DEFAULT_TAG "latest"
#define NAME_MAX_LEN 255 /* registry + '/' + repository, after normalisation, as docker */
#define TAG_MAX_LEN 128
#define DIGEST_ALGO "sha256"
#define DIGEST_HEX_LEN 64
#define ALGO_SHOWN_MAX 32 /* longest unsupported algorithm name echoed in a message */
#define SHOWN_MAX 512     /* input bytes quoted in a message; more than any valid reference */

/* A borrowed slice of the input string. */
struct span {
    const char *p;
    size_t n;
};

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool span_eq(struct span s, const char *lit)
{
    return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

/* Precision for "%.*s": slices are at most NAME_MAX_LEN long by the time they are printed. */
static int prec(size_t n)
{
    return (int) MIN(n, (size_t) NAME_MAX_LEN);
}

/*
 * The input as it appears in a message: printable ASCII as is, anything else as \xNN so that a
 * hostile reference cannot put escape sequences on a terminal, cut with "..." after SHOWN_MAX
 * bytes.
 */
static void show_input(const char *s, char *buf, size_t size)
{
    size_t o = 0, i;

    assert(size > 0);
    buf[0] = 0;
    for (i = 0; s[i] && i < SHOWN_MAX; i++) {
        unsigned char c = (unsigned char) s[i];
        int w = c >= ' ' && c < 0x7f ? snprintf(buf + o, size - o, "%c", c)
                                     : snprintf(buf + o, size - o, "\\x%02x", c);
        if (w < 0 || (size_t) w >= size - o)
            return; /* cannot happen with SHOWN_MAX * 4 + 4 bytes; stay terminated */
        o += (size_t) w;
    }
    if (s[i] && o + 4 <= size)
        memcpy(buf + o, "...", 4);
}

/* Sets "invalid reference format '<s>': <why>" and returns -EINVAL. */
static int invalid(bl_error **err, const char *s, const char *fmt, ...) _printf_(3, 4);
static int invalid(bl_error **err, const char *s, const char *fmt, ...)
{
    char shown[SHOWN_MAX * 4 + 4], why[512];
    va_list ap;

    if (!err || *err)
        return -EINVAL; /* the first error wins; save the formatting */
    show_input(s, shown, sizeof(shown));
    va_start(ap, fmt);
    (void) vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return bl_err(err, -EINVAL, "invalid reference format '%s': %s", shown, why);
}

/* A first path component names a registry host when it could not be a repository component. */
static bool looks_like_host(struct span first)
{
    return memchr(first.p, '.', first.n) || memchr(first.p, ':', first.n) ||
           span_eq(first, "localhost");
}

/* [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} */
static int check_tag(const char *s, struct span t, bl_error **err)
{
    if (t.n == 0)
        return invalid(err, s, "missing tag after ':'");
    if (t.n > TAG_MAX_LEN)
        return invalid(err, s, "tag must not be longer than %d characters", TAG_MAX_LEN);
    for (size_t i = 0; i < t.n; i++) {
        char c = t.p[i];
        if (is_alnum(c) || c == '_' || (i > 0 && (c == '.' || c == '-')))
            continue;
        return invalid(err, s,
                       "tag must start with a letter, digit or '_' and contain only letters, "
                       "digits, '_', '.' and '-'");
    }
    return 0;
}

/* d is everything after the '@': "sha256:" and exactly 64 lowercase hex digits. */
static int check_digest(const char *s, const char *d, bl_error **err)
{
    const char *colon = strchr(d, ':');
    bool ok = colon && (size_t) (colon - d) == strlen(DIGEST_ALGO) &&
              memcmp(d, DIGEST_ALGO, strlen(DIGEST_ALGO)) == 0 &&
              strlen(colon + 1) == DIGEST_HEX_LEN;

    if (!*d)
        return invalid(err, s, "missing digest after '@'");
    for (size_t i = 0; ok && i < DIGEST_HEX_LEN; i++) {
        char c = colon[1 + i];
        ok = is_digit(c) || (c >= 'a' && c <= 'f');
    }
    if (ok)
        return 0;

    /* Name a well-formed algorithm we do not support, rather than calling it malformed. */
    if (colon && colon > d && (size_t) (colon - d) <= ALGO_SHOWN_MAX &&
        !span_eq((struct span){d, (size_t) (colon - d)}, DIGEST_ALGO)) {
        bool word = true;
        for (const char *c = d; word && c < colon; c++)
            word = is_lower_alnum(*c) || *c == '+' || *c == '.' || *c == '_' || *c == '-';
        if (word)
            return invalid(err, s, "unsupported digest algorithm '%.*s' (only sha256 is supported)",
                           (int) (colon - d), d);
    }
    return invalid(err, s, "digest must be 'sha256:' followed by %d lowercase hex digits",
                   DIGEST_HEX_LEN);
}

/*
 * host[:port], where host is DNS labels joined by '.' (letters, digits and inner '-'; upper case
 * allowed, as in DNS) or a bracketed IPv6 address, and port is 1..65535.
 */
static int check_host(const char *s, struct span h, bl_error **err)
{
    const char *p = h.p, *end = h.p + h.n;

    if (*p == '[') {
        const char *close = memchr(p, ']', h.n);
        bool ok = close && close > p + 1 && memchr(p, ':', (size_t) (close - p));
        for (const char *c = p + 1; ok && c < close; c++)
            ok = is_digit(*c) || (*c >= 'a' && *c <= 'f') || (*c >= 'A' && *c <= 'F') || *c == ':';
        if (!ok)
            return invalid(err, s, "invalid IPv6 address in registry host '%.*s'", prec(h.n), h.p);
        p = close + 1;
    } else {
        const char *label = p;
        for (; p < end && *p != ':'; p++) {
            if (*p == '.') {
                if (p == label || p[-1] == '-')
                    break;
                label = p + 1;
            } else if (!is_alnum(*p) && !(*p == '-' && p > label)) {
                break;
            }
        }
        /* stopped early, or an empty or dash-ended last label */
        if ((p < end && *p != ':') || p == label || p[-1] == '-')
            return invalid(err, s, "invalid registry host '%.*s'", prec(h.n), h.p);
    }

    if (p < end) {
        unsigned port = 0;
        size_t digits = 0;
        if (*p != ':')
            return invalid(err, s, "invalid registry host '%.*s'", prec(h.n), h.p);
        for (p++; p < end && is_digit(*p); p++, digits++)
            if (port <= 65535) /* stop growing once out of range; no overflow */
                port = port * 10 + (unsigned) (*p - '0');
        if (p < end || digits == 0 || port == 0 || port > 65535)
            return invalid(err, s, "invalid port in registry host '%.*s'", prec(h.n), h.p);
    }
    return 0;
}

/* [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* */
static int check_component(const char *s, struct span c, bl_error **err)
{
    for (size_t i = 0; i < c.n; i++) {
        char ch = c.p[i];
        if (!is_lower_alnum(ch) && ch != '.' && ch != '_' && ch != '-')
            return invalid(err, s, "invalid character '%c' in repository name", ch);
    }
    if (!is_lower_alnum(c.p[0]) || !is_lower_alnum(c.p[c.n - 1]))
        return invalid(err, s,
                       "path component '%.*s' must start and end with a lowercase letter or digit",
                       prec(c.n), c.p);
    for (size_t i = 0; i < c.n;) {
        size_t run = 0;
        while (i + run < c.n && !is_lower_alnum(c.p[i + run]))
            run++;
        if (run > 0) {
            struct span sep = {c.p + i, run};
            bool dashes = strspn(sep.p, "-") >= run;
            if (!dashes && !span_eq(sep, ".") && !span_eq(sep, "_") && !span_eq(sep, "__"))
                return invalid(err, s,
                               "invalid separator '%.*s' in path component '%.*s' (use '.', "
                               "'_', '__' or dashes)",
                               prec(run), sep.p, prec(c.n), c.p);
            i += run;
        } else {
            i++;
        }
    }
    return 0;
}

/* The repository path: '/'-separated components, all lowercase. */
static int check_path(const char *s, struct span path, bool after_host, bl_error **err)
{
    const char *end = path.p + path.n;

    if (path.n == 0)
        return invalid(err, s, "missing repository name after registry host");
    for (const char *c = path.p; c < end; c++)
        if (*c >= 'A' && *c <= 'Z')
            return invalid(err, s, "repository name must be lowercase");

    for (const char *c = path.p;;) {
        const char *slash = memchr(c, '/', (size_t) (end - c));
        struct span comp = {c, (size_t) ((slash ? slash : end) - c)};
        int r;

        if (comp.n == 0) {
            if (!slash)
                return invalid(err, s, "repository name must not end with '/'");
            if (c == path.p && !after_host)
                return invalid(err, s, "repository name must not start with '/'");
            return invalid(err, s, "empty path component in repository name");
        }
        r = check_component(s, comp, err);
        if (r < 0)
            return r;
        if (!slash)
            return 0;
        c = slash + 1;
    }
}

int bl_image_ref_parse(const char *s, struct bl_image_ref *ret, bl_error **err)
{
    const char *at, *colon = NULL, *slash;
    struct span name, tag = {NULL, 0}, host = {DEFAULT_REGISTRY, strlen(DEFAULT_REGISTRY)}, path;
    bool has_host = false, official;
    int r;

    assert(s);
    assert(ret);

    if (!*s)
        return invalid(err, s, "empty reference");
    for (const char *c = s; *c; c++) {
        unsigned char u = (unsigned char) *c;
        if (u <= ' ' || u == 0x7f)
            return invalid(err, s, "must not contain whitespace or control characters");
        if (u >= 0x80)
            return invalid(err, s, "must not contain non-ASCII characters");
    }

    /* name[:tag] comes before the first '@', the digest after it */
    at = strchr(s, '@');
    name = (struct span){s, at ? (size_t) (at - s) : strlen(s)};
    if (at) {
        r = check_digest(s, at + 1, err);
        if (r < 0)
            return r;
    }

    /* The tag follows the last ':' after the last '/', so that a registry port is not a tag. */
    for (size_t i = name.n; i > 0 && name.p[i - 1] != '/'; i--) {
        if (name.p[i - 1] == ':') {
            colon = name.p + i - 1;
            break;
        }
    }
    if (colon) {
        tag = (struct span){colon + 1, name.n - (size_t) (colon + 1 - name.p)};
        name.n = (size_t) (colon - name.p);
        r = check_tag(s, tag, err);
        if (r < 0)
            return r;
    }
    if (name.n == 0)
        return invalid(err, s, "missing repository name");

    path = name;
    slash = memchr(name.p, '/', name.n);
    if (slash) {
        struct span first = {name.p, (size_t) (slash - name.p)};
        if (looks_like_host(first)) {
            has_host = true;
            host = first;
            path = (struct span){slash + 1, name.n - first.n - 1};
        }
    }
    if (span_eq(host, LEGACY_REGISTRY))
        host = (struct span){DEFAULT_REGISTRY, strlen(DEFAULT_REGISTRY)};
    official = span_eq(host, DEFAULT_REGISTRY) && !memchr(path.p, '/', path.n);
    /* Length first: later messages quote slices of the name, and this bounds them. */
    if (host.n + 1 + (official ? strlen(OFFICIAL_PREFIX) : 0) + path.n > NAME_MAX_LEN)
        return invalid(err, s, "repository name must not be longer than %d characters",
                       NAME_MAX_LEN);
    if (has_host) {
        r = check_host(s, host, err);
        if (r < 0)
            return r;
    }
    r = check_path(s, path, has_host, err);
    if (r < 0)
        return r;

    _cleanup_free_ char *registry = bl_strndup(host.p, host.n);
    if (!registry)
        return bl_oom(err);
    _cleanup_free_ char *repository =
        bl_asprintf("%s%.*s", official ? OFFICIAL_PREFIX : "", prec(path.n), path.p);
    if (!repository)
        return bl_oom(err);
    /* A digest alone pins the image; only a bare name gets the default tag. */
    _cleanup_free_ char *tag_s = NULL;
    if (tag.p)
        tag_s = bl_strndup(tag.p, tag.n);
    else if (!at)
        tag_s = bl_strdup(DEFAULT_TAG);
    if (!tag_s && (tag.p || !at))
        return bl_oom(err);
    _cleanup_free_ char *digest = at ? bl_strdup(at + 1) : NULL;
    if (!digest && at)
        return bl_oom(err);

    *ret = (struct bl_image_ref){
        .registry = TAKE_PTR(registry),
        .repository = TAKE_PTR(repository),
        .tag = TAKE_PTR(tag_s),
        .digest = TAKE_PTR(digest),
    };
    return 0;
}

/* Releases the strings and resets *r to BL_IMAGE_REF_NULL. NULL is a no-op. */
void bl_image_ref_done(struct bl_image_ref *r)
{
    if (!r)
        return;
    free(r->registry);
    free(r->repository);
    free(r->tag);
    free(r->digest);
    *r = BL_IMAGE_REF_NULL;
}

static char *join(const char *registry, const char *repository, const struct bl_image_ref *r)
{
    return bl_asprintf("%s%s%s%s%s%s%s", registry ? registry : "", registry ? "/" : "", repository,
                       r->tag ? ":" : "", r->tag ? r->tag : "", r->digest ? "@" : "",
                       r->digest ? r->digest : "");
}

char *bl_image_ref_format(const struct bl_image_ref *r)
{
    assert(r && r->registry && r->repository);
    return join(r->registry, r->repository, r);
}

/*
 * docker's familiar form: "docker.io/" dropped, then "library/" when one component is left.
 * Unlike docker, "docker.io/" stays when the path's first component would otherwise be read as
 * a registry host ("docker.io/foo.bar/app"), so that the familiar form parses back to r.
 */
char *bl_image_ref_familiar(const struct bl_image_ref *r)
{
    const char *repo, *slash;

    assert(r && r->registry && r->repository);
    if (strcmp(r->registry, DEFAULT_REGISTRY) != 0)
        return join(r->registry, r->repository, r);

    repo = r->repository;
    if (strncmp(repo, OFFICIAL_PREFIX, strlen(OFFICIAL_PREFIX)) == 0 &&
        !strchr(repo + strlen(OFFICIAL_PREFIX), '/'))
        repo += strlen(OFFICIAL_PREFIX);
    slash = strchr(repo, '/');
    if (slash && looks_like_host((struct span){repo, (size_t) (slash - repo)}))
        return join(r->registry, r->repository, r);
    return join(NULL, repo, r);
}
