/* SPDX-License-Identifier: MIT */
/* boxlite rm [-f] [-a] [BOX]...: remove boxes; every target is tried. */
#include <errno.h>
#include <stdio.h>

#include "cli.h"

enum rm_opt_id {
    RM_OPT_FORCE,
    RM_OPT_ALL,
};

const struct cli_option cli_rm_options[] = {
    {RM_OPT_FORCE, "force", 'f', NULL, "Stop running boxes first"},
    {RM_OPT_ALL, "all", 'a', NULL, "Remove every box"},
    CLI_OPTIONS_END,
};

struct rm_opts {
    int force, all;
};

static int parse_opt(int id, const char *arg, void *userdata)
{
    struct rm_opts *o = userdata;
    (void) arg;
    switch ((enum rm_opt_id) id) {
    case RM_OPT_FORCE:
        o->force = 1;
        return 0;
    case RM_OPT_ALL:
        o->all = 1;
        return 0;
    }
    return EXIT_USAGE;
}

int cmd_rm(const struct cli_command *cmd, int argc, char **argv)
{
    struct rm_opts o = {0};
    int rc = 0;
    int ind = cli_parse(cmd, argc, argv, parse_opt, &o, &rc);
    if (ind < 0)
        return rc;
    if (ind >= argc && !o.all)
        return cli_usage_missing(cmd, "<BOX>...");
    _cleanup_(boxlite_runtime_freep) boxlite_runtime *rt = NULL;
    if ((rc = cli_open_runtime(&rt)) != 0)
        return rc;
    boxlite_box **list = NULL;
    size_t n = 0;
    if (o.all) {
        if (!o.force) {
            fprintf(stderr, "WARNING! This will remove all boxes. Are you sure? [y/N] ");
            char line[64] = "";
            if (!fgets(line, sizeof(line), stdin) || (line[0] != 'y' && line[0] != 'Y'))
                return EXIT_OK;
        }
        boxlite_error *err = NULL;
        if (boxlite_box_list(rt, 1, &list, &n, &err) < 0)
            return cli_error(err);
    }
    int failed = 0;
    size_t total = o.all ? n : (size_t) (argc - ind);
    for (size_t i = 0; i < total; i++) {
        _cleanup_(boxlite_box_freep) boxlite_box *box = NULL;
        _cleanup_(boxlite_error_freep) boxlite_error *err = NULL;
        const char *target = o.all ? boxlite_box_id(list[i]) : argv[ind + (int) i];
        int r = boxlite_box_lookup(rt, target, &box, &err);
        if (r == -ENOENT) { /* rm's own words for it (spec/cli.md §4.6) */
            cli_eprintf("Error removing box '%s': box not found: %s", target, target);
            failed = 1;
            continue;
        }
        if (r < 0 || boxlite_box_remove(rt, box, o.force, &err) < 0) {
            cli_eprintf("Error removing box '%s': %s", target, boxlite_error_message(err));
            failed = 1;
            continue;
        }
        printf("%s\n", target);
        fflush(stdout);
    }
    boxlite_box_list_free(list, n);
    if (failed) {
        fprintf(stderr, "Error: Some boxes could not be removed\n");
        return EXIT_ERROR;
    }
    return EXIT_OK;
}
