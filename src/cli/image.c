/* SPDX-License-Identifier: MIT */
/* Image commands: load, images, rmi, and the family image inspect|ls|rm|load. */
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "output.h"

/* ---- load ------------------------------------------------------------------------------------ */

enum load_opt_id {
    LOAD_OPT_INPUT,
    LOAD_OPT_QUIET,
};

const struct cli_option cli_load_options[] = {
    {LOAD_OPT_INPUT, "input", 'i', "PATH",
     "Archive file or OCI layout directory; standard input if omitted", CLI_COMPLETE_FILE},
    {LOAD_OPT_QUIET, "quiet", 'q', NULL, "Print nothing on success"},
    CLI_OPTIONS_END,
};

/* `image load --help`: the same options, shorter words */
static const struct cli_option image_load_options[] = {
    {LOAD_OPT_INPUT, "input", 'i', "PATH", "Archive or layout", CLI_COMPLETE_FILE},
    {LOAD_OPT_QUIET, "quiet", 'q', NULL, NULL},
    CLI_OPTIONS_END,
};

struct load_opts {
    const char *input;
    int quiet;
};

static int parse_load_opt(int id, const char *arg, void *userdata)
{
    struct load_opts *o = userdata;
    switch ((enum load_opt_id) id) {
    case LOAD_OPT_INPUT:
        o->input = arg;
        return 0;
    case LOAD_OPT_QUIET:
        o->quiet = 1;
        return 0;
    }
    return EXIT_USAGE;
}

static void on_loaded(const char *ref, void *userdata)
{
    const struct load_opts *o = userdata;
    if (!o->quiet)
        printf("Loaded image%s: %s\n", strncmp(ref, "sha256:", 7) ? "" : " ID", ref);
}

