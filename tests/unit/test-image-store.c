/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for image-store.c. Images are built in the test the way a loader leaves them for
 * bl_images_commit(): blobs staged as B<hex> and unpacked layers as L<hex> in a staging
 * directory, layers the store already has not staged. Covered: commit (files moved into the
 * store, rows written, crash debris replaced, -EAGAIN with everything moved back when a layer
 * vanished), listing (one entry per reference, untagged images, sizes and layer counts),
 * resolving by reference, id, bare hex and prefix (ambiguous and unknown ones refused),
 * inspect, remove (untag vs delete, the refusals of an image in use or with several
 * references, force), garbage collection of layers and blobs shared or not, and (in
 * fault-injection builds) torture loops over commit and remove that check after every failure
 * that the store is exactly as before: every row has its files, no file is left without a row,
 * no staging directory is left.
 */
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <sys/stat.h>

#include "../lib/tap.h"
#include "alloc-util.h"
#include "boxlite/image.h"
#include "image-store.h"
#include "strv.h"

static void digest_of(const char *prefix, const char *s, char out[BL_DIGEST_STR_LEN + 1])
{
    char buf[512];
    int n = snprintf(buf, sizeof(buf), "%s%s", prefix, s);
    ASSERT_OK(bl_sha256_buf(buf, (size_t) n, out));
}

static int write_at(int dir_fd, const char *name, const char *data)
{
    int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    size_t len = strlen(data);
    int r = write(fd, data, len) == (ssize_t) len ? 0 : -EIO;
    close(fd);
    return r;
}

/* Stage a blob as B<hex>; its digest goes into out. */
static int stage_blob(int stage_fd, const char *data, char out[BL_DIGEST_STR_LEN + 1])
{
    int r = bl_sha256_buf(data, strlen(data), out);
    if (r < 0)
        return r;
    char name[80];
    (void) snprintf(name, sizeof(name), "B%s", bl_digest_hex(out));
    return write_at(stage_fd, name, data);
}

/* A layer called `name`: blob "blob:<name>", diff_id sha256("diff:<name>"), one file "f". */
static void layer_of(const char *name, struct bl_new_layer *l)
{
    char blob[256];
    (void) snprintf(blob, sizeof(blob), "blob:%s", name);
    *l = (struct bl_new_layer){.media_type = "application/vnd.oci.image.layer.v1.tar",
                               .size = strlen(blob)};
    digest_of("diff:", name, l->diff_id);
    digest_of("", blob, l->blob_digest);
}

static int stage_layer(struct boxlite_runtime *rt, int stage_fd, const char *name,
                       struct bl_new_layer *l, bl_error **err)
{
    layer_of(name, l);
    int r = bl_store_has_layer(rt, l->diff_id, err);
    if (r != 0)
        return r < 0 ? r : 0; /* in the store: not staged, as a loader does */
    char blob[256], dir[80], digest[BL_DIGEST_STR_LEN + 1];
    (void) snprintf(blob, sizeof(blob), "blob:%s", name);
    if ((r = stage_blob(stage_fd, blob, digest)) < 0)
        return bl_err(err, r, "stage blob");
    (void) snprintf(dir, sizeof(dir), "L%s", bl_digest_hex(l->diff_id));
    if (mkdirat(stage_fd, dir, 0755) < 0)
        return bl_err_errno(err, "mkdir");
    char f[160];
    (void) snprintf(f, sizeof(f), "%s/f", dir);
    if ((r = write_at(stage_fd, f, name)) < 0)
        return bl_err(err, r, "write");
    return 0;
}

static char *manifest_text(const char *nonce)
{
    char *m = NULL;
    if (asprintf(&m, "{\"schemaVersion\":2,\"annotations\":{\"nonce\":\"%s\"}}", nonce) < 0)
        return NULL;
    return m;
}

static const char *config_text(const char *arch)
{
    static char buf[256];
    (void) snprintf(buf, sizeof(buf),
                    "{\"architecture\":\"%s\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"sh\"]},"
                    "\"rootfs\":{\"type\":\"layers\"}}",
                    arch);
    return buf;
}

/*
 * Commit one image: manifest {"nonce"}, config for `arch`, the named layers, the references
 * (normalised already). The id goes into id (if non-NULL).
 */
static int commit_image(struct boxlite_runtime *rt, const char *nonce, const char *arch,
                        const char *const *layers, const char *const *refs,
                        char id[BL_DIGEST_STR_LEN + 1], bl_error **err)
{
    _cleanup_stage_ struct bl_stage stage = BL_STAGE_NULL;
    int r = bl_stage_new(rt, "test", &stage, err);
    if (r < 0)
        return r;
    _cleanup_(bl_new_image_done) struct bl_new_image img = {0};
    size_t n = 0;
    while (layers && layers[n])
        n++;
    img.layers = calloc(n ? n : 1, sizeof(*img.layers));
    if (!img.layers)
        return bl_oom(err);
    img.n_layers = n;
    for (size_t i = 0; i < n; i++)
        if ((r = stage_layer(rt, stage.fd, layers[i], &img.layers[i], err)) < 0)
            return r;
    _cleanup_free_ char *m = manifest_text(nonce);
    if (!m)
        return bl_oom(err);
    if ((r = stage_blob(stage.fd, m, img.id)) < 0)
        return bl_err(err, r, "stage manifest");
    if ((r = stage_blob(stage.fd, config_text(arch), img.config_digest)) < 0)
        return bl_err(err, r, "stage config");
    for (size_t i = 0; refs && refs[i]; i++)
        if (bl_strv_push(&img.refs, refs[i]) < 0)
            return bl_oom(err);
    img.os = strdup("linux");
    img.arch = strdup(arch);
    if (!img.os || !img.arch)
        return bl_oom(err);
    r = bl_images_commit(rt, stage.fd, &img, 1, err);
    if (r < 0)
        return r;
    if (id)
        memcpy(id, img.id, sizeof(img.id));
    return 0;
}

