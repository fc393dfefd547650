/*
 * caldav_vcard.c -- vCard 3.0 / 4.0 logic of the CardDAV core: validation
 * of an address object resource (RFC 6352 5.1), addressbook-query
 * filters (RFC 6352 10.5) and the cards of the global address book.
 *
 * Core (no host header).  Covered by tests/unit/test_caldav_vcard.c.
 *
 * Why a parser of our own, not libical's: libical 3.0.16 parses a
 * BEGIN:VCARD block as ICAL_VCARD_COMPONENT, but it only knows iCalendar
 * property names: FN, N, EMAIL, TEL, ORG and every other vCard property
 * come out as X-LIC-ERROR "Parse error in property name" with the value
 * lost, and so do group-prefixed names (Apple's "item1.EMAIL").  Only
 * VERSION and UID survive (checked with libical 3.0.16 on Debian 12).
 * vCard shares iCalendar's content-line syntax (RFC 6350 3.3), which is
 * small; the parser below unfolds lines (CRLF or LF followed by a space
 * or tab), splits group, name, parameters (quoted values, comma lists,
 * RFC 6868 ^-escapes, vCard 2.1-style bare TYPE values) and value, and
 * unescapes values (\\ \, \; \n \N) only when they are compared.
 *
 * Collations (RFC 4790): i;octet compares bytes; i;ascii-casemap folds
 * A-Z; i;unicode-casemap (the CardDAV default) uses simple case folding
 * for ASCII, Latin-1 Supplement, Latin Extended-A, basic Greek and
 * Cyrillic, plus sharp s to "ss".  It does not normalize (NFKD), so a
 * decomposed "e" + U+0301 does not equal a precomposed U+00E9, and other
 * scripts compare exactly.
 *
 * Cards built for the directory are vCard 3.0: the version every CardDAV
 * client reads (macOS/iOS Contacts, Thunderbird, DAVx5, Evolution), while
 * some still write only 3.0.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem() when built by nginx's configure */
#endif
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "caldav_text.h"
#include "caldav_vcard.h"

#define VC_NAME_MAX  64 /* property, group and parameter names */
#define VC_PROPS_MAX 10000

#define PRECOND_DATA    "CR:valid-address-data"
#define PRECOND_VERSION "CR:supported-address-data"

/* ---------------------------------------------------------------- */
/* content lines                                                      */

typedef struct {
    char        name[VC_NAME_MAX + 1]; /* upper-cased, group removed */
    const char *params;                /* ";..." up to the ':' */
    size_t      params_len;
    const char *value; /* raw, still escaped */
    size_t      value_len;
    size_t      lineno;
} vprop_t;

typedef struct {
    char    *text; /* unfolded copy, one logical line per '\n' */
    vprop_t *v;
    size_t   n, cap;
} vcard_t;

static void
vcard_free(vcard_t *vc)
{
    free(vc->text);
    free(vc->v);
    memset(vc, 0, sizeof(*vc));
}

static int
is_name_char(unsigned char ch)
{
    return isalnum(ch) || ch == '-';
}

static int
is_ctl(unsigned char ch)
{
    return (ch < 0x20 && ch != '\t') || ch == 0x7F;
}

/*
 * Unfold data into vc->text: logical lines end with '\n', folds (a line
 * end followed by a space or tab) disappear with that one blank, blank
 * lines go.  Line numbers of the logical lines' starts go to lines[].
 */
