/*
 * mtr_config.c -- the `key = value` configuration reader and the {{key}}
 * template renderer built on it.
 *
 * Core: no logging, no exits.  Covered by tests/unit/test_mtr_config.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mtr_config.h"

typedef struct {
    char  *key;
    char  *value;
    char  *file; /* shared by the entries of one file: see owns_file */
    size_t line;
    int    owns_file;
} mtr_config_entry_t;

struct mtr_config_s {
    mtr_config_entry_t *entries;
    size_t              n;
    size_t              cap;
};

static int
mtr_config_key_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

static int
mtr_config_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static mtr_config_entry_t *
mtr_config_find(const mtr_config_t *cfg, const char *key)
{
    size_t i;

    if (cfg == NULL) {
        return NULL;
    }
    for (i = 0; i < cfg->n; i++) {
        if (strcmp(cfg->entries[i].key, key) == 0) {
            return &cfg->entries[i];
        }
    }
    return NULL;
}

/*
 * Append an entry; key and value are copied.  file is borrowed from the
 * caller's first entry of the same parse (owns_file says who frees it).
 */
static int
mtr_config_append(mtr_config_t *cfg, const char *key, size_t klen,
                  const char *value, size_t vlen, char *file, int owns_file,
                  size_t line, mtr_err_t *err)
{
    mtr_config_entry_t *e;

    if (cfg->n == cfg->cap) {
        size_t              cap = cfg->cap ? cfg->cap * 2 : 32;
        mtr_config_entry_t *p;

        p = realloc(cfg->entries, cap * sizeof(*p));
        if (p == NULL) {
            return mtr_err_set(err, "out of memory");
        }
        cfg->entries = p;
        cfg->cap = cap;
    }

    e = &cfg->entries[cfg->n];
    e->key = strndup(key, klen);
    e->value = malloc(vlen + 1);
    if (e->key == NULL || e->value == NULL) {
        free(e->key);
        free(e->value);
        return mtr_err_set(err, "out of memory");
    }
    memcpy(e->value, value, vlen);
    e->value[vlen] = '\0';
    e->file = file;
    e->owns_file = owns_file;
    e->line = line;
    cfg->n++;
    return MTR_OK;
}

static void
mtr_config_truncate(mtr_config_t *cfg, size_t n)
{
    while (cfg->n > n) {
        mtr_config_entry_t *e = &cfg->entries[--cfg->n];

        free(e->key);
        free(e->value);
        if (e->owns_file) {
            free(e->file);
        }
    }
}

/*
 * Unquote a "..." value in place into out (at least len bytes).  Only \"
 * and \\ are escapes: anything else after a backslash is an error, so a
 * Windows path pasted without doubling is caught instead of mangled.
 */
static int
mtr_config_unquote(const char *p, size_t len, char *out, size_t *out_len_r,
                   const char **bad_r)
{
    size_t i, o = 0;

    /* p[0] is the opening quote; the closing one must be last. */
    for (i = 1; i < len; i++) {
        if (p[i] == '"') {
            if (i != len - 1) {
                *bad_r = "text after the closing quote";
                return MTR_ERROR;
            }
            *out_len_r = o;
            return MTR_OK;
        }
        if (p[i] == '\\') {
            if (i + 1 >= len || (p[i + 1] != '"' && p[i + 1] != '\\')) {
                *bad_r = "only \\\" and \\\\ may follow a backslash";
                return MTR_ERROR;
            }
            i++;
        }
        out[o++] = p[i];
    }
    *bad_r = "unterminated quote";
    return MTR_ERROR;
}

