/*
 * caldav_sched.c -- CalDAV scheduling (RFC 6638): implicit scheduling of
 * organizer and attendee writes, local delivery to inboxes and calendars,
 * iMIP (RFC 6047) through Postfix's sendmail, free-busy through the outbox.
 *
 * Core (no host header).  Covered by tests/unit/test_caldav_sched.c and
 * tests/integration/test_dav_scheduling.py.  The contract is in
 * caldav_sched.h; how it is built:
 *
 *   - The object is parsed with libical once per role (sobj_parse: UID,
 *     ORGANIZER, ATTENDEEs with PARTSTAT and SCHEDULE-AGENT, of the first
 *     scheduling component kind found, master's values first), and every
 *     message or copy is built from the stored text again (build()), so
 *     one transformation never leaks into the next.  X-LIC-ERROR
 *     properties (libical's rendering of unknown IANA properties) are
 *     dropped before serializing: they would make the copy invalid.
 *
 *   - Stores of other users come from the handler's per-thread cache
 *     (caldav_store_for); a pointer is used only until the next
 *     caldav_store_for() call, since the cache may close it.
 *
 *   - sendmail runs through posix_spawn() with a socketpair as its stdin
 *     (send() with MSG_NOSIGNAL: a child that dies early cannot raise
 *     SIGPIPE in an nginx thread), no inherited descriptors beyond 0-2, an
 *     empty signal mask (nginx's pool threads block every signal) and a
 *     fixed PATH-only environment; the whole run is bounded by
 *     CALDAV_SCHED_SENDMAIL_MS, then the child is killed.  nginx's worker
 *     reaps children from its SIGCHLD handler: a waitpid() that finds no
 *     child (ECHILD) after the message was written in full counts as
 *     submitted.
 *
 *   - Addresses taken from calendar data (mailto:) are lower-cased and
 *     checked to a conservative set of bytes before they reach a path, a
 *     header or an argv (after "--"); anything else is not scheduled.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* posix_spawn_file_actions_addclosefrom_np */
#endif
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libical/ical.h>

#include "caldav_ical.h"
#include "caldav_ical_util.h"
#include "caldav_sched.h"
#include "caldav_types.h"

#define SCHED_PARTSTAT_MAX 32
#define SCHED_SUMMARY_MAX  160 /* bytes of SUMMARY shown in a mail */

/* ---------------------------------------------------------------- */
/* the summary line for the log                                       */

typedef struct {
    char  *buf;
    size_t size;
    size_t len;
} slog_t;

static void slog_add(slog_t *l, const char *fmt, ...) MTR_PRINTF(2, 3);

static void
slog_add(slog_t *l, const char *fmt, ...)
{
    va_list ap;
    int     n;

    if (l->buf == NULL || l->size < 8) {
        return;
    }
    if (l->len == 0) {
        n = snprintf(l->buf, l->size, "scheduling:");
        l->len = n > 0 && (size_t) n < l->size ? (size_t) n : 0;
    }
    if (l->len + 4 >= l->size) {
        return;
    }
    l->buf[l->len++] = ' ';
    l->buf[l->len] = '\0';
    va_start(ap, fmt);
    n = vsnprintf(l->buf + l->len, l->size - l->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    if ((size_t) n >= l->size - l->len) {
        /* a log line, not data: mark the cut instead of failing */
        memcpy(l->buf + l->size - 4, "...", 4);
        l->len = l->size - 1;
        return;
    }
    l->len += (size_t) n;
}

/* ---------------------------------------------------------------- */
/* addresses and names                                                */

/*
 * "mailto:Bob@Example.TEST" -> "bob@example.test" in out (CALDAV_MAX_USER
 * + 1 bytes).  0 when v is not a mailto: address made of safe bytes: no
 * controls, spaces, quotes, brackets, ',' ';' ':' '/' '%' '\\', one '@'.
 */
static int
addr_from_cal(const char *v, char *out)
{
    size_t n, at = 0, ats = 0;

    out[0] = '\0';
    if (v == NULL || strncasecmp(v, "mailto:", 7) != 0) {
        return 0;
    }
    v += 7;
    n = strlen(v);
    if (n == 0 || n > CALDAV_MAX_USER) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char) v[i];

        if (ch <= 0x20 || ch >= 0x7f || strchr("<>()[]\\,;:\"/%'`|&$", ch)) {
            return 0;
        }
        if (ch == '@') {
            at = i;
            ats++;
        }
        out[i] = (char) tolower(ch);
    }
    out[n] = '\0';
    if (ats != 1 || at == 0 || at == n - 1 || v[0] == '-') {
        out[0] = '\0';
        return 0;
    }
    return 1;
}

static const char *
addr_domain(const char *a)
{
    const char *at = strchr(a, '@');

    return at ? at + 1 : "";
}

static int
is_local(const caldav_conf_t *conf, const char *addr)
{
    return conf->user_exists != NULL
           && conf->user_exists(conf->user_ctx, addr, NULL, 0);
}

/* 32 hex digits of randomness (resource names, Message-ID, boundary). */
static void
rand_hex(char out[33])
{
    static const char        hex[] = "0123456789abcdef";
    static __thread unsigned counter;
    unsigned char            r[16];

    if (getrandom(r, sizeof(r), 0) != (ssize_t) sizeof(r)) {
        /* unique enough for names: time, thread-local counter, address */
        uint64_t t = (uint64_t) time(NULL), k = ++counter;
        uint64_t a = (uint64_t) (uintptr_t) &counter;

        memcpy(r, &t, 8);
        k ^= a;
        memcpy(r + 8, &k, 8);
    }
    for (size_t i = 0; i < 16; i++) {
        out[2 * i] = hex[r[i] >> 4];
        out[2 * i + 1] = hex[r[i] & 0x0f];
    }
    out[32] = '\0';
}

/* ---------------------------------------------------------------- */
/* parsing                                                            */

typedef struct {
    char addr[CALDAV_MAX_USER + 1];
    char partstat[SCHED_PARTSTAT_MAX];
    int  skip; /* SCHEDULE-AGENT=CLIENT or NONE */
} att_t;

typedef struct {
    icalcomponent     *root;
    icalcomponent_kind kind;
    char               uid[512];
    char               org[CALDAV_MAX_USER + 1]; /* "" when none */
    int                org_skip;
    att_t             *att;
    size_t             n_att;
} sobj_t;

static void
sobj_free(sobj_t *o)
{
    if (o->root != NULL) {
        icalcomponent_free(o->root);
    }
    free(o->att);
    memset(o, 0, sizeof(*o));
}

static icalcomponent *
parse_text(const char *data, size_t len)
{
    icalcomponent *root;
    char          *text = malloc(len + 1);

    if (text == NULL) {
        return NULL;
    }
    memcpy(text, data, len);
    text[len] = '\0';
    root = icalparser_parse_string(text);
    free(text);
    if (root != NULL && icalcomponent_isa(root) != ICAL_VCALENDAR_COMPONENT) {
        icalcomponent_free(root);
        root = NULL;
    }
    return root;
}

/* A parameter in upper case into out ("" when absent). */
static void
param_get(icalproperty *p, const char *name, char *out, size_t size)
{
    char  *s = icalproperty_get_parameter_as_string_r(p, name);
    size_t i;

    out[0] = '\0';
    if (s == NULL) {
        return;
    }
    for (i = 0; s[i] != '\0' && i + 1 < size; i++) {
        out[i] = (char) toupper((unsigned char) s[i]);
    }
    out[i] = '\0';
    free(s);
}

static int
agent_skips(icalproperty *p)
{
    char a[16];

    param_get(p, "SCHEDULE-AGENT", a, sizeof(a));
    return strcmp(a, "CLIENT") == 0 || strcmp(a, "NONE") == 0;
}

static int
sched_kind(icalcomponent_kind k)
{
    return k == ICAL_VEVENT_COMPONENT || k == ICAL_VTODO_COMPONENT
           || k == ICAL_VJOURNAL_COMPONENT;
}

