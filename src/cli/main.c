/* SPDX-License-Identifier: MIT */
/*
 * boxlite: the CLI. A thin client of libboxlite: it parses, calls the library and prints.
 * Usage errors exit 2 with clap-style text; runtime errors exit 1 with one "Error: …" line.
 * Nothing here calls exit() in the middle of a command: every path returns to main.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "box-name.h"
#include "cli.h"
#include "macro.h"

const char *arg_home;
int arg_debug;
const char *arg_config;
unsigned arg_experimental;
#define MAX_REGISTRIES 32
const char *arg_registries[MAX_REGISTRIES + 1];
static size_t n_registries;

/* --registry HOST: repeatable, in order; returns 0 or prints a usage error. */
static int add_registry(const char *host)
{
    if (n_registries >= MAX_REGISTRIES)
        return cli_usage_error(NULL, "too many --registry options (at most %d)", MAX_REGISTRIES);
    arg_registries[n_registries++] = host;
    return 0;
}

/* Flags run and create share. */
#define BOX_FLAGS_HELP \
    "      --cap-add <CAP>       Add a Linux capability (repeatable)\n" \
    "      --cap-drop <CAP>      Drop a Linux capability (repeatable)\n" \
    "      --memory <MiB>        Memory limit in MiB [default: 1024]\n" \
    "      --cpus <CPUS>         CPU limit, fractions allowed [default: 1]\n" \
    "      --pids-limit <N>      Most processes at once (0: no limit) [default: 0]\n" \
    "      --disk-size <GB>      Accepted for compatibility (the rootfs has no fixed size)\n" \
    "  -v, --volume <SPEC>       Bind HOST:BOX[:ro], or an anonymous volume BOX[:ro]\n" \
    "  -p, --publish <SPEC>      Publish a box port: [[HOST_IP:][HOST_PORT]:]BOX_PORT[/tcp]\n" \
    "                            (repeatable; HOST_IP 127.0.0.1, HOST_PORT 0 = any by default)\n" \
    "      --network <MODE>      enabled or disabled [default: enabled]\n" \
    "      --allow-net <HOST>    Allow only these destinations: HOST, *.DOMAIN, IP or CIDR,\n" \
    "                            each with an optional :PORT (repeatable)\n"

