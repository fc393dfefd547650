/*
 * test_caldav_store.c -- unit tests of ngx_caldav/caldav_store.c.
 *
 * Every test runs against a real SQLite file in a fresh temporary
 * directory (the store is a thin layer over SQLite: mocking it would test
 * nothing).  The fixture opens a store owned by alice and creates the
 * calendar "cal".  Where a test needs a state the API cannot produce (a
 * tombstone 91 days old, a newer schema, a failing write) it edits the file
 * with plain sqlite3 calls, as an administrator or a crash would.
 *
 * Case tables print the case name before asserting, so a failure says
 * which row broke.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>
#include <sqlite3.h>

#include "caldav_store.h"
#include "caldav_types.h"

#define OWNER "alice@example.test"
#define T0    ((int64_t) 1700000000)
#define HOUR  ((int64_t) 3600)
#define DAY   ((int64_t) 86400)

/* SHA-256("abc") */
#define ETAG_ABC                                                               \
    "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\""
#define ETAG_STALE                                                             \
    "\"0000000000000000000000000000000000000000000000000000000000000000\""

static char tmpdir[256];
static int  db_seq;

typedef struct {
    char            path[512];
    caldav_store_t *st;
    caldav_coll_t   cal;
    mtr_err_t       err;
} fx_t;

/* ---- helpers ------------------------------------------------------------- */

static void
db_unlink(const char *path)
{
    char p[600];

    unlink(path);
    snprintf(p, sizeof(p), "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    unlink(p);
}

static void
db_new_path(char *buf, size_t size)
{
    snprintf(buf, size, "%s/t%d.sqlite", tmpdir, ++db_seq);
    db_unlink(buf);
}

/* Run SQL on the file behind the store's back. */
static void
raw_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    char    *msg = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fail_msg("raw sql \"%s\": %s", sql, msg);
    }
    sqlite3_close(db);
}

static caldav_obj_index_t
ix_event(const char *uid, int64_t start, int64_t end)
{
    caldav_obj_index_t ix = { uid, "VEVENT", start, end, 0, NULL, 0, 0 };

    return ix;
}

/* Put with no conditions; returns the status, etag into etag_r if given. */
static int
put(fx_t *fx, int64_t coll_id, const char *name, const char *data,
    const caldav_obj_index_t *ix, char *etag_r, int *created_r)
{
    char etag[80];
    int  created = -1;

    return caldav_store_obj_put(fx->st, coll_id, name, data, strlen(data), ix,
                                NULL, 0, etag_r ? etag_r : etag,
                                created_r ? created_r : &created, NULL,
                                &fx->err);
}

static void
put_ok(fx_t *fx, const char *name, const char *data, const char *uid)
{
    caldav_obj_index_t ix = ix_event(uid, T0, T0 + HOUR);
    int                rc = put(fx, fx->cal.id, name, data, &ix, NULL, NULL);

    if (rc != MTR_OK) {
        fail_msg("put %s: %d %s", name, rc, fx->err.msg);
    }
}

static uint64_t
coll_modseq(fx_t *fx, const char *name)
{
    caldav_coll_t c;
    uint64_t      m;

    assert_int_equal(caldav_store_coll_get(fx->st, name, &c, &fx->err), MTR_OK);
    m = c.modseq;
    caldav_coll_clear(&c);
    return m;
}

/* What a walk or changes handed to its callback, copied. */
#define COLLECT_MAX 1024

typedef struct {
    size_t   n;
    size_t   stop_after; /* 0: never stop */
    char     name[COLLECT_MAX][CALDAV_STORE_MAX_NAME + 1];
    char     data[COLLECT_MAX][64];
    int      has_data[COLLECT_MAX];
    size_t   len[COLLECT_MAX];
    uint64_t modseq[COLLECT_MAX];
    int      deleted[COLLECT_MAX];
} collect_t;

static collect_t *
collect_new(void)
{
    collect_t *c = calloc(1, sizeof(*c));

    assert_non_null(c);
    return c;
}

static int
collect_cb(const caldav_obj_t *o, void *ctx)
{
    collect_t *c = ctx;

    assert_true(c->n < COLLECT_MAX);
    snprintf(c->name[c->n], sizeof(c->name[0]), "%s", o->name);
    c->has_data[c->n] = o->data != NULL;
    if (o->data != NULL) {
        snprintf(c->data[c->n], sizeof(c->data[0]), "%.*s", (int) o->len,
                 o->data);
    }
    c->len[c->n] = o->len;
    c->modseq[c->n] = o->modseq;
    c->deleted[c->n] = o->deleted;
    c->n++;
    return c->stop_after != 0 && c->n >= c->stop_after;
}

/* The collected names joined by spaces, for one readable comparison. */
static const char *
collect_names(const collect_t *c, char *buf, size_t size)
{
    size_t o = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < c->n && o < size; i++) {
        o += (size_t) snprintf(buf + o, size - o, "%s%s%s", i ? " " : "",
                               c->deleted[i] ? "-" : "", c->name[i]);
    }
    return buf;
}

/* One object read back by obj_get. */
typedef struct {
    int      calls;
    char     data[128];
    int      has_data;
    size_t   len;
    char     etag[80];
    char     uid[64];
    char     comp[16];
    uint64_t modseq;
    int64_t  first_start, last_end, mtime;
    int      recurring;
} got_t;

static int
got_cb(const caldav_obj_t *o, void *ctx)
{
    got_t *g = ctx;

    g->calls++;
    g->has_data = o->data != NULL;
    if (o->data != NULL) {
        snprintf(g->data, sizeof(g->data), "%.*s", (int) o->len, o->data);
    }
    g->len = o->len;
    snprintf(g->etag, sizeof(g->etag), "%s", o->etag);
    snprintf(g->uid, sizeof(g->uid), "%s", o->uid ? o->uid : "");
    snprintf(g->comp, sizeof(g->comp), "%s", o->comp ? o->comp : "");
    g->modseq = o->modseq;
    g->first_start = o->first_start;
    g->last_end = o->last_end;
    g->recurring = o->recurring;
    g->mtime = o->mtime;
    return 0;
}

static int
get(fx_t *fx, int64_t coll_id, const char *name, got_t *g)
{
    memset(g, 0, sizeof(*g));
    return caldav_store_obj_get(fx->st, coll_id, name, 1, got_cb, g, &fx->err);
}

/* ---- fixture ------------------------------------------------------------- */

static int
fx_setup(void **state)
{
    fx_t *fx = calloc(1, sizeof(*fx));

    assert_non_null(fx);
    db_new_path(fx->path, sizeof(fx->path));
    if (caldav_store_open(&fx->st, fx->path, OWNER, &fx->err) != MTR_OK) {
        fail_msg("open: %s", fx->err.msg);
    }
    snprintf(fx->cal.name, sizeof(fx->cal.name), "cal");
    fx->cal.kind = CALDAV_COLL_CALENDAR;
    assert_int_equal(caldav_store_coll_create(fx->st, &fx->cal, &fx->err),
                     MTR_OK);
    *state = fx;
    return 0;
}

static int
fx_teardown(void **state)
{
    fx_t *fx = *state;

    caldav_store_close(&fx->st);
    assert_null(fx->st);
    caldav_store_close(&fx->st); /* twice is harmless */
    db_unlink(fx->path);
    free(fx);
    return 0;
}

static int
group_setup(void **state)
{
    const char *base = getenv("TMPDIR");

    (void) state;
    snprintf(tmpdir, sizeof(tmpdir), "%s/test_caldav_store.XXXXXX",
             base && base[0] ? base : "/tmp");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
group_teardown(void **state)
{
    (void) state;
    return rmdir(tmpdir);
}

/* ---- collections --------------------------------------------------------- */

static void
test_coll_crud(void **state)
{
    fx_t         *fx = *state;
    caldav_coll_t c, work, *v = NULL;
    size_t        n = 0;
    int64_t       now = (int64_t) time(NULL);
    uint64_t      m;
    int64_t       old_id;

    assert_true(fx->cal.id > 0);
    assert_true(fx->cal.modseq > 0);
    assert_true(fx->cal.created >= now - 5 && fx->cal.created <= now + 5);

    memset(&work, 0, sizeof(work));
    snprintf(work.name, sizeof(work.name), "work");
    work.kind = CALDAV_COLL_CALENDAR;
    work.displayname = "Work";
    work.color = "#FF0000FF";
    work.comp_set = "VEVENT,VTODO";
    work.order = "3";
    work.description = "the job";
    work.timezone = "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n";
    assert_int_equal(caldav_store_coll_create(fx->st, &work, &fx->err), MTR_OK);
    assert_true(work.id > fx->cal.id);
    assert_true(work.modseq > fx->cal.modseq);

    memset(&c, 0, sizeof(c));
    snprintf(c.name, sizeof(c.name), "card:default");
    c.kind = CALDAV_COLL_ADDRESSBOOK;
    assert_int_equal(caldav_store_coll_create(fx->st, &c, &fx->err), MTR_OK);

    /* A duplicate name, whatever its kind. */
    memset(&c, 0, sizeof(c));
    snprintf(c.name, sizeof(c.name), "work");
    c.kind = CALDAV_COLL_ADDRESSBOOK;
    assert_int_equal(caldav_store_coll_create(fx->st, &c, &fx->err),
                     CALDAV_STORE_EXISTS);
    assert_non_null(strstr(fx->err.msg, "work"));

    c.kind = 7;
    snprintf(c.name, sizeof(c.name), "odd");
    assert_int_equal(caldav_store_coll_create(fx->st, &c, &fx->err), MTR_ERROR);

    /* Lists, ordered by name, filtered by kind. */
    assert_int_equal(caldav_store_coll_list(fx->st, 0, &v, &n, &fx->err),
                     MTR_OK);
    assert_int_equal(n, 3);
    assert_string_equal(v[0].name, "cal");
    assert_string_equal(v[1].name, "card:default");
    assert_string_equal(v[2].name, "work");
    assert_string_equal(v[2].displayname, "Work");
    caldav_coll_list_free(v, n);
    assert_int_equal(
        caldav_store_coll_list(fx->st, CALDAV_COLL_CALENDAR, &v, &n, &fx->err),
        MTR_OK);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].name, "cal");
    assert_string_equal(v[1].name, "work");
    caldav_coll_list_free(v, n);
    assert_int_equal(
        caldav_store_coll_list(fx->st, CALDAV_COLL_INBOX, &v, &n, &fx->err),
        MTR_OK);
    assert_int_equal(n, 0);
    caldav_coll_list_free(v, n);

    /* Get returns what was created. */
    assert_int_equal(caldav_store_coll_get(fx->st, "work", &c, &fx->err),
                     MTR_OK);
    assert_int_equal(c.id, work.id);
    assert_int_equal(c.kind, CALDAV_COLL_CALENDAR);
    assert_string_equal(c.displayname, "Work");
    assert_string_equal(c.description, "the job");
    assert_string_equal(c.color, "#FF0000FF");
    assert_string_equal(c.order, "3");
    assert_string_equal(c.comp_set, "VEVENT,VTODO");
    assert_string_equal(c.timezone, work.timezone);
    assert_int_equal(c.modseq, work.modseq);
    assert_int_equal(c.created, work.created);
    m = c.modseq;

    /* Update: NULL clears, the ctag does not move. */
    free(c.displayname);
    c.displayname = strdup("Job");
    free(c.color);
    c.color = NULL;
    assert_int_equal(caldav_store_coll_update(fx->st, &c, &fx->err), MTR_OK);
    caldav_coll_clear(&c);
    assert_int_equal(caldav_store_coll_get(fx->st, "work", &c, &fx->err),
                     MTR_OK);
    assert_string_equal(c.displayname, "Job");
    assert_null(c.color);
    assert_string_equal(c.comp_set, "VEVENT,VTODO");
    assert_int_equal(c.modseq, m);

    /* An update naming another id (deleted and made again) is refused. */
    c.id += 1000;
    assert_int_equal(caldav_store_coll_update(fx->st, &c, &fx->err),
                     CALDAV_STORE_NOT_FOUND);
    c.id -= 1000;
    caldav_coll_clear(&c);

    /* Delete, then everything about it is gone. */
    assert_int_equal(caldav_store_coll_delete(fx->st, "work", &fx->err),
                     MTR_OK);
    assert_int_equal(caldav_store_coll_get(fx->st, "work", &c, &fx->err),
                     CALDAV_STORE_NOT_FOUND);
    assert_int_equal(caldav_store_coll_delete(fx->st, "work", &fx->err),
                     CALDAV_STORE_NOT_FOUND);
    assert_int_equal(caldav_store_coll_update(fx->st, &work, &fx->err),
                     CALDAV_STORE_NOT_FOUND);

    /* Made again: a new id, never the old one. */
    old_id = work.id;
    work.id = 0;
    assert_int_equal(caldav_store_coll_create(fx->st, &work, &fx->err), MTR_OK);
    assert_true(work.id > old_id);
}

