/*
 * bench_caldav_store.c -- timings of the CalDAV SQLite store
 * (ngx_caldav/caldav_store.c) on one full calendar.  Not a test: it prints
 * figures and asserts nothing.
 *
 * Build and run from the repository root:
 *
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Ishared/include -Ingx_caldav \
 *      bench/bench_caldav_store.c ngx_caldav/caldav_store.c \
 *      shared/src/mtr_core.c -lsqlite3 -lcrypto -o /tmp/bench_caldav_store
 *   /tmp/bench_caldav_store [-n events] [-r repeats] [-d directory] [-k]
 *
 * It fills one calendar with N events (default 20,000) spread over four
 * years, one hour each, 10 % of them recurring without end (last_end =
 * CALDAV_TIME_MAX), each about 700 bytes of iCalendar, then times:
 *
 *   put        one more event into the full calendar (a new object)
 *   coll_get   reading the calendar's row (ctag / sync token)
 *   week walk  the time-range candidates of one week, without data; the
 *              anchor is the full walk without a range, what a store
 *              without the time index would have to read
 *   changes    sync-collection since a token 10 writes old
 *
 * and prints the median and the 99th percentile of each.  The database is
 * written to -d (default /tmp) and removed at the end (kept with -k, to
 * look at it with the sqlite3 shell).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "caldav_store.h"
#include "caldav_types.h"

#define DAY  ((int64_t) 86400)
#define BASE ((int64_t) 1700000000) /* the middle of the four years */

typedef struct {
    const char *name;
    double     *ns;
    size_t      n;
} series_t;

static uint64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;

    return x < y ? -1 : x > y;
}

static void
report(const char *what, double *ns, size_t n, const char *extra)
{
    qsort(ns, n, sizeof(ns[0]), cmp_double);
    printf("  %-26s median %9.1f us   p99 %9.1f us   (%zu runs)%s\n", what,
           ns[n / 2] / 1000.0, ns[(n * 99) / 100] / 1000.0, n, extra);
}

/* A plausible VEVENT of about 700 bytes. */
static size_t
make_event(char *buf, size_t size, const char *uid, int64_t start,
           int recurring)
{
    time_t    t = (time_t) start;
    struct tm tm;
    char      dt[32];

    gmtime_r(&t, &tm);
    strftime(dt, sizeof(dt), "%Y%m%dT%H%M%SZ", &tm);
    return (size_t) snprintf(
        buf, size,
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Mortar//bench//EN\r\n"
        "BEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:%s\r\nDTSTART:%s\r\n"
        "DURATION:PT1H\r\n%s"
        "SUMMARY:Planning meeting about the quarterly figures\r\n"
        "LOCATION:Room 4.12\\, second floor\r\n"
        "DESCRIPTION:Agenda: review of the last quarter\\, budget for the "
        "next one\\, hiring\\, and any other business. Please bring the "
        "printed report.\r\n"
        "ORGANIZER;CN=Alice Example:mailto:alice@example.test\r\n"
        "ATTENDEE;CN=Bob;PARTSTAT=ACCEPTED:mailto:bob@example.test\r\n"
        "ATTENDEE;CN=Carol;PARTSTAT=NEEDS-ACTION:mailto:carol@example.test\r\n"
        "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\n"
        "DESCRIPTION:Reminder\r\nEND:VALARM\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n",
        uid, dt, dt, recurring ? "RRULE:FREQ=WEEKLY;BYDAY=MO\r\n" : "");
}

static int
count_cb(const caldav_obj_t *o, void *ctx)
{
    (void) o;
    (*(size_t *) ctx)++;
    return 0;
}

static int
put_event(caldav_store_t *st, int64_t coll_id, size_t i, mtr_err_t *err)
{
    char               name[48], uid[48], data[2048], etag[80];
    caldav_obj_index_t ix;
    int64_t            start;
    int                created, recurring = i % 10 == 0;
    size_t             len;

    /* Spread over four years, at whole hours, deterministically. */
    start = BASE - 730 * DAY + (int64_t) ((i * 7919) % (1461 * 24)) * 3600;
    snprintf(name, sizeof(name), "ev-%06zu.ics", i);
    snprintf(uid, sizeof(uid), "%06zu-bench@example.test", i);
    len = make_event(data, sizeof(data), uid, start, recurring);
    ix.uid = uid;
    ix.comp = "VEVENT";
    ix.first_start = start;
    ix.last_end = recurring ? CALDAV_TIME_MAX : start + 3600;
    ix.recurring = recurring;
    return caldav_store_obj_put(st, coll_id, name, data, len, &ix, NULL, 0,
                                etag, &created, NULL, err);
}

