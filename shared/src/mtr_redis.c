/*
 * mtr_redis.c -- blocking Redis client over hiredis 0.14, and the Mortar
 * key layout.
 *
 * Core: no logging.  The context is created on first use and destroyed on
 * the first I/O error; nothing is retried here, because after an I/O error
 * we cannot know whether Redis applied the command.  The single exception
 * is EVALSHA answered with NOSCRIPT: Redis refused to run anything, so
 * loading the script and sending EVALSHA again is safe.
 * Covered by tests/unit/test_mtr_redis.c (hiredis mocked with -Wl,--wrap).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "mtr_redis.h"

/* Room for a command name or a Redis error quoted in an error message. */
#define MTR_REDIS_QUOTE_MAX 200

struct mtr_redis_s {
    redisContext *c;
    char         *host;
    char         *unix_path;
    char         *password;
    size_t        password_len;
    int           port;
    int           db;
    int           timeout_ms;
};

static int  mtr_redis_connect(mtr_redis_t *r, mtr_err_t *err);
static void mtr_redis_close(mtr_redis_t *r);
static int  mtr_redis_raw(mtr_redis_t *r, int argc, const char **argv,
                          const size_t *argvlen, redisReply **reply_r,
                          mtr_err_t *err);
static int mtr_redis_io_error(mtr_redis_t *r, const char *what, mtr_err_t *err);
static int mtr_redis_finish(redisReply *reply, redisReply **reply_r,
                            const char *what, mtr_err_t *err);
static int mtr_redis_load(mtr_redis_t *r, mtr_redis_script_t *script,
                          mtr_err_t *err);
static int mtr_redis_evalsha(mtr_redis_t *r, mtr_redis_script_t *script,
                             int numkeys, int argc, const char **argv,
                             const size_t *argvlen, redisReply **reply_r,
                             mtr_err_t *err);
static const char *mtr_redis_where(const mtr_redis_t *r, char *buf,
                                   size_t size);

int
mtr_redis_create(mtr_redis_t **rp, const mtr_redis_opts_t *opts, mtr_err_t *err)
{
    mtr_redis_t *r;

    *rp = NULL;

    if (opts == NULL) {
        return mtr_err_set(err, "redis: no options");
    }

    if (opts->port < 0 || opts->port > 65535) {
        return mtr_err_set(err, "redis: invalid port %d", opts->port);
    }

    if (opts->db < 0) {
        return mtr_err_set(err, "redis: invalid database %d", opts->db);
    }

    if (opts->timeout_ms < 0) {
        return mtr_err_set(err, "redis: negative timeout %d ms",
                           opts->timeout_ms);
    }

    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        goto nomem;
    }

    r->port = opts->port != 0 ? opts->port : MTR_REDIS_PORT_DEFAULT;
    r->db = opts->db;
    r->timeout_ms =
        opts->timeout_ms != 0 ? opts->timeout_ms : MTR_REDIS_TIMEOUT_DEFAULT;

    r->host = strdup(opts->host != NULL ? opts->host : MTR_REDIS_HOST_DEFAULT);
    if (r->host == NULL) {
        goto nomem;
    }

    if (opts->unix_path != NULL) {
        r->unix_path = strdup(opts->unix_path);
        if (r->unix_path == NULL) {
            goto nomem;
        }
    }

    if (opts->password != NULL) {
        r->password_len = strlen(opts->password);
        r->password = strdup(opts->password);
        if (r->password == NULL) {
            goto nomem;
        }
    }

    *rp = r;

    return MTR_OK;

nomem:

    mtr_redis_destroy(&r);

    return mtr_err_set(err, "redis: out of memory");
}

void
mtr_redis_destroy(mtr_redis_t **rp)
{
    mtr_redis_t *r = *rp;

    if (r == NULL) {
        return;
    }

    mtr_redis_close(r);

    if (r->password != NULL) {
        mtr_wipe(r->password, r->password_len);
        free(r->password);
    }

    free(r->unix_path);
    free(r->host);
    free(r);

    *rp = NULL;
}

int
mtr_redis_command(mtr_redis_t *r, redisReply **reply_r, mtr_err_t *err,
                  const char *fmt, ...)
{
    va_list     ap;
    redisReply *reply;
    char        what[32];
    size_t      n;

    if (reply_r != NULL) {
        *reply_r = NULL;
    }

    /* Name the command in messages by the first word of the format. */
    n = strcspn(fmt, " %");
    mtr_sanitize(what, sizeof(what), n != 0 ? fmt : "command",
                 n != 0 ? n : sizeof("command") - 1);

    if (r->c == NULL && mtr_redis_connect(r, err) != MTR_OK) {
        return MTR_ERROR;
    }

    va_start(ap, fmt);
    reply = redisvCommand(r->c, fmt, ap);
    va_end(ap);

    if (reply == NULL) {
        return mtr_redis_io_error(r, what, err);
    }

    return mtr_redis_finish(reply, reply_r, what, err);
}

