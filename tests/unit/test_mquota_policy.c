/*
 * test_mquota_policy.c -- unit tests of dovecot_quota/mquota_policy.c: the
 * decisions of the Dovecot quota backend (which counter a root reports,
 * which root writes, what a recalculation does, what a save does without
 * Redis), the one-tick usage cache and the set of re-summed domains.
 * Table-driven; the clock is a parameter.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mquota_policy.h"

static const mtr_quota_state_t state = { { 1000, 3 }, { 50000, 40 } };

typedef struct {
    const char       *name;
    mquota_role_e     role;
    mquota_resource_e res;
    uint64_t          want;
} usage_case_t;

static const usage_case_t usage_cases[] = {
    { "user bytes", MQUOTA_ROLE_USER, MQUOTA_RES_BYTES, 1000 },
    { "user messages", MQUOTA_ROLE_USER, MQUOTA_RES_MESSAGES, 3 },
    { "pool bytes", MQUOTA_ROLE_POOL, MQUOTA_RES_BYTES, 50000 },
    { "pool messages", MQUOTA_ROLE_POOL, MQUOTA_RES_MESSAGES, 40 },
};

static void
test_usage_of(void **unused)
{
    size_t i;

    (void) unused;

    for (i = 0; i < sizeof(usage_cases) / sizeof(usage_cases[0]); i++) {
        const usage_case_t *c = &usage_cases[i];

        print_message("usage: %s\n", c->name);
        assert_int_equal(mquota_usage_of(c->role, &state, c->res), c->want);
    }
}

typedef struct {
    const char   *name;
    mquota_role_e role;
    int           has_user_root;
    int           forced;
    int           pool_done;
    int           writes;
    unsigned      recalc;
} root_case_t;

#define UR MQUOTA_RECALC_USER
#define PR MQUOTA_RECALC_POOL

static const root_case_t root_cases[] = {
    /* name, role, has user root, forced, pool done, writes, recalc */
    { "user root, forced recalc", MQUOTA_ROLE_USER, 1, 1, 0, 1, UR },
    { "user root, lost sizes", MQUOTA_ROLE_USER, 1, 0, 0, 1, UR },
    { "user root, pool done", MQUOTA_ROLE_USER, 1, 1, 1, 1, UR },
    { "pool root beside a user root, forced", MQUOTA_ROLE_POOL, 1, 1, 0, 0,
      PR },
    { "pool root beside a user root, pool done", MQUOTA_ROLE_POOL, 1, 1, 1, 0,
      0 },
    { "pool root beside a user root, lost sizes", MQUOTA_ROLE_POOL, 1, 0, 0, 0,
      0 },
    { "pool root alone, forced", MQUOTA_ROLE_POOL, 0, 1, 0, 1, UR | PR },
    { "pool root alone, pool done", MQUOTA_ROLE_POOL, 0, 1, 1, 1, UR },
    { "pool root alone, lost sizes", MQUOTA_ROLE_POOL, 0, 0, 0, 1, UR },
};

static void
test_roots(void **unused)
{
    size_t i;

    (void) unused;

    for (i = 0; i < sizeof(root_cases) / sizeof(root_cases[0]); i++) {
        const root_case_t *c = &root_cases[i];

        print_message("root: %s\n", c->name);
        assert_int_equal(mquota_root_writes(c->role, c->has_user_root) != 0,
                         c->writes);
        assert_int_equal(mquota_recalc_actions(c->role, c->has_user_root,
                                               c->forced, c->pool_done),
                         c->recalc);
    }
}

typedef struct {
    const char   *name;
    mquota_down_e a, b;
    mquota_down_e merged;
    int           refuse;
} down_case_t;

static const down_case_t down_cases[] = {
    { "both tempfail", MQUOTA_DOWN_TEMPFAIL, MQUOTA_DOWN_TEMPFAIL,
      MQUOTA_DOWN_TEMPFAIL, 1 },
    { "both accept", MQUOTA_DOWN_ACCEPT, MQUOTA_DOWN_ACCEPT, MQUOTA_DOWN_ACCEPT,
      0 },
    { "user tempfail, pool accept", MQUOTA_DOWN_TEMPFAIL, MQUOTA_DOWN_ACCEPT,
      MQUOTA_DOWN_TEMPFAIL, 1 },
    { "user accept, pool tempfail", MQUOTA_DOWN_ACCEPT, MQUOTA_DOWN_TEMPFAIL,
      MQUOTA_DOWN_TEMPFAIL, 1 },
};

