/* SPDX-License-Identifier: MIT */
/*
 * Loading images from files: docker-archive and oci-archive tarballs (read as one stream, any
 * order of entries, optionally compressed as a whole) and OCI layout directories.
 *
 * Every file of an archive is staged once, hashed while it is written (no second pass), and
 * named by its digest in a private staging directory. Blobs the store already has are skipped
 * without being staged. Then the metadata is parsed, every digest and size is checked, missing
 * layers are unpacked in parallel (verifying their diff_id as they go), and the whole result is
 * committed in one transaction. Any failure leaves the store as it was: the staging directory is
 * removed by its cleanup.
 *
 * What pull does too lives below both: the blob sink (blob-sink.h), the unpack pool
 * (unpack-pool.h) and the OCI vocabulary (oci.h).
 */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "alloc-util.h"
#include "blob-sink.h"
#include "boxlite/image.h"
#include "fs-util.h"
#include "image-ref.h"
#include "image-store.h"
#include "json-util.h"
#include "log.h"
#include "oci.h"
#include "strv.h"
#include "unpack-pool.h"

#define MAX_METADATA (16u << 20) /* manifests, configs, indexes */
#define MAX_LINK_HOPS 16
#define STAGE_BUF (1u << 20)

struct file {
    char *name;   /* normalised path in the archive */
    char *target; /* for links: normalised path of the target */
    char digest[BL_DIGEST_STR_LEN + 1];
    uint64_t size; /* (every file is staged as B<hex of digest>: copied, or linked from the
                    * store) */
};

struct load {
    struct boxlite_runtime *rt;
    struct bl_stage stage;
    int src_dir_fd;      /* OCI layout directory source, or -1 */
    struct file **files; /* each allocated on its own: pointers to them stay valid */
    size_t n_files;
    unsigned long counter;
    struct bl_new_image *images;
    size_t n_images;
};

static void load_done(struct load *L)
{
    for (size_t i = 0; i < L->n_files; i++) {
        free(L->files[i]->name);
        free(L->files[i]->target);
        free(L->files[i]);
    }
    free(L->files);
    for (size_t i = 0; i < L->n_images; i++)
        bl_new_image_done(&L->images[i]);
    free(L->images);
    L->src_dir_fd = bl_close(L->src_dir_fd);
    bl_stage_done(&L->stage);
}

static void archive_freep(struct archive **a)
{
    if (*a)
        (void) archive_read_free(*a);
}

