/*
 * caldav_xml.c -- WebDAV/CalDAV/CardDAV request bodies (PROPFIND,
 * PROPPATCH, MKCALENDAR, extended MKCOL, REPORT, the share-resource POST)
 * parsed with libxml2 into a caldav_req_body_t.
 *
 * Core (no host header).  Covered by tests/unit/test_caldav_xml.c and the
 * libFuzzer target tests/fuzz/fuzz_caldav_xml.c.
 *
 * Hostile input.  libxml2 runs with XML_PARSE_NONET and without NOENT,
 * DTDLOAD or HUGE.  Our SAX hooks stop the parser at the first DOCTYPE
 * (internal or external subset) or entity declaration, so a billion-laughs
 * or XXE document is refused before any entity is even declared.  The same
 * hooks count depth and nodes while the tree is built, so neither a deep
 * nor a wide document can make a large tree.  The libxml2 error channel is
 * captured per parser context (nothing reaches stderr) and the thread's
 * generic error handler is silenced for the duration of a call and then
 * restored.  xmlInitParser() runs once, lazily, under pthread_once, so the
 * parser is safe to call from nginx's thread pool without any setup.
 *
 * Elements are matched by namespace URI and local name, never by prefix.
 * Unknown elements are ignored (RFC 4918 forward compatibility) except
 * inside a filter, where ignoring one would widen the result: there they
 * are 403 with C:supported-filter / CR:supported-filter.
 *
 * Limits of this version, on purpose:
 *   - <C:comp>/<C:prop> inside calendar-data and <CR:prop> inside
 *     address-data are ignored: the full object is returned;
 *   - calendar-data / address-data set want_data (and their options)
 *     wherever a DAV:prop is read, PROPFIND included, and stay in props;
 *   - a REPORT without DAV:prop asks for no property (kind PROP, no props);
 *   - expand-property keeps the top-level DAV:property names only;
 *   - principal-property-search keeps the first DAV:match text and the
 *     union of the properties of every property-search;
 *   - principal-match keeps the DAV:principal-property name in
 *     search_props (DAV:self leaves it empty);
 *   - CardDAV text-match defaults to i;unicode-casemap (RFC 6352 10.5.4),
 *     CalDAV to i;ascii-casemap (RFC 4791 9.7.5);
 *   - text is what XML makes of it: a literal CR LF arrives as LF (XML 1.0
 *     2.11), so C:timezone and dead properties carry LF line ends.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "caldav_buf.h"
#include "caldav_xml.h"

/* Elements + attributes + namespace declarations in one body. */
#define CALDAV_XML_MAX_NODES 100000
/* <nresults> upper bound: anything larger is "no limit" in practice. */
#define CALDAV_XML_MAX_NRESULTS 1000000000u

#define NS_D  CALDAV_NS_DAV
#define NS_C  CALDAV_NS_CALDAV
#define NS_CR CALDAV_NS_CARDDAV

/* Precondition names in the CalDAV or the CardDAV namespace. */
#define PC(px, n) ((px)->card ? "CR:" n : "C:" n)

#define DTD_REFUSED "DTDs and entities are not accepted"

typedef enum {
    CALDAV_M_PROPFIND,
    CALDAV_M_PROPPATCH,
    CALDAV_M_MKCALENDAR,
    CALDAV_M_MKCOL,
    CALDAV_M_REPORT,
    CALDAV_M_POST
} caldav_method_e;

/* State of the SAX hooks while libxml2 builds the tree. */
typedef struct {
    startElementNsSAX2Func start;
    endElementNsSAX2Func   end;
    int                    depth;
    size_t                 nodes;
    int                    dtd;
    int                    too_deep;
    int                    too_many;
    int                    have_error;
    int                    error_line;
    char                   error[200];
} caldav_sax_t;

/* State of the walk over the tree. */
typedef struct {
    caldav_req_body_t     *rb;
    mtr_err_t             *err;
    int                    status;
    const char            *precond;
    int                    card; /* CardDAV REPORT: CR preconditions */
    const char            *fns;  /* namespace of filter elements */
    int                    seen_prop;
    size_t                 nprops;
    size_t                 nhrefs;
    size_t                 nsharees;
    caldav_propname_t    **props_tail;
    caldav_propname_t    **include_tail;
    caldav_propname_t    **search_tail;
    caldav_prop_update_t **upd_tail;
    caldav_href_t        **href_tail;
    caldav_sharee_t      **sharee_tail;
} caldav_px_t;

typedef int (*caldav_report_pt)(caldav_px_t *px, xmlNodePtr root);

typedef struct {
    const char      *ns;
    const char      *name;
    caldav_body_e    kind;
    caldav_report_pt parse;
} caldav_report_t;

static pthread_once_t caldav_xml_once = PTHREAD_ONCE_INIT;


/* ---- errors and small helpers ---------------------------------------- */

static int caldav_fail(caldav_px_t *px, int status, const char *precond,
                       const char *fmt, ...) MTR_PRINTF(4, 5);

/* Keep the first failure: later ones are consequences of it. */
static int
caldav_fail(caldav_px_t *px, int status, const char *precond, const char *fmt,
            ...)
{
    va_list ap;
    char    msg[MTR_ERR_MAX];

    if (px->status != 0) {
        return MTR_ERROR;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    px->status = status;
    px->precond = precond;
    mtr_err_set(px->err, "%s", msg);
    return MTR_ERROR;
}

static int
caldav_nomem(caldav_px_t *px)
{
    return caldav_fail(px, 500, NULL, "out of memory");
}

/* A name from the document, masked for the log and the error body. */
static const char *
caldav_show(const xmlChar *s, char *buf, size_t size)
{
    const char *p = s ? (const char *) s : "";

    mtr_sanitize(buf, size, p, strlen(p));
    return buf;
}

static int
caldav_is_ws(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int
caldav_is_el(xmlNodePtr n, const char *ns, const char *name)
{
    return n != NULL && n->type == XML_ELEMENT_NODE && n->ns != NULL
           && n->ns->href != NULL && strcmp((const char *) n->ns->href, ns) == 0
           && strcmp((const char *) n->name, name) == 0;
}

static xmlNodePtr
caldav_el(xmlNodePtr n)
{
    while (n != NULL && n->type != XML_ELEMENT_NODE) {
        n = n->next;
    }
    return n;
}

/* The first element child of n, the next element sibling of c. */
static xmlNodePtr
caldav_first(xmlNodePtr n)
{
    return caldav_el(n->children);
}

static xmlNodePtr
caldav_next(xmlNodePtr c)
{
    return caldav_el(c->next);
}

/* RFC 3629 UTF-8: no overlongs, no surrogates, nothing past U+10FFFF. */
static int
caldav_utf8_valid(const unsigned char *s, size_t len)
{
    size_t   i, n, k;
    uint32_t cp;

    for (i = 0; i < len; i += n) {
        if (s[i] < 0x80) {
            n = 1;
            continue;
        }
        if (s[i] >= 0xc2 && s[i] <= 0xdf) {
            n = 2;
            cp = s[i] & 0x1f;
        } else if (s[i] >= 0xe0 && s[i] <= 0xef) {
            n = 3;
            cp = s[i] & 0x0f;
        } else if (s[i] >= 0xf0 && s[i] <= 0xf4) {
            n = 4;
            cp = s[i] & 0x07;
        } else {
            return 0;
        }
        if (n > len - i) {
            return 0;
        }
        for (k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return 0;
            }
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
            || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        {
            return 0;
        }
    }
    return 1;
}

/* A NUL-terminated copy of len bytes, checked to be UTF-8. */
static char *
caldav_dupn(caldav_px_t *px, const char *s, size_t len)
{
    char *p;

    if (!caldav_utf8_valid((const unsigned char *) s, len)
        || memchr(s, '\0', len) != NULL)
    {
        caldav_fail(px, 400, NULL, "text is not valid UTF-8");
        return NULL;
    }
    p = malloc(len + 1);
    if (p == NULL) {
        caldav_nomem(px);
        return NULL;
    }
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

static char *
caldav_dup(caldav_px_t *px, const xmlChar *s)
{
    const char *p = s ? (const char *) s : "";

    return caldav_dupn(px, p, strlen(p));
}

/* Text content of n, whitespace-trimmed when trim is set. */
static char *
caldav_text(caldav_px_t *px, xmlNodePtr n, int trim)
{
    xmlChar    *c;
    const char *p;
    size_t      len;
    char       *s;

    c = xmlNodeGetContent(n);
    p = c ? (const char *) c : "";
    len = strlen(p);
    if (trim) {
        while (len > 0 && caldav_is_ws((unsigned char) *p)) {
            p++;
            len--;
        }
        while (len > 0 && caldav_is_ws((unsigned char) p[len - 1])) {
            len--;
        }
    }
    s = caldav_dupn(px, p, len);
    xmlFree(c);
    return s;
}

/* An unqualified attribute, copied; NULL with px->status == 0: absent. */
static char *
caldav_attr(caldav_px_t *px, xmlNodePtr n, const char *name)
{
    xmlChar *v;
    char    *s;

    v = xmlGetNoNsProp(n, (const xmlChar *) name);
    if (v == NULL) {
        return NULL;
    }
    s = caldav_dup(px, v);
    xmlFree(v);
    return s;
}

static int
caldav_count_prop(caldav_px_t *px)
{
    if (++px->nprops > CALDAV_XML_MAX_PROPS) {
        return caldav_fail(px, 400, NULL, "more than %d properties",
                           CALDAV_XML_MAX_PROPS);
    }
    return MTR_OK;
}


/* ---- times ------------------------------------------------------------ */

static int
caldav_digits(const char *s, size_t n, int *v_r)
{
    size_t i;
    int    v = 0;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return MTR_ERROR;
        }
        v = v * 10 + (s[i] - '0');
    }
    *v_r = v;
    return MTR_OK;
}

int
caldav_xml_parse_utc(const char *s, int64_t *t_r)
{
    static const int mdays[12] = { 31, 28, 31, 30, 31, 30,
                                   31, 31, 30, 31, 30, 31 };
    struct tm        tm;
    int              y, mo, d, h, mi, se, leap;

    if (s == NULL || t_r == NULL || strnlen(s, 17) != 16 || s[8] != 'T'
        || s[15] != 'Z' || caldav_digits(s, 4, &y) != MTR_OK
        || caldav_digits(s + 4, 2, &mo) != MTR_OK
        || caldav_digits(s + 6, 2, &d) != MTR_OK
        || caldav_digits(s + 9, 2, &h) != MTR_OK
        || caldav_digits(s + 11, 2, &mi) != MTR_OK
        || caldav_digits(s + 13, 2, &se) != MTR_OK)
    {
        return MTR_ERROR;
    }
    leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap)
        || h > 23 || mi > 59 || se > 59)
    {
        return MTR_ERROR;
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    /* The fields are valid, so timegm cannot fail with a 64-bit time_t. */
    *t_r = (int64_t) timegm(&tm);
    return MTR_OK;
}

