/*
 * test_caldav_vcard.c -- unit tests for caldav_vcard.h (table-driven):
 * validation of vCard 3.0 and 4.0 with the precondition of every
 * rejection, addressbook-query matching (filter and prop-filter
 * anyof/allof, text-match types, collations including i;unicode-casemap,
 * negation, param-filter, is-not-defined, groups, folded and escaped
 * values), and the directory cards: RFC 6350 escaping, folding at 75
 * octets without splitting UTF-8, and a round trip through the checker.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "caldav_vcard.h"

#define CRLF "\r\n"

/* ---- validation --------------------------------------------------------- */

#define CARD3(props)                                                           \
    "BEGIN:VCARD" CRLF "VERSION:3.0" CRLF "FN:Jane Doe" CRLF                   \
    "UID:jane-1" CRLF props "END:VCARD" CRLF

static const char NUL_CARD[] = "BEGIN:VCARD" CRLF "VERSION:3.0" CRLF
                               "FN:J\0ane" CRLF "UID:x" CRLF "END:VCARD" CRLF;

typedef struct {
    const char *name;
    const char *data;
    size_t      len;     /* 0: strlen */
    const char *precond; /* NULL: accepted */
    const char *msg;     /* accepted: the UID; rejected: error substring */
    int         version;
} check_case_t;

static const check_case_t check_cases[] = {
    { "vCard 3.0", CARD3("N:Doe;Jane;;;" CRLF), 0, NULL, "jane-1", 3 },
    { "vCard 4.0",
      "BEGIN:VCARD" CRLF "VERSION:4.0" CRLF "UID:urn:uuid:1" CRLF "FN:X" CRLF
      "END:VCARD" CRLF,
      0, NULL, "urn:uuid:1", 4 },
    { "groups, params, folds, escapes",
      CARD3("item1.EMAIL;TYPE=\"work,pref\":jane@example.org" CRLF
            "item1.X-ABLabel:_$!<Work>!$_" CRLF "NOTE:a\\, b\\nc and a lon" CRLF
            " g folded line" CRLF "PHOTO;ENCODING=b;TYPE=JPEG:AAAA" CRLF),
      0, NULL, "jane-1", 3 },
    { "bare LF, lower case",
      "begin:vcard\nversion:3.0\nfn:x\nuid:lf\n"
      "end:vcard\n",
      0, NULL, "lf", 3 },
    { "byte order mark, no final newline",
      "\xEF\xBB\xBF"
      "BEGIN:VCARD" CRLF "VERSION:4.0" CRLF "FN:x" CRLF "UID:bom" CRLF
      "END:VCARD",
      0, NULL, "bom", 4 },
    { "blank line at the end", CARD3("") CRLF, 0, NULL, "jane-1", 3 },

    { "empty", "", 0, "CR:valid-address-data", "empty", 0 },
    { "not a vCard", "BEGIN:VCALENDAR" CRLF "END:VCALENDAR" CRLF, 0,
      "CR:valid-address-data", "BEGIN:VCARD", 0 },
    { "NUL byte", NUL_CARD, sizeof(NUL_CARD) - 1, "CR:valid-address-data",
      "NUL", 0 },
    { "invalid UTF-8", CARD3("NOTE:caf\xE9" CRLF), 0, "CR:valid-address-data",
      "UTF-8", 0 },
    { "control byte", CARD3("NOTE:a\x02" CRLF), 0, "CR:valid-address-data",
      "control byte", 0 },
    { "line without colon", CARD3("NOTE" CRLF), 0, "CR:valid-address-data",
      "line 5: not a content line", 0 },
    { "bad property name", CARD3("NO TE:x" CRLF), 0, "CR:valid-address-data",
      "bad property name", 0 },
    { "continuation of nothing", " BEGIN:VCARD" CRLF, 0,
      "CR:valid-address-data", "continuation", 0 },
    { "continuation after a blank line", CARD3("NOTE:a" CRLF CRLF " b" CRLF), 0,
      "CR:valid-address-data", "continuation", 0 },
    { "missing END",
      "BEGIN:VCARD" CRLF "VERSION:3.0" CRLF "FN:x" CRLF "UID:y" CRLF, 0,
      "CR:valid-address-data", "missing END:VCARD", 0 },
    { "END of something else",
      "BEGIN:VCARD" CRLF "VERSION:3.0" CRLF "FN:x" CRLF "UID:y" CRLF
      "END:VCALENDAR" CRLF,
      0, "CR:valid-address-data", "does not close", 0 },
    { "two vCards", CARD3("") CARD3(""), 0, "CR:valid-address-data",
      "one vCard per resource", 0 },
    { "nested vCard", CARD3("BEGIN:VCARD" CRLF "END:VCARD" CRLF), 0,
      "CR:valid-address-data", "nested BEGIN", 0 },
    { "no VERSION",
      "BEGIN:VCARD" CRLF "FN:x" CRLF "UID:y" CRLF "END:VCARD" CRLF, 0,
      "CR:valid-address-data", "no VERSION", 0 },
    { "two VERSIONs", CARD3("VERSION:3.0" CRLF), 0, "CR:valid-address-data",
      "more than one VERSION", 0 },
    { "no FN",
      "BEGIN:VCARD" CRLF "VERSION:3.0" CRLF "UID:y" CRLF "END:VCARD" CRLF, 0,
      "CR:valid-address-data", "no FN", 0 },
    { "no UID",
      "BEGIN:VCARD" CRLF "VERSION:3.0" CRLF "FN:x" CRLF "END:VCARD" CRLF, 0,
      "CR:valid-address-data", "no UID", 0 },
    { "two UIDs", CARD3("UID:jane-2" CRLF), 0, "CR:valid-address-data",
      "more than one UID", 0 },
    { "vCard 2.1",
      "BEGIN:VCARD" CRLF "VERSION:2.1" CRLF "FN:x" CRLF "UID:y" CRLF
      "END:VCARD" CRLF,
      0, "CR:supported-address-data", "version 2.1 is not supported", 0 },
};

