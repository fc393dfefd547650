/*
 * mtr_redis.h -- blocking Redis client of libmortar over hiredis.
 *
 * Core: no logging, errors in a caller-owned mtr_err_t.  Written against
 * Debian 12's libhiredis 0.14 (RESP2 replies only).  One mtr_redis_t wraps
 * one hiredis context and must be used by one thread at a time (milter:
 * one per thread; nginx: inside a thread-pool task).  It connects lazily,
 * and after an I/O error or a timeout it throws the context away and
 * reconnects on the NEXT call.  A failed command is never resent: it may
 * have reached Redis and been applied (INCRBY twice is a wrong quota), so
 * retrying is the caller's decision.
 *
 * Build commands with hiredis' %b (pointer + length) or with the argv
 * form, never by splicing text with %s: a key or value from the wire could
 * otherwise smuggle arguments.  Keys come from mtr_redis_key().
 *
 * Covered by tests/unit/test_mtr_redis.c (hiredis mocked at link time).
 */
#ifndef MTR_REDIS_H
#define MTR_REDIS_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "mtr_core.h"

/* Used when mtr_redis_opts_t.timeout_ms / port is 0 and host is NULL. */
#define MTR_REDIS_TIMEOUT_DEFAULT 1000
#define MTR_REDIS_PORT_DEFAULT    6379
#define MTR_REDIS_HOST_DEFAULT    "127.0.0.1"

/* Longest domain accepted by mtr_redis_key() (a DNS name is at most 253). */
#define MTR_REDIS_DOMAIN_MAX 253

/* Every key starts with this. */
#define MTR_REDIS_KEY_PREFIX "mortar:"

typedef struct mtr_redis_s mtr_redis_t;

typedef struct {
    const char *host;       /* NULL: MTR_REDIS_HOST_DEFAULT */
    int         port;       /* 0: MTR_REDIS_PORT_DEFAULT */
    const char *unix_path;  /* used instead of host/port when set */
    const char *password;   /* AUTH when non-NULL */
    int         db;         /* SELECT when not 0 */
    int         timeout_ms; /* connect and per-command timeout; 0: default */
} mtr_redis_opts_t;

/*
 * A Lua script run with EVALSHA.  sha caches the SHA1 hex digest Redis
 * returned for SCRIPT LOAD ("" until then); mtr_redis_eval() fills and
 * refreshes it, so the struct is written to: give each thread its own
 * copy, or fill sha before the threads start and never let it go stale.
 * Declare with MTR_REDIS_SCRIPT("return 1").
 */
typedef struct {
    const char *source;
    char        sha[41];
} mtr_redis_script_t;

#define MTR_REDIS_SCRIPT(src)                                                  \
    {                                                                          \
        (src), ""                                                              \
    }

/*
 * Create a client; no connection is made until the first command.  The
 * strings in opts are copied (the password is wiped on destroy).  Returns
 * MTR_OK with *rp set, or MTR_ERROR with err set (bad port, db or timeout,
 * out of memory).
 */
int mtr_redis_create(mtr_redis_t **rp, const mtr_redis_opts_t *opts,
                     mtr_err_t *err);

/* Close the connection if any, wipe the password, free, set *rp to NULL. */
void mtr_redis_destroy(mtr_redis_t **rp);

/*
 * Run one command built from a hiredis format (%b for binary-safe
 * arguments, %s only for literals of ours), connecting first if needed
 * (connect, redisSetTimeout, AUTH, SELECT; a failure there is MTR_ERROR
 * and the command is not sent).
 *
 * Returns MTR_OK with the reply in *reply_r (free it with
 * freeReplyObject(); reply_r may be NULL to discard it).  A Redis error
 * reply is MTR_ERROR with Redis's message in err: the reply is freed,
 * *reply_r is NULL and the connection stays usable.  An I/O error or a
 * timeout is MTR_ERROR: the connection is closed and the next call
 * reconnects; the failed command is NOT resent (it may have been applied).
 */
int mtr_redis_command(mtr_redis_t *r, redisReply **reply_r, mtr_err_t *err,
                      const char *fmt, ...);

/* Same contract, with argc arguments given as pointer + length pairs. */
int mtr_redis_argv(mtr_redis_t *r, int argc, const char **argv,
                   const size_t *argvlen, redisReply **reply_r, mtr_err_t *err);

/*
 * Run script with EVALSHA: the first numkeys of the argc arguments are
 * keys, the rest ARGV.  When script->sha is unknown, or Redis answers
 * NOSCRIPT (restart, SCRIPT FLUSH), the source is sent with SCRIPT LOAD
 * and EVALSHA is sent again -- once: a second NOSCRIPT is an error.
 * NOSCRIPT means the script did not run, so that resend is safe; an I/O
 * error is never resent.  Replies and errors as for mtr_redis_command().
 */
int mtr_redis_eval(mtr_redis_t *r, mtr_redis_script_t *script, int numkeys,
                   int argc, const char **argv, const size_t *argvlen,
                   redisReply **reply_r, mtr_err_t *err);

/*
 * Build the key "mortar:<area>:{<domain>}:<rest>" into buf (size bytes,
 * NUL-terminated), or "mortar:<area>:{<domain>}" when rest is empty.  The
 * braces are a Redis Cluster hash tag, so all keys of one domain live in
 * one slot and one script may touch them together.
 *
 * area: a NUL-terminated name of ours ("quota", "ratelimit"), not empty,
 * printable ASCII without ':', '{', '}' or spaces.  domain: 1 to
 * MTR_REDIS_DOMAIN_MAX bytes, copied lowercased (ASCII); '{', '}', NUL,
 * whitespace or any other control byte is an error.  rest: any bytes but
 * NUL (Redis keys are binary-safe; pass the result with %b and *len_r).
 * *len_r (may be NULL) receives the length.  A buffer too small is
 * MTR_ERROR, never a cut key.
 */
int mtr_redis_key(char *buf, size_t size, const char *area, mtr_str_t domain,
                  mtr_str_t rest, size_t *len_r, mtr_err_t *err);

#endif /* MTR_REDIS_H */
