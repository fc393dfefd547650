/*
 * admin_import.c -- bulk import of users from CSV (libcsv) or LDIF
 * (libldap's LDIF reader).
 *
 * Core (contract in admin_import.h): turns a file held in memory into
 * rows and applies them with admin_user_upsert().  Never prints.
 * Covered by tests/unit/test_admin_import.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <csv.h>
#include <ldap.h>
#include <ldif.h>

#include "admin_import.h"

typedef enum {
    ADMIN_COL_FIELD = 0,
    ADMIN_COL_MAIL,
    ADMIN_COL_PASSWORD,
    ADMIN_COL_UID
} admin_col_e;

typedef struct {
    admin_col_e          kind;
    const admin_field_t *field;
    char                 name[64]; /* as written in the header, sanitized */
} admin_col_t;

/* The record being assembled by libcsv's callbacks. */
typedef struct {
    char        **cells;
    size_t       *lens;
    size_t        n;
    int           done;
    int           too_many; /* more cells than ADMIN_IMPORT_COLUMNS_MAX */
    int           too_long; /* a cell over ADMIN_IMPORT_CELL_MAX */
    int           oom;
    unsigned long start;
} admin_rec_t;

struct admin_import_s {
    admin_format_e fmt;
    const char    *data;
    size_t         len;
    size_t         pos;  /* next byte to read */
    unsigned long  line; /* line number of data[pos] */
    const char    *zonedir;

    /* CSV */
    struct csv_parser csv;
    int               csv_ready;
    admin_col_t       cols[ADMIN_IMPORT_COLUMNS_MAX];
    size_t            ncols;
    admin_rec_t       rec;

    /* LDIF */
    char   *copy; /* ldif_open_mem() wants a writable buffer */
    LDIFFP *lfp;
    char   *lbuf;
    int     lbuf_len;
};

int
admin_import_format(const char *s, int by_extension, admin_format_e *fmt_r,
                    mtr_err_t *err)
{
    const char *ext = s;
    char        q[80];

    if (by_extension) {
        ext = strrchr(s, '.');
        ext = ext != NULL ? ext + 1 : "";
    }
    if (strcasecmp(ext, "csv") == 0) {
        *fmt_r = ADMIN_FMT_CSV;
        return MTR_OK;
    }
    if (strcasecmp(ext, "ldif") == 0 || strcasecmp(ext, "ldf") == 0) {
        *fmt_r = ADMIN_FMT_LDIF;
        return MTR_OK;
    }
    mtr_sanitize(q, sizeof(q), s, strlen(s));
    return mtr_err_set(err,
                       by_extension
                           ? "cannot tell the format of \"%s\" from its name: "
                             "give --format csv or --format ldif"
                           : "unknown format \"%s\": csv or ldif",
                       q);
}

void
admin_row_free(admin_row_t *row)
{
    admin_changes_free(&row->changes);
    if (row->password != NULL) {
        mtr_wipe(row->password, strlen(row->password));
        free(row->password);
        row->password = NULL;
    }
    free(row->password_hash);
    row->password_hash = NULL;
}

static void
admin_row_init(admin_row_t *row, const char *zonedir)
{
    memset(row, 0, sizeof(*row));
    admin_changes_init(&row->changes, ADMIN_OBJ_USER, zonedir);
}

/* Mark a row bad; the first reason wins (it is usually the cause). */
static void admin_row_bad(admin_row_t *row, const char *fmt, ...)
    MTR_PRINTF(2, 3);

static void
admin_row_bad(admin_row_t *row, const char *fmt, ...)
{
    va_list ap;

    if (row->bad) {
        return;
    }
    row->bad = 1;
    va_start(ap, fmt);
    vsnprintf(row->err.msg, sizeof(row->err.msg), fmt, ap);
    va_end(ap);
}

static void
admin_row_mail(admin_row_t *row, const char *s, size_t len)
{
    mtr_err_t e;
    char      local[ADMIN_LOCAL_MAX + 1], domain[ADMIN_DOMAIN_MAX + 1];

    if (admin_parse_address(s, len, local, domain, &e) != MTR_OK) {
        mtr_sanitize(row->mail, sizeof(row->mail), s, len);
        admin_row_bad(row, "mail: %s", e.msg);
        return;
    }
    if ((size_t) snprintf(row->mail, sizeof(row->mail), "%s@%s", local, domain)
        >= sizeof(row->mail))
    {
        admin_row_bad(row, "mail: address too long");
    }
}