/*
 * start/end attributes of a time-range or expand element.  need_both:
 * expand / limit-*-set (RFC 4791 9.6.5-9.6.7); otherwise one is enough
 * (RFC 4791 9.9).  end must come after start.
 */
static int
caldav_range(caldav_px_t *px, xmlNodePtr n, caldav_time_range_t *tr,
             int need_both, const char *precond)
{
    static const char *const names[2] = { "start", "end" };
    int64_t                 *dst[2];
    char                    *v;
    char                     show[64];
    int                      i, seen = 0;

    tr->start = CALDAV_TIME_MIN;
    tr->end = CALDAV_TIME_MAX;
    dst[0] = &tr->start;
    dst[1] = &tr->end;
    for (i = 0; i < 2; i++) {
        v = caldav_attr(px, n, names[i]);
        if (v == NULL) {
            if (px->status != 0) {
                return MTR_ERROR;
            }
            continue;
        }
        seen++;
        if (caldav_xml_parse_utc(v, dst[i]) != MTR_OK) {
            caldav_fail(px, 400, precond,
                        "%s: %s=\"%s\" is not a UTC time YYYYMMDDTHHMMSSZ",
                        (const char *) n->name, names[i],
                        caldav_show((const xmlChar *) v, show, sizeof(show)));
            free(v);
            return MTR_ERROR;
        }
        free(v);
    }
    if (seen == 0 || (need_both && seen != 2)) {
        return caldav_fail(px, 400, precond, "%s needs %s", n->name,
                           need_both ? "start and end" : "start or end");
    }
    if (seen == 2 && tr->end <= tr->start) {
        return caldav_fail(px, 400, precond, "%s ends before it starts",
                           n->name);
    }
    return MTR_OK;
}


/* ---- property names and calendar-data options ------------------------ */

static int
caldav_calendar_data(caldav_px_t *px, xmlNodePtr n)
{
    caldav_req_body_t *rb = px->rb;
    xmlNodePtr         c;
    char              *ct, *ver;
    int                bad;

    rb->want_data = 1;
    ct = caldav_attr(px, n, "content-type");
    ver = px->status ? NULL : caldav_attr(px, n, "version");
    bad = (ct != NULL && strcasecmp(ct, "text/calendar") != 0)
          || (ver != NULL && strcmp(ver, "2.0") != 0);
    free(ct);
    free(ver);
    if (px->status != 0) {
        return MTR_ERROR;
    }
    if (bad) {
        return caldav_fail(px, 403, "C:supported-calendar-data",
                           "only text/calendar 2.0 is supported");
    }
    for (c = caldav_first(n); c != NULL; c = caldav_next(c)) {
        if (caldav_is_el(c, NS_C, "expand")) {
            if (rb->has_expand) {
                return caldav_fail(px, 400, NULL, "expand given twice");
            }
            rb->has_expand = 1;
            if (caldav_range(px, c, &rb->expand, 1, NULL) != MTR_OK) {
                return MTR_ERROR;
            }
        } else if (caldav_is_el(c, NS_C, "limit-recurrence-set")) {
            if (rb->has_limit_recurrence) {
                return caldav_fail(px, 400, NULL,
                                   "limit-recurrence-set given twice");
            }
            rb->has_limit_recurrence = 1;
            if (caldav_range(px, c, &rb->limit_recurrence, 1, NULL) != MTR_OK) {
                return MTR_ERROR;
            }
        } else if (caldav_is_el(c, NS_C, "limit-freebusy-set")) {
            if (rb->has_limit_freebusy) {
                return caldav_fail(px, 400, NULL,
                                   "limit-freebusy-set given twice");
            }
            rb->has_limit_freebusy = 1;
            if (caldav_range(px, c, &rb->limit_freebusy, 1, NULL) != MTR_OK) {
                return MTR_ERROR;
            }
        }
        /* C:comp / C:prop subsetting: ignored, the full object is sent. */
    }
    if (rb->has_expand && rb->has_limit_recurrence) {
        return caldav_fail(px, 400, NULL,
                           "expand and limit-recurrence-set exclude each "
                           "other");
    }
    return MTR_OK;
}

static int
caldav_address_data(caldav_px_t *px, xmlNodePtr n)
{
    char *ct, *ver;
    int   bad;

    px->rb->want_data = 1;
    ct = caldav_attr(px, n, "content-type");
    ver = px->status ? NULL : caldav_attr(px, n, "version");
    bad =
        (ct != NULL && strcasecmp(ct, "text/vcard") != 0)
        || (ver != NULL && strcmp(ver, "3.0") != 0 && strcmp(ver, "4.0") != 0);
    free(ct);
    free(ver);
    if (px->status != 0) {
        return MTR_ERROR;
    }
    if (bad) {
        return caldav_fail(px, 403, "CR:supported-address-data",
                           "only text/vcard 3.0 or 4.0 is supported");
    }
    return MTR_OK;
}

static int
caldav_propname_add(caldav_px_t *px, caldav_propname_t ***tail,
                    const xmlChar *ns, const xmlChar *name)
{
    caldav_propname_t *p;

    if (caldav_count_prop(px) != MTR_OK) {
        return MTR_ERROR;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return caldav_nomem(px);
    }
    **tail = p;
    *tail = &p->next;
    p->ns = caldav_dup(px, ns);
    p->name = p->ns ? caldav_dup(px, name) : NULL;
    return p->name ? MTR_OK : MTR_ERROR;
}

/* Every element child of a DAV:prop (or DAV:include) is one name. */
static int
caldav_propnames(caldav_px_t *px, xmlNodePtr prop, caldav_propname_t ***tail,
                 int data_opts)
{
    xmlNodePtr c;

    for (c = caldav_first(prop); c != NULL; c = caldav_next(c)) {
        if (caldav_propname_add(px, tail, c->ns ? c->ns->href : NULL, c->name)
            != MTR_OK)
        {
            return MTR_ERROR;
        }
        if (!data_opts) {
            continue;
        }
        if (caldav_is_el(c, NS_C, "calendar-data")) {
            if (caldav_calendar_data(px, c) != MTR_OK) {
                return MTR_ERROR;
            }
        } else if (caldav_is_el(c, NS_CR, "address-data")) {
            if (caldav_address_data(px, c) != MTR_OK) {
                return MTR_ERROR;
            }
        }
    }
    return MTR_OK;
}

/*
 * DAV:prop / allprop / propname / include as a child of a PROPFIND or
 * REPORT root.  Returns 1 when c was one of them, 0 when not, -1 on error.
 */
static int
caldav_prop_child(caldav_px_t *px, xmlNodePtr c)
{
    caldav_propfind_e pf;

    if (caldav_is_el(c, NS_D, "include")) {
        return caldav_propnames(px, c, &px->include_tail, 0) == MTR_OK ? 1 : -1;
    }
    if (caldav_is_el(c, NS_D, "prop")) {
        pf = CALDAV_PROPFIND_PROP;
    } else if (caldav_is_el(c, NS_D, "allprop")) {
        pf = CALDAV_PROPFIND_ALLPROP;
    } else if (caldav_is_el(c, NS_D, "propname")) {
        pf = CALDAV_PROPFIND_PROPNAME;
    } else {
        return 0;
    }
    if (px->seen_prop) {
        caldav_fail(px, 400, NULL,
                    "more than one of prop, allprop and propname");
        return -1;
    }
    px->seen_prop = 1;
    px->rb->propfind = pf;
    if (pf == CALDAV_PROPFIND_PROP
        && caldav_propnames(px, c, &px->props_tail, 1) != MTR_OK)
    {
        return -1;
    }
    return 1;
}


