/*
 * mtr_ldap.c -- blocking LDAP client over libldap, and RFC 4515/4514
 * escaping.
 *
 * Core: no logging.  Every operation goes through mtr_ldap_run(), which
 * connects lazily, and on a "server went away" result drops the handle,
 * reconnects, rebinds and runs the operation once more -- once only, so a
 * server that really is down costs two attempts, not a loop.  A stale
 * connection (slapd restarted, idle timeout, a load balancer that forgot
 * us) is the case this exists for.
 * Covered by tests/unit/test_mtr_ldap.c (libldap mocked with -Wl,--wrap)
 * and tests/unit/test_mtr_ldap_escape.c.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <lber.h>
#include <ldap.h>

#include "mtr_ldap.h"

/* Room for a DN, filter or diagnostic quoted in an error message. */
#define MTR_LDAP_QUOTE_MAX 160

struct mtr_ldap_s {
    LDAP  *ld;
    char  *uri;
    char  *bind_dn;
    char  *bind_pw;
    size_t bind_pw_len;
    int    timeout_ms;
    int    last_rc;
    int    bind_failed; /* the last mtr_ldap_run() failed before its op */
};

/* One synchronous libldap call, run (and maybe re-run) by mtr_ldap_run. */
typedef int (*mtr_ldap_op_pt)(LDAP *ld, void *ctx);

typedef struct {
    const char    *base;
    int            scope;
    const char    *filter;
    char         **attrs;
    int            size_limit;
    struct timeval tv;
    LDAPMessage   *res;
} mtr_ldap_search_ctx_t;

typedef struct {
    const char *dn;
    LDAPMod   **mods;
} mtr_ldap_mods_ctx_t;

typedef struct {
    const char *dn;
    const char *new_pw;
} mtr_ldap_passwd_ctx_t;

static int         mtr_ldap_connect(mtr_ldap_t *l, mtr_err_t *err);
static void        mtr_ldap_drop(mtr_ldap_t *l);
static int         mtr_ldap_run(mtr_ldap_t *l, int idempotent, const char *what,
                                const char *dn, const char *filter, mtr_ldap_op_pt op,
                                void *ctx, mtr_err_t *err);
static void        mtr_ldap_diag(LDAP *ld, char *buf, size_t size);
static const char *mtr_ldap_quote(char *buf, size_t size, const char *s);
static int         mtr_ldap_convert(LDAP *ld, LDAPMessage *msg,
                                    mtr_ldap_result_t **res_r);
static int         mtr_ldap_convert_entry(LDAP *ld, LDAPMessage *e,
                                          mtr_ldap_entry_t *ent);
static int         mtr_ldap_build_mods(const mtr_ldap_mod_t *mods, size_t nmods,
                                       int for_add, LDAPMod ***mods_r, mtr_err_t *err);
static int         mtr_ldap_search_op(LDAP *ld, void *ctx);
static int         mtr_ldap_add_op(LDAP *ld, void *ctx);
static int         mtr_ldap_modify_op(LDAP *ld, void *ctx);
static int         mtr_ldap_delete_op(LDAP *ld, void *ctx);
static int         mtr_ldap_passwd_op(LDAP *ld, void *ctx);
static int         mtr_ldap_escape(const char *in, size_t len, char *out,
                                   size_t out_size, size_t *out_len_r, int dn,
                                   mtr_err_t *err);

int
mtr_ldap_create(mtr_ldap_t **lp, const mtr_ldap_opts_t *opts, mtr_err_t *err)
{
    mtr_ldap_t *l;

    *lp = NULL;

    if (opts == NULL || opts->uri == NULL || opts->uri[0] == '\0') {
        return mtr_err_set(err, "ldap: no server uri");
    }

    if (opts->timeout_ms < 0 || opts->timeout_ms > MTR_LDAP_TIMEOUT_MAX) {
        return mtr_err_set(err, "ldap: timeout %d ms out of range 0..%d",
                           opts->timeout_ms, MTR_LDAP_TIMEOUT_MAX);
    }

    l = calloc(1, sizeof(*l));
    if (l == NULL) {
        goto nomem;
    }

    l->timeout_ms =
        opts->timeout_ms != 0 ? opts->timeout_ms : MTR_LDAP_TIMEOUT_DEFAULT;
    l->last_rc = LDAP_SUCCESS;

    l->uri = strdup(opts->uri);
    if (l->uri == NULL) {
        goto nomem;
    }

    if (opts->bind_dn != NULL) {
        l->bind_dn = strdup(opts->bind_dn);
        if (l->bind_dn == NULL) {
            goto nomem;
        }
    }

    if (opts->bind_pw != NULL) {
        l->bind_pw_len = strlen(opts->bind_pw);
        l->bind_pw = strdup(opts->bind_pw);
        if (l->bind_pw == NULL) {
            goto nomem;
        }
    }

    *lp = l;

    return MTR_OK;

nomem:

    mtr_ldap_destroy(&l);

    return mtr_err_set(err, "ldap: out of memory");
}

