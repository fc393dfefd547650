/*
 * mquota_args.c -- parse the backend arguments of the Dovecot quota
 * backend ("host=...:port=...:pool").
 *
 * Core: no Dovecot header, no I/O.  Covered by tests/unit/test_mquota_args.c.
 */
#include <stdio.h>
#include <string.h>

#include "mquota_args.h"

/* One bit per parameter, to refuse a parameter given twice. */
enum {
    MQ_SEEN_HOST = 1 << 0,
    MQ_SEEN_PORT = 1 << 1,
    MQ_SEEN_SOCKET = 1 << 2,
    MQ_SEEN_DB = 1 << 3,
    MQ_SEEN_PASSWORD = 1 << 4,
    MQ_SEEN_TIMEOUT = 1 << 5,
    MQ_SEEN_DOWN = 1 << 6,
    MQ_SEEN_ROLE = 1 << 7,
    MQ_SEEN_NOENFORCING = 1 << 8,
    MQ_SEEN_HIDDEN = 1 << 9,
    MQ_SEEN_IGNOREUNLIMITED = 1 << 10,
    MQ_SEEN_NS = 1 << 11,
};

static void mquota_args_defaults(mquota_args_t *a);
static int  mquota_args_token(mquota_args_t *a, const char *t, size_t len,
                              unsigned *seen, mtr_err_t *err);
static int  mquota_args_copy(char *dst, size_t size, const char *name,
                             const char *v, size_t len, mtr_err_t *err);
static int  mquota_args_int(int *dst, const char *name, const char *v,
                            size_t len, uint64_t min, uint64_t max,
                            mtr_err_t *err);
static int  mquota_args_is(const char *t, size_t len, const char *word);

int
mquota_args_parse(const char *args, size_t len, mquota_args_t *a,
                  mtr_err_t *err)
{
    size_t   i, start;
    unsigned seen = 0;

    mquota_args_defaults(a);

    if (args == NULL || len == 0) {
        return MTR_OK;
    }

    if (len > MQUOTA_ARGS_MAX) {
        return mtr_err_set(err, "arguments longer than %d bytes",
                           MQUOTA_ARGS_MAX);
    }

    i = 0;
    while (i <= len) {
        start = i;

        /* host=[v6 address] keeps its colons: skip to the bracket. */
        if (len - i > sizeof("host=[") - 1
            && memcmp(args + i, "host=[", sizeof("host=[") - 1) == 0)
        {
            const char *close;

            close = memchr(args + i, ']', len - i);
            if (close == NULL) {
                mquota_args_defaults(a);
                return mtr_err_set(err, "host=[ without a closing ']'");
            }
            i = (size_t) (close - args) + 1;
            if (i < len && args[i] != ':') {
                mquota_args_defaults(a);
                return mtr_err_set(err, "text after ']' in host=[...]");
            }
        } else {
            while (i < len && args[i] != ':') {
                i++;
            }
        }

        if (mquota_args_token(a, args + start, i - start, &seen, err) != MTR_OK)
        {
            mquota_args_defaults(a);
            return MTR_ERROR;
        }

        /* i is at a ':' or at len; step over the separator. */
        i++;
    }

    if ((seen & MQ_SEEN_SOCKET) && (seen & (MQ_SEEN_HOST | MQ_SEEN_PORT))) {
        mquota_args_defaults(a);
        return mtr_err_set(err, "socket= excludes host= and port=");
    }

    return MTR_OK;
}

void
mquota_args_redis_opts(const mquota_args_t *a, mtr_redis_opts_t *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->host = a->host[0] != '\0' ? a->host : NULL;
    opts->port = a->port;
    opts->unix_path = a->socket[0] != '\0' ? a->socket : NULL;
    opts->password = a->password[0] != '\0' ? a->password : NULL;
    opts->db = a->db;
    opts->timeout_ms = a->timeout_ms;
}

int
mquota_args_same_redis(const mquota_args_t *a, const mquota_args_t *b)
{
    return strcmp(a->host, b->host) == 0 && a->port == b->port
           && strcmp(a->socket, b->socket) == 0 && a->db == b->db
           && strcmp(a->password, b->password) == 0
           && a->timeout_ms == b->timeout_ms;
}

