/* SPDX-License-Identifier: MIT */
/*
 * Images: loading from archives and OCI layouts, listing, inspecting, removing. Blobs are stored
 * by sha256 and verified; each layer is unpacked once and shared by every image that has it.
 */
#ifndef BOXLITE_IMAGE_H
#define BOXLITE_IMAGE_H

#include "runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One image as listed: a reference (or none) and the image it names. Opaque. */
typedef struct boxlite_image boxlite_image;

/** Called once per image loaded, with its normalised reference (or "sha256:<id>" if unnamed). */
typedef void (*boxlite_image_loaded_fn)(const char *ref, void *userdata);

/**
 * Load every image of an archive or an OCI layout directory into the store.
 *
 * @param path  a docker-archive or oci-archive tarball (uncompressed or gzip/zstd), an OCI layout
 *              directory, or "-" to read an archive from `fd`.
 * @param fd    with path "-": the archive stream (consumed: always closed); else ignored, pass -1.
 * @param fn    optional; called for each image after all of them are stored.
 * @return 0, or -EINVAL (not an archive, bad metadata), -EBADMSG (digest mismatch, truncated
 *         data), -ENOENT (missing file or blob). On failure nothing of the archive is listed
 *         and no staging file is left.
 */
BOXLITE_API int boxlite_image_load(boxlite_runtime *rt, const char *path, int fd,
                                   boxlite_image_loaded_fn fn, void *userdata,
                                   boxlite_error **err);

/**
 * List images, newest first. One entry per reference; an image without a reference is listed once
 * with a NULL reference.
 * @param ret_list  array owned by the caller, released with boxlite_image_list_free().
 */
BOXLITE_API int boxlite_image_list(boxlite_runtime *rt, boxlite_image ***ret_list, size_t *ret_n,
                                   boxlite_error **err);

/** Destructor for a list from boxlite_image_list(). NULL is a no-op. */
BOXLITE_API void boxlite_image_list_free(boxlite_image **list, size_t n);

/** Accessor. Normalised reference ("docker.io/library/busybox:latest") or NULL. Borrowed. */
BOXLITE_API const char *boxlite_image_reference(const boxlite_image *img);
/** Accessor. Manifest digest "sha256:<hex>" (the image id). Borrowed. */
BOXLITE_API const char *boxlite_image_id(const boxlite_image *img);
/** Accessor. Config digest "sha256:<hex>". Borrowed. */
BOXLITE_API const char *boxlite_image_config_digest(const boxlite_image *img);
/** Accessor. When the image was stored, seconds since the epoch. */
BOXLITE_API int64_t boxlite_image_created(const boxlite_image *img);
/** Accessor. Total size of the layer blobs in bytes. */
BOXLITE_API uint64_t boxlite_image_size(const boxlite_image *img);

/**
 * Inspect an image (reference, id or unique id prefix) as a pretty JSON object.
 * @param ret_json  owned by the caller, released with boxlite_free().
 * @return 0, -ENOENT (no such image), -EINVAL (ambiguous prefix).
 */
BOXLITE_API int boxlite_image_inspect(boxlite_runtime *rt, const char *image, char **ret_json,
                                      boxlite_error **err);

enum { BOXLITE_IMAGE_REMOVE_FORCE = 1 };

/** What boxlite_image_remove() did, one call per step: BOXLITE_IMAGE_UNTAGGED with a reference,
 * BOXLITE_IMAGE_DELETED with an image id. `value` is borrowed for the call. */
enum { BOXLITE_IMAGE_UNTAGGED = 1, BOXLITE_IMAGE_DELETED = 2 };
typedef void (*boxlite_image_removed_fn)(int what, const char *value, void *userdata);

/**
 * Remove an image: given a reference, that reference (and the image once no reference is left);
 * given an id or unique id prefix, the image and all its references. Layers and blobs that no
 * image or box uses any more are freed.
 * @param flags  BOXLITE_IMAGE_REMOVE_FORCE removes even an image a box uses (its layers stay
 *               while the box needs them) or an id with several references.
 * @param fn     optional; told each reference untagged and each image deleted.
 * @return 0, -ENOENT (no such image), -EBUSY (a box uses it), -EINVAL (ambiguous prefix).
 */
BOXLITE_API int boxlite_image_remove(boxlite_runtime *rt, const char *image, int flags,
                                     boxlite_image_removed_fn fn, void *userdata,
                                     boxlite_error **err);

#ifdef __cplusplus
}
#endif
#endif
