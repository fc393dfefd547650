/*
 * mtr_core.h -- status codes, error buffer and string slices of libmortar.
 *
 * Every Mortar unit returns one of the MTR_* status codes (nginx's values,
 * so nginx glue maps them one to one) and reports what went wrong in a
 * caller-owned mtr_err_t.  Core code never logs: the glue decides the level.
 * Covered by tests/unit/test_mtr_core.c.
 */
#ifndef MTR_CORE_H
#define MTR_CORE_H

#include <stddef.h>
#include <stdint.h>

#define MTR_OK       0
#define MTR_ERROR    -1
#define MTR_AGAIN    -2
#define MTR_DECLINED -5

#define MTR_VERSION "0.1.0"

#define MTR_ERR_MAX 512

/* A fixed buffer for one error message; msg is always NUL-terminated. */
typedef struct {
    char msg[MTR_ERR_MAX];
} mtr_err_t;

/* A slice: pointer and length, not NUL-terminated (like ngx_str_t). */
typedef struct {
    const char *data;
    size_t      len;
} mtr_str_t;

#define mtr_string(s)                                                          \
    {                                                                          \
        (s), sizeof(s) - 1                                                     \
    }

#if defined(__GNUC__)
#define MTR_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define MTR_PRINTF(f, a)
#endif

/*
 * Format a message into err (err may be NULL); returns MTR_ERROR so that
 * callers can write `return mtr_err_set(err, "...")`.  A message longer than
 * the buffer is cut and ends with "...", so a cut is visible, never silent.
 */
int mtr_err_set(mtr_err_t *err, const char *fmt, ...) MTR_PRINTF(2, 3);

/* Clear err (err may be NULL). */
void mtr_err_clear(mtr_err_t *err);

/*
 * Copy at most len bytes of src into dst (dst_size bytes), replacing every
 * byte that is not printable ASCII with '?', so wire data can reach a log.
 * Returns the number of bytes written, not counting the NUL; if src does
 * not fit, the copy ends with "..." (dst_size must be at least 4).
 */
size_t mtr_sanitize(char *dst, size_t dst_size, const char *src, size_t len);

/*
 * Parse an unsigned decimal number in [0, max] from exactly len bytes: no
 * sign, no spaces, no trailing garbage, no overflow.  Returns MTR_OK or
 * MTR_ERROR.
 */
int mtr_parse_uint(const char *s, size_t len, uint64_t max, uint64_t *value_r);

/*
 * Like mtr_parse_uint, but accepts one optional size suffix K, M, G or T
 * (powers of 1024, case-insensitive, an optional trailing 'B' allowed).
 */
int mtr_parse_size(const char *s, size_t len, uint64_t max, uint64_t *value_r);

/* Wipe a secret so the compiler cannot elide it. */
void mtr_wipe(void *p, size_t len);

#endif /* MTR_CORE_H */
