/*
 * lic_gate.h -- license enforcement for administrative changes: the one
 * core that the `mortar` command and the admin REST API both call.
 *
 * The gate reads the deployment id and the installed key from the
 * directory (attributes mortarDeploymentId and mortarLicenseKey on the
 * suffix entry, so every node of a deployment sees the same ones), keeps
 * the parsed key cached and re-reads it when it changed, counts seats in
 * Redis with one Lua script per operation, and watches the clock.
 *
 * Rules (README, "Licensing"):
 *   - Reads are never gated.  End-user functions (mail, IMAP/POP3, webmail,
 *     calendars) never call the gate at all.
 *   - Every administrative change calls lic_gate_admin_change() first: it
 *     is refused past not-after + grace, when no key is installed (except
 *     installing one), and when the key is not yet valid.
 *   - A change that creates a named user (every user entry, enabled or
 *     disabled, is a seat) also calls lic_gate_seat_reserve() before the
 *     directory write, and lic_gate_seat_release() when the write fails or
 *     the user is deleted.  The reservation is atomic in Redis however many
 *     admins and nodes add users at once; Redis unreachable refuses it.
 *   - The directory is the source of truth: lic_gate_audit() counts users
 *     in LDAP and, with fix, rewrites the Redis counter.
 *   - Clock turned back: the newest time seen by any node is kept in Redis;
 *     a "now" more than LIC_CLOCK_TOLERANCE earlier is reported, and the
 *     license is judged at the newest time seen, so turning the clock back
 *     never extends a license.
 *
 * Redis keys (hash-tagged by deployment id, DESIGN.md):
 *   mortar:seats:{<deployment>}   named users counted (string integer)
 *   mortar:clock:{<deployment>}   newest unix time seen by any node
 *
 * Time is always passed in (now, unix seconds).  Core: no logging; errors
 * and refusals in mtr_err_t, warnings in a caller buffer.
 * Covered by tests/unit/test_lic_gate.c (link-time mocks of mtr_ldap_* and
 * mtr_redis_*) and tests/integration/test_license.py.
 */
#ifndef LIC_GATE_H
#define LIC_GATE_H

#include "mtr_core.h"
#include "mtr_ldap.h"
#include "mtr_redis.h"
#include "lic_key.h"

#define LIC_CLOCK_TOLERANCE 300 /* seconds a node's clock may lag others */
#define LIC_WARN_MAX        MTR_ERR_MAX

typedef struct lic_gate_s lic_gate_t;

typedef struct {
    mtr_ldap_t    *ldap;   /* bound with write rights; borrowed */
    mtr_redis_t   *redis;  /* borrowed; may be unreachable */
    const char    *base;   /* directory suffix, e.g. "o=mortar" */
    const uint8_t *pubkey; /* trusted vendor key, LIC_PUBKEY_LEN bytes */
} lic_gate_opts_t;

typedef struct {
    uint32_t seats_licensed;  /* 0 when no key is installed */
    uint64_t seats_directory; /* user entries counted in LDAP */
    int64_t  seats_counter;   /* Redis counter; -1 when absent */
    int      fixed;           /* the counter was rewritten */
} lic_audit_t;

/*
 * Make a gate.  Reads nothing yet: the first call that needs the license
 * or the deployment id loads them.
 */
int  lic_gate_create(lic_gate_t **gp, const lic_gate_opts_t *opts,
                     mtr_err_t *err);
void lic_gate_destroy(lic_gate_t **gp);

/*
 * Re-read the deployment id and the key from the directory when they
 * changed since the last call (a long-lived process calls this before each
 * request; it costs one base-scope search).  A key in the directory that
 * no longer verifies is reported in err and the gate behaves as if none
 * were installed.  MTR_ERROR when the directory cannot be read.
 */
int lic_gate_refresh(lic_gate_t *g, mtr_err_t *err);

/* The installed key, or NULL; the deployment id, or NULL. */
const lic_t *lic_gate_license(const lic_gate_t *g);
const char  *lic_gate_deployment(const lic_gate_t *g);

/*
 * May an administrative change proceed at time now?  MTR_OK: yes, and when
 * the license is close to expiry, in grace, or the clock was turned back,
 * a warning is written to warn (NUL-terminated, empty otherwise).
 * MTR_DECLINED: refused, with a message in err that names the license and
 * its dates (or says that no key is installed).  MTR_ERROR: the directory
 * could not be read.
 */
int lic_gate_admin_change(lic_gate_t *g, int64_t now, char *warn,
                          size_t warn_size, mtr_err_t *err);

/*
 * Reserve one named-user seat, atomically (one Lua script).  MTR_OK:
 * reserved.  MTR_DECLINED: all seats are taken (err names the count).
 * MTR_ERROR: Redis unreachable or the counter could not be initialised
 * (err says so: the change must be refused).  When the counter is absent
 * it is first initialised from the directory's count (SET NX).
 */
int lic_gate_seat_reserve(lic_gate_t *g, mtr_err_t *err);

/* Give one seat back (never below zero). */
int lic_gate_seat_release(lic_gate_t *g, mtr_err_t *err);

/*
 * Install a key: parse and verify it, check it is for this deployment and
 * already valid (lic_check_key), and write it to the directory.  On any
 * refusal (MTR_DECLINED, reason in err) the key in force stays in force.
 * Installing is allowed even when admin changes are refused: it is how a
 * renewal lifts the restriction, at once, on every node.
 */
int lic_gate_install(lic_gate_t *g, const char *text, size_t len, int64_t now,
                     mtr_err_t *err);

/*
 * Count user entries in the directory and compare with the Redis counter;
 * with fix, set the counter to the directory's count.
 */
int lic_gate_audit(lic_gate_t *g, int fix, lic_audit_t *audit_r,
                   mtr_err_t *err);

/*
 * The seat usage and state in one human line for `license status`, e.g.
 * "license L-1 (ACME), Enterprise/Priority: 8 of 10 seats used; valid
 * until 2027-01-01 (35 days left)".
 */
int lic_gate_status_text(lic_gate_t *g, int64_t now, char *buf, size_t size,
                         mtr_err_t *err);

#endif /* LIC_GATE_H */
