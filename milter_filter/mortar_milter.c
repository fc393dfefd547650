/*
 * mortar_milter.c -- libmilter glue and main of mortar-milter.
 *
 * NAME
 *      mortar-milter - antivirus and antispam milter for Postfix
 *
 * SYNOPSIS
 *      mortar-milter [-t] [-c /etc/mortar/mortar-milter.conf]
 *
 * DESCRIPTION
 *      Postfix calls mortar-milter through smtpd_milters (mail received by
 *      SMTP, submission included) and non_smtpd_milters (mail from the
 *      sendmail command).  While Postfix hands the message over, it is
 *      streamed to clamd (zINSTREAM) chunk by chunk, and kept for the
 *      spam engine (spamd SPAMC/1.5 SYMBOLS, or rspamd POST /checkv2) --
 *      in memory up to 64 KB, beyond that in an unlinked spool file --
 *      which gets it at end of message while clamd finishes.  Memory
 *      stays flat whatever the message size.
 *
 *      Mail is outgoing when the client authenticated ({auth_authen}),
 *      when {daemon_name} equals outbound_daemon_name, or when it comes
 *      from the sendmail command; everything else is incoming.  Incoming
 *      mail follows each recipient's directory settings (mortarVirusScan,
 *      mortarSpamScan, mortarSpamThreshold, mortarSpamAction on the user,
 *      then its domain, then this file; cached directory_cache_ttl
 *      seconds, so a directory change takes effect within that time);
 *      with several recipients the
 *      strictest applies (see mfilter_policy.h).  mortarSenderBlock
 *      refuses the recipient at RCPT time; mortarSenderAllow exempts the
 *      message from spam handling for that recipient.  Outgoing spam is
 *      held (or rejected), never relayed.
 *
 *      Verdicts: a virus is rejected with 550 5.7.1 naming it (or held,
 *      virus_action = quarantine); spam is rejected, held in Postfix's
 *      hold queue, or delivered with X-Spam-Status, X-Spam-Score and
 *      X-Spam-Flag.  X-Virus-Scanned is added only after a real clean
 *      answer from clamd.  Our own headers are removed from incoming mail
 *      first, so a sender cannot forge them.
 *
 *      Counters per domain and UTC day go to the Redis hash
 *      mortar:milter:{domain}:YYYYMMDD (fields scanned, virus, spam,
 *      tempfail); a Redis failure is logged and never affects mail.
 *
 * CONFIGURATION
 *      key = value lines (libmortar format); every key is checked at start
 *      and an unknown key or bad value stops the daemon naming file:line.
 *      See conf/templates/mortar-milter.conf for every key and its
 *      default.  The fail modes:
 *        clamd_fail_action      tempfail | accept     (tempfail)
 *        spam_fail_action       tempfail | accept     (tempfail)
 *        virus_oversize_action  reject | accept       (reject)
 *        spam_oversize_action   reject | accept       (accept)
 *        directory_fail_action  tempfail | defaults   (tempfail)
 *      directory_cache_ttl (seconds, 60; 0 = no cache) and
 *      directory_cache_size (entries, 1024) bound the recipient cache.
 *      "accept" delivers with X-Mortar-Not-Scanned saying what was not
 *      done; nothing is ever stamped clean without a scan.  Postfix must
 *      use milter_default_action = tempfail so a dead milter loses no mail.
 *
 * SECURITY
 *      Runs as an unprivileged user (the launcher uses setpriv); needs to
 *      read its config (it holds the LDAP password: mode 0640), write the
 *      spool_dir (must be mode 0700, refused otherwise) and create the
 *      milter socket.  Spool files are O_TMPFILE: never visible, gone on
 *      crash.  Every wire length has a cap (mfilter_*.h); text from the
 *      wire is masked before it reaches a log, a header or a reply.
 *
 * DIAGNOSTICS
 *      Lines go to syslog (LOG_MAIL) or the file named by "log", each
 *      prefixed with the Postfix queue id: notice for every reject, hold
 *      and tempfail, info for accepted mail, warn for a degraded
 *      dependency (scanner, directory, Redis), err for our own failures.
 *      -t checks the config and exits 0, or 1 with the error on stderr.
 *
 * Glue only: translate libmilter calls, call the mfilter_* core, map the
 * result, log once.  Covered by tests/integration/test_milter.py and the
 * miltertest scripts under tests/milter/.
 */
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "mfilter_cache.h"
#include "mfilter_config.h"
#include "mfilter_policy.h"
#include "mfilter_scan.h"
#include "mtr_config.h"
#include "mtr_ldap.h"
#include "mtr_log.h"
#include "mtr_redis.h"

#define DOMAINS_MAX 32 /* distinct recipient domains counted per message */
#define QID_MAX     64
#define IP_MAX      64
#define HELO_MAX    255
#define OWN_MAX     8 /* slots in own_count: >= entries of own headers */
/* Largest milter packet accepted: Postfix sends a header in one packet
 * and allows 100 KB headers (header_size_limit); libmilter's default of
 * 64 KB would drop the connection, and Postfix would tempfail forever. */
#define MILTER_DATA_MAX (1024 * 1024)

/* Shared, read-only after start. */
static mtr_config_t    *g_raw;
static mfilter_config_t g_cfg;
static char             g_host[MFILTER_HOST_MAX + 1];
/* negotiate runs before connect and can only leave a pointer behind:
 * &g_marks[bits] carries what it agreed (NEG_* bits) to mf_connect. */
