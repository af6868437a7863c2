/* SPDX-License-Identifier: MIT */
/*
 * What the CLI prints when something goes wrong: clap-style usage errors (exit 2) and one
 * "Error: ..." line for a runtime error (exit 1). Text that quotes what a user or a box chose is
 * escaped so that it stays one line and cannot drive the terminal (issue 12).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "box-name.h"
#include "cli.h"

static __attribute__((format(printf, 1, 0))) char *vformat(const char *fmt, va_list ap)
{
    char *msg = NULL;
    return vasprintf(&msg, fmt, ap) < 0 ? NULL : msg;
}

int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = vformat(fmt, ap);
    va_end(ap);
    /* it quotes what was typed: escaped, as print_line() does */
    _cleanup_free_ char *safe = msg ? bl_escape_text(msg) : NULL;
    fprintf(stderr, "error: %s\n\nUsage: boxlite %s\n\nFor more information, try '--help'.\n",
            safe ? safe : "out of memory", cmd ? cmd->usage : "[OPTIONS] <COMMAND>");
    return EXIT_USAGE;
}

int cli_usage_missing(const struct cli_command *cmd, const char *args)
{
    fprintf(stderr,
            "error: the following required arguments were not provided:\n  %s\n\nUsage: boxlite "
            "%s\n\nFor more information, try '--help'.\n",
            args, cmd ? cmd->usage : "[OPTIONS] <COMMAND>");
    return EXIT_USAGE;
}

int cli_usage_invalid(const struct cli_command *cmd, const char *value, const char *what,
                      const char *list)
{
    _cleanup_free_ char *safe = bl_escape_text(value);
    fprintf(stderr,
            "error: invalid value '%s' for '%s'\n  [possible values: %s]\n\nUsage: boxlite "
            "%s\n\nFor more information, try '--help'.\n",
            safe ? safe : "?", what, list, cmd ? cmd->usage : "[OPTIONS] <COMMAND>");
    return EXIT_USAGE;
}

/* A line on stderr: prefix and msg, where msg often quotes what the user or a box chose (a box
 * name, a path): escaped so that it stays one line and cannot drive the terminal (issue 12). */
static void print_line(const char *prefix, const char *msg)
{
    _cleanup_free_ char *safe = msg ? bl_escape_text(msg) : NULL;
    fprintf(stderr, "%s%s\n", safe ? prefix : "Error: ", safe ? safe : "out of memory");
}

int cli_error(boxlite_error *err)
{
    print_line("Error: ", err ? boxlite_error_message(err) : "unknown error");
    boxlite_error_free(err);
    return EXIT_ERROR;
}

void cli_eprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = vformat(fmt, ap);
    va_end(ap);
    print_line("", msg);
}

int cli_errorf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *msg = vformat(fmt, ap);
    va_end(ap);
    print_line("Error: ", msg);
    return EXIT_ERROR;
}
