/*
 * test_caldav_dir.c -- unit tests of ngx_caldav/caldav_dir.c, the directory
 * side of the DAV module: logins, principals and the global address book.
 *
 * libmortar's LDAP client is wrapped at link time (test_caldav_dir.flags):
 * mtr_ldap_create/destroy hand out fake connections that remember their
 * bind DN and password, and mtr_ldap_search answers from the small
 * directory below.  A connection bound as the service account searches;
 * any other connection is a user's bind, which "succeeds" (its search
 * returns the entry) only when the password is that user's, and otherwise
 * fails the way libldap does: MTR_ERROR with last_result 49.  The mock
 * honours the size limit (a search matching more entries fails with
 * LDAP_SIZELIMIT_EXCEEDED), the requested attributes, the base (an unknown
 * base is MTR_DECLINED, LDAP_NO_SUCH_OBJECT) and the GAL's status clause,
 * so the tests see what a real slapd would return.  Results are heap
 * entries freed by the real mtr_ldap_result_free().
 *
 * Table-driven where it fits: every login outcome (including names and
 * passwords refused before any LDAP call, counted), then sequences: the
 * login cache, principals, the global address book (vCards checked with
 * caldav_vcard_check, ETags, DN escaping of the domain), and one test that
 * sleeps 1.1 s to see every cache expire.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cmocka.h>
#include <ldap.h>

#include "caldav.h"
#include "caldav_dir.h"
#include "caldav_vcard.h"
#include "mtr_ldap.h"

#define URI        "ldap://127.0.0.1:3389"
#define SERVICE_DN "cn=dav,ou=services,o=mortar"
#define SERVICE_PW "service-secret"
#define DOMAINS_DN "ou=domains,o=mortar"
#define USERS(d)   "ou=users,mortarDomainName=" d "," DOMAINS_DN
#define EX         USERS("example.test")

/* ---- the directory ------------------------------------------------------ */

typedef struct {
    const char *dn;
    const char *mail;
    const char *status;   /* mortarAccountStatus; NULL: none */
    const char *services; /* mortarEnabledService, comma-separated */
    const char *pw;       /* NULL: cannot bind */
    const char *cn, *display, *sn, *given, *alias, *phone;
} mock_user_t;

/* Not in UID order: the address book must sort. */
static const mock_user_t users_init[] = {
    { "uid=grace," EX, "grace@example.test", "active", "imap,dav", "Grace-pw-7",
      NULL, NULL, NULL, NULL, NULL, NULL },
    { "uid=dave," EX, "dave@example.test", "active", "imap,smtp", "Dave-pw-4",
      "Dave Doe", NULL, "Doe", "Dave", NULL, NULL },
    { "uid=bob," EX, "bob@example.test", "active", "DAV", "Bob-pw-2",
      "Bob Builder", "Bob, the Builder; Jr.", "Builder", "Bob", NULL,
      "+33123456789" },
    { "uid=nomail," EX, NULL, "active", "dav", "x", "No Mail", NULL, NULL, NULL,
      NULL, NULL },
    { "uid=alice," EX, "alice@example.test", "active", "imap,dav", "Secret-1",
      "Alice Liddell", NULL, "Liddell", "Alice", "a.liddell@example.test",
      NULL },
    { "uid=carol," EX, "carol@example.test", "disabled", "dav", "Carol-pw-3",
      "Carol", NULL, NULL, NULL, NULL, NULL },
    { "uid=eve," EX, "eve@example.test", NULL, "dav", "Eve-pw-5", "Eve", NULL,
      NULL, NULL, NULL, NULL },
    { "uid=frank," USERS("other.test"), "frank@other.test", "active", "dav",
      "Frank-pw-6", "Frank", NULL, NULL, NULL, NULL, NULL },
    { "uid=twin1," USERS("dup.test"), "twin@dup.test", "active", "dav",
      "Twin-pw", "Twin One", NULL, NULL, NULL, NULL, NULL },
    { "uid=twin2," USERS("dup.test"), "twin@dup.test", "active", "dav",
      "Twin-pw", "Twin Two", NULL, NULL, NULL, NULL, NULL },
    { "uid=tri1," USERS("dup.test"), "tri@dup.test", "active", "dav", "Tri-pw",
      "Tri", NULL, NULL, NULL, NULL, NULL },
    { "uid=tri2," USERS("dup.test"), "tri@dup.test", "active", "dav", "Tri-pw",
      "Tri", NULL, NULL, NULL, NULL, NULL },
    { "uid=tri3," USERS("dup.test"), "tri@dup.test", "active", "dav", "Tri-pw",
      "Tri", NULL, NULL, NULL, NULL, NULL },
    /* A domain whose name needs DN escaping. */
    { "uid=wendy," USERS("we\\,ird\\+co.test"), "wendy@weird-co.test", "active",
      "dav", "Wendy-pw", "Wendy", NULL, NULL, NULL, NULL, NULL },
    { "uid=hash," USERS("\\#x\\=y.test"), "hash@hash.test", "active", "dav",
      "Hash-pw", "Hash", NULL, NULL, NULL, NULL, NULL },
};

#define NUSERS (sizeof(users_init) / sizeof(users_init[0]))

/* Bases that exist without users. */
static const char *const empty_bases[] = { USERS("empty.test"), NULL };

typedef struct {
    char *bind_dn;
    char *bind_pw;
    int   service;
    int   last;
} mock_conn_t;

static struct {
    mock_user_t users[NUSERS];
    int         down;        /* every search: server down */
    int         bind_down;   /* users' binds: server down */
    int         create_fail; /* mtr_ldap_create fails */
    unsigned    creates, destroys, searches, binds;
    int         last_scope;
    size_t      last_limit;
    char        last_base[1024];
    char        last_filter[1024]; /* of the service's searches */
    char        bind_dn[1024], bind_pw[CALDAV_DIR_MAX_PASSWORD + 1];
} mock;

static void
mock_reset(void)
{
    memset(&mock, 0, sizeof(mock));
    memcpy(mock.users, users_init, sizeof(users_init));
}

static mock_user_t *
mock_user(const char *mail)
{
    for (size_t i = 0; i < NUSERS; i++) {
        if (mock.users[i].mail != NULL && strcmp(mock.users[i].mail, mail) == 0)
        {
            return &mock.users[i];
        }
    }
    fail_msg("no mock user %s", mail);
    return NULL;
}

