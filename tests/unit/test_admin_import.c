/*
 * test_admin_import.c -- unit tests of cli/admin_import.c, the CSV and
 * LDIF import core of `mortar user import`.
 *
 * Table-driven: each case has a name, printed before its assertions.
 * The readers run on files held in memory: header checks (unknown,
 * repeated and missing columns), rows (quoted cells with commas and line
 * breaks, CRLF, a byte-order mark, blank lines, too many cells, a row with
 * a syntax error followed by good rows, a last row without its line end),
 * the line number of each row, multi-valued cells, and LDIF records
 * (version line, base64 and folded values, change records, values by URL,
 * missing mail, uid checks, clear and hashed passwords, unknown
 * attributes).  The runner is tested with admin_user_upsert() wrapped at
 * link time (tests/unit/test_admin_import.flags): bad rows never reach
 * the directory, every outcome is counted, an unreachable service stops
 * the run.  liblic is not linked: admin_dir.c's gate calls get mocks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "admin_import.h"

/* ---- the gate is not used by the reader: mocks for the linker ---------- */

int lic_gate_admin_change(lic_gate_t *g, int64_t now, char *warn,
                          size_t warn_size, mtr_err_t *err);
int lic_gate_seat_reserve(lic_gate_t *g, mtr_err_t *err);
int lic_gate_seat_release(lic_gate_t *g, mtr_err_t *err);
int lic_gate_install(lic_gate_t *g, const char *text, size_t len, int64_t now,
                     mtr_err_t *err);
int lic_gate_refresh(lic_gate_t *g, mtr_err_t *err);
int lic_gate_status_text(lic_gate_t *g, int64_t now, char *buf, size_t size,
                         mtr_err_t *err);
int lic_gate_audit(lic_gate_t *g, int fix, lic_audit_t *audit_r,
                   mtr_err_t *err);

int
lic_gate_admin_change(lic_gate_t *g, int64_t now, char *warn, size_t warn_size,
                      mtr_err_t *err)
{
    (void) g, (void) now, (void) warn, (void) warn_size;
    return mtr_err_set(err, "not used");
}

int
lic_gate_seat_reserve(lic_gate_t *g, mtr_err_t *err)
{
    (void) g;
    return mtr_err_set(err, "not used");
}

int
lic_gate_seat_release(lic_gate_t *g, mtr_err_t *err)
{
    (void) g;
    return mtr_err_set(err, "not used");
}

int
lic_gate_install(lic_gate_t *g, const char *text, size_t len, int64_t now,
                 mtr_err_t *err)
{
    (void) g, (void) text, (void) len, (void) now;
    return mtr_err_set(err, "not used");
}

int
lic_gate_refresh(lic_gate_t *g, mtr_err_t *err)
{
    (void) g;
    return mtr_err_set(err, "not used");
}

int
lic_gate_status_text(lic_gate_t *g, int64_t now, char *buf, size_t size,
                     mtr_err_t *err)
{
    (void) g, (void) now, (void) buf, (void) size;
    return mtr_err_set(err, "not used");
}

int
lic_gate_audit(lic_gate_t *g, int fix, lic_audit_t *audit_r, mtr_err_t *err)
{
    (void) g, (void) fix, (void) audit_r;
    return mtr_err_set(err, "not used");
}

/* ---- reading rows ---------------------------------------------------------
 */

typedef struct {
    unsigned long line;
    const char   *mail;
    int           bad;
    const char   *err_has;  /* a word of the reason, when bad */
    const char   *attr;     /* a field to check, or NULL */
    const char   *value;    /* its first value */
    size_t        nvalues;  /* its value count */
    const char   *password; /* expected clear password, or NULL */
    const char   *hash;     /* expected hash, or NULL */
} row_want_t;

typedef struct {
    const char    *name;
    admin_format_e fmt;
    const char    *data;
    const char    *open_err; /* non-NULL: open must fail with this word */
    row_want_t     rows[8];
    size_t         nrows;
} read_case_t;

