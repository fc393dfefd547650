/*
 * test_lic_policy.c -- unit tests of licensing/lic_policy.c (what a license
 * allows at a given time).
 *
 * Table-driven: every case has a name, printed before its assertions; the
 * time is always a parameter.  Covers the states at their boundaries (the
 * exact not_before, 30-days-left, not_after and grace-end seconds), days
 * left rounding, warn levels 30/7/1, saturation at the int64 ends,
 * lic_check_key (other deployment, not yet valid, expired, in grace),
 * lic_admin_change_allowed (no key, grace, after grace with the exact
 * message naming id, customer and dates), lic_status_text and the clock
 * rollback check.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* The Makefile adds no -I for module dirs: reach the core header directly. */
#include "../../licensing/lic_policy.h"

#define DEPLOYMENT "0f8e4c2a-1b2c-4d5e-8f90-123456789abc"
#define OTHER_DEP  "11111111-2222-4333-8444-555555555555"

#define DAY INT64_C(86400)
/* 2026-01-01, 2026-10-01 and 2026-10-31 (UTC midnights), computed outside
 * C; 2026-10-31 is 2026-10-01 plus the 30 grace days. */
#define NB INT64_C(1767225600)
#define NA INT64_C(1790812800)
#define GE INT64_C(1793404800)

static lic_t
make_lic(uint32_t grace_days)
{
    lic_t l;

    memset(&l, 0, sizeof(l));
    strcpy(l.id, "L-2026-001");
    strcpy(l.customer, "ACME");
    strcpy(l.deployment, DEPLOYMENT);
    l.seats = 50;
    l.not_before = NB;
    l.not_after = NA;
    l.issued = NB - 10 * DAY;
    l.grace_days = grace_days;
    l.plan = LIC_PLAN_ENTERPRISE;
    l.support = LIC_SUPPORT_PRIORITY;
    return l;
}

static void
expect_msg(const char *name, const char *msg, const char *want)
{
    if (want != NULL && strstr(msg, want) == NULL) {
        print_message("  %s: message was \"%s\", expected \"%s\"\n", name, msg,
                      want);
        fail();
    }
}

typedef struct {
    const char *name;
    int64_t     now;
    uint32_t    grace;
    lic_state_e state;
    int         days;
} state_case_t;

static const state_case_t state_cases[] = {
    { "10 days before not_before", NB - 10 * DAY, 30, LIC_NOT_YET_VALID, 10 },
    { "1 s before not_before", NB - 1, 30, LIC_NOT_YET_VALID, 1 },
    { "exact not_before", NB, 30, LIC_VALID, 273 },
    { "31 days left", NA - 31 * DAY, 30, LIC_VALID, 31 },
    { "30 days and 1 s left", NA - 30 * DAY - 1, 30, LIC_VALID, 31 },
    { "exactly 30 days left", NA - 30 * DAY, 30, LIC_EXPIRING, 30 },
    { "7 days left", NA - 7 * DAY, 30, LIC_EXPIRING, 7 },
    { "6 days 23 h left", NA - 7 * DAY + 3600, 30, LIC_EXPIRING, 7 },
    { "1 day left", NA - DAY, 30, LIC_EXPIRING, 1 },
    { "1 s left", NA - 1, 30, LIC_EXPIRING, 1 },
    { "exact not_after second", NA, 30, LIC_GRACE, 30 },
    { "1 s into grace", NA + 1, 30, LIC_GRACE, 30 },
    { "1 day into grace", NA + DAY, 30, LIC_GRACE, 29 },
    { "1 s before grace end", GE - 1, 30, LIC_GRACE, 1 },
    { "exact grace end", GE, 30, LIC_EXPIRED, 0 },
    { "a year after", GE + 365 * DAY, 30, LIC_EXPIRED, 0 },
    { "grace 0: 1 s left", NA - 1, 0, LIC_EXPIRING, 1 },
    { "grace 0: exact not_after", NA, 0, LIC_EXPIRED, 0 },
    { "grace 365: day 364", NA + 364 * DAY, 365, LIC_GRACE, 1 },
    { "now at INT64_MIN", INT64_MIN, 30, LIC_NOT_YET_VALID, INT_MAX },
    { "now at INT64_MAX", INT64_MAX, 30, LIC_EXPIRED, 0 },
};