static const char *
kind_name(icalcomponent_kind k)
{
    return k == ICAL_VTODO_COMPONENT      ? "VTODO"
           : k == ICAL_VJOURNAL_COMPONENT ? "VJOURNAL"
                                          : "VEVENT";
}

static int
is_master(icalcomponent *k)
{
    return icalcomponent_get_first_property(k, ICAL_RECURRENCEID_PROPERTY)
           == NULL;
}

/* Parse data into o: 0 ok, -1 not a parsable calendar. */
static int
sobj_parse(const char *data, size_t len, sobj_t *o)
{
    icalcomponent *k;

    memset(o, 0, sizeof(*o));
    o->root = parse_text(data, len);
    if (o->root == NULL) {
        return -1;
    }
    for (k = icalcomponent_get_first_component(o->root, ICAL_ANY_COMPONENT);
         k != NULL;
         k = icalcomponent_get_next_component(o->root, ICAL_ANY_COMPONENT))
    {
        icalcomponent_kind kk = icalcomponent_isa(k);
        int                master = is_master(k);
        icalproperty      *p;
        const char        *uid;

        if (!sched_kind(kk) || (o->kind != 0 && kk != o->kind)) {
            continue;
        }
        o->kind = kk;
        uid = icalcomponent_get_uid(k);
        if (o->uid[0] == '\0' && uid != NULL) {
            snprintf(o->uid, sizeof(o->uid), "%s", uid);
        }
        p = icalcomponent_get_first_property(k, ICAL_ORGANIZER_PROPERTY);
        if (p != NULL && (o->org[0] == '\0' || master)
            && addr_from_cal(icalproperty_get_organizer(p), o->org))
        {
            o->org_skip = agent_skips(p);
        }
        for (p = icalcomponent_get_first_property(k, ICAL_ATTENDEE_PROPERTY);
             p != NULL;
             p = icalcomponent_get_next_property(k, ICAL_ATTENDEE_PROPERTY))
        {
            char   addr[CALDAV_MAX_USER + 1];
            att_t *a = NULL;

            if (!addr_from_cal(icalproperty_get_attendee(p), addr)) {
                continue;
            }
            for (size_t i = 0; i < o->n_att; i++) {
                if (strcmp(o->att[i].addr, addr) == 0) {
                    a = &o->att[i];
                    break;
                }
            }
            if (a == NULL) {
                att_t *v;

                if (o->n_att == CALDAV_SCHED_MAX_ATTENDEES) {
                    continue;
                }
                v = realloc(o->att, (o->n_att + 1) * sizeof(*v));
                if (v == NULL) {
                    sobj_free(o);
                    return -1;
                }
                o->att = v;
                a = &o->att[o->n_att++];
                memset(a, 0, sizeof(*a));
                memcpy(a->addr, addr, sizeof(addr));
            } else if (!master) {
                continue; /* the master's parameters win */
            }
            param_get(p, "PARTSTAT", a->partstat, sizeof(a->partstat));
            if (a->partstat[0] == '\0') {
                snprintf(a->partstat, sizeof(a->partstat), "NEEDS-ACTION");
            }
            a->skip = agent_skips(p);
        }
    }
    if (o->kind == 0 || o->uid[0] == '\0') {
        sobj_free(o);
        return -1;
    }
    return 0;
}

