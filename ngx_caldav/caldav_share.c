/*
 * caldav_share.c -- sharing of calendars and address books between the
 * users of one domain: the share-resource POST, the sharing properties and
 * the list of collections shared with a user (see caldav_share.h).
 *
 * Core (no host header).  Covered by tests/unit/test_caldav_handler.c and
 * tests/integration/test_dav_sharing.py.
 *
 * Two databases change per sharee, the owner's (the authority) and the
 * sharee's (a list for display), with no transaction spanning both.  The
 * order makes every failure harmless: a new share goes to the sharee's
 * list first, so an entry without a share behind it is at worst listed
 * nowhere (caldav_share_walk checks and drops it); a removal leaves the
 * owner's database first, so access ends even if the list update fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "caldav_share.h"
#include "caldav_xml.h"

/* One checked sharee of a POST. */
typedef struct {
    char addr[CALDAV_MAX_USER + 1];
    int  access;
} share_entry_t;

/* One entry of the user's shared-with-me list. */
typedef struct {
    char owner[CALDAV_MAX_USER + 1];
    char coll[CALDAV_STORE_MAX_NAME + 1];
    int  stale;
} listed_t;

static const char *
domain_of(const char *user)
{
    const char *at = strrchr(user, '@');

    return at ? at + 1 : "";
}

static int
shareable(const caldav_coll_t *coll)
{
    return coll->kind == CALDAV_COLL_CALENDAR
           || coll->kind == CALDAV_COLL_ADDRESSBOOK;
}

/*
 * Copy an address of len bytes to out (CALDAV_MAX_USER + 1 bytes) in
 * lower case when it is one: local@domain, both parts non-empty, no byte
 * a path, a store path pattern or a log could trip on.
 */
static int
addr_copy(const char *a, size_t len, char *out)
{
    const char *at = memchr(a, '@', len);

    if (len == 0 || len > CALDAV_MAX_USER || at == NULL || at == a
        || at == a + len - 1
        || memchr(at + 1, '@', len - (size_t) (at - a) - 1))
    {
        return MTR_ERROR;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char) a[i];

        if (ch <= 0x20 || ch == 0x7f || ch == '/' || ch == '\\' || ch == '%'
            || ch == '"' || ch == '<' || ch == '>' || ch == ',')
        {
            return MTR_ERROR;
        }
        out[i] = (char) (ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    }
    out[len] = '\0';
    return MTR_OK;
}

/*
 * The address an href names: "mailto:ADDRESS", or a principal URL
 * "[scheme://host]PREFIX/principals/ADDRESS/" (percent-decoded).
 */
static int
href_addr(const char *prefix, const char *href, char *out)
{
    char              path[CALDAV_MAX_PATH + 1];
    const char       *p = href;
    size_t            o = 0, plen = strlen(prefix);
    static const char principals[] = "/principals/";

    if (strncasecmp(p, "mailto:", 7) == 0) {
        return addr_copy(p + 7, strlen(p + 7), out);
    }
    if (caldav_href_path(p, path, sizeof(path)) != MTR_OK) {
        return MTR_ERROR;
    }
    o = strlen(path);
    if (o <= plen + sizeof(principals) - 1 || memcmp(path, prefix, plen) != 0
        || memcmp(path + plen, principals, sizeof(principals) - 1) != 0)
    {
        return MTR_ERROR;
    }
    p = path + plen + sizeof(principals) - 1;
    o = strlen(p);
    if (o > 0 && p[o - 1] == '/') {
        o--;
    }
    return addr_copy(p, o, out);
}

/* Does [p, p + len) hold the NUL-terminated needle? */
static int
bytes_hold(const char *p, size_t len, const char *needle)
{
    size_t nl = strlen(needle);

    for (size_t i = 0; nl <= len && i <= len - nl; i++) {
        if (memcmp(p + i, needle, nl) == 0) {
            return 1;
        }
    }
    return 0;
}

static const char *
access_name(int access)
{
    return access == CALDAV_SHARE_READ_WRITE ? "read-write"
           : access == CALDAV_SHARE_READ     ? "read"
                                             : "no-access";
}