static void
admin_row_password(admin_row_t *row, const char *s, size_t len)
{
    mtr_err_t e;

    if (row->password != NULL || row->password_hash != NULL) {
        admin_row_bad(row, "password given twice");
        return;
    }
    if (len > 0 && s[0] == '{') {
        if (admin_check_password_hash(s, len, &e) != MTR_OK) {
            admin_row_bad(row, "%s", e.msg);
            return;
        }
        row->password_hash = strndup(s, len);
        if (row->password_hash == NULL) {
            admin_row_bad(row, "out of memory");
        }
        return;
    }
    if (admin_check_password(s, len, &e) != MTR_OK
        || memchr(s, '\0', len) != NULL) {
        admin_row_bad(row, "password: %s", e.msg);
        return;
    }
    row->password = strndup(s, len);
    if (row->password == NULL) {
        admin_row_bad(row, "out of memory");
    }
}

/* The uid given beside the mail must be its local part. */
static void
admin_row_uid(admin_row_t *row, const char *s, size_t len)
{
    const char *at = strchr(row->mail, '@');
    char        q[80];

    if (row->bad) {
        return;
    }
    if (at == NULL || (size_t) (at - row->mail) != len
        || strncasecmp(row->mail, s, len) != 0)
    {
        admin_row_bad(row,
                      "uid \"%s\" differs from the local part of the mail "
                      "(Mortar names users after their address)",
                      (mtr_sanitize(q, sizeof(q), s, len), q));
    }
}

static void
admin_row_field(admin_row_t *row, const char *name, const char *s, size_t len)
{
    mtr_err_t e;

    if (admin_changes_put(&row->changes, name, strlen(name), ADMIN_SET, s, len,
                          &e)
        != MTR_OK)
    {
        admin_row_bad(row, "%s", e.msg);
    }
}

/* ---- CSV ---------------------------------------------------------------- */

static void
admin_rec_reset(admin_rec_t *r)
{
    size_t i;

    for (i = 0; i < r->n; i++) {
        /* Cells may hold a password: wipe before freeing. */
        mtr_wipe(r->cells[i], r->lens[i]);
        free(r->cells[i]);
    }
    free(r->cells);
    free(r->lens);
    memset(r, 0, sizeof(*r));
}

static void
admin_csv_cell(void *s, size_t len, void *data)
{
    admin_import_t *im = data;
    admin_rec_t    *r = &im->rec;
    char          **cells;
    size_t         *lens;

    if (r->n == 0) {
        r->start = im->line;
    }
    if (r->n >= ADMIN_IMPORT_COLUMNS_MAX) {
        r->too_many = 1;
        return;
    }
    if (len > ADMIN_IMPORT_CELL_MAX) {
        r->too_long = 1;
        len = 0;
    }

    cells = realloc(r->cells, (r->n + 1) * sizeof(char *));
    if (cells == NULL) {
        r->oom = 1;
        return;
    }
    r->cells = cells;
    lens = realloc(r->lens, (r->n + 1) * sizeof(size_t));
    if (lens == NULL) {
        r->oom = 1;
        return;
    }
    r->lens = lens;
    r->cells[r->n] = malloc(len + 1);
    if (r->cells[r->n] == NULL) {
        r->oom = 1;
        return;
    }
    if (len > 0) {
        memcpy(r->cells[r->n], s, len);
    }
    r->cells[r->n][len] = '\0';
    r->lens[r->n] = len;
    r->n++;
}

static void
admin_csv_end(int c, void *data)
{
    admin_import_t *im = data;

    (void) c;
    im->rec.done = 1;
}

static int
admin_csv_init(admin_import_t *im)
{
    if (im->csv_ready) {
        csv_free(&im->csv);
        im->csv_ready = 0;
    }
    if (csv_init(&im->csv, CSV_STRICT | CSV_STRICT_FINI) != 0) {
        return MTR_ERROR;
    }
    im->csv_ready = 1;
    return MTR_OK;
}

/*
 * Read one record into im->rec, a line at a time so line numbers stay
 * exact.  MTR_OK: a record (possibly with a syntax error in *bad);
 * MTR_DECLINED: end of input.
 */
