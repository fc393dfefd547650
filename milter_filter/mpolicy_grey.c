/*
 * mpolicy_grey.c -- greylisting: triplet keys, postgrey's decision with
 * the time passed in, and the two Redis scripts (read, write).
 *
 * Core: keys and decision are pure; mpolicy_grey_get/put are thin calls
 * through mtr_redis.  Covered by tests/unit/test_mpolicy_grey.c.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "mpolicy_grey.h"

/* KEYS[1] triplet, KEYS[2] client.  Absent fields read as 0. */
const char mpolicy_grey_get_lua[] =
    "local function n(v) return tonumber(v or '0') or 0 end\n"
    "local t = redis.call('HMGET', KEYS[1], 'first', 'last', 'passed')\n"
    "local c = redis.call('HMGET', KEYS[2], 'n', 't')\n"
    "return {n(t[1]), n(t[2]), n(t[3]), n(c[1]), n(c[2])}\n";

/*
 * KEYS[1] triplet, KEYS[2] client, KEYS[3] statistics.  ARGV: write the
 * triplet (0/1), first, last, passed, its TTL; client mode (0 keep, 1 one
 * more retry, 2 refresh), time, TTL; statistics field ("" for none).
 */
const char mpolicy_grey_put_lua[] =
    "if ARGV[1] == '1' then\n"
    "  redis.call('HSET', KEYS[1], 'first', ARGV[2], 'last', ARGV[3],\n"
    "             'passed', ARGV[4])\n"
    "  redis.call('EXPIRE', KEYS[1], ARGV[5])\n"
    "end\n"
    "if ARGV[6] == '1' then\n"
    "  redis.call('HINCRBY', KEYS[2], 'n', 1)\n"
    "end\n"
    "if ARGV[6] ~= '0' then\n"
    "  redis.call('HSET', KEYS[2], 't', ARGV[7])\n"
    "  redis.call('EXPIRE', KEYS[2], ARGV[8])\n"
    "end\n"
    "if ARGV[9] ~= '' then\n"
    "  redis.call('HINCRBY', KEYS[3], ARGV[9], 1)\n"
    "end\n"
    "return 1\n";

void
mpolicy_grey_conf_default(mpolicy_grey_conf_t *conf)
{
    conf->delay = MPOLICY_GREY_DELAY;
    conf->retry_window = MPOLICY_GREY_RETRY_WINDOW;
    conf->max_age = MPOLICY_GREY_MAX_AGE;
    conf->auto_allow = MPOLICY_GREY_AUTO_ALLOW;
}

int
mpolicy_grey_defers(mpolicy_grey_verdict_e verdict)
{
    return verdict == MPOLICY_GREY_NEW || verdict == MPOLICY_GREY_EARLY
           || verdict == MPOLICY_GREY_EXPIRED;
}

const char *
mpolicy_grey_name(mpolicy_grey_verdict_e verdict)
{
    switch (verdict) {
    case MPOLICY_GREY_NEW:
        return "new";
    case MPOLICY_GREY_EARLY:
        return "early";
    case MPOLICY_GREY_EXPIRED:
        return "expired";
    case MPOLICY_GREY_RETRY:
        return "retry";
    case MPOLICY_GREY_KNOWN:
        return "known";
    case MPOLICY_GREY_CLIENT:
        return "client";
    }

    return "unknown";
}

