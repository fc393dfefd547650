/*
 * mortar_policy.c -- glue of mortar-policy, Mortar's Postfix SMTPD access
 * policy service: sockets, threads, the directory, Redis, logging.  Every
 * decision is in the core (mpolicy.c, mpolicy_proto.c, mpolicy_rate.c,
 * mpolicy_grey.c); this file is covered by tests/integration/
 * test_policy.py and measured by bench/bench_policy.sh.
 *
 * NAME
 *      mortar-policy - Postfix policy service: RCPT-time quota, sender
 *      rate limits and greylisting
 *
 * SYNOPSIS
 *      mortar-policy [-f] [-t] [-c config_file]
 *
 * DESCRIPTION
 *      mortar-policy answers Postfix's check_policy_service requests
 *      (the SMTPD policy delegation protocol: name=value lines, an empty
 *      line, one "action=..." reply per request).  At RCPT it
 *
 *      -   refuses with "552 5.2.2" a recipient whose mailbox or domain
 *          storage pool cannot take the message, using the size the
 *          client announced with SIZE= (usage in Redis, mtr_quota.h;
 *          limits in the directory), so a full mailbox is refused while
 *          the client is connected instead of bounced later;
 *      -   defers with "450 4.7.1" an authenticated sender over its
 *          messages or recipients per hour (mortarRateLimitMessages,
 *          mortarRateLimitRecipients on the mortarUser, else on its
 *          mortarDomain), counted per user and per client address;
 *      -   greylists unauthenticated mail to domains with
 *          mortarGreylisting TRUE, with postgrey's rules and defaults.
 *
 *      Every other protocol state gets DUNNO.  All state lives in Redis,
 *      so any number of mortar-policy instances can serve one cluster.
 *      Directory settings are cached for cache_ttl seconds.
 *
 *      -c config_file
 *          The configuration (default /etc/mortar/mortar-policy.conf).
 *      -f  Stay in the foreground.  Without it the program detaches once
 *          its sockets are bound, and its exit status tells whether it
 *          started.
 *      -t  Check the configuration and exit (0 when valid).
 *
 *      Postfix main.cf:
 *          smtpd_recipient_restrictions = ...
 *              reject_unlisted_recipient,
 *              check_policy_service { unix:/run/mortar/policy.sock,
 *                  timeout=10s, default_action=DUNNO }
 *
 * CONFIGURATION
 *      key = value lines (libmortar's format); an unknown key, a key
 *      given twice or a malformed value stops the start with a message
 *      naming the file and line.
 *
 *      listen                 unix:/path and/or inet:host:port, separated
 *                             by blanks or commas (required)
 *      socket_mode            octal mode of unix sockets (0660)
 *      socket_group           group of unix sockets (Postfix's: postfix)
 *      user                   drop to this user after binding (none)
 *      pid_file               written at start, removed at exit (none)
 *      log                    syslog, stderr or an absolute file (syslog)
 *      log_level              err, warn, notice, info, debug (info)
 *      threads                worker threads (4)
 *      max_connections        open client connections (1000)
 *      idle_timeout           seconds before an idle client is closed (900)
 *      ldap_uri, ldap_base    the directory; ldap_base is searched for
 *                             mortarDomain and mortarUser entries
 *      ldap_bind_dn, ldap_bind_pw, ldap_timeout_ms (2000)
 *      redis_host (127.0.0.1), redis_port (6379), redis_unix,
 *      redis_password, redis_db (0), redis_timeout_ms (500)
 *      cache_ttl              seconds directory settings are fresh (60)
 *      cache_stale_max        seconds a stale setting may be served when
 *                             the directory is down (3600)
 *      cache_size             entries per cache (10000)
 *      quota, rate_limits, greylisting    the checks, yes or no (yes;
 *                             greylisting still needs mortarGreylisting
 *                             TRUE on the domain)
 *      rate_unauthenticated   also count unauthenticated mail whose
 *                             sender is in one of our domains, per client
 *                             address (no)
 *      greylist_delay (300), greylist_retry_window (172800),
 *      greylist_max_age (3024000), greylist_auto_allow (5; 0: off)
 *      quota_on_error, rate_on_error, greylist_on_error
 *                             dunno (fail open, the default) or defer
 *                             (451 4.3.0) when Redis or the directory
 *                             fails during that check
 *
 * SECURITY
 *      Started as root, mortar-policy binds its sockets, writes its pid
 *      file, opens its log, and then runs as `user` with no
 *      supplementary groups.  Unix sockets get socket_mode and
 *      socket_group, so only Postfix may ask.  Every request is capped
 *      (line length, attribute count, request size: mpolicy_proto.h);
 *      values reach LDAP filters escaped (RFC 4515) and Redis as
 *      binary-safe arguments, never as command text; log lines are
 *      masked to printable ASCII.  The configuration holds the LDAP
 *      password: keep it mode 0600.
 *
 * DIAGNOSTICS
 *      Logs to syslog (facility mail) or a file, each line about a
 *      request prefixed with Postfix's queue id (NOQUEUE before one
 *      exists).  notice: a refusal or deferral with its reason;
 *      warning: a failed dependency and what was done about it (check
 *      skipped or deferred), a malformed request; err: a start-up
 *      failure.  Refusals are also counted in Redis, in the hash
 *      mortar:policy:{<domain>}:stats (quota_rejected, rate_deferred,
 *      grey_deferred, grey_passed).  Start-up errors go to stderr and
 *      the exit status is 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <netdb.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "mtr_config.h"
#include "mtr_ldap.h"
#include "mtr_log.h"
#include "mtr_quota.h"
#include "mtr_redis.h"

#include "mpolicy.h"

#define MP_DEFAULT_CONFIG "/etc/mortar/mortar-policy.conf"
#define MP_LISTEN_MAX     8
#define MP_THREADS_MAX    256
#define MP_EVENTS         64
/* Replies waiting for a slow reader before we stop reading its requests. */
#define MP_OUT_MAX   (4 * MPOLICY_REPLY_MAX)
#define MP_IN_START  4096
#define MP_WARN_RATE 10 /* warnings per second and thread */

typedef struct {
    int  unix_socket;
    char path[sizeof(((struct sockaddr_un *) 0)->sun_path)];
    char host[256];
    char port[16];
    int  fd;
} mp_listener_t;

typedef struct {
    mtr_config_t    *cfg;
    mp_listener_t    listeners[MP_LISTEN_MAX];
    size_t           nlisteners;
    mode_t           socket_mode;
    const char      *socket_group;
    const char      *user;
    const char      *pid_file;
    const char      *log_dest;
    mtr_log_level_e  log_level;
    uint64_t         threads;
    uint64_t         max_connections;
    uint64_t         idle_timeout;
    mtr_ldap_opts_t  ldap;
    const char      *ldap_base;
    mtr_redis_opts_t redis;
    uint64_t         cache_ttl;
    uint64_t         cache_stale_max;
    uint64_t         cache_size;
    mpolicy_conf_t   policy;
} mp_settings_t;

