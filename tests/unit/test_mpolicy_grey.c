/*
 * test_mpolicy_grey.c -- unit tests of milter_filter/mpolicy_grey.c:
 * postgrey's decision with the time injected (a new triplet is deferred,
 * its retry after the delay passes, ...), triplet normalisation and keys,
 * and the two script calls with mtr_redis_eval wrapped at link time
 * (tests/unit/test_mpolicy_grey.flags).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mpolicy_grey.h"

#define STR(s)                                                                 \
    {                                                                          \
        (s), sizeof(s) - 1                                                     \
    }

#define T0 1700000000LL

/* ---- decision ------------------------------------------------------------ */

typedef struct {
    const char            *name;
    mpolicy_grey_conf_t    conf;
    mpolicy_grey_state_t   st;
    int64_t                now;
    mpolicy_grey_verdict_e verdict;
    int                    write_triplet;
    mpolicy_grey_state_t   next; /* checked when write_triplet or client */
    uint64_t               triplet_ttl;
    mpolicy_grey_client_e  client;
    const char            *stat;
    uint64_t               wait, waited;
} decide_case_t;

#define PG                                                                     \
    {                                                                          \
        300, 172800, 3024000, 5                                                \
    } /* postgrey's defaults */
#define NEW                                                                    \
    {                                                                          \
        0, 0, 0, 0, 0                                                          \
    }

static const decide_case_t decide_cases[] = {
    { "new triplet is deferred",
      PG,
      NEW,
      T0,
      MPOLICY_GREY_NEW,
      1,
      { T0, T0, 0, 0, 0 },
      172860,
      MPOLICY_GREY_CLIENT_KEEP,
      "grey_deferred",
      300,
      0 },
    { "retry after 10 s is early",
      PG,
      { T0, T0, 0, 0, 0 },
      T0 + 10,
      MPOLICY_GREY_EARLY,
      0,
      NEW,
      0,
      MPOLICY_GREY_CLIENT_KEEP,
      "grey_deferred",
      290,
      0 },
    { "retry 1 s before the delay is early",
      PG,
      { T0, T0, 0, 0, 0 },
      T0 + 299,
      MPOLICY_GREY_EARLY,
      0,
      NEW,
      0,
      MPOLICY_GREY_CLIENT_KEEP,
      "grey_deferred",
      1,
      0 },
    { "retry at the delay passes",
      PG,
      { T0, T0, 0, 0, 0 },
      T0 + 300,
      MPOLICY_GREY_RETRY,
      1,
      { T0, T0 + 300, 1, 1, T0 + 300 },
      3024000,
      MPOLICY_GREY_CLIENT_BUMP,
      "grey_passed",
      0,
      300 },
    { "retry at the end of the window passes",
      PG,
      { T0, T0, 0, 2, T0 },
      T0 + 172800,
      MPOLICY_GREY_RETRY,
      1,
      { T0, T0 + 172800, 1, 3, T0 + 172800 },
      3024000,
      MPOLICY_GREY_CLIENT_BUMP,
      "grey_passed",
      0,
      172800 },
    { "retry after the window starts over",
      PG,
      { T0, T0, 0, 0, 0 },
      T0 + 172801,
      MPOLICY_GREY_EXPIRED,
      1,
      { T0 + 172801, T0 + 172801, 0, 0, 0 },
      172860,
      MPOLICY_GREY_CLIENT_KEEP,
      "grey_deferred",
      300,
      0 },
    { "clock went back: early, never a pass",
      PG,
      { T0, T0, 0, 0, 0 },
      T0 - 1000,
      MPOLICY_GREY_EARLY,
      0,
      NEW,
      0,
      MPOLICY_GREY_CLIENT_KEEP,
      "grey_deferred",
      300,
      0 },
    { "known triplet passes without a write",
      PG,
      { T0, T0 + 600, 1, 1, T0 + 600 },
      T0 + 600 + 3599,
      MPOLICY_GREY_KNOWN,
      0,
      NEW,
      0,
      MPOLICY_GREY_CLIENT_KEEP,
      NULL,
      0,
      0 },
    { "known triplet refreshed hourly",
      PG,
      { T0, T0 + 600, 1, 1, T0 + 600 },
      T0 + 600 + 3600,
      MPOLICY_GREY_KNOWN,
      1,
      { T0, T0 + 4200, 1, 1, T0 + 600 },
      3024000,
      MPOLICY_GREY_CLIENT_KEEP,
      NULL,
      0,
      0 },
    { "client with 4 retries is not allowed yet",
      PG,
      { 0, 0, 0, 4, T0 },
      T0 + 10,
      MPOLICY_GREY_NEW,
      1,
      { T0 + 10, T0 + 10, 0, 4, T0 },
      172860,
      MPOLICY_GREY_CLIENT_KEEP,
      "grey_deferred",
      300,
      0 },
    { "client with 5 retries passes a new triplet",
      PG,
      { 0, 0, 0, 5, T0 },
      T0 + 10,
      MPOLICY_GREY_CLIENT,
      0,
      NEW,
      0,
      MPOLICY_GREY_CLIENT_KEEP,
      NULL,
      0,
      0 },
    { "allowed client refreshed hourly",
      PG,
      { 0, 0, 0, 9, T0 },
      T0 + 3600,
      MPOLICY_GREY_CLIENT,
      0,
      { 0, 0, 0, 9, T0 + 3600 },
      0,
      MPOLICY_GREY_CLIENT_REFRESH,
      NULL,
      0,
      0 },
    { "auto-allow off",
      { 300, 172800, 3024000, 0 },
      { 0, 0, 0, 99, T0 },
      T0 + 10,
      MPOLICY_GREY_NEW,
      1,
      { T0 + 10, T0 + 10, 0, 99, T0 },
      172860,
      MPOLICY_GREY_CLIENT_KEEP,
      "grey_deferred",
      300,
      0 },
    { "auto-allow off: a retry bumps no client",
      { 300, 172800, 3024000, 0 },
      { T0, T0, 0, 0, 0 },
      T0 + 400,
      MPOLICY_GREY_RETRY,
      1,
      { T0, T0 + 400, 1, 0, 0 },
      3024000,
      MPOLICY_GREY_CLIENT_KEEP,
      "grey_passed",
      0,
      400 },
    { "short test delay",
      { 2, 60, 600, 5 },
      { T0, T0, 0, 0, 0 },
      T0 + 2,
      MPOLICY_GREY_RETRY,
      1,
      { T0, T0 + 2, 1, 1, T0 + 2 },
      600,
      MPOLICY_GREY_CLIENT_BUMP,
      "grey_passed",
      0,
      2 },
};

