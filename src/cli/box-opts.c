/* SPDX-License-Identifier: MIT */
/* The options run and create share: parsing and checking them, and the library's options made
 * from them (box-opts.h). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "box-opts.h"
#include "parse-util.h"

int box_opts_push(const char **list, int *n, const char *v)
{
    if (*n >= BOX_OPTS_MAX_LIST - 1)
        return cli_errorf("too many values");
    list[(*n)++] = v;
    list[*n] = NULL;
    return 0;
}

int env_list_push(struct env_list *l, const char *arg)
{
    if (strchr(arg, '='))
        return box_opts_push(l->v, &l->n, arg);
    /* bare K: the host's value, or skipped */
    const char *v = getenv(arg);
    if (!v) {
        cli_eprintf("Environment variable '%s' not found on host, skipping", arg);
        return 0;
    }
    _cleanup_free_ char *kv = NULL;
    if (asprintf(&kv, "%s=%s", arg, v) < 0)
        return cli_errorf("out of memory");
    int r = box_opts_push(l->v, &l->n, kv);
    if (r == 0)
        l->owned[l->n_owned++] = TAKE_PTR(kv); /* n_owned <= n < BOX_OPTS_MAX_LIST */
    return r;
}

void env_list_done(struct env_list *l)
{
    for (int i = 0; i < l->n_owned; i++)
        free(l->owned[i]);
    l->n_owned = 0;
}

void box_opts_done(struct box_opts *o)
{
    env_list_done(&o->env);
}

/* clap's words for a bad integer (Rust's ParseIntError) */
static int parse_uint(const char *flag, const char *arg, unsigned long long max,
                      unsigned long long *ret)
{
    uint64_t v;
    int r = bl_parse_u64(arg, &v);
    if (r == -ENODATA)
        return cli_usage_error(NULL,
                               "invalid value '' for '%s': cannot parse integer from empty "
                               "string",
                               flag);
    if (r == -EINVAL)
        return cli_usage_error(NULL,
                               "invalid value '%s' for '%s': invalid digit found in "
                               "string",
                               arg, flag);
    if (r < 0 || v > max)
        return cli_usage_error(NULL,
                               "invalid value '%s' for '%s': number too large to fit in "
                               "target type",
                               arg, flag);
    *ret = v;
    return 0;
}

static int parse_memory(struct box_opts *o, const char *arg)
{
    unsigned long long v;
    int r = parse_uint("--memory <MEMORY>", arg, 0xffffffffULL, &v);
    if (r != 0)
        return r;
    if (v < 6)
        return cli_usage_error(NULL,
                               "invalid value '%s' for '--memory <MEMORY>': the minimum "
                               "is 6 (MiB)",
                               arg);
    o->memory_mib = (int64_t) v;
    return 0;
}

static int parse_cpus(struct box_opts *o, const char *arg)
{
    char *end = NULL;
    errno = 0;
    double d = strtod(arg, &end); /* NOLINT: checked below */
    if (!*arg || *end || errno || isnan(d) || isinf(d) || strchr(arg, 'x') || strchr(arg, 'X'))
        return cli_usage_error(NULL, "invalid value '%s' for '--cpus <CPUS>': invalid number", arg);
    if (d < 0.001)
        return cli_usage_error(NULL,
                               "invalid value '%s' for '--cpus <CPUS>': must be at least "
                               "0.001",
                               arg);
    if (d > 255) {
        fprintf(stderr, "Warning: --cpus %s is more than the maximum of 255; using 255\n", arg);
        d = 255;
    }
    o->cpus = d;
    return 0;
}

static int parse_pids_limit(struct box_opts *o, const char *arg)
{
    /* docker: 0 or -1 mean no limit */
    const char *a = arg[0] == '-' ? arg + 1 : arg;
    unsigned long long v;
    int r = parse_uint("--pids-limit <PIDS_LIMIT>", a, 0x7fffffffULL, &v);
    if (r != 0)
        return r;
    if (arg[0] == '-' && v != 1)
        return cli_usage_error(NULL,
                               "invalid value '%s' for '--pids-limit <PIDS_LIMIT>': use a "
                               "positive number, or 0 or -1 for no limit",
                               arg);
    o->pids_limit = arg[0] == '-' ? 0 : (int64_t) v;
    return 0;
}

static int parse_kernel_format(struct box_opts *o, const char *arg)
{
    static const char *const formats[] = {"auto",      "raw",      "elf",       "pe-gz",
                                          "image-bz2", "image-gz", "image-zstd"};
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
        if (!strcmp(arg, formats[i])) {
            o->kernel_format = arg;
            return 0;
        }
    return cli_usage_invalid(NULL, arg, "--kernel-format <KERNEL_FORMAT>",
                             "auto, raw, elf, pe-gz, image-bz2, image-gz, image-zstd");
}

