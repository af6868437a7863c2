/* SPDX-License-Identifier: MIT */
/*
 * Box commands: run, create, start, stop, restart, rm, list, inspect, exec.
 * Exit codes (docs/user-guide.md): run and exec return the command's status (128+N for signal
 * N); run returns 125 when boxlite fails before the command runs, 126/127 when the command
 * cannot be invoked / is not found; exec returns 1 for a box that cannot take an exec (unknown,
 * ambiguous, refused) and 125 when boxlite fails; other commands 0, 1, or 2 for usage errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "macro.h"
#include "output.h"
#include "template.h"
#include "term.h"

BL_DEFINE_CLEANUP_FUNC(boxlite_runtime *, boxlite_runtime_free)
BL_DEFINE_CLEANUP_FUNC(boxlite_box *, boxlite_box_free)
BL_DEFINE_CLEANUP_FUNC(boxlite_error *, boxlite_error_free)

#define MAX_LIST 256

static struct {
    int detach, rm, interactive, tty, init, quiet, all, force, latest;
    const char *name, *workdir, *user, *entrypoint, *rootfs, *format;
    const char *env[MAX_LIST];
    int n_env;
    const char *cap_add[MAX_LIST], *cap_drop[MAX_LIST];
    int n_add, n_drop;
    const char *volumes[MAX_LIST];
    int n_volumes;
    const char *network;
    const char *publish[MAX_LIST], *allow_net[MAX_LIST];
    int n_publish, n_allow_net;
    int64_t memory_mib, pids_limit;
    double cpus;
    int timeout;
    /* the hidden RC flags: only checked and refused (rc_flags) */
    const char *kernel, *kernel_format, *initramfs, *kernel_args;
    int nested_virt;
} o = {.timeout = 10};

enum {
    OPT_RM = 2000,
    OPT_NAME,
    OPT_ENTRYPOINT,
    OPT_INIT,
    OPT_ROOTFS,
    OPT_CAP_ADD,
    OPT_CAP_DROP,
    OPT_FORMAT,
    OPT_MEMORY,
    OPT_CPUS,
    OPT_PIDS_LIMIT,
    OPT_DISK_SIZE,
    OPT_NETWORK,
    OPT_ALLOW_NET,
    OPT_KERNEL,
    OPT_KERNEL_FORMAT,
    OPT_INITRAMFS,
    OPT_KERNEL_ARGS,
    OPT_NESTED_VIRT,
};

static int push(const char **list, int *n, const char *v)
{
    if (*n >= MAX_LIST - 1)
        return cli_errorf("too many values");
    list[(*n)++] = v;
    list[*n] = NULL;
    return 0;
}

/* clap's words for a bad integer (Rust's ParseIntError) */
static int parse_uint(const char *flag, const char *arg, unsigned long long max,
                      unsigned long long *ret)
{
    if (!*arg)
        return cli_usage_error(NULL, "invalid value '' for '%s': cannot parse integer from empty "
                                     "string", flag);
    for (const char *p = arg; *p; p++)
        if (*p < '0' || *p > '9')
            return cli_usage_error(NULL, "invalid value '%s' for '%s': invalid digit found in "
                                         "string", arg, flag);
    errno = 0;
    unsigned long long v = strtoull(arg, NULL, 10); /* NOLINT: digits checked above */
    if (errno || v > max)
        return cli_usage_error(NULL, "invalid value '%s' for '%s': number too large to fit in "
                                     "target type", arg, flag);
    *ret = v;
    return 0;
}

