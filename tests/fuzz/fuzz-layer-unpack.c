/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for layer unpacking (bl_layer_unpack, layer-unpack.c): the input is a layer
 * blob (tar, or gzip/zstd of one) unpacked into an empty directory. The property that matters
 * is the module's safety invariant: nothing outside that directory is created, removed, written,
 * linked to, chowned or chmodded, whatever the tar holds.
 *
 * The scratch tree, made once per process under $TMPDIR (default /tmp):
 *   bl-fuzz-unpack.XXXXXX/root/      the layer directory, emptied after every input
 *   bl-fuzz-unpack.XXXXXX/outside/   decoys: files, a directory, a symlink, a fifo
 *   bl-fuzz-unpack.XXXXXX/cwd/       the process's working directory (a stray relative path)
 * After every input the whole scratch tree except root/ must match its snapshot (names, types,
 * modes, owners, sizes, link counts, mtimes, symlink targets), and no name that the input
 * spells out may appear in (or vanish from) "/", where an absolute name that escaped would land
 * (other processes change "/" too, so a change of a name the input does not hold is only
 * noted). Escapes elsewhere on the host are not watched: docs/design/fuzzing.md says why.
 *
 * Other properties: success and error agree with the return value; an uncompressed layer's
 * diff_id is the sha256 of the input.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "fs-util.h"
#include "fuzz-util.h"
#include "layer-unpack.h"
#include "strv.h"

static char base[PATH_MAX];
static int base_fd = -1;
static char *snap_tree, *snap_slash;

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

static void append(char **buf, size_t *len, const char *s)
{
    size_t n = strlen(s);
    char *b = realloc(*buf, *len + n + 1);
    FUZZ_CHECK(b, "oom");
    memcpy(b + *len, s, n + 1);
    *buf = b;
    *len += n;
}

/* One line per entry under dfd/rel (root/ skipped), depth first, names sorted. */
static void walk(int dfd, const char *rel, char **buf, size_t *len)
{
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    FUZZ_CHECK(fd >= 0, "cannot open '%s': %m", rel);
    DIR *d = fdopendir(fd);
    FUZZ_CHECK(d, "fdopendir");
    _cleanup_strv_free_ char **names = NULL;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
            !(!*rel && !strcmp(e->d_name, "root")))
            FUZZ_CHECK(bl_strv_push(&names, e->d_name) >= 0, "oom");
    size_t n = bl_strv_length(names);
    qsort(names, n, sizeof(char *), cmp_names);
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        char line[PATH_MAX * 2 + 256], target[PATH_MAX] = "";
        FUZZ_CHECK(fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) == 0, "stat %s/%s: %m",
                   rel, names[i]);
        if (S_ISLNK(st.st_mode)) {
            ssize_t k = readlinkat(dirfd(d), names[i], target, sizeof(target) - 1);
            target[k > 0 ? k : 0] = 0;
        }
        snprintf(line, sizeof(line), "%s/%s %o %u:%u %lld %lu %lld.%09ld %s\n", rel, names[i],
                 st.st_mode, st.st_uid, st.st_gid, (long long) st.st_size,
                 (unsigned long) st.st_nlink, (long long) st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
                 target);
        append(buf, len, line);
        if (S_ISDIR(st.st_mode)) {
            int sub = openat(dirfd(d), names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            FUZZ_CHECK(sub >= 0, "open %s/%s: %m", rel, names[i]);
            _cleanup_free_ char *r2 = bl_asprintf("%s/%s", rel, names[i]);
            FUZZ_CHECK(r2, "oom");
            walk(sub, r2, buf, len);
            (void) close(sub);
        }
    }
    (void) closedir(d);
}

static char *snapshot_tree(void)
{
    char *buf = NULL;
    size_t len = 0;
    append(&buf, &len, "");
    walk(base_fd, "", &buf, &len);
    return buf;
}

/* The names in "/" (not recursive: other processes keep changing what lies below). */
static char *snapshot_slash(void)
{
    _cleanup_strv_free_ char **names = NULL;
    DIR *d = opendir("/");
    FUZZ_CHECK(d, "opendir /");
    for (struct dirent *e; (e = readdir(d));)
        FUZZ_CHECK(bl_strv_push(&names, e->d_name) >= 0, "oom");
    (void) closedir(d);
    size_t n = bl_strv_length(names), len = 0;
    qsort(names, n, sizeof(char *), cmp_names);
    char *buf = NULL;
    append(&buf, &len, "");
    for (size_t i = 0; i < n; i++) {
        append(&buf, &len, names[i]);
        append(&buf, &len, "\n");
    }
    return buf;
}

/* Is `name` (one line of a listing) a name the input spells out? */
static int named_in_input(const char *name, size_t n, const uint8_t *data, size_t size)
{
    return n > 0 && memmem(data, size, name, n) != NULL;
}

/*
 * "/" changed while the layer was unpacked. Other processes on the machine create and remove
 * entries in "/" too, so only a name the input itself spells out counts as an escape: whatever
 * the layer creates outside its root is named by the tar.
 */
