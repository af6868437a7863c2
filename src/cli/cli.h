/* SPDX-License-Identifier: MIT */
/* The CLI's shared state: global options, the runtime opener, and error/usage printers. */
#pragma once

#include <getopt.h>

#include "boxlite/boxlite.h"

/* Exit codes (design §6). */
enum { EXIT_OK = 0, EXIT_ERROR = 1, EXIT_USAGE = 2 };

extern const char *arg_home;
extern int arg_debug;
extern const char *arg_config;          /* --config PATH */
extern const char *arg_registries[];    /* --registry HOST..., NULL-terminated */
/* Release-candidate features BOXLITE_EXPERIMENTAL enables (spec/cli.md §1.2), once parsed. */
enum { CLI_FEATURE_CUSTOM_KERNEL = 1, CLI_FEATURE_NESTED_VIRT = 2 };
extern unsigned arg_experimental;

struct command {
    const char *name;
    const char *aliases; /* space-separated */
    const char *summary;
    const char *usage; /* after "Usage: boxlite " */
    const char *help;  /* options text */
    int (*run)(const struct command *cmd, int argc, char **argv);
    int hidden;
};

/* Handles an option shared by every command (--home, --debug, --help); returns 1 if handled,
 * 0 if not a global option, -1 after printing a usage error. */
int cli_global_opt(int c, const struct command *cmd);
/* getopt_long entries for the global options, to append to each command's table. */
#define CLI_GLOBAL_LONGOPTS                                                                        \
    {"home", required_argument, NULL, 1001}, {"debug", no_argument, NULL, 1002},                   \
        {"help", no_argument, NULL, 'h'}, {"config", required_argument, NULL, 1003},               \
        {"registry", required_argument, NULL, 1004}

int cli_usage_error(const struct command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* clap's "the following required arguments were not provided:" with one missing argument per
 * line of `args` ("<BOX>\n  <COMMAND>..."): a fixed text, printed as it is (cli_usage_error
 * escapes, so its newlines would show as "\n"). Returns EXIT_USAGE. */
int cli_usage_missing(const struct command *cmd, const char *args);
/* clap's "invalid value '<value>' for '<what>'" and, on its own line, "[possible values: <list>]"
 * (`value` is escaped, `what` and `list` are fixed texts). Returns EXIT_USAGE. */
int cli_usage_invalid(const struct command *cmd, const char *value, const char *what,
                      const char *list);
/* Prints "Error: <msg>" for a runtime error and frees it; returns EXIT_ERROR. */
int cli_error(boxlite_error *err);
int cli_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* One line on stderr, formatted, with every control character escaped (bl_escape_text): for
 * messages that quote what a user or a box chose (names, paths, library errors). */
void cli_eprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_print_help(const struct command *cmd);
int cli_open_runtime(boxlite_runtime **ret);
/* Parse the options of `cmd` (permuting, so options may follow operands). Returns the index of
 * the first operand, or -1 when the command is over (help printed, usage error) with the exit
 * code in *ret_exit. on_opt returns 0, or an exit code to stop with. */
int cli_parse(const struct command *cmd, int argc, char **argv, const char *shortopts,
              const struct option *longopts, int (*on_opt)(int c, const char *arg),
              int *ret_exit);

/* The command table (main.c), for `completion`. */
const struct command *cli_commands(size_t *ret_n);

#define CMD(name) int cmd_##name(const struct command *cmd, int argc, char **argv)
CMD(load);
CMD(pull);
CMD(images);
CMD(rmi);
CMD(image);
CMD(run);
CMD(create);
CMD(start);
CMD(stop);
CMD(restart);
CMD(rm);
CMD(list);
CMD(inspect);
CMD(exec);
CMD(cp);
CMD(logs);
CMD(stats);
CMD(info);
CMD(completion);
CMD(volume);
CMD(network);
