/* SPDX-License-Identifier: MIT */
/* Signal handlers that only write to a pipe: see signals.h. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "signals.h"

/* Signals forwarded to the box while a foreground command runs go through a pipe. */
static int sig_pipe[2] = {-1, -1};
static void on_signal(int sig)
{
    int saved = errno;
    (void) !write(sig_pipe[1], &sig, sizeof(sig));
    errno = saved;
}

int signals_forward(int with_winch)
{
    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]) - !with_winch; i++)
        (void) sigaction(sigs[i], &sa, NULL);
    return 0;
}

int signals_forward_fd(void)
{
    return sig_pipe[0];
}

/* Ctrl-C while following: a byte in this pipe ends the wait. */
static int stop_pipe[2] = {-1, -1};
static void on_stop_signal(int sig)
{
    int saved = errno;
    (void) !write(stop_pipe[1], &sig, 1);
    errno = saved;
}

int signals_catch_stop(void)
{
    if (pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    struct sigaction sa = {.sa_handler = on_stop_signal, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    (void) sigaction(SIGINT, &sa, NULL);
    (void) sigaction(SIGTERM, &sa, NULL);
    return 0;
}

int signals_stop_fd(void)
{
    return stop_pipe[0];
}

int signals_stopped(void)
{
    char c;
    return read(stop_pipe[0], &c, 1) == 1;
}
