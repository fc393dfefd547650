/*
 * test_mpolicy_core.c -- unit tests of milter_filter/mpolicy.c: which
 * check runs in which protocol state, their order, the fail-open and
 * fail-closed rules, message counting per transaction, and the settings
 * cache with the time passed in.  The directory and Redis are a fake
 * world behind mpolicy_ops_t that records every call.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "mpolicy.h"

#define T0 1704067200LL /* the start of an hour */

/* ---- the fake world ------------------------------------------------------ */

static const mpolicy_domain_t world_domains[] = {
    { 1, "example.test", 0, { 0, 0 }, 0 },
    { 1, "grey.test", 0, { 0, 0 }, 1 },
    { 1, "pool.test", 1000, { 0, 0 }, 0 },
    { 1, "limited.test", 0, { 2, 10 }, 0 },
};

static const struct {
    const char    *address; /* what is looked up (mail or alias) */
    mpolicy_user_t u;
} world_users[] = {
    { "bob@example.test", { 1, "bob@example.test", 1000, 0, { 0, 0 }, 0, 0 } },
    { "full@example.test", { 1, "full@example.test", 0, 5, { 0, 0 }, 0, 0 } },
    { "alias@example.test", { 1, "carol@pool.test", 0, 0, { 0, 0 }, 0, 0 } },
    { "fwd@example.test", { 1, "fwd@example.test", 10, 0, { 0, 0 }, 0, 1 } },
    { "free@example.test", { 1, "free@example.test", 0, 0, { 0, 0 }, 0, 0 } },
    { "grey@grey.test", { 1, "grey@grey.test", 0, 0, { 0, 0 }, 0, 0 } },
    { "alice@limited.test", { 1, "alice@limited.test", 0, 0, { 0, 3 }, 2, 0 } },
    { "dan@limited.test", { 1, "dan@limited.test", 0, 0, { 0, 0 }, 0, 0 } },
};

enum {
    F_DOMAIN = 1 << 0,
    F_USER = 1 << 1,
    F_QUOTA = 1 << 2,
    F_RATE = 1 << 3,
    F_GREY_GET = 1 << 4,
    F_GREY_PUT = 1 << 5,
    F_COUNT = 1 << 6,
};

typedef struct {
    unsigned              fail; /* F_* */
    mtr_quota_state_t     quota;
    mpolicy_rate_result_t rate;
    mpolicy_grey_state_t  grey;
    /* recorded */
    int  n_domain, n_user, n_quota, n_rate, n_grey_get, n_grey_put, n_count;
    char quota_user_key[MTR_QUOTA_KEY_MAX + 1];
    char quota_pool_key[MTR_QUOTA_KEY_MAX + 1];
    char counted[128];
    mpolicy_rate_plan_t     plan;
    mpolicy_grey_decision_t put;
    char                    order[64]; /* q, r, g: the order of Redis calls */
} fake_t;

static void
fake_order(fake_t *f, char c)
{
    size_t n = strlen(f->order);

    if (n + 1 < sizeof(f->order)) {
        f->order[n] = c;
        f->order[n + 1] = '\0';
    }
}

static int
fake_domain(void *ctx, mtr_str_t name, mpolicy_domain_t *d, mtr_err_t *err)
{
    fake_t *f = ctx;
    size_t  i;

    f->n_domain++;
    memset(d, 0, sizeof(*d));
    if (f->fail & F_DOMAIN) {
        return mtr_err_set(err, "ldap: Can't contact LDAP server");
    }
    for (i = 0; i < sizeof(world_domains) / sizeof(world_domains[0]); i++) {
        if (strlen(world_domains[i].name) == name.len
            && strncasecmp(world_domains[i].name, name.data, name.len) == 0)
        {
            *d = world_domains[i];
        }
    }
    return MTR_OK;
}

static int
fake_user(void *ctx, mtr_str_t address, mpolicy_user_t *u, mtr_err_t *err)
{
    fake_t *f = ctx;
    size_t  i;

    f->n_user++;
    memset(u, 0, sizeof(*u));
    if (f->fail & F_USER) {
        return mtr_err_set(err, "ldap: timeout");
    }
    for (i = 0; i < sizeof(world_users) / sizeof(world_users[0]); i++) {
        if (strlen(world_users[i].address) == address.len
            && strncasecmp(world_users[i].address, address.data, address.len)
                   == 0)
        {
            *u = world_users[i].u;
        }
    }
    return MTR_OK;
}

