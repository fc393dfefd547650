/*
 * caldav_ical.h -- iCalendar work of the CalDAV core, on libical 3.0.
 *
 *   - validate a calendar object resource before it is stored (RFC 4791
 *     4.1: one VCALENDAR, no METHOD, one component type apart from
 *     VTIMEZONE, one UID across all its components, recurrence overrides
 *     only with RECURRENCE-ID; the component must be in the collection's
 *     supported-calendar-component-set), and extract the index columns;
 *   - evaluate a calendar-query filter (caldav_types.h) against a stored
 *     object, time ranges matching ANY occurrence of a recurring event
 *     (RFC 4791 9.9, with overrides and EXDATEs applied);
 *   - expand and limit-recurrence-set (RFC 4791 9.6.5, 9.6.6);
 *   - free-busy: the busy periods of an object inside a range (RFC 4791
 *     7.10) and the VFREEBUSY reply text.
 *
 * Times are UTC seconds.  Floating times and all-day dates are taken in UTC
 * unless a timezone is given (the calendar-query <C:timezone> or the
 * collection's calendar-timezone, a VCALENDAR text with one VTIMEZONE).
 * TZIDs found in the object's own VTIMEZONEs win; a TZID without one is
 * looked up in libical's built-in zone database (Olson names), else UTC.
 *
 * All functions are thread-safe apart from libical's own global state,
 * which the caller initializes once with caldav_ical_init() before threads.
 * Covered by tests/unit/test_caldav_ical.c.
 */
#ifndef CALDAV_ICAL_H
#define CALDAV_ICAL_H

#include "caldav_buf.h"
#include "caldav_types.h"
#include "mtr_core.h"

#define CALDAV_ICAL_MAX_SIZE       (10u * 1024 * 1024)
#define CALDAV_ICAL_MAX_COMPONENTS 10000 /* components in one object */
/* Expansion of an unbounded rule stops after this many instances or, for
 * a range open at the end, CALDAV_ICAL_EXPAND_HORIZON seconds past the
 * range start (past now when the start is open too). */
#define CALDAV_ICAL_MAX_INSTANCES  100000
#define CALDAV_ICAL_EXPAND_HORIZON (10 * 366 * 86400LL)
/* An expanded calendar-data holds at most this many instances and bytes:
 * past either, caldav_ical_render fails with CALDAV_ICAL_TOO_BIG (a
 * minutely rule over a quarter, or a 30 KB event repeated, would
 * otherwise cost seconds and hundreds of MB per object). */
#define CALDAV_ICAL_EXPAND_MAX_INSTANCES 2000
#define CALDAV_ICAL_EXPAND_MAX_BYTES     (8u * 1024 * 1024)
#define CALDAV_ICAL_TOO_BIG              -20

typedef struct {
    char    comp[16];    /* "VEVENT", "VTODO", "VJOURNAL", "VFREEBUSY" */
    char    uid[512];    /* the UID, NUL-terminated */
    int64_t first_start; /* start of the first instance, UTC */
    int64_t last_end;    /* end of the last instance; CALDAV_TIME_MAX when
                            the rule is unbounded */
    int recurring;       /* RRULE, RDATE or overrides present */
} caldav_ical_index_t;

/* Once per process, before any thread uses libical. */
void caldav_ical_init(void);

/*
 * Validate and index.  comp_set is the collection's supported component
 * set as "VEVENT,VTODO" (NULL or "" = all).  On failure returns MTR_ERROR
 * with *precond_r set to the CalDAV precondition that failed (with prefix
 * "C:"): "C:valid-calendar-data", "C:valid-calendar-object-resource",
 * "C:supported-calendar-component", and err saying why.
 */
int caldav_ical_check(const char *data, size_t len, const char *comp_set,
                      caldav_ical_index_t *ix, const char **precond_r,
                      mtr_err_t *err);

/*
 * Does the stored object match the filter?  tz_vcalendar: timezone for
 * floating times (NULL = UTC).  Returns 1 match, 0 no match, MTR_ERROR when
 * the stored data does not parse (the caller logs and skips it).
 */
int caldav_ical_match(const char *data, size_t len,
                      const caldav_comp_filter_t *filter,
                      const char *tz_vcalendar, mtr_err_t *err);

/*
 * Append to out the calendar data to return for a calendar-data request:
 * the stored text unchanged when neither option is set; with expand, every
 * instance overlapping the range as its own component with RECURRENCE-ID,
 * no RRULE/RDATE/EXDATE, times in UTC, VTIMEZONEs dropped; with
 * limit-recurrence-set, the master plus only the overrides that overlap.
 */
int caldav_ical_render(const char *data, size_t len,
                       const caldav_time_range_t *expand,
                       const caldav_time_range_t *limit_recurrence,
                       const char *tz_vcalendar, caldav_buf_t *out,
                       mtr_err_t *err);

/*
 * The instance list of a recurring event, for the store's instance index
 * (so that a time-range query never has to parse the object): every
 * instance of every VEVENT of the object (overrides replacing, EXDATEs
 * removing, RDATEs adding) that starts before horizon, as start/end pairs
 * in UTC (floating times as UTC), sorted by start, in *v_r (malloc'd,
 * 2 * *n_r values).  MTR_DECLINED when no such list can be kept: not only
 * VEVENTs, or more than max instances before horizon -- the caller then
 * keeps none and queries parse the object, as for any other.
 */
int caldav_ical_instances(const char *data, size_t len, int64_t horizon,
                          size_t max, int64_t **v_r, size_t *n_r,
                          mtr_err_t *err);

/* One busy period found by caldav_ical_freebusy_add. */
typedef struct {
    int64_t start, end;
    int     fbtype; /* 0 BUSY, 1 BUSY-TENTATIVE, 2 BUSY-UNAVAILABLE */
} caldav_ical_period_t;

typedef struct {
    caldav_ical_period_t *v;
    size_t                n, cap;
} caldav_ical_periods_t;

/* Add the busy periods of the object's VEVENTs (not TRANSPARENT, not
 * CANCELLED) and VFREEBUSY components inside range to p. */
int caldav_ical_freebusy_add(const char *data, size_t len,
                             const caldav_time_range_t *range,
                             const char *tz_vcalendar, caldav_ical_periods_t *p,
                             mtr_err_t *err);

/* Append a VCALENDAR with one VFREEBUSY (DTSTAMP now, DTSTART/DTEND the
 * range, merged sorted FREEBUSY periods) to out. */
int caldav_ical_freebusy_render(caldav_ical_periods_t     *p,
                                const caldav_time_range_t *range,
                                caldav_buf_t *out, mtr_err_t *err);

void caldav_ical_periods_free(caldav_ical_periods_t *p);

#endif /* CALDAV_ICAL_H */
