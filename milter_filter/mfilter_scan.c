/*
 * mfilter_scan.c -- one connection's scan session: clamd stream + spool.
 *
 * Core: sockets and files, no libmilter, no logging.  See mfilter_scan.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include "mfilter_scan.h"

struct mfilter_scan_s {
    const mfilter_config_t *cfg;
    int                     spool_fd;
    int                     clamd_fd;
    mfilter_scan_e          virus;
    mfilter_scan_e          spam;
    int                     want_virus;
    int                     want_spam;
    uint64_t                total;
    uint64_t                clamd_sent;
    uint64_t                spooled;
    size_t                  used;
    char                    virus_reason[MFILTER_REASON_MAX + 1];
    char                    spam_reason[MFILTER_REASON_MAX + 1];
    unsigned char           buf[MFILTER_SCAN_BUF];
};

static void
close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/*
 * Open the unlinked spool file, the first time a message outgrows the
 * buffer: most mail fits in MFILTER_SCAN_BUF and never touches the disk
 * (creating an inode per connection was the largest cost of a milter
 * connection).  MTR_OK or MTR_ERROR with errno set.
 */
static int
spool_open(mfilter_scan_t *s)
{
    char path[4096];
    int  n;

    if (s->spool_fd >= 0) {
        return MTR_OK;
    }
    s->spool_fd = open(s->cfg->spool_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (s->spool_fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR)) {
        /* No O_TMPFILE on this file system: name it, then unlink it. */
        n = snprintf(path, sizeof(path), "%s/spool.XXXXXX", s->cfg->spool_dir);
        if (n > 0 && (size_t) n < sizeof(path)) {
            s->spool_fd = mkostemp(path, O_CLOEXEC);
            if (s->spool_fd >= 0) {
                unlink(path);
            }
        }
    }
    return s->spool_fd >= 0 ? MTR_OK : MTR_ERROR;
}

int
mfilter_scan_create(mfilter_scan_t **sp, const mfilter_config_t *cfg,
                    mtr_err_t *err)
{
    mfilter_scan_t *s;

    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return mtr_err_set(err, "out of memory");
    }
    s->cfg = cfg;
    s->clamd_fd = -1;
    s->spool_fd = -1; /* opened by the first message larger than buf */
    *sp = s;
    return MTR_OK;
}

void
mfilter_scan_destroy(mfilter_scan_t **sp)
{
    mfilter_scan_t *s = *sp;

    if (s == NULL) {
        return;
    }
    close_fd(&s->clamd_fd);
    close_fd(&s->spool_fd);
    free(s);
    *sp = NULL;
}

static void
set_timeouts(int fd, uint64_t ms)
{
    struct timeval tv;

    tv.tv_sec = (time_t) (ms / 1000);
    tv.tv_usec = (suseconds_t) ((ms % 1000) * 1000);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* Connect to host:port within ms; -1 with reason filled on failure. */
static int
tcp_connect(const char *host, uint64_t port, uint64_t ms, char *reason,
            size_t rsize)
{
    struct addrinfo hints, *res = NULL, *ai;
    struct pollfd   pfd;
    char            portstr[16];
    int             fd = -1, rc, soerr;
    socklen_t       slen;

    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(portstr, sizeof(portstr), "%llu", (unsigned long long) port);
    rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0) {
        snprintf(reason, rsize, "cannot resolve %s: %s", host,
                 gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family,
                    ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    ai->ai_protocol);
        if (fd < 0) {
            continue;
        }
        rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc < 0 && errno == EINPROGRESS) {
            pfd.fd = fd;
            pfd.events = POLLOUT;
            rc = poll(&pfd, 1, (int) ms);
            if (rc == 1) {
                slen = sizeof(soerr);
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &slen) == 0
                    && soerr == 0) {
                    rc = 0;
                } else {
                    errno = soerr;
                    rc = -1;
                }
            } else {
                errno = rc == 0 ? ETIMEDOUT : errno;
                rc = -1;
            }
        }
        if (rc == 0) {
            break;
        }
        snprintf(reason, rsize, "cannot connect to %s:%s: %s", host, portstr,
                 strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        return -1;
    }
    /* Blocking from here on, bounded by the socket timeouts. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    set_timeouts(fd, ms);
    return fd;
}

static int
send_all(int fd, struct iovec *iov, int iovcnt)
{
    struct msghdr msg;
    ssize_t       n;

    while (iovcnt > 0) {
        memset(&msg, 0, sizeof(msg));
        msg.msg_iov = iov;
        msg.msg_iovlen = (size_t) iovcnt;
        n = sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        while (iovcnt > 0 && (size_t) n >= iov->iov_len) {
            n -= (ssize_t) iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            iov->iov_base = (char *) iov->iov_base + n;
            iov->iov_len -= (size_t) n;
        }
    }
    return 0;
}

/*
 * Read until EOF, or until a NUL byte (stop == 1), or until a whole
 * header + Content-length reply (stop == 2), into buf (cap bytes).
 * Returns the length, or -1 (I/O error, timeout, or over the cap).
 */
