/*
 * mfilter_policy.h -- verdicts, settings and header text of mortar-milter.
 *
 * Core (no libmilter header, no I/O, no logging): everything mortar-milter
 * decides about a message lives here, so it is tested without a mail
 * server.  Covered by tests/unit/test_mfilter_policy.c.
 *
 * Settings come from three places, most specific first: the recipient's
 * user entry, its domain entry (mortarVirusScan, mortarSpamScan,
 * mortarSpamThreshold, mortarSpamAction) and the daemon's config.  One
 * message may go to recipients whose settings differ; a milter sees one
 * copy and gives one answer, so the message policy is the strictest one:
 * the virus scan runs if any recipient wants it, and a spam score applies
 * the strictest action among the recipients whose threshold it reaches.
 * Allow lists count per recipient (an allowed sender is not spam for that
 * recipient only); block lists are refused per recipient at RCPT time.
 *
 * Scores are integers in thousandths of a point (5.0 is 5000), so no
 * floating point reaches a decision.
 */
#ifndef MFILTER_POLICY_H
#define MFILTER_POLICY_H
#include <stddef.h>
#include <stdint.h>

#include "mtr_core.h"

/* Caps on text that comes from the wire or the directory. */
#define MFILTER_ADDR_MAX      320  /* an envelope address, as in the schema */
#define MFILTER_VIRUS_MAX     200  /* a virus name kept from clamd */
#define MFILTER_RULES_MAX     700  /* rule list: keeps a header < 998 */
#define MFILTER_REASON_MAX    200  /* why a scan did not happen */
#define MFILTER_HOST_MAX      253  /* our name in X-Virus-Scanned */
#define MFILTER_HEADER_MAX    1100 /* one generated header value */
#define MFILTER_SCORE_LIMIT   1000000000 /* |score| in thousandths */
#define MFILTER_THRESHOLD_MAX 1000000    /* |threshold| in thousandths */

/* Ordered from mildest to strictest: comparisons rely on it. */
typedef enum {
    MFILTER_ACTION_TAG = 0,
    MFILTER_ACTION_QUARANTINE = 1,
    MFILTER_ACTION_REJECT = 2
} mfilter_action_e;
#define MFILTER_ACTION_COUNT 3

/* What happens when a scanner is down, slow or answers garbage. */
typedef enum {
    MFILTER_FAIL_TEMPFAIL = 0, /* 451 4.7.1: the message stays queued */
    MFILTER_FAIL_ACCEPT = 1    /* deliver, with X-Mortar-Not-Scanned */
} mfilter_fail_e;

/* What happens to a message larger than a scanner accepts. */
typedef enum {
    MFILTER_OVERSIZE_REJECT = 0, /* 552 5.3.4 */
    MFILTER_OVERSIZE_ACCEPT = 1  /* deliver, with X-Mortar-Not-Scanned */
} mfilter_oversize_e;

/* The final answer to Postfix. */
typedef enum {
    MFILTER_VERDICT_ACCEPT = 0,     /* deliver (headers may be added) */
    MFILTER_VERDICT_QUARANTINE = 1, /* hold queue (headers added too) */
    MFILTER_VERDICT_REJECT = 2,     /* 5xx with code/xcode/text */
    MFILTER_VERDICT_TEMPFAIL = 3    /* 4xx with code/xcode/text */
} mfilter_verdict_e;

/* Result of one scanner on one message. */
typedef enum {
    MFILTER_SCAN_SKIPPED = 0, /* nobody wanted it: no header either */
    MFILTER_SCAN_DONE = 1,    /* clean (virus) or scored (spam) */
    MFILTER_SCAN_FOUND = 2,   /* virus only: infected */
    MFILTER_SCAN_OVERSIZE = 3,
    MFILTER_SCAN_FAILED = 4
} mfilter_scan_e;

/* One level of settings; has_* says whether the level sets the field. */
typedef struct {
    unsigned         has_virus_scan : 1;
    unsigned         has_spam_scan : 1;
    unsigned         has_threshold : 1;
    unsigned         has_action : 1;
    int              virus_scan;
    int              spam_scan;
    int32_t          threshold; /* thousandths */
    mfilter_action_e action;
} mfilter_settings_t;

/*
 * The policy of one message, built recipient by recipient.  min_thr[a] is
 * the lowest threshold among the recipients whose spam action is a (and
 * who scan spam and do not allow the sender); INT32_MAX when none.
 */
typedef struct {
    int     virus_scan;
    int     spam_scan;
    int32_t min_thr[MFILTER_ACTION_COUNT];
    size_t  nrcpt;
} mfilter_msgpol_t;

/* What the scanners said, filled by the glue from mfilter_scan_result_t. */
typedef struct {
    mfilter_scan_e virus;
    char           virus_name[MFILTER_VIRUS_MAX + 1];
    char           virus_reason[MFILTER_REASON_MAX + 1];
    mfilter_scan_e spam;
    int32_t        score; /* thousandths, valid when spam == DONE */
    char           rules[MFILTER_RULES_MAX + 1];
    char           spam_reason[MFILTER_REASON_MAX + 1];
    const char    *spam_engine; /* "spamd" or "rspamd" */
} mfilter_scan_report_t;

