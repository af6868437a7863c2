#!/usr/bin/env python3
"""Helpers of tests/soak/soak.sh (Python 3 stdlib only).

  soakhelp.py watch DIR OUT     record every name created in (or renamed into) DIR, one
                                "NAME UNIX-TIME" line per name in OUT, until killed (SIGTERM) (inotify, through ctypes); this is how
                                the soak learns the id of every box, even a `run --rm` box that
                                lived for 50 ms
  soakhelp.py procs HOME IDS    processes that belong to the home: cmdline, cwd, root, exe or an
                                fd naming a path under HOME, or membership of the cgroup
                                boxlite-<id> of a box whose id is listed in the file IDS
  soakhelp.py cgroups IDS       cgroup directories boxlite-<id> (any hierarchy, v1 or v2) of
                                the ids listed in IDS
  soakhelp.py cgcount ID        number of processes in the cgroups named boxlite-ID
  soakhelp.py db HOME           the store: PRAGMA integrity_check and foreign_key_check, and
                                the number of rows in each table, as `table=N` words
Each check prints one line per finding to stdout and exits 1 when it found any.
"""
import ctypes
import os
import sqlite3
import struct
import sys
import time

CG_ROOT = "/sys/fs/cgroup"


def read_ids(path):
    try:
        with open(path) as f:
            return {line.split()[0] for line in f if line.strip() and not line.startswith(".")}
    except FileNotFoundError:
        return set()


# ------------------------------------------------------------------------------- watch ----
IN_CREATE, IN_MOVED_TO, IN_Q_OVERFLOW = 0x100, 0x80, 0x4000


def watch(directory, out):
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(os.O_CLOEXEC)
    if fd < 0:
        sys.exit("inotify_init1: " + os.strerror(ctypes.get_errno()))
    if libc.inotify_add_watch(fd, directory.encode(), IN_CREATE | IN_MOVED_TO) < 0:
        sys.exit("inotify_add_watch %s: %s" % (directory, os.strerror(ctypes.get_errno())))
    with open(out, "a", buffering=1) as f:
        f.write(".ready\n")
        while True:
            try:
                buf = os.read(fd, 65536)
            except InterruptedError:
                continue
            off = 0
            while off < len(buf):
                _, mask, _, n = struct.unpack_from("iIII", buf, off)
                name = buf[off + 16:off + 16 + n].split(b"\0", 1)[0].decode(errors="replace")
                off += 16 + n
                if mask & IN_Q_OVERFLOW:
                    f.write(".overflow\n")
                elif name:
                    f.write("%s %.3f\n" % (name, time.time()))


# ------------------------------------------------------------------------------- procs ----
def under(path, home):
    return path == home or path.startswith(home + "/")


def procs(home, idfile):
    home = os.path.realpath(home)
    ids = read_ids(idfile)
    me = os.getpid()
    found = 0
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == me:
            continue
        why = []
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                argv = f.read().split(b"\0")
            cmd = " ".join(a.decode(errors="replace") for a in argv if a)
            if not cmd:
                continue  # a kernel thread or a zombie
            if home in cmd:
                why.append("cmdline")
            for link in ("cwd", "root", "exe"):
                try:
                    if under(os.readlink("/proc/%s/%s" % (p, link)), home):
                        why.append(link)
                except OSError:
                    pass
            try:
                for fd in os.listdir("/proc/%s/fd" % p):
                    try:
                        t = os.readlink("/proc/%s/fd/%s" % (p, fd))
                    except OSError:
                        continue
                    if under(t, home):
                        why.append("fd %s -> %s" % (fd, t))
            except OSError:
                pass
            with open("/proc/%s/cgroup" % p) as f:
                for line in f:
                    leaf = line.rstrip("\n").rsplit("/", 1)[-1]
                    if leaf.startswith("boxlite-") and leaf[8:] in ids:
                        why.append("cgroup " + line.strip())
                        break
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if why:
            found += 1
            print("leaked process %s (%s): %s" % (p, cmd[:200], "; ".join(why[:4])))
    return 1 if found else 0


# ----------------------------------------------------------------------------- cgroups ----
def cgroup_dirs(names):
    """Every directory under /sys/fs/cgroup whose name is in names (symlinked hierarchies
    such as cpu -> cpu,cpuacct are walked once)."""
    seen, hits = set(), []
    for top, dirs, _ in os.walk(CG_ROOT):
        st = os.stat(top)
        if (st.st_dev, st.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        for d in dirs:
            if d in names:
                hits.append(os.path.join(top, d))
    return hits


def cgroups(idfile):
    names = {"boxlite-" + i for i in read_ids(idfile)}
    hits = cgroup_dirs(names) if names else []
    for h in hits:
        print("leaked cgroup " + h)
    return 1 if hits else 0


def cgcount(box_id):
    pids = set()
    for d in cgroup_dirs({"boxlite-" + box_id}):
        try:
            with open(os.path.join(d, "cgroup.procs")) as f:
                pids.update(line.strip() for line in f if line.strip())
        except OSError:
            pass
    print(len(pids))
    return 0


# ---------------------------------------------------------------------------------- db ----
def db(home):
    path = os.path.join(home, "db", "boxlite.db")
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=30)
    bad = 0
    res = [r[0] for r in con.execute("PRAGMA integrity_check")]
    if res != ["ok"]:
        print("integrity_check: " + "; ".join(map(str, res[:10])))
        bad = 1
    fk = con.execute("PRAGMA foreign_key_check").fetchall()
    if fk:
        print("foreign_key_check: %d violations, first %r" % (len(fk), fk[0]))
        bad = 1
    tables = [r[0] for r in con.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    words = []
    for t in tables:
        words.append("%s=%d" % (t, con.execute('SELECT count(*) FROM "%s"' % t).fetchone()[0]))
    print(" ".join(words))
    con.close()
    return bad


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "watch" and len(args) == 2:
        watch(*args)
        return 0
    if cmd == "procs" and len(args) == 2:
        return procs(*args)
    if cmd == "cgroups" and len(args) == 1:
        return cgroups(*args)
    if cmd == "cgcount" and len(args) == 1:
        return cgcount(*args)
    if cmd == "db" and len(args) == 1:
        return db(*args)
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
