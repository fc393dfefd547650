/*
 * fuzz_lic_parse.c -- libFuzzer harness of the license-key parser
 * (licensing/lic_key.c) and the policy functions fed by it.
 *
 * Every input goes two ways:
 *   1. lic_parse() as armored text, against the FIXED test public key below:
 *      armor, base64, framing and signature code on arbitrary bytes;
 *   2. lic_parse_payload() as a bare payload: the field parser, which the
 *      signature check would otherwise keep out of the fuzzer's reach.
 * Properties checked (abort() = a finding): a refusal always says why;
 * whatever a path accepts passes lic_validate(), re-issues with the test
 * private key and parses back to equal values; the policy functions accept
 * any parsed key at any time.
 *
 * The key pair is TEST-ONLY and public on purpose: it is the PEM in
 * tests/fuzz/fuzz_lic_parse-test.key, whose raw bytes are copied below, so
 * the seeds in tests/fuzz/fuzz_lic_parse/ can carry a valid signature
 * (rewrite them with `make license-fuzz-seeds`).  No build trusts it.
 * Built by licensing/module.mk with clang -fsanitize=fuzzer,address,undefined;
 * run by `make fuzz`.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../licensing/lic_key.h"
#include "../../licensing/lic_policy.h"

/* openssl pkey -in tests/fuzz/fuzz_lic_parse-test.key -pubout -outform DER */
static const uint8_t test_pub[LIC_PUBKEY_LEN] = {
    0x4e, 0x42, 0x7c, 0xb1, 0xac, 0x47, 0x3a, 0x5e, 0xf8, 0xae, 0xe5,
    0x14, 0x6f, 0x67, 0x56, 0x53, 0xeb, 0x77, 0xef, 0xb8, 0x07, 0x61,
    0x0b, 0x0d, 0x9c, 0x4a, 0x03, 0x80, 0x2b, 0x3b, 0x1f, 0x28,
};

/* TEST-ONLY private key: the same file, -outform DER, last 32 bytes. */
static const uint8_t test_priv[LIC_PRIVKEY_LEN] = {
    0x3d, 0x8a, 0x7d, 0x7f, 0xdb, 0xd5, 0x9f, 0x84, 0xe1, 0x90, 0x1d,
    0x61, 0x29, 0x95, 0x98, 0x28, 0xd5, 0x8b, 0x7c, 0xc4, 0xc3, 0x75,
    0x7c, 0xbf, 0xa3, 0x76, 0x72, 0x4c, 0xdc, 0x1f, 0x46, 0xdf,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_refusal(const mtr_err_t *err)
{
    if (memchr(err->msg, '\0', sizeof(err->msg)) == NULL || err->msg[0] == '\0')
    {
        abort();
    }
}

/* Everything downstream of a parse must cope with any accepted key. */
static void
exercise(const lic_t *lic)
{
    static char    out[LIC_ARMOR_MAX];
    static int64_t times[] = { INT64_MIN, -1, 0, 1767225600, INT64_MAX };
    char           buf[LIC_STATUS_MAX];
    lic_t          again;
    mtr_err_t      err;
    size_t         len, i;
    int            days;

    if (lic_validate(lic, &err) != MTR_OK) {
        abort();
    }
    if (lic_issue(lic, test_priv, out, sizeof(out), &len, &err) != MTR_OK) {
        abort();
    }
    if (lic_parse(out, len, test_pub, &again, &err) != MTR_OK
        || !lic_equal(lic, &again))
    {
        abort();
    }

    for (i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        int64_t t[] = { times[i], lic->not_before, lic->not_after,
                        lic->not_after - 1 };
        size_t  j;

        for (j = 0; j < sizeof(t) / sizeof(t[0]); j++) {
            (void) lic_state(lic, t[j], &days);
            (void) lic_warn_level(days);
            if (lic_status_text(lic, t[j], buf, sizeof(buf)) != MTR_OK) {
                abort(); /* LIC_STATUS_MAX must always suffice */
            }
            (void) lic_admin_change_allowed(lic, t[j], &err);
            (void) lic_check_key(lic, lic->deployment, t[j], &err);
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lic_t     lic;
    mtr_err_t err;

    if (lic_parse((const char *) data, size, test_pub, &lic, &err) == MTR_OK) {
        exercise(&lic);
    } else {
        check_refusal(&err);
    }

    if (lic_parse_payload((const char *) data, size, &lic, &err) == MTR_OK) {
        exercise(&lic);
    } else {
        check_refusal(&err);
    }
    return 0;
}
