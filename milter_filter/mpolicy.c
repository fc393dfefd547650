/*
 * mpolicy.c -- the request-to-action core of mortar-policy and its
 * settings cache.
 *
 * Core: no I/O, no logging; the directory and Redis are callbacks, the
 * time is a parameter, and every failure ends up in the result as a
 * warning for the glue to log.  The order of the checks and the failure
 * rules are explained in mpolicy.h.  Covered by tests/unit/test_mpolicy_core.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mpolicy.h"

#define MPOLICY_DEFER_ACTION "451 4.3.0 Policy lookup failed, try again later"
#define MPOLICY_RATE_ACTION                                                    \
    "450 4.7.1 Sender rate limit exceeded, try again later"

/* Sizes Postfix may announce: anything larger is as good as infinite. */
#define MPOLICY_SIZE_MAX ((uint64_t) 1 << 62)

typedef enum {
    MPOLICY_GO_ON = 0, /* the check passed or was skipped */
    MPOLICY_DONE,      /* the check decided: res->action is final */
} mpolicy_step_e;

/* An address split at its last '@'. */
typedef struct {
    mtr_str_t local;
    mtr_str_t domain;
} mpolicy_addr_t;

static void mpolicy_warn(mpolicy_result_t *res, const char *fmt, ...)
    MTR_PRINTF(2, 3);

static void
mpolicy_warn(mpolicy_result_t *res, const char *fmt, ...)
{
    va_list ap;

    if (res->nwarn >= MPOLICY_WARN_MAX) {
        return;
    }

    va_start(ap, fmt);
    vsnprintf(res->warn[res->nwarn], sizeof(res->warn[0]), fmt, ap);
    va_end(ap);

    res->nwarn++;
}

static void mpolicy_note(mpolicy_result_t *res, const char *fmt, ...)
    MTR_PRINTF(2, 3);

static void
mpolicy_note(mpolicy_result_t *res, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(res->note, sizeof(res->note), fmt, ap);
    va_end(ap);
}

static void mpolicy_action(mpolicy_result_t *res, mpolicy_check_e by,
                           const char *fmt, ...) MTR_PRINTF(3, 4);

static void
mpolicy_action(mpolicy_result_t *res, mpolicy_check_e by, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(res->action, sizeof(res->action), fmt, ap);
    va_end(ap);

    res->decided_by = by;
}

static int
mpolicy_eq(mtr_str_t s, const char *lit)
{
    size_t n = strlen(lit);

    return s.len == n && memcmp(s.data, lit, n) == 0;
}

static int
mpolicy_split(mtr_str_t a, mpolicy_addr_t *out)
{
    size_t i;

    for (i = a.len; i > 0; i--) {
        if (a.data[i - 1] == '@') {
            out->local.data = a.data;
            out->local.len = i - 1;
            out->domain.data = a.data + i;
            out->domain.len = a.len - i;
            return out->local.len != 0 && out->domain.len != 0;
        }
    }

    return 0;
}

/* A limit for a note: 0 is "unlimited". */
static const char *
mpolicy_limit(char *buf, size_t size, uint64_t v)
{
    if (v == 0) {
        return "unlimited";
    }

    snprintf(buf, size, "%llu", (unsigned long long) v);

    return buf;
}

/* Wire values reach notes through %.*s, cut to keep a note readable. */
#define P(s) (int) ((s).len > 160 ? 160 : (s).len), (s).data

/*
 * A failure in a check: warn, then apply its on_error setting.  Returns
 * MPOLICY_DONE when the setting defers.
 */
static mpolicy_step_e
mpolicy_failed(mpolicy_result_t *res, mpolicy_check_e check,
               mpolicy_on_error_e on_error, const char *what,
               const mtr_err_t *err)
{
    static const char *names[] = { "none", "quota", "greylist", "rate" };

    if (on_error == MPOLICY_ON_ERROR_DEFER) {
        mpolicy_warn(res, "%s: %s: %s; deferring (%s_on_error = defer)",
                     names[check], what, err->msg,
                     check == MPOLICY_CHECK_GREYLIST ? "greylist"
                                                     : names[check]);
        mpolicy_action(res, check, "%s", MPOLICY_DEFER_ACTION);
        return MPOLICY_DONE;
    }

    mpolicy_warn(res, "%s: %s: %s; check skipped (fail open)", names[check],
                 what, err->msg);

    return MPOLICY_GO_ON;
}

