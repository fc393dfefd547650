/*
 * caldav_types.h -- parsed DAV requests shared by the XML parser
 * (caldav_xml.c, the producer) and the handler, the iCalendar and vCard
 * matchers (caldav_ical.c, caldav_vcard.c, the consumers).
 *
 * Everything hangs off one caldav_req_body_t and is freed by
 * caldav_req_body_free(); strings are NUL-terminated copies (UTF-8).
 * Times are UTC seconds since the epoch; CALDAV_TIME_MIN / _MAX stand for
 * "open" ends of a range.
 */
#ifndef CALDAV_TYPES_H
#define CALDAV_TYPES_H

#include <stddef.h>
#include <stdint.h>

#define CALDAV_TIME_MIN INT64_MIN
#define CALDAV_TIME_MAX INT64_MAX

/* Namespaces (the ns field of a property name). */
#define CALDAV_NS_DAV     "DAV:"
#define CALDAV_NS_CALDAV  "urn:ietf:params:xml:ns:caldav"
#define CALDAV_NS_CARDDAV "urn:ietf:params:xml:ns:carddav"
#define CALDAV_NS_CS      "http://calendarserver.org/ns/"
#define CALDAV_NS_APPLE   "http://apple.com/ns/ical/"

typedef struct caldav_propname_s caldav_propname_t;
struct caldav_propname_s {
    char              *ns;   /* "" for no namespace */
    char              *name; /* local name */
    caldav_propname_t *next;
};

/* text-match (RFC 4791 9.7.5, RFC 6352 10.5.4) */
typedef enum {
    CALDAV_MATCH_CONTAINS = 0, /* the default */
    CALDAV_MATCH_EQUALS,
    CALDAV_MATCH_STARTS_WITH,
    CALDAV_MATCH_ENDS_WITH
} caldav_match_e;

typedef enum {
    CALDAV_COLLATION_ASCII_CASEMAP = 0, /* i;ascii-casemap, the default */
    CALDAV_COLLATION_OCTET,             /* i;octet */
    CALDAV_COLLATION_UNICODE_CASEMAP    /* i;unicode-casemap (CardDAV) */
} caldav_collation_e;

typedef struct caldav_text_match_s caldav_text_match_t;
struct caldav_text_match_s {
    char                *text;
    int                  negate; /* negate-condition="yes" */
    caldav_match_e       match;
    caldav_collation_e   collation;
    caldav_text_match_t *next; /* CardDAV allows several per prop-filter */
};

typedef struct {
    int64_t start; /* CALDAV_TIME_MIN when absent */
    int64_t end;   /* CALDAV_TIME_MAX when absent */
} caldav_time_range_t;

typedef struct caldav_param_filter_s caldav_param_filter_t;
struct caldav_param_filter_s {
    char                  *name; /* upper-cased, e.g. "PARTSTAT" */
    int                    is_not_defined;
    caldav_text_match_t   *text_match; /* NULL: the parameter must exist */
    caldav_param_filter_t *next;
};

typedef struct caldav_prop_filter_s caldav_prop_filter_t;
struct caldav_prop_filter_s {
    char                  *name; /* upper-cased, e.g. "SUMMARY", "EMAIL" */
    int                    is_not_defined;
    int                    test_allof;    /* CardDAV test="allof" */
    caldav_time_range_t   *time_range;    /* CalDAV only */
    caldav_text_match_t   *text_matches;  /* list */
    caldav_param_filter_t *param_filters; /* list */
    caldav_prop_filter_t  *next;
};

typedef struct caldav_comp_filter_s caldav_comp_filter_t;
struct caldav_comp_filter_s {
    char                 *name; /* "VCALENDAR", "VEVENT", "VALARM", ... */
    int                   is_not_defined;
    caldav_time_range_t  *time_range;
    caldav_prop_filter_t *prop_filters; /* list, all must match */
    caldav_comp_filter_t *comp_filters; /* list, all must match */
    caldav_comp_filter_t *next;
};

/* CardDAV <filter test="anyof|allof"> */
typedef struct {
    int                   test_allof; /* default anyof */
    caldav_prop_filter_t *prop_filters;
} caldav_card_filter_t;

