/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for caps.c: docker's default set, the name table, parsing of user-supplied names
 * (case, prefix, "ALL", malformed and unknown names with their messages and an untouched output),
 * docker's --cap-add/--cap-drop rules, and the mask printer.
 */
#include <linux/capability.h>

#include "../lib/tap.h"
#include "caps.h"

#define SENTINEL 12345

static int popcount64(uint64_t m)
{
    return __builtin_popcountll(m);
}

TEST(default_set)
{
    static const int expected[] = {
        CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,           CAP_FOWNER,
        CAP_MKNOD,   CAP_NET_RAW,      CAP_SETGID,           CAP_SETUID,
        CAP_SETFCAP, CAP_SETPCAP,      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
        CAP_KILL,    CAP_AUDIT_WRITE};
    uint64_t m = bl_caps_default(), want = 0;

    for (size_t i = 0; i < ELEMENTSOF(expected); i++)
        want |= BL_CAP_MASK(expected[i]);
    ASSERT_EQ(popcount64(m), 14);
    ASSERT_EQ(m, want);
    ASSERT_TRUE(!(m & BL_CAP_MASK(CAP_SYS_ADMIN)));
    ASSERT_TRUE(!(m & BL_CAP_MASK(CAP_NET_ADMIN)));

    _cleanup_free_ char *s = bl_caps_mask_to_string(m);
    ASSERT_STREQ(s, "CAP_CHOWN,CAP_DAC_OVERRIDE,CAP_FOWNER,CAP_FSETID,CAP_KILL,CAP_SETGID,"
                    "CAP_SETUID,CAP_SETPCAP,CAP_NET_BIND_SERVICE,CAP_NET_RAW,CAP_SYS_CHROOT,"
                    "CAP_MKNOD,CAP_AUDIT_WRITE,CAP_SETFCAP");
}

TEST(names)
{
    ASSERT_STREQ(bl_caps_name(0), "CAP_CHOWN");
    ASSERT_STREQ(bl_caps_name(CAP_SYS_ADMIN), "CAP_SYS_ADMIN");
    ASSERT_STREQ(bl_caps_name(21), "CAP_SYS_ADMIN");
    ASSERT_STREQ(bl_caps_name(37), "CAP_AUDIT_READ");
    ASSERT_STREQ(bl_caps_name(38), "CAP_PERFMON");
    ASSERT_STREQ(bl_caps_name(39), "CAP_BPF");
    ASSERT_STREQ(bl_caps_name(40), "CAP_CHECKPOINT_RESTORE");
    ASSERT_NULL(bl_caps_name(41));
    ASSERT_NULL(bl_caps_name(63));
    ASSERT_NULL(bl_caps_name(-1));

    /* every name round-trips, with and without prefix, in either case */
    for (int c = 0; c <= 40; c++) {
        const char *n = bl_caps_name(c);
        char lower[64];
        int got = SENTINEL;

        ASSERT_NOT_NULL(n);
        ASSERT_EQ(bl_caps_parse(n, &got, &tap_last_err), 0);
        ASSERT_EQ(got, c);
        size_t i = 0;
        for (const char *p = n + 4; *p && i + 1 < sizeof(lower); p++)
            lower[i++] = (char) (*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        lower[i] = 0;
        got = SENTINEL;
        ASSERT_EQ(bl_caps_parse(lower, &got, &tap_last_err), 0);
        ASSERT_EQ(got, c);
    }
}

TEST(parse_valid)
{
    static const struct {
        const char *in;
        int cap;
    } cases[] = {
        {"cap_net_admin", CAP_NET_ADMIN},
        {"NET_ADMIN", CAP_NET_ADMIN},
        {"CAP_NET_ADMIN", CAP_NET_ADMIN},
        {"net_admin", CAP_NET_ADMIN},
        {"Cap_Sys_Admin", CAP_SYS_ADMIN},
        {"chown", CAP_CHOWN},
        {"CAP_BPF", 39},
        {"checkpoint_restore", 40},
        {"sys_ptrace", CAP_SYS_PTRACE},
        {"CAP_AUDIT_WRITE", CAP_AUDIT_WRITE},
    };

    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        int got = SENTINEL;
        ASSERT_EQ(bl_caps_parse(cases[i].in, &got, &tap_last_err), 0);
        ASSERT_EQ(got, cases[i].cap);
    }
    ASSERT_NULL(tap_last_err);

    /* ret_cap is optional: validation only */
    ASSERT_EQ(bl_caps_parse("kill", NULL, NULL), 0);
}

TEST(parse_all)
{
    static const char *const alls[] = {"ALL", "all", "All", "aLl"};

    for (size_t i = 0; i < ELEMENTSOF(alls); i++) {
        int got = SENTINEL;
        ASSERT_EQ(bl_caps_parse(alls[i], &got, &tap_last_err), 1);
        ASSERT_EQ(got, BL_CAP_ALL);
    }
    ASSERT_EQ(bl_caps_parse("all", NULL, NULL), 1);

    /* like docker, "ALL" is not a capability name and takes no prefix */
    int got = SENTINEL;
    bl_error *e = NULL;
    ASSERT_ERR(bl_caps_parse("CAP_ALL", &got, &e), -EINVAL);
    ASSERT_STREQ(bl_error_msg(e), "unknown capability 'CAP_ALL'");
    ASSERT_EQ(got, SENTINEL);
    bl_error_free(e);
}

