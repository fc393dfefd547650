/*
 * admin_dir.c -- the directory operations of Mortar's administration.
 *
 * Core (see admin_dir.h for the contract): validation, DN and entry
 * building, the diff that makes re-runs idempotent, and the operations
 * that call the license gate and libmortar's LDAP client.  Never prints.
 * Covered by tests/unit/test_admin_dir.c and tests/integration/test_cli.py.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ldap.h>

#include "admin_dir.h"

#define ADMIN_FILTER_MAX (3 * ADMIN_DN_MAX + 256) /* escaped values grow 3x */
#define ADMIN_QUOTA_MAX  (UINT64_C(1) << 60)      /* 1 EiB: a typo guard */

static const char *const admin_user_classes[] = { "inetOrgPerson", "mortarUser",
                                                  NULL };
static const char *const admin_attrs_none[] = { "1.1", NULL };

/* ---- field tables ---------------------------------------------------- */

static const admin_field_t admin_user_fields[] = {
    { "cn", "name", "cn", ADMIN_K_TEXT, ADMIN_FF_REQUIRED, 256 },
    { "sn", "surname", "sn", ADMIN_K_TEXT, ADMIN_FF_REQUIRED, 256 },
    { "given-name", "first-name", "givenName", ADMIN_K_TEXT, 0, 256 },
    { "display-name", NULL, "displayName", ADMIN_K_TEXT, 0, 256 },
    { "initials", NULL, "initials", ADMIN_K_TEXT, 0, 32 },
    { "title", NULL, "title", ADMIN_K_TEXT, 0, 256 },
    { "description", NULL, "description", ADMIN_K_TEXT, 0, 1024 },
    { "phone", "telephone", "telephoneNumber", ADMIN_K_PHONE, ADMIN_FF_MULTI,
      16 },
    { "mobile", NULL, "mobile", ADMIN_K_PHONE, 0, 16 },
    { "home-phone", NULL, "homePhone", ADMIN_K_PHONE, 0, 16 },
    { "pager", NULL, "pager", ADMIN_K_PHONE, 0, 16 },
    { "fax", NULL, "facsimileTelephoneNumber", ADMIN_K_PHONE, 0, 16 },
    { "street", NULL, "street", ADMIN_K_TEXT, 0, 256 },
    { "postal-address", NULL, "postalAddress", ADMIN_K_TEXT, 0, 1024 },
    { "postal-code", "zip", "postalCode", ADMIN_K_TEXT, 0, 40 },
    { "city", "locality", "l", ADMIN_K_TEXT, 0, 128 },
    { "state", "region", "st", ADMIN_K_TEXT, 0, 128 },
    { "po-box", NULL, "postOfficeBox", ADMIN_K_TEXT, 0, 40 },
    { "country", NULL, "c", ADMIN_K_COUNTRY, 0, 2 },
    { "country-name", NULL, "co", ADMIN_K_TEXT, 0, 128 },
    { "home-address", NULL, "homePostalAddress", ADMIN_K_TEXT, 0, 1024 },
    { "organization", "company", "o", ADMIN_K_TEXT, 0, 256 },
    { "unit", NULL, "ou", ADMIN_K_TEXT, 0, 256 },
    { "department", NULL, "departmentNumber", ADMIN_K_TEXT, 0, 128 },
    { "employee-number", NULL, "employeeNumber", ADMIN_K_TEXT, 0, 64 },
    { "employee-type", NULL, "employeeType", ADMIN_K_TEXT, 0, 64 },
    { "office", NULL, "physicalDeliveryOfficeName", ADMIN_K_TEXT, 0, 128 },
    { "room", NULL, "roomNumber", ADMIN_K_TEXT, 0, 64 },
    { "url", "homepage", "labeledURI", ADMIN_K_TEXT, 0, 512 },
    { "language", "lang", "preferredLanguage", ADMIN_K_LANG, 0,
      ADMIN_LANG_MAX },
    { "timezone", "tz", "mortarTimezone", ADMIN_K_TZ, 0, ADMIN_TZ_MAX },
    { "quota", NULL, "mortarQuotaBytes", ADMIN_K_SIZE, 0, 20 },
    { "quota-messages", NULL, "mortarQuotaMessages", ADMIN_K_UINT, 0, 20 },
    { "aliases", "alias", "mortarMailAlias", ADMIN_K_ADDRESS,
      ADMIN_FF_MULTI | ADMIN_FF_SERVED, ADMIN_ADDR_MAX },
    { "forwards", "forward", "mortarForwardAddress", ADMIN_K_ADDRESS,
      ADMIN_FF_MULTI, ADMIN_ADDR_MAX },
    { "keep-copy", NULL, "mortarForwardKeepCopy", ADMIN_K_BOOL, 0, 5 },
    { "services", "service", "mortarEnabledService", ADMIN_K_SERVICE,
      ADMIN_FF_MULTI, 16 },
    { "status", NULL, "mortarAccountStatus", ADMIN_K_STATUS, ADMIN_FF_REQUIRED,
      16 },
    { "rate-limit-messages", NULL, "mortarRateLimitMessages", ADMIN_K_UINT, 0,
      20 },
    { "rate-limit-recipients", NULL, "mortarRateLimitRecipients", ADMIN_K_UINT,
      0, 20 },
    { "virus-scan", NULL, "mortarVirusScan", ADMIN_K_BOOL, 0, 5 },
    { "spam-scan", NULL, "mortarSpamScan", ADMIN_K_BOOL, 0, 5 },
    { "spam-threshold", NULL, "mortarSpamThreshold", ADMIN_K_DECIMAL, 0, 16 },
    { "spam-action", NULL, "mortarSpamAction", ADMIN_K_SPAM_ACTION, 0, 16 },
    { "sender-allow", NULL, "mortarSenderAllow", ADMIN_K_SENDER, ADMIN_FF_MULTI,
      ADMIN_ADDR_MAX },
    { "sender-block", NULL, "mortarSenderBlock", ADMIN_K_SENDER, ADMIN_FF_MULTI,
      ADMIN_ADDR_MAX },
};

static const admin_field_t admin_domain_fields[] = {
    { "status", NULL, "mortarAccountStatus", ADMIN_K_STATUS, ADMIN_FF_REQUIRED,
      16 },
    { "description", NULL, "description", ADMIN_K_TEXT, 0, 1024 },
    { "quota-pool", "pool", "mortarDomainQuotaPool", ADMIN_K_SIZE, 0, 20 },
    { "default-quota", NULL, "mortarDomainDefaultQuota", ADMIN_K_SIZE, 0, 20 },
    { "max-users", NULL, "mortarMaxUsers", ADMIN_K_UINT, 0, 20 },
    { "aliases", "alias", "mortarDomainAlias", ADMIN_K_DOMAIN, ADMIN_FF_MULTI,
      ADMIN_DOMAIN_MAX },
    { "services", "service", "mortarEnabledService", ADMIN_K_SERVICE,
      ADMIN_FF_MULTI, 16 },
    { "rate-limit-messages", NULL, "mortarRateLimitMessages", ADMIN_K_UINT, 0,
      20 },
    { "rate-limit-recipients", NULL, "mortarRateLimitRecipients", ADMIN_K_UINT,
      0, 20 },
    { "greylisting", NULL, "mortarGreylisting", ADMIN_K_BOOL, 0, 5 },
    { "virus-scan", NULL, "mortarVirusScan", ADMIN_K_BOOL, 0, 5 },
    { "spam-scan", NULL, "mortarSpamScan", ADMIN_K_BOOL, 0, 5 },
    { "spam-threshold", NULL, "mortarSpamThreshold", ADMIN_K_DECIMAL, 0, 16 },
    { "spam-action", NULL, "mortarSpamAction", ADMIN_K_SPAM_ACTION, 0, 16 },
    { "sender-allow", NULL, "mortarSenderAllow", ADMIN_K_SENDER, ADMIN_FF_MULTI,
      ADMIN_ADDR_MAX },
    { "sender-block", NULL, "mortarSenderBlock", ADMIN_K_SENDER, ADMIN_FF_MULTI,
      ADMIN_ADDR_MAX },
};

static const admin_field_t admin_group_fields[] = {
    { "description", NULL, "description", ADMIN_K_TEXT, 0, 1024 },
    { "aliases", "alias", "mortarMailAlias", ADMIN_K_ADDRESS,
      ADMIN_FF_MULTI | ADMIN_FF_SERVED, ADMIN_ADDR_MAX },
    { "policy", NULL, "mortarGroupPolicy", ADMIN_K_POLICY, 0, 16 },
    { "status", NULL, "mortarAccountStatus", ADMIN_K_STATUS, 0, 16 },
};

#define ADMIN_NELTS(a) (sizeof(a) / sizeof((a)[0]))

static const char *const admin_services[] = { "imap", "pop3", "smtp", "webmail",
                                              "dav",  "sms",  NULL };
static const char *const admin_statuses[] = { "active", "disabled", NULL };
static const char *const admin_spam_actions[] = { "reject", "quarantine", "tag",
                                                  NULL };
static const char *const admin_policies[] = { "anyone", "domain", "members",
                                              NULL };

const char *
admin_status_name(admin_status_e st)
{
    static const char *const names[] = { "ok",     "invalid",   "refused",
                                         "exists", "not-found", "unavailable",
                                         "failed" };

    return (size_t) st < ADMIN_NELTS(names) ? names[st] : "failed";
}

const admin_field_t *
admin_fields(admin_obj_e obj, size_t *n_r)
{
    switch (obj) {
    case ADMIN_OBJ_USER:
        *n_r = ADMIN_NELTS(admin_user_fields);
        return admin_user_fields;
    case ADMIN_OBJ_DOMAIN:
        *n_r = ADMIN_NELTS(admin_domain_fields);
        return admin_domain_fields;
    case ADMIN_OBJ_GROUP:
        *n_r = ADMIN_NELTS(admin_group_fields);
        return admin_group_fields;
    default:
        *n_r = 0;
        return NULL;
    }
}

/* Compare a name with len bytes of s, ignoring case, '-' and '_'. */
static int
admin_name_eq(const char *name, const char *s, size_t len)
{
    size_t i = 0;

    for (;;) {
        while (*name == '-' || *name == '_') {
            name++;
        }
        while (i < len && (s[i] == '-' || s[i] == '_')) {
            i++;
        }
        if (*name == '\0' || i == len) {
            return *name == '\0' && i == len;
        }
        if (tolower((unsigned char) *name) != tolower((unsigned char) s[i])) {
            return 0;
        }
        name++;
        i++;
    }
}

const admin_field_t *
admin_field_find(admin_obj_e obj, const char *name, size_t len)
{
    const admin_field_t *f;
    size_t               n, i;

    f = admin_fields(obj, &n);

    for (i = 0; i < n; i++) {
        if (admin_name_eq(f[i].name, name, len)
            || (f[i].alt != NULL && admin_name_eq(f[i].alt, name, len))
            || admin_name_eq(f[i].attr, name, len))
        {
            return &f[i];
        }
    }

    return NULL;
}

/* ---- validation -------------------------------------------------------- */

/* Printable copy of untrusted input for a message. */
static const char *
admin_q(char *buf, size_t size, const char *s, size_t len)
{
    mtr_sanitize(buf, size, s, len);
    return buf;
}

int
admin_check_local(const char *s, size_t len, mtr_err_t *err)
{
    char   q[80];
    size_t i;

    if (len == 0) {
        return mtr_err_set(err, "empty local part (the part before '@')");
    }
    if (len > ADMIN_LOCAL_MAX) {
        return mtr_err_set(err, "local part \"%s\" longer than %d bytes",
                           admin_q(q, sizeof(q), s, len), ADMIN_LOCAL_MAX);
    }

    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char) s[i];

        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_'
            || ch == '-' || ch == '+')
        {
            continue;
        }
        if (ch == '.' && i != 0 && i != len - 1 && s[i - 1] != '.') {
            continue;
        }
        return mtr_err_set(err,
                           "local part \"%s\": use only a-z 0-9 . _ - + (no "
                           "dot at either end or twice in a row)",
                           admin_q(q, sizeof(q), s, len));
    }

    return MTR_OK;
}

int
admin_check_domain(const char *s, size_t len, mtr_err_t *err)
{
    char   q[80];
    size_t i, label = 0, labels = 0, start = 0;
    int    digits_only = 1;

    if (len == 0) {
        return mtr_err_set(err, "empty domain name");
    }
    if (len > ADMIN_DOMAIN_MAX) {
        return mtr_err_set(err, "domain \"%s\" longer than %d bytes",
                           admin_q(q, sizeof(q), s, len), ADMIN_DOMAIN_MAX);
    }

    for (i = 0; i <= len; i++) {
        unsigned char ch = i < len ? (unsigned char) s[i] : '.';

        if (ch == '.') {
            if (label == 0 || label > ADMIN_LABEL_MAX || s[start] == '-'
                || s[i - 1] == '-') {
                return mtr_err_set(
                    err,
                    "domain \"%s\": each label must be 1 to 63 characters "
                    "of a-z 0-9 '-', not starting or ending with '-'",
                    admin_q(q, sizeof(q), s, len));
            }
            labels++;
            if (i < len) {
                digits_only = 1;
            }
            label = 0;
            start = i + 1;
            continue;
        }
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')
              || ch == '-')) {
            return mtr_err_set(err,
                               "domain \"%s\": use only a-z 0-9 '-' and dots "
                               "(an IDN in its xn-- form)",
                               admin_q(q, sizeof(q), s, len));
        }
        if (!(ch >= '0' && ch <= '9')) {
            digits_only = 0;
        }
        label++;
    }

    if (labels < 2) {
        return mtr_err_set(err,
                           "domain \"%s\" needs at least two labels, e.g. "
                           "example.org",
                           admin_q(q, sizeof(q), s, len));
    }
    if (digits_only) {
        return mtr_err_set(err, "domain \"%s\": the last label is a number",
                           admin_q(q, sizeof(q), s, len));
    }

    return MTR_OK;
}

int
admin_parse_address(const char *s, size_t len, char *local, char *domain,
                    mtr_err_t *err)
{
    char        q[80], lbuf[ADMIN_LOCAL_MAX + 1], dbuf[ADMIN_DOMAIN_MAX + 1];
    const char *at = NULL;
    size_t      i, llen, dlen;

    for (i = 0; i < len; i++) {
        if (s[i] == '@') {
            if (at != NULL) {
                return mtr_err_set(err, "address \"%s\" has more than one '@'",
                                   admin_q(q, sizeof(q), s, len));
            }
            at = s + i;
        }
    }

    if (at == NULL) {
        return mtr_err_set(err,
                           "\"%s\" is not an address: expected local@domain",
                           admin_q(q, sizeof(q), s, len));
    }
    if (len > ADMIN_ADDR_MAX) {
        return mtr_err_set(err, "address \"%s\" longer than %d bytes",
                           admin_q(q, sizeof(q), s, len), ADMIN_ADDR_MAX);
    }

    llen = (size_t) (at - s);
    dlen = len - llen - 1;

    if (llen > ADMIN_LOCAL_MAX) {
        return mtr_err_set(err, "address \"%s\": local part longer than %d",
                           admin_q(q, sizeof(q), s, len), ADMIN_LOCAL_MAX);
    }
    if (dlen > ADMIN_DOMAIN_MAX) {
        return mtr_err_set(err, "address \"%s\": domain longer than %d",
                           admin_q(q, sizeof(q), s, len), ADMIN_DOMAIN_MAX);
    }

    for (i = 0; i < llen; i++) {
        lbuf[i] = (char) tolower((unsigned char) s[i]);
    }
    lbuf[llen] = '\0';
    for (i = 0; i < dlen; i++) {
        dbuf[i] = (char) tolower((unsigned char) at[1 + i]);
    }
    dbuf[dlen] = '\0';

    if (admin_check_local(lbuf, llen, err) != MTR_OK
        || admin_check_domain(dbuf, dlen, err) != MTR_OK)
    {
        mtr_err_t inner = *err;

        return mtr_err_set(err, "address \"%s\": %s",
                           admin_q(q, sizeof(q), s, len), inner.msg);
    }

    if (local != NULL) {
        memcpy(local, lbuf, llen + 1);
    }
    if (domain != NULL) {
        memcpy(domain, dbuf, dlen + 1);
    }

    return MTR_OK;
}

