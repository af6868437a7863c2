/* SPDX-License-Identifier: MIT */
/*
 * Process setup shared by PID 1, exec'd processes and the built-in init: user from the box's
 * /etc/passwd and /etc/group, capabilities, no_new_privs, seccomp, PATH lookup and execve.
 * Everything here runs in a child of the shim and ends in execve() or _exit().
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc-util.h"
#include "fs-util.h"
#include "process.h"

/* ---- clone3 ------------------------------------------------------------------------- */

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* struct clone_args of <linux/sched.h> (that header clashes with glibc's <sched.h>). */
struct shim_clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
        set_tid_size, cgroup;
};

pid_t shim_clone(uint64_t flags, int cgroup_fd, int *ret_pidfd, bool *ret_in_cgroup)
{
    int pidfd = -1;
    struct shim_clone_args a = {
        .flags = flags | CLONE_PIDFD,
        .pidfd = (uint64_t) (uintptr_t) &pidfd,
        .exit_signal = SIGCHLD,
    };
    if (cgroup_fd >= 0) {
        a.flags |= CLONE_INTO_CGROUP;
        a.cgroup = (uint64_t) cgroup_fd;
    }
    long r = syscall(SYS_clone3, &a, sizeof(a));
    if (r < 0 && cgroup_fd >= 0 && errno != ENOSYS && errno != ENOMEM && errno != EAGAIN) {
        /* CLONE_INTO_CGROUP refused (e.g. an older kernel): the child joins by itself. */
        a.flags &= ~(uint64_t) CLONE_INTO_CGROUP;
        a.cgroup = 0;
        cgroup_fd = -1;
        r = syscall(SYS_clone3, &a, sizeof(a));
    }
    if (r < 0 && errno == ENOSYS) {
        cgroup_fd = -1;
        /* x86-64 order: flags, stack, parent_tid (receives the pidfd), child_tid, tls. */
        r = syscall(SYS_clone, (unsigned long) (flags | CLONE_PIDFD) | SIGCHLD, NULL, &pidfd, NULL,
                    0);
    }
    if (r < 0)
        return -errno;
    *ret_in_cgroup = cgroup_fd >= 0; /* both sides need it: the rest is joined by hand */
    if (r == 0) {
        /* Non-dumpable until it execs (execve decides afresh): the box's root, once it can see
         * us, may neither ptrace us nor open our /proc/PID/{fd,cwd,root,exe,mem}, which lead to
         * the host (CVE-2016-9962). A child in a new user namespace is the exception until it
         * has been mapped: without root, the map helpers and the shim need its /proc entries
         * (PID 1, which runs nothing of the box's before it execs; the built-in init makes
         * itself non-dumpable before it runs anything: box_pid1_main). */
        if (!(flags & CLONE_NEWUSER))
            (void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        return 0;
    }
    *ret_pidfd = pidfd;
    return (pid_t) r;
}

/* ---- errors of a child --------------------------------------------------------------- */

void child_fail(int errfd, int status, const char *fmt, ...)
{
    struct child_error e = {.status = status};
    va_list ap;
    va_start(ap, fmt);
    (void) vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
    va_end(ap);
    if (errfd >= 0) {
        ssize_t n = write(errfd, &e, sizeof(e)); /* < PIPE_BUF: atomic */
        (void) n;
    }
    _exit(status);
}

int shim_oom_orig = SHIM_OOM_UNCHANGED;

static int write_oom_score_adj(int v)
{
    char buf[16];
    int n = snprintf(buf, sizeof(buf), "%d", v);
    _cleanup_close_ int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    return fd >= 0 && write(fd, buf, (size_t) n) == n ? 0 : -1;
}

void shim_oom_protect(void)
{
    char buf[16] = {0};
    _cleanup_close_ int fd = open("/proc/self/oom_score_adj", O_RDONLY | O_CLOEXEC);
    int v;
    if (fd < 0 || read(fd, buf, sizeof(buf) - 1) <= 0)
        return;
    buf[strcspn(buf, "\n")] = 0;
    if (parse_int(buf, -1000, 1000, &v) < 0 || v == -1000)
        return;
    /* Lowering it needs CAP_SYS_RESOURCE (root without it, or a plain user, stays as is). */
    if (write_oom_score_adj(-1000) == 0)
        shim_oom_orig = v;
}

void proc_oom_restore(void)
{
    /* raising one's own value needs no privilege */
    if (shim_oom_orig != SHIM_OOM_UNCHANGED)
        (void) write_oom_score_adj(shim_oom_orig);
}

void proc_close_fds(int keep)
{
    if (keep < 3) {
        (void) close_range(3, ~0U, 0);
        return;
    }
    if (keep > 3)
        (void) close_range(3, (unsigned) keep - 1, 0);
    (void) close_range((unsigned) keep + 1, ~0U, 0);
}

void child_reset_signals(void)
{
    /* Ignored signals survive execve: neither our SIGPIPE nor anything our own parent ignored
     * may reach the box. (glibc refuses its internal signals; that is fine.) */
    struct sigaction sa = {.sa_handler = SIG_DFL};
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            (void) sigaction(sig, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    (void) sigprocmask(SIG_SETMASK, &none, NULL);
}

/* ---- /etc/passwd and /etc/group of the box ---------------------------------------------- */

/* A missing (or not regular: a FIFO must not hang us) file has no entries; numeric ids still
 * work. */
static char *read_etc(const char *path)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return NULL;
    char *buf = NULL;
    if (bl_read_full_fd(fd, 16 * 1024 * 1024, &buf, NULL) < 0)
        return NULL;
    return buf;
}

/* Next line of *p split in place into up to max ':'-separated fields; returns the count, or 0
 * at the end. */
static size_t next_entry(char **p, char **f, size_t max)
{
    while (**p) {
        char *line = *p;
        char *nl = strchr(line, '\n');
        if (nl) {
            *nl = 0;
            *p = nl + 1;
        } else {
            *p = line + strlen(line);
        }
        if (!*line || *line == '#' || *line == '+' || *line == '-')
            continue;
        size_t n = 0;
        f[n++] = line;
        for (char *c = line; *c && n < max; c++) {
            if (*c == ':') {
                *c = 0;
                f[n++] = c + 1;
            }
        }
        return n;
    }
    return 0;
}

static bool has_member(char *list, const char *name)
{
    for (char *m = list; m && *m;) {
        char *comma = strchr(m, ',');
        size_t len = comma ? (size_t) (comma - m) : strlen(m);
        if (len == strlen(name) && !strncmp(m, name, len))
            return true;
        m = comma ? comma + 1 : NULL;
    }
    return false;
}

static void add_group(struct box_user *u, gid_t g)
{
    for (size_t i = 0; i < u->n_groups; i++)
        if (u->groups[i] == g)
            return;
    if (u->n_groups < BOX_MAX_GROUPS)
        u->groups[u->n_groups++] = g;
}

int user_resolve(const char *spec, struct box_user *u, char *msg, size_t msgsz)
{
    char buf[256];
    if (snprintf(buf, sizeof(buf), "%s", spec ? spec : "") >= (int) sizeof(buf)) {
        (void) snprintf(msg, msgsz, "user name too long");
        return -EINVAL;
    }
    char *upart = buf, *gpart = strchr(buf, ':');
    if (gpart)
        *gpart++ = 0;
    if (gpart && !*gpart)
        gpart = NULL;

    *u = (struct box_user){0};
    (void) snprintf(u->home, sizeof(u->home), "/");
    char name[128] = "";
    uint32_t id = 0;
    bool numeric = !*upart || parse_id(upart, &id) == 0;
    bool found = false;
    _cleanup_free_ char *pw = read_etc("/etc/passwd");
    char *p = pw, *f[7];
    size_t n;
    while (p && (n = next_entry(&p, f, 7)) > 0) {
        uint32_t puid, pgid;
        if (n < 4 || parse_id(f[2], &puid) < 0 || parse_id(f[3], &pgid) < 0)
            continue;
        if (numeric ? puid != id : strcmp(f[0], upart) != 0)
            continue;
        found = true;
        u->uid = puid;
        u->gid = pgid;
        (void) snprintf(name, sizeof(name), "%s", f[0]);
        if (n >= 6 && *f[5])
            (void) snprintf(u->home, sizeof(u->home), "%s", f[5]);
        break;
    }
    if (!found) {
        if (!numeric) {
            (void) snprintf(msg, msgsz,
                            "unable to find user %s: no matching entries in passwd file", upart);
            return -ENOENT;
        }
        u->uid = id;
        u->gid = 0;
    }

    uint32_t gid = 0;
    bool gnumeric = gpart && parse_id(gpart, &gid) == 0;
    if (gnumeric)
        u->gid = gid;
    bool gfound = gnumeric;
    _cleanup_free_ char *gr = (gpart && !gnumeric) || *name ? read_etc("/etc/group") : NULL;
    p = gr;
    while (p && (n = next_entry(&p, f, 4)) > 0) {
        uint32_t ggid;
        if (n < 3 || parse_id(f[2], &ggid) < 0)
            continue;
        if (gpart && !gnumeric && !gfound && !strcmp(f[0], gpart)) {
            u->gid = ggid;
            gfound = true;
        }
        if (!gpart && *name && n >= 4 && has_member(f[3], name))
            add_group(u, ggid);
    }
    if (gpart && !gfound) {
        (void) snprintf(msg, msgsz, "unable to find group %s: no matching entries in group file",
                        gpart);
        return -ENOENT;
    }
    /* The primary group first, then the memberships (none with an explicit group). */
    gid_t extra[BOX_MAX_GROUPS];
    size_t n_extra = u->n_groups;
    memcpy(extra, u->groups, n_extra * sizeof(gid_t));
    u->n_groups = 0;
    add_group(u, u->gid);
    for (size_t i = 0; i < n_extra; i++)
        add_group(u, extra[i]);
    return 0;
}

/* ---- capabilities, user, no_new_privs, seccomp ----------------------------------------- */

/* A user namespace with one id mapped (setgroups "deny"): the groups cannot change. */
static bool setgroups_denied(void)
{
    char buf[16] = {0};
    _cleanup_close_ int fd = open("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
    return fd >= 0 && read(fd, buf, sizeof(buf) - 1) > 0 && !strncmp(buf, "deny", 4);
}

void proc_apply_user_caps(const struct proc_spec *s, const struct box_user *u, int errfd)
{
    /* The bounding set first, while we still hold CAP_SETPCAP. PR_CAPBSET_READ fails past
     * the kernel's last capability, which saves reading /proc/sys/kernel/cap_last_cap. */
    for (int cap = 0; cap < 64; cap++) {
        int r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
        if (r < 0)
            break;
        if (r == 1 && !(s->caps & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
            child_fail(errfd, ST_BOXLITE_FAILED, "cannot drop capability %d: %s", cap,
                       strerror(errno));
    }
    if (setgroups(u->n_groups, u->groups) < 0 && !(errno == EPERM && setgroups_denied()))
        child_fail(errfd, ST_BOXLITE_FAILED, "setgroups: %s", strerror(errno));
    if (setresgid(u->gid, u->gid, u->gid) < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot set gid %u: %s", (unsigned) u->gid,
                   errno == EINVAL ? "not mapped in the box (a box started without root has one "
                                     "id: its root)"
                                   : strerror(errno));
    /* Without PR_SET_KEEPCAPS a switch to a non-root uid clears permitted and effective: a
     * non-root user gets no capabilities, only the bounding set (what docker does). */
    if (setresuid(u->uid, u->uid, u->uid) < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot set uid %u: %s", (unsigned) u->uid,
                   errno == EINVAL ? "not mapped in the box (a box started without root has one "
                                     "id: its root)"
                                   : strerror(errno));
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof(d));
    if (syscall(SYS_capget, &h, d) < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "capget: %s", strerror(errno));
    uint64_t have = d[0].permitted | (uint64_t) d[1].permitted << 32;
    /* Caps the shim itself lacks (e.g. CAP_SYS_RESOURCE here) cannot be granted; inheritable
     * stays empty (CVE-2022-24769), ambient too. */
    uint64_t want = u->uid == 0 ? s->caps & have : 0;
    for (int i = 0; i < 2; i++) {
        d[i].effective = d[i].permitted = (uint32_t) (want >> (32 * i));
        d[i].inheritable = 0;
    }
    if (syscall(SYS_capset, &h, d) < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "capset: %s", strerror(errno));
    (void) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
}

void proc_apply_nnp_seccomp(const struct proc_spec *s, int errfd)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot set no_new_privs: %s", strerror(errno));
    if (s->seccomp && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, s->seccomp, 0, 0) < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot load seccomp filter: %s", strerror(errno));
}

/* ---- exec ------------------------------------------------------------------------------- */

static const char *env_get(char *const *envp, const char *key)
{
    size_t k = strlen(key);
    for (char *const *e = envp; e && *e; e++)
        if (!strncmp(*e, key, k) && (*e)[k] == '=')
            return *e + k + 1;
    return NULL;
}

/* exec error text and status the way docker words them. */
static _noreturn_ void exec_fail(int errfd, const char *name, int e)
{
    int status = e == ENOENT || e == ENOTDIR ? ST_NOT_FOUND : ST_CANNOT_INVOKE;
    const char *why = e == ENOENT                 ? "no such file or directory"
                      : e == ENOTDIR              ? "not a directory"
                      : e == EISDIR               ? "is a directory"
                      : e == EACCES || e == EPERM ? "permission denied"
                      : e == ENOEXEC              ? "exec format error"
                                                  : strerror(e);
    child_fail(errfd, status, "exec: \"%s\": %s", name, why);
}

/* Resolve argv[0] like Go's exec.LookPath: a name with '/' is used as is, otherwise the first
 * regular file with an execute bit in $PATH. */
static void lookup(const char *name, const char *path, char *out, size_t outsz, int errfd)
{
    struct stat st;
    if (strchr(name, '/')) {
        if (stat(name, &st) < 0)
            exec_fail(errfd, name, errno);
        if (S_ISDIR(st.st_mode))
            exec_fail(errfd, name, EISDIR);
        if (snprintf(out, outsz, "%s", name) >= (int) outsz)
            exec_fail(errfd, name, ENAMETOOLONG);
        return;
    }
    if (*name) {
        for (const char *p = path;;) {
            const char *colon = strchr(p, ':');
            size_t len = colon ? (size_t) (colon - p) : strlen(p);
            int k = len ? snprintf(out, outsz, "%.*s/%s", (int) len, p, name)
                        : snprintf(out, outsz, "./%s", name);
            if (k > 0 && (size_t) k < outsz && stat(out, &st) == 0 && !S_ISDIR(st.st_mode) &&
                (st.st_mode & 0111))
                return;
            if (!colon)
                break;
            p = colon + 1;
        }
    }
    child_fail(errfd, ST_NOT_FOUND, "exec: \"%s\": executable file not found in $PATH", name);
}

void proc_exec(const struct proc_spec *s, int errfd)
{
    struct box_user u;
    char msg[384];
    if (user_resolve(s->user, &u, msg, sizeof(msg)) < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "%s", msg);
    /* the terminal belongs to its user, as login and docker do (mesg, write, reopening it) */
    if (s->tty && u.uid != 0 && fchown(STDIN_FILENO, u.uid, (gid_t) -1) < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot give the terminal to uid %u: %s",
                   (unsigned) u.uid, strerror(errno));
    const char *cwd = s->cwd && *s->cwd ? s->cwd : "/";
    /* chdir as root first (the user may lack search permission on a parent the image owns);
     * on EACCES try again as the user. */
    bool in_cwd = chdir(cwd) == 0;
    if (!in_cwd && errno != EACCES)
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot change to working directory '%s': %s", cwd,
                   strerror(errno));

    /* HOME from passwd unless the environment has one (docker, runc). */
    size_t n_env = 0;
    while (s->envp && s->envp[n_env])
        n_env++;
    char **envp = bl_calloc(n_env + 2, sizeof(char *));
    if (!envp)
        child_fail(errfd, ST_BOXLITE_FAILED, "out of memory");
    if (n_env)
        memcpy(envp, s->envp, n_env * sizeof(char *));
    if (!env_get(envp, "HOME")) {
        envp[n_env] = bl_asprintf("HOME=%s", u.home);
        if (!envp[n_env])
            child_fail(errfd, ST_BOXLITE_FAILED, "out of memory");
    }

    /* Nothing of the shim's survives into the box's credentials: not one fd (O_CLOEXEC would
     * only close them at execve, after the drop), not the OOM protection. */
    proc_close_fds(errfd);
    proc_oom_restore();
    proc_apply_user_caps(s, &u, errfd);
    if (!in_cwd && chdir(cwd) < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot change to working directory '%s': %s", cwd,
                   strerror(errno));
    (void) umask(022);

    if (!s->argv || !s->argv[0])
        child_fail(errfd, ST_BOXLITE_FAILED, "no command");
    const char *path = env_get(envp, "PATH");
    char file[4096];
    lookup(s->argv[0], path ? path : DEFAULT_PATH, file, sizeof(file), errfd);

    /* The filter is the very last thing before execve. */
    proc_apply_nnp_seccomp(s, errfd);
    execve(file, s->argv, envp);
    exec_fail(errfd, s->argv[0], errno);
}

/* ---- the built-in init ------------------------------------------------------------------- */

static void noop_handler(int sig)
{
    (void) sig;
}

/* Block sigs and give each a handler: PID 1 of a pid namespace only receives signals it
 * handles; sigwaitinfo() then takes them synchronously. */
static void init_signals(const int *sigs, size_t n, sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGCHLD);
    for (size_t i = 0; i < n; i++)
        sigaddset(set, sigs[i]);
    (void) sigprocmask(SIG_BLOCK, set, NULL);
    struct sigaction sa = {.sa_handler = noop_handler};
    for (size_t i = 0; i < n; i++)
        (void) sigaction(sigs[i], &sa, NULL);
}