typedef struct {
    const char *name;
    const char *value;
    int         rc;
} name_case_t;

static char name_255[256], name_256[257];

static void
test_names(void **state)
{
    fx_t         *fx = *state;
    caldav_coll_t c, g;
    got_t         got;
    size_t        i;

    memset(name_255, 'n', 255);
    memset(name_256, 'n', 256);
    {
        const name_case_t cases[] = {
            { "plain", "a.ics", MTR_OK },
            { "colon and space", "card:my list", MTR_OK },
            { "UTF-8", "r\xc3\xa9union.ics", MTR_OK },
            { "255 bytes", name_255, MTR_OK },
            { "256 bytes", name_256, MTR_ERROR },
            { "empty", "", MTR_ERROR },
            { "slash", "a/b", MTR_ERROR },
            { "only a slash", "/", MTR_ERROR },
            { "dot", ".", MTR_ERROR },
            { "dot dot", "..", MTR_ERROR },
            { "newline", "a\nb", MTR_ERROR },
            { "DEL byte", "a\x7f", MTR_ERROR },
            { "NULL", NULL, MTR_ERROR },
        };

        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            const name_case_t *k = &cases[i];
            caldav_obj_index_t ix = ix_event(NULL, T0, T0 + HOUR);
            char               etag[80];
            int                created, rc;

            print_message("case: %s\n", k->name);
            fx->err.msg[0] = '\0';
            rc = caldav_store_obj_put(fx->st, fx->cal.id, k->value, "x", 1, &ix,
                                      NULL, 0, etag, &created, NULL, &fx->err);
            assert_int_equal(rc, k->rc);
            if (rc != MTR_OK) {
                assert_true(fx->err.msg[0] != '\0');
                assert_null(strchr(fx->err.msg, '\n'));
                assert_int_equal(get(fx, fx->cal.id, k->value, &got),
                                 MTR_ERROR);
            } else {
                assert_int_equal(get(fx, fx->cal.id, k->value, &got), MTR_OK);
                assert_string_equal(got.data, "x");
            }
            if (k->value == NULL || strlen(k->value) > 255) {
                continue; /* does not fit caldav_coll_t.name */
            }
            memset(&c, 0, sizeof(c));
            snprintf(c.name, sizeof(c.name), "%s", k->value);
            c.kind = CALDAV_COLL_CALENDAR;
            assert_int_equal(caldav_store_coll_create(fx->st, &c, &fx->err),
                             k->rc);
            rc = caldav_store_coll_get(fx->st, k->value, &g, &fx->err);
            assert_int_equal(rc, k->rc);
            if (rc == MTR_OK) {
                assert_int_equal(g.id, c.id);
                caldav_coll_clear(&g);
            }
        }
    }

    /* A caldav_coll_t name without its NUL is refused, not overread. */
    memset(&c, 0, sizeof(c));
    memset(c.name, 'x', sizeof(c.name));
    c.kind = CALDAV_COLL_CALENDAR;
    assert_int_equal(caldav_store_coll_create(fx->st, &c, &fx->err), MTR_ERROR);
    assert_int_equal(caldav_store_coll_update(fx->st, &c, &fx->err), MTR_ERROR);
}

/* ---- objects ------------------------------------------------------------- */

static const char bin[] = { 'a', '\0', 'b', '\x80', '\xff' };

static int
bin_cb(const caldav_obj_t *o, void *ctx)
{
    *(int *) ctx = o->data != NULL && o->len == sizeof(bin)
                   && memcmp(o->data, bin, sizeof(bin)) == 0;
    return 0;
}

static void
test_put_get_etag(void **state)
{
    fx_t              *fx = *state;
    caldav_obj_index_t ix = { "uid-1", "VEVENT", T0, T0 + HOUR, 1, NULL, 0, 0 };
    char               e1[80], e2[80], e3[80];
    int                created = -1;
    got_t              got;
    uint64_t           m0, m1, m2, m3;

    m0 = coll_modseq(fx, "cal");
    assert_int_equal(put(fx, fx->cal.id, "a.ics", "abc", &ix, e1, &created),
                     MTR_OK);
    assert_int_equal(created, 1);
    assert_string_equal(e1, ETAG_ABC);
    m1 = coll_modseq(fx, "cal");
    assert_true(m1 > m0);

    assert_int_equal(get(fx, fx->cal.id, "a.ics", &got), MTR_OK);
    assert_int_equal(got.calls, 1);
    assert_true(got.has_data);
    assert_string_equal(got.data, "abc");
    assert_int_equal(got.len, 3);
    assert_string_equal(got.etag, ETAG_ABC);
    assert_string_equal(got.uid, "uid-1");
    assert_string_equal(got.comp, "VEVENT");
    assert_int_equal(got.first_start, T0);
    assert_int_equal(got.last_end, T0 + HOUR);
    assert_int_equal(got.recurring, 1);
    assert_int_equal(got.modseq, m1);
    assert_true(got.mtime >= (int64_t) time(NULL) - 5);

    /* Without data: no bytes, but the length (getcontentlength). */
    memset(&got, 0, sizeof(got));
    assert_int_equal(caldav_store_obj_get(fx->st, fx->cal.id, "a.ics", 0,
                                          got_cb, &got, &fx->err),
                     MTR_OK);
    assert_false(got.has_data);
    assert_int_equal(got.len, 3);

    /* Same bytes, same ETag; still a write (new modseq). */
    assert_int_equal(put(fx, fx->cal.id, "a.ics", "abc", &ix, e2, &created),
                     MTR_OK);
    assert_int_equal(created, 0);
    assert_string_equal(e2, e1);
    m2 = coll_modseq(fx, "cal");
    assert_true(m2 > m1);

    /* Other bytes, other ETag. */
    assert_int_equal(put(fx, fx->cal.id, "a.ics", "abd", &ix, e3, &created),
                     MTR_OK);
    assert_int_equal(created, 0);
    assert_string_not_equal(e3, e1);
    assert_int_equal(strlen(e3), 66);
    assert_true(e3[0] == '"' && e3[65] == '"');
    assert_int_equal(strspn(e3 + 1, "0123456789abcdef"), 64);
    m3 = coll_modseq(fx, "cal");
    assert_true(m3 > m2);
    assert_int_equal(get(fx, fx->cal.id, "a.ics", &got), MTR_OK);
    assert_string_equal(got.data, "abd");
    assert_string_equal(got.etag, e3);

    /* Binary bytes come back unchanged, NUL included; empty is allowed. */
    {
        char etag[80];
        int  same = 0;

        ix.uid = "binary";
        assert_int_equal(caldav_store_obj_put(fx->st, fx->cal.id, "bin.ics",
                                              bin, sizeof(bin), &ix, NULL, 0,
                                              etag, &created, NULL, &fx->err),
                         MTR_OK);
        assert_int_equal(caldav_store_obj_get(fx->st, fx->cal.id, "bin.ics", 1,
                                              bin_cb, &same, &fx->err),
                         MTR_OK);
        assert_int_equal(same, 1);
        ix.uid = "empty";
        assert_int_equal(caldav_store_obj_put(fx->st, fx->cal.id, "e.ics", "",
                                              0, &ix, NULL, 0, etag, &created,
                                              NULL, &fx->err),
                         MTR_OK);
        assert_int_equal(get(fx, fx->cal.id, "e.ics", &got), MTR_OK);
        assert_true(got.has_data);
        assert_int_equal(got.len, 0);
        ix.uid = "uid-1";
    }

    /* Missing collection and object; absurd index columns. */
    assert_int_equal(put(fx, fx->cal.id + 99, "a.ics", "abc", &ix, NULL, NULL),
                     CALDAV_STORE_NOT_FOUND);
    assert_int_equal(get(fx, fx->cal.id, "nope.ics", &got),
                     CALDAV_STORE_NOT_FOUND);
    assert_int_equal(get(fx, fx->cal.id + 99, "a.ics", &got),
                     CALDAV_STORE_NOT_FOUND);
    ix.first_start = T0 + DAY;
    assert_int_equal(put(fx, fx->cal.id, "b.ics", "abc", &ix, NULL, NULL),
                     MTR_ERROR);
    assert_non_null(strstr(fx->err.msg, "first_start"));
}

typedef struct {
    const char *name;
    int         before;   /* 0 missing, 1 live "v1", 2 tombstone */
    const char *if_match; /* "CUR": the current ETag */
    int         inm;
    int         rc;
    int         created;
} cond_case_t;