static int
wanted(const char *const *attrs, const char *name)
{
    if (attrs == NULL) {
        return 1;
    }
    for (; *attrs != NULL; attrs++) {
        if (strcasecmp(*attrs, name) == 0) {
            return 1;
        }
    }
    return 0;
}

/* One value of an attribute, in the shape mtr_ldap_result_free() frees. */
static void
entry_add(mtr_ldap_entry_t *e, const char *name, const char *value)
{
    mtr_ldap_attr_t *a = NULL;

    for (size_t j = 0; j < e->nattrs; j++) {
        if (strcasecmp(e->attrs[j].name, name) == 0) {
            a = &e->attrs[j];
        }
    }
    if (a == NULL) {
        e->attrs = realloc(e->attrs, (e->nattrs + 1) * sizeof(*e->attrs));
        assert_non_null(e->attrs);
        a = &e->attrs[e->nattrs++];
        memset(a, 0, sizeof(*a));
        a->name = strdup(name);
    }
    a->values = realloc(a->values, (a->nvalues + 2) * sizeof(char *));
    a->lens = realloc(a->lens, (a->nvalues + 1) * sizeof(size_t));
    assert_non_null(a->values);
    assert_non_null(a->lens);
    a->values[a->nvalues] = strdup(value);
    a->lens[a->nvalues] = strlen(value);
    a->nvalues++;
    a->values[a->nvalues] = NULL;
}

static mtr_ldap_entry_t *
result_add(mtr_ldap_result_t *res, const char *dn)
{
    mtr_ldap_entry_t *e;

    res->entries =
        realloc(res->entries, (res->nentries + 1) * sizeof(*res->entries));
    assert_non_null(res->entries);
    e = &res->entries[res->nentries++];
    memset(e, 0, sizeof(*e));
    e->dn = strdup(dn);
    return e;
}

static void
result_add_user(mtr_ldap_result_t *res, const mock_user_t *u,
                const char *const *attrs)
{
    mtr_ldap_entry_t *e = result_add(res, u->dn);
    const struct {
        const char *name, *value;
    } kv[] = {
        { "mail", u->mail },
        { "mortarAccountStatus", u->status },
        { "cn", u->cn },
        { "displayName", u->display },
        { "sn", u->sn },
        { "givenName", u->given },
        { "mortarMailAlias", u->alias },
        { "telephoneNumber", u->phone },
    };
    char buf[256], *tok, *save;

    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
        if (kv[i].value != NULL && wanted(attrs, kv[i].name)) {
            entry_add(e, kv[i].name, kv[i].value);
        }
    }
    if (u->services != NULL && wanted(attrs, "mortarEnabledService")) {
        snprintf(buf, sizeof(buf), "%s", u->services);
        for (tok = strtok_r(buf, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
            entry_add(e, "mortarEnabledService", tok);
        }
    }
}

static const char *
parent_of(const char *dn)
{
    const char *p = strchr(dn, ',');

    return p != NULL ? p + 1 : "";
}

int  __wrap_mtr_ldap_create(mtr_ldap_t **lp, const mtr_ldap_opts_t *opts,
                            mtr_err_t *err);
void __wrap_mtr_ldap_destroy(mtr_ldap_t **lp);
int  __wrap_mtr_ldap_search(mtr_ldap_t *l, const char *base, int scope,
                            const char *filter, const char *const *attrs,
                            size_t size_limit, mtr_ldap_result_t **res_r,
                            mtr_err_t *err);
int  __wrap_mtr_ldap_last_result(const mtr_ldap_t *l);

int
__wrap_mtr_ldap_create(mtr_ldap_t **lp, const mtr_ldap_opts_t *opts,
                       mtr_err_t *err)
{
    mock_conn_t *c;

    assert_string_equal(opts->uri, URI);
    assert_non_null(opts->bind_dn);
    assert_non_null(opts->bind_pw);
    if (mock.create_fail) {
        return mtr_err_set(err, "ldap: out of memory");
    }
    c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->bind_dn = strdup(opts->bind_dn);
    c->bind_pw = strdup(opts->bind_pw);
    c->service = strcmp(opts->bind_dn, SERVICE_DN) == 0;
    if (c->service) {
        assert_string_equal(opts->bind_pw, SERVICE_PW);
    }
    mock.creates++;
    *lp = (mtr_ldap_t *) (void *) c;
    return MTR_OK;
}

void
__wrap_mtr_ldap_destroy(mtr_ldap_t **lp)
{
    mock_conn_t *c = (mock_conn_t *) (void *) *lp;

    if (c == NULL) {
        return;
    }
    free(c->bind_dn);
    free(c->bind_pw);
    free(c);
    mock.destroys++;
    *lp = NULL;
}

int
__wrap_mtr_ldap_last_result(const mtr_ldap_t *l)
{
    return ((const mock_conn_t *) (const void *) l)->last;
}

/* A user's connection: the bind happens on the first operation. */
static int
bind_search(mock_conn_t *c, const char *base, int scope,
            mtr_ldap_result_t **res_r, mtr_err_t *err)
{
    const mock_user_t *u = NULL;

    mock.binds++;
    snprintf(mock.bind_dn, sizeof(mock.bind_dn), "%s", c->bind_dn);
    snprintf(mock.bind_pw, sizeof(mock.bind_pw), "%s", c->bind_pw);
    if (mock.bind_down || mock.down) {
        c->last = LDAP_SERVER_DOWN;
        return mtr_err_set(err, "ldap bind: Can't contact LDAP server");
    }
    for (size_t i = 0; i < NUSERS; i++) {
        if (strcmp(mock.users[i].dn, c->bind_dn) == 0) {
            u = &mock.users[i];
        }
    }
    if (u == NULL || u->pw == NULL || c->bind_pw[0] == '\0'
        || strcmp(u->pw, c->bind_pw) != 0)
    {
        c->last = LDAP_INVALID_CREDENTIALS;
        return mtr_err_set(err, "ldap bind: Invalid credentials");
    }
    /* Bound: the entry reads itself. */
    assert_int_equal(scope, MTR_LDAP_SCOPE_BASE);
    assert_string_equal(base, c->bind_dn);
    c->last = LDAP_SUCCESS;
    *res_r = calloc(1, sizeof(**res_r));
    assert_non_null(*res_r);
    result_add(*res_r, u->dn);
    return MTR_OK;
}