static void
test_decide(void **state)
{
    mpolicy_grey_decision_t d;
    size_t                  i;

    (void) state;

    for (i = 0; i < sizeof(decide_cases) / sizeof(decide_cases[0]); i++) {
        const decide_case_t *c = &decide_cases[i];

        print_message("case: decide: %s\n", c->name);
        memset(&d, 0xa5, sizeof(d));
        mpolicy_grey_decide(&c->conf, &c->st, c->now, &d);

        assert_int_equal(d.verdict, c->verdict);
        assert_int_equal(d.write_triplet, c->write_triplet);
        assert_int_equal(d.client, c->client);
        assert_int_equal(d.wait, c->wait);
        assert_int_equal(d.waited, c->waited);
        if (c->stat == NULL) {
            assert_null(d.stat);
        } else {
            assert_string_equal(d.stat, c->stat);
        }
        if (c->write_triplet) {
            assert_int_equal(d.triplet_ttl, c->triplet_ttl);
            assert_int_equal(d.next.first, c->next.first);
            assert_int_equal(d.next.last, c->next.last);
            assert_int_equal(d.next.passed, c->next.passed);
        }
        if (c->client != MPOLICY_GREY_CLIENT_KEEP) {
            assert_int_equal(d.client_ttl, c->conf.max_age);
            assert_int_equal(d.next.client_count, c->next.client_count);
            assert_int_equal(d.next.client_last, c->next.client_last);
        }
        assert_int_equal(mpolicy_grey_defers(d.verdict),
                         d.verdict == MPOLICY_GREY_NEW
                             || d.verdict == MPOLICY_GREY_EARLY
                             || d.verdict == MPOLICY_GREY_EXPIRED);
        assert_int_equal(mpolicy_grey_needs_put(&d),
                         c->write_triplet
                             || c->client != MPOLICY_GREY_CLIENT_KEEP
                             || c->stat != NULL);
    }
}

