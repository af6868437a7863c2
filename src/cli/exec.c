/* SPDX-License-Identifier: MIT */
/*
 * boxlite exec [OPTIONS] BOX [--] COMMAND...: a command in a running box. Exit codes: the
 * command's status (128+N for signal N); 1 for a box that cannot take an exec (unknown,
 * ambiguous, refused); 125 when boxlite fails.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "box-opts.h"
#include "signals.h"
#include "term.h"

enum exec_opt_id {
    EXEC_OPT_ENV,
    EXEC_OPT_WORKDIR,
    EXEC_OPT_USER,
    EXEC_OPT_DETACH,
    EXEC_OPT_INTERACTIVE,
    EXEC_OPT_TTY,
    EXEC_OPT_ENTRYPOINT,
};

const struct cli_option cli_exec_options[] = {
    {EXEC_OPT_ENV, "env", 'e', "K=V", "Set an environment variable (repeatable)"},
    {EXEC_OPT_WORKDIR, "workdir", 'w', "PATH", "Working directory"},
    {EXEC_OPT_USER, "user", 'u', "USER", "User (name|uid[:group|gid])"},
    {EXEC_OPT_DETACH, "detach", 'd', NULL, "Start the command and return at once"},
    {EXEC_OPT_INTERACTIVE, "interactive", 'i', NULL, "Forward standard input"},
    {EXEC_OPT_TTY, "tty", 't', NULL, "Allocate a pseudo-terminal"},
    {EXEC_OPT_ENTRYPOINT, "entrypoint", 0, "EXEC", NULL}, /* accepted and ignored */
    CLI_OPTIONS_END,
};

struct exec_opts {
    int detach, interactive, tty;
    const char *workdir, *user;
    struct env_list env;
};

static void exec_opts_done(struct exec_opts *o)
{
    env_list_done(&o->env);
}

static int parse_opt(int id, const char *arg, void *userdata)
{
    struct exec_opts *o = userdata;
    switch ((enum exec_opt_id) id) {
    case EXEC_OPT_ENV:
        return env_list_push(&o->env, arg);
    case EXEC_OPT_WORKDIR:
        o->workdir = arg;
        return 0;
    case EXEC_OPT_USER:
        o->user = arg;
        return 0;
    case EXEC_OPT_DETACH:
        o->detach = 1;
        return 0;
    case EXEC_OPT_INTERACTIVE:
        o->interactive = 1;
        return 0;
    case EXEC_OPT_TTY:
        o->tty = 1;
        return 0;
    case EXEC_OPT_ENTRYPOINT:
        return 0;
    }
    return EXIT_USAGE;
}

int cmd_exec(const struct cli_command *cmd, int argc, char **argv)
{
    _cleanup_(exec_opts_done) struct exec_opts o = {0};
    int rc = 0;
    /* options may come before or after BOX, but nothing after the command is ours: stop at
     * the second operand (CLI_CMD_STOP_AT_OPERAND plus a manual restart after BOX) */
    int ind = cli_parse(cmd, argc, argv, parse_opt, &o, &rc);
    if (ind < 0)
        return rc;
    if (ind >= argc)
        return cli_usage_missing(cmd, "<BOX>\n  <COMMAND>...");
    const char *target = argv[ind];
    char **rest = argv + ind + 1;
    int nrest = argc - ind - 1;
    if (nrest > 0 && rest[0][0] == '-' && strcmp(rest[0], "--") != 0) {
        /* options after BOX */
        int sub = cli_parse(cmd, nrest + 1, rest - 1, parse_opt, &o, &rc);
        if (sub < 0)
            return rc;
        rest = rest - 1 + sub;
        nrest = (int) (argv + argc - rest);
    }
    if (nrest > 0 && !strcmp(rest[0], "--")) {
        rest++;
        nrest--;
    }
    if (nrest <= 0)
        return cli_usage_missing(cmd, "<COMMAND>...");
    if (o.tty && !o.detach && !isatty(STDIN_FILENO))
        return cli_errorf("the input device is not a TTY.");
    int tty = o.tty && !o.detach; /* a detached exec has no terminal to attach */
    _cleanup_(boxlite_runtime_freep) boxlite_runtime *rt = NULL;
    if (cli_open_runtime(&rt) != 0)
        return 125;
    _cleanup_(boxlite_box_freep) boxlite_box *box = NULL;
    boxlite_error *err = NULL;
    if (boxlite_box_lookup(rt, target, &box, &err) < 0)
        return cli_error(err);
    if (signals_forward(tty) < 0)
        return cli_errorf("cannot set up signal forwarding"), 125;
    boxlite_exec_opts eo;
    boxlite_exec_opts_init(&eo);
    eo.argv = (const char *const *) rest;
    eo.env = o.env.n ? o.env.v : NULL;
    eo.workdir = o.workdir;
    eo.user = o.user;
    eo.detach = o.detach;
    eo.stdio[0] = (o.interactive || tty) && !o.detach ? STDIN_FILENO : -1;
    eo.stdio[1] = o.detach ? -1 : STDOUT_FILENO;
    eo.stdio[2] = o.detach ? -1 : STDERR_FILENO;
    eo.tty = tty;
    int status = 125;
    _cleanup_(term_restore_if) int raw = tty;
    if (raw)
        term_raw_or_warn();
    if (boxlite_box_exec(rt, box, &eo, signals_forward_fd(), &status, &err) < 0) {
        int code = boxlite_error_code(err);
        term_restore();
        cli_error(err);
        return code == -EINVAL ? EXIT_ERROR : status;
    }
    return status;
}
