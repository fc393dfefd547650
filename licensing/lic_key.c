/*
 * lic_key.c -- armor, blob framing, payload parser and signer of license
 * keys (format and rules in lic_key.h).
 *
 * Core: no I/O, no logging, no clock; OpenSSL is used through EVP only.
 * The one set of field rules lives in parse_field(): lic_validate() renders
 * each field of a lic_t to its key text and runs it through the same
 * function, so the issuer can never sign what the parser would refuse.
 * Covered by tests/unit/test_lic_key.c, fuzzed by tests/fuzz/fuzz_lic_parse.c.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "lic_key.h"

/* Base64 characters of a maximal blob: 4 per started group of 3 bytes. */
#define LIC_B64_MAX (((LIC_BLOB_MAX + 2) / 3) * 4)

/* How much of a bad value an error message quotes. */
#define LIC_SHOWN_MAX 48

enum {
    F_ID = 0,
    F_CUSTOMER,
    F_DEPLOYMENT,
    F_SEATS,
    F_NOT_BEFORE,
    F_NOT_AFTER,
    F_GRACE_DAYS,
    F_PLAN,
    F_SUPPORT,
    F_MODULES,
    F_ISSUED
};

/* The canonical order of the payload: index = F_* above. */
static const char *const field_names[LIC_FIELDS] = {
    "id",         "customer",  "deployment", "seats",
    "not_before", "not_after", "grace_days", "plan",
    "support",    "modules",   "issued",
};

static const char *const plan_names[LIC_PLAN_COUNT] = {
    "Startup",  "Cruise",     "Endurance",
    "Endeavor", "Enterprise", "Mission Critical",
};

static const char *const support_names[LIC_SUPPORT_COUNT] = {
    "Assurance",
    "Privilege",
    "Priority",
};

static const char *const module_names[LIC_MOD_COUNT] = {
    "webmail", "dav", "admin", "milter", "policy", "quota", "archive", "sms",
};

const char *
lic_plan_name(lic_plan_e plan)
{
    return (unsigned) plan < LIC_PLAN_COUNT ? plan_names[plan] : NULL;
}

const char *
lic_support_name(lic_support_e support)
{
    return (unsigned) support < LIC_SUPPORT_COUNT ? support_names[support]
                                                  : NULL;
}

const char *
lic_module_name(lic_module_e module)
{
    return (unsigned) module < LIC_MOD_COUNT ? module_names[module] : NULL;
}

static int
slice_is(const char *s, size_t len, const char *word)
{
    return len == strlen(word) && memcmp(s, word, len) == 0;
}

int
lic_plan_from_name(const char *s, size_t len, lic_plan_e *plan_r)
{
    int i;

    for (i = 0; s != NULL && i < LIC_PLAN_COUNT; i++) {
        if (slice_is(s, len, plan_names[i])) {
            *plan_r = (lic_plan_e) i;
            return MTR_OK;
        }
    }
    return MTR_ERROR;
}

int
lic_support_from_name(const char *s, size_t len, lic_support_e *support_r)
{
    int i;

    for (i = 0; s != NULL && i < LIC_SUPPORT_COUNT; i++) {
        if (slice_is(s, len, support_names[i])) {
            *support_r = (lic_support_e) i;
            return MTR_OK;
        }
    }
    return MTR_ERROR;
}

int
lic_has_module(const lic_t *lic, lic_module_e module)
{
    return lic != NULL && (unsigned) module < LIC_MOD_COUNT
           && (lic->modules & (UINT32_C(1) << module)) != 0;
}

int
lic_deployment_ok(const char *s, size_t len)
{
    size_t i;

    if (s == NULL || len != LIC_DEPLOYMENT_LEN) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;

        if (dash ? s[i] != '-'
                 : !((s[i] >= '0' && s[i] <= '9')
                     || (s[i] >= 'a' && s[i] <= 'f')))
        {
            return 0;
        }
    }
    return 1;
}

/*
 * Why s[0..len) is not acceptable key text, or NULL when it is: valid
 * UTF-8 (no overlong form, surrogate or code point past U+10FFFF), no C0,
 * DEL or C1 control, and none of the invisible format characters that let
 * a customer name reorder or split what a terminal or web page shows
 * (bidi marks, embeddings, overrides and isolates, U+2028/2029, BOM).
 */
static const char *
text_problem(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *) text;
    size_t               i = 0, n, k;
    uint32_t             c;

    while (i < len) {
        c = s[i];
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f) {
                return "contains a control character";
            }
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            c &= 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            c &= 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            c &= 0x07;
        } else {
            return "is not valid UTF-8";
        }
        if (len - i - 1 < n) {
            return "is not valid UTF-8 (cut sequence)";
        }
        for (k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return "is not valid UTF-8";
            }
            c = (c << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 2 && c < 0x800) || (n == 3 && c < 0x10000) || c > 0x10ffff) {
            return "is not valid UTF-8 (overlong or out of range)";
        }
        if (c >= 0xd800 && c <= 0xdfff) {
            return "is not valid UTF-8 (surrogate)";
        }
        if (c <= 0x9f) {
            return "contains a control character";
        }
        if (c == 0x200e || c == 0x200f || (c >= 0x2028 && c <= 0x202e)
            || (c >= 0x2066 && c <= 0x2069) || c == 0xfeff)
        {
            return "contains a bidi or line-separator format character";
        }
        i += n + 1;
    }
    return NULL;
}