/* ---- re-serialization of dead properties ----------------------------- */

/* Text (attr == 0) or attribute value: whitespace controls as references
 * so that a re-parse gives back the very same characters. */
static int
caldav_ser_text(caldav_buf_t *b, const xmlChar *s, int attr)
{
    const char *p = s ? (const char *) s : "";
    const char *ref;
    size_t      i, run = 0, len = strlen(p);

    for (i = 0; i < len; i++) {
        switch (p[i]) {
        case '\r':
            ref = "&#13;";
            break;
        case '\n':
            ref = attr ? "&#10;" : NULL;
            break;
        case '\t':
            ref = attr ? "&#9;" : NULL;
            break;
        default:
            ref = NULL;
        }
        if (ref == NULL) {
            continue;
        }
        if (caldav_buf_add_xml(b, p + run, i - run) != MTR_OK
            || caldav_buf_adds(b, ref) != MTR_OK)
        {
            return MTR_ERROR;
        }
        run = i + 1;
    }
    return caldav_buf_add_xml(b, p + run, len - run);
}

static void
caldav_ser_qname(caldav_buf_t *b, xmlNsPtr ns, const xmlChar *name)
{
    if (ns != NULL && ns->prefix != NULL) {
        caldav_buf_printf(b, "%s:", (const char *) ns->prefix);
    }
    caldav_buf_adds(b, (const char *) name);
}

static void
caldav_ser_nsdecl(caldav_buf_t *b, xmlNsPtr ns)
{
    if (ns->prefix != NULL) {
        caldav_buf_printf(b, " xmlns:%s=\"", (const char *) ns->prefix);
    } else {
        caldav_buf_adds(b, " xmlns=\"");
    }
    caldav_ser_text(b, ns->href, 1);
    caldav_buf_adds(b, "\"");
}

/*
 * Write element n.  The top element declares every namespace in scope (so
 * the string parses on its own, QNames in content included); below it the
 * declarations are written where the document had them.  Comments and PIs
 * are dropped.  Depth is bounded by CALDAV_XML_MAX_DEPTH.
 */
static void
caldav_ser_el(caldav_buf_t *b, xmlNodePtr n, int top)
{
    xmlNsPtr  *list, ns;
    xmlAttrPtr a;
    xmlNodePtr c;
    xmlChar   *v;
    size_t     i;

    caldav_buf_adds(b, "<");
    caldav_ser_qname(b, n->ns, n->name);
    if (top) {
        list = xmlGetNsList(n->doc, n);
        for (i = 0; list != NULL && list[i] != NULL; i++) {
            caldav_ser_nsdecl(b, list[i]);
        }
        xmlFree(list);
    } else {
        for (ns = n->nsDef; ns != NULL; ns = ns->next) {
            caldav_ser_nsdecl(b, ns);
        }
    }
    for (a = n->properties; a != NULL; a = a->next) {
        caldav_buf_adds(b, " ");
        caldav_ser_qname(b, a->ns, a->name);
        caldav_buf_adds(b, "=\"");
        v = xmlNodeGetContent((xmlNodePtr) a);
        caldav_ser_text(b, v, 1);
        xmlFree(v);
        caldav_buf_adds(b, "\"");
    }
    if (n->children == NULL) {
        caldav_buf_adds(b, "/>");
        return;
    }
    caldav_buf_adds(b, ">");
    for (c = n->children; c != NULL; c = c->next) {
        if (c->type == XML_ELEMENT_NODE) {
            caldav_ser_el(b, c, 0);
        } else if (c->type == XML_TEXT_NODE
                   || c->type == XML_CDATA_SECTION_NODE) {
            caldav_ser_text(b, c->content, 0);
        }
    }
    caldav_buf_adds(b, "</");
    caldav_ser_qname(b, n->ns, n->name);
    caldav_buf_adds(b, ">");
}


/* ---- PROPPATCH, MKCALENDAR, extended MKCOL --------------------------- */

static int
caldav_filter_name_ok(const char *s)
{
    if (*s == '\0') {
        return 0;
    }
    for (; *s; s++) {
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-'
              || *s == '_' || *s == '.'))
        {
            return 0;
        }
    }
    return 1;
}

static void
caldav_upper(char *s)
{
    for (; *s; s++) {
        if (*s >= 'a' && *s <= 'z') {
            *s = (char) (*s - 'a' + 'A');
        }
    }
}

/* <C:supported-calendar-component-set><C:comp name="VEVENT"/>... */
static int
caldav_comp_set(caldav_px_t *px, caldav_prop_update_t *u, xmlNodePtr n)
{
    caldav_buf_t b;
    xmlNodePtr   c;
    char        *name;

    caldav_buf_init(&b);
    caldav_buf_add(&b, "", 0);
    for (c = caldav_first(n); c != NULL; c = caldav_next(c)) {
        if (!caldav_is_el(c, NS_C, "comp")) {
            continue;
        }
        name = caldav_attr(px, c, "name");
        if (name == NULL) {
            if (px->status == 0) {
                caldav_fail(px, 400, NULL, "comp without a name");
            }
            goto failed;
        }
        caldav_upper(name);
        if (!caldav_filter_name_ok(name)) {
            free(name);
            caldav_fail(px, 400, NULL, "bad component name");
            goto failed;
        }
        if (b.len > 0) {
            caldav_buf_adds(&b, ",");
        }
        caldav_buf_adds(&b, name);
        free(name);
    }
    u->comp_set = caldav_buf_steal(&b, NULL);
    return u->comp_set ? MTR_OK : caldav_nomem(px);

failed:
    caldav_buf_free(&b);
    return MTR_ERROR;
}

static int
caldav_update_add(caldav_px_t *px, xmlNodePtr el, int remove)
{
    caldav_prop_update_t *u;
    caldav_buf_t          b;
    xmlNodePtr            c;

    if (caldav_count_prop(px) != MTR_OK) {
        return MTR_ERROR;
    }
    u = calloc(1, sizeof(*u));
    if (u == NULL) {
        return caldav_nomem(px);
    }
    *px->upd_tail = u;
    px->upd_tail = &u->next;
    u->remove = remove;
    u->ns = caldav_dup(px, el->ns ? el->ns->href : NULL);
    u->name = u->ns ? caldav_dup(px, el->name) : NULL;
    u->text = u->name ? caldav_text(px, el, 1) : NULL;
    if (u->text == NULL) {
        return MTR_ERROR;
    }
    caldav_buf_init(&b);
    caldav_ser_el(&b, el, 1);
    if (b.failed) {
        caldav_buf_free(&b);
        return caldav_nomem(px);
    }
    /* Every byte came from the tree, yet check: dead props are stored. */
    if (!caldav_utf8_valid((const unsigned char *) b.data, b.len)) {
        caldav_buf_free(&b);
        return caldav_fail(px, 400, NULL, "text is not valid UTF-8");
    }
    u->xml = caldav_buf_steal(&b, NULL);
    if (u->xml == NULL) {
        return caldav_nomem(px);
    }
    if (caldav_is_el(el, NS_D, "resourcetype")) {
        for (c = caldav_first(el); c != NULL; c = caldav_next(c)) {
            u->rt_collection |= caldav_is_el(c, NS_D, "collection");
            u->rt_calendar |= caldav_is_el(c, NS_C, "calendar");
            u->rt_addressbook |= caldav_is_el(c, NS_CR, "addressbook");
        }
    } else if (caldav_is_el(el, NS_C, "supported-calendar-component-set")) {
        return caldav_comp_set(px, u, el);
    }
    return MTR_OK;
}

/* <D:set> or <D:remove>: each child of each <D:prop> is one update. */
static int
caldav_updates(caldav_px_t *px, xmlNodePtr setrem, int remove)
{
    xmlNodePtr p, c;

    for (p = caldav_first(setrem); p != NULL; p = caldav_next(p)) {
        if (!caldav_is_el(p, NS_D, "prop")) {
            continue;
        }
        for (c = caldav_first(p); c != NULL; c = caldav_next(c)) {
            if (caldav_update_add(px, c, remove) != MTR_OK) {
                return MTR_ERROR;
            }
        }
    }
    return MTR_OK;
}

static int
caldav_parse_proppatch(caldav_px_t *px, xmlNodePtr root)
{
    xmlNodePtr c;
    int        seen = 0;

    for (c = caldav_first(root); c != NULL; c = caldav_next(c)) {
        if (caldav_is_el(c, NS_D, "set") || caldav_is_el(c, NS_D, "remove")) {
            seen = 1;
            if (caldav_updates(px, c, caldav_is_el(c, NS_D, "remove"))
                != MTR_OK) {
                return MTR_ERROR;
            }
        }
    }
    if (!seen) {
        return caldav_fail(px, 400, NULL,
                           "propertyupdate without set or remove");
    }
    return MTR_OK;
}

/* MKCALENDAR and extended MKCOL take <D:set> only (RFC 4791 5.3.1, 5689). */
static int
caldav_parse_mkcol(caldav_px_t *px, xmlNodePtr root)
{
    xmlNodePtr c;

    for (c = caldav_first(root); c != NULL; c = caldav_next(c)) {
        if (caldav_is_el(c, NS_D, "set") && caldav_updates(px, c, 0) != MTR_OK)
        {
            return MTR_ERROR;
        }
    }
    return MTR_OK;
}


