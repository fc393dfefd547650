/*
 * test_lic_gate.c -- unit tests of licensing/lic_gate.c (license
 * enforcement: key from the directory, seats and clock in Redis).
 *
 * libmortar's clients are mocked at link time (tests/unit/
 * test_lic_gate.flags): mtr_ldap_search/modify serve one suffix entry
 * (mortarDeploymentId, mortarLicenseKey, entryCSN) and N user entries,
 * mtr_redis_eval/argv act on an in-memory seat counter and clock with the
 * semantics of the gate's Lua scripts (the scripts themselves run against
 * the real Redis in tests/integration/test_license.py).  lic_parse is
 * wrapped to count signature checks.  Keys are made at test time with
 * lic_keygen/lic_issue; the time is always a parameter.
 *
 * Table-driven, each case's name printed before its assertions: admin
 * changes (no key, valid, 20 days left, grace, past grace, not yet valid,
 * tampered/foreign key in the directory, clock turned back, Redis down),
 * seat reservation (free, last, full, over, counter absent, another node
 * first, corrupt counter, Redis down), release, install, audit, status
 * text and the refresh cache.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* The Makefile adds no -I for module dirs: reach the core header directly. */
#include "../../licensing/lic_gate.h"
#include "../../licensing/lic_policy.h"

#define DEPLOYMENT "0f8e4c2a-1b2c-4d5e-8f90-123456789abc"
#define OTHER_DEP  "11111111-2222-4333-8444-555555555555"
#define BASE       "o=mortar"
#define SEATS_KEY  "mortar:seats:{" DEPLOYMENT "}"
#define CLOCK_KEY  "mortar:clock:{" DEPLOYMENT "}"
#define REDIS_DOWN "redis connect to 127.0.0.1:6380: Connection refused"

#define DAY INT64_C(86400)
/* 2026-01-01 and 2027-01-01, UTC midnights (2026 has 365 days). */
#define NB INT64_C(1767225600)
#define NA INT64_C(1798761600)

/* ---- keys --------------------------------------------------------------- */

typedef enum {
    K_NONE = 0,
    K_VALID,     /* L-TEST-1, NB..NA, 30 grace days, 10 seats */
    K_RENEWED,   /* L-TEST-2, NB..NA + 1 year */
    K_OTHER_DEP, /* L-TEST-1 bound to OTHER_DEP */
    K_TAMPERED,  /* K_VALID with one base64 character changed */
    K_FOREIGN,   /* K_VALID signed by another vendor key */
    K_EXPIRED,   /* L-OLD, ended a year before NB */
    K_MAIL       /* K_RENEWED inside a mail greeting and signature */
} key_kind_e;

static uint8_t trusted_priv[LIC_PRIVKEY_LEN], trusted_pub[LIC_PUBKEY_LEN];
static uint8_t foreign_priv[LIC_PRIVKEY_LEN], foreign_pub[LIC_PUBKEY_LEN];

static lic_t
lic_template(void)
{
    lic_t l;

    memset(&l, 0, sizeof(l));
    strcpy(l.id, "L-TEST-1");
    strcpy(l.customer, "Test Customer");
    strcpy(l.deployment, DEPLOYMENT);
    l.seats = 10;
    l.not_before = NB;
    l.not_after = NA;
    l.issued = NB - DAY;
    l.grace_days = 30;
    l.plan = LIC_PLAN_ENTERPRISE;
    l.support = LIC_SUPPORT_PRIORITY;
    l.modules = LIC_MODULES_ALL;
    return l;
}

/* A heap copy of the armored key of kind k (NULL for K_NONE). */
static char *
make_key(key_kind_e k)
{
    char           out[LIC_ARMOR_MAX], *text, *p;
    const uint8_t *priv = trusted_priv;
    mtr_err_t      err;
    lic_t          l = lic_template();
    size_t         len;

    switch (k) {
    case K_NONE:
        return NULL;
    case K_RENEWED:
    case K_MAIL:
        strcpy(l.id, "L-TEST-2");
        l.not_after = NA + 365 * DAY;
        break;
    case K_OTHER_DEP:
        strcpy(l.deployment, OTHER_DEP);
        break;
    case K_FOREIGN:
        priv = foreign_priv;
        break;
    case K_EXPIRED:
        strcpy(l.id, "L-OLD");
        l.not_before = NB - 2 * 365 * DAY;
        l.not_after = NB - 365 * DAY;
        l.grace_days = 0;
        break;
    default:
        break;
    }

    assert_int_equal(lic_issue(&l, priv, out, sizeof(out), &len, &err), MTR_OK);

    if (k == K_TAMPERED) {
        /* A character of the second body line: the blob stays well formed,
         * the signature no longer matches. */
        p = strchr(out, '\n');
        assert_non_null(p);
        p += 10;
        *p = *p == 'A' ? 'B' : 'A';
    }

    if (k == K_MAIL) {
        text = malloc(len + 200);
        assert_non_null(text);
        snprintf(text, len + 200,
                 "Hello,\r\nhere is your renewed key:\r\n\r\n%s\r\n"
                 "-- \r\nThe vendor\r\n",
                 out);
        return text;
    }

    text = strdup(out);
    assert_non_null(text);
    return text;
}

/* ---- mocks -------------------------------------------------------------- */

typedef struct {
    /* directory */
    int         ldap_down;  /* every search fails */
    int         count_down; /* the user count search fails */
    const char *deployment; /* NULL: no mortarDeploymentId */
    char       *key;        /* mortarLicenseKey (heap); NULL: none */
    int         csn;        /* entryCSN serial; 0: no entryCSN */
    size_t      users;
    int         modify_fail;
    int         base_searches, count_searches, parses, modifies;
    int         modify_op;
    char       *modify_dn, *modify_attr, *modify_value;

    /* Redis */
    int         redis_down;
    int64_t     seats;      /* the counter; -1: absent */
    const char *seats_junk; /* non-NULL: the counter holds this text */
    int64_t     race_seats; /* >= 0: another node sets this before SET NX */
    int         nx_lost;    /* SET NX answers OK but nothing is stored */
    int64_t     clock;      /* -1: absent */
    int         evals, gets, sets, sets_nx;
} mock_t;

static mock_t m;
static char   fake_ldap, fake_redis;

static void
mock_reset(void)
{
    free(m.key);
    free(m.modify_dn);
    free(m.modify_attr);
    free(m.modify_value);
    memset(&m, 0, sizeof(m));
    m.deployment = DEPLOYMENT;
    m.csn = 1;
    m.seats = -1;
    m.race_seats = -1;
    m.clock = -1;
}

static void
mock_set_key(key_kind_e k)
{
    free(m.key);
    m.key = make_key(k);
    m.csn++;
}

