/*
 * test_caldav_ical.c -- unit tests for caldav_ical.h (table-driven):
 * validation with the precondition of every rejection, the index columns,
 * calendar-query matching (time ranges over recurrences with EXDATE and a
 * moved override, unbounded rules far from DTSTART, all-day events,
 * VTIMEZONE, built-in Olson zones and the floating timezone, VTODO per
 * RFC 4791 9.9, VALARM triggers, text-match collations and negation,
 * param-filter, is-not-defined, property time ranges), expand,
 * limit-recurrence-set and free-busy.  Times are written as iCalendar UTC
 * text and converted with timegm() so the tables read like the data.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <libical/ical.h>

#include "caldav_ical.h"

#define CRLF "\r\n"

/* "20240129T090000Z" -> UTC seconds; NULL -> open end (min or max). */
static int64_t
ts(const char *s, int64_t open)
{
    struct tm tm;

    if (s == NULL) {
        return open;
    }
    memset(&tm, 0, sizeof(tm));
    assert_int_equal(sscanf(s, "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon,
                            &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec),
                     6);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t) timegm(&tm);
}

#define TS(s) ts((s), CALDAV_TIME_MIN)
#define TE(s) ts((s), CALDAV_TIME_MAX)

static size_t
count(const char *hay, const char *needle)
{
    size_t      n = 0;
    const char *p = hay;

    while ((p = strstr(p, needle)) != NULL) {
        n++;
        p += strlen(needle);
    }
    return n;
}

/* ---- fixtures --------------------------------------------------------- */

#define CAL_BEGIN                                                              \
    "BEGIN:VCALENDAR" CRLF "VERSION:2.0" CRLF "PRODID:-//Mortar//test//"       \
    "EN" CRLF
#define CAL_END "END:VCALENDAR" CRLF

#define VTZ_BERLIN                                                             \
    "BEGIN:VTIMEZONE" CRLF "TZID:Europe/Berlin" CRLF "BEGIN:DAYLIGHT" CRLF     \
    "TZOFFSETFROM:+0100" CRLF "TZOFFSETTO:+0200" CRLF "TZNAME:CEST" CRLF       \
    "DTSTART:19700329T020000" CRLF                                             \
    "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU" CRLF "END:DAYLIGHT" CRLF          \
    "BEGIN:STANDARD" CRLF "TZOFFSETFROM:+0200" CRLF "TZOFFSETTO:+0100" CRLF    \
    "TZNAME:CET" CRLF "DTSTART:19701025T030000" CRLF                           \
    "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU" CRLF "END:STANDARD" CRLF         \
    "END:VTIMEZONE" CRLF

#define VTZ_NEW_YORK                                                           \
    "BEGIN:VTIMEZONE" CRLF "TZID:America/New_York" CRLF "BEGIN:DAYLIGHT" CRLF  \
    "TZOFFSETFROM:-0500" CRLF "TZOFFSETTO:-0400" CRLF                          \
    "DTSTART:20070311T020000" CRLF                                             \
    "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU" CRLF "END:DAYLIGHT" CRLF           \
    "BEGIN:STANDARD" CRLF "TZOFFSETFROM:-0400" CRLF "TZOFFSETTO:-0500" CRLF    \
    "DTSTART:20071104T020000" CRLF                                             \
    "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU" CRLF "END:STANDARD" CRLF          \
    "END:VTIMEZONE" CRLF

/* The collection / query timezone for floating times. */
static const char TZ_NY[] = CAL_BEGIN VTZ_NEW_YORK CAL_END;

/*
 * Weekly on Mondays 10:00-11:00 Berlin from 2024-01-08 (09:00Z in winter),
 * unbounded; 2024-01-15 excluded; 2024-01-22 moved to Wed 2024-01-24
 * 15:00-16:00 Berlin (14:00Z).
 */
static const char WEEKLY[] = CAL_BEGIN VTZ_BERLIN
    "BEGIN:VEVENT" CRLF "UID:weekly-1" CRLF "DTSTAMP:20240101T120000Z" CRLF
    "DTSTART;TZID=Europe/Berlin:20240108T100000" CRLF
    "DTEND;TZID=Europe/Berlin:20240108T110000" CRLF "RRULE:FREQ=WEEKLY" CRLF
    "EXDATE;TZID=Europe/Berlin:20240115T100000" CRLF "SUMMARY:Team Meeting" CRLF
    "LOCATION:Room 1" CRLF
    "ATTENDEE;PARTSTAT=ACCEPTED;CN=\"Doe, Jane\":mailto:jane@example.org" CRLF
    "X-MORTAR-TEST;X-P=1:kept as is" CRLF "END:VEVENT" CRLF "BEGIN:VEVENT" CRLF
    "UID:weekly-1" CRLF "DTSTAMP:20240101T120000Z" CRLF
    "RECURRENCE-ID;TZID=Europe/Berlin:20240122T100000" CRLF
    "DTSTART;TZID=Europe/Berlin:20240124T150000" CRLF
    "DTEND;TZID=Europe/Berlin:20240124T160000" CRLF
    "SUMMARY:Team Meeting (moved)" CRLF "END:VEVENT" CRLF CAL_END;

/* Daily 08:00Z for 30 minutes since 2020, unbounded. */
static const char DAILY[] = CAL_BEGIN
    "BEGIN:VEVENT" CRLF "UID:daily-1" CRLF "DTSTAMP:20200101T000000Z" CRLF
    "DTSTART:20200101T080000Z" CRLF "DURATION:PT30M" CRLF
    "RRULE:FREQ=DAILY" CRLF "SUMMARY:Stand-up" CRLF "END:VEVENT" CRLF CAL_END;

/* All-day, floating date: 2024-03-10 (the US DST day). */
static const char ALLDAY[] =
    CAL_BEGIN "BEGIN:VEVENT" CRLF "UID:allday-1" CRLF
              "DTSTAMP:20240101T000000Z" CRLF "DTSTART;VALUE=DATE:20240310" CRLF
              "SUMMARY:Holiday" CRLF "END:VEVENT" CRLF CAL_END;

/* Three-day all-day event with DTEND. */
static const char ALLDAY3[] =
    CAL_BEGIN "BEGIN:VEVENT" CRLF "UID:allday-3" CRLF
              "DTSTAMP:20240101T000000Z" CRLF "DTSTART;VALUE=DATE:20240501" CRLF
              "DTEND;VALUE=DATE:20240504" CRLF "END:VEVENT" CRLF CAL_END;

/* Yearly all-day birthday. */
static const char BIRTHDAY[] = CAL_BEGIN
    "BEGIN:VEVENT" CRLF "UID:bday-1" CRLF "DTSTAMP:20240101T000000Z" CRLF
    "DTSTART;VALUE=DATE:19800229" CRLF "RRULE:FREQ=YEARLY" CRLF
    "SUMMARY:Leap birthday" CRLF "END:VEVENT" CRLF CAL_END;

/* Built-in Olson zone, no VTIMEZONE: 09:00 New York = 13:00Z in July. */
static const char OLSON[] = CAL_BEGIN
    "BEGIN:VEVENT" CRLF "UID:olson-1" CRLF "DTSTAMP:20240101T000000Z" CRLF
    "DTSTART;TZID=America/New_York:20240701T090000" CRLF
    "DTEND;TZID=America/New_York:20240701T100000" CRLF
    "END:VEVENT" CRLF CAL_END;

/* Mozilla-style prefixed TZID, no VTIMEZONE: 09:00 Tokyo = 00:00Z. */
static const char OLSON_PREFIXED[] = CAL_BEGIN
    "BEGIN:VEVENT" CRLF "UID:olson-2" CRLF "DTSTAMP:20240101T000000Z" CRLF
    "DTSTART;TZID=/mozilla.org/20070129_1/Asia/Tokyo:20240701T090000" CRLF
    "DURATION:PT1H" CRLF "END:VEVENT" CRLF CAL_END;

/* Floating time: 2024-07-01 09:00 wherever the calendar is. */
static const char FLOATING[] =
    CAL_BEGIN "BEGIN:VEVENT" CRLF "UID:float-1" CRLF
              "DTSTAMP:20240101T000000Z" CRLF "DTSTART:20240701T090000" CRLF
              "DTEND:20240701T100000" CRLF "END:VEVENT" CRLF CAL_END;

/* Zero-length event (DTSTART only). */
static const char POINT[] = CAL_BEGIN
    "BEGIN:VEVENT" CRLF "UID:point-1" CRLF "DTSTAMP:20240101T000000Z" CRLF
    "DTSTART:20240601T120000Z" CRLF "END:VEVENT" CRLF CAL_END;

/* RDATE (one PERIOD, one DATE-TIME) added to a two-instance rule. */
static const char RDATES[] =
    CAL_BEGIN "BEGIN:VEVENT" CRLF "UID:rdate-1" CRLF
              "DTSTAMP:20240101T000000Z" CRLF "DTSTART:20240101T100000Z" CRLF
              "DTEND:20240101T110000Z" CRLF "RRULE:FREQ=DAILY;COUNT=2" CRLF
              "RDATE;VALUE=PERIOD:20240110T100000Z/PT3H" CRLF
              "RDATE:20240120T100000Z" CRLF "END:VEVENT" CRLF CAL_END;

/* Monthly on the second Tuesday, 14:00Z. */
static const char MONTHLY[] = CAL_BEGIN
    "BEGIN:VEVENT" CRLF "UID:monthly-1" CRLF "DTSTAMP:20200101T000000Z" CRLF
    "DTSTART:20200114T140000Z" CRLF "DTEND:20200114T150000Z" CRLF
    "RRULE:FREQ=MONTHLY;BYDAY=2TU" CRLF "END:VEVENT" CRLF CAL_END;

/* Every 7 hours (set_start cannot be used for it in libical 3.0.16). */
static const char HOURLY7[] = CAL_BEGIN
    "BEGIN:VEVENT" CRLF "UID:hourly-1" CRLF "DTSTAMP:20240101T000000Z" CRLF
    "DTSTART:20240101T000000Z" CRLF "DURATION:PT10M" CRLF
    "RRULE:FREQ=HOURLY;INTERVAL=7" CRLF "END:VEVENT" CRLF CAL_END;