/* ---- filters ---------------------------------------------------------- */

static int
caldav_unsupported(caldav_px_t *px, xmlNodePtr c, const char *where)
{
    char show[64];

    return caldav_fail(px, 403, PC(px, "supported-filter"),
                       "unsupported element %s in %s",
                       caldav_show(c->name, show, sizeof(show)), where);
}

/* The name attribute of a filter element, upper-cased and checked. */
static char *
caldav_filter_name(caldav_px_t *px, xmlNodePtr n)
{
    char *name;

    name = caldav_attr(px, n, "name");
    if (name == NULL) {
        if (px->status == 0) {
            caldav_fail(px, 400, PC(px, "valid-filter"), "%s without a name",
                        n->name);
        }
        return NULL;
    }
    caldav_upper(name);
    if (!caldav_filter_name_ok(name)) {
        free(name);
        caldav_fail(px, 400, PC(px, "valid-filter"), "bad name in %s", n->name);
        return NULL;
    }
    return name;
}

/* test="anyof|allof" (RFC 6352 10.5); the default is given by dflt. */
static int
caldav_test_attr(caldav_px_t *px, xmlNodePtr n, int dflt, int *allof_r,
                 const char *precond)
{
    char *v;

    *allof_r = dflt;
    v = caldav_attr(px, n, "test");
    if (v == NULL) {
        return px->status ? MTR_ERROR : MTR_OK;
    }
    if (strcmp(v, "allof") == 0) {
        *allof_r = 1;
    } else if (strcmp(v, "anyof") == 0) {
        *allof_r = 0;
    } else {
        free(v);
        return caldav_fail(px, 400, precond, "test must be anyof or allof");
    }
    free(v);
    return MTR_OK;
}

static int
caldav_text_match(caldav_px_t *px, xmlNodePtr n, caldav_text_match_t **slot)
{
    static const struct {
        const char *name;
        int         value;
    } colls[] = {
        { "i;ascii-casemap", CALDAV_COLLATION_ASCII_CASEMAP },
        { "i;octet", CALDAV_COLLATION_OCTET },
        { "i;unicode-casemap", CALDAV_COLLATION_UNICODE_CASEMAP },
    }, matches[] = {
        { "contains", CALDAV_MATCH_CONTAINS },
        { "equals", CALDAV_MATCH_EQUALS },
        { "starts-with", CALDAV_MATCH_STARTS_WITH },
        { "ends-with", CALDAV_MATCH_ENDS_WITH },
    };
    caldav_text_match_t *tm;
    char                *v;
    char                 show[64];
    size_t               i;

    tm = calloc(1, sizeof(*tm));
    if (tm == NULL) {
        return caldav_nomem(px);
    }
    *slot = tm;
    tm->collation = px->card ? CALDAV_COLLATION_UNICODE_CASEMAP
                             : CALDAV_COLLATION_ASCII_CASEMAP;
    tm->text = caldav_text(px, n, 0);
    if (tm->text == NULL) {
        return MTR_ERROR;
    }

    if ((v = caldav_attr(px, n, "collation")) != NULL) {
        for (i = 0; i < sizeof(colls) / sizeof(colls[0]); i++) {
            if (strcmp(v, colls[i].name) == 0) {
                break;
            }
        }
        if (i == sizeof(colls) / sizeof(colls[0])) {
            caldav_fail(px, 403, PC(px, "supported-collation"),
                        "unsupported collation \"%s\"",
                        caldav_show((const xmlChar *) v, show, sizeof(show)));
            free(v);
            return MTR_ERROR;
        }
        tm->collation = (caldav_collation_e) colls[i].value;
        free(v);
    }

    if ((v = px->status ? NULL : caldav_attr(px, n, "negate-condition"))
        != NULL) {
        if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0) {
            free(v);
            return caldav_fail(px, 400, PC(px, "valid-filter"),
                               "negate-condition must be yes or no");
        }
        tm->negate = v[0] == 'y';
        free(v);
    }

    /* match-type is CardDAV's; accepted for CalDAV too, as an extension. */
    if ((v = px->status ? NULL : caldav_attr(px, n, "match-type")) != NULL) {
        for (i = 0; i < sizeof(matches) / sizeof(matches[0]); i++) {
            if (strcmp(v, matches[i].name) == 0) {
                break;
            }
        }
        free(v);
        if (i == sizeof(matches) / sizeof(matches[0])) {
            return caldav_fail(px, 400, PC(px, "valid-filter"),
                               "unknown match-type");
        }
        tm->match = (caldav_match_e) matches[i].value;
    }
    return px->status ? MTR_ERROR : MTR_OK;
}

static int
caldav_param_filter(caldav_px_t *px, xmlNodePtr n, caldav_param_filter_t **slot)
{
    caldav_param_filter_t *pf;
    xmlNodePtr             c;

    pf = calloc(1, sizeof(*pf));
    if (pf == NULL) {
        return caldav_nomem(px);
    }
    *slot = pf;
    pf->name = caldav_filter_name(px, n);
    if (pf->name == NULL) {
        return MTR_ERROR;
    }
    for (c = caldav_first(n); c != NULL; c = caldav_next(c)) {
        if (caldav_is_el(c, px->fns, "is-not-defined")) {
            pf->is_not_defined = 1;
        } else if (caldav_is_el(c, px->fns, "text-match")) {
            if (pf->text_match != NULL) {
                return caldav_fail(px, 400, PC(px, "valid-filter"),
                                   "two text-match in one param-filter");
            }
            if (caldav_text_match(px, c, &pf->text_match) != MTR_OK) {
                return MTR_ERROR;
            }
        } else {
            return caldav_unsupported(px, c, "param-filter");
        }
    }
    if (pf->is_not_defined && pf->text_match != NULL) {
        return caldav_fail(px, 400, PC(px, "valid-filter"),
                           "is-not-defined with text-match");
    }
    return MTR_OK;
}

static int
caldav_prop_filter(caldav_px_t *px, xmlNodePtr n, caldav_prop_filter_t **slot)
{
    caldav_prop_filter_t   *pf;
    caldav_text_match_t   **tm_tail;
    caldav_param_filter_t **par_tail;
    xmlNodePtr              c;

    pf = calloc(1, sizeof(*pf));
    if (pf == NULL) {
        return caldav_nomem(px);
    }
    *slot = pf;
    tm_tail = &pf->text_matches;
    par_tail = &pf->param_filters;
    pf->name = caldav_filter_name(px, n);
    if (pf->name == NULL
        || (px->card
            && caldav_test_attr(px, n, 0, &pf->test_allof, "CR:valid-filter")
                   != MTR_OK))
    {
        return MTR_ERROR;
    }
    for (c = caldav_first(n); c != NULL; c = caldav_next(c)) {
        if (caldav_is_el(c, px->fns, "is-not-defined")) {
            pf->is_not_defined = 1;
        } else if (!px->card && caldav_is_el(c, NS_C, "time-range")) {
            if (pf->time_range != NULL) {
                return caldav_fail(px, 400, "C:valid-filter",
                                   "two time-range in one prop-filter");
            }
            pf->time_range = malloc(sizeof(*pf->time_range));
            if (pf->time_range == NULL) {
                return caldav_nomem(px);
            }
            if (caldav_range(px, c, pf->time_range, 0, "C:valid-filter")
                != MTR_OK) {
                return MTR_ERROR;
            }
        } else if (caldav_is_el(c, px->fns, "text-match")) {
            if (!px->card && pf->text_matches != NULL) {
                return caldav_fail(px, 400, "C:valid-filter",
                                   "two text-match in one prop-filter");
            }
            if (caldav_text_match(px, c, tm_tail) != MTR_OK) {
                return MTR_ERROR;
            }
            tm_tail = &(*tm_tail)->next;
        } else if (caldav_is_el(c, px->fns, "param-filter")) {
            if (caldav_param_filter(px, c, par_tail) != MTR_OK) {
                return MTR_ERROR;
            }
            par_tail = &(*par_tail)->next;
        } else {
            return caldav_unsupported(px, c, "prop-filter");
        }
    }
    if ((pf->is_not_defined
         && (pf->time_range || pf->text_matches || pf->param_filters))
        || (pf->time_range && pf->text_matches))
    {
        return caldav_fail(px, 400, PC(px, "valid-filter"),
                           "prop-filter mixes is-not-defined, time-range "
                           "and text-match");
    }
    return MTR_OK;
}

static int
caldav_name_in(const char *name, const char *const *set)
{
    for (; *set != NULL; set++) {
        if (strcmp(name, *set) == 0) {
            return 1;
        }
    }
    return 0;
}