static ssize_t
read_reply(int fd, char *buf, size_t cap, int stop_at_nul)
{
    size_t  used = 0;
    ssize_t n;

    for (;;) {
        if (used == cap) {
            errno = EMSGSIZE;
            return -1;
        }
        n = recv(fd, buf + used, cap - used, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        if (n == 0) {
            return (ssize_t) used;
        }
        if (stop_at_nul == 1 && memchr(buf + used, '\0', (size_t) n) != NULL) {
            return (ssize_t) (used + (size_t) n);
        }
        used += (size_t) n;
        if (stop_at_nul == 2 && mfilter_reply_complete(buf, used)) {
            return (ssize_t) used;
        }
    }
}

/* dst = a + b, masked for logs, cut visibly ("...") when too long. */
static void
reason_set(char *dst, size_t size, const char *a, const char *b)
{
    char   tmp[1024];
    size_t la = strnlen(a, 256), lb = strnlen(b, sizeof(tmp) - 257);

    memcpy(tmp, a, la);
    memcpy(tmp + la, b, lb);
    mtr_sanitize(dst, size, tmp, la + lb);
}

static void
virus_fail(mfilter_scan_t *s, mfilter_scan_e state, const char *prefix,
           const char *detail)
{
    s->virus = state;
    reason_set(s->virus_reason, sizeof(s->virus_reason), prefix, detail);
    close_fd(&s->clamd_fd);
}

void
mfilter_scan_reset(mfilter_scan_t *s)
{
    close_fd(&s->clamd_fd);
    if (s->spooled > 0 && ftruncate(s->spool_fd, 0) != 0) {
        /* Cannot give the disk back: drop the file (a new one next time). */
        close_fd(&s->spool_fd);
    }
    s->virus = s->spam = MFILTER_SCAN_SKIPPED;
    s->want_virus = s->want_spam = 0;
    s->total = s->clamd_sent = s->spooled = 0;
    s->used = 0;
    s->virus_reason[0] = s->spam_reason[0] = '\0';
}

void
mfilter_scan_begin(mfilter_scan_t *s, int want_virus, int want_spam)
{
    struct iovec iov;
    char         reason[MFILTER_REASON_MAX + 1];

    mfilter_scan_reset(s);
    s->want_virus = want_virus;
    s->want_spam = want_spam;
    if (want_spam) {
        s->spam = MFILTER_SCAN_DONE; /* provisional: "in progress" */
    }
    if (!want_virus) {
        return;
    }
    s->virus = MFILTER_SCAN_DONE;
    s->clamd_fd = tcp_connect(s->cfg->clamd_host, s->cfg->clamd_port,
                              s->cfg->clamd_timeout_ms, reason, sizeof(reason));
    if (s->clamd_fd < 0) {
        virus_fail(s, MFILTER_SCAN_FAILED, "clamd: ", reason);
        return;
    }
    iov.iov_base = (void *) MFILTER_CLAMD_INSTREAM;
    iov.iov_len = MFILTER_CLAMD_INSTREAM_LEN;
    if (send_all(s->clamd_fd, &iov, 1) != 0) {
        virus_fail(s, MFILTER_SCAN_FAILED, "clamd: send: ", strerror(errno));
    }
}

int
mfilter_scan_all_failed(const mfilter_scan_t *s)
{
    int virus_dead = !s->want_virus || s->virus == MFILTER_SCAN_FAILED;
    int spam_dead = !s->want_spam || s->spam == MFILTER_SCAN_FAILED;

    return (s->want_virus || s->want_spam) && virus_dead && spam_dead;
}

/* clamd closed the stream early: was it the size limit? */
static void
clamd_broken(mfilter_scan_t *s, int err_no)
{
    char      reply[MFILTER_CLAMD_REPLY_MAX];
    char      vname[MFILTER_VIRUS_MAX + 1];
    ssize_t   n;
    mtr_err_t err;

    n = read_reply(s->clamd_fd, reply, sizeof(reply), 1);
    if (n > 0
        && mfilter_clamd_parse(reply, (size_t) n, vname, sizeof(vname), &err)
               == MFILTER_CLAMD_SIZE_LIMIT)
    {
        virus_fail(s, MFILTER_SCAN_OVERSIZE, "", err.msg);
        return;
    }
    virus_fail(s, MFILTER_SCAN_FAILED, "clamd: send: ", strerror(err_no));
}

/* Send buf[0..n) to clamd as one zINSTREAM chunk. */
static void
flush_clamd(mfilter_scan_t *s, size_t n)
{
    unsigned char hdr[4];
    struct iovec  iov[2];
    char          why[64];

    /* A zero-length chunk would end the stream: never send one here. */
    if (s->clamd_fd < 0 || n == 0) {
        return;
    }
    if (n > s->cfg->clamd_max_size - s->clamd_sent
        || s->clamd_sent > s->cfg->clamd_max_size)
    {
        snprintf(why, sizeof(why), "%llu",
                 (unsigned long long) s->cfg->clamd_max_size);
        virus_fail(s, MFILTER_SCAN_OVERSIZE,
                   "message larger than clamd_max_size, bytes: ", why);
        return;
    }
    mfilter_clamd_chunk_header((uint32_t) n, hdr);
    iov[0].iov_base = hdr;
    iov[0].iov_len = 4;
    iov[1].iov_base = s->buf;
    iov[1].iov_len = n;
    if (send_all(s->clamd_fd, iov, 2) != 0) {
        clamd_broken(s, errno);
    } else {
        s->clamd_sent += n;
    }
}

/* True (and the spam scan marked oversize) when n more bytes would take
 * the copy for the spam engine past spam_max_size. */
static int
spam_oversize(mfilter_scan_t *s, size_t n)
{
    if (n <= s->cfg->spam_max_size - s->spooled
        && s->spooled <= s->cfg->spam_max_size)
    {
        return 0;
    }
    s->spam = MFILTER_SCAN_OVERSIZE;
    snprintf(s->spam_reason, sizeof(s->spam_reason),
             "message larger than spam_max_size (%llu bytes)",
             (unsigned long long) s->cfg->spam_max_size);
    /* Give the disk back now; the copy is useless. */
    if (s->spooled > 0 && ftruncate(s->spool_fd, 0) != 0) {
        close_fd(&s->spool_fd);
    }
    return 1;
}

/* Append buf[0..n) to the spool file, opening it on first use. */
static void
flush_spool(mfilter_scan_t *s, size_t n)
{
    ssize_t w;

    if (n == 0 || !s->want_spam || s->spam != MFILTER_SCAN_DONE
        || spam_oversize(s, n))
    {
        return;
    }
    if (spool_open(s) != MTR_OK) {
        s->spam = MFILTER_SCAN_FAILED;
        reason_set(s->spam_reason, sizeof(s->spam_reason),
                   "spool: cannot open a file in spool_dir: ", strerror(errno));
        return;
    }
    w = pwrite(s->spool_fd, s->buf, n, (off_t) s->spooled);
    if (w < 0 || (size_t) w != n) {
        s->spam = MFILTER_SCAN_FAILED;
        reason_set(s->spam_reason, sizeof(s->spam_reason),
                   "spool: ", w < 0 ? strerror(errno) : "short write");
        return;
    }
    s->spooled += n;
}

/* The buffer is full: one chunk to clamd, one write to the spool. */
static void
flush(mfilter_scan_t *s)
{
    size_t n = s->used;

    if (n == 0) {
        return;
    }
    s->used = 0;
    flush_clamd(s, n);
    flush_spool(s, n);
}

void
mfilter_scan_write(mfilter_scan_t *s, const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t               room;

    s->total += len;
    while (len > 0) {
        room = MFILTER_SCAN_BUF - s->used;
        if (room > len) {
            room = len;
        }
        memcpy(s->buf + s->used, p, room);
        s->used += room;
        p += room;
        len -= room;
        if (s->used == MFILTER_SCAN_BUF) {
            flush(s);
        }
    }
}

mfilter_scan_e
mfilter_scan_virus_state(const mfilter_scan_t *s)
{
    return s->virus;
}

const char *
mfilter_scan_virus_reason(const mfilter_scan_t *s)
{
    return s->virus_reason;
}

uint64_t
mfilter_scan_size(const mfilter_scan_t *s)
{
    return s->total;
}

/*
 * Send the message to spamd or rspamd and parse the answer into rep: from
 * memory (mem, len bytes) when the whole message is still in the buffer,
 * else (mem NULL) the spool file's len bytes.
 */
static void
spam_exchange(mfilter_scan_t *s, const void *mem, uint64_t len,
              const mfilter_rspamd_meta_t *meta, mfilter_scan_report_t *rep)
{
    const mfilter_config_t *c = s->cfg;
    char                    head[MFILTER_REQ_HEAD_MAX], reason[200];
    char                   *reply;
    size_t                  hlen, cap;
    ssize_t                 n;
    off_t                   off = 0;
    struct iovec            iov[2];
    mtr_err_t               err;
    int fd, rc, rspamd = c->spam_engine == MFILTER_SPAM_RSPAMD;

    rep->spam_engine = rspamd ? "rspamd" : "spamd";
    rc =
        rspamd
            ? mfilter_rspamd_request(head, sizeof(head), len, meta, &hlen, &err)
            : mfilter_spamc_request(head, sizeof(head), len, NULL, &hlen, &err);
    if (rc != MTR_OK) {
        goto failed_err;
    }
    fd = tcp_connect(rspamd ? c->rspamd_host : c->spamd_host,
                     rspamd ? c->rspamd_port : c->spamd_port,
                     c->spam_timeout_ms, reason, sizeof(reason));
    if (fd < 0) {
        reason_set(rep->spam_reason, sizeof(rep->spam_reason),
                   "spam engine: ", reason);
        rep->spam = MFILTER_SCAN_FAILED;
        return;
    }
    /* Header and a message in memory: one send. */
    iov[0].iov_base = head;
    iov[0].iov_len = hlen;
    iov[1].iov_base = (void *) mem;
    iov[1].iov_len = mem != NULL ? (size_t) len : 0;
    if (send_all(fd, iov, mem != NULL ? 2 : 1) != 0) {
        goto failed_io;
    }
    while (mem == NULL && (uint64_t) off < len) {
        n = sendfile(fd, s->spool_fd, &off, (size_t) (len - (uint64_t) off));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            goto failed_io;
        }
    }
    cap = rspamd ? MFILTER_RSPAMD_REPLY_MAX : MFILTER_SPAMD_REPLY_MAX;
    reply = malloc(cap);
    if (reply == NULL) {
        close(fd);
        mtr_err_set(&err, "out of memory");
        goto failed_err;
    }
    /* spamc half-closes too: spamd then knows the request is whole. */
    shutdown(fd, SHUT_WR);
    n = read_reply(fd, reply, cap, rspamd ? 0 : 2);
    close(fd);
    if (n < 0) {
        free(reply);
        fd = -1;
        goto failed_io;
    }
    rc = rspamd ? mfilter_rspamd_parse(reply, (size_t) n, &rep->score,
                                       rep->rules, sizeof(rep->rules), &err)
                : mfilter_spamc_parse(reply, (size_t) n, &rep->score,
                                      rep->rules, sizeof(rep->rules), &err);
    free(reply);
    if (rc == MTR_OK) {
        rep->spam = MFILTER_SCAN_DONE;
        return;
    }
    if (rc == MTR_DECLINED) {
        rep->spam = MFILTER_SCAN_OVERSIZE; /* rspamd skipped it */
        reason_set(rep->spam_reason, sizeof(rep->spam_reason), "", err.msg);
        return;
    }
failed_err:
    rep->spam = MFILTER_SCAN_FAILED;
    reason_set(rep->spam_reason, sizeof(rep->spam_reason), "", err.msg);
    return;
failed_io:
    rep->spam = MFILTER_SCAN_FAILED;
    reason_set(rep->spam_reason, sizeof(rep->spam_reason),
               "spam engine: ", strerror(errno));
    if (fd >= 0) {
        close(fd);
    }
}

