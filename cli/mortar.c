/*
 * mortar.c -- the administration command of Mortar.
 *
 * Glue: options, terminal and file input, human and JSON output, exit
 * codes.  Every decision lives in the cores cli/admin_dir.c and
 * cli/admin_import.c (tests/unit/test_admin_dir.c,
 * tests/unit/test_admin_import.c); the command as a whole is exercised by
 * tests/integration/test_cli.py against the real test stack.
 *
 * NAME
 *      mortar - manage the domains, users, groups and license of Mortar
 *
 * SYNOPSIS
 *      mortar [-c FILE] [--json] COMMAND ...   (--json may also follow)
 *
 *      mortar domain add DOMAIN [--FIELD VALUE]...
 *      mortar domain del DOMAIN [--force]
 *      mortar domain list
 *      mortar domain show DOMAIN
 *      mortar domain set DOMAIN [--FIELD VALUE | --add-FIELD V | --del-FIELD
 * V]... mortar user add ADDRESS [--FIELD VALUE]... [PASSWORD] mortar user del
 * ADDRESS mortar user list [DOMAIN] mortar user show ADDRESS mortar user set
 * ADDRESS [--FIELD VALUE | --add-FIELD V | --del-FIELD V]... mortar user passwd
 * ADDRESS [PASSWORD] mortar user enable|disable ADDRESS mortar user import
 * FILE|- [--format csv|ldif] [--no-update] [--verbose] mortar user fields
 *      mortar group add ADDRESS --member ADDRESS... [--FIELD VALUE]...
 *      mortar group del|show ADDRESS
 *      mortar group list [DOMAIN]
 *      mortar group set ADDRESS [--FIELD VALUE]...
 *      mortar group members ADDRESS [add|del ADDRESS...]
 *      mortar alias add|del USER ALIAS...
 *      mortar alias list USER
 *      mortar license install FILE|-
 *      mortar license status
 *      mortar license audit [--fix]
 *
 *      PASSWORD is one of --password - (one line from standard input),
 *      --password-file FILE (its first line) or --random-password (made
 *      and printed).  Without one, `user add` and `user passwd` prompt on
 *      a terminal; `user add` without a terminal makes a user with no
 *      password (it cannot log in until `user passwd`).
 *
 * DESCRIPTION
 *      mortar changes the LDAP directory that Postfix, Dovecot and nginx
 *      read, under the license in force.  Every change is first put to the
 *      license gate (licensing/lic_gate.h): past the license's not-after
 *      date and its grace days, or with no valid key installed, changes
 *      are refused and reads keep working.  `user add` reserves a named
 *      seat in Redis before writing, atomically across admins and nodes;
 *      every user entry is a seat, enabled or disabled.
 *
 *      An ADDRESS is local@domain; a bare local part is taken in the
 *      domain named by `domain` in the configuration.  FIELD names are
 *      listed by `mortar user fields` (user, domain and group fields);
 *      they match case-insensitively, ignoring '-' and '_', so
 *      --given-name, --givenName and --given_name are the same.  A
 *      multi-valued field takes a ';'-separated list or repeated options;
 *      in `set`, --FIELD replaces all values ("" clears the field),
 *      --add-FIELD and --del-FIELD change single values.  Sizes take K,
 *      M, G, T (powers of 1024): --quota 2G.  Phone numbers are written
 *      in international form (+, country code, digits).
 *
 *      `user import` reads CSV (a header row naming the columns: mail,
 *      password, and user fields) or LDIF, chosen by the file's extension
 *      or --format.  Each row is applied on its own: bad rows are
 *      reported (line, address, reason) and never hold back good ones.  A
 *      re-run of the same file changes nothing: an existing user whose
 *      given fields match is "unchanged"; one that differs is updated in
 *      those fields only (or reported, with --no-update); passwords are
 *      set for new users only; empty cells are "not given".  A progress
 *      bar is drawn on standard error when it is a terminal.
 *
 *      `domain del` refuses a domain that still holds users or groups
 *      unless --force is given: then the whole subtree goes and every
 *      user's seat is released.
 *
 * CONFIGURATION
 *      run/mortar.conf (relative to the working directory), or -c FILE:
 *      ldap_uri, ldap_base, ldap_admin_dn, ldap_admin_pw, ldap_timeout_ms,
 *      redis_host, redis_port, redis_timeout_ms, domain.  Other keys of
 *      the file are ignored.  Time zones are checked under
 *      /usr/share/zoneinfo, or $MORTAR_ZONEINFO when set.
 *
 * OUTPUT
 *      Human-readable text on standard output; with --json one JSON
 *      document instead (an object; on failure {"ok": false, "status":
 *      ..., "error": ...}).  Errors and warnings (such as grace days left
 *      on the license) always go to standard error as "mortar: ...".
 *
 * SECURITY
 *      The configuration holds the directory admin's password: keep it
 *      mode 0600.  Passwords are never taken as command-line arguments
 *      (other users can read those); they go to slapd with the Password
 *      Modify operation, so slapd hashes them, and are wiped from memory
 *      after use.  Values are validated before anything is written, and
 *      escaped in LDAP filters (RFC 4515) and DNs (RFC 4514).  LDIF values
 *      given by URL are refused, so an import never reads other files.
 *
 * DIAGNOSTICS
 *      Exit status:
 *        0  success
 *        1  refused: invalid input, a license or seat limit, a domain
 *           rule, a name already taken; `user import`: some rows failed;
 *           `license audit`: more users than seats
 *        2  usage error (unknown command or option, unreadable file)
 *        3  not found (domain, user, group, alias, member)
 *        4  a service is unreachable (LDAP or Redis)
 *        5  other failure (bad configuration, the directory refused)
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "admin_dir.h"
#include "admin_import.h"
#include "lic_gate.h"
#include "lic_policy.h"
#include "lic_trust.h" /* generated by licensing/module.mk */
#include "mtr_config.h"
#include "mtr_ldap.h"
#include "mtr_log.h"
#include "mtr_redis.h"

#define EXIT_REFUSED     1
#define EXIT_USAGE       2
#define EXIT_NOT_FOUND   3
#define EXIT_UNAVAILABLE 4
#define EXIT_FAILED      5

#define CLI_CONF_DEFAULT "run/mortar.conf"
#define CLI_ARGS_MAX     256 /* positional arguments of one command */

/* ---- global state of one run ----------------------------------------- */

typedef struct {
    const char   *conf_path;
    int           json;
    mtr_config_t *cfg;
    const char   *domain; /* default domain, may be NULL */
    mtr_ldap_t   *ldap;
    mtr_redis_t  *redis;
    lic_gate_t   *gate;
    admin_ctx_t   ctx;
} cli_t;

static cli_t cli;

static void cli_usage(const char *topic) __attribute__((noreturn));

static void cli_warn(const char *fmt, ...) MTR_PRINTF(1, 2);

static void
cli_warn(const char *fmt, ...)
{
    va_list ap;

    char msg[2 * MTR_ERR_MAX];

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "mortar: warning: %s\n", msg);
    /* Grace days left, a clock turned back: the log keeps them too. */
    mtr_log(MTR_LOG_WARN, "%s", msg);
}

static void cli_die(int code, const char *fmt, ...) MTR_PRINTF(2, 3)
    __attribute__((noreturn));

static void
cli_cleanup(void)
{
    lic_gate_destroy(&cli.gate);
    mtr_redis_destroy(&cli.redis);
    mtr_ldap_destroy(&cli.ldap);
    mtr_config_destroy(&cli.cfg);
}

static const char *
cli_status_word(int code)
{
    switch (code) {
    case EXIT_USAGE:
        return "usage";
    case EXIT_NOT_FOUND:
        return "not-found";
    case EXIT_UNAVAILABLE:
        return "unavailable";
    case EXIT_FAILED:
        return "failed";
    default:
        return "refused";
    }
}

/* Print an error (and its JSON form) and exit with code. */
static void
cli_die(int code, const char *fmt, ...)
{
    va_list ap;
    char    msg[2 * MTR_ERR_MAX];

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    fprintf(stderr, "mortar: %s\n", msg);
    /* A refused change is a policy decision (NOTICE); a failure is ERR. */
    if (code == EXIT_REFUSED || code == EXIT_NOT_FOUND) {
        mtr_log(MTR_LOG_NOTICE, "refused: %s", msg);
    } else if (code != EXIT_USAGE) {
        mtr_log(MTR_LOG_ERR, "%s", msg);
    }
    if (cli.json) {
        json_t *o = json_pack("{s:b, s:s, s:s}", "ok", 0, "status",
                              cli_status_word(code), "error", msg);

        if (o != NULL) {
            json_dumpf(o, stdout, JSON_INDENT(2));
            fputc('\n', stdout);
            json_decref(o);
        }
    }
    cli_cleanup();
    exit(code);
}

