/* SPDX-License-Identifier: MIT */
/*
 * Volumes of `run`/`create -v`: docker's spec strings parsed with upstream BoxLite's rules and
 * messages (spec/cli.md §4.1 VolumeFlags), and the host directories of anonymous volumes
 * (<home>/volumes/anonymous/<ULID>, which belong to their box and go with it). Where upstream
 * ignores what it does not know, we refuse it (issue 12): an unknown or conflicting option, a
 * propagation we do not do, a box path that is "/", holds "..", or lies in /proc.
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
#include "box-volume.h"
#include "fs-util.h"
#include "runtime.h"

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

/*
 * Volume options: docker's set (its linuxValidMountMode), at most one word of each class. We
 * accept only the words whose meaning holds for what we do; accepting one we do not honour
 * would mount something other than what was asked for, without a word:
 *   ro, rw              read-only or read-write;
 *   z, Z                SELinux relabelling: a box has no SELinux label of its own (it runs
 *                       with the caller's), so there is nothing to relabel for;
 *   private, rprivate   the propagation every volume has (the box's mounts are private);
 *   nocopy              (anonymous volumes only, as in docker) the image's files are not copied
 *                       into the new volume: we never copy them;
 *   consistent, cached, delegated
 *                       Docker Desktop's file-sharing consistency; a Linux bind is consistent,
 *                       which satisfies all three.
 * shared, rshared, slave and rslave are known but not done: "unsupported". Anything else is an
 * error; case matters, as in docker ("RO" is not "ro"). Blanks around a word are allowed.
 * Nothing here allocates: an out-of-memory must not turn "ro" into read-write.
 */
enum opt_class { OPT_MODE, OPT_LABEL, OPT_PROPAGATION, OPT_COPY, OPT_CONSISTENCY, N_OPT_CLASSES };

static const struct volume_opt {
    const char *word;
    enum opt_class class;
    int supported;
} volume_opts[] = {
    {"ro", OPT_MODE, 1},
    {"rw", OPT_MODE, 1},
    {"z", OPT_LABEL, 1},
    {"Z", OPT_LABEL, 1},
    {"private", OPT_PROPAGATION, 1},
    {"rprivate", OPT_PROPAGATION, 1},
    {"shared", OPT_PROPAGATION, 0},
    {"rshared", OPT_PROPAGATION, 0},
    {"slave", OPT_PROPAGATION, 0},
    {"rslave", OPT_PROPAGATION, 0},
    {"nocopy", OPT_COPY, 1},
    {"consistent", OPT_CONSISTENCY, 1},
    {"cached", OPT_CONSISTENCY, 1},
    {"delegated", OPT_CONSISTENCY, 1},
};

#define VALID_OPTS "ro, rw, z, Z, private, rprivate, nocopy, consistent, cached, delegated"

/* The word at p (up to a comma or the end) without blanks around it, as [*a, *b); returns the
 * length of the field, so that p[len] is ',' or 0. */
static size_t word_at(const char *p, const char **a, const char **b)
{
    size_t n = strcspn(p, ",");
    *a = p;
    *b = p + n;
    while (*a < *b && isspace((unsigned char) **a))
        (*a)++;
    while (*b > *a && isspace((unsigned char) (*b)[-1]))
        (*b)--;
    return n;
}

static const struct volume_opt *find_opt(const char *a, const char *b)
{
    for (size_t i = 0; i < ELEMENTSOF(volume_opts); i++)
        if (strlen(volume_opts[i].word) == (size_t) (b - a) &&
            !memcmp(volume_opts[i].word, a, (size_t) (b - a)))
            return &volume_opts[i];
    return NULL;
}

/* Whether s is a list of known options (then "/BOX:s" is an anonymous volume). */
static int is_option_list(const char *s)
{
    for (const char *p = s, *a, *b;;) {
        size_t n = word_at(p, &a, &b);
        if (!find_opt(a, b))
            return 0;
        if (!p[n])
            return 1;
        p += n + 1;
    }
}

