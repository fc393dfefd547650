/*
 * mtr_config.h -- the `key = value` configuration reader of libmortar.
 *
 * One format serves every Mortar daemon and the stack's ports/paths file:
 *
 *     # a comment, from '#' at the start of a line (after blanks)
 *     key = value            blanks around key and value are dropped
 *     key = "a # b"          quotes keep blanks and '#'; \" and \\ escape
 *     key =                  an empty value
 *
 * Keys are [A-Za-z0-9_.-]+, compared exactly; a key given twice is an
 * error (a typo must not silently win), as is anything else on a line.
 * Every error names the file and line.  Pure core, no I/O except
 * mtr_config_load().  Covered by tests/unit/test_mtr_config.c.
 */
#ifndef MTR_CONFIG_H
#define MTR_CONFIG_H

#include "mtr_core.h"

#define MTR_CONFIG_FILE_MAX (1024 * 1024) /* bytes in one file */
#define MTR_CONFIG_LINE_MAX 4096          /* bytes in one line */
#define MTR_CONFIG_KEY_MAX  128           /* bytes in one key */

typedef struct mtr_config_s mtr_config_t;

/*
 * Parse len bytes of buf.  name labels error messages ("stack.conf:12: ...").
 * With *cfg_r NULL a new config is made; with *cfg_r set, the entries are
 * added to it, so several files make one config (a key defined in two files
 * is an error too).  On error *cfg_r is left as it was: a new config is
 * freed, an existing one is unchanged.
 */
int mtr_config_parse(const char *buf, size_t len, const char *name,
                     mtr_config_t **cfg_r, mtr_err_t *err);

/* Read a file (at most MTR_CONFIG_FILE_MAX bytes) and parse it as above. */
int mtr_config_load(const char *path, mtr_config_t **cfg_r, mtr_err_t *err);

/* Add one entry given on a command line; same key rules. */
int mtr_config_set(mtr_config_t **cfg_r, const char *key, const char *value,
                   mtr_err_t *err);

void mtr_config_destroy(mtr_config_t **cfgp);

/* The value of key, NUL-terminated, or NULL when absent. */
const char *mtr_config_get(const mtr_config_t *cfg, const char *key);

/* "file:line" where key was set ("-" when absent), for messages. */
const char *mtr_config_where(const mtr_config_t *cfg, const char *key,
                             char *buf, size_t size);

/*
 * Typed getters.  An absent key yields def and MTR_OK.  A present but
 * malformed or out-of-range value is MTR_ERROR with a message naming the
 * file, line, key and value.
 *   required: absent is an error ("missing required key").
 *   uint:     decimal in [min, max].
 *   size:     decimal with optional K/M/G/T suffix, at most max.
 *   bool:     yes/no, true/false, on/off, 1/0.
 */
int mtr_config_require(const mtr_config_t *cfg, const char *key,
                       const char **value_r, mtr_err_t *err);
int mtr_config_get_uint(const mtr_config_t *cfg, const char *key, uint64_t def,
                        uint64_t min, uint64_t max, uint64_t *value_r,
                        mtr_err_t *err);
int mtr_config_get_size(const mtr_config_t *cfg, const char *key, uint64_t def,
                        uint64_t max, uint64_t *value_r, mtr_err_t *err);
int mtr_config_get_bool(const mtr_config_t *cfg, const char *key, int def,
                        int *value_r, mtr_err_t *err);

/*
 * Fail on the first key not in known (a NULL-terminated list), so a daemon
 * refuses to start on a misspelt setting.
 */
int mtr_config_check_keys(const mtr_config_t *cfg, const char *const *known,
                          mtr_err_t *err);

/* Iterate in file order: i from 0 to mtr_config_count() - 1. */
size_t mtr_config_count(const mtr_config_t *cfg);
void   mtr_config_entry(const mtr_config_t *cfg, size_t i, const char **key_r,
                        const char **value_r);

/*
 * Render a template: every {{key}} in in[0..len) is replaced by the value
 * of key in cfg.  A key that cfg lacks, an unterminated "{{" or a malformed
 * key is an error naming name:line, so a template can never produce a
 * config with a hole in it.  *out_r is malloc'd and NUL-terminated; the
 * caller frees it.
 */
int mtr_config_render(const mtr_config_t *cfg, const char *in, size_t len,
                      const char *name, char **out_r, size_t *out_len_r,
                      mtr_err_t *err);

#endif /* MTR_CONFIG_H */