static const read_case_t read_cases[] = {
    { "csv basic",
      ADMIN_FMT_CSV,
      "mail,password,cn,sn,quota,mobile,aliases\n"
      "a@x.io,Secret-pw-1,Ann A,A,2G,+33 6 12 34 56 78,a1@x.io;a2@x.io\n"
      "b@x.io,,Bob,B,,,\n",
      NULL,
      { { 2, "a@x.io", 0, NULL, "mortarMailAlias", "a1@x.io", 2, "Secret-pw-1",
          NULL },
        { 3, "b@x.io", 0, NULL, "cn", "Bob", 1, NULL, NULL } },
      2 },
    { "csv header names in any spelling",
      ADMIN_FMT_CSV,
      "E-Mail,GIVEN_NAME,Given-Name-Not\n",
      "Given-Name-Not",
      { { 0 } },
      0 },
    { "csv quoted comma and line break",
      ADMIN_FMT_CSV,
      "email,cn,description\n"
      "a@x.io,\"Doe, Ann\",\"line one\n"
      "line two\"\n"
      "b@x.io,Bob,ok\n",
      NULL,
      { { 2, "a@x.io", 1, "control character", NULL, NULL, 0, NULL, NULL },
        { 4, "b@x.io", 0, NULL, "description", "ok", 1, NULL, NULL } },
      2 },
    { "csv quoted comma kept",
      ADMIN_FMT_CSV,
      "mail,cn\n\"a@x.io\",\"Doe, Ann\"\n",
      NULL,
      { { 2, "a@x.io", 0, NULL, "cn", "Doe, Ann", 1, NULL, NULL } },
      1 },
    { "csv CRLF, BOM, blank lines, no final line end",
      ADMIN_FMT_CSV,
      "\xef\xbb\xbfmail,cn\r\n\r\na@x.io,Ann\r\n,\r\n\r\nb@x.io,Bob",
      NULL,
      { { 3, "a@x.io", 0, NULL, "cn", "Ann", 1, NULL, NULL },
        { 6, "b@x.io", 0, NULL, "cn", "Bob", 1, NULL, NULL } },
      2 },
    { "csv syntax error does not hold back the next rows",
      ADMIN_FMT_CSV,
      "mail,cn\na@x.io,An\"n\nb@x.io,Bob\n",
      NULL,
      { { 2, "", 1, "syntax", NULL, NULL, 0, NULL, NULL },
        { 3, "b@x.io", 0, NULL, "cn", "Bob", 1, NULL, NULL } },
      2 },
    { "csv unclosed quote at the end",
      ADMIN_FMT_CSV,
      "mail,cn\na@x.io,Ann\nb@x.io,\"Bob\n",
      NULL,
      { { 2, "a@x.io", 0, NULL, "cn", "Ann", 1, NULL, NULL },
        { 3, "", 1, "not closed", NULL, NULL, 0, NULL, NULL } },
      2 },
    { "csv too many cells, fewer cells",
      ADMIN_FMT_CSV,
      "mail,cn\na@x.io,Ann,extra\nb@x.io\n",
      NULL,
      { { 2, "a@x.io", 1, "more cells", NULL, NULL, 0, NULL, NULL },
        { 3, "b@x.io", 0, NULL, NULL, NULL, 0, NULL, NULL } },
      2 },
    { "csv bad values name the field",
      ADMIN_FMT_CSV,
      "mail,quota,mobile,timezone,password\n"
      "a@x.io,2X,,,\n"
      "b@x.io,,06 12,,\n"
      "c@x.io,,,Mars/Base,\n"
      "d@x.io,,,,short\n"
      "not-an-address,,,,\n"
      ",,,,\n"
      "e@x.io,1G,,,\n",
      NULL,
      { { 2, "a@x.io", 1, "quota", NULL, NULL, 0, NULL, NULL },
        { 3, "b@x.io", 1, "mobile", NULL, NULL, 0, NULL, NULL },
        { 4, "c@x.io", 1, "timezone", NULL, NULL, 0, NULL, NULL },
        { 5, "d@x.io", 1, "password", NULL, NULL, 0, NULL, NULL },
        { 6, "not-an-address", 1, "mail", NULL, NULL, 0, NULL, NULL },
        { 8, "e@x.io", 0, NULL, "mortarQuotaBytes", "1073741824", 1, NULL,
          NULL } },
      6 },
    { "csv uid must match",
      ADMIN_FMT_CSV,
      "uid,mail\nann,ann@x.io\nbob,ann2@x.io\n",
      NULL,
      { { 2, "ann@x.io", 0, NULL, NULL, NULL, 0, NULL, NULL },
        { 3, "ann2@x.io", 1, "uid", NULL, NULL, 0, NULL, NULL } },
      2 },
    { "csv hashed password column",
      ADMIN_FMT_CSV,
      "mail,password\na@x.io,{SSHA512}abcdef\nb@x.io,{CLEARTEXT}x\n",
      NULL,
      { { 2, "a@x.io", 0, NULL, NULL, NULL, 0, NULL, "{SSHA512}abcdef" },
        { 3, "b@x.io", 1, "salted", NULL, NULL, 0, NULL, NULL } },
      2 },
    { "csv empty file", ADMIN_FMT_CSV, "", "empty", { { 0 } }, 0 },
    { "csv no mail column",
      ADMIN_FMT_CSV,
      "cn,sn\nA,B\n",
      "no mail",
      { { 0 } },
      0 },
    { "csv repeated column",
      ADMIN_FMT_CSV,
      "mail,cn,name\n",
      "same field",
      { { 0 } },
      0 },
    { "csv empty column name",
      ADMIN_FMT_CSV,
      "mail,,cn\n",
      "no name",
      { { 0 } },
      0 },
    { "ldif entries",
      ADMIN_FMT_LDIF,
      "version: 1\n"
      "\n"
      "# a comment\n"
      "dn: uid=a,ou=people,dc=old\n"
      "objectClass: inetOrgPerson\n"
      "uid: a\n"
      "mail: a@x.io\n"
      "cn:: QW5uIEHDpw==\n"
      "sn: A\n"
      "description: folded\n"
      "  value\n"
      "telephoneNumber: +1 555 000 0001\n"
      "telephoneNumber: +1 555 000 0002\n"
      "userPassword: {SSHA}abcdefgh\n"
      "\n"
      "dn: uid=b,ou=people,dc=old\n"
      "mail: b@x.io\n"
      "userPassword: Clear-pass-1\n",
      NULL,
      { { 4, "a@x.io", 0, NULL, "telephoneNumber", "+15550000001", 2, NULL,
          "{SSHA}abcdefgh" },
        { 16, "b@x.io", 0, NULL, NULL, NULL, 0, "Clear-pass-1", NULL } },
      2 },
    { "ldif folded and base64 values",
      ADMIN_FMT_LDIF,
      "dn: uid=a,dc=old\nmail: a@x.io\ncn:: QW5uIEHDpw==\ndescription: fol\n"
      " ded\n",
      NULL,
      { { 1, "a@x.io", 0, NULL, "description", "folded", 1, NULL, NULL } },
      1 },
    { "ldif refusals",
      ADMIN_FMT_LDIF,
      "dn: uid=a,dc=old\nmail: a@x.io\ndescription:< file:///etc/passwd\n"
      "\n"
      "dn: uid=b,dc=old\nmail: b@x.io\ndescription:\n <file:///etc/shadow\n"
      "\n"
      "dn: uid=c,dc=old\nchangetype: delete\n"
      "\n"
      "dn: uid=d,dc=old\ncn: no mail\n"
      "\n"
      "dn: uid=e,dc=old\nmail: e@x.io\nuidNumber: 1000\n"
      "\n"
      "dn: uid=zz,dc=old\nuid: zz\nmail: f@x.io\n"
      "\n"
      "dn: uid=g,dc=old\nmail: g@x.io\nmail: g2@x.io\n"
      "\n"
      "dn: uid=h,dc=old\nmail: h@x.io\n",
      NULL,
      { { 1, "uid=a,dc=old", 1, "URL", NULL, NULL, 0, NULL, NULL },
        { 5, "uid=b,dc=old", 1, "URL", NULL, NULL, 0, NULL, NULL },
        { 10, "uid=c,dc=old", 1, "change record", NULL, NULL, 0, NULL, NULL },
        { 13, "uid=d,dc=old", 1, "no mail", NULL, NULL, 0, NULL, NULL },
        { 16, "e@x.io", 1, "uidNumber", NULL, NULL, 0, NULL, NULL },
        { 20, "f@x.io", 1, "uid", NULL, NULL, 0, NULL, NULL },
        { 24, "", 1, "exactly one", NULL, NULL, 0, NULL, NULL },
        { 28, "h@x.io", 0, NULL, NULL, NULL, 0, NULL, NULL } },
      8 },
};

