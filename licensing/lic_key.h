/*
 * lic_key.h -- the Mortar license key: format, parser, signer.
 *
 * Core of the licensing module: OpenSSL EVP only, no I/O, no logging, no
 * clock (callers pass time in).  Covered by tests/unit/test_lic_key.c and
 * fuzzed by tests/fuzz/fuzz_lic_parse.c.
 *
 * ARMOR.  A key travels as text an admin can paste into a mail or a form:
 *
 *     -----BEGIN MORTAR LICENSE-----
 *     <base64 of the blob, wrapped at 64 columns>
 *     -----END MORTAR LICENSE-----
 *
 * Rules of the armor reader:
 *   - Text before the BEGIN line and after the first END line that follows
 *     it is ignored (mail greetings, signatures, a second key).
 *   - A line ends with LF; a CR and blanks (space, tab) at the end of any
 *     line are dropped, so CRLF text and trailing blanks are fine.
 *   - The BEGIN and END lines and every body line start at column 0.
 *     Leading blanks and mail quote prefixes ("> ") are NOT removed: a
 *     quoted key is refused with a hint to paste it unquoted, because
 *     guessing at quote depth would accept text nobody meant as a key.
 *   - Between BEGIN and END: only base64 lines of 1..LIC_ARMOR_LINE_MAX
 *     characters from A-Z a-z 0-9 + /, no blank line, '=' padding only at
 *     the very end, total length a multiple of 4, and the unused bits of
 *     the last group zero (one canonical text per blob).
 *   - The whole text is at most LIC_ARMOR_MAX bytes and decodes to at most
 *     LIC_BLOB_MAX bytes.
 *
 * BLOB (all integers big-endian):
 *
 *     "MTRL" | version (1 byte, = 1) | payload length (2 bytes) | payload
 *            | Ed25519 signature (64 bytes) over every byte before it
 *
 * PAYLOAD.  UTF-8 lines "name=value\n" (LF only; no CR, no NUL, last line
 * terminated), the eleven fields below exactly once each and in this
 * order, then at most LIC_EXTRA_MAX optional x-* fields:
 *
 *     id          [A-Za-z0-9._-]{1,64}
 *     customer    1..200 bytes of valid UTF-8, no control characters (C0,
 *                 DEL, C1), no bidi or line-separator format characters,
 *                 no leading or trailing space
 *     deployment  UUID, lowercase 8-4-4-4-12 hex
 *     seats       1..1000000, decimal, no leading zero
 *     not_before  RFC 3339 UTC, exactly YYYY-MM-DDTHH:MM:SSZ, years
 *     not_after     1970..9999; not_before < not_after.  The key is in
 *                   force for not_before <= t < not_after
 *     grace_days  0..365, decimal, no leading zero
 *     plan        Startup | Cruise | Endurance | Endeavor | Enterprise |
 *                 Mission Critical
 *     support     Assurance | Privilege | Priority
 *     modules     comma list (no blanks) of webmail, dav, admin, milter,
 *                 policy, quota, archive, sms; no duplicates; may be empty
 *     issued      RFC 3339 UTC, as not_before
 *
 * UNKNOWN FIELDS.  A name starting with "x-" (then [a-z0-9_-]{1,62}; value
 * 0..256 bytes of UTF-8 under the customer rules for characters, blanks
 * at the ends allowed) is informational: it is kept in lic_t.extra for
 * display and ignored by every enforcement rule.  Any other name this
 * build does not know is rejected, naming it: an older build must never
 * silently ignore a restriction it does not understand.  A format version
 * other than 1 is rejected ("made for a newer Mortar").
 *
 * TRUST.  lic_parse() checks the framing (magic, version, lengths), then
 * verifies the signature, and only then reads a single field; the payload
 * parser is as strict on signed bytes as on any other input.
 */
#ifndef LIC_KEY_H
#define LIC_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "mtr_core.h"

#define LIC_ARMOR_BEGIN "-----BEGIN MORTAR LICENSE-----"
#define LIC_ARMOR_END   "-----END MORTAR LICENSE-----"

#define LIC_ARMOR_MAX      16384 /* bytes of armored input, mail text too */
#define LIC_ARMOR_LINE_MAX 76    /* base64 chars in one body line (MIME) */
#define LIC_ARMOR_WRAP     64    /* base64 chars per line we write */
#define LIC_BLOB_MAX       8192  /* decoded bytes */