static int
unfold(const char *data, size_t len, vcard_t *vc, size_t **lines_r,
       size_t *nlines_r, mtr_err_t *err)
{
    size_t  i = 0, n = 0, lineno = 1, nl = 0;
    size_t *lines;
    char   *o;
    int     at_start = 1; /* at the start of a physical line */

    o = malloc(len + 2);
    lines = malloc((len / 2 + 2) * sizeof(*lines));
    if (o == NULL || lines == NULL) {
        free(o);
        free(lines);
        return mtr_err_set(err, "out of memory");
    }
    while (i < len) {
        unsigned char ch = (unsigned char) data[i];

        if (ch == '\r' && i + 1 < len && data[i + 1] == '\n') {
            i++;
            continue;
        }
        if (ch == '\n') {
            lineno++;
            i++;
            at_start = 1;
            if (i < len && (data[i] == ' ' || data[i] == '\t')) {
                if (n == 0 || o[n - 1] == '\n') {
                    free(o);
                    free(lines);
                    return mtr_err_set(err,
                                       "line %zu: continuation of "
                                       "nothing",
                                       lineno);
                }
                i++; /* a fold: the line goes on */
                at_start = 0;
                continue;
            }
            if (n > 0 && o[n - 1] != '\n') {
                o[n++] = '\n';
            }
            continue;
        }
        if (at_start) {
            if (ch == ' ' || ch == '\t') {
                free(o);
                free(lines);
                return mtr_err_set(err, "line %zu: continuation of nothing",
                                   lineno);
            }
            lines[nl++] = lineno;
            at_start = 0;
        }
        if (is_ctl(ch)) {
            free(o);
            free(lines);
            return mtr_err_set(err, "line %zu: control byte 0x%02x", lineno,
                               ch);
        }
        o[n++] = (char) ch;
        i++;
    }
    if (n > 0 && o[n - 1] != '\n') {
        o[n++] = '\n';
    }
    o[n] = '\0';
    vc->text = o;
    *lines_r = lines;
    *nlines_r = nl;
    return MTR_OK;
}

/* Split one logical line [p, e) into a property. */
static int
parse_line(char *p, char *e, size_t lineno, vprop_t *vp, mtr_err_t *err)
{
    char  *s = p, *q;
    size_t n;
    int    quoted = 0;

    memset(vp, 0, sizeof(*vp));
    vp->lineno = lineno;
    /* [group "."] name */
    for (;;) {
        q = s;
        while (q < e && is_name_char((unsigned char) *q)) {
            q++;
        }
        n = (size_t) (q - s);
        if (n == 0 || n > VC_NAME_MAX) {
            return mtr_err_set(err, "line %zu: bad property name", lineno);
        }
        if (q < e && *q == '.' && s == p) {
            s = q + 1; /* that was the group */
            continue;
        }
        break;
    }
    for (size_t i = 0; i < n; i++) {
        vp->name[i] = (char) toupper((unsigned char) s[i]);
    }
    vp->name[n] = '\0';
    /* parameters up to the first ':' outside quotes */
    vp->params = q;
    for (; q < e; q++) {
        if (*q == '"') {
            quoted = !quoted;
        } else if (*q == ':' && !quoted) {
            break;
        }
    }
    if (q == e) {
        return mtr_err_set(err, "line %zu: not a content line (no ':')",
                           lineno);
    }
    if (vp->params < q && *vp->params != ';') {
        return mtr_err_set(err, "line %zu: bad property name", lineno);
    }
    vp->params_len = (size_t) (q - vp->params);
    vp->value = q + 1;
    vp->value_len = (size_t) (e - q - 1);
    return MTR_OK;
}

static int
vcard_parse(const char *data, size_t len, vcard_t *vc, mtr_err_t *err)
{
    size_t *lines = NULL, nlines = 0, k = 0;
    char   *p, *e;

    memset(vc, 0, sizeof(*vc));
    if (len > CALDAV_VCARD_MAX_SIZE) {
        return mtr_err_set(err, "vCard larger than %u bytes",
                           CALDAV_VCARD_MAX_SIZE);
    }
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) {
        data += 3;
        len -= 3;
    }
    if (unfold(data, len, vc, &lines, &nlines, err) != MTR_OK) {
        return MTR_ERROR;
    }
    for (p = vc->text; *p != '\0'; p = e + 1, k++) {
        e = strchr(p, '\n');
        if (vc->n == vc->cap) {
            size_t   cap = vc->cap ? vc->cap * 2 : 32;
            vprop_t *v;

            if (cap > VC_PROPS_MAX) {
                free(lines);
                return mtr_err_set(err, "more than %d lines", VC_PROPS_MAX);
            }
            v = realloc(vc->v, cap * sizeof(*v));
            if (v == NULL) {
                free(lines);
                return mtr_err_set(err, "out of memory");
            }
            vc->v = v;
            vc->cap = cap;
        }
        if (parse_line(p, e, k < nlines ? lines[k] : 0, &vc->v[vc->n], err)
            != MTR_OK) {
            free(lines);
            return MTR_ERROR;
        }
        vc->n++;
    }
    free(lines);
    return MTR_OK;
}