static void check_slash(const char *before, const char *after, const uint8_t *data, size_t size)
{
    const char *lists[2] = {after, before}, *others[2] = {before, after};
    for (int k = 0; k < 2; k++)
        for (const char *p = lists[k]; *p;) {
            size_t n = strcspn(p, "\n");
            _cleanup_free_ char *line = bl_asprintf("\n%.*s\n", (int) n, p);
            _cleanup_free_ char *hay = bl_asprintf("\n%s", others[k]);
            FUZZ_CHECK(line && hay, "oom");
            if (!strstr(hay, line)) {
                FUZZ_CHECK(!named_in_input(p, n, data, size), "the layer %s '/%.*s' on the host",
                           k == 0 ? "created" : "removed", (int) n, p);
                fprintf(stderr, "note: '/%.*s' %s by another process, ignored\n", (int) n, p,
                        k == 0 ? "appeared" : "went away");
            }
            p += n + (p[n] == '\n');
        }
}

static void remove_scratch(void)
{
    if (base_fd >= 0)
        (void) bl_rm_rf_at(AT_FDCWD, base);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    const char *tmp = getenv("TMPDIR");
    snprintf(base, sizeof(base), "%s/bl-fuzz-unpack.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    FUZZ_CHECK(mkdtemp(base), "mkdtemp: %m");
    base_fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    FUZZ_CHECK(base_fd >= 0, "open %s: %m", base);
    (void) atexit(remove_scratch);
    FUZZ_CHECK(mkdirat(base_fd, "outside", 0755) == 0 &&
                   mkdirat(base_fd, "outside/dir", 0700) == 0 &&
                   mkdirat(base_fd, "cwd", 0755) == 0 &&
                   symlinkat("secret", base_fd, "outside/link") == 0 &&
                   symlinkat("..", base_fd, "outside/up") == 0 &&
                   mkfifoat(base_fd, "outside/fifo", 0600) == 0,
               "scratch tree: %m");
    static const char *const files[] = {"outside/secret", "outside/dir/file", "cwd/file"};
    for (size_t i = 0; i < ELEMENTSOF(files); i++) {
        int fd = openat(base_fd, files[i], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        FUZZ_CHECK(fd >= 0 && write(fd, "decoy\n", 6) == 6, "%s: %m", files[i]);
        (void) close(fd);
    }
    _cleanup_free_ char *cwd = bl_asprintf("%s/cwd", base);
    FUZZ_CHECK(cwd && chdir(cwd) == 0, "chdir: %m");
    snap_tree = snapshot_tree();
    snap_slash = snapshot_slash();
    return 0;
}

static int is_compressed(const uint8_t *d, size_t n)
{
    return (n >= 2 && d[0] == 0x1f && d[1] == 0x8b) ||
           (n >= 4 && d[0] == 0x28 && d[1] == 0xb5 && d[2] == 0x2f && d[3] == 0xfd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FUZZ_CHECK(mkdirat(base_fd, "root", 0755) == 0, "mkdir root: %m");
    int root_fd = openat(base_fd, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int blob_fd = memfd_create("layer", MFD_CLOEXEC);
    int owners_fd = memfd_create("owners", MFD_CLOEXEC);
    FUZZ_CHECK(root_fd >= 0 && blob_fd >= 0 && owners_fd >= 0, "fds: %m");
    FUZZ_CHECK(bl_write_all(blob_fd, data, size) == 0 && lseek(blob_fd, 0, SEEK_SET) == 0,
               "memfd: %m");

    char diff_id[BL_DIGEST_STR_LEN + 1] = "";
    struct bl_layer_stats stats = {0};
    bl_error *err = NULL;
    int r = bl_layer_unpack(blob_fd, root_fd, diff_id, &stats, owners_fd, &err);
    if (getenv("FUZZ_VERBOSE"))
        fprintf(stderr, "unpack: %d %s\n", r, err ? err->msg : "");
    if (r < 0) {
        FUZZ_CHECK(err && err->code == r && err->msg, "failure %d without its error", r);
    } else {
        FUZZ_CHECK(r == 0 && !err, "success %d with an error", r);
        FUZZ_CHECK(bl_digest_valid(diff_id), "diff_id '%s'", diff_id);
        char want[BL_DIGEST_STR_LEN + 1];
        if (!is_compressed(data, size) && bl_sha256_buf(data, size, want) == 0)
            FUZZ_CHECK(!strcmp(want, diff_id) && stats.tar_size == size,
                       "diff_id %s of an uncompressed layer, want %s", diff_id, want);
    }
    bl_error_free(err);
    (void) close(root_fd);
    (void) close(blob_fd);
    (void) close(owners_fd);

    _cleanup_free_ char *tree = snapshot_tree();
    _cleanup_free_ char *slash = snapshot_slash();
    if (strcmp(tree, snap_tree) != 0)
        fprintf(stderr, "before:\n%s\nafter:\n%s\n", snap_tree, tree);
    FUZZ_CHECK(!strcmp(tree, snap_tree), "the layer changed %s outside its directory", base);
    if (strcmp(slash, snap_slash) != 0) {
        check_slash(snap_slash, slash, data, size);
        free(snap_slash); /* someone else's change: the new listing is the reference */
        snap_slash = TAKE_PTR(slash);
    }
    FUZZ_CHECK(bl_rm_rf_at(base_fd, "root") == 0, "cannot empty %s/root: %m", base);
    return 0;
}
