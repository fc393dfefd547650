/*
 * caldav_store.c -- the per-user SQLite storage of the CalDAV/CardDAV core.
 *
 * Core: no host header, no logging; every failure is a status code and a
 * message in the caller's mtr_err_t.  Covered by
 * tests/unit/test_caldav_store.c; bench/bench_caldav_store.c times it.
 *
 * Layout of one database (schema version CALDAV_STORE_SCHEMA in
 * PRAGMA user_version, CALDAV_STORE_APP_ID in PRAGMA application_id):
 *
 *   meta            key/value: 'owner' (the user's address, checked on
 *                   every open) and 'modseq' (the per-database counter;
 *                   every write takes the next value in its transaction)
 *   collections     id AUTOINCREMENT (never reused, so tokens of a deleted
 *                   collection never match a new one), name UNIQUE, live
 *                   properties, modseq (ctag / sync token), min_token (the
 *                   lowest token still valid: the creation modseq, raised
 *                   to the highest pruned tombstone), obj_count/obj_bytes
 *                   (kept in step with every write, so usage is a few rows)
 *   objects         one row per (coll_id, name); data NULL = tombstone.
 *                   The index columns come from the caller; long_span tells
 *                   which time index holds the row (see below); inst is
 *                   the instance list of a recurring event (start/end
 *                   pairs, 16 bytes each, little-endian), complete for
 *                   instances starting before inst_until (version 2)
 *   props           dead properties, obj_name '' for the collection itself
 *   shares          who may use which of the owner's collections
 *   shared_with_me  the sharee's side (owner, collection, access)
 *
 * Time-range candidates.  "first_start < end AND last_end > start" cannot
 * be answered by one B-tree range: an index on first_start walks the whole
 * past, one on last_end the whole future.  Objects are therefore split by
 * span: a short one (last_end - first_start <= CALDAV_STORE_SHORT_SPAN)
 * that ends after start must begin after start - SHORT_SPAN, so a range
 * scan of first_start over [start - SHORT_SPAN, end) finds them all; the
 * few long ones (multi-week, recurring, unbounded, undated) are scanned by
 * last_end > start.  Both are partial indexes over live rows (a tombstone
 * has long_span NULL) and carry every column a walk without data returns,
 * so such a walk reads index pages only: with the data inline, the table
 * rows of a thousand candidates sit on a thousand pages.  Overlap is
 * that of half-open intervals, except that a zero-length object starting
 * exactly at the range start is in (RFC 4791 9.9: start <= DTSTART).
 *
 * Statements are prepared once per handle (SQLITE_PREPARE_PERSISTENT) on
 * first use and reset after every use, so no statement keeps a WAL
 * snapshot open between calls.  A statement still running (a callback
 * calling back into the store with the same query) gets a one-off copy.
 *
 * Callbacks run while the statement is positioned on the row: the strings
 * and data of a caldav_obj_t point into SQLite's column memory and are valid
 * for the duration of the call only.  A callback may read through the same
 * store (obj_get from a walk) but must not write through it.
 *
 * One corner of the contract: the initial listing (since 0) with a limit is
 * never cut below the prune point, so it may return more than limit
 * objects after tombstones were pruned (see caldav_store_changes).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "caldav_store.h"

#define CALDAV_STORE_SCHEMA     2
#define CALDAV_STORE_APP_ID     0x4d434456 /* "MCDV" */
#define CALDAV_STORE_SHORT_SPAN (7 * 86400)
#define CALDAV_STORE_ETAG_SIZE  67  /* '"' + 64 hex + '"' + NUL */
#define CALDAV_STORE_MAX_ADDR   320 /* RFC 5321: 64 + '@' + 255 */

typedef enum {
    ST_BEGIN = 0,
    ST_BEGIN_IMMEDIATE,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_NEXT_MODSEQ,
    ST_OWNER_GET,
    ST_COLL_GET,
    ST_COLL_LIST,
    ST_COLL_ID,
    ST_COLL_INSERT,
    ST_COLL_UPDATE,
    ST_COLL_DELETE,
    ST_COLL_STATE,
    ST_COLL_BUMP,
    ST_OBJ_STATE,
    ST_OBJ_UID,
    ST_OBJ_UPSERT,
    ST_OBJ_TOMB,
    ST_OBJ_GET,
    ST_OBJ_INST,
    ST_OBJ_WALK,
    ST_OBJ_RANGE,
    ST_OBJ_RANGE_DATA,
    ST_CHANGES_LIVE,
    ST_CHANGES_SINCE,
    ST_USAGE,
    ST_PRUNE_ANY,
    ST_PRUNE_MARK,
    ST_PRUNE_DELETE,
    ST_PROP_SET,
    ST_PROP_DEL,
    ST_PROP_DEL_OBJ,
    ST_PROP_LIST,
    ST_SHARE_SET,
    ST_SHARE_DEL,
    ST_SHARE_GET,
    ST_SHARE_LIST,
    ST_SWM_SET,
    ST_SWM_DEL,
    ST_SWM_LIST,
    ST_N
} caldav_stmt_e;

/*
 * The columns of an object as the callbacks see them, in the order read by
 * caldav_store_row_obj().  ?9 is with_data in the queries built on it: the
 * data is only loaded when asked for.  The range walks have two statements
 * instead (RANGE_SQL), as a CASE on data would spoil their covering index.
 */
#define OBJ_COLS                                                               \
    "name, etag, uid, comp, CASE WHEN ?9 THEN data END, size, modseq, "        \
    "first_start, last_end, recurring, mtime, data IS NULL"

#define COLL_COLS                                                              \
    "id, name, kind, displayname, description, color, sort_order, "            \
    "comp_set, timezone, modseq, created"

/*
 * Time-range candidates: ?3 start - SHORT_SPAN (saturated), ?4 end, ?5
 * start.  Without data (DATA "NULL") both arms are covering index scans.
 */
#define RANGE_COLS(DATA)                                                       \
    "SELECT name, etag, uid, comp, " DATA ", size, modseq, first_start, "      \
    "last_end, recurring, mtime, 0 FROM objects "

#define RANGE_SQL(DATA)                                                        \
    RANGE_COLS(DATA)                                                           \
    "INDEXED BY objects_short WHERE coll_id = ?1 AND long_span = 0"            \
    " AND first_start >= ?3 AND first_start < ?4"                              \
    " AND (last_end > ?5 OR (last_end = first_start AND first_start >= ?5))"   \
    " AND (?2 IS NULL OR comp = ?2)"                                           \
    " UNION ALL " RANGE_COLS(                                                  \
        DATA) "INDEXED BY objects_long WHERE coll_id = ?1 AND long_span = 1"   \
              " AND last_end > ?5 AND first_start < ?4"                        \
              " AND (?2 IS NULL OR comp = ?2) ORDER BY name"

static const char *const caldav_store_sql[ST_N] = {
    [ST_BEGIN] = "BEGIN",
    [ST_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_NEXT_MODSEQ] = "UPDATE meta SET value = value + 1"
                       " WHERE key = 'modseq' RETURNING value",
    [ST_OWNER_GET] = "SELECT value FROM meta WHERE key = 'owner'",
    [ST_COLL_GET] = "SELECT " COLL_COLS " FROM collections WHERE name = ?1",
    [ST_COLL_LIST] = "SELECT " COLL_COLS " FROM collections"
                     " WHERE ?1 = 0 OR kind = ?1 ORDER BY name",
    [ST_COLL_ID] = "SELECT id FROM collections WHERE name = ?1",
    [ST_COLL_INSERT] =
        "INSERT INTO collections (name, kind, displayname, description,"
        " color, sort_order, comp_set, timezone, modseq, min_token, created)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10)",
    [ST_COLL_UPDATE] =
        "UPDATE collections SET displayname = ?3, description = ?4,"
        " color = ?5, sort_order = ?6, comp_set = ?7, timezone = ?8"
        " WHERE name = ?1 AND (?2 = 0 OR id = ?2)",
    [ST_COLL_DELETE] = "DELETE FROM collections WHERE name = ?1",
    [ST_COLL_STATE] = "SELECT modseq, min_token FROM collections"
                      " WHERE id = ?1",
    [ST_COLL_BUMP] = "UPDATE collections SET modseq = ?2,"
                     " obj_count = obj_count + ?3, obj_bytes = obj_bytes + ?4"
                     " WHERE id = ?1",
    [ST_OBJ_STATE] = "SELECT etag, data IS NOT NULL, size FROM objects"
                     " WHERE coll_id = ?1 AND name = ?2",
    [ST_OBJ_UID] = "SELECT name FROM objects"
                   " WHERE coll_id = ?1 AND uid = ?2 AND data IS NOT NULL"
                   " AND name <> ?3 LIMIT 1",
    [ST_OBJ_UPSERT] =
        "INSERT INTO objects (coll_id, name, uid, comp, etag, size, modseq,"
        " first_start, last_end, recurring, long_span, mtime, data, inst,"
        " inst_until)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
        " ?15)"
        " ON CONFLICT (coll_id, name) DO UPDATE SET uid = excluded.uid,"
        " comp = excluded.comp, etag = excluded.etag, size = excluded.size,"
        " modseq = excluded.modseq, first_start = excluded.first_start,"
        " last_end = excluded.last_end, recurring = excluded.recurring,"
        " long_span = excluded.long_span, mtime = excluded.mtime,"
        " data = excluded.data, inst = excluded.inst,"
        " inst_until = excluded.inst_until",
    [ST_OBJ_TOMB] = "UPDATE objects SET data = NULL, size = 0, modseq = ?3,"
                    " mtime = ?4, long_span = NULL, inst = NULL,"
                    " inst_until = NULL"
                    " WHERE coll_id = ?1 AND name = ?2",
    [ST_OBJ_GET] = "SELECT " OBJ_COLS " FROM objects"
                   " WHERE coll_id = ?1 AND name = ?2 AND data IS NOT NULL",
    [ST_OBJ_INST] = "SELECT inst, inst_until FROM objects"
                    " WHERE coll_id = ?1 AND name = ?2 AND data IS NOT NULL",
    [ST_OBJ_WALK] = "SELECT " OBJ_COLS " FROM objects"
                    " WHERE coll_id = ?1 AND data IS NOT NULL"
                    " AND (?2 IS NULL OR comp = ?2) ORDER BY name",
    [ST_OBJ_RANGE] = RANGE_SQL("NULL"),
    [ST_OBJ_RANGE_DATA] = RANGE_SQL("data"),
    [ST_CHANGES_LIVE] = "SELECT " OBJ_COLS " FROM objects"
                        " INDEXED BY objects_modseq"
                        " WHERE coll_id = ?1 AND data IS NOT NULL"
                        " ORDER BY modseq",
    [ST_CHANGES_SINCE] = "SELECT " OBJ_COLS " FROM objects"
                         " INDEXED BY objects_modseq"
                         " WHERE coll_id = ?1 AND modseq > ?2"
                         " ORDER BY modseq",
    [ST_USAGE] = "SELECT coalesce(sum(obj_bytes), 0),"
                 " coalesce(sum(obj_count), 0) FROM collections",
    [ST_PRUNE_ANY] = "SELECT 1 FROM objects"
                     " WHERE data IS NULL AND mtime < ?1 LIMIT 1",
    /* Walks the old tombstones only, never a whole collection. */
    [ST_PRUNE_MARK] =
        "UPDATE collections SET min_token = max(min_token, p.m)"
        " FROM (SELECT coll_id, max(modseq) AS m FROM objects"
        " INDEXED BY objects_tombstones"
        " WHERE data IS NULL AND mtime < ?1 GROUP BY coll_id) AS p"
        " WHERE collections.id = p.coll_id",
    [ST_PRUNE_DELETE] = "DELETE FROM objects"
                        " WHERE data IS NULL AND mtime < ?1",
    [ST_PROP_SET] = "INSERT INTO props (coll_id, obj_name, ns, name, xml)"
                    " VALUES (?1, ?2, ?3, ?4, ?5)"
                    " ON CONFLICT (coll_id, obj_name, ns, name)"
                    " DO UPDATE SET xml = excluded.xml",
    [ST_PROP_DEL] = "DELETE FROM props WHERE coll_id = ?1 AND obj_name = ?2"
                    " AND ns = ?3 AND name = ?4",
    [ST_PROP_DEL_OBJ] = "DELETE FROM props"
                        " WHERE coll_id = ?1 AND obj_name = ?2",
    [ST_PROP_LIST] = "SELECT ns, name, xml FROM props"
                     " WHERE coll_id = ?1 AND obj_name = ?2"
                     " ORDER BY ns, name",
    [ST_SHARE_SET] = "INSERT INTO shares (coll_id, sharee, access)"
                     " VALUES (?1, ?2, ?3) ON CONFLICT (coll_id, sharee)"
                     " DO UPDATE SET access = excluded.access",
    [ST_SHARE_DEL] = "DELETE FROM shares WHERE coll_id = ?1 AND sharee = ?2",
    [ST_SHARE_GET] = "SELECT access FROM shares"
                     " WHERE coll_id = ?1 AND sharee = ?2",
    [ST_SHARE_LIST] = "SELECT c.name, s.sharee, s.access"
                      " FROM shares s JOIN collections c ON c.id = s.coll_id"
                      " WHERE ?1 IS NULL OR c.name = ?1"
                      " ORDER BY c.name, s.sharee",
    [ST_SWM_SET] = "INSERT INTO shared_with_me (owner, coll_name, access)"
                   " VALUES (?1, ?2, ?3) ON CONFLICT (owner, coll_name)"
                   " DO UPDATE SET access = excluded.access",
    [ST_SWM_DEL] = "DELETE FROM shared_with_me"
                   " WHERE owner = ?1 AND coll_name = ?2",
    [ST_SWM_LIST] = "SELECT owner, coll_name, access FROM shared_with_me"
                    " ORDER BY owner, coll_name",
};

