/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for layer-unpack.c. Every layer is built in memory with libarchive's writer and
 * unpacked from a memfd into <tmp>/root. Next to it sits <tmp>/outside (a file "secret" and an
 * empty directory "dir"), which no layer may ever change: each attack test checks that it is
 * exactly as it was, and where the attack was aimed. Then the functional side: modes, owners,
 * links, nodes, xattrs, times, whiteouts, compression and the diff_id, corrupt streams,
 * duplicate entries, and (in fault-injection builds) clean failure at every allocation. Finally
 * all of it again under a seccomp filter that takes openat2() away, for the userspace fallback.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <seccomp.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include "../lib/tap.h"
#include "digest.h"
#include "fs-util.h"
#include "layer-unpack.h"

/* ---- building layers in memory --------------------------------------------------------------- */

struct buf {
    char *data;
    size_t len, cap;
};

static void buf_done(struct buf *b)
{
    free(b->data);
    *b = (struct buf){0};
}

static void buf_append(struct buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = MAX(b->cap * 2, b->len + n + 4096);
        char *d = realloc(b->data, cap);
        ASSERT_NOT_NULL(d);
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static la_ssize_t buf_write_cb(struct archive *a, void *userdata, const void *p, size_t n)
{
    (void) a;
    buf_append(userdata, p, n);
    return (la_ssize_t) n;
}

/* One tar entry. Zero fields take defaults: a regular file, mode 0644 (0755 for directories,
 * 0777 for symlinks), owner 0:0, a fixed mtime. */
struct ent {
    const char *name;
    mode_t type; /* AE_IFREG, AE_IFDIR, AE_IFLNK, AE_IFCHR, AE_IFBLK, AE_IFIFO */
    mode_t perm;
    const char *data;     /* regular file content */
    const char *link;     /* symlink target */
    const char *hardlink; /* hardlink target: the entry is a hardlink */
    int64_t uid, gid;
    time_t mtime;
    long mtime_nsec;
    dev_t rdev;
    const char *xattr, *xattr_value;
};

#define DEFAULT_MTIME 1500000000

static void tar_add(struct archive *a, const struct ent *x)
{
    struct archive_entry *e = archive_entry_new();
    mode_t type = x->type ? x->type : AE_IFREG;
    mode_t perm = x->perm ? x->perm : type == AE_IFDIR ? 0755 : type == AE_IFLNK ? 0777 : 0644;
    size_t size = x->data ? strlen(x->data) : 0;

    ASSERT_NOT_NULL(e);
    archive_entry_copy_pathname(e, x->name);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, perm);
    archive_entry_set_uid(e, x->uid);
    archive_entry_set_gid(e, x->gid);
    archive_entry_set_mtime(e, x->mtime ? x->mtime : DEFAULT_MTIME, x->mtime_nsec);
    if (x->link)
        archive_entry_copy_symlink(e, x->link);
    if (x->hardlink) {
        archive_entry_copy_hardlink(e, x->hardlink);
        size = 0;
    }
    if (type == AE_IFCHR || type == AE_IFBLK)
        archive_entry_set_rdev(e, x->rdev);
    if (x->xattr)
        archive_entry_xattr_add_entry(e, x->xattr, x->xattr_value, strlen(x->xattr_value));
    archive_entry_set_size(e, type == AE_IFREG ? (la_int64_t) size : 0);
    if (archive_write_header(a, e) < ARCHIVE_WARN)
        tap_fail(__FILE__, __LINE__, "archive_write_header '%s': %s", x->name,
                 archive_error_string(a));
    if (size > 0)
        ASSERT_EQ(archive_write_data(a, x->data, size), size);
    archive_entry_free(e);
}

/* The tar of ents (pax or GNU), padded to libarchive's 10 KiB records like any real tar. */
static void build_fmt(struct buf *out, int format, const struct ent *ents, size_t n)
{
    struct archive *a = archive_write_new();
    ASSERT_NOT_NULL(a);
    ASSERT_EQ(archive_write_set_format(a, format), ARCHIVE_OK);
    ASSERT_EQ(archive_write_open(a, out, NULL, buf_write_cb, NULL), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++)
        tar_add(a, &ents[i]);
    ASSERT_EQ(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
}

#define ENTS(...) ((const struct ent[]){__VA_ARGS__})
#define NENTS(...) (sizeof(ENTS(__VA_ARGS__)) / sizeof(struct ent))
#define BUILD(out, ...)                                                                            \
    build_fmt(out, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ENTS(__VA_ARGS__), NENTS(__VA_ARGS__))
/* Full pax: extended headers on every entry, with sub-second times. */
#define BUILD_PAX(out, ...)                                                                        \
    build_fmt(out, ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE, ENTS(__VA_ARGS__), NENTS(__VA_ARGS__))
#define BUILD_GNU(out, ...)                                                                        \
    build_fmt(out, ARCHIVE_FORMAT_TAR_GNUTAR, ENTS(__VA_ARGS__), NENTS(__VA_ARGS__))

/* Compress exactly the bytes of in (raw format, no padding) with a libarchive filter. */
static void compress(const struct buf *in, int filter, struct buf *out)
{
    struct archive *a = archive_write_new();
    struct archive_entry *e = archive_entry_new();
    ASSERT_TRUE(a && e);
    ASSERT_EQ(archive_write_add_filter(a, filter), ARCHIVE_OK);
    ASSERT_EQ(archive_write_set_format_raw(a), ARCHIVE_OK);
    ASSERT_EQ(archive_write_set_bytes_in_last_block(a, 1), ARCHIVE_OK);
    ASSERT_EQ(archive_write_open(a, out, NULL, buf_write_cb, NULL), ARCHIVE_OK);
    archive_entry_set_pathname(e, "layer.tar");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_size(e, (la_int64_t) in->len);
    ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
    ASSERT_EQ(archive_write_data(a, in->data, in->len), in->len);
    ASSERT_EQ(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    archive_entry_free(e);
}

/* Not bl_write_all(): its fault point would fix BL_FAULT before oom_torture forks. */
static void write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        ASSERT_TRUE(n > 0);
        p += n;
        len -= (size_t) n;
    }
}

static int memfd_with(const void *data, size_t len)
{
    int fd = memfd_create("layer", MFD_CLOEXEC);
    ASSERT_TRUE(fd >= 0);
    write_all(fd, data, len);
    ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

/* ---- the world: <tmp>/root to unpack into, <tmp>/outside that must never change ------------- */

struct world {
    char base[1024];
    char root[1100];
    char outside[1100]; /* absolute, for symlinks and names aimed at it */
    char out_rel[1100]; /* the same path relative to the root: where it lands inside */
    int root_fd;
    struct stat st_outside, st_secret, st_dir;
};

#define WORLD_NULL ((struct world){.root_fd = -1})

static void world_done(struct world *w)
{
    w->root_fd = bl_close(w->root_fd);
}

static void fresh_root(struct world *w)
{
    w->root_fd = bl_close(w->root_fd);
    ASSERT_OK(bl_rm_rf_at(AT_FDCWD, w->root));
    ASSERT_OK(mkdir(w->root, 0755));
    w->root_fd = open(w->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_TRUE(w->root_fd >= 0);
}

static void world_init(struct world *w)
{
    char p[PATH_MAX];
    *w = (struct world){.root_fd = -1};
    ASSERT_TRUE(snprintf(w->base, sizeof(w->base), "%s", tap_tmpdir()) < (int) sizeof(w->base));
    (void) snprintf(w->root, sizeof(w->root), "%s/root", w->base);
    (void) snprintf(w->outside, sizeof(w->outside), "%s/outside", w->base);
    (void) snprintf(w->out_rel, sizeof(w->out_rel), "%s", w->outside + 1);
    ASSERT_OK(mkdir(w->outside, 0755));
    (void) snprintf(p, sizeof(p), "%s/dir", w->outside);
    ASSERT_OK(mkdir(p, 0755));
    ASSERT_TRUE(stat(p, &w->st_dir) == 0);
    (void) snprintf(p, sizeof(p), "%s/secret", w->outside);
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    ASSERT_TRUE(fd >= 0);
    write_all(fd, "SECRET", 6);
    (void) close(fd);
    ASSERT_TRUE(stat(p, &w->st_secret) == 0);
    ASSERT_TRUE(stat(w->outside, &w->st_outside) == 0);
    fresh_root(w);
}

static int same_stat(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_mode == b->st_mode && a->st_uid == b->st_uid &&
           a->st_gid == b->st_gid && a->st_nlink == b->st_nlink && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* The names in directory `path`, sorted and joined with ",". */
static void list_dir(const char *path, char *out, size_t size)
{
    struct dirent **names = NULL;
    int n = scandir(path, &names, NULL, alphasort);
    size_t o = 0;
    ASSERT_TRUE(n >= 0);
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i]->d_name, ".") != 0 && strcmp(names[i]->d_name, "..") != 0) {
            int k = snprintf(out + o, size - o, "%s%s", o ? "," : "", names[i]->d_name);
            ASSERT_TRUE(k >= 0 && (size_t) k < size - o);
            o += (size_t) k;
        }
        free(names[i]);
    }
    free(names);
}