static const struct command commands[] = {
    {"run", NULL, "Run a command in a new box", "run [OPTIONS] <IMAGE> [COMMAND]...",
     "  -d, --detach              Run in the background and print the box ID\n"
     "      --rm                  Remove the box when it stops\n"
     "      --name <NAME>         Name the box\n"
     "  -e, --env <K=V>           Set an environment variable (repeatable)\n"
     "  -w, --workdir <PATH>      Working directory of the command\n"
     "  -u, --user <USER>         User (name|uid[:group|gid])\n"
     "      --entrypoint <EXEC>   Override the image's ENTRYPOINT\n"
     "  -i, --interactive         Forward standard input to the command\n"
     "  -t, --tty                 Allocate a pseudo-terminal\n"
     "      --init                Run a minimal init as PID 1 (reaps zombies, forwards signals)\n"
     "      --rootfs <PATH>       Run a prepared root filesystem instead of an image\n"
     BOX_FLAGS_HELP,
     cmd_run, 0},
    {"exec", NULL, "Execute a command in a running box", "exec [OPTIONS] <BOX> [--] <COMMAND>...",
     "  -e, --env <K=V>           Set an environment variable (repeatable)\n"
     "  -w, --workdir <PATH>      Working directory\n"
     "  -u, --user <USER>         User (name|uid[:group|gid])\n"
     "  -d, --detach              Start the command and return at once\n"
     "  -i, --interactive         Forward standard input\n"
     "  -t, --tty                 Allocate a pseudo-terminal\n",
     cmd_exec, 0},
    {"create", NULL, "Create a new box", "create [OPTIONS] <IMAGE> [COMMAND]...",
     "      --name <NAME>         Name the box\n"
     "  -e, --env <K=V>           Set an environment variable (repeatable)\n"
     "  -w, --workdir <PATH>      Working directory\n"
     "      --entrypoint <EXEC>   Override the image's ENTRYPOINT\n"
     "      --init                Run a minimal init as PID 1\n"
     "      --rootfs <PATH>       Use a prepared root filesystem\n"
     BOX_FLAGS_HELP,
     cmd_create, 0},
    {"list", "ls ps", "List boxes", "list [OPTIONS]",
     "  -a, --all                 Show all boxes (default: running only)\n"
     "  -q, --quiet               Only show IDs\n"
     "      --format <FORMAT>     table, json or yaml [default: table]\n",
     cmd_list, 0},
    {"rm", NULL, "Remove one or more boxes", "rm [OPTIONS] [BOX]...",
     "  -f, --force               Stop running boxes first\n"
     "  -a, --all                 Remove every box\n",
     cmd_rm, 0},
    {"start", NULL, "Start one or more stopped boxes", "start <BOX>...", "", cmd_start, 0},
    {"stop", NULL, "Stop one or more running boxes", "stop [OPTIONS] <BOX>...",
     "  -t, --time <SECONDS>      Seconds to wait before killing [default: 10]\n",
     cmd_stop, 0},
    {"restart", NULL, "Restart one or more boxes", "restart [OPTIONS] <BOX>...",
     "  -t, --time <SECONDS>      Seconds to wait before killing [default: 10]\n",
     cmd_restart, 0},
    {"pull", NULL, "Pull an image from a registry", "pull [OPTIONS] <IMAGE>",
     "  -q, --quiet               Print only the image's config digest\n"
     "      --platform <PLATFORM> os/arch[/variant] to take from a multi-platform image\n"
     "                            [default: the host's]\n",
     cmd_pull, 0},
    {"inspect", NULL, "Display detailed information on a box", "inspect [OPTIONS] [BOX]...",
     "  -l, --latest              Inspect the newest box\n"
     "  -f, --format <FORMAT>     json, yaml, or a Go template [default: json]\n",
     cmd_inspect, 0},
    {"cp", NULL, "Copy files/folders between host and box",
     "cp [OPTIONS] <SRC> <DST>  (one of them BOX:PATH)",
     "  -L, --follow-symlinks     Copy what symlinks in SRC point at\n"
     "      --no-overwrite        Fail if DST exists\n"
     "      --include-parent      Copy a directory with its own name (always on)\n",
     cmd_cp, 0},
    {"info", NULL, "Display system-wide runtime information", "info [OPTIONS]",
     "      --format <FORMAT>     yaml or json [default: yaml]\n", cmd_info, 0},
    {"logs", NULL, "Show logs from a box", "logs [OPTIONS] <BOX>",
     "  -n, --tail <N>            Only the last N lines [default: all]\n"
     "  -f, --follow              Keep printing new output until the box stops\n"
     "  -t, --timestamps          Show when each line was written\n",
     cmd_logs, 0},
    {"stats", NULL, "Display resource usage statistics for a box", "stats [OPTIONS] <BOX>",
     "      --format <FORMAT>     table, json or yaml [default: table]\n"
     "  -s, --stream              Refresh every second until Ctrl-C\n",
     cmd_stats, 0},
    {"images", NULL, "List images", "images [OPTIONS]",
     "  -a, --all              Show all images (accepted for docker compatibility)\n"
     "  -q, --quiet            Only show image IDs (full manifest digests)\n"
     "      --format <FORMAT>  Output format: table, json or yaml [default: table]\n",
     cmd_images, 0},
    {"load", NULL, "Load images from a docker-archive or OCI archive or layout",
     "load [OPTIONS]",
     "  -i, --input <PATH>     Archive file or OCI layout directory; standard input if omitted\n"
     "  -q, --quiet            Print nothing on success\n",
     cmd_load, 0},
    {"rmi", NULL, "Remove one or more images", "rmi [OPTIONS] <IMAGE>...",
     "  -f, --force            Remove even an image a box uses, or an id with several tags\n",
     cmd_rmi, 0},
    {"image", NULL, "Manage images (inspect, ls, rm, load)", "image <COMMAND> [ARGS]...",
     "Commands:\n"
     "  inspect   Display detailed information on one or more images (JSON)\n"
     "  ls        List images (same as `boxlite images`)\n"
     "  rm        Remove images (same as `boxlite rmi`)\n"
     "  load      Load images (same as `boxlite load`)\n",
     cmd_image, 0},
    {"network", NULL, "Manage box networking", "network <COMMAND> [ARGS]...",
     "Commands:\n"
     "  tunnel    Print a public URL for a box's port (needs a remote runtime)\n",
     cmd_network, 0},
    {"volume", NULL, "Manage named local volumes", "volume <COMMAND> [ARGS]...",
     "Commands:\n"
     "  create    Create a named volume\n"
     "  ls        List named volumes\n"
     "  get       Display a named volume\n"
     "  rm        Remove named volumes\n"
     "(named volumes are not supported yet: each of these fails with \"unsupported\")\n",
     cmd_volume, 0},
    {"completion", NULL, "Generate a shell completion script", "completion <SHELL>", "",
     cmd_completion, 1},
};