int cmd_load(const struct cli_command *cmd, int argc, char **argv)
{
    struct load_opts o = {0};
    int rc = 0;
    int ind = cli_parse(cmd, argc, argv, parse_load_opt, &o, &rc);
    if (ind < 0)
        return rc;
    if (ind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s' found", argv[ind]);
    int fd = -1;
    const char *path = o.input;
    if (!path || !strcmp(path, "-")) {
        if (isatty(STDIN_FILENO))
            return cli_errorf("requested load from stdin, but stdin is empty (use -i FILE)");
        fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
            return cli_errorf("cannot read standard input");
        path = "-";
    }
    _cleanup_(boxlite_runtime_freep) boxlite_runtime *rt = NULL;
    if ((rc = cli_open_runtime(&rt)) != 0) {
        if (fd >= 0)
            close(fd);
        return rc;
    }
    boxlite_error *err = NULL;
    if (boxlite_image_load(rt, path, fd, on_loaded, &o, &err) < 0)
        return cli_error(err);
    return EXIT_OK;
}

/* ---- images ---------------------------------------------------------------------------------- */

enum images_opt_id {
    IMAGES_OPT_ALL,
    IMAGES_OPT_QUIET,
    IMAGES_OPT_FORMAT,
};

const struct cli_option cli_images_options[] = {
    {IMAGES_OPT_ALL, "all", 'a', NULL, "Show all images (accepted for docker compatibility)"},
    {IMAGES_OPT_QUIET, "quiet", 'q', NULL, "Only show image IDs (full manifest digests)"},
    {IMAGES_OPT_FORMAT, "format", 0, "FORMAT",
     "Output format: table, json or yaml [default: table]"},
    CLI_OPTIONS_END,
};

/* `image ls --help` */
static const struct cli_option image_ls_options[] = {
    {IMAGES_OPT_ALL, "all", 'a', NULL, NULL},
    {IMAGES_OPT_QUIET, "quiet", 'q', NULL, "Only show image IDs"},
    {IMAGES_OPT_FORMAT, "format", 0, "FORMAT", "table, json or yaml"},
    CLI_OPTIONS_END,
};

struct images_opts {
    int quiet;
    const char *format;
};

static int parse_images_opt(int id, const char *arg, void *userdata)
{
    struct images_opts *o = userdata;
    switch ((enum images_opt_id) id) {
    case IMAGES_OPT_ALL:
        return 0;
    case IMAGES_OPT_QUIET:
        o->quiet = 1;
        return 0;
    case IMAGES_OPT_FORMAT:
        o->format = arg;
        return 0;
    }
    return EXIT_USAGE;
}

/* "docker.io/library/busybox:latest" -> repository "library/busybox", tag "latest". */
static void split_ref(const char *ref, char *repo, size_t rlen, char *tag, size_t tlen)
{
    snprintf(repo, rlen, "<none>");
    snprintf(tag, tlen, "<none>");
    if (!ref)
        return;
    const char *slash = strchr(ref, '/');
    const char *path = slash ? slash + 1 : ref;
    const char *at = strchr(path, '@');
    size_t plen = at ? (size_t) (at - path) : strlen(path);
    const char *colon = memrchr(path, ':', plen);
    const char *lastslash = memrchr(path, '/', plen);
    if (colon && (!lastslash || colon > lastslash)) {
        snprintf(repo, rlen, "%.*s", (int) (colon - path), path);
        snprintf(tag, tlen, "%.*s", (int) (plen - (size_t) (colon - path) - 1), colon + 1);
    } else {
        snprintf(repo, rlen, "%.*s", (int) plen, path);
    }
}

int cmd_images(const struct cli_command *cmd, int argc, char **argv)
{
    struct images_opts o = {0};
    int rc = 0;
    int ind = cli_parse(cmd, argc, argv, parse_images_opt, &o, &rc);
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
    boxlite_image **list = NULL;
    size_t n = 0;
    boxlite_error *err = NULL;
    if (boxlite_image_list(rt, &list, &n, &err) < 0)
        return cli_error(err);
    if (o.quiet) {
        for (size_t i = 0; i < n; i++) {
            int seen = 0;
            for (size_t k = 0; k < i && !seen; k++)
                seen = !strcmp(boxlite_image_id(list[k]), boxlite_image_id(list[i]));
            if (!seen)
                printf("%s\n", boxlite_image_id(list[i]));
        }
        boxlite_image_list_free(list, n);
        return EXIT_OK;
    }
    static const char *const headers_table[] = {"REPOSITORY", "TAG", "IMAGE ID", "CREATED"};
    static const char *const headers_obj[] = {"Repository", "Tag", "ID", "CreatedAt"};
    _cleanup_free_ char *buf = calloc(n ? n : 1, 4 * 256);
    _cleanup_free_ const char **cells = calloc(n ? n * 4 : 1, sizeof(char *));
    if (!buf || !cells) {
        boxlite_image_list_free(list, n);
        return cli_errorf("out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        char *b = buf + i * 4 * 256;
        split_ref(boxlite_image_reference(list[i]), b, 256, b + 256, 256);
        snprintf(b + 512, 256, "%.12s", boxlite_image_id(list[i]) + 7);
        out_time(b + 768, 256, (long long) boxlite_image_created(list[i]));
        for (int c = 0; c < 4; c++)
            cells[i * 4 + c] = b + c * 256;
    }
    struct out_table t = {.headers = fmt == OUT_TABLE ? headers_table : headers_obj,
                          .cols = 4,
                          .cells = cells,
                          .rows = n};
    out_print(stdout, fmt, &t);
    boxlite_image_list_free(list, n);
    return EXIT_OK;
}

/* ---- rmi ------------------------------------------------------------------------------------- */

enum rmi_opt_id {
    RMI_OPT_FORCE,
};

const struct cli_option cli_rmi_options[] = {
    {RMI_OPT_FORCE, "force", 'f', NULL,
     "Remove even an image a box uses, or an id with several tags"},
    CLI_OPTIONS_END,
};

/* `image rm --help` */
static const struct cli_option image_rm_options[] = {
    {RMI_OPT_FORCE, "force", 'f', NULL, "Force removal"},
    CLI_OPTIONS_END,
};

struct rmi_opts {
    int force;
};

static int parse_rmi_opt(int id, const char *arg, void *userdata)
{
    struct rmi_opts *o = userdata;
    (void) arg;
    switch ((enum rmi_opt_id) id) {
    case RMI_OPT_FORCE:
        o->force = 1;
        return 0;
    }
    return EXIT_USAGE;
}

static void on_removed(int what, const char *value, void *userdata)
{
    (void) userdata;
    printf("%s: %s\n", what == BOXLITE_IMAGE_UNTAGGED ? "Untagged" : "Deleted", value);
}

int cmd_rmi(const struct cli_command *cmd, int argc, char **argv)
{
    struct rmi_opts o = {0};
    int rc = 0;
    int ind = cli_parse(cmd, argc, argv, parse_rmi_opt, &o, &rc);
    if (ind < 0)
        return rc;
    if (ind >= argc)
        return cli_usage_missing(cmd, "<IMAGE>...");
    _cleanup_(boxlite_runtime_freep) boxlite_runtime *rt = NULL;
    if ((rc = cli_open_runtime(&rt)) != 0)
        return rc;
    int failed = 0;
    for (int i = ind; i < argc; i++) {
        _cleanup_(boxlite_error_freep) boxlite_error *err = NULL;
        if (boxlite_image_remove(rt, argv[i], o.force ? BOXLITE_IMAGE_REMOVE_FORCE : 0, on_removed,
                                 NULL, &err) < 0) {
            cli_eprintf("Error: %s", boxlite_error_message(err));
            failed = 1;
        }
    }
    return failed ? EXIT_ERROR : EXIT_OK;
}

/* ---- image inspect|ls|rm|load ---------------------------------------------------------------- */

static int image_inspect(const struct cli_command *cmd, int argc, char **argv)
{
    int rc = 0;
    int ind = cli_parse(cmd, argc, argv, NULL, NULL, &rc);
    if (ind < 0)
        return rc;
    if (ind >= argc)
        return cli_usage_missing(cmd, "<IMAGE>...");
    _cleanup_(boxlite_runtime_freep) boxlite_runtime *rt = NULL;
    if ((rc = cli_open_runtime(&rt)) != 0)
        return rc;
    json_t *arr = json_array();
    int failed = 0;
    for (int i = ind; i < argc; i++) {
        _cleanup_(boxlite_error_freep) boxlite_error *err = NULL;
        char *s = NULL;
        if (boxlite_image_inspect(rt, argv[i], &s, &err) < 0) {
            cli_eprintf("Error: %s", boxlite_error_message(err));
            failed = 1;
            continue;
        }
        json_array_append_new(arr, json_loads(s, 0, NULL));
        boxlite_free(s);
    }
    char *out = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("%s\n", out ? out : "[]");
    free(out);
    json_decref(arr);
    return failed ? EXIT_ERROR : EXIT_OK;
}

static const struct cli_command image_commands[] = {
    {"inspect", NULL, "Display detailed information on one or more images",
     "image inspect <IMAGE>...", NULL, CLI_HELP_WIDTH_NARROW, .run = image_inspect},
    {"ls", "list", "List images", "image ls [OPTIONS]", image_ls_options, CLI_HELP_WIDTH_NARROW,
     .run = cmd_images},
    {"rm", NULL, "Remove one or more images", "image rm [OPTIONS] <IMAGE>...", image_rm_options,
     CLI_HELP_WIDTH_NARROW, .run = cmd_rmi},
    {"load", NULL, "Load images", "image load [OPTIONS]", image_load_options, CLI_HELP_WIDTH_NARROW,
     .run = cmd_load},
};

int cmd_image(const struct cli_command *cmd, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error(cmd, "a subcommand is required");
    const char *s = argv[1];
    if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
        cli_print_help(cmd);
        return EXIT_OK;
    }
    const struct cli_command *sub =
        cli_find_command(image_commands, sizeof(image_commands) / sizeof(image_commands[0]), s);
    if (sub)
        return sub->run(sub, argc - 1, argv + 1);
    return cli_usage_error(cmd, "unrecognized subcommand '%s'", s);
}
