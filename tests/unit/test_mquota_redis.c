/*
 * test_mquota_redis.c -- unit tests of dovecot_quota/mquota_redis.c, the
 * re-sum of a domain pool from its users' counters.
 *
 * The SCAN pattern builder is tested table-driven.  mquota_pool_resum()
 * runs against a small fake Redis linked in place of mtr_redis_argv() and
 * mtr_redis_eval() (-Wl,--wrap, see test_mquota_redis.flags): an in-memory
 * store of hashes, a SCAN that pages two keys at a time and repeats a key
 * (as Redis may), and an EVAL that does what the Lua script does (sum the
 * given user keys into the pool).  Each case can change the store after a
 * script ran (a user created meanwhile) and make a call fail or answer
 * garbage.  Replies are heap objects freed by hiredis' own
 * freeReplyObject(), so ASan checks the ownership rules.  The Lua script
 * itself runs against a real Redis in tests/integration/test_quota.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mquota_redis.h"

/* ---- the SCAN pattern ---------------------------------------------------- */

typedef struct {
    const char *name;
    const char *pool_key;
    size_t      size; /* 0: generous */
    int         rc;
    const char *want;
} pattern_case_t;

static const pattern_case_t pattern_cases[] = {
    { "plain domain", "mortar:quota:{example.test}:pool", 0, MTR_OK,
      "mortar:quota:{example.test}:user:*" },
    { "glob characters escaped", "mortar:quota:{a*b?c[d]e\\f}:pool", 0, MTR_OK,
      "mortar:quota:{a\\*b\\?c\\[d\\]e\\\\f}:user:*" },
    /* "mortar:quota:{x}:user:*" is 23 bytes, 24 with the NUL. */
    { "exact fit", "mortar:quota:{x}:pool", 24, MTR_OK,
      "mortar:quota:{x}:user:*" },
    { "one byte short", "mortar:quota:{x}:pool", 23, MTR_ERROR, "" },
    { "short inside the prefix", "mortar:quota:{x}:pool", 10, MTR_ERROR, "" },
    { "escape does not fit", "mortar:quota:{*}:pool", 17, MTR_ERROR, "" },
    { "a user key", "mortar:quota:{x}:user:bob", 0, MTR_ERROR, "" },
    { "another area", "mortar:rate:{x}:pool", 0, MTR_ERROR, "" },
    { "suffix only", "mortar:quota:{:pool", 0, MTR_ERROR, "" },
    { "empty", "", 0, MTR_ERROR, "" },
};

static void
test_pattern(void **unused)
{
    size_t i;

    (void) unused;

    for (i = 0; i < sizeof(pattern_cases) / sizeof(pattern_cases[0]); i++) {
        const pattern_case_t *c = &pattern_cases[i];
        char                  buf[MQUOTA_PATTERN_MAX + 1];
        size_t                size = c->size != 0 ? c->size : sizeof(buf) - 1;
        mtr_err_t             err;

        print_message("pattern: %s\n", c->name);
        memset(buf, 'X', sizeof(buf));
        mtr_err_clear(&err);
        assert_int_equal(mquota_user_pattern(c->pool_key, buf, size, &err),
                         c->rc);
        assert_string_equal(buf, c->want);
        assert_int_equal(buf[size], 'X');
        if (c->rc != MTR_OK) {
            assert_true(err.msg[0] != '\0');
        }
    }
}

/* ---- a fake Redis ------------------------------------------------------ */

#define FAKE_KEYS 32

typedef struct {
    char    key[MTR_QUOTA_KEY_MAX + 1];
    int64_t bytes, messages;
} fake_hash_t;

typedef enum {
    FAIL_NONE = 0,
    FAIL_SCAN_ERROR,    /* mtr_redis_argv returns MTR_ERROR */
    FAIL_SCAN_GARBAGE,  /* a cursor that is not a number */
    FAIL_SCAN_NOT_LIST, /* an integer instead of [cursor, keys] */
    FAIL_EVAL_ERROR,    /* mtr_redis_eval returns MTR_ERROR */
    FAIL_EVAL_NEGATIVE, /* the script answers a negative sum */
} fake_fail_e;

