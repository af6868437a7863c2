/* SPDX-License-Identifier: MIT */
/*
 * BOX_DIR/logs/console.log: the main command's stdout and stderr of a detached box, read by the
 * shim from two pipes and written in the CRI log format (one record per line):
 *
 *   2026-01-22T15:04:05.123456789Z stdout F a whole line
 *   2026-01-22T15:04:05.123456789Z stderr P a partial line (no newline yet)
 *
 * so that `boxlite logs` can tell the streams apart, show timestamps, and rebuild every byte
 * (the content is everything after the fourth field's space, up to the record's newline; a P
 * record adds no newline). The file is rotated to console.log.1 once it passes log_max bytes,
 * so a box's log never takes more than twice that.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "fs-util.h"
#include "shim.h"

#define LOG_PATH "logs/console.log"
#define LOG_OLD_PATH "logs/console.log.1"
#define READ_CHUNK (64 * 1024)
#define MAX_IOV 96 /* a batch: how far past log_max a file may grow */

static int log_dirfd = -1; /* borrowed: BOX_DIR */
static int log_fd = -1;
static uint64_t log_size, log_max;

static int open_log(void)
{
    log_fd = openat(log_dirfd, LOG_PATH, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
                    0640);
    if (log_fd < 0)
        return -errno;
    struct stat st;
    log_size = fstat(log_fd, &st) == 0 ? (uint64_t) st.st_size : 0;
    /* A shim killed mid-record left a line without its newline: end it, so that the next
     * record starts a line of its own. */
    char last;
    if (log_size > 0) {
        _cleanup_close_ int rfd = openat(log_dirfd, LOG_PATH, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (rfd >= 0 && pread(rfd, &last, 1, (off_t) log_size - 1) == 1 && last != '\n' &&
            write(log_fd, "\n", 1) == 1)
            log_size++;
    }
    return 0;
}

int console_open(int boxfd, uint64_t max, bl_error **err)
{
    log_dirfd = boxfd;
    log_max = max;
    if (mkdirat(boxfd, "logs", 0755) < 0 && errno != EEXIST)
        return bl_err_errno(err, "cannot create the logs directory");
    int r = open_log();
    if (r < 0)
        return bl_err_code(err, r, "cannot open " LOG_PATH);
    return 0;
}

void console_close(void)
{
    log_fd = bl_close(log_fd);
}

static void rotate(void)
{
    if (renameat(log_dirfd, LOG_PATH, log_dirfd, LOG_OLD_PATH) < 0) {
        shim_log("cannot rotate " LOG_PATH ": %m");
        return;
    }
    log_fd = bl_close(log_fd);
    int r = open_log();
    if (r < 0)
        shim_log("cannot reopen " LOG_PATH ": %s", strerror(-r));
}

static void flush(struct iovec *iov, int *n)
{
    if (*n == 0)
        return;
    /* The file is ours alone (O_APPEND, one writer); a short write only happens on a full
     * disk, where losing the rest of the batch is what we can do. */
    ssize_t w = writev(log_fd, iov, *n);
    if (w > 0)
        log_size += (uint64_t) w;
    else if (w < 0)
        shim_log("cannot write " LOG_PATH ": %m");
    *n = 0;
}

/* Write one chunk of a stream as records, all stamped with the time it was read. */
static void write_records(const char *stream, const char *data, size_t len)
{
    if (log_fd < 0 || len == 0)
        return;
    struct timespec ts;
    struct tm tm;
    (void) clock_gettime(CLOCK_REALTIME, &ts);
    (void) gmtime_r(&ts.tv_sec, &tm);
    char full[96], partial[96];
    size_t k = strftime(full, sizeof(full), "%Y-%m-%dT%H:%M:%S", &tm);
    (void) snprintf(full + k, sizeof(full) - k, ".%09ldZ %s F ", ts.tv_nsec, stream);
    memcpy(partial, full, sizeof(full));
    size_t plen = strlen(full);
    partial[plen - 2] = 'P';

    struct iovec iov[MAX_IOV + 3];
    int n = 0;
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t) (end - p));
        if (nl) {
            iov[n++] = (struct iovec){.iov_base = full, .iov_len = plen};
            iov[n++] = (struct iovec){.iov_base = (void *) p, .iov_len = (size_t) (nl + 1 - p)};
            p = nl + 1;
        } else {
            iov[n++] = (struct iovec){.iov_base = partial, .iov_len = plen};
            iov[n++] = (struct iovec){.iov_base = (void *) p, .iov_len = (size_t) (end - p)};
            iov[n++] = (struct iovec){.iov_base = (void *) "\n", .iov_len = 1};
            p = end;
        }
        if (n >= MAX_IOV) {
            flush(iov, &n);
            if (log_max && log_size >= log_max)
                rotate();
        }
    }
    flush(iov, &n);
    if (log_max && log_size >= log_max)
        rotate();
}

int console_pump(int fd, const char *stream)
{
    static char buf[READ_CHUNK];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN ? 0 : 1;
        if (n == 0)
            return 1;
        write_records(stream, buf, (size_t) n);
    }
}