static int
value_is(const vprop_t *vp, const char *s)
{
    size_t n = strlen(s);

    return vp->value_len == n && strncasecmp(vp->value, s, n) == 0;
}

/* The value with RFC 6350 3.4 escapes undone (malloc'ed). */
static char *
unescape(const char *s, size_t len, size_t *len_r)
{
    char  *o = malloc(len + 1);
    size_t i, n = 0;

    if (o == NULL) {
        return NULL;
    }
    for (i = 0; i < len; i++) {
        if (s[i] == '\\' && i + 1 < len) {
            i++;
            o[n++] = s[i] == 'n' || s[i] == 'N' ? '\n' : s[i];
        } else {
            o[n++] = s[i];
        }
    }
    o[n] = '\0';
    *len_r = n;
    return o;
}

/* ---------------------------------------------------------------- */
/* validation (RFC 6352 5.1)                                          */

static int
check_card(const vcard_t *vc, caldav_vcard_index_t *ix, const char **precond,
           mtr_err_t *err)
{
    size_t         i, fn = 0, uid = 0, version = 0;
    const vprop_t *vp;

    if (vc->n < 2 || strcmp(vc->v[0].name, "BEGIN") != 0
        || !value_is(&vc->v[0], "VCARD"))
    {
        return mtr_err_set(err, "does not start with BEGIN:VCARD");
    }
    for (i = 1; i < vc->n; i++) {
        vp = &vc->v[i];
        if (strcmp(vp->name, "BEGIN") == 0) {
            return mtr_err_set(err, "line %zu: nested BEGIN", vp->lineno);
        }
        if (strcmp(vp->name, "END") == 0) {
            if (!value_is(vp, "VCARD")) {
                return mtr_err_set(err,
                                   "line %zu: END does not close "
                                   "BEGIN:VCARD",
                                   vp->lineno);
            }
            if (i + 1 != vc->n) {
                return mtr_err_set(err,
                                   "line %zu: data after END:VCARD "
                                   "(one vCard per resource)",
                                   vc->v[i + 1].lineno);
            }
            break;
        }
        if (strcmp(vp->name, "VERSION") == 0) {
            version++;
            if (value_is(vp, "3.0")) {
                ix->version = 3;
            } else if (value_is(vp, "4.0")) {
                ix->version = 4;
            } else {
                char v[16];

                mtr_sanitize(v, sizeof(v), vp->value, vp->value_len);
                *precond = PRECOND_VERSION;
                return mtr_err_set(err,
                                   "vCard version %s is not supported "
                                   "(3.0 and 4.0 are)",
                                   v);
            }
        } else if (strcmp(vp->name, "FN") == 0) {
            fn++;
        } else if (strcmp(vp->name, "UID") == 0) {
            uid++;
            if (vp->value_len == 0 || vp->value_len >= sizeof(ix->uid)) {
                return mtr_err_set(err, "UID empty or longer than %zu bytes",
                                   sizeof(ix->uid) - 1);
            }
            memcpy(ix->uid, vp->value, vp->value_len);
            ix->uid[vp->value_len] = '\0';
        }
    }
    if (i == vc->n) {
        return mtr_err_set(err, "missing END:VCARD");
    }
    if (version != 1) {
        return mtr_err_set(err,
                           version ? "more than one VERSION" : "no VERSION");
    }
    if (fn == 0) {
        return mtr_err_set(err, "no FN");
    }
    if (uid != 1) {
        return mtr_err_set(err, uid ? "more than one UID" : "no UID");
    }
    return MTR_OK;
}