/* Nothing next to the root or in <tmp>/outside was created, removed, written or changed. */
#define ASSERT_OUTSIDE_UNTOUCHED(w) assert_outside_untouched(w, __LINE__)
static void assert_outside_untouched(const struct world *w, int line)
{
    char names[4096], p[PATH_MAX], data[16] = {0};
    struct stat st;

    list_dir(w->base, names, sizeof(names));
    if (strcmp(names, "outside,root") != 0)
        tap_fail(__FILE__, line, "'%s' now holds '%s'", w->base, names);
    list_dir(w->outside, names, sizeof(names));
    if (strcmp(names, "dir,secret") != 0)
        tap_fail(__FILE__, line, "'%s' now holds '%s'", w->outside, names);
    (void) snprintf(p, sizeof(p), "%s/dir", w->outside);
    list_dir(p, names, sizeof(names));
    if (names[0])
        tap_fail(__FILE__, line, "'%s' now holds '%s'", p, names);
    if (stat(p, &st) < 0 || !same_stat(&st, &w->st_dir))
        tap_fail(__FILE__, line, "'%s' changed", p);
    if (listxattr(p, NULL, 0) > 0)
        tap_fail(__FILE__, line, "'%s' got an xattr", p);
    if (stat(w->outside, &st) < 0 || !same_stat(&st, &w->st_outside))
        tap_fail(__FILE__, line, "'%s' changed", w->outside);
    (void) snprintf(p, sizeof(p), "%s/secret", w->outside);
    if (lstat(p, &st) < 0 || !same_stat(&st, &w->st_secret) || st.st_nlink != 1)
        tap_fail(__FILE__, line, "'%s' changed", p);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    ASSERT_TRUE(fd >= 0);
    ssize_t n = read(fd, data, sizeof(data) - 1);
    (void) close(fd);
    if (n != 6 || strcmp(data, "SECRET") != 0)
        tap_fail(__FILE__, line, "'%s' content changed", p);
}

/* Unpack b into the root; the error lands in tap_last_err. */
static int unpack(struct world *w, const struct buf *b, char diff[BL_DIGEST_STR_LEN + 1],
                  struct bl_layer_stats *stats)
{
    char ignored[BL_DIGEST_STR_LEN + 1];
    _cleanup_close_ int fd = memfd_with(b->data, b->len);
    bl_error_free(tap_last_err);
    tap_last_err = NULL;
    return bl_layer_unpack(fd, w->root_fd, diff ? diff : ignored, stats, -1, &tap_last_err);
}

#define ASSERT_ERR_MSG(expr, code, needle)                                                         \
    do {                                                                                           \
        ASSERT_ERR(expr, code);                                                                    \
        ASSERT_NOT_NULL(tap_last_err);                                                             \
        if (!strstr(tap_last_err->msg, needle))                                                    \
            tap_fail(__FILE__, __LINE__, "message '%s' lacks '%s'", tap_last_err->msg, needle);    \
    } while (0)

/* lstat relative to the root; returns -errno. */
static int stat_in(const struct world *w, const char *rel, struct stat *st)
{
    return fstatat(w->root_fd, rel, st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

#define ASSERT_CONTENT(w, rel, expect) assert_content(w, rel, expect, __LINE__)
static void assert_content(const struct world *w, const char *rel, const char *expect, int line)
{
    char data[256] = {0};
    struct stat st;
    if (stat_in(w, rel, &st) < 0 || !S_ISREG(st.st_mode))
        tap_fail(__FILE__, line, "'%s' is not a regular file in the root", rel);
    int fd = openat(w->root_fd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    ASSERT_TRUE(fd >= 0);
    ssize_t n = read(fd, data, sizeof(data) - 1);
    (void) close(fd);
    if (n < 0 || strcmp(data, expect) != 0)
        tap_fail(__FILE__, line, "'%s' holds '%s', expected '%s'", rel, data, expect);
}

/* How many names under dirfd (recursively, never following symlinks) are inode ino of dev. */
static int count_inode(int dir_fd, dev_t dev, ino_t ino)
{
    int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_TRUE(fd >= 0);
    DIR *d = fdopendir(fd);
    ASSERT_NOT_NULL(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        struct stat st;
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        ASSERT_TRUE(fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0);
        if (st.st_dev == dev && st.st_ino == ino)
            n++;
        if (S_ISDIR(st.st_mode)) {
            int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            ASSERT_TRUE(sub >= 0);
            n += count_inode(sub, dev, ino);
            (void) close(sub);
        }
    }
    closedir(d);
    return n;
}

static void assert_no_link_to_secret(const struct world *w)
{
    ASSERT_EQ(count_inode(w->root_fd, w->st_secret.st_dev, w->st_secret.st_ino), 0);
}

static char *path_fmt(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);
static char *path_fmt(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    ASSERT_TRUE(n >= 0 && (size_t) n < size);
    return buf;
}
#define P(fmt, a) path_fmt((char[PATH_MAX + 64]){0}, PATH_MAX + 64, fmt, a)

/* Root in the initial user namespace (not `unshare -r`): owners, devices, trusted.* xattrs. */
static int real_root(void)
{
    char map[64] = {0};
    unsigned long a = 1, b = 1, c = 0;

    if (geteuid() != 0)
        return 0;
    int fd = open("/proc/self/uid_map", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 1;
    ssize_t n = read(fd, map, sizeof(map) - 1);
    (void) close(fd);
    return n > 0 && sscanf(map, "%lu %lu %lu", &a, &b, &c) == 3 && a == 0 && b == 0 &&
           c == 4294967295UL;
}

/* ---- attacks ------------------------------------------------------------------------------- */

TEST(attack_dotdot)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf b = {0};
    world_init(&w);

    BUILD(&b, {.name = "fine", .data = "ok"}, {.name = "../escape", .data = "pwned"});
    ASSERT_ERR_MSG(unpack(&w, &b, NULL, NULL), -EINVAL, "'../escape'");
    ASSERT_TRUE(access(P("%s/escape", w.base), F_OK) < 0 && errno == ENOENT);
    ASSERT_OUTSIDE_UNTOUCHED(&w);
}

TEST(attack_dotdot_nested)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf b = {0};
    world_init(&w);

    BUILD(&b, {.name = "a/", .type = AE_IFDIR}, {.name = "a/../../escape", .data = "pwned"});
    ASSERT_ERR_MSG(unpack(&w, &b, NULL, NULL), -EINVAL, "'a/../../escape'");
    ASSERT_TRUE(access(P("%s/escape", w.base), F_OK) < 0 && errno == ENOENT);
    ASSERT_OUTSIDE_UNTOUCHED(&w);
}

/* Other spellings of "..": each fails the layer before anything is written there. */
TEST(attack_dotdot_spellings)
{
    static const char *const names[] = {
        "./../escape", "a/./../../escape",    "//..//escape", "a/..",
        "..",          "a/b/../../../escape", "/../escape"};
    _cleanup_(world_done) struct world w = WORLD_NULL;
    world_init(&w);

    for (size_t i = 0; i < ELEMENTSOF(names); i++) {
        _cleanup_(buf_done) struct buf b = {0};
        BUILD(&b, {.name = names[i], .data = "pwned"});
        fresh_root(&w);
        ASSERT_ERR(unpack(&w, &b, NULL, NULL), -EINVAL);
        ASSERT_TRUE(access(P("%s/escape", w.base), F_OK) < 0 && errno == ENOENT);
        ASSERT_OUTSIDE_UNTOUCHED(&w);
    }
}

/* A hardlink entry whose own name climbs out is refused like any other. */
TEST(attack_dotdot_hardlink_name)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf b = {0};
    world_init(&w);

    BUILD(&b, {.name = "f", .data = "x"}, {.name = "../../escape", .hardlink = "f"});
    ASSERT_ERR(unpack(&w, &b, NULL, NULL), -EINVAL);
    ASSERT_OUTSIDE_UNTOUCHED(&w);
    ASSERT_TRUE(access(P("%s/escape", w.base), F_OK) < 0);
}

/* Absolute names land under the root, including one spelling out the outside directory. */
TEST(attack_absolute_name)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf b = {0};
    world_init(&w);

    BUILD(&b, {.name = "/abs/file", .data = "abs"},
          {.name = P("%s/abs-file", w.outside), .data = "abs2"});
    ASSERT_OK(unpack(&w, &b, NULL, NULL));
    ASSERT_CONTENT(&w, "abs/file", "abs");
    ASSERT_CONTENT(&w, P("%s/abs-file", w.out_rel), "abs2");
    ASSERT_OUTSIDE_UNTOUCHED(&w);
}