/* "./a//b/" -> "a/b"; NULL on OOM. */
static char *normalise_name(const char *n)
{
    char *out = bl_malloc(strlen(n) + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    const char *p = n;
    while (*p) {
        while (*p == '/')
            p++;
        const char *e = strchrnul(p, '/');
        size_t len = (size_t) (e - p);
        if (len == 0)
            break;
        if (!(len == 1 && p[0] == '.')) {
            if (o)
                out[o++] = '/';
            memcpy(out + o, p, len);
            o += len;
        }
        p = e;
    }
    out[o] = 0;
    return out;
}

/* Resolve a link target relative to the directory of `name`. */
static char *resolve_link(const char *name, const char *target, int symlink)
{
    if (!symlink || target[0] == '/')
        return normalise_name(target); /* hardlinks are relative to the archive root */
    const char *slash = strrchr(name, '/');
    _cleanup_free_ char *joined =
        bl_asprintf("%.*s/%s", slash ? (int) (slash - name) : 0, name, target);
    if (!joined)
        return NULL;
    /* fold ".." */
    _cleanup_free_ char *norm = normalise_name(joined);
    if (!norm)
        return NULL;
    char *out = bl_malloc(strlen(norm) + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (char *p = norm; *p;) {
        char *e = strchrnul(p, '/');
        size_t len = (size_t) (e - p);
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
        } else {
            if (o)
                out[o++] = '/';
            memcpy(out + o, p, len);
            o += len;
        }
        p = *e ? e + 1 : e;
    }
    out[o] = 0;
    return out;
}

static int add_file(struct load *L, struct file f, bl_error **err)
{
    struct file **n = bl_realloc(L->files, (L->n_files + 1) * sizeof(*n));
    struct file *c = bl_malloc(sizeof(*c));
    if (n)
        L->files = n;
    if (!n || !c) {
        free(c);
        free(f.name);
        free(f.target);
        return bl_oom(err);
    }
    *c = f;
    L->files[L->n_files++] = c;
    return 0;
}

static struct file *find_raw(struct load *L, const char *name)
{
    for (size_t i = L->n_files; i > 0; i--) /* a later entry wins */
        if (!strcmp(L->files[i - 1]->name, name))
            return L->files[i - 1];
    return NULL;
}

/* If `name` is "blobs/sha256/<hex>", the digest it claims. */
static int blob_name_digest(const char *name, char out[BL_DIGEST_STR_LEN + 1])
{
    if (strncmp(name, "blobs/sha256/", 13) != 0)
        return 0;
    snprintf(out, BL_DIGEST_STR_LEN + 1, "sha256:%s", name + 13);
    return bl_digest_valid(out);
}

/* A sink for the next file of an archive. */
static int sink_open(struct load *L, struct bl_blob_sink *s, bl_error **err)
{
    char name[32];
    snprintf(name, sizeof(name), "f%lu", ++L->counter);
    return bl_blob_sink_open(s, L->stage.fd, name, BL_BLOB_SINK_NO_LIMIT, err);
}

/* A blob the store has already (verified when it was stored) is not staged again: it is
 * hard-linked into the stage under its staged name. The link holds the file even if a
 * concurrent `rmi` collects the store's copy before this load commits, and the commit puts it
 * back then. 0, or -errno when the store does not have it (stage it from the source). */
static int pin_stored_blob(struct load *L, const char *digest)
{
    char n[80];
    snprintf(n, sizeof(n), "B%s", bl_digest_hex(digest));
    if (linkat(L->rt->blobs_fd, bl_digest_hex(digest), L->stage.fd, n, 0) == 0 || errno == EEXIST)
        return 0;
    return -errno;
}

static int stage_archive(struct load *L, int fd, const char *label, bl_error **err)
{
    _cleanup_(archive_freep) struct archive *a = archive_read_new();
    if (!a)
        return bl_oom(err);
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_gnutar(a);
    if (archive_read_open_fd(a, fd, STAGE_BUF) != ARCHIVE_OK)
        return bl_err(err, -EINVAL, "cannot read '%s': %s", label, archive_error_string(a));
    for (unsigned long n_entries = 0;; n_entries++) {
        struct archive_entry *e;
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF) {
            if (n_entries == 0)
                return bl_err(err, -EINVAL, "'%s' is an empty archive", label);
            break;
        }
        if (r < ARCHIVE_WARN) {
            if (n_entries == 0)
                return bl_err(err, -EINVAL, "'%s' is not a tar archive: %s", label,
                              archive_error_string(a));
            return bl_err(err, -EBADMSG, "'%s' is truncated or corrupt: %s", label,
                          archive_error_string(a));
        }
        const char *raw = archive_entry_pathname(e);
        if (!raw)
            return bl_err(err, -EINVAL, "'%s' holds an entry without a name", label);
        _cleanup_free_ char *name = normalise_name(raw);
        if (!name)
            return bl_oom(err);
        if (!*name)
            continue;
        /* libarchive gives NULL, not "", for an empty link target; a hardlink without one
         * also loses its type (tar stores none for hardlinks). Either names no file. */
        const char *hl = archive_entry_hardlink(e);
        mode_t type = archive_entry_filetype(e);
        if (!hl && type == 0)
            return bl_err(err, -EINVAL,
                          "'%s': entry '%s' has no file type (a hardlink without a target?)", label,
                          name);
        if (hl || type == AE_IFLNK) {
            const char *lt = hl ? hl : archive_entry_symlink(e);
            if (!lt || !*lt)
                return bl_err(err, -EINVAL, "'%s': link '%s' has no target", label, name);
            char *t = resolve_link(name, lt, !hl);
            if (!t)
                return bl_oom(err);
            r = add_file(L, (struct file){.name = TAKE_PTR(name), .target = t}, err);
            if (r < 0)
                return r;
            continue;
        }
        if (type != AE_IFREG)
            continue;
        char claimed[BL_DIGEST_STR_LEN + 1];
        if (blob_name_digest(name, claimed) && pin_stored_blob(L, claimed) == 0) {
            /* verified when it was stored: skip its bytes (a seek on a plain file) */
            struct file f = {.name = TAKE_PTR(name), .size = (uint64_t) archive_entry_size(e)};
            memcpy(f.digest, claimed, sizeof(claimed));
            r = add_file(L, f, err);
            if (r < 0)
                return r;
            continue;
        }
        _cleanup_(bl_blob_sink_close) struct bl_blob_sink s = BL_BLOB_SINK_NULL;
        r = sink_open(L, &s, err);
        if (r < 0)
            return r;
        for (;;) {
            const void *blk;
            size_t len;
            la_int64_t off;
            int q = archive_read_data_block(a, &blk, &len, &off);
            if (q == ARCHIVE_EOF)
                break;
            if (q < ARCHIVE_WARN)
                return bl_err(err, -EBADMSG, "'%s' is truncated or corrupt: %s", label,
                              archive_error_string(a));
            r = bl_blob_sink_write(&s, (uint64_t) off, blk, len, err);
            if (r < 0)
                return r;
        }
        if (archive_entry_size_is_set(e) && s.off < (uint64_t) archive_entry_size(e)) {
            r = bl_blob_sink_write(&s, (uint64_t) archive_entry_size(e), "", 0, err);
            if (r < 0)
                return r;
        }
        struct file f = {0};
        r = bl_blob_sink_commit(&s, NULL, f.digest, &f.size, err);
        if (r < 0)
            return r;
        f.name = TAKE_PTR(name);
        r = add_file(L, f, err);
        if (r < 0)
            return r;
    }
    return 0;
}

