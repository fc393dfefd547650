/*
 * test_admin_dir.c -- unit tests of cli/admin_dir.c, the directory core of
 * `mortar` and the admin API.
 *
 * Table-driven: each case has a name, printed before its assertions.
 * Pure parts: field lookup, address/domain/local-part checks, every value
 * normalizer (phones, sizes, booleans, language tags, time zones against a
 * zoneinfo tree made here, services, statuses, addresses, countries,
 * scores), passwords, DN building and escaping, change lists, new-entry
 * building with its defaults, and the diff that decides "unchanged".
 *
 * Sequences: libmortar's LDAP client is wrapped at link time
 * (tests/unit/test_admin_dir.flags) and the license gate is replaced by
 * the link-time mocks below (liblic is not linked), so the tests prove the
 * order of the license calls: a refused change writes nothing, a failed add
 * gives its seat back, a failed password removes the entry and gives the seat
 * back, a delete gives the seat back, an identical re-import asks nothing
 * and writes nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <ldap.h>

#include "admin_dir.h"

#define BASE "o=mortar"
#define NOW  INT64_C(1800000000)

static char zonedir[64];

/* ---- a zoneinfo tree of our own ---------------------------------------- */

static void
make_zone(const char *rel, const char *content)
{
    char  path[256], dir[256], *slash;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", zonedir, rel);
    /* mkdir -p of the zone's directory. */
    snprintf(dir, sizeof(dir), "%s", path);
    for (slash = dir + strlen(zonedir) + 1; (slash = strchr(slash, '/'));
         slash++) {
        *slash = '\0';
        mkdir(dir, 0755);
        *slash = '/';
    }
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static int
setup_zones(void **state)
{
    (void) state;
    snprintf(zonedir, sizeof(zonedir), "/tmp/test-admin-zones-XXXXXX");
    assert_non_null(mkdtemp(zonedir));
    make_zone("Europe/Paris", "TZif2 fake zone");
    make_zone("UTC", "TZif2 fake zone");
    make_zone("America/Argentina/Buenos_Aires", "TZif2");
    make_zone("zone.tab", "# not a zone");
    make_zone("Europe/Fake", "not a tzfile");
    return 0;
}

static int
teardown_zones(void **state)
{
    char cmd[128];

    (void) state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", zonedir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- field lookup ------------------------------------------------------- */

typedef struct {
    const char *name;
    admin_obj_e obj;
    const char *in;
    const char *attr; /* NULL: not found */
} find_case_t;

static const find_case_t find_cases[] = {
    { "canonical", ADMIN_OBJ_USER, "given-name", "givenName" },
    { "attribute name", ADMIN_OBJ_USER, "givenName", "givenName" },
    { "upper and underscores", ADMIN_OBJ_USER, "GIVEN_NAME", "givenName" },
    { "alt name", ADMIN_OBJ_USER, "first-name", "givenName" },
    { "alias singular", ADMIN_OBJ_USER, "alias", "mortarMailAlias" },
    { "city is l", ADMIN_OBJ_USER, "city", "l" },
    { "ldap l", ADMIN_OBJ_USER, "l", "l" },
    { "quota", ADMIN_OBJ_USER, "quota", "mortarQuotaBytes" },
    { "keep copy", ADMIN_OBJ_USER, "keepCopy", "mortarForwardKeepCopy" },
    { "mail is no field", ADMIN_OBJ_USER, "mail", NULL },
    { "password is no field", ADMIN_OBJ_USER, "password", NULL },
    { "unknown", ADMIN_OBJ_USER, "shoe-size", NULL },
    { "empty", ADMIN_OBJ_USER, "", NULL },
    { "prefix is not enough", ADMIN_OBJ_USER, "tit", NULL },
    { "domain pool", ADMIN_OBJ_DOMAIN, "quota-pool", "mortarDomainQuotaPool" },
    { "domain alias", ADMIN_OBJ_DOMAIN, "aliases", "mortarDomainAlias" },
    { "domain has no cn", ADMIN_OBJ_DOMAIN, "cn", NULL },
    { "group policy", ADMIN_OBJ_GROUP, "policy", "mortarGroupPolicy" },
};

static void
test_field_find(void **state)
{
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(find_cases) / sizeof(find_cases[0]); i++) {
        const find_case_t   *c = &find_cases[i];
        const admin_field_t *f;

        print_message("field_find: %s\n", c->name);
        f = admin_field_find(c->obj, c->in, strlen(c->in));
        if (c->attr == NULL) {
            assert_null(f);
        } else {
            assert_non_null(f);
            assert_string_equal(f->attr, c->attr);
        }
    }
}

/* ---- addresses ----------------------------------------------------------- */

typedef struct {
    const char *name;
    const char *in;
    int         rc;
    const char *local;
    const char *domain;
} addr_case_t;

static const addr_case_t addr_cases[] = {
    { "plain", "alice@example.test", MTR_OK, "alice", "example.test" },
    { "lowercased", "Alice.B@Example.TEST", MTR_OK, "alice.b", "example.test" },
    { "plus and dash", "a+b-c_d@x.example.org", MTR_OK, "a+b-c_d",
      "x.example.org" },
    { "no at", "alice.example.test", MTR_ERROR, NULL, NULL },
    { "two at", "a@b@example.test", MTR_ERROR, NULL, NULL },
    { "empty local", "@example.test", MTR_ERROR, NULL, NULL },
    { "empty domain", "alice@", MTR_ERROR, NULL, NULL },
    { "leading dot", ".alice@example.test", MTR_ERROR, NULL, NULL },
    { "trailing dot", "alice.@example.test", MTR_ERROR, NULL, NULL },
    { "double dot", "al..ice@example.test", MTR_ERROR, NULL, NULL },
    { "space", "al ice@example.test", MTR_ERROR, NULL, NULL },
    { "quote", "al\"ice@example.test", MTR_ERROR, NULL, NULL },
    { "comma (DN special)", "a,b@example.test", MTR_ERROR, NULL, NULL },
    { "star (filter special)", "a*@example.test", MTR_ERROR, NULL, NULL },
    { "one-label domain", "alice@localhost", MTR_ERROR, NULL, NULL },
    { "numeric tld", "alice@10.0.0.1", MTR_ERROR, NULL, NULL },
    { "label with dash ends", "alice@-x.example", MTR_ERROR, NULL, NULL },
    { "empty label", "alice@x..example", MTR_ERROR, NULL, NULL },
    { "underscore domain", "alice@ex_ample.test", MTR_ERROR, NULL, NULL },
    { "utf-8 domain", "alice@\xc3\xa9t\xc3\xa9.fr", MTR_ERROR, NULL, NULL },
    { "punycode", "alice@xn--tt-bja.fr", MTR_OK, "alice", "xn--tt-bja.fr" },
    { "65-byte local",
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@x.io",
      MTR_ERROR, NULL, NULL },
    { "64-byte local",
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@x.io",
      MTR_OK,
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
      "x.io" },
    { "64-byte label",
      "a@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.io",
      MTR_ERROR, NULL, NULL },
};

static void
test_parse_address(void **state)
{
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(addr_cases) / sizeof(addr_cases[0]); i++) {
        const addr_case_t *c = &addr_cases[i];
        char               local[ADMIN_LOCAL_MAX + 1];
        char               domain[ADMIN_DOMAIN_MAX + 1];
        mtr_err_t          err;

        print_message("parse_address: %s\n", c->name);
        mtr_err_clear(&err);
        assert_int_equal(
            admin_parse_address(c->in, strlen(c->in), local, domain, &err),
            c->rc);
        if (c->rc == MTR_OK) {
            assert_string_equal(local, c->local);
            assert_string_equal(domain, c->domain);
        } else {
            assert_true(err.msg[0] != '\0');
        }
    }
}

