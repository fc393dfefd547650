/*
 * test_mtr_ldap.c -- unit tests of the LDAP client in shared/src/mtr_ldap.c.
 *
 * libldap is replaced at link time (tests/unit/test_mtr_ldap.flags wraps
 * every libldap entry point mtr_ldap.c calls).  Return codes are queued
 * with will_return(), so an unexpected extra call (a second retry) or a
 * missing one fails the test.  Handles, messages, BerElements, DNs and
 * value arrays handed out by the mocks are heap objects counted in
 * mock.live, so ASan and the counter catch leaks, double frees and use
 * after unbind.  Proves: lazy connect and bind, option values, search
 * result conversion, reconnect-and-retry-once, no second retry, bind
 * failures named with the DN, DECLINED on a missing base, no silent cut
 * at the size limit, and the add/modify/delete/passwd plumbing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include <cmocka.h>
#include <lber.h>
#include <ldap.h>

#include "mtr_ldap.h"

#define MOCK_MAGIC 0x4d4c4450 /* "MLDP" */

#define URI     "ldap://127.0.0.1:3389"
#define BIND_DN "cn=admin,dc=example,dc=org"
#define BIND_PW "s3cret"

/* ---- canned directory data ---------------------------------------- */

typedef struct {
    const char *name;
    const char *values[4];
} mock_attr_t;

typedef struct {
    const char *dn;
    mock_attr_t attrs[4];
} mock_entry_t;

static const mock_entry_t two_entries[] = {
    { "uid=alice,ou=people,dc=example,dc=org",
      { { "uid", { "alice" } },
        { "mail", { "alice@example.org", "a@example.org" } },
        { "cn", { "Alice Liddell" } } } },
    { "uid=bob,ou=people,dc=example,dc=org",
      { { "uid", { "bob" } }, { "mailQuota", { "1G" } } } },
};

/* ---- mock objects --------------------------------------------------- */

typedef struct {
    int magic;
    int id;
} mock_ld_t;

typedef struct mock_msg_s mock_msg_t;

typedef struct {
    int         magic;
    mock_msg_t *msg;
    size_t      index;
} mock_ref_t;

struct mock_msg_s {
    int                 magic;
    const mock_entry_t *entries;
    size_t              n;
    mock_ref_t          refs[8];
};

typedef struct {
    int    magic;
    size_t next;
} mock_ber_t;

static struct {
    int            live; /* mock heap objects not yet given back */
    int            initializes, unbinds, binds, searches, msgfrees, bers_freed;
    int            adds, modifies, deletes, passwds;
    int            next_id, bound_id; /* id of the handle the last op ran on */
    int            version, timelimit, referrals_off;
    struct timeval net_timeout, op_timeout;
    char           bind_dn[256], bind_pw[64];
    char           base[256], filter[256], attrs[256], dn[256], mods[512];
    char           passwd_user[256], passwd_new[64];
    int            scope, sizelimit;
    struct timeval search_tv;
    const char    *diag;
    const mock_entry_t *entries;
    size_t              nentries;
} mock;

static void *
mock_alloc(size_t size)
{
    void *p = calloc(1, size);

    assert_non_null(p);
    mock.live++;
    return p;
}

static char *
mock_strdup(const char *s)
{
    char *p = mock_alloc(strlen(s) + 1);

    memcpy(p, s, strlen(s) + 1);
    return p;
}

static void
mock_free(void *p)
{
    if (p != NULL) {
        mock.live--;
        free(p);
    }
}

static mock_ld_t *
mock_handle(LDAP *ld)
{
    mock_ld_t *h = (mock_ld_t *) (void *) ld;

    /* Reading freed memory here is what ASan reports as use after unbind. */
    assert_non_null(h);
    assert_int_equal(h->magic, MOCK_MAGIC);
    mock.bound_id = h->id;
    return h;
}

/* ---- wrapped libldap ------------------------------------------------ */

int __wrap_ldap_initialize(LDAP **ldp, const char *uri);
int __wrap_ldap_set_option(LDAP *ld, int option, const void *invalue);
int __wrap_ldap_get_option(LDAP *ld, int option, void *outvalue);
int __wrap_ldap_sasl_bind_s(LDAP *ld, const char *dn, const char *mechanism,
                            struct berval *cred, LDAPControl **sctrls,
                            LDAPControl **cctrls, struct berval **servercredp);
int __wrap_ldap_unbind_ext_s(LDAP *ld, LDAPControl **sctrls,
                             LDAPControl **cctrls);
int __wrap_ldap_search_ext_s(LDAP *ld, const char *base, int scope,
                             const char *filter, char **attrs, int attrsonly,
                             LDAPControl **sctrls, LDAPControl **cctrls,
                             struct timeval *timeout, int sizelimit,
                             LDAPMessage **res);
int __wrap_ldap_msgfree(LDAPMessage *lm);
LDAPMessage *__wrap_ldap_first_entry(LDAP *ld, LDAPMessage *chain);
LDAPMessage *__wrap_ldap_next_entry(LDAP *ld, LDAPMessage *entry);
char        *__wrap_ldap_get_dn(LDAP *ld, LDAPMessage *entry);
char        *__wrap_ldap_first_attribute(LDAP *ld, LDAPMessage *entry,
                                         BerElement **ber);