/* link -> /abs/path/outside/dir, then link/pwned: resolved inside the root. */
TEST(attack_symlink_parent_absolute)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf b = {0};
    world_init(&w);

    BUILD(&b, {.name = "link", .type = AE_IFLNK, .link = P("%s/dir", w.outside)},
          {.name = "link/pwned", .data = "pwned"});
    ASSERT_OK(unpack(&w, &b, NULL, NULL));
    ASSERT_OUTSIDE_UNTOUCHED(&w);
    ASSERT_CONTENT(&w, P("%s/dir/pwned", w.out_rel), "pwned");
}

/* sub/link -> ../../outside: ".." stops at the root. */
TEST(attack_symlink_parent_relative)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf b = {0};
    world_init(&w);

    BUILD(&b, {.name = "sub/", .type = AE_IFDIR},
          {.name = "sub/link", .type = AE_IFLNK, .link = "../../outside"},
          {.name = "sub/link/pwned", .data = "pwned"},
          {.name = "sub/link/dir/pwned2", .data = "pwned2"});
    ASSERT_OK(unpack(&w, &b, NULL, NULL));
    ASSERT_OUTSIDE_UNTOUCHED(&w);
    ASSERT_CONTENT(&w, "outside/pwned", "pwned");
    ASSERT_CONTENT(&w, "outside/dir/pwned2", "pwned2");
}

/* Parents that are chains of symlinks, absolute and relative, ending outside. */
TEST(attack_symlink_chain_parent)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf b = {0};
    world_init(&w);

    BUILD(&b, {.name = "a", .type = AE_IFLNK, .link = "b"},
          {.name = "b", .type = AE_IFLNK, .link = "/c"},
          {.name = "c", .type = AE_IFLNK, .link = P("%s/dir", w.outside)},
          {.name = "a/pwned", .data = "pwned"}, {.name = "x/", .type = AE_IFDIR},
          {.name = "x/y", .type = AE_IFLNK, .link = "../z"},
          {.name = "z", .type = AE_IFLNK, .link = "../../../outside/dir"},
          {.name = "x/y/pwned2", .data = "pwned2"},
          {.name = "s/t/abs", .type = AE_IFLNK, .link = "/v/../outside/./dir/"},
          {.name = "s/t/abs/pwned3", .data = "pwned3"});
    ASSERT_OK(unpack(&w, &b, NULL, NULL));
    ASSERT_OUTSIDE_UNTOUCHED(&w);
    ASSERT_CONTENT(&w, P("%s/dir/pwned", w.out_rel), "pwned");
    ASSERT_CONTENT(&w, "outside/dir/pwned2", "pwned2");
    ASSERT_CONTENT(&w, "outside/dir/pwned3", "pwned3"); /* absolute: from the root, not s/t */
}

/* Symlink loops as parents fail cleanly. */
TEST(attack_symlink_loop_parent)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf b1 = {0}, b2 = {0};
    world_init(&w);

    BUILD(&b1, {.name = "loop", .type = AE_IFLNK, .link = "loop"}, {.name = "loop/x", .data = "x"});
    ASSERT_ERR(unpack(&w, &b1, NULL, NULL), -ELOOP);
    BUILD(&b2, {.name = "p", .type = AE_IFLNK, .link = "q/r"},
          {.name = "q", .type = AE_IFLNK, .link = "p/s"}, {.name = "p/x", .data = "x"});
    fresh_root(&w);
    ASSERT_ERR(unpack(&w, &b2, NULL, NULL), -ELOOP);
    ASSERT_OUTSIDE_UNTOUCHED(&w);
}

TEST(attack_hardlink_outside_relative)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf b = {0};
    world_init(&w);

    BUILD(&b, {.name = "hl", .hardlink = "../../outside/secret"});
    ASSERT_ERR_MSG(unpack(&w, &b, NULL, NULL), -EINVAL, "'hl'");
    ASSERT_OUTSIDE_UNTOUCHED(&w);
    assert_no_link_to_secret(&w);
}

TEST(attack_hardlink_outside_absolute)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf b = {0};
    world_init(&w);

    BUILD(&b, {.name = "hl", .hardlink = P("%s/secret", w.outside)});
    ASSERT_ERR(unpack(&w, &b, NULL, NULL), -ENOENT);
    ASSERT_OUTSIDE_UNTOUCHED(&w);
    assert_no_link_to_secret(&w);
}

/* The same absolute target, present inside the root, is what gets linked. */
TEST(attack_hardlink_absolute_resolves_inside)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf b = {0};
    struct stat a, h;
    world_init(&w);

    BUILD(&b, {.name = P("%s/secret", w.outside), .data = "inside"},
          {.name = "hl", .hardlink = P("%s/secret", w.outside)});
    ASSERT_OK(unpack(&w, &b, NULL, NULL));
    ASSERT_OUTSIDE_UNTOUCHED(&w);
    assert_no_link_to_secret(&w);
    ASSERT_OK(stat_in(&w, P("%s/secret", w.out_rel), &a));
    ASSERT_OK(stat_in(&w, "hl", &h));
    ASSERT_TRUE(a.st_ino == h.st_ino && h.st_nlink == 2);
}

/* Hardlink target through a symlinked parent pointing outside. */
TEST(attack_hardlink_target_via_symlink)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf b1 = {0}, b2 = {0};
    world_init(&w);

    BUILD(&b1, {.name = "ln", .type = AE_IFLNK, .link = w.outside},
          {.name = "hl", .hardlink = "ln/secret"});
    ASSERT_ERR(unpack(&w, &b1, NULL, NULL), -ENOENT);
    ASSERT_OUTSIDE_UNTOUCHED(&w);
    assert_no_link_to_secret(&w);

    BUILD(&b2, {.name = "d/", .type = AE_IFDIR},
          {.name = "d/ln", .type = AE_IFLNK, .link = "../../outside"},
          {.name = "hl", .hardlink = "d/ln/secret"});
    fresh_root(&w);
    ASSERT_ERR(unpack(&w, &b2, NULL, NULL), -ENOENT);
    ASSERT_OUTSIDE_UNTOUCHED(&w);
    assert_no_link_to_secret(&w);
}

/* Hardlink name through a symlinked parent pointing outside: created inside. */
TEST(attack_hardlink_dest_via_symlink)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf b = {0};
    struct stat f, h;
    world_init(&w);

    BUILD(&b, {.name = "f", .data = "data"}, {.name = "ln", .type = AE_IFLNK, .link = w.outside},
          {.name = "ln/h", .hardlink = "f"});
    ASSERT_OK(unpack(&w, &b, NULL, NULL));
    ASSERT_OUTSIDE_UNTOUCHED(&w);
    ASSERT_OK(stat_in(&w, "f", &f));
    ASSERT_OK(stat_in(&w, P("%s/h", w.out_rel), &h));
    ASSERT_TRUE(f.st_ino == h.st_ino && f.st_nlink == 2);
}

/* A hardlink to a symlink links the symlink itself, never what it points at. */
TEST(attack_hardlink_to_symlink)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf b = {0};
    struct stat s, h;
    world_init(&w);

    BUILD(&b, {.name = "s", .type = AE_IFLNK, .link = P("%s/secret", w.outside)},
          {.name = "hl", .hardlink = "s"});
    ASSERT_OK(unpack(&w, &b, NULL, NULL));
    ASSERT_OUTSIDE_UNTOUCHED(&w);
    assert_no_link_to_secret(&w);
    ASSERT_OK(stat_in(&w, "s", &s));
    ASSERT_OK(stat_in(&w, "hl", &h));
    ASSERT_TRUE(S_ISLNK(h.st_mode) && s.st_ino == h.st_ino);
}

