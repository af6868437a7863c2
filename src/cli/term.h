/* SPDX-License-Identifier: MIT */
/* The host terminal in raw mode for `-t`, restored on every exit path (term.c). */
#pragma once

#include <errno.h>

/* Raw mode on the terminal fd (spec/cli.md §6), and the signal handlers that restore it.
 * Returns 0 or -errno (the terminal is then unchanged). */
int term_make_raw(int fd);
/* Back to the saved mode; idempotent and async-signal-safe. */
void term_restore(void);