void
mtr_ldap_destroy(mtr_ldap_t **lp)
{
    mtr_ldap_t *l = *lp;

    if (l == NULL) {
        return;
    }

    mtr_ldap_drop(l);

    if (l->bind_pw != NULL) {
        mtr_wipe(l->bind_pw, l->bind_pw_len);
        free(l->bind_pw);
    }

    free(l->bind_dn);
    free(l->uri);
    free(l);

    *lp = NULL;
}

int
mtr_ldap_last_result(const mtr_ldap_t *l)
{
    return l->last_rc;
}

int
mtr_ldap_search(mtr_ldap_t *l, const char *base, int scope, const char *filter,
                const char *const *attrs, size_t size_limit,
                mtr_ldap_result_t **res_r, mtr_err_t *err)
{
    mtr_ldap_search_ctx_t ctx;
    int                   rc;

    *res_r = NULL;

    if (base == NULL) {
        l->last_rc = LDAP_PARAM_ERROR;
        return mtr_err_set(err, "ldap search: no base");
    }

    if (scope != MTR_LDAP_SCOPE_BASE && scope != MTR_LDAP_SCOPE_ONE
        && scope != MTR_LDAP_SCOPE_SUB)
    {
        l->last_rc = LDAP_PARAM_ERROR;
        return mtr_err_set(err, "ldap search: invalid scope %d", scope);
    }

    if (size_limit > INT_MAX) {
        l->last_rc = LDAP_PARAM_ERROR;
        return mtr_err_set(err, "ldap search: size limit %zu too large",
                           size_limit);
    }

    memset(&ctx, 0, sizeof(ctx));
    ctx.base = base;
    ctx.scope = scope == MTR_LDAP_SCOPE_BASE  ? LDAP_SCOPE_BASE
                : scope == MTR_LDAP_SCOPE_ONE ? LDAP_SCOPE_ONELEVEL
                                              : LDAP_SCOPE_SUBTREE;
    ctx.filter = filter != NULL ? filter : "(objectClass=*)";
    /* libldap's prototype predates const; it does not write to attrs. */
    ctx.attrs = (char **) attrs;
    ctx.size_limit = (int) size_limit;
    ctx.tv.tv_sec = l->timeout_ms / 1000;
    ctx.tv.tv_usec = (l->timeout_ms % 1000) * 1000;

    rc = mtr_ldap_run(l, 1, "search base", base, ctx.filter, mtr_ldap_search_op,
                      &ctx, err);

    if (rc != MTR_OK) {
        /* A missing base is "not mine", e.g. an unknown mail domain. */
        return l->last_rc == LDAP_NO_SUCH_OBJECT && !l->bind_failed
                   ? MTR_DECLINED
                   : MTR_ERROR;
    }

    rc = mtr_ldap_convert(l->ld, ctx.res, res_r);
    ldap_msgfree(ctx.res);

    if (rc != MTR_OK) {
        l->last_rc = LDAP_NO_MEMORY;
        return mtr_err_set(err, "ldap search: out of memory");
    }

    return MTR_OK;
}

void
mtr_ldap_result_free(mtr_ldap_result_t **resp)
{
    mtr_ldap_result_t *res = *resp;
    size_t             i, j, k;

    if (res == NULL) {
        return;
    }

    for (i = 0; i < res->nentries; i++) {
        mtr_ldap_entry_t *e = &res->entries[i];

        for (j = 0; j < e->nattrs; j++) {
            mtr_ldap_attr_t *a = &e->attrs[j];

            for (k = 0; k < a->nvalues; k++) {
                free(a->values[k]);
            }

            free(a->values);
            free(a->lens);
            free(a->name);
        }

        free(e->attrs);
        free(e->dn);
    }

    free(res->entries);
    free(res);

    *resp = NULL;
}