static int
cli_exit_code(admin_status_e st)
{
    switch (st) {
    case ADMIN_OK:
        return 0;
    case ADMIN_INVALID:
    case ADMIN_REFUSED:
    case ADMIN_EXISTS:
        return EXIT_REFUSED;
    case ADMIN_NOT_FOUND:
        return EXIT_NOT_FOUND;
    case ADMIN_UNAVAILABLE:
        return EXIT_UNAVAILABLE;
    default:
        return EXIT_FAILED;
    }
}

/* Show the gate's warnings, then fail on st with err. */
static void
cli_check(admin_status_e st, const mtr_err_t *err)
{
    if (cli.ctx.warn[0] != '\0') {
        cli_warn("%s", cli.ctx.warn);
        cli.ctx.warn[0] = '\0';
    }
    if (st == ADMIN_OK) {
        return;
    }
    if (st == ADMIN_UNAVAILABLE) {
        cli_die(EXIT_UNAVAILABLE,
                "%s (is the service running? check ldap_uri and redis_host "
                "in %s)",
                err->msg, cli.conf_path);
    }
    cli_die(cli_exit_code(st), "%s", err->msg);
}

static void
cli_json_print(json_t *o)
{
    if (o == NULL) {
        cli_die(EXIT_FAILED, "out of memory");
    }
    json_dumpf(o, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(o);
}

/* {"ok": true, ...} for commands that only change things. */
static void cli_done(const char *fmt, ...) MTR_PRINTF(1, 2);

static void
cli_done(const char *fmt, ...)
{
    va_list ap;
    char    msg[1024];

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    /* Every change that went through, for the audit trail. */
    mtr_log(MTR_LOG_INFO, "%s", msg);
    if (cli.json) {
        cli_json_print(json_pack("{s:b, s:s}", "ok", 1, "message", msg));
    } else {
        printf("%s\n", msg);
    }
}

/*
 * Report a user add or password change as "<before><addr><after>": logged
 * without the password; a random password is shown once, to the admin who
 * asked for it.
 */
static void
cli_report_pw(const char *before, const char *addr, const char *after,
              int show_pw, const char *pw)
{
    char msg[512];

    snprintf(msg, sizeof(msg), "%s%s%s", before, addr, after);
    mtr_log(MTR_LOG_INFO, "%s", msg);
    if (cli.json) {
        json_t *o = json_pack("{s:b, s:s}", "ok", 1, "mail", addr);

        if (o != NULL && show_pw) {
            json_object_set_new(o, "password", json_string(pw));
        }
        cli_json_print(o);
    } else {
        printf("%s\n", msg);
        if (show_pw) {
            printf("password: %s\n", pw);
        }
    }
}

/* ---- setup ------------------------------------------------------------- */

static int
cli_conf_uint(const char *key, uint64_t def, uint64_t max)
{
    uint64_t  v;
    mtr_err_t err;

    if (mtr_config_get_uint(cli.cfg, key, def, 0, max, &v, &err) != MTR_OK) {
        cli_die(EXIT_FAILED, "%s", err.msg);
    }
    return (int) v;
}

/* Load the configuration once (address arguments need its domain). */
static void
cli_config(void)
{
    mtr_err_t   err;
    struct stat st;

    if (cli.cfg != NULL) {
        return;
    }
    if (stat(cli.conf_path, &st) != 0) {
        cli_die(EXIT_USAGE,
                "cannot read %s: %s (give the file with -c FILE; `make run` "
                "writes run/mortar.conf)",
                cli.conf_path, strerror(errno));
    }
    if (mtr_config_load(cli.conf_path, &cli.cfg, &err) != MTR_OK) {
        cli_die(EXIT_FAILED, "%s", err.msg);
    }
    cli.domain = mtr_config_get(cli.cfg, "domain");
}

static void
cli_setup(void)
{
    mtr_err_t        err;
    mtr_ldap_opts_t  lo;
    mtr_redis_opts_t ro;
    lic_gate_opts_t  go;
    const char      *uri, *base;

    cli_config();
    if (mtr_config_require(cli.cfg, "ldap_uri", &uri, &err) != MTR_OK
        || mtr_config_require(cli.cfg, "ldap_base", &base, &err) != MTR_OK)
    {
        cli_die(EXIT_FAILED, "%s", err.msg);
    }

    memset(&lo, 0, sizeof(lo));
    lo.uri = uri;
    lo.bind_dn = mtr_config_get(cli.cfg, "ldap_admin_dn");
    lo.bind_pw = mtr_config_get(cli.cfg, "ldap_admin_pw");
    lo.timeout_ms = cli_conf_uint("ldap_timeout_ms", 5000, 600000);
    if (mtr_ldap_create(&cli.ldap, &lo, &err) != MTR_OK) {
        cli_die(EXIT_FAILED, "%s", err.msg);
    }

    memset(&ro, 0, sizeof(ro));
    ro.host = mtr_config_get(cli.cfg, "redis_host");
    ro.port = cli_conf_uint("redis_port", MTR_REDIS_PORT_DEFAULT, 65535);
    ro.timeout_ms = cli_conf_uint("redis_timeout_ms", 2000, 600000);
    if (mtr_redis_create(&cli.redis, &ro, &err) != MTR_OK) {
        cli_die(EXIT_FAILED, "%s", err.msg);
    }

    memset(&go, 0, sizeof(go));
    go.ldap = cli.ldap;
    go.redis = cli.redis;
    go.base = base;
    go.pubkey = lic_trust_pubkey;
    if (lic_gate_create(&cli.gate, &go, &err) != MTR_OK) {
        cli_die(EXIT_FAILED, "%s", err.msg);
    }

    memset(&cli.ctx, 0, sizeof(cli.ctx));
    cli.ctx.ldap = cli.ldap;
    cli.ctx.gate = cli.gate;
    cli.ctx.base = base;
    cli.ctx.zonedir = getenv("MORTAR_ZONEINFO");
    cli.ctx.now = (int64_t) time(NULL);
}

/* ---- arguments ----------------------------------------------------------- */

/*
 * One command's arguments: positional ones, named options, and field
 * changes (--FIELD, --add-FIELD, --del-FIELD) when obj >= 0.
 */
typedef struct {
    const char *name;
    int         has_arg;
    const char *value; /* set when given; "" for flags */
    int         given;
} cli_opt_t;

typedef struct {
    const char     *cmd; /* "user add", for messages */
    cli_opt_t      *opts;
    int             obj; /* admin_obj_e for field options, -1: none */
    admin_changes_t changes;
    const char     *pos[CLI_ARGS_MAX];
    int             npos;
    const char     *members[ADMIN_VALUES_MAX];
    int             nmembers; /* repeated --member */
} cli_args_t;

static cli_opt_t *
cli_opt(cli_args_t *a, const char *name)
{
    cli_opt_t *o;

    for (o = a->opts; o != NULL && o->name != NULL; o++) {
        if (strcmp(o->name, name) == 0) {
            return o;
        }
    }
    return NULL;
}

static const char *
cli_optval(cli_args_t *a, const char *name)
{
    cli_opt_t *o = cli_opt(a, name);

    return o != NULL && o->given ? o->value : NULL;
}

static void
cli_parse(cli_args_t *a, int argc, char **argv)
{
    int       i, rest = 0;
    mtr_err_t err;

    if (a->obj >= 0) {
        admin_changes_init(&a->changes, (admin_obj_e) a->obj, cli.ctx.zonedir);
    }

    for (i = 0; i < argc; i++) {
        const char *arg = argv[i], *name, *eq, *value = NULL;
        char        key[128];
        size_t      klen;
        cli_opt_t  *o;
        admin_op_e  op = ADMIN_SET;

        if (rest || arg[0] != '-' || arg[1] != '-' || arg[2] == '\0') {
            if (!rest && strcmp(arg, "--") == 0) {
                rest = 1;
                continue;
            }
            if (arg[0] == '-' && arg[1] != '\0' && !rest
                && strcmp(arg, "-") != 0) {
                cli_die(EXIT_USAGE,
                        "%s: unknown option %s (see `mortar help %s`)", a->cmd,
                        arg, a->cmd);
            }
            if (a->npos >= CLI_ARGS_MAX) {
                cli_die(EXIT_USAGE, "%s: too many arguments", a->cmd);
            }
            a->pos[a->npos++] = arg;
            continue;
        }

        name = arg + 2;
        eq = strchr(name, '=');
        klen = eq != NULL ? (size_t) (eq - name) : strlen(name);
        if (klen >= sizeof(key)) {
            cli_die(EXIT_USAGE, "%s: option %.40s... too long", a->cmd, arg);
        }
        memcpy(key, name, klen);
        key[klen] = '\0';

        /* --json may also come after the command words. */
        if (strcmp(key, "json") == 0 && eq == NULL) {
            cli.json = 1;
            continue;
        }

        o = cli_opt(a, key);
        if (o != NULL) {
            if (o->has_arg) {
                if (eq != NULL) {
                    value = eq + 1;
                } else if (i + 1 < argc) {
                    value = argv[++i];
                } else {
                    cli_die(EXIT_USAGE, "%s: --%s needs a value", a->cmd, key);
                }
            } else if (eq != NULL) {
                cli_die(EXIT_USAGE, "%s: --%s takes no value", a->cmd, key);
            } else {
                value = "";
            }
            if (strcmp(key, "member") == 0) {
                if (a->nmembers >= ADMIN_VALUES_MAX) {
                    cli_die(EXIT_USAGE, "%s: too many --member", a->cmd);
                }
                a->members[a->nmembers++] = value;
            }
            o->value = value;
            o->given = 1;
            continue;
        }

        if (a->obj < 0) {
            cli_die(EXIT_USAGE,
                    "%s: unknown option --%s (see `mortar help %s`)", a->cmd,
                    key, a->cmd);
        }

        name = key;
        if (strncmp(key, "add-", 4) == 0) {
            op = ADMIN_ADD;
            name = key + 4;
        } else if (strncmp(key, "del-", 4) == 0) {
            op = ADMIN_DEL;
            name = key + 4;
        }
        if (admin_field_find((admin_obj_e) a->obj, name, strlen(name)) == NULL)
        {
            cli_die(EXIT_USAGE,
                    "%s: unknown option --%s (fields: `mortar user fields`; "
                    "options: `mortar help %s`)",
                    a->cmd, key, a->cmd);
        }
        if (eq != NULL) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            cli_die(EXIT_USAGE, "%s: --%s needs a value", a->cmd, key);
        }
        if (admin_changes_put(&a->changes, name, strlen(name), op, value,
                              strlen(value), &err)
            != MTR_OK)
        {
            cli_die(EXIT_REFUSED, "%s", err.msg);
        }
    }
}

