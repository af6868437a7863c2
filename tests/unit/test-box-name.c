/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for box-name.c: upstream's name rule (what passes, what is refused and with which
 * message) and bl_escape_text (controls, C1, bidi overrides and stray bytes escaped; other
 * UTF-8 kept).
 */
#include <string.h>

#include "../lib/tap.h"
#include "alloc-util.h"
#include "box-name.h"

static void name_err(const char *name, const char *msg)
{
    bl_error *e = NULL;
    ASSERT_ERR(bl_box_name_check(name, &e), -EINVAL);
    ASSERT_NOT_NULL(e);
    if (msg)
        ASSERT_STREQ(bl_error_msg(e), msg);
    ASSERT_TRUE(!strpbrk(bl_error_msg(e), "\n\r\t\x1b\x07"));
    bl_error_free(e);
}

static void escaped(const char *in, const char *want)
{
    _cleanup_free_ char *got = bl_escape_text(in);
    ASSERT_NOT_NULL(got);
    ASSERT_STREQ(got, want);
}

TEST(valid)
{
    char longest[BL_BOX_NAME_MAX + 1];
    memset(longest, 'a', BL_BOX_NAME_MAX);
    longest[BL_BOX_NAME_MAX] = 0;
    static const char *const ok[] = {"a", "Z", "0", "web-1", "a.b_c-d", "x..y", "A.", "9-"};
    for (size_t i = 0; i < ELEMENTSOF(ok); i++)
        ASSERT_OK(bl_box_name_check(ok[i], &tap_last_err));
    ASSERT_OK(bl_box_name_check(longest, &tap_last_err));
    ASSERT_OK(bl_box_name_check(NULL, &tap_last_err));
}

TEST(invalid)
{
    static const char *const bad[] = {"/",   "a/b",  "..",       ".",   ".a",  "-a",       "_a",
                                      "a b", "a\nb", "\x1b[31m", "a:b", "a@b", "\xc3\xa9", "a\xff"};
    for (size_t i = 0; i < ELEMENTSOF(bad); i++)
        name_err(bad[i], NULL);
    name_err("", "invalid argument: a box name must not be empty");
    name_err("a/../b", "invalid argument: invalid box name \"a/../b\": only "
                       "[a-zA-Z0-9][a-zA-Z0-9_.-]* is allowed");
    name_err("\x1b]0;t\x07", "invalid argument: invalid box name \"\\x1b]0;t\\x07\": only "
                             "[a-zA-Z0-9][a-zA-Z0-9_.-]* is allowed");
    char big[5001];
    memset(big, 'x', 5000);
    big[5000] = 0;
    name_err(big,
             "invalid argument: a box name is at most 128 characters long (this one has 5000)");
    big[BL_BOX_NAME_MAX + 1] = 0;
    name_err(big, "invalid argument: a box name is at most 128 characters long (this one has 129)");
}

TEST(escape)
{
    escaped("", "");
    escaped("plain text: 'ok' \\ \"q\"", "plain text: 'ok' \\ \"q\"");
    escaped("a\nb\rc\td", "a\\nb\\rc\\td");
    escaped("\x1b[2J\x07\x7f\x01", "\\x1b[2J\\x07\\x7f\\x01");
    /* UTF-8 is kept; C1 controls, line separators, bidi overrides and stray bytes are not */
    escaped("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa6",
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa6");
    static const char csi[] = {'\xc2', '\x9b', '2', 'J', 0};
    escaped(csi, "\\xc2\\x9b2J");
    /* U+202E (right-to-left override), U+2066, U+2028 */
    static const char bidi[] = {'a',    '\xe2', '\x80', '\xae', 'b',    '\xe2', '\x81',
                                '\xa6', 'c',    '\xe2', '\x80', '\xa8', 0};
    escaped(bidi, "a\\xe2\\x80\\xaeb\\xe2\\x81\\xa6c\\xe2\\x80\\xa8");
    escaped("\xff\xc3", "\\xff\\xc3");
    escaped("\xc0\xaf", "\\xc0\\xaf");          /* overlong '/' */
    escaped("\xed\xa0\x80", "\\xed\\xa0\\x80"); /* a surrogate */
    escaped("\xe2\x82", "\\xe2\\x82");          /* cut short */
}

TAP_MAIN(T(valid), T(invalid), T(escape))