int
caldav_share_is_post(const caldav_request_t *req)
{
    static const char *const generic[] = { "application/xml", "text/xml" };
    const char              *ct = req->content_type;

    if (ct == NULL) {
        return 0;
    }
    while (*ct == ' ' || *ct == '\t') {
        ct++;
    }
    if (strncasecmp(ct, "application/davsharing+xml", 26) == 0) {
        return 1;
    }
    for (size_t i = 0; i < sizeof(generic) / sizeof(generic[0]); i++) {
        size_t l = strlen(generic[i]);

        if (strncasecmp(ct, generic[i], l) == 0
            && (ct[l] == '\0' || ct[l] == ';' || ct[l] == ' ')
            && req->body != NULL
            && bytes_hold(req->body, req->body_len, "share-resource"))
        {
            return 1;
        }
    }
    return 0;
}

/* Check every sharee of body into v (CALDAV_XML_MAX_SHAREES entries). */
static int
sharees_check(const caldav_conf_t *conf, const char *owner,
              const caldav_req_body_t *body, share_entry_t *v, size_t *n_r,
              mtr_err_t *err)
{
    size_t n = 0;
    char   shown[128];

    for (const caldav_sharee_t *sh = body->sharees; sh; sh = sh->next) {
        share_entry_t *e = &v[n];

        if (n == CALDAV_XML_MAX_SHAREES) {
            return mtr_err_set(err, "more than %d sharees",
                               CALDAV_XML_MAX_SHAREES);
        }
        if (href_addr(conf->prefix, sh->href, e->addr) != MTR_OK) {
            mtr_sanitize(shown, sizeof(shown), sh->href, strlen(sh->href));
            return mtr_err_set(err,
                               "sharee %s is not a mailto: address or a "
                               "principal URL of this server",
                               shown);
        }
        if (strcasecmp(e->addr, owner) == 0) {
            return mtr_err_set(err, "%s owns this collection already", e->addr);
        }
        if (strcasecmp(domain_of(e->addr), domain_of(owner)) != 0) {
            return mtr_err_set(err,
                               "%s is not in %s: collections are shared "
                               "within a domain only",
                               e->addr, domain_of(owner));
        }
        if (conf->user_exists == NULL
            || !conf->user_exists(conf->user_ctx, e->addr, NULL, 0))
        {
            return mtr_err_set(err, "%s is not an active account of %s",
                               e->addr, domain_of(owner));
        }
        e->access = (int) sh->access;
        n++;
    }
    *n_r = n;
    return MTR_OK;
}

/* Record one share in both databases (see the top of this file). */
static int
share_apply_one(const caldav_conf_t *conf, caldav_share_store_fn store,
                const char *owner, const char *coll_name,
                const share_entry_t *e, mtr_err_t *err)
{
    caldav_store_t *st;

    for (int step = 0; step < 2; step++) {
        /* grant: sharee's list, then owner; revoke: owner, then list */
        int owner_side = (step == 0) == (e->access == CALDAV_SHARE_NO_ACCESS);

        st = store(conf, owner_side ? owner : e->addr, err);
        if (st == NULL) {
            return MTR_ERROR;
        }
        if (owner_side) {
            if (caldav_store_share_set(st, coll_name, e->addr, e->access, err)
                != MTR_OK) {
                return MTR_ERROR;
            }
        } else if (caldav_store_shared_with_me_set(st, owner, coll_name,
                                                   e->access, err)
                   != MTR_OK)
        {
            return MTR_ERROR;
        }
    }
    return MTR_OK;
}