static void
cli_npos(cli_args_t *a, int min, int max, const char *what)
{
    if (a->npos < min || (max >= 0 && a->npos > max)) {
        cli_die(EXIT_USAGE, "usage: mortar %s %s", a->cmd, what);
    }
}

static void
cli_args_free(cli_args_t *a)
{
    if (a->obj >= 0) {
        admin_changes_free(&a->changes);
    }
}

/* An address argument; a bare name goes into the default domain. */
static const char *
cli_addr(const char *arg, char *buf, size_t size)
{
    if (strchr(arg, '@') != NULL) {
        return arg;
    }
    cli_config();
    if (cli.domain == NULL || cli.domain[0] == '\0') {
        cli_die(EXIT_USAGE,
                "\"%s\" is not an address (local@domain), and %s sets no "
                "default domain",
                arg, cli.conf_path);
    }
    if ((size_t) snprintf(buf, size, "%s@%s", arg, cli.domain) >= size) {
        cli_die(EXIT_REFUSED, "address too long");
    }
    return buf;
}

/* ---- files and passwords ------------------------------------------------ */

/* Read a whole file (or stdin for "-"), at most max bytes. */
static char *
cli_read_file(const char *path, size_t max, size_t *len_r)
{
    FILE  *f;
    char  *buf = NULL, *p;
    size_t len = 0, cap = 0, n;

    f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL) {
        cli_die(EXIT_USAGE, "cannot open %s: %s", path, strerror(errno));
    }
    for (;;) {
        if (cap - len < 65536) {
            cap = cap ? 2 * cap : 65536;
            p = realloc(buf, cap + 1);
            if (p == NULL) {
                cli_die(EXIT_FAILED, "out of memory reading %s", path);
            }
            buf = p;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (len > max) {
            cli_die(EXIT_USAGE, "%s is larger than %zu bytes", path, max);
        }
        if (n == 0) {
            break;
        }
    }
    if (ferror(f)) {
        cli_die(EXIT_USAGE, "cannot read %s: %s", path, strerror(errno));
    }
    if (f != stdin) {
        fclose(f);
    }
    buf[len] = '\0';
    *len_r = len;
    return buf;
}

/* The first line of f into buf, without its line end. */
static void
cli_read_line(FILE *f, const char *what, char *buf, size_t size)
{
    size_t len;

    if (fgets(buf, (int) size, f) == NULL) {
        cli_die(EXIT_USAGE, "no password in %s", what);
    }
    len = strlen(buf);
    if (len > 0 && buf[len - 1] == '\n') {
        buf[--len] = '\0';
    } else if (len == size - 1 && !feof(f)) {
        mtr_wipe(buf, size);
        cli_die(EXIT_REFUSED, "the password in %s is longer than %d bytes",
                what, ADMIN_PASSWORD_MAX);
    }
    if (len > 0 && buf[len - 1] == '\r') {
        buf[--len] = '\0';
    }
}

static void
cli_prompt(const char *prompt, char *buf, size_t size)
{
    struct termios old, quiet;

    fprintf(stderr, "%s", prompt);
    fflush(stderr);
    if (tcgetattr(STDIN_FILENO, &old) != 0) {
        cli_die(EXIT_USAGE, "cannot read a password from the terminal");
    }
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t) ECHO;
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    if (fgets(buf, (int) size, stdin) == NULL) {
        buf[0] = '\0';
    }
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    fputc('\n', stderr);
    buf[strcspn(buf, "\r\n")] = '\0';
}

typedef enum { CLI_PW_NONE = 0, CLI_PW_GIVEN, CLI_PW_RANDOM } cli_pw_e;

/*
 * The password asked for by --password -, --password-file, or
 * --random-password, or by a prompt when stdin is a terminal
 * (prompt_ok).  buf is ADMIN_PASSWORD_MAX + 2 bytes or more.
 */
static cli_pw_e
cli_password(cli_args_t *a, int prompt_ok, char *buf, size_t size)
{
    const char *pw = cli_optval(a, "password");
    const char *file = cli_optval(a, "password-file");
    int         random = cli_optval(a, "random-password") != NULL;
    char        again[ADMIN_PASSWORD_MAX + 2];
    mtr_err_t   err;
    FILE       *f;

    buf[0] = '\0';
    if ((pw != NULL) + (file != NULL) + random > 1) {
        cli_die(EXIT_USAGE,
                "%s: give one of --password -, --password-file "
                "and --random-password",
                a->cmd);
    }
    if (pw != NULL) {
        if (strcmp(pw, "-") != 0) {
            cli_die(EXIT_USAGE,
                    "%s: a password on the command line is visible to "
                    "other users: use --password - (standard input) or "
                    "--password-file FILE",
                    a->cmd);
        }
        cli_read_line(stdin, "standard input", buf, size);
        return CLI_PW_GIVEN;
    }
    if (file != NULL) {
        struct stat st;

        f = fopen(file, "r");
        if (f == NULL) {
            cli_die(EXIT_USAGE, "cannot open %s: %s", file, strerror(errno));
        }
        if (fstat(fileno(f), &st) == 0 && (st.st_mode & 0077) != 0) {
            cli_warn("%s can be read by other users (chmod 600 it)", file);
        }
        cli_read_line(f, file, buf, size);
        fclose(f);
        return CLI_PW_GIVEN;
    }
    if (random) {
        if (admin_random_password(buf, size, &err) != MTR_OK) {
            cli_die(EXIT_FAILED, "%s", err.msg);
        }
        return CLI_PW_RANDOM;
    }
    if (!prompt_ok || !isatty(STDIN_FILENO)) {
        return CLI_PW_NONE;
    }
    cli_prompt("New password: ", buf, size);
    cli_prompt("Again: ", again, sizeof(again));
    if (strcmp(buf, again) != 0) {
        mtr_wipe(buf, size);
        mtr_wipe(again, sizeof(again));
        cli_die(EXIT_REFUSED, "the passwords differ");
    }
    mtr_wipe(again, sizeof(again));
    return CLI_PW_GIVEN;
}

/* ---- entries as text and JSON ------------------------------------------- */

static void
cli_size_text(const char *v, char *buf, size_t size)
{
    static const char units[] = "KMGT";
    uint64_t          n;
    int               u;

    if (mtr_parse_uint(v, strlen(v), UINT64_MAX, &n) != MTR_OK) {
        snprintf(buf, size, "%s", v);
        return;
    }
    if (n == 0) {
        snprintf(buf, size, "0 (no limit)");
        return;
    }
    for (u = 3; u >= 0; u--) {
        uint64_t d = (uint64_t) 1 << (10 * (u + 1));

        if (n % d == 0) {
            snprintf(buf, size, "%llu%c", (unsigned long long) (n / d),
                     units[u]);
            return;
        }
    }
    snprintf(buf, size, "%llu", (unsigned long long) n);
}