static int resource_opt(int c, const char *arg)
{
    unsigned long long v;
    int r;
    switch (c) {
    case OPT_MEMORY:
        if ((r = parse_uint("--memory <MEMORY>", arg, 0xffffffffULL, &v)) != 0)
            return r;
        if (v < 6)
            return cli_usage_error(NULL, "invalid value '%s' for '--memory <MEMORY>': the "
                                         "minimum is 6 (MiB)", arg);
        o.memory_mib = (int64_t) v;
        return 0;
    case OPT_CPUS: {
        char *end = NULL;
        errno = 0;
        double d = strtod(arg, &end); /* NOLINT: checked below */
        if (!*arg || *end || errno || isnan(d) || isinf(d) || strchr(arg, 'x') ||
            strchr(arg, 'X'))
            return cli_usage_error(NULL, "invalid value '%s' for '--cpus <CPUS>': invalid "
                                         "number", arg);
        if (d < 0.001)
            return cli_usage_error(NULL, "invalid value '%s' for '--cpus <CPUS>': must be at "
                                         "least 0.001", arg);
        if (d > 255) {
            fprintf(stderr, "Warning: --cpus %s is more than the maximum of 255; using 255\n",
                    arg);
            d = 255;
        }
        o.cpus = d;
        return 0;
    }
    case OPT_PIDS_LIMIT: {
        /* docker: 0 or -1 mean no limit */
        const char *a = arg[0] == '-' ? arg + 1 : arg;
        if ((r = parse_uint("--pids-limit <PIDS_LIMIT>", a, 0x7fffffffULL, &v)) != 0)
            return r;
        if (arg[0] == '-' && v != 1)
            return cli_usage_error(NULL, "invalid value '%s' for '--pids-limit <PIDS_LIMIT>': "
                                         "use a positive number, or 0 or -1 for no limit", arg);
        o.pids_limit = arg[0] == '-' ? 0 : (int64_t) v;
        return 0;
    }
    case OPT_DISK_SIZE:
        /* accepted for compatibility: the box's overlay has no size of its own */
        return parse_uint("--disk-size <DISK_SIZE>", arg, ~0ULL, &v);
    case 'v':
        return push(o.volumes, &o.n_volumes, arg);
    default:
        return -1;
    }
}

static int box_opt(int c, const char *arg)
{
    int rr = resource_opt(c, arg);
    if (rr >= 0)
        return rr;
    switch (c) {
    case 'd':
        o.detach = 1;
        return 0;
    case OPT_RM:
        o.rm = 1;
        return 0;
    case 'i':
        o.interactive = 1;
        return 0;
    case 't':
        o.tty = 1;
        return 0;
    case OPT_INIT:
        o.init = 1;
        return 0;
    case 'q':
        o.quiet = 1;
        return 0;
    case 'a':
        o.all = 1;
        return 0;
    case 'f':
        o.force = 1;
        return 0;
    case 'l':
        o.latest = 1;
        return 0;
    case OPT_NAME:
        o.name = arg;
        return 0;
    case 'w':
        o.workdir = arg;
        return 0;
    case 'u':
        o.user = arg;
        return 0;
    case OPT_ENTRYPOINT:
        o.entrypoint = arg;
        return 0;
    case OPT_ROOTFS:
        o.rootfs = arg;
        return 0;
    case OPT_FORMAT:
        o.format = arg;
        return 0;
    case 'e':
        if (!strchr(arg, '=')) { /* bare K: the host's value, or skipped */
            const char *v = getenv(arg);
            if (!v) {
                cli_eprintf("Environment variable '%s' not found on host, skipping", arg);
                return 0;
            }
            char *kv = NULL;
            if (asprintf(&kv, "%s=%s", arg, v) < 0)
                return cli_errorf("out of memory");
            return push(o.env, &o.n_env, kv); /* lives until exit */
        }
        return push(o.env, &o.n_env, arg);
    case OPT_CAP_ADD:
        return push(o.cap_add, &o.n_add, arg);
    case OPT_CAP_DROP:
        return push(o.cap_drop, &o.n_drop, arg);
    /* the network flags are only collected: the library validates them */
    case 'p':
        return push(o.publish, &o.n_publish, arg);
    case OPT_NETWORK:
        o.network = arg;
        return 0;
    case OPT_ALLOW_NET:
        return push(o.allow_net, &o.n_allow_net, arg);
    case OPT_KERNEL:
        o.kernel = arg;
        return 0;
    case OPT_KERNEL_FORMAT: {
        static const char *const formats[] = {"auto",      "raw",      "elf",       "pe-gz",
                                              "image-bz2", "image-gz", "image-zstd"};
        for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
            if (!strcmp(arg, formats[i])) {
                o.kernel_format = arg;
                return 0;
            }
        return cli_usage_invalid(NULL, arg, "--kernel-format <KERNEL_FORMAT>",
                                 "auto, raw, elf, pe-gz, image-bz2, image-gz, image-zstd");
    }
    case OPT_INITRAMFS:
        o.initramfs = arg;
        return 0;
    case OPT_KERNEL_ARGS:
        o.kernel_args = arg;
        return 0;
    case OPT_NESTED_VIRT:
        o.nested_virt = 1;
        return 0;
    default:
        return EXIT_USAGE;
    }
}

static int stop_opt(int c, const char *arg)
{
    switch (c) {
    case 't': {
        char *end;
        long v = strtol(arg, &end, 10); /* NOLINT: flag value */
        if (*arg == 0 || *end || v < 0)
            return cli_usage_error(NULL, "invalid value '%s' for '--time <SECONDS>'", arg);
        o.timeout = (int) v;
        return 0;
    }
    default:
        return EXIT_USAGE;
    }
}

