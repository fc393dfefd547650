/*
 * test_caldav_buf.c -- unit tests for caldav_buf.h: growth, NUL
 * termination, printf, steal, the sticky failure past CALDAV_BUF_MAX, and
 * the exact output of the XML and href escapers (table-driven).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../ngx_caldav/caldav_buf.h"

/* A literal with its length, so NUL bytes can be part of it. */
#define L(s) s, sizeof(s) - 1

typedef struct {
    const char *name;
    const char *in;
    size_t      in_len;
    const char *out; /* expected, NUL-terminated */
} esc_case_t;

static const esc_case_t xml_cases[] = {
    { "empty", L(""), "" },
    { "plain", L("Team meeting"), "Team meeting" },
    { "all five specials", L("<a href=\"x\">&'</a>"),
      "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;" },
    { "tab CR LF kept", L("a\tb\r\nc"), "a\tb\r\nc" },
    { "controls dropped",
      L("a\x01\x08\x0b\x0c\x1f"
        "b"),
      "ab" },
    { "NUL dropped", L("a\0b"), "ab" },
    { "DEL and UTF-8 kept", L("\x7f\xc3\xa9\xe2\x82\xac"),
      "\x7f\xc3\xa9\xe2\x82\xac" },
    { "special at both ends", L("&middle<"), "&amp;middle&lt;" },
    { "already escaped is escaped again", L("&amp;"), "&amp;amp;" },
};

static const esc_case_t href_cases[] = {
    { "empty", L(""), "" },
    { "plain path", L("/dav/calendars/alice/home/"),
      "/dav/calendars/alice/home/" },
    { "unreserved kept", L("AZaz09-._~"), "AZaz09-._~" },
    { "sub-delims kept, & and ' XML-escaped", L("!$&'()*+,;="),
      "!$&amp;&apos;()*+,;=" },
    { "colon and at kept", L("/a:b@c/"), "/a:b@c/" },
    { "space", L("/my calendar/"), "/my%20calendar/" },
    { "percent is encoded, not kept", L("/a%20b"), "/a%2520b" },
    { "query and fragment delimiters", L("/a?b#c"), "/a%3Fb%23c" },
    { "XML specials outside the set", L("/<x>\"y\""), "/%3Cx%3E%22y%22" },
    { "UTF-8 upper-case hex", L("/caf\xc3\xa9.ics"), "/caf%C3%A9.ics" },
    { "controls and NUL", L("/a\r\n\0\x7f"), "/a%0D%0A%00%7F" },
    { "brackets and backslash", L("/[x]\\{y}|^`"),
      "/%5Bx%5D%5C%7By%7D%7C%5E%60" },
    { "high byte", L("\xff"), "%FF" },
};

static void
run_escape_table(const esc_case_t *cases, size_t n,
                 int (*fn)(caldav_buf_t *, const char *, size_t))
{
    caldav_buf_t b;
    size_t       i;

    for (i = 0; i < n; i++) {
        print_message("case: %s\n", cases[i].name);
        caldav_buf_init(&b);
        assert_int_equal(caldav_buf_adds(&b, "["), MTR_OK);
        assert_int_equal(fn(&b, cases[i].in, cases[i].in_len), MTR_OK);
        assert_int_equal(caldav_buf_adds(&b, "]"), MTR_OK);
        assert_int_equal(b.len, strlen(cases[i].out) + 2);
        assert_memory_equal(b.data + 1, cases[i].out, b.len - 2);
        assert_int_equal(b.data[b.len], '\0');
        assert_false(b.failed);
        caldav_buf_free(&b);
    }
}

static void
test_xml_escape(void **state)
{
    (void) state;
    run_escape_table(xml_cases, sizeof(xml_cases) / sizeof(xml_cases[0]),
                     caldav_buf_add_xml);
}

static void
test_href_escape(void **state)
{
    (void) state;
    run_escape_table(href_cases, sizeof(href_cases) / sizeof(href_cases[0]),
                     caldav_buf_add_href);
}