int
mtr_config_parse(const char *buf, size_t len, const char *name,
                 mtr_config_t **cfg_r, mtr_err_t *err)
{
    mtr_config_t *cfg = *cfg_r;
    size_t        first, lineno = 0, pos = 0;
    char         *file, *tmp = NULL;
    int           fresh = 0, owns = 1;

    if (len > MTR_CONFIG_FILE_MAX) {
        return mtr_err_set(err, "%s: larger than %d bytes", name,
                           MTR_CONFIG_FILE_MAX);
    }
    if (cfg == NULL) {
        cfg = calloc(1, sizeof(*cfg));
        if (cfg == NULL) {
            return mtr_err_set(err, "out of memory");
        }
        fresh = 1;
    }
    file = strdup(name);
    tmp = malloc(MTR_CONFIG_LINE_MAX);
    if (file == NULL || tmp == NULL) {
        mtr_err_set(err, "out of memory");
        free(file);
        goto failed;
    }
    first = cfg->n;

    while (pos < len) {
        const char *line = buf + pos, *nl, *k, *v, *end;
        size_t      llen, klen, vlen;

        nl = memchr(line, '\n', len - pos);
        llen = nl ? (size_t) (nl - line) : len - pos;
        pos += llen + (nl ? 1 : 0);
        lineno++;

        if (llen >= MTR_CONFIG_LINE_MAX) {
            mtr_err_set(err, "%s:%zu: line longer than %d bytes", name, lineno,
                        MTR_CONFIG_LINE_MAX - 1);
            goto failed_entries;
        }
        if (memchr(line, '\0', llen) != NULL) {
            mtr_err_set(err, "%s:%zu: NUL byte in line", name, lineno);
            goto failed_entries;
        }

        end = line + llen;
        while (line < end && mtr_config_blank((unsigned char) *line)) {
            line++;
        }
        while (end > line && mtr_config_blank((unsigned char) end[-1])) {
            end--;
        }
        if (line == end || *line == '#') {
            continue;
        }

        k = line;
        while (line < end && mtr_config_key_char((unsigned char) *line)) {
            line++;
        }
        klen = (size_t) (line - k);
        if (klen == 0) {
            mtr_err_set(err, "%s:%zu: expected \"key = value\"", name, lineno);
            goto failed_entries;
        }
        if (klen > MTR_CONFIG_KEY_MAX) {
            mtr_err_set(err, "%s:%zu: key longer than %d bytes", name, lineno,
                        MTR_CONFIG_KEY_MAX);
            goto failed_entries;
        }
        while (line < end && mtr_config_blank((unsigned char) *line)) {
            line++;
        }
        if (line == end || *line != '=') {
            mtr_err_set(err, "%s:%zu: expected '=' after \"%.*s\"", name,
                        lineno, (int) klen, k);
            goto failed_entries;
        }
        line++;
        while (line < end && mtr_config_blank((unsigned char) *line)) {
            line++;
        }
        v = line;
        vlen = (size_t) (end - line);

        if (vlen > 0 && *v == '"') {
            const char *bad;

            if (mtr_config_unquote(v, vlen, tmp, &vlen, &bad) != MTR_OK) {
                mtr_err_set(err, "%s:%zu: %.*s: %s", name, lineno, (int) klen,
                            k, bad);
                goto failed_entries;
            }
            v = tmp;
        }

        {
            char                key[MTR_CONFIG_KEY_MAX + 1];
            mtr_config_entry_t *dup;

            memcpy(key, k, klen);
            key[klen] = '\0';
            dup = mtr_config_find(cfg, key);
            if (dup != NULL) {
                mtr_err_set(err, "%s:%zu: \"%s\" already set at %s:%zu", name,
                            lineno, key, dup->file, dup->line);
                goto failed_entries;
            }
        }

        if (mtr_config_append(cfg, k, klen, v, vlen, file, owns, lineno, err)
            != MTR_OK) {
            goto failed_entries;
        }
        owns = 0;
    }

    if (owns) {
        free(file); /* no entry took it */
    }
    free(tmp);
    *cfg_r = cfg;
    return MTR_OK;

failed_entries:
    if (owns) {
        free(file);
    }
    mtr_config_truncate(cfg, first);
failed:
    free(tmp);
    if (fresh) {
        mtr_config_destroy(&cfg);
    }
    return MTR_ERROR;
}

int
mtr_config_load(const char *path, mtr_config_t **cfg_r, mtr_err_t *err)
{
    struct stat st;
    char       *buf;
    size_t      got = 0;
    ssize_t     n;
    int         fd, rc;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return mtr_err_set(err, "%s: %s", path, strerror(errno));
    }
    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
        close(fd);
        return mtr_err_set(err, "%s: not a regular file", path);
    }
    if (st.st_size > MTR_CONFIG_FILE_MAX) {
        close(fd);
        return mtr_err_set(err, "%s: larger than %d bytes", path,
                           MTR_CONFIG_FILE_MAX);
    }
    buf = malloc((size_t) st.st_size + 1);
    if (buf == NULL) {
        close(fd);
        return mtr_err_set(err, "out of memory");
    }
    /* The file may change under us: never read past the size we sized. */
    while (got < (size_t) st.st_size) {
        n = read(fd, buf + got, (size_t) st.st_size - got);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n == -1) {
            mtr_err_set(err, "%s: %s", path, strerror(errno));
            close(fd);
            free(buf);
            return MTR_ERROR;
        }
        if (n == 0) {
            break;
        }
        got += (size_t) n;
    }
    close(fd);

    rc = mtr_config_parse(buf, got, path, cfg_r, err);
    free(buf);
    return rc;
}

