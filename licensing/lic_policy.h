/*
 * lic_policy.h -- what a verified license allows at a given time.
 *
 * Core of the licensing module: pure functions, the time is always passed
 * in (seconds since the epoch, UTC), nothing is read from the clock, a file
 * or the network.  Covered by tests/unit/test_lic_policy.c.
 *
 * TIMELINE of a key with grace_days G (a day is 86400 s):
 *
 *     now <  not_before                      LIC_NOT_YET_VALID
 *     not_before <= now < not_after - 30 d   LIC_VALID
 *     not_after - 30 d <= now < not_after    LIC_EXPIRING (30 days or less)
 *     not_after <= now < not_after + G d     LIC_GRACE
 *     not_after + G d <= now                 LIC_EXPIRED
 *
 * not_after is the first second the key is no longer valid: at exactly
 * not_after the key is in grace (or expired when G is 0), and at exactly
 * the grace end it is expired.  Day counts are rounded up, so one second
 * left is "1 day left".
 *
 * WHAT IS ALLOWED.  End-user functions (mail flow, IMAP/POP3, webmail,
 * calendars) never ask this unit anything.  Administrative changes ask
 * lic_admin_change_allowed(): allowed in VALID, EXPIRING and GRACE,
 * refused in NOT_YET_VALID and EXPIRED.  Reads are always allowed.
 *
 * NO LICENSE INSTALLED.  A deployment without a key has no built-in
 * allowance: every administrative change is refused (MTR_DECLINED, "no
 * license installed") except installing a key, which is checked by
 * lic_check_key() and must never itself be gated by
 * lic_admin_change_allowed().  Reads and end-user functions keep working.
 */
#ifndef LIC_POLICY_H
#define LIC_POLICY_H

#include <stdint.h>

#include "lic_key.h"

#define LIC_DAY           86400
#define LIC_EXPIRING_DAYS 30 /* LIC_EXPIRING from this many days left */

/* Room for any lic_status_text() or refusal message. */
#define LIC_STATUS_MAX MTR_ERR_MAX

typedef enum {
    LIC_NOT_YET_VALID = 0,
    LIC_VALID,
    LIC_EXPIRING,
    LIC_GRACE,
    LIC_EXPIRED
} lic_state_e;

/*
 * The state of lic at now.  *days_left_r (may be NULL), rounded up:
 *   NOT_YET_VALID  days until not_before
 *   VALID/EXPIRING days until not_after
 *   GRACE          grace days left, until not_after + grace_days
 *   EXPIRED        0
 * A NULL lic is LIC_EXPIRED.  Saturating arithmetic: any int64 inputs
 * are safe.
 */
lic_state_e lic_state(const lic_t *lic, int64_t now, int *days_left_r);

/* "not yet valid", "valid", "expiring", "grace", "expired". */
const char *lic_state_name(lic_state_e state);

/*
 * Warning level for days_left days before expiry: the smallest of 30, 7
 * and 1 that is >= days_left (1 for 1 day or less, 0 or negative
 * included), or 0 when more than 30 days are left.  A UI warns once per
 * level crossed: 30, then 7, then 1.
 */
int lic_warn_level(int days_left);

/*
 * May lic be installed on this deployment at now?  Used before a key
 * replaces the installed one.  Rules, in this order:
 *   - deployment_id must be a lowercase UUID (else MTR_ERROR),
 *   - the key must be bound to deployment_id (compared byte for byte),
 *   - now must be >= not_before (a future key is refused, not queued),
 *   - the key must not be EXPIRED: installing it could only take rights
 *     away.  A key in grace is accepted.
 * Returns MTR_OK, or MTR_DECLINED with the reason in err (naming the
 * license id and the dates), or MTR_ERROR on bad arguments.
 */
int lic_check_key(const lic_t *lic, const char *deployment_id, int64_t now,
                  mtr_err_t *err);

/*
 * May an administrative change be made at now under lic (NULL: no key
 * installed)?  MTR_OK in VALID, EXPIRING and GRACE (in grace, show the
 * warning of lic_status_text() to the admin); MTR_DECLINED with a message
 * naming the license id, customer and dates otherwise, e.g.
 *   license L-2026-001 (ACME) expired on 2026-10-01, grace ended
 *   2026-10-31: administrative changes are refused until a renewed key is
 *   installed; reads stay allowed
 * Dates are printed as YYYY-MM-DD when they fall on midnight UTC, as full
 * RFC 3339 otherwise.
 */
int lic_admin_change_allowed(const lic_t *lic, int64_t now, mtr_err_t *err);

/*
 * One line for the admin about lic (NULL: no key) at now: the state, the
 * dates and days left; in grace, the warning that administrative changes
 * stop at the grace end.  Returns MTR_OK, or MTR_ERROR when buf (size
 * bytes; LIC_STATUS_MAX suffices) is too small, leaving buf "".
 */
int lic_status_text(const lic_t *lic, int64_t now, char *buf, size_t size);

/*
 * Detect a clock turned back: MTR_DECLINED when now < last_seen -
 * tolerance ("clock turned back: ..."), MTR_ERROR when tolerance < 0,
 * MTR_OK otherwise.  The caller persists max(last_seen, now) after each
 * successful check so a rollback cannot revive an expired key.
 */
int lic_clock_check(int64_t now, int64_t last_seen, int64_t tolerance,
                    mtr_err_t *err);

#endif /* LIC_POLICY_H */