/* Show up as "init" in ps and /proc/1/cmdline instead of the shim's host paths. */
static void init_rename(void)
{
    if (shim_argv_area && shim_argv_len >= 5) {
        memset(shim_argv_area, 0, shim_argv_len);
        memcpy(shim_argv_area, "init", 5);
    }
    (void) prctl(PR_SET_NAME, "init", 0, 0, 0);
}

static void init_restrict_self(const struct proc_spec *s, int errfd)
{
    init_rename();
    struct box_user u;
    char msg[384];
    if (user_resolve(s->user, &u, msg, sizeof(msg)) < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "%s", msg);
    /* The init never execs: it stays non-dumpable (shim_clone), so the box's root can neither
     * ptrace it nor open /proc/1/exe, the host's boxlite-shim (CVE-2019-5736). */
    proc_close_fds(errfd);
    proc_oom_restore();
    proc_apply_user_caps(s, &u, errfd);
    proc_apply_nnp_seccomp(s, errfd);
}

void init_idle(const struct proc_spec *s, int errfd)
{
    static const int sigs[] = {SIGTERM, SIGINT};
    sigset_t set;
    init_signals(sigs, ELEMENTSOF(sigs), &set);
    if (chdir("/") < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "chdir /: %s", strerror(errno));
    init_restrict_self(s, errfd);
    /* Drop every fd of the shim, the error pipe too: its EOF tells the shim we are up. */
    (void) close_range(3, ~0U, 0);
    for (;;) {
        int sig = sigwaitinfo(&set, NULL);
        if (sig == SIGTERM || sig == SIGINT)
            _exit(0);
        if (sig == SIGCHLD)
            while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
    }
}

