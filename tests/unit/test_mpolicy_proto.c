/*
 * test_mpolicy_proto.c -- unit tests of milter_filter/mpolicy_proto.c, the
 * Postfix policy delegation protocol: requests parsed whole, in pieces and
 * back to back; every cap at its limit and one past it; replies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mpolicy_proto.h"

#define S(s) s, sizeof(s) - 1

#define RCPT                                                                   \
    "request=smtpd_access_policy\n"                                            \
    "protocol_state=RCPT\n"                                                    \
    "protocol_name=ESMTP\n"                                                    \
    "client_address=192.0.2.1\n"                                               \
    "client_name=mx.example.org\n"                                             \
    "helo_name=mx.example.org\n"                                               \
    "sender=a@example.org\n"                                                   \
    "recipient=bob@example.test\n"                                             \
    "recipient_count=0\n"                                                      \
    "queue_id=\n"                                                              \
    "instance=12.34.56.0\n"                                                    \
    "size=12345\n"                                                             \
    "etrn_domain=\n"                                                           \
    "stress=\n"                                                                \
    "sasl_method=\n"                                                           \
    "sasl_username=\n"                                                         \
    "ccert_subject=\n"                                                         \
    "encryption_protocol=TLSv1.3\n"                                            \
    "policy_context=\n"                                                        \
    "server_address=127.0.0.1\n"                                               \
    "server_port=25\n"                                                         \
    "compatibility_level=3.6\n"                                                \
    "mail_version=3.7.11\n"                                                    \
    "\n"

typedef struct {
    const char *name;
    const char *in;
    size_t      len;
    int         rc;
    size_t      used;
    const char *recipient; /* NULL: absent */
    const char *state;
    const char *sasl;
    size_t      nattrs;
} parse_case_t;

static const parse_case_t parse_cases[] = {
    { "full Postfix 3.7 request", S(RCPT), MTR_OK, sizeof(RCPT) - 1,
      "bob@example.test", "RCPT", "", 23 },
    { "request followed by the next one", S(RCPT "request=x\n"), MTR_OK,
      sizeof(RCPT) - 1, "bob@example.test", "RCPT", "", 23 },
    { "unknown attributes are skipped",
      S("future_thing=1\nrecipient=a@b\nx.y-z=2\n\n"), MTR_OK, 38, "a@b", NULL,
      NULL, 3 },
    { "value may hold '=' and blanks", S("recipient=a=b c@d\n\n"), MTR_OK, 19,
      "a=b c@d", NULL, NULL, 1 },
    { "empty value", S("recipient=\n\n"), MTR_OK, 12, "", NULL, NULL, 1 },
    { "empty request", S("\n"), MTR_OK, 1, NULL, NULL, NULL, 0 },
    { "sasl_username kept", S("sasl_username=alice@example.test\n\n"), MTR_OK,
      34, NULL, NULL, "alice@example.test", 1 },
    { "CR is part of the value", S("protocol_state=RCPT\r\n\n"), MTR_OK, 22,
      NULL, "RCPT\r", NULL, 1 },
    { "no bytes yet", S(""), MTR_AGAIN, 0, NULL, NULL, NULL, 0 },
    { "no ending empty line", S("recipient=a@b\n"), MTR_AGAIN, 0, NULL, NULL,
      NULL, 0 },
    { "line cut short", S("recipient=a@b"), MTR_AGAIN, 0, NULL, NULL, NULL, 0 },
    { "line without =", S("recipient\n\n"), MTR_ERROR, 0, NULL, NULL, NULL, 0 },
    { "empty name", S("=x\n\n"), MTR_ERROR, 0, NULL, NULL, NULL, 0 },
    { "name with a blank", S("re cipient=x\n\n"), MTR_ERROR, 0, NULL, NULL,
      NULL, 0 },
    { "name with 8-bit byte", S("r\xc3\xa9=x\n\n"), MTR_ERROR, 0, NULL, NULL,
      NULL, 0 },
    { "known attribute twice", S("recipient=a@b\nrecipient=c@d\n\n"), MTR_ERROR,
      0, NULL, NULL, NULL, 0 },
    { "unknown attribute twice is fine", S("zz=1\nzz=2\n\n"), MTR_OK, 11, NULL,
      NULL, NULL, 2 },
    { "NUL in a value", S("recipient=a\0b\n\n"), MTR_ERROR, 0, NULL, NULL, NULL,
      0 },
    { "NUL in an unknown value", S("zz=\0\n\n"), MTR_ERROR, 0, NULL, NULL, NULL,
      0 },
};

