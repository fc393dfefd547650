/*
 * test_mtr_redis.c -- unit tests of shared/src/mtr_redis.c.
 *
 * The key builder is tested table-driven.  The client is tested against
 * hiredis mocked at link time (tests/unit/test_mtr_redis.flags): every
 * command that would reach Redis is logged as its space-joined arguments
 * (redisvCommand formats go through hiredis' own redisvFormatCommand, so
 * %b really is binary-safe), and each reply is queued with will_return(),
 * so an unexpected extra command -- a resend -- fails the test.  Contexts
 * and replies are heap objects counted in mock.live: ASan and the counter
 * catch leaks, double frees and use after redisFree.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <cmocka.h>

#include "mtr_redis.h"

#define SHA1 "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
#define SHA2 "a42059b356c875f0717db19a51f6aaca9ae659ea"

/* ---- key builder ------------------------------------------------------ */

typedef struct {
    const char *name;
    const char *area;
    const char *domain;
    size_t      domain_len;
    const char *rest;
    size_t      rest_len;
    size_t      size; /* 0: generous */
    int         rc;
    const char *out;
} key_case_t;

#define S(s) s, sizeof(s) - 1

static const key_case_t key_cases[] = {
    { "area, domain and rest", "quota", S("example.org"), S("alice"), 0, MTR_OK,
      "mortar:quota:{example.org}:alice" },
    { "empty rest", "quota", S("example.org"), S(""), 0, MTR_OK,
      "mortar:quota:{example.org}" },
    { "domain lowercased", "quota", S("ExAmPlE.ORG"), S("Bob"), 0, MTR_OK,
      "mortar:quota:{example.org}:Bob" },
    { "UTF-8 domain kept", "quota",
      S("b\xc3\xbc"
        "cher.de"),
      S("x"), 0, MTR_OK,
      "mortar:quota:{b\xc3\xbc"
      "cher.de}:x" },
    { "rest may hold braces and colons", "rl", S("a.b"), S("{x}:y"), 0, MTR_OK,
      "mortar:rl:{a.b}:{x}:y" },
    { "empty domain", "quota", S(""), S("x"), 0, MTR_ERROR, NULL },
    { "domain with {", "quota", S("a{b"), S("x"), 0, MTR_ERROR, NULL },
    { "domain with }", "quota", S("a}b"), S("x"), 0, MTR_ERROR, NULL },
    { "domain with NUL", "quota", S("a\0b"), S("x"), 0, MTR_ERROR, NULL },
    { "domain with space", "quota", S("a b"), S("x"), 0, MTR_ERROR, NULL },
    { "domain with tab", "quota", S("a\tb"), S("x"), 0, MTR_ERROR, NULL },
    { "domain with newline", "quota", S("a\nb"), S("x"), 0, MTR_ERROR, NULL },
    { "domain with CR", "quota", S("a\rb"), S("x"), 0, MTR_ERROR, NULL },
    { "domain with DEL", "quota", S("a\x7f"), S("x"), 0, MTR_ERROR, NULL },
    { "rest with NUL", "quota", S("a.b"), S("x\0y"), 0, MTR_ERROR, NULL },
    { "empty area", "", S("a.b"), S("x"), 0, MTR_ERROR, NULL },
    { "area with colon", "a:b", S("a.b"), S("x"), 0, MTR_ERROR, NULL },
    { "area with brace", "a{", S("a.b"), S("x"), 0, MTR_ERROR, NULL },
    /* "mortar:q:{a.b}:x" is 16 bytes, 17 with the NUL. */
    { "exact fit", "q", S("a.b"), S("x"), 17, MTR_OK, "mortar:q:{a.b}:x" },
    { "one byte short", "q", S("a.b"), S("x"), 16, MTR_ERROR, NULL },
    { "short by the colon", "q", S("a.b"), S("x"), 15, MTR_ERROR, NULL },
    /* "mortar:q:{a.b}" is 14 bytes, 15 with the NUL. */
    { "exact fit, empty rest", "q", S("a.b"), S(""), 15, MTR_OK,
      "mortar:q:{a.b}" },
    { "one byte short, empty rest", "q", S("a.b"), S(""), 14, MTR_ERROR, NULL },
    { "tiny buffer", "q", S("a.b"), S("x"), 1, MTR_ERROR, NULL },
};