#define NEG_LEADSPC 0x01 /* SMFIP_HDR_LEADSPC */
#define NEG_NR_CONN 0x02 /* no reply to connect, helo, header, eoh, body */
#define NEG_NR_HELO 0x04
#define NEG_NR_HDR  0x08
#define NEG_NR_EOH  0x10
#define NEG_NR_BODY 0x20
#define NEG_MARKS   0x40
static char g_marks[NEG_MARKS];
static int  g_scan_never; /* virus_scan = spam_scan = no */

/*
 * One LDAP and one Redis client (libmortar: one thread at a time each).
 * libmilter runs every milter connection on a thread of its own, created
 * at connect and gone at close, so clients kept per thread were per SMTP
 * session: a TCP connect and an LDAP bind for every message.  They live
 * in a pool instead: a milter connection takes one on first use and gives
 * it back at close, so they outlive the sessions.
 */
typedef struct handles_s {
    mtr_ldap_t        *ldap;
    mtr_redis_t       *redis;
    mtr_redis_script_t count;
} handles_t;

#define HANDLES_IDLE_MAX 64 /* idle clients kept; more are closed */

/* The two pieces of shared mutable state, each behind its own mutex,
 * held only to pop/push a pointer or copy a cache slot. */
static pthread_mutex_t  g_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static handles_t       *g_pool[HANDLES_IDLE_MAX];
static size_t           g_pool_n;
static pthread_mutex_t  g_cache_lock = PTHREAD_MUTEX_INITIALIZER;
static mfilter_cache_t *g_cache; /* NULL: directory_cache_ttl = 0 */

static const char count_lua[] =
    "for i = 2, #ARGV do redis.call('HINCRBY', KEYS[1], ARGV[i], 1) end "
    "redis.call('EXPIRE', KEYS[1], ARGV[1]) return 1";

typedef struct {
    mfilter_scan_t *scan;
    handles_t      *h;       /* from the pool, on first use; back at close */
    int             local;   /* the sendmail command (connect port 0) */
    int             leadspc; /* SMFIP_HDR_LEADSPC negotiated */
    unsigned        neg;     /* NEG_* bits agreed with the MTA */
    char            ip[IP_MAX];
    char            helo[HELO_MAX + 1];
    /* per message */
    int              outbound;
    int              scanning;
    char             qid[QID_MAX];
    char             sender[MFILTER_ADDR_MAX + 1];
    size_t           sender_len;
    char             auth[MFILTER_ADDR_MAX + 1];
    mfilter_msgpol_t pol;
    char             domains[DOMAINS_MAX][MTR_REDIS_DOMAIN_MAX + 1];
    size_t           ndomains;
    int              own_count[OWN_MAX];
} conn_t;

/* ------------------------------------------------------------------ */

static void
handles_free(handles_t *h)
{
    mtr_ldap_destroy(&h->ldap);
    mtr_redis_destroy(&h->redis);
    free(h);
}

static handles_t *
handles_new(void)
{
    handles_t       *h;
    mtr_ldap_opts_t  lo;
    mtr_redis_opts_t ro;
    mtr_err_t        err;

    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return NULL;
    }
    h->count.source = count_lua;
    memset(&lo, 0, sizeof(lo));
    lo.uri = g_cfg.ldap_uri;
    lo.bind_dn = g_cfg.ldap_bind_dn;
    lo.bind_pw = g_cfg.ldap_bind_pw;
    lo.timeout_ms = (int) g_cfg.ldap_timeout_ms;
    if (mtr_ldap_create(&h->ldap, &lo, &err) != MTR_OK) {
        mtr_log(MTR_LOG_ERR, "ldap: %s", err.msg);
    }
    if (g_cfg.redis_host != NULL) {
        memset(&ro, 0, sizeof(ro));
        ro.host = g_cfg.redis_host;
        ro.port = (int) g_cfg.redis_port;
        ro.timeout_ms = (int) g_cfg.redis_timeout_ms;
        if (mtr_redis_create(&h->redis, &ro, &err) != MTR_OK) {
            mtr_log(MTR_LOG_ERR, "redis: %s", err.msg);
        }
    }
    return h;
}

/* This connection's clients: from the pool, or new.  NULL: out of memory. */
static handles_t *
conn_handles(conn_t *c)
{
    if (c->h != NULL) {
        return c->h;
    }
    pthread_mutex_lock(&g_pool_lock);
    if (g_pool_n > 0) {
        c->h = g_pool[--g_pool_n];
    }
    pthread_mutex_unlock(&g_pool_lock);
    if (c->h == NULL) {
        c->h = handles_new();
    }
    return c->h;
}

