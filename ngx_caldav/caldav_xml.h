/*
 * caldav_xml.h -- parse WebDAV/CalDAV/CardDAV request bodies with libxml2.
 *
 * One call turns a request body into a caldav_req_body_t (caldav_types.h).
 * The parser is hostile-input safe: no network access, no DTD loading, no
 * entity substitution; a document with a DOCTYPE, an internal subset or an
 * entity declaration is refused (billion laughs, XXE); depth and size are
 * capped.  The method tells which root elements are acceptable:
 *
 *   PROPFIND     D:propfind (empty body = allprop)
 *   PROPPATCH    D:propertyupdate
 *   MKCALENDAR   C:mkcalendar (empty body allowed)
 *   MKCOL        D:mkcol (extended MKCOL, RFC 5689; empty body allowed)
 *   REPORT       C:calendar-query, C:calendar-multiget, C:free-busy-query,
 *                CR:addressbook-query, CR:addressbook-multiget,
 *                D:sync-collection, D:expand-property,
 *                D:principal-property-search,
 *                D:principal-search-property-set, D:principal-match,
 *                D:acl-principal-prop-set
 *   POST         D:share-resource (draft-pot-webdav-resource-sharing:
 *                D:sharee with one D:href and one D:share-access of
 *                D:read, D:read-write or D:no-access; D:prop and
 *                D:comment are ignored)
 *
 * Errors: MTR_ERROR with *status_r = 400 (malformed XML, bad values such as
 * a time-range without start and end, an unknown collation: then
 * *precond_r names the precondition element, e.g. "C:supported-collation"
 * or "C:valid-filter", with its namespace prefix C/CR/D), 415 for a body
 * that is not XML, 403 with precond "D:supported-report" for an unknown
 * REPORT root (status 403 as RFC 3253 3.6 asks), 413 for a body past
 * CALDAV_XML_MAX_BODY.  err says what is wrong, for the log and for the
 * error body.
 *
 * Covered by tests/unit/test_caldav_xml.c.
 */
#ifndef CALDAV_XML_H
#define CALDAV_XML_H

#include "caldav_types.h"
#include "mtr_core.h"

#define CALDAV_XML_MAX_BODY    (4u * 1024 * 1024) /* request body */
#define CALDAV_XML_MAX_DEPTH   64                 /* element nesting */
#define CALDAV_XML_MAX_HREFS   10000              /* multiget hrefs */
#define CALDAV_XML_MAX_PROPS   256                /* props in one request */
#define CALDAV_XML_MAX_SHAREES 100                /* sharees in one POST */

/*
 * Parse body (len bytes, may be 0) sent with method (upper-case HTTP
 * method name).  On MTR_OK *body_r is a new caldav_req_body_t (free it with
 * caldav_req_body_free).  For PROPFIND with len == 0 the result is allprop;
 * for MKCALENDAR / MKCOL with len == 0 kind is CALDAV_BODY_MKCOL with no
 * updates.  Time values ("20060104T000000Z") are parsed as UTC, only the
 * UTC form with 'Z' is valid (RFC 4791 9.9).
 */
int caldav_xml_parse(const char *method, const char *body, size_t len,
                     caldav_req_body_t **body_r, int *status_r,
                     const char **precond_r, mtr_err_t *err);

/* Parse "YYYYMMDDTHHMMSSZ" (exactly that) into UTC seconds. */
int caldav_xml_parse_utc(const char *s, int64_t *t_r);

#endif /* CALDAV_XML_H */