char *__wrap_ldap_next_attribute(LDAP *ld, LDAPMessage *entry, BerElement *ber);
void  __wrap_ber_free(BerElement *ber, int freebuf);
struct berval **__wrap_ldap_get_values_len(LDAP *ld, LDAPMessage *entry,
                                           const char *target);
void            __wrap_ldap_value_free_len(struct berval **vals);
void            __wrap_ldap_memfree(void *p);
int             __wrap_ldap_add_ext_s(LDAP *ld, const char *dn, LDAPMod **attrs,
                                      LDAPControl **sctrls, LDAPControl **cctrls);
int __wrap_ldap_modify_ext_s(LDAP *ld, const char *dn, LDAPMod **mods,
                             LDAPControl **sctrls, LDAPControl **cctrls);
int __wrap_ldap_delete_ext_s(LDAP *ld, const char *dn, LDAPControl **sctrls,
                             LDAPControl **cctrls);
int __wrap_ldap_passwd_s(LDAP *ld, struct berval *user, struct berval *oldpw,
                         struct berval *newpw, struct berval *newpasswd,
                         LDAPControl **sctrls, LDAPControl **cctrls);

int
__wrap_ldap_initialize(LDAP **ldp, const char *uri)
{
    mock_ld_t *h;

    assert_string_equal(uri, URI);
    mock.initializes++;

    h = mock_alloc(sizeof(*h));
    h->magic = MOCK_MAGIC;
    h->id = ++mock.next_id;
    *ldp = (LDAP *) (void *) h;

    return LDAP_SUCCESS;
}

int
__wrap_ldap_set_option(LDAP *ld, int option, const void *invalue)
{
    mock_handle(ld);

    switch (option) {
    case LDAP_OPT_PROTOCOL_VERSION:
        mock.version = *(const int *) invalue;
        break;
    case LDAP_OPT_NETWORK_TIMEOUT:
        mock.net_timeout = *(const struct timeval *) invalue;
        break;
    case LDAP_OPT_TIMEOUT:
        mock.op_timeout = *(const struct timeval *) invalue;
        break;
    case LDAP_OPT_TIMELIMIT:
        mock.timelimit = *(const int *) invalue;
        break;
    case LDAP_OPT_REFERRALS:
        mock.referrals_off = invalue == LDAP_OPT_OFF;
        break;
    default:
        fail_msg("unexpected ldap_set_option(%d)", option);
    }

    return LDAP_OPT_SUCCESS;
}

int
__wrap_ldap_get_option(LDAP *ld, int option, void *outvalue)
{
    mock_handle(ld);
    assert_int_equal(option, LDAP_OPT_DIAGNOSTIC_MESSAGE);
    *(char **) outvalue = mock.diag != NULL ? mock_strdup(mock.diag) : NULL;

    return LDAP_OPT_SUCCESS;
}

int
__wrap_ldap_sasl_bind_s(LDAP *ld, const char *dn, const char *mechanism,
                        struct berval *cred, LDAPControl **sctrls,
                        LDAPControl **cctrls, struct berval **servercredp)
{
    (void) sctrls;
    (void) cctrls;
    (void) servercredp;

    mock_handle(ld);
    assert_null(mechanism); /* LDAP_SASL_SIMPLE */
    mock.binds++;
    snprintf(mock.bind_dn, sizeof(mock.bind_dn), "%s", dn);
    snprintf(mock.bind_pw, sizeof(mock.bind_pw), "%.*s", (int) cred->bv_len,
             cred->bv_val);

    return mock_type(int);
}

int
__wrap_ldap_unbind_ext_s(LDAP *ld, LDAPControl **sctrls, LDAPControl **cctrls)
{
    mock_ld_t *h = mock_handle(ld);

    (void) sctrls;
    (void) cctrls;

    mock.unbinds++;
    h->magic = 0;
    mock_free(h);

    return LDAP_SUCCESS;
}

int
__wrap_ldap_search_ext_s(LDAP *ld, const char *base, int scope,
                         const char *filter, char **attrs, int attrsonly,
                         LDAPControl **sctrls, LDAPControl **cctrls,
                         struct timeval *timeout, int sizelimit,
                         LDAPMessage **res)
{
    mock_msg_t *m;
    size_t      i;
    int         rc;

    (void) sctrls;
    (void) cctrls;

    mock_handle(ld);
    mock.searches++;
    assert_int_equal(attrsonly, 0);
    snprintf(mock.base, sizeof(mock.base), "%s", base);
    snprintf(mock.filter, sizeof(mock.filter), "%s", filter);
    mock.scope = scope;
    mock.sizelimit = sizelimit;
    mock.search_tv = *timeout;

    mock.attrs[0] = '\0';
    for (i = 0; attrs != NULL && attrs[i] != NULL; i++) {
        strcat(mock.attrs, i ? "," : "");
        strcat(mock.attrs, attrs[i]);
    }

    rc = mock_type(int);

    /* libldap hands back a message for errors too; the caller frees it. */
    m = mock_alloc(sizeof(*m));
    m->magic = MOCK_MAGIC;
    m->entries = mock.entries;
    m->n = mock.nentries;
    for (i = 0; i < m->n; i++) {
        m->refs[i].magic = MOCK_MAGIC;
        m->refs[i].msg = m;
        m->refs[i].index = i;
    }
    *res = (LDAPMessage *) (void *) m;

    return rc;
}

