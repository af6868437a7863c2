/* SPDX-License-Identifier: MIT */
/*
 * The host terminal in raw mode while `run -t`/`exec -t` runs, restored on every way out: the
 * normal return (term_restore from the command's cleanup), and any signal that would end or
 * stop the CLI (restore, then the signal's default action; a stopped CLI is put back in raw
 * mode when it continues). The signals the CLI forwards to the box (INT, TERM, HUP, QUIT) do
 * not end it: it returns once the box's command has exited, through the normal path.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "term.h"

static struct termios saved, raw;
static volatile sig_atomic_t term_fd = -1, is_raw;

void term_restore(void)
{
    if (term_fd >= 0 && is_raw) {
        (void) tcsetattr(term_fd, TCSADRAIN, &saved);
        is_raw = 0;
    }
}

static void on_fatal(int sig)
{
    term_restore();
    /* SA_RESETHAND put the default action back: deliver the signal again */
    (void) raise(sig);
}

static void on_stop(int sig)
{
    (void) sig;
    term_restore();
    (void) raise(SIGSTOP);
}

static void on_cont(int sig)
{
    (void) sig;
    if (term_fd >= 0 && !is_raw && tcsetattr(term_fd, TCSADRAIN, &raw) == 0)
        is_raw = 1;
}

int term_make_raw(int fd)
{
    if (tcgetattr(fd, &saved) < 0)
        return -errno;
    raw = saved;
    /* the flags of spec/cli.md §6 */
    raw.c_iflag &= ~(tcflag_t) (IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    raw.c_oflag &= ~(tcflag_t) OPOST;
    raw.c_lflag &= ~(tcflag_t) (ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    term_fd = fd;
    static const int fatal[] = {SIGUSR1, SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF, SIGXCPU, SIGXFSZ,
                                SIGSEGV, SIGBUS,  SIGFPE,  SIGILL,    SIGABRT, SIGSYS,  SIGTRAP};
    struct sigaction sa = {.sa_handler = on_fatal, .sa_flags = SA_RESETHAND | SA_NODEFER};
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
        (void) sigaction(fatal[i], &sa, NULL);
    struct sigaction st = {.sa_handler = on_stop, .sa_flags = SA_RESTART};
    sigemptyset(&st.sa_mask);
    (void) sigaction(SIGTSTP, &st, NULL);
    (void) sigaction(SIGTTIN, &st, NULL);
    (void) sigaction(SIGTTOU, &st, NULL);
    struct sigaction sc = {.sa_handler = on_cont, .sa_flags = SA_RESTART};
    sigemptyset(&sc.sa_mask);
    (void) sigaction(SIGCONT, &sc, NULL);
    struct sigaction ign = {.sa_handler = SIG_IGN};
    (void) sigaction(SIGPIPE, &ign, NULL); /* a closed output ends that stream, not us */
    if (tcsetattr(fd, TCSADRAIN, &raw) < 0)
        return -errno;
    is_raw = 1;
    return 0;
}

void term_raw_or_warn(void)
{
    int r = term_make_raw(STDIN_FILENO);
    if (r < 0)
        fprintf(stderr,
                "Warning: Failed to enable raw mode: %s\n"
                "Continuing in cooked mode. Some features may not work correctly.\n",
                strerror(-r));
}

void term_restore_if(int *armed)
{
    if (*armed)
        term_restore();
}