#define END_ALARMS                                                             \
    "BEGIN:VALARM" CRLF "ACTION:DISPLAY" CRLF "DESCRIPTION:after" CRLF         \
    "TRIGGER;RELATED=END:PT5M" CRLF "END:VALARM" CRLF "BEGIN:VALARM" CRLF      \
    "ACTION:AUDIO" CRLF "TRIGGER;VALUE=DATE-TIME:20240430T180000Z" CRLF        \
    "END:VALARM" CRLF "END:VEVENT" CRLF CAL_END

/* Event 10:00-11:00Z with alarms: 15 minutes before (repeated twice every
 * 10 minutes), 5 minutes after the end, and one absolute. */
static const char ALARMS[] = CAL_BEGIN
    "BEGIN:VEVENT" CRLF "UID:alarm-1" CRLF "DTSTAMP:20240101T000000Z" CRLF
    "DTSTART:20240501T100000Z" CRLF "DTEND:20240501T110000Z" CRLF
    "BEGIN:VALARM" CRLF "ACTION:DISPLAY" CRLF "DESCRIPTION:soon" CRLF
    "TRIGGER:-PT15M" CRLF "REPEAT:2" CRLF "DURATION:PT10M" CRLF
    "END:VALARM" CRLF END_ALARMS;

/* Daily 09:00Z since 2020 with an alarm 30 minutes before. */
static const char ALARM_DAILY[] = CAL_BEGIN
    "BEGIN:VEVENT" CRLF "UID:alarm-2" CRLF "DTSTAMP:20200101T000000Z" CRLF
    "DTSTART:20200101T090000Z" CRLF "DURATION:PT1H" CRLF "RRULE:FREQ=DAILY" CRLF
    "BEGIN:VALARM" CRLF "ACTION:DISPLAY" CRLF "DESCRIPTION:x" CRLF
    "TRIGGER:-PT30M" CRLF "END:VALARM" CRLF "END:VEVENT" CRLF CAL_END;

#define TODO(uid, props)                                                       \
    CAL_BEGIN "BEGIN:VTODO" CRLF "UID:" uid   CRLF                             \
              "DTSTAMP:20240101T000000Z" CRLF props "END:VTODO" CRLF CAL_END

static const char TODO_START_DUR[] =
    TODO("t1", "DTSTART:20240601T100000Z" CRLF "DURATION:PT2H" CRLF);
static const char TODO_START_DUE[] =
    TODO("t2", "DTSTART:20240601T100000Z" CRLF "DUE:20240601T180000Z" CRLF);
static const char TODO_START[] = TODO("t3", "DTSTART:20240601T100000Z" CRLF);
static const char TODO_DUE[] = TODO("t4", "DUE:20240601T180000Z" CRLF);
static const char TODO_DONE_CREATED[] = TODO(
    "t5", "CREATED:20240501T000000Z" CRLF "COMPLETED:20240510T000000Z" CRLF);
static const char TODO_DONE[] = TODO("t6", "COMPLETED:20240510T000000Z" CRLF);
static const char TODO_CREATED[] = TODO("t7", "CREATED:20240501T000000Z" CRLF);
static const char TODO_NONE[] = TODO("t8", "SUMMARY:someday" CRLF);
static const char TODO_WEEKLY[] =
    TODO("t9", "DTSTART:20240603T080000Z" CRLF "DUE:20240603T170000Z" CRLF
               "RRULE:FREQ=WEEKLY" CRLF);

static const char JOURNAL[] =
    CAL_BEGIN "BEGIN:VJOURNAL" CRLF "UID:j1" CRLF
              "DTSTAMP:20240101T000000Z" CRLF "DTSTART;VALUE=DATE:20240615" CRLF
              "SUMMARY:Diary" CRLF "END:VJOURNAL" CRLF CAL_END;

static const char UNICODE_SUMMARY[] =
    CAL_BEGIN "BEGIN:VEVENT" CRLF "UID:u1" CRLF "DTSTAMP:20240101T000000Z" CRLF
              "DTSTART:20240601T120000Z" CRLF "SUMMARY:\xC3\x9C"
              "BER Stra\xC3\x9F"
              "e \xC3\x89t\xC3\xA9" CRLF "DESCRIPTION:a\\, b\\; c" CRLF
              "END:VEVENT" CRLF CAL_END;

/* ---- validation and index -------------------------------------------- */

typedef struct {
    const char *name;
    const char *data; /* NULL: built by the test */
    size_t      len;  /* 0: strlen */
    const char *comp_set;
    const char *precond; /* NULL: accepted */
    const char *msg;     /* substring of the error */
} check_case_t;

#define EV(props)                                                              \
    CAL_BEGIN "BEGIN:VEVENT" CRLF "UID:e1" CRLF                                \
              "DTSTAMP:20240101T000000Z" CRLF                                  \
              "DTSTART:20240101T100000Z" CRLF props "END:VEVENT" CRLF CAL_END

static const char                                                  NUL_DATA[] =
    CAL_BEGIN "BEGIN:VEVENT" CRLF "UID:\0x" CRLF "END:VEVENT" CRLF CAL_END;