static const cond_case_t cond_cases[] = {
    { "If-Match current", 1, "CUR", 0, MTR_OK, 0 },
    { "If-Match stale", 1, ETAG_STALE, 0, CALDAV_STORE_PRECOND, 0 },
    { "If-Match unquoted", 1, "ba7816bf", 0, CALDAV_STORE_PRECOND, 0 },
    { "If-Match * on existing", 1, "*", 0, MTR_OK, 0 },
    { "If-Match * on missing", 0, "*", 0, CALDAV_STORE_PRECOND, 0 },
    { "If-Match etag on missing", 0, ETAG_STALE, 0, CALDAV_STORE_PRECOND, 0 },
    { "If-Match * on tombstone", 2, "*", 0, CALDAV_STORE_PRECOND, 0 },
    { "If-None-Match * on existing", 1, NULL, 1, CALDAV_STORE_PRECOND, 0 },
    { "If-None-Match * on missing", 0, NULL, 1, MTR_OK, 1 },
    { "If-None-Match * on tombstone", 2, NULL, 1, MTR_OK, 1 },
    { "no condition on existing", 1, NULL, 0, MTR_OK, 0 },
    { "no condition on tombstone", 2, NULL, 0, MTR_OK, 1 },
};

static void
test_put_conditions(void **state)
{
    fx_t              *fx = *state;
    caldav_obj_index_t ix = ix_event("u", T0, T0 + HOUR);

    for (size_t i = 0; i < sizeof(cond_cases) / sizeof(cond_cases[0]); i++) {
        const cond_case_t *k = &cond_cases[i];
        char               name[32], cur[80] = "", etag[80];
        int                created = -1, rc;
        uint64_t           m;
        got_t              got;

        print_message("case: %s\n", k->name);
        snprintf(name, sizeof(name), "c%zu.ics", i);
        ix.uid = name; /* one UID per case: no conflicts between cases */
        if (k->before >= 1) {
            assert_int_equal(put(fx, fx->cal.id, name, "v1", &ix, cur, NULL),
                             MTR_OK);
        }
        if (k->before == 2) {
            assert_int_equal(caldav_store_obj_delete(fx->st, fx->cal.id, name,
                                                     NULL, &fx->err),
                             MTR_OK);
        }
        m = coll_modseq(fx, "cal");
        rc = caldav_store_obj_put(
            fx->st, fx->cal.id, name, "v2", 2, &ix,
            k->if_match && strcmp(k->if_match, "CUR") == 0 ? cur : k->if_match,
            k->inm, etag, &created, NULL, &fx->err);
        assert_int_equal(rc, k->rc);
        if (rc != MTR_OK) {
            assert_non_null(strstr(fx->err.msg, "precondition"));
        }
        rc = get(fx, fx->cal.id, name, &got);
        if (k->rc == MTR_OK) {
            assert_int_equal(created, k->created);
            assert_int_equal(rc, MTR_OK);
            assert_string_equal(got.data, "v2");
            assert_string_equal(got.etag, etag);
            assert_true(coll_modseq(fx, "cal") > m);
            continue;
        }
        /* Refused: nothing moved, the old version is intact. */
        assert_int_equal(coll_modseq(fx, "cal"), m);
        if (k->before == 1) {
            assert_int_equal(rc, MTR_OK);
            assert_string_equal(got.data, "v1");
            assert_string_equal(got.etag, cur);
        } else {
            assert_int_equal(rc, CALDAV_STORE_NOT_FOUND);
        }
    }
}

static void
test_uid_conflict(void **state)
{
    fx_t              *fx = *state;
    caldav_obj_index_t ix = ix_event("shared-uid", T0, T0 + HOUR);
    caldav_coll_t      other;
    char               etag[80], conflict[CALDAV_STORE_MAX_NAME + 1];
    int                created;
    got_t              got;

    assert_int_equal(put(fx, fx->cal.id, "a.ics", "A", &ix, NULL, NULL),
                     MTR_OK);

    /* Another name with that UID: refused, naming the holder. */
    memset(conflict, 'x', sizeof(conflict));
    assert_int_equal(caldav_store_obj_put(fx->st, fx->cal.id, "b.ics", "B", 1,
                                          &ix, NULL, 0, etag, &created,
                                          conflict, &fx->err),
                     CALDAV_STORE_UID_CONFLICT);
    assert_string_equal(conflict, "a.ics");
    assert_non_null(strstr(fx->err.msg, "a.ics"));
    assert_int_equal(get(fx, fx->cal.id, "b.ics", &got),
                     CALDAV_STORE_NOT_FOUND);
    /* conflict_name_r may be NULL. */
    assert_int_equal(put(fx, fx->cal.id, "b.ics", "B", &ix, NULL, NULL),
                     CALDAV_STORE_UID_CONFLICT);

    /* The same name again is an update. */
    assert_int_equal(caldav_store_obj_put(fx->st, fx->cal.id, "a.ics", "A2", 2,
                                          &ix, NULL, 0, etag, &created,
                                          conflict, &fx->err),
                     MTR_OK);
    assert_int_equal(created, 0);
    assert_string_equal(conflict, "");

    /* Another collection may hold the same UID. */
    memset(&other, 0, sizeof(other));
    snprintf(other.name, sizeof(other.name), "other");
    other.kind = CALDAV_COLL_CALENDAR;
    assert_int_equal(caldav_store_coll_create(fx->st, &other, &fx->err),
                     MTR_OK);
    assert_int_equal(put(fx, other.id, "b.ics", "B", &ix, NULL, NULL), MTR_OK);

    /* Objects without a UID never conflict. */
    ix.uid = NULL;
    assert_int_equal(put(fx, fx->cal.id, "n1.ics", "N", &ix, NULL, NULL),
                     MTR_OK);
    assert_int_equal(put(fx, fx->cal.id, "n2.ics", "N", &ix, NULL, NULL),
                     MTR_OK);
    ix.uid = "";
    assert_int_equal(put(fx, fx->cal.id, "n3.ics", "N", &ix, NULL, NULL),
                     MTR_OK);

    /* A UID moved off an object frees it; a tombstone does not hold it. */
    ix.uid = "other-uid";
    assert_int_equal(put(fx, fx->cal.id, "a.ics", "A3", &ix, NULL, NULL),
                     MTR_OK);
    ix.uid = "shared-uid";
    assert_int_equal(put(fx, fx->cal.id, "b.ics", "B", &ix, NULL, NULL),
                     MTR_OK);
    assert_int_equal(
        caldav_store_obj_delete(fx->st, fx->cal.id, "b.ics", NULL, &fx->err),
        MTR_OK);
    assert_int_equal(put(fx, fx->cal.id, "c.ics", "C", &ix, NULL, NULL),
                     MTR_OK);
}

static void
test_delete_tombstone(void **state)
{
    fx_t              *fx = *state;
    caldav_obj_index_t ix = ix_event("d", T0, T0 + HOUR);
    collect_t         *c = collect_new();
    char               etag[80], names[256];
    uint64_t           token, now = 0, m;
    int                truncated = -1, created = -1;
    got_t              got;

    assert_int_equal(put(fx, fx->cal.id, "d.ics", "D", &ix, etag, NULL),
                     MTR_OK);
    assert_int_equal(caldav_store_prop_set(fx->st, fx->cal.id, "d.ics", "urn:x",
                                           "p", "<p/>", &fx->err),
                     MTR_OK);
    token = coll_modseq(fx, "cal");

    /* Refusals leave the object alone. */
    assert_int_equal(caldav_store_obj_delete(fx->st, fx->cal.id, "d.ics",
                                             ETAG_STALE, &fx->err),
                     CALDAV_STORE_PRECOND);
    assert_int_equal(get(fx, fx->cal.id, "d.ics", &got), MTR_OK);
    assert_int_equal(
        caldav_store_obj_delete(fx->st, fx->cal.id, "nope.ics", NULL, &fx->err),
        CALDAV_STORE_NOT_FOUND);
    assert_int_equal(
        caldav_store_obj_delete(fx->st, fx->cal.id, "nope.ics", "*", &fx->err),
        CALDAV_STORE_PRECOND);
    assert_int_equal(caldav_store_obj_delete(fx->st, fx->cal.id + 99, "d.ics",
                                             NULL, &fx->err),
                     CALDAV_STORE_NOT_FOUND);
    assert_int_equal(coll_modseq(fx, "cal"), token);

    assert_int_equal(
        caldav_store_obj_delete(fx->st, fx->cal.id, "d.ics", etag, &fx->err),
        MTR_OK);
    m = coll_modseq(fx, "cal");
    assert_true(m > token);
    assert_int_equal(get(fx, fx->cal.id, "d.ics", &got),
                     CALDAV_STORE_NOT_FOUND);
    assert_int_equal(
        caldav_store_obj_delete(fx->st, fx->cal.id, "d.ics", NULL, &fx->err),
        CALDAV_STORE_NOT_FOUND);

    /* The tombstone is reported to a client that knew the object... */
    assert_int_equal(caldav_store_changes(fx->st, fx->cal.id, token, 0, 1,
                                          collect_cb, c, &now, &truncated,
                                          &fx->err),
                     MTR_OK);
    assert_string_equal(collect_names(c, names, sizeof(names)), "-d.ics");
    assert_false(c->has_data[0]);
    assert_int_equal(c->modseq[0], m);
    assert_int_equal(now, m);
    assert_int_equal(truncated, 0);

    /* ...not to one starting over. */
    memset(c, 0, sizeof(*c));
    assert_int_equal(caldav_store_changes(fx->st, fx->cal.id, 0, 0, 0,
                                          collect_cb, c, &now, &truncated,
                                          &fx->err),
                     MTR_OK);
    assert_int_equal(c->n, 0);
    assert_int_equal(now, m);

    /* A put revives the name: 201, not 204. */
    assert_int_equal(put(fx, fx->cal.id, "d.ics", "D2", &ix, NULL, &created),
                     MTR_OK);
    assert_int_equal(created, 1);
    assert_int_equal(get(fx, fx->cal.id, "d.ics", &got), MTR_OK);
    assert_string_equal(got.data, "D2");
    free(c);
}

