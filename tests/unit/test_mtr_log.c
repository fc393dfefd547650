/*
 * test_mtr_log.c -- unit tests of the log sink (shared/include/mtr_log.h).
 *
 * Table-driven where it fits: every case has a name, printed before its
 * assertions so a failure names the row.  Checks what a reader of the log
 * sees: the line format (ISO-8601 UTC timestamp, ident, pid, level word),
 * min_level filtering, masking of unprintable bytes (one call is exactly one
 * line: no log injection), the visible "..." cut of an oversized message,
 * level names, reopening to another file (rotation), open errors naming the
 * path and keeping the previous sink, the stderr sink and its start-up
 * fallback, errno preservation, and whole lines from concurrent threads.
 * Every file lives in a mkdtemp() directory under /tmp, removed afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "mtr_log.h"

#define IDENT63                                                                \
    "i123456789012345678901234567890123456789012345678901234567890ab"
#define IDENT64 IDENT63 "c"

_Static_assert(sizeof(IDENT63) - 1 == MTR_LOG_IDENT_MAX,
               "IDENT63 is MTR_LOG_IDENT_MAX bytes long");

/* Per-test scratch directory and the files a test may create in it. */
typedef struct {
    char dir[64];
    char a[128];   /* first log file */
    char b[128];   /* second log file */
    char err[128]; /* where stderr is captured */
} fixture_t;

/* One file, split into lines (the '\n' replaced with NUL). */
typedef struct {
    char  *buf;
    size_t len;
    char **v;
    size_t n;
} lines_t;

/* One parsed line. */
typedef struct {
    time_t      t; /* the timestamp, read as UTC */
    char        ident[MTR_LOG_IDENT_MAX + 2];
    long        pid;
    char        word[8];
    const char *msg;
} parsed_t;

static int
setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));

    if (f == NULL) {
        return -1;
    }
    strcpy(f->dir, "/tmp/test_mtr_log.XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->a, sizeof(f->a), "%s/a.log", f->dir);
    snprintf(f->b, sizeof(f->b), "%s/b.log", f->dir);
    snprintf(f->err, sizeof(f->err), "%s/stderr.log", f->dir);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;

    mtr_log_close();
    unlink(f->a);
    unlink(f->b);
    unlink(f->err);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Read a whole file; it must hold complete lines only and no NUL byte. */
static void
read_lines(const char *path, lines_t *l)
{
    struct stat st;
    size_t      i, start;
    ssize_t     r;
    int         fd;

    memset(l, 0, sizeof(*l));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    l->buf = malloc((size_t) st.st_size + 1);
    assert_non_null(l->buf);
    while (l->len < (size_t) st.st_size) {
        r = read(fd, l->buf + l->len, (size_t) st.st_size - l->len);
        assert_true(r > 0);
        l->len += (size_t) r;
    }
    close(fd);
    l->buf[l->len] = '\0';

    assert_int_equal(strlen(l->buf), l->len);
    if (l->len > 0) {
        assert_int_equal(l->buf[l->len - 1], '\n');
    }
    for (i = 0; i < l->len; i++) {
        if (l->buf[i] == '\n') {
            l->n++;
        }
    }
    l->v = calloc(l->n + 1, sizeof(char *));
    assert_non_null(l->v);
    l->n = 0;
    for (i = 0, start = 0; i < l->len; i++) {
        if (l->buf[i] == '\n') {
            l->buf[i] = '\0';
            l->v[l->n++] = l->buf + start;
            start = i + 1;
        }
    }
}

static void
free_lines(lines_t *l)
{
    free(l->v);
    free(l->buf);
    memset(l, 0, sizeof(*l));
}

static int
digits(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }
    return 1;
}

/*
 * Parse "YYYY-MM-DDTHH:MM:SS.mmmZ ident[pid]: word: msg" (no '\n').
 * Returns 0, or -1 if the line is not exactly that or has a byte that is
 * not printable ASCII.
 */