#define LAYERS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define REFS(...) ((const char *const[]){__VA_ARGS__, NULL})

static int count_sql(struct boxlite_runtime *rt, const char *sql, const char *arg)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    ASSERT_OK(bl_store_prepare(rt->store, sql, &st, &tap_last_err));
    if (arg)
        bl_stmt_bind_text(st, 1, arg);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    return sqlite3_column_int(st, 0);
}

static size_t count_entries(int dir_fd)
{
    int fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
    ASSERT_TRUE(fd >= 0);
    DIR *d = fdopendir(fd);
    ASSERT_NOT_NULL(d);
    rewinddir(d);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    closedir(d);
    return n;
}

static int has_layer_dir(struct boxlite_runtime *rt, const char *diff_id)
{
    return faccessat(rt->layers_fd, bl_digest_hex(diff_id), F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

static void layer_digests(const char *name, char diff[BL_DIGEST_STR_LEN + 1],
                          char blob[BL_DIGEST_STR_LEN + 1])
{
    struct bl_new_layer l;
    layer_of(name, &l);
    memcpy(diff, l.diff_id, sizeof(l.diff_id));
    memcpy(blob, l.blob_digest, sizeof(l.blob_digest));
}

/*
 * The store's invariant: every layer row has its directory and blob, every image its manifest
 * and config blobs; no directory or blob without a row; tmp/ empty. 0 if it holds.
 */
static int store_consistent(struct boxlite_runtime *rt)
{
    int bad = 0;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    if (bl_store_prepare(rt->store, "SELECT diff_id, blob_digest FROM layers", &st, NULL) < 0)
        return -1;
    size_t n_layers = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        n_layers++;
        bad |= !has_layer_dir(rt, bl_stmt_text(st, 0));
        bad |= !bl_store_has_blob(rt, bl_stmt_text(st, 1));
    }
    _cleanup_stmt_ sqlite3_stmt *im = NULL;
    if (bl_store_prepare(rt->store, "SELECT id, config_digest FROM images", &im, NULL) < 0)
        return -1;
    while (sqlite3_step(im) == SQLITE_ROW) {
        bad |= !bl_store_has_blob(rt, bl_stmt_text(im, 0));
        bad |= !bl_store_has_blob(rt, bl_stmt_text(im, 1));
    }
    _cleanup_stmt_ sqlite3_stmt *nb = NULL;
    if (bl_store_prepare(rt->store,
                         "SELECT COUNT(*) FROM (SELECT id FROM images UNION SELECT config_digest "
                         "FROM images UNION SELECT blob_digest FROM layers)",
                         &nb, NULL) < 0 ||
        sqlite3_step(nb) != SQLITE_ROW)
        return -1;
    bad |= count_entries(rt->layers_fd) != n_layers;
    bad |= count_entries(rt->blobs_fd) != (size_t) sqlite3_column_int(nb, 0);
    bad |= count_entries(rt->tmp_fd) != 0;
    return bad ? -1 : 0;
}

TEST(commit_moves_files_and_lists)
{
    boxlite_runtime *rt = tap_open_runtime();
    char a[BL_DIGEST_STR_LEN + 1], b[BL_DIGEST_STR_LEN + 1];
    ASSERT_OK(commit_image(rt, "a", "amd64", LAYERS("base", "app"),
                           REFS("docker.io/library/alpine:latest", "example.com/a:1"), a,
                           &tap_last_err));
    ASSERT_OK(store_consistent(rt));
    ASSERT_EQ(count_entries(rt->layers_fd), 2);
    ASSERT_EQ(count_entries(rt->blobs_fd), 4); /* manifest, config, two layer blobs */
    char diff[BL_DIGEST_STR_LEN + 1], blob[BL_DIGEST_STR_LEN + 1];
    layer_digests("app", diff, blob);
    ASSERT_EQ(bl_store_has_layer(rt, diff, &tap_last_err), 1);
    ASSERT_TRUE(bl_store_has_blob(rt, blob));
    /* the unpacked layer is the staged one */
    char f[200];
    (void) snprintf(f, sizeof(f), "%s/f", bl_digest_hex(diff));
    int fd = openat(rt->layers_fd, f, O_RDONLY | O_CLOEXEC);
    ASSERT_TRUE(fd >= 0);
    char buf[16] = {0};
    ASSERT_EQ(read(fd, buf, sizeof(buf)), 3);
    close(fd);
    ASSERT_STREQ(buf, "app");
    /* a second image shares "base"; it is not staged again */
    ASSERT_OK(commit_image(rt, "b", "arm64", LAYERS("base"), NULL, b, &tap_last_err));
    ASSERT_OK(store_consistent(rt));
    ASSERT_EQ(count_entries(rt->layers_fd), 2);
    ASSERT_EQ(count_sql(rt, "SELECT COUNT(*) FROM images", NULL), 2);
    /* committing the same image again changes nothing but its references */
    ASSERT_OK(commit_image(rt, "b", "arm64", LAYERS("base"), REFS("example.com/b:1"), NULL,
                           &tap_last_err));
    ASSERT_OK(store_consistent(rt));
    ASSERT_EQ(count_sql(rt, "SELECT COUNT(*) FROM images", NULL), 2);

    boxlite_image **list = NULL;
    size_t n = 0;
    ASSERT_OK(boxlite_image_list(rt, &list, &n, &tap_last_err));
    ASSERT_EQ(n, 3); /* one entry per reference */
    int seen_alpine = 0, seen_a1 = 0, seen_b1 = 0;
    for (size_t i = 0; i < n; i++) {
        const char *ref = boxlite_image_reference(list[i]);
        ASSERT_NOT_NULL(ref);
        if (!strcmp(ref, "docker.io/library/alpine:latest") || !strcmp(ref, "example.com/a:1")) {
            seen_alpine += ref[0] == 'd';
            seen_a1 += ref[0] == 'e';
            ASSERT_STREQ(boxlite_image_id(list[i]), a);
            ASSERT_EQ(boxlite_image_layer_count(list[i]), 2);
            ASSERT_EQ(boxlite_image_size(list[i]), strlen("blob:base") + strlen("blob:app"));
        } else {
            ASSERT_STREQ(ref, "example.com/b:1");
            seen_b1++;
            ASSERT_STREQ(boxlite_image_id(list[i]), b);
            ASSERT_EQ(boxlite_image_layer_count(list[i]), 1);
        }
        ASSERT_NOT_NULL(boxlite_image_config_digest(list[i]));
        ASSERT_TRUE(boxlite_image_created(list[i]) > 0);
    }
    ASSERT_TRUE(seen_alpine == 1 && seen_a1 == 1 && seen_b1 == 1);
    boxlite_image_list_free(list, n);
    boxlite_image_list_free(NULL, 0);
    ASSERT_EQ(boxlite_image_layer_count(NULL), 0);
    ASSERT_NULL(boxlite_image_reference(NULL));
    bl_error *e = NULL;
    ASSERT_ERR(boxlite_image_list(rt, NULL, &n, &e), -EINVAL);
    bl_error_free(e);
    boxlite_runtime_free(rt);
}

TEST(list_untagged_and_empty)
{
    boxlite_runtime *rt = tap_open_runtime();
    boxlite_image **list = NULL;
    size_t n = 99;
    ASSERT_OK(boxlite_image_list(rt, &list, &n, &tap_last_err));
    ASSERT_EQ(n, 0);
    boxlite_image_list_free(list, n);
    char a[BL_DIGEST_STR_LEN + 1];
    ASSERT_OK(commit_image(rt, "u", "amd64", LAYERS("x"), NULL, a, &tap_last_err));
    ASSERT_OK(boxlite_image_list(rt, &list, &n, &tap_last_err));
    ASSERT_EQ(n, 1);
    ASSERT_NULL(boxlite_image_reference(list[0]));
    ASSERT_STREQ(boxlite_image_id(list[0]), a);
    boxlite_image_list_free(list, n);
    /* bl_image_get: the public handle of one image */
    boxlite_image *img = NULL;
    ASSERT_OK(bl_image_get(rt, a, "example.com/x:1", &img, &tap_last_err));
    ASSERT_STREQ(boxlite_image_id(img), a);
    ASSERT_EQ(boxlite_image_layer_count(img), 1);
    boxlite_image_free(img);
    boxlite_image_free(NULL);
    boxlite_runtime_free(rt);
}

static void resolve_ok(struct boxlite_runtime *rt, const char *arg, const char *want_id,
                       const char *want_ref)
{
    char *id = NULL, *ref = NULL;
    ASSERT_OK(bl_image_resolve(rt, arg, &id, &ref, &tap_last_err));
    ASSERT_STREQ(id, want_id);
    if (want_ref)
        ASSERT_STREQ(ref, want_ref);
    else
        ASSERT_NULL(ref);
    free(id);
    free(ref);
}

static void resolve_err(struct boxlite_runtime *rt, const char *arg, int code, const char *msg)
{
    char *id = NULL, *ref = NULL;
    bl_error *e = NULL;
    ASSERT_ERR(bl_image_resolve(rt, arg, &id, &ref, &e), code);
    ASSERT_NULL(id);
    ASSERT_NULL(ref);
    ASSERT_STREQ(bl_error_msg(e), msg);
    bl_error_free(e);
}

TEST(resolve)
{
    boxlite_runtime *rt = tap_open_runtime();
    char a[BL_DIGEST_STR_LEN + 1], b[BL_DIGEST_STR_LEN + 1];
    ASSERT_OK(commit_image(rt, "a", "amd64", LAYERS("l"),
                           REFS("docker.io/library/alpine:latest", "example.com/team/app:v1"), a,
                           &tap_last_err));
    /* another image whose id starts with the same hex digit as a's */
    char nonce[32];
    for (int i = 0;; i++) {
        ASSERT_TRUE(i < 1000);
        (void) snprintf(nonce, sizeof(nonce), "b%d", i);
        _cleanup_free_ char *m = manifest_text(nonce);
        ASSERT_OK(bl_sha256_buf(m, strlen(m), b));
        if (b[7] == a[7] && b[8] != a[8])
            break;
    }
    char b2[BL_DIGEST_STR_LEN + 1];
    ASSERT_OK(commit_image(rt, nonce, "amd64", LAYERS("l"), NULL, b2, &tap_last_err));
    ASSERT_STREQ(b2, b);

    /* references, normalised */
    resolve_ok(rt, "alpine", a, "docker.io/library/alpine:latest");
    resolve_ok(rt, "alpine:latest", a, "docker.io/library/alpine:latest");
    resolve_ok(rt, "docker.io/library/alpine", a, "docker.io/library/alpine:latest");
    resolve_ok(rt, "example.com/team/app:v1", a, "example.com/team/app:v1");
    /* ids: full, bare hex, prefixes with and without "sha256:" */
    resolve_ok(rt, a, a, NULL);
    resolve_ok(rt, a + 7, a, NULL);
    char pfx[32];
    (void) snprintf(pfx, sizeof(pfx), "%.12s", a + 7);
    resolve_ok(rt, pfx, a, NULL);
    (void) snprintf(pfx, sizeof(pfx), "sha256:%.2s", a + 7);
    resolve_ok(rt, pfx, a, NULL);
    (void) snprintf(pfx, sizeof(pfx), "%.2s", b + 7);
    resolve_ok(rt, pfx, b, NULL);
    /* ambiguous: the one digit both ids start with */
    char want[128];
    (void) snprintf(pfx, sizeof(pfx), "%.1s", a + 7);
    (void) snprintf(want, sizeof(want), "image id prefix '%s' is ambiguous", pfx);
    resolve_err(rt, pfx, -EINVAL, want);
    (void) snprintf(pfx, sizeof(pfx), "sha256:%.1s", a + 7);
    (void) snprintf(want, sizeof(want), "image id prefix '%s' is ambiguous", pfx);
    resolve_err(rt, pfx, -EINVAL, want);
    /* nothing matches */
    resolve_err(rt, "busybox", -ENOENT, "No such image: busybox");
    resolve_err(rt, "example.com/team/app:v2", -ENOENT, "No such image: example.com/team/app:v2");
    resolve_err(rt, "sha256:", -ENOENT, "No such image: sha256:");
    resolve_err(rt, "zz", -ENOENT, "No such image: zz");
    char upper[80];
    (void) snprintf(upper, sizeof(upper), "%.12s", a + 7);
    for (char *p = upper; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char) (*p - 'a' + 'A');
    if (strpbrk(upper, "ABCDEF")) {
        (void) snprintf(want, sizeof(want), "No such image: %s", upper);
        resolve_err(rt, upper, -ENOENT, want);
    }
    char longer[100];
    (void) snprintf(longer, sizeof(longer), "%s0", a + 7);
    (void) snprintf(want, sizeof(want), "No such image: %s", longer);
    resolve_err(rt, longer, -ENOENT, want);
    /* a reference can carry the id: ret_ref is optional */
    char *id = NULL;
    ASSERT_OK(bl_image_resolve(rt, "alpine", &id, NULL, &tap_last_err));
    ASSERT_STREQ(id, a);
    free(id);
    boxlite_runtime_free(rt);
}

TEST(inspect)
{
    boxlite_runtime *rt = tap_open_runtime();
    char a[BL_DIGEST_STR_LEN + 1];
    ASSERT_OK(commit_image(rt, "a", "riscv64", LAYERS("one", "two"),
                           REFS("example.com/z:2", "example.com/z:1"), a, &tap_last_err));
    char *s = NULL;
    ASSERT_OK(boxlite_image_inspect(rt, "example.com/z:1", &s, &tap_last_err));
    json_t *j = json_loads(s, 0, NULL);
    free(s);
    ASSERT_NOT_NULL(j);
    ASSERT_STREQ(json_string_value(json_object_get(j, "Id")), a);
    ASSERT_STREQ(json_string_value(json_object_get(j, "Architecture")), "riscv64");
    ASSERT_STREQ(json_string_value(json_object_get(j, "Os")), "linux");
    json_t *tags = json_object_get(j, "RepoTags");
    ASSERT_EQ(json_array_size(tags), 2);
    ASSERT_STREQ(json_string_value(json_array_get(tags, 0)), "example.com/z:1");
    json_t *layers = json_object_get(j, "Layers");
    ASSERT_EQ(json_array_size(layers), 2);
    char diff[BL_DIGEST_STR_LEN + 1], blob[BL_DIGEST_STR_LEN + 1];
    layer_digests("one", diff, blob);
    ASSERT_STREQ(json_string_value(json_object_get(json_array_get(layers, 0), "DiffID")), diff);
    ASSERT_STREQ(json_string_value(json_object_get(json_array_get(layers, 0), "Digest")), blob);
    ASSERT_EQ(json_integer_value(json_object_get(j, "Size")),
              strlen("blob:one") + strlen("blob:two"));
    ASSERT_NOT_NULL(json_object_get(json_object_get(j, "Manifest"), "annotations"));
    json_decref(j);
    bl_error *e = NULL;
    s = NULL;
    ASSERT_ERR(boxlite_image_inspect(rt, "nothere", &s, &e), -ENOENT);
    ASSERT_NULL(s);
    bl_error_free(e);
    /* a blob that is not JSON */
    json_t *out = NULL;
    e = NULL;
    ASSERT_ERR(bl_image_read_blob_json(rt, blob, &out, &e), -EBADMSG);
    ASSERT_NULL(out);
    bl_error_free(e);
    e = NULL;
    ASSERT_TRUE(bl_store_open_blob(rt,
                                   "sha256:00000000000000000000000000000000000000000000000000"
                                   "00000000000000",
                                   &e) == -ENOENT);
    bl_error_free(e);
    boxlite_runtime_free(rt);
}

struct removed {
    char what[8][80];
    int kind[8];
    int n;
};

static void on_removed(int kind, const char *value, void *userdata)
{
    struct removed *r = userdata;
    if (r->n < 8) {
        r->kind[r->n] = kind;
        (void) snprintf(r->what[r->n], sizeof(r->what[0]), "%s", value);
    }
    r->n++;
}

TEST(remove_untag_then_delete)
{
    boxlite_runtime *rt = tap_open_runtime();
    char a[BL_DIGEST_STR_LEN + 1];
    ASSERT_OK(commit_image(rt, "a", "amd64", LAYERS("l1", "l2"),
                           REFS("example.com/a:1", "example.com/a:2"), a, &tap_last_err));
    struct removed rm = {0};
    /* one of two references: untagged only */
    ASSERT_OK(boxlite_image_remove(rt, "example.com/a:1", 0, on_removed, &rm, &tap_last_err));
    ASSERT_EQ(rm.n, 1);
    ASSERT_EQ(rm.kind[0], BOXLITE_IMAGE_UNTAGGED);
    ASSERT_STREQ(rm.what[0], "example.com/a:1");
    ASSERT_EQ(count_sql(rt, "SELECT COUNT(*) FROM images", NULL), 1);
    ASSERT_EQ(count_entries(rt->layers_fd), 2);
    ASSERT_OK(store_consistent(rt));
    /* the last reference: untagged and deleted, layers and blobs collected */
    rm = (struct removed){0};
    ASSERT_OK(boxlite_image_remove(rt, "example.com/a:2", 0, on_removed, &rm, &tap_last_err));
    ASSERT_EQ(rm.n, 2);
    ASSERT_EQ(rm.kind[0], BOXLITE_IMAGE_UNTAGGED);
    ASSERT_STREQ(rm.what[0], "example.com/a:2");
    ASSERT_EQ(rm.kind[1], BOXLITE_IMAGE_DELETED);
    ASSERT_STREQ(rm.what[1], a);
    ASSERT_EQ(count_sql(rt, "SELECT COUNT(*) FROM images", NULL), 0);
    ASSERT_EQ(count_sql(rt, "SELECT COUNT(*) FROM layers", NULL), 0);
    ASSERT_EQ(count_sql(rt, "SELECT COUNT(*) FROM image_layers", NULL), 0);
    ASSERT_EQ(count_entries(rt->layers_fd), 0);
    ASSERT_EQ(count_entries(rt->blobs_fd), 0);
    ASSERT_OK(store_consistent(rt));
    /* gone */
    bl_error *e = NULL;
    ASSERT_ERR(boxlite_image_remove(rt, "example.com/a:2", 0, NULL, NULL, &e), -ENOENT);
    ASSERT_STREQ(bl_error_msg(e), "No such image: example.com/a:2");
    bl_error_free(e);
    e = NULL;
    ASSERT_ERR(boxlite_image_remove(rt, NULL, 0, NULL, NULL, &e), -EINVAL);
    bl_error_free(e);
    ASSERT_EQ(count_entries(rt->tmp_fd), 0);
    boxlite_runtime_free(rt);
}

TEST(remove_by_id)
{
    boxlite_runtime *rt = tap_open_runtime();
    char a[BL_DIGEST_STR_LEN + 1], u[BL_DIGEST_STR_LEN + 1];
    ASSERT_OK(commit_image(rt, "a", "amd64", LAYERS("l1"),
                           REFS("example.com/a:1", "example.com/a:2"), a, &tap_last_err));
    ASSERT_OK(commit_image(rt, "u", "amd64", LAYERS("l2"), NULL, u, &tap_last_err));
    /* an id with several references is refused without force */
    bl_error *e = NULL;
    char want[256];
    (void) snprintf(want, sizeof(want),
                    "unable to remove image '%s': image is referenced in multiple repositories "
                    "(use -f to force)",
                    a);
    ASSERT_ERR(boxlite_image_remove(rt, a, 0, NULL, NULL, &e), -EBUSY);
    ASSERT_STREQ(bl_error_msg(e), want);
    bl_error_free(e);
    ASSERT_EQ(count_sql(rt, "SELECT COUNT(*) FROM image_refs", NULL), 2);
    ASSERT_OK(store_consistent(rt));
    /* forced: every reference untagged, then deleted */
    struct removed rm = {0};
    ASSERT_OK(boxlite_image_remove(rt, a + 7, BOXLITE_IMAGE_REMOVE_FORCE, on_removed, &rm,
                                   &tap_last_err));
    ASSERT_EQ(rm.n, 3);
    ASSERT_TRUE(rm.kind[0] == BOXLITE_IMAGE_UNTAGGED && rm.kind[1] == BOXLITE_IMAGE_UNTAGGED);
    ASSERT_EQ(rm.kind[2], BOXLITE_IMAGE_DELETED);
    ASSERT_STREQ(rm.what[2], a);
    ASSERT_OK(store_consistent(rt));
    ASSERT_EQ(count_sql(rt, "SELECT COUNT(*) FROM images", NULL), 1);
    /* an untagged image, by prefix: deleted, nothing untagged */
    rm = (struct removed){0};
    char pfx[16];
    (void) snprintf(pfx, sizeof(pfx), "%.10s", u + 7);
    ASSERT_OK(boxlite_image_remove(rt, pfx, 0, on_removed, &rm, &tap_last_err));
    ASSERT_EQ(rm.n, 1);
    ASSERT_EQ(rm.kind[0], BOXLITE_IMAGE_DELETED);
    ASSERT_STREQ(rm.what[0], u);
    ASSERT_EQ(count_entries(rt->blobs_fd), 0);
    ASSERT_EQ(count_entries(rt->layers_fd), 0);
    ASSERT_OK(store_consistent(rt));
    boxlite_runtime_free(rt);
}

static void add_box(struct boxlite_runtime *rt, const char *box, const char *image,
                    const char *diff_id)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    ASSERT_OK(bl_store_prepare(rt->store,
                               "INSERT INTO boxes(id, image_id, created_at, config, status) "
                               "VALUES (?, ?, 1, '{}', 'configured')",
                               &st, &tap_last_err));
    bl_stmt_bind_text(st, 1, box);
    bl_stmt_bind_text(st, 2, image);
    ASSERT_EQ(sqlite3_step(st), SQLITE_DONE);
    if (diff_id) {
        _cleanup_stmt_ sqlite3_stmt *bl = NULL;
        ASSERT_OK(bl_store_prepare(rt->store,
                                   "INSERT INTO box_layers(box_id, idx, diff_id) VALUES (?, 0, ?)",
                                   &bl, &tap_last_err));
        bl_stmt_bind_text(bl, 1, box);
        bl_stmt_bind_text(bl, 2, diff_id);
        ASSERT_EQ(sqlite3_step(bl), SQLITE_DONE);
    }
}