static const check_case_t check_cases[] = {
    { "plain event", EV(""), 0, NULL, NULL, NULL },
    { "X- and unknown IANA properties survive",
      EV("X-APPLE-FOO;X-P=\"a:b\":bar" CRLF "COLOR:red" CRLF
         "FOO-BAR:baz" CRLF),
      0, NULL, NULL, NULL },
    { "bare LF line ends",
      "BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\n"
      "UID:lf\nDTSTART:20240101T100000Z\nEND:VEVENT\nEND:VCALENDAR\n",
      0, NULL, NULL, NULL },
    { "byte order mark", "\xEF\xBB\xBF" EV(""), 0, NULL, NULL, NULL },
    { "folded lines",
      CAL_BEGIN "BEGIN:VEVENT" CRLF "UI" CRLF " D:fo" CRLF "\tld" CRLF
                "DTSTART:20240101T100000Z" CRLF "END:VEVENT" CRLF CAL_END,
      0, NULL, NULL, NULL },
    { "lower-case names",
      "begin:vcalendar" CRLF "begin:vevent" CRLF "uid:x" CRLF
      "dtstart:20240101T100000Z" CRLF "end:vevent" CRLF "end:vcalendar" CRLF,
      0, NULL, NULL, NULL },
    { "overrides without master",
      CAL_BEGIN "BEGIN:VEVENT" CRLF "UID:o" CRLF
                "RECURRENCE-ID:20240108T100000Z" CRLF
                "DTSTART:20240108T120000Z" CRLF "END:VEVENT" CRLF CAL_END,
      0, NULL, NULL, NULL },
    { "in the component set", EV(""), 0, "VEVENT, VTODO", NULL, NULL },
    { "X- and IANA components kept",
      CAL_BEGIN "BEGIN:X-FOO" CRLF "X-A:1" CRLF "END:X-FOO" CRLF
                "BEGIN:FOO" CRLF "END:FOO" CRLF "BEGIN:VEVENT" CRLF "UID:x" CRLF
                "DTSTART:20240101T100000Z" CRLF "END:VEVENT" CRLF CAL_END,
      0, "VEVENT", NULL, NULL },
    { "VTODO without dates", TODO("t", ""), 0, "VTODO", NULL, NULL },

    { "empty", "", 0, NULL, "C:valid-calendar-data", "empty" },
    { "month 13, day 45",
      CAL_BEGIN "BEGIN:VEVENT" CRLF "UID:d" CRLF "DTSTART:2026-13-45" CRLF
                "END:VEVENT" CRLF CAL_END,
      0, NULL, "C:valid-calendar-data", "not a valid date" },
    { "hour 25",
      CAL_BEGIN "BEGIN:VEVENT" CRLF "UID:h" CRLF "DTSTART:20260101T250000Z" CRLF
                "END:VEVENT" CRLF CAL_END,
      0, NULL, "C:valid-calendar-data", "DTSTART" },
    { "no BEGIN:VCALENDAR", "BEGIN:VEVENT" CRLF "UID:x" CRLF "END:VEVENT" CRLF,
      0, NULL, "C:valid-calendar-data", "BEGIN:VCALENDAR" },
    { "property before BEGIN", "VERSION:2.0" CRLF CAL_BEGIN CAL_END, 0, NULL,
      "C:valid-calendar-data", "does not start with BEGIN:VCALENDAR" },
    { "broken line", EV("this is not a content line" CRLF), 0, NULL,
      "C:valid-calendar-data", "line 8: bad property name" },
    { "line without colon", EV("SUMMARY" CRLF), 0, NULL,
      "C:valid-calendar-data", "not a content line" },
    { "NUL byte", NUL_DATA, sizeof(NUL_DATA) - 1, NULL, "C:valid-calendar-data",
      "NUL byte" },
    { "invalid UTF-8", EV("SUMMARY:caf\xE9" CRLF), 0, NULL,
      "C:valid-calendar-data", "invalid UTF-8" },
    { "control byte",
      EV("SUMMARY:a\x01"
         "b" CRLF),
      0, NULL, "C:valid-calendar-data", "control byte 0x01" },
    { "continuation first", " BEGIN:VCALENDAR" CRLF CAL_END, 0, NULL,
      "C:valid-calendar-data", "continuation of nothing" },
    { "missing END:VCALENDAR",
      CAL_BEGIN "BEGIN:VEVENT" CRLF "UID:x" CRLF "END:VEVENT" CRLF, 0, NULL,
      "C:valid-calendar-data", "missing END:VCALENDAR" },
    { "END does not match",
      CAL_BEGIN "BEGIN:VEVENT" CRLF "UID:x" CRLF "END:VTODO" CRLF CAL_END, 0,
      NULL, "C:valid-calendar-data", "END:VTODO does not close BEGIN:VEVENT" },
    { "two VCALENDARs", EV("") EV(""), 0, NULL, "C:valid-calendar-data",
      "data after END:VCALENDAR" },
    { "trailing garbage", EV("") "junk" CRLF, 0, NULL, "C:valid-calendar-data",
      "not a content line" },
    { "trailing property", EV("") "X-JUNK:1" CRLF, 0, NULL,
      "C:valid-calendar-data", "data after END:VCALENDAR" },
    { "unbalanced quote", EV("ATTENDEE;CN=\"Jane:mailto:j@x" CRLF), 0, NULL,
      "C:valid-calendar-data", "not a content line" },
    { "quote inside a value", EV("ATTENDEE;CN=Ja\"ne:mailto:j@x" CRLF), 0, NULL,
      "C:valid-calendar-data", "bad quoting" },
    { "bad DTSTAMP value",
      CAL_BEGIN "BEGIN:VEVENT" CRLF "UID:x" CRLF "DTSTART:20240101T100000Z" CRLF
                "DTSTAMP:yesterday" CRLF "END:VEVENT" CRLF CAL_END,
      0, NULL, "C:valid-calendar-data", "DTSTAMP" },
    { "bad RRULE", EV("RRULE:FREQ=SOMETIMES" CRLF), 0, NULL,
      "C:valid-calendar-data", "RRULE" },
    { "bad VALUE parameter", EV("DTEND;VALUE=FOO:20240101T110000Z" CRLF), 0,
      NULL, "C:valid-calendar-data", "VALUE" },
    { "VEVENT without DTSTART",
      CAL_BEGIN "BEGIN:VEVENT" CRLF "UID:x" CRLF "END:VEVENT" CRLF CAL_END, 0,
      NULL, "C:valid-calendar-data", "without a valid DTSTART" },
    { "DTEND and DURATION",
      EV("DTEND:20240101T110000Z" CRLF "DURATION:PT1H" CRLF), 0, NULL,
      "C:valid-calendar-data", "both DURATION and DTEND" },
    { "VTIMEZONE without TZID",
      CAL_BEGIN "BEGIN:VTIMEZONE" CRLF "END:VTIMEZONE" CRLF "BEGIN:VEVENT" CRLF
                "UID:x" CRLF "DTSTART:20240101T100000Z" CRLF
                "END:VEVENT" CRLF CAL_END,
      0, NULL, "C:valid-calendar-data", "VTIMEZONE without TZID" },
    { "missing UID",
      CAL_BEGIN "BEGIN:VEVENT" CRLF "DTSTART:20240101T100000Z" CRLF
                "END:VEVENT" CRLF CAL_END,
      0, NULL, "C:valid-calendar-object-resource", "VEVENT without UID" },
    { "two different UIDs",
      CAL_BEGIN "BEGIN:VEVENT" CRLF "UID:a" CRLF "DTSTART:20240101T100000Z" CRLF
                "END:VEVENT" CRLF "BEGIN:VEVENT" CRLF "UID:b" CRLF
                "RECURRENCE-ID:20240102T100000Z" CRLF
                "DTSTART:20240102T100000Z" CRLF "END:VEVENT" CRLF CAL_END,
      0, NULL, "C:valid-calendar-object-resource", "two different UIDs" },
    { "METHOD",
      "BEGIN:VCALENDAR" CRLF "METHOD:REQUEST" CRLF "BEGIN:VEVENT" CRLF
      "UID:x" CRLF "DTSTART:20240101T100000Z" CRLF "END:VEVENT" CRLF CAL_END,
      0, NULL, "C:valid-calendar-object-resource", "METHOD" },
    { "VEVENT and VTODO",
      CAL_BEGIN "BEGIN:VEVENT" CRLF "UID:x" CRLF "DTSTART:20240101T100000Z" CRLF
                "END:VEVENT" CRLF "BEGIN:VTODO" CRLF "UID:x" CRLF
                "END:VTODO" CRLF CAL_END,
      0, NULL, "C:valid-calendar-object-resource", "VEVENT and VTODO" },
    { "only a VTIMEZONE", CAL_BEGIN VTZ_BERLIN CAL_END, 0, NULL,
      "C:valid-calendar-object-resource", "no VEVENT" },
    { "two masters really",
      CAL_BEGIN "BEGIN:VEVENT" CRLF "UID:x" CRLF "DTSTART:20240101T100000Z" CRLF
                "END:VEVENT" CRLF "BEGIN:VEVENT" CRLF "UID:x" CRLF
                "DTSTART:20240102T100000Z" CRLF "END:VEVENT" CRLF CAL_END,
      0, NULL, "C:valid-calendar-object-resource",
      "two VEVENT components without RECURRENCE-ID" },
    { "duplicate RECURRENCE-ID",
      CAL_BEGIN
      "BEGIN:VEVENT" CRLF "UID:x" CRLF "RECURRENCE-ID:20240102T100000Z" CRLF
      "DTSTART:20240102T110000Z" CRLF "END:VEVENT" CRLF "BEGIN:VEVENT" CRLF
      "UID:x" CRLF "RECURRENCE-ID:20240102T100000Z" CRLF
      "DTSTART:20240102T120000Z" CRLF "END:VEVENT" CRLF CAL_END,
      0, NULL, "C:valid-calendar-object-resource", "same RECURRENCE-ID" },
    { "not in the component set", EV(""), 0, "VTODO",
      "C:supported-calendar-component", "supported-calendar-component-set" },
    { "unsupported component",
      CAL_BEGIN "BEGIN:VAVAILABILITY" CRLF "UID:x" CRLF
                "END:VAVAILABILITY" CRLF CAL_END,
      0, NULL, "C:supported-calendar-component", "not supported" },
};

static void
test_check(void **state)
{
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(check_cases) / sizeof(check_cases[0]); i++) {
        const check_case_t *t = &check_cases[i];
        caldav_ical_index_t ix;
        const char         *pc = NULL;
        mtr_err_t           err;
        int                 rc;

        print_message("case: check: %s\n", t->name);
        mtr_err_clear(&err);
        rc = caldav_ical_check(t->data, t->len ? t->len : strlen(t->data),
                               t->comp_set, &ix, &pc, &err);
        if (t->precond == NULL) {
            if (rc != MTR_OK) {
                print_message("  unexpected error: %s\n", err.msg);
            }
            assert_int_equal(rc, MTR_OK);
            continue;
        }
        assert_int_equal(rc, MTR_ERROR);
        assert_non_null(pc);
        assert_string_equal(pc, t->precond);
        if (strstr(err.msg, t->msg) == NULL) {
            print_message("  error was: %s\n", err.msg);
        }
        assert_non_null(strstr(err.msg, t->msg));
    }
}

/* Size cap, component cap and nesting cap, on generated data. */
static void
test_check_caps(void **state)
{
    caldav_ical_index_t ix;
    const char         *pc = NULL;
    mtr_err_t           err;
    char               *big;
    size_t              i, n, cap;

    (void) state;
    print_message("case: check: larger than CALDAV_ICAL_MAX_SIZE\n");
    big = malloc(CALDAV_ICAL_MAX_SIZE + 1);
    assert_non_null(big);
    memset(big, 'A', CALDAV_ICAL_MAX_SIZE + 1);
    assert_int_equal(
        caldav_ical_check(big, CALDAV_ICAL_MAX_SIZE + 1, NULL, &ix, &pc, &err),
        MTR_ERROR);
    assert_string_equal(pc, "C:max-resource-size");
    free(big);

    print_message("case: check: more than CALDAV_ICAL_MAX_COMPONENTS\n");
    cap = 64 + (CALDAV_ICAL_MAX_COMPONENTS + 1) * 32;
    big = malloc(cap);
    assert_non_null(big);
    n = (size_t) snprintf(big, cap, "BEGIN:VCALENDAR\r\n");
    for (i = 0; i < CALDAV_ICAL_MAX_COMPONENTS; i++) {
        n += (size_t) snprintf(big + n, cap - n, "BEGIN:X-C\r\nEND:X-C\r\n");
    }
    n += (size_t) snprintf(big + n, cap - n, "END:VCALENDAR\r\n");
    assert_int_equal(caldav_ical_check(big, n, NULL, &ix, &pc, &err),
                     MTR_ERROR);
    assert_string_equal(pc, "C:valid-calendar-data");
    assert_non_null(strstr(err.msg, "more than"));

    print_message("case: check: nesting too deep\n");
    n = (size_t) snprintf(big, cap, "BEGIN:VCALENDAR\r\n");
    for (i = 0; i < 20; i++) {
        n += (size_t) snprintf(big + n, cap - n, "BEGIN:X-C\r\n");
    }
    assert_int_equal(caldav_ical_check(big, n, NULL, &ix, &pc, &err),
                     MTR_ERROR);
    assert_non_null(strstr(err.msg, "nested too deeply"));
    free(big);
}

typedef struct {
    const char *name;
    const char *data;
    const char *comp;
    const char *uid;
    const char *first, *last; /* NULL: open */
    int         recurring;
} index_case_t;

