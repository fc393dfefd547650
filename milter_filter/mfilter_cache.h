/*
 * mfilter_cache.h -- recipient settings of mortar-milter, cached for a TTL.
 *
 * Core (no libmilter, no LDAP, no locking, no logging): what the directory
 * says about one recipient -- resolved settings plus the sender block and
 * allow lists of its user and domain entries -- packed into a fixed-size
 * mfilter_rcpt_info_t, and a bounded table of them keyed by address.
 *
 * Why: every RCPT needs these settings, and without a cache each one was
 * an LDAP search (plus, with libmilter's thread per connection, a fresh
 * LDAP connection and bind).  Settings change rarely; a change made in the
 * directory takes effect within the TTL (directory_cache_ttl, 60 s by
 * default; 0 turns the cache off).
 *
 * The table has a fixed number of slots, set at creation, in sets of
 * MFILTER_CACHE_WAYS; a new entry replaces an expired one of its set, else
 * the oldest.  Memory is bounded: entries * sizeof(slot) (about 1.4 KB a
 * slot), allocated once.  Lists longer than MFILTER_RCPT_LISTS_MAX bytes
 * do not fit: such a recipient is simply not cached (every RCPT to it is
 * looked up).  Time is passed in (seconds of a monotonic clock).
 *
 * Not thread-safe: the glue holds one mutex around get and put (they only
 * copy a slot).  Covered by tests/unit/test_mfilter_cache.c.
 */
#ifndef MFILTER_CACHE_H
#define MFILTER_CACHE_H
#include <stddef.h>
#include <stdint.h>

#include "mfilter_policy.h"
#include "mtr_core.h"

#define MFILTER_RCPT_LISTS_MAX    1024 /* bytes of list values per recipient */
#define MFILTER_CACHE_WAYS        4    /* slots per set */
#define MFILTER_CACHE_TTL_MAX     3600 /* seconds */
#define MFILTER_CACHE_ENTRIES_MAX (1024 * 1024)

/* What the directory says about one recipient, whatever the sender. */
typedef struct {
    mfilter_settings_t settings; /* resolved: user over domain over config */
    size_t             nblock;   /* mortarSenderBlock values (user + domain) */
    size_t             nallow;   /* mortarSenderAllow values (user + domain) */
    size_t             used;     /* bytes used in lists */
    /* The block values, then the allow values, each NUL-terminated. */
    char lists[MFILTER_RCPT_LISTS_MAX];
} mfilter_rcpt_info_t;

/* Empty info with settings s (copied). */
void mfilter_rcpt_info_init(mfilter_rcpt_info_t      *info,
                            const mfilter_settings_t *s);

/*
 * Append one list value (len bytes, not NUL-terminated) to the block list
 * (block != 0) or the allow list.  All block values must be added before
 * the first allow value (MTR_ERROR otherwise).  MTR_ERROR when the value
 * holds a NUL byte or does not fit: the info is then incomplete and must
 * not be cached.
 */
int mfilter_rcpt_info_add(mfilter_rcpt_info_t *info, int block,
                          const char *value, size_t len);

/*
 * True when sender (len bytes, envelope address without <>) matches the
 * block list (block != 0) or the allow list, as mfilter_list_match.
 */
int mfilter_rcpt_info_match(const mfilter_rcpt_info_t *info, int block,
                            const char *sender, size_t len);

typedef struct mfilter_cache_s mfilter_cache_t;

/*
 * A table of entries slots (rounded up to a multiple of
 * MFILTER_CACHE_WAYS, at most MFILTER_CACHE_ENTRIES_MAX) keeping each
 * entry ttl seconds (1..MFILTER_CACHE_TTL_MAX).  MTR_OK, or MTR_ERROR with
 * err (bad size or TTL, out of memory).
 */
int  mfilter_cache_create(mfilter_cache_t **cp, size_t entries, uint64_t ttl,
                          mtr_err_t *err);
void mfilter_cache_destroy(mfilter_cache_t **cp);

/*
 * Look up key (an address, len bytes; compared without regard to ASCII
 * case) at time now.  MTR_OK with a copy in *info_r, or MTR_DECLINED when
 * absent, expired, or key is longer than MFILTER_ADDR_MAX.
 */
int mfilter_cache_get(mfilter_cache_t *c, const char *key, size_t len,
                      uint64_t now, mfilter_rcpt_info_t *info_r);

/* Store (or refresh) key at time now; a key too long is not stored. */
void mfilter_cache_put(mfilter_cache_t *c, const char *key, size_t len,
                       uint64_t now, const mfilter_rcpt_info_t *info);
#endif /* MFILTER_CACHE_H */
