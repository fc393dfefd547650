/*
 * test_mtr_quota.c -- unit tests of shared/src/mtr_quota.c.
 *
 * mtr_quota_keys and mtr_quota_check are pure and tested table-driven.
 * The Redis calls are tested against mtr_redis mocked at link time
 * (tests/unit/test_mtr_quota.flags wraps mtr_redis_eval and
 * mtr_redis_argv): each call is logged as its space-joined keys and
 * arguments, and the reply is built from the table row, so a wrong key, a
 * wrong argument, a missing or extra call, or a reply parsed wrong fails.
 * Replies are real heap objects freed by hiredis' freeReplyObject, so ASan
 * catches a leak or a double free.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mtr_quota.h"

#define S(s) s, sizeof(s) - 1

/* ---- mtr_quota_keys ----------------------------------------------------- */

typedef struct {
    const char *name;
    const char *address;
    size_t      len;
    size_t      user_size; /* 0: generous */
    size_t      pool_size; /* 0: generous */
    int         rc;
    const char *user_key;
    const char *pool_key;
} keys_case_t;

/* 64 and 65 bytes of local part, 253 and 254 of domain. */
#define L64  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define D63  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define D61  "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define D253 D63 "." D63 "." D63 "." D61

static const keys_case_t keys_cases[] = {
    { "plain address", S("alice@example.test"), 0, 0, MTR_OK,
      "mortar:quota:{example.test}:user:alice",
      "mortar:quota:{example.test}:pool" },
    { "both parts lowercased", S("Alice.B@Example.TEST"), 0, 0, MTR_OK,
      "mortar:quota:{example.test}:user:alice.b",
      "mortar:quota:{example.test}:pool" },
    { "extension kept as given", S("bob+news@example.test"), 0, 0, MTR_OK,
      "mortar:quota:{example.test}:user:bob+news",
      "mortar:quota:{example.test}:pool" },
    { "len bounds the input", S("carol@example.testXYZ") - 3, 0, 0, MTR_OK,
      "mortar:quota:{example.test}:user:carol",
      "mortar:quota:{example.test}:pool" },
    { "64-byte local part", S(L64 "@x.test"), 0, 0, MTR_OK,
      "mortar:quota:{x.test}:user:" L64, "mortar:quota:{x.test}:pool" },
    { "253-byte domain", S("a@" D253), 0, 0, MTR_OK,
      "mortar:quota:{" D253 "}:user:a", "mortar:quota:{" D253 "}:pool" },
    { "longest key fits MTR_QUOTA_KEY_MAX", S(L64 "@" D253),
      MTR_QUOTA_KEY_MAX + 1, MTR_QUOTA_KEY_MAX + 1, MTR_OK,
      "mortar:quota:{" D253 "}:user:" L64, "mortar:quota:{" D253 "}:pool" },
    { "65-byte local part", S(L64 "a@x.test"), 0, 0, MTR_ERROR, NULL, NULL },
    { "254-byte domain", S("a@" D253 "b"), 0, 0, MTR_ERROR, NULL, NULL },
    { "no @", S("alice.example.test"), 0, 0, MTR_ERROR, NULL, NULL },
    { "two @", S("a@b@example.test"), 0, 0, MTR_ERROR, NULL, NULL },
    { "empty local part", S("@example.test"), 0, 0, MTR_ERROR, NULL, NULL },
    { "empty domain", S("alice@"), 0, 0, MTR_ERROR, NULL, NULL },
    { "empty address", S(""), 0, 0, MTR_ERROR, NULL, NULL },
    { "NUL inside", S("al\0ce@example.test"), 0, 0, MTR_ERROR, NULL, NULL },
    { "newline inside", S("alice@example.test\n"), 0, 0, MTR_ERROR, NULL,
      NULL },
    { "8-bit byte", S("j\xc3\xb6rg@example.test"), 0, 0, MTR_ERROR, NULL,
      NULL },
    { "brace in domain", S("a@ex{ample.test"), 0, 0, MTR_ERROR, NULL, NULL },
    { "space in domain", S("a@ex ample.test"), 0, 0, MTR_ERROR, NULL, NULL },
    /* "mortar:quota:{x.t}:user:a" is 25 bytes, 26 with the NUL. */
    { "user key exact fit", S("a@x.t"), 26, 0, MTR_OK,
      "mortar:quota:{x.t}:user:a", "mortar:quota:{x.t}:pool" },
    { "user key one byte short", S("a@x.t"), 25, 0, MTR_ERROR, NULL, NULL },
    /* "mortar:quota:{x.t}:pool" is 23 bytes, 24 with the NUL. */
    { "pool key exact fit", S("a@x.t"), 0, 24, MTR_OK,
      "mortar:quota:{x.t}:user:a", "mortar:quota:{x.t}:pool" },
    { "pool key one byte short", S("a@x.t"), 0, 23, MTR_ERROR, NULL, NULL },
};