const char *
mtr_ldap_entry_get(const mtr_ldap_entry_t *e, const char *attr)
{
    size_t i;

    for (i = 0; i < e->nattrs; i++) {
        if (strcasecmp(e->attrs[i].name, attr) == 0) {
            return e->attrs[i].nvalues > 0 ? e->attrs[i].values[0] : NULL;
        }
    }

    return NULL;
}

int
mtr_ldap_add(mtr_ldap_t *l, const char *dn, const mtr_ldap_mod_t *mods,
             size_t nmods, mtr_err_t *err)
{
    mtr_ldap_mods_ctx_t ctx;
    int                 rc;

    if (dn == NULL) {
        l->last_rc = LDAP_PARAM_ERROR;
        return mtr_err_set(err, "ldap add: no dn");
    }

    ctx.dn = dn;

    if (mtr_ldap_build_mods(mods, nmods, 1, &ctx.mods, err) != MTR_OK) {
        l->last_rc = LDAP_PARAM_ERROR;
        return MTR_ERROR;
    }

    rc = mtr_ldap_run(l, 0, "add", dn, NULL, mtr_ldap_add_op, &ctx, err);

    free(ctx.mods);

    return rc;
}

int
mtr_ldap_modify(mtr_ldap_t *l, const char *dn, const mtr_ldap_mod_t *mods,
                size_t nmods, mtr_err_t *err)
{
    mtr_ldap_mods_ctx_t ctx;
    int                 rc;

    if (dn == NULL) {
        l->last_rc = LDAP_PARAM_ERROR;
        return mtr_err_set(err, "ldap modify: no dn");
    }

    ctx.dn = dn;

    if (mtr_ldap_build_mods(mods, nmods, 0, &ctx.mods, err) != MTR_OK) {
        l->last_rc = LDAP_PARAM_ERROR;
        return MTR_ERROR;
    }

    rc = mtr_ldap_run(l, 0, "modify", dn, NULL, mtr_ldap_modify_op, &ctx, err);

    free(ctx.mods);

    return rc;
}

int
mtr_ldap_delete(mtr_ldap_t *l, const char *dn, mtr_err_t *err)
{
    if (dn == NULL) {
        l->last_rc = LDAP_PARAM_ERROR;
        return mtr_err_set(err, "ldap delete: no dn");
    }

    /* The op only needs the DN; it travels as the context. */
    return mtr_ldap_run(l, 0, "delete", dn, NULL, mtr_ldap_delete_op,
                        (void *) dn, err);
}

int
mtr_ldap_passwd(mtr_ldap_t *l, const char *dn, const char *new_pw,
                mtr_err_t *err)
{
    mtr_ldap_passwd_ctx_t ctx;

    if (dn == NULL || new_pw == NULL || new_pw[0] == '\0') {
        l->last_rc = LDAP_PARAM_ERROR;
        return mtr_err_set(err, "ldap password modify: no dn or no password");
    }

    ctx.dn = dn;
    ctx.new_pw = new_pw;

    return mtr_ldap_run(l, 1, "password modify", dn, NULL, mtr_ldap_passwd_op,
                        &ctx, err);
}

int
mtr_ldap_escape_filter(const char *in, size_t len, char *out, size_t out_size,
                       size_t *out_len_r, mtr_err_t *err)
{
    return mtr_ldap_escape(in, len, out, out_size, out_len_r, 0, err);
}

int
mtr_ldap_escape_dn(const char *in, size_t len, char *out, size_t out_size,
                   size_t *out_len_r, mtr_err_t *err)
{
    return mtr_ldap_escape(in, len, out, out_size, out_len_r, 1, err);
}

/*
 * Open and bind a new handle.  ldap_initialize() only parses the URI: the
 * TCP connection is made by the bind, so "server down" shows up there.
 */
