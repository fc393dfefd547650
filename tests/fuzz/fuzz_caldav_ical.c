/*
 * fuzz_caldav_ical.c -- libFuzzer harness of the iCalendar core
 * (ngx_caldav/caldav_ical.c), along the path a PUT body and later queries
 * take through it.
 *
 * The input is the calendar object, copied into a buffer of exactly its
 * size (no NUL after it, so an over-read is an ASan report).  It goes to
 * caldav_ical_check(); an accepted object then goes, as the handler and
 * the queries would send it, to caldav_ical_instances() (the handler's
 * horizon and cap), caldav_ical_match() (a fixed VCALENDAR > VEVENT filter
 * with a time-range and a SUMMARY text-match), caldav_ical_render() with
 * an expand range and with limit-recurrence-set, and
 * caldav_ical_freebusy_add() / _render().  Odd-sized inputs are read with
 * a floating timezone (Europe/Berlin VTIMEZONE text), even-sized in UTC.
 *
 * Properties checked (abort() = a finding):
 *   - a refusal names one of the four CalDAV preconditions and says why;
 *   - an accepted object has a known component name and a NUL-terminated,
 *     non-empty UID; it parses again for every later call (no MTR_ERROR);
 *   - the instance list is sorted, within the cap, each start <= end;
 *   - match answers 0 or 1, render and freebusy succeed with a VCALENDAR;
 *   - every busy period lies inside the free-busy range.
 *
 * Work bound: CALDAV_ICAL_MAX_INSTANCES is fixed by the header (no
 * #ifndef, so no -D here); inputs above FUZZ_MAX_INPUT (64 KB) are
 * skipped.  That does not bound one execution: expand clones the whole
 * component for each of up to 100,000 instances, so a 240-byte unbounded
 * MINUTELY event takes about 1 s here and a few KB of VALARMs or RRULEs
 * take minutes (known, see the ngx_caldav owners).  libFuzzer's length
 * control keeps `make fuzz` inputs far below that in practice.
 * Seeds: tests/fuzz/fuzz_caldav_ical/.  Built by ngx_caldav/module.mk with
 * clang -fsanitize=fuzzer,address,undefined; run by `make fuzz`.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../ngx_caldav/caldav_ical.h"

#define FUZZ_MAX_INPUT (64u * 1024)
/* A fixed "now" (2025-01-01T00:00:00Z) keeps runs reproducible. */
#define FUZZ_NOW           1735689600LL
#define FUZZ_DAY           86400LL
#define FUZZ_INSTANCES_MAX 4000 /* as caldav_handler.c */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char tz_berlin[] = "BEGIN:VCALENDAR\r\n"
                                "VERSION:2.0\r\n"
                                "PRODID:-//fuzz//EN\r\n"
                                "BEGIN:VTIMEZONE\r\n"
                                "TZID:Europe/Berlin\r\n"
                                "BEGIN:DAYLIGHT\r\n"
                                "TZOFFSETFROM:+0100\r\n"
                                "TZOFFSETTO:+0200\r\n"
                                "TZNAME:CEST\r\n"
                                "DTSTART:19700329T020000\r\n"
                                "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n"
                                "END:DAYLIGHT\r\n"
                                "BEGIN:STANDARD\r\n"
                                "TZOFFSETFROM:+0200\r\n"
                                "TZOFFSETTO:+0100\r\n"
                                "TZNAME:CET\r\n"
                                "DTSTART:19701025T030000\r\n"
                                "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n"
                                "END:STANDARD\r\n"
                                "END:VTIMEZONE\r\n"
                                "END:VCALENDAR\r\n";

/* VCALENDAR > VEVENT with a time-range (2024 .. 2026) and a SUMMARY
 * text-match, what a client's "events with 'meet' in this window" sends. */
static caldav_text_match_t summary_tm = {
    .text = "meet",
    .collation = CALDAV_COLLATION_ASCII_CASEMAP,
    .match = CALDAV_MATCH_CONTAINS,
};
static caldav_prop_filter_t      summary_pf = { .name = "SUMMARY",
                                                .text_matches = &summary_tm };
static caldav_time_range_t       event_tr = { 1704067200LL, 1767225600LL };
static caldav_comp_filter_t      event_cf = { .name = "VEVENT",
                                              .time_range = &event_tr,
                                              .prop_filters = &summary_pf };
static caldav_comp_filter_t      root_cf = { .name = "VCALENDAR",
                                             .comp_filters = &event_cf };
static const caldav_time_range_t expand_tr = { 1719792000LL, 1727740800LL };
static const caldav_time_range_t fb_range = { 1717200000LL, 1735689600LL };

static void
check(int ok)
{
    if (!ok) {
        abort();
    }
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    caldav_ical_init();
    return 0;
}

static void
check_refusal(const char *precond, const mtr_err_t *err)
{
    check(precond != NULL);
    check(strcmp(precond, "C:valid-calendar-data") == 0
          || strcmp(precond, "C:valid-calendar-object-resource") == 0
          || strcmp(precond, "C:supported-calendar-component") == 0
          || strcmp(precond, "C:max-resource-size") == 0);
    check(err->msg[0] != '\0');
}

