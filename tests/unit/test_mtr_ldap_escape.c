/*
 * test_mtr_ldap_escape.c -- unit tests of the RFC 4515 filter and RFC 4514
 * DN escaping in shared/src/mtr_ldap.c.
 *
 * Table-driven: each row names its case, printed before the assertions.
 * Inputs carry an explicit length so embedded NUL bytes can be tested;
 * out_size 0 in a row means "a generous buffer".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mtr_ldap.h"

#define S(s) s, sizeof(s) - 1

typedef struct {
    const char *name;
    const char *in;
    size_t      len;
    size_t      out_size;
    int         rc;
    const char *out;
} escape_case_t;

static const escape_case_t filter_cases[] = {
    { "plain value", S("alice@example.org"), 0, MTR_OK, "alice@example.org" },
    { "empty", S(""), 0, MTR_OK, "" },
    { "injection *)(uid=*", S("*)(uid=*"), 0, MTR_OK, "\\2a\\29\\28uid=\\2a" },
    { "injection )(|(uid=*", S("x)(|(objectClass=*"), 0, MTR_OK,
      "x\\29\\28|\\28objectClass=\\2a" },
    { "all specials", S("*()\\"), 0, MTR_OK, "\\2a\\28\\29\\5c" },
    { "embedded NUL", S("ab\0cd"), 0, MTR_OK, "ab\\00cd" },
    { "only NUL", S("\0"), 0, MTR_OK, "\\00" },
    { "DN specials untouched", S("a,b+c=d;\"<>#"), 0, MTR_OK, "a,b+c=d;\"<>#" },
    { "UTF-8 copied", S("j\xc3\xbcrgen"), 0, MTR_OK, "j\xc3\xbcrgen" },
    { "spaces copied", S(" a b "), 0, MTR_OK, " a b " },
    { "escaped backslash sequence", S("\\2a"), 0, MTR_OK, "\\5c2a" },
    { "exact fit", S("a*"), 5, MTR_OK, "a\\2a" },
    { "one byte short", S("a*"), 4, MTR_ERROR, NULL },
    { "plain one byte short", S("abc"), 3, MTR_ERROR, NULL },
    { "plain exact fit", S("abc"), 4, MTR_OK, "abc" },
    { "empty in size 1", S(""), 1, MTR_OK, "" },
};

static const escape_case_t dn_cases[] = {
    { "plain value", S("alice"), 0, MTR_OK, "alice" },
    { "empty", S(""), 0, MTR_OK, "" },
    { "comma", S("Smith, John"), 0, MTR_OK, "Smith\\, John" },
    { "all specials", S(",+\"\\<>;="), 0, MTR_OK,
      "\\,\\+\\\"\\\\\\<\\>\\;\\=" },
    { "injection uid=x,ou=admins", S("x,ou=admins"), 0, MTR_OK,
      "x\\,ou\\=admins" },
    { "leading space", S(" a"), 0, MTR_OK, "\\ a" },
    { "trailing space", S("a "), 0, MTR_OK, "a\\ " },
    { "single space", S(" "), 0, MTR_OK, "\\ " },
    { "two spaces", S("  "), 0, MTR_OK, "\\ \\ " },
    { "inner spaces kept", S("a  b"), 0, MTR_OK, "a  b" },
    { "leading hash", S("#x"), 0, MTR_OK, "\\#x" },
    { "inner hash kept", S("x#y"), 0, MTR_OK, "x#y" },
    { "embedded NUL", S("a\0b"), 0, MTR_OK, "a\\00b" },
    { "control bytes", S("a\n\x1f\x7f"), 0, MTR_OK, "a\\0a\\1f\\7f" },
    { "filter specials kept", S("*()"), 0, MTR_OK, "*()" },
    { "UTF-8 copied", S("M\xc3\xbcller"), 0, MTR_OK, "M\xc3\xbcller" },
    { "exact fit", S(",a"), 4, MTR_OK, "\\,a" },
    { "one byte short", S(",a"), 3, MTR_ERROR, NULL },
    { "hex one byte short", S("\n"), 3, MTR_ERROR, NULL },
    { "hex exact fit", S("\n"), 4, MTR_OK, "\\0a" },
};

typedef int (*escape_pt)(const char *in, size_t len, char *out, size_t out_size,
                         size_t *out_len_r, mtr_err_t *err);

static void
run_cases(const char *what, escape_pt fn, const escape_case_t *cases,
          size_t ncases)
{
    char      out[256];
    size_t    i, out_len, size;
    mtr_err_t err;
    int       rc;

    for (i = 0; i < ncases; i++) {
        const escape_case_t *c = &cases[i];

        print_message("%s: %s\n", what, c->name);

        size = c->out_size != 0 ? c->out_size : sizeof(out);
        memset(out, 'X', sizeof(out));
        out_len = 999;
        mtr_err_clear(&err);

        rc = fn(c->in, c->len, out, size, &out_len, &err);
        assert_int_equal(rc, c->rc);

        if (c->rc == MTR_OK) {
            assert_string_equal(out, c->out);
            assert_int_equal(out_len, strlen(c->out));
        } else {
            /* Too small: an error, a message, and no half value. */
            assert_true(err.msg[0] != '\0');
            assert_int_equal(out_len, 999);
            assert_true(memchr(out, '\0', size) != NULL);
        }

        /* Never a byte past out_size. */
        if (size < sizeof(out)) {
            assert_int_equal(out[size], 'X');
        }
    }
}

