/* SPDX-License-Identifier: MIT */
/*
 * The caller's side of a box's stdio while the caller waits for it (start attached, exec): a
 * pty pump between the caller's fds and the box's terminal, and relays for the caller's files
 * that must not be handed to the box. Neither knows about boxes: each step polls a control
 * socket and a signal fd beside its own fds and hands their events back.
 */
#pragma once

#include <stddef.h>

#include "error.h"
#include "macro.h"

/* ---- a pty between the caller's fds and the box ---- */

/* Copies `in` to the master and the master to `out` (box-stdio.c says how its ends end). */
struct bl_tty_pump {
    int in, out, master;
    int in_eof, master_done;
    int in_tty; /* `in` is a terminal (asked at the start: a hung-up one no longer says so) */
    int hangup; /* 1: `in` (a terminal) hung up, the shim is still to be told */
    char pending[4096];
    size_t len, off;
};

/* in, out: the caller's (borrowed; -1: none); master: the box's pty (borrowed, made
 * non-blocking). */
void bl_tty_pump_init(struct bl_tty_pump *p, int in, int out, int master);
/* One poll over the control socket, sigfd and the pty; returns the POLL* bits of ctl in the
 * low 16 bits and those of sigfd shifted by 16, or -errno. A hung-up terminal is reported to
 * the shim on ctl ("hangup"). */
int bl_tty_pump_step(struct bl_tty_pump *p, int ctl, int sigfd);
/* After the command's exit: the rest of its output, until every slave is closed (or a quiet
 * spell of quiet_ms, when a background process of the box still holds the terminal). */
void bl_tty_pump_drain(struct bl_tty_pump *p, int quiet_ms);

/* The window size of the terminal on fd as two decimal strings, or -ENOTTY. */
int bl_winsize_fields(int fd, char rows[8], char cols[8]);
/* Send "resize ROWS COLS" of the terminal on term_fd to sock (nothing if it is none). */
void bl_send_resize(int sock, int term_fd);

/* ---- the caller's stdio: handed to the box, or relayed ---- */

struct box_stdio;

/* The fds for the box, made from the caller's (borrowed; -1 stays -1). On success *ret owns the
 * pipes; give the box bl_box_stdio_fds(), then call bl_box_stdio_handed(). */
int bl_box_stdio_new(const int caller[3], struct box_stdio **ret, bl_error **err);
/* What the box gets (3 fds): the caller's own fd (borrowed), a pipe end of s, or -1. */
const int *bl_box_stdio_fds(const struct box_stdio *s);
void bl_box_stdio_free(struct box_stdio *s);
BL_DEFINE_CLEANUP_FUNC(struct box_stdio *, bl_box_stdio_free)
/* The box (the shim, or the exec request) holds its own copies now. */
void bl_box_stdio_handed(struct box_stdio *s);
/* 1 if any stream goes through a relay (s may be NULL). */
int bl_box_stdio_relays(const struct box_stdio *s);
/* One poll over ctl, sigfd (may be -1) and the relays of s (may be NULL), copying what is
 * ready; returns the revents of ctl in the low 16 bits and those of sigfd above, or -errno. */
int bl_box_stdio_step(struct box_stdio *s, int ctl, int sigfd);
/* The command has exited: copy what it left in the pipes, then end every relay. */
void bl_box_stdio_drain(struct box_stdio *s);