TEST(remove_in_use)
{
    boxlite_runtime *rt = tap_open_runtime();
    char a[BL_DIGEST_STR_LEN + 1];
    ASSERT_OK(commit_image(rt, "a", "amd64", LAYERS("shared", "own"),
                           REFS("example.com/a:1", "example.com/a:2"), a, &tap_last_err));
    char shared[BL_DIGEST_STR_LEN + 1], shared_blob[BL_DIGEST_STR_LEN + 1];
    char own[BL_DIGEST_STR_LEN + 1], own_blob[BL_DIGEST_STR_LEN + 1];
    layer_digests("shared", shared, shared_blob);
    layer_digests("own", own, own_blob);
    add_box(rt, "box1234567890", a, shared);
    /* untagging one of two references of an image in use is allowed */
    ASSERT_OK(boxlite_image_remove(rt, "example.com/a:1", 0, NULL, NULL, &tap_last_err));
    /* deleting it is not */
    bl_error *e = NULL;
    ASSERT_ERR(boxlite_image_remove(rt, "example.com/a:2", 0, NULL, NULL, &e), -EBUSY);
    ASSERT_STREQ(bl_error_msg(e), "unable to remove image 'example.com/a:2': image is in use by "
                                  "box box1234567890 (use -f to force)");
    bl_error_free(e);
    e = NULL;
    ASSERT_ERR(boxlite_image_remove(rt, a, 0, NULL, NULL, &e), -EBUSY);
    bl_error_free(e);
    ASSERT_EQ(count_sql(rt, "SELECT COUNT(*) FROM image_refs", NULL), 1);
    ASSERT_OK(store_consistent(rt));
    ASSERT_EQ(count_entries(rt->tmp_fd), 0);
    /* forced: the image goes, the layer the box uses stays (with its blob) */
    ASSERT_OK(boxlite_image_remove(rt, "example.com/a:2", BOXLITE_IMAGE_REMOVE_FORCE, NULL, NULL,
                                   &tap_last_err));
    ASSERT_EQ(count_sql(rt, "SELECT COUNT(*) FROM images", NULL), 0);
    ASSERT_TRUE(has_layer_dir(rt, shared));
    ASSERT_TRUE(bl_store_has_blob(rt, shared_blob));
    ASSERT_TRUE(!has_layer_dir(rt, own));
    ASSERT_TRUE(!bl_store_has_blob(rt, own_blob));
    ASSERT_TRUE(!bl_store_has_blob(rt, a));
    ASSERT_OK(store_consistent(rt));
    /* a new image on the kept layer finds it in the store */
    ASSERT_OK(commit_image(rt, "c", "amd64", LAYERS("shared"), REFS("example.com/c:1"), NULL,
                           &tap_last_err));
    ASSERT_OK(store_consistent(rt));
    boxlite_runtime_free(rt);
}