const struct command *cli_commands(size_t *ret_n)
{
    *ret_n = sizeof(commands) / sizeof(commands[0]);
    return commands;
}

static void print_main_help(FILE *f)
{
    fprintf(f, "BoxLite CLI\n\nUsage: boxlite [OPTIONS] <COMMAND>\n\nCommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!commands[i].hidden)
            fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "  %-10s %s\n", "help", "Print this message or the help of the given subcommand(s)");
    fprintf(f, "\nOptions:\n"
               "      --debug            Enable debug output\n"
               "      --home <HOME>      BoxLite home directory [env: BOXLITE_HOME=]\n"
               "      --registry <HOST>  Image registry to search (repeatable)\n"
               "      --config <PATH>    Runtime configuration file (JSON)\n"
               "  -h, --help             Print help\n"
               "  -V, --version          Print version\n");
}

void cli_print_help(const struct command *cmd)
{
    printf("%s\n\nUsage: boxlite %s\n\n", cmd->summary, cmd->usage);
    if (cmd->help && !strncmp(cmd->help, "Commands:", 9))
        printf("%s\nOptions:\n", cmd->help);
    else
        printf("Options:\n%s", cmd->help ? cmd->help : "");
    printf("      --home <HOME>      BoxLite home directory [env: BOXLITE_HOME=]\n"
           "      --debug            Enable debug output\n"
           "  -h, --help             Print help\n");
}

static __attribute__((format(printf, 1, 0))) char *vformat(const char *fmt, va_list ap)
{
    char *msg = NULL;
    return vasprintf(&msg, fmt, ap) < 0 ? NULL : msg;
}

int cli_usage_error(const struct command *cmd, const char *fmt, ...)
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

int cli_usage_missing(const struct command *cmd, const char *args)
{
    fprintf(stderr,
            "error: the following required arguments were not provided:\n  %s\n\nUsage: boxlite "
            "%s\n\nFor more information, try '--help'.\n",
            args, cmd ? cmd->usage : "[OPTIONS] <COMMAND>");
    return EXIT_USAGE;
}

