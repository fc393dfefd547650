/*
 * mtr_core.c -- error buffer, sanitizer and number parsers of libmortar.
 *
 * Core: pure functions, no I/O, no logging.  The parsers accept exactly the
 * bytes they are given (protocol data is never assumed NUL-terminated) and
 * refuse anything but digits, so "12abc", " 12", "+12" and "-0" all fail.
 * Covered by tests/unit/test_mtr_core.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mtr_core.h"

int
mtr_err_set(mtr_err_t *err, const char *fmt, ...)
{
    va_list ap;
    char    buf[MTR_ERR_MAX];
    int     n;

    if (err == NULL) {
        return MTR_ERROR;
    }

    /*
     * Format into a local buffer first: callers may pass err->msg itself as
     * an argument ("ldap: %s", err->msg) and vsnprintf must not read from
     * the buffer it is writing.
     */
    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);

    if (n < 0) {
        snprintf(err->msg, sizeof(err->msg), "%s", "(unformattable error)");
        return MTR_ERROR;
    }

    memcpy(err->msg, buf, sizeof(buf));

    if ((size_t) n >= sizeof(err->msg)) {
        /* A cut message ends with "..." so nobody mistakes it for whole. */
        memcpy(err->msg + sizeof(err->msg) - 4, "...", 4);
    }

    return MTR_ERROR;
}

void
mtr_err_clear(mtr_err_t *err)
{
    if (err != NULL) {
        err->msg[0] = '\0';
    }
}

size_t
mtr_sanitize(char *dst, size_t dst_size, const char *src, size_t len)
{
    size_t i, n;
    int    cut;

    if (dst == NULL || dst_size == 0) {
        return 0;
    }

    if (src == NULL) {
        len = 0;
    }

    cut = len > dst_size - 1;
    n = cut ? (dst_size >= 4 ? dst_size - 4 : 0) : len;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char) src[i];

        dst[i] = (c >= 0x20 && c < 0x7f) ? (char) c : '?';
    }

    if (cut) {
        /* @UNSAFE: three dots fill dst up to its NUL when dst_size >= 4. */
        memset(dst + n, '.', dst_size - 1 - n);
        n = dst_size - 1;
    }

    dst[n] = '\0';

    return n;
}

int
mtr_parse_uint(const char *s, size_t len, uint64_t max, uint64_t *value_r)
{
    uint64_t v = 0, d;
    size_t   i;

    if (s == NULL || len == 0) {
        return MTR_ERROR;
    }

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return MTR_ERROR;
        }

        d = (uint64_t) (s[i] - '0');

        /* v * 10 + d <= max  <=>  v <= (max - d) / 10, without overflow. */
        if (d > max || v > (max - d) / 10) {
            return MTR_ERROR;
        }

        v = v * 10 + d;
    }

    *value_r = v;

    return MTR_OK;
}

int
mtr_parse_size(const char *s, size_t len, uint64_t max, uint64_t *value_r)
{
    uint64_t v, mult = 1;
    size_t   n = len;

    if (s == NULL || len == 0) {
        return MTR_ERROR;
    }

    /* Peel "B", then one of K/M/G/T, off the end; digits must remain. */
    if (s[n - 1] == 'B' || s[n - 1] == 'b') {
        n--;
    }

    if (n > 0) {
        switch (s[n - 1]) {
        case 'K':
        case 'k':
            mult = (uint64_t) 1 << 10;
            break;
        case 'M':
        case 'm':
            mult = (uint64_t) 1 << 20;
            break;
        case 'G':
        case 'g':
            mult = (uint64_t) 1 << 30;
            break;
        case 'T':
        case 't':
            mult = (uint64_t) 1 << 40;
            break;
        default:
            break;
        }

        if (mult != 1) {
            n--;
        }
    }

    if (mtr_parse_uint(s, n, UINT64_MAX, &v) != MTR_OK) {
        return MTR_ERROR;
    }

    if (v > max / mult) {
        return MTR_ERROR;
    }

    *value_r = v * mult;

    return MTR_OK;
}

void
mtr_wipe(void *p, size_t len)
{
    if (p != NULL && len != 0) {
        explicit_bzero(p, len);
    }
}