typedef struct mp_conn_s mp_conn_t;

struct mp_conn_s {
    mp_conn_t        *prev, *next;
    int               fd;
    int               want_out; /* registered for EPOLLOUT */
    char             *in;
    size_t            in_len, in_size;
    char              out[MP_OUT_MAX];
    size_t            out_len, out_off;
    time_t            last_active;
    mpolicy_session_t session;
};

typedef struct {
    pthread_t          tid;
    unsigned           id;
    int                ep;
    mtr_redis_t       *redis;
    mtr_ldap_t        *ldap;
    mtr_redis_script_t rate_script;
    mtr_redis_script_t grey_get_script;
    mtr_redis_script_t grey_put_script;
    time_t             redis_down_until;
    mp_conn_t         *conns;
    time_t             warn_second;
    unsigned           warn_count;
    unsigned long      warn_suppressed;
    time_t             last_sweep;
} mp_worker_t;

static mp_settings_t S;
static int           stop_fd = -1;

static mpolicy_cache_t *domain_cache, *user_cache;
static pthread_mutex_t  cache_lock = PTHREAD_MUTEX_INITIALIZER;

static atomic_ulong n_conns;
static atomic_ulong n_requests, n_dunno, n_rejected, n_deferred, n_errors;

/* ---- configuration ------------------------------------------------------ */

static const char *const mp_known_keys[] = {
    "listen",
    "socket_mode",
    "socket_group",
    "user",
    "pid_file",
    "log",
    "log_level",
    "threads",
    "max_connections",
    "idle_timeout",
    "ldap_uri",
    "ldap_base",
    "ldap_bind_dn",
    "ldap_bind_pw",
    "ldap_timeout_ms",
    "redis_host",
    "redis_port",
    "redis_unix",
    "redis_password",
    "redis_db",
    "redis_timeout_ms",
    "cache_ttl",
    "cache_stale_max",
    "cache_size",
    "quota",
    "rate_limits",
    "rate_unauthenticated",
    "greylisting",
    "greylist_delay",
    "greylist_retry_window",
    "greylist_max_age",
    "greylist_auto_allow",
    "quota_on_error",
    "rate_on_error",
    "greylist_on_error",
    NULL,
};

static int
mp_bad(const char *key, const char *why, mtr_err_t *err)
{
    char where[256];

    return mtr_err_set(err, "%s: %s = \"%s\": %s",
                       mtr_config_where(S.cfg, key, where, sizeof(where)), key,
                       mtr_config_get(S.cfg, key), why);
}

static int
mp_parse_listen(const char *v, mtr_err_t *err)
{
    const char *p = v, *end;
    size_t      len;

    while (*p != '\0') {
        mp_listener_t *l;
        const char    *colon;

        p += strspn(p, " \t,");
        if (*p == '\0') {
            break;
        }

        len = strcspn(p, " \t,");
        end = p + len;

        if (S.nlisteners == MP_LISTEN_MAX) {
            return mp_bad("listen", "too many listeners", err);
        }

        l = &S.listeners[S.nlisteners];
        l->fd = -1;

        if (len > 5 && strncmp(p, "unix:", 5) == 0) {
            if (p[5] != '/' || len - 5 >= sizeof(l->path)) {
                return mp_bad("listen",
                              "a unix socket needs an absolute path "
                              "of at most 107 bytes",
                              err);
            }
            l->unix_socket = 1;
            memcpy(l->path, p + 5, len - 5);
            l->path[len - 5] = '\0';
        } else if (len > 5 && strncmp(p, "inet:", 5) == 0) {
            colon = NULL;
            for (const char *q = p + 5; q < end; q++) {
                if (*q == ':') {
                    colon = q;
                }
            }
            if (colon == NULL || colon == p + 5 || colon + 1 == end
                || (size_t) (colon - (p + 5)) >= sizeof(l->host)
                || (size_t) (end - colon - 1) >= sizeof(l->port))
            {
                return mp_bad("listen", "expected inet:host:port", err);
            }
            memcpy(l->host, p + 5, (size_t) (colon - (p + 5)));
            l->host[colon - (p + 5)] = '\0';
            memcpy(l->port, colon + 1, (size_t) (end - colon - 1));
            l->port[end - colon - 1] = '\0';
        } else {
            return mp_bad("listen",
                          "each entry is unix:/path or "
                          "inet:host:port",
                          err);
        }

        S.nlisteners++;
        p = end;
    }

    if (S.nlisteners == 0) {
        return mp_bad("listen", "no listener", err);
    }

    return MTR_OK;
}

static int
mp_get_int(const char *key, uint64_t def, uint64_t min, uint64_t max, int *v_r,
           mtr_err_t *err)
{
    uint64_t v;

    if (mtr_config_get_uint(S.cfg, key, def, min, max, &v, err) != MTR_OK) {
        return MTR_ERROR;
    }

    *v_r = (int) v;

    return MTR_OK;
}

static int
mp_get_on_error(const char *key, mpolicy_on_error_e *v_r, mtr_err_t *err)
{
    const char *v = mtr_config_get(S.cfg, key);

    if (v == NULL) {
        *v_r = MPOLICY_ON_ERROR_DUNNO;
        return MTR_OK;
    }

    if (mpolicy_on_error_parse(v, v_r) != MTR_OK) {
        return mp_bad(key, "expected dunno or defer", err);
    }

    return MTR_OK;
}

