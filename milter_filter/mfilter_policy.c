/*
 * mfilter_policy.c -- verdicts, settings and header text of mortar-milter.
 *
 * Core: no libmilter, no I/O, no logging.  See mfilter_policy.h for the
 * rules; covered by tests/unit/test_mfilter_policy.c.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mfilter_policy.h"

const char *const mfilter_own_headers[] = {
    "X-Spam-Status",   "X-Spam-Score",         "X-Spam-Flag",
    "X-Virus-Scanned", "X-Mortar-Not-Scanned", NULL
};

int
mfilter_is_own_header(const char *name, size_t len)
{
    size_t i;

    for (i = 0; mfilter_own_headers[i] != NULL; i++) {
        if (strlen(mfilter_own_headers[i]) == len
            && strncasecmp(mfilter_own_headers[i], name, len) == 0)
        {
            return 1;
        }
    }
    return 0;
}

int
mfilter_parse_score(const char *s, size_t len, int32_t limit, int32_t *score_r,
                    mtr_err_t *err)
{
    size_t  i = 0, int_digits = 0, frac_digits = 0;
    int64_t v = 0;
    int     neg = 0;

    if (len > 0 && s[0] == '-') {
        neg = 1;
        i = 1;
    }
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        /* 10 digits already exceed any limit we take: stop before overflow */
        if (++int_digits > 10) {
            return mtr_err_set(err, "score out of range");
        }
        v = v * 10 + (s[i] - '0');
    }
    v *= 1000;
    if (i < len && s[i] == '.') {
        int64_t scale = 100;

        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            frac_digits++;
            if (scale > 0) {
                v += (s[i] - '0') * scale;
                scale /= 10;
            }
        }
        if (frac_digits == 0) {
            return mtr_err_set(err, "score has no digits after '.'");
        }
    }
    if (int_digits == 0 || i != len) {
        return mtr_err_set(err, "malformed score");
    }
    if (v > limit) {
        return mtr_err_set(err, "score out of range");
    }
    *score_r = (int32_t) (neg ? -v : v);
    return MTR_OK;
}

void
mfilter_format_score(int32_t score, char *buf, size_t size)
{
    int64_t a = score < 0 ? -(int64_t) score : score;
    int64_t tenths = (a + 50) / 100;

    snprintf(buf, size, "%s%lld.%lld", score < 0 && tenths > 0 ? "-" : "",
             (long long) (tenths / 10), (long long) (tenths % 10));
}

int
mfilter_action_parse(const char *s, mfilter_action_e *action_r)
{
    if (s == NULL) {
        return MTR_ERROR;
    }
    if (strcasecmp(s, "reject") == 0) {
        *action_r = MFILTER_ACTION_REJECT;
    } else if (strcasecmp(s, "quarantine") == 0) {
        *action_r = MFILTER_ACTION_QUARANTINE;
    } else if (strcasecmp(s, "tag") == 0) {
        *action_r = MFILTER_ACTION_TAG;
    } else {
        return MTR_ERROR;
    }
    return MTR_OK;
}

const char *
mfilter_action_name(mfilter_action_e a)
{
    switch (a) {
    case MFILTER_ACTION_REJECT:
        return "reject";
    case MFILTER_ACTION_QUARANTINE:
        return "quarantine";
    case MFILTER_ACTION_TAG:
        break;
    }
    return "tag";
}

static int
parse_ldap_bool(const char *v, int *b_r)
{
    if (strcasecmp(v, "TRUE") == 0) {
        *b_r = 1;
    } else if (strcasecmp(v, "FALSE") == 0) {
        *b_r = 0;
    } else {
        return MTR_ERROR;
    }
    return MTR_OK;
}

