/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the pure parts of registry.c: WWW-Authenticate challenges, the runtime
 * configuration's image_registries, the candidates an image reference names, credentials from
 * a docker config.json, base64, the messages registry error replies turn into, and (in
 * fault-injection builds) clean failure at every allocation of the parsers.
 */
#include "../lib/tap.h"
#include "alloc-util.h"
#include "registry.h"
#include "strv.h"

/* ---- WWW-Authenticate ---- */

TEST(challenge_bearer)
{
    _cleanup_(bl_auth_challenge_done) struct bl_auth_challenge c = BL_AUTH_CHALLENGE_NULL;
    ASSERT_EQ(bl_auth_challenge_parse("Bearer realm=\"https://auth.docker.io/token\","
                                      "service=\"registry.docker.io\","
                                      "scope=\"repository:library/busybox:pull\"",
                                      &c, &tap_last_err),
              1);
    ASSERT_EQ(c.scheme, BL_CHALLENGE_BEARER);
    ASSERT_STREQ(c.realm, "https://auth.docker.io/token");
    ASSERT_STREQ(c.service, "registry.docker.io");
    ASSERT_STREQ(c.scope, "repository:library/busybox:pull");
}

TEST(challenge_basic)
{
    _cleanup_(bl_auth_challenge_done) struct bl_auth_challenge c = BL_AUTH_CHALLENGE_NULL;
    ASSERT_EQ(bl_auth_challenge_parse("Basic realm=\"Registry Realm\"", &c, &tap_last_err), 1);
    ASSERT_EQ(c.scheme, BL_CHALLENGE_BASIC);
    ASSERT_STREQ(c.realm, "Registry Realm");
    ASSERT_NULL(c.service);
    ASSERT_NULL(c.scope);
}

/* Case, whitespace around '=', unquoted values, escapes, unknown parameters. */
TEST(challenge_syntax)
{
    _cleanup_(bl_auth_challenge_done) struct bl_auth_challenge c = BL_AUTH_CHALLENGE_NULL;
    ASSERT_EQ(bl_auth_challenge_parse("  bEaReR  Realm = \"http://x/t?a=1\" , error="
                                      "\"insufficient_scope\",SERVICE=reg.example ,"
                                      "scope=\"repository:a\\\"b:pull\"",
                                      &c, &tap_last_err),
              1);
    ASSERT_EQ(c.scheme, BL_CHALLENGE_BEARER);
    ASSERT_STREQ(c.realm, "http://x/t?a=1");
    ASSERT_STREQ(c.service, "reg.example");
    ASSERT_STREQ(c.scope, "repository:a\"b:pull");
}

/* Several challenges in one value: Bearer wins whatever the order; others are skipped. */
TEST(challenge_several)
{
    static const char *const values[] = {
        "Basic realm=\"b\", Bearer realm=\"t\",service=\"s\"",
        "Bearer realm=\"t\",service=\"s\", Basic realm=\"b\"",
        "Negotiate abc==, Digest realm=\"d\", nonce=\"n\", Bearer realm=\"t\", service=s",
    };
    for (size_t i = 0; i < ELEMENTSOF(values); i++) {
        _cleanup_(bl_auth_challenge_done) struct bl_auth_challenge c = BL_AUTH_CHALLENGE_NULL;
        ASSERT_EQ(bl_auth_challenge_parse(values[i], &c, &tap_last_err), 1);
        ASSERT_EQ(c.scheme, BL_CHALLENGE_BEARER);
        ASSERT_STREQ(c.realm, "t");
        ASSERT_STREQ(c.service, "s");
    }
    _cleanup_(bl_auth_challenge_done) struct bl_auth_challenge c = BL_AUTH_CHALLENGE_NULL;
    ASSERT_EQ(bl_auth_challenge_parse("Digest realm=\"d\", Basic realm=\"b\"", &c, NULL), 1);
    ASSERT_EQ(c.scheme, BL_CHALLENGE_BASIC);
    ASSERT_STREQ(c.realm, "b");
}