static void
check_index(const caldav_ical_index_t *ix)
{
    check(memchr(ix->comp, '\0', sizeof(ix->comp)) != NULL);
    check(strcmp(ix->comp, "VEVENT") == 0 || strcmp(ix->comp, "VTODO") == 0
          || strcmp(ix->comp, "VJOURNAL") == 0
          || strcmp(ix->comp, "VFREEBUSY") == 0);
    check(memchr(ix->uid, '\0', sizeof(ix->uid)) != NULL);
    check(ix->uid[0] != '\0');
}

static void
run_instances(const char *data, size_t len, const caldav_ical_index_t *ix)
{
    int64_t   horizon = FUZZ_NOW + 5 * 366 * FUZZ_DAY;
    int64_t  *v = NULL;
    size_t    n = 0, i;
    mtr_err_t err;
    int       rc;

    if (ix->first_start > horizon) {
        horizon = ix->first_start > INT64_MAX - 366 * FUZZ_DAY
                      ? INT64_MAX
                      : ix->first_start + 366 * FUZZ_DAY;
    }
    rc = caldav_ical_instances(data, len, horizon, FUZZ_INSTANCES_MAX, &v, &n,
                               &err);
    check(rc == MTR_OK || rc == MTR_DECLINED);
    if (rc != MTR_OK) {
        check(v == NULL && n == 0);
        return;
    }
    check(n <= FUZZ_INSTANCES_MAX);
    check(n == 0 || v != NULL);
    for (i = 0; i < n; i++) {
        check(v[2 * i] <= v[2 * i + 1]);
        check(v[2 * i] < horizon);
        check(i == 0 || v[2 * i - 2] <= v[2 * i]);
    }
    free(v);
}

static void
run_render(const char *data, size_t len, const caldav_time_range_t *expand,
           const caldav_time_range_t *limit, const char *tz)
{
    caldav_buf_t out;
    mtr_err_t    err;
    int          rc;

    caldav_buf_init(&out);
    rc = caldav_ical_render(data, len, expand, limit, tz, &out, &err);
    /* an expansion past CALDAV_ICAL_EXPAND_MAX_* is refused, and said */
    if (rc == CALDAV_ICAL_TOO_BIG && expand != NULL) {
        check(err.msg[0] != '\0');
        caldav_buf_free(&out);
        return;
    }
    check(rc == MTR_OK);
    check(!out.failed && out.len > 0);
    /* the stored text unchanged keeps its BOM and its letter case */
    check(strncasecmp(out.data, "BEGIN:VCALENDAR", 15) == 0
          || strncmp(out.data, "\xef\xbb\xbf", 3) == 0);
    caldav_buf_free(&out);
}

static void
run_freebusy(const char *data, size_t len, const char *tz)
{
    caldav_ical_periods_t p;
    caldav_buf_t          out;
    mtr_err_t             err;
    size_t                i;

    memset(&p, 0, sizeof(p));
    check(caldav_ical_freebusy_add(data, len, &fb_range, tz, &p, &err)
          == MTR_OK);
    for (i = 0; i < p.n; i++) {
        check(p.v[i].start >= fb_range.start && p.v[i].end <= fb_range.end);
        check(p.v[i].start <= p.v[i].end);
        check(p.v[i].fbtype >= 0 && p.v[i].fbtype <= 2);
    }
    caldav_buf_init(&out);
    check(caldav_ical_freebusy_render(&p, &fb_range, &out, &err) == MTR_OK);
    check(!out.failed && strncmp(out.data, "BEGIN:VCALENDAR", 15) == 0);
    caldav_buf_free(&out);
    caldav_ical_periods_free(&p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    caldav_ical_index_t ix;
    const char         *precond = NULL, *tz;
    mtr_err_t           err;
    char               *buf;
    int                 rc;

    if (size > FUZZ_MAX_INPUT) {
        return 0;
    }
    /* exactly size bytes: the core must not read past them */
    buf = malloc(size ? size : 1);
    check(buf != NULL);
    memcpy(buf, data, size);
    tz = (size & 1) ? tz_berlin : NULL;

    err.msg[0] = '\0';
    rc = caldav_ical_check(buf, size, NULL, &ix, &precond, &err);
    if (rc != MTR_OK) {
        check(rc == MTR_ERROR);
        check_refusal(precond, &err);
        free(buf);
        return 0;
    }
    check(precond == NULL);
    check_index(&ix);

    run_instances(buf, size, &ix);
    rc = caldav_ical_match(buf, size, &root_cf, tz, &err);
    check(rc == 0 || rc == 1);
    run_render(buf, size, &expand_tr, NULL, tz);
    run_render(buf, size, NULL, &expand_tr, tz);
    run_freebusy(buf, size, tz);
    free(buf);
    return 0;
}
