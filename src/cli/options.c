/* SPDX-License-Identifier: MIT */
/*
 * Option tables into getopt_long and --help: each command declares its options once (struct
 * cli_option); the getopt_long option string and long options, the help lines and (in
 * completion.c) the shell completion words are all made from that table, plus the one table of
 * global options below.
 */
#include <assert.h>
#include <getopt.h>
#include <string.h>

#include "cli.h"

/* Most options one command takes, global ones included. */
#define MAX_OPTIONS 64
/* getopt_long's value for the long option at index i: above every short option letter. */
#define LONG_VAL(i) (256 + (int) (i))

const struct cli_option cli_global_options[] = {
    {CLI_GLOBAL_HOME, "home", 0, "HOME", "BoxLite home directory", CLI_COMPLETE_FILE,
     .env = "BOXLITE_HOME"},
    {CLI_GLOBAL_DEBUG, "debug", 0, NULL, "Enable debug output"},
    {CLI_GLOBAL_CONFIG, "config", 0, "PATH", "Runtime configuration file (JSON)", CLI_COMPLETE_FILE,
     .flags = CLI_OPT_MAIN_HELP},
    {CLI_GLOBAL_REGISTRY, "registry", 0, "HOST", "Image registry to search (repeatable)",
     .flags = CLI_OPT_MAIN_HELP},
    {CLI_GLOBAL_HELP, "help", 'h', NULL, "Print help"},
    {CLI_GLOBAL_VERSION, "version", 'V', NULL, "Print version", .flags = CLI_OPT_TOP_LEVEL},
    CLI_OPTIONS_END,
};

void cli_print_option(FILE *f, const struct cli_option *opt, int width)
{
    int n;
    if (opt->short_name)
        n = fprintf(f, "  -%c, --%s", opt->short_name, opt->name);
    else
        n = fprintf(f, "      --%s", opt->name);
    if (opt->arg)
        n += fprintf(f, " <%s>", opt->arg);
    fprintf(f, "%*s", n < width ? width - n : 1, "");
    for (const char *p = opt->help;;) {
        size_t len = strcspn(p, "\n");
        fprintf(f, "%.*s", (int) len, p);
        if (!p[len])
            break;
        p += len + 1;
        fprintf(f, "\n%*s", width, "");
    }
    if (opt->env)
        fprintf(f, " [env: %s=]", opt->env);
    fputc('\n', f);
}

void cli_print_help(const struct cli_command *cmd)
{
    printf("%s\n\nUsage: boxlite %s\n\n", cmd->summary, cmd->usage);
    if (cmd->subcommands)
        printf("%s\n", cmd->subcommands);
    printf("Options:\n");
    for (const struct cli_option *o = cmd->options; o && o->name; o++)
        if (o->help)
            cli_print_option(stdout, o, cmd->help_width ? cmd->help_width : CLI_HELP_WIDTH);
    for (const struct cli_option *o = cli_global_options; o->name; o++)
        if (!(o->flags & (CLI_OPT_MAIN_HELP | CLI_OPT_TOP_LEVEL)))
            cli_print_option(stdout, o, CLI_HELP_WIDTH_NARROW);
}

const struct cli_option *cli_global_find(const char *arg, const char **ret_value)
{
    *ret_value = NULL;
    if (arg[0] != '-')
        return NULL;
    for (const struct cli_option *o = cli_global_options; o->name; o++) {
        size_t len = strlen(o->name);
        if (o->short_name && arg[1] == o->short_name && !arg[2])
            return o;
        if (arg[1] != '-' || strncmp(arg + 2, o->name, len) != 0)
            continue;
        if (!arg[2 + len])
            return o;
        if (o->arg && arg[2 + len] == '=') {
            *ret_value = arg + 3 + len;
            return o;
        }
    }
    return NULL;
}

