/*
 * test_mpolicy_rate.c -- unit tests of milter_filter/mpolicy_rate.c: the
 * effective limits, the sliding-window weight and decision with the time
 * passed in, the key plan, and the script call with mtr_redis_eval
 * wrapped at link time (tests/unit/test_mpolicy_rate.flags), so the keys
 * and arguments sent and the parsing of every reply are checked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mpolicy_rate.h"

#define STR(s)                                                                 \
    {                                                                          \
        (s), sizeof(s) - 1                                                     \
    }
#define NOSTR                                                                  \
    {                                                                          \
        NULL, 0                                                                \
    }

/* 2024-01-01T00:00:00Z, the start of a window: 1704067200 / 3600 = 473352. */
#define T0 1704067200LL

/* ---- effective limits ------------------------------------------------- */

static void
test_effective(void **state)
{
    static const struct {
        const char           *name;
        mpolicy_rate_limits_t dom, user;
        unsigned              set;
        mpolicy_rate_limits_t want;
    } cases[] = {
        { "domain only", { 100, 500 }, { 0, 0 }, 0, { 100, 500 } },
        { "user overrides messages", { 100, 500 }, { 7, 0 }, 1, { 7, 500 } },
        { "user overrides recipients", { 100, 500 }, { 0, 9 }, 2, { 100, 9 } },
        { "user overrides both", { 100, 500 }, { 7, 9 }, 3, { 7, 9 } },
        { "user 0 lifts the domain limit",
          { 100, 500 },
          { 0, 0 },
          3,
          { 0, 0 } },
        { "unset user values are ignored",
          { 100, 500 },
          { 1, 1 },
          0,
          { 100, 500 } },
        { "absurd limit is no limit",
          { (uint64_t) 1 << 41, 5 },
          { 0, 0 },
          0,
          { 0, 5 } },
    };
    size_t i;

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mpolicy_rate_limits_t l;

        print_message("case: effective: %s\n", cases[i].name);
        l = mpolicy_rate_effective(&cases[i].dom, &cases[i].user, cases[i].set);
        assert_int_equal(l.messages, cases[i].want.messages);
        assert_int_equal(l.recipients, cases[i].want.recipients);
    }

    print_message("case: effective: no domain\n");
    {
        mpolicy_rate_limits_t u = { 3, 4 }, l;

        l = mpolicy_rate_effective(NULL, &u, 1);
        assert_int_equal(l.messages, 3);
        assert_int_equal(l.recipients, 0);
    }
}

/* ---- weight and decision ---------------------------------------------- */

static void
test_weight(void **state)
{
    static const struct {
        const char *name;
        int64_t     now;
        uint64_t    window;
        unsigned    weight;
    } cases[] = {
        { "start of a window", T0, 3600, 1000 },
        { "one second in", T0 + 1, 3600, 1000 },
        { "3.6 s in: 999", T0 + 4, 3600, 999 },
        { "a quarter in", T0 + 900, 3600, 750 },
        { "half way", T0 + 1800, 3600, 500 },
        { "last second", T0 + 3599, 3600, 1 },
        { "next window starts over", T0 + 3600, 3600, 1000 },
        { "short test window", 105, 10, 500 },
        { "zero window", T0, 0, 0 },
        { "negative time", -5, 3600, 0 },
    };
    size_t i;

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("case: weight: %s\n", cases[i].name);
        assert_int_equal(mpolicy_rate_weight(cases[i].now, cases[i].window),
                         cases[i].weight);
    }
}