int
mtr_config_set(mtr_config_t **cfg_r, const char *key, const char *value,
               mtr_err_t *err)
{
    mtr_config_t *cfg = *cfg_r;
    size_t        i, klen = strlen(key);
    char         *file;

    if (klen == 0 || klen > MTR_CONFIG_KEY_MAX) {
        return mtr_err_set(err, "bad key length in \"%s\"", key);
    }
    for (i = 0; i < klen; i++) {
        if (!mtr_config_key_char((unsigned char) key[i])) {
            return mtr_err_set(err, "bad character in key \"%s\"", key);
        }
    }
    if (mtr_config_find(cfg, key) != NULL) {
        return mtr_err_set(err, "\"%s\" is already set", key);
    }
    if (strlen(value) >= MTR_CONFIG_LINE_MAX) {
        return mtr_err_set(err, "value of \"%s\" is too long", key);
    }
    if (cfg == NULL) {
        cfg = calloc(1, sizeof(*cfg));
        if (cfg == NULL) {
            return mtr_err_set(err, "out of memory");
        }
    }
    file = strdup("command line");
    if (file == NULL
        || mtr_config_append(cfg, key, klen, value, strlen(value), file, 1, 0,
                             err)
               != MTR_OK)
    {
        free(file);
        if (*cfg_r == NULL) {
            mtr_config_destroy(&cfg);
        }
        return mtr_err_set(err, "out of memory");
    }
    *cfg_r = cfg;
    return MTR_OK;
}

void
mtr_config_destroy(mtr_config_t **cfgp)
{
    mtr_config_t *cfg = *cfgp;

    if (cfg == NULL) {
        return;
    }
    mtr_config_truncate(cfg, 0);
    free(cfg->entries);
    free(cfg);
    *cfgp = NULL;
}

const char *
mtr_config_get(const mtr_config_t *cfg, const char *key)
{
    mtr_config_entry_t *e = mtr_config_find(cfg, key);

    return e ? e->value : NULL;
}

const char *
mtr_config_where(const mtr_config_t *cfg, const char *key, char *buf,
                 size_t size)
{
    mtr_config_entry_t *e = mtr_config_find(cfg, key);

    /* A cut location is still a useful hint: snprintf's cut is fine here. */
    if (e == NULL) {
        snprintf(buf, size, "-");
    } else if (e->line == 0) {
        snprintf(buf, size, "%s", e->file);
    } else {
        snprintf(buf, size, "%s:%zu", e->file, e->line);
    }
    return buf;
}

int
mtr_config_require(const mtr_config_t *cfg, const char *key,
                   const char **value_r, mtr_err_t *err)
{
    const char *v = mtr_config_get(cfg, key);

    if (v == NULL) {
        return mtr_err_set(err, "missing required key \"%s\"", key);
    }
    *value_r = v;
    return MTR_OK;
}

static int
mtr_config_bad(const mtr_config_t *cfg, const char *key, const char *value,
               const char *expect, mtr_err_t *err)
{
    char where[256], shown[128];

    mtr_sanitize(shown, sizeof(shown), value, strlen(value));
    return mtr_err_set(err, "%s: invalid value \"%s\" for \"%s\": %s",
                       mtr_config_where(cfg, key, where, sizeof(where)), shown,
                       key, expect);
}

int
mtr_config_get_uint(const mtr_config_t *cfg, const char *key, uint64_t def,
                    uint64_t min, uint64_t max, uint64_t *value_r,
                    mtr_err_t *err)
{
    const char *v = mtr_config_get(cfg, key);
    uint64_t    n;
    char        expect[96];

    if (v == NULL) {
        *value_r = def;
        return MTR_OK;
    }
    if (mtr_parse_uint(v, strlen(v), max, &n) != MTR_OK || n < min) {
        snprintf(expect, sizeof(expect), "expected a number from %llu to %llu",
                 (unsigned long long) min, (unsigned long long) max);
        return mtr_config_bad(cfg, key, v, expect, err);
    }
    *value_r = n;
    return MTR_OK;
}

int
mtr_config_get_size(const mtr_config_t *cfg, const char *key, uint64_t def,
                    uint64_t max, uint64_t *value_r, mtr_err_t *err)
{
    const char *v = mtr_config_get(cfg, key);
    uint64_t    n;
    char        expect[96];

    if (v == NULL) {
        *value_r = def;
        return MTR_OK;
    }
    if (mtr_parse_size(v, strlen(v), max, &n) != MTR_OK) {
        snprintf(expect, sizeof(expect),
                 "expected a size such as 512K, 10M or 2G, at most %llu",
                 (unsigned long long) max);
        return mtr_config_bad(cfg, key, v, expect, err);
    }
    *value_r = n;
    return MTR_OK;
}

