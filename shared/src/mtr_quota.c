/*
 * mtr_quota.c -- quota usage in Redis (one layout for Dovecot and Postfix)
 * and the pure fits-or-not decision.
 *
 * Core: no logging.  mtr_quota_keys/check/reason are pure; get, update and
 * set are one Lua script each through mtr_redis_eval (set_pool is a plain
 * HSET), so every change to a user and its pool is atomic, also on a Redis
 * Cluster (both keys share the domain's hash tag).  Every script answers
 * the same four integers, {user bytes, user messages, pool bytes, pool
 * messages}, parsed by one function.
 * Covered by tests/unit/test_mtr_quota.c (mtr_redis mocked with -Wl,--wrap).
 */
#include <stdio.h>
#include <string.h>

#include "mtr_quota.h"

/*
 * Fields read as integers; an absent field or a value below zero (written
 * by hand: our scripts never store one) reads as 0, so a repair never has
 * to start from a negative number.
 */
#define MTR_QUOTA_LUA_READ                                                     \
    "local function rd(k, f)\n"                                                \
    "  local v = tonumber(redis.call('HGET', k, f) or '0') or 0\n"             \
    "  if v < 0 then return 0 end\n"                                           \
    "  return v\n"                                                             \
    "end\n"

/* KEYS[1] user, KEYS[2] pool. */
static const char mtr_quota_lua_get[] = MTR_QUOTA_LUA_READ
    "return {rd(KEYS[1], 'bytes'), rd(KEYS[1], 'messages'),\n"
    "        rd(KEYS[2], 'bytes'), rd(KEYS[2], 'messages')}\n";

/*
 * KEYS[1] user, KEYS[2] pool; ARGV[1] bytes delta, ARGV[2] messages delta.
 * The user is clamped at zero first, and the pool moves by what the user
 * really moved: a delete counted twice frees nothing twice, and the pool
 * stays the sum of its users.
 */
static const char mtr_quota_lua_update[] = MTR_QUOTA_LUA_READ
    "local out = {}\n"
    "for i, f in ipairs({'bytes', 'messages'}) do\n"
    "  local d = tonumber(ARGV[i])\n"
    "  if d == nil then return redis.error_reply('ERR bad delta') end\n"
    "  local u = rd(KEYS[1], f)\n"
    "  local nu = u + d\n"
    "  if nu < 0 then nu = 0 end\n"
    "  local p = rd(KEYS[2], f)\n"
    "  local np = p + (nu - u)\n"
    "  if np < 0 then np = 0 end\n"
    "  redis.call('HSET', KEYS[1], f, string.format('%d', nu))\n"
    "  redis.call('HSET', KEYS[2], f, string.format('%d', np))\n"
    "  out[i] = nu\n"
    "  out[i + 2] = np\n"
    "end\n"
    "return {out[1], out[2], out[3], out[4]}\n";

/*
 * KEYS[1] user, KEYS[2] pool; ARGV[1] counted bytes, ARGV[2] counted
 * messages.  The user is set outright, the pool moved by the difference.
 */
static const char mtr_quota_lua_set_user[] = MTR_QUOTA_LUA_READ
    "local out = {}\n"
    "for i, f in ipairs({'bytes', 'messages'}) do\n"
    "  local nu = tonumber(ARGV[i])\n"
    "  if nu == nil or nu < 0 then\n"
    "    return redis.error_reply('ERR bad count')\n"
    "  end\n"
    "  local u = rd(KEYS[1], f)\n"
    "  local np = rd(KEYS[2], f) + (nu - u)\n"
    "  if np < 0 then np = 0 end\n"
    "  redis.call('HSET', KEYS[1], f, string.format('%d', nu))\n"
    "  redis.call('HSET', KEYS[2], f, string.format('%d', np))\n"
    "  out[i] = nu\n"
    "  out[i + 2] = np\n"
    "end\n"
    "return {out[1], out[2], out[3], out[4]}\n";

