/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for image-ref.c: docker-style normalisation, the formatted and familiar forms and
 * their round trip, rejection of malformed references with an untouched output, the wording of
 * the messages, and (in fault-injection builds) clean failure at every allocation.
 */
#include "../lib/tap.h"
#include "alloc-util.h"
#include "image-ref.h"

#define HEX "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define DG "sha256:" HEX
#define HEX_SHORT "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde"
#define HEX_UPPER "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"

static char sentinel;
#define SENTINEL_REF ((struct bl_image_ref){&sentinel, &sentinel, &sentinel, &sentinel})

static void assert_untouched(const struct bl_image_ref *r)
{
    ASSERT_TRUE(r->registry == &sentinel && r->repository == &sentinel && r->tag == &sentinel &&
                r->digest == &sentinel);
}

static int streq_null(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static int ref_eq(const struct bl_image_ref *a, const struct bl_image_ref *b)
{
    return streq_null(a->registry, b->registry) && streq_null(a->repository, b->repository) &&
           streq_null(a->tag, b->tag) && streq_null(a->digest, b->digest);
}

/* A string of n copies of c, followed by tail. */
static char *repeat(char c, size_t n, const char *tail)
{
    size_t t = strlen(tail);
    char *s = bl_malloc(n + t + 1);
    ASSERT_NOT_NULL(s);
    memset(s, c, n);
    memcpy(s + n, tail, t + 1);
    return s;
}

TEST(fields_default)
{
    _cleanup_(bl_image_ref_done) struct bl_image_ref r = BL_IMAGE_REF_NULL;

    ASSERT_OK(bl_image_ref_parse("busybox", &r, &tap_last_err));
    ASSERT_STREQ(r.registry, "docker.io");
    ASSERT_STREQ(r.repository, "library/busybox");
    ASSERT_STREQ(r.tag, "latest");
    ASSERT_NULL(r.digest);
}

TEST(fields_host_port)
{
    _cleanup_(bl_image_ref_done) struct bl_image_ref r = BL_IMAGE_REF_NULL;

    ASSERT_OK(bl_image_ref_parse("127.0.0.1:5000/a/b:tag", &r, &tap_last_err));
    ASSERT_STREQ(r.registry, "127.0.0.1:5000");
    ASSERT_STREQ(r.repository, "a/b");
    ASSERT_STREQ(r.tag, "tag");
    ASSERT_NULL(r.digest);
}

TEST(fields_digest_only_has_no_tag)
{
    _cleanup_(bl_image_ref_done) struct bl_image_ref r = BL_IMAGE_REF_NULL;

    ASSERT_OK(bl_image_ref_parse("localhost:5000/foo@" DG, &r, &tap_last_err));
    ASSERT_STREQ(r.registry, "localhost:5000");
    ASSERT_STREQ(r.repository, "foo");
    ASSERT_NULL(r.tag);
    ASSERT_STREQ(r.digest, DG);
}

TEST(fields_tag_and_digest)
{
    _cleanup_(bl_image_ref_done) struct bl_image_ref r = BL_IMAGE_REF_NULL;

    ASSERT_OK(bl_image_ref_parse("r/x:t@" DG, &r, &tap_last_err));
    ASSERT_STREQ(r.registry, "docker.io");
    ASSERT_STREQ(r.repository, "r/x");
    ASSERT_STREQ(r.tag, "t");
    ASSERT_STREQ(r.digest, DG);
}

static const struct {
    const char *in, *formatted, *familiar;
} valid[] = {
    /* docker.io defaults and the library/ namespace */
    {"busybox", "docker.io/library/busybox:latest", "busybox:latest"},
    {"busybox:1.36.1", "docker.io/library/busybox:1.36.1", "busybox:1.36.1"},
    {"user/app", "docker.io/user/app:latest", "user/app:latest"},
    {"user/app:1", "docker.io/user/app:1", "user/app:1"},
    {"docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"},
    {"index.docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"},
    {"docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest"},
    {"library/busybox", "docker.io/library/busybox:latest", "busybox:latest"},
    {"index.docker.io/user/app:v2", "docker.io/user/app:v2", "user/app:v2"},
    /* library/ stays when more than one component follows it */
    {"docker.io/library/a/b", "docker.io/library/a/b:latest", "library/a/b:latest"},
    /* docker.io/ stays when the first component would read as a host */
    {"docker.io/foo.bar/baz", "docker.io/foo.bar/baz:latest", "docker.io/foo.bar/baz:latest"},
    {"docker.io/localhost/x", "docker.io/localhost/x:latest", "docker.io/localhost/x:latest"},
    /* a lone first component is a repository, even when it looks like a host */
    {"localhost", "docker.io/library/localhost:latest", "localhost:latest"},
    {"localhost:5000", "docker.io/library/localhost:5000", "localhost:5000"},
    {"example.com", "docker.io/library/example.com:latest", "example.com:latest"},
    /* registries, ports, IPv6 */
    {"localhost/foo", "localhost/foo:latest", "localhost/foo:latest"},
    {"localhost:5000/foo", "localhost:5000/foo:latest", "localhost:5000/foo:latest"},
    {"localhost:5000/foo:1", "localhost:5000/foo:1", "localhost:5000/foo:1"},
    {"127.0.0.1:5000/a/b:tag", "127.0.0.1:5000/a/b:tag", "127.0.0.1:5000/a/b:tag"},
    {"[::1]:5000/x", "[::1]:5000/x:latest", "[::1]:5000/x:latest"},
    {"[fe80::1]/x:y", "[fe80::1]/x:y", "[fe80::1]/x:y"},
    {"ghcr.io/org/app:v1.2.3", "ghcr.io/org/app:v1.2.3", "ghcr.io/org/app:v1.2.3"},
    {"registry.example.com:443/team/sub/app:x", "registry.example.com:443/team/sub/app:x",
     "registry.example.com:443/team/sub/app:x"},
    {"Example.COM/foo", "Example.COM/foo:latest", "Example.COM/foo:latest"},
    {"my-registry.local/a", "my-registry.local/a:latest", "my-registry.local/a:latest"},
    /* deep paths and every separator */
    {"quay.io/a/b/c/d/e/f:deep", "quay.io/a/b/c/d/e/f:deep", "quay.io/a/b/c/d/e/f:deep"},
    {"org/my.app", "docker.io/org/my.app:latest", "org/my.app:latest"},
    {"a_b/c__d/e-f/g---h/i.j:Tag_1.0-rc", "docker.io/a_b/c__d/e-f/g---h/i.j:Tag_1.0-rc",
     "a_b/c__d/e-f/g---h/i.j:Tag_1.0-rc"},
    {"a", "docker.io/library/a:latest", "a:latest"},
    {"0/1:_", "docker.io/0/1:_", "0/1:_"},
    {"x:__", "docker.io/library/x:__", "x:__"},
    /* digests, alone and with a tag */
    {"busybox@" DG, "docker.io/library/busybox@" DG, "busybox@" DG},
    {"localhost:5000/foo@" DG, "localhost:5000/foo@" DG, "localhost:5000/foo@" DG},
    {"r/x:t@" DG, "docker.io/r/x:t@" DG, "r/x:t@" DG},
    {"r.io/x:t@" DG, "r.io/x:t@" DG, "r.io/x:t@" DG},
    {"docker.io/library/busybox:1@" DG, "docker.io/library/busybox:1@" DG, "busybox:1@" DG},
};

TEST(valid_table)
{
    for (size_t i = 0; i < ELEMENTSOF(valid); i++) {
        _cleanup_(bl_image_ref_done) struct bl_image_ref r = BL_IMAGE_REF_NULL;
        _cleanup_(bl_image_ref_done) struct bl_image_ref again = BL_IMAGE_REF_NULL;
        _cleanup_(bl_image_ref_done) struct bl_image_ref fam = BL_IMAGE_REF_NULL;
        _cleanup_free_ char *f = NULL, *f2 = NULL, *short_form = NULL;

        printf("# %s\n", valid[i].in);
        ASSERT_OK(bl_image_ref_parse(valid[i].in, &r, &tap_last_err));
        ASSERT_STREQ(f = bl_image_ref_format(&r), valid[i].formatted);
        ASSERT_STREQ(short_form = bl_image_ref_familiar(&r), valid[i].familiar);

        /* both forms parse back to the same reference */
        ASSERT_OK(bl_image_ref_parse(f, &again, &tap_last_err));
        ASSERT_TRUE(ref_eq(&r, &again));
        ASSERT_STREQ(f2 = bl_image_ref_format(&again), f);
        ASSERT_OK(bl_image_ref_parse(short_form, &fam, &tap_last_err));
        ASSERT_TRUE(ref_eq(&r, &fam));
    }
}

static const struct {
    const char *in, *why; /* why: a substring of the message */
} invalid[] = {
    {"", "empty reference"},
    {"Busybox", "repository name must be lowercase"},
    {"user/App", "repository name must be lowercase"},
    {"ghcr.io/Org/app", "repository name must be lowercase"},
    {"Foo/bar", "repository name must be lowercase"}, /* upper case does not make a host */
    {"busybox:", "missing tag after ':'"},
    {"busybox:-x", "tag must start with"},
    {"busybox:.x", "tag must start with"},
    {"busybox:a+b", "tag must start with"},
    {"busybox:a/b", "invalid port"}, /* a ':' before the last '/' is a port, not a tag */
    {"busybox@sha256:" HEX_SHORT, "followed by 64 lowercase hex digits"},
    {"busybox@" DG "0", "followed by 64 lowercase hex digits"},
    {"busybox@sha256:" HEX_UPPER, "followed by 64 lowercase hex digits"},
    {"busybox@sha256:abc", "followed by 64 lowercase hex digits"},
    {"busybox@sha512:" HEX HEX, "unsupported digest algorithm 'sha512'"},
    {"busybox@md5:abc", "unsupported digest algorithm 'md5'"},
    {"busybox@SHA256:" HEX, "followed by 64 lowercase hex digits"},
    {"busybox@" HEX, "followed by 64 lowercase hex digits"},
    {"busybox@", "missing digest after '@'"},
    {"busybox@" DG "@" DG, "followed by 64 lowercase hex digits"},
    {":tag", "missing repository name"},
    {"@" DG, "missing repository name"},
    {":", "missing tag"},
    {"a//b", "empty path component"},
    {"a/", "must not end with '/'"},
    {"/a", "must not start with '/'"},
    {"foo.com/", "missing repository name after registry host"},
    {"foo.com//a", "empty path component"},
    {"-a", "must start and end with a lowercase letter or digit"},
    {"a-", "must start and end with a lowercase letter or digit"},
    {"a/_b", "must start and end with a lowercase letter or digit"},
    {"a..b", "invalid separator '..'"},
    {"a___b", "invalid separator '___'"},
    {"a._b", "invalid separator '._'"},
    {"a-.b", "invalid separator '-.'"},
    {"a/b:c:d", "invalid character ':'"},
    {"a$b", "invalid character '$'"},
    {"busy box", "whitespace"},
    {" busybox", "whitespace"},
    {"busybox\n", "whitespace"},
    {"\t", "whitespace"},
    {"busybox\x7f", "control characters"},
    {"busyb\xc3\xb6x", "non-ASCII"},
    {"exa_mple.com/foo", "invalid registry host 'exa_mple.com'"},
    {"-example.com/foo", "invalid registry host"},
    {"example-.com/foo", "invalid registry host"},
    {"example..com/foo", "invalid registry host"},
    {".example.com/foo", "invalid registry host"},
    {"example.com./foo", "invalid registry host"},
    {":5000/foo", "invalid registry host"},
    {"localhost:/foo", "invalid port"},
    {"localhost:abc/foo", "invalid port"},
    {"localhost:50x0/foo", "invalid port"},
    {"localhost:0/foo", "invalid port"},
    {"localhost:65536/foo", "invalid port"},
    {"localhost:99999999999999999999/foo", "invalid port"},
    {"[::1/foo", "invalid IPv6 address"},
    {"[]:5000/x", "invalid IPv6 address"},
    {"[::g]/x", "invalid IPv6 address"},
    {"[::1]x/y", "invalid registry host"},
    {"[::1]:/y", "invalid port"},
};

TEST(invalid_table)
{
    for (size_t i = 0; i < ELEMENTSOF(invalid); i++) {
        _cleanup_(bl_error_freep) bl_error *e = NULL;
        struct bl_image_ref r = SENTINEL_REF;

        ASSERT_ERR(bl_image_ref_parse(invalid[i].in, &r, &e), -EINVAL);
        assert_untouched(&r);
        ASSERT_NOT_NULL(e);
        ASSERT_EQ(e->code, -EINVAL);
        printf("#   %s\n", e->msg);
        ASSERT_TRUE(strncmp(e->msg, "invalid reference format '", 26) == 0);
        if (!strstr(e->msg, invalid[i].why))
            tap_fail(__FILE__, __LINE__, "'%s' lacks '%s'", e->msg, invalid[i].why);
        ASSERT_TRUE(e->msg[strlen(e->msg) - 1] != '.');
    }
}

static void expect_msg(const char *in, const char *msg)
{
    _cleanup_(bl_error_freep) bl_error *e = NULL;
    struct bl_image_ref r = SENTINEL_REF;

    ASSERT_ERR(bl_image_ref_parse(in, &r, &e), -EINVAL);
    assert_untouched(&r);
    ASSERT_NOT_NULL(e);
    ASSERT_STREQ(e->msg, msg);
}

TEST(messages)
{
    expect_msg("Busybox", "invalid reference format 'Busybox': repository name must be lowercase");
    expect_msg("busybox@sha512:" HEX HEX,
               "invalid reference format 'busybox@sha512:" HEX HEX
               "': unsupported digest algorithm 'sha512' (only sha256 is supported)");
    expect_msg("", "invalid reference format '': empty reference");
    expect_msg("a//b", "invalid reference format 'a//b': empty path component in repository name");
    /* control and non-ASCII bytes are escaped, never echoed raw */
    expect_msg("a\tb\x1b[31m",
               "invalid reference format 'a\\x09b\\x1b[31m': must not contain whitespace or "
               "control characters");
    expect_msg("busy box",
               "invalid reference format 'busy box': must not contain whitespace or control "
               "characters");
    expect_msg("\xff", "invalid reference format '\\xff': must not contain non-ASCII characters");
}

TEST(too_long)
{
    _cleanup_free_ char *in = repeat('a', 300, "");
    _cleanup_free_ char *expect = bl_asprintf(
        "invalid reference format '%s': repository name must not be longer than 255 characters",
        in);
    struct bl_image_ref r = SENTINEL_REF;

    ASSERT_NOT_NULL(expect);
    expect_msg(in, expect);
    ASSERT_ERR(bl_image_ref_parse(in, &r, NULL), -EINVAL);
    assert_untouched(&r);
}

/* Messages quote at most 512 bytes of the input. */
TEST(message_truncates_huge_input)
{
    _cleanup_free_ char *in = repeat('a', 100000, "");
    _cleanup_free_ char *shown = repeat('a', 512, "...': ");
    _cleanup_(bl_error_freep) bl_error *e = NULL;
    struct bl_image_ref r = SENTINEL_REF;

    ASSERT_ERR(bl_image_ref_parse(in, &r, &e), -EINVAL);
    assert_untouched(&r);
    ASSERT_TRUE(strstr(e->msg, shown));
    ASSERT_TRUE(strlen(e->msg) < 700);
}

/* The 255-byte limit applies to the normalised "registry/repository". */
TEST(name_length_limit)
{
    static const struct {
        const char *prefix, *normalised; /* in front of the path, before and after */
    } cases[] = {
        {"", "docker.io/library/"},
        {"r.io/", "r.io/"},
        {"u/", "docker.io/u/"},
        {"index.docker.io/u/", "docker.io/u/"},
    };

    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        size_t room = 255 - strlen(cases[i].normalised);
        _cleanup_free_ char *tail = repeat('a', room, ":t");
        _cleanup_free_ char *fits = bl_asprintf("%s%s", cases[i].prefix, tail);
        _cleanup_free_ char *over = bl_asprintf("%sa%s", cases[i].prefix, tail);
        _cleanup_(bl_image_ref_done) struct bl_image_ref r = BL_IMAGE_REF_NULL;
        _cleanup_free_ char *f = NULL;
        struct bl_image_ref untouched = SENTINEL_REF;

        ASSERT_NOT_NULL(fits);
        ASSERT_NOT_NULL(over);
        ASSERT_OK(bl_image_ref_parse(fits, &r, &tap_last_err));
        ASSERT_NOT_NULL(f = bl_image_ref_format(&r));
        ASSERT_EQ(strlen(f), 255 + strlen(":t"));
        ASSERT_ERR(bl_image_ref_parse(over, &untouched, NULL), -EINVAL);
        assert_untouched(&untouched);
    }
}

