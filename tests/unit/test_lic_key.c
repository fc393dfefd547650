/*
 * test_lic_key.c -- unit tests of licensing/lic_key.c (the key format).
 *
 * Table-driven: every case has a name, printed before its assertions.  Key
 * pairs are made at run time (no private key is committed).  The test arms
 * and signs blobs with its own code (EVP_EncodeBlock, EVP_DigestSign), not
 * the core's, so a drift on either side fails.  Covers: a round trip of
 * every field (small and maximal keys), flipped payload and signature bits,
 * truncation at several points, magic, version and length errors, garbage,
 * empty input, armor without body, bad base64 characters and padding,
 * oversized input, another vendor's key pair, mail text around the armor,
 * CRLF, mail quoting, every payload rule (unknown, x-*, duplicate, missing
 * and out-of-order fields, dates, numbers, enums, modules, UTF-8), what
 * lic_issue refuses, time parsing and the name tables.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

/* The Makefile adds no -I for module dirs: reach the core header directly. */
#include "../../licensing/lic_key.h"

#define DEPLOYMENT "0f8e4c2a-1b2c-4d5e-8f90-123456789abc"

/* 2026-01-01, 2026-10-01 and 2025-12-15T10:30:00Z, computed outside C. */
#define T_2026_01_01 INT64_C(1767225600)
#define T_2026_10_01 INT64_C(1790812800)
#define T_ISSUED     INT64_C(1765794600)

#define BIG (LIC_ARMOR_MAX * 2) /* room for oversized test inputs */

static uint8_t priv_a[LIC_PRIVKEY_LEN], pub_a[LIC_PUBKEY_LEN];
static uint8_t priv_b[LIC_PRIVKEY_LEN], pub_b[LIC_PUBKEY_LEN];
static lic_t   base;
static char    good[LIC_ARMOR_MAX];
static size_t  good_len;

/* ---- helpers written independently of the core ---- */

static void
expect_msg(const char *name, const char *msg, const char *want)
{
    if (want != NULL && strstr(msg, want) == NULL) {
        print_message("  %s: error was \"%s\", expected \"%s\"\n", name, msg,
                      want);
        fail();
    }
}

static void
make_base(lic_t *l)
{
    memset(l, 0, sizeof(*l));
    strcpy(l->id, "L-2026-001");
    strcpy(l->customer, "ACME Caf\xc3\xa9 & Sons");
    strcpy(l->deployment, DEPLOYMENT);
    l->seats = 50;
    l->not_before = T_2026_01_01;
    l->not_after = T_2026_10_01;
    l->issued = T_ISSUED;
    l->grace_days = 30;
    l->plan = LIC_PLAN_MISSION_CRITICAL;
    l->support = LIC_SUPPORT_PRIORITY;
    l->modules =
        (1u << LIC_MOD_WEBMAIL) | (1u << LIC_MOD_DAV) | (1u << LIC_MOD_SMS);
    l->nextra = 2;
    strcpy(l->extra[0].name, "x-note");
    strcpy(l->extra[0].value, "renewal of L-2025-007");
    strcpy(l->extra[1].name, "x-reseller");
    strcpy(l->extra[1].value, "");
}

/* Armor blob like the spec says, with OpenSSL's encoder. */
static size_t
armor(const uint8_t *blob, size_t len, char *out, size_t size)
{
    static unsigned char b64[LIC_BLOB_MAX * 2];
    size_t               n, i, o = 0;

    n = len == 0 ? 0 : (size_t) EVP_EncodeBlock(b64, blob, (int) len);
    o += (size_t) snprintf(out, size, "%s\n", LIC_ARMOR_BEGIN);
    for (i = 0; i < n; i += 64) {
        size_t k = n - i < 64 ? n - i : 64;

        assert_true(o + k + 2 < size);
        memcpy(out + o, b64 + i, k);
        o += k;
        out[o++] = '\n';
    }
    o += (size_t) snprintf(out + o, size - o, "%s\n", LIC_ARMOR_END);
    assert_true(o < size);
    return o;
}

/* Decode a well-formed armored key (lax decoder: input is known good). */
static size_t
unarmor(const char *text, uint8_t *blob)
{
    static char b64[LIC_ARMOR_MAX];
    const char *p = strstr(text, LIC_ARMOR_BEGIN), *end;
    size_t      n = 0, pad = 0;
    int         r;

    assert_non_null(p);
    p += strlen(LIC_ARMOR_BEGIN);
    end = strstr(p, LIC_ARMOR_END);
    assert_non_null(end);
    for (; p < end; p++) {
        if (*p != '\n' && *p != '\r') {
            b64[n++] = *p;
        }
    }
    while (pad < n && b64[n - 1 - pad] == '=') {
        pad++;
    }
    r = EVP_DecodeBlock(blob, (unsigned char *) b64, (int) n);
    assert_true(r >= 0);
    return (size_t) r - pad;
}

/* Build "MTRL" | version | length | payload | signature, signed by priv. */
static size_t
make_blob(const uint8_t *priv, const char *payload, size_t plen, uint8_t *blob)
{
    EVP_PKEY   *pkey;
    EVP_MD_CTX *ctx;
    size_t      siglen = LIC_SIG_LEN;

    memcpy(blob, "MTRL", 4);
    blob[4] = 1;
    blob[5] = (uint8_t) (plen >> 8);
    blob[6] = (uint8_t) plen;
    memcpy(blob + 7, payload, plen);

    pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv,
                                        LIC_PRIVKEY_LEN);
    assert_non_null(pkey);
    ctx = EVP_MD_CTX_new();
    assert_non_null(ctx);
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey), 1);
    assert_int_equal(
        EVP_DigestSign(ctx, blob + 7 + plen, &siglen, blob, 7 + plen), 1);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return 7 + plen + LIC_SIG_LEN;
}

