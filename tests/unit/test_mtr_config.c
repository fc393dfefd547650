/*
 * test_mtr_config.c -- unit tests for mtr_config.h: the key = value reader,
 * its typed getters and the {{key}} template renderer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "mtr_config.h"

typedef struct {
    const char *name;
    const char *text;
    int         rc;
    const char *key;     /* checked when rc == MTR_OK */
    const char *value;   /* expected value of key (NULL: absent) */
    const char *err_has; /* checked when rc != MTR_OK */
} parse_case_t;

static const parse_case_t parse_cases[] = {
    { "plain", "port = 8080\n", MTR_OK, "port", "8080", NULL },
    { "no spaces", "port=8080", MTR_OK, "port", "8080", NULL },
    { "tabs and CRLF", "\tport\t=\t8080 \r\n", MTR_OK, "port", "8080", NULL },
    { "comment and blank", "# c\n\n  # d\nk = v\n", MTR_OK, "k", "v", NULL },
    { "hash inside value", "k = a#b\n", MTR_OK, "k", "a#b", NULL },
    { "empty value", "k =\n", MTR_OK, "k", "", NULL },
    { "quoted keeps blanks", "k = \"  a # b \"\n", MTR_OK, "k", "  a # b ",
      NULL },
    { "quoted escapes", "k = \"a\\\"b\\\\c\"", MTR_OK, "k", "a\"b\\c", NULL },
    { "dotted key", "ldap.uri = ldap://x\n", MTR_OK, "ldap.uri", "ldap://x",
      NULL },
    { "value with equals", "k = a=b\n", MTR_OK, "k", "a=b", NULL },
    { "absent key", "k = v\n", MTR_OK, "other", NULL, NULL },
    { "no newline at end", "a = 1\nb = 2", MTR_OK, "b", "2", NULL },
    { "missing equals", "k v\n", MTR_ERROR, NULL, NULL,
      "t.conf:1: expected '='" },
    { "no key", "= v\n", MTR_ERROR, NULL, NULL, "t.conf:1: expected" },
    { "bad key char", "k$ = v\n", MTR_ERROR, NULL, NULL, "t.conf:1:" },
    { "duplicate", "a = 1\n\nb = 2\na = 3\n", MTR_ERROR, NULL, NULL,
      "t.conf:4: \"a\" already set at t.conf:1" },
    { "unterminated quote", "k = \"abc\n", MTR_ERROR, NULL, NULL,
      "unterminated quote" },
    { "text after quote", "k = \"a\" b\n", MTR_ERROR, NULL, NULL,
      "after the closing quote" },
    { "bad escape", "k = \"C:\\dir\"\n", MTR_ERROR, NULL, NULL, "backslash" },
    { "error line count", "a = 1\n# x\n\nbad line\n", MTR_ERROR, NULL, NULL,
      "t.conf:4:" },
};

static void
test_parse_table(void **state)
{
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
        const parse_case_t *c = &parse_cases[i];
        mtr_config_t       *cfg = NULL;
        mtr_err_t           err;
        int                 rc;

        print_message("case: %s\n", c->name);
        mtr_err_clear(&err);
        rc = mtr_config_parse(c->text, strlen(c->text), "t.conf", &cfg, &err);
        assert_int_equal(rc, c->rc);
        if (rc == MTR_OK) {
            const char *v = mtr_config_get(cfg, c->key);

            if (c->value == NULL) {
                assert_null(v);
            } else {
                assert_non_null(v);
                assert_string_equal(v, c->value);
            }
        } else {
            assert_null(cfg);
            assert_non_null(strstr(err.msg, c->err_has));
        }
        mtr_config_destroy(&cfg);
        assert_null(cfg);
    }
}

