/* SPDX-License-Identifier: MIT */
/*
 * Box records: the handle, its accessors, its rows (lookup, list, reload, status, delete) and
 * the facts its directory holds (locks, exit.json). See box-records.h for the locking rules.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>

#include "alloc-util.h"
#include "box-records.h"
#include "box-stdio.h"
#include "box-volume.h"
#include "fs-util.h"
#include "runtime.h"

struct boxlite_box *bl_box_new(void)
{
    struct boxlite_box *b = bl_calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->dir_fd = b->lock_fd = b->chan_fd = b->tty_master = b->io_in = b->io_out = -1;
    b->shim = BL_PROC_NULL;
    return b;
}

void bl_box_free(struct boxlite_box *b)
{
    if (!b)
        return;
    bl_proc_kill_and_reap(&b->shim);
    bl_box_stdio_free(b->stdio);
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

/* ---- loading records ---- */

#define BOX_COLUMNS "id, name, created_at, config, status, pid, exit_code"

static int box_from_row(struct boxlite_runtime *rt, sqlite3_stmt *st, struct boxlite_box **ret,
                        bl_error **err)
{
    _cleanup_(bl_box_freep) struct boxlite_box *b = bl_box_new();
    if (!b)
        return bl_oom(err);
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

int bl_box_reload(struct boxlite_runtime *rt, struct boxlite_box *b, bl_error **err)
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

/* A list being built, freed with its boxes unless taken. */
struct box_vec {
    boxlite_box **v;
    size_t n;
};
static void box_vec_done(struct box_vec *l)
{
    boxlite_box_list_free(l->v, l->n);
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
    _cleanup_(box_vec_done) struct box_vec l = {NULL, 0};
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        boxlite_box **nv = bl_realloc(l.v, (l.n + 1) * sizeof(*nv));
        if (!nv)
            return bl_oom(err);
        l.v = nv;
        _cleanup_(bl_error_freep) bl_error *row_err = NULL;
        r = box_from_row(rt, st, &l.v[l.n], &row_err);
        if (r == -ENOENT)
            continue; /* its directory vanished under us (removed concurrently): skip it */
        if (r < 0) {
            if (err)
                *err = TAKE_PTR(row_err);
            return r;
        }
        l.n++;
    }
    if (rc != SQLITE_DONE)
        return bl_store_err(rt->store, err, "list boxes");
    *ret_n = l.n;
    *ret_list = TAKE_PTR(l.v);
    return 0;
}

/* ---- status updates and removal ---- */

int bl_box_set_status(struct boxlite_runtime *rt, struct boxlite_box *b, const char *status,
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

int bl_box_delete(struct boxlite_runtime *rt, const char *id, bl_error **err)
{
    {
        _cleanup_stmt_ sqlite3_stmt *q = NULL;
        if (bl_store_prepare(rt->store, "SELECT config FROM boxes WHERE id = ?", &q, NULL) == 0) {
            bl_stmt_bind_text(q, 1, id);
            if (sqlite3_step(q) == SQLITE_ROW) {
                _cleanup_json_ json_t *cfg = json_loads(bl_stmt_text(q, 0), 0, NULL);
                bl_volume_remove_anonymous_all(rt, json_object_get(cfg, "volumes"));
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

int bl_shim_lock_held(int dir_fd)
{
    _cleanup_close_ int fd = openat(dir_fd, "shim.lock", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    return bl_ofd_lock_held(fd) > 0;
}

int bl_box_read_exit_code(int dir_fd)
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

bool bl_box_row_exists(struct boxlite_runtime *rt, const char *id)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    if (bl_store_prepare(rt->store, "SELECT 1 FROM boxes WHERE id = ?", &st, NULL) < 0)
        return true; /* cannot tell: keep */
    bl_stmt_bind_text(st, 1, id);
    return sqlite3_step(st) != SQLITE_DONE;
}