static struct {
    fake_hash_t h[FAKE_KEYS];
    size_t      n;
    int         scans, evals;
    int         add_after_eval; /* add a user after this many scripts */
    int         add_every_eval; /* add a user after every script */
    fake_fail_e fail;
    char        last_pattern[MQUOTA_PATTERN_MAX];
    size_t      last_numkeys;
} fake;

static fake_hash_t *
fake_find(const char *key, size_t len)
{
    size_t i;

    for (i = 0; i < fake.n; i++) {
        if (strlen(fake.h[i].key) == len
            && memcmp(fake.h[i].key, key, len) == 0) {
            return &fake.h[i];
        }
    }
    return NULL;
}

static void
fake_set(const char *key, int64_t bytes, int64_t messages)
{
    fake_hash_t *h = fake_find(key, strlen(key));

    if (h == NULL) {
        assert_true(fake.n < FAKE_KEYS);
        h = &fake.h[fake.n++];
        snprintf(h->key, sizeof(h->key), "%s", key);
    }
    h->bytes = bytes;
    h->messages = messages;
}

/* Glob with a literal prefix (backslash escapes) and one trailing '*'. */
static int
fake_match(const char *pattern, const char *key)
{
    const char *p = pattern, *k = key;

    while (*p != '\0' && *p != '*') {
        if (*p == '\\') {
            p++;
        }
        if (*p != *k) {
            return 0;
        }
        p++;
        k++;
    }
    return *p == '*';
}

static redisReply *
reply_new(int type)
{
    redisReply *r = calloc(1, sizeof(*r));

    assert_non_null(r);
    r->type = type;
    return r;
}

static redisReply *
reply_str(const char *s)
{
    redisReply *r = reply_new(REDIS_REPLY_STRING);

    r->len = strlen(s);
    r->str = strdup(s);
    assert_non_null(r->str);
    return r;
}

static redisReply *
reply_array(size_t n)
{
    redisReply *r = reply_new(REDIS_REPLY_ARRAY);

    r->elements = n;
    r->element = calloc(n > 0 ? n : 1, sizeof(*r->element));
    assert_non_null(r->element);
    return r;
}

/*
 * SCAN: the cursor is an index into the store; each page looks at two
 * entries, and the first page also repeats the first match, as a real
 * SCAN may after a rehash.
 */
int __wrap_mtr_redis_argv(mtr_redis_t *r, int argc, const char **argv,
                          const size_t *argvlen, redisReply **reply_r,
                          mtr_err_t *err);

int
__wrap_mtr_redis_argv(mtr_redis_t *r, int argc, const char **argv,
                      const size_t *argvlen, redisReply **reply_r,
                      mtr_err_t *err)
{
    redisReply *reply, *list;
    size_t      cursor, i, found[3], nfound = 0;
    char        next[24];

    (void) r;
    (void) argvlen;

    assert_int_equal(argc, 6);
    assert_string_equal(argv[0], "SCAN");
    assert_string_equal(argv[2], "MATCH");
    assert_string_equal(argv[4], "COUNT");
    snprintf(fake.last_pattern, sizeof(fake.last_pattern), "%s", argv[3]);
    fake.scans++;

    if (fake.fail == FAIL_SCAN_ERROR) {
        *reply_r = NULL;
        return mtr_err_set(err, "fake: connection refused");
    }

    if (fake.fail == FAIL_SCAN_NOT_LIST) {
        *reply_r = reply_new(REDIS_REPLY_INTEGER);
        return MTR_OK;
    }

    cursor = (size_t) strtoul(argv[1], NULL, 10);
    for (i = cursor; i < cursor + 2 && i < fake.n; i++) {
        if (fake_match(argv[3], fake.h[i].key)) {
            found[nfound++] = i;
        }
    }
    if (cursor == 0 && nfound > 0) {
        found[nfound] = found[0];
        nfound++;
    }

    snprintf(next, sizeof(next), "%zu", cursor + 2 >= fake.n ? 0 : cursor + 2);

    reply = reply_array(2);
    reply->element[0] =
        reply_str(fake.fail == FAIL_SCAN_GARBAGE ? "12x" : next);
    list = reply_array(nfound);
    for (i = 0; i < nfound; i++) {
        list->element[i] = reply_str(fake.h[found[i]].key);
    }
    reply->element[1] = list;
    *reply_r = reply;
    return MTR_OK;
}