static const att_t *
att_find(const sobj_t *o, const char *addr)
{
    for (size_t i = 0; o != NULL && i < o->n_att; i++) {
        if (strcmp(o->att[i].addr, addr) == 0) {
            return &o->att[i];
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------- */
/* building copies and iTIP messages                                  */

typedef enum {
    MSG_COPY = 0, /* an attendee's calendar copy: no METHOD */
    MSG_REQUEST,
    MSG_CANCEL,
    MSG_REPLY
} msg_e;

static const char *const msg_method[] = { NULL, "REQUEST", "CANCEL", "REPLY" };


static int
prop_addr_is(icalproperty *p, const char *addr)
{
    char        a[CALDAV_MAX_USER + 1];
    const char *v = icalproperty_isa(p) == ICAL_ORGANIZER_PROPERTY
                        ? icalproperty_get_organizer(p)
                        : icalproperty_get_attendee(p);

    return addr_from_cal(v, a) && strcmp(a, addr) == 0;
}

static void
strip_sched_params(icalproperty *p)
{
    icalproperty_remove_parameter_by_kind(p, ICAL_SCHEDULESTATUS_PARAMETER);
    icalproperty_remove_parameter_by_kind(p, ICAL_SCHEDULEFORCESEND_PARAMETER);
}

/*
 * Transform one scheduling component for message m.  addr/partstat: the
 * attendee whose PARTSTAT is set (COPY, REPLY; partstat NULL keeps it).
 * Returns 0 when the component is to be dropped (a REPLY for a component
 * that does not list addr).
 */
static int
build_comp(icalcomponent *k, msg_e m, const char *addr, const char *partstat)
{
    icalproperty *p, *drop[CALDAV_SCHED_MAX_ATTENDEES];
    size_t        nd = 0;
    int           mine = 0;

    for (p = icalcomponent_get_first_property(k, ICAL_ANY_PROPERTY); p != NULL;
         p = icalcomponent_get_next_property(k, ICAL_ANY_PROPERTY))
    {
        icalproperty_kind pk = icalproperty_isa(p);

        if (pk != ICAL_ATTENDEE_PROPERTY && pk != ICAL_ORGANIZER_PROPERTY) {
            continue;
        }
        strip_sched_params(p);
        if (pk != ICAL_ATTENDEE_PROPERTY || addr == NULL) {
            continue;
        }
        if (prop_addr_is(p, addr)) {
            mine = 1;
            if (partstat != NULL) {
                icalproperty_set_parameter_from_string(p, "PARTSTAT", partstat);
            }
            if (m == MSG_REPLY) {
                icalproperty_remove_parameter_by_kind(p, ICAL_RSVP_PARAMETER);
            }
        } else if (m == MSG_REPLY && nd < CALDAV_SCHED_MAX_ATTENDEES) {
            drop[nd++] = p;
        }
    }
    for (size_t i = 0; i < nd; i++) {
        icalcomponent_remove_property(k, drop[i]);
        icalproperty_free(drop[i]);
    }
    if (m == MSG_CANCEL) {
        icalcomponent_set_status(k, ICAL_STATUS_CANCELLED);
    }
    if (m == MSG_REPLY) {
        icalcomponent *a;

        if (!mine) {
            return 0;
        }
        /* the attendee's own alarms are nobody else's business */
        while ((a = icalcomponent_get_first_component(k, ICAL_VALARM_COMPONENT))
               != NULL)
        {
            icalcomponent_remove_component(k, a);
            icalcomponent_free(a);
        }
        icalcomponent_set_dtstamp(k, icaltime_current_time_with_zone(
                                         icaltimezone_get_utc_timezone()));
    }
    return 1;
}

/*
 * The text of data turned into message m (see msg_e): malloc'd,
 * NUL-terminated, *len_r bytes; NULL with err set.
 */
static char *
build(const char *data, size_t len, msg_e m, const char *addr,
      const char *partstat, size_t *len_r, mtr_err_t *err)
{
    icalcomponent     *root = parse_text(data, len), *k;
    icalcomponent     *drop[64];
    icalcomponent_kind kind = 0;
    size_t             nd = 0, kept = 0;
    char              *out;

    if (root == NULL) {
        mtr_err_set(err, "calendar data does not parse");
        return NULL;
    }
    caldav_ical_strip_lic_errors(root);
    caldav_ical_remove_props(root, ICAL_METHOD_PROPERTY);
    for (k = icalcomponent_get_first_component(root, ICAL_ANY_COMPONENT);
         k != NULL;
         k = icalcomponent_get_next_component(root, ICAL_ANY_COMPONENT))
    {
        icalcomponent_kind kk = icalcomponent_isa(k);

        if (!sched_kind(kk)) {
            continue;
        }
        if (kind == 0) {
            kind = kk;
        }
        if (kk == kind && build_comp(k, m, addr, partstat)) {
            kept++;
        } else if (nd < sizeof(drop) / sizeof(drop[0])) {
            drop[nd++] = k;
        }
    }
    for (size_t i = 0; i < nd; i++) {
        icalcomponent_remove_component(root, drop[i]);
        icalcomponent_free(drop[i]);
    }
    if (kept == 0) {
        icalcomponent_free(root);
        mtr_err_set(err, "no component left for %s", addr ? addr : "?");
        return NULL;
    }
    if (msg_method[m] != NULL) {
        icalcomponent_add_property(
            root,
            icalproperty_new_method(icalenum_string_to_method(msg_method[m])));
    }
    out = icalcomponent_as_ical_string_r(root);
    icalcomponent_free(root);
    if (out == NULL) {
        mtr_err_set(err, "cannot serialize calendar data");
        return NULL;
    }
    *len_r = strlen(out);
    return out;
}

/* SUMMARY and DTSTART of the first scheduling component, for mail text. */
static void
describe(const char *data, size_t len, char *summary, size_t ssize, char *when,
         size_t wsize)
{
    icalcomponent *root = parse_text(data, len), *k = NULL;
    const char    *s = NULL;

    snprintf(summary, ssize, "(no title)");
    when[0] = '\0';
    if (root == NULL) {
        return;
    }
    for (k = icalcomponent_get_first_component(root, ICAL_ANY_COMPONENT);
         k != NULL && !sched_kind(icalcomponent_isa(k));
         k = icalcomponent_get_next_component(root, ICAL_ANY_COMPONENT))
    {
    }
    if (k != NULL) {
        icalproperty *p;

        s = icalcomponent_get_summary(k);
        if (s != NULL && s[0] != '\0') {
            size_t n = 0;

            /* copy without controls, cut on a UTF-8 boundary */
            for (size_t i = 0;
                 s[i] != '\0' && n + 4 < ssize && n < SCHED_SUMMARY_MAX; i++) {
                unsigned char ch = (unsigned char) s[i];

                if (ch < 0x20 || ch == 0x7f) {
                    ch = ' ';
                }
                summary[n++] = (char) ch;
            }
            while (n > 0 && ((unsigned char) summary[n - 1] & 0xc0) == 0x80) {
                n--;
            }
            if (n > 0 && (unsigned char) summary[n - 1] >= 0xc0) {
                n--;
            }
            summary[n] = '\0';
        }
        p = icalcomponent_get_first_property(k, ICAL_DTSTART_PROPERTY);
        if (p != NULL) {
            char *v = icalproperty_get_value_as_string_r(p);
            char  tz[80];

            param_get(p, "TZID", tz, sizeof(tz));
            if (v != NULL) {
                snprintf(when, wsize, "%s%s%s%s", v, tz[0] ? " (" : "", tz,
                         tz[0] ? ")" : "");
                for (char *c = when; *c; c++) {
                    if ((unsigned char) *c < 0x20) {
                        *c = ' ';
                    }
                }
                free(v);
            }
        }
    }
    icalcomponent_free(root);
}

/* ---------------------------------------------------------------- */
/* iMIP: a MIME message through sendmail                              */

static void
b64(caldav_buf_t *b, const unsigned char *p, size_t n)
{
    static const char t[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned) p[i] << 16;
        char     q[4];

        if (i + 1 < n) {
            v |= (unsigned) p[i + 1] << 8;
        }
        if (i + 2 < n) {
            v |= p[i + 2];
        }
        q[0] = t[(v >> 18) & 63];
        q[1] = t[(v >> 12) & 63];
        q[2] = i + 1 < n ? t[(v >> 6) & 63] : '=';
        q[3] = i + 2 < n ? t[v & 63] : '=';
        caldav_buf_add(b, q, 4);
    }
}

/* A Subject: header, RFC 2047 encoded-words when s is not plain ASCII. */
static void
add_subject(caldav_buf_t *b, const char *prefix, const char *s)
{
    size_t n = strlen(s), i = 0;
    int    ascii = 1;

    for (size_t j = 0; j < n; j++) {
        if ((unsigned char) s[j] >= 0x7f) {
            ascii = 0;
        }
    }
    caldav_buf_printf(b, "Subject: %s", prefix);
    if (ascii) {
        caldav_buf_printf(b, "%s\n", s);
        return;
    }
    while (i < n) {
        size_t c = n - i > 30 ? 30 : n - i;

        /* never split a UTF-8 sequence between two words */
        while (i + c < n && c > 0 && ((unsigned char) s[i + c] & 0xc0) == 0x80)
        {
            c--;
        }
        if (c == 0) {
            break;
        }
        caldav_buf_adds(b, i ? "\n =?utf-8?B?" : "=?utf-8?B?");
        b64(b, (const unsigned char *) s + i, c);
        caldav_buf_adds(b, "?=");
        i += c;
    }
    caldav_buf_adds(b, "\n");
}

/* Append text with CRLF made LF (sendmail takes local line ends). */
static void
add_lf(caldav_buf_t *b, const char *p, size_t n)
{
    size_t s = 0;

    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n') {
            caldav_buf_add(b, p + s, i - s);
            s = i + 1;
        }
    }
    caldav_buf_add(b, p + s, n - s);
}