void init_command(const struct proc_spec *s, int errfd)
{
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
    sigset_t set;
    init_signals(sigs, ELEMENTSOF(sigs), &set);
    pid_t child = fork();
    if (child < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "fork: %s", strerror(errno));
    if (child == 0) {
        child_reset_signals();
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
            (void) sigaction(sigs[i], &dfl, NULL);
        if (s->tty) {
            /* The command, not the init, is the terminal's foreground: ^C reaches it once. */
            struct sigaction ign = {.sa_handler = SIG_IGN};
            (void) sigaction(SIGTTOU, &ign, NULL);
            if (setpgid(0, 0) < 0 || tcsetpgrp(STDIN_FILENO, getpid()) < 0)
                child_fail(errfd, ST_BOXLITE_FAILED, "cannot take the terminal: %s",
                           strerror(errno));
            (void) sigaction(SIGTTOU, &dfl, NULL);
        }
        proc_exec(s, errfd);
    }
    if (chdir("/") < 0) {
        (void) kill(child, SIGKILL);
        child_fail(errfd, ST_BOXLITE_FAILED, "chdir /: %s", strerror(errno));
    }
    /* The init keeps the command's restrictions too (like docker-init). On failure the child
     * dies with us: PID 1 exiting kills the namespace. */
    init_restrict_self(s, errfd);
    (void) close_range(3, ~0U, 0);
    for (;;) {
        int sig = sigwaitinfo(&set, NULL);
        if (sig < 0)
            continue;
        if (sig != SIGCHLD) {
            (void) kill(child, sig);
            continue;
        }
        int st;
        pid_t p;
        while ((p = waitpid(-1, &st, WNOHANG)) > 0)
            if (p == child)
                _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    }
}

