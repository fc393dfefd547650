/*
 * test_caldav_sched.c -- CalDAV scheduling (caldav_sched.c) end to end
 * through caldav_handle(): real stores in a temporary directory, a fake
 * directory (alice and bob of example.test exist) and a fake sendmail (a
 * shell script that saves its argv and stdin).
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "caldav.h"
#include "caldav_sched.h"

#define ALICE "alice@example.test"
#define BOB   "bob@example.test"
#define CAROL "carol@outside.test"
#define ACAL  "/dav/calendars/" ALICE "/default/"
#define BCAL  "/dav/calendars/" BOB "/default/"

static char              tmpdir[256];
static char              store_pattern[300];
static char              sendmail[300];
static char              maildir[300];
static caldav_conf_t     conf;
static caldav_response_t resp;

static int
fake_exists(void *ctx, const char *user, char *dn, size_t size)
{
    (void) ctx;
    if (dn != NULL && size > 0) {
        snprintf(dn, size, "%s", user);
    }
    return strcmp(user, ALICE) == 0 || strcmp(user, BOB) == 0;
}

static int
setup(void **state)
{
    FILE *f;

    (void) state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-sched-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    snprintf(store_pattern, sizeof(store_pattern), "%s/%%d/%%n", tmpdir);
    snprintf(maildir, sizeof(maildir), "%s/mail", tmpdir);
    assert_int_equal(mkdir(maildir, 0700), 0);
    snprintf(sendmail, sizeof(sendmail), "%s/sendmail.sh", tmpdir);
    f = fopen(sendmail, "w");
    assert_non_null(f);
    fprintf(f,
            "#!/bin/sh\n"
            "n=$(date +%%s%%N)-$$\n"
            "printf '%%s\\n' \"$@\" > '%s'/$n.args\n"
            "cat > '%s'/$n.msg\n",
            maildir, maildir);
    fclose(f);
    assert_int_equal(chmod(sendmail, 0700), 0);

    memset(&conf, 0, sizeof(conf));
    conf.prefix = "/dav";
    conf.store_path = store_pattern;
    conf.max_resource_size = 100000;
    conf.user_exists = fake_exists;
    conf.sendmail_path = sendmail;
    conf.sendmail_config_dir = "/etc/postfix-test";
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

static int
run_as(const char *user, const char *method, const char *path, const char *body,
       const char *ctype)
{
    caldav_request_t req;

    caldav_response_free(&resp);
    caldav_response_init(&resp);
    memset(&req, 0, sizeof(req));
    req.method = method;
    req.path = path;
    req.path_len = strlen(path);
    req.user = user;
    req.content_type = ctype;
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    caldav_handle(&conf, &req, &resp);
    return resp.status;
}

/* Unfolded copy of s (iCalendar lines folded by libical). */
static char *
unfold(const char *s)
{
    char  *o = malloc(strlen(s) + 1);
    size_t n = 0;

    assert_non_null(o);
    for (size_t i = 0; s[i] != '\0'; i++) {
        if (s[i] == '\r' && s[i + 1] == '\n'
            && (s[i + 2] == ' ' || s[i + 2] == '\t')) {
            i += 2;
            continue;
        }
        o[n++] = s[i];
    }
    o[n] = '\0';
    return o;
}

/* The objects of USER's collection COLL holding every needle. */
typedef struct {
    const char *const *needles;
    int                count;
    char               name[300];
    char              *data; /* the last match, unfolded */
} match_t;

static int
match_cb(const caldav_obj_t *o, void *arg)
{
    match_t *m = arg;
    char    *raw, *u;

    raw = strndup(o->data, o->len);
    assert_non_null(raw);
    u = unfold(raw);
    free(raw);
    for (size_t i = 0; m->needles[i] != NULL; i++) {
        if (strstr(u, m->needles[i]) == NULL) {
            free(u);
            return 0;
        }
    }
    m->count++;
    snprintf(m->name, sizeof(m->name), "%s", o->name);
    free(m->data);
    m->data = u;
    return 0;
}