static void
test_key(void **state)
{
    char      buf[128];
    size_t    i, size, len;
    mtr_err_t err;
    int       rc;

    (void) state;

    for (i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
        const key_case_t *c = &key_cases[i];
        mtr_str_t         domain = { c->domain, c->domain_len };
        mtr_str_t         rest = { c->rest, c->rest_len };

        print_message("key: %s\n", c->name);
        size = c->size != 0 ? c->size : sizeof(buf);
        memset(buf, 'X', sizeof(buf));
        len = 999;
        mtr_err_clear(&err);

        rc = mtr_redis_key(buf, size, c->area, domain, rest, &len, &err);
        assert_int_equal(rc, c->rc);

        if (c->rc == MTR_OK) {
            assert_string_equal(buf, c->out);
            assert_int_equal(len, strlen(c->out));
        } else {
            assert_true(err.msg[0] != '\0');
            assert_int_equal(len, 999);
            assert_int_equal(buf[0], '\0');
        }

        if (size < sizeof(buf)) {
            assert_int_equal(buf[size], 'X');
        }
    }

    print_message("key: domain longer than MTR_REDIS_DOMAIN_MAX\n");
    {
        char      big[MTR_REDIS_DOMAIN_MAX + 2], out[512];
        mtr_str_t domain = { big, MTR_REDIS_DOMAIN_MAX };
        mtr_str_t rest = { NULL, 0 };

        memset(big, 'a', sizeof(big));
        assert_int_equal(
            mtr_redis_key(out, sizeof(out), "q", domain, rest, NULL, NULL),
            MTR_OK);
        domain.len = MTR_REDIS_DOMAIN_MAX + 1;
        assert_int_equal(
            mtr_redis_key(out, sizeof(out), "q", domain, rest, NULL, &err),
            MTR_ERROR);
    }

    print_message("key: huge rest length does not wrap around\n");
    {
        mtr_str_t domain = { "a.b", 3 };
        mtr_str_t rest = { "x", SIZE_MAX };

        /* Refused by the size check before rest is read. */
        assert_int_equal(
            mtr_redis_key(buf, sizeof(buf), "q", domain, rest, NULL, &err),
            MTR_ERROR);
    }
}

/* ---- hiredis mocks ---------------------------------------------------- */

typedef struct {
    int         type;
    const char *str;
    long long   integer;
} mock_reply_t;

static const mock_reply_t r_ok = { REDIS_REPLY_STATUS, "OK", 0 };
static const mock_reply_t r_one = { REDIS_REPLY_INTEGER, NULL, 1 };
static const mock_reply_t r_bar = { REDIS_REPLY_STRING, "bar", 0 };
static const mock_reply_t r_nil = { REDIS_REPLY_NIL, NULL, 0 };
static const mock_reply_t r_sha1 = { REDIS_REPLY_STRING, SHA1, 0 };
static const mock_reply_t r_sha2 = { REDIS_REPLY_STRING, SHA2, 0 };
static const mock_reply_t r_wrongtype = {
    REDIS_REPLY_ERROR,
    "WRONGTYPE Operation against a key holding the wrong kind of value", 0
};
static const mock_reply_t r_noauth = { REDIS_REPLY_ERROR,
                                       "WRONGPASS invalid password", 0 };
static const mock_reply_t r_noscript = {
    REDIS_REPLY_ERROR, "NOSCRIPT No matching script. Please use EVAL.", 0
};
static const mock_reply_t r_script_err = { REDIS_REPLY_ERROR,
                                           "ERR Error running script\r\nforged",
                                           0 };

