/* SPDX-License-Identifier: MIT */
/*
 * SQLite store: opening, schema migrations, transactions. Invariants: every write happens inside
 * a bl_txn (BEGIN IMMEDIATE), so no transaction ever has to upgrade a read lock (the case a busy
 * handler cannot resolve); reads outside transactions see a consistent WAL snapshot.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>

#include "alloc-util.h"
#include "store.h"

/* Busy timeout: the longest a writer waits for another process's write transaction. Writers
 * hold the lock for milliseconds (file renames and a few rows), so this only bounds pathologies. */
#define BUSY_TIMEOUT_MS 120000

static const char *const migrations[] = {
    /* version 1: images, layers, references, boxes */
    "CREATE TABLE images ("
    "  id TEXT PRIMARY KEY," /* manifest digest */
    "  config_digest TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  os TEXT, architecture TEXT);"
    "CREATE TABLE image_refs ("
    "  reference TEXT PRIMARY KEY,"
    "  image_id TEXT NOT NULL REFERENCES images(id),"
    "  created_at INTEGER NOT NULL);"
    "CREATE INDEX image_refs_image ON image_refs(image_id);"
    "CREATE TABLE layers ("
    "  diff_id TEXT PRIMARY KEY,"
    "  blob_digest TEXT NOT NULL,"
    "  media_type TEXT,"
    "  size INTEGER NOT NULL);"
    "CREATE TABLE image_layers ("
    "  image_id TEXT NOT NULL REFERENCES images(id),"
    "  idx INTEGER NOT NULL,"
    "  diff_id TEXT NOT NULL REFERENCES layers(diff_id),"
    "  PRIMARY KEY (image_id, idx));"
    "CREATE INDEX image_layers_diff ON image_layers(diff_id);"
    "CREATE TABLE boxes ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT UNIQUE,"
    "  image_id TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  config TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  pid INTEGER,"
    "  exit_code INTEGER);"
    "CREATE INDEX boxes_image ON boxes(image_id);"
    "CREATE TABLE box_layers ("
    "  box_id TEXT NOT NULL REFERENCES boxes(id) ON DELETE CASCADE,"
    "  idx INTEGER NOT NULL,"
    "  diff_id TEXT NOT NULL,"
    "  PRIMARY KEY (box_id, idx));"
    "CREATE INDEX box_layers_diff ON box_layers(diff_id);",
};

int bl_store_err(struct bl_store *s, bl_error **err, const char *what)
{
    return bl_err(err, -EIO, "database error: %s: %s", what, sqlite3_errmsg(s->db));
}

int bl_store_exec(struct bl_store *s, const char *sql, bl_error **err)
{
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return bl_store_err(s, err, "exec");
    return 0;
}

int bl_store_prepare(struct bl_store *s, const char *sql, sqlite3_stmt **ret, bl_error **err)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, ret, NULL) != SQLITE_OK)
        return bl_store_err(s, err, "prepare");
    return 0;
}

int bl_stmt_bind_text(sqlite3_stmt *st, int idx, const char *s)
{
    if (!s)
        return sqlite3_bind_null(st, idx);
    return sqlite3_bind_text(st, idx, s, -1, SQLITE_TRANSIENT);
}

const char *bl_stmt_text(sqlite3_stmt *st, int col)
{
    return (const char *) sqlite3_column_text(st, col);
}

int bl_txn_begin(struct bl_store *s, struct bl_txn *ret, bl_error **err)
{
    int r = bl_store_exec(s, "BEGIN IMMEDIATE", err);
    if (r < 0)
        return r;
    ret->store = s;
    return 0;
}

int bl_txn_commit(struct bl_txn *t, bl_error **err)
{
    int r = bl_store_exec(t->store, "COMMIT", err);
    if (r < 0)
        return r; /* still active: the cleanup rolls back */
    t->store = NULL;
    return 0;
}

void bl_txn_rollback(struct bl_txn *t)
{
    if (!t->store)
        return;
    (void) sqlite3_exec(t->store->db, "ROLLBACK", NULL, NULL, NULL);
    t->store = NULL;
}