int __wrap_mtr_ldap_search(mtr_ldap_t *l, const char *base, int scope,
                           const char *filter, const char *const *attrs,
                           size_t size_limit, mtr_ldap_result_t **res_r,
                           mtr_err_t *err);
int __wrap_mtr_ldap_modify(mtr_ldap_t *l, const char *dn,
                           const mtr_ldap_mod_t *mods, size_t nmods,
                           mtr_err_t *err);
int __wrap_mtr_redis_eval(mtr_redis_t *r, mtr_redis_script_t *script,
                          int numkeys, int argc, const char **argv,
                          const size_t *argvlen, redisReply **reply_r,
                          mtr_err_t *err);
int __wrap_mtr_redis_argv(mtr_redis_t *r, int argc, const char **argv,
                          const size_t *argvlen, redisReply **reply_r,
                          mtr_err_t *err);
int __wrap_mtr_redis_command(mtr_redis_t *r, redisReply **reply_r,
                             mtr_err_t *err, const char *fmt, ...);
int __real_lic_parse(const char *text, size_t len,
                     const uint8_t pubkey[LIC_PUBKEY_LEN], lic_t *lic_r,
                     mtr_err_t *err);
int __wrap_lic_parse(const char *text, size_t len,
                     const uint8_t pubkey[LIC_PUBKEY_LEN], lic_t *lic_r,
                     mtr_err_t *err);

/* Results are built the way mtr_ldap builds them: the real
 * mtr_ldap_result_free() frees them. */
static void
attr_set(mtr_ldap_attr_t *a, const char *name, const char *value)
{
    a->name = strdup(name);
    a->values = calloc(2, sizeof(char *));
    a->lens = calloc(1, sizeof(size_t));
    assert_true(a->name != NULL && a->values != NULL && a->lens != NULL);
    a->values[0] = strdup(value);
    assert_non_null(a->values[0]);
    a->lens[0] = strlen(value);
    a->nvalues = 1;
}

static mtr_ldap_result_t *
result_new(size_t n)
{
    mtr_ldap_result_t *res = calloc(1, sizeof(*res));

    assert_non_null(res);
    res->entries = calloc(n + 1, sizeof(mtr_ldap_entry_t));
    assert_non_null(res->entries);
    res->nentries = n;
    return res;
}

int
__wrap_mtr_ldap_search(mtr_ldap_t *l, const char *base, int scope,
                       const char *filter, const char *const *attrs,
                       size_t size_limit, mtr_ldap_result_t **res_r,
                       mtr_err_t *err)
{
    mtr_ldap_result_t *res;
    mtr_ldap_entry_t  *e;
    char               buf[128];
    size_t             i;

    assert_ptr_equal(l, (void *) &fake_ldap);
    *res_r = NULL;

    if (m.ldap_down) {
        return mtr_err_set(err, "ldap search %s: Can't contact LDAP server",
                           base);
    }

    if (scope == MTR_LDAP_SCOPE_BASE) {
        m.base_searches++;
        assert_string_equal(base, BASE);
        assert_true(filter == NULL || strcmp(filter, "(objectClass=*)") == 0);
        assert_non_null(attrs);

        res = result_new(1);
        e = &res->entries[0];
        e->dn = strdup(BASE);
        e->attrs = calloc(3, sizeof(mtr_ldap_attr_t));
        assert_non_null(e->attrs);
        if (m.deployment != NULL) {
            attr_set(&e->attrs[e->nattrs++], "mortarDeploymentId",
                     m.deployment);
        }
        if (m.key != NULL) {
            attr_set(&e->attrs[e->nattrs++], "mortarLicenseKey", m.key);
        }
        if (m.csn > 0) {
            snprintf(buf, sizeof(buf), "20260101000000.%06dZ#000000#000#000000",
                     m.csn);
            attr_set(&e->attrs[e->nattrs++], "entryCSN", buf);
        }
        *res_r = res;
        return MTR_OK;
    }

    m.count_searches++;
    assert_int_equal(scope, MTR_LDAP_SCOPE_SUB);
    assert_string_equal(base, "ou=domains," BASE);
    assert_string_equal(filter, "(objectClass=mortarUser)");
    assert_non_null(attrs);
    assert_string_equal(attrs[0], "1.1");
    assert_null(attrs[1]);
    assert_int_equal(size_limit, 0);

    if (m.count_down) {
        return mtr_err_set(err, "ldap search %s: Can't contact LDAP server",
                           base);
    }

    res = result_new(m.users);
    for (i = 0; i < m.users; i++) {
        snprintf(buf, sizeof(buf), "mail=u%zu@example.test,ou=domains," BASE,
                 i);
        res->entries[i].dn = strdup(buf);
    }
    *res_r = res;
    return MTR_OK;
}