/* ---- value normalization ---------------------------------------------------
 */

typedef struct {
    const char *name;
    admin_obj_e obj;
    const char *field;
    const char *in;
    int         rc;
    const char *out;
} norm_case_t;

static const norm_case_t norm_cases[] = {
    /* phones */
    { "phone spaces", ADMIN_OBJ_USER, "mobile", "+33 6 12 34 56 78", MTR_OK,
      "+33612345678" },
    { "phone dashes dots", ADMIN_OBJ_USER, "phone", "+1-555-000.0001", MTR_OK,
      "+15550000001" },
    { "phone no plus", ADMIN_OBJ_USER, "mobile", "0612345678", MTR_ERROR,
      NULL },
    { "phone letters", ADMIN_OBJ_USER, "mobile", "+33 6 CALL ME", MTR_ERROR,
      NULL },
    { "phone parens", ADMIN_OBJ_USER, "mobile", "+33 (0)6 12", MTR_ERROR,
      NULL },
    { "phone too short", ADMIN_OBJ_USER, "mobile", "+331", MTR_ERROR, NULL },
    { "phone 15 digits", ADMIN_OBJ_USER, "mobile", "+123456789012345", MTR_OK,
      "+123456789012345" },
    { "phone 16 digits", ADMIN_OBJ_USER, "mobile", "+1234567890123456",
      MTR_ERROR, NULL },
    { "phone country 0", ADMIN_OBJ_USER, "mobile", "+0612345678", MTR_ERROR,
      NULL },
    { "phone plus inside", ADMIN_OBJ_USER, "mobile", "+33+612345678", MTR_ERROR,
      NULL },
    /* sizes */
    { "size 2G", ADMIN_OBJ_USER, "quota", "2G", MTR_OK, "2147483648" },
    { "size lower k", ADMIN_OBJ_USER, "quota", "512k", MTR_OK, "524288" },
    { "size GB", ADMIN_OBJ_USER, "quota", "1GB", MTR_OK, "1073741824" },
    { "size bytes", ADMIN_OBJ_USER, "quota", "1000", MTR_OK, "1000" },
    { "size zero", ADMIN_OBJ_USER, "quota", "0", MTR_OK, "0" },
    { "size unlimited", ADMIN_OBJ_USER, "quota", "unlimited", MTR_OK, "0" },
    { "size blanks trimmed", ADMIN_OBJ_USER, "quota", "  3M ", MTR_OK,
      "3145728" },
    { "size bad suffix", ADMIN_OBJ_USER, "quota", "2X", MTR_ERROR, NULL },
    { "size negative", ADMIN_OBJ_USER, "quota", "-1G", MTR_ERROR, NULL },
    { "size fraction", ADMIN_OBJ_USER, "quota", "1.5G", MTR_ERROR, NULL },
    { "size past 1 EiB", ADMIN_OBJ_USER, "quota", "2048P", MTR_ERROR, NULL },
    { "domain pool", ADMIN_OBJ_DOMAIN, "quota-pool", "10T", MTR_OK,
      "10995116277760" },
    /* numbers */
    { "max users", ADMIN_OBJ_DOMAIN, "max-users", "500", MTR_OK, "500" },
    { "max users sign", ADMIN_OBJ_DOMAIN, "max-users", "+5", MTR_ERROR, NULL },
    { "max users huge", ADMIN_OBJ_DOMAIN, "max-users", "99999999999", MTR_ERROR,
      NULL },
    /* booleans */
    { "bool yes", ADMIN_OBJ_USER, "keep-copy", "yes", MTR_OK, "TRUE" },
    { "bool On", ADMIN_OBJ_USER, "keep-copy", "On", MTR_OK, "TRUE" },
    { "bool 0", ADMIN_OBJ_USER, "keep-copy", "0", MTR_OK, "FALSE" },
    { "bool FALSE", ADMIN_OBJ_USER, "keep-copy", "FALSE", MTR_OK, "FALSE" },
    { "bool maybe", ADMIN_OBJ_USER, "keep-copy", "maybe", MTR_ERROR, NULL },
    /* language tags */
    { "lang en", ADMIN_OBJ_USER, "language", "en", MTR_OK, "en" },
    { "lang pt_br", ADMIN_OBJ_USER, "language", "pt_br", MTR_OK, "pt-BR" },
    { "lang script region", ADMIN_OBJ_USER, "language", "ZH-hant-tw", MTR_OK,
      "zh-Hant-TW" },
    { "lang UN region", ADMIN_OBJ_USER, "language", "es-419", MTR_OK,
      "es-419" },
    { "lang variant", ADMIN_OBJ_USER, "language", "de-CH-1996", MTR_OK,
      "de-CH-1996" },
    { "lang one letter", ADMIN_OBJ_USER, "language", "e", MTR_ERROR, NULL },
    { "lang digits", ADMIN_OBJ_USER, "language", "12", MTR_ERROR, NULL },
    { "lang trailing dash", ADMIN_OBJ_USER, "language", "en-", MTR_ERROR,
      NULL },
    { "lang region twice", ADMIN_OBJ_USER, "language", "en-US-GB", MTR_ERROR,
      NULL },
    { "lang english word", ADMIN_OBJ_USER, "language", "English", MTR_ERROR,
      NULL },
    /* time zones (against the tree made in setup) */
    { "tz Europe/Paris", ADMIN_OBJ_USER, "timezone", "Europe/Paris", MTR_OK,
      "Europe/Paris" },
    { "tz UTC", ADMIN_OBJ_USER, "timezone", "UTC", MTR_OK, "UTC" },
    { "tz three levels", ADMIN_OBJ_USER, "timezone",
      "America/Argentina/Buenos_Aires", MTR_OK,
      "America/Argentina/Buenos_Aires" },
    { "tz unknown", ADMIN_OBJ_USER, "timezone", "Mars/Olympus", MTR_ERROR,
      NULL },
    { "tz dotdot", ADMIN_OBJ_USER, "timezone", "../../etc/passwd", MTR_ERROR,
      NULL },
    { "tz absolute", ADMIN_OBJ_USER, "timezone", "/etc/localtime", MTR_ERROR,
      NULL },
    { "tz a directory", ADMIN_OBJ_USER, "timezone", "Europe", MTR_ERROR, NULL },
    { "tz not a tzfile", ADMIN_OBJ_USER, "timezone", "Europe/Fake", MTR_ERROR,
      NULL },
    { "tz table file", ADMIN_OBJ_USER, "timezone", "zone.tab", MTR_ERROR,
      NULL },
    /* words */
    { "service", ADMIN_OBJ_USER, "services", "IMAP", MTR_OK, "imap" },
    { "service unknown", ADMIN_OBJ_USER, "services", "ftp", MTR_ERROR, NULL },
    { "status", ADMIN_OBJ_USER, "status", "Disabled", MTR_OK, "disabled" },
    { "status unknown", ADMIN_OBJ_USER, "status", "locked", MTR_ERROR, NULL },
    { "spam action", ADMIN_OBJ_USER, "spam-action", "tag", MTR_OK, "tag" },
    { "group policy", ADMIN_OBJ_GROUP, "policy", "members", MTR_OK, "members" },
    /* addresses and domains */
    { "forward", ADMIN_OBJ_USER, "forwards", "Bob@Other.ORG", MTR_OK,
      "bob@other.org" },
    { "forward bad", ADMIN_OBJ_USER, "forwards", "bob", MTR_ERROR, NULL },
    { "sender @domain", ADMIN_OBJ_USER, "sender-allow", "@Partner.org", MTR_OK,
      "@partner.org" },
    { "sender bad domain", ADMIN_OBJ_USER, "sender-block", "@x", MTR_ERROR,
      NULL },
    { "domain alias", ADMIN_OBJ_DOMAIN, "aliases", "Example.NET", MTR_OK,
      "example.net" },
    { "domain alias bad", ADMIN_OBJ_DOMAIN, "aliases", "exa mple.net",
      MTR_ERROR, NULL },
    /* country, score */
    { "country", ADMIN_OBJ_USER, "country", "fr", MTR_OK, "FR" },
    { "country 3 letters", ADMIN_OBJ_USER, "country", "FRA", MTR_ERROR, NULL },
    { "score", ADMIN_OBJ_USER, "spam-threshold", "6.5", MTR_OK, "6.5" },
    { "score negative", ADMIN_OBJ_USER, "spam-threshold", "-2", MTR_OK, "-2" },
    { "score word", ADMIN_OBJ_USER, "spam-threshold", "high", MTR_ERROR, NULL },
    { "score dot only", ADMIN_OBJ_USER, "spam-threshold", "5.", MTR_ERROR,
      NULL },
    /* text */
    { "text utf-8", ADMIN_OBJ_USER, "cn", "J\xc3\xbcrgen M\xc3\xbcller", MTR_OK,
      "J\xc3\xbcrgen M\xc3\xbcller" },
    { "text trimmed", ADMIN_OBJ_USER, "title", "  Engineer\t", MTR_OK,
      "Engineer" },
    { "text newline", ADMIN_OBJ_USER, "cn", "a\nb", MTR_ERROR, NULL },
    { "text bad utf-8", ADMIN_OBJ_USER, "cn", "a\xc3(", MTR_ERROR, NULL },
    { "text overlong utf-8", ADMIN_OBJ_USER, "cn", "\xc0\xaf", MTR_ERROR,
      NULL },
    { "text surrogate", ADMIN_OBJ_USER, "cn", "\xed\xa0\x80", MTR_ERROR, NULL },
    { "text C1 control", ADMIN_OBJ_USER, "cn", "a\xc2\x85", MTR_ERROR, NULL },
    { "text too long", ADMIN_OBJ_USER, "initials",
      "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFG", MTR_ERROR, NULL },
    { "blank", ADMIN_OBJ_USER, "title", "   ", MTR_ERROR, NULL },
};