/* Version 2.  The owner and the counter rows are inserted afterwards. */
static const char caldav_store_schema[] =
    "CREATE TABLE meta ("
    " key TEXT PRIMARY KEY NOT NULL,"
    " value ANY"
    ") WITHOUT ROWID;"
    "CREATE TABLE collections ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " name TEXT NOT NULL UNIQUE,"
    " kind INTEGER NOT NULL,"
    " displayname TEXT, description TEXT, color TEXT, sort_order TEXT,"
    " comp_set TEXT, timezone TEXT,"
    " modseq INTEGER NOT NULL,"
    " min_token INTEGER NOT NULL,"
    " obj_count INTEGER NOT NULL DEFAULT 0,"
    " obj_bytes INTEGER NOT NULL DEFAULT 0,"
    " created INTEGER NOT NULL"
    ");"
    "CREATE TABLE objects ("
    " id INTEGER PRIMARY KEY,"
    " coll_id INTEGER NOT NULL"
    "  REFERENCES collections (id) ON DELETE CASCADE,"
    " name TEXT NOT NULL,"
    " uid TEXT,"
    " comp TEXT,"
    " etag TEXT NOT NULL,"
    " size INTEGER NOT NULL,"
    " modseq INTEGER NOT NULL,"
    " first_start INTEGER NOT NULL,"
    " last_end INTEGER NOT NULL,"
    " recurring INTEGER NOT NULL,"
    " long_span INTEGER," /* 0 short, 1 long, NULL tombstone */
    " mtime INTEGER NOT NULL,"
    " data BLOB," /* late: metadata reads never touch its overflow pages */
    " inst BLOB, inst_until INTEGER," /* read only by caldav_store_obj_hit */
    " UNIQUE (coll_id, name)"
    ");"
    "CREATE INDEX objects_modseq ON objects (coll_id, modseq);"
    "CREATE INDEX objects_uid ON objects (coll_id, uid)"
    " WHERE data IS NOT NULL;"
    /* Covering: a range walk without data never reads the table. */
    "CREATE INDEX objects_short ON objects (coll_id, long_span, first_start,"
    " last_end, comp, name, etag, uid, size, modseq, recurring, mtime)"
    " WHERE long_span = 0;"
    "CREATE INDEX objects_long ON objects (coll_id, long_span, last_end,"
    " first_start, comp, name, etag, uid, size, modseq, recurring, mtime)"
    " WHERE long_span = 1;"
    "CREATE INDEX objects_tombstones ON objects (mtime)"
    " WHERE data IS NULL;"
    "CREATE TABLE props ("
    " coll_id INTEGER NOT NULL"
    "  REFERENCES collections (id) ON DELETE CASCADE,"
    " obj_name TEXT NOT NULL,"
    " ns TEXT NOT NULL,"
    " name TEXT NOT NULL,"
    " xml TEXT NOT NULL,"
    " PRIMARY KEY (coll_id, obj_name, ns, name)"
    ") WITHOUT ROWID;"
    "CREATE TABLE shares ("
    " coll_id INTEGER NOT NULL"
    "  REFERENCES collections (id) ON DELETE CASCADE,"
    " sharee TEXT NOT NULL,"
    " access INTEGER NOT NULL CHECK (access IN (1, 2)),"
    " PRIMARY KEY (coll_id, sharee)"
    ") WITHOUT ROWID;"
    "CREATE TABLE shared_with_me ("
    " owner TEXT NOT NULL,"
    " coll_name TEXT NOT NULL,"
    " access INTEGER NOT NULL CHECK (access IN (1, 2)),"
    " PRIMARY KEY (owner, coll_name)"
    ") WITHOUT ROWID;";

struct caldav_store_s {
    sqlite3      *db;
    sqlite3_stmt *stmt[ST_N];
};


/* ---- errors and validation ---------------------------------------------- */

static int
caldav_store_fail(caldav_store_t *st, mtr_err_t *err, const char *op)
{
    return mtr_err_set(err, "caldav store: %s: %s", op,
                       st->db ? sqlite3_errmsg(st->db) : "no database");
}

/*
 * A name, UID or address made fit for a message: printable ASCII, cut at 64
 * bytes.  The buffer lives until the end of the enclosing full expression,
 * so CALDAV_SAFE() is used only as an argument of mtr_err_set().
 */
typedef struct {
    char text[64];
} caldav_safe_t;

static caldav_safe_t
caldav_store_safe(const char *s)
{
    caldav_safe_t b;

    mtr_sanitize(b.text, sizeof(b.text), s ? s : "", s ? strlen(s) : 0);
    return b;
}

#define CALDAV_SAFE(str) (caldav_store_safe(str).text)

/*
 * One name of a collection or object: a URL path segment, so no '/', no
 * "." or "..", and no control bytes (they have no business in a path and
 * would reach the logs through error messages).
 */
static int
caldav_store_check_name(const char *name, const char *what, mtr_err_t *err)
{
    size_t        len, i;
    unsigned char c;

    if (name == NULL) {
        return mtr_err_set(err, "caldav store: no %s name", what);
    }
    len = strnlen(name, CALDAV_STORE_MAX_NAME + 1);
    if (len == 0) {
        return mtr_err_set(err, "caldav store: empty %s name", what);
    }
    if (len > CALDAV_STORE_MAX_NAME) {
        return mtr_err_set(err, "caldav store: %s name longer than %d bytes",
                           what, CALDAV_STORE_MAX_NAME);
    }
    for (i = 0; i < len; i++) {
        c = (unsigned char) name[i];
        if (c == '/' || c < 0x20 || c == 0x7f) {
            break;
        }
    }
    if (i < len || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        return mtr_err_set(err, "caldav store: bad %s name \"%s\"", what,
                           CALDAV_SAFE(name));
    }
    return MTR_OK;
}

/* An address (owner, sharee): non-empty, bounded, printable. */
static int
caldav_store_check_addr(const char *addr, const char *what, mtr_err_t *err)
{
    size_t len;

    if (addr == NULL) {
        return mtr_err_set(err, "caldav store: no %s", what);
    }
    len = strnlen(addr, CALDAV_STORE_MAX_ADDR + 1);
    if (len == 0 || len > CALDAV_STORE_MAX_ADDR) {
        return mtr_err_set(err, "caldav store: %s empty or longer than %d",
                           what, CALDAV_STORE_MAX_ADDR);
    }
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char) addr[i] < 0x20 || addr[i] == 0x7f) {
            return mtr_err_set(err, "caldav store: control byte in %s", what);
        }
    }
    return MTR_OK;
}


/* ---- statements ---------------------------------------------------------- */

/*
 * The statement id, prepared on first use.  If the cached one is still
 * running (a callback re-entered the store with the same query), a one-off
 * copy is returned; caldav_store_done() finalizes it.
 */
static sqlite3_stmt *
caldav_store_stmt(caldav_store_t *st, caldav_stmt_e id, mtr_err_t *err)
{
    sqlite3_stmt *s = st->stmt[id];
    unsigned      flags = SQLITE_PREPARE_PERSISTENT;

    if (s != NULL && !sqlite3_stmt_busy(s)) {
        return s;
    }
    if (s != NULL) {
        flags = 0;
    }
    if (sqlite3_prepare_v3(st->db, caldav_store_sql[id], -1, flags, &s, NULL)
        != SQLITE_OK)
    {
        caldav_store_fail(st, err, "prepare");
        sqlite3_finalize(s);
        return NULL;
    }
    if (st->stmt[id] == NULL) {
        st->stmt[id] = s;
    }
    return s;
}

/* Reset (releasing the read snapshot) or finalize a one-off copy. */
static void
caldav_store_done(caldav_store_t *st, caldav_stmt_e id, sqlite3_stmt *s)
{
    if (s == NULL) {
        return;
    }
    if (s != st->stmt[id]) {
        sqlite3_finalize(s);
        return;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/* Bind helpers: non-zero on failure, so binds chain with ||. */
static int
caldav_bind_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v == NULL) {
        return sqlite3_bind_null(s, i) != SQLITE_OK;
    }
    return sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC) != SQLITE_OK;
}

