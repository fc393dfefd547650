/*
 * test_mfilter_policy.c -- unit tests of milter_filter/mfilter_policy.c.
 *
 * Table-driven, every case named and printed before its assertions:
 * score parsing and formatting, directory values, settings resolution,
 * the multi-recipient merge (strictest wins, allow lists per recipient),
 * allow/block list matching, and mfilter_decide() for every scanner
 * outcome and fail mode (never a clean stamp without a scan).
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mfilter_policy.h"

typedef struct {
    const char *name;
    const char *in;
    int         rc;
    int32_t     value;
} score_case_t;

static const score_case_t score_cases[] = {
    { "integer", "5", MTR_OK, 5000 },
    { "one decimal", "5.0", MTR_OK, 5000 },
    { "three decimals", "12.345", MTR_OK, 12345 },
    { "extra decimals dropped", "1.23456", MTR_OK, 1234 },
    { "negative", "-0.5", MTR_OK, -500 },
    { "gtube", "1000.0", MTR_OK, 1000000 },
    { "at limit", "1000", MTR_OK, 1000000 },
    { "over limit", "1000.1", MTR_ERROR, 0 },
    { "empty", "", MTR_ERROR, 0 },
    { "lone minus", "-", MTR_ERROR, 0 },
    { "dot only", ".5", MTR_ERROR, 0 },
    { "trailing dot", "5.", MTR_ERROR, 0 },
    { "garbage", "5x", MTR_ERROR, 0 },
    { "space", " 5", MTR_ERROR, 0 },
    { "plus", "+5", MTR_ERROR, 0 },
    { "huge", "99999999999999999999", MTR_ERROR, 0 },
};

static void
test_parse_score(void **state)
{
    size_t    i;
    int32_t   v;
    mtr_err_t err;

    (void) state;
    for (i = 0; i < sizeof(score_cases) / sizeof(score_cases[0]); i++) {
        const score_case_t *c = &score_cases[i];

        printf("  case: %s\n", c->name);
        v = 0;
        assert_int_equal(mfilter_parse_score(c->in, strlen(c->in),
                                             MFILTER_THRESHOLD_MAX, &v, &err),
                         c->rc);
        if (c->rc == MTR_OK) {
            assert_int_equal(v, c->value);
        }
    }
}

typedef struct {
    const char *name;
    int32_t     in;
    const char *out;
} fmt_case_t;

static const fmt_case_t fmt_cases[] = {
    { "zero", 0, "0.0" },          { "gtube", 1003300, "1003.3" },
    { "round up", 4950, "5.0" },   { "round down", 4949, "4.9" },
    { "negative", -1500, "-1.5" }, { "tiny negative", -40, "0.0" },
};

static void
test_format_score(void **state)
{
    size_t i;
    char   buf[32];

    (void) state;
    for (i = 0; i < sizeof(fmt_cases) / sizeof(fmt_cases[0]); i++) {
        printf("  case: %s\n", fmt_cases[i].name);
        mfilter_format_score(fmt_cases[i].in, buf, sizeof(buf));
        assert_string_equal(buf, fmt_cases[i].out);
    }
}

typedef struct {
    const char *name;
    const char *virus, *spam, *thr, *action;
    int         rc;
    int         virus_scan, spam_scan;
    int32_t     threshold;
    int         act;
} attrs_case_t;

static const attrs_case_t attrs_cases[] = {
    { "nothing set", NULL, NULL, NULL, NULL, MTR_OK, 0, 0, 0, -1 },
    { "all set", "TRUE", "FALSE", "7.5", "reject", MTR_OK, 1, 0, 7500,
      MFILTER_ACTION_REJECT },
    { "lowercase bool", "true", NULL, NULL, "Quarantine", MTR_OK, 1, 0, 0,
      MFILTER_ACTION_QUARANTINE },
    { "bad bool", "yes", NULL, NULL, NULL, MTR_ERROR, 0, 0, 0, -1 },
    { "bad threshold", NULL, NULL, "high", NULL, MTR_ERROR, 0, 0, 0, -1 },
    { "bad action", NULL, NULL, NULL, "drop", MTR_ERROR, 0, 0, 0, -1 },
};

static void
test_settings_from_attrs(void **state)
{
    size_t             i;
    mfilter_settings_t s;
    mtr_err_t          err;

    (void) state;
    for (i = 0; i < sizeof(attrs_cases) / sizeof(attrs_cases[0]); i++) {
        const attrs_case_t *c = &attrs_cases[i];

        printf("  case: %s\n", c->name);
        assert_int_equal(mfilter_settings_from_attrs(&s, c->virus, c->spam,
                                                     c->thr, c->action, &err),
                         c->rc);
        if (c->rc != MTR_OK) {
            assert_true(strlen(err.msg) > 0);
            continue;
        }
        assert_int_equal(s.has_virus_scan, c->virus != NULL);
        assert_int_equal(s.virus_scan, c->virus_scan);
        assert_int_equal(s.spam_scan, c->spam_scan);
        if (c->thr != NULL) {
            assert_int_equal(s.threshold, c->threshold);
        }
        if (c->act >= 0) {
            assert_int_equal(s.action, c->act);
        }
    }
}

static mfilter_settings_t
defaults(void)
{
    mfilter_settings_t d;

    memset(&d, 0, sizeof(d));
    d.has_virus_scan = d.has_spam_scan = d.has_threshold = d.has_action = 1;
    d.virus_scan = d.spam_scan = 1;
    d.threshold = 5000;
    d.action = MFILTER_ACTION_TAG;
    return d;
}

static void
test_resolve(void **state)
{
    mfilter_settings_t def = defaults(), user, dom, out;

    (void) state;
    printf("  case: user over domain over defaults\n");
    mfilter_settings_from_attrs(&dom, "FALSE", NULL, "3.0", "quarantine", NULL);
    mfilter_settings_from_attrs(&user, NULL, NULL, "8.0", NULL, NULL);
    mfilter_settings_resolve(&out, &user, &dom, &def);
    assert_int_equal(out.virus_scan, 0);
    assert_int_equal(out.spam_scan, 1);
    assert_int_equal(out.threshold, 8000);
    assert_int_equal(out.action, MFILTER_ACTION_QUARANTINE);

    printf("  case: no user, no domain\n");
    mfilter_settings_resolve(&out, NULL, NULL, &def);
    assert_int_equal(out.virus_scan, 1);
    assert_int_equal(out.threshold, 5000);
    assert_int_equal(out.action, MFILTER_ACTION_TAG);
}

/* One recipient for the merge table. */
typedef struct {
    int     spam_scan;
    int32_t thr;
    int     action;
    int     allowed;
} rcpt_t;

