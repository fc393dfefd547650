/*
 * test_mtr_core.c -- unit tests of shared/src/mtr_core.c.
 *
 * Table-driven: every case has a name, printed before its assertions so a
 * failure names the row.  Covers mtr_parse_uint and mtr_parse_size (empty
 * input, signs, spaces, trailing garbage, overflow, max bound, suffixes),
 * mtr_sanitize (masking, visible cut), mtr_err_set (visible "..." cut,
 * self-referencing arguments), mtr_err_clear and mtr_wipe.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mtr_core.h"

typedef struct {
    const char *name;
    const char *in;
    size_t      len; /* 0 means strlen(in) unless in is "" */
    uint64_t    max;
    int         rc;
    uint64_t    value;
} parse_case_t;

#define KI ((uint64_t) 1 << 10)
#define MI ((uint64_t) 1 << 20)
#define GI ((uint64_t) 1 << 30)
#define TI ((uint64_t) 1 << 40)

static const parse_case_t uint_cases[] = {
    { "zero", "0", 0, UINT64_MAX, MTR_OK, 0 },
    { "plain", "12345", 0, UINT64_MAX, MTR_OK, 12345 },
    { "leading zeros", "007", 0, UINT64_MAX, MTR_OK, 7 },
    { "empty", "", 0, UINT64_MAX, MTR_ERROR, 0 },
    { "plus sign", "+1", 0, UINT64_MAX, MTR_ERROR, 0 },
    { "minus sign", "-1", 0, UINT64_MAX, MTR_ERROR, 0 },
    { "minus zero", "-0", 0, UINT64_MAX, MTR_ERROR, 0 },
    { "leading space", " 1", 0, UINT64_MAX, MTR_ERROR, 0 },
    { "trailing space", "1 ", 0, UINT64_MAX, MTR_ERROR, 0 },
    { "inner space", "1 2", 0, UINT64_MAX, MTR_ERROR, 0 },
    { "trailing garbage", "12abc", 0, UINT64_MAX, MTR_ERROR, 0 },
    { "hex prefix", "0x10", 0, UINT64_MAX, MTR_ERROR, 0 },
    { "suffix refused", "1K", 0, UINT64_MAX, MTR_ERROR, 0 },
    { "decimal point", "1.5", 0, UINT64_MAX, MTR_ERROR, 0 },
    { "uint64 max", "18446744073709551615", 0, UINT64_MAX, MTR_OK, UINT64_MAX },
    { "uint64 max + 1", "18446744073709551616", 0, UINT64_MAX, MTR_ERROR, 0 },
    { "uint64 max * 10", "184467440737095516150", 0, UINT64_MAX, MTR_ERROR, 0 },
    { "way too long", "99999999999999999999999999", 0, UINT64_MAX, MTR_ERROR,
      0 },
    { "at max bound", "100", 0, 100, MTR_OK, 100 },
    { "above max bound", "101", 0, 100, MTR_ERROR, 0 },
    { "max 0 accepts 0", "0", 0, 0, MTR_OK, 0 },
    { "max 0 refuses 1", "1", 0, 0, MTR_ERROR, 0 },
    { "max 5 refuses 9", "9", 0, 5, MTR_ERROR, 0 },
    { "length limits input", "12345", 2, UINT64_MAX, MTR_OK, 12 },
    { "embedded NUL", "1\0002", 3, UINT64_MAX, MTR_ERROR, 0 },
};

