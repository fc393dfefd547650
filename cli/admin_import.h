/*
 * admin_import.h -- bulk import of users from CSV or LDIF.
 *
 * Core, shared by `mortar user import` and, later, the admin REST API: a
 * reader that turns a file held in memory into rows (admin_row_t: the
 * address, the field changes, the password), and a runner that applies
 * each row with admin_user_upsert() and reports it through a callback.
 * No printing; every problem of a row lands in that row's report.
 *
 * CSV (RFC 4180, parsed by libcsv in strict mode): the first row names
 * the columns, matched case-insensitively ignoring '-' and '_':
 *     mail (or email)   the address, required
 *     password          clear text, set through slapd (new users only)
 *     uid               optional; must equal the local part
 *     any user field    see admin_fields(ADMIN_OBJ_USER): cn, sn,
 *                       given-name, title, phone, mobile, quota, aliases,
 *                       forwards, services, status, language, ...
 * An unknown or repeated column refuses the whole file before any row is
 * read.  Multi-valued cells (aliases, forwards, services, phone, ...) are
 * separated by ';'.  An empty cell means "not given", never "clear".
 * Blank lines are skipped; a UTF-8 byte-order mark is ignored.
 *
 * LDIF (RFC 2849, parsed by libldap's ldif_read_record() and
 * ldap_parse_ldif_record()): one entry per record; objectClass is
 * ignored (Mortar sets its own), the DN is ignored (the entry goes where
 * its mail says), mail is required, uid must equal the local part,
 * userPassword is either clear text or a salted hash kept as it is
 * (admin_check_password_hash), every other attribute must be a user
 * field.  Change records (changetype: modify, delete, ...) and values
 * read from URLs ("attr:< file:///...") are refused.
 *
 * Rows are independent: a bad row is reported and the next one is read.
 * Idempotence is admin_user_upsert()'s rule: a re-run of the same file
 * changes nothing.
 *
 * Covered by tests/unit/test_admin_import.c and tests/integration/
 * test_cli.py; timed by bench/bench_import.sh.
 */
#ifndef ADMIN_IMPORT_H
#define ADMIN_IMPORT_H

#include <stddef.h>

#include "admin_dir.h"

#define ADMIN_IMPORT_FILE_MAX    (1024UL * 1024 * 1024) /* bytes of a file */
#define ADMIN_IMPORT_COLUMNS_MAX 64                     /* CSV columns */
#define ADMIN_IMPORT_CELL_MAX    4096  /* bytes of one CSV cell */
#define ADMIN_IMPORT_RECORD_MAX  65536 /* bytes of one LDIF record */

typedef enum { ADMIN_FMT_CSV = 0, ADMIN_FMT_LDIF } admin_format_e;

/*
 * The format named by s: "csv" or "ldif" (for --format), or guessed from
 * a file name ending in .csv, .ldif or .ldf (case-insensitive).
 * MTR_ERROR when neither fits.
 */
int admin_import_format(const char *s, int by_extension, admin_format_e *fmt_r,
                        mtr_err_t *err);

/* One row of the file. */
typedef struct {
    unsigned long line; /* first line of the row in the file (1-based) */
    char          mail[ADMIN_ADDR_MAX + 1]; /* normalized, or as given
                                               (sanitized) when bad */
    admin_changes_t changes;
    char           *password;      /* clear text or NULL; wiped on free */
    char           *password_hash; /* LDIF {SCHEME}... or NULL */
    int             bad;           /* the row is invalid: err says why */
    mtr_err_t       err;
} admin_row_t;

/* Wipe the password and free what the row holds. */
void admin_row_free(admin_row_t *row);

typedef struct admin_import_s admin_import_t;

/*
 * Start reading len bytes at data (borrowed: it must outlive the reader;
 * at most ADMIN_IMPORT_FILE_MAX).  For CSV the header row is read and
 * checked here: MTR_ERROR names the bad column.  zonedir as for
 * admin_changes_init().
 */
int admin_import_open(admin_import_t **ip, admin_format_e fmt, const char *data,
                      size_t len, const char *zonedir, mtr_err_t *err);

/*
 * The next row into *row (initialized here; free it with
 * admin_row_free()).  MTR_OK: a row, good or bad (row->bad).
 * MTR_DECLINED: no more rows.
 */
int admin_import_next(admin_import_t *im, admin_row_t *row);

/* Bytes of the input consumed so far, for a progress bar. */
size_t admin_import_offset(const admin_import_t *im);

void admin_import_close(admin_import_t **ip);

typedef struct {
    unsigned long added;
    unsigned long updated;
    unsigned long unchanged;
    unsigned long failed;
} admin_import_summary_t;

/*
 * Called after each row: st is ADMIN_OK (what says added, updated or
 * unchanged) or the failure, with err; offset/total for progress.
 */
typedef void (*admin_import_report_pt)(void *data, const admin_row_t *row,
                                       admin_status_e st, admin_upsert_e what,
                                       const mtr_err_t *err, size_t offset,
                                       size_t total);

/*
 * Apply every row.  Returns ADMIN_OK when all rows were read (some may
 * have failed: see the summary), or ADMIN_UNAVAILABLE when the directory
 * or Redis stopped answering: the run stops there (err names the line),
 * because every later row would fail the same way; re-running the file
 * afterwards is safe.  no_update: see admin_user_upsert().
 */
admin_status_e admin_import_run(admin_ctx_t *ctx, admin_import_t *im,
                                int no_update, admin_import_report_pt report,
                                void *data, admin_import_summary_t *sum_r,
                                mtr_err_t *err);

#endif /* ADMIN_IMPORT_H */