static void
test_parse(void **state)
{
    mpolicy_request_t req;
    mtr_err_t         err;
    size_t            i, used;
    int               rc;

    (void) state;

    for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
        const parse_case_t *c = &parse_cases[i];

        print_message("case: parse: %s\n", c->name);
        used = 999999;
        mtr_err_clear(&err);
        rc = mpolicy_proto_parse(c->in, c->len, &req, &used, &err);
        assert_int_equal(rc, c->rc);

        if (rc == MTR_ERROR) {
            assert_true(err.msg[0] != '\0');
            continue;
        }
        if (rc == MTR_AGAIN) {
            assert_int_equal(used, 999999);
            continue;
        }

        assert_int_equal(used, c->used);
        assert_int_equal(req.nattrs, c->nattrs);

        if (c->recipient == NULL) {
            assert_null(req.recipient.data);
        } else {
            assert_int_equal(req.recipient.len, strlen(c->recipient));
            assert_memory_equal(req.recipient.data, c->recipient,
                                req.recipient.len);
        }
        if (c->state != NULL) {
            assert_int_equal(req.protocol_state.len, strlen(c->state));
            assert_memory_equal(req.protocol_state.data, c->state,
                                req.protocol_state.len);
        }
        if (c->sasl != NULL) {
            assert_int_equal(req.sasl_username.len, strlen(c->sasl));
            assert_memory_equal(req.sasl_username.data, c->sasl,
                                req.sasl_username.len);
        }
    }
}

static void
test_parse_all_fields(void **state)
{
    static const struct {
        const char *name;
        size_t      offset;
        const char *value;
    } fields[] = {
        { "request", offsetof(mpolicy_request_t, request),
          "smtpd_access_policy" },
        { "protocol_state", offsetof(mpolicy_request_t, protocol_state),
          "RCPT" },
        { "protocol_name", offsetof(mpolicy_request_t, protocol_name),
          "ESMTP" },
        { "queue_id", offsetof(mpolicy_request_t, queue_id), "" },
        { "instance", offsetof(mpolicy_request_t, instance), "12.34.56.0" },
        { "sender", offsetof(mpolicy_request_t, sender), "a@example.org" },
        { "recipient", offsetof(mpolicy_request_t, recipient),
          "bob@example.test" },
        { "recipient_count", offsetof(mpolicy_request_t, recipient_count),
          "0" },
        { "client_address", offsetof(mpolicy_request_t, client_address),
          "192.0.2.1" },
        { "client_name", offsetof(mpolicy_request_t, client_name),
          "mx.example.org" },
        { "helo_name", offsetof(mpolicy_request_t, helo_name),
          "mx.example.org" },
        { "sasl_username", offsetof(mpolicy_request_t, sasl_username), "" },
        { "size", offsetof(mpolicy_request_t, size), "12345" },
    };
    mpolicy_request_t req;
    size_t            used, i;

    (void) state;

    assert_int_equal(
        mpolicy_proto_parse(RCPT, sizeof(RCPT) - 1, &req, &used, NULL), MTR_OK);

    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        const mtr_str_t *v =
            (const mtr_str_t *) ((const char *) &req + fields[i].offset);

        print_message("case: field: %s\n", fields[i].name);
        assert_non_null(v->data);
        assert_int_equal(v->len, strlen(fields[i].value));
        assert_memory_equal(v->data, fields[i].value, v->len);
    }
}

/* Every prefix of a request is MTR_AGAIN; the whole is MTR_OK. */
static void
test_parse_in_pieces(void **state)
{
    mpolicy_request_t req;
    size_t            n, used;
    char             *copy;

    (void) state;

    print_message("case: pieces: every prefix of a request\n");
    for (n = 0; n < sizeof(RCPT) - 1; n++) {
        /* A copy of exactly n bytes: ASan catches a read past them. */
        copy = malloc(n + 1);
        assert_non_null(copy);
        memcpy(copy, RCPT, n);
        assert_int_equal(mpolicy_proto_parse(copy, n, &req, &used, NULL),
                         MTR_AGAIN);
        free(copy);
    }
    assert_int_equal(mpolicy_proto_parse(RCPT, n, &req, &used, NULL), MTR_OK);
    assert_int_equal(used, n);
}

