/*
 * mpolicy_rate.c -- sliding-window rate limits: key plan, weights and the
 * check-and-count Lua script.
 *
 * Core: the plan is pure (time passed in); the script does the one thing
 * that must be atomic, comparing every touched counter with its limit and
 * counting only when all of them allow.  mpolicy_rate_allow() is that same
 * comparison in C, kept next to the script so a change to one shows in
 * the other.  Covered by tests/unit/test_mpolicy_rate.c.
 */
#include <stdio.h>
#include <string.h>

#include "mpolicy_rate.h"

/*
 * KEYS[1] the domain's statistics hash, then (current, previous) window
 * pairs: the user's, then the client's.  ARGV: weight (per mille), message
 * cost, recipient cost, message limit, recipient limit, TTL.  Returns
 * {0, 0} when counted, or {n, estimate} for the first counter over its
 * limit, n = 2 x subject + field (1 messages, 2 recipients).
 *
 * Integer arithmetic in doubles: exact below 2^53, so limits are capped
 * far below that by the caller.
 */
const char mpolicy_rate_lua[] =
    "local w = tonumber(ARGV[1])\n"
    "local cost = {tonumber(ARGV[2]), tonumber(ARGV[3])}\n"
    "local limit = {tonumber(ARGV[4]), tonumber(ARGV[5])}\n"
    "local fields = {'m', 'r'}\n"
    "for i = 2, #KEYS, 2 do\n"
    "  for j = 1, 2 do\n"
    "    if limit[j] > 0 and cost[j] > 0 then\n"
    "      local f = fields[j]\n"
    "      local cur = tonumber(redis.call('HGET', KEYS[i], f) or '0') or 0\n"
    "      local prev = tonumber(redis.call('HGET', KEYS[i + 1], f) or '0') or "
    "0\n"
    "      local est = math.floor((prev * w) / 1000) + cur\n"
    "      if est + cost[j] > limit[j] then\n"
    "        redis.call('HINCRBY', KEYS[1], 'rate_deferred', 1)\n"
    "        return {i - 2 + j, est}\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "for i = 2, #KEYS, 2 do\n"
    "  for j = 1, 2 do\n"
    "    if limit[j] > 0 and cost[j] > 0 then\n"
    "      redis.call('HINCRBY', KEYS[i], fields[j], cost[j])\n"
    "    end\n"
    "  end\n"
    "  redis.call('EXPIRE', KEYS[i], ARGV[6])\n"
    "end\n"
    "return {0, 0}\n";

/* Limits above this are treated as "no limit" (see the script's note). */
#define MPOLICY_RATE_LIMIT_MAX ((uint64_t) 1 << 40)

mpolicy_rate_limits_t
mpolicy_rate_effective(const mpolicy_rate_limits_t *dom,
                       const mpolicy_rate_limits_t *user, unsigned user_set)
{
    mpolicy_rate_limits_t l = { 0, 0 };

    if (dom != NULL) {
        l = *dom;
    }

    if (user != NULL && (user_set & 1)) {
        l.messages = user->messages;
    }

    if (user != NULL && (user_set & 2)) {
        l.recipients = user->recipients;
    }

    if (l.messages > MPOLICY_RATE_LIMIT_MAX) {
        l.messages = 0;
    }

    if (l.recipients > MPOLICY_RATE_LIMIT_MAX) {
        l.recipients = 0;
    }

    return l;
}

unsigned
mpolicy_rate_weight(int64_t now, uint64_t window)
{
    uint64_t elapsed;

    if (window == 0 || now < 0) {
        return 0;
    }

    elapsed = (uint64_t) now % window;

    /* At the start of a window all of the previous one still counts. */
    return (unsigned) (1000 - (elapsed * 1000) / window);
}

