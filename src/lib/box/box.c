/* SPDX-License-Identifier: MIT */
/*
 * Boxes: records, lifecycle and the client side of the shim.
 *
 * Locks (all flock, released by the kernel when a process dies, so a kill -9 never wedges a box):
 *   boxes/<id>/shim.lock  held by the shim for its whole life: "running" iff it is held.
 *   boxes/<id>/lock       held by a process that owns the box's lifecycle right now (creating it,
 *                         or running it attached); recovery leaves such a box alone.
 * The database is the index (name, status, exit code); the shim never touches it (it is a static
 * libc-only binary), so status is brought up to date by the client that waits for the shim, by
 * stop, and by the recovery pass of any later open.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <time.h>

#include "alloc-util.h"
#include "box-name.h"
#include "box.h"
#include "caps.h"
#include "fs-util.h"
#include "image-store.h"
#include "log.h"
#include "seccomp-profile.h"
#include "shim-proto.h"
#include "strv.h"

_Static_assert(BL_EXEC_REQUEST_MAX <= BL_WIRE_MAX_MSG, "an exec request must fit in a message");

#define _cleanup_json_ _cleanup_(json_decrefp)
#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

BOXLITE_API void boxlite_box_opts_init(boxlite_box_opts *opts)
{
    *opts = (boxlite_box_opts) BOXLITE_BOX_OPTS_INIT;
}

BOXLITE_API void boxlite_exec_opts_init(boxlite_exec_opts *opts)
{
    *opts = (boxlite_exec_opts){.version = BOXLITE_EXEC_OPTS_VERSION, .stdio = {-1, -1, -1}};
}

static void box_stdio_free(struct box_stdio *s);

void bl_box_free(struct boxlite_box *b)
{
    if (!b)
        return;
    bl_proc_kill_and_reap(&b->shim);
    box_stdio_free(b->stdio);
    (void) bl_close(b->chan_fd);
    (void) bl_close(b->tty_master);
    free(b->log_path);
    (void) bl_close(b->dir_fd);
    (void) bl_close(b->lock_fd);
    json_decref(b->config);
    free(b->id);
    free(b->name);
    free(b->status);
    free(b);
}

BOXLITE_API void boxlite_box_free(boxlite_box *box)
{
    bl_box_free(box);
}

BOXLITE_API void boxlite_box_list_free(boxlite_box **list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        bl_box_free(list[i]);
    free(list);
}

BOXLITE_API const char *boxlite_box_id(const boxlite_box *b)
{
    return b->id;
}
BOXLITE_API const char *boxlite_box_name(const boxlite_box *b)
{
    return b->name ? b->name : "";
}
BOXLITE_API const char *boxlite_box_image(const boxlite_box *b)
{
    const char *s = json_string_value(json_object_get(b->config, "image"));
    return s ? s : "";
}
BOXLITE_API const char *boxlite_box_status(const boxlite_box *b)
{
    return b->status;
}
BOXLITE_API int64_t boxlite_box_created_ns(const boxlite_box *b)
{
    return b->created_ns;
}
BOXLITE_API int boxlite_box_pid(const boxlite_box *b)
{
    return b->pid;
}
BOXLITE_API int boxlite_box_exit_code(const boxlite_box *b)
{
    return b->exit_code;
}
BOXLITE_API int boxlite_box_has_user_command(const boxlite_box *b)
{
    return json_is_true(json_object_get(b->config, "user_command"));
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

/* ---- loading records ---- */

#define BOX_COLUMNS "id, name, created_at, config, status, pid, exit_code"

