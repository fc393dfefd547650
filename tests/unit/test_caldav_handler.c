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
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);

    caldav_response_free(&resp);
    return rc;
}