static int
imip_message(caldav_buf_t *b, const char *from, const char *to, msg_e m,
             const char *partstat, const char *ical, size_t ical_len)
{
    char      summary[SCHED_SUMMARY_MAX + 8], when[128], bnd[33], mid[33];
    char      date[64];
    time_t    now = time(NULL);
    struct tm tm;

    describe(ical, ical_len, summary, sizeof(summary), when, sizeof(when));
    rand_hex(bnd);
    rand_hex(mid);
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);

    caldav_buf_printf(b, "From: <%s>\nTo: <%s>\n", from, to);
    add_subject(b,
                m == MSG_REQUEST  ? "Invitation: "
                : m == MSG_CANCEL ? "Cancelled: "
                                  : "Reply: ",
                summary);
    caldav_buf_printf(b,
                      "Date: %s\nMessage-ID: <%s@%s>\nMIME-Version: 1.0\n"
                      "Content-Type: multipart/alternative;"
                      " boundary=\"=_mortar_%s\"\n\n"
                      "This is a calendar message in MIME format.\n\n"
                      "--=_mortar_%s\n"
                      "Content-Type: text/plain; charset=utf-8\n"
                      "Content-Transfer-Encoding: 8bit\n\n",
                      date, mid, addr_domain(from), bnd, bnd);
    if (m == MSG_REQUEST) {
        caldav_buf_printf(b, "%s invites you to: %s\n", from, summary);
    } else if (m == MSG_CANCEL) {
        caldav_buf_printf(b, "%s has cancelled: %s\n", from, summary);
    } else {
        caldav_buf_printf(b, "%s has replied %s to: %s\n", from,
                          partstat ? partstat : "", summary);
    }
    if (when[0] != '\0') {
        caldav_buf_printf(b, "When: %s\n", when);
    }
    caldav_buf_printf(b,
                      "\nYour calendar program can read the attached "
                      "invitation.\n\n--=_mortar_%s\n"
                      "Content-Type: text/calendar; charset=utf-8;"
                      " method=%s\n"
                      "Content-Transfer-Encoding: 8bit\n\n",
                      bnd, msg_method[m]);
    add_lf(b, ical, ical_len);
    caldav_buf_printf(b, "\n--=_mortar_%s--\n", bnd);
    return b->failed ? MTR_ERROR : MTR_OK;
}

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run conf->sendmail_path for one recipient with msg on stdin. */
static int
run_sendmail(const caldav_conf_t *conf, const char *from, const char *to,
             const char *msg, size_t len, mtr_err_t *err)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t          attr;
    sigset_t                   none, deflt;
    char   *argv[10], *envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
    int     sv[2], rc, status = 0, n = 0, written = 0;
    pid_t   pid;
    size_t  off = 0;
    int64_t deadline = now_ms() + CALDAV_SCHED_SENDMAIL_MS;

    argv[n++] = (char *) conf->sendmail_path;
    if (conf->sendmail_config_dir != NULL && conf->sendmail_config_dir[0]) {
        argv[n++] = "-C";
        argv[n++] = (char *) conf->sendmail_config_dir;
    }
    argv[n++] = "-i";
    argv[n++] = "-f";
    argv[n++] = (char *) from;
    argv[n++] = "--";
    argv[n++] = (char *) to;
    argv[n] = NULL;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        return mtr_err_set(err, "socketpair: %s", strerror(errno));
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
#if defined(__GLIBC__)                                                         \
    && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
    posix_spawnattr_init(&attr);
    sigemptyset(&none);
    sigemptyset(&deflt);
    sigaddset(&deflt, SIGPIPE);
    sigaddset(&deflt, SIGCHLD);
    sigaddset(&deflt, SIGHUP);
    sigaddset(&deflt, SIGINT);
    sigaddset(&deflt, SIGQUIT);
    sigaddset(&deflt, SIGTERM);
    sigaddset(&deflt, SIGUSR1);
    sigaddset(&deflt, SIGUSR2);
    sigaddset(&deflt, SIGALRM);
    sigaddset(&deflt, SIGXFSZ);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &deflt);
    posix_spawnattr_setflags(&attr,
                             POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    rc = posix_spawn(&pid, conf->sendmail_path, &fa, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(sv[1]);
    if (rc != 0) {
        close(sv[0]);
        return mtr_err_set(err, "cannot run %s: %s", conf->sendmail_path,
                           strerror(rc));
    }

    while (off < len) {
        struct pollfd pfd = { .fd = sv[0], .events = POLLOUT };
        int64_t       left = deadline - now_ms();
        ssize_t       w;

        if (left <= 0 || poll(&pfd, 1, (int) left) <= 0) {
            if (errno == EINTR && left > 0) {
                continue;
            }
            break;
        }
        w = send(sv[0], msg + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                continue;
            }
            break;
        }
        off += (size_t) w;
    }
    written = off == len;
    close(sv[0]);

    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);

        if (r == pid) {
            break;
        }
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            /* reaped by the host's SIGCHLD handler (see the top) */
            if (written) {
                return MTR_OK;
            }
            return mtr_err_set(err, "sendmail stopped reading its input");
        }
        if (now_ms() >= deadline) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            return mtr_err_set(err, "sendmail did not finish in %d ms",
                               CALDAV_SCHED_SENDMAIL_MS);
        }
        {
            struct timespec ts = { 0, 10 * 1000 * 1000 };

            nanosleep(&ts, NULL);
        }
    }
    /* the exit status first: a sendmail that fails may well exit before
     * it reads what we wrote */
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return mtr_err_set(err, "sendmail failed (%s %d)",
                           WIFEXITED(status) ? "exit" : "signal",
                           WIFEXITED(status) ? WEXITSTATUS(status)
                                             : WTERMSIG(status));
    }
    if (!written) {
        return mtr_err_set(err, "sendmail stopped reading its input");
    }
    return MTR_OK;
}

static int
imip_send(const caldav_conf_t *conf, const char *from, const char *to, msg_e m,
          const char *partstat, const char *ical, size_t ical_len,
          mtr_err_t *err)
{
    caldav_buf_t b;
    int          rc;

    if (conf->sendmail_path == NULL || conf->sendmail_path[0] == '\0') {
        return mtr_err_set(err, "iMIP is off (no caldav_sendmail)");
    }
    caldav_buf_init(&b);
    if (imip_message(&b, from, to, m, partstat, ical, ical_len) != MTR_OK) {
        caldav_buf_free(&b);
        return mtr_err_set(err, "message too large");
    }
    rc = run_sendmail(conf, from, to, b.data, b.len, err);
    caldav_buf_free(&b);
    return rc;
}

/* ---------------------------------------------------------------- */
/* local delivery                                                     */

/* An object found by UID in one of a user's calendars. */
typedef struct {
    const char *uid;
    int         found;
    int64_t     coll_id;
    char        name[CALDAV_STORE_MAX_NAME + 1];
    char        etag[72];
    int64_t     first_start, last_end;
    char       *data; /* malloc'd */
    size_t      len;
} found_t;

static int
uid_cb(const caldav_obj_t *o, void *arg)
{
    found_t *f = arg;

    if (o->uid == NULL || strcmp(o->uid, f->uid) != 0) {
        return 0;
    }
    f->found = 1;
    snprintf(f->name, sizeof(f->name), "%s", o->name);
    return 1;
}

static int
data_cb(const caldav_obj_t *o, void *arg)
{
    found_t *f = arg;

    snprintf(f->etag, sizeof(f->etag), "%s", o->etag);
    f->first_start = o->first_start;
    f->last_end = o->last_end;
    if (o->data != NULL) {
        f->data = malloc(o->len + 1);
        if (f->data != NULL) {
            memcpy(f->data, o->data, o->len);
            f->data[o->len] = '\0';
            f->len = o->len;
        }
    }
    return 0;
}

/*
 * Find uid in the calendars of st.  *home_r: the collection to make a new
 * copy in ("default", else the first calendar), filled when found == 0.
 * MTR_OK (f->found tells), MTR_ERROR.
 */
static int
find_uid(caldav_store_t *st, const char *uid, found_t *f, caldav_coll_t *home_r,
         mtr_err_t *err)
{
    caldav_coll_t *v = NULL;
    size_t         n = 0, i;
    int            rc = MTR_OK, home = -1;

    memset(f, 0, sizeof(*f));
    f->uid = uid;
    if (caldav_store_coll_list(st, CALDAV_COLL_CALENDAR, &v, &n, err) != MTR_OK)
    {
        return MTR_ERROR;
    }
    for (i = 0; i < n; i++) {
        if (home < 0
            || (strcmp(v[i].name, "default") == 0
                && strcmp(v[home].name, "default") != 0))
        {
            home = (int) i;
        }
        if (f->found) {
            continue;
        }
        if (caldav_store_obj_walk(st, v[i].id, NULL, 0, 0, 0, 0, uid_cb, f, err)
            != MTR_OK)
        {
            rc = MTR_ERROR;
            break;
        }
        if (f->found) {
            f->coll_id = v[i].id;
        }
    }
    if (rc == MTR_OK && f->found
        && caldav_store_obj_get(st, f->coll_id, f->name, 1, data_cb, f, err)
               != MTR_OK)
    {
        rc = MTR_ERROR;
    }
    if (rc == MTR_OK && f->found && f->data == NULL) {
        rc = mtr_err_set(err, "out of memory");
    }
    if (home_r != NULL) {
        memset(home_r, 0, sizeof(*home_r));
        if (home >= 0) {
            *home_r = v[home];
            memset(&v[home], 0, sizeof(v[home])); /* moved out */
        }
    }
    caldav_coll_list_free(v, n);
    return rc;
}

static int
quota_ok(const caldav_conf_t *conf, caldav_store_t *st, size_t len,
         mtr_err_t *err)
{
    uint64_t used = 0, objs = 0;

    if (conf->quota_bytes == 0) {
        return MTR_OK;
    }
    if (caldav_store_usage(st, &used, &objs, err) != MTR_OK) {
        return MTR_ERROR;
    }
    if (used + len > conf->quota_bytes) {
        return mtr_err_set(err, "storage quota reached");
    }
    return MTR_OK;
}

/*
 * An inbox keeps at most CALDAV_SCHED_INBOX_MAX messages: clients that
 * process scheduling messages delete them, others (DAVx5, Thunderbird)
 * never read the inbox, and every changed save of an organizer adds one.
 * The oldest go first.
 */
#define CALDAV_SCHED_INBOX_MAX 500

typedef struct {
    char **names;
    size_t n, cap;
    int    failed;
} names_t;