static int
mp_settings(const char *path, mtr_err_t *err)
{
    const char *v;
    char       *end;
    int         b;
    uint64_t    u;

    memset(&S, 0, sizeof(S));
    mpolicy_conf_default(&S.policy);

    if (mtr_config_load(path, &S.cfg, err) != MTR_OK
        || mtr_config_check_keys(S.cfg, mp_known_keys, err) != MTR_OK)
    {
        return MTR_ERROR;
    }

    if (mtr_config_require(S.cfg, "listen", &v, err) != MTR_OK
        || mp_parse_listen(v, err) != MTR_OK)
    {
        return MTR_ERROR;
    }

    S.socket_mode = 0660;
    v = mtr_config_get(S.cfg, "socket_mode");
    if (v != NULL) {
        errno = 0;
        u = strtoul(v, &end, 8);
        if (errno != 0 || end == v || *end != '\0' || u > 0777) {
            return mp_bad("socket_mode", "expected an octal mode such as 0660",
                          err);
        }
        S.socket_mode = (mode_t) u;
    }

    S.socket_group = mtr_config_get(S.cfg, "socket_group");
    if (S.socket_group != NULL && getgrnam(S.socket_group) == NULL) {
        return mp_bad("socket_group", "no such group", err);
    }

    S.user = mtr_config_get(S.cfg, "user");
    if (S.user != NULL && getpwnam(S.user) == NULL) {
        return mp_bad("user", "no such user", err);
    }

    S.pid_file = mtr_config_get(S.cfg, "pid_file");
    if (S.pid_file != NULL && S.pid_file[0] != '/') {
        return mp_bad("pid_file", "must be an absolute path", err);
    }

    S.log_dest = mtr_config_get(S.cfg, "log");
    if (S.log_dest == NULL) {
        S.log_dest = "syslog";
    }
    if (strcmp(S.log_dest, "syslog") != 0 && strcmp(S.log_dest, "stderr") != 0
        && S.log_dest[0] != '/')
    {
        return mp_bad("log", "expected syslog, stderr or an absolute path",
                      err);
    }

    S.log_level = MTR_LOG_INFO;
    v = mtr_config_get(S.cfg, "log_level");
    if (v != NULL && mtr_log_level_parse(v, &S.log_level) != MTR_OK) {
        return mp_bad("log_level", "expected err, warn, notice, info or debug",
                      err);
    }

    if (mtr_config_get_uint(S.cfg, "threads", 4, 1, MP_THREADS_MAX, &S.threads,
                            err)
            != MTR_OK
        || mtr_config_get_uint(S.cfg, "max_connections", 1000, 1, 1000000,
                               &S.max_connections, err)
               != MTR_OK
        || mtr_config_get_uint(S.cfg, "idle_timeout", 900, 1, 86400,
                               &S.idle_timeout, err)
               != MTR_OK)
    {
        return MTR_ERROR;
    }

    if (mtr_config_require(S.cfg, "ldap_uri", &S.ldap.uri, err) != MTR_OK
        || mtr_config_require(S.cfg, "ldap_base", &S.ldap_base, err) != MTR_OK
        || mp_get_int("ldap_timeout_ms", 2000, 1, 600000, &S.ldap.timeout_ms,
                      err)
               != MTR_OK)
    {
        return MTR_ERROR;
    }
    S.ldap.bind_dn = mtr_config_get(S.cfg, "ldap_bind_dn");
    S.ldap.bind_pw = mtr_config_get(S.cfg, "ldap_bind_pw");

    S.redis.host = mtr_config_get(S.cfg, "redis_host");
    S.redis.unix_path = mtr_config_get(S.cfg, "redis_unix");
    S.redis.password = mtr_config_get(S.cfg, "redis_password");
    if (mp_get_int("redis_port", MTR_REDIS_PORT_DEFAULT, 1, 65535,
                   &S.redis.port, err)
            != MTR_OK
        || mp_get_int("redis_db", 0, 0, 1000000, &S.redis.db, err) != MTR_OK
        || mp_get_int("redis_timeout_ms", 500, 1, 600000, &S.redis.timeout_ms,
                      err)
               != MTR_OK)
    {
        return MTR_ERROR;
    }

    if (mtr_config_get_uint(S.cfg, "cache_ttl", 60, 0, 86400, &S.cache_ttl, err)
            != MTR_OK
        || mtr_config_get_uint(S.cfg, "cache_stale_max", 3600, 0, 7 * 86400,
                               &S.cache_stale_max, err)
               != MTR_OK
        || mtr_config_get_uint(S.cfg, "cache_size", 10000, 1, 1000000,
                               &S.cache_size, err)
               != MTR_OK)
    {
        return MTR_ERROR;
    }

    if (mtr_config_get_bool(S.cfg, "quota", 1, &S.policy.quota, err) != MTR_OK
        || mtr_config_get_bool(S.cfg, "rate_limits", 1, &S.policy.rate, err)
               != MTR_OK
        || mtr_config_get_bool(S.cfg, "greylisting", 1, &S.policy.greylist, err)
               != MTR_OK
        || mtr_config_get_bool(S.cfg, "rate_unauthenticated", 0, &b, err)
               != MTR_OK)
    {
        return MTR_ERROR;
    }
    S.policy.rate_unauthenticated = b;

    if (mtr_config_get_uint(S.cfg, "greylist_delay", MPOLICY_GREY_DELAY, 1,
                            86400, &S.policy.grey.delay, err)
            != MTR_OK
        || mtr_config_get_uint(S.cfg, "greylist_retry_window",
                               MPOLICY_GREY_RETRY_WINDOW, 1, 365 * 86400,
                               &S.policy.grey.retry_window, err)
               != MTR_OK
        || mtr_config_get_uint(S.cfg, "greylist_max_age", MPOLICY_GREY_MAX_AGE,
                               1, 3650 * 86400, &S.policy.grey.max_age, err)
               != MTR_OK
        || mtr_config_get_uint(S.cfg, "greylist_auto_allow",
                               MPOLICY_GREY_AUTO_ALLOW, 0, 1000000,
                               &S.policy.grey.auto_allow, err)
               != MTR_OK)
    {
        return MTR_ERROR;
    }

    if (S.policy.grey.retry_window <= S.policy.grey.delay) {
        return mp_bad("greylist_retry_window",
                      "must be longer than greylist_delay", err);
    }

    if (mp_get_on_error("quota_on_error", &S.policy.quota_on_error, err)
            != MTR_OK
        || mp_get_on_error("rate_on_error", &S.policy.rate_on_error, err)
               != MTR_OK
        || mp_get_on_error("greylist_on_error", &S.policy.greylist_on_error,
                           err)
               != MTR_OK)
    {
        return MTR_ERROR;
    }

    return MTR_OK;
}

/* ---- listeners ---------------------------------------------------------- */