/* RFC 4791 7.8 valid-filter: components only where iCalendar has them. */
static int
caldav_comp_nesting_ok(const char *name, const char *parent)
{
    static const char *const top[] = { "VEVENT",    "VTODO",
                                       "VJOURNAL",  "VFREEBUSY",
                                       "VTIMEZONE", "VAVAILABILITY",
                                       NULL };
    static const char *const alarm_parents[] = { "VEVENT", "VTODO", NULL };
    static const char *const tz_parts[] = { "STANDARD", "DAYLIGHT", NULL };

    if (parent == NULL) {
        return strcmp(name, "VCALENDAR") == 0;
    }
    if (strcmp(name, "VCALENDAR") == 0) {
        return 0;
    }
    if (caldav_name_in(name, top)) {
        return strcmp(parent, "VCALENDAR") == 0;
    }
    if (strcmp(name, "VALARM") == 0) {
        return caldav_name_in(parent, alarm_parents);
    }
    if (caldav_name_in(name, tz_parts)) {
        return strcmp(parent, "VTIMEZONE") == 0;
    }
    return 1;
}

static int
caldav_comp_filter(caldav_px_t *px, xmlNodePtr n, const char *parent,
                   caldav_comp_filter_t **slot)
{
    caldav_comp_filter_t  *cf;
    caldav_comp_filter_t **cf_tail;
    caldav_prop_filter_t **pf_tail;
    xmlNodePtr             c;

    cf = calloc(1, sizeof(*cf));
    if (cf == NULL) {
        return caldav_nomem(px);
    }
    *slot = cf;
    cf_tail = &cf->comp_filters;
    pf_tail = &cf->prop_filters;
    cf->name = caldav_filter_name(px, n);
    if (cf->name == NULL) {
        return MTR_ERROR;
    }
    if (parent == NULL && !caldav_comp_nesting_ok(cf->name, NULL)) {
        return caldav_fail(px, 400, "C:valid-filter",
                           "the top comp-filter must be VCALENDAR, not %s",
                           cf->name);
    }
    if (parent != NULL && !caldav_comp_nesting_ok(cf->name, parent)) {
        return caldav_fail(px, 400, "C:valid-filter",
                           "comp-filter %s cannot be inside %s", cf->name,
                           parent);
    }
    for (c = caldav_first(n); c != NULL; c = caldav_next(c)) {
        if (caldav_is_el(c, NS_C, "is-not-defined")) {
            cf->is_not_defined = 1;
        } else if (caldav_is_el(c, NS_C, "time-range")) {
            if (cf->time_range != NULL) {
                return caldav_fail(px, 400, "C:valid-filter",
                                   "two time-range in one comp-filter");
            }
            cf->time_range = malloc(sizeof(*cf->time_range));
            if (cf->time_range == NULL) {
                return caldav_nomem(px);
            }
            if (caldav_range(px, c, cf->time_range, 0, "C:valid-filter")
                != MTR_OK) {
                return MTR_ERROR;
            }
        } else if (caldav_is_el(c, NS_C, "prop-filter")) {
            if (caldav_prop_filter(px, c, pf_tail) != MTR_OK) {
                return MTR_ERROR;
            }
            pf_tail = &(*pf_tail)->next;
        } else if (caldav_is_el(c, NS_C, "comp-filter")) {
            if (caldav_comp_filter(px, c, cf->name, cf_tail) != MTR_OK) {
                return MTR_ERROR;
            }
            cf_tail = &(*cf_tail)->next;
        } else {
            return caldav_unsupported(px, c, "comp-filter");
        }
    }
    if (cf->is_not_defined
        && (cf->time_range || cf->prop_filters || cf->comp_filters))
    {
        return caldav_fail(px, 400, "C:valid-filter",
                           "comp-filter mixes is-not-defined with tests");
    }
    return MTR_OK;
}

/* <C:filter> holds exactly one <C:comp-filter name="VCALENDAR">. */
static int
caldav_cal_filter(caldav_px_t *px, xmlNodePtr n)
{
    xmlNodePtr c;

    for (c = caldav_first(n); c != NULL; c = caldav_next(c)) {
        if (!caldav_is_el(c, NS_C, "comp-filter")) {
            return caldav_unsupported(px, c, "filter");
        }
        if (px->rb->comp_filter != NULL) {
            return caldav_fail(px, 400, "C:valid-filter",
                               "filter holds more than one comp-filter");
        }
        if (caldav_comp_filter(px, c, NULL, &px->rb->comp_filter) != MTR_OK) {
            return MTR_ERROR;
        }
    }
    if (px->rb->comp_filter == NULL) {
        return caldav_fail(px, 400, "C:valid-filter",
                           "filter without comp-filter");
    }
    return MTR_OK;
}

static int
caldav_card_filter(caldav_px_t *px, xmlNodePtr n)
{
    caldav_card_filter_t  *f;
    caldav_prop_filter_t **pf_tail;
    xmlNodePtr             c;

    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        return caldav_nomem(px);
    }
    px->rb->card_filter = f;
    pf_tail = &f->prop_filters;
    if (caldav_test_attr(px, n, 0, &f->test_allof, "CR:valid-filter") != MTR_OK)
    {
        return MTR_ERROR;
    }
    for (c = caldav_first(n); c != NULL; c = caldav_next(c)) {
        if (!caldav_is_el(c, NS_CR, "prop-filter")) {
            return caldav_unsupported(px, c, "filter");
        }
        if (caldav_prop_filter(px, c, pf_tail) != MTR_OK) {
            return MTR_ERROR;
        }
        pf_tail = &(*pf_tail)->next;
    }
    return MTR_OK;
}


/* ---- REPORTs ---------------------------------------------------------- */

static int
caldav_href_add(caldav_px_t *px, xmlNodePtr n)
{
    caldav_href_t *h;

    if (++px->nhrefs > CALDAV_XML_MAX_HREFS) {
        return caldav_fail(px, 400, NULL, "more than %d hrefs",
                           CALDAV_XML_MAX_HREFS);
    }
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return caldav_nomem(px);
    }
    *px->href_tail = h;
    px->href_tail = &h->next;
    h->href = caldav_text(px, n, 1);
    if (h->href == NULL) {
        return MTR_ERROR;
    }
    if (h->href[0] == '\0') {
        return caldav_fail(px, 400, NULL, "empty href");
    }
    return MTR_OK;
}

/* <X:limit><X:nresults>N</X:nresults></X:limit>, N in 1..1e9. */
static int
caldav_limit(caldav_px_t *px, xmlNodePtr n, const char *ns)
{
    xmlNodePtr c;
    uint64_t   v;
    char      *s;
    int        rc;

    for (c = caldav_first(n); c != NULL; c = caldav_next(c)) {
        if (!caldav_is_el(c, ns, "nresults")) {
            continue;
        }
        s = caldav_text(px, c, 1);
        if (s == NULL) {
            return MTR_ERROR;
        }
        rc = mtr_parse_uint(s, strlen(s), CALDAV_XML_MAX_NRESULTS, &v);
        free(s);
        if (rc != MTR_OK || v == 0) {
            return caldav_fail(px, 400, NULL,
                               "nresults must be a number from 1 to %u",
                               CALDAV_XML_MAX_NRESULTS);
        }
        px->rb->limit_results = v;
        return MTR_OK;
    }
    return caldav_fail(px, 400, NULL, "limit without nresults");
}

static int
caldav_report_calendar_query(caldav_px_t *px, xmlNodePtr root)
{
    xmlNodePtr c;
    int        rc, filters = 0;

    for (c = caldav_first(root); c != NULL; c = caldav_next(c)) {
        if ((rc = caldav_prop_child(px, c)) != 0) {
            if (rc < 0) {
                return MTR_ERROR;
            }
        } else if (caldav_is_el(c, NS_C, "filter")) {
            if (filters++ > 0) {
                return caldav_fail(px, 400, "C:valid-filter",
                                   "more than one filter");
            }
            if (caldav_cal_filter(px, c) != MTR_OK) {
                return MTR_ERROR;
            }
        } else if (caldav_is_el(c, NS_C, "timezone")) {
            free(px->rb->timezone);
            px->rb->timezone = caldav_text(px, c, 1);
            if (px->rb->timezone == NULL) {
                return MTR_ERROR;
            }
        }
    }
    if (filters == 0) {
        return caldav_fail(px, 400, "C:valid-filter",
                           "calendar-query without filter");
    }
    return MTR_OK;
}

static int
caldav_report_multiget(caldav_px_t *px, xmlNodePtr root)
{
    xmlNodePtr c;
    int        rc;

    for (c = caldav_first(root); c != NULL; c = caldav_next(c)) {
        if ((rc = caldav_prop_child(px, c)) != 0) {
            if (rc < 0) {
                return MTR_ERROR;
            }
        } else if (caldav_is_el(c, NS_D, "href")) {
            if (caldav_href_add(px, c) != MTR_OK) {
                return MTR_ERROR;
            }
        }
    }
    if (px->rb->hrefs == NULL) {
        return caldav_fail(px, 400, NULL, "multiget without href");
    }
    return MTR_OK;
}

static int
caldav_report_free_busy(caldav_px_t *px, xmlNodePtr root)
{
    xmlNodePtr c;
    int        seen = 0;

    for (c = caldav_first(root); c != NULL; c = caldav_next(c)) {
        if (!caldav_is_el(c, NS_C, "time-range")) {
            continue;
        }
        if (seen++ > 0) {
            return caldav_fail(px, 400, NULL, "more than one time-range");
        }
        if (caldav_range(px, c, &px->rb->freebusy, 0, NULL) != MTR_OK) {
            return MTR_ERROR;
        }
    }
    if (!seen) {
        return caldav_fail(px, 400, NULL, "free-busy-query without time-range");
    }
    return MTR_OK;
}