/* Length of the valid UTF-8 sequence at s (at most len bytes), or 0. */
static size_t
admin_utf8_seq(const unsigned char *s, size_t len, uint32_t *cp_r)
{
    uint32_t cp;
    size_t   n, i;

    if (s[0] < 0x80) {
        *cp_r = s[0];
        return 1;
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        n = 2;
        cp = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        n = 3;
        cp = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        n = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len < n) {
        return 0;
    }
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    /* Overlong forms, surrogates and values past U+10FFFF. */
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff
        || (cp >= 0xd800 && cp <= 0xdfff))
    {
        return 0;
    }
    *cp_r = cp;
    return n;
}

static int
admin_norm_text(const admin_field_t *f, const char *s, size_t len, char *out,
                size_t size, mtr_err_t *err)
{
    char     q[80];
    size_t   i, n;
    uint32_t cp;

    for (i = 0; i < len; i += n) {
        n = admin_utf8_seq((const unsigned char *) s + i, len - i, &cp);
        if (n == 0) {
            return mtr_err_set(err, "%s: \"%s\" is not valid UTF-8", f->name,
                               admin_q(q, sizeof(q), s, len));
        }
        if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f)) {
            return mtr_err_set(err,
                               "%s: \"%s\" holds a control character (a "
                               "newline or a tab?)",
                               f->name, admin_q(q, sizeof(q), s, len));
        }
    }

    if (len > f->max) {
        return mtr_err_set(err, "%s: \"%s\" is longer than %zu bytes", f->name,
                           admin_q(q, sizeof(q), s, len), f->max);
    }
    if (len >= size) {
        return mtr_err_set(err, "%s: value too long", f->name);
    }

    memcpy(out, s, len);
    out[len] = '\0';
    return MTR_OK;
}

static int
admin_norm_phone(const admin_field_t *f, const char *s, size_t len, char *out,
                 size_t size, mtr_err_t *err)
{
    char   q[80];
    size_t i, n = 0, digits = 0;

    if (size < ADMIN_PHONE_DIGITS_MAX + 2) {
        return mtr_err_set(err, "%s: buffer too small", f->name);
    }

    for (i = 0; i < len; i++) {
        char ch = s[i];

        if (ch == ' ' || ch == '-' || ch == '.') {
            continue;
        }
        if (ch == '+' && n == 0) {
            out[n++] = ch;
            continue;
        }
        if (ch >= '0' && ch <= '9' && n > 0 && digits < ADMIN_PHONE_DIGITS_MAX)
        {
            out[n++] = ch;
            digits++;
            continue;
        }
        if (ch >= '0' && ch <= '9' && n > 0) {
            digits++; /* too many: reported below */
            continue;
        }
        goto bad;
    }

    if (n == 0 || digits < ADMIN_PHONE_DIGITS_MIN
        || digits > ADMIN_PHONE_DIGITS_MAX || out[1] == '0')
    {
        goto bad;
    }

    out[n] = '\0';
    return MTR_OK;

bad:
    out[0] = '\0';
    return mtr_err_set(err,
                       "%s: \"%s\" is not an international number: write '+', "
                       "the country code and %d to %d digits in all, e.g. "
                       "+33 6 12 34 56 78 (spaces, dashes and dots are "
                       "dropped)",
                       f->name, admin_q(q, sizeof(q), s, len),
                       ADMIN_PHONE_DIGITS_MIN, ADMIN_PHONE_DIGITS_MAX);
}

/* Every one of the n bytes of s passes the <ctype.h> test is. */
static int
admin_all(const char *s, size_t n, int (*is)(int))
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (!is((unsigned char) s[i])) {
            return 0;
        }
    }
    return 1;
}

static int
admin_is_alpha(const char *s, size_t n)
{
    return admin_all(s, n, isalpha);
}

static int
admin_is_digit(const char *s, size_t n)
{
    return admin_all(s, n, isdigit);
}

static int
admin_is_alnum(const char *s, size_t n)
{
    return admin_all(s, n, isalnum);
}

/*
 * BCP 47 without extensions: language (2-3 letters), then optional
 * script (4 letters), region (2 letters or 3 digits), variants (5-8
 * alphanumerics, or a digit and 3 alphanumerics), in that order.  '_' is
 * read as '-' (pt_BR); case is normalized (pt-BR, zh-Hant).
 */
static int
admin_norm_lang(const admin_field_t *f, const char *s, size_t len, char *out,
                size_t size, mtr_err_t *err)
{
    char   q[80];
    size_t i = 0, start, n, o = 0, k;
    int    part = 0; /* 0 language, 1 script, 2 region, 3 variants */

    if (len == 0 || len > ADMIN_LANG_MAX || len >= size) {
        goto bad;
    }

    while (i <= len) {
        start = i;
        while (i < len && s[i] != '-' && s[i] != '_') {
            i++;
        }
        n = i - start;
        if (n == 0) {
            goto bad;
        }

        if (part == 0) {
            if (!(n >= 2 && n <= 3 && admin_is_alpha(s + start, n))) {
                goto bad;
            }
            for (k = 0; k < n; k++) {
                out[o++] = (char) tolower((unsigned char) s[start + k]);
            }
            part = 1;
        } else if (part <= 1 && n == 4 && admin_is_alpha(s + start, n)) {
            out[o++] = '-';
            out[o++] = (char) toupper((unsigned char) s[start]);
            for (k = 1; k < n; k++) {
                out[o++] = (char) tolower((unsigned char) s[start + k]);
            }
            part = 2;
        } else if (part <= 2
                   && ((n == 2 && admin_is_alpha(s + start, n))
                       || (n == 3 && admin_is_digit(s + start, n))))
        {
            out[o++] = '-';
            for (k = 0; k < n; k++) {
                out[o++] = (char) toupper((unsigned char) s[start + k]);
            }
            part = 3;
        } else if (((n >= 5 && n <= 8) && admin_is_alnum(s + start, n))
                   || (n == 4 && isdigit((unsigned char) s[start])
                       && admin_is_alnum(s + start, n)))
        {
            out[o++] = '-';
            for (k = 0; k < n; k++) {
                out[o++] = (char) tolower((unsigned char) s[start + k]);
            }
            part = 3;
        } else {
            goto bad;
        }

        if (i == len) {
            break;
        }
        i++; /* the separator */
        if (i == len) {
            goto bad; /* trailing separator */
        }
    }

    out[o] = '\0';
    return MTR_OK;

bad:
    if (size > 0) {
        out[0] = '\0';
    }
    return mtr_err_set(err,
                       "%s: \"%s\" is not a language tag (BCP 47), e.g. en, "
                       "fr, pt-BR, zh-Hant-TW",
                       f->name, admin_q(q, sizeof(q), s, len));
}

static int
admin_norm_tz(const admin_field_t *f, const char *s, size_t len,
              const char *zonedir, char *out, size_t size, mtr_err_t *err)
{
    char        q[80], path[4096], magic[4];
    size_t      i;
    int         fd, ok = 0;
    struct stat st;

    if (len == 0 || len > ADMIN_TZ_MAX || len >= size || s[0] == '/') {
        goto bad;
    }
    for (i = 0; i < len; i++) {
        char ch = s[i];

        /* No '.': no "..", no hidden files, no "zone.tab". */
        if (!(isalnum((unsigned char) ch) || ch == '/' || ch == '_' || ch == '-'
              || ch == '+'))
        {
            goto bad;
        }
        if (ch == '/' && (i + 1 == len || s[i + 1] == '/')) {
            goto bad;
        }
    }

    if (zonedir == NULL) {
        zonedir = ADMIN_ZONEINFO;
    }
    if ((size_t) snprintf(path, sizeof(path), "%s/%.*s", zonedir, (int) len, s)
        >= sizeof(path))
    {
        goto bad;
    }

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ELOOP) {
        /* Debian links some zones (e.g. UTC); the target is still ours. */
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd >= 0) {
        ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode)
             && read(fd, magic, 4) == 4 && memcmp(magic, "TZif", 4) == 0;
        close(fd);
    }
    if (!ok) {
        goto bad;
    }

    memcpy(out, s, len);
    out[len] = '\0';
    return MTR_OK;

bad:
    if (size > 0) {
        out[0] = '\0';
    }
    return mtr_err_set(err,
                       "%s: \"%s\" is not a time zone known under %s, e.g. "
                       "Europe/Paris, America/New_York, UTC",
                       f->name, admin_q(q, sizeof(q), s, len),
                       zonedir != NULL ? zonedir : ADMIN_ZONEINFO);
}

static int
admin_norm_word(const admin_field_t *f, const char *s, size_t len,
                const char *const *words, char *out, size_t size,
                mtr_err_t *err)
{
    char   q[80], list[128];
    size_t i, o = 0;

    for (i = 0; words[i] != NULL; i++) {
        if (strlen(words[i]) == len && strncasecmp(words[i], s, len) == 0
            && len < size) {
            memcpy(out, words[i], len + 1);
            return MTR_OK;
        }
    }

    list[0] = '\0';
    for (i = 0; words[i] != NULL; i++) {
        int r = snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "",
                         words[i]);

        if (r < 0 || (size_t) r >= sizeof(list) - o) {
            break;
        }
        o += (size_t) r;
    }

    return mtr_err_set(err, "%s: \"%s\" is not one of %s", f->name,
                       admin_q(q, sizeof(q), s, len), list);
}

int
admin_normalize(const admin_field_t *f, const char *s, size_t len,
                const char *zonedir, char *out, size_t size, mtr_err_t *err)
{
    char     q[80], local[ADMIN_LOCAL_MAX + 1], dom[ADMIN_DOMAIN_MAX + 1];
    uint64_t v;
    size_t   i;

    if (size == 0) {
        return mtr_err_set(err, "%s: no room for the value", f->name);
    }
    out[0] = '\0';

    /* Blanks around any value are a copy-paste accident, not data. */
    while (len > 0 && (s[0] == ' ' || s[0] == '\t')) {
        s++;
        len--;
    }
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t')) {
        len--;
    }
    if (len == 0) {
        return mtr_err_set(err, "%s: empty value", f->name);
    }

    switch (f->kind) {
    case ADMIN_K_TEXT:
        return admin_norm_text(f, s, len, out, size, err);

    case ADMIN_K_PHONE:
        return admin_norm_phone(f, s, len, out, size, err);

    case ADMIN_K_SIZE:
        if (len == 9 && strncasecmp(s, "unlimited", 9) == 0) {
            v = 0;
        } else if (mtr_parse_size(s, len, ADMIN_QUOTA_MAX, &v) != MTR_OK) {
            return mtr_err_set(err,
                               "%s: \"%s\" is not a size: bytes, or a number "
                               "with K, M, G or T (powers of 1024), e.g. 2G; "
                               "0 for no limit",
                               f->name, admin_q(q, sizeof(q), s, len));
        }
        if ((size_t) snprintf(out, size, "%llu", (unsigned long long) v)
            >= size) {
            return mtr_err_set(err, "%s: value too long", f->name);
        }
        return MTR_OK;

    case ADMIN_K_UINT:
        if (mtr_parse_uint(s, len, UINT32_MAX, &v) != MTR_OK) {
            return mtr_err_set(err,
                               "%s: \"%s\" is not a whole number from 0 to "
                               "%u",
                               f->name, admin_q(q, sizeof(q), s, len),
                               (unsigned) UINT32_MAX);
        }
        if ((size_t) snprintf(out, size, "%llu", (unsigned long long) v)
            >= size) {
            return mtr_err_set(err, "%s: value too long", f->name);
        }
        return MTR_OK;

    case ADMIN_K_BOOL: {
        static const char *const yes[] = { "yes", "true", "on", "1", NULL };
        static const char *const no[] = { "no", "false", "off", "0", NULL };

        for (i = 0; yes[i] != NULL; i++) {
            if (strlen(yes[i]) == len && strncasecmp(yes[i], s, len) == 0) {
                return size >= 5 ? (memcpy(out, "TRUE", 5), MTR_OK)
                                 : mtr_err_set(err, "no room");
            }
            if (strlen(no[i]) == len && strncasecmp(no[i], s, len) == 0) {
                return size >= 6 ? (memcpy(out, "FALSE", 6), MTR_OK)
                                 : mtr_err_set(err, "no room");
            }
        }
        return mtr_err_set(err, "%s: \"%s\" is not yes or no", f->name,
                           admin_q(q, sizeof(q), s, len));
    }

    case ADMIN_K_LANG:
        return admin_norm_lang(f, s, len, out, size, err);

    case ADMIN_K_TZ:
        return admin_norm_tz(f, s, len, zonedir, out, size, err);

    case ADMIN_K_SERVICE:
        return admin_norm_word(f, s, len, admin_services, out, size, err);

    case ADMIN_K_STATUS:
        return admin_norm_word(f, s, len, admin_statuses, out, size, err);

    case ADMIN_K_SPAM_ACTION:
        return admin_norm_word(f, s, len, admin_spam_actions, out, size, err);

    case ADMIN_K_POLICY:
        return admin_norm_word(f, s, len, admin_policies, out, size, err);

    case ADMIN_K_ADDRESS:
        if (admin_parse_address(s, len, local, dom, err) != MTR_OK) {
            mtr_err_t inner = *err;

            return mtr_err_set(err, "%s: %s", f->name, inner.msg);
        }
        if ((size_t) snprintf(out, size, "%s@%s", local, dom) >= size) {
            return mtr_err_set(err, "%s: value too long", f->name);
        }
        return MTR_OK;

    case ADMIN_K_SENDER:
        if (s[0] == '@') {
            for (i = 1; i < len && i <= ADMIN_DOMAIN_MAX; i++) {
                dom[i - 1] = (char) tolower((unsigned char) s[i]);
            }
            if (len - 1 > ADMIN_DOMAIN_MAX
                || admin_check_domain(dom, len - 1, err) != MTR_OK)
            {
                return mtr_err_set(err,
                                   "%s: \"%s\" is neither an address nor "
                                   "@domain",
                                   f->name, admin_q(q, sizeof(q), s, len));
            }
            dom[len - 1] = '\0';
            if ((size_t) snprintf(out, size, "@%s", dom) >= size) {
                return mtr_err_set(err, "%s: value too long", f->name);
            }
            return MTR_OK;
        }
        if (admin_parse_address(s, len, local, dom, err) != MTR_OK) {
            mtr_err_t inner = *err;

            return mtr_err_set(err, "%s: %s", f->name, inner.msg);
        }
        if ((size_t) snprintf(out, size, "%s@%s", local, dom) >= size) {
            return mtr_err_set(err, "%s: value too long", f->name);
        }
        return MTR_OK;

    case ADMIN_K_DOMAIN:
        if (len > ADMIN_DOMAIN_MAX || len >= size) {
            return mtr_err_set(err, "%s: \"%s\" is too long", f->name,
                               admin_q(q, sizeof(q), s, len));
        }
        for (i = 0; i < len; i++) {
            out[i] = (char) tolower((unsigned char) s[i]);
        }
        out[len] = '\0';
        if (admin_check_domain(out, len, err) != MTR_OK) {
            mtr_err_t inner = *err;

            out[0] = '\0';
            return mtr_err_set(err, "%s: %s", f->name, inner.msg);
        }
        return MTR_OK;

    case ADMIN_K_COUNTRY:
        if (len != 2 || !admin_is_alpha(s, 2) || size < 3) {
            return mtr_err_set(err,
                               "%s: \"%s\" is not a two-letter country code "
                               "(ISO 3166), e.g. FR, US",
                               f->name, admin_q(q, sizeof(q), s, len));
        }
        out[0] = (char) toupper((unsigned char) s[0]);
        out[1] = (char) toupper((unsigned char) s[1]);
        out[2] = '\0';
        return MTR_OK;

    case ADMIN_K_DECIMAL: {
        size_t ip = 0, fp = 0, j = 0;
        int    dot = 0;

        if (s[0] == '-') {
            j = 1;
        }
        for (; j < len; j++) {
            if (s[j] == '.' && !dot) {
                dot = 1;
            } else if (isdigit((unsigned char) s[j])) {
                if (dot) {
                    fp++;
                } else {
                    ip++;
                }
            } else {
                ip = 0;
                break;
            }
        }
        if (ip == 0 || ip > 4 || fp > 3 || (dot && fp == 0) || len >= size) {
            return mtr_err_set(err,
                               "%s: \"%s\" is not a score such as 5 or 6.5",
                               f->name, admin_q(q, sizeof(q), s, len));
        }
        memcpy(out, s, len);
        out[len] = '\0';
        return MTR_OK;
    }
    }

    return mtr_err_set(err, "%s: unknown field kind", f->name);
}