static void
test_escape_every_byte(void **state)
{
    caldav_buf_t b;
    char         all[256];
    size_t       i, kept;

    (void) state;
    print_message("case: href of all 256 bytes has only safe output\n");
    for (i = 0; i < 256; i++) {
        all[i] = (char) i;
    }
    caldav_buf_init(&b);
    assert_int_equal(caldav_buf_add_href(&b, all, sizeof(all)), MTR_OK);
    for (i = 0; i < b.len; i++) {
        assert_non_null(
            strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                   "0123456789-._~!$&'()*+,;=:@/%",
                   b.data[i]));
        assert_true(b.data[i] != '\'' && b.data[i] != '<');
    }
    caldav_buf_free(&b);

    print_message("case: xml of all 256 bytes drops 29 controls\n");
    caldav_buf_init(&b);
    assert_int_equal(caldav_buf_add_xml(&b, all, sizeof(all)), MTR_OK);
    kept = 0;
    for (i = 0; i < b.len; i++) {
        assert_true((unsigned char) b.data[i] >= 0x20 || b.data[i] == '\t'
                    || b.data[i] == '\r' || b.data[i] == '\n');
        kept++;
    }
    /* 256 - 29 dropped + 4+3+3+5+5 extra for & < > " ' */
    assert_int_equal(kept, 256 - 29 + 4 + 3 + 3 + 5 + 5);
    caldav_buf_free(&b);
}

static void
test_growth_and_nul(void **state)
{
    caldav_buf_t b;
    size_t       i;
    char        *p;
    size_t       len;

    (void) state;
    print_message("case: 100000 single-byte appends\n");
    caldav_buf_init(&b);
    for (i = 0; i < 100000; i++) {
        assert_int_equal(caldav_buf_add(&b, "abcdefghij" + i % 10, 1), MTR_OK);
        assert_int_equal(b.data[b.len], '\0');
    }
    assert_int_equal(b.len, 100000);
    assert_true(b.cap > b.len);
    for (i = 0; i < b.len; i++) {
        assert_int_equal(b.data[i], 'a' + (int) (i % 10));
    }

    print_message("case: steal hands the data over, buffer is empty\n");
    p = caldav_buf_steal(&b, &len);
    assert_non_null(p);
    assert_int_equal(len, 100000);
    assert_int_equal(p[len], '\0');
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    free(p);

    print_message("case: an empty append still gives a NUL-terminated \"\"\n");
    caldav_buf_init(&b);
    assert_int_equal(caldav_buf_add(&b, NULL, 0), MTR_OK);
    assert_non_null(b.data);
    assert_string_equal(b.data, "");
    caldav_buf_free(&b);

    print_message("case: steal of a never-used buffer gives \"\"\n");
    caldav_buf_init(&b);
    p = caldav_buf_steal(&b, &len);
    assert_non_null(p);
    assert_string_equal(p, "");
    assert_int_equal(len, 0);
    free(p);

    print_message("case: free twice is safe\n");
    caldav_buf_init(&b);
    caldav_buf_adds(&b, "x");
    caldav_buf_free(&b);
    caldav_buf_free(&b);
    assert_null(b.data);
}

static void
test_printf(void **state)
{
    caldav_buf_t b;
    char         big[5000];

    (void) state;
    print_message("case: printf appends\n");
    caldav_buf_init(&b);
    assert_int_equal(caldav_buf_adds(&b, "<D:status>"), MTR_OK);
    assert_int_equal(caldav_buf_printf(&b, "HTTP/1.1 %d %s", 404, "Not Found"),
                     MTR_OK);
    assert_string_equal(b.data, "<D:status>HTTP/1.1 404 Not Found");

    print_message("case: printf across a growth boundary\n");
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(caldav_buf_printf(&b, "%s|%zu", big, sizeof(big)), MTR_OK);
    assert_int_equal(b.len, 32 + 4999 + 1 + 4);
    assert_string_equal(b.data + 32 + 4999, "|5000");

    print_message("case: printf of nothing\n");
    assert_int_equal(caldav_buf_printf(&b, "%s", ""), MTR_OK);
    assert_int_equal(b.len, 32 + 4999 + 1 + 4);
    caldav_buf_free(&b);
}