static int
mp_listen_unix(mp_listener_t *l, mtr_err_t *err)
{
    struct sockaddr_un sa;
    struct stat        st;
    struct group      *gr;
    mode_t             old_umask;
    int                fd, probe, rc;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, l->path, strlen(l->path) + 1);

    /* A socket left by a crash is removed; one that answers is in use. */
    if (lstat(l->path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            return mtr_err_set(err, "listen: %s exists and is no socket",
                               l->path);
        }
        probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0
            && connect(probe, (struct sockaddr *) &sa, sizeof(sa)) == 0) {
            close(probe);
            return mtr_err_set(err, "listen: %s is in use by another process",
                               l->path);
        }
        if (probe >= 0) {
            close(probe);
        }
        unlink(l->path);
    }

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return mtr_err_set(err, "listen: socket: %s", strerror(errno));
    }

    /*
     * The mode comes from the umask at bind(): a chmod() by path afterwards
     * would follow a link swapped in by whoever may write the directory.
     */
    old_umask = umask((mode_t) (~S.socket_mode & 0777));
    rc = bind(fd, (struct sockaddr *) &sa, sizeof(sa));
    umask(old_umask);

    if (rc != 0) {
        mtr_err_set(err, "listen: bind %s: %s", l->path, strerror(errno));
        close(fd);
        return MTR_ERROR;
    }

    if (S.socket_group != NULL || S.user != NULL) {
        uid_t uid = (uid_t) -1;
        gid_t gid = (gid_t) -1;

        if (S.user != NULL) {
            struct passwd *pw = getpwnam(S.user);

            if (pw != NULL) {
                uid = pw->pw_uid;
            }
        }

        if (S.socket_group != NULL && (gr = getgrnam(S.socket_group)) != NULL) {
            gid = gr->gr_gid;
        }

        /* Owned by `user`, so it can remove its own socket at exit;
         * lchown never follows a link. */
        if (lchown(l->path, uid, gid) != 0) {
            mtr_err_set(err, "listen: chown %s: %s", l->path, strerror(errno));
            close(fd);
            return MTR_ERROR;
        }
    }

    if (listen(fd, SOMAXCONN) != 0) {
        mtr_err_set(err, "listen: %s: %s", l->path, strerror(errno));
        close(fd);
        return MTR_ERROR;
    }

    l->fd = fd;

    return MTR_OK;
}

static int
mp_listen_inet(mp_listener_t *l, mtr_err_t *err)
{
    struct addrinfo hints, *ai, *a;
    int             fd = -1, rc, one = 1;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;

    rc = getaddrinfo(l->host, l->port, &hints, &ai);
    if (rc != 0) {
        return mtr_err_set(err, "listen: inet:%s:%s: %s", l->host, l->port,
                           gai_strerror(rc));
    }

    for (a = ai; a != NULL; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    a->ai_protocol);
        if (fd < 0) {
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0
            && listen(fd, SOMAXCONN) == 0) {
            break;
        }
        rc = errno;
        close(fd);
        fd = -1;
        errno = rc;
    }

    freeaddrinfo(ai);

    if (fd < 0) {
        return mtr_err_set(err, "listen: inet:%s:%s: %s", l->host, l->port,
                           strerror(errno));
    }

    l->fd = fd;

    return MTR_OK;
}

static void
mp_unlisten(void)
{
    size_t i;

    for (i = 0; i < S.nlisteners; i++) {
        if (S.listeners[i].fd >= 0) {
            close(S.listeners[i].fd);
            S.listeners[i].fd = -1;
            if (S.listeners[i].unix_socket) {
                unlink(S.listeners[i].path);
            }
        }
    }
}

/* ---- logging ------------------------------------------------------------ */

static const char *
mp_qid(const mpolicy_request_t *req, char *buf, size_t size)
{
    if (req->queue_id.len == 0) {
        return "NOQUEUE";
    }

    mtr_sanitize(buf, size, req->queue_id.data, req->queue_id.len);

    return buf;
}

/* At most MP_WARN_RATE warnings a second per thread: Redis down at 5,000
 * requests a second must not write 5,000 lines a second. */
static void
mp_warn(mp_worker_t *w, const char *qid, const char *msg)
{
    time_t now = time(NULL);

    if (now != w->warn_second) {
        if (w->warn_suppressed != 0) {
            mtr_log(MTR_LOG_WARN, "%lu similar warnings suppressed",
                    w->warn_suppressed);
        }
        w->warn_second = now;
        w->warn_count = 0;
        w->warn_suppressed = 0;
    }

    if (w->warn_count >= MP_WARN_RATE) {
        w->warn_suppressed++;
        return;
    }

    w->warn_count++;
    mtr_log(MTR_LOG_WARN, "%s: %s", qid, msg);
}

/* ---- directory and Redis, for the core ---------------------------------- */

static size_t
mp_lower(char *out, size_t size, mtr_str_t s)
{
    size_t i;

    if (s.len >= size) {
        return 0;
    }

    for (i = 0; i < s.len; i++) {
        char c = s.data[i];

        out[i] = (c >= 'A' && c <= 'Z') ? (char) (c + ('a' - 'A')) : c;
    }
    out[s.len] = '\0';

    return s.len;
}

static int
mp_printable(mtr_str_t s)
{
    size_t i;

    for (i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char) s.data[i];

        if (c <= ' ' || c == 0x7f) {
            return 0;
        }
    }

    return 1;
}

/* Look key up in cache; on a miss or a stale entry ask fetch().  A failed
 * fetch falls back to a stale entry: the directory being down must not
 * turn every setting off at once. */
static int
mp_cached(mpolicy_cache_t *cache, const char *key, size_t klen, void *value,
          int (*fetch)(mp_worker_t *, const char *, void *, mtr_err_t *),
          mp_worker_t *w, mtr_err_t *err)
{
    int64_t now = (int64_t) time(NULL);
    int     rc;

    pthread_mutex_lock(&cache_lock);
    rc = mpolicy_cache_get(cache, key, klen, now, value);
    pthread_mutex_unlock(&cache_lock);

    if (rc == MTR_OK) {
        return MTR_OK;
    }

    if (fetch(w, key, value, err) == MTR_OK) {
        pthread_mutex_lock(&cache_lock);
        mpolicy_cache_put(cache, key, klen, now, value);
        pthread_mutex_unlock(&cache_lock);
        return MTR_OK;
    }

    if (rc == MTR_AGAIN) {
        pthread_mutex_lock(&cache_lock);
        rc = mpolicy_cache_get(cache, key, klen, now, value);
        pthread_mutex_unlock(&cache_lock);
        if (rc != MTR_DECLINED) {
            mtr_log(MTR_LOG_DEBUG, "directory down: stale settings of %s", key);
            return MTR_OK;
        }
    }

    return MTR_ERROR;
}