TEST(challenge_none_and_malformed)
{
    struct bl_auth_challenge c = BL_AUTH_CHALLENGE_NULL;
    ASSERT_EQ(bl_auth_challenge_parse("", &c, NULL), 0);
    ASSERT_EQ(bl_auth_challenge_parse("Negotiate abc==", &c, NULL), 0);
    ASSERT_EQ(bl_auth_challenge_parse("Digest realm=\"x\", qop=auth", &c, NULL), 0);
    ASSERT_EQ(c.scheme, BL_CHALLENGE_NONE);
    _cleanup_(bl_error_freep) bl_error *e = NULL;
    ASSERT_ERR(bl_auth_challenge_parse("Bearer realm=\"unterminated", &c, &e), -EINVAL);
    ASSERT_STREQ(e->msg, "unterminated quoted string in WWW-Authenticate");
    ASSERT_ERR(bl_auth_challenge_parse("realm=\"x\"", &c, NULL), -EINVAL);
    ASSERT_ERR(bl_auth_challenge_parse("Bearer realm=\"a\", \"stray\"", &c, NULL), -EINVAL);
    ASSERT_EQ(c.scheme, BL_CHALLENGE_NONE);
    ASSERT_NULL(c.realm);
}

/* ---- configuration ---- */

TEST(config_full)
{
    static const char *const hosts[] = {"Mirror.Example:5000", "index.docker.io", NULL};
    _cleanup_(bl_registries_done) struct bl_registries r = {0};
    ASSERT_OK(bl_registries_parse(
        "{\"home_dir\": \"/srv/bl\", \"other\": [1], \"image_registries\": ["
        " {\"host\": \"localhost:5000\", \"transport\": \"http\", \"search\": true,"
        "  \"auth\": {\"type\": \"basic\", \"username\": \"u\", \"password\": \"p\"}},"
        " {\"host\": \"ghcr.io\", \"skip_verify\": true, \"ca\": \"/etc/ca.pem\","
        "  \"auth\": {\"type\": \"bearer\", \"token\": \"t0k\"}, \"unknown\": 1},"
        " {\"host\": \"quay.io\", \"transport\": \"HTTPS\", \"auth\": {\"type\": \"anonymous\"}}"
        "]}",
        hosts, &r, &tap_last_err));
    ASSERT_STREQ(r.home_dir, "/srv/bl");
    ASSERT_EQ(r.n, 5);
    /* --registry hosts first, https, search, canonical names */
    ASSERT_STREQ(r.v[0].host, "mirror.example:5000");
    ASSERT_EQ(r.v[0].search, 1);
    ASSERT_EQ(r.v[0].http, 0);
    ASSERT_EQ(r.v[0].auth, BL_REGISTRY_AUTH_DEFAULT);
    ASSERT_STREQ(r.v[1].host, "docker.io");
    ASSERT_STREQ(r.v[2].host, "localhost:5000");
    ASSERT_EQ(r.v[2].http, 1);
    ASSERT_EQ(r.v[2].search, 1);
    ASSERT_EQ(r.v[2].auth, BL_REGISTRY_AUTH_BASIC);
    ASSERT_STREQ(r.v[2].username, "u");
    ASSERT_STREQ(r.v[2].password, "p");
    ASSERT_STREQ(r.v[3].host, "ghcr.io");
    ASSERT_EQ(r.v[3].skip_verify, 1);
    ASSERT_EQ(r.v[3].search, 0);
    ASSERT_EQ(r.v[3].auth, BL_REGISTRY_AUTH_BEARER);
    ASSERT_STREQ(r.v[3].token, "t0k");
    ASSERT_STREQ(r.v[3].ca, "/etc/ca.pem");
    ASSERT_EQ(r.v[4].http, 0);
    ASSERT_EQ(r.v[4].auth, BL_REGISTRY_AUTH_ANONYMOUS);
}

