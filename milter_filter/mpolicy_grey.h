/*
 * mpolicy_grey.h -- greylisting of mortar-policy, with postgrey's rules
 * and defaults.
 *
 * A triplet is (client network, sender, recipient): the client's /24
 * (IPv4) or /64 (IPv6), the sender lowercased with its +extension dropped
 * and digit runs between word boundaries replaced by '#' (VERP and
 * bounce-tracking senders then make one triplet, as in postgrey), and the
 * recipient lowercased.  A new triplet is deferred; a retry at least
 * `delay` seconds after the first attempt, but within `retry_window`,
 * passes, and the triplet then passes at once for `max_age` seconds after
 * it was last seen.  A client network that passed `auto_allow` retries
 * passes for every recipient of that domain from then on (postgrey's
 * --auto-whitelist-clients).
 *
 * Keys (hash tag: the recipient's domain):
 *
 *   mortar:grey:{<domain>}:t:<net>/<sender>/<recipient>
 *        hash: first, last (unix seconds), passed (0/1)
 *   mortar:grey:{<domain>}:c:<net>
 *        hash: n (successful retries), t (last update)
 *   mortar:policy:{<domain>}:stats   grey_deferred, grey_passed
 *
 * One script reads a triplet and its client; the pure decision is made
 * here with the time passed in; one script writes the outcome, only when
 * something changed (a known triplet is written at most once an hour).
 * Read and write are two round trips, not one atomic step: two retries of
 * one triplet racing each other can both pass and count the client twice,
 * which postgrey's own database allows too and which lets no mail through
 * that a retry would not have let through anyway.
 *
 * Core: keys and decision pure; get/put thin calls through mtr_redis.
 * Covered by tests/unit/test_mpolicy_grey.c.
 */
#ifndef MPOLICY_GREY_H
#define MPOLICY_GREY_H

#include "mtr_core.h"
#include "mtr_redis.h"

/* postgrey's defaults. */
#define MPOLICY_GREY_DELAY        300
#define MPOLICY_GREY_RETRY_WINDOW (2 * 86400)
#define MPOLICY_GREY_MAX_AGE      (35 * 86400)
#define MPOLICY_GREY_AUTO_ALLOW   5

/* A known triplet or client is written again after this many seconds. */
#define MPOLICY_GREY_REFRESH 3600

/* Bytes of a sender or recipient address (RFC 5321: 64 + 1 + 255). */
#define MPOLICY_GREY_ADDR_MAX 320
/* Bytes of a client address as Postfix sends it. */
#define MPOLICY_GREY_CLIENT_MAX 64
/* "mortar:grey:{" domain "}:t:" net "/" sender "/" recipient, rounded up. */
#define MPOLICY_GREY_KEY_MAX                                                   \
    (16 + MTR_REDIS_DOMAIN_MAX + 4 + MPOLICY_GREY_CLIENT_MAX                   \
     + 2 * (MPOLICY_GREY_ADDR_MAX + 1) + 16) /* @UNSAFE */

typedef struct {
    uint64_t delay;        /* seconds before a retry may pass */
    uint64_t retry_window; /* seconds after the first attempt a retry counts */
    uint64_t max_age;      /* seconds a passed triplet or client is kept */
    uint64_t auto_allow;   /* retries before a client passes; 0: never */
} mpolicy_grey_conf_t;

typedef struct {
    int64_t  first;  /* first attempt; 0: triplet unknown */
    int64_t  last;   /* last write */
    int      passed; /* the triplet passed once */
    uint64_t client_count;
    int64_t  client_last;
} mpolicy_grey_state_t;

typedef enum {
    MPOLICY_GREY_NEW = 0, /* defer: first attempt */
    MPOLICY_GREY_EARLY,   /* defer: retried before the delay */
    MPOLICY_GREY_EXPIRED, /* defer: retried after the retry window */
    MPOLICY_GREY_RETRY,   /* pass: first successful retry */
    MPOLICY_GREY_KNOWN,   /* pass: the triplet passed before */
    MPOLICY_GREY_CLIENT,  /* pass: the client network is auto-allowed */
} mpolicy_grey_verdict_e;

