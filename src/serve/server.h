/* SPDX-License-Identifier: MIT */
/*
 * `boxlite serve`: the REST API (spec/cli.md §8) over HTTP/1.1, served by libmicrohttpd (loaded
 * with dlopen, src/serve/mhd-dl.c). This is what the CLI calls; see docs/design/serve.md.
 */
#pragma once

#include "boxlite/boxlite.h"
#include "error.h"

struct bl_serve_opts {
    const char *host;       /* address to bind (a name is resolved; the first address is used) */
    unsigned port;          /* 0: any free port (the listening line says which) */
    const char *api_key;    /* NULL or "": no authentication */
    boxlite_runtime *first; /* an open runtime (consumed, even on failure) */
    /* Opens another runtime on the same home, whenever the server needs one more handle (a
     * handle is used by one thread at a time). Returns 0 or a negative errno with *err set. */
    int (*open_runtime)(boxlite_runtime **ret, boxlite_error **err);
};

/*
 * Serve until SIGINT or SIGTERM, then stop accepting, finish the requests in flight, stop the
 * non-detached boxes this server started, and return 0. Prints the listening line and the
 * shutdown line on stderr. Returns a negative errno (with *err) when the server cannot start.
 */
int bl_serve_run(const struct bl_serve_opts *opts, bl_error **err);