static mpolicy_step_e
mpolicy_check_quota(const mpolicy_conf_t *conf, const mpolicy_ops_t *ops,
                    const mpolicy_request_t *req, const mpolicy_domain_t *rd,
                    uint64_t size, mpolicy_result_t *res)
{
    mpolicy_user_t      u;
    mpolicy_domain_t    ud;
    mpolicy_addr_t      ua;
    mtr_quota_limits_t  limits;
    mtr_quota_state_t   st;
    mtr_quota_verdict_e v;
    mtr_err_t           err;
    char                uk[MTR_QUOTA_KEY_MAX + 1], pk[MTR_QUOTA_KEY_MAX + 1];
    char                lb[24], lm[24], lp[24];
    mtr_str_t           mail;

    memset(&u, 0, sizeof(u));
    mtr_err_clear(&err);

    if (ops->user(ops->ctx, req->recipient, &u, &err) != MTR_OK) {
        return mpolicy_failed(res, MPOLICY_CHECK_QUOTA, conf->quota_on_error,
                              "user lookup", &err);
    }

    if (!u.found || u.forward_only) {
        return MPOLICY_GO_ON;
    }

    mail.data = u.mail;
    mail.len = strnlen(u.mail, sizeof(u.mail));

    limits.user_bytes = u.quota_bytes;
    limits.user_messages = u.quota_messages;
    limits.pool_bytes = rd->pool_bytes;

    /* An alias may lead to a user of another domain, with another pool. */
    if (mpolicy_split(mail, &ua)
        && !(ua.domain.len == strlen(rd->name)
             && strncasecmp(ua.domain.data, rd->name, ua.domain.len) == 0))
    {
        memset(&ud, 0, sizeof(ud));
        if (ops->domain(ops->ctx, ua.domain, &ud, &err) != MTR_OK) {
            return mpolicy_failed(res, MPOLICY_CHECK_QUOTA,
                                  conf->quota_on_error, "domain lookup", &err);
        }
        limits.pool_bytes = ud.found ? ud.pool_bytes : 0;
    }

    if (limits.user_bytes == 0 && limits.user_messages == 0
        && limits.pool_bytes == 0)
    {
        return MPOLICY_GO_ON;
    }

    if (mtr_quota_keys(mail.data, mail.len, uk, sizeof(uk), pk, sizeof(pk),
                       &err)
        != MTR_OK)
    {
        mpolicy_warn(res, "%s; check skipped", err.msg);
        return MPOLICY_GO_ON;
    }

    if (ops->quota(ops->ctx, uk, pk, &st, &err) != MTR_OK) {
        return mpolicy_failed(res, MPOLICY_CHECK_QUOTA, conf->quota_on_error,
                              "usage", &err);
    }

    /*
     * Without SIZE= Postfix sends size=0; a message has at least one byte,
     * so a mailbox with no byte left is refused even then.
     */
    v = mtr_quota_check(&limits, &st, size != 0 ? size : 1);

    if (v == MTR_QUOTA_FITS) {
        return MPOLICY_GO_ON;
    }

    switch (v) {
    case MTR_QUOTA_OVER_USER_MESSAGES:
        mpolicy_action(res, MPOLICY_CHECK_QUOTA,
                       "552 5.2.2 Mailbox full: too many messages");
        break;
    case MTR_QUOTA_OVER_POOL_BYTES:
        mpolicy_action(res, MPOLICY_CHECK_QUOTA,
                       "552 5.2.2 Mailbox full: domain storage pool full");
        break;
    default:
        mpolicy_action(res, MPOLICY_CHECK_QUOTA, "552 5.2.2 Mailbox full");
        break;
    }

    mpolicy_note(res,
                 "quota: reject to=<%.*s> size=%llu: %s (user bytes "
                 "%llu/%s, messages %llu/%s; pool bytes %llu/%s)",
                 P(req->recipient), (unsigned long long) size,
                 mtr_quota_reason(v), (unsigned long long) st.user.bytes,
                 mpolicy_limit(lb, sizeof(lb), limits.user_bytes),
                 (unsigned long long) st.user.messages,
                 mpolicy_limit(lm, sizeof(lm), limits.user_messages),
                 (unsigned long long) st.pool.bytes,
                 mpolicy_limit(lp, sizeof(lp), limits.pool_bytes));

    /* mtr_quota_keys accepted mail: it splits. */
    if (ops->count != NULL && mpolicy_split(mail, &ua)
        && ops->count(ops->ctx, ua.domain, "quota_rejected", &err) != MTR_OK)
    {
        mpolicy_warn(res, "quota: statistics: %s", err.msg);
    }

    return MPOLICY_DONE;
}