static int
names_collect(const caldav_obj_t *o, void *arg)
{
    names_t *l = arg;
    char   **nv;

    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        nv = realloc(l->names, l->cap * sizeof(*nv));
        if (nv == NULL) {
            l->failed = 1;
            return 1;
        }
        l->names = nv;
    }
    l->names[l->n] = strdup(o->name);
    if (l->names[l->n] == NULL) {
        l->failed = 1;
        return 1;
    }
    l->n++;
    return 0;
}

static void
inbox_trim(caldav_store_t *st, int64_t inbox_id)
{
    names_t   l;
    uint64_t  now = 0;
    int       truncated = 0;
    mtr_err_t err;

    memset(&l, 0, sizeof(l));
    /* live objects, oldest first */
    if (caldav_store_changes(st, inbox_id, 0, 0, 0, names_collect, &l, &now,
                             &truncated, &err)
            == MTR_OK
        && !l.failed)
    {
        for (size_t i = 0; i + CALDAV_SCHED_INBOX_MAX < l.n; i++) {
            (void) caldav_store_obj_delete(st, inbox_id, l.names[i], NULL,
                                           &err);
        }
    }
    for (size_t i = 0; i < l.n; i++) {
        free(l.names[i]);
    }
    free(l.names);
}

/* A new resource in the inbox of st's owner. */
static int
inbox_put(const caldav_conf_t *conf, caldav_store_t *st,
          icalcomponent_kind kind, const char *msg, size_t len, mtr_err_t *err)
{
    caldav_coll_t      inbox;
    caldav_obj_index_t ix;
    char               name[48], hex[33], etag[72];
    int                created = 0, rc;

    if (quota_ok(conf, st, len, err) != MTR_OK) {
        return MTR_ERROR;
    }
    memset(&inbox, 0, sizeof(inbox));
    rc = caldav_store_coll_get(st, "inbox", &inbox, err);
    if (rc != MTR_OK || inbox.kind != CALDAV_COLL_INBOX) {
        caldav_coll_clear(&inbox);
        return rc == MTR_OK ? mtr_err_set(err, "no scheduling inbox")
                            : MTR_ERROR;
    }
    /* an iTIP message is no calendar object: several share a UID, and
     * the index only has to list it */
    memset(&ix, 0, sizeof(ix));
    ix.comp = kind_name(kind);
    ix.first_start = CALDAV_TIME_MIN;
    ix.last_end = CALDAV_TIME_MAX;
    rand_hex(hex);
    snprintf(name, sizeof(name), "%s.ics", hex);
    rc = caldav_store_obj_put(st, inbox.id, name, msg, len, &ix, NULL, 1, etag,
                              &created, NULL, err);
    if (rc == MTR_OK) {
        inbox_trim(st, inbox.id);
    }
    caldav_coll_clear(&inbox);
    return rc == MTR_OK ? MTR_OK : MTR_ERROR;
}

/* Does data (a stored copy) name org as its ORGANIZER?  A user's object
 * with the same UID that someone else organizes (or nobody) is not a copy
 * the scheduling of org may touch. */
static int
organized_by(const char *data, size_t len, const char *org)
{
    sobj_t o;
    int    same;

    if (sobj_parse(data, len, &o) != 0) {
        return 0;
    }
    same = strcmp(o.org, org) == 0;
    sobj_free(&o);
    return same;
}

/*
 * Organizer -> local attendee: make or update their copy (REQUEST) or
 * delete it (CANCEL), then leave the message in their inbox.
 */
static int
deliver_local(const caldav_conf_t *conf, const sobj_t *o, const char *attendee,
              msg_e m, const char *data, size_t len, mtr_err_t *err)
{
    caldav_store_t *st = caldav_store_for(conf, attendee, err);
    found_t         f;
    caldav_coll_t   home = { 0 };
    char           *copy = NULL, *msg = NULL;
    size_t          copy_len = 0, msg_len = 0;
    int             rc = MTR_ERROR;

    if (st == NULL) {
        return MTR_ERROR;
    }
    if (find_uid(st, o->uid, &f, &home, err) != MTR_OK) {
        goto done;
    }
    if (f.found && !organized_by(f.data, f.len, o->org)) {
        mtr_err_set(err, "%s has another event with that UID", attendee);
        goto done;
    }
    if (m == MSG_REQUEST) {
        caldav_ical_index_t iix;
        caldav_obj_index_t  ix;
        const char         *precond = NULL, *ps = "NEEDS-ACTION";
        char                keep[SCHED_PARTSTAT_MAX], hex[33];
        char                name[CALDAV_STORE_MAX_NAME + 1], etag[72];
        int                 created = 0;
        int64_t             coll_id = f.found ? f.coll_id : home.id;
        const char         *comp_set = home.comp_set;

        if (!f.found && home.id == 0) {
            mtr_err_set(err, "%s has no calendar", attendee);
            goto done;
        }
        if (f.found) {
            sobj_t       old;
            const att_t *a;

            /* their answer stands unless the event moved */
            if (sobj_parse(f.data, f.len, &old) == 0) {
                a = att_find(&old, attendee);
                if (a != NULL) {
                    snprintf(keep, sizeof(keep), "%s", a->partstat);
                    ps = keep;
                }
                sobj_free(&old);
            }
        }
        copy = build(data, len, MSG_COPY, attendee, ps, &copy_len, err);
        if (copy == NULL) {
            goto done;
        }
        if (f.found) {
            comp_set = NULL; /* it is in that calendar already */
        }
        if (caldav_ical_check(copy, copy_len, comp_set, &iix, &precond, err)
            != MTR_OK) {
            goto done;
        }
        if (f.found && ps != NULL && strcmp(ps, "NEEDS-ACTION") != 0
            && (iix.first_start != f.first_start || iix.last_end != f.last_end))
        {
            /* moved: ask again */
            free(copy);
            copy = build(data, len, MSG_COPY, attendee, "NEEDS-ACTION",
                         &copy_len, err);
            if (copy == NULL) {
                goto done;
            }
        }
        if (quota_ok(conf, st, copy_len, err) != MTR_OK) {
            goto done;
        }
        memset(&ix, 0, sizeof(ix));
        ix.uid = iix.uid;
        ix.comp = iix.comp;
        ix.first_start = iix.first_start;
        ix.last_end = iix.last_end;
        ix.recurring = iix.recurring;
        if (f.found) {
            snprintf(name, sizeof(name), "%s", f.name);
        } else {
            rand_hex(hex);
            snprintf(name, sizeof(name), "%s.ics", hex);
        }
        if (caldav_store_obj_put(st, coll_id, name, copy, copy_len, &ix, NULL,
                                 0, etag, &created, NULL, err)
            != MTR_OK)
        {
            goto done;
        }
        msg = build(copy, copy_len, MSG_REQUEST, NULL, NULL, &msg_len, err);
    } else {
        if (f.found
            && caldav_store_obj_delete(st, f.coll_id, f.name, NULL, err)
                   != MTR_OK)
        {
            goto done;
        }
        msg = build(data, len, MSG_CANCEL, NULL, NULL, &msg_len, err);
    }
    if (msg == NULL) {
        goto done;
    }
    rc = inbox_put(conf, st, o->kind, msg, msg_len, err);

done:
    free(f.data);
    caldav_coll_clear(&home);
    free(copy);
    free(msg);
    return rc;
}

/* The iMIP message of one method, the same for every outside attendee:
 * built once per request (an object of up to max_resource_size times
 * CALDAV_SCHED_MAX_ATTENDEES parses would hold a thread for minutes). */
typedef struct {
    char  *msg;
    size_t len;
    int    tried;
    char   why[MTR_ERR_MAX];
} imip_msg_t;

