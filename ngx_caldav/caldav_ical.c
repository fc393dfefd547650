/*
 * caldav_ical.c -- iCalendar logic of the CalDAV core: validation and
 * index of a calendar object resource (RFC 4791 4.1), calendar-query
 * filters (RFC 4791 9.7, 9.9), expand and limit-recurrence-set (9.6.5,
 * 9.6.6) and free-busy (7.10), on libical 3.0.
 *
 * Core (no host header).  Covered by tests/unit/test_caldav_ical.c.
 *
 * How it is built:
 *
 *   - Before libical sees a PUT body, scan_content() walks its content
 *     lines itself: libical is lenient (it drops a second VCALENDAR and
 *     trailing garbage without a word, turns broken lines into X-LIC-ERROR
 *     properties and prints some complaints to stderr), while a calendar
 *     collection must refuse anything that is not one well-formed
 *     VCALENDAR.  The scan checks the content-line grammar (name, quoted
 *     parameters, no control bytes), BEGIN/END nesting and the component
 *     cap; libical's X-LIC-ERRORs then catch values that do not parse.
 *     Unknown IANA property names are allowed (libical keeps them as
 *     X-LIC-ERROR, so they cannot be filtered on, but the stored bytes
 *     are untouched).
 *
 *   - Recurrences are expanded here, not with
 *     icalcomponent_foreach_recurrence(), which ignores RECURRENCE-ID
 *     overrides, PERIOD-valued RDATEs and the floating timezone.  A
 *     "shape" holds what one component says about its instances (start,
 *     how the end follows, excluded dates); walk() visits the instances of
 *     a shape inside a window, with the master's DTSTART, its RRULEs (each
 *     iterated by icalrecur_iterator, jumped to the window with
 *     icalrecur_iterator_set_start() when the rule allows it), its RDATEs,
 *     minus EXDATEs and minus the instances that an override replaces.
 *     Overrides are shapes of their own.
 *
 *   - libical 3.0.16's icalrecur_iterator_set_start() refuses COUNT rules
 *     and is wrong for HOURLY/MINUTELY/SECONDLY rules with INTERVAL > 1
 *     (it takes the difference of the clock fields modulo the interval):
 *     those are iterated from DTSTART, which is correct and bounded by
 *     CALDAV_ICAL_MAX_INSTANCES.  DTSTART always counts as an instance
 *     (RFC 5545 3.8.5.3) even when the rule does not produce it.
 *
 *   - Times become UTC seconds as early as possible.  A TZID is looked up
 *     in the object's own VTIMEZONEs first, then in libical's built-in
 *     Olson database (also trying the tail of prefixed TZIDs such as
 *     "/mozilla.org/20070129_1/Europe/Berlin"), else UTC.  Floating times
 *     and DATE values use the given timezone (parsed only when a floating
 *     value is met), else UTC.  The index of caldav_ical_check() is in UTC
 *     for floating times: the handler widens its index lookups by 14 hours.
 *
 * Limits, on purpose: RANGE=THISANDFUTURE overrides replace only their own
 * instance; EXRULE is ignored; an override's own RRULE is ignored; a
 * time-range on a VCALENDAR or VTIMEZONE comp-filter never matches; text
 * of multi-valued properties is matched per value as libical splits them
 * (CATEGORIES:a,b is two values); expanded output is re-serialized by
 * libical, which drops unknown IANA properties and loses the backslash of
 * escaped commas in X- properties.
 *
 * Threads: every call is independent and allocates its own libical
 * objects.  libical's global state (built-in timezone cache, error mode,
 * first timezone expansion year, TZID prefix) is set up once by
 * caldav_ical_init() before threads start; afterwards libical guards its
 * built-in zone cache with its own mutexes and keeps icalerrno and its
 * temporary ring buffer per thread.  Only the *_r variants of libical's
 * string functions are used here.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem() when built by nginx's configure */
#endif
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libical/ical.h>

#include "caldav_ical.h"
#include "caldav_ical_util.h"
#include "caldav_text.h"

#define SCAN_NAME_MAX    64          /* longest property or parameter name */
#define SCAN_VALUE_KEEP  64          /* value bytes kept for BEGIN / END */
#define SCAN_DEPTH_MAX   16          /* component nesting */
#define JUMP_SLACK       (2 * 86400) /* margin before an iterator jump */
#define DAY              86400
#define ALARM_REPEAT_MAX 1000 /* REPEAT values above are taken as this */
#define PERIODS_MAX      (8u * CALDAV_ICAL_MAX_INSTANCES) /* free-busy */
#define TZ_MEMO          8  /* TZIDs remembered per call */
#define TZ_CACHE_SIZE    16 /* VTIMEZONEs remembered per thread */

#define WALK_DONE   0 /* every instance visited */
#define WALK_STOP   1 /* the callback stopped the walk */
#define WALK_CAPPED 2 /* CALDAV_ICAL_MAX_INSTANCES reached */

#define PRECOND_DATA   "C:valid-calendar-data"
#define PRECOND_OBJECT "C:valid-calendar-object-resource"
#define PRECOND_COMP   "C:supported-calendar-component"
#define PRECOND_SIZE   "C:max-resource-size"

/* ---------------------------------------------------------------- */
/* saturating arithmetic on times                                     */

static int64_t
sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b) {
        return INT64_MAX;
    }
    if (b < 0 && a < INT64_MIN - b) {
        return INT64_MIN;
    }
    return a + b;
}

static int64_t
sat_sub(int64_t a, int64_t b)
{
    if (b == INT64_MIN) {
        return a >= 0 ? INT64_MAX : a - INT64_MIN;
    }
    return sat_add(a, -b);
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;

    return (x > y) - (x < y);
}

static int
has_i64(const int64_t *v, size_t n, int64_t x)
{
    return n > 0 && bsearch(&x, v, n, sizeof(*v), cmp_i64) != NULL;
}

/* Append x to a growable array of int64_t. */
static int
push_i64(int64_t **v, size_t *n, size_t *cap, int64_t x)
{
    int64_t *p;

    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 8;

        p = realloc(*v, c * sizeof(*p));
        if (p == NULL) {
            return MTR_ERROR;
        }
        *v = p;
        *cap = c;
    }
    (*v)[(*n)++] = x;
    return MTR_OK;
}

/* ---------------------------------------------------------------- */
/* raw input checks                                                   */

/* Length of the valid UTF-8 sequence at p, 0 when it is not one. */
static size_t
utf8_seq(const unsigned char *p, size_t n)
{
    uint32_t cp;

    return caldav_utf8_seq(p, n, &cp);
}

/* Offset of the first byte that is not valid UTF-8, or len. */
static size_t
utf8_check(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *) s;
    size_t               i = 0, k;

    while (i < len) {
        k = utf8_seq(p + i, len - i);
        if (k == 0) {
            return i;
        }
        i += k;
    }
    return len;
}

static size_t
skip_bom(const char *data, size_t len)
{
    return len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
}

/* ---------------------------------------------------------------- */
/* content-line scanner (RFC 5545 3.1)                                */

typedef struct {
    char   name[SCAN_NAME_MAX + 1];    /* property name, upper-cased */
    char   value[SCAN_VALUE_KEEP + 1]; /* first bytes of the value */
    size_t value_len;                  /* the whole value */
    size_t start, end; /* offsets: first byte, byte after the newline */
    size_t lineno;     /* physical line of the start */
} cline_t;

typedef int (*cline_cb)(const cline_t *l, void *arg, mtr_err_t *err);

enum {
    S_NAME = 0,
    S_PNAME,
    S_PVAL_START,
    S_PVAL,
    S_PVAL_Q,
    S_PVAL_QEND,
    S_VALUE
};

typedef struct {
    cline_t l;
    int     state;
    size_t  name_len, pname_len;
    int     open; /* a logical line is being read */
} scan_t;

static int
is_name_char(unsigned char ch)
{
    return isalnum(ch) || ch == '-';
}

/* Control bytes other than HTAB are not allowed anywhere (RFC 5545 3.1). */
static int
is_ctl(unsigned char ch)
{
    return (ch < 0x20 && ch != '\t') || ch == 0x7F;
}

/* One byte of a logical line, after unfolding. */
static int
scan_byte(scan_t *s, unsigned char ch, mtr_err_t *err)
{
    const char *what = NULL;

    if (is_ctl(ch)) {
        return mtr_err_set(err, "line %zu: control byte 0x%02x", s->l.lineno,
                           ch);
    }
    switch (s->state) {
    case S_NAME:
        if (is_name_char(ch)) {
            if (s->name_len == SCAN_NAME_MAX) {
                what = "property name too long";
                break;
            }
            s->l.name[s->name_len++] = (char) toupper(ch);
            s->l.name[s->name_len] = '\0';
        } else if ((ch == ';' || ch == ':') && s->name_len > 0) {
            s->state = ch == ';' ? S_PNAME : S_VALUE;
            s->pname_len = 0;
        } else {
            what = "bad property name";
        }
        break;
    case S_PNAME:
        if (is_name_char(ch) && s->pname_len < SCAN_NAME_MAX) {
            s->pname_len++;
        } else if (ch == '=' && s->pname_len > 0) {
            s->state = S_PVAL_START;
        } else {
            what = "bad parameter name";
        }
        break;
    case S_PVAL_START:
    case S_PVAL:
    case S_PVAL_QEND:
        if (ch == ',') {
            s->state = S_PVAL_START;
        } else if (ch == ';') {
            s->state = S_PNAME;
            s->pname_len = 0;
        } else if (ch == ':') {
            s->state = S_VALUE;
        } else if (ch == '"' && s->state == S_PVAL_START) {
            s->state = S_PVAL_Q;
        } else if (ch == '"' || s->state == S_PVAL_QEND) {
            what = "bad quoting in a parameter value";
        } else {
            s->state = S_PVAL;
        }
        break;
    case S_PVAL_Q:
        if (ch == '"') {
            s->state = S_PVAL_QEND;
        }
        break;
    default: /* S_VALUE */
        if (s->l.value_len < SCAN_VALUE_KEEP) {
            s->l.value[s->l.value_len] = (char) ch;
            s->l.value[s->l.value_len + 1] = '\0';
        }
        s->l.value_len++;
        break;
    }
    if (what != NULL) {
        return mtr_err_set(err, "line %zu: %s", s->l.lineno, what);
    }
    return MTR_OK;
}

static int
scan_finish(scan_t *s, size_t end, cline_cb cb, void *arg, mtr_err_t *err)
{
    if (!s->open) {
        return MTR_OK;
    }
    s->open = 0;
    if (s->state != S_VALUE) {
        return mtr_err_set(err, "line %zu: not a content line (no ':')",
                           s->l.lineno);
    }
    s->l.end = end;
    return cb(&s->l, arg, err);
}

/*
 * Walk the logical lines of p: CRLF or bare LF line ends, folding by a
 * leading space or tab, blank lines skipped.  cb sees each complete line.
 */
static int
scan_content(const char *p, size_t len, cline_cb cb, void *arg, mtr_err_t *err)
{
    scan_t s;
    size_t i = 0, lineno = 0, eol, j, stop;

    memset(&s, 0, sizeof(s));
    while (i < len) {
        const char *nl = memchr(p + i, '\n', len - i);

        lineno++;
        eol = nl ? (size_t) (nl - p) : len;
        stop = eol > i && p[eol - 1] == '\r' ? eol - 1 : eol;
        j = i;
        if (stop == i) {
            /* a blank line ends the logical line */
        } else if (p[i] == ' ' || p[i] == '\t') {
            if (!s.open) {
                return mtr_err_set(err, "line %zu: continuation of nothing",
                                   lineno);
            }
            j++;
        } else {
            if (scan_finish(&s, i, cb, arg, err) != MTR_OK) {
                return MTR_ERROR;
            }
            memset(&s, 0, sizeof(s));
            s.open = 1;
            s.l.start = i;
            s.l.lineno = lineno;
        }
        if (stop == i && scan_finish(&s, i, cb, arg, err) != MTR_OK) {
            return MTR_ERROR;
        }
        for (; j < stop; j++) {
            if (scan_byte(&s, (unsigned char) p[j], err) != MTR_OK) {
                return MTR_ERROR;
            }
        }
        i = nl ? eol + 1 : len;
    }
    return scan_finish(&s, len, cb, arg, err);
}

/* Structure check: one VCALENDAR, nesting, component cap. */
typedef struct {
    char   stack[SCAN_DEPTH_MAX][SCAN_VALUE_KEEP + 1];
    int    depth;
    int    seen_root, root_done;
    size_t ncomp;
} structure_t;

static int
structure_cb(const cline_t *l, void *arg, mtr_err_t *err)
{
    structure_t *st = arg;
    char         v[SCAN_VALUE_KEEP * 4 + 4];
    int          begin = strcmp(l->name, "BEGIN") == 0;

    if (st->root_done) {
        return mtr_err_set(err, "line %zu: data after END:VCALENDAR",
                           l->lineno);
    }
    mtr_sanitize(v, sizeof(v), l->value, strlen(l->value));
    if (!begin && strcmp(l->name, "END") != 0) {
        if (st->depth == 0) {
            return mtr_err_set(err,
                               "line %zu: does not start with "
                               "BEGIN:VCALENDAR",
                               l->lineno);
        }
        return MTR_OK;
    }
    if (l->value_len == 0 || l->value_len > SCAN_VALUE_KEEP) {
        return mtr_err_set(err, "line %zu: bad component name", l->lineno);
    }
    if (begin) {
        if (st->depth == 0 && strcasecmp(l->value, "VCALENDAR") != 0) {
            return mtr_err_set(err,
                               "line %zu: BEGIN:%s where BEGIN:VCALENDAR "
                               "was expected",
                               l->lineno, v);
        }
        if (st->depth == SCAN_DEPTH_MAX) {
            return mtr_err_set(err, "line %zu: components nested too deeply",
                               l->lineno);
        }
        if (++st->ncomp > CALDAV_ICAL_MAX_COMPONENTS) {
            return mtr_err_set(err, "more than %d components",
                               CALDAV_ICAL_MAX_COMPONENTS);
        }
        strcpy(st->stack[st->depth++], l->value);
        st->seen_root = 1;
        return MTR_OK;
    }
    if (st->depth == 0) {
        return mtr_err_set(err, "line %zu: END:%s without BEGIN", l->lineno, v);
    }
    if (strcasecmp(st->stack[st->depth - 1], l->value) != 0) {
        char b[SCAN_VALUE_KEEP * 4 + 4];

        mtr_sanitize(b, sizeof(b), st->stack[st->depth - 1],
                     strlen(st->stack[st->depth - 1]));
        return mtr_err_set(err, "line %zu: END:%s does not close BEGIN:%s",
                           l->lineno, v, b);
    }
    if (--st->depth == 0) {
        st->root_done = 1;
    }
    return MTR_OK;
}