static int
count_objs(const char *user, const char *coll, const char *const *needles,
           match_t *m_r)
{
    caldav_store_t *st;
    caldav_coll_t   c;
    mtr_err_t       err;
    match_t         m;

    memset(&m, 0, sizeof(m));
    m.needles = needles;
    st = caldav_store_for(&conf, user, &err);
    assert_non_null(st);
    memset(&c, 0, sizeof(c));
    assert_int_equal(caldav_store_coll_get(st, coll, &c, &err), MTR_OK);
    assert_int_equal(
        caldav_store_obj_walk(st, c.id, NULL, 0, 0, 0, 1, match_cb, &m, &err),
        MTR_OK);
    caldav_coll_clear(&c);
    if (m_r != NULL) {
        *m_r = m;
    } else {
        free(m.data);
    }
    return m.count;
}

#define N(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* Mails the fake sendmail saved whose message holds needle; the last
 * one's argv and message are copied out when asked. */
static int
count_mails(const char *needle, char *args_r, size_t args_size)
{
    DIR           *d = opendir(maildir);
    struct dirent *e;
    int            n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        char   path[700], buf[65536];
        FILE  *f;
        size_t len, l;

        l = strlen(e->d_name);
        if (l < 4 || strcmp(e->d_name + l - 4, ".msg") != 0) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", maildir, e->d_name);
        f = fopen(path, "r");
        assert_non_null(f);
        len = fread(buf, 1, sizeof(buf) - 1, f);
        buf[len] = '\0';
        fclose(f);
        if (strstr(buf, needle) == NULL) {
            continue;
        }
        n++;
        if (args_r != NULL) {
            memcpy(path + strlen(path) - 4, ".args", 6);
            f = fopen(path, "r");
            assert_non_null(f);
            len = fread(args_r, 1, args_size - 1, f);
            args_r[len] = '\0';
            fclose(f);
        }
    }
    closedir(d);
    return n;
}

static char *
event(const char *uid, const char *start, const char *summary,
      const char *attendees)
{
    char *s = NULL;

    assert_true(
        asprintf(&s,
                 "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
                 "BEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20260101T000000Z\r\n"
                 "DTSTART:%s\r\nDURATION:PT1H\r\nSUMMARY:%s\r\n"
                 "ORGANIZER;CN=Alice:mailto:" ALICE "\r\n%s"
                 "END:VEVENT\r\nEND:VCALENDAR\r\n",
                 uid, start, summary, attendees)
        > 0);
    return s;
}

#define ATT_ALICE "ATTENDEE;PARTSTAT=ACCEPTED:mailto:" ALICE "\r\n"
#define ATT_BOB                                                                \
    "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:Bob@Example.TEST\r\n"
#define ATT_CAROL                                                              \
    "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:" CAROL "\r\n"

/* Replace the first `from` in s by `to` (a new string). */
static char *
subst(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    char       *o = NULL;

    assert_non_null(at);
    assert_true(
        asprintf(&o, "%.*s%s%s", (int) (at - s), s, to, at + strlen(from)) > 0);
    return o;
}