static int box_from_row(struct boxlite_runtime *rt, sqlite3_stmt *st, struct boxlite_box **ret,
                        bl_error **err)
{
    _cleanup_(bl_box_freep) struct boxlite_box *b = bl_calloc(1, sizeof(*b));
    if (!b)
        return bl_oom(err);
    b->dir_fd = b->lock_fd = b->chan_fd = b->tty_master = b->io_in = b->io_out = -1;
    b->shim = BL_PROC_NULL;
    const char *name = bl_stmt_text(st, 1);
    b->id = bl_strdup(bl_stmt_text(st, 0));
    b->name = name ? bl_strdup(name) : NULL;
    b->status = bl_strdup(bl_stmt_text(st, 4));
    if (!b->id || !b->status || (name && !b->name))
        return bl_oom(err);
    b->created_ns = sqlite3_column_int64(st, 2);
    b->pid = sqlite3_column_int(st, 5);
    b->exit_code = sqlite3_column_int(st, 6);
    b->config = json_loads(bl_stmt_text(st, 3), 0, NULL);
    if (!b->config)
        return bl_err(err, -EBADMSG, "box %s has a corrupt record", b->id);
    b->dir_fd = openat(rt->boxes_fd, b->id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (b->dir_fd < 0)
        return bl_err_errno(err, "cannot open the directory of box %s", b->id);
    *ret = TAKE_PTR(b);
    return 0;
}

static int reload(struct boxlite_runtime *rt, struct boxlite_box *b, bl_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = bl_store_prepare(rt->store, "SELECT status, pid, exit_code FROM boxes WHERE id = ?",
                             &st, err);
    if (r < 0)
        return r;
    bl_stmt_bind_text(st, 1, b->id);
    if (sqlite3_step(st) != SQLITE_ROW)
        return bl_err(err, -ENOENT, "box not found: %s", b->id);
    char *s = bl_strdup(bl_stmt_text(st, 0));
    if (!s)
        return bl_oom(err);
    free(b->status);
    b->status = s;
    b->pid = sqlite3_column_int(st, 1);
    b->exit_code = sqlite3_column_int(st, 2);
    return 0;
}

BOXLITE_API int boxlite_box_lookup(boxlite_runtime *rt, const char *arg, boxlite_box **ret_box,
                                   boxlite_error **err)
{
    if (!rt || !arg || !ret_box)
        return bl_err(err, -EINVAL, "invalid arguments");
    static const char *const queries[] = {
        "SELECT " BOX_COLUMNS " FROM boxes WHERE id = ?1",
        "SELECT " BOX_COLUMNS " FROM boxes WHERE name = ?1",
        "SELECT " BOX_COLUMNS " FROM boxes WHERE substr(id, 1, length(?1)) = ?1 ORDER BY id",
    };
    for (size_t q = 0; q < ELEMENTSOF(queries); q++) {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        int r = bl_store_prepare(rt->store, queries[q], &st, err);
        if (r < 0)
            return r;
        bl_stmt_bind_text(st, 1, arg);
        if (sqlite3_step(st) != SQLITE_ROW)
            continue;
        _cleanup_(bl_box_freep) struct boxlite_box *b = NULL;
        r = box_from_row(rt, st, &b, err);
        if (r < 0)
            return r;
        if (q == 2 && sqlite3_step(st) == SQLITE_ROW) {
            _cleanup_free_ char *ids = bl_asprintf("%s, %s", b->id, bl_stmt_text(st, 0));
            return bl_err(err, -EINVAL,
                          "invalid argument: multiple boxes match prefix '%s': [%s%s]", arg,
                          ids ? ids : "", sqlite3_step(st) == SQLITE_ROW ? ", ..." : "");
        }
        *ret_box = TAKE_PTR(b);
        return 0;
    }
    return bl_err(err, -ENOENT, "No such box: %s", arg);
}

BOXLITE_API int boxlite_box_list(boxlite_runtime *rt, int all, boxlite_box ***ret_list,
                                 size_t *ret_n, boxlite_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = bl_store_prepare(rt->store,
                             all ? "SELECT " BOX_COLUMNS " FROM boxes ORDER BY created_at DESC"
                                 : "SELECT " BOX_COLUMNS " FROM boxes WHERE status = 'running' "
                                   "ORDER BY created_at DESC",
                             &st, err);
    if (r < 0)
        return r;
    boxlite_box **v = NULL;
    size_t n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        boxlite_box **nv = bl_realloc(v, (n + 1) * sizeof(*nv));
        if (!nv) {
            boxlite_box_list_free(v, n);
            return bl_oom(err);
        }
        v = nv;
        r = box_from_row(rt, st, &v[n], err);
        if (r == -ENOENT || (r < 0 && err && *err && (*err)->code == -ENOENT)) {
            /* its directory vanished under us (removed concurrently): skip it */
            continue;
        }
        if (r < 0) {
            boxlite_box_list_free(v, n);
            return r;
        }
        n++;
    }
    if (rc != SQLITE_DONE) {
        boxlite_box_list_free(v, n);
        return bl_store_err(rt->store, err, "list boxes");
    }
    *ret_list = v;
    *ret_n = n;
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

/* Env with overrides: a later K=V replaces an earlier K. */
static int env_set(json_t *env, const char *kv)
{
    const char *eq = strchr(kv, '=');
    size_t klen = eq ? (size_t) (eq - kv) : strlen(kv);
    size_t i;
    json_t *e;
    json_array_foreach(env, i, e) {
        const char *s = json_string_value(e);
        if (s && !strncmp(s, kv, klen) && (s[klen] == '=' || s[klen] == 0))
            return json_array_set_new(env, i, json_string(kv));
    }
    return json_array_append_new(env, json_string(kv));
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
static void remove_anonymous_volumes(struct boxlite_runtime *rt, json_t *volumes)
{
    size_t i;
    json_t *v;
    json_array_foreach(volumes, i, v)
        if (json_is_true(json_object_get(v, "anonymous")))
            bl_volume_remove_anonymous(rt, json_string_value(json_object_get(v, "source")));
}
static void undo_volumes(struct undo_volumes *u)
{
    if (u->rt)
        remove_anonymous_volumes(u->rt, u->volumes);
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
    if (json_object_set_new(cfg, "memory_mib", mem < 0 ? json_null()
                                                         : json_integer(mem ? mem : 1024)) < 0 ||
        json_object_set_new(cfg, "memory_explicit", json_boolean(mem != 0)) < 0 ||
        json_object_set_new(cfg, "cpus", cpus < 0 ? json_null()
                                                  : json_real(cpus > 0 ? (double) millis / 1000
                                                                       : 1.0)) < 0 ||
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

BOXLITE_API int boxlite_box_create(boxlite_runtime *rt, const boxlite_box_opts *o,
                                   boxlite_box **ret_box, boxlite_error **err)
{
    if (!rt || !o || !ret_box || (!o->image && !o->rootfs) || (o->image && o->rootfs))
        return bl_err(err, -EINVAL, "provide IMAGE or --rootfs PATH");
    /* before anything is pulled or made: a name is a path component, printed back, stored */
    if (bl_box_name_check(o->name, err) < 0)
        return -EINVAL;
    bl_cgroup_warm(rt); /* a start usually follows: overlap the kernel's wait with our work */
    _cleanup_json_ json_t *cfg = json_object(), *env = json_array(), *args = json_array(),
                          *layers = json_array();
    if (!cfg || !env || !args || !layers)
        return bl_oom(err);
    _cleanup_free_ char *image_id = NULL, *display = NULL;
    json_t *icfg = NULL; /* borrowed from image_config */
    _cleanup_json_ json_t *image_config = NULL;
    int r;
    if (o->image) {
        /* an image that is not here yet is pulled (this may block on the network: no lock or
         * transaction is held yet) */
        r = bl_image_ensure(rt, o->image, &image_id, err);
        if (r < 0)
            return r;
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
    json_array_foreach(json_object_get(icfg, "Env"), i, e)
        if (json_is_string(e))
            env_set(env, json_string_value(e));
    int has_path = 0;
    json_array_foreach(env, i, e)
        has_path |= !strncmp(json_string_value(e), "PATH=", 5);
    if (!has_path)
        env_set(env, DEFAULT_PATH);
    for (const char *const *p = o->env; p && *p; p++)
        env_set(env, *p);
    size_t env_bytes = 0;
    json_array_foreach(env, i, e)
        env_bytes += strlen(json_string_value(e)) + 1;
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
        json_array_foreach(json_object_get(icfg, "Entrypoint"), i, e)
            json_array_append(args, e);
    }
    if (o->cmd && o->cmd[0])
        json_strv_append(args, o->cmd);
    else if (!o->entrypoint)
        json_array_foreach(json_object_get(icfg, "Cmd"), i, e)
            json_array_append(args, e);
    const char *wd = o->workdir ? o->workdir : json_string_value(json_object_get(icfg, "WorkingDir"));
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
    _cleanup_(bl_box_freep) struct boxlite_box *b = bl_calloc(1, sizeof(*b));
    if (!b)
        return bl_oom(err);
    b->lock_fd = b->chan_fd = b->tty_master = b->io_in = b->io_out = -1;
    b->shim = BL_PROC_NULL;
    /* (the fd stays the box's directory when it moves into boxes/) */
    b->dir_fd = openat(stage.fd, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (b->dir_fd < 0)
        return bl_err_errno(err, "cannot open box directory");
    b->lock_fd = openat(b->dir_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (b->lock_fd < 0 || flock(b->lock_fd, LOCK_EX) < 0)
        return bl_err_errno(err, "cannot lock box");
    static const char *const dirs[] = {"rootfs", "rootfs/upper", "rootfs/work", "rootfs/merged",
                                       "logs", NULL};
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
    json_array_foreach(layers, i, e) {
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

/* ---- status updates and removal ---- */

static int set_status(struct boxlite_runtime *rt, struct boxlite_box *b, const char *status,
                      int pid, int exit_code, int set_exit, bl_error **err)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    int r = bl_store_prepare(rt->store,
                             set_exit ? "UPDATE boxes SET status = ?, pid = ?, exit_code = ? "
                                        "WHERE id = ?"
                                      : "UPDATE boxes SET status = ?, pid = ? WHERE id = ?",
                             &st, err);
    if (r < 0)
        return r;
    bl_stmt_bind_text(st, 1, status);
    sqlite3_bind_int(st, 2, pid);
    if (set_exit)
        sqlite3_bind_int(st, 3, exit_code);
    bl_stmt_bind_text(st, set_exit ? 4 : 3, b ? b->id : "");
    if (sqlite3_step(st) != SQLITE_DONE)
        return bl_store_err(rt->store, err, "update box");
    char *s = bl_strdup(status);
    if (s) {
        free(b->status);
        b->status = s;
    }
    b->pid = pid;
    if (set_exit)
        b->exit_code = exit_code;
    return 0;
}

/* Delete record and directory, and the box's anonymous volumes. The caller made sure no shim
 * runs. */
/* A box directory moved out of boxes/, moved back unless the move was committed. */
struct box_move {
    int from_fd, to_fd;
    const char *name;
    bool moved;
};
static void undo_box_move(struct box_move *m)
{
    if (m->moved)
        (void) renameat(m->to_fd, m->name, m->from_fd, m->name);
}

static int delete_box(struct boxlite_runtime *rt, const char *id, bl_error **err)
{
    {
        _cleanup_stmt_ sqlite3_stmt *q = NULL;
        if (bl_store_prepare(rt->store, "SELECT config FROM boxes WHERE id = ?", &q, NULL) == 0) {
            bl_stmt_bind_text(q, 1, id);
            if (sqlite3_step(q) == SQLITE_ROW) {
                _cleanup_json_ json_t *cfg = json_loads(bl_stmt_text(q, 0), 0, NULL);
                remove_anonymous_volumes(rt, json_object_get(cfg, "volumes"));
            }
        }
    }
    /* The directory leaves boxes/ for a locked staging directory inside the transaction that
     * deletes the row, and is removed after the commit (bl_stage_done): a process killed
     * half-way through the removal (a big upper directory takes a while) leaves a staging
     * directory that the next open's sweep removes, never a box directory without a row, which
     * nothing would ever look at again (found by the soak, tests/soak). */
    _cleanup_stage_ struct bl_stage gone = BL_STAGE_NULL;
    int r = bl_stage_new(rt, "rm", &gone, err);
    if (r < 0)
        return r;
    _cleanup_txn_ struct bl_txn txn = BL_TXN_NULL;
    r = bl_txn_begin(rt->store, &txn, err);
    if (r < 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *a = NULL, *b = NULL;
    if ((r = bl_store_prepare(rt->store, "DELETE FROM box_layers WHERE box_id = ?", &a, err)) < 0 ||
        (r = bl_store_prepare(rt->store, "DELETE FROM boxes WHERE id = ?", &b, err)) < 0)
        return r;
    bl_stmt_bind_text(a, 1, id);
    bl_stmt_bind_text(b, 1, id);
    if (sqlite3_step(a) != SQLITE_DONE || sqlite3_step(b) != SQLITE_DONE)
        return bl_store_err(rt->store, err, "delete box");
    _cleanup_(undo_box_move) struct box_move moved = {
        .from_fd = rt->boxes_fd, .to_fd = gone.fd, .name = id, .moved = false};
    if (renameat(rt->boxes_fd, id, gone.fd, id) == 0)
        moved.moved = true;
    else if (errno != ENOENT)
        return bl_err_errno(err, "cannot remove the directory of box %s", id);
    r = bl_txn_commit(&txn, err);
    if (r < 0)
        return r; /* (the directory goes back) */
    moved.moved = false;
    return 0;
}

int bl_lock_held(int dir_fd, const char *name)
{
    _cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0)
        return errno == EWOULDBLOCK;
    return 0;
}

static int read_exit_code(int dir_fd)
{
    _cleanup_free_ char *buf = NULL;
    if (bl_read_file_at(dir_fd, "exit.json", 4096, &buf, NULL, NULL) < 0)
        return -1;
    json_t *j = json_loads(buf, 0, NULL);
    int code = json_is_integer(json_object_get(j, "exit_code"))
                   ? (int) json_integer_value(json_object_get(j, "exit_code"))
                   : -1;
    json_decref(j);
    return code;
}

/* Remove what a dead shim could not: the box's cgroups (killing anything still in them). */
static int cgroup_cleanup_at(const char *root, const char *id);

/* Remove what a dead shim could not: the box's cgroups in every hierarchy (pure cgroup v2 at
 * /sys/fs/cgroup, or each v1 controller and the unified mount below it), killing anything
 * still in them. The hierarchies are listed, not assumed: the shim may use any controller. */
static int cgroup_cleanup_path(const char *path);

/* Without root, the shim's delegated cgroups (below its own cgroup) are listed in the box's
 * `cgroups` file: only leaves of this box under /sys/fs/cgroup are taken from it. */
static int cgroup_cleanup_recorded(struct boxlite_runtime *rt, const char *id)
{
    char rel[64];
    snprintf(rel, sizeof(rel), "%s/cgroups", id);
    _cleanup_free_ char *list = NULL;
    int left = 0;
    if (bl_read_file_at(rt->boxes_fd, rel, 1 << 16, &list, NULL, NULL) < 0)
        return 0;
    char leaf[64];
    snprintf(leaf, sizeof(leaf), "/boxlite-%s", id);
    for (char *line = list; *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        size_t n = strlen(line), k = strlen(leaf);
        if (!strncmp(line, "/sys/fs/cgroup/", 15) && !strstr(line, "/..") && n > k &&
            !strcmp(line + n - k, leaf))
            left += cgroup_cleanup_path(line);
        if (!nl)
            break;
        line = nl + 1;
    }
    return left;
}

/* Remove the box's cgroups; returns how many are still there (tasks that would not die in
 * time: the caller keeps the box's record so that the next open tries again). */
static int cgroup_cleanup(struct boxlite_runtime *rt, const char *id)
{
    int left = 0;
    if (geteuid() != 0)
        left += cgroup_cleanup_recorded(rt, id);
    left += cgroup_cleanup_at("/sys/fs/cgroup", id);
    DIR *d = opendir("/sys/fs/cgroup");
    if (!d)
        return left;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || !strncmp(de->d_name, "boxlite-", 8) ||
            de->d_type != DT_DIR)
            continue;
        char root[300];
        snprintf(root, sizeof(root), "/sys/fs/cgroup/%s", de->d_name);
        left += cgroup_cleanup_at(root, id);
    }
    closedir(d);
    return left;
}

static int cgroup_cleanup_at(const char *root, const char *id)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/boxlite-%s", root, id);
    return cgroup_cleanup_path(path);
}

/* 0 when path is gone, 1 when it is still there after the bounded wait. */
static int cgroup_cleanup_path(const char *path)
{
    if (rmdir(path) == 0 || errno == ENOENT || errno == ENOTDIR)
        return 0;
    char f[512];
    snprintf(f, sizeof(f), "%s/cgroup.kill", path);
    _cleanup_close_ int kfd = open(f, O_WRONLY | O_CLOEXEC);
    if (kfd >= 0)
        (void) !write(kfd, "1", 1);
    for (int tries = 0; tries < 200 && rmdir(path) < 0 && errno == EBUSY; tries++) {
        snprintf(f, sizeof(f), "%s/cgroup.procs", path);
        _cleanup_free_ char *procs = NULL;
        if (bl_read_file_at(AT_FDCWD, f, 1 << 20, &procs, NULL, NULL) == 0)
            for (char *p = procs; *p;) {
                char *end;
                long pid = strtol(p, &end, 10); /* NOLINT: kernel-written list */
                if (end == p)
                    break;
                if (pid > 0) {
                    struct bl_proc victim = {.pid = (pid_t) pid, .pidfd = -1};
                    (void) bl_proc_signal(&victim, SIGKILL);
                }
                p = *end ? end + 1 : end;
            }
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL); /* bounded wait for the kernel to empty the cgroup */
    }
    if (rmdir(path) == 0 || errno == ENOENT)
        return 0;
    bl_debug("cgroup '%s' is still busy: left for the next open", path);
    return 1;
}

static bool box_row_exists(struct boxlite_runtime *rt, const char *id)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    if (bl_store_prepare(rt->store, "SELECT 1 FROM boxes WHERE id = ?", &st, NULL) < 0)
        return true; /* cannot tell: keep */
    bl_stmt_bind_text(st, 1, id);
    return sqlite3_step(st) != SQLITE_DONE;
}

/* The staging directories of box creations ("box-<id>-*", see boxlite_box_create) whose creator
 * is gone: a creator killed after it moved the box's directory into boxes/ but before its row
 * was committed left a directory no row names; it goes, through the stage, with the stage. */
static void recover_box_stages(struct boxlite_runtime *rt)
{
    _cleanup_close_ int fd = fcntl(rt->tmp_fd, F_DUPFD_CLOEXEC, 3);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d)
        return;
    TAKE_FD(fd);
    rewinddir(d); /* (a dup shares the offset that recover_tmp's listing left at the end) */
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        if (strncmp(n, "box-", 4) != 0 || strlen(n) < 4 + 12 + 1 || n[4 + 12] != '-')
            continue;
        _cleanup_close_ int sfd =
            openat(rt->tmp_fd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sfd < 0 || flock(sfd, LOCK_EX | LOCK_NB) < 0)
            continue; /* (not a directory, or its creator lives) */
        char id[13];
        memcpy(id, n + 4, 12);
        id[12] = 0;
        _cleanup_close_ int dfd = openat(rt->boxes_fd, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0 && !bl_lock_held(dfd, "shim.lock") && !bl_lock_held(dfd, "lock") &&
            !box_row_exists(rt, id)) {
            bl_debug("recovery: removing the directory of box %s, never created", id);
            (void) renameat(rt->boxes_fd, id, sfd, id);
        }
        (void) bl_rm_tree(rt, rt->tmp_fd, n);
    }
    closedir(d);
}

