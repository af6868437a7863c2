/* SPDX-License-Identifier: MIT */
/* BOX_DIR/shim.conf: `key\0value\0` records; repeated keys form lists, in order. The keys and
 * the record format are src/basic/wire.h's; this file gives each key its meaning. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "alloc-util.h"
#include "conf.h"
#include "fs-util.h"
#include "wire.h"

#define CONF_MAX (16 * 1024 * 1024)

void conf_done(struct shim_conf *c)
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

/* `idmap` "UID:SUB:N:GID:SUB:N": a subordinate range of ids (src/lib/idmap.h). */
int idmap_parse(const char *spec, struct conf_idmap *m)
{
    unsigned long v[6];
    char tail;
    if (sscanf(spec, "%lu:%lu:%lu:%lu:%lu:%lu%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
               &tail) != 6)
        return -EINVAL;
    for (int i = 0; i < 6; i++)
        if (v[i] > 0xfffffffeUL)
            return -EINVAL;
    if (v[2] == 0 || v[5] == 0 || v[1] + v[2] - 1 > 0xfffffffeUL || v[4] + v[5] - 1 > 0xfffffffeUL)
        return -EINVAL;
    m->range = true;
    m->uid = (uint32_t) v[0];
    m->sub_uid = (uint32_t) v[1];
    m->n_uid = (uint32_t) v[2];
    m->gid = (uint32_t) v[3];
    m->sub_gid = (uint32_t) v[4];
    m->n_gid = (uint32_t) v[5];
    return 0;
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

/* The list a LIST key appends to, with its count; NULL for `layer`, `arg`, `env` and `volume`,
 * which walk() handles itself. */
static char ***list_of(struct shim_conf *c, enum bl_conf_key k, size_t **ret_n)
{
#define LIST(key, field)                                                                           \
    if (k == BL_CONF_##key) {                                                                      \
        *ret_n = &c->n_##field;                                                                    \
        return &c->field;                                                                          \
    }
    LIST(port, ports)
    LIST(allow, allow)
    LIST(allow_host, allow_host)
    LIST(allow_hostlo, allow_hostlo)
    LIST(allow_dns, allow_dns)
#undef LIST
    return NULL;
}

/* One record of pass 2 (the lists are allocated to the counts of pass 1). -EINVAL: a bad value. */
static int fill(struct shim_conf *c, enum bl_conf_key k, char *val)
{
    switch (k) {
    case BL_CONF_layer:
        c->layers[c->n_layers++] = val;
        return 0;
    case BL_CONF_arg:
        c->argv[c->argc++] = val;
        return 0;
    case BL_CONF_env:
        c->env[c->n_env++] = val;
        return 0;
    case BL_CONF_volume:
        c->volumes[c->n_volumes++] = (struct conf_volume){.source = val, .target = ""};
        return 0;
    case BL_CONF_port:
    case BL_CONF_allow:
    case BL_CONF_allow_host:
    case BL_CONF_allow_hostlo:
    case BL_CONF_allow_dns: {
        size_t *n;
        char ***list = list_of(c, k, &n);
        (*list)[(*n)++] = val;
        return 0;
    }
    case BL_CONF_volume_target:
    case BL_CONF_volume_ro:
        /* these describe the `volume` before them */
        if (c->n_volumes == 0)
            return -EINVAL;
        if (k == BL_CONF_volume_target)
            c->volumes[c->n_volumes - 1].target = val;
        else
            c->volumes[c->n_volumes - 1].ro = !strcmp(val, "1");
        return 0;
    case BL_CONF_id:
        c->id = val;
        return 0;
    case BL_CONF_hostname:
        c->hostname = val;
        return 0;
    case BL_CONF_upper:
        c->upper = val;
        return 0;
    case BL_CONF_work:
        c->work = val;
        return 0;
    case BL_CONF_merged:
        c->merged = val;
        return 0;
    case BL_CONF_cwd:
        c->cwd = val;
        return 0;
    case BL_CONF_user:
        c->user = val;
        return 0;
    case BL_CONF_seccomp:
        c->seccomp = val;
        return 0;
    case BL_CONF_cgroup:
        c->cgroup = val;
        return 0;
    case BL_CONF_caps:
        return parse_hex64(val, &c->caps) < 0 ? -EINVAL : 0;
    case BL_CONF_memory:
        return parse_limit(val, &c->memory);
    case BL_CONF_cpus:
        return parse_limit(val, &c->cpus);
    case BL_CONF_pids:
        return parse_limit(val, &c->pids);
    case BL_CONF_tty:
        c->tty = !strcmp(val, "1");
        return 0;
    case BL_CONF_tty_rows:
        return parse_u16(val, &c->tty_rows);
    case BL_CONF_tty_cols:
        return parse_u16(val, &c->tty_cols);
    case BL_CONF_log_max:
        return parse_u64(val, &c->log_max) < 0 ? -EINVAL : 0;
    case BL_CONF_init:
        c->init = !strcmp(val, "1");
        return 0;
    case BL_CONF_detach:
        c->detach = !strcmp(val, "1");
        return 0;
    case BL_CONF_net:
        c->net = !strcmp(val, "1") || !strcmp(val, "~1");
        c->net_soft = !strcmp(val, "~1");
        return 0;
    case BL_CONF_idmap:
        return idmap_parse(val, &c->idmap) < 0 ? -EINVAL : 0;
    case BL_CONF_newuidmap:
        c->idmap.newuidmap = val;
        return 0;
    case BL_CONF_newgidmap:
        c->idmap.newgidmap = val;
        return 0;
    case BL_CONF_slirp:
        c->slirp = val;
        return 0;
    case BL_CONF_nft:
        c->nft = val;
        return 0;
    case BL_CONF__N:
        break;
    }
    return -EINVAL;
}

/* Pass 1 (count != NULL) counts the records of each key; pass 2 stores values (pointers into
 * buf). Returns 0 or -EINVAL (*bad names the key). */
static int walk(char *buf, size_t len, struct shim_conf *c, size_t *count, const char **bad)
{
    size_t off = 0;
    char *key, *val;
    int r;
    while ((r = bl_conf_next(buf, len, &off, &key, &val)) > 0) {
        int k = bl_conf_key_lookup(key);
        if (k < 0) {
            if (!count)
                shim_log("shim.conf: ignoring unknown key '%s'", key);
            continue;
        }
        if (count) {
            count[k]++;
            continue;
        }
        if (fill(c, (enum bl_conf_key) k, val) < 0) {
            *bad = key;
            return -EINVAL;
        }
    }
    return r;
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
    size_t count[BL_CONF__N] = {0};
    if (walk(t.buf, len, &t, count, &bad) < 0) {
        conf_done(&t);
        return bl_err(err, -EINVAL, "%s: malformed record", name);
    }
    t.layers = bl_calloc(count[BL_CONF_layer] + 1, sizeof(char *));
    t.argv = bl_calloc(count[BL_CONF_arg] + 1, sizeof(char *));
    t.env = bl_calloc(count[BL_CONF_env] + 1, sizeof(char *));
    t.volumes = bl_calloc(count[BL_CONF_volume] + 1, sizeof(struct conf_volume));
    bool lists_ok = true;
    for (int k = 0; k < BL_CONF__N; k++) {
        size_t *n;
        char ***list = list_of(&t, (enum bl_conf_key) k, &n);
        if (list) {
            *list = bl_calloc(count[k] + 1, sizeof(char *));
            lists_ok = lists_ok && *list;
        }
    }
    if (!t.layers || !t.argv || !t.env || !t.volumes || !lists_ok) {
        conf_done(&t);
        return bl_oom(err);
    }
    if (walk(t.buf, len, &t, NULL, &bad) < 0) {
        /* `bad` points into t.buf: format the message before releasing it */
        r = bl_err(err, -EINVAL, "%s: bad value of '%s'", name, bad ? bad : "?");
        conf_done(&t);
        return r;
    }
    for (size_t i = 0; i < t.n_volumes; i++) {
        const struct conf_volume *v = &t.volumes[i];
        if (v->source[0] != '/' || v->target[0] != '/') {
            /* v points into t: format the message before releasing it */
            r = bl_err(err, -EINVAL, "%s: volume '%s' on '%s': paths must be absolute", name,
                       v->source, v->target);
            conf_done(&t);
            return r;
        }
    }
    const char *missing = !t.merged || !*t.merged ? "merged"
                          : !t.upper || !*t.upper ? "upper"
                          : !t.work || !*t.work   ? "work"
                          : t.n_layers == 0       ? "layer"
                                                  : NULL;
    if (missing) {
        conf_done(&t);
        return bl_err(err, -EINVAL, "%s: missing '%s'", name, missing);
    }
    if (t.cgroup && *t.cgroup && !valid_leaf(t.cgroup)) {
        conf_done(&t);
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
