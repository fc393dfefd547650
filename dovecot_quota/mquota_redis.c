/*
 * mquota_redis.c -- re-sum a domain pool from its users' counters: SCAN
 * for the user keys, one atomic Lua script over all of them, SCAN again
 * to catch a user created meanwhile.
 *
 * Core: no Dovecot header; Redis only through mtr_redis.  Covered by
 * tests/unit/test_mquota_redis.c (mtr_redis_argv/mtr_redis_eval mocked
 * with -Wl,--wrap).
 */
#include <stdlib.h>
#include <string.h>

#include "mquota_redis.h"

#define MQUOTA_POOL_SUFFIX ":pool"
#define MQUOTA_KEY_PREFIX  "mortar:quota:{"

/*
 * KEYS[1] the pool, KEYS[2..] its users.  Absent or negative fields read
 * as 0, like mtr_quota.c's scripts.  Lua numbers are doubles: sums are
 * exact up to 2^53 bytes.
 */
static const char mquota_lua_resum[] =
    "local b, m = 0, 0\n"
    "for i = 2, #KEYS do\n"
    "  local v = redis.call('HMGET', KEYS[i], 'bytes', 'messages')\n"
    "  local x = tonumber(v[1] or '0') or 0\n"
    "  local y = tonumber(v[2] or '0') or 0\n"
    "  if x > 0 then b = b + x end\n"
    "  if y > 0 then m = m + y end\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'bytes', string.format('%d', b),\n"
    "           'messages', string.format('%d', m))\n"
    "return {b, m}\n";

/* One key found by SCAN (binary-safe) and a list of them. */
typedef struct {
    char  *key;
    size_t len;
} mquota_key_t;

typedef struct {
    mquota_key_t *v;
    size_t        n;
    size_t        cap;
} mquota_keys_t;

static int  mquota_scan(mtr_redis_t *r, const char *pattern, mquota_keys_t *out,
                        mtr_err_t *err);
static int  mquota_keys_push(mquota_keys_t *k, const char *s, size_t len,
                             mtr_err_t *err);
static void mquota_keys_sort_unique(mquota_keys_t *k);
static int  mquota_keys_equal(const mquota_keys_t *a, const mquota_keys_t *b);
static void mquota_keys_free(mquota_keys_t *k);
static int  mquota_sum(mtr_redis_t *r, const char *pool_key,
                       const mquota_keys_t *users, mtr_quota_usage_t *total_r,
                       mtr_err_t *err);

int
mquota_user_pattern(const char *pool_key, char *buf, size_t size,
                    mtr_err_t *err)
{
    size_t klen, plen, i, o;

    if (size != 0) {
        buf[0] = '\0';
    }

    klen = pool_key != NULL ? strlen(pool_key) : 0;

    if (klen <= sizeof(MQUOTA_KEY_PREFIX MQUOTA_POOL_SUFFIX) - 1
        || klen > MTR_QUOTA_KEY_MAX
        || memcmp(pool_key, MQUOTA_KEY_PREFIX, sizeof(MQUOTA_KEY_PREFIX) - 1)
               != 0
        || strcmp(pool_key + klen - (sizeof(MQUOTA_POOL_SUFFIX) - 1),
                  MQUOTA_POOL_SUFFIX)
               != 0)
    {
        return mtr_err_set(err, "not a pool key: \"%.80s\"",
                           pool_key != NULL ? pool_key : "(null)");
    }

    /* The prefix keeps its ':' before "pool". */
    plen = klen - (sizeof("pool") - 1);

    o = 0;
    for (i = 0; i < plen; i++) {
        char c = pool_key[i];

        if (strchr("*?[]\\", c) != NULL) {
            if (o + 1 >= size) {
                goto small;
            }
            buf[o++] = '\\';
        }
        if (o + 1 >= size) {
            goto small;
        }
        buf[o++] = c;
    }

    if (size - o < sizeof("user:*")) {
        goto small;
    }

    memcpy(buf + o, "user:*", sizeof("user:*"));
    return MTR_OK;

small:
    if (size != 0) {
        buf[0] = '\0';
    }
    return mtr_err_set(err, "pattern buffer of %zu bytes too small", size);
}