static void
test_allow(void **state)
{
    static const struct {
        const char *name;
        uint64_t    prev, cur;
        unsigned    weight;
        uint64_t    cost, limit;
        int         allowed;
        uint64_t    estimate;
    } cases[] = {
        { "empty counters", 0, 0, 1000, 1, 10, 1, 0 },
        { "reaches the limit exactly", 0, 9, 1000, 1, 10, 1, 9 },
        { "one over", 0, 10, 1000, 1, 10, 0, 10 },
        { "previous hour counts fully at its end", 10, 0, 1000, 1, 10, 0, 10 },
        { "previous hour half counted", 10, 4, 500, 1, 10, 1, 9 },
        { "half counted, one more is over", 10, 5, 500, 1, 10, 0, 10 },
        { "weight rounds down", 3, 0, 333, 1, 1, 1, 0 },
        { "large counts stay exact", 1000000007, 5, 999, 1, 2000000000, 1,
          999000011 },
        { "no limit", 1000, 1000, 1000, 1, 0, 1, 2000 },
        { "no cost", 1000, 1000, 1000, 0, 1, 1, 2000 },
    };
    size_t   i;
    uint64_t est;

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("case: allow: %s\n", cases[i].name);
        est = 12345;
        assert_int_equal(mpolicy_rate_allow(cases[i].prev, cases[i].cur,
                                            cases[i].weight, cases[i].cost,
                                            cases[i].limit, &est),
                         cases[i].allowed);
        assert_int_equal(est, cases[i].estimate);
    }
}

/* ---- plan ------------------------------------------------------------- */

typedef struct {
    const char           *name;
    mtr_str_t             domain, local, client;
    int64_t               now;
    mpolicy_rate_limits_t limits;
    uint64_t              msg_cost, rcpt_cost;
    int                   rc;
    const char           *keys[5];
    int                   has_user;
    unsigned              weight;
} plan_case_t;

#define ST "mortar:policy:{example.test}:stats"

