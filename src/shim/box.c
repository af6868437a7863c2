/* SPDX-License-Identifier: MIT */
/*
 * PID 1 of a box: the child of clone3 in fresh pid, mount, uts, ipc, net (and, after joining
 * the cgroups, cgroup) namespaces. It builds the root filesystem, pivots into it, masks /proc
 * and becomes the command (or the built-in init). It never returns.
 *
 * Paths inside the rootfs come from an image and are not trusted: every mount target in it is
 * resolved with bl_open_in_root() (openat2(RESOLVE_IN_ROOT), or its userspace walk) relative to
 * the rootfs and mounted through /proc/self/fd/N, so a symlink in the image can never redirect
 * a mount to the host.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "box.h"
#include "fs-util.h"
#include "process.h"
#include "proto.h"
#include "userns.h"

/* ---- safe paths inside the rootfs --------------------------------------------------------- */

/* The shared helpers (fs-util.c): openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), or the
 * userspace walk with the same confinement where openat2() is missing. */
static int open_in_root(int rootfd, const char *path, int flags)
{
    return bl_open_in_root(rootfd, path, flags, BL_RESOLVE_AUTO);
}

/* mkdir -p inside the rootfs; returns an O_PATH fd of the directory or -errno. */
static int mkdir_in_root(int rootfd, const char *path)
{
    return bl_mkdir_in_root(rootfd, path, 0755, BL_RESOLVE_AUTO);
}

/* Split "a/b/c" into parent "a/b" (in buf) and last "c"; parent "" for "c". */
static int split_last(const char *path, char *buf, size_t bufsz, const char **last)
{
    if (snprintf(buf, bufsz, "%s", path) >= (int) bufsz)
        return -ENAMETOOLONG;
    size_t n = strlen(buf);
    while (n > 1 && buf[n - 1] == '/')
        buf[--n] = 0;
    char *slash = strrchr(buf, '/');
    if (slash) {
        *slash = 0;
        *last = slash + 1;
    } else {
        if (n + 2 > bufsz)
            return -ENAMETOOLONG;
        memmove(buf + 1, buf, n + 1); /* parent "" at buf, the name after it */
        buf[0] = 0;
        *last = buf + 1;
    }
    if (!**last || !strcmp(*last, ".") || !strcmp(*last, ".."))
        return -EINVAL;
    return 0;
}

/* The directory that will hold `path`'s last component (*ret_last, pointing into `buf`),
 * created as needed inside the rootfs: rootfd itself, or an fd stored in *ret_owned. */
static int parent_in_root(int rootfd, const char *path, char *buf, size_t bufsz,
                          const char **ret_last, int *ret_owned)
{
    char *parent = buf;
    int r = split_last(path, buf, bufsz, ret_last);
    if (r < 0)
        return r;
    if (!*parent)
        return rootfd;
    *ret_owned = mkdir_in_root(rootfd, parent);
    return *ret_owned;
}

/* A file to bind-mount over inside the rootfs: the existing one (symlinks resolved inside the
 * root), or a new empty file (replacing a dangling symlink). O_PATH fd or -errno. */
