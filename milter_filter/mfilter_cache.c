/*
 * mfilter_cache.c -- recipient settings of mortar-milter, cached for a TTL.
 *
 * Core: no libmilter, no LDAP, no locking, no logging.  See
 * mfilter_cache.h; covered by tests/unit/test_mfilter_cache.c.
 */
#include <stdlib.h>
#include <string.h>

#include "mfilter_cache.h"

typedef struct {
    uint64_t            stored; /* time stored; 0 = empty slot */
    size_t              klen;
    char                key[MFILTER_ADDR_MAX]; /* lowercased, no NUL */
    mfilter_rcpt_info_t info;
} slot_t;

struct mfilter_cache_s {
    uint64_t ttl;
    size_t   nsets;
    slot_t  *slots; /* nsets * MFILTER_CACHE_WAYS */
};

void
mfilter_rcpt_info_init(mfilter_rcpt_info_t *info, const mfilter_settings_t *s)
{
    info->settings = *s;
    info->nblock = info->nallow = info->used = 0;
}

int
mfilter_rcpt_info_add(mfilter_rcpt_info_t *info, int block, const char *value,
                      size_t len)
{
    if ((block && info->nallow > 0) || memchr(value, '\0', len) != NULL
        || len >= sizeof(info->lists) - info->used)
    {
        return MTR_ERROR;
    }
    memcpy(info->lists + info->used, value, len);
    info->lists[info->used + len] = '\0';
    info->used += len + 1;
    if (block) {
        info->nblock++;
    } else {
        info->nallow++;
    }
    return MTR_OK;
}

int
mfilter_rcpt_info_match(const mfilter_rcpt_info_t *info, int block,
                        const char *sender, size_t len)
{
    const char *p = info->lists;
    size_t      i, skip = block ? 0 : info->nblock;
    size_t      n = block ? info->nblock : info->nallow;

    for (i = 0; i < skip; i++) {
        p += strlen(p) + 1;
    }
    for (i = 0; i < n; i++) {
        if (mfilter_list_match(sender, len, &p, 1)) {
            return 1;
        }
        p += strlen(p) + 1;
    }
    return 0;
}

int
mfilter_cache_create(mfilter_cache_t **cp, size_t entries, uint64_t ttl,
                     mtr_err_t *err)
{
    mfilter_cache_t *c;

    if (entries == 0 || entries > MFILTER_CACHE_ENTRIES_MAX) {
        return mtr_err_set(err, "cache size must be 1..%d entries",
                           MFILTER_CACHE_ENTRIES_MAX);
    }
    if (ttl == 0 || ttl > MFILTER_CACHE_TTL_MAX) {
        return mtr_err_set(err, "cache TTL must be 1..%d seconds",
                           MFILTER_CACHE_TTL_MAX);
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return mtr_err_set(err, "out of memory");
    }
    c->ttl = ttl;
    c->nsets = (entries + MFILTER_CACHE_WAYS - 1) / MFILTER_CACHE_WAYS;
    /* calloc: pages are only touched (resident) as slots fill. */
    c->slots = calloc(c->nsets * MFILTER_CACHE_WAYS, sizeof(slot_t));
    if (c->slots == NULL) {
        free(c);
        return mtr_err_set(err, "out of memory");
    }
    *cp = c;
    return MTR_OK;
}

void
mfilter_cache_destroy(mfilter_cache_t **cp)
{
    mfilter_cache_t *c = *cp;

    if (c == NULL) {
        return;
    }
    free(c->slots);
    free(c);
    *cp = NULL;
}

static int
lower(int ch)
{
    return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch;
}

/* FNV-1a over the lowercased key: the set of the key. */
static slot_t *
set_of(const mfilter_cache_t *c, const char *key, size_t len)
{
    uint64_t h = 14695981039346656037ULL;
    size_t   i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char) lower((unsigned char) key[i]);
        h *= 1099511628211ULL;
    }
    return &c->slots[(h % c->nsets) * MFILTER_CACHE_WAYS];
}

static int
same_key(const slot_t *s, const char *key, size_t len)
{
    size_t i;

    if (s->stored == 0 || s->klen != len) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (s->key[i] != lower((unsigned char) key[i])) {
            return 0;
        }
    }
    return 1;
}

/* Expired, or stored "in the future" (a clock we cannot trust). */
static int
expired(const mfilter_cache_t *c, const slot_t *s, uint64_t now)
{
    return s->stored == 0 || now < s->stored || now - s->stored >= c->ttl;
}

int
mfilter_cache_get(mfilter_cache_t *c, const char *key, size_t len, uint64_t now,
                  mfilter_rcpt_info_t *info_r)
{
    slot_t *set;
    size_t  i;

    if (len > MFILTER_ADDR_MAX || now == 0) {
        return MTR_DECLINED;
    }
    set = set_of(c, key, len);
    for (i = 0; i < MFILTER_CACHE_WAYS; i++) {
        if (same_key(&set[i], key, len)) {
            if (expired(c, &set[i], now)) {
                set[i].stored = 0;
                return MTR_DECLINED;
            }
            *info_r = set[i].info;
            return MTR_OK;
        }
    }
    return MTR_DECLINED;
}

void
mfilter_cache_put(mfilter_cache_t *c, const char *key, size_t len, uint64_t now,
                  const mfilter_rcpt_info_t *info)
{
    slot_t *set, *victim = NULL;
    size_t  i;

    if (len > MFILTER_ADDR_MAX || now == 0) {
        return;
    }
    set = set_of(c, key, len);
    for (i = 0; i < MFILTER_CACHE_WAYS; i++) {
        if (same_key(&set[i], key, len)) {
            victim = &set[i];
            break;
        }
    }
    for (i = 0; victim == NULL && i < MFILTER_CACHE_WAYS; i++) {
        if (expired(c, &set[i], now)) {
            victim = &set[i];
        }
    }
    if (victim == NULL) {
        /* A full set: the oldest entry goes. */
        victim = &set[0];
        for (i = 1; i < MFILTER_CACHE_WAYS; i++) {
            if (set[i].stored < victim->stored) {
                victim = &set[i];
            }
        }
    }
    victim->stored = now;
    victim->klen = len;
    for (i = 0; i < len; i++) {
        victim->key[i] = (char) lower((unsigned char) key[i]);
    }
    victim->info = *info;
}