int cli_parse(const struct cli_command *cmd, int argc, char **argv, cli_opt_fn on_opt,
              void *userdata, int *ret_exit)
{
    /* the command's options, then the global ones: opts[i] is getopt_long's LONG_VAL(i) */
    const struct cli_option *opts[MAX_OPTIONS];
    struct option longopts[MAX_OPTIONS + 1];
    char shortopts[2 * MAX_OPTIONS + 3];
    size_t n = 0, n_own, k = 0;
    /* MAX_OPTIONS bounds every table: a longer one is a programming error */
    for (const struct cli_option *o = cmd->options; o && o->name; o++) {
        assert(n < MAX_OPTIONS);
        opts[n++] = o;
    }
    n_own = n;
    for (const struct cli_option *o = cli_global_options; o->name; o++)
        if (!(o->flags & CLI_OPT_TOP_LEVEL)) {
            assert(n < MAX_OPTIONS);
            opts[n++] = o;
        }
    /* "+" (stop at the first operand: run's trailing COMMAND) must lead the option string; ":"
     * reports a missing value apart from an unknown option */
    if (cmd->flags & CLI_CMD_STOP_AT_OPERAND)
        shortopts[k++] = '+';
    shortopts[k++] = ':';
    for (size_t i = 0; i < n; i++) {
        longopts[i] = (struct option){opts[i]->name, opts[i]->arg ? required_argument : no_argument,
                                      NULL, LONG_VAL(i)};
        if (opts[i]->short_name) {
            shortopts[k++] = opts[i]->short_name;
            if (opts[i]->arg)
                shortopts[k++] = ':';
        }
    }
    longopts[n] = (struct option){0};
    shortopts[k] = 0;

    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        if (c == '?') {
            if (optopt && optopt < 256)
                *ret_exit = cli_usage_error(cmd, "unexpected argument '-%c' found", optopt);
            else
                *ret_exit =
                    cli_usage_error(cmd, "unexpected argument '%s' found", argv[optind - 1]);
            return -1;
        }
        if (c == ':') {
            *ret_exit = cli_usage_error(cmd, "a value is required for '%s' but none was supplied",
                                        argv[optind - 1]);
            return -1;
        }
        size_t i = 0;
        if (c >= LONG_VAL(0))
            i = (size_t) (c - LONG_VAL(0));
        else
            while (i < n && opts[i]->short_name != c)
                i++;
        assert(i < n);
        int r;
        if (i >= n_own && opts[i]->id == CLI_GLOBAL_HELP) {
            cli_print_help(cmd);
            *ret_exit = EXIT_OK;
            return -1;
        }
        if (i >= n_own)
            r = cli_global_apply(opts[i], optarg, cmd);
        else
            r = on_opt(opts[i]->id, opts[i]->arg ? optarg : NULL, userdata);
        if (r != 0) {
            *ret_exit = r;
            return -1;
        }
    }
    if (strcmp(cmd->name, "completion") != 0 && cli_parse_experimental() != 0) {
        *ret_exit = EXIT_ERROR;
        return -1;
    }
    return optind;
}

/* The command table is main.c's; it hands it here at start so that the commands that list
 * commands (completion) need not call up into main.c. */
static const struct cli_command *registered;
static size_t n_registered;

void cli_register_commands(const struct cli_command *table, size_t n)
{
    registered = table;
    n_registered = n;
}

const struct cli_command *cli_commands(size_t *ret_n)
{
    *ret_n = n_registered;
    return registered;
}

const struct cli_command *cli_find_command(const struct cli_command *table, size_t n,
                                           const char *name)
{
    size_t nl = strlen(name);
    for (size_t k = 0; k < n; k++) {
        const struct cli_command *c = &table[k];
        if (!strcmp(c->name, name))
            return c;
        for (const char *a = c->aliases; a && *a; a += strcspn(a, " "), a += *a == ' ')
            if (!strncmp(a, name, nl) && (a[nl] == ' ' || a[nl] == 0))
                return c;
    }
    return NULL;
}
