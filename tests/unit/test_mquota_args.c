/*
 * test_mquota_args.c -- unit tests of dovecot_quota/mquota_args.c, the
 * parser of the quota backend's arguments ("host=...:port=...:pool").
 *
 * Table-driven: each case is an argument text and either the fields it
 * must yield or the words its error must hold.  Inputs are copied into an
 * exactly sized heap buffer without a NUL, so ASan catches a read past
 * the given length.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mquota_args.h"

typedef struct {
    const char   *name;
    const char   *args; /* NULL: no arguments at all */
    int           rc;
    const char   *err_has; /* a word the error must hold */
    mquota_role_e role;
    mquota_down_e down;
    const char   *host;
    int           port;
    const char   *socket;
    int           db;
    int           timeout_ms;
    const char   *password;
    int           noenforcing, hidden, ignoreunlimited, has_ns;
    const char   *ns;
} args_case_t;

#define OK(n, a, role, down, host, port, sock, db, tmo, pw)                    \
    {                                                                          \
        n, a, MTR_OK, NULL, role, down, host, port, sock, db, tmo, pw, 0, 0,   \
            0, 0, ""                                                           \
    }
#define BAD(n, a, word)                                                        \
    {                                                                          \
        n, a, MTR_ERROR, word, MQUOTA_ROLE_USER, MQUOTA_DOWN_TEMPFAIL, "", 0,  \
            "", 0, 500, "", 0, 0, 0, 0, ""                                     \
    }

#define U MQUOTA_ROLE_USER
#define P MQUOTA_ROLE_POOL
#define T MQUOTA_DOWN_TEMPFAIL
#define A MQUOTA_DOWN_ACCEPT

static const args_case_t cases[] = {
    OK("no arguments", NULL, U, T, "", 0, "", 0, 500, ""),
    OK("empty text", "", U, T, "", 0, "", 0, 500, ""),
    OK("host and port", "host=127.0.0.1:port=6380", U, T, "127.0.0.1", 6380, "",
       0, 500, ""),
    OK("pool flag", "pool:host=redis.example:port=7000", P, T, "redis.example",
       7000, "", 0, 500, ""),
    OK("explicit user role", "user", U, T, "", 0, "", 0, 500, ""),
    OK("IPv6 host in brackets", "host=[::1]:port=6379", U, T, "::1", 6379, "",
       0, 500, ""),
    OK("IPv6 host last", "port=1:host=[2001:db8::7]", U, T, "2001:db8::7", 1,
       "", 0, 500, ""),
    OK("unix socket", "socket=/run/redis/redis.sock:db=3", U, T, "", 0,
       "/run/redis/redis.sock", 3, 500, ""),
    OK("timeout and policy", "timeout_ms=250:redis_down=accept", U, A, "", 0,
       "", 0, 250, ""),
    OK("tempfail spelled out", "redis_down=tempfail", U, T, "", 0, "", 0, 500,
       ""),
    OK("password", "password=s3cr=t", U, T, "", 0, "", 0, 500, "s3cr=t"),
    OK("largest port and timeout", "port=65535:timeout_ms=60000", U, T, "",
       65535, "", 0, 60000, ""),
    { "Dovecot's generic flags", "noenforcing:hidden:ignoreunlimited:ns=INBOX/",
      MTR_OK, NULL, U, T, "", 0, "", 0, 500, "", 1, 1, 1, 1, "INBOX/" },
    { "empty ns prefix", "ns=", MTR_OK, NULL, U, T, "", 0, "", 0, 500, "", 0, 0,
      0, 1, "" },

    BAD("unknown flag", "poool", "unknown parameter 'poool'"),
    BAD("unknown key", "hots=127.0.0.1", "unknown parameter 'hots='"),
    BAD("prefix of a flag is not the flag", "noenforcing2", "unknown"),
    BAD("flag with a value", "pool=yes", "unknown parameter 'pool='"),
    BAD("port zero", "port=0", "port='0'"),
    BAD("port too big", "port=65536", "port='65536'"),
    BAD("port with sign", "port=+6379", "port="),
    BAD("port with garbage", "port=6379x", "port="),
    BAD("port empty", "port=", "empty value"),
    BAD("db too big", "db=65536", "db="),
    BAD("timeout zero", "timeout_ms=0", "timeout_ms="),
    BAD("timeout too big", "timeout_ms=60001", "timeout_ms="),
    BAD("bad policy", "redis_down=drop", "expected tempfail or accept"),
    BAD("policy case matters", "redis_down=Tempfail", "redis_down="),
    BAD("host twice", "host=a:host=b", "given twice"),
    BAD("pool twice", "pool:pool", "one role"),
    BAD("pool and user", "pool:user", "one role"),
    BAD("hidden twice", "hidden:hidden", "'hidden' given twice"),
    BAD("empty parameter", "host=a::port=1", "empty parameter"),
    BAD("trailing colon", "pool:", "empty parameter"),
    BAD("leading colon", ":pool", "empty parameter"),
    BAD("socket with host", "socket=/x.sock:host=a", "excludes"),
    BAD("socket with port", "port=1:socket=/x.sock", "excludes"),
    BAD("relative socket", "socket=redis.sock", "absolute"),
    BAD("unclosed bracket", "host=[::1:port=1", "closing"),
    BAD("text after bracket", "host=[::1]x:port=1", "after"),
    BAD("empty brackets", "host=[]", "no address"),
    BAD("not an IPv6 address", "host=[a.b-c]", "not an IPv6"),
    BAD("control byte in host", "host=a\tb", "control byte"),
    BAD("host too long",
        "host="
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "longer than 255"),
};