int
admin_check_password(const char *pw, size_t len, mtr_err_t *err)
{
    size_t i;

    if (len < ADMIN_PASSWORD_MIN) {
        return mtr_err_set(err, "password shorter than %d characters",
                           ADMIN_PASSWORD_MIN);
    }
    if (len > ADMIN_PASSWORD_MAX) {
        return mtr_err_set(err, "password longer than %d bytes",
                           ADMIN_PASSWORD_MAX);
    }
    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char) pw[i];

        if (ch < 0x20 || ch == 0x7f) {
            return mtr_err_set(err, "password holds a control character (a "
                                    "newline pasted with it?)");
        }
    }

    return MTR_OK;
}

int
admin_check_password_hash(const char *s, size_t len, mtr_err_t *err)
{
    static const char *const schemes[] = { "{SSHA}",    "{SSHA256}",
                                           "{SSHA384}", "{SSHA512}",
                                           "{ARGON2}",  "{CRYPT}",
                                           NULL };
    size_t                   i, n;

    for (i = 0; schemes[i] != NULL; i++) {
        n = strlen(schemes[i]);
        if (len > n && strncasecmp(s, schemes[i], n) == 0) {
            size_t j;

            if (len > 1024) {
                return mtr_err_set(err, "userPassword: the hash is longer "
                                        "than 1024 bytes");
            }
            for (j = n; j < len; j++) {
                if ((unsigned char) s[j] <= 0x20
                    || (unsigned char) s[j] >= 0x7f) {
                    return mtr_err_set(err, "userPassword: the hash holds a "
                                            "blank or a non-ASCII byte");
                }
            }
            return MTR_OK;
        }
    }

    return mtr_err_set(err,
                       "userPassword: only salted hashes can be imported as "
                       "they are ({SSHA}, {SSHA256}, {SSHA384}, {SSHA512}, "
                       "{ARGON2}, {CRYPT}); give a clear-text password in a "
                       "CSV password column instead, slapd hashes it");
}

int
admin_random_password(char *out, size_t size, mtr_err_t *err)
{
    /* 56 symbols: no 0 O 1 l I; about 5.8 bits each, 116 bits in all. */
    static const char alphabet[] =
        "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    unsigned char rnd[64];
    size_t        i, o = 0, n = sizeof(alphabet) - 1;
    size_t        limit = 256 - 256 % n; /* no modulo bias */

    if (size < ADMIN_RANDOM_PW_LEN + 1) {
        return mtr_err_set(err, "random password: buffer too small");
    }

    while (o < ADMIN_RANDOM_PW_LEN) {
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd)) {
            mtr_wipe(rnd, sizeof(rnd));
            return mtr_err_set(err, "random password: getrandom: %s",
                               strerror(errno));
        }
        for (i = 0; i < sizeof(rnd) && o < ADMIN_RANDOM_PW_LEN; i++) {
            if (rnd[i] < limit) {
                out[o++] = alphabet[rnd[i] % n];
            }
        }
    }
    out[o] = '\0';
    mtr_wipe(rnd, sizeof(rnd));

    return MTR_OK;
}

/* ---- DNs ---------------------------------------------------------------- */

static int
admin_esc(const char *in, char *out, size_t size, mtr_err_t *err)
{
    return mtr_ldap_escape_dn(in, strlen(in), out, size, NULL, err);
}

int
admin_domain_dn(const char *base, const char *domain, char *out, size_t size,
                mtr_err_t *err)
{
    char d[3 * ADMIN_DOMAIN_MAX + 1];

    if (admin_esc(domain, d, sizeof(d), err) != MTR_OK) {
        return MTR_ERROR;
    }
    if ((size_t) snprintf(out, size, "mortarDomainName=%s,ou=domains,%s", d,
                          base)
        >= size)
    {
        return mtr_err_set(err, "domain DN too long");
    }
    return MTR_OK;
}

int
admin_ou_dn(const char *base, const char *ou, const char *domain, char *out,
            size_t size, mtr_err_t *err)
{
    char d[ADMIN_DN_MAX];

    if (admin_domain_dn(base, domain, d, sizeof(d), err) != MTR_OK) {
        return MTR_ERROR;
    }
    if ((size_t) snprintf(out, size, "ou=%s,%s", ou, d) >= size) {
        return mtr_err_set(err, "DN too long");
    }
    return MTR_OK;
}

/* "<attr>=<escaped value>,ou=<ou>,<domain DN>": a user or group entry. */
static int
admin_child_dn(const char *base, const char *attr, const char *value,
               const char *ou, const char *domain, char *out, size_t size,
               mtr_err_t *err)
{
    char v[3 * ADMIN_LOCAL_MAX + 1], d[ADMIN_DN_MAX];

    if (admin_esc(value, v, sizeof(v), err) != MTR_OK
        || admin_ou_dn(base, ou, domain, d, sizeof(d), err) != MTR_OK)
    {
        return MTR_ERROR;
    }
    if ((size_t) snprintf(out, size, "%s=%s,%s", attr, v, d) >= size) {
        return mtr_err_set(err, "%s DN too long", ou);
    }
    return MTR_OK;
}

int
admin_user_dn(const char *base, const char *local, const char *domain,
              char *out, size_t size, mtr_err_t *err)
{
    return admin_child_dn(base, "uid", local, "users", domain, out, size, err);
}

int
admin_group_dn(const char *base, const char *name, const char *domain,
               char *out, size_t size, mtr_err_t *err)
{
    return admin_child_dn(base, "cn", name, "groups", domain, out, size, err);
}

/* ---- changes ------------------------------------------------------------- */

void
admin_changes_init(admin_changes_t *c, admin_obj_e obj, const char *zonedir)
{
    memset(c, 0, sizeof(*c));
    c->obj = obj;
    c->zonedir = zonedir;
}

void
admin_changes_free(admin_changes_t *c)
{
    size_t i, j;

    for (i = 0; i < c->n; i++) {
        for (j = 0; j < c->changes[i].nvalues; j++) {
            free(c->changes[i].values[j]);
        }
        free(c->changes[i].values);
    }
    free(c->changes);
    c->changes = NULL;
    c->n = 0;
}

static admin_change_t *
admin_changes_find(admin_changes_t *c, const admin_field_t *f, admin_op_e op)
{
    size_t i;

    for (i = 0; i < c->n; i++) {
        if (c->changes[i].field == f && c->changes[i].op == op) {
            return &c->changes[i];
        }
    }
    return NULL;
}

static int
admin_change_append(admin_change_t *ch, const char *v, mtr_err_t *err)
{
    char **values;
    size_t i;

    for (i = 0; i < ch->nvalues; i++) {
        if (strcasecmp(ch->values[i], v) == 0) {
            return MTR_OK; /* a duplicate: one value is enough */
        }
    }
    if (ch->nvalues >= ADMIN_VALUES_MAX) {
        return mtr_err_set(err, "%s: more than %d values", ch->field->name,
                           ADMIN_VALUES_MAX);
    }

    values = realloc(ch->values, (ch->nvalues + 2) * sizeof(char *));
    if (values == NULL) {
        return mtr_err_set(err, "out of memory");
    }
    ch->values = values;
    ch->values[ch->nvalues] = strdup(v);
    if (ch->values[ch->nvalues] == NULL) {
        ch->values[ch->nvalues] = NULL;
        return mtr_err_set(err, "out of memory");
    }
    ch->nvalues++;
    ch->values[ch->nvalues] = NULL;

    return MTR_OK;
}

int
admin_changes_put(admin_changes_t *c, const char *name, size_t name_len,
                  admin_op_e op, const char *value, size_t len, mtr_err_t *err)
{
    const admin_field_t *f;
    admin_change_t      *ch;
    char                 q[80], norm[ADMIN_VALUE_MAX + 1];
    size_t               i, start, end;
    int                  multi, blank = 1;

    f = admin_field_find(c->obj, name, name_len);
    if (f == NULL) {
        return mtr_err_set(err, "unknown field \"%s\"",
                           admin_q(q, sizeof(q), name, name_len));
    }
    multi = (f->flags & ADMIN_FF_MULTI) != 0;

    if (op != ADMIN_SET && !multi) {
        return mtr_err_set(err,
                           "%s holds one value: set it, values cannot be "
                           "added or removed",
                           f->name);
    }

    for (i = 0; i < len; i++) {
        if (value[i] != ' ' && value[i] != '\t' && value[i] != ';') {
            blank = 0;
            break;
        }
    }

    /* Setting and adding/removing the same field at once is ambiguous. */
    for (i = 0; i < c->n; i++) {
        if (c->changes[i].field == f
            && ((op == ADMIN_SET) != (c->changes[i].op == ADMIN_SET)))
        {
            return mtr_err_set(err,
                               "%s: either set its values or add/remove "
                               "some, not both",
                               f->name);
        }
    }

    ch = admin_changes_find(c, f, op);
    if (ch != NULL && op == ADMIN_SET && !multi) {
        return mtr_err_set(err, "%s given twice", f->name);
    }
    if (ch != NULL && op == ADMIN_SET && (blank || ch->nvalues == 0)) {
        return mtr_err_set(err, "%s: cleared and set at once", f->name);
    }

    if (blank) {
        if (op != ADMIN_SET) {
            return mtr_err_set(err, "%s: no value to %s", f->name,
                               op == ADMIN_ADD ? "add" : "remove");
        }
        if (f->flags & ADMIN_FF_REQUIRED) {
            return mtr_err_set(err, "%s cannot be cleared", f->name);
        }
    }

    if (ch == NULL) {
        admin_change_t *changes;

        if (c->n >= ADMIN_CHANGES_MAX) {
            return mtr_err_set(err, "more than %d field changes",
                               ADMIN_CHANGES_MAX);
        }
        changes = realloc(c->changes, (c->n + 1) * sizeof(*changes));
        if (changes == NULL) {
            return mtr_err_set(err, "out of memory");
        }
        c->changes = changes;
        ch = &c->changes[c->n++];
        memset(ch, 0, sizeof(*ch));
        ch->field = f;
        ch->op = op;
    }

    if (blank) {
        return MTR_OK; /* nvalues 0: clear */
    }

    if (!multi) {
        if (admin_normalize(f, value, len, c->zonedir, norm, sizeof(norm), err)
            != MTR_OK)
        {
            goto failed;
        }
        if (admin_change_append(ch, norm, err) != MTR_OK) {
            goto failed;
        }
        return MTR_OK;
    }

    for (start = 0; start <= len; start = end + 1) {
        end = start;
        while (end < len && value[end] != ';') {
            end++;
        }
        for (i = start; i < end && (value[i] == ' ' || value[i] == '\t'); i++) {
        }
        if (i == end) {
            continue; /* an empty item: "a;;b" or a trailing ';' */
        }
        if (admin_normalize(f, value + start, end - start, c->zonedir, norm,
                            sizeof(norm), err)
                != MTR_OK
            || admin_change_append(ch, norm, err) != MTR_OK)
        {
            goto failed;
        }
    }

    return MTR_OK;

failed:
    /* Drop a change that got no value, so the request stays consistent. */
    if (ch->nvalues == 0 && ch == &c->changes[c->n - 1]) {
        free(ch->values);
        c->n--;
    }
    return MTR_ERROR;
}

const admin_change_t *
admin_changes_get(const admin_changes_t *c, const char *attr)
{
    size_t i;

    for (i = 0; i < c->n; i++) {
        if (strcasecmp(c->changes[i].field->attr, attr) == 0) {
            return &c->changes[i];
        }
    }
    return NULL;
}

const char *
admin_changes_value(const admin_changes_t *c, const char *attr)
{
    const admin_change_t *ch = admin_changes_get(c, attr);

    if (ch == NULL || ch->op != ADMIN_SET || ch->nvalues == 0) {
        return NULL;
    }
    return ch->values[0];
}

/* ---- modifications ---------------------------------------------------------
 */

void
admin_mods_init(admin_mods_t *m)
{
    memset(m, 0, sizeof(*m));
}

void
admin_mods_free(admin_mods_t *m)
{
    size_t i;

    for (i = 0; i < m->nowned; i++) {
        free(m->owned[i]);
    }
    free(m->owned);
    free(m->mods);
    memset(m, 0, sizeof(*m));
}

static int
admin_mods_own(admin_mods_t *m, void *p, mtr_err_t *err)
{
    if (p == NULL) {
        return mtr_err_set(err, "out of memory");
    }
    if (m->nowned == m->owned_cap) {
        size_t cap = m->owned_cap ? 2 * m->owned_cap : 32;
        char **o = realloc(m->owned, cap * sizeof(char *));

        if (o == NULL) {
            free(p);
            return mtr_err_set(err, "out of memory");
        }
        m->owned = o;
        m->owned_cap = cap;
    }
    m->owned[m->nowned++] = p;
    return MTR_OK;
}

int
admin_mods_push(admin_mods_t *m, int op, const char *attr,
                const char *const *values, size_t n, mtr_err_t *err)
{
    char **copy = NULL;
    size_t i;

    if (m->n == m->cap) {
        size_t          cap = m->cap ? 2 * m->cap : 16;
        mtr_ldap_mod_t *mods = realloc(m->mods, cap * sizeof(*mods));

        if (mods == NULL) {
            return mtr_err_set(err, "out of memory");
        }
        m->mods = mods;
        m->cap = cap;
    }

    if (n > 0) {
        copy = calloc(n + 1, sizeof(char *));
        if (admin_mods_own(m, copy, err) != MTR_OK) {
            return MTR_ERROR;
        }
        for (i = 0; i < n; i++) {
            copy[i] = strdup(values[i]);
            if (admin_mods_own(m, copy[i], err) != MTR_OK) {
                copy[i] = NULL;
                return MTR_ERROR;
            }
        }
    }

    m->mods[m->n].op = op;
    m->mods[m->n].attr = attr;
    m->mods[m->n].values = (const char *const *) copy;
    m->n++;

    return MTR_OK;
}

static int
admin_mods_push1(admin_mods_t *m, int op, const char *attr, const char *value,
                 mtr_err_t *err)
{
    return admin_mods_push(m, op, attr, &value, 1, err);
}

const char *
admin_mods_value(const admin_mods_t *m, const char *attr)
{
    size_t i;

    for (i = 0; i < m->n; i++) {
        if (strcasecmp(m->mods[i].attr, attr) == 0 && m->mods[i].values != NULL)
        {
            return m->mods[i].values[0];
        }
    }
    return NULL;
}

/* Push every SET change with values, except those in skip (attrs). */
static int
admin_mods_rest(admin_mods_t *m, const admin_changes_t *c,
                const char *const *skip, mtr_err_t *err)
{
    size_t i, j;

    for (i = 0; i < c->n; i++) {
        const admin_change_t *ch = &c->changes[i];
        int                   skipped = 0;

        if (ch->op != ADMIN_SET) {
            return mtr_err_set(err,
                               "%s: values can only be added or removed on "
                               "an existing entry",
                               ch->field->name);
        }
        for (j = 0; skip != NULL && skip[j] != NULL; j++) {
            if (strcasecmp(skip[j], ch->field->attr) == 0) {
                skipped = 1;
            }
        }
        if (skipped || ch->nvalues == 0) {
            continue;
        }
        if (admin_mods_push(m, MTR_LDAP_MOD_ADD, ch->field->attr,
                            (const char *const *) ch->values, ch->nvalues, err)
            != MTR_OK)
        {
            return MTR_ERROR;
        }
    }
    return MTR_OK;
}

