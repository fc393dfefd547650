/*
 * lic_gate.c -- license enforcement for administrative changes: the key
 * and deployment id from the directory, seat counters and the newest time
 * seen in Redis.
 *
 * Core of the licensing module (no host header, no logging): the `mortar`
 * command and the admin REST API glue call it and log what it reports.
 * The contract and the rules are in lic_gate.h; the decisions on a parsed
 * key are lic_policy.c's.  Covered by tests/unit/test_lic_gate.c (libmortar's
 * LDAP and Redis clients mocked at link time).
 *
 * Why the Redis work is in Lua: two admins adding the last free seat on
 * two nodes must not both succeed, so "read the count, compare, increment"
 * runs inside Redis as one script (Redis runs scripts one at a time).  The
 * count itself comes from the directory the first time: the script only
 * says "absent", C counts the user entries and stores the count with
 * SET NX (so of two nodes initialising at once, one count wins), and the
 * script runs again.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lic_gate.h"
#include "lic_policy.h"

#define LIC_GATE_CSN_MAX       64 /* an entryCSN is about 40 bytes */
#define LIC_GATE_REDIS_KEY_MAX 64 /* "mortar:seats:{<uuid>}" is 51 */
#define LIC_GATE_NUM_MAX       24 /* an int64 in decimal, sign and NUL */
#define LIC_GATE_QUOTE_MAX     80 /* directory values quoted in messages */
#define LIC_GATE_TIME_MAX      32 /* LIC_TIME_MAX, or "@" and any int64 */
/* Counters and times are kept well inside a Lua number's exact range. */
#define LIC_GATE_COUNT_LIMIT UINT64_C(999999999999999)

/* Replies of the reservation script: { status, value }. */
#define LIC_SEAT_RESERVED 1  /* value: the count after the increment */
#define LIC_SEAT_FULL     0  /* value: the count, unchanged */
#define LIC_SEAT_ABSENT   -1 /* value: 0; initialise from the directory */
#define LIC_SEAT_CORRUPT  -2 /* value: what the key holds, cut to 64 bytes */
#define LIC_SEAT_WRONG    -3 /* value: 0; the key is not a string */

/*
 * KEYS[1] the clock key, ARGV[1] now (decimal, >= 0).  Keeps the newest
 * time seen and returns the one stored before this call (ARGV[1] when none
 * was): the caller compares.  A value that is not a plain decimal is
 * junk and replaced.
 */
#define LIC_CLOCK_LUA                                                          \
    "local v = redis.call('GET', KEYS[1])\n"                                   \
    "local ok = v and #v <= 15 and string.match(v, '^[0-9]+$')\n"              \
    "if not ok or tonumber(ARGV[1]) > tonumber(v) then\n"                      \
    "  redis.call('SET', KEYS[1], ARGV[1])\n"                                  \
    "end\n"                                                                    \
    "if ok then return v end\n"                                                \
    "return ARGV[1]\n"

/*
 * KEYS[1] the seat counter, ARGV[1] the seats licensed.  The increment
 * happens only when a seat is free, in the same script as the read.
 * pcall: a key of another type is reported as corrupt, not as an error
 * that would read like Redis being down.
 */
#define LIC_RESERVE_LUA                                                        \
    "local v = redis.pcall('GET', KEYS[1])\n"                                  \
    "if v == false then return {-1, 0} end\n"                                  \
    "if type(v) ~= 'string' then return {-3, 0} end\n"                         \
    "if #v > 15 or not string.match(v, '^[0-9]+$') then\n"                     \
    "  return {-2, string.sub(v, 1, 64)}\n"                                    \
    "end\n"                                                                    \
    "local n = tonumber(v)\n"                                                  \
    "if n + 1 > tonumber(ARGV[1]) then return {0, n} end\n"                    \
    "return {1, redis.call('INCR', KEYS[1])}\n"

/* KEYS[1] the seat counter.  Never below zero; an absent counter stays
 * absent (it is initialised from the directory, which already lost the
 * user).  Returns the count after, -1 when absent. */
#define LIC_RELEASE_LUA                                                        \
    "local v = redis.pcall('GET', KEYS[1])\n"                                  \
    "if v == false then return -1 end\n"                                       \
    "local n = type(v) == 'string' and string.match(v, '^[0-9]+$')\n"          \
    "  and tonumber(v)\n"                                                      \
    "if n and n > 0 then return redis.call('DECR', KEYS[1]) end\n"             \
    "return 0\n"

#define LIC_INSTALL_HINT "install one with `mortar license install FILE`"

struct lic_gate_s {
    mtr_ldap_t  *ldap;
    mtr_redis_t *redis;
    char        *base;
    char        *users_base; /* "ou=domains,<base>" */
    uint8_t      pubkey[LIC_PUBKEY_LEN];

    int  loaded; /* the directory was read at least once */
    char csn[LIC_GATE_CSN_MAX + 1];

