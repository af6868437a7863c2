/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "alloc-util.h"
#include "strv.h"

void bl_strv_free(char **l)
{
    if (!l)
        return;
    for (char **p = l; *p; p++)
        free(*p);
    free(l);
}

size_t bl_strv_length(char *const *l)
{
    size_t n = 0;
    while (l && l[n])
        n++;
    return n;
}

int bl_strv_consume(char ***l, char *s)
{
    size_t n = bl_strv_length(*l);
    char **nl = bl_realloc(*l, (n + 2) * sizeof(char *));
    if (!nl) {
        free(s);
        return -ENOMEM;
    }
    nl[n] = s;
    nl[n + 1] = NULL;
    *l = nl;
    return 0;
}

int bl_strv_push(char ***l, const char *s)
{
    char *c = bl_strdup(s);
    if (!c)
        return -ENOMEM;
    return bl_strv_consume(l, c);
}