int
admin_user_entry(const admin_changes_t *c, const char *local,
                 const char *domain, uint64_t default_quota,
                 const char *password_hash, admin_mods_t *m, mtr_err_t *err)
{
    static const char *const skip[] = { "cn",
                                        "sn",
                                        "mortarAccountStatus",
                                        "mortarEnabledService",
                                        "mortarQuotaBytes",
                                        NULL };
    char                     mail[ADMIN_ADDR_MAX + 1], cn[2 * 256 + 2];
    char                     quota[24];
    const char              *given, *sn, *p, *status;
    const admin_change_t    *svc;
    admin_changes_t          defaults;

    if ((size_t) snprintf(mail, sizeof(mail), "%s@%s", local, domain)
        >= sizeof(mail))
    {
        return mtr_err_set(err, "address too long");
    }

    given = admin_changes_value(c, "givenName");
    sn = admin_changes_value(c, "sn");

    if (admin_changes_value(c, "cn") != NULL) {
        snprintf(cn, sizeof(cn), "%s", admin_changes_value(c, "cn"));
    } else if (given != NULL && sn != NULL) {
        snprintf(cn, sizeof(cn), "%s %s", given, sn);
    } else if (given != NULL || sn != NULL) {
        snprintf(cn, sizeof(cn), "%s", given != NULL ? given : sn);
    } else {
        snprintf(cn, sizeof(cn), "%s", local);
    }
    if (sn == NULL) {
        p = strrchr(cn, ' ');
        sn = p != NULL && p[1] != '\0' ? p + 1 : cn;
    }

    status = admin_changes_value(c, "mortarAccountStatus");

    if (admin_mods_push(m, MTR_LDAP_MOD_ADD, "objectClass", admin_user_classes,
                        2, err)
            != MTR_OK
        || admin_mods_push1(m, MTR_LDAP_MOD_ADD, "uid", local, err) != MTR_OK
        || admin_mods_push1(m, MTR_LDAP_MOD_ADD, "mail", mail, err) != MTR_OK
        || admin_mods_push1(m, MTR_LDAP_MOD_ADD, "cn", cn, err) != MTR_OK
        || admin_mods_push1(m, MTR_LDAP_MOD_ADD, "sn", sn, err) != MTR_OK
        || admin_mods_push1(m, MTR_LDAP_MOD_ADD, "mortarAccountStatus",
                            status != NULL ? status : "active", err)
               != MTR_OK)
    {
        return MTR_ERROR;
    }

    svc = admin_changes_get(c, "mortarEnabledService");
    if (svc != NULL && svc->op == ADMIN_SET) {
        if (svc->nvalues > 0
            && admin_mods_push(m, MTR_LDAP_MOD_ADD, "mortarEnabledService",
                               (const char *const *) svc->values, svc->nvalues,
                               err)
                   != MTR_OK)
        {
            return MTR_ERROR;
        }
    } else {
        const admin_change_t *d;
        int                   rc;

        admin_changes_init(&defaults, ADMIN_OBJ_USER, NULL);
        rc = admin_changes_put(&defaults, "services", 8, ADMIN_SET,
                               ADMIN_USER_SERVICES_DEFAULT,
                               strlen(ADMIN_USER_SERVICES_DEFAULT), err);
        d = admin_changes_get(&defaults, "mortarEnabledService");
        if (rc == MTR_OK && d != NULL) {
            rc = admin_mods_push(m, MTR_LDAP_MOD_ADD, "mortarEnabledService",
                                 (const char *const *) d->values, d->nvalues,
                                 err);
        }
        admin_changes_free(&defaults);
        if (rc != MTR_OK) {
            return MTR_ERROR;
        }
    }

    p = admin_changes_value(c, "mortarQuotaBytes");
    if (p == NULL && default_quota != 0) {
        snprintf(quota, sizeof(quota), "%llu",
                 (unsigned long long) default_quota);
        p = quota;
    }
    if (p != NULL
        && admin_mods_push1(m, MTR_LDAP_MOD_ADD, "mortarQuotaBytes", p, err)
               != MTR_OK)
    {
        return MTR_ERROR;
    }

    if (password_hash != NULL
        && admin_mods_push1(m, MTR_LDAP_MOD_ADD, "userPassword", password_hash,
                            err)
               != MTR_OK)
    {
        return MTR_ERROR;
    }

    return admin_mods_rest(m, c, skip, err);
}

int
admin_domain_entry(const admin_changes_t *c, const char *domain,
                   admin_mods_t *m, mtr_err_t *err)
{
    static const char *const skip[] = { "mortarAccountStatus", NULL };
    const char *status = admin_changes_value(c, "mortarAccountStatus");

    if (admin_mods_push1(m, MTR_LDAP_MOD_ADD, "objectClass", "mortarDomain",
                         err)
            != MTR_OK
        || admin_mods_push1(m, MTR_LDAP_MOD_ADD, "mortarDomainName", domain,
                            err)
               != MTR_OK
        || admin_mods_push1(m, MTR_LDAP_MOD_ADD, "mortarAccountStatus",
                            status != NULL ? status : "active", err)
               != MTR_OK)
    {
        return MTR_ERROR;
    }

    return admin_mods_rest(m, c, skip, err);
}

int
admin_group_entry(const admin_changes_t *c, const char *name,
                  const char *domain, const char *const *member_dns,
                  size_t nmembers, admin_mods_t *m, mtr_err_t *err)
{
    static const char *const classes[] = { "groupOfNames", "mortarGroup",
                                           NULL };
    char                     mail[ADMIN_ADDR_MAX + 1];

    if (nmembers == 0) {
        return mtr_err_set(err, "a group needs at least one member (the "
                                "directory's groupOfNames requires it): give "
                                "--member ADDRESS");
    }
    if ((size_t) snprintf(mail, sizeof(mail), "%s@%s", name, domain)
        >= sizeof(mail))
    {
        return mtr_err_set(err, "address too long");
    }

    if (admin_mods_push(m, MTR_LDAP_MOD_ADD, "objectClass", classes, 2, err)
            != MTR_OK
        || admin_mods_push1(m, MTR_LDAP_MOD_ADD, "cn", name, err) != MTR_OK
        || admin_mods_push1(m, MTR_LDAP_MOD_ADD, "mail", mail, err) != MTR_OK
        || admin_mods_push(m, MTR_LDAP_MOD_ADD, "member", member_dns, nmembers,
                           err)
               != MTR_OK)
    {
        return MTR_ERROR;
    }

    return admin_mods_rest(m, c, NULL, err);
}

char *const *
admin_entry_values(const mtr_ldap_entry_t *e, const char *attr, size_t *n_r)
{
    size_t i;

    *n_r = 0;
    if (e == NULL) {
        return NULL;
    }
    for (i = 0; i < e->nattrs; i++) {
        if (strcasecmp(e->attrs[i].name, attr) == 0) {
            *n_r = e->attrs[i].nvalues;
            return e->attrs[i].values;
        }
    }
    return NULL;
}

static int
admin_has_value(char *const *vals, size_t n, const char *v, int casei)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (casei ? strcasecmp(vals[i], v) == 0 : strcmp(vals[i], v) == 0) {
            return 1;
        }
    }
    return 0;
}

int
admin_diff(const admin_changes_t *c, const mtr_ldap_entry_t *cur,
           admin_mods_t *m, mtr_err_t *err)
{
    size_t i, j, ncur;

    for (i = 0; i < c->n; i++) {
        const admin_change_t *ch = &c->changes[i];
        const char           *attr = ch->field->attr;
        char *const          *curv = admin_entry_values(cur, attr, &ncur);
        const char           *vals[ADMIN_VALUES_MAX + 1];
        size_t                nv = 0;

        switch (ch->op) {
        case ADMIN_SET:
            if (ch->nvalues == 0) {
                if (ncur > 0
                    && admin_mods_push(m, MTR_LDAP_MOD_DELETE, attr, NULL, 0,
                                       err)
                           != MTR_OK)
                {
                    return MTR_ERROR;
                }
                break;
            }
            if (ncur == ch->nvalues) {
                for (j = 0; j < ch->nvalues; j++) {
                    if (!admin_has_value(curv, ncur, ch->values[j], 0)) {
                        break;
                    }
                }
                if (j == ch->nvalues) {
                    break; /* same set of values */
                }
            }
            if (admin_mods_push(m, MTR_LDAP_MOD_REPLACE, attr,
                                (const char *const *) ch->values, ch->nvalues,
                                err)
                != MTR_OK)
            {
                return MTR_ERROR;
            }
            break;

        case ADMIN_ADD:
            for (j = 0; j < ch->nvalues; j++) {
                if (!admin_has_value(curv, ncur, ch->values[j], 1)) {
                    vals[nv++] = ch->values[j];
                }
            }
            if (nv > 0
                && admin_mods_push(m, MTR_LDAP_MOD_ADD, attr, vals, nv, err)
                       != MTR_OK)
            {
                return MTR_ERROR;
            }
            break;

        case ADMIN_DEL:
            for (j = 0; j < ch->nvalues; j++) {
                size_t k;

                for (k = 0; k < ncur; k++) {
                    if (strcasecmp(curv[k], ch->values[j]) == 0) {
                        break;
                    }
                }
                if (k == ncur) {
                    mtr_err_set(err, "%s: \"%s\" is not there", ch->field->name,
                                ch->values[j]);
                    return MTR_DECLINED;
                }
                /* The stored spelling, so the server's match is exact. */
                vals[nv++] = curv[k];
            }
            if (nv > 0
                && admin_mods_push(m, MTR_LDAP_MOD_DELETE, attr, vals, nv, err)
                       != MTR_OK)
            {
                return MTR_ERROR;
            }
            break;
        }
    }

    return MTR_OK;
}

admin_status_e
admin_ldap_status(int rc)
{
    switch (rc) {
    case LDAP_SUCCESS:
        return ADMIN_OK;
    case LDAP_SERVER_DOWN:
    case LDAP_CONNECT_ERROR:
    case LDAP_TIMEOUT:
    case LDAP_UNAVAILABLE:
    case LDAP_BUSY:
        return ADMIN_UNAVAILABLE;
    case LDAP_NO_SUCH_OBJECT:
        return ADMIN_NOT_FOUND;
    case LDAP_ALREADY_EXISTS:
        return ADMIN_EXISTS;
    case LDAP_CONSTRAINT_VIOLATION:
    case LDAP_OBJECT_CLASS_VIOLATION:
    case LDAP_INVALID_SYNTAX:
    case LDAP_UNDEFINED_TYPE:
    case LDAP_TYPE_OR_VALUE_EXISTS:
    case LDAP_NO_SUCH_ATTRIBUTE:
    case LDAP_INVALID_DN_SYNTAX:
        return ADMIN_INVALID;
    default:
        return ADMIN_FAILED;
    }
}

/* ---- operations: helpers ----------------------------------------------------
 */

static admin_status_e
admin_ldap_failed(admin_ctx_t *ctx)
{
    admin_status_e st = admin_ldap_status(mtr_ldap_last_result(ctx->ldap));

    return st == ADMIN_OK ? ADMIN_FAILED : st;
}

static void admin_warn(admin_ctx_t *ctx, const char *fmt, ...) MTR_PRINTF(2, 3);

static void
admin_warn(admin_ctx_t *ctx, const char *fmt, ...)
{
    va_list ap;
    size_t  used = strlen(ctx->warn);

    if (used > 0 && used + 2 < sizeof(ctx->warn)) {
        ctx->warn[used++] = ';';
        ctx->warn[used++] = ' ';
        ctx->warn[used] = '\0';
    }
    if (used + 1 >= sizeof(ctx->warn)) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(ctx->warn + used, sizeof(ctx->warn) - used, fmt, ap);
    va_end(ap);
}

/* Ask the gate whether an administrative change may proceed now. */
static admin_status_e
admin_gate(admin_ctx_t *ctx, mtr_err_t *err)
{
    char warn[LIC_WARN_MAX];
    int  rc;

    warn[0] = '\0';
    rc = lic_gate_admin_change(ctx->gate, ctx->now, warn, sizeof(warn), err);

    if (warn[0] != '\0' && strstr(ctx->warn, warn) == NULL) {
        admin_warn(ctx, "%s", warn);
    }

    switch (rc) {
    case MTR_OK:
        return ADMIN_OK;
    case MTR_DECLINED:
        return ADMIN_REFUSED;
    default:
        return admin_ldap_failed(ctx);
    }
}

static int
admin_domains_base(admin_ctx_t *ctx, char *out, size_t size, mtr_err_t *err)
{
    if ((size_t) snprintf(out, size, "ou=domains,%s", ctx->base) >= size) {
        return mtr_err_set(err, "base DN too long");
    }
    return MTR_OK;
}

static int
admin_filter_esc(const char *v, char *out, size_t size, mtr_err_t *err)
{
    return mtr_ldap_escape_filter(v, strlen(v), out, size, NULL, err);
}

/* Base search of dn; ADMIN_NOT_FOUND when missing (err then says what). */
static admin_status_e
admin_read(admin_ctx_t *ctx, const char *dn, const char *filter,
           const char *const *attrs, const char *what, const char *name,
           mtr_ldap_result_t **res_r, mtr_err_t *err)
{
    int rc;

    rc = mtr_ldap_search(ctx->ldap, dn, MTR_LDAP_SCOPE_BASE, filter, attrs, 1,
                         res_r, err);
    if (rc == MTR_DECLINED || (rc == MTR_OK && (*res_r)->nentries == 0)) {
        mtr_ldap_result_free(res_r);
        mtr_err_set(err, "no %s %s", what, name);
        return ADMIN_NOT_FOUND;
    }
    if (rc != MTR_OK) {
        return admin_ldap_failed(ctx);
    }
    return ADMIN_OK;
}

static admin_status_e admin_domain_served(admin_ctx_t *ctx, const char *domain,
                                          int *served_r, char *dn_r,
                                          mtr_err_t *err);

/* The domain entry of domain (must be lowercase and valid). */
static admin_status_e
admin_domain_read(admin_ctx_t *ctx, const char *domain,
                  mtr_ldap_result_t **res_r, mtr_err_t *err)
{
    char           dn[ADMIN_DN_MAX];
    admin_status_e st;

    if (admin_domain_dn(ctx->base, domain, dn, sizeof(dn), err) != MTR_OK) {
        return ADMIN_INVALID;
    }
    st = admin_read(ctx, dn, "(objectClass=mortarDomain)", NULL, "domain",
                    domain, res_r, err);
    if (st == ADMIN_NOT_FOUND) {
        char by[ADMIN_DN_MAX];
        int  served = 0;

        if (admin_domain_served(ctx, domain, &served, by, err) == ADMIN_OK
            && served) {
            /* Name the primary by its name, not its DN. */
            const char *p = by, *q;

            if (strncasecmp(p, "mortarDomainName=", 17) == 0) {
                p += 17;
            }
            q = strchr(p, ',');
            mtr_err_set(err,
                        "%s is an alias domain of %.*s: users, groups and "
                        "settings live in the primary domain (mail to the "
                        "alias reaches them there)",
                        domain,
                        (int) (q != NULL ? (size_t) (q - p) : strlen(p)), p);
            return ADMIN_NOT_FOUND;
        }
        mtr_err_set(err,
                    "domain %s is not served here: add it first with "
                    "`mortar domain add %s` (see `mortar domain list`)",
                    domain, domain);
    }
    return st;
}

