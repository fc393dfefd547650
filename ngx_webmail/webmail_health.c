/*
 * webmail_health.c -- status, headers and body of the webmail health check.
 *
 * Core (no nginx header): the glue in ngx_http_webmail_module.c only copies
 * the method in and the result out.  Covered by
 * tests/unit/test_webmail_health.c.
 */
#include <string.h>

#include "webmail_health.h"

#define WEBMAIL_HEALTH_OK_BODY                                                 \
    "{\"status\":\"ok\",\"service\":\"mortar-webmail\",\"version\":"           \
    "\"" MTR_VERSION "\"}"

#define WEBMAIL_HEALTH_405_HEAD                                                \
    "{\"type\":\"about:blank\",\"title\":\"Method Not Allowed\","              \
    "\"status\":405,\"detail\":\"method \\\""

#define WEBMAIL_HEALTH_405_TAIL "\\\" is not allowed; use GET or HEAD\"}"

/*
 * The worst 405 body: every shown method byte doubled by a JSON escape.
 * Checked here so that the cap promised in the header cannot drift.
 */
_Static_assert(sizeof(WEBMAIL_HEALTH_405_HEAD) - 1
                       + 2 * WEBMAIL_HEALTH_METHOD_SHOW
                       + sizeof(WEBMAIL_HEALTH_405_TAIL) - 1
                   <= WEBMAIL_HEALTH_BODY_MAX,
               "WEBMAIL_HEALTH_BODY_MAX too small for the 405 body");
_Static_assert(sizeof(WEBMAIL_HEALTH_OK_BODY) - 1 <= WEBMAIL_HEALTH_BODY_MAX,
               "WEBMAIL_HEALTH_BODY_MAX too small for the 200 body");

static int
webmail_health_append(char *buf, size_t size, size_t *used, const char *s,
                      size_t len)
{
    /* *used <= size always holds, so the subtraction cannot wrap. */
    if (len > size - *used) {
        return MTR_ERROR;
    }

    memcpy(buf + *used, s, len);
    *used += len;

    return MTR_OK;
}

static int
webmail_health_is(mtr_str_t method, const char *name, size_t len)
{
    return method.len == len && memcmp(method.data, name, len) == 0;
}

int
webmail_health_respond(mtr_str_t method, char *buf, size_t size,
                       webmail_health_t *res_r, mtr_err_t *err)
{
    static const char json[] = "application/json";
    static const char problem[] = "application/problem+json";
    static const char allow[] = "GET, HEAD";

    char   shown[WEBMAIL_HEALTH_METHOD_SHOW + 1];
    size_t used = 0, n, i;

    if (buf == NULL || res_r == NULL) {
        return mtr_err_set(err, "webmail_health: NULL buffer or result");
    }

    if (method.data == NULL) {
        method.len = 0;
    }

    if (webmail_health_is(method, "GET", 3)
        || webmail_health_is(method, "HEAD", 4)) {
        if (webmail_health_append(buf, size, &used, WEBMAIL_HEALTH_OK_BODY,
                                  sizeof(WEBMAIL_HEALTH_OK_BODY) - 1)
            != MTR_OK)
        {
            goto too_small;
        }

        res_r->status = 200;
        res_r->content_type.data = json;
        res_r->content_type.len = sizeof(json) - 1;
        res_r->allow.data = allow;
        res_r->allow.len = 0;
        res_r->body_len = used;

        return MTR_OK;
    }

    /*
     * The method is wire data: mask it first (control bytes, DEL, 8-bit),
     * then escape the two printable bytes JSON reserves inside a string.
     */
    n = mtr_sanitize(shown, sizeof(shown), method.data, method.len);

    if (webmail_health_append(buf, size, &used, WEBMAIL_HEALTH_405_HEAD,
                              sizeof(WEBMAIL_HEALTH_405_HEAD) - 1)
        != MTR_OK)
    {
        goto too_small;
    }

    for (i = 0; i < n; i++) {
        char esc[2] = { '\\', shown[i] };
        int  quote = shown[i] == '"' || shown[i] == '\\';

        if (webmail_health_append(buf, size, &used, quote ? esc : &shown[i],
                                  quote ? 2 : 1)
            != MTR_OK)
        {
            goto too_small;
        }
    }

    if (webmail_health_append(buf, size, &used, WEBMAIL_HEALTH_405_TAIL,
                              sizeof(WEBMAIL_HEALTH_405_TAIL) - 1)
        != MTR_OK)
    {
        goto too_small;
    }

    res_r->status = 405;
    res_r->content_type.data = problem;
    res_r->content_type.len = sizeof(problem) - 1;
    res_r->allow.data = allow;
    res_r->allow.len = sizeof(allow) - 1;
    res_r->body_len = used;

    return MTR_OK;

too_small:

    return mtr_err_set(err,
                       "webmail_health: body buffer of %zu bytes is too "
                       "small",
                       size);
}