static const index_case_t index_cases[] = {
    { "single event", EV("DTEND:20240101T113000Z" CRLF), "VEVENT", "e1",
      "20240101T100000Z", "20240101T113000Z", 0 },
    { "zero length", POINT, "VEVENT", "point-1", "20240601T120000Z",
      "20240601T120000Z", 0 },
    { "all day", ALLDAY, "VEVENT", "allday-1", "20240310T000000Z",
      "20240311T000000Z", 0 },
    { "three days", ALLDAY3, "VEVENT", "allday-3", "20240501T000000Z",
      "20240504T000000Z", 0 },
    { "unbounded weekly with override", WEEKLY, "VEVENT", "weekly-1",
      "20240108T090000Z", NULL, 1 },
    { "COUNT",
      EV("DTEND:20240101T110000Z" CRLF "RRULE:FREQ=WEEKLY;COUNT=10" CRLF),
      "VEVENT", "e1", "20240101T100000Z", "20240304T110000Z", 1 },
    { "UNTIL",
      EV("DURATION:PT1H" CRLF "RRULE:FREQ=DAILY;UNTIL=20240105T235959Z" CRLF),
      "VEVENT", "e1", "20240101T100000Z", "20240105T110000Z", 1 },
    { "COUNT in a zone across DST",
      CAL_BEGIN VTZ_BERLIN "BEGIN:VEVENT" CRLF "UID:dst" CRLF
                           "DTSTART;TZID=Europe/Berlin:20240320T100000" CRLF
                           "DTEND;TZID=Europe/Berlin:20240320T110000" CRLF
                           "RRULE:FREQ=WEEKLY;COUNT=3" CRLF
                           "END:VEVENT" CRLF CAL_END,
      "VEVENT", "dst", "20240320T090000Z", "20240403T090000Z", 1 },
    { "override moved past the last instance",
      CAL_BEGIN "BEGIN:VEVENT" CRLF "UID:m" CRLF "DTSTART:20240101T100000Z" CRLF
                "DTEND:20240101T110000Z" CRLF "RRULE:FREQ=WEEKLY;COUNT=3" CRLF
                "END:VEVENT" CRLF "BEGIN:VEVENT" CRLF "UID:m" CRLF
                "RECURRENCE-ID:20240115T100000Z" CRLF
                "DTSTART:20240220T100000Z" CRLF "DTEND:20240220T120000Z" CRLF
                "END:VEVENT" CRLF CAL_END,
      "VEVENT", "m", "20240101T100000Z", "20240220T120000Z", 1 },
    { "override moved before the first instance",
      CAL_BEGIN "BEGIN:VEVENT" CRLF "UID:m" CRLF "DTSTART:20240101T100000Z" CRLF
                "DTEND:20240101T110000Z" CRLF "RRULE:FREQ=WEEKLY;COUNT=3" CRLF
                "END:VEVENT" CRLF "BEGIN:VEVENT" CRLF "UID:m" CRLF
                "RECURRENCE-ID:20240101T100000Z" CRLF
                "DTSTART:20231220T100000Z" CRLF "DTEND:20231220T110000Z" CRLF
                "END:VEVENT" CRLF CAL_END,
      "VEVENT", "m", "20231220T100000Z", "20240115T110000Z", 1 },
    { "RDATE period extends the set", RDATES, "VEVENT", "rdate-1",
      "20240101T100000Z", "20240120T110000Z", 1 },
    { "EXDATE on the last instance",
      EV("DTEND:20240101T110000Z" CRLF "RRULE:FREQ=DAILY;COUNT=3" CRLF
         "EXDATE:20240103T100000Z" CRLF),
      "VEVENT", "e1", "20240101T100000Z", "20240102T110000Z", 1 },
    { "VTODO without dates", TODO_NONE, "VTODO", "t8", NULL, NULL, 0 },
    { "VTODO DUE only", TODO_DUE, "VTODO", "t4", "20240601T180000Z",
      "20240601T180000Z", 0 },
    { "VTODO DTSTART and DUE", TODO_START_DUE, "VTODO", "t2",
      "20240601T100000Z", "20240601T180000Z", 0 },
    { "VJOURNAL all day", JOURNAL, "VJOURNAL", "j1", "20240615T000000Z",
      "20240616T000000Z", 0 },
    { "floating time indexed as UTC", FLOATING, "VEVENT", "float-1",
      "20240701T090000Z", "20240701T100000Z", 0 },
};

static void
test_index(void **state)
{
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(index_cases) / sizeof(index_cases[0]); i++) {
        const index_case_t *t = &index_cases[i];
        caldav_ical_index_t ix;
        const char         *pc = NULL;
        mtr_err_t           err;
        int                 rc;

        print_message("case: index: %s\n", t->name);
        mtr_err_clear(&err);
        rc = caldav_ical_check(t->data, strlen(t->data), NULL, &ix, &pc, &err);
        if (rc != MTR_OK) {
            print_message("  error: %s\n", err.msg);
        }
        assert_int_equal(rc, MTR_OK);
        assert_string_equal(ix.comp, t->comp);
        assert_string_equal(ix.uid, t->uid);
        assert_true(ix.first_start == TS(t->first));
        if (ix.last_end != TE(t->last)) {
            print_message("  last_end %lld, want %lld\n",
                          (long long) ix.last_end, (long long) TE(t->last));
        }
        assert_true(ix.last_end == TE(t->last));
        assert_int_equal(ix.recurring, t->recurring);
    }
}

/* ---- time-range matching --------------------------------------------- */

typedef struct {
    const char *name;
    const char *data;
    const char *comp; /* comp-filter under VCALENDAR */
    const char *start, *end;
    const char *tz;
    int         want;
} range_case_t;

static const range_case_t range_cases[] = {
    /* weekly with EXDATE and a moved override */
    { "first instance", WEEKLY, "VEVENT", "20240108T090000Z",
      "20240108T093000Z", NULL, 1 },
    { "3 weeks after start", WEEKLY, "VEVENT", "20240129T090000Z",
      "20240129T100000Z", NULL, 1 },
    { "on the EXDATE", WEEKLY, "VEVENT", "20240115T080000Z", "20240115T110000Z",
      NULL, 0 },
    { "moved instance's old time", WEEKLY, "VEVENT", "20240122T090000Z",
      "20240122T100000Z", NULL, 0 },
    { "moved instance's new time", WEEKLY, "VEVENT", "20240124T143000Z",
      "20240124T144500Z", NULL, 1 },
    { "range ending at an instance start", WEEKLY, "VEVENT", "20240129T080000Z",
      "20240129T090000Z", NULL, 0 },
    { "range starting at an instance end", WEEKLY, "VEVENT", "20240129T100000Z",
      "20240129T110000Z", NULL, 0 },
    { "summer time shifts UTC", WEEKLY, "VEVENT", "20240708T080000Z",
      "20240708T083000Z", NULL, 1 },
    { "five years later", WEEKLY, "VEVENT", "20290101T000000Z",
      "20290108T000000Z", NULL, 1 },
    { "a week-day gap five years later", WEEKLY, "VEVENT", "20290102T000000Z",
      "20290107T000000Z", NULL, 0 },
    { "before the start", WEEKLY, "VEVENT", "20231201T000000Z",
      "20240108T090000Z", NULL, 0 },
    { "open start", WEEKLY, "VEVENT", NULL, "20240108T093000Z", NULL, 1 },
    { "open end", WEEKLY, "VEVENT", "20350101T000000Z", NULL, NULL, 1 },
    { "wrong component", WEEKLY, "VTODO", "20240101T000000Z",
      "20250101T000000Z", NULL, 0 },
    /* unbounded daily */
    { "daily, ten years on", DAILY, "VEVENT", "20300601T081000Z",
      "20300601T082000Z", NULL, 1 },
    { "daily, between instances", DAILY, "VEVENT", "20300601T090000Z",
      "20300602T075959Z", NULL, 0 },
    /* monthly 2nd Tuesday, jumped */
    { "monthly 2nd Tuesday in 2029", MONTHLY, "VEVENT", "20290313T143000Z",
      "20290313T143100Z", NULL, 1 },
    { "monthly, a week off", MONTHLY, "VEVENT", "20290306T000000Z",
      "20290312T235959Z", NULL, 0 },
    /* HOURLY;INTERVAL=7, iterated from DTSTART */
    { "every 7 hours, 100 days on", HOURLY7, "VEVENT", "20240410T010500Z",
      "20240410T010600Z", NULL, 1 },
    { "every 7 hours, between instances", HOURLY7, "VEVENT", "20240410T020000Z",
      "20240410T075959Z", NULL, 0 },
    /* RDATE */
    { "RDATE period", RDATES, "VEVENT", "20240110T120000Z", "20240110T123000Z",
      NULL, 1 },
    { "RDATE date-time uses DTEND's length", RDATES, "VEVENT",
      "20240120T105900Z", "20240120T110000Z", NULL, 1 },
    { "not an RDATE", RDATES, "VEVENT", "20240105T000000Z", "20240109T000000Z",
      NULL, 0 },
    /* all day */
    { "all day, UTC", ALLDAY, "VEVENT", "20240310T120000Z", "20240310T130000Z",
      NULL, 1 },
    { "all day, next day UTC", ALLDAY, "VEVENT", "20240311T020000Z",
      "20240311T030000Z", NULL, 0 },
    { "all day, New York's day is later", ALLDAY, "VEVENT", "20240311T020000Z",
      "20240311T030000Z", TZ_NY, 1 },
    { "all day, New York's 23-hour day is over", ALLDAY, "VEVENT",
      "20240311T040000Z", "20240311T043000Z", TZ_NY, 0 },
    { "all day, before New York's midnight", ALLDAY, "VEVENT",
      "20240310T030000Z", "20240310T045959Z", TZ_NY, 0 },
    { "three days, last day", ALLDAY3, "VEVENT", "20240503T230000Z",
      "20240504T000000Z", NULL, 1 },
    { "three days, the day after", ALLDAY3, "VEVENT", "20240504T000000Z",
      "20240505T000000Z", NULL, 0 },
    { "yearly all day from 1980, 2028", BIRTHDAY, "VEVENT", "20280229T100000Z",
      "20280229T110000Z", NULL, 1 },
    { "yearly on Feb 29 skips 2027", BIRTHDAY, "VEVENT", "20270101T000000Z",
      "20271231T000000Z", NULL, 0 },
    /* zones */
    { "built-in Olson zone", OLSON, "VEVENT", "20240701T130000Z",
      "20240701T133000Z", NULL, 1 },
    { "built-in Olson zone, naive UTC reading", OLSON, "VEVENT",
      "20240701T090000Z", "20240701T100000Z", NULL, 0 },
    { "prefixed TZID", OLSON_PREFIXED, "VEVENT", "20240701T000000Z",
      "20240701T003000Z", NULL, 1 },
    { "floating in UTC", FLOATING, "VEVENT", "20240701T090000Z",
      "20240701T093000Z", NULL, 1 },
    { "floating in New York", FLOATING, "VEVENT", "20240701T130000Z",
      "20240701T133000Z", TZ_NY, 1 },
    { "floating in New York, UTC reading", FLOATING, "VEVENT",
      "20240701T090000Z", "20240701T093000Z", TZ_NY, 0 },
    /* zero length */
    { "point inside", POINT, "VEVENT", "20240601T120000Z", "20240601T130000Z",
      NULL, 1 },
    { "point at the range end", POINT, "VEVENT", "20240601T110000Z",
      "20240601T120000Z", NULL, 0 },
    /* VTODO, RFC 4791 9.9 */
    { "todo start+duration inside", TODO_START_DUR, "VTODO", "20240601T110000Z",
      "20240601T113000Z", NULL, 1 },
    { "todo start+duration after", TODO_START_DUR, "VTODO", "20240601T120001Z",
      "20240601T130000Z", NULL, 0 },
    { "todo start+due inside", TODO_START_DUE, "VTODO", "20240601T170000Z",
      "20240601T171000Z", NULL, 1 },
    { "todo start+due after", TODO_START_DUE, "VTODO", "20240601T180000Z",
      "20240601T190000Z", NULL, 0 },
    { "todo start only, at start", TODO_START, "VTODO", "20240601T100000Z",
      "20240601T100100Z", NULL, 1 },
    { "todo start only, after", TODO_START, "VTODO", "20240601T100001Z",
      "20240601T110000Z", NULL, 0 },
    { "todo due only, range ends at DUE", TODO_DUE, "VTODO", "20240601T170000Z",
      "20240601T180000Z", NULL, 1 },
    { "todo due only, range starts at DUE", TODO_DUE, "VTODO",
      "20240601T180000Z", "20240601T190000Z", NULL, 0 },
    { "todo completed+created, while open", TODO_DONE_CREATED, "VTODO",
      "20240505T000000Z", "20240506T000000Z", NULL, 1 },
    { "todo completed+created, after", TODO_DONE_CREATED, "VTODO",
      "20240511T000000Z", "20240512T000000Z", NULL, 0 },
    { "todo completed+created around", TODO_DONE_CREATED, "VTODO",
      "20240430T000000Z", "20240502T000000Z", NULL, 1 },
    { "todo completed only", TODO_DONE, "VTODO", "20240509T000000Z",
      "20240510T000000Z", NULL, 1 },
    { "todo completed only, before", TODO_DONE, "VTODO", "20240501T000000Z",
      "20240502T000000Z", NULL, 0 },
    { "todo created only", TODO_CREATED, "VTODO", "20240501T000000Z",
      "20240501T000001Z", NULL, 1 },
    { "todo created only, range ends at it", TODO_CREATED, "VTODO",
      "20240430T000000Z", "20240501T000000Z", NULL, 0 },
    { "todo without dates matches all", TODO_NONE, "VTODO", "19990101T000000Z",
      "19990102T000000Z", NULL, 1 },
    { "weekly todo, a year on", TODO_WEEKLY, "VTODO", "20250602T120000Z",
      "20250602T130000Z", NULL, 1 },
    { "weekly todo, weekend", TODO_WEEKLY, "VTODO", "20250607T000000Z",
      "20250608T000000Z", NULL, 0 },
    /* VJOURNAL */
    { "journal date", JOURNAL, "VJOURNAL", "20240615T230000Z",
      "20240616T000000Z", NULL, 1 },
    { "journal next day", JOURNAL, "VJOURNAL", "20240616T000000Z",
      "20240617T000000Z", NULL, 0 },
};