static void
test_redis_down(void **unused)
{
    size_t i;

    (void) unused;

    for (i = 0; i < sizeof(down_cases) / sizeof(down_cases[0]); i++) {
        const down_case_t *c = &down_cases[i];
        mquota_down_e      m;

        print_message("redis down: %s\n", c->name);
        m = mquota_down_merge(c->a, c->b);
        assert_int_equal(m, c->merged);
        assert_int_equal(mquota_refuse_when_down(m) != 0, c->refuse);
    }
}

typedef struct {
    const char *name;
    int         put; /* store before reading */
    uint64_t    put_at;
    uint64_t    get_at;
    int         rc;
} cache_case_t;

static const cache_case_t cache_cases[] = {
    { "empty cache", 0, 0, 5, MTR_DECLINED },
    { "same tick", 1, 5, 5, MTR_OK },
    { "next tick", 1, 5, 6, MTR_DECLINED },
    { "clock went back", 1, 5, 4, MTR_DECLINED },
    { "no clock never caches", 1, 0, 0, MTR_DECLINED },
};

static void
test_cache(void **unused)
{
    size_t i;

    (void) unused;

    for (i = 0; i < sizeof(cache_cases) / sizeof(cache_cases[0]); i++) {
        const cache_case_t *c = &cache_cases[i];
        mquota_cache_t      cache;
        mtr_quota_state_t   got;

        print_message("cache: %s\n", c->name);
        mquota_cache_clear(&cache);
        memset(&got, 0, sizeof(got));
        if (c->put) {
            mquota_cache_put(&cache, &state, c->put_at);
        }
        assert_int_equal(mquota_cache_get(&cache, c->get_at, &got), c->rc);
        if (c->rc == MTR_OK) {
            assert_memory_equal(&got, &state, sizeof(state));
        }

        /* Cleared, nothing is served, even in the same tick. */
        mquota_cache_clear(&cache);
        assert_int_equal(mquota_cache_get(&cache, c->get_at, &got),
                         MTR_DECLINED);
    }
}

static void
test_domains(void **unused)
{
    mquota_domains_t *d = NULL;
    mtr_err_t         err;
    char              key[64];
    int               i;

    (void) unused;

    print_message("domains: empty set\n");
    assert_int_equal(mquota_domains_has(d, "mortar:quota:{a.test}:pool"), 0);
    mquota_domains_remove(d, "x"); /* NULL set: no-op */

    print_message("domains: first add, then repeat\n");
    assert_int_equal(mquota_domains_add(&d, "mortar:quota:{a.test}:pool", &err),
                     MTR_OK);
    assert_non_null(d);
    assert_int_equal(mquota_domains_add(&d, "mortar:quota:{a.test}:pool", &err),
                     MTR_DECLINED);
    assert_int_equal(mquota_domains_has(d, "mortar:quota:{a.test}:pool"), 1);
    assert_int_equal(mquota_domains_has(d, "mortar:quota:{b.test}:pool"), 0);

    print_message("domains: many, past the first growth\n");
    for (i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "mortar:quota:{d%d.test}:pool", i);
        assert_int_equal(mquota_domains_add(&d, key, &err), MTR_OK);
    }
    for (i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "mortar:quota:{d%d.test}:pool", i);
        assert_int_equal(mquota_domains_has(d, key), 1);
    }

    print_message("domains: remove lets a retry add it again\n");
    mquota_domains_remove(d, "mortar:quota:{a.test}:pool");
    assert_int_equal(mquota_domains_has(d, "mortar:quota:{a.test}:pool"), 0);
    assert_int_equal(mquota_domains_has(d, "mortar:quota:{d99.test}:pool"), 1);
    assert_int_equal(mquota_domains_add(&d, "mortar:quota:{a.test}:pool", &err),
                     MTR_OK);

    mquota_domains_destroy(&d);
    assert_null(d);
    mquota_domains_destroy(&d); /* idempotent */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_of),   cmocka_unit_test(test_roots),
        cmocka_unit_test(test_redis_down), cmocka_unit_test(test_cache),
        cmocka_unit_test(test_domains),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
