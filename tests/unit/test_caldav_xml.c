/*
 * test_caldav_xml.c -- unit tests for caldav_xml.h: request bodies as real
 * clients send them (iOS, macOS, Thunderbird, DAVx5, python-caldav,
 * vdirsyncer, CardBook), every error path with its status and
 * precondition (table-driven), hostile input (billion laughs, XXE, deep
 * nesting, too many hrefs/props/nodes, invalid UTF-8, truncation,
 * namespace-prefix tricks), the re-serialized dead properties, strict UTC
 * times, silence on stderr and concurrent use from threads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>
#include <cmocka.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "../../ngx_caldav/caldav_buf.h"
#include "../../ngx_caldav/caldav_xml.h"

#define XML_DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define NSD      "xmlns:D=\"DAV:\""
#define NSC      "xmlns:C=\"urn:ietf:params:xml:ns:caldav\""
#define NSCR     "xmlns:CR=\"urn:ietf:params:xml:ns:carddav\""

/* A calendar-query around one filter body. */
#define CQ(filter)                                                             \
    "<C:calendar-query " NSD " " NSC "><D:prop><D:getetag/></D:prop>"          \
    "<C:filter>" filter "</C:filter></C:calendar-query>"
#define VCAL(inner)                                                            \
    "<C:comp-filter name=\"VCALENDAR\">" inner "</C:comp-filter>"
#define VEV(inner)                                                             \
    VCAL("<C:comp-filter name=\"VEVENT\">" inner "</C:comp-filter>")

/* An addressbook-query around one filter body. */
#define AQ(filter)                                                             \
    "<CR:addressbook-query " NSD " " NSCR                                      \
    "><D:prop><D:getetag/></D:prop>" filter "</CR:addressbook-query>"

static caldav_req_body_t *
parse_ok_n(const char *name, const char *method, const char *body, size_t len)
{
    caldav_req_body_t *rb = NULL;
    const char        *precond = "unset";
    mtr_err_t          err;
    int                status = 0, rc;

    print_message("case: %s\n", name);
    rc = caldav_xml_parse(method, body, len, &rb, &status, &precond, &err);
    if (rc != MTR_OK) {
        print_message("  unexpected: %d %s: %s\n", status,
                      precond ? precond : "-", err.msg);
    }
    assert_int_equal(rc, MTR_OK);
    assert_int_equal(status, 200);
    assert_null(precond);
    assert_non_null(rb);
    return rb;
}

static caldav_req_body_t *
parse_ok(const char *name, const char *method, const char *body)
{
    return parse_ok_n(name, method, body, strlen(body));
}

static void
assert_prop(const caldav_propname_t *p, const char *ns, const char *name)
{
    assert_non_null(p);
    assert_string_equal(p->ns, ns);
    assert_string_equal(p->name, name);
}

static size_t
count_props(const caldav_propname_t *p)
{
    size_t n = 0;

    for (; p != NULL; p = p->next) {
        n++;
    }
    return n;
}


/* ---- bodies of real clients ------------------------------------------- */

/* iOS / macOS Calendar: PROPFIND on a calendar home, Depth: 1. */
static const char ios_propfind[] = XML_DECL
    "<A:propfind xmlns:A=\"DAV:\">\n"
    "  <A:prop>\n"
    "    <A:add-member/>\n"
    "    <C:allowed-sharing-modes xmlns:C=\"http://calendarserver.org/ns/\"/>\n"
    "    <D:autoprovisioned xmlns:D=\"http://apple.com/ns/ical/\"/>\n"
    "    <E:bulk-requests xmlns:E=\"http://me.com/_namespace/\"/>\n"
    "    <D:calendar-color xmlns:D=\"http://apple.com/ns/ical/\"/>\n"
    "    <B:calendar-description "
    "xmlns:B=\"urn:ietf:params:xml:ns:caldav\"/>\n"
    "    <B:calendar-free-busy-set "
    "xmlns:B=\"urn:ietf:params:xml:ns:caldav\"/>\n"
    "    <D:calendar-order xmlns:D=\"http://apple.com/ns/ical/\"/>\n"
    "    <B:calendar-timezone xmlns:B=\"urn:ietf:params:xml:ns:caldav\"/>\n"
    "    <A:current-user-privilege-set/>\n"
    "    <B:default-alarm-vevent-date "
    "xmlns:B=\"urn:ietf:params:xml:ns:caldav\"/>\n"
    "    <B:default-alarm-vevent-datetime "
    "xmlns:B=\"urn:ietf:params:xml:ns:caldav\"/>\n"
    "    <A:displayname/>\n"
    "    <C:getctag xmlns:C=\"http://calendarserver.org/ns/\"/>\n"
    "    <C:invite xmlns:C=\"http://calendarserver.org/ns/\"/>\n"
    "    <D:language-code xmlns:D=\"http://apple.com/ns/ical/\"/>\n"
    "    <D:location-code xmlns:D=\"http://apple.com/ns/ical/\"/>\n"
    "    <A:owner/>\n"
    "    <C:pre-publish-url xmlns:C=\"http://calendarserver.org/ns/\"/>\n"
    "    <C:publish-url xmlns:C=\"http://calendarserver.org/ns/\"/>\n"
    "    <C:push-transports xmlns:C=\"http://calendarserver.org/ns/\"/>\n"
    "    <C:pushkey xmlns:C=\"http://calendarserver.org/ns/\"/>\n"
    "    <A:quota-available-bytes/>\n"
    "    <A:quota-used-bytes/>\n"
    "    <D:refreshrate xmlns:D=\"http://apple.com/ns/ical/\"/>\n"
    "    <A:resource-id/>\n"
    "    <A:resourcetype/>\n"
    "    <B:schedule-calendar-transp "
    "xmlns:B=\"urn:ietf:params:xml:ns:caldav\"/>\n"
    "    <B:schedule-default-calendar-URL "
    "xmlns:B=\"urn:ietf:params:xml:ns:caldav\"/>\n"
    "    <C:source xmlns:C=\"http://calendarserver.org/ns/\"/>\n"
    "    <C:subscribed-strip-alarms "
    "xmlns:C=\"http://calendarserver.org/ns/\"/>\n"
    "    <B:supported-calendar-component-set "
    "xmlns:B=\"urn:ietf:params:xml:ns:caldav\"/>\n"
    "    <A:supported-report-set/>\n"
    "    <A:sync-token/>\n"
    "  </A:prop>\n"
    "</A:propfind>\n";

/* DAVx5: service discovery PROPFIND, default namespace DAV:. */
static const char davx5_propfind[] =
    "<?xml version='1.0' encoding='UTF-8' ?><propfind xmlns=\"DAV:\" "
    "xmlns:CAL=\"urn:ietf:params:xml:ns:caldav\" "
    "xmlns:CARD=\"urn:ietf:params:xml:ns:carddav\"><prop>"
    "<CAL:calendar-home-set /><CARD:addressbook-home-set />"
    "<current-user-principal /></prop></propfind>";

/* DAVx5: initial sync-collection (empty token). */
static const char davx5_sync[] =
    "<?xml version='1.0' encoding='UTF-8' ?><sync-collection xmlns=\"DAV:\" "
    "xmlns:CAL=\"urn:ietf:params:xml:ns:caldav\" "
    "xmlns:CARD=\"urn:ietf:params:xml:ns:carddav\"><sync-token />"
    "<sync-level>1</sync-level><prop><getcontenttype /><getetag /></prop>"
    "</sync-collection>";

/* DAVx5: addressbook-multiget. */
static const char davx5_card_multiget[] =
    "<?xml version='1.0' encoding='UTF-8' ?><CARD:addressbook-multiget "
    "xmlns=\"DAV:\" xmlns:CARD=\"urn:ietf:params:xml:ns:carddav\"><prop>"
    "<getcontenttype /><getetag /><CARD:address-data /></prop>"
    "<href>/dav/addressbooks/alice/contacts/1.vcf</href>"
    "<href>/dav/addressbooks/alice/contacts/caf%C3%A9.vcf</href>"
    "</CARD:addressbook-multiget>";

/* DAVx5: extended MKCOL of an address book. */
static const char davx5_mkcol[] =
    "<?xml version='1.0' encoding='UTF-8' ?><mkcol xmlns=\"DAV:\" "
    "xmlns:CAL=\"urn:ietf:params:xml:ns:caldav\" "
    "xmlns:CARD=\"urn:ietf:params:xml:ns:carddav\"><set><prop><resourcetype>"
    "<collection /><CARD:addressbook /></resourcetype>"
    "<displayname>Contacts</displayname>"
    "<CARD:addressbook-description>My contacts</CARD:addressbook-description>"
    "</prop></set></mkcol>";

/* Thunderbird (Lightning): calendar-multiget with CalDAV as default ns. */
static const char tb_multiget[] = XML_DECL
    "<calendar-multiget xmlns:D=\"DAV:\" "
    "xmlns=\"urn:ietf:params:xml:ns:caldav\">\n"
    "  <D:prop>\n"
    "    <D:getetag/>\n"
    "    <calendar-data/>\n"
    "  </D:prop>\n"
    "  <D:href>/dav/calendars/alice/home/abc%20def.ics</D:href>\n"
    "  <D:href>\n    /dav/calendars/alice/home/0a1b2c.ics\n  </D:href>\n"
    "</calendar-multiget>\n";

/* Thunderbird: items changed in a window. */
static const char tb_query[] =
    XML_DECL "<calendar-query xmlns:D=\"DAV:\" "
             "xmlns=\"urn:ietf:params:xml:ns:caldav\">\n"
             "  <D:prop><D:getetag/></D:prop>\n"
             "  <filter>\n"
             "    <comp-filter name=\"VCALENDAR\">\n"
             "      <comp-filter name=\"VEVENT\">\n"
             "        <time-range start=\"20240101T000000Z\"/>\n"
             "      </comp-filter>\n"
             "    </comp-filter>\n"
             "  </filter>\n"
             "</calendar-query>\n";

/* python-caldav: date search with server-side expansion. */
static const char pycaldav_expand[] =
    "<?xml version='1.0' encoding='utf-8'?>\n"
    "<C:calendar-query xmlns:C=\"urn:ietf:params:xml:ns:caldav\" "
    "xmlns:D=\"DAV:\">\n"
    "  <D:prop>\n"
    "    <C:calendar-data>\n"
    "      <C:expand start=\"20240101T000000Z\" end=\"20240201T000000Z\"/>\n"
    "    </C:calendar-data>\n"
    "  </D:prop>\n"
    "  <C:filter>\n"
    "    <C:comp-filter name=\"VCALENDAR\">\n"
    "      <C:comp-filter name=\"VEVENT\">\n"
    "        <C:time-range start=\"20240101T000000Z\" "
    "end=\"20240201T000000Z\"/>\n"
    "      </C:comp-filter>\n"
    "    </C:comp-filter>\n"
    "  </C:filter>\n"
    "</C:calendar-query>\n";

