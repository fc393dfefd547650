/*
 * admin_dir.h -- the directory operations of Mortar's administration:
 * domains, users, groups, aliases and licenses.
 *
 * Core, shared by the `mortar` command (cli/mortar.c) and, later, the
 * admin REST API (ngx_admin/): it validates every field, builds DNs and
 * entries, calls the license gate (licensing/lic_gate.h) and talks to the
 * directory through libmortar.  It never prints, logs or exits: each
 * operation returns an admin_status_e (what kind of outcome, so a caller
 * maps it to an exit code or an HTTP status) and puts the message in a
 * caller-owned mtr_err_t, written to say what to do next.  Warnings of
 * the gate (grace days left, a seat counter left stale) land in
 * admin_ctx_t.warn for the caller to show.
 *
 * Rules that hold for every operation:
 *   - Everything is validated before the directory is touched, so a bad
 *     request changes nothing.  (An operation over many entries, such as
 *     a forced domain delete, stops at the first directory failure and
 *     says so; running it again finishes the job.)
 *   - Every change first asks lic_gate_admin_change(); reads never call
 *     it.  Adding a user reserves a seat (lic_gate_seat_reserve) before
 *     the LDAP add and gives it back when the add fails; deleting a user
 *     gives it back.  Every user entry is a seat, enabled or disabled.
 *   - Values spliced into filters and DNs are escaped (RFC 4515, 4514).
 *   - Passwords go to slapd with the Password Modify operation
 *     (mtr_ldap_passwd), so slapd hashes them; clear text is never
 *     stored.  Callers wipe their copies.
 *
 * Directory layout (docs/directory.md):
 *     mortarDomainName=D,ou=domains,BASE          mortarDomain
 *     uid=LOCAL,ou=users,mortarDomainName=D,...   inetOrgPerson+mortarUser
 *     cn=NAME,ou=groups,mortarDomainName=D,...    groupOfNames+mortarGroup
 *
 * Covered by tests/unit/test_admin_dir.c (pure parts, and the add/delete
 * sequences with mtr_ldap_* and lic_gate_* mocked at link time) and
 * tests/integration/test_cli.py.
 */
#ifndef ADMIN_DIR_H
#define ADMIN_DIR_H

#include <stddef.h>
#include <stdint.h>

#include "lic_gate.h"
#include "mtr_core.h"
#include "mtr_ldap.h"

/* Caps on input (every length from a user or a file has one). */
#define ADMIN_ADDR_MAX         254  /* an address, RFC 5321 path limit */
#define ADMIN_LOCAL_MAX        64   /* local part */
#define ADMIN_DOMAIN_MAX       253  /* a DNS name */
#define ADMIN_LABEL_MAX        63   /* one DNS label */
#define ADMIN_VALUE_MAX        1024 /* one field value, normalized */
#define ADMIN_VALUES_MAX       256  /* values of one multi-valued field */
#define ADMIN_CHANGES_MAX      128  /* field changes in one request */
#define ADMIN_PASSWORD_MIN     8
#define ADMIN_PASSWORD_MAX     256
#define ADMIN_RANDOM_PW_LEN    20 /* characters of a generated password */
#define ADMIN_DN_MAX           1024
#define ADMIN_PHONE_DIGITS_MIN 6
#define ADMIN_PHONE_DIGITS_MAX 15 /* E.164 */
#define ADMIN_TZ_MAX           64
#define ADMIN_LANG_MAX         35
#define ADMIN_ZONEINFO         "/usr/share/zoneinfo"

/* What happened; a caller maps it (CLI exit code, HTTP status). */
typedef enum {
    ADMIN_OK = 0,
    ADMIN_INVALID,     /* bad input; nothing changed            (1, 400) */
    ADMIN_REFUSED,     /* license, seats or a domain rule       (1, 403) */
    ADMIN_EXISTS,      /* the name is taken                     (1, 409) */
    ADMIN_NOT_FOUND,   /* no such domain, user or group         (3, 404) */
    ADMIN_UNAVAILABLE, /* LDAP or Redis unreachable             (4, 503) */
    ADMIN_FAILED       /* the directory failed otherwise        (5, 500) */
} admin_status_e;

/* "ok", "invalid", "refused", "exists", "not-found", "unavailable", ... */
const char *admin_status_name(admin_status_e st);

typedef enum {
    ADMIN_OBJ_USER = 0,
    ADMIN_OBJ_DOMAIN,
    ADMIN_OBJ_GROUP,
    ADMIN_OBJ_COUNT
} admin_obj_e;

