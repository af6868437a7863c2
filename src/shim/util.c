/* SPDX-License-Identifier: MIT */
/* Small helpers of the shim: its log, number parsing, /proc/self/stat. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs-util.h"
#include "parse-util.h"
#include "shim.h"

#define LOG_CAP (1024 * 1024)

char *shim_argv_area;
size_t shim_argv_len;

static int log_fd = -1;
static off_t log_size;

void shim_log_open(int dirfd)
{
    log_fd =
        openat(dirfd, "shim.log", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (log_fd < 0)
        return;
    struct stat st;
    if (fstat(log_fd, &st) == 0)
        log_size = st.st_size;
    if (log_size > LOG_CAP / 2 && ftruncate(log_fd, 0) == 0)
        log_size = 0;
}

void shim_log(const char *fmt, ...)
{
    if (log_fd < 0)
        return;
    int saved = errno;
    char buf[1024];
    struct timespec ts;
    struct tm tm;
    (void) clock_gettime(CLOCK_REALTIME, &ts);
    (void) gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    int k = snprintf(buf + n, sizeof(buf) - n, ".%06ldZ [%d] ", ts.tv_nsec / 1000, (int) getpid());
    if (k > 0)
        n += (size_t) k;
    va_list ap;
    va_start(ap, fmt);
    k = vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
    va_end(ap);
    if (k > 0)
        n = MIN(n + (size_t) k, sizeof(buf) - 2);
    buf[n++] = '\n';
    if (log_size + (off_t) n > LOG_CAP && ftruncate(log_fd, 0) == 0)
        log_size = 0;
    if (write(log_fd, buf, n) > 0)
        log_size += (off_t) n;
    errno = saved;
}

/* The shim's number parsers: src/basic/parse-util.h's, with every failure -EINVAL (a bad
 * value in shim.conf or a request is just that). */
int parse_int(const char *s, int min, int max, int *ret)
{
    return bl_parse_int(s, min, max, ret) < 0 ? -EINVAL : 0;
}

int parse_u64(const char *s, uint64_t *ret)
{
    return bl_parse_u64(s, ret) < 0 ? -EINVAL : 0;
}

int parse_hex64(const char *s, uint64_t *ret)
{
    if (s && (!strncmp(s, "0x", 2) || !strncmp(s, "0X", 2)))
        s += 2;
    return bl_parse_u64_base(s, 16, ret) < 0 ? -EINVAL : 0;
}

int parse_id(const char *s, uint32_t *ret)
{
    uint64_t v;
    if (bl_parse_u64(s, &v) < 0 || v >= 0xffffffffULL)
        return -EINVAL;
    *ret = (uint32_t) v;
    return 0;
}

int self_starttime(unsigned long long *ret)
{
    _cleanup_close_ int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char buf[1024];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return -EIO;
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p)
        return -EIO;
    /* p+2 is field 3 (state); field 22 is 19 fields further. */
    p += 2;
    for (int i = 0; i < 19; i++) {
        p = strchr(p, ' ');
        if (!p)
            return -EIO;
        p++;
    }
    const char *end;
    uint64_t v;
    if (bl_scan_u64(p, &end, &v) < 0)
        return -EIO;
    *ret = v;
    return 0;
}

int write_str(int fd, const char *s)
{
    size_t len = strlen(s);
    ssize_t n = write(fd, s, len);
    if (n < 0)
        return -errno;
    return (size_t) n == len ? 0 : -EIO;
}

const char *fd_path(struct fd_path *p, int fd)
{
    (void) snprintf(p->s, sizeof(p->s), "/proc/self/fd/%d", fd);
    return p->s;
}
