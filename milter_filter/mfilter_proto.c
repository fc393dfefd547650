/*
 * mfilter_proto.c -- clamd, spamd and rspamd framing and reply parsing.
 *
 * Core: no libmilter, no sockets, no logging.  See mfilter_proto.h;
 * covered by tests/unit/test_mfilter_proto.c.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "mfilter_proto.h"

void
mfilter_clamd_chunk_header(uint32_t len, unsigned char out[4])
{
    out[0] = (unsigned char) (len >> 24);
    out[1] = (unsigned char) (len >> 16);
    out[2] = (unsigned char) (len >> 8);
    out[3] = (unsigned char) len;
}

static int
ends_with(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);

    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

mfilter_clamd_e
mfilter_clamd_parse(const char *buf, size_t len, char *virus, size_t vsize,
                    mtr_err_t *err)
{
    char        safe[128];
    const char *name;
    size_t      nlen;

    while (len > 0
           && (buf[len - 1] == '\0' || buf[len - 1] == '\n'
               || buf[len - 1] == '\r'))
    {
        len--;
    }
    if (len == 10 && memcmp(buf, "stream: OK", 10) == 0) {
        return MFILTER_CLAMD_CLEAN;
    }
    if (len > 8 + 6 && memcmp(buf, "stream: ", 8) == 0
        && ends_with(buf, len, " FOUND"))
    {
        name = buf + 8;
        nlen = len - 8 - 6;
        if (memchr(name, '\0', nlen) != NULL || nlen == 0) {
            goto error;
        }
        mfilter_header_safe(virus, vsize, name, nlen);
        return MFILTER_CLAMD_FOUND;
    }
    if (memmem(buf, len, "size limit exceeded", 19) != NULL) {
        mtr_sanitize(safe, sizeof(safe), buf, len);
        mtr_err_set(err, "clamd: %s", safe);
        return MFILTER_CLAMD_SIZE_LIMIT;
    }
error:
    mtr_sanitize(safe, sizeof(safe), buf, len);
    mtr_err_set(err, "clamd answered \"%s\"", safe);
    return MFILTER_CLAMD_ERROR;
}

/* Append rule name to the comma-separated list in rules[0..*used). */
static void
rules_append(char *rules, size_t rsize, size_t *used, const char *name,
             size_t nlen)
{
    char   one[MFILTER_RULES_MAX + 1];
    size_t need;

    if (nlen == 0 || *used + 4 >= rsize
        || (*used >= 3 && memcmp(rules + *used - 3, "...", 3) == 0))
    {
        return;
    }
    mfilter_header_safe(one, sizeof(one), name, nlen);
    need = strlen(one) + (*used > 0 ? 1 : 0);
    if (need > rsize - 4 - *used) {
        /* @UNSAFE: *used + 4 < rsize, checked above */
        memcpy(rules + *used, "...", 4);
        *used += 3;
        return;
    }
    if (*used > 0) {
        rules[(*used)++] = ',';
    }
    memcpy(rules + *used, one, strlen(one) + 1);
    *used += strlen(one);
}

int
mfilter_spamc_request(char *out, size_t size, uint64_t msg_len,
                      const char *user, size_t *len_r, mtr_err_t *err)
{
    int    n;
    size_t i;

    if (user != NULL) {
        if (strlen(user) == 0 || strlen(user) > 64) {
            return mtr_err_set(err, "spamd user name length out of range");
        }
        for (i = 0; user[i] != '\0'; i++) {
            if (user[i] <= ' ' || user[i] > '~') {
                return mtr_err_set(err, "spamd user name is not printable");
            }
        }
    }
    n = snprintf(out, size,
                 "SYMBOLS SPAMC/1.5\r\nContent-length: %llu\r\n%s%s%s\r\n",
                 (unsigned long long) msg_len, user ? "User: " : "",
                 user ? user : "", user ? "\r\n" : "");
    if (n < 0 || (size_t) n >= size) {
        return mtr_err_set(err, "spamd request header does not fit");
    }
    *len_r = (size_t) n;
    return MTR_OK;
}

/* Find the end of an HTTP-like header block: offset of the body. */
static int
header_end(const char *buf, size_t len, size_t *body_r)
{
    const char *p = memmem(buf, len, "\r\n\r\n", 4);

    if (p != NULL) {
        *body_r = (size_t) (p - buf) + 4;
        return MTR_OK;
    }
    p = memmem(buf, len, "\n\n", 2);
    if (p != NULL) {
        *body_r = (size_t) (p - buf) + 2;
        return MTR_OK;
    }
    return MTR_ERROR;
}