static int
fake_quota(void *ctx, const char *uk, const char *pk, mtr_quota_state_t *st,
           mtr_err_t *err)
{
    fake_t *f = ctx;

    f->n_quota++;
    fake_order(f, 'q');
    snprintf(f->quota_user_key, sizeof(f->quota_user_key), "%s", uk);
    snprintf(f->quota_pool_key, sizeof(f->quota_pool_key), "%s", pk);
    if (f->fail & F_QUOTA) {
        return mtr_err_set(err, "redis connect: refused");
    }
    *st = f->quota;
    return MTR_OK;
}

static int
fake_rate(void *ctx, const mpolicy_rate_plan_t *plan,
          mpolicy_rate_result_t *res, mtr_err_t *err)
{
    fake_t *f = ctx;

    f->n_rate++;
    fake_order(f, 'r');
    f->plan = *plan;
    if (f->fail & F_RATE) {
        return mtr_err_set(err, "redis connect: refused");
    }
    *res = f->rate;
    return MTR_OK;
}

static int
fake_grey_get(void *ctx, const mpolicy_grey_keys_t *k, mpolicy_grey_state_t *st,
              mtr_err_t *err)
{
    fake_t *f = ctx;

    (void) k;
    f->n_grey_get++;
    fake_order(f, 'g');
    if (f->fail & F_GREY_GET) {
        return mtr_err_set(err, "redis connect: refused");
    }
    *st = f->grey;
    return MTR_OK;
}

static int
fake_grey_put(void *ctx, const mpolicy_grey_keys_t *k,
              const mpolicy_grey_decision_t *d, mtr_err_t *err)
{
    fake_t *f = ctx;

    (void) k;
    f->n_grey_put++;
    f->put = *d;
    if (f->fail & F_GREY_PUT) {
        return mtr_err_set(err, "redis: timeout");
    }
    return MTR_OK;
}

static int
fake_count(void *ctx, mtr_str_t domain, const char *field, mtr_err_t *err)
{
    fake_t *f = ctx;

    f->n_count++;
    snprintf(f->counted, sizeof(f->counted), "%.*s %s", (int) domain.len,
             domain.data, field);
    if (f->fail & F_COUNT) {
        return mtr_err_set(err, "redis: timeout");
    }
    return MTR_OK;
}

/* ---- decisions ----------------------------------------------------------- */

enum {
    C_QUOTA_OFF = 1 << 0,
    C_RATE_OFF = 1 << 1,
    C_GREY_OFF = 1 << 2,
    C_QUOTA_DEFER = 1 << 3,
    C_RATE_DEFER = 1 << 4,
    C_GREY_DEFER = 1 << 5,
    C_RATE_UNAUTH = 1 << 6,
};

typedef struct {
    const char *name;
    /* request; NULL fields are absent, request/state default to RCPT */
    const char *request, *state, *recipient, *sender, *sasl, *client, *size,
        *instance;
    unsigned conf; /* C_* */
    /* the world */
    unsigned               fail;
    mtr_quota_state_t      quota;
    mpolicy_rate_verdict_e rate;
    mpolicy_grey_state_t   grey;
    /* expected */
    const char     *action; /* a prefix of res.action */
    mpolicy_check_e by;
    size_t          nwarn;
    const char     *order; /* Redis calls in order: q, g, r */
    int             grey_put;
    const char     *counted;
    const char     *quota_key;
    /* rate plan, when r is in order */
    int                   has_user;
    uint64_t              msg_cost;
    mpolicy_rate_limits_t limits;
    size_t                nkeys;
} decide_case_t;

