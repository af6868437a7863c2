/* SPDX-License-Identifier: MIT */
/*
 * `volume`: upstream's command for named volumes, which boxlite does not have yet (spec/cli.md
 * deviation 8). Its arguments are parsed as upstream's are (usage errors exit 2), then every
 * operation fails with one "Error: unsupported: ..." line (exit 1), so a script learns what is
 * missing rather than that a command does not exist.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

enum volume_opt_id {
    VOLUME_OPT_QUIET,
    VOLUME_OPT_FORCE,
    VOLUME_OPT_FORMAT,
};

/* upstream's options of the subcommands, all accepted and ignored (none shown) */
const struct cli_option cli_volume_options[] = {
    {VOLUME_OPT_QUIET, "quiet", 'q', NULL, NULL},
    {VOLUME_OPT_FORCE, "force", 'f', NULL, NULL},
    {VOLUME_OPT_FORMAT, "format", 0, "FORMAT", NULL},
    CLI_OPTIONS_END,
};

static int accept_opt(int id, const char *arg, void *userdata)
{
    (void) id;
    (void) arg;
    (void) userdata;
    return 0;
}

/* volume {create | ls|list | get|inspect ID | rm|delete ID...}: upstream's local backend
 * refuses every one of them, after its own argument checks */
int cmd_volume(const struct cli_command *cmd, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error(cmd, "'boxlite volume' requires a subcommand but one was not "
                                    "provided [subcommands: create, ls, get, rm]");
    const char *sub = argv[1];
    if (!strcmp(sub, "-h") || !strcmp(sub, "--help")) {
        cli_print_help(cmd);
        return EXIT_OK;
    }
    int min, max; /* operands */
    if (!strcmp(sub, "create"))
        min = 0, max = 0;
    else if (!strcmp(sub, "ls") || !strcmp(sub, "list"))
        min = 0, max = 0;
    else if (!strcmp(sub, "get") || !strcmp(sub, "inspect"))
        min = 1, max = 1;
    else if (!strcmp(sub, "rm") || !strcmp(sub, "delete"))
        min = 1, max = -1;
    else
        return cli_usage_error(cmd, "unrecognized subcommand '%s'", sub);
    int rc = 0;
    int ind = cli_parse(cmd, argc - 1, argv + 1, accept_opt, NULL, &rc);
    if (ind < 0)
        return rc;
    int n = argc - 1 - ind;
    if (n < min)
        return cli_usage_missing(cmd, min && max < 0 ? "<ID>..." : "<ID>");
    if (max >= 0 && n > max)
        return cli_usage_error(cmd, "unexpected argument '%s' found", argv[1 + ind + max]);
    return cli_errorf("unsupported: named volumes are not supported yet");
}
