/*
 * caldav_store.h -- the storage interface of the CalDAV/CardDAV core, and
 * its embedded default: one SQLite database (WAL) per user, as Cyrus keeps
 * one per mailbox owner.
 *
 * A database holds the user's collections (calendars, address books, the
 * scheduling inbox and outbox), their objects as the raw bytes received
 * (a GET serves them unchanged), index columns for queries (component type,
 * UID, first and last instance in UTC, recurrence flag), dead properties,
 * shares, and one change log per collection:
 *
 *   - every write to a collection takes the next value of a per-database
 *     counter (modseq), stored on the object (or on its tombstone) and on
 *     the collection; ctag and sync token are the collection's modseq, so
 *     they never go backwards, cost one row read whatever the size, and a
 *     collection deleted and made again gets a new id: tokens of the old one
 *     are refused, never silently reused;
 *   - deletions leave a tombstone row (data NULL) so sync-collection can
 *     report them; tombstones older than CALDAV_STORE_TOMBSTONE_DAYS are
 *     pruned and a token older than the prune point is refused (the client
 *     then starts over with an empty token, RFC 6578 3.2).
 *
 * Writes are single transactions (BEGIN IMMEDIATE): a failed or interrupted
 * PUT leaves the previous version intact.  Many threads may open the same
 * database (busy_timeout CALDAV_STORE_BUSY_MS); a caldav_store_t is used by
 * one thread at a time.
 *
 * Another backend would implement this header.  Covered by
 * tests/unit/test_caldav_store.c.
 */
#ifndef CALDAV_STORE_H
#define CALDAV_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "mtr_core.h"

#define CALDAV_STORE_BUSY_MS        5000
#define CALDAV_STORE_TOMBSTONE_DAYS 90
#define CALDAV_STORE_MAX_NAME       255 /* bytes of a collection/object name */

/* Status codes beyond MTR_*: */
#define CALDAV_STORE_NOT_FOUND    -10 /* no such collection / object */
#define CALDAV_STORE_EXISTS       -11 /* create of an existing name */
#define CALDAV_STORE_PRECOND      -12 /* If-Match / If-None-Match failed */
#define CALDAV_STORE_UID_CONFLICT -13 /* another object has that UID */
#define CALDAV_STORE_BAD_TOKEN    -14 /* sync token unknown or too old */

typedef enum {
    CALDAV_COLL_CALENDAR = 1,
    CALDAV_COLL_ADDRESSBOOK = 2,
    CALDAV_COLL_INBOX = 3,
    CALDAV_COLL_OUTBOX = 4
} caldav_coll_kind_e;

typedef struct caldav_store_s caldav_store_t;

/* A collection; strings are owned by the struct (caldav_coll_clear). */
typedef struct {
    int64_t            id;
    char               name[CALDAV_STORE_MAX_NAME + 1];
    caldav_coll_kind_e kind;
    char              *displayname; /* may be NULL */
    char              *description;
    char              *color;    /* "#RRGGBBAA" as clients send it */
    char              *order;    /* apple calendar-order */
    char              *comp_set; /* "VEVENT,VTODO"; NULL = all */
    char              *timezone; /* VCALENDAR text or NULL */
    uint64_t           modseq;   /* ctag / sync token */
    int64_t            created;  /* UTC seconds */
} caldav_coll_t;

void caldav_coll_clear(caldav_coll_t *c);

/* Index columns of one object (from caldav_ical_check / caldav_vcard_check). */
typedef struct {
    const char *uid;
    const char *comp;        /* "VEVENT" ..., "VCARD" */
    int64_t     first_start; /* CALDAV_TIME_MIN for cards */
    int64_t     last_end;    /* CALDAV_TIME_MAX when unbounded */
    int         recurring;
    /* The instance list of a recurring event (caldav_ical_instances):
     * ninstances start/end pairs sorted by start, complete for instances
     * starting before instances_until.  NULL: none kept. */
    const int64_t *instances;
    size_t         ninstances;
    int64_t        instances_until;
} caldav_obj_index_t;