    /* "" when the suffix has no valid id; dep_problem then says why. */
    char      deployment[LIC_DEPLOYMENT_LEN + 1];
    mtr_err_t dep_problem;

    /* The key text as read from the directory (NULL: none) and what it
     * gave: have_lic, or key_problem saying why it is not in force. */
    char     *key_text;
    size_t    key_len;
    int       have_lic;
    lic_t     lic;
    mtr_err_t key_problem;

    char   seats_key[LIC_GATE_REDIS_KEY_MAX];
    size_t seats_key_len;
    char   clock_key[LIC_GATE_REDIS_KEY_MAX];
    size_t clock_key_len;

    /* Per gate: mtr_redis_eval() writes the cached sha. */
    mtr_redis_script_t clock_script;
    mtr_redis_script_t reserve_script;
    mtr_redis_script_t release_script;
};

static int  gate_load(lic_gate_t *g, mtr_err_t *err);
static int  gate_read(lic_gate_t *g, mtr_err_t *err);
static void gate_set_deployment(lic_gate_t *g, const char *dep, size_t len);
static void gate_set_key(lic_gate_t *g, const char *text, size_t len);
static void gate_drop_key(lic_gate_t *g);
static int  gate_no_key(const lic_gate_t *g, const char *what, mtr_err_t *err);
static int  gate_clock(lic_gate_t *g, int64_t now, int64_t *seen_r,
                       mtr_err_t *err);
static int  gate_count_users(lic_gate_t *g, uint64_t *count_r, mtr_err_t *err);
static int  gate_counter_get(lic_gate_t *g, int64_t *count_r, mtr_err_t *err);
static int  gate_counter_set(lic_gate_t *g, uint64_t count, int nx,
                             mtr_err_t *err);
static int  gate_key_span(const char *text, size_t len, const char **span_r,
                          size_t *span_len_r);
static const mtr_ldap_attr_t *entry_attr(const mtr_ldap_entry_t *e,
                                         const char             *name);
static int                    reply_int(const redisReply *r, int64_t *v_r);
static void text_add(char *buf, size_t size, const char *fmt, ...)
    MTR_PRINTF(3, 4);
static const char *time_text(int64_t t, char buf[LIC_GATE_TIME_MAX]);

int
lic_gate_create(lic_gate_t **gp, const lic_gate_opts_t *opts, mtr_err_t *err)
{
    lic_gate_t *g;
    size_t      blen;

    *gp = NULL;

    if (opts == NULL || opts->ldap == NULL || opts->base == NULL
        || opts->base[0] == '\0' || opts->pubkey == NULL)
    {
        return mtr_err_set(err, "license gate: LDAP client, directory "
                                "suffix and trusted key are required");
    }

    g = calloc(1, sizeof(*g));
    if (g == NULL) {
        return mtr_err_set(err, "license gate: out of memory");
    }

    g->ldap = opts->ldap;
    g->redis = opts->redis;
    memcpy(g->pubkey, opts->pubkey, LIC_PUBKEY_LEN);

    blen = strlen(opts->base);
    g->base = strdup(opts->base);
    g->users_base = malloc(sizeof("ou=domains,") + blen);
    if (g->base == NULL || g->users_base == NULL) {
        lic_gate_destroy(&g);
        return mtr_err_set(err, "license gate: out of memory");
    }
    memcpy(g->users_base, "ou=domains,", sizeof("ou=domains,") - 1);
    memcpy(g->users_base + sizeof("ou=domains,") - 1, opts->base, blen + 1);

    g->clock_script.source = LIC_CLOCK_LUA;
    g->reserve_script.source = LIC_RESERVE_LUA;
    g->release_script.source = LIC_RELEASE_LUA;

    mtr_err_set(&g->dep_problem, "the deployment id has not been read yet");

    *gp = g;
    return MTR_OK;
}

void
lic_gate_destroy(lic_gate_t **gp)
{
    lic_gate_t *g = *gp;

    if (g == NULL) {
        return;
    }
    gate_drop_key(g);
    free(g->base);
    free(g->users_base);
    mtr_wipe(g, sizeof(*g));
    free(g);
    *gp = NULL;
}

int
lic_gate_refresh(lic_gate_t *g, mtr_err_t *err)
{
    if (gate_read(g, err) != MTR_OK) {
        return MTR_ERROR;
    }

    /* A key that is there but not in force is worth telling every time. */
    if (g->key_text != NULL && !g->have_lic) {
        mtr_err_set(err, "%s", g->key_problem.msg);
    } else {
        mtr_err_clear(err);
    }
    return MTR_OK;
}

const lic_t *
lic_gate_license(const lic_gate_t *g)
{
    return g->have_lic ? &g->lic : NULL;
}

const char *
lic_gate_deployment(const lic_gate_t *g)
{
    return g->deployment[0] != '\0' ? g->deployment : NULL;
}