static void
test_invite_update_reply(void **state)
{
    char    args[2048], *ev, *ev2, *mine, etag[80];
    match_t m;

    (void) state;
    ev = event("sched-1", "20260301T100000Z", "Planning",
               ATT_ALICE ATT_BOB ATT_CAROL);
    printf("invite: alice -> bob (local), carol (outside)\n");
    assert_int_equal(run_as(ALICE, "PUT", ACAL "p.ics", ev, "text/calendar"),
                     201);
    snprintf(etag, sizeof(etag), "%s", resp.etag);
    assert_non_null(strstr(resp.log, "REQUEST bob@example.test delivered"));
    assert_non_null(strstr(resp.log, "REQUEST carol@outside.test mailed"));
    /* the organizer's bytes are stored as sent */
    assert_int_equal(run_as(ALICE, "GET", ACAL "p.ics", NULL, NULL), 200);
    assert_string_equal(resp.body.data, ev);
    assert_string_equal(resp.etag, etag);

    assert_int_equal(
        count_objs(BOB, "inbox", N("METHOD:REQUEST", "UID:sched-1"), NULL), 1);
    assert_int_equal(
        count_objs(BOB, "default",
                   N("UID:sched-1", "SUMMARY:Planning",
                     "PARTSTAT=NEEDS-ACTION:mailto:Bob@Example.TEST"),
                   &m),
        1);
    assert_null(strstr(m.data, "METHOD"));
    free(m.data);

    printf("iMIP to carol through sendmail\n");
    assert_int_equal(count_mails("To: <" CAROL ">", args, sizeof(args)), 1);
    assert_string_equal(args, "-C\n/etc/postfix-test\n-i\n-f\n" ALICE
                              "\n--\n" CAROL "\n");
    assert_int_equal(count_mails("Content-Type: text/calendar; charset=utf-8;"
                                 " method=REQUEST",
                                 NULL, 0),
                     1);
    assert_int_equal(count_mails("METHOD:REQUEST", NULL, 0), 1);
    assert_int_equal(count_mails("Subject: Invitation: Planning", NULL, 0), 1);

    printf("update: bob's copy follows\n");
    ev2 = subst(ev, "SUMMARY:Planning", "SUMMARY:Planning v2");
    assert_int_equal(run_as(ALICE, "PUT", ACAL "p.ics", ev2, "text/calendar"),
                     204);
    assert_int_equal(count_objs(BOB, "inbox", N("METHOD:REQUEST"), NULL), 2);
    assert_int_equal(count_objs(BOB, "default", N("SUMMARY:Planning v2"), &m),
                     1);
    printf("reply: bob accepts in his copy\n");
    mine = subst(m.data, "PARTSTAT=NEEDS-ACTION:mailto:Bob",
                 "PARTSTAT=ACCEPTED:mailto:Bob");
    {
        char path[400];

        snprintf(path, sizeof(path), BCAL "%s", m.name);
        free(m.data);
        assert_int_equal(run_as(BOB, "PUT", path, mine, "text/calendar"), 204);
        assert_non_null(strstr(resp.log, "REPLY alice@example.test delivered"));
        assert_int_equal(
            count_objs(ALICE, "inbox",
                       N("METHOD:REPLY", "UID:sched-1", "PARTSTAT=ACCEPTED"),
                       &m),
            1);
        /* the REPLY names only bob */
        assert_null(strstr(m.data, CAROL));
        free(m.data);
        assert_int_equal(
            count_objs(
                ALICE, "default",
                N("UID:sched-1", "PARTSTAT=ACCEPTED:mailto:Bob@Example.TEST"),
                NULL),
            1);
        /* the same bytes again: no second REPLY */
        assert_int_equal(run_as(BOB, "PUT", path, mine, "text/calendar"), 204);
        assert_int_equal(count_objs(ALICE, "inbox", N("METHOD:REPLY"), NULL),
                         1);
    }
    free(mine);

    printf("update without moving: bob's answer stands\n");
    {
        char *ev3 = subst(ev2, "SUMMARY:Planning v2", "SUMMARY:Planning v3");

        assert_int_equal(
            run_as(ALICE, "PUT", ACAL "p.ics", ev3, "text/calendar"), 204);
        assert_int_equal(
            count_objs(BOB, "default",
                       N("SUMMARY:Planning v3", "PARTSTAT=ACCEPTED:mailto:Bob"),
                       NULL),
            1);
        printf("moved: bob is asked again\n");
        free(ev2);
        ev2 =
            subst(ev3, "DTSTART:20260301T100000Z", "DTSTART:20260302T100000Z");
        free(ev3);
        assert_int_equal(
            run_as(ALICE, "PUT", ACAL "p.ics", ev2, "text/calendar"), 204);
        assert_int_equal(count_objs(BOB, "default",
                                    N("DTSTART:20260302T100000Z",
                                      "PARTSTAT=NEEDS-ACTION:mailto:Bob"),
                                    NULL),
                         1);
    }

    printf("delete: CANCEL, bob's copy gone\n");
    assert_int_equal(run_as(ALICE, "DELETE", ACAL "p.ics", NULL, NULL), 204);
    assert_non_null(strstr(resp.log, "CANCEL bob@example.test delivered"));
    assert_int_equal(
        count_objs(BOB, "inbox", N("METHOD:CANCEL", "STATUS:CANCELLED"), NULL),
        1);
    assert_int_equal(count_objs(BOB, "default", N("UID:sched-1"), NULL), 0);
    assert_int_equal(count_mails("method=CANCEL", args, sizeof(args)), 1);
    assert_non_null(strstr(args, CAROL));
    free(ev);
    free(ev2);
}