int
__wrap_mtr_ldap_search(mtr_ldap_t *l, const char *base, int scope,
                       const char *filter, const char *const *attrs,
                       size_t size_limit, mtr_ldap_result_t **res_r,
                       mtr_err_t *err)
{
    mock_conn_t       *c = (mock_conn_t *) (void *) l;
    const mock_user_t *hit[NUSERS];
    size_t             n = 0;
    int                known = 0;

    mock.searches++;
    *res_r = NULL;
    snprintf(mock.last_base, sizeof(mock.last_base), "%s", base);
    mock.last_scope = scope;
    mock.last_limit = size_limit;
    if (!c->service) {
        return bind_search(c, base, scope, res_r, err);
    }
    snprintf(mock.last_filter, sizeof(mock.last_filter), "%s",
             filter ? filter : "");
    if (mock.down) {
        c->last = LDAP_SERVER_DOWN;
        return mtr_err_set(err, "ldap search: Can't contact LDAP server");
    }
    assert_non_null(filter);
    assert_non_null(strstr(filter, "(objectClass=mortarUser)"));

    if (scope == MTR_LDAP_SCOPE_SUB) {
        /* A login or a principal: (&(objectClass=mortarUser)(mail=V)). */
        const char *v = strstr(filter, "(mail=");
        size_t      vlen;

        assert_string_equal(base, DOMAINS_DN);
        assert_non_null(v);
        v += strlen("(mail=");
        vlen = strcspn(v, ")");
        for (size_t i = 0; i < NUSERS; i++) {
            const char *m = mock.users[i].mail;

            /* mail matches case-insensitively, as caseIgnoreIA5Match. */
            if (m != NULL && strlen(m) == vlen && strncasecmp(m, v, vlen) == 0)
            {
                hit[n++] = &mock.users[i];
            }
        }
    } else {
        /* The address book: one level under the domain's ou=users. */
        int active_only =
            strstr(filter, "(mortarAccountStatus=active)") != NULL;

        assert_int_equal(scope, MTR_LDAP_SCOPE_ONE);
        for (size_t i = 0; empty_bases[i] != NULL; i++) {
            known |= strcmp(empty_bases[i], base) == 0;
        }
        for (size_t i = 0; i < NUSERS; i++) {
            const mock_user_t *u = &mock.users[i];

            if (strcmp(parent_of(u->dn), base) != 0) {
                continue;
            }
            known = 1;
            if (active_only
                && (u->status == NULL || strcmp(u->status, "active") != 0)) {
                continue;
            }
            hit[n++] = u;
        }
        if (!known) {
            c->last = LDAP_NO_SUCH_OBJECT;
            mtr_err_set(err, "ldap search: No such object");
            return MTR_DECLINED;
        }
    }
    if (size_limit != 0 && n > size_limit) {
        c->last = LDAP_SIZELIMIT_EXCEEDED;
        return mtr_err_set(err, "ldap search: Size limit exceeded");
    }
    c->last = LDAP_SUCCESS;
    *res_r = calloc(1, sizeof(**res_r));
    assert_non_null(*res_r);
    for (size_t i = 0; i < n; i++) {
        result_add_user(*res_r, hit[i], attrs);
    }
    return MTR_OK;
}

/* ---- helpers ------------------------------------------------------------ */

static caldav_dir_t *
dir_new(int ttl)
{
    caldav_dir_opts_t o;
    caldav_dir_t     *d = NULL;
    mtr_err_t         err;

    memset(&o, 0, sizeof(o));
    o.uri = URI;
    o.bind_dn = SERVICE_DN;
    o.bind_pw = SERVICE_PW;
    o.base = "o=mortar";
    o.timeout_ms = 2000;
    o.ttl = ttl;
    mtr_err_clear(&err);
    assert_int_equal(caldav_dir_create(&d, &o, &err), MTR_OK);
    assert_non_null(d);
    return d;
}

/* Destroy d and this thread's connection: every connection is closed. */
static void
dir_free(caldav_dir_t **dp)
{
    caldav_dir_thread_cleanup();
    caldav_dir_destroy(dp);
    assert_null(*dp);
    assert_int_equal(mock.creates, mock.destroys);
}

/* Replace the test's handle (teardown frees whatever *state holds). */
static caldav_dir_t *
dir_renew(void **state, int ttl)
{
    caldav_dir_t *d = *state;

    dir_free(&d);
    *state = NULL;
    *state = dir_new(ttl);
    return *state;
}

static int
setup(void **state)
{
    caldav_dir_thread_cleanup(); /* after a failed test */
    mock_reset();
    *state = dir_new(60);
    return 0;
}

static int
teardown(void **state)
{
    caldav_dir_t *d = *state;

    if (d != NULL) {
        dir_free(&d);
    }
    return 0;
}

static int
login(caldav_dir_t *d, const char *user, const char *pw, char *user_r,
      mtr_err_t *err)
{
    mtr_err_clear(err);
    return caldav_dir_login(d, user, strlen(user), pw, strlen(pw), user_r, err);
}

/* ---- create ------------------------------------------------------------- */

static void
test_create(void **state)
{
    caldav_dir_opts_t o;
    caldav_dir_t     *d = NULL;
    mtr_err_t         err;

    (void) state;
    print_message("create: uri, base and bind DN are required\n");
    memset(&o, 0, sizeof(o));
    o.uri = URI;
    o.bind_dn = SERVICE_DN;
    assert_int_equal(caldav_dir_create(&d, &o, &err), MTR_ERROR);
    assert_null(d);
    assert_non_null(strstr(err.msg, "base"));
    o.base = "o=mortar";
    o.uri = NULL;
    assert_int_equal(caldav_dir_create(&d, &o, &err), MTR_ERROR);
    assert_null(d);
    print_message("create: nothing connects before the first request\n");
    o.uri = URI;
    assert_int_equal(caldav_dir_create(&d, &o, &err), MTR_OK);
    assert_int_equal(mock.creates + mock.searches, 0);
    dir_free(&d);
}