int
mfilter_settings_from_attrs(mfilter_settings_t *s, const char *virus,
                            const char *spam, const char *threshold,
                            const char *action, mtr_err_t *err)
{
    char safe[64];

    memset(s, 0, sizeof(*s));
    if (virus != NULL) {
        if (parse_ldap_bool(virus, &s->virus_scan) != MTR_OK) {
            mtr_sanitize(safe, sizeof(safe), virus, strlen(virus));
            return mtr_err_set(err, "mortarVirusScan \"%s\" is not TRUE/FALSE",
                               safe);
        }
        s->has_virus_scan = 1;
    }
    if (spam != NULL) {
        if (parse_ldap_bool(spam, &s->spam_scan) != MTR_OK) {
            mtr_sanitize(safe, sizeof(safe), spam, strlen(spam));
            return mtr_err_set(err, "mortarSpamScan \"%s\" is not TRUE/FALSE",
                               safe);
        }
        s->has_spam_scan = 1;
    }
    if (threshold != NULL) {
        if (mfilter_parse_score(threshold, strlen(threshold),
                                MFILTER_THRESHOLD_MAX, &s->threshold, NULL)
            != MTR_OK)
        {
            mtr_sanitize(safe, sizeof(safe), threshold, strlen(threshold));
            return mtr_err_set(err,
                               "mortarSpamThreshold \"%s\" is not a score "
                               "such as 5.0",
                               safe);
        }
        s->has_threshold = 1;
    }
    if (action != NULL) {
        if (mfilter_action_parse(action, &s->action) != MTR_OK) {
            mtr_sanitize(safe, sizeof(safe), action, strlen(action));
            return mtr_err_set(err,
                               "mortarSpamAction \"%s\" is not reject, "
                               "quarantine or tag",
                               safe);
        }
        s->has_action = 1;
    }
    return MTR_OK;
}

void
mfilter_settings_resolve(mfilter_settings_t       *out,
                         const mfilter_settings_t *user,
                         const mfilter_settings_t *domain,
                         const mfilter_settings_t *defaults)
{
    const mfilter_settings_t *lv[3] = { user, domain, defaults };
    int                       i;

    memset(out, 0, sizeof(*out));
    /* Walk from the least specific level up, so the most specific wins. */
    for (i = 2; i >= 0; i--) {
        const mfilter_settings_t *l = lv[i];

        if (l == NULL) {
            continue;
        }
        if (l->has_virus_scan) {
            out->virus_scan = l->virus_scan;
            out->has_virus_scan = 1;
        }
        if (l->has_spam_scan) {
            out->spam_scan = l->spam_scan;
            out->has_spam_scan = 1;
        }
        if (l->has_threshold) {
            out->threshold = l->threshold;
            out->has_threshold = 1;
        }
        if (l->has_action) {
            out->action = l->action;
            out->has_action = 1;
        }
    }
}

void
mfilter_msgpol_init(mfilter_msgpol_t *p)
{
    int a;

    memset(p, 0, sizeof(*p));
    for (a = 0; a < MFILTER_ACTION_COUNT; a++) {
        p->min_thr[a] = INT32_MAX;
    }
}

void
mfilter_msgpol_add(mfilter_msgpol_t *p, const mfilter_settings_t *s,
                   int allowed)
{
    p->nrcpt++;
    if (s->virus_scan) {
        p->virus_scan = 1;
    }
    if (s->spam_scan && !allowed) {
        p->spam_scan = 1;
        if (s->threshold < p->min_thr[s->action]) {
            p->min_thr[s->action] = s->threshold;
        }
    }
}

int
mfilter_msgpol_spam_action(const mfilter_msgpol_t *p, int32_t score,
                           mfilter_action_e *action_r, int32_t *required_r)
{
    int     a;
    int32_t lowest = INT32_MAX;

    /* Strictest first: the first action whose threshold the score reaches
     * is the strictest one that any recipient asks for. */
    for (a = MFILTER_ACTION_COUNT - 1; a >= 0; a--) {
        if (p->min_thr[a] != INT32_MAX && score >= p->min_thr[a]) {
            *action_r = (mfilter_action_e) a;
            *required_r = p->min_thr[a];
            return MTR_OK;
        }
        if (p->min_thr[a] < lowest) {
            lowest = p->min_thr[a];
        }
    }
    *required_r = lowest;
    return MTR_DECLINED;
}

