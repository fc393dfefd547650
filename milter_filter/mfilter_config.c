/*
 * mfilter_config.c -- read and check the settings of mortar-milter.
 *
 * Core: no libmilter, no logging.  See mfilter_config.h; covered by
 * tests/unit/test_mfilter_config.c.
 */
#include <string.h>
#include <strings.h>

#include "mfilter_config.h"

static const char *const known_keys[] = { "socket",
                                          "spool_dir",
                                          "log",
                                          "log_level",
                                          "hostname",
                                          "milter_timeout",
                                          "clamd_host",
                                          "clamd_port",
                                          "clamd_timeout_ms",
                                          "clamd_max_size",
                                          "spam_engine",
                                          "spamd_host",
                                          "spamd_port",
                                          "rspamd_host",
                                          "rspamd_port",
                                          "spam_timeout_ms",
                                          "spam_max_size",
                                          "virus_scan",
                                          "spam_scan",
                                          "spam_threshold",
                                          "spam_action",
                                          "virus_action",
                                          "outbound_virus_scan",
                                          "outbound_spam_scan",
                                          "outbound_spam_threshold",
                                          "outbound_spam_action",
                                          "outbound_daemon_name",
                                          "clamd_fail_action",
                                          "spam_fail_action",
                                          "virus_oversize_action",
                                          "spam_oversize_action",
                                          "directory_fail_action",
                                          "ldap_uri",
                                          "ldap_base",
                                          "ldap_bind_dn",
                                          "ldap_bind_pw",
                                          "ldap_timeout_ms",
                                          "directory_cache_ttl",
                                          "directory_cache_size",
                                          "redis_host",
                                          "redis_port",
                                          "redis_timeout_ms",
                                          NULL };

static int
bad_value(const mtr_config_t *cfg, const char *key, const char *expect,
          mtr_err_t *err)
{
    char        where[256], safe[128];
    const char *v = mtr_config_get(cfg, key);

    mtr_sanitize(safe, sizeof(safe), v, strlen(v));
    return mtr_err_set(err, "%s: %s = \"%s\": expected %s",
                       mtr_config_where(cfg, key, where, sizeof(where)), key,
                       safe, expect);
}

static const char *
str(const mtr_config_t *cfg, const char *key, const char *def)
{
    const char *v = mtr_config_get(cfg, key);

    return v != NULL ? v : def;
}

/* Parse one of names[] (NULL-terminated) into its index. */
static int
choice(const mtr_config_t *cfg, const char *key, const char *const *names,
       int def, int *value_r, const char *expect, mtr_err_t *err)
{
    const char *v = mtr_config_get(cfg, key);
    int         i;

    if (v == NULL) {
        *value_r = def;
        return MTR_OK;
    }
    for (i = 0; names[i] != NULL; i++) {
        if (strcasecmp(v, names[i]) == 0) {
            *value_r = i;
            return MTR_OK;
        }
    }
    return bad_value(cfg, key, expect, err);
}

static int
threshold(const mtr_config_t *cfg, const char *key, const char *def,
          int32_t *value_r, mtr_err_t *err)
{
    const char *v = str(cfg, key, def);

    if (mfilter_parse_score(v, strlen(v), MFILTER_THRESHOLD_MAX, value_r, NULL)
        != MTR_OK)
    {
        return bad_value(cfg, key, "a score such as 5.0", err);
    }
    return MTR_OK;
}