TEST(config_empty_and_null)
{
    _cleanup_(bl_registries_done) struct bl_registries a = {0}, b = {0}, c = {0};
    ASSERT_OK(bl_registries_parse(NULL, NULL, &a, &tap_last_err));
    ASSERT_EQ(a.n, 0);
    ASSERT_NULL(a.home_dir);
    ASSERT_OK(bl_registries_parse("{}", NULL, &b, &tap_last_err));
    ASSERT_EQ(b.n, 0);
    ASSERT_OK(bl_registries_parse("{\"image_registries\": null, \"home_dir\": null}", NULL, &c,
                                  &tap_last_err));
    ASSERT_EQ(c.n, 0);
}

TEST(config_errors)
{
    static const struct {
        const char *json, *msg;
    } bad[] = {
        {"[]", "invalid configuration: expected a JSON object"},
        {"{\"image_registries\": {}}", "invalid configuration: image_registries must be a list"},
        {"{\"image_registries\": [1]}",
         "invalid configuration: image_registries[0] must be an object"},
        {"{\"image_registries\": [{}]}",
         "invalid configuration: image_registries[0].host must be a host name with an optional "
         "port and no scheme, got ''"},
        {"{\"image_registries\": [{\"host\": \"https://r.io\"}]}",
         "invalid configuration: image_registries[0].host must be a host name with an optional "
         "port and no scheme, got 'https://r.io'"},
        {"{\"image_registries\": [{\"host\": \"r.io/path\"}]}",
         "invalid configuration: image_registries[0].host must be a host name with an optional "
         "port and no scheme, got 'r.io/path'"},
        {"{\"image_registries\": [{\"host\": \"r.io\"}, {\"host\": \"x\", \"transport\": "
         "\"ftp\"}]}",
         "invalid configuration: image_registries[1].transport must be \"http\" or \"https\", "
         "got 'ftp'"},
        {"{\"image_registries\": [{\"host\": \"r.io\", \"search\": \"yes\"}]}",
         "invalid configuration: image_registries[0].search must be true or false"},
        {"{\"image_registries\": [{\"host\": \"r.io\", \"auth\": {\"type\": \"oidc\"}}]}",
         "invalid configuration: image_registries[0].auth.type 'oidc' is not one of anonymous, "
         "basic, bearer"},
        {"{\"image_registries\": [{\"host\": \"r.io\", \"auth\": {\"type\": \"basic\", "
         "\"username\": \"u\"}}]}",
         "invalid configuration: image_registries[0].auth of type basic needs username and "
         "password"},
        {"{\"image_registries\": [{\"host\": \"r.io\", \"auth\": {\"type\": \"bearer\"}}]}",
         "invalid configuration: image_registries[0].auth of type bearer needs a token"},
        {"{\"home_dir\": 5}", "invalid configuration: configuration.home_dir must be a string"},
    };
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        struct bl_registries r = {.n = 99};
        _cleanup_(bl_error_freep) bl_error *e = NULL;
        ASSERT_ERR(bl_registries_parse(bad[i].json, NULL, &r, &e), -EINVAL);
        ASSERT_STREQ(e->msg, bad[i].msg);
        ASSERT_EQ(r.n, 99); /* untouched */
    }
    static const char *const bad_hosts[] = {"http://x", NULL};
    struct bl_registries r = {0};
    _cleanup_(bl_error_freep) bl_error *e = NULL;
    ASSERT_ERR(bl_registries_parse(NULL, bad_hosts, &r, &e), -EINVAL);
    ASSERT_STREQ(e->msg,
                 "invalid registry 'http://x': expected a host name with an optional port and no "
                 "scheme");
    _cleanup_(bl_error_freep) bl_error *e2 = NULL;
    ASSERT_ERR(bl_registries_parse("{ nope", NULL, &r, &e2), -EINVAL);
    ASSERT_TRUE(!strncmp(e2->msg, "invalid configuration: ", 23));
}

