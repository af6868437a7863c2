/* SPDX-License-Identifier: MIT */
/*
 * boxlite run [OPTIONS] IMAGE [COMMAND]...: create a box, start it and wait for its command.
 * Exit codes (docs/user-guide.md): the command's status (128+N for signal N); 125 when boxlite
 * fails before the command runs, 126/127 when the command cannot be invoked / is not found.
 */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "box-opts.h"
#include "signals.h"
#include "term.h"

const struct cli_option cli_run_options[] = {
    {BOX_OPT_DETACH, "detach", 'd', NULL, "Run in the background and print the box ID"},
    {BOX_OPT_RM, "rm", 0, NULL, "Remove the box when it stops"},
    {BOX_OPT_NAME, "name", 0, "NAME", "Name the box"},
    {BOX_OPT_ENV, "env", 'e', "K=V", "Set an environment variable (repeatable)"},
    {BOX_OPT_WORKDIR, "workdir", 'w', "PATH", "Working directory of the command"},
    {BOX_OPT_USER, "user", 'u', "USER", "User (name|uid[:group|gid])"},
    {BOX_OPT_ENTRYPOINT, "entrypoint", 0, "EXEC", "Override the image's ENTRYPOINT"},
    {BOX_OPT_INTERACTIVE, "interactive", 'i', NULL, "Forward standard input to the command"},
    {BOX_OPT_TTY, "tty", 't', NULL, "Allocate a pseudo-terminal"},
    {BOX_OPT_INIT, "init", 0, NULL,
     "Run a minimal init as PID 1 (reaps zombies, forwards signals)"},
    {BOX_OPT_ROOTFS, "rootfs", 0, "PATH", "Run a prepared root filesystem instead of an image",
     CLI_COMPLETE_FILE},
    BOX_OPTIONS_SHARED,
    BOX_OPTIONS_RC,
    CLI_OPTIONS_END,
};

int cmd_run(const struct cli_command *cmd, int argc, char **argv)
{
    _cleanup_(box_opts_done) struct box_opts o = {0};
    int rc = 0;
    int ind = cli_parse(cmd, argc, argv, box_opts_parse, &o, &rc);
    if (ind < 0)
        return rc;
    const char *image;
    char **rest;
    if (box_opts_image_and_cmd(&o, cmd, argc, argv, ind, &image, &rest, 0, &rc) < 0)
        return rc;
    if (o.tty && !isatty(STDIN_FILENO))
        return cli_errorf("the input device is not a TTY.");
    _cleanup_(boxlite_runtime_freep) boxlite_runtime *rt = NULL;
    if (cli_open_runtime(&rt) != 0)
        return 125;
    boxlite_box_opts bo;
    box_opts_fill(&o, &bo, image, rest);
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
    if (signals_forward(o.tty) < 0)
        return cli_errorf("cannot set up signal forwarding"), 125;
    _cleanup_close_ int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    /* -t implies -i: the pty's input is ours */
    int stdio[3] = {o.interactive || o.tty ? STDIN_FILENO : devnull, STDOUT_FILENO, STDERR_FILENO};
    _cleanup_(term_restore_if) int raw = o.tty;
    if (raw)
        term_raw_or_warn();
    if (boxlite_box_start(rt, box, stdio, &status, &err) < 0) {
        term_restore(); /* the message on a terminal in its own mode */
        cli_error(err);
        return status;
    }
    if (!o.tty)
        devnull = bl_close(devnull);
    if (boxlite_box_wait(rt, box, signals_forward_fd(), &status, &err) < 0) {
        term_restore();
        cli_error(err);
        return 125;
    }
    return status;
}