static int
caldav_bind_int(sqlite3_stmt *s, int i, int64_t v)
{
    return sqlite3_bind_int64(s, i, v) != SQLITE_OK;
}

/* ?9 is with_data in the object queries that have it (see OBJ_COLS). */
static int
caldav_bind_with_data(sqlite3_stmt *s, int with_data)
{
    if (sqlite3_bind_parameter_count(s) < 9) {
        return 0;
    }
    return sqlite3_bind_int(s, 9, with_data ? 1 : 0) != SQLITE_OK;
}

/* Step; SQLITE_ROW, SQLITE_DONE or -1 (the message is in the db). */
static int
caldav_store_step(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);

    return rc == SQLITE_ROW || rc == SQLITE_DONE ? rc : -1;
}

/* Run a statement without parameters and rows (BEGIN, COMMIT, ...). */
static int
caldav_store_run(caldav_store_t *st, caldav_stmt_e id, const char *op,
                 mtr_err_t *err)
{
    sqlite3_stmt *s = caldav_store_stmt(st, id, err);
    int           rc;

    if (s == NULL) {
        return MTR_ERROR;
    }
    rc = caldav_store_step(s);
    if (rc < 0) {
        caldav_store_fail(st, err, op);
    }
    caldav_store_done(st, id, s);
    return rc < 0 ? MTR_ERROR : MTR_OK;
}

static int
caldav_store_begin(caldav_store_t *st, int immediate, mtr_err_t *err)
{
    return caldav_store_run(st, immediate ? ST_BEGIN_IMMEDIATE : ST_BEGIN,
                            "begin", err);
}

static int
caldav_store_commit(caldav_store_t *st, mtr_err_t *err)
{
    return caldav_store_run(st, ST_COMMIT, "commit", err);
}

/*
 * Roll back if a transaction is open (SQLite may have done so already).  A
 * handle left inside a transaction would refuse every later write, so a
 * failed cached ROLLBACK (it could not even be prepared) is tried again.
 */
static void
caldav_store_rollback(caldav_store_t *st)
{
    if (!sqlite3_get_autocommit(st->db)
        && caldav_store_run(st, ST_ROLLBACK, "rollback", NULL) != MTR_OK)
    {
        (void) sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    }
}

static char *
caldav_store_col_dup(sqlite3_stmt *s, int i, int *failed)
{
    const unsigned char *t;
    size_t               len;
    char                *p;

    if (sqlite3_column_type(s, i) == SQLITE_NULL) {
        return NULL;
    }
    t = sqlite3_column_text(s, i);
    len = (size_t) sqlite3_column_bytes(s, i);
    p = malloc(len + 1);
    if (t == NULL || p == NULL) {
        free(p);
        *failed = 1;
        return NULL;
    }
    memcpy(p, t, len);
    p[len] = '\0';
    return p;
}


/* ---- open and close ------------------------------------------------------ */

/* One integer from a statement run through sqlite3_prepare (pragmas). */
static int
caldav_store_pragma_int(caldav_store_t *st, const char *sql, int64_t *v_r,
                        mtr_err_t *err)
{
    sqlite3_stmt *s = NULL;
    int           rc;

    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
        return caldav_store_fail(st, err, sql);
    }
    rc = caldav_store_step(s);
    if (rc < 0) {
        caldav_store_fail(st, err, sql);
        sqlite3_finalize(s);
        return MTR_ERROR;
    }
    *v_r = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    return MTR_OK;
}

static int
caldav_store_exec(caldav_store_t *st, const char *sql, const char *op,
                  mtr_err_t *err)
{
    if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        return caldav_store_fail(st, err, op);
    }
    return MTR_OK;
}

/* WAL is a property of the file: switch once, never inside a transaction. */
static int
caldav_store_wal(caldav_store_t *st, mtr_err_t *err)
{
    sqlite3_stmt        *s = NULL;
    const unsigned char *mode;
    int                  ok;

    if (sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s, NULL)
            != SQLITE_OK
        || caldav_store_step(s) != SQLITE_ROW)
    {
        caldav_store_fail(st, err, "journal_mode");
        sqlite3_finalize(s);
        return MTR_ERROR;
    }
    mode = sqlite3_column_text(s, 0);
    ok = mode != NULL && strcmp((const char *) mode, "wal") == 0;
    if (!ok) {
        mtr_err_set(err, "caldav store: journal_mode WAL refused (got %s)",
                    mode ? (const char *) mode : "nothing");
    }
    sqlite3_finalize(s);
    return ok ? MTR_OK : MTR_ERROR;
}

/* A file without our schema version must be empty. */
static int
caldav_store_foreign(caldav_store_t *st, mtr_err_t *err)
{
    int64_t tables;

    if (caldav_store_pragma_int(st,
                                "SELECT count(*) FROM sqlite_schema"
                                " WHERE type = 'table'",
                                &tables, err)
        != MTR_OK)
    {
        return MTR_ERROR;
    }
    if (tables != 0) {
        return mtr_err_set(err, "caldav store: the file holds another "
                                "application's tables (no schema version)");
    }
    return MTR_OK;
}

/* Create the schema of a new file (under the write lock, re-checked). */
static int
caldav_store_create_schema(caldav_store_t *st, const char *owner,
                           mtr_err_t *err)
{
    sqlite3_stmt *s = NULL;
    int64_t       version;
    char          sql[128];

    if (caldav_store_begin(st, 1, err) != MTR_OK) {
        return MTR_ERROR;
    }
    if (caldav_store_pragma_int(st, "PRAGMA user_version", &version, err)
        != MTR_OK) {
        goto failed;
    }
    if (version != 0) {
        /* Another handle created it while we waited for the lock. */
        if (caldav_store_commit(st, err) != MTR_OK) {
            goto failed;
        }
        return MTR_OK;
    }
    if (caldav_store_foreign(st, err) != MTR_OK) {
        goto failed;
    }
    snprintf(sql, sizeof(sql),
             "PRAGMA application_id = %d; PRAGMA user_version = %d",
             CALDAV_STORE_APP_ID, CALDAV_STORE_SCHEMA);
    if (caldav_store_exec(st, caldav_store_schema, "create schema", err)
            != MTR_OK
        || caldav_store_exec(st, sql, "set schema version", err) != MTR_OK)
    {
        goto failed;
    }
    if (sqlite3_prepare_v2(st->db,
                           "INSERT INTO meta (key, value)"
                           " VALUES ('owner', ?1), ('modseq', 0)",
                           -1, &s, NULL)
            != SQLITE_OK
        || caldav_bind_text(s, 1, owner) || caldav_store_step(s) < 0)
    {
        caldav_store_fail(st, err, "record owner");
        goto failed;
    }
    sqlite3_finalize(s);
    s = NULL;
    if (caldav_store_commit(st, err) != MTR_OK) {
        goto failed;
    }
    return MTR_OK;

failed:
    sqlite3_finalize(s);
    caldav_store_rollback(st);
    return MTR_ERROR;
}

/* Version 1 to 2: the instance list columns (rows keep none: queries
 * parse those objects until they are written again). */
static int
caldav_store_upgrade_1(caldav_store_t *st, mtr_err_t *err)
{
    int64_t version;

    if (caldav_store_begin(st, 1, err) != MTR_OK) {
        return MTR_ERROR;
    }
    if (caldav_store_pragma_int(st, "PRAGMA user_version", &version, err)
        != MTR_OK) {
        goto failed;
    }
    if (version == 1
        && caldav_store_exec(st,
                             "ALTER TABLE objects ADD COLUMN inst BLOB;"
                             " ALTER TABLE objects ADD COLUMN inst_until"
                             " INTEGER; PRAGMA user_version = 2",
                             "upgrade schema 1 to 2", err)
               != MTR_OK)
    {
        goto failed;
    }
    return caldav_store_commit(st, err);

failed:
    caldav_store_rollback(st);
    return MTR_ERROR;
}

static int
caldav_store_check_owner(caldav_store_t *st, const char *owner, mtr_err_t *err)
{
    sqlite3_stmt        *s;
    const unsigned char *v;
    char                 safe[CALDAV_STORE_MAX_ADDR + 4];
    int                  rc;

    s = caldav_store_stmt(st, ST_OWNER_GET, err);
    if (s == NULL) {
        return MTR_ERROR;
    }
    rc = caldav_store_step(s);
    if (rc < 0) {
        caldav_store_fail(st, err, "read owner");
        goto failed;
    }
    v = rc == SQLITE_ROW ? sqlite3_column_text(s, 0) : NULL;
    if (v == NULL) {
        mtr_err_set(err, "caldav store: no owner recorded in the database");
        goto failed;
    }
    if (strcmp((const char *) v, owner) != 0) {
        mtr_sanitize(safe, sizeof(safe), (const char *) v,
                     (size_t) sqlite3_column_bytes(s, 0));
        mtr_err_set(err,
                    "caldav store: the database belongs to \"%s\", "
                    "not to \"%s\"",
                    safe, owner);
        goto failed;
    }
    caldav_store_done(st, ST_OWNER_GET, s);
    return MTR_OK;

failed:
    caldav_store_done(st, ST_OWNER_GET, s);
    return MTR_ERROR;
}

/* The oldest mtime a tombstone may have at time now. */
static int64_t
caldav_store_cutoff(int64_t now)
{
    return now - (int64_t) CALDAV_STORE_TOMBSTONE_DAYS * 86400;
}

/* Run one of the prune statements (?1 = cutoff); SQLITE_ROW/DONE or -1. */
static int
caldav_store_prune_step(caldav_store_t *st, caldav_stmt_e id, int64_t cutoff,
                        const char *op, mtr_err_t *err)
{
    sqlite3_stmt *s = caldav_store_stmt(st, id, err);
    int           rc;

    if (s == NULL) {
        return -1;
    }
    rc = caldav_bind_int(s, 1, cutoff) ? -1 : caldav_store_step(s);
    if (rc < 0) {
        caldav_store_fail(st, err, op);
    }
    caldav_store_done(st, id, s);
    return rc;
}

/*
 * Remove tombstones older than CALDAV_STORE_TOMBSTONE_DAYS, raising each
 * collection's min_token to the highest modseq removed.  Runs inside the
 * caller's write transaction; the probe is one lookup in the partial
 * tombstone index, so an idle prune costs nothing.
 */
static int
caldav_store_prune(caldav_store_t *st, int64_t now, mtr_err_t *err)
{
    int64_t cutoff = caldav_store_cutoff(now);
    int     rc;

    rc = caldav_store_prune_step(st, ST_PRUNE_ANY, cutoff, "prune", err);
    if (rc != SQLITE_ROW) {
        return rc < 0 ? MTR_ERROR : MTR_OK;
    }
    /* The mark must see the rows the delete removes: mark first. */
    if (caldav_store_prune_step(st, ST_PRUNE_MARK, cutoff, "prune: mark", err)
            < 0
        || caldav_store_prune_step(st, ST_PRUNE_DELETE, cutoff, "prune: delete",
                                   err)
               < 0)
    {
        return MTR_ERROR;
    }
    return MTR_OK;
}

