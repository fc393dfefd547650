/*
 * mquota_args.h -- the backend arguments of Mortar's Dovecot quota backend.
 *
 * Core: includes no Dovecot header.  Dovecot hands a quota backend the text
 * after "<backend>:<root name>:" of a quota root setting:
 *
 *   quota  = mortar:User quota:host=127.0.0.1:port=6380:timeout_ms=500
 *   quota2 = mortar:Domain pool:pool:host=127.0.0.1:port=6380
 *
 * Parameters are separated by ':' (Dovecot's own convention), so a value
 * cannot hold one; an IPv6 address goes in brackets (host=[::1]).
 *
 *   host=NAME        Redis host (default 127.0.0.1)
 *   port=N           Redis port, 1-65535 (default 6379)
 *   socket=/PATH     Redis unix socket instead of host/port
 *   db=N             SELECT N after connecting (default 0)
 *   password=TEXT    AUTH TEXT (prefer a socket with file permissions:
 *                    doveconf shows plugin settings)
 *   timeout_ms=N     connect and per-command timeout, 1-60000 (default 500)
 *   redis_down=tempfail|accept
 *                    what a save does when Redis cannot be reached: refuse
 *                    with a temporary error (default; LMTP answers 4xx and
 *                    the mail waits in Postfix's queue) or store the mail
 *                    without counting it
 *   pool             this root is the domain pool (default: the user's root)
 *   user             this root is the user's own (the default, explicit)
 *
 * and Dovecot's generic root parameters, which the glue applies:
 * noenforcing, hidden, ignoreunlimited, ns=PREFIX.
 *
 * A parameter given twice, an unknown one, an empty one, a bad number or a
 * value that does not fit its buffer is an error naming the parameter, so
 * a typo never silently falls back to a default.
 * Covered by tests/unit/test_mquota_args.c.
 */
#ifndef MQUOTA_ARGS_H
#define MQUOTA_ARGS_H

#include "mtr_core.h"
#include "mtr_redis.h"

#define MQUOTA_ARGS_MAX        4096 /* bytes of the whole argument text */
#define MQUOTA_HOST_MAX        255  /* a DNS name or an address */
#define MQUOTA_SOCKET_MAX      107  /* sun_path holds 108 bytes with the NUL */
#define MQUOTA_PASSWORD_MAX    256
#define MQUOTA_NS_MAX          255
#define MQUOTA_TIMEOUT_DEFAULT 500
#define MQUOTA_TIMEOUT_MAX     60000
#define MQUOTA_DB_MAX          65535

typedef enum {
    MQUOTA_ROLE_USER = 0, /* the user's own usage and limits */
    MQUOTA_ROLE_POOL      /* the domain's pooled usage and limit */
} mquota_role_e;

typedef enum {
    MQUOTA_DOWN_TEMPFAIL = 0, /* refuse saves with a temporary error */
    MQUOTA_DOWN_ACCEPT        /* save without counting (Dovecot's default) */
} mquota_down_e;

typedef struct {
    mquota_role_e role;
    mquota_down_e redis_down;
    char          host[MQUOTA_HOST_MAX + 1];     /* "": default */
    int           port;                          /* 0: default */
    char          socket[MQUOTA_SOCKET_MAX + 1]; /* "": TCP */
    int           db;
    int           timeout_ms;                        /* always set */
    char          password[MQUOTA_PASSWORD_MAX + 1]; /* "": no AUTH */

    /* Dovecot's generic parameters, for the glue to apply. */
    unsigned noenforcing : 1;
    unsigned hidden : 1;
    unsigned ignoreunlimited : 1;
    unsigned has_ns : 1;
    char     ns[MQUOTA_NS_MAX + 1];
} mquota_args_t;

/*
 * Parse len bytes of args (not NUL-terminated; NULL or empty gives the
 * defaults) into *a, which is fully overwritten.  Returns MTR_OK, or
 * MTR_ERROR with err naming the offending parameter; on error *a holds
 * the defaults.
 */
int mquota_args_parse(const char *args, size_t len, mquota_args_t *a,
                      mtr_err_t *err);

/*
 * Fill opts for mtr_redis_create() from a; the strings point into a, so a
 * must outlive the call to mtr_redis_create() (which copies them).
 */
void mquota_args_redis_opts(const mquota_args_t *a, mtr_redis_opts_t *opts);

/*
 * 1 if a and b name the same Redis (host, port, socket, db, password and
 * timeout all equal), else 0.  Roots and users that agree share one
 * connection per process.
 */
int mquota_args_same_redis(const mquota_args_t *a, const mquota_args_t *b);

/*
 * Describe the Redis of a for messages, without the password:
 * "127.0.0.1:6379", "[::1]:6380" or "unix:/run/redis.sock", then "/db"
 * when db is not 0.  Cut with "..." if size is too small (messages only).
 */
void mquota_args_describe(const mquota_args_t *a, char *buf, size_t size);

/* "tempfail" or "accept". */
const char *mquota_down_name(mquota_down_e down);

#endif /* MQUOTA_ARGS_H */
