/*
 * mtr_log.c -- the log sink of Mortar daemons: syslog, stderr or a file.
 *
 * Glue-side helper (the only libmortar file that writes logs).  One
 * process-wide sink guarded by a read-write lock: mtr_log() takes it for
 * reading, so threads log concurrently; open and close take it for writing.
 * Each line is built in a stack buffer and written with one write(2), which
 * is what keeps lines from libmilter's many threads whole.
 * Covered by tests/unit/test_mtr_log.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "mtr_log.h"

typedef enum {
    MTR_LOG_SINK_STDERR,
    MTR_LOG_SINK_SYSLOG,
    MTR_LOG_SINK_FILE
} mtr_log_sink_e;

typedef struct {
    mtr_log_sink_e  kind;
    int             fd;
    mtr_log_level_e min_level;
    /* openlog() keeps this pointer, so it lives here, not on a stack. */
    char ident[MTR_LOG_IDENT_MAX + 1];
} mtr_log_sink_t;

static pthread_rwlock_t mtr_log_lock = PTHREAD_RWLOCK_INITIALIZER;

static mtr_log_sink_t mtr_log_sink = { MTR_LOG_SINK_STDERR, STDERR_FILENO,
                                       MTR_LOG_INFO, "mortar" };

static const char *const mtr_log_words[] = { "err", "warn", "notice", "info",
                                             "debug" };

static const int mtr_log_priorities[] = { LOG_ERR, LOG_WARNING, LOG_NOTICE,
                                          LOG_INFO, LOG_DEBUG };

static void mtr_log_release(mtr_log_sink_t *sink);
static void mtr_log_write(int fd, const char *buf, size_t len);

int
mtr_log_open(const char *ident, const char *dest, mtr_log_level_e min_level,
             mtr_err_t *err)
{
    mtr_log_sink_t sink;
    size_t         len;

    if (ident == NULL) {
        ident = "mortar";
    }

    len = strlen(ident);
    if (len == 0 || len > MTR_LOG_IDENT_MAX) {
        return mtr_err_set(err, "log ident must be 1 to %d bytes long",
                           MTR_LOG_IDENT_MAX);
    }

    if ((int) min_level < (int) MTR_LOG_ERR
        || (int) min_level > (int) MTR_LOG_DEBUG)
    {
        return mtr_err_set(err, "invalid log level %d", (int) min_level);
    }

    if (dest == NULL || dest[0] == '\0') {
        return mtr_err_set(err, "empty log destination");
    }

    memset(&sink, 0, sizeof(sink));
    memcpy(sink.ident, ident, len + 1);
    sink.min_level = min_level;
    sink.fd = -1;

    if (strcmp(dest, "syslog") == 0) {
        sink.kind = MTR_LOG_SINK_SYSLOG;

    } else if (strcmp(dest, "stderr") == 0) {
        sink.kind = MTR_LOG_SINK_STDERR;
        sink.fd = STDERR_FILENO;

    } else if (dest[0] == '/') {
        sink.kind = MTR_LOG_SINK_FILE;
        sink.fd = open(
            dest, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
        if (sink.fd == -1) {
            return mtr_err_set(err, "open(\"%s\") for logging: %s", dest,
                               strerror(errno));
        }

    } else {
        return mtr_err_set(err,
                           "log destination \"%s\" is not \"syslog\", "
                           "\"stderr\" or an absolute path",
                           dest);
    }

    pthread_rwlock_wrlock(&mtr_log_lock);

    mtr_log_release(&mtr_log_sink);
    mtr_log_sink = sink;

    if (sink.kind == MTR_LOG_SINK_SYSLOG) {
        openlog(mtr_log_sink.ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
    }

    pthread_rwlock_unlock(&mtr_log_lock);

    return MTR_OK;
}

void
mtr_log(mtr_log_level_e level, const char *fmt, ...)
{
    va_list         ap;
    struct timespec ts;
    struct tm       tm;
    char            raw[MTR_LOG_MSG_MAX + 1], msg[MTR_LOG_MSG_MAX + 1];
    char            line[MTR_LOG_MSG_MAX + MTR_LOG_IDENT_MAX + 64], stamp[32];
    int             n, saved_errno = errno;
    size_t          len;

    if ((int) level < (int) MTR_LOG_ERR || (int) level > (int) MTR_LOG_DEBUG) {
        level = MTR_LOG_ERR;
    }

    /* Format first, while errno still holds the caller's value for %m. */
    va_start(ap, fmt);
    n = vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);

    if (n < 0) {
        n = snprintf(raw, sizeof(raw), "%s", "(unformattable log message)");
    }

    len = (size_t) n < sizeof(raw) ? (size_t) n : sizeof(raw) - 1;
    len = mtr_sanitize(msg, sizeof(msg), raw, len);

    if ((size_t) n >= sizeof(raw)) {
        /* vsnprintf cut the message: make the cut visible. */
        memcpy(msg + len - 3, "...", 3);
    }

    pthread_rwlock_rdlock(&mtr_log_lock);

    if (level > mtr_log_sink.min_level) {
        goto done;
    }

    if (mtr_log_sink.kind == MTR_LOG_SINK_SYSLOG) {
        syslog(mtr_log_priorities[level], "%s: %s", mtr_log_words[level], msg);
        goto done;
    }

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);

    if (strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        stamp[0] = '\0';
    }

    /* @UNSAFE: line has room for msg plus ident plus 64 bytes of header. */
    n = snprintf(line, sizeof(line), "%s.%03ldZ %s[%ld]: %s: %s\n", stamp,
                 (long) (ts.tv_nsec / 1000000), mtr_log_sink.ident,
                 (long) getpid(), mtr_log_words[level], msg);

    if (n > 0) {
        len = (size_t) n < sizeof(line) ? (size_t) n : sizeof(line) - 1;
        mtr_log_write(mtr_log_sink.fd, line, len);
    }

done:

    pthread_rwlock_unlock(&mtr_log_lock);

    errno = saved_errno;
}