/* python-caldav: pending todos. */
static const char pycaldav_todos[] =
    "<?xml version='1.0' encoding='utf-8'?>\n"
    "<C:calendar-query xmlns:C=\"urn:ietf:params:xml:ns:caldav\" "
    "xmlns:D=\"DAV:\"><D:prop><C:calendar-data/></D:prop><C:filter>"
    "<C:comp-filter name=\"VCALENDAR\"><C:comp-filter name=\"vtodo\">"
    "<C:prop-filter name=\"completed\"><C:is-not-defined/></C:prop-filter>"
    "<C:prop-filter name=\"STATUS\"><C:text-match negate-condition=\"yes\" "
    "collation=\"i;octet\">COMPLETED</C:text-match></C:prop-filter>"
    "<C:prop-filter name=\"ATTENDEE\"><C:param-filter name=\"partstat\">"
    "<C:text-match><![CDATA[NEEDS-ACTION]]></C:text-match></C:param-filter>"
    "<C:param-filter name=\"X-NONE\"><C:is-not-defined/></C:param-filter>"
    "</C:prop-filter>"
    "</C:comp-filter></C:comp-filter></C:filter>"
    "<C:timezone>BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n</C:timezone>"
    "</C:calendar-query>";

/* python-caldav: MKCALENDAR. */
static const char pycaldav_mkcalendar[] =
    "<?xml version='1.0' encoding='utf-8'?>\n"
    "<C:mkcalendar xmlns:C=\"urn:ietf:params:xml:ns:caldav\" "
    "xmlns:D=\"DAV:\">\n"
    "  <D:set>\n"
    "    <D:prop>\n"
    "      <D:displayname>  Yep  </D:displayname>\n"
    "      <C:supported-calendar-component-set>\n"
    "        <C:comp name=\"VEVENT\"/>\n"
    "        <C:comp name=\"vtodo\"/>\n"
    "      </C:supported-calendar-component-set>\n"
    "      <D:resourcetype><D:collection/><C:calendar/></D:resourcetype>\n"
    "    </D:prop>\n"
    "  </D:set>\n"
    "</C:mkcalendar>\n";