/* One object as read back.  data/len point into store-owned memory valid
 * until the next call on the same store (in callbacks: for the call). */
typedef struct {
    const char *name;
    const char *etag; /* quoted: "\"3f2a...\"" */
    const char *uid;
    const char *comp;
    const char *data; /* NULL when not asked for, or a tombstone */
    size_t      len;
    uint64_t    modseq;
    int64_t     first_start, last_end;
    int         recurring;
    int64_t     mtime;   /* UTC seconds of the last write */
    int         deleted; /* tombstone (changes only) */
} caldav_obj_t;

/* Return non-zero from a callback to stop the walk (the call returns
 * MTR_OK).  */
typedef int (*caldav_obj_cb)(const caldav_obj_t *o, void *ctx);

/*
 * Open (creating the file and schema when missing; the directory must
 * exist).  owner is the user's address, recorded in the database.
 */
int  caldav_store_open(caldav_store_t **st_r, const char *path,
                       const char *owner, mtr_err_t *err);
void caldav_store_close(caldav_store_t **stp);

/* Collections.  get: MTR_OK or CALDAV_STORE_NOT_FOUND. */
int caldav_store_coll_get(caldav_store_t *st, const char *name,
                          caldav_coll_t *c, mtr_err_t *err);
/* All collections of one kind (0 = all kinds), ordered by name.  *v_r is a
 * malloc'd array of *n_r entries: caldav_coll_list_free() it. */
int  caldav_store_coll_list(caldav_store_t *st, caldav_coll_kind_e kind,
                            caldav_coll_t **v_r, size_t *n_r, mtr_err_t *err);
void caldav_coll_list_free(caldav_coll_t *v, size_t n);
/* Create from c (id, modseq, created are filled in on success).
 * CALDAV_STORE_EXISTS when the name is taken. */
int caldav_store_coll_create(caldav_store_t *st, caldav_coll_t *c,
                             mtr_err_t *err);
/* Update the live properties from c (NULL fields are cleared); bumps
 * nothing: property changes do not change the ctag. */
int caldav_store_coll_update(caldav_store_t *st, const caldav_coll_t *c,
                             mtr_err_t *err);
/* Delete with all objects, tombstones, dead props and shares. */
int caldav_store_coll_delete(caldav_store_t *st, const char *name,
                             mtr_err_t *err);

/* Dead properties of a collection (obj_name NULL) or object.  value is the
 * element as XML text; NULL removes.  list calls cb(ns, name, xml, ctx). */
int caldav_store_prop_set(caldav_store_t *st, int64_t coll_id,
                          const char *obj_name, const char *ns,
                          const char *name, const char *xml, mtr_err_t *err);
typedef int (*caldav_prop_cb)(const char *ns, const char *name, const char *xml,
                              void *ctx);
int caldav_store_prop_list(caldav_store_t *st, int64_t coll_id,
                           const char *obj_name, caldav_prop_cb cb, void *ctx,
                           mtr_err_t *err);

/*
 * Store an object.  if_match: a quoted ETag the current version must have
 * (NULL = no condition; "*" = must exist); if_none_match_star: must not
 * exist.  A failed condition returns CALDAV_STORE_PRECOND.  Another object
 * of the collection with the same UID: CALDAV_STORE_UID_CONFLICT and
 * conflict_name_r (CALDAV_STORE_MAX_NAME + 1 bytes, may be NULL) names it.
 * On MTR_OK etag_r (at least 67 bytes) is the new quoted ETag and
 * *created_r tells 201 from 204.  The ETag is a hash of the bytes.
 */
int caldav_store_obj_put(caldav_store_t *st, int64_t coll_id, const char *name,
                         const char *data, size_t len,
                         const caldav_obj_index_t *ix, const char *if_match,
                         int if_none_match_star, char *etag_r, int *created_r,
                         char *conflict_name_r, mtr_err_t *err);

