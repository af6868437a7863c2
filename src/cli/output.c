/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli.h"
#include "output.h"

int out_format_parse(const char *s, enum out_format *ret)
{
    if (!strcasecmp(s, "table"))
        *ret = OUT_TABLE;
    else if (!strcasecmp(s, "json"))
        *ret = OUT_JSON;
    else if (!strcasecmp(s, "yaml"))
        *ret = OUT_YAML;
    else {
        cli_eprintf("Error: Unknown format: '%s'. Valid formats: table, json, yaml", s);
        return -1;
    }
    return 0;
}

static size_t display_width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char) *s & 0xC0) != 0x80)
            n++;
    return n;
}

static void hline(FILE *f, const size_t *w, size_t cols, const char *l, const char *m,
                  const char *r)
{
    fputs(l, f);
    for (size_t c = 0; c < cols; c++) {
        for (size_t i = 0; i < w[c] + 2; i++)
            fputs("─", f);
        fputs(c + 1 < cols ? m : r, f);
    }
    fputc('\n', f);
}

static void row(FILE *f, const size_t *w, size_t cols, const char *const *cells)
{
    fputs("│", f);
    for (size_t c = 0; c < cols; c++) {
        const char *s = cells[c] ? cells[c] : "";
        fprintf(f, " %s%*s │", s, (int) (w[c] - display_width(s)), "");
    }
    fputc('\n', f);
}

void out_print_table(FILE *f, const struct out_table *t)
{
    size_t w[16] = {0};
    for (size_t c = 0; c < t->cols && c < 16; c++) {
        w[c] = display_width(t->headers[c]);
        for (size_t r = 0; r < t->rows; r++) {
            const char *s = t->cells[r * t->cols + c];
            size_t d = display_width(s ? s : "");
            if (d > w[c])
                w[c] = d;
        }
    }
    hline(f, w, t->cols, "┌", "┬", "┐");
    row(f, w, t->cols, t->headers);
    if (t->rows)
        hline(f, w, t->cols, "├", "┼", "┤");
    for (size_t r = 0; r < t->rows; r++)
        row(f, w, t->cols, t->cells + r * t->cols);
    hline(f, w, t->cols, "└", "┴", "┘");
}

void out_print_json_list(FILE *f, const struct out_table *t)
{
    json_t *a = json_array();
    for (size_t r = 0; r < t->rows; r++) {
        json_t *o = json_object();
        for (size_t c = 0; c < t->cols; c++) {
            const char *s = t->cells[r * t->cols + c];
            if (!s && t->omit_null)
                continue;
            json_object_set_new(o, t->headers[c], json_string(s ? s : ""));
        }
        json_array_append_new(a, o);
    }
    char *s = json_dumps(a, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fprintf(f, "%s\n", s ? s : "[]");
    free(s);
    json_decref(a);
}

static int looks_like_number(const char *s)
{
    char *end;
    if (!*s)
        return 0;
    (void) strtod(s, &end); /* NOLINT: a classification, not a parse */
    if (*end == 0)
        return 1;
    static const char *const words[] = {".inf", "-.inf", "+.inf", ".nan"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (!strcasecmp(s, words[i]))
            return 1;
    return 0;
}

void out_yaml_scalar(FILE *f, const char *s)
{
    static const char *const special[] = {"true", "false", "yes", "no", "on",
                                          "off",  "null",  "~",   "y",  "n"};
    int quote = !*s || looks_like_number(s) || isspace((unsigned char) s[0]) ||
                isspace((unsigned char) s[strlen(s) - 1]) || strchr("-?:,[]{}#&*!|>'\"%@`", s[0]) ||
                strstr(s, ": ") || strstr(s, " #") || strchr(s, '\n') || s[strlen(s) - 1] == ':';
    for (size_t i = 0; !quote && i < sizeof(special) / sizeof(special[0]); i++)
        quote = !strcasecmp(s, special[i]);
    if (!quote) {
        fputs(s, f);
        return;
    }
    fputc('\'', f);
    for (const char *p = s; *p; p++) {
        if (*p == '\'')
            fputc('\'', f);
        fputc(*p, f);
    }
    fputc('\'', f);
}

void out_print_yaml_list(FILE *f, const struct out_table *t)
{
    if (!t->rows) {
        fputs("[]\n", f);
    }
    for (size_t r = 0; r < t->rows; r++)
        for (size_t c = 0; c < t->cols; c++) {
            const char *s = t->cells[r * t->cols + c];
            if (!s && t->omit_null && c > 0)
                continue;
            fprintf(f, "%s%s: ", c == 0 ? "- " : "  ", t->headers[c]);
            out_yaml_scalar(f, s ? s : "");
            fputc('\n', f);
        }
    fputc('\n', f);
}

void out_print(FILE *f, enum out_format fmt, const struct out_table *t)
{
    switch (fmt) {
    case OUT_TABLE:
        out_print_table(f, t);
        break;
    case OUT_JSON:
        out_print_json_list(f, t);
        break;
    case OUT_YAML:
        out_print_yaml_list(f, t);
        break;
    }
}

void out_time(char *buf, size_t len, long long epoch)
{
    time_t t = (time_t) epoch;
    struct tm tm;
    strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&t, &tm));
}

static void yaml_value(FILE *f, json_t *v, int indent, int in_seq);

static void yaml_inline(FILE *f, json_t *v)
{
    char num[64];
    switch (json_typeof(v)) {
    case JSON_STRING:
        out_yaml_scalar(f, json_string_value(v));
        break;
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%lld", (long long) json_integer_value(v));
        fputs(num, f);
        break;
    case JSON_REAL:
        fprintf(f, "%g", json_real_value(v));
        break;
    case JSON_TRUE:
        fputs("true", f);
        break;
    case JSON_FALSE:
        fputs("false", f);
        break;
    case JSON_NULL:
        fputs("null", f);
        break;
    case JSON_OBJECT:
        fputs("{}", f);
        break;
    case JSON_ARRAY:
        fputs("[]", f);
        break;
    }
}

static int is_container(json_t *v)
{
    return (json_is_object(v) && json_object_size(v)) || (json_is_array(v) && json_array_size(v));
}

/* Block style; the first line of an item continues after "- " when in_seq. */
static void yaml_value(FILE *f, json_t *v, int indent, int in_seq)
{
    if (json_is_object(v) && json_object_size(v)) {
        const char *k;
        json_t *x;
        int first = 1;
        json_object_foreach(v, k, x)
        {
            if (!(first && in_seq))
                fprintf(f, "%*s", indent, "");
            first = 0;
            out_yaml_scalar(f, k);
            fputc(':', f);
            if (is_container(x)) {
                fputc('\n', f);
                yaml_value(f, x, json_is_array(x) ? indent : indent + 2, 0);
            } else {
                fputc(' ', f);
                yaml_inline(f, x);
                fputc('\n', f);
            }
        }
    } else if (json_is_array(v) && json_array_size(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            fprintf(f, "%*s- ", indent, "");
            if (is_container(x)) {
                yaml_value(f, x, indent + 2, 1);
            } else {
                yaml_inline(f, x);
                fputc('\n', f);
            }
        }
    } else {
        fprintf(f, "%*s", indent, "");
        yaml_inline(f, v);
        fputc('\n', f);
    }
}

void out_print_yaml_value(FILE *f, json_t *v)
{
    yaml_value(f, v, 0, 0);
    fputc('\n', f);
}