static int
field_error(mtr_err_t *err, const char *name, const char *v, size_t vlen,
            const char *why)
{
    char shown[LIC_SHOWN_MAX];

    mtr_sanitize(shown, sizeof(shown), v, vlen);
    return mtr_err_set(err, "malformed field '%s': '%s' %s", name, shown, why);
}

/* Decimal without sign or leading zero in [min, max]. */
static int
parse_count(const char *v, size_t len, uint64_t min, uint64_t max,
            uint32_t *value_r)
{
    uint64_t n;

    if (len > 1 && v[0] == '0') {
        return MTR_ERROR;
    }
    if (mtr_parse_uint(v, len, max, &n) != MTR_OK || n < min) {
        return MTR_ERROR;
    }
    *value_r = (uint32_t) n;
    return MTR_OK;
}

static int
days_in_month(int y, int m)
{
    static const int days[12] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : days[m - 1];
}

static int
digits(const char *s, size_t n)
{
    int    v = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int
lic_parse_time(const char *s, size_t len, int64_t *t_r, mtr_err_t *err)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    struct tm         tm;
    time_t            t;
    int               y, mo, d, h, mi, sec;
    size_t            i;

    if (s == NULL || len != LIC_TIME_LEN) {
        return mtr_err_set(err, "is not of the form YYYY-MM-DDTHH:MM:SSZ");
    }
    for (i = 0; i < LIC_TIME_LEN; i++) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i]) {
            return mtr_err_set(err, "is not of the form YYYY-MM-DDTHH:MM:SSZ");
        }
    }

    y = digits(s, 4);
    mo = digits(s + 5, 2);
    d = digits(s + 8, 2);
    h = digits(s + 11, 2);
    mi = digits(s + 14, 2);
    sec = digits(s + 17, 2);

    if (y < 1970) {
        return mtr_err_set(err, "is before 1970");
    }
    /* No leap second: 23:59:60 has no POSIX time of its own. */
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23
        || mi > 59 || sec > 59)
    {
        return mtr_err_set(err, "is not a real date and time");
    }

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = timegm(&tm);
    if (t == (time_t) -1) {
        return mtr_err_set(err, "is not representable");
    }

    *t_r = (int64_t) t;
    return MTR_OK;
}

int
lic_format_time(int64_t t, char *buf, size_t size)
{
    struct tm tm;
    time_t    tt = (time_t) t;

    if (buf == NULL || size < LIC_TIME_MAX) {
        return MTR_ERROR;
    }
    if (t < 0 || t >= LIC_TIME_LIMIT || gmtime_r(&tt, &tm) == NULL) {
        buf[0] = '\0';
        return MTR_ERROR;
    }
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return MTR_OK;
}

int
lic_parse_modules(const char *s, size_t len, uint32_t *modules_r,
                  mtr_err_t *err)
{
    uint32_t    set = 0;
    size_t      pos = 0, n;
    const char *comma;
    char        shown[LIC_SHOWN_MAX];
    int         i;

    if (s == NULL && len != 0) {
        return mtr_err_set(err, "no modules list");
    }

    while (len != 0 && pos <= len) {
        comma = memchr(s + pos, ',', len - pos);
        n = comma != NULL ? (size_t) (comma - (s + pos)) : len - pos;
        if (n == 0) {
            return mtr_err_set(err, "empty item in modules list");
        }
        for (i = 0; i < LIC_MOD_COUNT; i++) {
            if (slice_is(s + pos, n, module_names[i])) {
                break;
            }
        }
        mtr_sanitize(shown, sizeof(shown), s + pos, n);
        if (i == LIC_MOD_COUNT) {
            return mtr_err_set(err,
                               "unknown module '%s' (known: webmail, dav, "
                               "admin, milter, policy, quota, archive, sms)",
                               shown);
        }
        if (set & (UINT32_C(1) << i)) {
            return mtr_err_set(err, "module '%s' listed twice", shown);
        }
        set |= UINT32_C(1) << i;
        pos += n + 1; /* past the comma; past len ends the loop */
    }

    *modules_r = set;
    return MTR_OK;
}

int
lic_format_modules(uint32_t modules, char *buf, size_t size)
{
    size_t len = 0, n;
    int    i;

    if (buf == NULL || size == 0) {
        return MTR_ERROR;
    }
    buf[0] = '\0';
    if (modules & ~LIC_MODULES_ALL) {
        return MTR_ERROR;
    }
    for (i = 0; i < LIC_MOD_COUNT; i++) {
        if (!(modules & (UINT32_C(1) << i))) {
            continue;
        }
        n = strlen(module_names[i]);
        /* Room for a comma, the name and the NUL. */
        if (n + 2 > size - len) {
            buf[0] = '\0';
            return MTR_ERROR;
        }
        if (len != 0) {
            buf[len++] = ',';
        }
        memcpy(buf + len, module_names[i], n + 1);
        len += n;
    }
    return MTR_OK;
}

/*
 * The rule of one known field, applied to its value text v[0..len).  Fills
 * the matching member of lic on success.  This is the only place the
 * field rules live (see the top of the file).
 */