static json_t *
cli_json_value(const admin_field_t *f, const char *v)
{
    uint64_t n;

    if ((f->kind == ADMIN_K_SIZE || f->kind == ADMIN_K_UINT)
        && mtr_parse_uint(v, strlen(v), INT64_MAX, &n) == MTR_OK)
    {
        return json_integer((json_int_t) n);
    }
    if (f->kind == ADMIN_K_BOOL) {
        return json_boolean(strcasecmp(v, "TRUE") == 0);
    }
    return json_string(v);
}

/* Every field of e as "name: value" lines or JSON members. */
static void
cli_entry_fields(admin_obj_e obj, const mtr_ldap_entry_t *e, json_t *o)
{
    const admin_field_t *f;
    size_t               nf, i, j, n;

    f = admin_fields(obj, &nf);
    for (i = 0; i < nf; i++) {
        char *const *v = admin_entry_values(e, f[i].attr, &n);

        if (n == 0) {
            continue;
        }
        if (o != NULL) {
            if (f[i].flags & ADMIN_FF_MULTI) {
                json_t *arr = json_array();

                for (j = 0; j < n; j++) {
                    json_array_append_new(arr, cli_json_value(&f[i], v[j]));
                }
                json_object_set_new(o, f[i].name, arr);
            } else {
                json_object_set_new(o, f[i].name, cli_json_value(&f[i], v[0]));
            }
            continue;
        }
        printf("%-16s ", f[i].name);
        for (j = 0; j < n; j++) {
            if (f[i].kind == ADMIN_K_SIZE) {
                char sz[48];

                cli_size_text(v[j], sz, sizeof(sz));
                printf("%s%s", j ? "; " : "", sz);
            } else {
                printf("%s%s", j ? "; " : "", v[j]);
            }
        }
        printf("\n");
    }
}

/* ---- domain ------------------------------------------------------------- */

static void
cmd_domain(int argc, char **argv)
{
    cli_opt_t      opts[] = { { "force", 0, NULL, 0 }, { NULL, 0, NULL, 0 } };
    cli_args_t     a;
    mtr_err_t      err;
    admin_status_e st;
    const char    *sub = argc > 0 ? argv[0] : "";
    char           cmd[32], lname[ADMIN_DOMAIN_MAX + 1];
    size_t         i;

    memset(&a, 0, sizeof(a));
    snprintf(cmd, sizeof(cmd), "domain %s", sub);
    a.cmd = cmd;
    a.opts = strcmp(sub, "del") == 0 ? opts : NULL;
    a.obj = strcmp(sub, "add") == 0 || strcmp(sub, "set") == 0
                ? ADMIN_OBJ_DOMAIN
                : -1;
    if (argc == 0) {
        cli_usage("domain");
    }
    cli_parse(&a, argc - 1, argv + 1);
    mtr_err_clear(&err);

    if (strcmp(sub, "add") == 0) {
        cli_npos(&a, 1, 1, "DOMAIN [--FIELD VALUE]...");
        cli_setup();
        st = admin_domain_add(&cli.ctx, a.pos[0], &a.changes, &err);
        cli_check(st, &err);
        for (i = 0; a.pos[0][i] != '\0' && i < sizeof(lname) - 1; i++) {
            lname[i] = (char) tolower((unsigned char) a.pos[0][i]);
        }
        lname[i] = '\0';
        cli_done("domain %s added", lname);
    } else if (strcmp(sub, "del") == 0) {
        admin_counts_t counts;

        cli_npos(&a, 1, 1, "DOMAIN [--force]");
        cli_setup();
        st = admin_domain_del(&cli.ctx, a.pos[0],
                              cli_optval(&a, "force") != NULL, &counts, &err);
        cli_check(st, &err);
        if (cli.json) {
            cli_json_print(json_pack(
                "{s:b, s:s, s:I, s:I, s:I}", "ok", 1, "domain", a.pos[0],
                "users_deleted", (json_int_t) counts.users, "groups_deleted",
                (json_int_t) counts.groups, "seats_released",
                (json_int_t) counts.seats_released));
        } else {
            printf("domain %s deleted", a.pos[0]);
            if (counts.users || counts.groups) {
                printf(" with %llu user(s) and %llu group(s); %llu seat(s) "
                       "released",
                       (unsigned long long) counts.users,
                       (unsigned long long) counts.groups,
                       (unsigned long long) counts.seats_released);
            }
            printf("\n");
        }
    } else if (strcmp(sub, "list") == 0) {
        mtr_ldap_result_t *res = NULL;
        json_t            *arr = NULL;

        cli_npos(&a, 0, 0, "");
        cli_setup();
        st = admin_domain_list(&cli.ctx, &res, &err);
        cli_check(st, &err);
        if (cli.json) {
            arr = json_array();
        }
        for (i = 0; i < res->nentries; i++) {
            const mtr_ldap_entry_t *e = &res->entries[i];
            const char *name = mtr_ldap_entry_get(e, "mortarDomainName");
            const char *status = mtr_ldap_entry_get(e, "mortarAccountStatus");

            if (arr != NULL) {
                json_t *o = json_pack("{s:s}", "domain", name ? name : "");

                cli_entry_fields(ADMIN_OBJ_DOMAIN, e, o);
                json_array_append_new(arr, o);
            } else {
                printf("%-40s %s\n", name ? name : e->dn,
                       status ? status : "-");
            }
        }
        mtr_ldap_result_free(&res);
        if (arr != NULL) {
            cli_json_print(json_pack("{s:o}", "domains", arr));
        }
    } else if (strcmp(sub, "show") == 0) {
        mtr_ldap_result_t *res = NULL;
        admin_counts_t     counts;

        cli_npos(&a, 1, 1, "DOMAIN");
        cli_setup();
        st = admin_domain_get(&cli.ctx, a.pos[0], &res, &counts, &err);
        cli_check(st, &err);
        if (cli.json) {
            json_t *o = json_pack(
                "{s:s, s:s, s:I, s:I}", "domain",
                mtr_ldap_entry_get(&res->entries[0], "mortarDomainName"), "dn",
                res->entries[0].dn, "users", (json_int_t) counts.users,
                "groups", (json_int_t) counts.groups);

            cli_entry_fields(ADMIN_OBJ_DOMAIN, &res->entries[0], o);
            cli_json_print(o);
        } else {
            printf("%-16s %s\n", "domain",
                   mtr_ldap_entry_get(&res->entries[0], "mortarDomainName"));
            printf("%-16s %s\n", "dn", res->entries[0].dn);
            printf("%-16s %llu\n", "users", (unsigned long long) counts.users);
            printf("%-16s %llu\n", "groups",
                   (unsigned long long) counts.groups);
            cli_entry_fields(ADMIN_OBJ_DOMAIN, &res->entries[0], NULL);
        }
        mtr_ldap_result_free(&res);
    } else if (strcmp(sub, "set") == 0) {
        int changed;

        cli_npos(&a, 1, 1, "DOMAIN --FIELD VALUE...");
        if (a.changes.n == 0) {
            cli_die(EXIT_USAGE, "domain set: nothing to change (give "
                                "--FIELD VALUE)");
        }
        cli_setup();
        st = admin_domain_set(&cli.ctx, a.pos[0], &a.changes, &changed, &err);
        cli_check(st, &err);
        cli_done("domain %s %s", a.pos[0], changed ? "updated" : "unchanged");
    } else {
        cli_usage("domain");
    }
    cli_args_free(&a);
}

/* ---- user -------------------------------------------------------------- */

typedef struct {
    int           tty;
    int           verbose;
    json_t       *failures;
    unsigned long rows;
    int           last_pct;
    time_t        last_draw;
} cli_import_t;

static void
cli_bar_clear(cli_import_t *im)
{
    if (im->tty && im->last_pct >= 0) {
        fprintf(stderr, "\r\033[K");
    }
}

static void
cli_import_report(void *data, const admin_row_t *row, admin_status_e st,
                  admin_upsert_e what, const mtr_err_t *err, size_t offset,
                  size_t total)
{
    static const char *const whats[] = { "added", "updated", "unchanged" };
    cli_import_t            *im = data;
    int                      pct;
    time_t                   now;

    im->rows++;
    if (st != ADMIN_OK) {
        if (im->failures != NULL) {
            json_array_append_new(
                im->failures,
                json_pack("{s:I, s:s, s:s, s:s}", "line",
                          (json_int_t) row->line, "mail", row->mail, "status",
                          admin_status_name(st), "error", err->msg));
        } else {
            cli_bar_clear(im);
            fprintf(stderr, "line %lu: %s: %s\n", row->line,
                    row->mail[0] ? row->mail : "(no mail)", err->msg);
            im->last_pct = -1;
        }
    } else if (im->verbose && !cli.json) {
        cli_bar_clear(im);
        printf("line %lu: %s: %s\n", row->line, row->mail, whats[what]);
        fflush(stdout);
        im->last_pct = -1;
    }

    if (!im->tty) {
        return;
    }
    pct = total > 0 ? (int) ((double) offset * 100.0 / (double) total) : 100;
    now = time(NULL);
    if (pct != im->last_pct || now != im->last_draw) {
        char bar[41];
        int  i, fill = pct * 40 / 100;

        for (i = 0; i < 40; i++) {
            bar[i] = i < fill ? '#' : '.';
        }
        bar[40] = '\0';
        fprintf(stderr, "\r[%s] %3d%% %lu rows", bar, pct, im->rows);
        fflush(stderr);
        im->last_pct = pct;
        im->last_draw = now;
    }
}

