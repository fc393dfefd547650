/*
 * lic_policy.c -- states of a license over time and the rules built on
 * them: installing a key, administrative changes, clock rollback.
 *
 * Core: pure functions of (license, now); the timeline and the "no license
 * installed" rule are documented in lic_policy.h.  All time arithmetic
 * saturates, so a hand-made lic_t or a wild clock cannot overflow.
 * Covered by tests/unit/test_lic_policy.c.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "lic_policy.h"

/* Room for an RFC 3339 time, "after 9999" or "@-9223372036854775808". */
#define LIC_DATE_TEXT_MAX 32

static int64_t
sat_add(int64_t a, int64_t b)
{
    int64_t r;

    if (__builtin_add_overflow(a, b, &r)) {
        return b > 0 ? INT64_MAX : INT64_MIN;
    }
    return r;
}

static int64_t
sat_sub(int64_t a, int64_t b)
{
    int64_t r;

    if (__builtin_sub_overflow(a, b, &r)) {
        return b < 0 ? INT64_MAX : INT64_MIN;
    }
    return r;
}

/* Whole days in secs (> 0), rounded up, capped at INT_MAX. */
static int
days_up(int64_t secs)
{
    int64_t d = secs / LIC_DAY + (secs % LIC_DAY != 0);

    return d > INT_MAX ? INT_MAX : (int) d;
}

static int64_t
grace_end(const lic_t *lic)
{
    return sat_add(lic->not_after, (int64_t) lic->grace_days * LIC_DAY);
}

/* A date for people: YYYY-MM-DD at midnight UTC, full RFC 3339 otherwise. */
static const char *
date_text(int64_t t, char buf[LIC_DATE_TEXT_MAX])
{
    if (lic_format_time(t, buf, LIC_DATE_TEXT_MAX) != MTR_OK) {
        snprintf(buf, LIC_DATE_TEXT_MAX, "%s",
                 t < 0 ? "before 1970" : "after 9999");
        return buf;
    }
    if (t % LIC_DAY == 0) {
        buf[10] = '\0';
    }
    return buf;
}

static const char *
plural(int n)
{
    return n == 1 ? "" : "s";
}

lic_state_e
lic_state(const lic_t *lic, int64_t now, int *days_left_r)
{
    lic_state_e state;
    int64_t     end;
    int         days = 0;

    if (lic == NULL) {
        state = LIC_EXPIRED;
    } else if (now < lic->not_before) {
        state = LIC_NOT_YET_VALID;
        days = days_up(sat_sub(lic->not_before, now));
    } else if (now < lic->not_after) {
        days = days_up(sat_sub(lic->not_after, now));
        state = days <= LIC_EXPIRING_DAYS ? LIC_EXPIRING : LIC_VALID;
    } else if (end = grace_end(lic), now < end) {
        state = LIC_GRACE;
        days = days_up(sat_sub(end, now));
    } else {
        state = LIC_EXPIRED;
    }

    if (days_left_r != NULL) {
        *days_left_r = days;
    }
    return state;
}

const char *
lic_state_name(lic_state_e state)
{
    switch (state) {
    case LIC_NOT_YET_VALID:
        return "not yet valid";
    case LIC_VALID:
        return "valid";
    case LIC_EXPIRING:
        return "expiring";
    case LIC_GRACE:
        return "grace";
    case LIC_EXPIRED:
        return "expired";
    }
    return "unknown";
}

int
lic_warn_level(int days_left)
{
    if (days_left <= 1) {
        return 1;
    }
    if (days_left <= 7) {
        return 7;
    }
    if (days_left <= LIC_EXPIRING_DAYS) {
        return LIC_EXPIRING_DAYS;
    }
    return 0;
}

/*
 * The refusal of an expired key, shared by lic_admin_change_allowed() and
 * lic_status_text() so the admin reads the same words in both places.
 */
static int
expired_text(const lic_t *lic, char *buf, size_t size)
{
    char na[LIC_DATE_TEXT_MAX], ge[LIC_DATE_TEXT_MAX];
    int  n;

    date_text(lic->not_after, na);
    if (lic->grace_days == 0) {
        n = snprintf(buf, size,
                     "license %.*s (%.*s) expired on %s (no grace period): "
                     "administrative changes are refused until a renewed "
                     "key is installed; reads stay allowed",
                     LIC_ID_MAX, lic->id, LIC_CUSTOMER_MAX, lic->customer, na);
    } else {
        n = snprintf(buf, size,
                     "license %.*s (%.*s) expired on %s, grace ended %s: "
                     "administrative changes are refused until a renewed "
                     "key is installed; reads stay allowed",
                     LIC_ID_MAX, lic->id, LIC_CUSTOMER_MAX, lic->customer, na,
                     date_text(grace_end(lic), ge));
    }
    return n >= 0 && (size_t) n < size ? MTR_OK : MTR_ERROR;
}

static int
not_yet_text(const lic_t *lic, int64_t now, char *buf, size_t size)
{
    char nb[LIC_DATE_TEXT_MAX];
    int  days, n;

    (void) lic_state(lic, now, &days);
    n = snprintf(buf, size,
                 "license %.*s (%.*s) is not valid before %s (in %d day%s): "
                 "administrative changes are refused until then; reads stay "
                 "allowed",
                 LIC_ID_MAX, lic->id, LIC_CUSTOMER_MAX, lic->customer,
                 date_text(lic->not_before, nb), days, plural(days));
    return n >= 0 && (size_t) n < size ? MTR_OK : MTR_ERROR;
}

