/*
 * test_webmail_health.c -- unit tests for webmail_health.h: status, content
 * type, Allow and the exact JSON body for each method, masking of wire bytes
 * in the 405 detail, and buffers too small for the body.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* The Makefile adds no -I for module dirs: reach the core header directly. */
#include "../../ngx_webmail/webmail_health.h"

/* Spelled out here, not taken from the core, so a drift in either fails. */
#define OK_BODY                                                                \
    "{\"status\":\"ok\",\"service\":\"mortar-webmail\",\"version\":"           \
    "\"" MTR_VERSION "\"}"

#define P405(detail)                                                           \
    "{\"type\":\"about:blank\",\"title\":\"Method Not Allowed\","              \
    "\"status\":405,\"detail\":\"method \\\"" detail                           \
    "\\\" is not allowed; use GET or HEAD\"}"

#define JSON    "application/json"
#define PROBLEM "application/problem+json"
#define ALLOW   "GET, HEAD"

/* A method literal with its length, so NUL bytes can be part of it. */
#define M(s) s, sizeof(s) - 1

#define BIG 400 /* test buffer; size below says how much of it is offered */

typedef struct {
    const char *name;
    const char *method;
    size_t      method_len;
    size_t      size; /* bytes offered to the core */
    int         rc;
    int         status; /* checked when rc == MTR_OK, like the rest */
    const char *content_type;
    const char *allow; /* "" for no Allow header */
    const char *body;  /* exact body; NULL: only the length cap is checked */
} health_case_t;

static const health_case_t cases[] = {
    { "GET", M("GET"), WEBMAIL_HEALTH_BODY_MAX, MTR_OK, 200, JSON, "",
      OK_BODY },
    { "HEAD has the GET body", M("HEAD"), WEBMAIL_HEALTH_BODY_MAX, MTR_OK, 200,
      JSON, "", OK_BODY },
    { "POST", M("POST"), WEBMAIL_HEALTH_BODY_MAX, MTR_OK, 405, PROBLEM, ALLOW,
      P405("POST") },
    { "DELETE", M("DELETE"), WEBMAIL_HEALTH_BODY_MAX, MTR_OK, 405, PROBLEM,
      ALLOW, P405("DELETE") },
    { "lower-case get is another method", M("get"), WEBMAIL_HEALTH_BODY_MAX,
      MTR_OK, 405, PROBLEM, ALLOW, P405("get") },
    { "prefix of GET", M("GE"), WEBMAIL_HEALTH_BODY_MAX, MTR_OK, 405, PROBLEM,
      ALLOW, P405("GE") },
    { "GET with a suffix", M("GETX"), WEBMAIL_HEALTH_BODY_MAX, MTR_OK, 405,
      PROBLEM, ALLOW, P405("GETX") },
    { "GET with a NUL after it", M("GET\0"), WEBMAIL_HEALTH_BODY_MAX, MTR_OK,
      405, PROBLEM, ALLOW, P405("GET?") },
    { "empty method", M(""), WEBMAIL_HEALTH_BODY_MAX, MTR_OK, 405, PROBLEM,
      ALLOW, P405("") },
    { "control and 8-bit bytes masked", M("P\r\nX-A: 1\x1b[0m\x7f\xc3\xa9"),
      WEBMAIL_HEALTH_BODY_MAX, MTR_OK, 405, PROBLEM, ALLOW,
      P405("P??X-A: 1?[0m???") },
    { "quote and backslash escaped", M("A\"B\\C"), WEBMAIL_HEALTH_BODY_MAX,
      MTR_OK, 405, PROBLEM, ALLOW, P405("A\\\"B\\\\C") },
    { "long method cut with dots",
      M("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghij"),
      WEBMAIL_HEALTH_BODY_MAX, MTR_OK, 405, PROBLEM, ALLOW,
      P405("ABCDEFGHIJKLMNOPQRSTUVWXYZ012...") },
    { "worst case fits BODY_MAX",
      M("\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\"\""
        "\"\"\"\"\""),
      WEBMAIL_HEALTH_BODY_MAX, MTR_OK, 405, PROBLEM, ALLOW, NULL },
    { "200 body exactly fits", M("GET"), sizeof(OK_BODY) - 1, MTR_OK, 200, JSON,
      "", OK_BODY },
    { "200 buffer one byte short", M("GET"), sizeof(OK_BODY) - 2, MTR_ERROR, 0,
      NULL, NULL, NULL },
    { "405 body exactly fits", M("PUT"), sizeof(P405("PUT")) - 1, MTR_OK, 405,
      PROBLEM, ALLOW, P405("PUT") },
    { "405 buffer one byte short", M("PUT"), sizeof(P405("PUT")) - 2, MTR_ERROR,
      0, NULL, NULL, NULL },
    { "405 buffer short inside the method", M("PROPFIND"),
      sizeof(P405("")) - 1 + 3, MTR_ERROR, 0, NULL, NULL, NULL },
    { "zero-size buffer", M("GET"), 0, MTR_ERROR, 0, NULL, NULL, NULL },
};