/* s -> outside file, then a regular entry s: replaces the link, never writes through it. Owner
 * and mode of the symlink entry must not reach the target either. */
TEST(attack_symlink_then_file)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf b = {0};
    struct stat st;
    world_init(&w);

    BUILD(&b,
          {.name = "s",
           .type = AE_IFLNK,
           .link = P("%s/secret", w.outside),
           .uid = 4321,
           .gid = 4321},
          {.name = "s", .data = "new", .perm = 04777, .uid = 4321},
          {.name = "r", .type = AE_IFLNK, .link = "../outside/secret"},
          {.name = "r", .data = "new2", .perm = 0666});
    ASSERT_OK(unpack(&w, &b, NULL, NULL));
    ASSERT_OUTSIDE_UNTOUCHED(&w);
    ASSERT_CONTENT(&w, "s", "new");
    ASSERT_CONTENT(&w, "r", "new2");
    ASSERT_OK(stat_in(&w, "s", &st));
    ASSERT_EQ(st.st_mode & 07777, 04777);
}

/* A directory entry over a symlink to an outside directory: a real directory replaces it. */
TEST(attack_symlink_then_dir)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf b = {0};
    struct stat st;
    world_init(&w);

    BUILD(&b, {.name = "d", .type = AE_IFLNK, .link = P("%s/dir", w.outside)},
          {.name = "d/", .type = AE_IFDIR, .perm = 0700, .uid = 4321},
          {.name = "d/f", .data = "f"});
    ASSERT_OK(unpack(&w, &b, NULL, NULL));
    ASSERT_OUTSIDE_UNTOUCHED(&w);
    ASSERT_OK(stat_in(&w, "d", &st));
    ASSERT_TRUE(S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700);
    ASSERT_CONTENT(&w, "d/f", "f");
}

/* Fifos and devices over symlinks replace the link. */
TEST(attack_symlink_then_node)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf b = {0};
    struct stat st;
    world_init(&w);

    BUILD(&b, {.name = "p", .type = AE_IFLNK, .link = P("%s/secret", w.outside)},
          {.name = "p", .type = AE_IFIFO, .perm = 0666, .uid = 4321});
    ASSERT_OK(unpack(&w, &b, NULL, NULL));
    ASSERT_OUTSIDE_UNTOUCHED(&w);
    ASSERT_OK(stat_in(&w, "p", &st));
    ASSERT_TRUE(S_ISFIFO(st.st_mode) && (st.st_mode & 0777) == 0666);
}

/* Whiteouts and opaque markers under a symlinked parent stay inside. */
TEST(attack_whiteout_via_symlink)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf b = {0};
    struct stat st;
    world_init(&w);

    BUILD(&b, {.name = "w", .type = AE_IFLNK, .link = w.outside}, {.name = "w/.wh.secret"},
          {.name = "o", .type = AE_IFLNK, .link = P("%s/dir", w.outside)},
          {.name = "o/.wh..wh..opq"});
    int r = unpack(&w, &b, NULL, NULL);
    ASSERT_OUTSIDE_UNTOUCHED(&w);
    if (!real_root())
        return; /* trusted.* xattrs need privilege: the opaque marker may fail */
    ASSERT_OK(r);
    ASSERT_OK(stat_in(&w, P("%s/secret", w.out_rel), &st));
    ASSERT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));
    char v[4] = {0};
    int fd = openat(w.root_fd, P("%s/dir", w.out_rel), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_TRUE(fd >= 0);
    ASSERT_EQ(fgetxattr(fd, "trusted.overlay.opaque", v, sizeof(v)), 1);
    (void) close(fd);
    ASSERT_STREQ(v, "y");
}

/* A regular entry over a hardlinked name unlinks it: the other name keeps its content. */
TEST(attack_file_over_hardlink)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf b = {0};
    world_init(&w);

    BUILD(&b, {.name = "f", .data = "orig"}, {.name = "h", .hardlink = "f"},
          {.name = "h", .data = "new"});
    ASSERT_OK(unpack(&w, &b, NULL, NULL));
    ASSERT_CONTENT(&w, "f", "orig");
    ASSERT_CONTENT(&w, "h", "new");
}

/* A layer cannot replace the layer directory itself, nor set overlay metadata by xattr. */
TEST(attack_root_and_overlay_xattrs)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf b1 = {0}, b2 = {0};
    char v[64];
    world_init(&w);

    BUILD(&b1, {.name = "./", .type = AE_IFLNK, .link = w.outside});
    ASSERT_ERR(unpack(&w, &b1, NULL, NULL), -EINVAL);
    ASSERT_OUTSIDE_UNTOUCHED(&w);

    BUILD(&b2,
          {.name = "f", .data = "x", .xattr = "trusted.overlay.redirect", .xattr_value = "/etc"});
    fresh_root(&w);
    ASSERT_OK(unpack(&w, &b2, NULL, NULL));
    ASSERT_TRUE(lgetxattr(P("%s/f", w.root), "trusted.overlay.redirect", v, sizeof(v)) < 0 &&
                errno == ENODATA);

    /* nor the user.overlay.* ones that a "userxattr" (rootless) overlay reads */
    _cleanup_(buf_done) struct buf b3 = {0};
    BUILD(&b3, {.name = "d/", .type = AE_IFDIR, .xattr = "user.overlay.opaque", .xattr_value = "y"},
          {.name = "f", .data = "x", .xattr = "user.overlay.redirect", .xattr_value = "/etc"});
    fresh_root(&w);
    ASSERT_OK(unpack(&w, &b3, NULL, NULL));
    ASSERT_TRUE(lgetxattr(P("%s/d", w.root), "user.overlay.opaque", v, sizeof(v)) < 0 &&
                errno == ENODATA);
    ASSERT_TRUE(lgetxattr(P("%s/f", w.root), "user.overlay.redirect", v, sizeof(v)) < 0 &&
                errno == ENODATA);
}

/* ---- functional ---------------------------------------------------------------------------- */

TEST(tree_modes_owners)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf b = {0};
    char diff[BL_DIGEST_STR_LEN + 1], expect[BL_DIGEST_STR_LEN + 1], target[64] = {0};
    struct bl_layer_stats stats = {0};
    struct stat st;
    world_init(&w);

    BUILD(&b, {.name = "./", .type = AE_IFDIR, .perm = 0751}, {.name = "bin/", .type = AE_IFDIR},
          {.name = "bin/su", .data = "#!", .perm = 04755},
          {.name = "bin/sg", .data = "#!", .perm = 02711},
          {.name = "data/", .type = AE_IFDIR, .perm = 02775, .uid = 1234, .gid = 5678},
          {.name = "data/f", .data = "hello", .perm = 0640, .uid = 1234, .gid = 5678},
          {.name = "tmp/", .type = AE_IFDIR, .perm = 01777},
          {.name = "ro/", .type = AE_IFDIR, .perm = 0555},
          {.name = "ro/f", .data = "ro", .perm = 0444}, {.name = "deep/a/b/c/file", .data = "deep"},
          {.name = "link", .type = AE_IFLNK, .link = "bin/su", .uid = 1234, .gid = 5678},
          {.name = "abs", .type = AE_IFLNK, .link = "/etc/passwd"}, {.name = "empty"});
    ASSERT_OK(unpack(&w, &b, diff, &stats));
    bl_sha256_buf(b.data, b.len, expect);
    ASSERT_STREQ(diff, expect);
    ASSERT_EQ(stats.entries, 13);
    ASSERT_EQ(stats.tar_size, b.len);

    ASSERT_TRUE(fstat(w.root_fd, &st) == 0 && (st.st_mode & 07777) == 0751);
    ASSERT_OK(stat_in(&w, "bin/su", &st));
    ASSERT_EQ(st.st_mode & 07777, 04755);
    ASSERT_OK(stat_in(&w, "bin/sg", &st));
    ASSERT_EQ(st.st_mode & 07777, 02711);
    ASSERT_OK(stat_in(&w, "data", &st));
    ASSERT_TRUE(S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 02775);
    ASSERT_OK(stat_in(&w, "tmp", &st));
    ASSERT_EQ(st.st_mode & 07777, 01777);
    ASSERT_OK(stat_in(&w, "ro", &st));
    ASSERT_EQ(st.st_mode & 07777, 0555);
    ASSERT_CONTENT(&w, "ro/f", "ro");
    ASSERT_TRUE(fchmodat(w.root_fd, "ro", 0755, 0) == 0); /* lets a non-root harness clean up */
    ASSERT_CONTENT(&w, "data/f", "hello");
    ASSERT_CONTENT(&w, "deep/a/b/c/file", "deep");
    ASSERT_CONTENT(&w, "empty", "");
    ASSERT_OK(stat_in(&w, "deep/a/b", &st));
    ASSERT_TRUE(S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0755);
    ASSERT_EQ(readlinkat(w.root_fd, "abs", target, sizeof(target) - 1), 11);
    ASSERT_STREQ(target, "/etc/passwd");
    ASSERT_OK(stat_in(&w, "link", &st));
    ASSERT_TRUE(S_ISLNK(st.st_mode));
    if (real_root()) {
        ASSERT_TRUE(st.st_uid == 1234 && st.st_gid == 5678);
        ASSERT_OK(stat_in(&w, "data/f", &st));
        ASSERT_TRUE(st.st_uid == 1234 && st.st_gid == 5678);
        ASSERT_OK(stat_in(&w, "data", &st));
        ASSERT_TRUE(st.st_uid == 1234 && st.st_gid == 5678);
    }
    ASSERT_OUTSIDE_UNTOUCHED(&w);
}