static void
organizer_send(const caldav_conf_t *conf, const char *user, const sobj_t *o,
               const char *addr, msg_e m, const char *data, size_t len,
               imip_msg_t *im, slog_t *l)
{
    mtr_err_t err;

    memset(&err, 0, sizeof(err));
    if (is_local(conf, addr)) {
        if (deliver_local(conf, o, addr, m, data, len, &err) == MTR_OK) {
            slog_add(l, "%s %s delivered;", msg_method[m], addr);
        } else {
            slog_add(l, "%s %s failed: %s;", msg_method[m], addr, err.msg);
        }
        return;
    }
    if (!im->tried) {
        im->tried = 1;
        im->msg = build(data, len, m, NULL, NULL, &im->len, &err);
        if (im->msg == NULL) {
            snprintf(im->why, sizeof(im->why), "%s", err.msg);
        }
    }
    if (im->msg == NULL) {
        slog_add(l, "%s %s not sent (5.1): %s;", msg_method[m], addr, im->why);
    } else if (imip_send(conf, user, addr, m, NULL, im->msg, im->len, &err)
               != MTR_OK)
    {
        slog_add(l, "%s %s not sent (5.1): %s;", msg_method[m], addr, err.msg);
    } else {
        slog_add(l, "%s %s mailed;", msg_method[m], addr);
    }
}

/* Set PARTSTAT of user in the organizer's copy from the reply. */
static char *
apply_reply(const char *org_data, size_t org_len, const char *reply,
            size_t reply_len, const char *user, size_t *len_r, int *changed_r)
{
    icalcomponent *r = parse_text(org_data, org_len);
    icalcomponent *p = parse_text(reply, reply_len), *pk, *rk;
    char          *out = NULL;

    *changed_r = 0;
    if (r == NULL || p == NULL) {
        goto done;
    }
    for (pk = icalcomponent_get_first_component(p, ICAL_ANY_COMPONENT);
         pk != NULL;
         pk = icalcomponent_get_next_component(p, ICAL_ANY_COMPONENT))
    {
        icalproperty *pa, *rid = icalcomponent_get_first_property(
                              pk, ICAL_RECURRENCEID_PROPERTY);
        char *rid_s = rid ? icalproperty_get_value_as_string_r(rid) : NULL;
        char  ps[SCHED_PARTSTAT_MAX] = "";

        if (!sched_kind(icalcomponent_isa(pk))) {
            free(rid_s);
            continue;
        }
        for (pa = icalcomponent_get_first_property(pk, ICAL_ATTENDEE_PROPERTY);
             pa != NULL;
             pa = icalcomponent_get_next_property(pk, ICAL_ATTENDEE_PROPERTY))
        {
            if (prop_addr_is(pa, user)) {
                param_get(pa, "PARTSTAT", ps, sizeof(ps));
            }
        }
        for (rk = icalcomponent_get_first_component(r, ICAL_ANY_COMPONENT);
             rk != NULL && ps[0] != '\0';
             rk = icalcomponent_get_next_component(r, ICAL_ANY_COMPONENT))
        {
            icalproperty *rr = icalcomponent_get_first_property(
                rk, ICAL_RECURRENCEID_PROPERTY);
            char *rr_s = rr ? icalproperty_get_value_as_string_r(rr) : NULL;
            int   same =
                (rid_s == NULL && rr_s == NULL)
                || (rid_s != NULL && rr_s != NULL && strcmp(rid_s, rr_s) == 0);

            free(rr_s);
            if (!same || icalcomponent_isa(rk) != icalcomponent_isa(pk)) {
                continue;
            }
            for (pa = icalcomponent_get_first_property(rk,
                                                       ICAL_ATTENDEE_PROPERTY);
                 pa != NULL; pa = icalcomponent_get_next_property(
                                 rk, ICAL_ATTENDEE_PROPERTY))
            {
                if (prop_addr_is(pa, user)) {
                    icalproperty_set_parameter_from_string(pa, "PARTSTAT", ps);
                    icalproperty_remove_parameter_by_kind(
                        pa, ICAL_SCHEDULESTATUS_PARAMETER);
                    *changed_r = 1;
                }
            }
        }
        free(rid_s);
    }
    if (*changed_r) {
        caldav_ical_strip_lic_errors(r);
        out = icalcomponent_as_ical_string_r(r);
        if (out != NULL) {
            *len_r = strlen(out);
        }
    }

done:
    if (r != NULL) {
        icalcomponent_free(r);
    }
    if (p != NULL) {
        icalcomponent_free(p);
    }
    return out;
}

/* Attendee user -> organizer org (a local account): update their copy and
 * leave the REPLY in their inbox. */
static int
reply_local(const caldav_conf_t *conf, const char *user, const char *org,
            const sobj_t *o, const char *msg, size_t msg_len, mtr_err_t *err)
{
    caldav_store_t *st = caldav_store_for(conf, org, err);
    found_t         f;
    char           *upd = NULL, etag[72];
    size_t          upd_len = 0;
    int             changed = 0, created = 0, rc = MTR_ERROR;

    if (st == NULL) {
        return MTR_ERROR;
    }
    if (find_uid(st, o->uid, &f, NULL, err) != MTR_OK) {
        goto done;
    }
    /* only a real attendee of a real event may write to the organizer,
     * and only to an event org organizes (not org's copy of another's) */
    if (!f.found || !organized_by(f.data, f.len, org)) {
        mtr_err_set(err, "%s organizes no event %s", org, o->uid);
        goto done;
    }
    upd = apply_reply(f.data, f.len, msg, msg_len, user, &upd_len, &changed);
    if (!changed || upd == NULL) {
        mtr_err_set(err, "%s is not an attendee of %s's event", user, org);
        goto done;
    }
    {
        caldav_ical_index_t iix;
        caldav_obj_index_t  ix;
        const char         *precond = NULL;

        if (caldav_ical_check(upd, upd_len, NULL, &iix, &precond, err)
            != MTR_OK) {
            goto done;
        }
        memset(&ix, 0, sizeof(ix));
        ix.uid = iix.uid;
        ix.comp = iix.comp;
        ix.first_start = iix.first_start;
        ix.last_end = iix.last_end;
        ix.recurring = iix.recurring;
        /* If-Match: an organizer's write in between is not overwritten */
        if (caldav_store_obj_put(st, f.coll_id, f.name, upd, upd_len, &ix,
                                 f.etag, 0, etag, &created, NULL, err)
            != MTR_OK)
        {
            goto done;
        }
    }
    rc = inbox_put(conf, st, o->kind, msg, msg_len, err);

done:
    free(f.data);
    free(upd);
    return rc;
}

static void
attendee_reply(const caldav_conf_t *conf, const char *user, const sobj_t *o,
               const char *data, size_t len, const char *partstat, slog_t *l)
{
    mtr_err_t err;
    char     *msg;
    size_t    msg_len = 0;
    int       rc;

    memset(&err, 0, sizeof(err));
    msg = build(data, len, MSG_REPLY, user, partstat, &msg_len, &err);
    if (msg == NULL) {
        slog_add(l, "REPLY %s failed: %s;", o->org, err.msg);
        return;
    }
    if (is_local(conf, o->org)) {
        rc = reply_local(conf, user, o->org, o, msg, msg_len, &err);
        slog_add(l, "REPLY %s %s%s%s", o->org,
                 rc == MTR_OK ? "delivered" : "failed: ",
                 rc == MTR_OK ? "" : err.msg, ";");
    } else {
        const att_t *a = att_find(o, user);

        rc = imip_send(conf, user, o->org, MSG_REPLY,
                       partstat ? partstat
                       : a      ? a->partstat
                                : NULL,
                       msg, msg_len, &err);
        slog_add(l, "REPLY %s %s%s%s", o->org,
                 rc == MTR_OK ? "mailed" : "not sent (5.1): ",
                 rc == MTR_OK ? "" : err.msg, ";");
    }
    free(msg);
}

/* ---------------------------------------------------------------- */
/* the decisions                                                      */

static int
organizes(const sobj_t *o, const char *user)
{
    return o != NULL && o->root != NULL && !o->org_skip
           && strcmp(o->org, user) == 0;
}

