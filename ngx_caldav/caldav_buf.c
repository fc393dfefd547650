/*
 * caldav_buf.c -- the growable byte buffer of the CalDAV/CardDAV core, with
 * XML and href escaping for multistatus bodies.
 *
 * Core (no host header).  Memory comes from malloc because the core runs in
 * nginx's thread pool.  The buffer is sticky-failed: once an append runs out
 * of memory or past CALDAV_BUF_MAX, every later append fails too and
 * caldav_buf_steal() hands back NULL, so a truncated response can never be
 * sent by mistake.  Covered by tests/unit/test_caldav_buf.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "caldav_buf.h"

#define CALDAV_BUF_MIN 256 /* first allocation */

static const char hex_upper[] = "0123456789ABCDEF";

void
caldav_buf_init(caldav_buf_t *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = 0;
}

void
caldav_buf_free(caldav_buf_t *b)
{
    free(b->data);
    caldav_buf_init(b);
}

/*
 * The caller gets a malloc'ed, NUL-terminated string even for an empty
 * buffer.  A failed buffer is freed and NULL returned: its content is
 * incomplete by definition.
 */
char *
caldav_buf_steal(caldav_buf_t *b, size_t *len_r)
{
    char *p;

    if (len_r != NULL) {
        *len_r = 0;
    }
    if (b->failed || (b->data == NULL && caldav_buf_add(b, "", 0) != MTR_OK)) {
        caldav_buf_free(b);
        return NULL;
    }
    p = b->data;
    if (len_r != NULL) {
        *len_r = b->len;
    }
    caldav_buf_init(b);
    return p;
}

/* Make room for len more bytes plus the NUL. */
static int
caldav_buf_reserve(caldav_buf_t *b, size_t len)
{
    size_t cap;
    char  *p;

    if (b->failed) {
        return MTR_ERROR;
    }
    /* The NUL counts against the cap: len + 1 + used <= MAX. */
    if (len >= CALDAV_BUF_MAX - b->len) {
        b->failed = 1;
        return MTR_ERROR;
    }
    if (b->len + len + 1 <= b->cap) {
        return MTR_OK;
    }
    cap = b->cap ? b->cap : CALDAV_BUF_MIN;
    while (cap < b->len + len + 1) {
        cap = (cap > CALDAV_BUF_MAX / 2) ? CALDAV_BUF_MAX : cap * 2;
    }
    p = realloc(b->data, cap);
    if (p == NULL) {
        b->failed = 1;
        return MTR_ERROR;
    }
    b->data = p;
    b->cap = cap;
    return MTR_OK;
}

int
caldav_buf_add(caldav_buf_t *b, const char *p, size_t len)
{
    if (p == NULL && len != 0) {
        b->failed = 1;
        return MTR_ERROR;
    }
    if (caldav_buf_reserve(b, len) != MTR_OK) {
        return MTR_ERROR;
    }
    if (len != 0) {
        memcpy(b->data + b->len, p, len);
    }
    b->len += len;
    b->data[b->len] = '\0';
    return MTR_OK;
}

int
caldav_buf_adds(caldav_buf_t *b, const char *s)
{
    return caldav_buf_add(b, s, s ? strlen(s) : 0);
}

int
caldav_buf_printf(caldav_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int     n;

    if (b->failed) {
        return MTR_ERROR;
    }
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return MTR_ERROR;
    }
    if (caldav_buf_reserve(b, (size_t) n) != MTR_OK) {
        return MTR_ERROR;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t) n;
    return MTR_OK;
}

/* The entity for one byte, NULL to copy it, "" to drop it. */
static const char *
caldav_xml_entity(unsigned char c)
{
    switch (c) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '"':
        return "&quot;";
    case '\'':
        return "&apos;";
    case '\t':
    case '\n':
    case '\r':
        return NULL;
    default:
        return (c < 0x20) ? "" : NULL;
    }
}

/* Copy runs of plain bytes in one go; only the specials cost a call each. */
int
caldav_buf_add_xml(caldav_buf_t *b, const char *p, size_t len)
{
    const char *e;
    size_t      i, run;

    if (caldav_buf_add(b, "", 0) != MTR_OK) {
        return MTR_ERROR;
    }
    run = 0;
    for (i = 0; i < len; i++) {
        e = caldav_xml_entity((unsigned char) p[i]);
        if (e == NULL) {
            continue;
        }
        if (caldav_buf_add(b, p + run, i - run) != MTR_OK
            || caldav_buf_adds(b, e) != MTR_OK)
        {
            return MTR_ERROR;
        }
        run = i + 1;
    }
    return caldav_buf_add(b, p + run, len - run);
}

/* RFC 3986 unreserved, sub-delims, ':' '@' and '/': left as they are. */
static int
caldav_href_safe(unsigned char c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
        || (c >= '0' && c <= '9')) {
        return 1;
    }
    return c != '\0' && strchr("-._~!$&'()*+,;=:@/", c) != NULL;
}

int
caldav_buf_add_href(caldav_buf_t *b, const char *p, size_t len)
{
    unsigned char c;
    char          pct[3];
    size_t        i, run;

    if (caldav_buf_add(b, "", 0) != MTR_OK) {
        return MTR_ERROR;
    }
    run = 0;
    for (i = 0; i < len; i++) {
        c = (unsigned char) p[i];
        /* '&' and '\'' are sub-delims but XML specials: not in a run. */
        if (caldav_href_safe(c) && c != '&' && c != '\'') {
            continue;
        }
        if (caldav_buf_add(b, p + run, i - run) != MTR_OK) {
            return MTR_ERROR;
        }
        run = i + 1;
        if (caldav_href_safe(c)) {
            if (caldav_buf_add_xml(b, p + i, 1) != MTR_OK) {
                return MTR_ERROR;
            }
            continue;
        }
        pct[0] = '%';
        pct[1] = hex_upper[c >> 4];
        pct[2] = hex_upper[c & 0x0f];
        if (caldav_buf_add(b, pct, 3) != MTR_OK) {
            return MTR_ERROR;
        }
    }
    return caldav_buf_add(b, p + run, len - run);
}

static int
caldav_hexval(int ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    if (ch >= 'A' && ch <= 'F') {
        return ch - 'A' + 10;
    }
    return -1;
}

int
caldav_href_path(const char *href, char *out, size_t size)
{
    const char *p = href;
    size_t      o = 0;

    if (strncasecmp(p, "http://", 7) == 0 || strncasecmp(p, "https://", 8) == 0)
    {
        p = strchr(p + (p[4] == ':' ? 7 : 8), '/');
        if (p == NULL) {
            return MTR_ERROR;
        }
    }
    for (; *p; p++) {
        int ch = (unsigned char) *p;

        if (ch == '%') {
            int hi = caldav_hexval(p[1]);
            int lo = hi < 0 ? -1 : caldav_hexval(p[2]);

            if (hi < 0 || lo < 0 || hi * 16 + lo == 0) {
                return MTR_ERROR;
            }
            ch = hi * 16 + lo;
            if (ch == '/') {
                ch = 0x01;
            }
            p += 2;
        }
        if (o + 1 >= size) {
            return MTR_ERROR;
        }
        out[o++] = (char) ch;
    }
    out[o] = '\0';
    return MTR_OK;
}