static uint64_t
admin_entry_uint(const mtr_ldap_entry_t *e, const char *attr)
{
    const char *v = e != NULL ? mtr_ldap_entry_get(e, attr) : NULL;
    uint64_t    n;

    if (v == NULL || mtr_parse_uint(v, strlen(v), UINT64_MAX, &n) != MTR_OK) {
        return 0;
    }
    return n;
}

/*
 * Is domain served here, as a domain or as an alias of one?  MTR_OK with
 * *served_r set; the DN of the domain entry that serves it goes to dn_r
 * (ADMIN_DN_MAX bytes, may be NULL).
 */
static admin_status_e
admin_domain_served(admin_ctx_t *ctx, const char *domain, int *served_r,
                    char *dn_r, mtr_err_t *err)
{
    char               base[ADMIN_DN_MAX], esc[3 * ADMIN_DOMAIN_MAX + 1];
    char               filter[ADMIN_FILTER_MAX];
    mtr_ldap_result_t *res = NULL;

    *served_r = 0;
    if (admin_domains_base(ctx, base, sizeof(base), err) != MTR_OK
        || admin_filter_esc(domain, esc, sizeof(esc), err) != MTR_OK)
    {
        return ADMIN_INVALID;
    }
    snprintf(filter, sizeof(filter),
             "(&(objectClass=mortarDomain)(|(mortarDomainName=%s)"
             "(mortarDomainAlias=%s)))",
             esc, esc);

    if (mtr_ldap_search(ctx->ldap, base, MTR_LDAP_SCOPE_ONE, filter,
                        admin_attrs_none, 0, &res, err)
        != MTR_OK)
    {
        return admin_ldap_failed(ctx);
    }
    *served_r = res->nentries > 0;
    if (dn_r != NULL && res->nentries > 0) {
        snprintf(dn_r, ADMIN_DN_MAX, "%s", res->entries[0].dn);
    }
    mtr_ldap_result_free(&res);
    return ADMIN_OK;
}

/*
 * The entries (users or groups) that own addr as mail or alias; attrs as
 * for mtr_ldap_search.  *res_r is freed by the caller.
 */
static admin_status_e
admin_owners(admin_ctx_t *ctx, const char *addr, const char *const *attrs,
             mtr_ldap_result_t **res_r, mtr_err_t *err)
{
    char base[ADMIN_DN_MAX], esc[3 * ADMIN_ADDR_MAX + 1];
    char filter[ADMIN_FILTER_MAX];

    if (admin_domains_base(ctx, base, sizeof(base), err) != MTR_OK
        || admin_filter_esc(addr, esc, sizeof(esc), err) != MTR_OK)
    {
        return ADMIN_INVALID;
    }
    snprintf(filter, sizeof(filter),
             "(&(|(objectClass=mortarUser)(objectClass=mortarGroup))"
             "(|(mail=%s)(mortarMailAlias=%s)))",
             esc, esc);

    if (mtr_ldap_search(ctx->ldap, base, MTR_LDAP_SCOPE_SUB, filter, attrs, 0,
                        res_r, err)
        != MTR_OK)
    {
        return admin_ldap_failed(ctx);
    }
    return ADMIN_OK;
}

/* MTR_OK when nobody but own_dn (may be NULL) uses addr. */
static admin_status_e
admin_address_free(admin_ctx_t *ctx, const char *addr, const char *own_dn,
                   mtr_err_t *err)
{
    static const char *const attrs[] = { "mail", NULL };
    mtr_ldap_result_t       *res = NULL;
    admin_status_e           st;
    size_t                   i;

    st = admin_owners(ctx, addr, attrs, &res, err);
    if (st != ADMIN_OK) {
        return st;
    }
    for (i = 0; i < res->nentries; i++) {
        const char *m = mtr_ldap_entry_get(&res->entries[i], "mail");

        if (own_dn != NULL && strcasecmp(res->entries[i].dn, own_dn) == 0) {
            continue;
        }
        if (m != NULL && strcasecmp(m, addr) == 0) {
            mtr_err_set(err, "%s already exists", addr);
        } else {
            mtr_err_set(err, "%s is already an address of %s", addr,
                        m != NULL ? m : res->entries[i].dn);
        }
        mtr_ldap_result_free(&res);
        return ADMIN_EXISTS;
    }
    mtr_ldap_result_free(&res);
    return ADMIN_OK;
}

/*
 * The alias values a request adds to entry own_dn (mail own_mail): each
 * must be in a served domain, differ from the entry's own address and be
 * unused.  cur (may be NULL) holds the entry's present values.
 */
static admin_status_e
admin_check_aliases(admin_ctx_t *ctx, const admin_changes_t *c,
                    const char *own_dn, const char *own_mail,
                    const mtr_ldap_entry_t *cur, mtr_err_t *err)
{
    const admin_change_t *ch = NULL;
    admin_status_e        st;
    size_t                i, j, ncur;
    char *const          *curv;

    for (i = 0; i < c->n; i++) {
        if (!(c->changes[i].field->flags & ADMIN_FF_SERVED)
            || c->changes[i].op == ADMIN_DEL)
        {
            continue;
        }
        ch = &c->changes[i];
        curv = admin_entry_values(cur, ch->field->attr, &ncur);

        for (j = 0; j < ch->nvalues; j++) {
            const char *a = ch->values[j];
            const char *d = strchr(a, '@') + 1;
            int         served;

            if (admin_has_value(curv, ncur, a, 1)) {
                continue; /* already there: checked when it was added */
            }
            if (strcasecmp(a, own_mail) == 0) {
                mtr_err_set(err, "%s: %s is the entry's own address",
                            ch->field->name, a);
                return ADMIN_INVALID;
            }
            st = admin_domain_served(ctx, d, &served, NULL, err);
            if (st != ADMIN_OK) {
                return st;
            }
            if (!served) {
                mtr_err_set(err,
                            "%s: %s is not in a domain served here (add %s "
                            "with `mortar domain add` or as a domain alias)",
                            ch->field->name, a, d);
                return ADMIN_INVALID;
            }
            st = admin_address_free(ctx, a, own_dn, err);
            if (st == ADMIN_EXISTS) {
                mtr_err_t inner = *err;

                mtr_err_set(err, "%s: %s is already taken (%s)",
                            ch->field->name, a, inner.msg);
            }
            if (st != ADMIN_OK) {
                return st;
            }
        }
    }
    return ADMIN_OK;
}

/* Forwards must not point at the user itself (a mail loop). */
static admin_status_e
admin_check_forwards(const admin_changes_t *c, const char *own_mail,
                     mtr_err_t *err)
{
    const admin_change_t *ch = admin_changes_get(c, "mortarForwardAddress");
    size_t                j;

    if (ch == NULL || ch->op == ADMIN_DEL) {
        return ADMIN_OK;
    }
    for (j = 0; j < ch->nvalues; j++) {
        if (strcasecmp(ch->values[j], own_mail) == 0) {
            mtr_err_set(err,
                        "forwards: %s would forward to itself (use "
                        "keep-copy to keep mail in the mailbox)",
                        own_mail);
            return ADMIN_INVALID;
        }
    }
    return ADMIN_OK;
}

/* A user quota larger than the whole domain pool can never be used. */
static admin_status_e
admin_check_quota(const char *quota, const mtr_ldap_entry_t *dom,
                  const char *domain, mtr_err_t *err)
{
    uint64_t q, pool = admin_entry_uint(dom, "mortarDomainQuotaPool");

    if (quota == NULL || pool == 0
        || mtr_parse_uint(quota, strlen(quota), UINT64_MAX, &q) != MTR_OK)
    {
        return ADMIN_OK;
    }
    if (q == 0 || q > pool) {
        mtr_err_set(err,
                    "quota %s bytes exceeds the quota pool of %s (%llu "
                    "bytes)%s: lower it or raise the pool with `mortar "
                    "domain set %s --quota-pool SIZE`",
                    quota, domain, (unsigned long long) pool,
                    q == 0 ? " (0 means unlimited)" : "", domain);
        return ADMIN_REFUSED;
    }
    return ADMIN_OK;
}

/* Count the children of dn matching filter. */
static admin_status_e
admin_count(admin_ctx_t *ctx, const char *dn, int scope, const char *filter,
            uint64_t *n_r, mtr_err_t *err)
{
    mtr_ldap_result_t *res = NULL;
    int                rc;

    *n_r = 0;
    rc = mtr_ldap_search(ctx->ldap, dn, scope, filter, admin_attrs_none, 0,
                         &res, err);
    if (rc == MTR_DECLINED) {
        return ADMIN_OK;
    }
    if (rc != MTR_OK) {
        return admin_ldap_failed(ctx);
    }
    *n_r = res->nentries;
    mtr_ldap_result_free(&res);
    return ADMIN_OK;
}

static int
admin_entry_cmp_attr(const mtr_ldap_entry_t *a, const mtr_ldap_entry_t *b,
                     const char *attr)
{
    const char *x = mtr_ldap_entry_get(a, attr);
    const char *y = mtr_ldap_entry_get(b, attr);

    return strcasecmp(x != NULL ? x : a->dn, y != NULL ? y : b->dn);
}

static int
admin_cmp_mail(const void *a, const void *b)
{
    return admin_entry_cmp_attr(a, b, "mail");
}

static int
admin_cmp_domain(const void *a, const void *b)
{
    return admin_entry_cmp_attr(a, b, "mortarDomainName");
}

/* RDN count of a DN: commas that are not escaped. */
static size_t
admin_dn_depth(const char *dn)
{
    size_t n = 1;

    for (; *dn != '\0'; dn++) {
        if (*dn == '\\' && dn[1] != '\0') {
            dn++;
        } else if (*dn == ',') {
            n++;
        }
    }
    return n;
}

static int
admin_cmp_depth(const void *a, const void *b)
{
    size_t x = admin_dn_depth(((const mtr_ldap_entry_t *) a)->dn);
    size_t y = admin_dn_depth(((const mtr_ldap_entry_t *) b)->dn);

    return x < y ? 1 : x > y ? -1 : 0; /* deepest first */
}

static int
admin_is_class(const mtr_ldap_entry_t *e, const char *cls)
{
    size_t       n;
    char *const *v = admin_entry_values(e, "objectClass", &n);

    return admin_has_value(v, n, cls, 1);
}

/* local@domain of parts already checked by admin_parse_address(). */
static void
admin_mail(char *out, const char *local, const char *domain)
{
    if ((size_t) snprintf(out, ADMIN_ADDR_MAX + 1, "%s@%s", local, domain)
        > ADMIN_ADDR_MAX)
    {
        out[0] = '\0'; /* cannot happen: the address was length-checked */
    }
}

/* Split an address that the caller has not checked yet. */
static admin_status_e
admin_split(const char *addr, char *local, char *domain, mtr_err_t *err)
{
    return admin_parse_address(addr, strlen(addr), local, domain, err) == MTR_OK
               ? ADMIN_OK
               : ADMIN_INVALID;
}

static admin_status_e
admin_norm_domain(const char *in, char *out, mtr_err_t *err)
{
    size_t i, len = strlen(in);

    if (len > ADMIN_DOMAIN_MAX) {
        mtr_err_set(err, "domain name longer than %d bytes", ADMIN_DOMAIN_MAX);
        return ADMIN_INVALID;
    }
    for (i = 0; i <= len; i++) {
        out[i] = (char) tolower((unsigned char) in[i]);
    }
    return admin_check_domain(out, len, err) == MTR_OK ? ADMIN_OK
                                                       : ADMIN_INVALID;
}

/* Release one seat, turning a failure into a warning. */
static void
admin_release(admin_ctx_t *ctx)
{
    mtr_err_t e;

    mtr_err_clear(&e);
    if (lic_gate_seat_release(ctx->gate, &e) != MTR_OK) {
        admin_warn(ctx,
                   "the seat counter was not lowered (%s): run `mortar "
                   "license audit --fix` once Redis is back",
                   e.msg);
    }
}

/* ---- domains
 * ------------------------------------------------------------------ */

admin_status_e
admin_domain_add(admin_ctx_t *ctx, const char *domain_in,
                 const admin_changes_t *c, mtr_err_t *err)
{
    char                  domain[ADMIN_DOMAIN_MAX + 1], dn[ADMIN_DN_MAX];
    char                  ou[ADMIN_DN_MAX], served_by[ADMIN_DN_MAX];
    const char           *oc[] = { "organizationalUnit", NULL };
    admin_mods_t          m;
    admin_status_e        st;
    const char           *def, *pool;
    uint64_t              d = 0, p = 0;
    const admin_change_t *al;
    size_t                i;
    int                   served;

    st = admin_norm_domain(domain_in, domain, err);
    if (st != ADMIN_OK) {
        return st;
    }
    def = admin_changes_value(c, "mortarDomainDefaultQuota");
    pool = admin_changes_value(c, "mortarDomainQuotaPool");
    if (def != NULL && pool != NULL) {
        mtr_parse_uint(def, strlen(def), UINT64_MAX, &d);
        mtr_parse_uint(pool, strlen(pool), UINT64_MAX, &p);
        if (p != 0 && (d == 0 || d > p)) {
            mtr_err_set(err,
                        "default quota (%s bytes) does not fit in the quota "
                        "pool (%s bytes)",
                        def, pool);
            return ADMIN_INVALID;
        }
    }

    st = admin_gate(ctx, err);
    if (st != ADMIN_OK) {
        return st;
    }

    st = admin_domain_served(ctx, domain, &served, served_by, err);
    if (st != ADMIN_OK) {
        return st;
    }
    if (served) {
        mtr_err_set(err, "domain %s is already served here (%s)", domain,
                    served_by);
        return ADMIN_EXISTS;
    }

    al = admin_changes_get(c, "mortarDomainAlias");
    for (i = 0; al != NULL && i < al->nvalues; i++) {
        if (strcmp(al->values[i], domain) == 0) {
            mtr_err_set(err, "aliases: %s is the domain itself", domain);
            return ADMIN_INVALID;
        }
        st = admin_domain_served(ctx, al->values[i], &served, served_by, err);
        if (st != ADMIN_OK) {
            return st;
        }
        if (served) {
            mtr_err_set(err, "aliases: %s is already served here (%s)",
                        al->values[i], served_by);
            return ADMIN_EXISTS;
        }
    }

    if (admin_domain_dn(ctx->base, domain, dn, sizeof(dn), err) != MTR_OK) {
        return ADMIN_INVALID;
    }

    admin_mods_init(&m);
    if (admin_domain_entry(c, domain, &m, err) != MTR_OK) {
        admin_mods_free(&m);
        return ADMIN_INVALID;
    }
    if (mtr_ldap_add(ctx->ldap, dn, m.mods, m.n, err) != MTR_OK) {
        admin_mods_free(&m);
        return admin_ldap_failed(ctx);
    }
    admin_mods_free(&m);

    /* The two containers; if one fails, take the domain away again. */
    for (i = 0; i < 2; i++) {
        const char *name = i == 0 ? "users" : "groups";

        admin_mods_init(&m);
        if (admin_ou_dn(ctx->base, name, domain, ou, sizeof(ou), err) != MTR_OK
            || admin_mods_push(&m, MTR_LDAP_MOD_ADD, "objectClass", oc, 1, err)
                   != MTR_OK
            || admin_mods_push(&m, MTR_LDAP_MOD_ADD, "ou", &name, 1, err)
                   != MTR_OK
            || mtr_ldap_add(ctx->ldap, ou, m.mods, m.n, err) != MTR_OK)
        {
            mtr_err_t e;

            st = admin_ldap_failed(ctx);
            admin_mods_free(&m);
            if (i == 1) {
                admin_ou_dn(ctx->base, "users", domain, ou, sizeof(ou), &e);
                mtr_ldap_delete(ctx->ldap, ou, &e);
            }
            mtr_ldap_delete(ctx->ldap, dn, &e);
            return st;
        }
        admin_mods_free(&m);
    }

    return ADMIN_OK;
}