/* The story of the issue: new triplet deferred, retry accepted. */
static void
test_story(void **state)
{
    mpolicy_grey_conf_t     conf;
    mpolicy_grey_state_t    st;
    mpolicy_grey_decision_t d;
    int                     i;

    (void) state;

    mpolicy_grey_conf_default(&conf);
    memset(&st, 0, sizeof(st));

    print_message("case: story: first attempt at T0 is deferred\n");
    mpolicy_grey_decide(&conf, &st, T0, &d);
    assert_true(mpolicy_grey_defers(d.verdict));
    st = d.next;

    print_message("case: story: retry at T0 + 60 is deferred\n");
    mpolicy_grey_decide(&conf, &st, T0 + 60, &d);
    assert_int_equal(d.verdict, MPOLICY_GREY_EARLY);

    print_message("case: story: retry at T0 + 301 passes\n");
    mpolicy_grey_decide(&conf, &st, T0 + 301, &d);
    assert_int_equal(d.verdict, MPOLICY_GREY_RETRY);
    st = d.next;

    print_message("case: story: next message a day later passes at once\n");
    mpolicy_grey_decide(&conf, &st, T0 + 86400, &d);
    assert_int_equal(d.verdict, MPOLICY_GREY_KNOWN);

    print_message("case: story: after 5 retries the client is allowed\n");
    for (i = 1; i < 5; i++) {
        mpolicy_grey_state_t fresh = st;

        fresh.first = T0 + i * 1000;
        fresh.passed = 0;
        mpolicy_grey_decide(&conf, &fresh, T0 + i * 1000 + 400, &d);
        assert_int_equal(d.verdict, MPOLICY_GREY_RETRY);
        st.client_count = d.next.client_count;
        st.client_last = d.next.client_last;
    }
    assert_int_equal(st.client_count, 5);
    st.first = 0; /* a triplet never seen */
    mpolicy_grey_decide(&conf, &st, T0 + 9000, &d);
    assert_int_equal(d.verdict, MPOLICY_GREY_CLIENT);
}

static void
test_names(void **state)
{
    static const struct {
        mpolicy_grey_verdict_e v;
        const char            *name;
    } cases[] = {
        { MPOLICY_GREY_NEW, "new" },
        { MPOLICY_GREY_EARLY, "early" },
        { MPOLICY_GREY_EXPIRED, "expired" },
        { MPOLICY_GREY_RETRY, "retry" },
        { MPOLICY_GREY_KNOWN, "known" },
        { MPOLICY_GREY_CLIENT, "client" },
        { (mpolicy_grey_verdict_e) 77, "unknown" },
    };
    size_t i;

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("case: name: %s\n", cases[i].name);
        assert_string_equal(mpolicy_grey_name(cases[i].v), cases[i].name);
    }
}

/* ---- triplet parts ---------------------------------------------------------
 */

static void
test_net(void **state)
{
    static const struct {
        const char *name;
        const char *in;
        int         rc;
        const char *out;
    } cases[] = {
        { "IPv4 /24", "192.0.2.55", MTR_OK, "192.0.2" },
        { "IPv4 zeros", "10.0.0.1", MTR_OK, "10.0.0" },
        { "IPv6 /64 from the short form", "2001:db8::1", MTR_OK,
          "2001:0db8:0000:0000" },
        { "IPv6 upper case", "2001:DB8:1:2:3:4:5:6", MTR_OK,
          "2001:0db8:0001:0002" },
        { "unknown stays", "unknown", MTR_OK, "unknown" },
        { "not an address, lowercased", "Weird", MTR_OK, "weird" },
        { "blank", "192.0.2.1 x", MTR_ERROR, NULL },
        { "slash is fine, not an address", "a/b", MTR_OK, "a/b" },
        { "too long",
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
          MTR_ERROR, NULL },
    };
    char      buf[MPOLICY_GREY_CLIENT_MAX + 1];
    mtr_err_t err;
    size_t    i;

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mtr_str_t in = { cases[i].in, strlen(cases[i].in) };

        print_message("case: net: %s\n", cases[i].name);
        assert_int_equal(mpolicy_grey_net(in, buf, sizeof(buf), &err),
                         cases[i].rc);
        if (cases[i].rc == MTR_OK) {
            assert_string_equal(buf, cases[i].out);
        } else {
            assert_string_equal(buf, "");
        }
    }
}