static int
mp_fetch_domain(mp_worker_t *w, const char *name, void *value, mtr_err_t *err)
{
    static const char *const attrs[] = {
        "mortarDomainName",        "mortarDomainQuotaPool",
        "mortarRateLimitMessages", "mortarRateLimitRecipients",
        "mortarGreylisting",       NULL,
    };
    mpolicy_domain_t  *d = value;
    mtr_ldap_result_t *res = NULL;
    char               esc[3 * MTR_REDIS_DOMAIN_MAX + 1];
    char               filter[2 * sizeof(esc) + 128];
    const char        *v;
    int                rc;

    memset(d, 0, sizeof(*d));

    if (mtr_ldap_escape_filter(name, strlen(name), esc, sizeof(esc), NULL, err)
        != MTR_OK)
    {
        return MTR_ERROR;
    }

    snprintf(filter, sizeof(filter),
             "(&(objectClass=mortarDomain)(|(mortarDomainName=%s)"
             "(mortarDomainAlias=%s)))",
             esc, esc);

    rc = mtr_ldap_search(w->ldap, S.ldap_base, MTR_LDAP_SCOPE_SUB, filter,
                         attrs, 1, &res, err);
    if (rc != MTR_OK) {
        return MTR_ERROR;
    }

    if (res->nentries == 1) {
        const mtr_ldap_entry_t *e = &res->entries[0];
        mtr_str_t               dn;

        v = mtr_ldap_entry_get(e, "mortarDomainName");
        dn.data = v != NULL ? v : name;
        dn.len = strlen(dn.data);

        if (mp_lower(d->name, sizeof(d->name), dn) != 0) {
            d->found = 1;
            d->pool_bytes = mpolicy_ldap_uint(
                mtr_ldap_entry_get(e, "mortarDomainQuotaPool"), NULL);
            d->rate.messages = mpolicy_ldap_uint(
                mtr_ldap_entry_get(e, "mortarRateLimitMessages"), NULL);
            d->rate.recipients = mpolicy_ldap_uint(
                mtr_ldap_entry_get(e, "mortarRateLimitRecipients"), NULL);
            d->greylisting =
                mpolicy_ldap_bool(mtr_ldap_entry_get(e, "mortarGreylisting"));
        }
    }

    mtr_ldap_result_free(&res);

    return MTR_OK;
}

static int
mp_fetch_user(mp_worker_t *w, const char *address, void *value, mtr_err_t *err)
{
    static const char *const attrs[] = {
        "mail",
        "mortarQuotaBytes",
        "mortarQuotaMessages",
        "mortarRateLimitMessages",
        "mortarRateLimitRecipients",
        "mortarForwardAddress",
        "mortarForwardKeepCopy",
        NULL,
    };
    mpolicy_user_t    *u = value;
    mtr_ldap_result_t *res = NULL;
    char               esc[3 * MPOLICY_ADDR_MAX + 1];
    char               filter[2 * sizeof(esc) + 128];
    const char        *v;
    int                rc, set;

    memset(u, 0, sizeof(*u));

    if (mtr_ldap_escape_filter(address, strlen(address), esc, sizeof(esc), NULL,
                               err)
        != MTR_OK)
    {
        return MTR_ERROR;
    }

    snprintf(filter, sizeof(filter),
             "(&(objectClass=mortarUser)(|(mail=%s)(mortarMailAlias=%s)))", esc,
             esc);

    rc = mtr_ldap_search(w->ldap, S.ldap_base, MTR_LDAP_SCOPE_SUB, filter,
                         attrs, 1, &res, err);
    if (rc != MTR_OK) {
        return MTR_ERROR;
    }

    if (res->nentries == 1) {
        const mtr_ldap_entry_t *e = &res->entries[0];

        v = mtr_ldap_entry_get(e, "mail");
        if (v != NULL && strlen(v) < sizeof(u->mail)) {
            u->found = 1;
            memcpy(u->mail, v, strlen(v) + 1);
            u->quota_bytes = mpolicy_ldap_uint(
                mtr_ldap_entry_get(e, "mortarQuotaBytes"), NULL);
            u->quota_messages = mpolicy_ldap_uint(
                mtr_ldap_entry_get(e, "mortarQuotaMessages"), NULL);
            u->rate.messages = mpolicy_ldap_uint(
                mtr_ldap_entry_get(e, "mortarRateLimitMessages"), &set);
            u->rate_set |= set ? 1u : 0u;
            u->rate.recipients = mpolicy_ldap_uint(
                mtr_ldap_entry_get(e, "mortarRateLimitRecipients"), &set);
            u->rate_set |= set ? 2u : 0u;
            u->forward_only =
                mtr_ldap_entry_get(e, "mortarForwardAddress") != NULL
                && !mpolicy_ldap_bool(
                    mtr_ldap_entry_get(e, "mortarForwardKeepCopy"));
        }
    }

    mtr_ldap_result_free(&res);

    return MTR_OK;
}

static int
mp_op_domain(void *ctx, mtr_str_t name, mpolicy_domain_t *d, mtr_err_t *err)
{
    char key[MTR_REDIS_DOMAIN_MAX + 1];

    memset(d, 0, sizeof(*d));

    /* Not a name the directory could hold: not ours. */
    if (name.len == 0 || !mp_printable(name)
        || mp_lower(key, sizeof(key), name) == 0)
    {
        return MTR_OK;
    }

    return mp_cached(domain_cache, key, name.len, d, mp_fetch_domain, ctx, err);
}

static int
mp_op_user(void *ctx, mtr_str_t address, mpolicy_user_t *u, mtr_err_t *err)
{
    char key[MPOLICY_ADDR_MAX + 1];

    memset(u, 0, sizeof(*u));

    if (address.len == 0 || !mp_printable(address)
        || mp_lower(key, sizeof(key), address) == 0)
    {
        return MTR_OK;
    }

    return mp_cached(user_cache, key, address.len, u, mp_fetch_user, ctx, err);
}

/*
 * After a failed connect, Redis is not tried again for a second: with a
 * dead or black-holed server every request would otherwise wait for the
 * connect timeout before failing open.
 */
static int
mp_redis_ready(mp_worker_t *w, mtr_err_t *err)
{
    if (w->redis_down_until != 0 && time(NULL) < w->redis_down_until) {
        return mtr_err_set(err, "redis unavailable (last connect failed)");
    }

    return MTR_OK;
}

static int
mp_redis_done(mp_worker_t *w, int rc, const mtr_err_t *err)
{
    if (rc != MTR_OK && strncmp(err->msg, "redis connect", 13) == 0) {
        w->redis_down_until = time(NULL) + 1;
    } else if (rc == MTR_OK) {
        w->redis_down_until = 0;
    }

    return rc;
}

static int
mp_op_quota(void *ctx, const char *uk, const char *pk, mtr_quota_state_t *st,
            mtr_err_t *err)
{
    mp_worker_t *w = ctx;

    if (mp_redis_ready(w, err) != MTR_OK) {
        return MTR_ERROR;
    }

    return mp_redis_done(w, mtr_quota_get(w->redis, uk, pk, st, err), err);
}

static int
mp_op_rate(void *ctx, const mpolicy_rate_plan_t *plan,
           mpolicy_rate_result_t *res, mtr_err_t *err)
{
    mp_worker_t *w = ctx;

    if (mp_redis_ready(w, err) != MTR_OK) {
        return MTR_ERROR;
    }

    return mp_redis_done(
        w, mpolicy_rate_run(w->redis, &w->rate_script, plan, res, err), err);
}

static int
mp_op_grey_get(void *ctx, const mpolicy_grey_keys_t *k,
               mpolicy_grey_state_t *st, mtr_err_t *err)
{
    mp_worker_t *w = ctx;

    if (mp_redis_ready(w, err) != MTR_OK) {
        return MTR_ERROR;
    }

    return mp_redis_done(
        w, mpolicy_grey_get(w->redis, &w->grey_get_script, k, st, err), err);
}

