/* clang-format off */

/*
 * ngx_http_webmail_module.c -- nginx glue of Mortar's webmail module.
 *
 * Glue only: it turns nginx's request into a method slice, calls the core
 * in webmail_health.c (covered by tests/unit/test_webmail_health.c), and
 * maps the result onto nginx's headers and output chain.  Hand-laid in
 * nginx's own style; no decision is made here.
 *
 *     load_module modules/ngx_http_webmail_module.so;
 *
 *     location = /health {
 *         webmail_health;
 *     }
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "mtr_core.h"
#include "webmail_health.h"


static char *ngx_http_webmail_health(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_webmail_health_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_webmail_add_header(ngx_http_request_t *r,
    ngx_str_t *key, u_char *value, size_t len);


static ngx_command_t  ngx_http_webmail_commands[] = {

    { ngx_string("webmail_health"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_webmail_health,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_webmail_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_webmail_module = {
    NGX_MODULE_V1,
    &ngx_http_webmail_module_ctx,          /* module context */
    ngx_http_webmail_commands,             /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_str_t  ngx_http_webmail_allow = ngx_string("Allow");
static ngx_str_t  ngx_http_webmail_cache_control = ngx_string("Cache-Control");


static ngx_int_t
ngx_http_webmail_health_handler(ngx_http_request_t *r)
{
    char               shown[WEBMAIL_HEALTH_METHOD_SHOW + 1];
    ngx_int_t          rc;
    ngx_buf_t         *b;
    ngx_chain_t        out;
    mtr_str_t          method;
    mtr_err_t          err;
    webmail_health_t   res;

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    b = ngx_create_temp_buf(r->pool, WEBMAIL_HEALTH_BODY_MAX);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    method.data = (const char *) r->method_name.data;
    method.len = r->method_name.len;

    if (webmail_health_respond(method, (char *) b->pos,
                               WEBMAIL_HEALTH_BODY_MAX, &res, &err)
        != MTR_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, "%s", err.msg);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = b->pos + res.body_len;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    if (res.allow.len) {
        /* the method is wire data: mask it before it reaches the log */
        (void) mtr_sanitize(shown, sizeof(shown), method.data, method.len);

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "webmail_health: method \"%s\" not allowed", shown);

        if (ngx_http_webmail_add_header(r, &ngx_http_webmail_allow,
                                        (u_char *) res.allow.data,
                                        res.allow.len)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ngx_http_webmail_add_header(r, &ngx_http_webmail_cache_control,
                                    (u_char *) "no-store",
                                    sizeof("no-store") - 1)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = res.status;
    r->headers_out.content_type.len = res.content_type.len;
    r->headers_out.content_type.data = (u_char *) res.content_type.data;
    r->headers_out.content_type_len = res.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = res.body_len;

    /* the header filter sets r->header_only for HEAD */

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static ngx_int_t
ngx_http_webmail_add_header(ngx_http_request_t *r, ngx_str_t *key,
    u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key = *key;
    h->value.len = len;
    h->value.data = value;
    h->lowcase_key = NULL;

    return NGX_OK;
}


static char *
ngx_http_webmail_health(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "is duplicate or conflicts with another content handler";
    }

    clcf->handler = ngx_http_webmail_health_handler;

    return NGX_CONF_OK;
}