static void
test_sender(void **state)
{
    static const struct {
        const char *name;
        const char *in;
        int         rc;
        const char *out;
    } cases[] = {
        { "plain", "alice@example.org", MTR_OK, "alice@example.org" },
        { "lowercased", "Alice@Example.ORG", MTR_OK, "alice@example.org" },
        { "extension dropped", "news+abc123@lists.org", MTR_OK,
          "news@lists.org" },
        { "VERP digits become #", "bounce-12345-67@lists.org", MTR_OK,
          "bounce-#-#@lists.org" },
        { "digits inside a word stay", "user123@example.org", MTR_OK,
          "user123@example.org" },
        { "underscore joins a word", "a_1@example.org", MTR_OK,
          "a_1@example.org" },
        { "all digits", "2024@example.org", MTR_OK, "#@example.org" },
        { "digits in the domain stay", "x.1@mx1.example.org", MTR_OK,
          "x.#@mx1.example.org" },
        { "empty sender (bounce)", "", MTR_OK, "" },
        { "no @", "MAILER-DAEMON", MTR_OK, "mailer-daemon" },
        { "control byte", "a\x01@b", MTR_ERROR, NULL },
    };
    char      buf[MPOLICY_GREY_ADDR_MAX + 1];
    mtr_err_t err;
    size_t    i;

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mtr_str_t in = { cases[i].in, strlen(cases[i].in) };

        print_message("case: sender: %s\n", cases[i].name);
        assert_int_equal(mpolicy_grey_sender(in, buf, sizeof(buf), &err),
                         cases[i].rc);
        if (cases[i].rc == MTR_OK) {
            assert_string_equal(buf, cases[i].out);
        }
    }

    print_message("case: sender: longer than MPOLICY_GREY_ADDR_MAX\n");
    {
        char      big[MPOLICY_GREY_ADDR_MAX + 2];
        mtr_str_t in = { big, sizeof(big) - 1 };

        memset(big, 'a', sizeof(big));
        assert_int_equal(mpolicy_grey_sender(in, buf, sizeof(buf), &err),
                         MTR_ERROR);
        in.len = MPOLICY_GREY_ADDR_MAX;
        assert_int_equal(mpolicy_grey_sender(in, buf, sizeof(buf), &err),
                         MTR_OK);
    }
}

static void
test_keys(void **state)
{
    mpolicy_grey_keys_t k;
    mtr_err_t           err;
    mtr_str_t           dom = STR("Example.TEST");
    mtr_str_t           client = STR("192.0.2.55");
    mtr_str_t           sender = STR("News+x@Lists.org");
    mtr_str_t           rcpt = STR("Bob@Example.test");
    mtr_str_t           bad = STR("a\nb@c");

    (void) state;

    print_message("case: keys: triplet, client and statistics\n");
    assert_int_equal(mpolicy_grey_keys(&k, dom, client, sender, rcpt, &err),
                     MTR_OK);
    assert_string_equal(
        k.triplet,
        "mortar:grey:{example.test}:t:192.0.2/news@lists.org/bob@example.test");
    assert_string_equal(k.client, "mortar:grey:{example.test}:c:192.0.2");
    assert_string_equal(k.stats, "mortar:policy:{example.test}:stats");

    print_message("case: keys: control byte in the recipient\n");
    assert_int_equal(mpolicy_grey_keys(&k, dom, client, sender, bad, &err),
                     MTR_ERROR);

    print_message("case: keys: longest parts still fit\n");
    {
        char      s[MPOLICY_GREY_ADDR_MAX], r[MPOLICY_GREY_ADDR_MAX];
        char      d[MTR_REDIS_DOMAIN_MAX];
        char      c[MPOLICY_GREY_CLIENT_MAX];
        mtr_str_t ms = { s, sizeof(s) }, mr = { r, sizeof(r) };
        mtr_str_t md = { d, sizeof(d) }, mc = { c, sizeof(c) };

        memset(s, 's', sizeof(s));
        memset(r, 'r', sizeof(r));
        memset(d, 'd', sizeof(d));
        memset(c, 'c', sizeof(c));
        assert_int_equal(mpolicy_grey_keys(&k, md, mc, ms, mr, &err), MTR_OK);
        assert_true(strlen(k.triplet) <= MPOLICY_GREY_KEY_MAX);
    }
}

