/*
 * caldav_text.h -- UTF-8 sequences and text-match collations shared by the
 * calendar and address book filters.
 *
 * Collations (RFC 4790): i;octet compares bytes; i;ascii-casemap folds
 * A-Z; i;unicode-casemap (the CardDAV default) uses simple case folding
 * for ASCII, Latin-1 Supplement, Latin Extended-A, basic Greek and
 * Cyrillic, plus sharp s to "ss".  It does not normalize (NFKD), so a
 * decomposed "e" + U+0301 does not equal a precomposed U+00E9, and other
 * scripts compare exactly.
 */
#ifndef CALDAV_TEXT_H
#define CALDAV_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "caldav_types.h"

/* Length of the valid UTF-8 sequence at p (n bytes left), 0 if none; the
 * code point in *cp_r. */
size_t caldav_utf8_seq(const unsigned char *p, size_t n, uint32_t *cp_r);

/* A folded copy of s for the collation (malloc'ed, never longer than s,
 * NUL-terminated), its length in *len_r; NULL when out of memory. */
char *caldav_text_fold(const char *s, size_t len, caldav_collation_e coll,
                       size_t *len_r);

/* Does s match tm, before negation?  1, 0, or -1 when out of memory. */
int caldav_text_match(const caldav_text_match_t *tm, const char *s, size_t len);

#endif /* CALDAV_TEXT_H */