static void
test_changes_since(void **state)
{
    fx_t      *fx = *state;
    collect_t *c = collect_new();
    char       names[512];
    uint64_t   t0, t1, now = 0, since;
    int        truncated = -1, rounds;

    t0 = coll_modseq(fx, "cal");
    put_ok(fx, "a.ics", "A", "a");
    put_ok(fx, "b.ics", "B", "b");
    put_ok(fx, "c.ics", "C", "c");

    assert_int_equal(caldav_store_changes(fx->st, fx->cal.id, t0, 0, 1,
                                          collect_cb, c, &now, &truncated,
                                          &fx->err),
                     MTR_OK);
    assert_string_equal(collect_names(c, names, sizeof(names)),
                        "a.ics b.ics c.ics");
    assert_string_equal(c->data[1], "B");
    assert_true(c->modseq[0] < c->modseq[1] && c->modseq[1] < c->modseq[2]);
    assert_int_equal(now, coll_modseq(fx, "cal"));
    assert_int_equal(now, c->modseq[2]);
    t1 = now;

    put_ok(fx, "b.ics", "B2", "b");
    assert_int_equal(
        caldav_store_obj_delete(fx->st, fx->cal.id, "a.ics", NULL, &fx->err),
        MTR_OK);
    put_ok(fx, "d.ics", "D", "d");

    /* Exactly the changes after t1, in order, with data when asked. */
    memset(c, 0, sizeof(*c));
    assert_int_equal(caldav_store_changes(fx->st, fx->cal.id, t1, 0, 1,
                                          collect_cb, c, &now, &truncated,
                                          &fx->err),
                     MTR_OK);
    assert_string_equal(collect_names(c, names, sizeof(names)),
                        "b.ics -a.ics d.ics");
    assert_string_equal(c->data[0], "B2");
    assert_false(c->has_data[1]);
    assert_int_equal(now, coll_modseq(fx, "cal"));

    /* Without data: none, but the length. */
    memset(c, 0, sizeof(*c));
    assert_int_equal(caldav_store_changes(fx->st, fx->cal.id, t1, 0, 0,
                                          collect_cb, c, &now, &truncated,
                                          &fx->err),
                     MTR_OK);
    assert_int_equal(c->n, 3);
    assert_false(c->has_data[0]);
    assert_int_equal(c->len[0], 2);

    /* Nothing since now. */
    since = now;
    memset(c, 0, sizeof(*c));
    assert_int_equal(caldav_store_changes(fx->st, fx->cal.id, since, 0, 0,
                                          collect_cb, c, &now, &truncated,
                                          &fx->err),
                     MTR_OK);
    assert_int_equal(c->n, 0);
    assert_int_equal(now, since);

    /* Initial sync: live objects only, in modseq order. */
    memset(c, 0, sizeof(*c));
    assert_int_equal(caldav_store_changes(fx->st, fx->cal.id, 0, 0, 0,
                                          collect_cb, c, &now, &truncated,
                                          &fx->err),
                     MTR_OK);
    assert_string_equal(collect_names(c, names, sizeof(names)),
                        "c.ics b.ics d.ics");

    /* Paged by 2: every change once, the last page not truncated. */
    memset(c, 0, sizeof(*c));
    since = t0;
    for (rounds = 0; rounds < 10; rounds++) {
        size_t before = c->n;

        assert_int_equal(caldav_store_changes(fx->st, fx->cal.id, since, 2, 0,
                                              collect_cb, c, &now, &truncated,
                                              &fx->err),
                         MTR_OK);
        assert_true(c->n - before <= 2);
        if (truncated) {
            assert_int_equal(c->n - before, 2);
            assert_int_equal(now, c->modseq[c->n - 1]);
        }
        since = now;
        if (!truncated) {
            break;
        }
    }
    /* a b c b' -a d, with a and b reported at their last modseq only */
    assert_string_equal(collect_names(c, names, sizeof(names)),
                        "c.ics b.ics -a.ics d.ics");
    assert_int_equal(rounds, 1);
    assert_int_equal(now, coll_modseq(fx, "cal"));

    /* Exactly limit changes left: not truncated. */
    memset(c, 0, sizeof(*c));
    assert_int_equal(caldav_store_changes(fx->st, fx->cal.id, t1, 3, 0,
                                          collect_cb, c, &now, &truncated,
                                          &fx->err),
                     MTR_OK);
    assert_int_equal(c->n, 3);
    assert_int_equal(truncated, 0);

    /* A callback stopping the walk: MTR_OK, and the token says where. */
    memset(c, 0, sizeof(*c));
    c->stop_after = 1;
    assert_int_equal(caldav_store_changes(fx->st, fx->cal.id, t1, 0, 0,
                                          collect_cb, c, &now, &truncated,
                                          &fx->err),
                     MTR_OK);
    assert_int_equal(c->n, 1);
    assert_int_equal(truncated, 1);
    assert_int_equal(now, c->modseq[0]);

    /* No such collection. */
    assert_int_equal(caldav_store_changes(fx->st, fx->cal.id + 99, 0, 0, 0,
                                          collect_cb, c, &now, &truncated,
                                          &fx->err),
                     CALDAV_STORE_NOT_FOUND);
    free(c);
}

static void
age_tombstones(const char *path, int days)
{
    char sql[160];

    snprintf(sql, sizeof(sql),
             "UPDATE objects SET mtime = mtime - %d * 86400"
             " WHERE data IS NULL",
             days);
    raw_sql(path, sql);
}

static int
changes_rc(fx_t *fx, int64_t coll_id, uint64_t since)
{
    collect_t *c = collect_new();
    uint64_t   now;
    int        truncated, rc;

    rc = caldav_store_changes(fx->st, coll_id, since, 0, 0, collect_cb, c, &now,
                              &truncated, &fx->err);
    free(c);
    return rc;
}

static void
test_bad_tokens(void **state)
{
    fx_t         *fx = *state;
    caldav_coll_t b;
    uint64_t      m, t_before, t_tomb, t_old;
    int64_t       old_id;

    put_ok(fx, "x.ics", "X", "x");
    put_ok(fx, "y.ics", "Y", "y");
    m = coll_modseq(fx, "cal");

    print_message("case: future token\n");
    assert_int_equal(changes_rc(fx, fx->cal.id, m), MTR_OK);
    assert_int_equal(changes_rc(fx, fx->cal.id, m + 1), CALDAV_STORE_BAD_TOKEN);
    assert_non_null(strstr(fx->err.msg, "sync token"));
    assert_int_equal(changes_rc(fx, fx->cal.id, UINT64_MAX),
                     CALDAV_STORE_BAD_TOKEN);
    assert_int_equal(changes_rc(fx, fx->cal.id, (uint64_t) INT64_MAX + 1),
                     CALDAV_STORE_BAD_TOKEN);

    print_message("case: token of a busier collection\n");
    memset(&b, 0, sizeof(b));
    snprintf(b.name, sizeof(b.name), "busy");
    b.kind = CALDAV_COLL_CALENDAR;
    assert_int_equal(caldav_store_coll_create(fx->st, &b, &fx->err), MTR_OK);
    {
        caldav_obj_index_t ix = ix_event("z", T0, T0 + HOUR);

        assert_int_equal(put(fx, b.id, "z.ics", "Z", &ix, NULL, NULL), MTR_OK);
    }
    assert_int_equal(changes_rc(fx, fx->cal.id, coll_modseq(fx, "busy")),
                     CALDAV_STORE_BAD_TOKEN);
    /* ...and one from before a collection existed. */
    assert_int_equal(changes_rc(fx, b.id, m), CALDAV_STORE_BAD_TOKEN);
    assert_int_equal(changes_rc(fx, b.id, b.modseq), MTR_OK);

    print_message("case: pruned tombstone (on open)\n");
    t_before = coll_modseq(fx, "cal");
    assert_int_equal(
        caldav_store_obj_delete(fx->st, fx->cal.id, "x.ics", NULL, &fx->err),
        MTR_OK);
    t_tomb = coll_modseq(fx, "cal");
    /* Not old yet: still valid after a reopen. */
    caldav_store_close(&fx->st);
    assert_int_equal(caldav_store_open(&fx->st, fx->path, OWNER, &fx->err),
                     MTR_OK);
    assert_int_equal(changes_rc(fx, fx->cal.id, t_before), MTR_OK);
    caldav_store_close(&fx->st);
    age_tombstones(fx->path, CALDAV_STORE_TOMBSTONE_DAYS + 1);
    assert_int_equal(caldav_store_open(&fx->st, fx->path, OWNER, &fx->err),
                     MTR_OK);
    assert_int_equal(changes_rc(fx, fx->cal.id, t_before),
                     CALDAV_STORE_BAD_TOKEN);
    assert_int_equal(changes_rc(fx, fx->cal.id, t_tomb), MTR_OK);
    assert_int_equal(changes_rc(fx, fx->cal.id, 0), MTR_OK);
    /* The other collection's tokens are untouched. */
    assert_int_equal(changes_rc(fx, b.id, b.modseq), MTR_OK);

    print_message("case: pruned tombstone (on delete)\n");
    put_ok(fx, "w.ics", "W", "w");
    assert_int_equal(
        caldav_store_obj_delete(fx->st, fx->cal.id, "y.ics", NULL, &fx->err),
        MTR_OK);
    t_before = coll_modseq(fx, "cal");
    age_tombstones(fx->path, CALDAV_STORE_TOMBSTONE_DAYS + 1);
    assert_int_equal(changes_rc(fx, fx->cal.id, t_tomb), MTR_OK);
    assert_int_equal(
        caldav_store_obj_delete(fx->st, fx->cal.id, "w.ics", NULL, &fx->err),
        MTR_OK);
    assert_int_equal(changes_rc(fx, fx->cal.id, t_tomb),
                     CALDAV_STORE_BAD_TOKEN);
    assert_int_equal(changes_rc(fx, fx->cal.id, t_before), MTR_OK);
    {
        /* The young tombstone (w.ics) is still reported. */
        collect_t *c = collect_new();
        uint64_t   now;
        int        truncated;
        char       names[128];

        assert_int_equal(caldav_store_changes(fx->st, fx->cal.id, t_before, 0,
                                              0, collect_cb, c, &now,
                                              &truncated, &fx->err),
                         MTR_OK);
        assert_string_equal(collect_names(c, names, sizeof(names)), "-w.ics");
        free(c);
    }

    print_message("case: collection deleted and made again\n");
    t_old = coll_modseq(fx, "cal");
    old_id = fx->cal.id;
    assert_int_equal(caldav_store_coll_delete(fx->st, "cal", &fx->err), MTR_OK);
    memset(&fx->cal, 0, sizeof(fx->cal));
    snprintf(fx->cal.name, sizeof(fx->cal.name), "cal");
    fx->cal.kind = CALDAV_COLL_CALENDAR;
    assert_int_equal(caldav_store_coll_create(fx->st, &fx->cal, &fx->err),
                     MTR_OK);
    assert_true(fx->cal.id != old_id);
    assert_int_equal(changes_rc(fx, old_id, t_old), CALDAV_STORE_NOT_FOUND);
    assert_int_equal(changes_rc(fx, fx->cal.id, t_old), CALDAV_STORE_BAD_TOKEN);
    assert_int_equal(changes_rc(fx, fx->cal.id, fx->cal.modseq + 1),
                     CALDAV_STORE_BAD_TOKEN);
    assert_int_equal(changes_rc(fx, fx->cal.id, 0), MTR_OK);
    assert_int_equal(changes_rc(fx, fx->cal.id, fx->cal.modseq), MTR_OK);
}

/*
 * After a prune, the initial listing paged with a limit must still end:
 * its pages are never cut below the prune point, or the continuation token
 * would be refused and the client would start over forever.
 */
