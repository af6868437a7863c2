/* SPDX-License-Identifier: MIT */
/*
 * `boxlite logs`: the main command's output as the shim recorded it in BOX_DIR/logs/console.log
 * (and console.log.1 after a rotation), in the CRI format its writer (src/shim/console.c)
 * describes: "<RFC 3339 time> <stdout|stderr> <F|P> <content>", P marking a piece of a line
 * that goes on in the stream's next record. A line is what one stream wrote up to a newline.
 */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include "alloc-util.h"
#include "box-internal.h"
#include "fs-util.h"
#include "runtime.h"
#include "shim-proto.h"

#define LOG_MAX_READ (256 * 1024 * 1024)

BOXLITE_API void boxlite_logs_opts_init(boxlite_logs_opts *opts)
{
    *opts = (boxlite_logs_opts){.version = BOXLITE_LOGS_OPTS_VERSION, .tail = -1, .stop_fd = -1};
}

BOXLITE_API const char *boxlite_box_log_path(boxlite_runtime *rt, boxlite_box *b)
{
    if (!b->log_path)
        b->log_path = bl_asprintf("%s/boxes/%s/logs/console.log", rt->home, b->id);
    return b->log_path ? b->log_path : "";
}

struct rec {
    const char *ts;
    size_t ts_len;
    int stream; /* 0 stdout, 1 stderr */
    int partial;
    const char *data;
    size_t len;
};

/* One record (without its newline); a line that is not one is shown as stdout text. */
static void parse_rec(const char *line, size_t n, struct rec *r)
{
    const char *sp1 = memchr(line, ' ', n);
    const char *end = line + n;
    *r = (struct rec){.data = line, .len = n};
    if (!sp1 || end - sp1 < 10)
        return;
    int err;
    if (!strncmp(sp1 + 1, "stdout ", 7))
        err = 0;
    else if (!strncmp(sp1 + 1, "stderr ", 7))
        err = 1;
    else
        return;
    const char *tag = sp1 + 8;
    if ((*tag != 'F' && *tag != 'P') || tag[1] != ' ')
        return;
    *r = (struct rec){.ts = line,
                      .ts_len = (size_t) (sp1 - line),
                      .stream = err,
                      .partial = *tag == 'P',
                      .data = tag + 2,
                      .len = (size_t) (end - tag - 2)};
}

struct out {
    int fd[2];
    int timestamps;
    int open_line[2]; /* the stream's last record was partial: its line goes on */
};

static int emit(struct out *o, const struct rec *r)
{
    int fd = o->fd[r->stream];
    int r2 = 0;
    if (o->timestamps && !o->open_line[r->stream] && r->ts) {
        r2 = bl_write_all(fd, r->ts, r->ts_len);
        r2 = r2 < 0 ? r2 : bl_write_all(fd, " ", 1);
    }
    r2 = r2 < 0 ? r2 : bl_write_all(fd, r->data, r->len);
    if (r2 >= 0 && !r->partial)
        r2 = bl_write_all(fd, "\n", 1);
    o->open_line[r->stream] = r->partial;
    return r2;
}

/* Calls fn for each whole record of buf[0..len); returns how many bytes it consumed. */
static size_t for_each_rec(const char *buf, size_t len, int (*fn)(void *, const struct rec *),
                           void *ud, int *ret)
{
    size_t off = 0;
    while (off < len) {
        const char *nl = memchr(buf + off, '\n', len - off);
        if (!nl)
            break;
        struct rec r;
        parse_rec(buf + off, (size_t) (nl - buf - off), &r);
        off = (size_t) (nl - buf) + 1;
        int q = fn(ud, &r);
        if (q < 0) {
            *ret = q;
            break;
        }
    }
    return off;
}

/* Line numbering: a stream's record starts a new line unless its previous record was partial;
 * lines are numbered in the order they start. */
struct lines {
    int open[2];
    int64_t cur[2], count;
};

static int64_t line_of(struct lines *l, const struct rec *r)
{
    if (!l->open[r->stream])
        l->cur[r->stream] = l->count++;
    l->open[r->stream] = r->partial;
    return l->cur[r->stream];
}

static int count_rec(void *ud, const struct rec *r)
{
    (void) line_of(ud, r);
    return 0;
}

struct print_state {
    struct out *out;
    struct lines lines;
    int64_t first; /* lines before it are not printed (--tail) */
};

static int print_rec(void *ud, const struct rec *r)
{
    struct print_state *p = ud;
    if (line_of(&p->lines, r) < p->first)
        return 0;
    return emit(p->out, r);
}

static int emit_rec(void *ud, const struct rec *r)
{
    return emit(ud, r);
}

/* Appends dfd/name to *buf; 0 if it does not exist, 1 if read. */
static int read_all_at(int dfd, const char *name, char **buf, size_t *len, int *ret_fd,
                       bl_error **err)
{
    _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : bl_err_errno(err, "cannot open %s", name);
    _cleanup_free_ char *data = NULL;
    size_t n = 0;
    int r = bl_read_full_fd(fd, LOG_MAX_READ, &data, &n);
    if (r < 0)
        return bl_err_code(err, r, "cannot read %s", name);
    char *nb = bl_realloc(*buf, *len + n + 1);
    if (!nb)
        return bl_oom(err);
    memcpy(nb + *len, data, n);
    *len += n;
    nb[*len] = 0;
    *buf = nb;
    if (ret_fd)
        *ret_fd = TAKE_FD(fd); /* positioned at what we have read */
    return 1;
}