static int
caldav_report_addressbook_query(caldav_px_t *px, xmlNodePtr root)
{
    xmlNodePtr c;
    int        rc;

    for (c = caldav_first(root); c != NULL; c = caldav_next(c)) {
        if ((rc = caldav_prop_child(px, c)) != 0) {
            if (rc < 0) {
                return MTR_ERROR;
            }
        } else if (caldav_is_el(c, NS_CR, "filter")) {
            if (px->rb->card_filter != NULL) {
                return caldav_fail(px, 400, "CR:valid-filter",
                                   "more than one filter");
            }
            if (caldav_card_filter(px, c) != MTR_OK) {
                return MTR_ERROR;
            }
        } else if (caldav_is_el(c, NS_CR, "limit")) {
            if (caldav_limit(px, c, NS_CR) != MTR_OK) {
                return MTR_ERROR;
            }
        }
    }
    if (px->rb->card_filter == NULL) {
        return caldav_fail(px, 400, "CR:valid-filter",
                           "addressbook-query without filter");
    }
    return MTR_OK;
}

static int
caldav_report_sync(caldav_px_t *px, xmlNodePtr root)
{
    caldav_req_body_t *rb = px->rb;
    xmlNodePtr         c;
    char              *s;
    int                rc, level = -1;

    for (c = caldav_first(root); c != NULL; c = caldav_next(c)) {
        if ((rc = caldav_prop_child(px, c)) != 0) {
            if (rc < 0) {
                return MTR_ERROR;
            }
        } else if (caldav_is_el(c, NS_D, "sync-token")) {
            if (rb->sync_token != NULL) {
                return caldav_fail(px, 400, NULL, "sync-token given twice");
            }
            rb->sync_token = caldav_text(px, c, 1);
            if (rb->sync_token == NULL) {
                return MTR_ERROR;
            }
        } else if (caldav_is_el(c, NS_D, "sync-level")) {
            s = caldav_text(px, c, 1);
            if (s == NULL) {
                return MTR_ERROR;
            }
            level = strcmp(s, "1") == 0          ? 1
                    : strcmp(s, "infinite") == 0 ? 0
                                                 : -2;
            free(s);
            if (level == -2) {
                return caldav_fail(px, 400, NULL,
                                   "sync-level must be 1 or infinite");
            }
        } else if (caldav_is_el(c, NS_D, "limit")) {
            if (caldav_limit(px, c, NS_D) != MTR_OK) {
                return MTR_ERROR;
            }
        }
    }
    if (rb->sync_token == NULL) {
        return caldav_fail(px, 400, NULL, "sync-collection without sync-token");
    }
    if (level < 0) {
        return caldav_fail(px, 400, NULL, "sync-collection without sync-level");
    }
    rb->sync_level = level;
    return MTR_OK;
}

/* Top-level <D:property name="" namespace=""/> entries (RFC 3253 3.8). */
static int
caldav_report_expand(caldav_px_t *px, xmlNodePtr root)
{
    xmlNodePtr c;
    char      *name, *ns;
    int        rc;

    for (c = caldav_first(root); c != NULL; c = caldav_next(c)) {
        if (!caldav_is_el(c, NS_D, "property")) {
            continue;
        }
        name = caldav_attr(px, c, "name");
        ns = px->status ? NULL : caldav_attr(px, c, "namespace");
        if (name == NULL || name[0] == '\0') {
            free(name);
            free(ns);
            return px->status
                       ? MTR_ERROR
                       : caldav_fail(px, 400, NULL, "property without a name");
        }
        rc = caldav_propname_add(px, &px->props_tail,
                                 (const xmlChar *) (ns ? ns : NS_D),
                                 (const xmlChar *) name);
        free(name);
        free(ns);
        if (rc != MTR_OK) {
            return MTR_ERROR;
        }
    }
    return MTR_OK;
}

static int
caldav_report_principal_search(caldav_px_t *px, xmlNodePtr root)
{
    xmlNodePtr c, s;
    int        rc, searches = 0;

    if (caldav_test_attr(px, root, 1, &px->rb->search_test_allof, NULL)
        != MTR_OK) {
        return MTR_ERROR;
    }
    for (c = caldav_first(root); c != NULL; c = caldav_next(c)) {
        if ((rc = caldav_prop_child(px, c)) != 0) {
            if (rc < 0) {
                return MTR_ERROR;
            }
            continue;
        }
        if (!caldav_is_el(c, NS_D, "property-search")) {
            continue;
        }
        searches++;
        for (s = caldav_first(c); s != NULL; s = caldav_next(s)) {
            if (caldav_is_el(s, NS_D, "prop")) {
                if (caldav_propnames(px, s, &px->search_tail, 0) != MTR_OK) {
                    return MTR_ERROR;
                }
            } else if (caldav_is_el(s, NS_D, "match")
                       && px->rb->search_text == NULL) {
                px->rb->search_text = caldav_text(px, s, 1);
                if (px->rb->search_text == NULL) {
                    return MTR_ERROR;
                }
            }
        }
    }
    if (searches == 0 || px->rb->search_props == NULL
        || px->rb->search_text == NULL)
    {
        return caldav_fail(px, 400, NULL,
                           "principal-property-search needs property-search "
                           "with prop and match");
    }
    return MTR_OK;
}

static int
caldav_report_principal_match(caldav_px_t *px, xmlNodePtr root)
{
    xmlNodePtr c, p;
    int        rc, how = 0;

    for (c = caldav_first(root); c != NULL; c = caldav_next(c)) {
        if ((rc = caldav_prop_child(px, c)) != 0) {
            if (rc < 0) {
                return MTR_ERROR;
            }
        } else if (caldav_is_el(c, NS_D, "self")) {
            how++;
        } else if (caldav_is_el(c, NS_D, "principal-property")) {
            how++;
            p = caldav_el(c->children);
            if (p == NULL) {
                return caldav_fail(px, 400, NULL,
                                   "principal-property is empty");
            }
            if (caldav_propname_add(px, &px->search_tail,
                                    p->ns ? p->ns->href : NULL, p->name)
                != MTR_OK)
            {
                return MTR_ERROR;
            }
        }
    }
    if (how != 1) {
        return caldav_fail(px, 400, NULL,
                           "principal-match needs self or "
                           "principal-property");
    }
    return MTR_OK;
}

/* Only the DAV:prop matters (principal-search-property-set has none). */
static int
caldav_report_props_only(caldav_px_t *px, xmlNodePtr root)
{
    xmlNodePtr c;

    for (c = caldav_first(root); c != NULL; c = caldav_next(c)) {
        if (caldav_prop_child(px, c) < 0) {
            return MTR_ERROR;
        }
    }
    return MTR_OK;
}

static const caldav_report_t caldav_reports[] = {
    { NS_C, "calendar-query", CALDAV_BODY_CALENDAR_QUERY,
      caldav_report_calendar_query },
    { NS_C, "calendar-multiget", CALDAV_BODY_CALENDAR_MULTIGET,
      caldav_report_multiget },
    { NS_C, "free-busy-query", CALDAV_BODY_FREE_BUSY_QUERY,
      caldav_report_free_busy },
    { NS_CR, "addressbook-query", CALDAV_BODY_ADDRESSBOOK_QUERY,
      caldav_report_addressbook_query },
    { NS_CR, "addressbook-multiget", CALDAV_BODY_ADDRESSBOOK_MULTIGET,
      caldav_report_multiget },
    { NS_D, "sync-collection", CALDAV_BODY_SYNC_COLLECTION,
      caldav_report_sync },
    { NS_D, "expand-property", CALDAV_BODY_EXPAND_PROPERTY,
      caldav_report_expand },
    { NS_D, "principal-property-search", CALDAV_BODY_PRINCIPAL_PROPERTY_SEARCH,
      caldav_report_principal_search },
    { NS_D, "principal-search-property-set",
      CALDAV_BODY_PRINCIPAL_SEARCH_PROPERTY_SET, caldav_report_props_only },
    { NS_D, "principal-match", CALDAV_BODY_PRINCIPAL_MATCH,
      caldav_report_principal_match },
    { NS_D, "acl-principal-prop-set", CALDAV_BODY_ACL_PRINCIPAL_PROP_SET,
      caldav_report_props_only },
};

static int
caldav_parse_report(caldav_px_t *px, xmlNodePtr root)
{
    const caldav_report_t *r;
    char                   show[64];
    size_t                 i;

    for (i = 0; i < sizeof(caldav_reports) / sizeof(caldav_reports[0]); i++) {
        r = &caldav_reports[i];
        if (!caldav_is_el(root, r->ns, r->name)) {
            continue;
        }
        px->rb->kind = r->kind;
        /* No DAV:prop in a REPORT: no property asked for. */
        px->rb->propfind = CALDAV_PROPFIND_PROP;
        px->card = strcmp(r->ns, NS_CR) == 0;
        px->fns = px->card ? NS_CR : NS_C;
        return r->parse(px, root);
    }
    return caldav_fail(px, 403, "D:supported-report", "unsupported REPORT %s",
                       caldav_show(root->name, show, sizeof(show)));
}