void bl_box_recover(struct boxlite_runtime *rt)
{
    recover_box_stages(rt);
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    if (bl_store_prepare(rt->store,
                         "SELECT id, status, json_extract(config, '$.auto_remove') FROM boxes "
                         "WHERE status IN ('running', 'configured') OR "
                         "json_extract(config, '$.auto_remove')",
                         &st, NULL) < 0)
        return;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *id = bl_stmt_text(st, 0);
        const char *status = bl_stmt_text(st, 1);
        int auto_remove = sqlite3_column_int(st, 2);
        _cleanup_close_ int dfd = openat(rt->boxes_fd, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0 && (bl_lock_held(dfd, "shim.lock") || bl_lock_held(dfd, "lock")))
            continue; /* alive, or owned by a live process */
        /* A first start whose client was killed before it recorded 'running' (the shim was
         * up, saw its client go and stopped the box): only its exit.json tells. */
        bool ran = !strcmp(status, "configured") && dfd >= 0 && read_exit_code(dfd) >= 0;
        if (!strcmp(status, "configured") && !ran && !auto_remove)
            continue;
        /* a shim killed with SIGKILL could not remove them; while one is left (its tasks
         * still dying), a --rm box's record stays for the next open to try again (another box
         * has its next start or its rm for that) */
        if (cgroup_cleanup(rt, id) > 0 && auto_remove && dfd >= 0)
            continue;
        if (auto_remove || dfd < 0) {
            bl_debug("recovery: removing stale box %s", id);
            (void) delete_box(rt, id, NULL);
            continue;
        }
        if (!strcmp(status, "running") || ran) {
            int code = read_exit_code(dfd);
            bl_debug("recovery: box %s is no longer running (exit %d)", id, code);
            _cleanup_stmt_ sqlite3_stmt *up = NULL;
            if (bl_store_prepare(rt->store,
                                 "UPDATE boxes SET status = 'stopped', pid = 0, exit_code = "
                                 "CASE WHEN ?2 >= 0 THEN ?2 ELSE exit_code END WHERE id = ?1",
                                 &up, NULL) == 0) {
                bl_stmt_bind_text(up, 1, id);
                sqlite3_bind_int(up, 2, code);
                (void) sqlite3_step(up);
            }
            (void) unlinkat(dfd, "shim.pid", 0);
            (void) unlinkat(dfd, "shim.sock", 0);
        }
    }
}

/* ---- starting: the shim ---- */

int bl_shim_path(char **ret, bl_error **err)
{
    const char *env = getenv("BOXLITE_SHIM");
    if (env && *env) {
        *ret = bl_strdup(env);
        return *ret ? 0 : bl_oom(err);
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = 0;
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = 0;
            char *p = bl_asprintf("%s/boxlite-shim", self);
            if (!p)
                return bl_oom(err);
            if (access(p, X_OK) == 0) {
                *ret = p;
                return 0;
            }
            free(p);
        }
    }
#ifdef BOXLITE_SHIM_PATH
    if (access(BOXLITE_SHIM_PATH, X_OK) == 0) {
        *ret = bl_strdup(BOXLITE_SHIM_PATH);
        return *ret ? 0 : bl_oom(err);
    }
#endif
    return bl_err(err, -ENOENT, "cannot find boxlite-shim (set BOXLITE_SHIM)");
}

/* box-net.c names its keys: an unknown one fails the write (bl_conf_put_name). */
static void conf_put_cb(void *c, const char *k, const char *v)
{
    bl_conf_put_name(c, k, v);
}

static size_t path_depth(const char *p)
{
    size_t n = 0;
    for (; *p; p++)
        n += *p == '/' && p[1] && p[1] != '/';
    return n;
}

/* Volumes, parents before children (a volume inside another one is mounted on top of it). */
static void conf_put_volumes(struct bl_conf_buf *c, json_t *volumes)
{
    size_t n = json_array_size(volumes);
    for (size_t depth = 0, done = 0; done < n && depth < 4096; depth++) {
        size_t i;
        json_t *v;
        json_array_foreach(volumes, i, v) {
            const char *target = json_string_value(json_object_get(v, "target"));
            const char *source = json_string_value(json_object_get(v, "source"));
            if (!target || !source || path_depth(target) != depth)
                continue;
            bl_conf_put(c, BL_CONF_volume, source);
            bl_conf_put(c, BL_CONF_volume_target, target);
            bl_conf_put(c, BL_CONF_volume_ro, json_is_true(json_object_get(v, "ro")) ? "1" : "0");
            done++;
        }
    }
}