static int
match_range(const char *data, const char *comp, int64_t s, int64_t e,
            const char *tz)
{
    caldav_time_range_t  tr = { s, e };
    caldav_comp_filter_t inner, root;
    mtr_err_t            err;

    memset(&inner, 0, sizeof(inner));
    memset(&root, 0, sizeof(root));
    inner.name = (char *) comp;
    inner.time_range = &tr;
    root.name = "VCALENDAR";
    root.comp_filters = &inner;
    return caldav_ical_match(data, strlen(data), &root, tz, &err);
}

static void
test_time_range(void **state)
{
    size_t i;

    (void) state;
    caldav_ical_init();
    for (i = 0; i < sizeof(range_cases) / sizeof(range_cases[0]); i++) {
        const range_case_t *t = &range_cases[i];

        print_message("case: time-range: %s\n", t->name);
        assert_int_equal(
            match_range(t->data, t->comp, TS(t->start), TE(t->end), t->tz),
            t->want);
    }
}

/* ---- recurrence rules against libical's own full iteration ---------- */

typedef struct {
    const char *name;
    const char *rule;
    const char *dtstart; /* local time */
    const char *tzid;    /* built-in zone, NULL: UTC */
    int         bounded;
} rule_case_t;

static const rule_case_t rule_cases[] = {
    { "daily COUNT", "FREQ=DAILY;COUNT=500", "20200101T093000", NULL, 1 },
    { "daily COUNT in Berlin", "FREQ=DAILY;COUNT=700", "20200101T093000",
      "Europe/Berlin", 1 },
    { "every 3 days COUNT", "FREQ=DAILY;INTERVAL=3;COUNT=400",
      "20200105T230000", "Europe/Berlin", 1 },
    { "weekly COUNT", "FREQ=WEEKLY;COUNT=300", "20200106T080000", NULL, 1 },
    { "biweekly MO,WE,FR from a Wednesday",
      "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE,FR;COUNT=250", "20200108T070000",
      "Europe/Berlin", 1 },
    { "3-weekly SU,TU, WKST=SU, from a Tuesday",
      "FREQ=WEEKLY;INTERVAL=3;BYDAY=SU,TU;WKST=SU;COUNT=200", "20200107T120000",
      NULL, 1 },
    { "weekly TU,SA, WKST=WE, from a Saturday",
      "FREQ=WEEKLY;BYDAY=TU,SA;WKST=WE;COUNT=333", "20200104T120000", NULL, 1 },
    { "biweekly SU,MO, WKST=MO, from a Sunday",
      "FREQ=WEEKLY;INTERVAL=2;BYDAY=SU,MO;WKST=MO;COUNT=100", "20200105T100000",
      "America/New_York", 1 },
    { "monthly last Friday COUNT", "FREQ=MONTHLY;BYDAY=-1FR;COUNT=60",
      "20200131T150000", NULL, 1 },
    { "yearly UNTIL", "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU;UNTIL=20400101T000000Z",
      "20200329T100000", "Europe/Berlin", 1 },
    { "daily UNTIL", "FREQ=DAILY;UNTIL=20300101T000000Z", "20200101T000000",
      NULL, 1 },
    { "weekly MO,TH unbounded", "FREQ=WEEKLY;BYDAY=MO,TH", "20200102T180000",
      "Europe/Berlin", 0 },
    { "every other month, 1st and 15th",
      "FREQ=MONTHLY;INTERVAL=2;BYMONTHDAY=1,15", "20200101T090000", NULL, 0 },
};

#define RULE_MAX   4000
#define RULE_LIMIT 4102444800LL /* 2100-01-01: past every UNTIL here */

static size_t
libical_instances(const rule_case_t *t, int64_t *out)
{
    icaltimezone       *z = t->tzid ? icaltimezone_get_builtin_timezone(t->tzid)
                                    : icaltimezone_get_utc_timezone();
    struct icaltimetype dt = icaltime_from_string(t->dtstart), tt;
    struct icalrecurrencetype r = icalrecurrencetype_from_string(t->rule);
    icalrecur_iterator       *it;
    size_t                    n = 0;
    int64_t                   u, first;

    assert_non_null(z);
    dt.zone = z;
    first = (int64_t) icaltime_as_timet_with_zone(dt, z);
    out[n++] = first;
    it = icalrecur_iterator_new(r, dt);
    assert_non_null(it);
    while (n < RULE_MAX) {
        tt = icalrecur_iterator_next(it);
        if (icaltime_is_null_time(tt)) {
            break;
        }
        u = (int64_t) icaltime_as_timet_with_zone(tt, z);
        if (u > RULE_LIMIT) {
            break;
        }
        if (u != first) {
            out[n++] = u;
        }
    }
    icalrecur_iterator_free(it);
    return n;
}

static void
test_rules(void **state)
{
    static int64_t inst[RULE_MAX];
    size_t         i, n, j;
    char           ics[1024], *out;

    (void) state;
    for (i = 0; i < sizeof(rule_cases) / sizeof(rule_cases[0]); i++) {
        const rule_case_t  *t = &rule_cases[i];
        caldav_ical_index_t ix;
        const char         *pc;
        mtr_err_t           err;
        size_t              ks[6];
        caldav_time_range_t ex;
        caldav_buf_t        b;

        print_message("case: rule: %s\n", t->name);
        n = libical_instances(t, inst);
        assert_true(n > 10);
        snprintf(ics, sizeof(ics),
                 CAL_BEGIN "BEGIN:VEVENT" CRLF "UID:r" CRLF
                           "DTSTART%s%s:%s" CRLF "DURATION:PT1H" CRLF
                           "RRULE:%s" CRLF "END:VEVENT" CRLF CAL_END,
                 t->tzid ? ";TZID=" : "", t->tzid ? t->tzid : "", t->dtstart,
                 t->rule);
        assert_int_equal(
            caldav_ical_check(ics, strlen(ics), NULL, &ix, &pc, &err), MTR_OK);
        assert_true(ix.first_start == inst[0]);
        if (t->bounded) {
            assert_true(n < RULE_MAX);
            assert_true(ix.last_end == inst[n - 1] + 3600);
            assert_int_equal(match_range(ics, "VEVENT", inst[n - 1] + 3600,
                                         inst[n - 1] + 800 * 86400LL, NULL),
                             0);
        } else {
            assert_true(ix.last_end == CALDAV_TIME_MAX);
        }
        ks[0] = 0;
        ks[1] = 1;
        ks[2] = n / 3;
        ks[3] = n / 2;
        ks[4] = n - 2;
        ks[5] = n - 1;
        for (j = 0; j < 6; j++) {
            int64_t a = inst[ks[j]];

            assert_int_equal(match_range(ics, "VEVENT", a, a + 60, NULL), 1);
            if (ks[j] + 1 < n && inst[ks[j] + 1] > a + 3600) {
                assert_int_equal(
                    match_range(ics, "VEVENT", a + 3600, inst[ks[j] + 1], NULL),
                    0);
            }
        }
        /* expand exactly five instances in the middle */
        ex.start = inst[n / 2];
        ex.end = inst[n / 2 + 5];
        caldav_buf_init(&b);
        assert_int_equal(
            caldav_ical_render(ics, strlen(ics), &ex, NULL, NULL, &b, &err),
            MTR_OK);
        out = b.data;
        assert_int_equal(count(out, "BEGIN:VEVENT"), 5);
        caldav_buf_free(&b);
    }
}