int
__wrap_ldap_msgfree(LDAPMessage *lm)
{
    mock_msg_t *m = (mock_msg_t *) (void *) lm;

    assert_int_equal(m->magic, MOCK_MAGIC);
    m->magic = 0;
    mock.msgfrees++;
    mock_free(m);

    return LDAP_RES_SEARCH_RESULT;
}

LDAPMessage *
__wrap_ldap_first_entry(LDAP *ld, LDAPMessage *chain)
{
    mock_msg_t *m = (mock_msg_t *) (void *) chain;

    mock_handle(ld);
    assert_int_equal(m->magic, MOCK_MAGIC);

    return m->n > 0 ? (LDAPMessage *) (void *) &m->refs[0] : NULL;
}

LDAPMessage *
__wrap_ldap_next_entry(LDAP *ld, LDAPMessage *entry)
{
    mock_ref_t *r = (mock_ref_t *) (void *) entry;

    mock_handle(ld);
    assert_int_equal(r->magic, MOCK_MAGIC);

    return r->index + 1 < r->msg->n
               ? (LDAPMessage *) (void *) &r->msg->refs[r->index + 1]
               : NULL;
}

static const mock_entry_t *
mock_entry(LDAPMessage *entry)
{
    mock_ref_t *r = (mock_ref_t *) (void *) entry;

    assert_int_equal(r->magic, MOCK_MAGIC);
    assert_int_equal(r->msg->magic, MOCK_MAGIC);
    return &r->msg->entries[r->index];
}

char *
__wrap_ldap_get_dn(LDAP *ld, LDAPMessage *entry)
{
    mock_handle(ld);
    return mock_strdup(mock_entry(entry)->dn);
}

static char *
mock_attr_at(const mock_entry_t *e, mock_ber_t *b)
{
    if (b->next >= 4 || e->attrs[b->next].name == NULL) {
        return NULL;
    }
    return mock_strdup(e->attrs[b->next++].name);
}

char *
__wrap_ldap_first_attribute(LDAP *ld, LDAPMessage *entry, BerElement **ber)
{
    mock_ber_t *b;

    mock_handle(ld);
    b = mock_alloc(sizeof(*b));
    b->magic = MOCK_MAGIC;
    *ber = (BerElement *) (void *) b;

    return mock_attr_at(mock_entry(entry), b);
}

char *
__wrap_ldap_next_attribute(LDAP *ld, LDAPMessage *entry, BerElement *ber)
{
    mock_ber_t *b = (mock_ber_t *) (void *) ber;

    mock_handle(ld);
    assert_int_equal(b->magic, MOCK_MAGIC);

    return mock_attr_at(mock_entry(entry), b);
}

void
__wrap_ber_free(BerElement *ber, int freebuf)
{
    mock_ber_t *b = (mock_ber_t *) (void *) ber;

    assert_int_equal(freebuf, 0);
    assert_int_equal(b->magic, MOCK_MAGIC);
    b->magic = 0;
    mock.bers_freed++;
    mock_free(b);
}

struct berval **
__wrap_ldap_get_values_len(LDAP *ld, LDAPMessage *entry, const char *target)
{
    const mock_entry_t *e = mock_entry(entry);
    struct berval     **vals;
    size_t              i, n;

    mock_handle(ld);

    for (i = 0; i < 4 && e->attrs[i].name != NULL; i++) {
        if (strcasecmp(e->attrs[i].name, target) == 0) {
            break;
        }
    }
    assert_true(i < 4 && e->attrs[i].name != NULL);

    for (n = 0; n < 4 && e->attrs[i].values[n] != NULL; n++) {
        /* count */
    }

    vals = mock_alloc((n + 1) * sizeof(*vals));
    for (n = 0; n < 4 && e->attrs[i].values[n] != NULL; n++) {
        vals[n] = mock_alloc(sizeof(struct berval));
        vals[n]->bv_val = mock_strdup(e->attrs[i].values[n]);
        vals[n]->bv_len = strlen(e->attrs[i].values[n]);
    }

    return vals;
}

void
__wrap_ldap_value_free_len(struct berval **vals)
{
    size_t i;

    for (i = 0; vals != NULL && vals[i] != NULL; i++) {
        mock_free(vals[i]->bv_val);
        mock_free(vals[i]);
    }
    mock_free(vals);
}

void
__wrap_ldap_memfree(void *p)
{
    mock_free(p);
}

static void
mock_record_mods(const char *dn, LDAPMod **mods)
{
    size_t i, j;
    char   one[128];

    snprintf(mock.dn, sizeof(mock.dn), "%s", dn);
    mock.mods[0] = '\0';

    for (i = 0; mods[i] != NULL; i++) {
        snprintf(one, sizeof(one), "%s%d:%s=", i ? ";" : "", mods[i]->mod_op,
                 mods[i]->mod_type);
        strcat(mock.mods, one);
        for (j = 0; mods[i]->mod_values != NULL && mods[i]->mod_values[j]; j++)
        {
            strcat(mock.mods, j ? "," : "");
            strcat(mock.mods, mods[i]->mod_values[j]);
        }
    }
}