int __wrap_mtr_redis_eval(mtr_redis_t *r, mtr_redis_script_t *script,
                          int numkeys, int argc, const char **argv,
                          const size_t *argvlen, redisReply **reply_r,
                          mtr_err_t *err);

int
__wrap_mtr_redis_eval(mtr_redis_t *r, mtr_redis_script_t *script, int numkeys,
                      int argc, const char **argv, const size_t *argvlen,
                      redisReply **reply_r, mtr_err_t *err)
{
    int64_t     b = 0, m = 0;
    int         i;
    redisReply *reply;
    char        key[64];

    (void) r;

    /* Every argument is a key: KEYS[1] the pool, then the users. */
    assert_non_null(script);
    assert_non_null(strstr(script->source, "HMGET"));
    assert_int_equal(numkeys, argc);
    assert_true(argc >= 1);
    assert_non_null(strstr(argv[0], ":pool"));
    fake.evals++;
    fake.last_numkeys = (size_t) numkeys;

    if (fake.fail == FAIL_EVAL_ERROR) {
        *reply_r = NULL;
        return mtr_err_set(err, "fake: timeout");
    }

    for (i = 1; i < argc; i++) {
        const fake_hash_t *h = fake_find(argv[i], argvlen[i]);

        assert_non_null(strstr(argv[i], ":user:"));
        if (h != NULL) {
            b += h->bytes > 0 ? h->bytes : 0;
            m += h->messages > 0 ? h->messages : 0;
        }
    }
    fake_set(argv[0], b, m);

    if (fake.add_every_eval
        || (fake.add_after_eval != 0 && fake.evals == fake.add_after_eval))
    {
        snprintf(key, sizeof(key), "mortar:quota:{a.test}:user:new%d",
                 fake.evals);
        fake_set(key, 1000, 1);
    }

    reply = reply_array(2);
    reply->element[0] = reply_new(REDIS_REPLY_INTEGER);
    reply->element[0]->integer = fake.fail == FAIL_EVAL_NEGATIVE ? -1 : b;
    reply->element[1] = reply_new(REDIS_REPLY_INTEGER);
    reply->element[1]->integer = m;
    *reply_r = reply;
    return MTR_OK;
}

/* ---- re-sum ----------------------------------------------------------- */

#define POOL "mortar:quota:{a.test}:pool"

typedef struct {
    const char *name;
    int         users;          /* users of a.test in the store */
    int         add_after_eval; /* a user appears after this script */
    int         add_every_eval;
    fake_fail_e fail;
    int         rc;
    uint64_t    bytes, messages; /* the pool afterwards (when MTR_OK) */
    size_t      nusers;
    int         evals;
    const char *err_has;
} resum_case_t;

static const resum_case_t resum_cases[] = {
    /* name, users, add after, add every, fail, rc, bytes, messages,
       users summed, scripts run, error */
    { "no user yet", 0, 0, 0, FAIL_NONE, MTR_OK, 0, 0, 0, 1, NULL },
    { "one user", 1, 0, 0, FAIL_NONE, MTR_OK, 100, 1, 1, 1, NULL },
    { "users over several SCAN pages, a key repeated", 5, 0, 0, FAIL_NONE,
      MTR_OK, 1500, 15, 5, 1, NULL },
    { "a user appears during the sum", 3, 1, 0, FAIL_NONE, MTR_OK, 1600, 7, 4,
      2, NULL },
    { "users keep appearing", 2, 0, 1, FAIL_NONE, MTR_ERROR, 0, 0, 0, 3,
      "kept changing" },
    { "SCAN fails", 2, 0, 0, FAIL_SCAN_ERROR, MTR_ERROR, 0, 0, 0, 0,
      "connection refused" },
    { "SCAN cursor not a number", 2, 0, 0, FAIL_SCAN_GARBAGE, MTR_ERROR, 0, 0,
      0, 0, "unexpected reply" },
    { "SCAN answers no list", 2, 0, 0, FAIL_SCAN_NOT_LIST, MTR_ERROR, 0, 0, 0,
      0, "unexpected reply" },
    { "script fails", 2, 0, 0, FAIL_EVAL_ERROR, MTR_ERROR, 0, 0, 0, 1,
      "timeout" },
    { "script answers a negative sum", 2, 0, 0, FAIL_EVAL_NEGATIVE, MTR_ERROR,
      0, 0, 0, 1, "unexpected reply" },
};