int
mfilter_reply_complete(const char *buf, size_t len)
{
    size_t      body, llen;
    uint64_t    clen;
    const char *line, *nl, *v;

    if (header_end(buf, len, &body) != MTR_OK) {
        return 0;
    }
    for (line = buf; line < buf + body; line = nl + 1) {
        nl = memchr(line, '\n', (size_t) (buf + body - line));
        if (nl == NULL) {
            break;
        }
        llen = (size_t) (nl - line);
        if (llen > 15 && strncasecmp(line, "Content-length:", 15) == 0) {
            v = line + 15;
            while (v < nl && *v == ' ') {
                v++;
            }
            llen = (size_t) (nl - v);
            if (llen > 0 && v[llen - 1] == '\r') {
                llen--;
            }
            if (mtr_parse_uint(v, llen, UINT32_MAX, &clen) != MTR_OK) {
                return 1; /* malformed: let the parser say so */
            }
            return len - body >= clen;
        }
    }
    return 1;
}

static const char *
trim(const char *s, const char *e, size_t *len_r)
{
    while (s < e && (*s == ' ' || *s == '\t')) {
        s++;
    }
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) {
        e--;
    }
    *len_r = (size_t) (e - s);
    return s;
}

int
mfilter_spamc_parse(const char *buf, size_t len, int32_t *score_r, char *rules,
                    size_t rsize, mtr_err_t *err)
{
    char        safe[128];
    size_t      body, used = 0, llen, slen;
    const char *p, *e, *line, *nl, *semi, *slash, *sc;
    int         have_score = 0;

    if (rsize < 4) {
        return mtr_err_set(err, "rules buffer too small");
    }
    rules[0] = '\0';
    if (len > MFILTER_SPAMD_REPLY_MAX) {
        return mtr_err_set(err, "spamd reply longer than %d bytes",
                           MFILTER_SPAMD_REPLY_MAX);
    }
    if (len < 6 || memcmp(buf, "SPAMD/", 6) != 0
        || header_end(buf, len, &body) != MTR_OK)
    {
        mtr_sanitize(safe, sizeof(safe), buf, len);
        return mtr_err_set(err, "spamd answered \"%s\"", safe);
    }
    /* Status line: SPAMD/1.1 0 EX_OK */
    nl = memchr(buf, '\n', body);
    p = memchr(buf, ' ', (size_t) (nl - buf));
    if (p == NULL || p + 2 >= nl || p[1] != '0'
        || (p[2] != ' ' && p[2] != '\r')) {
        mtr_sanitize(safe, sizeof(safe), buf, (size_t) (nl - buf));
        return mtr_err_set(err, "spamd failed: \"%s\"", safe);
    }
    for (line = nl + 1; line < buf + body; line = nl + 1) {
        nl = memchr(line, '\n', (size_t) (buf + body - line));
        if (nl == NULL) {
            break;
        }
        llen = (size_t) (nl - line);
        if (llen > 5 && strncasecmp(line, "Spam:", 5) == 0) {
            /* Spam: True ; 1000.0 / 5.0 */
            semi = memchr(line, ';', llen);
            slash = semi ? memchr(semi, '/', (size_t) (nl - semi)) : NULL;
            if (semi == NULL || slash == NULL) {
                break;
            }
            sc = trim(semi + 1, slash, &slen);
            if (mfilter_parse_score(sc, slen, MFILTER_SCORE_LIMIT, score_r, err)
                != MTR_OK) {
                return mtr_err_set(err, "spamd sent a malformed score");
            }
            have_score = 1;
        }
    }
    if (!have_score) {
        return mtr_err_set(err, "spamd reply has no Spam: header");
    }
    /* Body: RULE_A,RULE_B[\r\n] */
    p = buf + body;
    e = buf + len;
    while (p < e) {
        const char *c = p;

        while (c < e && *c != ',' && *c != '\r' && *c != '\n') {
            c++;
        }
        rules_append(rules, rsize, &used, p, (size_t) (c - p));
        p = c + 1;
    }
    return MTR_OK;
}

static int
meta_ok(const char *v)
{
    return strpbrk(v, "\r\n") == NULL && strlen(v) <= 512;
}