/* How a field's values are checked and normalized. */
typedef enum {
    ADMIN_K_TEXT = 0, /* UTF-8, no control characters, blanks trimmed */
    ADMIN_K_PHONE,    /* "+" and 6..15 digits; spaces, dashes, dots dropped */
    ADMIN_K_SIZE,     /* bytes, K/M/G/T suffixes (1024), "0": no limit */
    ADMIN_K_UINT,     /* decimal */
    ADMIN_K_BOOL,     /* yes/no/true/false/on/off/1/0 -> TRUE / FALSE */
    ADMIN_K_LANG,     /* BCP 47 language tag, e.g. en, pt-BR, zh-Hant-TW */
    ADMIN_K_TZ,       /* IANA zone present under the zoneinfo directory */
    ADMIN_K_SERVICE,  /* imap pop3 smtp webmail dav sms */
    ADMIN_K_STATUS,   /* active, disabled */
    ADMIN_K_ADDRESS,  /* local@domain, lowercased */
    ADMIN_K_SENDER,   /* an address or @domain, lowercased */
    ADMIN_K_DOMAIN,   /* a DNS name, lowercased */
    ADMIN_K_COUNTRY,  /* ISO 3166 alpha-2, uppercased */
    ADMIN_K_DECIMAL,  /* spam score: [-]digits[.digits] */
    ADMIN_K_SPAM_ACTION, /* reject, quarantine, tag */
    ADMIN_K_POLICY       /* group posting policy: anyone, domain, members */
} admin_kind_e;

#define ADMIN_FF_MULTI    0x01 /* several values */
#define ADMIN_FF_REQUIRED 0x02 /* cannot be cleared */
#define ADMIN_FF_SERVED   0x04 /* addresses in a served domain, unused */

typedef struct {
    const char  *name; /* canonical name: CLI --name, CSV column, JSON key */
    const char  *alt;  /* another accepted name, or NULL */
    const char  *attr; /* LDAP attribute (also accepted as a name) */
    admin_kind_e kind;
    unsigned     flags;
    size_t       max; /* longest normalized value */
} admin_field_t;

/*
 * The fields of obj, in display order; *n_r gets their count.  Names are
 * matched by admin_field_find() case-insensitively, ignoring '-' and '_',
 * against name, alt and attr: "given-name", "givenName", "GIVEN_NAME".
 */
const admin_field_t *admin_fields(admin_obj_e obj, size_t *n_r);
const admin_field_t *admin_field_find(admin_obj_e obj, const char *name,
                                      size_t len);

/* ---- pure validation ------------------------------------------------- */

/*
 * Check a local part: 1..ADMIN_LOCAL_MAX bytes of a-z 0-9 . _ - + (input
 * is lowercased first by the callers below), no leading, trailing or
 * doubled dot.  MTR_OK or MTR_ERROR with the reason.
 */
int admin_check_local(const char *s, size_t len, mtr_err_t *err);

/*
 * Check a domain name: ASCII (IDNs in their xn-- form), at least two
 * labels of a-z 0-9 '-', 1..63 bytes each, no label starting or ending
 * with '-', a final label that is not all digits, at most
 * ADMIN_DOMAIN_MAX bytes.  The input must already be lowercase.
 */
int admin_check_domain(const char *s, size_t len, mtr_err_t *err);

/*
 * Split and check an address: exactly one '@', a valid local part and
 * domain.  Both are lowercased into local (ADMIN_LOCAL_MAX + 1 bytes) and
 * domain (ADMIN_DOMAIN_MAX + 1 bytes); either may be NULL.
 */
int admin_parse_address(const char *s, size_t len, char *local, char *domain,
                        mtr_err_t *err);

/*
 * Check and normalize one value of field f into out (size bytes,
 * NUL-terminated).  zonedir is where ADMIN_K_TZ looks for zones (NULL:
 * ADMIN_ZONEINFO).  The message names the field and the value.
 */
int admin_normalize(const admin_field_t *f, const char *s, size_t len,
                    const char *zonedir, char *out, size_t size,
                    mtr_err_t *err);

/*
 * A password given by an admin: ADMIN_PASSWORD_MIN..ADMIN_PASSWORD_MAX
 * bytes, no control characters (a newline is a pasting accident).
 */
int admin_check_password(const char *pw, size_t len, mtr_err_t *err);