static mpolicy_step_e
mpolicy_check_grey(const mpolicy_conf_t *conf, const mpolicy_ops_t *ops,
                   const mpolicy_request_t *req, const mpolicy_domain_t *rd,
                   int64_t now, char *prepend, size_t prepend_size,
                   mpolicy_result_t *res)
{
    mpolicy_grey_keys_t     k;
    mpolicy_grey_state_t    st;
    mpolicy_grey_decision_t d;
    mtr_err_t               err;
    mtr_str_t dom = { rd->name, strnlen(rd->name, sizeof(rd->name)) };

    mtr_err_clear(&err);

    if (mpolicy_grey_keys(&k, dom, req->client_address, req->sender,
                          req->recipient, &err)
        != MTR_OK)
    {
        mpolicy_warn(res, "%s; check skipped", err.msg);
        return MPOLICY_GO_ON;
    }

    if (ops->grey_get(ops->ctx, &k, &st, &err) != MTR_OK) {
        return mpolicy_failed(res, MPOLICY_CHECK_GREYLIST,
                              conf->greylist_on_error, "state", &err);
    }

    mpolicy_grey_decide(&conf->grey, &st, now, &d);

    if (mpolicy_grey_needs_put(&d)
        && ops->grey_put(ops->ctx, &k, &d, &err) != MTR_OK)
    {
        /* The verdict stands; only its memory is lost. */
        mpolicy_warn(res, "greylist: saving state: %s", err.msg);
    }

    if (mpolicy_grey_defers(d.verdict)) {
        mpolicy_action(res, MPOLICY_CHECK_GREYLIST,
                       "DEFER_IF_PERMIT Greylisted, try again in %llu seconds",
                       (unsigned long long) d.wait);
        mpolicy_note(res,
                     "greylist: defer (%s) from=<%.*s> to=<%.*s> "
                     "client=%.*s",
                     mpolicy_grey_name(d.verdict), P(req->sender),
                     P(req->recipient), P(req->client_address));
        return MPOLICY_DONE;
    }

    if (d.verdict == MPOLICY_GREY_RETRY) {
        snprintf(prepend, prepend_size,
                 "PREPEND X-Greylist: delayed %llu seconds by mortar-policy",
                 (unsigned long long) d.waited);
        mpolicy_note(res,
                     "greylist: pass (retry after %llu s) from=<%.*s> "
                     "to=<%.*s> client=%.*s",
                     (unsigned long long) d.waited, P(req->sender),
                     P(req->recipient), P(req->client_address));
    }

    return MPOLICY_GO_ON;
}