static const decide_case_t decide_cases[] = {
    /* -- states and request types */
    { .name = "not a policy request",
      .request = "junk",
      .recipient = "bob@example.test",
      .action = "DUNNO",
      .nwarn = 1,
      .order = "" },
    { .name = "CONNECT state: nothing",
      .state = "CONNECT",
      .recipient = "bob@example.test",
      .action = "DUNNO",
      .order = "" },
    { .name = "MAIL state: nothing",
      .state = "MAIL",
      .sasl = "alice@limited.test",
      .action = "DUNNO",
      .order = "" },
    { .name = "DATA state: nothing",
      .state = "DATA",
      .recipient = "bob@example.test",
      .size = "999999",
      .action = "DUNNO",
      .order = "" },
    { .name = "END-OF-MESSAGE state: nothing",
      .state = "END-OF-MESSAGE",
      .recipient = "bob@example.test",
      .size = "999999",
      .action = "DUNNO",
      .order = "" },

    /* -- quota */
    { .name = "quota: 99% full, message fits",
      .recipient = "bob@example.test",
      .size = "5",
      .quota = { { 990, 3 }, { 0, 0 } },
      .action = "DUNNO",
      .order = "q",
      .quota_key = "mortar:quota:{example.test}:user:bob" },
    { .name = "quota: 99% full, message too big",
      .recipient = "Bob@Example.TEST",
      .size = "11",
      .quota = { { 990, 3 }, { 0, 0 } },
      .action = "552 5.2.2 Mailbox full",
      .by = MPOLICY_CHECK_QUOTA,
      .order = "q",
      .counted = "example.test quota_rejected",
      .quota_key = "mortar:quota:{example.test}:user:bob" },
    { .name = "quota: no SIZE, a byte left",
      .recipient = "bob@example.test",
      .quota = { { 999, 3 }, { 0, 0 } },
      .action = "DUNNO",
      .order = "q" },
    { .name = "quota: no SIZE, no byte left",
      .recipient = "bob@example.test",
      .size = "0",
      .quota = { { 1000, 3 }, { 0, 0 } },
      .action = "552 5.2.2 Mailbox full",
      .by = MPOLICY_CHECK_QUOTA,
      .order = "q" },
    { .name = "quota: message count",
      .recipient = "full@example.test",
      .quota = { { 0, 5 }, { 0, 0 } },
      .action = "552 5.2.2 Mailbox full: too many messages",
      .by = MPOLICY_CHECK_QUOTA,
      .order = "q" },
    { .name = "quota: alias to another domain uses that domain's pool",
      .recipient = "alias@example.test",
      .size = "100",
      .quota = { { 0, 0 }, { 950, 0 } },
      .action = "552 5.2.2 Mailbox full: domain storage pool full",
      .by = MPOLICY_CHECK_QUOTA,
      .order = "q",
      .counted = "pool.test quota_rejected",
      .quota_key = "mortar:quota:{pool.test}:user:carol" },
    { .name = "quota: forward-only user has no mailbox",
      .recipient = "fwd@example.test",
      .size = "1000",
      .quota = { { 10, 0 }, { 0, 0 } },
      .action = "DUNNO",
      .order = "" },
    { .name = "quota: user without limits",
      .recipient = "free@example.test",
      .size = "1000",
      .action = "DUNNO",
      .order = "" },
    { .name = "quota: unknown user",
      .recipient = "nobody@example.test",
      .size = "1000",
      .action = "DUNNO",
      .order = "" },
    { .name = "quota: other domain",
      .recipient = "x@elsewhere.test",
      .size = "1000",
      .action = "DUNNO",
      .order = "" },
    { .name = "quota: garbage size is 0, warned",
      .recipient = "bob@example.test",
      .size = "12k",
      .quota = { { 990, 3 }, { 0, 0 } },
      .action = "DUNNO",
      .nwarn = 1,
      .order = "q" },
    { .name = "quota: size past 64 bits is 0, warned",
      .recipient = "bob@example.test",
      .size = "99999999999999999999999",
      .action = "DUNNO",
      .nwarn = 1,
      .order = "q" },
    { .name = "quota: size near 2^64 refused, never wrapped",
      .recipient = "bob@example.test",
      .size = "18446744073709551615",
      .action = "552 5.2.2",
      .by = MPOLICY_CHECK_QUOTA,
      .order = "q" },
    { .name = "quota: switched off",
      .recipient = "bob@example.test",
      .size = "11",
      .conf = C_QUOTA_OFF,
      .quota = { { 990, 3 }, { 0, 0 } },
      .action = "DUNNO",
      .order = "" },
    { .name = "quota: counting failure is only a warning",
      .recipient = "bob@example.test",
      .size = "11",
      .fail = F_COUNT,
      .quota = { { 990, 3 }, { 0, 0 } },
      .action = "552 5.2.2",
      .by = MPOLICY_CHECK_QUOTA,
      .nwarn = 1,
      .order = "q" },

    /* -- quota failures */
    { .name = "Redis down: quota fails open",
      .recipient = "bob@example.test",
      .size = "11",
      .fail = F_QUOTA,
      .action = "DUNNO",
      .nwarn = 1,
      .order = "q" },
    { .name = "Redis down: quota_on_error = defer",
      .recipient = "bob@example.test",
      .size = "11",
      .fail = F_QUOTA,
      .conf = C_QUOTA_DEFER,
      .action = "451 4.3.0",
      .by = MPOLICY_CHECK_QUOTA,
      .nwarn = 1,
      .order = "q" },
    { .name = "directory down: fails open",
      .recipient = "bob@example.test",
      .size = "11",
      .fail = F_DOMAIN,
      .action = "DUNNO",
      .nwarn = 2,
      .order = "" },
    { .name = "directory down: quota defer",
      .recipient = "bob@example.test",
      .fail = F_DOMAIN,
      .conf = C_QUOTA_DEFER,
      .action = "451 4.3.0",
      .by = MPOLICY_CHECK_QUOTA,
      .nwarn = 1,
      .order = "" },
    { .name = "directory down: greylist defer only when asked",
      .recipient = "bob@example.test",
      .fail = F_DOMAIN,
      .conf = C_GREY_DEFER,
      .action = "451 4.3.0",
      .by = MPOLICY_CHECK_GREYLIST,
      .nwarn = 2,
      .order = "" },
    { .name = "user lookup down: quota fails open",
      .recipient = "bob@example.test",
      .fail = F_USER,
      .action = "DUNNO",
      .nwarn = 1,
      .order = "" },

    /* -- greylisting */
    { .name = "greylist: new triplet deferred",
      .recipient = "grey@grey.test",
      .sender = "x@outside.test",
      .client = "192.0.2.1",
      .action = "DEFER_IF_PERMIT Greylisted, try again in 300 seconds",
      .by = MPOLICY_CHECK_GREYLIST,
      .order = "g",
      .grey_put = 1 },
    { .name = "greylist: retry after the delay passes with a header",
      .recipient = "grey@grey.test",
      .sender = "x@outside.test",
      .client = "192.0.2.1",
      .grey = { T0 - 400, T0 - 400, 0, 0, 0 },
      .action = "PREPEND X-Greylist: delayed 400 seconds by mortar-policy",
      .by = MPOLICY_CHECK_GREYLIST,
      .order = "g",
      .grey_put = 1 },
    { .name = "greylist: known triplet",
      .recipient = "grey@grey.test",
      .sender = "x@outside.test",
      .client = "192.0.2.1",
      .grey = { T0 - 9000, T0 - 60, 1, 0, 0 },
      .action = "DUNNO",
      .order = "g" },
    { .name = "greylist: not for authenticated senders",
      .recipient = "grey@grey.test",
      .sender = "bob@example.test",
      .sasl = "bob@example.test",
      .client = "192.0.2.1",
      .action = "DUNNO",
      .order = "" },
    { .name = "greylist: off for the domain",
      .recipient = "bob@example.test",
      .sender = "x@outside.test",
      .client = "192.0.2.1",
      .size = "1",
      .action = "DUNNO",
      .order = "q" },
    { .name = "greylist: switched off",
      .recipient = "grey@grey.test",
      .sender = "x@outside.test",
      .client = "192.0.2.1",
      .conf = C_GREY_OFF,
      .action = "DUNNO",
      .order = "" },
    { .name = "greylist: Redis down fails open",
      .recipient = "grey@grey.test",
      .sender = "x@outside.test",
      .client = "192.0.2.1",
      .fail = F_GREY_GET,
      .action = "DUNNO",
      .nwarn = 1,
      .order = "g" },
    { .name = "greylist: Redis down, greylist_on_error = defer",
      .recipient = "grey@grey.test",
      .sender = "x@outside.test",
      .client = "192.0.2.1",
      .fail = F_GREY_GET,
      .conf = C_GREY_DEFER,
      .action = "451 4.3.0",
      .by = MPOLICY_CHECK_GREYLIST,
      .nwarn = 1,
      .order = "g" },
    { .name = "greylist: state not saved, still deferred",
      .recipient = "grey@grey.test",
      .sender = "x@outside.test",
      .client = "192.0.2.1",
      .fail = F_GREY_PUT,
      .action = "DEFER_IF_PERMIT",
      .by = MPOLICY_CHECK_GREYLIST,
      .nwarn = 1,
      .order = "g",
      .grey_put = 1 },
    { .name = "greylist: control byte in sender skips the check",
      .recipient = "grey@grey.test",
      .sender = "x\x01y@outside.test",
      .client = "192.0.2.1",
      .action = "DUNNO",
      .nwarn = 1,
      .order = "" },

    /* -- rate limits */
    { .name = "rate: authenticated user with domain limits",
      .recipient = "x@outside.test",
      .sasl = "dan@limited.test",
      .sender = "dan@limited.test",
      .client = "192.0.2.9",
      .instance = "i1",
      .action = "DUNNO",
      .order = "r",
      .has_user = 1,
      .msg_cost = 1,
      .limits = { 2, 10 },
      .nkeys = 5 },
    { .name = "rate: user override",
      .recipient = "x@outside.test",
      .sasl = "alice@limited.test",
      .client = "192.0.2.9",
      .instance = "i1",
      .action = "DUNNO",
      .order = "r",
      .has_user = 1,
      .msg_cost = 1,
      .limits = { 2, 3 },
      .nkeys = 5 },
    { .name = "rate: over the limit is 450 4.7.1",
      .recipient = "x@outside.test",
      .sasl = "alice@limited.test",
      .client = "192.0.2.9",
      .rate = MPOLICY_RATE_OVER_USER_RECIPIENTS,
      .action = "450 4.7.1 Sender rate limit exceeded",
      .by = MPOLICY_CHECK_RATE,
      .order = "r",
      .has_user = 1,
      .msg_cost = 1,
      .limits = { 2, 3 },
      .nkeys = 5 },
    { .name = "rate: client counter over",
      .recipient = "x@outside.test",
      .sasl = "alice@limited.test",
      .client = "192.0.2.9",
      .rate = MPOLICY_RATE_OVER_CLIENT_MESSAGES,
      .action = "450 4.7.1",
      .by = MPOLICY_CHECK_RATE,
      .order = "r",
      .has_user = 1,
      .msg_cost = 1,
      .limits = { 2, 3 },
      .nkeys = 5 },
    { .name = "rate: bare login name takes the sender's domain",
      .recipient = "x@outside.test",
      .sasl = "alice",
      .sender = "alice@limited.test",
      .client = "192.0.2.9",
      .action = "DUNNO",
      .order = "r",
      .has_user = 1,
      .msg_cost = 1,
      .limits = { 2, 3 },
      .nkeys = 5 },
    { .name = "rate: domain without limits",
      .recipient = "x@outside.test",
      .sasl = "bob@example.test",
      .client = "192.0.2.9",
      .action = "DUNNO",
      .order = "" },
    { .name = "rate: foreign domain",
      .recipient = "x@outside.test",
      .sasl = "who@outside.test",
      .client = "192.0.2.9",
      .action = "DUNNO",
      .order = "" },
    { .name = "rate: unauthenticated is not counted by default",
      .recipient = "bob@example.test",
      .sender = "dan@limited.test",
      .client = "192.0.2.9",
      .size = "1",
      .action = "DUNNO",
      .order = "q" },
    { .name = "rate: rate_unauthenticated counts the client",
      .recipient = "x@outside.test",
      .sender = "dan@limited.test",
      .client = "192.0.2.9",
      .conf = C_RATE_UNAUTH,
      .action = "DUNNO",
      .order = "r",
      .has_user = 0,
      .msg_cost = 1,
      .limits = { 2, 10 },
      .nkeys = 3 },
    { .name = "rate: switched off",
      .recipient = "x@outside.test",
      .sasl = "alice@limited.test",
      .client = "192.0.2.9",
      .conf = C_RATE_OFF,
      .action = "DUNNO",
      .order = "" },
    { .name = "rate: Redis down fails open",
      .recipient = "x@outside.test",
      .sasl = "alice@limited.test",
      .client = "192.0.2.9",
      .fail = F_RATE,
      .action = "DUNNO",
      .nwarn = 1,
      .order = "r",
      .has_user = 1,
      .msg_cost = 1,
      .limits = { 2, 3 },
      .nkeys = 5 },
    { .name = "rate: Redis down, rate_on_error = defer",
      .recipient = "x@outside.test",
      .sasl = "alice@limited.test",
      .client = "192.0.2.9",
      .fail = F_RATE,
      .conf = C_RATE_DEFER,
      .action = "451 4.3.0",
      .by = MPOLICY_CHECK_RATE,
      .nwarn = 1,
      .order = "r",
      .has_user = 1,
      .msg_cost = 1,
      .limits = { 2, 3 },
      .nkeys = 5 },
    { .name = "rate: directory down fails open",
      .recipient = "x@outside.test",
      .sasl = "alice@limited.test",
      .client = "192.0.2.9",
      .fail = F_DOMAIN,
      .action = "DUNNO",
      .nwarn = 3,
      .order = "" },

    /* -- order */
    { .name = "order: quota refuses before rate counts",
      .recipient = "bob@example.test",
      .size = "11",
      .sasl = "alice@limited.test",
      .client = "192.0.2.9",
      .quota = { { 990, 0 }, { 0, 0 } },
      .action = "552 5.2.2",
      .by = MPOLICY_CHECK_QUOTA,
      .order = "q" },
    { .name = "order: quota, then rate",
      .recipient = "bob@example.test",
      .size = "1",
      .sasl = "alice@limited.test",
      .client = "192.0.2.9",
      .action = "DUNNO",
      .order = "qr",
      .has_user = 1,
      .msg_cost = 1,
      .limits = { 2, 3 },
      .nkeys = 5 },
    { .name = "order: greylist defers before rate counts",
      .recipient = "grey@grey.test",
      .sender = "dan@limited.test",
      .client = "192.0.2.9",
      .conf = C_RATE_UNAUTH,
      .action = "DEFER_IF_PERMIT",
      .by = MPOLICY_CHECK_GREYLIST,
      .order = "g",
      .grey_put = 1 },
    { .name = "order: greylist passes, rate defers",
      .recipient = "grey@grey.test",
      .sender = "dan@limited.test",
      .client = "192.0.2.9",
      .conf = C_RATE_UNAUTH,
      .grey = { T0 - 400, T0 - 400, 0, 0, 0 },
      .rate = MPOLICY_RATE_OVER_CLIENT_RECIPIENTS,
      .action = "450 4.7.1",
      .by = MPOLICY_CHECK_RATE,
      .order = "gr",
      .grey_put = 1,
      .has_user = 0,
      .msg_cost = 1,
      .limits = { 2, 10 },
      .nkeys = 3 },
};