static void
test_normalize(void **state)
{
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(norm_cases) / sizeof(norm_cases[0]); i++) {
        const norm_case_t   *c = &norm_cases[i];
        const admin_field_t *f;
        char                 out[ADMIN_VALUE_MAX + 1];
        mtr_err_t            err;

        print_message("normalize: %s\n", c->name);
        f = admin_field_find(c->obj, c->field, strlen(c->field));
        assert_non_null(f);
        mtr_err_clear(&err);
        assert_int_equal(admin_normalize(f, c->in, strlen(c->in), zonedir, out,
                                         sizeof(out), &err),
                         c->rc);
        if (c->rc == MTR_OK) {
            assert_string_equal(out, c->out);
        } else {
            /* The message names the field for the admin. */
            assert_non_null(strstr(err.msg, f->name));
        }
    }
}

static void
test_passwords(void **state)
{
    char      pw[ADMIN_RANDOM_PW_LEN + 1], pw2[ADMIN_RANDOM_PW_LEN + 1];
    mtr_err_t err;
    size_t    i;

    (void) state;
    print_message("password: length and controls\n");
    assert_int_equal(admin_check_password("Secret-1", 8, &err), MTR_OK);
    assert_int_equal(admin_check_password("short", 5, &err), MTR_ERROR);
    assert_int_equal(admin_check_password("Secret-1\n", 9, &err), MTR_ERROR);
    assert_int_equal(admin_check_password("Secret\x7f-1", 9, &err), MTR_ERROR);

    print_message("password hash: salted schemes only\n");
    assert_int_equal(admin_check_password_hash("{SSHA512}abcd", 13, &err),
                     MTR_OK);
    assert_int_equal(admin_check_password_hash("{ssha}abcd", 10, &err), MTR_OK);
    assert_int_equal(admin_check_password_hash("{CLEARTEXT}abcd", 15, &err),
                     MTR_ERROR);
    assert_int_equal(admin_check_password_hash("{SHA}abcd", 9, &err),
                     MTR_ERROR);
    assert_int_equal(admin_check_password_hash("{SSHA}", 6, &err), MTR_ERROR);
    assert_int_equal(admin_check_password_hash("{SSHA}ab cd", 11, &err),
                     MTR_ERROR);

    print_message("random password: length, alphabet, fresh each time\n");
    assert_int_equal(admin_random_password(pw, sizeof(pw), &err), MTR_OK);
    assert_int_equal(admin_random_password(pw2, sizeof(pw2), &err), MTR_OK);
    assert_int_equal(strlen(pw), ADMIN_RANDOM_PW_LEN);
    assert_string_not_equal(pw, pw2);
    for (i = 0; i < strlen(pw); i++) {
        assert_null(strchr("0O1lI", pw[i]));
    }
    assert_int_equal(admin_check_password(pw, strlen(pw), &err), MTR_OK);
    assert_int_equal(admin_random_password(pw, 5, &err), MTR_ERROR);
}

/* ---- DNs -------------------------------------------------------------------
 */

static void
test_dns(void **state)
{
    char      dn[ADMIN_DN_MAX];
    mtr_err_t err;

    (void) state;
    print_message("dn: domain, ou, user, group\n");
    assert_int_equal(
        admin_domain_dn(BASE, "example.test", dn, sizeof(dn), &err), MTR_OK);
    assert_string_equal(dn,
                        "mortarDomainName=example.test,ou=domains,o=mortar");
    assert_int_equal(
        admin_ou_dn(BASE, "users", "example.test", dn, sizeof(dn), &err),
        MTR_OK);
    assert_string_equal(
        dn, "ou=users,mortarDomainName=example.test,ou=domains,o=mortar");
    assert_int_equal(
        admin_user_dn(BASE, "alice", "example.test", dn, sizeof(dn), &err),
        MTR_OK);
    assert_string_equal(dn, "uid=alice,ou=users,mortarDomainName=example.test,"
                            "ou=domains,o=mortar");
    assert_int_equal(
        admin_group_dn(BASE, "staff", "example.test", dn, sizeof(dn), &err),
        MTR_OK);
    assert_string_equal(dn, "cn=staff,ou=groups,mortarDomainName=example.test,"
                            "ou=domains,o=mortar");

    print_message("dn: RFC 4514 escaping of the value\n");
    assert_int_equal(
        admin_user_dn(BASE, "a+b", "example.test", dn, sizeof(dn), &err),
        MTR_OK);
    assert_string_equal(dn, "uid=a\\+b,ou=users,mortarDomainName=example.test,"
                            "ou=domains,o=mortar");
    assert_int_equal(
        admin_user_dn(BASE, "x,ou=evil", "example.test", dn, sizeof(dn), &err),
        MTR_OK);
    assert_string_equal(dn, "uid=x\\,ou\\=evil,ou=users,mortarDomainName="
                            "example.test,ou=domains,o=mortar");

    print_message("dn: buffer too small is an error, not a cut\n");
    assert_int_equal(admin_user_dn(BASE, "alice", "example.test", dn, 20, &err),
                     MTR_ERROR);
}