/* Resource limits; a default one (not asked for) is marked best effort with '~'. Records made
 * before limits existed get the defaults. */
static void conf_put_limits(struct bl_conf_buf *c, json_t *cfg)
{
    char v[64];
    json_t *mem = json_object_get(cfg, "memory_mib");
    int mem_soft = !json_is_true(json_object_get(cfg, "memory_explicit"));
    if (!mem || json_is_integer(mem)) {
        long long mib = mem ? (long long) json_integer_value(mem) : 1024;
        snprintf(v, sizeof(v), "%s%lld", mem_soft ? "~" : "", mib * 1024 * 1024);
        bl_conf_put(c, BL_CONF_memory, v);
    }
    json_t *cpus = json_object_get(cfg, "cpus");
    int cpus_soft = !json_is_true(json_object_get(cfg, "cpus_explicit"));
    if (!cpus || json_is_number(cpus)) {
        long long millis = cpus ? (long long) (json_number_value(cpus) * 1000 + 0.5) : 1000;
        snprintf(v, sizeof(v), "%s%lld", cpus_soft ? "~" : "", millis);
        bl_conf_put(c, BL_CONF_cpus, v);
    }
    json_int_t pids = json_integer_value(json_object_get(cfg, "pids_limit"));
    if (pids > 0) {
        snprintf(v, sizeof(v), "%lld", (long long) pids);
        bl_conf_put(c, BL_CONF_pids, v);
    }
}

/* `stdio` set: this start's client holds the box (a foreground run); otherwise the box runs on
 * its own, whatever the box was created as (a stopped `run` box restarted by `start`). */
int bl_box_write_shim_conf(struct boxlite_runtime *rt, struct boxlite_box *b, const int *stdio,
                           bl_error **err)
{
    int attached = stdio != NULL;
    _cleanup_(bl_conf_buf_done) struct bl_conf_buf c = BL_CONF_BUF_NULL;
    _cleanup_free_ char *box_dir = bl_asprintf("%s/boxes/%s", rt->home, b->id);
    if (!box_dir)
        return bl_oom(err);
    json_t *cfg = b->config;
    bl_conf_put(&c, BL_CONF_id, b->id);
    bl_conf_put(&c, BL_CONF_hostname, b->id);
    size_t i;
    json_t *e;
    const char *rootfs = json_string_value(json_object_get(cfg, "rootfs"));
    if (rootfs)
        bl_conf_put(&c, BL_CONF_layer, rootfs);
    json_array_foreach(json_object_get(cfg, "layers"), i, e) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/images/layers/%s", rt->home,
                 bl_digest_hex(json_string_value(e)));
        bl_conf_put(&c, BL_CONF_layer, p);
    }
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/rootfs/upper", box_dir);
    bl_conf_put(&c, BL_CONF_upper, p);
    snprintf(p, sizeof(p), "%s/rootfs/work", box_dir);
    bl_conf_put(&c, BL_CONF_work, p);
    snprintf(p, sizeof(p), "%s/rootfs/merged", box_dir);
    bl_conf_put(&c, BL_CONF_merged, p);
    json_array_foreach(json_object_get(cfg, "args"), i, e)
        bl_conf_put(&c, BL_CONF_arg, json_string_value(e));
    json_array_foreach(json_object_get(cfg, "env"), i, e)
        bl_conf_put(&c, BL_CONF_env, json_string_value(e));
    bl_conf_put(&c, BL_CONF_cwd, json_string_value(json_object_get(cfg, "workdir")));
    bl_conf_put(&c, BL_CONF_user, json_string_value(json_object_get(cfg, "user")));
    const char *caps = json_string_value(json_object_get(cfg, "caps"));
    bl_conf_put(&c, BL_CONF_caps, caps);
    _cleanup_free_ char *cache = bl_asprintf("%s/cache", rt->home);
    _cleanup_free_ char *bpf = NULL;
    if (!cache)
        return bl_oom(err);
    int r = bl_seccomp_profile(cache, strtoull(caps, NULL, 16), &bpf, err); /* NOLINT */
    if (r < 0)
        return r;
    bl_conf_put(&c, BL_CONF_seccomp, bpf);
    bl_conf_put(&c, BL_CONF_init, json_is_true(json_object_get(cfg, "init")) ? "1" : "0");
    bl_conf_put(&c, BL_CONF_detach, attached ? "0" : "1");
    conf_put_limits(&c, cfg);
    conf_put_volumes(&c, json_object_get(cfg, "volumes"));
    /* size at which logs/console.log rotates (the shim's default: 8 MiB) */
    const char *log_max = getenv("BOXLITE_LOG_MAX_BYTES");
    if (log_max && *log_max && strspn(log_max, "0123456789") == strlen(log_max))
        bl_conf_put(&c, BL_CONF_log_max, log_max);
    if (attached && json_is_true(json_object_get(cfg, "tty"))) {
        bl_conf_put(&c, BL_CONF_tty, "1");
        struct winsize ws;
        if (ioctl(stdio[0], TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
            char n[16];
            snprintf(n, sizeof(n), "%u", ws.ws_row);
            bl_conf_put(&c, BL_CONF_tty_rows, n);
            snprintf(n, sizeof(n), "%u", ws.ws_col);
            bl_conf_put(&c, BL_CONF_tty_cols, n);
        }
    }
    char cg[64];
    snprintf(cg, sizeof(cg), "boxlite-%s", b->id);
    bl_conf_put(&c, BL_CONF_cgroup, cg);
    if (rt->idmap.range) {
        _cleanup_free_ char *spec = bl_idmap_spec(&rt->idmap);
        if (!spec)
            return bl_oom(err);
        bl_conf_put(&c, BL_CONF_idmap, spec);
        bl_conf_put(&c, BL_CONF_newuidmap, rt->idmap.newuidmap);
        bl_conf_put(&c, BL_CONF_newgidmap, rt->idmap.newgidmap);
    }
    r = bl_box_net_shim_conf(cfg, conf_put_cb, &c, err);
    if (r < 0)
        return r;
    if (c.err == -ENOMEM)
        return bl_oom(err);
    if (c.err < 0)
        return bl_err(err, c.err, "box %s: a value of shim.conf is missing or malformed", b->id);
    return bl_write_file_atomic_at(b->dir_fd, "shim.conf", c.data, c.len, 0600, err);
}

/* ---- a pty between the caller's fds and the box ---------------------------------------- */

/* Copies `in` to the master and the master to `out`. The end of `in` becomes the terminal's EOF
 * character when `in` is a pipe; when it is a terminal, it was hung up, and so is the box's
 * terminal: every master copy is closed (ours here, the shim's on a "hangup" request), so the
 * box's processes read EOF and get SIGHUP, whatever mode their terminal is in (an EOF character
 * typed while a shell runs a command is lost when it goes back to raw mode). Between polls it
 * owns no thread: once the command has exited nothing reads `in` again, so a caller is never
 * stuck on its terminal's input. */
struct tty_pump {
    int in, out, master;
    int in_eof, master_done;
    int in_tty; /* `in` is a terminal (asked at the start: a hung-up one no longer says so) */
    int hangup; /* 1: `in` (a terminal) hung up, the shim is still to be told */
    char pending[4096];
    size_t len, off;
};

static void pump_init(struct tty_pump *p, int in, int out, int master)
{
    *p = (struct tty_pump){
        .in = in, .out = out, .master = master, .in_eof = in < 0, .in_tty = in >= 0 && isatty(in)};
    (void) fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
}

static void pump_out(struct tty_pump *p)
{
    char buf[16384];
    for (;;) {
        ssize_t n = read(p->master, buf, sizeof(buf));
        if (n > 0) {
            if (p->out >= 0)
                (void) bl_write_all(p->out, buf, (size_t) n); /* a closed output is ignored */
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || errno != EAGAIN)
            p->master_done = 1; /* EIO: every slave fd is closed */
        return;
    }
}

static void pump_in(struct tty_pump *p)
{
    ssize_t n;
    do
        n = read(p->in, p->pending, sizeof(p->pending));
    while (n < 0 && errno == EINTR);
    if (n > 0) {
        p->len = (size_t) n;
        p->off = 0;
        return;
    }
    p->in_eof = 1;
    if (p->in_tty) {
        p->hangup = 1;
        return;
    }
    /* EOF (or an error) on our side: the box's terminal reads an end of file */
    struct termios t;
    p->pending[0] = tcgetattr(p->master, &t) == 0 && t.c_cc[VEOF] ? (char) t.c_cc[VEOF] : 4;
    p->len = 1;
    p->off = 0;
    p->in_eof = 1;
}

static void pump_write(struct tty_pump *p)
{
    while (p->off < p->len) {
        ssize_t n = write(p->master, p->pending + p->off, p->len - p->off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            if (errno != EAGAIN)
                p->len = p->off = 0; /* the terminal is gone: drop the input */
            return;
        }
        p->off += (size_t) n;
    }
    p->len = p->off = 0;
}

/* One poll over the control socket, sigfd and the pty; returns the POLL* bits of ctl in the
 * low 16 bits and those of sigfd shifted by 16, or -errno. */