static const parse_case_t size_cases[] = {
    { "bare number", "1024", 0, UINT64_MAX, MTR_OK, 1024 },
    { "zero", "0", 0, UINT64_MAX, MTR_OK, 0 },
    { "bytes B", "512B", 0, UINT64_MAX, MTR_OK, 512 },
    { "K", "1K", 0, UINT64_MAX, MTR_OK, KI },
    { "k lower", "2k", 0, UINT64_MAX, MTR_OK, 2 * KI },
    { "KB", "3KB", 0, UINT64_MAX, MTR_OK, 3 * KI },
    { "kb lower", "3kb", 0, UINT64_MAX, MTR_OK, 3 * KI },
    { "M", "10M", 0, UINT64_MAX, MTR_OK, 10 * MI },
    { "MB", "10MB", 0, UINT64_MAX, MTR_OK, 10 * MI },
    { "G", "5G", 0, UINT64_MAX, MTR_OK, 5 * GI },
    { "GB", "5GB", 0, UINT64_MAX, MTR_OK, 5 * GI },
    { "T", "2T", 0, UINT64_MAX, MTR_OK, 2 * TI },
    { "TB", "2tB", 0, UINT64_MAX, MTR_OK, 2 * TI },
    { "empty", "", 0, UINT64_MAX, MTR_ERROR, 0 },
    { "suffix only", "K", 0, UINT64_MAX, MTR_ERROR, 0 },
    { "B only", "B", 0, UINT64_MAX, MTR_ERROR, 0 },
    { "KB only", "KB", 0, UINT64_MAX, MTR_ERROR, 0 },
    { "unknown suffix", "1P", 0, UINT64_MAX, MTR_ERROR, 0 },
    { "iB suffix", "1KiB", 0, UINT64_MAX, MTR_ERROR, 0 },
    { "double suffix", "1KK", 0, UINT64_MAX, MTR_ERROR, 0 },
    { "double B", "1BB", 0, UINT64_MAX, MTR_ERROR, 0 },
    { "B before K", "1BK", 0, UINT64_MAX, MTR_ERROR, 0 },
    { "space before suffix", "1 K", 0, UINT64_MAX, MTR_ERROR, 0 },
    { "leading space", " 1K", 0, UINT64_MAX, MTR_ERROR, 0 },
    { "trailing space", "1K ", 0, UINT64_MAX, MTR_ERROR, 0 },
    { "plus sign", "+1K", 0, UINT64_MAX, MTR_ERROR, 0 },
    { "minus sign", "-1K", 0, UINT64_MAX, MTR_ERROR, 0 },
    { "trailing garbage", "1Kx", 0, UINT64_MAX, MTR_ERROR, 0 },
    { "fraction", "1.5G", 0, UINT64_MAX, MTR_ERROR, 0 },
    { "T at uint64 limit", "16777215T", 0, UINT64_MAX, MTR_OK, 16777215 * TI },
    { "T overflows uint64", "16777216T", 0, UINT64_MAX, MTR_ERROR, 0 },
    { "digits overflow", "18446744073709551616", 0, UINT64_MAX, MTR_ERROR, 0 },
    { "at max bound", "1G", 0, GI, MTR_OK, GI },
    { "above max bound", "1025M", 0, GI, MTR_ERROR, 0 },
    { "plain above max", "1073741825", 0, GI, MTR_ERROR, 0 },
    { "length limits input", "10MB", 3, UINT64_MAX, MTR_OK, 10 * MI },
    { "embedded NUL", "1\000K", 3, UINT64_MAX, MTR_ERROR, 0 },
};

static size_t
case_len(const parse_case_t *c)
{
    return c->len != 0 ? c->len : strlen(c->in);
}

static void
test_parse_uint(void **state)
{
    size_t   i;
    uint64_t v;
    int      rc;

    (void) state;

    for (i = 0; i < sizeof(uint_cases) / sizeof(uint_cases[0]); i++) {
        const parse_case_t *c = &uint_cases[i];

        print_message("mtr_parse_uint: %s\n", c->name);
        v = 4242;
        rc = mtr_parse_uint(c->in, case_len(c), c->max, &v);
        assert_int_equal(rc, c->rc);
        if (c->rc == MTR_OK) {
            assert_true(v == c->value);
        } else {
            /* A failed parse leaves the output alone. */
            assert_true(v == 4242);
        }
    }

    print_message("mtr_parse_uint: NULL input\n");
    assert_int_equal(mtr_parse_uint(NULL, 0, UINT64_MAX, &v), MTR_ERROR);
}

static void
test_parse_size(void **state)
{
    size_t   i;
    uint64_t v;
    int      rc;

    (void) state;

    for (i = 0; i < sizeof(size_cases) / sizeof(size_cases[0]); i++) {
        const parse_case_t *c = &size_cases[i];

        print_message("mtr_parse_size: %s\n", c->name);
        v = 4242;
        rc = mtr_parse_size(c->in, case_len(c), c->max, &v);
        assert_int_equal(rc, c->rc);
        if (c->rc == MTR_OK) {
            assert_true(v == c->value);
        } else {
            assert_true(v == 4242);
        }
    }

    print_message("mtr_parse_size: NULL input\n");
    assert_int_equal(mtr_parse_size(NULL, 0, UINT64_MAX, &v), MTR_ERROR);
}

typedef struct {
    const char *name;
    const char *in;
    size_t      len;
    size_t      dst_size;
    const char *out;
} sanitize_case_t;

