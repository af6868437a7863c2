/* SPDX-License-Identifier: MIT */
/* Numbers from text (parse-util.h). */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "parse-util.h"

static int digit(char c, unsigned base)
{
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'z' ? c - 'a' + 10
            : c >= 'A' && c <= 'Z' ? c - 'A' + 10
                                   : -1;
    return d >= 0 && (unsigned) d < base ? d : -1;
}

/* Every character a digit; -ERANGE wins over -EINVAL only if all are digits, as clap says
 * "invalid digit" for "99999999999999999999x". */
static int parse_magnitude(const char *s, unsigned base, uint64_t *ret)
{
    if (!s || !*s)
        return -ENODATA;
    uint64_t v = 0;
    bool overflow = false;
    for (const char *p = s; *p; p++) {
        int d = digit(*p, base);
        if (d < 0)
            return -EINVAL;
        if (v > (UINT64_MAX - (unsigned) d) / base)
            overflow = true;
        else
            v = v * base + (unsigned) d;
    }
    if (overflow)
        return -ERANGE;
    *ret = v;
    return 0;
}

int bl_parse_u64_base(const char *s, unsigned base, uint64_t *ret)
{
    if (base != 10 && base != 16)
        return -EINVAL;
    return parse_magnitude(s, base, ret);
}

int bl_parse_u64(const char *s, uint64_t *ret)
{
    return parse_magnitude(s, 10, ret);
}

int bl_parse_i64(const char *s, int64_t *ret)
{
    bool neg = s && *s == '-';
    if (neg && !s[1])
        return -EINVAL; /* "-" alone: clap's "invalid digit" */
    uint64_t m;
    int r = parse_magnitude(neg ? s + 1 : s, 10, &m);
    if (r < 0)
        return r;
    if (m > (uint64_t) INT64_MAX + (neg ? 1 : 0))
        return -ERANGE;
    *ret = neg ? (int64_t) (0 - m) : (int64_t) m;
    return 0;
}

int bl_parse_int(const char *s, int min, int max, int *ret)
{
    int64_t v;
    int r = bl_parse_i64(s, &v);
    if (r < 0)
        return r;
    if (v < min || v > max)
        return -ERANGE;
    *ret = (int) v;
    return 0;
}

int bl_scan_u64(const char *s, const char **end, uint64_t *ret)
{
    const char *p = s;
    uint64_t v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned) (*p - '0');
        v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
    }
    *end = p;
    if (p == s)
        return -EINVAL;
    *ret = v;
    return 0;
}

uint64_t bl_scan_u64_or0(const char *s)
{
    const char *end;
    uint64_t v = 0;
    return bl_scan_u64(s, &end, &v) == 0 ? v : 0;
}