TEST(hardlinks)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf b = {0};
    struct stat f, g, h;
    world_init(&w);

    BUILD(&b, {.name = "d/f", .data = "shared", .perm = 0600}, {.name = "g", .hardlink = "d/f"},
          {.name = "e/h", .hardlink = "/d/f"},
          {.name = "g", .hardlink = "./d/f"}); /* again: already that file */
    ASSERT_OK(unpack(&w, &b, NULL, NULL));
    ASSERT_OK(stat_in(&w, "d/f", &f));
    ASSERT_OK(stat_in(&w, "g", &g));
    ASSERT_OK(stat_in(&w, "e/h", &h));
    ASSERT_TRUE(f.st_ino == g.st_ino && f.st_ino == h.st_ino && f.st_nlink == 3);
    ASSERT_CONTENT(&w, "g", "shared");
}

TEST(hardlink_errors)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf b1 = {0}, b2 = {0};
    world_init(&w);

    BUILD(&b1, {.name = "hl", .hardlink = "missing"});
    ASSERT_ERR_MSG(unpack(&w, &b1, NULL, NULL), -ENOENT, "'missing'");
    BUILD(&b2, {.name = "d/", .type = AE_IFDIR}, {.name = "hl", .hardlink = "d"});
    fresh_root(&w);
    ASSERT_ERR(unpack(&w, &b2, NULL, NULL), -EINVAL);
}

/* Empty the link name of the tar header named `name` (libarchive's writer drops an empty one). */
static void clear_linkname(struct buf *b, const char *name)
{
    for (size_t off = 0; off + 512 <= b->len; off += 512) {
        unsigned char *h = (unsigned char *) b->data + off;
        if (strncmp((const char *) h, name, 100) != 0 || memcmp(h + 257, "ustar", 5) != 0)
            continue;
        memset(h + 157, 0, 100);
        memset(h + 148, ' ', 8);
        unsigned sum = 0;
        for (size_t i = 0; i < 512; i++)
            sum += h[i];
        (void) snprintf((char *) h + 148, 8, "%06o", sum);
        h[155] = ' ';
        return;
    }
    tap_fail(__FILE__, __LINE__, "no tar header '%s'", name);
}

/* libarchive reads an empty link target as NULL, and a hardlink without one as an entry of no
 * type: both are refused, in every tar format, and nothing is created for them. */
TEST(link_without_target)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    static const int formats[] = {ARCHIVE_FORMAT_TAR_USTAR, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED,
                                  ARCHIVE_FORMAT_TAR_GNUTAR};
    struct stat st;
    world_init(&w);

    for (size_t i = 0; i < ELEMENTSOF(formats); i++) {
        _cleanup_(buf_done) struct buf sym = {0}, hard = {0};
        build_fmt(&sym, formats[i],
                  ENTS({.name = "d/", .type = AE_IFDIR}, {.name = "d/f"},
                       {.name = "d/sl", .type = AE_IFLNK, .link = "f"}),
                  3);
        clear_linkname(&sym, "d/sl");
        build_fmt(&hard, formats[i],
                  ENTS({.name = "d/", .type = AE_IFDIR}, {.name = "d/f"},
                       {.name = "d/hl", .hardlink = "d/f"}),
                  3);
        clear_linkname(&hard, "d/hl");
        fresh_root(&w);
        ASSERT_ERR_MSG(unpack(&w, &sym, NULL, NULL), -EINVAL, "'d/sl' has no target");
        ASSERT_ERR(stat_in(&w, "d/sl", &st), -ENOENT);
        fresh_root(&w);
        ASSERT_ERR_MSG(unpack(&w, &hard, NULL, NULL), -EINVAL, "'d/hl' has no file type");
        ASSERT_ERR(stat_in(&w, "d/hl", &st), -ENOENT);
    }
    ASSERT_OUTSIDE_UNTOUCHED(&w);
}

TEST(fifo_and_devices)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf b = {0};
    struct stat st;
    world_init(&w);

    BUILD(&b, {.name = "dev/fifo", .type = AE_IFIFO, .perm = 0620},
          {.name = "dev/null", .type = AE_IFCHR, .perm = 0666, .rdev = makedev(1, 3)},
          {.name = "dev/loop9", .type = AE_IFBLK, .perm = 0660, .rdev = makedev(7, 9)});
    ASSERT_OK(unpack(&w, &b, NULL, NULL));
    ASSERT_OK(stat_in(&w, "dev/fifo", &st));
    ASSERT_TRUE(S_ISFIFO(st.st_mode) && (st.st_mode & 07777) == 0620);
    if (!real_root()) { /* without CAP_MKNOD devices are skipped, not failed */
        ASSERT_ERR(stat_in(&w, "dev/null", &st), -ENOENT);
        ASSERT_ERR(stat_in(&w, "dev/loop9", &st), -ENOENT);
        return;
    }
    ASSERT_OK(stat_in(&w, "dev/null", &st));
    ASSERT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
    ASSERT_EQ(st.st_mode & 07777, 0666);
    ASSERT_OK(stat_in(&w, "dev/loop9", &st));
    ASSERT_TRUE(S_ISBLK(st.st_mode) && st.st_rdev == makedev(7, 9));
}

TEST(xattrs)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf b = {0};
    char v[16] = {0};
    world_init(&w);

    BUILD(&b, {.name = "f", .data = "x", .xattr = "user.foo", .xattr_value = "bar"},
          {.name = "d/", .type = AE_IFDIR, .xattr = "user.dir", .xattr_value = "1"});
    ASSERT_OK(unpack(&w, &b, NULL, NULL));
    ssize_t n = lgetxattr(P("%s/f", w.root), "user.foo", v, sizeof(v) - 1);
    if (n < 0 && errno == EOPNOTSUPP)
        SKIP("no user xattrs on this filesystem");
    ASSERT_EQ(n, 3);
    ASSERT_STREQ(v, "bar");
    memset(v, 0, sizeof(v));
    ASSERT_EQ(lgetxattr(P("%s/d", w.root), "user.dir", v, sizeof(v) - 1), 1);
    ASSERT_STREQ(v, "1");
}