static void
test_keys(void **state)
{
    char      user[2 * MTR_QUOTA_KEY_MAX + 1], pool[2 * MTR_QUOTA_KEY_MAX + 1];
    size_t    i, us, ps;
    mtr_err_t err;
    int       rc;

    (void) state;

    for (i = 0; i < sizeof(keys_cases) / sizeof(keys_cases[0]); i++) {
        const keys_case_t *c = &keys_cases[i];

        print_message("case: keys: %s\n", c->name);
        us = c->user_size != 0 ? c->user_size : sizeof(user) - 1;
        ps = c->pool_size != 0 ? c->pool_size : sizeof(pool) - 1;
        memset(user, 'X', sizeof(user));
        memset(pool, 'X', sizeof(pool));
        mtr_err_clear(&err);

        rc = mtr_quota_keys(c->address, c->len, user, us, pool, ps, &err);
        assert_int_equal(rc, c->rc);

        if (c->rc == MTR_OK) {
            assert_string_equal(user, c->user_key);
            assert_string_equal(pool, c->pool_key);
            assert_true(strlen(user) <= MTR_QUOTA_KEY_MAX);
        } else {
            assert_true(err.msg[0] != '\0');
            /* Never a half-built key left behind. */
            assert_int_equal(user[0], '\0');
            assert_int_equal(pool[0], '\0');
        }

        /* Nothing written past the given sizes. */
        assert_int_equal(user[us], 'X');
        assert_int_equal(pool[ps], 'X');
    }
}

/* ---- mtr_quota_check ---------------------------------------------------- */

typedef struct {
    const char         *name;
    mtr_quota_limits_t  limits;
    mtr_quota_state_t   state;
    uint64_t            size;
    mtr_quota_verdict_e verdict;
} check_case_t;

#define MB ((uint64_t) 1 << 20)
#define U(b)                                                                   \
    {                                                                          \
        { (b), 0 },                                                            \
        {                                                                      \
            0, 0                                                               \
        }                                                                      \
    }
#define UM(m)                                                                  \
    {                                                                          \
        { 0, (m) },                                                            \
        {                                                                      \
            0, 0                                                               \
        }                                                                      \
    }
#define P(b)                                                                   \
    {                                                                          \
        { 0, 0 },                                                              \
        {                                                                      \
            (b), 0                                                             \
        }                                                                      \
    }