/* Give the clients back (they reconnect by themselves after an error). */
static void
handles_release(handles_t **hp)
{
    handles_t *h = *hp;

    if (h == NULL) {
        return;
    }
    *hp = NULL;
    pthread_mutex_lock(&g_pool_lock);
    if (g_pool_n < HANDLES_IDLE_MAX) {
        g_pool[g_pool_n++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&g_pool_lock);
    if (h != NULL) {
        handles_free(h);
    }
}

/* Seconds of a monotonic clock, for the cache (never 0). */
static uint64_t
now_sec(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec + 1;
}

static const char *
qid(SMFICTX *ctx, conn_t *c)
{
    const char *i;

    if (c->qid[0] == '\0') {
        i = smfi_getsymval(ctx, "i");
        if (i != NULL) {
            mtr_sanitize(c->qid, sizeof(c->qid), i, strlen(i));
        }
    }
    return c->qid[0] ? c->qid : "NOQUEUE";
}

/* Copy an envelope address without its <>; MTR_ERROR when too long. */
static int
envelope_addr(const char *arg, char *out, size_t size, size_t *len_r)
{
    size_t len = strlen(arg);

    if (len >= 2 && arg[0] == '<' && arg[len - 1] == '>') {
        arg++;
        len -= 2;
    }
    if (len >= size) {
        return MTR_ERROR;
    }
    memcpy(out, arg, len);
    out[len] = '\0';
    *len_r = len;
    return MTR_OK;
}

static void
add_domain(conn_t *c, const char *addr, size_t len)
{
    const char *at = memrchr(addr, '@', len);
    size_t      dlen, i;

    if (at == NULL) {
        return;
    }
    dlen = len - (size_t) (at + 1 - addr);
    if (dlen == 0 || dlen > MTR_REDIS_DOMAIN_MAX) {
        return;
    }
    for (i = 0; i < c->ndomains; i++) {
        if (strlen(c->domains[i]) == dlen
            && strncasecmp(c->domains[i], at + 1, dlen) == 0)
        {
            return;
        }
    }
    if (c->ndomains < DOMAINS_MAX) {
        memcpy(c->domains[c->ndomains], at + 1, dlen);
        c->domains[c->ndomains][dlen] = '\0';
        c->ndomains++;
    }
}

static void
message_reset(conn_t *c)
{
    if (c->scan != NULL) {
        mfilter_scan_reset(c->scan);
    }
    c->outbound = 0;
    c->scanning = 0;
    c->qid[0] = '\0';
    c->sender[0] = '\0';
    c->sender_len = 0;
    c->auth[0] = '\0';
    mfilter_msgpol_init(&c->pol);
    c->ndomains = 0;
    memset(c->own_count, 0, sizeof(c->own_count));
}

/* Add the per-domain counters of one event; failures only logged. */
static void
count(conn_t *c, const char *q, int scanned, int virus, int spam, int tempfail)
{
    handles_t  *h = conn_handles(c);
    char        key[400], day[16];
    const char *argv[6];
    size_t      argvlen[6], klen, i;
    int         argc = 0;
    time_t      now = time(NULL);
    struct tm   tm;
    mtr_err_t   err;
    mtr_str_t   dom, rest;

    if (h == NULL || h->redis == NULL || c->ndomains == 0) {
        return;
    }
    gmtime_r(&now, &tm);
    strftime(day, sizeof(day), "%Y%m%d", &tm);
    argv[argc++] = NULL;       /* the key, set per domain */
    argv[argc++] = "34560000"; /* 400 days */
    if (scanned) {
        argv[argc++] = "scanned";
    }
    if (virus) {
        argv[argc++] = "virus";
    }
    if (spam) {
        argv[argc++] = "spam";
    }
    if (tempfail) {
        argv[argc++] = "tempfail";
    }
    if (argc == 2) {
        return;
    }
    for (i = 1; i < (size_t) argc; i++) {
        argvlen[i] = strlen(argv[i]);
    }
    for (i = 0; i < c->ndomains; i++) {
        dom.data = c->domains[i];
        dom.len = strlen(c->domains[i]);
        rest.data = day;
        rest.len = strlen(day);
        if (mtr_redis_key(key, sizeof(key), "milter", dom, rest, &klen, &err)
            != MTR_OK) {
            continue;
        }
        argv[0] = key;
        argvlen[0] = klen;
        if (mtr_redis_eval(h->redis, &h->count, 1, argc, argv, argvlen, NULL,
                           &err)
            != MTR_OK)
        {
            mtr_log(MTR_LOG_WARN, "%s: counters not updated: %s", q, err.msg);
            return;
        }
    }
}

/* ------------------------------------------------------------------ */
/* Directory */

static char **
attr_values(const mtr_ldap_entry_t *e, const char *name, size_t *n_r)
{
    size_t i;

    *n_r = 0;
    for (i = 0; e != NULL && i < e->nattrs; i++) {
        if (strcasecmp(e->attrs[i].name, name) == 0) {
            *n_r = e->attrs[i].nvalues;
            return e->attrs[i].values;
        }
    }
    return NULL;
}

static int
entry_settings(const mtr_ldap_entry_t *e, mfilter_settings_t *s, mtr_err_t *err)
{
    return mfilter_settings_from_attrs(
        s, mtr_ldap_entry_get(e, "mortarVirusScan"),
        mtr_ldap_entry_get(e, "mortarSpamScan"),
        mtr_ldap_entry_get(e, "mortarSpamThreshold"),
        mtr_ldap_entry_get(e, "mortarSpamAction"), err);
}

static int
list_match(const conn_t *c, const mtr_ldap_entry_t *e, const char *attr)
{
    size_t n;
    char **v = attr_values(e, attr, &n);

    return v != NULL
           && mfilter_list_match(c->sender, c->sender_len,
                                 (const char *const *) v, n);
}

/* Pack one entry's values of attr into info; MTR_ERROR when they do not
 * fit (the info is then not cached). */
static int
info_add_list(mfilter_rcpt_info_t *info, const mtr_ldap_entry_t *e,
              const char *attr, int block)
{
    size_t n, i;
    char **v = attr_values(e, attr, &n);

    for (i = 0; v != NULL && i < n; i++) {
        if (mfilter_rcpt_info_add(info, block, v[i], strlen(v[i])) != MTR_OK) {
            return MTR_ERROR;
        }
    }
    return MTR_OK;
}

/*
 * Look up rcpt's user and domain entries: resolved settings, and whether
 * the sender is blocked or allowed.  MTR_ERROR when the directory failed.
 * What the directory says about a recipient (settings and lists, not the
 * verdict on this sender) is cached for directory_cache_ttl seconds.
 */
static int
rcpt_lookup(const char *q, conn_t *c, const char *rcpt, size_t len,
            mfilter_settings_t *out, int *blocked_r, int *allowed_r)
{
    static const char *const attrs[] = { "mortarVirusScan",
                                         "mortarSpamScan",
                                         "mortarSpamThreshold",
                                         "mortarSpamAction",
                                         "mortarSenderAllow",
                                         "mortarSenderBlock",
                                         NULL };
    handles_t               *h;
    char esc[3 * MFILTER_ADDR_MAX + 1], desc[3 * MFILTER_ADDR_MAX + 1];
    char filter[12 * MFILTER_ADDR_MAX], base[MFILTER_ADDR_MAX + 512];
    mtr_ldap_result_t  *res = NULL;
    mtr_ldap_entry_t   *ue = NULL, *de = NULL;
    mfilter_settings_t  us, ds;
    mfilter_rcpt_info_t info;
    const char         *at;
    mtr_err_t           err;
    size_t              i;
    uint64_t            now = 0;
    int                 rc, hit = MTR_DECLINED;

    *blocked_r = *allowed_r = 0;
    if (g_cache != NULL) {
        now = now_sec();
        pthread_mutex_lock(&g_cache_lock);
        hit = mfilter_cache_get(g_cache, rcpt, len, now, &info);
        pthread_mutex_unlock(&g_cache_lock);
    }
    if (hit == MTR_OK) {
        *out = info.settings;
        *blocked_r =
            mfilter_rcpt_info_match(&info, 1, c->sender, c->sender_len);
        *allowed_r =
            mfilter_rcpt_info_match(&info, 0, c->sender, c->sender_len);
        return MTR_OK;
    }
    h = conn_handles(c);
    if (h == NULL || h->ldap == NULL) {
        return MTR_ERROR;
    }
    at = memrchr(rcpt, '@', len);
    if (mtr_ldap_escape_filter(rcpt, len, esc, sizeof(esc), NULL, &err)
            != MTR_OK
        || mtr_ldap_escape_filter(at ? at + 1 : "",
                                  at ? len - (size_t) (at + 1 - rcpt) : 0, desc,
                                  sizeof(desc), NULL, &err)
               != MTR_OK)
    {
        return MTR_ERROR;
    }
    /* One round trip for the user and its domain. */
    snprintf(filter, sizeof(filter),
             "(|(&(objectClass=mortarUser)(|(mail=%s)(mortarMailAlias=%s)))"
             "(&(objectClass=mortarDomain)(mortarDomainName=%s)))",
             esc, esc, desc);
    snprintf(base, sizeof(base), "ou=domains,%s", g_cfg.ldap_base);
    rc = mtr_ldap_search(h->ldap, base, MTR_LDAP_SCOPE_SUB, filter, attrs, 0,
                         &res, &err);
    if (rc == MTR_ERROR) {
        mtr_log(MTR_LOG_WARN, "%s: directory: %s", q, err.msg);
        return MTR_ERROR;
    }
    for (i = 0; res != NULL && i < res->nentries; i++) {
        mtr_ldap_entry_t *e = &res->entries[i];

        if (strncasecmp(e->dn, "mortarDomainName=", 17) == 0) {
            if (de == NULL) {
                de = e;
            }
        } else if (ue == NULL) {
            ue = e;
        }
    }
    memset(&us, 0, sizeof(us));
    memset(&ds, 0, sizeof(ds));
    /* A malformed value is the admin's mistake: warn, use the next level. */
    if (ue != NULL && entry_settings(ue, &us, &err) != MTR_OK) {
        mtr_log(MTR_LOG_WARN, "%s: %s: %s", q, ue->dn, err.msg);
        memset(&us, 0, sizeof(us));
    }
    if (de != NULL && entry_settings(de, &ds, &err) != MTR_OK) {
        mtr_log(MTR_LOG_WARN, "%s: %s: %s", q, de->dn, err.msg);
        memset(&ds, 0, sizeof(ds));
    }
    mfilter_settings_resolve(out, &us, &ds, &g_cfg.defaults);
    *blocked_r = list_match(c, ue, "mortarSenderBlock")
                 || list_match(c, de, "mortarSenderBlock");
    *allowed_r = list_match(c, ue, "mortarSenderAllow")
                 || list_match(c, de, "mortarSenderAllow");
    if (g_cache != NULL) {
        mfilter_rcpt_info_init(&info, out);
        if (info_add_list(&info, ue, "mortarSenderBlock", 1) == MTR_OK
            && info_add_list(&info, de, "mortarSenderBlock", 1) == MTR_OK
            && info_add_list(&info, ue, "mortarSenderAllow", 0) == MTR_OK
            && info_add_list(&info, de, "mortarSenderAllow", 0) == MTR_OK)
        {
            pthread_mutex_lock(&g_cache_lock);
            mfilter_cache_put(g_cache, rcpt, len, now, &info);
            pthread_mutex_unlock(&g_cache_lock);
        }
    }
    mtr_ldap_result_free(&res);
    return MTR_OK;
}

/* ------------------------------------------------------------------ */
/* Callbacks */

/* Our connection state; NULL before connect or after a failed one. */
static conn_t *
conn_of(SMFICTX *ctx)
{
    void     *p = smfi_getpriv(ctx);
    uintptr_t u = (uintptr_t) p, m = (uintptr_t) g_marks;

    return u >= m && u < m + NEG_MARKS ? NULL : p;
}

/* The NEG_* bits negotiate left (0 when it did not run). */
static unsigned
negotiated(SMFICTX *ctx)
{
    uintptr_t u = (uintptr_t) smfi_getpriv(ctx), m = (uintptr_t) g_marks;

    return u >= m && u < m + NEG_MARKS ? (unsigned) (u - m) : 0;
}

/* CONTINUE, or NOREPLY where the MTA agreed not to wait for an answer
 * (libmilter insists on NOREPLY then). */
static sfsistat
go_on(const conn_t *c, unsigned nr_bit)
{
    return c != NULL && (c->neg & nr_bit) ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

static sfsistat
tempfail(SMFICTX *ctx, const char *text)
{
    smfi_setreply(ctx, "451", "4.7.1", (char *) text);
    return SMFIS_TEMPFAIL;
}

static sfsistat
mf_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *sa)
{
    conn_t   *c;
    mtr_err_t err;
    unsigned  neg;

    (void) host;
    neg = negotiated(ctx);
    c = calloc(1, sizeof(*c));
    smfi_setpriv(ctx, NULL);
    /* Without a reply to connect (NR_CONN) a failure shows at MAIL: every
     * callback tempfails without its connection state. */
    if (c == NULL) {
        mtr_log(MTR_LOG_ERR, "connect: out of memory");
        return (neg & NEG_NR_CONN) ? SMFIS_NOREPLY : SMFIS_TEMPFAIL;
    }
    if (mfilter_scan_create(&c->scan, &g_cfg, &err) != MTR_OK) {
        mtr_log(MTR_LOG_ERR, "connect: %s", err.msg);
        free(c);
        return (neg & NEG_NR_CONN) ? SMFIS_NOREPLY : SMFIS_TEMPFAIL;
    }
    /* Postfix's cleanup presents the sendmail command as 127.0.0.1 port 0;
     * no SMTP client ever has port 0. */
    if (sa != NULL && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *) sa;

        inet_ntop(AF_INET, &in->sin_addr, c->ip, sizeof(c->ip));
        c->local = in->sin_port == 0;
    } else if (sa != NULL && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;

        inet_ntop(AF_INET6, &in6->sin6_addr, c->ip, sizeof(c->ip));
        c->local = in6->sin6_port == 0;
    }
    c->leadspc = (neg & NEG_LEADSPC) != 0;
    c->neg = neg;
    message_reset(c);
    smfi_setpriv(ctx, c);
    return go_on(c, NEG_NR_CONN);
}

