/* SPDX-License-Identifier: MIT */
/*
 * Box names and safe quoting. A name is what users type and what the CLI prints back, so it
 * follows upstream's rule (and docker's): a letter or digit, then letters, digits, '.', '_' or
 * '-', at most 128 characters. No '/', no "..", no blanks, no control characters, nothing a
 * terminal or a path could take for something else. Names stored before the rule existed are
 * still found and removed; only new ones are checked.
 *
 * bl_escape_text() is the one way a value the user (or a box) chose is quoted in a message
 * meant for a terminal: it cannot carry an escape sequence, a carriage return that rewrites the
 * line, or a newline that fakes a second message.
 */
#include <errno.h>
#include <string.h>

#include "alloc-util.h"
#include "box-name.h"

static int name_char(unsigned char c, int first)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return !first && (c == '.' || c == '_' || c == '-');
}

int bl_box_name_check(const char *name, bl_error **err)
{
    if (!name)
        return 0;
    if (!*name)
        return bl_err(err, -EINVAL, "invalid argument: a box name must not be empty");
    size_t n = strlen(name);
    if (n > BL_BOX_NAME_MAX)
        return bl_err(err, -EINVAL,
                      "invalid argument: a box name is at most %d characters long (this one has "
                      "%zu)",
                      BL_BOX_NAME_MAX, n);
    for (size_t i = 0; i < n; i++) {
        if (name_char((unsigned char) name[i], i == 0))
            continue;
        _cleanup_free_ char *shown = bl_escape_text(name);
        if (!shown)
            return bl_oom(err);
        return bl_err(err, -EINVAL,
                      "invalid argument: invalid box name \"%s\": only [a-zA-Z0-9][a-zA-Z0-9_.-]* "
                      "is allowed",
                      shown);
    }
    return 0;
}

/* The length of the well-formed UTF-8 sequence at s (2 to 4), with its code point, or 0. */
static size_t utf8_seq(const unsigned char *s, unsigned *ret_cp)
{
    unsigned cp;
    size_t len;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        cp = s[0] & 0x1f;
        len = 2;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        cp = s[0] & 0x0f;
        len = 3;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        cp = s[0] & 0x07;
        len = 4;
    } else {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL */
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    /* overlong forms, surrogates, beyond U+10FFFF */
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    *ret_cp = cp;
    return len;
}

/* Code points a terminal acts on or that reorder what is shown. */
static int unsafe_cp(unsigned cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
           (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

char *bl_escape_text(const char *s)
{
    size_t n = strlen(s);
    char *out = bl_malloc(4 * n + 1); /* at worst every byte becomes \xNN */
    if (!out)
        return NULL;
    char *o = out;
    for (const unsigned char *p = (const unsigned char *) s; *p;) {
        unsigned cp = 0;
        size_t len = *p < 0x80 ? 1 : utf8_seq(p, &cp);
        if (len == 1 && *p >= 0x20 && *p != 0x7f) {
            *o++ = (char) *p++;
        } else if (len == 1 && (*p == '\n' || *p == '\r' || *p == '\t')) {
            *o++ = '\\';
            *o++ = *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't';
            p++;
        } else if (len > 1 && !unsafe_cp(cp)) {
            memcpy(o, p, len);
            o += len;
            p += len;
        } else { /* a control, or not UTF-8: its bytes (one, if it is not UTF-8) */
            static const char hex[] = "0123456789abcdef";
            for (size_t i = 0; i < (len ? len : 1); i++) {
                *o++ = '\\';
                *o++ = 'x';
                *o++ = hex[p[i] >> 4];
                *o++ = hex[p[i] & 0xf];
            }
            p += len ? len : 1;
        }
    }
    *o = 0;
    return out;
}