/* ---- logins ------------------------------------------------------------- */

typedef struct {
    const char *name;
    const char *user;     /* NULL: gen_user bytes, ...@example.test */
    size_t      user_len; /* 0: strlen(user) */
    size_t      gen_user;
    const char *pw; /* NULL: gen_pw bytes of 'p' */
    size_t      pw_len;
    size_t      gen_pw;
    int         down, bind_down, create_fail;
    int         rc;
    const char *user_r;   /* on MTR_OK */
    const char *msg;      /* err substring, NULL: not checked */
    unsigned    searches; /* LDAP searches made, binds included */
    unsigned    binds;    /* password checks sent to the directory */
} login_case_t;

static const login_case_t login_cases[] = {
    { .name = "active with dav and the right password",
      .user = "alice@example.test",
      .pw = "Secret-1",
      .rc = MTR_OK,
      .user_r = "alice@example.test",
      .searches = 2,
      .binds = 1 },
    { .name = "address lower-cased",
      .user = "Alice@EXAMPLE.Test",
      .pw = "Secret-1",
      .rc = MTR_OK,
      .user_r = "alice@example.test",
      .searches = 2,
      .binds = 1 },
    { .name = "service matched case-insensitively",
      .user = "bob@example.test",
      .pw = "Bob-pw-2",
      .rc = MTR_OK,
      .user_r = "bob@example.test",
      .searches = 2,
      .binds = 1 },
    { .name = "wrong password",
      .user = "alice@example.test",
      .pw = "Secret-2",
      .rc = MTR_DECLINED,
      .msg = "wrong password for alice@example.test",
      .searches = 2,
      .binds = 1 },
    { .name = "password is case-sensitive",
      .user = "alice@example.test",
      .pw = "secret-1",
      .rc = MTR_DECLINED,
      .msg = "wrong password",
      .searches = 2,
      .binds = 1 },
    { .name = "right password with more after it",
      .user = "alice@example.test",
      .pw = "Secret-1x",
      .rc = MTR_DECLINED,
      .msg = "wrong password",
      .searches = 2,
      .binds = 1 },
    { .name = "another user's password",
      .user = "bob@example.test",
      .pw = "Secret-1",
      .rc = MTR_DECLINED,
      .msg = "wrong password",
      .searches = 2,
      .binds = 1 },
    { .name = "longest password is checked",
      .user = "alice@example.test",
      .gen_pw = CALDAV_DIR_MAX_PASSWORD,
      .rc = MTR_DECLINED,
      .msg = "wrong password",
      .searches = 2,
      .binds = 1 },
    { .name = "unknown user",
      .user = "nobody@example.test",
      .pw = "Secret-1",
      .rc = MTR_DECLINED,
      .msg = "nobody@example.test: 0 directory entries",
      .searches = 1 },
    { .name = "disabled account",
      .user = "carol@example.test",
      .pw = "Carol-pw-3",
      .rc = MTR_DECLINED,
      .msg = "carol@example.test is disabled",
      .searches = 1 },
    { .name = "account without status",
      .user = "eve@example.test",
      .pw = "Eve-pw-5",
      .rc = MTR_DECLINED,
      .msg = "eve@example.test is without status",
      .searches = 1 },
    { .name = "no dav service",
      .user = "dave@example.test",
      .pw = "Dave-pw-4",
      .rc = MTR_DECLINED,
      .msg = "has no dav service",
      .searches = 1 },
    { .name = "two entries for one mail",
      .user = "twin@dup.test",
      .pw = "Twin-pw",
      .rc = MTR_DECLINED,
      .msg = "twin@dup.test: 2 directory entries",
      .searches = 1 },
    { .name = "three entries for one mail (past the size limit)",
      .user = "tri@dup.test",
      .pw = "Tri-pw",
      .rc = MTR_DECLINED,
      .msg = "tri@dup.test: more than 2 directory entries",
      .searches = 1 },
    { .name = "longest name goes to the directory",
      .gen_user = CALDAV_MAX_USER,
      .pw = "Secret-1",
      .rc = MTR_DECLINED,
      .msg = "0 directory entries",
      .searches = 1 },
    { .name = "directory down",
      .user = "alice@example.test",
      .pw = "Secret-1",
      .down = 1,
      .rc = MTR_ERROR,
      .msg = "contact LDAP server",
      .searches = 1 },
    { .name = "directory down at the bind",
      .user = "alice@example.test",
      .pw = "Secret-1",
      .bind_down = 1,
      .rc = MTR_ERROR,
      .msg = "contact LDAP server",
      .searches = 2,
      .binds = 1 },
    { .name = "directory down, wrong password",
      .user = "alice@example.test",
      .pw = "wrong",
      .bind_down = 1,
      .rc = MTR_ERROR,
      .searches = 2,
      .binds = 1 },
    { .name = "no service connection",
      .user = "alice@example.test",
      .pw = "Secret-1",
      .create_fail = 1,
      .rc = MTR_ERROR,
      .msg = "out of memory" },
    /* Refused before any LDAP call. */
    { .name = "filter injection",
      .user = "a*)(uid=*",
      .pw = "x",
      .rc = MTR_DECLINED,
      .msg = "not an address" },
    { .name = "filter injection with a domain",
      .user = "*)(mail=*@example.test",
      .pw = "x",
      .rc = MTR_DECLINED,
      .msg = "not an address" },
    { .name = "wildcard local part",
      .user = "*@example.test",
      .pw = "x",
      .rc = MTR_DECLINED,
      .msg = "not an address" },
    { .name = "wildcard inside",
      .user = "a*@example.test",
      .pw = "x",
      .rc = MTR_DECLINED,
      .msg = "not an address" },
    { .name = "parenthesis",
      .user = "a(b@example.test",
      .pw = "x",
      .rc = MTR_DECLINED },
    { .name = "escaped star",
      .user = "a\\2a@example.test",
      .pw = "x",
      .rc = MTR_DECLINED,
      .msg = "not an address" },
    { .name = "no at", .user = "no-at", .pw = "x", .rc = MTR_DECLINED },
    { .name = "two at", .user = "a@b@c", .pw = "x", .rc = MTR_DECLINED },
    { .name = "empty local part",
      .user = "@example.test",
      .pw = "x",
      .rc = MTR_DECLINED },
    { .name = "empty domain",
      .user = "alice@",
      .pw = "Secret-1",
      .rc = MTR_DECLINED },
    { .name = "space",
      .user = "al ice@example.test",
      .pw = "x",
      .rc = MTR_DECLINED },
    { .name = "NUL inside the name",
      .user = "alice@example.test\0.evil",
      .user_len = 23,
      .pw = "Secret-1",
      .rc = MTR_DECLINED },
    { .name = "empty name", .user = "", .pw = "x", .rc = MTR_DECLINED },
    { .name = "one byte over the longest name",
      .gen_user = CALDAV_MAX_USER + 1,
      .pw = "x",
      .rc = MTR_DECLINED },
    { .name = "400-byte name", .gen_user = 400, .pw = "x", .rc = MTR_DECLINED },
    { .name = "empty password (an anonymous bind)",
      .user = "alice@example.test",
      .pw = "",
      .rc = MTR_DECLINED,
      .msg = "password" },
    { .name = "password with NUL after the right one",
      .user = "alice@example.test",
      .pw = "Secret-1\0junk",
      .pw_len = 13,
      .rc = MTR_DECLINED,
      .msg = "password" },
    { .name = "password one byte too long",
      .user = "alice@example.test",
      .gen_pw = CALDAV_DIR_MAX_PASSWORD + 1,
      .rc = MTR_DECLINED,
      .msg = "password" },
};