static sfsistat
mf_helo(SMFICTX *ctx, char *helo)
{
    conn_t *c = conn_of(ctx);

    if (c != NULL && helo != NULL) {
        mtr_sanitize(c->helo, sizeof(c->helo), helo, strlen(helo));
    }
    return go_on(c, NEG_NR_HELO);
}

static sfsistat
mf_envfrom(SMFICTX *ctx, char **argv)
{
    conn_t     *c = conn_of(ctx);
    const char *auth, *daemon;
    size_t      alen;

    if (c == NULL) {
        return SMFIS_TEMPFAIL;
    }
    message_reset(c);
    if (argv[0] == NULL
        || envelope_addr(argv[0], c->sender, sizeof(c->sender), &c->sender_len)
               != MTR_OK)
    {
        smfi_setreply(ctx, "553", "5.1.7", "Sender address too long");
        return SMFIS_REJECT;
    }
    auth = smfi_getsymval(ctx, "{auth_authen}");
    daemon = smfi_getsymval(ctx, "{daemon_name}");
    if (auth != NULL && auth[0] != '\0') {
        c->outbound = 1;
        envelope_addr(auth, c->auth, sizeof(c->auth), &alen);
    } else if (c->local
               || (daemon != NULL && g_cfg.outbound_daemon[0] != '\0'
                   && strcmp(daemon, g_cfg.outbound_daemon) == 0))
    {
        c->outbound = 1;
    }
    if (c->outbound) {
        mfilter_settings_t s = g_cfg.outbound;

        s.virus_scan = s.virus_scan && g_cfg.virus_scan;
        s.spam_scan = s.spam_scan && g_cfg.spam_scan;
        mfilter_msgpol_add(&c->pol, &s, 0);
        add_domain(c, c->sender, c->sender_len);
    }
    return SMFIS_CONTINUE;
}