typedef enum {
    CALDAV_BODY_NONE = 0,
    CALDAV_BODY_PROPFIND,
    CALDAV_BODY_PROPPATCH,
    CALDAV_BODY_MKCOL, /* MKCALENDAR or extended MKCOL: props to set */
    CALDAV_BODY_CALENDAR_QUERY,
    CALDAV_BODY_CALENDAR_MULTIGET,
    CALDAV_BODY_FREE_BUSY_QUERY,
    CALDAV_BODY_ADDRESSBOOK_QUERY,
    CALDAV_BODY_ADDRESSBOOK_MULTIGET,
    CALDAV_BODY_SYNC_COLLECTION,
    CALDAV_BODY_EXPAND_PROPERTY,
    CALDAV_BODY_PRINCIPAL_PROPERTY_SEARCH,
    CALDAV_BODY_PRINCIPAL_SEARCH_PROPERTY_SET,
    CALDAV_BODY_PRINCIPAL_MATCH,
    CALDAV_BODY_ACL_PRINCIPAL_PROP_SET,
    CALDAV_BODY_SHARE_RESOURCE /* POST D:share-resource */
} caldav_body_e;

typedef enum {
    CALDAV_PROPFIND_ALLPROP = 0, /* also an empty PROPFIND body */
    CALDAV_PROPFIND_PROPNAME,
    CALDAV_PROPFIND_PROP
} caldav_propfind_e;

/* One <set> or <remove> entry of PROPPATCH / MKCALENDAR / MKCOL. */
typedef struct caldav_prop_update_s caldav_prop_update_t;
struct caldav_prop_update_s {
    int   remove; /* 1 for <remove> */
    char *ns;
    char *name;
    char *text; /* text content (trimmed), "" when none */
    char *xml;  /* the whole element re-serialized (dead properties) */
    /* For resourcetype: set when the element holds that child. */
    int rt_collection, rt_calendar, rt_addressbook;
    /* For supported-calendar-component-set: "VEVENT,VTODO" (upper case). */
    char                 *comp_set;
    caldav_prop_update_t *next;
};

typedef struct caldav_href_s caldav_href_t;
struct caldav_href_s {
    char          *href; /* as sent (percent-encoded path or absolute URL) */
    caldav_href_t *next;
};

/* Access of a sharee (draft-pot-webdav-resource-sharing); the values are
 * the ones caldav_store_share_set() takes. */
typedef enum {
    CALDAV_SHARE_NO_ACCESS = 0, /* D:no-access: removes the share */
    CALDAV_SHARE_READ = 1,      /* D:read */
    CALDAV_SHARE_READ_WRITE = 2 /* D:read-write */
} caldav_share_access_e;

/* One <D:sharee> of a D:share-resource body. */
typedef struct caldav_sharee_s caldav_sharee_t;
struct caldav_sharee_s {
    /* as sent, trimmed: "mailto:bob@example.test" or a principal URL */
    char                 *href;
    caldav_share_access_e access;
    caldav_sharee_t      *next;
};

typedef struct {
    caldav_body_e kind;

    /* PROPFIND and the <prop> of every REPORT */
    caldav_propfind_e  propfind;
    caldav_propname_t *props;   /* requested properties, in order */
    caldav_propname_t *include; /* allprop's <include> */

    /* calendar-data / address-data options inside <prop> */
    int                 want_data;  /* calendar-data or address-data */
    int                 has_expand; /* <C:expand start end> */
    caldav_time_range_t expand;
    int                 has_limit_recurrence; /* <C:limit-recurrence-set> */
    caldav_time_range_t limit_recurrence;
    int                 has_limit_freebusy;
    caldav_time_range_t limit_freebusy;

    /* PROPPATCH / MKCALENDAR / extended MKCOL */
    caldav_prop_update_t *updates; /* in document order */

    /* calendar-query, addressbook-query */
    caldav_comp_filter_t *comp_filter; /* root: VCALENDAR */
    caldav_card_filter_t *card_filter;
    char                 *timezone;      /* <C:timezone> text, may be NULL */
    uint64_t              limit_results; /* <D:limit><D:nresults>, 0 none */

    /* multigets */
    caldav_href_t *hrefs;

    /* free-busy-query */
    caldav_time_range_t freebusy;

    /* sync-collection */
    char *sync_token; /* "" for the initial sync */
    int   sync_level; /* 1 or 0 for "infinite" */

    /* principal-property-search: property to match and text, simplified */
    caldav_propname_t *search_props;
    char              *search_text;
    int                search_test_allof;

    /* share-resource (POST), in document order */
    caldav_sharee_t *sharees;
} caldav_req_body_t;

void caldav_req_body_free(caldav_req_body_t *body);

#endif /* CALDAV_TYPES_H */
