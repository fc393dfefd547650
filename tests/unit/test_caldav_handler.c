/*
 * test_caldav_handler.c -- the CalDAV/CardDAV request core end to end:
 * real XML parser, iCalendar and vCard code and SQLite stores in a
 * temporary directory; the directory (LDAP) is two small fakes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "caldav.h"

static char          tmpdir[256];
static char          store_pattern[300];
static caldav_conf_t conf;

static const char *const gal_cards[][2] = {
    { "alice@example.test",
      "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:alice@example.test\r\nFN:Alice "
      "Liddell\r\nEMAIL;TYPE=work:alice@example.test\r\nEND:VCARD\r\n" },
    { "bob@example.test",
      "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:bob@example.test\r\nFN:Bob "
      "Builder\r\nEMAIL;TYPE=work:bob@example.test\r\nEND:VCARD\r\n" },
};

static int
fake_gal(void *ctx, const char *domain,
         void (*each)(const char *, const char *, size_t, const char *, void *),
         void *arg, mtr_err_t *err)
{
    (void) ctx;
    (void) err;
    if (strcmp(domain, "example.test") != 0) {
        return MTR_OK;
    }
    for (size_t i = 0; i < 2; i++) {
        each(gal_cards[i][0], gal_cards[i][1], strlen(gal_cards[i][1]),
             i ? "\"b\"" : "\"a\"", arg);
    }
    return MTR_OK;
}

static int
fake_exists(void *ctx, const char *user, char *dn, size_t size)
{
    (void) ctx;
    if (dn != NULL && size > 0) {
        snprintf(dn, size, "%s", user);
    }
    /* u0..u99@example.test: the test of many stores at once */
    {
        unsigned n;
        int      end = 0;

        if (sscanf(user, "u%2u@example.test%n", &n, &end) == 1 && end > 0
            && user[end] == '\0')
        {
            return 1;
        }
    }
    return strcmp(user, "alice@example.test") == 0
           || strcmp(user, "bob@example.test") == 0;
}

static int
setup(void **state)
{
    (void) state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-caldav-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    snprintf(store_pattern, sizeof(store_pattern), "%s/%%d/%%n", tmpdir);
    memset(&conf, 0, sizeof(conf));
    conf.prefix = "/dav";
    conf.store_path = store_pattern;
    conf.max_resource_size = 100000;
    conf.gal_search = fake_gal;
    conf.user_exists = fake_exists;
    caldav_global_init();
    return 0;
}

