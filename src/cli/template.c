/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template.h"

struct sbuf {
    char *p;
    size_t len, cap;
};

static void put(struct sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t nc = (b->len + n + 1) * 2;
        char *np = realloc(b->p, nc);
        if (!np)
            return;
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}
static void puts_(struct sbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* Go's fmt of a value: maps/structs as {K:V ...} with sorted keys, arrays as [a b]. */
static void print_go(struct sbuf *b, json_t *v)
{
    char num[64];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v), i = 0;
        const char **keys = calloc(n ? n : 1, sizeof(char *));
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) keys[i++] = k;
        qsort(keys, n, sizeof(char *), cmp_keys);
        puts_(b, "{");
        for (i = 0; i < n; i++) {
            if (i)
                puts_(b, " ");
            puts_(b, keys[i]);
            puts_(b, ":");
            print_go(b, json_object_get(v, keys[i]));
        }
        puts_(b, "}");
        free(keys);
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *x;
        puts_(b, "[");
        json_array_foreach(v, i, x)
        {
            if (i)
                puts_(b, " ");
            print_go(b, x);
        }
        puts_(b, "]");
        break;
    }
    case JSON_STRING:
        put(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%lld", (long long) json_integer_value(v));
        puts_(b, num);
        break;
    case JSON_REAL:
        snprintf(num, sizeof(num), "%g", json_real_value(v));
        puts_(b, num);
        break;
    case JSON_TRUE:
        puts_(b, "true");
        break;
    case JSON_FALSE:
        puts_(b, "false");
        break;
    case JSON_NULL:
        puts_(b, "<nil>");
        break;
    }
}

/* Resolve ".A.B" against root; NULL when missing. */
static json_t *lookup(json_t *root, const char *path, size_t len)
{
    if (len == 1 && path[0] == '.')
        return root;
    json_t *cur = root;
    size_t i = 0;
    while (i < len) {
        if (path[i] != '.')
            return NULL;
        i++;
        size_t s = i;
        while (i < len && path[i] != '.')
            i++;
        char key[128];
        snprintf(key, sizeof(key), "%.*s", (int) (i - s), path + s);
        cur = json_object_get(cur, key);
        if (!cur)
            return NULL;
    }
    return cur;
}

static int valid_path(const char *p, size_t n)
{
    if (n == 0 || p[0] != '.')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char) p[i]) || p[i] == '.' || p[i] == '_'))
            return 0;
    return 1;
}

/* Runs or checks (value NULL) the template. */
static int run(const char *tmpl, json_t *value, struct sbuf *out, char **ret_err)
{
    const char *p = tmpl;
    while (*p) {
        const char *open = strstr(p, "{{");
        if (!open) {
            puts_(out, p);
            break;
        }
        put(out, p, (size_t) (open - p));
        const char *close = strstr(open + 2, "}}");
        if (!close) {
            if (ret_err)
                *ret_err = strdup("unclosed action");
            return -1;
        }
        const char *a = open + 2, *e = close;
        if (*a == '-')
            a++;
        if (e > a && e[-1] == '-')
            e--;
        while (a < e && isspace((unsigned char) *a))
            a++;
        while (e > a && isspace((unsigned char) e[-1]))
            e--;
        size_t n = (size_t) (e - a);
        if (n >= 2 && a[0] == '"' && e[-1] == '"') {
            for (const char *c = a + 1; c < e - 1; c++) {
                if (*c == '\\' && c + 1 < e - 1) {
                    c++;
                    char ch = *c == 'n' ? '\n' : *c == 't' ? '\t' : *c;
                    put(out, &ch, 1);
                } else {
                    put(out, c, 1);
                }
            }
        } else if (n > 5 && !strncmp(a, "json", 4) && isspace((unsigned char) a[4])) {
            const char *arg = a + 5;
            while (arg < e && isspace((unsigned char) *arg))
                arg++;
            if (!valid_path(arg, (size_t) (e - arg))) {
                if (ret_err &&
                    asprintf(ret_err, "bad argument to json: %.*s", (int) (e - arg), arg) < 0)
                    *ret_err = NULL;
                return -1;
            }
            if (value) {
                json_t *v = lookup(value, arg, (size_t) (e - arg));
                if (v && !json_is_null(v)) {
                    char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
                    if (s)
                        puts_(out, s);
                    free(s);
                } else {
                    puts_(out, "null");
                }
            }
        } else if (valid_path(a, n)) {
            if (value) {
                json_t *v = lookup(value, a, n);
                if (v)
                    print_go(out, v);
                else
                    puts_(out, "<no value>");
            }
        } else {
            if (ret_err && asprintf(ret_err, "function \"%.*s\" not defined", (int) n, a) < 0)
                *ret_err = NULL;
            return -1;
        }
        p = close + 2;
    }
    return 0;
}

/* ".ImageID" -> ".Image", then ".ID" -> ".Id" (as upstream does before parsing). */
static char *rewrite(const char *t)
{
    struct sbuf b = {0};
    puts_(&b, "");
    for (const char *p = t; *p;) {
        if (!strncmp(p, ".ImageID", 8)) {
            puts_(&b, ".Image");
            p += 8;
        } else if (!strncmp(p, ".ID", 3) && !isalnum((unsigned char) p[3])) {
            puts_(&b, ".Id");
            p += 3;
        } else {
            put(&b, p, 1);
            p++;
        }
    }
    return b.p;
}

int template_check(const char *tmpl, char **ret_err)
{
    char *t = rewrite(tmpl);
    struct sbuf out = {0};
    int r = run(t ? t : tmpl, NULL, &out, ret_err);
    free(out.p);
    free(t);
    return r;
}

int template_render(const char *tmpl, json_t *value, char **ret, char **ret_err)
{
    char *t = rewrite(tmpl);
    struct sbuf out = {0};
    puts_(&out, "");
    int r = run(t ? t : tmpl, value, &out, ret_err);
    free(t);
    if (r < 0) {
        free(out.p);
        return r;
    }
    *ret = out.p;
    return 0;
}