int
__wrap_ldap_add_ext_s(LDAP *ld, const char *dn, LDAPMod **attrs,
                      LDAPControl **sctrls, LDAPControl **cctrls)
{
    (void) sctrls;
    (void) cctrls;

    mock_handle(ld);
    mock.adds++;
    mock_record_mods(dn, attrs);

    return mock_type(int);
}

int
__wrap_ldap_modify_ext_s(LDAP *ld, const char *dn, LDAPMod **mods,
                         LDAPControl **sctrls, LDAPControl **cctrls)
{
    (void) sctrls;
    (void) cctrls;

    mock_handle(ld);
    mock.modifies++;
    mock_record_mods(dn, mods);

    return mock_type(int);
}

int
__wrap_ldap_delete_ext_s(LDAP *ld, const char *dn, LDAPControl **sctrls,
                         LDAPControl **cctrls)
{
    (void) sctrls;
    (void) cctrls;

    mock_handle(ld);
    mock.deletes++;
    snprintf(mock.dn, sizeof(mock.dn), "%s", dn);

    return mock_type(int);
}

int
__wrap_ldap_passwd_s(LDAP *ld, struct berval *user, struct berval *oldpw,
                     struct berval *newpw, struct berval *newpasswd,
                     LDAPControl **sctrls, LDAPControl **cctrls)
{
    (void) sctrls;
    (void) cctrls;

    mock_handle(ld);
    mock.passwds++;
    assert_null(oldpw);
    assert_non_null(newpasswd); /* libldap asserts this */
    snprintf(mock.passwd_user, sizeof(mock.passwd_user), "%.*s",
             (int) user->bv_len, user->bv_val);
    snprintf(mock.passwd_new, sizeof(mock.passwd_new), "%.*s",
             (int) newpw->bv_len, newpw->bv_val);
    newpasswd->bv_val = NULL;
    newpasswd->bv_len = 0;

    return mock_type(int);
}

/* ---- fixtures --------------------------------------------------------- */

static int
setup(void **state)
{
    mtr_ldap_opts_t opts = { URI, BIND_DN, BIND_PW, 2500 };
    mtr_ldap_t     *l;
    mtr_err_t       err;

    memset(&mock, 0, sizeof(mock));
    mock.diag = NULL;

    if (mtr_ldap_create(&l, &opts, &err) != MTR_OK) {
        return -1;
    }

    *state = l;
    return 0;
}

static int
teardown(void **state)
{
    mtr_ldap_t *l = *state;

    mtr_ldap_destroy(&l);
    assert_null(l);

    /* Every handle unbound, every message, string and array given back. */
    assert_int_equal(mock.unbinds, mock.initializes);
    assert_int_equal(mock.live, 0);
    return 0;
}

static const char *const uid_mail[] = { "uid", "mail", NULL };

static int
search(mtr_ldap_t *l, mtr_ldap_result_t **res, mtr_err_t *err)
{
    return mtr_ldap_search(l, "ou=people,dc=example,dc=org", MTR_LDAP_SCOPE_SUB,
                           "(uid=alice)", uid_mail, 5, res, err);
}

/* ---- tests ------------------------------------------------------------ */

static void
test_lazy_connect_and_bind(void **state)
{
    mtr_ldap_t        *l = *state;
    mtr_ldap_result_t *res = NULL;
    mtr_err_t          err;

    print_message("lazy: create sends nothing\n");
    assert_int_equal(mock.initializes, 0);
    assert_int_equal(mock.binds, 0);

    print_message("lazy: first search connects and binds\n");
    will_return(__wrap_ldap_sasl_bind_s, LDAP_SUCCESS);
    will_return(__wrap_ldap_search_ext_s, LDAP_SUCCESS);
    assert_int_equal(search(l, &res, &err), MTR_OK);
    assert_int_equal(mock.initializes, 1);
    assert_int_equal(mock.binds, 1);
    assert_int_equal(mock.searches, 1);
    assert_string_equal(mock.bind_dn, BIND_DN);
    assert_string_equal(mock.bind_pw, BIND_PW);
    assert_int_equal(mtr_ldap_last_result(l), LDAP_SUCCESS);
    mtr_ldap_result_free(&res);
    assert_null(res);

    print_message("lazy: options from timeout_ms, LDAPv3, no referrals\n");
    assert_int_equal(mock.version, LDAP_VERSION3);
    assert_int_equal(mock.net_timeout.tv_sec, 2);
    assert_int_equal(mock.net_timeout.tv_usec, 500000);
    assert_int_equal(mock.op_timeout.tv_sec, 2);
    assert_int_equal(mock.op_timeout.tv_usec, 500000);
    assert_int_equal(mock.timelimit, 3);
    assert_true(mock.referrals_off);

    print_message("lazy: search arguments passed through\n");
    assert_string_equal(mock.base, "ou=people,dc=example,dc=org");
    assert_string_equal(mock.filter, "(uid=alice)");
    assert_string_equal(mock.attrs, "uid,mail");
    assert_int_equal(mock.scope, LDAP_SCOPE_SUBTREE);
    assert_int_equal(mock.sizelimit, 5);
    assert_int_equal(mock.search_tv.tv_sec, 2);
    assert_int_equal(mock.msgfrees, 1);

    print_message("lazy: second search reuses the bound handle\n");
    will_return(__wrap_ldap_search_ext_s, LDAP_SUCCESS);
    assert_int_equal(mtr_ldap_search(l, "dc=example,dc=org",
                                     MTR_LDAP_SCOPE_BASE, NULL, NULL, 0, &res,
                                     &err),
                     MTR_OK);
    mtr_ldap_result_free(&res);
    assert_int_equal(mock.initializes, 1);
    assert_int_equal(mock.binds, 1);
    assert_int_equal(mock.searches, 2);
    assert_int_equal(mock.scope, LDAP_SCOPE_BASE);
    assert_string_equal(mock.filter, "(objectClass=*)");
    assert_string_equal(mock.attrs, "");
    assert_int_equal(mock.sizelimit, 0);
    assert_int_equal(mock.unbinds, 0);
}

