/*
 * mtr_ldap.h -- blocking LDAP client of libmortar over OpenLDAP's libldap.
 *
 * Core: no logging, errors in a caller-owned mtr_err_t.  One mtr_ldap_t is
 * one connection bound with a simple bind (LDAPv3) and must be used by one
 * thread at a time (nginx: a thread-pool task; milter: one per thread).  It
 * connects lazily on its first operation and, when an operation fails
 * because the server went away (LDAP_SERVER_DOWN, LDAP_CONNECT_ERROR,
 * LDAP_UNAVAILABLE), drops the handle.  Searches and password sets are
 * then retried exactly once on a fresh connection; add, modify and delete
 * are not, because the server may have applied them before the connection
 * broke (an add resent would come back as "already exists"): the caller
 * gets the error and the next call reconnects.
 *
 * The escaping functions are pure and safe from any thread: every value
 * spliced into a filter or a DN must go through them.
 *
 * Covered by tests/unit/test_mtr_ldap.c (libldap mocked at link time) and
 * tests/unit/test_mtr_ldap_escape.c.
 */
#ifndef MTR_LDAP_H
#define MTR_LDAP_H

#include <stddef.h>

#include "mtr_core.h"

/* Used when mtr_ldap_opts_t.timeout_ms is 0. */
#define MTR_LDAP_TIMEOUT_DEFAULT 5000
#define MTR_LDAP_TIMEOUT_MAX     3600000 /* keeps seconds math in an int */

/* Search scopes (same values as LDAP_SCOPE_*). */
#define MTR_LDAP_SCOPE_BASE 0
#define MTR_LDAP_SCOPE_ONE  1
#define MTR_LDAP_SCOPE_SUB  2

/* Modification operations (same values as LDAP_MOD_*). */
#define MTR_LDAP_MOD_ADD     0
#define MTR_LDAP_MOD_DELETE  1
#define MTR_LDAP_MOD_REPLACE 2

typedef struct mtr_ldap_s mtr_ldap_t;

typedef struct {
    const char *uri;     /* "ldap://127.0.0.1:389", "ldapi://..." (required) */
    const char *bind_dn; /* NULL: anonymous bind */
    const char *bind_pw; /* NULL: empty password */
    int timeout_ms; /* network, operation and search time limit; 0: default */
} mtr_ldap_opts_t;

/*
 * One attribute of an entry.  values[i] is a NUL-terminated copy of the
 * i-th value and lens[i] its length in bytes (values may hold binary data:
 * a value containing a NUL byte is only whole through lens); values is
 * also NULL-terminated (values[nvalues] == NULL).  lens is an addition to
 * the name/values/nvalues triple: code that only handles text ignores it.
 */
typedef struct {
    char   *name;
    char  **values;
    size_t  nvalues;
    size_t *lens;
} mtr_ldap_attr_t;

typedef struct {
    char            *dn;
    mtr_ldap_attr_t *attrs;
    size_t           nattrs;
} mtr_ldap_entry_t;

typedef struct {
    mtr_ldap_entry_t *entries;
    size_t            nentries;
} mtr_ldap_result_t;

/*
 * One modification.  values is NULL-terminated; for MTR_LDAP_MOD_DELETE a
 * NULL or empty list deletes the whole attribute, for MTR_LDAP_MOD_REPLACE
 * it removes the attribute (LDAP semantics).  MTR_LDAP_MOD_ADD needs at
 * least one value.
 */
typedef struct {
    int                op;
    const char        *attr;
    const char *const *values;
} mtr_ldap_mod_t;

/*
 * Create a client; nothing is sent until the first operation.  The strings
 * in opts are copied (the password is wiped on destroy).  timeout_ms sets
 * LDAP_OPT_NETWORK_TIMEOUT (connect), LDAP_OPT_TIMEOUT (each synchronous
 * operation) and the search time limit (rounded up to whole seconds).
 * Returns MTR_OK with *lp set, or MTR_ERROR with err set (no uri, negative
 * timeout, out of memory).
 */
int mtr_ldap_create(mtr_ldap_t **lp, const mtr_ldap_opts_t *opts,
                    mtr_err_t *err);

/* Unbind if connected, wipe the password, free, set *lp to NULL. */
void mtr_ldap_destroy(mtr_ldap_t **lp);