TEST(parse_invalid)
{
    static const struct {
        const char *in;
        const char *msg;
    } cases[] = {
        {"net-admin", "malformed Linux capability: 'net-admin'"},
        {"1CAP", "malformed Linux capability: '1CAP'"},
        {"", "malformed Linux capability: ''"},
        {"CAP_", "malformed Linux capability: 'CAP_'"},
        {"cap_", "malformed Linux capability: 'cap_'"},
        {"_NET_ADMIN", "malformed Linux capability: '_NET_ADMIN'"},
        {"NET ADMIN", "malformed Linux capability: 'NET ADMIN'"},
        {"CAP_9", "malformed Linux capability: 'CAP_9'"},
        {"net_admin ", "malformed Linux capability: 'net_admin '"},
        {"caf\xc3\xa9", "malformed Linux capability: 'caf\xc3\xa9'"},
        {"CAP_FOO", "unknown capability 'CAP_FOO'"},
        {"foo", "unknown capability 'foo'"},
        {"NET_ADMINX", "unknown capability 'NET_ADMINX'"},
        {"CAP_CAP_CHOWN", "unknown capability 'CAP_CAP_CHOWN'"},
        {"ALLX", "unknown capability 'ALLX'"},
    };

    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        bl_error *e = NULL;
        int got = SENTINEL;

        ASSERT_ERR(bl_caps_parse(cases[i].in, &got, &e), -EINVAL);
        ASSERT_NOT_NULL(e);
        ASSERT_EQ(e->code, -EINVAL);
        ASSERT_STREQ(e->msg, cases[i].msg);
        ASSERT_EQ(got, SENTINEL); /* untouched on failure */
        bl_error_free(e);
        /* err is optional */
        ASSERT_ERR(bl_caps_parse(cases[i].in, &got, NULL), -EINVAL);
    }
}

TEST(parse_first_error_wins)
{
    _cleanup_(bl_error_freep) bl_error *e = NULL;

    ASSERT_ERR(bl_caps_parse("bad-1", NULL, &e), -EINVAL);
    ASSERT_ERR(bl_caps_parse("CAP_NOPE", NULL, &e), -EINVAL);
    ASSERT_STREQ(e->msg, "malformed Linux capability: 'bad-1'");
}

static void apply_ok(uint64_t base, char *const *add, char *const *drop, uint64_t want)
{
    uint64_t got = 0xdeadbeef;
    ASSERT_OK(bl_caps_apply(base, add, drop, &got, &tap_last_err));
    if (got != want)
        tap_fail(__FILE__, __LINE__, "apply: got 0x%" PRIx64 ", want 0x%" PRIx64, got, want);
}

/* a NULL-terminated list of literals, as the CLI passes argv-derived lists */
#define L(...) ((char *const *) (const char *const[]){__VA_ARGS__, NULL})
#define M(c) BL_CAP_MASK(CAP_##c)

TEST(apply)
{
    const uint64_t def = bl_caps_default(), all = bl_caps_all();

    /* nothing to change */
    apply_ok(def, NULL, NULL, def);
    apply_ok(def, L(NULL), L(NULL), def);
    apply_ok(0, NULL, NULL, 0);

    /* add and drop, any spelling */
    apply_ok(def, L("NET_ADMIN"), NULL, def | M(NET_ADMIN));
    apply_ok(def, L("cap_net_admin", "SYS_PTRACE"), NULL, def | M(NET_ADMIN) | M(SYS_PTRACE));
    apply_ok(def, NULL, L("chown", "CAP_KILL"), def & ~(M(CHOWN) | M(KILL)));
    apply_ok(def, L("net_admin"), L("NET_RAW"), (def | M(NET_ADMIN)) & ~M(NET_RAW));
    /* dropping what is not there, adding what is: no-ops */
    apply_ok(def, L("chown"), L("sys_admin"), def);
    /* added and dropped: docker drops first, then adds, so it stays */
    apply_ok(def, L("NET_ADMIN", "CHOWN"), L("CHOWN", "NET_ADMIN"), def | M(NET_ADMIN));

    /* add ALL: every capability of the kernel, minus explicit drops */
    apply_ok(def, L("ALL"), NULL, all);
    apply_ok(0, L("all"), NULL, all);
    apply_ok(def, L("ALL"), L("CHOWN", "sys_admin"), all & ~(M(CHOWN) | M(SYS_ADMIN)));
    apply_ok(def, L("ALL", "NET_ADMIN"), L("NET_ADMIN"), all & ~M(NET_ADMIN));
    /* add ALL wins over drop ALL */
    apply_ok(def, L("ALL"), L("ALL"), all);

    /* drop ALL: exactly the added ones */
    apply_ok(def, NULL, L("ALL"), 0);
    apply_ok(def, L("NET_ADMIN", "chown"), L("all"), M(NET_ADMIN) | M(CHOWN));
    apply_ok(def, L("KILL"), L("ALL", "KILL"), M(KILL));

    /* the result never holds what the kernel does not know */
    apply_ok(UINT64_MAX, NULL, NULL, all);
    apply_ok(UINT64_MAX, NULL, L("CHOWN"), all & ~M(CHOWN));
}

