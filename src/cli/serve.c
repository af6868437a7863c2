/* SPDX-License-Identifier: MIT */
/* boxlite serve [--host H] [--port N] [--api-key KEY]: the REST API server (src/serve/). */
#include <errno.h>
#include <stdlib.h>

#include "cli.h"
#include "parse-util.h"
#include "serve/server.h"

enum serve_opt_id {
    SERVE_OPT_PORT,
    SERVE_OPT_HOST,
    SERVE_OPT_API_KEY,
};

const struct cli_option cli_serve_options[] = {
    {SERVE_OPT_PORT, "port", 0, "PORT", "Port to listen on [default: 8100]"},
    {SERVE_OPT_HOST, "host", 0, "HOST", "Address to bind to [default: 127.0.0.1]"},
    {SERVE_OPT_API_KEY, "api-key", 0, "API_KEY",
     "Require `Authorization: Bearer <API_KEY>` on every route but /v1/config",
     .env = "BOXLITE_SERVE_API_KEY"},
    CLI_OPTIONS_END,
};

struct serve_opts {
    unsigned port;
    const char *host;
    const char *api_key;
};

static int parse_opt(int id, const char *arg, void *userdata)
{
    struct serve_opts *o = userdata;
    switch ((enum serve_opt_id) id) {
    case SERVE_OPT_PORT: {
        int v;
        if (bl_parse_int(arg, 0, 65535, &v) < 0)
            return cli_usage_error(NULL, "invalid value '%s' for '--port <PORT>'", arg);
        o->port = (unsigned) v;
        return 0;
    }
    case SERVE_OPT_HOST:
        o->host = arg;
        return 0;
    case SERVE_OPT_API_KEY:
        o->api_key = arg;
        return 0;
    }
    return EXIT_USAGE;
}

/* Another runtime on the home of the global options (its errors are also printed). */
static int open_runtime(boxlite_runtime **ret, boxlite_error **err)
{
    (void) err;
    return cli_open_runtime(ret) == 0 ? 0 : -EIO;
}

int cmd_serve(const struct cli_command *cmd, int argc, char **argv)
{
    struct serve_opts o = {
        .port = 8100, .host = "127.0.0.1", .api_key = getenv("BOXLITE_SERVE_API_KEY")};
    int rc = 0;
    int ind = cli_parse(cmd, argc, argv, parse_opt, &o, &rc);
    if (ind < 0)
        return rc;
    if (ind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s' found", argv[ind]);
    boxlite_runtime *rt = NULL;
    if ((rc = cli_open_runtime(&rt)) != 0)
        return rc;
    struct bl_serve_opts so = {.host = o.host,
                               .port = o.port,
                               .api_key = o.api_key,
                               .first = rt,
                               .open_runtime = open_runtime};
    boxlite_error *err = NULL;
    if (bl_serve_run(&so, &err) < 0)
        return cli_error(err);
    return EXIT_OK;
}
