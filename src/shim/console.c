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

#include "console.h"
#include "fs-util.h"

#define LOG_PATH "logs/console.log"
#define LOG_OLD_PATH "logs/console.log.1"
#define READ_CHUNK (64 * 1024)
#define MAX_IOV 96 /* a batch: how far past log_max a file may grow */

static int open_log(struct console *c)
{
    c->log_fd =
        openat(c->dirfd, LOG_PATH, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
    if (c->log_fd < 0)
        return -errno;
    struct stat st;
    c->log_size = fstat(c->log_fd, &st) == 0 ? (uint64_t) st.st_size : 0;
    /* A shim killed mid-record left a line without its newline: end it, so that the next
     * record starts a line of its own. */
    char last;
    if (c->log_size > 0) {
        _cleanup_close_ int rfd = openat(c->dirfd, LOG_PATH, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (rfd >= 0 && pread(rfd, &last, 1, (off_t) c->log_size - 1) == 1 && last != '\n' &&
            write(c->log_fd, "\n", 1) == 1)
            c->log_size++;
    }
    return 0;
}

void console_init(struct console *c)
{
    *c = (struct console){
        .dirfd = -1,
        .log_fd = -1,
        .out = {.ev = {EV_LOG}, .fd = -1, .name = "stdout"},
        .err = {.ev = {EV_LOG}, .fd = -1, .name = "stderr"},
        .stdin_w = -1,
    };
}

int console_open(struct console *c, int boxfd, uint64_t max, bl_error **err)
{
    c->dirfd = boxfd;
    c->log_max = max;
    if (mkdirat(boxfd, "logs", 0755) < 0 && errno != EEXIST)
        return bl_err_errno(err, "cannot create the logs directory");
    int r = open_log(c);
    if (r < 0)
        return bl_err_code(err, r, "cannot open " LOG_PATH);
    return 0;
}

void console_done(struct console *c)
{
    c->log_fd = bl_close(c->log_fd);
    c->out.fd = bl_close(c->out.fd);
    c->err.fd = bl_close(c->err.fd);
    c->stdin_w = bl_close(c->stdin_w);
}

static void rotate(struct console *c)
{
    if (renameat(c->dirfd, LOG_PATH, c->dirfd, LOG_OLD_PATH) < 0) {
        shim_log("cannot rotate " LOG_PATH ": %s", strerror(errno));
        return;
    }
    c->log_fd = bl_close(c->log_fd);
    int r = open_log(c);
    if (r < 0)
        shim_log("cannot reopen " LOG_PATH ": %s", strerror(-r));
}

static void flush(struct console *c, struct iovec *iov, int *n)
{
    if (*n == 0)
        return;
    /* The file is ours alone (O_APPEND, one writer); a short write only happens on a full
     * disk, where losing the rest of the batch is what we can do. */
    ssize_t w = writev(c->log_fd, iov, *n);
    if (w > 0)
        c->log_size += (uint64_t) w;
    else if (w < 0)
        shim_log("cannot write " LOG_PATH ": %s", strerror(errno));
    *n = 0;
}

/* Write one chunk of a stream as records, all stamped with the time it was read. */
static void write_records(struct console *c, const char *stream, const char *data, size_t len)
{
    if (c->log_fd < 0 || len == 0)
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
            flush(c, iov, &n);
            if (c->log_max && c->log_size >= c->log_max)
                rotate(c);
        }
    }
    flush(c, iov, &n);
    if (c->log_max && c->log_size >= c->log_max)
        rotate(c);
}

int console_pump(struct console *c, struct log_stream *l)
{
    int fd = l->fd;
    static char buf[READ_CHUNK];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN ? 0 : 1;
        if (n == 0)
            return 1;
        write_records(c, l->name, buf, (size_t) n);
    }
}