int
lic_gate_admin_change(lic_gate_t *g, int64_t now, char *warn, size_t warn_size,
                      mtr_err_t *err)
{
    char        buf[LIC_STATUS_MAX], clock_note[LIC_WARN_MAX];
    char        seen_text[LIC_GATE_TIME_MAX];
    mtr_err_t   cerr;
    int64_t     seen = 0, judged = now;
    lic_state_e state;
    int         rc;

    if (warn != NULL && warn_size > 0) {
        warn[0] = '\0';
    } else {
        warn = NULL;
    }
    clock_note[0] = '\0';

    if (gate_load(g, err) != MTR_OK) {
        return MTR_ERROR;
    }

    if (!g->have_lic) {
        return gate_no_key(g, NULL, err);
    }

    /*
     * The clock check needs Redis, the decision does not: with Redis down
     * the admin still gets an answer, judged at this node's clock, and is
     * told that the check was skipped.
     */
    if (gate_clock(g, now, &seen, &cerr) != MTR_OK) {
        text_add(clock_note, sizeof(clock_note),
                 "the system clock was not checked against the newest time "
                 "this deployment has seen: %s; the license is judged at "
                 "this node's clock",
                 cerr.msg);
    } else if (now < seen - LIC_CLOCK_TOLERANCE) {
        judged = seen;
        text_add(clock_note, sizeof(clock_note),
                 "system clock is %lld s behind the newest time this "
                 "deployment has seen (%s): the license is judged at that "
                 "time; fix the system clock",
                 (long long) (seen - now), time_text(seen, seen_text));
    }

    /* The clock note goes out even with a refusal: it may be the cause. */
    if (warn != NULL && clock_note[0] != '\0') {
        text_add(warn, warn_size, "%s", clock_note);
    }

    rc = lic_admin_change_allowed(&g->lic, judged, err);
    if (rc == MTR_DECLINED && judged != now) {
        /* Say why "now" is not the time the admin sees on the node. */
        snprintf(buf, sizeof(buf), "%s", err->msg);
        mtr_err_set(err,
                    "%s (judged at %s, the newest time this deployment has "
                    "seen: this node's clock is %lld s behind)",
                    buf, time_text(judged, seen_text),
                    (long long) (judged - now));
    }
    if (rc != MTR_OK) {
        return rc;
    }

    if (warn == NULL) {
        return MTR_OK;
    }

    /* The license comes first: it is what the admin must act on. */
    state = lic_state(&g->lic, judged, NULL);
    if ((state == LIC_EXPIRING || state == LIC_GRACE)
        && lic_status_text(&g->lic, judged, buf, sizeof(buf)) == MTR_OK)
    {
        warn[0] = '\0';
        text_add(warn, warn_size, "%s", buf);
        if (clock_note[0] != '\0') {
            text_add(warn, warn_size, "%s", clock_note);
        }
    }
    return MTR_OK;
}

int
lic_gate_seat_reserve(lic_gate_t *g, mtr_err_t *err)
{
    redisReply *reply;
    mtr_err_t   e;
    const char *argv[2];
    size_t      argvlen[2];
    char        seats[LIC_GATE_NUM_MAX], junk[LIC_GATE_QUOTE_MAX];
    uint64_t    count;
    int64_t     status, value;
    int         attempt;

    if (gate_load(g, err) != MTR_OK) {
        return MTR_ERROR;
    }
    if (!g->have_lic) {
        return gate_no_key(g, "the user was not added", err);
    }
    if (g->redis == NULL) {
        return mtr_err_set(err, "cannot reserve a seat: no Redis is "
                                "configured; the user was not added");
    }

    argv[0] = g->seats_key;
    argvlen[0] = g->seats_key_len;
    argvlen[1] = (size_t) snprintf(seats, sizeof(seats), "%u", g->lic.seats);
    argv[1] = seats;

    for (attempt = 0; attempt < 2; attempt++) {
        if (mtr_redis_eval(g->redis, &g->reserve_script, 1, 2, argv, argvlen,
                           &reply, &e)
            != MTR_OK)
        {
            return mtr_err_set(err,
                               "cannot reserve a seat: Redis is unreachable "
                               "(%s); the user was not added",
                               e.msg);
        }

        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
            || reply_int(reply->element[0], &status) != MTR_OK)
        {
            freeReplyObject(reply);
            return mtr_err_set(err, "cannot reserve a seat: unexpected reply "
                                    "from the seat script; the user was not "
                                    "added");
        }

        if (status == LIC_SEAT_CORRUPT || status == LIC_SEAT_WRONG) {
            if (status == LIC_SEAT_WRONG) {
                snprintf(junk, sizeof(junk), "is not a string key");
            } else if (reply->element[1]->type == REDIS_REPLY_STRING) {
                snprintf(junk, sizeof(junk), "holds \"");
                mtr_sanitize(junk + strlen(junk),
                             sizeof(junk) - strlen(junk) - 1,
                             reply->element[1]->str, reply->element[1]->len);
                strcat(junk, "\"");
            } else {
                snprintf(junk, sizeof(junk), "holds junk");
            }
            freeReplyObject(reply);
            return mtr_err_set(err,
                               "cannot reserve a seat: the seat counter %s "
                               "%s, not a count: run `mortar license audit "
                               "--fix`; the user was not added",
                               g->seats_key, junk);
        }

        if (reply_int(reply->element[1], &value) != MTR_OK) {
            value = 0;
        }
        freeReplyObject(reply);

        if (status == LIC_SEAT_RESERVED) {
            mtr_err_clear(err);
            return MTR_OK;
        }

        if (status == LIC_SEAT_FULL) {
            if (value > (int64_t) g->lic.seats) {
                mtr_err_set(err,
                            "all %u seats of license %s are in use (%lld "
                            "users counted): delete a user or install a key "
                            "with more seats",
                            g->lic.seats, g->lic.id, (long long) value);
            } else {
                mtr_err_set(err,
                            "all %u seats of license %s are in use: delete a "
                            "user or install a key with more seats",
                            g->lic.seats, g->lic.id);
            }
            return MTR_DECLINED;
        }

        if (status != LIC_SEAT_ABSENT || attempt > 0) {
            break;
        }

        /* Absent: the directory's count, unless another node was first. */
        if (gate_count_users(g, &count, &e) != MTR_OK) {
            return mtr_err_set(err,
                               "cannot reserve a seat: the seat counter is "
                               "not initialised and %s; the user was not "
                               "added",
                               e.msg);
        }
        if (gate_counter_set(g, count, 1, &e) != MTR_OK) {
            return mtr_err_set(err,
                               "cannot reserve a seat: Redis is unreachable "
                               "(%s); the user was not added",
                               e.msg);
        }
    }

    return mtr_err_set(err,
                       "cannot reserve a seat: the seat counter %s could not "
                       "be initialised (it vanished again); the user was not "
                       "added",
                       g->seats_key);
}

