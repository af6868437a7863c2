/* SPDX-License-Identifier: MIT */
/* boxlite list|ls|ps [-a] [-q] [--format F]: the boxes as a table, JSON or YAML. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "output.h"

enum list_opt_id {
    LIST_OPT_ALL,
    LIST_OPT_QUIET,
    LIST_OPT_FORMAT,
};

const struct cli_option cli_list_options[] = {
    {LIST_OPT_ALL, "all", 'a', NULL, "Show all boxes (default: running only)"},
    {LIST_OPT_QUIET, "quiet", 'q', NULL, "Only show IDs"},
    {LIST_OPT_FORMAT, "format", 0, "FORMAT", "table, json or yaml [default: table]"},
    CLI_OPTIONS_END,
};

struct list_opts {
    int all, quiet;
    const char *format;
};

static int parse_opt(int id, const char *arg, void *userdata)
{
    struct list_opts *o = userdata;
    switch ((enum list_opt_id) id) {
    case LIST_OPT_ALL:
        o->all = 1;
        return 0;
    case LIST_OPT_QUIET:
        o->quiet = 1;
        return 0;
    case LIST_OPT_FORMAT:
        o->format = arg;
        return 0;
    }
    return EXIT_USAGE;
}

static const char *capitalised(const char *status)
{
    if (!strcmp(status, "running"))
        return "Running";
    if (!strcmp(status, "stopped"))
        return "Stopped";
    if (!strcmp(status, "configured"))
        return "Configured";
    return "Unknown";
}

int cmd_list(const struct cli_command *cmd, int argc, char **argv)
{
    struct list_opts o = {0};
    int rc = 0;
    int ind = cli_parse(cmd, argc, argv, parse_opt, &o, &rc);
    if (ind < 0)
        return rc;
    if (ind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s' found", argv[ind]);
    enum out_format fmt = OUT_TABLE;
    if (!o.quiet && o.format && out_format_parse(o.format, &fmt) < 0)
        return EXIT_ERROR;
    _cleanup_(boxlite_runtime_freep) boxlite_runtime *rt = NULL;
    if ((rc = cli_open_runtime(&rt)) != 0)
        return rc;
    boxlite_box **list = NULL;
    size_t n = 0;
    boxlite_error *err = NULL;
    if (boxlite_box_list(rt, o.all, &list, &n, &err) < 0)
        return cli_error(err);
    if (o.quiet) {
        for (size_t i = 0; i < n; i++)
            printf("%s\n", boxlite_box_id(list[i]));
        boxlite_box_list_free(list, n);
        return EXIT_OK;
    }
    /* PORTS (docker ps style) only when some box publishes ports: without, the output is what
     * it was before boxes had networking */
    static const char *const th[] = {"ID", "IMAGE", "STATUS", "CREATED", "NAMES", "PORTS"};
    static const char *const oh[] = {"ID", "Image", "Status", "CreatedAt", "Names", "Ports"};
    enum { COLS = 6 };
    _cleanup_free_ const char **cells = calloc(n ? n * COLS : 1, sizeof(char *));
    _cleanup_free_ char *times = calloc(n ? n : 1, 64);
    _cleanup_free_ char **ports = calloc(n ? n : 1, sizeof(char *));
    if (!cells || !times || !ports) {
        boxlite_box_list_free(list, n);
        return cli_errorf("out of memory");
    }
    size_t cols = 5;
    for (size_t i = 0; i < n; i++) {
        if (boxlite_box_ports(list[i], &ports[i], &err) < 0) {
            for (size_t k = 0; k < i; k++)
                boxlite_free(ports[k]);
            boxlite_box_list_free(list, n);
            return cli_error(err);
        }
        if (*ports[i])
            cols = 6;
    }
    for (size_t i = 0; i < n; i++) {
        out_time(times + i * 64, 64, (long long) (boxlite_box_created_ns(list[i]) / 1000000000));
        const char **row = cells + i * cols;
        row[0] = boxlite_box_id(list[i]);
        row[1] = boxlite_box_image(list[i]);
        row[2] = capitalised(boxlite_box_status(list[i]));
        row[3] = times + i * 64;
        row[4] = boxlite_box_name(list[i]);
        if (cols == 6) /* an empty table cell; no "Ports" key in JSON and YAML */
            row[5] = *ports[i] ? ports[i] : NULL;
    }
    struct out_table t = {.headers = fmt == OUT_TABLE ? th : oh,
                          .cols = cols,
                          .cells = cells,
                          .rows = n,
                          .omit_null = 1};
    out_print(stdout, fmt, &t);
    for (size_t i = 0; i < n; i++)
        boxlite_free(ports[i]);
    boxlite_box_list_free(list, n);
    return EXIT_OK;
}
