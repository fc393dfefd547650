/*
 * bench_policy.c -- load generator for mortar-policy: N concurrent
 * connections, each sending realistic Postfix RCPT requests back to back
 * (the full attribute set of Postfix 3.7) and timing every answer.
 * Prints requests per second and latency percentiles.  Driven by
 * bench/bench_policy.sh, which starts the stack and seeds the directory.
 *
 *   bench-policy -s SOCKET | -i HOST:PORT [-c connections] [-t seconds]
 *                [-w warmup_seconds] -D domain [-G grey_domain] [-u users]
 *
 * The mix, per connection and in a fixed pseudo-random order:
 *   50 %  inbound mail (no SASL) to a user of -D with SIZE=1k..100k:
 *         the quota check (directory cache + one Redis script)
 *   35 %  authenticated submission by a user of -D, 1 to 3 recipients per
 *         message, half of them local: rate limits (+ quota when local)
 *   15 %  inbound mail to -G (greylisting on) from a pool of 500 triplets:
 *         greylisting read, and a write while a triplet is deferred
 * Users uNNN@domain exist in the directory with generous limits, so every
 * path runs to its end and nothing is deferred for going over a limit.
 */
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BENCH_REQ_MAX 4096

typedef struct {
    pthread_t tid;
    unsigned  id;
    uint64_t *lat; /* nanoseconds */
    size_t    n, cap;
    uint64_t  dunno, reject, defer, other, errors;
} bench_conn_t;

static const char *opt_socket, *opt_inet, *opt_domain, *opt_grey;
static unsigned    opt_conns = 32, opt_users = 50;
static double      opt_seconds = 10, opt_warmup = 2;
static uint64_t    t_start, t_measure, t_end;

static uint64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static int
connect_policy(void)
{
    int fd;

    if (opt_socket != NULL) {
        struct sockaddr_un sa;

        memset(&sa, 0, sizeof(sa));
        sa.sun_family = AF_UNIX;
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", opt_socket);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0) {
            return fd;
        }
    } else {
        char             host[256], *colon;
        struct addrinfo *ai, hints;

        snprintf(host, sizeof(host), "%s", opt_inet);
        colon = strrchr(host, ':');
        if (colon == NULL) {
            return -1;
        }
        *colon = '\0';
        memset(&hints, 0, sizeof(hints));
        hints.ai_socktype = SOCK_STREAM;
        if (getaddrinfo(host, colon + 1, &hints, &ai) != 0) {
            return -1;
        }
        fd = socket(ai->ai_family, SOCK_STREAM, 0);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            freeaddrinfo(ai);
            return fd;
        }
        freeaddrinfo(ai);
    }

    if (fd >= 0) {
        close(fd);
    }
    return -1;
}