/* vdirsyncer: list the events of a calendar. */
static const char vdirsyncer_query[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n"
    "<C:calendar-query xmlns:D=\"DAV:\" "
    "xmlns:C=\"urn:ietf:params:xml:ns:caldav\">\n"
    "    <D:prop>\n"
    "        <D:getcontenttype/>\n"
    "        <D:getetag/>\n"
    "    </D:prop>\n"
    "    <C:filter>\n"
    "        <C:comp-filter name=\"VCALENDAR\">\n"
    "            <C:comp-filter name=\"VEVENT\"/>\n"
    "        </C:comp-filter>\n"
    "    </C:filter>\n"
    "</C:calendar-query>\n";

/* vdirsyncer: PROPFIND Depth: 1 of a collection. */
static const char vdirsyncer_propfind[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n"
    "<propfind xmlns=\"DAV:\">\n"
    "    <prop>\n"
    "        <resourcetype/>\n"
    "        <getcontenttype/>\n"
    "        <getetag/>\n"
    "    </prop>\n"
    "</propfind>\n";

/* CardBook / RFC 6352 8.6.4: addressbook-query with a limit. */
static const char card_query[] = XML_DECL
    "<C:addressbook-query xmlns:D=\"DAV:\" "
    "xmlns:C=\"urn:ietf:params:xml:ns:carddav\">\n"
    "  <D:prop>\n"
    "    <D:getetag/>\n"
    "    <C:address-data content-type=\"text/vcard\" version=\"4.0\">\n"
    "      <C:prop name=\"VERSION\"/><C:prop name=\"UID\"/>\n"
    "    </C:address-data>\n"
    "  </D:prop>\n"
    "  <C:filter test=\"allof\">\n"
    "    <C:prop-filter name=\"fn\" test=\"allof\">\n"
    "      <C:text-match collation=\"i;unicode-casemap\" "
    "match-type=\"starts-with\">daboo</C:text-match>\n"
    "      <C:text-match match-type=\"ends-with\" "
    "negate-condition=\"yes\">x</C:text-match>\n"
    "      <C:param-filter name=\"type\"><C:text-match "
    "match-type=\"equals\">work</C:text-match></C:param-filter>\n"
    "    </C:prop-filter>\n"
    "    <C:prop-filter name=\"EMAIL\">\n"
    "      <C:text-match>daboo</C:text-match>\n"
    "    </C:prop-filter>\n"
    "    <C:prop-filter name=\"X-ABLABEL\"><C:is-not-defined/>"
    "</C:prop-filter>\n"
    "  </C:filter>\n"
    "  <C:limit><C:nresults> 10 </C:nresults></C:limit>\n"
    "</C:addressbook-query>\n";

/* iOS: PROPPATCH of colour and order, and a removal. */
static const char ios_proppatch[] = XML_DECL
    "<A:propertyupdate xmlns:A=\"DAV:\">\n"
    "  <A:set>\n"
    "    <A:prop>\n"
    "      <B:calendar-color xmlns:B=\"http://apple.com/ns/ical/\" "
    "symbolic-color=\"custom\">#FF2968FF</B:calendar-color>\n"
    "    </A:prop>\n"
    "  </A:set>\n"
    "  <A:set><A:prop><B:calendar-order xmlns:B=\"http://apple.com/ns/ical/\">"
    "3</B:calendar-order></A:prop></A:set>\n"
    "  <A:remove><A:prop><A:displayname/></A:prop></A:remove>\n"
    "</A:propertyupdate>\n";

/* iOS: calendar-proxy discovery. */
static const char ios_expand[] =
    XML_DECL "<A:expand-property xmlns:A=\"DAV:\">\n"
             "  <A:property name=\"calendar-proxy-write-for\" "
             "namespace=\"http://calendarserver.org/ns/\">\n"
             "    <A:property name=\"displayname\" namespace=\"DAV:\"/>\n"
             "    <A:property name=\"principal-URL\" namespace=\"DAV:\"/>\n"
             "  </A:property>\n"
             "  <A:property name=\"calendar-proxy-read-for\" "
             "namespace=\"http://calendarserver.org/ns/\"/>\n"
             "  <A:property name=\"owner\"/>\n"
             "</A:expand-property>\n";

/* Thunderbird / iOS: attendee search. */
static const char principal_search[] = XML_DECL
    "<D:principal-property-search xmlns:D=\"DAV:\" " NSC " test=\"anyof\">\n"
    "  <D:property-search><D:prop><D:displayname/></D:prop>"
    "<D:match> doe </D:match></D:property-search>\n"
    "  <D:property-search><D:prop><C:calendar-user-address-set/></D:prop>"
    "<D:match>other</D:match></D:property-search>\n"
    "  <D:prop><C:calendar-home-set/><D:displayname/></D:prop>\n"
    "  <D:apply-to-principal-collection-set/>\n"
    "</D:principal-property-search>\n";


static void
test_client_propfind(void **state)
{
    caldav_req_body_t *rb;

    (void) state;
    rb = parse_ok("iOS PROPFIND, 34 props, prefixes A B C D E", "PROPFIND",
                  ios_propfind);
    assert_int_equal(rb->kind, CALDAV_BODY_PROPFIND);
    assert_int_equal(rb->propfind, CALDAV_PROPFIND_PROP);
    assert_int_equal(count_props(rb->props), 34);
    assert_prop(rb->props, CALDAV_NS_DAV, "add-member");
    assert_prop(rb->props->next, CALDAV_NS_CS, "allowed-sharing-modes");
    /* D is Apple's namespace here: the prefix means nothing. */
    assert_prop(rb->props->next->next, CALDAV_NS_APPLE, "autoprovisioned");
    assert_prop(rb->props->next->next->next, "http://me.com/_namespace/",
                "bulk-requests");
    assert_false(rb->want_data);
    caldav_req_body_free(rb);

    rb = parse_ok("DAVx5 discovery PROPFIND", "PROPFIND", davx5_propfind);
    assert_int_equal(count_props(rb->props), 3);
    assert_prop(rb->props, CALDAV_NS_CALDAV, "calendar-home-set");
    assert_prop(rb->props->next, CALDAV_NS_CARDDAV, "addressbook-home-set");
    assert_prop(rb->props->next->next, CALDAV_NS_DAV, "current-user-principal");
    caldav_req_body_free(rb);

    rb = parse_ok("vdirsyncer PROPFIND", "PROPFIND", vdirsyncer_propfind);
    assert_int_equal(count_props(rb->props), 3);
    assert_prop(rb->props->next->next, CALDAV_NS_DAV, "getetag");
    caldav_req_body_free(rb);
}

static void
test_client_reports(void **state)
{
    caldav_req_body_t    *rb;
    caldav_comp_filter_t *cf;
    caldav_prop_filter_t *pf;

    (void) state;
    rb = parse_ok("Thunderbird calendar-multiget", "REPORT", tb_multiget);
    assert_int_equal(rb->kind, CALDAV_BODY_CALENDAR_MULTIGET);
    assert_int_equal(rb->propfind, CALDAV_PROPFIND_PROP);
    assert_true(rb->want_data);
    assert_false(rb->has_expand);
    assert_prop(rb->props, CALDAV_NS_DAV, "getetag");
    assert_prop(rb->props->next, CALDAV_NS_CALDAV, "calendar-data");
    assert_string_equal(rb->hrefs->href,
                        "/dav/calendars/alice/home/abc%20def.ics");
    assert_string_equal(rb->hrefs->next->href,
                        "/dav/calendars/alice/home/0a1b2c.ics");
    assert_null(rb->hrefs->next->next);
    caldav_req_body_free(rb);

    rb = parse_ok("Thunderbird calendar-query, open-ended range", "REPORT",
                  tb_query);
    assert_int_equal(rb->kind, CALDAV_BODY_CALENDAR_QUERY);
    cf = rb->comp_filter;
    assert_string_equal(cf->name, "VCALENDAR");
    assert_null(cf->time_range);
    assert_string_equal(cf->comp_filters->name, "VEVENT");
    assert_int_equal(cf->comp_filters->time_range->start, 1704067200);
    assert_true(cf->comp_filters->time_range->end == CALDAV_TIME_MAX);
    caldav_req_body_free(rb);

    rb = parse_ok("python-caldav expand", "REPORT", pycaldav_expand);
    assert_true(rb->want_data);
    assert_true(rb->has_expand);
    assert_int_equal(rb->expand.start, 1704067200);
    assert_int_equal(rb->expand.end, 1706745600);
    assert_false(rb->has_limit_recurrence);
    assert_int_equal(rb->comp_filter->comp_filters->time_range->end,
                     1706745600);
    caldav_req_body_free(rb);

    rb = parse_ok("python-caldav todos: names upper-cased, params", "REPORT",
                  pycaldav_todos);
    cf = rb->comp_filter->comp_filters;
    assert_string_equal(cf->name, "VTODO");
    pf = cf->prop_filters;
    assert_string_equal(pf->name, "COMPLETED");
    assert_true(pf->is_not_defined);
    pf = pf->next;
    assert_string_equal(pf->name, "STATUS");
    assert_string_equal(pf->text_matches->text, "COMPLETED");
    assert_true(pf->text_matches->negate);
    assert_int_equal(pf->text_matches->collation, CALDAV_COLLATION_OCTET);
    assert_int_equal(pf->text_matches->match, CALDAV_MATCH_CONTAINS);
    pf = pf->next;
    assert_string_equal(pf->name, "ATTENDEE");
    assert_string_equal(pf->param_filters->name, "PARTSTAT");
    assert_string_equal(pf->param_filters->text_match->text, "NEEDS-ACTION");
    assert_int_equal(pf->param_filters->text_match->collation,
                     CALDAV_COLLATION_ASCII_CASEMAP);
    assert_false(pf->param_filters->text_match->negate);
    assert_true(pf->param_filters->next->is_not_defined);
    assert_null(pf->param_filters->next->text_match);
    assert_null(pf->next);
    /* XML end-of-line handling: a literal CR LF arrives as LF. */
    assert_string_equal(rb->timezone, "BEGIN:VCALENDAR\nEND:VCALENDAR");
    caldav_req_body_free(rb);

    rb = parse_ok("vdirsyncer calendar-query", "REPORT", vdirsyncer_query);
    assert_string_equal(rb->comp_filter->comp_filters->name, "VEVENT");
    assert_null(rb->comp_filter->comp_filters->time_range);
    assert_null(rb->comp_filter->comp_filters->prop_filters);
    assert_false(rb->want_data);
    caldav_req_body_free(rb);

    rb = parse_ok("DAVx5 sync-collection, empty token", "REPORT", davx5_sync);
    assert_int_equal(rb->kind, CALDAV_BODY_SYNC_COLLECTION);
    assert_string_equal(rb->sync_token, "");
    assert_int_equal(rb->sync_level, 1);
    assert_int_equal(count_props(rb->props), 2);
    assert_int_equal(rb->limit_results, 0);
    caldav_req_body_free(rb);

    rb = parse_ok("DAVx5 addressbook-multiget", "REPORT", davx5_card_multiget);
    assert_int_equal(rb->kind, CALDAV_BODY_ADDRESSBOOK_MULTIGET);
    assert_true(rb->want_data);
    assert_prop(rb->props->next->next, CALDAV_NS_CARDDAV, "address-data");
    assert_string_equal(rb->hrefs->next->href,
                        "/dav/addressbooks/alice/contacts/caf%C3%A9.vcf");
    caldav_req_body_free(rb);

    rb = parse_ok("CardBook addressbook-query", "REPORT", card_query);
    assert_int_equal(rb->kind, CALDAV_BODY_ADDRESSBOOK_QUERY);
    assert_true(rb->want_data);
    assert_int_equal(rb->limit_results, 10);
    assert_true(rb->card_filter->test_allof);
    pf = rb->card_filter->prop_filters;
    assert_string_equal(pf->name, "FN");
    assert_true(pf->test_allof);
    assert_int_equal(pf->text_matches->match, CALDAV_MATCH_STARTS_WITH);
    assert_int_equal(pf->text_matches->collation,
                     CALDAV_COLLATION_UNICODE_CASEMAP);
    assert_int_equal(pf->text_matches->next->match, CALDAV_MATCH_ENDS_WITH);
    assert_true(pf->text_matches->next->negate);
    assert_null(pf->text_matches->next->next);
    assert_string_equal(pf->param_filters->name, "TYPE");
    assert_int_equal(pf->param_filters->text_match->match, CALDAV_MATCH_EQUALS);
    pf = pf->next;
    assert_string_equal(pf->name, "EMAIL");
    assert_false(pf->test_allof);
    /* RFC 6352: CardDAV's default collation is i;unicode-casemap. */
    assert_int_equal(pf->text_matches->collation,
                     CALDAV_COLLATION_UNICODE_CASEMAP);
    assert_true(pf->next->is_not_defined);
    caldav_req_body_free(rb);

    rb = parse_ok("iOS expand-property", "REPORT", ios_expand);
    assert_int_equal(rb->kind, CALDAV_BODY_EXPAND_PROPERTY);
    assert_int_equal(count_props(rb->props), 3);
    assert_prop(rb->props, CALDAV_NS_CS, "calendar-proxy-write-for");
    assert_prop(rb->props->next->next, CALDAV_NS_DAV, "owner");
    caldav_req_body_free(rb);

    rb =
        parse_ok("principal-property-search anyof", "REPORT", principal_search);
    assert_int_equal(rb->kind, CALDAV_BODY_PRINCIPAL_PROPERTY_SEARCH);
    assert_false(rb->search_test_allof);
    assert_string_equal(rb->search_text, "doe");
    assert_int_equal(count_props(rb->search_props), 2);
    assert_prop(rb->search_props->next, CALDAV_NS_CALDAV,
                "calendar-user-address-set");
    assert_int_equal(count_props(rb->props), 2);
    assert_prop(rb->props, CALDAV_NS_CALDAV, "calendar-home-set");
    caldav_req_body_free(rb);
}

static void
test_client_updates(void **state)
{
    caldav_req_body_t    *rb;
    caldav_prop_update_t *u;

    (void) state;
    rb = parse_ok("iOS PROPPATCH", "PROPPATCH", ios_proppatch);
    assert_int_equal(rb->kind, CALDAV_BODY_PROPPATCH);
    u = rb->updates;
    assert_false(u->remove);
    assert_string_equal(u->ns, CALDAV_NS_APPLE);
    assert_string_equal(u->name, "calendar-color");
    assert_string_equal(u->text, "#FF2968FF");
    assert_string_equal(u->xml,
                        "<B:calendar-color xmlns:B=\"http://apple.com/ns/"
                        "ical/\" xmlns:A=\"DAV:\" symbolic-color=\"custom\">"
                        "#FF2968FF</B:calendar-color>");
    assert_null(u->comp_set);
    u = u->next;
    assert_string_equal(u->name, "calendar-order");
    assert_string_equal(u->text, "3");
    u = u->next;
    assert_true(u->remove);
    assert_string_equal(u->ns, CALDAV_NS_DAV);
    assert_string_equal(u->name, "displayname");
    assert_string_equal(u->text, "");
    assert_string_equal(u->xml, "<A:displayname xmlns:A=\"DAV:\"/>");
    assert_null(u->next);
    caldav_req_body_free(rb);

    rb =
        parse_ok("python-caldav MKCALENDAR", "MKCALENDAR", pycaldav_mkcalendar);
    assert_int_equal(rb->kind, CALDAV_BODY_MKCOL);
    u = rb->updates;
    assert_string_equal(u->name, "displayname");
    assert_string_equal(u->text, "Yep");
    u = u->next;
    assert_string_equal(u->name, "supported-calendar-component-set");
    assert_string_equal(u->comp_set, "VEVENT,VTODO");
    u = u->next;
    assert_string_equal(u->name, "resourcetype");
    assert_true(u->rt_collection);
    assert_true(u->rt_calendar);
    assert_false(u->rt_addressbook);
    assert_null(u->comp_set);
    caldav_req_body_free(rb);

    rb = parse_ok("DAVx5 extended MKCOL", "MKCOL", davx5_mkcol);
    assert_int_equal(rb->kind, CALDAV_BODY_MKCOL);
    u = rb->updates;
    assert_string_equal(u->name, "resourcetype");
    assert_true(u->rt_collection);
    assert_false(u->rt_calendar);
    assert_true(u->rt_addressbook);
    assert_string_equal(u->next->text, "Contacts");
    assert_string_equal(u->next->next->ns, CALDAV_NS_CARDDAV);
    assert_string_equal(u->next->next->text, "My contacts");
    caldav_req_body_free(rb);
}


/* ---- more successful shapes ------------------------------------------- */

static void
test_propfind_shapes(void **state)
{
    caldav_req_body_t *rb;

    (void) state;
    rb = parse_ok_n("empty PROPFIND is allprop", "PROPFIND", NULL, 0);
    assert_int_equal(rb->kind, CALDAV_BODY_PROPFIND);
    assert_int_equal(rb->propfind, CALDAV_PROPFIND_ALLPROP);
    assert_null(rb->props);
    caldav_req_body_free(rb);

    rb = parse_ok("blank PROPFIND is allprop", "PROPFIND", " \r\n\t");
    assert_int_equal(rb->propfind, CALDAV_PROPFIND_ALLPROP);
    caldav_req_body_free(rb);

    rb =
        parse_ok("<propfind/> is allprop", "PROPFIND", "<D:propfind " NSD "/>");
    assert_int_equal(rb->propfind, CALDAV_PROPFIND_ALLPROP);
    caldav_req_body_free(rb);

    rb = parse_ok("allprop with include", "PROPFIND",
                  "<D:propfind " NSD " " NSC "><D:allprop/><D:include>"
                  "<C:supported-calendar-component-set/><D:sync-token/>"
                  "</D:include></D:propfind>");
    assert_int_equal(rb->propfind, CALDAV_PROPFIND_ALLPROP);
    assert_null(rb->props);
    assert_int_equal(count_props(rb->include), 2);
    assert_prop(rb->include, CALDAV_NS_CALDAV,
                "supported-calendar-component-set");
    caldav_req_body_free(rb);

    rb = parse_ok("propname", "PROPFIND",
                  "<propfind xmlns=\"DAV:\"><propname/></propfind>");
    assert_int_equal(rb->propfind, CALDAV_PROPFIND_PROPNAME);
    caldav_req_body_free(rb);

    rb = parse_ok("another prefix bound to DAV: still works", "PROPFIND",
                  "<X:propfind xmlns:X=\"DAV:\"><X:prop><X:getetag/>"
                  "</X:prop></X:propfind>");
    assert_int_equal(rb->propfind, CALDAV_PROPFIND_PROP);
    assert_prop(rb->props, CALDAV_NS_DAV, "getetag");
    caldav_req_body_free(rb);

    rb = parse_ok("prefix D rebound to another namespace is not DAV:prop",
                  "PROPFIND",
                  "<D:propfind " NSD "><D:prop xmlns:D=\"urn:other\">"
                  "<D:getetag/></D:prop></D:propfind>");
    assert_int_equal(rb->propfind, CALDAV_PROPFIND_ALLPROP);
    assert_null(rb->props);
    caldav_req_body_free(rb);

    rb = parse_ok("unknown elements are ignored, props without namespace",
                  "PROPFIND",
                  "<!-- hi --><?pi x?><D:propfind " NSD
                  "><D:future-thing><D:x/></D:future-thing>"
                  "<D:prop><plain xmlns=\"\"/><D:getetag/></D:prop>"
                  "text</D:propfind>");
    assert_int_equal(count_props(rb->props), 2);
    assert_prop(rb->props, "", "plain");
    caldav_req_body_free(rb);

    rb = parse_ok("ISO-8859-1 body is converted to UTF-8", "PROPPATCH",
                  "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>"
                  "<D:propertyupdate " NSD "><D:set><D:prop><D:displayname>"
                  "Caf\xe9</D:displayname></D:prop></D:set>"
                  "</D:propertyupdate>");
    assert_string_equal(rb->updates->text, "Caf\xc3\xa9");
    caldav_req_body_free(rb);

    rb = parse_ok("UTF-8 BOM", "PROPFIND",
                  "\xef\xbb\xbf<D:propfind " NSD "><D:propname/></D:propfind>");
    assert_int_equal(rb->propfind, CALDAV_PROPFIND_PROPNAME);
    caldav_req_body_free(rb);

    {
        /* UTF-16LE with a BOM: "<propfind xmlns="DAV:"><propname/>..." */
        const char *ascii = "<propfind xmlns=\"DAV:\"><propname/></propfind>";
        char        u16[200];
        size_t      i, n = strlen(ascii);

        u16[0] = (char) 0xff;
        u16[1] = (char) 0xfe;
        for (i = 0; i < n; i++) {
            u16[2 + 2 * i] = ascii[i];
            u16[3 + 2 * i] = 0;
        }
        rb = parse_ok_n("UTF-16LE with BOM", "PROPFIND", u16, 2 + 2 * n);
        assert_int_equal(rb->propfind, CALDAV_PROPFIND_PROPNAME);
        caldav_req_body_free(rb);
    }

    rb = parse_ok("empty MKCALENDAR", "MKCALENDAR", "");
    assert_int_equal(rb->kind, CALDAV_BODY_MKCOL);
    assert_null(rb->updates);
    caldav_req_body_free(rb);

    rb = parse_ok_n("empty MKCOL", "MKCOL", NULL, 0);
    assert_int_equal(rb->kind, CALDAV_BODY_MKCOL);
    caldav_req_body_free(rb);

    rb = parse_ok("MKCALENDAR ignores remove", "MKCALENDAR",
                  "<C:mkcalendar " NSD " " NSC "><D:remove><D:prop>"
                  "<D:displayname/></D:prop></D:remove></C:mkcalendar>");
    assert_null(rb->updates);
    caldav_req_body_free(rb);
}

static void
test_report_shapes(void **state)
{
    caldav_req_body_t *rb;

    (void) state;
    rb = parse_ok("free-busy-query", "REPORT",
                  "<C:free-busy-query " NSC "><C:time-range "
                  "start=\"20060104T140000Z\" end=\"20060105T220000Z\"/>"
                  "</C:free-busy-query>");
    assert_int_equal(rb->kind, CALDAV_BODY_FREE_BUSY_QUERY);
    assert_int_equal(rb->freebusy.start, 1136383200);
    assert_int_equal(rb->freebusy.end, 1136498400);
    caldav_req_body_free(rb);

    rb = parse_ok("sync-collection infinite with limit and token", "REPORT",
                  "<D:sync-collection " NSD "><D:sync-token>\n "
                  "http://mortar/sync/42 </D:sync-token><D:sync-level>"
                  "infinite</D:sync-level><D:limit><D:nresults>100"
                  "</D:nresults></D:limit><D:prop><D:getetag/></D:prop>"
                  "</D:sync-collection>");
    assert_string_equal(rb->sync_token, "http://mortar/sync/42");
    assert_int_equal(rb->sync_level, 0);
    assert_int_equal(rb->limit_results, 100);
    caldav_req_body_free(rb);

    rb = parse_ok("calendar-data limit-recurrence-set and freebusy", "REPORT",
                  "<C:calendar-multiget " NSD " " NSC "><D:prop>"
                  "<C:calendar-data content-type=\"text/calendar\" "
                  "version=\"2.0\"><C:comp name=\"VCALENDAR\"/>"
                  "<C:limit-recurrence-set start=\"20060103T000000Z\" "
                  "end=\"20060105T000000Z\"/><C:limit-freebusy-set "
                  "start=\"20060102T000000Z\" end=\"20060106T000000Z\"/>"
                  "</C:calendar-data></D:prop><D:href>/a.ics</D:href>"
                  "</C:calendar-multiget>");
    assert_true(rb->want_data);
    assert_false(rb->has_expand);
    assert_true(rb->has_limit_recurrence);
    assert_int_equal(rb->limit_recurrence.start, 1136246400);
    assert_true(rb->has_limit_freebusy);
    assert_int_equal(rb->limit_freebusy.end, 1136505600);
    caldav_req_body_free(rb);

    rb = parse_ok("multiget without prop asks for nothing", "REPORT",
                  "<C:calendar-multiget " NSD " " NSC "><D:href>/a.ics"
                  "</D:href></C:calendar-multiget>");
    assert_int_equal(rb->propfind, CALDAV_PROPFIND_PROP);
    assert_null(rb->props);
    caldav_req_body_free(rb);

    rb = parse_ok("calendar-query with allprop", "REPORT",
                  "<C:calendar-query " NSD " " NSC "><D:allprop/>"
                  "<C:filter>" VCAL("") "</C:filter></C:calendar-query>");
    assert_int_equal(rb->propfind, CALDAV_PROPFIND_ALLPROP);
    caldav_req_body_free(rb);

    rb = parse_ok("comp-filter is-not-defined, VALARM, X- component", "REPORT",
                  CQ(VCAL("<C:comp-filter name=\"VTODO\"><C:comp-filter "
                          "name=\"VALARM\"><C:time-range end=\"20300101T"
                          "000000Z\"/></C:comp-filter></C:comp-filter>"
                          "<C:comp-filter name=\"VJOURNAL\"><C:is-not-"
                          "defined/></C:comp-filter><C:comp-filter "
                          "name=\"X-THING\"/>")));
    assert_string_equal(rb->comp_filter->comp_filters->comp_filters->name,
                        "VALARM");
    assert_true(rb->comp_filter->comp_filters->comp_filters->time_range->start
                == CALDAV_TIME_MIN);
    assert_true(rb->comp_filter->comp_filters->next->is_not_defined);
    assert_string_equal(rb->comp_filter->comp_filters->next->next->name,
                        "X-THING");
    caldav_req_body_free(rb);

    rb = parse_ok("prop-filter time-range (CalDAV)", "REPORT",
                  CQ(VEV("<C:prop-filter name=\"DTSTAMP\"><C:time-range "
                         "start=\"20240101T000000Z\"/></C:prop-filter>")));
    assert_int_equal(
        rb->comp_filter->comp_filters->prop_filters->time_range->start,
        1704067200);
    caldav_req_body_free(rb);

    rb = parse_ok("empty CardDAV filter matches all", "REPORT",
                  AQ("<CR:filter/>"));
    assert_non_null(rb->card_filter);
    assert_false(rb->card_filter->test_allof);
    assert_null(rb->card_filter->prop_filters);
    caldav_req_body_free(rb);

    rb = parse_ok("principal-match self", "REPORT",
                  "<D:principal-match " NSD "><D:self/><D:prop>"
                  "<D:displayname/></D:prop></D:principal-match>");
    assert_int_equal(rb->kind, CALDAV_BODY_PRINCIPAL_MATCH);
    assert_null(rb->search_props);
    assert_prop(rb->props, CALDAV_NS_DAV, "displayname");
    caldav_req_body_free(rb);

    rb = parse_ok("principal-match principal-property", "REPORT",
                  "<D:principal-match " NSD "><D:principal-property>"
                  "<D:owner/></D:principal-property></D:principal-match>");
    assert_prop(rb->search_props, CALDAV_NS_DAV, "owner");
    caldav_req_body_free(rb);

    rb = parse_ok("principal-search-property-set", "REPORT",
                  "<D:principal-search-property-set " NSD "/>");
    assert_int_equal(rb->kind, CALDAV_BODY_PRINCIPAL_SEARCH_PROPERTY_SET);
    caldav_req_body_free(rb);

    rb = parse_ok("principal-property-search default allof", "REPORT",
                  "<D:principal-property-search " NSD "><D:property-search>"
                  "<D:prop><D:displayname/></D:prop><D:match/>"
                  "</D:property-search></D:principal-property-search>");
    assert_true(rb->search_test_allof);
    assert_string_equal(rb->search_text, "");
    caldav_req_body_free(rb);

    rb = parse_ok("acl-principal-prop-set", "REPORT",
                  "<D:acl-principal-prop-set " NSD "><D:prop>"
                  "<D:displayname/></D:prop></D:acl-principal-prop-set>");
    assert_int_equal(rb->kind, CALDAV_BODY_ACL_PRINCIPAL_PROP_SET);
    assert_int_equal(count_props(rb->props), 1);
    caldav_req_body_free(rb);
}


/* ---- dead properties: the XML must parse on its own ------------------- */

static xmlNodePtr
next_el(xmlNodePtr n)
{
    while (n != NULL && n->type != XML_ELEMENT_NODE) {
        n = n->next;
    }
    return n;
}

static void
test_dead_property_xml(void **state)
{
    caldav_req_body_t *rb;
    xmlDocPtr          doc;
    xmlNodePtr         root, c;
    xmlChar           *v;

    (void) state;
    rb = parse_ok("nested namespaces, attributes and escapes", "PROPPATCH",
                  "<D:propertyupdate " NSD " xmlns:X=\"urn:x\" "
                  "xmlns:Y=\"urn:y\"><D:set><D:prop>"
                  "<X:complex Y:attr=\"a&amp;b&#10;c&quot;\" plain=\"1\">"
                  "<Y:child>t&lt;1&#13;</Y:child><leaf xmlns=\"\">z</leaf>"
                  "<Z:deep xmlns:Z=\"urn:z\"><![CDATA[<raw>]]></Z:deep>"
                  "<!-- dropped --></X:complex>"
                  "</D:prop></D:set></D:propertyupdate>");
    print_message("  xml: %s\n", rb->updates->xml);
    assert_string_equal(rb->updates->text, "t<1\rz<raw>");

    doc = xmlReadMemory(rb->updates->xml, (int) strlen(rb->updates->xml), NULL,
                        NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    root = xmlDocGetRootElement(doc);
    assert_string_equal((const char *) root->ns->href, "urn:x");
    assert_string_equal((const char *) root->name, "complex");
    v = xmlGetNsProp(root, (const xmlChar *) "attr", (const xmlChar *) "urn:y");
    assert_non_null(v);
    assert_string_equal((const char *) v, "a&b\nc\"");
    xmlFree(v);
    v = xmlGetNoNsProp(root, (const xmlChar *) "plain");
    assert_string_equal((const char *) v, "1");
    xmlFree(v);
    c = next_el(root->children);
    assert_string_equal((const char *) c->ns->href, "urn:y");
    v = xmlNodeGetContent(c);
    assert_string_equal((const char *) v, "t<1\r");
    xmlFree(v);
    c = next_el(c->next);
    assert_string_equal((const char *) c->name, "leaf");
    assert_true(c->ns == NULL || c->ns->href[0] == '\0');
    c = next_el(c->next);
    assert_string_equal((const char *) c->ns->href, "urn:z");
    v = xmlNodeGetContent(c);
    assert_string_equal((const char *) v, "<raw>");
    xmlFree(v);
    assert_null(next_el(c->next));
    xmlFreeDoc(doc);
    caldav_req_body_free(rb);

    rb = parse_ok("default namespace", "PROPPATCH",
                  "<propertyupdate xmlns=\"DAV:\"><set><prop><displayname>"
                  "Work &amp; Life</displayname></prop></set>"
                  "</propertyupdate>");
    assert_string_equal(rb->updates->xml,
                        "<displayname xmlns=\"DAV:\">Work &amp; Life"
                        "</displayname>");
    assert_string_equal(rb->updates->text, "Work & Life");
    caldav_req_body_free(rb);

    rb = parse_ok("QName in content keeps its prefix declared", "PROPPATCH",
                  "<D:propertyupdate " NSD " xmlns:q=\"urn:q\"><D:set><D:prop>"
                  "<q:ref>q:value</q:ref></D:prop></D:set>"
                  "</D:propertyupdate>");
    assert_non_null(strstr(rb->updates->xml, "xmlns:q=\"urn:q\""));
    caldav_req_body_free(rb);

    rb =
        parse_ok("no-namespace property under a default namespace", "PROPPATCH",
                 "<propertyupdate xmlns=\"DAV:\"><set><prop>"
                 "<bare xmlns=\"\">v</bare></prop></set></propertyupdate>");
    assert_string_equal(rb->updates->ns, "");
    doc = xmlReadMemory(rb->updates->xml, (int) strlen(rb->updates->xml), NULL,
                        NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    root = xmlDocGetRootElement(doc);
    assert_true(root->ns == NULL || root->ns->href[0] == '\0');
    xmlFreeDoc(doc);
    caldav_req_body_free(rb);
}


/* ---- error table -------------------------------------------------------- */

typedef struct {
    const char *name;
    const char *method;
    const char *body;
    size_t      len; /* 0: strlen(body) */
    int         status;
    const char *precond; /* NULL: none expected */
    const char *err;     /* a substring of err.msg */
} err_case_t;

#define BILLION_LAUGHS                                                         \
    "<?xml version=\"1.0\"?>\n"                                                \
    "<!DOCTYPE lolz [\n"                                                       \
    " <!ENTITY lol \"lol\">\n"                                                 \
    " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n" \
    " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"   \
    " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"   \
    " <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"   \
    " <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"   \
    " <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"   \
    " <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"   \
    " <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"   \
    " <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"   \
    "]>\n"                                                                     \
    "<D:propertyupdate xmlns:D=\"DAV:\"><D:set><D:prop><D:displayname>"        \
    "&lol9;</D:displayname></D:prop></D:set></D:propertyupdate>"

#define XXE                                                                    \
    "<?xml version=\"1.0\"?>\n"                                                \
    "<!DOCTYPE foo [ <!ENTITY xxe SYSTEM \"file:///etc/passwd\"> ]>\n"         \
    "<D:propertyupdate xmlns:D=\"DAV:\"><D:set><D:prop><D:displayname>"        \
    "&xxe;</D:displayname></D:prop></D:set></D:propertyupdate>"

#define PARAM_XXE                                                              \
    "<?xml version=\"1.0\"?>\n"                                                \
    "<!DOCTYPE foo [ <!ENTITY % p SYSTEM \"http://127.0.0.1:1/x.dtd\"> %p; "   \
    "]>\n<D:propfind xmlns:D=\"DAV:\"/>"

#define NUL_BODY "<D:propfind " NSD "><D:prop>\0<D:a/></D:prop></D:propfind>"
#define DTD      "DTDs and entities are not accepted"
#define VF       "C:valid-filter"
#define SF       "C:supported-filter"
#define P400     "PROPFIND"
#define R        "REPORT"

static const err_case_t err_cases[] = {
    /* hostile */
    { "billion laughs", "PROPPATCH", BILLION_LAUGHS, 0, 400, NULL, DTD },
    { "XXE file:///etc/passwd", "PROPPATCH", XXE, 0, 400, NULL, DTD },
    { "parameter entity to the network", P400, PARAM_XXE, 0, 400, NULL, DTD },
    { "DOCTYPE without subset", P400,
      "<!DOCTYPE propfind><D:propfind " NSD "/>", 0, 400, NULL, DTD },
    { "DOCTYPE with external DTD", P400,
      "<!DOCTYPE propfind SYSTEM \"file:///etc/passwd\">"
      "<D:propfind " NSD "/>",
      0, 400, NULL, DTD },
    { "entity reference without DTD", "PROPPATCH",
      "<D:propertyupdate " NSD "><D:set><D:prop><D:displayname>&foo;"
      "</D:displayname></D:prop></D:set></D:propertyupdate>",
      0, 400, NULL, "malformed XML (line 1)" },
    { "invalid UTF-8 in text", "PROPPATCH",
      "<D:propertyupdate " NSD "><D:set><D:prop><D:displayname>\xc3\x28"
      "</D:displayname></D:prop></D:set></D:propertyupdate>",
      0, 400, NULL, "malformed XML" },
    { "overlong UTF-8 in text", "PROPPATCH",
      "<D:propertyupdate " NSD "><D:set><D:prop><D:displayname>\xc0\xaf"
      "</D:displayname></D:prop></D:set></D:propertyupdate>",
      0, 400, NULL, "malformed XML" },
    { "UTF-8 surrogate in text", "PROPPATCH",
      "<D:propertyupdate " NSD "><D:set><D:prop><D:displayname>\xed\xa0\x80"
      "</D:displayname></D:prop></D:set></D:propertyupdate>",
      0, 400, NULL, "malformed XML" },
    { "invalid UTF-8 in a name", P400,
      "<D:propfind " NSD "><D:prop><D:a\xff/></D:prop></D:propfind>", 0, 400,
      NULL, "malformed XML" },
    { "NUL byte inside", P400, NUL_BODY, sizeof(NUL_BODY) - 1, 400, NULL,
      "malformed XML" },
    { "control character reference", P400,
      "<D:propfind " NSD "><D:prop>&#1;</D:prop></D:propfind>", 0, 400, NULL,
      "malformed XML" },
    { "truncated", R,
      "<C:calendar-query " NSD " " NSC "><D:prop><D:getetag/></D:prop>"
      "<C:filter><C:comp-filter name=\"VCALENDAR\">",
      0, 400, NULL, "malformed XML (line 1)" },
    { "two roots", P400, "<D:propfind " NSD "/><D:propfind " NSD "/>", 0, 400,
      NULL, "malformed XML" },
    { "undeclared prefix", P400, "<D:propfind><D:prop/></D:propfind>", 0, 400,
      NULL, "malformed XML" },
    { "mismatched tags", P400, "<D:propfind " NSD "></D:prop>", 0, 400, NULL,
      "malformed XML" },
    { "unknown encoding", P400,
      "<?xml version=\"1.0\" encoding=\"x-no-such\"?><D:propfind " NSD "/>", 0,
      400, NULL, "malformed XML" },

    /* not XML, too big, wrong method */
    { "JSON body", P400, "{\"propfind\": true}", 0, 415, NULL, "not XML" },
    { "iCalendar body", R, "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", 0, 415, NULL,
      "not XML" },
    { "GET has no XML body", "GET", "<a/>", 0, 415, NULL, "GET" },
    { "lower-case method", "propfind", "<a/>", 0, 415, NULL, "propfind" },
    { "empty REPORT", R, "", 0, 400, NULL, "needs a request body" },
    { "blank PROPPATCH", "PROPPATCH", "\n\n", 0, 400, NULL,
      "needs a request body" },

    /* roots */
    { "PROPFIND with propertyupdate", P400, "<D:propertyupdate " NSD "/>", 0,
      400, NULL, "unexpected root" },
    { "PROPFIND in a wrong namespace under prefix D", P400,
      "<D:propfind xmlns:D=\"urn:wrong\"><D:prop/></D:propfind>", 0, 400, NULL,
      "unexpected root" },
    { "PROPFIND without namespace", P400, "<propfind><prop/></propfind>", 0,
      400, NULL, "unexpected root" },
    { "MKCOL with mkcalendar body", "MKCOL", "<C:mkcalendar " NSC "/>", 0, 415,
      NULL, "DAV:mkcol" },
    { "MKCALENDAR with mkcol body", "MKCALENDAR", "<D:mkcol " NSD "/>", 0, 400,
      NULL, "unexpected root" },
    { "unknown REPORT", R, "<D:foo-report " NSD "/>", 0, 403,
      "D:supported-report", "foo-report" },
    { "calendar-query in DAV:", R, "<D:calendar-query " NSD "/>", 0, 403,
      "D:supported-report", "calendar-query" },
    { "CS calendarserver-principal-search", R,
      "<CS:calendarserver-principal-search "
      "xmlns:CS=\"http://calendarserver.org/ns/\"/>",
      0, 403, "D:supported-report", NULL },

    /* PROPFIND / PROPPATCH */
    { "prop and propname", P400,
      "<D:propfind " NSD "><D:prop/><D:propname/></D:propfind>", 0, 400, NULL,
      "more than one" },
    { "empty propertyupdate", "PROPPATCH", "<D:propertyupdate " NSD "/>", 0,
      400, NULL, "without set or remove" },
    { "comp without name", "MKCALENDAR",
      "<C:mkcalendar " NSD " " NSC "><D:set><D:prop><C:supported-calendar-"
      "component-set><C:comp/></C:supported-calendar-component-set>"
      "</D:prop></D:set></C:mkcalendar>",
      0, 400, NULL, "comp without a name" },
    { "comp with a bad name", "MKCALENDAR",
      "<C:mkcalendar " NSD " " NSC "><D:set><D:prop><C:supported-calendar-"
      "component-set><C:comp name=\"V EVENT\"/></C:supported-calendar-"
      "component-set></D:prop></D:set></C:mkcalendar>",
      0, 400, NULL, "bad component name" },

    /* calendar-query filters */
    { "calendar-query without filter", R,
      "<C:calendar-query " NSD " " NSC "><D:prop/></C:calendar-query>", 0, 400,
      VF, "without filter" },
    { "two filters", R,
      "<C:calendar-query " NSC "><C:filter>" VCAL(
          "") "</C:filter>"
              "<C:filter>" VCAL("") "</C:filter></C:calendar-query>",
      0, 400, VF, "more than one filter" },
    { "empty filter", R, CQ(""), 0, 400, VF, "without comp-filter" },
    { "two comp-filters at the top", R, CQ(VCAL("") VCAL("")), 0, 400, VF,
      "more than one comp-filter" },
    { "top comp-filter is VEVENT", R, CQ("<C:comp-filter name=\"VEVENT\"/>"), 0,
      400, VF, "VEVENT" },
    { "VEVENT inside VTODO", R,
      CQ(VCAL("<C:comp-filter name=\"VTODO\"><C:comp-filter name=\"VEVENT\"/>"
              "</C:comp-filter>")),
      0, 400, VF, "VEVENT cannot be inside VTODO" },
    { "VCALENDAR nested", R, CQ(VCAL("<C:comp-filter name=\"VCALENDAR\"/>")), 0,
      400, VF, NULL },
    { "VALARM directly in VCALENDAR", R,
      CQ(VCAL("<C:comp-filter name=\"VALARM\"/>")), 0, 400, VF, NULL },
    { "STANDARD outside VTIMEZONE", R,
      CQ(VEV("<C:comp-filter name=\"STANDARD\"/>")), 0, 400, VF, NULL },
    { "comp-filter without name", R, CQ("<C:comp-filter/>"), 0, 400, VF,
      "without a name" },
    { "comp-filter with a bad name", R, CQ("<C:comp-filter name=\"V&lt;\"/>"),
      0, 400, VF, "bad name" },
    { "comp-filter with an empty name", R, CQ("<C:comp-filter name=\"\"/>"), 0,
      400, VF, "bad name" },
    { "unknown element in filter", R,
      "<C:calendar-query " NSC "><C:filter>"
      "<C:and/></C:filter></C:calendar-query>",
      0, 403, SF, "and in filter" },
    { "unknown CalDAV element in comp-filter", R, CQ(VEV("<C:any-of/>")), 0,
      403, SF, "any-of in comp-filter" },
    { "foreign element in prop-filter", R,
      CQ(VEV("<C:prop-filter name=\"SUMMARY\"><X:fuzzy xmlns:X=\"urn:x\"/>"
             "</C:prop-filter>")),
      0, 403, SF, "fuzzy in prop-filter" },
    { "DAV: element in param-filter", R,
      CQ(VEV("<C:prop-filter name=\"ATTENDEE\"><C:param-filter "
             "name=\"CN\"><D:href/></C:param-filter></C:prop-filter>")),
      0, 403, SF, "href in param-filter" },
    { "is-not-defined with time-range", R,
      CQ(VEV("<C:is-not-defined/><C:time-range start=\"20240101T000000Z\"/>")),
      0, 400, VF, "is-not-defined" },
    { "two time-ranges", R,
      CQ(VEV("<C:time-range start=\"20240101T000000Z\"/>"
             "<C:time-range start=\"20240101T000000Z\"/>")),
      0, 400, VF, "two time-range" },
    { "time-range without start and end", R, CQ(VEV("<C:time-range/>")), 0, 400,
      VF, "start or end" },
    { "time-range local time", R,
      CQ(VEV("<C:time-range start=\"20240101T000000\"/>")), 0, 400, VF,
      "start=\"20240101T000000\"" },
    { "time-range ISO 8601 extended", R,
      CQ(VEV("<C:time-range end=\"2024-01-01T00:00:00Z\"/>")), 0, 400, VF,
      "end=" },
    { "time-range Feb 30", R,
      CQ(VEV("<C:time-range start=\"20240230T000000Z\"/>")), 0, 400, VF,
      "not a UTC time" },
    { "time-range end before start", R,
      CQ(VEV("<C:time-range start=\"20240102T000000Z\" "
             "end=\"20240101T000000Z\"/>")),
      0, 400, VF, "ends before it starts" },
    { "time-range empty", R,
      CQ(VEV("<C:time-range start=\"20240101T000000Z\" "
             "end=\"20240101T000000Z\"/>")),
      0, 400, VF, "ends before it starts" },
    { "prop-filter time-range and text-match", R,
      CQ(VEV("<C:prop-filter name=\"DTSTART\"><C:time-range start=\""
             "20240101T000000Z\"/><C:text-match>x</C:text-match>"
             "</C:prop-filter>")),
      0, 400, VF, "mixes" },
    { "prop-filter is-not-defined and param-filter", R,
      CQ(VEV("<C:prop-filter name=\"X\"><C:is-not-defined/><C:param-filter "
             "name=\"Y\"/></C:prop-filter>")),
      0, 400, VF, "mixes" },
    { "CalDAV prop-filter with two text-match", R,
      CQ(VEV("<C:prop-filter name=\"X\"><C:text-match>a</C:text-match>"
             "<C:text-match>b</C:text-match></C:prop-filter>")),
      0, 400, VF, "two text-match" },
    { "prop-filter without name", R,
      CQ(VEV("<C:prop-filter><C:is-not-defined/></C:prop-filter>")), 0, 400, VF,
      "without a name" },
    { "param-filter with is-not-defined and text-match", R,
      CQ(VEV("<C:prop-filter name=\"A\"><C:param-filter name=\"B\">"
             "<C:is-not-defined/><C:text-match>x</C:text-match>"
             "</C:param-filter></C:prop-filter>")),
      0, 400, VF, "is-not-defined" },
    { "param-filter two text-match", R,
      CQ(VEV("<C:prop-filter name=\"A\"><C:param-filter name=\"B\">"
             "<C:text-match>x</C:text-match><C:text-match>y</C:text-match>"
             "</C:param-filter></C:prop-filter>")),
      0, 400, VF, "two text-match" },
    { "unknown collation", R,
      CQ(VEV("<C:prop-filter name=\"SUMMARY\"><C:text-match "
             "collation=\"i;klingon\">x</C:text-match></C:prop-filter>")),
      0, 403, "C:supported-collation", "i;klingon" },
    { "bad negate-condition", R,
      CQ(VEV("<C:prop-filter name=\"SUMMARY\"><C:text-match "
             "negate-condition=\"maybe\">x</C:text-match></C:prop-filter>")),
      0, 400, VF, "negate-condition" },
    { "bad match-type", R,
      CQ(VEV("<C:prop-filter name=\"SUMMARY\"><C:text-match "
             "match-type=\"regex\">x</C:text-match></C:prop-filter>")),
      0, 400, VF, "match-type" },

    /* calendar-data */
    { "expand without end", R,
      "<C:calendar-multiget " NSD " " NSC "><D:prop><C:calendar-data>"
      "<C:expand start=\"20240101T000000Z\"/></C:calendar-data></D:prop>"
      "<D:href>/a</D:href></C:calendar-multiget>",
      0, 400, NULL, "start and end" },
    { "expand with limit-recurrence-set", R,
      "<C:calendar-multiget " NSD " " NSC "><D:prop><C:calendar-data>"
      "<C:expand start=\"20240101T000000Z\" end=\"20240102T000000Z\"/>"
      "<C:limit-recurrence-set start=\"20240101T000000Z\" "
      "end=\"20240102T000000Z\"/></C:calendar-data></D:prop>"
      "<D:href>/a</D:href></C:calendar-multiget>",
      0, 400, NULL, "exclude each other" },
    { "two expand", R,
      "<C:calendar-multiget " NSD " " NSC "><D:prop><C:calendar-data>"
      "<C:expand start=\"20240101T000000Z\" end=\"20240102T000000Z\"/>"
      "<C:expand start=\"20240101T000000Z\" end=\"20240102T000000Z\"/>"
      "</C:calendar-data></D:prop><D:href>/a</D:href>"
      "</C:calendar-multiget>",
      0, 400, NULL, "twice" },
    { "calendar-data as JSON", R,
      "<C:calendar-multiget " NSD " " NSC "><D:prop><C:calendar-data "
      "content-type=\"application/calendar+json\"/></D:prop>"
      "<D:href>/a</D:href></C:calendar-multiget>",
      0, 403, "C:supported-calendar-data", NULL },
    { "address-data vCard 2.1", R,
      "<CR:addressbook-multiget " NSD " " NSCR "><D:prop><CR:address-data "
      "version=\"2.1\"/></D:prop><D:href>/a</D:href>"
      "</CR:addressbook-multiget>",
      0, 403, "CR:supported-address-data", NULL },

    /* multiget */
    { "multiget without href", R,
      "<C:calendar-multiget " NSD " " NSC "><D:prop/></C:calendar-multiget>", 0,
      400, NULL, "without href" },
    { "multiget with empty href", R,
      "<C:calendar-multiget " NSD " " NSC "><D:href> </D:href>"
      "</C:calendar-multiget>",
      0, 400, NULL, "empty href" },

    /* free-busy */
    { "free-busy without time-range", R, "<C:free-busy-query " NSC "/>", 0, 400,
      NULL, "without time-range" },
    { "free-busy bad time", R,
      "<C:free-busy-query " NSC "><C:time-range start=\"yesterday\"/>"
      "</C:free-busy-query>",
      0, 400, NULL, "not a UTC time" },
    { "free-busy two time-ranges", R,
      "<C:free-busy-query " NSC "><C:time-range start=\"20240101T000000Z\"/>"
      "<C:time-range start=\"20240101T000000Z\"/></C:free-busy-query>",
      0, 400, NULL, "more than one" },

    /* CardDAV */
    { "addressbook-query without filter", R, AQ(""), 0, 400, "CR:valid-filter",
      "without filter" },
    { "CardDAV filter test=some", R, AQ("<CR:filter test=\"some\"/>"), 0, 400,
      "CR:valid-filter", "anyof or allof" },
    { "CardDAV prop-filter test=none", R,
      AQ("<CR:filter><CR:prop-filter name=\"FN\" test=\"none\"/>"
         "</CR:filter>"),
      0, 400, "CR:valid-filter", "anyof or allof" },
    { "CardDAV unknown collation", R,
      AQ("<CR:filter><CR:prop-filter name=\"FN\"><CR:text-match "
         "collation=\"i;basic\">x</CR:text-match></CR:prop-filter>"
         "</CR:filter>"),
      0, 403, "CR:supported-collation", "i;basic" },
    { "CardDAV time-range is unsupported", R,
      AQ("<CR:filter><CR:prop-filter name=\"BDAY\"><C:time-range " NSC
         " start=\"20240101T000000Z\"/></CR:prop-filter></CR:filter>"),
      0, 403, "CR:supported-filter", "time-range" },
    { "CalDAV text-match inside CardDAV filter", R,
      AQ("<CR:filter><CR:prop-filter name=\"FN\"><C:text-match " NSC
         ">x</C:text-match></CR:prop-filter></CR:filter>"),
      0, 403, "CR:supported-filter", "text-match" },
    { "CardDAV filter with a CalDAV comp-filter", R,
      AQ("<CR:filter><C:comp-filter " NSC " name=\"VCARD\"/></CR:filter>"), 0,
      403, "CR:supported-filter", "comp-filter" },
    { "CardDAV bad match-type", R,
      AQ("<CR:filter><CR:prop-filter name=\"FN\"><CR:text-match "
         "match-type=\"like\">x</CR:text-match></CR:prop-filter>"
         "</CR:filter>"),
      0, 400, "CR:valid-filter", "match-type" },
    { "CardDAV is-not-defined and text-match", R,
      AQ("<CR:filter><CR:prop-filter name=\"FN\"><CR:is-not-defined/>"
         "<CR:text-match>x</CR:text-match></CR:prop-filter></CR:filter>"),
      0, 400, "CR:valid-filter", "mixes" },
    { "CardDAV nresults zero", R,
      AQ("<CR:filter/><CR:limit><CR:nresults>0</CR:nresults></CR:limit>"), 0,
      400, NULL, "nresults" },
    { "CardDAV nresults garbage", R,
      AQ("<CR:filter/><CR:limit><CR:nresults>10x</CR:nresults></CR:limit>"), 0,
      400, NULL, "nresults" },
    { "CardDAV nresults too big", R,
      AQ("<CR:filter/><CR:limit><CR:nresults>99999999999999999999999"
         "</CR:nresults></CR:limit>"),
      0, 400, NULL, "nresults" },
    { "CardDAV limit without nresults", R, AQ("<CR:filter/><CR:limit/>"), 0,
      400, NULL, "without nresults" },
    { "CardDAV limit with DAV:nresults", R,
      AQ("<CR:filter/><CR:limit><D:nresults>5</D:nresults></CR:limit>"), 0, 400,
      NULL, "without nresults" },

    /* sync-collection */
    { "sync without sync-level", R,
      "<D:sync-collection " NSD "><D:sync-token/><D:prop/>"
      "</D:sync-collection>",
      0, 400, NULL, "without sync-level" },
    { "sync-level 2", R,
      "<D:sync-collection " NSD "><D:sync-token/><D:sync-level>2"
      "</D:sync-level><D:prop/></D:sync-collection>",
      0, 400, NULL, "1 or infinite" },
    { "sync without sync-token", R,
      "<D:sync-collection " NSD "><D:sync-level>1</D:sync-level><D:prop/>"
      "</D:sync-collection>",
      0, 400, NULL, "without sync-token" },
    { "sync with two tokens", R,
      "<D:sync-collection " NSD "><D:sync-token/><D:sync-token/>"
      "<D:sync-level>1</D:sync-level></D:sync-collection>",
      0, 400, NULL, "twice" },
    { "sync limit nresults -1", R,
      "<D:sync-collection " NSD "><D:sync-token/><D:sync-level>1"
      "</D:sync-level><D:limit><D:nresults>-1</D:nresults></D:limit>"
      "</D:sync-collection>",
      0, 400, NULL, "nresults" },

    /* principals */
    { "principal-property-search without match", R,
      "<D:principal-property-search " NSD "><D:property-search><D:prop>"
      "<D:displayname/></D:prop></D:property-search>"
      "</D:principal-property-search>",
      0, 400, NULL, "prop and match" },
    { "principal-property-search bad test", R,
      "<D:principal-property-search " NSD " test=\"xor\"/>", 0, 400, NULL,
      "anyof or allof" },
    { "principal-match with neither", R,
      "<D:principal-match " NSD "><D:prop/></D:principal-match>", 0, 400, NULL,
      "self or principal-property" },
    { "principal-match with both", R,
      "<D:principal-match " NSD "><D:self/><D:principal-property><D:owner/>"
      "</D:principal-property></D:principal-match>",
      0, 400, NULL, "self or principal-property" },
    { "principal-match empty principal-property", R,
      "<D:principal-match " NSD "><D:principal-property/>"
      "</D:principal-match>",
      0, 400, NULL, "empty" },
    { "expand-property without name", R,
      "<D:expand-property " NSD "><D:property namespace=\"DAV:\"/>"
      "</D:expand-property>",
      0, 400, NULL, "without a name" },

    /* share-resource (POST) */
    { "POST with another root", "POST", "<D:propfind " NSD "/>", 0, 400, NULL,
      "unexpected root" },
    { "POST share-resource in another namespace", "POST",
      "<C:share-resource " NSC "/>", 0, 400, NULL, "unexpected root" },
    { "POST empty body", "POST", "", 0, 400, NULL, "needs a request body" },
    { "POST not XML", "POST", "href=mailto:bob", 0, 415, NULL, "not XML" },
    { "share-resource without sharee", "POST",
      "<D:share-resource " NSD "><D:comment>hi</D:comment>"
      "</D:share-resource>",
      0, 400, NULL, "without sharee" },
    { "sharee without href", "POST",
      "<D:share-resource " NSD "><D:sharee><D:share-access><D:read/>"
      "</D:share-access></D:sharee></D:share-resource>",
      0, 400, NULL, "without href" },
    { "sharee with empty href", "POST",
      "<D:share-resource " NSD "><D:sharee><D:href> </D:href>"
      "<D:share-access><D:read/></D:share-access></D:sharee>"
      "</D:share-resource>",
      0, 400, NULL, "empty sharee href" },
    { "sharee with two hrefs", "POST",
      "<D:share-resource " NSD "><D:sharee><D:href>mailto:a@x</D:href>"
      "<D:href>mailto:b@x</D:href><D:share-access><D:read/>"
      "</D:share-access></D:sharee></D:share-resource>",
      0, 400, NULL, "two hrefs" },
    { "sharee without share-access", "POST",
      "<D:share-resource " NSD "><D:sharee><D:href>mailto:a@x</D:href>"
      "</D:sharee></D:share-resource>",
      0, 400, NULL, "without share-access" },
    { "empty share-access", "POST",
      "<D:share-resource " NSD "><D:sharee><D:href>mailto:a@x</D:href>"
      "<D:share-access/></D:sharee></D:share-resource>",
      0, 400, NULL, "exactly one value" },
    { "two share-access values", "POST",
      "<D:share-resource " NSD "><D:sharee><D:href>mailto:a@x</D:href>"
      "<D:share-access><D:read/><D:read-write/></D:share-access>"
      "</D:sharee></D:share-resource>",
      0, 400, NULL, "exactly one value" },
    { "two share-access elements", "POST",
      "<D:share-resource " NSD "><D:sharee><D:href>mailto:a@x</D:href>"
      "<D:share-access><D:read/></D:share-access><D:share-access>"
      "<D:read-write/></D:share-access></D:sharee></D:share-resource>",
      0, 400, NULL, "exactly one value" },
    { "unknown share-access", "POST",
      "<D:share-resource " NSD "><D:sharee><D:href>mailto:a@x</D:href>"
      "<D:share-access><D:admin/></D:share-access></D:sharee>"
      "</D:share-resource>",
      0, 400, NULL, "read, read-write or no-access" },
    { "share-access value in another namespace", "POST",
      "<D:share-resource " NSD "><D:sharee><D:href>mailto:a@x</D:href>"
      "<D:share-access><C:read " NSC "/></D:share-access></D:sharee>"
      "</D:share-resource>",
      0, 400, NULL, "read, read-write or no-access" },
    { "XXE in a sharee href", "POST",
      "<?xml version=\"1.0\"?>\n<!DOCTYPE foo [ <!ENTITY xxe SYSTEM "
      "\"file:///etc/passwd\"> ]>\n<D:share-resource " NSD "><D:sharee>"
      "<D:href>&xxe;</D:href><D:share-access><D:read/></D:share-access>"
      "</D:sharee></D:share-resource>",
      0, 400, NULL, DTD },
};

static void
test_error_table(void **state)
{
    caldav_req_body_t *rb;
    const char        *precond;
    mtr_err_t          err;
    size_t             i, len;
    int                status, rc;

    (void) state;
    for (i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
        const err_case_t *c = &err_cases[i];

        print_message("case: %s\n", c->name);
        len = c->len ? c->len : strlen(c->body);
        rb = (caldav_req_body_t *) 1;
        precond = "unset";
        status = 0;
        rc = caldav_xml_parse(c->method, c->body, len, &rb, &status, &precond,
                              &err);
        print_message("  -> %d %s: %s\n", status, precond ? precond : "-",
                      err.msg);
        assert_int_equal(rc, MTR_ERROR);
        assert_null(rb);
        assert_int_equal(status, c->status);
        if (c->precond == NULL) {
            assert_null(precond);
        } else {
            assert_non_null(precond);
            assert_string_equal(precond, c->precond);
        }
        if (c->err != NULL) {
            assert_non_null(strstr(err.msg, c->err));
        }
        /* Nothing of /etc/passwd, nothing of an expansion. */
        assert_null(strstr(err.msg, "root:"));
        assert_null(strstr(err.msg, "lollol"));
    }
}


/* ---- limits ---------------------------------------------------------------
 */

static int
parse_status(const char *method, const char *body, size_t len,
             const char **precond_r, mtr_err_t *err, caldav_req_body_t **rb_r)
{
    caldav_req_body_t *rb = NULL;
    int                status = 0;

    caldav_xml_parse(method, body, len, &rb, &status, precond_r, err);
    if (rb_r != NULL) {
        *rb_r = rb;
    } else {
        caldav_req_body_free(rb);
    }
    return status;
}

static char *
nested(int depth)
{
    caldav_buf_t b;
    int          i;

    caldav_buf_init(&b);
    caldav_buf_adds(&b, "<D:propertyupdate " NSD "><D:set><D:prop>");
    for (i = 0; i < depth - 3; i++) {
        caldav_buf_adds(&b, "<x>");
    }
    for (i = 0; i < depth - 3; i++) {
        caldav_buf_adds(&b, "</x>");
    }
    caldav_buf_adds(&b, "</D:prop></D:set></D:propertyupdate>");
    return caldav_buf_steal(&b, NULL);
}

static char *
multiget(int hrefs)
{
    caldav_buf_t b;
    int          i;

    caldav_buf_init(&b);
    caldav_buf_adds(&b, "<C:calendar-multiget " NSD " " NSC ">"
                        "<D:prop><D:getetag/></D:prop>");
    for (i = 0; i < hrefs; i++) {
        caldav_buf_printf(&b, "<D:href>/c/%d.ics</D:href>", i);
    }
    caldav_buf_adds(&b, "</C:calendar-multiget>");
    return caldav_buf_steal(&b, NULL);
}

static char *
many_props(int n)
{
    caldav_buf_t b;
    int          i;

    caldav_buf_init(&b);
    caldav_buf_adds(&b, "<D:propfind " NSD "><D:prop>");
    for (i = 0; i < n; i++) {
        caldav_buf_printf(&b, "<D:p%d/>", i);
    }
    caldav_buf_adds(&b, "</D:prop></D:propfind>");
    return caldav_buf_steal(&b, NULL);
}

static void
test_limits(void **state)
{
    caldav_req_body_t *rb;
    const char        *precond;
    mtr_err_t          err;
    caldav_buf_t       b;
    char              *s;
    size_t             n;
    caldav_href_t     *h;
    int                i;

    (void) state;
    print_message("case: nesting of exactly CALDAV_XML_MAX_DEPTH is fine\n");
    s = nested(CALDAV_XML_MAX_DEPTH);
    assert_int_equal(
        parse_status("PROPPATCH", s, strlen(s), &precond, &err, NULL), 200);
    free(s);

    print_message("case: one more level is refused\n");
    s = nested(CALDAV_XML_MAX_DEPTH + 1);
    assert_int_equal(
        parse_status("PROPPATCH", s, strlen(s), &precond, &err, NULL), 400);
    assert_non_null(strstr(err.msg, "deeper than 64"));
    free(s);

    print_message("case: 100-deep nesting is refused\n");
    s = nested(100);
    assert_int_equal(
        parse_status("PROPPATCH", s, strlen(s), &precond, &err, NULL), 400);
    assert_non_null(strstr(err.msg, "deeper"));
    free(s);

    print_message("case: 10000 hrefs are accepted, in order\n");
    s = multiget(CALDAV_XML_MAX_HREFS);
    assert_int_equal(parse_status("REPORT", s, strlen(s), &precond, &err, &rb),
                     200);
    for (n = 0, h = rb->hrefs; h != NULL; h = h->next, n++) {
        if (n == 9999) {
            assert_string_equal(h->href, "/c/9999.ics");
        }
    }
    assert_int_equal(n, CALDAV_XML_MAX_HREFS);
    caldav_req_body_free(rb);
    free(s);

    print_message("case: 20000 hrefs are refused\n");
    s = multiget(20000);
    assert_int_equal(parse_status("REPORT", s, strlen(s), &precond, &err, NULL),
                     400);
    assert_non_null(strstr(err.msg, "more than 10000 hrefs"));
    free(s);

    print_message("case: 256 props are accepted\n");
    s = many_props(CALDAV_XML_MAX_PROPS);
    assert_int_equal(
        parse_status("PROPFIND", s, strlen(s), &precond, &err, NULL), 200);
    free(s);

    print_message("case: 257 props are refused\n");
    s = many_props(CALDAV_XML_MAX_PROPS + 1);
    assert_int_equal(
        parse_status("PROPFIND", s, strlen(s), &precond, &err, NULL), 400);
    assert_non_null(strstr(err.msg, "more than 256 properties"));
    free(s);

    print_message("case: 100001 empty elements are refused\n");
    caldav_buf_init(&b);
    caldav_buf_adds(&b, "<D:propertyupdate " NSD "><D:set><D:prop><x>");
    for (i = 0; i < 100001; i++) {
        caldav_buf_adds(&b, "<a/>");
    }
    caldav_buf_adds(&b, "</x></D:prop></D:set></D:propertyupdate>");
    assert_int_equal(
        parse_status("PROPPATCH", b.data, b.len, &precond, &err, NULL), 400);
    assert_non_null(strstr(err.msg, "nodes"));
    caldav_buf_free(&b);

    print_message("case: a body past CALDAV_XML_MAX_BODY is 413, unread\n");
    assert_int_equal(parse_status("PROPFIND", "<", CALDAV_XML_MAX_BODY + 1,
                                  &precond, &err, NULL),
                     413);

    print_message("case: a body of exactly CALDAV_XML_MAX_BODY is parsed\n");
    s = malloc(CALDAV_XML_MAX_BODY);
    assert_non_null(s);
    n = (size_t) sprintf(s, "<D:propfind " NSD "><D:propname/>");
    memset(s + n, ' ', CALDAV_XML_MAX_BODY - n);
    memcpy(s + CALDAV_XML_MAX_BODY - 13, "</D:propfind>", 13);
    assert_int_equal(
        parse_status("PROPFIND", s, CALDAV_XML_MAX_BODY, &precond, &err, &rb),
        200);
    assert_int_equal(rb->propfind, CALDAV_PROPFIND_PROPNAME);
    caldav_req_body_free(rb);
    free(s);
}

/* ---- share-resource (POST) -----------------------------------------------
 */

/* The body draft-pot-webdav-resource-sharing-04 shows, plus variants. */
static const char share_body[] = XML_DECL
    "<D:share-resource xmlns:D=\"DAV:\">\n"
    "  <D:sharee>\n"
    "    <D:href>mailto:bob@example.test</D:href>\n"
    "    <D:prop><D:displayname>Bob</D:displayname></D:prop>\n"
    "    <D:comment>Hey, check this out!</D:comment>\n"
    "    <D:share-access><D:read-write/></D:share-access>\n"
    "  </D:sharee>\n"
    "  <D:sharee>\n"
    "    <D:share-access>\n      <D:read/>\n    </D:share-access>\n"
    "    <D:href>\n  /dav/principals/carol@example.test/  \n</D:href>\n"
    "  </D:sharee>\n"
    "  <x:sharee xmlns:x=\"urn:other\"><x:href>mailto:ignored@x</x:href>"
    "</x:sharee>\n"
    "  <D:sharee><D:href>mailto:dave@example.test</D:href>"
    "<D:share-access><D:no-access/></D:share-access></D:sharee>\n"
    "</D:share-resource>\n";

static void
test_share_resource(void **state)
{
    caldav_req_body_t     *rb;
    const caldav_sharee_t *sh;
    caldav_buf_t           b;
    const char            *precond;
    mtr_err_t              err;
    char                  *s;
    int                    i;

    (void) state;
    rb = parse_ok("share-resource with three sharees", "POST", share_body);
    assert_int_equal(rb->kind, CALDAV_BODY_SHARE_RESOURCE);
    sh = rb->sharees;
    assert_non_null(sh);
    assert_string_equal(sh->href, "mailto:bob@example.test");
    assert_int_equal(sh->access, CALDAV_SHARE_READ_WRITE);
    sh = sh->next;
    assert_non_null(sh);
    assert_string_equal(sh->href, "/dav/principals/carol@example.test/");
    assert_int_equal(sh->access, CALDAV_SHARE_READ);
    sh = sh->next;
    assert_non_null(sh);
    assert_string_equal(sh->href, "mailto:dave@example.test");
    assert_int_equal(sh->access, CALDAV_SHARE_NO_ACCESS);
    assert_null(sh->next);
    assert_null(rb->props);
    assert_null(rb->hrefs);
    caldav_req_body_free(rb);

    rb = parse_ok("share-resource with other prefixes", "POST",
                  "<s:share-resource xmlns:s=\"DAV:\"><s:sharee><s:href>"
                  "mailto:a@x</s:href><s:share-access><s:read/>"
                  "</s:share-access></s:sharee></s:share-resource>");
    assert_int_equal(rb->sharees->access, CALDAV_SHARE_READ);
    caldav_req_body_free(rb);

    print_message("case: CALDAV_XML_MAX_SHAREES sharees are fine, one more "
                  "is not\n");
    for (i = 0; i < 2; i++) {
        int n = CALDAV_XML_MAX_SHAREES + i, k;

        caldav_buf_init(&b);
        caldav_buf_adds(&b, "<D:share-resource " NSD ">");
        for (k = 0; k < n; k++) {
            caldav_buf_printf(&b,
                              "<D:sharee><D:href>mailto:u%d@x</D:href>"
                              "<D:share-access><D:read/></D:share-access>"
                              "</D:sharee>",
                              k);
        }
        caldav_buf_adds(&b, "</D:share-resource>");
        s = caldav_buf_steal(&b, NULL);
        rb = NULL;
        assert_int_equal(
            parse_status("POST", s, strlen(s), &precond, &err, &rb),
            i == 0 ? 200 : 400);
        if (i == 0) {
            size_t cnt = 0;

            for (sh = rb->sharees; sh != NULL; sh = sh->next) {
                cnt++;
            }
            assert_int_equal(cnt, CALDAV_XML_MAX_SHAREES);
        } else {
            assert_null(rb);
            assert_non_null(strstr(err.msg, "sharees"));
        }
        caldav_req_body_free(rb);
        free(s);
    }
}

static void
test_bad_arguments(void **state)
{
    caldav_req_body_t *rb;
    const char        *precond;
    mtr_err_t          err;
    int                status;

    (void) state;
    print_message("case: NULL method\n");
    assert_int_equal(
        caldav_xml_parse(NULL, "<a/>", 4, &rb, &status, &precond, &err),
        MTR_ERROR);
    assert_int_equal(status, 500);
    assert_null(rb);

    print_message("case: NULL body with a length\n");
    assert_int_equal(
        caldav_xml_parse("PROPFIND", NULL, 4, &rb, &status, &precond, &err),
        MTR_ERROR);
    assert_int_equal(status, 500);

    print_message("case: NULL out-parameters\n");
    assert_int_equal(
        caldav_xml_parse("PROPFIND", "", 0, NULL, &status, &precond, &err),
        MTR_ERROR);
    assert_int_equal(
        caldav_xml_parse("PROPFIND", "", 0, &rb, NULL, &precond, NULL),
        MTR_ERROR);

    print_message("case: NULL err is allowed\n");
    assert_int_equal(
        caldav_xml_parse("REPORT", "<x", 2, &rb, &status, &precond, NULL),
        MTR_ERROR);
    assert_int_equal(status, 400);

    print_message("case: free of NULL\n");
    caldav_req_body_free(NULL);
}


/* ---- times ----------------------------------------------------------------
 */

typedef struct {
    const char *in;
    int         ok;
    int64_t     t;
} utc_case_t;

static const utc_case_t utc_cases[] = {
    { "19700101T000000Z", 1, 0 },
    { "20060104T000000Z", 1, 1136332800 },
    { "20240229T120000Z", 1, 1709208000 },
    { "20000229T000000Z", 1, 951782400 },
    { "19691231T235959Z", 1, -1 },
    { "99991231T235959Z", 1, 253402300799 },
    { "00000101T000000Z", 1, -62167219200 },
    { "20230229T000000Z", 0, 0 },
    { "19000229T000000Z", 0, 0 },
    { "20241301T000000Z", 0, 0 },
    { "20240001T000000Z", 0, 0 },
    { "20240100T000000Z", 0, 0 },
    { "20240431T000000Z", 0, 0 },
    { "20240101T240000Z", 0, 0 },
    { "20240101T006000Z", 0, 0 },
    { "20240101T000060Z", 0, 0 },
    { "20240101t000000Z", 0, 0 },
    { "20240101T000000z", 0, 0 },
    { "20240101T000000", 0, 0 },
    { "20240101T000000ZZ", 0, 0 },
    { "2024010T1000000Z", 0, 0 },
    { "+0240101T000000Z", 0, 0 },
    { " 0240101T000000Z", 0, 0 },
    { "2024-01-01T00:00", 0, 0 },
    { "20240101", 0, 0 },
    { "", 0, 0 },
};

static void
test_parse_utc(void **state)
{
    int64_t t;
    size_t  i;

    (void) state;
    for (i = 0; i < sizeof(utc_cases) / sizeof(utc_cases[0]); i++) {
        print_message("case: utc \"%s\"\n", utc_cases[i].in);
        t = 12345;
        if (utc_cases[i].ok) {
            assert_int_equal(caldav_xml_parse_utc(utc_cases[i].in, &t), MTR_OK);
            assert_int_equal(t, utc_cases[i].t);
        } else {
            assert_int_equal(caldav_xml_parse_utc(utc_cases[i].in, &t),
                             MTR_ERROR);
        }
    }
    print_message("case: utc NULL\n");
    assert_int_equal(caldav_xml_parse_utc(NULL, &t), MTR_ERROR);
    assert_int_equal(caldav_xml_parse_utc("19700101T000000Z", NULL), MTR_ERROR);
}


/* ---- libxml2 side effects and threads ------------------------------------ */

static int custom_handler_calls;

static void
custom_handler(void *ctx, const char *msg, ...)
{
    (void) ctx;
    (void) msg;
    custom_handler_calls++;
}

static void
test_nothing_on_stderr(void **state)
{
    static const char *const bad[] = {
        "<D:propfind " NSD "><D:prop></D:propfind>",
        "<?xml version=\"1.0\" encoding=\"x-no-such\"?><a/>",
        "<a>\xff\xfe</a>",
        "<D:propfind><x:y/></D:propfind>",
        BILLION_LAUGHS,
        XXE,
        "<a xmlns:p=\"not a uri\"><p:b/></a>",
    };
    char        path[] = "/tmp/test_caldav_xml.XXXXXX";
    int         fd, saved;
    off_t       size;
    size_t      i;
    mtr_err_t   err;
    const char *precond;

    (void) state;
    print_message("case: libxml2 prints nothing on stderr\n");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    saved = dup(2);
    assert_true(saved >= 0);
    assert_true(dup2(fd, 2) == 2);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        parse_status("PROPFIND", bad[i], strlen(bad[i]), &precond, &err, NULL);
    }
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    size = lseek(fd, 0, SEEK_END);
    close(fd);
    unlink(path);
    assert_int_equal(size, 0);

    print_message("case: the thread's generic error handler is restored\n");
    xmlSetGenericErrorFunc(NULL, custom_handler);
    parse_status("PROPFIND", bad[1], strlen(bad[1]), &precond, &err, NULL);
    assert_true(xmlGenericError == custom_handler);
    assert_int_equal(custom_handler_calls, 0);
    xmlSetGenericErrorFunc(NULL, NULL);
}

static void *
thread_main(void *arg)
{
    static const char *const bodies[] = { ios_propfind,   tb_multiget,
                                          pycaldav_todos, card_query,
                                          ios_proppatch,  XXE };
    static const char *const methods[] = {
        "PROPFIND", "REPORT", "REPORT", "REPORT", "PROPPATCH", "PROPPATCH"
    };
    static const int   want[] = { 200, 200, 200, 200, 200, 400 };
    caldav_req_body_t *rb;
    const char        *precond;
    mtr_err_t          err;
    int                i, k, status;
    long               bad = 0;

    (void) arg;
    for (i = 0; i < 200; i++) {
        k = i % 6;
        rb = NULL;
        caldav_xml_parse(methods[k], bodies[k], strlen(bodies[k]), &rb, &status,
                         &precond, &err);
        bad += status != want[k];
        caldav_req_body_free(rb);
    }
    return (void *) bad;
}

static void
test_threads(void **state)
{
    pthread_t t[8];
    void     *r;
    int       i;

    (void) state;
    print_message("case: 8 threads x 200 parses\n");
    for (i = 0; i < 8; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, thread_main, NULL), 0);
    }
    for (i = 0; i < 8; i++) {
        assert_int_equal(pthread_join(t[i], &r), 0);
        assert_null(r);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads), /* first: lazy libxml2 init */
        cmocka_unit_test(test_client_propfind),
        cmocka_unit_test(test_client_reports),
        cmocka_unit_test(test_client_updates),
        cmocka_unit_test(test_propfind_shapes),
        cmocka_unit_test(test_report_shapes),
        cmocka_unit_test(test_dead_property_xml),
        cmocka_unit_test(test_error_table),
        cmocka_unit_test(test_share_resource),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_parse_utc),
        cmocka_unit_test(test_nothing_on_stderr),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