static void
cmd_user_import(cli_args_t *a)
{
    const char            *path = a->pos[0], *fmt = cli_optval(a, "format");
    admin_format_e         format;
    admin_import_t        *reader = NULL;
    admin_import_summary_t sum;
    cli_import_t           im;
    admin_status_e         st;
    mtr_err_t              err;
    char                  *data;
    size_t                 len;

    if (fmt != NULL) {
        if (admin_import_format(fmt, 0, &format, &err) != MTR_OK) {
            cli_die(EXIT_USAGE, "%s", err.msg);
        }
    } else if (strcmp(path, "-") == 0) {
        cli_die(EXIT_USAGE, "user import -: give --format csv or --format "
                            "ldif for standard input");
    } else if (admin_import_format(path, 1, &format, &err) != MTR_OK) {
        cli_die(EXIT_USAGE, "%s", err.msg);
    }

    data = cli_read_file(path, ADMIN_IMPORT_FILE_MAX, &len);
    cli_setup();

    if (admin_import_open(&reader, format, data, len, cli.ctx.zonedir, &err)
        != MTR_OK)
    {
        mtr_wipe(data, len);
        free(data);
        cli_die(EXIT_REFUSED, "%s: %s", path, err.msg);
    }

    memset(&im, 0, sizeof(im));
    im.tty = !cli.json && isatty(STDERR_FILENO);
    im.verbose = cli_optval(a, "verbose") != NULL;
    im.last_pct = -1;
    if (cli.json) {
        im.failures = json_array();
    }

    st = admin_import_run(&cli.ctx, reader, cli_optval(a, "no-update") != NULL,
                          cli_import_report, &im, &sum, &err);
    cli_bar_clear(&im);
    admin_import_close(&reader);
    mtr_wipe(data, len);
    free(data);

    if (cli.ctx.warn[0] != '\0') {
        cli_warn("%s", cli.ctx.warn);
    }
    if (cli.json) {
        cli_json_print(json_pack(
            "{s:b, s:I, s:I, s:I, s:I, s:o}", "ok",
            st == ADMIN_OK && sum.failed == 0, "added", (json_int_t) sum.added,
            "updated", (json_int_t) sum.updated, "unchanged",
            (json_int_t) sum.unchanged, "failed", (json_int_t) sum.failed,
            "failures", im.failures));
    } else {
        printf("import: %lu added, %lu updated, %lu unchanged, %lu failed\n",
               sum.added, sum.updated, sum.unchanged, sum.failed);
    }
    if (st != ADMIN_OK) {
        fprintf(stderr, "mortar: %s\n", err.msg);
        cli_cleanup();
        exit(cli_exit_code(st));
    }
    if (sum.failed > 0) {
        cli_cleanup();
        exit(EXIT_REFUSED);
    }
}

static void
cmd_user_fields(void)
{
    static const char *const kinds[] = { "text",        "phone (+CC digits)",
                                         "size (2G)",   "number",
                                         "yes/no",      "language tag",
                                         "time zone",   "service",
                                         "status",      "address",
                                         "sender",      "domain",
                                         "country",     "score",
                                         "spam action", "posting policy" };
    static const char *const objs[] = { "user", "domain", "group" };
    json_t                  *root = cli.json ? json_object() : NULL;
    int                      obj;

    for (obj = 0; obj < ADMIN_OBJ_COUNT; obj++) {
        const admin_field_t *f;
        size_t               n, i;
        json_t              *arr = root != NULL ? json_array() : NULL;

        f = admin_fields((admin_obj_e) obj, &n);
        if (arr == NULL) {
            printf("%s fields (--FIELD, CSV column%s):\n", objs[obj],
                   obj == 0 ? "; also mail, password, uid in CSV" : "");
        }
        for (i = 0; i < n; i++) {
            if (arr != NULL) {
                json_array_append_new(
                    arr,
                    json_pack("{s:s, s:s, s:s, s:b}", "name", f[i].name,
                              "attribute", f[i].attr, "kind", kinds[f[i].kind],
                              "multi", (f[i].flags & ADMIN_FF_MULTI) != 0));
            } else {
                printf("  %-22s %-28s %s%s\n", f[i].name, f[i].attr,
                       kinds[f[i].kind],
                       f[i].flags & ADMIN_FF_MULTI ? ", several (a;b)" : "");
            }
        }
        if (arr != NULL) {
            json_object_set_new(root, objs[obj], arr);
        }
    }
    if (root != NULL) {
        cli_json_print(root);
    }
}