static int mkfile_in_root(int rootfd, const char *path)
{
    _cleanup_close_ int fd = open_in_root(rootfd, path, O_PATH);
    if (fd >= 0) {
        struct stat st;
        if (fstat(fd, &st) < 0 || S_ISDIR(st.st_mode))
            return -EISDIR;
        return TAKE_FD(fd);
    }
    if (fd != -ENOENT)
        return fd;
    char buf[PATH_MAX];
    const char *last;
    _cleanup_close_ int pfd_owned = -1;
    int pfd = parent_in_root(rootfd, path, buf, sizeof(buf), &last, &pfd_owned);
    if (pfd < 0)
        return pfd;
    struct stat st;
    if (fstatat(pfd, last, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
        (void) unlinkat(pfd, last, 0);
    int cfd = openat(pfd, last, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (cfd < 0 && errno != EEXIST)
        return -errno;
    cfd = bl_close(cfd);
    fd = openat(pfd, last, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    return fd < 0 ? -errno : TAKE_FD(fd);
}

/* ---- the mounts ------------------------------------------------------------------------ */

/* First message of the fs context log ("e overlayfs: ...") without its prefix. */
static void fs_context_msg(int fsfd, char *out, size_t outsz)
{
    char buf[256];
    ssize_t n = read(fsfd, buf, sizeof(buf) - 1);
    if (n <= 2) {
        (void) snprintf(out, outsz, "%s", strerror(errno));
        return;
    }
    buf[n] = 0;
    (void) snprintf(out, outsz, "%s", buf + 2);
}

static void mount_overlay_legacy(const struct shim_conf *c, int errfd)
{
    /* lowerdir=top:...:bottom; ':' ',' and '\' in paths are escaped with '\'. */
    size_t cap = 64 + strlen(c->upper) * 2 + strlen(c->work) * 2;
    for (size_t i = 0; i < c->n_layers; i++)
        cap += strlen(c->layers[i]) * 2 + 1;
    _cleanup_free_ char *data = malloc(cap);
    if (!data)
        child_fail(errfd, ST_BOXLITE_FAILED, "out of memory");
    char *p = data;
#define PUT_ESCAPED(s)                                                                             \
    for (const char *q = (s); *q; q++) {                                                           \
        if (*q == ':' || *q == ',' || *q == '\\')                                                  \
            *p++ = '\\';                                                                           \
        *p++ = *q;                                                                                 \
    }
    p += snprintf(p, 16, "lowerdir=");
    for (size_t i = c->n_layers; i-- > 0;) {
        PUT_ESCAPED(c->layers[i]);
        if (i > 0)
            *p++ = ':';
    }
    p += snprintf(p, 16, ",upperdir=");
    PUT_ESCAPED(c->upper);
    p += snprintf(p, 16, ",workdir=");
    PUT_ESCAPED(c->work);
    if (!bl_initial_userns_root())
        p += snprintf(p, 16, ",userxattr");
    *p = 0;
#undef PUT_ESCAPED
    if (mount("overlay", c->merged, "overlay", MS_NODEV, data) < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot mount the rootfs overlay on '%s': %s",
                   c->merged, strerror(errno));
}

/* The new mount API: one "lowerdir+" per layer, so no page-size limit on the layer count. */
static void mount_overlay(const struct shim_conf *c, int errfd)
{
    _cleanup_close_ int fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
    if (fsfd < 0) {
        mount_overlay_legacy(c, errfd);
        return;
    }
    char why[256];
    for (size_t i = c->n_layers; i-- > 0;) {
        if (fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir+", c->layers[i], 0) == 0)
            continue;
        if (errno == EINVAL && i == c->n_layers - 1) { /* kernel < 6.8 */
            mount_overlay_legacy(c, errfd);
            return;
        }
        fs_context_msg(fsfd, why, sizeof(why));
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot use layer '%s': %s", c->layers[i], why);
    }
    /* Without root, layers mark opaque directories with user.overlay.* (layer-unpack.c). */
    if (!bl_initial_userns_root() && fsconfig(fsfd, FSCONFIG_SET_FLAG, "userxattr", NULL, 0) < 0) {
        fs_context_msg(fsfd, why, sizeof(why));
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot create the rootfs overlay: %s", why);
    }
    if (fsconfig(fsfd, FSCONFIG_SET_STRING, "upperdir", c->upper, 0) < 0 ||
        fsconfig(fsfd, FSCONFIG_SET_STRING, "workdir", c->work, 0) < 0 ||
        fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
        fs_context_msg(fsfd, why, sizeof(why));
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot create the rootfs overlay: %s", why);
    }
    /* nodev: a device node in a layer, or one the box makes, does not open (devices.c) */
    _cleanup_close_ int mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV);
    if (mfd < 0 || move_mount(mfd, "", AT_FDCWD, c->merged, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot mount the rootfs overlay on '%s': %s",
                   c->merged, strerror(errno));
}

static int mount_at(const char *src, int target_fd, const char *type, unsigned long flags,
                    const char *data)
{
    struct fd_path tp;
    return mount(src, fd_path(&tp, target_fd), type, flags, data) < 0 ? -errno : 0;
}

static int mkdir_target(int rootfd, const char *path, int errfd)
{
    int fd = mkdir_in_root(rootfd, path);
    if (fd < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot create mount point /%s in the rootfs: %s",
                   path, strerror(-fd));
    return fd;
}

static void mount_proc_sys(int rootfd, int errfd)
{
    _cleanup_close_ int proc = mkdir_target(rootfd, "proc", errfd);
    int r = mount_at("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    if (r < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot mount /proc: %s", strerror(-r));

    _cleanup_close_ int sys = mkdir_target(rootfd, "sys", errfd);
    r = mount_at("sysfs", sys, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    if (r < 0) {
        /* No fresh sysfs (e.g. a netns owned by another user ns): the host's, read-only. */
        r = mount_at("/sys", sys, NULL, MS_BIND | MS_REC, NULL);
        _cleanup_close_ int sys2 = r < 0 ? -1 : open_in_root(rootfd, "sys", O_PATH | O_DIRECTORY);
        struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
        if (r == 0 && (sys2 < 0 || mount_setattr(sys2, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr,
                                                 sizeof(attr)) < 0))
            r = -errno;
        if (r < 0)
            child_fail(errfd, ST_BOXLITE_FAILED, "cannot mount /sys: %s", strerror(-r));
    }
}

/* The host's node bound onto an empty file: /dev itself is nodev (a node the box makes there
 * does not open), each bind mount of a node is not. */
static void bind_dev_node(int devfd, const char *name, int errfd)
{
    int fd = openat(devfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd >= 0)
        fd = bl_close(fd);
    _cleanup_close_ int target = openat(devfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    char src[64];
    (void) snprintf(src, sizeof(src), "/dev/%s", name);
    int r = target < 0 ? -errno : mount_at(src, target, NULL, MS_BIND, NULL);
    if (r < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot bind /dev/%s: %s", name, strerror(-r));
}

static void mount_dev(int rootfd, int errfd)
{
    _cleanup_close_ int dev = mkdir_target(rootfd, "dev", errfd);
    int r = mount_at("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NODEV | MS_STRICTATIME,
                     "mode=755,size=65536k");
    if (r < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot mount /dev: %s", strerror(-r));
    /* Re-open through the mount: the old fd is the directory underneath. The tmpfs is ours,
     * so plain *at() calls below are safe. */
    _cleanup_close_ int devfd = open_in_root(rootfd, "dev", O_PATH | O_DIRECTORY);
    if (devfd < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot open /dev: %s", strerror(-devfd));

    /* (the device allow-list of devices.c lets exactly these, ptmx and the ptys through) */
    static const char *const nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
    for (size_t i = 0; i < ELEMENTSOF(nodes); i++)
        bind_dev_node(devfd, nodes[i], errfd);

    static const struct {
        const char *name, *target;
    } links[] = {{"fd", "/proc/self/fd"},       {"stdin", "/proc/self/fd/0"},
                 {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"},
                 {"ptmx", "pts/ptmx"},          {"core", "/proc/kcore"}};
    for (size_t i = 0; i < ELEMENTSOF(links); i++)
        if (symlinkat(links[i].target, devfd, links[i].name) < 0)
            child_fail(errfd, ST_BOXLITE_FAILED, "cannot create /dev/%s: %s", links[i].name,
                       strerror(errno));

    if (mkdirat(devfd, "pts", 0755) < 0 || mkdirat(devfd, "shm", 01777) < 0 ||
        mkdirat(devfd, "mqueue", 0755) < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot populate /dev: %s", strerror(errno));
    _cleanup_close_ int pts = openat(devfd, "pts", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    r = pts < 0 ? -errno
                : mount_at("devpts", pts, "devpts", MS_NOSUID | MS_NOEXEC,
                           "newinstance,ptmxmode=0666,mode=0620,gid=5");
    if (r == -EINVAL) /* gid 5 not mapped (user namespace) */
        r = mount_at("devpts", pts, "devpts", MS_NOSUID | MS_NOEXEC,
                     "newinstance,ptmxmode=0666,mode=0620");
    if (r < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot mount /dev/pts: %s", strerror(-r));
    _cleanup_close_ int shm = openat(devfd, "shm", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    r = shm < 0 ? -errno
                : mount_at("shm", shm, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                           "mode=1777,size=65536k");
    if (r < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot mount /dev/shm: %s", strerror(-r));
    _cleanup_close_ int mq = openat(devfd, "mqueue", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (mq >= 0) /* optional */
        (void) mount_at("mqueue", mq, "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

static void bind_etc_file(int rootfd, const char *box_dir, const char *name, int errfd)
{
    char src[PATH_MAX], path[32];
    if (snprintf(src, sizeof(src), "%s/%s", box_dir, name) >= (int) sizeof(src))
        child_fail(errfd, ST_BOXLITE_FAILED, "box directory path too long");
    (void) snprintf(path, sizeof(path), "etc/%s", name);
    _cleanup_close_ int target = mkfile_in_root(rootfd, path);
    int r = target < 0 ? target : mount_at(src, target, NULL, MS_BIND, NULL);
    if (r < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot mount /%s: %s", path, strerror(-r));
}

/* ---- volumes ------------------------------------------------------------------------------ */

/* Bind the host path onto target_fd (recursively), nodev, read-only if asked: the tree is
 * cloned and restricted while detached, then attached, so it is never less in the box. */
static int bind_volume(int src, int target_fd, bool ro)
{
    _cleanup_close_ int tree =
        open_tree(src, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
    if (tree < 0) {
        if (errno != ENOSYS)
            return -errno;
        /* kernel < 5.2: bind, then make the new mount read-only */
        struct fd_path sp, tp;
        if (mount(fd_path(&sp, src), fd_path(&tp, target_fd), NULL, MS_BIND | MS_REC, NULL) < 0)
            return -errno;
        if (mount(NULL, fd_path(&tp, target_fd), NULL,
                  MS_BIND | MS_REMOUNT | MS_NODEV | (ro ? MS_RDONLY : 0), NULL) < 0)
            return -errno;
        return 0;
    }
    /* nodev: a host directory's device nodes do not open in the box (devices.c) */
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_NODEV | (ro ? MOUNT_ATTR_RDONLY : 0)};
    if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
        return -errno;
    if (move_mount(tree, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return -errno;
    return 0;
}

/* The volumes of the box, on their targets inside rootfd (resolved in the root; created as a
 * directory or an empty file to match the host path). A missing host path is a setup error. */
static void mount_volumes(int rootfd, const struct shim_conf *c, int errfd)
{
    for (size_t i = 0; i < c->n_volumes; i++) {
        const struct conf_volume *v = &c->volumes[i];
        _cleanup_close_ int src = open(v->source, O_PATH | O_CLOEXEC);
        struct stat st;
        if (src < 0 || fstat(src, &st) < 0)
            child_fail(errfd, ST_BOXLITE_FAILED, "volume host path \"%s\": %s", v->source,
                       strerror(errno));
        const char *rel = v->target + strspn(v->target, "/");
        if (!*rel)
            child_fail(errfd, ST_BOXLITE_FAILED, "cannot mount volume '%s' on /", v->source);
        _cleanup_close_ int target =
            S_ISDIR(st.st_mode) ? mkdir_in_root(rootfd, rel) : mkfile_in_root(rootfd, rel);
        int r = target < 0 ? target : bind_volume(src, target, v->ro);
        if (r < 0)
            child_fail(errfd, ST_BOXLITE_FAILED, "cannot mount volume '%s' on '%s': %s", v->source,
                       v->target, strerror(-r));
    }
}

/* ---- ptys ---------------------------------------------------------------------------------- */

/* PID 1 of a tty box: a pty of the box's own devpts on 0/1/2, its master to the shim. */
static void setup_tty(int rootfd, const struct box_start *b, int errfd)
{
    int slave = -1;
    _cleanup_close_ int master =
        pty_open_in_root(rootfd, b->conf->tty_rows, b->conf->tty_cols, &slave);
    if (master < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot open a pty in the box: %s", strerror(-master));
    _cleanup_close_ int slave_fd = slave;
    if (proto_send_fd(b->tty_sock, master, 1, "pty") < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot pass the pty to the shim: %s",
                   strerror(errno));
    for (int i = 0; i < 3; i++)
        if (dup3(slave_fd, i, 0) < 0)
            child_fail(errfd, ST_BOXLITE_FAILED, "cannot set up the pty: %s", strerror(errno));
    int r = pty_make_controlling();
    if (r < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot make the pty the box's terminal: %s",
                   strerror(-r));
}

static void loopback_up(int errfd)
{
    _cleanup_close_ int sk = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, "lo", 3);
    if (sk < 0 || ioctl(sk, SIOCGIFFLAGS, &ifr) < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot query lo: %s", strerror(errno));
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(sk, SIOCSIFFLAGS, &ifr) < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot bring lo up: %s", strerror(errno));
}

static void pivot(int rootfd, int errfd)
{
    if (fchdir(rootfd) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "pivot_root: %s", strerror(errno));
    /* The old root is now stacked on top of the new one at "."; detach it. */
    if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot detach the old root: %s", strerror(errno));
}

/* docker's masked and read-only paths (absent ones are skipped). */
static void mask_paths(int errfd)
{
    static const char *const nulled[] = {"/proc/kcore",         "/proc/keys",
                                         "/proc/timer_list",    "/proc/sched_debug",
                                         "/proc/latency_stats", "/proc/timer_stats"};
    static const char *const emptied[] = {"/proc/acpi", "/proc/scsi", "/proc/asound",
                                          "/sys/firmware", "/sys/devices/virtual/powercap"};
    static const char *const readonly[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                           "/proc/sysrq-trigger"};
    for (size_t i = 0; i < ELEMENTSOF(nulled); i++)
        if (mount("/dev/null", nulled[i], NULL, MS_BIND, NULL) < 0 && errno != ENOENT)
            child_fail(errfd, ST_BOXLITE_FAILED, "cannot mask %s: %s", nulled[i], strerror(errno));
    for (size_t i = 0; i < ELEMENTSOF(emptied); i++)
        if (mount("tmpfs", emptied[i], "tmpfs", MS_RDONLY, "size=0") < 0 && errno != ENOENT)
            child_fail(errfd, ST_BOXLITE_FAILED, "cannot mask %s: %s", emptied[i], strerror(errno));
    for (size_t i = 0; i < ELEMENTSOF(readonly); i++) {
        if (mount(readonly[i], readonly[i], NULL, MS_BIND | MS_REC, NULL) < 0) {
            if (errno == ENOENT)
                continue;
            child_fail(errfd, ST_BOXLITE_FAILED, "cannot bind %s: %s", readonly[i],
                       strerror(errno));
        }
        if (mount(NULL, readonly[i], NULL,
                  MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
            child_fail(errfd, ST_BOXLITE_FAILED, "cannot make %s read-only: %s", readonly[i],
                       strerror(errno));
    }
}

/* Without root, an init's root and namespaces for the shim (see box_pid1_main): `ns` with the
 * root directory and the user, mnt, pid, net, uts, ipc and cgroup namespaces attached, in that
 * order (the order of setns: the user namespace first). */
static void hand_over_namespaces(int sock, int errfd)
{
    static const char *const names[SHIM_BOX_NS] = {"user", "mnt", "pid",   "net",
                                                   "uts",  "ipc", "cgroup"};
    _Static_assert(1 + SHIM_BOX_NS <= BL_WIRE_MAX_FDS, "the namespaces do not fit one message");
    int fds[1 + SHIM_BOX_NS];
    fds[0] = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fds[0] < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot open the box's root: %s", strerror(errno));
    for (size_t i = 0; i < SHIM_BOX_NS; i++) {
        char path[32];
        (void) snprintf(path, sizeof(path), "/proc/self/ns/%s", names[i]);
        fds[1 + i] = open(path, O_RDONLY | O_CLOEXEC);
        if (fds[1 + i] < 0)
            child_fail(errfd, ST_BOXLITE_FAILED, "cannot open %s: %s", path, strerror(errno));
    }
    int r = sock < 0 ? -EBADF : proto_send_fds(sock, fds, 1 + SHIM_BOX_NS, 1, "ns");
    if (r < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot pass the box's namespaces to the shim: %s",
                   strerror(-r));
    /* (ours are closed with the rest before the init takes the box's credentials) */
}

/* One byte from the shim on fd; EOF (it failed, or died) ends us: the shim reports why. */
static void wait_for_shim(int fd)
{
    char c;
    ssize_t n;
    do
        n = read(fd, &c, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1)
        _exit(ST_BOXLITE_FAILED);
}

void box_pid1_main(const struct box_start *b)
{
    const struct shim_conf *c = b->conf;
    int errfd = b->errfd;

    /* A killed shim takes the box with it (if it died before this, the go pipe says so). */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "PR_SET_PDEATHSIG: %s", strerror(errno));
    if (b->map_fd >= 0) /* a user namespace: nothing works until the shim has mapped our ids */
        wait_for_shim(b->map_fd);
    child_reset_signals();
    (void) umask(0);
    /* Without a pty of its own, a session of its own: never the client's controlling terminal
     * (its /dev/tty, TIOCSTI into the user's shell). setup_tty() makes one for a tty box. */
    if (!b->tty && setsid() < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "setsid: %s", strerror(errno));

    if (b->stdin_fd >= 0 && (dup3(b->stdin_fd, 0, 0) < 0 || dup3(b->stdout_fd, 1, 0) < 0 ||
                             dup3(b->stderr_fd, 2, 0) < 0))
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot set up stdio: %s", strerror(errno));

    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot make / private: %s", strerror(errno));
    mount_overlay(c, errfd);
    _cleanup_close_ int rootfd = open(c->merged, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot open the rootfs: %s", strerror(errno));
    mount_proc_sys(rootfd, errfd);
    mount_dev(rootfd, errfd);
    if (b->tty)
        setup_tty(rootfd, b, errfd);
    bind_etc_file(rootfd, b->box_dir, "hosts", errfd);
    bind_etc_file(rootfd, b->box_dir, "hostname", errfd);
    bind_etc_file(rootfd, b->box_dir, "resolv.conf", errfd);
    mount_volumes(rootfd, c, errfd);
    if (*c->hostname && sethostname(c->hostname, strlen(c->hostname)) < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot set hostname: %s", strerror(errno));
    loopback_up(errfd);
    pivot(rootfd, errfd);
    rootfd = bl_close(rootfd);
    mask_paths(errfd);

    /* Wait until the shim has put us into every cgroup, then root a new cgroup namespace
     * there. Nothing of the box's own has run yet. */
    wait_for_shim(b->go_fd);
    if (unshare(CLONE_NEWCGROUP) < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot create cgroup namespace: %s", strerror(errno));

    struct proc_spec s = {
        .argv = c->argv,
        .envp = c->env,
        .cwd = c->cwd,
        .user = c->user,
        .caps = c->caps,
        .seccomp = b->seccomp,
        .tty = b->tty,
    };
    if (c->argc == 0 || c->init) {
        /* The built-in init never execs: it stays non-dumpable for its whole life, so that the
         * box can neither trace it nor open /proc/1/exe, the host's boxlite-shim
         * (CVE-2019-5736). Without root that also shuts the shim out of its /proc entries: it
         * gets what it needs (our root and namespaces) from us first. */
        if (b->map_fd >= 0)
            hand_over_namespaces(b->tty_sock, errfd);
        (void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        if (c->argc == 0)
            init_idle(&s, errfd);
        init_command(&s, errfd);
    }
    proc_exec(&s, errfd);
}

/* ---- boxlite-shim --mount ------------------------------------------------------------------ */

#define MOUNT_SOCK 3

/* The child: a private mount namespace with the rootfs and the volumes; its root goes to the
 * client, then it waits for the client to hang up (the mounts vanish with it). */
static _noreturn_ void mount_child(const struct shim_conf *c, int errfd, int map_fd)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "PR_SET_PDEATHSIG: %s", strerror(errno));
    /* without root: a user namespace of our own (the box's ids), mapped by the parent */
    if (map_fd >= 0) {
        char one;
        ssize_t k;
        do
            k = read(map_fd, &one, 1);
        while (k < 0 && errno == EINTR);
        if (k != 1)
            _exit(ST_BOXLITE_FAILED); /* the parent reports why */
    }
    (void) umask(0);
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot make / private: %s", strerror(errno));
    mount_overlay(c, errfd);
    _cleanup_close_ int rootfd = open(c->merged, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot open the rootfs: %s", strerror(errno));
    mount_volumes(rootfd, c, errfd);
    /* without root, also our user namespace (the box's ids): the copy acts as root in it */
    _cleanup_close_ int userns =
        map_fd >= 0 ? open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC) : -1;
    int fds[2] = {rootfd, userns};
    if (proto_send_fds(MOUNT_SOCK, fds, userns >= 0 ? 2 : 1, 1, "root") < 0)
        child_fail(errfd, ST_BOXLITE_FAILED, "cannot send the root: %s", strerror(errno));
    (void) close(errfd); /* success */
    char buf[64];
    for (;;) {
        ssize_t n = read(MOUNT_SOCK, buf, sizeof(buf));
        if (n == 0 || (n < 0 && errno != EINTR))
            _exit(0);
    }
}

/* The mount child's exit status once it is done (1 if it reported an error to the client), or
 * -errno with *err set when there is no child to speak for itself. */
static int mount_box(const char *box_dir, bl_error **err)
{
    _cleanup_close_ int boxfd = open(box_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (boxfd < 0)
        return bl_err_errno(err, "cannot open box directory '%s'", box_dir);
    _cleanup_(conf_done) struct shim_conf c = {0};
    int r = conf_load(boxfd, "shim.conf", &c, err);
    if (r < 0)
        return r;
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return bl_err(err, -errno, "%s", strerror(errno));
    _cleanup_close_ int err_r = p[0], err_w = p[1];
    bool userns = geteuid() != 0;
    _cleanup_close_ int map_r = -1, map_w = -1;
    if (userns) {
        if (pipe2(p, O_CLOEXEC) < 0)
            return bl_err(err, -errno, "%s", strerror(errno));
        map_r = p[0];
        map_w = p[1];
    }
    int pidfd = -1;
    bool in_cgroup = false;
    pid_t pid = shim_clone(CLONE_NEWNS | (userns ? CLONE_NEWUSER : 0), -1, &pidfd, &in_cgroup);
    if (pid < 0)
        return bl_err_code(err, pid, "cannot create a mount namespace");
    if (pid == 0) {
        map_w = bl_close(map_w);
        mount_child(&c, err_w, map_r);
    }
    pidfd = bl_close(pidfd); /* waited for by pid below */
    err_w = bl_close(err_w);
    if (userns) {
        r = map_userns(pid, &c.idmap, err);
        if (r < 0) {
            map_w = bl_close(map_w); /* the child exits */
            (void) waitpid(pid, NULL, 0);
            return bl_err_prefix(err, r, "cannot map the user namespace");
        }
        if (write(map_w, "1", 1) != 1)
            shim_log("cannot release the mount child: %s", strerror(errno));
    }
    struct child_error e;
    size_t got = 0;
    while (got < sizeof(e)) {
        ssize_t n = read(err_r, (char *) &e + got, sizeof(e) - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t) n;
    }
    if (got == sizeof(e)) { /* the child's own report (process.h), with its status */
        e.msg[sizeof(e.msg) - 1] = 0;
        (void) proto_send_error(MOUNT_SOCK, e.status, e.msg);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return got == sizeof(e) || !WIFEXITED(st) || WEXITSTATUS(st) ? 1 : 0;
}

int box_mount_main(const char *box_dir)
{
    _cleanup_(bl_error_freep) bl_error *err = NULL;
    int r = mount_box(box_dir, &err);
    if (r < 0) {
        (void) proto_send_error(MOUNT_SOCK, ST_BOXLITE_FAILED, bl_error_msg(err));
        return 1;
    }
    return r;
}