static const check_case_t check_cases[] = {
    { "no limits at all",
      { 0, 0, 0 },
      { { UINT64_MAX, UINT64_MAX }, { 0, 0 } },
      UINT64_MAX,
      MTR_QUOTA_FITS },
    { "99% full, 5 KiB message fits",
      { 100 * MB, 0, 0 },
      U(99 * MB),
      5120,
      MTR_QUOTA_FITS },
    { "99% full, 2 MiB message does not fit",
      { 100 * MB, 0, 0 },
      U(99 * MB),
      2 * MB,
      MTR_QUOTA_OVER_USER_BYTES },
    { "exactly fills the mailbox",
      { 1000, 0, 0 },
      U(900),
      100,
      MTR_QUOTA_FITS },
    { "one byte over", { 1000, 0, 0 }, U(900), 101, MTR_QUOTA_OVER_USER_BYTES },
    { "full mailbox, size 0 fits (caller decides)",
      { 1000, 0, 0 },
      U(1000),
      0,
      MTR_QUOTA_FITS },
    { "full mailbox, one byte",
      { 1000, 0, 0 },
      U(1000),
      1,
      MTR_QUOTA_OVER_USER_BYTES },
    { "usage already past the limit",
      { 1000, 0, 0 },
      U(5000),
      0,
      MTR_QUOTA_OVER_USER_BYTES },
    { "size larger than the limit",
      { 1000, 0, 0 },
      U(0),
      1001,
      MTR_QUOTA_OVER_USER_BYTES },
    { "huge size does not wrap",
      { 1000, 0, 0 },
      U(10),
      UINT64_MAX,
      MTR_QUOTA_OVER_USER_BYTES },
    { "huge usage does not wrap",
      { UINT64_MAX - 1, 0, 0 },
      U(UINT64_MAX - 2),
      2,
      MTR_QUOTA_OVER_USER_BYTES },
    { "largest limit, fits exactly",
      { UINT64_MAX, 0, 0 },
      U(UINT64_MAX - 2),
      2,
      MTR_QUOTA_FITS },
    { "message count below limit", { 0, 10, 0 }, UM(9), 1, MTR_QUOTA_FITS },
    { "message count at limit",
      { 0, 10, 0 },
      UM(10),
      1,
      MTR_QUOTA_OVER_USER_MESSAGES },
    { "pool has room", { 0, 0, 10 * MB }, P(9 * MB), MB, MTR_QUOTA_FITS },
    { "pool full",
      { 0, 0, 10 * MB },
      P(9 * MB),
      MB + 1,
      MTR_QUOTA_OVER_POOL_BYTES },
    { "pool huge size does not wrap",
      { 0, 0, 10 },
      P(5),
      UINT64_MAX,
      MTR_QUOTA_OVER_POOL_BYTES },
    { "user bytes reported before the pool",
      { 1000, 0, 1000 },
      { { 1000, 0 }, { 1000, 0 } },
      1,
      MTR_QUOTA_OVER_USER_BYTES },
    { "user messages reported before the pool",
      { 0, 1, 1000 },
      { { 0, 1 }, { 1000, 0 } },
      1,
      MTR_QUOTA_OVER_USER_MESSAGES },
    { "user fits, pool does not",
      { 100 * MB, 0, 200 * MB },
      { { 1 * MB, 0 }, { 199 * MB, 0 } },
      2 * MB,
      MTR_QUOTA_OVER_POOL_BYTES },
};

static void
test_check(void **state)
{
    size_t i;

    (void) state;

    for (i = 0; i < sizeof(check_cases) / sizeof(check_cases[0]); i++) {
        const check_case_t *c = &check_cases[i];

        print_message("case: check: %s\n", c->name);
        assert_int_equal(mtr_quota_check(&c->limits, &c->state, c->size),
                         c->verdict);
    }
}

static void
test_reason(void **state)
{
    static const struct {
        const char         *name;
        mtr_quota_verdict_e verdict;
        const char         *reason;
    } cases[] = {
        { "fits", MTR_QUOTA_FITS, "fits" },
        { "user bytes", MTR_QUOTA_OVER_USER_BYTES, "mailbox full" },
        { "user messages", MTR_QUOTA_OVER_USER_MESSAGES,
          "too many messages in mailbox" },
        { "pool", MTR_QUOTA_OVER_POOL_BYTES, "domain storage pool full" },
        { "out of range", (mtr_quota_verdict_e) 99, "unknown quota verdict" },
    };
    size_t i;

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("case: reason: %s\n", cases[i].name);
        assert_string_equal(mtr_quota_reason(cases[i].verdict),
                            cases[i].reason);
    }
}