int
mtr_redis_argv(mtr_redis_t *r, int argc, const char **argv,
               const size_t *argvlen, redisReply **reply_r, mtr_err_t *err)
{
    redisReply *reply;
    char        what[32];

    if (reply_r != NULL) {
        *reply_r = NULL;
    }

    if (argc < 1 || argv == NULL || argvlen == NULL) {
        return mtr_err_set(err, "redis: empty command");
    }

    mtr_sanitize(what, sizeof(what), argv[0], argvlen[0]);

    if (r->c == NULL && mtr_redis_connect(r, err) != MTR_OK) {
        return MTR_ERROR;
    }

    if (mtr_redis_raw(r, argc, argv, argvlen, &reply, err) != MTR_OK) {
        return MTR_ERROR;
    }

    return mtr_redis_finish(reply, reply_r, what, err);
}

int
mtr_redis_eval(mtr_redis_t *r, mtr_redis_script_t *script, int numkeys,
               int argc, const char **argv, const size_t *argvlen,
               redisReply **reply_r, mtr_err_t *err)
{
    redisReply *reply;
    int         rc;

    if (reply_r != NULL) {
        *reply_r = NULL;
    }

    if (script == NULL || script->source == NULL) {
        return mtr_err_set(err, "redis EVALSHA: no script");
    }

    if (argc < 0 || numkeys < 0 || numkeys > argc
        || (argc > 0 && (argv == NULL || argvlen == NULL)))
    {
        return mtr_err_set(err, "redis EVALSHA: %d keys in %d arguments",
                           numkeys, argc);
    }

    if (r->c == NULL && mtr_redis_connect(r, err) != MTR_OK) {
        return MTR_ERROR;
    }

    if (script->sha[0] == '\0' && mtr_redis_load(r, script, err) != MTR_OK) {
        return MTR_ERROR;
    }

    rc =
        mtr_redis_evalsha(r, script, numkeys, argc, argv, argvlen, &reply, err);
    if (rc != MTR_OK) {
        return MTR_ERROR;
    }

    /*
     * NOSCRIPT: Redis lost its script cache (restart, SCRIPT FLUSH, a
     * failover to a replica that never saw SCRIPT LOAD).  Nothing ran.
     */
    if (reply->type == REDIS_REPLY_ERROR && reply->len >= 8
        && memcmp(reply->str, "NOSCRIPT", 8) == 0)
    {
        freeReplyObject(reply);
        script->sha[0] = '\0';

        if (mtr_redis_load(r, script, err) != MTR_OK) {
            return MTR_ERROR;
        }

        rc = mtr_redis_evalsha(r, script, numkeys, argc, argv, argvlen, &reply,
                               err);
        if (rc != MTR_OK) {
            return MTR_ERROR;
        }
    }

    return mtr_redis_finish(reply, reply_r, "EVALSHA", err);
}

