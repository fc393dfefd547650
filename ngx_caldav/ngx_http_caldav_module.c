/* clang-format off */

/*
 * ngx_http_caldav_module.c -- nginx glue of Mortar's CalDAV/CardDAV server.
 *
 * Glue only.  The content handler reads the request body, takes the Basic
 * credentials and the few headers DAV needs, and posts one task to a thread
 * pool; the task checks the login against the directory (caldav_dir.c) and
 * runs the whole request in the core (caldav_handler.c: XML, iCalendar,
 * SQLite); back on the event loop the response is sent.  The event loop
 * never waits on LDAP or SQLite.
 *
 *     load_module modules/ngx_http_caldav_module.so;
 *     thread_pool caldav threads=8;
 *
 *     http {
 *         caldav_ldap_uri            ldap://127.0.0.1:3389;
 *         caldav_ldap_base           o=mortar;
 *         caldav_ldap_bind_dn        cn=mortar,ou=services,o=mortar;
 *         caldav_ldap_password_file  /etc/mortar/dav-ldap.pw;
 *         caldav_cache_ttl           60s;
 *
 *         server {
 *             location /dav/ {
 *                 caldav;
 *                 caldav_store             /var/lib/mortar/dav/%d/%n;
 *                 caldav_thread_pool       caldav;
 *                 caldav_max_resource_size 10m;
 *                 caldav_quota             100m;
 *                 caldav_plaintext         off;
 *                 caldav_sendmail          /usr/sbin/sendmail;
 *                 client_max_body_size     12m;
 *                 client_body_buffer_size  1m;
 *             }
 *             location /.well-known/ { caldav; }
 *         }
 *     }
 *
 * caldav_plaintext off (the default) refuses Basic credentials on a
 * connection without TLS: the password would cross the network in clear.
 *
 * caldav_sendmail off | PATH [CONFIG_DIR] (default off) is how invitations
 * reach attendees outside the deployment (iMIP, RFC 6047): the thread runs
 * "PATH [-C CONFIG_DIR] -i -f ORGANIZER -- ATTENDEE" with the message on
 * stdin (caldav_sched.c).  Attendees who are accounts of the deployment
 * are scheduled directly, with or without it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "caldav.h"
#include "caldav_dir.h"
#include "mtr_core.h"


#if !(NGX_THREADS)
#error ngx_http_caldav_module needs nginx built --with-threads
#endif


typedef struct {
    ngx_str_t            ldap_uri;
    ngx_str_t            ldap_base;
    ngx_str_t            ldap_bind_dn;
    ngx_str_t            ldap_password_file;
    ngx_msec_t           ldap_timeout;
    time_t               cache_ttl;
    ngx_str_t            ldap_password;
    caldav_dir_t        *dir;
} ngx_http_caldav_main_conf_t;


typedef struct {
    ngx_flag_t           enable;
    ngx_str_t            prefix;
    ngx_str_t            store;
    ngx_str_t            pool_name;
    ngx_thread_pool_t   *pool;
    off_t                max_resource_size;
    off_t                quota;
    ngx_flag_t           plaintext;
    ngx_str_t            sendmail;
    ngx_str_t            sendmail_conf_dir;
    caldav_conf_t        core;
} ngx_http_caldav_loc_conf_t;


typedef struct {
    ngx_http_request_t  *request;
    caldav_dir_t        *dir;
    caldav_conf_t       *core;
    caldav_request_t     req;
    char                *login;
    size_t               login_len;
    char                *password;
    size_t               password_len;
    char                 user[CALDAV_MAX_USER + 1];
    ngx_chain_t         *body_bufs;
    char                *body;
    int                  auth_rc;
    mtr_err_t            err;
    caldav_response_t    resp;
} ngx_http_caldav_task_ctx_t;


static ngx_int_t ngx_http_caldav_handler(ngx_http_request_t *r);
static int ngx_http_caldav_gal(void *unused, const char *domain,
    void (*each)(const char *uid, const char *vcard, size_t len,
                 const char *etag, void *ctx),
    void *ctx, mtr_err_t *err);
static int ngx_http_caldav_user_exists(void *unused, const char *user,
    char *displayname_r, size_t displayname_size);
static void ngx_http_caldav_body_read(ngx_http_request_t *r);
static void ngx_http_caldav_thread(void *data, ngx_log_t *log);
static void ngx_http_caldav_done(ngx_event_t *ev);
static ngx_int_t ngx_http_caldav_send(ngx_http_request_t *r,
    ngx_http_caldav_task_ctx_t *t);
static ngx_int_t ngx_http_caldav_add_header(ngx_http_request_t *r,
    const char *key, const char *value);
static char *ngx_http_caldav(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_caldav_sendmail(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void *ngx_http_caldav_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_caldav_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_caldav_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_caldav_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_caldav_init_process(ngx_cycle_t *cycle);
static void ngx_http_caldav_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_caldav_commands[] = {

    { ngx_string("caldav"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_caldav,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("caldav_prefix"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_caldav_loc_conf_t, prefix),
      NULL },

    { ngx_string("caldav_store"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_caldav_loc_conf_t, store),
      NULL },

    { ngx_string("caldav_thread_pool"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_caldav_loc_conf_t, pool_name),
      NULL },

    { ngx_string("caldav_max_resource_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_off_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_caldav_loc_conf_t, max_resource_size),
      NULL },

    { ngx_string("caldav_quota"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_off_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_caldav_loc_conf_t, quota),
      NULL },

    { ngx_string("caldav_plaintext"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_caldav_loc_conf_t, plaintext),
      NULL },

    { ngx_string("caldav_sendmail"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_caldav_sendmail,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("caldav_ldap_uri"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_caldav_main_conf_t, ldap_uri),
      NULL },

    { ngx_string("caldav_ldap_base"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_caldav_main_conf_t, ldap_base),
      NULL },

    { ngx_string("caldav_ldap_bind_dn"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_caldav_main_conf_t, ldap_bind_dn),
      NULL },

    { ngx_string("caldav_ldap_password_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_caldav_main_conf_t, ldap_password_file),
      NULL },

    { ngx_string("caldav_ldap_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_caldav_main_conf_t, ldap_timeout),
      NULL },

    { ngx_string("caldav_cache_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_caldav_main_conf_t, cache_ttl),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_caldav_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_caldav_create_main_conf,      /* create main configuration */
    ngx_http_caldav_init_main_conf,        /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_caldav_create_loc_conf,       /* create location configuration */
    ngx_http_caldav_merge_loc_conf         /* merge location configuration */
};