void
mquota_args_describe(const mquota_args_t *a, char *buf, size_t size)
{
    const char *host = a->host[0] != '\0' ? a->host : MTR_REDIS_HOST_DEFAULT;
    int         port = a->port != 0 ? a->port : MTR_REDIS_PORT_DEFAULT;
    char        db[16] = "";
    int         n;

    if (size == 0) {
        return;
    }

    if (a->db != 0) {
        snprintf(db, sizeof(db), "/%d", a->db);
    }

    if (a->socket[0] != '\0') {
        n = snprintf(buf, size, "unix:%s%s", a->socket, db);
    } else if (strchr(host, ':') != NULL) {
        n = snprintf(buf, size, "[%s]:%d%s", host, port, db);
    } else {
        n = snprintf(buf, size, "%s:%d%s", host, port, db);
    }

    /* snprintf cut it: make the cut visible. */
    if ((n < 0 || (size_t) n >= size) && size >= 4) {
        memcpy(buf + size - 4, "...", 4);
    }
}

const char *
mquota_down_name(mquota_down_e down)
{
    return down == MQUOTA_DOWN_ACCEPT ? "accept" : "tempfail";
}

static void
mquota_args_defaults(mquota_args_t *a)
{
    memset(a, 0, sizeof(*a));
    a->role = MQUOTA_ROLE_USER;
    a->redis_down = MQUOTA_DOWN_TEMPFAIL;
    a->timeout_ms = MQUOTA_TIMEOUT_DEFAULT;
}

/*
 * One "name" or "name=value" token.  The name is matched exactly: Dovecot's
 * own parser matches prefixes, which would take "noenforcing2" for
 * "noenforcing".
 */
