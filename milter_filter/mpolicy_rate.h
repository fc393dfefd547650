/*
 * mpolicy_rate.h -- sender rate limits of mortar-policy: messages and
 * recipients per hour, per authenticated user and per client address.
 *
 * Counting: a sliding window approximated by two fixed windows (the
 * current hour and the one before), the estimate being
 *
 *     previous x (share of the previous window still inside the last
 *     hour) + current
 *
 * so a sender cannot send a full limit at 10:59 and another at 11:00.
 * One request may cost one message (the first RCPT of a transaction) and
 * one recipient; it is allowed when estimate + cost <= limit for every
 * counter it touches, and then -- only then -- every counter is
 * increased.  Check and increase are one Lua script, so concurrent
 * sessions of one stolen account cannot overrun the limit together.
 * Deferred requests are not counted, and bump the domain's
 * "rate_deferred" statistic in the same script.
 *
 * Keys (hash tag: the sender's domain, so one script may touch them all):
 *
 *   mortar:rate:{<domain>}:u:<localpart>:<window>    user counter
 *   mortar:rate:{<domain>}:ip:<client address>:<window>  client counter
 *   mortar:policy:{<domain>}:stats                   statistics hash
 *
 * <window> is floor(now / window length); each counter hash has fields
 * "m" (messages) and "r" (recipients) and expires after two windows.
 *
 * Core: pure planning with the time passed in; mpolicy_rate_run is a thin
 * call through mtr_redis.  Covered by tests/unit/test_mpolicy_rate.c.
 */
#ifndef MPOLICY_RATE_H
#define MPOLICY_RATE_H

#include "mtr_core.h"
#include "mtr_redis.h"

#define MPOLICY_RATE_WINDOW 3600 /* seconds: the limits are per hour */

/* Longest client address kept in a key (an IPv6 text form is <= 45). */
#define MPOLICY_RATE_ADDR_MAX 64
/* Longest local part (RFC 5321). */
#define MPOLICY_RATE_LOCAL_MAX 64
/* "mortar:rate:{" + domain + "}:ip:" + addr + ":" + 20 digits, rounded. */
#define MPOLICY_RATE_KEY_MAX                                                   \
    (16 + MTR_REDIS_DOMAIN_MAX + 8 + 64 + 24) /* @UNSAFE */
/* At most two subjects (user, client), two keys each, and the stats key. */
#define MPOLICY_RATE_KEYS 5

typedef struct {
    uint64_t messages;   /* per hour; 0: no limit */
    uint64_t recipients; /* per hour; 0: no limit */
} mpolicy_rate_limits_t;

typedef enum {
    MPOLICY_RATE_ALLOW = 0,
    MPOLICY_RATE_OVER_USER_MESSAGES,
    MPOLICY_RATE_OVER_USER_RECIPIENTS,
    MPOLICY_RATE_OVER_CLIENT_MESSAGES,
    MPOLICY_RATE_OVER_CLIENT_RECIPIENTS,
} mpolicy_rate_verdict_e;

/* Everything one run of the script needs; made by mpolicy_rate_plan. */
typedef struct {
    char     keys[MPOLICY_RATE_KEYS][MPOLICY_RATE_KEY_MAX + 1];
    size_t   nkeys;     /* 1 (stats) + 2 per subject */
    int      has_user;  /* the first subject is the user */
    unsigned weight;    /* per mille of the previous window still counted */
    uint64_t msg_cost;  /* 0 or 1 */
    uint64_t rcpt_cost; /* 0 or 1 */
    mpolicy_rate_limits_t limits;
    uint64_t              ttl; /* seconds */
} mpolicy_rate_plan_t;

typedef struct {
    mpolicy_rate_verdict_e verdict;
    uint64_t               estimate; /* of the counter over its limit */
} mpolicy_rate_result_t;

/*
 * The limits that apply: each of the user's own values when set (user_set
 * says which: bit 0 messages, bit 1 recipients), else the domain's.
 */
mpolicy_rate_limits_t mpolicy_rate_effective(const mpolicy_rate_limits_t *dom,
                                             const mpolicy_rate_limits_t *user,
                                             unsigned user_set);

/* Per mille of the previous window that still lies in the last window. */
unsigned mpolicy_rate_weight(int64_t now, uint64_t window);

/*
 * The pure decision the script makes for one counter: allowed when
 * prev x weight / 1000 + cur + cost <= limit (limit 0: always).  Returns
 * 1 (allowed) or 0, and the estimate before the cost in *estimate_r.
 */
int mpolicy_rate_allow(uint64_t prev, uint64_t cur, unsigned weight,
                       uint64_t cost, uint64_t limit, uint64_t *estimate_r);

/*
 * Plan one check at time now.  domain: the sender's domain (the hash
 * tag); local: the authenticated user's local part (empty: no user
 * counter); client: the client address (empty: no client counter).
 * window: MPOLICY_RATE_WINDOW outside of tests.  MTR_DECLINED when there
 * is nothing to check (no subject, no limit or no cost); MTR_ERROR on a
 * malformed or over-long part.
 */
int mpolicy_rate_plan(mpolicy_rate_plan_t *plan, mtr_str_t domain,
                      mtr_str_t local, mtr_str_t client, int64_t now,
                      uint64_t window, const mpolicy_rate_limits_t *limits,
                      uint64_t msg_cost, uint64_t rcpt_cost, mtr_err_t *err);

/*
 * Run the plan (one EVALSHA).  script: the caller's copy of
 * MPOLICY_RATE_SCRIPT (one per thread).  MTR_OK with *res set, or
 * MTR_ERROR (Redis down, unexpected reply) with err set.
 */
int mpolicy_rate_run(mtr_redis_t *r, mtr_redis_script_t *script,
                     const mpolicy_rate_plan_t *plan,
                     mpolicy_rate_result_t *res, mtr_err_t *err);

/* Short text for logs, e.g. "user recipients". */
const char *mpolicy_rate_what(mpolicy_rate_verdict_e verdict);

/* The script's source, for MTR_REDIS_SCRIPT(). */
extern const char mpolicy_rate_lua[];

#endif /* MPOLICY_RATE_H */