/* ---- change lists
 * ------------------------------------------------------------ */

typedef struct {
    const char *name;
    const char *field;
    admin_op_e  op;
    const char *value;
    int         rc;
    size_t      nvalues; /* of the field's first change after the put */
} put_step_t;

typedef struct {
    const char *name;
    put_step_t  steps[4];
} put_case_t;

static const put_case_t put_cases[] = {
    { "multi split and dedupe",
      { { "aliases", "aliases", ADMIN_SET, "a@x.io; b@x.io;;A@X.IO;", MTR_OK,
          2 } } },
    { "repeated set appends",
      { { "1", "alias", ADMIN_SET, "a@x.io", MTR_OK, 1 },
        { "2", "aliases", ADMIN_SET, "b@x.io", MTR_OK, 2 } } },
    { "single set twice",
      { { "1", "title", ADMIN_SET, "A", MTR_OK, 1 },
        { "2", "title", ADMIN_SET, "B", MTR_ERROR, 1 } } },
    { "clear optional", { { "1", "title", ADMIN_SET, "", MTR_OK, 0 } } },
    { "clear required", { { "1", "cn", ADMIN_SET, " ", MTR_ERROR, 0 } } },
    { "add to single", { { "1", "title", ADMIN_ADD, "A", MTR_ERROR, 0 } } },
    { "set and add conflict",
      { { "1", "aliases", ADMIN_SET, "a@x.io", MTR_OK, 1 },
        { "2", "aliases", ADMIN_ADD, "b@x.io", MTR_ERROR, 1 } } },
    { "add and del together",
      { { "1", "aliases", ADMIN_ADD, "a@x.io", MTR_OK, 1 },
        { "2", "aliases", ADMIN_DEL, "b@x.io", MTR_OK, 1 } } },
    { "add nothing", { { "1", "aliases", ADMIN_ADD, " ; ", MTR_ERROR, 0 } } },
    { "bad item drops the change",
      { { "1", "aliases", ADMIN_SET, "a@x.io;nope", MTR_ERROR, 0 } } },
    { "unknown field",
      { { "1", "shoe-size", ADMIN_SET, "44", MTR_ERROR, 0 } } },
};

static void
test_changes_put(void **state)
{
    size_t i, j;

    (void) state;
    for (i = 0; i < sizeof(put_cases) / sizeof(put_cases[0]); i++) {
        const put_case_t *c = &put_cases[i];
        admin_changes_t   ch;

        print_message("changes_put: %s\n", c->name);
        admin_changes_init(&ch, ADMIN_OBJ_USER, zonedir);
        for (j = 0; j < 4 && c->steps[j].name != NULL; j++) {
            const put_step_t     *s = &c->steps[j];
            const admin_field_t  *f;
            const admin_change_t *got = NULL;
            mtr_err_t             err;
            size_t                k;

            assert_int_equal(admin_changes_put(&ch, s->field, strlen(s->field),
                                               s->op, s->value,
                                               strlen(s->value), &err),
                             s->rc);
            f = admin_field_find(ADMIN_OBJ_USER, s->field, strlen(s->field));
            /* The first change of the field, whatever its op. */
            for (k = 0; f != NULL && k < ch.n && got == NULL; k++) {
                if (ch.changes[k].field == f) {
                    got = &ch.changes[k];
                }
            }
            if (s->nvalues > 0 || (s->rc == MTR_OK && got != NULL)) {
                assert_non_null(got);
                assert_int_equal(got->nvalues, s->nvalues);
                assert_null(got->values != NULL ? got->values[got->nvalues]
                                                : NULL);
            }
        }
        admin_changes_free(&ch);
    }
}

/* ---- entries
 * ------------------------------------------------------------------ */

static admin_changes_t
changes(admin_obj_e obj, const char *const *kv)
{
    admin_changes_t c;
    mtr_err_t       err;
    size_t          i;

    admin_changes_init(&c, obj, zonedir);
    for (i = 0; kv[i] != NULL; i += 2) {
        if (admin_changes_put(&c, kv[i], strlen(kv[i]), ADMIN_SET, kv[i + 1],
                              strlen(kv[i + 1]), &err)
            != MTR_OK)
        {
            fail_msg("put %s: %s", kv[i], err.msg);
        }
    }
    return c;
}

static size_t
mod_count(const admin_mods_t *m, const char *attr)
{
    size_t i, n = 0;

    for (i = 0; i < m->n; i++) {
        if (strcasecmp(m->mods[i].attr, attr) == 0) {
            while (m->mods[i].values != NULL && m->mods[i].values[n] != NULL) {
                n++;
            }
            return n;
        }
    }
    return 0;
}

static void
test_user_entry(void **state)
{
    static const char *const given_sn[] = { "given-name", "Alice", "sn",
                                            "Liddell", NULL };
    static const char *const cn_only[] = { "cn", "Bob The Builder", NULL };
    static const char *const full[] = { "services", "imap;sms", "quota", "1G",
                                        "status",   "disabled", NULL };
    static const char *const none[] = { NULL };
    admin_changes_t          c;
    admin_mods_t             m;
    mtr_err_t                err;

    (void) state;
    print_message("user entry: cn from given name and sn\n");
    c = changes(ADMIN_OBJ_USER, given_sn);
    admin_mods_init(&m);
    assert_int_equal(
        admin_user_entry(&c, "alice", "example.test", 0, NULL, &m, &err),
        MTR_OK);
    assert_string_equal(admin_mods_value(&m, "cn"), "Alice Liddell");
    assert_string_equal(admin_mods_value(&m, "sn"), "Liddell");
    assert_string_equal(admin_mods_value(&m, "givenName"), "Alice");
    assert_string_equal(admin_mods_value(&m, "uid"), "alice");
    assert_string_equal(admin_mods_value(&m, "mail"), "alice@example.test");
    assert_string_equal(admin_mods_value(&m, "mortarAccountStatus"), "active");
    assert_int_equal(mod_count(&m, "objectClass"), 2);
    assert_int_equal(mod_count(&m, "mortarEnabledService"), 5);
    assert_null(admin_mods_value(&m, "mortarQuotaBytes"));
    assert_null(admin_mods_value(&m, "userPassword"));
    admin_mods_free(&m);
    admin_changes_free(&c);

    print_message("user entry: sn from the last word of cn\n");
    c = changes(ADMIN_OBJ_USER, cn_only);
    admin_mods_init(&m);
    assert_int_equal(
        admin_user_entry(&c, "bob", "example.test", 0, NULL, &m, &err), MTR_OK);
    assert_string_equal(admin_mods_value(&m, "cn"), "Bob The Builder");
    assert_string_equal(admin_mods_value(&m, "sn"), "Builder");
    admin_mods_free(&m);
    admin_changes_free(&c);

    print_message("user entry: nothing given, domain default quota\n");
    c = changes(ADMIN_OBJ_USER, none);
    admin_mods_init(&m);
    assert_int_equal(admin_user_entry(&c, "carol", "example.test", 1048576,
                                      "{SSHA512}abc", &m, &err),
                     MTR_OK);
    assert_string_equal(admin_mods_value(&m, "cn"), "carol");
    assert_string_equal(admin_mods_value(&m, "sn"), "carol");
    assert_string_equal(admin_mods_value(&m, "mortarQuotaBytes"), "1048576");
    assert_string_equal(admin_mods_value(&m, "userPassword"), "{SSHA512}abc");
    admin_mods_free(&m);
    admin_changes_free(&c);

    print_message("user entry: given services, quota and status win\n");
    c = changes(ADMIN_OBJ_USER, full);
    admin_mods_init(&m);
    assert_int_equal(
        admin_user_entry(&c, "dave", "example.test", 1048576, NULL, &m, &err),
        MTR_OK);
    assert_int_equal(mod_count(&m, "mortarEnabledService"), 2);
    assert_string_equal(admin_mods_value(&m, "mortarQuotaBytes"), "1073741824");
    assert_string_equal(admin_mods_value(&m, "mortarAccountStatus"),
                        "disabled");
    admin_mods_free(&m);
    admin_changes_free(&c);
}