/* ---- mtr_redis mocks ---------------------------------------------------- */

typedef enum {
    REPLY_INTS = 0, /* an array of nints integers */
    REPLY_STATUS,   /* +OK */
    REPLY_STRING,   /* a bulk string instead of an array */
    REPLY_FAIL,     /* the call fails (I/O error, error reply) */
} reply_kind_e;

typedef struct {
    reply_kind_e kind;
    int          nints;
    long long    ints[5];
} mock_reply_t;

#define MOCK_LOG_MAX 8

static struct {
    mock_reply_t reply;
    char         log[MOCK_LOG_MAX][1024];
    const char  *sources[MOCK_LOG_MAX];
    int          ncalls;
} mock;

int __wrap_mtr_redis_eval(mtr_redis_t *r, mtr_redis_script_t *script,
                          int numkeys, int argc, const char **argv,
                          const size_t *argvlen, redisReply **reply_r,
                          mtr_err_t *err);
int __wrap_mtr_redis_argv(mtr_redis_t *r, int argc, const char **argv,
                          const size_t *argvlen, redisReply **reply_r,
                          mtr_err_t *err);

static void
mock_log(const char *head, int argc, const char **argv, const size_t *argvlen)
{
    char  *line;
    size_t used;
    int    i;

    assert_true(mock.ncalls < MOCK_LOG_MAX);
    line = mock.log[mock.ncalls];
    snprintf(line, sizeof(mock.log[0]), "%s", head);
    used = strlen(line);

    for (i = 0; i < argc; i++) {
        assert_true(used + argvlen[i] + 2 < sizeof(mock.log[0]));
        line[used++] = ' ';
        memcpy(line + used, argv[i], argvlen[i]);
        used += argvlen[i];
        line[used] = '\0';
    }
}

static redisReply *
mock_new_reply(int type)
{
    redisReply *reply = calloc(1, sizeof(*reply));

    assert_non_null(reply);
    reply->type = type;
    return reply;
}

static int
mock_answer(redisReply **reply_r, mtr_err_t *err)
{
    redisReply *reply;
    int         i;

    mock.ncalls++;

    if (reply_r != NULL) {
        *reply_r = NULL;
    }

    switch (mock.reply.kind) {
    case REPLY_FAIL:
        return mtr_err_set(err, "redis EVALSHA on 127.0.0.1:6379: timeout");
    case REPLY_STATUS:
        reply = mock_new_reply(REDIS_REPLY_STATUS);
        reply->str = strdup("OK");
        reply->len = 2;
        break;
    case REPLY_STRING:
        reply = mock_new_reply(REDIS_REPLY_STRING);
        reply->str = strdup("12");
        reply->len = 2;
        break;
    case REPLY_INTS:
    default:
        reply = mock_new_reply(REDIS_REPLY_ARRAY);
        reply->elements = (size_t) mock.reply.nints;
        reply->element =
            calloc((size_t) mock.reply.nints + 1, sizeof(*reply->element));
        assert_non_null(reply->element);
        for (i = 0; i < mock.reply.nints; i++) {
            reply->element[i] = mock_new_reply(REDIS_REPLY_INTEGER);
            reply->element[i]->integer = mock.reply.ints[i];
        }
        break;
    }

    if (reply_r != NULL) {
        *reply_r = reply;
    } else {
        freeReplyObject(reply);
    }

    return MTR_OK;
}

int
__wrap_mtr_redis_eval(mtr_redis_t *r, mtr_redis_script_t *script, int numkeys,
                      int argc, const char **argv, const size_t *argvlen,
                      redisReply **reply_r, mtr_err_t *err)
{
    char head[32];

    assert_non_null(r);
    assert_non_null(script);
    assert_non_null(script->source);
    snprintf(head, sizeof(head), "EVAL %d", numkeys);
    mock_log(head, argc, argv, argvlen);
    mock.sources[mock.ncalls] = script->source;

    return mock_answer(reply_r, err);
}