/*
 * Search.  attrs is a NULL-terminated list of attribute names, or NULL for
 * all user attributes; filter NULL means "(objectClass=*)".  size_limit 0
 * means no client limit; when more entries match than size_limit allows
 * (or than the server's own limit), the search fails with MTR_ERROR and
 * mtr_ldap_last_result() returns LDAP_SIZELIMIT_EXCEEDED: a result is never
 * cut silently, so asking for 1 entry detects ambiguous matches.
 *
 * Returns MTR_OK with *res_r set (possibly 0 entries: no match), to be
 * freed with mtr_ldap_result_free(); MTR_DECLINED when the base object does
 * not exist (LDAP_NO_SUCH_OBJECT, *res_r NULL, err says so); MTR_ERROR with
 * err naming the operation, base, filter and the server's message.
 */
int mtr_ldap_search(mtr_ldap_t *l, const char *base, int scope,
                    const char *filter, const char *const *attrs,
                    size_t size_limit, mtr_ldap_result_t **res_r,
                    mtr_err_t *err);

/* Free a search result and set *resp to NULL; NULL is a no-op. */
void mtr_ldap_result_free(mtr_ldap_result_t **resp);

/*
 * The first value of attribute attr (name compared case-insensitively) in
 * e, or NULL if the entry has no such attribute or it has no value.  The
 * string belongs to the result.
 */
const char *mtr_ldap_entry_get(const mtr_ldap_entry_t *e, const char *attr);

/*
 * Add the entry dn with the attributes in mods (each op must be
 * MTR_LDAP_MOD_ADD with at least one value).  Returns MTR_OK or MTR_ERROR;
 * mtr_ldap_last_result() tells LDAP_ALREADY_EXISTS and friends apart.
 */
int mtr_ldap_add(mtr_ldap_t *l, const char *dn, const mtr_ldap_mod_t *mods,
                 size_t nmods, mtr_err_t *err);

/* Apply mods to the entry dn in one modify operation.  MTR_OK/MTR_ERROR. */
int mtr_ldap_modify(mtr_ldap_t *l, const char *dn, const mtr_ldap_mod_t *mods,
                    size_t nmods, mtr_err_t *err);

/* Delete the leaf entry dn.  MTR_OK or MTR_ERROR (see last_result). */
int mtr_ldap_delete(mtr_ldap_t *l, const char *dn, mtr_err_t *err);

/*
 * Set the password of dn to new_pw with the RFC 3062 Password Modify
 * extended operation, so the server hashes it with its own scheme.  The
 * caller owns and wipes new_pw.  MTR_OK or MTR_ERROR.
 */
int mtr_ldap_passwd(mtr_ldap_t *l, const char *dn, const char *new_pw,
                    mtr_err_t *err);

/*
 * The LDAP result code of the last operation (LDAP_SUCCESS, a server code
 * such as LDAP_ALREADY_EXISTS or LDAP_NO_SUCH_OBJECT, or a negative
 * client-side code such as LDAP_SERVER_DOWN or LDAP_PARAM_ERROR for
 * arguments refused before anything was sent).  Compare with <ldap.h>.
 */
int mtr_ldap_last_result(const mtr_ldap_t *l);

/*
 * Escape len bytes of in for use as an assertion value in a search filter
 * (RFC 4515): '*', '(', ')', '\' and NUL become \2a, \28, \29, \5c, \00
 * (lowercase hex; servers accept either case); other bytes, UTF-8
 * included, are copied.  out receives the result NUL-terminated and
 * *out_len_r (may be NULL) its length.  Returns MTR_OK, or MTR_ERROR if out
 * (out_size bytes, NUL included) is too small: the output is never cut.
 */
int mtr_ldap_escape_filter(const char *in, size_t len, char *out,
                           size_t out_size, size_t *out_len_r, mtr_err_t *err);

/*
 * Escape len bytes of in for use as an attribute value in a DN (RFC 4514):
 * ',' '+' '"' '\' '<' '>' ';' '=' get a backslash, so does a leading ' ' or
 * '#' and a trailing ' '; NUL and control bytes (0x01-0x1f, 0x7f) become
 * \XX (lowercase hex); other bytes, UTF-8 included, are copied.  Same
 * output and return contract as mtr_ldap_escape_filter().
 */
int mtr_ldap_escape_dn(const char *in, size_t len, char *out, size_t out_size,
                       size_t *out_len_r, mtr_err_t *err);

#endif /* MTR_LDAP_H */
