/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for what registry.c parses from outside: a WWW-Authenticate challenge and a
 * registry's JSON error body (both from the network), the runtime configuration and a docker
 * config.json (the user's files), base64 credentials, and --registry hosts.
 *
 * Input: the first byte picks the parser (see the switch), the rest is its text.
 */
#include <errno.h>

#include "fuzz-util.h"
#include "registry.h"
#include "strv.h"

static void challenge(const char *s)
{
    _cleanup_(bl_error_freep) bl_error *err = NULL;
    struct bl_auth_challenge c = {.scheme = 77};
    int r = bl_auth_challenge_parse(s, &c, &err);
    FUZZ_CHECK(r == 1 || r == 0 || r == -EINVAL, "'%s': %d", s, r);
    if (r != 1) {
        FUZZ_CHECK(c.scheme == 77 && !c.realm && !c.service && !c.scope, "'%s': touched", s);
        FUZZ_CHECK((r < 0) == (err != NULL), "'%s': error and result disagree", s);
        return;
    }
    FUZZ_CHECK(!err && (c.scheme == BL_CHALLENGE_BASIC || c.scheme == BL_CHALLENGE_BEARER),
               "'%s': scheme %d", s, (int) c.scheme);
    bl_auth_challenge_done(&c);
}

static void base64(const uint8_t *data, size_t size, const char *s)
{
    /* any bytes: decode(encode(x)) == x */
    _cleanup_free_ char *enc = bl_base64_encode(data, size);
    _cleanup_free_ char *dec = NULL;
    size_t len = 0;
    FUZZ_CHECK(enc && strlen(enc) == (size + 2) / 3 * 4, "encoded length");
    FUZZ_CHECK(bl_base64_decode(enc, &dec, &len) == 0 && len == size && !memcmp(dec, data, size),
               "round trip of %zu bytes", size);

    /* any text: what decodes re-encodes to something that decodes to the same bytes */
    _cleanup_free_ char *d1 = NULL, *e1 = NULL, *d2 = NULL;
    size_t l1 = 0, l2 = 0;
    int r = bl_base64_decode(s, &d1, &l1);
    FUZZ_CHECK(r == 0 || r == -EINVAL, "'%s': %d", s, r);
    if (r < 0) {
        FUZZ_CHECK(!d1, "'%s': output on failure", s);
        return;
    }
    FUZZ_CHECK(l1 <= strlen(s) / 4 * 3 + 2 && d1[l1] == 0, "'%s': %zu bytes", s, l1);
    e1 = bl_base64_encode(d1, l1);
    FUZZ_CHECK(e1 && bl_base64_decode(e1, &d2, &l2) == 0 && l2 == l1 && !memcmp(d1, d2, l1),
               "'%s': not stable", s);
}

static void config(const char *s)
{
    _cleanup_(bl_error_freep) bl_error *err = NULL;
    struct bl_registries R = {.n = 12345};
    int r = bl_registries_parse(s, NULL, &R, &err);
    if (r < 0) {
        FUZZ_CHECK(err && err->code == r && R.n == 12345 && !R.v, "failure");
        return;
    }
    FUZZ_CHECK(!err, "error on success");
    for (size_t i = 0; i < R.n; i++) {
        FUZZ_CHECK(R.v[i].host && *R.v[i].host, "entry %zu has no host", i);
        FUZZ_CHECK(bl_registries_find(&R, R.v[i].host), "'%s' not found", R.v[i].host);
    }
    _cleanup_strv_free_ char **cands = NULL;
    _cleanup_(bl_error_freep) bl_error *err2 = NULL;
    r = bl_registry_candidates(&R, "busybox", &cands, &err2);
    if (r == 0)
        FUZZ_CHECK(cands && cands[0], "no candidates");
    bl_registries_done(&R);
}

static void hosts(char *s)
{
    _cleanup_strv_free_ char **h = NULL;
    char *ref = s, *nl = strchr(s, '\n');
    /* first line: an image reference; the others: --registry hosts */
    if (nl) {
        *nl = 0;
        for (char *p = nl + 1, *q; p; p = q) {
            q = strchr(p, '\n');
            if (q)
                *q++ = 0;
            FUZZ_CHECK(bl_strv_push(&h, p) >= 0, "oom");
        }
    }
    _cleanup_(bl_error_freep) bl_error *err = NULL;
    struct bl_registries R = {0};
    int r = bl_registries_parse(NULL, (const char *const *) h, &R, &err);
    if (r < 0) {
        FUZZ_CHECK(err && err->code == r, "failure without a message");
        return;
    }
    _cleanup_strv_free_ char **cands = NULL;
    _cleanup_(bl_error_freep) bl_error *err2 = NULL;
    r = bl_registry_candidates(&R, ref, &cands, &err2);
    if (r == 0)
        for (char **c = cands; *c; c++)
            FUZZ_CHECK(strchr(*c, '/') && (strchr(*c, ':') || strchr(*c, '@')),
                       "'%s': candidate '%s' is not normalised", ref, *c);
    else
        FUZZ_CHECK(r == -EINVAL && err2, "'%s': %d", ref, r);
    bl_registries_done(&R);
}

static void docker_config(const char *s, unsigned which)
{
    static const char *const hosts_[] = {"docker.io", "localhost:5000", "Registry.Local:5000",
                                         "ghcr.io"};
    _cleanup_(bl_error_freep) bl_error *err = NULL;
    char *user = (char *) "untouched", *pass = (char *) "untouched";
    int r = bl_docker_config_auth(s, hosts_[which % 4], &user, &pass, &err);
    FUZZ_CHECK(r == 0 || r == 1, "%d", r);
    if (r == 0) {
        FUZZ_CHECK(!strcmp(user, "untouched") && !strcmp(pass, "untouched"), "touched");
        return;
    }
    FUZZ_CHECK(user && pass && !strchr(user, ':'), "user '%s'", user ? user : "(null)");
    free(user);
    free(pass);
}

static void error_body(const uint8_t *data, size_t size)
{
    static const long statuses[] = {400, 401, 403, 404, 429, 500, 502, 200};
    if (size < 1)
        return;
    _cleanup_(bl_error_freep) bl_error *err = NULL;
    long status = statuses[data[0] % 8];
    int r = bl_reg_http_error(status, (const char *) data + 1, size - 1, &err);
    FUZZ_CHECK(r < 0 && err && err->code == r && err->msg, "%d", r);
    FUZZ_CHECK(r == (status == 404                    ? -ENOENT
                     : status == 401 || status == 403 ? -EACCES
                                                      : -EPROTO),
               "status %ld gave %d", status, r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    _cleanup_free_ char *s = fuzz_cstr(data + 1, size - 1);
    if (!s)
        return 0;
    switch (data[0]) {
    case 'a':
        challenge(s);
        break;
    case 'b':
        base64(data + 1, size - 1, s);
        break;
    case 'c':
        config(s);
        break;
    case 'd':
    case 'D':
    case 'e':
    case 'E':
        docker_config(s, data[0] == 'd' ? 0 : data[0] == 'D' ? 1 : data[0] == 'e' ? 2 : 3);
        break;
    case 'h':
        hosts(s);
        break;
    case 'r':
        error_body(data + 1, size - 1);
        break;
    default:
        break;
    }
    return 0;
}