static int
parse_field(int k, const char *v, size_t len, lic_t *lic, mtr_err_t *err)
{
    const char *name = field_names[k], *why;
    mtr_err_t   sub;
    int64_t     t;
    size_t      i;

    switch (k) {
    case F_ID:
        if (len < 1 || len > LIC_ID_MAX) {
            return field_error(err, name, v, len, "is not 1..64 bytes long");
        }
        for (i = 0; i < len; i++) {
            char c = v[i];

            if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                  || (c >= '0' && c <= '9') || c == '.' || c == '_'
                  || c == '-'))
            {
                return field_error(err, name, v, len,
                                   "has a character outside [A-Za-z0-9._-]");
            }
        }
        memcpy(lic->id, v, len);
        lic->id[len] = '\0';
        return MTR_OK;

    case F_CUSTOMER:
        if (len < 1 || len > LIC_CUSTOMER_MAX) {
            return field_error(err, name, v, len, "is not 1..200 bytes long");
        }
        why = text_problem(v, len);
        if (why != NULL) {
            return field_error(err, name, v, len, why);
        }
        if (v[0] == ' ' || v[len - 1] == ' ') {
            return field_error(err, name, v, len,
                               "has a leading or trailing space");
        }
        memcpy(lic->customer, v, len);
        lic->customer[len] = '\0';
        return MTR_OK;

    case F_DEPLOYMENT:
        if (!lic_deployment_ok(v, len)) {
            return field_error(err, name, v, len,
                               "is not a lowercase UUID (8-4-4-4-12)");
        }
        memcpy(lic->deployment, v, len);
        lic->deployment[len] = '\0';
        return MTR_OK;

    case F_SEATS:
        if (parse_count(v, len, 1, LIC_SEATS_MAX, &lic->seats) != MTR_OK) {
            return field_error(err, name, v, len,
                               "is not a number in 1..1000000");
        }
        return MTR_OK;

    case F_GRACE_DAYS:
        if (parse_count(v, len, 0, LIC_GRACE_DAYS_MAX, &lic->grace_days)
            != MTR_OK) {
            return field_error(err, name, v, len, "is not a number in 0..365");
        }
        return MTR_OK;

    case F_NOT_BEFORE:
    case F_NOT_AFTER:
    case F_ISSUED:
        if (lic_parse_time(v, len, &t, &sub) != MTR_OK) {
            return field_error(err, name, v, len, sub.msg);
        }
        if (k == F_NOT_BEFORE) {
            lic->not_before = t;
        } else if (k == F_NOT_AFTER) {
            lic->not_after = t;
        } else {
            lic->issued = t;
        }
        return MTR_OK;

    case F_PLAN:
        if (lic_plan_from_name(v, len, &lic->plan) != MTR_OK) {
            return field_error(err, name, v, len,
                               "is not one of Startup, Cruise, Endurance, "
                               "Endeavor, Enterprise, Mission Critical");
        }
        return MTR_OK;

    case F_SUPPORT:
        if (lic_support_from_name(v, len, &lic->support) != MTR_OK) {
            return field_error(err, name, v, len,
                               "is not one of Assurance, Privilege, Priority");
        }
        return MTR_OK;

    case F_MODULES:
        if (lic_parse_modules(v, len, &lic->modules, &sub) != MTR_OK) {
            return mtr_err_set(err, "malformed field 'modules': %s", sub.msg);
        }
        return MTR_OK;

    default:
        return mtr_err_set(err, "internal error: no field %d", k);
    }
}

/* x-* names: "x-" then 1..62 of [a-z0-9_-]. */
static int
extra_name_ok(const char *s, size_t len)
{
    size_t i;

    if (len < 3 || len > LIC_EXTRA_NAME_MAX || s[0] != 'x' || s[1] != '-') {
        return 0;
    }
    for (i = 2; i < len; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')
              || s[i] == '_' || s[i] == '-'))
        {
            return 0;
        }
    }
    return 1;
}

static int
parse_extra(const char *name, size_t nlen, const char *v, size_t vlen,
            lic_t *lic, mtr_err_t *err)
{
    char        shown[LIC_SHOWN_MAX];
    const char *why;
    size_t      i;

    mtr_sanitize(shown, sizeof(shown), name, nlen);
    if (!extra_name_ok(name, nlen)) {
        return mtr_err_set(err,
                           "malformed field name '%s': x-* names are "
                           "x-[a-z0-9_-]{1,62}",
                           shown);
    }
    for (i = 0; i < lic->nextra; i++) {
        if (slice_is(name, nlen, lic->extra[i].name)) {
            return mtr_err_set(err, "duplicate field '%s'", shown);
        }
    }
    if (lic->nextra == LIC_EXTRA_MAX) {
        return mtr_err_set(err, "too many x-* fields (at most %d)",
                           LIC_EXTRA_MAX);
    }
    if (vlen > LIC_EXTRA_VALUE_MAX) {
        return field_error(err, shown, v, vlen, "is longer than 256 bytes");
    }
    why = text_problem(v, vlen);
    if (why != NULL) {
        return field_error(err, shown, v, vlen, why);
    }

    memcpy(lic->extra[lic->nextra].name, name, nlen);
    lic->extra[lic->nextra].name[nlen] = '\0';
    memcpy(lic->extra[lic->nextra].value, v, vlen);
    lic->extra[lic->nextra].value[vlen] = '\0';
    lic->nextra++;
    return MTR_OK;
}

static int
field_index(const char *name, size_t len)
{
    int k;

    for (k = 0; k < LIC_FIELDS; k++) {
        if (slice_is(name, len, field_names[k])) {
            return k;
        }
    }
    return -1;
}

static int
name_chars_ok(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')
              || s[i] == '_' || s[i] == '-'))
        {
            return 0;
        }
    }
    return len != 0;
}