static void
test_login(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof(login_cases) / sizeof(login_cases[0]); i++) {
        const login_case_t *c = &login_cases[i];
        char                user[512], pw[CALDAV_DIR_MAX_PASSWORD + 2];
        char                user_r[CALDAV_MAX_USER + 1];
        const char         *u = c->user, *p = c->pw;
        size_t              ulen, plen;
        caldav_dir_t       *d;
        mtr_err_t           err;

        print_message("login: %s\n", c->name);
        if (u == NULL) {
            size_t local = c->gen_user - strlen("@example.test");

            memset(user, 'a', local);
            strcpy(user + local, "@example.test");
            u = user;
        }
        ulen = c->user_len ? c->user_len : strlen(u);
        if (p == NULL) {
            memset(pw, 'p', c->gen_pw);
            pw[c->gen_pw] = '\0';
            p = pw;
        }
        plen = c->pw_len ? c->pw_len : strlen(p);

        mock_reset();
        d = dir_new(60);
        mock.down = c->down;
        mock.bind_down = c->bind_down;
        mock.create_fail = c->create_fail;
        mtr_err_clear(&err);
        memset(user_r, 0, sizeof(user_r));
        assert_int_equal(caldav_dir_login(d, u, ulen, p, plen, user_r, &err),
                         c->rc);
        assert_int_equal(mock.searches, c->searches);
        assert_int_equal(mock.binds, c->binds);
        if (c->searches == 0) {
            /* Refused on its face: not even a connection. */
            assert_int_equal(mock.creates, 0);
        }
        if (c->rc == MTR_OK) {
            mock_user_t *who = mock_user(c->user_r);
            char         f[512];

            assert_string_equal(user_r, c->user_r);
            snprintf(f, sizeof(f), "(&(objectClass=mortarUser)(mail=%s))",
                     c->user_r);
            assert_string_equal(mock.last_filter, f);
            /* The password is tried by binding as the entry found. */
            assert_string_equal(mock.bind_dn, who->dn);
            assert_string_equal(mock.bind_pw, p);
        } else {
            assert_true(err.msg[0] != '\0');
            if (c->msg != NULL) {
                assert_non_null(strstr(err.msg, c->msg));
            }
        }
        if (c->searches > 0 && c->binds == 0 && !c->down) {
            /* One entry is enough to tell: the size limit asks for 2. */
            assert_int_equal(mock.last_limit, 2);
        }
        dir_free(&d);
    }
}

static void
test_login_cache(void **state)
{
    caldav_dir_t *d = *state;
    char          user_r[CALDAV_MAX_USER + 1];
    mtr_err_t     err;
    unsigned      n;

    print_message("login cache: the first login asks the directory\n");
    assert_int_equal(login(d, "alice@example.test", "Secret-1", user_r, &err),
                     MTR_OK);
    assert_int_equal(mock.searches, 2);
    assert_int_equal(mock.binds, 1);

    print_message("login cache: the same password again asks nothing\n");
    n = mock.creates;
    assert_int_equal(login(d, "alice@example.test", "Secret-1", user_r, &err),
                     MTR_OK);
    assert_string_equal(user_r, "alice@example.test");
    assert_int_equal(mock.searches, 2);
    assert_int_equal(mock.creates, n);

    print_message("login cache: same address in other case, still cached\n");
    memset(user_r, 0, sizeof(user_r));
    assert_int_equal(login(d, "ALICE@example.TEST", "Secret-1", user_r, &err),
                     MTR_OK);
    assert_string_equal(user_r, "alice@example.test");
    assert_int_equal(mock.searches, 2);

    print_message("login cache: a wrong password is checked and refused\n");
    assert_int_equal(login(d, "alice@example.test", "Secret-X", user_r, &err),
                     MTR_DECLINED);
    assert_int_equal(mock.binds, 2);
    assert_non_null(strstr(err.msg, "wrong password"));

    print_message("login cache: ... every time (refusals are not cached)\n");
    assert_int_equal(login(d, "alice@example.test", "Secret-X", user_r, &err),
                     MTR_DECLINED);
    assert_int_equal(mock.binds, 3);

    print_message("login cache: the right one is still cached after that\n");
    n = mock.searches;
    assert_int_equal(login(d, "alice@example.test", "Secret-1", user_r, &err),
                     MTR_OK);
    assert_int_equal(mock.searches, n);

    print_message("login cache: prefix and extension of the cached one\n");
    assert_int_equal(login(d, "alice@example.test", "Secret-", user_r, &err),
                     MTR_DECLINED);
    assert_int_equal(login(d, "alice@example.test", "Secret-1 ", user_r, &err),
                     MTR_DECLINED);
    assert_int_equal(mock.binds, 5);

    print_message("login cache: a cached password is not another user's\n");
    assert_int_equal(login(d, "bob@example.test", "Secret-1", user_r, &err),
                     MTR_DECLINED);
    assert_int_equal(mock.binds, 6);
    assert_int_equal(login(d, "bob@example.test", "Bob-pw-2", user_r, &err),
                     MTR_OK);
    assert_string_equal(user_r, "bob@example.test");
    assert_int_equal(mock.binds, 7);

    print_message("login cache: directory down, cached login still OK\n");
    mock.down = 1;
    n = mock.searches;
    assert_int_equal(login(d, "alice@example.test", "Secret-1", user_r, &err),
                     MTR_OK);
    assert_int_equal(login(d, "bob@example.test", "Bob-pw-2", user_r, &err),
                     MTR_OK);
    assert_int_equal(mock.searches, n);

    print_message("login cache: directory down, anything else is 503\n");
    assert_int_equal(login(d, "alice@example.test", "Secret-X", user_r, &err),
                     MTR_ERROR);
    assert_int_equal(login(d, "dave@example.test", "Dave-pw-4", user_r, &err),
                     MTR_ERROR);
    mock.down = 0;
    mock.bind_down = 1;
    assert_int_equal(login(d, "alice@example.test", "Secret-X", user_r, &err),
                     MTR_ERROR);
    assert_int_equal(login(d, "grace@example.test", "Grace-pw-7", user_r, &err),
                     MTR_ERROR);

    print_message("login cache: a failed check caches nothing\n");
    mock.bind_down = 0;
    n = mock.binds;
    assert_int_equal(login(d, "grace@example.test", "Grace-pw-7", user_r, &err),
                     MTR_OK);
    assert_int_equal(mock.binds, n + 1);

    print_message("login cache: one service connection for all lookups\n");
    /* The service connection plus one per password check. */
    assert_int_equal(mock.creates, 1 + mock.binds);
    assert_int_equal(mock.destroys, mock.binds);
}

