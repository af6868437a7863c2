/* SPDX-License-Identifier: MIT */
/*
 * The console of a detached box: its main command's stdout and stderr arrive on two pipes
 * (log streams the supervisor watches) and are written to BOX_DIR/logs/console.log in the CRI
 * format, rotated past a size. An attached box has no console (the client holds its stdio).
 */
#pragma once

#include <stdint.h>

#include "shim.h"

/* A pipe of PID 1's output that the shim copies into the log. */
struct log_stream {
    struct ev ev; /* EV_LOG; first member */
    int fd;       /* read end, non-blocking; -1 at EOF */
    const char *name;
};

struct console {
    int dirfd;  /* borrowed: BOX_DIR */
    int log_fd; /* logs/console.log, -1 when closed */
    uint64_t log_size, log_max;
    struct log_stream out, err; /* PID 1's stdout and stderr (read ends) */
    int stdin_w; /* write end of PID 1's silent stdin (never written; EOF never comes) */
};

void console_init(struct console *c);
/* Open (create) logs/console.log in boxfd (borrowed), rotating past max bytes. */
int console_open(struct console *c, int boxfd, uint64_t max, bl_error **err);
/* Move what l (non-blocking) has into the log as its records; 1 at EOF (the caller closes
 * l->fd), else 0. */
int console_pump(struct console *c, struct log_stream *l);
/* Close the log and the pipes (idempotent). */
void console_done(struct console *c);