#define CREATE_LONGOPTS                                                                            \
    {"memory", required_argument, NULL, OPT_MEMORY}, {"cpus", required_argument, NULL, OPT_CPUS},  \
        {"pids-limit", required_argument, NULL, OPT_PIDS_LIMIT},                                   \
        {"disk-size", required_argument, NULL, OPT_DISK_SIZE},                                     \
        {"volume", required_argument, NULL, 'v'},                                                  \
        {"detach", no_argument, NULL, 'd'}, {"rm", no_argument, NULL, OPT_RM},                     \
        {"name", required_argument, NULL, OPT_NAME}, {"env", required_argument, NULL, 'e'},        \
        {"workdir", required_argument, NULL, 'w'},                                                 \
        {"entrypoint", required_argument, NULL, OPT_ENTRYPOINT},                                   \
        {"rootfs", required_argument, NULL, OPT_ROOTFS},                                           \
        {"cap-add", required_argument, NULL, OPT_CAP_ADD},                                         \
        {"cap-drop", required_argument, NULL, OPT_CAP_DROP},                                       \
        {"init", no_argument, NULL, OPT_INIT}, {"publish", required_argument, NULL, 'p'},          \
        {"network", required_argument, NULL, OPT_NETWORK},                                         \
        {"allow-net", required_argument, NULL, OPT_ALLOW_NET},                                     \
        /* hidden (not in --help, so not in completion either): upstream's RC flags */             \
        {"kernel", required_argument, NULL, OPT_KERNEL},                                           \
        {"kernel-format", required_argument, NULL, OPT_KERNEL_FORMAT},                             \
        {"initramfs", required_argument, NULL, OPT_INITRAMFS},                                     \
        {"kernel-args", required_argument, NULL, OPT_KERNEL_ARGS},                                 \
        {"nested-virtualization", no_argument, NULL, OPT_NESTED_VIRT}

/* Signals forwarded to the box while a foreground command runs go through a pipe. */
static int sig_pipe[2] = {-1, -1};
static void on_signal(int sig)
{
    int saved = errno;
    (void) !write(sig_pipe[1], &sig, sizeof(sig));
    errno = saved;
}

/* with_winch: a window-size change goes through the pipe too (the library resizes the box's
 * pty). */
static int forward_signals(int with_winch)
{
    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]) - !with_winch; i++)
        (void) sigaction(sigs[i], &sa, NULL);
    return 0;
}

/* Raw mode for -t; a failure is a warning (spec/cli.md §6). Restored by term_restore(). */
static void enter_raw_mode(void)
{
    int r = term_make_raw(STDIN_FILENO);
    if (r < 0)
        fprintf(stderr, "Warning: Failed to enable raw mode: %s\n"
                        "Continuing in cooked mode. Some features may not work correctly.\n",
                strerror(-r));
}

static void restore_terminal(int *armed)
{
    if (*armed)
        term_restore();
}

static void fill_box_opts(boxlite_box_opts *bo, const char *image, char **cmd)
{
    boxlite_box_opts_init(bo);
    bo->image = image;
    bo->rootfs = o.rootfs;
    bo->name = o.name;
    bo->cmd = (const char *const *) (cmd && cmd[0] ? cmd : NULL);
    bo->entrypoint = o.entrypoint;
    bo->env = o.n_env ? o.env : NULL;
    bo->workdir = o.workdir;
    bo->user = o.user;
    bo->cap_add = o.n_add ? o.cap_add : NULL;
    bo->cap_drop = o.n_drop ? o.cap_drop : NULL;
    bo->init = o.init;
    bo->memory_mib = o.memory_mib;
    bo->cpus = o.cpus;
    bo->pids_limit = o.pids_limit;
    bo->volumes = o.n_volumes ? o.volumes : NULL;
    bo->network = o.network;
    bo->allow_net = o.n_allow_net ? o.allow_net : NULL;
    bo->publish = o.n_publish ? o.publish : NULL;
}

/* upstream's words when an RC feature is used without its BOXLITE_EXPERIMENTAL token */
static int rc_gate(const char *what, const char *feature, const char *token)
{
    return cli_errorf("configuration error: %s is an RC feature and is disabled; enable "
                      "ExperimentalFeature::%s when constructing the runtime (CLI: set "
                      "BOXLITE_EXPERIMENTAL=%s)",
                      what, feature, token);
}