static int
setup(void **state)
{
    mtr_err_t err;

    (void) state;
    if (lic_keygen(priv_a, pub_a, &err) != MTR_OK
        || lic_keygen(priv_b, pub_b, &err) != MTR_OK)
    {
        return -1;
    }
    make_base(&base);
    if (lic_issue(&base, priv_a, good, sizeof(good), &good_len, &err) != MTR_OK)
    {
        print_message("setup: lic_issue: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int
teardown(void **state)
{
    (void) state;
    OPENSSL_cleanse(priv_a, sizeof(priv_a));
    OPENSSL_cleanse(priv_b, sizeof(priv_b));
    return 0;
}

static void
assert_zeroed(const lic_t *l)
{
    lic_t zero;

    memset(&zero, 0, sizeof(zero));
    assert_memory_equal(l, &zero, sizeof(zero));
}

/* ---- round trips ---- */

static void
test_round_trip(void **state)
{
    static char out[LIC_ARMOR_MAX];
    lic_t       lic, big;
    mtr_err_t   err;
    size_t      len, i;

    (void) state;

    print_message("round trip: every field of the base key\n");
    assert_int_equal(lic_parse(good, good_len, pub_a, &lic, &err), MTR_OK);
    assert_true(lic_equal(&lic, &base));
    assert_string_equal(lic.id, "L-2026-001");
    assert_string_equal(lic.customer, "ACME Caf\xc3\xa9 & Sons");
    assert_string_equal(lic.deployment, DEPLOYMENT);
    assert_int_equal(lic.seats, 50);
    assert_true(lic.not_before == T_2026_01_01);
    assert_true(lic.not_after == T_2026_10_01);
    assert_true(lic.issued == T_ISSUED);
    assert_int_equal(lic.grace_days, 30);
    assert_int_equal(lic.plan, LIC_PLAN_MISSION_CRITICAL);
    assert_int_equal(lic.support, LIC_SUPPORT_PRIORITY);
    assert_true(lic_has_module(&lic, LIC_MOD_WEBMAIL));
    assert_true(lic_has_module(&lic, LIC_MOD_DAV));
    assert_true(lic_has_module(&lic, LIC_MOD_SMS));
    assert_false(lic_has_module(&lic, LIC_MOD_ADMIN));
    assert_int_equal(lic.nextra, 2);
    assert_string_equal(lic.extra[0].name, "x-note");
    assert_string_equal(lic.extra[0].value, "renewal of L-2025-007");
    assert_string_equal(lic.extra[1].name, "x-reseller");
    assert_string_equal(lic.extra[1].value, "");

    print_message("round trip: issued text is armored at 64 columns\n");
    assert_true(strncmp(good, LIC_ARMOR_BEGIN "\n", 31) == 0);
    assert_non_null(strstr(good, "\n" LIC_ARMOR_END "\n"));
    assert_int_equal(strlen(good), good_len);
    for (i = 31; i < good_len && good[i] != '-';) {
        size_t ll = (size_t) (strchr(good + i, '\n') - (good + i));

        assert_true(ll <= 64);
        i += ll + 1;
    }

    print_message("round trip: no modules, no extras, grace 0, 1 seat\n");
    big = base;
    big.modules = 0;
    big.nextra = 0;
    big.grace_days = 0;
    big.seats = 1;
    big.plan = LIC_PLAN_STARTUP;
    big.support = LIC_SUPPORT_ASSURANCE;
    assert_int_equal(lic_issue(&big, priv_a, out, sizeof(out), &len, &err),
                     MTR_OK);
    assert_int_equal(lic_parse(out, len, pub_a, &lic, &err), MTR_OK);
    assert_true(lic_equal(&lic, &big));

    print_message("round trip: maximal key fits LIC_ARMOR_MAX\n");
    memset(big.id, 'Z', LIC_ID_MAX);
    big.id[LIC_ID_MAX] = '\0';
    memset(big.customer, 'c', LIC_CUSTOMER_MAX);
    big.customer[LIC_CUSTOMER_MAX] = '\0';
    big.seats = LIC_SEATS_MAX;
    big.grace_days = LIC_GRACE_DAYS_MAX;
    big.modules = LIC_MODULES_ALL;
    big.not_before = 0;
    big.not_after = LIC_TIME_LIMIT - 1;
    big.nextra = LIC_EXTRA_MAX;
    for (i = 0; i < LIC_EXTRA_MAX; i++) {
        memset(big.extra[i].name, 'n', LIC_EXTRA_NAME_MAX);
        memcpy(big.extra[i].name, "x-", 2);
        big.extra[i].name[LIC_EXTRA_NAME_MAX - 1] = (char) ('a' + i);
        big.extra[i].name[LIC_EXTRA_NAME_MAX] = '\0';
        memset(big.extra[i].value, 'v', LIC_EXTRA_VALUE_MAX);
        big.extra[i].value[LIC_EXTRA_VALUE_MAX] = '\0';
    }
    assert_int_equal(lic_issue(&big, priv_a, out, sizeof(out), &len, &err),
                     MTR_OK);
    assert_int_equal(lic_parse(out, len, pub_a, &lic, &err), MTR_OK);
    assert_true(lic_equal(&lic, &big));
    assert_string_equal(lic.extra[15].value, big.extra[15].value);
}

/* ---- the blob: bits, framing, truncation ---- */

typedef enum {
    M_FLIP,     /* xor byte at off (negative: from the end) with arg */
    M_SET,      /* set byte at off to arg */
    M_TRUNC,    /* keep off bytes (negative: drop -off from the end) */
    M_APPEND,   /* append arg bytes */
    M_LEN_DELTA /* add arg to the header's payload length */
} mutate_e;

typedef struct {
    const char *name;
    mutate_e    kind;
    long        off;
    int         arg;
    const char *want;
} blob_case_t;

static const blob_case_t blob_cases[] = {
    { "payload first byte bit 0", M_FLIP, 7, 0x01,
      "signature does not verify" },
    { "payload middle bit 7", M_FLIP, 60, 0x80, "signature does not verify" },
    { "payload last byte (LF) bit 3", M_FLIP, -65, 0x08,
      "signature does not verify" },
    { "signature first bit", M_FLIP, -64, 0x01, "signature does not verify" },
    { "signature last bit", M_FLIP, -1, 0x80, "signature does not verify" },
    { "magic", M_SET, 0, 'X', "bad magic" },
    { "version 2", M_SET, 4, 2, "made for a newer Mortar" },
    { "version 255", M_SET, 4, 255, "made for a newer Mortar" },
    { "version 0", M_SET, 4, 0, "version 0" },
    { "length one more than present", M_LEN_DELTA, 0, 1, "truncated license" },
    { "length one less than present", M_LEN_DELTA, 0, -1,
      "1 bytes after the signature" },
    { "one byte appended", M_APPEND, 0, 1, "1 bytes after the signature" },
    { "truncated to 1 byte", M_TRUNC, 1, 0, "truncated license" },
    { "truncated to magic", M_TRUNC, 4, 0, "truncated license" },
    { "truncated to header", M_TRUNC, 7, 0, "truncated license" },
    { "truncated in the payload", M_TRUNC, 40, 0, "truncated license" },
    { "truncated in the signature", M_TRUNC, -20, 0, "truncated license" },
    { "last byte dropped", M_TRUNC, -1, 0, "truncated license" },
};

static void
test_blob_mutations(void **state)
{
    static uint8_t blob[LIC_BLOB_MAX + 16];
    static char    text[BIG];
    lic_t          lic;
    mtr_err_t      err;
    size_t         blen, n, i, off, plen;

    (void) state;

    for (i = 0; i < sizeof(blob_cases) / sizeof(blob_cases[0]); i++) {
        const blob_case_t *c = &blob_cases[i];

        print_message("blob: %s\n", c->name);
        blen = unarmor(good, blob);
        off = c->off < 0 ? blen - (size_t) -c->off : (size_t) c->off;
        switch (c->kind) {
        case M_FLIP:
            blob[off] ^= (uint8_t) c->arg;
            break;
        case M_SET:
            blob[off] = (uint8_t) c->arg;
            break;
        case M_TRUNC:
            blen = off;
            break;
        case M_APPEND:
            memset(blob + blen, 'A', (size_t) c->arg);
            blen += (size_t) c->arg;
            break;
        case M_LEN_DELTA:
            plen = ((size_t) blob[5] << 8 | blob[6]) + (size_t) c->arg;
            blob[5] = (uint8_t) (plen >> 8);
            blob[6] = (uint8_t) plen;
            break;
        }
        n = armor(blob, blen, text, sizeof(text));
        memset(&lic, 0x5a, sizeof(lic));
        assert_int_equal(lic_parse(text, n, pub_a, &lic, &err), MTR_ERROR);
        expect_msg(c->name, err.msg, c->want);
        assert_zeroed(&lic);
    }

    print_message("blob: re-armored unchanged blob still verifies\n");
    blen = unarmor(good, blob);
    n = armor(blob, blen, text, sizeof(text));
    assert_int_equal(lic_parse(text, n, pub_a, &lic, &err), MTR_OK);
}

static void
test_other_vendor_key(void **state)
{
    static char out[LIC_ARMOR_MAX];
    lic_t       lic;
    mtr_err_t   err;
    size_t      len;

    (void) state;

    print_message("other key: signed by pair B, verified with A\n");
    assert_int_equal(lic_issue(&base, priv_b, out, sizeof(out), &len, &err),
                     MTR_OK);
    assert_int_equal(lic_parse(out, len, pub_a, &lic, &err), MTR_ERROR);
    expect_msg("other key", err.msg, "signature does not verify");
    assert_zeroed(&lic);

    print_message("other key: the same text verifies with B\n");
    assert_int_equal(lic_parse(out, len, pub_b, &lic, &err), MTR_OK);
    assert_true(lic_equal(&lic, &base));

    print_message("other key: A's key refused with B's public key\n");
    assert_int_equal(lic_parse(good, good_len, pub_b, &lic, &err), MTR_ERROR);
    expect_msg("other key", err.msg, "signature does not verify");
}

/* ---- the armored text ---- */

typedef enum {
    T_LITERAL,      /* text is the whole input */
    T_BODY,         /* text is the body between BEGIN and END lines */
    T_CUT,          /* good cut to arg bytes (negative: from the end) */
    T_CRLF,         /* good with CRLF line ends */
    T_MAIL,         /* mail text before and after */
    T_BLANKS,       /* trailing blanks on every line */
    T_QUOTED,       /* every line prefixed with arg text */
    T_DROP_LINE,    /* drop body line arg (1 = first) */
    T_JOIN_LINES,   /* join body lines 1 and 2 */
    T_BLANK_LINE,   /* a blank line after body line 1 */
    T_REPLACE_CHAR, /* body char at offset arg replaced by text[0] */
    T_PAD_STRIP,    /* all '=' removed */
    T_OVERSIZE,     /* good plus mail text past LIC_ARMOR_MAX */
    T_HUGE_BODY,    /* a body that decodes past LIC_BLOB_MAX */
    T_TWO_KEYS,     /* good then a key by B: the first one counts */
    T_NO_FINAL_LF,  /* good without its last LF */
    T_END_LINE_CUT  /* the END line loses its last 6 characters */
} text_e;

typedef struct {
    const char *name;
    text_e      kind;
    const char *text;
    long        arg;
    int         rc;
    const char *want;
} text_case_t;

static const text_case_t text_cases[] = {
    { "empty", T_LITERAL, "", 0, MTR_ERROR, "not a Mortar license" },
    { "garbage", T_LITERAL, "hello, world\nthis is no key\n", 0, MTR_ERROR,
      "not a Mortar license" },
    { "binary garbage", T_LITERAL, "\x01\xff\x00\x7f-----\n\x80", 7, MTR_ERROR,
      "not a Mortar license" },
    { "PGP block", T_LITERAL,
      "-----BEGIN PGP MESSAGE-----\nabcd\n-----END PGP MESSAGE-----\n", 0,
      MTR_ERROR, "not a Mortar license" },
    { "armor without body", T_BODY, "", 0, MTR_ERROR, "truncated license" },
    { "BEGIN line only", T_LITERAL, LIC_ARMOR_BEGIN "\n", 0, MTR_ERROR,
      "truncated license" },
    { "cut after 10 bytes", T_CUT, NULL, 10, MTR_ERROR,
      "not a Mortar license" },
    { "cut after the BEGIN line", T_CUT, NULL, 31, MTR_ERROR,
      "truncated license" },
    { "cut in the middle", T_CUT, NULL, 200, MTR_ERROR, "truncated license" },
    { "cut before the END line", T_CUT, NULL, -29, MTR_ERROR,
      "truncated license" },
    { "END line cut", T_END_LINE_CUT, NULL, 0, MTR_ERROR, "truncated license" },
    { "body line dropped", T_DROP_LINE, NULL, 2, MTR_ERROR,
      "truncated license" },
    { "first body line dropped", T_DROP_LINE, NULL, 1, MTR_ERROR, "bad magic" },
    { "bad base64 char '*'", T_REPLACE_CHAR, "*", 10, MTR_ERROR, "bad base64" },
    { "bad base64 char '-'", T_REPLACE_CHAR, "-", 70, MTR_ERROR, "bad base64" },
    { "space inside a line", T_REPLACE_CHAR, " ", 5, MTR_ERROR, "bad base64" },
    { "NUL inside a line", T_REPLACE_CHAR, "\0", 5, MTR_ERROR, "bad base64" },
    { "high byte inside a line", T_REPLACE_CHAR, "\xc3", 5, MTR_ERROR,
      "bad base64" },
    { "'=' inside a line", T_REPLACE_CHAR, "=", 12, MTR_ERROR, "bad base64" },
    { "blank line in the body", T_BLANK_LINE, NULL, 0, MTR_ERROR,
      "bad base64" },
    { "body line of 128 chars", T_JOIN_LINES, NULL, 0, MTR_ERROR,
      "bad base64" },
    { "length not a multiple of 4", T_BODY, "TVRSTA=", 0, MTR_ERROR,
      "bad base64" },
    { "padding before the end", T_BODY, "TVRS=A==", 0, MTR_ERROR,
      "bad base64" },
    { "three padding chars", T_BODY, "TVRST===", 0, MTR_ERROR, "bad base64" },
    { "padding only", T_BODY, "====", 0, MTR_ERROR, "bad base64" },
    { "non-zero bits under padding", T_BODY, "TVRSTB==", 0, MTR_ERROR,
      "bad base64" },
    { "canonical short blob", T_BODY, "TVRSTA==", 0, MTR_ERROR,
      "truncated license" },
    { "padding stripped", T_PAD_STRIP, NULL, 0, MTR_ERROR, "bad base64" },
    { "oversized input", T_OVERSIZE, NULL, 0, MTR_ERROR, "too large" },
    { "body decodes past LIC_BLOB_MAX", T_HUGE_BODY, NULL, 0, MTR_ERROR,
      "too large" },
    { "mail-quoted with '> '", T_QUOTED, "> ", 0, MTR_ERROR, "quoted" },
    { "indented by two spaces", T_QUOTED, "  ", 0, MTR_ERROR,
      "not a Mortar license" },
    { "CRLF line ends", T_CRLF, NULL, 0, MTR_OK, NULL },
    { "mail text before and after", T_MAIL, NULL, 0, MTR_OK, NULL },
    { "trailing blanks and tabs", T_BLANKS, NULL, 0, MTR_OK, NULL },
    { "two keys: the first counts", T_TWO_KEYS, NULL, 0, MTR_OK, NULL },
    { "no LF after END", T_NO_FINAL_LF, NULL, 0, MTR_OK, NULL },
};

/* Offset of body line k (1 = first) in good, and its length. */
static size_t
body_line(size_t k, size_t *len_r)
{
    size_t off = strlen(LIC_ARMOR_BEGIN) + 1, i;

    for (i = 1; i < k; i++) {
        off += (size_t) (strchr(good + off, '\n') - (good + off)) + 1;
    }
    *len_r = (size_t) (strchr(good + off, '\n') - (good + off));
    return off;
}

static size_t
build_text(const text_case_t *c, char *out)
{
    static char other[LIC_ARMOR_MAX];
    mtr_err_t   err;
    size_t      n = 0, i, off, ll, olen;

    switch (c->kind) {
    case T_LITERAL:
        n = c->arg != 0 ? (size_t) c->arg : strlen(c->text);
        memcpy(out, c->text, n);
        return n;
    case T_BODY:
        return (size_t) sprintf(out, "%s\n%s%s%s\n", LIC_ARMOR_BEGIN, c->text,
                                c->text[0] != '\0' ? "\n" : "", LIC_ARMOR_END);
    case T_CUT:
        n = c->arg < 0 ? good_len - (size_t) -c->arg : (size_t) c->arg;
        memcpy(out, good, n);
        return n;
    case T_CRLF:
    case T_BLANKS:
    case T_QUOTED:
        for (i = 0; i < good_len; i++) {
            if (c->kind == T_QUOTED && (i == 0 || good[i - 1] == '\n')) {
                n += (size_t) sprintf(out + n, "%s", c->text);
            }
            if (good[i] == '\n' && c->kind == T_CRLF) {
                out[n++] = '\r';
            }
            if (good[i] == '\n' && c->kind == T_BLANKS) {
                out[n++] = ' ';
                out[n++] = '\t';
                out[n++] = ' ';
            }
            out[n++] = good[i];
        }
        return n;
    case T_MAIL:
        n = (size_t) sprintf(out, "Hello,\r\n\r\nhere is your key:\r\n\r\n");
        memcpy(out + n, good, good_len);
        n += good_len;
        n += (size_t) sprintf(out + n, "\r\n-- \r\nThe Mortar team\r\n");
        return n;
    case T_DROP_LINE:
        off = body_line((size_t) c->arg, &ll);
        memcpy(out, good, off);
        memcpy(out + off, good + off + ll + 1, good_len - off - ll - 1);
        return good_len - ll - 1;
    case T_JOIN_LINES:
        off = body_line(1, &ll);
        memcpy(out, good, off + ll);
        memcpy(out + off + ll, good + off + ll + 1, good_len - off - ll - 1);
        return good_len - 1;
    case T_BLANK_LINE:
        off = body_line(1, &ll);
        memcpy(out, good, off + ll + 1);
        out[off + ll + 1] = '\n';
        memcpy(out + off + ll + 2, good + off + ll + 1,
               good_len - off - ll - 1);
        return good_len + 1;
    case T_REPLACE_CHAR:
        memcpy(out, good, good_len);
        off = body_line(1, &ll);
        if ((size_t) c->arg >= ll) {
            off = body_line(2, &ll);
            out[off + (size_t) c->arg - 64] = c->text[0];
        } else {
            out[off + (size_t) c->arg] = c->text[0];
        }
        return good_len;
    case T_PAD_STRIP:
        /* A key whose blob length is not a multiple of 3 ends in '='. */
        for (i = 0; i < 3; i++) {
            lic_t l = base;

            memset(l.extra[1].value, 'p', i);
            assert_int_equal(
                lic_issue(&l, priv_a, other, sizeof(other), &olen, &err),
                MTR_OK);
            if (memchr(other, '=', olen) != NULL) {
                break;
            }
        }
        assert_true(i < 3);
        for (i = 0; i < olen; i++) {
            if (other[i] != '=') {
                out[n++] = other[i];
            }
        }
        return n;
    case T_OVERSIZE:
        memcpy(out, good, good_len);
        n = good_len;
        while (n <= LIC_ARMOR_MAX) {
            n += (size_t) sprintf(out + n, "%s", "> quoted mail text\n");
        }
        return n;
    case T_HUGE_BODY:
        n = (size_t) sprintf(out, "%s\n", LIC_ARMOR_BEGIN);
        for (i = 0; i < 172; i++) { /* 172 * 64 = 11008 chars: 8256 bytes */
            memset(out + n, 'A', 64);
            n += 64;
            out[n++] = '\n';
        }
        n += (size_t) sprintf(out + n, "%s\n", LIC_ARMOR_END);
        assert_true(n <= LIC_ARMOR_MAX);
        return n;
    case T_TWO_KEYS:
        assert_int_equal(
            lic_issue(&base, priv_b, other, sizeof(other), &olen, &err),
            MTR_OK);
        memcpy(out, good, good_len);
        memcpy(out + good_len, other, olen);
        return good_len + olen;
    case T_NO_FINAL_LF:
        memcpy(out, good, good_len - 1);
        return good_len - 1;
    case T_END_LINE_CUT:
        memcpy(out, good, good_len - 7);
        out[good_len - 7] = '\n';
        return good_len - 6;
    }
    return 0;
}

static void
test_text_cases(void **state)
{
    static char text[BIG];
    lic_t       lic;
    mtr_err_t   err;
    size_t      n, i;
    int         rc;

    (void) state;

    for (i = 0; i < sizeof(text_cases) / sizeof(text_cases[0]); i++) {
        const text_case_t *c = &text_cases[i];

        print_message("text: %s\n", c->name);
        n = build_text(c, text);
        rc = lic_parse(text, n, pub_a, &lic, &err);
        if (rc != c->rc) {
            print_message("  error: %s\n", err.msg);
        }
        assert_int_equal(rc, c->rc);
        if (rc == MTR_OK) {
            assert_true(lic_equal(&lic, &base));
        } else {
            expect_msg(c->name, err.msg, c->want);
            assert_zeroed(&lic);
        }
    }

    print_message("text: NULL text with length 0 is empty input\n");
    assert_int_equal(lic_parse(NULL, 0, pub_a, &lic, &err), MTR_ERROR);
    expect_msg("NULL", err.msg, "not a Mortar license");
    print_message("text: NULL public key\n");
    assert_int_equal(lic_parse(good, good_len, NULL, &lic, &err), MTR_ERROR);
    print_message("text: exactly LIC_ARMOR_MAX bytes is not too large\n");
    memcpy(text, good, good_len);
    memset(text + good_len, '.', LIC_ARMOR_MAX - good_len);
    assert_int_equal(lic_parse(text, LIC_ARMOR_MAX, pub_a, &lic, &err), MTR_OK);
}

/* ---- payload rules, on correctly signed keys ---- */

#define P_ID     "id=L-2026-001\n"
#define P_CUST   "customer=ACME Corp\n"
#define P_DEP    "deployment=" DEPLOYMENT "\n"
#define P_SEATS  "seats=50\n"
#define P_NB     "not_before=2026-01-01T00:00:00Z\n"
#define P_NA     "not_after=2026-10-01T00:00:00Z\n"
#define P_GRACE  "grace_days=30\n"
#define P_PLAN   "plan=Enterprise\n"
#define P_SUP    "support=Priority\n"
#define P_MODS   "modules=webmail,dav\n"
#define P_ISSUED "issued=2025-12-15T10:30:00Z\n"

/* All fields with one replaced: P(id, cust, ...) in canonical order. */
#define P(a, b, c, d, e, f, g, h, i, j, k) a b c d e f g h i j k
#define ALL                                                                    \
    P(P_ID, P_CUST, P_DEP, P_SEATS, P_NB, P_NA, P_GRACE, P_PLAN, P_SUP,        \
      P_MODS, P_ISSUED)
#define WITH_ID(x)                                                             \
    P(x, P_CUST, P_DEP, P_SEATS, P_NB, P_NA, P_GRACE, P_PLAN, P_SUP, P_MODS,   \
      P_ISSUED)
#define WITH_CUST(x)                                                           \
    P(P_ID, x, P_DEP, P_SEATS, P_NB, P_NA, P_GRACE, P_PLAN, P_SUP, P_MODS,     \
      P_ISSUED)
#define WITH_DEP(x)                                                            \
    P(P_ID, P_CUST, x, P_SEATS, P_NB, P_NA, P_GRACE, P_PLAN, P_SUP, P_MODS,    \
      P_ISSUED)
#define WITH_SEATS(x)                                                          \
    P(P_ID, P_CUST, P_DEP, x, P_NB, P_NA, P_GRACE, P_PLAN, P_SUP, P_MODS,      \
      P_ISSUED)
#define WITH_NB(x)                                                             \
    P(P_ID, P_CUST, P_DEP, P_SEATS, x, P_NA, P_GRACE, P_PLAN, P_SUP, P_MODS,   \
      P_ISSUED)
#define WITH_NA(x)                                                             \
    P(P_ID, P_CUST, P_DEP, P_SEATS, P_NB, x, P_GRACE, P_PLAN, P_SUP, P_MODS,   \
      P_ISSUED)
#define WITH_GRACE(x)                                                          \
    P(P_ID, P_CUST, P_DEP, P_SEATS, P_NB, P_NA, x, P_PLAN, P_SUP, P_MODS,      \
      P_ISSUED)
#define WITH_PLAN(x)                                                           \
    P(P_ID, P_CUST, P_DEP, P_SEATS, P_NB, P_NA, P_GRACE, x, P_SUP, P_MODS,     \
      P_ISSUED)
#define WITH_SUP(x)                                                            \
    P(P_ID, P_CUST, P_DEP, P_SEATS, P_NB, P_NA, P_GRACE, P_PLAN, x, P_MODS,    \
      P_ISSUED)
#define WITH_MODS(x)                                                           \
    P(P_ID, P_CUST, P_DEP, P_SEATS, P_NB, P_NA, P_GRACE, P_PLAN, P_SUP, x,     \
      P_ISSUED)
#define WITH_ISSUED(x)                                                         \
    P(P_ID, P_CUST, P_DEP, P_SEATS, P_NB, P_NA, P_GRACE, P_PLAN, P_SUP,        \
      P_MODS, x)

/* A literal with its length, so NUL bytes can be part of it. */
#define L(s) s, sizeof(s) - 1

typedef struct {
    const char *name;
    const char *payload;
    size_t      len;
    int         rc;
    const char *want; /* substring of the error, or of nothing on MTR_OK */
} payload_case_t;

static const payload_case_t payload_cases[] = {
    { "canonical", L(ALL), MTR_OK, NULL },
    { "x- field kept", L(ALL "x-note=hello world\n"), MTR_OK, NULL },
    { "two x- fields, one empty", L(ALL "x-a=1\nx-b-c_d=\n"), MTR_OK, NULL },
    { "unknown field at the end", L(ALL "color=red\n"), MTR_ERROR,
      "unknown field 'color'" },
    { "unknown field in the middle",
      L(P_ID "max_domains=5\n" P_CUST P_DEP P_SEATS P_NB P_NA P_GRACE P_PLAN
            P_SUP P_MODS P_ISSUED),
      MTR_ERROR, "unknown field 'max_domains'" },
    { "unknown field only", L("seat_limit=10\n"), MTR_ERROR,
      "unknown field 'seat_limit'" },
    { "X- upper case is not x-", L(ALL "X-note=1\n"), MTR_ERROR,
      "bad field name" },
    { "bare x- name", L(ALL "x-=1\n"), MTR_ERROR, "malformed field name" },
    { "x- name with a dot", L(ALL "x-a.b=1\n"), MTR_ERROR, "bad field name" },
    { "x- name of 65 bytes",
      L(ALL "x-abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefgh"
            "ijk=1\n"),
      MTR_ERROR, "bad field name" },
    { "x- value with a tab", L(ALL "x-a=1\t2\n"), MTR_ERROR,
      "malformed field 'x-a'" },
    { "duplicate field", L(P_ID ALL), MTR_ERROR, "duplicate field 'id'" },
    { "duplicate field later", L(ALL P_ISSUED), MTR_ERROR,
      "duplicate field 'issued'" },
    { "duplicate x- field", L(ALL "x-a=1\nx-a=2\n"), MTR_ERROR,
      "duplicate field 'x-a'" },
    { "missing seats", L(WITH_SEATS("")), MTR_ERROR, "missing field 'seats'" },
    { "missing issued", L(WITH_ISSUED("")), MTR_ERROR,
      "missing field 'issued'" },
    { "missing id", L(WITH_ID("")), MTR_ERROR, "missing field 'id'" },
    { "empty payload", L(""), MTR_ERROR, "missing field 'id'" },
    { "out of order: customer before id",
      L(P_CUST P_ID P_DEP P_SEATS P_NB P_NA P_GRACE P_PLAN P_SUP P_MODS
            P_ISSUED),
      MTR_ERROR, "field 'id' out of order" },
    { "out of order: issued before modules",
      L(P_ID P_CUST P_DEP P_SEATS P_NB P_NA P_GRACE P_PLAN P_SUP P_ISSUED
            P_MODS),
      MTR_ERROR, "field 'modules' out of order" },
    { "known field after x-",
      L(P_ID P_CUST P_DEP P_SEATS P_NB P_NA P_GRACE P_PLAN P_SUP P_MODS
        "x-a=1\n" P_ISSUED),
      MTR_ERROR, "field 'issued' out of order" },
    { "date Feb 30", L(WITH_NB("not_before=2026-02-30T00:00:00Z\n")), MTR_ERROR,
      "malformed field 'not_before'" },
    { "date Feb 29 non-leap", L(WITH_NB("not_before=2025-02-29T00:00:00Z\n")),
      MTR_ERROR, "malformed field 'not_before'" },
    { "date Feb 29 leap", L(WITH_NB("not_before=2024-02-29T00:00:00Z\n")),
      MTR_OK, NULL },
    { "date without Z", L(WITH_NA("not_after=2026-10-01T00:00:00\n")),
      MTR_ERROR, "malformed field 'not_after'" },
    { "date with offset", L(WITH_NA("not_after=2026-10-01T00:00:00+00:00\n")),
      MTR_ERROR, "malformed field 'not_after'" },
    { "date with fraction", L(WITH_NA("not_after=2026-10-01T00:00:00.5Z\n")),
      MTR_ERROR, "malformed field 'not_after'" },
    { "date only", L(WITH_NA("not_after=2026-10-01\n")), MTR_ERROR,
      "malformed field 'not_after'" },
    { "lower-case t and z", L(WITH_NA("not_after=2026-10-01t00:00:00z\n")),
      MTR_ERROR, "malformed field 'not_after'" },
    { "leap second", L(WITH_ISSUED("issued=2016-12-31T23:59:60Z\n")), MTR_ERROR,
      "malformed field 'issued'" },
    { "hour 24", L(WITH_ISSUED("issued=2025-12-15T24:00:00Z\n")), MTR_ERROR,
      "malformed field 'issued'" },
    { "month 13", L(WITH_ISSUED("issued=2025-13-15T10:00:00Z\n")), MTR_ERROR,
      "malformed field 'issued'" },
    { "year 1969", L(WITH_NB("not_before=1969-12-31T23:59:59Z\n")), MTR_ERROR,
      "malformed field 'not_before'" },
    { "not_before = not_after", L(WITH_NA("not_after=2026-01-01T00:00:00Z\n")),
      MTR_ERROR, "malformed field 'not_after'" },
    { "not_before > not_after", L(WITH_NA("not_after=2025-01-01T00:00:00Z\n")),
      MTR_ERROR, "malformed field 'not_after'" },
    { "seats 0", L(WITH_SEATS("seats=0\n")), MTR_ERROR,
      "malformed field 'seats'" },
    { "seats 1", L(WITH_SEATS("seats=1\n")), MTR_OK, NULL },
    { "seats 1000000", L(WITH_SEATS("seats=1000000\n")), MTR_OK, NULL },
    { "seats 1000001", L(WITH_SEATS("seats=1000001\n")), MTR_ERROR,
      "malformed field 'seats'" },
    { "seats leading zero", L(WITH_SEATS("seats=050\n")), MTR_ERROR,
      "malformed field 'seats'" },
    { "seats negative", L(WITH_SEATS("seats=-5\n")), MTR_ERROR,
      "malformed field 'seats'" },
    { "seats with blank", L(WITH_SEATS("seats= 50\n")), MTR_ERROR,
      "malformed field 'seats'" },
    { "seats overflow", L(WITH_SEATS("seats=99999999999999999999999\n")),
      MTR_ERROR, "malformed field 'seats'" },
    { "grace 0", L(WITH_GRACE("grace_days=0\n")), MTR_OK, NULL },
    { "grace 365", L(WITH_GRACE("grace_days=365\n")), MTR_OK, NULL },
    { "grace 366", L(WITH_GRACE("grace_days=366\n")), MTR_ERROR,
      "malformed field 'grace_days'" },
    { "grace empty", L(WITH_GRACE("grace_days=\n")), MTR_ERROR,
      "malformed field 'grace_days'" },
    { "plan Mission Critical", L(WITH_PLAN("plan=Mission Critical\n")), MTR_OK,
      NULL },
    { "bad plan", L(WITH_PLAN("plan=Gold\n")), MTR_ERROR,
      "malformed field 'plan'" },
    { "plan in lower case", L(WITH_PLAN("plan=enterprise\n")), MTR_ERROR,
      "malformed field 'plan'" },
    { "plan with trailing blank", L(WITH_PLAN("plan=Enterprise \n")), MTR_ERROR,
      "malformed field 'plan'" },
    { "bad support", L(WITH_SUP("support=Gold\n")), MTR_ERROR,
      "malformed field 'support'" },
    { "no modules", L(WITH_MODS("modules=\n")), MTR_OK, NULL },
    { "all modules",
      L(WITH_MODS("modules=sms,archive,quota,policy,milter,admin,dav,"
                  "webmail\n")),
      MTR_OK, NULL },
    { "duplicate module", L(WITH_MODS("modules=webmail,dav,webmail\n")),
      MTR_ERROR, "listed twice" },
    { "unknown module", L(WITH_MODS("modules=webmail,chat\n")), MTR_ERROR,
      "unknown module 'chat'" },
    { "modules trailing comma", L(WITH_MODS("modules=webmail,\n")), MTR_ERROR,
      "empty item" },
    { "modules leading comma", L(WITH_MODS("modules=,dav\n")), MTR_ERROR,
      "empty item" },
    { "modules with blank", L(WITH_MODS("modules=webmail, dav\n")), MTR_ERROR,
      "malformed field 'modules'" },
    { "id with blank", L(WITH_ID("id=L 1\n")), MTR_ERROR,
      "malformed field 'id'" },
    { "id empty", L(WITH_ID("id=\n")), MTR_ERROR, "malformed field 'id'" },
    { "id of 64",
      L(WITH_ID("id="
                "0123456789012345678901234567890123456789"
                "012345678901234567890123\n")),
      MTR_OK, NULL },
    { "id of 65",
      L(WITH_ID("id="
                "0123456789012345678901234567890123456789"
                "0123456789012345678901234\n")),
      MTR_ERROR, "malformed field 'id'" },
    { "id with '='", L(WITH_ID("id=a=b\n")), MTR_ERROR,
      "malformed field 'id'" },
    { "customer empty", L(WITH_CUST("customer=\n")), MTR_ERROR,
      "malformed field 'customer'" },
    { "customer UTF-8", L(WITH_CUST("customer=M\xc3\xbcller \xe6\x97\xa5\n")),
      MTR_OK, NULL },
    { "customer 4-byte UTF-8", L(WITH_CUST("customer=A \xf0\x9f\x98\x80\n")),
      MTR_OK, NULL },
    { "customer with tab", L(WITH_CUST("customer=ACME\tCorp\n")), MTR_ERROR,
      "control character" },
    { "customer with DEL", L(WITH_CUST("customer=ACME\x7f\n")), MTR_ERROR,
      "control character" },
    { "customer with C1", L(WITH_CUST("customer=ACME\xc2\x85\n")), MTR_ERROR,
      "control character" },
    { "customer bad UTF-8", L(WITH_CUST("customer=ACME\xff\n")), MTR_ERROR,
      "UTF-8" },
    { "customer overlong UTF-8", L(WITH_CUST("customer=ACME\xc0\xaf\n")),
      MTR_ERROR, "UTF-8" },
    { "customer overlong 3-byte", L(WITH_CUST("customer=ACME\xe0\x80\xaf\n")),
      MTR_ERROR, "UTF-8" },
    { "customer surrogate", L(WITH_CUST("customer=ACME\xed\xa0\x80\n")),
      MTR_ERROR, "UTF-8" },
    { "customer past U+10FFFF", L(WITH_CUST("customer=A\xf4\x90\x80\x80\n")),
      MTR_ERROR, "UTF-8" },
    { "customer cut UTF-8", L(WITH_CUST("customer=ACME\xe2\x82\n")), MTR_ERROR,
      "UTF-8" },
    { "customer bidi override", L(WITH_CUST("customer=ACME\xe2\x80\xae\n")),
      MTR_ERROR, "bidi" },
    { "customer BOM",
      L(WITH_CUST("customer=\xef\xbb\xbf"
                  "ACME\n")),
      MTR_ERROR, "bidi" },
    { "customer line separator",
      L(WITH_CUST("customer=A\xe2\x80\xa8"
                  "B\n")),
      MTR_ERROR, "bidi" },
    { "customer leading blank", L(WITH_CUST("customer= ACME\n")), MTR_ERROR,
      "leading or trailing space" },
    { "customer with '='", L(WITH_CUST("customer=A=B\n")), MTR_OK, NULL },
    { "deployment upper case",
      L(WITH_DEP("deployment=0F8E4C2A-1B2C-4D5E-8F90-123456789ABC\n")),
      MTR_ERROR, "malformed field 'deployment'" },
    { "deployment without dashes",
      L(WITH_DEP("deployment=0f8e4c2a1b2c4d5e8f90123456789abc\n")), MTR_ERROR,
      "malformed field 'deployment'" },
    { "deployment with braces",
      L(WITH_DEP("deployment={0f8e4c2a-1b2c-4d5e-8f90-123456789ab}\n")),
      MTR_ERROR, "malformed field 'deployment'" },
    { "NUL in payload", L(WITH_CUST("customer=AC\0ME\n")), MTR_ERROR, "NUL" },
    { "CR in payload", L(WITH_CUST("customer=ACME\r\n")), MTR_ERROR, "CR" },
    { "no LF at the end",
      L(P_ID P_CUST P_DEP P_SEATS P_NB P_NA P_GRACE P_PLAN P_SUP P_MODS
        "issued=2025-12-15T10:30:00Z"),
      MTR_ERROR, "last line" },
    { "line without '='", L(ALL "x-a\n"), MTR_ERROR, "no '='" },
    { "blank line", L(P_ID "\n" P_CUST), MTR_ERROR, "no '='" },
    { "blank name", L(ALL "=value\n"), MTR_ERROR, "bad field name" },
    { "blank around '='", L(WITH_SEATS("seats = 50\n")), MTR_ERROR,
      "bad field name" },
};

static size_t
signed_text(const uint8_t *priv, const char *payload, size_t plen, char *out,
            size_t size)
{
    static uint8_t blob[LIC_BLOB_MAX];

    return armor(blob, make_blob(priv, payload, plen, blob), out, size);
}

static void
check_payload(const char *name, const char *payload, size_t plen, int want_rc,
              const char *want)
{
    static char text[BIG];
    lic_t       lic, direct;
    mtr_err_t   err, err2;
    size_t      n;
    int         rc;

    print_message("payload: %s\n", name);
    n = signed_text(priv_a, payload, plen, text, sizeof(text));
    rc = lic_parse(text, n, pub_a, &lic, &err);
    if (rc != want_rc) {
        print_message("  error: %s\n", rc == MTR_OK ? "(none)" : err.msg);
    }
    assert_int_equal(rc, want_rc);
    if (rc != MTR_OK) {
        expect_msg(name, err.msg, want);
        assert_zeroed(&lic);
    }

    /* The unsigned entry point applies exactly the same rules. */
    assert_int_equal(lic_parse_payload(payload, plen, &direct, &err2), rc);
    if (rc == MTR_OK) {
        assert_true(lic_equal(&lic, &direct));
        /* What parses must be issuable again, to the same values. */
        assert_int_equal(lic_validate(&lic, &err2), MTR_OK);
    } else {
        assert_string_equal(err.msg, err2.msg);
    }
}

static void
test_payload_cases(void **state)
{
    static char p[LIC_PAYLOAD_MAX + 64];
    lic_t       lic;
    mtr_err_t   err;
    size_t      i, n;

    (void) state;

    for (i = 0; i < sizeof(payload_cases) / sizeof(payload_cases[0]); i++) {
        const payload_case_t *c = &payload_cases[i];

        check_payload(c->name, c->payload, c->len, c->rc, c->want);
    }

    print_message("payload: x- fields are kept in order\n");
    assert_int_equal(
        lic_parse_payload(L(ALL "x-note=hello world\nx-b=\n"), &lic, &err),
        MTR_OK);
    assert_int_equal(lic.nextra, 2);
    assert_string_equal(lic.extra[0].name, "x-note");
    assert_string_equal(lic.extra[0].value, "hello world");
    assert_string_equal(lic.extra[1].name, "x-b");
    assert_string_equal(lic.extra[1].value, "");

    /* Generated cases: lengths at their caps. */
    n = (size_t) sprintf(p, "%s%s", P_ID, "customer=");
    memset(p + n, 'c', LIC_CUSTOMER_MAX);
    n += LIC_CUSTOMER_MAX;
    n += (size_t) sprintf(
        p + n, "\n%s",
        P_DEP P_SEATS P_NB P_NA P_GRACE P_PLAN P_SUP P_MODS P_ISSUED);
    check_payload("customer of 200 bytes", p, n, MTR_OK, NULL);
    i = strlen(P_ID) + 9; /* start of the customer value */
    memmove(p + i + 1, p + i, n - i);
    p[i] = 'c';
    check_payload("customer of 201 bytes", p, n + 1, MTR_ERROR,
                  "malformed field 'customer'");

    n = (size_t) sprintf(p, "%s", ALL);
    for (i = 0; i < LIC_EXTRA_MAX; i++) {
        n += (size_t) sprintf(p + n, "x-f%zu=%zu\n", i, i);
    }
    check_payload("16 x- fields", p, n, MTR_OK, NULL);
    n += (size_t) sprintf(p + n, "x-one-more=1\n");
    check_payload("17 x- fields", p, n, MTR_ERROR, "too many x-* fields");

    n = (size_t) sprintf(p, "%sx-v=", ALL);
    memset(p + n, 'v', LIC_EXTRA_VALUE_MAX);
    n += LIC_EXTRA_VALUE_MAX;
    p[n++] = '\n';
    check_payload("x- value of 256 bytes", p, n, MTR_OK, NULL);
    p[n - 1] = 'v';
    p[n++] = '\n';
    check_payload("x- value of 257 bytes", p, n, MTR_ERROR,
                  "longer than 256 bytes");

    n = (size_t) sprintf(p, "%s", ALL);
    memset(p + n, 'x', LIC_PAYLOAD_MAX + 1 - n);
    print_message("payload: longer than LIC_PAYLOAD_MAX\n");
    assert_int_equal(lic_parse_payload(p, LIC_PAYLOAD_MAX + 1, &lic, &err),
                     MTR_ERROR);
    expect_msg("too long", err.msg, "malformed payload");
}

/* ---- what lic_issue refuses ---- */

typedef enum {
    I_SEATS0,
    I_SEATS_BIG,
    I_GRACE_BIG,
    I_PLAN,
    I_SUPPORT,
    I_MODULE_BIT,
    I_DEPLOYMENT,
    I_CUSTOMER_LF,
    I_CUSTOMER_EMPTY,
    I_ID_EQ,
    I_ID_UNTERMINATED,
    I_DATES_EQUAL,
    I_TIME_NEGATIVE,
    I_TIME_LIMIT,
    I_EXTRA_NOT_X,
    I_EXTRA_UPPER,
    I_EXTRA_DUP,
    I_EXTRA_LF,
    I_EXTRA_COUNT,
    I_SMALL_BUFFER
} issue_e;

typedef struct {
    const char *name;
    issue_e     kind;
    const char *want;
} issue_case_t;

static const issue_case_t issue_cases[] = {
    { "seats 0", I_SEATS0, "seats" },
    { "seats 1000001", I_SEATS_BIG, "seats" },
    { "grace 366", I_GRACE_BIG, "grace_days" },
    { "plan out of range", I_PLAN, "plan" },
    { "support out of range", I_SUPPORT, "support" },
    { "unknown module bit", I_MODULE_BIT, "modules" },
    { "deployment upper case", I_DEPLOYMENT, "deployment" },
    { "customer with LF smuggling a field", I_CUSTOMER_LF, "customer" },
    { "customer empty", I_CUSTOMER_EMPTY, "customer" },
    { "id with '='", I_ID_EQ, "'id'" },
    { "id not NUL-terminated", I_ID_UNTERMINATED, "'id'" },
    { "not_before = not_after", I_DATES_EQUAL, "not_after" },
    { "time before 1970", I_TIME_NEGATIVE, "not_before" },
    { "time in year 10000", I_TIME_LIMIT, "not_after" },
    { "extra not x-", I_EXTRA_NOT_X, "note" },
    { "extra name upper case", I_EXTRA_UPPER, "x-Note" },
    { "extra duplicate", I_EXTRA_DUP, "duplicate field 'x-note'" },
    { "extra value with LF", I_EXTRA_LF, "x-note" },
    { "17 extras", I_EXTRA_COUNT, "too many" },
    { "output buffer too small", I_SMALL_BUFFER, "too small" },
};

static void
test_issue_refuses(void **state)
{
    static char out[LIC_ARMOR_MAX];
    lic_t       l;
    mtr_err_t   err;
    size_t      i, size, len;

    (void) state;

    for (i = 0; i < sizeof(issue_cases) / sizeof(issue_cases[0]); i++) {
        const issue_case_t *c = &issue_cases[i];

        print_message("issue: %s\n", c->name);
        l = base;
        size = sizeof(out);
        switch (c->kind) {
        case I_SEATS0:
            l.seats = 0;
            break;
        case I_SEATS_BIG:
            l.seats = LIC_SEATS_MAX + 1;
            break;
        case I_GRACE_BIG:
            l.grace_days = LIC_GRACE_DAYS_MAX + 1;
            break;
        case I_PLAN:
            l.plan = LIC_PLAN_COUNT;
            break;
        case I_SUPPORT:
            l.support = (lic_support_e) -1;
            break;
        case I_MODULE_BIT:
            l.modules |= 1u << LIC_MOD_COUNT;
            break;
        case I_DEPLOYMENT:
            strcpy(l.deployment, "0F8E4C2A-1B2C-4D5E-8F90-123456789ABC");
            break;
        case I_CUSTOMER_LF:
            strcpy(l.customer, "ACME\nseats=999999");
            break;
        case I_CUSTOMER_EMPTY:
            l.customer[0] = '\0';
            break;
        case I_ID_EQ:
            strcpy(l.id, "a=b");
            break;
        case I_ID_UNTERMINATED:
            memset(l.id, 'a', sizeof(l.id));
            break;
        case I_DATES_EQUAL:
            l.not_after = l.not_before;
            break;
        case I_TIME_NEGATIVE:
            l.not_before = -1;
            break;
        case I_TIME_LIMIT:
            l.not_after = LIC_TIME_LIMIT;
            break;
        case I_EXTRA_NOT_X:
            strcpy(l.extra[0].name, "note");
            break;
        case I_EXTRA_UPPER:
            strcpy(l.extra[0].name, "x-Note");
            break;
        case I_EXTRA_DUP:
            strcpy(l.extra[1].name, "x-note");
            break;
        case I_EXTRA_LF:
            strcpy(l.extra[0].value, "a\nseats=5");
            break;
        case I_EXTRA_COUNT:
            l.nextra = LIC_EXTRA_MAX + 1;
            break;
        case I_SMALL_BUFFER:
            size = good_len; /* one byte short: no room for the NUL */
            break;
        }
        memset(out, 'Q', sizeof(out));
        len = 4242;
        assert_int_equal(lic_issue(&l, priv_a, out, size, &len, &err),
                         MTR_ERROR);
        expect_msg(c->name, err.msg, c->want);
        assert_int_equal(out[0], '\0');
        assert_int_equal(len, 4242);
        if (c->kind != I_SMALL_BUFFER) {
            assert_int_equal(lic_validate(&l, &err), MTR_ERROR);
        }
    }

    print_message("issue: exact buffer size is enough\n");
    assert_int_equal(lic_issue(&base, priv_a, out, good_len + 1, &len, &err),
                     MTR_OK);
    assert_int_equal(len, good_len);
    print_message("issue: deterministic (Ed25519), same text twice\n");
    assert_memory_equal(out, good, good_len);
}

/* ---- times, names, keys ---- */

typedef struct {
    const char *name;
    const char *in;
    int         rc;
    int64_t     t;
} time_case_t;

static const time_case_t time_cases[] = {
    { "epoch", "1970-01-01T00:00:00Z", MTR_OK, 0 },
    { "2026-10-01", "2026-10-01T00:00:00Z", MTR_OK, T_2026_10_01 },
    { "leap day 2000", "2000-02-29T12:34:56Z", MTR_OK, INT64_C(951827696) },
    { "leap day 2024 last second", "2024-02-29T23:59:59Z", MTR_OK,
      INT64_C(1709251199) },
    { "last second of 9999", "9999-12-31T23:59:59Z", MTR_OK,
      LIC_TIME_LIMIT - 1 },
    { "no leap day 2100", "2100-02-29T00:00:00Z", MTR_ERROR, 0 },
    { "no leap day 2023", "2023-02-29T00:00:00Z", MTR_ERROR, 0 },
    { "April 31", "2026-04-31T00:00:00Z", MTR_ERROR, 0 },
    { "day 0", "2026-04-00T00:00:00Z", MTR_ERROR, 0 },
    { "month 0", "2026-00-10T00:00:00Z", MTR_ERROR, 0 },
    { "minute 60", "2026-04-10T00:60:00Z", MTR_ERROR, 0 },
    { "year 1969", "1969-12-31T23:59:59Z", MTR_ERROR, 0 },
    { "space for T", "2026-04-10 00:00:00Z", MTR_ERROR, 0 },
    { "sign in year", "+026-04-10T00:00:00Z", MTR_ERROR, 0 },
    { "too short", "2026-04-10T00:00Z", MTR_ERROR, 0 },
    { "empty", "", MTR_ERROR, 0 },
};

static void
test_time(void **state)
{
    char      buf[LIC_TIME_MAX];
    mtr_err_t err;
    int64_t   t;
    size_t    i;

    (void) state;

    for (i = 0; i < sizeof(time_cases) / sizeof(time_cases[0]); i++) {
        const time_case_t *c = &time_cases[i];

        print_message("time: %s\n", c->name);
        t = 4242;
        assert_int_equal(lic_parse_time(c->in, strlen(c->in), &t, &err), c->rc);
        if (c->rc == MTR_OK) {
            assert_true(t == c->t);
            assert_int_equal(lic_format_time(t, buf, sizeof(buf)), MTR_OK);
            assert_string_equal(buf, c->in);
        } else {
            assert_true(t == 4242);
        }
    }

    print_message("time: format refuses out of range and small buffers\n");
    assert_int_equal(lic_format_time(-1, buf, sizeof(buf)), MTR_ERROR);
    assert_int_equal(lic_format_time(LIC_TIME_LIMIT, buf, sizeof(buf)),
                     MTR_ERROR);
    assert_int_equal(lic_format_time(0, buf, LIC_TIME_MAX - 1), MTR_ERROR);
    print_message("time: length bounds the input\n");
    assert_int_equal(lic_parse_time("2026-10-01T00:00:00Zjunk", 20, &t, &err),
                     MTR_OK);
}

static void
test_names(void **state)
{
    char          buf[LIC_MODULES_TEXT_MAX];
    lic_plan_e    plan;
    lic_support_e sup;
    uint32_t      m;
    mtr_err_t     err;

    (void) state;

    print_message("names: plans and support levels round trip\n");
    for (plan = 0; plan < LIC_PLAN_COUNT; plan++) {
        const char *n = lic_plan_name(plan);
        lic_plan_e  back;

        assert_non_null(n);
        assert_int_equal(lic_plan_from_name(n, strlen(n), &back), MTR_OK);
        assert_int_equal(back, plan);
    }
    assert_string_equal(lic_plan_name(LIC_PLAN_MISSION_CRITICAL),
                        "Mission Critical");
    assert_null(lic_plan_name(LIC_PLAN_COUNT));
    assert_string_equal(lic_support_name(LIC_SUPPORT_PRIVILEGE), "Privilege");
    assert_null(lic_support_name(LIC_SUPPORT_COUNT));
    assert_int_equal(lic_support_from_name("Priority", 8, &sup), MTR_OK);
    assert_int_equal(sup, LIC_SUPPORT_PRIORITY);
    assert_int_equal(lic_support_from_name("Prio", 4, &sup), MTR_ERROR);
    assert_int_equal(lic_plan_from_name("Mission", 7, &plan), MTR_ERROR);

    print_message("names: modules list in table order\n");
    assert_int_equal(lic_parse_modules("sms,webmail", 11, &m, &err), MTR_OK);
    assert_int_equal(lic_format_modules(m, buf, sizeof(buf)), MTR_OK);
    assert_string_equal(buf, "webmail,sms");
    assert_int_equal(lic_format_modules(LIC_MODULES_ALL, buf, sizeof(buf)),
                     MTR_OK);
    assert_string_equal(buf,
                        "webmail,dav,admin,milter,policy,quota,archive,sms");
    assert_int_equal(lic_format_modules(0, buf, sizeof(buf)), MTR_OK);
    assert_string_equal(buf, "");
    assert_int_equal(lic_format_modules(LIC_MODULES_ALL, buf, 10), MTR_ERROR);
    assert_int_equal(lic_format_modules(1u << 9, buf, sizeof(buf)), MTR_ERROR);
    assert_string_equal(lic_module_name(LIC_MOD_ARCHIVE), "archive");
    assert_null(lic_module_name(LIC_MOD_COUNT));

    print_message("names: deployment ids\n");
    assert_true(lic_deployment_ok(DEPLOYMENT, 36));
    assert_false(lic_deployment_ok(DEPLOYMENT, 35));
    assert_false(lic_deployment_ok("0f8e4c2a-1b2c-4d5e-8f90-123456789abg", 36));
}

static void
test_keys(void **state)
{
    uint8_t   pv[LIC_PRIVKEY_LEN], pb[LIC_PUBKEY_LEN], pb2[LIC_PUBKEY_LEN];
    mtr_err_t err;

    (void) state;

    print_message("keys: public key derived from the private one\n");
    assert_int_equal(lic_public_from_private(priv_a, pb, &err), MTR_OK);
    assert_memory_equal(pb, pub_a, LIC_PUBKEY_LEN);

    print_message("keys: two fresh pairs differ\n");
    assert_int_equal(lic_keygen(pv, pb2, &err), MTR_OK);
    assert_memory_not_equal(pb2, pub_a, LIC_PUBKEY_LEN);
    assert_memory_not_equal(pv, priv_a, LIC_PRIVKEY_LEN);
    OPENSSL_cleanse(pv, sizeof(pv));

    print_message("keys: lic_equal ignores bytes after a NUL\n");
    {
        lic_t a = base, b = base;

        memset(b.id + strlen(b.id) + 1, 'J', 5);
        assert_true(lic_equal(&a, &b));
        b.seats++;
        assert_false(lic_equal(&a, &b));
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_blob_mutations),
        cmocka_unit_test(test_other_vendor_key),
        cmocka_unit_test(test_text_cases),
        cmocka_unit_test(test_payload_cases),
        cmocka_unit_test(test_issue_refuses),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_keys),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