int box_opts_parse(int id, const char *arg, void *userdata)
{
    struct box_opts *o = userdata;
    unsigned long long ignored;
    switch ((enum box_opt_id) id) {
    case BOX_OPT_DETACH:
        o->detach = 1;
        return 0;
    case BOX_OPT_RM:
        o->rm = 1;
        return 0;
    case BOX_OPT_NAME:
        o->name = arg;
        return 0;
    case BOX_OPT_ENV:
        return env_list_push(&o->env, arg);
    case BOX_OPT_WORKDIR:
        o->workdir = arg;
        return 0;
    case BOX_OPT_USER:
        o->user = arg;
        return 0;
    case BOX_OPT_ENTRYPOINT:
        o->entrypoint = arg;
        return 0;
    case BOX_OPT_INTERACTIVE:
        o->interactive = 1;
        return 0;
    case BOX_OPT_TTY:
        o->tty = 1;
        return 0;
    case BOX_OPT_INIT:
        o->init = 1;
        return 0;
    case BOX_OPT_ROOTFS:
        o->rootfs = arg;
        return 0;
    case BOX_OPT_CAP_ADD:
        return box_opts_push(o->cap_add, &o->n_add, arg);
    case BOX_OPT_CAP_DROP:
        return box_opts_push(o->cap_drop, &o->n_drop, arg);
    case BOX_OPT_MEMORY:
        return parse_memory(o, arg);
    case BOX_OPT_CPUS:
        return parse_cpus(o, arg);
    case BOX_OPT_PIDS_LIMIT:
        return parse_pids_limit(o, arg);
    case BOX_OPT_DISK_SIZE:
        /* accepted for compatibility: the box's overlay has no size of its own */
        return parse_uint("--disk-size <DISK_SIZE>", arg, ~0ULL, &ignored);
    case BOX_OPT_VOLUME:
        return box_opts_push(o->volumes, &o->n_volumes, arg);
    /* the network flags are only collected: the library validates them */
    case BOX_OPT_PUBLISH:
        return box_opts_push(o->publish, &o->n_publish, arg);
    case BOX_OPT_NETWORK:
        o->network = arg;
        return 0;
    case BOX_OPT_ALLOW_NET:
        return box_opts_push(o->allow_net, &o->n_allow_net, arg);
    case BOX_OPT_KERNEL:
        o->kernel = arg;
        return 0;
    case BOX_OPT_KERNEL_FORMAT:
        return parse_kernel_format(o, arg);
    case BOX_OPT_INITRAMFS:
        o->initramfs = arg;
        return 0;
    case BOX_OPT_KERNEL_ARGS:
        o->kernel_args = arg;
        return 0;
    case BOX_OPT_NESTED_VIRT:
        o->nested_virt = 1;
        return 0;
    }
    return EXIT_USAGE;
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
static int check_rc_flags(const struct box_opts *o, const struct cli_command *cmd)
{
    if (!o->kernel && (o->kernel_format || o->initramfs || o->kernel_args))
        return cli_usage_missing(cmd, "--kernel <KERNEL>");
    if (o->kernel && !(arg_experimental & CLI_FEATURE_CUSTOM_KERNEL))
        return rc_gate("custom kernel support", "CustomKernel", "custom-kernel");
    if (o->nested_virt && !(arg_experimental & CLI_FEATURE_NESTED_VIRT))
        return rc_gate("nested virtualization support", "NestedVirtualization",
                       "nested-virtualization");
    if (o->kernel)
        return cli_errorf("unsupported: --kernel: a box runs on the host's kernel (boxlite "
                          "isolates with namespaces, not a virtual machine)");
    if (o->nested_virt)
        return cli_errorf("unsupported: --nested-virtualization: a box is not a virtual "
                          "machine (boxlite isolates with namespaces)");
    return 0;
}

int box_opts_image_and_cmd(const struct box_opts *o, const struct cli_command *cmd, int argc,
                           char **argv, int ind, const char **ret_image, char ***ret_cmd,
                           int is_create, int *ret_exit)
{
    if ((*ret_exit = check_rc_flags(o, cmd)) != 0)
        return -1;
    if (o->rootfs) {
        if (is_create && ind < argc) {
            *ret_exit = cli_errorf("provide either IMAGE or --rootfs PATH, not both");
            return -1;
        }
        *ret_image = NULL;
        *ret_cmd = argv + ind;
        return 0;
    }
    if (ind >= argc) {
        *ret_exit = cli_errorf("provide IMAGE or --rootfs PATH");
        return -1;
    }
    *ret_image = argv[ind];
    *ret_cmd = argv + ind + 1;
    return 0;
}

void box_opts_fill(const struct box_opts *o, boxlite_box_opts *bo, const char *image, char **cmd)
{
    boxlite_box_opts_init(bo);
    bo->image = image;
    bo->rootfs = o->rootfs;
    bo->name = o->name;
    bo->cmd = (const char *const *) (cmd && cmd[0] ? cmd : NULL);
    bo->entrypoint = o->entrypoint;
    bo->env = o->env.n ? o->env.v : NULL;
    bo->workdir = o->workdir;
    bo->user = o->user;
    bo->cap_add = o->n_add ? o->cap_add : NULL;
    bo->cap_drop = o->n_drop ? o->cap_drop : NULL;
    bo->init = o->init;
    bo->memory_mib = o->memory_mib;
    bo->cpus = o->cpus;
    bo->pids_limit = o->pids_limit;
    bo->volumes = o->n_volumes ? o->volumes : NULL;
    bo->network = o->network;
    bo->allow_net = o->n_allow_net ? o->allow_net : NULL;
    bo->publish = o->n_publish ? o->publish : NULL;
}