static sfsistat
mf_envrcpt(SMFICTX *ctx, char **argv)
{
    conn_t            *c = conn_of(ctx);
    char               rcpt[MFILTER_ADDR_MAX + 1];
    size_t             len;
    mfilter_settings_t s;
    int                blocked, allowed;
    const char        *q;

    if (c == NULL) {
        return SMFIS_TEMPFAIL;
    }
    q = qid(ctx, c);
    if (argv[0] == NULL
        || envelope_addr(argv[0], rcpt, sizeof(rcpt), &len) != MTR_OK)
    {
        smfi_setreply(ctx, "553", "5.1.3", "Recipient address too long");
        return SMFIS_REJECT;
    }
    if (c->outbound) {
        return SMFIS_CONTINUE;
    }
    if (rcpt_lookup(q, c, rcpt, len, &s, &blocked, &allowed) != MTR_OK) {
        if (g_cfg.dir_fail == MFILTER_DIRFAIL_TEMPFAIL) {
            mtr_log(MTR_LOG_NOTICE, "%s: tempfail rcpt: directory unavailable",
                    q);
            return tempfail(ctx, "Directory unavailable, try again later");
        }
        s = g_cfg.defaults;
        blocked = allowed = 0;
    }
    if (blocked) {
        char safe_from[MFILTER_ADDR_MAX + 1], safe_to[MFILTER_ADDR_MAX + 1];

        mtr_sanitize(safe_from, sizeof(safe_from), c->sender, c->sender_len);
        mtr_sanitize(safe_to, sizeof(safe_to), rcpt, len);
        mtr_log(MTR_LOG_NOTICE,
                "%s: reject rcpt: from=<%s> to=<%s>: sender "
                "on the recipient's block list",
                q, safe_from, safe_to);
        smfi_setreply(ctx, "550", "5.7.1", "Sender blocked by the recipient");
        return SMFIS_REJECT;
    }
    s.virus_scan = s.virus_scan && g_cfg.virus_scan;
    s.spam_scan = s.spam_scan && g_cfg.spam_scan;
    mfilter_msgpol_add(&c->pol, &s, allowed);
    add_domain(c, rcpt, len);
    return SMFIS_CONTINUE;
}