int
lic_gate_seat_release(lic_gate_t *g, mtr_err_t *err)
{
    redisReply *reply;
    mtr_err_t   e;
    const char *argv[1];
    size_t      argvlen[1];

    if (gate_load(g, err) != MTR_OK) {
        return MTR_ERROR;
    }
    if (g->deployment[0] == '\0') {
        return mtr_err_set(err, "cannot give a seat back: %s",
                           g->dep_problem.msg);
    }
    if (g->redis == NULL) {
        return mtr_err_set(err, "cannot give a seat back: no Redis is "
                                "configured");
    }

    argv[0] = g->seats_key;
    argvlen[0] = g->seats_key_len;

    if (mtr_redis_eval(g->redis, &g->release_script, 1, 1, argv, argvlen,
                       &reply, &e)
        != MTR_OK)
    {
        return mtr_err_set(err,
                           "cannot give a seat back: Redis is unreachable "
                           "(%s); run `mortar license audit --fix` once it "
                           "is back",
                           e.msg);
    }
    freeReplyObject(reply);

    mtr_err_clear(err);
    return MTR_OK;
}

int
lic_gate_install(lic_gate_t *g, const char *text, size_t len, int64_t now,
                 mtr_err_t *err)
{
    lic_t          lic, check;
    mtr_err_t      e;
    mtr_ldap_mod_t mod;
    const char    *values[2], *span;
    char          *stored;
    size_t         span_len;
    int            rc;

    if (text == NULL) {
        return mtr_err_set(err, "license gate: no key text");
    }

    /* The deployment id as the directory says now, not as cached. */
    if (gate_read(g, err) != MTR_OK) {
        return MTR_ERROR;
    }

    if (lic_parse(text, len, g->pubkey, &lic, &e) != MTR_OK) {
        mtr_err_set(err, "license key refused: %s", e.msg);
        return MTR_DECLINED;
    }

    if (g->deployment[0] == '\0') {
        return mtr_err_set(err, "cannot install license %s: %s", lic.id,
                           g->dep_problem.msg);
    }

    rc = lic_check_key(&lic, g->deployment, now, &e);
    if (rc != MTR_OK) {
        mtr_err_set(err, "license key refused: %s", e.msg);
        return rc;
    }

    /*
     * Store the armored block alone: mail greetings and signatures around
     * it have no place in the directory (and may hold bytes a Directory
     * String refuses).  The block must read back as the same license.
     */
    if (gate_key_span(text, len, &span, &span_len) != MTR_OK
        || lic_parse(span, span_len, g->pubkey, &check, &e) != MTR_OK
        || !lic_equal(&lic, &check))
    {
        return mtr_err_set(err,
                           "cannot install license %s: the armored "
                           "block could not be cut out of the text",
                           lic.id);
    }

    stored = malloc(span_len + 1);
    if (stored == NULL) {
        return mtr_err_set(err, "license gate: out of memory");
    }
    memcpy(stored, span, span_len);
    stored[span_len] = '\0';

    values[0] = stored;
    values[1] = NULL;
    mod.op = MTR_LDAP_MOD_REPLACE;
    mod.attr = "mortarLicenseKey";
    mod.values = values;

    if (mtr_ldap_modify(g->ldap, g->base, &mod, 1, &e) != MTR_OK) {
        mtr_wipe(stored, span_len);
        free(stored);
        return mtr_err_set(err,
                           "cannot install license %s: the directory write "
                           "failed (%s); the key in force stays in force",
                           lic.id, e.msg);
    }

    /* In force here at once; other nodes see it on their next refresh. */
    gate_drop_key(g);
    g->key_text = stored;
    g->key_len = span_len;
    g->lic = lic;
    g->have_lic = 1;
    g->csn[0] = '\0'; /* the entry changed: compare the text next time */

    mtr_err_clear(err);
    return MTR_OK;
}