static void
test_nul_and_long_lines(void **state)
{
    mtr_config_t *cfg = NULL;
    mtr_err_t     err;
    char         *big;

    (void) state;
    print_message("case: NUL byte\n");
    assert_int_equal(mtr_config_parse("k = a\0b\n", 8, "t", &cfg, &err),
                     MTR_ERROR);
    assert_non_null(strstr(err.msg, "NUL"));

    print_message("case: line at the cap\n");
    big = malloc(MTR_CONFIG_LINE_MAX + 2);
    assert_non_null(big);
    memset(big, 'x', MTR_CONFIG_LINE_MAX + 1);
    memcpy(big, "k = ", 4);
    big[MTR_CONFIG_LINE_MAX + 1] = '\0';
    assert_int_equal(mtr_config_parse(big, strlen(big), "t", &cfg, &err),
                     MTR_ERROR);
    assert_non_null(strstr(err.msg, "longer than"));

    print_message("case: line one byte under the cap\n");
    big[MTR_CONFIG_LINE_MAX - 1] = '\0';
    assert_int_equal(mtr_config_parse(big, strlen(big), "t", &cfg, &err),
                     MTR_OK);
    assert_int_equal(strlen(mtr_config_get(cfg, "k")),
                     MTR_CONFIG_LINE_MAX - 1 - 4);
    mtr_config_destroy(&cfg);
    free(big);
}

static void
test_merge_files(void **state)
{
    mtr_config_t *cfg = NULL;
    mtr_err_t     err;
    char          where[64];

    (void) state;
    print_message("case: two files merge\n");
    assert_int_equal(mtr_config_parse("a = 1\n", 6, "one", &cfg, &err), MTR_OK);
    assert_int_equal(mtr_config_parse("\nb = 2\n", 7, "two", &cfg, &err),
                     MTR_OK);
    assert_string_equal(mtr_config_get(cfg, "a"), "1");
    assert_string_equal(mtr_config_get(cfg, "b"), "2");
    assert_string_equal(mtr_config_where(cfg, "b", where, sizeof(where)),
                        "two:2");

    print_message("case: key redefined by a second file is refused\n");
    assert_int_equal(
        mtr_config_parse("c = 3\na = 9\n", 12, "three", &cfg, &err), MTR_ERROR);
    assert_non_null(strstr(err.msg, "three:2: \"a\" already set at one:1"));
    print_message("case: a failed file leaves the config as it was\n");
    assert_null(mtr_config_get(cfg, "c"));
    assert_int_equal(mtr_config_count(cfg), 2);

    print_message("case: -D style set\n");
    assert_int_equal(mtr_config_set(&cfg, "top", "/srv", &err), MTR_OK);
    assert_string_equal(mtr_config_get(cfg, "top"), "/srv");
    assert_int_equal(mtr_config_set(&cfg, "top", "/x", &err), MTR_ERROR);
    assert_int_equal(mtr_config_set(&cfg, "bad key", "/x", &err), MTR_ERROR);
    mtr_config_destroy(&cfg);
}

typedef struct {
    const char *name;
    const char *value; /* NULL: key absent */
    int         rc;
    uint64_t    expect;
} uint_case_t;

