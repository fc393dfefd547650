/*
 * test_mfilter_proto.c -- unit tests of milter_filter/mfilter_proto.c.
 *
 * Table-driven, every case named: clamd chunk framing and replies (clean,
 * found, size limit, errors, garbage, embedded NUL), SPAMC/1.5 request
 * and reply parsing (status, score, symbols, caps, malformed replies),
 * rspamd request headers and JSON replies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mfilter_proto.h"

static void
test_chunk_header(void **state)
{
    unsigned char h[4];

    (void) state;
    printf("  case: 65536 big-endian\n");
    mfilter_clamd_chunk_header(65536, h);
    assert_memory_equal(h, "\x00\x01\x00\x00", 4);
    printf("  case: zero ends the stream\n");
    mfilter_clamd_chunk_header(0, h);
    assert_memory_equal(h, "\0\0\0\0", 4);
    printf("  case: command has its NUL\n");
    assert_int_equal(MFILTER_CLAMD_INSTREAM_LEN, 10);
}

typedef struct {
    const char     *name;
    const char     *reply;
    size_t          len; /* 0: strlen + 1 (the NUL clamd sends) */
    mfilter_clamd_e rc;
    const char     *virus;
} clamd_case_t;

static const clamd_case_t clamd_cases[] = {
    { "clean", "stream: OK", 0, MFILTER_CLAMD_CLEAN, NULL },
    { "clean with newline", "stream: OK\n", 0, MFILTER_CLAMD_CLEAN, NULL },
    { "found", "stream: Eicar-Test-Signature.UNOFFICIAL FOUND", 0,
      MFILTER_CLAMD_FOUND, "Eicar-Test-Signature.UNOFFICIAL" },
    { "found, name with spaces masked", "stream: Bad Name FOUND", 0,
      MFILTER_CLAMD_FOUND, "Bad_Name" },
    { "size limit", "INSTREAM size limit exceeded. ERROR", 0,
      MFILTER_CLAMD_SIZE_LIMIT, NULL },
    { "other error", "stream: Can't allocate memory ERROR", 0,
      MFILTER_CLAMD_ERROR, NULL },
    { "empty", "", 1, MFILTER_CLAMD_ERROR, NULL },
    { "found without name", "stream:  FOUND", 0, MFILTER_CLAMD_ERROR, NULL },
    { "garbage", "HTTP/1.1 400 Bad Request", 0, MFILTER_CLAMD_ERROR, NULL },
    { "NUL inside name", "stream: A\0B FOUND", 16, MFILTER_CLAMD_ERROR, NULL },
};

static void
test_clamd_parse(void **state)
{
    size_t    i;
    char      virus[MFILTER_VIRUS_MAX + 1];
    mtr_err_t err;

    (void) state;
    for (i = 0; i < sizeof(clamd_cases) / sizeof(clamd_cases[0]); i++) {
        const clamd_case_t *c = &clamd_cases[i];
        size_t              len = c->len ? c->len : strlen(c->reply) + 1;

        printf("  case: %s\n", c->name);
        virus[0] = '\0';
        assert_int_equal(
            mfilter_clamd_parse(c->reply, len, virus, sizeof(virus), &err),
            c->rc);
        if (c->virus != NULL) {
            assert_string_equal(virus, c->virus);
        }
        if (c->rc == MFILTER_CLAMD_ERROR) {
            assert_non_null(strstr(err.msg, "clamd"));
        }
    }
}

static void
test_spamc_request(void **state)
{
    char      buf[256];
    size_t    len;
    mtr_err_t err;

    (void) state;
    printf("  case: plain\n");
    assert_int_equal(
        mfilter_spamc_request(buf, sizeof(buf), 1234, NULL, &len, &err),
        MTR_OK);
    assert_string_equal(buf,
                        "SYMBOLS SPAMC/1.5\r\nContent-length: 1234\r\n\r\n");
    assert_int_equal(len, strlen(buf));
    printf("  case: with user\n");
    assert_int_equal(
        mfilter_spamc_request(buf, sizeof(buf), 1, "alice", &len, &err),
        MTR_OK);
    assert_non_null(strstr(buf, "User: alice\r\n\r\n"));
    printf("  case: user with CRLF refused\n");
    assert_int_equal(
        mfilter_spamc_request(buf, sizeof(buf), 1, "a\r\nb", &len, &err),
        MTR_ERROR);
    printf("  case: buffer too small\n");
    assert_int_equal(mfilter_spamc_request(buf, 10, 1, NULL, &len, &err),
                     MTR_ERROR);
}

typedef struct {
    const char *name;
    const char *reply;
    int         rc;
    int32_t     score;
    const char *rules;
} spamc_case_t;

