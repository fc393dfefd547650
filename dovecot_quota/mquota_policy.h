/*
 * mquota_policy.h -- the decisions of Mortar's Dovecot quota backend.
 *
 * Core: includes no Dovecot header.  The glue (mortar-quota-plugin.c)
 * translates Dovecot's calls into these questions:
 *
 *  - which counter a root reports (the user's or the domain pool's);
 *  - which root writes: both counters move together in one Lua script
 *    (mtr_quota_update), so exactly one root of a user applies a
 *    transaction's change -- the user root, or the pool root when the user
 *    has no Mortar user root;
 *  - what a recalculation does at a root (recount the user, re-sum the
 *    pool from its users, once per domain and process);
 *  - what a save does when Redis cannot be reached (redis_down=);
 *  - whether a usage read may be served from the per-user cache: only
 *    within one tick of the caller's clock (Dovecot's ioloop time), so one
 *    quota check reads Redis once for both roots and both resources, and
 *    the next delivery reads again.
 *
 * Covered by tests/unit/test_mquota_policy.c.
 */
#ifndef MQUOTA_POLICY_H
#define MQUOTA_POLICY_H

#include "mquota_args.h"
#include "mtr_core.h"
#include "mtr_quota.h"

/* What IMAP and LMTP clients read when a save is refused for Redis. */
#define MQUOTA_TEMPFAIL_TEXT                                                   \
    "Mail quota service temporarily unavailable (usage counters cannot be "    \
    "reached), try again later"

/* Most domains re-summed by one process (a doveadm recalc -A run). */
#define MQUOTA_DOMAINS_MAX 100000

typedef enum {
    MQUOTA_RES_BYTES = 0,
    MQUOTA_RES_MESSAGES,
} mquota_resource_e;

/* A root's usage of one resource in a state read from Redis. */
uint64_t mquota_usage_of(mquota_role_e role, const mtr_quota_state_t *state,
                         mquota_resource_e res);

/*
 * 1 if a root of this role applies a transaction's change to Redis:
 * always for the user root; for the pool root only when the user has no
 * Mortar user root (one update moves both counters).
 */
int mquota_root_writes(mquota_role_e role, int has_user_root);

/* What a recalculation does at one root (a bit set). */
#define MQUOTA_RECALC_USER 0x1 /* count the mailboxes, set the user */
#define MQUOTA_RECALC_POOL 0x2 /* pool := sum of its users */

/*
 * The actions of a recalculation at a root of role.  forced: an explicit
 * `doveadm quota recalc` (as opposed to Dovecot recounting because it lost
 * the size of an expunged mail).  pool_done: the pool of this domain was
 * already re-summed by this process.  The user root recounts the user,
 * which also moves the pool by the difference; the pool root re-sums the
 * pool (forced only, once per domain and process: after it, every later
 * user recount keeps pool = sum of users), and recounts the user itself
 * when there is no user root.
 */
unsigned mquota_recalc_actions(mquota_role_e role, int has_user_root,
                               int forced, int pool_done);

/*
 * The policy of a user whose roots disagree: the strictest wins
 * (tempfail), so that no root counts a mail that another refuses.
 */
mquota_down_e mquota_down_merge(mquota_down_e a, mquota_down_e b);

/* 1 if a save must be refused when Redis cannot be reached, else 0. */
int mquota_refuse_when_down(mquota_down_e down);

/* ---- the per-user usage cache ------------------------------------------ */

typedef struct {
    int               valid;
    uint64_t          stamp; /* the caller's clock when stored */
    mtr_quota_state_t state;
} mquota_cache_t;

/* Store state read (or written) at time now. */
void mquota_cache_put(mquota_cache_t *c, const mtr_quota_state_t *state,
                      uint64_t now);

/*
 * MTR_OK with *state_r when c holds a state stored at exactly now (now 0
 * means "no clock": never cached); MTR_DECLINED otherwise.
 */
int mquota_cache_get(const mquota_cache_t *c, uint64_t now,
                     mtr_quota_state_t *state_r);

void mquota_cache_clear(mquota_cache_t *c);

/* ---- domains whose pool this process re-summed --------------------------- */

typedef struct mquota_domains_s mquota_domains_t;

/*
 * Remember key (a pool key, NUL-terminated).  *dp may be NULL (created on
 * first use).  Returns MTR_OK when key was new, MTR_DECLINED when already
 * there, MTR_ERROR (err set) when out of memory or past
 * MQUOTA_DOMAINS_MAX.
 */
int mquota_domains_add(mquota_domains_t **dp, const char *key, mtr_err_t *err);

/* 1 if key is remembered, else 0 (d may be NULL). */
int mquota_domains_has(const mquota_domains_t *d, const char *key);

/* Forget key (after a failed re-sum, so that the next recalc retries). */
void mquota_domains_remove(mquota_domains_t *d, const char *key);

void mquota_domains_destroy(mquota_domains_t **dp);

#endif /* MQUOTA_POLICY_H */