int
lic_gate_audit(lic_gate_t *g, int fix, lic_audit_t *audit_r, mtr_err_t *err)
{
    mtr_err_t e;
    uint64_t  count;
    int64_t   counter;

    audit_r->seats_licensed = 0;
    audit_r->seats_directory = 0;
    audit_r->seats_counter = -1;
    audit_r->fixed = 0;

    if (gate_read(g, err) != MTR_OK) {
        return MTR_ERROR;
    }
    audit_r->seats_licensed = g->have_lic ? g->lic.seats : 0;

    if (gate_count_users(g, &count, err) != MTR_OK) {
        return MTR_ERROR;
    }
    audit_r->seats_directory = count;

    if (g->deployment[0] == '\0') {
        return mtr_err_set(err, "cannot read the seat counter: %s",
                           g->dep_problem.msg);
    }
    /*
     * A counter that cannot be read (a key of another type, a dropped
     * connection) is what --fix is for: SET replaces any value and
     * reconnects first.
     */
    if (gate_counter_get(g, &counter, &e) != MTR_OK) {
        if (!fix) {
            return mtr_err_set(err, "cannot read the seat counter: %s", e.msg);
        }
        counter = -1;
    }
    audit_r->seats_counter = counter;

    if (fix && (counter < 0 || (uint64_t) counter != count)) {
        if (gate_counter_set(g, count, 0, &e) != MTR_OK) {
            return mtr_err_set(err, "cannot write the seat counter: %s", e.msg);
        }
        audit_r->fixed = 1;
    }

    mtr_err_clear(err);
    return MTR_OK;
}

int
lic_gate_status_text(lic_gate_t *g, int64_t now, char *buf, size_t size,
                     mtr_err_t *err)
{
    char        status[LIC_STATUS_MAX], seats[MTR_ERR_MAX + 64];
    char        prefix[LIC_ID_MAX + LIC_CUSTOMER_MAX + 16];
    const char *state;
    mtr_err_t   e;
    int64_t     counter;
    size_t      plen;
    int         n;

    if (buf == NULL || size == 0) {
        return mtr_err_set(err, "license status: no buffer");
    }
    buf[0] = '\0';

    if (gate_load(g, err) != MTR_OK) {
        return MTR_ERROR;
    }

    if (!g->have_lic) {
        if (g->key_text != NULL) {
            n = snprintf(buf, size,
                         "no license in force: %s; administrative changes "
                         "are refused until a valid key is installed",
                         g->key_problem.msg);
        } else if (lic_status_text(NULL, now, status, sizeof(status)) == MTR_OK)
        {
            n = snprintf(buf, size, "%s", status);
        } else {
            n = -1;
        }
        goto done;
    }

    if (lic_status_text(&g->lic, now, status, sizeof(status)) != MTR_OK) {
        return mtr_err_set(err, "license status: text too long");
    }

    if (gate_counter_get(g, &counter, &e) != MTR_OK) {
        snprintf(seats, sizeof(seats),
                 "%u seats, seat counter unavailable (%s)", g->lic.seats,
                 e.msg);
    } else if (counter < 0) {
        snprintf(seats, sizeof(seats),
                 "%u seats, seat counter not "
                 "initialised yet",
                 g->lic.seats);
    } else {
        snprintf(seats, sizeof(seats), "%lld of %u seats used",
                 (long long) counter, g->lic.seats);
    }

    /* lic_status_text() names the license first; name it once. */
    plen = (size_t) snprintf(prefix, sizeof(prefix), "license %s (%s) ",
                             g->lic.id, g->lic.customer);
    state = strncmp(status, prefix, plen) == 0 ? status + plen : status;

    n = snprintf(buf, size, "license %s (%s), %s/%s: %s; %s", g->lic.id,
                 g->lic.customer, lic_plan_name(g->lic.plan),
                 lic_support_name(g->lic.support), seats, state);

done:
    if (n < 0 || (size_t) n >= size) {
        buf[0] = '\0';
        return mtr_err_set(err, "license status: %zu bytes are too small",
                           size);
    }
    mtr_err_clear(err);
    return MTR_OK;
}

/* Read the directory once per gate; later calls use the cache. */
static int
gate_load(lic_gate_t *g, mtr_err_t *err)
{
    if (g->loaded) {
        return MTR_OK;
    }
    return gate_read(g, err);
}