static void
test_search_conversion(void **state)
{
    mtr_ldap_t             *l = *state;
    mtr_ldap_result_t      *res = NULL;
    const mtr_ldap_entry_t *e;
    const mtr_ldap_attr_t  *a;
    mtr_err_t               err;

    mock.entries = two_entries;
    mock.nentries = 2;

    print_message("conversion: two entries\n");
    will_return(__wrap_ldap_sasl_bind_s, LDAP_SUCCESS);
    will_return(__wrap_ldap_search_ext_s, LDAP_SUCCESS);
    assert_int_equal(search(l, &res, &err), MTR_OK);
    assert_non_null(res);
    assert_int_equal(res->nentries, 2);

    print_message("conversion: first entry DN and attributes\n");
    e = &res->entries[0];
    assert_string_equal(e->dn, "uid=alice,ou=people,dc=example,dc=org");
    assert_int_equal(e->nattrs, 3);
    a = &e->attrs[1];
    assert_string_equal(a->name, "mail");
    assert_int_equal(a->nvalues, 2);
    assert_string_equal(a->values[0], "alice@example.org");
    assert_string_equal(a->values[1], "a@example.org");
    assert_null(a->values[2]);
    assert_int_equal(a->lens[0], strlen("alice@example.org"));
    assert_int_equal(a->lens[1], strlen("a@example.org"));

    print_message("conversion: entry_get is case-insensitive, first value\n");
    assert_string_equal(mtr_ldap_entry_get(e, "MAIL"), "alice@example.org");
    assert_string_equal(mtr_ldap_entry_get(e, "cn"), "Alice Liddell");
    assert_null(mtr_ldap_entry_get(e, "mailQuota"));

    print_message("conversion: second entry\n");
    e = &res->entries[1];
    assert_string_equal(e->dn, "uid=bob,ou=people,dc=example,dc=org");
    assert_int_equal(e->nattrs, 2);
    assert_string_equal(mtr_ldap_entry_get(e, "mailquota"), "1G");
    assert_string_equal(mtr_ldap_entry_get(e, "uid"), "bob");

    print_message("conversion: libldap objects all released\n");
    assert_int_equal(mock.msgfrees, 1);
    assert_int_equal(mock.bers_freed, 2);

    mtr_ldap_result_free(&res);
    assert_null(res);
    mtr_ldap_result_free(&res);

    print_message("conversion: no match is MTR_OK with 0 entries\n");
    mock.nentries = 0;
    will_return(__wrap_ldap_search_ext_s, LDAP_SUCCESS);
    assert_int_equal(search(l, &res, &err), MTR_OK);
    assert_non_null(res);
    assert_int_equal(res->nentries, 0);
    mtr_ldap_result_free(&res);
}

static void
test_reconnect_retry_once(void **state)
{
    static const int   gone[] = { LDAP_SERVER_DOWN, LDAP_CONNECT_ERROR,
                                  LDAP_UNAVAILABLE };
    mtr_ldap_t        *l = *state;
    mtr_ldap_result_t *res = NULL;
    mtr_err_t          err;
    size_t             i;
    int                before;

    will_return(__wrap_ldap_sasl_bind_s, LDAP_SUCCESS);
    will_return(__wrap_ldap_search_ext_s, LDAP_SUCCESS);
    assert_int_equal(search(l, &res, &err), MTR_OK);
    mtr_ldap_result_free(&res);

    for (i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
        print_message("retry: %s drops, reconnects, rebinds, retries\n",
                      ldap_err2string(gone[i]));
        before = mock.bound_id;
        will_return(__wrap_ldap_search_ext_s, gone[i]);
        will_return(__wrap_ldap_sasl_bind_s, LDAP_SUCCESS);
        will_return(__wrap_ldap_search_ext_s, LDAP_SUCCESS);
        assert_int_equal(search(l, &res, &err), MTR_OK);
        assert_non_null(res);
        mtr_ldap_result_free(&res);
        assert_int_equal(mock.initializes, (int) i + 2);
        assert_int_equal(mock.unbinds, (int) i + 1);
        assert_int_equal(mock.binds, (int) i + 2);
        assert_int_equal(mock.searches, 2 * (int) i + 3);
        assert_string_equal(mock.bind_dn, BIND_DN);
        /* The retry ran on the new handle. */
        assert_int_not_equal(mock.bound_id, before);
        assert_int_equal(mtr_ldap_last_result(l), LDAP_SUCCESS);
    }

    print_message("retry: a write is never resent, the next call reconnects\n");
    {
        static const char *const v[] = { "2G", NULL };
        mtr_ldap_mod_t           mod = { MTR_LDAP_MOD_REPLACE, "mailQuota", v };

        /* The server may have applied it before the connection broke. */
        will_return(__wrap_ldap_modify_ext_s, LDAP_SERVER_DOWN);
        assert_int_equal(
            mtr_ldap_modify(l, "uid=bob,dc=example,dc=org", &mod, 1, &err),
            MTR_ERROR);
        assert_int_equal(mock.modifies, 1);
        assert_int_equal(mtr_ldap_last_result(l), LDAP_SERVER_DOWN);

        will_return(__wrap_ldap_sasl_bind_s, LDAP_SUCCESS);
        will_return(__wrap_ldap_modify_ext_s, LDAP_SUCCESS);
        assert_int_equal(
            mtr_ldap_modify(l, "uid=bob,dc=example,dc=org", &mod, 1, &err),
            MTR_OK);
        assert_int_equal(mock.modifies, 2);
    }
}

