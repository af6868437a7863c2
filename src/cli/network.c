/* SPDX-License-Identifier: MIT */
/*
 * `network`: upstream's command for tunnels, which boxlite does not have yet (spec/cli.md
 * deviation 8). Its arguments are parsed as upstream's are (usage errors exit 2), then it fails
 * with one "Error: unsupported: ..." line (exit 1).
 */
#include <string.h>

#include "cli.h"

/* network tunnel BOX PORT: upstream's local runtime looks the box up, then needs a remote
 * profile; boxlite has no remote runtime yet */
int cmd_network(const struct cli_command *cmd, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error(cmd, "'boxlite network' requires a subcommand but one was not "
                                    "provided [subcommands: tunnel]");
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        cli_print_help(cmd);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "tunnel") != 0)
        return cli_usage_error(cmd, "unrecognized subcommand '%s'", argv[1]);
    int rc = 0;
    int ind = cli_parse(cmd, argc - 1, argv + 1, NULL, NULL, &rc);
    if (ind < 0)
        return rc;
    char **ops = argv + 1 + ind;
    int n = argc - 1 - ind;
    if (n < 2)
        return cli_usage_missing(cmd, n < 1 ? "<BOX>\n  <PORT>" : "<PORT>");
    if (n > 2)
        return cli_usage_error(cmd, "unexpected argument '%s' found", ops[2]);
    const char *p = ops[1];
    unsigned long port = 0;
    int digits = *p != 0;
    for (const char *c = p; *c; c++)
        if (*c < '0' || *c > '9')
            digits = 0;
        else if (port <= 65535) /* past it, the value no longer matters */
            port = port * 10 + (unsigned long) (*c - '0');
    if (!digits)
        return cli_usage_error(cmd,
                               "invalid value '%s' for '<PORT>': invalid digit found in "
                               "string",
                               p);
    if (port == 0 || port > 65535)
        return cli_usage_error(cmd, "invalid value '%s' for '<PORT>': %s is not in 1..=65535", p,
                               p);
    _cleanup_(boxlite_runtime_freep) boxlite_runtime *rt = NULL;
    if ((rc = cli_open_runtime(&rt)) != 0)
        return rc;
    _cleanup_(boxlite_box_freep) boxlite_box *box = NULL;
    boxlite_error *err = NULL;
    if (boxlite_box_lookup(rt, ops[0], &box, &err) < 0)
        return cli_error(err);
    return cli_errorf("unsupported: boxlite network tunnel requires a remote REST profile (--url "
                      "or --profile), and boxlite has no remote runtime yet");
}
