/* SPDX-License-Identifier: MIT */
/*
 * Images: pulling from registries, loading from archives and OCI layouts, listing, inspecting,
 * removing. Blobs are stored by sha256 and verified; each layer is unpacked once and shared by
 * every image that has it.
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
                                   boxlite_image_loaded_fn fn, void *userdata, boxlite_error **err);

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

/** Accessor. Number of layers of the image. */
BOXLITE_API size_t boxlite_image_layer_count(const boxlite_image *img);

/** Destructor for one image handle (from boxlite_image_pull()). NULL is a no-op. */
BOXLITE_API void boxlite_image_free(boxlite_image *img);

/** What is happening to one layer of a pull (boxlite_pull_progress.state). */
enum {
    BOXLITE_PULL_LAYER_WAITING = 0,     /**< queued for download */
    BOXLITE_PULL_LAYER_DOWNLOADING = 1, /**< `done` of `total` bytes received (and hashed) */
    BOXLITE_PULL_LAYER_DOWNLOADED = 2,  /**< verified; waiting to be unpacked */
    BOXLITE_PULL_LAYER_EXTRACTING = 3,  /**< being unpacked */
    BOXLITE_PULL_LAYER_DONE = 4,        /**< unpacked and verified */
    BOXLITE_PULL_LAYER_CACHED = 5       /**< already in the store: nothing to download */
};

/**
 * One progress report of boxlite_image_pull(): a layer changed state, or (while it downloads)
 * about every 100 ms. Valid for the duration of the callback only. Fields may be added at the
 * end in later versions (`version` tells which).
 */
typedef struct {
    unsigned version;   /**< BOXLITE_PULL_PROGRESS_VERSION */
    size_t layer;       /**< index of the layer in the image, 0 = base */
    size_t n_layers;    /**< layers in the image */
    const char *digest; /**< the layer's blob digest "sha256:<hex>"; borrowed */
    int state;          /**< BOXLITE_PULL_LAYER_* */
    uint64_t done;      /**< bytes downloaded so far */
    uint64_t total;     /**< size of the layer blob */
} boxlite_pull_progress;
#define BOXLITE_PULL_PROGRESS_VERSION 1

/** A progress callback; always called on the thread that called boxlite_image_pull(). */
typedef void (*boxlite_pull_progress_fn)(const boxlite_pull_progress *progress, void *userdata);

/** Options of boxlite_image_pull(). */
typedef struct {
    unsigned version;                  /**< BOXLITE_PULL_OPTS_VERSION */
    const char *platform;              /**< "os/arch[/variant]"; NULL = the host's */
    boxlite_pull_progress_fn progress; /**< optional */
    void *userdata;                    /**< passed to `progress` */
} boxlite_pull_opts;

#define BOXLITE_PULL_OPTS_VERSION 1
#define BOXLITE_PULL_OPTS_INIT                                                                     \
    {                                                                                              \
        BOXLITE_PULL_OPTS_VERSION, 0, 0, 0                                                         \
    }

/** Fill `opts` with defaults. */
BOXLITE_API void boxlite_pull_opts_init(boxlite_pull_opts *opts);

/**
 * Pull an image from a registry into the store, unless the store has it already (then nothing
 * touches the network). Blobs are verified (size and sha256) while they stream into staging;
 * layers download in parallel, a layer the store has is never downloaded again, and an
 * interrupted download resumes where it stopped. From an image index the manifest for
 * `opts->platform` (default: the host's) is taken. Registries, transports and credentials come
 * from the runtime's configuration (boxlite_runtime_opts.config_json / .registries) and
 * ~/.docker/config.json; an unqualified reference is tried at each search registry in order.
 *
 * @param rt         runtime (borrowed).
 * @param ref        image reference as the user typed it ("busybox", "host:5000/app:1",
 *                   "app@sha256:…"); borrowed.
 * @param opts       optional (NULL = defaults); borrowed for the call.
 * @param ret_image  optional; on success the image, owned by the caller, released with
 *                   boxlite_image_free(). Its reference is the normalised one pulled.
 * @param err        optional; on failure a message starting "failed to pull '<ref>'".
 * @return 0, or -ENOENT (unknown repository, tag or platform), -EACCES (unauthorized),
 *         -EHOSTUNREACH / -ETIMEDOUT (registry unreachable), -EBADMSG (digest mismatch,
 *         truncated blob), -EINVAL (bad reference or platform). On failure nothing of the image
 *         is stored. Blocks; one runtime handle is used by one thread at a time.
 */
BOXLITE_API int boxlite_image_pull(boxlite_runtime *rt, const char *ref,
                                   const boxlite_pull_opts *opts, boxlite_image **ret_image,
                                   boxlite_error **err);

#ifdef __cplusplus
}
#endif
#endif