static void
test_initial_paging_after_prune(void **state)
{
    fx_t      *fx = *state;
    collect_t *c = collect_new();
    char       names[512];
    uint64_t   since = 0, now = 0;
    int        truncated = 1, rounds = 0;
    size_t     first_page = 0;

    for (int i = 0; i < 6; i++) {
        char name[16];

        snprintf(name, sizeof(name), "o%d", i);
        put_ok(fx, name, "O", name);
    }
    put_ok(fx, "x", "X", "x");
    assert_int_equal(
        caldav_store_obj_delete(fx->st, fx->cal.id, "x", NULL, &fx->err),
        MTR_OK);
    caldav_store_close(&fx->st);
    age_tombstones(fx->path, CALDAV_STORE_TOMBSTONE_DAYS + 1);
    assert_int_equal(caldav_store_open(&fx->st, fx->path, OWNER, &fx->err),
                     MTR_OK);
    put_ok(fx, "n1", "N", "n1");
    put_ok(fx, "n2", "N", "n2");

    while (truncated) {
        size_t before = c->n;

        assert_true(++rounds < 10);
        if (caldav_store_changes(fx->st, fx->cal.id, since, 2, 0, collect_cb, c,
                                 &now, &truncated, &fx->err)
            != MTR_OK)
        {
            fail_msg("page %d since %llu: %s", rounds,
                     (unsigned long long) since, fx->err.msg);
        }
        if (rounds == 1) {
            first_page = c->n - before;
        }
        since = now;
    }
    assert_string_equal(collect_names(c, names, sizeof(names)),
                        "o0 o1 o2 o3 o4 o5 n1 n2");
    assert_int_equal(first_page, 7); /* o0..o5 below the point, then n1 */
    assert_int_equal(rounds, 2);
    assert_int_equal(now, coll_modseq(fx, "cal"));
    free(c);
}

/* ---- time ranges --------------------------------------------------------- */

typedef struct {
    const char *name;
    const char *comp;
    int64_t     first_start, last_end;
    int         recurring;
} tr_obj_t;

#define W (7 * DAY)

static const tr_obj_t tr_objs[] = {
    { "before", "VEVENT", T0 - 10 * DAY, T0 - 10 * DAY + HOUR, 0 },
    { "inside", "VEVENT", T0 + DAY, T0 + DAY + HOUR, 0 },
    { "over-start", "VEVENT", T0 - HOUR, T0 + HOUR, 0 },
    { "over-end", "VEVENT", T0 + W - HOUR, T0 + W + HOUR, 0 },
    { "ends-at-start", "VEVENT", T0 - HOUR, T0, 0 },
    { "starts-at-end", "VEVENT", T0 + W, T0 + W + HOUR, 0 },
    { "zero-at-start", "VEVENT", T0, T0, 0 },
    { "zero-at-end", "VEVENT", T0 + W, T0 + W, 0 },
    { "after", "VEVENT", T0 + 8 * DAY, T0 + 8 * DAY + HOUR, 0 },
    { "week-long-in", "VEVENT", T0 - W + HOUR, T0 + HOUR, 0 },
    { "week-long-out", "VEVENT", T0 - W, T0, 0 },
    { "long-over", "VEVENT", T0 - 20 * DAY, T0 + 20 * DAY, 0 },
    { "long-past", "VEVENT", T0 - 60 * DAY, T0 - 20 * DAY, 0 },
    { "long-future", "VEVENT", T0 + 10 * DAY, T0 + 40 * DAY, 0 },
    { "long-just-in", "VEVENT", T0 - W - 1, T0 + 1, 0 },
    { "long-ends-at-start", "VEVENT", T0 - 20 * DAY, T0, 0 },
    { "rrule-forever", "VEVENT", T0 - 365 * DAY, CALDAV_TIME_MAX, 1 },
    { "rrule-later", "VEVENT", T0 + 30 * DAY, CALDAV_TIME_MAX, 1 },
    { "rrule-ended", "VEVENT", T0 - 365 * DAY, T0 - 100 * DAY, 1 },
    { "todo-undated", "VTODO", CALDAV_TIME_MIN, CALDAV_TIME_MAX, 0 },
    { "todo-inside", "VTODO", T0 + 2 * DAY, T0 + 2 * DAY + HOUR, 0 },
    { "deleted-inside", "VEVENT", T0 + DAY, T0 + DAY + HOUR, 0 },
};

typedef struct {
    const char *name;
    const char *comp;
    int64_t     start, end;
    int         use_range;
    const char *expect; /* names in name order */
} tr_case_t;

static const tr_case_t tr_cases[] = {
    { "one week", NULL, T0, T0 + W, 1,
      "inside long-just-in long-over over-end over-start rrule-forever "
      "todo-inside todo-undated week-long-in zero-at-start" },
    { "one week, VEVENT only", "VEVENT", T0, T0 + W, 1,
      "inside long-just-in long-over over-end over-start rrule-forever "
      "week-long-in zero-at-start" },
    { "one week, VTODO only", "VTODO", T0, T0 + W, 1,
      "todo-inside todo-undated" },
    { "far past", NULL, T0 - 1000 * DAY, T0 - 999 * DAY, 1, "todo-undated" },
    { "far future", NULL, T0 + 1000 * DAY, T0 + 1001 * DAY, 1,
      "rrule-forever rrule-later todo-undated" },
    { "open start", NULL, CALDAV_TIME_MIN, T0 - 50 * DAY, 1,
      "long-past rrule-ended rrule-forever todo-undated" },
    { "everything by range", NULL, CALDAV_TIME_MIN, CALDAV_TIME_MAX, 1,
      "after before ends-at-start inside long-ends-at-start long-future "
      "long-just-in long-over long-past over-end over-start rrule-ended "
      "rrule-forever rrule-later "
      "starts-at-end todo-inside todo-undated week-long-in week-long-out "
      "zero-at-end zero-at-start" },
    { "no range", NULL, 0, 0, 0,
      "after before ends-at-start inside long-ends-at-start long-future "
      "long-just-in long-over long-past over-end over-start rrule-ended "
      "rrule-forever rrule-later "
      "starts-at-end todo-inside todo-undated week-long-in week-long-out "
      "zero-at-end zero-at-start" },
    { "no range, VTODO", "VTODO", 0, 0, 0, "todo-inside todo-undated" },
    /* An instant: what spans it (candidates, the caller decides). */
    { "instant", NULL, T0 + DAY, T0 + DAY, 1,
      "long-over rrule-forever todo-undated" },
};

static void
test_time_range(void **state)
{
    fx_t      *fx = *state;
    collect_t *c = collect_new();
    char       names[1024];
    size_t     i;

    for (i = 0; i < sizeof(tr_objs) / sizeof(tr_objs[0]); i++) {
        const tr_obj_t    *o = &tr_objs[i];
        caldav_obj_index_t ix = {
            o->name, o->comp, o->first_start, o->last_end, o->recurring, NULL,
            0,       0
        };

        assert_int_equal(put(fx, fx->cal.id, o->name, o->name, &ix, NULL, NULL),
                         MTR_OK);
    }
    assert_int_equal(caldav_store_obj_delete(fx->st, fx->cal.id,
                                             "deleted-inside", NULL, &fx->err),
                     MTR_OK);

    for (i = 0; i < sizeof(tr_cases) / sizeof(tr_cases[0]); i++) {
        const tr_case_t *k = &tr_cases[i];

        print_message("case: %s\n", k->name);
        memset(c, 0, sizeof(*c));
        assert_int_equal(caldav_store_obj_walk(fx->st, fx->cal.id, k->comp,
                                               k->start, k->end, k->use_range,
                                               0, collect_cb, c, &fx->err),
                         MTR_OK);
        assert_string_equal(collect_names(c, names, sizeof(names)), k->expect);
        for (size_t j = 0; j < c->n; j++) {
            assert_false(c->has_data[j]);
            assert_int_equal(c->len[j], strlen(c->name[j]));
        }
    }

    /* With data; a callback may stop the walk. */
    memset(c, 0, sizeof(*c));
    c->stop_after = 2;
    assert_int_equal(caldav_store_obj_walk(fx->st, fx->cal.id, NULL, T0, T0 + W,
                                           1, 1, collect_cb, c, &fx->err),
                     MTR_OK);
    assert_int_equal(c->n, 2);
    assert_string_equal(c->data[0], "inside");
    assert_string_equal(c->data[1], "long-just-in");
    free(c);
}

/* A walk whose callback re-enters the store: the same query nested. */
typedef struct {
    fx_t      *fx;
    collect_t *inner;
    int        outer;
} nest_t;

static int
nest_cb(const caldav_obj_t *o, void *ctx)
{
    nest_t *n = ctx;
    got_t   g;

    n->outer++;
    assert_int_equal(get(n->fx, n->fx->cal.id, o->name, &g), MTR_OK);
    assert_string_equal(g.data, o->name);
    assert_int_equal(caldav_store_obj_walk(n->fx->st, n->fx->cal.id, NULL, 0, 0,
                                           0, 0, collect_cb, n->inner,
                                           &n->fx->err),
                     MTR_OK);
    return 0;
}

static void
test_walk_reentry(void **state)
{
    fx_t  *fx = *state;
    nest_t n = { fx, collect_new(), 0 };

    put_ok(fx, "a", "a", "a");
    put_ok(fx, "b", "b", "b");
    put_ok(fx, "c", "c", "c");
    assert_int_equal(caldav_store_obj_walk(fx->st, fx->cal.id, NULL, 0, 0, 0, 1,
                                           nest_cb, &n, &fx->err),
                     MTR_OK);
    assert_int_equal(n.outer, 3);
    assert_int_equal(n.inner->n, 9);
    /* The cached statement still works afterwards. */
    memset(n.inner, 0, sizeof(*n.inner));
    assert_int_equal(caldav_store_obj_walk(fx->st, fx->cal.id, NULL, 0, 0, 0, 0,
                                           collect_cb, n.inner, &fx->err),
                     MTR_OK);
    assert_int_equal(n.inner->n, 3);
    free(n.inner);
}

/* ---- usage, props, shares ------------------------------------------------ */

static void
expect_usage(fx_t *fx, uint64_t bytes, uint64_t objects)
{
    uint64_t b = 99, o = 99;

    assert_int_equal(caldav_store_usage(fx->st, &b, &o, &fx->err), MTR_OK);
    assert_int_equal(b, bytes);
    assert_int_equal(o, objects);
}