TEST(gc_shared_layers_and_blobs)
{
    boxlite_runtime *rt = tap_open_runtime();
    char a[BL_DIGEST_STR_LEN + 1], b[BL_DIGEST_STR_LEN + 1];
    /* same config (same arch): the config blob is shared too */
    ASSERT_OK(commit_image(rt, "a", "amd64", LAYERS("l1", "l2"), REFS("example.com/a:1"), a,
                           &tap_last_err));
    ASSERT_OK(commit_image(rt, "b", "amd64", LAYERS("l2", "l3"), REFS("example.com/b:1"), b,
                           &tap_last_err));
    ASSERT_EQ(count_entries(rt->layers_fd), 3);
    ASSERT_EQ(count_entries(rt->blobs_fd), 6); /* 2 manifests, 1 config, 3 layer blobs */
    char d1[BL_DIGEST_STR_LEN + 1], b1[BL_DIGEST_STR_LEN + 1];
    char d2[BL_DIGEST_STR_LEN + 1], b2[BL_DIGEST_STR_LEN + 1];
    layer_digests("l1", d1, b1);
    layer_digests("l2", d2, b2);
    ASSERT_OK(boxlite_image_remove(rt, "example.com/a:1", 0, NULL, NULL, &tap_last_err));
    ASSERT_TRUE(!has_layer_dir(rt, d1) && !bl_store_has_blob(rt, b1));
    ASSERT_TRUE(has_layer_dir(rt, d2) && bl_store_has_blob(rt, b2));
    ASSERT_TRUE(!bl_store_has_blob(rt, a));
    ASSERT_EQ(count_entries(rt->layers_fd), 2);
    ASSERT_EQ(count_entries(rt->blobs_fd), 4); /* b's manifest, the config, l2, l3 */
    ASSERT_OK(store_consistent(rt));
    ASSERT_OK(boxlite_image_remove(rt, "example.com/b:1", 0, NULL, NULL, &tap_last_err));
    ASSERT_EQ(count_entries(rt->layers_fd), 0);
    ASSERT_EQ(count_entries(rt->blobs_fd), 0);
    ASSERT_OK(store_consistent(rt));
    boxlite_runtime_free(rt);
}