int
caldav_share_post(const caldav_conf_t *conf, caldav_share_store_fn store,
                  const caldav_request_t *req, const char *owner,
                  const caldav_coll_t *coll, int *status_r,
                  const char **precond_r, mtr_err_t *err)
{
    caldav_req_body_t *body = NULL;
    share_entry_t     *v = NULL;
    size_t             n = 0;
    int                rc = MTR_ERROR;

    *precond_r = NULL;
    *status_r = 403;
    if (req->user == NULL || strcmp(req->user, owner) != 0) {
        *precond_r = "D:need-privileges";
        return mtr_err_set(err, "only the owner of a collection can share it");
    }
    if (!shareable(coll)) {
        *precond_r = "D:need-privileges";
        return mtr_err_set(err, "only calendars and address books can be "
                                "shared");
    }
    if (caldav_xml_parse("POST", req->body, req->body_len, &body, status_r,
                         precond_r, err)
        != MTR_OK)
    {
        return MTR_ERROR;
    }
    v = calloc(CALDAV_XML_MAX_SHAREES, sizeof(*v));
    if (v == NULL) {
        *status_r = 500;
        mtr_err_set(err, "out of memory");
        goto done;
    }
    *status_r = 403;
    if (sharees_check(conf, owner, body, v, &n, err) != MTR_OK) {
        goto done;
    }
    *status_r = 500;
    for (size_t i = 0; i < n; i++) {
        if (share_apply_one(conf, store, owner, coll->name, &v[i], err)
            != MTR_OK) {
            goto done;
        }
    }
    *status_r = 200;
    rc = MTR_OK;
    if (n == 1) {
        mtr_err_set(err, "%s: %s %s", coll->name, v[0].addr,
                    access_name(v[0].access));
    } else {
        mtr_err_set(err, "%s: %zu sharees updated", coll->name, n);
    }

done:
    free(v);
    caldav_req_body_free(body);
    return rc;
}

/* ---- properties ------------------------------------------------------ */

typedef struct {
    caldav_buf_t *b;
    size_t        n;
} invite_t;

static int
invite_cb(const char *coll_name, const char *sharee, int access, void *arg)
{
    invite_t *iv = arg;

    (void) coll_name;
    iv->n++;
    if (iv->b == NULL) {
        return 1; /* only counting: one is enough */
    }
    caldav_buf_adds(iv->b, "<D:sharee><D:href>mailto:");
    caldav_buf_add_xml(iv->b, sharee, strlen(sharee));
    caldav_buf_printf(iv->b,
                      "</D:href><D:share-access><D:%s/></D:share-access>"
                      "<D:invite-accepted/></D:sharee>",
                      access_name(access));
    return 0;
}

int
caldav_share_prop(const caldav_share_res_t *r, const char *name,
                  caldav_buf_t *b, mtr_err_t *err)
{
    int      owner = strcmp(r->owner, r->user) == 0;
    invite_t iv = { NULL, 0 };
    char     path[CALDAV_MAX_PATH + 64];

    if (!shareable(r->coll) || r->st == NULL) {
        return 0;
    }
    if (strcmp(name, "share-resource-uri") == 0) {
        caldav_buf_adds(b, "<D:share-resource-uri><D:href>");
        caldav_buf_add_href(b, r->href, strlen(r->href));
        caldav_buf_adds(b, "</D:href></D:share-resource-uri>");
        return 1;
    }
    if (strcmp(name, "share-access") == 0) {
        if (!owner) {
            caldav_buf_printf(b, "<D:share-access><D:%s/></D:share-access>",
                              access_name(r->access));
            return 1;
        }
        if (caldav_store_share_list(r->st, r->coll->name, invite_cb, &iv, err)
            != MTR_OK)
        {
            return 0;
        }
        caldav_buf_printf(b, "<D:share-access><D:%s/></D:share-access>",
                          iv.n > 0 ? "shared-owner" : "not-shared");
        return 1;
    }
    if (strcmp(name, "invite") == 0) {
        caldav_buf_t tmp;

        caldav_buf_init(&tmp);
        iv.b = &tmp;
        if (caldav_store_share_list(r->st, r->coll->name, invite_cb, &iv, err)
            != MTR_OK)
        {
            caldav_buf_free(&tmp);
            return 0;
        }
        snprintf(path, sizeof(path), "%s/principals/%s/", r->conf->prefix,
                 r->owner);
        caldav_buf_adds(b, "<D:invite><D:sharee><D:href>");
        caldav_buf_add_href(b, path, strlen(path));
        caldav_buf_adds(b, "</D:href><D:share-access><D:shared-owner/>"
                           "</D:share-access><D:invite-accepted/>"
                           "</D:sharee>");
        caldav_buf_add(b, tmp.data ? tmp.data : "", tmp.len);
        caldav_buf_adds(b, "</D:invite>");
        caldav_buf_free(&tmp);
        return 1;
    }
    return 0;
}

/* ---- the sharee's listing ----------------------------------------------- */