/* Build "<name>=<value of vlen bytes>\n" repeated, then the empty line. */
static char *
make_request(size_t nlines, size_t vlen, int terminate, size_t *len_r)
{
    size_t line = 2 + vlen + 1, len = nlines * line + (terminate ? 1 : 0), i;
    char  *p = malloc(len + 1), *q;

    assert_non_null(p);
    q = p;
    for (i = 0; i < nlines; i++) {
        *q++ = 'z';
        *q++ = '=';
        memset(q, 'v', vlen);
        q += vlen;
        *q++ = '\n';
    }
    if (terminate) {
        *q++ = '\n';
    }
    *len_r = len;
    return p;
}

static void
test_caps(void **state)
{
    static const struct {
        const char *name;
        size_t      nlines;
        size_t      vlen;
        int         terminate;
        int         rc;
    } cases[] = {
        /* A line is "z=" + value: MPOLICY_LINE_MAX bytes at vlen - 2. */
        { "line of MPOLICY_LINE_MAX bytes", 1, MPOLICY_LINE_MAX - 2, 1,
          MTR_OK },
        { "line one byte longer", 1, MPOLICY_LINE_MAX - 1, 1, MTR_ERROR },
        { "over-long line refused before its end", 1, MPOLICY_LINE_MAX - 1, 0,
          MTR_ERROR },
        { "line at the cap, unfinished", 1, MPOLICY_LINE_MAX - 2, 0,
          MTR_AGAIN },
        { "MPOLICY_ATTRS_MAX attributes", MPOLICY_ATTRS_MAX, 1, 1, MTR_OK },
        { "one attribute more", MPOLICY_ATTRS_MAX + 1, 1, 1, MTR_ERROR },
        /* 100 lines of 300 + 3 bytes: 30,300 bytes, under 32,768. */
        { "long request under MPOLICY_REQUEST_MAX", 100, 300, 1, MTR_OK },
        /* 120 lines of 300 + 3 bytes: 36,360 bytes. */
        { "request over MPOLICY_REQUEST_MAX", 120, 300, 1, MTR_ERROR },
        { "unfinished request over the cap", 120, 300, 0, MTR_ERROR },
    };
    mpolicy_request_t req;
    mtr_err_t         err;
    size_t            i, len, used;
    char             *p;

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("case: caps: %s\n", cases[i].name);
        p = make_request(cases[i].nlines, cases[i].vlen, cases[i].terminate,
                         &len);
        mtr_err_clear(&err);
        assert_int_equal(mpolicy_proto_parse(p, len, &req, &used, &err),
                         cases[i].rc);
        if (cases[i].rc == MTR_OK) {
            assert_int_equal(used, len);
            assert_int_equal(req.nattrs, cases[i].nlines);
        }
        if (cases[i].rc == MTR_ERROR) {
            assert_true(err.msg[0] != '\0');
        }
        free(p);
    }

    print_message("case: caps: exactly MPOLICY_REQUEST_MAX bytes\n");
    {
        /* 2 + v + 1 per line, one empty line: fill to the byte. */
        size_t total = MPOLICY_REQUEST_MAX, lines = 16;
        size_t vlen = (total - 1) / lines - 3, rest;

        p = make_request(lines, vlen, 1, &len);
        rest = total - len;
        free(p);
        /* Spread the remainder over the first line's value. */
        p = malloc(total);
        assert_non_null(p);
        {
            size_t o = 0, k;

            for (k = 0; k < lines; k++) {
                size_t v = vlen + (k == 0 ? rest : 0);

                p[o++] = 'z';
                p[o++] = '=';
                memset(p + o, 'v', v);
                o += v;
                p[o++] = '\n';
            }
            p[o++] = '\n';
            assert_int_equal(o, total);
        }
        assert_int_equal(mpolicy_proto_parse(p, total, &req, &used, NULL),
                         MTR_OK);
        assert_int_equal(used, total);
        free(p);
    }
}

