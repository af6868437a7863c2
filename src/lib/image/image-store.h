/* SPDX-License-Identifier: MIT */
/*
 * The image store: content-addressed blobs (images/blobs/sha256/<hex>), unpacked layers
 * (images/layers/<diff hex>), and their rows in the database. Files move into the store and out
 * of it only while the writer holds the database's write lock, so a loader and a remover in two
 * processes can never leave a row without its files or a layer deleted under a new image.
 */
#pragma once

#include <stdint.h>

#include "digest.h"
#include "runtime.h"

struct bl_new_layer {
    char diff_id[BL_DIGEST_STR_LEN + 1];
    char blob_digest[BL_DIGEST_STR_LEN + 1];
    const char *media_type; /* static string */
    uint64_t size;          /* blob size */
};

/* An image ready to be committed: its blobs are in the store or in the stage as "B<hex>", and
 * each layer is in the store or unpacked in the stage as "L<hex>". */
struct bl_new_image {
    char id[BL_DIGEST_STR_LEN + 1]; /* manifest digest */
    char config_digest[BL_DIGEST_STR_LEN + 1];
    struct bl_new_layer *layers;
    size_t n_layers;
    char **refs; /* normalised references; may be empty */
    char *os, *arch;
};

void bl_new_image_done(struct bl_new_image *img);

/* True (1) if the store already has the blob, 0 if not. */
int bl_store_has_blob(struct boxlite_runtime *rt, const char *digest);
/* True if the layer is registered (and so unpacked) in the store. */
int bl_store_has_layer(struct boxlite_runtime *rt, const char *diff_id, bl_error **err);
/* Open a stored blob read-only. */
int bl_store_open_blob(struct boxlite_runtime *rt, const char *digest, bl_error **err);

/* Find the image an argument names: a reference (normalised), else an id or unique id prefix.
 * *ret_id gets the image id; *ret_ref (if non-NULL) the matching reference or stays NULL. */
int bl_image_resolve(struct boxlite_runtime *rt, const char *arg, char **ret_id, char **ret_ref,
                     bl_error **err);
struct boxlite_image;
/* The image `id` as a public handle (release with boxlite_image_free()), listed under `ref`
 * (may be NULL). */
int bl_image_get(struct boxlite_runtime *rt, const char *id, const char *ref,
                 struct boxlite_image **ret, bl_error **err);

/*
 * The image an argument names, pulled first if the store lacks it: like bl_image_resolve()
 * (a reference, an id or a unique id prefix), and when nothing matches and `ref` is a
 * reference, boxlite_image_pull() with default options (the host's platform, no progress).
 * On success *ret_id (caller frees) is the image id. Errors as boxlite_image_pull()'s, with
 * "failed to pull '<ref>': …" messages; blocks on the network when it pulls.
 */
int bl_image_ensure(struct boxlite_runtime *rt, const char *ref, char **ret_id, bl_error **err);

struct json_t;
/* Parse a stored JSON blob (manifest, config). */
int bl_image_read_blob_json(struct boxlite_runtime *rt, const char *digest, struct json_t **ret,
                            bl_error **err);

/* Move the staged files of `imgs` into the store and register them, atomically. On failure
 * nothing is registered and nothing moved stays in the store. -EAGAIN: a layer the store had
 * when the caller checked (so it was not staged) has been removed since; prepare again. */
int bl_images_commit(struct boxlite_runtime *rt, int stage_fd, struct bl_new_image *imgs, size_t n,
                     bl_error **err);
