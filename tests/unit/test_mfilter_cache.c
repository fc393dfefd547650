/*
 * test_mfilter_cache.c -- unit tests of milter_filter/mfilter_cache.c.
 *
 * Table-driven, every case named: the recipient info (block and allow
 * lists packed, matched like mfilter_list_match, refused when full or out
 * of order), and the TTL cache (hit, miss, expiry at exactly the TTL,
 * case-insensitive keys, a clock going back, bounded replacement of the
 * oldest entry, creation limits).  Time is a parameter: no sleeping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mfilter_cache.h"

static mfilter_settings_t
settings(int virus, int spam, int32_t thr)
{
    mfilter_settings_t s;

    memset(&s, 0, sizeof(s));
    s.has_virus_scan = s.has_spam_scan = s.has_threshold = s.has_action = 1;
    s.virus_scan = virus;
    s.spam_scan = spam;
    s.threshold = thr;
    s.action = MFILTER_ACTION_TAG;
    return s;
}

typedef struct {
    const char *name;
    const char *sender;
    int         blocked;
    int         allowed;
} match_case_t;

static const match_case_t match_cases[] = {
    { "blocked address", "spammer@bad.example", 1, 0 },
    { "blocked address, other case", "SPAMMER@Bad.Example", 1, 0 },
    { "blocked domain", "anyone@evil.example", 1, 0 },
    { "allowed address", "friend@good.example", 0, 1 },
    { "allowed domain", "x@partner.example", 0, 1 },
    { "neither", "someone@else.example", 0, 0 },
    { "subdomain of a blocked domain is not it", "a@sub.evil.example", 0, 0 },
    { "null sender matches nothing", "", 0, 0 },
};

static void
test_info_match(void **state)
{
    mfilter_settings_t  s = settings(1, 1, 5000);
    mfilter_rcpt_info_t info;
    size_t              i;

    (void) state;
    mfilter_rcpt_info_init(&info, &s);
    assert_int_equal(mfilter_rcpt_info_add(&info, 1, "spammer@bad.example", 19),
                     MTR_OK);
    assert_int_equal(mfilter_rcpt_info_add(&info, 1, "@evil.example", 13),
                     MTR_OK);
    assert_int_equal(mfilter_rcpt_info_add(&info, 0, "friend@good.example", 19),
                     MTR_OK);
    assert_int_equal(mfilter_rcpt_info_add(&info, 0, "@partner.example", 16),
                     MTR_OK);
    for (i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
        const match_case_t *k = &match_cases[i];

        printf("  case: %s\n", k->name);
        assert_int_equal(
            mfilter_rcpt_info_match(&info, 1, k->sender, strlen(k->sender)),
            k->blocked);
        assert_int_equal(
            mfilter_rcpt_info_match(&info, 0, k->sender, strlen(k->sender)),
            k->allowed);
    }
}

static void
test_info_limits(void **state)
{
    mfilter_settings_t  s = settings(1, 1, 5000);
    mfilter_rcpt_info_t info;
    char                big[MFILTER_RCPT_LISTS_MAX];
    size_t              n;

    (void) state;
    printf("  case: block value after an allow value refused\n");
    mfilter_rcpt_info_init(&info, &s);
    assert_int_equal(mfilter_rcpt_info_add(&info, 0, "@a.example", 10), MTR_OK);
    assert_int_equal(mfilter_rcpt_info_add(&info, 1, "@b.example", 10),
                     MTR_ERROR);

    printf("  case: value with a NUL byte refused\n");
    mfilter_rcpt_info_init(&info, &s);
    assert_int_equal(mfilter_rcpt_info_add(&info, 1, "a\0b@x", 5), MTR_ERROR);

    printf("  case: lists filled to the last byte, then one more refused\n");
    mfilter_rcpt_info_init(&info, &s);
    memset(big, 'a', sizeof(big));
    /* value + NUL must fit: exactly the whole buffer */
    assert_int_equal(mfilter_rcpt_info_add(&info, 1, big, sizeof(big)),
                     MTR_ERROR);
    n = sizeof(big) - 1;
    assert_int_equal(mfilter_rcpt_info_add(&info, 1, big, n), MTR_OK);
    assert_int_equal(info.used, sizeof(big));
    assert_int_equal(mfilter_rcpt_info_add(&info, 0, "", 0), MTR_ERROR);
}

typedef struct {
    const char *name;
    const char *key;
    uint64_t    now;
    int         rc; /* of get, after "Alice@Example.test" stored at 100 */
} ttl_case_t;

static const ttl_case_t ttl_cases[] = {
    { "same key, just stored", "Alice@Example.test", 100, MTR_OK },
    { "other case, within TTL", "alice@example.TEST", 159, MTR_OK },
    { "expired at exactly the TTL", "alice@example.test", 160, MTR_DECLINED },
    { "clock went back", "alice@example.test", 99, MTR_DECLINED },
    { "other key", "bob@example.test", 100, MTR_DECLINED },
    { "prefix of the key", "alice@example.tes", 100, MTR_DECLINED },
    { "time zero is never a hit", "alice@example.test", 0, MTR_DECLINED },
};