int
__wrap_mtr_redis_argv(mtr_redis_t *r, int argc, const char **argv,
                      const size_t *argvlen, redisReply **reply_r,
                      mtr_err_t *err)
{
    assert_non_null(r);
    mock_log("CMD", argc, argv, argvlen);
    mock.sources[mock.ncalls] = NULL;

    return mock_answer(reply_r, err);
}

/* ---- Redis calls -------------------------------------------------------- */

typedef enum { OP_GET, OP_UPDATE, OP_SET_USER, OP_SET_POOL } op_e;

#define UK "mortar:quota:{example.test}:user:alice"
#define PK "mortar:quota:{example.test}:pool"

typedef struct {
    const char       *name;
    op_e              op;
    const char       *user_key;
    const char       *pool_key;
    int64_t           d1, d2; /* deltas, or counted/total usage */
    mock_reply_t      reply;
    int               rc;
    const char       *call; /* expected logged call; NULL: no call */
    const char       *lua;  /* a word the script must contain */
    mtr_quota_state_t state;
} redis_case_t;

#define INTS4(a, b, c, d)                                                      \
    {                                                                          \
        REPLY_INTS, 4,                                                         \
        {                                                                      \
            a, b, c, d, 0                                                      \
        }                                                                      \
    }

static const redis_case_t redis_cases[] = {
    { "get: both hashes in one script",
      OP_GET,
      UK,
      PK,
      0,
      0,
      INTS4(1000, 3, 5000, 9),
      MTR_OK,
      "EVAL 2 " UK " " PK,
      "HGET",
      { { 1000, 3 }, { 5000, 9 } } },
    { "get: 64-bit values kept",
      OP_GET,
      UK,
      PK,
      0,
      0,
      INTS4(INT64_MAX, 0, 1, 2),
      MTR_OK,
      "EVAL 2 " UK " " PK,
      "HGET",
      { { INT64_MAX, 0 }, { 1, 2 } } },
    { "get: Redis down",
      OP_GET,
      UK,
      PK,
      0,
      0,
      { REPLY_FAIL, 0, { 0 } },
      MTR_ERROR,
      "EVAL 2 " UK " " PK,
      NULL,
      { { 0, 0 }, { 0, 0 } } },
    { "get: three integers",
      OP_GET,
      UK,
      PK,
      0,
      0,
      { REPLY_INTS, 3, { 1, 2, 3, 0, 0 } },
      MTR_ERROR,
      "EVAL 2 " UK " " PK,
      NULL,
      { { 0, 0 }, { 0, 0 } } },
    { "get: five integers",
      OP_GET,
      UK,
      PK,
      0,
      0,
      { REPLY_INTS, 5, { 1, 2, 3, 4, 5 } },
      MTR_ERROR,
      "EVAL 2 " UK " " PK,
      NULL,
      { { 0, 0 }, { 0, 0 } } },
    { "get: negative integer",
      OP_GET,
      UK,
      PK,
      0,
      0,
      INTS4(1, -2, 3, 4),
      MTR_ERROR,
      "EVAL 2 " UK " " PK,
      NULL,
      { { 0, 0 }, { 0, 0 } } },
    { "get: not an array",
      OP_GET,
      UK,
      PK,
      0,
      0,
      { REPLY_STRING, 0, { 0 } },
      MTR_ERROR,
      "EVAL 2 " UK " " PK,
      NULL,
      { { 0, 0 }, { 0, 0 } } },
    { "get: no user key",
      OP_GET,
      NULL,
      PK,
      0,
      0,
      INTS4(0, 0, 0, 0),
      MTR_ERROR,
      NULL,
      NULL,
      { { 0, 0 }, { 0, 0 } } },
    { "get: empty pool key",
      OP_GET,
      UK,
      "",
      0,
      0,
      INTS4(0, 0, 0, 0),
      MTR_ERROR,
      NULL,
      NULL,
      { { 0, 0 }, { 0, 0 } } },
    { "update: add a message",
      OP_UPDATE,
      UK,
      PK,
      2048,
      1,
      INTS4(3048, 4, 7048, 10),
      MTR_OK,
      "EVAL 2 " UK " " PK " 2048 1",
      "HSET",
      { { 3048, 4 }, { 7048, 10 } } },
    { "update: free a message",
      OP_UPDATE,
      UK,
      PK,
      -2048,
      -1,
      INTS4(0, 0, 100, 1),
      MTR_OK,
      "EVAL 2 " UK " " PK " -2048 -1",
      "HSET",
      { { 0, 0 }, { 100, 1 } } },
    { "update: delta of 2^53 accepted",
      OP_UPDATE,
      UK,
      PK,
      (int64_t) 1 << 53,
      0,
      INTS4(1, 0, 1, 0),
      MTR_OK,
      "EVAL 2 " UK " " PK " 9007199254740992 0",
      "HSET",
      { { 1, 0 }, { 1, 0 } } },
    { "update: delta past 2^53 refused",
      OP_UPDATE,
      UK,
      PK,
      ((int64_t) 1 << 53) + 1,
      0,
      INTS4(0, 0, 0, 0),
      MTR_ERROR,
      NULL,
      NULL,
      { { 0, 0 }, { 0, 0 } } },
    { "update: INT64_MIN refused",
      OP_UPDATE,
      UK,
      PK,
      0,
      INT64_MIN,
      INTS4(0, 0, 0, 0),
      MTR_ERROR,
      NULL,
      NULL,
      { { 0, 0 }, { 0, 0 } } },
    { "update: Redis down",
      OP_UPDATE,
      UK,
      PK,
      1,
      1,
      { REPLY_FAIL, 0, { 0 } },
      MTR_ERROR,
      "EVAL 2 " UK " " PK " 1 1",
      NULL,
      { { 0, 0 }, { 0, 0 } } },
    { "set user: counted usage",
      OP_SET_USER,
      UK,
      PK,
      777,
      7,
      INTS4(777, 7, 1777, 17),
      MTR_OK,
      "EVAL 2 " UK " " PK " 777 7",
      "HSET",
      { { 777, 7 }, { 1777, 17 } } },
    { "set user: past 2^53 refused",
      OP_SET_USER,
      UK,
      PK,
      INT64_MAX,
      0,
      INTS4(0, 0, 0, 0),
      MTR_ERROR,
      NULL,
      NULL,
      { { 0, 0 }, { 0, 0 } } },
    { "set pool: HSET both fields",
      OP_SET_POOL,
      NULL,
      PK,
      123456,
      78,
      { REPLY_STATUS, 0, { 0 } },
      MTR_OK,
      "CMD HSET " PK " bytes 123456 messages 78",
      NULL,
      { { 0, 0 }, { 0, 0 } } },
    { "set pool: Redis down",
      OP_SET_POOL,
      NULL,
      PK,
      1,
      1,
      { REPLY_FAIL, 0, { 0 } },
      MTR_ERROR,
      "CMD HSET " PK " bytes 1 messages 1",
      NULL,
      { { 0, 0 }, { 0, 0 } } },
    { "set pool: no key",
      OP_SET_POOL,
      NULL,
      NULL,
      1,
      1,
      { REPLY_STATUS, 0, { 0 } },
      MTR_ERROR,
      NULL,
      NULL,
      { { 0, 0 }, { 0, 0 } } },
};