static mpolicy_step_e
mpolicy_check_rate(const mpolicy_conf_t *conf, const mpolicy_ops_t *ops,
                   mpolicy_session_t *session, const mpolicy_request_t *req,
                   int64_t now, mpolicy_result_t *res)
{
    mpolicy_addr_t        sa, snd;
    mpolicy_domain_t      d;
    mpolicy_user_t        u;
    mpolicy_rate_limits_t limits;
    mpolicy_rate_plan_t   plan;
    mpolicy_rate_result_t rr;
    mtr_err_t             err;
    mtr_str_t             domain, local, who, dname;
    char                  addr[MPOLICY_ADDR_MAX + 1];
    uint64_t              msg_cost, limit;
    int                   rc, bare = 0, auth = req->sasl_username.len != 0;

    mtr_err_clear(&err);
    memset(&d, 0, sizeof(d));
    memset(&u, 0, sizeof(u));
    local.data = NULL;
    local.len = 0;

    if (auth) {
        who = req->sasl_username;
        if (mpolicy_split(who, &sa)) {
            domain = sa.domain;
            local = sa.local;
        } else if (mpolicy_split(req->sender, &snd)) {
            /* A bare login name: the sender's domain says whose it is. */
            domain = snd.domain;
            local = who;
            bare = 1;
        } else {
            return MPOLICY_GO_ON;
        }
    } else if (conf->rate_unauthenticated && mpolicy_split(req->sender, &snd)) {
        who = req->sender;
        domain = snd.domain;
    } else {
        return MPOLICY_GO_ON;
    }

    if (ops->domain(ops->ctx, domain, &d, &err) != MTR_OK) {
        return mpolicy_failed(res, MPOLICY_CHECK_RATE, conf->rate_on_error,
                              "domain lookup", &err);
    }

    if (!d.found) {
        return MPOLICY_GO_ON;
    }

    limits = d.rate;

    if (auth) {
        mtr_str_t a = who;

        if (bare) {
            /* @UNSAFE: both parts are checked against addr's size. */
            if (local.len + 1 + domain.len >= sizeof(addr)) {
                mpolicy_warn(res, "rate: login name too long; check skipped");
                return MPOLICY_GO_ON;
            }
            memcpy(addr, local.data, local.len);
            addr[local.len] = '@';
            memcpy(addr + local.len + 1, domain.data, domain.len);
            a.data = addr;
            a.len = local.len + 1 + domain.len;
        }

        if (ops->user(ops->ctx, a, &u, &err) != MTR_OK) {
            return mpolicy_failed(res, MPOLICY_CHECK_RATE, conf->rate_on_error,
                                  "user lookup", &err);
        }

        if (u.found) {
            limits = mpolicy_rate_effective(&d.rate, &u.rate, u.rate_set);
        }
    }

    /* One message per MAIL transaction: Postfix's instance names it. */
    msg_cost = 1;
    if (session != NULL && req->instance.len != 0
        && req->instance.len == session->instance_len
        && memcmp(req->instance.data, session->instance, req->instance.len)
               == 0)
    {
        msg_cost = 0;
    }

    dname.data = d.name;
    dname.len = strnlen(d.name, sizeof(d.name));

    rc = mpolicy_rate_plan(&plan, dname, local, req->client_address, now,
                           conf->rate_window, &limits, msg_cost, 1, &err);
    if (rc == MTR_DECLINED) {
        return MPOLICY_GO_ON;
    }

    if (rc != MTR_OK) {
        mpolicy_warn(res, "%s; check skipped", err.msg);
        return MPOLICY_GO_ON;
    }

    if (ops->rate(ops->ctx, &plan, &rr, &err) != MTR_OK) {
        return mpolicy_failed(res, MPOLICY_CHECK_RATE, conf->rate_on_error,
                              "counters", &err);
    }

    if (rr.verdict == MPOLICY_RATE_ALLOW) {
        if (msg_cost != 0 && session != NULL && req->instance.len != 0
            && req->instance.len <= sizeof(session->instance))
        {
            memcpy(session->instance, req->instance.data, req->instance.len);
            session->instance_len = req->instance.len;
        }
        return MPOLICY_GO_ON;
    }

    limit = (rr.verdict == MPOLICY_RATE_OVER_USER_MESSAGES
             || rr.verdict == MPOLICY_RATE_OVER_CLIENT_MESSAGES)
                ? limits.messages
                : limits.recipients;

    mpolicy_action(res, MPOLICY_CHECK_RATE, "%s", MPOLICY_RATE_ACTION);
    mpolicy_note(res,
                 "rate: defer %s=<%.*s> client=%.*s to=<%.*s>: %s limit "
                 "reached (%llu in the last hour, limit %llu)",
                 auth ? "sasl_username" : "sender", P(who),
                 P(req->client_address), P(req->recipient),
                 mpolicy_rate_what(rr.verdict),
                 (unsigned long long) rr.estimate, (unsigned long long) limit);

    return MPOLICY_DONE;
}

void
mpolicy_conf_default(mpolicy_conf_t *conf)
{
    memset(conf, 0, sizeof(*conf));
    conf->quota = 1;
    conf->rate = 1;
    conf->greylist = 1;
    conf->quota_on_error = MPOLICY_ON_ERROR_DUNNO;
    conf->rate_on_error = MPOLICY_ON_ERROR_DUNNO;
    conf->greylist_on_error = MPOLICY_ON_ERROR_DUNNO;
    mpolicy_grey_conf_default(&conf->grey);
    conf->rate_window = MPOLICY_RATE_WINDOW;
}