static void
set(mtr_str_t *s, const char *v)
{
    if (v != NULL) {
        s->data = v;
        s->len = strlen(v);
    }
}

static void
build(const decide_case_t *c, mpolicy_request_t *req, mpolicy_conf_t *conf)
{
    memset(req, 0, sizeof(*req));
    set(&req->request, c->request != NULL ? c->request : "smtpd_access_policy");
    set(&req->protocol_state, c->state != NULL ? c->state : "RCPT");
    set(&req->recipient, c->recipient);
    set(&req->sender, c->sender);
    set(&req->sasl_username, c->sasl);
    set(&req->client_address, c->client);
    set(&req->size, c->size);
    set(&req->instance, c->instance);

    mpolicy_conf_default(conf);
    conf->quota = !(c->conf & C_QUOTA_OFF);
    conf->rate = !(c->conf & C_RATE_OFF);
    conf->greylist = !(c->conf & C_GREY_OFF);
    conf->rate_unauthenticated = (c->conf & C_RATE_UNAUTH) != 0;
    if (c->conf & C_QUOTA_DEFER) {
        conf->quota_on_error = MPOLICY_ON_ERROR_DEFER;
    }
    if (c->conf & C_RATE_DEFER) {
        conf->rate_on_error = MPOLICY_ON_ERROR_DEFER;
    }
    if (c->conf & C_GREY_DEFER) {
        conf->greylist_on_error = MPOLICY_ON_ERROR_DEFER;
    }
}