/* ---- principals --------------------------------------------------------- */

typedef struct {
    const char *name;
    const char *user;
    int         exists;
    const char *displayname; /* NULL: not asked */
} exists_case_t;

static const exists_case_t exists_cases[] = {
    { "active user", "alice@example.test", 1, NULL },
    { "active without dav is still a principal", "dave@example.test", 1, NULL },
    { "unknown", "nobody@example.test", 0, NULL },
    { "disabled", "carol@example.test", 0, NULL },
    { "without status", "eve@example.test", 0, NULL },
    { "two entries", "twin@dup.test", 0, NULL },
    { "three entries", "tri@dup.test", 0, NULL },
    { "displayName first", "bob@example.test", 1, "Bob, the Builder; Jr." },
    { "then cn", "alice@example.test", 1, "Alice Liddell" },
    { "then the address", "grace@example.test", 1, "grace@example.test" },
};

static void
test_user_exists(void **state)
{
    caldav_dir_t *d = *state;
    char          name[256];
    unsigned      n;

    for (size_t i = 0; i < sizeof(exists_cases) / sizeof(exists_cases[0]); i++)
    {
        const exists_case_t *c = &exists_cases[i];

        print_message("user_exists: %s\n", c->name);
        d = dir_renew(state, 60);
        n = mock.searches;
        name[0] = '\0';
        assert_int_equal(caldav_dir_user_exists(d, c->user,
                                                c->displayname ? name : NULL,
                                                sizeof(name)),
                         c->exists);
        assert_int_equal(mock.searches, n + 1);
        if (c->displayname != NULL) {
            assert_string_equal(name, c->displayname);
        }
        print_message("user_exists: %s, again from the cache\n", c->name);
        assert_int_equal(caldav_dir_user_exists(d, c->user, NULL, 0),
                         c->exists);
        assert_int_equal(mock.searches, n + 1);
    }
}

static void
test_user_exists_errors(void **state)
{
    caldav_dir_t *d = *state;

    print_message("user_exists: directory down is no, but not cached\n");
    mock.down = 1;
    assert_int_equal(caldav_dir_user_exists(d, "frank@other.test", NULL, 0), 0);
    assert_int_equal(mock.searches, 1);
    mock.down = 0;
    assert_int_equal(caldav_dir_user_exists(d, "frank@other.test", NULL, 0), 1);
    assert_int_equal(mock.searches, 2);

    print_message("user_exists: the name is escaped in the filter\n");
    assert_int_equal(caldav_dir_user_exists(d, "*)(mail=*", NULL, 0), 0);
    assert_string_equal(mock.last_filter, "(&(objectClass=mortarUser)"
                                          "(mail=\\2a\\29\\28mail=\\2a))");
    assert_int_equal(caldav_dir_user_exists(d, "a\\2a@example.test", NULL, 0),
                     0);
    assert_string_equal(mock.last_filter, "(&(objectClass=mortarUser)"
                                          "(mail=a\\5c2a@example.test))");

    print_message("user_exists: a displayname is always fresh\n");
    {
        char     name[64];
        unsigned n = mock.searches;

        assert_int_equal(
            caldav_dir_user_exists(d, "frank@other.test", name, sizeof(name)),
            1);
        assert_string_equal(name, "Frank");
        assert_int_equal(mock.searches, n + 1);
    }
}

/* ---- the global address book -------------------------------------------- */

typedef struct {
    size_t n;
    char  *uid[16];
    char  *vcard[16];
    char   etag[16][64];
} gal_t;

static void
gal_each(const char *uid, const char *vcard, size_t len, const char *etag,
         void *ctx)
{
    gal_t *g = ctx;

    assert_true(g->n < 16);
    g->uid[g->n] = strdup(uid);
    g->vcard[g->n] = strndup(vcard, len);
    assert_int_equal(strlen(g->vcard[g->n]), len); /* no NUL inside */
    assert_true(strlen(etag) < sizeof(g->etag[0]));
    strcpy(g->etag[g->n], etag);
    g->n++;
}

static void
gal_clear(gal_t *g)
{
    for (size_t i = 0; i < g->n; i++) {
        free(g->uid[i]);
        free(g->vcard[i]);
    }
    memset(g, 0, sizeof(*g));
}