static void
test_typed_getters(void **state)
{
    static const uint_case_t ports[] = {
        { "absent gives default", NULL, MTR_OK, 25 },
        { "in range", "8080", MTR_OK, 8080 },
        { "upper bound", "65535", MTR_OK, 65535 },
        { "above max", "65536", MTR_ERROR, 0 },
        { "below min", "0", MTR_ERROR, 0 },
        { "negative", "-1", MTR_ERROR, 0 },
        { "garbage", "80x", MTR_ERROR, 0 },
        { "empty", "", MTR_ERROR, 0 },
        { "overflow", "99999999999999999999999", MTR_ERROR, 0 },
    };
    static const uint_case_t sizes[] = {
        { "bytes", "512", MTR_OK, 512 },
        { "kilo", "4K", MTR_OK, 4096 },
        { "mega with B", "10MB", MTR_OK, 10 * 1024 * 1024 },
        { "giga lower", "2g", MTR_OK, 2ULL << 30 },
        { "bad suffix", "2X", MTR_ERROR, 0 },
        { "overflow by suffix", "17179869184T", MTR_ERROR, 0 },
    };
    mtr_err_t err;
    size_t    i;
    uint64_t  v;
    int       b;

    (void) state;
    for (i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
        mtr_config_t *cfg = NULL;

        print_message("case: port %s\n", ports[i].name);
        if (ports[i].value != NULL) {
            assert_int_equal(mtr_config_set(&cfg, "port", ports[i].value, &err),
                             MTR_OK);
        }
        assert_int_equal(
            mtr_config_get_uint(cfg, "port", 25, 1, 65535, &v, &err),
            ports[i].rc);
        if (ports[i].rc == MTR_OK) {
            assert_int_equal(v, ports[i].expect);
        } else {
            /* The message names the key, the value and where it was set. */
            assert_non_null(strstr(err.msg, "\"port\""));
            assert_non_null(strstr(err.msg, "command line"));
        }
        mtr_config_destroy(&cfg);
    }
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        mtr_config_t *cfg = NULL;

        print_message("case: size %s\n", sizes[i].name);
        assert_int_equal(mtr_config_set(&cfg, "q", sizes[i].value, &err),
                         MTR_OK);
        assert_int_equal(mtr_config_get_size(cfg, "q", 0, UINT64_MAX, &v, &err),
                         sizes[i].rc);
        if (sizes[i].rc == MTR_OK) {
            assert_true(v == sizes[i].expect);
        }
        mtr_config_destroy(&cfg);
    }

    {
        static const char *const words[] = { "yes", "On",  "TRUE",  "1",
                                             "no",  "off", "false", "0" };
        mtr_config_t            *cfg = NULL;

        for (i = 0; i < 8; i++) {
            print_message("case: bool %s\n", words[i]);
            assert_int_equal(mtr_config_set(&cfg, words[i], words[i], &err),
                             MTR_OK);
            assert_int_equal(mtr_config_get_bool(cfg, words[i], -1, &b, &err),
                             MTR_OK);
            assert_int_equal(b, i < 4);
        }
        print_message("case: bool garbage\n");
        assert_int_equal(mtr_config_set(&cfg, "x", "maybe", &err), MTR_OK);
        assert_int_equal(mtr_config_get_bool(cfg, "x", 0, &b, &err), MTR_ERROR);
        assert_non_null(strstr(err.msg, "maybe"));
        print_message("case: bool absent\n");
        assert_int_equal(mtr_config_get_bool(cfg, "nope", 7, &b, &err), MTR_OK);
        assert_int_equal(b, 7);
        mtr_config_destroy(&cfg);
    }
}

static void
test_check_keys_and_require(void **state)
{
    static const char *const known[] = { "listen", "timeout", NULL };
    mtr_config_t            *cfg = NULL;
    mtr_err_t                err;
    const char              *v;
    const char              *text = "listen = x\ntimout = 3\n";

    (void) state;
    print_message("case: misspelt key is named with its line\n");
    assert_int_equal(mtr_config_parse(text, strlen(text), "m.conf", &cfg, &err),
                     MTR_OK);
    assert_int_equal(mtr_config_check_keys(cfg, known, &err), MTR_ERROR);
    assert_string_equal(err.msg, "m.conf:2: unknown key \"timout\"");

    print_message("case: required key\n");
    assert_int_equal(mtr_config_require(cfg, "listen", &v, &err), MTR_OK);
    assert_string_equal(v, "x");
    assert_int_equal(mtr_config_require(cfg, "timeout", &v, &err), MTR_ERROR);
    assert_non_null(strstr(err.msg, "timeout"));
    mtr_config_destroy(&cfg);
}

typedef struct {
    const char *name;
    const char *tmpl;
    int         rc;
    const char *out_or_err;
} render_case_t;