static void
test_parse(void **state)
{
    size_t i;

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const args_case_t *c = &cases[i];
        mquota_args_t      a;
        mtr_err_t          err;
        char              *buf = NULL;
        size_t             len = 0;
        int                rc;

        print_message("parse: %s\n", c->name);

        if (c->args != NULL) {
            len = strlen(c->args);
            buf = malloc(len > 0 ? len : 1);
            assert_non_null(buf);
            memcpy(buf, c->args, len);
        }

        memset(&a, 0x5a, sizeof(a));
        mtr_err_clear(&err);
        rc = mquota_args_parse(c->args != NULL ? buf : NULL, len, &a, &err);
        free(buf);

        assert_int_equal(rc, c->rc);

        if (rc != MTR_OK) {
            if (strstr(err.msg, c->err_has) == NULL) {
                print_message("  error was: %s\n", err.msg);
            }
            assert_non_null(strstr(err.msg, c->err_has));
            /* A failed parse leaves the defaults, never half a config. */
            assert_int_equal(a.role, MQUOTA_ROLE_USER);
            assert_int_equal(a.redis_down, MQUOTA_DOWN_TEMPFAIL);
            assert_string_equal(a.host, "");
            assert_int_equal(a.port, 0);
            assert_int_equal(a.timeout_ms, MQUOTA_TIMEOUT_DEFAULT);
            continue;
        }

        assert_int_equal(a.role, c->role);
        assert_int_equal(a.redis_down, c->down);
        assert_string_equal(a.host, c->host);
        assert_int_equal(a.port, c->port);
        assert_string_equal(a.socket, c->socket);
        assert_int_equal(a.db, c->db);
        assert_int_equal(a.timeout_ms, c->timeout_ms);
        assert_string_equal(a.password, c->password);
        assert_int_equal(a.noenforcing, c->noenforcing);
        assert_int_equal(a.hidden, c->hidden);
        assert_int_equal(a.ignoreunlimited, c->ignoreunlimited);
        assert_int_equal(a.has_ns, c->has_ns);
        assert_string_equal(a.ns, c->ns);
    }
}

static void
test_too_long(void **state)
{
    char         *buf;
    mquota_args_t a;
    mtr_err_t     err;

    (void) state;

    buf = malloc(MQUOTA_ARGS_MAX + 1);
    assert_non_null(buf);
    memset(buf, 'a', MQUOTA_ARGS_MAX + 1);
    assert_int_equal(mquota_args_parse(buf, MQUOTA_ARGS_MAX + 1, &a, &err),
                     MTR_ERROR);
    assert_non_null(strstr(err.msg, "longer than"));
    free(buf);
}

/* The parser must not read past len even when the text goes on. */
static void
test_length_is_honoured(void **state)
{
    mquota_args_t a;
    mtr_err_t     err;
    const char   *text = "pool:port=6380:bogus";

    (void) state;

    assert_int_equal(
        mquota_args_parse(text, strlen("pool:port=6380"), &a, &err), MTR_OK);
    assert_int_equal(a.role, MQUOTA_ROLE_POOL);
    assert_int_equal(a.port, 6380);
}