/* The hidden RC flags (spec/cli.md §4.1), checked before anything else as upstream does:
 * clap's "requires --kernel" (2), then upstream's gate (1), then, past the gate, refused:
 * boxes run on the host's kernel and are not virtual machines (spec deviation 8). Returns 0,
 * or the exit code after printing. */
static int rc_flags(const struct command *cmd)
{
    if (!o.kernel && (o.kernel_format || o.initramfs || o.kernel_args))
        return cli_usage_missing(cmd, "--kernel <KERNEL>");
    if (o.kernel && !(arg_experimental & CLI_FEATURE_CUSTOM_KERNEL))
        return rc_gate("custom kernel support", "CustomKernel", "custom-kernel");
    if (o.nested_virt && !(arg_experimental & CLI_FEATURE_NESTED_VIRT))
        return rc_gate("nested virtualization support", "NestedVirtualization",
                       "nested-virtualization");
    if (o.kernel)
        return cli_errorf("unsupported: --kernel: a box runs on the host's kernel (boxlite "
                          "isolates with namespaces, not a virtual machine)");
    if (o.nested_virt)
        return cli_errorf("unsupported: --nested-virtualization: a box is not a virtual "
                          "machine (boxlite isolates with namespaces)");
    return 0;
}

/* run and create share their start: IMAGE [CMD...] or --rootfs PATH [CMD...]. */
static int image_and_cmd(const struct command *cmd, int argc, char **argv, int ind,
                         const char **image, char ***rest, int is_create, int *ret)
{
    if ((*ret = rc_flags(cmd)) != 0)
        return -1;
    if (o.rootfs) {
        if (is_create && ind < argc) {
            *ret = cli_errorf("provide either IMAGE or --rootfs PATH, not both");
            return -1;
        }
        *image = NULL;
        *rest = argv + ind;
        return 0;
    }
    if (ind >= argc) {
        *ret = cli_errorf("provide IMAGE or --rootfs PATH");
        return -1;
    }
    *image = argv[ind];
    *rest = argv + ind + 1;
    return 0;
}

CMD(run)
{
    static const struct option longopts[] = {CREATE_LONGOPTS,
                                             {"interactive", no_argument, NULL, 'i'},
                                             {"tty", no_argument, NULL, 't'},
                                             {"user", required_argument, NULL, 'u'},
                                             CLI_GLOBAL_LONGOPTS,
                                             {0}};
    int rc = 0;
    int ind = cli_parse(cmd, argc, argv, "+de:w:u:itv:p:", longopts, box_opt, &rc);
    if (ind < 0)
        return rc;
    const char *image;
    char **rest;
    if (image_and_cmd(cmd, argc, argv, ind, &image, &rest, 0, &rc) < 0)
        return rc;
    if (o.tty && !isatty(STDIN_FILENO))
        return cli_errorf("the input device is not a TTY.");
    _cleanup_(boxlite_runtime_freep) boxlite_runtime *rt = NULL;
    if (cli_open_runtime(&rt) != 0)
        return 125;
    boxlite_box_opts bo;
    fill_box_opts(&bo, image, rest);
    bo.detach = o.detach;
    bo.auto_remove = o.rm && !o.detach;
    bo.tty = o.tty;
    _cleanup_(boxlite_box_freep) boxlite_box *box = NULL;
    boxlite_error *err = NULL;
    if (boxlite_box_create(rt, &bo, &box, &err) < 0) {
        cli_error(err);
        return 125;
    }
    int status = 125;
    if (o.detach) {
        if (boxlite_box_start(rt, box, NULL, &status, &err) < 0) {
            cli_error(err);
            return status;
        }
        printf("%s\n", boxlite_box_id(box));
        return EXIT_OK;
    }
    if (forward_signals(o.tty) < 0)
        return cli_errorf("cannot set up signal forwarding"), 125;
    _cleanup_close_ int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    /* -t implies -i: the pty's input is ours */
    int stdio[3] = {o.interactive || o.tty ? STDIN_FILENO : devnull, STDOUT_FILENO,
                    STDERR_FILENO};
    _cleanup_(restore_terminal) int raw = o.tty;
    if (raw)
        enter_raw_mode();
    if (boxlite_box_start(rt, box, stdio, &status, &err) < 0) {
        term_restore(); /* the message on a terminal in its own mode */
        cli_error(err);
        return status;
    }
    if (!o.tty)
        devnull = bl_close(devnull);
    if (boxlite_box_wait(rt, box, sig_pipe[0], &status, &err) < 0) {
        term_restore();
        cli_error(err);
        return 125;
    }
    return status;
}