/*
 * A pre-hashed userPassword from an LDIF migration: "{SCHEME}data" with
 * SCHEME one of SSHA SSHA256 SSHA384 SSHA512 ARGON2 CRYPT (salted
 * schemes only; {CLEARTEXT} and unsalted hashes are refused).
 */
int admin_check_password_hash(const char *s, size_t len, mtr_err_t *err);

/*
 * ADMIN_RANDOM_PW_LEN characters from getrandom(2) over an alphabet
 * without look-alikes (no 0/O, 1/l/I), written NUL-terminated into out.
 */
int admin_random_password(char *out, size_t size, mtr_err_t *err);

/* ---- DNs --------------------------------------------------------------- */

/* Each escapes its values (RFC 4514); a buffer too small is MTR_ERROR. */
int admin_domain_dn(const char *base, const char *domain, char *out,
                    size_t size, mtr_err_t *err);
int admin_user_dn(const char *base, const char *local, const char *domain,
                  char *out, size_t size, mtr_err_t *err);
int admin_group_dn(const char *base, const char *name, const char *domain,
                   char *out, size_t size, mtr_err_t *err);
/* "ou=users,<domain dn>" and "ou=groups,<domain dn>". */
int admin_ou_dn(const char *base, const char *ou, const char *domain, char *out,
                size_t size, mtr_err_t *err);

/* ---- field changes ------------------------------------------------------ */

typedef enum {
    ADMIN_SET = 0, /* the field gets exactly these values ("" clears it) */
    ADMIN_ADD,     /* add values to a multi-valued field */
    ADMIN_DEL      /* remove values from a multi-valued field */
} admin_op_e;

typedef struct {
    const admin_field_t *field;
    admin_op_e           op;
    size_t               nvalues; /* 0 with ADMIN_SET: clear */
    char               **values;  /* normalized, NULL-terminated, owned */
} admin_change_t;

/* A request: changes to the fields of one object. */
typedef struct {
    admin_obj_e     obj;
    const char     *zonedir; /* NULL: ADMIN_ZONEINFO; borrowed */
    size_t          n;
    admin_change_t *changes;
} admin_changes_t;

void admin_changes_init(admin_changes_t *c, admin_obj_e obj,
                        const char *zonedir);
void admin_changes_free(admin_changes_t *c);

/*
 * Add one change given as text: the field is named by name (see
 * admin_field_find), value is len bytes.  For a multi-valued field the
 * value is a list separated by ';' (blanks around items dropped, empty
 * items skipped); a second ADMIN_SET of the same field appends to the
 * first, so "--alias a --alias b" and "aliases=a;b" are the same.
 * Duplicates are dropped (case-insensitively).  ADMIN_SET with an empty
 * value clears the field, which a required field refuses; ADMIN_ADD and
 * ADMIN_DEL need a multi-valued field and at least one value.
 * MTR_OK, or MTR_ERROR naming the field (unknown fields included).
 */
int admin_changes_put(admin_changes_t *c, const char *name, size_t name_len,
                      admin_op_e op, const char *value, size_t len,
                      mtr_err_t *err);

/* The change of the field stored in attr, or NULL. */
const admin_change_t *admin_changes_get(const admin_changes_t *c,
                                        const char            *attr);

/* The first value of a single-valued ADMIN_SET change of attr, or NULL. */
const char *admin_changes_value(const admin_changes_t *c, const char *attr);

/* ---- entries and modifications ------------------------------------------ */

/* A list of LDAP modifications with the memory it needs. */
typedef struct {
    mtr_ldap_mod_t *mods;
    size_t          n, cap;
    char          **owned; /* strings and value arrays to free */
    size_t          nowned, owned_cap;
} admin_mods_t;

void admin_mods_init(admin_mods_t *m);
void admin_mods_free(admin_mods_t *m);

/*
 * Append a modification; values (n of them) are copied, the strings
 * included, so the caller's buffers may go away.
 */
int admin_mods_push(admin_mods_t *m, int op, const char *attr,
                    const char *const *values, size_t n, mtr_err_t *err);

/* The first value of attr among the mods, or NULL. */
const char *admin_mods_value(const admin_mods_t *m, const char *attr);

/*
 * Defaults of a new user: status active, services imap pop3 smtp webmail
 * dav (sms only when asked), quota the domain's default quota (0: none).
 */
#define ADMIN_USER_SERVICES_DEFAULT "imap;pop3;smtp;webmail;dav"