static void
test_states(void **state)
{
    lic_t  l;
    size_t i;
    int    days;

    (void) state;

    for (i = 0; i < sizeof(state_cases) / sizeof(state_cases[0]); i++) {
        const state_case_t *c = &state_cases[i];

        print_message("state: %s\n", c->name);
        l = make_lic(c->grace);
        days = -42;
        assert_int_equal(lic_state(&l, c->now, &days), c->state);
        assert_int_equal(days, c->days);
        assert_int_equal(lic_state(&l, c->now, NULL), c->state);
    }

    print_message("state: not_after near INT64_MAX saturates the grace\n");
    l = make_lic(365);
    l.not_after = INT64_MAX - 10;
    assert_int_equal(lic_state(&l, INT64_MAX - 5, &days), LIC_GRACE);
    assert_int_equal(days, 1);

    print_message("state: NULL license is expired\n");
    assert_int_equal(lic_state(NULL, NA, &days), LIC_EXPIRED);

    print_message("state: names\n");
    assert_string_equal(lic_state_name(LIC_GRACE), "grace");
    assert_string_equal(lic_state_name(LIC_NOT_YET_VALID), "not yet valid");
    assert_string_equal(lic_state_name((lic_state_e) 99), "unknown");
}

typedef struct {
    const char *name;
    int         days;
    int         level;
} warn_case_t;

static const warn_case_t warn_cases[] = {
    { "100 days", 100, 0 }, { "31 days", 31, 0 }, { "30 days", 30, 30 },
    { "8 days", 8, 30 },    { "7 days", 7, 7 },   { "2 days", 2, 7 },
    { "1 day", 1, 1 },      { "0 days", 0, 1 },   { "negative", -5, 1 },
};

static void
test_warn_levels(void **state)
{
    size_t i;

    (void) state;

    for (i = 0; i < sizeof(warn_cases) / sizeof(warn_cases[0]); i++) {
        print_message("warn: %s\n", warn_cases[i].name);
        assert_int_equal(lic_warn_level(warn_cases[i].days),
                         warn_cases[i].level);
    }
}

typedef struct {
    const char *name;
    const char *deployment;
    int64_t     now;
    int         rc;
    const char *want;
} check_case_t;

static const check_case_t check_cases[] = {
    { "own deployment, valid", DEPLOYMENT, NB + DAY, MTR_OK, NULL },
    { "own deployment, at not_before", DEPLOYMENT, NB, MTR_OK, NULL },
    { "own deployment, in grace", DEPLOYMENT, NA + DAY, MTR_OK, NULL },
    { "another deployment", OTHER_DEP, NB + DAY, MTR_DECLINED,
      "license L-2026-001 is bound to deployment " DEPLOYMENT
      ", not to this deployment " OTHER_DEP },
    { "another deployment, also expired", OTHER_DEP, GE, MTR_DECLINED,
      "bound to deployment" },
    { "not yet valid", DEPLOYMENT, NB - 1, MTR_DECLINED,
      "license L-2026-001 is not valid before 2026-01-01" },
    { "expired past grace", DEPLOYMENT, GE, MTR_DECLINED,
      "expired on 2026-10-01 and its grace period ended 2026-10-31" },
    { "upper-case deployment id", "0F8E4C2A-1B2C-4D5E-8F90-123456789ABC",
      NB + DAY, MTR_ERROR, "not a lowercase UUID" },
    { "empty deployment id", "", NB + DAY, MTR_ERROR, "not a lowercase UUID" },
};

static void
test_check_key(void **state)
{
    lic_t     l = make_lic(30);
    mtr_err_t err;
    size_t    i;
    int       rc;

    (void) state;

    for (i = 0; i < sizeof(check_cases) / sizeof(check_cases[0]); i++) {
        const check_case_t *c = &check_cases[i];

        print_message("check_key: %s\n", c->name);
        strcpy(err.msg, "stale");
        rc = lic_check_key(&l, c->deployment, c->now, &err);
        if (rc != c->rc) {
            print_message("  message: %s\n", err.msg);
        }
        assert_int_equal(rc, c->rc);
        if (rc == MTR_OK) {
            assert_string_equal(err.msg, "");
        } else {
            expect_msg(c->name, err.msg, c->want);
        }
    }

    print_message("check_key: NULL arguments\n");
    assert_int_equal(lic_check_key(NULL, DEPLOYMENT, NB, &err), MTR_ERROR);
    assert_int_equal(lic_check_key(&l, NULL, NB, &err), MTR_ERROR);
}