typedef struct {
    const char *name;
    const char *args;
    const char *want;
    size_t      size;
} describe_case_t;

static const describe_case_t describe_cases[] = {
    { "defaults", "", "127.0.0.1:6379", 128 },
    { "host and port", "host=r.example:port=7000", "r.example:7000", 128 },
    { "IPv6 in brackets", "host=[::1]:port=6380", "[::1]:6380", 128 },
    { "socket and db", "socket=/run/r.sock:db=2", "unix:/run/r.sock/2", 128 },
    { "password never shown", "password=hunter2", "127.0.0.1:6379", 128 },
    { "cut visibly", "host=very.long.example", "very...", 8 },
};

static void
test_describe(void **state)
{
    size_t i;

    (void) state;

    for (i = 0; i < sizeof(describe_cases) / sizeof(describe_cases[0]); i++) {
        const describe_case_t *c = &describe_cases[i];
        mquota_args_t          a;
        mtr_err_t              err;
        char                   buf[128];

        print_message("describe: %s\n", c->name);
        assert_int_equal(mquota_args_parse(c->args, strlen(c->args), &a, &err),
                         MTR_OK);
        memset(buf, 'X', sizeof(buf));
        mquota_args_describe(&a, buf, c->size);
        assert_string_equal(buf, c->want);
        if (c->size < sizeof(buf)) {
            assert_int_equal(buf[c->size], 'X');
        }
    }
}

typedef struct {
    const char *name;
    const char *a, *b;
    int         same;
} same_case_t;

static const same_case_t same_cases[] = {
    { "identical", "host=a:port=1", "port=1:host=a", 1 },
    { "role and policy do not matter", "host=a",
      "host=a:pool:redis_down=accept", 1 },
    { "other host", "host=a", "host=b", 0 },
    { "other port", "port=1", "port=2", 0 },
    { "other db", "db=1", "db=2", 0 },
    { "other password", "password=x", "password=y", 0 },
    { "other timeout", "timeout_ms=1", "timeout_ms=2", 0 },
    { "socket versus TCP", "socket=/s", "", 0 },
};

static void
test_same_redis(void **state)
{
    size_t i;

    (void) state;

    for (i = 0; i < sizeof(same_cases) / sizeof(same_cases[0]); i++) {
        const same_case_t *c = &same_cases[i];
        mquota_args_t      a, b;
        mtr_err_t          err;

        print_message("same redis: %s\n", c->name);
        assert_int_equal(mquota_args_parse(c->a, strlen(c->a), &a, &err),
                         MTR_OK);
        assert_int_equal(mquota_args_parse(c->b, strlen(c->b), &b, &err),
                         MTR_OK);
        assert_int_equal(mquota_args_same_redis(&a, &b), c->same);
        assert_int_equal(mquota_args_same_redis(&b, &a), c->same);
    }
}

static void
test_redis_opts(void **state)
{
    mquota_args_t    a;
    mtr_redis_opts_t o;
    mtr_err_t        err;
    const char      *text = "host=r:port=7:db=2:password=pw:timeout_ms=9";

    (void) state;

    assert_int_equal(mquota_args_parse(text, strlen(text), &a, &err), MTR_OK);
    mquota_args_redis_opts(&a, &o);
    assert_string_equal(o.host, "r");
    assert_int_equal(o.port, 7);
    assert_null(o.unix_path);
    assert_int_equal(o.db, 2);
    assert_string_equal(o.password, "pw");
    assert_int_equal(o.timeout_ms, 9);

    /* Empty fields become NULL: mtr_redis applies its own defaults. */
    assert_int_equal(mquota_args_parse("", 0, &a, &err), MTR_OK);
    mquota_args_redis_opts(&a, &o);
    assert_null(o.host);
    assert_null(o.password);
    assert_null(o.unix_path);
    assert_int_equal(o.timeout_ms, MQUOTA_TIMEOUT_DEFAULT);
    assert_string_equal(mquota_down_name(MQUOTA_DOWN_TEMPFAIL), "tempfail");
    assert_string_equal(mquota_down_name(MQUOTA_DOWN_ACCEPT), "accept");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_length_is_honoured),
        cmocka_unit_test(test_describe),
        cmocka_unit_test(test_same_redis),
        cmocka_unit_test(test_redis_opts),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