static int
check_text(const char *data, size_t len, mtr_err_t *err)
{
    structure_t st;
    size_t      bad;

    if (memchr(data, '\0', len) != NULL) {
        return mtr_err_set(err, "NUL byte in calendar data");
    }
    bad = utf8_check(data, len);
    if (bad != len) {
        return mtr_err_set(err, "invalid UTF-8 at byte %zu", bad);
    }
    memset(&st, 0, sizeof(st));
    if (scan_content(data, len, structure_cb, &st, err) != MTR_OK) {
        return MTR_ERROR;
    }
    if (!st.seen_root) {
        return mtr_err_set(err, "no BEGIN:VCALENDAR");
    }
    if (st.depth > 0) {
        char v[SCAN_VALUE_KEEP * 4 + 4];

        mtr_sanitize(v, sizeof(v), st.stack[st.depth - 1],
                     strlen(st.stack[st.depth - 1]));
        return mtr_err_set(err, "missing END:%s", v);
    }
    return MTR_OK;
}

/* ---------------------------------------------------------------- */
/* the per-call context                                               */

typedef struct {
    icalcomponent *root;      /* the parsed VCALENDAR */
    const char    *tz_text;   /* timezone for floating times, or NULL */
    icalcomponent *tz_root;   /* tz_text parsed, on first use */
    icaltimezone  *float_tz;  /* set on first use; UTC when none */
    icaltimezone  *own_float; /* float_tz when it could not be cached */
    icaltimezone  *utc;
    int64_t       *rids; /* RECURRENCE-IDs of the overrides, sorted */
    size_t         nrids;
    size_t         budget; /* recurrence instances left */
    struct {
        const char   *tzid; /* points into root */
        icaltimezone *zone;
    } memo[TZ_MEMO]; /* TZIDs resolved in this call */
    size_t nmemo;
} ctx_t;

/*
 * Timezones built from VTIMEZONE text, cached per thread.  libical expands
 * a VTIMEZONE's rules from its DTSTART (often 1970) up to a few years past
 * now on the first conversion, about a millisecond for a European zone;
 * done for every object of a 2,000-object query that would be seconds.
 * Clients send the same VTIMEZONE text with every object, so the text is
 * the key.  An entry used by the running call (generation tz_gen) is never
 * evicted: shapes hold pointers to it.  Entries live until the thread
 * exits (at most TZ_CACHE_SIZE zones per thread).
 */
typedef struct {
    char         *key;
    icaltimezone *zone;
    uint64_t      used;
} tz_entry_t;

static _Thread_local tz_entry_t tz_cache[TZ_CACHE_SIZE];
static _Thread_local uint64_t   tz_gen;

static icaltimezone *
tz_cache_find(const char *key)
{
    size_t i;

    for (i = 0; i < TZ_CACHE_SIZE; i++) {
        if (tz_cache[i].key != NULL && strcmp(tz_cache[i].key, key) == 0) {
            tz_cache[i].used = tz_gen;
            return tz_cache[i].zone;
        }
    }
    return NULL;
}

/* Build a zone from a copy of vtz and cache it under key; NULL when every
 * slot serves the running call, or on error. */
static icaltimezone *
tz_cache_add(const char *key, icalcomponent *vtz)
{
    size_t         i, victim = TZ_CACHE_SIZE;
    icalcomponent *copy;
    icaltimezone  *z;
    char          *k;

    for (i = 0; i < TZ_CACHE_SIZE; i++) {
        if (tz_cache[i].key == NULL) {
            victim = i;
            break;
        }
        if (tz_cache[i].used != tz_gen
            && (victim == TZ_CACHE_SIZE
                || tz_cache[i].used < tz_cache[victim].used))
        {
            victim = i;
        }
    }
    if (victim == TZ_CACHE_SIZE) {
        return NULL;
    }
    copy = icalcomponent_new_clone(vtz);
    k = strdup(key);
    z = icaltimezone_new();
    if (copy == NULL || k == NULL || z == NULL
        || !icaltimezone_set_component(z, copy))
    {
        if (copy != NULL) {
            icalcomponent_free(copy);
        }
        if (z != NULL) {
            icaltimezone_free(z, 1);
        }
        free(k);
        return NULL;
    }
    if (tz_cache[victim].key != NULL) {
        free(tz_cache[victim].key);
        icaltimezone_free(tz_cache[victim].zone, 1);
    }
    tz_cache[victim].key = k;
    tz_cache[victim].zone = z;
    tz_cache[victim].used = tz_gen;
    return z;
}

static icalcomponent *
find_vtimezone(icalcomponent *root, const char *tzid)
{
    icalcompiter   it;
    icalcomponent *k;
    icalproperty  *p;

    for (it = icalcomponent_begin_component(root, ICAL_VTIMEZONE_COMPONENT);
         (k = icalcompiter_deref(&it)) != NULL; icalcompiter_next(&it))
    {
        p = icalcomponent_get_first_property(k, ICAL_TZID_PROPERTY);
        if (p != NULL && icalproperty_get_tzid(p) != NULL
            && strcmp(icalproperty_get_tzid(p), tzid) == 0)
        {
            return k;
        }
    }
    return NULL;
}

/* The zone of a VTIMEZONE of root, from the cache when possible. */
static icaltimezone *
vtimezone_zone(icalcomponent *root, icalcomponent *vtz, const char *tzid)
{
    char         *key = icalcomponent_as_ical_string_r(vtz);
    icaltimezone *z = NULL;

    if (key != NULL) {
        z = tz_cache_find(key);
        if (z == NULL) {
            z = tz_cache_add(key, vtz);
        }
        free(key);
    }
    return z != NULL ? z : icalcomponent_get_timezone(root, tzid);
}

static int
ctx_parse(ctx_t *c, const char *data, size_t len, const char *tz_text,
          mtr_err_t *err)
{
    char  *text;
    size_t bom = skip_bom(data, len);

    memset(c, 0, sizeof(*c));
    tz_gen++;
    c->tz_text = tz_text;
    c->utc = icaltimezone_get_utc_timezone();
    c->budget = CALDAV_ICAL_MAX_INSTANCES;
    if (len > CALDAV_ICAL_MAX_SIZE) {
        return mtr_err_set(err, "calendar data larger than %u bytes",
                           CALDAV_ICAL_MAX_SIZE);
    }
    text = malloc(len - bom + 1);
    if (text == NULL) {
        return mtr_err_set(err, "out of memory");
    }
    memcpy(text, data + bom, len - bom);
    text[len - bom] = '\0';
    c->root = icalparser_parse_string(text);
    free(text);
    if (c->root == NULL) {
        return mtr_err_set(err, "calendar data does not parse");
    }
    if (icalcomponent_isa(c->root) != ICAL_VCALENDAR_COMPONENT) {
        icalcomponent_free(c->root);
        c->root = NULL;
        return mtr_err_set(err, "calendar data is not one VCALENDAR");
    }
    return MTR_OK;
}

static void
ctx_free(ctx_t *c)
{
    if (c->root != NULL) {
        icalcomponent_free(c->root);
    }
    if (c->tz_root != NULL) {
        icalcomponent_free(c->tz_root);
    }
    if (c->own_float != NULL) {
        icaltimezone_free(c->own_float, 1);
    }
    free(c->rids);
    memset(c, 0, sizeof(*c));
}

/* The zone of floating times: the VTIMEZONE of tz_text, else UTC. */
static icaltimezone *
float_zone(ctx_t *c)
{
    icalcomponent *vtz;
    icaltimezone  *z;

    if (c->float_tz != NULL) {
        return c->float_tz;
    }
    c->float_tz = c->utc;
    if (c->tz_text == NULL || *c->tz_text == '\0') {
        return c->float_tz;
    }
    z = tz_cache_find(c->tz_text);
    if (z != NULL) {
        c->float_tz = z;
        return z;
    }
    c->tz_root = icalparser_parse_string(c->tz_text);
    if (c->tz_root == NULL) {
        return c->float_tz;
    }
    vtz = icalcomponent_isa(c->tz_root) == ICAL_VTIMEZONE_COMPONENT
              ? c->tz_root
              : icalcomponent_get_first_component(c->tz_root,
                                                  ICAL_VTIMEZONE_COMPONENT);
    if (vtz != NULL
        && icalcomponent_get_first_property(vtz, ICAL_TZID_PROPERTY) != NULL)
    {
        z = tz_cache_add(c->tz_text, vtz);
        if (z == NULL) {
            /* no cache slot: a zone living as long as this call */
            z = icaltimezone_new();
            if (z != NULL
                && !icaltimezone_set_component(z, icalcomponent_new_clone(vtz)))
            {
                icaltimezone_free(z, 1);
                z = NULL;
            }
            c->own_float = z;
        }
        if (z != NULL) {
            c->float_tz = z;
        }
    }
    return c->float_tz;
}

static icaltimezone *builtin_zone(const char *tzid);

/* A TZID: the object's VTIMEZONE, else a built-in zone, else NULL. */
static icaltimezone *
zone_lookup(ctx_t *c, const char *tzid)
{
    icaltimezone  *z;
    icalcomponent *vtz;
    size_t         i;

    for (i = 0; i < c->nmemo; i++) {
        if (strcmp(c->memo[i].tzid, tzid) == 0) {
            return c->memo[i].zone;
        }
    }
    vtz = find_vtimezone(c->root, tzid);
    z = vtz != NULL ? vtimezone_zone(c->root, vtz, tzid) : NULL;
    if (z == NULL) {
        z = builtin_zone(tzid);
    }
    if (c->nmemo < TZ_MEMO) {
        c->memo[c->nmemo].tzid = tzid;
        c->memo[c->nmemo++].zone = z;
    }
    return z;
}