#define EXPIRED_MSG                                                            \
    "license L-2026-001 (ACME) expired on 2026-10-01, grace ended "            \
    "2026-10-31: administrative changes are refused until a renewed key is "   \
    "installed; reads stay allowed"

typedef struct {
    const char *name;
    int         no_key;
    uint32_t    grace;
    int64_t     not_after; /* 0: NA */
    int64_t     now;
    int         rc;
    const char *want;  /* substring of the refusal */
    const char *exact; /* or the whole refusal */
} admin_case_t;

static const admin_case_t admin_cases[] = {
    { "no license installed", 1, 30, 0, NB + DAY, MTR_DECLINED,
      "no license installed: administrative changes are refused until a "
      "license key is installed; reads stay allowed",
      NULL },
    { "valid", 0, 30, 0, NB + DAY, MTR_OK, NULL, NULL },
    { "expiring", 0, 30, 0, NA - DAY, MTR_OK, NULL, NULL },
    { "exact not_after: grace", 0, 30, 0, NA, MTR_OK, NULL, NULL },
    { "last second of grace", 0, 30, 0, GE - 1, MTR_OK, NULL, NULL },
    { "exact grace end", 0, 30, 0, GE, MTR_DECLINED, NULL, EXPIRED_MSG },
    { "a year after", 0, 30, 0, GE + 365 * DAY, MTR_DECLINED, NULL,
      EXPIRED_MSG },
    { "not yet valid", 0, 30, 0, NB - 1, MTR_DECLINED,
      "license L-2026-001 (ACME) is not valid before 2026-01-01 (in 1 day)",
      NULL },
    { "no grace period", 0, 0, 0, NA, MTR_DECLINED,
      "license L-2026-001 (ACME) expired on 2026-10-01 (no grace period): "
      "administrative changes are refused",
      NULL },
    { "expiry not at midnight", 0, 30, NA + 3600 + 120 + 3, GE + DAY,
      MTR_DECLINED,
      "expired on 2026-10-01T01:02:03Z, grace ended 2026-10-31T01:02:03Z",
      NULL },
};

static void
test_admin_change(void **state)
{
    lic_t     l;
    mtr_err_t err;
    size_t    i;
    int       rc;

    (void) state;

    for (i = 0; i < sizeof(admin_cases) / sizeof(admin_cases[0]); i++) {
        const admin_case_t *c = &admin_cases[i];

        print_message("admin change: %s\n", c->name);
        l = make_lic(c->grace);
        if (c->not_after != 0) {
            l.not_after = c->not_after;
        }
        strcpy(err.msg, "stale");
        rc = lic_admin_change_allowed(c->no_key ? NULL : &l, c->now, &err);
        if (rc != c->rc) {
            print_message("  message: %s\n", err.msg);
        }
        assert_int_equal(rc, c->rc);
        if (rc == MTR_OK) {
            assert_string_equal(err.msg, "");
        } else if (c->exact != NULL) {
            assert_string_equal(err.msg, c->exact);
        } else {
            expect_msg(c->name, err.msg, c->want);
        }
    }
}

typedef struct {
    const char *name;
    int         no_key;
    int64_t     now;
    const char *want;
} status_case_t;

static const status_case_t status_cases[] = {
    { "no key", 1, NB, "no license installed" },
    { "not yet valid", 0, NB - 3 * DAY,
      "license L-2026-001 (ACME) is not valid before 2026-01-01 (in 3 days)" },
    { "valid", 0, NA - 100 * DAY,
      "license L-2026-001 (ACME) valid, expires on 2026-10-01, 100 days "
      "left" },
    { "expiring", 0, NA - 7 * DAY,
      "license L-2026-001 (ACME) expires on 2026-10-01, 7 days left: "
      "install a renewed key" },
    { "expiring, 1 day", 0, NA - 1, "expires on 2026-10-01, 1 day left" },
    { "grace", 0, NA + 2 * DAY,
      "license L-2026-001 (ACME) expired on 2026-10-01; grace period ends on "
      "2026-10-31, 28 days left: after that administrative changes are "
      "refused until a renewed key is installed" },
    { "expired", 0, GE, EXPIRED_MSG },
};