static int
admin_csv_record(admin_import_t *im, mtr_err_t *bad)
{
    bad->msg[0] = '\0';
    admin_rec_reset(&im->rec);

    while (im->pos < im->len) {
        const char *p = im->data + im->pos;
        const char *nl = memchr(p, '\n', im->len - im->pos);
        size_t      n = nl != NULL ? (size_t) (nl - p) + 1 : im->len - im->pos;
        size_t      used;

        used = csv_parse(&im->csv, p, n, admin_csv_cell, admin_csv_end, im);
        im->pos += n;
        if (used != n) {
            /* Report the record and start afresh on the next line. */
            unsigned long start = im->rec.n > 0 ? im->rec.start : im->line;

            mtr_err_set(bad, "CSV syntax error on line %lu: %s", im->line,
                        csv_strerror(csv_error(&im->csv)));
            im->line++;
            admin_rec_reset(&im->rec);
            im->rec.start = start;
            im->rec.done = 1;
            admin_csv_init(im);
            return MTR_OK;
        }
        im->line++;
        if (im->rec.done) {
            return MTR_OK;
        }
    }

    /* The last record may lack its line end; an open quote is an error. */
    if (csv_fini(&im->csv, admin_csv_cell, admin_csv_end, im) != 0) {
        mtr_err_set(bad,
                    "CSV syntax error at the end of the file: a quoted field "
                    "is not closed");
        im->rec.done = 1;
        admin_csv_init(im);
        return MTR_OK;
    }
    admin_csv_init(im);
    return im->rec.done ? MTR_OK : MTR_DECLINED;
}

static int
admin_csv_header(admin_import_t *im, mtr_err_t *err)
{
    mtr_err_t bad;
    size_t    i, j;
    char      q[80];

    if (admin_csv_record(im, &bad) != MTR_OK) {
        return mtr_err_set(err, "the file is empty: the first row must name "
                                "the columns (mail, password, cn, ...)");
    }
    if (bad.msg[0] != '\0') {
        return mtr_err_set(err, "header row: %s", bad.msg);
    }
    if (im->rec.too_many || im->rec.too_long || im->rec.oom) {
        return mtr_err_set(err,
                           "header row: more than %d columns, or a "
                           "column name too long",
                           ADMIN_IMPORT_COLUMNS_MAX);
    }

    for (i = 0; i < im->rec.n; i++) {
        const char  *name = im->rec.cells[i];
        size_t       len = im->rec.lens[i];
        admin_col_t *col = &im->cols[i];

        mtr_sanitize(col->name, sizeof(col->name), name, len);
        if (len == 0) {
            return mtr_err_set(err, "header row: column %zu has no name",
                               i + 1);
        }
        if ((len == 4 && strncasecmp(name, "mail", 4) == 0)
            || (len == 5 && strncasecmp(name, "email", 5) == 0)
            || (len == 6 && strncasecmp(name, "e-mail", 6) == 0))
        {
            col->kind = ADMIN_COL_MAIL;
        } else if (len == 8 && strncasecmp(name, "password", 8) == 0) {
            col->kind = ADMIN_COL_PASSWORD;
        } else if (len == 3 && strncasecmp(name, "uid", 3) == 0) {
            col->kind = ADMIN_COL_UID;
        } else {
            col->kind = ADMIN_COL_FIELD;
            col->field = admin_field_find(ADMIN_OBJ_USER, name, len);
            if (col->field == NULL) {
                return mtr_err_set(
                    err,
                    "header row: column %zu \"%s\" is not a "
                    "user field (`mortar user fields` lists "
                    "them; mail, password and uid are also "
                    "known)",
                    i + 1, mtr_sanitize(q, sizeof(q), name, len) > 0 ? q : "");
            }
        }
        for (j = 0; j < i; j++) {
            if (im->cols[j].kind == col->kind
                && (col->kind != ADMIN_COL_FIELD
                    || im->cols[j].field == col->field))
            {
                return mtr_err_set(err,
                                   "header row: columns %zu \"%s\" and %zu "
                                   "\"%s\" name the same field",
                                   j + 1, im->cols[j].name, i + 1, col->name);
            }
        }
    }
    im->ncols = im->rec.n;

    for (i = 0; i < im->ncols; i++) {
        if (im->cols[i].kind == ADMIN_COL_MAIL) {
            break;
        }
    }
    if (i == im->ncols) {
        return mtr_err_set(err, "header row: no mail column (it names each "
                                "user)");
    }
    return MTR_OK;
}