#define LIC_MAGIC       "MTRL"
#define LIC_MAGIC_LEN   4
#define LIC_VERSION     1
#define LIC_HEADER_LEN  7 /* magic, version, 2-byte payload length */
#define LIC_SIG_LEN     64
#define LIC_PAYLOAD_MAX (LIC_BLOB_MAX - LIC_HEADER_LEN - LIC_SIG_LEN)

#define LIC_PUBKEY_LEN  32 /* raw Ed25519 public key */
#define LIC_PRIVKEY_LEN 32 /* raw Ed25519 private key (seed): a secret */

#define LIC_ID_MAX          64
#define LIC_CUSTOMER_MAX    200
#define LIC_DEPLOYMENT_LEN  36 /* 8-4-4-4-12 */
#define LIC_SEATS_MAX       1000000
#define LIC_GRACE_DAYS_MAX  365
#define LIC_EXTRA_MAX       16  /* x-* fields in one key */
#define LIC_EXTRA_NAME_MAX  64  /* bytes of an x-* name, "x-" included */
#define LIC_EXTRA_VALUE_MAX 256 /* bytes of an x-* value */
#define LIC_FIELDS          11  /* known fields, all mandatory */

#define LIC_TIME_LEN   20 /* "YYYY-MM-DDTHH:MM:SSZ" */
#define LIC_TIME_MAX   (LIC_TIME_LEN + 1)
#define LIC_TIME_LIMIT INT64_C(253402300800) /* 10000-01-01T00:00:00Z */

/* "webmail,dav,admin,milter,policy,quota,archive,sms" and a NUL. */
#define LIC_MODULES_TEXT_MAX 64

typedef enum {
    LIC_PLAN_STARTUP = 0,
    LIC_PLAN_CRUISE,
    LIC_PLAN_ENDURANCE,
    LIC_PLAN_ENDEAVOR,
    LIC_PLAN_ENTERPRISE,
    LIC_PLAN_MISSION_CRITICAL,
    LIC_PLAN_COUNT
} lic_plan_e;

typedef enum {
    LIC_SUPPORT_ASSURANCE = 0,
    LIC_SUPPORT_PRIVILEGE,
    LIC_SUPPORT_PRIORITY,
    LIC_SUPPORT_COUNT
} lic_support_e;

/* Bit numbers in lic_t.modules: bit (1u << LIC_MOD_X). */
typedef enum {
    LIC_MOD_WEBMAIL = 0,
    LIC_MOD_DAV,
    LIC_MOD_ADMIN,
    LIC_MOD_MILTER,
    LIC_MOD_POLICY,
    LIC_MOD_QUOTA,
    LIC_MOD_ARCHIVE,
    LIC_MOD_SMS,
    LIC_MOD_COUNT
} lic_module_e;

#define LIC_MODULES_ALL ((UINT32_C(1) << LIC_MOD_COUNT) - 1)

typedef struct {
    char name[LIC_EXTRA_NAME_MAX + 1];
    char value[LIC_EXTRA_VALUE_MAX + 1];
} lic_extra_t;

/* A decoded license; every string is NUL-terminated. */
typedef struct {
    char          id[LIC_ID_MAX + 1];
    char          customer[LIC_CUSTOMER_MAX + 1];
    char          deployment[LIC_DEPLOYMENT_LEN + 1];
    uint32_t      seats;
    int64_t       not_before; /* seconds since the epoch, UTC */
    int64_t       not_after;  /* first second the key is no longer valid */
    int64_t       issued;
    uint32_t      grace_days;
    lic_plan_e    plan;
    lic_support_e support;
    uint32_t      modules; /* bit set of lic_module_e */
    size_t        nextra;
    lic_extra_t   extra[LIC_EXTRA_MAX]; /* x-* fields, in key order */
} lic_t;

/*
 * Decode, verify and parse an armored key: len bytes of text (not
 * necessarily NUL-terminated, at most LIC_ARMOR_MAX) against the raw
 * Ed25519 public key pubkey.  Returns MTR_OK and fills *lic_r, or
 * MTR_ERROR with *lic_r zeroed and err saying which of these it was:
 *   "not a Mortar license: ..."        no BEGIN line (or a quoted one)
 *   "license text too large: ..."      more than LIC_ARMOR_MAX bytes
 *   "bad base64: ..."                  alphabet, padding, blank line
 *   "truncated license: ..."           no END line (or a damaged one),
 *                                      empty body, short blob
 *   "bad magic: ..."                   blob is not "MTRL"
 *   "license format version N: made for a newer Mortar ..." (N > 1;
 *                                      N = 0 is refused as never written)
 *   "malformed license: ..."           trailing bytes after the signature
 *   "signature does not verify: ..."   tampered, or another vendor key
 *   "unknown field 'NAME': ..."        a non-x-* name this build lacks
 *   "malformed field 'NAME': ..."      a value breaking its rule
 *   "duplicate field", "missing field", "field ... out of order",
 *   "malformed payload: ..."           NUL, CR, unterminated line, ...
 */