void
mfilter_scan_finish(mfilter_scan_t *s, const mfilter_rspamd_meta_t *meta,
                    mfilter_scan_report_t *rep)
{
    unsigned char zero[4] = { 0, 0, 0, 0 };
    struct iovec  iov;
    char          reply[MFILTER_CLAMD_REPLY_MAX];
    ssize_t       n;
    size_t        pending;
    int           in_memory;
    mtr_err_t     err;

    memset(rep, 0, sizeof(*rep));
    /* The last chunk goes to clamd now; the spam engine gets the message
     * from memory when it never outgrew the buffer, else from the spool. */
    pending = s->used;
    s->used = 0;
    flush_clamd(s, pending);
    in_memory = s->spooled == 0;
    if (!in_memory) {
        flush_spool(s, pending);
    } else if (s->want_spam && s->spam == MFILTER_SCAN_DONE) {
        spam_oversize(s, pending);
    }

    /* 1. End the clamd stream: clamd scans while spamd works below. */
    if (s->clamd_fd >= 0) {
        iov.iov_base = zero;
        iov.iov_len = 4;
        if (send_all(s->clamd_fd, &iov, 1) != 0) {
            clamd_broken(s, errno);
        }
    }

    /* 2. The spam engine, on the message in memory or the spooled copy. */
    rep->spam = s->spam;
    reason_set(rep->spam_reason, sizeof(rep->spam_reason), "", s->spam_reason);
    if (s->want_spam && s->spam == MFILTER_SCAN_DONE) {
        if (in_memory) {
            spam_exchange(s, s->buf, pending, meta, rep);
        } else {
            spam_exchange(s, NULL, s->spooled, meta, rep);
        }
    }

    /* 3. clamd's verdict. */
    rep->virus = s->virus;
    if (s->clamd_fd >= 0) {
        n = read_reply(s->clamd_fd, reply, sizeof(reply), 1);
        if (n <= 0) {
            virus_fail(s, MFILTER_SCAN_FAILED, "clamd: no reply: ",
                       n < 0 ? strerror(errno) : "connection closed");
        } else {
            switch (mfilter_clamd_parse(reply, (size_t) n, rep->virus_name,
                                        sizeof(rep->virus_name), &err))
            {
            case MFILTER_CLAMD_CLEAN:
                s->virus = MFILTER_SCAN_DONE;
                break;
            case MFILTER_CLAMD_FOUND:
                s->virus = MFILTER_SCAN_FOUND;
                break;
            case MFILTER_CLAMD_SIZE_LIMIT:
                virus_fail(s, MFILTER_SCAN_OVERSIZE, "", err.msg);
                break;
            case MFILTER_CLAMD_ERROR:
                virus_fail(s, MFILTER_SCAN_FAILED, "", err.msg);
                break;
            }
        }
        close_fd(&s->clamd_fd);
        rep->virus = s->virus;
    }
    reason_set(rep->virus_reason, sizeof(rep->virus_reason), "",
               s->virus_reason);
}