static void
cmd_user(int argc, char **argv)
{
    cli_opt_t      opts[] = { { "password", 1, NULL, 0 },
                              { "password-file", 1, NULL, 0 },
                              { "random-password", 0, NULL, 0 },
                              { "format", 1, NULL, 0 },
                              { "no-update", 0, NULL, 0 },
                              { "verbose", 0, NULL, 0 },
                              { NULL, 0, NULL, 0 } };
    cli_args_t     a;
    mtr_err_t      err;
    admin_status_e st;
    const char    *sub = argc > 0 ? argv[0] : "";
    const char    *addr = NULL;
    char           cmd[32], abuf[ADMIN_ADDR_MAX + 1];
    char           pw[ADMIN_PASSWORD_MAX + 2];
    int            changed;

    if (argc == 0) {
        cli_usage("user");
    }
    memset(&a, 0, sizeof(a));
    snprintf(cmd, sizeof(cmd), "user %s", sub);
    a.cmd = cmd;
    a.opts = opts;
    a.obj = strcmp(sub, "add") == 0 || strcmp(sub, "set") == 0 ? ADMIN_OBJ_USER
                                                               : -1;
    cli_parse(&a, argc - 1, argv + 1);
    mtr_err_clear(&err);

    /* Options that do not belong to the subcommand are usage errors. */
    if ((cli_optval(&a, "password") || cli_optval(&a, "password-file")
         || cli_optval(&a, "random-password"))
        && strcmp(sub, "add") != 0 && strcmp(sub, "passwd") != 0)
    {
        cli_die(EXIT_USAGE, "%s takes no password option", cmd);
    }
    if ((cli_optval(&a, "format") || cli_optval(&a, "no-update")
         || cli_optval(&a, "verbose"))
        && strcmp(sub, "import") != 0)
    {
        cli_die(EXIT_USAGE,
                "%s: --format, --no-update and --verbose belong "
                "to `user import`",
                cmd);
    }

    if (strcmp(sub, "fields") == 0) {
        cmd_user_fields();
    } else if (strcmp(sub, "import") == 0) {
        cli_npos(&a, 1, 1, "FILE|- [--format csv|ldif] [--no-update]");
        cmd_user_import(&a);
    } else if (strcmp(sub, "list") == 0) {
        mtr_ldap_result_t *res = NULL;
        json_t            *arr = NULL;
        size_t             i;

        cli_npos(&a, 0, 1, "[DOMAIN]");
        cli_setup();
        st = admin_user_list(&cli.ctx, a.npos ? a.pos[0] : NULL, &res, &err);
        cli_check(st, &err);
        if (cli.json) {
            arr = json_array();
        }
        for (i = 0; i < res->nentries; i++) {
            const mtr_ldap_entry_t *e = &res->entries[i];
            const char             *m = mtr_ldap_entry_get(e, "mail");
            const char *s = mtr_ldap_entry_get(e, "mortarAccountStatus");
            const char *q = mtr_ldap_entry_get(e, "mortarQuotaBytes");
            const char *cn = mtr_ldap_entry_get(e, "cn");
            char        sz[48];

            if (arr != NULL) {
                json_t *o =
                    json_pack("{s:s, s:s}", "mail", m ? m : "", "dn", e->dn);

                cli_entry_fields(ADMIN_OBJ_USER, e, o);
                json_array_append_new(arr, o);
                continue;
            }
            cli_size_text(q ? q : "0", sz, sizeof(sz));
            printf("%-40s %-9s %-14s %s\n", m ? m : e->dn, s ? s : "-",
                   q ? sz : "-", cn ? cn : "");
        }
        mtr_ldap_result_free(&res);
        if (arr != NULL) {
            cli_json_print(json_pack("{s:o}", "users", arr));
        }
    } else {
        cli_npos(&a, 1, 1, "ADDRESS [options]");
        addr = cli_addr(a.pos[0], abuf, sizeof(abuf));

        if (strcmp(sub, "add") == 0) {
            cli_pw_e how = cli_password(&a, 1, pw, sizeof(pw));

            cli_setup();
            st = admin_user_add(&cli.ctx, addr, &a.changes,
                                how != CLI_PW_NONE ? pw : NULL, NULL, &err);
            if (st != ADMIN_OK) {
                mtr_wipe(pw, sizeof(pw));
            }
            cli_check(st, &err);
            cli_report_pw("user ", addr, " added", how == CLI_PW_RANDOM, pw);
            if (how == CLI_PW_NONE) {
                cli_warn("%s has no password and cannot log in: set one "
                         "with `mortar user passwd %s`",
                         addr, addr);
            }
            mtr_wipe(pw, sizeof(pw));
        } else if (strcmp(sub, "del") == 0) {
            cli_setup();
            st = admin_user_del(&cli.ctx, addr, &err);
            cli_check(st, &err);
            cli_done("user %s deleted", addr);
        } else if (strcmp(sub, "show") == 0) {
            mtr_ldap_result_t *res = NULL;

            cli_setup();
            st = admin_user_get(&cli.ctx, addr, &res, &err);
            cli_check(st, &err);
            if (cli.json) {
                json_t *o = json_pack(
                    "{s:s, s:s, s:s}", "mail",
                    mtr_ldap_entry_get(&res->entries[0], "mail"), "uid",
                    mtr_ldap_entry_get(&res->entries[0], "uid")
                        ? mtr_ldap_entry_get(&res->entries[0], "uid")
                        : "",
                    "dn", res->entries[0].dn);

                cli_entry_fields(ADMIN_OBJ_USER, &res->entries[0], o);
                cli_json_print(o);
            } else {
                printf("%-16s %s\n", "mail",
                       mtr_ldap_entry_get(&res->entries[0], "mail"));
                printf("%-16s %s\n", "dn", res->entries[0].dn);
                cli_entry_fields(ADMIN_OBJ_USER, &res->entries[0], NULL);
            }
            mtr_ldap_result_free(&res);
        } else if (strcmp(sub, "set") == 0) {
            if (a.changes.n == 0) {
                cli_die(EXIT_USAGE, "user set: nothing to change (give "
                                    "--FIELD VALUE; `mortar user fields`)");
            }
            cli_setup();
            st = admin_user_set(&cli.ctx, addr, &a.changes, &changed, &err);
            cli_check(st, &err);
            cli_done("user %s %s", addr, changed ? "updated" : "unchanged");
        } else if (strcmp(sub, "enable") == 0 || strcmp(sub, "disable") == 0) {
            const char *status = sub[0] == 'e' ? "active" : "disabled";

            admin_changes_init(&a.changes, ADMIN_OBJ_USER, cli.ctx.zonedir);
            a.obj = ADMIN_OBJ_USER;
            if (admin_changes_put(&a.changes, "status", 6, ADMIN_SET, status,
                                  strlen(status), &err)
                != MTR_OK)
            {
                cli_die(EXIT_FAILED, "%s", err.msg);
            }
            cli_setup();
            st = admin_user_set(&cli.ctx, addr, &a.changes, &changed, &err);
            cli_check(st, &err);
            cli_done("user %s %s%s", addr,
                     sub[0] == 'e' ? "enabled" : "disabled",
                     changed ? "" : " (it already was)");
        } else if (strcmp(sub, "passwd") == 0) {
            cli_pw_e how = cli_password(&a, 1, pw, sizeof(pw));

            if (how == CLI_PW_NONE) {
                cli_die(EXIT_USAGE,
                        "user passwd: give --password -, --password-file "
                        "FILE or --random-password (no terminal to ask on)");
            }
            cli_setup();
            st = admin_user_passwd(&cli.ctx, addr, pw, &err);
            if (st != ADMIN_OK) {
                mtr_wipe(pw, sizeof(pw));
            }
            cli_check(st, &err);
            cli_report_pw("password of ", addr, " changed",
                          how == CLI_PW_RANDOM, pw);
            mtr_wipe(pw, sizeof(pw));
        } else {
            cli_usage("user");
        }
    }
    cli_args_free(&a);
}

/* ---- group -------------------------------------------------------------- */

static void
cli_group_print(const mtr_ldap_entry_t *e, int full)
{
    mtr_err_t    err;
    char *const *mem;
    size_t       n, i;
    char         mail[ADMIN_ADDR_MAX + 1];
    json_t      *o = NULL, *arr = NULL;

    mem = admin_entry_values(e, "member", &n);
    if (cli.json) {
        o = json_pack(
            "{s:s, s:s}", "mail",
            mtr_ldap_entry_get(e, "mail") ? mtr_ldap_entry_get(e, "mail") : "",
            "dn", e->dn);
        cli_entry_fields(ADMIN_OBJ_GROUP, e, o);
        arr = json_array();
    } else if (full) {
        printf("%-16s %s\n", "mail", mtr_ldap_entry_get(e, "mail"));
        printf("%-16s %s\n", "dn", e->dn);
        cli_entry_fields(ADMIN_OBJ_GROUP, e, NULL);
    }
    for (i = 0; i < n; i++) {
        if (admin_member_mail(&cli.ctx, mem[i], mail, sizeof(mail), &err)
            != ADMIN_OK) {
            snprintf(mail, sizeof(mail), "%.*s", ADMIN_ADDR_MAX, mem[i]);
        }
        if (arr != NULL) {
            json_array_append_new(arr, json_string(mail));
        } else {
            printf("%s%s\n", full ? "member           " : "", mail);
        }
    }
    if (o != NULL) {
        json_object_set_new(o, "members", arr);
        cli_json_print(o);
    }
}

static void
cmd_group(int argc, char **argv)
{
    cli_opt_t      opts[] = { { "member", 1, NULL, 0 }, { NULL, 0, NULL, 0 } };
    cli_args_t     a;
    mtr_err_t      err;
    admin_status_e st;
    const char    *sub = argc > 0 ? argv[0] : "";
    const char    *addr;
    char           cmd[32], abuf[ADMIN_ADDR_MAX + 1];
    char           mbuf[CLI_ARGS_MAX][ADMIN_ADDR_MAX + 1];
    const char    *members[CLI_ARGS_MAX];
    int            i, changed;

    if (argc == 0) {
        cli_usage("group");
    }
    memset(&a, 0, sizeof(a));
    snprintf(cmd, sizeof(cmd), "group %s", sub);
    a.cmd = cmd;
    a.opts = strcmp(sub, "add") == 0 ? opts : NULL;
    a.obj = strcmp(sub, "add") == 0 || strcmp(sub, "set") == 0 ? ADMIN_OBJ_GROUP
                                                               : -1;
    cli_parse(&a, argc - 1, argv + 1);
    mtr_err_clear(&err);

    if (strcmp(sub, "list") == 0) {
        mtr_ldap_result_t *res = NULL;
        json_t            *arr = NULL;
        size_t             k, n;

        cli_npos(&a, 0, 1, "[DOMAIN]");
        cli_setup();
        st = admin_group_list(&cli.ctx, a.npos ? a.pos[0] : NULL, &res, &err);
        cli_check(st, &err);
        if (cli.json) {
            arr = json_array();
        }
        for (k = 0; k < res->nentries; k++) {
            const mtr_ldap_entry_t *e = &res->entries[k];
            const char             *m = mtr_ldap_entry_get(e, "mail");

            admin_entry_values(e, "member", &n);
            if (arr != NULL) {
                json_t *o = json_pack("{s:s, s:s, s:I}", "mail", m ? m : "",
                                      "dn", e->dn, "members", (json_int_t) n);

                cli_entry_fields(ADMIN_OBJ_GROUP, e, o);
                json_array_append_new(arr, o);
            } else {
                printf("%-40s %zu member(s)\n", m ? m : e->dn, n);
            }
        }
        mtr_ldap_result_free(&res);
        if (arr != NULL) {
            cli_json_print(json_pack("{s:o}", "groups", arr));
        }
        cli_args_free(&a);
        return;
    }

    if (a.npos < 1) {
        cli_usage("group");
    }
    addr = cli_addr(a.pos[0], abuf, sizeof(abuf));

    if (strcmp(sub, "add") == 0) {
        cli_npos(&a, 1, 1, "ADDRESS --member ADDRESS... [--FIELD VALUE]...");
        for (i = 0; i < a.nmembers; i++) {
            members[i] = cli_addr(a.members[i], mbuf[i], sizeof(mbuf[i]));
        }
        cli_setup();
        st = admin_group_add(&cli.ctx, addr, members, (size_t) a.nmembers,
                             &a.changes, &err);
        cli_check(st, &err);
        cli_done("group %s added with %d member(s)", addr, a.nmembers);
    } else if (strcmp(sub, "del") == 0) {
        cli_npos(&a, 1, 1, "ADDRESS");
        cli_setup();
        st = admin_group_del(&cli.ctx, addr, &err);
        cli_check(st, &err);
        cli_done("group %s deleted", addr);
    } else if (strcmp(sub, "show") == 0) {
        mtr_ldap_result_t *res = NULL;

        cli_npos(&a, 1, 1, "ADDRESS");
        cli_setup();
        st = admin_group_get(&cli.ctx, addr, &res, &err);
        cli_check(st, &err);
        cli_group_print(&res->entries[0], 1);
        mtr_ldap_result_free(&res);
    } else if (strcmp(sub, "set") == 0) {
        cli_npos(&a, 1, 1, "ADDRESS --FIELD VALUE...");
        if (a.changes.n == 0) {
            cli_die(EXIT_USAGE, "group set: nothing to change");
        }
        cli_setup();
        st = admin_group_set(&cli.ctx, addr, &a.changes, &changed, &err);
        cli_check(st, &err);
        cli_done("group %s %s", addr, changed ? "updated" : "unchanged");
    } else if (strcmp(sub, "members") == 0) {
        mtr_ldap_result_t *res = NULL;
        admin_op_e         op;

        if (a.npos == 1) {
            cli_setup();
            st = admin_group_get(&cli.ctx, addr, &res, &err);
            cli_check(st, &err);
            cli_group_print(&res->entries[0], 0);
            mtr_ldap_result_free(&res);
        } else {
            if (a.npos < 3
                || (strcmp(a.pos[1], "add") != 0
                    && strcmp(a.pos[1], "del") != 0))
            {
                cli_die(EXIT_USAGE, "usage: mortar group members ADDRESS "
                                    "[add|del ADDRESS...]");
            }
            op = strcmp(a.pos[1], "add") == 0 ? ADMIN_ADD : ADMIN_DEL;
            for (i = 2; i < a.npos; i++) {
                members[i - 2] = cli_addr(a.pos[i], mbuf[i], sizeof(mbuf[i]));
            }
            cli_setup();
            st = admin_group_members(&cli.ctx, addr, op, members,
                                     (size_t) (a.npos - 2), &changed, &err);
            cli_check(st, &err);
            cli_done("group %s %s", addr,
                     !changed          ? "unchanged"
                     : op == ADMIN_ADD ? "members added"
                                       : "members removed");
        }
    } else {
        cli_usage("group");
    }
    cli_args_free(&a);
}

