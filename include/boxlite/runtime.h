/* SPDX-License-Identifier: MIT */
/*
 * The runtime: one open home directory. Any number of runtimes (in one process or many) may use
 * the same home at once; the store serialises metadata and per-box locks serialise lifecycles.
 */
#ifndef BOXLITE_RUNTIME_H
#define BOXLITE_RUNTIME_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct boxlite_runtime boxlite_runtime;

/** Log levels for the sink. */
enum {
    BOXLITE_LOG_ERROR = 0,
    BOXLITE_LOG_WARNING = 1,
    BOXLITE_LOG_INFO = 2,
    BOXLITE_LOG_DEBUG = 3
};

/** A log sink. `msg` is borrowed for the duration of the call. */
typedef void (*boxlite_log_fn)(int level, const char *msg, void *userdata);

typedef struct {
    unsigned version; /* BOXLITE_RUNTIME_OPTS_VERSION */
    const char *home; /* NULL = $BOXLITE_HOME, else the configuration's home_dir, else
                         ~/.boxlite. Must be absolute when given. */
    /* Since version 2. */
    const char *config_json;       /* optional: runtime configuration as JSON text (the CLI's
                                      --config file): "home_dir", "image_registries" with host,
                                      transport, skip_verify, search, auth, ca. Borrowed for
                                      the call; may hold secrets, which the runtime keeps in
                                      memory only. */
    const char *const *registries; /* optional NULL-terminated list of registry hosts (the
                                      CLI's --registry): each https with search=true, tried
                                      before the configured ones. Borrowed for the call. */
} boxlite_runtime_opts;

#define BOXLITE_RUNTIME_OPTS_VERSION 2
#define BOXLITE_RUNTIME_OPTS_INIT                                                                  \
    {                                                                                              \
        BOXLITE_RUNTIME_OPTS_VERSION, 0, 0, 0                                                      \
    }

/** Fill `opts` with defaults. */
BOXLITE_API void boxlite_runtime_opts_init(boxlite_runtime_opts *opts);

/**
 * Constructor. Open (creating on first use) a home directory: the store, the image and box
 * directories; repairs what a killed process left (stale staging files, dead boxes). The
 * `boxlite-shim` every box of this handle runs is found here, once: $BOXLITE_SHIM, else beside
 * the running program, else the installed libexec path (a handle opened before the shim is
 * installed reports it missing at each start).
 *
 * @param opts     options (borrowed).
 * @param ret_rt   on success a handle owned by the caller, released with boxlite_runtime_free().
 * @param err      optional; receives the error on failure.
 * @return 0, or -EINVAL (relative home, invalid configuration), -EACCES, -EIO.
 * Blocks on disk I/O. A handle may be used by one thread at a time.
 */
BOXLITE_API int boxlite_runtime_open(const boxlite_runtime_opts *opts, boxlite_runtime **ret_rt,
                                     boxlite_error **err);

/** Accessor. The absolute home directory; borrowed, valid until the runtime is freed. */
BOXLITE_API const char *boxlite_runtime_home(const boxlite_runtime *rt);

/*
 * How the ids of boxes relate to the host's, in one line: "host ids (root)"; without root,
 * a "subordinate range" from /etc/subuid and /etc/subgid (through newuidmap/newgidmap), or a
 * "single id" (the user is the box's root and its only id). Owned by the runtime.
 */
BOXLITE_API const char *boxlite_runtime_id_mapping(const boxlite_runtime *rt);

/** Install a log sink (NULL restores the default, which drops everything). Process-wide. */
BOXLITE_API void boxlite_set_log_fn(boxlite_log_fn fn, int max_level, void *userdata);

/** Destructor. NULL is a no-op. */
BOXLITE_API void boxlite_runtime_free(boxlite_runtime *rt);

#ifdef __cplusplus
}
#endif
#endif