/*
 * One base-scope search of the suffix.  entryCSN changes with every write
 * to the entry: when it is the one seen last time nothing else is looked
 * at; otherwise the key is parsed (a signature check) only when its text
 * or the deployment id changed.
 */
static int
gate_read(lic_gate_t *g, mtr_err_t *err)
{
    static const char *const attrs[] = { "mortarDeploymentId",
                                         "mortarLicenseKey", "entryCSN", NULL };
    mtr_ldap_result_t       *res = NULL;
    const mtr_ldap_entry_t  *e;
    const mtr_ldap_attr_t   *csn, *dep, *key;
    mtr_err_t                le;
    const char              *key_text = NULL;
    size_t                   key_len = 0, dep_len = 0;
    int                      rc, dep_changed, key_changed;

    rc = mtr_ldap_search(g->ldap, g->base, MTR_LDAP_SCOPE_BASE, NULL, attrs, 0,
                         &res, &le);
    if (rc == MTR_DECLINED) {
        return mtr_err_set(err,
                           "cannot read the license: the directory suffix %s "
                           "does not exist",
                           g->base);
    }
    if (rc != MTR_OK) {
        return mtr_err_set(err,
                           "cannot read the license from the directory: "
                           "%s",
                           le.msg);
    }
    if (res->nentries != 1) {
        mtr_ldap_result_free(&res);
        return mtr_err_set(err,
                           "cannot read the license: the directory suffix %s "
                           "is not readable",
                           g->base);
    }
    e = &res->entries[0];

    csn = entry_attr(e, "entryCSN");
    if (g->loaded && csn != NULL && g->csn[0] != '\0'
        && strcmp(csn->values[0], g->csn) == 0)
    {
        mtr_ldap_result_free(&res);
        return MTR_OK;
    }

    dep = entry_attr(e, "mortarDeploymentId");
    if (dep != NULL) {
        dep_len = dep->lens != NULL ? dep->lens[0] : strlen(dep->values[0]);
    }
    dep_changed =
        !g->loaded
        || (dep == NULL
                ? g->deployment[0] != '\0'
                : dep_len != strlen(g->deployment)
                      || memcmp(dep->values[0], g->deployment, dep_len) != 0);
    gate_set_deployment(g, dep != NULL ? dep->values[0] : NULL, dep_len);

    key = entry_attr(e, "mortarLicenseKey");
    if (key != NULL) {
        key_text = key->values[0];
        key_len = key->lens != NULL ? key->lens[0] : strlen(key_text);
    }
    key_changed = !g->loaded || (key_text == NULL) != (g->key_text == NULL)
                  || (key_text != NULL
                      && (key_len != g->key_len
                          || memcmp(key_text, g->key_text, key_len) != 0));

    if (key_changed || dep_changed) {
        gate_set_key(g, key_text, key_len);
    }

    /* A CSN that does not fit only costs the fast path. */
    if (csn != NULL && strlen(csn->values[0]) < sizeof(g->csn)) {
        snprintf(g->csn, sizeof(g->csn), "%s", csn->values[0]);
    } else {
        g->csn[0] = '\0';
    }

    g->loaded = 1;
    mtr_ldap_result_free(&res);
    return MTR_OK;
}

static void
gate_set_deployment(lic_gate_t *g, const char *dep, size_t len)
{
    char      quoted[LIC_GATE_QUOTE_MAX];
    mtr_str_t tag, none = { NULL, 0 };
    mtr_err_t e;

    g->deployment[0] = '\0';
    g->seats_key[0] = '\0';
    g->clock_key[0] = '\0';

    if (dep == NULL) {
        mtr_err_set(&g->dep_problem,
                    "the directory suffix %s has no mortarDeploymentId",
                    g->base);
        return;
    }
    if (!lic_deployment_ok(dep, len)) {
        mtr_sanitize(quoted, sizeof(quoted), dep, len);
        mtr_err_set(&g->dep_problem,
                    "mortarDeploymentId \"%s\" of %s is not a lowercase "
                    "UUID",
                    quoted, g->base);
        return;
    }

    tag.data = dep;
    tag.len = len;
    if (mtr_redis_key(g->seats_key, sizeof(g->seats_key), "seats", tag, none,
                      &g->seats_key_len, &e)
            != MTR_OK
        || mtr_redis_key(g->clock_key, sizeof(g->clock_key), "clock", tag, none,
                         &g->clock_key_len, &e)
               != MTR_OK)
    {
        mtr_err_set(&g->dep_problem, "no Redis key for the deployment: %s",
                    e.msg);
        return;
    }

    memcpy(g->deployment, dep, len);
    g->deployment[len] = '\0';
    mtr_err_clear(&g->dep_problem);
}