static int
parse_line(const char *line, parsed_t *p)
{
    const char *s, *e;
    struct tm   tm, back;
    size_t      i, len = strlen(line);

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char) line[i];

        if (c < 0x20 || c >= 0x7f) {
            return -1;
        }
    }

    if (len < 25 || !digits(line, 4) || line[4] != '-' || !digits(line + 5, 2)
        || line[7] != '-' || !digits(line + 8, 2) || line[10] != 'T'
        || !digits(line + 11, 2) || line[13] != ':' || !digits(line + 14, 2)
        || line[16] != ':' || !digits(line + 17, 2) || line[19] != '.'
        || !digits(line + 20, 3) || line[23] != 'Z' || line[24] != ' ')
    {
        return -1;
    }

    memset(&tm, 0, sizeof(tm));
    tm.tm_year = atoi(line) - 1900;
    tm.tm_mon = atoi(line + 5) - 1;
    tm.tm_mday = atoi(line + 8);
    tm.tm_hour = atoi(line + 11);
    tm.tm_min = atoi(line + 14);
    tm.tm_sec = atoi(line + 17);
    back = tm;
    p->t = timegm(&tm);
    /* timegm() normalises: a field out of range shows as a change. */
    if (p->t == (time_t) -1 || tm.tm_year != back.tm_year
        || tm.tm_mon != back.tm_mon || tm.tm_mday != back.tm_mday
        || tm.tm_hour != back.tm_hour || tm.tm_min != back.tm_min
        || tm.tm_sec != back.tm_sec)
    {
        return -1;
    }

    s = line + 25;
    e = strchr(s, '[');
    if (e == NULL || e == s || (size_t) (e - s) > MTR_LOG_IDENT_MAX) {
        return -1;
    }
    memcpy(p->ident, s, (size_t) (e - s));
    p->ident[e - s] = '\0';

    s = e + 1;
    e = strchr(s, ']');
    if (e == NULL || e == s || e - s > 10 || !digits(s, (size_t) (e - s))
        || e[1] != ':' || e[2] != ' ')
    {
        return -1;
    }
    p->pid = atol(s);

    s = e + 3;
    e = strchr(s, ':');
    if (e == NULL || e - s >= (ptrdiff_t) sizeof(p->word) || e[1] != ' ') {
        return -1;
    }
    memcpy(p->word, s, (size_t) (e - s));
    p->word[e - s] = '\0';
    if (strcmp(p->word, "err") != 0 && strcmp(p->word, "warn") != 0
        && strcmp(p->word, "notice") != 0 && strcmp(p->word, "info") != 0
        && strcmp(p->word, "debug") != 0)
    {
        return -1;
    }

    p->msg = e + 2;
    return 0;
}

/* Parse a line that must be well formed, naming it if it is not. */
static void
must_parse(const char *line, parsed_t *p)
{
    if (parse_line(line, p) != 0) {
        print_message("malformed line: \"%.200s\"\n", line);
        fail();
    }
}

static void
open_file(const char *ident, const char *path, mtr_log_level_e min_level)
{
    mtr_err_t err;

    mtr_err_clear(&err);
    if (mtr_log_open(ident, path, min_level, &err) != MTR_OK) {
        print_message("mtr_log_open(\"%s\"): %s\n", path, err.msg);
        fail();
    }
}

/* Point fd 2 at path; returns the saved fd 2 for stderr_end(). */
static int
stderr_begin(const char *path)
{
    int fd, saved;

    fflush(stderr);
    saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    close(fd);
    return saved;
}

static void
stderr_end(int saved)
{
    assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    close(saved);
}


typedef struct {
    const char     *name;
    mtr_log_level_e level;
    const char     *word;
} format_case_t;

static const format_case_t format_cases[] = {
    { "err", MTR_LOG_ERR, "err" },          { "warn", MTR_LOG_WARN, "warn" },
    { "notice", MTR_LOG_NOTICE, "notice" }, { "info", MTR_LOG_INFO, "info" },
    { "debug", MTR_LOG_DEBUG, "debug" },
};