static int
admin_csv_next(admin_import_t *im, admin_row_t *row)
{
    mtr_err_t bad;
    size_t    i;
    int       blank;

    for (;;) {
        if (admin_csv_record(im, &bad) != MTR_OK) {
            return MTR_DECLINED;
        }
        row->line = im->rec.start != 0 ? im->rec.start : im->line - 1;
        if (bad.msg[0] != '\0') {
            admin_row_bad(row, "%s", bad.msg);
            return MTR_OK;
        }
        blank = 1;
        for (i = 0; i < im->rec.n; i++) {
            if (im->rec.lens[i] != 0) {
                blank = 0;
            }
        }
        if (!blank) {
            break;
        }
    }

    if (im->rec.oom) {
        admin_row_bad(row, "out of memory");
        return MTR_OK;
    }
    if (im->rec.too_many || im->rec.n > im->ncols) {
        admin_row_bad(row, "%s cells than the %zu columns of the header",
                      "more", im->ncols);
    }
    if (im->rec.too_long) {
        admin_row_bad(row, "a cell is longer than %d bytes",
                      ADMIN_IMPORT_CELL_MAX);
    }

    /* The mail first, so every later message can name it. */
    for (i = 0; i < im->rec.n && i < im->ncols; i++) {
        if (im->cols[i].kind == ADMIN_COL_MAIL) {
            if (im->rec.lens[i] == 0) {
                admin_row_bad(row, "no mail");
            } else {
                admin_row_mail(row, im->rec.cells[i], im->rec.lens[i]);
            }
        }
    }
    if (row->mail[0] == '\0') {
        admin_row_bad(row, "no mail");
    }

    for (i = 0; i < im->rec.n && i < im->ncols; i++) {
        const char *cell = im->rec.cells[i];
        size_t      len = im->rec.lens[i];

        if (len == 0) {
            continue; /* not given */
        }
        switch (im->cols[i].kind) {
        case ADMIN_COL_MAIL:
            break;
        case ADMIN_COL_PASSWORD:
            admin_row_password(row, cell, len);
            break;
        case ADMIN_COL_UID:
            admin_row_uid(row, cell, len);
            break;
        case ADMIN_COL_FIELD:
            if (memchr(cell, '\0', len) != NULL) {
                admin_row_bad(row, "%s: holds a NUL byte",
                              im->cols[i].field->name);
                break;
            }
            admin_row_field(row, im->cols[i].field->name, cell, len);
            break;
        }
    }
    return MTR_OK;
}

/* ---- LDIF ------------------------------------------------------------------
 */

/*
 * libldap would read "attr:< file:///etc/shadow" from the file system:
 * refuse any value given by URL.  Folded lines are joined first, so the
 * "<" cannot hide at the start of a continuation line.
 */
static int
admin_ldif_has_url(const char *rec)
{
    const char *p = rec;
    int         in_name = 1, colon = 0;

    for (; *p != '\0'; p++) {
        if (p[0] == '\n' && p[1] == ' ') {
            p++; /* a fold: the line goes on */
            continue;
        }
        if (*p == '\n') {
            in_name = 1;
            colon = 0;
            continue;
        }
        if (colon) {
            if (*p == '<') {
                return 1;
            }
            if (*p != ':') {
                in_name = 0;
            }
            colon = 0;
            continue;
        }
        if (in_name && *p == ':') {
            colon = 1;
        }
    }
    return 0;
}

/* Where the record that ends at end starts: skip blank and comment lines. */
static void
admin_ldif_advance(admin_import_t *im, size_t end, unsigned long *start_r)
{
    size_t        p = im->pos;
    unsigned long line = im->line;
    int           found = 0;

    while (p < end) {
        const char *nl = memchr(im->data + p, '\n', end - p);
        size_t      next = nl != NULL ? (size_t) (nl - im->data) + 1 : end;

        if (!found && im->data[p] != '\n' && im->data[p] != '\r'
            && im->data[p] != '#') {
            found = 1;
            *start_r = line;
        }
        if (nl != NULL) {
            line++;
        }
        p = next;
    }
    if (!found) {
        *start_r = line;
    }
    im->pos = end;
    im->line = line;
}

