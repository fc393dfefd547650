/*
 * caldav_handler.c -- methods, paths, access control and properties of the
 * CalDAV/CardDAV core (see caldav.h for the URL space).
 *
 * One request is handled start to end in the calling thread:
 *
 *   caldav_handle()
 *     path_parse()          the decoded path into a caldav_path_t
 *     access_check()        owner, share or nothing
 *     store_for()           the owner's database, from the thread's cache
 *     do_<method>()         OPTIONS, PROPFIND, PROPPATCH, MKCALENDAR, MKCOL,
 *                           GET/HEAD, PUT, DELETE, REPORT
 *
 * Responses are built in resp->body with caldav_buf_*; every error is a
 * WebDAV error body naming the precondition (RFC 4918 16) plus a line in
 * resp->log for the glue to log.
 *
 * Stores are kept open per thread (CALDAV_STORE_CACHE handles, least
 * recently used goes first): opening SQLite and checking its schema costs
 * more than most requests.  Sync tokens are
 * "http://mortar.invalid/ns/sync/<collection id>-<modseq>": the id makes a
 * token of a deleted collection useless for a new one of the same name.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "caldav.h"
#include "caldav_ical.h"
#include "caldav_sched.h"
#include "caldav_share.h"
#include "caldav_store.h"
#include "caldav_types.h"
#include "caldav_vcard.h"
#include "caldav_xml.h"

#define CALDAV_STORE_CACHE 16
#define CALDAV_DEFAULT_MAX (10u * 1024 * 1024)
#define CALDAV_SYNC_PREFIX "http://mortar.invalid/ns/sync/"
#define CALDAV_GAL_NAME    "directory"
#define CALDAV_NS_MORTAR   "urn:mortar:dav"

/* What a path names. */
typedef enum {
    RES_NONE = 0,
    RES_ROOT,
    RES_PRINCIPALS,
    RES_PRINCIPAL,
    RES_HOME,
    RES_COLL,
    RES_OBJ,
    RES_GAL,
    RES_GAL_OBJ
} res_kind_e;

typedef struct {
    res_kind_e kind;
    int        card; /* under addressbooks/ */
    char       user[CALDAV_MAX_USER + 1];
    char       coll[CALDAV_MAX_SEGMENT + 1];
    char       obj[CALDAV_MAX_SEGMENT + 1];
    int        trailing_slash;
    int        server_root; /* "/" itself: clients discover from there */
} path_t;

typedef struct {
    const caldav_conf_t    *conf;
    const caldav_request_t *req;
    caldav_response_t      *resp;
    path_t                  p;
    caldav_store_t         *st;     /* the owner's store */
    int                     access; /* 2 read-write, 1 read, 0 none */
    caldav_coll_t           coll;   /* p.coll, once loaded */
    int                     have_coll;
    caldav_req_body_t      *body;
    mtr_err_t               err;
} ctx_t;

/* ---------------------------------------------------------------- */
/* responses                                                          */

static const char xml_head[] = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n";

#define NS_DECLS                                                               \
    " xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\""              \
    " xmlns:CR=\"urn:ietf:params:xml:ns:carddav\""                             \
    " xmlns:CS=\"http://calendarserver.org/ns/\""                              \
    " xmlns:ICAL=\"http://apple.com/ns/ical/\""                                \
    " xmlns:M=\"" CALDAV_NS_MORTAR "\""

void
caldav_response_init(caldav_response_t *resp)
{
    memset(resp, 0, sizeof(*resp));
    caldav_buf_init(&resp->body);
}

void
caldav_response_free(caldav_response_t *resp)
{
    caldav_buf_free(&resp->body);
}

static void resp_log(caldav_response_t *resp, const char *fmt, ...)
    MTR_PRINTF(2, 3);

static void
resp_log(caldav_response_t *resp, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(resp->log, sizeof(resp->log), fmt, ap);
    va_end(ap);
}

/*
 * An error: status, a WebDAV error body naming the precondition (prefixed
 * "D:", "C:", "CR:" or NULL for none) and a human message, also logged.
 */
static void dav_error(ctx_t *c, int status, const char *precond,
                      const char *fmt, ...) MTR_PRINTF(4, 5);

static void
dav_error(ctx_t *c, int status, const char *precond, const char *fmt, ...)
{
    caldav_response_t *resp = c->resp;
    char               msg[400];
    va_list            ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    caldav_buf_free(&resp->body);
    caldav_buf_init(&resp->body);
    resp->status = status;
    resp->content_type = "application/xml; charset=utf-8";
    resp->etag[0] = '\0';
    caldav_buf_adds(&resp->body, xml_head);
    caldav_buf_adds(&resp->body, "<D:error" NS_DECLS ">");
    if (precond != NULL) {
        caldav_buf_printf(&resp->body, "<%s/>", precond);
    }
    caldav_buf_adds(&resp->body, "<M:message>");
    caldav_buf_add_xml(&resp->body, msg, strlen(msg));
    caldav_buf_adds(&resp->body, "</M:message></D:error>\n");
    resp_log(resp, "%d %s%s%s", status, msg, precond ? " " : "",
             precond ? precond : "");
}

static void
dav_internal(ctx_t *c, const char *what)
{
    dav_error(c, 500, NULL, "%s: %s", what, c->err.msg);
}

/* ---------------------------------------------------------------- */
/* paths                                                              */

/* Copy one segment [s, e) into out (size CALDAV_MAX_SEGMENT + 1). */
static int
seg_copy(char *out, const char *s, const char *e)
{
    size_t len = (size_t) (e - s);

    if (len == 0 || len > CALDAV_MAX_SEGMENT) {
        return MTR_ERROR;
    }
    if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.')) {
        return MTR_ERROR;
    }
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f || s[i] == '\\') {
            return MTR_ERROR;
        }
    }
    memcpy(out, s, len);
    out[len] = '\0';
    return MTR_OK;
}

static int
user_valid(const char *u)
{
    const char *at = strchr(u, '@');

    if (at == NULL || at == u || at[1] == '\0' || strchr(at + 1, '@')) {
        return 0;
    }
    if (strlen(u) > CALDAV_MAX_USER) {
        return 0;
    }
    for (const char *p = u; *p; p++) {
        if (*p == '/' || *p == '%' || *p == ' ') {
            return 0;
        }
    }
    return 1;
}

/*
 * Parse the decoded path.  Returns MTR_OK (p filled; kind RES_NONE for a
 * path outside the DAV space), or MTR_ERROR for a path no resource can
 * have (dot segments, control bytes, overlong segments).
 */
static int
path_parse(const caldav_conf_t *conf, const char *path, size_t len, path_t *p)
{
    char        segs[4][CALDAV_MAX_SEGMENT + 1];
    size_t      plen = strlen(conf->prefix), n = 0;
    const char *s, *e, *end = path + len;

    memset(p, 0, sizeof(*p));
    if (len > CALDAV_MAX_PATH || memchr(path, '\0', len) != NULL) {
        return MTR_ERROR;
    }
    if (len == 1 && path[0] == '/') {
        p->kind = RES_ROOT;
        p->server_root = 1;
        return MTR_OK;
    }
    /* Apple's clients try /principals/ after / */
    if ((len == 11 || len == 12) && memcmp(path, "/principals/", len) == 0) {
        p->kind = RES_PRINCIPALS;
        p->server_root = 1;
        return MTR_OK;
    }
    if (len < plen || memcmp(path, conf->prefix, plen) != 0
        || (len > plen && path[plen] != '/'))
    {
        return MTR_OK; /* RES_NONE */
    }
    p->trailing_slash = len > 0 && path[len - 1] == '/';
    for (s = path + plen; s < end;) {
        while (s < end && *s == '/') {
            s++;
        }
        if (s == end) {
            break;
        }
        e = memchr(s, '/', (size_t) (end - s));
        if (e == NULL) {
            e = end;
        }
        if (n == 4 || seg_copy(segs[n], s, e) != MTR_OK) {
            return MTR_ERROR;
        }
        n++;
        s = e;
    }

    if (n == 0) {
        p->kind = RES_ROOT;
        return MTR_OK;
    }
    if (strcmp(segs[0], "principals") == 0) {
        if (n == 1) {
            p->kind = RES_PRINCIPALS;
        } else if (n == 2 && user_valid(segs[1])) {
            p->kind = RES_PRINCIPAL;
            strcpy(p->user, segs[1]);
        } else {
            return MTR_ERROR;
        }
        return MTR_OK;
    }
    if (strcmp(segs[0], "calendars") == 0) {
        p->card = 0;
    } else if (strcmp(segs[0], "addressbooks") == 0) {
        p->card = 1;
    } else {
        return MTR_ERROR;
    }
    if (n < 2 || !user_valid(segs[1])) {
        return MTR_ERROR;
    }
    strcpy(p->user, segs[1]);
    p->kind = RES_HOME;
    if (n >= 3) {
        /* room for the "card:" of address books in the store's names */
        if (strlen(segs[2]) > CALDAV_STORE_MAX_NAME - 5) {
            return MTR_ERROR;
        }
        strcpy(p->coll, segs[2]);
        p->kind = (p->card && strcmp(segs[2], CALDAV_GAL_NAME) == 0) ? RES_GAL
                                                                     : RES_COLL;
    }
    if (n == 4) {
        strcpy(p->obj, segs[3]);
        p->kind = p->kind == RES_GAL ? RES_GAL_OBJ : RES_OBJ;
    }
    return MTR_OK;
}

static int
lower_case(const char *s)
{
    for (; *s; s++) {
        if (*s >= 'A' && *s <= 'Z') {
            return 0;
        }
    }
    return 1;
}

static const char *
user_domain(const char *user)
{
    const char *at = strchr(user, '@');

    return at ? at + 1 : "";
}

/* ---------------------------------------------------------------- */
/* the per-thread store cache                                         */

typedef struct {
    char            owner[CALDAV_MAX_USER + 1];
    caldav_store_t *st;
    uint64_t        used;
} store_slot_t;

static __thread store_slot_t store_cache[CALDAV_STORE_CACHE];
static __thread uint64_t     store_clock;

void
caldav_thread_cleanup(void)
{
    for (size_t i = 0; i < CALDAV_STORE_CACHE; i++) {
        if (store_cache[i].st != NULL) {
            caldav_store_close(&store_cache[i].st);
        }
        store_cache[i].owner[0] = '\0';
    }
}

/* Expand store_path for user into out; %d domain, %n local, %u user. */
static int
store_dir(const char *pattern, const char *user, char *out, size_t size)
{
    const char *at = strchr(user, '@');
    size_t      o = 0, l;
    const char *v;

    for (const char *p = pattern; *p; p++) {
        if (*p != '%') {
            if (o + 1 >= size) {
                return MTR_ERROR;
            }
            out[o++] = *p;
            continue;
        }
        p++;
        switch (*p) {
        case 'd':
            v = at + 1;
            l = strlen(v);
            break;
        case 'n':
            v = user;
            l = (size_t) (at - user);
            break;
        case 'u':
            v = user;
            l = strlen(user);
            break;
        case '%':
            v = "%";
            l = 1;
            break;
        default:
            return MTR_ERROR;
        }
        if (l >= size - o) {
            return MTR_ERROR;
        }
        memcpy(out + o, v, l);
        o += l;
    }
    out[o] = '\0';
    return MTR_OK;
}

/* mkdir -p with mode 0700 for the parts we create. */
static int
mkdir_p(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(path, 0700) != 0 && errno != EEXIST) {
                *p = '/';
                return MTR_ERROR;
            }
            *p = '/';
        }
    }
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        return MTR_ERROR;
    }
    return MTR_OK;
}

static int
provision(caldav_store_t *st, mtr_err_t *err)
{
    caldav_coll_t *v = NULL;
    size_t         n = 0;
    static const struct {
        const char        *name;
        caldav_coll_kind_e kind;
        const char        *displayname;
        const char        *comp_set;
    } defs[] = {
        { "default", CALDAV_COLL_CALENDAR, "Calendar", "VEVENT,VTODO" },
        { "default", CALDAV_COLL_ADDRESSBOOK, "Contacts", NULL },
        { "inbox", CALDAV_COLL_INBOX, "Inbox", NULL },
        { "outbox", CALDAV_COLL_OUTBOX, "Outbox", NULL },
    };

    if (caldav_store_coll_list(st, 0, &v, &n, err) != MTR_OK) {
        return MTR_ERROR;
    }
    caldav_coll_list_free(v, n);
    if (n != 0) {
        return MTR_OK;
    }
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
        caldav_coll_t c;
        int           rc;

        memset(&c, 0, sizeof(c));
        /* Calendars and address books share one name space per database:
         * the address book is stored as "card:default". */
        snprintf(c.name, sizeof(c.name), "%s%s",
                 defs[i].kind == CALDAV_COLL_ADDRESSBOOK ? "card:" : "",
                 defs[i].name);
        c.kind = defs[i].kind;
        c.displayname = (char *) defs[i].displayname;
        c.comp_set = (char *) defs[i].comp_set;
        rc = caldav_store_coll_create(st, &c, err);
        if (rc != MTR_OK && rc != CALDAV_STORE_EXISTS) {
            return MTR_ERROR;
        }
    }
    return MTR_OK;
}

/* The store of owner, opened (and provisioned) on first use. */
static caldav_store_t *
store_for(const caldav_conf_t *conf, const char *owner, mtr_err_t *err)
{
    store_slot_t *slot = NULL;
    char          dir[CALDAV_MAX_PATH], file[CALDAV_MAX_PATH + 16];

    store_clock++;
    for (size_t i = 0; i < CALDAV_STORE_CACHE; i++) {
        if (store_cache[i].st != NULL
            && strcmp(store_cache[i].owner, owner) == 0) {
            store_cache[i].used = store_clock;
            return store_cache[i].st;
        }
        if (slot == NULL || store_cache[i].used < slot->used) {
            slot = &store_cache[i];
        }
    }
    if (slot->st != NULL) {
        caldav_store_close(&slot->st);
    }
    if (store_dir(conf->store_path, owner, dir, sizeof(dir)) != MTR_OK) {
        mtr_err_set(err, "store path too long or bad %% escape in \"%s\"",
                    conf->store_path);
        return NULL;
    }
    if (mkdir_p(dir) != MTR_OK) {
        mtr_err_set(err, "cannot create %s: %s", dir, strerror(errno));
        return NULL;
    }
    snprintf(file, sizeof(file), "%s/dav.sqlite", dir);
    if (caldav_store_open(&slot->st, file, owner, err) != MTR_OK) {
        return NULL;
    }
    if (provision(slot->st, err) != MTR_OK) {
        caldav_store_close(&slot->st);
        return NULL;
    }
    snprintf(slot->owner, sizeof(slot->owner), "%s", owner);
    slot->used = store_clock;
    return slot->st;
}