int
lic_parse_payload(const char *p, size_t len, lic_t *lic_r, mtr_err_t *err)
{
    int         seen[LIC_FIELDS] = { 0 };
    int         k, last = -1, in_extra = 0;
    size_t      pos = 0, line_no = 0, ll, nlen;
    const char *line, *eol, *eq;
    char        shown[LIC_SHOWN_MAX];

    if (lic_r == NULL || (p == NULL && len != 0)) {
        return mtr_err_set(err, "lic_parse_payload: bad arguments");
    }
    memset(lic_r, 0, sizeof(*lic_r));

    if (len > LIC_PAYLOAD_MAX) {
        return mtr_err_set(err, "malformed payload: %zu bytes, at most %d", len,
                           LIC_PAYLOAD_MAX);
    }
    if (len != 0 && memchr(p, '\0', len) != NULL) {
        return mtr_err_set(err, "malformed payload: NUL byte");
    }
    if (len != 0 && memchr(p, '\r', len) != NULL) {
        return mtr_err_set(err, "malformed payload: CR byte (lines end with "
                                "LF alone)");
    }
    if (len != 0 && p[len - 1] != '\n') {
        return mtr_err_set(err, "malformed payload: last line not ended by "
                                "LF");
    }

    while (pos < len) {
        line = p + pos;
        eol = memchr(line, '\n', len - pos); /* found: p ends with LF */
        ll = (size_t) (eol - line);
        pos += ll + 1;
        line_no++;

        eq = memchr(line, '=', ll);
        if (eq == NULL) {
            mtr_err_set(err, "malformed payload: line %zu has no '='", line_no);
            goto failed;
        }
        nlen = (size_t) (eq - line);
        mtr_sanitize(shown, sizeof(shown), line, nlen);
        if (!name_chars_ok(line, nlen) || nlen > LIC_EXTRA_NAME_MAX) {
            mtr_err_set(err,
                        "malformed payload: line %zu: bad field name '%s' "
                        "(want [a-z0-9_-]{1,64})",
                        line_no, shown);
            goto failed;
        }

        k = field_index(line, nlen);
        if (k >= 0) {
            if (seen[k]) {
                mtr_err_set(err, "duplicate field '%s'", shown);
                goto failed;
            }
            if (in_extra) {
                mtr_err_set(err,
                            "field '%s' out of order: it must come before "
                            "the x-* fields",
                            shown);
                goto failed;
            }
            if (k < last) {
                mtr_err_set(err,
                            "field '%s' out of order: it must come before "
                            "'%s'",
                            shown, field_names[last]);
                goto failed;
            }
            seen[k] = 1;
            last = k;
            if (parse_field(k, eq + 1, ll - nlen - 1, lic_r, err) != MTR_OK) {
                goto failed;
            }
        } else if (nlen >= 2 && line[0] == 'x' && line[1] == '-') {
            in_extra = 1;
            if (parse_extra(line, nlen, eq + 1, ll - nlen - 1, lic_r, err)
                != MTR_OK) {
                goto failed;
            }
        } else {
            /* The unknown-field rule: see lic_key.h. */
            mtr_err_set(err,
                        "unknown field '%s': this Mortar build does not know "
                        "it and refuses a key with a rule it cannot enforce "
                        "(only x-* fields are informational)",
                        shown);
            goto failed;
        }
    }

    for (k = 0; k < LIC_FIELDS; k++) {
        if (!seen[k]) {
            mtr_err_set(err, "missing field '%s'", field_names[k]);
            goto failed;
        }
    }
    if (lic_r->not_before >= lic_r->not_after) {
        mtr_err_set(err, "malformed field 'not_after': not after not_before");
        goto failed;
    }

    return MTR_OK;

failed:
    memset(lic_r, 0, sizeof(*lic_r));
    return MTR_ERROR;
}

/* Length of a NUL-terminated string inside an array of size bytes. */
static int
str_in(const char *s, size_t size, size_t *len_r)
{
    size_t n = strnlen(s, size);

    if (n == size) {
        return MTR_ERROR;
    }
    *len_r = n;
    return MTR_OK;
}

/*
 * The text of known field k of lic, as it appears in a key, into buf
 * (LIC_EXTRA_VALUE_MAX + 1 bytes).  Fails on what has no text form: an
 * unterminated string, an enum or time out of range, an unknown module.
 */