TEST(tag_length_limit)
{
    _cleanup_free_ char *fits = repeat('t', 128, "");
    _cleanup_free_ char *ok_in = bl_asprintf("busybox:%s", fits);
    _cleanup_free_ char *bad_in = bl_asprintf("busybox:%sx", fits);
    _cleanup_(bl_image_ref_done) struct bl_image_ref r = BL_IMAGE_REF_NULL;
    _cleanup_(bl_error_freep) bl_error *e = NULL;
    struct bl_image_ref untouched = SENTINEL_REF;

    ASSERT_NOT_NULL(ok_in);
    ASSERT_NOT_NULL(bad_in);
    ASSERT_OK(bl_image_ref_parse(ok_in, &r, &tap_last_err));
    ASSERT_STREQ(r.tag, fits);
    ASSERT_ERR(bl_image_ref_parse(bad_in, &untouched, &e), -EINVAL);
    assert_untouched(&untouched);
    ASSERT_TRUE(strstr(e->msg, "tag must not be longer than 128 characters"));
}

TEST(error_param)
{
    struct bl_image_ref r = SENTINEL_REF;
    bl_error first = {.code = -EIO, .msg = (char *) "first", .is_static = 1};
    bl_error *e = &first;

    /* err may be NULL */
    ASSERT_ERR(bl_image_ref_parse("A", &r, NULL), -EINVAL);
    assert_untouched(&r);
    /* the first error wins */
    ASSERT_ERR(bl_image_ref_parse("A", &r, &e), -EINVAL);
    ASSERT_TRUE(e == &first);
    assert_untouched(&r);
}