#define NCASES(a) (sizeof(a) / sizeof((a)[0]))

static void
test_line_format(void **state)
{
    fixture_t *f = *state;
    lines_t    l;
    parsed_t   p;
    time_t     before, after;
    size_t     i;

    open_file("mortar-milter", f->a, MTR_LOG_DEBUG);
    before = time(NULL);
    for (i = 0; i < NCASES(format_cases); i++) {
        mtr_log(format_cases[i].level, "hello %s %d", format_cases[i].name,
                (int) i);
    }
    after = time(NULL);

    read_lines(f->a, &l);
    assert_int_equal(l.n, NCASES(format_cases));
    for (i = 0; i < NCASES(format_cases); i++) {
        const format_case_t *c = &format_cases[i];
        char                 want[64];

        print_message("case: level %s\n", c->name);
        must_parse(l.v[i], &p);
        /* TZ is set to +05:30 in main(): local time would be far off. */
        assert_true(p.t >= before - 1 && p.t <= after + 1);
        assert_string_equal(p.ident, "mortar-milter");
        assert_int_equal(p.pid, (long) getpid());
        assert_string_equal(p.word, c->word);
        snprintf(want, sizeof(want), "hello %s %d", c->name, (int) i);
        assert_string_equal(p.msg, want);
    }
    free_lines(&l);

    print_message("case: NULL ident is \"mortar\"\n");
    open_file(NULL, f->b, MTR_LOG_INFO);
    mtr_log(MTR_LOG_INFO, "x");
    read_lines(f->b, &l);
    assert_int_equal(l.n, 1);
    must_parse(l.v[0], &p);
    assert_string_equal(p.ident, "mortar");
    assert_string_equal(p.msg, "x");
    free_lines(&l);

    print_message("case: ident of MTR_LOG_IDENT_MAX bytes\n");
    open_file(IDENT63, f->b, MTR_LOG_INFO);
    mtr_log(MTR_LOG_INFO, "y");
    read_lines(f->b, &l);
    assert_int_equal(l.n, 2);
    must_parse(l.v[1], &p);
    assert_string_equal(p.ident, IDENT63);
    free_lines(&l);

    print_message("case: the file is created mode 0640 (before umask)\n");
    {
        struct stat st;

        assert_int_equal(stat(f->a, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 0137, 0);
    }
}


typedef struct {
    const char     *name;
    mtr_log_level_e min_level;
    const char     *kept; /* level words of the lines kept, in order */
} level_case_t;

static const level_case_t level_cases[] = {
    { "min err", MTR_LOG_ERR, "err" },
    { "min warn", MTR_LOG_WARN, "err warn" },
    { "min notice", MTR_LOG_NOTICE, "err warn notice" },
    { "min info", MTR_LOG_INFO, "err warn notice info" },
    { "min debug", MTR_LOG_DEBUG, "err warn notice info debug" },
};

static void
test_min_level(void **state)
{
    fixture_t *f = *state;
    lines_t    l;
    parsed_t   p;
    size_t     i, j;

    for (i = 0; i < NCASES(level_cases); i++) {
        const level_case_t *c = &level_cases[i];
        char                got[64];

        print_message("case: %s\n", c->name);
        unlink(f->a);
        open_file("lvl", f->a, c->min_level);
        for (j = 0; j < NCASES(format_cases); j++) {
            mtr_log(format_cases[j].level, "%s", format_cases[j].word);
        }
        read_lines(f->a, &l);
        got[0] = '\0';
        for (j = 0; j < l.n; j++) {
            must_parse(l.v[j], &p);
            assert_string_equal(p.msg, p.word);
            if (j > 0) {
                strcat(got, " ");
            }
            strcat(got, p.word);
        }
        assert_string_equal(got, c->kept);
        free_lines(&l);
    }

    print_message("case: out-of-range level is logged as err\n");
    unlink(f->a);
    open_file("lvl", f->a, MTR_LOG_ERR);
    mtr_log((mtr_log_level_e) 42, "odd");
    read_lines(f->a, &l);
    assert_int_equal(l.n, 1);
    must_parse(l.v[0], &p);
    assert_string_equal(p.word, "err");
    assert_string_equal(p.msg, "odd");
    free_lines(&l);
}


typedef struct {
    const char *name;
    const char *in; /* passed as the "%s" argument */
    const char *out;
} mask_case_t;

static const mask_case_t mask_cases[] = {
    { "printable kept", "a b ~!{}[]%d%s\"'\\", "a b ~!{}[]%d%s\"'\\" },
    { "forged line", "ok\n2024-05-01T12:34:56.789Z mortar[1]: err: forged",
      "ok?2024-05-01T12:34:56.789Z mortar[1]: err: forged" },
    { "trailing newline", "end\n", "end?" },
    { "CR LF", "a\r\nb", "a??b" },
    { "ESC colour", "\x1b[31mred\x1b[0m", "?[31mred?[0m" },
    { "tab bell backspace", "a\tb\ac\bd", "a?b?c?d" },
    { "vertical tab form feed", "a\vb\fc", "a?b?c" },
    { "DEL",
      "a\x7f"
      "b",
      "a?b" },
    { "bytes 0x80 and 0xff", "\x80x\xff", "?x?" },
    { "UTF-8", "caf\xc3\xa9", "caf??" },
    { "empty", "", "" },
};

static void
test_masking(void **state)
{
    fixture_t *f = *state;
    lines_t    l;
    parsed_t   p;
    char       ctl[32], want[32];
    size_t     i, n = 0;

    open_file("mask", f->a, MTR_LOG_DEBUG);
    for (i = 0; i < NCASES(mask_cases); i++) {
        mtr_log(MTR_LOG_NOTICE, "%s", mask_cases[i].in);
        n++;
    }
    /* Every control byte but NUL, and a NUL formatted in with %c. */
    for (i = 1; i < 0x20; i++) {
        ctl[i - 1] = (char) i;
        want[i - 1] = '?';
    }
    ctl[31] = '\0';
    want[31] = '\0';
    mtr_log(MTR_LOG_NOTICE, "%s", ctl);
    mtr_log(MTR_LOG_NOTICE, "a%cb", 0);
    n += 2;

    read_lines(f->a, &l);
    /* One call, one line: no byte of the message ended a line. */
    assert_int_equal(l.n, n);
    for (i = 0; i < NCASES(mask_cases); i++) {
        print_message("case: %s\n", mask_cases[i].name);
        must_parse(l.v[i], &p);
        assert_string_equal(p.word, "notice");
        assert_string_equal(p.msg, mask_cases[i].out);
    }
    print_message("case: control bytes 0x01 to 0x1f\n");
    must_parse(l.v[i], &p);
    assert_string_equal(p.msg, want);
    print_message("case: NUL formatted with %%c\n");
    must_parse(l.v[i + 1], &p);
    assert_string_equal(p.msg, "a?b");
    free_lines(&l);
}


typedef struct {
    const char *name;
    size_t      len;      /* message length before formatting */
    size_t      nl_every; /* put a '\n' every nl_every bytes (0: none) */
    int         cut;
} long_case_t;

static const long_case_t long_cases[] = {
    { "short", 10, 0, 0 },
    { "one under the cap", MTR_LOG_MSG_MAX - 1, 0, 0 },
    { "at the cap", MTR_LOG_MSG_MAX, 0, 0 },
    { "one over the cap", MTR_LOG_MSG_MAX + 1, 0, 1 },
    { "far over the cap", 5 * MTR_LOG_MSG_MAX, 0, 1 },
    { "over the cap with newlines", MTR_LOG_MSG_MAX + 100, 100, 1 },
};

static void
test_oversized(void **state)
{
    fixture_t *f = *state;
    lines_t    l;
    parsed_t   p;
    size_t     i, j, m;
    char      *in, *want;

    /* The longest ident makes the longest header. */
    open_file(IDENT63, f->a, MTR_LOG_DEBUG);
    for (i = 0; i < NCASES(long_cases); i++) {
        const long_case_t *c = &long_cases[i];

        print_message("case: %s\n", c->name);
        in = malloc(c->len + 1);
        want = malloc(c->len + 1);
        assert_non_null(in);
        assert_non_null(want);
        for (j = 0; j < c->len; j++) {
            in[j] = (char) ('a' + j % 26);
            if (c->nl_every != 0 && j % c->nl_every == c->nl_every - 1) {
                in[j] = '\n';
            }
            want[j] = in[j] == '\n' ? '?' : in[j];
        }
        in[c->len] = '\0';
        want[c->len] = '\0';
        if (c->cut) {
            memcpy(want + MTR_LOG_MSG_MAX - 3, "...", 4);
        }

        mtr_log(MTR_LOG_WARN, "%s", in);
        read_lines(f->a, &l);
        assert_int_equal(l.n, i + 1);
        must_parse(l.v[i], &p);
        assert_string_equal(p.ident, IDENT63);
        assert_string_equal(p.word, "warn");
        m = strlen(p.msg);
        assert_int_equal(m, c->cut ? MTR_LOG_MSG_MAX : c->len);
        /* The last bytes first, so a failure stays short to read. */
        assert_string_equal(p.msg + m - (m < 8 ? m : 8),
                            want + m - (m < 8 ? m : 8));
        assert_string_equal(p.msg, want);
        free_lines(&l);
        free(in);
        free(want);
    }
}


typedef struct {
    const char     *name;
    const char     *s;
    int             rc;
    mtr_log_level_e level;
} parse_case_t;

static const parse_case_t parse_cases[] = {
    { "err", "err", MTR_OK, MTR_LOG_ERR },
    { "warn", "warn", MTR_OK, MTR_LOG_WARN },
    { "notice", "notice", MTR_OK, MTR_LOG_NOTICE },
    { "info", "info", MTR_OK, MTR_LOG_INFO },
    { "debug", "debug", MTR_OK, MTR_LOG_DEBUG },
    { "upper case", "ERR", MTR_OK, MTR_LOG_ERR },
    { "capitalised", "Warn", MTR_OK, MTR_LOG_WARN },
    { "mixed case", "NoTiCe", MTR_OK, MTR_LOG_NOTICE },
    { "upper info", "INFO", MTR_OK, MTR_LOG_INFO },
    { "mixed debug", "dEBUG", MTR_OK, MTR_LOG_DEBUG },
    { "NULL", NULL, MTR_ERROR, 0 },
    { "empty", "", MTR_ERROR, 0 },
    { "syslog spelling warning", "warning", MTR_ERROR, 0 },
    { "syslog spelling error", "error", MTR_ERROR, 0 },
    { "prefix", "inf", MTR_ERROR, 0 },
    { "trailing space", "info ", MTR_ERROR, 0 },
    { "leading space", " info", MTR_ERROR, 0 },
    { "trailing garbage", "debug2", MTR_ERROR, 0 },
    { "number", "3", MTR_ERROR, 0 },
    { "trailing newline", "err\n", MTR_ERROR, 0 },
};

static void
test_level_parse(void **state)
{
    size_t i;

    (void) state;
    for (i = 0; i < NCASES(parse_cases); i++) {
        const parse_case_t *c = &parse_cases[i];
        mtr_log_level_e     level = (mtr_log_level_e) 99;

        print_message("case: %s\n", c->name);
        assert_int_equal(mtr_log_level_parse(c->s, &level), c->rc);
        if (c->rc == MTR_OK) {
            assert_int_equal(level, c->level);
        }
    }
}


static void
test_reopen(void **state)
{
    fixture_t *f = *state;
    lines_t    l;
    parsed_t   p;
    mtr_err_t  err;
    char       bad[192];

    print_message("case: switch from one file to another\n");
    open_file("one", f->a, MTR_LOG_INFO);
    mtr_log(MTR_LOG_NOTICE, "to a");
    open_file("two", f->b, MTR_LOG_DEBUG);
    mtr_log(MTR_LOG_DEBUG, "to b");

    read_lines(f->a, &l);
    assert_int_equal(l.n, 1);
    must_parse(l.v[0], &p);
    assert_string_equal(p.ident, "one");
    assert_string_equal(p.msg, "to a");
    free_lines(&l);

    read_lines(f->b, &l);
    assert_int_equal(l.n, 1);
    must_parse(l.v[0], &p);
    assert_string_equal(p.ident, "two");
    assert_string_equal(p.word, "debug");
    assert_string_equal(p.msg, "to b");
    free_lines(&l);

    print_message("case: a failed reopen keeps the previous sink\n");
    snprintf(bad, sizeof(bad), "%s/missing/c.log", f->dir);
    assert_int_equal(mtr_log_open("three", bad, MTR_LOG_ERR, &err), MTR_ERROR);
    mtr_log(MTR_LOG_DEBUG, "still b");
    read_lines(f->b, &l);
    assert_int_equal(l.n, 2);
    must_parse(l.v[1], &p);
    assert_string_equal(p.ident, "two");
    assert_string_equal(p.msg, "still b");
    free_lines(&l);

    print_message("case: rotation: reopen after the file was moved away\n");
    assert_int_equal(unlink(f->a), 0);
    open_file("one", f->a, MTR_LOG_WARN);
    mtr_log(MTR_LOG_NOTICE, "dropped: below warn");
    mtr_log(MTR_LOG_WARN, "rotated");
    read_lines(f->a, &l);
    assert_int_equal(l.n, 1);
    must_parse(l.v[0], &p);
    assert_string_equal(p.msg, "rotated");
    free_lines(&l);

    print_message("case: appends to an existing file\n");
    open_file("one", f->a, MTR_LOG_WARN);
    mtr_log(MTR_LOG_ERR, "appended");
    read_lines(f->a, &l);
    assert_int_equal(l.n, 2);
    must_parse(l.v[0], &p);
    assert_string_equal(p.msg, "rotated");
    must_parse(l.v[1], &p);
    assert_string_equal(p.msg, "appended");
    free_lines(&l);

    print_message("case: b is no longer written\n");
    read_lines(f->b, &l);
    assert_int_equal(l.n, 2);
    free_lines(&l);

    print_message("case: syslog is a valid destination\n");
    mtr_err_clear(&err);
    assert_int_equal(mtr_log_open("t", "syslog", MTR_LOG_ERR, &err), MTR_OK);
    mtr_log_close();
    mtr_log_close();
}


typedef struct {
    const char     *name;
    const char     *ident;
    const char     *dest;   /* NULL is passed as NULL */
    int             in_dir; /* dest is relative to the scratch directory */
    mtr_log_level_e level;
    const char     *err_has; /* NULL: the destination itself */
    const char     *err_also;
} open_case_t;

static const open_case_t open_cases[] = {
    { "missing directory", "t", "missing/c.log", 1, MTR_LOG_INFO, NULL,
      "No such file or directory" },
    { "directory as file", "t", ".", 1, MTR_LOG_INFO, NULL, "Is a directory" },
    { "relative path", "t", "log/mortar.log", 0, MTR_LOG_INFO, NULL,
      "absolute path" },
    { "unknown word", "t", "journal", 0, MTR_LOG_INFO, NULL, "absolute path" },
    { "empty destination", "t", "", 0, MTR_LOG_INFO, "empty", NULL },
    { "NULL destination", "t", NULL, 0, MTR_LOG_INFO, "empty", NULL },
    { "ident too long", IDENT64, "stderr", 0, MTR_LOG_INFO, "1 to 63 bytes",
      NULL },
    { "empty ident", "", "stderr", 0, MTR_LOG_INFO, "1 to 63 bytes", NULL },
    { "level out of range", "t", "stderr", 0, (mtr_log_level_e) 5,
      "invalid log level", NULL },
};

static void
test_open_errors(void **state)
{
    fixture_t *f = *state;
    lines_t    l;
    parsed_t   p;
    size_t     i;

    open_file("good", f->b, MTR_LOG_INFO);
    for (i = 0; i < NCASES(open_cases); i++) {
        const open_case_t *c = &open_cases[i];
        const char        *dest = c->dest;
        char               path[192];
        mtr_err_t          err;

        print_message("case: %s\n", c->name);
        if (c->in_dir) {
            snprintf(path, sizeof(path), "%s/%s", f->dir, c->dest);
            dest = path;
        }
        mtr_err_clear(&err);
        assert_int_equal(mtr_log_open(c->ident, dest, c->level, &err),
                         MTR_ERROR);
        assert_non_null(strstr(err.msg, c->err_has ? c->err_has : dest));
        if (c->err_also != NULL) {
            assert_non_null(strstr(err.msg, c->err_also));
        }
        /* The previous sink is still in place. */
        mtr_log(MTR_LOG_INFO, "after %s", c->name);
    }

    read_lines(f->b, &l);
    assert_int_equal(l.n, NCASES(open_cases));
    for (i = 0; i < NCASES(open_cases); i++) {
        char want[96];

        print_message("case: sink kept after %s\n", open_cases[i].name);
        must_parse(l.v[i], &p);
        assert_string_equal(p.ident, "good");
        snprintf(want, sizeof(want), "after %s", open_cases[i].name);
        assert_string_equal(p.msg, want);
    }
    free_lines(&l);

    print_message("case: err may be NULL\n");
    assert_int_equal(mtr_log_open("t", "relative", MTR_LOG_INFO, NULL),
                     MTR_ERROR);
}


static void
test_stderr(void **state)
{
    fixture_t *f = *state;
    lines_t    l;
    parsed_t   p;
    mtr_err_t  err;
    int        saved;

    saved = stderr_begin(f->err);

    /* Before any open (and after close): INFO and above, ident "mortar". */
    mtr_log_close();
    mtr_log(MTR_LOG_INFO, "fallback info");
    mtr_log(MTR_LOG_DEBUG, "fallback debug");

    mtr_err_clear(&err);
    assert_int_equal(mtr_log_open("to-stderr", "stderr", MTR_LOG_DEBUG, &err),
                     MTR_OK);
    mtr_log(MTR_LOG_DEBUG, "explicit debug");

    /* Closing a file sink goes back to the fallback. */
    open_file("file", f->a, MTR_LOG_DEBUG);
    mtr_log(MTR_LOG_DEBUG, "in the file");
    mtr_log_close();
    mtr_log(MTR_LOG_WARN, "after close");

    stderr_end(saved);

    read_lines(f->err, &l);
    print_message("case: fallback sink before open\n");
    assert_int_equal(l.n, 3);
    must_parse(l.v[0], &p);
    assert_string_equal(p.ident, "mortar");
    assert_string_equal(p.word, "info");
    assert_string_equal(p.msg, "fallback info");

    print_message("case: \"stderr\" destination\n");
    must_parse(l.v[1], &p);
    assert_string_equal(p.ident, "to-stderr");
    assert_string_equal(p.word, "debug");
    assert_string_equal(p.msg, "explicit debug");

    print_message("case: fallback sink after close\n");
    must_parse(l.v[2], &p);
    assert_string_equal(p.ident, "mortar");
    assert_string_equal(p.word, "warn");
    assert_string_equal(p.msg, "after close");
    free_lines(&l);

    read_lines(f->a, &l);
    assert_int_equal(l.n, 1);
    free_lines(&l);
}


static void
test_errno_preserved(void **state)
{
    fixture_t *f = *state;
    lines_t    l;
    parsed_t   p;
    char       want[128];

    open_file("errno", f->a, MTR_LOG_INFO);

    print_message("case: %%m sees the caller's errno, errno unchanged\n");
    errno = EACCES;
    mtr_log(MTR_LOG_ERR, "open: %m");
    assert_int_equal(errno, EACCES);

    print_message("case: a dropped message leaves errno alone\n");
    errno = ENOENT;
    mtr_log(MTR_LOG_DEBUG, "dropped");
    assert_int_equal(errno, ENOENT);

    read_lines(f->a, &l);
    assert_int_equal(l.n, 1);
    must_parse(l.v[0], &p);
    snprintf(want, sizeof(want), "open: %s", strerror(EACCES));
    assert_string_equal(p.msg, want);
    free_lines(&l);
}


#define THREADS    4
#define PER_THREAD 500
#define THREAD_PAD 1500

typedef struct {
    int                id;
    pthread_barrier_t *start;
} thread_arg_t;

static void *
log_thread(void *arg)
{
    thread_arg_t *a = arg;
    char          pad[THREAD_PAD + 1];
    int           i;

    memset(pad, 'A' + a->id, THREAD_PAD);
    pad[THREAD_PAD] = '\0';
    pthread_barrier_wait(a->start);
    for (i = 0; i < PER_THREAD; i++) {
        mtr_log(MTR_LOG_INFO, "t%d n%d %s", a->id, i, pad);
    }
    return NULL;
}

static void
test_threads(void **state)
{
    fixture_t        *f = *state;
    pthread_t         tid[THREADS];
    thread_arg_t      args[THREADS];
    pthread_barrier_t start;
    unsigned char     seen[THREADS][PER_THREAD];
    lines_t           l;
    parsed_t          p;
    size_t            i;
    int               t, n, off, k;

    print_message("case: %d threads x %d lines of %d bytes\n", THREADS,
                  PER_THREAD, THREAD_PAD);
    open_file("threads", f->a, MTR_LOG_INFO);
    assert_int_equal(pthread_barrier_init(&start, NULL, THREADS), 0);
    for (t = 0; t < THREADS; t++) {
        args[t].id = t;
        args[t].start = &start;
        assert_int_equal(pthread_create(&tid[t], NULL, log_thread, &args[t]),
                         0);
    }
    for (t = 0; t < THREADS; t++) {
        assert_int_equal(pthread_join(tid[t], NULL), 0);
    }
    pthread_barrier_destroy(&start);

    read_lines(f->a, &l);
    assert_int_equal(l.n, THREADS * PER_THREAD);
    memset(seen, 0, sizeof(seen));
    for (i = 0; i < l.n; i++) {
        must_parse(l.v[i], &p);
        assert_string_equal(p.ident, "threads");
        assert_int_equal(p.pid, (long) getpid());
        assert_string_equal(p.word, "info");
        off = -1;
        if (sscanf(p.msg, "t%d n%d %n", &t, &n, &off) != 2 || off < 0 || t < 0
            || t >= THREADS || n < 0 || n >= PER_THREAD
            || strlen(p.msg + off) != THREAD_PAD)
        {
            print_message("torn line: \"%.200s\"\n", l.v[i]);
            fail();
        }
        for (k = 0; k < THREAD_PAD; k++) {
            if (p.msg[off + k] != 'A' + t) {
                print_message("mixed line: \"%.200s\"\n", l.v[i]);
                fail();
            }
        }
        assert_int_equal(seen[t][n], 0);
        seen[t][n] = 1;
    }
    free_lines(&l);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_line_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_min_level, setup, teardown),
        cmocka_unit_test_setup_teardown(test_masking, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized, setup, teardown),
        cmocka_unit_test(test_level_parse),
        cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stderr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errno_preserved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
    };

    /* A zone far from UTC, so a local-time timestamp would be caught. */
    setenv("TZ", "XXX-05:30", 1);
    tzset();

    return cmocka_run_group_tests(tests, NULL, NULL);
}