static void
check_row(const row_want_t *w, const admin_row_t *row)
{
    assert_int_equal(row->line, w->line);
    assert_string_equal(row->mail, w->mail);
    assert_int_equal(row->bad, w->bad);
    if (w->bad) {
        if (strstr(row->err.msg, w->err_has) == NULL) {
            fail_msg("reason \"%s\" lacks \"%s\"", row->err.msg, w->err_has);
        }
        return;
    }
    if (w->attr != NULL) {
        const admin_change_t *ch = admin_changes_get(&row->changes, w->attr);

        assert_non_null(ch);
        assert_int_equal(ch->nvalues, w->nvalues);
        assert_string_equal(ch->values[0], w->value);
    }
    if (w->password != NULL) {
        assert_non_null(row->password);
        assert_string_equal(row->password, w->password);
    } else {
        assert_null(row->password);
    }
    if (w->hash != NULL) {
        assert_non_null(row->password_hash);
        assert_string_equal(row->password_hash, w->hash);
    } else {
        assert_null(row->password_hash);
    }
}

static void
test_read(void **state)
{
    size_t i, n;

    (void) state;
    for (i = 0; i < sizeof(read_cases) / sizeof(read_cases[0]); i++) {
        const read_case_t *c = &read_cases[i];
        admin_import_t    *im = NULL;
        admin_row_t        row;
        mtr_err_t          err;
        int                rc;

        print_message("read: %s\n", c->name);
        mtr_err_clear(&err);
        rc = admin_import_open(&im, c->fmt, c->data, strlen(c->data), NULL,
                               &err);
        if (c->open_err != NULL) {
            assert_int_equal(rc, MTR_ERROR);
            assert_null(im);
            if (strstr(err.msg, c->open_err) == NULL) {
                fail_msg("open error \"%s\" lacks \"%s\"", err.msg,
                         c->open_err);
            }
            continue;
        }
        assert_int_equal(rc, MTR_OK);

        for (n = 0; admin_import_next(im, &row) == MTR_OK; n++) {
            print_message("  row %zu: line %lu %s%s%s\n", n + 1, row.line,
                          row.mail, row.bad ? ": " : "",
                          row.bad ? row.err.msg : "");
            assert_true(n < c->nrows);
            check_row(&c->rows[n], &row);
            admin_row_free(&row);
        }
        admin_row_free(&row); /* the end leaves an empty row: still freeable */
        assert_int_equal(n, c->nrows);
        assert_int_equal(admin_import_offset(im), c->fmt == ADMIN_FMT_CSV
                                                      ? strlen(c->data)
                                                      : strlen(c->data));
        admin_import_close(&im);
        assert_null(im);
    }
}