void
mpolicy_decide(const mpolicy_conf_t *conf, const mpolicy_ops_t *ops,
               mpolicy_session_t *session, const mpolicy_request_t *req,
               int64_t now, mpolicy_result_t *res)
{
    mpolicy_domain_t rd;
    mpolicy_addr_t   ra;
    mtr_err_t        err;
    uint64_t         size = 0;
    char             prepend[MPOLICY_ACTION_MAX + 1];

    memset(res, 0, sizeof(*res));
    snprintf(res->action, sizeof(res->action), "DUNNO");
    prepend[0] = '\0';
    mtr_err_clear(&err);

    if (!mpolicy_eq(req->request, "smtpd_access_policy")) {
        mpolicy_warn(res, "request=%.*s is not smtpd_access_policy: DUNNO",
                     P(req->request));
        return;
    }

    if (mpolicy_proto_state(req->protocol_state) != MPOLICY_STATE_RCPT) {
        return;
    }

    if (req->size.len != 0
        && mtr_parse_uint(req->size.data, req->size.len, UINT64_MAX, &size)
               != MTR_OK)
    {
        mpolicy_warn(res, "size=%.*s is not a number: taken as 0",
                     P(req->size));
        size = 0;
    }

    if (size > MPOLICY_SIZE_MAX) {
        size = MPOLICY_SIZE_MAX;
    }

    memset(&rd, 0, sizeof(rd));

    if ((conf->quota || conf->greylist) && mpolicy_split(req->recipient, &ra)) {
        if (ops->domain(ops->ctx, ra.domain, &rd, &err) != MTR_OK) {
            /* Unknown whether greylisting is on: only defer when asked. */
            if (conf->quota
                && mpolicy_failed(res, MPOLICY_CHECK_QUOTA,
                                  conf->quota_on_error, "domain lookup", &err)
                       == MPOLICY_DONE)
            {
                return;
            }
            if (conf->greylist
                && mpolicy_failed(res, MPOLICY_CHECK_GREYLIST,
                                  conf->greylist_on_error, "domain lookup",
                                  &err)
                       == MPOLICY_DONE)
            {
                return;
            }
            rd.found = 0;
        }

        if (rd.found && conf->quota
            && mpolicy_check_quota(conf, ops, req, &rd, size, res)
                   == MPOLICY_DONE)
        {
            return;
        }

        if (rd.found && conf->greylist && rd.greylisting
            && req->sasl_username.len == 0
            && mpolicy_check_grey(conf, ops, req, &rd, now, prepend,
                                  sizeof(prepend), res)
                   == MPOLICY_DONE)
        {
            return;
        }
    }

    if (conf->rate
        && mpolicy_check_rate(conf, ops, session, req, now, res)
               == MPOLICY_DONE)
    {
        return;
    }

    if (prepend[0] != '\0') {
        snprintf(res->action, sizeof(res->action), "%s", prepend);
        res->decided_by = MPOLICY_CHECK_GREYLIST;
    }
}

int
mpolicy_on_error_parse(const char *s, mpolicy_on_error_e *v_r)
{
    if (s == NULL) {
        return MTR_ERROR;
    }

    if (strcasecmp(s, "dunno") == 0) {
        *v_r = MPOLICY_ON_ERROR_DUNNO;
        return MTR_OK;
    }

    if (strcasecmp(s, "defer") == 0) {
        *v_r = MPOLICY_ON_ERROR_DEFER;
        return MTR_OK;
    }

    return MTR_ERROR;
}

uint64_t
mpolicy_ldap_uint(const char *value, int *set_r)
{
    uint64_t v;

    if (set_r != NULL) {
        *set_r = value != NULL;
    }

    if (value == NULL
        || mtr_parse_uint(value, strlen(value), UINT64_MAX, &v) != MTR_OK)
    {
        return 0;
    }

    return v;
}

int
mpolicy_ldap_bool(const char *value)
{
    return value != NULL && strcmp(value, "TRUE") == 0;
}

/* ---- settings cache --------------------------------------------------- */

typedef struct mpolicy_cache_entry_s mpolicy_cache_entry_t;

struct mpolicy_cache_entry_s {
    mpolicy_cache_entry_t *next;
    int64_t                stored;
    uint32_t               hash;
    size_t                 klen;
    char                   key[MPOLICY_CACHE_KEY_MAX];
    /* value_size bytes follow */
};

struct mpolicy_cache_s {
    mpolicy_cache_entry_t **buckets;
    size_t                  nbuckets; /* a power of two */
    size_t                  count;
    size_t                  max_entries;
    size_t                  value_size;
    uint64_t                ttl;
    uint64_t                stale_max;
};

static uint32_t
mpolicy_cache_hash(const char *key, size_t klen)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    size_t   i;

    for (i = 0; i < klen; i++) {
        h ^= (unsigned char) key[i];
        h *= 16777619u;
    }

    return h;
}

static unsigned char *
mpolicy_cache_value(mpolicy_cache_entry_t *e)
{
    return (unsigned char *) (e + 1);
}