/* Take the members of this domain out of groups of other domains. */
static admin_status_e
admin_unlink_domain(admin_ctx_t *ctx, const char *domain_dn, mtr_err_t *err)
{
    static const char *const attrs[] = { "member", "mail", NULL };
    char                     base[ADMIN_DN_MAX];
    mtr_ldap_result_t       *res = NULL;
    size_t                   i, j, n, dlen = strlen(domain_dn);

    if (admin_domains_base(ctx, base, sizeof(base), err) != MTR_OK) {
        return ADMIN_INVALID;
    }
    if (mtr_ldap_search(ctx->ldap, base, MTR_LDAP_SCOPE_SUB,
                        "(objectClass=groupOfNames)", attrs, 0, &res, err)
        != MTR_OK)
    {
        return admin_ldap_failed(ctx);
    }

    for (i = 0; i < res->nentries; i++) {
        const mtr_ldap_entry_t *g = &res->entries[i];
        char *const            *mem = admin_entry_values(g, "member", &n);
        const char             *drop[ADMIN_VALUES_MAX + 1];
        size_t                  nd = 0, glen = strlen(g->dn);
        mtr_ldap_mod_t          mod;
        mtr_err_t               e;

        if (glen >= dlen && strcasecmp(g->dn + glen - dlen, domain_dn) == 0) {
            continue; /* goes with the domain */
        }
        for (j = 0; j < n && nd < ADMIN_VALUES_MAX; j++) {
            size_t ml = strlen(mem[j]);

            if (ml > dlen && mem[j][ml - dlen - 1] == ','
                && strcasecmp(mem[j] + ml - dlen, domain_dn) == 0)
            {
                drop[nd++] = mem[j];
            }
        }
        if (nd == 0) {
            continue;
        }
        if (nd == n) {
            admin_warn(ctx,
                       "group %s keeps members of the deleted domain: they "
                       "were its only members (delete the group)",
                       mtr_ldap_entry_get(g, "mail") != NULL
                           ? mtr_ldap_entry_get(g, "mail")
                           : g->dn);
            continue;
        }
        drop[nd] = NULL;
        mod.op = MTR_LDAP_MOD_DELETE;
        mod.attr = "member";
        mod.values = drop;
        if (mtr_ldap_modify(ctx->ldap, g->dn, &mod, 1, &e) != MTR_OK) {
            admin_warn(ctx, "could not update group %s: %s", g->dn, e.msg);
        }
    }

    mtr_ldap_result_free(&res);
    return ADMIN_OK;
}

admin_status_e
admin_domain_del(admin_ctx_t *ctx, const char *domain_in, int force,
                 admin_counts_t *counts_r, mtr_err_t *err)
{
    static const char *const attrs[] = { "objectClass", NULL };
    char                     domain[ADMIN_DOMAIN_MAX + 1], dn[ADMIN_DN_MAX];
    mtr_ldap_result_t       *res = NULL;
    admin_status_e           st;
    admin_counts_t           counts;
    size_t                   i;
    int                      rc;

    memset(&counts, 0, sizeof(counts));
    if (counts_r != NULL) {
        *counts_r = counts;
    }

    st = admin_norm_domain(domain_in, domain, err);
    if (st != ADMIN_OK) {
        return st;
    }
    st = admin_gate(ctx, err);
    if (st != ADMIN_OK) {
        return st;
    }
    if (admin_domain_dn(ctx->base, domain, dn, sizeof(dn), err) != MTR_OK) {
        return ADMIN_INVALID;
    }

    rc = mtr_ldap_search(ctx->ldap, dn, MTR_LDAP_SCOPE_SUB, NULL, attrs, 0,
                         &res, err);
    if (rc == MTR_DECLINED) {
        mtr_err_set(err, "no domain %s (see `mortar domain list`)", domain);
        return ADMIN_NOT_FOUND;
    }
    if (rc != MTR_OK) {
        return admin_ldap_failed(ctx);
    }

    for (i = 0; i < res->nentries; i++) {
        if (admin_is_class(&res->entries[i], "mortarUser")) {
            counts.users++;
        } else if (admin_is_class(&res->entries[i], "mortarGroup")
                   || admin_is_class(&res->entries[i], "groupOfNames"))
        {
            counts.groups++;
        }
    }

    if ((counts.users > 0 || counts.groups > 0) && !force) {
        mtr_ldap_result_free(&res);
        if (counts_r != NULL) {
            *counts_r = counts;
        }
        mtr_err_set(err,
                    "domain %s still holds %llu user(s) and %llu group(s): "
                    "delete them first, or use --force to delete the domain "
                    "with everything in it (their seats are released)",
                    domain, (unsigned long long) counts.users,
                    (unsigned long long) counts.groups);
        return ADMIN_REFUSED;
    }

    if (counts.users > 0) {
        st = admin_unlink_domain(ctx, dn, err);
        if (st != ADMIN_OK) {
            mtr_ldap_result_free(&res);
            return st;
        }
    }

    /* Leaves first: LDAP deletes one entry at a time. */
    qsort(res->entries, res->nentries, sizeof(res->entries[0]),
          admin_cmp_depth);

    for (i = 0; i < res->nentries; i++) {
        int user = admin_is_class(&res->entries[i], "mortarUser");

        if (mtr_ldap_delete(ctx->ldap, res->entries[i].dn, err) != MTR_OK
            && mtr_ldap_last_result(ctx->ldap) != LDAP_NO_SUCH_OBJECT)
        {
            st = admin_ldap_failed(ctx);
            mtr_ldap_result_free(&res);
            if (counts_r != NULL) {
                *counts_r = counts;
            }
            return st;
        }
        if (user) {
            admin_release(ctx);
            counts.seats_released++;
        }
    }

    mtr_ldap_result_free(&res);
    if (counts_r != NULL) {
        *counts_r = counts;
    }
    return ADMIN_OK;
}

admin_status_e
admin_domain_set(admin_ctx_t *ctx, const char *domain_in,
                 const admin_changes_t *c, int *changed_r, mtr_err_t *err)
{
    char                    domain[ADMIN_DOMAIN_MAX + 1], by[ADMIN_DN_MAX];
    mtr_ldap_result_t      *res = NULL;
    admin_mods_t            m;
    admin_status_e          st;
    const admin_change_t   *al;
    const mtr_ldap_entry_t *e;
    size_t                  i, ncur;
    char *const            *curv;
    uint64_t                pool, def;
    int                     served, rc;

    if (changed_r != NULL) {
        *changed_r = 0;
    }
    st = admin_norm_domain(domain_in, domain, err);
    if (st != ADMIN_OK) {
        return st;
    }
    st = admin_gate(ctx, err);
    if (st != ADMIN_OK) {
        return st;
    }
    st = admin_domain_read(ctx, domain, &res, err);
    if (st != ADMIN_OK) {
        return st;
    }
    e = &res->entries[0];

    al = admin_changes_get(c, "mortarDomainAlias");
    curv = admin_entry_values(e, "mortarDomainAlias", &ncur);
    for (i = 0; al != NULL && al->op != ADMIN_DEL && i < al->nvalues; i++) {
        if (admin_has_value(curv, ncur, al->values[i], 1)) {
            continue;
        }
        if (strcmp(al->values[i], domain) == 0) {
            mtr_err_set(err, "aliases: %s is the domain itself", domain);
            st = ADMIN_INVALID;
            goto done;
        }
        st = admin_domain_served(ctx, al->values[i], &served, by, err);
        if (st != ADMIN_OK) {
            goto done;
        }
        if (served) {
            mtr_err_set(err, "aliases: %s is already served here (%s)",
                        al->values[i], by);
            st = ADMIN_EXISTS;
            goto done;
        }
    }

    /* The pool and the default quota must still fit together. */
    pool = admin_changes_get(c, "mortarDomainQuotaPool") != NULL
               ? 0
               : admin_entry_uint(e, "mortarDomainQuotaPool");
    def = admin_changes_get(c, "mortarDomainDefaultQuota") != NULL
              ? 0
              : admin_entry_uint(e, "mortarDomainDefaultQuota");
    if (admin_changes_value(c, "mortarDomainQuotaPool") != NULL) {
        const char *v = admin_changes_value(c, "mortarDomainQuotaPool");

        mtr_parse_uint(v, strlen(v), UINT64_MAX, &pool);
    }
    if (admin_changes_value(c, "mortarDomainDefaultQuota") != NULL) {
        const char *v = admin_changes_value(c, "mortarDomainDefaultQuota");

        mtr_parse_uint(v, strlen(v), UINT64_MAX, &def);
    }
    if (pool != 0 && def > pool) {
        mtr_err_set(err,
                    "the default quota (%llu bytes) would exceed the quota "
                    "pool (%llu bytes)",
                    (unsigned long long) def, (unsigned long long) pool);
        st = ADMIN_INVALID;
        goto done;
    }

    admin_mods_init(&m);
    rc = admin_diff(c, e, &m, err);
    if (rc != MTR_OK) {
        admin_mods_free(&m);
        st = rc == MTR_DECLINED ? ADMIN_NOT_FOUND : ADMIN_INVALID;
        goto done;
    }
    if (m.n > 0) {
        if (mtr_ldap_modify(ctx->ldap, e->dn, m.mods, m.n, err) != MTR_OK) {
            st = admin_ldap_failed(ctx);
            admin_mods_free(&m);
            goto done;
        }
        if (changed_r != NULL) {
            *changed_r = 1;
        }
    }
    admin_mods_free(&m);
    st = ADMIN_OK;

done:
    mtr_ldap_result_free(&res);
    return st;
}

admin_status_e
admin_domain_list(admin_ctx_t *ctx, mtr_ldap_result_t **res_r, mtr_err_t *err)
{
    char base[ADMIN_DN_MAX];
    int  rc;

    *res_r = NULL;
    if (admin_domains_base(ctx, base, sizeof(base), err) != MTR_OK) {
        return ADMIN_INVALID;
    }
    rc = mtr_ldap_search(ctx->ldap, base, MTR_LDAP_SCOPE_ONE,
                         "(objectClass=mortarDomain)", NULL, 0, res_r, err);
    if (rc == MTR_DECLINED) {
        mtr_err_set(err,
                    "the directory has no %s: is ldap_base in mortar.conf "
                    "right?",
                    base);
        return ADMIN_NOT_FOUND;
    }
    if (rc != MTR_OK) {
        return admin_ldap_failed(ctx);
    }
    qsort((*res_r)->entries, (*res_r)->nentries, sizeof(mtr_ldap_entry_t),
          admin_cmp_domain);
    return ADMIN_OK;
}

admin_status_e
admin_domain_get(admin_ctx_t *ctx, const char *domain_in,
                 mtr_ldap_result_t **res_r, admin_counts_t *counts_r,
                 mtr_err_t *err)
{
    char           domain[ADMIN_DOMAIN_MAX + 1], ou[ADMIN_DN_MAX];
    admin_status_e st;

    *res_r = NULL;
    st = admin_norm_domain(domain_in, domain, err);
    if (st != ADMIN_OK) {
        return st;
    }
    st = admin_domain_read(ctx, domain, res_r, err);
    if (st != ADMIN_OK || counts_r == NULL) {
        return st;
    }

    memset(counts_r, 0, sizeof(*counts_r));
    if (admin_ou_dn(ctx->base, "users", domain, ou, sizeof(ou), err) != MTR_OK
        || (st = admin_count(ctx, ou, MTR_LDAP_SCOPE_ONE,
                             "(objectClass=mortarUser)", &counts_r->users, err))
               != ADMIN_OK
        || admin_ou_dn(ctx->base, "groups", domain, ou, sizeof(ou), err)
               != MTR_OK
        || (st = admin_count(ctx, ou, MTR_LDAP_SCOPE_ONE,
                             "(objectClass=groupOfNames)", &counts_r->groups,
                             err))
               != ADMIN_OK)
    {
        mtr_ldap_result_free(res_r);
        return st != ADMIN_OK ? st : ADMIN_INVALID;
    }
    return ADMIN_OK;
}

/* ---- users
 * -------------------------------------------------------------------- */

admin_status_e
admin_user_add(admin_ctx_t *ctx, const char *mail_in, const admin_changes_t *c,
               const char *password, const char *password_hash, mtr_err_t *err)
{
    char                    local[ADMIN_LOCAL_MAX + 1];
    char                    domain[ADMIN_DOMAIN_MAX + 1];
    char                    mail[ADMIN_ADDR_MAX + 1], dn[ADMIN_DN_MAX];
    char                    ou[ADMIN_DN_MAX];
    mtr_ldap_result_t      *dom = NULL;
    admin_mods_t            m;
    admin_status_e          st;
    const mtr_ldap_entry_t *d;
    uint64_t                max, count;
    size_t                  i;
    mtr_err_t               e;
    int                     rc;

    admin_mods_init(&m);

    st = admin_split(mail_in, local, domain, err);
    if (st != ADMIN_OK) {
        return st;
    }
    admin_mail(mail, local, domain);

    for (i = 0; i < c->n; i++) {
        if (c->changes[i].op != ADMIN_SET) {
            mtr_err_set(err, "%s: a new user takes values, not additions",
                        c->changes[i].field->name);
            return ADMIN_INVALID;
        }
    }
    if (password != NULL
        && admin_check_password(password, strlen(password), err) != MTR_OK)
    {
        return ADMIN_INVALID;
    }
    if (password_hash != NULL
        && admin_check_password_hash(password_hash, strlen(password_hash), err)
               != MTR_OK)
    {
        return ADMIN_INVALID;
    }
    if (admin_user_dn(ctx->base, local, domain, dn, sizeof(dn), err) != MTR_OK)
    {
        return ADMIN_INVALID;
    }
    st = admin_check_forwards(c, mail, err);
    if (st != ADMIN_OK) {
        return st;
    }

    st = admin_gate(ctx, err);
    if (st != ADMIN_OK) {
        return st;
    }

    st = admin_domain_read(ctx, domain, &dom, err);
    if (st != ADMIN_OK) {
        return st;
    }
    d = &dom->entries[0];

    st = admin_address_free(ctx, mail, NULL, err);
    if (st != ADMIN_OK) {
        goto done;
    }
    st = admin_check_aliases(ctx, c, dn, mail, NULL, err);
    if (st != ADMIN_OK) {
        goto done;
    }
    st = admin_check_quota(admin_changes_value(c, "mortarQuotaBytes"), d,
                           domain, err);
    if (st != ADMIN_OK) {
        goto done;
    }

    max = admin_entry_uint(d, "mortarMaxUsers");
    if (max > 0) {
        if (admin_ou_dn(ctx->base, "users", domain, ou, sizeof(ou), err)
            != MTR_OK) {
            st = ADMIN_INVALID;
            goto done;
        }
        st = admin_count(ctx, ou, MTR_LDAP_SCOPE_ONE,
                         "(objectClass=mortarUser)", &count, err);
        if (st != ADMIN_OK) {
            goto done;
        }
        if (count >= max) {
            mtr_err_set(err,
                        "domain %s is full: it may hold %llu users "
                        "(mortarMaxUsers); raise it with `mortar domain set "
                        "%s --max-users N`",
                        domain, (unsigned long long) max, domain);
            st = ADMIN_REFUSED;
            goto done;
        }
    }

    if (admin_user_entry(c, local, domain,
                         admin_entry_uint(d, "mortarDomainDefaultQuota"),
                         password_hash, &m, err)
        != MTR_OK)
    {
        st = ADMIN_INVALID;
        goto done;
    }
    st = admin_check_quota(admin_mods_value(&m, "mortarQuotaBytes"), d, domain,
                           err);
    if (st != ADMIN_OK) {
        goto done;
    }

    /* The seat first: two admins racing for the last one cannot both win. */
    rc = lic_gate_seat_reserve(ctx->gate, err);
    if (rc != MTR_OK) {
        st = rc == MTR_DECLINED ? ADMIN_REFUSED : ADMIN_UNAVAILABLE;
        goto done;
    }

    if (mtr_ldap_add(ctx->ldap, dn, m.mods, m.n, err) != MTR_OK) {
        st = admin_ldap_failed(ctx);
        if (st == ADMIN_EXISTS) {
            mtr_err_set(err, "%s already exists", mail);
        }
        admin_release(ctx);
        goto done;
    }

    if (password != NULL
        && mtr_ldap_passwd(ctx->ldap, dn, password, err) != MTR_OK) {
        /* A user without the password asked for is not what was asked. */
        st = admin_ldap_failed(ctx);
        mtr_err_clear(&e);
        if (mtr_ldap_delete(ctx->ldap, dn, &e) == MTR_OK) {
            admin_release(ctx);
        } else {
            admin_warn(ctx,
                       "%s was created but its password could not be set, "
                       "and removing it failed (%s): set one with `mortar "
                       "user passwd %s`",
                       mail, e.msg, mail);
        }
        goto done;
    }

    st = ADMIN_OK;

done:
    admin_mods_free(&m);
    mtr_ldap_result_free(&dom);
    return st;
}