int
__wrap_mtr_ldap_modify(mtr_ldap_t *l, const char *dn,
                       const mtr_ldap_mod_t *mods, size_t nmods, mtr_err_t *err)
{
    assert_ptr_equal(l, (void *) &fake_ldap);
    assert_int_equal(nmods, 1);
    assert_non_null(mods[0].values);
    assert_non_null(mods[0].values[0]);
    assert_null(mods[0].values[1]);

    m.modifies++;
    free(m.modify_dn);
    free(m.modify_attr);
    free(m.modify_value);
    m.modify_dn = strdup(dn);
    m.modify_attr = strdup(mods[0].attr);
    m.modify_value = strdup(mods[0].values[0]);
    m.modify_op = mods[0].op;

    if (m.modify_fail) {
        return mtr_err_set(err, "ldap modify %s: Insufficient access", dn);
    }
    if (mods[0].op == MTR_LDAP_MOD_REPLACE
        && strcmp(mods[0].attr, "mortarLicenseKey") == 0)
    {
        free(m.key);
        m.key = strdup(mods[0].values[0]);
        m.csn++;
    }
    return MTR_OK;
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
reply_integer(long long v)
{
    redisReply *r = reply_new(REDIS_REPLY_INTEGER);

    r->integer = v;
    return r;
}

static redisReply *
reply_string(int type, const char *s)
{
    redisReply *r = reply_new(type);

    r->str = strdup(s);
    assert_non_null(r->str);
    r->len = strlen(s);
    return r;
}

static redisReply *
reply_pair(long long status, redisReply *value)
{
    redisReply *r = reply_new(REDIS_REPLY_ARRAY);

    r->element = calloc(2, sizeof(redisReply *));
    assert_non_null(r->element);
    r->elements = 2;
    r->element[0] = reply_integer(status);
    r->element[1] = value;
    return r;
}

static void
arg_equal(const char *arg, size_t len, const char *want)
{
    assert_int_equal(len, strlen(want));
    assert_memory_equal(arg, want, len);
}

static long long
arg_number(const char *arg, size_t len)
{
    char buf[32];

    assert_true(len > 0 && len < sizeof(buf));
    memcpy(buf, arg, len);
    buf[len] = '\0';
    return strtoll(buf, NULL, 10);
}

/*
 * The three scripts, told apart by what they do, with the semantics the
 * gate relies on; any other script is a test failure.
 */
int
__wrap_mtr_redis_eval(mtr_redis_t *r, mtr_redis_script_t *script, int numkeys,
                      int argc, const char **argv, const size_t *argvlen,
                      redisReply **reply_r, mtr_err_t *err)
{
    long long now, seats;
    char      buf[32];

    assert_ptr_equal(r, (void *) &fake_redis);
    assert_non_null(script);
    assert_non_null(script->source);
    assert_int_equal(numkeys, 1);
    *reply_r = NULL;

    if (m.redis_down) {
        return mtr_err_set(err, "%s", REDIS_DOWN);
    }
    m.evals++;

    if (strstr(script->source, "INCR") != NULL) {
        assert_int_equal(argc, 2);
        arg_equal(argv[0], argvlen[0], SEATS_KEY);
        seats = arg_number(argv[1], argvlen[1]);
        if (m.seats_junk != NULL && strcmp(m.seats_junk, "<hash>") == 0) {
            *reply_r = reply_pair(-3, reply_integer(0));
        } else if (m.seats_junk != NULL) {
            *reply_r =
                reply_pair(-2, reply_string(REDIS_REPLY_STRING, m.seats_junk));
        } else if (m.seats < 0) {
            *reply_r = reply_pair(-1, reply_integer(0));
        } else if (m.seats + 1 > seats) {
            *reply_r = reply_pair(0, reply_integer(m.seats));
        } else {
            m.seats++;
            *reply_r = reply_pair(1, reply_integer(m.seats));
        }
        return MTR_OK;
    }

    if (strstr(script->source, "DECR") != NULL) {
        assert_int_equal(argc, 1);
        arg_equal(argv[0], argvlen[0], SEATS_KEY);
        if (m.seats_junk != NULL) {
            *reply_r = reply_integer(0);
        } else if (m.seats < 0) {
            *reply_r = reply_integer(-1);
        } else {
            if (m.seats > 0) {
                m.seats--;
            }
            *reply_r = reply_integer(m.seats);
        }
        return MTR_OK;
    }

    assert_int_equal(argc, 2);
    arg_equal(argv[0], argvlen[0], CLOCK_KEY);
    now = arg_number(argv[1], argvlen[1]);
    snprintf(buf, sizeof(buf), "%lld",
             m.clock >= 0 ? (long long) m.clock : now);
    if (m.clock < 0 || now > m.clock) {
        m.clock = now;
    }
    *reply_r = reply_string(REDIS_REPLY_STRING, buf);
    return MTR_OK;
}

int
__wrap_mtr_redis_argv(mtr_redis_t *r, int argc, const char **argv,
                      const size_t *argvlen, redisReply **reply_r,
                      mtr_err_t *err)
{
    redisReply *reply;
    char        buf[32];
    int         stored = 0;

    assert_ptr_equal(r, (void *) &fake_redis);
    if (reply_r != NULL) {
        *reply_r = NULL;
    }
    if (m.redis_down) {
        return mtr_err_set(err, "%s", REDIS_DOWN);
    }

    if (argvlen[0] == 3 && memcmp(argv[0], "GET", 3) == 0) {
        m.gets++;
        assert_int_equal(argc, 2);
        arg_equal(argv[1], argvlen[1], SEATS_KEY);
        if (m.seats_junk != NULL && strcmp(m.seats_junk, "<hash>") == 0) {
            return mtr_err_set(err, "redis GET: WRONGTYPE Operation against "
                                    "a key holding the wrong kind of value");
        } else if (m.seats_junk != NULL) {
            reply = reply_string(REDIS_REPLY_STRING, m.seats_junk);
        } else if (m.seats < 0) {
            reply = reply_new(REDIS_REPLY_NIL);
        } else {
            snprintf(buf, sizeof(buf), "%lld", (long long) m.seats);
            reply = reply_string(REDIS_REPLY_STRING, buf);
        }
    } else {
        arg_equal(argv[0], argvlen[0], "SET");
        arg_equal(argv[1], argvlen[1], SEATS_KEY);
        if (argc == 4) {
            arg_equal(argv[3], argvlen[3], "NX");
            m.sets_nx++;
            if (m.race_seats >= 0) {
                m.seats = m.race_seats; /* another node was first */
            }
            if (m.seats < 0 && m.seats_junk == NULL && !m.nx_lost) {
                m.seats = arg_number(argv[2], argvlen[2]);
                stored = 1;
            }
        } else {
            assert_int_equal(argc, 3);
            m.sets++;
            m.seats = arg_number(argv[2], argvlen[2]);
            m.seats_junk = NULL;
            stored = 1;
        }
        reply = stored || m.nx_lost ? reply_string(REDIS_REPLY_STATUS, "OK")
                                    : reply_new(REDIS_REPLY_NIL);
    }

    if (reply_r != NULL) {
        *reply_r = reply;
    } else {
        freeReplyObject(reply);
    }
    return MTR_OK;
}

/* Commands are built from argv, never from a format string. */
int
__wrap_mtr_redis_command(mtr_redis_t *r, redisReply **reply_r, mtr_err_t *err,
                         const char *fmt, ...)
{
    (void) r;
    (void) reply_r;
    (void) err;
    print_message("unexpected mtr_redis_command(\"%s\")\n", fmt);
    fail();
    return MTR_ERROR;
}

int
__wrap_lic_parse(const char *text, size_t len,
                 const uint8_t pubkey[LIC_PUBKEY_LEN], lic_t *lic_r,
                 mtr_err_t *err)
{
    m.parses++;
    return __real_lic_parse(text, len, pubkey, lic_r, err);
}

/* ---- helpers ------------------------------------------------------------ */

static lic_gate_t *
gate_new(void)
{
    lic_gate_opts_t opts;
    lic_gate_t     *g;
    mtr_err_t       err;

    opts.ldap = (mtr_ldap_t *) (void *) &fake_ldap;
    opts.redis = (mtr_redis_t *) (void *) &fake_redis;
    opts.base = BASE;
    opts.pubkey = trusted_pub;
    assert_int_equal(lic_gate_create(&g, &opts, &err), MTR_OK);
    return g;
}

static void
expect_text(const char *what, const char *text, const char *want)
{
    if (want == NULL) {
        if (text[0] != '\0') {
            print_message("  %s was \"%s\", expected empty\n", what, text);
            fail();
        }
        return;
    }
    if (strstr(text, want) == NULL) {
        print_message("  %s was \"%s\", expected \"%s\"\n", what, text, want);
        fail();
    }
}

static int
group_setup(void **state)
{
    mtr_err_t err;

    (void) state;
    if (lic_keygen(trusted_priv, trusted_pub, &err) != MTR_OK
        || lic_keygen(foreign_priv, foreign_pub, &err) != MTR_OK)
    {
        return -1;
    }
    mock_reset();
    return 0;
}

static int
group_teardown(void **state)
{
    (void) state;
    mock_reset();
    return 0;
}

/* ---- admin changes ------------------------------------------------------ */

typedef struct {
    const char *name;
    key_kind_e  key;
    int         no_deployment;
    int         ldap_down;
    int         redis_down;
    int64_t     clock; /* stored newest time; -1: none */
    int64_t     now;
    int         rc;
    const char *err;         /* substring; NULL: no check */
    const char *err2;        /* a second substring */
    const char *warn;        /* substring; NULL: must be empty */
    int64_t     clock_after; /* -1: unchanged from clock */
} admin_case_t;

static const admin_case_t admin_cases[] = {
    { "no key installed", K_NONE, 0, 0, 0, -1, NB + DAY, MTR_DECLINED,
      "no license key is installed: install one with `mortar license install "
      "FILE`",
      NULL, NULL, -1 },
    { "valid: OK, no warning", K_VALID, 0, 0, 0, -1, NB + 10 * DAY, MTR_OK,
      NULL, NULL, NULL, NB + 10 * DAY },
    { "20 days left: warning", K_VALID, 0, 0, 0, -1, NA - 20 * DAY, MTR_OK,
      NULL, NULL, "expires on 2027-01-01, 20 days left", NA - 20 * DAY },
    { "in grace: OK with warning", K_VALID, 0, 0, 0, -1, NA + 5 * DAY, MTR_OK,
      NULL, NULL, "grace period ends on 2027-01-31, 25 days left",
      NA + 5 * DAY },
    { "past grace: refused naming id and dates", K_VALID, 0, 0, 0, -1,
      NA + 31 * DAY, MTR_DECLINED,
      "license L-TEST-1 (Test Customer) expired on 2027-01-01, grace ended "
      "2027-01-31",
      "administrative changes are refused", NULL, NA + 31 * DAY },
    { "not yet valid: refused", K_VALID, 0, 0, 0, -1, NB - DAY, MTR_DECLINED,
      "is not valid before 2026-01-01", NULL, NULL, NB - DAY },
    { "clock turned back: judged at the stored time, refused", K_VALID, 0, 0, 0,
      NA + 40 * DAY, NA - 60 * DAY, MTR_DECLINED,
      "expired on 2027-01-01, grace ended 2027-01-31",
      "judged at 2027-02-10T00:00:00Z",
      "system clock is 8640000 s behind the newest time this deployment has "
      "seen (2027-02-10T00:00:00Z)",
      NA + 40 * DAY },
    { "clock turned back, still valid then: OK with warning", K_VALID, 0, 0, 0,
      NB + 20 * DAY + 1000, NB + 20 * DAY, MTR_OK, NULL, NULL,
      "system clock is 1000 s behind", NB + 20 * DAY + 1000 },
    { "clock turned back into grace: grace warning first", K_VALID, 0, 0, 0,
      NA + DAY, NA - 100 * DAY, MTR_OK, NULL, NULL,
      "grace period ends on 2027-01-31, 29 days left: after that "
      "administrative changes are refused until a renewed key is installed; "
      "system clock is 8726400 s behind",
      NA + DAY },
    { "clock behind within the tolerance: no warning", K_VALID, 0, 0, 0,
      NB + 20 * DAY + LIC_CLOCK_TOLERANCE, NB + 20 * DAY, MTR_OK, NULL, NULL,
      NULL, NB + 20 * DAY + LIC_CLOCK_TOLERANCE },
    { "clock ahead: stored time moves forward", K_VALID, 0, 0, 0, NB + DAY,
      NB + 2 * DAY, MTR_OK, NULL, NULL, NULL, NB + 2 * DAY },
    { "Redis down: still OK, warning says so", K_VALID, 0, 0, 1, -1,
      NB + 10 * DAY, MTR_OK, NULL, NULL,
      "not checked against the newest time this deployment has seen: Redis "
      "is unreachable (" REDIS_DOWN ")",
      -1 },
    { "Redis down, past grace: refused", K_VALID, 0, 0, 1, -1, NA + 31 * DAY,
      MTR_DECLINED, "expired on 2027-01-01", NULL, NULL, -1 },
    { "tampered key in the directory", K_TAMPERED, 0, 0, 0, -1, NB + DAY,
      MTR_DECLINED,
      "the license key in the directory is rejected (signature does not "
      "verify",
      "install a valid key with `mortar license install FILE`", NULL, -1 },
    { "foreign vendor's key in the directory", K_FOREIGN, 0, 0, 0, -1, NB + DAY,
      MTR_DECLINED, "signature does not verify", NULL, NULL, -1 },
    { "another deployment's key in the directory", K_OTHER_DEP, 0, 0, 0, -1,
      NB + DAY, MTR_DECLINED, "bound to deployment " OTHER_DEP, NULL, NULL,
      -1 },
    { "no deployment id on the suffix", K_VALID, 1, 0, 0, -1, NB + DAY,
      MTR_DECLINED, "has no mortarDeploymentId", NULL, NULL, -1 },
    { "directory unreachable", K_VALID, 0, 1, 0, -1, NB + DAY, MTR_ERROR,
      "cannot read the license from the directory", NULL, NULL, -1 },
};

static void
test_admin_change(void **state)
{
    lic_gate_t *g;
    mtr_err_t   err;
    char        warn[LIC_WARN_MAX];
    size_t      i;
    int         rc;

    (void) state;

    for (i = 0; i < sizeof(admin_cases) / sizeof(admin_cases[0]); i++) {
        const admin_case_t *c = &admin_cases[i];

        print_message("case: admin change: %s\n", c->name);
        mock_reset();
        mock_set_key(c->key);
        m.deployment = c->no_deployment ? NULL : DEPLOYMENT;
        m.ldap_down = c->ldap_down;
        m.redis_down = c->redis_down;
        m.clock = c->clock;

        g = gate_new();
        memset(warn, 'x', sizeof(warn));
        rc = lic_gate_admin_change(g, c->now, warn, sizeof(warn), &err);
        if (rc != c->rc) {
            print_message("  rc %d, expected %d; err \"%s\"\n", rc, c->rc,
                          err.msg);
        }
        assert_int_equal(rc, c->rc);
        if (c->err != NULL) {
            expect_text("err", err.msg, c->err);
        }
        if (c->err2 != NULL) {
            expect_text("err", err.msg, c->err2);
        }
        if (rc == MTR_OK) {
            expect_text("warning", warn, c->warn);
        } else if (c->warn != NULL) {
            expect_text("warning", warn, c->warn);
        }
        assert_int_equal(m.clock,
                         c->clock_after >= 0 ? c->clock_after : c->clock);
        lic_gate_destroy(&g);
        assert_null(g);
    }

    print_message("case: admin change: warning buffer too small is cut "
                  "visibly\n");
    mock_reset();
    mock_set_key(K_VALID);
    g = gate_new();
    rc = lic_gate_admin_change(g, NA - 20 * DAY, warn, 16, &err);
    assert_int_equal(rc, MTR_OK);
    assert_int_equal(strlen(warn), 15);
    assert_string_equal(warn + 12, "...");
    lic_gate_destroy(&g);

    print_message("case: admin change: NULL warning buffer\n");
    g = gate_new();
    assert_int_equal(lic_gate_admin_change(g, NA - 20 * DAY, NULL, 0, &err),
                     MTR_OK);
    lic_gate_destroy(&g);
}

/* ---- seats -------------------------------------------------------------- */

typedef struct {
    const char *name;
    key_kind_e  key;
    int64_t     seats; /* counter before; -1: absent */
    const char *junk;  /* counter holds this text */
    size_t      users; /* user entries in the directory */
    int64_t     race;  /* another node initialises to this; -1: no */
    int         nx_lost;
    int         count_down;
    int         redis_down;
    int         rc;
    const char *err;
    int64_t     seats_after;
    int         count_searches;
} seat_case_t;

static const seat_case_t seat_cases[] = {
    { "free seat", K_VALID, 3, NULL, 3, -1, 0, 0, 0, MTR_OK, NULL, 4, 0 },
    { "last free seat", K_VALID, 9, NULL, 9, -1, 0, 0, 0, MTR_OK, NULL, 10, 0 },
    { "full: refused naming the count", K_VALID, 10, NULL, 10, -1, 0, 0, 0,
      MTR_DECLINED,
      "all 10 seats of license L-TEST-1 are in use: delete a user or install "
      "a key with more seats",
      10, 0 },
    { "over the count (a smaller key): refused", K_VALID, 12, NULL, 12, -1, 0,
      0, 0, MTR_DECLINED,
      "all 10 seats of license L-TEST-1 are in use (12 users counted)", 12, 0 },
    { "counter absent: initialised from LDAP, then reserved", K_VALID, -1, NULL,
      4, -1, 0, 0, 0, MTR_OK, NULL, 5, 1 },
    { "counter absent, directory full: refused", K_VALID, -1, NULL, 10, -1, 0,
      0, 0, MTR_DECLINED, "all 10 seats of license L-TEST-1 are in use", 10,
      1 },
    { "counter absent, empty directory", K_VALID, -1, NULL, 0, -1, 0, 0, 0,
      MTR_OK, NULL, 1, 1 },
    { "another node initialised first: its count wins", K_VALID, -1, NULL, 4, 9,
      0, 0, 0, MTR_OK, NULL, 10, 1 },
    { "another node initialised first to full", K_VALID, -1, NULL, 4, 10, 0, 0,
      0, MTR_DECLINED, "all 10 seats", 10, 1 },
    { "counter vanishes again: error", K_VALID, -1, NULL, 4, -1, 1, 0, 0,
      MTR_ERROR, "could not be initialised", -1, 1 },
    { "counter absent, directory unreachable: error", K_VALID, -1, NULL, 4, -1,
      0, 1, 0, MTR_ERROR,
      "the seat counter is not initialised and the users in the directory "
      "cannot be counted",
      -1, 1 },
    { "corrupt counter: error naming it", K_VALID, 0, "abc", 0, -1, 0, 0, 0,
      MTR_ERROR,
      "the seat counter " SEATS_KEY " holds \"abc\", not a count: run "
      "`mortar license audit --fix`",
      0, 0 },
    { "counter of another type: error naming it", K_VALID, 0, "<hash>", 0, -1,
      0, 0, 0, MTR_ERROR,
      "the seat counter " SEATS_KEY " is not a string key, not a count", 0, 0 },
    { "Redis down: error", K_VALID, 3, NULL, 3, -1, 0, 0, 1, MTR_ERROR,
      "cannot reserve a seat: Redis is unreachable (" REDIS_DOWN
      "); the user was not added",
      3, 0 },
    { "no key: refused", K_NONE, 3, NULL, 3, -1, 0, 0, 0, MTR_DECLINED,
      "no license key is installed: install one with `mortar license install "
      "FILE`; the user was not added",
      3, 0 },
    { "tampered key: refused", K_TAMPERED, 3, NULL, 3, -1, 0, 0, 0,
      MTR_DECLINED, "signature does not verify", 3, 0 },
};

static void
test_seat_reserve(void **state)
{
    lic_gate_t *g;
    mtr_err_t   err;
    size_t      i;
    int         rc;

    (void) state;

    for (i = 0; i < sizeof(seat_cases) / sizeof(seat_cases[0]); i++) {
        const seat_case_t *c = &seat_cases[i];

        print_message("case: seat reserve: %s\n", c->name);
        mock_reset();
        mock_set_key(c->key);
        m.seats = c->seats;
        m.seats_junk = c->junk;
        m.users = c->users;
        m.race_seats = c->race;
        m.nx_lost = c->nx_lost;
        m.count_down = c->count_down;
        m.redis_down = c->redis_down;

        g = gate_new();
        rc = lic_gate_seat_reserve(g, &err);
        if (rc != c->rc) {
            print_message("  rc %d, expected %d; err \"%s\"\n", rc, c->rc,
                          err.msg);
        }
        assert_int_equal(rc, c->rc);
        if (c->err != NULL) {
            expect_text("err", err.msg, c->err);
        } else {
            expect_text("err", err.msg, NULL);
        }
        assert_int_equal(m.seats, c->seats_after);
        assert_int_equal(m.count_searches, c->count_searches);
        assert_int_equal(m.sets_nx, c->count_searches > 0 && !c->count_down);
        lic_gate_destroy(&g);
    }

    print_message("case: seat reserve: fill up from absent, one LDAP count\n");
    mock_reset();
    mock_set_key(K_VALID);
    m.users = 7;
    g = gate_new();
    for (i = 0; i < 3; i++) {
        assert_int_equal(lic_gate_seat_reserve(g, &err), MTR_OK);
    }
    assert_int_equal(lic_gate_seat_reserve(g, &err), MTR_DECLINED);
    assert_int_equal(m.seats, 10);
    assert_int_equal(m.count_searches, 1);
    assert_int_equal(m.base_searches, 1); /* loaded once, then cached */
    lic_gate_destroy(&g);
}

typedef struct {
    const char *name;
    int64_t     seats;
    int         redis_down;
    int         rc;
    int64_t     seats_after;
} release_case_t;

static const release_case_t release_cases[] = {
    { "3 -> 2", 3, 0, MTR_OK, 2 },
    { "1 -> 0", 1, 0, MTR_OK, 0 },
    { "never below 0", 0, 0, MTR_OK, 0 },
    { "absent stays absent", -1, 0, MTR_OK, -1 },
    { "Redis down: error", 3, 1, MTR_ERROR, 3 },
};

static void
test_seat_release(void **state)
{
    lic_gate_t *g;
    mtr_err_t   err;
    size_t      i;

    (void) state;

    for (i = 0; i < sizeof(release_cases) / sizeof(release_cases[0]); i++) {
        const release_case_t *c = &release_cases[i];

        print_message("case: seat release: %s\n", c->name);
        mock_reset();
        mock_set_key(K_VALID);
        m.seats = c->seats;
        m.redis_down = c->redis_down;
        g = gate_new();
        assert_int_equal(lic_gate_seat_release(g, &err), c->rc);
        if (c->rc != MTR_OK) {
            expect_text("err", err.msg,
                        "cannot give a seat back: Redis is "
                        "unreachable");
        }
        assert_int_equal(m.seats, c->seats_after);
        lic_gate_destroy(&g);
    }

    print_message("case: seat release: twice from 1 stays at 0\n");
    mock_reset();
    mock_set_key(K_VALID);
    m.seats = 1;
    g = gate_new();
    assert_int_equal(lic_gate_seat_release(g, &err), MTR_OK);
    assert_int_equal(lic_gate_seat_release(g, &err), MTR_OK);
    assert_int_equal(m.seats, 0);
    lic_gate_destroy(&g);

    print_message("case: seat release: works without a key in force\n");
    mock_reset();
    m.seats = 2;
    g = gate_new();
    assert_int_equal(lic_gate_seat_release(g, &err), MTR_OK);
    assert_int_equal(m.seats, 1);
    lic_gate_destroy(&g);
}

/* ---- install ------------------------------------------------------------ */

typedef struct {
    const char *name;
    key_kind_e  before;  /* key in the directory */
    key_kind_e  install; /* key given (K_NONE: the text below) */
    const char *text;
    int         modify_fail;
    int64_t     now;
    int         rc;
    const char *err;
    const char *id_after; /* license in force after; NULL: none */
} install_case_t;

static const install_case_t install_cases[] = {
    { "other deployment: refused, old key kept", K_VALID, K_OTHER_DEP, NULL, 0,
      NB + DAY, MTR_DECLINED,
      "license key refused: license L-TEST-1 is bound to deployment " OTHER_DEP
      ", not to this deployment " DEPLOYMENT,
      "L-TEST-1" },
    { "tampered: refused, old key kept", K_EXPIRED, K_TAMPERED, NULL, 0,
      NB + DAY, MTR_DECLINED, "license key refused: signature does not verify",
      "L-OLD" },
    { "foreign vendor: refused", K_VALID, K_FOREIGN, NULL, 0, NB + DAY,
      MTR_DECLINED, "license key refused: signature does not verify",
      "L-TEST-1" },
    { "not a key: refused", K_VALID, K_NONE, "hello, world\n", 0, NB + DAY,
      MTR_DECLINED, "license key refused: not a Mortar license", "L-TEST-1" },
    { "expired key: refused", K_VALID, K_EXPIRED, NULL, 0, NB + DAY,
      MTR_DECLINED, "license key refused: license L-OLD expired", "L-TEST-1" },
    { "not yet valid: refused", K_NONE, K_VALID, NULL, 0, NB - DAY,
      MTR_DECLINED, "is not valid before 2026-01-01", NULL },
    { "directory write fails: old key kept", K_VALID, K_RENEWED, NULL, 1,
      NB + DAY, MTR_ERROR,
      "the directory write failed (ldap modify o=mortar: Insufficient "
      "access); the key in force stays in force",
      "L-TEST-1" },
    { "no key yet: installed", K_NONE, K_VALID, NULL, 0, NB + DAY, MTR_OK, NULL,
      "L-TEST-1" },
    { "renewal over an expired key: installed", K_EXPIRED, K_RENEWED, NULL, 0,
      NA + 100 * DAY, MTR_OK, NULL, "L-TEST-2" },
    { "key inside a mail: only the armor is stored", K_VALID, K_MAIL, NULL, 0,
      NB + DAY, MTR_OK, NULL, "L-TEST-2" },
};

static void
test_install(void **state)
{
    lic_gate_t  *g;
    const lic_t *lic;
    mtr_err_t    err;
    char        *text, *before, *armor;
    size_t       i;
    int          rc;

    (void) state;

    for (i = 0; i < sizeof(install_cases) / sizeof(install_cases[0]); i++) {
        const install_case_t *c = &install_cases[i];

        print_message("case: install: %s\n", c->name);
        mock_reset();
        mock_set_key(c->before);
        before = m.key != NULL ? strdup(m.key) : NULL;
        m.modify_fail = c->modify_fail;
        text = c->text != NULL ? strdup(c->text) : make_key(c->install);

        g = gate_new();
        rc = lic_gate_install(g, text, strlen(text), c->now, &err);
        if (rc != c->rc) {
            print_message("  rc %d, expected %d; err \"%s\"\n", rc, c->rc,
                          err.msg);
        }
        assert_int_equal(rc, c->rc);
        if (c->err != NULL) {
            expect_text("err", err.msg, c->err);
        }

        lic = lic_gate_license(g);
        if (c->id_after == NULL) {
            assert_null(lic);
        } else {
            assert_non_null(lic);
            assert_string_equal(lic->id, c->id_after);
        }

        if (rc == MTR_OK) {
            /* One REPLACE of mortarLicenseKey on the suffix entry, with
             * exactly the armored block. */
            assert_int_equal(m.modifies, 1);
            assert_string_equal(m.modify_dn, BASE);
            assert_string_equal(m.modify_attr, "mortarLicenseKey");
            assert_int_equal(m.modify_op, MTR_LDAP_MOD_REPLACE);
            armor = make_key(c->install == K_MAIL ? K_RENEWED : c->install);
            assert_string_equal(m.modify_value, armor);
            free(armor);

            /* Other nodes read the new key from the directory. */
            lic_gate_destroy(&g);
            g = gate_new();
            assert_int_equal(lic_gate_refresh(g, &err), MTR_OK);
            assert_non_null(lic_gate_license(g));
            assert_string_equal(lic_gate_license(g)->id, c->id_after);
        } else {
            if (c->modify_fail) {
                assert_int_equal(m.modifies, 1);
            } else {
                assert_int_equal(m.modifies, 0);
            }
            if (before == NULL) {
                assert_null(m.key);
            } else {
                assert_string_equal(m.key, before);
            }
        }

        free(before);
        free(text);
        lic_gate_destroy(&g);
    }

    print_message("case: install: a renewal lifts the refusal at once\n");
    mock_reset();
    mock_set_key(K_VALID);
    g = gate_new();
    assert_int_equal(lic_gate_admin_change(g, NA + 40 * DAY, NULL, 0, &err),
                     MTR_DECLINED);
    text = make_key(K_RENEWED);
    assert_int_equal(
        lic_gate_install(g, text, strlen(text), NA + 40 * DAY, &err), MTR_OK);
    assert_int_equal(lic_gate_admin_change(g, NA + 40 * DAY, NULL, 0, &err),
                     MTR_OK);
    free(text);
    lic_gate_destroy(&g);

    print_message("case: install: no deployment id: error\n");
    mock_reset();
    m.deployment = NULL;
    g = gate_new();
    text = make_key(K_VALID);
    assert_int_equal(lic_gate_install(g, text, strlen(text), NB + DAY, &err),
                     MTR_ERROR);
    expect_text("err", err.msg, "has no mortarDeploymentId");
    assert_int_equal(m.modifies, 0);
    free(text);
    lic_gate_destroy(&g);
}

/* ---- audit -------------------------------------------------------------- */

typedef struct {
    const char *name;
    key_kind_e  key;
    int64_t     seats;
    const char *junk;
    size_t      users;
    int         fix;
    int         redis_down;
    int         rc;
    uint32_t    licensed;
    int64_t     counter;
    int         fixed;
    int64_t     seats_after;
    const char *err;
} audit_case_t;

static const audit_case_t audit_cases[] = {
    { "counter behind, no fix", K_VALID, 5, NULL, 7, 0, 0, MTR_OK, 10, 5, 0, 5,
      NULL },
    { "counter behind, fix", K_VALID, 5, NULL, 7, 1, 0, MTR_OK, 10, 5, 1, 7,
      NULL },
    { "counter ahead, fix", K_VALID, 9, NULL, 7, 1, 0, MTR_OK, 10, 9, 1, 7,
      NULL },
    { "in step, fix writes nothing", K_VALID, 7, NULL, 7, 1, 0, MTR_OK, 10, 7,
      0, 7, NULL },
    { "absent, no fix", K_VALID, -1, NULL, 12, 0, 0, MTR_OK, 10, -1, 0, -1,
      NULL },
    { "absent, fix (excess visible)", K_VALID, -1, NULL, 12, 1, 0, MTR_OK, 10,
      -1, 1, 12, NULL },
    { "corrupt, fix", K_VALID, 0, "abc", 3, 1, 0, MTR_OK, 10, -1, 1, 3, NULL },
    { "another type, no fix: error", K_VALID, 0, "<hash>", 3, 0, 0, MTR_ERROR,
      10, -1, 0, 0, "cannot read the seat counter: redis GET: WRONGTYPE" },
    { "another type, fix: replaced", K_VALID, 0, "<hash>", 3, 1, 0, MTR_OK, 10,
      -1, 1, 3, NULL },
    { "no key: licensed 0", K_NONE, 2, NULL, 2, 0, 0, MTR_OK, 0, 2, 0, 2,
      NULL },
    { "Redis down", K_VALID, 5, NULL, 7, 0, 1, MTR_ERROR, 10, -1, 0, 5,
      "cannot read the seat counter: " REDIS_DOWN },
    { "Redis down, fix", K_VALID, 5, NULL, 7, 1, 1, MTR_ERROR, 10, -1, 0, 5,
      "cannot write the seat counter: " REDIS_DOWN },
};

static void
test_audit(void **state)
{
    lic_gate_t *g;
    lic_audit_t a;
    mtr_err_t   err;
    size_t      i;

    (void) state;

    for (i = 0; i < sizeof(audit_cases) / sizeof(audit_cases[0]); i++) {
        const audit_case_t *c = &audit_cases[i];

        print_message("case: audit: %s\n", c->name);
        mock_reset();
        mock_set_key(c->key);
        m.seats = c->seats;
        m.seats_junk = c->junk;
        m.users = c->users;
        m.redis_down = c->redis_down;
        g = gate_new();
        memset(&a, 0x55, sizeof(a));
        assert_int_equal(lic_gate_audit(g, c->fix, &a, &err), c->rc);
        assert_int_equal(a.seats_licensed, c->licensed);
        assert_int_equal(a.seats_directory, c->users);
        assert_int_equal(a.seats_counter, c->counter);
        assert_int_equal(a.fixed, c->fixed);
        assert_int_equal(m.seats, c->seats_after);
        if (c->err != NULL) {
            expect_text("err", err.msg, c->err);
        }
        lic_gate_destroy(&g);
    }
}

/* ---- status text -------------------------------------------------------- */

typedef struct {
    const char *name;
    key_kind_e  key;
    int64_t     seats;
    int         redis_down;
    int64_t     now;
    const char *want; /* exact */
} status_case_t;

static const status_case_t status_cases[] = {
    { "valid, counter", K_VALID, 8, 0, NA - 35 * DAY,
      "license L-TEST-1 (Test Customer), Enterprise/Priority: 8 of 10 seats "
      "used; valid, expires on 2027-01-01, 35 days left" },
    { "expiring", K_VALID, 3, 0, NA - DAY,
      "license L-TEST-1 (Test Customer), Enterprise/Priority: 3 of 10 seats "
      "used; expires on 2027-01-01, 1 day left: install a renewed key" },
    { "counter absent", K_VALID, -1, 0, NA - 35 * DAY,
      "license L-TEST-1 (Test Customer), Enterprise/Priority: 10 seats, seat "
      "counter not initialised yet; valid, expires on 2027-01-01, 35 days "
      "left" },
    { "Redis down", K_VALID, 3, 1, NA - 35 * DAY,
      "license L-TEST-1 (Test Customer), Enterprise/Priority: 10 seats, seat "
      "counter unavailable (" REDIS_DOWN
      "); valid, expires on 2027-01-01, 35 days left" },
    { "no key", K_NONE, 3, 0, NA,
      "no license installed: administrative changes are refused until a "
      "license key is installed" },
};

static void
test_status_text(void **state)
{
    lic_gate_t *g;
    mtr_err_t   err;
    char        buf[LIC_STATUS_MAX];
    size_t      i;

    (void) state;

    for (i = 0; i < sizeof(status_cases) / sizeof(status_cases[0]); i++) {
        const status_case_t *c = &status_cases[i];

        print_message("case: status: %s\n", c->name);
        mock_reset();
        mock_set_key(c->key);
        m.seats = c->seats;
        m.redis_down = c->redis_down;
        g = gate_new();
        assert_int_equal(
            lic_gate_status_text(g, c->now, buf, sizeof(buf), &err), MTR_OK);
        assert_string_equal(buf, c->want);
        lic_gate_destroy(&g);
    }

    print_message("case: status: buffer too small is an error, never cut\n");
    mock_reset();
    mock_set_key(K_VALID);
    m.seats = 1;
    g = gate_new();
    assert_int_equal(lic_gate_status_text(g, NB, buf, 20, &err), MTR_ERROR);
    assert_string_equal(buf, "");
    lic_gate_destroy(&g);

    print_message("case: status: rejected key says why\n");
    mock_reset();
    mock_set_key(K_TAMPERED);
    g = gate_new();
    assert_int_equal(lic_gate_status_text(g, NB, buf, sizeof(buf), &err),
                     MTR_OK);
    expect_text("status", buf,
                "no license in force: the license key in the "
                "directory is rejected (signature does not "
                "verify");
    lic_gate_destroy(&g);
}

/* ---- refresh cache ------------------------------------------------------ */

static void
test_refresh(void **state)
{
    lic_gate_t *g;
    mtr_err_t   err;
    char       *key;

    (void) state;

    print_message("case: refresh: nothing read at create\n");
    mock_reset();
    mock_set_key(K_VALID);
    g = gate_new();
    assert_int_equal(m.base_searches, 0);
    assert_null(lic_gate_license(g));
    assert_null(lic_gate_deployment(g));

    print_message("case: refresh: first read parses the key once\n");
    assert_int_equal(lic_gate_refresh(g, &err), MTR_OK);
    assert_string_equal(err.msg, "");
    assert_int_equal(m.base_searches, 1);
    assert_int_equal(m.parses, 1);
    assert_string_equal(lic_gate_deployment(g), DEPLOYMENT);
    assert_string_equal(lic_gate_license(g)->id, "L-TEST-1");

    print_message("case: refresh: same entryCSN: no parse\n");
    assert_int_equal(lic_gate_refresh(g, &err), MTR_OK);
    assert_int_equal(m.base_searches, 2);
    assert_int_equal(m.parses, 1);

    print_message("case: refresh: entry changed, same key text: no parse\n");
    m.csn++;
    assert_int_equal(lic_gate_refresh(g, &err), MTR_OK);
    assert_int_equal(m.parses, 1);

    print_message("case: refresh: no entryCSN, same key text: no parse\n");
    m.csn = 0;
    assert_int_equal(lic_gate_refresh(g, &err), MTR_OK);
    assert_int_equal(m.parses, 1);
    m.csn = 10;

    print_message("case: refresh: key text changed: parsed again\n");
    mock_set_key(K_RENEWED);
    assert_int_equal(lic_gate_refresh(g, &err), MTR_OK);
    assert_int_equal(m.parses, 2);
    assert_string_equal(lic_gate_license(g)->id, "L-TEST-2");

    print_message("case: refresh: key replaced by a tampered one: reported, "
                  "none in force\n");
    mock_set_key(K_TAMPERED);
    assert_int_equal(lic_gate_refresh(g, &err), MTR_OK);
    expect_text("err", err.msg, "signature does not verify");
    assert_null(lic_gate_license(g));
    assert_int_equal(m.parses, 3);

    print_message("case: refresh: the bad key is not verified again\n");
    assert_int_equal(lic_gate_refresh(g, &err), MTR_OK);
    expect_text("err", err.msg, "signature does not verify");
    m.csn++;
    assert_int_equal(lic_gate_refresh(g, &err), MTR_OK);
    assert_int_equal(m.parses, 3);

    print_message("case: refresh: key removed\n");
    free(m.key);
    m.key = NULL;
    m.csn++;
    assert_int_equal(lic_gate_refresh(g, &err), MTR_OK);
    assert_string_equal(err.msg, "");
    assert_null(lic_gate_license(g));

    print_message("case: refresh: deployment id changed: key re-checked\n");
    mock_set_key(K_VALID);
    assert_int_equal(lic_gate_refresh(g, &err), MTR_OK);
    assert_non_null(lic_gate_license(g));
    m.deployment = OTHER_DEP;
    m.csn++;
    assert_int_equal(lic_gate_refresh(g, &err), MTR_OK);
    expect_text("err", err.msg, "bound to deployment " DEPLOYMENT);
    assert_null(lic_gate_license(g));
    assert_string_equal(lic_gate_deployment(g), OTHER_DEP);

    print_message("case: refresh: deployment id not a lowercase UUID\n");
    m.deployment = "0F8E4C2A-1B2C-4D5E-8F90-123456789ABC";
    m.csn++;
    assert_int_equal(lic_gate_refresh(g, &err), MTR_OK);
    assert_null(lic_gate_deployment(g));
    assert_null(lic_gate_license(g));

    print_message("case: refresh: directory down: error, cache kept\n");
    m.deployment = DEPLOYMENT;
    m.csn++;
    assert_int_equal(lic_gate_refresh(g, &err), MTR_OK);
    assert_non_null(lic_gate_license(g));
    m.ldap_down = 1;
    assert_int_equal(lic_gate_refresh(g, &err), MTR_ERROR);
    expect_text("err", err.msg, "Can't contact LDAP server");
    assert_non_null(lic_gate_license(g));
    lic_gate_destroy(&g);

    print_message("case: refresh: key with CRLF and blanks as an admin may "
                  "paste it with ldapmodify\n");
    mock_reset();
    key = make_key(K_MAIL);
    m.key = key;
    g = gate_new();
    assert_int_equal(lic_gate_refresh(g, &err), MTR_OK);
    assert_string_equal(lic_gate_license(g)->id, "L-TEST-2");
    lic_gate_destroy(&g);

    print_message("case: create: missing options refused\n");
    {
        lic_gate_opts_t opts;

        memset(&opts, 0, sizeof(opts));
        g = (lic_gate_t *) (void *) &fake_ldap;
        assert_int_equal(lic_gate_create(&g, &opts, &err), MTR_ERROR);
        assert_null(g);
        lic_gate_destroy(&g);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admin_change),
        cmocka_unit_test(test_seat_reserve),
        cmocka_unit_test(test_seat_release),
        cmocka_unit_test(test_install),
        cmocka_unit_test(test_audit),
        cmocka_unit_test(test_status_text),
        cmocka_unit_test(test_refresh),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
