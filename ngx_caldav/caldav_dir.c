/*
 * caldav_dir.c -- logins, principals and the global address book from the
 * directory (see caldav_dir.h for the rules and the caches).
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "caldav.h"
#include "caldav_buf.h"
#include "caldav_dir.h"
#include "caldav_vcard.h"
#include "mtr_ldap.h"

#define LDAP_SIZELIMIT_EXCEEDED_CODE  4
#define LDAP_INVALID_CREDENTIALS_CODE 49
#define LDAP_UNWILLING_CODE           53

typedef struct {
    unsigned char key[32];
    time_t        expires;
} login_slot_t;

typedef struct {
    char  *uid;
    char  *vcard;
    size_t len;
    char   etag[40];
} gal_entry_t;

typedef struct gal_snap_s gal_snap_t;
struct gal_snap_s {
    char        *domain;
    time_t       expires;
    int          refs;
    gal_entry_t *v;
    size_t       n;
    gal_snap_t  *next;
};

typedef struct principal_s principal_t;
struct principal_s {
    char        *user;
    int          exists;
    time_t       expires;
    principal_t *next;
};

struct caldav_dir_s {
    char           *uri, *bind_dn, *bind_pw, *base, *domains_dn;
    int             timeout_ms, ttl;
    unsigned char   salt[16];
    unsigned long   serial;
    pthread_mutex_t lock;
    login_slot_t    logins[CALDAV_DIR_LOGIN_SLOTS];
    gal_snap_t     *gals;
    principal_t    *principals;
    size_t          nprincipals;
};

static __thread mtr_ldap_t *thread_ldap;
/* The serial of the handle thread_ldap was made for: an address could be
 * reused by a later handle with other credentials. */
static __thread unsigned long thread_ldap_serial;
static unsigned long          dir_serial;

int
caldav_dir_create(caldav_dir_t **dp, const caldav_dir_opts_t *o, mtr_err_t *err)
{
    caldav_dir_t *d;
    size_t        l;

    if (o->uri == NULL || o->base == NULL || o->bind_dn == NULL) {
        return mtr_err_set(err, "directory: uri, base and bind DN needed");
    }
    d = calloc(1, sizeof(*d));
    if (d == NULL) {
        return mtr_err_set(err, "out of memory");
    }
    l = strlen(o->base) + sizeof("ou=domains,");
    d->uri = strdup(o->uri);
    d->bind_dn = strdup(o->bind_dn);
    d->bind_pw = strdup(o->bind_pw ? o->bind_pw : "");
    d->base = strdup(o->base);
    d->domains_dn = malloc(l);
    if (d->uri == NULL || d->bind_dn == NULL || d->bind_pw == NULL
        || d->base == NULL || d->domains_dn == NULL
        || RAND_bytes(d->salt, sizeof(d->salt)) != 1)
    {
        caldav_dir_destroy(&d);
        return mtr_err_set(err, "out of memory or no randomness");
    }
    snprintf(d->domains_dn, l, "ou=domains,%s", o->base);
    d->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 5000;
    d->ttl = o->ttl > 0 ? o->ttl : 60;
    pthread_mutex_init(&d->lock, NULL);
    d->serial = __atomic_add_fetch(&dir_serial, 1, __ATOMIC_RELAXED);
    *dp = d;
    return MTR_OK;
}

static void
gal_snap_free(gal_snap_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].uid);
        free(s->v[i].vcard);
    }
    free(s->v);
    free(s->domain);
    free(s);
}

void
caldav_dir_destroy(caldav_dir_t **dp)
{
    caldav_dir_t *d = *dp;

    if (d == NULL) {
        return;
    }
    while (d->gals != NULL) {
        gal_snap_t *n = d->gals->next;

        gal_snap_free(d->gals);
        d->gals = n;
    }
    while (d->principals != NULL) {
        principal_t *n = d->principals->next;

        free(d->principals->user);
        free(d->principals);
        d->principals = n;
    }
    if (d->bind_pw != NULL) {
        mtr_wipe(d->bind_pw, strlen(d->bind_pw));
    }
    free(d->uri);
    free(d->bind_dn);
    free(d->bind_pw);
    free(d->base);
    free(d->domains_dn);
    mtr_wipe(d->salt, sizeof(d->salt));
    free(d);
    *dp = NULL;
}