static void
test_usage(void **state)
{
    fx_t              *fx = *state;
    caldav_coll_t      other;
    caldav_obj_index_t ix = ix_event(NULL, T0, T0 + HOUR);
    char               etag[80];
    int                created;

    expect_usage(fx, 0, 0);
    memset(&other, 0, sizeof(other));
    snprintf(other.name, sizeof(other.name), "card:book");
    other.kind = CALDAV_COLL_ADDRESSBOOK;
    assert_int_equal(caldav_store_coll_create(fx->st, &other, &fx->err),
                     MTR_OK);

    assert_int_equal(put(fx, fx->cal.id, "a", "0123456789", &ix, NULL, NULL),
                     MTR_OK);
    assert_int_equal(
        put(fx, fx->cal.id, "b", "01234567890123456789", &ix, NULL, NULL),
        MTR_OK);
    assert_int_equal(put(fx, other.id, "c", "01234", &ix, NULL, NULL), MTR_OK);
    expect_usage(fx, 35, 3);
    assert_int_equal(
        put(fx, fx->cal.id, "a", "012345678901234", &ix, NULL, NULL), MTR_OK);
    expect_usage(fx, 40, 3);
    assert_int_equal(
        caldav_store_obj_delete(fx->st, fx->cal.id, "b", NULL, &fx->err),
        MTR_OK);
    expect_usage(fx, 20, 2);
    /* A refused put counts nothing. */
    assert_int_equal(caldav_store_obj_put(fx->st, fx->cal.id, "a", "xx", 2, &ix,
                                          ETAG_STALE, 0, etag, &created, NULL,
                                          &fx->err),
                     CALDAV_STORE_PRECOND);
    expect_usage(fx, 20, 2);
    assert_int_equal(put(fx, fx->cal.id, "b", "0123456", &ix, NULL, NULL),
                     MTR_OK);
    expect_usage(fx, 27, 3);
    assert_int_equal(caldav_store_coll_delete(fx->st, "card:book", &fx->err),
                     MTR_OK);
    expect_usage(fx, 22, 2);
    assert_int_equal(caldav_store_usage(fx->st, NULL, NULL, &fx->err), MTR_OK);
}

typedef struct {
    size_t n;
    char   line[16][128];
    size_t stop_after;
} props_t;

static int
props_cb(const char *ns, const char *name, const char *xml, void *ctx)
{
    props_t *p = ctx;

    assert_true(p->n < 16);
    snprintf(p->line[p->n], sizeof(p->line[0]), "%s|%s|%s", ns, name, xml);
    p->n++;
    return p->stop_after != 0 && p->n >= p->stop_after;
}

static void
test_props(void **state)
{
    fx_t   *fx = *state;
    props_t p;

    put_ok(fx, "a.ics", "A", "a");
    assert_int_equal(caldav_store_prop_set(fx->st, fx->cal.id, NULL, "urn:z",
                                           "b", "<b>1</b>", &fx->err),
                     MTR_OK);
    assert_int_equal(caldav_store_prop_set(fx->st, fx->cal.id, NULL, "urn:a",
                                           "c", "<c/>", &fx->err),
                     MTR_OK);
    assert_int_equal(caldav_store_prop_set(fx->st, fx->cal.id, NULL, "", "d",
                                           "<d/>", &fx->err),
                     MTR_OK);
    assert_int_equal(caldav_store_prop_set(fx->st, fx->cal.id, "a.ics", "urn:z",
                                           "b", "<b>obj</b>", &fx->err),
                     MTR_OK);

    /* The collection's own, ordered by namespace then name. */
    memset(&p, 0, sizeof(p));
    assert_int_equal(caldav_store_prop_list(fx->st, fx->cal.id, NULL, props_cb,
                                            &p, &fx->err),
                     MTR_OK);
    assert_int_equal(p.n, 3);
    assert_string_equal(p.line[0], "|d|<d/>");
    assert_string_equal(p.line[1], "urn:a|c|<c/>");
    assert_string_equal(p.line[2], "urn:z|b|<b>1</b>");

    /* The object's own. */
    memset(&p, 0, sizeof(p));
    assert_int_equal(caldav_store_prop_list(fx->st, fx->cal.id, "a.ics",
                                            props_cb, &p, &fx->err),
                     MTR_OK);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.line[0], "urn:z|b|<b>obj</b>");

    /* Set again replaces; NULL removes; removing twice is fine. */
    assert_int_equal(caldav_store_prop_set(fx->st, fx->cal.id, NULL, "urn:z",
                                           "b", "<b>2</b>", &fx->err),
                     MTR_OK);
    assert_int_equal(caldav_store_prop_set(fx->st, fx->cal.id, NULL, "urn:a",
                                           "c", NULL, &fx->err),
                     MTR_OK);
    assert_int_equal(caldav_store_prop_set(fx->st, fx->cal.id, NULL, "urn:a",
                                           "c", NULL, &fx->err),
                     MTR_OK);
    memset(&p, 0, sizeof(p));
    assert_int_equal(caldav_store_prop_list(fx->st, fx->cal.id, NULL, props_cb,
                                            &p, &fx->err),
                     MTR_OK);
    assert_int_equal(p.n, 2);
    assert_string_equal(p.line[1], "urn:z|b|<b>2</b>");

    /* A callback may stop the list. */
    memset(&p, 0, sizeof(p));
    p.stop_after = 1;
    assert_int_equal(caldav_store_prop_list(fx->st, fx->cal.id, NULL, props_cb,
                                            &p, &fx->err),
                     MTR_OK);
    assert_int_equal(p.n, 1);

    /* Missing targets; props do not change the ctag. */
    assert_int_equal(caldav_store_prop_set(fx->st, fx->cal.id, "nope.ics",
                                           "urn:z", "b", "<b/>", &fx->err),
                     CALDAV_STORE_NOT_FOUND);
    assert_int_equal(caldav_store_prop_set(fx->st, fx->cal.id + 99, NULL,
                                           "urn:z", "b", "<b/>", &fx->err),
                     CALDAV_STORE_NOT_FOUND);
    assert_int_equal(caldav_store_prop_set(fx->st, fx->cal.id, NULL, "urn:z",
                                           "", "<b/>", &fx->err),
                     MTR_ERROR);
    {
        uint64_t m = coll_modseq(fx, "cal");

        assert_int_equal(caldav_store_prop_set(fx->st, fx->cal.id, NULL,
                                               "urn:z", "e", "<e/>", &fx->err),
                         MTR_OK);
        assert_int_equal(coll_modseq(fx, "cal"), m);
    }

    /* Deleting the object drops its props; a new object starts bare. */
    assert_int_equal(
        caldav_store_obj_delete(fx->st, fx->cal.id, "a.ics", NULL, &fx->err),
        MTR_OK);
    put_ok(fx, "a.ics", "A", "a");
    memset(&p, 0, sizeof(p));
    assert_int_equal(caldav_store_prop_list(fx->st, fx->cal.id, "a.ics",
                                            props_cb, &p, &fx->err),
                     MTR_OK);
    assert_int_equal(p.n, 0);
}

typedef struct {
    size_t n;
    char   line[16][160];
} shares_t;

static int
share_cb(const char *coll_name, const char *sharee, int access, void *ctx)
{
    shares_t *s = ctx;

    assert_true(s->n < 16);
    snprintf(s->line[s->n++], sizeof(s->line[0]), "%s|%s|%d", coll_name, sharee,
             access);
    return 0;
}

static void
test_shares(void **state)
{
    fx_t         *fx = *state;
    caldav_coll_t work;
    shares_t      s;
    int           a;

    memset(&work, 0, sizeof(work));
    snprintf(work.name, sizeof(work.name), "work");
    work.kind = CALDAV_COLL_CALENDAR;
    assert_int_equal(caldav_store_coll_create(fx->st, &work, &fx->err), MTR_OK);

    assert_int_equal(
        caldav_store_share_set(fx->st, "cal", "carol@x.test", 2, &fx->err),
        MTR_OK);
    assert_int_equal(
        caldav_store_share_set(fx->st, "cal", "bob@x.test", 1, &fx->err),
        MTR_OK);
    assert_int_equal(
        caldav_store_share_set(fx->st, "work", "bob@x.test", 2, &fx->err),
        MTR_OK);

    {
        const struct {
            const char *coll, *sharee;
            int         rc, access;
        } cases[] = {
            { "cal", "bob@x.test", MTR_OK, 1 },
            { "cal", "carol@x.test", MTR_OK, 2 },
            { "cal", "dave@x.test", MTR_OK, 0 },
            { "work", "bob@x.test", MTR_OK, 2 },
            { "work", "carol@x.test", MTR_OK, 0 },
            { "nope", "bob@x.test", CALDAV_STORE_NOT_FOUND, 0 },
            { "cal", "", MTR_ERROR, 0 },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            print_message("case: share_get %s %s\n", cases[i].coll,
                          cases[i].sharee);
            a = 99;
            assert_int_equal(caldav_store_share_get(fx->st, cases[i].coll,
                                                    cases[i].sharee, &a,
                                                    &fx->err),
                             cases[i].rc);
            assert_int_equal(a, cases[i].access);
        }
    }

    memset(&s, 0, sizeof(s));
    assert_int_equal(
        caldav_store_share_list(fx->st, "cal", share_cb, &s, &fx->err), MTR_OK);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.line[0], "cal|bob@x.test|1");
    assert_string_equal(s.line[1], "cal|carol@x.test|2");
    memset(&s, 0, sizeof(s));
    assert_int_equal(
        caldav_store_share_list(fx->st, NULL, share_cb, &s, &fx->err), MTR_OK);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.line[2], "work|bob@x.test|2");
    assert_int_equal(
        caldav_store_share_list(fx->st, "nope", share_cb, &s, &fx->err),
        CALDAV_STORE_NOT_FOUND);

    /* Change, remove, refuse nonsense. */
    assert_int_equal(
        caldav_store_share_set(fx->st, "cal", "bob@x.test", 2, &fx->err),
        MTR_OK);
    assert_int_equal(
        caldav_store_share_set(fx->st, "cal", "carol@x.test", 0, &fx->err),
        MTR_OK);
    assert_int_equal(
        caldav_store_share_set(fx->st, "cal", "carol@x.test", 0, &fx->err),
        MTR_OK);
    assert_int_equal(
        caldav_store_share_set(fx->st, "cal", "bob@x.test", 3, &fx->err),
        MTR_ERROR);
    assert_int_equal(
        caldav_store_share_set(fx->st, "cal", "bob@x.test", -1, &fx->err),
        MTR_ERROR);
    assert_int_equal(
        caldav_store_share_set(fx->st, "nope", "bob@x.test", 1, &fx->err),
        CALDAV_STORE_NOT_FOUND);
    assert_int_equal(
        caldav_store_share_set(fx->st, "cal", "b\nob", 1, &fx->err), MTR_ERROR);
    memset(&s, 0, sizeof(s));
    assert_int_equal(
        caldav_store_share_list(fx->st, "cal", share_cb, &s, &fx->err), MTR_OK);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.line[0], "cal|bob@x.test|2");

    /* Deleting the collection takes its shares; a new one has none. */
    assert_int_equal(caldav_store_coll_delete(fx->st, "work", &fx->err),
                     MTR_OK);
    assert_int_equal(caldav_store_coll_create(fx->st, &work, &fx->err), MTR_OK);
    assert_int_equal(
        caldav_store_share_get(fx->st, "work", "bob@x.test", &a, &fx->err),
        MTR_OK);
    assert_int_equal(a, 0);

    /* The sharee's side. */
    assert_int_equal(caldav_store_shared_with_me_set(fx->st, "zed@y.test",
                                                     "cal", 1, &fx->err),
                     MTR_OK);
    assert_int_equal(caldav_store_shared_with_me_set(fx->st, "amy@y.test",
                                                     "work", 2, &fx->err),
                     MTR_OK);
    assert_int_equal(caldav_store_shared_with_me_set(fx->st, "amy@y.test",
                                                     "home", 1, &fx->err),
                     MTR_OK);
    assert_int_equal(caldav_store_shared_with_me_set(fx->st, "zed@y.test",
                                                     "cal", 2, &fx->err),
                     MTR_OK);
    assert_int_equal(caldav_store_shared_with_me_set(fx->st, "amy@y.test",
                                                     "work", 0, &fx->err),
                     MTR_OK);
    assert_int_equal(caldav_store_shared_with_me_set(fx->st, "amy@y.test",
                                                     "a/b", 1, &fx->err),
                     MTR_ERROR);
    assert_int_equal(caldav_store_shared_with_me_set(fx->st, "amy@y.test",
                                                     "home", 5, &fx->err),
                     MTR_ERROR);
    memset(&s, 0, sizeof(s));
    assert_int_equal(
        caldav_store_shared_with_me_list(fx->st, share_cb, &s, &fx->err),
        MTR_OK);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.line[0], "amy@y.test|home|1");
    assert_string_equal(s.line[1], "zed@y.test|cal|2");
}