static void
test_no_second_retry(void **state)
{
    mtr_ldap_t        *l = *state;
    mtr_ldap_result_t *res = NULL;
    mtr_err_t          err;

    print_message("no second retry: down twice is an error\n");
    mock.diag = NULL;
    will_return(__wrap_ldap_sasl_bind_s, LDAP_SUCCESS);
    will_return(__wrap_ldap_search_ext_s, LDAP_SERVER_DOWN);
    will_return(__wrap_ldap_sasl_bind_s, LDAP_SUCCESS);
    will_return(__wrap_ldap_search_ext_s, LDAP_SERVER_DOWN);
    assert_int_equal(search(l, &res, &err), MTR_ERROR);
    assert_null(res);
    assert_int_equal(mock.searches, 2);
    assert_int_equal(mock.binds, 2);
    assert_int_equal(mtr_ldap_last_result(l), LDAP_SERVER_DOWN);
    print_message("no second retry: message: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "search"));
    assert_non_null(strstr(err.msg, "ou=people,dc=example,dc=org"));
    assert_non_null(strstr(err.msg, ldap_err2string(LDAP_SERVER_DOWN)));

    print_message("no second retry: the dead handle was dropped\n");
    assert_int_equal(mock.unbinds, mock.initializes);

    print_message("no second retry: next call reconnects\n");
    will_return(__wrap_ldap_sasl_bind_s, LDAP_SUCCESS);
    will_return(__wrap_ldap_search_ext_s, LDAP_SUCCESS);
    assert_int_equal(search(l, &res, &err), MTR_OK);
    mtr_ldap_result_free(&res);
    assert_int_equal(mock.initializes, 3);

    print_message("no second retry: reconnect refused is not retried again\n");
    will_return(__wrap_ldap_search_ext_s, LDAP_SERVER_DOWN);
    will_return(__wrap_ldap_sasl_bind_s, LDAP_SERVER_DOWN);
    assert_int_equal(search(l, &res, &err), MTR_ERROR);
    assert_int_equal(mock.searches, 4);
    assert_non_null(strstr(err.msg, "bind"));

    print_message("no second retry: other errors are not retried\n");
    will_return(__wrap_ldap_sasl_bind_s, LDAP_SUCCESS);
    will_return(__wrap_ldap_search_ext_s, LDAP_INSUFFICIENT_ACCESS);
    assert_int_equal(search(l, &res, &err), MTR_ERROR);
    assert_int_equal(mock.searches, 5);
    assert_int_equal(mtr_ldap_last_result(l), LDAP_INSUFFICIENT_ACCESS);

    print_message("no second retry: a timeout is not retried\n");
    will_return(__wrap_ldap_search_ext_s, LDAP_TIMEOUT);
    assert_int_equal(search(l, &res, &err), MTR_ERROR);
    assert_int_equal(mock.searches, 6);
}

static void
test_bind_failure(void **state)
{
    mtr_ldap_t        *l = *state;
    mtr_ldap_result_t *res = NULL;
    mtr_err_t          err;

    print_message("bind failure: named with DN, URI and diagnostic\n");
    mock.diag = "bad password\nforged line";
    will_return(__wrap_ldap_sasl_bind_s, LDAP_INVALID_CREDENTIALS);
    assert_int_equal(search(l, &res, &err), MTR_ERROR);
    assert_null(res);
    print_message("bind failure: message: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "bind"));
    assert_non_null(strstr(err.msg, BIND_DN));
    assert_non_null(strstr(err.msg, URI));
    assert_non_null(strstr(err.msg, ldap_err2string(LDAP_INVALID_CREDENTIALS)));
    assert_non_null(strstr(err.msg, "bad password?forged line"));
    assert_null(strchr(err.msg, '\n'));
    assert_null(strstr(err.msg, BIND_PW));
    assert_int_equal(mtr_ldap_last_result(l), LDAP_INVALID_CREDENTIALS);

    print_message("bind failure: no operation sent, handle released\n");
    assert_int_equal(mock.searches, 0);
    assert_int_equal(mock.unbinds, 1);

    print_message("bind failure: a bind NO_SUCH_OBJECT is not DECLINED\n");
    will_return(__wrap_ldap_sasl_bind_s, LDAP_NO_SUCH_OBJECT);
    assert_int_equal(search(l, &res, &err), MTR_ERROR);

    print_message("bind failure: next call binds again\n");
    mock.diag = NULL;
    will_return(__wrap_ldap_sasl_bind_s, LDAP_SUCCESS);
    will_return(__wrap_ldap_search_ext_s, LDAP_SUCCESS);
    assert_int_equal(search(l, &res, &err), MTR_OK);
    mtr_ldap_result_free(&res);
    assert_int_equal(mock.binds, 3);
}

static void
test_declined_no_such_base(void **state)
{
    mtr_ldap_t        *l = *state;
    mtr_ldap_result_t *res = NULL;
    mtr_err_t          err;

    print_message("declined: missing base object\n");
    mock.diag = "no such base";
    will_return(__wrap_ldap_sasl_bind_s, LDAP_SUCCESS);
    will_return(__wrap_ldap_search_ext_s, LDAP_NO_SUCH_OBJECT);
    assert_int_equal(search(l, &res, &err), MTR_DECLINED);
    assert_null(res);
    assert_int_equal(mtr_ldap_last_result(l), LDAP_NO_SUCH_OBJECT);
    assert_int_equal(mock.msgfrees, 1);

    print_message("declined: connection kept, not retried\n");
    assert_int_equal(mock.searches, 1);
    assert_int_equal(mock.unbinds, 0);
}

static void
test_size_limit_not_cut(void **state)
{
    mtr_ldap_t        *l = *state;
    mtr_ldap_result_t *res = NULL;
    mtr_err_t          err;

    print_message("size limit: exceeded is an error, partial result freed\n");
    mock.entries = two_entries;
    mock.nentries = 1;
    will_return(__wrap_ldap_sasl_bind_s, LDAP_SUCCESS);
    will_return(__wrap_ldap_search_ext_s, LDAP_SIZELIMIT_EXCEEDED);
    assert_int_equal(mtr_ldap_search(l, "dc=example,dc=org", MTR_LDAP_SCOPE_SUB,
                                     "(mail=*)", NULL, 1, &res, &err),
                     MTR_ERROR);
    assert_null(res);
    assert_int_equal(mtr_ldap_last_result(l), LDAP_SIZELIMIT_EXCEEDED);
    assert_int_equal(mock.sizelimit, 1);
    assert_int_equal(mock.msgfrees, 1);
    assert_non_null(strstr(err.msg, "(mail=*)"));

    print_message("size limit: bad arguments refused before sending\n");
    assert_int_equal(
        mtr_ldap_search(l, "dc=example,dc=org", 7, NULL, NULL, 0, &res, &err),
        MTR_ERROR);
    assert_int_equal(
        mtr_ldap_search(l, NULL, MTR_LDAP_SCOPE_SUB, NULL, NULL, 0, &res, &err),
        MTR_ERROR);
    assert_int_equal(mtr_ldap_search(l, "dc=x", MTR_LDAP_SCOPE_SUB, NULL, NULL,
                                     (size_t) 1 << 40, &res, &err),
                     MTR_ERROR);
    assert_int_equal(mtr_ldap_last_result(l), LDAP_PARAM_ERROR);
    assert_int_equal(mock.searches, 1);
}

static void
test_add_modify_delete_passwd(void **state)
{
    static const char *const oc[] = { "top", "inetOrgPerson", NULL };
    static const char *const uid[] = { "carol", NULL };
    static const char *const none[] = { NULL };
    mtr_ldap_t              *l = *state;
    mtr_err_t                err;
    const char              *dn = "uid=carol,ou=people,dc=example,dc=org";
    mtr_ldap_mod_t           add[] = { { MTR_LDAP_MOD_ADD, "objectClass", oc },
                                       { MTR_LDAP_MOD_ADD, "uid", uid } };
    mtr_ldap_mod_t           mod[] = {
                  { MTR_LDAP_MOD_REPLACE, "uid", uid },
                  { MTR_LDAP_MOD_DELETE, "description", NULL },
                  { MTR_LDAP_MOD_DELETE, "cn", none },
                  { MTR_LDAP_MOD_ADD, "mail", uid },
    };
    char expect[256];

    print_message("add: attributes passed as LDAP_MOD_ADD\n");
    will_return(__wrap_ldap_sasl_bind_s, LDAP_SUCCESS);
    will_return(__wrap_ldap_add_ext_s, LDAP_SUCCESS);
    assert_int_equal(mtr_ldap_add(l, dn, add, 2, &err), MTR_OK);
    assert_string_equal(mock.dn, dn);
    snprintf(expect, sizeof(expect),
             "%d:objectClass=top,inetOrgPerson;%d:uid=carol", LDAP_MOD_ADD,
             LDAP_MOD_ADD);
    assert_string_equal(mock.mods, expect);

    print_message("add: already exists is told apart\n");
    mock.diag = "entry already exists";
    will_return(__wrap_ldap_add_ext_s, LDAP_ALREADY_EXISTS);
    assert_int_equal(mtr_ldap_add(l, dn, add, 2, &err), MTR_ERROR);
    assert_int_equal(mtr_ldap_last_result(l), LDAP_ALREADY_EXISTS);
    print_message("add: message: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "add"));
    assert_non_null(strstr(err.msg, dn));
    assert_non_null(strstr(err.msg, "entry already exists"));
    mock.diag = NULL;

    print_message("add: non-ADD or valueless attributes refused locally\n");
    assert_int_equal(mtr_ldap_add(l, dn, mod, 1, &err), MTR_ERROR);
    assert_int_equal(mtr_ldap_add(l, dn, &mod[1], 1, &err), MTR_ERROR);
    assert_int_equal(mtr_ldap_add(l, dn, add, 0, &err), MTR_ERROR);
    assert_int_equal(mtr_ldap_last_result(l), LDAP_PARAM_ERROR);
    assert_int_equal(mock.adds, 2);

    print_message("modify: replace, delete-all, add in one operation\n");
    will_return(__wrap_ldap_modify_ext_s, LDAP_SUCCESS);
    assert_int_equal(mtr_ldap_modify(l, dn, mod, 4, &err), MTR_OK);
    snprintf(expect, sizeof(expect),
             "%d:uid=carol;%d:description=;%d:cn=;%d:mail=carol",
             LDAP_MOD_REPLACE, LDAP_MOD_DELETE, LDAP_MOD_DELETE, LDAP_MOD_ADD);
    assert_string_equal(mock.mods, expect);

    print_message("modify: invalid op refused\n");
    {
        mtr_ldap_mod_t bad = { 42, "uid", uid };

        assert_int_equal(mtr_ldap_modify(l, dn, &bad, 1, &err), MTR_ERROR);
        assert_int_equal(mock.modifies, 1);
    }

    print_message("delete: no such object reported\n");
    will_return(__wrap_ldap_delete_ext_s, LDAP_NO_SUCH_OBJECT);
    assert_int_equal(mtr_ldap_delete(l, dn, &err), MTR_ERROR);
    assert_int_equal(mtr_ldap_last_result(l), LDAP_NO_SUCH_OBJECT);
    assert_string_equal(mock.dn, dn);
    assert_non_null(strstr(err.msg, "delete"));

    print_message("passwd: RFC 3062 with the DN and new password\n");
    will_return(__wrap_ldap_passwd_s, LDAP_SUCCESS);
    assert_int_equal(mtr_ldap_passwd(l, dn, "n3w pass", &err), MTR_OK);
    assert_string_equal(mock.passwd_user, dn);
    assert_string_equal(mock.passwd_new, "n3w pass");

    print_message("passwd: failure names the DN, not the password\n");
    will_return(__wrap_ldap_passwd_s, LDAP_INSUFFICIENT_ACCESS);
    assert_int_equal(mtr_ldap_passwd(l, dn, "n3w pass", &err), MTR_ERROR);
    assert_non_null(strstr(err.msg, dn));
    assert_null(strstr(err.msg, "n3w pass"));

    print_message("passwd: empty password refused\n");
    assert_int_equal(mtr_ldap_passwd(l, dn, "", &err), MTR_ERROR);
    assert_int_equal(mock.passwds, 2);
    assert_int_equal(mock.binds, 1);
}

static void
test_create_errors(void **state)
{
    mtr_ldap_opts_t opts = { NULL, NULL, NULL, 0 };
    mtr_ldap_t     *l = (mtr_ldap_t *) 1;
    mtr_err_t       err;

    (void) state;
    memset(&mock, 0, sizeof(mock));

    print_message("create: no uri\n");
    assert_int_equal(mtr_ldap_create(&l, &opts, &err), MTR_ERROR);
    assert_null(l);

    print_message("create: negative timeout\n");
    opts.uri = URI;
    opts.timeout_ms = -1;
    assert_int_equal(mtr_ldap_create(&l, &opts, &err), MTR_ERROR);

    print_message("create: anonymous, default timeout\n");
    opts.timeout_ms = 0;
    assert_int_equal(mtr_ldap_create(&l, &opts, &err), MTR_OK);
    will_return(__wrap_ldap_sasl_bind_s, LDAP_SUCCESS);
    will_return(__wrap_ldap_delete_ext_s, LDAP_SUCCESS);
    assert_int_equal(mtr_ldap_delete(l, "cn=x", &err), MTR_OK);
    assert_string_equal(mock.bind_dn, "");
    assert_string_equal(mock.bind_pw, "");
    assert_int_equal(mock.net_timeout.tv_sec, MTR_LDAP_TIMEOUT_DEFAULT / 1000);
    mtr_ldap_destroy(&l);
    mtr_ldap_destroy(&l);
    assert_int_equal(mock.live, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lazy_connect_and_bind, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_search_conversion, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reconnect_retry_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_second_retry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bind_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_declined_no_such_base, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_size_limit_not_cut, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_add_modify_delete_passwd, setup,
                                        teardown),
        cmocka_unit_test(test_create_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