static int
mp_op_grey_put(void *ctx, const mpolicy_grey_keys_t *k,
               const mpolicy_grey_decision_t *d, mtr_err_t *err)
{
    mp_worker_t *w = ctx;

    if (mp_redis_ready(w, err) != MTR_OK) {
        return MTR_ERROR;
    }

    return mp_redis_done(
        w, mpolicy_grey_put(w->redis, &w->grey_put_script, k, d, err), err);
}

static int
mp_op_count(void *ctx, mtr_str_t domain, const char *field, mtr_err_t *err)
{
    mp_worker_t *w = ctx;
    char         key[MTR_REDIS_DOMAIN_MAX + 32];
    const char  *argv[4];
    size_t       argvlen[4], klen;
    mtr_str_t    rest = mtr_string("stats");

    if (mp_redis_ready(w, err) != MTR_OK) {
        return MTR_ERROR;
    }

    if (mtr_redis_key(key, sizeof(key), "policy", domain, rest, &klen, err)
        != MTR_OK)
    {
        return MTR_ERROR;
    }

    argv[0] = "HINCRBY";
    argvlen[0] = 7;
    argv[1] = key;
    argvlen[1] = klen;
    argv[2] = field;
    argvlen[2] = strlen(field);
    argv[3] = "1";
    argvlen[3] = 1;

    return mp_redis_done(
        w, mtr_redis_argv(w->redis, 4, argv, argvlen, NULL, err), err);
}

/* ---- connections -------------------------------------------------------- */

static void
mp_close(mp_worker_t *w, mp_conn_t *c)
{
    epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);

    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        w->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }

    free(c->in);
    free(c);
    atomic_fetch_sub(&n_conns, 1);
}

static void
mp_accept(mp_worker_t *w, int lfd)
{
    struct epoll_event ev;
    mp_conn_t         *c;
    int                fd;

    for (;;) {
        fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                mp_warn(w, "-", "accept failed");
            }
            return;
        }

        if (atomic_fetch_add(&n_conns, 1) >= S.max_connections) {
            atomic_fetch_sub(&n_conns, 1);
            mp_warn(w, "-", "max_connections reached: connection refused");
            close(fd);
            continue;
        }

        c = calloc(1, sizeof(*c));
        if (c != NULL) {
            c->in = malloc(MP_IN_START);
        }
        if (c == NULL || c->in == NULL) {
            if (c != NULL) {
                free(c);
            }
            atomic_fetch_sub(&n_conns, 1);
            mp_warn(w, "-", "out of memory: connection refused");
            close(fd);
            continue;
        }

        c->fd = fd;
        c->in_size = MP_IN_START;
        c->last_active = time(NULL);

        memset(&ev, 0, sizeof(ev));
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.ptr = c;
        if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            free(c->in);
            free(c);
            atomic_fetch_sub(&n_conns, 1);
            close(fd);
            continue;
        }

        c->next = w->conns;
        if (w->conns != NULL) {
            w->conns->prev = c;
        }
        w->conns = c;
    }
}

static void
mp_handle(mp_worker_t *w, mp_conn_t *c, const mpolicy_request_t *req)
{
    static const char dunno[] = "action=DUNNO\n\n";
    mpolicy_ops_t     ops = {
            w,          mp_op_domain,   mp_op_user,     mp_op_quota,
            mp_op_rate, mp_op_grey_get, mp_op_grey_put, mp_op_count
    };
    mpolicy_result_t res;
    mtr_err_t        err;
    char             qidbuf[64];
    const char      *qid = mp_qid(req, qidbuf, sizeof(qidbuf));
    size_t           i, len;

    mpolicy_decide(&S.policy, &ops, &c->session, req, (int64_t) time(NULL),
                   &res);

    atomic_fetch_add(&n_requests, 1);

    for (i = 0; i < res.nwarn; i++) {
        atomic_fetch_add(&n_errors, 1);
        mp_warn(w, qid, res.warn[i]);
    }

    if (res.decided_by != MPOLICY_CHECK_NONE && res.note[0] != '\0') {
        mtr_log(res.action[0] == 'P' ? MTR_LOG_INFO : MTR_LOG_NOTICE,
                "%s: %s: action=%s", qid, res.note, res.action);
    } else if (res.decided_by != MPOLICY_CHECK_NONE) {
        mtr_log(MTR_LOG_NOTICE, "%s: action=%s", qid, res.action);
    }

    if (res.action[0] == '5') {
        atomic_fetch_add(&n_rejected, 1);
    } else if (res.action[0] == '4' || res.action[0] == 'D') {
        if (strcmp(res.action, "DUNNO") == 0) {
            atomic_fetch_add(&n_dunno, 1);
        } else {
            atomic_fetch_add(&n_deferred, 1);
        }
    }

    if (mpolicy_proto_reply(c->out + c->out_len, sizeof(c->out) - c->out_len,
                            res.action, &len, &err)
        != MTR_OK)
    {
        mp_warn(w, qid, err.msg);
        memcpy(c->out + c->out_len, dunno, sizeof(dunno) - 1);
        len = sizeof(dunno) - 1;
    }

    c->out_len += len;
}

/* Write what is pending; returns -1 when the connection must close. */
static int
mp_flush(mp_worker_t *w, mp_conn_t *c)
{
    struct epoll_event ev;
    ssize_t            n;

    while (c->out_off < c->out_len) {
        n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                break;
            }
            return -1;
        }
        c->out_off += (size_t) n;
    }

    if (c->out_off == c->out_len) {
        c->out_off = c->out_len = 0;
    }

    /* Wait for the reader: no new requests while replies are pending. */
    memset(&ev, 0, sizeof(ev));
    ev.data.ptr = c;

    if (c->out_len != 0 && !c->want_out) {
        ev.events = EPOLLOUT | EPOLLRDHUP;
        c->want_out = 1;
        epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
    } else if (c->out_len == 0 && c->want_out) {
        ev.events = EPOLLIN | EPOLLRDHUP;
        c->want_out = 0;
        epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
    }

    return 0;
}

/* Answer every whole request buffered; -1 when the connection must close. */
static int
mp_process(mp_worker_t *w, mp_conn_t *c)
{
    mpolicy_request_t req;
    mtr_err_t         err;
    size_t            used;
    int               rc;

    while (c->in_len != 0 && sizeof(c->out) - c->out_len >= MPOLICY_REPLY_MAX) {
        rc = mpolicy_proto_parse(c->in, c->in_len, &req, &used, &err);

        if (rc == MTR_AGAIN) {
            break;
        }

        if (rc != MTR_OK) {
            atomic_fetch_add(&n_errors, 1);
            mp_warn(w, "-", err.msg);
            return -1;
        }

        mp_handle(w, c, &req);

        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
    }

    return mp_flush(w, c);
}

