/* SPDX-License-Identifier: MIT */
/* boxlite logs [-n N] [-f] [-t] BOX: what the box's command wrote. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "parse-util.h"
#include "signals.h"

enum logs_opt_id {
    LOGS_OPT_TAIL,
    LOGS_OPT_FOLLOW,
    LOGS_OPT_TIMESTAMPS,
};

const struct cli_option cli_logs_options[] = {
    {LOGS_OPT_TAIL, "tail", 'n', "N", "Only the last N lines [default: all]"},
    {LOGS_OPT_FOLLOW, "follow", 'f', NULL, "Keep printing new output until the box stops"},
    {LOGS_OPT_TIMESTAMPS, "timestamps", 't', NULL, "Show when each line was written"},
    CLI_OPTIONS_END,
};

struct logs_opts {
    int follow, timestamps;
    long long tail;
};

static int parse_opt(int id, const char *arg, void *userdata)
{
    struct logs_opts *o = userdata;
    switch ((enum logs_opt_id) id) {
    case LOGS_OPT_TAIL: {
        if (!strcmp(arg, "all")) {
            o->tail = -1;
            return 0;
        }
        int64_t v;
        if (bl_parse_i64(arg, &v) < 0 || v < 0)
            return cli_usage_error(NULL,
                                   "invalid value '%s' for '--tail <TAIL>': invalid digit "
                                   "found in string",
                                   arg);
        o->tail = v == 0 ? -1 : v; /* 0 = all (upstream) */
        return 0;
    }
    case LOGS_OPT_FOLLOW:
        o->follow = 1;
        return 0;
    case LOGS_OPT_TIMESTAMPS:
        o->timestamps = 1;
        return 0;
    }
    return EXIT_USAGE;
}

int cmd_logs(const struct cli_command *cmd, int argc, char **argv)
{
    struct logs_opts o = {.tail = -1};
    int rc = 0;
    int ind = cli_parse(cmd, argc, argv, parse_opt, &o, &rc);
    if (ind < 0)
        return rc;
    if (ind >= argc)
        return cli_usage_missing(cmd, "<BOX>");
    if (argc - ind > 1)
        return cli_usage_error(cmd, "unexpected argument '%s' found", argv[ind + 1]);
    const char *target = argv[ind];
    _cleanup_(boxlite_runtime_freep) boxlite_runtime *rt = NULL;
    if ((rc = cli_open_runtime(&rt)) != 0)
        return rc;
    _cleanup_(boxlite_box_freep) boxlite_box *box = NULL;
    _cleanup_(boxlite_error_freep) boxlite_error *err = NULL;
    if (boxlite_box_lookup(rt, target, &box, &err) < 0)
        return cli_errorf("%s", boxlite_error_message(err));
    boxlite_logs_opts lo;
    boxlite_logs_opts_init(&lo);
    lo.tail = o.tail;
    lo.timestamps = o.timestamps;
    int running = !strcmp(boxlite_box_status(box), "running");
    if (o.follow && running) {
        if (signals_catch_stop() < 0)
            return cli_errorf("cannot catch signals");
        lo.follow = 1;
        lo.stop_fd = signals_stop_fd();
    }
    if (lo.follow)
        lo.follow_notice = "\nFollowing log output (Ctrl+C to stop)...\n";
    int r = boxlite_box_logs(rt, box, &lo, STDOUT_FILENO, STDERR_FILENO, &err);
    if (r == -ENOENT) {
        fprintf(stderr,
                "No log file found for box '%s'\nThe box may not have been started yet.\n"
                "Log path: %s\n",
                target, boxlite_box_log_path(rt, box));
        return EXIT_OK;
    }
    if (r < 0)
        return cli_errorf("%s", boxlite_error_message(err));
    if (lo.follow && signals_stopped())
        fprintf(stderr, "\nStopped following logs.\n");
    return EXIT_OK;
}