static void
test_state(void **state)
{
    static const struct {
        const char     *name;
        const char     *in;
        mpolicy_state_e st;
    } cases[] = {
        { "RCPT", "RCPT", MPOLICY_STATE_RCPT },
        { "CONNECT", "CONNECT", MPOLICY_STATE_CONNECT },
        { "HELO", "HELO", MPOLICY_STATE_EHLO },
        { "EHLO", "EHLO", MPOLICY_STATE_EHLO },
        { "MAIL", "MAIL", MPOLICY_STATE_MAIL },
        { "DATA", "DATA", MPOLICY_STATE_DATA },
        { "BDAT", "BDAT", MPOLICY_STATE_BDAT },
        { "END-OF-MESSAGE", "END-OF-MESSAGE", MPOLICY_STATE_END_OF_MESSAGE },
        { "VRFY", "VRFY", MPOLICY_STATE_VRFY },
        { "ETRN", "ETRN", MPOLICY_STATE_ETRN },
        { "lower case is not RCPT", "rcpt", MPOLICY_STATE_UNKNOWN },
        { "prefix is not RCPT", "RCP", MPOLICY_STATE_UNKNOWN },
        { "longer is not RCPT", "RCPTX", MPOLICY_STATE_UNKNOWN },
        { "empty", "", MPOLICY_STATE_UNKNOWN },
    };
    size_t i;

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mtr_str_t s = { cases[i].in, strlen(cases[i].in) };

        print_message("case: state: %s\n", cases[i].name);
        assert_int_equal(mpolicy_proto_state(s), cases[i].st);
    }
}

static void
test_reply(void **state)
{
    static char long_action[MPOLICY_ACTION_MAX + 2];
    static char max_action[MPOLICY_ACTION_MAX + 1];
    static const struct {
        const char *name;
        const char *action;
        size_t      size; /* 0: MPOLICY_REPLY_MAX + 1 */
        int         rc;
        const char *out;
    } cases[] = {
        { "DUNNO", "DUNNO", 0, MTR_OK, "action=DUNNO\n\n" },
        { "reject with text", "552 5.2.2 Mailbox full", 0, MTR_OK,
          "action=552 5.2.2 Mailbox full\n\n" },
        { "exact fit", "DUNNO", sizeof("action=DUNNO\n\n"), MTR_OK,
          "action=DUNNO\n\n" },
        { "one byte short", "DUNNO", sizeof("action=DUNNO\n\n") - 1, MTR_ERROR,
          NULL },
        { "empty action", "", 0, MTR_ERROR, NULL },
        { "newline would end the reply", "DUNNO\n\naction=OK", 0, MTR_ERROR,
          NULL },
        { "control byte", "DUN\x01NO", 0, MTR_ERROR, NULL },
        { "8-bit byte", "450 \xc3\xa9", 0, MTR_ERROR, NULL },
        { "longest action", max_action, 0, MTR_OK, NULL },
        { "action one byte too long", long_action, 0, MTR_ERROR, NULL },
    };
    char      buf[MPOLICY_REPLY_MAX + 1];
    mtr_err_t err;
    size_t    i, len;

    (void) state;

    memset(long_action, 'A', sizeof(long_action) - 1);
    memset(max_action, 'A', sizeof(max_action) - 1);

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t size = cases[i].size != 0 ? cases[i].size : sizeof(buf);

        print_message("case: reply: %s\n", cases[i].name);
        len = 999;
        mtr_err_clear(&err);
        assert_int_equal(
            mpolicy_proto_reply(buf, size, cases[i].action, &len, &err),
            cases[i].rc);
        if (cases[i].rc == MTR_OK) {
            assert_int_equal(len, strlen(buf));
            assert_int_equal(buf[len - 1], '\n');
            assert_int_equal(buf[len - 2], '\n');
            if (cases[i].out != NULL) {
                assert_string_equal(buf, cases[i].out);
            }
            assert_true(len <= MPOLICY_REPLY_MAX);
        } else {
            assert_int_equal(len, 999);
            assert_true(err.msg[0] != '\0');
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_all_fields),
        cmocka_unit_test(test_parse_in_pieces),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_state),
        cmocka_unit_test(test_reply),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