void
mpolicy_grey_decide(const mpolicy_grey_conf_t  *conf,
                    const mpolicy_grey_state_t *st, int64_t now,
                    mpolicy_grey_decision_t *d)
{
    uint64_t elapsed;

    memset(d, 0, sizeof(*d));
    d->next = *st;

    if (conf->auto_allow != 0 && st->client_count >= conf->auto_allow) {
        d->verdict = MPOLICY_GREY_CLIENT;
        if (now < st->client_last
            || (uint64_t) (now - st->client_last) >= MPOLICY_GREY_REFRESH)
        {
            d->client = MPOLICY_GREY_CLIENT_REFRESH;
            d->client_ttl = conf->max_age;
            d->next.client_last = now;
        }
        return;
    }

    if (st->first == 0) {
        d->verdict = MPOLICY_GREY_NEW;
        goto restart;
    }

    if (st->passed) {
        d->verdict = MPOLICY_GREY_KNOWN;
        if (now < st->last
            || (uint64_t) (now - st->last) >= MPOLICY_GREY_REFRESH) {
            d->write_triplet = 1;
            d->next.last = now;
            d->triplet_ttl = conf->max_age;
        }
        return;
    }

    if (now < st->first) {
        /* The clock went back: never a reason to let mail through. */
        d->verdict = MPOLICY_GREY_EARLY;
        d->wait = conf->delay;
        d->stat = "grey_deferred";
        return;
    }

    elapsed = (uint64_t) (now - st->first);

    if (elapsed < conf->delay) {
        d->verdict = MPOLICY_GREY_EARLY;
        d->wait = conf->delay - elapsed;
        d->stat = "grey_deferred";
        return;
    }

    if (elapsed > conf->retry_window) {
        d->verdict = MPOLICY_GREY_EXPIRED;
        goto restart;
    }

    d->verdict = MPOLICY_GREY_RETRY;
    d->waited = elapsed;
    d->write_triplet = 1;
    d->next.last = now;
    d->next.passed = 1;
    d->triplet_ttl = conf->max_age;
    d->stat = "grey_passed";

    if (conf->auto_allow != 0) {
        d->client = MPOLICY_GREY_CLIENT_BUMP;
        d->client_ttl = conf->max_age;
        d->next.client_count = st->client_count + 1;
        d->next.client_last = now;
    }

    return;

restart:

    d->write_triplet = 1;
    d->next.first = now;
    d->next.last = now;
    d->next.passed = 0;
    /* Kept until the last moment a retry still counts. */
    d->triplet_ttl =
        (conf->retry_window > conf->delay ? conf->retry_window : conf->delay)
        + 60;
    d->wait = conf->delay;
    d->stat = "grey_deferred";
}