int cli_usage_invalid(const struct command *cmd, const char *value, const char *what,
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

/* `--home ''` would silently mean the default home: a usage error instead. */
static int home_arg(const char *value, const struct command *cmd)
{
    if (!*value) {
        cli_usage_error(cmd, "invalid value '' for '--home <HOME>': the home directory must not "
                             "be empty");
        return -1;
    }
    arg_home = value;
    return 0;
}

static void log_sink(int level, const char *msg, void *userdata)
{
    (void) userdata;
    static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    if (!arg_debug) { /* the library's warnings, as the CLI's own */
        fprintf(stderr, "Warning: %s\n", msg);
        return;
    }
    fprintf(stderr, "%s boxlite: %s\n", names[level & 3], msg);
}

/* The --config file's text, checked to be JSON; NULL (and an error printed) on failure. */
static char *read_config(const char *path, int *ret_exit)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        *ret_exit = errno == ENOENT ? cli_errorf("Configuration file not found: %s", path)
                                    : cli_errorf("cannot read config file %s: %s", path,
                                                 strerror(errno));
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadf(f, 0, &je);
    fclose(f);
    if (!j) {
        *ret_exit = cli_errorf("Failed to parse config file %s: %s at line %d column %d", path,
                               je.text, je.line, je.column);
        return NULL;
    }
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!text)
        *ret_exit = cli_errorf("out of memory");
    return text;
}

int cli_open_runtime(boxlite_runtime **ret)
{
    boxlite_runtime_opts o;
    boxlite_runtime_opts_init(&o);
    o.home = arg_home;
    o.registries = arg_registries;
    _cleanup_free_ char *config = NULL;
    if (arg_config) {
        int rc = EXIT_ERROR;
        config = read_config(arg_config, &rc);
        if (!config)
            return rc;
        o.config_json = config;
    }
    boxlite_error *err = NULL;
    int r = boxlite_runtime_open(&o, ret, &err);
    if (config) /* it may hold secrets */
        explicit_bzero(config, strlen(config));
    if (r < 0)
        return cli_error(err);
    return 0;
}

int cli_global_opt(int c, const struct command *cmd)
{
    switch (c) {
    case 1001:
        return home_arg(optarg, cmd) == 0 ? 1 : -1;
    case 1002:
        arg_debug = 1;
        boxlite_set_log_fn(log_sink, BOXLITE_LOG_DEBUG, NULL);
        return 1;
    case 1003:
        arg_config = optarg;
        return 1;
    case 1004:
        return add_registry(optarg) == 0 ? 1 : -1;
    case 'h':
        cli_print_help(cmd);
        return 2;
    default:
        return 0;
    }
}

/* BOXLITE_EXPERIMENTAL: a comma list of upstream's RC features, each trimmed; blank = none.
 * Upstream checks it for every command but `completion`, after parsing the arguments. Returns
 * 0, or EXIT_ERROR with upstream's message printed. */
static int parse_experimental(void)
{
    const char *v = getenv("BOXLITE_EXPERIMENTAL");
    static const char *const ws = " \t\n\v\f\r";
    arg_experimental = 0;
    if (!v || !v[strspn(v, ws)])
        return 0;
    for (const char *p = v;;) {
        size_t len = strcspn(p, ","), a = 0, n = len;
        while (a < n && strchr(ws, p[a])) /* p[a] is not NUL: a < len */
            a++;
        while (n > a && strchr(ws, p[n - 1]))
            n--;
        const char *tok = p + a;
        n -= a;
        if (n == 0)
            return cli_errorf("configuration error: BOXLITE_EXPERIMENTAL contains an empty "
                              "feature name");
        if (n == 13 && !strncmp(tok, "custom-kernel", n))
            arg_experimental |= CLI_FEATURE_CUSTOM_KERNEL;
        else if (n == 21 && !strncmp(tok, "nested-virtualization", n))
            arg_experimental |= CLI_FEATURE_NESTED_VIRT;
        else
            return cli_errorf("configuration error: unknown feature '%.*s' in "
                              "BOXLITE_EXPERIMENTAL; supported values: custom-kernel, "
                              "nested-virtualization",
                              (int) n, tok);
        if (!p[len])
            return 0;
        p += len + 1;
    }
}