int
mpolicy_rate_allow(uint64_t prev, uint64_t cur, unsigned weight, uint64_t cost,
                   uint64_t limit, uint64_t *estimate_r)
{
    uint64_t est;

    /* Same formula as the script: floor(prev * w / 1000) + cur. */
    est = (prev / 1000) * weight + ((prev % 1000) * weight) / 1000 + cur;
    *estimate_r = est;

    if (limit == 0 || cost == 0) {
        return 1;
    }

    return est + cost <= limit;
}

static int
mpolicy_rate_key(char *buf, mtr_str_t domain, const char *kind, mtr_str_t id,
                 uint64_t window_no, mtr_err_t *err)
{
    char      rest[8 + MPOLICY_RATE_ADDR_MAX + 24];
    mtr_str_t tail;
    int       n;
    size_t    i;

    /* Both caps are 64 bytes: one test serves local parts and addresses. */
    if (id.len > MPOLICY_RATE_ADDR_MAX || id.len > MPOLICY_RATE_LOCAL_MAX) {
        return mtr_err_set(err, "rate: %s longer than %d bytes", kind,
                           MPOLICY_RATE_LOCAL_MAX);
    }

    for (i = 0; i < id.len; i++) {
        unsigned char c = (unsigned char) id.data[i];

        if (c <= ' ' || c >= 0x7f) {
            return mtr_err_set(err, "rate: byte 0x%02x in %s", c, kind);
        }
    }

    /* @UNSAFE: kind (2 bytes) + ':' + id (capped above) + ':' + 20 digits. */
    n = snprintf(rest, sizeof(rest), "%s:%.*s:%llu", kind, (int) id.len,
                 id.data, (unsigned long long) window_no);
    if (n < 0 || (size_t) n >= sizeof(rest)) {
        return mtr_err_set(err, "rate: key too long");
    }

    /* Local parts are compared case-insensitively, like the directory. */
    if (kind[0] == 'u') {
        for (i = 2; i < (size_t) n; i++) {
            if (rest[i] >= 'A' && rest[i] <= 'Z') {
                rest[i] = (char) (rest[i] + ('a' - 'A'));
            }
        }
    }

    tail.data = rest;
    tail.len = (size_t) n;

    return mtr_redis_key(buf, MPOLICY_RATE_KEY_MAX + 1, "rate", domain, tail,
                         NULL, err);
}

int
mpolicy_rate_plan(mpolicy_rate_plan_t *plan, mtr_str_t domain, mtr_str_t local,
                  mtr_str_t client, int64_t now, uint64_t window,
                  const mpolicy_rate_limits_t *limits, uint64_t msg_cost,
                  uint64_t rcpt_cost, mtr_err_t *err)
{
    mtr_str_t stats = mtr_string("stats");
    uint64_t  w;

    memset(plan, 0, sizeof(*plan));

    if (window == 0 || now < 0) {
        return mtr_err_set(err, "rate: bad window or time");
    }

    if ((limits->messages == 0 || msg_cost == 0)
        && (limits->recipients == 0 || rcpt_cost == 0))
    {
        return MTR_DECLINED;
    }

    if (local.len == 0 && client.len == 0) {
        return MTR_DECLINED;
    }

    if (mtr_redis_key(plan->keys[0], sizeof(plan->keys[0]), "policy", domain,
                      stats, NULL, err)
        != MTR_OK)
    {
        return MTR_ERROR;
    }

    plan->nkeys = 1;
    w = (uint64_t) now / window;

    if (local.len != 0) {
        if (mpolicy_rate_key(plan->keys[1], domain, "u", local, w, err)
                != MTR_OK
            || mpolicy_rate_key(plan->keys[2], domain, "u", local, w - 1, err)
                   != MTR_OK)
        {
            return MTR_ERROR;
        }
        plan->nkeys = 3;
        plan->has_user = 1;
    }

    if (client.len != 0) {
        if (mpolicy_rate_key(plan->keys[plan->nkeys], domain, "ip", client, w,
                             err)
                != MTR_OK
            || mpolicy_rate_key(plan->keys[plan->nkeys + 1], domain, "ip",
                                client, w - 1, err)
                   != MTR_OK)
        {
            return MTR_ERROR;
        }
        plan->nkeys += 2;
    }

    plan->weight = mpolicy_rate_weight(now, window);
    plan->msg_cost = msg_cost;
    plan->rcpt_cost = rcpt_cost;
    plan->limits = *limits;
    /* The previous window is read during the whole next one. */
    plan->ttl = 2 * window + 60;

    return MTR_OK;
}