/* ---- alias --------------------------------------------------------------- */

static void
cmd_alias(int argc, char **argv)
{
    cli_args_t      a;
    admin_changes_t c;
    mtr_err_t       err;
    admin_status_e  st;
    const char     *sub = argc > 0 ? argv[0] : "";
    const char     *addr;
    char            cmd[32], abuf[ADMIN_ADDR_MAX + 1];
    char            al[ADMIN_ADDR_MAX + 1];
    int             i, changed;

    if (argc == 0) {
        cli_usage("alias");
    }
    memset(&a, 0, sizeof(a));
    snprintf(cmd, sizeof(cmd), "alias %s", sub);
    a.cmd = cmd;
    a.obj = -1;
    cli_parse(&a, argc - 1, argv + 1);
    mtr_err_clear(&err);

    if (strcmp(sub, "list") == 0) {
        mtr_ldap_result_t *res = NULL;
        char *const       *v;
        size_t             n, k;

        cli_npos(&a, 1, 1, "USER");
        addr = cli_addr(a.pos[0], abuf, sizeof(abuf));
        cli_setup();
        st = admin_user_get(&cli.ctx, addr, &res, &err);
        cli_check(st, &err);
        v = admin_entry_values(&res->entries[0], "mortarMailAlias", &n);
        if (cli.json) {
            json_t *arr = json_array();

            for (k = 0; k < n; k++) {
                json_array_append_new(arr, json_string(v[k]));
            }
            cli_json_print(
                json_pack("{s:s, s:o}", "mail", addr, "aliases", arr));
        } else {
            for (k = 0; k < n; k++) {
                printf("%s\n", v[k]);
            }
        }
        mtr_ldap_result_free(&res);
    } else if (strcmp(sub, "add") == 0 || strcmp(sub, "del") == 0) {
        admin_op_e op = sub[0] == 'a' ? ADMIN_ADD : ADMIN_DEL;

        cli_npos(&a, 2, -1, "USER ALIAS...");
        addr = cli_addr(a.pos[0], abuf, sizeof(abuf));
        admin_changes_init(&c, ADMIN_OBJ_USER, NULL);
        for (i = 1; i < a.npos; i++) {
            const char *v = cli_addr(a.pos[i], al, sizeof(al));

            if (admin_changes_put(&c, "aliases", 7, op, v, strlen(v), &err)
                != MTR_OK) {
                cli_die(EXIT_REFUSED, "%s", err.msg);
            }
        }
        cli_setup();
        st = admin_user_set(&cli.ctx, addr, &c, &changed, &err);
        admin_changes_free(&c);
        cli_check(st, &err);
        cli_done("%s: alias%s %s%s", addr, a.npos > 2 ? "es" : "",
                 op == ADMIN_ADD ? "added" : "removed",
                 changed ? "" : " (nothing to do)");
    } else {
        cli_usage("alias");
    }
    cli_args_free(&a);
}

/* ---- license --------------------------------------------------------------
 */

static json_t *
cli_license_json(const lic_t *lic, const lic_audit_t *audit, const char *text)
{
    char    nb[LIC_TIME_MAX], na[LIC_TIME_MAX], mods[LIC_MODULES_TEXT_MAX];
    int     days = 0;
    json_t *o;

    if (lic == NULL) {
        return json_pack("{s:b, s:s, s:I}", "installed", 0, "text", text,
                         "seats_used", (json_int_t) audit->seats_directory);
    }
    lic_format_time(lic->not_before, nb, sizeof(nb));
    lic_format_time(lic->not_after, na, sizeof(na));
    if (lic_format_modules(lic->modules, mods, sizeof(mods)) != MTR_OK) {
        mods[0] = '\0';
    }
    o = json_pack("{s:b, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:I, s:s, "
                  "s:s, s:s}",
                  "installed", 1, "id", lic->id, "customer", lic->customer,
                  "deployment", lic->deployment, "seats",
                  (json_int_t) lic->seats, "seats_used",
                  (json_int_t) audit->seats_directory, "seats_counter",
                  (json_int_t) audit->seats_counter, "not_before", nb,
                  "not_after", na, "grace_days", (json_int_t) lic->grace_days,
                  "plan", lic_plan_name(lic->plan), "support",
                  lic_support_name(lic->support), "modules", mods);
    if (o != NULL) {
        lic_state_e state = lic_state(lic, cli.ctx.now, &days);

        json_object_set_new(o, "state", json_string(lic_state_name(state)));
        json_object_set_new(o, "days_left", json_integer(days));
        json_object_set_new(o, "text", json_string(text));
    }
    return o;
}