/* old/new: the previous and the new text (NULL when none). */
static void
schedule(const caldav_conf_t *conf, const char *user, const char *old,
         size_t old_len, const char *data, size_t len, slog_t *l)
{
    sobj_t     o, n;
    sobj_t    *op = NULL, *np = NULL;
    imip_msg_t req = { 0 }, cancel = { 0 };

    if (old != NULL && data != NULL && old_len == len
        && memcmp(old, data, len) == 0)
    {
        return; /* the same bytes again: nothing to tell anybody */
    }
    if (old != NULL && sobj_parse(old, old_len, &o) == 0) {
        op = &o;
    }
    if (data != NULL && sobj_parse(data, len, &n) == 0) {
        np = &n;
    }

    if (organizes(np, user)) {
        for (size_t i = 0; i < np->n_att; i++) {
            const att_t *a = &np->att[i];

            if (!a->skip && strcmp(a->addr, user) != 0) {
                organizer_send(conf, user, np, a->addr, MSG_REQUEST, data, len,
                               &req, l);
            }
        }
    }
    if (organizes(op, user) && (np == NULL || strcmp(np->uid, op->uid) == 0)) {
        for (size_t i = 0; i < op->n_att; i++) {
            const att_t *a = &op->att[i];

            if (a->skip || strcmp(a->addr, user) == 0
                || (organizes(np, user) && att_find(np, a->addr) != NULL))
            {
                continue;
            }
            organizer_send(conf, user, op, a->addr, MSG_CANCEL, old, old_len,
                           &cancel, l);
        }
    }

    /* the attendee's side */
    if (np != NULL && np->org[0] != '\0' && strcmp(np->org, user) != 0
        && !np->org_skip)
    {
        const att_t *a = att_find(np, user);
        const att_t *b = op != NULL && strcmp(op->org, np->org) == 0
                             ? att_find(op, user)
                             : NULL;

        if (a != NULL && !a->skip
            && (b != NULL ? strcmp(a->partstat, b->partstat) != 0
                          : strcmp(a->partstat, "NEEDS-ACTION") != 0))
        {
            attendee_reply(conf, user, np, data, len, NULL, l);
        }
    } else if (np == NULL && op != NULL && op->org[0] != '\0'
               && strcmp(op->org, user) != 0 && !op->org_skip)
    {
        const att_t *b = att_find(op, user);

        if (b != NULL && !b->skip && strcmp(b->partstat, "DECLINED") != 0) {
            attendee_reply(conf, user, op, old, old_len, "DECLINED", l);
        }
    }
    if (op != NULL) {
        sobj_free(op);
    }
    if (np != NULL) {
        sobj_free(np);
    }
    free(req.msg);
    free(cancel.msg);
}

static int
old_cb(const caldav_obj_t *o, void *arg)
{
    caldav_buf_t *b = arg;

    if (o->data != NULL) {
        caldav_buf_add(b, o->data, o->len);
    }
    return 0;
}

/* The current text of the object, when scheduling may need it. */
static void
read_old(caldav_store_t *st, int64_t coll_id, const char *name, caldav_buf_t *b)
{
    mtr_err_t err;

    caldav_buf_init(b);
    if (caldav_store_obj_get(st, coll_id, name, 1, old_cb, b, &err) != MTR_OK
        || b->failed)
    {
        caldav_buf_free(b);
        caldav_buf_init(b);
    }
}

static int
wants_sched(const char *user, const char *owner, const caldav_coll_t *coll)
{
    return coll->kind == CALDAV_COLL_CALENDAR && user != NULL && owner != NULL
           && strcmp(user, owner) == 0;
}

int
caldav_sched_put(const caldav_conf_t *conf, const char *user, const char *owner,
                 const caldav_coll_t *coll, caldav_store_t *st,
                 const char *name, const char *data, size_t len,
                 const caldav_obj_index_t *ix, const char *if_match,
                 int if_none_match_star, char *etag_r, int *created_r,
                 char *conflict_name_r, char *log, size_t log_size,
                 mtr_err_t *err)
{
    caldav_buf_t old;
    slog_t       l = { log, log_size, 0 };
    int          sched = wants_sched(user, owner, coll), rc;

    caldav_buf_init(&old);
    if (sched) {
        read_old(st, coll->id, name, &old);
    }
    rc = caldav_store_obj_put(st, coll->id, name, data, len, ix, if_match,
                              if_none_match_star, etag_r, created_r,
                              conflict_name_r, err);
    if (rc == MTR_OK && sched) {
        schedule(conf, user, old.len ? old.data : NULL, old.len, data, len, &l);
    }
    caldav_buf_free(&old);
    return rc;
}

int
caldav_sched_delete(const caldav_conf_t *conf, const char *user,
                    const char *owner, const caldav_coll_t *coll,
                    caldav_store_t *st, const char *name, const char *if_match,
                    char *log, size_t log_size, mtr_err_t *err)
{
    caldav_buf_t old;
    slog_t       l = { log, log_size, 0 };
    int          sched = wants_sched(user, owner, coll), rc;

    caldav_buf_init(&old);
    if (sched) {
        read_old(st, coll->id, name, &old);
    }
    rc = caldav_store_obj_delete(st, coll->id, name, if_match, err);
    if (rc == MTR_OK && sched && old.len > 0) {
        schedule(conf, user, old.data, old.len, NULL, 0, &l);
    }
    caldav_buf_free(&old);
    return rc;
}

/* ---------------------------------------------------------------- */
/* free-busy through the outbox                                       */

static void
post_error(caldav_response_t *resp, int status, const char *precond,
           const char *msg)
{
    caldav_buf_free(&resp->body);
    caldav_buf_init(&resp->body);
    resp->status = status;
    resp->content_type = "application/xml; charset=utf-8";
    caldav_buf_adds(&resp->body, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                                 "<D:error xmlns:D=\"DAV:\""
                                 " xmlns:C=\"urn:ietf:params:xml:ns:caldav\""
                                 " xmlns:M=\"urn:mortar:dav\">");
    if (precond != NULL) {
        caldav_buf_printf(&resp->body, "<%s/>", precond);
    }
    caldav_buf_adds(&resp->body, "<M:message>");
    caldav_buf_add_xml(&resp->body, msg, strlen(msg));
    caldav_buf_adds(&resp->body, "</M:message></D:error>\n");
    snprintf(resp->log, sizeof(resp->log), "%d %s%s%s", status, msg,
             precond ? " " : "", precond ? precond : "");
}

/* "NAME:value" folded at 75 octets, never inside a UTF-8 sequence. */
static void
add_line(caldav_buf_t *b, const char *name, const char *value)
{
    caldav_buf_t l;
    size_t       i = 0, w = 75;

    caldav_buf_init(&l);
    caldav_buf_printf(&l, "%s:", name);
    for (const char *p = value; *p; p++) {
        if ((unsigned char) *p >= 0x20 && *p != 0x7f) {
            caldav_buf_add(&l, p, 1);
        }
    }
    while (i < l.len) {
        size_t c = l.len - i > w ? w : l.len - i;

        while (i + c < l.len && c > 1
               && ((unsigned char) l.data[i + c] & 0xc0) == 0x80) {
            c--;
        }
        if (i > 0) {
            caldav_buf_adds(b, " ");
        }
        caldav_buf_add(b, l.data + i, c);
        caldav_buf_adds(b, "\r\n");
        i += c;
        w = 74;
    }
    if (l.failed) {
        b->failed = 1;
    }
    caldav_buf_free(&l);
}

typedef struct {
    const caldav_time_range_t *range;
    const char                *tz;
    caldav_ical_periods_t      periods;
} fbq_t;

static int
fbq_cb(const caldav_obj_t *o, void *arg)
{
    fbq_t    *f = arg;
    mtr_err_t err;

    if (o->data != NULL) {
        /* an unreadable object is skipped, as in free-busy-query */
        (void) caldav_ical_freebusy_add(o->data, o->len, f->range, f->tz,
                                        &f->periods, &err);
    }
    return 0;
}