/* ---- share-resource (POST) ------------------------------------------- */

/*
 * <D:sharee><D:href/><D:share-access><D:read/></D:share-access></D:sharee>:
 * exactly one href and one access value; anything else inside (D:prop,
 * D:comment, extensions) is ignored.
 */
static int
caldav_sharee(caldav_px_t *px, xmlNodePtr n)
{
    caldav_sharee_t *sh;
    xmlNodePtr       c, a;
    int              have_access = 0;

    if (++px->nsharees > CALDAV_XML_MAX_SHAREES) {
        return caldav_fail(px, 400, NULL, "more than %d sharees",
                           CALDAV_XML_MAX_SHAREES);
    }
    sh = calloc(1, sizeof(*sh));
    if (sh == NULL) {
        return caldav_nomem(px);
    }
    *px->sharee_tail = sh;
    px->sharee_tail = &sh->next;
    for (c = caldav_first(n); c != NULL; c = caldav_next(c)) {
        if (caldav_is_el(c, NS_D, "href")) {
            if (sh->href != NULL) {
                return caldav_fail(px, 400, NULL, "sharee with two hrefs");
            }
            sh->href = caldav_text(px, c, 1);
            if (sh->href == NULL) {
                return MTR_ERROR;
            }
            if (sh->href[0] == '\0') {
                return caldav_fail(px, 400, NULL, "empty sharee href");
            }
        } else if (caldav_is_el(c, NS_D, "share-access")) {
            a = caldav_first(c);
            if (have_access || a == NULL || caldav_next(a) != NULL) {
                return caldav_fail(px, 400, NULL,
                                   "share-access needs exactly one value");
            }
            if (caldav_is_el(a, NS_D, "read")) {
                sh->access = CALDAV_SHARE_READ;
            } else if (caldav_is_el(a, NS_D, "read-write")) {
                sh->access = CALDAV_SHARE_READ_WRITE;
            } else if (caldav_is_el(a, NS_D, "no-access")) {
                sh->access = CALDAV_SHARE_NO_ACCESS;
            } else {
                return caldav_fail(px, 400, NULL,
                                   "share-access must be read, read-write "
                                   "or no-access");
            }
            have_access = 1;
        }
    }
    if (sh->href == NULL) {
        return caldav_fail(px, 400, NULL, "sharee without href");
    }
    if (!have_access) {
        return caldav_fail(px, 400, NULL, "sharee without share-access");
    }
    return MTR_OK;
}

static int
caldav_parse_share(caldav_px_t *px, xmlNodePtr root)
{
    xmlNodePtr c;

    px->rb->kind = CALDAV_BODY_SHARE_RESOURCE;
    for (c = caldav_first(root); c != NULL; c = caldav_next(c)) {
        if (caldav_is_el(c, NS_D, "sharee") && caldav_sharee(px, c) < 0) {
            return MTR_ERROR;
        }
    }
    if (px->rb->sharees == NULL) {
        return caldav_fail(px, 400, NULL, "share-resource without sharee");
    }
    return MTR_OK;
}

static int
caldav_parse_propfind(caldav_px_t *px, xmlNodePtr root)
{
    xmlNodePtr c;

    px->rb->kind = CALDAV_BODY_PROPFIND;
    px->rb->propfind = CALDAV_PROPFIND_ALLPROP; /* <propfind/> too */
    for (c = caldav_first(root); c != NULL; c = caldav_next(c)) {
        if (caldav_prop_child(px, c) < 0) {
            return MTR_ERROR;
        }
    }
    return MTR_OK;
}


/* ---- libxml2 ---------------------------------------------------------- */

static void
caldav_xml_init(void)
{
    xmlInitParser();
}

static void
caldav_silent(void *ctx, const char *msg, ...)
{
    (void) ctx;
    (void) msg;
}

static void
caldav_sax_start(void *ctx, const xmlChar *localname, const xmlChar *prefix,
                 const xmlChar *uri, int nb_namespaces,
                 const xmlChar **namespaces, int nb_attributes,
                 int nb_defaulted, const xmlChar **attributes)
{
    xmlParserCtxtPtr ctxt = ctx;
    caldav_sax_t    *sx = ctxt->_private;

    if (++sx->depth > CALDAV_XML_MAX_DEPTH) {
        sx->too_deep = 1;
        xmlStopParser(ctxt);
        return;
    }
    sx->nodes += 1 + (size_t) nb_namespaces + (size_t) nb_attributes;
    if (sx->nodes > CALDAV_XML_MAX_NODES) {
        sx->too_many = 1;
        xmlStopParser(ctxt);
        return;
    }
    sx->start(ctx, localname, prefix, uri, nb_namespaces, namespaces,
              nb_attributes, nb_defaulted, attributes);
}

static void
caldav_sax_end(void *ctx, const xmlChar *localname, const xmlChar *prefix,
               const xmlChar *uri)
{
    xmlParserCtxtPtr ctxt = ctx;
    caldav_sax_t    *sx = ctxt->_private;

    sx->depth--;
    sx->end(ctx, localname, prefix, uri);
}

/* Any DOCTYPE: stop before the internal subset is even read. */
static void
caldav_sax_subset(void *ctx, const xmlChar *name, const xmlChar *external_id,
                  const xmlChar *system_id)
{
    xmlParserCtxtPtr ctxt = ctx;
    caldav_sax_t    *sx = ctxt->_private;

    (void) name;
    (void) external_id;
    (void) system_id;
    sx->dtd = 1;
    xmlStopParser(ctxt);
}

static void
caldav_sax_entity(void *ctx, const xmlChar *name, int type,
                  const xmlChar *public_id, const xmlChar *system_id,
                  xmlChar *content)
{
    (void) name;
    (void) type;
    (void) public_id;
    (void) system_id;
    (void) content;
    caldav_sax_subset(ctx, NULL, NULL, NULL);
}

/* Keep the first error (its first line); nothing is printed. */
static void
caldav_sax_error(void *ctx, xmlErrorPtr e)
{
    xmlParserCtxtPtr ctxt = ctx;
    caldav_sax_t    *sx = ctxt->_private;
    const char      *m;
    size_t           len;

    if (e == NULL || e->level < XML_ERR_ERROR || sx->have_error) {
        return;
    }
    sx->have_error = 1;
    sx->error_line = e->line;
    m = e->message ? e->message : "unknown error";
    len = strcspn(m, "\r\n");
    mtr_sanitize(sx->error, sizeof(sx->error), m, len);
}

static int
caldav_looks_like_xml(const char *p, size_t len)
{
    const unsigned char *s = (const unsigned char *) p;
    size_t               i = 0;

    if (len >= 2
        && ((s[0] == 0xfe && s[1] == 0xff) || (s[0] == 0xff && s[1] == 0xfe)
            || (s[0] == 0 && s[1] == '<') || (s[0] == '<' && s[1] == 0)))
    {
        return 1; /* UTF-16: libxml2 decides */
    }
    if (len >= 3 && s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf) {
        i = 3;
    }
    while (i < len && caldav_is_ws(s[i])) {
        i++;
    }
    return i < len && s[i] == '<';
}

static xmlDocPtr
caldav_xml_read(caldav_px_t *px, const char *body, size_t len)
{
    xmlParserCtxtPtr    ctxt;
    xmlSAXHandlerPtr    sax;
    xmlGenericErrorFunc old_fn;
    void               *old_ctx;
    xmlDocPtr           doc;
    caldav_sax_t        sx;
    int                 wf;

    pthread_once(&caldav_xml_once, caldav_xml_init);
    memset(&sx, 0, sizeof(sx));

    /* Thread-local in libxml2: silence it for this call only. */
    old_fn = xmlGenericError;
    old_ctx = xmlGenericErrorContext;
    xmlSetGenericErrorFunc(NULL, caldav_silent);

    ctxt = xmlCreateMemoryParserCtxt(body, (int) len);
    if (ctxt == NULL) {
        xmlSetGenericErrorFunc(old_ctx, old_fn);
        caldav_nomem(px);
        return NULL;
    }
    xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOERROR
                                | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
    ctxt->replaceEntities = 0;
    ctxt->loadsubset = 0;
    ctxt->validate = 0;
    ctxt->_private = &sx;

    sax = ctxt->sax; /* the context's own copy */
    sx.start = sax->startElementNs;
    sx.end = sax->endElementNs;
    sax->startElementNs = caldav_sax_start;
    sax->endElementNs = caldav_sax_end;
    sax->internalSubset = caldav_sax_subset;
    sax->externalSubset = caldav_sax_subset;
    sax->entityDecl = caldav_sax_entity;
    sax->serror = caldav_sax_error;

    xmlParseDocument(ctxt);
    doc = ctxt->myDoc;
    ctxt->myDoc = NULL;
    wf = ctxt->wellFormed && ctxt->nsWellFormed;
    xmlFreeParserCtxt(ctxt);
    xmlSetGenericErrorFunc(old_ctx, old_fn);

    if (sx.dtd || (doc != NULL && doc->intSubset != NULL)) {
        caldav_fail(px, 400, NULL, DTD_REFUSED);
    } else if (sx.too_deep) {
        caldav_fail(px, 400, NULL, "XML nested deeper than %d elements",
                    CALDAV_XML_MAX_DEPTH);
    } else if (sx.too_many) {
        caldav_fail(px, 400, NULL, "XML body has more than %d nodes",
                    CALDAV_XML_MAX_NODES);
    } else if (!wf || sx.have_error || doc == NULL) {
        caldav_fail(px, 400, NULL, "malformed XML (line %d): %s", sx.error_line,
                    sx.have_error ? sx.error : "not well-formed");
    } else if (xmlDocGetRootElement(doc) == NULL) {
        caldav_fail(px, 400, NULL, "malformed XML: no root element");
    }
    if (px->status != 0) {
        xmlFreeDoc(doc);
        return NULL;
    }
    return doc;
}