static void
test_check(void **state)
{
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(check_cases) / sizeof(check_cases[0]); i++) {
        const check_case_t  *t = &check_cases[i];
        caldav_vcard_index_t ix;
        const char          *pc = NULL;
        mtr_err_t            err;
        int                  rc;

        print_message("case: check: %s\n", t->name);
        mtr_err_clear(&err);
        rc = caldav_vcard_check(t->data, t->len ? t->len : strlen(t->data), &ix,
                                &pc, &err);
        if (t->precond == NULL) {
            if (rc != MTR_OK) {
                print_message("  unexpected error: %s\n", err.msg);
            }
            assert_int_equal(rc, MTR_OK);
            assert_string_equal(ix.uid, t->msg);
            assert_int_equal(ix.version, t->version);
            continue;
        }
        assert_int_equal(rc, MTR_ERROR);
        assert_non_null(pc);
        assert_string_equal(pc, t->precond);
        if (strstr(err.msg, t->msg) == NULL) {
            print_message("  error was: %s\n", err.msg);
        }
        assert_non_null(strstr(err.msg, t->msg));
    }
}

static void
test_check_caps(void **state)
{
    caldav_vcard_index_t ix;
    const char          *pc = NULL;
    mtr_err_t            err;
    char                *big;
    size_t               n;

    (void) state;
    print_message("case: check: larger than CALDAV_VCARD_MAX_SIZE\n");
    n = CALDAV_VCARD_MAX_SIZE + 64;
    big = malloc(n);
    assert_non_null(big);
    memset(big, 'A', n);
    memcpy(big, "BEGIN:VCARD\r\nNOTE:", 18);
    assert_int_equal(caldav_vcard_check(big, n, &ix, &pc, &err), MTR_ERROR);
    assert_string_equal(pc, "CR:valid-address-data");
    assert_non_null(strstr(err.msg, "larger than"));

    print_message("case: check: UID too long\n");
    n = (size_t) snprintf(big, CALDAV_VCARD_MAX_SIZE,
                          "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:x\r\nUID:");
    memset(big + n, 'u', 600);
    n += 600;
    n += (size_t) snprintf(big + n, 64, "\r\nEND:VCARD\r\n");
    assert_int_equal(caldav_vcard_check(big, n, &ix, &pc, &err), MTR_ERROR);
    assert_non_null(strstr(err.msg, "UID"));
    free(big);
}

/* ---- matching ------------------------------------------------------------ */

static const char JANE[] =
    "BEGIN:VCARD" CRLF "VERSION:3.0" CRLF "UID:jane-1" CRLF "FN:Jane Doe" CRLF
    "N:Doe;Jane;;;" CRLF "EMAIL;TYPE=INTERNET;TYPE=work:jane@example.org" CRLF
    "item2.EMAIL;TYPE=\"home,pref\":jd@home.example" CRLF
    "item2.X-ABLabel:private" CRLF "TEL;TYPE=cell:+1 555 0100" CRLF
    "TEL;WORK;VOICE:+1 555 0199" CRLF "ORG:Acme\\, Inc.;Sales" CRLF
    "NOTE:first line\\nsecond line with a very long text that is fol" CRLF
    " ded here" CRLF "END:VCARD" CRLF;

