/* SPDX-License-Identifier: MIT */
/* The subset of Go templates `inspect --format` needs: literal text, {{.Field.Path}},
 * {{json .Field}}, {{json .}}, {{"literal"}}. Objects print Go-struct style with sorted keys. */
#pragma once

#include <jansson.h>

/* 0, or -1 with *ret_err (caller frees) describing the parse error. */
int template_check(const char *tmpl, char **ret_err);
int template_render(const char *tmpl, json_t *value, char **ret, char **ret_err);