int
caldav_vcard_check(const char *data, size_t len, caldav_vcard_index_t *ix,
                   const char **precond_r, mtr_err_t *err)
{
    vcard_t     vc;
    const char *precond = PRECOND_DATA;
    int         rc = MTR_ERROR;

    memset(ix, 0, sizeof(*ix));
    memset(&vc, 0, sizeof(vc));
    if (data == NULL || len == 0) {
        mtr_err_set(err, "empty vCard");
    } else if (memchr(data, '\0', len) != NULL) {
        mtr_err_set(err, "NUL byte in vCard data");
    } else {
        size_t   i = 0, k;
        uint32_t cp;

        while (i < len
               && (k = caldav_utf8_seq((const unsigned char *) data + i,
                                       len - i, &cp))
                      != 0)
        {
            i += k;
        }
        if (i != len) {
            mtr_err_set(err, "invalid UTF-8 at byte %zu", i);
        } else if (vcard_parse(data, len, &vc, err) == MTR_OK
                   && check_card(&vc, ix, &precond, err) == MTR_OK)
        {
            rc = MTR_OK;
        }
    }
    vcard_free(&vc);
    if (rc != MTR_OK) {
        memset(ix, 0, sizeof(*ix));
        *precond_r = precond;
    }
    return rc;
}

/* ---------------------------------------------------------------- */
/* filters (RFC 6352 10.5)                                            */

/*
 * Walk the parameters of vp: *name_r / *nlen_r the parameter name (NULL
 * for a vCard 2.1 bare value, which stands for TYPE), *val_r / *vlen_r its
 * raw value (comma list, maybe quoted).  pos starts at 0; returns 0 when
 * there are no more.
 */
static int
next_param(const vprop_t *vp, size_t *pos, const char **name_r, size_t *nlen_r,
           const char **val_r, size_t *vlen_r)
{
    const char *p = vp->params, *e = vp->params + vp->params_len;
    const char *s, *eq = NULL;
    int         quoted = 0;

    if (*pos >= vp->params_len) {
        return 0;
    }
    s = p + *pos + 1; /* past the ';' */
    for (p = s; p < e; p++) {
        if (*p == '"') {
            quoted = !quoted;
        } else if (!quoted && *p == ';') {
            break;
        } else if (!quoted && *p == '=' && eq == NULL) {
            eq = p;
        }
    }
    *pos = (size_t) (p - vp->params);
    if (eq == NULL) {
        *name_r = NULL;
        *nlen_r = 0;
        *val_r = s;
        *vlen_r = (size_t) (p - s);
    } else {
        *name_r = s;
        *nlen_r = (size_t) (eq - s);
        *val_r = eq + 1;
        *vlen_r = (size_t) (p - eq - 1);
    }
    return 1;
}

/* One value of a parameter list, quotes and RFC 6868 ^-escapes undone. */
static char *
param_value(const char *s, size_t len, size_t *len_r)
{
    char  *o = malloc(len + 1);
    size_t i, n = 0;

    if (o == NULL) {
        return NULL;
    }
    if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
        s++;
        len -= 2;
    }
    for (i = 0; i < len; i++) {
        if (s[i] == '^' && i + 1 < len
            && (s[i + 1] == 'n' || s[i + 1] == '^' || s[i + 1] == '\''))
        {
            i++;
            o[n++] = s[i] == 'n' ? '\n' : s[i] == '\'' ? '"' : '^';
        } else {
            o[n++] = s[i];
        }
    }
    o[n] = '\0';
    *len_r = n;
    return o;
}

/*
 * Does a parameter's value list match tm (before negation)?  Each comma
 * separated value is tried, inside quotes too (RFC 6350 writes
 * TYPE="voice,home" for two types), and so is the whole unquoted value
 * (for a quoted LABEL holding commas).  -1 when out of memory.
 */
static int
list_match(const caldav_text_match_t *tm, const char *s, size_t len)
{
    size_t i = 0, j, vl, lq, rq;
    int    m;
    char  *v;

    v = param_value(s, len, &vl);
    if (v == NULL) {
        return -1;
    }
    m = caldav_text_match(tm, v, vl);
    free(v);
    while (m == 0 && i <= len) {
        for (j = i; j < len && s[j] != ','; j++) {
        }
        /* a piece keeps a quote at its outer end only: drop it */
        lq = i < j && s[i] == '"';
        rq = j > i + lq && s[j - 1] == '"';
        v = param_value(s + i + lq, j - i - lq - rq, &vl);
        if (v == NULL) {
            return -1;
        }
        m = caldav_text_match(tm, v, vl);
        free(v);
        i = j + 1;
    }
    return m;
}