void
caldav_dir_thread_cleanup(void)
{
    if (thread_ldap != NULL) {
        mtr_ldap_destroy(&thread_ldap);
    }
    thread_ldap_serial = 0;
}

/* This thread's service connection. */
static mtr_ldap_t *
service(caldav_dir_t *d, mtr_err_t *err)
{
    mtr_ldap_opts_t o;

    if (thread_ldap != NULL && thread_ldap_serial == d->serial) {
        return thread_ldap;
    }
    if (thread_ldap != NULL) {
        mtr_ldap_destroy(&thread_ldap);
    }
    memset(&o, 0, sizeof(o));
    o.uri = d->uri;
    o.bind_dn = d->bind_dn;
    o.bind_pw = d->bind_pw;
    o.timeout_ms = d->timeout_ms;
    if (mtr_ldap_create(&thread_ldap, &o, err) != MTR_OK) {
        return NULL;
    }
    thread_ldap_serial = d->serial;
    return thread_ldap;
}

/* Lower-case copy of an address; MTR_ERROR when it cannot be one. */
static int
normalize(const char *u, size_t len, char *out)
{
    size_t at = 0, nat = 0;

    if (len == 0 || len > CALDAV_MAX_USER) {
        return MTR_ERROR;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char) u[i];

        if (ch <= 0x20 || ch == 0x7f || ch == '/' || ch == '%' || ch == '\\'
            || ch == '(' || ch == ')' || ch == '*')
        {
            return MTR_ERROR;
        }
        if (ch == '@') {
            at = i;
            nat++;
        }
        out[i] = (char) tolower(ch);
    }
    out[len] = '\0';
    if (nat != 1 || at == 0 || at == len - 1) {
        return MTR_ERROR;
    }
    return MTR_OK;
}

/* Find the active account with the dav service; MTR_OK with dn_r and
 * displayname, MTR_DECLINED when there is none. */
static int
lookup(caldav_dir_t *d, const char *user, char *dn_r, size_t dn_size,
       char *name_r, size_t name_size, int need_dav, mtr_err_t *err)
{
    static const char *const attrs[] = { "mortarAccountStatus",
                                         "mortarEnabledService", "displayName",
                                         "cn", NULL };
    char        esc[CALDAV_MAX_USER * 3 + 1], filter[CALDAV_MAX_USER * 3 + 64];
    mtr_ldap_t *l = service(d, err);
    mtr_ldap_result_t      *res = NULL;
    const mtr_ldap_entry_t *e;
    const char             *st, *dn;
    int                     rc, dav = 0;

    if (l == NULL) {
        return MTR_ERROR;
    }
    if (mtr_ldap_escape_filter(user, strlen(user), esc, sizeof(esc), NULL, err)
        != MTR_OK)
    {
        return MTR_DECLINED;
    }
    snprintf(filter, sizeof(filter), "(&(objectClass=mortarUser)(mail=%s))",
             esc);
    rc = mtr_ldap_search(l, d->domains_dn, MTR_LDAP_SCOPE_SUB, filter, attrs, 2,
                         &res, err);
    if (rc == MTR_DECLINED) {
        mtr_err_set(err, "no such user %s", user);
        return MTR_DECLINED;
    }
    if (rc != MTR_OK) {
        /* More than the 2 asked for: as ambiguous as 2, not an outage. */
        if (mtr_ldap_last_result(l) == LDAP_SIZELIMIT_EXCEEDED_CODE) {
            mtr_err_set(err, "%s: more than 2 directory entries", user);
            return MTR_DECLINED;
        }
        return MTR_ERROR;
    }
    if (res->nentries != 1) {
        mtr_err_set(err, "%s: %zu directory entries", user, res->nentries);
        mtr_ldap_result_free(&res);
        return MTR_DECLINED;
    }
    e = &res->entries[0];
    st = mtr_ldap_entry_get(e, "mortarAccountStatus");
    for (size_t i = 0; i < e->nattrs; i++) {
        if (strcasecmp(e->attrs[i].name, "mortarEnabledService") != 0) {
            continue;
        }
        for (size_t j = 0; j < e->attrs[i].nvalues; j++) {
            dav |= strcasecmp(e->attrs[i].values[j], "dav") == 0;
        }
    }
    if (st == NULL || strcmp(st, "active") != 0 || (need_dav && !dav)) {
        mtr_err_set(err, "%s is %s%s", user, st ? st : "without status",
                    need_dav && !dav ? " and has no dav service" : "");
        mtr_ldap_result_free(&res);
        return MTR_DECLINED;
    }
    dn = e->dn;
    if (strlen(dn) >= dn_size) {
        mtr_ldap_result_free(&res);
        return mtr_err_set(err, "DN too long");
    }
    strcpy(dn_r, dn);
    if (name_r != NULL && name_size > 0) {
        const char *n = mtr_ldap_entry_get(e, "displayName");

        if (n == NULL) {
            n = mtr_ldap_entry_get(e, "cn");
        }
        snprintf(name_r, name_size, "%s", n ? n : user);
    }
    mtr_ldap_result_free(&res);
    return MTR_OK;
}

