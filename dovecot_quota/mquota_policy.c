/*
 * mquota_policy.c -- the decisions of the Dovecot quota backend: which
 * counter a root reports, which root writes, what a recalculation does,
 * what a save does without Redis, when a cached read may be reused.
 *
 * Core: no Dovecot header, no I/O.  Covered by
 * tests/unit/test_mquota_policy.c.
 */
#include <stdlib.h>
#include <string.h>

#include "mquota_policy.h"

struct mquota_domains_s {
    char **keys;
    size_t n;
    size_t cap;
};

uint64_t
mquota_usage_of(mquota_role_e role, const mtr_quota_state_t *state,
                mquota_resource_e res)
{
    const mtr_quota_usage_t *u;

    u = role == MQUOTA_ROLE_POOL ? &state->pool : &state->user;
    return res == MQUOTA_RES_MESSAGES ? u->messages : u->bytes;
}

int
mquota_root_writes(mquota_role_e role, int has_user_root)
{
    return role == MQUOTA_ROLE_USER || !has_user_root;
}

unsigned
mquota_recalc_actions(mquota_role_e role, int has_user_root, int forced,
                      int pool_done)
{
    unsigned actions = 0;

    if (role == MQUOTA_ROLE_USER) {
        return MQUOTA_RECALC_USER;
    }

    /*
     * Pool root.  Without a user root nobody else recounts this user; the
     * recount comes first so that the sum includes it.
     */
    if (!has_user_root) {
        actions |= MQUOTA_RECALC_USER;
    }

    if (forced && !pool_done) {
        actions |= MQUOTA_RECALC_POOL;
    }

    return actions;
}

mquota_down_e
mquota_down_merge(mquota_down_e a, mquota_down_e b)
{
    return (a == MQUOTA_DOWN_TEMPFAIL || b == MQUOTA_DOWN_TEMPFAIL)
               ? MQUOTA_DOWN_TEMPFAIL
               : MQUOTA_DOWN_ACCEPT;
}

int
mquota_refuse_when_down(mquota_down_e down)
{
    return down == MQUOTA_DOWN_TEMPFAIL;
}

void
mquota_cache_put(mquota_cache_t *c, const mtr_quota_state_t *state,
                 uint64_t now)
{
    c->valid = 1;
    c->stamp = now;
    c->state = *state;
}

int
mquota_cache_get(const mquota_cache_t *c, uint64_t now,
                 mtr_quota_state_t *state_r)
{
    if (!c->valid || now == 0 || c->stamp != now) {
        return MTR_DECLINED;
    }

    *state_r = c->state;
    return MTR_OK;
}

void
mquota_cache_clear(mquota_cache_t *c)
{
    memset(c, 0, sizeof(*c));
}

int
mquota_domains_add(mquota_domains_t **dp, const char *key, mtr_err_t *err)
{
    mquota_domains_t *d = *dp;
    char            **keys;
    size_t            cap;
    char             *copy;

    if (mquota_domains_has(d, key)) {
        return MTR_DECLINED;
    }

    if (d == NULL) {
        d = calloc(1, sizeof(*d));
        if (d == NULL) {
            return mtr_err_set(err, "out of memory");
        }
        *dp = d;
    }

    if (d->n >= MQUOTA_DOMAINS_MAX) {
        return mtr_err_set(err,
                           "more than %d domains re-summed by one "
                           "process",
                           MQUOTA_DOMAINS_MAX);
    }

    if (d->n == d->cap) {
        cap = d->cap == 0 ? 8 : d->cap * 2;
        keys = realloc(d->keys, cap * sizeof(*keys));
        if (keys == NULL) {
            return mtr_err_set(err, "out of memory");
        }
        d->keys = keys;
        d->cap = cap;
    }

    copy = strdup(key);
    if (copy == NULL) {
        return mtr_err_set(err, "out of memory");
    }

    d->keys[d->n++] = copy;
    return MTR_OK;
}

/*
 * A linear search: one process re-sums the pools of the domains it meets
 * in one recalc run, a handful; even thousands cost microseconds next to
 * the mailbox recount of each user.
 */
int
mquota_domains_has(const mquota_domains_t *d, const char *key)
{
    size_t i;

    if (d == NULL) {
        return 0;
    }

    for (i = 0; i < d->n; i++) {
        if (strcmp(d->keys[i], key) == 0) {
            return 1;
        }
    }

    return 0;
}

void
mquota_domains_remove(mquota_domains_t *d, const char *key)
{
    size_t i;

    if (d == NULL) {
        return;
    }

    for (i = 0; i < d->n; i++) {
        if (strcmp(d->keys[i], key) == 0) {
            free(d->keys[i]);
            d->keys[i] = d->keys[--d->n];
            return;
        }
    }
}

void
mquota_domains_destroy(mquota_domains_t **dp)
{
    mquota_domains_t *d = *dp;
    size_t            i;

    if (d == NULL) {
        return;
    }

    for (i = 0; i < d->n; i++) {
        free(d->keys[i]);
    }

    free(d->keys);
    free(d);
    *dp = NULL;
}