/* ---- VALARM ------------------------------------------------------------ */

typedef struct {
    const char *name;
    const char *data;
    const char *start, *end;
    const char *event_start, *event_end; /* VEVENT's own range or NULL */
    int         want;
} alarm_case_t;

static const alarm_case_t alarm_cases[] = {
    { "15 minutes before", ALARMS, "20240501T094000Z", "20240501T095000Z", NULL,
      NULL, 1 },
    { "first repeat", ALARMS, "20240501T095400Z", "20240501T095600Z", NULL,
      NULL, 1 },
    { "second repeat", ALARMS, "20240501T100400Z", "20240501T100600Z", NULL,
      NULL, 1 },
    { "no trigger in between", ALARMS, "20240501T095600Z", "20240501T100400Z",
      NULL, NULL, 0 },
    { "related to the end", ALARMS, "20240501T110500Z", "20240501T110501Z",
      NULL, NULL, 1 },
    { "absolute trigger", ALARMS, "20240430T175959Z", "20240430T180001Z", NULL,
      NULL, 1 },
    { "nothing the day before", ALARMS, "20240430T000000Z", "20240430T170000Z",
      NULL, NULL, 0 },
    { "alarm and event ranges together", ALARMS, "20240501T094000Z",
      "20240501T095000Z", "20240501T100000Z", "20240501T103000Z", 1 },
    { "event range misses", ALARMS, "20240501T094000Z", "20240501T095000Z",
      "20240502T000000Z", "20240503T000000Z", 0 },
    { "daily alarm four years on", ALARM_DAILY, "20240301T082500Z",
      "20240301T083500Z", NULL, NULL, 1 },
    { "daily alarm off time", ALARM_DAILY, "20240301T084000Z",
      "20240301T090000Z", NULL, NULL, 0 },
};

static void
test_alarm(void **state)
{
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(alarm_cases) / sizeof(alarm_cases[0]); i++) {
        const alarm_case_t  *t = &alarm_cases[i];
        caldav_time_range_t  atr = { TS(t->start), TE(t->end) };
        caldav_time_range_t  etr;
        caldav_comp_filter_t alarm, ev, root;
        mtr_err_t            err;

        print_message("case: valarm: %s\n", t->name);
        memset(&alarm, 0, sizeof(alarm));
        memset(&ev, 0, sizeof(ev));
        memset(&root, 0, sizeof(root));
        alarm.name = "VALARM";
        alarm.time_range = &atr;
        ev.name = "VEVENT";
        ev.comp_filters = &alarm;
        if (t->event_start != NULL) {
            etr.start = TS(t->event_start);
            etr.end = TE(t->event_end);
            ev.time_range = &etr;
        }
        root.name = "VCALENDAR";
        root.comp_filters = &ev;
        assert_int_equal(
            caldav_ical_match(t->data, strlen(t->data), &root, NULL, &err),
            t->want);
    }
}

/* ---- prop-filter, param-filter, text-match, is-not-defined ------------ */

typedef struct {
    const char        *name;
    const char        *data;
    const char        *comp; /* comp-filter under VCALENDAR */
    const char        *prop; /* prop-filter name or NULL */
    int                prop_undef;
    const char        *text; /* text-match or NULL */
    caldav_match_e     match;
    caldav_collation_e coll;
    int                negate;
    const char        *param; /* param-filter or NULL */
    int                param_undef;
    const char        *ptext; /* param text-match or NULL */
    int                comp_undef;
    int                want;
} filter_case_t;

#define CI CALDAV_COLLATION_ASCII_CASEMAP
#define OC CALDAV_COLLATION_OCTET
#define UC CALDAV_COLLATION_UNICODE_CASEMAP
#define CO CALDAV_MATCH_CONTAINS
#define EQ CALDAV_MATCH_EQUALS
#define SW CALDAV_MATCH_STARTS_WITH
#define EW CALDAV_MATCH_ENDS_WITH

static const filter_case_t filter_cases[] = {
    { "summary contains, ascii-casemap", WEEKLY, "VEVENT", "SUMMARY", 0, "meet",
      CO, CI, 0, NULL, 0, NULL, 0, 1 },
    { "summary contains, octet, wrong case", WEEKLY, "VEVENT", "SUMMARY", 0,
      "meet", CO, OC, 0, NULL, 0, NULL, 0, 0 },
    { "summary contains, octet, right case", WEEKLY, "VEVENT", "SUMMARY", 0,
      "Meet", CO, OC, 0, NULL, 0, NULL, 0, 1 },
    { "negated contains", WEEKLY, "VEVENT", "SUMMARY", 0, "meet", CO, CI, 1,
      NULL, 0, NULL, 0, 0 /* master and override both contain it */ },
    { "negated contains, no component lacks it", ALLDAY, "VEVENT", "SUMMARY", 0,
      "holi", CO, CI, 1, NULL, 0, NULL, 0, 0 },
    { "negated, absent text", ALLDAY, "VEVENT", "SUMMARY", 0, "xyz", CO, CI, 1,
      NULL, 0, NULL, 0, 1 },
    { "negated but property missing", POINT, "VEVENT", "SUMMARY", 0, "xyz", CO,
      CI, 1, NULL, 0, NULL, 0, 0 },
    { "equals", ALLDAY, "VEVENT", "SUMMARY", 0, "HOLIDAY", EQ, CI, 0, NULL, 0,
      NULL, 0, 1 },
    { "equals is not contains", ALLDAY, "VEVENT", "SUMMARY", 0, "HOLI", EQ, CI,
      0, NULL, 0, NULL, 0, 0 },
    { "starts-with", WEEKLY, "VEVENT", "SUMMARY", 0, "team", SW, CI, 0, NULL, 0,
      NULL, 0, 1 },
    { "ends-with", WEEKLY, "VEVENT", "SUMMARY", 0, "(MOVED)", EW, CI, 0, NULL,
      0, NULL, 0, 1 },
    { "ends-with misses", WEEKLY, "VEVENT", "SUMMARY", 0, "team", EW, CI, 0,
      NULL, 0, NULL, 0, 0 },
    { "empty text contains", WEEKLY, "VEVENT", "SUMMARY", 0, "", CO, CI, 0,
      NULL, 0, NULL, 0, 1 },
    { "unicode-casemap folds Latin-1", UNICODE_SUMMARY, "VEVENT", "SUMMARY", 0,
      "\xC3\xBC"
      "ber",
      SW, UC, 0, NULL, 0, NULL, 0, 1 },
    { "unicode-casemap folds sharp s", UNICODE_SUMMARY, "VEVENT", "SUMMARY", 0,
      "STRASSE", CO, UC, 0, NULL, 0, NULL, 0, 1 },
    { "ascii-casemap leaves Latin-1 alone", UNICODE_SUMMARY, "VEVENT",
      "SUMMARY", 0, "\xC3\xA9t\xC3\xA9", CO, CI, 0, NULL, 0, NULL, 0, 0 },
    { "unescaped value", UNICODE_SUMMARY, "VEVENT", "DESCRIPTION", 0, "a, b; c",
      EQ, CI, 0, NULL, 0, NULL, 0, 1 },
    { "X- property", WEEKLY, "VEVENT", "X-MORTAR-TEST", 0, "kept", SW, CI, 0,
      NULL, 0, NULL, 0, 1 },
    { "attendee address", WEEKLY, "VEVENT", "ATTENDEE", 0,
      "mailto:jane@example.org", EQ, CI, 0, NULL, 0, NULL, 0, 1 },
    { "property defined", WEEKLY, "VEVENT", "LOCATION", 0, NULL, CO, CI, 0,
      NULL, 0, NULL, 0, 1 },
    { "property not defined, but is", ALLDAY, "VEVENT", "SUMMARY", 1, NULL, CO,
      CI, 0, NULL, 0, NULL, 0, 0 },
    { "property not defined", ALLDAY, "VEVENT", "LOCATION", 1, NULL, CO, CI, 0,
      NULL, 0, NULL, 0, 1 },
    { "override lacks LOCATION", WEEKLY, "VEVENT", "LOCATION", 1, NULL, CO, CI,
      0, NULL, 0, NULL, 0, 1 },
    { "property missing", POINT, "VEVENT", "LOCATION", 0, NULL, CO, CI, 0, NULL,
      0, NULL, 0, 0 },
    { "param equals", WEEKLY, "VEVENT", "ATTENDEE", 0, NULL, CO, CI, 0,
      "PARTSTAT", 0, "accepted", 0, 1 },
    { "param differs", WEEKLY, "VEVENT", "ATTENDEE", 0, NULL, CO, CI, 0,
      "PARTSTAT", 0, "needs-action", 0, 0 },
    { "quoted param", WEEKLY, "VEVENT", "ATTENDEE", 0, NULL, CO, CI, 0, "CN", 0,
      "doe, j", 0, 1 },
    { "param defined", WEEKLY, "VEVENT", "ATTENDEE", 0, NULL, CO, CI, 0, "CN",
      0, NULL, 0, 1 },
    { "param not defined", WEEKLY, "VEVENT", "ATTENDEE", 0, NULL, CO, CI, 0,
      "ROLE", 1, NULL, 0, 1 },
    { "param not defined, but is", WEEKLY, "VEVENT", "ATTENDEE", 0, NULL, CO,
      CI, 0, "PARTSTAT", 1, NULL, 0, 0 },
    { "X- param", WEEKLY, "VEVENT", "X-MORTAR-TEST", 0, NULL, CO, CI, 0, "X-P",
      0, "1", 0, 1 },
    { "text and param together", WEEKLY, "VEVENT", "ATTENDEE", 0, "jane", CO,
      CI, 0, "PARTSTAT", 0, "ACCEPTED", 0, 1 },
    { "component not defined", WEEKLY, "VTODO", NULL, 0, NULL, CO, CI, 0, NULL,
      0, NULL, 1, 1 },
    { "component not defined, but is", WEEKLY, "VEVENT", NULL, 0, NULL, CO, CI,
      0, NULL, 0, NULL, 1, 0 },
    { "component defined", TODO_NONE, "VTODO", NULL, 0, NULL, CO, CI, 0, NULL,
      0, NULL, 0, 1 },
    { "VTIMEZONE is a component too", WEEKLY, "VTIMEZONE", NULL, 0, NULL, CO,
      CI, 0, NULL, 0, NULL, 0, 1 },
};

