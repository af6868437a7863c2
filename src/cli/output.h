/* SPDX-License-Identifier: MIT */
/* Printers shared by the commands: tables (tabled "sharp" style), JSON and YAML lists. */
#pragma once

#include <stddef.h>
#include <stdio.h>

enum out_format { OUT_TABLE, OUT_JSON, OUT_YAML };

/* Parses table|json|yaml case-insensitively; -1 (and an Error line) on anything else. */
int out_format_parse(const char *s, enum out_format *ret);

/* A table of strings: rows x cols; cells borrowed. */
struct out_table {
    const char *const *headers;
    size_t cols;
    const char **cells; /* rows * cols */
    size_t rows;
    int omit_null; /* JSON and YAML leave out the key of a NULL cell (a table shows "") */
};
void out_print_table(FILE *f, const struct out_table *t);
/* A list of objects with the headers as keys, as serde_json/serde_yaml would print it. */
void out_print_json_list(FILE *f, const struct out_table *t);
void out_print_yaml_list(FILE *f, const struct out_table *t);
void out_print(FILE *f, enum out_format fmt, const struct out_table *t);
/* A JSON value as serde_yaml would print it (plus the extra blank line of the CLI). */
struct json_t;
void out_print_yaml_value(FILE *f, struct json_t *v);
/* YAML scalar, quoted only where a plain scalar would read as something else. */
void out_yaml_scalar(FILE *f, const char *s);
/* "%Y-%m-%d %H:%M:%S UTC" */
void out_time(char *buf, size_t len, long long epoch);
