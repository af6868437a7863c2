/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for `-v` volume specs (bl_volume_parse, box-volume.c). Properties: a failure
 * is a negative errno with a message and an untouched output; a success has an absolute box
 * path that is not "/", an anonymous volume has no host path, and a named one a canonical
 * absolute host path (realpath: it exists; the target runs in a scratch directory so that
 * relative host paths resolve to something small). Whatever the options say, "ro" among them
 * always makes the volume read-only.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "box-volume.h"
#include "fs-util.h"
#include "fuzz-util.h"

static char dir[] = "/tmp/bl-fuzz-volume.XXXXXX";

static void remove_scratch(void)
{
    (void) bl_rm_rf_at(AT_FDCWD, dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    /* a small tree for relative host paths: ./data, ./data/sub, ./file */
    if (!mkdtemp(dir) || atexit(remove_scratch) != 0 || chdir(dir) < 0 || mkdir("data", 0755) < 0 ||
        mkdir("data/sub", 0755) < 0 || mkdir("C:", 0755) < 0)
        abort();
    FILE *f = fopen("file", "we");
    if (!f)
        abort();
    (void) fclose(f);
    return 0;
}

/* Does the comma list after the box path name "ro" as one option (blanks around it allowed)? */
static int names_ro(const char *opts)
{
    for (const char *p = opts; *p;) {
        size_t n = strcspn(p, ",");
        const char *a = p, *b = p + n;
        while (a < b && isspace((unsigned char) *a))
            a++;
        while (b > a && isspace((unsigned char) b[-1]))
            b--;
        if (b - a == 2 && !strncmp(a, "ro", 2))
            return 1;
        p += n + (p[n] == ',');
    }
    return 0;
}

/* The options field of a spec that parsed, by docker's shapes: HOST:BOX:OPTS, a drive letter
 * D:PATH:BOX:OPTS, or BOX:ro|rw; NULL when there is none. */
static const char *options(const char *spec)
{
    const char *c[4] = {NULL};
    size_t n = 0;
    for (const char *p = strchr(spec, ':'); p && n < 4; p = strchr(p + 1, ':'))
        c[n++] = p;
    const char *a = spec, *b = n ? c[0] : spec;
    while (a < b && isspace((unsigned char) *a))
        a++;
    while (b > a && isspace((unsigned char) b[-1]))
        b--;
    int drive = n >= 1 && b - a == 1 && isalpha((unsigned char) *a);
    if (n == 1) /* an anonymous volume's ro|rw; anything with a '/' was the box path */
        return strchr(c[0] + 1, '/') ? NULL : c[0] + 1;
    if (n == 2 && !drive)
        return c[1] + 1;
    if (n == 3 && drive)
        return c[2] + 1;
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    _cleanup_free_ char *in = fuzz_cstr(data, size);
    _cleanup_(bl_error_freep) bl_error *err = NULL;
    if (!in)
        return 0;
    struct bl_volume v, pristine;
    memset(&v, 0xa5, sizeof(v));
    memcpy(&pristine, &v, sizeof(v));
    int r = bl_volume_parse(in, &v, &err);
    if (r < 0) {
        FUZZ_CHECK(err && err->code == r && err->msg && *err->msg, "'%s': no message", in);
        FUZZ_CHECK(!memcmp(&v, &pristine, sizeof(v)), "'%s': output touched", in);
        return 0;
    }
    FUZZ_CHECK(r == 0 && !err, "'%s': %d with an error", in, r);
    FUZZ_CHECK(v.target && v.target[0] == '/' && v.target[strspn(v.target, "/")],
               "'%s': box path '%s'", in, v.target ? v.target : "(null)");
    FUZZ_CHECK(v.anonymous == !v.source, "'%s': anonymous %d, source %s", in, v.anonymous,
               v.source ? v.source : "(null)");
    if (v.source) {
        char real[PATH_MAX];
        FUZZ_CHECK(v.source[0] == '/' && realpath(v.source, real) && !strcmp(real, v.source),
                   "'%s': host path '%s' is not canonical", in, v.source);
    }
    FUZZ_CHECK(v.ro == 0 || v.ro == 1, "'%s': ro %d", in, v.ro);
    /* "ro" among the options must never mount read-write */
    const char *opts = options(in);
    if (opts && names_ro(opts))
        FUZZ_CHECK(v.ro, "'%s': 'ro' asked for, mounted read-write", in);
    bl_volume_done(&v);
    return 0;
}