/* xorshift: a fixed, cheap pseudo-random sequence per connection. */
static uint32_t
rnd(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* One request as Postfix 3.7 sends it at RCPT. */
static int
make_request(char *buf, size_t size, bench_conn_t *c, uint32_t *seed,
             unsigned *msg, unsigned *left)
{
    uint32_t    r = rnd(seed) % 100, u = rnd(seed) % opt_users;
    char        sender[128], rcpt[128], client[64], sasl[128], inst[64];
    const char *helo = "mx.outside.example";
    unsigned    msize = 1024 + rnd(seed) % 100000;

    sasl[0] = '\0';

    if (r < 50 || (r >= 85 && opt_grey == NULL)) {
        snprintf(sender, sizeof(sender), "news%u@outside.example",
                 rnd(seed) % 1000);
        snprintf(rcpt, sizeof(rcpt), "u%03u@%s", u, opt_domain);
        snprintf(client, sizeof(client), "198.51.%u.%u", rnd(seed) % 256,
                 1 + rnd(seed) % 254);
        (*msg)++;
    } else if (r < 85) {
        snprintf(sasl, sizeof(sasl), "u%03u@%s", c->id % opt_users, opt_domain);
        snprintf(sender, sizeof(sender), "%s", sasl);
        if (rnd(seed) % 2) {
            snprintf(rcpt, sizeof(rcpt), "u%03u@%s", u, opt_domain);
        } else {
            snprintf(rcpt, sizeof(rcpt), "friend%u@elsewhere.example",
                     rnd(seed) % 10000);
        }
        snprintf(client, sizeof(client), "203.0.113.%u", 1 + c->id % 254);
        helo = "laptop.example";
        /* 1 to 3 recipients per message: one instance for all of them. */
        if (*left == 0) {
            (*msg)++;
            *left = 1 + rnd(seed) % 3;
        }
        (*left)--;
    } else {
        unsigned t = rnd(seed) % 500;

        snprintf(sender, sizeof(sender), "list%u@outside.example", t % 50);
        snprintf(rcpt, sizeof(rcpt), "u%03u@%s", t % opt_users, opt_grey);
        snprintf(client, sizeof(client), "192.0.2.%u", 1 + t % 10);
        (*msg)++;
    }

    snprintf(inst, sizeof(inst), "%x.%x.%x.0", c->id, *msg, (unsigned) t_start);

    return snprintf(buf, size,
                    "request=smtpd_access_policy\n"
                    "protocol_state=RCPT\n"
                    "protocol_name=ESMTP\n"
                    "client_address=%s\n"
                    "client_name=unknown\n"
                    "client_port=%u\n"
                    "reverse_client_name=unknown\n"
                    "server_address=127.0.0.1\n"
                    "server_port=25\n"
                    "helo_name=%s\n"
                    "sender=%s\n"
                    "recipient=%s\n"
                    "recipient_count=0\n"
                    "queue_id=\n"
                    "instance=%s\n"
                    "size=%u\n"
                    "etrn_domain=\n"
                    "stress=\n"
                    "sasl_method=%s\n"
                    "sasl_username=%s\n"
                    "sasl_sender=\n"
                    "ccert_subject=\n"
                    "ccert_issuer=\n"
                    "ccert_fingerprint=\n"
                    "ccert_pubkey_fingerprint=\n"
                    "encryption_protocol=TLSv1.3\n"
                    "encryption_cipher=TLS_AES_256_GCM_SHA384\n"
                    "encryption_keysize=256\n"
                    "policy_context=\n"
                    "compatibility_level=3.6\n"
                    "mail_version=3.7.11\n"
                    "\n",
                    client, 40000 + rnd(seed) % 20000, helo, sender, rcpt, inst,
                    msize, sasl[0] ? "PLAIN" : "", sasl);
}

static void *
run_conn(void *arg)
{
    bench_conn_t *c = arg;
    char          req[BENCH_REQ_MAX], reply[1024];
    uint32_t      seed = 2463534242u ^ (c->id * 2654435761u);
    unsigned      msg = 0, left = 0;
    uint64_t      t0, t1;
    size_t        got;
    ssize_t       n;
    int           fd, len;

    fd = connect_policy();
    if (fd < 0) {
        fprintf(stderr, "bench-policy: connect: %s\n", strerror(errno));
        c->errors++;
        return NULL;
    }

    for (;;) {
        len = make_request(req, sizeof(req), c, &seed, &msg, &left);
        t0 = now_ns();
        if (t0 >= t_end) {
            break;
        }
        if (write(fd, req, (size_t) len) != len) {
            c->errors++;
            break;
        }
        got = 0;
        while (got < 2 || reply[got - 1] != '\n' || reply[got - 2] != '\n') {
            n = read(fd, reply + got, sizeof(reply) - 1 - got);
            if (n <= 0) {
                c->errors++;
                goto done;
            }
            got += (size_t) n;
            if (got >= sizeof(reply) - 1) {
                c->errors++;
                goto done;
            }
        }
        t1 = now_ns();
        reply[got] = '\0';

        if (t0 < t_measure) {
            continue;
        }

        if (strncmp(reply, "action=DUNNO", 12) == 0
            || strncmp(reply, "action=PREPEND", 14) == 0)
        {
            c->dunno++;
        } else if (strncmp(reply, "action=5", 8) == 0) {
            c->reject++;
        } else if (strncmp(reply, "action=4", 8) == 0
                   || strncmp(reply, "action=DEFER", 12) == 0)
        {
            c->defer++;
        } else {
            c->other++;
        }

        if (c->n == c->cap) {
            c->cap = c->cap ? 2 * c->cap : 65536;
            c->lat = realloc(c->lat, c->cap * sizeof(*c->lat));
            if (c->lat == NULL) {
                abort();
            }
        }
        c->lat[c->n++] = t1 - t0;
    }

done:
    close(fd);
    return NULL;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

    return x < y ? -1 : x > y;
}

static double
pct(const uint64_t *v, size_t n, double p)
{
    size_t i = (size_t) ceil(p / 100.0 * (double) n);

    if (n == 0) {
        return 0;
    }
    if (i > 0) {
        i--;
    }
    if (i >= n) {
        i = n - 1;
    }
    return (double) v[i] / 1e6;
}

static void
usage(void)
{
    fprintf(stderr,
            "usage: bench-policy -s SOCKET | -i HOST:PORT [-c conns] "
            "[-t seconds] [-w warmup] -D domain [-G grey_domain] [-u users]\n");
    exit(2);
}

int
main(int argc, char **argv)
{
    bench_conn_t *conns;
    uint64_t     *all, total = 0, dunno = 0, reject = 0, defer = 0, other = 0,
                   errors = 0;
    size_t n = 0, i;
    double secs;
    int    opt;

    while ((opt = getopt(argc, argv, "s:i:c:t:w:D:G:u:")) != -1) {
        switch (opt) {
        case 's':
            opt_socket = optarg;
            break;
        case 'i':
            opt_inet = optarg;
            break;
        case 'c':
            opt_conns = (unsigned) atoi(optarg);
            break;
        case 't':
            opt_seconds = atof(optarg);
            break;
        case 'w':
            opt_warmup = atof(optarg);
            break;
        case 'D':
            opt_domain = optarg;
            break;
        case 'G':
            opt_grey = optarg;
            break;
        case 'u':
            opt_users = (unsigned) atoi(optarg);
            break;
        default:
            usage();
        }
    }

    if ((opt_socket == NULL) == (opt_inet == NULL) || opt_domain == NULL
        || opt_conns == 0 || opt_conns > 4096 || opt_users == 0
        || opt_seconds <= 0)
    {
        usage();
    }

    conns = calloc(opt_conns, sizeof(*conns));
    if (conns == NULL) {
        return 1;
    }

    t_start = now_ns();
    t_measure = t_start + (uint64_t) (opt_warmup * 1e9);
    t_end = t_measure + (uint64_t) (opt_seconds * 1e9);

    for (i = 0; i < opt_conns; i++) {
        conns[i].id = (unsigned) i;
        pthread_create(&conns[i].tid, NULL, run_conn, &conns[i]);
    }

    for (i = 0; i < opt_conns; i++) {
        pthread_join(conns[i].tid, NULL);
        total += conns[i].n;
        dunno += conns[i].dunno;
        reject += conns[i].reject;
        defer += conns[i].defer;
        other += conns[i].other;
        errors += conns[i].errors;
    }

    all = malloc((total ? total : 1) * sizeof(*all));
    if (all == NULL) {
        return 1;
    }
    for (i = 0; i < opt_conns; i++) {
        memcpy(all + n, conns[i].lat, conns[i].n * sizeof(*all));
        n += conns[i].n;
        free(conns[i].lat);
    }
    qsort(all, n, sizeof(*all), cmp_u64);
    secs = opt_seconds;

    printf("mortar-policy: %u connections, %.0f s measured after %.0f s "
           "warm-up, %s%s\n",
           opt_conns, opt_seconds, opt_warmup,
           opt_socket ? "unix:" : "inet:", opt_socket ? opt_socket : opt_inet);
    printf("  requests     %llu (errors %llu)\n", (unsigned long long) n,
           (unsigned long long) errors);
    printf("  req/s        %.0f\n", (double) n / secs);
    printf("  latency p50  %.3f ms\n", pct(all, n, 50));
    printf("  latency p90  %.3f ms\n", pct(all, n, 90));
    printf("  latency p99  %.3f ms\n", pct(all, n, 99));
    printf("  latency max  %.3f ms\n", n ? (double) all[n - 1] / 1e6 : 0.0);
    printf("  actions      dunno/prepend %llu, 4xx/defer %llu, 5xx %llu, "
           "other %llu\n",
           (unsigned long long) dunno, (unsigned long long) defer,
           (unsigned long long) reject, (unsigned long long) other);

    free(all);
    free(conns);

    return errors != 0 || other != 0;
}
