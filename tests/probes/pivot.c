/* SPDX-License-Identifier: MIT */
/*
 * pivot: no way back to the host's / from the box's root: through /proc/1/root, the classic
 * chroot-and-climb, or a file handle of the host's root (the "shocker" attack: the box has a
 * host ext4 file bind-mounted, /etc/hosts, to name the filesystem). MARKER/TOKEN: see probe.h.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include "probe.h"

int main(void)
{
    probe_init();
    const char *marker = getenv("MARKER");
    if (!marker) {
        note("MARKER must name the host marker");
        return 2;
    }
    if (marker_at(AT_FDCWD, marker))
        escaped("the host marker is visible at its host path %s", marker);
    char path[4200];
    snprintf(path, sizeof(path), "/proc/1/root/%s", marker_climb());
    if (marker_at(AT_FDCWD, path))
        escaped("the host marker through /proc/1/root/..");
    else
        held("/proc/1/root/../..: no host marker");

    /* chroot into a subdirectory, then climb out of it with .. and chroot(".") */
    pid_t p = fork();
    if (p == 0) {
        mkdir("/tmp/probe-chroot", 0700);
        int old = open("/", O_PATH | O_DIRECTORY);
        if (chroot("/tmp/probe-chroot") < 0) {
            held("chroot: %s", strerror(errno));
            _exit(0);
        }
        if (fchdir(old) < 0)
            _exit(0);
        for (int i = 0; i < 64; i++)
            if (chdir("..") < 0)
                break;
        if (chroot(".") < 0)
            _exit(0);
        if (marker_at(AT_FDCWD, marker))
            _exit(1);
        held("chroot, fchdir outside it, climb, chroot(\".\"): still the box's root");
        _exit(0);
    }
    int st;
    waitpid(p, &st, 0);
    rmdir("/tmp/probe-chroot");
    if (WIFEXITED(st) && WEXITSTATUS(st) == 1)
        escaped("chroot climb reached the host marker");

    /* shocker: the root inode (2) of the filesystem behind a host-backed bind mount */
    int mfd = open("/etc/hosts", O_RDONLY | O_CLOEXEC);
    if (mfd < 0)
        mfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct {
        struct file_handle fh;
        unsigned char f[8];
    } h = {.fh = {.handle_bytes = 8, .handle_type = 1}};
    unsigned int ino = 2, gen = 0;
    memcpy(h.f, &ino, 4);
    memcpy(h.f + 4, &gen, 4);
    int fd = open_by_handle_at(mfd, &h.fh, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        const char *m = marker + 1;
        if (marker_at(fd, m))
            escaped("open_by_handle_at reached the host's / and its marker");
        else
            escaped("open_by_handle_at opened inode 2 of a host filesystem");
        close(fd);
    } else {
        expect_refused("open_by_handle_at of the host's root inode", fd, EPERM, ENOSYS, 0);
    }
    close(mfd);
    return probe_done();
}
