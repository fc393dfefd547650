/*
 * mtr_quota.h -- quota usage in Redis and the fits-or-not decision, shared
 * by the Dovecot quota backend (dovecot_quota/) and the Postfix policy
 * service (milter_filter/mortar-policy), so both read and write one layout.
 *
 * Limits live in the directory: a user's mortarQuotaBytes and
 * mortarQuotaMessages, the domain's mortarDomainQuotaPool (0 or absent: no
 * limit).  Usage lives in Redis, in two hashes per user that share the
 * domain's hash tag, so one Lua script updates both atomically on a Redis
 * Cluster too (DESIGN.md):
 *
 *   mortar:quota:{<domain>}:user:<localpart>   fields "bytes", "messages"
 *   mortar:quota:{<domain>}:pool               fields "bytes", "messages"
 *
 * Domain and local part are lower-cased.  Counters never go below zero (a
 * delete counted twice must not make room that does not exist).
 *
 * Concurrency: the update is atomic, the decision is not tied to it (the
 * Dovecot quota API tests before saving and counts after), so concurrent
 * deliveries into one pool can overshoot its limit by at most
 * (concurrent deliveries - 1) x (largest message size).  Postfix's
 * per-destination concurrency (lmtp_destination_concurrency_limit) bounds
 * the first factor and message_size_limit the second.
 *
 * Core except mtr_quota_get/update/set, which are thin calls through
 * mtr_redis.  Covered by tests/unit/test_mtr_quota.c.
 */
#ifndef MTR_QUOTA_H
#define MTR_QUOTA_H

#include "mtr_core.h"
#include "mtr_redis.h"

#define MTR_QUOTA_KEY_MAX    (7 + 6 + 2 + 253 + 6 + 64 + 16) /* @UNSAFE */
#define MTR_QUOTA_LOCAL_MAX  64 /* bytes of a local part (RFC 5321) */
#define MTR_QUOTA_DOMAIN_MAX 253

typedef struct {
    uint64_t bytes;
    uint64_t messages;
} mtr_quota_usage_t;

typedef struct {
    mtr_quota_usage_t user;
    mtr_quota_usage_t pool;
} mtr_quota_state_t;

typedef struct {
    uint64_t user_bytes;    /* 0: no limit */
    uint64_t user_messages; /* 0: no limit */
    uint64_t pool_bytes;    /* 0: no pool */
} mtr_quota_limits_t;

typedef enum {
    MTR_QUOTA_FITS = 0,
    MTR_QUOTA_OVER_USER_BYTES,
    MTR_QUOTA_OVER_USER_MESSAGES,
    MTR_QUOTA_OVER_POOL_BYTES,
} mtr_quota_verdict_e;

/*
 * Split "local@domain" (len bytes, not NUL-terminated) and build both keys
 * (NUL-terminated, at most MTR_QUOTA_KEY_MAX bytes each).  An address
 * without exactly one '@', an empty or over-long part, or bytes that are
 * not printable ASCII is MTR_ERROR.
 */
int mtr_quota_keys(const char *address, size_t len, char *user_key,
                   size_t user_size, char *pool_key, size_t pool_size,
                   mtr_err_t *err);

/*
 * Would a message of size bytes (and one more message) fit?  Pure: the
 * policy service calls it at RCPT with Postfix's size, the Dovecot backend
 * through its own quota API.  A limit of 0 is no limit.
 */
mtr_quota_verdict_e mtr_quota_check(const mtr_quota_limits_t *limits,
                                    const mtr_quota_state_t  *state,
                                    uint64_t                  size);

/* A short English reason for a verdict, e.g. "mailbox full". */
const char *mtr_quota_reason(mtr_quota_verdict_e verdict);

/* Read both hashes in one round trip (absent fields are 0). */
int mtr_quota_get(mtr_redis_t *r, const char *user_key, const char *pool_key,
                  mtr_quota_state_t *state_r, mtr_err_t *err);

/*
 * Add dbytes/dmessages (negative to free) to the user and the pool in one
 * Lua script, clamping at zero; the new state is returned.
 */
int mtr_quota_update(mtr_redis_t *r, const char *user_key, const char *pool_key,
                     int64_t dbytes, int64_t dmessages,
                     mtr_quota_state_t *state_r, mtr_err_t *err);

/*
 * Recalculation: set the user's usage to the counted value and move the
 * pool by the difference, in one script, so repairing one user's drift
 * repairs the pool too.  The pool itself can be set outright
 * (mtr_quota_set_pool) after summing every user of a domain.
 */
int mtr_quota_set_user(mtr_redis_t *r, const char *user_key,
                       const char *pool_key, const mtr_quota_usage_t *counted,
                       mtr_quota_state_t *state_r, mtr_err_t *err);
int mtr_quota_set_pool(mtr_redis_t *r, const char *pool_key,
                       const mtr_quota_usage_t *total, mtr_err_t *err);

#endif /* MTR_QUOTA_H */