static int
render_field(const lic_t *lic, int k, char *buf, size_t *len_r, mtr_err_t *err)
{
    const char *s = NULL, *name = field_names[k];
    size_t      size = LIC_EXTRA_VALUE_MAX + 1, n;
    int64_t     t;

    switch (k) {
    case F_ID:
        if (str_in(lic->id, sizeof(lic->id), &n) != MTR_OK) {
            goto unterminated;
        }
        s = lic->id;
        break;
    case F_CUSTOMER:
        if (str_in(lic->customer, sizeof(lic->customer), &n) != MTR_OK) {
            goto unterminated;
        }
        s = lic->customer;
        break;
    case F_DEPLOYMENT:
        if (str_in(lic->deployment, sizeof(lic->deployment), &n) != MTR_OK) {
            goto unterminated;
        }
        s = lic->deployment;
        break;
    case F_SEATS:
        *len_r = (size_t) snprintf(buf, size, "%u", (unsigned) lic->seats);
        return MTR_OK;
    case F_GRACE_DAYS:
        *len_r = (size_t) snprintf(buf, size, "%u", (unsigned) lic->grace_days);
        return MTR_OK;
    case F_NOT_BEFORE:
    case F_NOT_AFTER:
    case F_ISSUED:
        t = k == F_NOT_BEFORE  ? lic->not_before
            : k == F_NOT_AFTER ? lic->not_after
                               : lic->issued;
        if (lic_format_time(t, buf, size) != MTR_OK) {
            return mtr_err_set(err,
                               "malformed field '%s': time %lld is outside "
                               "1970..9999",
                               name, (long long) t);
        }
        *len_r = LIC_TIME_LEN;
        return MTR_OK;
    case F_PLAN:
        s = lic_plan_name(lic->plan);
        if (s == NULL) {
            return mtr_err_set(err, "malformed field 'plan': value %d",
                               (int) lic->plan);
        }
        n = strlen(s);
        break;
    case F_SUPPORT:
        s = lic_support_name(lic->support);
        if (s == NULL) {
            return mtr_err_set(err, "malformed field 'support': value %d",
                               (int) lic->support);
        }
        n = strlen(s);
        break;
    case F_MODULES:
        if (lic_format_modules(lic->modules, buf, size) != MTR_OK) {
            return mtr_err_set(err, "malformed field 'modules': unknown bits "
                                    "in the set");
        }
        *len_r = strlen(buf);
        return MTR_OK;
    default:
        return mtr_err_set(err, "internal error: no field %d", k);
    }

    memcpy(buf, s, n + 1);
    *len_r = n;
    return MTR_OK;

unterminated:
    return mtr_err_set(err, "malformed field '%s': not NUL-terminated", name);
}

int
lic_validate(const lic_t *lic, mtr_err_t *err)
{
    char   buf[LIC_EXTRA_VALUE_MAX + 1];
    lic_t *scratch, tmp;
    size_t n, nl, vl, i;
    int    k;

    if (lic == NULL) {
        return mtr_err_set(err, "lic_validate: no license");
    }

    /* Each field goes through the very rule the parser applies. */
    scratch = &tmp;
    memset(scratch, 0, sizeof(*scratch));
    for (k = 0; k < LIC_FIELDS; k++) {
        if (render_field(lic, k, buf, &n, err) != MTR_OK
            || parse_field(k, buf, n, scratch, err) != MTR_OK)
        {
            return MTR_ERROR;
        }
    }
    if (lic->not_before >= lic->not_after) {
        return mtr_err_set(err,
                           "malformed field 'not_after': not after not_before");
    }

    if (lic->nextra > LIC_EXTRA_MAX) {
        return mtr_err_set(err, "too many x-* fields (at most %d)",
                           LIC_EXTRA_MAX);
    }
    for (i = 0; i < lic->nextra; i++) {
        const lic_extra_t *x = &lic->extra[i];

        if (str_in(x->name, sizeof(x->name), &nl) != MTR_OK
            || str_in(x->value, sizeof(x->value), &vl) != MTR_OK)
        {
            return mtr_err_set(err, "x-* field %zu: not NUL-terminated", i);
        }
        if (parse_extra(x->name, nl, x->value, vl, scratch, err) != MTR_OK) {
            return MTR_ERROR;
        }
    }
    return MTR_OK;
}

static int
render_payload(const lic_t *lic, char *out, size_t size, size_t *len_r,
               mtr_err_t *err)
{
    char        buf[LIC_EXTRA_VALUE_MAX + 1];
    const char *name, *value;
    size_t      len = 0, nl, vl, i;
    int         k;

    for (k = 0; k < LIC_FIELDS + (int) lic->nextra; k++) {
        if (k < LIC_FIELDS) {
            name = field_names[k];
            if (render_field(lic, k, buf, &vl, err) != MTR_OK) {
                return MTR_ERROR;
            }
            value = buf;
        } else {
            i = (size_t) (k - LIC_FIELDS);
            name = lic->extra[i].name;
            value = lic->extra[i].value;
            vl = strlen(value); /* lic_validate checked the NUL */
        }
        nl = strlen(name);
        /* "name=value\n" */
        if (nl + vl + 2 > size - len) {
            return mtr_err_set(err, "license payload larger than %zu bytes",
                               size);
        }
        memcpy(out + len, name, nl);
        len += nl;
        out[len++] = '=';
        memcpy(out + len, value, vl);
        len += vl;
        out[len++] = '\n';
    }
    *len_r = len;
    return MTR_OK;
}

/* Base64 ------------------------------------------------------------- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int
b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

/*
 * The next line of text[0..len) from *pos: *line_r and *ll_r without the
 * LF and without trailing CR, space and tab.  Returns 0 at the end.
 */
static int
next_line(const char *text, size_t len, size_t *pos, const char **line_r,
          size_t *ll_r)
{
    const char *line, *eol;
    size_t      ll;

    if (*pos >= len) {
        return 0;
    }
    line = text + *pos;
    eol = memchr(line, '\n', len - *pos);
    ll = eol != NULL ? (size_t) (eol - line) : len - *pos;
    *pos += ll + (eol != NULL);
    while (ll > 0
           && (line[ll - 1] == '\r' || line[ll - 1] == ' '
               || line[ll - 1] == '\t'))
    {
        ll--;
    }
    *line_r = line;
    *ll_r = ll;
    return 1;
}