static const mpolicy_ops_t fake_ops_template = {
    NULL,      fake_domain,   fake_user,     fake_quota,
    fake_rate, fake_grey_get, fake_grey_put, fake_count,
};

static void
test_decide(void **state)
{
    mpolicy_request_t req;
    mpolicy_conf_t    conf;
    mpolicy_result_t  res;
    mpolicy_session_t session;
    mpolicy_ops_t     ops = fake_ops_template;
    fake_t            f;
    size_t            i, w;

    (void) state;

    for (i = 0; i < sizeof(decide_cases) / sizeof(decide_cases[0]); i++) {
        const decide_case_t *c = &decide_cases[i];

        print_message("case: decide: %s\n", c->name);
        memset(&f, 0, sizeof(f));
        f.fail = c->fail;
        f.quota = c->quota;
        f.rate.verdict = c->rate;
        f.rate.estimate = 7;
        f.grey = c->grey;
        ops.ctx = &f;
        memset(&session, 0, sizeof(session));
        build(c, &req, &conf);

        mpolicy_decide(&conf, &ops, &session, &req, T0, &res);

        for (w = 0; w < res.nwarn; w++) {
            print_message("      warn: %s\n", res.warn[w]);
        }
        if (res.note[0] != '\0') {
            print_message("      note: %s\n", res.note);
        }
        assert_true(strncmp(res.action, c->action, strlen(c->action)) == 0);
        assert_int_equal(res.decided_by, c->by);
        assert_int_equal(res.nwarn, c->nwarn);
        assert_string_equal(f.order, c->order);
        assert_int_equal(f.n_grey_put, c->grey_put);
        if (c->by != MPOLICY_CHECK_NONE && res.action[0] != '4'
            && strncmp(res.action, "451", 3) != 0)
        {
            assert_true(res.note[0] != '\0');
        }
        if (c->counted != NULL) {
            assert_string_equal(f.counted, c->counted);
        } else if (c->by != MPOLICY_CHECK_QUOTA) {
            assert_int_equal(f.n_count, 0);
        }
        if (c->quota_key != NULL) {
            assert_string_equal(f.quota_user_key, c->quota_key);
        }
        if (strchr(c->order, 'r') != NULL) {
            assert_int_equal(f.plan.has_user, c->has_user);
            assert_int_equal(f.plan.msg_cost, c->msg_cost);
            assert_int_equal(f.plan.rcpt_cost, 1);
            assert_int_equal(f.plan.limits.messages, c->limits.messages);
            assert_int_equal(f.plan.limits.recipients, c->limits.recipients);
            assert_int_equal(f.plan.nkeys, c->nkeys);
        }
        /* Every reply must be a valid one. */
        {
            char   buf[MPOLICY_REPLY_MAX + 1];
            size_t len;

            assert_int_equal(
                mpolicy_proto_reply(buf, sizeof(buf), res.action, &len, NULL),
                MTR_OK);
        }
    }
}