TEST(success_leaves_err_alone)
{
    _cleanup_(bl_image_ref_done) struct bl_image_ref r = BL_IMAGE_REF_NULL;
    bl_error *e = NULL;

    ASSERT_OK(bl_image_ref_parse("busybox", &r, &e));
    ASSERT_NULL(e);
}

TEST(done)
{
    struct bl_image_ref r = BL_IMAGE_REF_NULL;

    bl_image_ref_done(NULL);
    bl_image_ref_done(&r); /* an empty reference */
    ASSERT_OK(bl_image_ref_parse("busybox@" DG, &r, &tap_last_err));
    bl_image_ref_done(&r);
    ASSERT_TRUE(ref_eq(&r, &BL_IMAGE_REF_NULL));
    bl_image_ref_done(&r); /* twice is harmless */
}

/* In a child with BL_FAULT=n: parse, format and familiarise; or one of them fails cleanly. */
static int oom_run(unsigned long n, void *userdata)
{
    const char *in = userdata;
    struct bl_image_ref r = SENTINEL_REF;
    bl_error *e = NULL;
    int res;

    (void) n;
    if (bl_image_ref_parse(in, &r, &e) < 0) {
        res = e && e->code == -ENOMEM && r.registry == &sentinel && r.digest == &sentinel
                  ? TAP_RUN_FAILED
                  : TAP_RUN_BUG;
        bl_error_free(e);
        return res;
    }
    char *f = bl_image_ref_format(&r);
    char *fam = f ? bl_image_ref_familiar(&r) : NULL;
    if (!f || !fam)
        res = TAP_RUN_FAILED;
    else
        res = !e ? TAP_RUN_OK : TAP_RUN_BUG;
    free(f);
    free(fam);
    bl_image_ref_done(&r);
    return res;
}

/* Fail the Nth allocation for N = 1, 2, ... until a run reaches no fault point. */
TEST(oom_torture)
{
    static const char *const inputs[] = {"busybox", "r/x:t@" DG, "localhost:5000/foo@" DG,
                                         "ghcr.io/org/app:v1"};

    for (size_t i = 0; i < ELEMENTSOF(inputs); i++)
        tap_torture(&(struct tap_torture){
            .name = inputs[i], .run = oom_run, .userdata = (void *) inputs[i], .max_faults = 50});
}

TAP_MAIN(T(fields_default), T(fields_host_port), T(fields_digest_only_has_no_tag),
         T(fields_tag_and_digest), T(valid_table), T(invalid_table), T(messages), T(too_long),
         T(message_truncates_huge_input), T(name_length_limit), T(tag_length_limit), T(error_param),
         T(success_leaves_err_alone), T(done), T(oom_torture))
