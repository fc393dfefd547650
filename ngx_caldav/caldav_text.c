/*
 * caldav_text.c -- UTF-8 and the text-match collations of CalDAV and
 * CardDAV (RFC 4790: i;octet, i;ascii-casemap, i;unicode-casemap), one
 * copy for calendar-query (caldav_ical.c) and addressbook-query
 * (caldav_vcard.c).  Covered through tests/unit/test_caldav_ical.c and
 * test_caldav_vcard.c.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem() when built by nginx's configure */
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "caldav_text.h"

/* ---------------------------------------------------------------- */
/* UTF-8                                                              */

/* Length of the valid UTF-8 sequence at p (n bytes left), 0 if none. */
size_t
caldav_utf8_seq(const unsigned char *p, size_t n, uint32_t *cp_r)
{
    unsigned c = p[0];
    size_t   len, i;
    uint32_t cp;

    if (c < 0x80) {
        *cp_r = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len) {
        return 0;
    }
    for (i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)))
        || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
    {
        return 0;
    }
    *cp_r = cp;
    return len;
}

/* Simple case folding of one code point (see caldav_text.h). */
static uint32_t
fold_cp(uint32_t cp)
{
    if (cp < 0x80) {
        return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
    }
    if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) {
        return cp + 32;
    }
    if (cp >= 0x100 && cp <= 0x17F) {
        if (cp == 0x130) {
            return 'i';
        }
        if (cp == 0x178) {
            return 0xFF;
        }
        if (cp == 0x17F) {
            return 's';
        }
        if ((cp <= 0x137 || (cp >= 0x14A && cp <= 0x177)) && cp % 2 == 0) {
            return cp + 1;
        }
        if (((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E))
            && cp % 2 == 1)
        {
            return cp + 1;
        }
        return cp;
    }
    if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2) {
        return cp + 32;
    }
    if (cp == 0x3C2) {
        return 0x3C3;
    }
    if (cp >= 0x410 && cp <= 0x42F) {
        return cp + 32;
    }
    if (cp >= 0x400 && cp <= 0x40F) {
        return cp + 80;
    }
    return cp;
}

static size_t
put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char) cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char) (0xC0 | (cp >> 6));
        o[1] = (char) (0x80 | (cp & 0x3F));
        return 2;
    }
    o[0] = (char) (0xE0 | (cp >> 12));
    o[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char) (0x80 | (cp & 0x3F));
    return 3;
}

/* A folded copy of s (malloc'ed, never longer than s). */
char *
caldav_text_fold(const char *s, size_t len, caldav_collation_e coll,
                 size_t *len_r)
{
    const unsigned char *p = (const unsigned char *) s;
    char                *o = malloc(len + 1);
    size_t               i = 0, n = 0, k;
    uint32_t             cp;

    if (o == NULL) {
        return NULL;
    }
    while (i < len) {
        if (coll == CALDAV_COLLATION_OCTET) {
            o[n++] = (char) p[i++];
            continue;
        }
        if (p[i] < 0x80 || coll == CALDAV_COLLATION_ASCII_CASEMAP) {
            o[n++] = (char) (p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
            i++;
            continue;
        }
        k = caldav_utf8_seq(p + i, len - i, &cp);
        if (k == 2 || k == 3) {
            if (cp == 0xDF) {
                o[n++] = 's';
                o[n++] = 's';
            } else {
                n += put_utf8(o + n, fold_cp(cp));
            }
            i += k;
            continue;
        }
        k = k == 0 ? 1 : k;
        memcpy(o + n, p + i, k);
        n += k;
        i += k;
    }
    o[n] = '\0';
    *len_r = n;
    return o;
}

/* Does s match tm, before negation?  -1 when out of memory. */
int
caldav_text_match(const caldav_text_match_t *tm, const char *s, size_t len)
{
    char  *h, *nd;
    size_t hl, nl;
    int    m = -1;

    h = caldav_text_fold(s, len, tm->collation, &hl);
    nd = caldav_text_fold(tm->text, strlen(tm->text), tm->collation, &nl);
    if (h != NULL && nd != NULL) {
        switch (tm->match) {
        case CALDAV_MATCH_EQUALS:
            m = hl == nl && memcmp(h, nd, nl) == 0;
            break;
        case CALDAV_MATCH_STARTS_WITH:
            m = hl >= nl && memcmp(h, nd, nl) == 0;
            break;
        case CALDAV_MATCH_ENDS_WITH:
            m = hl >= nl && memcmp(h + hl - nl, nd, nl) == 0;
            break;
        default:
            m = nl == 0 || (hl >= nl && memmem(h, hl, nd, nl) != NULL);
        }
    }
    free(h);
    free(nd);
    return m;
}