static void
test_format(void **state)
{
    admin_format_e f;
    mtr_err_t      err;

    (void) state;
    print_message("format: by extension and by name\n");
    assert_int_equal(admin_import_format("users.CSV", 1, &f, &err), MTR_OK);
    assert_int_equal(f, ADMIN_FMT_CSV);
    assert_int_equal(admin_import_format("/x/y.ldif", 1, &f, &err), MTR_OK);
    assert_int_equal(f, ADMIN_FMT_LDIF);
    assert_int_equal(admin_import_format("y.ldf", 1, &f, &err), MTR_OK);
    assert_int_equal(f, ADMIN_FMT_LDIF);
    assert_int_equal(admin_import_format("users.txt", 1, &f, &err), MTR_ERROR);
    assert_non_null(strstr(err.msg, "--format"));
    assert_int_equal(admin_import_format("noext", 1, &f, &err), MTR_ERROR);
    assert_int_equal(admin_import_format("ldif", 0, &f, &err), MTR_OK);
    assert_int_equal(f, ADMIN_FMT_LDIF);
    assert_int_equal(admin_import_format("xml", 0, &f, &err), MTR_ERROR);
}

/* ---- the runner, with admin_user_upsert() wrapped ---------------------- */

static struct {
    int            calls;
    admin_status_e st[8];
    admin_upsert_e what[8];
    char           seen[8][ADMIN_ADDR_MAX + 1];
    int            reports;
    int            failed_reports;
} up;