/*
 * Lua numbers are doubles: counts are exact up to 2^53 (8 PiB), far above
 * any mailbox; larger deltas are refused before they reach Redis.
 */
#define MTR_QUOTA_DELTA_MAX ((int64_t) 1 << 53)

static int mtr_quota_run(mtr_redis_t *r, const char *source,
                         const char *user_key, const char *pool_key,
                         const char *a1, const char *a2,
                         mtr_quota_state_t *state_r, const char *what,
                         mtr_err_t *err);
static int mtr_quota_check_key(const char *key, const char *what,
                               mtr_err_t *err);

int
mtr_quota_keys(const char *address, size_t len, char *user_key,
               size_t user_size, char *pool_key, size_t pool_size,
               mtr_err_t *err)
{
    const char   *at = NULL;
    size_t        i, llen, dlen;
    unsigned char c;
    /* "user:" + local part, lowercased. */
    char      rest[sizeof("user:") - 1 + MTR_QUOTA_LOCAL_MAX];
    mtr_str_t domain, tail;

    if (user_key != NULL && user_size != 0) {
        user_key[0] = '\0';
    }

    if (pool_key != NULL && pool_size != 0) {
        pool_key[0] = '\0';
    }

    if (address == NULL || len == 0) {
        return mtr_err_set(err, "quota: empty address");
    }

    for (i = 0; i < len; i++) {
        c = (unsigned char) address[i];

        if (c < 0x20 || c > 0x7e) {
            return mtr_err_set(err, "quota: address holds byte 0x%02x", c);
        }

        if (c == '@') {
            if (at != NULL) {
                return mtr_err_set(err, "quota: address holds two '@'");
            }
            at = address + i;
        }
    }

    if (at == NULL) {
        return mtr_err_set(err, "quota: address without '@'");
    }

    llen = (size_t) (at - address);
    dlen = len - llen - 1;

    if (llen == 0 || dlen == 0) {
        return mtr_err_set(err, "quota: empty %s in address",
                           llen == 0 ? "local part" : "domain");
    }

    if (llen > MTR_QUOTA_LOCAL_MAX) {
        return mtr_err_set(err, "quota: local part longer than %d bytes",
                           MTR_QUOTA_LOCAL_MAX);
    }

    if (dlen > MTR_QUOTA_DOMAIN_MAX) {
        return mtr_err_set(err, "quota: domain longer than %d bytes",
                           MTR_QUOTA_DOMAIN_MAX);
    }

    memcpy(rest, "user:", sizeof("user:") - 1);
    for (i = 0; i < llen; i++) {
        c = (unsigned char) address[i];
        rest[sizeof("user:") - 1 + i] =
            (char) ((c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c);
    }

    domain.data = at + 1;
    domain.len = dlen;
    tail.data = rest;
    tail.len = sizeof("user:") - 1 + llen;

    /* mtr_redis_key lowercases the domain and refuses braces and blanks. */
    if (mtr_redis_key(user_key, user_size, "quota", domain, tail, NULL, err)
        != MTR_OK)
    {
        return MTR_ERROR;
    }

    tail.data = "pool";
    tail.len = sizeof("pool") - 1;

    if (mtr_redis_key(pool_key, pool_size, "quota", domain, tail, NULL, err)
        != MTR_OK)
    {
        if (user_key != NULL && user_size != 0) {
            user_key[0] = '\0';
        }
        return MTR_ERROR;
    }

    return MTR_OK;
}

mtr_quota_verdict_e
mtr_quota_check(const mtr_quota_limits_t *limits,
                const mtr_quota_state_t *state, uint64_t size)
{
    /* used + size > limit, written so that neither side can overflow. */
    if (limits->user_bytes != 0
        && (size > limits->user_bytes
            || state->user.bytes > limits->user_bytes - size))
    {
        return MTR_QUOTA_OVER_USER_BYTES;
    }

    /* One more message: used + 1 > limit. */
    if (limits->user_messages != 0
        && state->user.messages >= limits->user_messages) {
        return MTR_QUOTA_OVER_USER_MESSAGES;
    }

    if (limits->pool_bytes != 0
        && (size > limits->pool_bytes
            || state->pool.bytes > limits->pool_bytes - size))
    {
        return MTR_QUOTA_OVER_POOL_BYTES;
    }

    return MTR_QUOTA_FITS;
}

const char *
mtr_quota_reason(mtr_quota_verdict_e verdict)
{
    switch (verdict) {
    case MTR_QUOTA_FITS:
        return "fits";
    case MTR_QUOTA_OVER_USER_BYTES:
        return "mailbox full";
    case MTR_QUOTA_OVER_USER_MESSAGES:
        return "too many messages in mailbox";
    case MTR_QUOTA_OVER_POOL_BYTES:
        return "domain storage pool full";
    }

    return "unknown quota verdict";
}

int
mtr_quota_get(mtr_redis_t *r, const char *user_key, const char *pool_key,
              mtr_quota_state_t *state_r, mtr_err_t *err)
{
    return mtr_quota_run(r, mtr_quota_lua_get, user_key, pool_key, NULL, NULL,
                         state_r, "get", err);
}

int
mtr_quota_update(mtr_redis_t *r, const char *user_key, const char *pool_key,
                 int64_t dbytes, int64_t dmessages, mtr_quota_state_t *state_r,
                 mtr_err_t *err)
{
    char a1[24], a2[24];

    if (state_r != NULL) {
        memset(state_r, 0, sizeof(*state_r));
    }

    if (dbytes > MTR_QUOTA_DELTA_MAX || dbytes < -MTR_QUOTA_DELTA_MAX
        || dmessages > MTR_QUOTA_DELTA_MAX || dmessages < -MTR_QUOTA_DELTA_MAX)
    {
        return mtr_err_set(err, "quota update: delta out of range");
    }

    snprintf(a1, sizeof(a1), "%lld", (long long) dbytes);
    snprintf(a2, sizeof(a2), "%lld", (long long) dmessages);

    return mtr_quota_run(r, mtr_quota_lua_update, user_key, pool_key, a1, a2,
                         state_r, "update", err);
}

int
mtr_quota_set_user(mtr_redis_t *r, const char *user_key, const char *pool_key,
                   const mtr_quota_usage_t *counted, mtr_quota_state_t *state_r,
                   mtr_err_t *err)
{
    char a1[24], a2[24];

    if (state_r != NULL) {
        memset(state_r, 0, sizeof(*state_r));
    }

    if (counted == NULL) {
        return mtr_err_set(err, "quota set: no usage");
    }

    if (counted->bytes > (uint64_t) MTR_QUOTA_DELTA_MAX
        || counted->messages > (uint64_t) MTR_QUOTA_DELTA_MAX)
    {
        return mtr_err_set(err, "quota set: usage out of range");
    }

    snprintf(a1, sizeof(a1), "%llu", (unsigned long long) counted->bytes);
    snprintf(a2, sizeof(a2), "%llu", (unsigned long long) counted->messages);

    return mtr_quota_run(r, mtr_quota_lua_set_user, user_key, pool_key, a1, a2,
                         state_r, "set", err);
}

int
mtr_quota_set_pool(mtr_redis_t *r, const char *pool_key,
                   const mtr_quota_usage_t *total, mtr_err_t *err)
{
    const char *argv[6];
    size_t      argvlen[6];
    char        b[24], m[24];
    int         i;

    if (total == NULL) {
        return mtr_err_set(err, "quota set pool: no usage");
    }

    if (mtr_quota_check_key(pool_key, "set pool", err) != MTR_OK) {
        return MTR_ERROR;
    }

    if (total->bytes > (uint64_t) MTR_QUOTA_DELTA_MAX
        || total->messages > (uint64_t) MTR_QUOTA_DELTA_MAX)
    {
        return mtr_err_set(err, "quota set pool: usage out of range");
    }

    snprintf(b, sizeof(b), "%llu", (unsigned long long) total->bytes);
    snprintf(m, sizeof(m), "%llu", (unsigned long long) total->messages);

    argv[0] = "HSET";
    argv[1] = pool_key;
    argv[2] = "bytes";
    argv[3] = b;
    argv[4] = "messages";
    argv[5] = m;

    for (i = 0; i < 6; i++) {
        argvlen[i] = strlen(argv[i]);
    }

    return mtr_redis_argv(r, 6, argv, argvlen, NULL, err);
}

static int
mtr_quota_check_key(const char *key, const char *what, mtr_err_t *err)
{
    if (key == NULL || key[0] == '\0') {
        return mtr_err_set(err, "quota %s: no key", what);
    }

    if (strlen(key) > MTR_QUOTA_KEY_MAX) {
        return mtr_err_set(err, "quota %s: key longer than %d bytes", what,
                           MTR_QUOTA_KEY_MAX);
    }

    return MTR_OK;
}

/*
 * Run one of our scripts on (user, pool[, a1, a2]) and parse its four
 * integers.  Each thread keeps its own copy of the three script structs
 * (mtr_redis_script_t is written to when the SHA is learnt), so the
 * scripts are loaded once per thread and run with EVALSHA afterwards; the
 * SHA1 of a source is the same on every Redis server, and a server that
 * lost it answers NOSCRIPT, which mtr_redis_eval handles.
 */
static int
mtr_quota_run(mtr_redis_t *r, const char *source, const char *user_key,
              const char *pool_key, const char *a1, const char *a2,
              mtr_quota_state_t *state_r, const char *what, mtr_err_t *err)
{
    static _Thread_local mtr_redis_script_t scripts[3];
    mtr_redis_script_t                     *script;
    redisReply                             *reply;
    const char                             *argv[4];
    size_t                                  argvlen[4];
    uint64_t                                v[4];
    int                                     argc, i;

    if (state_r != NULL) {
        memset(state_r, 0, sizeof(*state_r));
    }

    if (r == NULL) {
        return mtr_err_set(err, "quota %s: no Redis client", what);
    }

    if (mtr_quota_check_key(user_key, what, err) != MTR_OK
        || mtr_quota_check_key(pool_key, what, err) != MTR_OK)
    {
        return MTR_ERROR;
    }

    if (source == mtr_quota_lua_get) {
        script = &scripts[0];
    } else if (source == mtr_quota_lua_update) {
        script = &scripts[1];
    } else {
        script = &scripts[2];
    }

    if (script->source != source) {
        script->source = source;
        script->sha[0] = '\0';
    }

    argv[0] = user_key;
    argvlen[0] = strlen(user_key);
    argv[1] = pool_key;
    argvlen[1] = strlen(pool_key);
    argc = 2;

    if (a1 != NULL) {
        argv[2] = a1;
        argvlen[2] = strlen(a1);
        argv[3] = a2;
        argvlen[3] = strlen(a2);
        argc = 4;
    }

    if (mtr_redis_eval(r, script, 2, argc, argv, argvlen, &reply, err)
        != MTR_OK) {
        return MTR_ERROR;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 4) {
        if (reply != NULL) {
            freeReplyObject(reply);
        }
        return mtr_err_set(err, "quota %s: unexpected reply from Redis", what);
    }

    for (i = 0; i < 4; i++) {
        const redisReply *e = reply->element[i];

        if (e == NULL || e->type != REDIS_REPLY_INTEGER || e->integer < 0) {
            freeReplyObject(reply);
            return mtr_err_set(err, "quota %s: unexpected reply from Redis",
                               what);
        }

        v[i] = (uint64_t) e->integer;
    }

    freeReplyObject(reply);

    if (state_r != NULL) {
        state_r->user.bytes = v[0];
        state_r->user.messages = v[1];
        state_r->pool.bytes = v[2];
        state_r->pool.messages = v[3];
    }

    return MTR_OK;
}
