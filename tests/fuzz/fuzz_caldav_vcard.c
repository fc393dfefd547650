/*
 * fuzz_caldav_vcard.c -- libFuzzer harness of the vCard core
 * (ngx_caldav/caldav_vcard.c and the collations of caldav_text.c).
 *
 * The input is the address object, copied into a buffer of exactly its
 * size (no NUL after it, so an over-read is an ASan report).  It goes to
 * caldav_vcard_check(); an accepted card then goes to caldav_vcard_match()
 * with a fixed addressbook-query filter, once with test="anyof" and once
 * with test="allof": EMAIL contains "example" (i;unicode-casemap), FN
 * starts-with "jo" (i;ascii-casemap), TEL with a TYPE param-filter equal
 * to "cell", and a negated NOTE ends-with "\u00e9t\u00e9" (i;octet).
 *
 * Properties checked (abort() = a finding):
 *   - a refusal names CR:valid-address-data or CR:supported-address-data
 *     and says why;
 *   - an accepted card has version 3 or 4 and a NUL-terminated, non-empty
 *     UID, and parses again for match (0 or 1, never MTR_ERROR);
 *   - allof never matches where anyof does not.
 * Seeds: tests/fuzz/fuzz_caldav_vcard/.  Built by ngx_caldav/module.mk with
 * clang -fsanitize=fuzzer,address,undefined; run by `make fuzz`.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../ngx_caldav/caldav_vcard.h"

/* CALDAV_VCARD_MAX_SIZE is 1 MB; the parser is linear, but a 64 KB cap
 * keeps executions fast. */
#define FUZZ_MAX_INPUT (64u * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static caldav_text_match_t email_tm = {
    .text = "example",
    .collation = CALDAV_COLLATION_UNICODE_CASEMAP,
    .match = CALDAV_MATCH_CONTAINS,
};
static caldav_text_match_t fn_tm = {
    .text = "jo",
    .collation = CALDAV_COLLATION_ASCII_CASEMAP,
    .match = CALDAV_MATCH_STARTS_WITH,
};
static caldav_text_match_t type_tm = {
    .text = "cell",
    .collation = CALDAV_COLLATION_UNICODE_CASEMAP,
    .match = CALDAV_MATCH_EQUALS,
};
static caldav_text_match_t note_tm = {
    .text = "\xc3\xa9t\xc3\xa9",
    .negate = 1,
    .collation = CALDAV_COLLATION_OCTET,
    .match = CALDAV_MATCH_ENDS_WITH,
};
static caldav_param_filter_t      type_par = { .name = "TYPE",
                                               .text_match = &type_tm };
static caldav_prop_filter_t       note_pf = { .name = "NOTE",
                                              .text_matches = &note_tm };
static caldav_prop_filter_t       tel_pf = { .name = "TEL",
                                             .param_filters = &type_par,
                                             .next = &note_pf };
static caldav_prop_filter_t       fn_pf = { .name = "FN",
                                            .text_matches = &fn_tm,
                                            .next = &tel_pf };
static caldav_prop_filter_t       email_pf = { .name = "EMAIL",
                                               .text_matches = &email_tm,
                                               .next = &fn_pf };
static const caldav_card_filter_t anyof = { 0, &email_pf };
static const caldav_card_filter_t allof = { 1, &email_pf };

static void
check(int ok)
{
    if (!ok) {
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    caldav_vcard_index_t ix;
    const char          *precond = NULL;
    mtr_err_t            err;
    char                *buf;
    int                  rc, any, all;

    if (size > FUZZ_MAX_INPUT) {
        return 0;
    }
    /* exactly size bytes: the core must not read past them */
    buf = malloc(size ? size : 1);
    check(buf != NULL);
    memcpy(buf, data, size);

    err.msg[0] = '\0';
    rc = caldav_vcard_check(buf, size, &ix, &precond, &err);
    if (rc != MTR_OK) {
        check(rc == MTR_ERROR && err.msg[0] != '\0');
        check(precond != NULL
              && (strcmp(precond, "CR:valid-address-data") == 0
                  || strcmp(precond, "CR:supported-address-data") == 0));
        free(buf);
        return 0;
    }
    check(precond == NULL);
    check(ix.version == 3 || ix.version == 4);
    check(memchr(ix.uid, '\0', sizeof(ix.uid)) != NULL && ix.uid[0] != '\0');

    any = caldav_vcard_match(buf, size, &anyof, &err);
    all = caldav_vcard_match(buf, size, &allof, &err);
    check(any == 0 || any == 1);
    check(all == 0 || all == 1);
    check(!all || any);
    free(buf);
    return 0;
}