TEST(mtimes)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf b = {0};
    struct stat st;
    world_init(&w);

    BUILD_PAX(&b, {.name = "d/", .type = AE_IFDIR, .mtime = 1100000000, .mtime_nsec = 5},
              {.name = "d/f", .data = "x", .mtime = 1000000000, .mtime_nsec = 123456789},
              {.name = "d/s", .type = AE_IFLNK, .link = "f", .mtime = 1200000000},
              {.name = "d/p", .type = AE_IFIFO, .mtime = 1300000000},
              {.name = "d/sub/", .type = AE_IFDIR, .mtime = 1400000000},
              {.name = "d/sub/g", .data = "y"});
    ASSERT_OK(unpack(&w, &b, NULL, NULL));
    ASSERT_OK(stat_in(&w, "d", &st));
    ASSERT_TRUE(st.st_mtim.tv_sec == 1100000000 && st.st_mtim.tv_nsec == 5);
    ASSERT_OK(stat_in(&w, "d/f", &st));
    ASSERT_TRUE(st.st_mtim.tv_sec == 1000000000 && st.st_mtim.tv_nsec == 123456789);
    ASSERT_OK(stat_in(&w, "d/s", &st));
    ASSERT_TRUE(S_ISLNK(st.st_mode) && st.st_mtim.tv_sec == 1200000000);
    ASSERT_OK(stat_in(&w, "d/p", &st));
    ASSERT_EQ(st.st_mtim.tv_sec, 1300000000);
    ASSERT_OK(stat_in(&w, "d/sub", &st));
    ASSERT_EQ(st.st_mtim.tv_sec, 1400000000);
}

TEST(whiteouts)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf b = {0};
    struct stat st;
    char v[4] = {0}, names[256];
    world_init(&w);

    BUILD(&b, {.name = "a", .data = "gone soon"}, {.name = "d/", .type = AE_IFDIR},
          {.name = "d/x", .data = "x"}, {.name = "d2/sub/f", .data = "f"}, {.name = ".wh.a"},
          {.name = "d/.wh.x"}, {.name = ".wh.foo"}, {.name = ".wh.d2"}, {.name = "new/.wh.y"},
          {.name = ".wh..wh.plnk"}, {.name = "d/.wh..wh..opq"}, {.name = "e/.wh..wh..opq"});
    ASSERT_OK(unpack(&w, &b, NULL, NULL));
    /* trusted.* needs CAP_SYS_ADMIN in the initial namespace; without it, user.* ("userxattr") */
    const char *opq = real_root() ? "trusted.overlay.opaque" : "user.overlay.opaque";
    static const char *const wh[] = {"a", "d/x", "foo", "d2", "new/y"};
    for (size_t i = 0; i < ELEMENTSOF(wh); i++) {
        ASSERT_OK(stat_in(&w, wh[i], &st));
        ASSERT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));
    }
    list_dir(w.root, names, sizeof(names));
    ASSERT_STREQ(names, "a,d,d2,e,foo,new");
    list_dir(P("%s/d", w.root), names, sizeof(names));
    ASSERT_STREQ(names, "x");
    ASSERT_EQ(lgetxattr(P("%s/d", w.root), opq, v, sizeof(v)), 1);
    ASSERT_STREQ(v, "y");
    ASSERT_EQ(lgetxattr(P("%s/e", w.root), opq, v, sizeof(v)), 1);
    ASSERT_TRUE(lgetxattr(w.root, opq, v, sizeof(v)) < 0);
}

TEST(whiteout_invalid)
{
    static const char *const names[] = {".wh.", ".wh..", ".wh...", "d/.wh.."};
    _cleanup_(world_done) struct world w = WORLD_NULL;
    world_init(&w);

    for (size_t i = 0; i < ELEMENTSOF(names); i++) {
        _cleanup_(buf_done) struct buf b = {0};
        BUILD(&b, {.name = names[i]});
        fresh_root(&w);
        ASSERT_ERR(unpack(&w, &b, NULL, NULL), -EINVAL);
        ASSERT_OUTSIDE_UNTOUCHED(&w);
    }
}

/* Later entries replace earlier ones; two directories merge, the second's metadata wins. */
TEST(duplicates)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf b = {0};
    struct stat st;
    char names[256], target[16] = {0};
    world_init(&w);

    BUILD(&b, {.name = "ff", .data = "one"}, {.name = "ff", .data = "two"},
          {.name = "fd", .data = "file"}, {.name = "fd/", .type = AE_IFDIR},
          {.name = "df/", .type = AE_IFDIR}, {.name = "df/child/x", .data = "x"},
          {.name = "df", .data = "now a file"},
          {.name = "dd/", .type = AE_IFDIR, .perm = 0700, .mtime = 1000},
          {.name = "dd/keep", .data = "keep"},
          {.name = "dd/", .type = AE_IFDIR, .perm = 0750, .mtime = 2000},
          {.name = "sf", .type = AE_IFLNK, .link = "ff"}, {.name = "sf", .data = "file"},
          {.name = "fs", .data = "file"}, {.name = "fs", .type = AE_IFLNK, .link = "ff"},
          {.name = "hl", .hardlink = "ff"}, {.name = "hl", .hardlink = "fs"});
    ASSERT_OK(unpack(&w, &b, NULL, NULL));
    ASSERT_CONTENT(&w, "ff", "two");
    ASSERT_OK(stat_in(&w, "fd", &st));
    ASSERT_TRUE(S_ISDIR(st.st_mode));
    ASSERT_CONTENT(&w, "df", "now a file");
    ASSERT_OK(stat_in(&w, "dd", &st));
    ASSERT_TRUE(S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0750 && st.st_mtim.tv_sec == 2000);
    ASSERT_CONTENT(&w, "dd/keep", "keep");
    ASSERT_CONTENT(&w, "sf", "file");
    ASSERT_EQ(readlinkat(w.root_fd, "fs", target, sizeof(target) - 1), 2);
    ASSERT_OK(stat_in(&w, "hl", &st));
    ASSERT_TRUE(S_ISLNK(st.st_mode) && st.st_nlink == 2);
    list_dir(w.root, names, sizeof(names));
    ASSERT_STREQ(names, "dd,df,fd,ff,fs,hl,sf");
}

/* A directory that is replaced by a file and then again by a directory. */
TEST(duplicate_dir_file_dir)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf b = {0};
    struct stat st;
    world_init(&w);

    BUILD(&b, {.name = "x/", .type = AE_IFDIR, .perm = 0700, .mtime = 1000},
          {.name = "x", .data = "f"}, {.name = "x/", .type = AE_IFDIR, .perm = 0711, .mtime = 3000},
          {.name = "x/y", .data = "y"});
    ASSERT_OK(unpack(&w, &b, NULL, NULL));
    ASSERT_OK(stat_in(&w, "x", &st));
    ASSERT_TRUE(S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0711 && st.st_mtim.tv_sec == 3000);
}

/* gzip and zstd give the diff_id of the uncompressed tar, which is its sha256. */
TEST(compression_same_diff_id)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf tar = {0}, gz = {0}, zst = {0};
    char expect[BL_DIGEST_STR_LEN + 1], diff[BL_DIGEST_STR_LEN + 1];
    static char big[300000];
    world_init(&w);

    for (size_t i = 0; i < sizeof(big) - 1; i++)
        big[i] = (char) ('a' + (i * 7919) % 26);
    BUILD(&tar, {.name = "etc/hosts", .data = "127.0.0.1 localhost\n"},
          {.name = "big", .data = big}, {.name = "l", .type = AE_IFLNK, .link = "big"});
    bl_sha256_buf(tar.data, tar.len, expect);
    compress(&tar, ARCHIVE_FILTER_GZIP, &gz);
    compress(&tar, ARCHIVE_FILTER_ZSTD, &zst);
    ASSERT_TRUE(gz.len < tar.len && zst.len < tar.len);

    const struct buf *blobs[] = {&tar, &gz, &zst};
    for (size_t i = 0; i < ELEMENTSOF(blobs); i++) {
        struct bl_layer_stats stats = {0};
        fresh_root(&w);
        ASSERT_OK(unpack(&w, blobs[i], diff, &stats));
        ASSERT_STREQ(diff, expect);
        ASSERT_EQ(stats.tar_size, tar.len);
        ASSERT_EQ(stats.entries, 3);
        ASSERT_CONTENT(&w, "etc/hosts", "127.0.0.1 localhost\n");
        struct stat st;
        ASSERT_OK(stat_in(&w, "big", &st));
        ASSERT_EQ(st.st_size, sizeof(big) - 1);
    }
}

/* Zero blocks after the end-of-archive marker are part of the stream and of its digest. */
TEST(trailing_zeros_hashed)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf tar = {0}, gz = {0};
    char expect[BL_DIGEST_STR_LEN + 1], diff[BL_DIGEST_STR_LEN + 1];
    static const char zeros[4096 * 37];
    struct bl_layer_stats stats;
    world_init(&w);

    BUILD(&tar, {.name = "f", .data = "x"});
    buf_append(&tar, zeros, sizeof(zeros));
    bl_sha256_buf(tar.data, tar.len, expect);
    ASSERT_OK(unpack(&w, &tar, diff, &stats));
    ASSERT_STREQ(diff, expect);
    ASSERT_EQ(stats.tar_size, tar.len);
    compress(&tar, ARCHIVE_FILTER_GZIP, &gz);
    fresh_root(&w);
    ASSERT_OK(unpack(&w, &gz, diff, &stats));
    ASSERT_STREQ(diff, expect);
    ASSERT_EQ(stats.tar_size, tar.len);
}