typedef struct {
    const char *name;
    rcpt_t      rcpts[3];
    size_t      n;
    int32_t     score;
    int         rc;
    int         action;
    int32_t     required;
} merge_case_t;

static const merge_case_t merge_cases[] = {
    { "one tag recipient, spam",
      { { 1, 5000, MFILTER_ACTION_TAG, 0 } },
      1,
      7000,
      MTR_OK,
      MFILTER_ACTION_TAG,
      5000 },
    { "one recipient, ham",
      { { 1, 5000, MFILTER_ACTION_TAG, 0 } },
      1,
      4999,
      MTR_DECLINED,
      0,
      5000 },
    { "score equal to threshold is spam",
      { { 1, 5000, MFILTER_ACTION_REJECT, 0 } },
      1,
      5000,
      MTR_OK,
      MFILTER_ACTION_REJECT,
      5000 },
    { "strictest action wins",
      { { 1, 5000, MFILTER_ACTION_TAG, 0 },
        { 1, 5000, MFILTER_ACTION_REJECT, 0 },
        { 1, 5000, MFILTER_ACTION_QUARANTINE, 0 } },
      3,
      6000,
      MTR_OK,
      MFILTER_ACTION_REJECT,
      5000 },
    { "strict action below its threshold does not apply",
      { { 1, 5000, MFILTER_ACTION_TAG, 0 },
        { 1, 10000, MFILTER_ACTION_REJECT, 0 } },
      2,
      7000,
      MTR_OK,
      MFILTER_ACTION_TAG,
      5000 },
    { "strict action above its threshold applies",
      { { 1, 5000, MFILTER_ACTION_TAG, 0 },
        { 1, 10000, MFILTER_ACTION_REJECT, 0 } },
      2,
      12000,
      MTR_OK,
      MFILTER_ACTION_REJECT,
      10000 },
    { "recipient without spam scan is ignored",
      { { 0, 1000, MFILTER_ACTION_REJECT, 0 },
        { 1, 5000, MFILTER_ACTION_TAG, 0 } },
      2,
      3000,
      MTR_DECLINED,
      0,
      5000 },
    { "allowed sender exempts that recipient only",
      { { 1, 5000, MFILTER_ACTION_REJECT, 1 },
        { 1, 5000, MFILTER_ACTION_TAG, 0 } },
      2,
      9000,
      MTR_OK,
      MFILTER_ACTION_TAG,
      5000 },
    { "allowed by everyone: nobody treats it as spam",
      { { 1, 5000, MFILTER_ACTION_REJECT, 1 } },
      1,
      9000,
      MTR_DECLINED,
      0,
      INT32_MAX },
    { "negative threshold",
      { { 1, -1000, MFILTER_ACTION_QUARANTINE, 0 } },
      1,
      0,
      MTR_OK,
      MFILTER_ACTION_QUARANTINE,
      -1000 },
};

