/*
 * mpolicy_proto.h -- the Postfix SMTPD access policy delegation protocol
 * (https://www.postfix.org/SMTPD_POLICY_README.html), as spoken by
 * mortar-policy.
 *
 * A request is a list of "name=value" lines, each ended by "\n", and the
 * list is ended by an empty line.  The server answers every request with
 * "action=<text>\n\n" and keeps the connection open for the next one.
 * Postfix adds attributes from release to release, so an attribute we do
 * not know is skipped, never an error.
 *
 * What is a framing error (MTR_ERROR: the caller logs it and closes the
 * connection, since the next request boundary can no longer be trusted):
 * a line longer than MPOLICY_LINE_MAX, more than MPOLICY_ATTRS_MAX lines,
 * a request longer than MPOLICY_REQUEST_MAX, a NUL byte, a line without
 * '=', an empty or malformed attribute name, and a known attribute given
 * twice (two "recipient=" lines would let one request be judged on the
 * one and logged with the other).
 *
 * Core: pure, no I/O; values are slices into the caller's buffer, never
 * NUL-terminated.  Covered by tests/unit/test_mpolicy_proto.c.
 */
#ifndef MPOLICY_PROTO_H
#define MPOLICY_PROTO_H

#include "mtr_core.h"

/* Bytes in one name=value line, its "\n" not counted. */
#define MPOLICY_LINE_MAX 4096
/* Bytes of one attribute name (Postfix's are under 32). */
#define MPOLICY_NAME_MAX 64
/* Attribute lines in one request (Postfix 3.7 sends about 30). */
#define MPOLICY_ATTRS_MAX 128
/* Bytes in one request, the ending empty line included. */
#define MPOLICY_REQUEST_MAX 32768
/* Bytes of action text in a reply. */
#define MPOLICY_ACTION_MAX 512
/* Bytes of a whole reply: "action=" + text + "\n\n". */
#define MPOLICY_REPLY_MAX (sizeof("action=") - 1 + MPOLICY_ACTION_MAX + 2)

typedef enum {
    MPOLICY_STATE_UNKNOWN = 0,
    MPOLICY_STATE_CONNECT,
    MPOLICY_STATE_EHLO, /* HELO and EHLO */
    MPOLICY_STATE_MAIL,
    MPOLICY_STATE_RCPT,
    MPOLICY_STATE_DATA,
    MPOLICY_STATE_BDAT,
    MPOLICY_STATE_END_OF_MESSAGE,
    MPOLICY_STATE_VRFY,
    MPOLICY_STATE_ETRN,
} mpolicy_state_e;

/*
 * The attributes Mortar reads; every one is { NULL, 0 } when absent.
 * nattrs counts every attribute line, known or not.
 */
typedef struct {
    mtr_str_t request;        /* "smtpd_access_policy" */
    mtr_str_t protocol_state; /* "RCPT", ... */
    mtr_str_t protocol_name;  /* "SMTP", "ESMTP", "LMTP" */
    mtr_str_t queue_id;
    mtr_str_t instance; /* one value per MAIL transaction */
    mtr_str_t sender;
    mtr_str_t recipient;
    mtr_str_t recipient_count;
    mtr_str_t client_address;
    mtr_str_t client_name;
    mtr_str_t helo_name;
    mtr_str_t sasl_username;
    mtr_str_t size; /* the client's SIZE=, or the real size at DATA end */
    size_t    nattrs;
} mpolicy_request_t;

/*
 * Parse one request from the start of buf (len bytes received so far).
 *   MTR_OK:    a whole request; *req filled with slices into buf and
 *              *used_r set to its length, the empty line included (the
 *              next request starts there).
 *   MTR_AGAIN: no complete request yet and no cap broken: read more.
 *   MTR_ERROR: framing error (see above), err says which.
 */
int mpolicy_proto_parse(const char *buf, size_t len, mpolicy_request_t *req,
                        size_t *used_r, mtr_err_t *err);

/* protocol_state as an enum; anything unknown is MPOLICY_STATE_UNKNOWN. */
mpolicy_state_e mpolicy_proto_state(mtr_str_t s);

/*
 * Write "action=<action>\n\n" into buf (size bytes, NUL-terminated) and
 * its length to *len_r.  action must be 1 to MPOLICY_ACTION_MAX bytes of
 * printable ASCII (no newline could then end the reply early); otherwise,
 * or when buf is too small, MTR_ERROR and nothing usable in buf.
 */
int mpolicy_proto_reply(char *buf, size_t size, const char *action,
                        size_t *len_r, mtr_err_t *err);

#endif /* MPOLICY_PROTO_H */
