/* SPDX-License-Identifier: MIT */
/* The host terminal in raw mode for `-t`, restored on every exit path (term.c). */
#pragma once

#include <errno.h>

/* Raw mode on the terminal fd (spec/cli.md §6), and the signal handlers that restore it.
 * Returns 0 or -errno (the terminal is then unchanged). */
int term_make_raw(int fd);
/* Back to the saved mode; idempotent and async-signal-safe. */
void term_restore(void);
/* Raw mode on standard input for -t; a failure is a warning (spec/cli.md §6), not an error. */
void term_raw_or_warn(void);
/* For `_cleanup_(term_restore_if) int raw = tty;`: term_restore() when *armed. */
void term_restore_if(int *armed);
