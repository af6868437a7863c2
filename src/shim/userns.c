/* SPDX-License-Identifier: MIT */
/*
 * The ids of boxes started without root (src/lib/idmap.h): one id, written by ourselves, or a
 * subordinate range, written by Debian's setuid newuidmap/newgidmap (a process may only map
 * its own id). And `--userns`, the same map for the library's work on files of those ids.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc-util.h"
#include "fs-util.h"
#include "process.h"
#include "userns.h"

/* One id: ours, written by ourselves (a process may map only its own id). */
int write_id_maps(pid_t pid, uid_t uid, gid_t gid)
{
    char uid_map[32], gid_map[32];
    (void) snprintf(uid_map, sizeof(uid_map), "0 %u 1\n", (unsigned) uid);
    (void) snprintf(gid_map, sizeof(gid_map), "0 %u 1\n", (unsigned) gid);
    const struct {
        const char *file, *text;
    } maps[] = {{"setgroups", "deny"}, {"uid_map", uid_map}, {"gid_map", gid_map}};
    for (size_t i = 0; i < ELEMENTSOF(maps); i++) {
        char path[64];
        if (pid)
            (void) snprintf(path, sizeof(path), "/proc/%d/%s", (int) pid, maps[i].file);
        else
            (void) snprintf(path, sizeof(path), "/proc/self/%s", maps[i].file);
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write_str(fd, maps[i].text) < 0)
            return -errno;
    }
    return 0;
}

/* helper PID 0 ID 1 1 SUB N, its stderr (first line) into *err on failure. */
static int run_map_helper(const char *helper, pid_t pid, uint32_t id, uint32_t sub, uint32_t n,
                          bl_error **err)
{
    char a_pid[16], a_id[16], a_sub[16], a_n[16];
    (void) snprintf(a_pid, sizeof(a_pid), "%d", (int) pid);
    (void) snprintf(a_id, sizeof(a_id), "%u", (unsigned) id);
    (void) snprintf(a_sub, sizeof(a_sub), "%u", (unsigned) sub);
    (void) snprintf(a_n, sizeof(a_n), "%u", (unsigned) n);
    const char *argv[] = {helper, a_pid, "0", a_id, "1", "1", a_sub, a_n, NULL};
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return bl_err_errno(err, "cannot run '%s': pipe", helper);
    _cleanup_close_ int r_end = p[0], w_end = p[1];
    pid_t child = fork();
    if (child < 0)
        return bl_err_errno(err, "cannot run '%s'", helper);
    if (child == 0) {
        child_reset_signals();
        int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (devnull < 0 || dup3(devnull, 0, 0) < 0 || dup3(devnull, 1, 0) < 0 ||
            dup3(w_end, 2, 0) < 0)
            _exit(126);
        execv(helper, (char *const *) argv);
        _exit(127);
    }
    w_end = bl_close(w_end);
    _cleanup_free_ char *msg = NULL; /* its stderr, until it (and any child) is done */
    size_t len = 0;
    if (bl_read_full_fd(r_end, 4096, &msg, &len) < 0)
        msg = NULL;
    int st = 0;
    pid_t w;
    do
        w = waitpid(child, &st, 0);
    while (w < 0 && errno == EINTR);
    if (w == child && WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    if (!msg) /* its stderr could not be read: say what we know */
        msg = bl_strdup("");
    if (!msg)
        return bl_oom(err);
    msg[strcspn(msg, "\n")] = 0;
    return bl_err(err, -EPERM, "%s %s", helper,
                  *msg                                      ? msg
                  : WIFEXITED(st) && WEXITSTATUS(st) == 127 ? "could not be run"
                                                            : "failed");
}

int map_userns(pid_t pid, const struct conf_idmap *m, bl_error **err)
{
    if (!m->range) {
        int r = write_id_maps(pid, geteuid(), getegid());
        if (r < 0)
            return bl_err(err, r, "%s", strerror(-r));
        return r;
    }
    if (!m->newuidmap || !m->newgidmap)
        return bl_err(err, -EINVAL, "newuidmap/newgidmap are not configured");
    int r = run_map_helper(m->newuidmap, pid, m->uid, m->sub_uid, m->n_uid, err);
    if (r >= 0)
        r = run_map_helper(m->newgidmap, pid, m->gid, m->sub_gid, m->n_gid, err);
    return r;
}

/* ---- --userns ----------------------------------------------------------------------------- */

#define USERNS_DIR 3 /* the directory the operation works in */

static int open_parent(const char *path, int *ret_fd, const char **ret_base)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        *ret_fd = -1;
        *ret_base = path;
        return 0;
    }
    _cleanup_free_ char *dir = strndup(path, (size_t) (slash - path));
    if (!dir)
        return -ENOMEM;
    /* beneath the directory with no symlink, magic link or mount on the way (the records name
     * what layer-unpack made: a symlink there is not ours to follow), with the userspace walk
     * where the kernel has no openat2() */
    int fd = bl_open_beneath(USERNS_DIR, dir, O_PATH | O_DIRECTORY, BL_RESOLVE_AUTO);
    if (fd < 0)
        return fd;
    *ret_fd = fd;
    *ret_base = slash + 1;
    return 0;
}