static void
test_group_and_domain_entry(void **state)
{
    static const char *const none[] = { NULL };
    static const char *const dom[] = { "quota-pool", "10G", "aliases",
                                       "example.net", NULL };
    const char              *members[] = { "uid=a,ou=users,o=x" };
    admin_changes_t          c;
    admin_mods_t             m;
    mtr_err_t                err;

    (void) state;
    print_message("group entry: at least one member\n");
    c = changes(ADMIN_OBJ_GROUP, none);
    admin_mods_init(&m);
    assert_int_equal(
        admin_group_entry(&c, "staff", "example.test", members, 0, &m, &err),
        MTR_ERROR);
    admin_mods_free(&m);
    admin_mods_init(&m);
    assert_int_equal(
        admin_group_entry(&c, "staff", "example.test", members, 1, &m, &err),
        MTR_OK);
    assert_string_equal(admin_mods_value(&m, "mail"), "staff@example.test");
    assert_string_equal(admin_mods_value(&m, "member"), members[0]);
    admin_mods_free(&m);
    admin_changes_free(&c);

    print_message("domain entry: status active by default\n");
    c = changes(ADMIN_OBJ_DOMAIN, dom);
    admin_mods_init(&m);
    assert_int_equal(admin_domain_entry(&c, "example.test", &m, &err), MTR_OK);
    assert_string_equal(admin_mods_value(&m, "mortarAccountStatus"), "active");
    assert_string_equal(admin_mods_value(&m, "mortarDomainQuotaPool"),
                        "10737418240");
    assert_string_equal(admin_mods_value(&m, "mortarDomainAlias"),
                        "example.net");
    admin_mods_free(&m);
    admin_changes_free(&c);
}

/* ---- the diff
 * ------------------------------------------------------------------ */

/* A heap entry in the shape mtr_ldap_result_free() frees. */
static mtr_ldap_result_t *
mock_result(const char *dn, const char *const *kv)
{
    mtr_ldap_result_t *res = calloc(1, sizeof(*res));
    mtr_ldap_entry_t  *e;
    size_t             i;

    if (dn == NULL) {
        return res; /* no entries */
    }
    res->entries = calloc(1, sizeof(mtr_ldap_entry_t));
    res->nentries = 1;
    e = &res->entries[0];
    e->dn = strdup(dn);

    for (i = 0; kv != NULL && kv[i] != NULL; i += 2) {
        mtr_ldap_attr_t *a = NULL;
        size_t           j;

        for (j = 0; j < e->nattrs; j++) {
            if (strcasecmp(e->attrs[j].name, kv[i]) == 0) {
                a = &e->attrs[j];
            }
        }
        if (a == NULL) {
            e->attrs = realloc(e->attrs, (e->nattrs + 1) * sizeof(*e->attrs));
            a = &e->attrs[e->nattrs++];
            memset(a, 0, sizeof(*a));
            a->name = strdup(kv[i]);
        }
        a->values = realloc(a->values, (a->nvalues + 2) * sizeof(char *));
        a->lens = realloc(a->lens, (a->nvalues + 1) * sizeof(size_t));
        a->values[a->nvalues] = strdup(kv[i + 1]);
        a->lens[a->nvalues] = strlen(kv[i + 1]);
        a->nvalues++;
        a->values[a->nvalues] = NULL;
    }
    return res;
}

typedef struct {
    const char        *name;
    const char *const *cur;   /* attribute/value pairs of the entry */
    const char        *field; /* the change */
    admin_op_e         op;
    const char        *value;
    int                rc;
    size_t             nmods;
    int                mod_op; /* of the first mod when nmods > 0 */
} diff_case_t;

static const char *const alice[] = { "cn",
                                     "Alice Liddell",
                                     "title",
                                     "Engineer",
                                     "mortarMailAlias",
                                     "a@example.test",
                                     "mortarMailAlias",
                                     "al@example.test",
                                     "mortarEnabledService",
                                     "imap",
                                     "mortarEnabledService",
                                     "smtp",
                                     NULL };

static const diff_case_t diff_cases[] = {
    { "same single value", alice, "title", ADMIN_SET, "Engineer", MTR_OK, 0,
      0 },
    { "other single value", alice, "title", ADMIN_SET, "Boss", MTR_OK, 1,
      MTR_LDAP_MOD_REPLACE },
    { "case counts for set", alice, "title", ADMIN_SET, "engineer", MTR_OK, 1,
      MTR_LDAP_MOD_REPLACE },
    { "same set other order", alice, "aliases", ADMIN_SET,
      "al@example.test;a@example.test", MTR_OK, 0, 0 },
    { "subset is a change", alice, "aliases", ADMIN_SET, "a@example.test",
      MTR_OK, 1, MTR_LDAP_MOD_REPLACE },
    { "new attribute", alice, "mobile", ADMIN_SET, "+33612345678", MTR_OK, 1,
      MTR_LDAP_MOD_REPLACE },
    { "clear present", alice, "title", ADMIN_SET, "", MTR_OK, 1,
      MTR_LDAP_MOD_DELETE },
    { "clear absent", alice, "mobile", ADMIN_SET, "", MTR_OK, 0, 0 },
    { "add present value", alice, "services", ADMIN_ADD, "IMAP", MTR_OK, 0, 0 },
    { "add new value", alice, "services", ADMIN_ADD, "imap;dav", MTR_OK, 1,
      MTR_LDAP_MOD_ADD },
    { "del present value", alice, "aliases", ADMIN_DEL, "A@example.test",
      MTR_OK, 1, MTR_LDAP_MOD_DELETE },
    { "del absent value", alice, "aliases", ADMIN_DEL, "zz@example.test",
      MTR_DECLINED, 0, 0 },
};