int
mfilter_rspamd_request(char *out, size_t size, uint64_t msg_len,
                       const mfilter_rspamd_meta_t *meta, size_t *len_r,
                       mtr_err_t *err)
{
    static const char *names[] = { "Queue-Id", "From", "IP", "Helo", "User" };
    const char        *vals[5] = { NULL, NULL, NULL, NULL, NULL };
    size_t             used, i;
    int                n;

    if (meta != NULL) {
        vals[0] = meta->queue_id;
        vals[1] = meta->from;
        vals[2] = meta->ip;
        vals[3] = meta->helo;
        vals[4] = meta->user;
    }
    n = snprintf(out, size,
                 "POST /checkv2 HTTP/1.0\r\nContent-Length: %llu\r\n",
                 (unsigned long long) msg_len);
    if (n < 0 || (size_t) n >= size) {
        return mtr_err_set(err, "rspamd request header does not fit");
    }
    used = (size_t) n;
    for (i = 0; i < 5 + 1000; i++) {
        const char *name, *v;

        if (i < 5) {
            name = names[i];
            v = vals[i];
        } else {
            if (meta == NULL || meta->rcpts == NULL
                || meta->rcpts[i - 5] == NULL) {
                break;
            }
            name = "Rcpt";
            v = meta->rcpts[i - 5];
        }
        if (v == NULL || v[0] == '\0') {
            continue;
        }
        if (!meta_ok(v)) {
            return mtr_err_set(err, "rspamd %s value has CR/LF or is long",
                               name);
        }
        n = snprintf(out + used, size - used, "%s: %s\r\n", name, v);
        if (n < 0 || (size_t) n >= size - used) {
            return mtr_err_set(err, "rspamd request header does not fit");
        }
        used += (size_t) n;
    }
    if (size - used < 3) {
        return mtr_err_set(err, "rspamd request header does not fit");
    }
    memcpy(out + used, "\r\n", 3);
    *len_r = used + 2;
    return MTR_OK;
}

int
mfilter_rspamd_parse(const char *buf, size_t len, int32_t *score_r, char *rules,
                     size_t rsize, mtr_err_t *err)
{
    char         safe[128], num[64];
    size_t       body, used = 0;
    const char  *sp, *nl;
    json_t      *root, *score, *symbols, *skipped;
    json_error_t jerr;
    const char  *key;
    json_t      *val;
    double       d;
    int          rc = MTR_ERROR;

    if (rsize < 4) {
        return mtr_err_set(err, "rules buffer too small");
    }
    rules[0] = '\0';
    if (len > MFILTER_RSPAMD_REPLY_MAX) {
        return mtr_err_set(err, "rspamd reply longer than %d bytes",
                           MFILTER_RSPAMD_REPLY_MAX);
    }
    if (len < 12 || memcmp(buf, "HTTP/1.", 7) != 0
        || header_end(buf, len, &body) != MTR_OK)
    {
        mtr_sanitize(safe, sizeof(safe), buf, len);
        return mtr_err_set(err, "rspamd answered \"%s\"", safe);
    }
    nl = memchr(buf, '\n', body);
    sp = memchr(buf, ' ', (size_t) (nl - buf));
    if (sp == NULL || nl - sp < 4 || memcmp(sp + 1, "200", 3) != 0) {
        mtr_sanitize(safe, sizeof(safe), buf, (size_t) (nl - buf));
        return mtr_err_set(err, "rspamd failed: \"%s\"", safe);
    }
    root = json_loadb(buf + body, len - body, 0, &jerr);
    if (root == NULL || !json_is_object(root)) {
        mtr_err_set(err, "rspamd sent malformed JSON: %s",
                    root ? "not an object" : jerr.text);
        goto done;
    }
    skipped = json_object_get(root, "is_skipped");
    if (json_is_true(skipped)) {
        mtr_err_set(err, "rspamd skipped the message");
        rc = MTR_DECLINED;
        goto done;
    }
    score = json_object_get(root, "score");
    if (!json_is_number(score)) {
        mtr_err_set(err, "rspamd reply has no numeric score");
        goto done;
    }
    d = json_number_value(score);
    if (!(d > -1e6 && d < 1e6)) {
        mtr_err_set(err, "rspamd score out of range");
        goto done;
    }
    /* Through text, so rounding matches a score spamd would send. */
    snprintf(num, sizeof(num), "%.3f", d);
    if (mfilter_parse_score(num, strlen(num), MFILTER_SCORE_LIMIT, score_r, err)
        != MTR_OK)
    {
        goto done;
    }
    symbols = json_object_get(root, "symbols");
    if (json_is_object(symbols)) {
        json_object_foreach(symbols, key, val)
        {
            (void) val;
            rules_append(rules, rsize, &used, key, strlen(key));
        }
    }
    rc = MTR_OK;
done:
    json_decref(root);
    return rc;
}