int
mpolicy_grey_net(mtr_str_t client, char *buf, size_t size, mtr_err_t *err)
{
    char          tmp[MPOLICY_GREY_CLIENT_MAX + 1];
    unsigned char a[16];
    size_t        i;
    int           n;

    if (size != 0) {
        buf[0] = '\0';
    }

    if (client.len > MPOLICY_GREY_CLIENT_MAX) {
        return mtr_err_set(err,
                           "greylist: client address longer than %d "
                           "bytes",
                           MPOLICY_GREY_CLIENT_MAX);
    }

    for (i = 0; i < client.len; i++) {
        unsigned char c = (unsigned char) client.data[i];

        if (c <= ' ' || c >= 0x7f) {
            return mtr_err_set(err, "greylist: byte 0x%02x in client address",
                               c);
        }
        tmp[i] = (char) ((c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c);
    }
    tmp[client.len] = '\0';

    if (inet_pton(AF_INET, tmp, a) == 1) {
        n = snprintf(buf, size, "%u.%u.%u", a[0], a[1], a[2]);
    } else if (inet_pton(AF_INET6, tmp, a) == 1) {
        n = snprintf(buf, size, "%02x%02x:%02x%02x:%02x%02x:%02x%02x", a[0],
                     a[1], a[2], a[3], a[4], a[5], a[6], a[7]);
    } else {
        n = snprintf(buf, size, "%s", tmp);
    }

    if (n < 0 || (size_t) n >= size) {
        if (size != 0) {
            buf[0] = '\0';
        }
        return mtr_err_set(err, "greylist: client buffer too small");
    }

    return MTR_OK;
}

static int
mpolicy_grey_word(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '_';
}

/* Copy s lowercased; 0x20-0x7e and 8-bit bytes pass, controls do not. */
static int
mpolicy_grey_lower(mtr_str_t s, char *out, const char *what, mtr_err_t *err)
{
    size_t i;

    if (s.len > MPOLICY_GREY_ADDR_MAX) {
        return mtr_err_set(err, "greylist: %s longer than %d bytes", what,
                           MPOLICY_GREY_ADDR_MAX);
    }

    for (i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char) s.data[i];

        if (c < 0x20 || c == 0x7f) {
            return mtr_err_set(err, "greylist: byte 0x%02x in %s", c, what);
        }
        out[i] = (char) ((c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c);
    }
    out[s.len] = '\0';

    return MTR_OK;
}

int
mpolicy_grey_sender(mtr_str_t sender, char *buf, size_t size, mtr_err_t *err)
{
    char   in[MPOLICY_GREY_ADDR_MAX + 1];
    char  *at, *plus;
    size_t llen, i, j, o, start;

    if (size != 0) {
        buf[0] = '\0';
    }

    if (mpolicy_grey_lower(sender, in, "sender", err) != MTR_OK) {
        return MTR_ERROR;
    }

    if (size < sender.len + 1) {
        return mtr_err_set(err, "greylist: sender buffer too small");
    }

    at = strchr(in, '@');
    if (at == NULL) {
        memcpy(buf, in, sender.len + 1);
        return MTR_OK;
    }

    llen = (size_t) (at - in);

    /* Drop the +extension of the local part. */
    plus = memchr(in, '+', llen);
    if (plus != NULL) {
        llen = (size_t) (plus - in);
    }

    /* A word made only of digits becomes '#' (Perl's \b\d+\b). */
    o = 0;
    i = 0;
    while (i < llen) {
        if (!mpolicy_grey_word((unsigned char) in[i])) {
            buf[o++] = in[i++];
            continue;
        }

        start = i;
        while (i < llen && mpolicy_grey_word((unsigned char) in[i])) {
            i++;
        }

        for (j = start; j < i; j++) {
            if (in[j] < '0' || in[j] > '9') {
                break;
            }
        }

        if (j == i) {
            buf[o++] = '#';
        } else {
            memcpy(buf + o, in + start, i - start);
            o += i - start;
        }
    }

    /* o <= llen, so the domain still fits where it was. */
    memcpy(buf + o, at, strlen(at) + 1);

    return MTR_OK;
}

int
mpolicy_grey_keys(mpolicy_grey_keys_t *k, mtr_str_t domain, mtr_str_t client,
                  mtr_str_t sender, mtr_str_t recipient, mtr_err_t *err)
{
    char      net[MPOLICY_GREY_CLIENT_MAX + 1];
    char      snd[MPOLICY_GREY_ADDR_MAX + 1];
    char      rcpt[MPOLICY_GREY_ADDR_MAX + 1];
    char      rest[MPOLICY_GREY_KEY_MAX];
    mtr_str_t tail;
    int       n;

    memset(k, 0, sizeof(*k));

    if (mpolicy_grey_net(client, net, sizeof(net), err) != MTR_OK
        || mpolicy_grey_sender(sender, snd, sizeof(snd), err) != MTR_OK
        || mpolicy_grey_lower(recipient, rcpt, "recipient", err) != MTR_OK)
    {
        return MTR_ERROR;
    }

    /* @UNSAFE: each part is capped above; rest holds them all. */
    n = snprintf(rest, sizeof(rest), "t:%s/%s/%s", net, snd, rcpt);
    if (n < 0 || (size_t) n >= sizeof(rest)) {
        return mtr_err_set(err, "greylist: key too long");
    }

    tail.data = rest;
    tail.len = (size_t) n;
    if (mtr_redis_key(k->triplet, sizeof(k->triplet), "grey", domain, tail,
                      NULL, err)
        != MTR_OK)
    {
        return MTR_ERROR;
    }

    n = snprintf(rest, sizeof(rest), "c:%s", net);
    tail.len = (size_t) n;
    if (mtr_redis_key(k->client, sizeof(k->client), "grey", domain, tail, NULL,
                      err)
        != MTR_OK)
    {
        return MTR_ERROR;
    }

    tail.data = "stats";
    tail.len = sizeof("stats") - 1;

    return mtr_redis_key(k->stats, sizeof(k->stats), "policy", domain, tail,
                         NULL, err);
}

int
mpolicy_grey_get(mtr_redis_t *r, mtr_redis_script_t *script,
                 const mpolicy_grey_keys_t *k, mpolicy_grey_state_t *st,
                 mtr_err_t *err)
{
    const char *argv[2];
    size_t      argvlen[2];
    redisReply *reply;
    long long   v[5];
    size_t      i;

    memset(st, 0, sizeof(*st));

    argv[0] = k->triplet;
    argvlen[0] = strlen(k->triplet);
    argv[1] = k->client;
    argvlen[1] = strlen(k->client);

    if (mtr_redis_eval(r, script, 2, 2, argv, argvlen, &reply, err) != MTR_OK) {
        return MTR_ERROR;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 5) {
        goto unexpected;
    }

    for (i = 0; i < 5; i++) {
        if (reply->element[i]->type != REDIS_REPLY_INTEGER
            || reply->element[i]->integer < 0)
        {
            goto unexpected;
        }
        v[i] = reply->element[i]->integer;
    }

    freeReplyObject(reply);

    st->first = v[0];
    st->last = v[1];
    st->passed = v[2] != 0;
    st->client_count = (uint64_t) v[3];
    st->client_last = v[4];

    return MTR_OK;

unexpected:

    if (reply != NULL) {
        freeReplyObject(reply);
    }

    return mtr_err_set(err, "greylist: unexpected reply from Redis");
}

int
mpolicy_grey_needs_put(const mpolicy_grey_decision_t *d)
{
    return d->write_triplet || d->client != MPOLICY_GREY_CLIENT_KEEP
           || d->stat != NULL;
}

int
mpolicy_grey_put(mtr_redis_t *r, mtr_redis_script_t *script,
                 const mpolicy_grey_keys_t *k, const mpolicy_grey_decision_t *d,
                 mtr_err_t *err)
{
    const char *argv[12];
    size_t      argvlen[12];
    char        num[8][24];
    size_t      i;

    if (!mpolicy_grey_needs_put(d)) {
        return MTR_OK;
    }

    argv[0] = k->triplet;
    argv[1] = k->client;
    argv[2] = k->stats;

    snprintf(num[0], sizeof(num[0]), "%d", d->write_triplet ? 1 : 0);
    snprintf(num[1], sizeof(num[1]), "%lld", (long long) d->next.first);
    snprintf(num[2], sizeof(num[2]), "%lld", (long long) d->next.last);
    snprintf(num[3], sizeof(num[3]), "%d", d->next.passed ? 1 : 0);
    snprintf(num[4], sizeof(num[4]), "%llu",
             (unsigned long long) (d->triplet_ttl != 0 ? d->triplet_ttl : 1));
    snprintf(num[5], sizeof(num[5]), "%d", (int) d->client);
    snprintf(num[6], sizeof(num[6]), "%lld", (long long) d->next.client_last);

    snprintf(num[7], sizeof(num[7]), "%llu",
             (unsigned long long) (d->client_ttl != 0 ? d->client_ttl : 1));

    for (i = 0; i < 8; i++) {
        argv[3 + i] = num[i];
    }

    argv[11] = d->stat != NULL ? d->stat : "";

    for (i = 0; i < 12; i++) {
        argvlen[i] = strlen(argv[i]);
    }

    return mtr_redis_eval(r, script, 3, 12, argv, argvlen, NULL, err);
}
