/*
 * mpolicy.h -- the request-to-action core of mortar-policy: which checks
 * apply in which protocol state, in which order, and what happens when a
 * dependency fails.
 *
 * Only RCPT requests are judged; every other state (CONNECT, HELO, MAIL,
 * DATA, END-OF-MESSAGE, VRFY, ETRN) gets DUNNO.  At RCPT, in this order:
 *
 *   1. quota      the recipient is a Mortar user with a mailbox (not
 *                 forward-only): 552 5.2.2 when the message (the client's
 *                 SIZE=, or one byte without it) no longer fits the user's
 *                 bytes, the user's message count, or the domain pool.
 *                 Permanent, and decided first: no point greylisting or
 *                 counting a recipient that can never be accepted.
 *   2. greylist   unauthenticated clients only, recipient domains with
 *                 mortarGreylisting TRUE: DEFER_IF_PERMIT for a new
 *                 triplet, PREPEND X-Greylist on the first retry that
 *                 passes.
 *   3. rate       senders: an authenticated user (sasl_username) is
 *                 counted per user and per client address against the
 *                 user's limits (mortarRateLimit* on the mortarUser, else
 *                 on its mortarDomain); with rate_unauthenticated, mail
 *                 from an unauthenticated client with a sender in one of
 *                 our domains is counted per client address against the
 *                 domain's limits.  450 4.7.1 when over.  Last, so that
 *                 only recipients that pass everything else are counted.
 *
 * Failures: a directory or Redis error in one check is that check's
 * on_error setting: DUNNO (fail open, the default: mail flows, the check
 * is skipped) or DEFER (451 4.3.0, the client retries).  Either way a
 * warning is reported in the result for the glue to log.  Malformed
 * request values (an address too long for a key) skip that check with a
 * warning, never defer.
 *
 * Core: no I/O of its own -- the directory and Redis are reached through
 * the callbacks in mpolicy_ops_t, which the daemon implements over
 * libmortar and the unit tests with fakes.  Time is passed in.  Also here:
 * the settings cache the daemon puts in front of the directory.
 * Covered by tests/unit/test_mpolicy_core.c.
 */
#ifndef MPOLICY_H
#define MPOLICY_H

#include "mtr_core.h"
#include "mtr_quota.h"
#include "mpolicy_grey.h"
#include "mpolicy_proto.h"
#include "mpolicy_rate.h"

/* Bytes of an address looked up in the directory (64 + 1 + 255). */
#define MPOLICY_ADDR_MAX 320
/* Bytes of the instance attribute remembered per connection. */
#define MPOLICY_INSTANCE_MAX 64
/* Bytes of the decision note and of each warning in a result. */
#define MPOLICY_NOTE_MAX 512
#define MPOLICY_WARN_MAX 3

typedef enum {
    MPOLICY_ON_ERROR_DUNNO = 0, /* fail open */
    MPOLICY_ON_ERROR_DEFER,     /* 451 4.3.0 */
} mpolicy_on_error_e;

typedef struct {
    int                 quota; /* the checks, on or off */
    int                 rate;
    int                 greylist; /* still needs mortarGreylisting TRUE */
    int                 rate_unauthenticated;
    mpolicy_on_error_e  quota_on_error;
    mpolicy_on_error_e  rate_on_error;
    mpolicy_on_error_e  greylist_on_error;
    mpolicy_grey_conf_t grey;
    uint64_t            rate_window; /* MPOLICY_RATE_WINDOW */
} mpolicy_conf_t;

/* A mortarDomain as the checks need it. */
typedef struct {
    int                   found;
    char                  name[MTR_REDIS_DOMAIN_MAX + 1]; /* lowercased */
    uint64_t              pool_bytes;                     /* 0: no pool */
    mpolicy_rate_limits_t rate;
    int                   greylisting;
} mpolicy_domain_t;

/* A mortarUser as the checks need it. */
typedef struct {
    int                   found;
    char                  mail[MPOLICY_ADDR_MAX + 1]; /* its own address */
    uint64_t              quota_bytes;                /* 0: no limit */
    uint64_t              quota_messages;             /* 0: no limit */
    mpolicy_rate_limits_t rate;
    unsigned rate_set;     /* bit 0: messages set, bit 1: recipients set */
    int      forward_only; /* forwards and keeps no copy: no mailbox */
} mpolicy_user_t;

/*
 * The daemon's side.  Every callback returns MTR_OK or MTR_ERROR with err
 * set.  domain/user: a name that is not in the directory is MTR_OK with
 * found = 0, never an error.
 */