static void
fake_reset(const resum_case_t *c)
{
    char key[64];
    int  i;

    memset(&fake, 0, sizeof(fake));
    /* Keys of another domain and a drifted pool, interleaved with ours. */
    fake_set("mortar:quota:{b.test}:user:x", 7777, 77);
    fake_set(POOL, 999999, 999);
    for (i = 0; i < c->users; i++) {
        snprintf(key, sizeof(key), "mortar:quota:{a.test}:user:u%d", i);
        /* user i holds 100*(i+1) bytes in i+1 messages */
        fake_set(key, 100 * (i + 1), i + 1);
        if (i == 1) {
            fake_set("mortar:quota:{b.test}:pool", 7777, 77);
        }
    }
    fake.add_after_eval = c->add_after_eval;
    fake.add_every_eval = c->add_every_eval;
    fake.fail = c->fail;
}

static void
test_resum(void **unused)
{
    size_t i;

    (void) unused;

    for (i = 0; i < sizeof(resum_cases) / sizeof(resum_cases[0]); i++) {
        const resum_case_t *c = &resum_cases[i];
        mtr_quota_usage_t   total = { 42, 42 };
        size_t              nusers = 42;
        mtr_err_t           err;
        int                 rc;
        fake_hash_t        *pool, *other;

        print_message("resum: %s\n", c->name);
        fake_reset(c);
        mtr_err_clear(&err);

        rc = mquota_pool_resum((mtr_redis_t *) &fake, POOL, &total, &nusers,
                               &err);
        assert_int_equal(rc, c->rc);
        assert_int_equal(fake.evals, c->evals);
        assert_string_equal(fake.last_pattern, "mortar:quota:{a.test}:user:*");

        /* Another domain is never touched. */
        other = fake_find("mortar:quota:{b.test}:pool",
                          strlen("mortar:quota:{b.test}:pool"));
        if (other != NULL) {
            assert_int_equal(other->bytes, 7777);
        }

        if (rc != MTR_OK) {
            if (strstr(err.msg, c->err_has) == NULL) {
                print_message("  error was: %s\n", err.msg);
            }
            assert_non_null(strstr(err.msg, c->err_has));
            /* Outputs untouched on failure. */
            assert_int_equal(total.bytes, 42);
            assert_int_equal(nusers, 42);
            continue;
        }

        pool = fake_find(POOL, strlen(POOL));
        assert_non_null(pool);
        assert_int_equal(pool->bytes, c->bytes);
        assert_int_equal(pool->messages, c->messages);
        assert_int_equal(total.bytes, c->bytes);
        assert_int_equal(total.messages, c->messages);
        assert_int_equal(nusers, c->nusers);
        /* The script was given the pool and each user once. */
        assert_int_equal(fake.last_numkeys, c->nusers + 1);
    }
}

static void
test_resum_bad_key(void **unused)
{
    mtr_err_t err;

    (void) unused;

    memset(&fake, 0, sizeof(fake));
    assert_int_equal(mquota_pool_resum((mtr_redis_t *) &fake,
                                       "mortar:quota:{a.test}:user:bob", NULL,
                                       NULL, &err),
                     MTR_ERROR);
    assert_non_null(strstr(err.msg, "not a pool key"));
    assert_int_equal(fake.scans, 0);
    assert_int_equal(fake.evals, 0);

    /* NULL outputs are allowed. */
    fake_set("mortar:quota:{a.test}:user:a", 5, 1);
    assert_int_equal(
        mquota_pool_resum((mtr_redis_t *) &fake, POOL, NULL, NULL, &err),
        MTR_OK);
    assert_int_equal(fake_find(POOL, strlen(POOL))->bytes, 5);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pattern),
        cmocka_unit_test(test_resum),
        cmocka_unit_test(test_resum_bad_key),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