static void
test_render_table(void **state)
{
    static const render_case_t cases[] = {
        { "no placeholder", "listen 80;\n", MTR_OK, "listen 80;\n" },
        { "one", "listen {{port}};", MTR_OK, "listen 8080;" },
        { "adjacent", "{{host}}:{{port}}", MTR_OK, "127.0.0.1:8080" },
        { "single braces kept", "key {x} {{port}}", MTR_OK, "key {x} 8080" },
        { "empty value", "a{{empty}}b", MTR_OK, "ab" },
        { "dotted key", "{{ldap.base}}", MTR_OK, "o=mortar" },
        { "missing key", "x\ny {{nope}}\n", MTR_ERROR,
          "t.in:2: no value for \"{{nope}}\"" },
        { "unterminated", "a\nb\n{{port\n}}", MTR_ERROR,
          "t.in:3: unterminated" },
        { "blank inside", "{{ port }}", MTR_ERROR, "malformed placeholder" },
        { "empty placeholder", "{{}}", MTR_ERROR, "malformed placeholder" },
        { "empty template", "", MTR_OK, "" },
    };
    mtr_config_t *cfg = NULL;
    mtr_err_t     err;
    const char   *conf =
        "port = 8080\nhost = 127.0.0.1\nempty =\nldap.base = o=mortar\n";
    size_t i;

    (void) state;
    assert_int_equal(mtr_config_parse(conf, strlen(conf), "c", &cfg, &err),
                     MTR_OK);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char  *out = NULL;
        size_t len = 0;
        int    rc;

        print_message("case: render %s\n", cases[i].name);
        rc = mtr_config_render(cfg, cases[i].tmpl, strlen(cases[i].tmpl),
                               "t.in", &out, &len, &err);
        assert_int_equal(rc, cases[i].rc);
        if (rc == MTR_OK) {
            assert_string_equal(out, cases[i].out_or_err);
            assert_int_equal(len, strlen(cases[i].out_or_err));
            free(out);
        } else {
            assert_non_null(strstr(err.msg, cases[i].out_or_err));
        }
    }

    print_message("case: render grows past the initial buffer\n");
    {
        char  *big = malloc(10001), *out;
        size_t len;

        assert_non_null(big);
        for (i = 0; i + 8 <= 10000; i += 8) {
            memcpy(big + i, "{{port}}", 8);
        }
        big[i] = '\0';
        assert_int_equal(
            mtr_config_render(cfg, big, i, "big", &out, &len, &err), MTR_OK);
        assert_int_equal(len, i / 8 * 4);
        free(out);
        free(big);
    }
    mtr_config_destroy(&cfg);
}

static void
test_load(void **state)
{
    char          path[] = "/tmp/mtr_config_testXXXXXX";
    mtr_config_t *cfg = NULL;
    mtr_err_t     err;
    int           fd;

    (void) state;
    print_message("case: load a file\n");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "a = 1\n", 6), 6);
    close(fd);
    assert_int_equal(mtr_config_load(path, &cfg, &err), MTR_OK);
    assert_string_equal(mtr_config_get(cfg, "a"), "1");
    mtr_config_destroy(&cfg);
    unlink(path);

    print_message("case: missing file names the path\n");
    assert_int_equal(mtr_config_load(path, &cfg, &err), MTR_ERROR);
    assert_non_null(strstr(err.msg, path));

    print_message("case: a directory is not a config file\n");
    assert_int_equal(mtr_config_load("/tmp", &cfg, &err), MTR_ERROR);
    assert_non_null(strstr(err.msg, "not a regular file"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_table),
        cmocka_unit_test(test_nul_and_long_lines),
        cmocka_unit_test(test_merge_files),
        cmocka_unit_test(test_typed_getters),
        cmocka_unit_test(test_check_keys_and_require),
        cmocka_unit_test(test_render_table),
        cmocka_unit_test(test_load),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