int
mfilter_list_match(const char *sender, size_t len, const char *const *entries,
                   size_t n)
{
    const char *at;
    size_t      i, dlen;

    if (len == 0) {
        return 0;
    }
    at = memrchr(sender, '@', len);
    for (i = 0; i < n; i++) {
        const char *e = entries[i];
        size_t      elen = strlen(e);

        if (elen == 0) {
            continue;
        }
        if (e[0] == '@') {
            if (at == NULL) {
                continue;
            }
            dlen = len - (size_t) (at - sender);
            if (dlen == elen && strncasecmp(at, e, elen) == 0) {
                return 1;
            }
        } else if (elen == len && strncasecmp(sender, e, len) == 0) {
            return 1;
        }
    }
    return 0;
}

void
mfilter_header_safe(char *dst, size_t size, const char *src, size_t len)
{
    size_t i, o = 0;

    if (size < 4) {
        if (size > 0) {
            dst[0] = '\0';
        }
        return;
    }
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char) src[i];

        if (o + 1 >= size) {
            /* @UNSAFE: size >= 4, so the last three slots exist */
            memcpy(dst + size - 4, "...", 3);
            o = size - 1;
            break;
        }
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
            || (c >= '0' && c <= '9') || strchr("._,:/+=@-", c) != NULL)
        {
            dst[o++] = (char) c;
        } else {
            dst[o++] = '_';
        }
    }
    dst[o] = '\0';
}

static void add_header(mfilter_decision_t *d, const char *name, const char *fmt,
                       ...) MTR_PRINTF(3, 4);

static void
add_header(mfilter_decision_t *d, const char *name, const char *fmt, ...)
{
    va_list ap;

    if (d->nheaders >= MFILTER_HDR_COUNT) {
        return;
    }
    d->headers[d->nheaders].name = name;
    va_start(ap, fmt);
    vsnprintf(d->headers[d->nheaders].value,
              sizeof(d->headers[d->nheaders].value), fmt, ap);
    va_end(ap);
    d->nheaders++;
}

static void set_reply(mfilter_decision_t *d, mfilter_verdict_e v,
                      const char *rcode, const char *xcode, const char *fmt,
                      ...) MTR_PRINTF(5, 6);

static void
set_reply(mfilter_decision_t *d, mfilter_verdict_e v, const char *rcode,
          const char *xcode, const char *fmt, ...)
{
    va_list ap;

    d->verdict = v;
    d->rcode = rcode;
    d->xcode = xcode;
    va_start(ap, fmt);
    vsnprintf(d->text, sizeof(d->text), fmt, ap);
    va_end(ap);
}