static void
test_escape_filter(void **state)
{
    (void) state;
    run_cases("filter", mtr_ldap_escape_filter, filter_cases,
              sizeof(filter_cases) / sizeof(filter_cases[0]));
}

static void
test_escape_dn(void **state)
{
    (void) state;
    run_cases("dn", mtr_ldap_escape_dn, dn_cases,
              sizeof(dn_cases) / sizeof(dn_cases[0]));
}

static void
test_escape_edges(void **state)
{
    char      out[8];
    size_t    out_len;
    mtr_err_t err;

    (void) state;

    print_message("edges: zero-size output is an error\n");
    assert_int_equal(mtr_ldap_escape_filter("a", 1, out, 0, &out_len, &err),
                     MTR_ERROR);
    assert_int_equal(mtr_ldap_escape_dn("a", 1, out, 0, &out_len, &err),
                     MTR_ERROR);

    print_message("edges: NULL output is an error\n");
    assert_int_equal(mtr_ldap_escape_filter("a", 1, NULL, 8, &out_len, &err),
                     MTR_ERROR);

    print_message("edges: NULL input with a length is an error\n");
    assert_int_equal(
        mtr_ldap_escape_dn(NULL, 1, out, sizeof(out), &out_len, &err),
        MTR_ERROR);

    print_message("edges: NULL empty input gives empty output\n");
    assert_int_equal(
        mtr_ldap_escape_filter(NULL, 0, out, sizeof(out), &out_len, &err),
        MTR_OK);
    assert_string_equal(out, "");
    assert_int_equal(out_len, 0);

    print_message("edges: NULL out_len_r and NULL err are allowed\n");
    assert_int_equal(mtr_ldap_escape_dn("a,", 2, out, sizeof(out), NULL, NULL),
                     MTR_OK);
    assert_string_equal(out, "a\\,");
    assert_int_equal(
        mtr_ldap_escape_dn("a,,,,,,,", 8, out, sizeof(out), NULL, NULL),
        MTR_ERROR);

    print_message("edges: length bounds the input\n");
    assert_int_equal(
        mtr_ldap_escape_filter("ab*", 2, out, sizeof(out), &out_len, &err),
        MTR_OK);
    assert_string_equal(out, "ab");

    print_message("edges: trailing space judged at len, not at the NUL\n");
    assert_int_equal(
        mtr_ldap_escape_dn("a b", 2, out, sizeof(out), &out_len, &err), MTR_OK);
    assert_string_equal(out, "a\\ ");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape_filter),
        cmocka_unit_test(test_escape_dn),
        cmocka_unit_test(test_escape_edges),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