/* caldav_sched.h: the same, for the scheduling code. */
caldav_store_t *
caldav_store_for(const caldav_conf_t *conf, const char *owner, mtr_err_t *err)
{
    return store_for(conf, owner, err);
}

/* The store name of a collection in a home (see provision()). */
static void
coll_key(const path_t *p, const char *name, char *out, size_t size)
{
    size_t pl = p->card ? 5 : 0, nl = strlen(name);

    /* path_parse() keeps collection names short enough */
    if (pl + nl >= size) {
        out[0] = '\0';
        return;
    }
    memcpy(out, "card:", pl);
    memcpy(out + pl, name, nl + 1);
}

/* The URL name of a stored collection name. */
static const char *
coll_urlname(const char *stored)
{
    return strncmp(stored, "card:", 5) == 0 ? stored + 5 : stored;
}

/* ---------------------------------------------------------------- */
/* access                                                             */

/* Access of the requester to p: 2 own, 1/2 shared collection, 0 none. */
static int
access_check(ctx_t *c)
{
    const char *me = c->req->user;
    int         a = 0;
    char        key[CALDAV_MAX_SEGMENT + 8];

    if (strcmp(c->p.user, me) == 0) {
        return 2;
    }
    if (strcmp(user_domain(c->p.user), user_domain(me)) != 0) {
        return 0;
    }
    if (c->p.kind != RES_COLL && c->p.kind != RES_OBJ) {
        return 0;
    }
    if (c->conf->user_exists != NULL
        && !c->conf->user_exists(c->conf->user_ctx, c->p.user, NULL, 0))
    {
        return 0;
    }
    if (c->st == NULL) {
        return 0;
    }
    coll_key(&c->p, c->p.coll, key, sizeof(key));
    if (caldav_store_share_get(c->st, key, me, &a, &c->err) != MTR_OK) {
        return 0;
    }
    return a;
}

/* Load c->coll for p.coll; MTR_OK, CALDAV_STORE_NOT_FOUND or MTR_ERROR.
 * A calendar path never finds an address book and the other way round. */
static int
coll_load(ctx_t *c)
{
    char key[CALDAV_MAX_SEGMENT + 8];
    int  rc;

    if (c->have_coll) {
        return MTR_OK;
    }
    if (!c->p.card && strncmp(c->p.coll, "card:", 5) == 0) {
        return CALDAV_STORE_NOT_FOUND;
    }
    coll_key(&c->p, c->p.coll, key, sizeof(key));
    rc = caldav_store_coll_get(c->st, key, &c->coll, &c->err);
    if (rc != MTR_OK) {
        return rc;
    }
    if ((c->p.card && c->coll.kind != CALDAV_COLL_ADDRESSBOOK)
        || (!c->p.card && c->coll.kind == CALDAV_COLL_ADDRESSBOOK))
    {
        caldav_coll_clear(&c->coll);
        return CALDAV_STORE_NOT_FOUND;
    }
    c->have_coll = 1;
    return MTR_OK;
}

/* ---------------------------------------------------------------- */
/* properties                                                         */

/* One resource being described in a multistatus. */
typedef struct {
    res_kind_e           kind;
    int                  card;
    const char          *owner;    /* the home's owner */
    const caldav_coll_t *coll;     /* RES_COLL, RES_OBJ */
    const caldav_obj_t  *obj;      /* RES_OBJ, RES_GAL_OBJ */
    const char          *gal_data; /* RES_GAL_OBJ */
    size_t               gal_len;
    char                 path[CALDAV_MAX_PATH]; /* decoded, for <D:href> */
} res_t;

typedef struct {
    const char *ns;
    const char *name;
} pname_t;

/* What allprop returns, per kind (RFC 4918 says: the dead properties and
 * the live ones the server deems useful; clients ask for the rest). */
static const pname_t allprop_common[] = {
    { CALDAV_NS_DAV, "resourcetype" },
    { CALDAV_NS_DAV, "displayname" },
    { CALDAV_NS_DAV, "current-user-principal" },
    { CALDAV_NS_DAV, "owner" },
    { CALDAV_NS_DAV, "getetag" },
    { CALDAV_NS_DAV, "getcontenttype" },
    { CALDAV_NS_DAV, "getcontentlength" },
    { CALDAV_NS_DAV, "getlastmodified" },
    { CALDAV_NS_DAV, "sync-token" },
    { CALDAV_NS_CS, "getctag" },
    { CALDAV_NS_CALDAV, "calendar-description" },
    { CALDAV_NS_CALDAV, "supported-calendar-component-set" },
    { CALDAV_NS_APPLE, "calendar-color" },
    { CALDAV_NS_CARDDAV, "addressbook-description" },
    { CALDAV_NS_CALDAV, "calendar-home-set" },
    { CALDAV_NS_CARDDAV, "addressbook-home-set" },
    { NULL, NULL }
};

static int
ns_is(const char *a, const char *b)
{
    return strcmp(a, b) == 0;
}

static const char *
ns_prefix(const char *ns)
{
    if (ns_is(ns, CALDAV_NS_DAV)) {
        return "D";
    }
    if (ns_is(ns, CALDAV_NS_CALDAV)) {
        return "C";
    }
    if (ns_is(ns, CALDAV_NS_CARDDAV)) {
        return "CR";
    }
    if (ns_is(ns, CALDAV_NS_CS)) {
        return "CS";
    }
    if (ns_is(ns, CALDAV_NS_APPLE)) {
        return "ICAL";
    }
    if (ns_is(ns, CALDAV_NS_MORTAR)) {
        return "M";
    }
    return NULL;
}

/* An empty element <P:name/> for any namespace. */
static void
prop_empty(caldav_buf_t *b, const char *ns, const char *name)
{
    const char *px = ns_prefix(ns);

    if (px != NULL) {
        caldav_buf_printf(b, "<%s:%s/>", px, name);
    } else if (ns[0] == '\0') {
        caldav_buf_printf(b, "<%s xmlns=\"\"/>", name);
    } else {
        caldav_buf_printf(b, "<X:%s xmlns:X=\"", name);
        caldav_buf_add_xml(b, ns, strlen(ns));
        caldav_buf_adds(b, "\"/>");
    }
}

static void
add_href(caldav_buf_t *b, const char *path)
{
    caldav_buf_adds(b, "<D:href>");
    caldav_buf_add_href(b, path, strlen(path));
    caldav_buf_adds(b, "</D:href>");
}

/* <el><D:href>path</D:href></el>: the shape of every href property. */
static void
href_prop(caldav_buf_t *b, const char *el, const char *path)
{
    caldav_buf_printf(b, "<%s>", el);
    add_href(b, path);
    caldav_buf_printf(b, "</%s>", el);
}

static void
add_text_prop(caldav_buf_t *b, const char *el, const char *text)
{
    caldav_buf_printf(b, "<%s>", el);
    caldav_buf_add_xml(b, text, strlen(text));
    caldav_buf_printf(b, "</%s>", el);
}