static int pump_step(struct tty_pump *p, int ctl, int sigfd)
{
    struct pollfd f[4] = {
        {.fd = ctl, .events = POLLIN},
        {.fd = sigfd, .events = POLLIN},
        {.fd = p->master_done ? -1 : p->master,
         .events = (short) (POLLIN | (p->len > p->off ? POLLOUT : 0))},
        {.fd = p->in_eof || p->len > p->off ? -1 : p->in, .events = POLLIN},
    };
    int n = poll(f, 4, -1);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    if (f[2].revents & (POLLIN | POLLHUP | POLLERR))
        pump_out(p);
    if (f[3].revents & (POLLIN | POLLHUP | POLLERR))
        pump_in(p);
    if (p->hangup == 1) {
        const char *h[] = {"hangup"};
        (void) bl_msg_send(ctl, h, 1, NULL, 0);
        /* our copy goes too, its number stays valid for its owner (/dev/null now) */
        _cleanup_close_ int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0)
            (void) dup3(null, p->master, O_CLOEXEC);
        p->master_done = 1;
        p->len = p->off = 0;
        p->hangup = 2;
    }
    if (!p->master_done && p->len > p->off)
        pump_write(p);
    return (f[0].revents & 0xffff) | (f[1].revents & 0xffff) << 16;
}

/* After the command's exit: the rest of its output, until every slave is closed (or a quiet
 * spell, when a background process of the box still holds the terminal). */
static void pump_drain(struct tty_pump *p, int quiet_ms)
{
    while (!p->master_done) {
        struct pollfd f = {.fd = p->master, .events = POLLIN};
        int n = poll(&f, 1, quiet_ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        pump_out(p);
    }
}

/* "resize", rows, cols of the terminal on fd, or -ENOTTY. */
static int winsize_fields(int fd, char rows[8], char cols[8])
{
    struct winsize ws;
    if (fd < 0 || ioctl(fd, TIOCGWINSZ, &ws) < 0 || !ws.ws_row || !ws.ws_col)
        return -ENOTTY;
    snprintf(rows, 8, "%u", ws.ws_row);
    snprintf(cols, 8, "%u", ws.ws_col);
    return 0;
}

static void send_resize(int sock, int term_fd)
{
    char rows[8], cols[8];
    if (winsize_fields(term_fd, rows, cols) < 0)
        return;
    const char *f[] = {"resize", rows, cols};
    (void) bl_msg_send(sock, f, 3, NULL, 0);
}

/* ---- the caller's stdio: handed to the box, or relayed ------------------------------------ */

/*
 * The box gets the caller's pipes, sockets and terminals as they are (and /dev/null): bytes
 * never pass through boxlite. Anything else (a regular file, a directory, a device other than
 * a terminal) is never handed to the box, because its processes could reopen it through
 * /proc/self/fd/N with more access than they were given: read what a `>>` log held before,
 * truncate it, write a `<` input, walk a directory. Such a stream goes through a pipe of its
 * own instead, copied here, on the caller's side, while the caller waits for the box: with
 * splice() for a regular file (no copy through user space; not into an O_APPEND file, which
 * splice refuses), with read/write for the rest. stdout and stderr on one file (`>>log 2>&1`)
 * share one pipe, so the file gets them in the order the box wrote them.
 *
 * A relay ends at the pipe's EOF (output), at the caller's EOF (input: our end closes, so the
 * box reads EOF), or when the other side fails: the box then sees a closed pipe (EPIPE), and
 * the caller never gets a SIGPIPE from us. When the command has exited, what it wrote and is
 * still in the pipe is copied (box_stdio_drain), and nothing after: a background process of the
 * box that keeps the pipe cannot hold the caller.
 */

#define RELAY_CHUNK (1 << 20) /* bytes per splice() */
#define RELAY_BUF 65536       /* bytes per read() */

struct relay {
    int pipe;        /* our end of the box's pipe (owned, O_NONBLOCK); -1 when ended */
    int caller;      /* the caller's fd (borrowed) */
    int input;       /* 1: caller → box (stdin); 0: box → caller */
    int use_splice;  /* the caller's fd is a regular file splice() takes */
    int caller_eof;  /* input: the caller's fd reached its end */
    size_t len, off; /* bytes of buf still to write */
    char *buf;       /* RELAY_BUF bytes, for read/write */
};

struct box_stdio {
    int box[3]; /* what the box gets: the caller's own fd (borrowed), a pipe end, or -1 */
    int own[3]; /* the box's pipe ends made here (owned until handed over) */
    struct relay r[3];
};

static void box_stdio_free(struct box_stdio *s)
{
    if (!s)
        return;
    for (int i = 0; i < 3; i++) {
        (void) bl_close(s->own[i]);
        (void) bl_close(s->r[i].pipe);
        free(s->r[i].buf);
    }
    free(s);
}
BL_DEFINE_CLEANUP_FUNC(struct box_stdio *, box_stdio_free)

/* Whether fd must not be handed to the box (-errno if it cannot be looked at). */
static int must_relay(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))
        return 0;
    if (S_ISCHR(st.st_mode) && (isatty(fd) || st.st_rdev == makedev(1, 3) /* /dev/null */))
        return 0;
    return 1;
}

static int relay_init(struct relay *r, int caller, int input, int *ret_box_end, bl_error **err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return bl_err_errno(err, "cannot create a pipe for the box's stdio");
    r->pipe = input ? p[1] : p[0];
    *ret_box_end = input ? p[0] : p[1];
    r->caller = caller;
    r->input = input;
    (void) fcntl(r->pipe, F_SETFL, O_NONBLOCK); /* our end only: the box's blocks as usual */
    struct stat st;
    int fl = fcntl(caller, F_GETFL);
    r->use_splice = fstat(caller, &st) == 0 && S_ISREG(st.st_mode) && fl >= 0 && !(fl & O_APPEND);
    r->buf = bl_malloc(RELAY_BUF);
    return r->buf ? 0 : bl_oom(err);
}

/* The fds for the box, made from the caller's (borrowed; -1 stays -1). On success *ret owns the
 * pipes; give the box s->box[], then call box_stdio_handed(). */
static int box_stdio_new(const int caller[3], struct box_stdio **ret, bl_error **err)
{
    static const char *const names[] = {"stdin", "stdout", "stderr"};
    _cleanup_(box_stdio_freep) struct box_stdio *s = bl_calloc(1, sizeof(*s));
    if (!s)
        return bl_oom(err);
    for (int i = 0; i < 3; i++) {
        s->box[i] = caller[i];
        s->own[i] = s->r[i].pipe = s->r[i].caller = -1;
    }
    for (int i = 0; i < 3; i++) {
        if (caller[i] < 0)
            continue;
        int r = must_relay(caller[i]);
        if (r < 0)
            return bl_err_code(err, r, "cannot look at fd %d given as the box's %s", caller[i],
                               names[i]);
        if (!r)
            continue;
        struct stat a, b;
        if (i == 2 && s->r[1].pipe >= 0 && fstat(caller[1], &a) == 0 && fstat(caller[2], &b) == 0 &&
            a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
            s->box[2] = s->box[1]; /* one file: one pipe, the box's order */
            continue;
        }
        r = relay_init(&s->r[i], caller[i], i == 0, &s->own[i], err);
        if (r < 0)
            return r;
        s->box[i] = s->own[i];
    }
    *ret = TAKE_PTR(s);
    return 0;
}

/* The box (the shim, or the exec request) holds its own copies now. */
static void box_stdio_handed(struct box_stdio *s)
{
    for (int i = 0; s && i < 3; i++)
        s->own[i] = bl_close(s->own[i]);
}

static int box_stdio_relays(const struct box_stdio *s)
{
    for (int i = 0; s && i < 3; i++)
        if (s->r[i].pipe >= 0)
            return 1;
    return 0;
}

static void relay_end(struct relay *r)
{
    r->pipe = bl_close(r->pipe);
    r->len = r->off = 0;
}

/* Box → caller, until the pipe is empty for now or `budget` bytes were taken from it; returns
 * the bytes taken (written, or pending in buf while the caller's fd would block). */