/* Check the options field of spec ("" is none); *ret_ro on success. */
static int parse_opts(const char *spec, const char *opts, int anonymous, int *ret_ro,
                      bl_error **err)
{
    const struct volume_opt *seen[N_OPT_CLASSES] = {NULL};
    int ro = 0;
    for (const char *p = opts, *a, *b; *opts;) {
        size_t n = word_at(p, &a, &b);
        const struct volume_opt *o = find_opt(a, b);
        if (!o)
            return bl_err(err, -EINVAL,
                          "invalid volume option \"%.*s\" in \"%s\"; valid options: " VALID_OPTS,
                          (int) (b - a), a, spec);
        if (seen[o->class])
            return bl_err(err, -EINVAL, "conflicting volume options \"%s\" and \"%s\" in \"%s\"",
                          seen[o->class]->word, o->word, spec);
        seen[o->class] = o;
        if (!o->supported)
            return bl_err(err, -ENOTSUP,
                          "unsupported: volume option \"%s\" in \"%s\": volumes are private "
                          "mounts (no mount propagation)",
                          o->word, spec);
        if (o->class == OPT_COPY && !anonymous)
            return bl_err(err, -EINVAL,
                          "volume option \"%s\" in \"%s\" is for anonymous volumes only", o->word,
                          spec);
        ro |= !strcmp(o->word, "ro");
        if (!p[n])
            break;
        p += n + 1;
    }
    *ret_ro = ro;
    return 0;
}

/*
 * The box path: absolute, not "/", no ".." component (refused rather than resolved: what it
 * would mean depends on the box's symlinks), not /proc or below (procfs and its masks are the
 * runtime's; runc refuses it too). On success *ret is a tidy copy, without repeated slashes,
 * "." components or a trailing slash.
 */
static int check_box_path(const char *what, const char *p, char **ret, bl_error **err)
{
    if (!*p)
        return bl_err(err, -EINVAL, "volume box path must be non-empty");
    if (p[0] != '/')
        return bl_err(err, -EINVAL, "%s box path must be absolute (e.g. /data), got \"%s\"", what,
                      p);
    _cleanup_free_ char *tidy = bl_malloc(strlen(p) + 1);
    if (!tidy)
        return bl_oom(err);
    size_t n = 0;
    for (const char *c = p; *c;) {
        c += strspn(c, "/");
        size_t k = strcspn(c, "/");
        if (k == 2 && c[0] == '.' && c[1] == '.')
            return bl_err(err, -EINVAL, "volume box path \"%s\" must not contain \"..\"", p);
        if (k && !(k == 1 && c[0] == '.')) {
            tidy[n++] = '/';
            memcpy(tidy + n, c, k);
            n += k;
        }
        c += k;
    }
    tidy[n] = 0;
    if (n == 0)
        return bl_err(err, -EINVAL, "volume box path must not be \"/\"");
    if (!strncmp(tidy, "/proc", 5) && (tidy[5] == 0 || tidy[5] == '/'))
        return bl_err(err, -EINVAL,
                      "volume box path \"%s\" is in /proc, which cannot be mounted over", p);
    *ret = TAKE_PTR(tidy);
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
    } else if (n == 2 && is_option_list(parts[1])) {
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
    /* the options before the host path: an unknown one is the error, whatever the path */
    _cleanup_free_ char *target = NULL;
    int ro = 0;
    if (!anonymous && !*host)
        r = bl_err(err, -EINVAL, "volume host path must be non-empty");
    else
        r = check_box_path(anonymous ? "anonymous volume" : "volume", box, &target, err);
    if (r == 0)
        r = parse_opts(spec, opts, anonymous, &ro, err);
    char real[PATH_MAX];
    if (r == 0 && host && !realpath(host, real))
        r = bl_err(err, -errno, "volume host path \"%s\": %s", host, strerror(errno));
    free_parts(parts, n); /* host, box and opts point into them */
    if (r < 0)
        return r;
    struct bl_volume v = {
        .source = host ? bl_strdup(real) : NULL,
        .target = TAKE_PTR(target),
        .ro = ro,
        .anonymous = anonymous,
    };
    if (host && !v.source) {
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

void bl_volume_remove_anonymous_all(struct boxlite_runtime *rt, json_t *volumes)
{
    size_t i;
    json_t *v;
    json_array_foreach(volumes, i, v) if (json_is_true(json_object_get(v, "anonymous")))
        bl_volume_remove_anonymous(rt, json_string_value(json_object_get(v, "source")));
}