static const plan_case_t plan_cases[] = {
    { "user and client",
      STR("Example.TEST"),
      STR("Alice"),
      STR("192.0.2.7"),
      T0 + 900,
      { 10, 100 },
      1,
      1,
      MTR_OK,
      { ST, "mortar:rate:{example.test}:u:alice:473352",
        "mortar:rate:{example.test}:u:alice:473351",
        "mortar:rate:{example.test}:ip:192.0.2.7:473352",
        "mortar:rate:{example.test}:ip:192.0.2.7:473351" },
      1,
      750 },
    { "client only",
      STR("example.test"),
      NOSTR,
      STR("2001:db8::1"),
      T0,
      { 10, 0 },
      1,
      1,
      MTR_OK,
      { ST, "mortar:rate:{example.test}:ip:2001:db8::1:473352",
        "mortar:rate:{example.test}:ip:2001:db8::1:473351", NULL, NULL },
      0,
      1000 },
    { "user only",
      STR("example.test"),
      STR("bob"),
      NOSTR,
      T0 + 3599,
      { 0, 5 },
      0,
      1,
      MTR_OK,
      { ST, "mortar:rate:{example.test}:u:bob:473352",
        "mortar:rate:{example.test}:u:bob:473351", NULL, NULL },
      1,
      1 },
    { "no limits: nothing to do",
      STR("example.test"),
      STR("bob"),
      STR("192.0.2.7"),
      T0,
      { 0, 0 },
      1,
      1,
      MTR_DECLINED,
      { NULL, NULL, NULL, NULL, NULL },
      0,
      0 },
    { "message limit, no new message",
      STR("example.test"),
      STR("bob"),
      STR("192.0.2.7"),
      T0,
      { 5, 0 },
      0,
      1,
      MTR_DECLINED,
      { NULL, NULL, NULL, NULL, NULL },
      0,
      0 },
    { "no subject",
      STR("example.test"),
      NOSTR,
      NOSTR,
      T0,
      { 5, 5 },
      1,
      1,
      MTR_DECLINED,
      { NULL, NULL, NULL, NULL, NULL },
      0,
      0 },
    { "blank in the local part",
      STR("example.test"),
      STR("a b"),
      STR("192.0.2.7"),
      T0,
      { 5, 5 },
      1,
      1,
      MTR_ERROR,
      { NULL, NULL, NULL, NULL, NULL },
      0,
      0 },
    { "newline in the client",
      STR("example.test"),
      STR("a"),
      STR("192.0.2.7\n"),
      T0,
      { 5, 5 },
      1,
      1,
      MTR_ERROR,
      { NULL, NULL, NULL, NULL, NULL },
      0,
      0 },
    { "65-byte local part",
      STR("example.test"),
      STR("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
      NOSTR,
      T0,
      { 5, 5 },
      1,
      1,
      MTR_ERROR,
      { NULL, NULL, NULL, NULL, NULL },
      0,
      0 },
    { "brace in the domain",
      STR("exa{mple"),
      STR("a"),
      NOSTR,
      T0,
      { 5, 5 },
      1,
      1,
      MTR_ERROR,
      { NULL, NULL, NULL, NULL, NULL },
      0,
      0 },
    { "negative time",
      STR("example.test"),
      STR("a"),
      NOSTR,
      -1,
      { 5, 5 },
      1,
      1,
      MTR_ERROR,
      { NULL, NULL, NULL, NULL, NULL },
      0,
      0 },
};

static void
test_plan(void **state)
{
    mpolicy_rate_plan_t plan;
    mtr_err_t           err;
    size_t              i, k, n;

    (void) state;

    for (i = 0; i < sizeof(plan_cases) / sizeof(plan_cases[0]); i++) {
        const plan_case_t *c = &plan_cases[i];

        print_message("case: plan: %s\n", c->name);
        mtr_err_clear(&err);
        assert_int_equal(mpolicy_rate_plan(&plan, c->domain, c->local,
                                           c->client, c->now, 3600, &c->limits,
                                           c->msg_cost, c->rcpt_cost, &err),
                         c->rc);
        if (c->rc == MTR_ERROR) {
            assert_true(err.msg[0] != '\0');
        }
        if (c->rc != MTR_OK) {
            continue;
        }

        for (n = 0; n < 5 && c->keys[n] != NULL; n++) {
        }
        assert_int_equal(plan.nkeys, n);
        for (k = 0; k < n; k++) {
            assert_string_equal(plan.keys[k], c->keys[k]);
        }
        assert_int_equal(plan.has_user, c->has_user);
        assert_int_equal(plan.weight, c->weight);
        assert_int_equal(plan.ttl, 2 * 3600 + 60);
        assert_int_equal(plan.msg_cost, c->msg_cost);
        assert_int_equal(plan.rcpt_cost, c->rcpt_cost);
    }
}

/* ---- the script call -------------------------------------------------- */

typedef struct {
    int       fail; /* the call fails */
    int       type; /* reply type; 0: an array of ints */
    int       nints;
    long long ints[3];
} mock_reply_t;

static struct {
    mock_reply_t reply;
    char         log[2048];
    int          numkeys;
    int          ncalls;
    const char  *source;
} mock;

int __wrap_mtr_redis_eval(mtr_redis_t *r, mtr_redis_script_t *script,
                          int numkeys, int argc, const char **argv,
                          const size_t *argvlen, redisReply **reply_r,
                          mtr_err_t *err);

int
__wrap_mtr_redis_eval(mtr_redis_t *r, mtr_redis_script_t *script, int numkeys,
                      int argc, const char **argv, const size_t *argvlen,
                      redisReply **reply_r, mtr_err_t *err)
{
    redisReply *reply;
    size_t      used = 0;
    int         i;

    assert_non_null(r);
    mock.ncalls++;
    mock.numkeys = numkeys;
    mock.source = script->source;
    mock.log[0] = '\0';
    for (i = 0; i < argc; i++) {
        assert_true(used + argvlen[i] + 2 < sizeof(mock.log));
        if (i != 0) {
            mock.log[used++] = ' ';
        }
        memcpy(mock.log + used, argv[i], argvlen[i]);
        used += argvlen[i];
        mock.log[used] = '\0';
    }

    *reply_r = NULL;
    if (mock.reply.fail) {
        return mtr_err_set(err, "redis connect to 127.0.0.1:6379: refused");
    }

    reply = calloc(1, sizeof(*reply));
    assert_non_null(reply);
    if (mock.reply.type != 0) {
        reply->type = mock.reply.type;
        if (reply->type == REDIS_REPLY_STRING) {
            reply->str = strdup("x");
            reply->len = 1;
        }
    } else {
        reply->type = REDIS_REPLY_ARRAY;
        reply->elements = (size_t) mock.reply.nints;
        reply->element = calloc(3, sizeof(*reply->element));
        assert_non_null(reply->element);
        for (i = 0; i < mock.reply.nints; i++) {
            reply->element[i] = calloc(1, sizeof(redisReply));
            assert_non_null(reply->element[i]);
            reply->element[i]->type = REDIS_REPLY_INTEGER;
            reply->element[i]->integer = mock.reply.ints[i];
        }
    }
    *reply_r = reply;

    return MTR_OK;
}

static void
test_run(void **state)
{
    static const struct {
        const char            *name;
        int                    user, client;
        mock_reply_t           reply;
        int                    rc;
        mpolicy_rate_verdict_e verdict;
        uint64_t               estimate;
    } cases[] = {
        { "counted",
          1,
          1,
          { 0, 0, 2, { 0, 0, 0 } },
          MTR_OK,
          MPOLICY_RATE_ALLOW,
          0 },
        { "user messages over",
          1,
          1,
          { 0, 0, 2, { 1, 10, 0 } },
          MTR_OK,
          MPOLICY_RATE_OVER_USER_MESSAGES,
          10 },
        { "user recipients over",
          1,
          1,
          { 0, 0, 2, { 2, 100, 0 } },
          MTR_OK,
          MPOLICY_RATE_OVER_USER_RECIPIENTS,
          100 },
        { "client messages over",
          1,
          1,
          { 0, 0, 2, { 3, 11, 0 } },
          MTR_OK,
          MPOLICY_RATE_OVER_CLIENT_MESSAGES,
          11 },
        { "client recipients over",
          1,
          1,
          { 0, 0, 2, { 4, 12, 0 } },
          MTR_OK,
          MPOLICY_RATE_OVER_CLIENT_RECIPIENTS,
          12 },
        { "only subject is the client: code 1",
          0,
          1,
          { 0, 0, 2, { 1, 5, 0 } },
          MTR_OK,
          MPOLICY_RATE_OVER_CLIENT_MESSAGES,
          5 },
        { "only subject is the client: code 2",
          0,
          1,
          { 0, 0, 2, { 2, 5, 0 } },
          MTR_OK,
          MPOLICY_RATE_OVER_CLIENT_RECIPIENTS,
          5 },
        { "only the user: code 3 is impossible",
          1,
          0,
          { 0, 0, 2, { 3, 5, 0 } },
          MTR_ERROR,
          MPOLICY_RATE_ALLOW,
          0 },
        { "code 5",
          1,
          1,
          { 0, 0, 2, { 5, 5, 0 } },
          MTR_ERROR,
          MPOLICY_RATE_ALLOW,
          0 },
        { "negative code",
          1,
          1,
          { 0, 0, 2, { -1, 5, 0 } },
          MTR_ERROR,
          MPOLICY_RATE_ALLOW,
          0 },
        { "negative estimate",
          1,
          1,
          { 0, 0, 2, { 1, -5, 0 } },
          MTR_ERROR,
          MPOLICY_RATE_ALLOW,
          0 },
        { "one integer",
          1,
          1,
          { 0, 0, 1, { 0, 0, 0 } },
          MTR_ERROR,
          MPOLICY_RATE_ALLOW,
          0 },
        { "three integers",
          1,
          1,
          { 0, 0, 3, { 0, 0, 0 } },
          MTR_ERROR,
          MPOLICY_RATE_ALLOW,
          0 },
        { "a string",
          1,
          1,
          { 0, REDIS_REPLY_STRING, 0, { 0, 0, 0 } },
          MTR_ERROR,
          MPOLICY_RATE_ALLOW,
          0 },
        { "nil",
          1,
          1,
          { 0, REDIS_REPLY_NIL, 0, { 0, 0, 0 } },
          MTR_ERROR,
          MPOLICY_RATE_ALLOW,
          0 },
        { "Redis down",
          1,
          1,
          { 1, 0, 0, { 0, 0, 0 } },
          MTR_ERROR,
          MPOLICY_RATE_ALLOW,
          0 },
    };
    mtr_redis_script_t    script = MTR_REDIS_SCRIPT(mpolicy_rate_lua);
    mtr_redis_t          *r = (mtr_redis_t *) &mock;
    mpolicy_rate_plan_t   plan;
    mpolicy_rate_limits_t limits = { 10, 100 };
    mpolicy_rate_result_t res;
    mtr_err_t             err;
    mtr_str_t             domain = STR("example.test");
    mtr_str_t             local = STR("alice"), client = STR("192.0.2.7");
    mtr_str_t             none = NOSTR;
    size_t                i;

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("case: run: %s\n", cases[i].name);
        assert_int_equal(
            mpolicy_rate_plan(&plan, domain, cases[i].user ? local : none,
                              cases[i].client ? client : none, T0 + 1800, 3600,
                              &limits, 1, 1, NULL),
            MTR_OK);
        memset(&mock, 0, sizeof(mock));
        mock.reply = cases[i].reply;
        mtr_err_clear(&err);

        assert_int_equal(mpolicy_rate_run(r, &script, &plan, &res, &err),
                         cases[i].rc);
        assert_int_equal(mock.ncalls, 1);
        assert_ptr_equal(mock.source, mpolicy_rate_lua);
        if (cases[i].rc == MTR_OK) {
            assert_int_equal(res.verdict, cases[i].verdict);
            assert_int_equal(res.estimate, cases[i].estimate);
        } else {
            assert_true(err.msg[0] != '\0');
        }
    }

    print_message("case: run: keys then weight, costs, limits, TTL\n");
    assert_int_equal(mpolicy_rate_plan(&plan, domain, local, client, T0 + 1800,
                                       3600, &limits, 0, 1, NULL),
                     MTR_OK);
    memset(&mock, 0, sizeof(mock));
    mock.reply = cases[0].reply;
    assert_int_equal(mpolicy_rate_run(r, &script, &plan, &res, NULL), MTR_OK);
    assert_int_equal(mock.numkeys, 5);
    assert_string_equal(mock.log,
                        ST " mortar:rate:{example.test}:u:alice:473352"
                           " mortar:rate:{example.test}:u:alice:473351"
                           " mortar:rate:{example.test}:ip:192.0.2.7:473352"
                           " mortar:rate:{example.test}:ip:192.0.2.7:473351"
                           " 500 0 1 10 100 7260");

    print_message("case: run: an empty plan is refused before Redis\n");
    memset(&plan, 0, sizeof(plan));
    memset(&mock, 0, sizeof(mock));
    assert_int_equal(mpolicy_rate_run(r, &script, &plan, &res, &err),
                     MTR_ERROR);
    assert_int_equal(mock.ncalls, 0);
}