static void
http_date(int64_t t, char *out, size_t size)
{
    time_t    tt = (time_t) t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(out, size, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* access: 3 the owner, 2 a read-write sharee (objects only: the
 * collection's properties stay the owner's), 1 a read sharee. */
static void
add_privileges(caldav_buf_t *b, int access, int read_only)
{
    caldav_buf_adds(b, "<D:current-user-privilege-set>"
                       "<D:privilege><D:read/></D:privilege>"
                       "<D:privilege><D:read-current-user-privilege-set/>"
                       "</D:privilege>"
                       "<D:privilege><C:read-free-busy/></D:privilege>");
    if (access == 3 && !read_only) {
        caldav_buf_adds(b, "<D:privilege><D:write/></D:privilege>"
                           "<D:privilege><D:write-properties/></D:privilege>");
    }
    if (access >= 2 && !read_only) {
        caldav_buf_adds(b, "<D:privilege><D:write-content/></D:privilege>"
                           "<D:privilege><D:bind/></D:privilege>"
                           "<D:privilege><D:unbind/></D:privilege>");
    }
    caldav_buf_adds(b, "</D:current-user-privilege-set>");
}

static void
add_reports(caldav_buf_t *b, const res_t *r)
{
    static const char *cal[] = { "C:calendar-query", "C:calendar-multiget",
                                 "C:free-busy-query", "D:sync-collection",
                                 NULL };
    static const char *card[] = { "CR:addressbook-query",
                                  "CR:addressbook-multiget",
                                  "D:sync-collection", NULL };
    static const char *other[] = { "D:principal-property-search",
                                   "D:principal-search-property-set",
                                   "D:expand-property", NULL };
    const char       **v = r->kind == RES_COLL || r->kind == RES_GAL
                               ? (r->card ? card : cal)
                               : other;

    caldav_buf_adds(b, "<D:supported-report-set>");
    for (; *v; v++) {
        if (r->kind == RES_GAL && strcmp(*v, "D:sync-collection") == 0) {
            continue;
        }
        caldav_buf_printf(b,
                          "<D:supported-report><D:report><%s/></D:report>"
                          "</D:supported-report>",
                          *v);
    }
    caldav_buf_adds(b, "</D:supported-report-set>");
}

static void
add_resourcetype(caldav_buf_t *b, const res_t *r)
{
    caldav_buf_adds(b, "<D:resourcetype>");
    switch (r->kind) {
    case RES_PRINCIPAL:
        caldav_buf_adds(b, "<D:collection/><D:principal/>");
        break;
    case RES_ROOT:
    case RES_PRINCIPALS:
    case RES_HOME:
        caldav_buf_adds(b, "<D:collection/>");
        break;
    case RES_GAL:
        caldav_buf_adds(b, "<D:collection/><CR:addressbook/>"
                           "<CR:directory/>");
        break;
    case RES_COLL:
        caldav_buf_adds(b, "<D:collection/>");
        switch (r->coll->kind) {
        case CALDAV_COLL_CALENDAR:
            caldav_buf_adds(b, "<C:calendar/>");
            break;
        case CALDAV_COLL_ADDRESSBOOK:
            caldav_buf_adds(b, "<CR:addressbook/>");
            break;
        case CALDAV_COLL_INBOX:
            caldav_buf_adds(b, "<C:schedule-inbox/>");
            break;
        case CALDAV_COLL_OUTBOX:
            caldav_buf_adds(b, "<C:schedule-outbox/>");
            break;
        }
        break;
    default:
        break;
    }
    caldav_buf_adds(b, "</D:resourcetype>");
}

static void
sync_token(caldav_buf_t *b, const caldav_coll_t *coll)
{
    caldav_buf_printf(b, CALDAV_SYNC_PREFIX "%lld-%llu", (long long) coll->id,
                      (unsigned long long) coll->modseq);
}

/*
 * Append the element of one property of r to b: 1 found, 0 not a property
 * of this resource (goes to the 404 propstat).
 */
static int
prop_value(ctx_t *c, const res_t *r, const char *ns, const char *name,
           caldav_buf_t *b)
{
    const char          *me = c->req->user;
    const char          *prefix = c->conf->prefix;
    char                 path[CALDAV_MAX_PATH + 64];
    const caldav_coll_t *coll = r->coll;
    int                  is_cal =
        r->kind == RES_COLL && coll && coll->kind == CALDAV_COLL_CALENDAR;
    int is_book =
        (r->kind == RES_COLL && coll && coll->kind == CALDAV_COLL_ADDRESSBOOK)
        || r->kind == RES_GAL;

    if (ns_is(ns, CALDAV_NS_DAV)) {
        if (strcmp(name, "resourcetype") == 0) {
            add_resourcetype(b, r);
            return 1;
        }
        if (strcmp(name, "current-user-principal") == 0) {
            snprintf(path, sizeof(path), "%s/principals/%s/", prefix, me);
            href_prop(b, "D:current-user-principal", path);
            return 1;
        }
        if (strcmp(name, "principal-collection-set") == 0) {
            snprintf(path, sizeof(path), "%s/principals/", prefix);
            href_prop(b, "D:principal-collection-set", path);
            return 1;
        }
        if (strcmp(name, "current-user-privilege-set") == 0) {
            int access =
                r->owner == NULL || strcmp(r->owner, me) == 0 ? 3 : c->access;
            add_privileges(b, access,
                           r->kind == RES_GAL || r->kind == RES_GAL_OBJ
                               || r->kind == RES_ROOT
                               || r->kind == RES_PRINCIPALS
                               || r->kind == RES_PRINCIPAL);
            return 1;
        }
        if (strcmp(name, "supported-report-set") == 0) {
            add_reports(b, r);
            return 1;
        }
        if (strcmp(name, "owner") == 0 && r->owner != NULL) {
            snprintf(path, sizeof(path), "%s/principals/%s/", prefix, r->owner);
            href_prop(b, "D:owner", path);
            return 1;
        }
        if (strcmp(name, "principal-URL") == 0 && r->kind == RES_PRINCIPAL) {
            href_prop(b, "D:principal-URL", r->path);
            return 1;
        }
        if (strcmp(name, "alternate-URI-set") == 0 && r->kind == RES_PRINCIPAL)
        {
            caldav_buf_adds(b, "<D:alternate-URI-set><D:href>mailto:");
            caldav_buf_add_xml(b, r->owner, strlen(r->owner));
            caldav_buf_adds(b, "</D:href></D:alternate-URI-set>");
            return 1;
        }
        if (strcmp(name, "group-membership") == 0 && r->kind == RES_PRINCIPAL) {
            caldav_buf_adds(b, "<D:group-membership/>");
            return 1;
        }
        if (strcmp(name, "displayname") == 0) {
            const char *dn = NULL;

            if (r->kind == RES_COLL && coll->displayname) {
                dn = coll->displayname;
            } else if (r->kind == RES_COLL) {
                dn = coll_urlname(coll->name);
            } else if (r->kind == RES_PRINCIPAL) {
                dn = r->owner;
            } else if (r->kind == RES_GAL) {
                dn = user_domain(r->owner);
            }
            if (dn == NULL) {
                return 0;
            }
            add_text_prop(b, "D:displayname", dn);
            return 1;
        }
        if (strcmp(name, "sync-token") == 0 && r->kind == RES_COLL) {
            caldav_buf_adds(b, "<D:sync-token>");
            sync_token(b, coll);
            caldav_buf_adds(b, "</D:sync-token>");
            return 1;
        }
        if (strcmp(name, "getetag") == 0 && r->obj != NULL) {
            add_text_prop(b, "D:getetag", r->obj->etag);
            return 1;
        }
        if (strcmp(name, "getcontenttype") == 0
            && (r->obj != NULL || r->kind == RES_COLL))
        {
            const char *ct;

            if (r->obj == NULL) {
                ct = "httpd/unix-directory";
            } else if (r->card || r->kind == RES_GAL_OBJ) {
                ct = "text/vcard; charset=utf-8";
            } else {
                ct = "text/calendar; charset=utf-8; component=";
            }
            caldav_buf_adds(b, "<D:getcontenttype>");
            caldav_buf_adds(b, ct);
            if (r->obj != NULL && !r->card && r->kind == RES_OBJ) {
                caldav_buf_add_xml(b, r->obj->comp, strlen(r->obj->comp));
            }
            caldav_buf_adds(b, "</D:getcontenttype>");
            return 1;
        }
        if (strcmp(name, "getcontentlength") == 0 && r->obj != NULL) {
            caldav_buf_printf(b, "<D:getcontentlength>%zu</D:getcontentlength>",
                              r->obj->len);
            return 1;
        }
        if (strcmp(name, "getlastmodified") == 0 && r->obj != NULL) {
            char d[64];

            http_date(r->obj->mtime, d, sizeof(d));
            add_text_prop(b, "D:getlastmodified", d);
            return 1;
        }
        if ((strcmp(name, "quota-used-bytes") == 0
             || strcmp(name, "quota-available-bytes") == 0)
            && (r->kind == RES_HOME || r->kind == RES_COLL))
        {
            uint64_t bytes = 0, objs = 0;

            if (c->st == NULL
                || caldav_store_usage(c->st, &bytes, &objs, &c->err) != MTR_OK)
            {
                return 0;
            }
            if (name[6] == 'u') {
                caldav_buf_printf(b,
                                  "<D:quota-used-bytes>%llu"
                                  "</D:quota-used-bytes>",
                                  (unsigned long long) bytes);
                return 1;
            }
            if (c->conf->quota_bytes == 0) {
                return 0;
            }
            caldav_buf_printf(
                b, "<D:quota-available-bytes>%llu</D:quota-available-bytes>",
                (unsigned long long) (bytes >= c->conf->quota_bytes
                                          ? 0
                                          : c->conf->quota_bytes - bytes));
            return 1;
        }
        if (r->kind == RES_COLL) {
            caldav_share_res_t sr = {
                .conf = c->conf,
                .st = c->st,
                .owner = r->owner,
                .user = me,
                .coll = coll,
                .access = c->access,
                .href = r->path,
            };

            if (caldav_share_prop(&sr, name, b, &c->err)) {
                return 1;
            }
        }
        return 0;
    }

    if (ns_is(ns, CALDAV_NS_CALDAV)) {
        if (strcmp(name, "calendar-home-set") == 0 && r->kind == RES_PRINCIPAL)
        {
            snprintf(path, sizeof(path), "%s/calendars/%s/", prefix, r->owner);
            href_prop(b, "C:calendar-home-set", path);
            return 1;
        }
        if (strcmp(name, "calendar-user-address-set") == 0
            && r->kind == RES_PRINCIPAL) {
            caldav_buf_adds(b, "<C:calendar-user-address-set><D:href>mailto:");
            caldav_buf_add_xml(b, r->owner, strlen(r->owner));
            caldav_buf_adds(b, "</D:href>");
            snprintf(path, sizeof(path), "%s/principals/%s/", prefix, r->owner);
            add_href(b, path);
            caldav_buf_adds(b, "</C:calendar-user-address-set>");
            return 1;
        }
        if (strcmp(name, "calendar-user-type") == 0 && r->kind == RES_PRINCIPAL)
        {
            caldav_buf_adds(b, "<C:calendar-user-type>INDIVIDUAL"
                               "</C:calendar-user-type>");
            return 1;
        }
        if ((strcmp(name, "schedule-inbox-URL") == 0
             || strcmp(name, "schedule-outbox-URL") == 0)
            && r->kind == RES_PRINCIPAL)
        {
            int in = name[9] == 'i';

            snprintf(path, sizeof(path), "%s/calendars/%s/%s/", prefix,
                     r->owner, in ? "inbox" : "outbox");
            href_prop(b, in ? "C:schedule-inbox-URL" : "C:schedule-outbox-URL",
                      path);
            return 1;
        }
        if (strcmp(name, "schedule-default-calendar-URL") == 0
            && r->kind == RES_COLL && coll->kind == CALDAV_COLL_INBOX)
        {
            snprintf(path, sizeof(path), "%s/calendars/%s/default/", prefix,
                     r->owner);
            href_prop(b, "C:schedule-default-calendar-URL", path);
            return 1;
        }
        if (strcmp(name, "calendar-description") == 0 && is_cal
            && coll->description) {
            add_text_prop(b, "C:calendar-description", coll->description);
            return 1;
        }
        if (strcmp(name, "calendar-timezone") == 0 && is_cal && coll->timezone)
        {
            add_text_prop(b, "C:calendar-timezone", coll->timezone);
            return 1;
        }
        if (strcmp(name, "supported-calendar-component-set") == 0 && is_cal) {
            const char *set = coll->comp_set && coll->comp_set[0]
                                  ? coll->comp_set
                                  : "VEVENT,VTODO,VJOURNAL,VFREEBUSY";
            char        one[32];

            caldav_buf_adds(b, "<C:supported-calendar-component-set>");
            for (const char *s = set; *s;) {
                size_t l = strcspn(s, ",");

                if (l > 0 && l < sizeof(one)) {
                    memcpy(one, s, l);
                    one[l] = '\0';
                    caldav_buf_adds(b, "<C:comp name=\"");
                    caldav_buf_add_xml(b, one, l);
                    caldav_buf_adds(b, "\"/>");
                }
                s += l;
                s += *s == ',';
            }
            caldav_buf_adds(b, "</C:supported-calendar-component-set>");
            return 1;
        }
        if (strcmp(name, "supported-calendar-data") == 0 && is_cal) {
            caldav_buf_adds(b,
                            "<C:supported-calendar-data><C:calendar-data "
                            "content-type=\"text/calendar\" version=\"2.0\"/>"
                            "</C:supported-calendar-data>");
            return 1;
        }
        if (strcmp(name, "max-resource-size") == 0 && is_cal) {
            caldav_buf_printf(b,
                              "<C:max-resource-size>%llu"
                              "</C:max-resource-size>",
                              (unsigned long long) c->conf->max_resource_size);
            return 1;
        }
        if (strcmp(name, "supported-collation-set") == 0 && is_cal) {
            caldav_buf_adds(b, "<C:supported-collation-set>"
                               "<C:supported-collation>i;ascii-casemap"
                               "</C:supported-collation>"
                               "<C:supported-collation>i;octet"
                               "</C:supported-collation>"
                               "</C:supported-collation-set>");
            return 1;
        }
        if (strcmp(name, "schedule-calendar-transp") == 0 && is_cal) {
            caldav_buf_adds(b, "<C:schedule-calendar-transp><C:opaque/>"
                               "</C:schedule-calendar-transp>");
            return 1;
        }
        return 0;
    }

    if (ns_is(ns, CALDAV_NS_CARDDAV)) {
        if (strcmp(name, "addressbook-home-set") == 0
            && r->kind == RES_PRINCIPAL) {
            snprintf(path, sizeof(path), "%s/addressbooks/%s/", prefix,
                     r->owner);
            href_prop(b, "CR:addressbook-home-set", path);
            return 1;
        }
        if (strcmp(name, "principal-address") == 0 && r->kind == RES_PRINCIPAL)
        {
            return 0;
        }
        if (strcmp(name, "addressbook-description") == 0 && is_book) {
            if (r->kind == RES_GAL) {
                add_text_prop(b, "CR:addressbook-description",
                              "Everyone in the directory");
                return 1;
            }
            if (coll->description == NULL) {
                return 0;
            }
            add_text_prop(b, "CR:addressbook-description", coll->description);
            return 1;
        }
        if (strcmp(name, "supported-address-data") == 0 && is_book) {
            caldav_buf_adds(b, "<CR:supported-address-data>"
                               "<CR:address-data-type content-type="
                               "\"text/vcard\" version=\"3.0\"/>"
                               "<CR:address-data-type content-type="
                               "\"text/vcard\" version=\"4.0\"/>"
                               "</CR:supported-address-data>");
            return 1;
        }
        if (strcmp(name, "max-resource-size") == 0 && is_book) {
            caldav_buf_printf(b,
                              "<CR:max-resource-size>%llu"
                              "</CR:max-resource-size>",
                              (unsigned long long) c->conf->max_resource_size);
            return 1;
        }
        return 0;
    }

    if (ns_is(ns, CALDAV_NS_CS)) {
        if (strcmp(name, "getctag") == 0 && r->kind == RES_COLL) {
            caldav_buf_adds(b, "<CS:getctag>");
            sync_token(b, coll);
            caldav_buf_adds(b, "</CS:getctag>");
            return 1;
        }
        if (strcmp(name, "email-address-set") == 0 && r->kind == RES_PRINCIPAL)
        {
            caldav_buf_adds(b, "<CS:email-address-set><CS:email-address>");
            caldav_buf_add_xml(b, r->owner, strlen(r->owner));
            caldav_buf_adds(b, "</CS:email-address></CS:email-address-set>");
            return 1;
        }
        return 0;
    }

    if (ns_is(ns, CALDAV_NS_APPLE)) {
        if (strcmp(name, "calendar-color") == 0 && is_cal && coll->color) {
            add_text_prop(b, "ICAL:calendar-color", coll->color);
            return 1;
        }
        if (strcmp(name, "calendar-order") == 0 && is_cal && coll->order) {
            add_text_prop(b, "ICAL:calendar-order", coll->order);
            return 1;
        }
        return 0;
    }
    return 0;
}

/* Dead properties of one collection, read once per response. */
typedef struct dead_s dead_t;
struct dead_s {
    char   *ns, *name, *xml;
    dead_t *next;
};

static int
dead_collect(const char *ns, const char *name, const char *xml, void *ctx)
{
    dead_t **head = ctx, *d = calloc(1, sizeof(*d));

    if (d == NULL) {
        return 1;
    }
    d->ns = strdup(ns);
    d->name = strdup(name);
    d->xml = strdup(xml);
    if (d->ns == NULL || d->name == NULL || d->xml == NULL) {
        free(d->ns);
        free(d->name);
        free(d->xml);
        free(d);
        return 1;
    }
    d->next = *head;
    *head = d;
    return 0;
}

static void
dead_free(dead_t *d)
{
    while (d != NULL) {
        dead_t *next = d->next;

        free(d->ns);
        free(d->name);
        free(d->xml);
        free(d);
        d = next;
    }
}

static const dead_t *
dead_find(const dead_t *d, const char *ns, const char *name)
{
    for (; d != NULL; d = d->next) {
        if (strcmp(d->ns, ns) == 0 && strcmp(d->name, name) == 0) {
            return d;
        }
    }
    return NULL;
}

static int
prefer_minimal(const ctx_t *c)
{
    return c->req->prefer != NULL
           && strstr(c->req->prefer, "return=minimal") != NULL;
}

/* calendar-data or address-data of an object. */
static int
data_value(ctx_t *c, const res_t *r, const char *ns, const char *name,
           caldav_buf_t *b)
{
    const caldav_req_body_t *body = c->body;
    const char              *data = r->obj ? r->obj->data : NULL;
    size_t                   len = r->obj ? r->obj->len : 0;
    int                      rc;

    if (r->kind == RES_GAL_OBJ) {
        data = r->gal_data;
        len = r->gal_len;
    }
    if (data == NULL) {
        return 0;
    }
    if (ns_is(ns, CALDAV_NS_CALDAV) && strcmp(name, "calendar-data") == 0
        && !r->card && r->kind == RES_OBJ)
    {
        caldav_buf_t tmp;

        if (body == NULL || (!body->has_expand && !body->has_limit_recurrence))
        {
            caldav_buf_adds(b, "<C:calendar-data>");
            caldav_buf_add_xml(b, data, len);
            caldav_buf_adds(b, "</C:calendar-data>");
            return 1;
        }
        caldav_buf_init(&tmp);
        rc = caldav_ical_render(
            data, len, body->has_expand ? &body->expand : NULL,
            body->has_limit_recurrence ? &body->limit_recurrence : NULL,
            r->coll ? r->coll->timezone : NULL, &tmp, &c->err);
        if (rc != MTR_OK) {
            caldav_buf_free(&tmp);
            resp_log(c->resp, "calendar-data of %s not expanded: %s", r->path,
                     c->err.msg);
            return rc == CALDAV_ICAL_TOO_BIG ? -1 : 0;
        }
        caldav_buf_adds(b, "<C:calendar-data>");
        caldav_buf_add_xml(b, tmp.data, tmp.len);
        caldav_buf_adds(b, "</C:calendar-data>");
        caldav_buf_free(&tmp);
        return 1;
    }
    if (ns_is(ns, CALDAV_NS_CARDDAV) && strcmp(name, "address-data") == 0
        && (r->card || r->kind == RES_GAL_OBJ))
    {
        caldav_buf_adds(b, "<CR:address-data>");
        caldav_buf_add_xml(b, data, len);
        caldav_buf_adds(b, "</CR:address-data>");
        return 1;
    }
    return 0;
}

/* One property, live, data or dead: 1 appended to found, 0 not, -1 an
 * expansion past CALDAV_ICAL_EXPAND_MAX_* (507 for that property). */
static int
one_prop(ctx_t *c, const res_t *r, const dead_t *dead, const char *ns,
         const char *name, caldav_buf_t *found)
{
    const dead_t *d;
    int           dv = data_value(c, r, ns, name, found);

    if (dv != 0) {
        return dv; /* 1, or -1: too big to expand */
    }
    if (prop_value(c, r, ns, name, found)) {
        return 1;
    }
    d = dead_find(dead, ns, name);
    if (d != NULL) {
        caldav_buf_adds(found, d->xml);
        return 1;
    }
    return 0;
}

/*
 * One <D:response> for r according to the PROPFIND part of body (NULL =
 * allprop).  Returns MTR_ERROR only when out ran out of memory.
 */
static int
ms_response(ctx_t *c, const res_t *r, caldav_buf_t *out)
{
    const caldav_req_body_t *body = c->body;
    caldav_propfind_e kind = body ? body->propfind : CALDAV_PROPFIND_ALLPROP;
    caldav_buf_t      found, missing, big;
    dead_t           *dead = NULL;
    int               nmissing = 0, op;

    caldav_buf_init(&found);
    caldav_buf_init(&missing);
    caldav_buf_init(&big);
    if (r->kind == RES_COLL && c->st != NULL) {
        (void) caldav_store_prop_list(c->st, r->coll->id, NULL, dead_collect,
                                      &dead, &c->err);
    }

    if (kind == CALDAV_PROPFIND_PROP) {
        for (const caldav_propname_t *p = body->props; p; p = p->next) {
            op = one_prop(c, r, dead, p->ns, p->name, &found);
            if (op < 0) {
                prop_empty(&big, p->ns, p->name);
            } else if (op == 0) {
                prop_empty(&missing, p->ns, p->name);
                nmissing++;
            }
        }
    } else {
        for (const pname_t *p = allprop_common; p->ns; p++) {
            caldav_buf_t tmp;

            caldav_buf_init(&tmp);
            if (prop_value(c, r, p->ns, p->name, &tmp)) {
                if (kind == CALDAV_PROPFIND_PROPNAME) {
                    prop_empty(&found, p->ns, p->name);
                } else {
                    caldav_buf_add(&found, tmp.data, tmp.len);
                }
            }
            caldav_buf_free(&tmp);
        }
        for (const dead_t *d = dead; d; d = d->next) {
            if (kind == CALDAV_PROPFIND_PROPNAME) {
                prop_empty(&found, d->ns, d->name);
            } else {
                caldav_buf_adds(&found, d->xml);
            }
        }
        if (body != NULL && kind == CALDAV_PROPFIND_ALLPROP) {
            for (const caldav_propname_t *p = body->include; p; p = p->next) {
                op = one_prop(c, r, NULL, p->ns, p->name, &found);
                if (op < 0) {
                    prop_empty(&big, p->ns, p->name);
                } else if (op == 0) {
                    prop_empty(&missing, p->ns, p->name);
                    nmissing++;
                }
            }
        }
    }

    caldav_buf_adds(out, "<D:response>");
    add_href(out, r->path);
    if (found.len > 0 || nmissing == 0 || prefer_minimal(c)) {
        caldav_buf_adds(out, "<D:propstat><D:prop>");
        caldav_buf_add(out, found.data, found.len);
        caldav_buf_adds(out, "</D:prop><D:status>HTTP/1.1 200 OK</D:status>"
                             "</D:propstat>");
    }
    if (nmissing > 0 && !prefer_minimal(c)) {
        caldav_buf_adds(out, "<D:propstat><D:prop>");
        caldav_buf_add(out, missing.data, missing.len);
        caldav_buf_adds(out, "</D:prop><D:status>HTTP/1.1 404 Not Found"
                             "</D:status></D:propstat>");
    }
    if (big.len > 0) {
        /* an expansion past the server's limits: said, never cut */
        caldav_buf_adds(out, "<D:propstat><D:prop>");
        caldav_buf_add(out, big.data, big.len);
        caldav_buf_printf(out,
                          "</D:prop><D:status>HTTP/1.1 507 Insufficient "
                          "Storage</D:status><D:responsedescription>the "
                          "expansion exceeds %d instances or %u bytes; ask "
                          "for a shorter range</D:responsedescription>"
                          "</D:propstat>",
                          CALDAV_ICAL_EXPAND_MAX_INSTANCES,
                          CALDAV_ICAL_EXPAND_MAX_BYTES);
    }
    caldav_buf_adds(out, "</D:response>\n");
    caldav_buf_free(&found);
    caldav_buf_free(&missing);
    caldav_buf_free(&big);
    dead_free(dead);
    return out->failed ? MTR_ERROR : MTR_OK;
}

static void
ms_begin(ctx_t *c)
{
    c->resp->status = 207;
    c->resp->content_type = "application/xml; charset=utf-8";
    caldav_buf_adds(&c->resp->body, xml_head);
    caldav_buf_adds(&c->resp->body, "<D:multistatus" NS_DECLS ">\n");
}

static void
ms_end(ctx_t *c)
{
    caldav_buf_adds(&c->resp->body, "</D:multistatus>\n");
    if (c->resp->body.failed) {
        dav_error(c, 507, NULL, "response too large");
    }
}

/* A response with only a status (404 of a multiget href, sync deletes). */
static void
ms_status(caldav_buf_t *out, const char *path, const char *status)
{
    caldav_buf_adds(out, "<D:response>");
    add_href(out, path);
    caldav_buf_printf(out, "<D:status>HTTP/1.1 %s</D:status></D:response>\n",
                      status);
}

/* Paths of the resources. */
static void
res_path_coll(ctx_t *c, res_t *r, const char *user, const caldav_coll_t *coll)
{
    snprintf(r->path, sizeof(r->path), "%s/%s/%s/%s/", c->conf->prefix,
             coll->kind == CALDAV_COLL_ADDRESSBOOK ? "addressbooks"
                                                   : "calendars",
             user, coll_urlname(coll->name));
}

static void
res_init_coll(ctx_t *c, res_t *r, const caldav_coll_t *coll)
{
    memset(r, 0, sizeof(*r));
    r->kind = RES_COLL;
    r->card = coll->kind == CALDAV_COLL_ADDRESSBOOK;
    r->owner = c->p.user;
    r->coll = coll;
    res_path_coll(c, r, c->p.user, coll);
}

static void
res_init_obj(ctx_t *c, res_t *r, const caldav_coll_t *coll,
             const caldav_obj_t *o)
{
    res_init_coll(c, r, coll);
    r->kind = RES_OBJ;
    r->obj = o;
    /* path of the collection + name */
    snprintf(r->path + strlen(r->path), sizeof(r->path) - strlen(r->path), "%s",
             o->name);
}

/* ---------------------------------------------------------------- */
/* PROPFIND                                                           */

typedef struct {
    ctx_t               *c;
    const caldav_coll_t *coll;
    int                  failed;
} walk_t;

static int
walk_obj_response(const caldav_obj_t *o, void *arg)
{
    walk_t *w = arg;
    res_t   r;

    res_init_obj(w->c, &r, w->coll, o);
    if (ms_response(w->c, &r, &w->c->resp->body) != MTR_OK) {
        w->failed = 1;
        return 1;
    }
    return 0;
}

static int
depth_of(const ctx_t *c, int dflt)
{
    const char *d = c->req->depth;

    if (d == NULL) {
        return dflt;
    }
    if (strcmp(d, "0") == 0) {
        return 0;
    }
    if (strcmp(d, "1") == 0) {
        return 1;
    }
    return 2; /* infinity: served as 1 below collections */
}

/* The data of calendar-data / address-data is needed for objects. */
static int
want_data(const ctx_t *c)
{
    return c->body != NULL && c->body->want_data;
}

typedef struct {
    ctx_t      *c;
    const char *only; /* RES_GAL_OBJ: the one object name wanted */
    int         get;  /* GET: the card itself, not a multistatus */
    int         found;
    int         failed;
    /* addressbook-query on the directory */
    const caldav_card_filter_t *filter;
    uint64_t                    limit, n;
    int                         truncated;
    /* addressbook-multiget on the directory: names sorted, one walk */
    struct gal_want_s *wanted;
    size_t             nwanted;
} gal_walk_t;

/* One href of a multiget on the directory. */
typedef struct gal_want_s {
    char        name[CALDAV_MAX_SEGMENT + 1];
    const char *href;
    int         hit;
} gal_want_t;

static int
gal_want_cmp(const void *a, const void *b)
{
    return strcmp(((const gal_want_t *) a)->name,
                  ((const gal_want_t *) b)->name);
}

static void
gal_each(const char *uid, const char *vcard, size_t len, const char *etag,
         void *arg)
{
    gal_walk_t  *g = arg;
    ctx_t       *c = g->c;
    res_t        r;
    caldav_obj_t o;
    char         name[CALDAV_MAX_SEGMENT + 1];

    if (g->failed || g->truncated) {
        return;
    }
    if (snprintf(name, sizeof(name), "%s.vcf", uid) >= (int) sizeof(name)) {
        return;
    }
    if (g->only != NULL && strcmp(g->only, name) != 0) {
        return;
    }
    if (g->wanted != NULL) {
        gal_want_t key, *w;

        memcpy(key.name, name, sizeof(name));
        w = bsearch(&key, g->wanted, g->nwanted, sizeof(*w), gal_want_cmp);
        if (w == NULL) {
            return;
        }
        w->hit = 1;
    }
    if (g->filter != NULL) {
        if (caldav_vcard_match(vcard, len, g->filter, &c->err) != 1) {
            return;
        }
        if (g->limit > 0 && g->n >= g->limit) {
            g->truncated = 1;
            return;
        }
        g->n++;
    }
    g->found = 1;
    memset(&o, 0, sizeof(o));
    o.name = name;
    o.etag = etag;
    o.uid = uid;
    o.comp = "VCARD";
    o.data = vcard;
    o.len = len;
    memset(&r, 0, sizeof(r));
    r.kind = RES_GAL_OBJ;
    r.card = 1;
    r.owner = c->p.user;
    r.obj = &o;
    r.gal_data = vcard;
    r.gal_len = len;
    snprintf(r.path, sizeof(r.path), "%s/addressbooks/%s/%s/%s",
             c->conf->prefix, c->p.user, CALDAV_GAL_NAME, name);
    if (g->get) {
        /* GET of one directory card */
        caldav_buf_add(&c->resp->body, vcard, len);
        snprintf(c->resp->etag, sizeof(c->resp->etag), "%s", etag);
        return;
    }
    if (ms_response(c, &r, &c->resp->body) != MTR_OK) {
        g->failed = 1;
    }
}

static void
res_init_gal(ctx_t *c, res_t *r)
{
    memset(r, 0, sizeof(*r));
    r->kind = RES_GAL;
    r->card = 1;
    r->owner = c->p.user;
    snprintf(r->path, sizeof(r->path), "%s/addressbooks/%s/%s/",
             c->conf->prefix, c->p.user, CALDAV_GAL_NAME);
}

/* A collection shared with the requester, listed in their home under its
 * URL in the owner's home, described with the owner's store and the
 * share's access (caldav_share_walk). */
static int
shared_emit(void *arg, const char *owner, caldav_store_t *st,
            const caldav_coll_t *coll, int access)
{
    ctx_t *c = arg;
    int    saved = c->access;
    res_t  r;

    memset(&r, 0, sizeof(r));
    r.kind = RES_COLL;
    r.card = coll->kind == CALDAV_COLL_ADDRESSBOOK;
    r.owner = owner;
    r.coll = coll;
    res_path_coll(c, &r, owner, coll);
    c->st = st;
    c->access = access;
    ms_response(c, &r, &c->resp->body);
    c->access = saved;
    return c->resp->body.failed;
}

static void
propfind_home(ctx_t *c, int depth)
{
    res_t          r;
    caldav_coll_t *v = NULL;
    size_t         n = 0;

    memset(&r, 0, sizeof(r));
    r.kind = RES_HOME;
    r.card = c->p.card;
    r.owner = c->p.user;
    snprintf(r.path, sizeof(r.path), "%s/%s/%s/", c->conf->prefix,
             c->p.card ? "addressbooks" : "calendars", c->p.user);
    ms_response(c, &r, &c->resp->body);
    if (depth == 0) {
        return;
    }
    if (caldav_store_coll_list(c->st, 0, &v, &n, &c->err) != MTR_OK) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if ((v[i].kind == CALDAV_COLL_ADDRESSBOOK) != c->p.card) {
            continue;
        }
        res_init_coll(c, &r, &v[i]);
        ms_response(c, &r, &c->resp->body);
    }
    caldav_coll_list_free(v, n);
    /* what others share with this user; opening their stores may close
     * this one: fetch it again */
    (void) caldav_share_walk(c->conf, store_for, c->p.user, c->p.card,
                             shared_emit, c, &c->err);
    c->st = store_for(c->conf, c->p.user, &c->err);
    if (c->p.card && c->conf->gal_search != NULL) {
        res_init_gal(c, &r);
        ms_response(c, &r, &c->resp->body);
    }
}

static void
do_propfind(ctx_t *c)
{
    int   depth = depth_of(c, 2);
    res_t r;

    ms_begin(c);
    memset(&r, 0, sizeof(r));
    r.owner = c->p.user[0] ? c->p.user : NULL;
    switch (c->p.kind) {
    case RES_ROOT:
        r.kind = RES_ROOT;
        snprintf(r.path, sizeof(r.path), "%s/",
                 c->p.server_root ? "" : c->conf->prefix);
        ms_response(c, &r, &c->resp->body);
        if (depth > 0) {
            r.kind = RES_PRINCIPALS;
            snprintf(r.path, sizeof(r.path), "%s/principals/", c->conf->prefix);
            ms_response(c, &r, &c->resp->body);
        }
        break;
    case RES_PRINCIPALS:
        r.kind = RES_PRINCIPALS;
        snprintf(r.path, sizeof(r.path), "%s/principals/",
                 c->p.server_root ? "" : c->conf->prefix);
        ms_response(c, &r, &c->resp->body);
        if (depth > 0) {
            r.kind = RES_PRINCIPAL;
            r.owner = c->req->user;
            snprintf(r.path, sizeof(r.path), "%s/principals/%s/",
                     c->conf->prefix, c->req->user);
            ms_response(c, &r, &c->resp->body);
        }
        break;
    case RES_PRINCIPAL:
        r.kind = RES_PRINCIPAL;
        snprintf(r.path, sizeof(r.path), "%s/principals/%s/", c->conf->prefix,
                 c->p.user);
        ms_response(c, &r, &c->resp->body);
        break;
    case RES_HOME:
        propfind_home(c, depth);
        break;
    case RES_COLL: {
        walk_t w = { c, &c->coll, 0 };

        res_init_coll(c, &r, &c->coll);
        ms_response(c, &r, &c->resp->body);
        if (depth > 0
            && caldav_store_obj_walk(c->st, c->coll.id, NULL, 0, 0, 0,
                                     want_data(c), walk_obj_response, &w,
                                     &c->err)
                   != MTR_OK)
        {
            dav_internal(c, "listing the collection");
            return;
        }
        break;
    }
    case RES_OBJ: {
        walk_t w = { c, &c->coll, 0 };
        int    rc;

        rc = caldav_store_obj_get(c->st, c->coll.id, c->p.obj, want_data(c),
                                  walk_obj_response, &w, &c->err);
        if (rc == CALDAV_STORE_NOT_FOUND) {
            dav_error(c, 404, NULL, "no such object");
            return;
        }
        if (rc != MTR_OK) {
            dav_internal(c, "reading the object");
            return;
        }
        break;
    }
    case RES_GAL:
    case RES_GAL_OBJ: {
        gal_walk_t g;

        memset(&g, 0, sizeof(g));
        g.c = c;
        if (c->p.kind == RES_GAL) {
            res_init_gal(c, &r);
            ms_response(c, &r, &c->resp->body);
            if (depth == 0) {
                break;
            }
        } else {
            g.only = c->p.obj;
        }
        if (c->conf->gal_search(c->conf->gal_ctx, user_domain(c->p.user),
                                gal_each, &g, &c->err)
            != MTR_OK)
        {
            dav_error(c, 503, NULL, "directory unavailable: %s", c->err.msg);
            return;
        }
        if (g.only != NULL && !g.found) {
            dav_error(c, 404, NULL, "no such directory entry");
            return;
        }
        break;
    }
    default:
        break;
    }
    ms_end(c);
}

/* ---------------------------------------------------------------- */
/* PROPPATCH, MKCALENDAR, MKCOL                                       */

/* Live properties a client may set, and where they go. */
typedef enum {
    SET_DEAD = 0,
    SET_DISPLAYNAME,
    SET_DESCRIPTION,
    SET_TIMEZONE,
    SET_COLOR,
    SET_ORDER,
    SET_COMP_SET,     /* only when creating */
    SET_RESOURCETYPE, /* only when creating */
    SET_PROTECTED
} set_e;

static set_e
set_kind(const caldav_prop_update_t *u, int card)
{
    static const struct {
        const char *ns, *name;
        set_e       kind;
    } live[] = {
        { CALDAV_NS_DAV, "displayname", SET_DISPLAYNAME },
        { CALDAV_NS_CALDAV, "calendar-description", SET_DESCRIPTION },
        { CALDAV_NS_CARDDAV, "addressbook-description", SET_DESCRIPTION },
        { CALDAV_NS_CALDAV, "calendar-timezone", SET_TIMEZONE },
        { CALDAV_NS_APPLE, "calendar-color", SET_COLOR },
        { CALDAV_NS_APPLE, "calendar-order", SET_ORDER },
        { CALDAV_NS_CALDAV, "supported-calendar-component-set", SET_COMP_SET },
        { CALDAV_NS_DAV, "resourcetype", SET_RESOURCETYPE },
        { CALDAV_NS_DAV, "getetag", SET_PROTECTED },
        { CALDAV_NS_DAV, "getcontentlength", SET_PROTECTED },
        { CALDAV_NS_DAV, "getcontenttype", SET_PROTECTED },
        { CALDAV_NS_DAV, "getlastmodified", SET_PROTECTED },
        { CALDAV_NS_DAV, "sync-token", SET_PROTECTED },
        { CALDAV_NS_DAV, "owner", SET_PROTECTED },
        { CALDAV_NS_DAV, "current-user-principal", SET_PROTECTED },
        { CALDAV_NS_DAV, "current-user-privilege-set", SET_PROTECTED },
        { CALDAV_NS_DAV, "supported-report-set", SET_PROTECTED },
        { CALDAV_NS_DAV, "quota-used-bytes", SET_PROTECTED },
        { CALDAV_NS_DAV, "quota-available-bytes", SET_PROTECTED },
        { CALDAV_NS_CS, "getctag", SET_PROTECTED },
        { CALDAV_NS_CALDAV, "supported-calendar-data", SET_PROTECTED },
        { CALDAV_NS_CALDAV, "max-resource-size", SET_PROTECTED },
        { CALDAV_NS_CARDDAV, "supported-address-data", SET_PROTECTED },
        { CALDAV_NS_CARDDAV, "max-resource-size", SET_PROTECTED },
    };

    for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
        if (strcmp(u->ns, live[i].ns) == 0
            && strcmp(u->name, live[i].name) == 0) {
            if (card
                && (live[i].kind == SET_TIMEZONE
                    || live[i].kind == SET_COMP_SET)) {
                return SET_DEAD;
            }
            return live[i].kind;
        }
    }
    return SET_DEAD;
}

