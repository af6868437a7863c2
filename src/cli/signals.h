/* SPDX-License-Identifier: MIT */
/* Signals while a command waits (signals.c): forwarded to the box (run, exec), or ending a wait
 * (logs -f, stats -s). Each handler only writes to a pipe the waiting code reads. */
#pragma once

/* INT, TERM, HUP, QUIT (and WINCH with `with_winch`: the library resizes the box's pty) into a
 * pipe whose read end signals_forward_fd() returns, for the library to forward. 0 or -1. */
int signals_forward(int with_winch);
int signals_forward_fd(void);

/* INT and TERM end a wait: signals_stop_fd() becomes readable, signals_stopped() says 1 once. */
int signals_catch_stop(void);
int signals_stop_fd(void);
int signals_stopped(void);
