/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for blob-sink.c, the staging file every blob of a load or pull is written through.
 * Covered: a good blob (hashed while written, in chunks, renamed B<hex> on commit, the temporary
 * name gone), the wrong digest and a blob cut short (refused with -EBADMSG, outputs untouched,
 * nothing left once closed), the size limit (a write past it refused with nothing written, a
 * blob of exactly the limit accepted, limit 0), sparse writes (the gap hashed and written as
 * zeros), starting over (reset), a name already taken (refused, and the file there is not
 * ours to unlink), and (in fault-injection builds) a torture loop that fails each write in turn
 * and checks that nothing is left behind, no fd leaks and the error is reported.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "../lib/tap.h"
#include "alloc-util.h"
#include "blob-sink.h"
#include "digest.h"
#include "fault.h"
#include "fs-util.h"

static int open_tmp(void)
{
    int fd = open(tap_tmpdir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_TRUE(fd >= 0);
    return fd;
}

/* Entries of the directory (without . and ..), names joined with ' ' in sorted order. */
static int dir_entries(int dir_fd, char *names, size_t size)
{
    int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_TRUE(fd >= 0);
    struct dirent **list = NULL;
    char path[64];
    (void) snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    int n = scandir(path, &list, NULL, alphasort);
    ASSERT_TRUE(n >= 0);
    int count = 0;
    size_t off = 0;
    names[0] = 0;
    for (int i = 0; i < n; i++) {
        const char *e = list[i]->d_name;
        if (strcmp(e, ".") != 0 && strcmp(e, "..") != 0) {
            int w = snprintf(names + off, size - off, "%s%s", count ? " " : "", e);
            if (w > 0 && (size_t) w < size - off)
                off += (size_t) w;
            count++;
        }
        free(list[i]);
    }
    free(list);
    (void) close(fd);
    return count;
}

static void digest_of(const void *data, size_t len, char out[BL_DIGEST_STR_LEN + 1])
{
    ASSERT_OK(bl_sha256_buf(data, len, out));
}

/* The content of <dir>/B<hex of digest>. */
static char *staged(int dir_fd, const char *digest, size_t *len)
{
    char name[80];
    (void) snprintf(name, sizeof(name), "B%s", bl_digest_hex(digest));
    int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
    ASSERT_TRUE(fd >= 0);
    char *buf = NULL;
    ASSERT_OK(bl_read_full_fd(fd, 1 << 20, &buf, len));
    (void) close(fd);
    return buf;
}

TEST(good_blob)
{
    _cleanup_close_ int dir = open_tmp();
    const char *text = "hello, blob sink: written in three chunks";
    size_t len = strlen(text);
    char want[BL_DIGEST_STR_LEN + 1], got[BL_DIGEST_STR_LEN + 1];
    digest_of(text, len, want);

    _cleanup_(bl_blob_sink_close) struct bl_blob_sink s = BL_BLOB_SINK_NULL;
    ASSERT_OK(bl_blob_sink_open(&s, dir, "tmp1", len, &tap_last_err));
    char names[256];
    ASSERT_EQ(dir_entries(dir, names, sizeof(names)), 1);
    ASSERT_STREQ(names, "tmp1");
    ASSERT_OK(bl_blob_sink_write(&s, 0, text, 5, &tap_last_err));
    ASSERT_OK(bl_blob_sink_write(&s, s.off, text + 5, 10, &tap_last_err));
    ASSERT_OK(bl_blob_sink_write(&s, s.off, text + 15, len - 15, &tap_last_err));
    ASSERT_EQ(s.off, len);
    uint64_t size = 0;
    ASSERT_OK(bl_blob_sink_commit(&s, want, got, &size, &tap_last_err));
    ASSERT_STREQ(got, want);
    ASSERT_EQ(size, len);
    bl_blob_sink_close(&s);
    bl_blob_sink_close(&s); /* twice: a no-op */

    /* renamed to B<hex>, the temporary name gone, and close left the committed file alone */
    char expect[128];
    (void) snprintf(expect, sizeof(expect), "B%s", bl_digest_hex(want));
    ASSERT_EQ(dir_entries(dir, names, sizeof(names)), 1);
    ASSERT_STREQ(names, expect);
    size_t n = 0;
    _cleanup_free_ char *content = staged(dir, want, &n);
    ASSERT_EQ(n, len);
    ASSERT_TRUE(memcmp(content, text, len) == 0);

    /* no expected digest (a file of an archive, named by what it is): the digest is the result */
    _cleanup_(bl_blob_sink_close) struct bl_blob_sink s2 = BL_BLOB_SINK_NULL;
    ASSERT_OK(bl_blob_sink_open(&s2, dir, "tmp2", BL_BLOB_SINK_NO_LIMIT, &tap_last_err));
    ASSERT_OK(bl_blob_sink_write(&s2, 0, "", 0, &tap_last_err));
    ASSERT_OK(bl_blob_sink_commit(&s2, NULL, got, &size, &tap_last_err));
    digest_of("", 0, want);
    ASSERT_STREQ(got, want);
    ASSERT_EQ(size, 0);
    ASSERT_EQ(dir_entries(dir, names, sizeof(names)), 2);
}

TEST(wrong_digest)
{
    _cleanup_close_ int dir = open_tmp();
    char other[BL_DIGEST_STR_LEN + 1], got[BL_DIGEST_STR_LEN + 1] = "untouched";
    digest_of("something else", 14, other);
    uint64_t size = 77;
    char names[256];
    {
        _cleanup_(bl_blob_sink_close) struct bl_blob_sink s = BL_BLOB_SINK_NULL;
        _cleanup_(bl_error_freep) bl_error *e = NULL;
        ASSERT_OK(bl_blob_sink_open(&s, dir, "tmp", BL_BLOB_SINK_NO_LIMIT, &tap_last_err));
        ASSERT_OK(bl_blob_sink_write(&s, 0, "content", 7, &tap_last_err));
        ASSERT_ERR(bl_blob_sink_commit(&s, other, got, &size, &e), -EBADMSG);
        ASSERT_NOT_NULL(e);
        ASSERT_EQ(e->code, -EBADMSG);
        ASSERT_TRUE(strstr(e->msg, "digest mismatch") != NULL);
        ASSERT_TRUE(strstr(e->msg, other) != NULL);
        ASSERT_STREQ(got, "untouched"); /* outputs untouched on failure */
        ASSERT_EQ(size, 77);
        ASSERT_EQ(dir_entries(dir, names, sizeof(names)), 1); /* not renamed */
        ASSERT_STREQ(names, "tmp");
    }
    ASSERT_EQ(dir_entries(dir, names, sizeof(names)), 0); /* closed: unlinked */
}

TEST(truncated)
{
    _cleanup_close_ int dir = open_tmp();
    static const char blob[] = "the whole blob, of which only a part arrives";
    size_t len = sizeof(blob) - 1;
    char want[BL_DIGEST_STR_LEN + 1], got[BL_DIGEST_STR_LEN + 1];
    digest_of(blob, len, want);
    uint64_t size = 0;
    char names[256];
    {
        _cleanup_(bl_blob_sink_close) struct bl_blob_sink s = BL_BLOB_SINK_NULL;
        _cleanup_(bl_error_freep) bl_error *e = NULL;
        ASSERT_OK(bl_blob_sink_open(&s, dir, "tmp", len, &tap_last_err));
        ASSERT_OK(bl_blob_sink_write(&s, 0, blob, len / 2, &tap_last_err));
        ASSERT_TRUE(s.off < s.limit); /* what a caller sees before committing */
        ASSERT_ERR(bl_blob_sink_commit(&s, want, got, &size, &e), -EBADMSG);
        ASSERT_TRUE(strstr(e->msg, "digest mismatch") != NULL);
    }
    ASSERT_EQ(dir_entries(dir, names, sizeof(names)), 0);

    /* a transfer cut short and restarted from zero (the server ignored Range): reset */
    _cleanup_(bl_blob_sink_close) struct bl_blob_sink s = BL_BLOB_SINK_NULL;
    ASSERT_OK(bl_blob_sink_open(&s, dir, "tmp", len, &tap_last_err));
    ASSERT_OK(bl_blob_sink_write(&s, 0, "garbage that is not the blob", 28, &tap_last_err));
    ASSERT_OK(bl_blob_sink_reset(&s, &tap_last_err));
    ASSERT_EQ(s.off, 0);
    ASSERT_OK(bl_blob_sink_write(&s, 0, blob, 10, &tap_last_err));
    ASSERT_OK(bl_blob_sink_write(&s, s.off, blob + 10, len - 10, &tap_last_err)); /* resumed */
    ASSERT_OK(bl_blob_sink_commit(&s, want, got, &size, &tap_last_err));
    ASSERT_EQ(size, len);
    size_t n = 0;
    _cleanup_free_ char *content = staged(dir, want, &n);
    ASSERT_EQ(n, len);
    ASSERT_TRUE(memcmp(content, blob, len) == 0);
}

TEST(size_limit)
{
    _cleanup_close_ int dir = open_tmp();
    char want[BL_DIGEST_STR_LEN + 1], got[BL_DIGEST_STR_LEN + 1];
    uint64_t size = 0;
    {
        _cleanup_(bl_blob_sink_close) struct bl_blob_sink s = BL_BLOB_SINK_NULL;
        _cleanup_(bl_error_freep) bl_error *e = NULL;
        ASSERT_OK(bl_blob_sink_open(&s, dir, "tmp", 5, &tap_last_err));
        ASSERT_OK(bl_blob_sink_write(&s, 0, "abc", 3, &tap_last_err));
        ASSERT_TRUE(!bl_blob_sink_fits(&s, s.off, 3));
        ASSERT_ERR(bl_blob_sink_write(&s, s.off, "def", 3, &e), -EMSGSIZE);
        ASSERT_TRUE(strstr(e->msg, "5 bytes") != NULL);
        ASSERT_EQ(s.off, 3); /* nothing written, nothing hashed */
        struct stat st;
        ASSERT_OK(fstat(s.fd, &st));
        ASSERT_EQ(st.st_size, 3);
        /* a gap counts too */
        ASSERT_TRUE(!bl_blob_sink_fits(&s, 6, 0));
        ASSERT_ERR(bl_blob_sink_write(&s, 6, "", 0, NULL), -EMSGSIZE);
        ASSERT_EQ(s.off, 3);
        /* exactly the limit is fine */
        ASSERT_TRUE(bl_blob_sink_fits(&s, s.off, 2));
        ASSERT_OK(bl_blob_sink_write(&s, s.off, "de", 2, &tap_last_err));
        ASSERT_TRUE(!bl_blob_sink_fits(&s, s.off, 1));
        digest_of("abcde", 5, want);
        ASSERT_OK(bl_blob_sink_commit(&s, want, got, &size, &tap_last_err));
        ASSERT_EQ(size, 5);
    }
    /* limit 0: an empty blob only */
    _cleanup_(bl_blob_sink_close) struct bl_blob_sink s = BL_BLOB_SINK_NULL;
    ASSERT_OK(bl_blob_sink_open(&s, dir, "tmp0", 0, &tap_last_err));
    ASSERT_ERR(bl_blob_sink_write(&s, 0, "x", 1, NULL), -EMSGSIZE);
    ASSERT_OK(bl_blob_sink_write(&s, 0, "", 0, &tap_last_err));
    /* no limit: any size, without overflowing at the top */
    struct bl_blob_sink u = BL_BLOB_SINK_NULL;
    ASSERT_TRUE(bl_blob_sink_fits(&u, UINT64_MAX - 10, 10));
    ASSERT_TRUE(!bl_blob_sink_fits(&u, UINT64_MAX - 10, 11));
    ASSERT_TRUE(!bl_blob_sink_fits(&u, UINT64_MAX, 1));
}

TEST(sparse_write)
{
    _cleanup_close_ int dir = open_tmp();
    /* "ab", a hole to offset 10000 (past the sink's 4 KiB block of zeros), then "z" */
    size_t len = 10001;
    _cleanup_free_ char *whole = bl_calloc(1, len);
    ASSERT_NOT_NULL(whole);
    memcpy(whole, "ab", 2);
    whole[10000] = 'z';
    char want[BL_DIGEST_STR_LEN + 1], got[BL_DIGEST_STR_LEN + 1];
    digest_of(whole, len, want);
    _cleanup_(bl_blob_sink_close) struct bl_blob_sink s = BL_BLOB_SINK_NULL;
    ASSERT_OK(bl_blob_sink_open(&s, dir, "tmp", BL_BLOB_SINK_NO_LIMIT, &tap_last_err));
    ASSERT_OK(bl_blob_sink_write(&s, 0, "ab", 2, &tap_last_err));
    ASSERT_OK(bl_blob_sink_write(&s, 10000, "z", 1, &tap_last_err));
    uint64_t size = 0;
    ASSERT_OK(bl_blob_sink_commit(&s, want, got, &size, &tap_last_err));
    ASSERT_EQ(size, len);
    size_t n = 0;
    _cleanup_free_ char *content = staged(dir, want, &n);
    ASSERT_EQ(n, len);
    ASSERT_TRUE(memcmp(content, whole, len) == 0);
}

TEST(name_taken)
{
    _cleanup_close_ int dir = open_tmp();
    int fd = openat(dir, "tmp", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    ASSERT_TRUE(fd >= 0);
    (void) close(fd);
    {
        _cleanup_(bl_blob_sink_close) struct bl_blob_sink s = BL_BLOB_SINK_NULL;
        _cleanup_(bl_error_freep) bl_error *e = NULL;
        ASSERT_ERR(bl_blob_sink_open(&s, dir, "tmp", BL_BLOB_SINK_NO_LIMIT, &e), -EEXIST);
        ASSERT_TRUE(strstr(e->msg, "cannot create staging file") != NULL);
    }
    char names[256];
    ASSERT_EQ(dir_entries(dir, names, sizeof(names)), 1); /* someone else's: not unlinked */
    ASSERT_STREQ(names, "tmp");
}

#ifdef BL_FAULT_INJECTION
enum { RUN_CLEAN = 0, RUN_FAILED = 2, RUN_BUG = 1 };

/* In a child with BL_FAULT=n: stage a blob in pieces with a hole, start over, stage it again. */
static int torture_run(int dir, unsigned long n)
{
    int fds = tap_open_fds();
    char want[BL_DIGEST_STR_LEN + 1], got[BL_DIGEST_STR_LEN + 1] = "untouched";
    static char whole[9000];
    memcpy(whole, "head", 4);
    memcpy(whole + 8000, "tail", 4);
    if (bl_sha256_buf(whole, 8004, want) < 0)
        return RUN_BUG;
    bl_error *e = NULL;
    uint64_t size = 0;
    int r;
    {
        _cleanup_(bl_blob_sink_close) struct bl_blob_sink s = BL_BLOB_SINK_NULL;
        r = bl_blob_sink_open(&s, dir, "tmp", 8004, &e);
        if (r >= 0)
            r = bl_blob_sink_write(&s, 0, "xx", 2, &e);
        if (r >= 0)
            r = bl_blob_sink_reset(&s, &e);
        if (r >= 0)
            r = bl_blob_sink_write(&s, 0, "head", 4, &e);
        if (r >= 0)
            r = bl_blob_sink_write(&s, 8000, "tail", 4, &e);
        if (r >= 0)
            r = bl_blob_sink_commit(&s, want, got, &size, &e);
    }
    char names[256];
    int entries = dir_entries(dir, names, sizeof(names));
    int res;
    if (r < 0) /* failed: reported, outputs untouched, nothing left */
        res = e && e->code == r && !strcmp(got, "untouched") && entries == 0 ? RUN_FAILED : RUN_BUG;
    else
        res = bl_fault_count() < n && !e && size == 8004 && entries == 1 ? RUN_CLEAN : RUN_BUG;
    bl_error_free(e);
    if (tap_open_fds() != fds)
        res = RUN_BUG;
    return res;
}
#endif

TEST(fault_torture)
{
#ifndef BL_FAULT_INJECTION
    SKIP("fault injection is not compiled in (BUILD=debug or BUILD=asan)");
#else
    _cleanup_close_ int dir = open_tmp();
    for (unsigned long n = 1;; n++) {
        ASSERT_TRUE(n < 100);
        fflush(stdout);
        pid_t pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
            char num[32];
            (void) snprintf(num, sizeof(num), "%lu", n);
            (void) setenv("BL_FAULT", num, 1);
            exit(torture_run(dir, n)); /* exit, not _exit: LeakSanitizer runs at exit */
        }
        int status = 0;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        if (!WIFEXITED(status) ||
            (WEXITSTATUS(status) != RUN_CLEAN && WEXITSTATUS(status) != RUN_FAILED))
            tap_fail(__FILE__, __LINE__, "BL_FAULT=%lu: status 0x%x", n, (unsigned) status);
        if (WEXITSTATUS(status) == RUN_CLEAN) {
            ASSERT_TRUE(n > 3); /* the writes were exercised */
            printf("# %lu fault points failed cleanly\n", n - 1);
            break;
        }
    }
#endif
}

TAP_MAIN(T(good_blob), T(wrong_digest), T(truncated), T(size_limit), T(sparse_write), T(name_taken),
         T(fault_torture))