/* 1, 0 or -1 (out of memory) */
static int
param_filter(const vprop_t *vp, const caldav_param_filter_t *pf)
{
    size_t      pos = 0, nlen, vlen;
    const char *name, *val;
    int         found = 0, m = 0;

    while (m == 0 && next_param(vp, &pos, &name, &nlen, &val, &vlen)) {
        if (name == NULL ? strcasecmp(pf->name, "TYPE") != 0
                         : (nlen != strlen(pf->name)
                            || strncasecmp(name, pf->name, nlen) != 0))
        {
            continue;
        }
        found = 1;
        if (pf->text_match != NULL && !pf->is_not_defined) {
            m = list_match(pf->text_match, val, vlen);
        }
    }
    if (m < 0) {
        return -1;
    }
    if (pf->is_not_defined) {
        return !found;
    }
    if (!found) {
        return 0;
    }
    if (pf->text_match == NULL) {
        return 1;
    }
    return pf->text_match->negate ? !m : m;
}

/* Does one property instance satisfy the prop-filter's tests? */
static int
prop_tests(const vprop_t *vp, const caldav_prop_filter_t *pf)
{
    const caldav_text_match_t   *tm;
    const caldav_param_filter_t *qf;
    int                          any = 0, r;
    char                        *val = NULL;
    size_t                       vl = 0;

    if (pf->text_matches == NULL && pf->param_filters == NULL) {
        return 1;
    }
    for (tm = pf->text_matches; tm != NULL; tm = tm->next) {
        if (val == NULL
            && (val = unescape(vp->value, vp->value_len, &vl)) == NULL) {
            return -1;
        }
        r = caldav_text_match(tm, val, vl);
        if (r < 0) {
            free(val);
            return -1;
        }
        r = tm->negate ? !r : r;
        if (pf->test_allof && !r) {
            free(val);
            return 0;
        }
        any |= r;
    }
    free(val);
    for (qf = pf->param_filters; qf != NULL; qf = qf->next) {
        r = param_filter(vp, qf);
        if (r < 0) {
            return -1;
        }
        if (pf->test_allof && !r) {
            return 0;
        }
        any |= r;
    }
    return pf->test_allof ? 1 : any;
}

static int
prop_filter(const vcard_t *vc, const caldav_prop_filter_t *pf)
{
    size_t i;
    int    found = 0, r;

    for (i = 0; i < vc->n; i++) {
        if (strcasecmp(vc->v[i].name, pf->name) != 0) {
            continue;
        }
        found = 1;
        if (pf->is_not_defined) {
            break;
        }
        r = prop_tests(&vc->v[i], pf);
        if (r != 0) {
            return r;
        }
    }
    return pf->is_not_defined ? !found : 0;
}

int
caldav_vcard_match(const char *data, size_t len,
                   const caldav_card_filter_t *filter, mtr_err_t *err)
{
    const caldav_prop_filter_t *pf;
    vcard_t                     vc;
    int                         r = 0;

    if (filter == NULL || filter->prop_filters == NULL) {
        return 1; /* an empty filter matches every card */
    }
    if (vcard_parse(data, len, &vc, err) != MTR_OK) {
        vcard_free(&vc);
        return MTR_ERROR;
    }
    r = filter->test_allof ? 1 : 0;
    for (pf = filter->prop_filters; pf != NULL; pf = pf->next) {
        int m = prop_filter(&vc, pf);

        if (m < 0) {
            r = mtr_err_set(err, "out of memory");
            break;
        }
        if (filter->test_allof && !m) {
            r = 0;
            break;
        }
        if (!filter->test_allof && m) {
            r = 1;
            break;
        }
    }
    vcard_free(&vc);
    return r;
}

/* ---------------------------------------------------------------- */
/* building (RFC 6350 3.2 folding, 3.4 escaping)                      */