static void
test_attendee_removed(void **state)
{
    char *ev, *ev2;

    (void) state;
    ev = event("sched-2", "20260301T100000Z", "Team", ATT_ALICE ATT_BOB);
    assert_int_equal(run_as(ALICE, "PUT", ACAL "t.ics", ev, "text/calendar"),
                     201);
    assert_int_equal(count_objs(BOB, "default", N("UID:sched-2"), NULL), 1);
    ev2 = subst(ev, ATT_BOB, "");
    assert_int_equal(run_as(ALICE, "PUT", ACAL "t.ics", ev2, "text/calendar"),
                     204);
    assert_non_null(strstr(resp.log, "CANCEL bob@example.test delivered"));
    assert_int_equal(count_objs(BOB, "default", N("UID:sched-2"), NULL), 0);
    assert_int_equal(count_objs(BOB, "inbox", N("METHOD:CANCEL"), NULL), 1);
    free(ev);
    free(ev2);
}

/* Objects that must not schedule anything, by name. */
static void
test_no_scheduling(void **state)
{
    static const struct {
        const char *name;
        const char *user;
        const char *path;
        const char *attendees;
        const char *organizer_from, *organizer_to; /* substitution */
    } cases[] = {
        { "no attendees", ALICE, ACAL "a.ics", "", NULL, NULL },
        { "only the organizer", ALICE, ACAL "b.ics", ATT_ALICE, NULL, NULL },
        { "SCHEDULE-AGENT=CLIENT on the attendee", ALICE, ACAL "c.ics",
          "ATTENDEE;SCHEDULE-AGENT=CLIENT:mailto:" BOB "\r\n", NULL, NULL },
        { "SCHEDULE-AGENT=CLIENT on the organizer", ALICE, ACAL "d.ics",
          ATT_BOB, "ORGANIZER;CN=Alice:", "ORGANIZER;SCHEDULE-AGENT=CLIENT:" },
        { "no organizer", ALICE, ACAL "e.ics", ATT_BOB,
          "ORGANIZER;CN=Alice:mailto:" ALICE "\r\n", "" },
        { "organizer is somebody else, requester not invited", BOB,
          BCAL "f.ics", ATT_CAROL, NULL, NULL },
    };

    (void) state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char  uid[32];
        char *ev, *ev2;

        printf("case: %s\n", cases[i].name);
        snprintf(uid, sizeof(uid), "none-%zu", i);
        ev = event(uid, "20260301T100000Z", "X", cases[i].attendees);
        ev2 = cases[i].organizer_from
                  ? subst(ev, cases[i].organizer_from, cases[i].organizer_to)
                  : strdup(ev);
        assert_int_equal(
            run_as(cases[i].user, "PUT", cases[i].path, ev2, "text/calendar"),
            201);
        assert_string_equal(resp.log, "");
        assert_int_equal(
            run_as(cases[i].user, "DELETE", cases[i].path, NULL, NULL), 204);
        assert_string_equal(resp.log, "");
        free(ev);
        free(ev2);
    }
    assert_int_equal(count_objs(BOB, "inbox", N("BEGIN"), NULL), 0);
    assert_int_equal(count_objs(BOB, "default", N("BEGIN"), NULL), 0);
    assert_int_equal(count_mails("BEGIN", NULL, 0), 0);
}

static void
test_decline_by_delete(void **state)
{
    char   *ev, path[400];
    match_t m;

    (void) state;
    ev = event("sched-3", "20260301T100000Z", "Review", ATT_ALICE ATT_BOB);
    assert_int_equal(run_as(ALICE, "PUT", ACAL "r.ics", ev, "text/calendar"),
                     201);
    assert_int_equal(count_objs(BOB, "default", N("UID:sched-3"), &m), 1);
    free(m.data);
    snprintf(path, sizeof(path), BCAL "%s", m.name);
    assert_int_equal(run_as(BOB, "DELETE", path, NULL, NULL), 204);
    assert_non_null(strstr(resp.log, "REPLY alice@example.test delivered"));
    assert_int_equal(count_objs(ALICE, "inbox",
                                N("METHOD:REPLY", "PARTSTAT=DECLINED"), NULL),
                     1);
    assert_int_equal(
        count_objs(ALICE, "default", N("PARTSTAT=DECLINED:mailto:Bob"), NULL),
        1);
    free(ev);
}

/* bob claims alice organizes an event she does not have: nothing of it
 * reaches alice. */