/* An empty layer as registries ship it: just the end-of-archive marker. */
TEST(empty_tar)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf tar = {0};
    char expect[BL_DIGEST_STR_LEN + 1], diff[BL_DIGEST_STR_LEN + 1];
    static const char zeros[1024];
    struct bl_layer_stats stats;
    world_init(&w);

    buf_append(&tar, zeros, sizeof(zeros));
    bl_sha256_buf(tar.data, tar.len, expect);
    ASSERT_OK(unpack(&w, &tar, diff, &stats));
    ASSERT_STREQ(diff, expect);
    ASSERT_TRUE(stats.entries == 0 && stats.tar_size == 1024);
}

static void big_layer(struct buf *tar)
{
    static char big[200000];
    for (size_t i = 0; i < sizeof(big) - 1; i++)
        big[i] = (char) ('a' + (i * 31) % 26);
    BUILD(tar, {.name = "a", .data = "a"}, {.name = "big", .data = big},
          {.name = "z", .data = "z"});
}

TEST(truncated_gzip)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf tar = {0}, gz = {0};
    world_init(&w);

    big_layer(&tar);
    compress(&tar, ARCHIVE_FILTER_GZIP, &gz);
    size_t full = gz.len;
    const size_t cuts[] = {full / 2, full - 4, full - 8, 20};
    for (size_t i = 0; i < ELEMENTSOF(cuts); i++) {
        gz.len = cuts[i];
        fresh_root(&w);
        ASSERT_ERR_MSG(unpack(&w, &gz, NULL, NULL), -EBADMSG, "truncated");
    }
}

TEST(truncated_zstd)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf tar = {0}, zst = {0};
    world_init(&w);

    big_layer(&tar);
    compress(&tar, ARCHIVE_FILTER_ZSTD, &zst);
    zst.len /= 2;
    ASSERT_ERR(unpack(&w, &zst, NULL, NULL), -EBADMSG);
}

TEST(truncated_tar)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf tar = {0};
    world_init(&w);

    big_layer(&tar);
    tar.len = 512 * 3 + 1000; /* in the middle of "big" */
    ASSERT_ERR_MSG(unpack(&w, &tar, NULL, NULL), -EBADMSG, "'big'");
    tar.len = 1024 + 300; /* in the middle of the header of "big" */
    fresh_root(&w);
    ASSERT_ERR(unpack(&w, &tar, NULL, NULL), -EBADMSG);
}

TEST(corrupt_gzip)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf tar = {0}, gz = {0};
    world_init(&w);

    big_layer(&tar);
    compress(&tar, ARCHIVE_FILTER_GZIP, &gz);
    for (size_t i = gz.len / 2; i < gz.len / 2 + 64; i++)
        gz.data[i] ^= 0x5a;
    ASSERT_ERR(unpack(&w, &gz, NULL, NULL), -EBADMSG);
}

/*
 * libarchive does not check the gzip CRC, so damage inside a stored (incompressible) deflate
 * block can go unnoticed by the decompressor. It must still show in the diff_id, which callers
 * compare with the image config.
 */
TEST(corrupt_gzip_stored_block)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf tar = {0}, gz = {0};
    char expect[BL_DIGEST_STR_LEN + 1], diff[BL_DIGEST_STR_LEN + 1];
    static char noise[100001];
    world_init(&w);

    for (unsigned i = 0, x = 99; i < sizeof(noise) - 1; i++) {
        x = x * 1103515245u + 12345u;
        noise[i] = (char) ('!' + (x >> 16) % 90);
    }
    BUILD(&tar, {.name = "noise", .data = noise});
    bl_sha256_buf(tar.data, tar.len, expect);
    compress(&tar, ARCHIVE_FILTER_GZIP, &gz);
    gz.data[gz.len / 2] ^= 0x01;
    int r = unpack(&w, &gz, diff, NULL);
    ASSERT_TRUE(r == -EBADMSG || (r == 0 && strcmp(diff, expect) != 0));
}

TEST(garbage)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf junk = {0}, gz = {0}, empty = {0}, word = {0};
    world_init(&w);

    for (unsigned i = 0, x = 12345; i < 100000; i++) {
        x = x * 1103515245u + 12345u;
        char c = (char) (x >> 16);
        buf_append(&junk, &c, 1);
    }
    ASSERT_ERR_MSG(unpack(&w, &junk, NULL, NULL), -EINVAL, "not a tar");
    compress(&junk, ARCHIVE_FILTER_GZIP, &gz);
    ASSERT_ERR(unpack(&w, &gz, NULL, NULL), -EINVAL);
    ASSERT_ERR(unpack(&w, &empty, NULL, NULL), -EINVAL);
    buf_append(&word, "hello", 5);
    ASSERT_ERR(unpack(&w, &word, NULL, NULL), -EINVAL);
    char names[64];
    list_dir(w.root, names, sizeof(names));
    ASSERT_STREQ(names, "");
}

TEST(names_long_and_unicode)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf pax = {0}, gnu = {0};
    char long_name[400], deep[400] = {0};
    world_init(&w);

    memset(long_name, 'n', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = 0;
    long_name[150] = '/';
    for (int i = 0; i < 60; i++)
        strcat(deep, "d/"); /* NOLINT: test buffer sized for it */
    strcat(deep, "leaf");   /* NOLINT */
    const char *uni = "d\xc3\xa9j\xc3\xa0/\xe6\x97\xa5.txt";

    BUILD(&pax, {.name = long_name, .data = "long"}, {.name = deep, .data = "deep"},
          {.name = uni, .data = "uni"});
    ASSERT_OK(unpack(&w, &pax, NULL, NULL));
    ASSERT_CONTENT(&w, long_name, "long");
    ASSERT_CONTENT(&w, deep, "deep");
    ASSERT_CONTENT(&w, uni, "uni");

    BUILD_GNU(&gnu, {.name = long_name, .data = "long"}, {.name = uni, .data = "uni"},
              {.name = "l", .type = AE_IFLNK, .link = long_name});
    fresh_root(&w);
    ASSERT_OK(unpack(&w, &gnu, NULL, NULL));
    ASSERT_CONTENT(&w, long_name, "long");
    ASSERT_CONTENT(&w, uni, "uni");
    char target[sizeof(long_name)] = {0};
    ASSERT_EQ(readlinkat(w.root_fd, "l", target, sizeof(target) - 1), strlen(long_name));
    ASSERT_STREQ(target, long_name);
}

/* A sparse entry keeps its holes and its size. */
TEST(sparse_file)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf tar = {0};
    static char data[1 << 20];
    struct stat st;
    world_init(&w);

    memset(data, 'A', 4096);
    memset(data + 512 * 1024, 'B', 4096);
    struct archive *a = archive_write_new();
    struct archive_entry *e = archive_entry_new();
    ASSERT_TRUE(a && e);
    ASSERT_EQ(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    ASSERT_EQ(archive_write_open(a, &tar, NULL, buf_write_cb, NULL), ARCHIVE_OK);
    archive_entry_set_pathname(e, "sparse");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, sizeof(data));
    archive_entry_sparse_add_entry(e, 0, 4096);
    archive_entry_sparse_add_entry(e, 512 * 1024, 4096);
    ASSERT_TRUE(archive_write_header(a, e) >= ARCHIVE_WARN);
    ASSERT_EQ(archive_write_data(a, data, sizeof(data)), sizeof(data));
    ASSERT_EQ(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    archive_entry_free(e);
    ASSERT_TRUE(tar.len < sizeof(data) / 4); /* the writer did store it sparse */

    ASSERT_OK(unpack(&w, &tar, NULL, NULL));
    ASSERT_OK(stat_in(&w, "sparse", &st));
    ASSERT_EQ(st.st_size, sizeof(data));
    ASSERT_TRUE(st.st_blocks * 512 < (blkcnt_t) sizeof(data) / 4);
    int fd = openat(w.root_fd, "sparse", O_RDONLY | O_CLOEXEC);
    ASSERT_TRUE(fd >= 0);
    static char back[1 << 20];
    ASSERT_EQ(read(fd, back, sizeof(back)), sizeof(back));
    (void) close(fd);
    ASSERT_TRUE(memcmp(back, data, sizeof(data)) == 0);
}