/* libical's Olson zones, also for prefixed TZIDs. */
static icaltimezone *
builtin_zone(const char *tzid)
{
    icaltimezone *z;
    const char   *p;
    int           tries = 0;

    /* "/mozilla.org/20070129_1/Europe/Berlin": try the tails too. */
    for (p = tzid; p != NULL && *p != '\0' && tries < 8; tries++) {
        while (*p == '/') {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        z = icaltimezone_get_builtin_timezone(p);
        if (z != NULL) {
            return z;
        }
        p = strchr(p, '/');
    }
    return icaltimezone_get_builtin_timezone_from_tzid(tzid);
}

/*
 * The zone converting value tt of property p: UTC for UTC values, the
 * TZID's zone (set in tt->zone too), else the floating zone (tt->zone
 * NULL, as the recurrence iterator wants floating times).  Never NULL.
 */
static icaltimezone *
value_zone(ctx_t *c, icalproperty *p, struct icaltimetype *tt)
{
    icalparameter *tzp;
    icaltimezone  *z;

    if (!tt->is_date && icaltime_is_utc(*tt)) {
        return c->utc;
    }
    tt->zone = NULL;
    tzp = icalproperty_get_first_parameter(p, ICAL_TZID_PARAMETER);
    if (!tt->is_date && tzp != NULL && icalparameter_get_tzid(tzp) != NULL) {
        z = zone_lookup(c, icalparameter_get_tzid(tzp));
        if (z == NULL) {
            z = c->utc;
        }
        tt->zone = z;
        return z;
    }
    return float_zone(c);
}

/*
 * Read a DATE or DATE-TIME property.  *tt_r is the value as written, its
 * .zone set for TZID and UTC values and NULL for floating ones (what the
 * recurrence iterator wants); *zone_r the zone that converts it, never
 * NULL; *t_r the UTC seconds.  MTR_ERROR when there is no usable value.
 */
static int
prop_time(ctx_t *c, icalproperty *p, struct icaltimetype *tt_r,
          icaltimezone **zone_r, int64_t *t_r)
{
    icalvalue          *v = icalproperty_get_value(p);
    struct icaltimetype tt;
    icaltimezone       *z;

    if (v == NULL) {
        return MTR_ERROR;
    }
    switch (icalvalue_isa(v)) {
    case ICAL_DATE_VALUE:
        tt = icalvalue_get_date(v);
        break;
    case ICAL_DATETIME_VALUE:
        tt = icalvalue_get_datetime(v);
        break;
    case ICAL_DATETIMEPERIOD_VALUE:
        tt = icalvalue_get_datetimeperiod(v).time;
        break;
    default:
        return MTR_ERROR;
    }
    if (icaltime_is_null_time(tt) || !icaltime_is_valid_time(tt)) {
        return MTR_ERROR;
    }
    z = value_zone(c, p, &tt);
    *tt_r = tt;
    *zone_r = z;
    *t_r = (int64_t) icaltime_as_timet_with_zone(tt, z);
    return MTR_OK;
}

/* Convert an icaltimetype of a value (period ends, triggers). */
static int64_t
tt_utc(ctx_t *c, struct icaltimetype tt, icaltimezone *z)
{
    if (!tt.is_date && icaltime_is_utc(tt)) {
        z = c->utc;
    }
    return (int64_t) icaltime_as_timet_with_zone(tt, z);
}

/* ---------------------------------------------------------------- */
/* shapes: what one component says about its instances                */

enum { END_NONE = 0, END_EXACT, END_NOMINAL, END_DAY };

typedef struct {
    icalcomponent          *comp;
    icalcomponent_kind      kind;
    int                     has_start;
    struct icaltimetype     start_tt;
    icaltimezone           *zone;
    int64_t                 start;
    int                     end_kind;
    int64_t                 delta; /* END_EXACT: end - start */
    struct icaldurationtype dur;   /* END_NOMINAL */
    int                     has_end_prop, has_dur_prop;
    int                     has_due;
    int64_t                 due, due_delta; /* VTODO */
    int                     has_completed, has_created;
    int64_t                 completed, created;
    int                     is_override;
    struct icaltimetype     rid_tt;
    icaltimezone           *rid_zone;
    int64_t                 rid;
    int                     recurring, unbounded;
    int64_t                 until; /* latest UNTIL of bounded rules */
    int64_t                 reach; /* longest start-to-end or -due */
    icalproperty          **rules, **rdates;
    size_t                  nrules, nrdates;
    int64_t                *exdates; /* UTC, sorted */
    size_t                  nexdates;
    int64_t                *exdays; /* yyyymmdd of DATE EXDATEs, sorted */
    size_t                  nexdays;
} shape_t;

/* One instance. */
typedef struct {
    int64_t             start, end, due;
    struct icaltimetype tt; /* start as local time of zone */
    icaltimezone       *zone;
    const shape_t      *shape;
} inst_t;

typedef int (*walk_cb)(ctx_t *c, const inst_t *in, void *arg);

static void
shape_free(shape_t *s)
{
    free(s->rules);
    free(s->rdates);
    free(s->exdates);
    free(s->exdays);
    memset(s, 0, sizeof(*s));
}

static int64_t
dur_nominal_bound(struct icaldurationtype d)
{
    if (d.is_neg) {
        return 0;
    }
    return (int64_t) d.weeks * 7 * DAY + (int64_t) d.days * DAY
           + (int64_t) d.hours * 3600 + (int64_t) d.minutes * 60 + d.seconds
           + 3600; /* a DST change inside */
}

static int
push_prop(icalproperty ***v, size_t *n, icalproperty *p)
{
    icalproperty **q = realloc(*v, (*n + 1) * sizeof(*q));

    if (q == NULL) {
        return MTR_ERROR;
    }
    q[(*n)++] = p;
    *v = q;
    return MTR_OK;
}

static int64_t
day_key(struct icaltimetype tt)
{
    return (int64_t) tt.year * 10000 + tt.month * 100 + tt.day;
}

/* EXDATEs, RRULEs, RDATEs of a master. */
static int
shape_recurrence(ctx_t *c, shape_t *s)
{
    icalproperty       *p;
    struct icaltimetype tt;
    icaltimezone       *z;
    int64_t             t;
    size_t              cap1 = 0, cap2 = 0;

    for (p = icalcomponent_get_first_property(s->comp, ICAL_RRULE_PROPERTY);
         p != NULL;
         p = icalcomponent_get_next_property(s->comp, ICAL_RRULE_PROPERTY))
    {
        struct icalrecurrencetype r = icalproperty_get_rrule(p);

        if (r.freq == ICAL_NO_RECURRENCE) {
            continue;
        }
        if (r.count == 0 && icaltime_is_null_time(r.until)) {
            s->unbounded = 1;
        } else if (!icaltime_is_null_time(r.until)) {
            struct icaltimetype u = r.until;

            t = tt_utc(c, u,
                       u.is_date || !icaltime_is_utc(u) ? s->zone : c->utc);
            if (t > s->until) {
                s->until = t;
            }
        }
        if (push_prop(&s->rules, &s->nrules, p) != MTR_OK) {
            return MTR_ERROR;
        }
    }
    for (p = icalcomponent_get_first_property(s->comp, ICAL_RDATE_PROPERTY);
         p != NULL;
         p = icalcomponent_get_next_property(s->comp, ICAL_RDATE_PROPERTY))
    {
        if (push_prop(&s->rdates, &s->nrdates, p) != MTR_OK) {
            return MTR_ERROR;
        }
    }
    for (p = icalcomponent_get_first_property(s->comp, ICAL_EXDATE_PROPERTY);
         p != NULL;
         p = icalcomponent_get_next_property(s->comp, ICAL_EXDATE_PROPERTY))
    {
        if (prop_time(c, p, &tt, &z, &t) != MTR_OK) {
            continue;
        }
        if (push_i64(&s->exdates, &s->nexdates, &cap1, t) != MTR_OK
            || (tt.is_date
                && push_i64(&s->exdays, &s->nexdays, &cap2, day_key(tt))
                       != MTR_OK))
        {
            return MTR_ERROR;
        }
    }
    if (s->nexdates > 1) {
        qsort(s->exdates, s->nexdates, sizeof(int64_t), cmp_i64);
    }
    if (s->nexdays > 1) {
        qsort(s->exdays, s->nexdays, sizeof(int64_t), cmp_i64);
    }
    s->recurring = s->nrules > 0 || s->nrdates > 0;
    return MTR_OK;
}

static int
get_time(ctx_t *c, icalcomponent *comp, icalproperty_kind kind, int64_t *t_r,
         struct icaltimetype *tt_r, icaltimezone **z_r)
{
    icalproperty       *p = icalcomponent_get_first_property(comp, kind);
    struct icaltimetype tt;
    icaltimezone       *z;

    if (p == NULL || prop_time(c, p, &tt, &z, t_r) != MTR_OK) {
        return 0;
    }
    if (tt_r != NULL) {
        *tt_r = tt;
        *z_r = z;
    }
    return 1;
}

/* The end model of VEVENT (DTEND, DURATION, else 9.9's defaults),
 * VTODO (DUE, DURATION), VJOURNAL and VFREEBUSY. */
static void
shape_end(ctx_t *c, shape_t *s)
{
    icalcomponent_kind k = s->kind;
    icalproperty      *p;
    int64_t            t;

    if (k == ICAL_VTODO_COMPONENT) {
        s->has_due = get_time(c, s->comp, ICAL_DUE_PROPERTY, &t, NULL, NULL);
        if (s->has_due) {
            s->due = t;
            s->due_delta = s->has_start && t > s->start ? t - s->start : 0;
        }
        s->has_completed = get_time(c, s->comp, ICAL_COMPLETED_PROPERTY,
                                    &s->completed, NULL, NULL);
        s->has_created = get_time(c, s->comp, ICAL_CREATED_PROPERTY,
                                  &s->created, NULL, NULL);
    }
    if (!s->has_start) {
        return;
    }
    if ((k == ICAL_VEVENT_COMPONENT || k == ICAL_VFREEBUSY_COMPONENT)
        && get_time(c, s->comp, ICAL_DTEND_PROPERTY, &t, NULL, NULL))
    {
        s->has_end_prop = 1;
        s->end_kind = END_EXACT;
        s->delta = t > s->start ? t - s->start : 0;
        return;
    }
    p = icalcomponent_get_first_property(s->comp, ICAL_DURATION_PROPERTY);
    if (p != NULL && (k == ICAL_VEVENT_COMPONENT || k == ICAL_VTODO_COMPONENT)
        && !s->has_due)
    {
        s->has_dur_prop = 1;
        s->dur = icalproperty_get_duration(p);
        s->end_kind = s->dur.is_neg ? END_NONE : END_NOMINAL;
        return;
    }
    if (s->start_tt.is_date
        && (k == ICAL_VEVENT_COMPONENT || k == ICAL_VJOURNAL_COMPONENT))
    {
        s->end_kind = END_DAY;
    }
}

static int
shape_init(ctx_t *c, icalcomponent *comp, shape_t *s)
{
    icalproperty *p;

    memset(s, 0, sizeof(*s));
    s->comp = comp;
    s->kind = icalcomponent_isa(comp);
    s->zone = c->utc;
    s->until = INT64_MIN;
    s->has_start = get_time(c, comp, ICAL_DTSTART_PROPERTY, &s->start,
                            &s->start_tt, &s->zone);
    shape_end(c, s);
    switch (s->end_kind) {
    case END_EXACT:
        s->reach = s->delta;
        break;
    case END_NOMINAL:
        s->reach = dur_nominal_bound(s->dur);
        break;
    case END_DAY:
        s->reach = DAY + 3600;
        break;
    }
    if (s->due_delta > s->reach) {
        s->reach = s->due_delta;
    }
    p = icalcomponent_get_first_property(comp, ICAL_RECURRENCEID_PROPERTY);
    if (p != NULL) {
        s->is_override =
            prop_time(c, p, &s->rid_tt, &s->rid_zone, &s->rid) == MTR_OK;
        return MTR_OK;
    }
    if (!s->has_start) {
        return MTR_OK;
    }
    return shape_recurrence(c, s);
}

/* Fill an instance that starts at tt (local time of z), t in UTC. */
static void
inst_make(ctx_t *c, const shape_t *s, struct icaltimetype tt, icaltimezone *z,
          int64_t t, inst_t *in)
{
    struct icaltimetype e = tt;
    int                 days;

    in->start = t;
    in->tt = tt;
    in->zone = z;
    in->shape = s;
    switch (s->end_kind) {
    case END_EXACT:
        in->end = sat_add(t, s->delta);
        break;
    case END_NOMINAL:
        /* Days and weeks are nominal (same wall clock), the rest exact. */
        days = s->dur.weeks * 7 + s->dur.days;
        in->end = t;
        if (days > 0) {
            icaltime_adjust(&e, days, 0, 0, 0);
            in->end = tt_utc(c, e, z);
        }
        in->end += (int64_t) s->dur.hours * 3600 + s->dur.minutes * 60
                   + s->dur.seconds;
        break;
    case END_DAY:
        icaltime_adjust(&e, 1, 0, 0, 0);
        in->end = tt_utc(c, e, z);
        break;
    default:
        in->end = t;
    }
    if (in->end < in->start) {
        in->end = in->start;
    }
    if (s->has_due) {
        in->due = s->has_start ? sat_add(t, s->due_delta) : s->due;
    } else {
        in->due = in->end;
    }
}

static int
excluded(ctx_t *c, const shape_t *s, struct icaltimetype tt, int64_t t)
{
    return has_i64(s->exdates, s->nexdates, t)
           || (s->nexdays > 0 && has_i64(s->exdays, s->nexdays, day_key(tt)))
           || has_i64(c->rids, c->nrids, t);
}

/* The latest point of an instance that a time-range test looks at. */
static int64_t
inst_reach(const inst_t *in)
{
    return in->due > in->end ? in->due : in->end;
}

/* Rules whose iterator may be jumped (see the file comment). */
static int
rule_can_jump(const struct icalrecurrencetype *r)
{
    if (r->count > 0) {
        return 0;
    }
    return r->freq == ICAL_DAILY_RECURRENCE || r->freq == ICAL_WEEKLY_RECURRENCE
           || r->freq == ICAL_MONTHLY_RECURRENCE
           || r->freq == ICAL_YEARLY_RECURRENCE || r->interval <= 1;
}

/* An empty BY* array starts with ICAL_RECURRENCE_ARRAY_MAX. */
#define BY_EMPTY(a) ((a)[0] == ICAL_RECURRENCE_ARRAY_MAX)

/* The offset in days of the last instance of a WEEKLY COUNT rule, -1 when
 * the rule is not plain enough (see count_to_until). */
static int64_t
weekly_last(const struct icalrecurrencetype *r, int wd)
{
    int     in_set[8] = { 0 }, order[7], n = 0, p = -1, i, d;
    int64_t k;

    if (BY_EMPTY(r->by_day)) {
        in_set[wd] = 1;
    }
    for (i = 0;
         i < ICAL_BY_DAY_SIZE && r->by_day[i] != ICAL_RECURRENCE_ARRAY_MAX; i++)
    {
        if (icalrecurrencetype_day_position(r->by_day[i]) != 0) {
            return -1;
        }
        in_set[icalrecurrencetype_day_day_of_week(r->by_day[i])] = 1;
    }
    if (!in_set[wd] || r->week_start < ICAL_SUNDAY_WEEKDAY
        || r->week_start > ICAL_SATURDAY_WEEKDAY)
    {
        return -1; /* DTSTART off the rule: COUNT is ambiguous */
    }
    /* the rule's days in week order, from WKST */
    for (i = 0; i < 7; i++) {
        d = ((int) r->week_start - 1 + i) % 7 + 1;
        if (in_set[d]) {
            if (d == wd) {
                p = n;
            }
            order[n++] = i;
        }
    }
    k = (int64_t) p + r->count - 1;
    return (k / n) * 7 * r->interval + order[k % n]
           - ((wd - (int) r->week_start + 7) % 7);
}

/*
 * libical cannot jump a COUNT rule (it would lose the count).  For DAILY
 * rules and WEEKLY rules with plain BYDAY, with no other BY part, the
 * COUNT-th instance is date arithmetic: replace COUNT by the UNTIL that
 * ends on that instance, and the rule can be jumped.  Returns 1 when r
 * was rewritten.
 */
static int
count_to_until(struct icalrecurrencetype *r, struct icaltimetype start)
{
    int64_t days;

    if (r->count <= 0 || r->interval < 1 || r->rscale != NULL
        || !BY_EMPTY(r->by_second) || !BY_EMPTY(r->by_minute)
        || !BY_EMPTY(r->by_hour) || !BY_EMPTY(r->by_month_day)
        || !BY_EMPTY(r->by_year_day) || !BY_EMPTY(r->by_week_no)
        || !BY_EMPTY(r->by_month) || !BY_EMPTY(r->by_set_pos))
    {
        return 0;
    }
    if (r->freq == ICAL_DAILY_RECURRENCE && BY_EMPTY(r->by_day)) {
        days = (int64_t) (r->count - 1) * r->interval;
    } else if (r->freq == ICAL_WEEKLY_RECURRENCE) {
        days = weekly_last(r, icaltime_day_of_week(start));
    } else {
        return 0;
    }
    if (days < 0 || days > 3660000) { /* 10,000 years: libical stops first */
        return 0;
    }
    icaltime_adjust(&start, (int) days, 0, 0, 0);
    r->count = 0;
    r->until = start;
    return 1;
}

static int
walk_rule(ctx_t *c, const shape_t *s, icalproperty *rp, int64_t from,
          int64_t to, walk_cb cb, void *arg)
{
    struct icalrecurrencetype r = icalproperty_get_rrule(rp);
    icalrecur_iterator       *it;
    struct icaltimetype       tt;
    int64_t                   t, jump;
    inst_t                    in;
    int                       rc = WALK_DONE;

    jump = sat_sub(sat_sub(from, s->reach), JUMP_SLACK);
    if (jump > s->start && r.count > 0) {
        (void) count_to_until(&r, s->start_tt);
    }
    it = icalrecur_iterator_new(r, s->start_tt);
    if (it == NULL) {
        return WALK_DONE; /* a rule libical cannot run: no instances */
    }
    if (jump > s->start && rule_can_jump(&r)) {
        struct icaltimetype j = icaltime_from_timet_with_zone(
            (time_t) jump, s->start_tt.is_date, s->zone);

        j.zone = s->start_tt.zone;
        if (!icalrecur_iterator_set_start(it, j)) {
            /* stay at DTSTART: slower, still right */
            icalrecur_iterator_free(it);
            it = icalrecur_iterator_new(r, s->start_tt);
            if (it == NULL) {
                return WALK_DONE;
            }
        }
    }
    for (;;) {
        tt = icalrecur_iterator_next(it);
        if (icaltime_is_null_time(tt)) {
            break;
        }
        if (c->budget == 0) {
            rc = WALK_CAPPED;
            break;
        }
        c->budget--;
        t = tt_utc(c, tt, s->zone);
        if (t > to) {
            break;
        }
        if (t == s->start || excluded(c, s, tt, t)) {
            continue;
        }
        inst_make(c, s, tt, s->zone, t, &in);
        if (inst_reach(&in) < from) {
            continue;
        }
        rc = cb(c, &in, arg);
        if (rc != WALK_DONE) {
            break;
        }
    }
    icalrecur_iterator_free(it);
    return rc;
}

static int
walk_rdates(ctx_t *c, const shape_t *s, int64_t from, int64_t to, walk_cb cb,
            void *arg)
{
    size_t i;
    int    rc;

    for (i = 0; i < s->nrdates; i++) {
        icalproperty                 *p = s->rdates[i];
        struct icaldatetimeperiodtype dp = icalproperty_get_rdate(p);
        struct icaltimetype           tt;
        icaltimezone                 *z;
        int64_t                       t;
        inst_t                        in;

        if (prop_time(c, p, &tt, &z, &t) != MTR_OK) {
            if (icalperiodtype_is_null_period(dp.period)) {
                continue;
            }
            /* PERIOD: start from the period, zone from the TZID */
            tt = dp.period.start;
            if (!icaltime_is_valid_time(tt) || icaltime_is_null_time(tt)) {
                continue;
            }
            z = value_zone(c, p, &tt);
            t = tt_utc(c, tt, z);
        }
        if (c->budget == 0) {
            return WALK_CAPPED;
        }
        c->budget--;
        if (t > to || t == s->start || excluded(c, s, tt, t)) {
            continue;
        }
        inst_make(c, s, tt, z, t, &in);
        if (!icalperiodtype_is_null_period(dp.period)) {
            in.end =
                icaltime_is_null_time(dp.period.end)
                    ? sat_add(t, icaldurationtype_as_int(dp.period.duration))
                    : tt_utc(c, dp.period.end, z);
            if (in.end < in.start) {
                in.end = in.start;
            }
        }
        if (inst_reach(&in) < from) {
            continue;
        }
        rc = cb(c, &in, arg);
        if (rc != WALK_DONE) {
            return rc;
        }
    }
    return WALK_DONE;
}

/*
 * Visit the instances of s that may touch [from, to]: at least every one
 * whose start is <= to and whose end (or DUE) is >= from.  An override or
 * a component without recurrence is its own single instance.
 */
static int
walk(ctx_t *c, const shape_t *s, int64_t from, int64_t to, walk_cb cb,
     void *arg)
{
    inst_t in;
    size_t i;
    int    rc;

    memset(&in, 0, sizeof(in));
    in.shape = s;
    if (!s->has_start) {
        in.due = s->due;
        return cb(c, &in, arg);
    }
    inst_make(c, s, s->start_tt, s->zone, s->start, &in);
    if (!s->recurring) {
        return cb(c, &in, arg);
    }
    if (s->start <= to && inst_reach(&in) >= from
        && !excluded(c, s, s->start_tt, s->start))
    {
        rc = cb(c, &in, arg);
        if (rc != WALK_DONE) {
            return rc;
        }
    }
    for (i = 0; i < s->nrules; i++) {
        rc = walk_rule(c, s, s->rules[i], from, to, cb, arg);
        if (rc != WALK_DONE) {
            return rc;
        }
    }
    return walk_rdates(c, s, from, to, cb, arg);
}

/* Collect the RECURRENCE-IDs of every override, once per call. */
static int
ctx_rids(ctx_t *c)
{
    icalcompiter   it;
    icalcomponent *k;
    icalproperty  *p;
    size_t         cap = 0;

    for (it = icalcomponent_begin_component(c->root, ICAL_ANY_COMPONENT);
         (k = icalcompiter_deref(&it)) != NULL; icalcompiter_next(&it))
    {
        struct icaltimetype tt;
        icaltimezone       *z;
        int64_t             t;

        p = icalcomponent_get_first_property(k, ICAL_RECURRENCEID_PROPERTY);
        if (p != NULL && prop_time(c, p, &tt, &z, &t) == MTR_OK
            && push_i64(&c->rids, &c->nrids, &cap, t) != MTR_OK)
        {
            return MTR_ERROR;
        }
    }
    if (c->nrids > 1) {
        qsort(c->rids, c->nrids, sizeof(int64_t), cmp_i64);
    }
    return MTR_OK;
}

/* ---------------------------------------------------------------- */
/* time-range tests (RFC 4791 9.9)                                    */

static int
todo_in_range(const shape_t *s, const inst_t *in, int64_t rs, int64_t re)
{
    if (s->has_start && s->end_kind == END_NOMINAL) {
        return rs <= in->end && (re > in->start || re >= in->end);
    }
    if (s->has_start && s->has_due) {
        return (rs < in->due || rs <= in->start)
               && (re > in->start || re >= in->due);
    }
    if (s->has_start) {
        return rs <= in->start && re > in->start;
    }
    if (s->has_due) {
        return rs < s->due && re >= s->due;
    }
    if (s->has_completed && s->has_created) {
        return (rs <= s->created || rs <= s->completed)
               && (re >= s->created || re >= s->completed);
    }
    if (s->has_completed) {
        return rs <= s->completed && re >= s->completed;
    }
    if (s->has_created) {
        return rs <= s->created && re > s->created;
    }
    return 1;
}

static int
period_end(ctx_t *c, struct icalperiodtype pt, int64_t start, int64_t *end_r)
{
    if (!icaltime_is_null_time(pt.end)) {
        *end_r = tt_utc(c, pt.end, c->utc);
    } else {
        *end_r = sat_add(start, icaldurationtype_as_int(pt.duration));
    }
    return *end_r >= start;
}

static int
freebusy_in_range(ctx_t *c, const shape_t *s, int64_t rs, int64_t re)
{
    icalproperty *p;

    if (s->has_start && s->end_kind == END_EXACT) {
        return rs <= s->start + s->delta && re > s->start;
    }
    for (p = icalcomponent_get_first_property(s->comp, ICAL_FREEBUSY_PROPERTY);
         p != NULL;
         p = icalcomponent_get_next_property(s->comp, ICAL_FREEBUSY_PROPERTY))
    {
        struct icalperiodtype pt = icalproperty_get_freebusy(p);
        int64_t               ps, pe;

        if (icalperiodtype_is_null_period(pt)) {
            continue;
        }
        ps = tt_utc(c, pt.start, c->utc);
        if (period_end(c, pt, ps, &pe) && rs < pe && re > ps) {
            return 1;
        }
    }
    return 0;
}

static int
inst_in_range(ctx_t *c, const inst_t *in, int64_t rs, int64_t re)
{
    const shape_t *s = in->shape;

    switch (s->kind) {
    case ICAL_VEVENT_COMPONENT:
    case ICAL_VJOURNAL_COMPONENT:
        if (!s->has_start) {
            return 0;
        }
        if (in->end > in->start) {
            return rs < in->end && re > in->start;
        }
        return rs <= in->start && re > in->start;
    case ICAL_VTODO_COMPONENT:
        return todo_in_range(s, in, rs, re);
    case ICAL_VFREEBUSY_COMPONENT:
        return freebusy_in_range(c, s, rs, re);
    default:
        return 0;
    }
}

typedef struct {
    int64_t rs, re;
} range_arg_t;

static int
range_cb(ctx_t *c, const inst_t *in, void *arg)
{
    range_arg_t *a = arg;

    return inst_in_range(c, in, a->rs, a->re) ? WALK_STOP : WALK_DONE;
}

static int
is_instance_kind(icalcomponent_kind k)
{
    return k == ICAL_VEVENT_COMPONENT || k == ICAL_VTODO_COMPONENT
           || k == ICAL_VJOURNAL_COMPONENT || k == ICAL_VFREEBUSY_COMPONENT;
}

/* ---------------------------------------------------------------- */
/* the index                                                          */

typedef struct {
    int64_t first, last;
    int     any;
} span_t;

static void
span_add(span_t *sp, int64_t a, int64_t b)
{
    if (!sp->any || a < sp->first) {
        sp->first = a;
    }
    if (!sp->any || b > sp->last) {
        sp->last = b;
    }
    sp->any = 1;
}

/* The stretch of time in which a time-range can match the instance. */
static int
index_cb(ctx_t *c, const inst_t *in, void *arg)
{
    span_t        *sp = arg;
    const shape_t *s = in->shape;
    int64_t        pts[5];
    size_t         n = 0, i;
    int64_t        lo, hi;

    (void) c;
    switch (s->kind) {
    case ICAL_VTODO_COMPONENT:
        if (s->has_start) {
            pts[n++] = in->start;
            pts[n++] = in->end;
        }
        if (s->has_due) {
            pts[n++] = in->due;
        }
        if (s->has_completed) {
            pts[n++] = s->completed;
        }
        if (s->has_created) {
            pts[n++] = s->created;
        }
        if (n == 0) {
            span_add(sp, CALDAV_TIME_MIN, CALDAV_TIME_MAX);
            return WALK_DONE;
        }
        lo = hi = pts[0];
        for (i = 1; i < n; i++) {
            lo = pts[i] < lo ? pts[i] : lo;
            hi = pts[i] > hi ? pts[i] : hi;
        }
        span_add(sp, lo, hi);
        return WALK_DONE;
    case ICAL_VFREEBUSY_COMPONENT:
        if (s->has_start) {
            span_add(sp, in->start, in->end);
        }
        return WALK_DONE;
    default:
        if (s->has_start) {
            span_add(sp, in->start, in->end);
        }
        return WALK_DONE;
    }
}

static void
index_freebusy_periods(ctx_t *c, const shape_t *s, span_t *sp)
{
    icalproperty *p;

    for (p = icalcomponent_get_first_property(s->comp, ICAL_FREEBUSY_PROPERTY);
         p != NULL;
         p = icalcomponent_get_next_property(s->comp, ICAL_FREEBUSY_PROPERTY))
    {
        struct icalperiodtype pt = icalproperty_get_freebusy(p);
        int64_t               ps, pe;

        if (!icalperiodtype_is_null_period(pt)) {
            ps = tt_utc(c, pt.start, c->utc);
            if (period_end(c, pt, ps, &pe)) {
                span_add(sp, ps, pe);
            }
        }
    }
}

/* The latest start any RRULE of s can produce, INT64_MIN when a COUNT
 * rule is not plain enough to tell without iterating. */
static int64_t
rules_tail(ctx_t *c, const shape_t *s)
{
    int64_t tail = s->start, t;
    size_t  i;

    for (i = 0; i < s->nrules; i++) {
        struct icalrecurrencetype r = icalproperty_get_rrule(s->rules[i]);

        if (r.count > 0 && !count_to_until(&r, s->start_tt)) {
            return INT64_MIN;
        }
        if (icaltime_is_null_time(r.until)) {
            return INT64_MIN;
        }
        t = tt_utc(c, r.until,
                   r.until.is_date || !icaltime_is_utc(r.until) ? s->zone
                                                                : c->utc);
        if (t > tail) {
            tail = t;
        }
    }
    return tail;
}

static int
index_shape(ctx_t *c, const shape_t *s, span_t *sp, int *unbounded)
{
    int     rc;
    int64_t tail;
    span_t  head, end;

    if (s->kind == ICAL_VFREEBUSY_COMPONENT && !s->has_start) {
        index_freebusy_periods(c, s, sp);
        return MTR_OK;
    }
    if (s->recurring && s->unbounded) {
        /* DTSTART and any earlier RDATE give the start; no end. */
        (void) walk(c, s, CALDAV_TIME_MIN, s->start, index_cb, sp);
        *unbounded = 1;
        return MTR_OK;
    }
    tail = s->recurring ? rules_tail(c, s) : INT64_MIN;
    if (tail != INT64_MIN) {
        /* Both ends without the instances in between: the first from
         * DTSTART on, the last from a jump to the rules' end. */
        memset(&head, 0, sizeof(head));
        memset(&end, 0, sizeof(end));
        rc = walk(c, s, tail, CALDAV_TIME_MAX, index_cb, &end);
        if (end.any && rc == WALK_DONE
            && walk(c, s, CALDAV_TIME_MIN, s->start, index_cb, &head)
                   == WALK_DONE
            && head.any)
        {
            span_add(sp, head.first, head.last);
            span_add(sp, end.first, end.last);
            return MTR_OK;
        }
        /* the first or the last instance is excluded: walk them all */
    }
    rc = walk(c, s, CALDAV_TIME_MIN, CALDAV_TIME_MAX, index_cb, sp);
    if (rc == WALK_CAPPED) {
        /* A bounded rule too long to walk: UNTIL bounds it, COUNT not. */
        if (s->until != INT64_MIN) {
            span_add(sp, s->start, sat_add(s->until, s->reach));
        } else {
            *unbounded = 1;
        }
    }
    return MTR_OK;
}

/* ---------------------------------------------------------------- */
/* validation                                                         */

static const char *
kind_name(icalcomponent *k)
{
    const char *n = icalcomponent_kind_to_string(icalcomponent_isa(k));

    return n != NULL ? n : "component";
}

/* libical reads "2026-13-45" as a DATE of month 13, day 45: check the
 * fields of every DATE and DATE-TIME value itself. */
static int
time_fields_ok(struct icaltimetype t)
{
    if (t.month < 1 || t.month > 12 || t.day < 1
        || t.day > icaltime_days_in_month(t.month, t.year) || t.year < 1
        || t.year > 9999)
    {
        return 0;
    }
    return t.is_date
           || (t.hour >= 0 && t.hour < 24 && t.minute >= 0 && t.minute < 60
               && t.second >= 0 && t.second <= 60);
}

static int
bad_times(icalcomponent *comp, mtr_err_t *err)
{
    icalproperty *p;

    for (p = icalcomponent_get_first_property(comp, ICAL_ANY_PROPERTY);
         p != NULL;
         p = icalcomponent_get_next_property(comp, ICAL_ANY_PROPERTY))
    {
        icalvalue          *v = icalproperty_get_value(p);
        icalvalue_kind      k = v ? icalvalue_isa(v) : ICAL_NO_VALUE;
        struct icaltimetype t;

        if (k == ICAL_DATE_VALUE) {
            t = icalvalue_get_date(v);
        } else if (k == ICAL_DATETIME_VALUE) {
            t = icalvalue_get_datetime(v);
        } else {
            continue;
        }
        if (!time_fields_ok(t)) {
            const char *n = icalproperty_get_property_name(p);

            return mtr_err_set(err, "%s: %s is not a valid date or time",
                               kind_name(comp), n ? n : "a property");
        }
    }
    return MTR_OK;
}

static int
lic_errors(icalcomponent *comp, mtr_err_t *err)
{
    icalproperty  *p;
    icalcompiter   it;
    icalcomponent *k;

    if (bad_times(comp, err) != MTR_OK) {
        return MTR_ERROR;
    }

    for (p = icalcomponent_get_first_property(comp, ICAL_XLICERROR_PROPERTY);
         p != NULL;
         p = icalcomponent_get_next_property(comp, ICAL_XLICERROR_PROPERTY))
    {
        icalparameter *t;
        const char    *msg;
        char           m[160];

        t = icalproperty_get_first_parameter(p, ICAL_XLICERRORTYPE_PARAMETER);
        if (t != NULL) {
            icalparameter_xlicerrortype e = icalparameter_get_xlicerrortype(t);

            /* Unknown IANA names: the scan checked their syntax. */
            if (e == ICAL_XLICERRORTYPE_PROPERTYPARSEERROR
                || e == ICAL_XLICERRORTYPE_PARAMETERNAMEPARSEERROR)
            {
                continue;
            }
        }
        msg = icalproperty_get_xlicerror(p);
        if (msg == NULL) {
            msg = "unknown";
        }
        mtr_sanitize(m, sizeof(m), msg, strlen(msg));
        return mtr_err_set(err, "%s: %s", kind_name(comp), m);
    }
    for (it = icalcomponent_begin_component(comp, ICAL_ANY_COMPONENT);
         (k = icalcompiter_deref(&it)) != NULL; icalcompiter_next(&it))
    {
        if (lic_errors(k, err) != MTR_OK) {
            return MTR_ERROR;
        }
    }
    return MTR_OK;
}

static int
comp_in_set(const char *name, const char *set)
{
    size_t n = strlen(name);

    if (set == NULL || *set == '\0') {
        return 1;
    }
    while (*set != '\0') {
        const char *e;
        size_t      len;

        while (*set == ' ' || *set == ',') {
            set++;
        }
        e = set;
        while (*e != '\0' && *e != ',' && *e != ' ') {
            e++;
        }
        len = (size_t) (e - set);
        if (len == n && strncasecmp(set, name, n) == 0) {
            return 1;
        }
        set = e;
    }
    return 0;
}

typedef struct {
    const char        *precond;
    icalcomponent_kind kind;
    const char        *uid;
    int                masters, overrides;
} check_t;

/* One component directly under VCALENDAR. */
static int
check_comp(ctx_t *c, icalcomponent *k, check_t *ck, mtr_err_t *err)
{
    icalcomponent_kind kind = icalcomponent_isa(k);
    const char        *name = kind_name(k);
    icalproperty      *p;
    const char        *uid;
    shape_t            s;

    if (kind == ICAL_VTIMEZONE_COMPONENT) {
        p = icalcomponent_get_first_property(k, ICAL_TZID_PROPERTY);
        if (p == NULL || icalproperty_get_tzid(p) == NULL) {
            ck->precond = PRECOND_DATA;
            return mtr_err_set(err, "VTIMEZONE without TZID");
        }
        return MTR_OK;
    }
    if (kind == ICAL_X_COMPONENT || kind == ICAL_NO_COMPONENT) {
        return MTR_OK; /* X- or unknown IANA component: kept, not indexed */
    }
    if (!is_instance_kind(kind)) {
        ck->precond = PRECOND_COMP;
        return mtr_err_set(err, "component %s is not supported", name);
    }
    if (ck->kind != ICAL_NO_COMPONENT && ck->kind != kind) {
        ck->precond = PRECOND_OBJECT;
        return mtr_err_set(err, "%s and %s in one calendar object resource",
                           icalcomponent_kind_to_string(ck->kind), name);
    }
    ck->kind = kind;
    p = icalcomponent_get_first_property(k, ICAL_UID_PROPERTY);
    uid = p != NULL ? icalproperty_get_uid(p) : NULL;
    ck->precond = PRECOND_OBJECT;
    if (uid == NULL || *uid == '\0') {
        return mtr_err_set(err, "%s without UID", name);
    }
    if (icalcomponent_get_next_property(k, ICAL_UID_PROPERTY) != NULL) {
        return mtr_err_set(err, "%s with two UIDs", name);
    }
    if (strlen(uid) >= sizeof(((caldav_ical_index_t *) 0)->uid)) {
        return mtr_err_set(err, "UID longer than %zu bytes",
                           sizeof(((caldav_ical_index_t *) 0)->uid) - 1);
    }
    if (ck->uid != NULL && strcmp(ck->uid, uid) != 0) {
        return mtr_err_set(err, "two different UIDs in one calendar object "
                                "resource");
    }
    ck->uid = uid;
    ck->precond = PRECOND_DATA;
    if (shape_init(c, k, &s) != MTR_OK) {
        shape_free(&s);
        return mtr_err_set(err, "out of memory");
    }
    if (!s.has_start
        && (kind == ICAL_VEVENT_COMPONENT || s.nrules > 0 || s.nrdates > 0
            || icalcomponent_get_first_property(k, ICAL_RRULE_PROPERTY)))
    {
        shape_free(&s);
        return mtr_err_set(err, "%s without a valid DTSTART", name);
    }
    if (icalcomponent_get_first_property(k, ICAL_DURATION_PROPERTY) != NULL
        && (icalcomponent_get_first_property(k, ICAL_DTEND_PROPERTY) != NULL
            || icalcomponent_get_first_property(k, ICAL_DUE_PROPERTY) != NULL))
    {
        shape_free(&s);
        return mtr_err_set(err, "%s with both DURATION and DTEND/DUE", name);
    }
    if (icalcomponent_get_first_property(k, ICAL_RECURRENCEID_PROPERTY)) {
        if (!s.is_override) {
            shape_free(&s);
            return mtr_err_set(err, "%s with a bad RECURRENCE-ID", name);
        }
        ck->overrides++;
    } else {
        ck->masters++;
    }
    shape_free(&s);
    if (ck->masters > 1) {
        ck->precond = PRECOND_OBJECT;
        return mtr_err_set(err, "two %s components without RECURRENCE-ID",
                           name);
    }
    return MTR_OK;
}

/* Structure of the parsed object per RFC 4791 4.1. */
static int
check_object(ctx_t *c, const char *comp_set, caldav_ical_index_t *ix,
             const char **precond_r, mtr_err_t *err)
{
    icalcompiter   it;
    icalcomponent *k;
    check_t        ck;

    memset(&ck, 0, sizeof(ck));
    ck.kind = ICAL_NO_COMPONENT;
    if (icalcomponent_get_first_property(c->root, ICAL_METHOD_PROPERTY)) {
        *precond_r = PRECOND_OBJECT;
        return mtr_err_set(err, "METHOD is not allowed in a calendar "
                                "collection");
    }
    for (it = icalcomponent_begin_component(c->root, ICAL_ANY_COMPONENT);
         (k = icalcompiter_deref(&it)) != NULL; icalcompiter_next(&it))
    {
        if (check_comp(c, k, &ck, err) != MTR_OK) {
            *precond_r = ck.precond;
            return MTR_ERROR;
        }
    }
    if (ck.kind == ICAL_NO_COMPONENT) {
        *precond_r = PRECOND_OBJECT;
        return mtr_err_set(err, "no VEVENT, VTODO, VJOURNAL or VFREEBUSY");
    }
    snprintf(ix->comp, sizeof(ix->comp), "%s",
             icalcomponent_kind_to_string(ck.kind));
    if (!comp_in_set(ix->comp, comp_set)) {
        *precond_r = PRECOND_COMP;
        return mtr_err_set(err,
                           "%s is not in this calendar's "
                           "supported-calendar-component-set",
                           ix->comp);
    }
    snprintf(ix->uid, sizeof(ix->uid), "%s", ck.uid);
    ix->recurring = ck.overrides > 0;
    return MTR_OK;
}

/* Duplicate RECURRENCE-IDs are two answers for one instance. */
static int
check_rids(ctx_t *c, mtr_err_t *err)
{
    size_t i;

    for (i = 1; i < c->nrids; i++) {
        if (c->rids[i] == c->rids[i - 1]) {
            return mtr_err_set(err, "two overrides with the same "
                                    "RECURRENCE-ID");
        }
    }
    return MTR_OK;
}

static int
index_object(ctx_t *c, caldav_ical_index_t *ix, mtr_err_t *err)
{
    icalcompiter   it;
    icalcomponent *k;
    span_t         sp;
    int            unbounded = 0;

    memset(&sp, 0, sizeof(sp));
    for (it = icalcomponent_begin_component(c->root, ICAL_ANY_COMPONENT);
         (k = icalcompiter_deref(&it)) != NULL; icalcompiter_next(&it))
    {
        shape_t s;

        if (!is_instance_kind(icalcomponent_isa(k))) {
            continue;
        }
        if (shape_init(c, k, &s) != MTR_OK) {
            shape_free(&s);
            return mtr_err_set(err, "out of memory");
        }
        if (s.recurring) {
            ix->recurring = 1;
        }
        index_shape(c, &s, &sp, &unbounded);
        shape_free(&s);
    }
    ix->first_start = sp.any ? sp.first : CALDAV_TIME_MIN;
    ix->last_end = sp.any && !unbounded ? sp.last : CALDAV_TIME_MAX;
    return MTR_OK;
}

void
caldav_ical_init(void)
{
    icaltimezone       *z;
    struct icaltimetype tt;

    icalerror_set_errors_are_fatal(0);
    icalerror_clear_errno();
    (void) icaltimezone_get_utc_timezone();
    (void) icaltimezone_get_builtin_timezones();
    /* sets libical's TZID prefix, lazily initialized too */
    (void) icaltimezone_get_builtin_timezone_from_tzid("/caldav/none");
    /* The first conversion fixes libical's static expansion year. */
    z = icaltimezone_get_builtin_timezone("Europe/London");
    if (z != NULL) {
        tt = icaltime_from_timet_with_zone(time(NULL), 0, z);
        (void) icaltime_as_timet_with_zone(tt, z);
    }
}

int
caldav_ical_check(const char *data, size_t len, const char *comp_set,
                  caldav_ical_index_t *ix, const char **precond_r,
                  mtr_err_t *err)
{
    ctx_t       c;
    const char *precond = PRECOND_DATA;
    size_t      bom;
    int         rc = MTR_ERROR;

    memset(ix, 0, sizeof(*ix));
    memset(&c, 0, sizeof(c));
    if (len > CALDAV_ICAL_MAX_SIZE) {
        *precond_r = PRECOND_SIZE;
        return mtr_err_set(err, "calendar data larger than %u bytes",
                           CALDAV_ICAL_MAX_SIZE);
    }
    if (data == NULL || len == 0) {
        *precond_r = PRECOND_DATA;
        return mtr_err_set(err, "empty calendar data");
    }
    bom = skip_bom(data, len);
    if (check_text(data + bom, len - bom, err) != MTR_OK
        || ctx_parse(&c, data, len, NULL, err) != MTR_OK
        || lic_errors(c.root, err) != MTR_OK)
    {
        goto done;
    }
    if (check_object(&c, comp_set, ix, &precond, err) != MTR_OK) {
        goto done;
    }
    precond = PRECOND_OBJECT;
    if (ctx_rids(&c) != MTR_OK) {
        mtr_err_set(err, "out of memory");
        goto done;
    }
    if (check_rids(&c, err) != MTR_OK) {
        goto done;
    }
    precond = PRECOND_DATA;
    if (index_object(&c, ix, err) != MTR_OK) {
        goto done;
    }
    rc = MTR_OK;
done:
    if (rc != MTR_OK) {
        *precond_r = precond;
    }
    ctx_free(&c);
    return rc;
}

/* ---------------------------------------------------------------- */
/* the instance list of the store's instance index                    */

typedef struct {
    int64_t *v;
    size_t   n, cap, max;
    int64_t  horizon;
    int      full;
} inst_list_t;

static int
inst_list_cb(ctx_t *c, const inst_t *in, void *arg)
{
    inst_list_t *l = arg;
    int64_t     *nv;

    (void) c;
    /* walk() hands over a non-recurring shape (a moved override) whatever
     * the window: the list holds only instances before the horizon */
    if (in->start >= l->horizon) {
        return WALK_DONE;
    }
    if (l->n == l->max) {
        l->full = 1;
        return WALK_STOP;
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        nv = realloc(l->v, l->cap * 2 * sizeof(*nv));
        if (nv == NULL) {
            l->full = 1;
            return WALK_STOP;
        }
        l->v = nv;
    }
    l->v[2 * l->n] = in->start;
    l->v[2 * l->n + 1] = in->end;
    l->n++;
    return WALK_DONE;
}

static int
cmp_pair(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;

    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : (x[1] > y[1]) - (x[1] < y[1]);
}

int
caldav_ical_instances(const char *data, size_t len, int64_t horizon, size_t max,
                      int64_t **v_r, size_t *n_r, mtr_err_t *err)
{
    ctx_t          c;
    icalcompiter   it;
    icalcomponent *k;
    inst_list_t    l;
    int            rc = MTR_OK;

    *v_r = NULL;
    *n_r = 0;
    memset(&l, 0, sizeof(l));
    l.max = max;
    l.horizon = horizon;
    if (ctx_parse(&c, data, len, NULL, err) != MTR_OK) {
        ctx_free(&c);
        return MTR_ERROR;
    }
    if (ctx_rids(&c) != MTR_OK) {
        ctx_free(&c);
        return mtr_err_set(err, "out of memory");
    }
    for (it = icalcomponent_begin_component(c.root, ICAL_ANY_COMPONENT);
         rc == MTR_OK && (k = icalcompiter_deref(&it)) != NULL;
         icalcompiter_next(&it))
    {
        shape_t s;
        int     w;

        if (!is_instance_kind(icalcomponent_isa(k))) {
            continue;
        }
        if (icalcomponent_isa(k) != ICAL_VEVENT_COMPONENT) {
            rc = MTR_DECLINED;
            break;
        }
        if (shape_init(&c, k, &s) != MTR_OK) {
            shape_free(&s);
            rc = mtr_err_set(err, "out of memory");
            break;
        }
        w = s.has_start
                ? walk(&c, &s, CALDAV_TIME_MIN, horizon - 1, inst_list_cb, &l)
                : WALK_DONE;
        shape_free(&s);
        if (w == WALK_CAPPED || l.full) {
            rc = MTR_DECLINED;
        }
    }
    ctx_free(&c);
    if (rc != MTR_OK) {
        free(l.v);
        return rc;
    }
    if (l.n > 1) {
        qsort(l.v, l.n, 2 * sizeof(int64_t), cmp_pair);
    }
    *v_r = l.v;
    *n_r = l.n;
    return MTR_OK;
}

/* ---------------------------------------------------------------- */
/* text-match (RFC 4791 9.7.5, RFC 4790 collations)                   */

static int
text_match_one(const caldav_text_match_t *tm, const char *s, size_t len)
{
    return caldav_text_match(tm, s, len) == 1;
}

/* ---------------------------------------------------------------- */
/* filters (RFC 4791 9.7)                                             */

/* The value of a property as text to match on (malloc'ed). */
static char *
prop_text(icalproperty *p)
{
    icalvalue  *v = icalproperty_get_value(p);
    const char *s;

    if (v == NULL) {
        return strdup("");
    }
    switch (icalvalue_isa(v)) {
    case ICAL_TEXT_VALUE:
        s = icalvalue_get_text(v);
        return strdup(s != NULL ? s : "");
    case ICAL_X_VALUE:
        s = icalvalue_get_x(v);
        return strdup(s != NULL ? s : "");
    default:
        return icalvalue_as_ical_string_r(v);
    }
}

/* Parameter NAME=value[,value] as serialized by libical. */
static int
param_match(icalproperty *p, const caldav_param_filter_t *pf)
{
    icalparameter *q;
    int            found = 0, any = 0;

    for (q = icalproperty_get_first_parameter(p, ICAL_ANY_PARAMETER); q != NULL;
         q = icalproperty_get_next_parameter(p, ICAL_ANY_PARAMETER))
    {
        char  *s = icalparameter_as_ical_string_r(q);
        char  *eq, *v, *e;
        size_t nlen;

        if (s == NULL) {
            continue;
        }
        eq = strchr(s, '=');
        nlen = eq ? (size_t) (eq - s) : strlen(s);
        if (nlen != strlen(pf->name) || strncasecmp(s, pf->name, nlen) != 0) {
            free(s);
            continue;
        }
        found = 1;
        for (v = eq ? eq + 1 : s + nlen; pf->text_match != NULL && !any;) {
            int quoted = *v == '"';

            if (quoted) {
                v++;
                e = strchr(v, '"');
            } else {
                e = strchr(v, ',');
            }
            if (e == NULL) {
                e = v + strlen(v);
            }
            any = text_match_one(pf->text_match, v, (size_t) (e - v));
            v = e + (*e == '"');
            if (*v != ',') {
                break;
            }
            v++;
        }
        free(s);
        if (any) {
            break;
        }
    }
    if (pf->is_not_defined) {
        return !found;
    }
    if (!found) {
        return 0;
    }
    if (pf->text_match == NULL) {
        return 1;
    }
    return pf->text_match->negate ? !any : any;
}

/* A property of time type inside range (RFC 4791 9.9, last table). */
static int
prop_in_range(ctx_t *c, icalproperty *p, const caldav_time_range_t *tr)
{
    struct icaltimetype tt;
    icaltimezone       *z;
    int64_t             t, e;
    icalvalue          *v = icalproperty_get_value(p);

    if (v != NULL && icalvalue_isa(v) == ICAL_PERIOD_VALUE) {
        struct icalperiodtype pt = icalvalue_get_period(v);

        t = tt_utc(c, pt.start, c->utc);
        return period_end(c, pt, t, &e) && tr->start < e && tr->end > t;
    }
    if (v != NULL && icalvalue_isa(v) == ICAL_DATETIMEPERIOD_VALUE
        && !icalperiodtype_is_null_period(
            icalvalue_get_datetimeperiod(v).period))
    {
        struct icalperiodtype pt = icalvalue_get_datetimeperiod(v).period;

        t = tt_utc(c, pt.start, c->utc);
        return period_end(c, pt, t, &e) && tr->start < e && tr->end > t;
    }
    if (prop_time(c, p, &tt, &z, &t) != MTR_OK) {
        return 0;
    }
    if (tt.is_date) {
        icaltime_adjust(&tt, 1, 0, 0, 0);
        e = tt_utc(c, tt, z);
        return tr->start < e && tr->end > t;
    }
    return tr->start <= t && tr->end > t;
}

static int
prop_matches(ctx_t *c, icalproperty *p, const caldav_prop_filter_t *pf)
{
    const caldav_text_match_t   *tm;
    const caldav_param_filter_t *qf;

    if (pf->time_range != NULL && !prop_in_range(c, p, pf->time_range)) {
        return 0;
    }
    for (tm = pf->text_matches; tm != NULL; tm = tm->next) {
        char *s = prop_text(p);
        int   m;

        if (s == NULL) {
            return MTR_ERROR;
        }
        m = text_match_one(tm, s, strlen(s));
        free(s);
        if (m == tm->negate) {
            return 0;
        }
    }
    for (qf = pf->param_filters; qf != NULL; qf = qf->next) {
        if (!param_match(p, qf)) {
            return 0;
        }
    }
    return 1;
}

static int
prop_name_is(icalproperty *p, const char *name)
{
    const char *n = icalproperty_get_property_name(p);

    return n != NULL && strcasecmp(n, name) == 0;
}

/* 1 match, 0 none, MTR_ERROR */
static int
match_prop_filter(ctx_t *c, icalcomponent *comp, const caldav_prop_filter_t *pf)
{
    icalproperty *p;
    int           found = 0, r;

    for (p = icalcomponent_get_first_property(comp, ICAL_ANY_PROPERTY);
         p != NULL;
         p = icalcomponent_get_next_property(comp, ICAL_ANY_PROPERTY))
    {
        if (icalproperty_isa(p) == ICAL_XLICERROR_PROPERTY
            || !prop_name_is(p, pf->name))
        {
            continue;
        }
        found = 1;
        if (pf->is_not_defined) {
            break;
        }
        r = prop_matches(c, p, pf);
        if (r != 0) {
            return r;
        }
    }
    if (pf->is_not_defined) {
        return !found;
    }
    return 0;
}

/* VALARM time-range (RFC 4791 9.9): any trigger of any instance. */
typedef struct {
    int64_t rs, re;
    int64_t offset; /* relative trigger */
    int     related_end;
    int     repeat;
    int64_t interval;
} alarm_arg_t;

static int
alarm_hit(const alarm_arg_t *a, int64_t base)
{
    int     k;
    int64_t t;

    for (k = 0; k <= a->repeat; k++) {
        t = sat_add(sat_add(base, a->offset), (int64_t) k * a->interval);
        if (a->rs <= t && a->re > t) {
            return 1;
        }
    }
    return 0;
}

static int
alarm_cb(ctx_t *c, const inst_t *in, void *arg)
{
    alarm_arg_t   *a = arg;
    const shape_t *s = in->shape;
    int64_t        base;

    (void) c;
    if (a->related_end) {
        base =
            s->kind == ICAL_VTODO_COMPONENT && s->has_due ? in->due : in->end;
    } else {
        if (!s->has_start) {
            return WALK_DONE;
        }
        base = in->start;
    }
    return alarm_hit(a, base) ? WALK_STOP : WALK_DONE;
}

static int
alarm_in_range(ctx_t *c, icalcomponent *alarm, const shape_t *parent,
               const caldav_time_range_t *tr)
{
    icalproperty          *p;
    struct icaltriggertype trig;
    alarm_arg_t            a;
    icalparameter         *rel;
    int64_t                span, from, to;

    p = icalcomponent_get_first_property(alarm, ICAL_TRIGGER_PROPERTY);
    if (p == NULL || parent == NULL) {
        return 0;
    }
    memset(&a, 0, sizeof(a));
    a.rs = tr->start;
    a.re = tr->end;
    trig = icalproperty_get_trigger(p);
    if (icalcomponent_get_first_property(alarm, ICAL_REPEAT_PROPERTY)
        && icalcomponent_get_first_property(alarm, ICAL_DURATION_PROPERTY))
    {
        a.repeat = icalproperty_get_repeat(
            icalcomponent_get_first_property(alarm, ICAL_REPEAT_PROPERTY));
        a.interval = icaldurationtype_as_int(icalproperty_get_duration(
            icalcomponent_get_first_property(alarm, ICAL_DURATION_PROPERTY)));
        if (a.repeat < 0 || a.interval <= 0) {
            a.repeat = 0;
        }
        if (a.repeat > ALARM_REPEAT_MAX) {
            a.repeat = ALARM_REPEAT_MAX;
        }
    }
    if (!icaltime_is_null_time(trig.time)) {
        return alarm_hit(&a, tt_utc(c, trig.time, c->utc));
    }
    a.offset = icaldurationtype_as_int(trig.duration);
    rel = icalproperty_get_first_parameter(p, ICAL_RELATED_PARAMETER);
    a.related_end =
        rel != NULL && icalparameter_get_related(rel) == ICAL_RELATED_END;
    /* Instances whose triggers can land in the range. */
    span = (int64_t) a.repeat * a.interval;
    from = sat_sub(sat_sub(sat_sub(tr->start, a.offset), span), JUMP_SLACK);
    to = sat_add(sat_sub(tr->end, a.offset), JUMP_SLACK);
    return walk(c, parent, from, to, alarm_cb, &a) == WALK_STOP;
}

static int match_children(ctx_t *c, icalcomponent *parent,
                          const shape_t              *parent_shape,
                          const caldav_comp_filter_t *f);

static int
comp_name_is(icalcomponent *k, const char *name)
{
    const char *n = icalcomponent_kind_to_string(icalcomponent_isa(k));

    return n != NULL && strcasecmp(n, name) == 0;
}

/* Does component k (named as f) satisfy f?  parent: for VALARM. */
static int
match_comp(ctx_t *c, icalcomponent *k, const shape_t *parent,
           const caldav_comp_filter_t *f)
{
    const caldav_prop_filter_t *pf;
    const caldav_comp_filter_t *cf;
    shape_t                     s;
    int                         has_shape = 0, r = 1;
    icalcomponent_kind          kind = icalcomponent_isa(k);

    for (pf = f->prop_filters; pf != NULL; pf = pf->next) {
        r = match_prop_filter(c, k, pf);
        if (r != 1) {
            return r;
        }
    }
    if (is_instance_kind(kind)) {
        if (shape_init(c, k, &s) != MTR_OK) {
            shape_free(&s);
            return MTR_ERROR;
        }
        has_shape = 1;
    }
    if (f->time_range != NULL) {
        range_arg_t a = { f->time_range->start, f->time_range->end };

        if (kind == ICAL_VALARM_COMPONENT) {
            r = alarm_in_range(c, k, parent, f->time_range);
        } else if (has_shape) {
            r = walk(c, &s, a.rs, a.re, range_cb, &a) == WALK_STOP;
        } else {
            r = 0;
        }
    }
    for (cf = f->comp_filters; r == 1 && cf != NULL; cf = cf->next) {
        r = match_children(c, k, has_shape ? &s : parent, cf);
    }
    if (has_shape) {
        shape_free(&s);
    }
    return r;
}

static int
match_children(ctx_t *c, icalcomponent *parent, const shape_t *parent_shape,
               const caldav_comp_filter_t *f)
{
    icalcompiter   it;
    icalcomponent *k;
    int            found = 0, r;

    for (it = icalcomponent_begin_component(parent, ICAL_ANY_COMPONENT);
         (k = icalcompiter_deref(&it)) != NULL; icalcompiter_next(&it))
    {
        if (!comp_name_is(k, f->name)) {
            continue;
        }
        found = 1;
        if (f->is_not_defined) {
            break;
        }
        r = match_comp(c, k, parent_shape, f);
        if (r != 0) {
            return r;
        }
    }
    return f->is_not_defined ? !found : 0;
}

int
caldav_ical_match(const char *data, size_t len,
                  const caldav_comp_filter_t *filter, const char *tz_vcalendar,
                  mtr_err_t *err)
{
    ctx_t c;
    int   r;

    if (filter == NULL) {
        return 1;
    }
    if (ctx_parse(&c, data, len, tz_vcalendar, err) != MTR_OK) {
        ctx_free(&c);
        return MTR_ERROR;
    }
    if (ctx_rids(&c) != MTR_OK) {
        ctx_free(&c);
        return mtr_err_set(err, "out of memory");
    }
    if (!comp_name_is(c.root, filter->name) || filter->is_not_defined) {
        r = 0;
    } else if (filter->time_range != NULL) {
        r = 0; /* undefined for VCALENDAR (see the file comment) */
    } else {
        r = match_comp(&c, c.root, NULL, filter);
    }
    ctx_free(&c);
    if (r < 0) {
        return mtr_err_set(err, "out of memory");
    }
    return r;
}

/* ---------------------------------------------------------------- */
/* expand and limit-recurrence-set (RFC 4791 9.6.5, 9.6.6)            */

typedef struct {
    inst_t              in;
    int64_t             rid; /* original start */
    int                 has_rid;
    int                 rid_is_date;
    struct icaltimetype rid_tt;
    icaltimezone       *rid_zone;
    size_t              seq;
} out_inst_t;

typedef struct {
    out_inst_t *v;
    size_t      n, cap;
    int64_t     rs, re;
    int         failed;
    int         too_many;
} expand_t;

static int
expand_push(expand_t *x, const inst_t *in, int master)
{
    out_inst_t *o;

    if (x->n == CALDAV_ICAL_EXPAND_MAX_INSTANCES) {
        x->too_many = 1;
        return WALK_STOP;
    }
    if (x->n == x->cap) {
        size_t      cap = x->cap ? x->cap * 2 : 16;
        out_inst_t *v = realloc(x->v, cap * sizeof(*v));

        if (v == NULL) {
            x->failed = 1;
            return WALK_STOP;
        }
        x->v = v;
        x->cap = cap;
    }
    o = &x->v[x->n];
    memset(o, 0, sizeof(*o));
    o->in = *in;
    o->seq = x->n++;
    if (master) {
        o->has_rid = 1;
        o->rid = in->start;
        o->rid_tt = in->tt;
        o->rid_zone = in->zone;
    } else if (in->shape->is_override) {
        o->has_rid = 1;
        o->rid = in->shape->rid;
        o->rid_tt = in->shape->rid_tt;
        o->rid_zone = in->shape->rid_zone;
    }
    return WALK_DONE;
}

static int
expand_cb(ctx_t *c, const inst_t *in, void *arg)
{
    expand_t *x = arg;

    if (!inst_in_range(c, in, x->rs, x->re)) {
        return WALK_DONE;
    }
    return expand_push(x, in, in->shape->recurring);
}

static int
cmp_out(const void *a, const void *b)
{
    const out_inst_t *x = a, *y = b;

    if (x->in.start != y->in.start) {
        return x->in.start < y->in.start ? -1 : 1;
    }
    return (x->seq > y->seq) - (x->seq < y->seq);
}

void
caldav_ical_remove_props(icalcomponent *k, icalproperty_kind kind)
{
    icalproperty *p;

    while ((p = icalcomponent_get_first_property(k, kind)) != NULL) {
        icalcomponent_remove_property(k, p);
        icalproperty_free(p);
    }
}

void
caldav_ical_strip_lic_errors(icalcomponent *k)
{
    icalcompiter   it;
    icalcomponent *sub;

    caldav_ical_remove_props(k, ICAL_XLICERROR_PROPERTY);
    for (it = icalcomponent_begin_component(k, ICAL_ANY_COMPONENT);
         (sub = icalcompiter_deref(&it)) != NULL; icalcompiter_next(&it))
    {
        caldav_ical_strip_lic_errors(sub);
    }
}

/* A time property: UTC, or the local DATE of a DATE instance. */
static void
set_time(icalcomponent *k, icalproperty_kind kind, int64_t t, int is_date,
         icaltimezone *zone, icaltimezone *utc)
{
    struct icaltimetype tt;
    icalproperty       *p;

    caldav_ical_remove_props(k, kind);
    tt = icaltime_from_timet_with_zone((time_t) t, is_date,
                                       is_date ? zone : utc);
    if (is_date) {
        tt.zone = NULL;
    }
    p = icalproperty_new(kind);
    if (p == NULL) {
        return;
    }
    if (is_date) {
        icalproperty_set_value(p, icalvalue_new_date(tt));
    } else {
        icalproperty_set_value(p, icalvalue_new_datetime(tt));
    }
    icalcomponent_add_property(k, p);
}

static icalcomponent *
expand_one(ctx_t *c, const out_inst_t *o)
{
    const inst_t  *in = &o->in;
    const shape_t *s = in->shape;
    icalcomponent *k = icalcomponent_new_clone(s->comp);
    int            is_date = in->tt.is_date;

    if (k == NULL) {
        return NULL;
    }
    caldav_ical_strip_lic_errors(k);
    caldav_ical_remove_props(k, ICAL_RRULE_PROPERTY);
    caldav_ical_remove_props(k, ICAL_RDATE_PROPERTY);
    caldav_ical_remove_props(k, ICAL_EXDATE_PROPERTY);
    caldav_ical_remove_props(k, ICAL_EXRULE_PROPERTY);
    if (s->has_start) {
        set_time(k, ICAL_DTSTART_PROPERTY, in->start, is_date, in->zone,
                 c->utc);
    }
    if (s->has_end_prop) {
        set_time(k, ICAL_DTEND_PROPERTY, in->end, is_date, in->zone, c->utc);
    }
    if (s->kind == ICAL_VTODO_COMPONENT && s->has_due) {
        set_time(k, ICAL_DUE_PROPERTY, in->due, is_date, in->zone, c->utc);
    }
    if (o->has_rid) {
        set_time(k, ICAL_RECURRENCEID_PROPERTY, o->rid, o->rid_tt.is_date,
                 o->rid_zone, c->utc);
    }
    return k;
}

static int
add_comp_text(caldav_buf_t *out, icalcomponent *k)
{
    char *s = icalcomponent_as_ical_string_r(k);
    int   rc;

    if (s == NULL) {
        return MTR_ERROR;
    }
    rc = caldav_buf_adds(out, s);
    free(s);
    return rc;
}

static int
expand_render(ctx_t *c, const caldav_time_range_t *tr, caldav_buf_t *out,
              mtr_err_t *err)
{
    expand_t       x;
    icalcompiter   it;
    icalcomponent *k;
    icalproperty  *p;
    shape_t       *shapes = NULL;
    size_t         nshapes = 0, i;
    int            rc = MTR_ERROR;
    int64_t        to;
    size_t         out_start = out->len;

    memset(&x, 0, sizeof(x));
    x.rs = tr->start;
    x.re = tr->end;
    to = tr->end;
    if (to == CALDAV_TIME_MAX) {
        /* open end: the horizon past the start (or now) bounds the walk */
        to = sat_add(tr->start == CALDAV_TIME_MIN ? (int64_t) time(NULL)
                                                  : tr->start,
                     CALDAV_ICAL_EXPAND_HORIZON);
    }
    shapes =
        calloc(icalcomponent_count_components(c->root, ICAL_ANY_COMPONENT) + 1,
               sizeof(*shapes));
    if (shapes == NULL) {
        return mtr_err_set(err, "out of memory");
    }
    for (it = icalcomponent_begin_component(c->root, ICAL_ANY_COMPONENT);
         (k = icalcompiter_deref(&it)) != NULL; icalcompiter_next(&it))
    {
        shape_t *s = &shapes[nshapes];

        if (!is_instance_kind(icalcomponent_isa(k))) {
            continue;
        }
        nshapes++;
        if (shape_init(c, k, s) != MTR_OK) {
            mtr_err_set(err, "out of memory");
            goto done;
        }
        if (walk(c, s, tr->start, to, expand_cb, &x) == WALK_STOP && x.failed) {
            mtr_err_set(err, "out of memory");
            goto done;
        }
        if (x.too_many) {
            mtr_err_set(err, "more than %d instances in the expand range",
                        CALDAV_ICAL_EXPAND_MAX_INSTANCES);
            rc = CALDAV_ICAL_TOO_BIG;
            goto done;
        }
    }
    if (x.n > 1) {
        qsort(x.v, x.n, sizeof(*x.v), cmp_out);
    }
    caldav_buf_adds(out, "BEGIN:VCALENDAR\r\n");
    for (p = icalcomponent_get_first_property(c->root, ICAL_ANY_PROPERTY);
         p != NULL;
         p = icalcomponent_get_next_property(c->root, ICAL_ANY_PROPERTY))
    {
        char *s;

        if (icalproperty_isa(p) == ICAL_XLICERROR_PROPERTY) {
            continue;
        }
        s = icalproperty_as_ical_string_r(p);
        if (s != NULL) {
            caldav_buf_adds(out, s);
            free(s);
        }
    }
    for (i = 0; i < x.n; i++) {
        /* RRULE and RDATE may name the same instance: once is enough */
        if (i > 0 && x.v[i].in.start == x.v[i - 1].in.start
            && x.v[i].in.shape == x.v[i - 1].in.shape)
        {
            continue;
        }
        if (out->len - out_start > CALDAV_ICAL_EXPAND_MAX_BYTES) {
            mtr_err_set(err, "the expanded object exceeds %u bytes",
                        CALDAV_ICAL_EXPAND_MAX_BYTES);
            rc = CALDAV_ICAL_TOO_BIG;
            goto done;
        }
        k = expand_one(c, &x.v[i]);
        if (k == NULL || add_comp_text(out, k) != MTR_OK) {
            if (k != NULL) {
                icalcomponent_free(k);
            }
            mtr_err_set(err, "out of memory");
            goto done;
        }
        icalcomponent_free(k);
    }
    caldav_buf_adds(out, "END:VCALENDAR\r\n");
    rc = out->failed ? mtr_err_set(err, "response too large") : MTR_OK;
done:
    for (i = 0; i < nshapes; i++) {
        shape_free(&shapes[i]);
    }
    free(shapes);
    free(x.v);
    return rc;
}

/* Spans of the components right under VCALENDAR, in text order. */
typedef struct {
    size_t (*v)[2];
    size_t n, cap;
    int    depth;
    int    failed;
} spans_t;

static int
spans_cb(const cline_t *l, void *arg, mtr_err_t *err)
{
    spans_t *sp = arg;

    (void) err;
    if (strcmp(l->name, "BEGIN") == 0) {
        if (++sp->depth == 2) {
            if (sp->n == sp->cap) {
                size_t cap = sp->cap ? sp->cap * 2 : 16;
                void  *v = realloc(sp->v, cap * sizeof(*sp->v));

                if (v == NULL) {
                    sp->failed = 1;
                    return MTR_ERROR;
                }
                sp->v = v;
                sp->cap = cap;
            }
            sp->v[sp->n][0] = l->start;
        }
    } else if (strcmp(l->name, "END") == 0) {
        if (sp->depth-- == 2) {
            sp->v[sp->n++][1] = l->end;
        }
    }
    return MTR_OK;
}

/* Does override o impact the range, now or at its original time? */
static int
override_impacts(ctx_t *c, const shape_t *o, const shape_t *master,
                 const caldav_time_range_t *tr)
{
    range_arg_t a = { tr->start, tr->end };
    inst_t      in;

    if (walk(c, o, tr->start, tr->end, range_cb, &a) == WALK_STOP) {
        return 1;
    }
    if (master == NULL || !master->has_start) {
        return 0;
    }
    inst_make(c, master,
              icaltime_from_timet_with_zone(
                  (time_t) o->rid, master->start_tt.is_date, master->zone),
              master->zone, o->rid, &in);
    return inst_in_range(c, &in, tr->start, tr->end);
}

static int
limit_render(ctx_t *c, const char *data, size_t len,
             const caldav_time_range_t *tr, caldav_buf_t *out, mtr_err_t *err)
{
    icalcompiter   it;
    icalcomponent *k;
    shape_t        master, s;
    int            has_master = 0, rc = MTR_ERROR;
    unsigned char *drop = NULL;
    size_t         n = 0, i, at, bom;
    spans_t        sp;
    mtr_err_t      e2;

    memset(&sp, 0, sizeof(sp));
    memset(&master, 0, sizeof(master));
    n = (size_t) icalcomponent_count_components(c->root, ICAL_ANY_COMPONENT);
    drop = calloc(n + 1, 1);
    if (drop == NULL) {
        return mtr_err_set(err, "out of memory");
    }
    for (it = icalcomponent_begin_component(c->root, ICAL_ANY_COMPONENT);
         (k = icalcompiter_deref(&it)) != NULL; icalcompiter_next(&it))
    {
        if (is_instance_kind(icalcomponent_isa(k))
            && !icalcomponent_get_first_property(k, ICAL_RECURRENCEID_PROPERTY))
        {
            has_master = 1;
            if (shape_init(c, k, &master) != MTR_OK) {
                mtr_err_set(err, "out of memory");
                goto done;
            }
            break;
        }
    }
    i = 0;
    for (it = icalcomponent_begin_component(c->root, ICAL_ANY_COMPONENT);
         (k = icalcompiter_deref(&it)) != NULL; icalcompiter_next(&it), i++)
    {
        if (!is_instance_kind(icalcomponent_isa(k))
            || !icalcomponent_get_first_property(k, ICAL_RECURRENCEID_PROPERTY))
        {
            continue;
        }
        if (shape_init(c, k, &s) != MTR_OK) {
            shape_free(&s);
            mtr_err_set(err, "out of memory");
            goto done;
        }
        drop[i] = s.is_override
                  && !override_impacts(c, &s, has_master ? &master : NULL, tr);
        shape_free(&s);
    }
    for (i = 0; i < n && !drop[i]; i++) {
    }
    if (i == n) { /* nothing to leave out: the stored bytes */
        rc = caldav_buf_add(out, data, len) == MTR_OK
                 ? MTR_OK
                 : mtr_err_set(err, "response too large");
        goto done;
    }
    bom = skip_bom(data, len);
    if (scan_content(data + bom, len - bom, spans_cb, &sp, &e2) == MTR_OK
        && sp.n == n)
    {
        /* cut the dropped components out of the stored bytes */
        at = 0;
        caldav_buf_add(out, data, bom);
        for (i = 0; i < n; i++) {
            if (drop[i]) {
                caldav_buf_add(out, data + bom + at, sp.v[i][0] - at);
                at = sp.v[i][1];
            }
        }
        caldav_buf_add(out, data + bom + at, len - bom - at);
    } else {
        /* text and tree disagree: serialize the tree without them */
        i = 0;
        it = icalcomponent_begin_component(c->root, ICAL_ANY_COMPONENT);
        while ((k = icalcompiter_deref(&it)) != NULL) {
            icalcompiter_next(&it);
            if (drop[i++]) {
                icalcomponent_remove_component(c->root, k);
                icalcomponent_free(k);
            }
        }
        caldav_ical_strip_lic_errors(c->root);
        add_comp_text(out, c->root);
    }
    rc = out->failed ? mtr_err_set(err, "response too large") : MTR_OK;
done:
    if (has_master) {
        shape_free(&master);
    }
    free(sp.v);
    free(drop);
    return rc;
}

int
caldav_ical_render(const char *data, size_t len,
                   const caldav_time_range_t *expand,
                   const caldav_time_range_t *limit_recurrence,
                   const char *tz_vcalendar, caldav_buf_t *out, mtr_err_t *err)
{
    ctx_t c;
    int   rc;

    if (expand == NULL && limit_recurrence == NULL) {
        if (caldav_buf_add(out, data, len) != MTR_OK) {
            return mtr_err_set(err, "response too large");
        }
        return MTR_OK;
    }
    if (ctx_parse(&c, data, len, tz_vcalendar, err) != MTR_OK) {
        ctx_free(&c);
        return MTR_ERROR;
    }
    if (ctx_rids(&c) != MTR_OK) {
        ctx_free(&c);
        return mtr_err_set(err, "out of memory");
    }
    if (expand != NULL) {
        rc = expand_render(&c, expand, out, err);
    } else {
        rc = limit_render(&c, data, len, limit_recurrence, out, err);
    }
    ctx_free(&c);
    return rc;
}

/* ---------------------------------------------------------------- */
/* free-busy (RFC 4791 7.10)                                          */

static int
periods_add(caldav_ical_periods_t *p, int64_t s, int64_t e, int type)
{
    if (p->n == p->cap) {
        size_t                cap = p->cap ? p->cap * 2 : 32;
        caldav_ical_period_t *v;

        if (cap > PERIODS_MAX) {
            return MTR_ERROR;
        }
        v = realloc(p->v, cap * sizeof(*v));
        if (v == NULL) {
            return MTR_ERROR;
        }
        p->v = v;
        p->cap = cap;
    }
    p->v[p->n].start = s;
    p->v[p->n].end = e;
    p->v[p->n].fbtype = type;
    p->n++;
    return MTR_OK;
}

typedef struct {
    caldav_ical_periods_t *p;
    int64_t                rs, re;
    int                    type;
    int                    failed;
} fb_arg_t;

static int
clip_add(fb_arg_t *a, int64_t s, int64_t e)
{
    if (e <= s || e <= a->rs || s >= a->re) {
        return MTR_OK;
    }
    return periods_add(a->p, s < a->rs ? a->rs : s, e > a->re ? a->re : e,
                       a->type);
}

static int
fb_cb(ctx_t *c, const inst_t *in, void *arg)
{
    fb_arg_t *a = arg;

    (void) c;
    if (clip_add(a, in->start, in->end) != MTR_OK) {
        a->failed = 1;
        return WALK_STOP;
    }
    return WALK_DONE;
}

static int
fb_event(ctx_t *c, icalcomponent *k, fb_arg_t *a)
{
    icalproperty *p;
    shape_t       s;
    int           rc;

    p = icalcomponent_get_first_property(k, ICAL_TRANSP_PROPERTY);
    if (p != NULL && icalproperty_get_transp(p) == ICAL_TRANSP_TRANSPARENT) {
        return MTR_OK;
    }
    a->type = 0;
    p = icalcomponent_get_first_property(k, ICAL_STATUS_PROPERTY);
    if (p != NULL) {
        if (icalproperty_get_status(p) == ICAL_STATUS_CANCELLED) {
            return MTR_OK;
        }
        if (icalproperty_get_status(p) == ICAL_STATUS_TENTATIVE) {
            a->type = 1;
        }
    }
    if (shape_init(c, k, &s) != MTR_OK) {
        shape_free(&s);
        return MTR_ERROR;
    }
    rc = walk(c, &s, a->rs, a->re, fb_cb, a);
    shape_free(&s);
    return rc == WALK_STOP && a->failed ? MTR_ERROR : MTR_OK;
}

static int
fb_freebusy(ctx_t *c, icalcomponent *k, fb_arg_t *a)
{
    icalproperty *p;

    for (p = icalcomponent_get_first_property(k, ICAL_FREEBUSY_PROPERTY);
         p != NULL;
         p = icalcomponent_get_next_property(k, ICAL_FREEBUSY_PROPERTY))
    {
        struct icalperiodtype pt = icalproperty_get_freebusy(p);
        icalparameter        *q;
        int64_t               s, e;

        if (icalperiodtype_is_null_period(pt)) {
            continue;
        }
        a->type = 0;
        q = icalproperty_get_first_parameter(p, ICAL_FBTYPE_PARAMETER);
        if (q != NULL) {
            switch (icalparameter_get_fbtype(q)) {
            case ICAL_FBTYPE_FREE:
                continue;
            case ICAL_FBTYPE_BUSYTENTATIVE:
                a->type = 1;
                break;
            case ICAL_FBTYPE_BUSYUNAVAILABLE:
                a->type = 2;
                break;
            default:
                break;
            }
        }
        s = tt_utc(c, pt.start, c->utc);
        if (period_end(c, pt, s, &e) && clip_add(a, s, e) != MTR_OK) {
            return MTR_ERROR;
        }
    }
    return MTR_OK;
}

int
caldav_ical_freebusy_add(const char *data, size_t len,
                         const caldav_time_range_t *range,
                         const char *tz_vcalendar, caldav_ical_periods_t *p,
                         mtr_err_t *err)
{
    ctx_t          c;
    icalcompiter   it;
    icalcomponent *k;
    fb_arg_t       a;
    int            rc = MTR_OK;

    if (ctx_parse(&c, data, len, tz_vcalendar, err) != MTR_OK) {
        ctx_free(&c);
        return MTR_ERROR;
    }
    if (ctx_rids(&c) != MTR_OK) {
        ctx_free(&c);
        return mtr_err_set(err, "out of memory");
    }
    memset(&a, 0, sizeof(a));
    a.p = p;
    a.rs = range->start;
    a.re = range->end;
    for (it = icalcomponent_begin_component(c.root, ICAL_ANY_COMPONENT);
         rc == MTR_OK && (k = icalcompiter_deref(&it)) != NULL;
         icalcompiter_next(&it))
    {
        switch (icalcomponent_isa(k)) {
        case ICAL_VEVENT_COMPONENT:
            rc = fb_event(&c, k, &a);
            break;
        case ICAL_VFREEBUSY_COMPONENT:
            rc = fb_freebusy(&c, k, &a);
            break;
        default:
            break;
        }
    }
    ctx_free(&c);
    if (rc != MTR_OK) {
        return mtr_err_set(err, "too many busy periods or out of memory");
    }
    return MTR_OK;
}

static int
cmp_period(const void *a, const void *b)
{
    const caldav_ical_period_t *x = a, *y = b;

    if (x->fbtype != y->fbtype) {
        return x->fbtype - y->fbtype;
    }
    if (x->start != y->start) {
        return x->start < y->start ? -1 : 1;
    }
    return (x->end > y->end) - (x->end < y->end);
}

/* Sort and merge overlapping or touching periods of the same type. */
static void
periods_merge(caldav_ical_periods_t *p)
{
    size_t i, n = 0;

    if (p->n == 0) {
        return;
    }
    qsort(p->v, p->n, sizeof(*p->v), cmp_period);
    for (i = 1; i < p->n; i++) {
        caldav_ical_period_t *last = &p->v[n];

        if (p->v[i].fbtype == last->fbtype && p->v[i].start <= last->end) {
            if (p->v[i].end > last->end) {
                last->end = p->v[i].end;
            }
        } else {
            p->v[++n] = p->v[i];
        }
    }
    p->n = n + 1;
}

static int
utc_text(int64_t t, char *buf, size_t size)
{
    time_t    tt = (time_t) t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL || tm.tm_year + 1900 > 9999
        || tm.tm_year + 1900 < 0)
    {
        return MTR_ERROR;
    }
    snprintf(buf, size, "%04d%02d%02dT%02d%02d%02dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return MTR_OK;
}

/* Append one content line folded at 75 octets (RFC 5545 3.1), never
 * inside a UTF-8 sequence. */
static int
add_folded(caldav_buf_t *out, const char *s, size_t len)
{
    size_t i = 0, col = 0, k;

    while (i < len) {
        k = utf8_seq((const unsigned char *) s + i, len - i);
        k = k == 0 ? 1 : k;
        if (col + k > 75) {
            caldav_buf_add(out, "\r\n ", 3);
            col = 1;
        }
        caldav_buf_add(out, s + i, k);
        col += k;
        i += k;
    }
    return caldav_buf_add(out, "\r\n", 2);
}

static const char *const fbtype_names[] = { "BUSY", "BUSY-TENTATIVE",
                                            "BUSY-UNAVAILABLE" };

int
caldav_ical_freebusy_render(caldav_ical_periods_t     *p,
                            const caldav_time_range_t *range, caldav_buf_t *out,
                            mtr_err_t *err)
{
    char         a[64], b[64];
    caldav_buf_t line;
    size_t       i;
    int          type;

    periods_merge(p);
    caldav_buf_adds(out, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"
                         "PRODID:-//Mortar//CalDAV//EN\r\n"
                         "BEGIN:VFREEBUSY\r\n");
    if (utc_text((int64_t) time(NULL), a, sizeof(a)) == MTR_OK) {
        caldav_buf_printf(out, "DTSTAMP:%s\r\n", a);
    }
    if (range->start != CALDAV_TIME_MIN
        && utc_text(range->start, a, sizeof(a)) == MTR_OK)
    {
        caldav_buf_printf(out, "DTSTART:%s\r\n", a);
    }
    if (range->end != CALDAV_TIME_MAX
        && utc_text(range->end, a, sizeof(a)) == MTR_OK)
    {
        caldav_buf_printf(out, "DTEND:%s\r\n", a);
    }
    caldav_buf_init(&line);
    for (type = 0; type < 3; type++) {
        size_t count = 0;

        line.len = 0;
        for (i = 0; i < p->n; i++) {
            if (p->v[i].fbtype != type
                || utc_text(p->v[i].start, a, sizeof(a)) != MTR_OK
                || utc_text(p->v[i].end, b, sizeof(b)) != MTR_OK)
            {
                continue;
            }
            if (count++ == 0) {
                caldav_buf_printf(&line,
                                  "FREEBUSY;FBTYPE=%s:", fbtype_names[type]);
            } else {
                caldav_buf_add(&line, ",", 1);
            }
            caldav_buf_printf(&line, "%s/%s", a, b);
        }
        if (count > 0) {
            if (line.failed) {
                out->failed = 1;
            }
            add_folded(out, line.data, line.len);
        }
    }
    caldav_buf_free(&line);
    caldav_buf_adds(out, "END:VFREEBUSY\r\nEND:VCALENDAR\r\n");
    if (out->failed) {
        return mtr_err_set(err, "response too large");
    }
    return MTR_OK;
}

void
caldav_ical_periods_free(caldav_ical_periods_t *p)
{
    if (p == NULL) {
        return;
    }
    free(p->v);
    p->v = NULL;
    p->n = 0;
    p->cap = 0;
}