/* ---- the script calls ---------------------------------------------------- */

static struct {
    int         fail;
    int         nints;
    long long   ints[6];
    char        log[4096];
    int         numkeys, ncalls;
    const char *source;
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
    for (i = 0; i < argc; i++) {
        assert_true(used + argvlen[i] + 2 < sizeof(mock.log));
        if (i != 0) {
            mock.log[used++] = '|';
        }
        memcpy(mock.log + used, argv[i], argvlen[i]);
        used += argvlen[i];
        mock.log[used] = '\0';
    }

    if (reply_r != NULL) {
        *reply_r = NULL;
    }
    if (mock.fail) {
        return mtr_err_set(err, "redis EVALSHA: timeout");
    }
    if (reply_r == NULL) {
        return MTR_OK;
    }

    reply = calloc(1, sizeof(*reply));
    assert_non_null(reply);
    reply->type = REDIS_REPLY_ARRAY;
    reply->elements = (size_t) mock.nints;
    reply->element = calloc(6, sizeof(*reply->element));
    assert_non_null(reply->element);
    for (i = 0; i < mock.nints; i++) {
        reply->element[i] = calloc(1, sizeof(redisReply));
        assert_non_null(reply->element[i]);
        reply->element[i]->type = REDIS_REPLY_INTEGER;
        reply->element[i]->integer = mock.ints[i];
    }
    *reply_r = reply;

    return MTR_OK;
}

static void
test_get(void **state)
{
    static const struct {
        const char          *name;
        int                  fail, nints;
        long long            ints[6];
        int                  rc;
        mpolicy_grey_state_t st;
    } cases[] = {
        { "unknown triplet",
          0,
          5,
          { 0, 0, 0, 0, 0, 0 },
          MTR_OK,
          { 0, 0, 0, 0, 0 } },
        { "known triplet and client",
          0,
          5,
          { T0, T0 + 5, 1, 3, T0 + 7, 0 },
          MTR_OK,
          { T0, T0 + 5, 1, 3, T0 + 7 } },
        { "passed is any non-zero",
          0,
          5,
          { 1, 2, 7, 0, 0, 0 },
          MTR_OK,
          { 1, 2, 1, 0, 0 } },
        { "four integers", 0, 4, { 0 }, MTR_ERROR, { 0, 0, 0, 0, 0 } },
        { "six integers", 0, 6, { 0 }, MTR_ERROR, { 0, 0, 0, 0, 0 } },
        { "negative",
          0,
          5,
          { 1, -1, 0, 0, 0, 0 },
          MTR_ERROR,
          { 0, 0, 0, 0, 0 } },
        { "Redis down", 1, 0, { 0 }, MTR_ERROR, { 0, 0, 0, 0, 0 } },
    };
    mtr_redis_script_t   script = MTR_REDIS_SCRIPT(mpolicy_grey_get_lua);
    mtr_redis_t         *r = (mtr_redis_t *) &mock;
    mpolicy_grey_keys_t  k;
    mpolicy_grey_state_t st;
    mtr_err_t            err;
    mtr_str_t            dom = STR("example.test"), c = STR("192.0.2.1");
    mtr_str_t            s = STR("a@b.c"), rc = STR("bob@example.test");
    size_t               i;

    (void) state;

    assert_int_equal(mpolicy_grey_keys(&k, dom, c, s, rc, NULL), MTR_OK);

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("case: get: %s\n", cases[i].name);
        memset(&mock, 0, sizeof(mock));
        mock.fail = cases[i].fail;
        mock.nints = cases[i].nints;
        memcpy(mock.ints, cases[i].ints, sizeof(mock.ints));
        memset(&st, 0xa5, sizeof(st));

        assert_int_equal(mpolicy_grey_get(r, &script, &k, &st, &err),
                         cases[i].rc);
        assert_int_equal(mock.ncalls, 1);
        assert_int_equal(mock.numkeys, 2);
        assert_string_equal(mock.log,
                            "mortar:grey:{example.test}:t:192.0.2/a@b.c/"
                            "bob@example.test|mortar:grey:{example.test}:c:"
                            "192.0.2");
        assert_int_equal(st.first, cases[i].st.first);
        assert_int_equal(st.last, cases[i].st.last);
        assert_int_equal(st.passed, cases[i].st.passed);
        assert_int_equal(st.client_count, cases[i].st.client_count);
        assert_int_equal(st.client_last, cases[i].st.client_last);
    }
}