static void
test_filters(void **state)
{
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(filter_cases) / sizeof(filter_cases[0]); i++) {
        const filter_case_t  *t = &filter_cases[i];
        caldav_text_match_t   tm, ptm;
        caldav_param_filter_t pf;
        caldav_prop_filter_t  prf;
        caldav_comp_filter_t  comp, root;
        mtr_err_t             err;

        print_message("case: filter: %s\n", t->name);
        memset(&tm, 0, sizeof(tm));
        memset(&ptm, 0, sizeof(ptm));
        memset(&pf, 0, sizeof(pf));
        memset(&prf, 0, sizeof(prf));
        memset(&comp, 0, sizeof(comp));
        memset(&root, 0, sizeof(root));
        tm.text = (char *) t->text;
        tm.match = t->match;
        tm.collation = t->coll;
        tm.negate = t->negate;
        ptm.text = (char *) t->ptext;
        pf.name = (char *) t->param;
        pf.is_not_defined = t->param_undef;
        pf.text_match = t->ptext ? &ptm : NULL;
        prf.name = (char *) t->prop;
        prf.is_not_defined = t->prop_undef;
        prf.text_matches = t->text ? &tm : NULL;
        prf.param_filters = t->param ? &pf : NULL;
        comp.name = (char *) t->comp;
        comp.is_not_defined = t->comp_undef;
        comp.prop_filters = t->prop ? &prf : NULL;
        root.name = "VCALENDAR";
        root.comp_filters = &comp;
        assert_int_equal(
            caldav_ical_match(t->data, strlen(t->data), &root, NULL, &err),
            t->want);
    }
}

/* Property time ranges, VCALENDAR-level filters, bad stored data. */
static void
test_filter_misc(void **state)
{
    caldav_time_range_t  tr;
    caldav_prop_filter_t prf;
    caldav_comp_filter_t comp, root;
    mtr_err_t            err;
    static const struct {
        const char *name, *prop, *start, *end;
        int         want;
    } cases[] = {
        { "DTSTAMP inside", "DTSTAMP", "20240101T120000Z", "20240101T120001Z",
          1 },
        { "DTSTAMP at the end", "DTSTAMP", "20240101T110000Z",
          "20240101T120000Z", 0 },
        { "DTSTART in zone", "DTSTART", "20240108T090000Z", "20240108T090001Z",
          1 },
        { "not a time property", "SUMMARY", NULL, NULL, 0 },
    };
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("case: prop time-range: %s\n", cases[i].name);
        memset(&prf, 0, sizeof(prf));
        memset(&comp, 0, sizeof(comp));
        memset(&root, 0, sizeof(root));
        tr.start = TS(cases[i].start);
        tr.end = TE(cases[i].end);
        prf.name = (char *) cases[i].prop;
        prf.time_range = &tr;
        comp.name = "VEVENT";
        comp.prop_filters = &prf;
        root.name = "VCALENDAR";
        root.comp_filters = &comp;
        assert_int_equal(
            caldav_ical_match(WEEKLY, strlen(WEEKLY), &root, NULL, &err),
            cases[i].want);
    }

    print_message("case: filter: VCALENDAR prop-filter\n");
    memset(&prf, 0, sizeof(prf));
    memset(&root, 0, sizeof(root));
    prf.name = "PRODID";
    root.name = "VCALENDAR";
    root.prop_filters = &prf;
    assert_int_equal(
        caldav_ical_match(WEEKLY, strlen(WEEKLY), &root, NULL, &err), 1);

    print_message("case: filter: root must be VCALENDAR\n");
    memset(&root, 0, sizeof(root));
    root.name = "VEVENT";
    assert_int_equal(
        caldav_ical_match(WEEKLY, strlen(WEEKLY), &root, NULL, &err), 0);

    print_message("case: filter: no filter matches\n");
    assert_int_equal(
        caldav_ical_match(WEEKLY, strlen(WEEKLY), NULL, NULL, &err), 1);

    print_message("case: filter: unparseable stored data\n");
    memset(&root, 0, sizeof(root));
    root.name = "VCALENDAR";
    mtr_err_clear(&err);
    assert_int_equal(caldav_ical_match("garbage", 7, &root, NULL, &err),
                     MTR_ERROR);
    assert_true(err.msg[0] != '\0');
}

/* ---- expand and limit-recurrence-set ---------------------------------- */

static char *
render(const char *data, const char *es, const char *ee, const char *ls,
       const char *le, const char *tz)
{
    caldav_time_range_t ex = { TS(es), TE(ee) }, lim = { TS(ls), TE(le) };
    caldav_buf_t        b;
    mtr_err_t           err;
    char               *s;

    caldav_buf_init(&b);
    assert_int_equal(caldav_ical_render(data, strlen(data),
                                        es || ee ? &ex : NULL,
                                        ls || le ? &lim : NULL, tz, &b, &err),
                     MTR_OK);
    s = caldav_buf_steal(&b, NULL);
    assert_non_null(s);
    return s;
}

static void
test_render(void **state)
{
    char *s;

    (void) state;
    print_message("case: render: unchanged without options\n");
    s = render(WEEKLY, NULL, NULL, NULL, NULL, NULL);
    assert_string_equal(s, WEEKLY);
    free(s);

    print_message("case: render: expand four weeks\n");
    s = render(WEEKLY, "20240108T000000Z", "20240205T000000Z", NULL, NULL,
               NULL);
    /* Jan 8, (15 excluded), 22 moved to 24, 29 */
    assert_int_equal(count(s, "BEGIN:VEVENT"), 3);
    assert_int_equal(count(s, "RECURRENCE-ID:"), 3);
    assert_non_null(strstr(s, "DTSTART:20240108T090000Z\r\n"));
    assert_non_null(strstr(s, "DTEND:20240108T100000Z\r\n"));
    assert_non_null(strstr(s, "RECURRENCE-ID:20240108T090000Z\r\n"));
    assert_non_null(strstr(s, "DTSTART:20240124T140000Z\r\n"));
    assert_non_null(strstr(s, "RECURRENCE-ID:20240122T090000Z\r\n"));
    assert_non_null(strstr(s, "DTSTART:20240129T090000Z\r\n"));
    assert_null(strstr(s, "20240115T"));
    assert_null(strstr(s, "RRULE"));
    assert_null(strstr(s, "EXDATE"));
    assert_null(strstr(s, "VTIMEZONE"));
    assert_null(strstr(s, "TZID"));
    assert_non_null(strstr(s, "X-MORTAR-TEST;X-P=1:kept as is\r\n"));
    assert_non_null(strstr(s, "SUMMARY:Team Meeting (moved)"));
    /* sorted by start */
    assert_true(strstr(s, "DTSTART:20240124") < strstr(s, "DTSTART:20240129"));
    assert_int_equal(strncmp(s, "BEGIN:VCALENDAR\r\n", 17), 0);
    assert_int_equal(strcmp(s + strlen(s) - 15, "END:VCALENDAR\r\n"), 0);
    free(s);

    print_message("case: render: expand in summer (CEST)\n");
    s = render(WEEKLY, "20240701T000000Z", "20240702T000000Z", NULL, NULL,
               NULL);
    assert_int_equal(count(s, "BEGIN:VEVENT"), 1);
    assert_non_null(strstr(s, "DTSTART:20240701T080000Z\r\n"));
    free(s);

    print_message("case: render: expand an RDATE period\n");
    s = render(RDATES, "20240101T000000Z", "20240201T000000Z", NULL, NULL,
               NULL);
    assert_int_equal(count(s, "BEGIN:VEVENT"), 4);
    assert_non_null(strstr(s, "DTEND:20240110T130000Z\r\n"));
    free(s);

    print_message("case: render: expand all-day keeps DATE values\n");
    s = render(BIRTHDAY, "20280101T000000Z", "20290101T000000Z", NULL, NULL,
               NULL);
    assert_int_equal(count(s, "BEGIN:VEVENT"), 1);
    assert_non_null(strstr(s, "DTSTART;VALUE=DATE:20280229\r\n"));
    assert_non_null(strstr(s, "RECURRENCE-ID;VALUE=DATE:20280229\r\n"));
    free(s);

    print_message("case: render: expand, nothing in range\n");
    s = render(POINT, "20250101T000000Z", "20250102T000000Z", NULL, NULL, NULL);
    assert_int_equal(count(s, "BEGIN:VEVENT"), 0);
    assert_non_null(strstr(s, "END:VCALENDAR"));
    free(s);

    print_message("case: render: expand a non-recurring event to UTC\n");
    s = render(OLSON, "20240701T000000Z", "20240702T000000Z", NULL, NULL, NULL);
    assert_non_null(strstr(s, "DTSTART:20240701T130000Z\r\n"));
    assert_null(strstr(s, "RECURRENCE-ID"));
    free(s);

    print_message("case: render: limit-recurrence-set drops the override\n");
    s = render(WEEKLY, NULL, NULL, "20240201T000000Z", "20240301T000000Z",
               NULL);
    assert_null(strstr(s, "(moved)"));
    assert_non_null(strstr(s, "RRULE:FREQ=WEEKLY\r\n"));
    assert_non_null(strstr(s, "BEGIN:VTIMEZONE"));
    assert_int_equal(count(s, "BEGIN:VEVENT"), 1);
    {
        /* exactly the stored bytes minus the override's lines */
        const char *o = strstr(strstr(WEEKLY, "END:VEVENT"), "BEGIN:VEVENT");
        const char *e = strstr(o, "END:VEVENT\r\n") + 12;
        char        want[sizeof(WEEKLY)];

        memcpy(want, WEEKLY, (size_t) (o - WEEKLY));
        strcpy(want + (o - WEEKLY), e);
        assert_string_equal(s, want);
    }
    free(s);

    print_message("case: render: limit keeps an override at its new time\n");
    s = render(WEEKLY, NULL, NULL, "20240124T000000Z", "20240125T000000Z",
               NULL);
    assert_string_equal(s, WEEKLY);
    free(s);

    print_message("case: render: limit keeps an override at its old time\n");
    s = render(WEEKLY, NULL, NULL, "20240122T000000Z", "20240123T000000Z",
               NULL);
    assert_string_equal(s, WEEKLY);
    free(s);
}

