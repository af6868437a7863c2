/* SPDX-License-Identifier: MIT */
/*
 * fdwatch MODE SECONDS: issue 12, finding 1 (host files through an exec child's fds).
 *
 * The box starves its exec helper, then watches every process it can see for a way to the
 * host's `/`: each directory fd in /proc/PID/fd, /proc/PID/cwd and /proc/PID/root is climbed
 * with "../../.." towards the marker the test planted outside the box (MARKER, holding TOKEN).
 * Meanwhile the test runs `exec BOX true` in a loop. Modes:
 *   pids  fork until the box's pids limit refuses (EAGAIN), so the exec helper cannot fork
 *   oom   fill the box's memory with memfd pages (not mapped: no process's RSS grows), from a
 *         child a bit larger than the others, until the kernel OOM-kills something; once that
 *         child itself is killed, let go of the pages so that execs can run again
 * Runs until SECONDS pass or SIGTERM (`boxlite stop`), then prints the verdict.
 */
#include <dirent.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "probe.h"

#define MAX_KIDS 64

struct shared {
    volatile int stop;
    volatile int escapes;
    volatile int scans;
    volatile int dirs_seen; /* directory fds of other processes looked at */
};
static struct shared *sh;
static volatile sig_atomic_t term;

static void on_term(int sig)
{
    (void) sig;
    term = 1;
    sh->stop = 1;
}

static void try_dir(int pid, const char *what, const char *path)
{
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (strstr(path, "/fd/"))
            __sync_fetch_and_add(&sh->dirs_seen, 1);
        if (marker_at(fd, marker_climb())) {
            char target[512] = "?";
            ssize_t n = readlink(path, target, sizeof(target) - 1);
            if (n > 0)
                target[n] = 0;
            if (__sync_fetch_and_add(&sh->escapes, 1) == 0)
                escaped("read the host marker %s through %s of pid %d (%s -> %s)", getenv("MARKER"),
                        what, pid, path, target);
            sh->stop = 1;
        }
    }
    close(fd);
}

static void scan_pid(int pid)
{
    char path[96];
    snprintf(path, sizeof(path), "/proc/%d/cwd", pid);
    try_dir(pid, "its cwd", path);
    snprintf(path, sizeof(path), "/proc/%d/root", pid);
    try_dir(pid, "its root", path);
    snprintf(path, sizeof(path), "/proc/%d/fd", pid);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char fdp[128];
        snprintf(fdp, sizeof(fdp), "/proc/%d/fd/%d", pid, atoi(e->d_name));
        try_dir(pid, "an fd", fdp);
    }
    closedir(d);
}

static void watch(time_t deadline)
{
    pid_t self = getpid();
    while (!sh->stop && time(NULL) < deadline) {
        DIR *d = opendir("/proc");
        if (!d)
            return;
        struct dirent *e;
        while ((e = readdir(d)) && !sh->stop) {
            int pid = atoi(e->d_name);
            if (pid > 0 && pid != self)
                scan_pid(pid);
        }
        closedir(d);
        __sync_fetch_and_add(&sh->scans, 1);
    }
}

static pid_t kids[MAX_KIDS];
static int nkids;

/* Drop the pages of our own code from our RSS (they fault back in as they run, only what runs):
 * the OOM killer ranks processes by RSS, and a static glibc program maps more at start than the
 * runtime's helpers do. Only r-xp mappings (zapping written private pages would undo
 * relocations), and with plain syscalls: running stdio here would fault much of it back in. */