int
mpolicy_cache_create(mpolicy_cache_t **cp, size_t max_entries,
                     size_t value_size, uint64_t ttl, uint64_t stale_max,
                     mtr_err_t *err)
{
    mpolicy_cache_t *c;
    size_t           n = 16;

    *cp = NULL;

    if (max_entries == 0 || max_entries > ((size_t) 1 << 24) || value_size == 0
        || value_size > 65536)
    {
        return mtr_err_set(err, "cache: bad size");
    }

    while (n < max_entries) {
        n <<= 1;
    }

    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return mtr_err_set(err, "cache: out of memory");
    }

    c->buckets = calloc(n, sizeof(*c->buckets));
    if (c->buckets == NULL) {
        free(c);
        return mtr_err_set(err, "cache: out of memory");
    }

    c->nbuckets = n;
    c->max_entries = max_entries;
    c->value_size = value_size;
    c->ttl = ttl;
    c->stale_max = stale_max > ttl ? stale_max : ttl;
    *cp = c;

    return MTR_OK;
}

void
mpolicy_cache_flush(mpolicy_cache_t *c)
{
    mpolicy_cache_entry_t *e, *next;
    size_t                 i;

    for (i = 0; i < c->nbuckets; i++) {
        for (e = c->buckets[i]; e != NULL; e = next) {
            next = e->next;
            free(e);
        }
        c->buckets[i] = NULL;
    }

    c->count = 0;
}

void
mpolicy_cache_destroy(mpolicy_cache_t **cp)
{
    mpolicy_cache_t *c = *cp;

    if (c == NULL) {
        return;
    }

    mpolicy_cache_flush(c);
    free(c->buckets);
    free(c);
    *cp = NULL;
}

size_t
mpolicy_cache_count(const mpolicy_cache_t *c)
{
    return c->count;
}

/* Age of an entry; a clock that went back makes it new again. */
static uint64_t
mpolicy_cache_age(const mpolicy_cache_entry_t *e, int64_t now)
{
    return now > e->stored ? (uint64_t) (now - e->stored) : 0;
}

int
mpolicy_cache_get(mpolicy_cache_t *c, const char *key, size_t klen, int64_t now,
                  void *value)
{
    mpolicy_cache_entry_t *e;
    uint32_t               h;
    uint64_t               age;

    if (klen > MPOLICY_CACHE_KEY_MAX) {
        return MTR_DECLINED;
    }

    h = mpolicy_cache_hash(key, klen);

    for (e = c->buckets[h & (c->nbuckets - 1)]; e != NULL; e = e->next) {
        if (e->hash != h || e->klen != klen || memcmp(e->key, key, klen) != 0) {
            continue;
        }

        age = mpolicy_cache_age(e, now);
        if (age > c->stale_max) {
            return MTR_DECLINED;
        }

        memcpy(value, mpolicy_cache_value(e), c->value_size);

        return age < c->ttl ? MTR_OK : MTR_AGAIN;
    }

    return MTR_DECLINED;
}

/* Drop entries past stale_max; if that frees nothing, drop everything. */
static void
mpolicy_cache_evict(mpolicy_cache_t *c, int64_t now)
{
    mpolicy_cache_entry_t **pp, *e;
    size_t                  i, before = c->count;

    for (i = 0; i < c->nbuckets; i++) {
        pp = &c->buckets[i];
        while ((e = *pp) != NULL) {
            if (mpolicy_cache_age(e, now) >= c->ttl) {
                *pp = e->next;
                free(e);
                c->count--;
            } else {
                pp = &e->next;
            }
        }
    }

    if (c->count == before) {
        mpolicy_cache_flush(c);
    }
}

int
mpolicy_cache_put(mpolicy_cache_t *c, const char *key, size_t klen, int64_t now,
                  const void *value)
{
    mpolicy_cache_entry_t *e, **head;
    uint32_t               h;

    if (klen > MPOLICY_CACHE_KEY_MAX) {
        return MTR_ERROR;
    }

    h = mpolicy_cache_hash(key, klen);
    head = &c->buckets[h & (c->nbuckets - 1)];

    for (e = *head; e != NULL; e = e->next) {
        if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0) {
            e->stored = now;
            memcpy(mpolicy_cache_value(e), value, c->value_size);
            return MTR_OK;
        }
    }

    if (c->count >= c->max_entries) {
        mpolicy_cache_evict(c, now);
    }

    e = malloc(sizeof(*e) + c->value_size);
    if (e == NULL) {
        return MTR_ERROR;
    }

    e->stored = now;
    e->hash = h;
    e->klen = klen;
    memcpy(e->key, key, klen);
    memcpy(mpolicy_cache_value(e), value, c->value_size);
    e->next = *head;
    *head = e;
    c->count++;

    return MTR_OK;
}