/* Strict base64 of b64[0..n) into out (room for LIC_BLOB_MAX bytes). */
static int
b64_decode(const char *b64, size_t n, uint8_t *out, size_t *out_len_r,
           mtr_err_t *err)
{
    size_t   pad = 0, i, o = 0, dlen;
    uint32_t v;
    int      j, d;

    if (n % 4 != 0) {
        return mtr_err_set(err,
                           "bad base64: %zu characters, not a multiple of 4 "
                           "(a cut or lost line?)",
                           n);
    }
    while (pad < 2 && pad < n && b64[n - 1 - pad] == '=') {
        pad++;
    }
    if (memchr(b64, '=', n - pad) != NULL) {
        return mtr_err_set(err, "bad base64: '=' padding before the end");
    }
    dlen = n / 4 * 3 - pad;
    if (dlen > LIC_BLOB_MAX) {
        return mtr_err_set(err,
                           "license too large: decodes to more than %d "
                           "bytes",
                           LIC_BLOB_MAX);
    }

    for (i = 0; i < n; i += 4) {
        v = 0;
        for (j = 0; j < 4; j++) {
            d = b64[i + j] == '=' ? 0 : b64_value((unsigned char) b64[i + j]);
            v = (v << 6) | (uint32_t) d;
        }
        if (i + 4 == n && pad != 0 && (v & (pad == 2 ? 0xffff : 0xff)) != 0) {
            /* Bits under the padding must be zero: one text per blob. */
            return mtr_err_set(err, "bad base64: non-zero bits under the "
                                    "padding");
        }
        out[o++] = (uint8_t) (v >> 16);
        if (o < dlen) {
            out[o++] = (uint8_t) (v >> 8);
        }
        if (o < dlen) {
            out[o++] = (uint8_t) v;
        }
    }
    *out_len_r = dlen;
    return MTR_OK;
}

static int
armor_decode(const char *text, size_t len, uint8_t *blob, size_t *blob_len_r,
             mtr_err_t *err)
{
    static const char begin[] = LIC_ARMOR_BEGIN, end[] = LIC_ARMOR_END;
    char              b64[LIC_B64_MAX];
    const char       *line;
    size_t            pos = 0, ll, n = 0, line_no = 0, i;
    int               found = 0, quoted = 0, ended = 0;

    while (next_line(text, len, &pos, &line, &ll)) {
        line_no++;
        if (slice_is(line, ll, begin)) {
            found = 1;
            break;
        }
        if (memmem(line, ll, "BEGIN MORTAR LICENSE", 20) != NULL) {
            quoted = 1;
        }
    }
    if (!found) {
        if (quoted) {
            return mtr_err_set(err, "not a Mortar license: the BEGIN line is "
                                    "indented or mail-quoted; paste the key "
                                    "without '> ' or leading blanks");
        }
        return mtr_err_set(err, "not a Mortar license: no '%s' line", begin);
    }

    while (next_line(text, len, &pos, &line, &ll)) {
        line_no++;
        if (slice_is(line, ll, end)) {
            ended = 1;
            break;
        }
        if (ll >= 5 && memcmp(line, "-----", 5) == 0) {
            return mtr_err_set(err,
                               "truncated license: line %zu is a damaged or "
                               "foreign armor line, not '%s'",
                               line_no, end);
        }
        if (ll == 0) {
            return mtr_err_set(err,
                               "bad base64: blank line %zu inside the "
                               "armor",
                               line_no);
        }
        if (ll > LIC_ARMOR_LINE_MAX) {
            return mtr_err_set(err,
                               "bad base64: line %zu is longer than %d "
                               "characters",
                               line_no, LIC_ARMOR_LINE_MAX);
        }
        for (i = 0; i < ll; i++) {
            unsigned char c = (unsigned char) line[i];

            if (b64_value(c) < 0 && c != '=') {
                if (c > 0x20 && c < 0x7f) {
                    return mtr_err_set(err,
                                       "bad base64: line %zu: character "
                                       "'%c'",
                                       line_no, c);
                }
                return mtr_err_set(err, "bad base64: line %zu: byte 0x%02x",
                                   line_no, c);
            }
        }
        if (ll > sizeof(b64) - n) {
            return mtr_err_set(err,
                               "license too large: decodes to more than "
                               "%d bytes",
                               LIC_BLOB_MAX);
        }
        memcpy(b64 + n, line, ll);
        n += ll;
    }

    if (!ended) {
        return mtr_err_set(err, "truncated license: no '%s' line", end);
    }
    if (n == 0) {
        return mtr_err_set(err, "truncated license: nothing between the "
                                "BEGIN and END lines");
    }
    return b64_decode(b64, n, blob, blob_len_r, err);
}

static int
armor_encode(const uint8_t *blob, size_t len, char *out, size_t size,
             size_t *out_len_r, mtr_err_t *err)
{
    static const char begin[] = LIC_ARMOR_BEGIN "\n",
                      end[] = LIC_ARMOR_END "\n";
    size_t   b64_len = (len + 2) / 3 * 4;
    size_t   need, o = 0, i, col = 0;
    uint32_t v;
    int      j;

    /* @UNSAFE: markers, base64, one LF per started line of 64, the NUL. */
    need = (sizeof(begin) - 1) + b64_len
           + (b64_len + LIC_ARMOR_WRAP - 1) / LIC_ARMOR_WRAP + (sizeof(end) - 1)
           + 1;
    if (need > size) {
        return mtr_err_set(err, "output buffer too small: %zu bytes, need %zu",
                           size, need);
    }

    memcpy(out, begin, sizeof(begin) - 1);
    o += sizeof(begin) - 1;
    for (i = 0; i < len; i += 3) {
        v = (uint32_t) blob[i] << 16;
        if (i + 1 < len) {
            v |= (uint32_t) blob[i + 1] << 8;
        }
        if (i + 2 < len) {
            v |= blob[i + 2];
        }
        for (j = 0; j < 4; j++) {
            if (j >= 2 && i + (size_t) j - 1 >= len) {
                out[o++] = '=';
            } else {
                out[o++] = b64_alphabet[(v >> (18 - 6 * j)) & 0x3f];
            }
            if (++col == LIC_ARMOR_WRAP) {
                out[o++] = '\n';
                col = 0;
            }
        }
    }
    if (col != 0) {
        out[o++] = '\n';
    }
    memcpy(out + o, end, sizeof(end));
    o += sizeof(end) - 1;

    if (out_len_r != NULL) {
        *out_len_r = o;
    }
    return MTR_OK;
}