static int
caldav_method(const char *m, caldav_method_e *m_r)
{
    static const struct {
        const char     *name;
        caldav_method_e m;
    } methods[] = {
        { "PROPFIND", CALDAV_M_PROPFIND },
        { "PROPPATCH", CALDAV_M_PROPPATCH },
        { "MKCALENDAR", CALDAV_M_MKCALENDAR },
        { "MKCOL", CALDAV_M_MKCOL },
        { "REPORT", CALDAV_M_REPORT },
        { "POST", CALDAV_M_POST },
    };
    size_t i;

    for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strcmp(m, methods[i].name) == 0) {
            *m_r = methods[i].m;
            return MTR_OK;
        }
    }
    return MTR_ERROR;
}

static int
caldav_is_blank(const char *p, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (!caldav_is_ws((unsigned char) p[i])) {
            return 0;
        }
    }
    return 1;
}

static int
caldav_dispatch(caldav_px_t *px, caldav_method_e m, xmlNodePtr root)
{
    char show[64];

    switch (m) {
    case CALDAV_M_PROPFIND:
        if (caldav_is_el(root, NS_D, "propfind")) {
            return caldav_parse_propfind(px, root);
        }
        break;
    case CALDAV_M_PROPPATCH:
        if (caldav_is_el(root, NS_D, "propertyupdate")) {
            px->rb->kind = CALDAV_BODY_PROPPATCH;
            return caldav_parse_proppatch(px, root);
        }
        break;
    case CALDAV_M_MKCALENDAR:
        if (caldav_is_el(root, NS_C, "mkcalendar")) {
            px->rb->kind = CALDAV_BODY_MKCOL;
            return caldav_parse_mkcol(px, root);
        }
        break;
    case CALDAV_M_MKCOL:
        if (caldav_is_el(root, NS_D, "mkcol")) {
            px->rb->kind = CALDAV_BODY_MKCOL;
            return caldav_parse_mkcol(px, root);
        }
        /* RFC 5689 3: a body MKCOL does not understand is 415. */
        return caldav_fail(px, 415, NULL, "MKCOL body must be DAV:mkcol");
    case CALDAV_M_REPORT:
        return caldav_parse_report(px, root);
    case CALDAV_M_POST:
        if (caldav_is_el(root, NS_D, "share-resource")) {
            return caldav_parse_share(px, root);
        }
        break;
    }
    return caldav_fail(px, 400, NULL, "unexpected root element %s",
                       caldav_show(root->name, show, sizeof(show)));
}

static caldav_req_body_t *
caldav_req_body_new(void)
{
    caldav_req_body_t *rb;

    rb = calloc(1, sizeof(*rb));
    if (rb == NULL) {
        return NULL;
    }
    rb->expand.start = rb->limit_recurrence.start = CALDAV_TIME_MIN;
    rb->limit_freebusy.start = rb->freebusy.start = CALDAV_TIME_MIN;
    rb->expand.end = rb->limit_recurrence.end = CALDAV_TIME_MAX;
    rb->limit_freebusy.end = rb->freebusy.end = CALDAV_TIME_MAX;
    rb->sync_level = 1;
    return rb;
}

int
caldav_xml_parse(const char *method, const char *body, size_t len,
                 caldav_req_body_t **body_r, int *status_r,
                 const char **precond_r, mtr_err_t *err)
{
    caldav_px_t     px;
    caldav_method_e m;
    xmlDocPtr       doc;
    char            show[32];

    memset(&px, 0, sizeof(px));
    px.err = err;
    mtr_err_clear(err);
    if (body_r == NULL || status_r == NULL || precond_r == NULL) {
        return mtr_err_set(err, "caldav_xml_parse: NULL argument");
    }
    *body_r = NULL;
    *precond_r = NULL;
    *status_r = 500;
    if (method == NULL || (body == NULL && len != 0)) {
        return mtr_err_set(err, "caldav_xml_parse: NULL argument");
    }
    if (caldav_method(method, &m) != MTR_OK) {
        *status_r = 415;
        mtr_sanitize(show, sizeof(show), method, strlen(method));
        return mtr_err_set(err, "method %s takes no XML body", show);
    }
    if (len > CALDAV_XML_MAX_BODY) {
        *status_r = 413;
        return mtr_err_set(err, "XML body larger than %u bytes",
                           CALDAV_XML_MAX_BODY);
    }

    px.rb = caldav_req_body_new();
    if (px.rb == NULL) {
        return mtr_err_set(err, "out of memory");
    }
    px.props_tail = &px.rb->props;
    px.include_tail = &px.rb->include;
    px.search_tail = &px.rb->search_props;
    px.upd_tail = &px.rb->updates;
    px.href_tail = &px.rb->hrefs;
    px.sharee_tail = &px.rb->sharees;
    px.fns = NS_C;

    if (len == 0 || caldav_is_blank(body, len)) {
        if (m == CALDAV_M_PROPFIND) {
            px.rb->kind = CALDAV_BODY_PROPFIND;
            px.rb->propfind = CALDAV_PROPFIND_ALLPROP;
        } else if (m == CALDAV_M_MKCALENDAR || m == CALDAV_M_MKCOL) {
            px.rb->kind = CALDAV_BODY_MKCOL;
        } else {
            caldav_fail(&px, 400, NULL, "%s needs a request body", method);
        }
    } else if (!caldav_looks_like_xml(body, len)) {
        caldav_fail(&px, 415, NULL, "request body is not XML");
    } else if ((doc = caldav_xml_read(&px, body, len)) != NULL) {
        caldav_dispatch(&px, m, xmlDocGetRootElement(doc));
        xmlFreeDoc(doc);
    }

    if (px.status != 0) {
        caldav_req_body_free(px.rb);
        *status_r = px.status;
        *precond_r = px.precond;
        return MTR_ERROR;
    }
    *status_r = 200;
    *body_r = px.rb;
    return MTR_OK;
}


/* ---- freeing ---------------------------------------------------------- */

static void
caldav_propnames_free(caldav_propname_t *p)
{
    caldav_propname_t *next;

    for (; p != NULL; p = next) {
        next = p->next;
        free(p->ns);
        free(p->name);
        free(p);
    }
}

static void
caldav_text_matches_free(caldav_text_match_t *t)
{
    caldav_text_match_t *next;

    for (; t != NULL; t = next) {
        next = t->next;
        free(t->text);
        free(t);
    }
}

static void
caldav_prop_filters_free(caldav_prop_filter_t *pf)
{
    caldav_prop_filter_t  *next;
    caldav_param_filter_t *par, *pnext;

    for (; pf != NULL; pf = next) {
        next = pf->next;
        for (par = pf->param_filters; par != NULL; par = pnext) {
            pnext = par->next;
            caldav_text_matches_free(par->text_match);
            free(par->name);
            free(par);
        }
        caldav_text_matches_free(pf->text_matches);
        free(pf->time_range);
        free(pf->name);
        free(pf);
    }
}

/* Recursion is bounded by CALDAV_XML_MAX_DEPTH. */
static void
caldav_comp_filters_free(caldav_comp_filter_t *cf)
{
    caldav_comp_filter_t *next;

    for (; cf != NULL; cf = next) {
        next = cf->next;
        caldav_comp_filters_free(cf->comp_filters);
        caldav_prop_filters_free(cf->prop_filters);
        free(cf->time_range);
        free(cf->name);
        free(cf);
    }
}

void
caldav_req_body_free(caldav_req_body_t *body)
{
    caldav_prop_update_t *u, *unext;
    caldav_href_t        *h, *hnext;
    caldav_sharee_t      *sh, *shnext;

    if (body == NULL) {
        return;
    }
    caldav_propnames_free(body->props);
    caldav_propnames_free(body->include);
    caldav_propnames_free(body->search_props);
    for (u = body->updates; u != NULL; u = unext) {
        unext = u->next;
        free(u->ns);
        free(u->name);
        free(u->text);
        free(u->xml);
        free(u->comp_set);
        free(u);
    }
    for (h = body->hrefs; h != NULL; h = hnext) {
        hnext = h->next;
        free(h->href);
        free(h);
    }
    for (sh = body->sharees; sh != NULL; sh = shnext) {
        shnext = sh->next;
        free(sh->href);
        free(sh);
    }
    caldav_comp_filters_free(body->comp_filter);
    if (body->card_filter != NULL) {
        caldav_prop_filters_free(body->card_filter->prop_filters);
        free(body->card_filter);
    }
    free(body->timezone);
    free(body->sync_token);
    free(body->search_text);
    free(body);
}