static int
mtr_ldap_connect(mtr_ldap_t *l, mtr_err_t *err)
{
    LDAP          *ld = NULL;
    struct berval  cred;
    struct timeval tv;
    int            rc, version = LDAP_VERSION3;
    int            limit = (l->timeout_ms + 999) / 1000;
    char           qdn[MTR_LDAP_QUOTE_MAX], diag[MTR_LDAP_QUOTE_MAX];
    const char    *opt;

    rc = ldap_initialize(&ld, l->uri);
    if (rc != LDAP_SUCCESS || ld == NULL) {
        l->last_rc = rc != LDAP_SUCCESS ? rc : LDAP_NO_MEMORY;
        return mtr_err_set(err, "ldap initialize \"%s\": %s",
                           mtr_ldap_quote(qdn, sizeof(qdn), l->uri),
                           ldap_err2string(l->last_rc));
    }

    tv.tv_sec = l->timeout_ms / 1000;
    tv.tv_usec = (l->timeout_ms % 1000) * 1000;

    /* Referrals off: a referral would be chased with our credentials. */
    if (ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version)
        != LDAP_OPT_SUCCESS)
    {
        opt = "protocol version";
    } else if (ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv)
               != LDAP_OPT_SUCCESS)
    {
        opt = "network timeout";
    } else if (ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv) != LDAP_OPT_SUCCESS) {
        opt = "timeout";
    } else if (ldap_set_option(ld, LDAP_OPT_TIMELIMIT, &limit)
               != LDAP_OPT_SUCCESS) {
        opt = "time limit";
    } else if (ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF)
               != LDAP_OPT_SUCCESS)
    {
        opt = "referrals";
    } else {
        opt = NULL;
    }

    if (opt != NULL) {
        ldap_unbind_ext_s(ld, NULL, NULL);
        l->last_rc = LDAP_LOCAL_ERROR;
        return mtr_err_set(err, "ldap %s: cannot set option %s",
                           mtr_ldap_quote(qdn, sizeof(qdn), l->uri), opt);
    }

    cred.bv_val = l->bind_pw != NULL ? l->bind_pw : (char *) "";
    cred.bv_len = l->bind_pw_len;

    rc = ldap_sasl_bind_s(ld, l->bind_dn != NULL ? l->bind_dn : "",
                          LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
    l->last_rc = rc;

    if (rc != LDAP_SUCCESS) {
        mtr_ldap_diag(ld, diag, sizeof(diag));
        ldap_unbind_ext_s(ld, NULL, NULL);

        return mtr_err_set(err, "ldap bind as \"%s\" to %s: %s%s%s%s",
                           l->bind_dn != NULL
                               ? mtr_ldap_quote(qdn, sizeof(qdn), l->bind_dn)
                               : "(anonymous)",
                           l->uri, ldap_err2string(rc), diag[0] ? " (" : "",
                           diag, diag[0] ? ")" : "");
    }

    l->ld = ld;

    return MTR_OK;
}

static void
mtr_ldap_drop(mtr_ldap_t *l)
{
    if (l->ld != NULL) {
        ldap_unbind_ext_s(l->ld, NULL, NULL);
        l->ld = NULL;
    }
}

static int
mtr_ldap_gone(int rc)
{
    return rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR
           || rc == LDAP_UNAVAILABLE;
}

/*
 * Run op on a bound handle, connecting first if needed.  If the server went
 * away, the handle is dropped; an idempotent op (search, password set) is
 * retried once on a fresh connection.  A write that may have been applied
 * before the connection broke (add, modify, delete) is never resent: the
 * caller sees the error, and the next call reconnects (as mtr_redis does).
 * Returns MTR_OK, or MTR_ERROR with err set; l->last_rc holds the LDAP code.
 */