ngx_module_t  ngx_http_caldav_module = {
    NGX_MODULE_V1,
    &ngx_http_caldav_module_ctx,           /* module context */
    ngx_http_caldav_commands,              /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_caldav_init_process,          /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_caldav_exit_process,          /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* The directory handle of this worker process (made in init_process). */
static caldav_dir_t  *ngx_http_caldav_dir;


static int
ngx_http_caldav_gal(void *unused, const char *domain,
    void (*each)(const char *uid, const char *vcard, size_t len,
                 const char *etag, void *ctx),
    void *ctx, mtr_err_t *err)
{
    return caldav_dir_gal(ngx_http_caldav_dir, domain, each, ctx, err);
}


static int
ngx_http_caldav_user_exists(void *unused, const char *user,
    char *displayname_r, size_t displayname_size)
{
    return caldav_dir_user_exists(ngx_http_caldav_dir, user, displayname_r,
                                  displayname_size);
}


/* A NUL-terminated copy of a header value, or NULL. */
static char *
ngx_http_caldav_hdup(ngx_pool_t *pool, ngx_table_elt_t *h)
{
    char  *p;

    if (h == NULL) {
        return NULL;
    }

    p = ngx_pnalloc(pool, h->value.len + 1);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, h->value.data, h->value.len);
    p[h->value.len] = '\0';

    return p;
}