static const char JURGEN[] =
    "BEGIN:VCARD" CRLF "VERSION:4.0" CRLF "UID:urn:uuid:j" CRLF
    "FN:J\xC3\xBCrgen M\xC3\xBCller-Stra\xC3\x9F"
    "e" CRLF "EMAIL;PREF=1:juergen@example.de" CRLF "END:VCARD" CRLF;

#define UC CALDAV_COLLATION_UNICODE_CASEMAP
#define CI CALDAV_COLLATION_ASCII_CASEMAP
#define OC CALDAV_COLLATION_OCTET
#define CO CALDAV_MATCH_CONTAINS
#define EQ CALDAV_MATCH_EQUALS
#define SW CALDAV_MATCH_STARTS_WITH
#define EW CALDAV_MATCH_ENDS_WITH

/* One prop-filter with up to two text-matches and one param-filter. */
typedef struct {
    const char        *prop;
    int                undef, allof;
    const char        *t1;
    caldav_match_e     m1;
    caldav_collation_e c1;
    int                n1;
    const char        *t2;
    caldav_match_e     m2;
    const char        *param;
    int                pundef;
    const char        *ptext;
    caldav_match_e     pm;
} pf_spec_t;

typedef struct {
    const char *name;
    const char *data;
    int         allof;
    pf_spec_t   pf[2]; /* prop NULL: unused */
    int         want;
} match_case_t;

/* prop-filter shapes, designated so that unused fields stay zero */
#define TM(p, t, m, c)                                                         \
    {                                                                          \
        .prop = (p), .t1 = (t), .m1 = (m), .c1 = (c)                           \
    }
#define TMN(p, t, m, c)                                                        \
    {                                                                          \
        .prop = (p), .t1 = (t), .m1 = (m), .c1 = (c), .n1 = 1                  \
    }
#define TM2(p, all, t, m, u, n)                                                \
    {                                                                          \
        .prop = (p), .allof = (all), .t1 = (t), .m1 = (m), .c1 = UC,           \
        .t2 = (u), .m2 = (n)                                                   \
    }
#define DEF(p)                                                                 \
    {                                                                          \
        .prop = (p)                                                            \
    }
#define UNDEF(p)                                                               \
    {                                                                          \
        .prop = (p), .undef = 1                                                \
    }
#define PARAM(p, q, t, m)                                                      \
    {                                                                          \
        .prop = (p), .param = (q), .ptext = (t), .pm = (m)                     \
    }
#define PUNDEF(p, q)                                                           \
    {                                                                          \
        .prop = (p), .param = (q), .pundef = 1                                 \
    }
#define BOTH(p, all, t, q, pt)                                                 \
    {                                                                          \
        .prop = (p), .allof = (all), .t1 = (t), .m1 = CO, .c1 = UC,            \
        .param = (q), .ptext = (pt), .pm = EQ                                  \
    }