static void
test_redis(void **state)
{
    /* Never dereferenced: the mocks only check it is not NULL. */
    mtr_redis_t      *r = (mtr_redis_t *) &mock;
    mtr_quota_state_t st;
    mtr_quota_usage_t u;
    mtr_err_t         err;
    size_t            i;
    int               rc = MTR_ERROR;

    (void) state;

    for (i = 0; i < sizeof(redis_cases) / sizeof(redis_cases[0]); i++) {
        const redis_case_t *c = &redis_cases[i];

        print_message("case: redis: %s\n", c->name);
        memset(&mock, 0, sizeof(mock));
        mock.reply = c->reply;
        memset(&st, 0xa5, sizeof(st));
        mtr_err_clear(&err);
        u.bytes = (uint64_t) c->d1;
        u.messages = (uint64_t) c->d2;

        switch (c->op) {
        case OP_GET:
            rc = mtr_quota_get(r, c->user_key, c->pool_key, &st, &err);
            break;
        case OP_UPDATE:
            rc = mtr_quota_update(r, c->user_key, c->pool_key, c->d1, c->d2,
                                  &st, &err);
            break;
        case OP_SET_USER:
            rc = mtr_quota_set_user(r, c->user_key, c->pool_key, &u, &st, &err);
            break;
        case OP_SET_POOL:
            rc = mtr_quota_set_pool(r, c->pool_key, &u, &err);
            memset(&st, 0, sizeof(st));
            break;
        }

        assert_int_equal(rc, c->rc);

        if (c->call == NULL) {
            assert_int_equal(mock.ncalls, 0);
        } else {
            assert_int_equal(mock.ncalls, 1);
            assert_string_equal(mock.log[0], c->call);
        }

        if (c->lua != NULL) {
            assert_non_null(mock.sources[0]);
            assert_non_null(strstr(mock.sources[0], c->lua));
        }

        if (rc == MTR_OK) {
            assert_memory_equal(&st, &c->state, sizeof(st));
        } else {
            assert_true(err.msg[0] != '\0');
            /* A failed call never leaves stale numbers behind. */
            if (c->op != OP_SET_POOL) {
                assert_int_equal(st.user.bytes, 0);
                assert_int_equal(st.pool.bytes, 0);
            }
        }
    }
}