TEST(commit_debris_and_eagain)
{
    boxlite_runtime *rt = tap_open_runtime();
    /* a layer directory without a row (a crash's debris) is replaced */
    char d[BL_DIGEST_STR_LEN + 1], blob[BL_DIGEST_STR_LEN + 1];
    layer_digests("l1", d, blob);
    ASSERT_OK(mkdirat(rt->layers_fd, bl_digest_hex(d), 0755));
    char junk[120];
    (void) snprintf(junk, sizeof(junk), "%s/junk", bl_digest_hex(d));
    ASSERT_OK(write_at(rt->layers_fd, junk, "junk"));
    ASSERT_OK(commit_image(rt, "a", "amd64", LAYERS("l1"), NULL, NULL, &tap_last_err));
    ASSERT_TRUE(faccessat(rt->layers_fd, junk, F_OK, 0) < 0);
    ASSERT_OK(store_consistent(rt));

    /* a layer the caller did not stage (it was in the store) and that is gone: -EAGAIN, and
     * every file already moved goes back to the stage */
    struct bl_stage stage = BL_STAGE_NULL;
    ASSERT_OK(bl_stage_new(rt, "test", &stage, &tap_last_err));
    struct bl_new_layer layers[2];
    ASSERT_OK(stage_layer(rt, stage.fd, "fresh", &layers[0], &tap_last_err));
    layer_of("vanished", &layers[1]);
    struct bl_new_image img = {.layers = layers, .n_layers = 2};
    _cleanup_free_ char *m = manifest_text("x");
    ASSERT_OK(stage_blob(stage.fd, m, img.id));
    ASSERT_OK(stage_blob(stage.fd, config_text("amd64"), img.config_digest));
    size_t staged = count_entries(stage.fd);
    ASSERT_EQ(staged, 4);
    bl_error *e = NULL;
    char want[200];
    (void) snprintf(want, sizeof(want), "layer %s was removed while the image was being stored",
                    layers[1].diff_id);
    ASSERT_ERR(bl_images_commit(rt, stage.fd, &img, 1, &e), -EAGAIN);
    ASSERT_STREQ(bl_error_msg(e), want);
    bl_error_free(e);
    ASSERT_EQ(count_entries(stage.fd), staged);
    ASSERT_TRUE(!has_layer_dir(rt, layers[0].diff_id));
    ASSERT_TRUE(!bl_store_has_blob(rt, layers[0].blob_digest));
    ASSERT_EQ(bl_store_has_layer(rt, layers[0].diff_id, &tap_last_err), 0);
    ASSERT_EQ(count_sql(rt, "SELECT COUNT(*) FROM images", NULL), 1);
    bl_stage_done(&stage);
    ASSERT_OK(store_consistent(rt));
    boxlite_runtime_free(rt);
}