static void
cmd_license(int argc, char **argv)
{
    cli_opt_t      opts[] = { { "fix", 0, NULL, 0 }, { NULL, 0, NULL, 0 } };
    cli_args_t     a;
    mtr_err_t      err;
    admin_status_e st;
    const char    *sub = argc > 0 ? argv[0] : "";
    char           cmd[32], text[2 * MTR_ERR_MAX];
    lic_audit_t    audit;

    if (argc == 0) {
        cli_usage("license");
    }
    memset(&a, 0, sizeof(a));
    snprintf(cmd, sizeof(cmd), "license %s", sub);
    a.cmd = cmd;
    a.opts = strcmp(sub, "audit") == 0 ? opts : NULL;
    a.obj = -1;
    cli_parse(&a, argc - 1, argv + 1);
    mtr_err_clear(&err);
    memset(&audit, 0, sizeof(audit));

    if (strcmp(sub, "install") == 0) {
        char  *key;
        size_t len;

        cli_npos(&a, 1, 1, "FILE|-");
        key = cli_read_file(a.pos[0], LIC_ARMOR_MAX, &len);
        cli_setup();
        st = admin_license_install(&cli.ctx, key, len, &err);
        mtr_wipe(key, len);
        free(key);
        if (st != ADMIN_OK) {
            mtr_err_t e2;

            /* Say what stays in force, so nobody wonders. */
            if (admin_license_status(&cli.ctx, text, sizeof(text), NULL, &e2)
                == ADMIN_OK) {
                char msg[sizeof(err.msg)];

                snprintf(msg, sizeof(msg), "%s", err.msg);
                cli.ctx.warn[0] = '\0';
                cli_die(cli_exit_code(st),
                        "%s; the license in force is unchanged: %s", msg, text);
            }
            cli_check(st, &err);
        }
        if (admin_license_status(&cli.ctx, text, sizeof(text), NULL, &err)
            != ADMIN_OK) {
            snprintf(text, sizeof(text), "installed");
        }
        cli.ctx.warn[0] = '\0';
        cli_done("license installed: %s", text);
    } else if (strcmp(sub, "status") == 0) {
        cli_npos(&a, 0, 0, "");
        cli_setup();
        st = admin_license_status(&cli.ctx, text, sizeof(text), &audit, &err);
        cli_check(st, &err);
        if (cli.json) {
            json_t *o =
                cli_license_json(lic_gate_license(cli.gate), &audit, text);

            if (o != NULL && lic_gate_deployment(cli.gate) != NULL) {
                json_object_set_new(o, "deployment_id",
                                    json_string(lic_gate_deployment(cli.gate)));
            }
            cli_json_print(o);
        } else {
            printf("%s\n", text);
            if (lic_gate_deployment(cli.gate) != NULL) {
                printf("deployment %s; %llu user(s) in the directory\n",
                       lic_gate_deployment(cli.gate),
                       (unsigned long long) audit.seats_directory);
            }
        }
    } else if (strcmp(sub, "audit") == 0) {
        int fix = cli_optval(&a, "fix") != NULL;
        int over;

        cli_npos(&a, 0, 0, "[--fix]");
        cli_setup();
        st = admin_license_audit(&cli.ctx, fix, &audit, &err);
        cli_check(st, &err);
        over = audit.seats_directory > audit.seats_licensed;
        if (cli.json) {
            cli_json_print(json_pack(
                "{s:b, s:I, s:I, s:I, s:I, s:b}", "ok", !over, "seats_licensed",
                (json_int_t) audit.seats_licensed, "seats_used",
                (json_int_t) audit.seats_directory, "seats_counter",
                (json_int_t) audit.seats_counter, "excess",
                (json_int_t) (over
                                  ? audit.seats_directory - audit.seats_licensed
                                  : 0),
                "fixed", audit.fixed));
        } else {
            printf("seats licensed: %u\n", audit.seats_licensed);
            printf("users in the directory: %llu\n",
                   (unsigned long long) audit.seats_directory);
            if (audit.seats_counter < 0) {
                printf("seat counter: not set\n");
            } else {
                printf("seat counter: %lld\n", (long long) audit.seats_counter);
            }
            if (over) {
                printf("excess: %llu user(s) over the license\n",
                       (unsigned long long) (audit.seats_directory
                                             - audit.seats_licensed));
            }
            if (audit.fixed) {
                printf("seat counter set to %llu from the directory\n",
                       (unsigned long long) audit.seats_directory);
            } else if (audit.seats_counter >= 0
                       && (uint64_t) audit.seats_counter
                              != audit.seats_directory)
            {
                printf("the counter differs from the directory: run `mortar "
                       "license audit --fix`\n");
            }
        }
        if (over) {
            cli_cleanup();
            exit(EXIT_REFUSED);
        }
    } else {
        cli_usage("license");
    }
    cli_args_free(&a);
}

/* ---- main ------------------------------------------------------------------
 */

static void
cli_usage(const char *topic)
{
    static const char *const text[][2] = {
        { "domain",
          "  mortar domain add DOMAIN [--quota-pool SIZE] [--default-quota "
          "SIZE]\n"
          "                    [--max-users N] [--status active|disabled] "
          "[--aliases D;D]\n"
          "                    [--description TEXT] [--FIELD VALUE]...\n"
          "  mortar domain del DOMAIN [--force]\n"
          "  mortar domain list\n"
          "  mortar domain show DOMAIN\n"
          "  mortar domain set DOMAIN [--FIELD VALUE | --add-FIELD V | "
          "--del-FIELD V]...\n" },
        { "user",
          "  mortar user add ADDRESS [--cn NAME] [--sn NAME] [--given-name "
          "NAME]\n"
          "                  [--title T] [--phone P] [--mobile P] [--quota "
          "2G]\n"
          "                  [--aliases A;A] [--forwards A;A] [--keep-copy "
          "yes|no]\n"
          "                  [--services imap;pop3;smtp;webmail;dav;sms] "
          "[--status S]\n"
          "                  [--language TAG] [--timezone ZONE] [--FIELD "
          "VALUE]...\n"
          "                  [--password - | --password-file FILE | "
          "--random-password]\n"
          "  mortar user del ADDRESS\n"
          "  mortar user list [DOMAIN]\n"
          "  mortar user show ADDRESS\n"
          "  mortar user set ADDRESS [--FIELD VALUE | --add-FIELD V | "
          "--del-FIELD V]...\n"
          "  mortar user passwd ADDRESS [--password - | --password-file FILE "
          "| --random-password]\n"
          "  mortar user enable|disable ADDRESS\n"
          "  mortar user import FILE|- [--format csv|ldif] [--no-update] "
          "[--verbose]\n"
          "  mortar user fields\n" },
        { "group", "  mortar group add ADDRESS --member ADDRESS... [--policy "
                   "anyone|domain|members]\n"
                   "                   [--aliases A;A] [--description TEXT]\n"
                   "  mortar group del ADDRESS\n"
                   "  mortar group list [DOMAIN]\n"
                   "  mortar group show ADDRESS\n"
                   "  mortar group set ADDRESS [--FIELD VALUE]...\n"
                   "  mortar group members ADDRESS [add|del ADDRESS...]\n" },
        { "alias", "  mortar alias add USER ALIAS...\n"
                   "  mortar alias del USER ALIAS...\n"
                   "  mortar alias list USER\n" },
        { "license", "  mortar license install FILE|-\n"
                     "  mortar license status\n"
                     "  mortar license audit [--fix]\n" },
    };
    size_t i;
    int    found = 0;

    fprintf(stderr, "usage: mortar [-c FILE] [--json] COMMAND ...\n");
    for (i = 0; i < sizeof(text) / sizeof(text[0]); i++) {
        if (topic == NULL || strcmp(topic, text[i][0]) == 0
            || strncmp(topic, text[i][0], strlen(text[i][0])) == 0)
        {
            fputs(text[i][1], stderr);
            found = 1;
        }
    }
    if (!found) {
        for (i = 0; i < sizeof(text) / sizeof(text[0]); i++) {
            fputs(text[i][1], stderr);
        }
    }
    fprintf(stderr,
            "-c FILE: configuration (default %s); --json: JSON output.\n"
            "Exit: 0 ok, 1 refused, 2 usage, 3 not found, 4 service "
            "unreachable, 5 other failure.\n",
            CLI_CONF_DEFAULT);
    cli_cleanup();
    exit(EXIT_USAGE);
}

int
main(int argc, char **argv)
{
    int i;

    cli.conf_path = CLI_CONF_DEFAULT;

    /*
     * Changes, refusals and license warnings also go to syslog (LOG_MAIL,
     * ident "mortar"); a missing syslog daemon only loses the copy.
     */
    {
        mtr_err_t lerr;

        (void) mtr_log_open("mortar", "syslog", MTR_LOG_INFO, &lerr);
    }

    /* Global options come before the command. */
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) {
                cli_die(EXIT_USAGE, "-c needs a file");
            }
            cli.conf_path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            cli.conf_path = argv[i] + 9;
        } else if (strcmp(argv[i], "--json") == 0) {
            cli.json = 1;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
        {
            cli_usage(NULL);
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("mortar %s\n", MTR_VERSION);
            return 0;
        } else {
            cli_die(EXIT_USAGE, "unknown option %s (see `mortar --help`)",
                    argv[i]);
        }
    }
    if (i >= argc) {
        cli_usage(NULL);
    }

    if (strcmp(argv[i], "domain") == 0) {
        cmd_domain(argc - i - 1, argv + i + 1);
    } else if (strcmp(argv[i], "user") == 0) {
        cmd_user(argc - i - 1, argv + i + 1);
    } else if (strcmp(argv[i], "group") == 0) {
        cmd_group(argc - i - 1, argv + i + 1);
    } else if (strcmp(argv[i], "alias") == 0) {
        cmd_alias(argc - i - 1, argv + i + 1);
    } else if (strcmp(argv[i], "license") == 0) {
        cmd_license(argc - i - 1, argv + i + 1);
    } else if (strcmp(argv[i], "help") == 0) {
        cli_usage(i + 1 < argc ? argv[i + 1] : NULL);
    } else {
        cli_die(EXIT_USAGE, "unknown command \"%s\" (see `mortar --help`)",
                argv[i]);
    }

    cli_cleanup();
    return 0;
}
