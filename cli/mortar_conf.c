/*
 * mortar_conf.c -- read Mortar `key = value` files and render templates.
 *
 * NAME
 *      mortar-conf - query Mortar configuration and render templates
 *
 * SYNOPSIS
 *      mortar-conf [-c file]... [-D key=value]... get key
 *      mortar-conf [-c file]... [-D key=value]... render [-m mode] in out
 *      mortar-conf [-c file]... [-D key=value]... dump-sh
 *
 * DESCRIPTION
 *      Loads every -c file and -D definition into one configuration (a key
 *      set twice anywhere is an error), then:
 *
 *      get     prints the value of key; exit 1 when it is not set.
 *      render  replaces every {{key}} in the template in and writes the
 *              result to out atomically (a temporary file made with
 *              mkstemp, renamed over out) with the given octal mode, 0644
 *              by default.  A missing
 *              key is an error naming the template line, and out is left
 *              untouched.
 *      dump-sh prints `key='value'` lines, with dots and dashes in keys
 *              turned into underscores and values quoted for sh, so a
 *              shell script can eval them.
 *
 *      The stack launcher (scripts/stack.sh) writes every server config of
 *      `make run` with it, from the templates under conf/.
 *
 * DIAGNOSTICS
 *      Errors go to stderr as "mortar-conf: file:line: message"; the exit
 *      status is 0 on success, 1 for a key that is not set, 2 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mtr_config.h"

static void
usage(void)
{
    fprintf(stderr,
            "usage: mortar-conf [-c file]... [-D key=value]... get KEY\n"
            "       mortar-conf [-c file]... [-D key=value]... "
            "render [-m mode] IN OUT\n"
            "       mortar-conf [-c file]... [-D key=value]... dump-sh\n");
    exit(2);
}

static void
die(const char *msg)
{
    fprintf(stderr, "mortar-conf: %s\n", msg);
    exit(2);
}

static char *
read_file(const char *path, size_t *len_r)
{
    mtr_err_t err;
    FILE     *f;
    char     *buf;
    size_t    cap = 65536, len = 0, n;

    f = fopen(path, "rb");
    if (f == NULL) {
        mtr_err_set(&err, "%s: %s", path, strerror(errno));
        die(err.msg);
    }
    buf = malloc(cap);
    for (;;) {
        if (buf == NULL) {
            die("out of memory");
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (len < cap) {
            break;
        }
        if (cap >= 16 * 1024 * 1024) {
            mtr_err_set(&err, "%s: template larger than 16 MiB", path);
            die(err.msg);
        }
        cap *= 2;
        buf = realloc(buf, cap);
    }
    if (ferror(f)) {
        mtr_err_set(&err, "%s: read error", path);
        die(err.msg);
    }
    fclose(f);
    *len_r = len;
    return buf;
}

static int
render(const mtr_config_t *cfg, int argc, char **argv)
{
    mtr_err_t     err;
    unsigned long mode = 0644;
    char         *in, *out, *end, tmp[4096];
    size_t        inlen, outlen, off = 0;
    ssize_t       n;
    int           fd, i = 0;

    if (argc >= 2 && strcmp(argv[0], "-m") == 0) {
        errno = 0;
        mode = strtoul(argv[1], &end, 8);
        if (errno != 0 || *end != '\0' || mode > 07777) {
            die("render: -m wants an octal mode such as 0600");
        }
        i = 2;
    }
    if (argc - i != 2) {
        usage();
    }

    in = read_file(argv[i], &inlen);
    if (mtr_config_render(cfg, in, inlen, argv[i], &out, &outlen, &err)
        != MTR_OK) {
        die(err.msg);
    }
    free(in);

    /*
     * A fresh, unpredictable name made with O_EXCL (mkstemp): the output
     * directory may be writable by a daemon user, and root must never
     * follow a link planted there.
     */
    if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", argv[i + 1])
        >= (int) sizeof(tmp)) {
        die("render: output path too long");
    }
    fd = mkstemp(tmp);
    if (fd == -1 || fchmod(fd, (mode_t) mode) == -1) {
        mtr_err_set(&err, "%s: %s", tmp, strerror(errno));
        die(err.msg);
    }
    while (off < outlen) {
        n = write(fd, out + off, outlen - off);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n == -1) {
            mtr_err_set(&err, "%s: %s", tmp, strerror(errno));
            unlink(tmp);
            die(err.msg);
        }
        off += (size_t) n;
    }
    if (close(fd) == -1 || rename(tmp, argv[i + 1]) == -1) {
        mtr_err_set(&err, "%s: %s", argv[i + 1], strerror(errno));
        unlink(tmp);
        die(err.msg);
    }
    free(out);
    return 0;
}

static void
dump_sh(const mtr_config_t *cfg)
{
    size_t i, n = mtr_config_count(cfg);

    for (i = 0; i < n; i++) {
        const char *k, *v, *p;

        mtr_config_entry(cfg, i, &k, &v);
        for (p = k; *p; p++) {
            putchar(*p == '.' || *p == '-' ? '_' : *p);
        }
        putchar('=');
        putchar('\'');
        for (p = v; *p; p++) {
            if (*p == '\'') {
                fputs("'\\''", stdout);
            } else {
                putchar(*p);
            }
        }
        fputs("'\n", stdout);
    }
}

int
main(int argc, char **argv)
{
    mtr_config_t *cfg = NULL;
    mtr_err_t     err;
    const char   *v;
    int           i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            if (mtr_config_load(argv[++i], &cfg, &err) != MTR_OK) {
                die(err.msg);
            }
        } else if (strcmp(argv[i], "-D") == 0 && i + 1 < argc) {
            char *def = argv[++i], *eq = strchr(def, '=');

            if (eq == NULL) {
                die("-D wants key=value");
            }
            *eq = '\0';
            if (mtr_config_set(&cfg, def, eq + 1, &err) != MTR_OK) {
                die(err.msg);
            }
        } else {
            break;
        }
    }
    if (i >= argc) {
        usage();
    }

    if (strcmp(argv[i], "get") == 0 && argc - i == 2) {
        v = mtr_config_get(cfg, argv[i + 1]);
        if (v == NULL) {
            fprintf(stderr, "mortar-conf: \"%s\" is not set\n", argv[i + 1]);
            return 1;
        }
        puts(v);
    } else if (strcmp(argv[i], "render") == 0) {
        render(cfg, argc - i - 1, argv + i + 1);
    } else if (strcmp(argv[i], "dump-sh") == 0 && argc - i == 1) {
        dump_sh(cfg);
    } else {
        usage();
    }
    mtr_config_destroy(&cfg);
    return 0;
}