/* Queue this to make the next command fail with an I/O error. */
#define IO_ERROR ((const mock_reply_t *) NULL)

#define MOCK_LOG_MAX 32

static struct {
    int            live;
    int            connects, unix_connects, set_timeouts, frees;
    int            connect_fail; /* next connects fail while > 0 */
    char           host[64], path[64];
    int            port;
    struct timeval connect_tv, command_tv;
    redisContext  *last; /* the context commands must run on */
    char           log[MOCK_LOG_MAX][256];
    int            nlog;
} mock;

static void *
mock_alloc(size_t size)
{
    void *p = calloc(1, size);

    assert_non_null(p);
    mock.live++;
    return p;
}

static void
mock_free(void *p)
{
    if (p != NULL) {
        mock.live--;
        free(p);
    }
}

redisContext *__wrap_redisConnectWithTimeout(const char *ip, int port,
                                             const struct timeval tv);
redisContext *__wrap_redisConnectUnixWithTimeout(const char          *path,
                                                 const struct timeval tv);
int           __wrap_redisSetTimeout(redisContext *c, const struct timeval tv);
void          __wrap_redisFree(redisContext *c);
void *__wrap_redisvCommand(redisContext *c, const char *format, va_list ap);
void *__wrap_redisCommandArgv(redisContext *c, int argc, const char **argv,
                              const size_t *argvlen);
void  __wrap_freeReplyObject(void *reply);

static redisContext *
mock_context(void)
{
    redisContext *c = mock_alloc(sizeof(*c));

    if (mock.connect_fail > 0) {
        mock.connect_fail--;
        c->err = REDIS_ERR_IO;
        snprintf(c->errstr, sizeof(c->errstr), "%s", "Connection refused");
    }

    mock.last = c;
    return c;
}

redisContext *
__wrap_redisConnectWithTimeout(const char *ip, int port,
                               const struct timeval tv)
{
    mock.connects++;
    snprintf(mock.host, sizeof(mock.host), "%s", ip);
    mock.port = port;
    mock.connect_tv = tv;
    return mock_context();
}

redisContext *
__wrap_redisConnectUnixWithTimeout(const char *path, const struct timeval tv)
{
    mock.unix_connects++;
    snprintf(mock.path, sizeof(mock.path), "%s", path);
    mock.connect_tv = tv;
    return mock_context();
}

int
__wrap_redisSetTimeout(redisContext *c, const struct timeval tv)
{
    assert_ptr_equal(c, mock.last);
    mock.set_timeouts++;
    mock.command_tv = tv;
    return REDIS_OK;
}

void
__wrap_redisFree(redisContext *c)
{
    assert_ptr_equal(c, mock.last);
    mock.frees++;
    mock.last = NULL;
    mock_free(c);
}

static void *
mock_reply(redisContext *c, const mock_reply_t *m)
{
    redisReply *reply;

    if (m == IO_ERROR) {
        c->err = REDIS_ERR_IO;
        snprintf(c->errstr, sizeof(c->errstr), "%s",
                 "Resource temporarily unavailable");
        return NULL;
    }

    reply = mock_alloc(sizeof(*reply));
    reply->type = m->type;
    reply->integer = m->integer;
    if (m->str != NULL) {
        reply->len = strlen(m->str);
        reply->str = mock_alloc(reply->len + 1);
        memcpy(reply->str, m->str, reply->len);
    }

    return reply;
}

static void
mock_log_arg(const char *p, size_t len)
{
    char  *line = mock.log[mock.nlog];
    size_t used = strlen(line);

    assert_true(used + len + 2 < sizeof(mock.log[0]));
    if (used != 0) {
        line[used++] = ' ';
    }
    memcpy(line + used, p, len);
    line[used + len] = '\0';
}

