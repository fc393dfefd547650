/*
 * mfilter_scan.h -- one connection's scan session: clamd stream + spool.
 *
 * Core (sockets and files, but no libmilter and no logging): the glue
 * hands over the message piece by piece as Postfix sends it; the session
 * streams it to clamd (zINSTREAM, in chunks of MFILTER_SCAN_BUF) and
 * keeps it for spamd/rspamd, which need the whole message: a message that
 * fits MFILTER_SCAN_BUF is sent to them from the buffer; a larger one is
 * copied to an unlinked spool file, opened when first needed (so most
 * connections never create a file) and emptied after each message.
 * Memory per connection is one MFILTER_SCAN_BUF buffer, whatever the
 * message size; the spool stops at spam_max_size.  At end of message
 * clamd's verdict is computed while spamd reads the message, so the two
 * scanners work at the same time.
 *
 * One session belongs to one milter connection (one thread at a time).
 * Covered by the integration tests (tests/integration/test_milter.py,
 * tests/milter/ scripts) against real clamd and spamd; the pieces it calls
 * are unit-tested in test_mfilter_proto.c.
 */
#ifndef MFILTER_SCAN_H
#define MFILTER_SCAN_H
#include <stddef.h>

#include "mfilter_config.h"
#include "mfilter_policy.h"
#include "mfilter_proto.h"

#define MFILTER_SCAN_BUF (64 * 1024) /* bytes buffered before a chunk */

typedef struct mfilter_scan_s mfilter_scan_t;

/*
 * Create a session.  The spool file (O_TMPFILE, mode 0600, in
 * cfg->spool_dir; nothing left on disk if we crash) is opened by the first
 * message larger than MFILTER_SCAN_BUF that the spam engine wants; failing
 * to open it fails that spam scan (its fail mode decides).  cfg must
 * outlive the session.  MTR_OK or MTR_ERROR (out of memory) with err.
 */
int  mfilter_scan_create(mfilter_scan_t **sp, const mfilter_config_t *cfg,
                         mtr_err_t *err);
void mfilter_scan_destroy(mfilter_scan_t **sp);

/*
 * Start a message.  want_virus opens the clamd stream now (a failure is
 * recorded, not returned: the verdict depends on the fail mode);
 * want_spam starts the spool.  Any previous message is dropped.
 */
void mfilter_scan_begin(mfilter_scan_t *s, int want_virus, int want_spam);

/* True once every wanted scanner has already failed or been skipped, so
 * the glue may stop feeding data (and tempfail early). */
int mfilter_scan_all_failed(const mfilter_scan_t *s);

/* Feed len bytes of the message (headers as "Name: value\r\n", the blank
 * line, then the body as Postfix sends it). */
void mfilter_scan_write(mfilter_scan_t *s, const void *data, size_t len);

/*
 * End the message: finish the clamd stream, send the spool to the spam
 * engine (meta is used for rspamd, may be NULL), and fill rep.  Never
 * fails: every failure is a state in rep with its reason.
 */
void mfilter_scan_finish(mfilter_scan_t *s, const mfilter_rspamd_meta_t *meta,
                         mfilter_scan_report_t *rep);

/* Drop the message in progress (abort, or a verdict reached early). */
void mfilter_scan_reset(mfilter_scan_t *s);

/* State of the virus scan so far (FAILED as soon as clamd is unreachable,
 * so the glue can tempfail before the body is sent). */
mfilter_scan_e mfilter_scan_virus_state(const mfilter_scan_t *s);

/* Why the virus scan failed or was skipped ("" when it did not). */
const char *mfilter_scan_virus_reason(const mfilter_scan_t *s);

/* Bytes fed for the current message. */
uint64_t mfilter_scan_size(const mfilter_scan_t *s);
#endif /* MFILTER_SCAN_H */