static size_t relay_out(struct relay *r, size_t budget)
{
    size_t took = 0;
    while (r->pipe >= 0) {
        ssize_t n;
        if (r->len > r->off) {
            n = write(r->caller, r->buf + r->off, r->len - r->off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == EAGAIN)
                return took; /* a non-blocking caller's fd: POLLOUT is waited for */
            if (n <= 0) {
                relay_end(r); /* the caller's side failed: the box gets EPIPE */
                return took;
            }
            r->off += (size_t) n;
            if (r->off == r->len)
                r->len = r->off = 0;
            continue;
        }
        if (budget == 0)
            return took;
        if (r->use_splice) {
            n = splice(r->pipe, NULL, r->caller, NULL, MIN(budget, (size_t) RELAY_CHUNK),
                       SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (n < 0 && errno == EINVAL) { /* a file splice() does not write to */
                r->use_splice = 0;
                continue;
            }
        } else {
            n = read(r->pipe, r->buf, MIN(budget, (size_t) RELAY_BUF));
            if (n > 0) {
                r->len = (size_t) n;
                r->off = 0;
            }
        }
        if (n > 0) {
            budget -= (size_t) n;
            took += (size_t) n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return took;
        relay_end(r); /* EOF: every writer in the box is gone (or an error) */
        return took;
    }
    return took;
}

/* SIGPIPE from a write into the box's stdin pipe (the box closed it) would hit the caller's
 * process: it is blocked in this thread meanwhile, and one we raised is taken back. */
struct sigpipe_guard {
    sigset_t old;
    int was_pending;
};

static void sigpipe_hold(struct sigpipe_guard *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    (void) pthread_sigmask(SIG_BLOCK, &set, &g->old);
    g->was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
}

static void sigpipe_release(struct sigpipe_guard *g, int raised)
{
    int saved = errno;
    if (raised && !g->was_pending) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        struct timespec zero = {0, 0};
        while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    (void) pthread_sigmask(SIG_SETMASK, &g->old, NULL);
    errno = saved;
}

/* Caller → box, until the pipe is full or the input ends (then the box reads EOF). */
static void relay_in(struct relay *r)
{
    struct sigpipe_guard g;
    int epipe = 0;
    sigpipe_hold(&g);
    while (r->pipe >= 0) {
        ssize_t n;
        if (r->len > r->off) {
            n = write(r->pipe, r->buf + r->off, r->len - r->off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == EAGAIN)
                break;
            if (n <= 0) {
                epipe |= errno == EPIPE;
                relay_end(r); /* the box closed its stdin */
                break;
            }
            r->off += (size_t) n;
            if (r->off == r->len)
                r->len = r->off = 0;
            continue;
        }
        if (r->caller_eof) {
            relay_end(r);
            break;
        }
        if (r->use_splice) {
            n = splice(r->caller, NULL, r->pipe, NULL, RELAY_CHUNK,
                       SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (n < 0 && errno == EINVAL) {
                r->use_splice = 0;
                continue;
            }
            if (n < 0 && errno == EPIPE) {
                epipe = 1;
                relay_end(r);
                break;
            }
        } else {
            n = read(r->caller, r->buf, RELAY_BUF);
            if (n > 0) {
                r->len = (size_t) n;
                r->off = 0;
            }
        }
        if (n > 0)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        /* the pipe is full (splice), or a non-blocking caller's fd is dry */
        if (n < 0 && errno == EAGAIN)
            break;
        /* EOF, or an input that cannot be read (a directory): the box's EOF too */
        r->caller_eof = 1;
    }
    sigpipe_release(&g, epipe);
}

/* The poll entry of relay r: the side it waits for. */
static struct pollfd relay_pollfd(const struct relay *r)
{
    if (r->pipe < 0)
        return (struct pollfd){.fd = -1};
    int pending = r->len > r->off;
    if (r->input)
        return pending || r->use_splice ? (struct pollfd){.fd = r->pipe, .events = POLLOUT}
                                        : (struct pollfd){.fd = r->caller, .events = POLLIN};
    return pending ? (struct pollfd){.fd = r->caller, .events = POLLOUT}
                   : (struct pollfd){.fd = r->pipe, .events = POLLIN};
}

/* One poll over ctl, sigfd (may be -1) and the relays of s (may be NULL), copying what is
 * ready; returns the revents of ctl in the low 16 bits and those of sigfd above, or -errno. */
static int box_stdio_step(struct box_stdio *s, int ctl, int sigfd)
{
    struct pollfd f[5] = {{.fd = ctl, .events = POLLIN}, {.fd = sigfd, .events = POLLIN}};
    for (int i = 0; i < 3; i++)
        f[2 + i] = s ? relay_pollfd(&s->r[i]) : (struct pollfd){.fd = -1};
    int n = poll(f, 5, -1);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < 3; i++) {
        if (!f[2 + i].revents)
            continue;
        if (s->r[i].input)
            relay_in(&s->r[i]);
        else
            relay_out(&s->r[i], 16 * (size_t) RELAY_CHUNK); /* then the control socket */
    }
    return (f[0].revents & 0xffff) | (f[1].revents & 0xffff) << 16;
}

/* The command has exited: copy what it left in the pipes, then end every relay. Whatever is
 * in a pipe now was written before the exit; later bytes come from processes that outlive it
 * (an exec's background job), which nothing waits for. */
static void box_stdio_drain(struct box_stdio *s)
{
    for (int i = 0; s && i < 3; i++) {
        struct relay *r = &s->r[i];
        int avail = 0;
        if (r->pipe >= 0 && !r->input && ioctl(r->pipe, FIONREAD, &avail) == 0 && avail > 0) {
            size_t left = (size_t) avail;
            while (r->pipe >= 0 && (left > 0 || r->len > r->off)) {
                size_t took = relay_out(r, left);
                left -= MIN(took, left);
                if (took > 0 || r->pipe < 0)
                    continue;
                if (r->len == r->off) /* the pipe is empty: nothing more to take */
                    break;
                /* the caller's fd would block: wait for it, but not for ever */
                struct pollfd f = relay_pollfd(r);
                if (poll(&f, 1, 10000) <= 0)
                    break;
            }
        }
        relay_end(r);
    }
}

static int parse_status(const char *s)
{
    char *end;
    long v = strtol(s ? s : "", &end, 10); /* NOLINT: protocol field */
    return (s && *s && !*end && v >= 0 && v <= 255 + 128) ? (int) v : 125;
}

int bl_shim_spawn(struct boxlite_runtime *rt, struct boxlite_box *b, const char *mode,
                  const int *stdio, int flags, struct bl_proc *ret_proc, int *ret_chan,
                  bl_error **err)
{
    _cleanup_free_ char *shim = NULL;
    int r = bl_shim_path(&shim, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *box_dir = bl_asprintf("%s/boxes/%s", rt->home, b->id);
    if (!box_dir)
        return bl_oom(err);
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
        return bl_err_errno(err, "cannot create socket pair");
    _cleanup_close_ int chan = sp[0], chan_child = sp[1];
    char *argv[4] = {shim, box_dir, NULL, NULL};
    if (mode) {
        argv[1] = (char *) mode;
        argv[2] = box_dir;
    }
    int fds[4] = {stdio ? stdio[0] : -1, stdio ? stdio[1] : -1, stdio ? stdio[2] : -1,
                  chan_child};
    _cleanup_proc_ struct bl_proc proc = BL_PROC_NULL;
    r = bl_proc_spawn(argv, fds, 4, flags, &proc, err);
    if (r < 0)
        return r;
    *ret_proc = TAKE_PROC(proc);
    *ret_chan = TAKE_FD(chan);
    return 0;
}

BOXLITE_API int boxlite_box_start(boxlite_runtime *rt, boxlite_box *b, const int *stdio,
                                  int *ret_status, boxlite_error **err)
{
    if (!rt || !b)
        return bl_err(err, -EINVAL, "invalid arguments");
    if (bl_lock_held(b->dir_fd, "shim.lock"))
        return stdio ? bl_err(err, -EBUSY, "box %s is already running", b->id) : 0;
    bl_cgroup_warm(rt);
    int attached = stdio != NULL;
    if (attached && json_is_true(json_object_get(b->config, "detach")))
        return bl_err(err, -EINVAL, "box %s is detached", b->id);
    if (b->lock_fd < 0) {
        b->lock_fd = openat(b->dir_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (b->lock_fd < 0 || flock(b->lock_fd, LOCK_EX) < 0)
            return bl_err_errno(err, "cannot lock box %s", b->id);
    }
    int r = bl_box_write_shim_conf(rt, b, stdio, err);
    if (r < 0)
        return r;
    /* PID 1's stdio: with a terminal, a pty of the box (we copy the caller's fds to and from
     * it), so the shim needs none of ours; else the caller's pipes, sockets and terminals, and
     * a relay for anything else */
    int tty = attached && json_is_true(json_object_get(b->config, "tty"));
    _cleanup_(box_stdio_freep) struct box_stdio *io = NULL;
    if (attached && !tty) {
        r = box_stdio_new(stdio, &io, err);
        if (r < 0)
            return r;
    }
    (void) unlinkat(b->dir_fd, "exit.json", 0);
    _cleanup_close_ int chan = -1;
    _cleanup_proc_ struct bl_proc proc = BL_PROC_NULL;
    r = bl_shim_spawn(rt, b, NULL, io ? io->box : NULL, attached ? 0 : BL_SPAWN_DETACH, &proc,
                      &chan, err);
    if (r < 0)
        return r;
    box_stdio_handed(io);
    _cleanup_(bl_msg_freep) struct bl_msg *msg = bl_msg_new();
    if (!msg)
        return bl_oom(err);
    r = bl_msg_recv(chan, msg);
    if (r < 0 || msg->n < 1) {
        if (proc.pid > 0)
            (void) bl_proc_wait(&proc);
        cgroup_cleanup(rt, b->id);
        if (ret_status)
            *ret_status = 125;
        return bl_err(err, -EIO, "box %s: the shim exited before starting the box", b->id);
    }
    if (!strcmp(msg->field[0], "error")) {
        int status = parse_status(msg->n > 1 ? msg->field[1] : NULL);
        if (ret_status)
            *ret_status = status;
        if (proc.pid > 0)
            (void) bl_proc_wait(&proc);
        (void) set_status(rt, b, json_is_true(json_object_get(b->config, "user_command"))
                                     ? "stopped"
                                     : b->status,
                          0, status, 1, NULL);
        /* 125: the box's process could not be set up (its working directory, user, mounts):
         * upstream's words for that, which scripts grep for (spec/cli.md §4.2) */
        const char *why = msg->n > 2 && *msg->field[2] ? msg->field[2] : "cannot start the box";
        if (status == 125)
            return bl_err(err, -EIO, "Failed to create container: %s", why);
        return bl_err(err, status == 127 ? -ENOENT : -EACCES, "%s", why);
    }
    if (strcmp(msg->field[0], "started") != 0 || msg->n < 2)
        return bl_err(err, -EPROTO, "box %s: unexpected message from the shim", b->id);
    int pid = (int) strtol(msg->field[1], NULL, 10); /* NOLINT: protocol field */
    if (tty && msg->n_fds < 1)
        return bl_err(err, -EPROTO, "box %s: the shim sent no terminal", b->id);
    r = set_status(rt, b, "running", pid, 0, 0, err);
    if (r < 0)
        return r;
    if (attached) {
        b->shim = TAKE_PROC(proc);
        b->chan_fd = TAKE_FD(chan);
        b->stdio = TAKE_PTR(io);
        if (tty) {
            b->tty_master = TAKE_FD(msg->fds[0]);
            b->io_in = stdio[0];
            b->io_out = stdio[1];
        }
    } else {
        /* a detached box's lifecycle is the shim's now */
        b->lock_fd = bl_close(b->lock_fd);
    }
    return 0;
}

BOXLITE_API int boxlite_box_signal(boxlite_runtime *rt, boxlite_box *b, int sig,
                                   boxlite_error **err)
{
    char n[16];
    snprintf(n, sizeof(n), "%d", sig);
    const char *f[] = {"signal", n};
    if (b->chan_fd >= 0) {
        int r = bl_msg_send(b->chan_fd, f, 2, NULL, 0);
        return r < 0 ? bl_err_code(err, r, "cannot signal box %s", b->id) : 0;
    }
    (void) rt;
    _cleanup_close_ int s = bl_msg_connect(b->dir_fd, "shim.sock", err);
    if (s < 0)
        return s;
    int r = bl_msg_send(s, f, 2, NULL, 0);
    return r < 0 ? bl_err_code(err, r, "cannot signal box %s", b->id) : 0;
}

/* After the shim has gone (reaped, or its lock released): record the exit and clean up. */
static int finish_stopped(struct boxlite_runtime *rt, struct boxlite_box *b, int status,
                          bl_error **err)
{
    int busy = cgroup_cleanup(rt, b->id);
    (void) unlinkat(b->dir_fd, "shim.pid", 0);
    (void) unlinkat(b->dir_fd, "shim.sock", 0);
    /* (a --rm box whose cgroups are still busy stays, stopped, for the recovery of the next
     * open: removing its record would leave the cgroups to nobody) */
    if (json_is_true(json_object_get(b->config, "auto_remove")) && !busy)
        return delete_box(rt, b->id, err);
    return set_status(rt, b, "stopped", 0, status, 1, err);
}

BOXLITE_API int boxlite_box_wait(boxlite_runtime *rt, boxlite_box *b, int sigfd,
                                 int *ret_status, boxlite_error **err)
{
    if (b->chan_fd < 0)
        return bl_err(err, -EINVAL, "box %s was not started attached by this handle", b->id);
    int status = -1;
    _cleanup_(bl_msg_freep) struct bl_msg *msg = bl_msg_new();
    if (!msg)
        return bl_oom(err);
    struct tty_pump pump;
    int tty = b->tty_master >= 0;
    if (tty)
        pump_init(&pump, b->io_in, b->io_out, b->tty_master);
    for (;;) {
        int ctl_ev, sig_ev;
        if (tty) {
            int ev = pump_step(&pump, b->chan_fd, sigfd);
            ctl_ev = ev < 0 ? POLLERR : ev & 0xffff;
            sig_ev = ev < 0 ? 0 : ev >> 16;
        } else {
            int ev = box_stdio_step(b->stdio, b->chan_fd, sigfd);
            ctl_ev = ev < 0 ? POLLERR : ev & 0xffff;
            sig_ev = ev < 0 ? 0 : ev >> 16;
        }
        if (sigfd >= 0 && (sig_ev & POLLIN)) {
            int sig = 0;
            if (read(sigfd, &sig, sizeof(sig)) == (ssize_t) sizeof(sig) && sig > 0) {
                if (sig == SIGWINCH)
                    send_resize(b->chan_fd, tty ? b->io_in : -1);
                else
                    (void) boxlite_box_signal(rt, b, sig, NULL);
            }
        }
        if (!(ctl_ev & (POLLIN | POLLHUP | POLLERR)))
            continue;
        int r = bl_msg_recv(b->chan_fd, msg);
        if (r < 0)
            break; /* the shim is gone */
        if (msg->n >= 2 && !strcmp(msg->field[0], "exit")) {
            status = parse_status(msg->field[1]);
            break;
        }
    }
    if (tty) {
        /* PID 1 and the whole box are gone: the master reads to EIO soon */
        pump_drain(&pump, 2000);
        b->tty_master = bl_close(b->tty_master);
    }
    b->chan_fd = bl_close(b->chan_fd);
    int shim_status = bl_proc_wait(&b->shim);
    /* the box is torn down: its output is all in the pipes */
    box_stdio_drain(b->stdio);
    box_stdio_free(TAKE_PTR(b->stdio));
    if (status < 0) {
        /* the shim died without reporting (killed): PID 1 died with it */
        int code = read_exit_code(b->dir_fd);
        status = code >= 0 ? code : 137;
        bl_debug("box %s: shim ended with %d without reporting", b->id, shim_status);
    }
    int r = finish_stopped(rt, b, status, err);
    b->lock_fd = bl_close(b->lock_fd);
    if (r < 0)
        return r;
    *ret_status = status;
    return 0;
}

/* Block until the shim of a running box has exited (its lock is free). */
static void wait_shim_gone(struct boxlite_box *b)
{
    _cleanup_close_ int fd = openat(b->dir_fd, "shim.lock", O_RDONLY | O_CLOEXEC);
    if (fd >= 0)
        (void) flock(fd, LOCK_EX);
}

BOXLITE_API int boxlite_box_stop(boxlite_runtime *rt, boxlite_box *b, int grace_seconds,
                                 boxlite_error **err)
{
    if (!bl_lock_held(b->dir_fd, "shim.lock")) {
        if (!strcmp(b->status, "running")) /* died without us noticing: repair */
            return finish_stopped(rt, b, read_exit_code(b->dir_fd) >= 0
                                             ? read_exit_code(b->dir_fd)
                                             : b->exit_code,
                                  err);
        return 0;
    }
    char ms[32];
    snprintf(ms, sizeof(ms), "%d", grace_seconds < 0 ? 10000 : grace_seconds * 1000);
    int status = -1;
    _cleanup_close_ int s = bl_msg_connect(b->dir_fd, "shim.sock", NULL);
    if (s >= 0) {
        const char *f[] = {"stop", ms};
        if (bl_msg_send(s, f, 2, NULL, 0) == 0) {
            _cleanup_(bl_msg_freep) struct bl_msg *msg = bl_msg_new();
            if (!msg)
                return bl_oom(err);
            while (bl_msg_recv(s, msg) == 0)
                if (msg->n >= 2 && !strcmp(msg->field[0], "exit")) {
                    status = parse_status(msg->field[1]);
                    break;
                }
        }
    }
    wait_shim_gone(b);
    if (status < 0)
        status = read_exit_code(b->dir_fd);
    if (status < 0)
        status = 137;
    if (bl_lock_held(b->dir_fd, "lock")) {
        /* an attached client owns it and records the exit itself (or removes an --rm box):
         * refresh this handle's view, which may already be gone */
        (void) reload(rt, b, NULL);
        return 0;
    }
    return finish_stopped(rt, b, status, err);
}

BOXLITE_API int boxlite_box_remove(boxlite_runtime *rt, boxlite_box *b, int force,
                                   boxlite_error **err)
{
    if (bl_lock_held(b->dir_fd, "shim.lock")) {
        if (!force)
            return bl_err(err, -EBUSY,
                          "invalid state: cannot remove box %s with live pid Some(%d) (status: "
                          "Running). Use force=true to stop first",
                          b->id, b->pid);
        int r = boxlite_box_stop(rt, b, 0, err);
        if (r < 0)
            return r;
    }
    if (cgroup_cleanup(rt, b->id) > 0)
        return bl_err(err, -EBUSY, "cannot remove box %s: its cgroups are still busy (its "
                                   "processes are exiting); try again", b->id);
    return delete_box(rt, b->id, err);
}

/* ---- inspect ---- */

BOXLITE_API int boxlite_box_inspect(boxlite_runtime *rt, boxlite_box *b, char **ret_json,
                                    boxlite_error **err)
{
    int r = reload(rt, b, err);
    if (r < 0)
        return r;
    char created[80];
    time_t secs = (time_t) (b->created_ns / 1000000000);
    struct tm tm;
    size_t n = strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%S", gmtime_r(&secs, &tm));
    snprintf(created + n, sizeof(created) - n, ".%09lld+00:00",
             (long long) (b->created_ns % 1000000000));
    int running = !strcmp(b->status, "running");
    json_t *cfg = b->config;
    /* limits as the box runs with them: 0 = none; records older than limits have defaults */
    json_t *jm = json_object_get(cfg, "memory_mib"), *jc = json_object_get(cfg, "cpus");
    json_int_t memory = !jm ? (json_int_t) 1073741824 : json_integer_value(jm) * 1048576;
    double cpus = !jc ? 1.0 : json_number_value(jc);
    json_t *cpus_j = cpus == (double) (json_int_t) cpus ? json_integer((json_int_t) cpus)
                                                        : json_real(cpus);
    json_t *mounts = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(cfg, "volumes"), i, v)
        json_array_append_new(
            mounts, json_pack("{s:s,s:O,s:O,s:b}", "Type",
                              json_is_true(json_object_get(v, "anonymous")) ? "volume" : "bind",
                              "Source", json_object_get(v, "source"), "Destination",
                              json_object_get(v, "target"),
                              "RW", !json_is_true(json_object_get(v, "ro"))));
    json_t *net = NULL;
    r = bl_box_net_inspect(b, &net, err);
    if (r < 0) {
        json_decref(mounts);
        json_decref(cpus_j);
        return r;
    }
    _cleanup_json_ json_t *o = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:{s:s,s:b,s:i,s:i},s:o,s:I,s:I,s:b,s:o,s:o,s:O,s:O,s:O,s:O,s:O,"
        "s:O}",
        "Id", b->id, "Name", b->name ? b->name : "", "Image", boxlite_box_image(b), "Created",
        created, "Status", b->status, "State", "Status", b->status, "Running", running, "Pid",
        running ? b->pid : 0, "ExitCode", b->exit_code, "Cpus", cpus_j, "Memory", memory,
        "PidsLimit", json_integer_value(json_object_get(cfg, "pids_limit")), "Tty",
        json_is_true(json_object_get(cfg, "tty")), "Mounts", mounts, "NetworkSettings", net,
        "Entrypoint", json_object_get(cfg, "args"), "Env", json_object_get(cfg, "env"),
        "WorkingDir", json_object_get(cfg, "workdir"), "User", json_object_get(cfg, "user"),
        "AutoRemove", json_object_get(cfg, "auto_remove"), "Detach",
        json_object_get(cfg, "detach"));
    if (!o)
        return bl_oom(err);
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!s)
        return bl_oom(err);
    *ret_json = s;
    return 0;
}

/* ---- exec ---- */

int bl_box_start_on_demand(struct boxlite_runtime *rt, struct boxlite_box *b, const char *op,
                           bl_error **err)
{
    int r = reload(rt, b, err);
    if (r < 0)
        return r;
    if (bl_lock_held(b->dir_fd, "shim.lock"))
        return 0;
    if (boxlite_box_has_user_command(b))
        return bl_err(err, -EINVAL,
                      "invalid state: Cannot %s box %s: it is %s, and %s. That is a decision for "
                      "you, not for a side effect — start the box explicitly if it is what you "
                      "want.",
                      op, b->id, !strcmp(b->status, "running") ? "stopped" : b->status,
                      !strcmp(b->status, "configured")
                          ? "starting the box would run its main command"
                          : "its main command has already run, and starting the box again "
                            "would run it a second time");
    int status = 0;
    return boxlite_box_start(rt, b, NULL, &status, err);
}

BOXLITE_API int boxlite_box_exec(boxlite_runtime *rt, boxlite_box *b, const boxlite_exec_opts *o,
                                 int sigfd, int *ret_status, boxlite_error **err)
{
    if (!rt || !b || !o || !o->argv || !o->argv[0] || !ret_status)
        return bl_err(err, -EINVAL, "a command is required");
    *ret_status = 125;
    /* env: only ours (the shim puts it over the box's, which it has from shim.conf), a later
     * K=V replacing an earlier K */
    _cleanup_json_ json_t *env = json_array();
    if (!env)
        return bl_oom(err);
    for (const char *const *p = o->env; p && *p; p++)
        if (env_set(env, *p) < 0)
            return bl_oom(err);
    size_t argc = bl_strv_length((char *const *) o->argv), envc = json_array_size(env);
    _cleanup_free_ const char **f = bl_calloc(argc + envc + 12, sizeof(char *));
    if (!f)
        return bl_oom(err);
    char nargs[16], nenv[16];
    snprintf(nargs, sizeof(nargs), "%zu", argc);
    snprintf(nenv, sizeof(nenv), "%zu", envc);
    size_t k = 0;
    f[k++] = "exec";
    f[k++] = nargs;
    for (size_t i = 0; i < argc; i++)
        f[k++] = o->argv[i];
    f[k++] = nenv;
    for (size_t i = 0; i < envc; i++)
        f[k++] = json_string_value(json_array_get(env, i));
    f[k++] = o->workdir ? o->workdir : json_string_value(json_object_get(b->config, "workdir"));
    f[k++] = o->user ? o->user : json_string_value(json_object_get(b->config, "user"));
    f[k++] = o->detach ? "1" : "0";
    /* a detached exec gets no terminal: nothing would read it */
    int tty = o->version >= 2 && o->tty && !o->detach;
    char rows[8] = "0", cols[8] = "0";
    if (tty) {
        (void) winsize_fields(o->stdio[0], rows, cols);
        f[k++] = "1";
        f[k++] = rows;
        f[k++] = cols;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < k; i++)
        bytes += strlen(f[i]) + 1;
    if (bytes > BL_EXEC_REQUEST_MAX)
        return bl_err(err, -E2BIG,
                      "cannot exec in box %s: the command, its -e environment, working "
                      "directory and user are too large: %zu bytes (at most %d)",
                      b->id, bytes, BL_EXEC_REQUEST_MAX);
    /* the process's stdio: with a terminal, a pty of the box that we copy o->stdio to and
     * from; else the caller's pipes, sockets and terminals, and relays for anything else,
     * which need us until the process ends: a detached exec cannot have any */
    _cleanup_(box_stdio_freep) struct box_stdio *io = NULL;
    int r;
    if (!tty) {
        r = box_stdio_new(o->stdio, &io, err);
        if (r < 0)
            return r;
        if (o->detach && box_stdio_relays(io))
            return bl_err(err, -EINVAL,
                          "a detached exec cannot be given a file or a device as its stdin, "
                          "stdout or stderr (the box could reopen it): give a pipe, a socket, "
                          "a terminal or none");
    }
    r = bl_box_start_on_demand(rt, b, "exec", err);
    if (r < 0)
        return r;
    _cleanup_close_ int s = bl_msg_connect(b->dir_fd, "shim.sock", err);
    if (s < 0)
        return s;
    _cleanup_close_ int devnull = -1;
    int fds[3] = {-1, -1, -1};
    for (int i = 0; i < 3 && io; i++) {
        fds[i] = io->box[i];
        if (fds[i] < 0) {
            if (devnull < 0)
                devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
            fds[i] = devnull;
        }
    }
    r = bl_msg_send(s, f, k, fds, tty ? 0 : 3);
    if (r < 0)
        return bl_err_code(err, r, "cannot send the exec request");
    box_stdio_handed(io); /* the shim has its copies: an EOF of ours means the box's */
    _cleanup_(bl_msg_freep) struct bl_msg *msg = bl_msg_new();
    if (!msg)
        return bl_oom(err);
    _cleanup_close_ int master = -1;
    struct tty_pump pump;
    for (;;) {
        int ev = master >= 0 ? pump_step(&pump, s, sigfd) : box_stdio_step(io, s, sigfd);
        if (ev < 0)
            return bl_err_code(err, ev, "poll");
        int ctl_ev = ev & 0xffff, sig_ev = ev >> 16;
        if (sigfd >= 0 && (sig_ev & POLLIN)) {
            int sig = 0;
            if (read(sigfd, &sig, sizeof(sig)) == (ssize_t) sizeof(sig) && sig > 0) {
                if (sig == SIGWINCH) {
                    if (tty)
                        send_resize(s, o->stdio[0]);
                } else {
                    char sn[16];
                    snprintf(sn, sizeof(sn), "%d", sig);
                    const char *sf[] = {"signal", sn};
                    (void) bl_msg_send(s, sf, 2, NULL, 0);
                }
            }
        }
        if (!(ctl_ev & (POLLIN | POLLHUP | POLLERR)))
            continue;
        r = bl_msg_recv(s, msg);
        if (r < 0)
            return bl_err(err, -EIO, "the box's shim went away during exec");
        if (msg->n >= 1 && !strcmp(msg->field[0], "error")) {
            *ret_status = parse_status(msg->n > 1 ? msg->field[1] : NULL);
            const char *why = msg->n > 2 && *msg->field[2] ? msg->field[2] : "exec failed";
            return bl_err(err, -EIO, "%s", why);
        }
        if (msg->n >= 1 && !strcmp(msg->field[0], "pid") && o->detach) {
            *ret_status = 0;
            return 0;
        }
        if (msg->n >= 1 && !strcmp(msg->field[0], "pid") && tty) {
            if (msg->n_fds < 1)
                return bl_err(err, -EPROTO, "the box's shim sent no terminal");
            master = TAKE_FD(msg->fds[0]);
            pump_init(&pump, o->stdio[0], o->stdio[1], master);
            continue;
        }
        if (msg->n >= 2 && !strcmp(msg->field[0], "exit")) {
            if (master >= 0)
                pump_drain(&pump, 200);
            box_stdio_drain(io);
            *ret_status = parse_status(msg->field[1]);
            return 0;
        }
    }
}