static int
teardown(void **state)
{
    char cmd[400];

    (void) state;
    caldav_thread_cleanup();
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

typedef struct {
    const char *user;
    const char *depth;
    const char *if_match;
    const char *if_none_match;
    const char *content_type;
    const char *prefer;
} opts_t;

static caldav_response_t resp;

/* Run one request as alice (or o->user); the result stays in resp. */
static int
run(const char *method, const char *path, const char *body, const opts_t *o)
{
    caldav_request_t req;
    opts_t           none = { 0 };

    if (o == NULL) {
        o = &none;
    }
    caldav_response_free(&resp);
    caldav_response_init(&resp);
    memset(&req, 0, sizeof(req));
    req.method = method;
    req.path = path;
    req.path_len = strlen(path);
    req.user = o->user ? o->user : "alice@example.test";
    req.depth = o->depth;
    req.if_match = o->if_match;
    req.if_none_match = o->if_none_match;
    req.content_type = o->content_type;
    req.prefer = o->prefer;
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    caldav_handle(&conf, &req, &resp);
    return resp.status;
}

static int
body_has(const char *s)
{
    return resp.body.data != NULL && strstr(resp.body.data, s) != NULL;
}

#define CAL "/dav/calendars/alice@example.test/default/"

static const char event_weekly[] =
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
    "BEGIN:VEVENT\r\nUID:weekly-1\r\nDTSTAMP:20260101T000000Z\r\n"
    "DTSTART:20260105T090000Z\r\nDTEND:20260105T100000Z\r\n"
    "RRULE:FREQ=WEEKLY\r\nSUMMARY:Standup\r\nEND:VEVENT\r\n"
    "END:VCALENDAR\r\n";

static const char event_once[] =
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
    "BEGIN:VEVENT\r\nUID:once-1\r\nDTSTAMP:20260101T000000Z\r\n"
    "DTSTART:20260110T090000Z\r\nDTEND:20260110T100000Z\r\n"
    "SUMMARY:Dentist\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

static const char propfind_principal[] =
    "<?xml version=\"1.0\"?><d:propfind xmlns:d=\"DAV:\" "
    "xmlns:c=\"urn:ietf:params:xml:ns:caldav\"><d:prop>"
    "<d:current-user-principal/><c:calendar-home-set/>"
    "<d:resourcetype/></d:prop></d:propfind>";

static void
test_discovery(void **state)
{
    (void) state;
    assert_int_equal(run("PROPFIND", "/.well-known/caldav", NULL, NULL), 301);
    assert_string_equal(resp.location, "/dav/");

    assert_int_equal(
        run("PROPFIND", "/dav/", propfind_principal, &(opts_t){ .depth = "0" }),
        207);
    assert_true(body_has("<D:current-user-principal><D:href>/dav/principals/"
                         "alice@example.test/</D:href>"));

    assert_int_equal(run("PROPFIND", "/dav/principals/alice@example.test/",
                         propfind_principal, &(opts_t){ .depth = "0" }),
                     207);
    assert_true(body_has("<C:calendar-home-set><D:href>/dav/calendars/"
                         "alice@example.test/</D:href>"));

    /* the home lists the default calendar, made on first use */
    assert_int_equal(run("PROPFIND", "/dav/calendars/alice@example.test/",
                         propfind_principal, &(opts_t){ .depth = "1" }),
                     207);
    assert_true(body_has("<D:href>" CAL "</D:href>"));
    assert_true(body_has("<C:calendar/>"));

    /* Apple's clients walk / and /principals/ too */
    assert_int_equal(
        run("PROPFIND", "/", propfind_principal, &(opts_t){ .depth = "0" }),
        207);
    assert_true(body_has("<D:href>/</D:href>"));
    assert_true(body_has("<D:current-user-principal><D:href>/dav/principals/"
                         "alice@example.test/</D:href>"));
    assert_int_equal(run("PROPFIND", "/principals/", propfind_principal,
                         &(opts_t){ .depth = "0" }),
                     207);
    assert_true(body_has("<D:href>/principals/</D:href>"));
    assert_true(body_has("<D:current-user-principal><D:href>/dav/principals/"
                         "alice@example.test/</D:href>"));
    assert_int_equal(run("PROPFIND", "/elsewhere/", NULL, NULL), 404);

    assert_int_equal(run("OPTIONS", "/dav/", NULL, NULL), 200);
    assert_true(resp.dav_header);
}

static void
test_put_get_etag(void **state)
{
    char etag[80];

    (void) state;
    assert_int_equal(run("PUT", CAL "once.ics", event_once,
                         &(opts_t){ .content_type = "text/calendar" }),
                     201);
    assert_true(resp.etag[0] == '"');
    snprintf(etag, sizeof(etag), "%s", resp.etag);

    assert_int_equal(run("GET", CAL "once.ics", NULL, NULL), 200);
    assert_int_equal(resp.body.len, strlen(event_once));
    assert_memory_equal(resp.body.data, event_once, resp.body.len);
    assert_string_equal(resp.etag, etag);

    /* If-None-Match: * on an existing object, If-Match with another tag */
    assert_int_equal(run("PUT", CAL "once.ics", event_once,
                         &(opts_t){ .if_none_match = "*" }),
                     412);
    assert_int_equal(run("PUT", CAL "once.ics", event_weekly,
                         &(opts_t){ .if_match = "\"nope\"" }),
                     412);
    assert_int_equal(run("GET", CAL "once.ics", NULL, NULL), 200);
    assert_memory_equal(resp.body.data, event_once, resp.body.len);

    /* the same UID under another name */
    assert_int_equal(run("PUT", CAL "other.ics", event_once, NULL), 403);
    assert_true(body_has("no-uid-conflict"));
    assert_true(body_has(CAL "once.ics"));

    assert_int_equal(
        run("DELETE", CAL "once.ics", NULL, &(opts_t){ .if_match = etag }),
        204);
    assert_int_equal(run("GET", CAL "once.ics", NULL, NULL), 404);
}

static void
test_bad_input(void **state)
{
    (void) state;
    assert_int_equal(
        run("PUT", CAL "bad.ics", "BEGIN:VCALENDAR\r\nnot ical", NULL), 403);
    assert_true(body_has("<C:valid-calendar-data/>")
                || body_has("<C:valid-calendar-object-resource/>"));
    assert_int_equal(run("PUT", CAL "x.ics", event_once,
                         &(opts_t){ .content_type = "image/png" }),
                     415);
    assert_int_equal(
        run("PROPFIND", "/dav/calendars/alice@example.test/../x/", NULL, NULL),
        400);
    assert_int_equal(
        run("PROPFIND", CAL,
            "<!DOCTYPE x [<!ENTITY a \"aaaa\">]><d:propfind xmlns:d=\"DAV:\">"
            "<d:prop><d:displayname/></d:prop></d:propfind>",
            &(opts_t){ .depth = "0" }),
        400);
    assert_int_equal(run("PROPFIND", CAL, "<d:propfind xmlns:d=\"DAV:\">",
                         &(opts_t){ .depth = "0" }),
                     400);
    assert_int_equal(run("PUT", "/dav/calendars/alice@example.test/nope/x.ics",
                         event_once, NULL),
                     409);
    /* over caldav_max_resource_size: refused before any parsing */
    {
        char *big = malloc(200001);

        assert_non_null(big);
        memset(big, 'A', 200000);
        big[200000] = '\0';
        assert_int_equal(run("PUT", CAL "big.ics", big, NULL), 413);
        assert_true(body_has("<C:max-resource-size/>"));
        free(big);
    }
}

static void
test_cross_user(void **state)
{
    (void) state;
    assert_int_equal(run("PROPFIND", "/dav/calendars/bob@example.test/", NULL,
                         &(opts_t){ .depth = "1" }),
                     403);
    assert_int_equal(
        run("GET", "/dav/calendars/bob@example.test/default/x.ics", NULL, NULL),
        403);
    assert_int_equal(run("PUT", "/dav/calendars/bob@example.test/default/x.ics",
                         event_once, NULL),
                     403);
    assert_int_equal(run("PROPFIND",
                         "/dav/calendars/carol@elsewhere.test/default/", NULL,
                         NULL),
                     403);
    /* bob's own request works, and alice still cannot see it */
    assert_int_equal(run("PUT", "/dav/calendars/bob@example.test/default/b.ics",
                         event_once, &(opts_t){ .user = "bob@example.test" }),
                     201);
    assert_int_equal(
        run("GET", "/dav/calendars/bob@example.test/default/b.ics", NULL, NULL),
        403);
    /* a request without a user is refused */
    {
        caldav_request_t req;

        memset(&req, 0, sizeof(req));
        req.method = "PROPFIND";
        req.path = CAL;
        req.path_len = strlen(CAL);
        caldav_response_free(&resp);
        caldav_response_init(&resp);
        caldav_handle(&conf, &req, &resp);
        assert_int_equal(resp.status, 401);
    }
}

static const char sync_body_fmt[] =
    "<?xml version=\"1.0\"?><d:sync-collection xmlns:d=\"DAV:\">"
    "<d:sync-token>%s</d:sync-token><d:sync-level>1</d:sync-level>"
    "<d:prop><d:getetag/></d:prop></d:sync-collection>";

/* The token of the last sync response, into out. */
static void
last_token(char *out, size_t size)
{
    const char *p = strstr(resp.body.data, "<D:sync-token>"), *e;

    assert_non_null(p);
    p += strlen("<D:sync-token>");
    e = strstr(p, "</D:sync-token>");
    assert_non_null(e);
    assert_true((size_t) (e - p) < size);
    memcpy(out, p, (size_t) (e - p));
    out[e - p] = '\0';
}

static void
test_sync_collection(void **state)
{
    char body[600], tok1[200], tok2[200];

    (void) state;
    assert_int_equal(
        run("MKCALENDAR", "/dav/calendars/alice@example.test/s/", NULL, NULL),
        201);
    assert_int_equal(run("PUT", "/dav/calendars/alice@example.test/s/a.ics",
                         event_once, NULL),
                     201);
    snprintf(body, sizeof(body), sync_body_fmt, "");
    assert_int_equal(
        run("REPORT", "/dav/calendars/alice@example.test/s/", body, NULL), 207);
    assert_true(body_has("/s/a.ics</D:href>"));
    last_token(tok1, sizeof(tok1));

    /* no change: nothing listed, same token */
    snprintf(body, sizeof(body), sync_body_fmt, tok1);
    assert_int_equal(
        run("REPORT", "/dav/calendars/alice@example.test/s/", body, NULL), 207);
    assert_false(body_has("a.ics"));
    last_token(tok2, sizeof(tok2));
    assert_string_equal(tok1, tok2);

    /* a delete is reported with 404, and the token moves on */
    assert_int_equal(
        run("DELETE", "/dav/calendars/alice@example.test/s/a.ics", NULL, NULL),
        204);
    assert_int_equal(
        run("REPORT", "/dav/calendars/alice@example.test/s/", body, NULL), 207);
    assert_true(body_has("/s/a.ics</D:href><D:status>HTTP/1.1 404"));
    last_token(tok2, sizeof(tok2));
    assert_string_not_equal(tok1, tok2);

    /* a made-up token, and a token of a collection deleted and made again */
    snprintf(body, sizeof(body), sync_body_fmt,
             "http://mortar.invalid/ns/sync/99-99");
    assert_int_equal(
        run("REPORT", "/dav/calendars/alice@example.test/s/", body, NULL), 403);
    assert_true(body_has("<D:valid-sync-token/>"));
    assert_int_equal(
        run("DELETE", "/dav/calendars/alice@example.test/s/", NULL, NULL), 204);
    assert_int_equal(
        run("MKCALENDAR", "/dav/calendars/alice@example.test/s/", NULL, NULL),
        201);
    snprintf(body, sizeof(body), sync_body_fmt, tok2);
    assert_int_equal(
        run("REPORT", "/dav/calendars/alice@example.test/s/", body, NULL), 403);
}

static const char query_week_fmt[] =
    "<?xml version=\"1.0\"?><c:calendar-query xmlns:d=\"DAV:\" "
    "xmlns:c=\"urn:ietf:params:xml:ns:caldav\"><d:prop><d:getetag/></d:prop>"
    "<c:filter><c:comp-filter name=\"VCALENDAR\"><c:comp-filter "
    "name=\"VEVENT\"><c:time-range start=\"%s\" end=\"%s\"/>"
    "</c:comp-filter></c:comp-filter></c:filter></c:calendar-query>";

static void
test_calendar_query(void **state)
{
    char body[800];

    (void) state;
    assert_int_equal(
        run("MKCALENDAR", "/dav/calendars/alice@example.test/q/", NULL, NULL),
        201);
    assert_int_equal(run("PUT", "/dav/calendars/alice@example.test/q/w.ics",
                         event_weekly, NULL),
                     201);
    assert_int_equal(run("PUT", "/dav/calendars/alice@example.test/q/o.ics",
                         event_once, NULL),
                     201);

    /* a week in March: only the weekly event, by a later occurrence */
    snprintf(body, sizeof(body), query_week_fmt, "20260316T000000Z",
             "20260323T000000Z");
    assert_int_equal(run("REPORT", "/dav/calendars/alice@example.test/q/", body,
                         &(opts_t){ .depth = "1" }),
                     207);
    assert_true(body_has("/q/w.ics</D:href>"));
    assert_false(body_has("/q/o.ics"));

    /* the week of the one-off event: both */
    snprintf(body, sizeof(body), query_week_fmt, "20260109T000000Z",
             "20260116T000000Z");
    assert_int_equal(run("REPORT", "/dav/calendars/alice@example.test/q/", body,
                         &(opts_t){ .depth = "1" }),
                     207);
    assert_true(body_has("/q/w.ics</D:href>"));
    assert_true(body_has("/q/o.ics</D:href>"));

    /* before anything started: nothing */
    snprintf(body, sizeof(body), query_week_fmt, "20251201T000000Z",
             "20251208T000000Z");
    assert_int_equal(run("REPORT", "/dav/calendars/alice@example.test/q/", body,
                         &(opts_t){ .depth = "1" }),
                     207);
    assert_false(body_has(".ics"));
}

static void
test_properties(void **state)
{
    const char *ctag_body =
        "<d:propfind xmlns:d=\"DAV:\" xmlns:cs=\"http://calendarserver.org/"
        "ns/\"><d:prop><cs:getctag/><d:displayname/><x:unknown "
        "xmlns:x=\"urn:x\"/></d:prop></d:propfind>";
    const char *mk =
        "<c:mkcalendar xmlns:d=\"DAV:\" xmlns:c=\"urn:ietf:params:xml:ns:"
        "caldav\" xmlns:i=\"http://apple.com/ns/ical/\"><d:set><d:prop>"
        "<d:displayname>Work &amp; more</d:displayname><i:calendar-color>"
        "#FF0000FF</i:calendar-color><c:supported-calendar-component-set>"
        "<c:comp name=\"VTODO\"/></c:supported-calendar-component-set>"
        "</d:prop></d:set></c:mkcalendar>";
    const char *patch =
        "<d:propertyupdate xmlns:d=\"DAV:\"><d:set><d:prop><d:displayname>"
        "Renamed</d:displayname><d:getetag>x</d:getetag></d:prop></d:set>"
        "</d:propertyupdate>";
    const char *patch_ok =
        "<d:propertyupdate xmlns:d=\"DAV:\" xmlns:z=\"urn:z\"><d:set><d:prop>"
        "<d:displayname>Renamed</d:displayname><z:flavour>mint</z:flavour>"
        "</d:prop></d:set></d:propertyupdate>";
    char        ctag1[300];
    const char *p;

    (void) state;
    assert_int_equal(
        run("MKCALENDAR", "/dav/calendars/alice@example.test/w/", mk, NULL),
        201);
    assert_int_equal(
        run("MKCALENDAR", "/dav/calendars/alice@example.test/w/", mk, NULL),
        405);
    assert_int_equal(run("PROPFIND", "/dav/calendars/alice@example.test/w/",
                         ctag_body, &(opts_t){ .depth = "0" }),
                     207);
    assert_true(body_has("<D:displayname>Work &amp; more</D:displayname>"));
    assert_true(body_has("HTTP/1.1 404"));
    p = strstr(resp.body.data, "<CS:getctag>");
    assert_non_null(p);
    snprintf(ctag1, sizeof(ctag1), "%.*s",
             (int) (strstr(p, "</CS:getctag>") - p), p);

    /* only VTODO is allowed in this calendar */
    assert_int_equal(run("PUT", "/dav/calendars/alice@example.test/w/e.ics",
                         event_once, NULL),
                     403);
    assert_true(body_has("supported-calendar-component"));

    /* a protected property fails the whole PROPPATCH (424 for the rest) */
    assert_int_equal(
        run("PROPPATCH", "/dav/calendars/alice@example.test/w/", patch, NULL),
        207);
    assert_true(body_has("HTTP/1.1 403"));
    assert_true(body_has("HTTP/1.1 424"));
    assert_int_equal(run("PROPPATCH", "/dav/calendars/alice@example.test/w/",
                         patch_ok, NULL),
                     207);
    assert_false(body_has("HTTP/1.1 4"));
    assert_int_equal(run("PROPFIND", "/dav/calendars/alice@example.test/w/",
                         ctag_body, &(opts_t){ .depth = "0" }),
                     207);
    assert_true(body_has("<D:displayname>Renamed</D:displayname>"));
    /* properties do not move the ctag */
    assert_true(body_has(ctag1));
    /* the dead property comes back with allprop */
    assert_int_equal(run("PROPFIND", "/dav/calendars/alice@example.test/w/",
                         NULL, &(opts_t){ .depth = "0" }),
                     207);
    assert_true(body_has("mint"));
}

static void
test_directory(void **state)
{
    const char *q =
        "<c:addressbook-query xmlns:d=\"DAV:\" xmlns:c=\"urn:ietf:params:"
        "xml:ns:carddav\"><d:prop><d:getetag/><c:address-data/></d:prop>"
        "<c:filter><c:prop-filter name=\"FN\"><c:text-match "
        "match-type=\"contains\">builder</c:text-match></c:prop-filter>"
        "</c:filter></c:addressbook-query>";

    (void) state;
    assert_int_equal(run("PROPFIND", "/dav/addressbooks/alice@example.test/",
                         NULL, &(opts_t){ .depth = "1" }),
                     207);
    assert_true(body_has("/dav/addressbooks/alice@example.test/directory/"));
    assert_true(body_has("/dav/addressbooks/alice@example.test/default/"));

    assert_int_equal(run("REPORT",
                         "/dav/addressbooks/alice@example.test/directory/", q,
                         &(opts_t){ .depth = "1" }),
                     207);
    assert_true(body_has("bob@example.test.vcf"));
    assert_false(body_has("alice@example.test.vcf"));

    assert_int_equal(run("GET",
                         "/dav/addressbooks/alice@example.test/directory/"
                         "bob@example.test.vcf",
                         NULL, NULL),
                     200);
    assert_true(body_has("FN:Bob Builder"));
    assert_int_equal(run("PUT",
                         "/dav/addressbooks/alice@example.test/directory/"
                         "x.vcf",
                         gal_cards[0][1], NULL),
                     403);
    assert_int_equal(run("PROPFIND",
                         "/dav/addressbooks/bob@example.test/directory/", NULL,
                         NULL),
                     403);

    /* multiget on the directory: found cards, 404 for the rest */
    assert_int_equal(
        run("REPORT", "/dav/addressbooks/alice@example.test/directory/",
            "<c:addressbook-multiget xmlns:d=\"DAV:\" "
            "xmlns:c=\"urn:ietf:params:xml:ns:carddav\"><d:prop><d:getetag/>"
            "<c:address-data/></d:prop>"
            "<d:href>/dav/addressbooks/alice@example.test/directory/"
            "bob%40example.test.vcf</d:href>"
            "<d:href>/dav/addressbooks/alice@example.test/directory/"
            "nobody@example.test.vcf</d:href>"
            "<d:href>/dav/addressbooks/alice@example.test/default/"
            "bob@example.test.vcf</d:href>"
            "<d:href>/dav/addressbooks/alice@example.test/directory/"
            "alice@example.test.vcf</d:href></c:addressbook-multiget>",
            NULL),
        207);
    assert_true(body_has("FN:Bob Builder"));
    assert_true(body_has("FN:Alice Liddell"));
    assert_true(body_has("nobody@example.test.vcf</D:href><D:status>HTTP/1.1 "
                         "404"));
    assert_true(body_has("default/bob@example.test.vcf</D:href><D:status>"
                         "HTTP/1.1 404"));
}

static void
test_vcard(void **state)
{
    const char *card = "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:c1\r\nFN:Carol "
                       "Example\r\nEMAIL:carol@example.org\r\nEND:VCARD\r\n";
    const char *mg =
        "<c:addressbook-multiget xmlns:d=\"DAV:\" xmlns:c=\"urn:ietf:params:"
        "xml:ns:carddav\"><d:prop><d:getetag/><c:address-data/></d:prop>"
        "<d:href>/dav/addressbooks/alice@example.test/default/c1.vcf</d:href>"
        "<d:href>/dav/addressbooks/alice@example.test/default/none.vcf"
        "</d:href><d:href>/dav/calendars/bob@example.test/default/b.ics"
        "</d:href></c:addressbook-multiget>";

    (void) state;
    assert_int_equal(run("PUT",
                         "/dav/addressbooks/alice@example.test/default/c1.vcf",
                         card, &(opts_t){ .content_type = "text/vcard" }),
                     201);
    assert_int_equal(run("PUT",
                         "/dav/addressbooks/alice@example.test/default/c2.vcf",
                         "BEGIN:VCARD\r\nFN:x\r\nEND:VCARD\r\n", NULL),
                     403);
    assert_int_equal(run("REPORT",
                         "/dav/addressbooks/alice@example.test/"
                         "default/",
                         mg, NULL),
                     207);
    assert_true(body_has("FN:Carol Example"));
    assert_true(body_has("none.vcf</D:href><D:status>HTTP/1.1 404"));
    /* an href outside the collection is not read */
    assert_true(body_has("b.ics</D:href><D:status>HTTP/1.1 404"));
}

/* ---- sharing (caldav_share.c) ------------------------------------------ */

#define ALICE    "alice@example.test"
#define BOB      "bob@example.test"
#define ACAL     "/dav/calendars/" ALICE "/"
#define ABOOK    "/dav/addressbooks/" ALICE "/"
#define SHARE_CT "application/davsharing+xml"

static const opts_t as_bob = { .user = BOB };
static const opts_t share_ct = { .content_type = SHARE_CT };

static const char share_fmt[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
    "<D:share-resource xmlns:D=\"DAV:\"><D:sharee><D:href>%s</D:href>"
    "<D:share-access><D:%s/></D:share-access></D:sharee>"
    "</D:share-resource>";

static const char share_props[] =
    "<d:propfind xmlns:d=\"DAV:\"><d:prop><d:displayname/><d:owner/>"
    "<d:current-user-privilege-set/><d:share-access/><d:invite/>"
    "<d:share-resource-uri/><d:resourcetype/></d:prop></d:propfind>";

static const char event_b[] =
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
    "BEGIN:VEVENT\r\nUID:from-bob\r\nDTSTAMP:20260101T000000Z\r\n"
    "DTSTART:20260112T090000Z\r\nDTEND:20260112T100000Z\r\n"
    "SUMMARY:Bob's\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

/* POST a share of path with one sharee (href) and access as user. */
static int
share(const char *user, const char *path, const char *href, const char *access)
{
    char   body[600];
    opts_t o = { .user = user, .content_type = SHARE_CT };

    snprintf(body, sizeof(body), share_fmt, href, access);
    return run("POST", path, body, &o);
}

/* The <D:response> of href in the last multistatus, copied into out
 * ("" when absent). */
static void
response_of(const char *href, char *out, size_t size)
{
    char        start[300];
    const char *p, *e;

    out[0] = '\0';
    snprintf(start, sizeof(start), "<D:href>%s</D:href>", href);
    p = resp.body.data ? strstr(resp.body.data, start) : NULL;
    if (p == NULL) {
        return;
    }
    e = strstr(p, "</D:response>");
    assert_non_null(e);
    assert_true((size_t) (e - p) < size);
    memcpy(out, p, (size_t) (e - p));
    out[e - p] = '\0';
}

static void
test_share_read(void **state)
{
    const char *mk = "<c:mkcalendar xmlns:d=\"DAV:\" xmlns:c=\"urn:ietf:"
                     "params:xml:ns:caldav\"><d:set><d:prop><d:displayname>"
                     "Team</d:displayname></d:prop></d:set></c:mkcalendar>";
    const char *mg =
        "<c:calendar-multiget xmlns:d=\"DAV:\" xmlns:c=\"urn:ietf:params:"
        "xml:ns:caldav\"><d:prop><d:getetag/><c:calendar-data/></d:prop>"
        "<d:href>" ACAL "team/one.ics</d:href></c:calendar-multiget>";
    const char *patch =
        "<d:propertyupdate xmlns:d=\"DAV:\"><d:set><d:prop><d:displayname>"
        "Mine now</d:displayname></d:prop></d:set></d:propertyupdate>";
    char body[800], one[4000];

    (void) state;
    assert_int_equal(run("MKCALENDAR", ACAL "team/", mk, NULL), 201);
    assert_int_equal(run("PUT", ACAL "team/one.ics", event_once, NULL), 201);

    print_message("case: not shared yet: bob gets 403\n");
    assert_int_equal(run("PROPFIND", ACAL "team/", NULL, &as_bob), 403);
    assert_int_equal(run("GET", ACAL "team/one.ics", NULL, &as_bob), 403);

    print_message("case: alice shares read with bob\n");
    assert_int_equal(share(ALICE, ACAL "team/", "mailto:" BOB, "read"), 200);
    assert_int_equal(resp.body.len, 0);
    assert_non_null(strstr(resp.log, BOB));

    print_message("case: bob reads: PROPFIND, GET, REPORTs\n");
    assert_int_equal(run("PROPFIND", ACAL "team/", share_props,
                         &(opts_t){ .user = BOB, .depth = "1" }),
                     207);
    assert_true(body_has("<D:href>" ACAL "team/one.ics</D:href>"));
    response_of(ACAL "team/", one, sizeof(one));
    assert_non_null(strstr(one, "<D:displayname>Team</D:displayname>"));
    assert_non_null(strstr(one, "<D:privilege><D:read/></D:privilege>"));
    assert_null(strstr(one, "write"));
    assert_null(strstr(one, "<D:bind/>"));
    assert_non_null(strstr(one, "<D:share-access><D:read/></D:share-access>"));
    assert_non_null(strstr(one, "<D:owner><D:href>/dav/principals/" ALICE
                                "/</D:href></D:owner>"));
    assert_int_equal(run("GET", ACAL "team/one.ics", NULL, &as_bob), 200);
    assert_true(body_has("SUMMARY:Dentist"));
    snprintf(body, sizeof(body), query_week_fmt, "20260109T000000Z",
             "20260116T000000Z");
    assert_int_equal(run("REPORT", ACAL "team/", body,
                         &(opts_t){ .user = BOB, .depth = "1" }),
                     207);
    assert_true(body_has("/team/one.ics</D:href>"));
    assert_int_equal(run("REPORT", ACAL "team/", mg, &as_bob), 207);
    assert_true(body_has("SUMMARY:Dentist"));
    snprintf(body, sizeof(body), sync_body_fmt, "");
    assert_int_equal(run("REPORT", ACAL "team/", body, &as_bob), 207);
    assert_true(body_has("/team/one.ics</D:href>"));

    print_message("case: bob cannot write, delete, rename or re-share\n");
    assert_int_equal(run("PUT", ACAL "team/b.ics", event_b, &as_bob), 403);
    assert_true(body_has("<D:need-privileges/>"));
    assert_int_equal(run("PUT", ACAL "team/one.ics", event_once, &as_bob), 403);
    assert_int_equal(run("DELETE", ACAL "team/one.ics", NULL, &as_bob), 403);
    assert_true(body_has("<D:need-privileges/>"));
    assert_int_equal(run("DELETE", ACAL "team/", NULL, &as_bob), 403);
    assert_int_equal(run("PROPPATCH", ACAL "team/", patch, &as_bob), 403);
    assert_true(body_has("<D:need-privileges/>"));
    assert_int_equal(share(BOB, ACAL "team/", "mailto:" BOB, "read-write"),
                     403);
    assert_true(body_has("<D:need-privileges/>"));
    assert_true(body_has("only the owner"));
    assert_int_equal(run("MKCALENDAR", ACAL "bobs/", NULL, &as_bob), 403);
    assert_int_equal(run("GET", ACAL "team/one.ics", NULL, NULL), 200);
    assert_true(body_has("SUMMARY:Dentist"));

    print_message("case: the owner sees the share\n");
    assert_int_equal(
        run("PROPFIND", ACAL "team/", share_props, &(opts_t){ .depth = "0" }),
        207);
    assert_true(body_has("<D:share-access><D:shared-owner/>"
                         "</D:share-access>"));
    assert_true(body_has("<D:invite><D:sharee><D:href>/dav/principals/" ALICE
                         "/</D:href><D:share-access><D:shared-owner/>"));
    assert_true(body_has("<D:sharee><D:href>mailto:" BOB "</D:href>"
                         "<D:share-access><D:read/></D:share-access>"
                         "<D:invite-accepted/></D:sharee></D:invite>"));
    assert_true(body_has("<D:share-resource-uri><D:href>" ACAL
                         "team/</D:href></D:share-resource-uri>"));
    assert_true(body_has("<D:privilege><D:write-properties/></D:privilege>"));
    /* a collection nobody shares */
    assert_int_equal(run("PROPFIND", ACAL "default/", share_props,
                         &(opts_t){ .depth = "0" }),
                     207);
    assert_true(body_has("<D:share-access><D:not-shared/></D:share-access>"));
    assert_true(body_has("<D:invite><D:sharee><D:href>/dav/principals/" ALICE
                         "/</D:href><D:share-access><D:shared-owner/>"
                         "</D:share-access><D:invite-accepted/></D:sharee>"
                         "</D:invite>"));
    /* the inbox is not a shared-able collection: no sharing properties */
    assert_int_equal(
        run("PROPFIND", ACAL "inbox/", share_props, &(opts_t){ .depth = "0" }),
        207);
    assert_false(body_has("<D:not-shared/>"));
}

static void
test_share_read_write(void **state)
{
    const char *patch =
        "<d:propertyupdate xmlns:d=\"DAV:\"><d:set><d:prop><d:displayname>"
        "Mine now</d:displayname></d:prop></d:set></d:propertyupdate>";
    char body[800], tok1[200], tok2[200], one[4000];

    (void) state;
    assert_int_equal(run("MKCALENDAR", ACAL "rw/", NULL, NULL), 201);
    assert_int_equal(share(ALICE, ACAL "rw/", "mailto:" BOB, "read-write"),
                     200);
    snprintf(body, sizeof(body), sync_body_fmt, "");
    assert_int_equal(run("REPORT", ACAL "rw/", body, NULL), 207);
    last_token(tok1, sizeof(tok1));

    print_message("case: bob writes; alice sees it and her token moves\n");
    assert_int_equal(
        run("PUT", ACAL "rw/b.ics", event_b,
            &(opts_t){ .user = BOB, .content_type = "text/calendar" }),
        201);
    assert_int_equal(run("GET", ACAL "rw/b.ics", NULL, NULL), 200);
    assert_true(body_has("SUMMARY:Bob's"));
    snprintf(body, sizeof(body), sync_body_fmt, tok1);
    assert_int_equal(run("REPORT", ACAL "rw/", body, NULL), 207);
    assert_true(body_has("/rw/b.ics</D:href>"));
    last_token(tok2, sizeof(tok2));
    assert_string_not_equal(tok1, tok2);

    print_message("case: bob's privileges: objects yes, properties no\n");
    assert_int_equal(run("PROPFIND", ACAL "rw/", share_props,
                         &(opts_t){ .user = BOB, .depth = "0" }),
                     207);
    response_of(ACAL "rw/", one, sizeof(one));
    assert_non_null(strstr(one, "<D:write-content/>"));
    assert_non_null(strstr(one, "<D:bind/>"));
    assert_non_null(strstr(one, "<D:unbind/>"));
    assert_null(strstr(one, "<D:write/>"));
    assert_null(strstr(one, "<D:write-properties/>"));
    assert_non_null(
        strstr(one, "<D:share-access><D:read-write/></D:share-access>"));

    print_message("case: bob may not change, delete or share the calendar\n");
    assert_int_equal(run("PROPPATCH", ACAL "rw/", patch, &as_bob), 403);
    assert_int_equal(run("DELETE", ACAL "rw/", NULL, &as_bob), 403);
    assert_int_equal(share(BOB, ACAL "rw/", "mailto:" ALICE, "read"), 403);
    assert_int_equal(run("MKCALENDAR", ACAL "rw2/", NULL, &as_bob), 403);
    assert_int_equal(run("PROPFIND", ACAL, NULL, &as_bob), 403);

    print_message("case: bob deletes his object\n");
    assert_int_equal(run("DELETE", ACAL "rw/b.ics", NULL, &as_bob), 204);
    assert_int_equal(run("GET", ACAL "rw/b.ics", NULL, NULL), 404);
    assert_int_equal(run("PUT", ACAL "rw/b.ics", event_b, &as_bob), 201);

    print_message("case: read-write down to read, then no-access\n");
    assert_int_equal(share(ALICE, ACAL "rw/", "mailto:" BOB, "read"), 200);
    assert_int_equal(run("PUT", ACAL "rw/c.ics", event_once, &as_bob), 403);
    assert_int_equal(run("GET", ACAL "rw/b.ics", NULL, &as_bob), 200);
    assert_int_equal(share(ALICE, ACAL "rw/", "mailto:" BOB, "no-access"), 200);
    assert_int_equal(run("GET", ACAL "rw/b.ics", NULL, &as_bob), 403);
    assert_int_equal(run("PROPFIND", ACAL "rw/", NULL, &as_bob), 403);
    assert_int_equal(run("PUT", ACAL "rw/c.ics", event_once, &as_bob), 403);
    assert_int_equal(
        run("PROPFIND", ACAL "rw/", share_props, &(opts_t){ .depth = "0" }),
        207);
    assert_true(body_has("<D:not-shared/>"));
    assert_false(body_has("mailto:" BOB));
    /* removing what is not there is fine */
    assert_int_equal(share(ALICE, ACAL "rw/", "mailto:" BOB, "no-access"), 200);
}

typedef struct {
    const char *name;
    const char *user;
    const char *path;
    const char *content_type;
    const char *body;
    int         status;
    const char *says; /* in the body, or NULL */
} share_case_t;

#define SH1(href, access)                                                      \
    "<D:share-resource xmlns:D=\"DAV:\"><D:sharee><D:href>" href               \
    "</D:href><D:share-access><D:" access "/></D:share-access></D:sharee>"     \
    "</D:share-resource>"

static const share_case_t share_cases[] = {
    { "another domain", ALICE, ACAL "default/", SHARE_CT,
      SH1("mailto:carol@elsewhere.test", "read"), 403, "within a domain" },
    { "unknown user", ALICE, ACAL "default/", SHARE_CT,
      SH1("mailto:dave@example.test", "read"), 403, "not an active account" },
    { "the owner herself", ALICE, ACAL "default/", SHARE_CT,
      SH1("mailto:ALICE@example.test", "read"), 403, "owns this" },
    { "not an address", ALICE, ACAL "default/", SHARE_CT,
      SH1("mailto:bob", "read"), 403, "not a mailto" },
    { "a URL elsewhere", ALICE, ACAL "default/", SHARE_CT,
      SH1("https://evil.test/users/bob@example.test/", "read"), 403,
      "not a mailto" },
    { "a principal URL with a dot segment", ALICE, ACAL "default/", SHARE_CT,
      SH1("/dav/principals/../bob@example.test/", "read"), 403,
      "not a mailto" },
    { "one bad sharee spoils the lot", ALICE, ACAL "default/", SHARE_CT,
      "<D:share-resource xmlns:D=\"DAV:\"><D:sharee><D:href>mailto:" BOB
      "</D:href><D:share-access><D:read/></D:share-access></D:sharee>"
      "<D:sharee><D:href>mailto:dave@example.test</D:href><D:share-access>"
      "<D:read/></D:share-access></D:sharee></D:share-resource>",
      403, "dave@example.test" },
    { "the scheduling inbox", ALICE, ACAL "inbox/", SHARE_CT,
      SH1("mailto:" BOB, "read"), 403, "only calendars and address books" },
    { "the directory", ALICE, ABOOK "directory/", SHARE_CT,
      SH1("mailto:" BOB, "read"), 403, "only calendars and address books" },
    { "a home", ALICE, ACAL, SHARE_CT, SH1("mailto:" BOB, "read"), 403,
      "only calendars and address books" },
    { "an object", ALICE, ACAL "default/x.ics", SHARE_CT,
      SH1("mailto:" BOB, "read"), 403, NULL },
    { "no such calendar", ALICE, ACAL "nope/", SHARE_CT,
      SH1("mailto:" BOB, "read"), 404, NULL },
    { "bob on a calendar not shared with him", BOB, ACAL "default/", SHARE_CT,
      SH1("mailto:" BOB, "read"), 403, "need-privileges" },
    { "malformed XML", ALICE, ACAL "default/", SHARE_CT,
      "<D:share-resource xmlns:D=\"DAV:\"><D:sharee>", 400, "malformed" },
    { "empty body", ALICE, ACAL "default/", SHARE_CT, "", 400,
      "needs a request body" },
    { "XXE", ALICE, ACAL "default/", SHARE_CT,
      "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>"
      "<D:share-resource xmlns:D=\"DAV:\"><D:sharee><D:href>&e;</D:href>"
      "<D:share-access><D:read/></D:share-access></D:sharee>"
      "</D:share-resource>",
      400, "DTDs" },
    { "bad share-access", ALICE, ACAL "default/", SHARE_CT,
      SH1("mailto:" BOB, "all"), 400, "read, read-write or no-access" },
    /* not ours: whatever answers them, they share nothing (status -1:
     * anything but 2xx) */
    { "another POST (text/calendar)", ALICE, ACAL "default/", "text/calendar",
      "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", -1, NULL },
    { "POST without a content type", ALICE, ACAL "default/", NULL,
      SH1("mailto:" BOB, "read"), -1, NULL },
    { "application/xml of another kind", ALICE, ACAL "default/",
      "application/xml", "<D:propfind xmlns:D=\"DAV:\"/>", -1, NULL },
};

static void
test_share_refused(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof(share_cases) / sizeof(share_cases[0]); i++) {
        const share_case_t *t = &share_cases[i];
        opts_t o = { .user = t->user, .content_type = t->content_type };

        print_message("case: %s\n", t->name);
        if (t->status < 0) {
            int st = run("POST", t->path, t->body, &o);

            assert_true(st < 200 || st > 299);
            continue;
        }
        assert_int_equal(run("POST", t->path, t->body, &o), t->status);
        if (t->says != NULL) {
            assert_true(body_has(t->says));
        }
    }
    print_message("case: nothing above shared anything with bob\n");
    assert_int_equal(run("PROPFIND", ACAL "default/", NULL, &as_bob), 403);
    assert_int_equal(run("PROPFIND", ACAL "default/", share_props,
                         &(opts_t){ .depth = "0" }),
                     207);
    assert_true(body_has("<D:not-shared/>"));

    print_message("case: principal URLs and case are accepted\n");
    assert_int_equal(run("POST", ACAL "default/",
                         SH1("https://dav.example.test/dav/principals/"
                             "bob%40example.test/",
                             "read"),
                         &(opts_t){ .content_type = "application/xml; "
                                                    "charset=utf-8" }),
                     200);
    assert_int_equal(run("GET", ACAL "default/", NULL, &as_bob), 200);
    assert_int_equal(
        share(ALICE, ACAL "default/", "MAILTO:Bob@Example.TEST", "no-access"),
        200);
    assert_int_equal(run("GET", ACAL "default/", NULL, &as_bob), 403);
    assert_int_equal(
        share(ALICE, ACAL "default/", "/dav/principals/" BOB "/", "read"), 200);
    assert_int_equal(run("PROPFIND", ACAL "default/", share_props,
                         &(opts_t){ .depth = "0" }),
                     207);
    assert_true(body_has("<D:href>mailto:" BOB "</D:href>"));
    assert_int_equal(share(ALICE, ACAL "default/", "mailto:" BOB, "no-access"),
                     200);
}

static void
test_share_listing(void **state)
{
    const char *mk = "<c:mkcalendar xmlns:d=\"DAV:\" xmlns:c=\"urn:ietf:"
                     "params:xml:ns:caldav\"><d:set><d:prop><d:displayname>"
                     "Alice &amp; Co</d:displayname></d:prop></d:set>"
                     "</c:mkcalendar>";
    const char *mkbook =
        "<d:mkcol xmlns:d=\"DAV:\" xmlns:cr=\"urn:ietf:params:xml:ns:"
        "carddav\"><d:set><d:prop><d:resourcetype><d:collection/>"
        "<cr:addressbook/></d:resourcetype><d:displayname>Clients"
        "</d:displayname></d:prop></d:set></d:mkcol>";
    const opts_t bob1 = { .user = BOB, .depth = "1" };
    char         one[4000];

    (void) state;
    assert_int_equal(run("MKCALENDAR", ACAL "listed/", mk, NULL), 201);
    assert_int_equal(run("MKCOL", ABOOK "clients/", mkbook, NULL), 201);
    assert_int_equal(share(ALICE, ACAL "listed/", "mailto:" BOB, "read"), 200);
    assert_int_equal(
        share(ALICE, ABOOK "clients/", "mailto:" BOB, "read-write"), 200);

    print_message("case: bob's calendar home lists alice's calendar\n");
    assert_int_equal(
        run("PROPFIND", "/dav/calendars/" BOB "/", share_props, &bob1), 207);
    assert_true(body_has("<D:href>/dav/calendars/" BOB "/default/</D:href>"));
    response_of(ACAL "listed/", one, sizeof(one));
    assert_true(one[0] != '\0');
    assert_non_null(
        strstr(one, "<D:displayname>Alice &amp; Co</D:displayname>"));
    assert_non_null(strstr(one, "<C:calendar/>"));
    assert_non_null(strstr(one, "<D:owner><D:href>/dav/principals/" ALICE
                                "/</D:href></D:owner>"));
    assert_non_null(strstr(one, "<D:share-access><D:read/></D:share-access>"));
    assert_null(strstr(one, "<D:write-content/>"));
    /* alice's own calendars are not listed, nor the address book */
    assert_false(body_has(ACAL "default/"));
    assert_false(body_has(ABOOK "clients/"));

    print_message("case: bob's address book home lists alice's book\n");
    assert_int_equal(
        run("PROPFIND", "/dav/addressbooks/" BOB "/", share_props, &bob1), 207);
    response_of(ABOOK "clients/", one, sizeof(one));
    assert_true(one[0] != '\0');
    assert_non_null(strstr(one, "<D:displayname>Clients</D:displayname>"));
    assert_non_null(strstr(one, "<CR:addressbook/>"));
    assert_non_null(strstr(one, "<D:write-content/>"));
    assert_null(strstr(one, "<D:write-properties/>"));
    assert_false(body_has(ACAL "listed/"));
    assert_true(body_has("/dav/addressbooks/" BOB "/directory/"));

    print_message("case: alice's own listing is unchanged\n");
    assert_int_equal(run("PROPFIND", ACAL, NULL, &(opts_t){ .depth = "1" }),
                     207);
    assert_true(body_has("<D:href>" ACAL "listed/</D:href>"));
    assert_false(body_has("/dav/calendars/" BOB "/"));

    print_message("case: a deleted calendar is no longer listed\n");
    assert_int_equal(run("DELETE", ACAL "listed/", NULL, NULL), 204);
    assert_int_equal(
        run("PROPFIND", "/dav/calendars/" BOB "/", share_props, &bob1), 207);
    assert_false(body_has(ACAL "listed/"));
    /* made again under the same name: a new calendar, not shared */
    assert_int_equal(run("MKCALENDAR", ACAL "listed/", mk, NULL), 201);
    assert_int_equal(
        run("PROPFIND", "/dav/calendars/" BOB "/", share_props, &bob1), 207);
    assert_false(body_has(ACAL "listed/"));
    assert_int_equal(run("GET", ACAL "listed/", NULL, &as_bob), 403);

    print_message("case: a removed share is no longer listed\n");
    assert_int_equal(share(ALICE, ABOOK "clients/", "mailto:" BOB, "no-access"),
                     200);
    assert_int_equal(
        run("PROPFIND", "/dav/addressbooks/" BOB "/", share_props, &bob1), 207);
    assert_false(body_has(ABOOK "clients/"));

    print_message("case: Depth 0 on the home lists nothing shared\n");
    assert_int_equal(share(ALICE, ACAL "listed/", "mailto:" BOB, "read"), 200);
    assert_int_equal(run("PROPFIND", "/dav/calendars/" BOB "/", NULL,
                         &(opts_t){ .user = BOB, .depth = "0" }),
                     207);
    assert_false(body_has(ACAL "listed/"));
    assert_int_equal(run("PROPFIND", "/dav/calendars/" BOB "/", NULL, &bob1),
                     207);
    assert_true(body_has(ACAL "listed/"));
}

/*
 * More users than the per-thread store cache has slots
 * (CALDAV_STORE_CACHE, 16): one POST opens every sharee's store, one
 * listing every owner's, and the handles the request started with are
 * closed on the way (AddressSanitizer would see any use after that).
 */
static void
test_share_many_stores(void **state)
{
    caldav_buf_t b;
    char         path[200], href[200], *body;

    (void) state;
    assert_int_equal(run("MKCALENDAR", ACAL "many/", NULL, NULL), 201);
    caldav_buf_init(&b);
    caldav_buf_adds(&b, "<D:share-resource xmlns:D=\"DAV:\">");
    for (int i = 0; i < 40; i++) {
        caldav_buf_printf(&b,
                          "<D:sharee><D:href>mailto:u%d@example.test</D:href>"
                          "<D:share-access><D:read/></D:share-access>"
                          "</D:sharee>",
                          i);
    }
    caldav_buf_adds(&b, "</D:share-resource>");
    body = caldav_buf_steal(&b, NULL);
    print_message("case: one POST with 40 sharees\n");
    assert_int_equal(run("POST", ACAL "many/", body, &share_ct), 200);
    free(body);
    assert_int_equal(
        run("PROPFIND", ACAL "many/", share_props, &(opts_t){ .depth = "0" }),
        207);
    assert_true(body_has("mailto:u0@example.test"));
    assert_true(body_has("mailto:u39@example.test"));
    assert_int_equal(
        run("GET", ACAL "many/", NULL, &(opts_t){ .user = "u39@example.test" }),
        200);

    print_message("case: 30 owners share with bob; his home lists all\n");
    assert_int_equal(
        run("PUT", "/dav/calendars/" BOB "/default/keep.ics", event_b, &as_bob),
        201);
    for (int i = 0; i < 30; i++) {
        snprintf(path, sizeof(path), "/dav/calendars/u%d@example.test/default/",
                 i);
        snprintf(href, sizeof(href), "u%d@example.test", i);
        assert_int_equal(share(href, path, "mailto:" BOB, "read"), 200);
    }
    assert_int_equal(run("PROPFIND", "/dav/calendars/" BOB "/", share_props,
                         &(opts_t){ .user = BOB, .depth = "1" }),
                     207);
    for (int i = 0; i < 30; i++) {
        snprintf(path, sizeof(path),
                 "<D:href>/dav/calendars/u%d@example.test/default/</D:href>",
                 i);
        assert_true(body_has(path));
    }
    assert_true(body_has("<D:href>/dav/calendars/" BOB "/default/</D:href>"));
    /* bob's own store is still the right one after all that */
    assert_int_equal(
        run("GET", "/dav/calendars/" BOB "/default/keep.ics", NULL, &as_bob),
        200);
    assert_true(body_has("SUMMARY:Bob's"));
}

/* The directory matches addresses in any case (slapd's mail is
 * caseIgnoreIA5Match); this fake does too. */
static int
ldap_like_exists(void *ctx, const char *user, char *dn, size_t size)
{
    (void) ctx;
    if (dn != NULL && size > 0) {
        snprintf(dn, size, "%s", user);
    }
    return strcasecmp(user, ALICE) == 0 || strcasecmp(user, BOB) == 0;
}

/*
 * Another user's address in other cases names the same account to the
 * directory, but another store directory: alice must not get a fresh
 * store made (a database per case variant, disk without bound) for any
 * of them.
 */
static void
test_case_variant_paths(void **state)
{
    static const char *const variants[] = { "BOB@example.test",
                                            "Bob@example.test",
                                            "bOb@example.test" };
    char                     path[300];
    struct stat              sb;

    (void) state;
    conf.user_exists = ldap_like_exists;
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        print_message("case: %s\n", variants[i]);
        snprintf(path, sizeof(path), "/dav/calendars/%s/default/", variants[i]);
        assert_int_equal(run("PROPFIND", path, NULL, NULL), 403);
        snprintf(path, sizeof(path), "/dav/addressbooks/%s/default/x.vcf",
                 variants[i]);
        assert_int_equal(run("GET", path, NULL, NULL), 403);
        snprintf(path, sizeof(path), "%s/example.test/%.*s", tmpdir, 3,
                 variants[i]);
        assert_int_not_equal(stat(path, &sb), 0);
    }
    conf.user_exists = fake_exists;
}

