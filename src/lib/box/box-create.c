/* SPDX-License-Identifier: MIT */
/*
 * Creating a box: its config (the image's, overridden by the options), its directory and its
 * row, made together so that a killed creator leaves only what recovery removes.
 */
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alloc-util.h"
#include "box-create.h"
#include "box-name.h"
#include "box-net.h"
#include "box-records.h"
#include "box-volume.h"
#include "caps.h"
#include "fs-util.h"
#include "image-store.h"
#include "runtime.h"
#include "store.h"

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

BOXLITE_API void boxlite_box_opts_init(boxlite_box_opts *opts)
{
    *opts = (boxlite_box_opts) BOXLITE_BOX_OPTS_INIT;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int new_id(char out[13])
{
    static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    unsigned char r[24];
    if (getrandom(r, sizeof(r), 0) != (ssize_t) sizeof(r))
        return -EIO;
    size_t o = 0;
    for (size_t i = 0; i < sizeof(r) && o < 12; i++)
        if (r[i] < 248) /* 248 = 4 * 62: no modulo bias */
            out[o++] = b62[r[i] % 62];
    if (o < 12)
        return -EAGAIN;
    out[12] = 0;
    return 0;
}

/* ---- creating ---- */

static int json_strv_append(json_t *arr, const char *const *v)
{
    for (; v && *v; v++)
        if (json_array_append_new(arr, json_string(*v)) < 0)
            return -ENOMEM;
    return 0;
}

/* Removes the directory of a half-created box unless disarmed. */
struct undo_box_dir {
    int boxes_fd;
    char id[13];
};
static void undo_box_dir(struct undo_box_dir *u)
{
    if (u->id[0])
        (void) bl_rm_rf_at(u->boxes_fd, u->id);
}

/* Removes the anonymous volumes of a half-created box unless disarmed (rt = NULL). */
struct undo_volumes {
    struct boxlite_runtime *rt;
    json_t *volumes; /* borrowed */
};
static void undo_volumes(struct undo_volumes *u)
{
    if (u->rt)
        bl_volume_remove_anonymous_all(u->rt, u->volumes);
}

/* Limits and volumes of opts (version 2) into cfg. */
static int create_resources(struct boxlite_runtime *rt, const boxlite_box_opts *o, json_t *cfg,
                            json_t *volumes, bl_error **err)
{
    int v2 = o->version >= 2;
    int64_t mem = v2 ? o->memory_mib : 0;
    double cpus = v2 ? o->cpus : 0;
    int64_t pids = v2 ? o->pids_limit : 0;
    if (mem > (int64_t) 1 << 40)
        return bl_err(err, -EINVAL, "invalid argument: memory limit too large: %lld MiB",
                      (long long) mem);
    if (isnan(cpus) || isinf(cpus) || cpus > 1e6)
        return bl_err(err, -EINVAL, "invalid argument: bad CPU limit");
    long long millis = cpus > 0 ? (long long) (cpus * 1000 + 0.5) : 0; /* no libm */
    if (cpus > 0 && millis == 0)
        return bl_err(err, -EINVAL, "invalid argument: the CPU limit must be at least 0.001");
    if (json_object_set_new(cfg, "memory_mib",
                            mem < 0 ? json_null() : json_integer(mem ? mem : 1024)) < 0 ||
        json_object_set_new(cfg, "memory_explicit", json_boolean(mem != 0)) < 0 ||
        json_object_set_new(cfg, "cpus",
                            cpus < 0 ? json_null()
                                     : json_real(cpus > 0 ? (double) millis / 1000 : 1.0)) < 0 ||
        json_object_set_new(cfg, "cpus_explicit", json_boolean(cpus != 0)) < 0 ||
        json_object_set_new(cfg, "pids_limit", json_integer(pids > 0 ? pids : 0)) < 0 ||
        json_object_set_new(cfg, "tty", json_boolean(v2 && o->tty)) < 0)
        return bl_oom(err);
    for (const char *const *spec = v2 ? o->volumes : NULL; spec && *spec; spec++) {
        struct bl_volume v = {0};
        int r = bl_volume_parse(*spec, &v, err);
        if (r < 0)
            return r;
        if (v.anonymous) {
            r = bl_volume_make_anonymous(rt, &v.source, err);
            if (r < 0) {
                bl_volume_done(&v);
                return r;
            }
        }
        json_t *j = json_pack("{s:s,s:s,s:b,s:b}", "source", v.source, "target", v.target, "ro",
                              v.ro, "anonymous", v.anonymous);
        if (!j || json_array_append_new(volumes, j) < 0) {
            if (v.anonymous)
                bl_volume_remove_anonymous(rt, v.source);
            bl_volume_done(&v);
            return bl_oom(err);
        }
        bl_volume_done(&v);
    }
    return json_object_set(cfg, "volumes", volumes) < 0 ? bl_oom(err) : 0;
}

static int mkdirs_at(int dfd, const char *const *paths, bl_error **err)
{
    for (; *paths; paths++)
        if (mkdirat(dfd, *paths, 0700) < 0 && errno != EEXIST)
            return bl_err_errno(err, "cannot create '%s'", *paths);
    return 0;
}

int bl_box_create_check(const boxlite_box_opts *o, bl_error **err)
{
    if (!o || (!o->image && !o->rootfs) || (o->image && o->rootfs))
        return bl_err(err, -EINVAL, "provide IMAGE or --rootfs PATH");
    /* before anything is pulled or made: a name is a path component, printed back, stored */
    if (bl_box_name_check(o->name, err) < 0)
        return -EINVAL;
    return 0;
}

int bl_box_create(struct boxlite_runtime *rt, const boxlite_box_opts *o, const char *image_id_in,
                  struct boxlite_box **ret_box, bl_error **err)
{
    if (!rt || !ret_box)
        return bl_err(err, -EINVAL, "provide IMAGE or --rootfs PATH");
    int r = bl_box_create_check(o, err);
    if (r < 0)
        return r;
    /* (the API's create has started warming the cgroup lock for the start that usually
     * follows, before it ensured the image: once, a second call could start a second warm-up) */
    _cleanup_json_ json_t *cfg = json_object(), *env = json_array(), *args = json_array(),
                          *layers = json_array();
    if (!cfg || !env || !args || !layers)
        return bl_oom(err);
    _cleanup_free_ char *image_id = NULL, *display = NULL;
    json_t *icfg = NULL; /* borrowed from image_config */
    _cleanup_json_ json_t *image_config = NULL;
    if (o->image) {
        /* the image is here (the API's create pulled it when it was not): this layer only
         * reads the store */
        if (image_id_in) {
            image_id = bl_strdup(image_id_in);
            if (!image_id)
                return bl_oom(err);
        } else {
            r = bl_image_resolve(rt, o->image, &image_id, NULL, err);
            if (r < 0)
                return r;
        }
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        r = bl_store_prepare(rt->store, "SELECT config_digest FROM images WHERE id = ?", &st, err);
        if (r < 0)
            return r;
        bl_stmt_bind_text(st, 1, image_id);
        if (sqlite3_step(st) != SQLITE_ROW)
            return bl_err(err, -ENOENT, "No such image: %s", o->image);
        r = bl_image_read_blob_json(rt, bl_stmt_text(st, 0), &image_config, err);
        if (r < 0)
            return r;
        icfg = json_object_get(image_config, "config");
        display = bl_strdup(o->image);
        _cleanup_stmt_ sqlite3_stmt *ls = NULL;
        r = bl_store_prepare(rt->store,
                             "SELECT diff_id FROM image_layers WHERE image_id = ? ORDER BY idx",
                             &ls, err);
        if (r < 0)
            return r;
        bl_stmt_bind_text(ls, 1, image_id);
        while (sqlite3_step(ls) == SQLITE_ROW)
            json_array_append_new(layers, json_string(bl_stmt_text(ls, 0)));
    } else {
        char real[PATH_MAX];
        if (!realpath(o->rootfs, real))
            return bl_err_errno(err, "rootfs '%s'", o->rootfs);
        struct stat st;
        if (stat(real, &st) < 0 || !S_ISDIR(st.st_mode))
            return bl_err(err, -ENOTDIR, "rootfs '%s' is not a directory", o->rootfs);
        display = bl_asprintf("rootfs:%s", real);
        json_object_set_new(cfg, "rootfs", json_string(real));
    }
    if (!display)
        return bl_oom(err);
    /* Env: the image's, then ours; PATH defaults like docker's */
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(icfg, "Env"), i, e) if (json_is_string(e))
        bl_box_env_set(env, json_string_value(e));
    int has_path = 0;
    json_array_foreach(env, i, e) has_path |= !strncmp(json_string_value(e), "PATH=", 5);
    if (!has_path)
        bl_box_env_set(env, DEFAULT_PATH);
    for (const char *const *p = o->env; p && *p; p++)
        bl_box_env_set(env, *p);
    size_t env_bytes = 0;
    json_array_foreach(env, i, e) env_bytes += strlen(json_string_value(e)) + 1;
    if (env_bytes > BL_BOX_ENV_MAX)
        return bl_err(err, -E2BIG,
                      "the box's environment is too large: %zu bytes (the image's Env and -e "
                      "together may hold at most %d)",
                      env_bytes, BL_BOX_ENV_MAX);
    /* ENTRYPOINT + CMD with docker's rules: --entrypoint replaces the image's and drops its Cmd */
    int user_command = (o->cmd && o->cmd[0]) || o->entrypoint;
    if (o->entrypoint) {
        if (*o->entrypoint)
            json_array_append_new(args, json_string(o->entrypoint));
    } else {
        json_array_foreach(json_object_get(icfg, "Entrypoint"), i, e) json_array_append(args, e);
    }
    if (o->cmd && o->cmd[0])
        json_strv_append(args, o->cmd);
    else if (!o->entrypoint)
        json_array_foreach(json_object_get(icfg, "Cmd"), i, e) json_array_append(args, e);
    const char *wd =
        o->workdir ? o->workdir : json_string_value(json_object_get(icfg, "WorkingDir"));
    const char *user = o->user ? o->user : json_string_value(json_object_get(icfg, "User"));
    uint64_t caps = 0;
    r = bl_caps_apply(bl_caps_default(), (char *const *) o->cap_add, (char *const *) o->cap_drop,
                      &caps, err);
    if (r < 0)
        return r;
    _cleanup_json_ json_t *volumes = json_array();
    if (!volumes)
        return bl_oom(err);
    _cleanup_(undo_volumes) struct undo_volumes undo_vols = {.rt = rt, .volumes = volumes};
    /* version 3: the network (older callers get the default, enabled and not explicit) */
    int v3 = o->version >= 3;
    r = bl_box_net_config(v3 ? o->network : NULL, v3 ? o->allow_net : NULL, v3 ? o->publish : NULL,
                          cfg, err);
    if (r < 0)
        return r;
    r = create_resources(rt, o, cfg, volumes, err);
    if (r < 0)
        return r;
    char id[13];
    for (int tries = 0;; tries++) {
        r = new_id(id);
        if (r == 0 && faccessat(rt->boxes_fd, id, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
            break;
        if (tries > 16)
            return bl_err(err, -EIO, "cannot allocate a box id");
    }
    char capsbuf[32];
    snprintf(capsbuf, sizeof(capsbuf), "%llx", (unsigned long long) caps);
    if (json_object_set_new(cfg, "image", json_string(display)) < 0 ||
        json_object_set_new(cfg, "image_id", image_id ? json_string(image_id) : json_null()) < 0 ||
        json_object_set(cfg, "layers", layers) < 0 || json_object_set(cfg, "args", args) < 0 ||
        json_object_set(cfg, "env", env) < 0 ||
        json_object_set_new(cfg, "workdir", json_string(wd && *wd ? wd : "/")) < 0 ||
        json_object_set_new(cfg, "user", json_string(user ? user : "")) < 0 ||
        json_object_set_new(cfg, "user_command", json_boolean(user_command)) < 0 ||
        json_object_set_new(cfg, "caps", json_string(capsbuf)) < 0 ||
        json_object_set_new(cfg, "init", json_boolean(o->init)) < 0 ||
        json_object_set_new(cfg, "detach", json_boolean(o->detach)) < 0 ||
        json_object_set_new(cfg, "auto_remove", json_boolean(o->auto_remove && !o->detach)) < 0)
        return bl_oom(err);
    /* The directory is made in a locked staging directory and enters boxes/ only inside the
     * transaction that inserts its row: a process killed while it creates the box leaves a
     * staging directory that the next open sweeps, never a box directory without a row, which
     * nothing would look at again (found by the soak). A kill between the rename and the commit
     * leaves the stage, named after the box and no longer locked: recovery then removes the
     * directory if no row came of it (recover_box_stages). */
    _cleanup_stage_ struct bl_stage stage = BL_STAGE_NULL;
    char stage_prefix[32];
    (void) snprintf(stage_prefix, sizeof(stage_prefix), "box-%s", id);
    r = bl_stage_new(rt, stage_prefix, &stage, err);
    if (r < 0)
        return r;
    if (mkdirat(stage.fd, id, 0700) < 0)
        return bl_err_errno(err, "cannot create box directory");
    _cleanup_(undo_box_dir) struct undo_box_dir undo = {.boxes_fd = rt->boxes_fd};
    _cleanup_(bl_box_freep) struct boxlite_box *b = bl_box_new();
    if (!b)
        return bl_oom(err);
    /* (the fd stays the box's directory when it moves into boxes/) */
    b->dir_fd = openat(stage.fd, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (b->dir_fd < 0)
        return bl_err_errno(err, "cannot open box directory");
    b->lock_fd = openat(b->dir_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (b->lock_fd < 0 || flock(b->lock_fd, LOCK_EX) < 0)
        return bl_err_errno(err, "cannot lock box");
    static const char *const dirs[] = {"rootfs",        "rootfs/upper", "rootfs/work",
                                       "rootfs/merged", "logs",         NULL};
    r = mkdirs_at(b->dir_fd, dirs, err);
    if (r < 0)
        return r;
    /* the upper dir's mode is the box's "/": every user in the box must traverse it (the
     * enclosing rootfs/ stays 0700, so the host's other users still cannot) */
    if (fchmodat(b->dir_fd, "rootfs/upper", 0755, 0) < 0 ||
        fchmodat(b->dir_fd, "rootfs/merged", 0755, 0) < 0)
        return bl_err_errno(err, "cannot set the mode of the box's root");
    b->id = bl_strdup(id);
    b->name = o->name ? bl_strdup(o->name) : NULL;
    b->status = bl_strdup("configured");
    b->config = json_incref(cfg);
    b->created_ns = now_ns();
    if (!b->id || !b->status || (o->name && !b->name))
        return bl_oom(err);
    _cleanup_free_ char *text = json_dumps(cfg, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text)
        return bl_oom(err);
    _cleanup_txn_ struct bl_txn txn = BL_TXN_NULL;
    r = bl_txn_begin(rt->store, &txn, err);
    if (r < 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *ins = NULL, *insl = NULL;
    r = bl_store_prepare(rt->store,
                         "INSERT INTO boxes(id, name, image_id, created_at, config, status, pid, "
                         "exit_code) VALUES (?,?,?,?,?,'configured',0,0)",
                         &ins, err);
    if (r < 0)
        return r;
    bl_stmt_bind_text(ins, 1, id);
    bl_stmt_bind_text(ins, 2, o->name);
    bl_stmt_bind_text(ins, 3, image_id);
    sqlite3_bind_int64(ins, 4, b->created_ns);
    bl_stmt_bind_text(ins, 5, text);
    int rc = sqlite3_step(ins);
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT)
        return bl_err(err, -EEXIST, "invalid argument: box with name '%s' already exists",
                      o->name ? o->name : "");
    if (rc != SQLITE_DONE)
        return bl_store_err(rt->store, err, "insert box");
    r = bl_store_prepare(rt->store, "INSERT INTO box_layers(box_id, idx, diff_id) VALUES (?,?,?)",
                         &insl, err);
    if (r < 0)
        return r;
    json_array_foreach(layers, i, e)
    {
        bl_stmt_bind_text(insl, 1, id);
        sqlite3_bind_int(insl, 2, (int) i);
        bl_stmt_bind_text(insl, 3, json_string_value(e));
        if (sqlite3_step(insl) != SQLITE_DONE)
            return bl_store_err(rt->store, err, "insert box layers");
        sqlite3_reset(insl);
    }
    if (renameat(stage.fd, id, rt->boxes_fd, id) < 0)
        return bl_err_errno(err, "cannot create box directory");
    memcpy(undo.id, id, sizeof(id)); /* in boxes/ now: removed from there if the commit fails */
    r = bl_txn_commit(&txn, err);
    if (r < 0)
        return r;
    undo.id[0] = 0;
    undo_vols.rt = NULL;
    *ret_box = TAKE_PTR(b);
    return 0;
}