/* The configured entry for a host wins over the bare one --registry made; aliases match. */
TEST(config_find)
{
    static const char *const hosts[] = {"r.io", NULL};
    _cleanup_(bl_registries_done) struct bl_registries r = {0};
    ASSERT_OK(bl_registries_parse("{\"image_registries\": [{\"host\": \"R.IO\", \"transport\": "
                                  "\"http\"}, {\"host\": \"registry-1.docker.io\", "
                                  "\"skip_verify\": true}]}",
                                  hosts, &r, &tap_last_err));
    const struct bl_registry *f = bl_registries_find(&r, "r.io");
    ASSERT_NOT_NULL(f);
    ASSERT_EQ(f->http, 1);
    f = bl_registries_find(&r, "docker.io");
    ASSERT_NOT_NULL(f);
    ASSERT_EQ(f->skip_verify, 1);
    ASSERT_TRUE(bl_registries_find(&r, "index.docker.io") == f);
    ASSERT_NULL(bl_registries_find(&r, "other.io"));
    ASSERT_NULL(bl_registries_find(NULL, "r.io"));
}

/* ---- candidates ---- */

static void expect_candidates(const struct bl_registries *r, const char *ref,
                              const char *const *want)
{
    _cleanup_strv_free_ char **got = NULL;
    ASSERT_OK(bl_registry_candidates(r, ref, &got, &tap_last_err));
    size_t n = 0;
    for (; want[n]; n++) {
        ASSERT_NOT_NULL(got[n]);
        ASSERT_STREQ(got[n], want[n]);
    }
    ASSERT_NULL(got[n]);
}

TEST(candidates)
{
    _cleanup_(bl_registries_done) struct bl_registries none = {0}, two = {0};
    ASSERT_OK(bl_registries_parse(NULL, NULL, &none, &tap_last_err));
    static const char *const hosts[] = {"localhost:5000", "docker.io", NULL};
    ASSERT_OK(bl_registries_parse("{\"image_registries\": [{\"host\": \"ghcr.io\"}, {\"host\": "
                                  "\"quay.io\", \"search\": true}, {\"host\": "
                                  "\"localhost:5000\", \"search\": true}]}",
                                  hosts, &two, &tap_last_err));
    /* no search registry: docker.io */
    expect_candidates(&none, "busybox",
                      (const char *const[]){"docker.io/library/busybox:latest", NULL});
    expect_candidates(NULL, "org/app:1", (const char *const[]){"docker.io/org/app:1", NULL});
    /* search registries in order, each once; library/ only on docker.io */
    expect_candidates(&two, "busybox",
                      (const char *const[]){"localhost:5000/busybox:latest",
                                            "docker.io/library/busybox:latest",
                                            "quay.io/busybox:latest", NULL});
    expect_candidates(&two,
                      "org/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef"
                      "0123456789abcdef",
                      (const char *const[]){
                          "localhost:5000/org/app@sha256:0123456789abcdef0123456789abcdef01234567"
                          "89abcdef0123456789abcdef",
                          "docker.io/org/app@sha256:0123456789abcdef0123456789abcdef0123456789ab"
                          "cdef0123456789abcdef",
                          "quay.io/org/app@sha256:0123456789abcdef0123456789abcdef0123456789abcde"
                          "f0123456789abcdef",
                          NULL});
    /* a reference naming its registry goes there only */
    expect_candidates(&two, "ghcr.io/org/app:v1",
                      (const char *const[]){"ghcr.io/org/app:v1", NULL});
    expect_candidates(&two, "localhost/app", (const char *const[]){"localhost/app:latest", NULL});
    expect_candidates(&two, "docker.io/busybox",
                      (const char *const[]){"docker.io/library/busybox:latest", NULL});
    expect_candidates(&two, "127.0.0.1:5000/x:1",
                      (const char *const[]){"127.0.0.1:5000/x:1", NULL});
    /* an invalid reference: the parser's message, nothing returned */
    char **got = NULL;
    _cleanup_(bl_error_freep) bl_error *e = NULL;
    ASSERT_ERR(bl_registry_candidates(&two, "Busybox", &got, &e), -EINVAL);
    ASSERT_NULL(got);
    ASSERT_STREQ(e->msg, "invalid reference format 'Busybox': repository name must be lowercase");
}

/* ---- docker config.json, base64 ---- */