TEST(apply_errors)
{
    const uint64_t def = bl_caps_default();
    const struct {
        char *const *add, *const *drop;
        const char *msg;
    } cases[] = {
        {L("NET_ADMIN", "net-admin"), NULL, "malformed Linux capability: 'net-admin'"},
        {NULL, L("chown", "CAP_FOO"), "unknown capability 'CAP_FOO'"},
        {L("ALL"), L("1CAP"), "malformed Linux capability: '1CAP'"},
        {L("KILL"), L("ALL", ""), "malformed Linux capability: ''"},
        {L("CAP_ALL"), NULL, "unknown capability 'CAP_ALL'"},
    };

    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        bl_error *e = NULL;
        uint64_t got = 0xdeadbeef;

        ASSERT_ERR(bl_caps_apply(def, cases[i].add, cases[i].drop, &got, &e), -EINVAL);
        ASSERT_NOT_NULL(e);
        ASSERT_STREQ(e->msg, cases[i].msg);
        ASSERT_EQ(got, 0xdeadbeef); /* untouched on failure */
        bl_error_free(e);
    }
}

TEST(apply_unsupported_by_kernel)
{
    int last = bl_caps_last_cap();
    if (last >= 40)
        SKIP("the running kernel knows every capability in the table");

    const char *name = bl_caps_name(last + 1);
    char *const add[] = {(char *) name, NULL};
    bl_error *e = NULL;
    uint64_t got = 0xdeadbeef;

    ASSERT_ERR(bl_caps_apply(0, add, NULL, &got, &e), -EINVAL);
    ASSERT_EQ(got, 0xdeadbeef);
    bl_error_free(e);
    ASSERT_OK(bl_caps_apply(0, NULL, add, &got, &tap_last_err)); /* dropping it is a no-op */
    ASSERT_EQ(got, 0);
}

TEST(last_cap)
{
    int last = bl_caps_last_cap(), from_proc = -1;
    FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");

    if (f) {
        ASSERT_EQ(fscanf(f, "%d", &from_proc), 1);
        (void) fclose(f);
        ASSERT_EQ(last, from_proc);
    } else {
        ASSERT_EQ(last, CAP_LAST_CAP);
    }
    ASSERT_TRUE(last >= CAP_AUDIT_READ && last <= 63);
    ASSERT_EQ(popcount64(bl_caps_all()), last + 1);
    ASSERT_EQ(bl_caps_all() & bl_caps_default(), bl_caps_default());
}

TEST(mask_to_string)
{
    _cleanup_free_ char *empty = bl_caps_mask_to_string(0);
    _cleanup_free_ char *two = bl_caps_mask_to_string(M(KILL) | M(CHOWN));
    _cleanup_free_ char *one = bl_caps_mask_to_string(M(SYS_ADMIN));
    _cleanup_free_ char *odd =
        bl_caps_mask_to_string(BL_CAP_MASK(40) | BL_CAP_MASK(41) | BL_CAP_MASK(63));
    _cleanup_free_ char *full = bl_caps_mask_to_string(UINT64_MAX);

    ASSERT_STREQ(empty, "");
    ASSERT_STREQ(two, "CAP_CHOWN,CAP_KILL");
    ASSERT_STREQ(one, "CAP_SYS_ADMIN");
    ASSERT_STREQ(odd, "CAP_CHECKPOINT_RESTORE,41,63");
    ASSERT_NOT_NULL(full);
    ASSERT_TRUE(strncmp(full, "CAP_CHOWN,CAP_DAC_OVERRIDE,", 27) == 0);
    ASSERT_TRUE(strstr(full, ",CAP_CHECKPOINT_RESTORE,41,42,") != NULL);
    size_t n = strlen(full);
    ASSERT_TRUE(n > 3 && strcmp(full + n - 3, ",63") == 0);
}

/* In a child with BL_FAULT=n: the string, or NULL when an allocation failed. */
static int mask_to_string_run(unsigned long n, void *userdata)
{
    (void) n;
    (void) userdata;
    char *s = bl_caps_mask_to_string(bl_caps_default());
    int res = s ? TAP_RUN_OK : TAP_RUN_FAILED;
    free(s);
    return res;
}

TEST(mask_to_string_oom)
{
    tap_torture(&(struct tap_torture){
        .name = "mask to string", .run = mask_to_string_run, .max_faults = 50});
}

TAP_MAIN(T(default_set), T(names), T(parse_valid), T(parse_all), T(parse_invalid),
         T(parse_first_error_wins), T(apply), T(apply_errors), T(apply_unsupported_by_kernel),
         T(last_cap), T(mask_to_string), T(mask_to_string_oom))
