/*
 * caldav_dir.h -- the directory (LDAP) side of the DAV module: who may log
 * in, which principals exist, and the domain's global address book.
 *
 * Thread-safe: called from nginx's thread pool.  Each thread keeps its own
 * service connection (mtr_ldap_t is one thread's); the caches are shared by
 * the threads of one worker process behind a mutex:
 *
 *   - logins: a SHA-256 of (salt, address, password) -> expiry, for
 *     ttl seconds (the salt is random per process, so the table never holds
 *     anything a stolen core dump could test passwords against quickly);
 *     a changed password or a disabled account takes effect within ttl;
 *   - principals: address -> display name, for ttl seconds;
 *   - global address book: one snapshot of built vCards per domain, for
 *     ttl seconds, shared read-only by concurrent requests (refcounted).
 *
 * Login rules, the same as Dovecot's passdb: the entry is a mortarUser with
 * that mail, mortarAccountStatus active, mortarEnabledService "dav"; the
 * password is checked by a simple bind as the entry's DN (slapd compares
 * its own hash; the password never leaves the bind).
 *
 * Covered by tests/unit/test_caldav_dir.c (libldap through mtr_ldap,
 * wrapped at link time).
 */
#ifndef CALDAV_DIR_H
#define CALDAV_DIR_H

#include <stddef.h>

#include "mtr_core.h"

#define CALDAV_DIR_MAX_PASSWORD 1024
#define CALDAV_DIR_LOGIN_SLOTS  4096
#define CALDAV_DIR_GAL_MAX      100000 /* entries of one domain */

typedef struct caldav_dir_s caldav_dir_t;

typedef struct {
    const char *uri;     /* ldap://127.0.0.1:3389 */
    const char *bind_dn; /* the service account */
    const char *bind_pw;
    const char *base; /* the suffix: o=mortar */
    int         timeout_ms;
    int         ttl; /* cache lifetime in seconds; 0 = 60 */
} caldav_dir_opts_t;

int  caldav_dir_create(caldav_dir_t **dp, const caldav_dir_opts_t *opts,
                       mtr_err_t *err);
void caldav_dir_destroy(caldav_dir_t **dp);

/*
 * Check a login.  MTR_OK: user may use DAV (the address is normalized to
 * lower case in user_r, CALDAV_MAX_USER + 1 bytes); MTR_DECLINED: wrong
 * password, unknown, ambiguous (several entries with that mail), disabled
 * or without the dav service (err says which, for the log only: the client
 * just gets 401); MTR_ERROR: the directory cannot be reached (the client
 * gets 503).
 */
int caldav_dir_login(caldav_dir_t *d, const char *user, size_t user_len,
                     const char *pw, size_t pw_len, char *user_r,
                     mtr_err_t *err);

/* caldav_conf_t.user_exists: 1 when user is an active account. */
int caldav_dir_user_exists(void *d, const char *user, char *displayname_r,
                           size_t displayname_size);

/* caldav_conf_t.gal_search: every active user of domain as a vCard. */
int caldav_dir_gal(void *d, const char *domain,
                   void (*each)(const char *uid, const char *vcard, size_t len,
                                const char *etag, void *ctx),
                   void *ctx, mtr_err_t *err);

/* Close this thread's connection (thread exit, tests). */
void caldav_dir_thread_cleanup(void);

#endif /* CALDAV_DIR_H */