static int migrate(struct bl_store *s, bl_error **err)
{
    _cleanup_txn_ struct bl_txn txn = BL_TXN_NULL;
    int r = bl_txn_begin(s, &txn, err);
    if (r < 0)
        return r;
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    r = bl_store_prepare(s, "PRAGMA user_version", &st, err);
    if (r < 0)
        return r;
    if (sqlite3_step(st) != SQLITE_ROW)
        return bl_store_err(s, err, "read schema version");
    int version = sqlite3_column_int(st, 0);
    if (version > (int) ELEMENTSOF(migrations))
        return bl_err(err, -EPROTO,
                      "database schema version %d is newer than this boxlite supports (%d)",
                      version, (int) ELEMENTSOF(migrations));
    for (int v = version; v < (int) ELEMENTSOF(migrations); v++) {
        r = bl_store_exec(s, migrations[v], err);
        if (r < 0)
            return bl_err_prefix(err, r, "migrate schema to version %d", v + 1);
    }
    if (version < (int) ELEMENTSOF(migrations)) {
        char sql[64];
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", (int) ELEMENTSOF(migrations));
        r = bl_store_exec(s, sql, err);
        if (r < 0)
            return r;
    }
    return bl_txn_commit(&txn, err);
}

/* The database is in WAL mode at the current schema version (reads only: shared locks). */
static int schema_ready(struct bl_store *s)
{
    _cleanup_stmt_ sqlite3_stmt *jm = NULL, *uv = NULL;
    if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode", -1, &jm, NULL) != SQLITE_OK ||
        sqlite3_step(jm) != SQLITE_ROW || strcmp((const char *) sqlite3_column_text(jm, 0), "wal"))
        return 0;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &uv, NULL) != SQLITE_OK ||
        sqlite3_step(uv) != SQLITE_ROW)
        return 0;
    return sqlite3_column_int(uv, 0) == (int) ELEMENTSOF(migrations);
}

int bl_store_open(const char *path, struct bl_store **ret, bl_error **err)
{
    _cleanup_(bl_store_freep) struct bl_store *s = bl_calloc(1, sizeof(*s));
    if (!s)
        return bl_oom(err);
    int rc = sqlite3_open_v2(path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                                 SQLITE_OPEN_EXRESCODE,
                             NULL);
    if (rc != SQLITE_OK)
        return bl_err(err, -EIO, "cannot open database '%s': %s", path,
                      s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    (void) sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    /* Every CLI command opens and closes the database. By default the last connection to close
     * checkpoints and deletes the WAL, and the next one re-creates it (fsyncing the directory):
     * two to four fdatasyncs on every command. Keep the WAL file and leave checkpoints to the
     * automatic ones (every 1000 pages); WAL with synchronous=NORMAL stays durable across
     * process crashes. */
    int persist = 1;
    (void) sqlite3_file_control(s->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
    (void) sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    int r = bl_store_exec(s, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON", err);
    if (r < 0)
        return r;
    if (!schema_ready(s)) {
        /* Switching to WAL needs an exclusive lock for which SQLite does not call the busy
         * handler: concurrent first opens of a new home failed with "database is locked".
         * Creation and migrations are serialised with a file lock instead (only taken while
         * the database is not ready, so the common open stays lock-free). */
        _cleanup_free_ char *lockpath = bl_asprintf("%s.init-lock", path);
        if (!lockpath)
            return bl_oom(err);
        _cleanup_close_ int lfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (lfd < 0 || flock(lfd, LOCK_EX) < 0)
            return bl_err_errno(err, "cannot lock '%s'", lockpath);
        r = bl_store_exec(s, "PRAGMA journal_mode=WAL", err);
        if (r < 0)
            return bl_err_prefix(err, r, "open '%s'", path);
        r = migrate(s, err);
        if (r < 0)
            return r;
    }
    *ret = TAKE_PTR(s);
    return 0;
}

void bl_store_free(struct bl_store *s)
{
    if (!s)
        return;
    (void) sqlite3_close_v2(s->db);
    free(s);
}