/* One message, three recipients: the message is counted once. */
static void
test_message_counted_once(void **state)
{
    static const struct {
        const char *name;
        const char *instance;
        int         over;
        uint64_t    msg_cost;
    } steps[] = {
        { "first RCPT counts the message", "tx1", 0, 1 },
        { "second RCPT of the same message", "tx1", 0, 0 },
        { "third RCPT of the same message", "tx1", 0, 0 },
        { "next message", "tx2", 1, 1 },
        { "deferred message is tried again", "tx2", 0, 1 },
        { "then counted once", "tx2", 0, 0 },
    };
    mpolicy_request_t req;
    mpolicy_conf_t    conf;
    mpolicy_result_t  res;
    mpolicy_session_t session;
    mpolicy_ops_t     ops = fake_ops_template;
    decide_case_t     c = { .recipient = "x@outside.test",
                            .sasl = "alice@limited.test",
                            .client = "192.0.2.9" };
    fake_t            f;
    size_t            i;

    (void) state;

    memset(&session, 0, sizeof(session));
    memset(&f, 0, sizeof(f));
    ops.ctx = &f;

    for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        print_message("case: count: %s\n", steps[i].name);
        c.instance = steps[i].instance;
        build(&c, &req, &conf);
        f.rate.verdict = steps[i].over ? MPOLICY_RATE_OVER_USER_MESSAGES
                                       : MPOLICY_RATE_ALLOW;
        mpolicy_decide(&conf, &ops, &session, &req, T0, &res);
        assert_int_equal(f.plan.msg_cost, steps[i].msg_cost);
        assert_string_equal(res.action, steps[i].over ? "450 4.7.1 Sender rate "
                                                        "limit exceeded, try "
                                                        "again later"
                                                      : "DUNNO");
    }

    print_message("case: count: no session, every RCPT is a message\n");
    c.instance = "tx3";
    build(&c, &req, &conf);
    f.rate.verdict = MPOLICY_RATE_ALLOW;
    mpolicy_decide(&conf, &ops, NULL, &req, T0, &res);
    mpolicy_decide(&conf, &ops, NULL, &req, T0, &res);
    assert_int_equal(f.plan.msg_cost, 1);
}