static void
test_ttl(void **state)
{
    mfilter_settings_t  s = settings(0, 1, 7000);
    mfilter_rcpt_info_t in, out;
    mfilter_cache_t    *c = NULL;
    mtr_err_t           err;
    size_t              i;

    (void) state;
    mfilter_rcpt_info_init(&in, &s);
    assert_int_equal(mfilter_rcpt_info_add(&in, 1, "@evil.example", 13),
                     MTR_OK);
    for (i = 0; i < sizeof(ttl_cases) / sizeof(ttl_cases[0]); i++) {
        const ttl_case_t *k = &ttl_cases[i];

        printf("  case: %s\n", k->name);
        assert_int_equal(mfilter_cache_create(&c, 64, 60, &err), MTR_OK);
        mfilter_cache_put(c, "Alice@Example.test", 18, 100, &in);
        memset(&out, 0, sizeof(out));
        assert_int_equal(
            mfilter_cache_get(c, k->key, strlen(k->key), k->now, &out), k->rc);
        if (k->rc == MTR_OK) {
            assert_int_equal(out.settings.spam_scan, 1);
            assert_int_equal(out.settings.virus_scan, 0);
            assert_int_equal(out.settings.threshold, 7000);
            assert_true(mfilter_rcpt_info_match(&out, 1, "x@evil.example", 14));
        }
        mfilter_cache_destroy(&c);
        assert_null(c);
    }

    printf("  case: refreshed entry lives a new TTL\n");
    assert_int_equal(mfilter_cache_create(&c, 64, 60, &err), MTR_OK);
    mfilter_cache_put(c, "a@x", 3, 100, &in);
    mfilter_cache_put(c, "A@X", 3, 150, &in);
    assert_int_equal(mfilter_cache_get(c, "a@x", 3, 200, &out), MTR_OK);
    assert_int_equal(mfilter_cache_get(c, "a@x", 3, 210, &out), MTR_DECLINED);
    mfilter_cache_destroy(&c);
}

static void
test_bounded(void **state)
{
    mfilter_settings_t  s = settings(1, 1, 5000);
    mfilter_rcpt_info_t in, out;
    mfilter_cache_t    *c = NULL;
    mtr_err_t           err;
    char                key[32];
    size_t              i, hits = 0;
    int                 n;

    (void) state;
    mfilter_rcpt_info_init(&in, &s);

    printf("  case: one set of %d ways, the oldest goes\n", MFILTER_CACHE_WAYS);
    assert_int_equal(mfilter_cache_create(&c, 1, 60, &err), MTR_OK);
    for (i = 0; i < MFILTER_CACHE_WAYS + 1; i++) {
        n = snprintf(key, sizeof(key), "u%zu@x", i);
        mfilter_cache_put(c, key, (size_t) n, 100 + i, &in);
    }
    assert_int_equal(mfilter_cache_get(c, "u0@x", 4, 110, &out), MTR_DECLINED);
    for (i = 1; i < MFILTER_CACHE_WAYS + 1; i++) {
        n = snprintf(key, sizeof(key), "u%zu@x", i);
        assert_int_equal(mfilter_cache_get(c, key, (size_t) n, 110, &out),
                         MTR_OK);
    }
    mfilter_cache_destroy(&c);

    printf("  case: 10000 keys into 256 slots: at most 256 hits\n");
    assert_int_equal(mfilter_cache_create(&c, 256, 60, &err), MTR_OK);
    for (i = 0; i < 10000; i++) {
        n = snprintf(key, sizeof(key), "user%zu@example.test", i);
        mfilter_cache_put(c, key, (size_t) n, 100, &in);
    }
    for (i = 0; i < 10000; i++) {
        n = snprintf(key, sizeof(key), "user%zu@example.test", i);
        hits += mfilter_cache_get(c, key, (size_t) n, 101, &out) == MTR_OK;
    }
    printf("    hits: %zu\n", hits);
    assert_true(hits > 0 && hits <= 256);
    mfilter_cache_destroy(&c);

    printf("  case: key longer than an address is not cached\n");
    assert_int_equal(mfilter_cache_create(&c, 16, 60, &err), MTR_OK);
    {
        char long_key[MFILTER_ADDR_MAX + 2];

        memset(long_key, 'a', sizeof(long_key));
        mfilter_cache_put(c, long_key, sizeof(long_key), 100, &in);
        assert_int_equal(
            mfilter_cache_get(c, long_key, sizeof(long_key), 100, &out),
            MTR_DECLINED);
    }
    mfilter_cache_destroy(&c);
}

typedef struct {
    const char *name;
    size_t      entries;
    uint64_t    ttl;
    int         rc;
} create_case_t;

static const create_case_t create_cases[] = {
    { "smallest", 1, 1, MTR_OK },
    { "longest TTL", 4096, MFILTER_CACHE_TTL_MAX, MTR_OK },
    { "no entries", 0, 60, MTR_ERROR },
    { "too many entries", MFILTER_CACHE_ENTRIES_MAX + 1, 60, MTR_ERROR },
    { "TTL zero (the glue does not create a cache then)", 16, 0, MTR_ERROR },
    { "TTL over an hour", 16, MFILTER_CACHE_TTL_MAX + 1, MTR_ERROR },
};

static void
test_create(void **state)
{
    mfilter_cache_t *c;
    mtr_err_t        err;
    size_t           i;

    (void) state;
    for (i = 0; i < sizeof(create_cases) / sizeof(create_cases[0]); i++) {
        const create_case_t *k = &create_cases[i];

        printf("  case: %s\n", k->name);
        c = NULL;
        assert_int_equal(mfilter_cache_create(&c, k->entries, k->ttl, &err),
                         k->rc);
        if (k->rc == MTR_OK) {
            assert_non_null(c);
            mfilter_cache_destroy(&c);
        } else {
            assert_null(c);
            printf("    error: %s\n", err.msg);
        }
    }
    mfilter_cache_destroy(&c); /* NULL: a no-op */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_info_match), cmocka_unit_test(test_info_limits),
        cmocka_unit_test(test_ttl),        cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_create),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