static void
test_diff(void **state)
{
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(diff_cases) / sizeof(diff_cases[0]); i++) {
        const diff_case_t *c = &diff_cases[i];
        mtr_ldap_result_t *res = mock_result("uid=alice,o=x", c->cur);
        admin_changes_t    ch;
        admin_mods_t       m;
        mtr_err_t          err;

        print_message("diff: %s\n", c->name);
        admin_changes_init(&ch, ADMIN_OBJ_USER, zonedir);
        assert_int_equal(admin_changes_put(&ch, c->field, strlen(c->field),
                                           c->op, c->value, strlen(c->value),
                                           &err),
                         MTR_OK);
        admin_mods_init(&m);
        assert_int_equal(admin_diff(&ch, &res->entries[0], &m, &err), c->rc);
        if (c->rc == MTR_OK) {
            assert_int_equal(m.n, c->nmods);
            if (c->nmods > 0) {
                assert_int_equal(m.mods[0].op, c->mod_op);
            }
        }
        admin_mods_free(&m);
        admin_changes_free(&ch);
        mtr_ldap_result_free(&res);
    }

    print_message("diff: no entry at all means every value is new\n");
    {
        admin_changes_t ch;
        admin_mods_t    m;
        mtr_err_t       err;

        admin_changes_init(&ch, ADMIN_OBJ_USER, zonedir);
        assert_int_equal(
            admin_changes_put(&ch, "title", 5, ADMIN_SET, "X", 1, &err),
            MTR_OK);
        admin_mods_init(&m);
        assert_int_equal(admin_diff(&ch, NULL, &m, &err), MTR_OK);
        assert_int_equal(m.n, 1);
        admin_mods_free(&m);
        admin_changes_free(&ch);
    }
}

static void
test_ldap_status(void **state)
{
    (void) state;
    print_message("ldap status mapping\n");
    assert_int_equal(admin_ldap_status(LDAP_SUCCESS), ADMIN_OK);
    assert_int_equal(admin_ldap_status(LDAP_SERVER_DOWN), ADMIN_UNAVAILABLE);
    assert_int_equal(admin_ldap_status(LDAP_TIMEOUT), ADMIN_UNAVAILABLE);
    assert_int_equal(admin_ldap_status(LDAP_BUSY), ADMIN_UNAVAILABLE);
    assert_int_equal(admin_ldap_status(LDAP_NO_SUCH_OBJECT), ADMIN_NOT_FOUND);
    assert_int_equal(admin_ldap_status(LDAP_ALREADY_EXISTS), ADMIN_EXISTS);
    assert_int_equal(admin_ldap_status(LDAP_OBJECT_CLASS_VIOLATION),
                     ADMIN_INVALID);
    assert_int_equal(admin_ldap_status(LDAP_INSUFFICIENT_ACCESS), ADMIN_FAILED);
    assert_string_equal(admin_status_name(ADMIN_NOT_FOUND), "not-found");
}

/* ---- sequences, with mocks
 * ------------------------------------------------------ */

/* What the fake directory and gate do, and what they saw. */
static struct {
    int                gate_rc; /* lic_gate_admin_change */
    const char        *gate_warn;
    int                reserve_rc; /* lic_gate_seat_reserve */
    int                add_rc;     /* mtr_ldap_add */
    int                add_ldap_rc;
    int                passwd_rc;
    int                delete_rc;
    const char *const *user;          /* the existing user entry, or NULL */
    const char *const *group_members; /* groups naming the user */

    int gate_calls, reserve_calls, release_calls;
    int add_calls, modify_calls, delete_calls, passwd_calls;
    int last_rc;
} mock;

static void
mock_reset(void)
{
    memset(&mock, 0, sizeof(mock));
}

int lic_gate_admin_change(lic_gate_t *g, int64_t now, char *warn,
                          size_t warn_size, mtr_err_t *err);
int lic_gate_seat_reserve(lic_gate_t *g, mtr_err_t *err);
int lic_gate_seat_release(lic_gate_t *g, mtr_err_t *err);
int lic_gate_install(lic_gate_t *g, const char *text, size_t len, int64_t now,
                     mtr_err_t *err);
int lic_gate_refresh(lic_gate_t *g, mtr_err_t *err);
int lic_gate_status_text(lic_gate_t *g, int64_t now, char *buf, size_t size,
                         mtr_err_t *err);
int lic_gate_audit(lic_gate_t *g, int fix, lic_audit_t *audit_r,
                   mtr_err_t *err);

int
lic_gate_admin_change(lic_gate_t *g, int64_t now, char *warn, size_t warn_size,
                      mtr_err_t *err)
{
    (void) g;
    assert_int_equal(now, NOW);
    mock.gate_calls++;
    snprintf(warn, warn_size, "%s", mock.gate_warn ? mock.gate_warn : "");
    if (mock.gate_rc != MTR_OK) {
        mtr_err_set(err, "license L-1 expired on 2026-01-01");
    }
    return mock.gate_rc;
}

int
lic_gate_seat_reserve(lic_gate_t *g, mtr_err_t *err)
{
    (void) g;
    mock.reserve_calls++;
    if (mock.reserve_rc != MTR_OK) {
        mtr_err_set(err, "all 10 seats of license L-1 are in use");
    }
    return mock.reserve_rc;
}

int
lic_gate_seat_release(lic_gate_t *g, mtr_err_t *err)
{
    (void) g;
    (void) err;
    mock.release_calls++;
    return MTR_OK;
}

int
lic_gate_install(lic_gate_t *g, const char *text, size_t len, int64_t now,
                 mtr_err_t *err)
{
    (void) g;
    (void) text;
    (void) len;
    (void) now;
    return mtr_err_set(err, "not used here");
}

int
lic_gate_refresh(lic_gate_t *g, mtr_err_t *err)
{
    (void) g;
    mtr_err_clear(err);
    return MTR_OK;
}

int
lic_gate_status_text(lic_gate_t *g, int64_t now, char *buf, size_t size,
                     mtr_err_t *err)
{
    (void) g;
    (void) now;
    (void) err;
    snprintf(buf, size, "status");
    return MTR_OK;
}

int
lic_gate_audit(lic_gate_t *g, int fix, lic_audit_t *audit_r, mtr_err_t *err)
{
    (void) g;
    (void) fix;
    (void) err;
    memset(audit_r, 0, sizeof(*audit_r));
    return MTR_OK;
}

static const char *const domain_entry[] = { "objectClass", "mortarDomain",
                                            "mortarDomainName", "example.test",
                                            NULL };

#define USER_DN                                                                \
    "uid=alice,ou=users,mortarDomainName=example.test,ou=domains,o=mortar"
#define DOMAIN_DN "mortarDomainName=example.test,ou=domains,o=mortar"

int __wrap_mtr_ldap_search(mtr_ldap_t *l, const char *base, int scope,
                           const char *filter, const char *const *attrs,
                           size_t size_limit, mtr_ldap_result_t **res_r,
                           mtr_err_t *err);
int __wrap_mtr_ldap_add(mtr_ldap_t *l, const char *dn,
                        const mtr_ldap_mod_t *mods, size_t nmods,
                        mtr_err_t *err);
int __wrap_mtr_ldap_modify(mtr_ldap_t *l, const char *dn,
                           const mtr_ldap_mod_t *mods, size_t nmods,
                           mtr_err_t *err);