/* Prune at open: a read-only probe first, the write lock only if needed. */
static int
caldav_store_prune_open(caldav_store_t *st, mtr_err_t *err)
{
    int64_t now = (int64_t) time(NULL);
    int     rc;

    rc = caldav_store_prune_step(st, ST_PRUNE_ANY, caldav_store_cutoff(now),
                                 "prune", err);
    if (rc != SQLITE_ROW) {
        return rc < 0 ? MTR_ERROR : MTR_OK;
    }
    if (caldav_store_begin(st, 1, err) != MTR_OK) {
        return MTR_ERROR;
    }
    if (caldav_store_prune(st, now, err) != MTR_OK
        || caldav_store_commit(st, err) != MTR_OK)
    {
        caldav_store_rollback(st);
        return MTR_ERROR;
    }
    return MTR_OK;
}

/*
 * What the file is: ours (version in *version_r), new and empty (0), or
 * refused.  One read transaction, so that a schema committed meanwhile by
 * another handle is seen whole or not at all; and before WAL is switched
 * on, so that another application's file is left untouched.
 */
static int
caldav_store_probe(caldav_store_t *st, int64_t *version_r, mtr_err_t *err)
{
    int64_t app_id, version;

    if (caldav_store_begin(st, 0, err) != MTR_OK) {
        return MTR_ERROR;
    }
    /* The first read of the header: a non-SQLite file fails here. */
    if (caldav_store_pragma_int(st, "PRAGMA application_id", &app_id, err)
            != MTR_OK
        || caldav_store_pragma_int(st, "PRAGMA user_version", &version, err)
               != MTR_OK)
    {
        goto failed;
    }
    if (version > CALDAV_STORE_SCHEMA) {
        mtr_err_set(err,
                    "caldav store: schema version %lld is newer than this "
                    "build's %d",
                    (long long) version, CALDAV_STORE_SCHEMA);
        goto failed;
    }
    if (version != 0 && app_id != CALDAV_STORE_APP_ID) {
        mtr_err_set(err,
                    "caldav store: not a Mortar CalDAV database "
                    "(application_id %lld)",
                    (long long) app_id);
        goto failed;
    }
    if (version == 0 && caldav_store_foreign(st, err) != MTR_OK) {
        goto failed;
    }
    if (caldav_store_commit(st, err) != MTR_OK) {
        goto failed;
    }
    *version_r = version;
    return MTR_OK;

failed:
    caldav_store_rollback(st);
    return MTR_ERROR;
}

