/*
 * test_mfilter_config.c -- unit tests of milter_filter/mfilter_config.c.
 *
 * Table-driven, every case named: the safe defaults of every fail mode,
 * each bad value refused with the key and file:line in the message,
 * unknown keys refused, outbound spam never "tag".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mfilter_config.h"

#define BASE                                                                   \
    "socket = unix:/run/m.sock\nspool_dir = /var/spool/m\n"                    \
    "ldap_uri = ldap://127.0.0.1\nldap_base = o=mortar\n"

static int
load(const char *text, mfilter_config_t *c, mtr_config_t **raw, mtr_err_t *err)
{
    *raw = NULL;
    if (mtr_config_parse(text, strlen(text), "m.conf", raw, err) != MTR_OK) {
        return MTR_ERROR;
    }
    return mfilter_config_read(c, *raw, err);
}

static void
test_defaults(void **state)
{
    mfilter_config_t c;
    mtr_config_t    *raw;
    mtr_err_t        err;

    (void) state;
    printf("  case: minimal config, safe defaults\n");
    assert_int_equal(load(BASE, &c, &raw, &err), MTR_OK);
    assert_int_equal(c.modes.clamd_fail, MFILTER_FAIL_TEMPFAIL);
    assert_int_equal(c.modes.spam_fail, MFILTER_FAIL_TEMPFAIL);
    assert_int_equal(c.modes.virus_oversize, MFILTER_OVERSIZE_REJECT);
    assert_int_equal(c.modes.spam_oversize, MFILTER_OVERSIZE_ACCEPT);
    assert_int_equal(c.modes.virus_action, MFILTER_ACTION_REJECT);
    assert_int_equal(c.dir_fail, MFILTER_DIRFAIL_TEMPFAIL);
    assert_int_equal(c.outbound.action, MFILTER_ACTION_QUARANTINE);
    assert_int_equal(c.defaults.action, MFILTER_ACTION_TAG);
    assert_int_equal(c.defaults.threshold, 5000);
    assert_int_equal(c.clamd_max_size, 25 << 20);
    assert_int_equal(c.spam_max_size, 512 << 10);
    assert_int_equal(c.spam_engine, MFILTER_SPAM_SPAMD);
    assert_null(c.redis_host);
    assert_int_equal(c.dir_cache_ttl, 60);
    assert_int_equal(c.dir_cache_size, 1024);
    mtr_config_destroy(&raw);
}

typedef struct {
    const char *name;
    const char *extra;
    int         rc;
    const char *msg_has; /* substring of the error */
} cfg_case_t;

static const cfg_case_t cfg_cases[] = {
    { "all fail modes set",
      "clamd_fail_action = accept\nspam_fail_action = "
      "accept\nvirus_oversize_action = accept\nspam_oversize_action = reject\n"
      "directory_fail_action = defaults\n",
      MTR_OK, NULL },
    { "rspamd engine", "spam_engine = rspamd\nrspamd_port = 11333\n", MTR_OK,
      NULL },
    { "unknown key", "clamd_fail = accept\n", MTR_ERROR, "clamd_fail" },
    { "bad fail mode", "clamd_fail_action = ignore\n", MTR_ERROR,
      "m.conf:5: clamd_fail_action = \"ignore\"" },
    { "bad oversize", "virus_oversize_action = drop\n", MTR_ERROR,
      "virus_oversize_action" },
    { "outbound tag refused", "outbound_spam_action = tag\n", MTR_ERROR,
      "would be relayed" },
    { "virus tag refused", "virus_action = tag\n", MTR_ERROR,
      "never delivered" },
    { "bad threshold", "spam_threshold = five\n", MTR_ERROR, "spam_threshold" },
    { "bad engine", "spam_engine = bogofilter\n", MTR_ERROR, "spam_engine" },
    { "port out of range", "clamd_port = 70000\n", MTR_ERROR, "clamd_port" },
    { "tiny clamd_max_size", "clamd_max_size = 10\n", MTR_ERROR,
      "clamd_max_size" },
    { "relative spool", "", MTR_ERROR, NULL },
    { "password without dn", "ldap_bind_pw = x\n", MTR_ERROR, "ldap_bind_dn" },
    { "bad bool", "virus_scan = maybe\n", MTR_ERROR, "virus_scan" },
    { "directory cache off", "directory_cache_ttl = 0\n", MTR_OK, NULL },
    { "directory cache TTL over an hour", "directory_cache_ttl = 3601\n",
      MTR_ERROR, "directory_cache_ttl" },
    { "directory cache of no entries", "directory_cache_size = 0\n", MTR_ERROR,
      "directory_cache_size" },
};

static void
test_values(void **state)
{
    size_t           i;
    char             text[1024];
    mfilter_config_t c;
    mtr_config_t    *raw;
    mtr_err_t        err;

    (void) state;
    for (i = 0; i < sizeof(cfg_cases) / sizeof(cfg_cases[0]); i++) {
        const cfg_case_t *k = &cfg_cases[i];

        printf("  case: %s\n", k->name);
        if (strcmp(k->name, "relative spool") == 0) {
            snprintf(text, sizeof(text),
                     "socket = x\nspool_dir = spool\nldap_uri = l\n"
                     "ldap_base = b\n");
        } else {
            snprintf(text, sizeof(text), "%s%s", BASE, k->extra);
        }
        assert_int_equal(load(text, &c, &raw, &err), k->rc);
        if (k->msg_has != NULL) {
            printf("    error: %s\n", err.msg);
            assert_non_null(strstr(err.msg, k->msg_has));
        }
        mtr_config_destroy(&raw);
    }
}

static void
test_missing_required(void **state)
{
    mfilter_config_t c;
    mtr_config_t    *raw;
    mtr_err_t        err;

    (void) state;
    printf("  case: no socket\n");
    assert_int_equal(
        load("spool_dir = /s\nldap_uri = l\nldap_base = b\n", &c, &raw, &err),
        MTR_ERROR);
    assert_non_null(strstr(err.msg, "socket"));
    mtr_config_destroy(&raw);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_missing_required),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