static int
mp_read(mp_worker_t *w, mp_conn_t *c)
{
    ssize_t n;
    char   *p;

    if (c->in_len == c->in_size) {
        if (c->in_size >= MPOLICY_REQUEST_MAX) {
            /* The parser refuses a request this long before we get here. */
            return -1;
        }
        p = realloc(c->in, c->in_size * 2);
        if (p == NULL) {
            return -1;
        }
        c->in = p;
        c->in_size *= 2;
    }

    n = read(c->fd, c->in + c->in_len, c->in_size - c->in_len);
    if (n < 0) {
        return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0
                                                                           : -1;
    }

    if (n == 0) {
        return -1;
    }

    c->in_len += (size_t) n;
    c->last_active = time(NULL);

    return mp_process(w, c);
}

static void
mp_sweep(mp_worker_t *w, time_t now)
{
    mp_conn_t *c, *next;

    for (c = w->conns; c != NULL; c = next) {
        next = c->next;
        if (now - c->last_active > (time_t) S.idle_timeout) {
            mtr_log(MTR_LOG_DEBUG, "closing a connection idle for %llu s",
                    (unsigned long long) (now - c->last_active));
            mp_close(w, c);
        }
    }
}

static void *
mp_worker(void *arg)
{
    mp_worker_t       *w = arg;
    struct epoll_event evs[MP_EVENTS];
    mp_conn_t         *c;
    time_t             now;
    int                n, i, stop = 0;
    size_t             j;

    while (!stop) {
        n = epoll_wait(w->ep, evs, MP_EVENTS, 1000);
        if (n < 0 && errno != EINTR) {
            mtr_log(MTR_LOG_ERR, "epoll_wait: %s", strerror(errno));
            break;
        }

        for (i = 0; i < n; i++) {
            void *ptr = evs[i].data.ptr;

            if (ptr == &stop_fd) {
                stop = 1;
                break;
            }

            for (j = 0; j < S.nlisteners; j++) {
                if (ptr == &S.listeners[j]) {
                    mp_accept(w, S.listeners[j].fd);
                    break;
                }
            }
            if (j < S.nlisteners) {
                continue;
            }

            c = ptr;

            if (evs[i].events & EPOLLOUT) {
                if (mp_flush(w, c) != 0
                    || (c->out_len == 0 && mp_process(w, c) != 0)) {
                    mp_close(w, c);
                }
                continue;
            }

            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) {
                if (mp_read(w, c) != 0) {
                    mp_close(w, c);
                }
            }
        }

        now = time(NULL);
        if (now != w->last_sweep) {
            w->last_sweep = now;
            mp_sweep(w, now);
        }
    }

    while (w->conns != NULL) {
        mp_close(w, w->conns);
    }

    return NULL;
}

static int
mp_worker_init(mp_worker_t *w, unsigned id, mtr_err_t *err)
{
    struct epoll_event ev;
    size_t             i;
    mtr_redis_script_t rate = MTR_REDIS_SCRIPT(mpolicy_rate_lua);
    mtr_redis_script_t gget = MTR_REDIS_SCRIPT(mpolicy_grey_get_lua);
    mtr_redis_script_t gput = MTR_REDIS_SCRIPT(mpolicy_grey_put_lua);

    memset(w, 0, sizeof(*w));
    w->id = id;
    w->rate_script = rate;
    w->grey_get_script = gget;
    w->grey_put_script = gput;

    if (mtr_redis_create(&w->redis, &S.redis, err) != MTR_OK
        || mtr_ldap_create(&w->ldap, &S.ldap, err) != MTR_OK)
    {
        return MTR_ERROR;
    }

    w->ep = epoll_create1(EPOLL_CLOEXEC);
    if (w->ep < 0) {
        return mtr_err_set(err, "epoll_create1: %s", strerror(errno));
    }

    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.ptr = &stop_fd;
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, stop_fd, &ev) != 0) {
        return mtr_err_set(err, "epoll_ctl: %s", strerror(errno));
    }

    /* Every worker accepts; EPOLLEXCLUSIVE wakes one of them per client. */
    for (i = 0; i < S.nlisteners; i++) {
        ev.events = EPOLLIN | EPOLLEXCLUSIVE;
        ev.data.ptr = &S.listeners[i];
        if (epoll_ctl(w->ep, EPOLL_CTL_ADD, S.listeners[i].fd, &ev) != 0) {
            return mtr_err_set(err, "epoll_ctl: %s", strerror(errno));
        }
    }

    return MTR_OK;
}

static void
mp_worker_free(mp_worker_t *w)
{
    if (w->ep > 0) {
        close(w->ep);
    }
    mtr_redis_destroy(&w->redis);
    mtr_ldap_destroy(&w->ldap);
}

/* ---- process ------------------------------------------------------------ */

static int
mp_write_pid(mtr_err_t *err)
{
    char tmp[4096];
    int  fd, n;
    char buf[32];

    if (S.pid_file == NULL) {
        return MTR_OK;
    }

    n = snprintf(tmp, sizeof(tmp), "%s.tmp", S.pid_file);
    if (n < 0 || (size_t) n >= sizeof(tmp)) {
        return mtr_err_set(err, "pid_file: path too long");
    }

    /* Written after dropping privileges, and never through a link. */
    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        return mtr_err_set(err, "pid_file: %s: %s", tmp, strerror(errno));
    }

    n = snprintf(buf, sizeof(buf), "%ld\n", (long) getpid());
    if (write(fd, buf, (size_t) n) != n || close(fd) != 0
        || rename(tmp, S.pid_file) != 0)
    {
        mtr_err_set(err, "pid_file: %s: %s", S.pid_file, strerror(errno));
        unlink(tmp);
        return MTR_ERROR;
    }

    return MTR_OK;
}

static int
mp_drop_privileges(mtr_err_t *err)
{
    struct passwd *pw;

    if (S.user == NULL) {
        return MTR_OK;
    }

    pw = getpwnam(S.user);
    if (pw == NULL) {
        return mtr_err_set(err, "user %s: no such user", S.user);
    }

    if (getuid() != 0 && getuid() == pw->pw_uid) {
        return MTR_OK;
    }

    if (pw->pw_uid == 0) {
        return mtr_err_set(err, "user %s: refusing to run as root", S.user);
    }

    if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0
        || setuid(pw->pw_uid) != 0)
    {
        return mtr_err_set(err, "cannot become %s: %s", S.user,
                           strerror(errno));
    }

    /* Make sure there is no way back. */
    if (setuid(0) == 0) {
        return mtr_err_set(err, "could regain root after dropping to %s",
                           S.user);
    }

    return MTR_OK;
}