static const match_case_t match_cases[] = {
    { "FN contains", JANE, 0, { TM("FN", "jane", CO, UC) }, 1 },
    { "FN contains, octet, wrong case",
      JANE,
      0,
      { TM("FN", "jane", CO, OC) },
      0 },
    { "FN equals", JANE, 0, { TM("FN", "JANE DOE", EQ, UC) }, 1 },
    { "FN equals is not contains", JANE, 0, { TM("FN", "jane", EQ, UC) }, 0 },
    { "N starts-with", JANE, 0, { TM("N", "doe;", SW, UC) }, 1 },
    { "EMAIL ends-with", JANE, 0, { TM("EMAIL", "@EXAMPLE.ORG", EW, CI) }, 1 },
    { "grouped EMAIL", JANE, 0, { TM("EMAIL", "jd@home", SW, UC) }, 1 },
    { "negated: a second EMAIL lacks it",
      JANE,
      0,
      { TMN("EMAIL", "jane", CO, UC) },
      1 },
    { "negated: every FN has it", JANE, 0, { TMN("FN", "jane", CO, UC) }, 0 },
    { "escaped comma", JANE, 0, { TM("ORG", "acme, inc.;sales", EQ, UC) }, 1 },
    { "escaped newline, folded",
      JANE,
      0,
      { TM("NOTE", "line\nsecond", CO, UC) },
      1 },
    { "folded text joined", JANE, 0, { TM("NOTE", "folded here", EW, UC) }, 1 },
    { "unicode-casemap umlaut",
      JURGEN,
      0,
      { TM("FN", "J\xC3\x9CRGEN", SW, UC) },
      1 },
    { "unicode-casemap sharp s",
      JURGEN,
      0,
      { TM("FN", "STRASSE", EW, UC) },
      1 },
    { "ascii-casemap leaves the umlaut",
      JURGEN,
      0,
      { TM("FN", "J\xC3\x9CRGEN", SW, CI) },
      0 },
    { "defined", JANE, 0, { DEF("TEL") }, 1 },
    { "not defined", JANE, 0, { UNDEF("BDAY") }, 1 },
    { "not defined, but is", JANE, 0, { UNDEF("FN") }, 0 },
    { "missing property", JURGEN, 0, { TM("TEL", "5", CO, UC) }, 0 },
    { "param TYPE equals", JANE, 0, { PARAM("EMAIL", "TYPE", "WORK", EQ) }, 1 },
    { "param TYPE in a quoted list",
      JANE,
      0,
      { PARAM("EMAIL", "TYPE", "pref", EQ) },
      1 },
    { "param TYPE absent value",
      JANE,
      0,
      { PARAM("EMAIL", "TYPE", "fax", EQ) },
      0 },
    { "vCard 2.1 bare TYPE",
      JANE,
      0,
      { PARAM("TEL", "TYPE", "voice", EQ) },
      1 },
    { "param not defined", JANE, 0, { PUNDEF("FN", "LANGUAGE") }, 1 },
    { "param not defined, but is", JURGEN, 0, { PUNDEF("EMAIL", "PREF") }, 0 },
    { "param defined", JURGEN, 0, { PARAM("EMAIL", "PREF", NULL, CO) }, 1 },
    { "prop anyof: text or param",
      JANE,
      0,
      { BOTH("EMAIL", 0, "jane", "TYPE", "home") },
      1 },
    { "prop allof: same EMAIL needs both",
      JANE,
      0,
      { BOTH("EMAIL", 1, "jane", "TYPE", "home") },
      0 },
    { "prop allof: both on one EMAIL",
      JANE,
      0,
      { BOTH("EMAIL", 1, "jane", "TYPE", "work") },
      1 },
    { "prop allof: two text-matches",
      JANE,
      0,
      { TM2("FN", 1, "jane", SW, "doe", EW) },
      1 },
    { "prop allof: second text-match fails",
      JANE,
      0,
      { TM2("FN", 1, "jane", SW, "smith", EW) },
      0 },
    { "prop anyof: second text-match suffices",
      JANE,
      0,
      { TM2("FN", 0, "smith", SW, "doe", EW) },
      1 },
    { "filter anyof",
      JANE,
      0,
      { TM("FN", "nobody", CO, UC), TM("EMAIL", "jane", CO, UC) },
      1 },
    { "filter allof",
      JANE,
      1,
      { TM("FN", "nobody", CO, UC), TM("EMAIL", "jane", CO, UC) },
      0 },
    { "filter allof, both",
      JANE,
      1,
      { TM("FN", "doe", CO, UC), TM("EMAIL", "jane", CO, UC) },
      1 },
    { "filter anyof, none",
      JURGEN,
      0,
      { TM("FN", "jane", CO, UC), DEF("TEL") },
      0 },
};

static void
spec_to_filter(const pf_spec_t *s, caldav_prop_filter_t *pf,
               caldav_text_match_t *tm, caldav_param_filter_t *qf,
               caldav_text_match_t *qtm)
{
    memset(pf, 0, sizeof(*pf));
    memset(tm, 0, 2 * sizeof(*tm));
    memset(qf, 0, sizeof(*qf));
    memset(qtm, 0, sizeof(*qtm));
    pf->name = (char *) s->prop;
    pf->is_not_defined = s->undef;
    pf->test_allof = s->allof;
    if (s->t1 != NULL) {
        tm[0].text = (char *) s->t1;
        tm[0].match = s->m1;
        tm[0].collation = s->c1;
        tm[0].negate = s->n1;
        pf->text_matches = &tm[0];
    }
    if (s->t2 != NULL) {
        tm[1].text = (char *) s->t2;
        tm[1].match = s->m2;
        tm[1].collation = s->c1;
        tm[0].next = &tm[1];
    }
    if (s->param != NULL) {
        qf->name = (char *) s->param;
        qf->is_not_defined = s->pundef;
        if (s->ptext != NULL) {
            qtm->text = (char *) s->ptext;
            qtm->match = s->pm;
            qtm->collation = UC;
            qf->text_match = qtm;
        }
        pf->param_filters = qf;
    }
}