int
mtr_redis_key(char *buf, size_t size, const char *area, mtr_str_t domain,
              mtr_str_t rest, size_t *len_r, mtr_err_t *err)
{
    size_t        alen, i, o, need;
    unsigned char c;

    if (buf == NULL || size == 0) {
        return mtr_err_set(err, "redis key: no buffer");
    }

    buf[0] = '\0';

    if (area == NULL || area[0] == '\0') {
        return mtr_err_set(err, "redis key: empty area");
    }

    alen = strlen(area);
    for (i = 0; i < alen; i++) {
        c = (unsigned char) area[i];
        if (c <= ' ' || c >= 0x7f || c == ':' || c == '{' || c == '}') {
            return mtr_err_set(err, "redis key: invalid area");
        }
    }

    if (domain.len == 0 || domain.data == NULL) {
        return mtr_err_set(err, "redis key: empty domain");
    }

    if (domain.len > MTR_REDIS_DOMAIN_MAX) {
        return mtr_err_set(err, "redis key: domain longer than %d bytes",
                           MTR_REDIS_DOMAIN_MAX);
    }

    for (i = 0; i < domain.len; i++) {
        c = (unsigned char) domain.data[i];
        /* Braces would move the hash tag; NUL, blanks, controls are junk. */
        if (c <= ' ' || c == 0x7f || c == '{' || c == '}') {
            return mtr_err_set(err, "redis key: invalid byte 0x%02x in domain",
                               c);
        }
    }

    /*
     * @UNSAFE: prefix + area + ":{" + domain + "}" [+ ":" + rest] + NUL.
     * domain.len is capped above and alen comes from our own C string;
     * only rest.len can be huge, so it is compared by subtraction.
     */
    need = sizeof(MTR_REDIS_KEY_PREFIX) - 1 + alen + 2 + domain.len + 1;

    if (need >= size || (rest.len != 0 && rest.len >= size - need - 1)) {
        return mtr_err_set(err, "redis key: %zu bytes are too small", size);
    }

    if (rest.len != 0
        && (rest.data == NULL || memchr(rest.data, '\0', rest.len) != NULL))
    {
        return mtr_err_set(err, "redis key: NUL byte in key suffix");
    }

    o = 0;
    memcpy(buf + o, MTR_REDIS_KEY_PREFIX, sizeof(MTR_REDIS_KEY_PREFIX) - 1);
    o += sizeof(MTR_REDIS_KEY_PREFIX) - 1;
    memcpy(buf + o, area, alen);
    o += alen;
    buf[o++] = ':';
    buf[o++] = '{';

    for (i = 0; i < domain.len; i++) {
        c = (unsigned char) domain.data[i];
        buf[o++] = (char) ((c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c);
    }

    buf[o++] = '}';

    if (rest.len != 0) {
        buf[o++] = ':';
        memcpy(buf + o, rest.data, rest.len);
        o += rest.len;
    }

    buf[o] = '\0';

    if (len_r != NULL) {
        *len_r = o;
    }

    return MTR_OK;
}

/* Connect, set the command timeout, AUTH and SELECT; all or nothing. */
static int
mtr_redis_connect(mtr_redis_t *r, mtr_err_t *err)
{
    redisContext  *c;
    redisReply    *reply;
    struct timeval tv;
    const char    *argv[2];
    size_t         argvlen[2];
    char           where[MTR_REDIS_QUOTE_MAX], db[16];

    tv.tv_sec = r->timeout_ms / 1000;
    tv.tv_usec = (r->timeout_ms % 1000) * 1000;

    if (r->unix_path != NULL) {
        c = redisConnectUnixWithTimeout(r->unix_path, tv);
    } else {
        c = redisConnectWithTimeout(r->host, r->port, tv);
    }

    if (c == NULL) {
        return mtr_err_set(err, "redis connect to %s: out of memory",
                           mtr_redis_where(r, where, sizeof(where)));
    }

    if (c->err != 0) {
        mtr_err_set(err, "redis connect to %s: %s",
                    mtr_redis_where(r, where, sizeof(where)), c->errstr);
        redisFree(c);
        return MTR_ERROR;
    }

    /* The connect timeout covers connect(2) only; commands need their own. */
    if (redisSetTimeout(c, tv) != REDIS_OK) {
        mtr_err_set(err, "redis connect to %s: cannot set timeout: %s",
                    mtr_redis_where(r, where, sizeof(where)), c->errstr);
        redisFree(c);
        return MTR_ERROR;
    }

    r->c = c;

    if (r->password != NULL) {
        argv[0] = "AUTH";
        argvlen[0] = 4;
        argv[1] = r->password;
        argvlen[1] = r->password_len;

        if (mtr_redis_raw(r, 2, argv, argvlen, &reply, err) != MTR_OK) {
            return MTR_ERROR;
        }

        /* Unauthenticated, the connection is useless: drop it. */
        if (mtr_redis_finish(reply, NULL, "AUTH", err) != MTR_OK) {
            mtr_redis_close(r);
            return MTR_ERROR;
        }
    }

    if (r->db != 0) {
        argv[0] = "SELECT";
        argvlen[0] = 6;
        argvlen[1] = (size_t) snprintf(db, sizeof(db), "%d", r->db);
        argv[1] = db;

        if (mtr_redis_raw(r, 2, argv, argvlen, &reply, err) != MTR_OK) {
            return MTR_ERROR;
        }

        /* On the wrong database every key would be wrong: drop it. */
        if (mtr_redis_finish(reply, NULL, "SELECT", err) != MTR_OK) {
            mtr_redis_close(r);
            return MTR_ERROR;
        }
    }

    return MTR_OK;
}

static void
mtr_redis_close(mtr_redis_t *r)
{
    if (r->c != NULL) {
        redisFree(r->c);
        r->c = NULL;
    }
}

/* Send one command; any reply (error replies too) is MTR_OK. */
static int
mtr_redis_raw(mtr_redis_t *r, int argc, const char **argv,
              const size_t *argvlen, redisReply **reply_r, mtr_err_t *err)
{
    char what[32];

    *reply_r = redisCommandArgv(r->c, argc, argv, argvlen);

    if (*reply_r == NULL) {
        mtr_sanitize(what, sizeof(what), argv[0], argvlen[0]);
        return mtr_redis_io_error(r, what, err);
    }

    return MTR_OK;
}

/* No reply: the context is broken (I/O error, timeout, EOF); drop it. */
static int
mtr_redis_io_error(mtr_redis_t *r, const char *what, mtr_err_t *err)
{
    char where[MTR_REDIS_QUOTE_MAX];

    mtr_err_set(err, "redis %s on %s: %s", what,
                mtr_redis_where(r, where, sizeof(where)),
                r->c->err != 0 ? r->c->errstr : "no reply");
    mtr_redis_close(r);

    return MTR_ERROR;
}

/* Hand a reply over, or turn an error reply into MTR_ERROR and free it. */
static int
mtr_redis_finish(redisReply *reply, redisReply **reply_r, const char *what,
                 mtr_err_t *err)
{
    char msg[MTR_REDIS_QUOTE_MAX];

    if (reply->type == REDIS_REPLY_ERROR) {
        mtr_sanitize(msg, sizeof(msg), reply->str, reply->len);
        freeReplyObject(reply);
        return mtr_err_set(err, "redis %s: %s", what, msg);
    }

    if (reply_r != NULL) {
        *reply_r = reply;
    } else {
        freeReplyObject(reply);
    }

    return MTR_OK;
}

static int
mtr_redis_load(mtr_redis_t *r, mtr_redis_script_t *script, mtr_err_t *err)
{
    redisReply *reply;
    const char *argv[3];
    size_t      argvlen[3], i;
    char        c;

    argv[0] = "SCRIPT";
    argvlen[0] = 6;
    argv[1] = "LOAD";
    argvlen[1] = 4;
    argv[2] = script->source;
    argvlen[2] = strlen(script->source);

    if (mtr_redis_raw(r, 3, argv, argvlen, &reply, err) != MTR_OK) {
        return MTR_ERROR;
    }

    if (mtr_redis_finish(reply, &reply, "SCRIPT LOAD", err) != MTR_OK) {
        return MTR_ERROR;
    }

    if (reply->type != REDIS_REPLY_STRING
        || reply->len != sizeof(script->sha) - 1) {
        freeReplyObject(reply);
        return mtr_err_set(err, "redis SCRIPT LOAD: unexpected reply");
    }

    for (i = 0; i < reply->len; i++) {
        c = reply->str[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            freeReplyObject(reply);
            return mtr_err_set(err, "redis SCRIPT LOAD: reply is no SHA1");
        }
    }

    memcpy(script->sha, reply->str, reply->len);
    script->sha[reply->len] = '\0';
    freeReplyObject(reply);

    return MTR_OK;
}

/* EVALSHA sha numkeys args...; returns any reply, MTR_ERROR on I/O only. */
static int
mtr_redis_evalsha(mtr_redis_t *r, mtr_redis_script_t *script, int numkeys,
                  int argc, const char **argv, const size_t *argvlen,
                  redisReply **reply_r, mtr_err_t *err)
{
    const char **av;
    size_t      *avlen;
    char         nk[16];
    int          i, rc;

    if (argc > INT32_MAX - 3) {
        return mtr_err_set(err, "redis EVALSHA: too many arguments");
    }

    av = malloc(((size_t) argc + 3) * sizeof(*av));
    avlen = malloc(((size_t) argc + 3) * sizeof(*avlen));
    if (av == NULL || avlen == NULL) {
        free(av);
        free(avlen);
        return mtr_err_set(err, "redis EVALSHA: out of memory");
    }

    av[0] = "EVALSHA";
    avlen[0] = 7;
    av[1] = script->sha;
    avlen[1] = strlen(script->sha);
    avlen[2] = (size_t) snprintf(nk, sizeof(nk), "%d", numkeys);
    av[2] = nk;

    for (i = 0; i < argc; i++) {
        av[i + 3] = argv[i];
        avlen[i + 3] = argvlen[i];
    }

    rc = mtr_redis_raw(r, argc + 3, av, avlen, reply_r, err);

    free(av);
    free(avlen);

    return rc;
}

static const char *
mtr_redis_where(const mtr_redis_t *r, char *buf, size_t size)
{
    if (r->unix_path != NULL) {
        snprintf(buf, size, "unix:%s", r->unix_path);
    } else {
        snprintf(buf, size, "%s:%d", r->host, r->port);
    }

    return buf;
}
