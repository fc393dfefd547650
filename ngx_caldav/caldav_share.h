/*
 * caldav_share.h -- sharing of calendars and address books between the
 * users of one domain (draft-pot-webdav-resource-sharing, the protocol
 * sabre/dav 4 implements), for the request core in caldav_handler.c.
 *
 * The model:
 *
 *   - the owner shares a collection with a POST of a D:share-resource body
 *     (Content-Type application/davsharing+xml, or application/xml) on the
 *     collection's own URL; each D:sharee names a user by
 *     "mailto:ADDRESS" or by a principal URL, with D:read, D:read-write or
 *     D:no-access (which removes the share).  Shares take effect at once:
 *     there is no invitation to accept;
 *   - the owner's database is the authority (caldav_store_share_set): every
 *     request on the owner's paths is checked against it, so a removed
 *     share is refused from the next request on;
 *   - the sharee's database keeps a copy (caldav_store_shared_with_me_set)
 *     only to list the shared collections in the sharee's home, under
 *     their real URLs in the owner's home; every listed entry is checked
 *     against the owner's database first, and entries the owner no longer
 *     has (collection deleted, share removed) are dropped;
 *   - a read sharee reads and runs reports; a read-write sharee also
 *     stores and deletes objects; only the owner changes the collection's
 *     properties, deletes it or shares it.
 *
 * Stores come from the handler's per-thread cache through a
 * caldav_share_store_fn.  The cache closes the least recently used handle
 * when it needs a slot, so a handle is used only until the next call of
 * the function: these functions fetch a store again after asking for
 * another one, and callers must do the same with any handle they held.
 *
 * Core (no host header).  Covered by tests/unit/test_caldav_handler.c
 * (end to end through caldav_handle) and tests/integration/
 * test_dav_sharing.py.
 */
#ifndef CALDAV_SHARE_H
#define CALDAV_SHARE_H

#include "caldav.h"
#include "caldav_buf.h"
#include "caldav_store.h"
#include "caldav_types.h"
#include "mtr_core.h"

/* Shared collections listed in one home (the rest are left out). */
#define CALDAV_SHARE_MAX_LISTED 1000

/* The store of owner (opened and provisioned on first use), or NULL with
 * err set.  Valid until the next call. */
typedef caldav_store_t *(*caldav_share_store_fn)(const caldav_conf_t *conf,
                                                 const char          *owner,
                                                 mtr_err_t           *err);

/*
 * Is this POST a share-resource request?  Content-Type
 * application/davsharing+xml, or application/xml / text/xml with a body
 * naming share-resource (other POSTs, such as scheduling, are not ours).
 */
int caldav_share_is_post(const caldav_request_t *req);

/*
 * Apply the share-resource body of req to coll, a collection of owner.
 * The requester must be the owner and coll a calendar or an address book.
 * Every sharee is checked before anything changes: an active account
 * (conf->user_exists) of the owner's domain, not the owner.  The address
 * is compared and stored in lower case.
 *
 * MTR_OK: done (*status_r 200; err holds a line for the log saying what
 * changed).  MTR_ERROR: *status_r is 400 / 415 (body),
 * 403 (not the owner, not shareable, a refused sharee) or 500 (storage),
 * *precond_r a precondition for the error body ("D:need-privileges") or
 * NULL, err the message for the client and the log.
 */
int caldav_share_post(const caldav_conf_t *conf, caldav_share_store_fn store,
                      const caldav_request_t *req, const char *owner,
                      const caldav_coll_t *coll, int *status_r,
                      const char **precond_r, mtr_err_t *err);

/* A collection being described, for caldav_share_prop(). */
typedef struct {
    const caldav_conf_t *conf;
    caldav_store_t      *st;    /* the owner's store */
    const char          *owner; /* the owner's address */
    const char          *user;  /* the requester */
    const caldav_coll_t *coll;
    int                  access; /* the requester's when not the owner:
                                    1 read, 2 read-write */
    const char *href;            /* decoded path of the collection */
} caldav_share_res_t;

/*
 * Append the sharing property name (DAV: namespace) of r to b:
 *
 *   D:share-access        owner: D:shared-owner or D:not-shared;
 *                         sharee: D:read or D:read-write
 *   D:invite              the owner (D:shared-owner) then every sharee with
 *                         its access, all D:invite-accepted
 *   D:share-resource-uri  the collection's own URL
 *
 * Returns 1 when appended, 0 when name is none of these, r is not a
 * calendar or an address book, or the store failed (err set).
 */
int caldav_share_prop(const caldav_share_res_t *r, const char *name,
                      caldav_buf_t *b, mtr_err_t *err);

/* Called for each collection shared with the user; return non-zero to
 * stop.  st is the owner's store (valid for the call), access 1 or 2 as
 * the owner's database says. */
typedef int (*caldav_share_each_fn)(void *arg, const char *owner,
                                    caldav_store_t      *st,
                                    const caldav_coll_t *coll, int access);

/*
 * The calendars (card = 0) or address books (card = 1) shared with user,
 * ordered by owner and name, each checked against its owner's database;
 * stale entries are removed from user's list.  Owners that are no longer
 * accounts of the user's domain are skipped (their entries are kept: an
 * account may come back).  MTR_ERROR only when user's own list cannot be
 * read; any store handle the caller held must be fetched again.
 */
int caldav_share_walk(const caldav_conf_t *conf, caldav_share_store_fn store,
                      const char *user, int card, caldav_share_each_fn each,
                      void *arg, mtr_err_t *err);

#endif /* CALDAV_SHARE_H */
