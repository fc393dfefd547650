/*
 * caldav_sched.h -- CalDAV scheduling (RFC 6638): server-side implicit
 * scheduling of the CalDAV core, and free-busy lookups through the
 * scheduling outbox.
 *
 * Core (no host header).  The request core (caldav_handler.c) routes the
 * writes of calendar object resources through caldav_sched_put() and
 * caldav_sched_delete(), and a POST to the outbox to caldav_sched_post().
 *
 * What happens (see docs/caldav.md, "Scheduling"):
 *
 *   - the ORGANIZER (the authenticated owner of the calendar) writes or
 *     deletes an event with ATTENDEEs: every attendee that is an account of
 *     this deployment (conf->user_exists) gets an iTIP message (METHOD
 *     REQUEST or CANCEL) as a new resource of their "inbox" collection, and
 *     their copy of the event (same UID, looked up in all their calendars,
 *     else made in "default") is made, updated or deleted with their own
 *     PARTSTAT (NEEDS-ACTION for a new invitation or a moved event, else
 *     the one they had).  Every other attendee gets an iMIP message (RFC
 *     6047) through conf->sendmail_path.  An attendee removed by an update
 *     gets a CANCEL;
 *   - an ATTENDEE changes their PARTSTAT in their copy (or deletes it:
 *     DECLINED): the organizer gets a METHOD:REPLY in their inbox and the
 *     ATTENDEE of their copy gets the new PARTSTAT, or, when the organizer
 *     is not a local account, an iMIP REPLY;
 *   - SCHEDULE-AGENT=CLIENT or NONE on the ORGANIZER turns all of it off
 *     for that object, on an ATTENDEE for that attendee.
 *
 * Writes made here go straight to the stores (caldav_store_obj_put), never
 * through these functions again: scheduling cannot loop.  The organizer's
 * stored bytes are never changed (no SCHEDULE-STATUS is written into
 * them), so the ETag the client got for its PUT stays true.
 *
 * Delivery problems never fail the request that caused them (the object is
 * stored; RFC 6638 reports them per attendee): they are summed up in the
 * log line the caller hands in.
 *
 * Covered by tests/unit/test_caldav_sched.c (through caldav_handle()) and
 * tests/integration/test_dav_scheduling.py.
 */
#ifndef CALDAV_SCHED_H
#define CALDAV_SCHED_H

#include <stddef.h>

#include "caldav.h"
#include "caldav_store.h"
#include "mtr_core.h"

#define CALDAV_SCHED_MAX_ATTENDEES 1000  /* per object; more are ignored */
#define CALDAV_SCHED_SENDMAIL_MS   10000 /* one sendmail run, all told */
#define CALDAV_SCHED_MAX_FB_USERS  100   /* recipients of one free-busy POST */

/*
 * Store an object as caldav_store_obj_put() does (same arguments and
 * returns), then, when it was stored in a calendar (coll->kind
 * CALDAV_COLL_CALENDAR) of owner by owner itself (user), schedule.  st is
 * owner's store; it may be closed by the time this returns (scheduling
 * opens other users' stores through the per-thread cache): the caller
 * must not use st afterwards.  A summary of the scheduling done goes into
 * log (log_size bytes; left alone when nothing was scheduled).
 */
int caldav_sched_put(const caldav_conf_t *conf, const char *user,
                     const char *owner, const caldav_coll_t *coll,
                     caldav_store_t *st, const char *name, const char *data,
                     size_t len, const caldav_obj_index_t *ix,
                     const char *if_match, int if_none_match_star, char *etag_r,
                     int *created_r, char *conflict_name_r, char *log,
                     size_t log_size, mtr_err_t *err);

/* Delete as caldav_store_obj_delete(), then schedule (CANCEL, or a REPLY
 * DECLINED from an attendee).  Same rules for st and log. */
int caldav_sched_delete(const caldav_conf_t *conf, const char *user,
                        const char *owner, const caldav_coll_t *coll,
                        caldav_store_t *st, const char *name,
                        const char *if_match, char *log, size_t log_size,
                        mtr_err_t *err);

/*
 * POST to user's outbox (the caller checked the path names it): a
 * VFREEBUSY METHOD:REQUEST whose ORGANIZER is user.  Fills resp: 200 with
 * a C:schedule-response (one C:response per ATTENDEE: request-status 2.0
 * and a VFREEBUSY METHOD:REPLY with the busy time of an account of the
 * user's domain, 3.7 for anybody else), or 4xx with a DAV:error body.
 */
void caldav_sched_post(const caldav_conf_t *conf, const char *user,
                       const char *content_type, const char *body,
                       size_t body_len, caldav_response_t *resp);

/*
 * Provided by caldav_handler.c: the store of owner from this thread's
 * cache, opened and provisioned on first use; NULL with err set.  Valid
 * until the next call (the cache may close it to open another).
 */
caldav_store_t *caldav_store_for(const caldav_conf_t *conf, const char *owner,
                                 mtr_err_t *err);

#endif /* CALDAV_SCHED_H */