static int
gal(caldav_dir_t *d, const char *domain, gal_t *g, mtr_err_t *err)
{
    gal_clear(g);
    mtr_err_clear(err);
    return caldav_dir_gal(d, domain, gal_each, g, err);
}

static size_t
gal_find(const gal_t *g, const char *uid)
{
    for (size_t i = 0; i < g->n; i++) {
        if (strcmp(g->uid[i], uid) == 0) {
            return i;
        }
    }
    fail_msg("no card %s", uid);
    return 0;
}

/* Every card valid vCard 3.0 with its UID, FN and EMAIL; ETags quoted. */
static void
gal_check_cards(const gal_t *g)
{
    for (size_t i = 0; i < g->n; i++) {
        caldav_vcard_index_t ix;
        const char          *precond = NULL;
        mtr_err_t            err;
        char                 line[600];

        print_message("  card %s\n", g->uid[i]);
        memset(&ix, 0, sizeof(ix));
        assert_int_equal(caldav_vcard_check(g->vcard[i], strlen(g->vcard[i]),
                                            &ix, &precond, &err),
                         MTR_OK);
        assert_string_equal(ix.uid, g->uid[i]);
        assert_int_equal(ix.version, 3);
        assert_non_null(strstr(g->vcard[i], "\r\nFN:"));
        snprintf(line, sizeof(line), "\r\nEMAIL;TYPE=INTERNET:%s\r\n",
                 g->uid[i]);
        assert_non_null(strstr(g->vcard[i], line));

        assert_int_equal(strlen(g->etag[i]), 34);
        assert_int_equal(g->etag[i][0], '"');
        assert_int_equal(g->etag[i][33], '"');
        assert_int_equal(strspn(g->etag[i] + 1, "0123456789abcdef"), 32);
        for (size_t j = 0; j < i; j++) {
            assert_string_not_equal(g->etag[i], g->etag[j]);
        }
    }
}

static void
test_gal(void **state)
{
    static const char *const expect[] = { "alice@example.test",
                                          "bob@example.test",
                                          "dave@example.test",
                                          "grace@example.test" };
    caldav_dir_t            *d = *state;
    gal_t                    g, g2;
    mtr_err_t                err;

    memset(&g, 0, sizeof(g));
    memset(&g2, 0, sizeof(g2));
    print_message("gal: every active user of the domain, sorted by UID\n");
    assert_int_equal(gal(d, "example.test", &g, &err), MTR_OK);
    assert_int_equal(mock.searches, 1);
    assert_string_equal(mock.last_base, EX);
    assert_int_equal(mock.last_scope, MTR_LDAP_SCOPE_ONE);
    assert_int_equal(g.n, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(g.uid[i], expect[i]);
    }
    gal_check_cards(&g);

    print_message("gal: the cards carry the directory's fields\n");
    assert_non_null(strstr(g.vcard[0], "\r\nFN:Alice Liddell\r\n"));
    assert_non_null(strstr(g.vcard[0], "\r\nN:Liddell;Alice;;;\r\n"));
    assert_non_null(strstr(g.vcard[0], "EMAIL;TYPE=INTERNET:"
                                       "a.liddell@example.test\r\n"));
    assert_non_null(strstr(g.vcard[1], "\r\nFN:Bob\\, the Builder\\; Jr.\r\n"));
    assert_non_null(strstr(g.vcard[1], "TEL;TYPE=WORK,VOICE:+33123456789"));
    assert_non_null(strstr(g.vcard[3], "\r\nFN:grace@example.test\r\n"));

    print_message("gal: a second request within ttl asks nothing\n");
    assert_int_equal(gal(d, "example.test", &g2, &err), MTR_OK);
    assert_int_equal(mock.searches, 1);
    assert_int_equal(g2.n, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(g2.etag[i], g.etag[i]);
        assert_string_equal(g2.vcard[i], g.vcard[i]);
    }

    print_message("gal: another domain is another snapshot\n");
    assert_int_equal(gal(d, "other.test", &g2, &err), MTR_OK);
    assert_int_equal(mock.searches, 2);
    assert_int_equal(g2.n, 1);
    assert_string_equal(g2.uid[0], "frank@other.test");
    gal_check_cards(&g2);

    print_message("gal: a domain without users\n");
    assert_int_equal(gal(d, "empty.test", &g2, &err), MTR_OK);
    assert_int_equal(g2.n, 0);
    assert_string_equal(mock.last_base, USERS("empty.test"));

    print_message("gal: a domain that does not exist: no cards, OK\n");
    assert_int_equal(gal(d, "nowhere.test", &g2, &err), MTR_OK);
    assert_int_equal(g2.n, 0);
    assert_string_equal(mock.last_base, USERS("nowhere.test"));
    gal_clear(&g);
    gal_clear(&g2);
}

static void
test_gal_down(void **state)
{
    caldav_dir_t *d = *state;
    gal_t         g;
    mtr_err_t     err;

    memset(&g, 0, sizeof(g));
    print_message("gal: directory down is an error, not an empty book\n");
    mock.down = 1;
    assert_int_equal(gal(d, "example.test", &g, &err), MTR_ERROR);
    assert_int_equal(g.n, 0);
    assert_true(err.msg[0] != '\0');

    print_message("gal: ... and is not remembered\n");
    mock.down = 0;
    assert_int_equal(gal(d, "example.test", &g, &err), MTR_OK);
    assert_int_equal(g.n, 4);
    assert_int_equal(mock.searches, 2);

    print_message("gal: a snapshot outlives a failure of another domain\n");
    mock.down = 1;
    assert_int_equal(gal(d, "other.test", &g, &err), MTR_ERROR);
    assert_int_equal(gal(d, "example.test", &g, &err), MTR_OK);
    assert_int_equal(g.n, 4);
    gal_clear(&g);
}

typedef struct {
    const char *name;
    const char *domain;
    const char *base;
    const char *uid; /* the one card, NULL: none */
} gal_dn_case_t;