static int
str_set(char **field, const caldav_prop_update_t *u)
{
    free(*field);
    *field = NULL;
    if (u->remove || u->text == NULL) {
        return MTR_OK;
    }
    *field = strdup(u->text);
    return *field ? MTR_OK : MTR_ERROR;
}

/* A calendar-timezone value must be a VCALENDAR with a VTIMEZONE. */
static int
timezone_valid(const char *text)
{
    return strstr(text, "BEGIN:VCALENDAR") != NULL
           && strstr(text, "BEGIN:VTIMEZONE") != NULL
           && strlen(text) < 256 * 1024;
}

/*
 * Apply updates to coll (live, in memory) and collect dead ones.  creating:
 * resourcetype and component set may be set.  Returns the index of the
 * first refused update (its status in *status_r, precondition in
 * *precond_r) or -1 when all are acceptable.
 */
static int
updates_check(const caldav_prop_update_t *list, int card, int creating,
              int *status_r, const char **precond_r)
{
    int i = 0;

    for (const caldav_prop_update_t *u = list; u; u = u->next, i++) {
        switch (set_kind(u, card)) {
        case SET_PROTECTED:
            *status_r = 403;
            *precond_r = "D:cannot-modify-protected-property";
            return i;
        case SET_COMP_SET:
        case SET_RESOURCETYPE:
            if (!creating) {
                *status_r = 403;
                *precond_r = "D:cannot-modify-protected-property";
                return i;
            }
            break;
        case SET_TIMEZONE:
            if (!u->remove && !timezone_valid(u->text)) {
                *status_r = 403;
                *precond_r = "C:valid-calendar-data";
                return i;
            }
            break;
        default:
            break;
        }
    }
    return -1;
}