/* Ed25519 ------------------------------------------------------------- */

static int
verify_sig(const uint8_t *data, size_t len, const uint8_t *sig,
           const uint8_t pub[LIC_PUBKEY_LEN], mtr_err_t *err)
{
    EVP_PKEY   *pkey;
    EVP_MD_CTX *ctx = NULL;
    int         rc = MTR_ERROR;

    pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub,
                                       LIC_PUBKEY_LEN);
    if (pkey == NULL) {
        mtr_err_set(err, "signature does not verify: the trusted public key "
                         "is not an Ed25519 key");
        goto done;
    }
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) != 1) {
        mtr_err_set(err, "openssl: cannot set up Ed25519 verification");
        goto done;
    }
    if (EVP_DigestVerify(ctx, sig, LIC_SIG_LEN, data, len) != 1) {
        mtr_err_set(err, "signature does not verify: the key was altered, or "
                         "signed by another vendor key");
        goto done;
    }
    rc = MTR_OK;

done:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    /* Leave no error behind in the thread's OpenSSL queue for others. */
    ERR_clear_error();
    return rc;
}

static int
sign_data(const uint8_t *data, size_t len, const uint8_t priv[LIC_PRIVKEY_LEN],
          uint8_t sig_r[LIC_SIG_LEN], mtr_err_t *err)
{
    EVP_PKEY   *pkey;
    EVP_MD_CTX *ctx = NULL;
    size_t      siglen = LIC_SIG_LEN;
    int         rc = MTR_ERROR;

    pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv,
                                        LIC_PRIVKEY_LEN);
    if (pkey == NULL) {
        mtr_err_set(err, "openssl: not an Ed25519 private key");
        goto done;
    }
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) != 1
        || EVP_DigestSign(ctx, sig_r, &siglen, data, len) != 1
        || siglen != LIC_SIG_LEN)
    {
        mtr_err_set(err, "openssl: Ed25519 signing failed");
        goto done;
    }
    rc = MTR_OK;

done:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey); /* OpenSSL cleanses the key material it held */
    ERR_clear_error();
    return rc;
}

int
lic_keygen(uint8_t priv_r[LIC_PRIVKEY_LEN], uint8_t pub_r[LIC_PUBKEY_LEN],
           mtr_err_t *err)
{
    EVP_PKEY_CTX *pctx;
    EVP_PKEY     *pkey = NULL;
    size_t        n1 = LIC_PRIVKEY_LEN, n2 = LIC_PUBKEY_LEN;
    int           rc = MTR_ERROR;

    pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    if (pctx == NULL || EVP_PKEY_keygen_init(pctx) != 1
        || EVP_PKEY_keygen(pctx, &pkey) != 1
        || EVP_PKEY_get_raw_private_key(pkey, priv_r, &n1) != 1
        || EVP_PKEY_get_raw_public_key(pkey, pub_r, &n2) != 1
        || n1 != LIC_PRIVKEY_LEN || n2 != LIC_PUBKEY_LEN)
    {
        OPENSSL_cleanse(priv_r, LIC_PRIVKEY_LEN);
        mtr_err_set(err, "openssl: Ed25519 key generation failed");
        goto done;
    }
    rc = MTR_OK;

done:
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(pctx);
    ERR_clear_error();
    return rc;
}

int
lic_public_from_private(const uint8_t priv[LIC_PRIVKEY_LEN],
                        uint8_t pub_r[LIC_PUBKEY_LEN], mtr_err_t *err)
{
    EVP_PKEY *pkey;
    size_t    n = LIC_PUBKEY_LEN;
    int       rc = MTR_OK;

    pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv,
                                        LIC_PRIVKEY_LEN);
    if (pkey == NULL || EVP_PKEY_get_raw_public_key(pkey, pub_r, &n) != 1
        || n != LIC_PUBKEY_LEN)
    {
        rc = mtr_err_set(err, "openssl: not an Ed25519 private key");
    }
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return rc;
}

/* Keys ---------------------------------------------------------------- */