static const gal_dn_case_t gal_dn_cases[] = {
    { "comma and plus", "we,ird+co.test", USERS("we\\,ird\\+co.test"),
      "wendy@weird-co.test" },
    { "leading hash and equals", "#x=y.test", USERS("\\#x\\=y.test"),
      "hash@hash.test" },
    { "a domain that names another subtree", "example.test,ou=domains,o=mortar",
      USERS("example.test\\,ou\\=domains\\,o\\=mortar"), NULL },
    { "a domain that names its users",
      "x,ou=users,mortarDomainName=example.test",
      USERS("x\\,ou\\=users\\,mortarDomainName\\=example.test"), NULL },
    { "quote, angle brackets, semicolon", "a\"<b>;c.test",
      USERS("a\\\"\\<b\\>\\;c.test"), NULL },
    { "trailing space", "example.test ", USERS("example.test\\ "), NULL },
    { "backslash", "example\\2ctest", USERS("example\\\\2ctest"), NULL },
};

static void
test_gal_dn_escaping(void **state)
{
    caldav_dir_t *d = *state;
    gal_t         g;
    mtr_err_t     err;

    memset(&g, 0, sizeof(g));
    for (size_t i = 0; i < sizeof(gal_dn_cases) / sizeof(gal_dn_cases[0]); i++)
    {
        const gal_dn_case_t *c = &gal_dn_cases[i];

        print_message("gal base: %s\n", c->name);
        assert_int_equal(gal(d, c->domain, &g, &err), MTR_OK);
        assert_string_equal(mock.last_base, c->base);
        if (c->uid == NULL) {
            assert_int_equal(g.n, 0);
        } else {
            assert_int_equal(g.n, 1);
            assert_string_equal(g.uid[0], c->uid);
            gal_check_cards(&g);
        }
    }
    gal_clear(&g);
}

static void
test_gal_etag(void **state)
{
    caldav_dir_t *d = *state;
    gal_t         g, g2;
    mtr_err_t     err;
    char          alice_etag[64], bob_etag[64];

    memset(&g, 0, sizeof(g));
    memset(&g2, 0, sizeof(g2));
    assert_int_equal(gal(d, "example.test", &g, &err), MTR_OK);
    strcpy(alice_etag, g.etag[gal_find(&g, "alice@example.test")]);
    strcpy(bob_etag, g.etag[gal_find(&g, "bob@example.test")]);

    print_message("gal etag: within ttl the snapshot is served as it was\n");
    mock_user("alice@example.test")->cn = "Alice Pleasance Liddell";
    assert_int_equal(gal(d, "example.test", &g2, &err), MTR_OK);
    assert_string_equal(g2.etag[gal_find(&g2, "alice@example.test")],
                        alice_etag);

    print_message("gal etag: a changed entry has a new ETag\n");
    d = dir_renew(state, 60);
    assert_int_equal(gal(d, "example.test", &g2, &err), MTR_OK);
    assert_string_not_equal(g2.etag[gal_find(&g2, "alice@example.test")],
                            alice_etag);
    assert_non_null(strstr(g2.vcard[gal_find(&g2, "alice@example.test")],
                           "FN:Alice Pleasance Liddell\r\n"));

    print_message("gal etag: an unchanged one keeps it (across restarts)\n");
    assert_string_equal(g2.etag[gal_find(&g2, "bob@example.test")], bob_etag);
    gal_check_cards(&g2);
    gal_clear(&g);
    gal_clear(&g2);
}

/* ---- expiry: the one test that sleeps ----------------------------------- */

static void
test_ttl_expiry(void **state)
{
    caldav_dir_t         *d = *state;
    char                  user_r[CALDAV_MAX_USER + 1];
    gal_t                 g;
    mtr_err_t             err;
    char                  alice_etag[64], dave_etag[64];
    unsigned              n;
    const struct timespec wait = { 1, 100 * 1000 * 1000 };

    memset(&g, 0, sizeof(g));
    d = dir_renew(state, 1);
    assert_int_equal(login(d, "alice@example.test", "Secret-1", user_r, &err),
                     MTR_OK);
    assert_int_equal(login(d, "bob@example.test", "Bob-pw-2", user_r, &err),
                     MTR_OK);
    assert_int_equal(caldav_dir_user_exists(d, "carol@example.test", NULL, 0),
                     0);
    assert_int_equal(gal(d, "example.test", &g, &err), MTR_OK);
    assert_int_equal(g.n, 4);
    strcpy(alice_etag, g.etag[gal_find(&g, "alice@example.test")]);
    strcpy(dave_etag, g.etag[gal_find(&g, "dave@example.test")]);

    /* The administrator changes things... */
    mock_user("alice@example.test")->pw = "New-pw-9";
    mock_user("alice@example.test")->cn = "Alice L.";
    mock_user("bob@example.test")->status = "disabled";
    mock_user("carol@example.test")->status = "active";
    nanosleep(&wait, NULL);

    print_message("expiry: the old password is checked again, refused\n");
    n = mock.binds;
    assert_int_equal(login(d, "alice@example.test", "Secret-1", user_r, &err),
                     MTR_DECLINED);
    assert_int_equal(mock.binds, n + 1);
    assert_int_equal(login(d, "alice@example.test", "New-pw-9", user_r, &err),
                     MTR_OK);

    print_message("expiry: a disabled account cannot log in any more\n");
    assert_int_equal(login(d, "bob@example.test", "Bob-pw-2", user_r, &err),
                     MTR_DECLINED);
    assert_non_null(strstr(err.msg, "disabled"));

    print_message("expiry: a re-enabled principal exists again\n");
    n = mock.searches;
    assert_int_equal(caldav_dir_user_exists(d, "carol@example.test", NULL, 0),
                     1);
    assert_int_equal(mock.searches, n + 1);

    print_message("expiry: the address book is read again\n");
    assert_int_equal(gal(d, "example.test", &g, &err), MTR_OK);
    assert_int_equal(mock.searches, n + 2);
    assert_int_equal(g.n, 4); /* bob out, carol in */
    assert_string_equal(g.uid[0], "alice@example.test");
    assert_string_equal(g.uid[1], "carol@example.test");
    assert_string_not_equal(g.etag[0], alice_etag);
    assert_string_equal(g.etag[gal_find(&g, "dave@example.test")], dave_etag);
    gal_check_cards(&g);
    gal_clear(&g);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create),
        cmocka_unit_test(test_login),
        cmocka_unit_test_setup_teardown(test_login_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_exists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_exists_errors, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_gal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gal_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gal_dn_escaping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gal_etag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ttl_expiry, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