static int
updates_apply(ctx_t *c, caldav_coll_t *coll, const caldav_prop_update_t *list,
              int card, int dead_now)
{
    for (const caldav_prop_update_t *u = list; u; u = u->next) {
        int rc = MTR_OK;

        switch (set_kind(u, card)) {
        case SET_DISPLAYNAME:
            rc = str_set(&coll->displayname, u);
            break;
        case SET_DESCRIPTION:
            rc = str_set(&coll->description, u);
            break;
        case SET_TIMEZONE:
            rc = str_set(&coll->timezone, u);
            break;
        case SET_COLOR:
            rc = str_set(&coll->color, u);
            break;
        case SET_ORDER:
            rc = str_set(&coll->order, u);
            break;
        case SET_COMP_SET:
            free(coll->comp_set);
            coll->comp_set = u->comp_set ? strdup(u->comp_set) : NULL;
            break;
        case SET_DEAD:
            if (dead_now) {
                rc =
                    caldav_store_prop_set(c->st, coll->id, NULL, u->ns, u->name,
                                          u->remove ? NULL : u->xml, &c->err);
            }
            break;
        default:
            break;
        }
        if (rc != MTR_OK) {
            return MTR_ERROR;
        }
    }
    return MTR_OK;
}

static void
proppatch_result(ctx_t *c, const char *path, int failed_at, int status,
                 const char *precond)
{
    int i = 0;

    ms_begin(c);
    caldav_buf_adds(&c->resp->body, "<D:response>");
    add_href(&c->resp->body, path);
    for (const caldav_prop_update_t *u = c->body->updates; u; u = u->next, i++)
    {
        caldav_buf_adds(&c->resp->body, "<D:propstat><D:prop>");
        prop_empty(&c->resp->body, u->ns, u->name);
        if (failed_at < 0) {
            caldav_buf_adds(&c->resp->body,
                            "</D:prop><D:status>HTTP/1.1 200 OK</D:status>");
        } else if (i == failed_at) {
            caldav_buf_printf(&c->resp->body,
                              "</D:prop><D:status>HTTP/1.1 %d %s</D:status>"
                              "<D:error><%s/></D:error>",
                              status, status == 403 ? "Forbidden" : "Error",
                              precond);
        } else {
            caldav_buf_adds(&c->resp->body, "</D:prop><D:status>HTTP/1.1 424 "
                                            "Failed Dependency</D:status>");
        }
        caldav_buf_adds(&c->resp->body, "</D:propstat>");
    }
    caldav_buf_adds(&c->resp->body, "</D:response>\n");
    ms_end(c);
}

static void
do_proppatch(ctx_t *c)
{
    int         status = 0, bad;
    const char *precond = NULL;
    res_t       r;

    if (c->p.kind != RES_COLL || strcmp(c->p.user, c->req->user) != 0) {
        dav_error(c, 403, "D:need-privileges",
                  "properties can be changed on your own collections only");
        return;
    }
    if (c->body->kind != CALDAV_BODY_PROPPATCH) {
        dav_error(c, 400, NULL, "PROPPATCH needs a propertyupdate body");
        return;
    }
    res_init_coll(c, &r, &c->coll);
    bad = updates_check(c->body->updates, c->p.card, 0, &status, &precond);
    if (bad >= 0) {
        resp_log(c->resp, "PROPPATCH refused: %s", precond);
        proppatch_result(c, r.path, bad, status, precond);
        return;
    }
    if (updates_apply(c, &c->coll, c->body->updates, c->p.card, 1) != MTR_OK
        || caldav_store_coll_update(c->st, &c->coll, &c->err) != MTR_OK)
    {
        dav_internal(c, "saving properties");
        return;
    }
    proppatch_result(c, r.path, -1, 0, NULL);
}

static int
name_reserved(const path_t *p)
{
    if (strncmp(p->coll, "card:", 5) == 0) {
        return 1;
    }
    if (!p->card) {
        return strcmp(p->coll, "inbox") == 0 || strcmp(p->coll, "outbox") == 0;
    }
    return strcmp(p->coll, CALDAV_GAL_NAME) == 0;
}

/* MKCALENDAR and (extended) MKCOL. */
static void
do_mkcol(ctx_t *c, int mkcalendar)
{
    caldav_coll_t               coll;
    int                         status = 0, bad, rc, want_book = c->p.card;
    const char                 *precond = NULL;
    const caldav_prop_update_t *updates = c->body ? c->body->updates : NULL;

    if (c->p.kind == RES_GAL) {
        dav_error(c, 405, "D:resource-must-be-null", "the name is taken");
        return;
    }
    if (c->p.kind != RES_COLL || c->access != 2) {
        dav_error(c, 403, "D:need-privileges",
                  "collections can be made in your own home only");
        return;
    }
    if (coll_load(c) == MTR_OK || name_reserved(&c->p)) {
        dav_error(c, 405, "D:resource-must-be-null", "the name is taken");
        return;
    }
    if (c->body != NULL && c->body->kind != CALDAV_BODY_MKCOL) {
        dav_error(c, 400, NULL, "unexpected body for MKCOL/MKCALENDAR");
        return;
    }
    for (const caldav_prop_update_t *u = updates; u; u = u->next) {
        if (set_kind(u, c->p.card) == SET_RESOURCETYPE) {
            if (u->rt_calendar) {
                want_book = 0;
            } else if (u->rt_addressbook) {
                want_book = 1;
            } else {
                dav_error(c, 403, "D:valid-resourcetype",
                          "only calendars and address books can be made");
                return;
            }
        }
    }
    if (mkcalendar && c->p.card) {
        dav_error(c, 403, "D:valid-resourcetype",
                  "calendars belong under /calendars/");
        return;
    }
    if (want_book != c->p.card) {
        dav_error(c, 403, "D:valid-resourcetype",
                  "address books belong under /addressbooks/, calendars "
                  "under /calendars/");
        return;
    }
    bad = updates_check(updates, c->p.card, 1, &status, &precond);
    if (bad >= 0) {
        dav_error(c, status, precond, "property refused");
        return;
    }
    memset(&coll, 0, sizeof(coll));
    coll_key(&c->p, c->p.coll, coll.name, sizeof(coll.name));
    coll.kind = c->p.card ? CALDAV_COLL_ADDRESSBOOK : CALDAV_COLL_CALENDAR;
    if (updates_apply(c, &coll, updates, c->p.card, 0) != MTR_OK) {
        caldav_coll_clear(&coll);
        mtr_err_set(&c->err, "out of memory");
        dav_internal(c, "making the collection");
        return;
    }
    rc = caldav_store_coll_create(c->st, &coll, &c->err);
    if (rc == CALDAV_STORE_EXISTS) {
        caldav_coll_clear(&coll);
        dav_error(c, 405, "D:resource-must-be-null", "the name is taken");
        return;
    }
    if (rc != MTR_OK
        || updates_apply(c, &coll, updates, c->p.card, 1) != MTR_OK) {
        caldav_coll_clear(&coll);
        dav_internal(c, "making the collection");
        return;
    }
    caldav_coll_clear(&coll);
    c->resp->status = 201;
    resp_log(c->resp, "made %s %s", c->p.card ? "address book" : "calendar",
             c->p.coll);
}

/* ---------------------------------------------------------------- */
/* GET, PUT, DELETE                                                   */