CMD(create)
{
    static const struct option longopts[] = {CREATE_LONGOPTS, CLI_GLOBAL_LONGOPTS, {0}};
    int rc = 0;
    int ind = cli_parse(cmd, argc, argv, "+de:w:v:p:", longopts, box_opt, &rc);
    if (ind < 0)
        return rc;
    const char *image;
    char **rest;
    if (image_and_cmd(cmd, argc, argv, ind, &image, &rest, 1, &rc) < 0)
        return rc;
    _cleanup_(boxlite_runtime_freep) boxlite_runtime *rt = NULL;
    if ((rc = cli_open_runtime(&rt)) != 0)
        return rc;
    boxlite_box_opts bo;
    fill_box_opts(&bo, image, rest);
    bo.detach = 1; /* create --rm and -d are accepted and ignored */
    _cleanup_(boxlite_box_freep) boxlite_box *box = NULL;
    boxlite_error *err = NULL;
    if (boxlite_box_create(rt, &bo, &box, &err) < 0)
        return cli_error(err);
    printf("%s\n", boxlite_box_id(box));
    return EXIT_OK;
}

/* start/stop/restart: every target is tried; exit 1 if any failed, with upstream's summary
 * (spec/cli.md §4.7): "Failed to <verb> all N" or "K of N", then each failure again. */
static int multi(const struct command *cmd, int argc, char **argv, const char *verb,
                 const char *ing, int (*op)(boxlite_runtime *, boxlite_box *, boxlite_error **))
{
    static const struct option longopts[] = {{"time", required_argument, NULL, 't'},
                                             CLI_GLOBAL_LONGOPTS, {0}};
    int rc = 0;
    int ind = cli_parse(cmd, argc, argv, "t:", longopts, stop_opt, &rc);
    if (ind < 0)
        return rc;
    if (ind >= argc)
        return cli_usage_missing(cmd, "<BOX>...");
    _cleanup_(boxlite_runtime_freep) boxlite_runtime *rt = NULL;
    if ((rc = cli_open_runtime(&rt)) != 0)
        return rc;
    /* the summary: bad[i] marks a target that failed, why[i] its reason (NULL: no memory) */
    _cleanup_free_ char **why = calloc((size_t) (argc - ind), sizeof(char *));
    _cleanup_free_ char *bad = calloc((size_t) (argc - ind), 1);
    if (!why || !bad)
        return cli_errorf("out of memory");
    int failed = 0;
    for (int i = ind; i < argc; i++) {
        _cleanup_(boxlite_box_freep) boxlite_box *box = NULL;
        _cleanup_(boxlite_error_freep) boxlite_error *err = NULL;
        if (boxlite_box_lookup(rt, argv[i], &box, &err) < 0) {
            cli_eprintf("Error: %s", boxlite_error_message(err));
            /* upstream lists an unknown box as "<t>: not found" */
            why[i - ind] = strdup(boxlite_error_code(err) == -ENOENT
                                      ? "not found"
                                      : boxlite_error_message(err));
            bad[i - ind] = 1;
            failed++;
            continue;
        }
        if (op(rt, box, &err) < 0) {
            cli_eprintf("Error %s box '%s': %s", ing, argv[i], boxlite_error_message(err));
            why[i - ind] = strdup(boxlite_error_message(err));
            bad[i - ind] = 1;
            failed++;
            continue;
        }
        printf("%s\n", argv[i]);
        fflush(stdout);
    }
    if (failed) {
        if (failed == argc - ind)
            fprintf(stderr, "Error: Failed to %s all %d box(es)\nErrors:\n", verb, failed);
        else
            fprintf(stderr, "Error: Failed to %s %d of %d box(es)\nErrors:\n", verb, failed,
                    argc - ind);
        for (int i = 0; i < argc - ind; i++) {
            if (bad[i])
                cli_eprintf("  %s: %s", argv[ind + i], why[i] ? why[i] : "out of memory");
            free(why[i]);
        }
    }
    return failed ? EXIT_ERROR : EXIT_OK;
}