void
mtr_log_close(void)
{
    pthread_rwlock_wrlock(&mtr_log_lock);

    mtr_log_release(&mtr_log_sink);

    mtr_log_sink.kind = MTR_LOG_SINK_STDERR;
    mtr_log_sink.fd = STDERR_FILENO;
    mtr_log_sink.min_level = MTR_LOG_INFO;
    memcpy(mtr_log_sink.ident, "mortar", sizeof("mortar"));

    pthread_rwlock_unlock(&mtr_log_lock);
}

int
mtr_log_level_parse(const char *s, mtr_log_level_e *level_r)
{
    size_t i;

    if (s == NULL) {
        return MTR_ERROR;
    }

    for (i = 0; i < sizeof(mtr_log_words) / sizeof(mtr_log_words[0]); i++) {
        if (strcasecmp(s, mtr_log_words[i]) == 0) {
            *level_r = (mtr_log_level_e) i;
            return MTR_OK;
        }
    }

    return MTR_ERROR;
}

/* Give back what a sink holds; the caller holds the write lock. */
static void
mtr_log_release(mtr_log_sink_t *sink)
{
    if (sink->kind == MTR_LOG_SINK_FILE && sink->fd >= 0) {
        close(sink->fd);
    } else if (sink->kind == MTR_LOG_SINK_SYSLOG) {
        closelog();
    }

    sink->fd = -1;
}

/*
 * One write(2) per line; the loop only finishes a short write (a full pipe,
 * a signal), it never splits a line on purpose.
 */
static void
mtr_log_write(int fd, const char *buf, size_t len)
{
    ssize_t n;

    while (len > 0) {
        n = write(fd, buf, len);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;
        }

        buf += n;
        len -= (size_t) n;
    }
}