int
lic_check_key(const lic_t *lic, const char *deployment_id, int64_t now,
              mtr_err_t *err)
{
    char nb[LIC_DATE_TEXT_MAX], na[LIC_DATE_TEXT_MAX], ge[LIC_DATE_TEXT_MAX];

    if (lic == NULL || deployment_id == NULL) {
        return mtr_err_set(err, "lic_check_key: bad arguments");
    }
    if (!lic_deployment_ok(deployment_id, strlen(deployment_id))) {
        return mtr_err_set(err, "this deployment's id is not a lowercase UUID: "
                                "cannot check a key against it");
    }

    if (strncmp(lic->deployment, deployment_id, sizeof(lic->deployment)) != 0) {
        mtr_err_set(err,
                    "license %.*s is bound to deployment %.*s, not to this "
                    "deployment %s: ask the vendor for a key issued to this "
                    "deployment",
                    LIC_ID_MAX, lic->id, LIC_DEPLOYMENT_LEN, lic->deployment,
                    deployment_id);
        return MTR_DECLINED;
    }

    switch (lic_state(lic, now, NULL)) {
    case LIC_NOT_YET_VALID:
        mtr_err_set(err,
                    "license %.*s is not valid before %s: install it on or "
                    "after that date",
                    LIC_ID_MAX, lic->id, date_text(lic->not_before, nb));
        return MTR_DECLINED;
    case LIC_EXPIRED:
        mtr_err_set(err,
                    "license %.*s expired on %s and its grace period ended "
                    "%s: installing it would lift nothing; ask the vendor "
                    "for a renewed key",
                    LIC_ID_MAX, lic->id, date_text(lic->not_after, na),
                    date_text(grace_end(lic), ge));
        return MTR_DECLINED;
    default:
        break;
    }

    mtr_err_clear(err);
    return MTR_OK;
}

int
lic_admin_change_allowed(const lic_t *lic, int64_t now, mtr_err_t *err)
{
    char buf[LIC_STATUS_MAX];

    if (lic == NULL) {
        mtr_err_set(err, "no license installed: administrative changes are "
                         "refused until a license key is installed; reads "
                         "stay allowed");
        return MTR_DECLINED;
    }

    switch (lic_state(lic, now, NULL)) {
    case LIC_NOT_YET_VALID:
        not_yet_text(lic, now, buf, sizeof(buf));
        mtr_err_set(err, "%s", buf);
        return MTR_DECLINED;
    case LIC_EXPIRED:
        expired_text(lic, buf, sizeof(buf));
        mtr_err_set(err, "%s", buf);
        return MTR_DECLINED;
    default:
        mtr_err_clear(err);
        return MTR_OK;
    }
}

int
lic_status_text(const lic_t *lic, int64_t now, char *buf, size_t size)
{
    char na[LIC_DATE_TEXT_MAX], ge[LIC_DATE_TEXT_MAX];
    int  n = -1, days, rc;

    if (buf == NULL || size == 0) {
        return MTR_ERROR;
    }

    if (lic == NULL) {
        n = snprintf(buf, size, "%s",
                     "no license installed: administrative changes are "
                     "refused until a license key is installed");
        rc = n >= 0 && (size_t) n < size ? MTR_OK : MTR_ERROR;
        goto done;
    }

    switch (lic_state(lic, now, &days)) {
    case LIC_NOT_YET_VALID:
        rc = not_yet_text(lic, now, buf, size);
        goto done;
    case LIC_EXPIRED:
        rc = expired_text(lic, buf, size);
        goto done;
    case LIC_VALID:
        n = snprintf(buf, size,
                     "license %.*s (%.*s) valid, expires on %s, %d day%s "
                     "left",
                     LIC_ID_MAX, lic->id, LIC_CUSTOMER_MAX, lic->customer,
                     date_text(lic->not_after, na), days, plural(days));
        break;
    case LIC_EXPIRING:
        n = snprintf(buf, size,
                     "license %.*s (%.*s) expires on %s, %d day%s left: "
                     "install a renewed key",
                     LIC_ID_MAX, lic->id, LIC_CUSTOMER_MAX, lic->customer,
                     date_text(lic->not_after, na), days, plural(days));
        break;
    case LIC_GRACE:
        n = snprintf(buf, size,
                     "license %.*s (%.*s) expired on %s; grace period ends "
                     "on %s, %d day%s left: after that administrative "
                     "changes are refused until a renewed key is installed",
                     LIC_ID_MAX, lic->id, LIC_CUSTOMER_MAX, lic->customer,
                     date_text(lic->not_after, na),
                     date_text(grace_end(lic), ge), days, plural(days));
        break;
    }
    rc = n >= 0 && (size_t) n < size ? MTR_OK : MTR_ERROR;

done:
    if (rc != MTR_OK) {
        buf[0] = '\0'; /* never a silently cut status */
    }
    return rc;
}

int
lic_clock_check(int64_t now, int64_t last_seen, int64_t tolerance,
                mtr_err_t *err)
{
    char a[LIC_DATE_TEXT_MAX], b[LIC_DATE_TEXT_MAX];

    if (tolerance < 0) {
        return mtr_err_set(err, "clock check: negative tolerance %lld",
                           (long long) tolerance);
    }
    if (now < sat_sub(last_seen, tolerance)) {
        if (lic_format_time(now, a, sizeof(a)) != MTR_OK) {
            snprintf(a, sizeof(a), "@%lld", (long long) now);
        }
        if (lic_format_time(last_seen, b, sizeof(b)) != MTR_OK) {
            snprintf(b, sizeof(b), "@%lld", (long long) last_seen);
        }
        mtr_err_set(err,
                    "clock turned back: the time is %s but %s was already "
                    "seen (%lld s back, tolerance %lld s); fix the system "
                    "clock",
                    a, b, (long long) sat_sub(last_seen, now),
                    (long long) tolerance);
        return MTR_DECLINED;
    }
    mtr_err_clear(err);
    return MTR_OK;
}