static int op_start(boxlite_runtime *rt, boxlite_box *b, boxlite_error **err)
{
    int status;
    return boxlite_box_start(rt, b, NULL, &status, err);
}
static int op_stop(boxlite_runtime *rt, boxlite_box *b, boxlite_error **err)
{
    return boxlite_box_stop(rt, b, o.timeout, err);
}
static int op_restart(boxlite_runtime *rt, boxlite_box *b, boxlite_error **err)
{
    int r = boxlite_box_stop(rt, b, o.timeout, err);
    if (r < 0)
        return r;
    _cleanup_(boxlite_box_freep) boxlite_box *again = NULL;
    r = boxlite_box_lookup(rt, boxlite_box_id(b), &again, err);
    if (r < 0)
        return r;
    return op_start(rt, again, err);
}

CMD(start)
{
    return multi(cmd, argc, argv, "start", "starting", op_start);
}
CMD(stop)
{
    return multi(cmd, argc, argv, "stop", "stopping", op_stop);
}
CMD(restart)
{
    return multi(cmd, argc, argv, "restart", "restarting", op_restart);
}

CMD(rm)
{
    static const struct option longopts[] = {{"force", no_argument, NULL, 'f'},
                                             {"all", no_argument, NULL, 'a'},
                                             CLI_GLOBAL_LONGOPTS,
                                             {0}};
    int rc = 0;
    int ind = cli_parse(cmd, argc, argv, "fa", longopts, box_opt, &rc);
    if (ind < 0)
        return rc;
    if (ind >= argc && !o.all)
        return cli_usage_missing(cmd, "<BOX>...");
    _cleanup_(boxlite_runtime_freep) boxlite_runtime *rt = NULL;
    if ((rc = cli_open_runtime(&rt)) != 0)
        return rc;
    boxlite_box **list = NULL;
    size_t n = 0;
    if (o.all) {
        if (!o.force) {
            fprintf(stderr, "WARNING! This will remove all boxes. Are you sure? [y/N] ");
            char line[64] = "";
            if (!fgets(line, sizeof(line), stdin) || (line[0] != 'y' && line[0] != 'Y'))
                return EXIT_OK;
        }
        boxlite_error *err = NULL;
        if (boxlite_box_list(rt, 1, &list, &n, &err) < 0)
            return cli_error(err);
    }
    int failed = 0;
    size_t total = o.all ? n : (size_t) (argc - ind);
    for (size_t i = 0; i < total; i++) {
        _cleanup_(boxlite_box_freep) boxlite_box *box = NULL;
        _cleanup_(boxlite_error_freep) boxlite_error *err = NULL;
        const char *target = o.all ? boxlite_box_id(list[i]) : argv[ind + (int) i];
        int r = boxlite_box_lookup(rt, target, &box, &err);
        if (r == -ENOENT) { /* rm's own words for it (spec/cli.md §4.6) */
            cli_eprintf("Error removing box '%s': box not found: %s", target, target);
            failed = 1;
            continue;
        }
        if (r < 0 || boxlite_box_remove(rt, box, o.force, &err) < 0) {
            cli_eprintf("Error removing box '%s': %s", target, boxlite_error_message(err));
            failed = 1;
            continue;
        }
        printf("%s\n", target);
        fflush(stdout);
    }
    boxlite_box_list_free(list, n);
    if (failed) {
        fprintf(stderr, "Error: Some boxes could not be removed\n");
        return EXIT_ERROR;
    }
    return EXIT_OK;
}

static const char *capitalised(const char *status)
{
    if (!strcmp(status, "running"))
        return "Running";
    if (!strcmp(status, "stopped"))
        return "Stopped";
    if (!strcmp(status, "configured"))
        return "Configured";
    return "Unknown";
}