/* The user entry of an address: by its DN, attrs NULL (all). */
static admin_status_e
admin_user_read(admin_ctx_t *ctx, const char *mail_in, char *mail, char *dn,
                mtr_ldap_result_t **res_r, mtr_err_t *err)
{
    char           local[ADMIN_LOCAL_MAX + 1], domain[ADMIN_DOMAIN_MAX + 1];
    admin_status_e st;

    *res_r = NULL;
    st = admin_split(mail_in, local, domain, err);
    if (st != ADMIN_OK) {
        return st;
    }
    admin_mail(mail, local, domain);
    if (admin_user_dn(ctx->base, local, domain, dn, ADMIN_DN_MAX, err)
        != MTR_OK) {
        return ADMIN_INVALID;
    }
    st = admin_read(ctx, dn, "(objectClass=mortarUser)", NULL, "user", mail,
                    res_r, err);
    if (st == ADMIN_NOT_FOUND) {
        mtr_err_set(err, "no user %s (see `mortar user list %s`)", mail,
                    domain);
    }
    return st;
}

admin_status_e
admin_user_del(admin_ctx_t *ctx, const char *mail_in, mtr_err_t *err)
{
    static const char *const attrs[] = { "member", "mail", NULL };
    char                     mail[ADMIN_ADDR_MAX + 1], dn[ADMIN_DN_MAX];
    char                     base[ADMIN_DN_MAX], esc[3 * ADMIN_DN_MAX + 1];
    char                     filter[ADMIN_FILTER_MAX];
    mtr_ldap_result_t       *res = NULL, *groups = NULL;
    admin_status_e           st;
    size_t                   i, n;
    char                     local[ADMIN_LOCAL_MAX + 1];

    st = admin_split(mail_in, local, NULL, err);
    if (st != ADMIN_OK) {
        return st;
    }
    st = admin_gate(ctx, err);
    if (st != ADMIN_OK) {
        return st;
    }
    st = admin_user_read(ctx, mail_in, mail, dn, &res, err);
    if (st != ADMIN_OK) {
        return st;
    }
    mtr_ldap_result_free(&res);

    /* Groups that name the user: refuse to leave one without members. */
    if (admin_domains_base(ctx, base, sizeof(base), err) != MTR_OK
        || admin_filter_esc(dn, esc, sizeof(esc), err) != MTR_OK)
    {
        return ADMIN_INVALID;
    }
    snprintf(filter, sizeof(filter), "(&(objectClass=groupOfNames)(member=%s))",
             esc);
    if (mtr_ldap_search(ctx->ldap, base, MTR_LDAP_SCOPE_SUB, filter, attrs, 0,
                        &groups, err)
        != MTR_OK)
    {
        return admin_ldap_failed(ctx);
    }
    for (i = 0; i < groups->nentries; i++) {
        admin_entry_values(&groups->entries[i], "member", &n);
        if (n <= 1) {
            const char *g = mtr_ldap_entry_get(&groups->entries[i], "mail");

            mtr_err_set(err,
                        "%s is the only member of group %s: add another "
                        "member (`mortar group members %s add ADDRESS`) or "
                        "delete the group first",
                        mail, g != NULL ? g : groups->entries[i].dn,
                        g != NULL ? g : groups->entries[i].dn);
            mtr_ldap_result_free(&groups);
            return ADMIN_REFUSED;
        }
    }
    for (i = 0; i < groups->nentries; i++) {
        const char    *vals[2] = { NULL, NULL };
        mtr_ldap_mod_t mod;
        size_t         k;
        char *const   *mem =
            admin_entry_values(&groups->entries[i], "member", &n);

        for (k = 0; k < n; k++) {
            if (strcasecmp(mem[k], dn) == 0) {
                vals[0] = mem[k];
            }
        }
        if (vals[0] == NULL) {
            vals[0] = dn; /* matched by the server's DN rules: send ours */
        }
        mod.op = MTR_LDAP_MOD_DELETE;
        mod.attr = "member";
        mod.values = vals;
        if (mtr_ldap_modify(ctx->ldap, groups->entries[i].dn, &mod, 1, err)
            != MTR_OK) {
            st = admin_ldap_failed(ctx);
            mtr_ldap_result_free(&groups);
            return st;
        }
    }
    mtr_ldap_result_free(&groups);

    if (mtr_ldap_delete(ctx->ldap, dn, err) != MTR_OK) {
        return admin_ldap_failed(ctx);
    }
    admin_release(ctx);
    return ADMIN_OK;
}

/* Checks of a change to an existing user, then the diff. */
static admin_status_e
admin_user_modify(admin_ctx_t *ctx, const char *mail, const char *domain,
                  const mtr_ldap_entry_t *cur, const admin_changes_t *c,
                  int *changed_r, mtr_err_t *err)
{
    admin_mods_t       m;
    admin_status_e     st;
    mtr_ldap_result_t *dom = NULL;
    const char        *quota = admin_changes_value(c, "mortarQuotaBytes");
    int                rc;

    st = admin_check_forwards(c, mail, err);
    if (st != ADMIN_OK) {
        return st;
    }
    st = admin_check_aliases(ctx, c, cur->dn, mail, cur, err);
    if (st != ADMIN_OK) {
        return st;
    }
    if (quota != NULL) {
        st = admin_domain_read(ctx, domain, &dom, err);
        if (st != ADMIN_OK) {
            return st;
        }
        st = admin_check_quota(quota, &dom->entries[0], domain, err);
        mtr_ldap_result_free(&dom);
        if (st != ADMIN_OK) {
            return st;
        }
    }

    admin_mods_init(&m);
    rc = admin_diff(c, cur, &m, err);
    if (rc != MTR_OK) {
        admin_mods_free(&m);
        return rc == MTR_DECLINED ? ADMIN_NOT_FOUND : ADMIN_INVALID;
    }
    if (m.n > 0
        && mtr_ldap_modify(ctx->ldap, cur->dn, m.mods, m.n, err) != MTR_OK) {
        admin_mods_free(&m);
        return admin_ldap_failed(ctx);
    }
    if (changed_r != NULL) {
        *changed_r = m.n > 0;
    }
    admin_mods_free(&m);
    return ADMIN_OK;
}

admin_status_e
admin_user_set(admin_ctx_t *ctx, const char *mail_in, const admin_changes_t *c,
               int *changed_r, mtr_err_t *err)
{
    char               mail[ADMIN_ADDR_MAX + 1], dn[ADMIN_DN_MAX];
    char               local[ADMIN_LOCAL_MAX + 1];
    char               domain[ADMIN_DOMAIN_MAX + 1];
    mtr_ldap_result_t *res = NULL;
    admin_status_e     st;

    if (changed_r != NULL) {
        *changed_r = 0;
    }
    st = admin_split(mail_in, local, domain, err);
    if (st != ADMIN_OK) {
        return st;
    }
    st = admin_gate(ctx, err);
    if (st != ADMIN_OK) {
        return st;
    }
    st = admin_user_read(ctx, mail_in, mail, dn, &res, err);
    if (st != ADMIN_OK) {
        return st;
    }
    st = admin_user_modify(ctx, mail, domain, &res->entries[0], c, changed_r,
                           err);
    mtr_ldap_result_free(&res);
    return st;
}

admin_status_e
admin_user_passwd(admin_ctx_t *ctx, const char *mail_in, const char *password,
                  mtr_err_t *err)
{
    char               mail[ADMIN_ADDR_MAX + 1], dn[ADMIN_DN_MAX];
    char               local[ADMIN_LOCAL_MAX + 1];
    mtr_ldap_result_t *res = NULL;
    admin_status_e     st;

    st = admin_split(mail_in, local, NULL, err);
    if (st != ADMIN_OK) {
        return st;
    }
    if (password == NULL
        || admin_check_password(password, strlen(password), err) != MTR_OK)
    {
        if (password == NULL) {
            mtr_err_set(err, "no password given");
        }
        return ADMIN_INVALID;
    }
    st = admin_gate(ctx, err);
    if (st != ADMIN_OK) {
        return st;
    }
    st = admin_user_read(ctx, mail_in, mail, dn, &res, err);
    if (st != ADMIN_OK) {
        return st;
    }
    mtr_ldap_result_free(&res);

    if (mtr_ldap_passwd(ctx->ldap, dn, password, err) != MTR_OK) {
        return admin_ldap_failed(ctx);
    }
    return ADMIN_OK;
}

admin_status_e
admin_user_get(admin_ctx_t *ctx, const char *mail_in, mtr_ldap_result_t **res_r,
               mtr_err_t *err)
{
    char mail[ADMIN_ADDR_MAX + 1], dn[ADMIN_DN_MAX];

    return admin_user_read(ctx, mail_in, mail, dn, res_r, err);
}

/*
 * The entries of objectClass oc under ou=<ou> of one domain, or of every
 * domain when domain_in is NULL, sorted by mail: users and groups alike.
 */
static admin_status_e
admin_list_in(admin_ctx_t *ctx, const char *domain_in, const char *ou,
              const char *filter, mtr_ldap_result_t **res_r, mtr_err_t *err)
{
    char               domain[ADMIN_DOMAIN_MAX + 1], base[ADMIN_DN_MAX];
    mtr_ldap_result_t *dom = NULL;
    admin_status_e     st;
    int                rc, scope = MTR_LDAP_SCOPE_SUB;

    *res_r = NULL;
    if (domain_in != NULL) {
        st = admin_norm_domain(domain_in, domain, err);
        if (st != ADMIN_OK) {
            return st;
        }
        st = admin_domain_read(ctx, domain, &dom, err);
        mtr_ldap_result_free(&dom);
        if (st != ADMIN_OK) {
            return st;
        }
        if (admin_ou_dn(ctx->base, ou, domain, base, sizeof(base), err)
            != MTR_OK) {
            return ADMIN_INVALID;
        }
        scope = MTR_LDAP_SCOPE_ONE;
    } else if (admin_domains_base(ctx, base, sizeof(base), err) != MTR_OK) {
        return ADMIN_INVALID;
    }

    rc = mtr_ldap_search(ctx->ldap, base, scope, filter, NULL, 0, res_r, err);
    if (rc == MTR_DECLINED) {
        *res_r = calloc(1, sizeof(mtr_ldap_result_t));
        if (*res_r == NULL) {
            mtr_err_set(err, "out of memory");
            return ADMIN_FAILED;
        }
        return ADMIN_OK; /* a domain without the ou has none */
    }
    if (rc != MTR_OK) {
        return admin_ldap_failed(ctx);
    }
    qsort((*res_r)->entries, (*res_r)->nentries, sizeof(mtr_ldap_entry_t),
          admin_cmp_mail);
    return ADMIN_OK;
}

admin_status_e
admin_user_list(admin_ctx_t *ctx, const char *domain_in,
                mtr_ldap_result_t **res_r, mtr_err_t *err)
{
    return admin_list_in(ctx, domain_in, "users", "(objectClass=mortarUser)",
                         res_r, err);
}

/* Names of the fields of c whose values differ from cur, for a report. */
static void
admin_diff_names(const admin_changes_t *c, const mtr_ldap_entry_t *cur,
                 char *out, size_t size)
{
    size_t i, o = 0;

    out[0] = '\0';
    for (i = 0; i < c->n; i++) {
        admin_changes_t one;
        admin_mods_t    m;
        mtr_err_t       e;
        int             differs;

        one.obj = c->obj;
        one.zonedir = c->zonedir;
        one.n = 1;
        one.changes = &c->changes[i];
        admin_mods_init(&m);
        differs = admin_diff(&one, cur, &m, &e) != MTR_OK || m.n > 0;
        admin_mods_free(&m);
        if (differs) {
            int r = snprintf(out + o, size - o, "%s%s", o ? ", " : "",
                             c->changes[i].field->name);

            if (r < 0 || (size_t) r >= size - o) {
                return;
            }
            o += (size_t) r;
        }
    }
}

admin_status_e
admin_user_upsert(admin_ctx_t *ctx, const char *mail_in,
                  const admin_changes_t *c, const char *password,
                  const char *password_hash, int no_update,
                  admin_upsert_e *what_r, mtr_err_t *err)
{
    char                    local[ADMIN_LOCAL_MAX + 1];
    char                    domain[ADMIN_DOMAIN_MAX + 1];
    char                    mail[ADMIN_ADDR_MAX + 1], names[256];
    mtr_ldap_result_t      *res = NULL;
    const mtr_ldap_entry_t *cur = NULL;
    admin_mods_t            m;
    admin_status_e          st;
    size_t                  i;
    int                     rc, changed = 0;

    *what_r = ADMIN_UNCHANGED;
    st = admin_split(mail_in, local, domain, err);
    if (st != ADMIN_OK) {
        return st;
    }
    admin_mail(mail, local, domain);

    st = admin_owners(ctx, mail, NULL, &res, err);
    if (st != ADMIN_OK) {
        return st;
    }
    for (i = 0; i < res->nentries; i++) {
        const char *m2 = mtr_ldap_entry_get(&res->entries[i], "mail");

        if (m2 != NULL && strcasecmp(m2, mail) == 0
            && admin_is_class(&res->entries[i], "mortarUser"))
        {
            cur = &res->entries[i];
        } else {
            mtr_err_set(err, "%s is already %s %s", mail,
                        admin_is_class(&res->entries[i], "mortarGroup")
                            ? "the address of group"
                            : "an address of",
                        m2 != NULL ? m2 : res->entries[i].dn);
            mtr_ldap_result_free(&res);
            return ADMIN_EXISTS;
        }
    }

    if (cur == NULL) {
        mtr_ldap_result_free(&res);
        st = admin_user_add(ctx, mail, c, password, password_hash, err);
        if (st == ADMIN_OK) {
            *what_r = ADMIN_ADDED;
        }
        return st;
    }

    /* Existing: compare only what the row gives; write only if it differs. */
    admin_mods_init(&m);
    rc = admin_diff(c, cur, &m, err);
    i = m.n;
    admin_mods_free(&m);
    if (rc != MTR_OK) {
        mtr_ldap_result_free(&res);
        return rc == MTR_DECLINED ? ADMIN_NOT_FOUND : ADMIN_INVALID;
    }
    if (i == 0) {
        mtr_ldap_result_free(&res);
        return ADMIN_OK; /* unchanged */
    }
    if (no_update) {
        admin_diff_names(c, cur, names, sizeof(names));
        mtr_err_set(err, "%s exists with other values of: %s", mail, names);
        mtr_ldap_result_free(&res);
        return ADMIN_EXISTS;
    }

    st = admin_gate(ctx, err);
    if (st == ADMIN_OK) {
        st = admin_user_modify(ctx, mail, domain, cur, c, &changed, err);
    }
    mtr_ldap_result_free(&res);
    if (st == ADMIN_OK) {
        *what_r = changed ? ADMIN_UPDATED : ADMIN_UNCHANGED;
    }
    return st;
}

/* ---- groups
 * --------------------------------------------------------------------- */