static void
test_match(void **state)
{
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
        const match_case_t   *t = &match_cases[i];
        caldav_card_filter_t  f;
        caldav_prop_filter_t  pf[2];
        caldav_text_match_t   tm[2][2], qtm[2];
        caldav_param_filter_t qf[2];
        mtr_err_t             err;
        size_t                k;

        print_message("case: match: %s\n", t->name);
        memset(&f, 0, sizeof(f));
        f.test_allof = t->allof;
        for (k = 0; k < 2 && t->pf[k].prop != NULL; k++) {
            spec_to_filter(&t->pf[k], &pf[k], tm[k], &qf[k], &qtm[k]);
            if (k > 0) {
                pf[k - 1].next = &pf[k];
            }
        }
        f.prop_filters = &pf[0];
        assert_int_equal(caldav_vcard_match(t->data, strlen(t->data), &f, &err),
                         t->want);
    }
}

static void
test_match_misc(void **state)
{
    caldav_card_filter_t f;
    caldav_prop_filter_t pf;
    mtr_err_t            err;

    (void) state;
    print_message("case: match: no filter\n");
    assert_int_equal(caldav_vcard_match(JANE, strlen(JANE), NULL, &err), 1);
    print_message("case: match: empty filter\n");
    memset(&f, 0, sizeof(f));
    assert_int_equal(caldav_vcard_match(JANE, strlen(JANE), &f, &err), 1);
    print_message("case: match: unparseable stored data\n");
    memset(&pf, 0, sizeof(pf));
    pf.name = "FN";
    f.prop_filters = &pf;
    mtr_err_clear(&err);
    assert_int_equal(caldav_vcard_match("BEGIN:VCARD\r\nFN\r\n", 17, &f, &err),
                     MTR_ERROR);
    assert_true(err.msg[0] != '\0');
}

/* ---- building ----------------------------------------------------------- */

static char *
build(const caldav_vcard_fields_t *f)
{
    caldav_buf_t b;
    char        *s;

    caldav_buf_init(&b);
    assert_int_equal(caldav_vcard_build(f, &b), MTR_OK);
    s = caldav_buf_steal(&b, NULL);
    assert_non_null(s);
    return s;
}

/* Every physical line at most 75 octets, no continuation starting inside
 * a UTF-8 sequence; returns the unfolded text (malloc'ed). */
static char *
check_folding(const char *s)
{
    char       *u = malloc(strlen(s) + 1);
    const char *l = s, *e;
    size_t      n = 0;

    assert_non_null(u);
    while ((e = strstr(l, "\r\n")) != NULL) {
        assert_true(e - l <= 75);
        if (*l == ' ') {
            assert_true(((unsigned char) l[1] & 0xC0) != 0x80);
            l++;
            if (n >= 2 && u[n - 1] == '\n') {
                n -= 2; /* join with the previous line */
            }
        }
        memcpy(u + n, l, (size_t) (e - l));
        n += (size_t) (e - l);
        u[n++] = '\r';
        u[n++] = '\n';
        l = e + 2;
    }
    assert_int_equal(*l, '\0');
    u[n] = '\0';
    return u;
}