static void
admin_ldif_row(admin_row_t *row, LDIFRecord *lr)
{
    LDAPMod **m;
    size_t    i;
    char      q[80];

    if (lr->lr_op != LDAP_REQ_ADD) {
        mtr_sanitize(row->mail, sizeof(row->mail), lr->lr_dn.bv_val,
                     lr->lr_dn.bv_len);
        admin_row_bad(row, "a change record (changetype other than add): only "
                           "entries can be imported");
        return;
    }

    /* The mail first, so every later message can name it. */
    for (m = lr->lrop_mods; m != NULL && *m != NULL; m++) {
        if (strcasecmp((*m)->mod_type, "mail") == 0) {
            struct berval **v = (*m)->mod_bvalues;

            if (v == NULL || v[0] == NULL || v[1] != NULL) {
                admin_row_bad(row, "mail: give exactly one address");
                return;
            }
            admin_row_mail(row, v[0]->bv_val, v[0]->bv_len);
        }
    }
    if (row->mail[0] == '\0') {
        mtr_sanitize(row->mail, sizeof(row->mail), lr->lr_dn.bv_val,
                     lr->lr_dn.bv_len);
        admin_row_bad(row, "no mail attribute");
        return;
    }

    for (m = lr->lrop_mods; m != NULL && *m != NULL; m++) {
        const char          *type = (*m)->mod_type;
        struct berval      **v = (*m)->mod_bvalues;
        const admin_field_t *f;

        if (strcasecmp(type, "mail") == 0
            || strcasecmp(type, "objectClass") == 0) {
            continue;
        }
        for (i = 0; v != NULL && v[i] != NULL; i++) {
            if (strcasecmp(type, "userPassword") == 0) {
                admin_row_password(row, v[i]->bv_val, v[i]->bv_len);
            } else if (strcasecmp(type, "uid") == 0) {
                admin_row_uid(row, v[i]->bv_val, v[i]->bv_len);
            } else {
                f = admin_field_find(ADMIN_OBJ_USER, type, strlen(type));
                if (f == NULL) {
                    admin_row_bad(
                        row,
                        "attribute %s is not a user field "
                        "(`mortar user fields` lists them)",
                        (mtr_sanitize(q, sizeof(q), type, strlen(type)), q));
                    return;
                }
                if (memchr(v[i]->bv_val, '\0', v[i]->bv_len) != NULL) {
                    admin_row_bad(row, "%s: holds a NUL byte", f->name);
                    return;
                }
                admin_row_field(row, f->name, v[i]->bv_val, v[i]->bv_len);
            }
        }
    }
}

static int
admin_ldif_next(admin_import_t *im, admin_row_t *row)
{
    unsigned long ln = 0, start = 0;
    LDIFRecord    lr;
    struct berval bv;
    long          off;
    int           rc;

    for (;;) {
        rc = ldif_read_record(im->lfp, &ln, &im->lbuf, &im->lbuf_len);
        if (rc <= 0) {
            im->pos = im->len;
            return MTR_DECLINED;
        }
        off = ftell(im->lfp->fp);
        admin_ldif_advance(
            im, off >= 0 && (size_t) off <= im->len ? (size_t) off : im->len,
            &start);
        row->line = start;

        if (strlen(im->lbuf) > ADMIN_IMPORT_RECORD_MAX) {
            admin_row_bad(row, "record longer than %d bytes",
                          ADMIN_IMPORT_RECORD_MAX);
            return MTR_OK;
        }
        if (admin_ldif_has_url(im->lbuf)) {
            /* Not parsed (that would read the URL): name it by its DN. */
            if (strncasecmp(im->lbuf, "dn:", 3) == 0) {
                const char *dn = im->lbuf + 3;

                dn += strspn(dn, " ");
                mtr_sanitize(row->mail, sizeof(row->mail), dn,
                             strcspn(dn, "\n"));
            }
            admin_row_bad(row,
                          "a value is given by URL (attr:< ...): write the "
                          "value itself");
            return MTR_OK;
        }

        memset(&lr, 0, sizeof(lr));
        bv.bv_val = im->lbuf;
        bv.bv_len = strlen(im->lbuf);
        if (ldap_parse_ldif_record(&bv, start, &lr, "mortar",
                                   LDIF_DEFAULT_ADD | LDIF_NO_CONTROLS)
            != LDAP_SUCCESS)
        {
            ldap_ldif_record_done(&lr);
            admin_row_bad(row, "LDIF syntax error in the record");
            return MTR_OK;
        }
        if (lr.lr_op == 0 && lr.lr_dn.bv_val == NULL) {
            ldap_ldif_record_done(&lr); /* "version: 1" */
            continue;
        }
        admin_ldif_row(row, &lr);
        ldap_ldif_record_done(&lr);
        return MTR_OK;
    }
}

/* ---- reader
 * ------------------------------------------------------------------ */

