/*
 * mfilter_proto.h -- the scanner wire protocols of mortar-milter.
 *
 * Core (no libmilter, no sockets, no logging): framing and parsing for
 *   clamd   zINSTREAM: 4-byte big-endian chunk lengths, a zero-length
 *           chunk ends the stream; the reply is "stream: OK",
 *           "stream: <name> FOUND" or "<text> ERROR", NUL-terminated;
 *   spamd   SPAMC/1.5 SYMBOLS (or CHECK): a request header, the message,
 *           a reply "SPAMD/1.x 0 EX_OK" with "Spam: True ; 7.2 / 5.0" and,
 *           for SYMBOLS, the rule names as the body;
 *   rspamd  HTTP POST /checkv2 with the message as the body; the reply is
 *           JSON ({"score":..,"symbols":{..}}), parsed with jansson.
 * Every reply is read into a buffer with a named cap; nothing from the
 * wire is assumed NUL-terminated.  Covered by
 * tests/unit/test_mfilter_proto.c.
 */
#ifndef MFILTER_PROTO_H
#define MFILTER_PROTO_H
#include <stddef.h>
#include <stdint.h>

#include "mfilter_policy.h"
#include "mtr_core.h"

#define MFILTER_CLAMD_REPLY_MAX  1024         /* one clamd reply line */
#define MFILTER_SPAMD_REPLY_MAX  16384        /* spamd headers + symbols */
#define MFILTER_RSPAMD_REPLY_MAX (256 * 1024) /* rspamd HTTP reply */
#define MFILTER_REQ_HEAD_MAX     2048         /* a request header we build */

/* The command that opens a clamd stream, NUL included ("z" form). */
#define MFILTER_CLAMD_INSTREAM     "zINSTREAM"
#define MFILTER_CLAMD_INSTREAM_LEN (sizeof(MFILTER_CLAMD_INSTREAM))

typedef enum {
    MFILTER_CLAMD_CLEAN = 0,
    MFILTER_CLAMD_FOUND = 1,
    MFILTER_CLAMD_SIZE_LIMIT = 2, /* "INSTREAM size limit exceeded" */
    MFILTER_CLAMD_ERROR = 3       /* any other ERROR or garbage */
} mfilter_clamd_e;

/* Write the 4-byte big-endian length prefix of a chunk of len bytes. */
void mfilter_clamd_chunk_header(uint32_t len, unsigned char out[4]);

/*
 * Parse one clamd reply (len bytes, with or without the trailing NUL or
 * newline).  FOUND copies the virus name into virus (vsize bytes; too
 * long is cut with a visible "..."); ERROR puts the reply, masked, in err.
 */
mfilter_clamd_e mfilter_clamd_parse(const char *buf, size_t len, char *virus,
                                    size_t vsize, mtr_err_t *err);

/*
 * Build a SPAMC/1.5 request header for a message of msg_len bytes into
 * out (size bytes): "SYMBOLS SPAMC/1.5\r\nContent-length: N\r\n"
 * ["User: u\r\n"]"\r\n".  user (may be NULL) must be printable ASCII
 * without spaces, at most 64 bytes.  *len_r gets the length.  MTR_ERROR
 * when out is too small or user is bad.
 */
int mfilter_spamc_request(char *out, size_t size, uint64_t msg_len,
                          const char *user, size_t *len_r, mtr_err_t *err);

/*
 * Parse a whole spamd reply (the connection closed after it).  MTR_OK
 * with the score in *score_r and the rules, comma-separated and made
 * header-safe, in rules (rsize bytes); MTR_ERROR on a non-zero status,
 * a missing or malformed Spam: header, or a reply over the cap.
 */
int mfilter_spamc_parse(const char *buf, size_t len, int32_t *score_r,
                        char *rules, size_t rsize, mtr_err_t *err);

/*
 * True when buf[0..len) holds a whole reply: the header block has ended
 * and, when a Content-length header is present, that many body bytes
 * follow.  spamd keeps the connection open after its reply, so the
 * reader must know when to stop without waiting for EOF.
 */
int mfilter_reply_complete(const char *buf, size_t len);

/*
 * Build an HTTP/1.0 request header for rspamd's /checkv2: Content-Length,
 * and when given (NULL to leave out) Queue-Id, From, IP, Helo, User, each
 * checked for CR, LF and NUL.  Same output contract as
 * mfilter_spamc_request.
 */
typedef struct {
    const char        *queue_id;
    const char        *from;
    const char        *ip;
    const char        *helo;
    const char        *user;
    const char *const *rcpts; /* NULL-terminated, may be NULL */
} mfilter_rspamd_meta_t;

int mfilter_rspamd_request(char *out, size_t size, uint64_t msg_len,
                           const mfilter_rspamd_meta_t *meta, size_t *len_r,
                           mtr_err_t *err);

/*
 * Parse a whole rspamd HTTP reply: status 200, a JSON object with a
 * numeric "score" and an object "symbols" (names, sorted by the order
 * rspamd gave, made header-safe, comma-separated into rules).  An
 * "is_skipped": true reply is MTR_DECLINED (rspamd did not scan it).
 */
int mfilter_rspamd_parse(const char *buf, size_t len, int32_t *score_r,
                         char *rules, size_t rsize, mtr_err_t *err);
#endif /* MFILTER_PROTO_H */