/* The fail-mode settings that shape a verdict (from the config). */
typedef struct {
    mfilter_action_e   virus_action; /* REJECT or QUARANTINE */
    mfilter_fail_e     clamd_fail;
    mfilter_fail_e     spam_fail;
    mfilter_oversize_e virus_oversize;
    mfilter_oversize_e spam_oversize;
    const char        *host; /* our name in X-Virus-Scanned */
} mfilter_modes_t;

#define MFILTER_HDR_COUNT 5
typedef struct {
    const char *name;
    char        value[MFILTER_HEADER_MAX];
} mfilter_header_t;

/* Everything the glue does at end of message. */
typedef struct {
    mfilter_verdict_e verdict;
    const char       *rcode; /* "550" ... for REJECT and TEMPFAIL */
    const char       *xcode; /* "5.7.1" ... */
    char              text[MFILTER_HEADER_MAX]; /* reply or hold reason */
    mfilter_header_t  headers[MFILTER_HDR_COUNT];
    size_t            nheaders;
    /* Counters this message adds (Redis, per domain and day). */
    unsigned count_scanned : 1;
    unsigned count_virus : 1;
    unsigned count_spam : 1;
    unsigned count_tempfail : 1;
} mfilter_decision_t;

/*
 * Headers we write and therefore remove from incoming mail first, so a
 * sender cannot forge a clean stamp.  NULL-terminated.
 */
extern const char *const mfilter_own_headers[];

/* True when name[0..len) is one of mfilter_own_headers (any case). */
int mfilter_is_own_header(const char *name, size_t len);

/*
 * Parse a score or threshold such as "5", "-0.5", "1000.0" or "12.345"
 * (an optional '-', digits, an optional '.' and digits; digits past the
 * third decimal are dropped) into thousandths, refusing |value| >
 * limit.  MTR_OK or MTR_ERROR with err set.
 */
int mfilter_parse_score(const char *s, size_t len, int32_t limit,
                        int32_t *score_r, mtr_err_t *err);

/* Format thousandths with one decimal, rounded half away: "1000.0". */
void mfilter_format_score(int32_t score, char *buf, size_t size);

/* "reject", "quarantine", "tag" (any case).  MTR_OK or MTR_ERROR. */
int         mfilter_action_parse(const char *s, mfilter_action_e *action_r);
const char *mfilter_action_name(mfilter_action_e a);

/*
 * Fill s from directory values (NUL-terminated, NULL when the attribute is
 * absent): booleans "TRUE"/"FALSE" (LDAP syntax, any case), threshold
 * per mfilter_parse_score within MFILTER_THRESHOLD_MAX, action per
 * mfilter_action_parse.  A malformed value is MTR_ERROR naming it; the
 * caller decides whether to fall back.
 */
int mfilter_settings_from_attrs(mfilter_settings_t *s, const char *virus,
                                const char *spam, const char *threshold,
                                const char *action, mtr_err_t *err);

/*
 * out = user over domain over defaults, field by field (defaults must set
 * every field; user and domain may be NULL).
 */
void mfilter_settings_resolve(mfilter_settings_t       *out,
                              const mfilter_settings_t *user,
                              const mfilter_settings_t *domain,
                              const mfilter_settings_t *defaults);

void mfilter_msgpol_init(mfilter_msgpol_t *p);

/*
 * Add one accepted recipient with resolved settings s; allowed says that
 * the sender is on this recipient's allow list (not spam for them).
 */
void mfilter_msgpol_add(mfilter_msgpol_t *p, const mfilter_settings_t *s,
                        int allowed);

/*
 * The action a spam score calls for: MTR_OK with *action_r and the
 * threshold that applied in *required_r, or MTR_DECLINED when the score
 * reaches no recipient's threshold (not spam for anyone); *required_r is
 * then the lowest threshold (INT32_MAX when nobody scans spam).
 */
int mfilter_msgpol_spam_action(const mfilter_msgpol_t *p, int32_t score,
                               mfilter_action_e *action_r, int32_t *required_r);

/*
 * True when sender (len bytes, the envelope address without <>) matches
 * one of the n entries: "user@example.org" matches that address, and
 * "@example.org" every address of that domain (case-insensitive ASCII).
 * The null sender (len 0) matches nothing.
 */
int mfilter_list_match(const char *sender, size_t len,
                       const char *const *entries, size_t n);

/*
 * Decide: the verdict, reply, headers and counters for a message whose
 * policy is pol and whose scans gave rep, under modes.  Never fails.
 * Order: a virus found wins; then a scanner failure (tempfail unless its
 * fail mode accepts); then oversize; then the spam action.  Headers are
 * honest: X-Virus-Scanned only after a real clean clamd answer,
 * X-Spam-Status/X-Spam-Score only after a real spam score,
 * X-Mortar-Not-Scanned naming every scan that was wanted and did not
 * happen.
 */
void mfilter_decide(const mfilter_msgpol_t      *pol,
                    const mfilter_scan_report_t *rep,
                    const mfilter_modes_t *modes, mfilter_decision_t *d);

/*
 * Copy len bytes of src into dst (size bytes), keeping only what is safe
 * in a header or an SMTP reply: [A-Za-z0-9._,:/+=@-], other bytes become
 * '_'.  A src too long is cut and ends with "..." (a visible cut).
 */
void mfilter_header_safe(char *dst, size_t size, const char *src, size_t len);
#endif /* MFILTER_POLICY_H */
