/* SPDX-License-Identifier: MIT */
/* boxlite cp [OPTIONS] SRC DST: copy between the host and a box (one side is BOX:PATH). */
#include <errno.h>
#include <string.h>

#include "cli.h"

enum cp_opt_id {
    CP_OPT_FOLLOW_SYMLINKS,
    CP_OPT_NO_OVERWRITE,
    CP_OPT_INCLUDE_PARENT,
};

const struct cli_option cli_cp_options[] = {
    {CP_OPT_FOLLOW_SYMLINKS, "follow-symlinks", 'L', NULL, "Copy what symlinks in SRC point at"},
    {CP_OPT_NO_OVERWRITE, "no-overwrite", 0, NULL, "Fail if DST exists"},
    {CP_OPT_INCLUDE_PARENT, "include-parent", 0, NULL,
     "Copy a directory with its own name (always on)"},
    CLI_OPTIONS_END,
};

struct cp_opts {
    int follow_symlinks, no_overwrite;
};

static int parse_opt(int id, const char *arg, void *userdata)
{
    struct cp_opts *o = userdata;
    (void) arg;
    switch ((enum cp_opt_id) id) {
    case CP_OPT_FOLLOW_SYMLINKS:
        o->follow_symlinks = 1;
        return 0;
    case CP_OPT_NO_OVERWRITE:
        o->no_overwrite = 1;
        return 0;
    case CP_OPT_INCLUDE_PARENT: /* always on (spec/cli.md §4.11) */
        return 0;
    }
    return EXIT_USAGE;
}

/* "BOX:PATH" or a host path. A path that starts with '/' or '.' is the host's, whatever ':' it
 * holds (docker's rule); otherwise the first ':' separates a box from its path. */
static int endpoint(char *arg, char **ret_box, char **ret_path)
{
    char *colon = strchr(arg, ':');
    if (arg[0] == '/' || arg[0] == '.' || !colon || colon == arg) {
        *ret_box = NULL;
        *ret_path = arg;
        return 0;
    }
    *colon = 0;
    *ret_box = arg;
    *ret_path = colon + 1;
    return 1;
}

int cmd_cp(const struct cli_command *cmd, int argc, char **argv)
{
    struct cp_opts o = {0};
    int rc = 0;
    int ind = cli_parse(cmd, argc, argv, parse_opt, &o, &rc);
    if (ind < 0)
        return rc;
    if (argc - ind < 2)
        return cli_usage_missing(cmd, "<SRC>\n  <DST>");
    if (argc - ind > 2)
        return cli_usage_error(cmd, "unexpected argument '%s' found", argv[ind + 2]);
    char *src_box, *src_path, *dst_box, *dst_path;
    int in_src = endpoint(argv[ind], &src_box, &src_path);
    int in_dst = endpoint(argv[ind + 1], &dst_box, &dst_path);
    if (in_src && in_dst)
        return cli_errorf("copy between boxes is not supported (both SRC and DST reference a "
                          "box)");
    if (!in_src && !in_dst)
        return cli_errorf("at least one of SRC or DST must reference a box (format BOX:PATH)");
    if (!*src_path)
        return cli_errorf("source path cannot be empty");
    if (!*dst_path)
        return cli_errorf("destination path cannot be empty");
    _cleanup_(boxlite_runtime_freep) boxlite_runtime *rt = NULL;
    if ((rc = cli_open_runtime(&rt)) != 0)
        return rc;
    const char *name = in_src ? src_box : dst_box;
    _cleanup_(boxlite_box_freep) boxlite_box *box = NULL;
    _cleanup_(boxlite_error_freep) boxlite_error *err = NULL;
    if (boxlite_box_lookup(rt, name, &box, &err) < 0) {
        if (boxlite_error_code(err) == -ENOENT)
            return cli_errorf("box '%s' not found", name);
        return cli_errorf("%s", boxlite_error_message(err));
    }
    int flags = (o.follow_symlinks ? BOXLITE_COPY_FOLLOW_SYMLINKS : 0) |
                (o.no_overwrite ? BOXLITE_COPY_NO_OVERWRITE : 0);
    int r = in_src ? boxlite_box_copy_out(rt, box, src_path, dst_path, flags, &err)
                   : boxlite_box_copy_in(rt, box, src_path, dst_path, flags, &err);
    if (r < 0)
        return cli_errorf("%s", boxlite_error_message(err));
    return EXIT_OK;
}