void
mfilter_decide(const mfilter_msgpol_t *pol, const mfilter_scan_report_t *rep,
               const mfilter_modes_t *modes, mfilter_decision_t *d)
{
    char             virus[MFILTER_VIRUS_MAX + 1], score[32], req[32];
    char             notes[MFILTER_HEADER_MAX];
    size_t           nlen = 0;
    mfilter_action_e act;
    int32_t          required;
    int              spam_hit = 0;

    memset(d, 0, sizeof(*d));
    notes[0] = '\0';
    d->verdict = MFILTER_VERDICT_ACCEPT;

    if (rep->virus == MFILTER_SCAN_DONE || rep->virus == MFILTER_SCAN_FOUND
        || rep->spam == MFILTER_SCAN_DONE)
    {
        d->count_scanned = 1;
    }

    /* 1. A virus found decides, whatever else happened. */
    if (rep->virus == MFILTER_SCAN_FOUND) {
        mfilter_header_safe(virus, sizeof(virus), rep->virus_name,
                            strlen(rep->virus_name));
        d->count_virus = 1;
        if (modes->virus_action == MFILTER_ACTION_QUARANTINE) {
            set_reply(d, MFILTER_VERDICT_QUARANTINE, NULL, NULL, "virus %s",
                      virus);
        } else {
            set_reply(d, MFILTER_VERDICT_REJECT, "550", "5.7.1",
                      "Message rejected: virus found: %s", virus);
        }
        return;
    }

    /* 2. A scanner that failed: never stamp clean. */
    if (rep->virus == MFILTER_SCAN_FAILED) {
        if (modes->clamd_fail == MFILTER_FAIL_TEMPFAIL) {
            set_reply(d, MFILTER_VERDICT_TEMPFAIL, "451", "4.7.1",
                      "Virus scanner unavailable, try again later");
            d->count_tempfail = 1;
            return;
        }
        nlen += (size_t) snprintf(notes + nlen, sizeof(notes) - nlen,
                                  "%santivirus (scanner unavailable)",
                                  nlen ? "; " : "");
    }
    if (rep->spam == MFILTER_SCAN_FAILED) {
        if (modes->spam_fail == MFILTER_FAIL_TEMPFAIL) {
            set_reply(d, MFILTER_VERDICT_TEMPFAIL, "451", "4.7.1",
                      "Spam scanner unavailable, try again later");
            d->count_tempfail = 1;
            return;
        }
        nlen += (size_t) snprintf(notes + nlen, sizeof(notes) - nlen,
                                  "%santispam (scanner unavailable)",
                                  nlen ? "; " : "");
    }

    /* 3. Too large for a scanner: the admin's explicit choice. */
    if (rep->virus == MFILTER_SCAN_OVERSIZE) {
        if (modes->virus_oversize == MFILTER_OVERSIZE_REJECT) {
            set_reply(d, MFILTER_VERDICT_REJECT, "552", "5.3.4",
                      "Message too large to be scanned for viruses");
            return;
        }
        nlen += (size_t) snprintf(notes + nlen, sizeof(notes) - nlen,
                                  "%santivirus (message too large)",
                                  nlen ? "; " : "");
    }
    if (rep->spam == MFILTER_SCAN_OVERSIZE) {
        if (modes->spam_oversize == MFILTER_OVERSIZE_REJECT) {
            set_reply(d, MFILTER_VERDICT_REJECT, "552", "5.3.4",
                      "Message too large to be scanned for spam");
            return;
        }
        nlen += (size_t) snprintf(notes + nlen, sizeof(notes) - nlen,
                                  "%santispam (message too large)",
                                  nlen ? "; " : "");
    }
    (void) nlen;

    /* 4. Honest stamps: only what really happened. */
    if (rep->virus == MFILTER_SCAN_DONE) {
        add_header(d, "X-Virus-Scanned", "clamd (mortar-milter) on %s",
                   modes->host != NULL ? modes->host : "localhost");
    }
    if (rep->spam == MFILTER_SCAN_DONE) {
        spam_hit = mfilter_msgpol_spam_action(pol, rep->score, &act, &required)
                   == MTR_OK;
        mfilter_format_score(rep->score, score, sizeof(score));
        if (required == INT32_MAX) {
            snprintf(req, sizeof(req), "none");
        } else {
            mfilter_format_score(required, req, sizeof(req));
        }
        add_header(d, "X-Spam-Status", "%s, score=%s required=%s tests=%s%s%s",
                   spam_hit ? "Yes" : "No", score, req,
                   rep->rules[0] ? rep->rules : "none",
                   rep->spam_engine ? " engine=" : "",
                   rep->spam_engine ? rep->spam_engine : "");
        add_header(d, "X-Spam-Score", "%s", score);
        if (spam_hit) {
            add_header(d, "X-Spam-Flag", "YES");
            d->count_spam = 1;
            if (act == MFILTER_ACTION_REJECT) {
                set_reply(d, MFILTER_VERDICT_REJECT, "550", "5.7.1",
                          "Message rejected as spam (score %s, required %s)",
                          score, req);
                d->nheaders = 0;
                return;
            }
            if (act == MFILTER_ACTION_QUARANTINE) {
                set_reply(d, MFILTER_VERDICT_QUARANTINE, NULL, NULL,
                          "spam score %s required %s", score, req);
            }
        }
    }
    if (notes[0] != '\0') {
        add_header(d, "X-Mortar-Not-Scanned", "%s", notes);
    }
}
