/*
 * mquota_redis.h -- the domain-wide repair of Mortar's quota counters:
 * set a domain pool to the sum of its users' counters.
 *
 * Core: includes no Dovecot header; talks to Redis only through mtr_redis.
 * The layout is mtr_quota.h's:
 *
 *   mortar:quota:{<domain>}:user:<localpart>   fields "bytes", "messages"
 *   mortar:quota:{<domain>}:pool               fields "bytes", "messages"
 *
 * Every change to a user moves its pool by the same amount (mtr_quota.c),
 * so "pool = sum of its users" holds until something outside Mortar
 * touches the keys, or a change is lost (Redis restored from an old
 * snapshot, a key edited by hand).  mquota_pool_resum() restores it:
 *
 *   1. SCAN for the domain's user keys (MATCH on the hash-tagged prefix,
 *      glob characters escaped);
 *   2. one Lua script, given the pool and every user key as KEYS (all in
 *      the domain's hash slot, so valid on a Redis Cluster too), sums the
 *      users and sets the pool -- atomic against concurrent deliveries;
 *   3. SCAN again: when a user key appeared or vanished in between (a
 *      user's very first mail), run the script again with the new list,
 *      at most MQUOTA_RESUM_ROUNDS times in all.
 *
 * The user keys themselves are repaired by recounting mailboxes (the
 * Dovecot glue, doveadm quota recalc); a key of a user that no longer
 * exists keeps counting in its pool until deleted (the admin tools delete
 * it with the user).
 *
 * Covered by tests/unit/test_mquota_redis.c (mtr_redis mocked at link time).
 */
#ifndef MQUOTA_REDIS_H
#define MQUOTA_REDIS_H

#include "mtr_core.h"
#include "mtr_quota.h"
#include "mtr_redis.h"

/* Most user keys summed into one pool. */
#define MQUOTA_RESUM_USERS_MAX 200000

/* Scripts run by one mquota_pool_resum() call at most. */
#define MQUOTA_RESUM_ROUNDS 3

/* Keys asked per SCAN step. */
#define MQUOTA_SCAN_COUNT "1000"

/* An escaped pattern is at most twice the key, plus "user:*". */
#define MQUOTA_PATTERN_MAX (2 * MTR_QUOTA_KEY_MAX + 8)

/*
 * Build the SCAN pattern matching every user key of the pool pool_key
 * ("mortar:quota:{d}:pool" gives "mortar:quota:{d}:user:*", with the glob
 * characters '*', '?', '[', ']' and '\' of the prefix escaped).  buf receives
 * it NUL-terminated.  A pool_key not of that shape, or a buffer too
 * small, is MTR_ERROR.
 */
int mquota_user_pattern(const char *pool_key, char *buf, size_t size,
                        mtr_err_t *err);

/*
 * Set the pool pool_key to the sum of its users (see above).  On MTR_OK,
 * *total_r (may be NULL) holds the new pool and *nusers_r (may be NULL)
 * the number of user keys summed.  MTR_ERROR with err set on a Redis
 * failure, an unexpected reply, more than MQUOTA_RESUM_USERS_MAX users,
 * or a key list still changing after MQUOTA_RESUM_ROUNDS rounds (the pool
 * then holds the last sum, which is correct but for the newest users).
 */
int mquota_pool_resum(mtr_redis_t *r, const char *pool_key,
                      mtr_quota_usage_t *total_r, size_t *nusers_r,
                      mtr_err_t *err);

#endif /* MQUOTA_REDIS_H */
