/* SPDX-License-Identifier: MIT */
/*
 * devices: issue 12, finding 3 (device nodes).
 *   devices mknod DIR...   as the box's root, make host device nodes in each DIR and open them:
 *                          mknod or open must be refused (EPERM/EACCES); nodes are removed
 *   devices open PATH...   a node that is already there (an image layer's) must not open
 *   devices ok             the box's own devices still work: null, zero, full, random, urandom,
 *                          ptmx and its pts
 * HOST_DISK=MAJ:MIN adds the host's root disk (opened read-only, never written).
 */
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>

#include "probe.h"

struct dev {
    const char *name;
    mode_t type;
    unsigned maj, min;
    int flags;
};

static void try_open(const char *path, int flags, const char *what)
{
    int fd = open(path, flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd >= 0) {
        escaped("%s: %s opened (%s)", what, path,
                (flags & O_ACCMODE) == O_RDONLY ? "read" : "read-write");
        close(fd);
    } else if (errno == EPERM || errno == EACCES) {
        held("%s: open %s: %s", what, path, strerror(errno));
    } else {
        note("%s: open %s: %s (no such device here)", what, path, strerror(errno));
    }
}

static int cmd_mknod(int argc, char **argv)
{
    struct dev devs[8] = {
        {"kmsg", S_IFCHR, 1, 11, O_RDONLY},         {"mem", S_IFCHR, 1, 1, O_RDONLY},
        {"kvm", S_IFCHR, 10, 232, O_RDWR},          {"loop0", S_IFBLK, 7, 0, O_RDWR},
        {"loop-control", S_IFCHR, 10, 237, O_RDWR}, {"tty1", S_IFCHR, 4, 1, O_RDWR},
    };
    int n = 6;
    unsigned dmaj, dmin;
    const char *disk = getenv("HOST_DISK");
    if (disk && sscanf(disk, "%u:%u", &dmaj, &dmin) == 2)
        devs[n++] = (struct dev){"host-disk", S_IFBLK, dmaj, dmin, O_RDONLY};
    for (int a = 2; a < argc; a++) {
        for (int i = 0; i < n; i++) {
            char path[512], what[600];
            snprintf(path, sizeof(path), "%s/probe-%s", argv[a], devs[i].name);
            snprintf(what, sizeof(what), "%s %u:%u in %s", devs[i].name, devs[i].maj, devs[i].min,
                     argv[a]);
            unlink(path);
            if (mknod(path, devs[i].type | 0666, makedev(devs[i].maj, devs[i].min)) < 0) {
                if (errno == EPERM || errno == EACCES)
                    held("%s: mknod: %s", what, strerror(errno));
                else
                    note("%s: mknod: %s", what, strerror(errno));
                continue;
            }
            try_open(path, devs[i].flags, what);
            unlink(path);
        }
    }
    return probe_done();
}

static void must_work(const char *what, int ok)
{
    if (ok)
        note("%s works", what);
    else
        escaped("%s is broken: %s (the box lost a device it needs)", what, strerror(errno));
}

static int cmd_ok(void)
{
    char b[16];
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    must_work("/dev/null", fd >= 0 && write(fd, "x", 1) == 1 && read(fd, b, 1) == 0);
    close(fd);
    fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    must_work("/dev/zero", fd >= 0 && read(fd, b, 16) == 16 && !b[0] && !b[15]);
    close(fd);
    fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
    must_work("/dev/full", fd >= 0 && write(fd, "x", 1) < 0 && errno == ENOSPC);
    close(fd);
    fd = open("/dev/random", O_RDONLY | O_CLOEXEC);
    must_work("/dev/random", fd >= 0 && read(fd, b, 16) == 16);
    close(fd);
    fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    must_work("/dev/urandom", fd >= 0 && read(fd, b, 16) == 16);
    close(fd);
    int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    int unlock = 0, num = -1;
    must_work("/dev/ptmx",
              m >= 0 && ioctl(m, TIOCSPTLCK, &unlock) == 0 && ioctl(m, TIOCGPTN, &num) == 0);
    char pts[64];
    snprintf(pts, sizeof(pts), "/dev/pts/%d", num);
    fd = open(pts, O_RDWR | O_NOCTTY | O_CLOEXEC);
    must_work("its /dev/pts slave", fd >= 0 && write(fd, "x\n", 2) == 2);
    close(fd);
    close(m);
    held("the box's own devices work");
    return probe_done();
}

int main(int argc, char **argv)
{
    probe_init();
    if (argc > 1 && !strcmp(argv[1], "mknod"))
        return cmd_mknod(argc, argv);
    if (argc > 2 && !strcmp(argv[1], "open")) {
        for (int a = 2; a < argc; a++) {
            try_open(argv[a], O_RDONLY, "a node shipped in the image");
            try_open(argv[a], O_RDWR, "a node shipped in the image");
        }
        return probe_done();
    }
    if (argc > 1 && !strcmp(argv[1], "ok"))
        return cmd_ok();
    note("usage: devices mknod DIR... | open PATH... | ok");
    return 2;
}
