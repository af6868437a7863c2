/* SPDX-License-Identifier: MIT */
/*
 * The metadata store: one SQLite database per home, in WAL mode, shared by every boxlite process
 * using that home. Writers take the write lock up front (BEGIN IMMEDIATE) and wait for it with a
 * busy timeout, so concurrent processes queue instead of failing with "database is locked".
 * The schema carries a version (PRAGMA user_version) and migrates forward on open.
 */
#pragma once

#include <sqlite3.h>
#include <stdint.h>

#include "error.h"

#define BL_STORE_SCHEMA_VERSION 1

struct bl_store {
    sqlite3 *db;
};

int bl_store_open(const char *path, struct bl_store **ret, bl_error **err);
void bl_store_free(struct bl_store *s);
BL_DEFINE_CLEANUP_FUNC(struct bl_store *, bl_store_free)

/* Reports the database's last error as -EIO "database error: <what>: <sqlite message>". */
int bl_store_err(struct bl_store *s, bl_error **err, const char *what);
int bl_store_exec(struct bl_store *s, const char *sql, bl_error **err);
int bl_store_prepare(struct bl_store *s, const char *sql, sqlite3_stmt **ret, bl_error **err);

static inline void bl_stmt_finalize(sqlite3_stmt *st)
{
    (void) sqlite3_finalize(st);
}
BL_DEFINE_CLEANUP_FUNC(sqlite3_stmt *, bl_stmt_finalize)
#define _cleanup_stmt_ _cleanup_(bl_stmt_finalizep)

/* A write transaction; rolled back by its cleanup unless committed. */
struct bl_txn {
    struct bl_store *store;
};
#define BL_TXN_NULL ((struct bl_txn){NULL})
int bl_txn_begin(struct bl_store *s, struct bl_txn *ret, bl_error **err);
int bl_txn_commit(struct bl_txn *t, bl_error **err);
void bl_txn_rollback(struct bl_txn *t);
#define _cleanup_txn_ _cleanup_(bl_txn_rollback)

/* Bind helpers that treat NULL strings as SQL NULL. */
int bl_stmt_bind_text(sqlite3_stmt *st, int idx, const char *s);
const char *bl_stmt_text(sqlite3_stmt *st, int col);