static void
test_put(void **state)
{
    mtr_redis_script_t      script = MTR_REDIS_SCRIPT(mpolicy_grey_put_lua);
    mtr_redis_t            *r = (mtr_redis_t *) &mock;
    mpolicy_grey_keys_t     k;
    mpolicy_grey_conf_t     conf;
    mpolicy_grey_state_t    st = { T0, T0, 0, 2, T0 };
    mpolicy_grey_state_t    known = { T0, T0 + 100, 1, 2, T0 };
    mpolicy_grey_decision_t d;
    mtr_err_t               err;
    mtr_str_t               dom = STR("example.test"), c = STR("192.0.2.1");
    mtr_str_t               s = STR("a@b.c"), rc = STR("bob@example.test");

    (void) state;

    mpolicy_grey_conf_default(&conf);
    assert_int_equal(mpolicy_grey_keys(&k, dom, c, s, rc, NULL), MTR_OK);

    print_message("case: put: a passing retry writes all three\n");
    memset(&mock, 0, sizeof(mock));
    mpolicy_grey_decide(&conf, &st, T0 + 400, &d);
    assert_int_equal(mpolicy_grey_put(r, &script, &k, &d, &err), MTR_OK);
    assert_int_equal(mock.ncalls, 1);
    assert_int_equal(mock.numkeys, 3);
    assert_ptr_equal(mock.source, mpolicy_grey_put_lua);
    assert_string_equal(
        mock.log, "mortar:grey:{example.test}:t:192.0.2/a@b.c/bob@example.test"
                  "|mortar:grey:{example.test}:c:192.0.2"
                  "|mortar:policy:{example.test}:stats"
                  "|1|1700000000|1700000400|1|3024000|1|1700000400|3024000"
                  "|grey_passed");

    print_message("case: put: an early retry only counts\n");
    memset(&mock, 0, sizeof(mock));
    mpolicy_grey_decide(&conf, &st, T0 + 10, &d);
    assert_int_equal(mpolicy_grey_put(r, &script, &k, &d, &err), MTR_OK);
    assert_non_null(strstr(mock.log, "|0|1700000000|1700000000|0|1|0|"));
    assert_non_null(strstr(mock.log, "|grey_deferred"));

    print_message("case: put: a known triplet within the hour sends nothing\n");
    memset(&mock, 0, sizeof(mock));
    mpolicy_grey_decide(&conf, &known, T0 + 200, &d);
    assert_int_equal(mpolicy_grey_put(r, &script, &k, &d, &err), MTR_OK);
    assert_int_equal(mock.ncalls, 0);

    print_message("case: put: Redis down\n");
    memset(&mock, 0, sizeof(mock));
    mock.fail = 1;
    mpolicy_grey_decide(&conf, &st, T0 + 10, &d);
    assert_int_equal(mpolicy_grey_put(r, &script, &k, &d, &err), MTR_ERROR);
    assert_true(err.msg[0] != '\0');
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decide), cmocka_unit_test(test_story),
        cmocka_unit_test(test_names),  cmocka_unit_test(test_net),
        cmocka_unit_test(test_sender), cmocka_unit_test(test_keys),
        cmocka_unit_test(test_get),    cmocka_unit_test(test_put),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
