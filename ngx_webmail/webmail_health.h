/*
 * webmail_health.h -- the webmail module's health endpoint, as pure logic.
 *
 * Core of the `webmail_health` nginx directive: it decides status, headers
 * and body from the request method alone, so load balancers and `make run`
 * can probe the module without LDAP or Redis.  No nginx header is included;
 * the glue is ngx_http_webmail_module.c.  Covered by
 * tests/unit/test_webmail_health.c.
 */
#ifndef WEBMAIL_HEALTH_H
#define WEBMAIL_HEALTH_H

#include <stddef.h>

#include "mtr_core.h"

/*
 * Bytes of the request method echoed in a 405 detail; a longer method is
 * cut and ends with "...".  nginx accepts methods of any length up to its
 * header buffer, so the echo needs its own cap.
 */
#define WEBMAIL_HEALTH_METHOD_SHOW 32

/*
 * Largest body webmail_health_respond() can write: the 405 problem JSON
 * with a cut method in which every byte needs a JSON escape.  A buffer of
 * this size never fails.
 */
#define WEBMAIL_HEALTH_BODY_MAX 256

/*
 * Everything but the body.  content_type and allow point to static strings;
 * allow is empty (len 0) unless status is 405.
 */
typedef struct {
    int       status;
    mtr_str_t content_type;
    size_t    body_len;
    mtr_str_t allow;
} webmail_health_t;

/*
 * Hidden: nginx loads modules with RTLD_GLOBAL, so a core symbol must never
 * be exported from the module's .so (see CONVENTIONS.md).
 */
#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

/*
 * Build the health response for a request whose method is `method` (a slice
 * of wire bytes, not NUL-terminated, compared case-sensitively as RFC 9110
 * says).
 *
 * GET and HEAD: status 200, application/json,
 *   {"status":"ok","service":"mortar-webmail","version":"<MTR_VERSION>"}
 * Anything else: status 405, application/problem+json (RFC 9457) whose
 *   detail names the method with unprintable bytes masked (mtr_sanitize),
 *   at most WEBMAIL_HEALTH_METHOD_SHOW of them, JSON-escaped; allow is
 *   "GET, HEAD".
 *
 * The body goes to buf (size bytes, no NUL written).  HEAD gets the same
 * body as GET: the caller sends only the headers, with the GET length.
 *
 * Returns MTR_OK and fills *res_r, or MTR_ERROR with a message in err (may
 * be NULL) when buf or res_r is NULL or size is smaller than the body; the
 * body is never truncated, and on error *res_r is untouched and buf holds
 * nothing meaningful.
 */
int webmail_health_respond(mtr_str_t method, char *buf, size_t size,
                           webmail_health_t *res_r, mtr_err_t *err);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif /* WEBMAIL_HEALTH_H */