void *
__wrap_redisCommandArgv(redisContext *c, int argc, const char **argv,
                        const size_t *argvlen)
{
    int i;

    /* A command on a freed or stale context is a bug. */
    assert_ptr_equal(c, mock.last);
    assert_int_equal(c->err, 0);
    assert_true(mock.nlog < MOCK_LOG_MAX);

    mock.log[mock.nlog][0] = '\0';
    for (i = 0; i < argc; i++) {
        mock_log_arg(argv[i], argvlen[i]);
    }
    mock.nlog++;

    return mock_reply(c, mock_ptr_type(const mock_reply_t *));
}

void *
__wrap_redisvCommand(redisContext *c, const char *format, va_list ap)
{
    char *cmd, *p, *end;
    long  n, i, len;
    int   total;

    assert_ptr_equal(c, mock.last);
    assert_int_equal(c->err, 0);
    assert_true(mock.nlog < MOCK_LOG_MAX);

    /* Let hiredis build the RESP request, then log its arguments. */
    total = redisvFormatCommand(&cmd, format, ap);
    assert_true(total > 0);

    mock.log[mock.nlog][0] = '\0';
    assert_int_equal(cmd[0], '*');
    n = strtol(cmd + 1, &end, 10);
    p = end + 2;
    for (i = 0; i < n; i++) {
        assert_int_equal(*p, '$');
        len = strtol(p + 1, &end, 10);
        p = end + 2;
        mock_log_arg(p, (size_t) len);
        p += len + 2;
    }
    assert_int_equal(p - cmd, total);
    mock.nlog++;
    redisFreeCommand(cmd);

    return mock_reply(c, mock_ptr_type(const mock_reply_t *));
}

void
__wrap_freeReplyObject(void *reply)
{
    redisReply *r = reply;

    if (r == NULL) {
        return;
    }
    mock_free(r->str);
    mock_free(r);
}

static void
assert_log(const char *const *expect)
{
    int i;

    for (i = 0; expect[i] != NULL; i++) {
        assert_true(i < mock.nlog);
        assert_string_equal(mock.log[i], expect[i]);
    }
    assert_int_equal(mock.nlog, i);
}

/* ---- fixtures --------------------------------------------------------- */

static int
setup_plain(void **state)
{
    mtr_redis_opts_t opts = { "10.0.0.7", 6380, NULL, NULL, 0, 1500 };
    mtr_redis_t     *r;
    mtr_err_t        err;

    memset(&mock, 0, sizeof(mock));
    if (mtr_redis_create(&r, &opts, &err) != MTR_OK) {
        return -1;
    }
    *state = r;
    return 0;
}

static int
setup_auth(void **state)
{
    mtr_redis_opts_t opts = { NULL, 0, "/run/redis/redis.sock", "pa ss", 3, 0 };
    mtr_redis_t     *r;
    mtr_err_t        err;

    memset(&mock, 0, sizeof(mock));
    if (mtr_redis_create(&r, &opts, &err) != MTR_OK) {
        return -1;
    }
    *state = r;
    return 0;
}

static int
teardown(void **state)
{
    mtr_redis_t *r = *state;

    mtr_redis_destroy(&r);
    assert_null(r);
    assert_null(mock.last);
    assert_int_equal(mock.live, 0);
    return 0;
}

/* ---- client tests ----------------------------------------------------- */