static void
login_key(const caldav_dir_t *d, const char *user, const char *pw,
          size_t pw_len, unsigned char key[32])
{
    EVP_MD_CTX  *md = EVP_MD_CTX_new();
    unsigned int n = 32;

    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, d->salt, sizeof(d->salt));
    EVP_DigestUpdate(md, user, strlen(user) + 1);
    EVP_DigestUpdate(md, pw, pw_len);
    EVP_DigestFinal_ex(md, key, &n);
    EVP_MD_CTX_free(md);
}

static size_t
login_slot(const unsigned char key[32])
{
    size_t h;

    memcpy(&h, key, sizeof(h));
    return h % CALDAV_DIR_LOGIN_SLOTS;
}

int
caldav_dir_login(caldav_dir_t *d, const char *user, size_t user_len,
                 const char *pw, size_t pw_len, char *user_r, mtr_err_t *err)
{
    unsigned char      key[32];
    char               dn[1024];
    size_t             slot;
    time_t             now = time(NULL);
    mtr_ldap_t        *ul = NULL;
    mtr_ldap_opts_t    o;
    mtr_ldap_result_t *res = NULL;
    char              *pwz;
    int                rc, code;

    if (normalize(user, user_len, user_r) != MTR_OK) {
        mtr_err_set(err, "login name is not an address");
        return MTR_DECLINED;
    }
    if (pw_len == 0 || pw_len > CALDAV_DIR_MAX_PASSWORD
        || memchr(pw, '\0', pw_len) != NULL)
    {
        mtr_err_set(err, "empty or malformed password for %s", user_r);
        return MTR_DECLINED;
    }
    login_key(d, user_r, pw, pw_len, key);
    slot = login_slot(key);
    pthread_mutex_lock(&d->lock);
    rc = memcmp(d->logins[slot].key, key, 32) == 0
         && d->logins[slot].expires > now;
    pthread_mutex_unlock(&d->lock);
    if (rc) {
        mtr_wipe(key, sizeof(key));
        return MTR_OK;
    }

    rc = lookup(d, user_r, dn, sizeof(dn), NULL, 0, 1, err);
    if (rc != MTR_OK) {
        mtr_wipe(key, sizeof(key));
        return rc;
    }
    pwz = malloc(pw_len + 1);
    if (pwz == NULL) {
        mtr_wipe(key, sizeof(key));
        return mtr_err_set(err, "out of memory");
    }
    memcpy(pwz, pw, pw_len);
    pwz[pw_len] = '\0';
    memset(&o, 0, sizeof(o));
    o.uri = d->uri;
    o.bind_dn = dn;
    o.bind_pw = pwz;
    o.timeout_ms = d->timeout_ms;
    rc = mtr_ldap_create(&ul, &o, err);
    mtr_wipe(pwz, pw_len);
    free(pwz);
    if (rc != MTR_OK) {
        mtr_wipe(key, sizeof(key));
        return MTR_ERROR;
    }
    {
        static const char *const none[] = { "1.1", NULL };

        rc = mtr_ldap_search(ul, dn, MTR_LDAP_SCOPE_BASE, NULL, none, 1, &res,
                             err);
    }
    code = mtr_ldap_last_result(ul);
    mtr_ldap_result_free(&res);
    mtr_ldap_destroy(&ul);
    if (rc != MTR_OK) {
        mtr_wipe(key, sizeof(key));
        if (code == LDAP_INVALID_CREDENTIALS_CODE
            || code == LDAP_UNWILLING_CODE) {
            mtr_err_set(err, "wrong password for %s", user_r);
            return MTR_DECLINED;
        }
        return MTR_ERROR;
    }
    pthread_mutex_lock(&d->lock);
    memcpy(d->logins[slot].key, key, 32);
    d->logins[slot].expires = now + d->ttl;
    pthread_mutex_unlock(&d->lock);
    mtr_wipe(key, sizeof(key));
    return MTR_OK;
}