/* ---- collection delete ----------------------------------------------------
 */

static void
test_coll_delete_cascade(void **state)
{
    fx_t      *fx = *state;
    collect_t *c = collect_new();
    props_t    p;
    got_t      got;
    int64_t    old_id = fx->cal.id;
    int        a;

    for (int i = 0; i < 50; i++) {
        char name[32];

        snprintf(name, sizeof(name), "o%d.ics", i);
        put_ok(fx, name, "data", name);
    }
    assert_int_equal(
        caldav_store_obj_delete(fx->st, fx->cal.id, "o7.ics", NULL, &fx->err),
        MTR_OK);
    assert_int_equal(caldav_store_prop_set(fx->st, fx->cal.id, NULL, "urn:x",
                                           "p", "<p/>", &fx->err),
                     MTR_OK);
    assert_int_equal(caldav_store_prop_set(fx->st, fx->cal.id, "o1.ics",
                                           "urn:x", "p", "<p/>", &fx->err),
                     MTR_OK);
    assert_int_equal(
        caldav_store_share_set(fx->st, "cal", "bob@x.test", 1, &fx->err),
        MTR_OK);

    assert_int_equal(caldav_store_coll_delete(fx->st, "cal", &fx->err), MTR_OK);
    expect_usage(fx, 0, 0);
    assert_int_equal(get(fx, old_id, "o1.ics", &got), CALDAV_STORE_NOT_FOUND);
    assert_int_equal(caldav_store_obj_walk(fx->st, old_id, NULL, 0, 0, 0, 0,
                                           collect_cb, c, &fx->err),
                     MTR_OK);
    assert_int_equal(c->n, 0);
    memset(&p, 0, sizeof(p));
    assert_int_equal(caldav_store_prop_list(fx->st, old_id, "o1.ics", props_cb,
                                            &p, &fx->err),
                     MTR_OK);
    assert_int_equal(
        caldav_store_prop_list(fx->st, old_id, NULL, props_cb, &p, &fx->err),
        MTR_OK);
    assert_int_equal(p.n, 0);
    assert_int_equal(
        caldav_store_share_get(fx->st, "cal", "bob@x.test", &a, &fx->err),
        CALDAV_STORE_NOT_FOUND);
    /* Nothing is left in the file either (tombstones included). */
    {
        sqlite3      *db;
        sqlite3_stmt *s;

        assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "SELECT (SELECT count(*) FROM"
                                            " objects) + (SELECT count(*)"
                                            " FROM props) + (SELECT count(*)"
                                            " FROM shares)",
                                            -1, &s, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(s), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(s, 0), 0);
        sqlite3_finalize(s);
        sqlite3_close(db);
    }
    free(c);
}

/* A write failing half-way (here: a trigger) leaves the old version. */
static void
test_failed_put_rolls_back(void **state)
{
    fx_t              *fx = *state;
    caldav_obj_index_t ix = ix_event("r", T0, T0 + HOUR);
    got_t              got;
    uint64_t           m, b, o;

    put_ok(fx, "r.ics", "old", "r");
    m = coll_modseq(fx, "cal");
    raw_sql(fx->path, "CREATE TRIGGER fail_bump BEFORE UPDATE OF modseq"
                      " ON collections BEGIN"
                      " SELECT RAISE(ABORT, 'injected failure'); END");
    assert_int_equal(put(fx, fx->cal.id, "r.ics", "new", &ix, NULL, NULL),
                     MTR_ERROR);
    assert_non_null(strstr(fx->err.msg, "injected failure"));
    ix.uid = "s";
    assert_int_equal(put(fx, fx->cal.id, "s.ics", "new", &ix, NULL, NULL),
                     MTR_ERROR);
    assert_int_equal(
        caldav_store_obj_delete(fx->st, fx->cal.id, "r.ics", NULL, &fx->err),
        MTR_ERROR);
    raw_sql(fx->path, "DROP TRIGGER fail_bump");

    assert_int_equal(get(fx, fx->cal.id, "r.ics", &got), MTR_OK);
    assert_string_equal(got.data, "old");
    assert_int_equal(get(fx, fx->cal.id, "s.ics", &got),
                     CALDAV_STORE_NOT_FOUND);
    assert_int_equal(coll_modseq(fx, "cal"), m);
    assert_int_equal(caldav_store_usage(fx->st, &b, &o, &fx->err), MTR_OK);
    assert_int_equal(b, 3);
    assert_int_equal(o, 1);
    /* And the handle still works. */
    put_ok(fx, "r.ics", "newer", "r");
    assert_true(coll_modseq(fx, "cal") > m);
}

/* ---- open: owner, foreign and broken files ------------------------------- */

static void
test_owner_mismatch(void **state)
{
    fx_t           *fx = *state;
    caldav_store_t *st = (caldav_store_t *) 1;
    mtr_err_t       err;

    caldav_store_close(&fx->st);
    assert_int_equal(caldav_store_open(&st, fx->path, "bob@example.test", &err),
                     MTR_ERROR);
    assert_null(st);
    assert_non_null(strstr(err.msg, OWNER));
    assert_non_null(strstr(err.msg, "bob@example.test"));
    /* Case matters: the handler passes one canonical form. */
    assert_int_equal(
        caldav_store_open(&st, fx->path, "Alice@example.test", &err),
        MTR_ERROR);
    assert_int_equal(caldav_store_open(&fx->st, fx->path, OWNER, &fx->err),
                     MTR_OK);
    assert_int_equal(coll_modseq(fx, "cal"), fx->cal.modseq);
}

typedef enum {
    BAD_GARBAGE,
    BAD_TEXT,
    BAD_FOREIGN_TABLES,
    BAD_NEWER_SCHEMA,
    BAD_APP_ID,
    BAD_NO_DIR,
    BAD_URI,
    BAD_EMPTY_OWNER,
    BAD_NULL_OWNER,
    BAD_DIRECTORY
} bad_kind_e;

typedef struct {
    const char *name;
    bad_kind_e  kind;
    const char *msg; /* a piece of the message */
} bad_case_t;

static const bad_case_t bad_cases[] = {
    { "random bytes", BAD_GARBAGE, "not a database" },
    { "a text file", BAD_TEXT, "not a database" },
    { "another application's database", BAD_FOREIGN_TABLES, "another" },
    { "a newer schema", BAD_NEWER_SCHEMA, "newer" },
    { "another application id", BAD_APP_ID, "not a Mortar" },
    { "missing directory", BAD_NO_DIR, "unable to open" },
    { "a URI", BAD_URI, "URI" },
    { "empty owner", BAD_EMPTY_OWNER, "owner" },
    { "no owner", BAD_NULL_OWNER, "owner" },
    { "a directory", BAD_DIRECTORY, "" },
};

static void
make_bad(const bad_case_t *k, char *path, size_t size, const char **owner)
{
    caldav_store_t *st;
    mtr_err_t       err;
    FILE           *f;

    db_new_path(path, size);
    *owner = OWNER;
    switch (k->kind) {
    case BAD_GARBAGE:
        f = fopen(path, "wb");
        assert_non_null(f);
        srand(42);
        for (int i = 0; i < 8192; i++) {
            fputc(rand() & 0xff, f);
        }
        fclose(f);
        break;
    case BAD_TEXT:
        f = fopen(path, "wb");
        assert_non_null(f);
        fputs("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", f);
        fclose(f);
        break;
    case BAD_FOREIGN_TABLES:
        raw_sql(path, "CREATE TABLE meta (k, v); INSERT INTO meta"
                      " VALUES (1, 2)");
        break;
    case BAD_NEWER_SCHEMA:
    case BAD_APP_ID:
        assert_int_equal(caldav_store_open(&st, path, OWNER, &err), MTR_OK);
        caldav_store_close(&st);
        raw_sql(path, k->kind == BAD_NEWER_SCHEMA ? "PRAGMA user_version = 99"
                                                  : "PRAGMA application_id"
                                                    " = 1");
        break;
    case BAD_NO_DIR:
        snprintf(path, size, "%s/no/such/dir/x.sqlite", tmpdir);
        break;
    case BAD_URI:
        snprintf(path, size, "file:%s/x.sqlite?mode=memory", tmpdir);
        break;
    case BAD_EMPTY_OWNER:
        *owner = "";
        break;
    case BAD_NULL_OWNER:
        *owner = NULL;
        break;
    case BAD_DIRECTORY:
        snprintf(path, size, "%s", tmpdir);
        break;
    }
}

static void
test_refused_files(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const bad_case_t *k = &bad_cases[i];
        caldav_store_t   *st = (caldav_store_t *) 1;
        mtr_err_t         err;
        const char       *owner;
        char              path[512];

        print_message("case: %s\n", k->name);
        make_bad(k, path, sizeof(path), &owner);
        err.msg[0] = '\0';
        assert_int_equal(caldav_store_open(&st, path, owner, &err), MTR_ERROR);
        assert_null(st);
        assert_true(err.msg[0] != '\0');
        if (strstr(err.msg, k->msg) == NULL) {
            fail_msg("message \"%s\" lacks \"%s\"", err.msg, k->msg);
        }
        if (k->kind != BAD_DIRECTORY && k->kind != BAD_URI) {
            db_unlink(path);
        }
    }
    assert_int_equal(caldav_store_open(NULL, "/tmp/x", OWNER, NULL), MTR_ERROR);
}

/*
 * A store whose pages were overwritten after it was written: open may
 * succeed (SQLite reads pages lazily), but every call must then fail with
 * a message or succeed; nothing may crash (ASan watches).
 */