/* Follow: records appended to the current file (and to the new one after a rotation). */
struct follower {
    int dfd;       /* BOX_DIR/logs */
    int fd;        /* the file being read, or -1 until there is one */
    char *pending; /* an incomplete record */
    size_t plen;
};

static int follow_read(struct follower *f, struct out *o, bl_error **err)
{
    for (;;) {
        char buf[65536];
        ssize_t n = f->fd < 0 ? 0 : read(f->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return bl_err_errno(err, "cannot read the log");
        if (n > 0) {
            char *nb = bl_realloc(f->pending, f->plen + (size_t) n);
            if (!nb)
                return bl_oom(err);
            memcpy(nb + f->plen, buf, (size_t) n);
            f->pending = nb;
            f->plen += (size_t) n;
            int r = 0;
            size_t used = for_each_rec(f->pending, f->plen, emit_rec, o, &r);
            if (r < 0)
                return r;
            memmove(f->pending, f->pending + used, f->plen - used);
            f->plen -= used;
            continue;
        }
        /* at the end: after a rotation we are on console.log.1; go on with the new file */
        struct stat a, b;
        if (fstatat(f->dfd, "console.log", &b, AT_SYMLINK_NOFOLLOW) < 0)
            return 0;
        if (f->fd >= 0 && fstat(f->fd, &a) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
            return 0;
        int nfd = openat(f->dfd, "console.log", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (nfd < 0)
            return 0;
        (void) bl_close(f->fd);
        f->fd = nfd;
    }
}

/* Until the box stops (its shim answers `wait`, or is gone) or stop_fd is readable. */
static int follow(struct boxlite_box *b, const char *log_dir, struct follower *f, struct out *o,
                  int stop_fd, bl_error **err)
{
    _cleanup_close_ int wait_sock = bl_msg_connect(b->dir_fd, "shim.sock", NULL);
    if (wait_sock < 0)
        return follow_read(f, o, err); /* not running: what is there is all there is */
    const char *req[] = {"wait"};
    if (bl_msg_send(wait_sock, req, 1, NULL, 0) < 0)
        return follow_read(f, o, err);
    _cleanup_close_ int ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (ino < 0 || inotify_add_watch(ino, log_dir, IN_MODIFY | IN_CREATE | IN_MOVED_TO) < 0)
        return bl_err_errno(err, "cannot watch the log");
    for (;;) {
        int r = follow_read(f, o, err);
        if (r < 0)
            return r;
        struct pollfd p[3] = {{.fd = ino, .events = POLLIN},
                              {.fd = wait_sock, .events = POLLIN},
                              {.fd = stop_fd, .events = POLLIN}};
        int n = poll(p, 3, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return bl_err_errno(err, "poll");
        if (p[0].revents & POLLIN) {
            char evbuf[4096];
            while (read(ino, evbuf, sizeof(evbuf)) > 0)
                ;
        }
        if (p[2].revents & (POLLIN | POLLHUP))
            return follow_read(f, o, err);
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR))
            return follow_read(f, o, err); /* `exit`: the shim wrote the end of the log first */
    }
}

BOXLITE_API int boxlite_box_logs(boxlite_runtime *rt, boxlite_box *b, const boxlite_logs_opts *opts,
                                 int out_fd, int err_fd, boxlite_error **err)
{
    if (!rt || !b || !opts)
        return bl_err(err, -EINVAL, "invalid arguments");
    _cleanup_close_ int dfd = openat(b->dir_fd, "logs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return errno == ENOENT ? bl_err(err, -ENOENT, "no log") : bl_err_errno(err, "logs");
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    int cur_fd = -1;
    int r = read_all_at(dfd, "console.log.1", &buf, &len, NULL, err);
    int q = r < 0 ? r : read_all_at(dfd, "console.log", &buf, &len, &cur_fd, err);
    _cleanup_close_ int cur = cur_fd;
    if (r < 0 || q < 0)
        return r < 0 ? r : q;
    if (r == 0 && q == 0)
        return bl_err(err, -ENOENT, "no log");
    struct out o = {.fd = {out_fd, err_fd}, .timestamps = opts->timestamps};
    struct print_state ps = {.out = &o};
    size_t used = 0;
    if (opts->tail >= 0) {
        struct lines counted = {0};
        int cr = 0;
        (void) for_each_rec(buf, len, count_rec, &counted, &cr);
        ps.first = counted.count > opts->tail ? counted.count - opts->tail : 0;
    }
    r = 0;
    used = for_each_rec(buf, len, print_rec, &ps, &r);
    if (r < 0)
        return bl_err_code(err, r, "cannot write the log");
    if (!opts->follow)
        return 0;
    if (opts->follow_notice)
        (void) bl_write_all(err_fd, opts->follow_notice, strlen(opts->follow_notice));
    struct follower f = {.dfd = dfd, .fd = TAKE_FD(cur), .plen = len - used};
    if (f.plen) {
        f.pending = bl_malloc(f.plen);
        if (!f.pending) {
            (void) bl_close(f.fd);
            return bl_oom(err);
        }
        memcpy(f.pending, buf + used, f.plen);
    }
    _cleanup_free_ char *dir = bl_asprintf("%s/boxes/%s/logs", rt->home, b->id);
    r = dir ? follow(b, dir, &f, &o, opts->stop_fd, err) : bl_oom(err);
    (void) bl_close(f.fd);
    free(f.pending);
    return r;
}