int cli_parse(const struct command *cmd, int argc, char **argv, const char *shortopts,
              const struct option *longopts, int (*on_opt)(int c, const char *arg),
              int *ret_exit)
{
    char sopts[64];
    /* "+" (stop at the first operand: run's trailing COMMAND) must lead the option string */
    if (shortopts[0] == '+')
        snprintf(sopts, sizeof(sopts), "+:h%s", shortopts + 1);
    else
        snprintf(sopts, sizeof(sopts), ":h%s", shortopts);
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, sopts, longopts, NULL)) != -1) {
        int g = cli_global_opt(c, cmd);
        if (g == 2) {
            *ret_exit = EXIT_OK;
            return -1;
        }
        if (g < 0) {
            *ret_exit = EXIT_USAGE;
            return -1;
        }
        if (g == 1)
            continue;
        if (c == '?') {
            if (optopt && optopt < 256)
                *ret_exit = cli_usage_error(cmd, "unexpected argument '-%c' found", optopt);
            else
                *ret_exit = cli_usage_error(cmd, "unexpected argument '%s' found",
                                            argv[optind - 1]);
            return -1;
        }
        if (c == ':') {
            *ret_exit = cli_usage_error(
                cmd, "a value is required for '%s' but none was supplied", argv[optind - 1]);
            return -1;
        }
        int r = on_opt ? on_opt(c, optarg) : cli_usage_error(cmd, "unexpected option");
        if (r != 0) {
            *ret_exit = r;
            return -1;
        }
    }
    if (strcmp(cmd->name, "completion") != 0 && parse_experimental() != 0) {
        *ret_exit = EXIT_ERROR;
        return -1;
    }
    return optind;
}

int main(int argc, char **argv)
{
    int i = 1;
    /* A closed 0, 1 or 2 would be taken by the next file we open (the database, a box's
     * directory) and handed to a box as its stdio: make them /dev/null first. */
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF &&
            open("/dev/null", O_RDWR) != fd) /* NOLINT: stdio, kept on purpose */
            return 125;
    /* warnings of the library reach the user (--debug raises the level) */
    boxlite_set_log_fn(log_sink, BOXLITE_LOG_WARNING, NULL);
    /* global options before the command */
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--version") || !strcmp(a, "-V")) {
            printf("boxlite %s\n", boxlite_version());
            return EXIT_OK;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            print_main_help(stdout);
            return EXIT_OK;
        }
        if (!strcmp(a, "--debug")) {
            arg_debug = 1;
            boxlite_set_log_fn(log_sink, BOXLITE_LOG_DEBUG, NULL);
        } else if (!strcmp(a, "--home") || !strcmp(a, "--config") || !strcmp(a, "--registry")) {
            if (i + 1 >= argc)
                return cli_usage_error(NULL, "a value is required for '%s' but none was supplied",
                                       a);
            if (!strcmp(a, "--home")) {
                if (home_arg(argv[i + 1], NULL) < 0)
                    return EXIT_USAGE;
            } else if (!strcmp(a, "--config")) {
                arg_config = argv[i + 1];
            } else if (add_registry(argv[i + 1]) != 0) {
                return EXIT_USAGE;
            }
            i++;
        } else if (!strncmp(a, "--home=", 7)) {
            if (home_arg(a + 7, NULL) < 0)
                return EXIT_USAGE;
        } else if (!strncmp(a, "--config=", 9)) {
            arg_config = a + 9;
        } else if (!strncmp(a, "--registry=", 11)) {
            if (add_registry(a + 11) != 0)
                return EXIT_USAGE;
        } else {
            return cli_usage_error(NULL, "unexpected argument '%s' found", a);
        }
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
    for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++) {
        const struct command *c = &commands[k];
        int match = !strcmp(c->name, name);
        if (!match && c->aliases) {
            size_t nl = strlen(name);
            for (const char *a = c->aliases; *a && !match; a += strcspn(a, " "), a += *a == ' ')
                match = !strncmp(a, name, nl) && (a[nl] == ' ' || a[nl] == 0);
        }
        if (match)
            return c->run(c, argc - i, argv + i);
    }
    return cli_usage_error(NULL, "unrecognized subcommand '%s'", name);
}
