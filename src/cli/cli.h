/* SPDX-License-Identifier: MIT */
/*
 * The CLI's shared pieces: option tables (one per command, from which parsing, --help and shell
 * completion are all derived), the command descriptor, the global options, the runtime opener,
 * and the error/usage printers. See docs/design/cli.md.
 */
#pragma once

#include <stdio.h>

#include "boxlite/boxlite.h"
#include "macro.h"

/* Exit codes (design §6). */
enum { EXIT_OK = 0, EXIT_ERROR = 1, EXIT_USAGE = 2 };

BL_DEFINE_CLEANUP_FUNC(boxlite_runtime *, boxlite_runtime_free)
BL_DEFINE_CLEANUP_FUNC(boxlite_box *, boxlite_box_free)
BL_DEFINE_CLEANUP_FUNC(boxlite_error *, boxlite_error_free)
BL_DEFINE_CLEANUP_FUNC(boxlite_image *, boxlite_image_free)

/* ---- option tables --------------------------------------------------------------------------- */

/* What the shell may offer for an option's value or a command's operands. */
enum cli_complete {
    CLI_COMPLETE_NONE,
    CLI_COMPLETE_FILE, /* a host path */
    CLI_COMPLETE_BOX,  /* a box id or name (`boxlite ls -a -q`) */
};

/* Where a global option shows (command options use none of these). */
enum {
    CLI_OPT_MAIN_HELP = 1, /* listed in `boxlite --help` only, not in each command's help */
    CLI_OPT_TOP_LEVEL = 2, /* accepted before the command only (--version) */
};

/* One option, declared once: getopt_long's tables, the --help line and the completion words
 * are all made from it. A table ends with an entry whose name is NULL (CLI_OPTIONS_END). */
struct cli_option {
    int id;                     /* the command's own enum value, handed to its callback */
    const char *name;           /* long name, without "--" */
    char short_name;            /* 0: none */
    const char *arg;            /* the value's name in --help ("MiB"); NULL: takes no value */
    const char *help;           /* NULL: hidden (accepted, never shown); "\n" starts a line of its
                                 * own, indented to the description column */
    enum cli_complete complete; /* what a value is, for completion */
    const char *env;            /* environment variable shown in help as "[env: NAME=]" */
    unsigned flags;             /* CLI_OPT_* (global options only) */
};
/* clang-format off */
#define CLI_OPTIONS_END {0}
/* clang-format on */

/* Options every command takes (--home, --debug, --help, ...): one table, options.c. */
enum cli_global_id {
    CLI_GLOBAL_HOME,
    CLI_GLOBAL_DEBUG,
    CLI_GLOBAL_CONFIG,
    CLI_GLOBAL_REGISTRY,
    CLI_GLOBAL_HELP,
    CLI_GLOBAL_VERSION,
};
extern const struct cli_option cli_global_options[];

/* Columns where --help starts option descriptions: most commands', and the image commands' and
 * the global options' narrower one. */
#define CLI_HELP_WIDTH 28
#define CLI_HELP_WIDTH_NARROW 25

/* ---- commands -------------------------------------------------------------------------------- */

enum {
    CLI_CMD_HIDDEN = 1,          /* not in `boxlite --help` nor in completion */
    CLI_CMD_STOP_AT_OPERAND = 2, /* options end at the first operand (run's COMMAND...) */
};

struct cli_command {
    const char *name;
    const char *aliases; /* space-separated */
    const char *summary;
    const char *usage;                /* after "Usage: boxlite " */
    const struct cli_option *options; /* NULL: only the global ones */
    int help_width;          /* column of option descriptions in --help; 0: 28 (CLI_HELP_WIDTH) */
    const char *subcommands; /* a family's "Commands:" block for --help, or NULL */
    enum cli_complete operands; /* what the shell offers for operands (default: files) */
    unsigned flags;             /* CLI_CMD_* */
    int (*run)(const struct cli_command *cmd, int argc, char **argv);
};

/* The command table (main.c's, registered at start; options.c), for `completion`. */
void cli_register_commands(const struct cli_command *table, size_t n);
const struct cli_command *cli_commands(size_t *ret_n);