typedef struct {
    listed_t *v;
    size_t    n, cap;
    int       card;
    int       failed;
} collect_t;

static int
collect_cb(const char *owner, const char *coll_name, int access, void *arg)
{
    collect_t *cl = arg;
    listed_t  *e;

    (void) access; /* the owner's database says, not this copy */
    if ((strncmp(coll_name, "card:", 5) == 0) != cl->card) {
        return 0;
    }
    if (strlen(owner) > CALDAV_MAX_USER
        || strlen(coll_name) > CALDAV_STORE_MAX_NAME)
    {
        return 0;
    }
    if (cl->n == CALDAV_SHARE_MAX_LISTED) {
        return 1;
    }
    if (cl->n == cl->cap) {
        size_t    cap = cl->cap ? cl->cap * 2 : 8;
        listed_t *nv = realloc(cl->v, cap * sizeof(*nv));

        if (nv == NULL) {
            cl->failed = 1;
            return 1;
        }
        cl->v = nv;
        cl->cap = cap;
    }
    e = &cl->v[cl->n++];
    memset(e, 0, sizeof(*e));
    strcpy(e->owner, owner);
    strcpy(e->coll, coll_name);
    return 0;
}

/* Show one entry: MTR_OK shown or skipped, MTR_DECLINED stale. */
static int
walk_one(const caldav_conf_t *conf, caldav_share_store_fn store,
         const char *user, const listed_t *e, caldav_share_each_fn each,
         void *arg, int *stop_r, mtr_err_t *err)
{
    caldav_store_t *st;
    caldav_coll_t   coll;
    int             access = 0, rc;

    if (strcmp(e->owner, user) == 0
        || strcasecmp(domain_of(e->owner), domain_of(user)) != 0
        || conf->user_exists == NULL
        || !conf->user_exists(conf->user_ctx, e->owner, NULL, 0))
    {
        return MTR_OK;
    }
    st = store(conf, e->owner, err);
    if (st == NULL) {
        return MTR_OK;
    }
    rc = caldav_store_share_get(st, e->coll, user, &access, err);
    if (rc == CALDAV_STORE_NOT_FOUND || (rc == MTR_OK && access == 0)) {
        return MTR_DECLINED;
    }
    if (rc != MTR_OK) {
        return MTR_OK;
    }
    memset(&coll, 0, sizeof(coll));
    rc = caldav_store_coll_get(st, e->coll, &coll, err);
    if (rc == CALDAV_STORE_NOT_FOUND) {
        return MTR_DECLINED;
    }
    if (rc != MTR_OK) {
        return MTR_OK;
    }
    if (shareable(&coll)) {
        *stop_r = each(arg, e->owner, st, &coll, access);
    }
    caldav_coll_clear(&coll);
    return MTR_OK;
}

int
caldav_share_walk(const caldav_conf_t *conf, caldav_share_store_fn store,
                  const char *user, int card, caldav_share_each_fn each,
                  void *arg, mtr_err_t *err)
{
    collect_t       cl;
    caldav_store_t *st;
    size_t          nstale = 0;
    int             stop = 0;

    memset(&cl, 0, sizeof(cl));
    cl.card = card != 0;
    /* Copy the list first: opening the owners' stores may close this one
     * while its statement is still running. */
    st = store(conf, user, err);
    if (st == NULL
        || caldav_store_shared_with_me_list(st, collect_cb, &cl, err) != MTR_OK)
    {
        free(cl.v);
        return MTR_ERROR;
    }
    if (cl.failed) {
        free(cl.v);
        return mtr_err_set(err, "out of memory");
    }
    for (size_t i = 0; i < cl.n && !stop; i++) {
        if (walk_one(conf, store, user, &cl.v[i], each, arg, &stop, err)
            == MTR_DECLINED)
        {
            cl.v[i].stale = 1;
            nstale++;
        }
    }
    if (nstale > 0 && (st = store(conf, user, err)) != NULL) {
        for (size_t i = 0; i < cl.n; i++) {
            if (cl.v[i].stale) {
                (void) caldav_store_shared_with_me_set(st, cl.v[i].owner,
                                                       cl.v[i].coll, 0, err);
            }
        }
    }
    free(cl.v);
    return MTR_OK;
}