static const sanitize_case_t sanitize_cases[] = {
    { "printable kept", "hello world~", 12, 64, "hello world~" },
    { "empty", "", 0, 64, "" },
    { "newline and CR masked", "a\r\nb", 4, 64, "a??b" },
    { "tab masked", "a\tb", 3, 64, "a?b" },
    { "NUL masked", "a\000b", 3, 64, "a?b" },
    { "DEL masked", "a\177b", 3, 64, "a?b" },
    { "high bytes masked", "caf\303\251", 5, 64, "caf??" },
    { "exact fit", "abcdef", 6, 7, "abcdef" },
    { "one too long is cut", "abcdefg", 7, 7, "abc..." },
    { "long input cut", "abcdefghijklmnop", 16, 8, "abcd..." },
    { "cut masks too", "\001\002\003\004\005\006\007\010", 8, 6, "??..." },
    { "minimum size cut", "abcdef", 6, 4, "..." },
    { "length limits input", "abcdef", 3, 64, "abc" },
};

static void
test_sanitize(void **state)
{
    size_t i, n;
    char   buf[64];

    (void) state;

    for (i = 0; i < sizeof(sanitize_cases) / sizeof(sanitize_cases[0]); i++) {
        const sanitize_case_t *c = &sanitize_cases[i];

        print_message("mtr_sanitize: %s\n", c->name);
        memset(buf, 'X', sizeof(buf));
        n = mtr_sanitize(buf, c->dst_size, c->in, c->len);
        assert_string_equal(buf, c->out);
        assert_int_equal(n, strlen(c->out));
        assert_true(n < c->dst_size);
        /* Nothing past dst_size is touched. */
        if (c->dst_size < sizeof(buf)) {
            assert_int_equal(buf[c->dst_size], 'X');
        }
    }

    print_message("mtr_sanitize: zero-size destination\n");
    buf[0] = 'X';
    assert_int_equal(mtr_sanitize(buf, 0, "abc", 3), 0);
    assert_int_equal(buf[0], 'X');

    print_message("mtr_sanitize: NULL source\n");
    assert_int_equal(mtr_sanitize(buf, sizeof(buf), NULL, 0), 0);
    assert_string_equal(buf, "");
}

static void
test_err_set(void **state)
{
    mtr_err_t err;
    char      big[MTR_ERR_MAX * 2];
    size_t    len;

    (void) state;

    print_message("mtr_err_set: formats and returns MTR_ERROR\n");
    assert_int_equal(mtr_err_set(&err, "bad %s %d", "value", 42), MTR_ERROR);
    assert_string_equal(err.msg, "bad value 42");

    print_message("mtr_err_set: NULL err is allowed\n");
    assert_int_equal(mtr_err_set(NULL, "ignored %d", 1), MTR_ERROR);

    print_message("mtr_err_set: own message as argument\n");
    mtr_err_set(&err, "inner");
    mtr_err_set(&err, "outer: %s", err.msg);
    assert_string_equal(err.msg, "outer: inner");

    print_message("mtr_err_set: exactly full buffer is not cut\n");
    memset(big, 'a', MTR_ERR_MAX - 1);
    big[MTR_ERR_MAX - 1] = '\0';
    mtr_err_set(&err, "%s", big);
    assert_int_equal(strlen(err.msg), MTR_ERR_MAX - 1);
    assert_int_equal(err.msg[MTR_ERR_MAX - 2], 'a');

    print_message("mtr_err_set: one byte too long ends with ...\n");
    memset(big, 'a', MTR_ERR_MAX);
    big[MTR_ERR_MAX] = '\0';
    mtr_err_set(&err, "%s", big);
    len = strlen(err.msg);
    assert_int_equal(len, MTR_ERR_MAX - 1);
    assert_string_equal(err.msg + len - 3, "...");
    assert_int_equal(err.msg[len - 4], 'a');

    print_message("mtr_err_set: much too long ends with ...\n");
    memset(big, 'b', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    mtr_err_set(&err, "x%sy", big);
    len = strlen(err.msg);
    assert_int_equal(len, MTR_ERR_MAX - 1);
    assert_int_equal(err.msg[0], 'x');
    assert_string_equal(err.msg + len - 3, "...");

    print_message("mtr_err_clear: empties the message\n");
    mtr_err_clear(&err);
    assert_string_equal(err.msg, "");
    mtr_err_clear(NULL);
}

static void
test_wipe(void **state)
{
    char   secret[16] = "hunter2";
    size_t i;

    (void) state;

    print_message("mtr_wipe: zeroes every byte\n");
    mtr_wipe(secret, sizeof(secret));
    for (i = 0; i < sizeof(secret); i++) {
        assert_int_equal(secret[i], 0);
    }

    print_message("mtr_wipe: NULL and zero length are no-ops\n");
    mtr_wipe(NULL, 10);
    secret[0] = 'x';
    mtr_wipe(secret, 0);
    assert_int_equal(secret[0], 'x');
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_uint), cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_sanitize),   cmocka_unit_test(test_err_set),
        cmocka_unit_test(test_wipe),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