/*
 * The attributes of a new user (every op MTR_LDAP_MOD_ADD): objectClass
 * inetOrgPerson and mortarUser, uid, mail, cn (given: cn; else
 * "givenName sn"; else the local part), sn (given; else the last word of
 * cn), mortarAccountStatus, mortarEnabledService, mortarQuotaBytes
 * (default_quota when not given and not 0), then every other SET change.
 * password_hash (may be NULL) is stored as userPassword as it is.  Only
 * ADMIN_SET changes are allowed here.
 */
int admin_user_entry(const admin_changes_t *c, const char *local,
                     const char *domain, uint64_t default_quota,
                     const char *password_hash, admin_mods_t *m,
                     mtr_err_t *err);

/* A new domain entry: objectClass mortarDomain, the name, status active
 * unless given, then the changes. */
int admin_domain_entry(const admin_changes_t *c, const char *domain,
                       admin_mods_t *m, mtr_err_t *err);

/* A new group: groupOfNames + mortarGroup, cn, mail, the member DNs (at
 * least one: groupOfNames requires it), then the changes. */
int admin_group_entry(const admin_changes_t *c, const char *name,
                      const char *domain, const char *const *member_dns,
                      size_t nmembers, admin_mods_t *m, mtr_err_t *err);

/*
 * The modifications that bring entry cur to what c asks:
 *   ADMIN_SET  REPLACE when the value set differs (exact comparison, order
 *              ignored), DELETE of the attribute when clearing one present;
 *   ADMIN_ADD  ADD of the values not present yet (case-insensitively);
 *   ADMIN_DEL  DELETE of the values present; a value that is absent is
 *              MTR_DECLINED with err naming it (the caller reports "not
 *              found").
 * m->n == 0 afterwards means the entry already is as asked: "unchanged".
 * cur may be NULL (no attributes).
 */
int admin_diff(const admin_changes_t *c, const mtr_ldap_entry_t *cur,
               admin_mods_t *m, mtr_err_t *err);

/* The values of attr in e (NULL-terminated, owned by e) and their count;
 * NULL and 0 when absent. */
char *const *admin_entry_values(const mtr_ldap_entry_t *e, const char *attr,
                                size_t *n_r);

/*
 * Map the last LDAP result code to a status: unreachable or timed out ->
 * ADMIN_UNAVAILABLE, no such object -> ADMIN_NOT_FOUND, already exists ->
 * ADMIN_EXISTS, a constraint or schema violation -> ADMIN_INVALID, the
 * rest -> ADMIN_FAILED.
 */
admin_status_e admin_ldap_status(int ldap_rc);

/* ---- operations on the directory ----------------------------------------- */

/* Per-run context; every pointer is borrowed. */
typedef struct {
    mtr_ldap_t *ldap;    /* bound with write rights (the directory admin) */
    lic_gate_t *gate;    /* the license gate over the same LDAP and Redis */
    const char *base;    /* directory suffix, e.g. "o=mortar" */
    const char *zonedir; /* NULL: ADMIN_ZONEINFO */
    int64_t     now;     /* unix time of the request, set by the caller */
    char        warn[LIC_WARN_MAX]; /* warnings of the last call, or "" */
} admin_ctx_t;

/* What a domain holds, for show and delete. */
typedef struct {
    uint64_t users;
    uint64_t groups;
    uint64_t seats_released; /* delete --force */
} admin_counts_t;

/* Outcome of an upsert (import). */
typedef enum { ADMIN_ADDED = 0, ADMIN_UPDATED, ADMIN_UNCHANGED } admin_upsert_e;

/* Domains.  Search results are freed with mtr_ldap_result_free(). */
admin_status_e admin_domain_add(admin_ctx_t *ctx, const char *domain,
                                const admin_changes_t *c, mtr_err_t *err);
/* With users or groups inside, refused unless force: then the subtree
 * goes and each user's seat is released. */
admin_status_e admin_domain_del(admin_ctx_t *ctx, const char *domain, int force,
                                admin_counts_t *counts_r, mtr_err_t *err);
admin_status_e admin_domain_set(admin_ctx_t *ctx, const char *domain,
                                const admin_changes_t *c, int *changed_r,
                                mtr_err_t *err);
admin_status_e admin_domain_list(admin_ctx_t *ctx, mtr_ldap_result_t **res_r,
                                 mtr_err_t *err);