int __wrap_mtr_ldap_delete(mtr_ldap_t *l, const char *dn, mtr_err_t *err);
int __wrap_mtr_ldap_passwd(mtr_ldap_t *l, const char *dn, const char *pw,
                           mtr_err_t *err);
int __wrap_mtr_ldap_last_result(const mtr_ldap_t *l);

int
__wrap_mtr_ldap_search(mtr_ldap_t *l, const char *base, int scope,
                       const char *filter, const char *const *attrs,
                       size_t size_limit, mtr_ldap_result_t **res_r,
                       mtr_err_t *err)
{
    (void) l;
    (void) attrs;
    (void) size_limit;
    (void) err;
    mock.last_rc = LDAP_SUCCESS;

    if (scope == MTR_LDAP_SCOPE_BASE && strcmp(base, DOMAIN_DN) == 0) {
        *res_r = mock_result(DOMAIN_DN, domain_entry);
        return MTR_OK;
    }
    if (scope == MTR_LDAP_SCOPE_BASE && strcmp(base, USER_DN) == 0) {
        if (mock.user == NULL) {
            *res_r = NULL;
            mock.last_rc = LDAP_NO_SUCH_OBJECT;
            return MTR_DECLINED;
        }
        *res_r = mock_result(USER_DN, mock.user);
        return MTR_OK;
    }
    if (filter != NULL && strstr(filter, "(member=") != NULL) {
        *res_r = mock_result(mock.group_members != NULL ? "cn=g,o=x" : NULL,
                             mock.group_members);
        return MTR_OK;
    }
    /* Owner searches: the existing user owns its own mail. */
    if (filter != NULL && mock.user != NULL
        && strstr(filter, "(mail=alice@example.test)") != NULL)
    {
        *res_r = mock_result(USER_DN, mock.user);
        return MTR_OK;
    }
    *res_r = mock_result(NULL, NULL);
    return MTR_OK;
}

int
__wrap_mtr_ldap_add(mtr_ldap_t *l, const char *dn, const mtr_ldap_mod_t *mods,
                    size_t nmods, mtr_err_t *err)
{
    (void) l;
    (void) mods;
    (void) nmods;
    assert_string_equal(dn, USER_DN);
    /* The seat is always reserved before the entry is written. */
    assert_int_equal(mock.reserve_calls, 1);
    mock.add_calls++;
    mock.last_rc = mock.add_rc == MTR_OK ? LDAP_SUCCESS : mock.add_ldap_rc;
    if (mock.add_rc != MTR_OK) {
        mtr_err_set(err, "ldap add failed");
    }
    return mock.add_rc;
}

int
__wrap_mtr_ldap_modify(mtr_ldap_t *l, const char *dn,
                       const mtr_ldap_mod_t *mods, size_t nmods, mtr_err_t *err)
{
    (void) l;
    (void) dn;
    (void) mods;
    (void) nmods;
    (void) err;
    mock.modify_calls++;
    mock.last_rc = LDAP_SUCCESS;
    return MTR_OK;
}

int
__wrap_mtr_ldap_delete(mtr_ldap_t *l, const char *dn, mtr_err_t *err)
{
    (void) l;
    assert_string_equal(dn, USER_DN);
    mock.delete_calls++;
    mock.last_rc = mock.delete_rc == MTR_OK ? LDAP_SUCCESS : LDAP_OTHER;
    if (mock.delete_rc != MTR_OK) {
        mtr_err_set(err, "ldap delete failed");
    }
    return mock.delete_rc;
}

int
__wrap_mtr_ldap_passwd(mtr_ldap_t *l, const char *dn, const char *pw,
                       mtr_err_t *err)
{
    (void) l;
    assert_string_equal(dn, USER_DN);
    assert_string_equal(pw, "Secret-pw-1");
    mock.passwd_calls++;
    mock.last_rc = mock.passwd_rc == MTR_OK ? LDAP_SUCCESS : LDAP_OTHER;
    if (mock.passwd_rc != MTR_OK) {
        mtr_err_set(err, "ldap passwd failed");
    }
    return mock.passwd_rc;
}

int
__wrap_mtr_ldap_last_result(const mtr_ldap_t *l)
{
    (void) l;
    return mock.last_rc;
}

static admin_ctx_t
mock_ctx(void)
{
    admin_ctx_t ctx;

    memset(&ctx, 0, sizeof(ctx));
    ctx.ldap = (mtr_ldap_t *) (uintptr_t) 1; /* never dereferenced */
    ctx.gate = (lic_gate_t *) (uintptr_t) 1;
    ctx.base = BASE;
    ctx.zonedir = zonedir;
    ctx.now = NOW;
    return ctx;
}

typedef struct {
    const char    *name;
    int            gate_rc, reserve_rc, add_rc, add_ldap_rc, passwd_rc;
    const char    *password;
    admin_status_e st;
    int reserve_calls, add_calls, passwd_calls, delete_calls, release_calls;
} add_case_t;

static const add_case_t add_cases[] = {
    { "success", MTR_OK, MTR_OK, MTR_OK, 0, MTR_OK, "Secret-pw-1", ADMIN_OK, 1,
      1, 1, 0, 0 },
    { "success without password", MTR_OK, MTR_OK, MTR_OK, 0, MTR_OK, NULL,
      ADMIN_OK, 1, 1, 0, 0, 0 },
    { "license refused: nothing reserved or written", MTR_DECLINED, MTR_OK,
      MTR_OK, 0, MTR_OK, "Secret-pw-1", ADMIN_REFUSED, 0, 0, 0, 0, 0 },
    { "directory down at the gate", MTR_ERROR, MTR_OK, MTR_OK, 0, MTR_OK, NULL,
      ADMIN_FAILED, 0, 0, 0, 0, 0 },
    { "no seat left: nothing written", MTR_OK, MTR_DECLINED, MTR_OK, 0, MTR_OK,
      "Secret-pw-1", ADMIN_REFUSED, 1, 0, 0, 0, 0 },
    { "redis down: refused as unavailable", MTR_OK, MTR_ERROR, MTR_OK, 0,
      MTR_OK, NULL, ADMIN_UNAVAILABLE, 1, 0, 0, 0, 0 },
    { "add fails: seat given back", MTR_OK, MTR_OK, MTR_ERROR,
      LDAP_ALREADY_EXISTS, MTR_OK, NULL, ADMIN_EXISTS, 1, 1, 0, 0, 1 },
    { "add unreachable: seat given back", MTR_OK, MTR_OK, MTR_ERROR,
      LDAP_SERVER_DOWN, MTR_OK, NULL, ADMIN_UNAVAILABLE, 1, 1, 0, 0, 1 },
    { "password fails: entry removed, seat given back", MTR_OK, MTR_OK, MTR_OK,
      0, MTR_ERROR, "Secret-pw-1", ADMIN_FAILED, 1, 1, 1, 1, 1 },
};