static void
test_build(void **state)
{
    caldav_vcard_fields_t f;
    const char *const emails[] = { "alice@example.org", "a@example.org", NULL };
    const char *const phones[] = { "+49 30 1234", NULL };
    const char *const mobiles[] = { "+49 170 5678", NULL };
    char              title[600], org[700], *s, *u;
    caldav_vcard_index_t ix;
    const char          *pc;
    mtr_err_t            err;
    size_t               i;

    (void) state;
    print_message("case: build: a full card\n");
    memset(&f, 0, sizeof(f));
    f.uid = "alice@example.org";
    f.fn = "Alice Example";
    f.family = "Example";
    f.given = "Alice";
    f.org = "Acme";
    f.title = "Engineer";
    f.emails = emails;
    f.phones = phones;
    f.mobiles = mobiles;
    f.rev = "20261128T120000Z";
    s = build(&f);
    assert_string_equal(s, "BEGIN:VCARD\r\n"
                           "VERSION:3.0\r\n"
                           "PRODID:-//Mortar//Directory//EN\r\n"
                           "UID:alice@example.org\r\n"
                           "FN:Alice Example\r\n"
                           "N:Example;Alice;;;\r\n"
                           "ORG:Acme\r\n"
                           "TITLE:Engineer\r\n"
                           "EMAIL;TYPE=INTERNET:alice@example.org\r\n"
                           "EMAIL;TYPE=INTERNET:a@example.org\r\n"
                           "TEL;TYPE=WORK,VOICE:+49 30 1234\r\n"
                           "TEL;TYPE=CELL:+49 170 5678\r\n"
                           "REV:20261128T120000Z\r\n"
                           "END:VCARD\r\n");
    assert_int_equal(caldav_vcard_check(s, strlen(s), &ix, &pc, &err), MTR_OK);
    assert_string_equal(ix.uid, "alice@example.org");
    assert_int_equal(ix.version, 3);
    free(s);

    print_message("case: build: minimal card\n");
    memset(&f, 0, sizeof(f));
    f.uid = "u";
    f.fn = "F";
    s = build(&f);
    assert_string_equal(s, "BEGIN:VCARD\r\nVERSION:3.0\r\n"
                           "PRODID:-//Mortar//Directory//EN\r\n"
                           "UID:u\r\nFN:F\r\nN:;;;;\r\nEND:VCARD\r\n");
    free(s);

    print_message("case: build: escaping\n");
    memset(&f, 0, sizeof(f));
    f.uid = "u;1";
    f.fn = "Doe, John; Jr. \\ two\r\nlines\nthree\x01";
    f.family = "Doe;Smith";
    f.given = "John,Paul";
    f.org = "A;B";
    s = build(&f);
    assert_non_null(strstr(s, "\r\nUID:u\\;1\r\n"));
    assert_non_null(
        strstr(s, "\r\nFN:Doe\\, John\\; Jr. \\\\ two\\nlines\\nthree\r\n"));
    assert_non_null(strstr(s, "\r\nN:Doe\\;Smith;John\\,Paul;;;\r\n"));
    assert_non_null(strstr(s, "\r\nORG:A\\;B\r\n"));
    {
        /* and the matcher reads the original back */
        caldav_card_filter_t cf;
        caldav_prop_filter_t pf;
        caldav_text_match_t  tm;

        memset(&cf, 0, sizeof(cf));
        memset(&pf, 0, sizeof(pf));
        memset(&tm, 0, sizeof(tm));
        tm.text = "Doe, John; Jr. \\ two\nlines\nthree";
        tm.match = EQ;
        tm.collation = OC;
        pf.name = "FN";
        pf.text_matches = &tm;
        cf.prop_filters = &pf;
        assert_int_equal(caldav_vcard_match(s, strlen(s), &cf, &err), 1);
    }
    free(s);

    print_message("case: build: folding at 75 octets, UTF-8 intact\n");
    memset(&f, 0, sizeof(f));
    f.uid = "fold";
    f.fn = "F";
    /* two-octet characters at even and at odd columns, so that a fold
     * point falls inside a character once in each field */
    for (i = 0; i + 2 < 400; i += 2) {
        memcpy(title + i, "\xC3\xBC", 2); /* u-umlaut */
    }
    title[i] = '\0';
    f.title = title;
    snprintf(org, sizeof(org), "x%s", title);
    f.org = org;
    s = build(&f);
    u = check_folding(s);
    assert_non_null(strstr(s, "\r\n "));
    {
        char want[800];

        snprintf(want, sizeof(want), "\r\nTITLE:%s\r\n", title);
        assert_non_null(strstr(u, want));
        snprintf(want, sizeof(want), "\r\nORG:%s\r\n", org);
        assert_non_null(strstr(u, want));
    }
    assert_int_equal(caldav_vcard_check(s, strlen(s), &ix, &pc, &err), MTR_OK);
    free(u);
    free(s);

    print_message("case: build: missing UID or FN\n");
    {
        caldav_buf_t b;

        caldav_buf_init(&b);
        memset(&f, 0, sizeof(f));
        f.fn = "x";
        assert_int_equal(caldav_vcard_build(&f, &b), MTR_ERROR);
        f.uid = "x";
        f.fn = NULL;
        assert_int_equal(caldav_vcard_build(&f, &b), MTR_ERROR);
        assert_int_equal(caldav_vcard_build(NULL, &b), MTR_ERROR);
        caldav_buf_free(&b);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check), cmocka_unit_test(test_check_caps),
        cmocka_unit_test(test_match), cmocka_unit_test(test_match_misc),
        cmocka_unit_test(test_build),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