int
mfilter_config_read(mfilter_config_t *c, const mtr_config_t *cfg,
                    mtr_err_t *err)
{
    static const char *const fail_names[] = { "tempfail", "accept", NULL };
    static const char *const over_names[] = { "reject", "accept", NULL };
    static const char *const engine_names[] = { "spamd", "rspamd", NULL };
    static const char *const dir_names[] = { "tempfail", "defaults", NULL };
    /* indexes are mfilter_action_e values */
    static const char *const action_names[] = { "tag", "quarantine", "reject",
                                                NULL };
    char                     where[256];
    int                      v;

    memset(c, 0, sizeof(*c));
    if (mtr_config_check_keys(cfg, known_keys, err) != MTR_OK) {
        return MTR_ERROR;
    }
    if (mtr_config_require(cfg, "socket", &c->socket, err) != MTR_OK
        || mtr_config_require(cfg, "spool_dir", &c->spool_dir, err) != MTR_OK
        || mtr_config_require(cfg, "ldap_uri", &c->ldap_uri, err) != MTR_OK
        || mtr_config_require(cfg, "ldap_base", &c->ldap_base, err) != MTR_OK)
    {
        return MTR_ERROR;
    }
    if (c->spool_dir[0] != '/') {
        return bad_value(cfg, "spool_dir", "an absolute path", err);
    }
    c->log = str(cfg, "log", "syslog");
    if (mtr_log_level_parse(str(cfg, "log_level", "info"), &c->log_level)
        != MTR_OK) {
        return bad_value(cfg, "log_level", "err, warn, notice, info or debug",
                         err);
    }
    c->hostname = str(cfg, "hostname", NULL);
    if (c->hostname != NULL
        && (strlen(c->hostname) == 0 || strlen(c->hostname) > MFILTER_HOST_MAX
            || strpbrk(c->hostname, " \t\r\n") != NULL))
    {
        return bad_value(cfg, "hostname", "a host name", err);
    }
    if (mtr_config_get_uint(cfg, "milter_timeout", 300, 10, 3600,
                            &c->milter_timeout, err)
            != MTR_OK
        || mtr_config_get_uint(cfg, "clamd_port", 3310, 1, 65535,
                               &c->clamd_port, err)
               != MTR_OK
        || mtr_config_get_uint(cfg, "clamd_timeout_ms", 30000, 100, 3600000,
                               &c->clamd_timeout_ms, err)
               != MTR_OK
        || mtr_config_get_size(cfg, "clamd_max_size", 25 << 20,
                               (uint64_t) 4 << 30, &c->clamd_max_size, err)
               != MTR_OK
        || mtr_config_get_uint(cfg, "spamd_port", 783, 1, 65535, &c->spamd_port,
                               err)
               != MTR_OK
        || mtr_config_get_uint(cfg, "rspamd_port", 11333, 1, 65535,
                               &c->rspamd_port, err)
               != MTR_OK
        || mtr_config_get_uint(cfg, "spam_timeout_ms", 60000, 100, 3600000,
                               &c->spam_timeout_ms, err)
               != MTR_OK
        || mtr_config_get_size(cfg, "spam_max_size", 512 << 10, 64 << 20,
                               &c->spam_max_size, err)
               != MTR_OK
        || mtr_config_get_uint(cfg, "ldap_timeout_ms", 5000, 100, 60000,
                               &c->ldap_timeout_ms, err)
               != MTR_OK
        || mtr_config_get_uint(cfg, "directory_cache_ttl", 60, 0,
                               MFILTER_CACHE_TTL_MAX, &c->dir_cache_ttl, err)
               != MTR_OK
        || mtr_config_get_uint(cfg, "directory_cache_size", 1024, 1,
                               MFILTER_CACHE_ENTRIES_MAX, &c->dir_cache_size,
                               err)
               != MTR_OK
        || mtr_config_get_uint(cfg, "redis_port", 6379, 1, 65535,
                               &c->redis_port, err)
               != MTR_OK
        || mtr_config_get_uint(cfg, "redis_timeout_ms", 1000, 10, 60000,
                               &c->redis_timeout_ms, err)
               != MTR_OK
        || mtr_config_get_bool(cfg, "virus_scan", 1, &c->virus_scan, err)
               != MTR_OK
        || mtr_config_get_bool(cfg, "spam_scan", 1, &c->spam_scan, err)
               != MTR_OK)
    {
        return MTR_ERROR;
    }
    if (c->clamd_max_size < 1024) {
        return bad_value(cfg, "clamd_max_size", "at least 1K", err);
    }
    c->clamd_host = str(cfg, "clamd_host", "127.0.0.1");
    c->spamd_host = str(cfg, "spamd_host", "127.0.0.1");
    c->rspamd_host = str(cfg, "rspamd_host", "127.0.0.1");
    if (choice(cfg, "spam_engine", engine_names, 0, &v, "spamd or rspamd", err)
        != MTR_OK)
    {
        return MTR_ERROR;
    }
    c->spam_engine = (mfilter_engine_e) v;

    /* Incoming defaults: every field set, so resolve() always completes. */
    c->defaults.has_virus_scan = c->defaults.has_spam_scan = 1;
    c->defaults.has_threshold = c->defaults.has_action = 1;
    c->defaults.virus_scan = 1;
    c->defaults.spam_scan = 1;
    if (threshold(cfg, "spam_threshold", "5.0", &c->defaults.threshold, err)
            != MTR_OK
        || choice(cfg, "spam_action", action_names, MFILTER_ACTION_TAG, &v,
                  "reject, quarantine or tag", err)
               != MTR_OK)
    {
        return MTR_ERROR;
    }
    c->defaults.action = (mfilter_action_e) v;

    /* Outgoing: spam from an authenticated user is never relayed, so the
     * action is quarantine or reject, never tag. */
    c->outbound = c->defaults;
    if (mtr_config_get_bool(cfg, "outbound_virus_scan", 1,
                            &c->outbound.virus_scan, err)
            != MTR_OK
        || mtr_config_get_bool(cfg, "outbound_spam_scan", 1,
                               &c->outbound.spam_scan, err)
               != MTR_OK
        || threshold(cfg, "outbound_spam_threshold", "5.0",
                     &c->outbound.threshold, err)
               != MTR_OK
        || choice(cfg, "outbound_spam_action", action_names,
                  MFILTER_ACTION_QUARANTINE, &v, "quarantine or reject", err)
               != MTR_OK)
    {
        return MTR_ERROR;
    }
    if (v == MFILTER_ACTION_TAG) {
        return bad_value(cfg, "outbound_spam_action",
                         "quarantine or reject (tagged spam would be relayed)",
                         err);
    }
    c->outbound.action = (mfilter_action_e) v;
    c->outbound_daemon = str(cfg, "outbound_daemon_name", "ORIGINATING");

    if (choice(cfg, "virus_action", action_names, MFILTER_ACTION_REJECT, &v,
               "reject or quarantine", err)
        != MTR_OK)
    {
        return MTR_ERROR;
    }
    if (v == MFILTER_ACTION_TAG) {
        return bad_value(cfg, "virus_action",
                         "reject or quarantine (infected mail is never "
                         "delivered)",
                         err);
    }
    c->modes.virus_action = (mfilter_action_e) v;
    if (choice(cfg, "clamd_fail_action", fail_names, MFILTER_FAIL_TEMPFAIL, &v,
               "tempfail or accept", err)
        != MTR_OK)
    {
        return MTR_ERROR;
    }
    c->modes.clamd_fail = (mfilter_fail_e) v;
    if (choice(cfg, "spam_fail_action", fail_names, MFILTER_FAIL_TEMPFAIL, &v,
               "tempfail or accept", err)
        != MTR_OK)
    {
        return MTR_ERROR;
    }
    c->modes.spam_fail = (mfilter_fail_e) v;
    if (choice(cfg, "virus_oversize_action", over_names,
               MFILTER_OVERSIZE_REJECT, &v, "reject or accept", err)
        != MTR_OK)
    {
        return MTR_ERROR;
    }
    c->modes.virus_oversize = (mfilter_oversize_e) v;
    if (choice(cfg, "spam_oversize_action", over_names, MFILTER_OVERSIZE_ACCEPT,
               &v, "reject or accept", err)
        != MTR_OK)
    {
        return MTR_ERROR;
    }
    c->modes.spam_oversize = (mfilter_oversize_e) v;
    if (choice(cfg, "directory_fail_action", dir_names,
               MFILTER_DIRFAIL_TEMPFAIL, &v, "tempfail or defaults", err)
        != MTR_OK)
    {
        return MTR_ERROR;
    }
    c->dir_fail = (mfilter_dirfail_e) v;

    c->ldap_bind_dn = str(cfg, "ldap_bind_dn", NULL);
    c->ldap_bind_pw = str(cfg, "ldap_bind_pw", NULL);
    if (c->ldap_bind_pw != NULL && c->ldap_bind_dn == NULL) {
        return mtr_err_set(
            err, "%s: ldap_bind_pw without ldap_bind_dn",
            mtr_config_where(cfg, "ldap_bind_pw", where, sizeof(where)));
    }
    c->redis_host = str(cfg, "redis_host", NULL);
    if (c->redis_host != NULL && c->redis_host[0] == '\0') {
        c->redis_host = NULL;
    }
    return MTR_OK;
}
