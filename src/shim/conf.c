/* SPDX-License-Identifier: MIT */
/* BOX_DIR/shim.conf: `key\0value\0` records; repeated keys form lists, in order. */
#include <errno.h>
#include <string.h>

#include "alloc-util.h"
#include "fs-util.h"
#include "shim.h"

#define CONF_MAX (16 * 1024 * 1024)

void conf_free(struct shim_conf *c)
{
    free(c->volumes);
    free(c->layers);
    free(c->argv);
    free(c->env);
    free(c->ports);
    free(c->allow);
    free(c->allow_host);
    free(c->allow_hostlo);
    free(c->allow_dns);
    free(c->buf);
    *c = (struct shim_conf){0};
}

/* "N" (required) or "~N" (best effort). */
static int parse_limit(const char *s, struct conf_limit *l)
{
    bool soft = *s == '~';
    uint64_t v;
    if (parse_u64(s + soft, &v) < 0 || v == 0)
        return -EINVAL;
    *l = (struct conf_limit){.set = true, .soft = soft, .value = v};
    return 0;
}

static int parse_u16(const char *s, unsigned short *ret)
{
    int v;
    if (parse_int(s, 0, 0xffff, &v) < 0)
        return -EINVAL;
    *ret = (unsigned short) v;
    return 0;
}

/* Plain lists of values: each record appends its value. */
#define LIST_KEYS(X) X(ports, "port") X(allow, "allow") X(allow_host, "allow_host") \
    X(allow_hostlo, "allow_hostlo") X(allow_dns, "allow_dns")

