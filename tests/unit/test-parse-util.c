/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for parse-util.c: whole-string numbers (digits only, '-' for signed, the three
 * failures apart, limits exact) and numbers scanned from kernel-written text.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "../lib/tap.h"
#include "parse-util.h"

TEST(u64)
{
    uint64_t v = 7;
    ASSERT_OK(bl_parse_u64("0", &v));
    ASSERT_EQ(v, 0);
    ASSERT_OK(bl_parse_u64("18446744073709551615", &v));
    ASSERT_TRUE(v == UINT64_MAX);
    ASSERT_OK(bl_parse_u64("007", &v));
    ASSERT_EQ(v, 7);
    v = 42;
    ASSERT_ERR(bl_parse_u64("18446744073709551616", &v), -ERANGE);
    ASSERT_ERR(bl_parse_u64("99999999999999999999999", &v), -ERANGE);
    ASSERT_ERR(bl_parse_u64("", &v), -ENODATA);
    ASSERT_ERR(bl_parse_u64(NULL, &v), -ENODATA);
    static const char *const bad[] = {"-1",   "+1",  " 1",  "1 ", "1x",
                                      "0x10", "1.0", "1e3", "\n", "99999999999999999999999x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ASSERT_ERR(bl_parse_u64(bad[i], &v), -EINVAL);
    ASSERT_EQ(v, 42); /* untouched by every failure */
}

TEST(hex)
{
    uint64_t v = 0;
    ASSERT_OK(bl_parse_u64_base("a80425fb", 16, &v));
    ASSERT_TRUE(v == 0xa80425fbULL);
    ASSERT_OK(bl_parse_u64_base("FFFFFFFFFFFFFFFF", 16, &v));
    ASSERT_TRUE(v == UINT64_MAX);
    ASSERT_ERR(bl_parse_u64_base("10000000000000000", 16, &v), -ERANGE);
    ASSERT_ERR(bl_parse_u64_base("0x1", 16, &v), -EINVAL);
    ASSERT_ERR(bl_parse_u64_base("g", 16, &v), -EINVAL);
    ASSERT_ERR(bl_parse_u64_base("a", 10, &v), -EINVAL);
    ASSERT_ERR(bl_parse_u64_base("1", 8, &v), -EINVAL); /* only 10 and 16 */
}

TEST(i64)
{
    int64_t v = 0;
    ASSERT_OK(bl_parse_i64("-9223372036854775808", &v));
    ASSERT_TRUE(v == INT64_MIN);
    ASSERT_OK(bl_parse_i64("9223372036854775807", &v));
    ASSERT_TRUE(v == INT64_MAX);
    ASSERT_OK(bl_parse_i64("-0", &v));
    ASSERT_EQ(v, 0);
    ASSERT_ERR(bl_parse_i64("9223372036854775808", &v), -ERANGE);
    ASSERT_ERR(bl_parse_i64("-9223372036854775809", &v), -ERANGE);
    ASSERT_ERR(bl_parse_i64("-", &v), -EINVAL);
    ASSERT_ERR(bl_parse_i64("--1", &v), -EINVAL);
    ASSERT_ERR(bl_parse_i64("+1", &v), -EINVAL);
    ASSERT_ERR(bl_parse_i64("", &v), -ENODATA);
}

TEST(int_range)
{
    int v = 5;
    ASSERT_OK(bl_parse_int("-4095", -4095, INT_MAX, &v));
    ASSERT_EQ(v, -4095);
    ASSERT_OK(bl_parse_int("2147483647", 0, INT_MAX, &v));
    ASSERT_EQ(v, INT_MAX);
    ASSERT_ERR(bl_parse_int("2147483648", 0, INT_MAX, &v), -ERANGE);
    ASSERT_ERR(bl_parse_int("-1", 0, 10, &v), -ERANGE);
    ASSERT_ERR(bl_parse_int("11", 0, 10, &v), -ERANGE);
    ASSERT_EQ(v, INT_MAX);
}

TEST(scan)
{
    const char *end = NULL;
    uint64_t v = 9;
    const char *s = "123 456";
    ASSERT_OK(bl_scan_u64(s, &end, &v));
    ASSERT_EQ(v, 123);
    ASSERT_TRUE(end == s + 3);
    ASSERT_OK(bl_scan_u64("99999999999999999999999\n", &end, &v));
    ASSERT_TRUE(v == UINT64_MAX); /* saturated */
    ASSERT_STREQ(end, "\n");
    v = 9;
    ASSERT_ERR(bl_scan_u64("max\n", &end, &v), -EINVAL);
    ASSERT_EQ(v, 9);
    ASSERT_STREQ(end, "max\n");
    ASSERT_ERR(bl_scan_u64("", &end, &v), -EINVAL);
    ASSERT_ERR(bl_scan_u64("-1", &end, &v), -EINVAL);
    ASSERT_TRUE(bl_scan_u64_or0("rbytes") == 0);
    ASSERT_TRUE(bl_scan_u64_or0("42 x") == 42);
}

TAP_MAIN(T(u64), T(hex), T(i64), T(int_range), T(scan))
