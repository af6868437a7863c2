/* SPDX-License-Identifier: MIT */
/* boxlite start | stop | restart BOX...: every target is tried, in order. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "parse-util.h"

enum lifecycle_opt_id {
    LIFECYCLE_OPT_TIME,
};

const struct cli_option cli_stop_options[] = {
    {LIFECYCLE_OPT_TIME, "time", 't', "SECONDS", "Seconds to wait before killing [default: 10]"},
    CLI_OPTIONS_END,
};

/* start takes -t too (and ignores it) */
const struct cli_option cli_start_options[] = {
    {LIFECYCLE_OPT_TIME, "time", 't', "SECONDS", NULL},
    CLI_OPTIONS_END,
};

struct lifecycle_opts {
    int timeout;
};

static int parse_opt(int id, const char *arg, void *userdata)
{
    struct lifecycle_opts *o = userdata;
    switch ((enum lifecycle_opt_id) id) {
    case LIFECYCLE_OPT_TIME: {
        int v;
        if (bl_parse_int(arg, 0, INT_MAX, &v) < 0)
            return cli_usage_error(NULL, "invalid value '%s' for '--time <SECONDS>'", arg);
        o->timeout = v;
        return 0;
    }
    }
    return EXIT_USAGE;
}

typedef int (*lifecycle_fn)(boxlite_runtime *rt, boxlite_box *box, const struct lifecycle_opts *o,
                            boxlite_error **err);

/* Every target is tried; exit 1 if any failed, with upstream's summary (spec/cli.md §4.7):
 * "Failed to <verb> all N" or "K of N", then each failure again. */
static int for_each_box(const struct cli_command *cmd, int argc, char **argv, const char *verb,
                        const char *ing, lifecycle_fn op)
{
    struct lifecycle_opts o = {.timeout = 10};
    int rc = 0;
    int ind = cli_parse(cmd, argc, argv, parse_opt, &o, &rc);
    if (ind < 0)
        return rc;
    if (ind >= argc)
        return cli_usage_missing(cmd, "<BOX>...");
    _cleanup_(boxlite_runtime_freep) boxlite_runtime *rt = NULL;
    if ((rc = cli_open_runtime(&rt)) != 0)
        return rc;
    /* the summary: bad[i] marks a target that failed, why[i] its reason (NULL: no memory) */
    _cleanup_free_ char **why = calloc((size_t) (argc - ind), sizeof(char *));
    _cleanup_free_ char *bad = calloc((size_t) (argc - ind), 1);
    if (!why || !bad)
        return cli_errorf("out of memory");
    int failed = 0;
    for (int i = ind; i < argc; i++) {
        _cleanup_(boxlite_box_freep) boxlite_box *box = NULL;
        _cleanup_(boxlite_error_freep) boxlite_error *err = NULL;
        if (boxlite_box_lookup(rt, argv[i], &box, &err) < 0) {
            cli_eprintf("Error: %s", boxlite_error_message(err));
            /* upstream lists an unknown box as "<t>: not found" */
            why[i - ind] = strdup(boxlite_error_code(err) == -ENOENT ? "not found"
                                                                     : boxlite_error_message(err));
            bad[i - ind] = 1;
            failed++;
            continue;
        }
        if (op(rt, box, &o, &err) < 0) {
            cli_eprintf("Error %s box '%s': %s", ing, argv[i], boxlite_error_message(err));
            why[i - ind] = strdup(boxlite_error_message(err));
            bad[i - ind] = 1;
            failed++;
            continue;
        }
        printf("%s\n", argv[i]);
        fflush(stdout);
    }
    if (failed) {
        if (failed == argc - ind)
            fprintf(stderr, "Error: Failed to %s all %d box(es)\nErrors:\n", verb, failed);
        else
            fprintf(stderr, "Error: Failed to %s %d of %d box(es)\nErrors:\n", verb, failed,
                    argc - ind);
        for (int i = 0; i < argc - ind; i++) {
            if (bad[i])
                cli_eprintf("  %s: %s", argv[ind + i], why[i] ? why[i] : "out of memory");
            free(why[i]);
        }
    }
    return failed ? EXIT_ERROR : EXIT_OK;
}

static int start_box(boxlite_runtime *rt, boxlite_box *box, const struct lifecycle_opts *o,
                     boxlite_error **err)
{
    (void) o;
    int status;
    return boxlite_box_start(rt, box, NULL, &status, err);
}

static int stop_box(boxlite_runtime *rt, boxlite_box *box, const struct lifecycle_opts *o,
                    boxlite_error **err)
{
    return boxlite_box_stop(rt, box, o->timeout, err);
}

static int restart_box(boxlite_runtime *rt, boxlite_box *box, const struct lifecycle_opts *o,
                       boxlite_error **err)
{
    int r = boxlite_box_stop(rt, box, o->timeout, err);
    if (r < 0)
        return r;
    _cleanup_(boxlite_box_freep) boxlite_box *again = NULL;
    r = boxlite_box_lookup(rt, boxlite_box_id(box), &again, err);
    if (r < 0)
        return r;
    return start_box(rt, again, o, err);
}

int cmd_start(const struct cli_command *cmd, int argc, char **argv)
{
    return for_each_box(cmd, argc, argv, "start", "starting", start_box);
}

int cmd_stop(const struct cli_command *cmd, int argc, char **argv)
{
    return for_each_box(cmd, argc, argv, "stop", "stopping", stop_box);
}

int cmd_restart(const struct cli_command *cmd, int argc, char **argv)
{
    return for_each_box(cmd, argc, argv, "restart", "restarting", restart_box);
}