static void
test_status_text(void **state)
{
    char   buf[LIC_STATUS_MAX];
    lic_t  l = make_lic(30);
    size_t i;

    (void) state;

    for (i = 0; i < sizeof(status_cases) / sizeof(status_cases[0]); i++) {
        const status_case_t *c = &status_cases[i];

        print_message("status: %s\n", c->name);
        assert_int_equal(
            lic_status_text(c->no_key ? NULL : &l, c->now, buf, sizeof(buf)),
            MTR_OK);
        expect_msg(c->name, buf, c->want);

        print_message("status: %s, buffer one byte short\n", c->name);
        {
            char   small[LIC_STATUS_MAX];
            size_t need = strlen(buf);

            memset(small, 'Q', sizeof(small));
            assert_int_equal(
                lic_status_text(c->no_key ? NULL : &l, c->now, small, need),
                MTR_ERROR);
            assert_int_equal(small[0], '\0');
            assert_int_equal(
                lic_status_text(c->no_key ? NULL : &l, c->now, small, need + 1),
                MTR_OK);
            assert_string_equal(small, buf);
        }
    }

    print_message("status: zero-size buffer\n");
    assert_int_equal(lic_status_text(&l, NB, buf, 0), MTR_ERROR);

    print_message("status: maximal id and customer fit LIC_STATUS_MAX\n");
    memset(l.id, 'i', LIC_ID_MAX);
    l.id[LIC_ID_MAX] = '\0';
    memset(l.customer, 'c', LIC_CUSTOMER_MAX);
    l.customer[LIC_CUSTOMER_MAX] = '\0';
    l.not_after = NA + 1;
    for (i = 0; i < sizeof(status_cases) / sizeof(status_cases[0]); i++) {
        assert_int_equal(
            lic_status_text(&l, status_cases[i].now, buf, sizeof(buf)), MTR_OK);
    }
}

typedef struct {
    const char *name;
    int64_t     now;
    int64_t     last_seen;
    int64_t     tolerance;
    int         rc;
} clock_case_t;

static const clock_case_t clock_cases[] = {
    { "same second", NA, NA, 0, MTR_OK },
    { "clock moved forward", NA + DAY, NA, 0, MTR_OK },
    { "back within tolerance", NA - 300, NA, 300, MTR_OK },
    { "back 1 s past tolerance", NA - 301, NA, 300, MTR_DECLINED },
    { "back a month, no tolerance", NA - 30 * DAY, NA, 0, MTR_DECLINED },
    { "back 1 s, no tolerance", NA - 1, NA, 0, MTR_DECLINED },
    { "negative tolerance", NA, NA, -1, MTR_ERROR },
    { "last_seen INT64_MIN", 0, INT64_MIN, 300, MTR_OK },
    { "huge tolerance saturates", INT64_MIN, INT64_MAX, INT64_MAX,
      MTR_DECLINED },
    { "now INT64_MIN", INT64_MIN, 0, 0, MTR_DECLINED },
};

static void
test_clock_check(void **state)
{
    mtr_err_t err;
    size_t    i;
    int       rc;

    (void) state;

    for (i = 0; i < sizeof(clock_cases) / sizeof(clock_cases[0]); i++) {
        const clock_case_t *c = &clock_cases[i];

        print_message("clock: %s\n", c->name);
        strcpy(err.msg, "stale");
        rc = lic_clock_check(c->now, c->last_seen, c->tolerance, &err);
        assert_int_equal(rc, c->rc);
        if (rc == MTR_DECLINED) {
            expect_msg(c->name, err.msg, "clock turned back");
        } else if (rc == MTR_OK) {
            assert_string_equal(err.msg, "");
        }
    }

    print_message("clock: the message names both times\n");
    assert_int_equal(lic_clock_check(NA - 3600, NA, 60, &err), MTR_DECLINED);
    assert_string_equal(err.msg,
                        "clock turned back: the time is 2026-09-30T23:00:00Z "
                        "but 2026-10-01T00:00:00Z was already seen (3600 s "
                        "back, tolerance 60 s); fix the system clock");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_states),      cmocka_unit_test(test_warn_levels),
        cmocka_unit_test(test_check_key),   cmocka_unit_test(test_admin_change),
        cmocka_unit_test(test_status_text), cmocka_unit_test(test_clock_check),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