static boxlite_runtime *child_open(const char *home, bl_error **err)
{
    boxlite_runtime_opts o;
    boxlite_runtime_opts_init(&o);
    o.home = home;
    boxlite_runtime *rt = NULL;
    if (boxlite_runtime_open(&o, &rt, err) < 0)
        return NULL;
    return rt;
}

enum { OP_PREPARE, OP_COMMIT, OP_REMOVE, OP_CHECK_BEFORE, OP_CHECK_COMMITTED, OP_CHECK_REMOVED };

/* In a child. OP_COMMIT/OP_REMOVE with BL_FAULT=n: TAP_RUN_OK, or TAP_RUN_FAILED when a fault
 * point failed cleanly. The others: 0 when all is well. */
static int child_run(const char *home, int op)
{
    int fds = tap_open_fds();
    bl_error *e = NULL;
    boxlite_runtime *rt = child_open(home, &e);
    int r = rt ? 0 : -1;
    int res = 1;
    if (!rt) {
        res = e && e->code < 0 ? TAP_RUN_FAILED : TAP_RUN_BUG;
        goto out;
    }
    switch (op) {
    case OP_PREPARE:
        r = commit_image(rt, "a", "amd64", LAYERS("l1", "l2"),
                         REFS("example.com/a:1", "example.com/a:2"), NULL, &e);
        if (r == 0)
            r = commit_image(rt, "b", "amd64", LAYERS("l2", "l3"), REFS("example.com/b:1"), NULL,
                             &e);
        res = r < 0 ? 1 : 0;
        break;
    case OP_COMMIT:
    case OP_REMOVE:
        if (op == OP_COMMIT)
            r = commit_image(rt, "c", "arm64", LAYERS("l3", "l4", "l5"),
                             REFS("example.com/c:1", "example.com/c:2"), NULL, &e);
        else /* b's only reference: b is deleted, l3 and b's manifest collected */
            r = boxlite_image_remove(rt, "example.com/b:1", 0, NULL, NULL, &e);
        res = r == 0 ? TAP_RUN_OK : e && e->code < 0 ? TAP_RUN_FAILED : TAP_RUN_BUG;
        break;
    default: {
        int images = count_sql(rt, "SELECT COUNT(*) FROM images", NULL);
        int refs = count_sql(rt, "SELECT COUNT(*) FROM image_refs", NULL);
        int want_images = op == OP_CHECK_COMMITTED ? 3 : op == OP_CHECK_REMOVED ? 1 : 2;
        int want_refs = op == OP_CHECK_COMMITTED ? 5 : op == OP_CHECK_REMOVED ? 2 : 3;
        res = images == want_images && refs == want_refs && store_consistent(rt) == 0 ? 0 : 1;
        if (res)
            fprintf(stderr, "images %d refs %d consistent %d\n", images, refs,
                    store_consistent(rt));
        break;
    }
    }
out:
    bl_error_free(e);
    boxlite_runtime_free(rt);
    if (tap_open_fds() != fds)
        return 1;
    return res;
}