static void
test_user_add_sequence(void **state)
{
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(add_cases) / sizeof(add_cases[0]); i++) {
        const add_case_t *c = &add_cases[i];
        admin_ctx_t       ctx = mock_ctx();
        admin_changes_t   ch;
        mtr_err_t         err;

        print_message("user add: %s\n", c->name);
        mock_reset();
        mock.gate_rc = c->gate_rc;
        mock.reserve_rc = c->reserve_rc;
        mock.add_rc = c->add_rc;
        mock.add_ldap_rc = c->add_ldap_rc;
        mock.passwd_rc = c->passwd_rc;
        admin_changes_init(&ch, ADMIN_OBJ_USER, zonedir);

        assert_int_equal(admin_user_add(&ctx, "Alice@Example.test", &ch,
                                        c->password, NULL, &err),
                         c->st);
        assert_int_equal(mock.gate_calls, 1);
        assert_int_equal(mock.reserve_calls, c->reserve_calls);
        assert_int_equal(mock.add_calls, c->add_calls);
        assert_int_equal(mock.passwd_calls, c->passwd_calls);
        assert_int_equal(mock.delete_calls, c->delete_calls);
        assert_int_equal(mock.release_calls, c->release_calls);
        if (c->st != ADMIN_OK) {
            assert_true(err.msg[0] != '\0');
        }
        admin_changes_free(&ch);
    }

    print_message("user add: invalid input asks nobody\n");
    {
        admin_ctx_t     ctx = mock_ctx();
        admin_changes_t ch;
        mtr_err_t       err;

        mock_reset();
        admin_changes_init(&ch, ADMIN_OBJ_USER, zonedir);
        assert_int_equal(admin_user_add(&ctx, "alice", &ch, NULL, NULL, &err),
                         ADMIN_INVALID);
        assert_int_equal(admin_user_add(&ctx, "alice@example.test", &ch,
                                        "short", NULL, &err),
                         ADMIN_INVALID);
        assert_int_equal(mock.gate_calls + mock.reserve_calls, 0);
        admin_changes_free(&ch);
    }

    print_message("user add: the gate's warning reaches the caller\n");
    {
        admin_ctx_t     ctx = mock_ctx();
        admin_changes_t ch;
        mtr_err_t       err;

        mock_reset();
        mock.gate_warn = "license L-1 is in grace: 12 days left";
        admin_changes_init(&ch, ADMIN_OBJ_USER, zonedir);
        assert_int_equal(
            admin_user_add(&ctx, "alice@example.test", &ch, NULL, NULL, &err),
            ADMIN_OK);
        assert_non_null(strstr(ctx.warn, "12 days left"));
        admin_changes_free(&ch);
    }
}

static const char *const existing_alice[] = {
    "objectClass", "inetOrgPerson", "objectClass",
    "mortarUser",  "mail",          "alice@example.test",
    "cn",          "Alice Liddell", "sn",
    "Liddell",     "title",         "Engineer",
    NULL
};

static void
test_user_del_and_upsert(void **state)
{
    static const char *const same[] = { "cn", "Alice Liddell", "title",
                                        "Engineer", NULL };
    static const char *const other[] = { "title", "Boss", NULL };
    static const char *const lonely_group[] = { "mail", "g@example.test",
                                                "member", USER_DN, NULL };
    admin_ctx_t              ctx;
    admin_changes_t          ch;
    admin_upsert_e           what;
    mtr_err_t                err;

    (void) state;
    print_message("user del: seat given back after the delete\n");
    ctx = mock_ctx();
    mock_reset();
    mock.user = existing_alice;
    assert_int_equal(admin_user_del(&ctx, "alice@example.test", &err),
                     ADMIN_OK);
    assert_int_equal(mock.gate_calls, 1);
    assert_int_equal(mock.delete_calls, 1);
    assert_int_equal(mock.release_calls, 1);

    print_message("user del: missing user is not found, no seat moves\n");
    mock_reset();
    assert_int_equal(admin_user_del(&ctx, "alice@example.test", &err),
                     ADMIN_NOT_FOUND);
    assert_int_equal(mock.delete_calls + mock.release_calls, 0);

    print_message("user del: last member of a group is refused\n");
    mock_reset();
    mock.user = existing_alice;
    mock.group_members = lonely_group;
    assert_int_equal(admin_user_del(&ctx, "alice@example.test", &err),
                     ADMIN_REFUSED);
    assert_non_null(strstr(err.msg, "g@example.test"));
    assert_int_equal(mock.delete_calls + mock.release_calls, 0);

    print_message("upsert: identical user asks nothing, writes nothing\n");
    mock_reset();
    mock.user = existing_alice;
    ch = changes(ADMIN_OBJ_USER, same);
    assert_int_equal(admin_user_upsert(&ctx, "alice@example.test", &ch,
                                       "Secret-pw-1", NULL, 0, &what, &err),
                     ADMIN_OK);
    assert_int_equal(what, ADMIN_UNCHANGED);
    assert_int_equal(mock.gate_calls + mock.reserve_calls + mock.add_calls
                         + mock.modify_calls + mock.passwd_calls,
                     0);
    admin_changes_free(&ch);

    print_message("upsert: a differing field is updated, password kept\n");
    mock_reset();
    mock.user = existing_alice;
    ch = changes(ADMIN_OBJ_USER, other);
    assert_int_equal(admin_user_upsert(&ctx, "alice@example.test", &ch,
                                       "Secret-pw-1", NULL, 0, &what, &err),
                     ADMIN_OK);
    assert_int_equal(what, ADMIN_UPDATED);
    assert_int_equal(mock.gate_calls, 1);
    assert_int_equal(mock.modify_calls, 1);
    assert_int_equal(mock.passwd_calls + mock.reserve_calls, 0);

    print_message("upsert: --no-update reports the fields instead\n");
    mock_reset();
    mock.user = existing_alice;
    assert_int_equal(admin_user_upsert(&ctx, "alice@example.test", &ch, NULL,
                                       NULL, 1, &what, &err),
                     ADMIN_EXISTS);
    assert_non_null(strstr(err.msg, "title"));
    assert_int_equal(mock.modify_calls, 0);

    print_message("upsert: a differing field is refused when expired\n");
    mock_reset();
    mock.user = existing_alice;
    mock.gate_rc = MTR_DECLINED;
    assert_int_equal(admin_user_upsert(&ctx, "alice@example.test", &ch, NULL,
                                       NULL, 0, &what, &err),
                     ADMIN_REFUSED);
    assert_int_equal(mock.modify_calls, 0);
    admin_changes_free(&ch);

    print_message("upsert: a new user is added with a seat\n");
    mock_reset();
    ch = changes(ADMIN_OBJ_USER, other);
    assert_int_equal(admin_user_upsert(&ctx, "alice@example.test", &ch,
                                       "Secret-pw-1", NULL, 0, &what, &err),
                     ADMIN_OK);
    assert_int_equal(what, ADMIN_ADDED);
    assert_int_equal(mock.reserve_calls, 1);
    assert_int_equal(mock.add_calls, 1);
    assert_int_equal(mock.passwd_calls, 1);
    admin_changes_free(&ch);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_field_find),
        cmocka_unit_test(test_parse_address),
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_passwords),
        cmocka_unit_test(test_dns),
        cmocka_unit_test(test_changes_put),
        cmocka_unit_test(test_user_entry),
        cmocka_unit_test(test_group_and_domain_entry),
        cmocka_unit_test(test_diff),
        cmocka_unit_test(test_ldap_status),
        cmocka_unit_test(test_user_add_sequence),
        cmocka_unit_test(test_user_del_and_upsert),
    };

    return cmocka_run_group_tests(tests, setup_zones, teardown_zones);
}