int
main(int argc, char **argv)
{
    size_t          n = 20000, reps = 500, cands = 0, total;
    const char     *dir = "/tmp";
    char            path[512], extra[96], wal[600];
    caldav_store_t *st = NULL;
    caldav_coll_t   c;
    mtr_err_t       err;
    double         *ns;
    uint64_t        t, fill, now;
    int             opt, truncated, keep = 0;

    while ((opt = getopt(argc, argv, "n:r:d:k")) != -1) {
        switch (opt) {
        case 'n':
            n = strtoul(optarg, NULL, 10);
            break;
        case 'r':
            reps = strtoul(optarg, NULL, 10);
            break;
        case 'd':
            dir = optarg;
            break;
        case 'k':
            keep = 1;
            break;
        default:
            fprintf(stderr,
                    "usage: %s [-n events] [-r repeats] [-d dir] [-k]\n",
                    argv[0]);
            return 2;
        }
    }
    if (n < 10 || reps < 10) {
        fprintf(stderr, "need at least 10 events and 10 repeats\n");
        return 2;
    }
    ns = calloc(reps, sizeof(*ns));
    snprintf(path, sizeof(path), "%s/bench_caldav_store.%d.sqlite", dir,
             (int) getpid());
    if (ns == NULL
        || caldav_store_open(&st, path, "alice@example.test", &err) != MTR_OK)
    {
        fprintf(stderr, "open: %s\n", ns ? err.msg : "out of memory");
        return 1;
    }
    memset(&c, 0, sizeof(c));
    snprintf(c.name, sizeof(c.name), "bench");
    c.kind = CALDAV_COLL_CALENDAR;
    if (caldav_store_coll_create(st, &c, &err) != MTR_OK) {
        fprintf(stderr, "create: %s\n", err.msg);
        return 1;
    }

    t = now_ns();
    for (size_t i = 0; i < n; i++) {
        if (put_event(st, c.id, i, &err) != MTR_OK) {
            fprintf(stderr, "put %zu: %s\n", i, err.msg);
            return 1;
        }
    }
    fill = now_ns() - t;
    printf("caldav_store, SQLite %s, %zu events (10 %% recurring, "
           "unbounded) in %s\n",
           sqlite3_libversion(), n, dir);
    printf("  fill                       %.2f s, %.1f us per put\n", fill / 1e9,
           fill / 1e3 / (double) n);

    /* One put into the full collection (new objects). */
    for (size_t r = 0; r < reps; r++) {
        t = now_ns();
        if (put_event(st, c.id, n + r, &err) != MTR_OK) {
            fprintf(stderr, "put: %s\n", err.msg);
            return 1;
        }
        ns[r] = (double) (now_ns() - t);
    }
    report("put (new object)", ns, reps, "");

    /* The ctag: one row. */
    for (size_t r = 0; r < reps; r++) {
        caldav_coll_t g;

        t = now_ns();
        if (caldav_store_coll_get(st, "bench", &g, &err) != MTR_OK) {
            fprintf(stderr, "coll_get: %s\n", err.msg);
            return 1;
        }
        ns[r] = (double) (now_ns() - t);
        caldav_coll_clear(&g);
    }
    report("coll_get (ctag)", ns, reps, "");

    /* One week, somewhere in the four years, without data. */
    total = 0;
    for (size_t r = 0; r < reps; r++) {
        int64_t start =
            BASE - 700 * DAY + (int64_t) ((r * 104729) % 1400) * DAY;

        cands = 0;
        t = now_ns();
        if (caldav_store_obj_walk(st, c.id, "VEVENT", start, start + 7 * DAY, 1,
                                  0, count_cb, &cands, &err)
            != MTR_OK)
        {
            fprintf(stderr, "walk: %s\n", err.msg);
            return 1;
        }
        ns[r] = (double) (now_ns() - t);
        total += cands;
    }
    snprintf(extra, sizeof(extra), "  ~%zu candidates", total / reps);
    report("week walk, no data", ns, reps, extra);

    total = 0;
    for (size_t r = 0; r < reps / 10; r++) {
        int64_t start =
            BASE - 700 * DAY + (int64_t) ((r * 104729) % 1400) * DAY;

        cands = 0;
        t = now_ns();
        if (caldav_store_obj_walk(st, c.id, "VEVENT", start, start + 7 * DAY, 1,
                                  1, count_cb, &cands, &err)
            != MTR_OK)
        {
            fprintf(stderr, "walk: %s\n", err.msg);
            return 1;
        }
        ns[r] = (double) (now_ns() - t);
        total += cands;
    }
    report("week walk, with data", ns, reps / 10, "");

    /* Anchor: every object, as without a time index. */
    for (size_t r = 0; r < reps / 10; r++) {
        cands = 0;
        t = now_ns();
        if (caldav_store_obj_walk(st, c.id, "VEVENT", 0, 0, 0, 0, count_cb,
                                  &cands, &err)
            != MTR_OK)
        {
            fprintf(stderr, "walk: %s\n", err.msg);
            return 1;
        }
        ns[r] = (double) (now_ns() - t);
    }
    snprintf(extra, sizeof(extra), "  %zu objects (anchor)", cands);
    report("full walk, no data", ns, reps / 10, extra);

    /* Sync since a token 10 writes old. */
    if (caldav_store_coll_get(st, "bench", &c, &err) != MTR_OK) {
        fprintf(stderr, "coll_get: %s\n", err.msg);
        return 1;
    }
    for (size_t r = 0; r < reps; r++) {
        cands = 0;
        t = now_ns();
        if (caldav_store_changes(st, c.id, c.modseq - 10, 0, 0, count_cb,
                                 &cands, &now, &truncated, &err)
            != MTR_OK)
        {
            fprintf(stderr, "changes: %s\n", err.msg);
            return 1;
        }
        ns[r] = (double) (now_ns() - t);
    }
    snprintf(extra, sizeof(extra), "  %zu changes", cands);
    report("changes since recent token", ns, reps, extra);

    caldav_coll_clear(&c);
    caldav_store_close(&st);
    free(ns);
    if (keep) {
        printf("  kept %s\n", path);
        return 0;
    }
    unlink(path);
    snprintf(wal, sizeof(wal), "%s-wal", path);
    unlink(wal);
    snprintf(wal, sizeof(wal), "%s-shm", path);
    unlink(wal);
    return 0;
}