/* The DN of the user whose mail or alias is addr. */
static admin_status_e
admin_member_dn(admin_ctx_t *ctx, const char *addr, char *dn, mtr_err_t *err)
{
    static const char *const attrs[] = { "objectClass", NULL };
    char                     norm[ADMIN_ADDR_MAX + 1];
    char                     local[ADMIN_LOCAL_MAX + 1];
    char                     domain[ADMIN_DOMAIN_MAX + 1];
    mtr_ldap_result_t       *res = NULL;
    admin_status_e           st;
    size_t                   i;

    st = admin_split(addr, local, domain, err);
    if (st != ADMIN_OK) {
        return st;
    }
    admin_mail(norm, local, domain);
    st = admin_owners(ctx, norm, attrs, &res, err);
    if (st != ADMIN_OK) {
        return st;
    }
    for (i = 0; i < res->nentries; i++) {
        if (admin_is_class(&res->entries[i], "mortarUser")) {
            snprintf(dn, ADMIN_DN_MAX, "%s", res->entries[i].dn);
            mtr_ldap_result_free(&res);
            return ADMIN_OK;
        }
    }
    mtr_ldap_result_free(&res);
    mtr_err_set(err, "member %s: no such user (groups hold users)", norm);
    return ADMIN_NOT_FOUND;
}

static admin_status_e
admin_group_read(admin_ctx_t *ctx, const char *addr, char *mail, char *domain,
                 mtr_ldap_result_t **res_r, mtr_err_t *err)
{
    char           local[ADMIN_LOCAL_MAX + 1], dn[ADMIN_DN_MAX];
    admin_status_e st;

    *res_r = NULL;
    st = admin_split(addr, local, domain, err);
    if (st != ADMIN_OK) {
        return st;
    }
    admin_mail(mail, local, domain);
    if (admin_group_dn(ctx->base, local, domain, dn, sizeof(dn), err) != MTR_OK)
    {
        return ADMIN_INVALID;
    }
    st = admin_read(ctx, dn, "(objectClass=groupOfNames)", NULL, "group", mail,
                    res_r, err);
    if (st == ADMIN_NOT_FOUND) {
        mtr_err_set(err, "no group %s (see `mortar group list %s`)", mail,
                    domain);
    }
    return st;
}

admin_status_e
admin_group_add(admin_ctx_t *ctx, const char *addr, const char *const *members,
                size_t nmembers, const admin_changes_t *c, mtr_err_t *err)
{
    char               local[ADMIN_LOCAL_MAX + 1];
    char               domain[ADMIN_DOMAIN_MAX + 1];
    char               mail[ADMIN_ADDR_MAX + 1], dn[ADMIN_DN_MAX];
    char             **dns = NULL;
    mtr_ldap_result_t *dom = NULL;
    admin_mods_t       m;
    admin_status_e     st;
    size_t             i, j, n = 0;

    admin_mods_init(&m);
    st = admin_split(addr, local, domain, err);
    if (st != ADMIN_OK) {
        return st;
    }
    admin_mail(mail, local, domain);
    if (nmembers == 0 || nmembers > ADMIN_VALUES_MAX) {
        mtr_err_set(err,
                    nmembers == 0
                        ? "a group needs at least one member: give --member "
                          "ADDRESS"
                        : "too many members at once");
        return ADMIN_INVALID;
    }
    for (i = 0; i < c->n; i++) {
        if (c->changes[i].op != ADMIN_SET) {
            mtr_err_set(err, "%s: a new group takes values, not additions",
                        c->changes[i].field->name);
            return ADMIN_INVALID;
        }
    }
    if (admin_group_dn(ctx->base, local, domain, dn, sizeof(dn), err) != MTR_OK)
    {
        return ADMIN_INVALID;
    }

    st = admin_gate(ctx, err);
    if (st != ADMIN_OK) {
        return st;
    }
    st = admin_domain_read(ctx, domain, &dom, err);
    mtr_ldap_result_free(&dom);
    if (st != ADMIN_OK) {
        return st;
    }
    st = admin_address_free(ctx, mail, NULL, err);
    if (st != ADMIN_OK) {
        return st;
    }
    st = admin_check_aliases(ctx, c, dn, mail, NULL, err);
    if (st != ADMIN_OK) {
        return st;
    }

    dns = calloc(nmembers + 1, sizeof(char *));
    if (dns == NULL) {
        mtr_err_set(err, "out of memory");
        return ADMIN_FAILED;
    }
    for (i = 0; i < nmembers; i++) {
        char mdn[ADMIN_DN_MAX];

        st = admin_member_dn(ctx, members[i], mdn, err);
        if (st != ADMIN_OK) {
            goto done;
        }
        for (j = 0; j < n; j++) {
            if (strcasecmp(dns[j], mdn) == 0) {
                break;
            }
        }
        if (j < n) {
            continue;
        }
        dns[n] = strdup(mdn);
        if (dns[n] == NULL) {
            mtr_err_set(err, "out of memory");
            st = ADMIN_FAILED;
            goto done;
        }
        n++;
    }

    if (admin_group_entry(c, local, domain, (const char *const *) dns, n, &m,
                          err)
        != MTR_OK)
    {
        st = ADMIN_INVALID;
        goto done;
    }
    if (mtr_ldap_add(ctx->ldap, dn, m.mods, m.n, err) != MTR_OK) {
        st = admin_ldap_failed(ctx);
        goto done;
    }
    st = ADMIN_OK;

done:
    for (i = 0; i < n; i++) {
        free(dns[i]);
    }
    free(dns);
    admin_mods_free(&m);
    return st;
}

admin_status_e
admin_group_del(admin_ctx_t *ctx, const char *addr, mtr_err_t *err)
{
    char               mail[ADMIN_ADDR_MAX + 1];
    char               domain[ADMIN_DOMAIN_MAX + 1];
    mtr_ldap_result_t *res = NULL;
    admin_status_e     st;
    char               local[ADMIN_LOCAL_MAX + 1];

    st = admin_split(addr, local, NULL, err);
    if (st != ADMIN_OK) {
        return st;
    }
    st = admin_gate(ctx, err);
    if (st != ADMIN_OK) {
        return st;
    }
    st = admin_group_read(ctx, addr, mail, domain, &res, err);
    if (st != ADMIN_OK) {
        return st;
    }
    if (mtr_ldap_delete(ctx->ldap, res->entries[0].dn, err) != MTR_OK) {
        st = admin_ldap_failed(ctx);
    }
    mtr_ldap_result_free(&res);
    return st;
}

admin_status_e
admin_group_set(admin_ctx_t *ctx, const char *addr, const admin_changes_t *c,
                int *changed_r, mtr_err_t *err)
{
    char               mail[ADMIN_ADDR_MAX + 1];
    char               domain[ADMIN_DOMAIN_MAX + 1];
    char               local[ADMIN_LOCAL_MAX + 1];
    mtr_ldap_result_t *res = NULL;
    admin_mods_t       m;
    admin_status_e     st;
    int                rc;

    if (changed_r != NULL) {
        *changed_r = 0;
    }
    st = admin_split(addr, local, NULL, err);
    if (st != ADMIN_OK) {
        return st;
    }
    st = admin_gate(ctx, err);
    if (st != ADMIN_OK) {
        return st;
    }
    st = admin_group_read(ctx, addr, mail, domain, &res, err);
    if (st != ADMIN_OK) {
        return st;
    }
    st = admin_check_aliases(ctx, c, res->entries[0].dn, mail, &res->entries[0],
                             err);
    if (st != ADMIN_OK) {
        mtr_ldap_result_free(&res);
        return st;
    }

    admin_mods_init(&m);
    rc = admin_diff(c, &res->entries[0], &m, err);
    if (rc != MTR_OK) {
        st = rc == MTR_DECLINED ? ADMIN_NOT_FOUND : ADMIN_INVALID;
    } else if (m.n > 0
               && mtr_ldap_modify(ctx->ldap, res->entries[0].dn, m.mods, m.n,
                                  err)
                      != MTR_OK)
    {
        st = admin_ldap_failed(ctx);
    } else if (changed_r != NULL) {
        *changed_r = m.n > 0;
    }
    admin_mods_free(&m);
    mtr_ldap_result_free(&res);
    return st;
}

admin_status_e
admin_group_get(admin_ctx_t *ctx, const char *addr, mtr_ldap_result_t **res_r,
                mtr_err_t *err)
{
    char mail[ADMIN_ADDR_MAX + 1], domain[ADMIN_DOMAIN_MAX + 1];

    return admin_group_read(ctx, addr, mail, domain, res_r, err);
}

admin_status_e
admin_group_list(admin_ctx_t *ctx, const char *domain_in,
                 mtr_ldap_result_t **res_r, mtr_err_t *err)
{
    return admin_list_in(ctx, domain_in, "groups", "(objectClass=mortarGroup)",
                         res_r, err);
}

admin_status_e
admin_group_members(admin_ctx_t *ctx, const char *addr, admin_op_e op,
                    const char *const *members, size_t nmembers, int *changed_r,
                    mtr_err_t *err)
{
    char               mail[ADMIN_ADDR_MAX + 1];
    char               domain[ADMIN_DOMAIN_MAX + 1];
    char               local[ADMIN_LOCAL_MAX + 1];
    char               mdn[ADMIN_DN_MAX];
    char             **vals = NULL;
    mtr_ldap_result_t *res = NULL;
    mtr_ldap_mod_t     mod;
    admin_status_e     st;
    char *const       *cur;
    size_t             i, k, ncur, nv = 0, ndel = 0;

    if (changed_r != NULL) {
        *changed_r = 0;
    }
    if ((op != ADMIN_ADD && op != ADMIN_DEL) || nmembers == 0
        || nmembers > ADMIN_VALUES_MAX)
    {
        mtr_err_set(err, "give between 1 and %d member addresses",
                    ADMIN_VALUES_MAX);
        return ADMIN_INVALID;
    }
    st = admin_split(addr, local, NULL, err);
    if (st != ADMIN_OK) {
        return st;
    }
    for (i = 0; i < nmembers; i++) {
        st = admin_split(members[i], local, domain, err);
        if (st != ADMIN_OK) {
            return st;
        }
    }

    st = admin_gate(ctx, err);
    if (st != ADMIN_OK) {
        return st;
    }
    st = admin_group_read(ctx, addr, mail, domain, &res, err);
    if (st != ADMIN_OK) {
        return st;
    }
    cur = admin_entry_values(&res->entries[0], "member", &ncur);

    vals = calloc(nmembers + 1, sizeof(char *));
    if (vals == NULL) {
        mtr_err_set(err, "out of memory");
        st = ADMIN_FAILED;
        goto done;
    }

    for (i = 0; i < nmembers; i++) {
        char mdom[ADMIN_DOMAIN_MAX + 1];

        if (op == ADMIN_ADD) {
            st = admin_member_dn(ctx, members[i], mdn, err);
            if (st != ADMIN_OK) {
                goto done;
            }
        } else {
            /* The user may be gone already: match the DN it had. */
            admin_split(members[i], local, mdom, err);
            if (admin_user_dn(ctx->base, local, mdom, mdn, sizeof(mdn), err)
                != MTR_OK) {
                st = ADMIN_INVALID;
                goto done;
            }
        }
        for (k = 0; k < ncur; k++) {
            if (strcasecmp(cur[k], mdn) == 0) {
                break;
            }
        }
        if (op == ADMIN_ADD && k < ncur) {
            continue; /* already a member */
        }
        if (op == ADMIN_DEL && k == ncur) {
            mtr_err_set(err, "%s is not a member of %s", members[i], mail);
            st = ADMIN_NOT_FOUND;
            goto done;
        }
        vals[nv] = strdup(op == ADMIN_DEL ? cur[k] : mdn);
        if (vals[nv] == NULL) {
            mtr_err_set(err, "out of memory");
            st = ADMIN_FAILED;
            goto done;
        }
        for (k = 0; k < nv; k++) {
            if (strcasecmp(vals[k], vals[nv]) == 0) {
                break;
            }
        }
        if (k < nv) {
            free(vals[nv]);
            vals[nv] = NULL;
            continue;
        }
        nv++;
        ndel++;
    }

    if (op == ADMIN_DEL && ndel >= ncur) {
        mtr_err_set(err,
                    "a group needs at least one member: add another before "
                    "removing these, or delete %s with `mortar group del`",
                    mail);
        st = ADMIN_REFUSED;
        goto done;
    }

    st = ADMIN_OK;
    if (nv > 0) {
        mod.op = op == ADMIN_ADD ? MTR_LDAP_MOD_ADD : MTR_LDAP_MOD_DELETE;
        mod.attr = "member";
        mod.values = (const char *const *) vals;
        if (mtr_ldap_modify(ctx->ldap, res->entries[0].dn, &mod, 1, err)
            != MTR_OK) {
            st = admin_ldap_failed(ctx);
        } else if (changed_r != NULL) {
            *changed_r = 1;
        }
    }

done:
    if (vals != NULL) {
        for (i = 0; i < nv; i++) {
            free(vals[i]);
        }
        free(vals);
    }
    mtr_ldap_result_free(&res);
    return st;
}

admin_status_e
admin_member_mail(admin_ctx_t *ctx, const char *dn, char *out, size_t size,
                  mtr_err_t *err)
{
    static const char *const attrs[] = { "mail", NULL };
    mtr_ldap_result_t       *res = NULL;
    admin_status_e           st;
    const char              *m;

    out[0] = '\0';
    st = admin_read(ctx, dn, NULL, attrs, "entry", dn, &res, err);
    if (st != ADMIN_OK) {
        return st;
    }
    m = mtr_ldap_entry_get(&res->entries[0], "mail");
    if (m == NULL || (size_t) snprintf(out, size, "%s", m) >= size) {
        out[0] = '\0';
        mtr_ldap_result_free(&res);
        mtr_err_set(err, "%s has no usable mail", dn);
        return ADMIN_NOT_FOUND;
    }
    mtr_ldap_result_free(&res);
    return ADMIN_OK;
}

/* ---- licenses
 * ------------------------------------------------------------------- */

admin_status_e
admin_license_install(admin_ctx_t *ctx, const char *text, size_t len,
                      mtr_err_t *err)
{
    switch (lic_gate_install(ctx->gate, text, len, ctx->now, err)) {
    case MTR_OK:
        return ADMIN_OK;
    case MTR_DECLINED:
        return ADMIN_REFUSED;
    default: {
        admin_status_e st = admin_ldap_status(mtr_ldap_last_result(ctx->ldap));

        /* A key the parser refuses is a refusal, whatever the code says. */
        return st == ADMIN_UNAVAILABLE ? st : ADMIN_REFUSED;
    }
    }
}

admin_status_e
admin_license_status(admin_ctx_t *ctx, char *buf, size_t size,
                     lic_audit_t *audit_r, mtr_err_t *err)
{
    mtr_err_t e;

    mtr_err_clear(&e);
    if (lic_gate_refresh(ctx->gate, &e) != MTR_OK) {
        *err = e;
        return admin_ldap_failed(ctx);
    }
    if (e.msg[0] != '\0') {
        admin_warn(ctx, "%s", e.msg);
    }
    if (lic_gate_status_text(ctx->gate, ctx->now, buf, size, err) != MTR_OK) {
        return admin_ldap_failed(ctx);
    }
    if (audit_r != NULL) {
        mtr_err_clear(&e);
        if (lic_gate_audit(ctx->gate, 0, audit_r, &e) != MTR_OK) {
            audit_r->seats_counter = -1;
            admin_warn(ctx, "seat audit unavailable: %s", e.msg);
        }
    }
    return ADMIN_OK;
}

admin_status_e
admin_license_audit(admin_ctx_t *ctx, int fix, lic_audit_t *audit_r,
                    mtr_err_t *err)
{
    memset(audit_r, 0, sizeof(*audit_r));
    if (lic_gate_audit(ctx->gate, fix, audit_r, err) != MTR_OK) {
        admin_status_e st = admin_ldap_status(mtr_ldap_last_result(ctx->ldap));

        /* The directory answered, so it was Redis. */
        return st == ADMIN_OK ? ADMIN_UNAVAILABLE : st;
    }
    return ADMIN_OK;
}
