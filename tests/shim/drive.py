#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Drive boxlite-shim by hand for tests (docs/design/shim-protocol.md).

  drive.py run BOX_DIR [--shim PATH] [--started-file F] [--close-after-started]
                       [--signal N [--signal-delay MS]] [--timeout S]
      Start the shim with the spawn channel on fd 3 (our stdio is the box's), print every
      message on stderr as "drive: VERB FIELDS..." with the time since the shim's exec, relay
      SIGINT/SIGTERM as `signal`, and exit with the box's status (or the error's).
  drive.py exec BOX_DIR [--cwd D] [--user U] [--env K=V]... [--detach] [--close-after-pid]
                        -- ARGV...
      exec ARGV in the running box with our stdin/stdout/stderr; exit with its status.
  drive.py ctl BOX_DIR VERB [ARG...]
      Send one request and print each reply (fields joined by spaces) until EOF.
"""
import argparse
import os
import signal
import socket
import subprocess
import sys
import time

# the largest message of the protocol (BL_WIRE_MAX_MSG of src/basic/wire.h)
MAX_MSG = 1024 * 1024

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def log(msg):
    sys.stderr.write("drive: %s\n" % msg)
    sys.stderr.flush()


def fields(data):
    if data.endswith(b"\0"):
        data = data[:-1]
    return [f.decode(errors="replace") for f in data.split(b"\0")]


def encode(parts):
    # every field NUL-terminated, the last one too (src/basic/wire.h)
    return b"".join((p.encode() if isinstance(p, str) else p) + b"\0" for p in parts)


def status_of(msg):
    try:
        return int(msg[1])
    except (IndexError, ValueError):
        return 255


def become_subreaper():
    """Adopt the shim's orphans, as its parent should (see reap_all)."""
    import ctypes
    PR_SET_CHILD_SUBREAPER = 36
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def reap_all(timeout):
    """Reap adopted orphans: a SIGKILLed shim leaves its exec'd processes (killed by the box's
    PID 1 going down) to us, and the box's PID 1 only finishes exiting once they are reaped."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.01)


def cmd_run(a):
    shim = a.shim or os.path.join(ROOT, "build", os.environ.get("BUILD", "release"), "boxlite-shim")
    if not a.close_after_started:
        become_subreaper()
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    cfd = child.fileno()

    def place_fd3():
        os.dup2(cfd, 3)  # dup2 clears FD_CLOEXEC on 3; every other fd of ours is CLOEXEC

    t0 = time.perf_counter()
    proc = subprocess.Popen([shim, a.box_dir], preexec_fn=place_fd3, close_fds=False)
    child.close()

    def relay(sig, _frame):
        try:
            parent.send(encode(["signal", str(sig)]))
        except OSError:
            pass

    signal.signal(signal.SIGINT, relay)
    signal.signal(signal.SIGTERM, relay)
    parent.settimeout(a.timeout)
    rc = 255
    try:
        while True:
            try:
                data = parent.recv(MAX_MSG)
            except socket.timeout:
                log("timeout after %.1f s: killing the shim" % a.timeout)
                proc.kill()
                break
            ms = (time.perf_counter() - t0) * 1000
            if not data:
                log("EOF after %.2f ms" % ms)
                break
            msg = fields(data)
            log("%s after %.2f ms" % (" ".join(msg), ms))
            if msg[0] == "started":
                if a.started_file:
                    with open(a.started_file + ".tmp", "w") as f:
                        f.write("%s\n%d\n" % (msg[1], proc.pid))
                    os.rename(a.started_file + ".tmp", a.started_file)
                if a.close_after_started:
                    parent.close()
                    return 0
                if a.signal:
                    time.sleep(a.signal_delay / 1000.0)
                    parent.send(encode(["signal", str(a.signal)]))
            elif msg[0] in ("exit", "error"):
                rc = status_of(msg)
                break
    finally:
        if not a.close_after_started:
            parent.close()
            try:
                src = proc.wait(timeout=a.timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                src = proc.wait()
            log("shim exited with %d after %.2f ms" % (src, (time.perf_counter() - t0) * 1000))
            reap_all(a.timeout)
    return rc


def cmd_bench(a):
    """Run the box N times; report median/min ms to `started`, to `exit`, to the shim's exit."""
    shim = a.shim or os.path.join(ROOT, "build", os.environ.get("BUILD", "release"), "boxlite-shim")
    res = {"started": [], "exit": [], "reaped": []}
    devnull = os.open(os.devnull, os.O_RDWR)
    for _ in range(a.n):
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        cfd = child.fileno()
        t0 = time.perf_counter()
        proc = subprocess.Popen([shim, a.box_dir], preexec_fn=lambda: os.dup2(cfd, 3),
                                close_fds=False, stdin=devnull, stdout=devnull, stderr=devnull)
        child.close()
        while True:
            data = parent.recv(MAX_MSG)
            t = (time.perf_counter() - t0) * 1000
            if not data:
                break
            msg = fields(data)
            if msg[0] == "started":
                res["started"].append(t)
            elif msg[0] in ("exit", "error"):
                res["exit"].append(t)
                if msg[0] == "error":
                    log("error: %s" % " ".join(msg))
                break
        proc.wait()
        res["reaped"].append((time.perf_counter() - t0) * 1000)
        parent.close()
    for k, v in res.items():
        if v:
            v.sort()
            print("%-8s median %6.2f ms  min %6.2f ms  max %6.2f ms  (n=%d)"
                  % (k, v[len(v) // 2], v[0], v[-1], len(v)))
    return 0


def connect(box_dir):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    path = os.path.join(box_dir, "shim.sock")
    if len(path) >= 100:
        cwd = os.getcwd()
        os.chdir(box_dir)
        try:
            s.connect("shim.sock")
        finally:
            os.chdir(cwd)
    else:
        s.connect(path)
    return s


def cmd_exec(a):
    argv = a.argv[1:] if a.argv and a.argv[0] == "--" else a.argv
    req = ["exec", str(len(argv))] + argv + [str(len(a.env))] + a.env
    req += [a.cwd, a.user, "1" if a.detach else "0"]
    s = connect(a.box_dir)
    socket.send_fds(s, [encode(req)], [0, 1, 2])

    def relay(sig, _frame):
        try:
            s.send(encode(["signal", str(sig)]))
        except OSError:
            pass

    signal.signal(signal.SIGINT, relay)
    signal.signal(signal.SIGTERM, relay)
    rc = 255
    while True:
        data = s.recv(MAX_MSG)
        if not data:
            log("EOF")
            break
        msg = fields(data)
        log(" ".join(msg))
        if msg[0] == "pid":
            if a.pid_file:
                with open(a.pid_file, "w") as f:
                    f.write(msg[1] + "\n")
            if a.close_after_pid or a.detach:
                rc = 0
                break
        elif msg[0] in ("exit", "error"):
            rc = status_of(msg)
            if msg[0] == "error" and len(msg) > 2:
                sys.stderr.write("error: %s\n" % msg[2])
            break
    s.close()
    return rc


def cmd_ctl(a):
    s = connect(a.box_dir)
    s.send(encode([a.verb] + a.args))
    while True:
        data = s.recv(MAX_MSG)
        if not data:
            break
        print(" ".join(fields(data)), flush=True)
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("box_dir")
    r.add_argument("--shim")
    r.add_argument("--started-file")
    r.add_argument("--close-after-started", action="store_true")
    r.add_argument("--signal", type=int)
    r.add_argument("--signal-delay", type=int, default=0)
    r.add_argument("--timeout", type=float, default=30)
    e = sub.add_parser("exec")
    e.add_argument("box_dir")
    e.add_argument("--cwd", default="")
    e.add_argument("--user", default="")
    e.add_argument("--env", action="append", default=[])
    e.add_argument("--detach", action="store_true")
    e.add_argument("--close-after-pid", action="store_true")
    e.add_argument("--pid-file")
    e.add_argument("argv", nargs=argparse.REMAINDER)
    b = sub.add_parser("bench")
    b.add_argument("box_dir")
    b.add_argument("--shim")
    b.add_argument("-n", type=int, default=20)
    c = sub.add_parser("ctl")
    c.add_argument("box_dir")
    c.add_argument("verb")
    c.add_argument("args", nargs="*")
    a = p.parse_args()
    return {"run": cmd_run, "exec": cmd_exec, "ctl": cmd_ctl, "bench": cmd_bench}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