/* Parse the key found in the directory and decide whether it is in force. */
static void
gate_set_key(lic_gate_t *g, const char *text, size_t len)
{
    mtr_err_t e;

    gate_drop_key(g);
    if (text == NULL) {
        return;
    }

    g->key_text = malloc(len + 1);
    if (g->key_text == NULL) {
        /* Not cached: the next refresh parses it again. */
        g->csn[0] = '\0';
        mtr_err_set(&g->key_problem, "out of memory reading the license key");
        return;
    }
    memcpy(g->key_text, text, len);
    g->key_text[len] = '\0';
    g->key_len = len;

    if (lic_parse(text, len, g->pubkey, &g->lic, &e) != MTR_OK) {
        mtr_err_set(&g->key_problem,
                    "the license key in the directory is rejected (%s)", e.msg);
        return;
    }

    /* A key copied from another deployment's directory is not ours. */
    if (g->deployment[0] == '\0'
        || strcmp(g->lic.deployment, g->deployment) != 0) {
        mtr_err_set(&g->key_problem,
                    "the license key %s in the directory is bound to "
                    "deployment %s, not to this one (%s)",
                    g->lic.id, g->lic.deployment,
                    g->deployment[0] != '\0' ? g->deployment
                                             : g->dep_problem.msg);
        memset(&g->lic, 0, sizeof(g->lic));
        return;
    }

    g->have_lic = 1;
}

static void
gate_drop_key(lic_gate_t *g)
{
    if (g->key_text != NULL) {
        mtr_wipe(g->key_text, g->key_len);
        free(g->key_text);
    }
    g->key_text = NULL;
    g->key_len = 0;
    g->have_lic = 0;
    mtr_wipe(&g->lic, sizeof(g->lic));
    mtr_err_clear(&g->key_problem);
}

/* The refusal when no key is in force; what: the consequence, or NULL. */
static int
gate_no_key(const lic_gate_t *g, const char *what, mtr_err_t *err)
{
    if (g->key_text != NULL) {
        mtr_err_set(err, "%s: %s%s%s", g->key_problem.msg,
                    "install a valid key with `mortar license install "
                    "FILE`",
                    what != NULL ? "; " : "", what != NULL ? what : "");
    } else {
        mtr_err_set(err, "no license key is installed: %s%s%s",
                    LIC_INSTALL_HINT, what != NULL ? "; " : "",
                    what != NULL ? what : "");
    }
    return MTR_DECLINED;
}

/* Store max(stored, now) and give back the time stored before. */
static int
gate_clock(lic_gate_t *g, int64_t now, int64_t *seen_r, mtr_err_t *err)
{
    redisReply *reply;
    mtr_err_t   e;
    const char *argv[2];
    size_t      argvlen[2];
    char        num[LIC_GATE_NUM_MAX];
    int64_t     seen, t;

    if (g->redis == NULL) {
        return mtr_err_set(err, "no Redis is configured");
    }

    argv[0] = g->clock_key;
    argvlen[0] = g->clock_key_len;
    /* The script keeps plain decimals; a clock before 1970 stores 0. */
    t = now < 0 ? 0 : now;
    if ((uint64_t) t > LIC_GATE_COUNT_LIMIT) {
        t = (int64_t) LIC_GATE_COUNT_LIMIT;
    }
    argvlen[1] = (size_t) snprintf(num, sizeof(num), "%lld", (long long) t);
    argv[1] = num;

    if (mtr_redis_eval(g->redis, &g->clock_script, 1, 2, argv, argvlen, &reply,
                       &e)
        != MTR_OK)
    {
        return mtr_err_set(err, "Redis is unreachable (%s)", e.msg);
    }
    if (reply_int(reply, &seen) != MTR_OK) {
        freeReplyObject(reply);
        return mtr_err_set(err, "unexpected reply from the clock script");
    }
    freeReplyObject(reply);

    *seen_r = seen;
    return MTR_OK;
}

static int
gate_count_users(lic_gate_t *g, uint64_t *count_r, mtr_err_t *err)
{
    static const char *const attrs[] = { "1.1", NULL };
    mtr_ldap_result_t       *res = NULL;
    mtr_err_t                e;
    int                      rc;

    /* No size limit: the admin identity has none on the server either. */
    rc = mtr_ldap_search(g->ldap, g->users_base, MTR_LDAP_SCOPE_SUB,
                         "(objectClass=mortarUser)", attrs, 0, &res, &e);
    if (rc == MTR_DECLINED) {
        *count_r = 0; /* no ou=domains yet: no users */
        return MTR_OK;
    }
    if (rc != MTR_OK) {
        return mtr_err_set(err,
                           "the users in the directory cannot be "
                           "counted (%s)",
                           e.msg);
    }
    *count_r = res->nentries;
    mtr_ldap_result_free(&res);
    return MTR_OK;
}