int
caldav_dir_user_exists(void *arg, const char *user, char *displayname_r,
                       size_t displayname_size)
{
    caldav_dir_t *d = arg;
    time_t        now = time(NULL);
    principal_t  *p;
    char          dn[1024];
    mtr_err_t     err;
    int           exists = -1, rc;

    pthread_mutex_lock(&d->lock);
    for (p = d->principals; p; p = p->next) {
        if (strcmp(p->user, user) == 0 && p->expires > now) {
            exists = p->exists;
            break;
        }
    }
    pthread_mutex_unlock(&d->lock);
    if (exists >= 0 && displayname_r == NULL) {
        return exists;
    }
    rc = lookup(d, user, dn, sizeof(dn), displayname_r, displayname_size, 0,
                &err);
    if (rc == MTR_ERROR) {
        return 0;
    }
    exists = rc == MTR_OK;
    pthread_mutex_lock(&d->lock);
    if (d->nprincipals > 10000) {
        while (d->principals != NULL) {
            principal_t *n = d->principals->next;

            free(d->principals->user);
            free(d->principals);
            d->principals = n;
        }
        d->nprincipals = 0;
    }
    p = calloc(1, sizeof(*p));
    if (p != NULL && (p->user = strdup(user)) != NULL) {
        p->exists = exists;
        p->expires = now + d->ttl;
        p->next = d->principals;
        d->principals = p;
        d->nprincipals++;
    } else {
        free(p);
    }
    pthread_mutex_unlock(&d->lock);
    return exists;
}

/* ---------------------------------------------------------------- */
/* the global address book                                            */

static const char *const *
values_of(const mtr_ldap_entry_t *e, const char *attr)
{
    for (size_t i = 0; i < e->nattrs; i++) {
        if (strcasecmp(e->attrs[i].name, attr) == 0) {
            return (const char *const *) e->attrs[i].values;
        }
    }
    return NULL;
}

static int
gal_entry_build(const mtr_ldap_entry_t *e, gal_entry_t *g)
{
    caldav_vcard_fields_t f;
    caldav_buf_t          b;
    const char           *mail = mtr_ldap_entry_get(e, "mail");
    const char           *emails[34];
    const char *const    *v;
    size_t                n = 0;
    unsigned char         h[32];
    unsigned int          hl = 32;

    if (mail == NULL) {
        return MTR_DECLINED;
    }
    memset(&f, 0, sizeof(f));
    f.uid = mail;
    f.fn = mtr_ldap_entry_get(e, "displayName");
    if (f.fn == NULL) {
        f.fn = mtr_ldap_entry_get(e, "cn");
    }
    if (f.fn == NULL) {
        f.fn = mail;
    }
    f.family = mtr_ldap_entry_get(e, "sn");
    f.given = mtr_ldap_entry_get(e, "givenName");
    f.org = mtr_ldap_entry_get(e, "o");
    f.title = mtr_ldap_entry_get(e, "title");
    emails[n++] = mail;
    v = values_of(e, "mortarMailAlias");
    for (; v && *v && n < 33; v++) {
        emails[n++] = *v;
    }
    emails[n] = NULL;
    f.emails = emails;
    f.phones = values_of(e, "telephoneNumber");
    f.mobiles = values_of(e, "mobile");
    caldav_buf_init(&b);
    if (caldav_vcard_build(&f, &b) != MTR_OK || b.failed) {
        caldav_buf_free(&b);
        return MTR_ERROR;
    }
    g->uid = strdup(mail);
    g->vcard = caldav_buf_steal(&b, &g->len);
    if (g->uid == NULL || g->vcard == NULL) {
        free(g->uid);
        free(g->vcard);
        return MTR_ERROR;
    }
    EVP_Digest(g->vcard, g->len, h, &hl, EVP_sha256(), NULL);
    g->etag[0] = '"';
    for (size_t i = 0; i < 16; i++) {
        snprintf(g->etag + 1 + 2 * i, 3, "%02x", h[i]);
    }
    strcat(g->etag, "\"");
    return MTR_OK;
}