static int
mtr_ldap_run(mtr_ldap_t *l, int idempotent, const char *what, const char *dn,
             const char *filter, mtr_ldap_op_pt op, void *ctx, mtr_err_t *err)
{
    int  attempt, rc = LDAP_OTHER;
    char qdn[MTR_LDAP_QUOTE_MAX], qfilter[MTR_LDAP_QUOTE_MAX];
    char diag[MTR_LDAP_QUOTE_MAX];

    diag[0] = '\0';
    l->bind_failed = 0;

    for (attempt = 0; attempt < 2; attempt++) {
        if (l->ld == NULL && mtr_ldap_connect(l, err) != MTR_OK) {
            l->bind_failed = 1;
            return MTR_ERROR;
        }

        rc = op(l->ld, ctx);
        l->last_rc = rc;

        if (rc == LDAP_SUCCESS) {
            return MTR_OK;
        }

        mtr_ldap_diag(l->ld, diag, sizeof(diag));

        if (!mtr_ldap_gone(rc)) {
            break;
        }

        /* Whatever happens next, this handle is dead: never reuse it. */
        mtr_ldap_drop(l);

        if (!idempotent) {
            break;
        }
    }

    mtr_ldap_quote(qdn, sizeof(qdn), dn);

    if (filter != NULL) {
        return mtr_err_set(
            err, "ldap %s \"%s\" filter \"%s\" on %s: %s%s%s%s", what, qdn,
            mtr_ldap_quote(qfilter, sizeof(qfilter), filter), l->uri,
            ldap_err2string(rc), diag[0] ? " (" : "", diag, diag[0] ? ")" : "");
    }

    return mtr_err_set(err, "ldap %s \"%s\" on %s: %s%s%s%s", what, qdn, l->uri,
                       ldap_err2string(rc), diag[0] ? " (" : "", diag,
                       diag[0] ? ")" : "");
}

/* The server's diagnostic message of the last result, sanitized. */
static void
mtr_ldap_diag(LDAP *ld, char *buf, size_t size)
{
    char *msg = NULL;

    buf[0] = '\0';

    if (ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &msg)
            == LDAP_OPT_SUCCESS
        && msg != NULL)
    {
        mtr_sanitize(buf, size, msg, strlen(msg));
        ldap_memfree(msg);
    }
}

/* DNs and filters may carry wire data: mask them before they reach a log. */
static const char *
mtr_ldap_quote(char *buf, size_t size, const char *s)
{
    mtr_sanitize(buf, size, s, s != NULL ? strlen(s) : 0);
    return buf;
}

static int
mtr_ldap_search_op(LDAP *ld, void *ctx)
{
    mtr_ldap_search_ctx_t *c = ctx;
    int                    rc;

    c->res = NULL;

    rc = ldap_search_ext_s(ld, c->base, c->scope, c->filter, c->attrs, 0, NULL,
                           NULL, &c->tv, c->size_limit, &c->res);

    /* Partial results (size limit hit) are thrown away: no silent cut. */
    if (rc != LDAP_SUCCESS && c->res != NULL) {
        ldap_msgfree(c->res);
        c->res = NULL;
    }

    return rc;
}

static int
mtr_ldap_add_op(LDAP *ld, void *ctx)
{
    mtr_ldap_mods_ctx_t *c = ctx;

    return ldap_add_ext_s(ld, c->dn, c->mods, NULL, NULL);
}

static int
mtr_ldap_modify_op(LDAP *ld, void *ctx)
{
    mtr_ldap_mods_ctx_t *c = ctx;

    return ldap_modify_ext_s(ld, c->dn, c->mods, NULL, NULL);
}

static int
mtr_ldap_delete_op(LDAP *ld, void *ctx)
{
    return ldap_delete_ext_s(ld, (const char *) ctx, NULL, NULL);
}

static int
mtr_ldap_passwd_op(LDAP *ld, void *ctx)
{
    mtr_ldap_passwd_ctx_t *c = ctx;
    struct berval          user, newpw, generated;
    int                    rc;

    user.bv_val = (char *) c->dn;
    user.bv_len = strlen(c->dn);
    newpw.bv_val = (char *) c->new_pw;
    newpw.bv_len = strlen(c->new_pw);
    generated.bv_val = NULL;
    generated.bv_len = 0;

    /*
     * No old password: the bound identity (an administrator) is authorized
     * by the server's ACLs.  libldap insists on somewhere to put a
     * server-generated password; we sent one, so none is expected.
     */
    rc = ldap_passwd_s(ld, &user, NULL, &newpw, &generated, NULL, NULL);

    if (generated.bv_val != NULL) {
        mtr_wipe(generated.bv_val, generated.bv_len);
        ldap_memfree(generated.bv_val);
    }

    return rc;
}