int
mquota_pool_resum(mtr_redis_t *r, const char *pool_key,
                  mtr_quota_usage_t *total_r, size_t *nusers_r, mtr_err_t *err)
{
    char              pattern[MQUOTA_PATTERN_MAX];
    mquota_keys_t     cur, next;
    mtr_quota_usage_t total;
    int               round, rc = MTR_ERROR;

    memset(&cur, 0, sizeof(cur));
    memset(&next, 0, sizeof(next));

    if (mquota_user_pattern(pool_key, pattern, sizeof(pattern), err) != MTR_OK)
    {
        return MTR_ERROR;
    }

    if (mquota_scan(r, pattern, &cur, err) != MTR_OK) {
        goto done;
    }

    for (round = 1;; round++) {
        if (mquota_sum(r, pool_key, &cur, &total, err) != MTR_OK) {
            goto done;
        }

        if (mquota_scan(r, pattern, &next, err) != MTR_OK) {
            goto done;
        }

        if (mquota_keys_equal(&cur, &next)) {
            break;
        }

        /* The user list changed while we summed: sum the new one. */
        mquota_keys_free(&cur);
        cur = next;
        memset(&next, 0, sizeof(next));

        if (round == MQUOTA_RESUM_ROUNDS) {
            mtr_err_set(err,
                        "the users of %s kept changing during %d rounds; the "
                        "pool holds the last sum",
                        pool_key, MQUOTA_RESUM_ROUNDS);
            goto done;
        }
    }

    if (total_r != NULL) {
        *total_r = total;
    }

    if (nusers_r != NULL) {
        *nusers_r = cur.n;
    }

    rc = MTR_OK;

done:
    mquota_keys_free(&cur);
    mquota_keys_free(&next);
    return rc;
}

static int
mquota_scan(mtr_redis_t *r, const char *pattern, mquota_keys_t *out,
            mtr_err_t *err)
{
    char        cursor[32] = "0";
    const char *argv[6];
    size_t      argvlen[6], i;
    redisReply *reply;

    memset(out, 0, sizeof(*out));

    do {
        const redisReply *c, *list;

        argv[0] = "SCAN";
        argv[1] = cursor;
        argv[2] = "MATCH";
        argv[3] = pattern;
        argv[4] = "COUNT";
        argv[5] = MQUOTA_SCAN_COUNT;
        for (i = 0; i < 6; i++) {
            argvlen[i] = strlen(argv[i]);
        }

        if (mtr_redis_argv(r, 6, argv, argvlen, &reply, err) != MTR_OK) {
            goto failed;
        }

        if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
            || reply->elements != 2 || reply->element[0] == NULL
            || reply->element[1] == NULL)
        {
            goto bad_reply;
        }

        c = reply->element[0];
        list = reply->element[1];

        if (c->type != REDIS_REPLY_STRING || c->len == 0
            || c->len >= sizeof(cursor) || list->type != REDIS_REPLY_ARRAY
            || strspn(c->str, "0123456789") != c->len)
        {
            goto bad_reply;
        }

        for (i = 0; i < list->elements; i++) {
            const redisReply *k = list->element[i];

            if (k == NULL || k->type != REDIS_REPLY_STRING) {
                goto bad_reply;
            }

            if (mquota_keys_push(out, k->str, k->len, err) != MTR_OK) {
                freeReplyObject(reply);
                goto failed;
            }
        }

        memcpy(cursor, c->str, c->len);
        cursor[c->len] = '\0';
        freeReplyObject(reply);

        /* Repeats are rare: twice the cap bounds memory before dedupe. */
        if (out->n > 2 * (size_t) MQUOTA_RESUM_USERS_MAX) {
            mtr_err_set(err, "more than %d user keys match %s",
                        MQUOTA_RESUM_USERS_MAX, pattern);
            goto failed;
        }
    } while (strcmp(cursor, "0") != 0);

    mquota_keys_sort_unique(out);

    if (out->n > MQUOTA_RESUM_USERS_MAX) {
        mtr_err_set(err, "more than %d user keys match %s",
                    MQUOTA_RESUM_USERS_MAX, pattern);
        goto failed;
    }

    return MTR_OK;

bad_reply:
    if (reply != NULL) {
        freeReplyObject(reply);
    }
    mtr_err_set(err, "SCAN %s: unexpected reply from Redis", pattern);

failed:
    mquota_keys_free(out);
    return MTR_ERROR;
}

