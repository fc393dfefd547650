/*
 * caldav_ical_util.h -- libical helpers the iCalendar core
 * (caldav_ical.c) and scheduling (caldav_sched.c) share.  Unlike
 * caldav_ical.h, this header exposes libical's types.
 */
#ifndef CALDAV_ICAL_UTIL_H
#define CALDAV_ICAL_UTIL_H

#include <libical/ical.h>

/* Remove and free every property of that kind from k (not below it). */
void caldav_ical_remove_props(icalcomponent *k, icalproperty_kind kind);

/* Remove the X-LIC-ERROR properties libical adds while parsing, from k and
 * every component below it, before a component is written out again. */
void caldav_ical_strip_lic_errors(icalcomponent *k);

#endif /* CALDAV_ICAL_UTIL_H */