/*
 * Build the NULL-terminated LDAPMod* list libldap wants.  One allocation:
 * the pointer list followed by the LDAPMod structs; the values point into
 * the caller's arrays.
 */
static int
mtr_ldap_build_mods(const mtr_ldap_mod_t *mods, size_t nmods, int for_add,
                    LDAPMod ***mods_r, mtr_err_t *err)
{
    LDAPMod **list, *m;
    size_t    i, nvalues;

    *mods_r = NULL;

    if (mods == NULL || nmods == 0) {
        return mtr_err_set(err, "ldap %s: no %s", for_add ? "add" : "modify",
                           for_add ? "attributes" : "modifications");
    }

    /* @UNSAFE: (nmods + 1) pointers then nmods structs, overflow-checked. */
    if (nmods > (SIZE_MAX - sizeof(LDAPMod *))
                    / (sizeof(LDAPMod *) + sizeof(LDAPMod)))
    {
        return mtr_err_set(err, "ldap: too many modifications");
    }

    list = calloc(1, (nmods + 1) * sizeof(LDAPMod *) + nmods * sizeof(LDAPMod));
    if (list == NULL) {
        return mtr_err_set(err, "ldap: out of memory");
    }

    m = (LDAPMod *) (void *) (list + nmods + 1);

    for (i = 0; i < nmods; i++) {
        const mtr_ldap_mod_t *mod = &mods[i];

        if (mod->attr == NULL || mod->attr[0] == '\0') {
            free(list);
            return mtr_err_set(err, "ldap: modification %zu has no attribute",
                               i);
        }

        nvalues = 0;
        if (mod->values != NULL) {
            while (mod->values[nvalues] != NULL) {
                nvalues++;
            }
        }

        switch (mod->op) {
        case MTR_LDAP_MOD_ADD:
            m[i].mod_op = LDAP_MOD_ADD;
            break;
        case MTR_LDAP_MOD_REPLACE:
            m[i].mod_op = LDAP_MOD_REPLACE;
            break;
        case MTR_LDAP_MOD_DELETE:
            m[i].mod_op = LDAP_MOD_DELETE;
            break;
        default:
            free(list);
            return mtr_err_set(err, "ldap: invalid operation %d for \"%s\"",
                               mod->op, mod->attr);
        }

        if ((for_add && mod->op != MTR_LDAP_MOD_ADD)
            || (mod->op == MTR_LDAP_MOD_ADD && nvalues == 0))
        {
            free(list);
            return mtr_err_set(err, "ldap %s: attribute \"%s\" needs %s",
                               for_add ? "add" : "modify", mod->attr,
                               nvalues == 0 ? "values" : "MTR_LDAP_MOD_ADD");
        }

        /* libldap's LDAPMod predates const; it does not write through. */
        m[i].mod_type = (char *) mod->attr;
        m[i].mod_values = nvalues != 0 ? (char **) mod->values : NULL;
        list[i] = &m[i];
    }

    list[nmods] = NULL;
    *mods_r = list;

    return MTR_OK;
}

static int
mtr_ldap_convert(LDAP *ld, LDAPMessage *msg, mtr_ldap_result_t **res_r)
{
    mtr_ldap_result_t *res;
    LDAPMessage       *e;
    size_t             n = 0;

    *res_r = NULL;

    res = calloc(1, sizeof(*res));
    if (res == NULL) {
        return MTR_ERROR;
    }

    for (e = ldap_first_entry(ld, msg); e != NULL; e = ldap_next_entry(ld, e)) {
        n++;
    }

    if (n != 0) {
        res->entries = calloc(n, sizeof(mtr_ldap_entry_t));
        if (res->entries == NULL) {
            free(res);
            return MTR_ERROR;
        }
    }

    for (e = ldap_first_entry(ld, msg); e != NULL && res->nentries < n;
         e = ldap_next_entry(ld, e))
    {
        /* Counted first, so a failure leaves a result_free()-able prefix. */
        if (mtr_ldap_convert_entry(ld, e, &res->entries[res->nentries++])
            != MTR_OK) {
            mtr_ldap_result_free(&res);
            return MTR_ERROR;
        }
    }

    *res_r = res;

    return MTR_OK;
}