static void
test_msgpol_merge(void **state)
{
    size_t i, j;

    (void) state;
    for (i = 0; i < sizeof(merge_cases) / sizeof(merge_cases[0]); i++) {
        const merge_case_t *c = &merge_cases[i];
        mfilter_msgpol_t    p;
        mfilter_action_e    act;
        int32_t             req;

        printf("  case: %s\n", c->name);
        mfilter_msgpol_init(&p);
        for (j = 0; j < c->n; j++) {
            mfilter_settings_t s = defaults();

            s.spam_scan = c->rcpts[j].spam_scan;
            s.threshold = c->rcpts[j].thr;
            s.action = (mfilter_action_e) c->rcpts[j].action;
            mfilter_msgpol_add(&p, &s, c->rcpts[j].allowed);
        }
        assert_int_equal(mfilter_msgpol_spam_action(&p, c->score, &act, &req),
                         c->rc);
        if (c->rc == MTR_OK) {
            assert_int_equal(act, c->action);
        }
        assert_int_equal(req, c->required);
    }
}

typedef struct {
    const char *name;
    const char *sender;
    int         match;
} list_case_t;

static const list_case_t list_cases[] = {
    { "exact address", "spammer@bad.test", 1 },
    { "address any case", "Spammer@BAD.test", 1 },
    { "domain entry", "anyone@junk.test", 1 },
    { "domain entry, other domain", "anyone@junk.test.example", 0 },
    { "subdomain is not the domain", "x@sub.junk.test", 0 },
    { "unlisted", "friend@good.test", 0 },
    { "null sender", "", 0 },
    { "no at sign", "junk.test", 0 },
    { "suffix of an address is not it", "xspammer@bad.test", 0 },
};

static void
test_list_match(void **state)
{
    static const char *const entries[] = { "spammer@bad.test", "@junk.test",
                                           "" };
    size_t                   i;

    (void) state;
    for (i = 0; i < sizeof(list_cases) / sizeof(list_cases[0]); i++) {
        printf("  case: %s\n", list_cases[i].name);
        assert_int_equal(mfilter_list_match(list_cases[i].sender,
                                            strlen(list_cases[i].sender),
                                            entries, 3),
                         list_cases[i].match);
    }
}

static void
test_header_safe(void **state)
{
    char buf[16];

    (void) state;
    printf("  case: masks CR LF and spaces\n");
    mfilter_header_safe(buf, sizeof(buf), "A B\r\nC", 6);
    assert_string_equal(buf, "A_B__C");
    printf("  case: visible cut\n");
    mfilter_header_safe(buf, sizeof(buf), "0123456789abcdefghij", 20);
    assert_string_equal(buf, "0123456789ab...");
    printf("  case: own header names\n");
    assert_true(mfilter_is_own_header("x-spam-status", 13));
    assert_true(mfilter_is_own_header("X-Virus-Scanned", 15));
    assert_false(mfilter_is_own_header("X-Spam", 6));
}

/* mfilter_decide: the verdict table. */
typedef struct {
    const char       *name;
    mfilter_scan_e    virus;
    mfilter_scan_e    spam;
    int32_t           score;
    int               action; /* the one recipient's spam action */
    mfilter_modes_t   modes;
    mfilter_verdict_e verdict;
    const char       *rcode;
    const char       *text_has; /* substring of the reply text */
    const char       *headers;  /* names, '|'-separated, in order */
    int               scanned, virus_c, spam_c, tempfail_c;
} decide_case_t;

