/* SPDX-License-Identifier: MIT */
/* boxlite create [OPTIONS] IMAGE [COMMAND]...: a box, configured and not started. */
#include <stdio.h>

#include "box-opts.h"

const struct cli_option cli_create_options[] = {
    {BOX_OPT_NAME, "name", 0, "NAME", "Name the box"},
    {BOX_OPT_ENV, "env", 'e', "K=V", "Set an environment variable (repeatable)"},
    {BOX_OPT_WORKDIR, "workdir", 'w', "PATH", "Working directory"},
    {BOX_OPT_ENTRYPOINT, "entrypoint", 0, "EXEC", "Override the image's ENTRYPOINT"},
    {BOX_OPT_INIT, "init", 0, NULL, "Run a minimal init as PID 1"},
    {BOX_OPT_ROOTFS, "rootfs", 0, "PATH", "Use a prepared root filesystem", CLI_COMPLETE_FILE},
    BOX_OPTIONS_SHARED,
    /* run's, accepted and ignored */
    {BOX_OPT_DETACH, "detach", 'd', NULL, NULL},
    {BOX_OPT_RM, "rm", 0, NULL, NULL},
    BOX_OPTIONS_RC,
    CLI_OPTIONS_END,
};

int cmd_create(const struct cli_command *cmd, int argc, char **argv)
{
    _cleanup_(box_opts_done) struct box_opts o = {0};
    int rc = 0;
    int ind = cli_parse(cmd, argc, argv, box_opts_parse, &o, &rc);
    if (ind < 0)
        return rc;
    const char *image;
    char **rest;
    if (box_opts_image_and_cmd(&o, cmd, argc, argv, ind, &image, &rest, 1, &rc) < 0)
        return rc;
    _cleanup_(boxlite_runtime_freep) boxlite_runtime *rt = NULL;
    if ((rc = cli_open_runtime(&rt)) != 0)
        return rc;
    boxlite_box_opts bo;
    box_opts_fill(&o, &bo, image, rest);
    bo.detach = 1; /* create --rm and -d are accepted and ignored */
    _cleanup_(boxlite_box_freep) boxlite_box *box = NULL;
    boxlite_error *err = NULL;
    if (boxlite_box_create(rt, &bo, &box, &err) < 0)
        return cli_error(err);
    printf("%s\n", boxlite_box_id(box));
    return EXIT_OK;
}
