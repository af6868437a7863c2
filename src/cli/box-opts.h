/* SPDX-License-Identifier: MIT */
/* The options `run` and `create` share (box-opts.c): one enum, one struct, one parser, and the
 * table entries both commands list. */
#pragma once

#include <stdint.h>

#include "cli.h"

#define BOX_OPTS_MAX_LIST 256

enum box_opt_id {
    BOX_OPT_DETACH,
    BOX_OPT_RM,
    BOX_OPT_NAME,
    BOX_OPT_ENV,
    BOX_OPT_WORKDIR,
    BOX_OPT_USER,
    BOX_OPT_ENTRYPOINT,
    BOX_OPT_INTERACTIVE,
    BOX_OPT_TTY,
    BOX_OPT_INIT,
    BOX_OPT_ROOTFS,
    BOX_OPT_CAP_ADD,
    BOX_OPT_CAP_DROP,
    BOX_OPT_MEMORY,
    BOX_OPT_CPUS,
    BOX_OPT_PIDS_LIMIT,
    BOX_OPT_DISK_SIZE,
    BOX_OPT_VOLUME,
    BOX_OPT_PUBLISH,
    BOX_OPT_NETWORK,
    BOX_OPT_ALLOW_NET,
    /* upstream's release-candidate flags: hidden, checked and refused (box_opts_check_rc) */
    BOX_OPT_KERNEL,
    BOX_OPT_KERNEL_FORMAT,
    BOX_OPT_INITRAMFS,
    BOX_OPT_KERNEL_ARGS,
    BOX_OPT_NESTED_VIRT,
};

/* The resource, volume and network options of run and create, in their help order. */
/* clang-format off */
#define BOX_OPTIONS_SHARED \
    {BOX_OPT_CAP_ADD, "cap-add", 0, "CAP", "Add a Linux capability (repeatable)"}, \
    {BOX_OPT_CAP_DROP, "cap-drop", 0, "CAP", "Drop a Linux capability (repeatable)"}, \
    {BOX_OPT_MEMORY, "memory", 0, "MiB", "Memory limit in MiB [default: 1024]"}, \
    {BOX_OPT_CPUS, "cpus", 0, "CPUS", "CPU limit, fractions allowed [default: 1]"}, \
    {BOX_OPT_PIDS_LIMIT, "pids-limit", 0, "N", \
     "Most processes at once (0: no limit) [default: 0]"}, \
    {BOX_OPT_DISK_SIZE, "disk-size", 0, "GB", \
     "Accepted for compatibility (the rootfs has no fixed size)"}, \
    {BOX_OPT_VOLUME, "volume", 'v', "SPEC", \
     "Bind HOST:BOX[:ro], or an anonymous volume BOX[:ro]"}, \
    {BOX_OPT_PUBLISH, "publish", 'p', "SPEC", \
     "Publish a box port: [[HOST_IP:][HOST_PORT]:]BOX_PORT[/tcp]\n" \
     "(repeatable; HOST_IP 127.0.0.1, HOST_PORT 0 = any by default)"}, \
    {BOX_OPT_NETWORK, "network", 0, "MODE", "enabled or disabled [default: enabled]"}, \
    {BOX_OPT_ALLOW_NET, "allow-net", 0, "HOST", \
     "Allow only these destinations: HOST, *.DOMAIN, IP or CIDR,\n" \
     "each with an optional :PORT (repeatable)"}

/* Hidden (help NULL: not in --help, so not in completion either): upstream's RC flags. */
#define BOX_OPTIONS_RC \
    {BOX_OPT_KERNEL, "kernel", 0, "KERNEL", NULL}, \
    {BOX_OPT_KERNEL_FORMAT, "kernel-format", 0, "KERNEL_FORMAT", NULL}, \
    {BOX_OPT_INITRAMFS, "initramfs", 0, "INITRAMFS", NULL}, \
    {BOX_OPT_KERNEL_ARGS, "kernel-args", 0, "KERNEL_ARGS", NULL}, \
    {BOX_OPT_NESTED_VIRT, "nested-virtualization", 0, NULL, NULL}
/* clang-format on */

/* -e values: K=V as typed, or K=<the host's value> made here (owned until env_list_done). */
struct env_list {
    const char *v[BOX_OPTS_MAX_LIST]; /* NULL-terminated */
    int n;
    char *owned[BOX_OPTS_MAX_LIST];
    int n_owned;
};
/* -e K=V, or a bare K for the host's value (skipped, with a warning, when the host has none);
 * 0 or EXIT_ERROR. */
int env_list_push(struct env_list *l, const char *arg);
void env_list_done(struct env_list *l);

struct box_opts {
    int detach, rm, interactive, tty, init;
    const char *name, *workdir, *user, *entrypoint, *rootfs;
    struct env_list env;
    const char *cap_add[BOX_OPTS_MAX_LIST], *cap_drop[BOX_OPTS_MAX_LIST];
    int n_add, n_drop;
    const char *volumes[BOX_OPTS_MAX_LIST];
    int n_volumes;
    const char *network;
    const char *publish[BOX_OPTS_MAX_LIST], *allow_net[BOX_OPTS_MAX_LIST];
    int n_publish, n_allow_net;
    int64_t memory_mib, pids_limit;
    double cpus;
    /* the hidden RC flags: only checked and refused */
    const char *kernel, *kernel_format, *initramfs, *kernel_args;
    int nested_virt;
};

/* cli_opt_fn for struct box_opts */
int box_opts_parse(int id, const char *arg, void *userdata);

/* Appends to a NULL-terminated list of at most BOX_OPTS_MAX_LIST - 1; 0 or EXIT_ERROR. */
int box_opts_push(const char **list, int *n, const char *v);
/* Releases what parsing allocated. */
void box_opts_done(struct box_opts *o);

/* After parsing: the RC flags, then IMAGE [COMMAND...] or --rootfs PATH [COMMAND...] from the
 * operands at argv[ind]. Returns 0, or -1 with the exit code in *ret_exit (after printing). */
int box_opts_image_and_cmd(const struct box_opts *o, const struct cli_command *cmd, int argc,
                           char **argv, int ind, const char **ret_image, char ***ret_cmd,
                           int is_create, int *ret_exit);

/* The library's options from the parsed ones (borrowing their strings). */
void box_opts_fill(const struct box_opts *o, boxlite_box_opts *bo, const char *image, char **cmd);