typedef struct {
    void *ctx;
    int (*domain)(void *ctx, mtr_str_t name, mpolicy_domain_t *d,
                  mtr_err_t *err);
    int (*user)(void *ctx, mtr_str_t address, mpolicy_user_t *u,
                mtr_err_t *err);
    int (*quota)(void *ctx, const char *user_key, const char *pool_key,
                 mtr_quota_state_t *st, mtr_err_t *err);
    int (*rate)(void *ctx, const mpolicy_rate_plan_t *plan,
                mpolicy_rate_result_t *res, mtr_err_t *err);
    int (*grey_get)(void *ctx, const mpolicy_grey_keys_t *k,
                    mpolicy_grey_state_t *st, mtr_err_t *err);
    int (*grey_put)(void *ctx, const mpolicy_grey_keys_t *k,
                    const mpolicy_grey_decision_t *d, mtr_err_t *err);
    /* Bump a statistics field; a failure is only logged. */
    int (*count)(void *ctx, mtr_str_t domain, const char *field,
                 mtr_err_t *err);
} mpolicy_ops_t;

/* Per connection: the MAIL transaction whose message was counted. */
typedef struct {
    char   instance[MPOLICY_INSTANCE_MAX];
    size_t instance_len;
} mpolicy_session_t;

typedef enum {
    MPOLICY_CHECK_NONE = 0,
    MPOLICY_CHECK_QUOTA,
    MPOLICY_CHECK_GREYLIST,
    MPOLICY_CHECK_RATE,
} mpolicy_check_e;

typedef struct {
    char            action[MPOLICY_ACTION_MAX + 1]; /* "DUNNO", "552 ..." */
    mpolicy_check_e decided_by; /* NONE: DUNNO or a failure's default */
    char            note[MPOLICY_NOTE_MAX]; /* the decision, for NOTICE */
    size_t          nwarn;
    char            warn[MPOLICY_WARN_MAX][MTR_ERR_MAX]; /* for WARN */
} mpolicy_result_t;

/* Checks on, fail open, postgrey's greylisting defaults. */
void mpolicy_conf_default(mpolicy_conf_t *conf);

/*
 * Judge one request at time now and fill *res (never fails: the worst
 * case is an on_error action).  session may be NULL (no message counting
 * across requests: every RCPT then counts as a new message).
 */
void mpolicy_decide(const mpolicy_conf_t *conf, const mpolicy_ops_t *ops,
                    mpolicy_session_t *session, const mpolicy_request_t *req,
                    int64_t now, mpolicy_result_t *res);

/* "dunno" / "defer" to mpolicy_on_error_e; MTR_ERROR for anything else. */
int mpolicy_on_error_parse(const char *s, mpolicy_on_error_e *v_r);

/*
 * Directory values: a decimal attribute value (NULL: absent) as a limit.
 * Absent, malformed or negative values are 0, "no limit"; *set_r (may be
 * NULL) tells absent (0) from present (1).  Booleans: "TRUE" is 1.
 */
uint64_t mpolicy_ldap_uint(const char *value, int *set_r);
int      mpolicy_ldap_bool(const char *value);

/* ---- settings cache --------------------------------------------------- */

/*
 * A bounded cache of fixed-size values (domain and user settings) with a
 * freshness TTL.  Entries older than the TTL are still returned as stale
 * -- the daemon serves them when the directory is down -- until they are
 * older than stale_max.  When full, stale entries are dropped first, and
 * if none are, everything is (the directory refills it at the TTL's pace).
 * Not thread-safe: the daemon holds a lock around each call.
 */
typedef struct mpolicy_cache_s mpolicy_cache_t;

#define MPOLICY_CACHE_KEY_MAX (MPOLICY_ADDR_MAX + 2)

int  mpolicy_cache_create(mpolicy_cache_t **cp, size_t max_entries,
                          size_t value_size, uint64_t ttl, uint64_t stale_max,
                          mtr_err_t *err);
void mpolicy_cache_destroy(mpolicy_cache_t **cp);

/*
 * MTR_OK: fresh hit, value copied; MTR_AGAIN: stale hit, value copied;
 * MTR_DECLINED: miss (or too old).
 */
int mpolicy_cache_get(mpolicy_cache_t *c, const char *key, size_t klen,
                      int64_t now, void *value);

/* Insert or replace.  MTR_ERROR only for a key over the cap or no memory. */
int mpolicy_cache_put(mpolicy_cache_t *c, const char *key, size_t klen,
                      int64_t now, const void *value);

/* Drop everything (SIGHUP). */
void   mpolicy_cache_flush(mpolicy_cache_t *c);
size_t mpolicy_cache_count(const mpolicy_cache_t *c);

#endif /* MPOLICY_H */
