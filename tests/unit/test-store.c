/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for store.c: a new database is created in WAL mode at the current schema version,
 * reopened without migrating again and with its rows kept; a database from a newer boxlite is
 * refused; unopenable paths and bad SQL fail with -EIO and the "database error" messages;
 * transactions commit, roll back through their cleanup, and queue behind another process's
 * writer instead of failing; concurrent first opens of a new database all succeed; foreign
 * keys are enforced; NULL binds; and (in fault-injection builds) clean failure at every fault
 * point of an open.
 */
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "../lib/tap.h"
#include "alloc-util.h"
#include "store.h"

static char *db_path(const char *name)
{
    char *p = NULL;
    ASSERT_TRUE(asprintf(&p, "%s/%s", tap_tmpdir(), name) > 0);
    return p;
}

static int pragma_int(struct bl_store *s, const char *sql)
{
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    ASSERT_OK(bl_store_prepare(s, sql, &st, &tap_last_err));
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    return sqlite3_column_int(st, 0);
}

static int count_rows(struct bl_store *s, const char *table)
{
    char sql[128];
    (void) snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s", table);
    return pragma_int(s, sql);
}

TEST(open_creates_schema)
{
    _cleanup_free_ char *path = db_path("a.db");
    _cleanup_(bl_store_freep) struct bl_store *s = NULL;
    ASSERT_OK(bl_store_open(path, &s, &tap_last_err));
    ASSERT_NOT_NULL(s);
    ASSERT_EQ(pragma_int(s, "PRAGMA user_version"), BL_STORE_SCHEMA_VERSION);
    ASSERT_EQ(pragma_int(s, "PRAGMA foreign_keys"), 1);
    {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        ASSERT_OK(bl_store_prepare(s, "PRAGMA journal_mode", &st, &tap_last_err));
        ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
        ASSERT_STREQ(bl_stmt_text(st, 0), "wal");
    }
    static const char *const tables[] = {"images",       "image_refs", "layers",
                                         "image_layers", "boxes",      "box_layers"};
    for (size_t i = 0; i < ELEMENTSOF(tables); i++)
        ASSERT_EQ(count_rows(s, tables[i]), 0);
}

TEST(reopen_keeps_rows)
{
    _cleanup_free_ char *path = db_path("a.db");
    {
        _cleanup_(bl_store_freep) struct bl_store *s = NULL;
        ASSERT_OK(bl_store_open(path, &s, &tap_last_err));
        struct bl_txn t = BL_TXN_NULL;
        ASSERT_OK(bl_txn_begin(s, &t, &tap_last_err));
        ASSERT_OK(bl_store_exec(s,
                                "INSERT INTO images VALUES ('sha256:aa', 'sha256:bb', 1, 2, "
                                "'linux', 'amd64')",
                                &tap_last_err));
        ASSERT_OK(bl_txn_commit(&t, &tap_last_err));
        ASSERT_NULL(t.store);
        bl_txn_rollback(&t); /* committed: a no-op */
    }
    for (int i = 0; i < 2; i++) {
        _cleanup_(bl_store_freep) struct bl_store *s = NULL;
        ASSERT_OK(bl_store_open(path, &s, &tap_last_err));
        ASSERT_EQ(count_rows(s, "images"), 1);
        ASSERT_EQ(pragma_int(s, "PRAGMA user_version"), BL_STORE_SCHEMA_VERSION);
    }
    bl_store_free(NULL);
}