/* The commands (one file each, or one per small family). */
int cmd_run(const struct cli_command *cmd, int argc, char **argv);
int cmd_create(const struct cli_command *cmd, int argc, char **argv);
int cmd_exec(const struct cli_command *cmd, int argc, char **argv);
int cmd_start(const struct cli_command *cmd, int argc, char **argv);
int cmd_stop(const struct cli_command *cmd, int argc, char **argv);
int cmd_restart(const struct cli_command *cmd, int argc, char **argv);
int cmd_rm(const struct cli_command *cmd, int argc, char **argv);
int cmd_list(const struct cli_command *cmd, int argc, char **argv);
int cmd_inspect(const struct cli_command *cmd, int argc, char **argv);
int cmd_cp(const struct cli_command *cmd, int argc, char **argv);
int cmd_logs(const struct cli_command *cmd, int argc, char **argv);
int cmd_stats(const struct cli_command *cmd, int argc, char **argv);
int cmd_info(const struct cli_command *cmd, int argc, char **argv);
int cmd_pull(const struct cli_command *cmd, int argc, char **argv);
int cmd_images(const struct cli_command *cmd, int argc, char **argv);
int cmd_load(const struct cli_command *cmd, int argc, char **argv);
int cmd_rmi(const struct cli_command *cmd, int argc, char **argv);
int cmd_image(const struct cli_command *cmd, int argc, char **argv);
int cmd_volume(const struct cli_command *cmd, int argc, char **argv);
int cmd_network(const struct cli_command *cmd, int argc, char **argv);
int cmd_completion(const struct cli_command *cmd, int argc, char **argv);

/* Each command's option table, in the command's file. */
extern const struct cli_option cli_run_options[], cli_create_options[], cli_exec_options[],
    cli_start_options[], cli_stop_options[], cli_rm_options[], cli_list_options[],
    cli_inspect_options[], cli_cp_options[], cli_logs_options[], cli_stats_options[],
    cli_info_options[], cli_pull_options[], cli_images_options[], cli_load_options[],
    cli_rmi_options[], cli_volume_options[];

/* The entry of `table` whose name or one of its aliases is `name`, or NULL. */
const struct cli_command *cli_find_command(const struct cli_command *table, size_t n,
                                           const char *name);

/* ---- parsing and help (options.c) ------------------------------------------------------------ */

/* A command's option callback: `id` from its table, `arg` the value (NULL for a flag). Returns 0,
 * or an exit code to stop with (after printing). */
typedef int (*cli_opt_fn)(int id, const char *arg, void *userdata);

/* Parse the options of `cmd` (permuting, so options may follow operands, unless
 * CLI_CMD_STOP_AT_OPERAND). The global options are handled here. Returns the index of the first
 * operand, or -1 when the command is over (help printed, usage error) with the exit code in
 * *ret_exit. */
int cli_parse(const struct cli_command *cmd, int argc, char **argv, cli_opt_fn on_opt,
              void *userdata, int *ret_exit);

/* `boxlite CMD --help` */
void cli_print_help(const struct cli_command *cmd);
/* One option's help line(s), the description at column `width` (its `env` as "[env: X=]"). */
void cli_print_option(FILE *f, const struct cli_option *opt, int width);

/* The global option `arg` names (exact "--name" or "-x", or "--name=value" for one that takes
 * a value), with *ret_value set to the "=value" part or NULL; NULL if none. */
const struct cli_option *cli_global_find(const char *arg, const char **ret_value);

/* ---- errors (errors.c) ---------------------------------------------------------------------- */

int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* clap's "the following required arguments were not provided:" with one missing argument per
 * line of `args` ("<BOX>\n  <COMMAND>..."): a fixed text, printed as it is (cli_usage_error
 * escapes, so its newlines would show as "\n"). Returns EXIT_USAGE. */
int cli_usage_missing(const struct cli_command *cmd, const char *args);
/* clap's "invalid value '<value>' for '<what>'" and, on its own line, "[possible values: <list>]"
 * (`value` is escaped, `what` and `list` are fixed texts). Returns EXIT_USAGE. */
int cli_usage_invalid(const struct cli_command *cmd, const char *value, const char *what,
                      const char *list);
/* Prints "Error: <msg>" for a runtime error and frees it; returns EXIT_ERROR. */
int cli_error(boxlite_error *err);
int cli_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* One line on stderr, formatted, with every control character escaped (bl_escape_text): for
 * messages that quote what a user or a box chose (names, paths, library errors). */
void cli_eprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- the global state and the runtime (global.c) --------------------------------------------- */

/* Applies a global option other than --help/--version; 0, or EXIT_USAGE after printing. */
int cli_global_apply(const struct cli_option *opt, const char *value,
                     const struct cli_command *cmd);
/* Release-candidate features BOXLITE_EXPERIMENTAL enables (spec/cli.md §1.2), once parsed. */
enum { CLI_FEATURE_CUSTOM_KERNEL = 1, CLI_FEATURE_NESTED_VIRT = 2 };
extern unsigned arg_experimental;
/* The runtime the global options describe; 0, or the exit code after printing. */
int cli_open_runtime(boxlite_runtime **ret);
/* BOXLITE_EXPERIMENTAL into arg_experimental; 0, or EXIT_ERROR with upstream's message. */
int cli_parse_experimental(void);
/* The library's log lines on stderr: warnings, or everything with --debug. */
void cli_log_sink(int level, const char *msg, void *userdata);