CMD(list)
{
    static const struct option longopts[] = {{"all", no_argument, NULL, 'a'},
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"format", required_argument, NULL, OPT_FORMAT},
                                             CLI_GLOBAL_LONGOPTS,
                                             {0}};
    int rc = 0;
    int ind = cli_parse(cmd, argc, argv, "aq", longopts, box_opt, &rc);
    if (ind < 0)
        return rc;
    if (ind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s' found", argv[ind]);
    enum out_format fmt = OUT_TABLE;
    if (!o.quiet && o.format && out_format_parse(o.format, &fmt) < 0)
        return EXIT_ERROR;
    _cleanup_(boxlite_runtime_freep) boxlite_runtime *rt = NULL;
    if ((rc = cli_open_runtime(&rt)) != 0)
        return rc;
    boxlite_box **list = NULL;
    size_t n = 0;
    boxlite_error *err = NULL;
    if (boxlite_box_list(rt, o.all, &list, &n, &err) < 0)
        return cli_error(err);
    if (o.quiet) {
        for (size_t i = 0; i < n; i++)
            printf("%s\n", boxlite_box_id(list[i]));
        boxlite_box_list_free(list, n);
        return EXIT_OK;
    }
    /* PORTS (docker ps style) only when some box publishes ports: without, the output is what
     * it was before boxes had networking */
    static const char *const th[] = {"ID", "IMAGE", "STATUS", "CREATED", "NAMES", "PORTS"};
    static const char *const oh[] = {"ID", "Image", "Status", "CreatedAt", "Names", "Ports"};
    enum { COLS = 6 };
    _cleanup_free_ const char **cells = calloc(n ? n * COLS : 1, sizeof(char *));
    _cleanup_free_ char *times = calloc(n ? n : 1, 64);
    _cleanup_free_ char **ports = calloc(n ? n : 1, sizeof(char *));
    if (!cells || !times || !ports) {
        boxlite_box_list_free(list, n);
        return cli_errorf("out of memory");
    }
    size_t cols = 5;
    for (size_t i = 0; i < n; i++) {
        if (boxlite_box_ports(list[i], &ports[i], &err) < 0) {
            for (size_t k = 0; k < i; k++)
                boxlite_free(ports[k]);
            boxlite_box_list_free(list, n);
            return cli_error(err);
        }
        if (*ports[i])
            cols = 6;
    }
    for (size_t i = 0; i < n; i++) {
        out_time(times + i * 64, 64, (long long) (boxlite_box_created_ns(list[i]) / 1000000000));
        const char **row = cells + i * cols;
        row[0] = boxlite_box_id(list[i]);
        row[1] = boxlite_box_image(list[i]);
        row[2] = capitalised(boxlite_box_status(list[i]));
        row[3] = times + i * 64;
        row[4] = boxlite_box_name(list[i]);
        if (cols == 6) /* an empty table cell; no "Ports" key in JSON and YAML */
            row[5] = *ports[i] ? ports[i] : NULL;
    }
    struct out_table t = {.headers = fmt == OUT_TABLE ? th : oh,
                          .cols = cols,
                          .cells = cells,
                          .rows = n,
                          .omit_null = 1};
    out_print(stdout, fmt, &t);
    for (size_t i = 0; i < n; i++)
        boxlite_free(ports[i]);
    boxlite_box_list_free(list, n);
    return EXIT_OK;
}

/* inspect's -f is --format (elsewhere it is --force) */
static int inspect_opt(int c, const char *arg)
{
    if (c == 'f')
        c = OPT_FORMAT;
    return box_opt(c, arg);
}

