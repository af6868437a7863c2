/* SPDX-License-Identifier: MIT */
/*
 * The image store's rows and files: committing loaded images, listing, inspecting, removing,
 * and collecting layers and blobs nothing uses any more.
 *
 * Invariant: a row in `layers` means images/layers/<hex> is complete, and a row in `images`
 * means its manifest, config and layer blobs are in images/blobs. Files enter and leave the
 * store only inside a write transaction (the database's write lock serialises every process),
 * and each move is undone if the transaction does not commit.
 */
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "alloc-util.h"
#include "boxlite/image.h"
#include "fs-util.h"
#include "image-ref.h"
#include "image-store.h"
#include "json-util.h"
#include "strv.h"

void bl_new_image_done(struct bl_new_image *img)
{
    free(img->layers);
    bl_strv_free(img->refs);
    free(img->os);
    free(img->arch);
    *img = (struct bl_new_image){0};
}

int bl_store_has_blob(struct boxlite_runtime *rt, const char *digest)
{
    struct stat st;
    return fstatat(rt->blobs_fd, bl_digest_hex(digest), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

int bl_store_has_layer(struct boxlite_runtime *rt, const char *diff_id, bl_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = bl_store_prepare(rt->store, "SELECT 1 FROM layers WHERE diff_id = ?", &st, err);
    if (r < 0)
        return r;
    bl_stmt_bind_text(st, 1, diff_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc != SQLITE_DONE)
        return bl_store_err(rt->store, err, "look up layer");
    return 0;
}

int bl_store_open_blob(struct boxlite_runtime *rt, const char *digest, bl_error **err)
{
    int fd = openat(rt->blobs_fd, bl_digest_hex(digest), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return bl_err_errno(err, "cannot open blob %s", digest);
    return fd;
}

/* Files moved into (or out of) the store during a transaction, moved back unless disarmed. */
struct move {
    int from_fd, to_fd;
    char from[80], to[80];
};
struct undo_moves {
    struct move *m;
    size_t n;
};

static void undo_moves_run(struct undo_moves *u)
{
    for (size_t i = u->n; i > 0; i--) {
        struct move *m = &u->m[i - 1];
        (void) renameat(m->to_fd, m->to, m->from_fd, m->from);
    }
    free(u->m);
    u->m = NULL;
    u->n = 0;
}

static void undo_moves_disarm(struct undo_moves *u)
{
    free(u->m);
    u->m = NULL;
    u->n = 0;
}

static int move_file(struct undo_moves *u, int from_fd, const char *from, int to_fd, const char *to,
                     bl_error **err)
{
    struct move *nm = bl_realloc(u->m, (u->n + 1) * sizeof(*nm));
    if (!nm)
        return bl_oom(err);
    u->m = nm;
    if (renameat(from_fd, from, to_fd, to) < 0)
        return bl_err_errno(err, "cannot move '%s' into place", from);
    struct move *m = &u->m[u->n++];
    m->from_fd = from_fd;
    m->to_fd = to_fd;
    snprintf(m->from, sizeof(m->from), "%s", from);
    snprintf(m->to, sizeof(m->to), "%s", to);
    return 0;
}

static int put_blob(struct boxlite_runtime *rt, struct undo_moves *u, int stage_fd,
                    const char *digest, bl_error **err)
{
    if (bl_store_has_blob(rt, digest))
        return 0;
    char from[80];
    snprintf(from, sizeof(from), "B%s", bl_digest_hex(digest));
    return move_file(u, stage_fd, from, rt->blobs_fd, bl_digest_hex(digest), err);
}

static int step_done(struct bl_store *s, sqlite3_stmt *st, bl_error **err)
{
    int rc = sqlite3_step(st);
    (void) sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return bl_store_err(s, err, "write");
    return 0;
}

int bl_images_commit(struct boxlite_runtime *rt, int stage_fd, struct bl_new_image *imgs, size_t n,
                     bl_error **err)
{
    struct bl_store *s = rt->store;
    _cleanup_(undo_moves_run) struct undo_moves moves = {0};
    /* declared after moves: on failure the transaction rolls back first, then files move back */
    _cleanup_txn_ struct bl_txn txn = BL_TXN_NULL;
    int r = bl_txn_begin(s, &txn, err);
    if (r < 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *ins_layer = NULL, *ins_image = NULL, *ins_il = NULL,
                                *ins_ref = NULL;
    if ((r = bl_store_prepare(s,
                              "INSERT OR IGNORE INTO layers(diff_id, blob_digest, media_type, "
                              "size) VALUES (?,?,?,?)",
                              &ins_layer, err)) < 0 ||
        (r = bl_store_prepare(s,
                              "INSERT OR IGNORE INTO images(id, config_digest, size, created_at, "
                              "os, architecture) VALUES (?,?,?,?,?,?)",
                              &ins_image, err)) < 0 ||
        (r = bl_store_prepare(s,
                              "INSERT OR IGNORE INTO image_layers(image_id, idx, diff_id) "
                              "VALUES (?,?,?)",
                              &ins_il, err)) < 0 ||
        (r = bl_store_prepare(s,
                              "INSERT OR REPLACE INTO image_refs(reference, image_id, created_at) "
                              "VALUES (?,?,?)",
                              &ins_ref, err)) < 0)
        return r;
    int64_t now = (int64_t) time(NULL);
    for (size_t i = 0; i < n; i++) {
        struct bl_new_image *img = &imgs[i];
        uint64_t size = 0;
        for (size_t k = 0; k < img->n_layers; k++) {
            struct bl_new_layer *l = &img->layers[k];
            size += l->size;
            r = bl_store_has_layer(rt, l->diff_id, err);
            if (r < 0)
                return r;
            if (r == 0) {
                char from[80];
                snprintf(from, sizeof(from), "L%s", bl_digest_hex(l->diff_id));
                struct stat st;
                /* the store had this layer when the caller looked, and a remover has
                 * collected it since: the caller may prepare the image again */
                if (fstatat(stage_fd, from, &st, AT_SYMLINK_NOFOLLOW) < 0)
                    return bl_err(err, -EAGAIN,
                                  "layer %s was removed while the image was being stored",
                                  l->diff_id);
                /* a directory without a row is debris of a crash: replace it */
                (void) bl_rm_tree(rt, rt->layers_fd, bl_digest_hex(l->diff_id));
                r = move_file(&moves, stage_fd, from, rt->layers_fd, bl_digest_hex(l->diff_id),
                              err);
                if (r < 0)
                    return r;
                r = put_blob(rt, &moves, stage_fd, l->blob_digest, err);
                if (r < 0)
                    return r;
                bl_stmt_bind_text(ins_layer, 1, l->diff_id);
                bl_stmt_bind_text(ins_layer, 2, l->blob_digest);
                bl_stmt_bind_text(ins_layer, 3, l->media_type);
                sqlite3_bind_int64(ins_layer, 4, (sqlite3_int64) l->size);
                if ((r = step_done(s, ins_layer, err)) < 0)
                    return r;
            }
        }
        if ((r = put_blob(rt, &moves, stage_fd, img->id, err)) < 0 ||
            (r = put_blob(rt, &moves, stage_fd, img->config_digest, err)) < 0)
            return r;
        bl_stmt_bind_text(ins_image, 1, img->id);
        bl_stmt_bind_text(ins_image, 2, img->config_digest);
        sqlite3_bind_int64(ins_image, 3, (sqlite3_int64) size);
        sqlite3_bind_int64(ins_image, 4, now);
        bl_stmt_bind_text(ins_image, 5, img->os);
        bl_stmt_bind_text(ins_image, 6, img->arch);
        if ((r = step_done(s, ins_image, err)) < 0)
            return r;
        for (size_t k = 0; k < img->n_layers; k++) {
            bl_stmt_bind_text(ins_il, 1, img->id);
            sqlite3_bind_int(ins_il, 2, (int) k);
            bl_stmt_bind_text(ins_il, 3, img->layers[k].diff_id);
            if ((r = step_done(s, ins_il, err)) < 0)
                return r;
        }
        for (char **p = img->refs; p && *p; p++) {
            bl_stmt_bind_text(ins_ref, 1, *p);
            bl_stmt_bind_text(ins_ref, 2, img->id);
            sqlite3_bind_int64(ins_ref, 3, now);
            if ((r = step_done(s, ins_ref, err)) < 0)
                return r;
        }
    }
    r = bl_txn_commit(&txn, err);
    if (r < 0)
        return r;
    undo_moves_disarm(&moves);
    return 0;
}

/* ---- listing ---- */

struct boxlite_image {
    char *reference;
    char *id;
    char *config_digest;
    int64_t created;
    uint64_t size;
    size_t n_layers;
};

static void image_free(struct boxlite_image *i)
{
    if (!i)
        return;
    free(i->reference);
    free(i->id);
    free(i->config_digest);
    free(i);
}

BOXLITE_API void boxlite_image_list_free(boxlite_image **list, size_t n)
{
    if (!list)
        return;
    for (size_t i = 0; i < n; i++)
        image_free(list[i]);
    free(list);
}

struct image_list {
    boxlite_image **v;
    size_t n;
};
static void image_list_done(struct image_list *l)
{
    boxlite_image_list_free(l->v, l->n);
}

BOXLITE_API int boxlite_image_list(boxlite_runtime *rt, boxlite_image ***ret_list, size_t *ret_n,
                                   boxlite_error **err)
{
    if (!rt || !ret_list || !ret_n)
        return bl_err(err, -EINVAL, "invalid arguments");
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = bl_store_prepare(
        rt->store,
        "SELECT r.reference, i.id, i.config_digest, r.created_at, i.size, "
        "(SELECT COUNT(*) FROM image_layers il WHERE il.image_id = i.id) "
        "FROM image_refs r JOIN images i ON i.id = r.image_id "
        "UNION ALL SELECT NULL, i.id, i.config_digest, i.created_at, i.size, "
        "(SELECT COUNT(*) FROM image_layers il WHERE il.image_id = i.id) FROM images i "
        "WHERE NOT EXISTS (SELECT 1 FROM image_refs r WHERE r.image_id = i.id) "
        "ORDER BY 4 DESC, 1 ASC",
        &st, err);
    if (r < 0)
        return r;
    _cleanup_(image_list_done) struct image_list l = {0};
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        boxlite_image **nv = bl_realloc(l.v, (l.n + 1) * sizeof(*nv));
        if (!nv)
            return bl_oom(err);
        l.v = nv;
        struct boxlite_image *im = bl_calloc(1, sizeof(*im));
        if (!im)
            return bl_oom(err);
        l.v[l.n++] = im;
        const char *ref = bl_stmt_text(st, 0);
        im->reference = ref ? bl_strdup(ref) : NULL;
        im->id = bl_strdup(bl_stmt_text(st, 1));
        im->config_digest = bl_strdup(bl_stmt_text(st, 2));
        im->created = sqlite3_column_int64(st, 3);
        im->size = (uint64_t) sqlite3_column_int64(st, 4);
        im->n_layers = (size_t) sqlite3_column_int64(st, 5);
        if ((ref && !im->reference) || !im->id || !im->config_digest)
            return bl_oom(err);
    }
    if (rc != SQLITE_DONE)
        return bl_store_err(rt->store, err, "list images");
    *ret_list = TAKE_PTR(l.v);
    *ret_n = l.n;
    l.n = 0;
    return 0;
}

BOXLITE_API void boxlite_image_free(boxlite_image *img)
{
    image_free(img);
}

int bl_image_get(struct boxlite_runtime *rt, const char *id, const char *ref, boxlite_image **ret,
                 bl_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = bl_store_prepare(rt->store,
                             "SELECT i.config_digest, COALESCE((SELECT created_at FROM image_refs "
                             "WHERE reference = ?2 AND image_id = i.id), i.created_at), i.size, "
                             "(SELECT COUNT(*) FROM image_layers il WHERE il.image_id = i.id) "
                             "FROM images i WHERE i.id = ?1",
                             &st, err);
    if (r < 0)
        return r;
    bl_stmt_bind_text(st, 1, id);
    bl_stmt_bind_text(st, 2, ref);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return bl_err(err, -ENOENT, "No such image: %s", id);
    if (rc != SQLITE_ROW)
        return bl_store_err(rt->store, err, "read image");
    struct boxlite_image *im = bl_calloc(1, sizeof(*im));
    if (!im)
        return bl_oom(err);
    im->reference = ref ? bl_strdup(ref) : NULL;
    im->id = bl_strdup(id);
    im->config_digest = bl_strdup(bl_stmt_text(st, 0));
    im->created = sqlite3_column_int64(st, 1);
    im->size = (uint64_t) sqlite3_column_int64(st, 2);
    im->n_layers = (size_t) sqlite3_column_int64(st, 3);
    if ((ref && !im->reference) || !im->id || !im->config_digest) {
        image_free(im);
        return bl_oom(err);
    }
    *ret = im;
    return 0;
}

BOXLITE_API size_t boxlite_image_layer_count(const boxlite_image *img)
{
    return img ? img->n_layers : 0;
}

BOXLITE_API const char *boxlite_image_reference(const boxlite_image *img)
{
    return img ? img->reference : NULL;
}
BOXLITE_API const char *boxlite_image_id(const boxlite_image *img)
{
    return img ? img->id : NULL;
}
BOXLITE_API const char *boxlite_image_config_digest(const boxlite_image *img)
{
    return img ? img->config_digest : NULL;
}
BOXLITE_API int64_t boxlite_image_created(const boxlite_image *img)
{
    return img ? img->created : 0;
}
BOXLITE_API uint64_t boxlite_image_size(const boxlite_image *img)
{
    return img ? img->size : 0;
}

/* ---- resolving a user's IMAGE argument ---- */

/* Finds the image an argument names: a reference (normalised), else an id or unique id prefix
 * ("sha256:abc…" or "abc…"). Sets *ret_id and, when a reference matched, *ret_ref. */
int bl_image_resolve(struct boxlite_runtime *rt, const char *arg, char **ret_id, char **ret_ref,
                     bl_error **err)
{
    struct bl_image_ref ref = BL_IMAGE_REF_NULL;
    if (bl_image_ref_parse(arg, &ref, NULL) == 0) {
        _cleanup_free_ char *norm = bl_image_ref_format(&ref);
        bl_image_ref_done(&ref);
        if (!norm)
            return bl_oom(err);
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = bl_store_prepare(rt->store, "SELECT image_id FROM image_refs WHERE reference = ?",
                                 &st, err);
        if (r < 0)
            return r;
        bl_stmt_bind_text(st, 1, norm);
        if (sqlite3_step(st) == SQLITE_ROW) {
            char *id = bl_strdup(bl_stmt_text(st, 0));
            if (!id)
                return bl_oom(err);
            *ret_id = id;
            if (ret_ref)
                *ret_ref = TAKE_PTR(norm);
            return 0;
        }
    }
    const char *hex = strncmp(arg, "sha256:", 7) == 0 ? arg + 7 : arg;
    size_t len = strlen(hex);
    int ok = len > 0 && len <= BL_DIGEST_HEX_LEN;
    for (size_t i = 0; ok && i < len; i++)
        ok = (hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f');
    if (ok) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = bl_store_prepare(
            rt->store, "SELECT id FROM images WHERE substr(id, 8, ?) = ? LIMIT 2", &st, err);
        if (r < 0)
            return r;
        sqlite3_bind_int(st, 1, (int) len);
        bl_stmt_bind_text(st, 2, hex);
        _cleanup_free_ char *id = NULL;
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (id)
                return bl_err(err, -EINVAL, "image id prefix '%s' is ambiguous", arg);
            id = bl_strdup(bl_stmt_text(st, 0));
            if (!id)
                return bl_oom(err);
        }
        if (id) {
            *ret_id = TAKE_PTR(id);
            return 0;
        }
    }
    return bl_err(err, -ENOENT, "No such image: %s", arg);
}

/* ---- inspect ---- */

int bl_image_read_blob_json(struct boxlite_runtime *rt, const char *digest, json_t **ret,
                            bl_error **err)
{
    _cleanup_close_ int fd = bl_store_open_blob(rt, digest, err);
    if (fd < 0)
        return fd;
    _cleanup_free_ char *buf = NULL;
    size_t len;
    int r = bl_read_full_fd(fd, 16u << 20, &buf, &len);
    if (r < 0)
        return bl_err_code(err, r, "cannot read blob %s", digest);
    json_t *j = json_loadb(buf, len, 0, NULL);
    if (!j)
        return bl_err(err, -EBADMSG, "blob %s is not valid JSON", digest);
    *ret = j;
    return 0;
}

BOXLITE_API int boxlite_image_inspect(boxlite_runtime *rt, const char *image, char **ret_json,
                                      boxlite_error **err)
{
    if (!rt || !image || !ret_json)
        return bl_err(err, -EINVAL, "invalid arguments");
    _cleanup_free_ char *id = NULL;
    int r = bl_image_resolve(rt, image, &id, NULL, err);
    if (r < 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    r = bl_store_prepare(
        rt->store, "SELECT config_digest, size, created_at FROM images WHERE id = ?", &st, err);
    if (r < 0)
        return r;
    bl_stmt_bind_text(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW)
        return bl_err(err, -ENOENT, "No such image: %s", image);
    _cleanup_json_ json_t *config = NULL, *manifest = NULL;
    if ((r = bl_image_read_blob_json(rt, bl_stmt_text(st, 0), &config, err)) < 0 ||
        (r = bl_image_read_blob_json(rt, id, &manifest, err)) < 0)
        return r;
    _cleanup_json_ json_t *o = json_object();
    _cleanup_json_ json_t *tags = json_array();
    _cleanup_json_ json_t *layers = json_array();
    if (!o || !tags || !layers)
        return bl_oom(err);
    _cleanup_stmt_ sqlite3_stmt *rs = NULL;
    r = bl_store_prepare(rt->store,
                         "SELECT reference FROM image_refs WHERE image_id = ? ORDER BY reference",
                         &rs, err);
    if (r < 0)
        return r;
    bl_stmt_bind_text(rs, 1, id);
    while (sqlite3_step(rs) == SQLITE_ROW)
        json_array_append_new(tags, json_string(bl_stmt_text(rs, 0)));
    _cleanup_stmt_ sqlite3_stmt *ls = NULL;
    r = bl_store_prepare(rt->store,
                         "SELECT l.blob_digest, l.diff_id, l.media_type, l.size FROM image_layers "
                         "il JOIN layers l ON l.diff_id = il.diff_id WHERE il.image_id = ? "
                         "ORDER BY il.idx",
                         &ls, err);
    if (r < 0)
        return r;
    bl_stmt_bind_text(ls, 1, id);
    while (sqlite3_step(ls) == SQLITE_ROW)
        json_array_append_new(layers, json_pack("{s:s,s:s,s:s?,s:I}", "Digest", bl_stmt_text(ls, 0),
                                                "DiffID", bl_stmt_text(ls, 1), "MediaType",
                                                bl_stmt_text(ls, 2), "Size",
                                                (json_int_t) sqlite3_column_int64(ls, 3)));
    time_t created = (time_t) sqlite3_column_int64(st, 2);
    char when[64];
    struct tm tm;
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&created, &tm));
    json_t *cfg = json_object_get(config, "config");
    json_object_set_new(o, "Id", json_string(id));
    json_object_set(o, "RepoTags", tags);
    json_object_set_new(o, "Digest", json_string(id));
    json_object_set_new(o, "ConfigDigest", json_string(bl_stmt_text(st, 0)));
    json_object_set(o, "Created", json_object_get(config, "created") ?: json_null());
    json_object_set_new(o, "Loaded", json_string(when));
    json_object_set(o, "Architecture", json_object_get(config, "architecture") ?: json_null());
    json_object_set(o, "Os", json_object_get(config, "os") ?: json_null());
    json_object_set(o, "Config", cfg ? cfg : json_object());
    json_object_set(o, "RootFS", json_object_get(config, "rootfs") ?: json_null());
    json_object_set(o, "Layers", layers);
    json_object_set_new(o, "Size", json_integer(sqlite3_column_int64(st, 1)));
    json_object_set(o, "Manifest", manifest);
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!s)
        return bl_oom(err);
    *ret_json = s;
    return 0;
}