/* Connection settings, schema, version and owner checks. */
static int
caldav_store_setup(caldav_store_t *st, const char *owner, mtr_err_t *err)
{
    int64_t version;

    sqlite3_extended_result_codes(st->db, 1);
    sqlite3_busy_timeout(st->db, CALDAV_STORE_BUSY_MS);
    sqlite3_db_config(st->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(st->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);

    if (caldav_store_probe(st, &version, err) != MTR_OK) {
        return MTR_ERROR;
    }
    if (caldav_store_wal(st, err) != MTR_OK
        || caldav_store_exec(st,
                             "PRAGMA synchronous = NORMAL;"
                             " PRAGMA foreign_keys = ON;"
                             " PRAGMA cell_size_check = ON",
                             "pragmas", err)
               != MTR_OK)
    {
        return MTR_ERROR;
    }
    if (version == 0 && caldav_store_create_schema(st, owner, err) != MTR_OK) {
        return MTR_ERROR;
    }
    if (version == 1 && caldav_store_upgrade_1(st, err) != MTR_OK) {
        return MTR_ERROR;
    }
    if (caldav_store_check_owner(st, owner, err) != MTR_OK) {
        return MTR_ERROR;
    }
    return caldav_store_prune_open(st, err);
}

int
caldav_store_open(caldav_store_t **st_r, const char *path, const char *owner,
                  mtr_err_t *err)
{
    caldav_store_t *st;
    int             rc;

    if (st_r == NULL) {
        return mtr_err_set(err, "caldav store: no handle to open into");
    }
    *st_r = NULL;
    if (path == NULL || path[0] == '\0') {
        return mtr_err_set(err, "caldav store: no database path");
    }
    /* Debian's SQLite is built with URI filenames on. */
    if (strncmp(path, "file:", 5) == 0) {
        return mtr_err_set(err, "caldav store: path \"%s\" looks like a URI",
                           path);
    }
    if (caldav_store_check_addr(owner, "owner", err) != MTR_OK) {
        return MTR_ERROR;
    }
    if (!sqlite3_threadsafe()) {
        return mtr_err_set(err, "caldav store: SQLite built without threads");
    }
    st = calloc(1, sizeof(*st));
    if (st == NULL) {
        return mtr_err_set(err, "caldav store: out of memory");
    }
    rc = sqlite3_open_v2(
        path, &st->db,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        mtr_err_set(err, "caldav store: open %s: %s", path,
                    st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        caldav_store_close(&st);
        return MTR_ERROR;
    }
    if (caldav_store_setup(st, owner, err) != MTR_OK) {
        /* Name the file: the message alone does not say which user. */
        mtr_err_set(err, "%s (%s)", err ? err->msg : "", path);
        caldav_store_close(&st);
        return MTR_ERROR;
    }
    *st_r = st;
    return MTR_OK;
}

void
caldav_store_close(caldav_store_t **stp)
{
    caldav_store_t *st;

    if (stp == NULL || *stp == NULL) {
        return;
    }
    st = *stp;
    for (size_t i = 0; i < ST_N; i++) {
        sqlite3_finalize(st->stmt[i]);
    }
    /* Only fails with statements left, and every one is finalized. */
    sqlite3_close_v2(st->db);
    free(st);
    *stp = NULL;
}


/* ---- collections --------------------------------------------------------- */

void
caldav_coll_clear(caldav_coll_t *c)
{
    if (c == NULL) {
        return;
    }
    free(c->displayname);
    free(c->description);
    free(c->color);
    free(c->order);
    free(c->comp_set);
    free(c->timezone);
    memset(c, 0, sizeof(*c));
}

void
caldav_coll_list_free(caldav_coll_t *v, size_t n)
{
    if (v == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        caldav_coll_clear(&v[i]);
    }
    free(v);
}

/* Fill c from a COLL_COLS row; c is overwritten. */
static int
caldav_store_row_coll(sqlite3_stmt *s, caldav_coll_t *c, mtr_err_t *err)
{
    const unsigned char *name;
    int                  failed = 0;

    memset(c, 0, sizeof(*c));
    c->id = sqlite3_column_int64(s, 0);
    name = sqlite3_column_text(s, 1);
    if (name != NULL) {
        snprintf(c->name, sizeof(c->name), "%s", (const char *) name);
    }
    c->kind = (caldav_coll_kind_e) sqlite3_column_int(s, 2);
    c->displayname = caldav_store_col_dup(s, 3, &failed);
    c->description = caldav_store_col_dup(s, 4, &failed);
    c->color = caldav_store_col_dup(s, 5, &failed);
    c->order = caldav_store_col_dup(s, 6, &failed);
    c->comp_set = caldav_store_col_dup(s, 7, &failed);
    c->timezone = caldav_store_col_dup(s, 8, &failed);
    c->modseq = (uint64_t) sqlite3_column_int64(s, 9);
    c->created = sqlite3_column_int64(s, 10);
    if (failed || name == NULL) {
        caldav_coll_clear(c);
        return mtr_err_set(err, "caldav store: out of memory");
    }
    return MTR_OK;
}

int
caldav_store_coll_get(caldav_store_t *st, const char *name, caldav_coll_t *c,
                      mtr_err_t *err)
{
    sqlite3_stmt *s;
    int           rc;

    if (st == NULL || c == NULL) {
        return mtr_err_set(err, "caldav store: coll_get: bad arguments");
    }
    if (caldav_store_check_name(name, "collection", err) != MTR_OK) {
        return MTR_ERROR;
    }
    s = caldav_store_stmt(st, ST_COLL_GET, err);
    if (s == NULL) {
        return MTR_ERROR;
    }
    rc = caldav_bind_text(s, 1, name) ? -1 : caldav_store_step(s);
    if (rc < 0) {
        rc = caldav_store_fail(st, err, "coll_get");
    } else if (rc == SQLITE_DONE) {
        rc = CALDAV_STORE_NOT_FOUND;
        mtr_err_set(err, "caldav store: no collection \"%s\"",
                    CALDAV_SAFE(name));
    } else {
        rc = caldav_store_row_coll(s, c, err);
    }
    caldav_store_done(st, ST_COLL_GET, s);
    return rc;
}

int
caldav_store_coll_list(caldav_store_t *st, caldav_coll_kind_e kind,
                       caldav_coll_t **v_r, size_t *n_r, mtr_err_t *err)
{
    sqlite3_stmt  *s;
    caldav_coll_t *v = NULL, *nv;
    size_t         n = 0, cap = 0;
    int            rc;

    if (st == NULL || v_r == NULL || n_r == NULL) {
        return mtr_err_set(err, "caldav store: coll_list: bad arguments");
    }
    *v_r = NULL;
    *n_r = 0;
    s = caldav_store_stmt(st, ST_COLL_LIST, err);
    if (s == NULL) {
        return MTR_ERROR;
    }
    if (caldav_bind_int(s, 1, (int64_t) kind)) {
        caldav_store_fail(st, err, "coll_list");
        goto failed;
    }
    while ((rc = caldav_store_step(s)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            nv = realloc(v, cap * sizeof(*v));
            if (nv == NULL) {
                mtr_err_set(err, "caldav store: out of memory");
                goto failed;
            }
            v = nv;
        }
        if (caldav_store_row_coll(s, &v[n], err) != MTR_OK) {
            goto failed;
        }
        n++;
    }
    if (rc < 0) {
        caldav_store_fail(st, err, "coll_list");
        goto failed;
    }
    caldav_store_done(st, ST_COLL_LIST, s);
    *v_r = v;
    *n_r = n;
    return MTR_OK;

failed:
    caldav_store_done(st, ST_COLL_LIST, s);
    caldav_coll_list_free(v, n);
    return MTR_ERROR;
}

/* The id of a collection by name: MTR_OK, NOT_FOUND or MTR_ERROR. */
static int
caldav_store_coll_id(caldav_store_t *st, const char *name, int64_t *id_r,
                     mtr_err_t *err)
{
    sqlite3_stmt *s = caldav_store_stmt(st, ST_COLL_ID, err);
    int           rc;

    if (s == NULL) {
        return MTR_ERROR;
    }
    rc = caldav_bind_text(s, 1, name) ? -1 : caldav_store_step(s);
    if (rc < 0) {
        rc = caldav_store_fail(st, err, "collection lookup");
    } else if (rc == SQLITE_DONE) {
        rc = CALDAV_STORE_NOT_FOUND;
        mtr_err_set(err, "caldav store: no collection \"%s\"",
                    CALDAV_SAFE(name));
    } else {
        *id_r = sqlite3_column_int64(s, 0);
        rc = MTR_OK;
    }
    caldav_store_done(st, ST_COLL_ID, s);
    return rc;
}

/* modseq and min_token of a collection: MTR_OK, NOT_FOUND or MTR_ERROR. */
static int
caldav_store_coll_state(caldav_store_t *st, int64_t coll_id, int64_t *modseq_r,
                        int64_t *min_token_r, mtr_err_t *err)
{
    sqlite3_stmt *s = caldav_store_stmt(st, ST_COLL_STATE, err);
    int           rc;

    if (s == NULL) {
        return MTR_ERROR;
    }
    rc = caldav_bind_int(s, 1, coll_id) ? -1 : caldav_store_step(s);
    if (rc < 0) {
        rc = caldav_store_fail(st, err, "collection state");
    } else if (rc == SQLITE_DONE) {
        rc = CALDAV_STORE_NOT_FOUND;
        mtr_err_set(err, "caldav store: no collection with id %lld",
                    (long long) coll_id);
    } else {
        *modseq_r = sqlite3_column_int64(s, 0);
        *min_token_r = sqlite3_column_int64(s, 1);
        rc = MTR_OK;
    }
    caldav_store_done(st, ST_COLL_STATE, s);
    return rc;
}

/* The next value of the database counter (inside a write transaction). */
static int
caldav_store_next_modseq(caldav_store_t *st, int64_t *modseq_r, mtr_err_t *err)
{
    sqlite3_stmt *s = caldav_store_stmt(st, ST_NEXT_MODSEQ, err);
    int           rc;

    if (s == NULL) {
        return MTR_ERROR;
    }
    rc = caldav_store_step(s);
    if (rc == SQLITE_ROW) {
        *modseq_r = sqlite3_column_int64(s, 0);
        rc = MTR_OK;
    } else if (rc == SQLITE_DONE) {
        rc = mtr_err_set(err, "caldav store: the modseq counter is missing");
    } else {
        rc = caldav_store_fail(st, err, "next modseq");
    }
    caldav_store_done(st, ST_NEXT_MODSEQ, s);
    return rc;
}

/* Bind the live properties of c to ?3..?8 (shared by insert and update). */
static int
caldav_store_bind_props(sqlite3_stmt *s, const caldav_coll_t *c)
{
    return caldav_bind_text(s, 3, c->displayname)
           || caldav_bind_text(s, 4, c->description)
           || caldav_bind_text(s, 5, c->color)
           || caldav_bind_text(s, 6, c->order)
           || caldav_bind_text(s, 7, c->comp_set)
           || caldav_bind_text(s, 8, c->timezone);
}

int
caldav_store_coll_create(caldav_store_t *st, caldav_coll_t *c, mtr_err_t *err)
{
    sqlite3_stmt *s = NULL;
    int64_t       id, modseq, now = (int64_t) time(NULL);
    int           rc;

    if (st == NULL || c == NULL) {
        return mtr_err_set(err, "caldav store: coll_create: bad arguments");
    }
    if (memchr(c->name, '\0', sizeof(c->name)) == NULL) {
        return mtr_err_set(err, "caldav store: collection name not "
                                "terminated");
    }
    if (caldav_store_check_name(c->name, "collection", err) != MTR_OK) {
        return MTR_ERROR;
    }
    if (c->kind < CALDAV_COLL_CALENDAR || c->kind > CALDAV_COLL_OUTBOX) {
        return mtr_err_set(err, "caldav store: bad collection kind %d",
                           (int) c->kind);
    }
    if (caldav_store_begin(st, 1, err) != MTR_OK) {
        return MTR_ERROR;
    }
    rc = caldav_store_coll_id(st, c->name, &id, err);
    if (rc == MTR_OK) {
        mtr_err_set(err, "caldav store: collection \"%s\" exists",
                    CALDAV_SAFE(c->name));
        rc = CALDAV_STORE_EXISTS;
        goto failed;
    }
    if (rc != CALDAV_STORE_NOT_FOUND) {
        goto failed;
    }
    rc = MTR_ERROR;
    if (caldav_store_next_modseq(st, &modseq, err) != MTR_OK) {
        goto failed;
    }
    s = caldav_store_stmt(st, ST_COLL_INSERT, err);
    if (s == NULL) {
        goto failed;
    }
    if (caldav_bind_text(s, 1, c->name) || caldav_bind_int(s, 2, c->kind)
        || caldav_store_bind_props(s, c) || caldav_bind_int(s, 9, modseq)
        || caldav_bind_int(s, 10, now) || caldav_store_step(s) < 0)
    {
        caldav_store_fail(st, err, "coll_create");
        goto failed;
    }
    id = sqlite3_last_insert_rowid(st->db);
    caldav_store_done(st, ST_COLL_INSERT, s);
    s = NULL;
    if (caldav_store_commit(st, err) != MTR_OK) {
        goto failed;
    }
    c->id = id;
    c->modseq = (uint64_t) modseq;
    c->created = now;
    return MTR_OK;

failed:
    caldav_store_done(st, ST_COLL_INSERT, s);
    caldav_store_rollback(st);
    return rc;
}

int
caldav_store_coll_update(caldav_store_t *st, const caldav_coll_t *c,
                         mtr_err_t *err)
{
    sqlite3_stmt *s;
    int           rc;

    if (st == NULL || c == NULL) {
        return mtr_err_set(err, "caldav store: coll_update: bad arguments");
    }
    if (memchr(c->name, '\0', sizeof(c->name)) == NULL) {
        return mtr_err_set(err, "caldav store: collection name not "
                                "terminated");
    }
    if (caldav_store_check_name(c->name, "collection", err) != MTR_OK) {
        return MTR_ERROR;
    }
    s = caldav_store_stmt(st, ST_COLL_UPDATE, err);
    if (s == NULL) {
        return MTR_ERROR;
    }
    /* With an id, a collection deleted and made again is not updated. */
    if (caldav_bind_text(s, 1, c->name) || caldav_bind_int(s, 2, c->id)
        || caldav_store_bind_props(s, c) || caldav_store_step(s) < 0)
    {
        rc = caldav_store_fail(st, err, "coll_update");
    } else if (sqlite3_changes(st->db) == 0) {
        rc = CALDAV_STORE_NOT_FOUND;
        mtr_err_set(err, "caldav store: no collection \"%s\"",
                    CALDAV_SAFE(c->name));
    } else {
        rc = MTR_OK;
    }
    caldav_store_done(st, ST_COLL_UPDATE, s);
    return rc;
}

int
caldav_store_coll_delete(caldav_store_t *st, const char *name, mtr_err_t *err)
{
    sqlite3_stmt *s;
    int           rc;

    if (st == NULL) {
        return mtr_err_set(err, "caldav store: coll_delete: bad arguments");
    }
    if (caldav_store_check_name(name, "collection", err) != MTR_OK) {
        return MTR_ERROR;
    }
    s = caldav_store_stmt(st, ST_COLL_DELETE, err);
    if (s == NULL) {
        return MTR_ERROR;
    }
    /* One statement, one implicit transaction: objects, tombstones, props
     * and shares go with it through ON DELETE CASCADE. */
    if (caldav_bind_text(s, 1, name) || caldav_store_step(s) < 0) {
        rc = caldav_store_fail(st, err, "coll_delete");
    } else if (sqlite3_changes(st->db) == 0) {
        rc = CALDAV_STORE_NOT_FOUND;
        mtr_err_set(err, "caldav store: no collection \"%s\"",
                    CALDAV_SAFE(name));
    } else {
        rc = MTR_OK;
    }
    caldav_store_done(st, ST_COLL_DELETE, s);
    return rc;
}


/* ---- objects ------------------------------------------------------------- */

/* The quoted lowercase hex SHA-256 of the bytes. */
static int
caldav_store_etag(const char *data, size_t len, char *etag, mtr_err_t *err)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char     md[EVP_MAX_MD_SIZE];
    unsigned int      mdlen = 0;
    char             *p = etag;

    if (EVP_Digest(data ? data : "", len, md, &mdlen, EVP_sha256(), NULL) != 1
        || mdlen != 32)
    {
        return mtr_err_set(err, "caldav store: SHA-256 failed");
    }
    *p++ = '"';
    for (unsigned int i = 0; i < 32; i++) { /* @UNSAFE: 1 + 64 + 1 + 1 */
        *p++ = hex[md[i] >> 4];
        *p++ = hex[md[i] & 0x0f];
    }
    *p++ = '"';
    *p = '\0';
    return MTR_OK;
}

/* The current row of (coll_id, name), read inside the write transaction. */
typedef struct {
    int     exists; /* a live row (not a tombstone) */
    int64_t size;
    int     match; /* if_match holds */
} caldav_cur_t;

static int
caldav_store_obj_state(caldav_store_t *st, int64_t coll_id, const char *name,
                       const char *if_match, caldav_cur_t *cur, mtr_err_t *err)
{
    sqlite3_stmt        *s = caldav_store_stmt(st, ST_OBJ_STATE, err);
    const unsigned char *etag;
    int                  rc;

    memset(cur, 0, sizeof(*cur));
    if (s == NULL) {
        return MTR_ERROR;
    }
    rc = caldav_bind_int(s, 1, coll_id) || caldav_bind_text(s, 2, name)
             ? -1
             : caldav_store_step(s);
    if (rc < 0) {
        caldav_store_done(st, ST_OBJ_STATE, s);
        return caldav_store_fail(st, err, "object state");
    }
    if (rc == SQLITE_ROW && sqlite3_column_int(s, 1)) {
        cur->exists = 1;
        cur->size = sqlite3_column_int64(s, 2);
        etag = sqlite3_column_text(s, 0);
        cur->match =
            if_match == NULL || strcmp(if_match, "*") == 0
            || (etag != NULL && strcmp((const char *) etag, if_match) == 0);
    }
    caldav_store_done(st, ST_OBJ_STATE, s);
    return MTR_OK;
}

/* Another live object of the collection with uid: CALDAV_STORE_UID_... */
static int
caldav_store_uid_check(caldav_store_t *st, int64_t coll_id, const char *name,
                       const char *uid, char *conflict_name_r, mtr_err_t *err)
{
    sqlite3_stmt        *s = caldav_store_stmt(st, ST_OBJ_UID, err);
    const unsigned char *other;
    int                  rc;

    if (s == NULL) {
        return MTR_ERROR;
    }
    rc = caldav_bind_int(s, 1, coll_id) || caldav_bind_text(s, 2, uid)
                 || caldav_bind_text(s, 3, name)
             ? -1
             : caldav_store_step(s);
    if (rc < 0) {
        rc = caldav_store_fail(st, err, "uid check");
    } else if (rc == SQLITE_ROW) {
        other = sqlite3_column_text(s, 0);
        if (other == NULL) {
            other = (const unsigned char *) "";
        }
        if (conflict_name_r != NULL) {
            snprintf(conflict_name_r, CALDAV_STORE_MAX_NAME + 1, "%s",
                     (const char *) other);
        }
        mtr_err_set(err, "caldav store: UID \"%s\" is used by \"%s\"",
                    CALDAV_SAFE(uid), CALDAV_SAFE((const char *) other));
        rc = CALDAV_STORE_UID_CONFLICT;
    } else {
        rc = MTR_OK;
    }
    caldav_store_done(st, ST_OBJ_UID, s);
    return rc;
}

/* Bump the collection: new modseq, object count and byte deltas. */
static int
caldav_store_coll_bump(caldav_store_t *st, int64_t coll_id, int64_t modseq,
                       int64_t dcount, int64_t dbytes, mtr_err_t *err)
{
    sqlite3_stmt *s = caldav_store_stmt(st, ST_COLL_BUMP, err);
    int           rc = MTR_OK;

    if (s == NULL) {
        return MTR_ERROR;
    }
    if (caldav_bind_int(s, 1, coll_id) || caldav_bind_int(s, 2, modseq)
        || caldav_bind_int(s, 3, dcount) || caldav_bind_int(s, 4, dbytes)
        || caldav_store_step(s) < 0)
    {
        rc = caldav_store_fail(st, err, "collection update");
    }
    caldav_store_done(st, ST_COLL_BUMP, s);
    return rc;
}

/* ?14 and ?15: the instance list, encoded little-endian into *buf_r. */
static int
caldav_store_bind_inst(sqlite3_stmt *s, const caldav_obj_index_t *ix,
                       unsigned char **buf_r)
{
    size_t         n = ix->ninstances, i, j;
    unsigned char *b;

    if (ix->instances == NULL || n > SIZE_MAX / 16) {
        return sqlite3_bind_null(s, 14) != SQLITE_OK
               || sqlite3_bind_null(s, 15) != SQLITE_OK;
    }
    b = malloc(n * 16 + 1);
    if (b == NULL) {
        return 1;
    }
    for (i = 0; i < 2 * n; i++) {
        uint64_t v = (uint64_t) ix->instances[i];

        for (j = 0; j < 8; j++) {
            b[i * 8 + j] = (unsigned char) (v >> (8 * j));
        }
    }
    *buf_r = b;
    return sqlite3_bind_blob64(s, 14, b, n * 16, SQLITE_STATIC) != SQLITE_OK
           || caldav_bind_int(s, 15, ix->instances_until);
}

static int
caldav_store_upsert(caldav_store_t *st, int64_t coll_id, const char *name,
                    const char *data, size_t len, const caldav_obj_index_t *ix,
                    const char *etag, int64_t modseq, int64_t now,
                    mtr_err_t *err)
{
    sqlite3_stmt  *s = caldav_store_stmt(st, ST_OBJ_UPSERT, err);
    int            long_span, rc = MTR_OK;
    unsigned char *inst = NULL;

    if (s == NULL) {
        return MTR_ERROR;
    }
    /* ix->first_start <= ix->last_end was checked: no overflow here. */
    long_span = (uint64_t) ix->last_end - (uint64_t) ix->first_start
                > CALDAV_STORE_SHORT_SPAN;
    if (caldav_bind_int(s, 1, coll_id) || caldav_bind_text(s, 2, name)
        || caldav_bind_text(s, 3, ix->uid && ix->uid[0] ? ix->uid : NULL)
        || caldav_bind_text(s, 4, ix->comp) || caldav_bind_text(s, 5, etag)
        || caldav_bind_int(s, 6, (int64_t) len) || caldav_bind_int(s, 7, modseq)
        || caldav_bind_int(s, 8, ix->first_start)
        || caldav_bind_int(s, 9, ix->last_end)
        || caldav_bind_int(s, 10, ix->recurring ? 1 : 0)
        || caldav_bind_int(s, 11, long_span) || caldav_bind_int(s, 12, now)
        || sqlite3_bind_blob64(s, 13, len ? data : "", len, SQLITE_STATIC)
               != SQLITE_OK
        || caldav_store_bind_inst(s, ix, &inst) || caldav_store_step(s) < 0)
    {
        rc = caldav_store_fail(st, err, "put");
    }
    caldav_store_done(st, ST_OBJ_UPSERT, s);
    free(inst);
    return rc;
}

int
caldav_store_obj_put(caldav_store_t *st, int64_t coll_id, const char *name,
                     const char *data, size_t len, const caldav_obj_index_t *ix,
                     const char *if_match, int if_none_match_star, char *etag_r,
                     int *created_r, char *conflict_name_r, mtr_err_t *err)
{
    char         etag[CALDAV_STORE_ETAG_SIZE];
    int64_t      modseq, msq, mint, now;
    caldav_cur_t cur;
    int          rc;

    if (st == NULL || ix == NULL || etag_r == NULL
        || (data == NULL && len != 0)) {
        return mtr_err_set(err, "caldav store: put: bad arguments");
    }
    if (caldav_store_check_name(name, "object", err) != MTR_OK) {
        return MTR_ERROR;
    }
    if (len > (size_t) INT64_MAX) {
        return mtr_err_set(err, "caldav store: put: object too large");
    }
    if (ix->first_start > ix->last_end) {
        return mtr_err_set(err,
                           "caldav store: put: first_start %lld after "
                           "last_end %lld",
                           (long long) ix->first_start,
                           (long long) ix->last_end);
    }
    if (conflict_name_r != NULL) {
        conflict_name_r[0] = '\0';
    }
    /* Hash before taking the write lock: other writers need not wait. */
    if (caldav_store_etag(data, len, etag, err) != MTR_OK) {
        return MTR_ERROR;
    }

    if (caldav_store_begin(st, 1, err) != MTR_OK) {
        return MTR_ERROR;
    }
    now = (int64_t) time(NULL);
    rc = caldav_store_coll_state(st, coll_id, &msq, &mint, err);
    if (rc != MTR_OK) {
        goto failed;
    }
    rc = caldav_store_obj_state(st, coll_id, name, if_match, &cur, err);
    if (rc != MTR_OK) {
        goto failed;
    }
    if ((if_match != NULL && (!cur.exists || !cur.match))
        || (if_none_match_star && cur.exists))
    {
        mtr_err_set(err, "caldav store: precondition failed for \"%s\"",
                    CALDAV_SAFE(name));
        rc = CALDAV_STORE_PRECOND;
        goto failed;
    }
    if (ix->uid != NULL && ix->uid[0] != '\0') {
        rc = caldav_store_uid_check(st, coll_id, name, ix->uid, conflict_name_r,
                                    err);
        if (rc != MTR_OK) {
            goto failed;
        }
    }
    rc = MTR_ERROR;
    if (caldav_store_next_modseq(st, &modseq, err) != MTR_OK
        || caldav_store_upsert(st, coll_id, name, data, len, ix, etag, modseq,
                               now, err)
               != MTR_OK
        || caldav_store_coll_bump(st, coll_id, modseq, cur.exists ? 0 : 1,
                                  (int64_t) len - cur.size, err)
               != MTR_OK
        || caldav_store_commit(st, err) != MTR_OK)
    {
        goto failed;
    }
    memcpy(etag_r, etag, sizeof(etag));
    if (created_r != NULL) {
        *created_r = !cur.exists;
    }
    return MTR_OK;

failed:
    caldav_store_rollback(st);
    return rc;
}

/* Tombstone one object and drop its dead properties. */
static int
caldav_store_tombstone(caldav_store_t *st, int64_t coll_id, const char *name,
                       int64_t modseq, int64_t now, mtr_err_t *err)
{
    sqlite3_stmt *s = caldav_store_stmt(st, ST_OBJ_TOMB, err);
    int           rc = MTR_OK;

    if (s == NULL) {
        return MTR_ERROR;
    }
    if (caldav_bind_int(s, 1, coll_id) || caldav_bind_text(s, 2, name)
        || caldav_bind_int(s, 3, modseq) || caldav_bind_int(s, 4, now)
        || caldav_store_step(s) < 0)
    {
        rc = caldav_store_fail(st, err, "delete");
    }
    caldav_store_done(st, ST_OBJ_TOMB, s);
    if (rc != MTR_OK) {
        return rc;
    }
    s = caldav_store_stmt(st, ST_PROP_DEL_OBJ, err);
    if (s == NULL) {
        return MTR_ERROR;
    }
    if (caldav_bind_int(s, 1, coll_id) || caldav_bind_text(s, 2, name)
        || caldav_store_step(s) < 0)
    {
        rc = caldav_store_fail(st, err, "delete: dead properties");
    }
    caldav_store_done(st, ST_PROP_DEL_OBJ, s);
    return rc;
}

static int64_t
caldav_store_le64(const unsigned char *p)
{
    uint64_t v = 0;

    for (int j = 7; j >= 0; j--) {
        v = (v << 8) | p[j];
    }
    return (int64_t) v;
}

int
caldav_store_obj_hit(caldav_store_t *st, int64_t coll_id, const char *name,
                     int64_t start, int64_t end, int *hit_r, mtr_err_t *err)
{
    sqlite3_stmt        *s = caldav_store_stmt(st, ST_OBJ_INST, err);
    const unsigned char *b;
    size_t               n, i;
    int                  rc;

    *hit_r = 0;
    if (s == NULL) {
        return MTR_ERROR;
    }
    if (caldav_bind_int(s, 1, coll_id) || caldav_bind_text(s, 2, name)) {
        caldav_store_done(st, ST_OBJ_INST, s);
        return caldav_store_fail(st, err, "instances");
    }
    rc = caldav_store_step(s);
    if (rc < 0) {
        caldav_store_done(st, ST_OBJ_INST, s);
        return caldav_store_fail(st, err, "instances");
    }
    if (rc != SQLITE_ROW) {
        caldav_store_done(st, ST_OBJ_INST, s);
        return CALDAV_STORE_NOT_FOUND;
    }
    if (sqlite3_column_type(s, 0) != SQLITE_BLOB
        || sqlite3_column_int64(s, 1) < end)
    {
        caldav_store_done(st, ST_OBJ_INST, s);
        return MTR_DECLINED;
    }
    b = sqlite3_column_blob(s, 0);
    n = (size_t) sqlite3_column_bytes(s, 0) / 16;
    /* sorted by start: stop at the first instance starting at or past end */
    for (i = 0; i < n; i++) {
        int64_t is = caldav_store_le64(b + 16 * i);
        int64_t ie = caldav_store_le64(b + 16 * i + 8);

        if (is >= end) {
            break;
        }
        if (ie > is ? ie > start : is >= start) {
            *hit_r = 1;
            break;
        }
    }
    caldav_store_done(st, ST_OBJ_INST, s);
    return MTR_OK;
}

int
caldav_store_obj_delete(caldav_store_t *st, int64_t coll_id, const char *name,
                        const char *if_match, mtr_err_t *err)
{
    int64_t      modseq, msq, mint, now;
    caldav_cur_t cur;
    int          rc;

    if (st == NULL) {
        return mtr_err_set(err, "caldav store: delete: bad arguments");
    }
    if (caldav_store_check_name(name, "object", err) != MTR_OK) {
        return MTR_ERROR;
    }
    if (caldav_store_begin(st, 1, err) != MTR_OK) {
        return MTR_ERROR;
    }
    now = (int64_t) time(NULL);
    rc = caldav_store_coll_state(st, coll_id, &msq, &mint, err);
    if (rc != MTR_OK) {
        goto failed;
    }
    rc = caldav_store_obj_state(st, coll_id, name, if_match, &cur, err);
    if (rc != MTR_OK) {
        goto failed;
    }
    /* RFC 7232: If-Match on a missing resource is a failed precondition. */
    if (if_match != NULL && (!cur.exists || !cur.match)) {
        mtr_err_set(err, "caldav store: precondition failed for \"%s\"",
                    CALDAV_SAFE(name));
        rc = CALDAV_STORE_PRECOND;
        goto failed;
    }
    if (!cur.exists) {
        mtr_err_set(err, "caldav store: no object \"%s\"", CALDAV_SAFE(name));
        rc = CALDAV_STORE_NOT_FOUND;
        goto failed;
    }
    rc = MTR_ERROR;
    if (caldav_store_next_modseq(st, &modseq, err) != MTR_OK
        || caldav_store_tombstone(st, coll_id, name, modseq, now, err) != MTR_OK
        || caldav_store_coll_bump(st, coll_id, modseq, -1, -cur.size, err)
               != MTR_OK
        || caldav_store_prune(st, now, err) != MTR_OK
        || caldav_store_commit(st, err) != MTR_OK)
    {
        goto failed;
    }
    return MTR_OK;

failed:
    caldav_store_rollback(st);
    return rc;
}

/*
 * An OBJ_COLS row as a caldav_obj_t.  len is the stored size even when the
 * data was not asked for (getcontentlength needs no data).
 */
static int
caldav_store_row_obj(sqlite3_stmt *s, caldav_obj_t *o, mtr_err_t *err)
{
    memset(o, 0, sizeof(*o));
    o->name = (const char *) sqlite3_column_text(s, 0);
    o->etag = (const char *) sqlite3_column_text(s, 1);
    o->uid = (const char *) sqlite3_column_text(s, 2);
    o->comp = (const char *) sqlite3_column_text(s, 3);
    if (sqlite3_column_type(s, 4) != SQLITE_NULL) {
        o->data = sqlite3_column_blob(s, 4);
        o->len = (size_t) sqlite3_column_bytes(s, 4);
        if (o->data == NULL) {
            o->data = ""; /* a zero-length blob */
        }
    } else {
        o->len = (size_t) sqlite3_column_int64(s, 5);
    }
    o->modseq = (uint64_t) sqlite3_column_int64(s, 6);
    o->first_start = sqlite3_column_int64(s, 7);
    o->last_end = sqlite3_column_int64(s, 8);
    o->recurring = sqlite3_column_int(s, 9);
    o->mtime = sqlite3_column_int64(s, 10);
    o->deleted = sqlite3_column_int(s, 11);
    if (o->name == NULL || o->etag == NULL) {
        return mtr_err_set(err, "caldav store: out of memory");
    }
    return MTR_OK;
}

/*
 * Run a bound object query, calling cb per row.  limit: stop after that many
 * rows (0 none), but never while the last row is below floor (see
 * caldav_store_changes); *last_r is the modseq of the last row handed to cb
 * and *more_r tells whether rows remain unseen (a limit or the callback).
 * Stopping in C rather than with SQL LIMIT costs nothing: the rows come in
 * index order, unsorted.
 */
static int
caldav_store_obj_rows(caldav_store_t *st, sqlite3_stmt *s, const char *op,
                      uint64_t limit, uint64_t floor, caldav_obj_cb cb,
                      void *ctx, uint64_t *last_r, int *more_r, mtr_err_t *err)
{
    caldav_obj_t o;
    uint64_t     n = 0;
    int          rc;

    *more_r = 0;
    while ((rc = caldav_store_step(s)) == SQLITE_ROW) {
        if (limit != 0 && n >= limit && *last_r >= floor) {
            *more_r = 1;
            return MTR_OK;
        }
        if (caldav_store_row_obj(s, &o, err) != MTR_OK) {
            return MTR_ERROR;
        }
        n++;
        *last_r = o.modseq;
        if (cb(&o, ctx) != 0) {
            rc = caldav_store_step(s);
            if (rc < 0) {
                break;
            }
            *more_r = rc == SQLITE_ROW;
            return MTR_OK;
        }
    }
    if (rc < 0) {
        return caldav_store_fail(st, err, op);
    }
    return MTR_OK;
}

int
caldav_store_obj_get(caldav_store_t *st, int64_t coll_id, const char *name,
                     int with_data, caldav_obj_cb cb, void *ctx, mtr_err_t *err)
{
    sqlite3_stmt *s;
    caldav_obj_t  o;
    int           rc;

    if (st == NULL || cb == NULL) {
        return mtr_err_set(err, "caldav store: get: bad arguments");
    }
    if (caldav_store_check_name(name, "object", err) != MTR_OK) {
        return MTR_ERROR;
    }
    s = caldav_store_stmt(st, ST_OBJ_GET, err);
    if (s == NULL) {
        return MTR_ERROR;
    }
    rc = caldav_bind_int(s, 1, coll_id) || caldav_bind_text(s, 2, name)
                 || caldav_bind_with_data(s, with_data)
             ? -1
             : caldav_store_step(s);
    if (rc < 0) {
        rc = caldav_store_fail(st, err, "get");
    } else if (rc == SQLITE_DONE) {
        mtr_err_set(err, "caldav store: no object \"%s\"", CALDAV_SAFE(name));
        rc = CALDAV_STORE_NOT_FOUND;
    } else {
        rc = caldav_store_row_obj(s, &o, err);
        if (rc == MTR_OK) {
            (void) cb(&o, ctx);
        }
    }
    caldav_store_done(st, ST_OBJ_GET, s);
    return rc;
}

int
caldav_store_obj_walk(caldav_store_t *st, int64_t coll_id, const char *comp,
                      int64_t range_start, int64_t range_end, int use_range,
                      int with_data, caldav_obj_cb cb, void *ctx,
                      mtr_err_t *err)
{
    caldav_stmt_e id = !use_range  ? ST_OBJ_WALK
                       : with_data ? ST_OBJ_RANGE_DATA
                                   : ST_OBJ_RANGE;
    sqlite3_stmt *s;
    uint64_t      last = 0;
    int           more, rc, bad;
    int64_t       lo;

    if (st == NULL || cb == NULL) {
        return mtr_err_set(err, "caldav store: walk: bad arguments");
    }
    s = caldav_store_stmt(st, id, err);
    if (s == NULL) {
        return MTR_ERROR;
    }
    bad = caldav_bind_int(s, 1, coll_id) || caldav_bind_text(s, 2, comp)
          || caldav_bind_with_data(s, with_data);
    if (use_range) {
        lo = range_start < INT64_MIN + CALDAV_STORE_SHORT_SPAN
                 ? INT64_MIN
                 : range_start - CALDAV_STORE_SHORT_SPAN;
        bad = bad || caldav_bind_int(s, 3, lo)
              || caldav_bind_int(s, 4, range_end)
              || caldav_bind_int(s, 5, range_start);
    }
    if (bad) {
        rc = caldav_store_fail(st, err, "walk");
    } else {
        rc = caldav_store_obj_rows(st, s, "walk", 0, 0, cb, ctx, &last, &more,
                                   err);
    }
    caldav_store_done(st, id, s);
    return rc;
}

int
caldav_store_changes(caldav_store_t *st, int64_t coll_id, uint64_t since,
                     uint64_t limit, int with_data, caldav_obj_cb cb, void *ctx,
                     uint64_t *now_r, int *truncated_r, mtr_err_t *err)
{
    caldav_stmt_e id = since == 0 ? ST_CHANGES_LIVE : ST_CHANGES_SINCE;
    sqlite3_stmt *s = NULL;
    int64_t       modseq, min_token;
    uint64_t      last = 0;
    int           more = 0, rc;

    if (st == NULL || cb == NULL) {
        return mtr_err_set(err, "caldav store: changes: bad arguments");
    }
    /* One read transaction: the modseq handed out matches the rows. */
    if (caldav_store_begin(st, 0, err) != MTR_OK) {
        return MTR_ERROR;
    }
    rc = caldav_store_coll_state(st, coll_id, &modseq, &min_token, err);
    if (rc != MTR_OK) {
        goto done;
    }
    if (since > (uint64_t) modseq
        || (since != 0 && since < (uint64_t) min_token)) {
        mtr_err_set(err, "caldav store: sync token %llu outside [%lld, %lld]",
                    (unsigned long long) since, (long long) min_token,
                    (long long) modseq);
        rc = CALDAV_STORE_BAD_TOKEN;
        goto done;
    }
    s = caldav_store_stmt(st, id, err);
    if (s == NULL) {
        rc = MTR_ERROR;
        goto done;
    }
    if (caldav_bind_int(s, 1, coll_id) || caldav_bind_int(s, 2, (int64_t) since)
        || caldav_bind_with_data(s, with_data))
    {
        rc = caldav_store_fail(st, err, "changes");
        goto done;
    }
    /*
     * A page of the initial listing hands out the modseq of its last live
     * object as the next token, and a token below min_token is refused:
     * after a prune, such a page would be refused on every restart.  So
     * the initial listing is never cut below min_token (it may then hold
     * more than limit objects; the caller can tell by counting).
     */
    rc = caldav_store_obj_rows(st, s, "changes", limit,
                               since == 0 ? (uint64_t) min_token : 0, cb, ctx,
                               &last, &more, err);
    if (rc != MTR_OK) {
        goto done;
    }
    caldav_store_done(st, id, s);
    s = NULL;
    rc = caldav_store_commit(st, err);
    if (rc == MTR_OK) {
        if (now_r != NULL) {
            *now_r = more ? last : (uint64_t) modseq;
        }
        if (truncated_r != NULL) {
            *truncated_r = more;
        }
    }

done:
    caldav_store_done(st, id, s);
    caldav_store_rollback(st);
    return rc;
}

int
caldav_store_usage(caldav_store_t *st, uint64_t *bytes_r, uint64_t *objects_r,
                   mtr_err_t *err)
{
    sqlite3_stmt *s;
    int           rc;

    if (st == NULL) {
        return mtr_err_set(err, "caldav store: usage: bad arguments");
    }
    s = caldav_store_stmt(st, ST_USAGE, err);
    if (s == NULL) {
        return MTR_ERROR;
    }
    rc = caldav_store_step(s);
    if (rc != SQLITE_ROW) {
        rc = caldav_store_fail(st, err, "usage");
    } else {
        if (bytes_r != NULL) {
            *bytes_r = (uint64_t) sqlite3_column_int64(s, 0);
        }
        if (objects_r != NULL) {
            *objects_r = (uint64_t) sqlite3_column_int64(s, 1);
        }
        rc = MTR_OK;
    }
    caldav_store_done(st, ST_USAGE, s);
    return rc;
}


/* ---- dead properties ----------------------------------------------------- */

int
caldav_store_prop_set(caldav_store_t *st, int64_t coll_id, const char *obj_name,
                      const char *ns, const char *name, const char *xml,
                      mtr_err_t *err)
{
    caldav_stmt_e id = xml != NULL ? ST_PROP_SET : ST_PROP_DEL;
    sqlite3_stmt *s = NULL;
    int64_t       msq, mint;
    caldav_cur_t  cur;
    int           rc;

    if (st == NULL || ns == NULL || name == NULL || name[0] == '\0') {
        return mtr_err_set(err, "caldav store: prop_set: bad arguments");
    }
    if (obj_name != NULL
        && caldav_store_check_name(obj_name, "object", err) != MTR_OK)
    {
        return MTR_ERROR;
    }
    if (caldav_store_begin(st, 1, err) != MTR_OK) {
        return MTR_ERROR;
    }
    rc = caldav_store_coll_state(st, coll_id, &msq, &mint, err);
    if (rc != MTR_OK) {
        goto failed;
    }
    if (obj_name != NULL) {
        rc = caldav_store_obj_state(st, coll_id, obj_name, NULL, &cur, err);
        if (rc != MTR_OK) {
            goto failed;
        }
        if (!cur.exists) {
            mtr_err_set(err, "caldav store: no object \"%s\"",
                        CALDAV_SAFE(obj_name));
            rc = CALDAV_STORE_NOT_FOUND;
            goto failed;
        }
    }
    rc = MTR_ERROR;
    s = caldav_store_stmt(st, id, err);
    if (s == NULL) {
        goto failed;
    }
    if (caldav_bind_int(s, 1, coll_id)
        || caldav_bind_text(s, 2, obj_name ? obj_name : "")
        || caldav_bind_text(s, 3, ns) || caldav_bind_text(s, 4, name)
        || (xml != NULL && caldav_bind_text(s, 5, xml))
        || caldav_store_step(s) < 0)
    {
        caldav_store_fail(st, err, "prop_set");
        goto failed;
    }
    caldav_store_done(st, id, s);
    s = NULL;
    if (caldav_store_commit(st, err) != MTR_OK) {
        goto failed;
    }
    return MTR_OK;

failed:
    caldav_store_done(st, id, s);
    caldav_store_rollback(st);
    return rc;
}

int
caldav_store_prop_list(caldav_store_t *st, int64_t coll_id,
                       const char *obj_name, caldav_prop_cb cb, void *ctx,
                       mtr_err_t *err)
{
    sqlite3_stmt *s;
    const char   *ns, *name, *xml;
    int           rc;

    if (st == NULL || cb == NULL) {
        return mtr_err_set(err, "caldav store: prop_list: bad arguments");
    }
    s = caldav_store_stmt(st, ST_PROP_LIST, err);
    if (s == NULL) {
        return MTR_ERROR;
    }
    if (caldav_bind_int(s, 1, coll_id)
        || caldav_bind_text(s, 2, obj_name ? obj_name : ""))
    {
        rc = -1;
    } else {
        while ((rc = caldav_store_step(s)) == SQLITE_ROW) {
            ns = (const char *) sqlite3_column_text(s, 0);
            name = (const char *) sqlite3_column_text(s, 1);
            xml = (const char *) sqlite3_column_text(s, 2);
            if (ns == NULL || name == NULL || xml == NULL) {
                rc = -1;
                break;
            }
            if (cb(ns, name, xml, ctx) != 0) {
                rc = SQLITE_DONE;
                break;
            }
        }
    }
    rc = rc < 0 ? caldav_store_fail(st, err, "prop_list") : MTR_OK;
    caldav_store_done(st, ST_PROP_LIST, s);
    return rc;
}


/* ---- shares -------------------------------------------------------------- */

/* Run a bound write statement taking (?1 int or text, ?2 text, ?3 int). */
static int
caldav_store_access_write(caldav_store_t *st, caldav_stmt_e id, sqlite3_stmt *s,
                          int64_t coll_id, const char *first,
                          const char *second, int access, const char *op,
                          mtr_err_t *err)
{
    int rc = MTR_OK;

    if ((first != NULL ? caldav_bind_text(s, 1, first)
                       : caldav_bind_int(s, 1, coll_id))
        || caldav_bind_text(s, 2, second)
        || (access != 0 && caldav_bind_int(s, 3, access))
        || caldav_store_step(s) < 0)
    {
        rc = caldav_store_fail(st, err, op);
    }
    caldav_store_done(st, id, s);
    return rc;
}

int
caldav_store_share_set(caldav_store_t *st, const char *coll_name,
                       const char *sharee, int access, mtr_err_t *err)
{
    caldav_stmt_e id = access != 0 ? ST_SHARE_SET : ST_SHARE_DEL;
    sqlite3_stmt *s;
    int64_t       coll_id;
    int           rc;

    if (st == NULL || access < 0 || access > 2) {
        return mtr_err_set(err, "caldav store: share_set: bad arguments");
    }
    if (caldav_store_check_name(coll_name, "collection", err) != MTR_OK
        || caldav_store_check_addr(sharee, "sharee", err) != MTR_OK)
    {
        return MTR_ERROR;
    }
    if (caldav_store_begin(st, 1, err) != MTR_OK) {
        return MTR_ERROR;
    }
    rc = caldav_store_coll_id(st, coll_name, &coll_id, err);
    if (rc != MTR_OK) {
        goto failed;
    }
    rc = MTR_ERROR;
    s = caldav_store_stmt(st, id, err);
    if (s == NULL
        || caldav_store_access_write(st, id, s, coll_id, NULL, sharee, access,
                                     "share_set", err)
               != MTR_OK
        || caldav_store_commit(st, err) != MTR_OK)
    {
        goto failed;
    }
    return MTR_OK;

failed:
    caldav_store_rollback(st);
    return rc;
}

int
caldav_store_share_get(caldav_store_t *st, const char *coll_name,
                       const char *sharee, int *access_r, mtr_err_t *err)
{
    sqlite3_stmt *s = NULL;
    int64_t       coll_id;
    int           rc;

    if (st == NULL || access_r == NULL) {
        return mtr_err_set(err, "caldav store: share_get: bad arguments");
    }
    *access_r = 0;
    if (caldav_store_check_name(coll_name, "collection", err) != MTR_OK
        || caldav_store_check_addr(sharee, "sharee", err) != MTR_OK)
    {
        return MTR_ERROR;
    }
    /* Two reads, one snapshot. */
    if (caldav_store_begin(st, 0, err) != MTR_OK) {
        return MTR_ERROR;
    }
    rc = caldav_store_coll_id(st, coll_name, &coll_id, err);
    if (rc != MTR_OK) {
        goto done;
    }
    s = caldav_store_stmt(st, ST_SHARE_GET, err);
    if (s == NULL) {
        rc = MTR_ERROR;
        goto done;
    }
    rc = caldav_bind_int(s, 1, coll_id) || caldav_bind_text(s, 2, sharee)
             ? -1
             : caldav_store_step(s);
    if (rc < 0) {
        rc = caldav_store_fail(st, err, "share_get");
        goto done;
    }
    if (rc == SQLITE_ROW) {
        *access_r = sqlite3_column_int(s, 0);
    }
    rc = MTR_OK;

done:
    caldav_store_done(st, ST_SHARE_GET, s);
    caldav_store_rollback(st); /* read-only: ends the snapshot */
    return rc;
}

int
caldav_store_share_list(caldav_store_t *st, const char *coll_name,
                        caldav_share_cb cb, void *ctx, mtr_err_t *err)
{
    sqlite3_stmt *s = NULL;
    const char   *cn, *sharee;
    int64_t       coll_id;
    int           rc;

    if (st == NULL || cb == NULL) {
        return mtr_err_set(err, "caldav store: share_list: bad arguments");
    }
    if (coll_name != NULL
        && caldav_store_check_name(coll_name, "collection", err) != MTR_OK)
    {
        return MTR_ERROR;
    }
    if (caldav_store_begin(st, 0, err) != MTR_OK) {
        return MTR_ERROR;
    }
    if (coll_name != NULL) {
        rc = caldav_store_coll_id(st, coll_name, &coll_id, err);
        if (rc != MTR_OK) {
            goto done;
        }
    }
    s = caldav_store_stmt(st, ST_SHARE_LIST, err);
    if (s == NULL) {
        rc = MTR_ERROR;
        goto done;
    }
    if (caldav_bind_text(s, 1, coll_name)) {
        rc = -1;
    } else {
        while ((rc = caldav_store_step(s)) == SQLITE_ROW) {
            cn = (const char *) sqlite3_column_text(s, 0);
            sharee = (const char *) sqlite3_column_text(s, 1);
            if (cn == NULL || sharee == NULL) {
                rc = -1;
                break;
            }
            if (cb(cn, sharee, sqlite3_column_int(s, 2), ctx) != 0) {
                break;
            }
        }
    }
    rc = rc < 0 ? caldav_store_fail(st, err, "share_list") : MTR_OK;

done:
    caldav_store_done(st, ST_SHARE_LIST, s);
    caldav_store_rollback(st);
    return rc;
}

int
caldav_store_shared_with_me_set(caldav_store_t *st, const char *owner,
                                const char *coll_name, int access,
                                mtr_err_t *err)
{
    caldav_stmt_e id = access != 0 ? ST_SWM_SET : ST_SWM_DEL;
    sqlite3_stmt *s;

    if (st == NULL || access < 0 || access > 2) {
        return mtr_err_set(err, "caldav store: shared_with_me_set: bad "
                                "arguments");
    }
    if (caldav_store_check_addr(owner, "owner", err) != MTR_OK
        || caldav_store_check_name(coll_name, "collection", err) != MTR_OK)
    {
        return MTR_ERROR;
    }
    s = caldav_store_stmt(st, id, err);
    if (s == NULL) {
        return MTR_ERROR;
    }
    return caldav_store_access_write(st, id, s, 0, owner, coll_name, access,
                                     "shared_with_me_set", err);
}

int
caldav_store_shared_with_me_list(caldav_store_t *st, caldav_shared_cb cb,
                                 void *ctx, mtr_err_t *err)
{
    sqlite3_stmt *s;
    const char   *owner, *cn;
    int           rc;

    if (st == NULL || cb == NULL) {
        return mtr_err_set(err, "caldav store: shared_with_me_list: bad "
                                "arguments");
    }
    s = caldav_store_stmt(st, ST_SWM_LIST, err);
    if (s == NULL) {
        return MTR_ERROR;
    }
    while ((rc = caldav_store_step(s)) == SQLITE_ROW) {
        owner = (const char *) sqlite3_column_text(s, 0);
        cn = (const char *) sqlite3_column_text(s, 1);
        if (owner == NULL || cn == NULL) {
            rc = -1;
            break;
        }
        if (cb(owner, cn, sqlite3_column_int(s, 2), ctx) != 0) {
            break;
        }
    }
    rc = rc < 0 ? caldav_store_fail(st, err, "shared_with_me_list") : MTR_OK;
    caldav_store_done(st, ST_SWM_LIST, s);
    return rc;
}
