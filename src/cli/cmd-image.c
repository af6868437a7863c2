/* SPDX-License-Identifier: MIT */
/* Image commands: load, images, rmi, image inspect|ls|rm|load. */
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "macro.h"
#include "output.h"

BL_DEFINE_CLEANUP_FUNC(boxlite_runtime *, boxlite_runtime_free)
BL_DEFINE_CLEANUP_FUNC(boxlite_error *, boxlite_error_free)

static const char *opt_input;
static int opt_quiet, opt_force;
static const char *opt_format;

static int image_opt(int c, const char *arg)
{
    switch (c) {
    case 'i':
        opt_input = arg;
        return 0;
    case 'q':
        opt_quiet = 1;
        return 0;
    case 'f':
        opt_force = 1;
        return 0;
    case 'a':
        return 0;
    case 1100:
        opt_format = arg;
        return 0;
    default:
        return EXIT_USAGE;
    }
}

static void on_loaded(const char *ref, void *userdata)
{
    (void) userdata;
    if (!opt_quiet)
        printf("Loaded image%s: %s\n", strncmp(ref, "sha256:", 7) ? "" : " ID", ref);
}

CMD(load)
{
    static const struct option longopts[] = {
        {"input", required_argument, NULL, 'i'}, {"quiet", no_argument, NULL, 'q'},
        CLI_GLOBAL_LONGOPTS, {0}};
    int rc = 0;
    int ind = cli_parse(cmd, argc, argv, "i:q", longopts, image_opt, &rc);
    if (ind < 0)
        return rc;
    if (ind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s' found", argv[ind]);
    int fd = -1;
    const char *path = opt_input;
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
    if (boxlite_image_load(rt, path, fd, on_loaded, NULL, &err) < 0)
        return cli_error(err);
    return EXIT_OK;
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

CMD(images)
{
    static const struct option longopts[] = {
        {"all", no_argument, NULL, 'a'}, {"quiet", no_argument, NULL, 'q'},
        {"format", required_argument, NULL, 1100}, CLI_GLOBAL_LONGOPTS, {0}};
    int rc = 0;
    int ind = cli_parse(cmd, argc, argv, "aq", longopts, image_opt, &rc);
    if (ind < 0)
        return rc;
    if (ind < argc)
        return cli_usage_error(cmd, "unexpected argument '%s' found", argv[ind]);
    enum out_format fmt = OUT_TABLE;
    if (!opt_quiet && opt_format && out_format_parse(opt_format, &fmt) < 0)
        return EXIT_ERROR;
    _cleanup_(boxlite_runtime_freep) boxlite_runtime *rt = NULL;
    if ((rc = cli_open_runtime(&rt)) != 0)
        return rc;
    boxlite_image **list = NULL;
    size_t n = 0;
    boxlite_error *err = NULL;
    if (boxlite_image_list(rt, &list, &n, &err) < 0)
        return cli_error(err);
    if (opt_quiet) {
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
                          .cols = 4, .cells = cells, .rows = n};
    out_print(stdout, fmt, &t);
    boxlite_image_list_free(list, n);
    return EXIT_OK;
}

static void on_removed(int what, const char *value, void *userdata)
{
    (void) userdata;
    printf("%s: %s\n", what == BOXLITE_IMAGE_UNTAGGED ? "Untagged" : "Deleted", value);
}

CMD(rmi)
{
    static const struct option longopts[] = {{"force", no_argument, NULL, 'f'},
                                             CLI_GLOBAL_LONGOPTS, {0}};
    int rc = 0;
    int ind = cli_parse(cmd, argc, argv, "f", longopts, image_opt, &rc);
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
        if (boxlite_image_remove(rt, argv[i], opt_force ? BOXLITE_IMAGE_REMOVE_FORCE : 0,
                                 on_removed, NULL, &err) < 0) {
            cli_eprintf("Error: %s", boxlite_error_message(err));
            failed = 1;
        }
    }
    return failed ? EXIT_ERROR : EXIT_OK;
}

static int image_inspect(const struct command *cmd, int argc, char **argv)
{
    int rc = 0;
    static const struct option longopts[] = {CLI_GLOBAL_LONGOPTS, {0}};
    int ind = cli_parse(cmd, argc, argv, "", longopts, image_opt, &rc);
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

CMD(image)
{
    static const struct command sub_inspect = {
        "inspect", NULL, "Display detailed information on one or more images",
        "image inspect <IMAGE>...", "", NULL, 0};
    static const struct command sub_ls = {"ls", NULL, "List images", "image ls [OPTIONS]",
                                          "  -q, --quiet            Only show image IDs\n"
                                          "      --format <FORMAT>  table, json or yaml\n",
                                          NULL, 0};
    static const struct command sub_rm = {"rm", NULL, "Remove one or more images",
                                          "image rm [OPTIONS] <IMAGE>...",
                                          "  -f, --force            Force removal\n", NULL, 0};
    static const struct command sub_load = {"load", NULL, "Load images", "image load [OPTIONS]",
                                            "  -i, --input <PATH>     Archive or layout\n", NULL,
                                            0};
    if (argc < 2)
        return cli_usage_error(cmd, "a subcommand is required");
    const char *s = argv[1];
    if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
        cli_print_help(cmd);
        return EXIT_OK;
    }
    if (!strcmp(s, "inspect"))
        return image_inspect(&sub_inspect, argc - 1, argv + 1);
    if (!strcmp(s, "ls") || !strcmp(s, "list"))
        return cmd_images(&sub_ls, argc - 1, argv + 1);
    if (!strcmp(s, "rm"))
        return cmd_rmi(&sub_rm, argc - 1, argv + 1);
    if (!strcmp(s, "load"))
        return cmd_load(&sub_load, argc - 1, argv + 1);
    return cli_usage_error(cmd, "unrecognized subcommand '%s'", s);
}