static int
mquota_sum(mtr_redis_t *r, const char *pool_key, const mquota_keys_t *users,
           mtr_quota_usage_t *total_r, mtr_err_t *err)
{
    /* Dovecot mail processes are single-threaded: one cached SHA. */
    static mtr_redis_script_t script = MTR_REDIS_SCRIPT(mquota_lua_resum);
    const char              **argv;
    size_t                   *argvlen, i;
    redisReply               *reply;
    int                       rc;

    argv = calloc(users->n + 1, sizeof(*argv));
    argvlen = calloc(users->n + 1, sizeof(*argvlen));
    if (argv == NULL || argvlen == NULL) {
        free(argv);
        free(argvlen);
        return mtr_err_set(err, "out of memory");
    }

    argv[0] = pool_key;
    argvlen[0] = strlen(pool_key);
    for (i = 0; i < users->n; i++) {
        argv[i + 1] = users->v[i].key;
        argvlen[i + 1] = users->v[i].len;
    }

    rc = mtr_redis_eval(r, &script, (int) users->n + 1, (int) users->n + 1,
                        argv, argvlen, &reply, err);
    free(argv);
    free(argvlen);

    if (rc != MTR_OK) {
        return MTR_ERROR;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2 || reply->element[0] == NULL
        || reply->element[1] == NULL
        || reply->element[0]->type != REDIS_REPLY_INTEGER
        || reply->element[1]->type != REDIS_REPLY_INTEGER
        || reply->element[0]->integer < 0 || reply->element[1]->integer < 0)
    {
        if (reply != NULL) {
            freeReplyObject(reply);
        }
        return mtr_err_set(err, "re-sum of %s: unexpected reply from Redis",
                           pool_key);
    }

    total_r->bytes = (uint64_t) reply->element[0]->integer;
    total_r->messages = (uint64_t) reply->element[1]->integer;
    freeReplyObject(reply);
    return MTR_OK;
}

static int
mquota_keys_push(mquota_keys_t *k, const char *s, size_t len, mtr_err_t *err)
{
    mquota_key_t *v;
    char         *copy;
    size_t        cap;

    if (len == 0 || len > MTR_QUOTA_KEY_MAX) {
        return mtr_err_set(err, "SCAN returned a key of %zu bytes", len);
    }

    if (k->n == k->cap) {
        cap = k->cap == 0 ? 64 : k->cap * 2;
        v = realloc(k->v, cap * sizeof(*v));
        if (v == NULL) {
            return mtr_err_set(err, "out of memory");
        }
        k->v = v;
        k->cap = cap;
    }

    copy = malloc(len + 1);
    if (copy == NULL) {
        return mtr_err_set(err, "out of memory");
    }
    memcpy(copy, s, len);
    copy[len] = '\0';

    k->v[k->n].key = copy;
    k->v[k->n].len = len;
    k->n++;
    return MTR_OK;
}

static int
mquota_key_cmp(const void *pa, const void *pb)
{
    const mquota_key_t *a = pa, *b = pb;
    int c = memcmp(a->key, b->key, a->len < b->len ? a->len : b->len);

    if (c != 0) {
        return c;
    }
    return a->len < b->len ? -1 : a->len > b->len ? 1 : 0;
}

/* SCAN may return a key more than once: sort, then drop repeats. */
static void
mquota_keys_sort_unique(mquota_keys_t *k)
{
    size_t i, o;

    if (k->n < 2) {
        return;
    }

    qsort(k->v, k->n, sizeof(k->v[0]), mquota_key_cmp);

    for (i = 0, o = 0; i < k->n; i++) {
        if (o > 0 && mquota_key_cmp(&k->v[o - 1], &k->v[i]) == 0) {
            free(k->v[i].key);
            continue;
        }
        k->v[o++] = k->v[i];
    }
    k->n = o;
}

static int
mquota_keys_equal(const mquota_keys_t *a, const mquota_keys_t *b)
{
    size_t i;

    if (a->n != b->n) {
        return 0;
    }

    for (i = 0; i < a->n; i++) {
        if (mquota_key_cmp(&a->v[i], &b->v[i]) != 0) {
            return 0;
        }
    }

    return 1;
}

static void
mquota_keys_free(mquota_keys_t *k)
{
    size_t i;

    for (i = 0; i < k->n; i++) {
        free(k->v[i].key);
    }
    free(k->v);
    memset(k, 0, sizeof(k[0]));
}