#define EXPAND_QUERY                                                           \
    "<c:calendar-query xmlns:d=\"DAV:\" xmlns:c=\"urn:ietf:params:xml:ns:"     \
    "caldav\"><d:prop><d:getetag/><c:calendar-data><c:expand "                 \
    "start=\"%s\" end=\"%s\"/></c:calendar-data></d:prop><c:filter>"           \
    "<c:comp-filter name=\"VCALENDAR\"><c:comp-filter name=\"VEVENT\">"        \
    "<c:time-range start=\"%s\" end=\"%s\"/></c:comp-filter>"                  \
    "</c:comp-filter></c:filter></c:calendar-query>"

/* An expansion past the limits is refused for that object, and said. */
static void
test_expand_limits(void **state)
{
    const char *minutely =
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
        "BEGIN:VEVENT\r\nUID:minutely-1\r\nDTSTAMP:20260101T000000Z\r\n"
        "DTSTART:20260105T090000Z\r\nDURATION:PT1M\r\n"
        "RRULE:FREQ=MINUTELY\r\nSUMMARY:Tick\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n";
    char body[1024];

    (void) state;
    assert_int_equal(
        run("MKCALENDAR", "/dav/calendars/alice@example.test/x/", NULL, NULL),
        201);
    assert_int_equal(
        run("PUT", "/dav/calendars/alice@example.test/x/m.ics", minutely, NULL),
        201);
    /* one hour: 60 instances, expanded */
    snprintf(body, sizeof(body), EXPAND_QUERY, "20260301T100000Z",
             "20260301T110000Z", "20260301T100000Z", "20260301T110000Z");
    assert_int_equal(
        run("REPORT", "/dav/calendars/alice@example.test/x/", body, NULL), 207);
    assert_true(body_has("RECURRENCE-ID:20260301T105900Z"));
    assert_false(body_has("507"));
    /* a quarter: 130,000 instances: 507 for calendar-data, the href and
     * its ETag still listed */
    snprintf(body, sizeof(body), EXPAND_QUERY, "20260101T000000Z",
             "20260401T000000Z", "20260101T000000Z", "20260401T000000Z");
    assert_int_equal(
        run("REPORT", "/dav/calendars/alice@example.test/x/", body, NULL), 207);
    assert_true(body_has("/x/m.ics</D:href>"));
    assert_true(body_has("<D:getetag>"));
    assert_true(body_has("<C:calendar-data/></D:prop><D:status>HTTP/1.1 507"));
    assert_false(body_has("RECURRENCE-ID"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_discovery),
        cmocka_unit_test(test_put_get_etag),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_cross_user),
        cmocka_unit_test(test_sync_collection),
        cmocka_unit_test(test_calendar_query),
        cmocka_unit_test(test_properties),
        cmocka_unit_test(test_directory),
        cmocka_unit_test(test_vcard),
        cmocka_unit_test(test_expand_limits),
        cmocka_unit_test(test_share_read),
        cmocka_unit_test(test_share_read_write),
        cmocka_unit_test(test_share_refused),
        cmocka_unit_test(test_share_listing),
        cmocka_unit_test(test_share_many_stores),
        cmocka_unit_test(test_case_variant_paths),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);

    caldav_response_free(&resp);
    return rc;
}