/* ---- exec children ----------------------------------------------------------------------- */

/* The end of an exec child (forked by the zygote): stdio, terminal, then proc_exec(). Never
 * returns. */
void exec_child_run(const int *fds, const struct proc_spec *spec, int errfd)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "PR_SET_PDEATHSIG: %s", strerror(errno));
    child_reset_signals();
    for (int i = 0; i < 3; i++)
        if (dup3(fds[i], i, 0) < 0)
            child_fail(errfd, ST_BOXLITE_FAILED, "cannot set up stdio: %s", strerror(errno));
    if (spec->tty) {
        int r = pty_make_controlling();
        if (r < 0)
            child_fail(errfd, ST_BOXLITE_FAILED, "cannot make the pty the terminal: %s",
                       strerror(-r));
    } else if (setsid() < 0) {
        /* a session of its own, without a controlling terminal: the client's terminal, if it
         * is one of the stdio fds, is never the box's /dev/tty nor a target of TIOCSTI */
        child_fail(errfd, ST_BOXLITE_FAILED, "setsid: %s", strerror(errno));
    }
    proc_exec(spec, errfd);
}

/* ---- ptys ------------------------------------------------------------------------------- */

int pty_open_in_root(int rootfd, unsigned short rows, unsigned short cols, int *ret_slave)
{
    /* O_NONBLOCK: a FIFO planted at dev/pts/ptmx must not hang us; checked below anyway */
    _cleanup_close_ int master =
        bl_open_in_root(rootfd, "dev/pts/ptmx", O_RDWR | O_NOCTTY | O_NONBLOCK, BL_RESOLVE_AUTO);
    if (master < 0)
        return master;
    struct statfs sf;
    struct stat st;
    if (fstatfs(master, &sf) < 0 || fstat(master, &st) < 0)
        return -errno;
    if (sf.f_type != DEVPTS_SUPER_MAGIC || !S_ISCHR(st.st_mode))
        return -ENOTTY;
    int unlock = 0;
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0 || fcntl(master, F_SETFL, O_RDWR) < 0)
        return -errno;
    if (rows && cols) {
        struct winsize ws = {.ws_row = rows, .ws_col = cols};
        if (ioctl(master, TIOCSWINSZ, &ws) < 0)
            return -errno;
    }
    int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0)
        return -errno;
    *ret_slave = slave;
    return TAKE_FD(master);
}

int pty_make_controlling(void)
{
    if (setsid() < 0 || ioctl(STDIN_FILENO, TIOCSCTTY, 0) < 0)
        return -errno;
    return 0;
}
