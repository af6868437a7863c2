/* SPDX-License-Identifier: MIT */
/*
 * boxlite: the CLI. A thin client of libboxlite: it parses, calls the library and prints.
 * Usage errors exit 2 with clap-style text; runtime errors exit 1 with one "Error: …" line.
 * Nothing here calls exit() in the middle of a command: every path returns to main.
 *
 * This file: the command table (one entry per command: its words, its option table and its
 * function) and the dispatcher. Each command lives in its own file; see docs/design/cli.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct cli_command commands[] = {
    {"run", NULL, "Run a command in a new box", "run [OPTIONS] <IMAGE> [COMMAND]...",
     cli_run_options, .flags = CLI_CMD_STOP_AT_OPERAND, .run = cmd_run},
    {"exec", NULL, "Execute a command in a running box", "exec [OPTIONS] <BOX> [--] <COMMAND>...",
     cli_exec_options, .operands = CLI_COMPLETE_BOX, .flags = CLI_CMD_STOP_AT_OPERAND,
     .run = cmd_exec},
    {"create", NULL, "Create a new box", "create [OPTIONS] <IMAGE> [COMMAND]...",
     cli_create_options, .flags = CLI_CMD_STOP_AT_OPERAND, .run = cmd_create},
    {"list", "ls ps", "List boxes", "list [OPTIONS]", cli_list_options, .run = cmd_list},
    {"rm", NULL, "Remove one or more boxes", "rm [OPTIONS] [BOX]...", cli_rm_options,
     .operands = CLI_COMPLETE_BOX, .run = cmd_rm},
    {"start", NULL, "Start one or more stopped boxes", "start <BOX>...", cli_start_options,
     .operands = CLI_COMPLETE_BOX, .run = cmd_start},
    {"stop", NULL, "Stop one or more running boxes", "stop [OPTIONS] <BOX>...", cli_stop_options,
     .operands = CLI_COMPLETE_BOX, .run = cmd_stop},
    {"restart", NULL, "Restart one or more boxes", "restart [OPTIONS] <BOX>...", cli_stop_options,
     .operands = CLI_COMPLETE_BOX, .run = cmd_restart},
    {"pull", NULL, "Pull an image from a registry", "pull [OPTIONS] <IMAGE>", cli_pull_options,
     .run = cmd_pull},
    {"inspect", NULL, "Display detailed information on a box", "inspect [OPTIONS] [BOX]...",
     cli_inspect_options, .operands = CLI_COMPLETE_BOX, .run = cmd_inspect},
    {"cp", NULL, "Copy files/folders between host and box",
     "cp [OPTIONS] <SRC> <DST>  (one of them BOX:PATH)", cli_cp_options, .run = cmd_cp},
    {"info", NULL, "Display system-wide runtime information", "info [OPTIONS]", cli_info_options,
     .run = cmd_info},
    {"logs", NULL, "Show logs from a box", "logs [OPTIONS] <BOX>", cli_logs_options,
     .operands = CLI_COMPLETE_BOX, .run = cmd_logs},
    {"stats", NULL, "Display resource usage statistics for a box", "stats [OPTIONS] <BOX>",
     cli_stats_options, .operands = CLI_COMPLETE_BOX, .run = cmd_stats},
    {"images", NULL, "List images", "images [OPTIONS]", cli_images_options, CLI_HELP_WIDTH_NARROW,
     .run = cmd_images},
    {"load", NULL, "Load images from a docker-archive or OCI archive or layout", "load [OPTIONS]",
     cli_load_options, CLI_HELP_WIDTH_NARROW, .run = cmd_load},
    {"rmi", NULL, "Remove one or more images", "rmi [OPTIONS] <IMAGE>...", cli_rmi_options,
     CLI_HELP_WIDTH_NARROW, .run = cmd_rmi},
    {"image", NULL, "Manage images (inspect, ls, rm, load)", "image <COMMAND> [ARGS]...",
     .subcommands = "Commands:\n"
                    "  inspect   Display detailed information on one or more images (JSON)\n"
                    "  ls        List images (same as `boxlite images`)\n"
                    "  rm        Remove images (same as `boxlite rmi`)\n"
                    "  load      Load images (same as `boxlite load`)\n",
     .run = cmd_image},
    {"network", NULL, "Manage box networking", "network <COMMAND> [ARGS]...",
     .subcommands = "Commands:\n"
                    "  tunnel    Print a public URL for a box's port (needs a remote runtime)\n",
     .run = cmd_network},
    {"volume", NULL, "Manage named local volumes", "volume <COMMAND> [ARGS]...", cli_volume_options,
     .subcommands = "Commands:\n"
                    "  create    Create a named volume\n"
                    "  ls        List named volumes\n"
                    "  get       Display a named volume\n"
                    "  rm        Remove named volumes\n"
                    "(named volumes are not supported yet: each of these fails with "
                    "\"unsupported\")\n",
     .run = cmd_volume},
    {"completion", NULL, "Generate a shell completion script", "completion <SHELL>",
     .flags = CLI_CMD_HIDDEN, .run = cmd_completion},
};

static void print_main_help(FILE *f)
{
    /* the global options in the order `boxlite --help` has always listed them */
    static const enum cli_global_id order[] = {CLI_GLOBAL_DEBUG,    CLI_GLOBAL_HOME,
                                               CLI_GLOBAL_REGISTRY, CLI_GLOBAL_CONFIG,
                                               CLI_GLOBAL_HELP,     CLI_GLOBAL_VERSION};
    fprintf(f, "BoxLite CLI\n\nUsage: boxlite [OPTIONS] <COMMAND>\n\nCommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!(commands[i].flags & CLI_CMD_HIDDEN))
            fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "  %-10s %s\n", "help", "Print this message or the help of the given subcommand(s)");
    fprintf(f, "\nOptions:\n");
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        cli_print_option(f, &cli_global_options[order[i]], CLI_HELP_WIDTH_NARROW);
}