static void
test_forged_reply(void **state)
{
    char *ev, *ev2;

    (void) state;
    ev = event("forged-1", "20260301T100000Z", "Fake", ATT_ALICE ATT_BOB);
    ev2 = subst(ev, "PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED");
    assert_int_equal(run_as(BOB, "PUT", BCAL "x.ics", ev2, "text/calendar"),
                     201);
    assert_non_null(strstr(resp.log, "REPLY alice@example.test failed"));
    assert_int_equal(count_objs(ALICE, "inbox", N("BEGIN"), NULL), 0);
    free(ev);
    free(ev2);
}

/* alice knows the UID of an event of bob's own (he organizes it, or it is
 * his private one): inviting bob with that UID must neither overwrite nor,
 * on deletion, cancel it. */
static void
test_uid_hijack(void **state)
{
    char *mine, *ev;

    (void) state;
    ev = event("bobs-own", "20260301T100000Z", "Bob private", "");
    mine = subst(ev, "ORGANIZER;CN=Alice:mailto:" ALICE "\r\n", "");
    assert_int_equal(run_as(BOB, "PUT", BCAL "own.ics", mine, "text/calendar"),
                     201);
    free(ev);
    free(mine);
    ev = event("bobs-own", "20260301T100000Z", "Hijacked", ATT_ALICE ATT_BOB);
    printf("alice invites bob with the UID of bob's own event\n");
    assert_int_equal(run_as(ALICE, "PUT", ACAL "h.ics", ev, "text/calendar"),
                     201);
    assert_non_null(strstr(resp.log, "REQUEST bob@example.test failed"));
    assert_int_equal(count_objs(BOB, "default", N("SUMMARY:Bob private"), NULL),
                     1);
    assert_int_equal(count_objs(BOB, "default", N("SUMMARY:Hijacked"), NULL),
                     0);
    assert_int_equal(count_objs(BOB, "inbox", N("BEGIN"), NULL), 0);
    printf("alice deletes it: bob's event stays\n");
    assert_int_equal(run_as(ALICE, "DELETE", ACAL "h.ics", NULL, NULL), 204);
    assert_int_equal(count_objs(BOB, "default", N("UID:bobs-own"), NULL), 1);
    assert_int_equal(count_objs(BOB, "inbox", N("BEGIN"), NULL), 0);
    free(ev);
}

/* bob holds his copy of carol's (outside) event that also lists alice;
 * alice claims bob organizes it and answers: bob's copy is not his to
 * take answers for, so it stays as it is. */
static void
test_reply_to_non_organizer(void **state)
{
    char *ev, *bobs, *alices;

    (void) state;
    ev = event("carols-1", "20260301T100000Z", "Carol's",
               "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:" ALICE "\r\n"
               "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:" BOB "\r\n");
    bobs = subst(ev, "ORGANIZER;CN=Alice:mailto:" ALICE,
                 "ORGANIZER:mailto:" CAROL);
    assert_int_equal(run_as(BOB, "PUT", BCAL "c.ics", bobs, "text/calendar"),
                     201);
    assert_string_equal(resp.log, "");
    alices =
        subst(ev, "ORGANIZER;CN=Alice:mailto:" ALICE, "ORGANIZER:mailto:" BOB);
    free(ev);
    ev = subst(alices, "PARTSTAT=NEEDS-ACTION:mailto:" ALICE,
               "PARTSTAT=ACCEPTED:mailto:" ALICE);
    assert_int_equal(run_as(ALICE, "PUT", ACAL "c.ics", ev, "text/calendar"),
                     201);
    assert_non_null(strstr(resp.log, "REPLY bob@example.test failed"));
    assert_int_equal(count_objs(BOB, "default", N("UID:carols-1"), NULL), 1);
    assert_int_equal(count_objs(BOB, "default", N("PARTSTAT=ACCEPTED"), NULL),
                     0);
    assert_int_equal(count_objs(BOB, "inbox", N("BEGIN"), NULL), 0);
    free(ev);
    free(bobs);
    free(alices);
}

static void
test_imip_off(void **state)
{
    char *ev;

    (void) state;
    conf.sendmail_path = NULL;
    ev = event("sched-4", "20260301T100000Z", "Lunch", ATT_ALICE ATT_CAROL);
    assert_int_equal(run_as(ALICE, "PUT", ACAL "l.ics", ev, "text/calendar"),
                     201);
    assert_non_null(strstr(resp.log, "carol@outside.test not sent (5.1)"));
    assert_int_equal(count_mails("BEGIN", NULL, 0), 0);
    free(ev);
}

