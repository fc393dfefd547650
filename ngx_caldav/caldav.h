/*
 * caldav.h -- the CalDAV/CardDAV request core behind ngx_http_caldav_module.
 *
 * The nginx glue reads the request, authenticates it (caldav_auth.h) and
 * hands a caldav_request_t to caldav_handle() in a thread-pool task; the
 * core does everything else -- paths, access control, XML, iCalendar,
 * vCard, storage -- and fills a caldav_response_t the glue sends.  Nothing
 * here touches nginx: the core is tested on its own (test_caldav_handler.c)
 * and runs in any thread.
 *
 * URL space (prefix "/dav" by default):
 *
 *   /.well-known/caldav, /.well-known/carddav      301 to PREFIX/
 *   PREFIX/                                         root
 * (current-user-principal) PREFIX/principals/ principal collection
 *   PREFIX/principals/USER/                         a user's principal
 *   PREFIX/calendars/USER/                          calendar home
 *   PREFIX/calendars/USER/NAME/                     calendar, "inbox", "outbox"
 *   PREFIX/calendars/USER/NAME/OBJECT               calendar object resource
 *   PREFIX/addressbooks/USER/                       address book home
 *   PREFIX/addressbooks/USER/NAME/                  address book
 *   PREFIX/addressbooks/USER/directory/             the domain's global
 *                                                   address book (read-only)
 *
 * USER is the full address (alice@example.test).  A user reaches their own
 * homes, the principals of their domain, and collections shared with them;
 * everything else is 403 (403 rather than 404: the paths of other users'
 * homes are guessable anyway, and clients show 403 as "no permission").
 */
#ifndef CALDAV_H
#define CALDAV_H

#include <stddef.h>
#include <stdint.h>

#include "caldav_buf.h"
#include "mtr_core.h"

#define CALDAV_MAX_PATH    2048 /* decoded request path */
#define CALDAV_MAX_SEGMENT 255  /* one path segment (collection or object) */
#define CALDAV_MAX_USER    320  /* local@domain */

typedef struct caldav_gal_s caldav_gal_t;

/* Per-location settings, read-only after configuration. */
typedef struct {
    const char *prefix;         /* "/dav" (no trailing slash) */
    const char *store_path;     /* "/srv/dav/%d/%n": %d domain, %n local part,
                                   %u the whole address, %% a percent */
    uint64_t max_resource_size; /* bytes of one object; 0 = 10 MB */
    uint64_t quota_bytes;       /* per user, 0 = unlimited */
    /* Global address book (may be NULL: then "directory" does not exist). */
    int (*gal_search)(void *gal_ctx, const char *domain,
                      void (*each)(const char *uid, const char *vcard,
                                   size_t len, const char *etag, void *ctx),
                      void *ctx, mtr_err_t *err);
    void *gal_ctx;
    /* Is USER an account of this deployment?  (for principals of others
     * and for shares; may be NULL: then only the requester exists) */
    int (*user_exists)(void *ctx, const char *user, char *displayname_r,
                       size_t displayname_size);
    void *user_ctx;
    /* iMIP (scheduling with attendees outside the deployment, see
     * caldav_sched.h): Postfix's sendmail, run as
     * "PATH [-C CONFIG_DIR] -i -f ORGANIZER -- ATTENDEE".  NULL: iMIP off
     * (such attendees are logged as not reached).  config_dir NULL: the
     * default Postfix instance. */
    const char *sendmail_path;
    const char *sendmail_config_dir;
} caldav_conf_t;

typedef struct {
    const char *method; /* "PROPFIND", ... */
    const char *path;   /* decoded, normalized by nginx, no query */
    size_t      path_len;
    const char *user;     /* authenticated user: local@domain */
    const char *depth;    /* Depth header or NULL */
    const char *if_match; /* If-Match or NULL */
    const char *if_none_match;
    const char *content_type;
    const char *prefer; /* Prefer header or NULL */
    const char *body;
    size_t      body_len;
} caldav_request_t;

typedef struct {
    int          status;
    caldav_buf_t body;
    const char  *content_type;                   /* static string or NULL */
    char         etag[72];                       /* quoted, "" when none */
    char         location[CALDAV_MAX_PATH + 64]; /* "" when none */
    int          dav_header;   /* send DAV: and Allow: (OPTIONS) */
    int          pref_applied; /* Preference-Applied: return=minimal */
    char         log[512];     /* why, for the error log ("" = nothing) */
} caldav_response_t;

/* Once per process, before threads (libical and libxml2 global state). */
void caldav_global_init(void);

void caldav_response_init(caldav_response_t *resp);
void caldav_response_free(caldav_response_t *resp);

/* Handle one request; always fills resp (errors become 4xx/5xx bodies). */
void caldav_handle(const caldav_conf_t *conf, const caldav_request_t *req,
                   caldav_response_t *resp);

/* The Allow header value. */
const char *caldav_allow_methods(void);

/* Close the stores this thread keeps open (thread exit, tests). */
void caldav_thread_cleanup(void);

#endif /* CALDAV_H */
