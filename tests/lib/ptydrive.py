#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Drive `boxlite run -t` / `exec -t` through a real pty, as a user at a terminal would.

  ptydrive.py SCENARIO BOXLITE ARGS...

The CLI runs as a session leader whose controlling terminal is the slave of a fresh pty; we
hold the master (the "keyboard and screen") and a copy of the slave, to read the terminal's
mode before and after. Scenarios:
  session   type `stty size`, resize the window, type it again, then `exit 7`; prints the two
            sizes and the CLI's status
  signal N  wait for the command to print READY, send signal N to the CLI; prints its status
  quick     the command ends by itself; prints how long the CLI took and its status
  eof       close the keyboard (hang up); prints the CLI's status
  eof-busy  the same while the box's shell runs a command (its terminal in cooked mode)
Every scenario then prints "restored" if the terminal's mode is what it was before (raw mode
undone), else "NOT restored".
"""
import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time


def setsize(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class Term:
    def __init__(self, args, rows=30, cols=100):
        self.master, self.slave = pty.openpty()
        setsize(self.master, rows, cols)
        self.mode = termios.tcgetattr(self.slave)

        def become_session_leader():
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(args, stdin=self.slave, stdout=self.slave,
                                     stderr=self.slave, preexec_fn=become_session_leader)
        self.buf = b""

    def read_until(self, pat, timeout=15):
        end = time.monotonic() + timeout
        while pat not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                sys.exit("timeout waiting for %r; screen: %r" % (pat, self.buf[-400:]))
            r, _, _ = select.select([self.master], [], [], left)
            if r:
                try:
                    data = os.read(self.master, 65536)
                except OSError:
                    sys.exit("terminal closed waiting for %r; screen: %r" % (pat, self.buf[-400:]))
                self.buf += data
        i = self.buf.index(pat) + len(pat)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out.decode(errors="replace")

    def type(self, text):
        os.write(self.master, text.encode())

    def wait(self, timeout=15):
        end = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > end:
                self.proc.kill()
                sys.exit("the CLI did not exit")
            # keep the screen drained so the CLI never blocks on its output
            r, _, _ = select.select([self.master], [], [], 0.05)
            if r:
                try:
                    self.buf += os.read(self.master, 65536)
                except OSError:
                    pass
        return self.proc.returncode

    def report_mode(self):
        print("restored" if termios.tcgetattr(self.slave) == self.mode else "NOT restored")


def ask(t, command, tag, redirect=""):
    """Type `echo "<tag:$(command)>"` and return what the box answered. The answer is told from
    the echo of what we typed by its shape: the typed text shows `$(`, the answer does not."""
    t.type('echo "<%s:$(%s)>"%s\n' % (tag, command, redirect))
    screen = t.read_until(b">\r\n" + b"", 15)
    while ("<%s:" % tag) not in screen or "$(" in screen.split("<%s:" % tag)[-1]:
        screen = t.read_until(b">\r\n", 15)
    return screen.split("<%s:" % tag)[-1].split(">")[0]


def main():
    scenario, args = sys.argv[1], sys.argv[2:]
    if scenario == "signal":
        sig, args = int(args[0]), args[1:]
    t = Term(args)
    if scenario == "session":
        print("size1", ask(t, "stty size", "a"))
        setsize(t.master, 40, 120)
        time.sleep(0.3)
        print("size2", ask(t, "stty size", "b"))
        print("stderr-shown", ask(t, "echo on-stderr", "c", " >&2") == "on-stderr")
        print("tty", ask(t, "tty", "d"))
        t.type("exit 7\n")
        print("status", t.wait())
    elif scenario == "signal":
        t.read_until(b"READY\r\n")
        t.proc.send_signal(sig)
        print("status", t.wait())
    elif scenario == "quick":
        start = time.monotonic()
        status = t.wait()
        print("seconds %.1f" % (time.monotonic() - start))
        print("status", status)
        print("screen", t.buf.decode(errors="replace").replace("\r", "").strip())
    elif scenario == "eof-busy":
        t.read_until(b"# ")
        t.type("echo READY; sleep 1\n")
        t.read_until(b"READY\r\n")
        os.close(t.master)
        print("status", t.proc.wait(timeout=15))
        return
    elif scenario == "eof":
        ask(t, "echo READY", "r")
        # the user's terminal goes away: the CLI reads EOF, the box's shell gets ^D
        os.close(t.master)
        print("status", t.proc.wait(timeout=15))
        return  # a hung-up terminal has no mode to compare
    t.report_mode()


if __name__ == "__main__":
    main()
