/* SPDX-License-Identifier: MIT */
/*
 * The state the global options set (--home, --debug, --config, --registry, and the
 * BOXLITE_EXPERIMENTAL features), the library's log sink, and opening the runtime from it.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

unsigned arg_experimental;
static int arg_debug;
static const char *arg_home;
static const char *arg_config; /* --config PATH */
#define MAX_REGISTRIES 32
static const char *arg_registries[MAX_REGISTRIES + 1]; /* --registry HOST..., in order */
static size_t n_registries;

/* --registry HOST: repeatable, in order; returns 0 or prints a usage error. */
static int add_registry(const char *host)
{
    if (n_registries >= MAX_REGISTRIES)
        return cli_usage_error(NULL, "too many --registry options (at most %d)", MAX_REGISTRIES);
    arg_registries[n_registries++] = host;
    return 0;
}

void cli_log_sink(int level, const char *msg, void *userdata)
{
    (void) userdata;
    static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    if (!arg_debug) { /* the library's warnings, as the CLI's own */
        fprintf(stderr, "Warning: %s\n", msg);
        return;
    }
    fprintf(stderr, "%s boxlite: %s\n", names[level & 3], msg);
}

int cli_global_apply(const struct cli_option *opt, const char *value, const struct cli_command *cmd)
{
    switch ((enum cli_global_id) opt->id) {
    case CLI_GLOBAL_HOME:
        /* `--home ''` would silently mean the default home: a usage error instead */
        if (!*value)
            return cli_usage_error(cmd, "invalid value '' for '--home <HOME>': the home directory "
                                        "must not be empty");
        arg_home = value;
        return 0;
    case CLI_GLOBAL_DEBUG:
        arg_debug = 1;
        boxlite_set_log_fn(cli_log_sink, BOXLITE_LOG_DEBUG, NULL);
        return 0;
    case CLI_GLOBAL_CONFIG:
        arg_config = value;
        return 0;
    case CLI_GLOBAL_REGISTRY:
        return add_registry(value);
    case CLI_GLOBAL_HELP:    /* the caller prints the help that fits */
    case CLI_GLOBAL_VERSION: /* before the command only: main() */
        break;
    }
    return 0;
}

/* The --config file's text, checked to be JSON; NULL (and an error printed) on failure. */
static char *read_config(const char *path, int *ret_exit)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        *ret_exit = errno == ENOENT
                        ? cli_errorf("Configuration file not found: %s", path)
                        : cli_errorf("cannot read config file %s: %s", path, strerror(errno));
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadf(f, 0, &je);
    fclose(f);
    if (!j) {
        *ret_exit = cli_errorf("Failed to parse config file %s: %s at line %d column %d", path,
                               je.text, je.line, je.column);
        return NULL;
    }
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!text)
        *ret_exit = cli_errorf("out of memory");
    return text;
}

int cli_open_runtime(boxlite_runtime **ret)
{
    boxlite_runtime_opts o;
    boxlite_runtime_opts_init(&o);
    o.home = arg_home;
    o.registries = arg_registries;
    _cleanup_free_ char *config = NULL;
    if (arg_config) {
        int rc = EXIT_ERROR;
        config = read_config(arg_config, &rc);
        if (!config)
            return rc;
        o.config_json = config;
    }
    boxlite_error *err = NULL;
    int r = boxlite_runtime_open(&o, ret, &err);
    if (config) /* it may hold secrets */
        explicit_bzero(config, strlen(config));
    if (r < 0)
        return cli_error(err);
    return 0;
}

/* BOXLITE_EXPERIMENTAL: a comma list of upstream's RC features, each trimmed; blank = none.
 * Upstream checks it for every command but `completion`, after parsing the arguments. */
int cli_parse_experimental(void)
{
    const char *v = getenv("BOXLITE_EXPERIMENTAL");
    static const char *const ws = " \t\n\v\f\r";
    arg_experimental = 0;
    if (!v || !v[strspn(v, ws)])
        return 0;
    for (const char *p = v;;) {
        size_t len = strcspn(p, ","), a = 0, n = len;
        while (a < n && strchr(ws, p[a])) /* p[a] is not NUL: a < len */
            a++;
        while (n > a && strchr(ws, p[n - 1]))
            n--;
        const char *tok = p + a;
        n -= a;
        if (n == 0)
            return cli_errorf("configuration error: BOXLITE_EXPERIMENTAL contains an empty "
                              "feature name");
        if (n == 13 && !strncmp(tok, "custom-kernel", n))
            arg_experimental |= CLI_FEATURE_CUSTOM_KERNEL;
        else if (n == 21 && !strncmp(tok, "nested-virtualization", n))
            arg_experimental |= CLI_FEATURE_NESTED_VIRT;
        else
            return cli_errorf("configuration error: unknown feature '%.*s' in "
                              "BOXLITE_EXPERIMENTAL; supported values: custom-kernel, "
                              "nested-virtualization",
                              (int) n, tok);
        if (!p[len])
            return 0;
        p += len + 1;
    }
}