static void
test_cap_is_sticky(void **state)
{
    caldav_buf_t b;
    char         tiny[1] = { 'x' };
    size_t       len;

    (void) state;
    /* The length check comes before any read of p: tiny is never read past. */
    print_message("case: append of CALDAV_BUF_MAX bytes fails\n");
    caldav_buf_init(&b);
    assert_int_equal(caldav_buf_adds(&b, "head"), MTR_OK);
    assert_int_equal(caldav_buf_add(&b, tiny, CALDAV_BUF_MAX), MTR_ERROR);
    assert_true(b.failed);
    assert_int_equal(b.len, 4);

    print_message("case: every later append fails, even a small one\n");
    assert_int_equal(caldav_buf_adds(&b, "more"), MTR_ERROR);
    assert_int_equal(caldav_buf_printf(&b, "%d", 1), MTR_ERROR);
    assert_int_equal(caldav_buf_add_xml(&b, "a", 1), MTR_ERROR);
    assert_int_equal(caldav_buf_add_href(&b, "a", 1), MTR_ERROR);
    assert_int_equal(b.len, 4);

    print_message("case: steal of a failed buffer is NULL and frees it\n");
    assert_null(caldav_buf_steal(&b, &len));
    assert_int_equal(len, 0);
    assert_null(b.data);

    print_message("case: SIZE_MAX length does not wrap\n");
    caldav_buf_init(&b);
    assert_int_equal(caldav_buf_add(&b, tiny, SIZE_MAX), MTR_ERROR);
    assert_true(b.failed);
    caldav_buf_free(&b);

    print_message("case: NULL pointer with a length fails\n");
    caldav_buf_init(&b);
    assert_int_equal(caldav_buf_add(&b, NULL, 3), MTR_ERROR);
    assert_true(b.failed);
    caldav_buf_free(&b);
}

/* hrefs back to paths: what multiget and sharing read from clients */
static void
test_href_path(void **state)
{
    static const struct {
        const char *href, *path; /* path NULL: refused */
    } cases[] = {
        { "/dav/calendars/a%40b.test/default/x.ics",
          "/dav/calendars/a@b.test/default/x.ics" },
        { "https://h.example:8443/dav/x%20y", "/dav/x y" },
        { "http://h/dav/", "/dav/" },
        { "HTTPS://H/dav/", "/dav/" },
        { "/dav/%e2%82%ac", "/dav/\xe2\x82\xac" },
        { "/dav/a%2Fb", "/dav/a\x01"
                        "b" }, /* never a separator */
        { "/dav/a%00b", NULL },
        { "/dav/a%zzb", NULL },
        { "/dav/a%4", NULL },
        { "https://host-without-path", NULL },
    };
    char out[64], tiny[4];

    (void) state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = caldav_href_path(cases[i].href, out, sizeof(out));

        if (cases[i].path == NULL) {
            assert_int_equal(rc, MTR_ERROR);
        } else {
            assert_int_equal(rc, MTR_OK);
            assert_string_equal(out, cases[i].path);
        }
    }
    /* a path that does not fit is an error, never cut */
    assert_int_equal(caldav_href_path("/dav/", tiny, sizeof(tiny)), MTR_ERROR);
    assert_int_equal(caldav_href_path("/da", tiny, sizeof(tiny)), MTR_OK);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xml_escape),
        cmocka_unit_test(test_href_escape),
        cmocka_unit_test(test_escape_every_byte),
        cmocka_unit_test(test_growth_and_nul),
        cmocka_unit_test(test_printf),
        cmocka_unit_test(test_cap_is_sticky),
        cmocka_unit_test(test_href_path),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