TEST(docker_config)
{
    /* "alice:pw:with:colons" */
    const char *cfg = "{\"auths\": {"
                      "\"https://index.docker.io/v1/\": {\"auth\": \"aHViOmh1YnB3\"},"
                      "\"http://localhost:5000/v2/\": {\"auth\": "
                      "\"YWxpY2U6cHc6d2l0aDpjb2xvbnM=\"},"
                      "\"ghcr.io\": {\"username\": \"bob\", \"password\": \"s\"},"
                      "\"broken.io\": {\"auth\": \"bm9jb2xvbg==\"},"
                      "\"empty.io\": {}}, \"credsStore\": \"desktop\"}";
    _cleanup_free_ char *u = NULL, *p = NULL;
    ASSERT_EQ(bl_docker_config_auth(cfg, "localhost:5000", &u, &p, &tap_last_err), 1);
    ASSERT_STREQ(u, "alice");
    ASSERT_STREQ(p, "pw:with:colons");
    _cleanup_free_ char *u2 = NULL, *p2 = NULL;
    ASSERT_EQ(bl_docker_config_auth(cfg, "docker.io", &u2, &p2, &tap_last_err), 1);
    ASSERT_STREQ(u2, "hub");
    ASSERT_STREQ(p2, "hubpw");
    _cleanup_free_ char *u3 = NULL, *p3 = NULL;
    ASSERT_EQ(bl_docker_config_auth(cfg, "GHCR.io", &u3, &p3, &tap_last_err), 1);
    ASSERT_STREQ(u3, "bob");
    ASSERT_STREQ(p3, "s");
    char *u4 = NULL, *p4 = NULL;
    ASSERT_EQ(bl_docker_config_auth(cfg, "broken.io", &u4, &p4, &tap_last_err), 0);
    ASSERT_EQ(bl_docker_config_auth(cfg, "empty.io", &u4, &p4, &tap_last_err), 0);
    ASSERT_EQ(bl_docker_config_auth(cfg, "localhost:5001", &u4, &p4, &tap_last_err), 0);
    ASSERT_EQ(bl_docker_config_auth("not json", "docker.io", &u4, &p4, &tap_last_err), 0);
    ASSERT_EQ(bl_docker_config_auth("{\"auths\": []}", "docker.io", &u4, &p4, &tap_last_err), 0);
    ASSERT_NULL(u4);
    ASSERT_NULL(p4);
}

TEST(base64)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const enc[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < ELEMENTSOF(plain); i++) {
        _cleanup_free_ char *e = bl_base64_encode(plain[i], strlen(plain[i]));
        ASSERT_STREQ(e, enc[i]);
        size_t len = 99;
        _cleanup_free_ char *d = NULL;
        ASSERT_OK(bl_base64_decode(enc[i], &d, &len));
        ASSERT_STREQ(d, plain[i]);
        ASSERT_EQ(len, strlen(plain[i]));
    }
    static const char *const invalid[] = {"Zg=", "Z", "Zg==Zg==", "Zm9v!", "Zm=v", "Z==="};
    for (size_t i = 0; i < ELEMENTSOF(invalid); i++) {
        char *d = NULL;
        if (bl_base64_decode(invalid[i], &d, NULL) != -EINVAL || d)
            tap_fail(__FILE__, __LINE__, "'%s' decoded", invalid[i]);
    }
    /* bytes with every bit pattern survive a round trip */
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char) i;
    _cleanup_free_ char *e = bl_base64_encode(all, sizeof(all));
    size_t len = 0;
    _cleanup_free_ char *d = NULL;
    ASSERT_OK(bl_base64_decode(e, &d, &len));
    ASSERT_EQ(len, sizeof(all));
    ASSERT_TRUE(memcmp(d, all, sizeof(all)) == 0);
}

/* ---- registry replies ---- */