static int
mquota_args_token(mquota_args_t *a, const char *t, size_t len, unsigned *seen,
                  mtr_err_t *err)
{
    const char *eq, *v;
    size_t      nlen, vlen;
    unsigned    bit;
    size_t      k;
    char        shown[64];

    if (len == 0) {
        return mtr_err_set(err, "empty parameter (two ':' in a row, or a "
                                "':' at an end)");
    }

    eq = memchr(t, '=', len);
    nlen = eq != NULL ? (size_t) (eq - t) : len;
    v = eq != NULL ? eq + 1 : NULL;
    vlen = eq != NULL ? len - nlen - 1 : 0;

    if (v == NULL) {
        /* Flags. */
        if (mquota_args_is(t, len, "pool") || mquota_args_is(t, len, "user")) {
            bit = MQ_SEEN_ROLE;
            a->role = t[0] == 'p' ? MQUOTA_ROLE_POOL : MQUOTA_ROLE_USER;
        } else if (mquota_args_is(t, len, "noenforcing")) {
            bit = MQ_SEEN_NOENFORCING;
            a->noenforcing = 1;
        } else if (mquota_args_is(t, len, "hidden")) {
            bit = MQ_SEEN_HIDDEN;
            a->hidden = 1;
        } else if (mquota_args_is(t, len, "ignoreunlimited")) {
            bit = MQ_SEEN_IGNOREUNLIMITED;
            a->ignoreunlimited = 1;
        } else {
            mtr_sanitize(shown, sizeof(shown), t, len);
            return mtr_err_set(err,
                               "unknown parameter '%s' (known: host=, port=, "
                               "socket=, db=, password=, timeout_ms=, "
                               "redis_down=, pool, user, noenforcing, "
                               "hidden, ignoreunlimited, ns=)",
                               shown);
        }

        if (*seen & bit) {
            if (bit == MQ_SEEN_ROLE) {
                return mtr_err_set(err, "'pool' and 'user' given together or "
                                        "twice: a root has one role");
            }
            mtr_sanitize(shown, sizeof(shown), t, len);
            return mtr_err_set(err, "parameter '%s' given twice", shown);
        }
        *seen |= bit;
        return MTR_OK;
    }

#define NAME_IS(w) (nlen == sizeof(w) - 1 && memcmp(t, w, nlen) == 0)

    if (NAME_IS("host")) {
        bit = MQ_SEEN_HOST;
    } else if (NAME_IS("port")) {
        bit = MQ_SEEN_PORT;
    } else if (NAME_IS("socket")) {
        bit = MQ_SEEN_SOCKET;
    } else if (NAME_IS("db")) {
        bit = MQ_SEEN_DB;
    } else if (NAME_IS("password")) {
        bit = MQ_SEEN_PASSWORD;
    } else if (NAME_IS("timeout_ms")) {
        bit = MQ_SEEN_TIMEOUT;
    } else if (NAME_IS("redis_down")) {
        bit = MQ_SEEN_DOWN;
    } else if (NAME_IS("ns")) {
        bit = MQ_SEEN_NS;
    } else {
        mtr_sanitize(shown, sizeof(shown), t, nlen);
        return mtr_err_set(err, "unknown parameter '%s='", shown);
    }

    mtr_sanitize(shown, sizeof(shown), t, nlen);

    if (*seen & bit) {
        return mtr_err_set(err, "parameter '%s=' given twice", shown);
    }
    *seen |= bit;

    if (vlen == 0 && bit != MQ_SEEN_NS) {
        return mtr_err_set(err, "parameter '%s=' has an empty value", shown);
    }

    switch (bit) {
    case MQ_SEEN_HOST:
        if (v[0] == '[') {
            /* The tokenizer guarantees the closing bracket ends the value. */
            if (vlen < 3) {
                return mtr_err_set(err, "host=[] holds no address");
            }
            v++;
            vlen -= 2;
            /* An IPv6 address: hex digits, ':' and '.' only. */
            for (k = 0; k < vlen; k++) {
                if (strchr("0123456789abcdefABCDEF:.", v[k]) == NULL
                    || v[k] == '\0') {
                    return mtr_err_set(err, "host=[...] is not an IPv6 "
                                            "address");
                }
            }
        }
        return mquota_args_copy(a->host, sizeof(a->host), "host", v, vlen, err);

    case MQ_SEEN_PORT:
        return mquota_args_int(&a->port, "port", v, vlen, 1, 65535, err);

    case MQ_SEEN_SOCKET:
        if (v[0] != '/') {
            return mtr_err_set(err, "socket= must be an absolute path");
        }
        return mquota_args_copy(a->socket, sizeof(a->socket), "socket", v, vlen,
                                err);

    case MQ_SEEN_DB:
        return mquota_args_int(&a->db, "db", v, vlen, 0, MQUOTA_DB_MAX, err);

    case MQ_SEEN_PASSWORD:
        return mquota_args_copy(a->password, sizeof(a->password), "password", v,
                                vlen, err);

    case MQ_SEEN_TIMEOUT:
        return mquota_args_int(&a->timeout_ms, "timeout_ms", v, vlen, 1,
                               MQUOTA_TIMEOUT_MAX, err);

    case MQ_SEEN_DOWN:
        if (mquota_args_is(v, vlen, "tempfail")) {
            a->redis_down = MQUOTA_DOWN_TEMPFAIL;
        } else if (mquota_args_is(v, vlen, "accept")) {
            a->redis_down = MQUOTA_DOWN_ACCEPT;
        } else {
            mtr_sanitize(shown, sizeof(shown), v, vlen);
            return mtr_err_set(
                err, "redis_down='%s': expected tempfail or accept", shown);
        }
        return MTR_OK;

    default: /* MQ_SEEN_NS: Dovecot allows the empty prefix. */
        a->has_ns = 1;
        return mquota_args_copy(a->ns, sizeof(a->ns), "ns", v, vlen, err);
    }

#undef NAME_IS
}

static int
mquota_args_copy(char *dst, size_t size, const char *name, const char *v,
                 size_t len, mtr_err_t *err)
{
    size_t i;

    if (len > size - 1) {
        return mtr_err_set(err, "%s= longer than %zu bytes", name, size - 1);
    }

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char) v[i];

        if (c < 0x20 || c == 0x7f) {
            return mtr_err_set(err, "%s= holds control byte 0x%02x", name, c);
        }
    }

    memcpy(dst, v, len);
    dst[len] = '\0';
    return MTR_OK;
}

static int
mquota_args_int(int *dst, const char *name, const char *v, size_t len,
                uint64_t min, uint64_t max, mtr_err_t *err)
{
    uint64_t n;
    char     shown[32];

    if (mtr_parse_uint(v, len, max, &n) != MTR_OK || n < min) {
        mtr_sanitize(shown, sizeof(shown), v, len);
        return mtr_err_set(err, "%s='%s': expected a number from %llu to %llu",
                           name, shown, (unsigned long long) min,
                           (unsigned long long) max);
    }

    *dst = (int) n;
    return MTR_OK;
}

static int
mquota_args_is(const char *t, size_t len, const char *word)
{
    return strlen(word) == len && memcmp(t, word, len) == 0;
}
