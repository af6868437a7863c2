/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the header callback of blob transfers in image-pull.c (xfer_header, static,
 * so this test compiles that file in, as tests/fuzz/fuzz-pull-manifest.c does). curl hands a
 * header line over as `len` bytes that are not NUL-terminated; here each line ends exactly at
 * a PROT_NONE page, so any read past it kills the test whatever the build.
 */
#include <sys/mman.h>

#include "../../src/lib/image/image-pull.c"

#include "../lib/tap.h"

/* Two pages, the second inaccessible; the line sits at the end of the first. */
struct guarded {
    char *map;
    size_t page;
};

static void guarded_done(struct guarded *g)
{
    if (g->map)
        (void) munmap(g->map, 2 * g->page);
}

/* Feed `text` (without a NUL) to xfer_header; returns the transfer's state afterwards. */
static struct xfer feed(const char *text)
{
    _cleanup_(guarded_done) struct guarded g = {.page = (size_t) sysconf(_SC_PAGESIZE)};
    size_t len = strlen(text);
    ASSERT_TRUE(len <= g.page);
    g.map = mmap(NULL, 2 * g.page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_TRUE(g.map != MAP_FAILED);
    ASSERT_OK(mprotect(g.map + g.page, g.page, PROT_NONE));
    char *line = g.map + g.page - len;
    memcpy(line, text, len);

    struct xfer x = {.code = 77, .cr_start = 77};
    ASSERT_EQ(xfer_header(line, 1, len, &x), len);
    free(x.www_auth);
    x.www_auth = NULL;
    return x;
}

TEST(status_line)
{
    ASSERT_EQ(feed("HTTP/1.1 206 Partial Content\r\n").code, 206);
    ASSERT_EQ(feed("HTTP/2 200\r\n").code, 200);
    ASSERT_EQ(feed("HTTP/1.1 404").code, 404); /* the number runs to the end of the line */
    struct xfer x = feed("HTTP/1.1 200 OK\r\n");
    ASSERT_EQ(x.cr_start, -1); /* a new response forgets the previous one's range */
}

/* The fuzzer's status-line-blank: strtol skipped "\r\n" and read on. */
TEST(status_line_without_code)
{
    ASSERT_EQ(feed("HTTP/1.1 \r\n").code, 0);
    ASSERT_EQ(feed("HTTP/1.1 ").code, 0);
    ASSERT_EQ(feed("HTTP/1.1    ").code, 0);
    ASSERT_EQ(feed("HTTP/1.1\r\n").code, 0);
    ASSERT_EQ(feed("HTTP/1.1 OK\r\n").code, 0);
    ASSERT_EQ(feed("HTTP/1.1 99999999999999999999999\r\n").code, 0);
}

TEST(content_range)
{
    ASSERT_EQ(feed("Content-Range: bytes 100-199/1000\r\n").cr_start, 100);
    ASSERT_EQ(feed("content-range:bytes 0-9/10\r\n").cr_start, 0);
    ASSERT_EQ(feed("Content-Range: \tbytes 5-9/10").cr_start, 5);
    ASSERT_EQ(feed("Content-Length: 12\r\n").cr_start, 77); /* not ours: untouched */
}

/* The fuzzer's content-range-blank, and the unbounded space skip before "bytes". */
TEST(content_range_without_start)
{
    ASSERT_EQ(feed("Content-Range: bytes \r\n").cr_start, -1);
    ASSERT_EQ(feed("Content-Range: bytes ").cr_start, -1);
    ASSERT_EQ(feed("Content-Range: bytes */1000\r\n").cr_start, -1);
    ASSERT_EQ(feed("Content-Range: bytes 99999999999999999999-1/2\r\n").cr_start, -1);
    ASSERT_EQ(feed("Content-Range:      ").cr_start, 77);
    ASSERT_EQ(feed("Content-Range: byte").cr_start, 77);
}

TEST(www_authenticate)
{
    _cleanup_(guarded_done) struct guarded g = {.page = (size_t) sysconf(_SC_PAGESIZE)};
    static const char text[] = "WWW-Authenticate:  Bearer realm=\"r\"\r\n";
    size_t len = sizeof(text) - 1;
    g.map = mmap(NULL, 2 * g.page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_TRUE(g.map != MAP_FAILED);
    ASSERT_OK(mprotect(g.map + g.page, g.page, PROT_NONE));
    char *line = g.map + g.page - len;
    memcpy(line, text, len);

    struct xfer x = {.cr_start = -1};
    ASSERT_EQ(xfer_header(line, 1, len, &x), len);
    _cleanup_free_ char *got = TAKE_PTR(x.www_auth);
    ASSERT_STREQ(got, "Bearer realm=\"r\"");
}

TAP_MAIN(T(status_line), T(status_line_without_code), T(content_range),
         T(content_range_without_start), T(www_authenticate))