TEST(newer_schema_refused)
{
    _cleanup_free_ char *path = db_path("new.db");
    sqlite3 *db = NULL;
    ASSERT_EQ(sqlite3_open(path, &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    ASSERT_EQ(sqlite3_close(db), SQLITE_OK);
    struct bl_store *s = NULL;
    bl_error *e = NULL;
    ASSERT_ERR(bl_store_open(path, &s, &e), -EPROTO);
    ASSERT_NULL(s);
    ASSERT_NOT_NULL(e);
    char want[128];
    (void) snprintf(want, sizeof(want),
                    "database schema version 99 is newer than this boxlite supports (%d)",
                    BL_STORE_SCHEMA_VERSION);
    ASSERT_STREQ(bl_error_msg(e), want);
    bl_error_free(e);
    /* refused, not altered */
    ASSERT_EQ(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    ASSERT_EQ(sqlite3_column_int(st, 0), 99);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

TEST(open_errors)
{
    struct bl_store *s = NULL;
    bl_error *e = NULL;
    _cleanup_free_ char *missing = db_path("no/such/dir/x.db");
    ASSERT_ERR(bl_store_open(missing, &s, &e), -EIO);
    ASSERT_NULL(s);
    ASSERT_NOT_NULL(e);
    char want[4200];
    (void) snprintf(want, sizeof(want), "cannot open database '%s': ", missing);
    ASSERT_TRUE(strncmp(bl_error_msg(e), want, strlen(want)) == 0);
    bl_error_free(e);
    e = NULL;
    /* a directory is not a database */
    ASSERT_TRUE(bl_store_open(tap_tmpdir(), &s, &e) < 0);
    ASSERT_NULL(s);
    ASSERT_NOT_NULL(e);
    bl_error_free(e);
    e = NULL;
    /* nor is a file of garbage */
    _cleanup_free_ char *junk = db_path("junk.db");
    FILE *f = fopen(junk, "w");
    ASSERT_NOT_NULL(f);
    for (int i = 0; i < 512; i++)
        fputs("not a database ", f);
    fclose(f);
    ASSERT_TRUE(bl_store_open(junk, &s, &e) < 0);
    ASSERT_NULL(s);
    ASSERT_NOT_NULL(e);
    ASSERT_EQ(e->code, -EIO);
    ASSERT_TRUE(strstr(bl_error_msg(e), "not a database") != NULL);
    bl_error_free(e);
}

TEST(sql_errors)
{
    _cleanup_free_ char *path = db_path("a.db");
    _cleanup_(bl_store_freep) struct bl_store *s = NULL;
    ASSERT_OK(bl_store_open(path, &s, &tap_last_err));
    bl_error *e = NULL;
    ASSERT_ERR(bl_store_exec(s, "SELEKT 1", &e), -EIO);
    ASSERT_TRUE(strncmp(bl_error_msg(e), "database error: exec: ", 22) == 0);
    ASSERT_TRUE(strstr(bl_error_msg(e), "syntax error") != NULL);
    bl_error_free(e);
    e = NULL;
    sqlite3_stmt *st = NULL;
    ASSERT_ERR(bl_store_prepare(s, "SELECT nope FROM nowhere", &st, &e), -EIO);
    ASSERT_NULL(st);
    ASSERT_STREQ(bl_error_msg(e), "database error: prepare: no such table: nowhere");
    bl_error_free(e);
    e = NULL;
    /* a failed commit (no transaction) leaves the handle as it was */
    struct bl_txn t = {.store = s};
    ASSERT_ERR(bl_txn_commit(&t, &e), -EIO);
    ASSERT_TRUE(t.store == s);
    bl_error_free(e);
    bl_txn_rollback(&t);
    ASSERT_NULL(t.store);
}

TEST(txn_rollback_on_cleanup)
{
    _cleanup_free_ char *path = db_path("a.db");
    _cleanup_(bl_store_freep) struct bl_store *s = NULL;
    ASSERT_OK(bl_store_open(path, &s, &tap_last_err));
    {
        _cleanup_txn_ struct bl_txn t = BL_TXN_NULL;
        ASSERT_OK(bl_txn_begin(s, &t, &tap_last_err));
        ASSERT_TRUE(t.store == s);
        ASSERT_OK(bl_store_exec(s,
                                "INSERT INTO boxes(id, created_at, config, status) VALUES "
                                "('b1', 1, '{}', 'configured')",
                                &tap_last_err));
        ASSERT_EQ(count_rows(s, "boxes"), 1);
        /* not committed: the cleanup rolls it back */
    }
    ASSERT_EQ(count_rows(s, "boxes"), 0);
    ASSERT_EQ(sqlite3_get_autocommit(s->db), 1);
    /* a new transaction can start (none is left open) */
    struct bl_txn t = BL_TXN_NULL;
    ASSERT_OK(bl_txn_begin(s, &t, &tap_last_err));
    ASSERT_OK(bl_txn_commit(&t, &tap_last_err));
}

TEST(foreign_keys_and_binds)
{
    _cleanup_free_ char *path = db_path("a.db");
    _cleanup_(bl_store_freep) struct bl_store *s = NULL;
    ASSERT_OK(bl_store_open(path, &s, &tap_last_err));
    bl_error *e = NULL;
    /* a reference to an image that does not exist */
    ASSERT_ERR(bl_store_exec(s, "INSERT INTO image_refs VALUES ('r', 'sha256:none', 1)", &e), -EIO);
    ASSERT_TRUE(strstr(bl_error_msg(e), "FOREIGN KEY") != NULL);
    bl_error_free(e);
    /* NULL binds as SQL NULL, and reads back as NULL */
    {
        _cleanup_stmt_ sqlite3_stmt *st = NULL;
        ASSERT_OK(bl_store_prepare(s,
                                   "INSERT INTO boxes(id, name, created_at, config, status) "
                                   "VALUES (?, ?, 1, '{}', 'configured')",
                                   &st, &tap_last_err));
        ASSERT_EQ(bl_stmt_bind_text(st, 1, "b1"), SQLITE_OK);
        ASSERT_EQ(bl_stmt_bind_text(st, 2, NULL), SQLITE_OK);
        ASSERT_EQ(sqlite3_step(st), SQLITE_DONE);
    }
    _cleanup_stmt_ sqlite3_stmt *st = NULL;
    ASSERT_OK(bl_store_prepare(s, "SELECT id, name FROM boxes", &st, &tap_last_err));
    ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
    ASSERT_STREQ(bl_stmt_text(st, 0), "b1");
    ASSERT_NULL(bl_stmt_text(st, 1));
    ASSERT_EQ(sqlite3_column_type(st, 1), SQLITE_NULL);
}

/* A writer in another process holds the write lock; ours waits for it instead of failing.
 * (The child opens its own connection: none is open in the parent across the fork.) */
TEST(writer_waits_for_writer)
{
    _cleanup_free_ char *path = db_path("a.db");
    int p[2];
    ASSERT_OK(pipe(p));
    fflush(stdout);
    pid_t pid = fork();
    ASSERT_TRUE(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        struct bl_store *c = NULL;
        bl_error *e = NULL;
        struct bl_txn ct = BL_TXN_NULL;
        int ok = bl_store_open(path, &c, &e) == 0 && bl_txn_begin(c, &ct, &e) == 0 &&
                 bl_store_exec(c,
                               "INSERT INTO boxes(id, created_at, config, status) VALUES "
                               "('first', 1, '{}', 'configured')",
                               &e) == 0;
        ok = ok && write(p[1], "x", 1) == 1;
        close(p[1]);
        usleep(300 * 1000);
        ok = ok && bl_txn_commit(&ct, &e) == 0;
        bl_txn_rollback(&ct);
        bl_store_free(c);
        bl_error_free(e);
        _exit(ok ? 0 : 1);
    }
    close(p[1]);
    char x;
    ASSERT_EQ(read(p[0], &x, 1), 1);
    close(p[0]);
    _cleanup_(bl_store_freep) struct bl_store *s = NULL;
    ASSERT_OK(bl_store_open(path, &s, &tap_last_err));
    struct bl_txn t = BL_TXN_NULL;
    ASSERT_OK(bl_txn_begin(s, &t, &tap_last_err)); /* waits for the child's commit */
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ASSERT_OK(bl_store_exec(s,
                            "INSERT INTO boxes(id, created_at, config, status) SELECT 'second', "
                            "2, '{}', 'configured' WHERE EXISTS (SELECT 1 FROM boxes WHERE id = "
                            "'first')",
                            &tap_last_err));
    ASSERT_EQ(sqlite3_changes(s->db), 1);
    ASSERT_OK(bl_txn_commit(&t, &tap_last_err));
    ASSERT_EQ(count_rows(s, "boxes"), 2);
}

/* Many processes opening a database that does not exist yet all succeed (the init lock). */
TEST(concurrent_first_open)
{
    _cleanup_free_ char *path = db_path("race.db");
    enum { N = 6 };
    pid_t pids[N];
    fflush(stdout);
    for (int i = 0; i < N; i++) {
        pids[i] = fork();
        ASSERT_TRUE(pids[i] >= 0);
        if (pids[i] == 0) {
            struct bl_store *c = NULL;
            bl_error *e = NULL;
            int r = bl_store_open(path, &c, &e);
            if (r < 0)
                fprintf(stderr, "child %d: %s\n", i, bl_error_msg(e));
            bl_store_free(c);
            bl_error_free(e);
            _exit(r < 0 ? 1 : 0);
        }
    }
    for (int i = 0; i < N; i++) {
        int status = 0;
        ASSERT_EQ(waitpid(pids[i], &status, 0), pids[i]);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    _cleanup_(bl_store_freep) struct bl_store *s = NULL;
    ASSERT_OK(bl_store_open(path, &s, &tap_last_err));
    ASSERT_EQ(pragma_int(s, "PRAGMA user_version"), BL_STORE_SCHEMA_VERSION);
}

/* In a child with BL_FAULT=n: open the database and run a transaction, or fail cleanly. */
static int oom_run(unsigned long n, void *userdata)
{
    const char *path = userdata;
    struct bl_store *s = NULL;
    bl_error *e = NULL;
    (void) n;
    int r = bl_store_open(path, &s, &e);
    if (r < 0) {
        int res = e && e->code == r && !s ? TAP_RUN_FAILED : TAP_RUN_BUG;
        bl_error_free(e);
        return res;
    }
    struct bl_txn t = BL_TXN_NULL;
    r = bl_txn_begin(s, &t, &e);
    if (r == 0)
        r = bl_txn_commit(&t, &e);
    bl_store_free(s);
    bl_error_free(e);
    return r < 0 ? TAP_RUN_BUG : TAP_RUN_OK;
}

/* Without faults: the database opens. */
static int store_opens(void *userdata)
{
    struct bl_store *s = NULL;
    int r = bl_store_open(userdata, &s, NULL);
    bl_store_free(s);
    return r < 0 ? 1 : 0;
}

TEST(oom_torture)
{
    /* a new database, then an existing one (the lock-free path) */
    for (int round = 0; round < 2; round++) {
        _cleanup_free_ char *path = db_path("t.db");
        tap_torture(&(struct tap_torture){.name = round ? "open existing" : "open new",
                                          .run = oom_run,
                                          .userdata = path,
                                          .max_faults = 100});
        /* a database left by the faulty opens is still a good one */
        if (round == 0)
            ASSERT_EQ(tap_in_child(store_opens, path), 0);
    }
}

TAP_MAIN(T(open_creates_schema), T(reopen_keeps_rows), T(newer_schema_refused), T(open_errors),
         T(sql_errors), T(txn_rollback_on_cleanup), T(foreign_keys_and_binds),
         T(writer_waits_for_writer), T(concurrent_first_open), T(oom_torture))