static ngx_table_elt_t *
ngx_http_caldav_find_header(ngx_http_request_t *r, const char *name)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(name);
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


static ngx_int_t
ngx_http_caldav_unauthorized(ngx_http_request_t *r)
{
    if (ngx_http_caldav_add_header(r, "WWW-Authenticate",
                                   "Basic realm=\"Mortar\", charset=\"UTF-8\"")
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_HTTP_UNAUTHORIZED;
}


static ngx_int_t
ngx_http_caldav_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_http_caldav_loc_conf_t  *lcf;
    ngx_http_caldav_task_ctx_t  *t;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_caldav_module);

    t = ngx_pcalloc(r->pool, sizeof(ngx_http_caldav_task_ctx_t));
    if (t == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    t->request = r;
    t->core = &lcf->core;
    t->dir = ngx_http_caldav_dir;

    if (t->dir == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "caldav: no directory handle in this worker");
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    caldav_response_init(&t->resp);
    ngx_http_set_ctx(r, t, ngx_http_caldav_module);

    /* credentials: OPTIONS and the well-known redirects need none */

    rc = ngx_http_auth_basic_user(r);

    if (rc == NGX_ERROR) {
        return ngx_http_caldav_unauthorized(r);
    }

    if (rc == NGX_OK) {
        if (r->connection->ssl == NULL && !lcf->plaintext) {
            ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                          "caldav: Basic credentials refused without TLS");
            return NGX_HTTP_FORBIDDEN;
        }

        t->login = (char *) r->headers_in.user.data;
        t->login_len = r->headers_in.user.len;
        t->password = (char *) r->headers_in.passwd.data;
        t->password_len = r->headers_in.passwd.len;

    } else if (r->method != NGX_HTTP_OPTIONS
               && !(r->uri.len > 12
                    && ngx_strncmp(r->uri.data, "/.well-known", 12) == 0))
    {
        return ngx_http_caldav_unauthorized(r);
    }

    t->req.method = ngx_pnalloc(r->pool, r->method_name.len + 1);
    t->req.path = ngx_pnalloc(r->pool, r->uri.len + 1);
    if (t->req.method == NULL || t->req.path == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy((char *) t->req.method, r->method_name.data,
               r->method_name.len);
    ((char *) t->req.method)[r->method_name.len] = '\0';
    ngx_memcpy((char *) t->req.path, r->uri.data, r->uri.len);
    ((char *) t->req.path)[r->uri.len] = '\0';
    t->req.path_len = r->uri.len;

    t->req.depth = ngx_http_caldav_hdup(r->pool,
                                    ngx_http_caldav_find_header(r, "Depth"));
    t->req.prefer = ngx_http_caldav_hdup(r->pool,
                                    ngx_http_caldav_find_header(r, "Prefer"));
    t->req.if_match = ngx_http_caldav_hdup(r->pool, r->headers_in.if_match);
    t->req.if_none_match = ngx_http_caldav_hdup(r->pool,
                                                r->headers_in.if_none_match);
    t->req.content_type = ngx_http_caldav_hdup(r->pool,
                                               r->headers_in.content_type);

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_caldav_body_read);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* The body is read: hand the request to the thread pool. */
static void
ngx_http_caldav_body_read(ngx_http_request_t *r)
{
    ngx_thread_task_t           *task;
    ngx_http_caldav_task_ctx_t  *t, **tp;
    ngx_http_caldav_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_caldav_module);
    t = ngx_http_get_module_ctx(r, ngx_http_caldav_module);

    if (r->request_body) {
        t->body_bufs = r->request_body->bufs;
    }

    task = ngx_thread_task_alloc(r->pool, sizeof(ngx_http_caldav_task_ctx_t *));
    if (task == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    tp = task->ctx;
    *tp = t;
    task->handler = ngx_http_caldav_thread;
    task->event.handler = ngx_http_caldav_done;
    task->event.data = t;

    if (ngx_thread_task_post(lcf->pool, task) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    r->main->blocked++;
    r->aio = 1;
}


/*
 * In a pool thread: collect the body (from memory or nginx's temporary
 * file), check the login, run the core.  No nginx pool or log calls.
 */
static void
ngx_http_caldav_thread(void *data, ngx_log_t *log)
{
    ngx_http_caldav_task_ctx_t  *t = *(ngx_http_caldav_task_ctx_t **) data;
    size_t                       len, off;
    ssize_t                      n;
    ngx_chain_t                 *cl;
    ngx_buf_t                   *b;

    len = 0;
    for (cl = t->body_bufs; cl; cl = cl->next) {
        b = cl->buf;
        len += b->in_file ? (size_t) (b->file_last - b->file_pos)
                          : (size_t) (b->last - b->pos);
    }

    if (len > 0) {
        t->body = malloc(len + 1);
        if (t->body == NULL) {
            t->resp.status = 500;
            return;
        }

        off = 0;
        for (cl = t->body_bufs; cl; cl = cl->next) {
            b = cl->buf;

            if (b->in_file) {
                size_t  want = (size_t) (b->file_last - b->file_pos);

                n = pread(b->file->fd, t->body + off, want, b->file_pos);
                if (n != (ssize_t) want) {
                    t->resp.status = 500;
                    mtr_err_set(&t->err, "reading the request body file");
                    return;
                }
                off += want;

            } else {
                ngx_memcpy(t->body + off, b->pos, b->last - b->pos);
                off += b->last - b->pos;
            }
        }

        t->body[len] = '\0';
    }

    t->req.body = t->body;
    t->req.body_len = len;

    if (t->login != NULL) {
        t->auth_rc = caldav_dir_login(t->dir, t->login, t->login_len,
                                      t->password, t->password_len, t->user,
                                      &t->err);
        mtr_wipe(t->password, t->password_len);

        if (t->auth_rc != MTR_OK) {
            return;
        }

        t->req.user = t->user;
    }

    caldav_handle(t->core, &t->req, &t->resp);
}


static void
ngx_http_caldav_done(ngx_event_t *ev)
{
    ngx_int_t                    rc;
    ngx_connection_t            *c;
    ngx_http_request_t          *r;
    ngx_http_caldav_task_ctx_t  *t;

    t = ev->data;
    r = t->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    r->main->blocked--;
    r->aio = 0;

    rc = ngx_http_caldav_send(r, t);

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_caldav_cleanup(void *data)
{
    ngx_http_caldav_task_ctx_t  *t = data;

    if (t->password != NULL) {
        /* also when the task ended before the login was checked */
        mtr_wipe(t->password, t->password_len);
    }

    caldav_response_free(&t->resp);
    free(t->body);
}


static ngx_int_t
ngx_http_caldav_send(ngx_http_request_t *r, ngx_http_caldav_task_ctx_t *t)
{
    char                 shown[256];
    ngx_int_t            rc;
    ngx_uint_t           level;
    ngx_buf_t           *b;
    ngx_chain_t          out;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        caldav_response_free(&t->resp);
        free(t->body);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_caldav_cleanup;
    cln->data = t;

    if (t->login != NULL && t->auth_rc != MTR_OK) {
        (void) mtr_sanitize(shown, sizeof(shown), t->login, t->login_len);

        if (t->auth_rc == MTR_DECLINED) {
            ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                          "caldav: login refused for \"%s\": %s", shown,
                          t->err.msg);
            return ngx_http_caldav_unauthorized(r);
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "caldav: directory unavailable: %s", t->err.msg);
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    if (t->resp.status == 0 || t->resp.status == 500) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "caldav: %s %s", t->resp.log, t->err.msg);
        if (t->resp.body.len == 0) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (t->resp.log[0] != '\0') {
        level = t->resp.status >= 500 ? NGX_LOG_ERR
                : t->resp.status >= 400 ? NGX_LOG_NOTICE : NGX_LOG_INFO;
        (void) mtr_sanitize(shown, sizeof(shown), t->resp.log,
                            ngx_strlen(t->resp.log));
        ngx_log_error(level, r->connection->log, 0, "caldav: %s %V: %s",
                      t->req.method, &r->uri, shown);
    }

    if (t->resp.status == 401) {
        rc = ngx_http_caldav_unauthorized(r);
        if (rc != NGX_HTTP_UNAUTHORIZED) {
            return rc;
        }
    }

    if (t->resp.dav_header) {
        if (ngx_http_caldav_add_header(r, "DAV",
                "1, 3, access-control, calendar-access, "
                "calendar-auto-schedule, addressbook, extended-mkcol, "
                "resource-sharing")
            != NGX_OK
            || ngx_http_caldav_add_header(r, "Allow", caldav_allow_methods())
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (t->resp.etag[0] != '\0'
        && ngx_http_caldav_add_header(r, "ETag", t->resp.etag) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (t->resp.location[0] != '\0'
        && ngx_http_caldav_add_header(r, "Location", t->resp.location)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (t->resp.status == 207 && t->req.prefer != NULL
        && ngx_strstr(t->req.prefer, "return=minimal") != NULL
        && ngx_http_caldav_add_header(r, "Preference-Applied",
                                      "return=minimal")
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = t->resp.status;

    if (t->resp.status == 207) {
        /* nginx's status table stops at 206 */
        ngx_str_set(&r->headers_out.status_line, "207 Multi-Status");
    }
    r->headers_out.content_length_n = t->resp.body.len;

    if (t->resp.content_type != NULL) {
        r->headers_out.content_type.len = ngx_strlen(t->resp.content_type);
        r->headers_out.content_type.data = (u_char *) t->resp.content_type;
        r->headers_out.content_type_len = r->headers_out.content_type.len;
        r->headers_out.content_type_lowcase = NULL;
    }

    if (t->resp.body.len == 0) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = (u_char *) t->resp.body.data;
    b->last = b->pos + t->resp.body.len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static ngx_int_t
ngx_http_caldav_add_header(ngx_http_request_t *r, const char *key,
    const char *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.len = ngx_strlen(key);
    h->key.data = (u_char *) key;
    h->value.len = ngx_strlen(value);
    h->value.data = ngx_pnalloc(r->pool, h->value.len);
    if (h->value.data == NULL) {
        return NGX_ERROR;
    }
    ngx_memcpy(h->value.data, value, h->value.len);
    h->lowcase_key = NULL;

    return NGX_OK;
}


static char *
ngx_http_caldav(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_caldav_loc_conf_t  *lcf = conf;
    ngx_http_core_loc_conf_t    *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "is duplicate or conflicts with another content handler";
    }

    clcf->handler = ngx_http_caldav_handler;
    lcf->enable = 1;

    return NGX_CONF_OK;
}


/* caldav_sendmail off | PATH [CONFIG_DIR] */
static char *
ngx_http_caldav_sendmail(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_caldav_loc_conf_t  *lcf = conf;
    ngx_str_t                   *value;
    ngx_uint_t                   i;

    if (lcf->sendmail.data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2
        && ngx_strcmp(value[1].data, "off") == 0)
    {
        ngx_str_set(&lcf->sendmail, "");
        ngx_str_set(&lcf->sendmail_conf_dir, "");
        return NGX_CONF_OK;
    }

    for (i = 1; i < cf->args->nelts; i++) {
        if (value[i].len == 0 || value[i].data[0] != '/') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "caldav_sendmail: \"%V\" is not an absolute "
                               "path", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    lcf->sendmail = value[1];

    if (cf->args->nelts == 3) {
        lcf->sendmail_conf_dir = value[2];

    } else {
        ngx_str_set(&lcf->sendmail_conf_dir, "");
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_caldav_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_caldav_main_conf_t  *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_caldav_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    mcf->ldap_timeout = NGX_CONF_UNSET_MSEC;
    mcf->cache_ttl = NGX_CONF_UNSET;

    return mcf;
}


static char *
ngx_http_caldav_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_caldav_main_conf_t  *mcf = conf;
    ngx_file_t                    file;
    ngx_file_info_t               fi;
    ssize_t                       n;
    u_char                       *p;

    ngx_conf_init_msec_value(mcf->ldap_timeout, 5000);
    ngx_conf_init_value(mcf->cache_ttl, 60);

    if (mcf->ldap_password_file.len == 0) {
        return NGX_CONF_OK;
    }

    if (ngx_conf_full_name(cf->cycle, &mcf->ldap_password_file, 1) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = mcf->ldap_password_file;
    file.log = cf->log;
    file.fd = ngx_open_file(file.name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "caldav_ldap_password_file: cannot open \"%V\"",
                           &file.name);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > 4096)
    {
        ngx_close_file(file.fd);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "caldav_ldap_password_file: \"%V\" is not a "
                           "password file", &file.name);
        return NGX_CONF_ERROR;
    }

    p = ngx_pnalloc(cf->pool, (size_t) ngx_file_size(&fi) + 1);
    if (p == NULL) {
        ngx_close_file(file.fd);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_file(&file, p, (size_t) ngx_file_size(&fi), 0);
    ngx_close_file(file.fd);

    if (n < 0) {
        return NGX_CONF_ERROR;
    }

    while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r')) {
        n--;
    }

    p[n] = '\0';
    mcf->ldap_password.data = p;
    mcf->ldap_password.len = n;

    return NGX_CONF_OK;
}


static void *
ngx_http_caldav_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_caldav_loc_conf_t  *lcf;

    lcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_caldav_loc_conf_t));
    if (lcf == NULL) {
        return NULL;
    }

    lcf->enable = NGX_CONF_UNSET;
    lcf->max_resource_size = NGX_CONF_UNSET;
    lcf->quota = NGX_CONF_UNSET;
    lcf->plaintext = NGX_CONF_UNSET;

    return lcf;
}


static char *
ngx_http_caldav_cstr(ngx_conf_t *cf, ngx_str_t *s)
{
    char  *p;

    p = ngx_pnalloc(cf->pool, s->len + 1);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, s->data, s->len);
    p[s->len] = '\0';

    return p;
}


static char *
ngx_http_caldav_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_caldav_loc_conf_t  *prev = parent;
    ngx_http_caldav_loc_conf_t  *conf = child;
    ngx_http_caldav_main_conf_t *mcf;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_str_value(conf->prefix, prev->prefix, "/dav");
    ngx_conf_merge_str_value(conf->store, prev->store, "");
    ngx_conf_merge_str_value(conf->pool_name, prev->pool_name, "default");
    ngx_conf_merge_off_value(conf->max_resource_size,
                             prev->max_resource_size, 10 * 1024 * 1024);
    ngx_conf_merge_off_value(conf->quota, prev->quota, 0);
    ngx_conf_merge_value(conf->plaintext, prev->plaintext, 0);

    if (conf->sendmail.data == NULL) {
        conf->sendmail = prev->sendmail;
        conf->sendmail_conf_dir = prev->sendmail_conf_dir;
    }

    if (!conf->enable) {
        return NGX_CONF_OK;
    }

    if (conf->store.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"caldav\" needs \"caldav_store\" (a directory "
                           "pattern such as /var/lib/mortar/dav/%%d/%%n)");
        return NGX_CONF_ERROR;
    }

    if (conf->prefix.len == 0 || conf->prefix.data[0] != '/'
        || conf->prefix.data[conf->prefix.len - 1] == '/')
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "caldav_prefix \"%V\" must start with \"/\" and "
                           "not end with one", &conf->prefix);
        return NGX_CONF_ERROR;
    }

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_caldav_module);

    if (mcf->ldap_uri.len == 0 || mcf->ldap_base.len == 0
        || mcf->ldap_bind_dn.len == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"caldav\" needs caldav_ldap_uri, "
                           "caldav_ldap_base and caldav_ldap_bind_dn in the "
                           "http block");
        return NGX_CONF_ERROR;
    }

    conf->pool = ngx_thread_pool_add(cf, &conf->pool_name);
    if (conf->pool == NULL) {
        return NGX_CONF_ERROR;
    }

    conf->core.prefix = ngx_http_caldav_cstr(cf, &conf->prefix);
    conf->core.store_path = ngx_http_caldav_cstr(cf, &conf->store);
    if (conf->core.prefix == NULL || conf->core.store_path == NULL) {
        return NGX_CONF_ERROR;
    }

    conf->core.max_resource_size = (uint64_t) conf->max_resource_size;
    conf->core.quota_bytes = (uint64_t) conf->quota;
    conf->core.gal_search = ngx_http_caldav_gal;
    conf->core.user_exists = ngx_http_caldav_user_exists;

    if (conf->sendmail.len) {
        conf->core.sendmail_path = ngx_http_caldav_cstr(cf, &conf->sendmail);
        if (conf->core.sendmail_path == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (conf->sendmail_conf_dir.len) {
        conf->core.sendmail_config_dir =
                         ngx_http_caldav_cstr(cf, &conf->sendmail_conf_dir);
        if (conf->core.sendmail_config_dir == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_caldav_init_process(ngx_cycle_t *cycle)
{
    char                          *uri, *base, *dn, *pw;
    mtr_err_t                      err;
    caldav_dir_opts_t              o;
    ngx_http_conf_ctx_t           *ctx;
    ngx_http_caldav_main_conf_t   *mcf;

    ctx = (ngx_http_conf_ctx_t *) cycle->conf_ctx[ngx_http_module.index];
    if (ctx == NULL) {
        return NGX_OK;
    }

    mcf = ctx->main_conf[ngx_http_caldav_module.ctx_index];
    if (mcf->ldap_uri.len == 0) {
        return NGX_OK;
    }

    caldav_global_init();

    uri = ngx_pnalloc(cycle->pool, mcf->ldap_uri.len + 1);
    base = ngx_pnalloc(cycle->pool, mcf->ldap_base.len + 1);
    dn = ngx_pnalloc(cycle->pool, mcf->ldap_bind_dn.len + 1);
    pw = ngx_pnalloc(cycle->pool, mcf->ldap_password.len + 1);
    if (uri == NULL || base == NULL || dn == NULL || pw == NULL) {
        return NGX_ERROR;
    }

    ngx_cpystrn((u_char *) uri, mcf->ldap_uri.data, mcf->ldap_uri.len + 1);
    ngx_cpystrn((u_char *) base, mcf->ldap_base.data, mcf->ldap_base.len + 1);
    ngx_cpystrn((u_char *) dn, mcf->ldap_bind_dn.data,
                mcf->ldap_bind_dn.len + 1);
    if (mcf->ldap_password.len) {
        ngx_cpystrn((u_char *) pw, mcf->ldap_password.data,
                    mcf->ldap_password.len + 1);
    } else {
        pw[0] = '\0';
    }

    ngx_memzero(&o, sizeof(o));
    o.uri = uri;
    o.base = base;
    o.bind_dn = dn;
    o.bind_pw = pw;
    o.timeout_ms = (int) mcf->ldap_timeout;
    o.ttl = (int) mcf->cache_ttl;

    if (caldav_dir_create(&mcf->dir, &o, &err) != MTR_OK) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0, "caldav: %s", err.msg);
        return NGX_ERROR;
    }

    mtr_wipe(pw, ngx_strlen(pw));

    ngx_http_caldav_dir = mcf->dir;

    return NGX_OK;
}


static void
ngx_http_caldav_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_conf_ctx_t          *ctx;
    ngx_http_caldav_main_conf_t  *mcf;

    ctx = (ngx_http_conf_ctx_t *) cycle->conf_ctx[ngx_http_module.index];
    if (ctx == NULL) {
        return;
    }

    mcf = ctx->main_conf[ngx_http_caldav_module.ctx_index];

    /* the pool threads may still hold the handle: it goes with the process */
    (void) mcf;
}
