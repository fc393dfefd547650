/*
 * mfilter_config.h -- the settings of mortar-milter, read and checked once.
 *
 * Core: turns an mtr_config_t (libmortar's key = value reader) into a
 * mfilter_config_t, refusing unknown keys and bad values with a message
 * naming file:line, key and value, so the daemon fails at start, never
 * at the first message.  Read-only after start, shared by all threads.
 * Covered by tests/unit/test_mfilter_config.c.
 */
#ifndef MFILTER_CONFIG_H
#define MFILTER_CONFIG_H
#include <stdint.h>

#include "mfilter_cache.h"
#include "mfilter_policy.h"
#include "mtr_config.h"
#include "mtr_core.h"
#include "mtr_log.h"

typedef enum {
    MFILTER_SPAM_SPAMD = 0,
    MFILTER_SPAM_RSPAMD = 1
} mfilter_engine_e;

typedef enum {
    MFILTER_DIRFAIL_TEMPFAIL = 0, /* 451 4.7.1 at RCPT */
    MFILTER_DIRFAIL_DEFAULTS = 1  /* use the config defaults */
} mfilter_dirfail_e;

typedef struct {
    /* daemon */
    const char     *socket;    /* libmilter spec: unix:/path, inet:port@host */
    const char     *spool_dir; /* private 0700 dir for spamd copies */
    const char     *log;       /* syslog, stderr or /abs/path */
    mtr_log_level_e log_level;
    const char     *hostname;       /* in X-Virus-Scanned */
    uint64_t        milter_timeout; /* seconds Postfix may stay silent */

    /* scanners */
    const char      *clamd_host;
    uint64_t         clamd_port;
    uint64_t         clamd_timeout_ms;
    uint64_t         clamd_max_size; /* clamd's StreamMaxLength */
    mfilter_engine_e spam_engine;
    const char      *spamd_host;
    uint64_t         spamd_port;
    const char      *rspamd_host;
    uint64_t         rspamd_port;
    uint64_t         spam_timeout_ms;
    uint64_t         spam_max_size; /* larger is not sent to spamd/rspamd */

    /* master switches and defaults for incoming mail */
    int                virus_scan;
    int                spam_scan;
    mfilter_settings_t defaults;

    /* outgoing mail (authenticated or local submission) */
    mfilter_settings_t outbound;
    const char        *outbound_daemon; /* {daemon_name} marking submission */

    /* fail modes */
    mfilter_modes_t   modes;
    mfilter_dirfail_e dir_fail;

    /* directory and counters */
    const char *ldap_uri;
    const char *ldap_base;
    const char *ldap_bind_dn;
    const char *ldap_bind_pw;
    uint64_t    ldap_timeout_ms;
    /* Recipient cache: seconds an entry is kept (0: no cache, every RCPT
     * is looked up) and entries (bounded memory, see mfilter_cache.h). */
    uint64_t    dir_cache_ttl;
    uint64_t    dir_cache_size;
    const char *redis_host; /* NULL or "": no counters */
    uint64_t    redis_port;
    uint64_t    redis_timeout_ms;
} mfilter_config_t;

/*
 * Fill c from cfg (the strings point into cfg, which must outlive c).
 * MTR_OK, or MTR_ERROR with err naming the key, its file:line and value.
 */
int mfilter_config_read(mfilter_config_t *c, const mtr_config_t *cfg,
                        mtr_err_t *err);
#endif /* MFILTER_CONFIG_H */