int
mtr_config_get_bool(const mtr_config_t *cfg, const char *key, int def,
                    int *value_r, mtr_err_t *err)
{
    static const char *const yes[] = { "yes", "true", "on", "1" };
    static const char *const no[] = { "no", "false", "off", "0" };
    const char              *v = mtr_config_get(cfg, key);
    size_t                   i;

    if (v == NULL) {
        *value_r = def;
        return MTR_OK;
    }
    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *value_r = 1;
            return MTR_OK;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *value_r = 0;
            return MTR_OK;
        }
    }
    return mtr_config_bad(cfg, key, v, "expected yes or no", err);
}

int
mtr_config_check_keys(const mtr_config_t *cfg, const char *const *known,
                      mtr_err_t *err)
{
    size_t i, j;

    if (cfg == NULL) {
        return MTR_OK;
    }
    for (i = 0; i < cfg->n; i++) {
        const mtr_config_entry_t *e = &cfg->entries[i];

        for (j = 0; known[j] != NULL; j++) {
            if (strcmp(e->key, known[j]) == 0) {
                break;
            }
        }
        if (known[j] == NULL) {
            return mtr_err_set(err, "%s:%zu: unknown key \"%s\"", e->file,
                               e->line, e->key);
        }
    }
    return MTR_OK;
}

size_t
mtr_config_count(const mtr_config_t *cfg)
{
    return cfg ? cfg->n : 0;
}

void
mtr_config_entry(const mtr_config_t *cfg, size_t i, const char **key_r,
                 const char **value_r)
{
    *key_r = cfg->entries[i].key;
    *value_r = cfg->entries[i].value;
}

/* A growable output buffer for the renderer. */
typedef struct {
    char  *p;
    size_t len;
    size_t cap;
} mtr_config_buf_t;

static int
mtr_config_buf_add(mtr_config_buf_t *b, const char *s, size_t n)
{
    if (n > b->cap - b->len - 1) {
        size_t cap = b->cap;
        char  *p;

        while (n > cap - b->len - 1) {
            if (cap > SIZE_MAX / 2) {
                return MTR_ERROR;
            }
            cap *= 2;
        }
        p = realloc(b->p, cap);
        if (p == NULL) {
            return MTR_ERROR;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return MTR_OK;
}

int
mtr_config_render(const mtr_config_t *cfg, const char *in, size_t len,
                  const char *name, char **out_r, size_t *out_len_r,
                  mtr_err_t *err)
{
    mtr_config_buf_t b;
    size_t           pos = 0, line = 1;

    b.cap = len + 256;
    b.len = 0;
    b.p = malloc(b.cap);
    if (b.p == NULL) {
        return mtr_err_set(err, "out of memory");
    }
    b.p[0] = '\0';

    while (pos < len) {
        const char *open, *k, *close, *value;
        char        key[MTR_CONFIG_KEY_MAX + 1];
        size_t      chunk, klen, i;

        open = memmem(in + pos, len - pos, "{{", 2);
        chunk = open ? (size_t) (open - (in + pos)) : len - pos;
        for (i = 0; i < chunk; i++) {
            line += in[pos + i] == '\n';
        }
        if (mtr_config_buf_add(&b, in + pos, chunk) != MTR_OK) {
            goto nomem;
        }
        pos += chunk;
        if (open == NULL) {
            break;
        }

        k = open + 2;
        close = memmem(k, len - (size_t) (k - in), "}}", 2);
        if (close == NULL || memchr(k, '\n', (size_t) (close - k)) != NULL) {
            mtr_err_set(err, "%s:%zu: unterminated \"{{\"", name, line);
            goto failed;
        }
        klen = (size_t) (close - k);
        for (i = 0; i < klen; i++) {
            if (!mtr_config_key_char((unsigned char) k[i])) {
                break;
            }
        }
        if (klen == 0 || klen > MTR_CONFIG_KEY_MAX || i != klen) {
            mtr_err_set(err, "%s:%zu: malformed placeholder \"{{%.*s}}\"", name,
                        line, (int) (klen > 64 ? 64 : klen), k);
            goto failed;
        }
        memcpy(key, k, klen);
        key[klen] = '\0';
        value = mtr_config_get(cfg, key);
        if (value == NULL) {
            mtr_err_set(err, "%s:%zu: no value for \"{{%s}}\"", name, line,
                        key);
            goto failed;
        }
        if (mtr_config_buf_add(&b, value, strlen(value)) != MTR_OK) {
            goto nomem;
        }
        pos = (size_t) (close + 2 - in);
    }

    *out_r = b.p;
    *out_len_r = b.len;
    return MTR_OK;

nomem:
    mtr_err_set(err, "out of memory");
failed:
    free(b.p);
    return MTR_ERROR;
}