#define MODES_SAFE                                                             \
    {                                                                          \
        MFILTER_ACTION_REJECT, MFILTER_FAIL_TEMPFAIL, MFILTER_FAIL_TEMPFAIL,   \
            MFILTER_OVERSIZE_REJECT, MFILTER_OVERSIZE_ACCEPT, "mx.test"        \
    }
#define MODES_OPEN                                                             \
    {                                                                          \
        MFILTER_ACTION_QUARANTINE, MFILTER_FAIL_ACCEPT, MFILTER_FAIL_ACCEPT,   \
            MFILTER_OVERSIZE_ACCEPT, MFILTER_OVERSIZE_ACCEPT, "mx.test"        \
    }

static const decide_case_t decide_cases[] = {
    { "clean mail: honest stamps", MFILTER_SCAN_DONE, MFILTER_SCAN_DONE, 1000,
      MFILTER_ACTION_TAG, MODES_SAFE, MFILTER_VERDICT_ACCEPT, NULL, NULL,
      "X-Virus-Scanned|X-Spam-Status|X-Spam-Score|", 1, 0, 0, 0 },
    { "virus rejected and named", MFILTER_SCAN_FOUND, MFILTER_SCAN_DONE, 0,
      MFILTER_ACTION_TAG, MODES_SAFE, MFILTER_VERDICT_REJECT, "550",
      "virus found: Eicar-Test", "", 1, 1, 0, 0 },
    { "virus wins over a dead spamd", MFILTER_SCAN_FOUND, MFILTER_SCAN_FAILED,
      0, MFILTER_ACTION_TAG, MODES_SAFE, MFILTER_VERDICT_REJECT, "550", "Eicar",
      "", 1, 1, 0, 0 },
    { "virus held by setting", MFILTER_SCAN_FOUND, MFILTER_SCAN_SKIPPED, 0,
      MFILTER_ACTION_TAG, MODES_OPEN, MFILTER_VERDICT_QUARANTINE, NULL,
      "virus Eicar", "", 1, 1, 0, 0 },
    { "clamd down: tempfail", MFILTER_SCAN_FAILED, MFILTER_SCAN_DONE, 0,
      MFILTER_ACTION_TAG, MODES_SAFE, MFILTER_VERDICT_TEMPFAIL, "451",
      "Virus scanner unavailable", "", 1, 0, 0, 1 },
    { "clamd down, accept mode: no clean stamp", MFILTER_SCAN_FAILED,
      MFILTER_SCAN_DONE, 0, MFILTER_ACTION_TAG, MODES_OPEN,
      MFILTER_VERDICT_ACCEPT, NULL, NULL,
      "X-Spam-Status|X-Spam-Score|X-Mortar-Not-Scanned|", 1, 0, 0, 0 },
    { "spamd down: tempfail", MFILTER_SCAN_DONE, MFILTER_SCAN_FAILED, 0,
      MFILTER_ACTION_TAG, MODES_SAFE, MFILTER_VERDICT_TEMPFAIL, "451",
      "Spam scanner unavailable", "", 1, 0, 0, 1 },
    { "too big for clamd: reject", MFILTER_SCAN_OVERSIZE, MFILTER_SCAN_SKIPPED,
      0, MFILTER_ACTION_TAG, MODES_SAFE, MFILTER_VERDICT_REJECT, "552",
      "too large", "", 0, 0, 0, 0 },
    { "too big for clamd: accept says so", MFILTER_SCAN_OVERSIZE,
      MFILTER_SCAN_OVERSIZE, 0, MFILTER_ACTION_TAG, MODES_OPEN,
      MFILTER_VERDICT_ACCEPT, NULL, NULL, "X-Mortar-Not-Scanned|", 0, 0, 0, 0 },
    { "too big for spamd only", MFILTER_SCAN_DONE, MFILTER_SCAN_OVERSIZE, 0,
      MFILTER_ACTION_TAG, MODES_SAFE, MFILTER_VERDICT_ACCEPT, NULL, NULL,
      "X-Virus-Scanned|X-Mortar-Not-Scanned|", 1, 0, 0, 0 },
    { "spam tagged", MFILTER_SCAN_DONE, MFILTER_SCAN_DONE, 1000000,
      MFILTER_ACTION_TAG, MODES_SAFE, MFILTER_VERDICT_ACCEPT, NULL, NULL,
      "X-Virus-Scanned|X-Spam-Status|X-Spam-Score|X-Spam-Flag|", 1, 0, 1, 0 },
    { "spam held", MFILTER_SCAN_DONE, MFILTER_SCAN_DONE, 1000000,
      MFILTER_ACTION_QUARANTINE, MODES_SAFE, MFILTER_VERDICT_QUARANTINE, NULL,
      "spam score 1000.0",
      "X-Virus-Scanned|X-Spam-Status|X-Spam-Score|X-Spam-Flag|", 1, 0, 1, 0 },
    { "spam rejected", MFILTER_SCAN_DONE, MFILTER_SCAN_DONE, 1000000,
      MFILTER_ACTION_REJECT, MODES_SAFE, MFILTER_VERDICT_REJECT, "550",
      "rejected as spam", "", 1, 0, 1, 0 },
    { "nothing scanned: nothing stamped", MFILTER_SCAN_SKIPPED,
      MFILTER_SCAN_SKIPPED, 0, MFILTER_ACTION_TAG, MODES_SAFE,
      MFILTER_VERDICT_ACCEPT, NULL, NULL, "", 0, 0, 0, 0 },
};

