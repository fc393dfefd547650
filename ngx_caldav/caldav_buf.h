/*
 * caldav_buf.h -- a growable byte buffer for the CalDAV/CardDAV core.
 *
 * The core runs in nginx's thread pool, away from nginx's pools, so it
 * allocates with malloc.  A buffer grows by doubling up to CALDAV_BUF_MAX;
 * past that every append fails (and the buffer remembers it: `failed`), so a
 * response can never silently lose its end.  Covered by
 * tests/unit/test_caldav_buf.c.
 */
#ifndef CALDAV_BUF_H
#define CALDAV_BUF_H

#include <stddef.h>

#include "mtr_core.h"

/* Largest buffer: a multistatus for 100k resources fits well below this. */
#define CALDAV_BUF_MAX (512u * 1024 * 1024)

typedef struct {
    char  *data; /* NUL-terminated whenever len > 0 or after any append */
    size_t len;
    size_t cap;
    int    failed; /* an append ran out of memory or past CALDAV_BUF_MAX */
} caldav_buf_t;

void caldav_buf_init(caldav_buf_t *b);
void caldav_buf_free(caldav_buf_t *b);
/* Hand the data over to the caller (free() it); b is empty afterwards. */
char *caldav_buf_steal(caldav_buf_t *b, size_t *len_r);

int caldav_buf_add(caldav_buf_t *b, const char *p, size_t len);
int caldav_buf_adds(caldav_buf_t *b, const char *s);
int caldav_buf_printf(caldav_buf_t *b, const char *fmt, ...) MTR_PRINTF(2, 3);
/* Append with XML escaping of & < > " ' and of control bytes other than
 * tab/CR/LF (dropped: XML 1.0 cannot carry them). */
int caldav_buf_add_xml(caldav_buf_t *b, const char *p, size_t len);
/* Append a URL path with every byte outside RFC 3986 unreserved / sub-delims
 * and ':' '@' '/' percent-encoded, then XML-escaped (for <D:href>). */
int caldav_buf_add_href(caldav_buf_t *b, const char *p, size_t len);

/*
 * The path an href names (the reverse of caldav_buf_add_href): an absolute
 * URL loses its scheme and authority, %XX escapes are decoded.  An encoded
 * NUL, a bad escape or a path of size bytes or more is MTR_ERROR; an
 * encoded '/' becomes 0x01, never a separator (callers refuse control
 * bytes in names).
 */
int caldav_href_path(const char *href, char *out, size_t size);

#endif /* CALDAV_BUF_H */