/* The VFREEBUSY reply of one local attendee into out. */
static int
fb_reply(const caldav_conf_t *conf, const char *org, const char *att,
         const char *uid, const caldav_time_range_t *range, caldav_buf_t *out,
         mtr_err_t *err)
{
    caldav_store_t *st = caldav_store_for(conf, att, err);
    caldav_coll_t  *v = NULL;
    size_t          n = 0;
    fbq_t           f;
    caldav_buf_t    fb;
    const char     *mark = "BEGIN:VFREEBUSY\r\n", *at;
    char            val[CALDAV_MAX_USER + 16];
    int             rc = MTR_ERROR;

    memset(&f, 0, sizeof(f));
    f.range = range;
    caldav_buf_init(&fb);
    if (st == NULL
        || caldav_store_coll_list(st, CALDAV_COLL_CALENDAR, &v, &n, err)
               != MTR_OK)
    {
        return MTR_ERROR;
    }
    for (size_t i = 0; i < n; i++) {
        f.tz = v[i].timezone;
        if (caldav_store_obj_walk(st, v[i].id, NULL, range->start, range->end,
                                  1, 1, fbq_cb, &f, err)
            != MTR_OK)
        {
            goto done;
        }
    }
    if (caldav_ical_freebusy_render(&f.periods, range, &fb, err) != MTR_OK) {
        goto done;
    }
    at = fb.data ? strstr(fb.data, mark) : NULL;
    if (at == NULL || strncmp(fb.data, "BEGIN:VCALENDAR\r\n", 17) != 0) {
        mtr_err_set(err, "unexpected free-busy text");
        goto done;
    }
    at += strlen(mark);
    caldav_buf_adds(out, "BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\n");
    caldav_buf_add(out, fb.data + 17, (size_t) (at - fb.data) - 17);
    if (uid != NULL && uid[0] != '\0') {
        add_line(out, "UID", uid);
    }
    snprintf(val, sizeof(val), "mailto:%s", org);
    add_line(out, "ORGANIZER", val);
    snprintf(val, sizeof(val), "mailto:%s", att);
    add_line(out, "ATTENDEE", val);
    caldav_buf_add(out, at, fb.len - (size_t) (at - fb.data));
    rc = out->failed ? mtr_err_set(err, "response too large") : MTR_OK;

done:
    caldav_ical_periods_free(&f.periods);
    caldav_coll_list_free(v, n);
    caldav_buf_free(&fb);
    return rc;
}

static int
ct_is_calendar(const char *ct)
{
    while (ct != NULL && (*ct == ' ' || *ct == '\t')) {
        ct++;
    }
    return ct != NULL && strncasecmp(ct, "text/calendar", 13) == 0
           && (ct[13] == '\0' || ct[13] == ';' || ct[13] == ' ');
}

static int
prop_time(icalcomponent *k, icalproperty_kind kind, int64_t *t_r)
{
    icalproperty       *p = icalcomponent_get_first_property(k, kind);
    struct icaltimetype t;

    if (p == NULL) {
        return -1;
    }
    t = kind == ICAL_DTSTART_PROPERTY ? icalproperty_get_dtstart(p)
                                      : icalproperty_get_dtend(p);
    if (icaltime_is_null_time(t) || !icaltime_is_valid_time(t)) {
        return -1;
    }
    *t_r = (int64_t) icaltime_as_timet_with_zone(
        t, t.zone ? t.zone : icaltimezone_get_utc_timezone());
    return 0;
}

void
caldav_sched_post(const caldav_conf_t *conf, const char *user,
                  const char *content_type, const char *body, size_t body_len,
                  caldav_response_t *resp)
{
    icalcomponent      *root = NULL, *fb;
    icalproperty       *p;
    caldav_time_range_t range;
    char                org[CALDAV_MAX_USER + 1];
    const char         *uid;
    caldav_buf_t       *out = &resp->body;
    size_t              count = 0;

    if (!ct_is_calendar(content_type)) {
        post_error(resp, 415, "C:supported-calendar-data",
                   "a scheduling message is text/calendar");
        return;
    }
    if (body_len > CALDAV_ICAL_MAX_SIZE || body == NULL
        || (root = parse_text(body, body_len)) == NULL)
    {
        post_error(resp, 400, "C:valid-calendar-data",
                   "the body is not one VCALENDAR");
        return;
    }
    p = icalcomponent_get_first_property(root, ICAL_METHOD_PROPERTY);
    fb = icalcomponent_get_first_component(root, ICAL_VFREEBUSY_COMPONENT);
    if (p == NULL || icalproperty_get_method(p) != ICAL_METHOD_REQUEST
        || fb == NULL)
    {
        icalcomponent_free(root);
        post_error(resp, 403, "C:valid-scheduling-message",
                   "the outbox takes a VFREEBUSY METHOD:REQUEST only: "
                   "invitations are sent when the event is stored");
        return;
    }
    p = icalcomponent_get_first_property(fb, ICAL_ORGANIZER_PROPERTY);
    if (p == NULL || !addr_from_cal(icalproperty_get_organizer(p), org)
        || strcmp(org, user) != 0)
    {
        icalcomponent_free(root);
        post_error(resp, 403, "C:organizer-allowed",
                   "the ORGANIZER must be the owner of the outbox");
        return;
    }
    if (prop_time(fb, ICAL_DTSTART_PROPERTY, &range.start) != 0
        || prop_time(fb, ICAL_DTEND_PROPERTY, &range.end) != 0
        || range.end <= range.start)
    {
        icalcomponent_free(root);
        post_error(resp, 400, "C:valid-calendar-data",
                   "the VFREEBUSY needs DTSTART before DTEND");
        return;
    }
    uid = icalcomponent_get_uid(fb);

    caldav_buf_free(out);
    caldav_buf_init(out);
    caldav_buf_adds(out, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                         "<C:schedule-response xmlns:D=\"DAV:\""
                         " xmlns:C=\"urn:ietf:params:xml:ns:caldav\">\n");
    for (p = icalcomponent_get_first_property(fb, ICAL_ATTENDEE_PROPERTY);
         p != NULL && count < CALDAV_SCHED_MAX_FB_USERS;
         p = icalcomponent_get_next_property(fb, ICAL_ATTENDEE_PROPERTY))
    {
        const char  *v = icalproperty_get_attendee(p);
        char         att[CALDAV_MAX_USER + 1];
        caldav_buf_t cal;
        mtr_err_t    err;

        count++;
        caldav_buf_adds(out, "<C:response><C:recipient><D:href>");
        caldav_buf_add_xml(out, v ? v : "", v ? strlen(v) : 0);
        caldav_buf_adds(out, "</D:href></C:recipient>");
        /* only accounts a principal search would show: the same domain */
        if (!addr_from_cal(v, att)
            || strcmp(addr_domain(att), addr_domain(user)) != 0
            || !is_local(conf, att))
        {
            caldav_buf_adds(out, "<C:request-status>3.7;Invalid calendar user"
                                 "</C:request-status></C:response>\n");
            continue;
        }
        caldav_buf_init(&cal);
        memset(&err, 0, sizeof(err));
        if (fb_reply(conf, user, att, uid, &range, &cal, &err) != MTR_OK) {
            caldav_buf_adds(out, "<C:request-status>5.1;Service unavailable"
                                 "</C:request-status></C:response>\n");
            snprintf(resp->log, sizeof(resp->log),
                     "free-busy of %s failed: %.150s", att, err.msg);
        } else {
            caldav_buf_adds(out, "<C:request-status>2.0;Success"
                                 "</C:request-status><C:calendar-data>");
            caldav_buf_add_xml(out, cal.data, cal.len);
            caldav_buf_adds(out, "</C:calendar-data></C:response>\n");
        }
        caldav_buf_free(&cal);
    }
    caldav_buf_adds(out, "</C:schedule-response>\n");
    icalcomponent_free(root);
    if (out->failed) {
        post_error(resp, 507, NULL, "response too large");
        return;
    }
    resp->status = 200;
    resp->content_type = "application/xml; charset=utf-8";
}