CMD(inspect)
{
    static const struct option longopts[] = {{"latest", no_argument, NULL, 'l'},
                                             {"format", required_argument, NULL, OPT_FORMAT},
                                             CLI_GLOBAL_LONGOPTS,
                                             {0}};
    int rc = 0;
    int ind = cli_parse(cmd, argc, argv, "lf:", longopts, inspect_opt, &rc);
    if (ind < 0)
        return rc;
    if (ind >= argc && !o.latest)
        return cli_errorf("no names or ids specified");
    if (ind < argc && o.latest)
        return cli_errorf("--latest and arguments cannot be used together");
    const char *f = o.format ? o.format : "json";
    int yaml = 0, tmpl = 0;
    if (!strcasecmp(f, "json"))
        ;
    else if (!strcasecmp(f, "yaml"))
        yaml = 1;
    else if (!strcasecmp(f, "table"))
        return cli_errorf("inspect does not support table format");
    else if (strstr(f, "{{") && strstr(f, "}}"))
        tmpl = 1;
    else
        return cli_errorf("Unknown format: '%s'. Valid formats: table, json, yaml", f);
    _cleanup_free_ char *tmpl_err = NULL;
    if (tmpl && template_check(f, &tmpl_err) < 0)
        return cli_errorf("template: Template parse error: %s", tmpl_err);
    _cleanup_(boxlite_runtime_freep) boxlite_runtime *rt = NULL;
    if ((rc = cli_open_runtime(&rt)) != 0)
        return rc;
    json_t *found = json_array();
    const char *missing[MAX_LIST];
    int n_missing = 0;
    char *latest_id = NULL;
    if (o.latest) {
        boxlite_box **list = NULL;
        size_t n = 0;
        boxlite_error *err = NULL;
        if (boxlite_box_list(rt, 1, &list, &n, &err) < 0) {
            json_decref(found);
            return cli_error(err);
        }
        if (n)
            latest_id = strdup(boxlite_box_id(list[0]));
        boxlite_box_list_free(list, n);
        if (!latest_id) {
            json_decref(found);
            return cli_errorf("no boxes to inspect");
        }
    }
    int total = o.latest ? 1 : argc - ind;
    for (int i = 0; i < total; i++) {
        const char *target = o.latest ? latest_id : argv[ind + i];
        _cleanup_(boxlite_box_freep) boxlite_box *box = NULL;
        _cleanup_(boxlite_error_freep) boxlite_error *err = NULL;
        char *s = NULL;
        int r = boxlite_box_lookup(rt, target, &box, &err);
        if (r == -ENOENT) {
            if (n_missing < MAX_LIST)
                missing[n_missing++] = target;
            continue;
        }
        /* anything but "not found" (an ambiguous prefix) ends the command, as upstream's `?`
         * does: no "[]", no "no such box" */
        if (r < 0 || boxlite_box_inspect(rt, box, &s, &err) < 0) {
            json_decref(found);
            free(latest_id);
            return cli_error(TAKE_PTR(err));
        }
        json_array_append_new(found, json_loads(s, JSON_DECODE_ANY, NULL));
        boxlite_free(s);
    }
    if (json_array_size(found) == 0 && n_missing) {
        printf("[]\n");
    } else if (tmpl) {
        size_t i;
        json_t *v;
        json_array_foreach(found, i, v) {
            _cleanup_free_ char *out = NULL, *e2 = NULL;
            if (template_render(f, v, &out, &e2) < 0) {
                cli_eprintf("Error: template: %s", e2 ? e2 : "render error");
                json_decref(found);
                free(latest_id);
                return EXIT_ERROR;
            }
            printf("%s\n", out);
        }
    } else if (yaml) {
        out_print_yaml_value(stdout, found);
    } else {
        char *out = json_dumps(found, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", out ? out : "[]");
        free(out);
    }
    json_decref(found);
    free(latest_id);
    for (int i = 0; i < n_missing; i++)
        cli_eprintf("Error: no such box: %s", missing[i]);
    return n_missing ? EXIT_ERROR : EXIT_OK;
}

CMD(exec)
{
    static const struct option longopts[] = {{"env", required_argument, NULL, 'e'},
                                             {"workdir", required_argument, NULL, 'w'},
                                             {"user", required_argument, NULL, 'u'},
                                             {"detach", no_argument, NULL, 'd'},
                                             {"interactive", no_argument, NULL, 'i'},
                                             {"tty", no_argument, NULL, 't'},
                                             {"entrypoint", required_argument, NULL,
                                              OPT_ENTRYPOINT},
                                             CLI_GLOBAL_LONGOPTS,
                                             {0}};
    int rc = 0;
    /* options may come before or after BOX, but nothing after the command is ours: stop at
     * the second operand ("+" plus a manual restart after BOX) */
    int ind = cli_parse(cmd, argc, argv, "+e:w:u:dit", longopts, box_opt, &rc);
    if (ind < 0)
        return rc;
    if (ind >= argc)
        return cli_usage_missing(cmd, "<BOX>\n  <COMMAND>...");
    const char *target = argv[ind];
    char **rest = argv + ind + 1;
    int nrest = argc - ind - 1;
    if (nrest > 0 && rest[0][0] == '-' && strcmp(rest[0], "--") != 0) {
        /* options after BOX */
        int sub = cli_parse(cmd, nrest + 1, rest - 1, "+e:w:u:dit", longopts, box_opt, &rc);
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
    if (forward_signals(tty) < 0)
        return cli_errorf("cannot set up signal forwarding"), 125;
    boxlite_exec_opts eo;
    boxlite_exec_opts_init(&eo);
    eo.argv = (const char *const *) rest;
    eo.env = o.n_env ? o.env : NULL;
    eo.workdir = o.workdir;
    eo.user = o.user;
    eo.detach = o.detach;
    eo.stdio[0] = (o.interactive || tty) && !o.detach ? STDIN_FILENO : -1;
    eo.stdio[1] = o.detach ? -1 : STDOUT_FILENO;
    eo.stdio[2] = o.detach ? -1 : STDERR_FILENO;
    eo.tty = tty;
    int status = 125;
    _cleanup_(restore_terminal) int raw = tty;
    if (raw)
        enter_raw_mode();
    if (boxlite_box_exec(rt, box, &eo, sig_pipe[0], &status, &err) < 0) {
        int code = boxlite_error_code(err);
        term_restore();
        cli_error(err);
        return code == -EINVAL ? EXIT_ERROR : status;
    }
    return status;
}