static int
get_cb(const caldav_obj_t *o, void *arg)
{
    ctx_t *c = arg;

    caldav_buf_add(&c->resp->body, o->data ? o->data : "",
                   o->data ? o->len : 0);
    snprintf(c->resp->etag, sizeof(c->resp->etag), "%s", o->etag);
    return 0;
}

/* RFC 7232: does the ETag list in an If-None-Match/If-Match header hold
 * etag?  "*" matches anything. */
static int
etag_listed(const char *header, const char *etag)
{
    size_t l = strlen(etag);

    if (strcmp(header, "*") == 0) {
        return 1;
    }
    for (const char *p = header; (p = strstr(p, etag)) != NULL; p += l) {
        if ((p == header || p[-1] == ' ' || p[-1] == ',' || p[-1] == '/')
            && (p[l] == '\0' || p[l] == ',' || p[l] == ' '))
        {
            return 1;
        }
    }
    return 0;
}

static void
do_get(ctx_t *c)
{
    int rc;

    if (c->p.kind == RES_GAL_OBJ) {
        gal_walk_t g;

        memset(&g, 0, sizeof(g));
        g.c = c;
        g.only = c->p.obj;
        g.get = 1;
        if (c->conf->gal_search(c->conf->gal_ctx, user_domain(c->p.user),
                                gal_each, &g, &c->err)
            != MTR_OK)
        {
            dav_error(c, 503, NULL, "directory unavailable: %s", c->err.msg);
            return;
        }
        if (!g.found) {
            dav_error(c, 404, NULL, "no such directory entry");
            return;
        }
        c->resp->status = 200;
        c->resp->content_type = "text/vcard; charset=utf-8";
        return;
    }
    if (c->p.kind != RES_OBJ) {
        /* A collection: a short note; clients never need more. */
        c->resp->status = 200;
        c->resp->content_type = "text/plain; charset=utf-8";
        caldav_buf_adds(&c->resp->body,
                        "This is a CalDAV/CardDAV resource of Mortar; use a "
                        "calendar or contacts client.\n");
        return;
    }
    rc = caldav_store_obj_get(c->st, c->coll.id, c->p.obj, 1, get_cb, c,
                              &c->err);
    if (rc == CALDAV_STORE_NOT_FOUND) {
        dav_error(c, 404, NULL, "no such object");
        return;
    }
    if (rc != MTR_OK) {
        dav_internal(c, "reading the object");
        return;
    }
    if (c->req->if_none_match != NULL
        && etag_listed(c->req->if_none_match, c->resp->etag))
    {
        caldav_buf_free(&c->resp->body);
        caldav_buf_init(&c->resp->body);
        c->resp->status = 304;
        return;
    }
    c->resp->status = 200;
    c->resp->content_type = c->coll.kind == CALDAV_COLL_ADDRESSBOOK
                                ? "text/vcard; charset=utf-8"
                                : "text/calendar; charset=utf-8";
}

static int
content_type_is(const char *ct, const char *want)
{
    size_t l = strlen(want);

    while (ct && (*ct == ' ' || *ct == '\t')) {
        ct++;
    }
    return ct != NULL && strncasecmp(ct, want, l) == 0
           && (ct[l] == '\0' || ct[l] == ';' || ct[l] == ' ');
}

typedef struct {
    const char *uid;
    int         differs;
    int         exists;
    char        etag[72];
} uid_check_t;

static int
uid_check_cb(const caldav_obj_t *o, void *arg)
{
    uid_check_t *u = arg;

    u->exists = 1;
    u->differs = o->uid != NULL && strcmp(o->uid, u->uid) != 0;
    snprintf(u->etag, sizeof(u->etag), "%s", o->etag);
    return 0;
}

/*
 * The instance list of a recurring event for the store (see
 * caldav_store_obj_hit): instances up to CALDAV_INSTANCES_YEARS ahead,
 * at most CALDAV_INSTANCES_MAX; past that, or for anything but events,
 * queries parse the object.  Best effort: no list is not an error.
 */
#define CALDAV_INSTANCES_YEARS 5
#define CALDAV_INSTANCES_MAX   4000

static void
instances_index(const caldav_request_t *req, const caldav_ical_index_t *iix,
                caldav_obj_index_t *ix, int64_t **inst_r)
{
    int64_t horizon =
        (int64_t) time(NULL) + CALDAV_INSTANCES_YEARS * 366 * 86400LL;
    size_t    n = 0;
    mtr_err_t err;

    if (strcmp(iix->comp, "VEVENT") != 0) {
        return;
    }
    if (iix->first_start > CALDAV_TIME_MIN && iix->first_start > horizon) {
        horizon = iix->first_start + 366 * 86400LL;
    }
    if (caldav_ical_instances(req->body, req->body_len, horizon,
                              CALDAV_INSTANCES_MAX, inst_r, &n, &err)
        != MTR_OK)
    {
        *inst_r = NULL;
        return;
    }
    ix->instances = *inst_r;
    ix->ninstances = n;
    /* a set that ends before the horizon is complete for any range */
    ix->instances_until =
        iix->last_end != CALDAV_TIME_MAX && iix->last_end < horizon
            ? CALDAV_TIME_MAX
            : horizon;
}

static void do_put_obj(ctx_t *c, int64_t **inst);

static void
do_put(ctx_t *c)
{
    int64_t *inst = NULL;

    do_put_obj(c, &inst);
    free(inst);
}

static void
do_put_obj(ctx_t *c, int64_t **instp)
{
    const caldav_request_t *req = c->req;
    caldav_obj_index_t      ix;
    caldav_ical_index_t     iix;
    caldav_vcard_index_t    vix;
    const char             *precond = NULL;
    char                    etag[72], conflict[CALDAV_STORE_MAX_NAME + 1];
    int                     created = 0, rc, card = c->p.card;
    uint64_t                used = 0, objs = 0;

    if (c->p.kind == RES_GAL || c->p.kind == RES_GAL_OBJ) {
        dav_error(c, 403, "D:need-privileges",
                  "the directory is read-only: change it in the admin "
                  "console");
        return;
    }
    if (c->p.kind != RES_OBJ) {
        dav_error(c, 405, NULL, "PUT needs an object inside a collection");
        return;
    }
    if (c->access != 2) {
        dav_error(c, 403, "D:need-privileges", "read-only access");
        return;
    }
    if (c->coll.kind == CALDAV_COLL_INBOX || c->coll.kind == CALDAV_COLL_OUTBOX)
    {
        dav_error(c, 403, "D:need-privileges",
                  "the scheduling inbox and outbox are not writable by PUT");
        return;
    }
    if (req->body_len > c->conf->max_resource_size) {
        dav_error(c, 413, card ? "CR:max-resource-size" : "C:max-resource-size",
                  "the object is %zu bytes; the limit is %llu", req->body_len,
                  (unsigned long long) c->conf->max_resource_size);
        return;
    }
    if (req->content_type != NULL
        && !content_type_is(req->content_type,
                            card ? "text/vcard" : "text/calendar")
        && !(card && content_type_is(req->content_type, "text/x-vcard")))
    {
        dav_error(
            c, 415,
            card ? "CR:supported-address-data" : "C:supported-calendar-data",
            "content type must be %s", card ? "text/vcard" : "text/calendar");
        return;
    }
    memset(&ix, 0, sizeof(ix));
    if (card) {
        if (caldav_vcard_check(req->body, req->body_len, &vix, &precond,
                               &c->err)
            != MTR_OK)
        {
            dav_error(c, 403, precond, "%s", c->err.msg);
            return;
        }
        ix.uid = vix.uid;
        ix.comp = "VCARD";
        ix.first_start = CALDAV_TIME_MIN;
        ix.last_end = CALDAV_TIME_MAX;
    } else {
        if (caldav_ical_check(req->body, req->body_len, c->coll.comp_set, &iix,
                              &precond, &c->err)
            != MTR_OK)
        {
            dav_error(c, 403, precond, "%s", c->err.msg);
            return;
        }
        ix.uid = iix.uid;
        ix.comp = iix.comp;
        ix.first_start = iix.first_start;
        ix.last_end = iix.last_end;
        ix.recurring = iix.recurring;
        if (iix.recurring) {
            instances_index(req, &iix, &ix, instp);
        }
    }
    /* RFC 4791 5.3.2.1 / RFC 6352 6.3.2.1: a resource keeps its UID.  The
     * HTTP preconditions are answered first (the store checks them again,
     * atomically, when it writes). */
    {
        uid_check_t u;
        int         grc;

        memset(&u, 0, sizeof(u));
        u.uid = ix.uid;
        grc = caldav_store_obj_get(c->st, c->coll.id, c->p.obj, 0, uid_check_cb,
                                   &u, &c->err);
        if (grc != MTR_OK && grc != CALDAV_STORE_NOT_FOUND) {
            dav_internal(c, "reading the object");
            return;
        }
        if ((req->if_match != NULL
             && (!u.exists || !etag_listed(req->if_match, u.etag)))
            || (req->if_none_match != NULL && u.exists
                && etag_listed(req->if_none_match, u.etag)))
        {
            dav_error(c, 412, NULL, "the object changed (ETag mismatch)");
            return;
        }
        if (u.differs) {
            dav_error(c, 403, card ? "CR:no-uid-conflict" : "C:no-uid-conflict",
                      "an object cannot change its UID: delete it and "
                      "store the new one");
            return;
        }
    }
    if (c->conf->quota_bytes > 0) {
        if (caldav_store_usage(c->st, &used, &objs, &c->err) != MTR_OK) {
            dav_internal(c, "reading usage");
            return;
        }
        if (used + req->body_len > c->conf->quota_bytes) {
            dav_error(c, 507, "D:quota-not-exceeded",
                      "storage quota of %llu bytes reached",
                      (unsigned long long) c->conf->quota_bytes);
            return;
        }
    }
    /* stores, then schedules (RFC 6638) when it is an owner's calendar */
    rc = caldav_sched_put(
        c->conf, req->user, c->p.user, &c->coll, c->st, c->p.obj, req->body,
        req->body_len, &ix, req->if_match,
        req->if_none_match != NULL && strcmp(req->if_none_match, "*") == 0,
        etag, &created, conflict, c->resp->log, sizeof(c->resp->log), &c->err);
    c->st = NULL; /* the attendees' stores may have closed it */
    switch (rc) {
    case MTR_OK:
        break;
    case CALDAV_STORE_PRECOND:
        dav_error(c, 412, NULL, "the object changed (ETag mismatch)");
        return;
    case CALDAV_STORE_UID_CONFLICT: {
        char path[CALDAV_MAX_PATH + 64];

        dav_error(c, 403, NULL, "UID %s is already used by %s", ix.uid,
                  conflict);
        /* the precondition carries the href of the other object */
        caldav_buf_free(&c->resp->body);
        caldav_buf_init(&c->resp->body);
        caldav_buf_adds(&c->resp->body, xml_head);
        caldav_buf_printf(&c->resp->body, "<D:error" NS_DECLS "><%s>",
                          card ? "CR:no-uid-conflict" : "C:no-uid-conflict");
        snprintf(path, sizeof(path), "%s/%s/%s/%s/%s", c->conf->prefix,
                 card ? "addressbooks" : "calendars", c->p.user, c->p.coll,
                 conflict);
        add_href(&c->resp->body, path);
        caldav_buf_printf(&c->resp->body, "</%s></D:error>\n",
                          card ? "CR:no-uid-conflict" : "C:no-uid-conflict");
        return;
    }
    default:
        dav_internal(c, "storing the object");
        return;
    }
    c->resp->status = created ? 201 : 204;
    snprintf(c->resp->etag, sizeof(c->resp->etag), "%s", etag);
}

static void
do_delete(ctx_t *c)
{
    int rc;

    if (c->p.kind == RES_GAL || c->p.kind == RES_GAL_OBJ) {
        dav_error(c, 403, "D:need-privileges", "the directory is read-only");
        return;
    }
    if (c->access != 2) {
        dav_error(c, 403, "D:need-privileges", "read-only access");
        return;
    }
    if (c->p.kind == RES_OBJ) {
        rc = caldav_sched_delete(c->conf, c->req->user, c->p.user, &c->coll,
                                 c->st, c->p.obj, c->req->if_match,
                                 c->resp->log, sizeof(c->resp->log), &c->err);
        c->st = NULL; /* the attendees' stores may have closed it */
    } else if (c->p.kind == RES_COLL && strcmp(c->p.user, c->req->user) == 0) {
        if (c->coll.kind == CALDAV_COLL_INBOX
            || c->coll.kind == CALDAV_COLL_OUTBOX) {
            dav_error(c, 403, "D:need-privileges",
                      "the scheduling inbox and outbox cannot be deleted");
            return;
        }
        rc = caldav_store_coll_delete(c->st, c->coll.name, &c->err);
    } else {
        dav_error(c, 403, "D:need-privileges", "this cannot be deleted");
        return;
    }
    if (rc == CALDAV_STORE_NOT_FOUND) {
        dav_error(c, 404, NULL, "no such resource");
        return;
    }
    if (rc == CALDAV_STORE_PRECOND) {
        dav_error(c, 412, NULL, "the object changed (ETag mismatch)");
        return;
    }
    if (rc != MTR_OK) {
        dav_internal(c, "deleting");
        return;
    }
    c->resp->status = 204;
}

/* POST of a D:share-resource body on a collection (caldav_share.c). */
static void
do_post(ctx_t *c)
{
    int         status = 0;
    const char *precond = NULL;

    if (c->p.kind != RES_COLL) {
        dav_error(c, 403, "D:need-privileges",
                  "only calendars and address books can be shared");
        return;
    }
    if (caldav_share_post(c->conf, store_for, c->req, c->p.user, &c->coll,
                          &status, &precond, &c->err)
        != MTR_OK)
    {
        dav_error(c, status, precond, "%s", c->err.msg);
        return;
    }
    c->st = NULL; /* the sharees' stores may have closed it */
    c->resp->status = 200;
    resp_log(c->resp, "shared %s", c->err.msg);
}

/* ---------------------------------------------------------------- */
/* REPORT                                                             */

/*
 * The object name an href of a multiget names inside the collection at
 * coll_path (decoded, ends in '/'), or MTR_ERROR when it points elsewhere.
 * The href may be absolute (scheme and host are dropped) and is
 * percent-decoded; an encoded '/' or NUL never matches.
 */