static void
test_parsers(void **state)
{
    static const struct {
        const char        *name;
        const char        *in;
        int                rc;
        mpolicy_on_error_e v;
    } on_error[] = {
        { "dunno", "dunno", MTR_OK, MPOLICY_ON_ERROR_DUNNO },
        { "DEFER", "DEFER", MTR_OK, MPOLICY_ON_ERROR_DEFER },
        { "reject is not allowed", "reject", MTR_ERROR, 0 },
        { "empty", "", MTR_ERROR, 0 },
        { "NULL", NULL, MTR_ERROR, 0 },
    };
    static const struct {
        const char *name;
        const char *in;
        uint64_t    v;
        int         set;
    } uints[] = {
        { "number", "1048576", 1048576, 1 },
        { "zero", "0", 0, 1 },
        { "absent", NULL, 0, 0 },
        { "negative is no limit", "-5", 0, 1 },
        { "garbage is no limit", "10MB", 0, 1 },
        { "overflow is no limit", "99999999999999999999", 0, 1 },
    };
    mpolicy_on_error_e v;
    size_t             i;
    int                s;

    (void) state;

    for (i = 0; i < sizeof(on_error) / sizeof(on_error[0]); i++) {
        print_message("case: on_error: %s\n", on_error[i].name);
        v = (mpolicy_on_error_e) 99;
        assert_int_equal(mpolicy_on_error_parse(on_error[i].in, &v),
                         on_error[i].rc);
        if (on_error[i].rc == MTR_OK) {
            assert_int_equal(v, on_error[i].v);
        }
    }

    for (i = 0; i < sizeof(uints) / sizeof(uints[0]); i++) {
        print_message("case: ldap uint: %s\n", uints[i].name);
        s = -1;
        assert_int_equal(mpolicy_ldap_uint(uints[i].in, &s), uints[i].v);
        assert_int_equal(s, uints[i].set);
    }

    print_message("case: ldap bool\n");
    assert_int_equal(mpolicy_ldap_bool("TRUE"), 1);
    assert_int_equal(mpolicy_ldap_bool("FALSE"), 0);
    assert_int_equal(mpolicy_ldap_bool("true"), 0);
    assert_int_equal(mpolicy_ldap_bool(NULL), 0);
}

/* ---- cache --------------------------------------------------------------- */