admin_status_e __wrap_admin_user_upsert(admin_ctx_t *ctx, const char *mail,
                                        const admin_changes_t *c,
                                        const char            *password,
                                        const char            *password_hash,
                                        int no_update, admin_upsert_e *what_r,
                                        mtr_err_t *err);

admin_status_e
__wrap_admin_user_upsert(admin_ctx_t *ctx, const char *mail,
                         const admin_changes_t *c, const char *password,
                         const char *password_hash, int no_update,
                         admin_upsert_e *what_r, mtr_err_t *err)
{
    int i = up.calls++;

    (void) ctx, (void) c, (void) password, (void) password_hash;
    assert_int_equal(no_update, 1);
    assert_true(i < 8);
    snprintf(up.seen[i], sizeof(up.seen[i]), "%s", mail);
    *what_r = up.what[i];
    if (up.st[i] != ADMIN_OK) {
        mtr_err_set(err, "upsert failed for %s", mail);
    }
    return up.st[i];
}

static void
report(void *data, const admin_row_t *row, admin_status_e st,
       admin_upsert_e what, const mtr_err_t *err, size_t offset, size_t total)
{
    (void) data, (void) row, (void) what;
    assert_true(offset <= total);
    up.reports++;
    if (st != ADMIN_OK) {
        assert_true(err->msg[0] != '\0');
        up.failed_reports++;
    }
}

static void
test_run(void **state)
{
    static const char      csv[] = "mail,quota\n"
                                   "a@x.io,1G\n"
                                   "bad,1G\n"
                                   "b@x.io,1G\n"
                                   "c@x.io,2X\n"
                                   "d@x.io,\n"
                                   "e@x.io,\n";
    admin_import_t        *im = NULL;
    admin_import_summary_t sum;
    admin_ctx_t            ctx;
    mtr_err_t              err;

    (void) state;
    memset(&ctx, 0, sizeof(ctx));

    print_message("run: bad rows skip the directory, outcomes counted\n");
    memset(&up, 0, sizeof(up));
    up.what[0] = ADMIN_ADDED;
    up.what[1] = ADMIN_UNCHANGED;
    up.st[2] = ADMIN_REFUSED; /* seats exhausted, say */
    up.what[3] = ADMIN_UPDATED;
    assert_int_equal(
        admin_import_open(&im, ADMIN_FMT_CSV, csv, strlen(csv), NULL, &err),
        MTR_OK);
    assert_int_equal(admin_import_run(&ctx, im, 1, report, NULL, &sum, &err),
                     ADMIN_OK);
    admin_import_close(&im);
    assert_int_equal(up.calls, 4);
    assert_string_equal(up.seen[0], "a@x.io");
    assert_string_equal(up.seen[1], "b@x.io");
    assert_string_equal(up.seen[2], "d@x.io");
    assert_string_equal(up.seen[3], "e@x.io");
    assert_int_equal(sum.added, 1);
    assert_int_equal(sum.unchanged, 1);
    assert_int_equal(sum.updated, 1);
    assert_int_equal(sum.failed, 3);
    assert_int_equal(up.reports, 6);
    assert_int_equal(up.failed_reports, 3);

    print_message("run: an unreachable service stops the run\n");
    memset(&up, 0, sizeof(up));
    up.st[1] = ADMIN_UNAVAILABLE;
    assert_int_equal(
        admin_import_open(&im, ADMIN_FMT_CSV, csv, strlen(csv), NULL, &err),
        MTR_OK);
    assert_int_equal(admin_import_run(&ctx, im, 1, NULL, NULL, &sum, &err),
                     ADMIN_UNAVAILABLE);
    admin_import_close(&im);
    assert_int_equal(up.calls, 2);
    assert_non_null(strstr(err.msg, "line 4"));
    assert_non_null(strstr(err.msg, "re-run"));
    assert_int_equal(sum.failed, 2); /* "bad" and the unavailable one */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_run),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