typedef enum {
    MPOLICY_GREY_CLIENT_KEEP = 0,
    MPOLICY_GREY_CLIENT_BUMP,    /* one more successful retry */
    MPOLICY_GREY_CLIENT_REFRESH, /* only move its expiry */
} mpolicy_grey_client_e;

typedef struct {
    mpolicy_grey_verdict_e verdict;
    int                    write_triplet; /* store next.first/last/passed */
    mpolicy_grey_state_t   next;
    uint64_t               triplet_ttl;
    mpolicy_grey_client_e  client;
    uint64_t               client_ttl;
    const char            *stat;   /* statistics field to bump, or NULL */
    uint64_t               waited; /* RETRY: seconds since the first attempt */
    uint64_t wait; /* NEW/EARLY/EXPIRED: seconds before a retry passes */
} mpolicy_grey_decision_t;

typedef struct {
    char triplet[MPOLICY_GREY_KEY_MAX + 1];
    char client[MPOLICY_GREY_KEY_MAX + 1];
    char stats[MPOLICY_GREY_KEY_MAX + 1];
} mpolicy_grey_keys_t;

/* postgrey's defaults. */
void mpolicy_grey_conf_default(mpolicy_grey_conf_t *conf);

/* 1 when the verdict defers the recipient. */
int mpolicy_grey_defers(mpolicy_grey_verdict_e verdict);

/* The short name of a verdict for logs ("new", "early", ...). */
const char *mpolicy_grey_name(mpolicy_grey_verdict_e verdict);

/*
 * Decide for state at time now.  Pure.  A clock that went back (now
 * before first) is an early retry, never a pass.
 */
void mpolicy_grey_decide(const mpolicy_grey_conf_t  *conf,
                         const mpolicy_grey_state_t *state, int64_t now,
                         mpolicy_grey_decision_t *d);

/*
 * The client network of a Postfix client_address, NUL-terminated into buf:
 * "192.0.2" for 192.0.2.55, the first four groups in full for IPv6
 * ("2001:0db8:0000:0001").  Anything else (Postfix sends "unknown" when it
 * has no address) is copied as it is, lowercased.  MTR_ERROR on a value
 * longer than MPOLICY_GREY_CLIENT_MAX or with bytes outside printable
 * ASCII.
 */
int mpolicy_grey_net(mtr_str_t client, char *buf, size_t size, mtr_err_t *err);

/*
 * The sender as postgrey keys it (see above), NUL-terminated into buf.
 * An empty sender (a bounce) stays empty.  MTR_ERROR when longer than
 * MPOLICY_GREY_ADDR_MAX or not printable ASCII.
 */
int mpolicy_grey_sender(mtr_str_t sender, char *buf, size_t size,
                        mtr_err_t *err);

/*
 * All keys for one request.  domain: the recipient's domain as the
 * directory names it (the hash tag).
 */
int mpolicy_grey_keys(mpolicy_grey_keys_t *k, mtr_str_t domain,
                      mtr_str_t client, mtr_str_t sender, mtr_str_t recipient,
                      mtr_err_t *err);

/* Read the triplet and its client (one EVALSHA; absent fields are 0). */
int mpolicy_grey_get(mtr_redis_t *r, mtr_redis_script_t *script,
                     const mpolicy_grey_keys_t *k, mpolicy_grey_state_t *st,
                     mtr_err_t *err);

/* Write a decision (one EVALSHA); nothing is sent when nothing changes. */
int mpolicy_grey_put(mtr_redis_t *r, mtr_redis_script_t *script,
                     const mpolicy_grey_keys_t     *k,
                     const mpolicy_grey_decision_t *d, mtr_err_t *err);

/* 1 when mpolicy_grey_put would send anything. */
int mpolicy_grey_needs_put(const mpolicy_grey_decision_t *d);

extern const char mpolicy_grey_get_lua[];
extern const char mpolicy_grey_put_lua[];

#endif /* MPOLICY_GREY_H */