struct torture_ctx {
    const char *home;
    int op;
};

static int op_in_child(void *userdata)
{
    const struct torture_ctx *c = userdata;
    return child_run(c->home, c->op);
}

/* One of the checks (or the preparation) in a child, without faults. */
static int in_child(const char *home, int op)
{
    struct torture_ctx c = {home, op};
    return tap_in_child(op_in_child, &c);
}

static int torture_run(unsigned long n, void *userdata)
{
    const struct torture_ctx *c = userdata;
    (void) n;
    return child_run(c->home, c->op);
}

/* a failure leaves the store as it was */
static void torture_check(int result, void *userdata)
{
    const struct torture_ctx *c = userdata;
    if (result == TAP_RUN_FAILED)
        ASSERT_EQ(in_child(c->home, OP_CHECK_BEFORE), 0);
}

/* The test process itself never reaches a fault point (its children read BL_FAULT). */
static void torture(int op, int check_after)
{
    tap_require_fault_injection();
    _cleanup_free_ char *home = tap_tmp_path("home");
    ASSERT_EQ(in_child(home, OP_PREPARE), 0);
    ASSERT_EQ(in_child(home, OP_CHECK_BEFORE), 0);
    struct torture_ctx c = {home, op};
    tap_torture(&(struct tap_torture){.name = op == OP_COMMIT ? "commit" : "remove",
                                      .run = torture_run,
                                      .after = torture_check,
                                      .userdata = &c,
                                      .max_faults = 2000});
    ASSERT_EQ(in_child(home, check_after), 0);
}

TEST(oom_torture_commit)
{
    torture(OP_COMMIT, OP_CHECK_COMMITTED);
}

TEST(oom_torture_remove)
{
    torture(OP_REMOVE, OP_CHECK_REMOVED);
}

TAP_MAIN(T(commit_moves_files_and_lists), T(list_untagged_and_empty), T(resolve), T(inspect),
         T(remove_untag_then_delete), T(remove_by_id), T(remove_in_use),
         T(gc_shared_layers_and_blobs), T(commit_debris_and_eagain), T(oom_torture_commit),
         T(oom_torture_remove))