int lic_parse(const char *text, size_t len,
              const uint8_t pubkey[LIC_PUBKEY_LEN], lic_t *lic_r,
              mtr_err_t *err);

/*
 * Parse a payload (the signed text between header and signature) without
 * any signature: for tests, the fuzzer and lic_issue's self-check.  Never
 * base a trust decision on it.  Same errors and *lic_r contract as
 * lic_parse.
 */
int lic_parse_payload(const char *payload, size_t len, lic_t *lic_r,
                      mtr_err_t *err);

/*
 * Check every field of lic against the payload rules above (strings must
 * be NUL-terminated inside their arrays, enums in range, only known module
 * bits).  MTR_OK, or MTR_ERROR naming the field.
 */
int lic_validate(const lic_t *lic, mtr_err_t *err);

/*
 * Validate lic, sign it with the raw Ed25519 private key privkey and write
 * the armored key (NUL-terminated, LF line ends) to out.  out_size of
 * LIC_ARMOR_MAX always suffices; a smaller buffer that does not fit is
 * MTR_ERROR, never a cut key.  *out_len_r (may be NULL) gets the length
 * without the NUL.  The output is parsed back and compared to lic before
 * it is returned.  privkey stays the caller's to wipe.
 */
int lic_issue(const lic_t *lic, const uint8_t privkey[LIC_PRIVKEY_LEN],
              char *out, size_t out_size, size_t *out_len_r, mtr_err_t *err);

/* Make a fresh Ed25519 key pair (raw 32-byte forms); wipe priv_r after use. */
int lic_keygen(uint8_t priv_r[LIC_PRIVKEY_LEN], uint8_t pub_r[LIC_PUBKEY_LEN],
               mtr_err_t *err);

/* The raw public key belonging to a raw private key. */
int lic_public_from_private(const uint8_t priv[LIC_PRIVKEY_LEN],
                            uint8_t pub_r[LIC_PUBKEY_LEN], mtr_err_t *err);

/*
 * Parse exactly len bytes of "YYYY-MM-DDTHH:MM:SSZ" (RFC 3339, UTC, no
 * fraction, no offset, real calendar dates, years 1970..9999, no leap
 * second) into seconds since the epoch.  MTR_OK or MTR_ERROR (err may be
 * NULL; *t_r untouched on error).
 */
int lic_parse_time(const char *s, size_t len, int64_t *t_r, mtr_err_t *err);

/* Write t as "YYYY-MM-DDTHH:MM:SSZ" into buf (LIC_TIME_MAX bytes suffice);
 * MTR_ERROR when t is outside [0, LIC_TIME_LIMIT) or buf is too small. */
int lic_format_time(int64_t t, char *buf, size_t size);

/*
 * Parse a modules list ("webmail,dav", "" for none) into a bit set.
 * MTR_ERROR naming the unknown or duplicate module, or an empty item.
 */
int lic_parse_modules(const char *s, size_t len, uint32_t *modules_r,
                      mtr_err_t *err);

/* Write a bit set as a comma list in table order; MTR_ERROR on an unknown
 * bit or a buffer too small (LIC_MODULES_TEXT_MAX suffices). */
int lic_format_modules(uint32_t modules, char *buf, size_t size);

/* Names of enum values as they appear in a key; NULL when out of range. */
const char *lic_plan_name(lic_plan_e plan);
const char *lic_support_name(lic_support_e support);
const char *lic_module_name(lic_module_e module);

/* Exact-name lookups (len bytes, case-sensitive); MTR_OK or MTR_ERROR. */
int lic_plan_from_name(const char *s, size_t len, lic_plan_e *plan_r);
int lic_support_from_name(const char *s, size_t len, lic_support_e *support_r);

/* Non-zero when s[0..len) is a deployment id: a lowercase 8-4-4-4-12 UUID. */
int lic_deployment_ok(const char *s, size_t len);

/* Non-zero when lic enables module. */
int lic_has_module(const lic_t *lic, lic_module_e module);

/* Non-zero when every field of a and b is the same (strings compared as
 * strings, so bytes after a NUL do not count). */
int lic_equal(const lic_t *a, const lic_t *b);

#endif /* LIC_KEY_H */