static void shrink_rss(void)
{
    static char buf[8192];
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = 0;
    unsigned long ranges[16][2];
    int k = 0;
    for (char *l = buf; *l && k < 16;) {
        char *end = strchr(l, '\n');
        unsigned long v[2] = {0, 0};
        char *p = l;
        for (int i = 0; i < 2; i++, p++)
            for (; (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'); p++)
                v[i] = v[i] * 16 + (unsigned long) (*p <= '9' ? *p - '0' : *p - 'a' + 10);
        if (!strncmp(p, "r-xp", 4) && memchr(p, '/', end ? (size_t) (end - p) : strlen(p))) {
            ranges[k][0] = v[0];
            ranges[k++][1] = v[1];
        }
        if (!end)
            break;
        l = end + 1;
    }
    for (int i = 0; i < k; i++)
        (void) madvise((void *) ranges[i][0], ranges[i][1] - ranges[i][0], MADV_DONTNEED);
}

/* The host's count of OOM kills (/proc/vmstat), -1 if unknown. Plain read(2) and a hand-made
 * parse: the filler runs this, and must stay small (see shrink_rss). */
static long oom_kills(void)
{
    static char buf[16384];
    int fd = open("/proc/vmstat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    char *p = strstr(buf, "\noom_kill ");
    if (!p)
        return -1;
    long v = 0;
    for (p += 10; *p >= '0' && *p <= '9'; p++)
        v = v * 10 + (*p - '0');
    return v;
}

static pid_t spawn_watcher(time_t deadline, int slot)
{
    pid_t p = fork();
    if (p == 0) {
        shrink_rss();
        watch(deadline);
        _exit(0);
    }
    if (p > 0)
        kids[slot] = p;
    return p;
}

/* Writes memfd pages, one page at a time, until the first OOM kill of the host after it started
 * (or 4x the limit): one page, so that the write which made the kernel kill is not also the one
 * that makes it kill again (killing a helper frees almost nothing the box is charged for). Its
 * RSS is meant to sit between ours (PID 1, shrunk) and the runtime's helpers: 32 more pages. */
static _Noreturn void fill(int memfd, long limit_mb)
{
    static char ballast[32 << 12];
    static char page[4096];
    shrink_rss();
    for (size_t i = 0; i < sizeof(ballast); i += 4096)
        ballast[i] = 1;
    memset(page, 1, sizeof(page));
    long base = oom_kills();
    for (long n = 0; n < 4 * limit_mb * 256; n++) {
        if (write(memfd, page, sizeof(page)) < 0)
            _exit(3);
        if (base >= 0 && oom_kills() > base)
            _exit(ballast[n % sizeof(ballast)] ? 0 : 0);
    }
    _exit(4);
}

int main(int argc, char **argv)
{
    probe_init();
    const char *mode = argc > 1 ? argv[1] : "pids";
    int secs = argc > 2 ? atoi(argv[2]) : 10;
    time_t deadline = time(NULL) + secs;
    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        return 2;
    struct sigaction sa = {.sa_handler = on_term}; /* no SA_RESTART: wake waitpid */
    sigaction(SIGTERM, &sa, NULL);
    if (!getenv("MARKER") || !getenv("TOKEN")) {
        note("MARKER and TOKEN must name the host marker");
        return 2;
    }
    if (marker_at(AT_FDCWD, getenv("MARKER")))
        escaped("the host marker %s is visible at its own path", getenv("MARKER"));
    if (strcmp(mode, "pids") && strcmp(mode, "oom")) {
        note("unknown mode %s", mode);
        return 2;
    }

    /* two watchers besides us (the window is short; the machine may have two cores); with
     * oom, only once the filler is done, so that it is the box's largest process till then */
    int nwatch = 2;
    nkids = nwatch;
    if (!strcmp(mode, "pids"))
        for (int i = 0; i < nwatch; i++)
            spawn_watcher(deadline, i);

    int memfd = -1;
    pid_t filler = -1;
    if (!strcmp(mode, "pids")) {
        int n = 0;
        for (;;) {
            pid_t p = fork();
            if (p == 0) {
                while (!sh->stop)
                    pause();
                _exit(0);
            }
            if (p < 0) {
                note("fork refused after %d idle children: %s", n, strerror(errno));
                break;
            }
            if (nkids < MAX_KIDS)
                kids[nkids++] = p;
            if (++n >= 200) {
                note("no pids limit: 200 children forked");
                break;
            }
        }
    } else {
        memfd = memfd_create("fill", MFD_CLOEXEC);
        if (memfd < 0) {
            note("memfd_create: %s", strerror(errno));
            return 2;
        }
        filler = fork();
        if (filler == 0)
            fill(memfd, atol(env_or("MEM_MB", "64")));
        shrink_rss();
    }

    /* Reap: a watcher the OOM killer took is replaced; once the filler is gone, let go of its
     * pages. We watch too, except while the filler runs (we stay small meanwhile). */
    int ours_killed = 0;
    while (!sh->stop && time(NULL) < deadline) {
        int st;
        pid_t p = waitpid(-1, &st, filler > 0 ? 0 : WNOHANG);
        if (p > 0 && p == filler) {
            struct stat ms;
            fstat(memfd, &ms);
            note("filler %s after %lld MiB of memfd pages (%d of our other processes killed)",
                 WIFSIGNALED(st)        ? "was killed"
                 : WEXITSTATUS(st) == 0 ? "saw an OOM kill"
                                        : "ended",
                 (long long) (ms.st_size >> 20), ours_killed);
            if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && !ours_killed)
                note("the OOM kill took no process of the box: a helper of the runtime's");
            if (ftruncate(memfd, 0) < 0)
                note("ftruncate: %s", strerror(errno));
            filler = -1;
            for (int i = 0; i < nwatch; i++)
                spawn_watcher(deadline, i);
            continue;
        }
        if (p > 0) {
            ours_killed++;
            note("pid %d was %s", (int) p, WIFSIGNALED(st) ? "killed" : "gone");
            for (int i = 0; i < nwatch; i++)
                if (kids[i] == p)
                    spawn_watcher(deadline, i);
            continue;
        }
        if (filler < 0)
            watch(time(NULL) + 1);
    }
    sh->stop = 1;
    for (int i = 0; i < nkids; i++)
        if (kids[i] > 0)
            kill(kids[i], SIGKILL);
    if (filler > 0)
        kill(filler, SIGKILL);
    while (wait(NULL) > 0 || errno == EINTR)
        ;
    note("%d scans of /proc, %d directory fds of other processes seen", sh->scans, sh->dirs_seen);
    if (!sh->escapes)
        held("no process of the box led to the host's / (cwd, root, directory fds)");
    if (sh->escapes && !probe_escapes)
        probe_escapes = 1;
    return probe_done();
}