/* For an OCI layout directory: stage one file (validated name) on first use. */
static int stage_from_dir(struct load *L, const char *name, struct file **ret, bl_error **err)
{
    char claimed[BL_DIGEST_STR_LEN + 1];
    if (blob_name_digest(name, claimed) && pin_stored_blob(L, claimed) == 0) {
        struct file f = {.name = bl_strdup(name)};
        if (!f.name)
            return bl_oom(err);
        memcpy(f.digest, claimed, sizeof(claimed));
        struct stat st;
        if (fstatat(L->src_dir_fd, name, &st, 0) == 0)
            f.size = (uint64_t) st.st_size;
        int r = add_file(L, f, err);
        if (r < 0)
            return r;
        *ret = L->files[L->n_files - 1];
        return 0;
    }
    _cleanup_close_ int fd = openat(L->src_dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return bl_err_errno(err, "cannot open '%s'", name);
    }
    _cleanup_(bl_blob_sink_close) struct bl_blob_sink s = BL_BLOB_SINK_NULL;
    int r = sink_open(L, &s, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *buf = bl_malloc(STAGE_BUF);
    if (!buf)
        return bl_oom(err);
    for (;;) {
        ssize_t n = read(fd, buf, STAGE_BUF);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return bl_err_errno(err, "cannot read '%s'", name);
        if (n == 0)
            break;
        r = bl_blob_sink_write(&s, s.off, buf, (size_t) n, err);
        if (r < 0)
            return r;
    }
    struct file f = {.name = bl_strdup(name)};
    if (!f.name)
        return bl_oom(err);
    r = bl_blob_sink_commit(&s, NULL, f.digest, &f.size, err);
    if (r < 0) {
        free(f.name);
        return r;
    }
    r = add_file(L, f, err);
    if (r < 0)
        return r;
    *ret = L->files[L->n_files - 1];
    return 0;
}

/* Find a file by archive path, following links. NULL (and 0) when absent. */
static int find_file(struct load *L, const char *name, struct file **ret, bl_error **err)
{
    _cleanup_free_ char *cur = normalise_name(name);
    if (!cur)
        return bl_oom(err);
    for (int hop = 0; hop < MAX_LINK_HOPS; hop++) {
        struct file *f = find_raw(L, cur);
        if (!f && L->src_dir_fd >= 0) {
            if (strstr(cur, "..")) /* names come from the metadata: stay in the layout */
                return bl_err(err, -EINVAL, "invalid path '%s' in image metadata", cur);
            int r = stage_from_dir(L, cur, &f, err);
            if (r < 0)
                return r;
        }
        if (!f) {
            *ret = NULL;
            return 0;
        }
        if (!f->target) {
            char claimed[BL_DIGEST_STR_LEN + 1];
            if (blob_name_digest(f->name, claimed) && strcmp(claimed, f->digest) != 0)
                return bl_err(err, -EBADMSG, "digest mismatch for blob %s: content is %s", claimed,
                              f->digest);
            *ret = f;
            return 0;
        }
        char *t = bl_strdup(f->target);
        if (!t)
            return bl_oom(err);
        free(cur);
        cur = t;
    }
    return bl_err(err, -ELOOP, "too many levels of links at '%s'", name);
}

static int open_file(struct load *L, const struct file *f, bl_error **err)
{
    char n[80];
    snprintf(n, sizeof(n), "B%s", bl_digest_hex(f->digest));
    int fd = openat(L->stage.fd, n, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return bl_err_errno(err, "cannot open staged blob %s", f->digest);
    return fd;
}

static int read_json(struct load *L, const struct file *f, json_t **ret, bl_error **err)
{
    _cleanup_close_ int fd = open_file(L, f, err);
    if (fd < 0)
        return fd;
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    int r = bl_read_full_fd(fd, MAX_METADATA, &buf, &len);
    if (r < 0)
        return bl_err_code(err, r, "cannot read '%s'", f->name);
    json_error_t je;
    json_t *j = json_loadb(buf, len, 0, &je);
    if (!j)
        return bl_err(err, -EINVAL, "'%s' is not valid JSON: %s", f->name, je.text);
    *ret = j;
    return 0;
}

static int need_json(struct load *L, const char *name, json_t **ret, bl_error **err)
{
    struct file *f = NULL;
    int r = find_file(L, name, &f, err);
    if (r < 0)
        return r;
    if (!f)
        return bl_err(err, -ENOENT, "'%s' is missing from the archive", name);
    return read_json(L, f, ret, err);
}

static const char *sniff_media_type(struct load *L, const struct file *f)
{
    unsigned char m[4] = {0};
    _cleanup_close_ int fd = open_file(L, f, NULL);
    if (fd >= 0 && read(fd, m, sizeof(m)) == (ssize_t) sizeof(m)) {
        if (m[0] == 0x1f && m[1] == 0x8b)
            return "application/vnd.oci.image.layer.v1.tar+gzip";
        if (m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd)
            return "application/vnd.oci.image.layer.v1.tar+zstd";
    }
    return "application/vnd.oci.image.layer.v1.tar";
}

static int new_image(struct load *L, struct bl_new_image **ret, bl_error **err)
{
    struct bl_new_image *n = bl_realloc(L->images, (L->n_images + 1) * sizeof(*n));
    if (!n)
        return bl_oom(err);
    L->images = n;
    L->images[L->n_images] = (struct bl_new_image){0};
    *ret = &L->images[L->n_images++];
    return 0;
}

/* Config: diff_ids and platform. */
static int take_config(struct load *L, const struct file *cf, struct bl_new_image *img,
                       json_t **ret_diff_ids, bl_error **err)
{
    _cleanup_json_ json_t *cfg = NULL;
    int r = read_json(L, cf, &cfg, err);
    if (r < 0)
        return r;
    json_t *ids = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
    if (!json_is_array(ids))
        return bl_err(err, -EINVAL, "image config %s has no rootfs.diff_ids", cf->digest);
    const char *os = json_string_value(json_object_get(cfg, "os"));
    const char *arch = json_string_value(json_object_get(cfg, "architecture"));
    img->os = bl_strdup(os ? os : "linux");
    img->arch = bl_strdup(arch ? arch : "amd64");
    if (!img->os || !img->arch)
        return bl_oom(err);
    memcpy(img->config_digest, cf->digest, sizeof(img->config_digest));
    *ret_diff_ids = json_incref(ids);
    return 0;
}

static int set_layer(struct bl_new_layer *l, json_t *diff_ids, size_t i, const struct file *f,
                     const char *mt, bl_error **err)
{
    const char *d = json_string_value(json_array_get(diff_ids, i));
    if (!bl_digest_valid(d))
        return bl_err(err, -EINVAL, "image config has an invalid diff_id '%s'", d ? d : "");
    memcpy(l->diff_id, d, sizeof(l->diff_id));
    memcpy(l->blob_digest, f->digest, sizeof(l->blob_digest));
    l->size = f->size;
    l->media_type = mt;
    return 0;
}

static int add_ref(struct bl_new_image *img, const char *s, bl_error **err)
{
    struct bl_image_ref ref = BL_IMAGE_REF_NULL;
    int r = bl_image_ref_parse(s, &ref, err);
    if (r < 0)
        return r;
    char *f = bl_image_ref_format(&ref);
    bl_image_ref_done(&ref);
    if (!f)
        return bl_oom(err);
    if (bl_strv_consume(&img->refs, f) < 0)
        return bl_oom(err);
    return 0;
}

/* Write a blob made in memory (a synthesised manifest) into the stage. */
static int stage_buffer(struct load *L, const char *data, size_t len,
                        char digest[BL_DIGEST_STR_LEN + 1], bl_error **err)
{
    _cleanup_(bl_blob_sink_close) struct bl_blob_sink s = BL_BLOB_SINK_NULL;
    int r = sink_open(L, &s, err);
    if (r < 0)
        return r;
    r = bl_blob_sink_write(&s, 0, data, len, err);
    if (r < 0)
        return r;
    uint64_t size;
    return bl_blob_sink_commit(&s, NULL, digest, &size, err);
}

static int parse_docker_archive(struct load *L, bl_error **err)
{
    _cleanup_json_ json_t *m = NULL;
    int r = need_json(L, "manifest.json", &m, err);
    if (r < 0)
        return r;
    if (!json_is_array(m) || json_array_size(m) == 0)
        return bl_err(err, -EINVAL, "manifest.json lists no images");
    size_t i;
    json_t *entry;
    json_array_foreach(m, i, entry)
    {
        const char *cfgname = json_string_value(json_object_get(entry, "Config"));
        json_t *layers = json_object_get(entry, "Layers");
        if (!cfgname || !json_is_array(layers))
            return bl_err(err, -EINVAL, "manifest.json entry %zu lacks Config or Layers", i);
        struct file *cf = NULL;
        r = find_file(L, cfgname, &cf, err);
        if (r < 0)
            return r;
        if (!cf)
            return bl_err(err, -ENOENT, "config '%s' is missing from the archive", cfgname);
        struct bl_new_image *img;
        r = new_image(L, &img, err);
        if (r < 0)
            return r;
        _cleanup_json_ json_t *diff_ids = NULL;
        r = take_config(L, cf, img, &diff_ids, err);
        if (r < 0)
            return r;
        if (json_array_size(diff_ids) != json_array_size(layers))
            return bl_err(err, -EINVAL, "image config lists %zu layers, manifest.json %zu",
                          json_array_size(diff_ids), json_array_size(layers));
        img->n_layers = json_array_size(layers);
        img->layers = bl_calloc(img->n_layers ? img->n_layers : 1, sizeof(*img->layers));
        if (!img->layers)
            return bl_oom(err);
        /* synthesise the OCI manifest the image would have in a registry: its digest is the
         * image id, so the same image loaded from either archive format is one image */
        _cleanup_json_ json_t *man =
            json_pack("{s:i,s:s,s:{s:s,s:s,s:I},s:[]}", "schemaVersion", 2, "mediaType",
                      "application/vnd.oci.image.manifest.v1+json", "config", "mediaType",
                      "application/vnd.oci.image.config.v1+json", "digest", cf->digest, "size",
                      (json_int_t) cf->size, "layers");
        if (!man)
            return bl_oom(err);
        for (size_t k = 0; k < img->n_layers; k++) {
            const char *ln = json_string_value(json_array_get(layers, k));
            struct file *lf = NULL;
            r = find_file(L, ln ? ln : "", &lf, err);
            if (r < 0)
                return r;
            if (!lf)
                return bl_err(err, -ENOENT, "layer '%s' is missing from the archive", ln ? ln : "");
            r = set_layer(&img->layers[k], diff_ids, k, lf, sniff_media_type(L, lf), err);
            if (r < 0)
                return r;
            /* an uncompressed layer's digest is its diff_id: check it now, even when the store
             * already has that layer and nothing would be unpacked */
            if (!strcmp(img->layers[k].media_type, "application/vnd.oci.image.layer.v1.tar") &&
                strcmp(lf->digest, img->layers[k].diff_id) != 0)
                return bl_err(err, -EBADMSG,
                              "digest mismatch for layer '%s': content is %s, the image config "
                              "says %s",
                              ln, lf->digest, img->layers[k].diff_id);
            if (json_array_append_new(json_object_get(man, "layers"),
                                      json_pack("{s:s,s:s,s:I}", "mediaType",
                                                img->layers[k].media_type, "digest", lf->digest,
                                                "size", (json_int_t) lf->size)) < 0)
                return bl_oom(err);
        }
        _cleanup_free_ char *mtext = json_dumps(man, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!mtext)
            return bl_oom(err);
        r = stage_buffer(L, mtext, strlen(mtext), img->id, err);
        if (r < 0)
            return r;
        size_t t;
        json_t *tag;
        json_array_foreach(json_object_get(entry, "RepoTags"), t, tag)
        {
            const char *s = json_string_value(tag);
            if (!s || !strcmp(s, "<none>:<none>"))
                continue;
            r = add_ref(img, s, err);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

static int want_descriptor(json_t *d, const char *what, struct file **ret, struct load *L,
                           bl_error **err)
{
    const char *dg = json_string_value(json_object_get(d, "digest"));
    json_t *sz = json_object_get(d, "size");
    if (!bl_digest_valid(dg))
        return bl_err(err, -EINVAL, "%s descriptor has an invalid digest '%s'", what, dg ? dg : "");
    char name[128];
    snprintf(name, sizeof(name), "blobs/sha256/%s", bl_digest_hex(dg));
    struct file *f = NULL;
    int r = find_file(L, name, &f, err);
    if (r < 0)
        return r;
    if (!f)
        return bl_err(err, -ENOENT, "%s blob %s is missing from the archive", what, dg);
    if (json_is_integer(sz) && (uint64_t) json_integer_value(sz) != f->size)
        return bl_err(err, -EBADMSG, "%s blob %s has %llu bytes, its descriptor says %lld", what,
                      dg, (unsigned long long) f->size, (long long) json_integer_value(sz));
    *ret = f;
    return 0;
}

static int oci_manifest(struct load *L, json_t *desc, const char *name, bl_error **err)
{
    struct file *mf = NULL;
    int r = want_descriptor(desc, "manifest", &mf, L, err);
    if (r < 0)
        return r;
    _cleanup_json_ json_t *m = NULL;
    r = read_json(L, mf, &m, err);
    if (r < 0)
        return r;
    struct file *cf = NULL;
    r = want_descriptor(json_object_get(m, "config"), "config", &cf, L, err);
    if (r < 0)
        return r;
    struct bl_new_image *img;
    r = new_image(L, &img, err);
    if (r < 0)
        return r;
    memcpy(img->id, mf->digest, sizeof(img->id));
    _cleanup_json_ json_t *diff_ids = NULL;
    r = take_config(L, cf, img, &diff_ids, err);
    if (r < 0)
        return r;
    json_t *layers = json_object_get(m, "layers");
    if (!json_is_array(layers) || json_array_size(layers) != json_array_size(diff_ids))
        return bl_err(err, -EINVAL, "manifest %s and its config disagree on the layers",
                      mf->digest);
    img->n_layers = json_array_size(layers);
    img->layers = bl_calloc(img->n_layers ? img->n_layers : 1, sizeof(*img->layers));
    if (!img->layers)
        return bl_oom(err);
    for (size_t k = 0; k < img->n_layers; k++) {
        json_t *ld = json_array_get(layers, k);
        const char *mt = bl_layer_media_type(json_string_value(json_object_get(ld, "mediaType")));
        if (!mt)
            return bl_err(err, -ENOTSUP, "unsupported layer media type '%s'",
                          json_string_value(json_object_get(ld, "mediaType")));
        struct file *lf = NULL;
        r = want_descriptor(ld, "layer", &lf, L, err);
        if (r < 0)
            return r;
        r = set_layer(&img->layers[k], diff_ids, k, lf, mt, err);
        if (r < 0)
            return r;
    }
    if (name) {
        r = add_ref(img, name, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int is_index_type(const char *mt)
{
    return mt && (!strcmp(mt, "application/vnd.oci.image.index.v1+json") ||
                  !strcmp(mt, "application/vnd.docker.distribution.manifest.list.v2+json"));
}

/* The name an index descriptor gives its image: a full reference, or none. A bare tag
 * ("latest", as umoci writes) names no repository, so the image is loaded unnamed. */
static const char *descriptor_name(json_t *d)
{
    json_t *ann = json_object_get(d, "annotations");
    const char *full = json_string_value(json_object_get(ann, "io.containerd.image.name"));
    if (full)
        return full;
    const char *rn = json_string_value(json_object_get(ann, "org.opencontainers.image.ref.name"));
    if (rn && (strchr(rn, '/') || strchr(rn, ':')))
        return rn;
    return NULL;
}

static int oci_index(struct load *L, json_t *index, const char *name, int depth, bl_error **err)
{
    const char *os, *arch, *variant;
    bl_host_platform(&os, &arch, &variant);
    json_t *manifests = json_object_get(index, "manifests");
    if (!json_is_array(manifests) || json_array_size(manifests) == 0)
        return bl_err(err, -EINVAL, "image index lists no manifests");
    size_t i;
    json_t *d;
    int found = 0;
    json_array_foreach(manifests, i, d)
    {
        const char *mt = json_string_value(json_object_get(d, "mediaType"));
        const char *nm = depth == 0 ? descriptor_name(d) : name;
        if (depth > 0) { /* a nested index (multi-platform): the host's platform only */
            json_t *p = json_object_get(d, "platform");
            const char *pos = json_string_value(json_object_get(p, "os"));
            const char *parch = json_string_value(json_object_get(p, "architecture"));
            if (p && ((pos && strcmp(pos, os)) || (parch && strcmp(parch, arch))))
                continue;
        }
        int r;
        if (is_index_type(mt)) {
            if (depth > 2)
                return bl_err(err, -EINVAL, "image indexes nest too deep");
            struct file *f = NULL;
            r = want_descriptor(d, "index", &f, L, err);
            if (r < 0)
                return r;
            _cleanup_json_ json_t *sub = NULL;
            r = read_json(L, f, &sub, err);
            if (r < 0)
                return r;
            r = oci_index(L, sub, nm, depth + 1, err);
        } else {
            r = oci_manifest(L, d, nm, err);
        }
        if (r < 0)
            return r;
        found++;
        if (depth > 0)
            break; /* one platform per name */
    }
    if (!found)
        return bl_err(err, -ENOENT, "no image for platform %s/%s in the index", os, arch);
    return 0;
}

static int parse_oci(struct load *L, bl_error **err)
{
    _cleanup_json_ json_t *layout = NULL;
    int r = need_json(L, "oci-layout", &layout, err);
    if (r < 0)
        return r;
    const char *v = json_string_value(json_object_get(layout, "imageLayoutVersion"));
    if (!v || strncmp(v, "1.", 2) != 0)
        return bl_err(err, -ENOTSUP, "unsupported OCI layout version '%s'", v ? v : "");
    _cleanup_json_ json_t *index = NULL;
    r = need_json(L, "index.json", &index, err);
    if (r < 0)
        return r;
    return oci_index(L, index, NULL, 0, err);
}

/* Unpack, in parallel, every layer of the loaded images that the store lacks. */
static int unpack_layers(struct load *L, bl_error **err)
{
    size_t total = 0;
    for (size_t i = 0; i < L->n_images; i++)
        total += L->images[i].n_layers;
    _cleanup_(bl_unpack_pool_freep) struct bl_unpack_pool *pool = NULL;
    int r = bl_unpack_pool_new(L->rt, L->stage.fd, total, &pool, err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < L->n_images; i++)
        for (size_t k = 0; k < L->images[i].n_layers; k++) {
            const struct bl_new_layer *l = &L->images[i].layers[k];
            r = bl_store_has_layer(L->rt, l->diff_id, err);
            if (r < 0)
                return r;
            if (r > 0)
                continue;
            r = bl_unpack_pool_add(pool, l, err);
            if (r < 0)
                return r;
        }
    return bl_unpack_pool_finish(pool, err);
}

static int load_once(boxlite_runtime *rt, const char *path, int fd, boxlite_image_loaded_fn fn,
                     void *userdata, boxlite_error **err)
{
    _cleanup_close_ int in = fd; /* consumed */
    _cleanup_(load_done) struct load L = {.rt = rt, .stage = BL_STAGE_NULL, .src_dir_fd = -1};
    int r = bl_stage_new(rt, "load", &L.stage, err);
    if (r < 0)
        return r;
    const char *label = strcmp(path, "-") ? path : "stdin";
    if (strcmp(path, "-") != 0) {
        in = bl_close(in);
        in = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (in < 0)
            return bl_err_errno(err, "cannot open '%s'", path);
        struct stat st;
        if (fstat(in, &st) < 0)
            return bl_err_errno(err, "cannot stat '%s'", path);
        if (S_ISDIR(st.st_mode))
            L.src_dir_fd = TAKE_FD(in);
    }
    if (L.src_dir_fd < 0) {
        r = stage_archive(&L, in, label, err);
        if (r < 0)
            return r;
    }
    struct file *probe = NULL;
    r = find_file(&L, "manifest.json", &probe, err);
    if (r < 0)
        return r;
    if (probe)
        r = parse_docker_archive(&L, err);
    else {
        r = find_file(&L, "index.json", &probe, err);
        if (r < 0)
            return r;
        if (!probe)
            return bl_err(err, -EINVAL,
                          "'%s' is neither a docker-archive nor an OCI archive or layout "
                          "(no manifest.json or index.json)",
                          label);
        r = parse_oci(&L, err);
    }
    if (r < 0)
        return r;
    r = unpack_layers(&L, err);
    if (r < 0)
        return r;
    r = bl_images_commit(rt, L.stage.fd, L.images, L.n_images, err);
    if (r < 0)
        return r;
    for (size_t i = 0; fn && i < L.n_images; i++) {
        if (!L.images[i].refs)
            fn(L.images[i].id, userdata);
        for (char **p = L.images[i].refs; p && *p; p++)
            fn(*p, userdata);
    }
    return 0;
}

BOXLITE_API int boxlite_image_load(boxlite_runtime *rt, const char *path, int fd,
                                   boxlite_image_loaded_fn fn, void *userdata, boxlite_error **err)
{
    if (!rt || !path) {
        (void) bl_close(fd);
        return bl_err(err, -EINVAL, "runtime and path are required");
    }
    /* -EAGAIN: a concurrent remover collected a layer this load counted on; a file can be read
     * again (standard input cannot) */
    for (int attempt = 1;; attempt++) {
        bl_error *e = NULL;
        int r = load_once(rt, path, attempt == 1 ? fd : -1, fn, userdata, &e);
        if (r == -EAGAIN && attempt < 3 && strcmp(path, "-") != 0) {
            bl_error_free(e);
            continue;
        }
        if (r < 0 && err && !*err)
            *err = TAKE_PTR(e);
        bl_error_free(e);
        return r;
    }
}
