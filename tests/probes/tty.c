/* SPDX-License-Identifier: MIT */
/*
 * tty: issue 12, finding 2 (the user's terminal). Run without -t, with the CLI's stdin and
 * stdout on the user's terminal: the box must have no controlling terminal, /dev/tty must not
 * open (ENXIO), and TIOCSTI must not push input into any terminal it was handed.
 */
#include <sys/ioctl.h>
#include <termios.h>

#include "probe.h"

int main(void)
{
    probe_init();
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd >= 0) {
        escaped("/dev/tty opened: the box has a controlling terminal (the user's)");
        close(fd);
    } else if (errno == ENXIO) {
        held("/dev/tty: %s (no controlling terminal)", strerror(errno));
    } else {
        note("/dev/tty: %s", strerror(errno));
    }

    /* field 7 of /proc/self/stat: the controlling terminal's device number */
    char buf[1024] = "";
    int sfd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    ssize_t n = sfd >= 0 ? read(sfd, buf, sizeof(buf) - 1) : -1;
    if (sfd >= 0)
        close(sfd);
    char *p = n > 0 ? strrchr(buf, ')') : NULL;
    int pid, ppid, pgrp, sid, tty_nr = -1;
    char state;
    if (p && sscanf(p + 2, "%c %d %d %d %d", &state, &ppid, &pgrp, &sid, &tty_nr) == 5) {
        (void) pid;
        if (tty_nr == 0)
            held("tty_nr is 0 (session %d)", sid);
        else
            escaped("controlling terminal tty_nr=%d (%d:%d), session %d", tty_nr,
                    (tty_nr >> 8) & 0xfff, (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00), sid);
    } else {
        note("cannot read /proc/self/stat");
    }

    int terminals = 0;
    for (int i = 0; i < 3; i++) {
        if (!isatty(i))
            continue;
        terminals++;
        /* a harmless key (a space): should it land, the user's shell sees a blank */
        char c = ' ';
        char what[64];
        snprintf(what, sizeof(what), "TIOCSTI on fd %d (a terminal)", i);
        expect_refused(what, ioctl(i, TIOCSTI, &c), EPERM, EIO, EACCES, 0);
        snprintf(what, sizeof(what), "TIOCSCTTY on fd %d", i);
        expect_refused(what, ioctl(i, TIOCSCTTY, 0), EPERM, 0);
    }
    note("%d of stdin, stdout, stderr are terminals", terminals);
    return probe_done();
}