static void
test_lazy_connect(void **state)
{
    static const char *const expect[] = { "SET k\001\002 v", "GET foo", NULL };
    mtr_redis_t             *r = *state;
    redisReply              *reply = NULL;
    mtr_err_t                err;

    print_message("lazy: create connects nothing\n");
    assert_int_equal(mock.connects, 0);

    print_message("lazy: first command connects with timeouts\n");
    will_return(__wrap_redisvCommand, &r_ok);
    assert_int_equal(mtr_redis_command(r, NULL, &err, "SET %b %s", "k\001\002",
                                       (size_t) 3, "v"),
                     MTR_OK);
    assert_int_equal(mock.connects, 1);
    assert_string_equal(mock.host, "10.0.0.7");
    assert_int_equal(mock.port, 6380);
    assert_int_equal(mock.connect_tv.tv_sec, 1);
    assert_int_equal(mock.connect_tv.tv_usec, 500000);
    assert_int_equal(mock.set_timeouts, 1);
    assert_int_equal(mock.command_tv.tv_sec, 1);
    assert_int_equal(mock.command_tv.tv_usec, 500000);

    print_message("lazy: no AUTH or SELECT when not configured\n");
    will_return(__wrap_redisCommandArgv, &r_bar);
    {
        const char  *argv[] = { "GET", "foo" };
        const size_t argvlen[] = { 3, 3 };

        assert_int_equal(mtr_redis_argv(r, 2, argv, argvlen, &reply, &err),
                         MTR_OK);
    }
    assert_non_null(reply);
    assert_int_equal(reply->type, REDIS_REPLY_STRING);
    assert_string_equal(reply->str, "bar");
    freeReplyObject(reply);
    assert_log(expect);

    print_message("lazy: later commands reuse the connection\n");
    will_return(__wrap_redisvCommand, &r_nil);
    assert_int_equal(
        mtr_redis_command(r, &reply, &err, "GET %b", "x", (size_t) 1), MTR_OK);
    assert_int_equal(reply->type, REDIS_REPLY_NIL);
    freeReplyObject(reply);
    assert_int_equal(mock.connects, 1);
    assert_int_equal(mock.frees, 0);
}

static void
test_auth_select(void **state)
{
    static const char *const expect[] = { "AUTH pa ss", "SELECT 3",
                                          "INCRBY q 5", NULL };
    mtr_redis_t             *r = *state;
    mtr_err_t                err;

    print_message("auth: unix socket, AUTH then SELECT before the command\n");
    will_return(__wrap_redisCommandArgv, &r_ok);
    will_return(__wrap_redisCommandArgv, &r_ok);
    will_return(__wrap_redisvCommand, &r_one);
    assert_int_equal(
        mtr_redis_command(r, NULL, &err, "INCRBY %b %d", "q", (size_t) 1, 5),
        MTR_OK);
    assert_int_equal(mock.unix_connects, 1);
    assert_int_equal(mock.connects, 0);
    assert_string_equal(mock.path, "/run/redis/redis.sock");
    assert_int_equal(mock.connect_tv.tv_sec, MTR_REDIS_TIMEOUT_DEFAULT / 1000);
    assert_log(expect);
}