admin_status_e admin_domain_get(admin_ctx_t *ctx, const char *domain,
                                mtr_ldap_result_t **res_r,
                                admin_counts_t *counts_r, mtr_err_t *err);

/*
 * Users.  mail is local@domain.  password (clear text, may be NULL: no
 * password, the user cannot log in until one is set) goes through the
 * Password Modify operation after the add; if that fails, the entry is
 * deleted again and the seat released.  password_hash (may be NULL) is a
 * pre-hashed value from a migration (admin_check_password_hash).
 */
admin_status_e admin_user_add(admin_ctx_t *ctx, const char *mail,
                              const admin_changes_t *c, const char *password,
                              const char *password_hash, mtr_err_t *err);
/* Also takes the user out of every group; refused when the user is the
 * last member of a group (name in err). */
admin_status_e admin_user_del(admin_ctx_t *ctx, const char *mail,
                              mtr_err_t *err);
/* *changed_r (may be NULL): 0 when the entry already was as asked. */
admin_status_e admin_user_set(admin_ctx_t *ctx, const char *mail,
                              const admin_changes_t *c, int *changed_r,
                              mtr_err_t *err);
admin_status_e admin_user_passwd(admin_ctx_t *ctx, const char *mail,
                                 const char *password, mtr_err_t *err);
admin_status_e admin_user_get(admin_ctx_t *ctx, const char *mail,
                              mtr_ldap_result_t **res_r, mtr_err_t *err);
/* domain NULL: every domain. */
admin_status_e admin_user_list(admin_ctx_t *ctx, const char *domain,
                               mtr_ldap_result_t **res_r, mtr_err_t *err);

/*
 * Add the user, or bring an existing one to what c asks (import).  The
 * rule: only the fields in c are compared; a field not given is left as
 * it is; an existing user whose given fields all match is UNCHANGED and
 * nothing is written (the gate is not even asked); one that differs is
 * UPDATED with exactly the differing fields.  password and password_hash
 * apply to new users only: a re-run never resets a password.  With
 * no_update, a differing user is ADMIN_EXISTS naming the fields instead.
 */
admin_status_e admin_user_upsert(admin_ctx_t *ctx, const char *mail,
                                 const admin_changes_t *c, const char *password,
                                 const char *password_hash, int no_update,
                                 admin_upsert_e *what_r, mtr_err_t *err);

/* Groups.  Members are addresses of users (their DNs are stored). */
admin_status_e admin_group_add(admin_ctx_t *ctx, const char *addr,
                               const char *const *members, size_t nmembers,
                               const admin_changes_t *c, mtr_err_t *err);
admin_status_e admin_group_del(admin_ctx_t *ctx, const char *addr,
                               mtr_err_t *err);
admin_status_e admin_group_set(admin_ctx_t *ctx, const char *addr,
                               const admin_changes_t *c, int *changed_r,
                               mtr_err_t *err);
admin_status_e admin_group_get(admin_ctx_t *ctx, const char *addr,
                               mtr_ldap_result_t **res_r, mtr_err_t *err);
admin_status_e admin_group_list(admin_ctx_t *ctx, const char *domain,
                                mtr_ldap_result_t **res_r, mtr_err_t *err);
/* op ADMIN_ADD or ADMIN_DEL; removing the last member is refused. */
admin_status_e admin_group_members(admin_ctx_t *ctx, const char *addr,
                                   admin_op_e op, const char *const *members,
                                   size_t nmembers, int *changed_r,
                                   mtr_err_t *err);
/* The mail of the user entry dn, into out (ADMIN_ADDR_MAX + 1 bytes);
 * ADMIN_NOT_FOUND when it is gone. */
admin_status_e admin_member_mail(admin_ctx_t *ctx, const char *dn, char *out,
                                 size_t size, mtr_err_t *err);

/* Licenses.  install is never gated (it is how a renewal lifts a block). */
admin_status_e admin_license_install(admin_ctx_t *ctx, const char *text,
                                     size_t len, mtr_err_t *err);
/* A read: refresh, then lic_gate_status_text() into buf. */
admin_status_e admin_license_status(admin_ctx_t *ctx, char *buf, size_t size,
                                    lic_audit_t *audit_r, mtr_err_t *err);
/* fix: rewrite the Redis counter from the directory's count (bookkeeping
 * that grants nothing, so not gated). */
admin_status_e admin_license_audit(admin_ctx_t *ctx, int fix,
                                   lic_audit_t *audit_r, mtr_err_t *err);

#endif /* ADMIN_DIR_H */