static sfsistat
mf_data(SMFICTX *ctx)
{
    conn_t     *c = conn_of(ctx);
    const char *q;

    if (c == NULL) {
        return SMFIS_TEMPFAIL;
    }
    q = qid(ctx, c);
    if (!c->pol.virus_scan && !c->pol.spam_scan) {
        /* Nobody wants a scan: no stamp either, and no more callbacks. */
        mtr_log(MTR_LOG_DEBUG, "%s: no scan wanted", q);
        return SMFIS_ACCEPT;
    }
    c->scanning = 1;
    mfilter_scan_begin(c->scan, c->pol.virus_scan, c->pol.spam_scan);
    if (mfilter_scan_virus_state(c->scan) == MFILTER_SCAN_FAILED
        && g_cfg.modes.clamd_fail == MFILTER_FAIL_TEMPFAIL)
    {
        mtr_log(MTR_LOG_NOTICE, "%s: tempfail: %s", q,
                mfilter_scan_virus_reason(c->scan));
        mfilter_scan_reset(c->scan);
        count(c, q, 0, 0, 0, 1);
        return tempfail(ctx, "Virus scanner unavailable, try again later");
    }
    return SMFIS_CONTINUE;
}

static sfsistat
mf_header(SMFICTX *ctx, char *name, char *value)
{
    conn_t *c = conn_of(ctx);
    size_t  i, nlen, vlen;

    if (c == NULL || !c->scanning) {
        return go_on(c, NEG_NR_HDR);
    }
    nlen = strlen(name);
    for (i = 0; mfilter_own_headers[i] != NULL && i < OWN_MAX; i++) {
        if (strcasecmp(mfilter_own_headers[i], name) == 0) {
            c->own_count[i]++;
        }
    }
    vlen = strlen(value);
    mfilter_scan_write(c->scan, name, nlen);
    mfilter_scan_write(c->scan, ":", 1);
    mfilter_scan_write(c->scan, value, vlen);
    mfilter_scan_write(c->scan, "\r\n", 2);
    return go_on(c, NEG_NR_HDR);
}

static sfsistat
mf_eoh(SMFICTX *ctx)
{
    conn_t *c = conn_of(ctx);

    if (c != NULL && c->scanning) {
        mfilter_scan_write(c->scan, "\r\n", 2);
    }
    return go_on(c, NEG_NR_EOH);
}

static sfsistat
mf_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
    conn_t *c = conn_of(ctx);

    if (c == NULL || !c->scanning) {
        return go_on(c, NEG_NR_BODY);
    }
    mfilter_scan_write(c->scan, chunk, len);
    return go_on(c, NEG_NR_BODY);
}

