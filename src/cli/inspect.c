/* SPDX-License-Identifier: MIT */
/* boxlite inspect [-l] [-f json|yaml|TEMPLATE] [BOX]...: boxes as JSON, YAML or a Go template. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "output.h"
#include "template.h"

#define MAX_MISSING 256

enum inspect_opt_id {
    INSPECT_OPT_LATEST,
    INSPECT_OPT_FORMAT,
};

const struct cli_option cli_inspect_options[] = {
    {INSPECT_OPT_LATEST, "latest", 'l', NULL, "Inspect the newest box"},
    {INSPECT_OPT_FORMAT, "format", 'f', "FORMAT", "json, yaml, or a Go template [default: json]"},
    CLI_OPTIONS_END,
};

struct inspect_opts {
    int latest;
    const char *format;
};

static int parse_opt(int id, const char *arg, void *userdata)
{
    struct inspect_opts *o = userdata;
    switch ((enum inspect_opt_id) id) {
    case INSPECT_OPT_LATEST:
        o->latest = 1;
        return 0;
    case INSPECT_OPT_FORMAT:
        o->format = arg;
        return 0;
    }
    return EXIT_USAGE;
}

int cmd_inspect(const struct cli_command *cmd, int argc, char **argv)
{
    struct inspect_opts o = {0};
    int rc = 0;
    int ind = cli_parse(cmd, argc, argv, parse_opt, &o, &rc);
    if (ind < 0)
        return rc;
    if (ind >= argc && !o.latest)
        return cli_errorf("no names or ids specified");
    if (ind < argc && o.latest)
        return cli_errorf("--latest and arguments cannot be used together");
    const char *f = o.format ? o.format : "json";
    int yaml = 0, tmpl = 0;
    if (!strcasecmp(f, "json"))
        ;
    else if (!strcasecmp(f, "yaml"))
        yaml = 1;
    else if (!strcasecmp(f, "table"))
        return cli_errorf("inspect does not support table format");
    else if (strstr(f, "{{") && strstr(f, "}}"))
        tmpl = 1;
    else
        return cli_errorf("Unknown format: '%s'. Valid formats: table, json, yaml", f);
    _cleanup_free_ char *tmpl_err = NULL;
    if (tmpl && template_check(f, &tmpl_err) < 0)
        return cli_errorf("template: Template parse error: %s", tmpl_err);
    _cleanup_(boxlite_runtime_freep) boxlite_runtime *rt = NULL;
    if ((rc = cli_open_runtime(&rt)) != 0)
        return rc;
    json_t *found = json_array();
    const char *missing[MAX_MISSING];
    int n_missing = 0;
    char *latest_id = NULL;
    if (o.latest) {
        boxlite_box **list = NULL;
        size_t n = 0;
        boxlite_error *err = NULL;
        if (boxlite_box_list(rt, 1, &list, &n, &err) < 0) {
            json_decref(found);
            return cli_error(err);
        }
        if (n)
            latest_id = strdup(boxlite_box_id(list[0]));
        boxlite_box_list_free(list, n);
        if (!latest_id) {
            json_decref(found);
            return cli_errorf("no boxes to inspect");
        }
    }
    int total = o.latest ? 1 : argc - ind;
    for (int i = 0; i < total; i++) {
        const char *target = o.latest ? latest_id : argv[ind + i];
        _cleanup_(boxlite_box_freep) boxlite_box *box = NULL;
        _cleanup_(boxlite_error_freep) boxlite_error *err = NULL;
        char *s = NULL;
        int r = boxlite_box_lookup(rt, target, &box, &err);
        if (r == -ENOENT) {
            if (n_missing < MAX_MISSING)
                missing[n_missing++] = target;
            continue;
        }
        /* anything but "not found" (an ambiguous prefix) ends the command, as upstream's `?`
         * does: no "[]", no "no such box" */
        if (r < 0 || boxlite_box_inspect(rt, box, &s, &err) < 0) {
            json_decref(found);
            free(latest_id);
            return cli_error(TAKE_PTR(err));
        }
        json_array_append_new(found, json_loads(s, JSON_DECODE_ANY, NULL));
        boxlite_free(s);
    }
    if (json_array_size(found) == 0 && n_missing) {
        printf("[]\n");
    } else if (tmpl) {
        size_t i;
        json_t *v;
        json_array_foreach(found, i, v)
        {
            _cleanup_free_ char *out = NULL, *e2 = NULL;
            if (template_render(f, v, &out, &e2) < 0) {
                cli_eprintf("Error: template: %s", e2 ? e2 : "render error");
                json_decref(found);
                free(latest_id);
                return EXIT_ERROR;
            }
            printf("%s\n", out);
        }
    } else if (yaml) {
        out_print_yaml_value(stdout, found);
    } else {
        char *out = json_dumps(found, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", out ? out : "[]");
        free(out);
    }
    json_decref(found);
    free(latest_id);
    for (int i = 0; i < n_missing; i++)
        cli_eprintf("Error: no such box: %s", missing[i]);
    return n_missing ? EXIT_ERROR : EXIT_OK;
}