/* Records "UID GID MODE PATH\0" (layer-unpack.c), in order: chown, then the mode again (chown
 * clears setuid and setgid). A path gone since, or an id past the range, stays as it is. */
static int apply_owners(void)
{
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    int r = bl_read_full_fd(0, (size_t) 1 << 30, &buf, &len);
    if (r < 0) {
        fprintf(stderr, "cannot read the owner records: %s\n", strerror(-r));
        return 1;
    }
    for (size_t off = 0; off < len;) {
        char *rec = buf + off;
        size_t rlen = strnlen(rec, len - off);
        off += rlen + 1;
        unsigned uid, gid, mode;
        int n = 0;
        if (sscanf(rec, "%u %u %o %n", &uid, &gid, &mode, &n) != 3 || n == 0) {
            fprintf(stderr, "malformed owner record\n");
            return 1;
        }
        const char *path = rec + n, *base = path;
        _cleanup_close_ int pfd = -1; /* closed at the end of each record */
        r = open_parent(path, &pfd, &base);
        if (r == -ENOENT)
            continue;
        if (r < 0) {
            fprintf(stderr, "cannot open the directory of '%s': %s\n", path, strerror(-r));
            return 1;
        }
        int dfd = pfd >= 0 ? pfd : USERNS_DIR;
        int flags = AT_SYMLINK_NOFOLLOW | (*base ? 0 : AT_EMPTY_PATH);
        if (fchownat(dfd, base, uid, gid, flags) < 0) {
            if (errno == ENOENT || errno == EINVAL) /* EINVAL: not in the range */
                continue;
            fprintf(stderr, "cannot change the owner of '%s': %s\n", path, strerror(errno));
            return 1;
        }
        struct stat st;
        if (fstatat(dfd, base, &st, flags) < 0 || S_ISLNK(st.st_mode))
            continue;
        if ((st.st_mode & 07777) != (mode & 07777)) {
            _cleanup_close_ int fd =
                openat(dfd, *base ? base : ".", O_PATH | O_NOFOLLOW | O_CLOEXEC);
            struct fd_path fp;
            if (fd < 0 || chmod(fd_path(&fp, fd), mode & 07777) < 0) {
                fprintf(stderr, "cannot change the mode of '%s': %s\n", path, strerror(errno));
                return 1;
            }
        }
    }
    return 0;
}

int userns_main(int argc, char **argv)
{
    /* argv: shim --userns OP SPEC NEWUIDMAP NEWGIDMAP [NAME] */
    struct conf_idmap m = {0};
    if (argc < 6 || idmap_parse(argv[3], &m) < 0) {
        fprintf(stderr, "usage: boxlite-shim --userns rm|chown UID:SUB:N:GID:SUB:N NEWUIDMAP "
                        "NEWGIDMAP [NAME]\n");
        return 2;
    }
    const char *op = argv[2];
    bool rm = !strcmp(op, "rm");
    if ((!rm && strcmp(op, "chown")) || (rm && argc != 7) || (!rm && argc != 6)) {
        fprintf(stderr, "boxlite-shim --userns: bad operation\n");
        return 2;
    }
    m.newuidmap = argv[4];
    m.newgidmap = argv[5];
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        fprintf(stderr, "pipe: %s\n", strerror(errno));
        return 1;
    }
    _cleanup_close_ int go_r = p[0], go_w = p[1];
    int pidfd = -1;
    bool in_cgroup = false;
    pid_t pid = shim_clone(CLONE_NEWUSER, -1, &pidfd, &in_cgroup);
    if (pid < 0) {
        fprintf(stderr, "cannot create a user namespace: %s\n", strerror(-pid));
        return 1;
    }
    if (pid == 0) {
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        go_w = bl_close(go_w);
        char c;
        ssize_t k;
        do
            k = read(go_r, &c, 1);
        while (k < 0 && errno == EINTR);
        if (k != 1)
            _exit(1); /* not mapped: the parent said why */
        if (!rm)
            _exit(apply_owners());
        int r = bl_rm_rf_at(USERNS_DIR, argv[6]);
        if (r < 0)
            fprintf(stderr, "cannot remove '%s': %s\n", argv[6], strerror(-r));
        _exit(r < 0 ? 1 : 0);
    }
    (void) close(pidfd);
    go_r = bl_close(go_r);
    _cleanup_(bl_error_freep) bl_error *err = NULL;
    int r = map_userns(pid, &m, &err);
    if (r < 0)
        fprintf(stderr, "cannot map the user namespace: %s\n", bl_error_msg(err));
    else if (write(go_w, "1", 1) != 1)
        r = -errno;
    go_w = bl_close(go_w);
    int st = 0;
    pid_t w;
    do
        w = waitpid(pid, &st, 0);
    while (w < 0 && errno == EINTR);
    if (r < 0)
        return 1;
    return w == pid && WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
