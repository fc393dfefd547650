/*
 * caldav_vcard.h -- vCard 3.0 / 4.0 work of the CardDAV core.
 *
 * vCard shares iCalendar's content-line syntax (RFC 6350 3.3, RFC 5545
 * 3.1).  libical 3.0's parser cannot carry it (it turns FN, N, EMAIL, TEL
 * and grouped names into X-LIC-ERROR and loses their values), so
 * caldav_vcard.c has a small content-line parser of its own (unfolding,
 * groups, quoted parameters, escaped values).  Validation follows RFC
 * 6352 5.1: one BEGIN:VCARD ... END:VCARD, VERSION 3.0 or 4.0, FN
 * present, exactly one UID.  caldav_vcard_build() writes vCard 3.0.
 *
 * Covered by tests/unit/test_caldav_vcard.c.
 */
#ifndef CALDAV_VCARD_H
#define CALDAV_VCARD_H

#include "caldav_buf.h"
#include "caldav_types.h"
#include "mtr_core.h"

#define CALDAV_VCARD_MAX_SIZE (1u * 1024 * 1024)

typedef struct {
    char uid[512];
    int  version; /* 3 or 4 */
} caldav_vcard_index_t;

/* On failure: MTR_ERROR, *precond_r "CR:valid-address-data" (or
 * "CR:supported-address-data" for an unsupported VERSION), err why. */
int caldav_vcard_check(const char *data, size_t len, caldav_vcard_index_t *ix,
                       const char **precond_r, mtr_err_t *err);

/* Does the card match the addressbook-query filter?  1, 0 or MTR_ERROR
 * (unparseable stored data). */
int caldav_vcard_match(const char *data, size_t len,
                       const caldav_card_filter_t *filter, mtr_err_t *err);

/* A card built from directory fields, for the global address book: all
 * values escaped per RFC 6350 3.4, lines folded at 75 octets.  Any field
 * may be NULL; emails and phones are NULL-terminated arrays (may be NULL). */
typedef struct {
    const char        *uid; /* required */
    const char        *fn;  /* required */
    const char        *family, *given;
    const char        *org, *title;
    const char *const *emails;
    const char *const *phones;  /* TYPE=work,voice */
    const char *const *mobiles; /* TYPE=cell */
    const char        *rev;     /* "20261128T120000Z" or NULL */
} caldav_vcard_fields_t;

int caldav_vcard_build(const caldav_vcard_fields_t *f, caldav_buf_t *out);

#endif /* CALDAV_VCARD_H */