static int
mtr_ldap_convert_entry(LDAP *ld, LDAPMessage *e, mtr_ldap_entry_t *ent)
{
    BerElement      *ber = NULL;
    struct berval  **vals;
    mtr_ldap_attr_t *a, *attrs;
    char            *dn, *name;
    size_t           size = 0, k, n;
    int              rc = MTR_ERROR;

    dn = ldap_get_dn(ld, e);
    if (dn == NULL) {
        return MTR_ERROR;
    }

    ent->dn = strdup(dn);
    ldap_memfree(dn);

    if (ent->dn == NULL) {
        return MTR_ERROR;
    }

    for (name = ldap_first_attribute(ld, e, &ber); name != NULL;
         name = ldap_next_attribute(ld, e, ber))
    {
        if (ent->nattrs == size) {
            size = size != 0 ? size * 2 : 8;
            attrs = realloc(ent->attrs, size * sizeof(mtr_ldap_attr_t));
            if (attrs == NULL) {
                ldap_memfree(name);
                goto done;
            }
            ent->attrs = attrs;
        }

        a = &ent->attrs[ent->nattrs++];
        memset(a, 0, sizeof(*a));

        a->name = strdup(name);
        vals = ldap_get_values_len(ld, e, name);
        ldap_memfree(name);

        if (a->name == NULL) {
            ldap_value_free_len(vals);
            goto done;
        }

        n = 0;
        while (vals != NULL && vals[n] != NULL) {
            n++;
        }

        a->values = calloc(n + 1, sizeof(char *));
        a->lens = calloc(n + 1, sizeof(size_t));
        if (a->values == NULL || a->lens == NULL) {
            ldap_value_free_len(vals);
            goto done;
        }

        for (k = 0; k < n; k++) {
            a->values[k] = malloc(vals[k]->bv_len + 1);
            if (a->values[k] == NULL) {
                ldap_value_free_len(vals);
                goto done;
            }

            if (vals[k]->bv_len != 0) {
                memcpy(a->values[k], vals[k]->bv_val, vals[k]->bv_len);
            }
            a->values[k][vals[k]->bv_len] = '\0';
            a->lens[k] = vals[k]->bv_len;
            a->nvalues++;
        }

        ldap_value_free_len(vals);
    }

    rc = MTR_OK;

done:

    if (ber != NULL) {
        ber_free(ber, 0);
    }

    return rc;
}

static int
mtr_ldap_escape(const char *in, size_t len, char *out, size_t out_size,
                size_t *out_len_r, int dn, mtr_err_t *err)
{
    static const char hex[] = "0123456789abcdef";
    size_t            i, o = 0, need;
    unsigned char     c;
    int               mode; /* 0 copy, 1 backslash + byte, 2 \xx */

    if (out == NULL || out_size == 0) {
        return mtr_err_set(err, "ldap escape: no output buffer");
    }

    out[0] = '\0';

    if (in == NULL && len != 0) {
        return mtr_err_set(err, "ldap escape: no input");
    }

    for (i = 0; i < len; i++) {
        c = (unsigned char) in[i];

        if (!dn) {
            mode = (c == '*' || c == '(' || c == ')' || c == '\\' || c == '\0')
                       ? 2
                       : 0;

        } else if (c < 0x20 || c == 0x7f) {
            mode = 2;

        } else if (c == ',' || c == '+' || c == '"' || c == '\\' || c == '<'
                   || c == '>' || c == ';' || c == '='
                   || (i == 0 && (c == ' ' || c == '#'))
                   || (i == len - 1 && c == ' '))
        {
            mode = 1;

        } else {
            mode = 0;
        }

        need = (size_t) mode + 1;

        /* Keep one byte for the NUL; compare by subtraction. */
        if (need > out_size - 1 - o) {
            out[o] = '\0';
            return mtr_err_set(err,
                               "ldap escape: %zu bytes of input do not fit "
                               "in %zu bytes once escaped",
                               len, out_size);
        }

        if (mode == 2) {
            out[o++] = '\\';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 0x0f];
        } else {
            if (mode == 1) {
                out[o++] = '\\';
            }
            out[o++] = (char) c;
        }
    }

    out[o] = '\0';

    if (out_len_r != NULL) {
        *out_len_r = o;
    }

    return MTR_OK;
}