static void
test_sendmail_fails(void **state)
{
    char *ev;

    (void) state;
    conf.sendmail_path = "/bin/false";
    ev = event("sched-5", "20260301T100000Z", "Lunch", ATT_ALICE ATT_CAROL);
    assert_int_equal(run_as(ALICE, "PUT", ACAL "l.ics", ev, "text/calendar"),
                     201);
    assert_non_null(strstr(resp.log, "not sent (5.1): sendmail failed"));
    free(ev);
}

static void
test_freebusy_post(void **state)
{
    char       *ev;
    const char *req =
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
        "METHOD:REQUEST\r\nBEGIN:VFREEBUSY\r\nUID:fb-1\r\n"
        "DTSTAMP:20260101T000000Z\r\nDTSTART:20260301T000000Z\r\n"
        "DTEND:20260302T000000Z\r\nORGANIZER:mailto:" ALICE "\r\n"
        "ATTENDEE:mailto:" BOB "\r\nATTENDEE:mailto:nobody@example.test\r\n"
        "END:VFREEBUSY\r\nEND:VCALENDAR\r\n";

    (void) state;
    /* bob is busy 10-11 */
    ev = event("busy-1", "20260301T100000Z", "Busy", "");
    {
        char *bobs = subst(ev, "mailto:" ALICE, "mailto:" BOB);

        assert_int_equal(
            run_as(BOB, "PUT", BCAL "busy.ics", bobs, "text/calendar"), 201);
        free(bobs);
    }
    assert_int_equal(run_as(ALICE, "POST", "/dav/calendars/" ALICE "/outbox/",
                            req, "text/calendar"),
                     200);
    assert_non_null(strstr(resp.body.data, "<C:schedule-response"));
    assert_non_null(strstr(resp.body.data,
                           "mailto:" BOB "</D:href></C:recipient>"
                           "<C:request-status>2.0;"));
    assert_non_null(strstr(resp.body.data,
                           "FREEBUSY;FBTYPE=BUSY:20260301T100000Z/"
                           "20260301T110000Z"));
    assert_non_null(strstr(resp.body.data, "METHOD:REPLY"));
    assert_non_null(strstr(resp.body.data, "UID:fb-1"));
    assert_non_null(strstr(resp.body.data, "mailto:nobody@example.test"
                                           "</D:href></C:recipient>"
                                           "<C:request-status>3.7;"));

    printf("refusals\n");
    assert_int_equal(run_as(BOB, "POST", "/dav/calendars/" BOB "/outbox/", req,
                            "text/calendar"),
                     403);
    assert_non_null(strstr(resp.body.data, "C:organizer-allowed"));
    assert_int_equal(run_as(ALICE, "POST", "/dav/calendars/" ALICE "/outbox/",
                            req, "text/plain"),
                     415);
    assert_int_equal(run_as(ALICE, "POST", "/dav/calendars/" ALICE "/outbox/",
                            ev, "text/calendar"),
                     403);
    assert_int_equal(run_as(BOB, "POST", "/dav/calendars/" ALICE "/outbox/",
                            req, "text/calendar"),
                     403);
    free(ev);
}

/* An inbox nobody reads keeps the newest CALDAV_SCHED_INBOX_MAX (500). */
static void
test_inbox_bounded(void **state)
{
    char *ev;
    char  summary[32];

    (void) state;
    for (int i = 0; i < 505; i++) {
        snprintf(summary, sizeof(summary), "Round %d", i);
        ev = event("flood-1", "20260301T100000Z", summary, ATT_ALICE ATT_BOB);
        assert_true(run_as(ALICE, "PUT", ACAL "flood.ics", ev, "text/calendar")
                        / 100
                    == 2);
        free(ev);
    }
    assert_int_equal(count_objs(BOB, "inbox", N("UID:flood-1"), NULL), 500);
    /* the newest stayed, the oldest went */
    assert_int_equal(count_objs(BOB, "inbox", N("SUMMARY:Round 504\r"), NULL),
                     1);
    assert_int_equal(count_objs(BOB, "inbox", N("SUMMARY:Round 0\r"), NULL), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_invite_update_reply, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_attendee_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_scheduling, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decline_by_delete, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_forged_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uid_hijack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reply_to_non_organizer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_imip_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sendmail_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_freebusy_post, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inbox_bounded, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);

    caldav_response_free(&resp);
    return rc;
}
