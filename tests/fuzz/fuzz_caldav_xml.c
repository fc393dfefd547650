/*
 * fuzz_caldav_xml.c -- libFuzzer harness of the DAV request-body parser
 * (ngx_caldav/caldav_xml.c).
 *
 * The first byte picks the method (PROPFIND, PROPPATCH, MKCALENDAR, MKCOL,
 * REPORT, or GET as a method without a body), the rest is the body.
 * Properties checked (abort() = a finding):
 *   - a refusal has a known status, a named precondition only with 403/400,
 *     an error message, and no result;
 *   - an accepted body has only non-NULL UTF-8 strings, upper-case filter
 *     names, ordered time ranges, at most CALDAV_XML_MAX_PROPS properties
 *     and CALDAV_XML_MAX_HREFS hrefs;
 *   - the re-serialized XML of every PROPPATCH / MKCOL update parses on its
 *     own into an element of the same namespace and name.
 * Seeds: tests/fuzz/fuzz_caldav_xml/.  Built by ngx_caldav/module.mk with
 * clang -fsanitize=fuzzer,address,undefined; run by `make fuzz`.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "../../ngx_caldav/caldav_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const methods[] = { "PROPFIND", "PROPPATCH", "MKCALENDAR",
                                       "MKCOL",    "REPORT",    "GET",
                                       "POST" };

static void
check(int ok)
{
    if (!ok) {
        abort();
    }
}

static int
utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *) s;
    size_t               n, k;

    if (s == NULL) {
        return 0;
    }
    while (*p) {
        n = *p < 0x80   ? 1
            : *p < 0xc2 ? 0
            : *p < 0xe0 ? 2
            : *p < 0xf0 ? 3
            : *p < 0xf5 ? 4
                        : 0;
        if (n == 0) {
            return 0;
        }
        for (k = 1; k < n; k++) {
            if ((p[k] & 0xc0) != 0x80) {
                return 0;
            }
        }
        p += n;
    }
    return 1;
}

static void
check_name(const char *s)
{
    check(s != NULL && *s != '\0');
    for (; *s; s++) {
        check(!(*s >= 'a' && *s <= 'z'));
    }
}

static void
check_range(const caldav_time_range_t *tr)
{
    check(tr->start < tr->end);
}

static void
check_text_matches(const caldav_text_match_t *t)
{
    for (; t != NULL; t = t->next) {
        check(utf8_ok(t->text));
        check(t->collation <= CALDAV_COLLATION_UNICODE_CASEMAP);
        check(t->match <= CALDAV_MATCH_ENDS_WITH);
    }
}

static void
check_prop_filters(const caldav_prop_filter_t *pf)
{
    const caldav_param_filter_t *par;

    for (; pf != NULL; pf = pf->next) {
        check_name(pf->name);
        if (pf->time_range) {
            check_range(pf->time_range);
        }
        check_text_matches(pf->text_matches);
        for (par = pf->param_filters; par != NULL; par = par->next) {
            check_name(par->name);
            check_text_matches(par->text_match);
        }
    }
}

static void
check_comp_filters(const caldav_comp_filter_t *cf)
{
    for (; cf != NULL; cf = cf->next) {
        check_name(cf->name);
        if (cf->time_range) {
            check_range(cf->time_range);
        }
        check_prop_filters(cf->prop_filters);
        check_comp_filters(cf->comp_filters);
    }
}

static size_t
check_names(const caldav_propname_t *p)
{
    size_t n = 0;

    for (; p != NULL; p = p->next, n++) {
        check(utf8_ok(p->ns) && utf8_ok(p->name) && p->name[0] != '\0');
    }
    return n;
}

/* The stored XML of a dead property must stand on its own. */
static void
check_reparse(const caldav_prop_update_t *u)
{
    xmlDocPtr   doc;
    xmlNodePtr  root;
    const char *ns;

    doc = xmlReadMemory(u->xml, (int) strlen(u->xml), NULL, NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR
                            | XML_PARSE_NOWARNING);
    check(doc != NULL);
    root = xmlDocGetRootElement(doc);
    check(root != NULL);
    ns = root->ns && root->ns->href ? (const char *) root->ns->href : "";
    check(strcmp(ns, u->ns) == 0);
    check(strcmp((const char *) root->name, u->name) == 0);
    xmlFreeDoc(doc);
}

static void
check_body(const caldav_req_body_t *rb)
{
    const caldav_prop_update_t *u;
    const caldav_href_t        *h;
    size_t                      n;

    n = check_names(rb->props) + check_names(rb->include)
        + check_names(rb->search_props);
    for (u = rb->updates; u != NULL; u = u->next, n++) {
        check(utf8_ok(u->ns) && utf8_ok(u->name) && utf8_ok(u->text)
              && utf8_ok(u->xml));
        check(u->comp_set == NULL || utf8_ok(u->comp_set));
        check_reparse(u);
    }
    check(n <= CALDAV_XML_MAX_PROPS);
    for (n = 0, h = rb->hrefs; h != NULL; h = h->next, n++) {
        check(utf8_ok(h->href) && h->href[0] != '\0');
    }
    check(n <= CALDAV_XML_MAX_HREFS);
    check_comp_filters(rb->comp_filter);
    if (rb->card_filter != NULL) {
        check_prop_filters(rb->card_filter->prop_filters);
    }
    if (rb->has_expand) {
        check_range(&rb->expand);
    }
    check(rb->timezone == NULL || utf8_ok(rb->timezone));
    check(rb->sync_token == NULL || utf8_ok(rb->sync_token));
    check(rb->search_text == NULL || utf8_ok(rb->search_text));
    check(rb->sync_level == 0 || rb->sync_level == 1);
    if (rb->kind == CALDAV_BODY_SYNC_COLLECTION) {
        check(rb->sync_token != NULL);
    }
    if (rb->kind == CALDAV_BODY_CALENDAR_QUERY) {
        check(rb->comp_filter != NULL
              && strcmp(rb->comp_filter->name, "VCALENDAR") == 0);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    caldav_req_body_t *rb = NULL;
    const char        *precond = NULL;
    mtr_err_t          err;
    int                status = 0, rc;

    if (size == 0) {
        return 0;
    }
    rc = caldav_xml_parse(methods[data[0] % 6], (const char *) data + 1,
                          size - 1, &rb, &status, &precond, &err);
    if (rc != MTR_OK) {
        check(rb == NULL && err.msg[0] != '\0');
        check(status == 400 || status == 403 || status == 413 || status == 415
              || status == 500);
        check(precond == NULL || status == 400 || status == 403);
        check(precond == NULL || strncmp(precond, "C:", 2) == 0
              || strncmp(precond, "CR:", 3) == 0
              || strncmp(precond, "D:", 2) == 0);
        return 0;
    }
    check(rb != NULL && status == 200 && precond == NULL);
    check_body(rb);
    caldav_req_body_free(rb);
    return 0;
}