int
mpolicy_rate_run(mtr_redis_t *r, mtr_redis_script_t *script,
                 const mpolicy_rate_plan_t *plan, mpolicy_rate_result_t *res,
                 mtr_err_t *err)
{
    const char *argv[MPOLICY_RATE_KEYS + 6];
    size_t      argvlen[MPOLICY_RATE_KEYS + 6];
    char        num[6][24];
    redisReply *reply;
    long long   code, est;
    size_t      i, n;

    res->verdict = MPOLICY_RATE_ALLOW;
    res->estimate = 0;

    if (plan->nkeys < 3 || plan->nkeys > MPOLICY_RATE_KEYS) {
        return mtr_err_set(err, "rate: empty plan");
    }

    for (i = 0; i < plan->nkeys; i++) {
        argv[i] = plan->keys[i];
        argvlen[i] = strlen(plan->keys[i]);
    }

    snprintf(num[0], sizeof(num[0]), "%u", plan->weight);
    snprintf(num[1], sizeof(num[1]), "%llu",
             (unsigned long long) plan->msg_cost);
    snprintf(num[2], sizeof(num[2]), "%llu",
             (unsigned long long) plan->rcpt_cost);
    snprintf(num[3], sizeof(num[3]), "%llu",
             (unsigned long long) plan->limits.messages);
    snprintf(num[4], sizeof(num[4]), "%llu",
             (unsigned long long) plan->limits.recipients);
    snprintf(num[5], sizeof(num[5]), "%llu", (unsigned long long) plan->ttl);

    n = plan->nkeys;
    for (i = 0; i < 6; i++) {
        argv[n + i] = num[i];
        argvlen[n + i] = strlen(num[i]);
    }

    if (mtr_redis_eval(r, script, (int) n, (int) (n + 6), argv, argvlen, &reply,
                       err)
        != MTR_OK)
    {
        return MTR_ERROR;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_INTEGER
        || reply->element[1]->type != REDIS_REPLY_INTEGER)
    {
        if (reply != NULL) {
            freeReplyObject(reply);
        }
        return mtr_err_set(err, "rate: unexpected reply from Redis");
    }

    code = reply->element[0]->integer;
    est = reply->element[1]->integer;
    freeReplyObject(reply);

    /* Codes 1-2 are the first subject, 3-4 the second. */
    if (code < 0 || code > 4 || est < 0 || (code > 2 && !plan->has_user)
        || (code > 2 && plan->nkeys < 5))
    {
        return mtr_err_set(err, "rate: unexpected reply from Redis");
    }

    if (code != 0 && !plan->has_user) {
        /* The only subject is the client. */
        code += 2;
    }

    res->verdict = (mpolicy_rate_verdict_e) code;
    res->estimate = (uint64_t) est;

    return MTR_OK;
}

const char *
mpolicy_rate_what(mpolicy_rate_verdict_e verdict)
{
    switch (verdict) {
    case MPOLICY_RATE_ALLOW:
        return "allowed";
    case MPOLICY_RATE_OVER_USER_MESSAGES:
        return "user messages";
    case MPOLICY_RATE_OVER_USER_RECIPIENTS:
        return "user recipients";
    case MPOLICY_RATE_OVER_CLIENT_MESSAGES:
        return "client messages";
    case MPOLICY_RATE_OVER_CLIENT_RECIPIENTS:
        return "client recipients";
    }

    return "unknown";
}