/* The blob is read from its current offset, from a pipe too; stats may be NULL. */
TEST(blob_offset_and_pipe)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf tar = {0}, gz = {0}, prefixed = {0};
    char expect[BL_DIGEST_STR_LEN + 1], diff[BL_DIGEST_STR_LEN + 1];
    world_init(&w);

    BUILD(&tar, {.name = "f", .data = "x"});
    bl_sha256_buf(tar.data, tar.len, expect);
    compress(&tar, ARCHIVE_FILTER_GZIP, &gz);
    buf_append(&prefixed, "JUNKJUNK", 8);
    buf_append(&prefixed, gz.data, gz.len);
    _cleanup_close_ int fd = memfd_with(prefixed.data, prefixed.len);
    ASSERT_EQ(lseek(fd, 8, SEEK_SET), 8);
    ASSERT_OK(bl_layer_unpack(fd, w.root_fd, diff, NULL, -1, &tap_last_err));
    ASSERT_STREQ(diff, expect);

    int p[2];
    ASSERT_OK(pipe2(p, O_CLOEXEC));
    _cleanup_close_ int rd = p[0];
    _cleanup_close_ int wr = p[1];
    ASSERT_TRUE(gz.len < 65536); /* fits in the pipe buffer: no writer thread needed */
    write_all(wr, gz.data, gz.len);
    wr = bl_close(wr);
    fresh_root(&w);
    ASSERT_OK(bl_layer_unpack(rd, w.root_fd, diff, NULL, -1, &tap_last_err));
    ASSERT_STREQ(diff, expect);
    ASSERT_CONTENT(&w, "f", "x");
}

/* On failure the outputs are untouched. */
TEST(outputs_untouched_on_failure)
{
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf tar = {0};
    char diff[BL_DIGEST_STR_LEN + 1] = "untouched";
    struct bl_layer_stats stats = {.tar_size = 7, .entries = 7};
    world_init(&w);

    BUILD(&tar, {.name = "../x", .data = "x"});
    ASSERT_ERR(unpack(&w, &tar, diff, &stats), -EINVAL);
    ASSERT_STREQ(diff, "untouched");
    ASSERT_TRUE(stats.tar_size == 7 && stats.entries == 7);
}

struct oom_ctx {
    struct world *w;
    const struct buf *b;
};

static void oom_before(void *userdata)
{
    struct oom_ctx *c = userdata;
    fresh_root(c->w);
}

/* In a child with BL_FAULT=n: unpack, or fail cleanly with -ENOMEM and the digest untouched. */
static int oom_run(unsigned long n, void *userdata)
{
    const struct oom_ctx *c = userdata;
    char diff[BL_DIGEST_STR_LEN + 1] = "untouched";
    bl_error *e = NULL;
    (void) n;
    int fd = memfd_create("layer", MFD_CLOEXEC);
    if (fd < 0 || write(fd, c->b->data, c->b->len) != (ssize_t) c->b->len ||
        lseek(fd, 0, SEEK_SET) != 0)
        return TAP_RUN_BUG;
    int r = bl_layer_unpack(fd, c->w->root_fd, diff, NULL, -1, &e);
    int res;
    if (r < 0)
        res = r == -ENOMEM && e && e->code == -ENOMEM && !strcmp(diff, "untouched") ? TAP_RUN_FAILED
                                                                                    : TAP_RUN_BUG;
    else
        res = !e ? TAP_RUN_OK : TAP_RUN_BUG;
    bl_error_free(e);
    (void) close(fd);
    return res;
}

/* Fail the Nth allocation for N = 1, 2, ... until a run reaches no fault point. */
TEST(oom_torture)
{
    tap_require_fault_injection();
    _cleanup_(world_done) struct world w = WORLD_NULL;
    _cleanup_(buf_done) struct buf b = {0};
    world_init(&w);

    BUILD(&b, {.name = "./", .type = AE_IFDIR}, {.name = "d/", .type = AE_IFDIR},
          {.name = "d/f", .data = "f", .xattr = "user.x", .xattr_value = "1"},
          {.name = "x/y/z", .data = "z"}, {.name = "l", .type = AE_IFLNK, .link = "/q/r"},
          {.name = "l/m", .data = "m"}, {.name = "h", .hardlink = "d/f"}, {.name = "d/.wh.gone"},
          {.name = "p", .type = AE_IFIFO});
    struct oom_ctx c = {&w, &b};
    tap_torture(&(struct tap_torture){.name = "unpack",
                                      .run = oom_run,
                                      .before = oom_before,
                                      .userdata = &c,
                                      .max_faults = 500,
                                      .min_faults = 10});
    ASSERT_OUTSIDE_UNTOUCHED(&w);
}

/*
 * Every test above again with openat2() failing, as on kernels before 5.6 and under valgrind
 * (ENOSYS) or under container seccomp profiles older than the call (EPERM): the userspace walk
 * must hold the same line. Each runs in its own child, which installs the filter first.
 */
static void run_without_openat2(const struct tap_test *t, int errno_value)
{
    int status = 0;

    fflush(stdout);
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        struct open_how how = {.flags = O_PATH | O_CLOEXEC};
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
        if (!ctx || seccomp_rule_add(ctx, SCMP_ACT_ERRNO(errno_value), SCMP_SYS(openat2), 0) < 0 ||
            seccomp_load(ctx) < 0)
            tap_skip("cannot install a seccomp filter");
        seccomp_release(ctx);
        /* valgrind answers ENOSYS itself, before any filter sees the call */
        if (syscall(SYS_openat2, AT_FDCWD, ".", &how, sizeof(how)) != -1 || errno != errno_value)
            tap_skip("the filter does not decide what openat2 returns here");
        t->fn();
        (void) bl_rm_rf_at(AT_FDCWD, tap_tmpdir());
        exit(0); /* exit, not _exit: LeakSanitizer runs at exit */
    }
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 77))
        tap_fail(__FILE__, __LINE__, "'%s' with openat2 failing with %s: status 0x%x", t->name,
                 strerror(errno_value), (unsigned) status);
}

#define ALL_TESTS                                                                                  \
    T(attack_dotdot), T(attack_dotdot_nested), T(attack_dotdot_spellings),                         \
        T(attack_dotdot_hardlink_name), T(attack_absolute_name),                                   \
        T(attack_symlink_parent_absolute), T(attack_symlink_parent_relative),                      \
        T(attack_symlink_chain_parent), T(attack_symlink_loop_parent),                             \
        T(attack_hardlink_outside_relative), T(attack_hardlink_outside_absolute),                  \
        T(attack_hardlink_absolute_resolves_inside), T(attack_hardlink_target_via_symlink),        \
        T(attack_hardlink_dest_via_symlink), T(attack_hardlink_to_symlink),                        \
        T(attack_symlink_then_file), T(attack_symlink_then_dir), T(attack_symlink_then_node),      \
        T(attack_whiteout_via_symlink), T(attack_file_over_hardlink),                              \
        T(attack_root_and_overlay_xattrs), T(tree_modes_owners), T(hardlinks), T(hardlink_errors), \
        T(link_without_target), T(fifo_and_devices), T(xattrs), T(mtimes), T(whiteouts),           \
        T(whiteout_invalid), T(duplicates), T(duplicate_dir_file_dir),                             \
        T(compression_same_diff_id), T(trailing_zeros_hashed), T(empty_tar), T(truncated_gzip),    \
        T(truncated_zstd), T(truncated_tar), T(corrupt_gzip), T(corrupt_gzip_stored_block),        \
        T(garbage), T(names_long_and_unicode), T(sparse_file), T(blob_offset_and_pipe),            \
        T(outputs_untouched_on_failure), T(oom_torture)

TEST(all_without_openat2)
{
    static const struct tap_test tests[] = {ALL_TESTS};
    static const int errnos[] = {ENOSYS, EPERM};

    for (size_t e = 0; e < ELEMENTSOF(errnos); e++)
        for (size_t i = 0; i < ELEMENTSOF(tests); i++)
            run_without_openat2(&tests[i], errnos[e]);
}

TAP_MAIN(ALL_TESTS, T(all_without_openat2))