/* ---- remove and garbage collection ---- */

/* Inside the caller's transaction: drop rows of layers no image or box uses and move their
 * directories and blobs (and the given image's manifest/config blobs when unused) into `gc`. */
static int collect_garbage(struct boxlite_runtime *rt, struct undo_moves *moves, int gc_fd,
                           bl_error **err)
{
    struct bl_store *s = rt->store;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = bl_store_prepare(s,
                             "SELECT diff_id, blob_digest FROM layers WHERE diff_id NOT IN "
                             "(SELECT diff_id FROM image_layers) AND diff_id NOT IN "
                             "(SELECT diff_id FROM box_layers)",
                             &st, err);
    if (r < 0)
        return r;
    unsigned long k = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *diff = bl_stmt_text(st, 0);
        char to[80];
        snprintf(to, sizeof(to), "l%lu", k++);
        if (faccessat(rt->layers_fd, bl_digest_hex(diff), F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
            r = move_file(moves, rt->layers_fd, bl_digest_hex(diff), gc_fd, to, err);
            if (r < 0)
                return r;
        }
    }
    if (rc != SQLITE_DONE)
        return bl_store_err(s, err, "find unused layers");
    r = bl_store_exec(s,
                      "DELETE FROM layers WHERE diff_id NOT IN (SELECT diff_id FROM "
                      "image_layers) AND diff_id NOT IN (SELECT diff_id FROM box_layers)",
                      err);
    if (r < 0)
        return r;
    return 0;
}