static int
href_object(const char *href, const char *coll_path, char *name,
            size_t name_size)
{
    char        path[CALDAV_MAX_PATH];
    size_t      cl = strlen(coll_path), o;
    const char *p;

    if (caldav_href_path(href, path, sizeof(path)) != MTR_OK) {
        return MTR_ERROR;
    }
    o = strlen(path);
    if (o <= cl || memcmp(path, coll_path, cl) != 0) {
        return MTR_ERROR;
    }
    p = path + cl;
    if (strchr(p, '/') != NULL || strlen(p) >= name_size || strcmp(p, ".") == 0
        || strcmp(p, "..") == 0)
    {
        return MTR_ERROR;
    }
    for (const char *q = p; *q; q++) {
        if ((unsigned char) *q < 0x20) {
            return MTR_ERROR;
        }
    }
    strcpy(name, p);
    return MTR_OK;
}

/* The VEVENT/VTODO/... filter below VCALENDAR, if there is exactly one. */
static const caldav_comp_filter_t *
query_comp(const caldav_comp_filter_t *root)
{
    if (root == NULL || root->comp_filters == NULL
        || root->comp_filters->next != NULL || root->prop_filters != NULL
        || root->time_range != NULL || root->is_not_defined)
    {
        return NULL;
    }
    return root->comp_filters;
}

typedef struct {
    ctx_t                      *c;
    const caldav_comp_filter_t *filter;
    const caldav_comp_filter_t *comp;       /* query_comp(filter) */
    int                         index_only; /* comp + time-range alone */
    const char                 *tz;
    int64_t                     start, end;
    int                         need_data; /* the walk carries data */
    int                         failed;
    uint64_t                    skipped;
} query_t;

static int query_cb(const caldav_obj_t *o, void *arg);

/* The fast path met a recurring candidate without its data: read it. */
static int
query_reread(const caldav_obj_t *o, void *arg)
{
    query_t *q = arg;

    q->need_data = 1;
    (void) query_cb(o, q);
    q->need_data = 0;
    return 0;
}

/*
 * RFC 4791 9.9 for a non-recurring VEVENT known by its index: [first_start,
 * last_end) against [start, end); a zero-length event matches when it
 * starts inside the range.
 */
static int
index_overlaps(const caldav_obj_t *o, int64_t start, int64_t end)
{
    if (o->last_end == o->first_start) {
        return o->first_start >= start && o->first_start < end;
    }
    return o->first_start < end && o->last_end > start;
}

static int
query_cb(const caldav_obj_t *o, void *arg)
{
    query_t *q = arg;
    ctx_t   *c = q->c;
    res_t    r;
    int      m;

    if (q->index_only && !o->recurring) {
        m = index_overlaps(o, q->start, q->end);
    } else if (q->index_only && !q->need_data
               && caldav_store_obj_hit(c->st, c->coll.id, o->name, q->start,
                                       q->end, &m, &c->err)
                      == MTR_OK)
    {
        /* the instance index answered without parsing */
    } else {
        if (!q->need_data) {
            if (caldav_store_obj_get(c->st, c->coll.id, o->name, 1,
                                     query_reread, q, &c->err)
                != MTR_OK)
            {
                q->skipped++;
            }
            return q->failed;
        }
        if (o->data == NULL) {
            return 0;
        }
        m = caldav_ical_match(o->data, o->len, q->filter, q->tz, &c->err);
        if (m < 0) {
            q->skipped++;
            return 0;
        }
    }
    if (m != 1) {
        return 0;
    }
    res_init_obj(c, &r, &c->coll, o);
    if (ms_response(c, &r, &c->resp->body) != MTR_OK) {
        q->failed = 1;
        return 1;
    }
    return 0;
}

static void
report_calendar_query(ctx_t *c)
{
    const caldav_req_body_t    *b = c->body;
    query_t                     q;
    const caldav_comp_filter_t *comp;
    int                         use_range = 0, with_data;

    if (b->comp_filter == NULL || strcmp(b->comp_filter->name, "VCALENDAR")) {
        dav_error(c, 403, "C:valid-filter",
                  "the filter must start with comp-filter VCALENDAR");
        return;
    }
    memset(&q, 0, sizeof(q));
    q.c = c;
    q.filter = b->comp_filter;
    q.tz = b->timezone ? b->timezone : c->coll.timezone;
    comp = query_comp(b->comp_filter);
    q.start = CALDAV_TIME_MIN;
    q.end = CALDAV_TIME_MAX;
    if (comp != NULL && comp->time_range != NULL && !comp->is_not_defined) {
        q.start = comp->time_range->start;
        q.end = comp->time_range->end;
        use_range = 1;
        q.index_only = strcmp(comp->name, "VEVENT") == 0
                       && comp->prop_filters == NULL
                       && comp->comp_filters == NULL && q.tz == NULL;
    }
    /* The fast path reads data only for recurring candidates. */
    with_data = want_data(c) || !q.index_only;
    q.need_data = with_data;
    /* Floating times may sit up to 14 hours either side of UTC: widen the
     * index lookup, the exact test runs on the candidates. */
    ms_begin(c);
    if (caldav_store_obj_walk(
            c->st, c->coll.id,
            comp != NULL && !comp->is_not_defined ? comp->name : NULL,
            use_range && q.start > CALDAV_TIME_MIN + 50401 ? q.start - 50400
                                                           : q.start,
            use_range && q.end < CALDAV_TIME_MAX - 50401 ? q.end + 50400
                                                         : q.end,
            use_range, with_data, query_cb, &q, &c->err)
        != MTR_OK)
    {
        dav_internal(c, "querying the calendar");
        return;
    }
    if (q.skipped > 0) {
        resp_log(c->resp, "calendar-query skipped %llu unreadable objects",
                 (unsigned long long) q.skipped);
    }
    ms_end(c);
}

static void
report_multiget(ctx_t *c)
{
    res_t  cr;
    walk_t w = { c, &c->coll, 0 };
    char   name[CALDAV_MAX_SEGMENT + 1];

    res_init_coll(c, &cr, &c->coll);
    ms_begin(c);
    for (const caldav_href_t *h = c->body->hrefs; h && !w.failed; h = h->next) {
        int rc = MTR_ERROR;

        if (href_object(h->href, cr.path, name, sizeof(name)) == MTR_OK) {
            rc = caldav_store_obj_get(c->st, c->coll.id, name, want_data(c),
                                      walk_obj_response, &w, &c->err);
        }
        if (rc == CALDAV_STORE_NOT_FOUND || rc == MTR_ERROR) {
            /* outside the collection or unknown: 404 for that href */
            caldav_buf_adds(&c->resp->body, "<D:response><D:href>");
            caldav_buf_add_xml(&c->resp->body, h->href, strlen(h->href));
            caldav_buf_adds(&c->resp->body, "</D:href><D:status>HTTP/1.1 404 "
                                            "Not Found</D:status>"
                                            "</D:response>\n");
        } else if (rc != MTR_OK) {
            dav_internal(c, "reading an object");
            return;
        }
    }
    ms_end(c);
}

typedef struct {
    ctx_t                     *c;
    caldav_ical_periods_t      periods;
    const caldav_time_range_t *range;
    int                        failed;
} fb_t;

static int
fb_cb(const caldav_obj_t *o, void *arg)
{
    fb_t *f = arg;

    if (o->data != NULL
        && caldav_ical_freebusy_add(o->data, o->len, f->range,
                                    f->c->coll.timezone, &f->periods,
                                    &f->c->err)
               != MTR_OK)
    {
        /* an unreadable object is skipped, never fatal */
        return 0;
    }
    return 0;
}

static void
report_freebusy(ctx_t *c)
{
    fb_t f;

    memset(&f, 0, sizeof(f));
    f.c = c;
    f.range = &c->body->freebusy;
    if (c->p.kind != RES_COLL || c->coll.kind != CALDAV_COLL_CALENDAR) {
        dav_error(c, 403, "D:supported-report",
                  "free-busy-query works on calendars");
        return;
    }
    if (caldav_store_obj_walk(c->st, c->coll.id, NULL, f.range->start,
                              f.range->end, 1, 1, fb_cb, &f, &c->err)
            != MTR_OK
        || caldav_ical_freebusy_render(&f.periods, f.range, &c->resp->body,
                                       &c->err)
               != MTR_OK)
    {
        caldav_ical_periods_free(&f.periods);
        dav_internal(c, "free-busy");
        return;
    }
    caldav_ical_periods_free(&f.periods);
    c->resp->status = 200;
    c->resp->content_type = "text/calendar; charset=utf-8";
}

typedef struct {
    ctx_t                      *c;
    const caldav_card_filter_t *filter;
    uint64_t                    limit, n;
    int                         truncated, failed;
} cardq_t;

static int
cardq_cb(const caldav_obj_t *o, void *arg)
{
    cardq_t *q = arg;
    res_t    r;

    if (o->data == NULL
        || (q->filter != NULL
            && caldav_vcard_match(o->data, o->len, q->filter, &q->c->err) != 1))
    {
        return 0;
    }
    if (q->limit > 0 && q->n >= q->limit) {
        q->truncated = 1;
        return 1;
    }
    q->n++;
    res_init_obj(q->c, &r, &q->c->coll, o);
    if (ms_response(q->c, &r, &q->c->resp->body) != MTR_OK) {
        q->failed = 1;
        return 1;
    }
    return 0;
}

/* RFC 6352 8.6.1 / RFC 5323: the collection itself with 507 when a limit
 * cut the result. */
static void
truncated_mark(ctx_t *c, const char *path)
{
    caldav_buf_adds(&c->resp->body, "<D:response>");
    add_href(&c->resp->body, path);
    caldav_buf_adds(&c->resp->body,
                    "<D:status>HTTP/1.1 507 Insufficient Storage</D:status>"
                    "<D:error><D:number-of-matches-within-limits/></D:error>"
                    "</D:response>\n");
}

static void
report_addressbook_query(ctx_t *c)
{
    cardq_t q;
    res_t   r;

    memset(&q, 0, sizeof(q));
    q.c = c;
    q.filter = c->body->card_filter;
    q.limit = c->body->limit_results;
    if (c->p.kind == RES_GAL) {
        gal_walk_t g;

        memset(&g, 0, sizeof(g));
        g.c = c;
        g.filter = q.filter;
        g.limit = q.limit;
        ms_begin(c);
        if (c->conf->gal_search(c->conf->gal_ctx, user_domain(c->p.user),
                                gal_each, &g, &c->err)
            != MTR_OK)
        {
            dav_error(c, 503, NULL, "directory unavailable: %s", c->err.msg);
            return;
        }
        if (g.truncated) {
            res_init_gal(c, &r);
            truncated_mark(c, r.path);
        }
        ms_end(c);
        return;
    }
    ms_begin(c);
    if (caldav_store_obj_walk(c->st, c->coll.id, NULL, 0, 0, 0, 1, cardq_cb, &q,
                              &c->err)
        != MTR_OK)
    {
        dav_internal(c, "querying the address book");
        return;
    }
    if (q.truncated) {
        res_init_coll(c, &r, &c->coll);
        truncated_mark(c, r.path);
    }
    ms_end(c);
}

/* Parse our sync token; MTR_OK with *since_r (0 for ""). */
static int
token_parse(const char *t, int64_t coll_id, uint64_t *since_r)
{
    size_t             pl = sizeof(CALDAV_SYNC_PREFIX) - 1;
    unsigned long long id, ms;
    int                n = 0;

    if (t == NULL || t[0] == '\0') {
        *since_r = 0;
        return MTR_OK;
    }
    if (strncmp(t, CALDAV_SYNC_PREFIX, pl) != 0
        || sscanf(t + pl, "%llu-%llu%n", &id, &ms, &n) != 2
        || t[pl + (size_t) n] != '\0' || (int64_t) id != coll_id || ms == 0)
    {
        return MTR_ERROR;
    }
    *since_r = ms;
    return MTR_OK;
}

typedef struct {
    ctx_t *c;
    int    failed;
} sync_t;

static int
sync_cb(const caldav_obj_t *o, void *arg)
{
    sync_t *s = arg;
    res_t   r;

    res_init_obj(s->c, &r, &s->c->coll, o);
    if (o->deleted) {
        ms_status(&s->c->resp->body, r.path, "404 Not Found");
        return 0;
    }
    if (ms_response(s->c, &r, &s->c->resp->body) != MTR_OK) {
        s->failed = 1;
        return 1;
    }
    return 0;
}

static void
report_sync(ctx_t *c)
{
    uint64_t since = 0, now = 0;
    int      truncated = 0, rc;
    sync_t   s = { c, 0 };
    res_t    r;

    if (c->p.kind != RES_COLL) {
        dav_error(c, 403, "D:supported-report",
                  "sync-collection works on calendars and address books");
        return;
    }
    if (c->body->sync_level != 1) {
        dav_error(c, 403, "D:sync-traversal-supported",
                  "only sync-level 1 is supported");
        return;
    }
    if (token_parse(c->body->sync_token, c->coll.id, &since) != MTR_OK) {
        dav_error(c, 403, "D:valid-sync-token",
                  "unknown sync token: start again with an empty one");
        return;
    }
    ms_begin(c);
    rc = caldav_store_changes(c->st, c->coll.id, since, c->body->limit_results,
                              want_data(c), sync_cb, &s, &now, &truncated,
                              &c->err);
    if (rc == CALDAV_STORE_BAD_TOKEN) {
        dav_error(c, 403, "D:valid-sync-token",
                  "the sync token is too old or unknown: start again with "
                  "an empty one");
        return;
    }
    if (rc != MTR_OK) {
        dav_internal(c, "reading changes");
        return;
    }
    if (truncated) {
        res_init_coll(c, &r, &c->coll);
        truncated_mark(c, r.path);
    }
    caldav_buf_printf(&c->resp->body,
                      "<D:sync-token>" CALDAV_SYNC_PREFIX "%lld-%llu"
                      "</D:sync-token>\n",
                      (long long) c->coll.id,
                      (unsigned long long) (now > 0 ? now : c->coll.modseq));
    ms_end(c);
}

static int
contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);

    for (; *hay; hay++) {
        if (strncasecmp(hay, needle, n) == 0) {
            return 1;
        }
    }
    return n == 0;
}