static void
test_auth_failure(void **state)
{
    static const char *const expect[] = { "AUTH pa ss", "AUTH pa ss",
                                          "SELECT 3", "GET k", NULL };
    mtr_redis_t             *r = *state;
    mtr_err_t                err;

    print_message("auth failure: command not sent, connection dropped\n");
    will_return(__wrap_redisCommandArgv, &r_noauth);
    assert_int_equal(mtr_redis_command(r, NULL, &err, "GET k"), MTR_ERROR);
    print_message("auth failure: message: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "AUTH"));
    assert_non_null(strstr(err.msg, "WRONGPASS"));
    assert_int_equal(mock.frees, 1);
    assert_null(mock.last);

    print_message("auth failure: next call connects again\n");
    will_return(__wrap_redisCommandArgv, &r_ok);
    will_return(__wrap_redisCommandArgv, &r_ok);
    will_return(__wrap_redisvCommand, &r_nil);
    assert_int_equal(mtr_redis_command(r, NULL, &err, "GET k"), MTR_OK);
    assert_int_equal(mock.unix_connects, 2);
    assert_log(expect);
}

static void
test_connect_failure(void **state)
{
    mtr_redis_t *r = *state;
    mtr_err_t    err;

    print_message("connect failure: reported with the address\n");
    mock.connect_fail = 1;
    assert_int_equal(mtr_redis_command(r, NULL, &err, "PING"), MTR_ERROR);
    print_message("connect failure: message: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "10.0.0.7:6380"));
    assert_non_null(strstr(err.msg, "Connection refused"));
    assert_int_equal(mock.frees, 1);
    assert_int_equal(mock.set_timeouts, 0);
    assert_int_equal(mock.nlog, 0);

    print_message("connect failure: next call tries again\n");
    will_return(__wrap_redisvCommand, &r_ok);
    assert_int_equal(mtr_redis_command(r, NULL, &err, "PING"), MTR_OK);
    assert_int_equal(mock.connects, 2);
}

static void
test_error_reply(void **state)
{
    static const char *const expect[] = { "LPUSH k v", "GET k", NULL };
    mtr_redis_t             *r = *state;
    redisReply              *reply = (redisReply *) 1;
    mtr_err_t                err;

    print_message("error reply: MTR_ERROR with Redis's message\n");
    will_return(__wrap_redisvCommand, &r_wrongtype);
    assert_int_equal(mtr_redis_command(r, &reply, &err, "LPUSH %b %b", "k",
                                       (size_t) 1, "v", (size_t) 1),
                     MTR_ERROR);
    assert_null(reply);
    print_message("error reply: message: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "LPUSH"));
    assert_non_null(strstr(err.msg, "WRONGTYPE Operation against a key"));

    print_message("error reply: reply freed, connection kept\n");
    assert_int_equal(mock.live, 1); /* the context only */
    assert_int_equal(mock.frees, 0);

    will_return(__wrap_redisvCommand, &r_bar);
    assert_int_equal(mtr_redis_command(r, &reply, &err, "GET k"), MTR_OK);
    freeReplyObject(reply);
    assert_int_equal(mock.connects, 1);
    assert_log(expect);
}

static void
test_io_error_no_resend(void **state)
{
    static const char *const expect[] = { "INCRBY q 7", "GET q", NULL };
    mtr_redis_t             *r = *state;
    redisReply              *reply = (redisReply *) 1;
    mtr_err_t                err;

    print_message("io error: MTR_ERROR, context freed\n");
    will_return(__wrap_redisvCommand, IO_ERROR);
    assert_int_equal(
        mtr_redis_command(r, &reply, &err, "INCRBY %b %d", "q", (size_t) 1, 7),
        MTR_ERROR);
    assert_null(reply);
    print_message("io error: message: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "INCRBY"));
    assert_non_null(strstr(err.msg, "Resource temporarily unavailable"));
    assert_int_equal(mock.frees, 1);
    assert_null(mock.last);

    print_message("io error: next call reconnects, no resend\n");
    will_return(__wrap_redisCommandArgv, &r_bar);
    {
        const char  *argv[] = { "GET", "q" };
        const size_t argvlen[] = { 3, 1 };

        assert_int_equal(mtr_redis_argv(r, 2, argv, argvlen, NULL, &err),
                         MTR_OK);
    }
    assert_int_equal(mock.connects, 2);
    assert_log(expect);

    print_message("io error: argv form frees the context too\n");
    will_return(__wrap_redisCommandArgv, IO_ERROR);
    {
        const char  *argv[] = { "DEL", "q" };
        const size_t argvlen[] = { 3, 1 };

        assert_int_equal(mtr_redis_argv(r, 2, argv, argvlen, NULL, &err),
                         MTR_ERROR);
    }
    assert_int_equal(mock.frees, 2);
    assert_non_null(strstr(err.msg, "DEL"));

    print_message("io error: empty argv refused\n");
    assert_int_equal(mtr_redis_argv(r, 0, NULL, NULL, NULL, &err), MTR_ERROR);
    assert_int_equal(mock.connects, 2);
}

static void
test_io_error_during_select(void **state)
{
    static const char *const expect[] = { "AUTH pa ss", "SELECT 3",
                                          "AUTH pa ss", "SELECT 3",
                                          "GET k",      NULL };
    mtr_redis_t             *r = *state;
    mtr_err_t                err;

    print_message("select io error: command not sent\n");
    will_return(__wrap_redisCommandArgv, &r_ok);
    will_return(__wrap_redisCommandArgv, IO_ERROR);
    assert_int_equal(mtr_redis_command(r, NULL, &err, "GET k"), MTR_ERROR);
    assert_non_null(strstr(err.msg, "SELECT"));
    assert_int_equal(mock.frees, 1);

    print_message("select io error: next call starts over\n");
    will_return(__wrap_redisCommandArgv, &r_ok);
    will_return(__wrap_redisCommandArgv, &r_ok);
    will_return(__wrap_redisvCommand, &r_nil);
    assert_int_equal(mtr_redis_command(r, NULL, &err, "GET k"), MTR_OK);
    assert_log(expect);
}

static void
test_eval(void **state)
{
    static const char *const src = "return redis.call('INCRBY', KEYS[1], "
                                   "ARGV[1])";
    static const char *const expect[] = {
        "SCRIPT LOAD return redis.call('INCRBY', KEYS[1], ARGV[1])",
        "EVALSHA " SHA1 " 1 mortar:q:{a.b} 5",
        "EVALSHA " SHA1 " 1 mortar:q:{a.b} 5",
        "EVALSHA " SHA1 " 1 mortar:q:{a.b} 5",
        "SCRIPT LOAD return redis.call('INCRBY', KEYS[1], ARGV[1])",
        "EVALSHA " SHA2 " 1 mortar:q:{a.b} 5",
        NULL
    };
    mtr_redis_t       *r = *state;
    mtr_redis_script_t script = MTR_REDIS_SCRIPT(NULL);
    redisReply        *reply = NULL;
    mtr_err_t          err;
    const char        *argv[] = { "mortar:q:{a.b}", "5" };
    const size_t       argvlen[] = { 14, 1 };

    script.source = src;

    print_message("eval: first use loads, then EVALSHA\n");
    will_return(__wrap_redisCommandArgv, &r_sha1);
    will_return(__wrap_redisCommandArgv, &r_one);
    assert_int_equal(
        mtr_redis_eval(r, &script, 1, 2, argv, argvlen, &reply, &err), MTR_OK);
    assert_string_equal(script.sha, SHA1);
    assert_int_equal(reply->type, REDIS_REPLY_INTEGER);
    assert_int_equal(reply->integer, 1);
    freeReplyObject(reply);

    print_message("eval: known sha goes straight to EVALSHA\n");
    will_return(__wrap_redisCommandArgv, &r_one);
    assert_int_equal(
        mtr_redis_eval(r, &script, 1, 2, argv, argvlen, NULL, &err), MTR_OK);

    print_message("eval: NOSCRIPT -> SCRIPT LOAD -> EVALSHA\n");
    will_return(__wrap_redisCommandArgv, &r_noscript);
    will_return(__wrap_redisCommandArgv, &r_sha2);
    will_return(__wrap_redisCommandArgv, &r_one);
    assert_int_equal(
        mtr_redis_eval(r, &script, 1, 2, argv, argvlen, &reply, &err), MTR_OK);
    assert_string_equal(script.sha, SHA2);
    assert_int_equal(reply->integer, 1);
    freeReplyObject(reply);
    assert_log(expect);
    assert_int_equal(mock.connects, 1);
}

static void
test_eval_errors(void **state)
{
    mtr_redis_t       *r = *state;
    mtr_redis_script_t script = MTR_REDIS_SCRIPT("return 1");
    redisReply        *reply = (redisReply *) 1;
    mtr_err_t          err;
    const char        *argv[] = { "k" };
    const size_t       argvlen[] = { 1 };

    memcpy(script.sha, SHA1, sizeof(script.sha));

    print_message("eval errors: NOSCRIPT twice is an error, no loop\n");
    will_return(__wrap_redisCommandArgv, &r_noscript);
    will_return(__wrap_redisCommandArgv, &r_sha1);
    will_return(__wrap_redisCommandArgv, &r_noscript);
    assert_int_equal(
        mtr_redis_eval(r, &script, 1, 1, argv, argvlen, &reply, &err),
        MTR_ERROR);
    assert_null(reply);
    assert_non_null(strstr(err.msg, "NOSCRIPT"));
    assert_int_equal(mock.nlog, 3);

    print_message("eval errors: script error is not a reload\n");
    will_return(__wrap_redisCommandArgv, &r_script_err);
    assert_int_equal(
        mtr_redis_eval(r, &script, 1, 1, argv, argvlen, NULL, &err), MTR_ERROR);
    assert_non_null(strstr(err.msg, "Error running script??forged"));
    assert_int_equal(mock.nlog, 4);
    assert_int_equal(mock.frees, 0);

    print_message("eval errors: I/O error on EVALSHA is not resent\n");
    will_return(__wrap_redisCommandArgv, IO_ERROR);
    assert_int_equal(
        mtr_redis_eval(r, &script, 1, 1, argv, argvlen, NULL, &err), MTR_ERROR);
    assert_int_equal(mock.nlog, 5);
    assert_int_equal(mock.frees, 1);

    print_message("eval errors: bad SCRIPT LOAD reply\n");
    script.sha[0] = '\0';
    will_return(__wrap_redisCommandArgv, &r_bar);
    assert_int_equal(
        mtr_redis_eval(r, &script, 1, 1, argv, argvlen, NULL, &err), MTR_ERROR);
    assert_string_equal(script.sha, "");
    assert_int_equal(mock.nlog, 6);

    print_message("eval errors: numkeys beyond argc refused locally\n");
    assert_int_equal(
        mtr_redis_eval(r, &script, 2, 1, argv, argvlen, NULL, &err), MTR_ERROR);
    assert_int_equal(
        mtr_redis_eval(r, &script, -1, 1, argv, argvlen, NULL, &err),
        MTR_ERROR);
    assert_int_equal(mock.nlog, 6);
}

static void
test_create_errors(void **state)
{
    mtr_redis_opts_t opts = { NULL, 70000, NULL, NULL, 0, 0 };
    mtr_redis_t     *r = (mtr_redis_t *) 1;
    mtr_err_t        err;

    (void) state;
    memset(&mock, 0, sizeof(mock));

    print_message("create: bad port, db, timeout\n");
    assert_int_equal(mtr_redis_create(&r, &opts, &err), MTR_ERROR);
    assert_null(r);
    opts.port = 0;
    opts.db = -1;
    assert_int_equal(mtr_redis_create(&r, &opts, &err), MTR_ERROR);
    opts.db = 0;
    opts.timeout_ms = -5;
    assert_int_equal(mtr_redis_create(&r, &opts, &err), MTR_ERROR);

    print_message("create: defaults\n");
    opts.timeout_ms = 0;
    assert_int_equal(mtr_redis_create(&r, &opts, &err), MTR_OK);
    will_return(__wrap_redisvCommand, &r_ok);
    assert_int_equal(mtr_redis_command(r, NULL, &err, "PING"), MTR_OK);
    assert_string_equal(mock.host, MTR_REDIS_HOST_DEFAULT);
    assert_int_equal(mock.port, MTR_REDIS_PORT_DEFAULT);
    mtr_redis_destroy(&r);
    mtr_redis_destroy(&r);
    assert_int_equal(mock.live, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key),
        cmocka_unit_test_setup_teardown(test_lazy_connect, setup_plain,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_auth_select, setup_auth, teardown),
        cmocka_unit_test_setup_teardown(test_auth_failure, setup_auth,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_connect_failure, setup_plain,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_error_reply, setup_plain,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_io_error_no_resend, setup_plain,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_io_error_during_select, setup_auth,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_eval, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_eval_errors, setup_plain,
                                        teardown),
        cmocka_unit_test(test_create_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