/* Move every blob that no row names into gc. Only called with the write lock held. */
static int collect_blobs(struct boxlite_runtime *rt, struct undo_moves *moves, int gc_fd,
                         char **candidates, bl_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = bl_store_prepare(rt->store,
                             "SELECT 1 WHERE EXISTS (SELECT 1 FROM images WHERE id = ?1 OR "
                             "config_digest = ?1) OR EXISTS (SELECT 1 FROM layers WHERE "
                             "blob_digest = ?1)",
                             &st, err);
    if (r < 0)
        return r;
    unsigned long k = 0;
    for (char **c = candidates; c && *c; c++) {
        bl_stmt_bind_text(st, 1, *c);
        int rc = sqlite3_step(st);
        (void) sqlite3_reset(st);
        if (rc == SQLITE_ROW)
            continue;
        if (rc != SQLITE_DONE)
            return bl_store_err(rt->store, err, "check blob use");
        if (!bl_store_has_blob(rt, *c))
            continue;
        char to[80];
        snprintf(to, sizeof(to), "b%lu", k++);
        r = move_file(moves, rt->blobs_fd, bl_digest_hex(*c), gc_fd, to, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int image_blobs(struct bl_store *s, const char *id, char ***ret, bl_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = bl_store_prepare(s,
                             "SELECT id FROM images WHERE id = ?1 UNION SELECT config_digest "
                             "FROM images WHERE id = ?1 UNION SELECT l.blob_digest FROM "
                             "image_layers il JOIN layers l ON l.diff_id = il.diff_id WHERE "
                             "il.image_id = ?1",
                             &st, err);
    if (r < 0)
        return r;
    bl_stmt_bind_text(st, 1, id);
    while (sqlite3_step(st) == SQLITE_ROW)
        if (bl_strv_push(ret, bl_stmt_text(st, 0)) < 0)
            return bl_oom(err);
    return 0;
}

static int exec_bind(struct bl_store *s, const char *sql, const char *arg, bl_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = bl_store_prepare(s, sql, &st, err);
    if (r < 0)
        return r;
    bl_stmt_bind_text(st, 1, arg);
    return step_done(s, st, err);
}

static int count_query(struct bl_store *s, const char *sql, const char *arg, char **first,
                       bl_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = bl_store_prepare(s, sql, &st, err);
    if (r < 0)
        return r;
    bl_stmt_bind_text(st, 1, arg);
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n++ == 0 && first && !(*first = bl_strdup(bl_stmt_text(st, 0))))
            return bl_oom(err);
    }
    if (rc != SQLITE_DONE)
        return bl_store_err(s, err, "query");
    return n;
}

BOXLITE_API int boxlite_image_remove(boxlite_runtime *rt, const char *image, int flags,
                                     boxlite_image_removed_fn fn, void *userdata,
                                     boxlite_error **err)
{
    if (!rt || !image)
        return bl_err(err, -EINVAL, "invalid arguments");
    int force = flags & BOXLITE_IMAGE_REMOVE_FORCE;
    struct bl_store *s = rt->store;
    _cleanup_stage_ struct bl_stage gc = BL_STAGE_NULL;
    int r = bl_stage_new(rt, "gc", &gc, err);
    if (r < 0)
        return r;
    _cleanup_(undo_moves_run) struct undo_moves moves = {0};
    _cleanup_txn_ struct bl_txn txn = BL_TXN_NULL;
    r = bl_txn_begin(s, &txn, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *id = NULL, *ref = NULL;
    r = bl_image_resolve(rt, image, &id, &ref, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *box = NULL;
    r = count_query(s, "SELECT id FROM boxes WHERE image_id = ?", id, &box, err);
    if (r < 0)
        return r;
    int n_refs =
        count_query(s, "SELECT reference FROM image_refs WHERE image_id = ?", id, NULL, err);
    if (n_refs < 0)
        return n_refs;
    int delete_image = !ref || n_refs <= 1;
    if (r > 0 && delete_image && !force)
        return bl_err(err, -EBUSY,
                      "unable to remove image '%s': image is in use by box %s (use -f to force)",
                      image, box);
    if (!ref && n_refs > 1 && !force)
        return bl_err(err, -EBUSY,
                      "unable to remove image '%s': image is referenced in multiple "
                      "repositories (use -f to force)",
                      image);
    _cleanup_strv_free_ char **untagged = NULL;
    if (ref) {
        if (bl_strv_push(&untagged, ref) < 0)
            return bl_oom(err);
        r = exec_bind(s, "DELETE FROM image_refs WHERE reference = ?", ref, err);
    } else {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        r = bl_store_prepare(s, "SELECT reference FROM image_refs WHERE image_id = ?", &st, err);
        if (r < 0)
            return r;
        bl_stmt_bind_text(st, 1, id);
        while (sqlite3_step(st) == SQLITE_ROW)
            if (bl_strv_push(&untagged, bl_stmt_text(st, 0)) < 0)
                return bl_oom(err);
        r = exec_bind(s, "DELETE FROM image_refs WHERE image_id = ?", id, err);
    }
    if (r < 0)
        return r;
    _cleanup_strv_free_ char **blobs = NULL;
    if (delete_image) {
        r = image_blobs(s, id, &blobs, err);
        if (r < 0)
            return r;
        if ((r = exec_bind(s, "DELETE FROM image_layers WHERE image_id = ?", id, err)) < 0 ||
            (r = exec_bind(s, "DELETE FROM images WHERE id = ?", id, err)) < 0)
            return r;
        r = collect_garbage(rt, &moves, gc.fd, err);
        if (r < 0)
            return r;
        r = collect_blobs(rt, &moves, gc.fd, blobs, err);
        if (r < 0)
            return r;
    }
    r = bl_txn_commit(&txn, err);
    if (r < 0)
        return r;
    undo_moves_disarm(&moves);
    for (char **p = untagged; fn && p && *p; p++)
        fn(BOXLITE_IMAGE_UNTAGGED, *p, userdata);
    if (fn && delete_image)
        fn(BOXLITE_IMAGE_DELETED, id, userdata);
    return 0;
}