/* Append value escaped: \\ \, \; and line breaks as \n; other control
 * bytes are dropped (they cannot be carried). */
static int
add_escaped(caldav_buf_t *b, const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char) *s;

        if (ch == '\\' || ch == ',' || ch == ';') {
            caldav_buf_add(b, "\\", 1);
            caldav_buf_add(b, s, 1);
        } else if (ch == '\r') {
            if (s[1] != '\n') {
                caldav_buf_add(b, "\\n", 2);
            }
        } else if (ch == '\n') {
            caldav_buf_add(b, "\\n", 2);
        } else if (!is_ctl(ch) || ch == '\t') {
            caldav_buf_add(b, s, 1);
        }
    }
    return b->failed ? MTR_ERROR : MTR_OK;
}

/* Append one logical line folded at 75 octets, never inside a UTF-8
 * sequence, and its CRLF. */
static int
add_folded(caldav_buf_t *out, const char *s, size_t len)
{
    size_t   i = 0, col = 0, k;
    uint32_t cp;

    while (i < len) {
        k = caldav_utf8_seq((const unsigned char *) s + i, len - i, &cp);
        k = k == 0 ? 1 : k;
        if (col + k > 75) {
            caldav_buf_add(out, "\r\n ", 3);
            col = 1;
        }
        caldav_buf_add(out, s + i, k);
        col += k;
        i += k;
    }
    return caldav_buf_add(out, "\r\n", 2);
}

/* "NAME[;params]:" + escaped values joined by sep, folded into out. */
static int
add_prop(caldav_buf_t *out, caldav_buf_t *line, const char *head,
         const char *const *values, size_t n, char sep)
{
    size_t i;

    line->len = 0;
    caldav_buf_adds(line, head);
    for (i = 0; i < n; i++) {
        if (i > 0) {
            caldav_buf_add(line, &sep, 1);
        }
        if (values[i] != NULL) {
            add_escaped(line, values[i]);
        }
    }
    if (line->failed) {
        out->failed = 1;
        return MTR_ERROR;
    }
    return add_folded(out, line->data, line->len);
}

static int
add_one(caldav_buf_t *out, caldav_buf_t *line, const char *head,
        const char *value)
{
    if (value == NULL || *value == '\0') {
        return MTR_OK;
    }
    return add_prop(out, line, head, &value, 1, ';');
}

static int
add_list(caldav_buf_t *out, caldav_buf_t *line, const char *head,
         const char *const *values)
{
    for (; values != NULL && *values != NULL; values++) {
        add_one(out, line, head, *values);
    }
    return out->failed ? MTR_ERROR : MTR_OK;
}

int
caldav_vcard_build(const caldav_vcard_fields_t *f, caldav_buf_t *out)
{
    caldav_buf_t line;
    const char  *n[5];

    if (f == NULL || f->uid == NULL || *f->uid == '\0' || f->fn == NULL) {
        return MTR_ERROR;
    }
    caldav_buf_init(&line);
    caldav_buf_adds(out, "BEGIN:VCARD\r\nVERSION:3.0\r\n"
                         "PRODID:-//Mortar//Directory//EN\r\n");
    add_prop(out, &line, "UID:", &f->uid, 1, ';');
    add_prop(out, &line, "FN:", &f->fn, 1, ';');
    /* N is required in 3.0: family;given;additional;prefixes;suffixes */
    n[0] = f->family;
    n[1] = f->given;
    n[2] = n[3] = n[4] = NULL;
    add_prop(out, &line, "N:", n, 5, ';');
    add_one(out, &line, "ORG:", f->org);
    add_one(out, &line, "TITLE:", f->title);
    add_list(out, &line, "EMAIL;TYPE=INTERNET:", f->emails);
    add_list(out, &line, "TEL;TYPE=WORK,VOICE:", f->phones);
    add_list(out, &line, "TEL;TYPE=CELL:", f->mobiles);
    add_one(out, &line, "REV:", f->rev);
    caldav_buf_adds(out, "END:VCARD\r\n");
    caldav_buf_free(&line);
    return out->failed ? MTR_ERROR : MTR_OK;
}