int main(int argc, char **argv)
{
    int i = 1;
    cli_register_commands(commands, sizeof(commands) / sizeof(commands[0]));
    /* A closed 0, 1 or 2 would be taken by the next file we open (the database, a box's
     * directory) and handed to a box as its stdio: make them /dev/null first. */
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF &&
            open("/dev/null", O_RDWR) != fd) /* NOLINT: stdio, kept on purpose */
            return 125;
    /* warnings of the library reach the user (--debug raises the level) */
    boxlite_set_log_fn(cli_log_sink, BOXLITE_LOG_WARNING, NULL);
    /* global options before the command: exact words, or --name=value */
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i], *value;
        const struct cli_option *g = cli_global_find(a, &value);
        if (!g)
            return cli_usage_error(NULL, "unexpected argument '%s' found", a);
        if (g->id == CLI_GLOBAL_VERSION) {
            printf("boxlite %s\n", boxlite_version());
            return EXIT_OK;
        }
        if (g->id == CLI_GLOBAL_HELP) {
            print_main_help(stdout);
            return EXIT_OK;
        }
        if (g->arg && !value) {
            if (i + 1 >= argc)
                return cli_usage_error(NULL, "a value is required for '%s' but none was supplied",
                                       a);
            value = argv[++i];
        }
        int r = cli_global_apply(g, value, NULL);
        if (r != 0)
            return r;
    }
    if (i >= argc) {
        print_main_help(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[i];
    if (!strcmp(name, "help")) {
        if (i + 1 < argc)
            for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
                if (!strcmp(commands[k].name, argv[i + 1])) {
                    cli_print_help(&commands[k]);
                    return EXIT_OK;
                }
        print_main_help(stdout);
        return EXIT_OK;
    }
    const struct cli_command *c =
        cli_find_command(commands, sizeof(commands) / sizeof(commands[0]), name);
    if (c)
        return c->run(c, argc - i, argv + i);
    return cli_usage_error(NULL, "unrecognized subcommand '%s'", name);
}