static const spamc_case_t spamc_cases[] = {
    { "gtube",
      "SPAMD/1.1 0 EX_OK\r\nContent-length: 18\r\nSpam: True ; 1003.3 / "
      "5.0\r\n\r\nGTUBE,NO_RECEIVED\r\n",
      MTR_OK, 1003300, "GTUBE,NO_RECEIVED" },
    { "ham, no rules",
      "SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\nSpam: False ; 0.0 / "
      "5.0\r\n\r\n",
      MTR_OK, 0, "" },
    { "negative score",
      "SPAMD/1.1 0 EX_OK\r\nSpam: False ; -2.5 / 5.0\r\n\r\nALL_TRUSTED",
      MTR_OK, -2500, "ALL_TRUSTED" },
    { "header case-insensitive",
      "SPAMD/1.1 0 EX_OK\r\nspam: yes ; 6.1 / 5.0\r\n\r\nX", MTR_OK, 6100,
      "X" },
    { "rule names masked",
      "SPAMD/1.1 0 EX_OK\r\nSpam: True ; 6 / 5\r\n\r\nA B,C\x01", MTR_OK, 6000,
      "A_B,C_" },
    { "error status", "SPAMD/1.0 76 Bad header line: x\r\n\r\n", MTR_ERROR, 0,
      NULL },
    { "no Spam header", "SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\n\r\n",
      MTR_ERROR, 0, NULL },
    { "malformed score", "SPAMD/1.1 0 EX_OK\r\nSpam: True ; lots / 5\r\n\r\n",
      MTR_ERROR, 0, NULL },
    { "no header end", "SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1 / 5\r\n", MTR_ERROR,
      0, NULL },
    { "not spamd", "HTTP/1.1 200 OK\r\n\r\n", MTR_ERROR, 0, NULL },
    { "empty", "", MTR_ERROR, 0, NULL },
};

static void
test_spamc_parse(void **state)
{
    size_t    i;
    int32_t   score;
    char      rules[MFILTER_RULES_MAX + 1];
    mtr_err_t err;

    (void) state;
    for (i = 0; i < sizeof(spamc_cases) / sizeof(spamc_cases[0]); i++) {
        const spamc_case_t *c = &spamc_cases[i];

        printf("  case: %s\n", c->name);
        score = 42;
        assert_int_equal(mfilter_spamc_parse(c->reply, strlen(c->reply), &score,
                                             rules, sizeof(rules), &err),
                         c->rc);
        if (c->rc == MTR_OK) {
            assert_int_equal(score, c->score);
            assert_string_equal(rules, c->rules);
        }
    }
}

static void
test_spamc_caps(void **state)
{
    char       *big;
    size_t      n = MFILTER_SPAMD_REPLY_MAX + 1, hl, i;
    int32_t     score;
    char        rules[64];
    mtr_err_t   err;
    const char *head = "SPAMD/1.1 0 EX_OK\r\nSpam: True ; 9 / 5\r\n\r\n";

    (void) state;
    printf("  case: reply over the cap refused\n");
    big = malloc(n);
    assert_non_null(big);
    memset(big, 'A', n);
    memcpy(big, head, strlen(head));
    assert_int_equal(
        mfilter_spamc_parse(big, n, &score, rules, sizeof(rules), &err),
        MTR_ERROR);
    printf("  case: long rule list cut visibly\n");
    hl = strlen(head);
    for (i = hl; i < 2000; i++) {
        big[i] = (i % 7 == 0) ? ',' : 'R';
    }
    assert_int_equal(
        mfilter_spamc_parse(big, 2000, &score, rules, sizeof(rules), &err),
        MTR_OK);
    assert_true(strlen(rules) < sizeof(rules));
    assert_non_null(strstr(rules, "..."));
    free(big);
}

typedef struct {
    const char *name;
    const char *reply;
    int         complete;
} complete_case_t;

static const complete_case_t complete_cases[] = {
    { "headers not ended", "SPAMD/1.1 0 EX_OK\r\nContent-length: 5\r\n", 0 },
    { "body short", "SPAMD/1.1 0 EX_OK\r\nContent-length: 5\r\n\r\nABC", 0 },
    { "body whole", "SPAMD/1.1 0 EX_OK\r\nContent-length: 5\r\n\r\nABCDE", 1 },
    { "no length: headers suffice", "SPAMD/1.0 76 Bad header\r\n\r\n", 1 },
    { "lowercase header", "SPAMD/1.1 0 EX_OK\r\ncontent-length: 0\r\n\r\n", 1 },
    { "malformed length: parser decides",
      "SPAMD/1.1 0 EX_OK\r\nContent-length: x\r\n\r\n", 1 },
    { "empty", "", 0 },
};

