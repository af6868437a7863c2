/* SPDX-License-Identifier: MIT */
/*
 * Numbers from text: the one place that calls strto*() for integers (tools/check-style.sh).
 *
 * Two kinds of input, two kinds of function:
 *  - a value that must be a number and nothing else (a flag, a protocol field, a config key):
 *    bl_parse_*() take the whole string, decimal digits only (bl_parse_i64 allows one leading
 *    '-'; no '+', no spaces, no "0x"), and tell the failures apart as a user message needs
 *    them (clap's words: empty, invalid digit, too large);
 *  - a number the kernel wrote among other text (/proc, /sys, cgroup files): bl_scan_u64()
 *    reads the digits at the start and says where they end.
 */
#pragma once

#include <stdint.h>

/* 0, or -ENODATA (empty or NULL), -EINVAL (a character that is not a digit of `base`: 10 or
 * 16, hex without "0x", either case), -ERANGE (does not fit). *ret untouched on failure. */
int bl_parse_u64(const char *s, uint64_t *ret);
int bl_parse_u64_base(const char *s, unsigned base, uint64_t *ret);
int bl_parse_i64(const char *s, int64_t *ret);
/* bl_parse_i64 within [min, max]: -ERANGE outside. */
int bl_parse_int(const char *s, int min, int max, int *ret);

/* The decimal digits at the start of s (no sign, no spaces): 0 with *ret (saturated at
 * UINT64_MAX) and *end past them, or -EINVAL when s does not start with a digit (*end = s). */
int bl_scan_u64(const char *s, const char **end, uint64_t *ret);
/* bl_scan_u64 where a missing number counts as 0 (a field the kernel left empty). */
uint64_t bl_scan_u64_or0(const char *s);