/* The script and the C decision must say the same thing. */
static void
test_script_matches_c(void **state)
{
    (void) state;

    print_message("case: script: same estimate formula as the C mirror\n");
    assert_non_null(
        strstr(mpolicy_rate_lua, "math.floor((prev * w) / 1000) + cur"));
    assert_non_null(strstr(mpolicy_rate_lua, "if est + cost[j] > limit[j]"));
    print_message("case: script: counts only after every check passed\n");
    assert_true(strstr(mpolicy_rate_lua, "HINCRBY', KEYS[i], fields[j]")
                > strstr(mpolicy_rate_lua, "return {i - 2 + j, est}"));
    print_message("case: script: deferrals are counted\n");
    assert_non_null(strstr(mpolicy_rate_lua, "'rate_deferred'"));
    print_message("case: script: no key made inside the script\n");
    assert_null(strstr(mpolicy_rate_lua, "mortar:"));
}

static void
test_what(void **state)
{
    static const struct {
        const char            *name;
        mpolicy_rate_verdict_e v;
        const char            *s;
    } cases[] = {
        { "allow", MPOLICY_RATE_ALLOW, "allowed" },
        { "user messages", MPOLICY_RATE_OVER_USER_MESSAGES, "user messages" },
        { "user recipients", MPOLICY_RATE_OVER_USER_RECIPIENTS,
          "user recipients" },
        { "client messages", MPOLICY_RATE_OVER_CLIENT_MESSAGES,
          "client messages" },
        { "client recipients", MPOLICY_RATE_OVER_CLIENT_RECIPIENTS,
          "client recipients" },
        { "out of range", (mpolicy_rate_verdict_e) 42, "unknown" },
    };
    size_t i;

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("case: what: %s\n", cases[i].name);
        assert_string_equal(mpolicy_rate_what(cases[i].v), cases[i].s);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_effective),
        cmocka_unit_test(test_weight),
        cmocka_unit_test(test_allow),
        cmocka_unit_test(test_plan),
        cmocka_unit_test(test_run),
        cmocka_unit_test(test_script_matches_c),
        cmocka_unit_test(test_what),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