static void
test_cache(void **state)
{
    static const struct {
        const char *name;
        int         op; /* 'p' put, 'g' get */
        const char *key;
        int64_t     now;
        int         value;
        int         rc; /* get: expected; put: MTR_OK */
    } steps[] = {
        { "miss on an empty cache", 'g', "a", 0, 0, MTR_DECLINED },
        { "put a", 'p', "a", 100, 1, MTR_OK },
        { "fresh hit", 'g', "a", 100, 1, MTR_OK },
        { "still fresh at ttl - 1", 'g', "a", 109, 1, MTR_OK },
        { "stale at the ttl", 'g', "a", 110, 1, MTR_AGAIN },
        { "stale until stale_max", 'g', "a", 200, 1, MTR_AGAIN },
        { "gone after stale_max", 'g', "a", 201, 0, MTR_DECLINED },
        { "replace a", 'p', "a", 300, 2, MTR_OK },
        { "replaced value", 'g', "a", 301, 2, MTR_OK },
        { "keys are exact", 'g', "A", 301, 0, MTR_DECLINED },
        { "put b", 'p', "b", 302, 3, MTR_OK },
        { "put c: full, nothing stale: flushed", 'p', "c", 303, 4, MTR_OK },
        { "a dropped by the flush", 'g', "a", 303, 0, MTR_DECLINED },
        { "c kept", 'g', "c", 303, 4, MTR_OK },
        { "put d", 'p', "d", 304, 5, MTR_OK },
        { "put e when c, d are stale: only they go", 'p', "e", 320, 6, MTR_OK },
        { "e kept", 'g', "e", 320, 6, MTR_OK },
        { "clock back: fresh again", 'g', "e", 10, 6, MTR_OK },
    };
    mpolicy_cache_t *c;
    mtr_err_t        err;
    size_t           i;
    int              v;

    (void) state;

    /* Two entries, ttl 10 s, stale for 100 s. */
    assert_int_equal(mpolicy_cache_create(&c, 2, sizeof(int), 10, 100, &err),
                     MTR_OK);

    for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        print_message("case: cache: %s\n", steps[i].name);
        if (steps[i].op == 'p') {
            v = steps[i].value;
            assert_int_equal(mpolicy_cache_put(c, steps[i].key,
                                               strlen(steps[i].key),
                                               steps[i].now, &v),
                             MTR_OK);
            assert_true(mpolicy_cache_count(c) <= 2);
        } else {
            v = 0;
            assert_int_equal(mpolicy_cache_get(c, steps[i].key,
                                               strlen(steps[i].key),
                                               steps[i].now, &v),
                             steps[i].rc);
            assert_int_equal(v, steps[i].value);
        }
    }

    print_message("case: cache: key over the cap\n");
    {
        char big[MPOLICY_CACHE_KEY_MAX + 1];

        memset(big, 'k', sizeof(big));
        v = 1;
        assert_int_equal(mpolicy_cache_put(c, big, sizeof(big), 0, &v),
                         MTR_ERROR);
        assert_int_equal(mpolicy_cache_get(c, big, sizeof(big), 0, &v),
                         MTR_DECLINED);
    }

    print_message("case: cache: flush\n");
    mpolicy_cache_flush(c);
    assert_int_equal(mpolicy_cache_count(c), 0);
    assert_int_equal(mpolicy_cache_get(c, "e", 1, 320, &v), MTR_DECLINED);

    mpolicy_cache_destroy(&c);
    assert_null(c);
    mpolicy_cache_destroy(&c);

    print_message("case: cache: bad sizes\n");
    assert_int_equal(mpolicy_cache_create(&c, 0, 4, 1, 1, &err), MTR_ERROR);
    assert_int_equal(mpolicy_cache_create(&c, 4, 0, 1, 1, &err), MTR_ERROR);
    assert_null(c);

    print_message("case: cache: many entries\n");
    assert_int_equal(mpolicy_cache_create(&c, 1000, sizeof(int), 60, 60, &err),
                     MTR_OK);
    for (v = 0; v < 1000; v++) {
        char key[16];
        int  got = -1;

        snprintf(key, sizeof(key), "k%d", v);
        assert_int_equal(mpolicy_cache_put(c, key, strlen(key), 5, &v), MTR_OK);
        assert_int_equal(mpolicy_cache_get(c, key, strlen(key), 5, &got),
                         MTR_OK);
        assert_int_equal(got, v);
    }
    assert_int_equal(mpolicy_cache_count(c), 1000);
    mpolicy_cache_destroy(&c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decide),
        cmocka_unit_test(test_message_counted_once),
        cmocka_unit_test(test_parsers),
        cmocka_unit_test(test_cache),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