/* Get one object (with data when with_data).  cb is called once. */
int caldav_store_obj_get(caldav_store_t *st, int64_t coll_id, const char *name,
                         int with_data, caldav_obj_cb cb, void *ctx,
                         mtr_err_t *err);

/*
 * Does the object have an instance overlapping [start, end) (RFC 4791 9.9
 * for events: a zero-length instance starting at start counts)?  Answered
 * from the instance list stored with the object, without its data:
 * MTR_OK with *hit_r 0 or 1; MTR_DECLINED when the object has no list
 * complete up to end (the caller checks the data instead);
 * CALDAV_STORE_NOT_FOUND.
 */
int caldav_store_obj_hit(caldav_store_t *st, int64_t coll_id, const char *name,
                         int64_t start, int64_t end, int *hit_r,
                         mtr_err_t *err);

/* Delete (leaving a tombstone); if_match as for put. */
int caldav_store_obj_delete(caldav_store_t *st, int64_t coll_id,
                            const char *name, const char *if_match,
                            mtr_err_t *err);

/*
 * Walk the live objects of a collection, ordered by name.  comp: only that
 * component type (NULL = all).  range: only objects whose [first_start,
 * last_end) overlaps it (NULL = all) -- an index lookup, the candidates the
 * caller then checks exactly.
 */
int caldav_store_obj_walk(caldav_store_t *st, int64_t coll_id, const char *comp,
                          int64_t range_start, int64_t range_end, int use_range,
                          int with_data, caldav_obj_cb cb, void *ctx,
                          mtr_err_t *err);

/*
 * Changes since a modseq (0 = everything live, no tombstones), in modseq
 * order, tombstones with deleted = 1.  CALDAV_STORE_BAD_TOKEN when since is
 * above the collection's modseq or below the prune point.  *now_r is the
 * collection's modseq to hand out as the next token.  limit 0 = no limit;
 * with a limit, *now_r is the modseq of the last change returned and
 * *truncated_r is set when more remain.
 */
int caldav_store_changes(caldav_store_t *st, int64_t coll_id, uint64_t since,
                         uint64_t limit, int with_data, caldav_obj_cb cb,
                         void *ctx, uint64_t *now_r, int *truncated_r,
                         mtr_err_t *err);

/* Bytes and objects stored by this user (all collections), for RFC 4331. */
int caldav_store_usage(caldav_store_t *st, uint64_t *bytes_r,
                       uint64_t *objects_r, mtr_err_t *err);

/* Shares: the owner's database records who may use which collection.
 * access: 1 read, 2 read-write, 0 removes. */
int caldav_store_share_set(caldav_store_t *st, const char *coll_name,
                           const char *sharee, int access, mtr_err_t *err);
/* Access granted to sharee on coll_name: 0 none, 1 read, 2 read-write. */
int caldav_store_share_get(caldav_store_t *st, const char *coll_name,
                           const char *sharee, int *access_r, mtr_err_t *err);
typedef int (*caldav_share_cb)(const char *coll_name, const char *sharee,
                               int access, void *ctx);
int caldav_store_share_list(caldav_store_t *st, const char *coll_name,
                            caldav_share_cb cb, void *ctx, mtr_err_t *err);
/* The sharee's side: the list of (owner, collection, access) shared with
 * this user, kept in the sharee's own database for listing its home. */
int caldav_store_shared_with_me_set(caldav_store_t *st, const char *owner,
                                    const char *coll_name, int access,
                                    mtr_err_t *err);
typedef int (*caldav_shared_cb)(const char *owner, const char *coll_name,
                                int access, void *ctx);
int caldav_store_shared_with_me_list(caldav_store_t *st, caldav_shared_cb cb,
                                     void *ctx, mtr_err_t *err);

#endif /* CALDAV_STORE_H */
