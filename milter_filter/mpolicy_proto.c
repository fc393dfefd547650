/*
 * mpolicy_proto.c -- parser and reply writer of the Postfix policy
 * delegation protocol.
 *
 * Core: pure.  The parser rescans the buffer from its start on every call;
 * a request is a few hundred bytes and at most MPOLICY_REQUEST_MAX, so
 * keeping no state between reads is simpler than resuming and costs
 * nothing measurable.  Covered by tests/unit/test_mpolicy_proto.c.
 */
#include <string.h>

#include "mpolicy_proto.h"

typedef struct {
    const char *name;
    size_t      len;
    size_t      offset; /* of the mtr_str_t in mpolicy_request_t */
} mpolicy_attr_t;

#define A(n)                                                                   \
    {                                                                          \
#n, sizeof(#n) - 1, offsetof(mpolicy_request_t, n)                     \
    }

static const mpolicy_attr_t mpolicy_attrs[] = {
    A(request),        A(protocol_state), A(protocol_name), A(queue_id),
    A(instance),       A(sender),         A(recipient),     A(recipient_count),
    A(client_address), A(client_name),    A(helo_name),     A(sasl_username),
    A(size),
};

#undef A

static int
mpolicy_name_ok(const char *p, size_t len)
{
    size_t        i;
    unsigned char c;

    if (len == 0 || len > MPOLICY_NAME_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = (unsigned char) p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
        {
            return 0;
        }
    }

    return 1;
}

int
mpolicy_proto_parse(const char *buf, size_t len, mpolicy_request_t *req,
                    size_t *used_r, mtr_err_t *err)
{
    const char *line, *nl, *eq;
    size_t      pos = 0, llen, i;
    mtr_str_t  *slot;

    memset(req, 0, sizeof(*req));

    for (;;) {
        if (pos >= len) {
            break;
        }

        line = buf + pos;
        /* Look no further than one line may be long. */
        llen = len - pos;
        nl = memchr(line, '\n',
                    llen < MPOLICY_LINE_MAX + 1 ? llen : MPOLICY_LINE_MAX + 1);

        if (nl == NULL) {
            if (llen > MPOLICY_LINE_MAX) {
                return mtr_err_set(err,
                                   "policy request line longer than %d "
                                   "bytes",
                                   MPOLICY_LINE_MAX);
            }
            break;
        }

        llen = (size_t) (nl - line);

        if (memchr(line, '\0', llen) != NULL) {
            return mtr_err_set(err, "NUL byte in policy request");
        }

        if (pos + llen + 1 > MPOLICY_REQUEST_MAX) {
            return mtr_err_set(err, "policy request longer than %d bytes",
                               MPOLICY_REQUEST_MAX);
        }

        pos += llen + 1;

        if (llen == 0) {
            *used_r = pos;
            return MTR_OK;
        }

        if (++req->nattrs > MPOLICY_ATTRS_MAX) {
            return mtr_err_set(err, "more than %d attributes in policy request",
                               MPOLICY_ATTRS_MAX);
        }

        eq = memchr(line, '=', llen);
        if (eq == NULL) {
            return mtr_err_set(err, "policy request line without '='");
        }

        if (!mpolicy_name_ok(line, (size_t) (eq - line))) {
            return mtr_err_set(err, "bad attribute name in policy request");
        }

        for (i = 0; i < sizeof(mpolicy_attrs) / sizeof(mpolicy_attrs[0]); i++) {
            const mpolicy_attr_t *a = &mpolicy_attrs[i];

            if (a->len != (size_t) (eq - line)
                || memcmp(a->name, line, a->len) != 0) {
                continue;
            }

            slot = (mtr_str_t *) ((char *) req + a->offset);

            if (slot->data != NULL) {
                return mtr_err_set(err, "attribute %s given twice", a->name);
            }

            slot->data = eq + 1;
            slot->len = llen - (size_t) (eq - line) - 1;
            break;
        }
        /* Not ours: Postfix requires unknown attributes to be ignored. */
    }

    /* Incomplete: refuse now if the request can no longer fit. */
    if (len >= MPOLICY_REQUEST_MAX) {
        return mtr_err_set(err, "policy request longer than %d bytes",
                           MPOLICY_REQUEST_MAX);
    }

    return MTR_AGAIN;
}

mpolicy_state_e
mpolicy_proto_state(mtr_str_t s)
{
    static const struct {
        const char     *name;
        mpolicy_state_e state;
    } states[] = {
        { "CONNECT", MPOLICY_STATE_CONNECT },
        { "EHLO", MPOLICY_STATE_EHLO },
        { "HELO", MPOLICY_STATE_EHLO },
        { "MAIL", MPOLICY_STATE_MAIL },
        { "RCPT", MPOLICY_STATE_RCPT },
        { "DATA", MPOLICY_STATE_DATA },
        { "BDAT", MPOLICY_STATE_BDAT },
        { "END-OF-MESSAGE", MPOLICY_STATE_END_OF_MESSAGE },
        { "VRFY", MPOLICY_STATE_VRFY },
        { "ETRN", MPOLICY_STATE_ETRN },
    };
    size_t i;

    for (i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        if (s.len == strlen(states[i].name)
            && memcmp(s.data, states[i].name, s.len) == 0)
        {
            return states[i].state;
        }
    }

    return MPOLICY_STATE_UNKNOWN;
}

int
mpolicy_proto_reply(char *buf, size_t size, const char *action, size_t *len_r,
                    mtr_err_t *err)
{
    size_t        alen, i;
    unsigned char c;

    if (buf != NULL && size != 0) {
        buf[0] = '\0';
    }

    if (action == NULL || action[0] == '\0') {
        return mtr_err_set(err, "empty policy action");
    }

    alen = strnlen(action, MPOLICY_ACTION_MAX + 1);
    if (alen > MPOLICY_ACTION_MAX) {
        return mtr_err_set(err, "policy action longer than %d bytes",
                           MPOLICY_ACTION_MAX);
    }

    for (i = 0; i < alen; i++) {
        c = (unsigned char) action[i];
        if (c < 0x20 || c > 0x7e) {
            return mtr_err_set(err, "byte 0x%02x in policy action", c);
        }
    }

    /* @UNSAFE: "action=" + alen + "\n\n" + NUL, alen capped above. */
    if (buf == NULL || size < sizeof("action=") - 1 + alen + 3) {
        return mtr_err_set(err, "policy reply buffer of %zu bytes too small",
                           size);
    }

    memcpy(buf, "action=", sizeof("action=") - 1);
    memcpy(buf + sizeof("action=") - 1, action, alen);
    memcpy(buf + sizeof("action=") - 1 + alen, "\n\n", 3);

    *len_r = sizeof("action=") - 1 + alen + 2;

    return MTR_OK;
}
