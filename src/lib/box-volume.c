/* SPDX-License-Identifier: MIT */
/*
 * Volumes of `run`/`create -v`: docker's spec strings parsed with upstream BoxLite's rules and
 * messages (spec/cli.md §4.1 VolumeFlags), and the host directories of anonymous volumes
 * (<home>/volumes/anonymous/<ULID>, which belong to their box and go with it).
 */
#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "alloc-util.h"
#include "box.h"
#include "fs-util.h"

void bl_volume_done(struct bl_volume *v)
{
    free(v->source);
    free(v->target);
    v->source = v->target = NULL;
}

/* A copy of s[0..n) without blanks around it. */
static char *trimmed(const char *s, size_t n)
{
    while (n && isspace((unsigned char) *s)) {
        s++;
        n--;
    }
    while (n && isspace((unsigned char) s[n - 1]))
        n--;
    return bl_strndup(s, n);
}

static void free_parts(char **parts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(parts[i]);
}

/* The options field: a comma list; "ro" anywhere (blanks around it allowed) makes the volume
 * read-only. No allocation: an out-of-memory must not turn "ro" into read-write. */
static int has_ro(const char *opts)
{
    for (const char *p = opts; *p;) {
        size_t n = strcspn(p, ",");
        const char *a = p, *b = p + n;
        while (a < b && isspace((unsigned char) *a))
            a++;
        while (b > a && isspace((unsigned char) b[-1]))
            b--;
        if (b - a == 2 && a[0] == 'r' && a[1] == 'o')
            return 1;
        p += n + (p[n] == ',');
    }
    return 0;
}

static int absolute_box_path(const char *what, const char *p, bl_error **err)
{
    if (!*p)
        return bl_err(err, -EINVAL, "volume box path must be non-empty");
    if (p[0] != '/')
        return bl_err(err, -EINVAL, "%s box path must be absolute (e.g. /data), got \"%s\"", what,
                      p);
    if (p[strspn(p, "/")] == 0)
        return bl_err(err, -EINVAL, "volume box path must not be \"/\"");
    return 0;
}

int bl_volume_parse(const char *spec, struct bl_volume *ret, bl_error **err)
{
    char *parts[8] = {NULL};
    size_t n = 0;
    _cleanup_free_ char *whole = trimmed(spec, strlen(spec));
    if (!whole)
        return bl_oom(err);
    if (!*whole)
        return bl_err(err, -EINVAL, "empty volume spec");
    for (const char *p = whole;; n++) {
        size_t k = strcspn(p, ":");
        if (n == ELEMENTSOF(parts)) {
            free_parts(parts, n);
            return bl_err(err, -EINVAL,
                          "invalid volume spec \"%s\"; use hostPath:boxPath[:options] or "
                          "boxPath[:ro|rw]",
                          spec);
        }
        parts[n] = trimmed(p, k);
        if (!parts[n]) {
            free_parts(parts, n);
            return bl_oom(err);
        }
        if (!p[k]) {
            n++;
            break;
        }
        p += k + 1;
    }
    const char *host = NULL, *box = NULL, *opts = "";
    _cleanup_free_ char *drive = NULL;
    int anonymous = 0, r = 0;
    /* a Windows drive letter ("C:\data:/app[:ro]") is one path */
    if (n >= 3 && strlen(parts[0]) == 1 && isalpha((unsigned char) parts[0][0])) {
        drive = bl_asprintf("%s:%s", parts[0], parts[1]);
        if (!drive) {
            free_parts(parts, n);
            return bl_oom(err);
        }
        host = drive;
        box = parts[2];
        if (n == 4)
            opts = parts[3];
        else if (n > 4)
            r = -EINVAL;
    } else if (n == 1) {
        anonymous = 1;
        box = parts[0];
    } else if (n == 2 && (!strcmp(parts[1], "ro") || !strcmp(parts[1], "rw"))) {
        anonymous = 1;
        box = parts[0];
        opts = parts[1];
    } else if (n == 2 || n == 3) {
        host = parts[0];
        box = parts[1];
        if (n == 3)
            opts = parts[2];
    } else {
        r = -EINVAL;
    }
    if (r < 0) {
        free_parts(parts, n);
        return bl_err(err, -EINVAL,
                      "invalid volume spec \"%s\"; use hostPath:boxPath[:options] or "
                      "boxPath[:ro|rw]",
                      spec);
    }
    if (anonymous)
        r = absolute_box_path("anonymous volume", box, err);
    else if (!*host)
        r = bl_err(err, -EINVAL, "volume host path must be non-empty");
    else
        r = absolute_box_path("volume", box, err);
    char real[PATH_MAX];
    if (r == 0 && host && !realpath(host, real))
        r = bl_err(err, -errno, "volume host path \"%s\": %s", host, strerror(errno));
    if (r < 0) {
        free_parts(parts, n);
        return r;
    }
    struct bl_volume v = {
        .source = host ? bl_strdup(real) : NULL,
        .target = bl_strdup(box),
        .ro = has_ro(opts),
        .anonymous = anonymous,
    };
    free_parts(parts, n);
    if ((host && !v.source) || !v.target) {
        bl_volume_done(&v);
        return bl_oom(err);
    }
    *ret = v;
    return 0;
}

/* A ULID: 48 bits of milliseconds, 80 random bits, Crockford base32 (sorts by time). */
static int new_ulid(char out[27])
{
    static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    unsigned char bytes[16];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
    for (int i = 0; i < 6; i++)
        bytes[i] = (unsigned char) (ms >> (40 - 8 * i));
    if (getrandom(bytes + 6, 10, 0) != 10)
        return -EIO;
    /* 128 bits as 26 base32 digits: 2 leading zero bits, then 5 bits each */
    for (int i = 0; i < 26; i++) {
        int bit = i * 5 - 2, v = 0;
        for (int b = 0; b < 5; b++, bit++)
            v = v << 1 | (bit >= 0 && (bytes[bit / 8] >> (7 - bit % 8) & 1));
        out[i] = b32[v];
    }
    out[26] = 0;
    return 0;
}

int bl_volume_make_anonymous(struct boxlite_runtime *rt, char **ret_path, bl_error **err)
{
    _cleanup_free_ char *base = bl_asprintf("%s/volumes/anonymous", rt->home);
    if (!base)
        return bl_oom(err);
    int r = bl_mkdir_p(base, 0700, err);
    if (r < 0)
        return r;
    char id[27];
    if (new_ulid(id) < 0)
        return bl_err(err, -EIO, "cannot make a volume id");
    char *path = bl_asprintf("%s/%s", base, id);
    if (!path)
        return bl_oom(err);
    if (mkdir(path, 0755) < 0) {
        r = bl_err_errno(err, "cannot create volume directory '%s'", path);
        free(path);
        return r;
    }
    *ret_path = path;
    return 0;
}

void bl_volume_remove_anonymous(struct boxlite_runtime *rt, const char *path)
{
    size_t n = strlen(rt->home);
    /* only ever a directory this library made for the box */
    if (strncmp(path, rt->home, n) != 0 || strncmp(path + n, "/volumes/anonymous/", 19) != 0 ||
        strchr(path + n + 19, '/'))
        return;
    _cleanup_close_ int dfd = open(rt->home, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    _cleanup_free_ char *rel = bl_strdup(path + n + 1);
    if (dfd >= 0 && rel)
        (void) bl_rm_tree(rt, dfd, rel);
}