static void
test_reply_complete(void **state)
{
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(complete_cases) / sizeof(complete_cases[0]); i++) {
        printf("  case: %s\n", complete_cases[i].name);
        assert_int_equal(
            mfilter_reply_complete(complete_cases[i].reply,
                                   strlen(complete_cases[i].reply)),
            complete_cases[i].complete);
    }
}

static void
test_rspamd_request(void **state)
{
    char                  buf[512];
    size_t                len;
    mtr_err_t             err;
    const char *const     rcpts[] = { "a@x.test", "b@x.test", NULL };
    mfilter_rspamd_meta_t m = { "ABC123",    "s@y.test", "127.1.0.1",
                                "helo.test", NULL,       rcpts };

    (void) state;
    printf("  case: full meta\n");
    assert_int_equal(
        mfilter_rspamd_request(buf, sizeof(buf), 99, &m, &len, &err), MTR_OK);
    assert_true(
        strncmp(buf, "POST /checkv2 HTTP/1.0\r\nContent-Length: 99\r\n", 44)
        == 0);
    assert_non_null(strstr(buf, "Queue-Id: ABC123\r\n"));
    assert_non_null(strstr(buf, "Rcpt: b@x.test\r\n"));
    assert_int_equal(len, strlen(buf));
    assert_string_equal(buf + len - 4, "\r\n\r\n");
    printf("  case: header injection refused\n");
    m.helo = "evil\r\nX-Bad: 1";
    assert_int_equal(
        mfilter_rspamd_request(buf, sizeof(buf), 99, &m, &len, &err),
        MTR_ERROR);
    printf("  case: too small\n");
    assert_int_equal(mfilter_rspamd_request(buf, 30, 99, NULL, &len, &err),
                     MTR_ERROR);
}

typedef struct {
    const char *name;
    const char *reply;
    int         rc;
    int32_t     score;
    const char *rules;
} rspamd_case_t;

static const rspamd_case_t rspamd_cases[] = {
    { "gtube",
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n"
      "{\"is_skipped\":false,\"score\":15.5,\"required_score\":15,"
      "\"action\":\"reject\",\"symbols\":{\"GTUBE\":{\"score\":0},"
      "\"MISSING_DATE\":{\"score\":1}}}",
      MTR_OK, 15500, "GTUBE,MISSING_DATE" },
    { "no symbols", "HTTP/1.0 200 OK\r\n\r\n{\"score\":-1.25}", MTR_OK, -1250,
      "" },
    { "skipped", "HTTP/1.1 200 OK\r\n\r\n{\"is_skipped\":true,\"score\":0}",
      MTR_DECLINED, 0, NULL },
    { "http error", "HTTP/1.1 500 Internal\r\n\r\n{}", MTR_ERROR, 0, NULL },
    { "bad json", "HTTP/1.1 200 OK\r\n\r\n{\"score\":", MTR_ERROR, 0, NULL },
    { "json not object", "HTTP/1.1 200 OK\r\n\r\n[1]", MTR_ERROR, 0, NULL },
    { "score not number", "HTTP/1.1 200 OK\r\n\r\n{\"score\":\"7\"}", MTR_ERROR,
      0, NULL },
    { "score absurd", "HTTP/1.1 200 OK\r\n\r\n{\"score\":1e300}", MTR_ERROR, 0,
      NULL },
    { "not http", "SPAMD/1.1 0 EX_OK\r\n\r\n", MTR_ERROR, 0, NULL },
};

static void
test_rspamd_parse(void **state)
{
    size_t    i;
    int32_t   score;
    char      rules[MFILTER_RULES_MAX + 1];
    mtr_err_t err;

    (void) state;
    for (i = 0; i < sizeof(rspamd_cases) / sizeof(rspamd_cases[0]); i++) {
        const rspamd_case_t *c = &rspamd_cases[i];

        printf("  case: %s\n", c->name);
        assert_int_equal(mfilter_rspamd_parse(c->reply, strlen(c->reply),
                                              &score, rules, sizeof(rules),
                                              &err),
                         c->rc);
        if (c->rc == MTR_OK) {
            assert_int_equal(score, c->score);
            assert_string_equal(rules, c->rules);
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunk_header),
        cmocka_unit_test(test_clamd_parse),
        cmocka_unit_test(test_spamc_request),
        cmocka_unit_test(test_spamc_parse),
        cmocka_unit_test(test_spamc_caps),
        cmocka_unit_test(test_reply_complete),
        cmocka_unit_test(test_rspamd_request),
        cmocka_unit_test(test_rspamd_parse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