/* principal-property-search: principals whose address or name contains
 * the text; without a directory listing, the requester's own. */
static void
report_principal_search(ctx_t *c)
{
    res_t       r;
    const char *t = c->body->search_text ? c->body->search_text : "";

    ms_begin(c);
    if (contains_nocase(c->req->user, t)) {
        memset(&r, 0, sizeof(r));
        r.kind = RES_PRINCIPAL;
        r.owner = c->req->user;
        snprintf(r.path, sizeof(r.path), "%s/principals/%s/", c->conf->prefix,
                 c->req->user);
        ms_response(c, &r, &c->resp->body);
    }
    ms_end(c);
}

static void
report_search_set(ctx_t *c)
{
    c->resp->status = 200;
    c->resp->content_type = "application/xml; charset=utf-8";
    caldav_buf_adds(&c->resp->body, xml_head);
    caldav_buf_adds(&c->resp->body,
                    "<D:principal-search-property-set" NS_DECLS ">"
                    "<D:principal-search-property><D:prop><D:displayname/>"
                    "</D:prop><D:description xml:lang=\"en\">Name"
                    "</D:description></D:principal-search-property>"
                    "<D:principal-search-property><D:prop>"
                    "<C:calendar-user-address-set/></D:prop>"
                    "<D:description xml:lang=\"en\">Address</D:description>"
                    "</D:principal-search-property>"
                    "</D:principal-search-property-set>\n");
}

/* addressbook-multiget on the directory: one walk of the domain's cards
 * for all the hrefs, whatever their number. */
static void
report_gal_multiget(ctx_t *c)
{
    gal_walk_t  g;
    gal_want_t *w;
    size_t      n = 0, i;
    char        gp[CALDAV_MAX_PATH];

    for (const caldav_href_t *h = c->body->hrefs; h; h = h->next) {
        n++;
    }
    w = calloc(n ? n : 1, sizeof(*w));
    if (w == NULL) {
        mtr_err_set(&c->err, "out of memory");
        dav_internal(c, "directory multiget");
        return;
    }
    snprintf(gp, sizeof(gp), "%s/addressbooks/%s/%s/", c->conf->prefix,
             c->p.user, CALDAV_GAL_NAME);
    i = 0;
    for (const caldav_href_t *h = c->body->hrefs; h; h = h->next, i++) {
        w[i].href = h->href;
        if (href_object(h->href, gp, w[i].name, sizeof(w[i].name)) != MTR_OK) {
            w[i].name[0] = '\0'; /* matches no card */
        }
    }
    qsort(w, n, sizeof(*w), gal_want_cmp);
    memset(&g, 0, sizeof(g));
    g.c = c;
    g.wanted = w;
    g.nwanted = n;
    ms_begin(c);
    if (c->conf->gal_search(c->conf->gal_ctx, user_domain(c->p.user), gal_each,
                            &g, &c->err)
        != MTR_OK)
    {
        free(w);
        dav_error(c, 503, NULL, "directory unavailable: %s", c->err.msg);
        return;
    }
    for (i = 0; i < n; i++) {
        if (!w[i].hit) {
            caldav_buf_adds(&c->resp->body, "<D:response><D:href>");
            caldav_buf_add_xml(&c->resp->body, w[i].href, strlen(w[i].href));
            caldav_buf_adds(&c->resp->body, "</D:href><D:status>HTTP/1.1 404 "
                                            "Not Found</D:status>"
                                            "</D:response>\n");
        }
    }
    free(w);
    ms_end(c);
}

/* expand-property: answered like PROPFIND Depth 0 with the top-level
 * properties (nested expansion is not done). */
static void
report_expand_property(ctx_t *c)
{
    caldav_request_t        r0 = *c->req;
    const caldav_request_t *saved = c->req;

    c->body->propfind = CALDAV_PROPFIND_PROP;
    r0.depth = "0";
    c->req = &r0;
    do_propfind(c);
    c->req = saved;
}

/* principal-match, acl-principal-prop-set: nothing to report. */
static void
report_empty(ctx_t *c)
{
    ms_begin(c);
    ms_end(c);
}

static void
report_book_multiget(ctx_t *c)
{
    if (c->p.kind == RES_GAL) {
        report_gal_multiget(c);
    } else {
        report_multiget(c);
    }
}

/* Where a report may run. */
enum { ON_ANY = 0, ON_CALENDAR, ON_BOOK };

static const struct {
    caldav_body_e kind;
    int           on;
    void (*run)(ctx_t *c);
} reports[] = {
    { CALDAV_BODY_CALENDAR_QUERY, ON_CALENDAR, report_calendar_query },
    { CALDAV_BODY_CALENDAR_MULTIGET, ON_CALENDAR, report_multiget },
    { CALDAV_BODY_FREE_BUSY_QUERY, ON_CALENDAR, report_freebusy },
    { CALDAV_BODY_ADDRESSBOOK_QUERY, ON_BOOK, report_addressbook_query },
    { CALDAV_BODY_ADDRESSBOOK_MULTIGET, ON_BOOK, report_book_multiget },
    { CALDAV_BODY_SYNC_COLLECTION, ON_ANY, report_sync },
    { CALDAV_BODY_PRINCIPAL_PROPERTY_SEARCH, ON_ANY, report_principal_search },
    { CALDAV_BODY_PRINCIPAL_SEARCH_PROPERTY_SET, ON_ANY, report_search_set },
    { CALDAV_BODY_EXPAND_PROPERTY, ON_ANY, report_expand_property },
    { CALDAV_BODY_PRINCIPAL_MATCH, ON_ANY, report_empty },
    { CALDAV_BODY_ACL_PRINCIPAL_PROP_SET, ON_ANY, report_empty },
};

static void
do_report(ctx_t *c)
{
    caldav_body_e k = c->body ? c->body->kind : CALDAV_BODY_NONE;
    int           is_coll = c->p.kind == RES_COLL;
    int           cal = is_coll && !c->p.card;
    int           book = (is_coll && c->p.card) || c->p.kind == RES_GAL;

    for (size_t i = 0; i < sizeof(reports) / sizeof(reports[0]); i++) {
        if (reports[i].kind != k) {
            continue;
        }
        if ((reports[i].on == ON_CALENDAR && !cal)
            || (reports[i].on == ON_BOOK && !book))
        {
            break;
        }
        reports[i].run(c);
        return;
    }
    dav_error(c, 403, "D:supported-report",
              "this report is not supported on this resource");
}

/* ---------------------------------------------------------------- */
/* dispatch                                                           */

static const char allow_methods[] =
    "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH, MKCOL, "
    "MKCALENDAR, REPORT, POST";

void
caldav_global_init(void)
{
    caldav_ical_init();
}

static int
method_is(const caldav_request_t *req, const char *m)
{
    return strcmp(req->method, m) == 0;
}

static int
wellknown(const caldav_conf_t *conf, const caldav_request_t *req,
          caldav_response_t *resp)
{
    static const char wk_cal[] = "/.well-known/caldav";
    static const char wk_card[] = "/.well-known/carddav";
    size_t            l = req->path_len;

    while (l > 1 && req->path[l - 1] == '/') {
        l--;
    }
    if ((l == sizeof(wk_cal) - 1 && memcmp(req->path, wk_cal, l) == 0)
        || (l == sizeof(wk_card) - 1 && memcmp(req->path, wk_card, l) == 0))
    {
        resp->status = 301;
        snprintf(resp->location, sizeof(resp->location), "%s/", conf->prefix);
        return 1;
    }
    return 0;
}

static int
needs_body(const caldav_request_t *req)
{
    return method_is(req, "PROPFIND") || method_is(req, "PROPPATCH")
           || method_is(req, "MKCALENDAR") || method_is(req, "MKCOL")
           || method_is(req, "REPORT");
}

/* Find what the path names and whether the requester may touch it. */
static int
resolve(ctx_t *c)
{
    const char *me = c->req->user;
    int         rc;

    switch (c->p.kind) {
    case RES_ROOT:
    case RES_PRINCIPALS:
        return MTR_OK;
    case RES_PRINCIPAL:
        if (strcmp(c->p.user, me) == 0) {
            return MTR_OK;
        }
        if (strcmp(user_domain(c->p.user), user_domain(me)) != 0
            || c->conf->user_exists == NULL
            || !c->conf->user_exists(c->conf->user_ctx, c->p.user, NULL, 0))
        {
            dav_error(c, 404, NULL, "no such principal");
            return MTR_ERROR;
        }
        return MTR_OK;
    case RES_GAL:
    case RES_GAL_OBJ:
        if (strcmp(c->p.user, me) != 0 || c->conf->gal_search == NULL) {
            dav_error(c, strcmp(c->p.user, me) ? 403 : 404,
                      strcmp(c->p.user, me) ? "D:need-privileges" : NULL,
                      "no access to that address book");
            return MTR_ERROR;
        }
        c->access = 1;
        return MTR_OK;
    default:
        break;
    }

    /* homes, collections, objects: the owner's store.  Logins and shares
     * are lower case; the directory matches any case, the store path does
     * not: another case would open (and make) another store. */
    if (strcmp(c->p.user, me) != 0
        && (c->p.kind == RES_HOME || !lower_case(c->p.user)
            || strcmp(user_domain(c->p.user), user_domain(me)) != 0))
    {
        dav_error(c, 403, "D:need-privileges",
                  "%s may not use the collections of %s", me, c->p.user);
        return MTR_ERROR;
    }
    if (strcmp(c->p.user, me) != 0
        && (c->conf->user_exists == NULL
            || !c->conf->user_exists(c->conf->user_ctx, c->p.user, NULL, 0)))
    {
        dav_error(c, 403, "D:need-privileges",
                  "%s may not use the collections of %s", me, c->p.user);
        return MTR_ERROR;
    }
    c->st = store_for(c->conf, c->p.user, &c->err);
    if (c->st == NULL) {
        dav_internal(c, "opening the store");
        return MTR_ERROR;
    }
    c->access = access_check(c);
    if (c->access == 0) {
        dav_error(c, 403, "D:need-privileges",
                  "%s may not use the collections of %s", me, c->p.user);
        return MTR_ERROR;
    }
    if (c->p.kind == RES_HOME) {
        return MTR_OK;
    }
    rc = coll_load(c);
    if (rc == MTR_OK) {
        if (c->p.kind == RES_COLL && !c->p.trailing_slash
            && method_is(c->req, "GET")) {
            /* fine: collections answer with or without the slash */
        }
        return MTR_OK;
    }
    if (rc != CALDAV_STORE_NOT_FOUND) {
        dav_internal(c, "reading the collection");
        return MTR_ERROR;
    }
    if (c->p.kind == RES_COLL
        && (method_is(c->req, "MKCOL") || method_is(c->req, "MKCALENDAR")))
    {
        return MTR_OK;
    }
    if (c->p.kind == RES_OBJ && method_is(c->req, "PUT")) {
        dav_error(c, 409, NULL, "the collection %s does not exist", c->p.coll);
        return MTR_ERROR;
    }
    dav_error(c, 404, NULL, "no such collection");
    return MTR_ERROR;
}

void
caldav_handle(const caldav_conf_t *conf, const caldav_request_t *req,
              caldav_response_t *resp)
{
    ctx_t       c;
    int         status = 0;
    const char *precond = NULL;

    memset(&c, 0, sizeof(c));
    c.conf = conf;
    c.req = req;
    c.resp = resp;

    if (wellknown(conf, req, resp)) {
        return;
    }
    if (path_parse(conf, req->path, req->path_len, &c.p) != MTR_OK) {
        dav_error(&c, 400, NULL,
                  "bad path: dot segments, control bytes or overlong names");
        return;
    }
    if (c.p.kind == RES_NONE) {
        dav_error(&c, 404, NULL, "not a DAV resource");
        return;
    }
    if (method_is(req, "OPTIONS")) {
        resp->status = 200;
        resp->dav_header = 1;
        return;
    }
    if (req->user == NULL || !user_valid(req->user)) {
        dav_error(&c, 401, NULL, "authentication required");
        return;
    }
    if (resolve(&c) != MTR_OK) {
        goto done;
    }
    if (needs_body(req)
        && (req->body_len > 0 || method_is(req, "PROPFIND")
            || method_is(req, "REPORT")))
    {
        if (caldav_xml_parse(req->method, req->body, req->body_len, &c.body,
                             &status, &precond, &c.err)
            != MTR_OK)
        {
            dav_error(&c, status ? status : 400, precond, "%s", c.err.msg);
            goto done;
        }
    }

    if (method_is(req, "PROPFIND")) {
        if (c.body->kind != CALDAV_BODY_PROPFIND) {
            dav_error(&c, 400, NULL, "PROPFIND needs a propfind body");
        } else {
            do_propfind(&c);
        }
    } else if (method_is(req, "REPORT")) {
        do_report(&c);
    } else if (method_is(req, "GET") || method_is(req, "HEAD")) {
        do_get(&c);
    } else if (method_is(req, "PUT")) {
        do_put(&c);
    } else if (method_is(req, "DELETE")) {
        do_delete(&c);
    } else if (method_is(req, "PROPPATCH")) {
        if (c.body == NULL) {
            dav_error(&c, 400, NULL, "PROPPATCH needs a body");
        } else {
            do_proppatch(&c);
        }
    } else if (method_is(req, "MKCALENDAR")) {
        do_mkcol(&c, 1);
    } else if (method_is(req, "MKCOL")) {
        do_mkcol(&c, 0);
    } else if (method_is(req, "POST") && c.p.kind == RES_COLL
               && c.coll.kind == CALDAV_COLL_OUTBOX)
    {
        if (strcmp(c.p.user, req->user) != 0) {
            dav_error(&c, 403, "D:need-privileges",
                      "only the owner may use an outbox");
        } else {
            caldav_sched_post(conf, req->user, req->content_type, req->body,
                              req->body_len, resp);
        }
    } else if (method_is(req, "POST") && caldav_share_is_post(req)) {
        do_post(&c);
    } else {
        dav_error(&c, 405, NULL, "method %s is not supported here",
                  req->method);
        resp->dav_header = 1;
    }

done:
    if (c.have_coll) {
        caldav_coll_clear(&c.coll);
    }
    caldav_req_body_free(c.body);
}

const char *
caldav_allow_methods(void)
{
    return allow_methods;
}