static void
mp_usage(void)
{
    fprintf(stderr, "usage: mortar-policy [-f] [-t] [-c config_file]\n");
    exit(2);
}

int
main(int argc, char **argv)
{
    const char  *config = MP_DEFAULT_CONFIG;
    int          foreground = 0, check = 0, opt, sig, ready[2] = { -1, -1 };
    mtr_err_t    err;
    mp_worker_t *workers = NULL;
    unsigned     i, started = 0;
    sigset_t     set;
    char         ok = 0;
    size_t       j;

    while ((opt = getopt(argc, argv, "c:ft")) != -1) {
        switch (opt) {
        case 'c':
            config = optarg;
            break;
        case 'f':
            foreground = 1;
            break;
        case 't':
            check = 1;
            break;
        default:
            mp_usage();
        }
    }

    if (optind != argc) {
        mp_usage();
    }

    mtr_err_clear(&err);

    if (mp_settings(config, &err) != MTR_OK) {
        fprintf(stderr, "mortar-policy: %s\n", err.msg);
        mtr_config_destroy(&S.cfg);
        return 1;
    }

    if (check) {
        printf("mortar-policy: %s: configuration OK\n", config);
        mtr_config_destroy(&S.cfg);
        return 0;
    }

    if (mtr_log_open("mortar-policy", S.log_dest, S.log_level, &err) != MTR_OK)
    {
        fprintf(stderr, "mortar-policy: log: %s\n", err.msg);
        return 1;
    }

    for (j = 0; j < S.nlisteners; j++) {
        int rc = S.listeners[j].unix_socket
                     ? mp_listen_unix(&S.listeners[j], &err)
                     : mp_listen_inet(&S.listeners[j], &err);

        if (rc != MTR_OK) {
            fprintf(stderr, "mortar-policy: %s\n", err.msg);
            mtr_log(MTR_LOG_ERR, "%s", err.msg);
            mp_unlisten();
            return 1;
        }
    }

    /*
     * Detach, but let the parent's exit status say whether the start
     * worked: it waits for one byte from the child.
     */
    if (!foreground) {
        pid_t pid;

        if (pipe2(ready, O_CLOEXEC) != 0) {
            fprintf(stderr, "mortar-policy: pipe: %s\n", strerror(errno));
            return 1;
        }

        pid = fork();
        if (pid < 0) {
            fprintf(stderr, "mortar-policy: fork: %s\n", strerror(errno));
            return 1;
        }

        if (pid > 0) {
            close(ready[1]);
            if (read(ready[0], &ok, 1) != 1) {
                ok = 0;
            }
            _exit(ok ? 0 : 1);
        }

        close(ready[0]);
        setsid();
    }

    if (mp_drop_privileges(&err) != MTR_OK || mp_write_pid(&err) != MTR_OK) {
        goto failed;
    }

    if (mpolicy_cache_create(&domain_cache, S.cache_size,
                             sizeof(mpolicy_domain_t), S.cache_ttl,
                             S.cache_stale_max, &err)
            != MTR_OK
        || mpolicy_cache_create(&user_cache, S.cache_size,
                                sizeof(mpolicy_user_t), S.cache_ttl,
                                S.cache_stale_max, &err)
               != MTR_OK)
    {
        goto failed;
    }

    stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (stop_fd < 0) {
        mtr_err_set(&err, "eventfd: %s", strerror(errno));
        goto failed;
    }

    /* Signals go to the main thread's sigwait(); workers never see them. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    workers = calloc(S.threads, sizeof(*workers));
    if (workers == NULL) {
        mtr_err_set(&err, "out of memory");
        goto failed;
    }

    for (i = 0; i < S.threads; i++) {
        if (mp_worker_init(&workers[i], i, &err) != MTR_OK) {
            mp_worker_free(&workers[i]);
            goto failed;
        }
        if (pthread_create(&workers[i].tid, NULL, mp_worker, &workers[i]) != 0)
        {
            mtr_err_set(&err, "pthread_create failed");
            mp_worker_free(&workers[i]);
            goto failed;
        }
        started++;
    }

    mtr_log(MTR_LOG_INFO,
            "started: %zu listener(s), %u threads, quota %s, rate limits %s, "
            "greylisting %s",
            S.nlisteners, started, S.policy.quota ? "on" : "off",
            S.policy.rate ? "on" : "off", S.policy.greylist ? "on" : "off");

    if (!foreground) {
        int fd = open("/dev/null", O_RDWR);

        ok = 1;
        if (write(ready[1], &ok, 1) != 1) {
            /* The parent is gone: nobody to tell. */
        }
        close(ready[1]);
        if (fd >= 0) {
            dup2(fd, 0);
            dup2(fd, 1);
            dup2(fd, 2);
            if (fd > 2) {
                close(fd);
            }
        }
    }

    for (;;) {
        if (sigwait(&set, &sig) != 0) {
            continue;
        }
        if (sig == SIGHUP) {
            pthread_mutex_lock(&cache_lock);
            mpolicy_cache_flush(domain_cache);
            mpolicy_cache_flush(user_cache);
            pthread_mutex_unlock(&cache_lock);
            mtr_log(MTR_LOG_INFO, "SIGHUP: directory caches flushed");
            continue;
        }
        break;
    }

    mtr_log(MTR_LOG_INFO, "stopping on signal %d", sig);
    ok = 1;
    goto done;

failed:

    mtr_log(MTR_LOG_ERR, "%s", err.msg);
    /* Still the caller's stderr: it is only let go once started. */
    fprintf(stderr, "mortar-policy: %s\n", err.msg);
    ok = 0;

done:

    if (stop_fd >= 0) {
        uint64_t one = 1;

        if (write(stop_fd, &one, sizeof(one)) != sizeof(one)) {
            /* Cannot happen with a fresh eventfd; the join would hang. */
        }
    }

    for (i = 0; i < started; i++) {
        pthread_join(workers[i].tid, NULL);
        mp_worker_free(&workers[i]);
    }
    free(workers);

    if (started != 0) {
        mtr_log(MTR_LOG_INFO,
                "stopped: %lu requests, %lu dunno, %lu rejected, %lu "
                "deferred, %lu warnings",
                atomic_load(&n_requests), atomic_load(&n_dunno),
                atomic_load(&n_rejected), atomic_load(&n_deferred),
                atomic_load(&n_errors));
    }

    mp_unlisten();
    if (S.pid_file != NULL) {
        unlink(S.pid_file);
    }
    if (stop_fd >= 0) {
        close(stop_fd);
    }

    mpolicy_cache_destroy(&domain_cache);
    mpolicy_cache_destroy(&user_cache);
    mtr_log_close();
    mtr_config_destroy(&S.cfg);

    if (!foreground && !ok && ready[1] >= 0) {
        close(ready[1]);
    }

    return ok ? 0 : 1;
}