/* GET the seat counter: *count_r is -1 when absent or not a count. */
static int
gate_counter_get(lic_gate_t *g, int64_t *count_r, mtr_err_t *err)
{
    redisReply *reply;
    mtr_err_t   e;
    const char *argv[2];
    size_t      argvlen[2];
    uint64_t    v;

    *count_r = -1;
    if (g->deployment[0] == '\0') {
        return mtr_err_set(err, "%s", g->dep_problem.msg);
    }
    if (g->redis == NULL) {
        return mtr_err_set(err, "no Redis is configured");
    }

    argv[0] = "GET";
    argvlen[0] = 3;
    argv[1] = g->seats_key;
    argvlen[1] = g->seats_key_len;

    if (mtr_redis_argv(g->redis, 2, argv, argvlen, &reply, &e) != MTR_OK) {
        return mtr_err_set(err, "%s", e.msg);
    }
    if (reply->type == REDIS_REPLY_STRING
        && mtr_parse_uint(reply->str, reply->len, LIC_GATE_COUNT_LIMIT, &v)
               == MTR_OK)
    {
        *count_r = (int64_t) v;
    }
    freeReplyObject(reply);
    return MTR_OK;
}

static int
gate_counter_set(lic_gate_t *g, uint64_t count, int nx, mtr_err_t *err)
{
    mtr_err_t   e;
    const char *argv[4];
    size_t      argvlen[4];
    char        num[LIC_GATE_NUM_MAX];

    if (g->redis == NULL) {
        return mtr_err_set(err, "no Redis is configured");
    }

    argv[0] = "SET";
    argvlen[0] = 3;
    argv[1] = g->seats_key;
    argvlen[1] = g->seats_key_len;
    argvlen[2] =
        (size_t) snprintf(num, sizeof(num), "%llu", (unsigned long long) count);
    argv[2] = num;
    argv[3] = "NX";
    argvlen[3] = 2;

    /* SET NX answers nil when the key exists: fine, someone was first. */
    if (mtr_redis_argv(g->redis, nx ? 4 : 3, argv, argvlen, NULL, &e) != MTR_OK)
    {
        return mtr_err_set(err, "%s", e.msg);
    }
    return MTR_OK;
}

/*
 * Find the BEGIN line and the first END line after it, both at column 0
 * as lic_key.h requires, and return the span from the one to the end of
 * the other (its LF included when there is one).
 */
static int
gate_key_span(const char *text, size_t len, const char **span_r,
              size_t *span_len_r)
{
    static const char begin[] = LIC_ARMOR_BEGIN, end[] = LIC_ARMOR_END;
    const char       *start = NULL, *line, *nl;
    size_t            pos = 0, ll;

    while (pos < len) {
        line = text + pos;
        nl = memchr(line, '\n', len - pos);
        ll = nl != NULL ? (size_t) (nl - line) : len - pos;
        pos += ll + (nl != NULL);

        if (start == NULL) {
            if (ll >= sizeof(begin) - 1
                && memcmp(line, begin, sizeof(begin) - 1) == 0) {
                start = line;
            }
        } else if (ll >= sizeof(end) - 1
                   && memcmp(line, end, sizeof(end) - 1) == 0) {
            *span_r = start;
            *span_len_r = (size_t) (text + pos - start);
            /* No NUL may reach a Directory String. */
            return memchr(start, '\0', *span_len_r) == NULL ? MTR_OK
                                                            : MTR_ERROR;
        }
    }
    return MTR_ERROR;
}

static const mtr_ldap_attr_t *
entry_attr(const mtr_ldap_entry_t *e, const char *name)
{
    size_t i;

    for (i = 0; i < e->nattrs; i++) {
        if (strcasecmp(e->attrs[i].name, name) == 0) {
            return e->attrs[i].nvalues > 0 && e->attrs[i].values != NULL
                       ? &e->attrs[i]
                       : NULL;
        }
    }
    return NULL;
}

/* An integer reply, or a bulk string holding a plain decimal. */
static int
reply_int(const redisReply *r, int64_t *v_r)
{
    uint64_t v;

    if (r->type == REDIS_REPLY_INTEGER) {
        *v_r = r->integer;
        return MTR_OK;
    }
    if (r->type == REDIS_REPLY_STRING
        && mtr_parse_uint(r->str, r->len, LIC_GATE_COUNT_LIMIT, &v) == MTR_OK)
    {
        *v_r = (int64_t) v;
        return MTR_OK;
    }
    return MTR_ERROR;
}

/* Append to a warning, "; "-separated; a cut shows as "...". */
static void
text_add(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    size_t  used = strlen(buf);
    int     n;

    if (used != 0 && used + 2 < size) {
        memcpy(buf + used, "; ", 3);
        used += 2;
    }
    if (used + 1 >= size) {
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(buf + used, size - used, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t) n >= size - used && size >= 4) {
        memcpy(buf + size - 4, "...", 4);
    }
}

static const char *
time_text(int64_t t, char buf[LIC_GATE_TIME_MAX])
{
    if (lic_format_time(t, buf, LIC_GATE_TIME_MAX) != MTR_OK) {
        snprintf(buf, LIC_GATE_TIME_MAX, "@%lld", (long long) t);
    }
    return buf;
}