int
admin_import_open(admin_import_t **ip, admin_format_e fmt, const char *data,
                  size_t len, const char *zonedir, mtr_err_t *err)
{
    admin_import_t *im;

    *ip = NULL;
    if (len > ADMIN_IMPORT_FILE_MAX) {
        return mtr_err_set(err, "the file is larger than %lu bytes: split it",
                           ADMIN_IMPORT_FILE_MAX);
    }
    im = calloc(1, sizeof(*im));
    if (im == NULL) {
        return mtr_err_set(err, "out of memory");
    }
    im->fmt = fmt;
    im->data = data;
    im->len = len;
    im->line = 1;
    im->zonedir = zonedir;

    /* A UTF-8 byte-order mark, as spreadsheets write. */
    if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
        im->pos = 3;
    }

    if (fmt == ADMIN_FMT_CSV) {
        if (admin_csv_init(im) != MTR_OK) {
            free(im);
            return mtr_err_set(err, "out of memory");
        }
        if (admin_csv_header(im, err) != MTR_OK) {
            admin_import_close(&im);
            return MTR_ERROR;
        }
    } else {
        im->copy = malloc(len - im->pos + 1);
        if (im->copy == NULL) {
            free(im);
            return mtr_err_set(err, "out of memory");
        }
        memcpy(im->copy, data + im->pos, len - im->pos);
        im->copy[len - im->pos] = '\0';
        im->lfp = ldif_open_mem(im->copy, len - im->pos, "r");
        if (im->lfp == NULL) {
            admin_import_close(&im);
            return mtr_err_set(err, "cannot open the LDIF data");
        }
        /* ftell() on the memory stream counts from the copy's start. */
        im->data += im->pos;
        im->len -= im->pos;
        im->pos = 0;
    }

    *ip = im;
    return MTR_OK;
}

int
admin_import_next(admin_import_t *im, admin_row_t *row)
{
    admin_row_init(row, im->zonedir);
    if (im->fmt == ADMIN_FMT_CSV) {
        return admin_csv_next(im, row);
    }
    return admin_ldif_next(im, row);
}

size_t
admin_import_offset(const admin_import_t *im)
{
    return im->pos;
}

void
admin_import_close(admin_import_t **ip)
{
    admin_import_t *im = *ip;

    if (im == NULL) {
        return;
    }
    admin_rec_reset(&im->rec);
    if (im->csv_ready) {
        csv_free(&im->csv);
    }
    if (im->lfp != NULL) {
        ldif_close(im->lfp);
    }
    if (im->copy != NULL) {
        mtr_wipe(im->copy, im->len);
        free(im->copy);
    }
    if (im->lbuf != NULL) {
        mtr_wipe(im->lbuf, (size_t) im->lbuf_len);
        free(im->lbuf);
    }
    free(im);
    *ip = NULL;
}

admin_status_e
admin_import_run(admin_ctx_t *ctx, admin_import_t *im, int no_update,
                 admin_import_report_pt report, void *data,
                 admin_import_summary_t *sum_r, mtr_err_t *err)
{
    admin_row_t    row;
    admin_status_e st;
    admin_upsert_e what;
    mtr_err_t      e;
    size_t         total = im->len;

    memset(sum_r, 0, sizeof(*sum_r));

    while (admin_import_next(im, &row) == MTR_OK) {
        what = ADMIN_UNCHANGED;
        mtr_err_clear(&e);

        if (row.bad) {
            st = ADMIN_INVALID;
            e = row.err;
        } else {
            st = admin_user_upsert(ctx, row.mail, &row.changes, row.password,
                                   row.password_hash, no_update, &what, &e);
        }

        if (st == ADMIN_OK) {
            switch (what) {
            case ADMIN_ADDED:
                sum_r->added++;
                break;
            case ADMIN_UPDATED:
                sum_r->updated++;
                break;
            case ADMIN_UNCHANGED:
                sum_r->unchanged++;
                break;
            }
        } else {
            sum_r->failed++;
        }

        if (report != NULL) {
            report(data, &row, st, what, &e, admin_import_offset(im), total);
        }

        if (st == ADMIN_UNAVAILABLE) {
            mtr_err_set(err,
                        "stopped at line %lu (%s): %s; the rows after it "
                        "were not read: re-run the same file when the "
                        "service is back (rows already imported stay as "
                        "they are)",
                        row.line, row.mail, e.msg);
            admin_row_free(&row);
            return ADMIN_UNAVAILABLE;
        }
        admin_row_free(&row);
    }

    return ADMIN_OK;
}