static void
test_corrupted_store(void **state)
{
    fx_t          *fx = *state;
    collect_t     *c = collect_new();
    FILE          *f;
    long           size;
    caldav_coll_t *v = NULL;
    size_t         n = 0;
    uint64_t       now, b, o;
    int            truncated, rc;

    for (int i = 0; i < 300; i++) {
        char name[32];

        snprintf(name, sizeof(name), "o%03d.ics", i);
        put_ok(fx, name,
               "BEGIN:VCALENDAR\r\nSUMMARY:some padding text\r\n"
               "END:VCALENDAR\r\n",
               name);
    }
    caldav_store_close(&fx->st);
    /* Fold the WAL into the file, then scribble over its second half. */
    raw_sql(fx->path, "PRAGMA wal_checkpoint(TRUNCATE)");
    f = fopen(fx->path, "r+b");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    assert_true(size > 8192);
    for (long off = (size / 2) & ~4095L; off < size; off += 4096) {
        fseek(f, off + 1000, SEEK_SET);
        for (int i = 0; i < 1500; i++) {
            fputc((i * 7 + (int) off) & 0xff, f);
        }
    }
    fclose(f);

    rc = caldav_store_open(&fx->st, fx->path, OWNER, &fx->err);
    print_message("open on a corrupted file: %d %s\n", rc,
                  rc ? fx->err.msg : "");
    if (rc != MTR_OK) {
        assert_int_equal(rc, MTR_ERROR);
        assert_null(fx->st);
        free(c);
        return;
    }
    rc = caldav_store_coll_list(fx->st, 0, &v, &n, &fx->err);
    assert_true(rc == MTR_OK || rc == MTR_ERROR);
    caldav_coll_list_free(v, n);
    rc = caldav_store_obj_walk(fx->st, fx->cal.id, NULL, 0, 0, 0, 1, collect_cb,
                               c, &fx->err);
    print_message("walk: %d %s\n", rc, rc ? fx->err.msg : "");
    assert_true(rc == MTR_OK || (rc == MTR_ERROR && fx->err.msg[0]));
    memset(c, 0, sizeof(*c));
    rc = caldav_store_changes(fx->st, fx->cal.id, 0, 0, 1, collect_cb, c, &now,
                              &truncated, &fx->err);
    assert_true(rc == MTR_OK || rc == MTR_ERROR
                || rc == CALDAV_STORE_NOT_FOUND);
    print_message("changes: %d %s\n", rc, rc ? fx->err.msg : "");
    rc = caldav_store_usage(fx->st, &b, &o, &fx->err);
    assert_true(rc == MTR_OK || rc == MTR_ERROR);
    free(c);
}

/* ---- concurrency ----------------------------------------------------------
 */

#define THREAD_PUTS 200

typedef struct {
    const char *path;
    int         id;
    int         rc;
    int         created_coll;
    char        err[MTR_ERR_MAX];
    uint64_t    modseq[THREAD_PUTS];
} writer_t;

static pthread_barrier_t writers_go;

static int
modseq_cb(const caldav_obj_t *o, void *ctx)
{
    *(uint64_t *) ctx = o->modseq;
    return 0;
}

static void *
writer_main(void *arg)
{
    writer_t          *w = arg;
    caldav_store_t    *st = NULL;
    caldav_coll_t      c;
    caldav_obj_index_t ix;
    mtr_err_t          err;
    char               name[32], uid[32], data[64], etag[80];
    int                created, rc;
    int64_t            coll_id;

    err.msg[0] = '\0';
    pthread_barrier_wait(&writers_go);
    /* Both threads race to create the file, the schema and "cal". */
    w->rc = caldav_store_open(&st, w->path, OWNER, &err);
    if (w->rc != MTR_OK) {
        goto done;
    }
    memset(&c, 0, sizeof(c));
    snprintf(c.name, sizeof(c.name), "cal");
    c.kind = CALDAV_COLL_CALENDAR;
    rc = caldav_store_coll_create(st, &c, &err);
    if (rc != MTR_OK && rc != CALDAV_STORE_EXISTS) {
        w->rc = rc;
        goto done;
    }
    w->created_coll = rc == MTR_OK;
    w->rc = caldav_store_coll_get(st, "cal", &c, &err);
    if (w->rc != MTR_OK) {
        goto done;
    }
    coll_id = c.id;
    caldav_coll_clear(&c);
    for (int i = 0; i < THREAD_PUTS; i++) {
        snprintf(name, sizeof(name), "t%d-%03d.ics", w->id, i);
        snprintf(uid, sizeof(uid), "uid-%d-%d", w->id, i);
        snprintf(data, sizeof(data), "event %d of thread %d", i, w->id);
        ix = ix_event(uid, T0 + i * HOUR, T0 + i * HOUR + HOUR);
        w->rc = caldav_store_obj_put(st, coll_id, name, data, strlen(data), &ix,
                                     NULL, 1, etag, &created, NULL, &err);
        if (w->rc != MTR_OK) {
            goto done;
        }
        w->rc = caldav_store_obj_get(st, coll_id, name, 0, modseq_cb,
                                     &w->modseq[i], &err);
        if (w->rc != MTR_OK) {
            goto done;
        }
    }

done:
    if (w->rc != MTR_OK) {
        snprintf(w->err, sizeof(w->err), "%s", err.msg);
    }
    caldav_store_close(&st);
    return NULL;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

    return x < y ? -1 : x > y;
}

static void
test_concurrent_writers(void **state)
{
    char            path[512];
    pthread_t       tid[2];
    writer_t        w[2];
    caldav_store_t *st;
    caldav_coll_t   c;
    mtr_err_t       err;
    collect_t      *col = collect_new();
    uint64_t        now, all[2 * THREAD_PUTS];
    int             truncated;

    (void) state;
    db_new_path(path, sizeof(path));
    assert_int_equal(pthread_barrier_init(&writers_go, NULL, 2), 0);
    for (int i = 0; i < 2; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].path = path;
        w[i].id = i;
        assert_int_equal(pthread_create(&tid[i], NULL, writer_main, &w[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(tid[i], NULL);
        if (w[i].rc != MTR_OK) {
            fail_msg("thread %d: %d %s", i, w[i].rc, w[i].err);
        }
        /* Each thread saw its own writes in increasing order. */
        for (int j = 1; j < THREAD_PUTS; j++) {
            assert_true(w[i].modseq[j] > w[i].modseq[j - 1]);
        }
    }
    pthread_barrier_destroy(&writers_go);
    assert_int_equal(w[0].created_coll + w[1].created_coll, 1);

    /* No modseq given twice, all 400 objects there, ctag the highest. */
    for (int i = 0; i < 2; i++) {
        memcpy(all + i * THREAD_PUTS, w[i].modseq, sizeof(w[i].modseq));
    }
    qsort(all, 2 * THREAD_PUTS, sizeof(all[0]), cmp_u64);
    for (int j = 1; j < 2 * THREAD_PUTS; j++) {
        assert_true(all[j] > all[j - 1]);
    }
    assert_int_equal(caldav_store_open(&st, path, OWNER, &err), MTR_OK);
    assert_int_equal(caldav_store_coll_get(st, "cal", &c, &err), MTR_OK);
    assert_int_equal(c.modseq, all[2 * THREAD_PUTS - 1]);
    assert_int_equal(caldav_store_changes(st, c.id, 0, 0, 0, collect_cb, col,
                                          &now, &truncated, &err),
                     MTR_OK);
    assert_int_equal(col->n, 2 * THREAD_PUTS);
    for (size_t j = 1; j < col->n; j++) {
        assert_true(col->modseq[j] > col->modseq[j - 1]);
    }
    caldav_coll_clear(&c);
    caldav_store_close(&st);
    db_unlink(path);
    free(col);
}

/* The instance index answers time ranges without the data. */
static void
test_instance_hits(void **state)
{
    fx_t *fx = *state;
    /* weekly, one hour, three instances; the middle one zero-length */
    int64_t            inst[] = { T0,           T0 + HOUR,     T0 + 7 * DAY,
                                  T0 + 7 * DAY, T0 + 14 * DAY, T0 + 14 * DAY + HOUR };
    caldav_obj_index_t ix = { "w", "VEVENT", T0, CALDAV_TIME_MAX,
                              1,   inst,     3,  T0 + 21 * DAY };
    static const struct {
        int64_t s, e;
        int     rc, hit;
    } cases[] = {
        { T0 - DAY, T0, MTR_OK, 0 },                   /* ends at the start */
        { T0 + HOUR / 2, T0 + HOUR, MTR_OK, 1 },       /* inside the first */
        { T0 + HOUR, T0 + 7 * DAY, MTR_OK, 0 },        /* the gap */
        { T0 + 7 * DAY, T0 + 8 * DAY, MTR_OK, 1 },     /* the point */
        { T0 + 7 * DAY + 1, T0 + 8 * DAY, MTR_OK, 0 }, /* after the point */
        { T0 + 14 * DAY, T0 + 21 * DAY, MTR_OK, 1 },
        { T0 + 20 * DAY, T0 + 22 * DAY, MTR_DECLINED, 0 }, /* past until */
    };
    char etag[80];
    int  created, hit;

    assert_int_equal(caldav_store_obj_put(fx->st, fx->cal.id, "w.ics", "x", 1,
                                          &ix, NULL, 0, etag, &created, NULL,
                                          &fx->err),
                     MTR_OK);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(caldav_store_obj_hit(fx->st, fx->cal.id, "w.ics",
                                              cases[i].s, cases[i].e, &hit,
                                              &fx->err),
                         cases[i].rc);
        assert_int_equal(hit, cases[i].hit);
    }
    /* a put without a list drops the old one */
    ix.instances = NULL;
    assert_int_equal(caldav_store_obj_put(fx->st, fx->cal.id, "w.ics", "y", 1,
                                          &ix, NULL, 0, etag, &created, NULL,
                                          &fx->err),
                     MTR_OK);
    assert_int_equal(caldav_store_obj_hit(fx->st, fx->cal.id, "w.ics", T0,
                                          T0 + DAY, &hit, &fx->err),
                     MTR_DECLINED);
    assert_int_equal(caldav_store_obj_hit(fx->st, fx->cal.id, "none.ics", T0,
                                          T0 + DAY, &hit, &fx->err),
                     CALDAV_STORE_NOT_FOUND);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
        T(test_coll_crud),
        T(test_names),
        T(test_put_get_etag),
        T(test_put_conditions),
        T(test_uid_conflict),
        T(test_delete_tombstone),
        T(test_changes_since),
        T(test_bad_tokens),
        T(test_initial_paging_after_prune),
        T(test_time_range),
        T(test_instance_hits),
        T(test_walk_reentry),
        T(test_usage),
        T(test_props),
        T(test_shares),
        T(test_coll_delete_cascade),
        T(test_failed_put_rolls_back),
        T(test_owner_mismatch),
        T(test_corrupted_store),
        cmocka_unit_test(test_refused_files),
        cmocka_unit_test(test_concurrent_writers),
#undef T
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