static void
test_health_table(void **state)
{
    size_t i, j;

    (void) state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const health_case_t *c = &cases[i];
        webmail_health_t     res, untouched;
        mtr_err_t            err;
        mtr_str_t            method;
        char                 buf[BIG];
        int                  rc;

        print_message("case: %s\n", c->name);
        assert_true(c->size <= BIG);

        memset(buf, 0xA5, sizeof(buf));
        memset(&res, 0x5A, sizeof(res));
        untouched = res;
        mtr_err_clear(&err);
        method.data = c->method;
        method.len = c->method_len;

        rc = webmail_health_respond(method, buf, c->size, &res, &err);
        assert_int_equal(rc, c->rc);

        /* Nothing may be written past the bytes offered. */
        for (j = c->size; j < sizeof(buf); j++) {
            assert_int_equal((unsigned char) buf[j], 0xA5);
        }

        if (rc != MTR_OK) {
            assert_memory_equal(&res, &untouched, sizeof(res));
            assert_non_null(strstr(err.msg, "too small"));
            continue;
        }

        assert_int_equal(res.status, c->status);
        assert_int_equal(res.content_type.len, strlen(c->content_type));
        assert_memory_equal(res.content_type.data, c->content_type,
                            res.content_type.len);
        assert_int_equal(res.allow.len, strlen(c->allow));
        if (res.allow.len != 0) {
            assert_memory_equal(res.allow.data, c->allow, res.allow.len);
        }
        assert_true(res.body_len <= c->size);
        assert_true(res.body_len <= WEBMAIL_HEALTH_BODY_MAX);
        if (c->body != NULL) {
            assert_int_equal(res.body_len, strlen(c->body));
            assert_memory_equal(buf, c->body, res.body_len);
        }
    }
}

static void
test_worst_case_is_the_cap(void **state)
{
    webmail_health_t res;
    mtr_str_t        method;
    char             quotes[WEBMAIL_HEALTH_METHOD_SHOW * 4];
    char             buf[WEBMAIL_HEALTH_BODY_MAX];

    (void) state;
    print_message("case: a method of quotes, longer than the echo cap\n");
    memset(quotes, '"', sizeof(quotes));
    method.data = quotes;
    method.len = sizeof(quotes);
    assert_int_equal(
        webmail_health_respond(method, buf, sizeof(buf), &res, NULL), MTR_OK);
    assert_int_equal(res.status, 405);
    /* 29 quotes escaped to 58 bytes, then "..." where the cut is. */
    assert_non_null(memmem(buf, res.body_len, "\\\"...\\\" is not", 14));
    assert_true(res.body_len <= WEBMAIL_HEALTH_BODY_MAX);
}

static void
test_bad_arguments(void **state)
{
    webmail_health_t res;
    mtr_err_t        err;
    mtr_str_t        get = mtr_string("GET");
    mtr_str_t        none = { NULL, 5 };
    char             buf[WEBMAIL_HEALTH_BODY_MAX];

    (void) state;

    print_message("case: NULL buffer\n");
    mtr_err_clear(&err);
    assert_int_equal(webmail_health_respond(get, NULL, 10, &res, &err),
                     MTR_ERROR);
    assert_non_null(strstr(err.msg, "NULL"));

    print_message("case: NULL result\n");
    assert_int_equal(webmail_health_respond(get, buf, sizeof(buf), NULL, NULL),
                     MTR_ERROR);

    print_message("case: NULL method data is an empty method\n");
    assert_int_equal(webmail_health_respond(none, buf, sizeof(buf), &res, NULL),
                     MTR_OK);
    assert_int_equal(res.status, 405);
    assert_int_equal(res.body_len, sizeof(P405("")) - 1);
    assert_memory_equal(buf, P405(""), res.body_len);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_table),
        cmocka_unit_test(test_worst_case_is_the_cap),
        cmocka_unit_test(test_bad_arguments),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