static sfsistat
mf_eom(SMFICTX *ctx)
{
    conn_t               *c = conn_of(ctx);
    mfilter_scan_report_t rep;
    mfilter_decision_t    d;
    mfilter_rspamd_meta_t meta;
    char                  from[MFILTER_ADDR_MAX + 1], score[32];
    const char           *q;
    uint64_t              size;
    size_t                i;
    int                   n;
    sfsistat              rc = SMFIS_CONTINUE;

    if (c == NULL) {
        return SMFIS_TEMPFAIL;
    }
    if (!c->scanning) {
        message_reset(c);
        return SMFIS_CONTINUE;
    }
    q = qid(ctx, c);
    memset(&meta, 0, sizeof(meta));
    meta.queue_id = c->qid[0] ? c->qid : NULL;
    meta.from = c->sender;
    meta.ip = c->ip[0] ? c->ip : NULL;
    meta.helo = c->helo[0] ? c->helo : NULL;
    meta.user = c->auth[0] ? c->auth : NULL;
    size = mfilter_scan_size(c->scan);
    mfilter_scan_finish(c->scan, &meta, &rep);
    mfilter_decide(&c->pol, &rep, &g_cfg.modes, &d);

    /* Our own headers in the message are forgeries: remove them, last
     * first so the indexes stay valid. */
    for (i = 0; mfilter_own_headers[i] != NULL && i < OWN_MAX; i++) {
        for (n = c->own_count[i]; n > 0; n--) {
            smfi_chgheader(ctx, (char *) mfilter_own_headers[i], n, NULL);
        }
    }
    for (i = 0; i < d.nheaders; i++) {
        char value[MFILTER_HEADER_MAX + 1];

        /* With SMFIP_HDR_LEADSPC the value is written as given: the space
         * after the colon is ours to add. */
        snprintf(value, sizeof(value), "%s%s", c->leadspc ? " " : "",
                 d.headers[i].value);
        smfi_addheader(ctx, (char *) d.headers[i].name, value);
    }

    mtr_sanitize(from, sizeof(from), c->sender, c->sender_len);
    if (rep.spam == MFILTER_SCAN_DONE) {
        mfilter_format_score(rep.score, score, sizeof(score));
    } else {
        snprintf(score, sizeof(score), "-");
    }
    switch (d.verdict) {
    case MFILTER_VERDICT_ACCEPT:
        mtr_log(
            MTR_LOG_INFO,
            "%s: accept: from=<%s> %s size=%llu virus=%s spam=%s rules=%s%s%s",
            q, from, c->outbound ? "outbound" : "inbound",
            (unsigned long long) size,
            rep.virus == MFILTER_SCAN_DONE      ? "clean"
            : rep.virus == MFILTER_SCAN_SKIPPED ? "off"
                                                : "not-scanned",
            score, rep.rules[0] ? rep.rules : "-",
            rep.virus_reason[0] || rep.spam_reason[0] ? " note=" : "",
            rep.virus_reason[0] ? rep.virus_reason : rep.spam_reason);
        break;
    case MFILTER_VERDICT_QUARANTINE:
        mtr_log(MTR_LOG_NOTICE, "%s: hold: from=<%s> %s size=%llu: %s", q, from,
                c->outbound ? "outbound" : "inbound", (unsigned long long) size,
                d.text);
        smfi_quarantine(ctx, d.text);
        break;
    case MFILTER_VERDICT_REJECT:
        mtr_log(MTR_LOG_NOTICE, "%s: reject: from=<%s> %s size=%llu: %s %s %s",
                q, from, c->outbound ? "outbound" : "inbound",
                (unsigned long long) size, d.rcode, d.xcode, d.text);
        smfi_setreply(ctx, (char *) d.rcode, (char *) d.xcode, d.text);
        rc = SMFIS_REJECT;
        break;
    case MFILTER_VERDICT_TEMPFAIL:
        mtr_log(MTR_LOG_NOTICE, "%s: tempfail: from=<%s> size=%llu: %s%s%s", q,
                from, (unsigned long long) size, rep.virus_reason,
                rep.virus_reason[0] && rep.spam_reason[0] ? "; " : "",
                rep.spam_reason);
        smfi_setreply(ctx, (char *) d.rcode, (char *) d.xcode, d.text);
        rc = SMFIS_TEMPFAIL;
        break;
    }
    if (d.verdict == MFILTER_VERDICT_ACCEPT
        && (rep.virus_reason[0] || rep.spam_reason[0]))
    {
        mtr_log(MTR_LOG_WARN, "%s: delivered without a full scan: %s%s%s", q,
                rep.virus_reason,
                rep.virus_reason[0] && rep.spam_reason[0] ? "; " : "",
                rep.spam_reason);
    }
    count(c, q, d.count_scanned, d.count_virus, d.count_spam, d.count_tempfail);
    message_reset(c);
    return rc;
}

static sfsistat
mf_abort(SMFICTX *ctx)
{
    conn_t *c = conn_of(ctx);

    if (c != NULL) {
        message_reset(c);
    }
    return SMFIS_CONTINUE;
}

static sfsistat
mf_close(SMFICTX *ctx)
{
    conn_t *c = conn_of(ctx);

    /* libmilter may call close without connect: the private pointer is
     * then NULL, or the mark left by negotiate. */
    if (c != NULL) {
        mfilter_scan_destroy(&c->scan);
        handles_release(&c->h);
        free(c);
        smfi_setpriv(ctx, NULL);
    }
    return SMFIS_CONTINUE;
}

static sfsistat
mf_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
             unsigned long f3, unsigned long *pf0, unsigned long *pf1,
             unsigned long *pf2, unsigned long *pf3)
{
    unsigned long want = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE;
    unsigned long skip;
    unsigned      neg = 0;

    (void) f2;
    (void) f3;
    if ((f0 & want) != want) {
        mtr_log(MTR_LOG_ERR, "the MTA does not offer header changes and "
                             "quarantine; refusing to filter");
        return SMFIS_REJECT;
    }
    *pf0 = want;
    /* Header values exactly as sent (leading space kept) for spamd. */
    *pf1 = f1 & SMFIP_HDR_LEADSPC;
    /* No round trip for unknown commands. */
    *pf1 |= f1 & SMFIP_NOUNKNOWN;
    /* These callbacks never refuse anything, so the MTA need not wait for
     * their answers: one round trip less at connect and HELO, and none per
     * header line and body chunk. */
    *pf1 |= f1
            & (SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_HDR | SMFIP_NR_EOH
               | SMFIP_NR_BODY);
    /* With both scanners switched off nothing but the envelope matters
     * (block lists at RCPT): the MTA does not send HELO, headers or body
     * at all. */
    skip = SMFIP_NOHELO | SMFIP_NOHDRS | SMFIP_NOEOH | SMFIP_NOBODY;
    if (g_scan_never) {
        *pf1 |= f1 & skip;
    }
    neg |= (*pf1 & SMFIP_HDR_LEADSPC) ? NEG_LEADSPC : 0;
    neg |= (*pf1 & SMFIP_NR_CONN) ? NEG_NR_CONN : 0;
    neg |= (*pf1 & SMFIP_NR_HELO) ? NEG_NR_HELO : 0;
    neg |= (*pf1 & SMFIP_NR_HDR) ? NEG_NR_HDR : 0;
    neg |= (*pf1 & SMFIP_NR_EOH) ? NEG_NR_EOH : 0;
    neg |= (*pf1 & SMFIP_NR_BODY) ? NEG_NR_BODY : 0;
    /* negotiate runs before connect: leave the bits for mf_connect */
    smfi_setpriv(ctx, &g_marks[neg]);
    *pf2 = 0;
    *pf3 = 0;
    return SMFIS_CONTINUE;
}

