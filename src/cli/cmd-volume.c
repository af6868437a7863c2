/* SPDX-License-Identifier: MIT */
/*
 * `volume` and `network`: upstream's commands for named volumes and tunnels, which boxlite does
 * not have yet (spec/cli.md deviation 8). Their arguments are parsed as upstream's are (usage
 * errors exit 2), then every operation fails with one "Error: unsupported: ..." line (exit 1),
 * so a script learns what is missing rather than that a command does not exist.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "macro.h"

BL_DEFINE_CLEANUP_FUNC(boxlite_runtime *, boxlite_runtime_free)
BL_DEFINE_CLEANUP_FUNC(boxlite_box *, boxlite_box_free)

static int accept_opt(int c, const char *arg)
{
    (void) arg;
    return c == 'q' || c == 'f' || c == 1100 ? 0 : EXIT_USAGE;
}

/* volume {create | ls|list | get|inspect ID | rm|delete ID...}: upstream's local backend
 * refuses every one of them, after its own argument checks */
CMD(volume)
{
    static const struct option longopts[] = {{"quiet", no_argument, NULL, 'q'},
                                             {"force", no_argument, NULL, 'f'},
                                             {"format", required_argument, NULL, 1100},
                                             CLI_GLOBAL_LONGOPTS,
                                             {0}};
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
    int ind = cli_parse(cmd, argc - 1, argv + 1, "qf", longopts, accept_opt, &rc);
    if (ind < 0)
        return rc;
    int n = argc - 1 - ind;
    if (n < min)
        return cli_usage_missing(cmd, min && max < 0 ? "<ID>..." : "<ID>");
    if (max >= 0 && n > max)
        return cli_usage_error(cmd, "unexpected argument '%s' found", argv[1 + ind + max]);
    return cli_errorf("unsupported: named volumes are not supported yet");
}

/* network tunnel BOX PORT: upstream's local runtime looks the box up, then needs a remote
 * profile; boxlite has no remote runtime yet */
CMD(network)
{
    static const struct option longopts[] = {CLI_GLOBAL_LONGOPTS, {0}};
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
    int ind = cli_parse(cmd, argc - 1, argv + 1, "", longopts, NULL, &rc);
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