/* The scripts must be distinct and keep their keys within KEYS[1..2]. */
static void
test_scripts(void **state)
{
    mtr_redis_t      *r = (mtr_redis_t *) &mock;
    mtr_quota_state_t st;
    mtr_quota_usage_t u = { 1, 1 };
    const char       *src[3];
    int               i, j;

    (void) state;

    print_message("case: scripts: get, update and set are three scripts\n");
    memset(&mock, 0, sizeof(mock));
    mock.reply = (mock_reply_t) INTS4(0, 0, 0, 0);
    assert_int_equal(mtr_quota_get(r, UK, PK, &st, NULL), MTR_OK);
    assert_int_equal(mtr_quota_update(r, UK, PK, 1, 1, &st, NULL), MTR_OK);
    assert_int_equal(mtr_quota_set_user(r, UK, PK, &u, &st, NULL), MTR_OK);
    assert_int_equal(mock.ncalls, 3);

    for (i = 0; i < 3; i++) {
        src[i] = mock.sources[i];
        assert_non_null(src[i]);
        /* Cluster-safe: no key is made up inside a script. */
        assert_null(strstr(src[i], "mortar:"));
        for (j = 0; j < i; j++) {
            assert_string_not_equal(src[i], src[j]);
        }
    }

    print_message("case: scripts: numbers are written as integers\n");
    /* Lua prints 1e+15 for big doubles; HINCRBY would then fail. */
    assert_non_null(strstr(src[1], "string.format('%d'"));
    assert_non_null(strstr(src[2], "string.format('%d'"));
    /* The user is clamped at zero and the pool follows the user. */
    assert_non_null(strstr(src[1], "if nu < 0 then nu = 0 end"));
    assert_non_null(strstr(src[1], "p + (nu - u)"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),    cmocka_unit_test(test_check),
        cmocka_unit_test(test_reason),  cmocka_unit_test(test_redis),
        cmocka_unit_test(test_scripts),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