TEST(http_errors)
{
    static const struct {
        long status;
        const char *body;
        int code;
        const char *msg;
    } cases[] = {
        {404,
         "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\","
         "\"detail\":{\"Tag\":\"x\"}}]}",
         -ENOENT, "manifest unknown"},
        {404,
         "{\"errors\":[{\"code\":\"NAME_UNKNOWN\",\"message\":\"repository name not known "
         "to registry\"}]}",
         -ENOENT, "name unknown: repository name not known to registry"},
        {401, "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\"}]}",
         -EACCES, "unauthorized: authentication required"},
        {403,
         "{\"errors\":[{\"code\":\"DENIED\",\"message\":\"requested access to the resource "
         "is denied\"}]}",
         -EACCES, "denied: requested access to the resource is denied"},
        {401, "", -EACCES, "unauthorized (HTTP 401)"},
        {404, "<html>nope</html>", -ENOENT, "not found (HTTP 404)"},
        {500, "{\"errors\": []}", -EPROTO, "HTTP 500"},
        {429, "{\"errors\":[{\"code\":\"TOOMANYREQUESTS\"}]}", -EPROTO, "toomanyrequests"},
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_(bl_error_freep) bl_error *e = NULL;
        ASSERT_ERR(bl_reg_http_error(cases[i].status, cases[i].body, strlen(cases[i].body), &e),
                   cases[i].code);
        ASSERT_STREQ(e->msg, cases[i].msg);
    }
}

/* ---- torture ---- */

/* Every parser once; TAP_RUN_FAILED when one failed with -ENOMEM and nothing else went wrong. */
static int oom_run(unsigned long n, void *userdata)
{
    static const char *const hosts[] = {"a.io", NULL};
    struct bl_registries r = {.n = 7};
    bl_error *e = NULL;
    int res, q;
    (void) n;
    (void) userdata;
    q = bl_registries_parse("{\"home_dir\":\"/h\",\"image_registries\":[{\"host\":\"b.io\","
                            "\"search\":true,\"auth\":{\"type\":\"basic\",\"username\":\"u\","
                            "\"password\":\"p\"},\"ca\":\"/c\"}]}",
                            hosts, &r, &e);
    if (q < 0) {
        res = q == -ENOMEM && e && e->code == -ENOMEM && r.n == 7 ? TAP_RUN_FAILED : TAP_RUN_BUG;
        bl_error_free(e);
        return res;
    }
    char **c = NULL;
    q = bl_registry_candidates(&r, "busybox:1", &c, &e);
    bl_strv_free(c);
    bl_registries_done(&r);
    if (q < 0) {
        res = q == -ENOMEM && e && e->code == -ENOMEM ? TAP_RUN_FAILED : TAP_RUN_BUG;
        bl_error_free(e);
        return res;
    }
    struct bl_auth_challenge ch = BL_AUTH_CHALLENGE_NULL;
    q = bl_auth_challenge_parse("Basic realm=\"x\", Bearer realm=\"r\",service=s,scope=\"q\"", &ch,
                                &e);
    bl_auth_challenge_done(&ch);
    if (q < 0) {
        res = q == -ENOMEM && e && e->code == -ENOMEM ? TAP_RUN_FAILED : TAP_RUN_BUG;
        bl_error_free(e);
        return res;
    }
    char *u = NULL, *p = NULL;
    q = bl_docker_config_auth("{\"auths\":{\"b.io\":{\"auth\":\"dTpw\"}}}", "b.io", &u, &p, &e);
    free(u);
    free(p);
    if (q < 0) {
        res = q == -ENOMEM && e && e->code == -ENOMEM ? TAP_RUN_FAILED : TAP_RUN_BUG;
        bl_error_free(e);
        return res;
    }
    return !e ? TAP_RUN_OK : TAP_RUN_BUG;
}

/* Fail the Nth allocation for N = 1, 2, ... until a run reaches no fault point. */
TEST(oom_torture)
{
    tap_torture(&(struct tap_torture){
        .name = "parsers", .run = oom_run, .max_faults = 200, .min_faults = 10});
}

TAP_MAIN(T(challenge_bearer), T(challenge_basic), T(challenge_syntax), T(challenge_several),
         T(challenge_none_and_malformed), T(config_full), T(config_empty_and_null),
         T(config_errors), T(config_find), T(candidates), T(docker_config), T(base64),
         T(http_errors), T(oom_torture))