static struct smfiDesc filter = {
    "mortar-milter",
    SMFI_VERSION,
    SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE,
    mf_connect,
    mf_helo,
    mf_envfrom,
    mf_envrcpt,
    mf_header,
    mf_eoh,
    mf_body,
    mf_eom,
    mf_abort,
    mf_close,
    NULL, /* unknown */
    mf_data,
    mf_negotiate,
};

/* ------------------------------------------------------------------ */

static void
usage(void)
{
    fprintf(stderr, "usage: mortar-milter [-t] [-c config]\n");
    exit(2);
}

static int
check_spool(const char *dir, mtr_err_t *err)
{
    struct stat st;
    char        where[256];

    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return mtr_err_set(
            err, "%s: spool_dir %s: %s",
            mtr_config_where(g_raw, "spool_dir", where, sizeof(where)), dir,
            errno ? strerror(errno) : "not a directory");
    }
    if ((st.st_mode & 077) != 0) {
        return mtr_err_set(
            err,
            "%s: spool_dir %s must be private (mode 0700), "
            "it is %04o",
            mtr_config_where(g_raw, "spool_dir", where, sizeof(where)), dir,
            (unsigned) (st.st_mode & 07777));
    }
    return MTR_OK;
}

int
main(int argc, char **argv)
{
    const char *path = "/etc/mortar/mortar-milter.conf";
    int         opt, test_only = 0;
    mtr_err_t   err;

    while ((opt = getopt(argc, argv, "c:th")) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 't':
            test_only = 1;
            break;
        default:
            usage();
        }
    }
    if (optind != argc) {
        usage();
    }
    if (mtr_config_load(path, &g_raw, &err) != MTR_OK
        || mfilter_config_read(&g_cfg, g_raw, &err) != MTR_OK
        || check_spool(g_cfg.spool_dir, &err) != MTR_OK)
    {
        fprintf(stderr, "mortar-milter: %s\n", err.msg);
        return 1;
    }
    if (test_only) {
        printf("mortar-milter: %s: configuration OK\n", path);
        return 0;
    }
    if (g_cfg.hostname != NULL) {
        snprintf(g_host, sizeof(g_host), "%s", g_cfg.hostname);
    } else if (gethostname(g_host, sizeof(g_host) - 1) != 0) {
        snprintf(g_host, sizeof(g_host), "localhost");
    }
    g_cfg.modes.host = g_host;
    if (mtr_log_open("mortar-milter", g_cfg.log, g_cfg.log_level, &err)
        != MTR_OK) {
        fprintf(stderr, "mortar-milter: log: %s\n", err.msg);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    g_scan_never = !g_cfg.virus_scan && !g_cfg.spam_scan;
    if (g_cfg.dir_cache_ttl > 0
        && mfilter_cache_create(&g_cache, (size_t) g_cfg.dir_cache_size,
                                g_cfg.dir_cache_ttl, &err)
               != MTR_OK)
    {
        mtr_log(MTR_LOG_ERR, "directory cache: %s", err.msg);
        return 1;
    }
    /* The socket: group-writable for Postfix, nothing for others. */
    umask(007);
    if (smfi_setconn((char *) g_cfg.socket) == MI_FAILURE
        || smfi_settimeout((int) g_cfg.milter_timeout) == MI_FAILURE
        || smfi_setmaxdatasize(MILTER_DATA_MAX) <= 0
        || smfi_register(filter) == MI_FAILURE
        || smfi_opensocket(1) == MI_FAILURE)
    {
        mtr_log(MTR_LOG_ERR, "cannot open milter socket %s", g_cfg.socket);
        fprintf(stderr, "mortar-milter: cannot open milter socket %s\n",
                g_cfg.socket);
        return 1;
    }
    mtr_log(MTR_LOG_INFO, "started on %s: clamd %s:%llu, %s %s:%llu",
            g_cfg.socket, g_cfg.clamd_host,
            (unsigned long long) g_cfg.clamd_port,
            g_cfg.spam_engine == MFILTER_SPAM_RSPAMD ? "rspamd" : "spamd",
            g_cfg.spam_engine == MFILTER_SPAM_RSPAMD ? g_cfg.rspamd_host
                                                     : g_cfg.spamd_host,
            (unsigned long long) (g_cfg.spam_engine == MFILTER_SPAM_RSPAMD
                                      ? g_cfg.rspamd_port
                                      : g_cfg.spamd_port));
    opt = smfi_main();
    mtr_log(MTR_LOG_INFO, "stopped");
    mtr_log_close();
    mfilter_cache_destroy(&g_cache);
    mtr_config_destroy(&g_raw);
    return opt == MI_SUCCESS ? 0 : 1;
}