int
lic_parse(const char *text, size_t len, const uint8_t pubkey[LIC_PUBKEY_LEN],
          lic_t *lic_r, mtr_err_t *err)
{
    uint8_t blob[LIC_BLOB_MAX];
    size_t  blen = 0, plen;

    if (lic_r == NULL) {
        return mtr_err_set(err, "lic_parse: no output");
    }
    memset(lic_r, 0, sizeof(*lic_r));
    if ((text == NULL && len != 0) || pubkey == NULL) {
        return mtr_err_set(err, "lic_parse: bad arguments");
    }
    if (len > LIC_ARMOR_MAX) {
        return mtr_err_set(err, "license text too large: %zu bytes, at most %d",
                           len, LIC_ARMOR_MAX);
    }

    if (armor_decode(text, len, blob, &blen, err) != MTR_OK) {
        return MTR_ERROR;
    }

    /* Framing first, so a cut key says "truncated", not "signature". */
    if (blen < LIC_MAGIC_LEN) {
        return mtr_err_set(err, "truncated license: %zu bytes", blen);
    }
    if (memcmp(blob, LIC_MAGIC, LIC_MAGIC_LEN) != 0) {
        return mtr_err_set(err, "bad magic: the decoded data is not a Mortar "
                                "license");
    }
    if (blen < LIC_HEADER_LEN + LIC_SIG_LEN) {
        return mtr_err_set(err,
                           "truncated license: %zu bytes, at least %d "
                           "needed",
                           blen, LIC_HEADER_LEN + LIC_SIG_LEN);
    }
    if (blob[4] == 0) {
        return mtr_err_set(err, "license format version 0: not a version "
                                "any Mortar writes");
    }
    if (blob[4] != LIC_VERSION) {
        return mtr_err_set(err,
                           "license format version %u: made for a newer "
                           "Mortar (this build reads version %d)",
                           blob[4], LIC_VERSION);
    }
    plen = ((size_t) blob[5] << 8) | blob[6];
    if (plen > blen - LIC_HEADER_LEN - LIC_SIG_LEN) {
        return mtr_err_set(err,
                           "truncated license: the header announces %zu "
                           "payload bytes, %zu are present",
                           plen, blen - LIC_HEADER_LEN - LIC_SIG_LEN);
    }
    if (plen < blen - LIC_HEADER_LEN - LIC_SIG_LEN) {
        return mtr_err_set(err,
                           "malformed license: %zu bytes after the "
                           "signature",
                           blen - LIC_HEADER_LEN - LIC_SIG_LEN - plen);
    }

    if (verify_sig(blob, LIC_HEADER_LEN + plen, blob + LIC_HEADER_LEN + plen,
                   pubkey, err)
        != MTR_OK)
    {
        return MTR_ERROR;
    }

    /* Signed now, and still parsed like any untrusted text. */
    return lic_parse_payload((const char *) blob + LIC_HEADER_LEN, plen, lic_r,
                             err);
}

int
lic_issue(const lic_t *lic, const uint8_t privkey[LIC_PRIVKEY_LEN], char *out,
          size_t out_size, size_t *out_len_r, mtr_err_t *err)
{
    uint8_t   blob[LIC_BLOB_MAX], pub[LIC_PUBKEY_LEN];
    lic_t     check;
    mtr_err_t sub;
    size_t    plen = 0, olen = 0;

    if (lic == NULL || privkey == NULL || out == NULL || out_size == 0) {
        return mtr_err_set(err, "lic_issue: bad arguments");
    }
    out[0] = '\0';

    if (lic_validate(lic, err) != MTR_OK) {
        return MTR_ERROR;
    }
    if (render_payload(lic, (char *) blob + LIC_HEADER_LEN, LIC_PAYLOAD_MAX,
                       &plen, err)
        != MTR_OK)
    {
        return MTR_ERROR;
    }
    memcpy(blob, LIC_MAGIC, LIC_MAGIC_LEN);
    blob[4] = LIC_VERSION;
    blob[5] = (uint8_t) (plen >> 8);
    blob[6] = (uint8_t) plen;

    if (sign_data(blob, LIC_HEADER_LEN + plen, privkey,
                  blob + LIC_HEADER_LEN + plen, err)
            != MTR_OK
        || armor_encode(blob, LIC_HEADER_LEN + plen + LIC_SIG_LEN, out,
                        out_size, &olen, err)
               != MTR_OK
        || lic_public_from_private(privkey, pub, err) != MTR_OK)
    {
        out[0] = '\0';
        return MTR_ERROR;
    }

    /* Never hand out a key this very code would not accept as issued. */
    if (lic_parse(out, olen, pub, &check, &sub) != MTR_OK) {
        out[0] = '\0';
        return mtr_err_set(err, "lic_issue: self-check failed: %s", sub.msg);
    }
    if (!lic_equal(&check, lic)) {
        out[0] = '\0';
        return mtr_err_set(err, "lic_issue: self-check failed: the key "
                                "decodes to other values");
    }

    if (out_len_r != NULL) {
        *out_len_r = olen;
    }
    return MTR_OK;
}

static int
same_str(const char *a, const char *b, size_t size)
{
    return strncmp(a, b, size) == 0;
}

int
lic_equal(const lic_t *a, const lic_t *b)
{
    size_t i;

    if (a == NULL || b == NULL) {
        return a == b;
    }
    if (!same_str(a->id, b->id, sizeof(a->id))
        || !same_str(a->customer, b->customer, sizeof(a->customer))
        || !same_str(a->deployment, b->deployment, sizeof(a->deployment))
        || a->seats != b->seats || a->not_before != b->not_before
        || a->not_after != b->not_after || a->issued != b->issued
        || a->grace_days != b->grace_days || a->plan != b->plan
        || a->support != b->support || a->modules != b->modules
        || a->nextra != b->nextra || a->nextra > LIC_EXTRA_MAX)
    {
        return 0;
    }
    for (i = 0; i < a->nextra; i++) {
        if (!same_str(a->extra[i].name, b->extra[i].name,
                      sizeof(a->extra[i].name))
            || !same_str(a->extra[i].value, b->extra[i].value,
                         sizeof(a->extra[i].value)))
        {
            return 0;
        }
    }
    return 1;
}