static bool walk_list(struct shim_conf *c, const char *key, char *val, bool fill)
{
#define X(field, name)                                                                             \
    if (!strcmp(key, name)) {                                                                      \
        if (fill)                                                                                  \
            c->field[c->n_##field] = val;                                                          \
        c->n_##field++;                                                                            \
        return true;                                                                               \
    }
    LIST_KEYS(X)
#undef X
    return false;
}

/* Pass 1 (fill = false) counts the list items; pass 2 stores pointers into buf. Returns the
 * number of records or -EINVAL (*bad names the key). */
static int walk(char *buf, size_t len, struct shim_conf *c, bool fill, const char **bad)
{
    size_t n_layers = 0, argc = 0, n_env = 0, n_vol = 0;
    int n = 0;
    char *p = buf, *end = buf + len;
    while (p < end) {
        char *key = p;
        char *kend = memchr(p, 0, (size_t) (end - p));
        if (!kend || kend + 1 > end)
            return -EINVAL;
        char *val = kend + 1;
        char *vend = val < end ? memchr(val, 0, (size_t) (end - val)) : NULL;
        if (!vend)
            vend = end; /* the last value may lack its NUL; buf[len] is 0 */
        p = vend + 1;
        n++;
        if (walk_list(c, key, val, fill)) {
            continue;
        } else if (!strcmp(key, "layer")) {
            if (fill)
                c->layers[n_layers] = val;
            n_layers++;
        } else if (!strcmp(key, "arg")) {
            if (fill)
                c->argv[argc] = val;
            argc++;
        } else if (!strcmp(key, "env")) {
            if (fill)
                c->env[n_env] = val;
            n_env++;
        } else if (!strcmp(key, "volume")) {
            if (fill)
                c->volumes[n_vol] = (struct conf_volume){.source = val, .target = ""};
            n_vol++;
        } else if (!fill) {
            continue;
        } else if (!strcmp(key, "volume_target") || !strcmp(key, "volume_ro")) {
            /* these describe the `volume` before them */
            if (n_vol == 0) {
                *bad = key;
                return -EINVAL;
            }
            if (key[7] == 't')
                c->volumes[n_vol - 1].target = val;
            else
                c->volumes[n_vol - 1].ro = !strcmp(val, "1");
        } else if (!strcmp(key, "id")) {
            c->id = val;
        } else if (!strcmp(key, "hostname")) {
            c->hostname = val;
        } else if (!strcmp(key, "upper")) {
            c->upper = val;
        } else if (!strcmp(key, "work")) {
            c->work = val;
        } else if (!strcmp(key, "merged")) {
            c->merged = val;
        } else if (!strcmp(key, "cwd")) {
            c->cwd = val;
        } else if (!strcmp(key, "user")) {
            c->user = val;
        } else if (!strcmp(key, "seccomp")) {
            c->seccomp = val;
        } else if (!strcmp(key, "cgroup")) {
            c->cgroup = val;
        } else if (!strcmp(key, "caps")) {
            if (parse_hex64(val, &c->caps) < 0) {
                *bad = key;
                return -EINVAL;
            }
        } else if (!strcmp(key, "memory") || !strcmp(key, "cpus") || !strcmp(key, "pids")) {
            struct conf_limit *l = key[0] == 'm' ? &c->memory : key[0] == 'c' ? &c->cpus : &c->pids;
            if (parse_limit(val, l) < 0) {
                *bad = key;
                return -EINVAL;
            }
        } else if (!strcmp(key, "tty")) {
            c->tty = !strcmp(val, "1");
        } else if (!strcmp(key, "tty_rows") || !strcmp(key, "tty_cols")) {
            if (parse_u16(val, key[4] == 'r' ? &c->tty_rows : &c->tty_cols) < 0) {
                *bad = key;
                return -EINVAL;
            }
        } else if (!strcmp(key, "log_max")) {
            if (parse_u64(val, &c->log_max) < 0) {
                *bad = key;
                return -EINVAL;
            }
        } else if (!strcmp(key, "init")) {
            c->init = !strcmp(val, "1");
        } else if (!strcmp(key, "detach")) {
            c->detach = !strcmp(val, "1");
        } else if (!strcmp(key, "net")) {
            c->net = !strcmp(val, "1") || !strcmp(val, "~1");
            c->net_soft = !strcmp(val, "~1");
        } else if (!strcmp(key, "idmap")) {
            if (idmap_parse(val, &c->idmap) < 0) {
                *bad = key;
                return -EINVAL;
            }
        } else if (!strcmp(key, "newuidmap")) {
            c->idmap.newuidmap = val;
        } else if (!strcmp(key, "newgidmap")) {
            c->idmap.newgidmap = val;
        } else if (!strcmp(key, "slirp")) {
            c->slirp = val;
        } else if (!strcmp(key, "nft")) {
            c->nft = val;
        } else {
            shim_log("shim.conf: ignoring unknown key '%s'", key);
        }
    }
    if (!fill) {
        c->n_layers = n_layers;
        c->argc = argc;
        c->n_env = n_env;
        c->n_volumes = n_vol;
    }
    return n;
}

static bool valid_leaf(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n < 200 && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..");
}

int conf_load(int dirfd, const char *name, struct shim_conf *c, bl_error **err)
{
    struct shim_conf t = {0};
    size_t len = 0;
    int r = bl_read_file_at(dirfd, name, CONF_MAX, &t.buf, &len, err);
    if (r < 0)
        return r;
    const char *bad = NULL;
    if (walk(t.buf, len, &t, false, &bad) < 0) {
        conf_free(&t);
        return bl_err(err, -EINVAL, "%s: malformed record", name);
    }
    t.layers = bl_calloc(t.n_layers + 1, sizeof(char *));
    t.argv = bl_calloc(t.argc + 1, sizeof(char *));
    t.env = bl_calloc(t.n_env + 1, sizeof(char *));
    t.volumes = bl_calloc(t.n_volumes + 1, sizeof(struct conf_volume));
    bool lists_ok = true;
#define X(field, name)                                                                             \
    t.field = bl_calloc(t.n_##field + 1, sizeof(char *));                                          \
    lists_ok = lists_ok && t.field;                                                                \
    t.n_##field = 0; /* pass 2 counts again */
    LIST_KEYS(X)
#undef X
    if (!t.layers || !t.argv || !t.env || !t.volumes || !lists_ok) {
        conf_free(&t);
        return bl_oom(err);
    }
    if (walk(t.buf, len, &t, true, &bad) < 0) {
        /* `bad` points into t.buf: format the message before releasing it */
        r = bl_err(err, -EINVAL, "%s: bad value of '%s'", name, bad ? bad : "?");
        conf_free(&t);
        return r;
    }
    for (size_t i = 0; i < t.n_volumes; i++) {
        const struct conf_volume *v = &t.volumes[i];
        if (v->source[0] != '/' || v->target[0] != '/') {
            /* v points into t: format the message before releasing it */
            r = bl_err(err, -EINVAL, "%s: volume '%s' on '%s': paths must be absolute", name,
                       v->source, v->target);
            conf_free(&t);
            return r;
        }
    }
    const char *missing = !t.merged || !*t.merged ? "merged"
                          : !t.upper || !*t.upper ? "upper"
                          : !t.work || !*t.work   ? "work"
                          : t.n_layers == 0       ? "layer"
                                                  : NULL;
    if (missing) {
        conf_free(&t);
        return bl_err(err, -EINVAL, "%s: missing '%s'", name, missing);
    }
    if (t.cgroup && *t.cgroup && !valid_leaf(t.cgroup)) {
        conf_free(&t);
        return bl_err(err, -EINVAL, "%s: bad cgroup name", name);
    }
    if (!t.id)
        t.id = "";
    if (!t.hostname)
        t.hostname = "";
    if (!t.cwd || !*t.cwd)
        t.cwd = "/";
    if (!t.user)
        t.user = "";
    if (!t.seccomp)
        t.seccomp = "";
    if (!t.cgroup)
        t.cgroup = "";
    if (!t.log_max)
        t.log_max = 8 * 1024 * 1024;
    *c = t;
    return 0;
}
