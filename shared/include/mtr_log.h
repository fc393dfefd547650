/*
 * mtr_log.h -- the log sink of Mortar daemons (milter, policy, tools).
 *
 * Glue-side helper: core code never logs, it fills an mtr_err_t and the
 * daemon's glue calls mtr_log() once with the level it chooses.  nginx and
 * Dovecot modules use their host's logger instead.  Messages go to syslog
 * (facility LOG_MAIL, like Postfix), to stderr, or appended to a file.
 * Covered by tests/unit/test_mtr_log.c.
 *
 * Levels (CONVENTIONS.md): ERR = we failed; WARN = degraded or
 * misconfigured; NOTICE = a policy decision; INFO = normal events;
 * DEBUG = detail.
 */
#ifndef MTR_LOG_H
#define MTR_LOG_H

#include "mtr_core.h"

typedef enum {
    MTR_LOG_ERR,
    MTR_LOG_WARN,
    MTR_LOG_NOTICE,
    MTR_LOG_INFO,
    MTR_LOG_DEBUG
} mtr_log_level_e;

/* Longest ident kept (longer is an error at open). */
#define MTR_LOG_IDENT_MAX 63

/*
 * Longest message body after formatting; a longer one is cut and ends
 * with "...".  The whole line (timestamp, ident, pid, level) adds at most
 * MTR_LOG_IDENT_MAX + 64 bytes.
 */
#define MTR_LOG_MSG_MAX 2048

/*
 * Open the sink.  ident (NULL means "mortar", at most MTR_LOG_IDENT_MAX
 * bytes, copied) names the program in every line.  dest is "syslog"
 * (openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL)), "stderr", or an
 * absolute file path opened O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
 * mode 0640.  Messages above min_level (less severe) are dropped.
 *
 * May be called again to reopen (log rotation, new level): the new sink is
 * opened first, so on failure the previous one stays in place.
 * Returns MTR_OK, or MTR_ERROR with err set (bad dest, relative path,
 * open(2) failure, ident too long).
 *
 * Before the first open and after mtr_log_close() messages at INFO or more
 * severe go to stderr with ident "mortar", so nothing is lost at start-up.
 */
int mtr_log_open(const char *ident, const char *dest, mtr_log_level_e min_level,
                 mtr_err_t *err);

/*
 * Format and write one line.  Every byte of the formatted message that is
 * not printable ASCII (newlines included) is replaced with '?' by
 * mtr_sanitize(), so wire data cannot forge log lines.  File and stderr
 * lines look like
 *
 *     2024-05-01T12:34:56.789Z mortar-milter[1234]: notice: message
 *
 * (ISO-8601 UTC timestamp, ident, pid, level word).  Each line is written
 * with a single write(2) (O_APPEND for files), so lines from concurrent
 * threads and processes never interleave.  Safe to call from any thread;
 * errno is preserved.  Never fails visibly: a sink that cannot be written
 * to drops the line.
 */
void mtr_log(mtr_log_level_e level, const char *fmt, ...) MTR_PRINTF(2, 3);

/* Close the sink (closes the file or calls closelog()); idempotent. */
void mtr_log_close(void);

/*
 * Parse a level name: "err", "warn", "notice", "info" or "debug"
 * (case-insensitive, NUL-terminated s).  Returns MTR_OK and sets *level_r,
 * or MTR_ERROR for anything else (NULL included).
 */
int mtr_log_level_parse(const char *s, mtr_log_level_e *level_r);

#endif /* MTR_LOG_H */