static int
gal_cmp(const void *a, const void *b)
{
    return strcmp(((const gal_entry_t *) a)->uid,
                  ((const gal_entry_t *) b)->uid);
}

static gal_snap_t *
gal_load(caldav_dir_t *d, const char *domain, mtr_err_t *err)
{
    static const char *const attrs[] = {
        "mail",  "mortarMailAlias", "displayName", "cn", "sn", "givenName", "o",
        "title", "telephoneNumber", "mobile",      NULL
    };
    char               esc[600], base[1024];
    mtr_ldap_t        *l = service(d, err);
    mtr_ldap_result_t *res = NULL;
    gal_snap_t        *s;
    int                rc;

    if (l == NULL) {
        return NULL;
    }
    if (mtr_ldap_escape_dn(domain, strlen(domain), esc, sizeof(esc), NULL, err)
        != MTR_OK)
    {
        return NULL;
    }
    if (snprintf(base, sizeof(base), "ou=users,mortarDomainName=%s,%s", esc,
                 d->domains_dn)
        >= (int) sizeof(base))
    {
        mtr_err_set(err, "directory base for %s too long", domain);
        return NULL;
    }
    rc = mtr_ldap_search(l, base, MTR_LDAP_SCOPE_ONE,
                         "(&(objectClass=mortarUser)"
                         "(mortarAccountStatus=active))",
                         attrs, CALDAV_DIR_GAL_MAX, &res, err);
    if (rc == MTR_ERROR) {
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL || (s->domain = strdup(domain)) == NULL) {
        free(s);
        mtr_ldap_result_free(&res);
        mtr_err_set(err, "out of memory");
        return NULL;
    }
    if (res != NULL && res->nentries > 0) {
        s->v = calloc(res->nentries, sizeof(*s->v));
        if (s->v == NULL) {
            gal_snap_free(s);
            mtr_ldap_result_free(&res);
            mtr_err_set(err, "out of memory");
            return NULL;
        }
        for (size_t i = 0; i < res->nentries; i++) {
            if (gal_entry_build(&res->entries[i], &s->v[s->n]) == MTR_OK) {
                s->n++;
            }
        }
        qsort(s->v, s->n, sizeof(*s->v), gal_cmp);
    }
    mtr_ldap_result_free(&res);
    return s;
}

static void
gal_release(caldav_dir_t *d, gal_snap_t *s)
{
    int gone;

    pthread_mutex_lock(&d->lock);
    gone = --s->refs == 0;
    pthread_mutex_unlock(&d->lock);
    if (gone) {
        gal_snap_free(s);
    }
}

int
caldav_dir_gal(void *arg, const char *domain,
               void (*each)(const char *uid, const char *vcard, size_t len,
                            const char *etag, void *ctx),
               void *ctx, mtr_err_t *err)
{
    caldav_dir_t *d = arg;
    gal_snap_t   *s, **pp, *old = NULL;
    time_t        now = time(NULL);

    pthread_mutex_lock(&d->lock);
    for (s = d->gals; s; s = s->next) {
        if (strcmp(s->domain, domain) == 0 && s->expires > now) {
            s->refs++;
            break;
        }
    }
    pthread_mutex_unlock(&d->lock);

    if (s == NULL) {
        s = gal_load(d, domain, err);
        if (s == NULL) {
            return MTR_ERROR;
        }
        s->expires = now + d->ttl;
        s->refs = 2; /* the list's and ours */
        pthread_mutex_lock(&d->lock);
        for (pp = &d->gals; *pp; pp = &(*pp)->next) {
            if (strcmp((*pp)->domain, domain) == 0) {
                old = *pp;
                *pp = old->next;
                break;
            }
        }
        s->next = d->gals;
        d->gals = s;
        pthread_mutex_unlock(&d->lock);
        if (old != NULL) {
            gal_release(d, old);
        }
    }
    for (size_t i = 0; i < s->n; i++) {
        each(s->v[i].uid, s->v[i].vcard, s->v[i].len, s->v[i].etag, ctx);
    }
    gal_release(d, s);
    return MTR_OK;
}