static void
test_decide(void **state)
{
    size_t i, j;
    char   names[256];

    (void) state;
    for (i = 0; i < sizeof(decide_cases) / sizeof(decide_cases[0]); i++) {
        const decide_case_t  *c = &decide_cases[i];
        mfilter_msgpol_t      p;
        mfilter_settings_t    s = defaults();
        mfilter_scan_report_t rep;
        mfilter_decision_t    d;

        printf("  case: %s\n", c->name);
        mfilter_msgpol_init(&p);
        s.action = (mfilter_action_e) c->action;
        mfilter_msgpol_add(&p, &s, 0);
        memset(&rep, 0, sizeof(rep));
        rep.virus = c->virus;
        snprintf(rep.virus_name, sizeof(rep.virus_name),
                 "Eicar-Test-Signature");
        rep.spam = c->spam;
        rep.score = c->score;
        snprintf(rep.rules, sizeof(rep.rules), "GTUBE");
        rep.spam_engine = "spamd";
        mfilter_decide(&p, &rep, &c->modes, &d);
        assert_int_equal(d.verdict, c->verdict);
        if (c->rcode != NULL) {
            assert_string_equal(d.rcode, c->rcode);
        }
        if (c->text_has != NULL) {
            assert_non_null(strstr(d.text, c->text_has));
        }
        names[0] = '\0';
        for (j = 0; j < d.nheaders; j++) {
            strcat(names, d.headers[j].name);
            strcat(names, "|");
            assert_null(strpbrk(d.headers[j].value, "\r\n"));
        }
        assert_string_equal(names, c->headers);
        assert_int_equal(d.count_scanned, c->scanned);
        assert_int_equal(d.count_virus, c->virus_c);
        assert_int_equal(d.count_spam, c->spam_c);
        assert_int_equal(d.count_tempfail, c->tempfail_c);
    }
}

static void
test_decide_header_text(void **state)
{
    mfilter_msgpol_t      p;
    mfilter_settings_t    s = defaults();
    mfilter_scan_report_t rep;
    mfilter_decision_t    d;
    mfilter_modes_t       m = MODES_SAFE;

    (void) state;
    printf("  case: X-Spam-Status text\n");
    mfilter_msgpol_init(&p);
    mfilter_msgpol_add(&p, &s, 0);
    memset(&rep, 0, sizeof(rep));
    rep.virus = MFILTER_SCAN_DONE;
    rep.spam = MFILTER_SCAN_DONE;
    rep.score = 7250;
    snprintf(rep.rules, sizeof(rep.rules), "A_RULE,B_RULE");
    mfilter_decide(&p, &rep, &m, &d);
    assert_string_equal(d.headers[0].value, "clamd (mortar-milter) on mx.test");
    assert_string_equal(d.headers[1].value,
                        "Yes, score=7.3 required=5.0 tests=A_RULE,B_RULE");
    assert_string_equal(d.headers[2].value, "7.3");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_score),
        cmocka_unit_test(test_format_score),
        cmocka_unit_test(test_settings_from_attrs),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_msgpol_merge),
        cmocka_unit_test(test_list_match),
        cmocka_unit_test(test_header_safe),
        cmocka_unit_test(test_decide),
        cmocka_unit_test(test_decide_header_text),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