/* ---- free-busy --------------------------------------------------------- */

static const char FB_EVENTS[] =
    CAL_BEGIN "BEGIN:VEVENT" CRLF "UID:fb" CRLF "DTSTART:20240601T090000Z" CRLF
              "DTEND:20240601T100000Z" CRLF "RRULE:FREQ=DAILY;COUNT=3" CRLF
              "END:VEVENT" CRLF "BEGIN:VEVENT" CRLF "UID:fb" CRLF
              "RECURRENCE-ID:20240602T090000Z" CRLF
              "DTSTART:20240602T093000Z" CRLF "DTEND:20240602T113000Z" CRLF
              "STATUS:TENTATIVE" CRLF "END:VEVENT" CRLF CAL_END;

static const char FB_OVERLAP[] =
    CAL_BEGIN "BEGIN:VEVENT" CRLF "UID:fb2" CRLF "DTSTART:20240601T093000Z" CRLF
              "DTEND:20240601T103000Z" CRLF "END:VEVENT" CRLF CAL_END;

static const char FB_TRANSPARENT[] =
    CAL_BEGIN "BEGIN:VEVENT" CRLF "UID:fb3" CRLF "DTSTART:20240601T140000Z" CRLF
              "DTEND:20240601T150000Z" CRLF "TRANSP:TRANSPARENT" CRLF
              "END:VEVENT" CRLF CAL_END;

static const char FB_CANCELLED[] =
    CAL_BEGIN "BEGIN:VEVENT" CRLF "UID:fb4" CRLF "DTSTART:20240601T160000Z" CRLF
              "DTEND:20240601T170000Z" CRLF "STATUS:CANCELLED" CRLF
              "END:VEVENT" CRLF CAL_END;

static const char FB_VFREEBUSY[] =
    CAL_BEGIN "BEGIN:VFREEBUSY" CRLF "UID:fb5" CRLF
              "DTSTART:20240601T000000Z" CRLF "DTEND:20240605T000000Z" CRLF
              "FREEBUSY;FBTYPE=BUSY-UNAVAILABLE:20240603T080000Z/PT2H" CRLF
              "FREEBUSY;FBTYPE=FREE:20240603T120000Z/PT2H" CRLF
              "FREEBUSY:20240603T100000Z/20240603T101500Z" CRLF
              "END:VFREEBUSY" CRLF CAL_END;

static void
test_freebusy(void **state)
{
    caldav_ical_periods_t p;
    caldav_time_range_t r = { TS("20240601T000000Z"), TE("20240603T090000Z") };
    caldav_buf_t        b;
    mtr_err_t           err;
    const char *const   objs[] = { FB_EVENTS,    FB_OVERLAP,   FB_TRANSPARENT,
                                   FB_CANCELLED, FB_VFREEBUSY, ALLDAY };
    size_t              i;

    (void) state;
    print_message("case: freebusy: add and merge\n");
    memset(&p, 0, sizeof(p));
    for (i = 0; i < sizeof(objs) / sizeof(objs[0]); i++) {
        assert_int_equal(caldav_ical_freebusy_add(objs[i], strlen(objs[i]), &r,
                                                  NULL, &p, &err),
                         MTR_OK);
    }
    /* 3 event instances (one tentative) + 1 overlap + 1 clipped VFREEBUSY
     * period + the FREEBUSY BUSY one outside */
    assert_int_equal(p.n, 4);
    caldav_buf_init(&b);
    assert_int_equal(caldav_ical_freebusy_render(&p, &r, &b, &err), MTR_OK);
    print_message("%s", b.data);
    assert_non_null(strstr(b.data, "BEGIN:VFREEBUSY\r\n"));
    assert_non_null(strstr(b.data, "DTSTART:20240601T000000Z\r\n"));
    assert_non_null(strstr(b.data, "DTEND:20240603T090000Z\r\n"));
    assert_non_null(strstr(b.data, "DTSTAMP:"));
    /* 09:00-10:00 and 09:30-10:30 merge; the 3rd goes on; no 14:00/16:00 */
    assert_non_null(strstr(b.data, "FREEBUSY;FBTYPE=BUSY:20240601T090000Z/"
                                   "20240601T103000Z\r\n"));
    assert_non_null(strstr(b.data, "FREEBUSY;FBTYPE=BUSY-TENTATIVE:"
                                   "20240602T093000Z/20240602T113000Z\r\n"));
    assert_non_null(strstr(b.data, "FREEBUSY;FBTYPE=BUSY-UNAVAILABLE:"
                                   "20240603T080000Z/20240603T090000Z\r\n"));
    assert_null(strstr(b.data, "T14"));
    assert_null(strstr(b.data, "T16"));
    assert_null(strstr(b.data, "20240310"));
    assert_null(strstr(b.data, "\n\n"));
    assert_int_equal(count(b.data, "\n"), count(b.data, "\r\n"));
    caldav_buf_free(&b);
    caldav_ical_periods_free(&p);

    print_message("case: freebusy: folding of a long FREEBUSY line\n");
    memset(&p, 0, sizeof(p));
    r.start = TS("20240601T000000Z");
    r.end = TE("20240701T000000Z");
    assert_int_equal(
        caldav_ical_freebusy_add(DAILY, strlen(DAILY), &r, NULL, &p, &err),
        MTR_OK);
    assert_int_equal(p.n, 30);
    caldav_buf_init(&b);
    assert_int_equal(caldav_ical_freebusy_render(&p, &r, &b, &err), MTR_OK);
    {
        const char *l = b.data, *e;

        while ((e = strstr(l, "\r\n")) != NULL) {
            assert_true(e - l <= 75);
            l = e + 2;
        }
    }
    {
        /* unfolded, every period is there */
        char  *u = strdup(b.data);
        size_t k, j;

        assert_non_null(u);
        for (k = j = 0; u[k] != '\0'; k++) {
            if (strncmp(u + k, "\r\n ", 3) == 0) {
                k += 2;
                continue;
            }
            u[j++] = u[k];
        }
        u[j] = '\0';
        assert_int_equal(count(u, "Z/"), 30);
        assert_non_null(strstr(u, "20240630T080000Z/20240630T083000Z\r\n"));
        free(u);
    }
    caldav_buf_free(&b);
    caldav_ical_periods_free(&p);

    print_message("case: freebusy: empty\n");
    memset(&p, 0, sizeof(p));
    caldav_buf_init(&b);
    assert_int_equal(caldav_ical_freebusy_render(&p, &r, &b, &err), MTR_OK);
    assert_null(strstr(b.data, "FREEBUSY;"));
    caldav_buf_free(&b);
    caldav_ical_periods_free(&p);
}

/* Weekly at 09:00Z, three times from 2024-01-08; the 01-15 instance moved
 * to 2030 (after any horizon of test_instances). */
static const char MOVED_FAR[] = CAL_BEGIN
    "BEGIN:VEVENT" CRLF "UID:moved-far" CRLF "DTSTAMP:20240101T000000Z" CRLF
    "DTSTART:20240108T090000Z" CRLF "DTEND:20240108T100000Z" CRLF
    "RRULE:FREQ=WEEKLY;COUNT=3" CRLF "END:VEVENT" CRLF "BEGIN:VEVENT" CRLF
    "UID:moved-far" CRLF "DTSTAMP:20240101T000000Z" CRLF
    "RECURRENCE-ID:20240115T090000Z" CRLF "DTSTART:20300115T090000Z" CRLF
    "DTEND:20300115T100000Z" CRLF "END:VEVENT" CRLF CAL_END;

/* The instance list of the store's instance index. */
static void
test_instances(void **state)
{
    int64_t  *v = NULL;
    size_t    n = 0;
    mtr_err_t err;
    /* 2024-01-08 09:00Z, (01-15 excluded), 01-24 14:00Z (moved), 01-29
     * 09:00Z: instances starting before 2024-02-01 */
    int64_t       horizon = 1706745600; /* 2024-02-01T00:00:00Z */
    const int64_t want[] = { 1704704400, 1704708000, 1706104800,
                             1706108400, 1706518800, 1706522400 };
    /* 2024-01-08 and 01-22 09:00-10:00Z; not the 2030 override */
    const int64_t want_far[] = { 1704704400, 1704708000, 1705914000,
                                 1705917600 };

    (void) state;
    assert_int_equal(caldav_ical_instances(WEEKLY, sizeof(WEEKLY) - 1, horizon,
                                           100, &v, &n, &err),
                     MTR_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(v, want, sizeof(want));
    free(v);

    /* more instances than allowed: no list */
    assert_int_equal(caldav_ical_instances(DAILY, sizeof(DAILY) - 1, horizon,
                                           10, &v, &n, &err),
                     MTR_DECLINED);
    assert_null(v);

    /* fuzz_caldav_ical: an override moved past the horizon was listed */
    assert_int_equal(caldav_ical_instances(MOVED_FAR, sizeof(MOVED_FAR) - 1,
                                           horizon, 100, &v, &n, &err),
                     MTR_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(v, want_far, sizeof(want_far));
    free(v);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check),     cmocka_unit_test(test_check_caps),
        cmocka_unit_test(test_index),     cmocka_unit_test(test_time_range),
        cmocka_unit_test(test_rules),     cmocka_unit_test(test_alarm),
        cmocka_unit_test(test_filters),   cmocka_unit_test(test_filter_misc),
        cmocka_unit_test(test_render),    cmocka_unit_test(test_freebusy),
        cmocka_unit_test(test_instances),
    };

    caldav_ical_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
