/*
 * mortar-quota-plugin.c -- Dovecot glue of Mortar's quota backend
 * "mortar", built as lib20_mortar_quota_plugin.so.
 *
 * Glue: registers the backend with Dovecot's own quota plugin (which keeps
 * enforcement, quota_grace, quota_warning, IMAP GETQUOTAROOT and doveadm
 * quota get|recalc), translates its calls into the core (mquota_args.c,
 * mquota_policy.c, mquota_redis.c) and libmortar's mtr_quota, and maps
 * the results back.  Limits come from userdb as quota rules (quota_rule
 * for the user root, quota2_rule for the pool root, see
 * conf/templates/dovecot/); usage lives in Redis.
 *
 *   mail_plugins = $mail_plugins quota mortar_quota
 *   plugin {
 *     quota  = mortar:User quota:host=127.0.0.1:port=6380
 *     quota2 = mortar:Domain pool:pool:host=127.0.0.1:port=6380
 *   }
 *
 * Per process: one Redis connection per distinct endpoint, shared by every
 * user the process serves (LMTP and doveadm serve many).  Per user: the
 * roots share one state (keys, a usage cache valid for one ioloop tick,
 * the Redis-down policy), so a quota check reads Redis once for both
 * roots and both resources, and one Lua script moves user and pool
 * together.
 *
 * Dovecot's quota plugin saves anyway when a backend cannot read usage.
 * With redis_down=tempfail (the default) this plugin checks Redis before
 * a save or copy instead and refuses it with MAIL_ERROR_UNAVAILABLE: LMTP
 * answers 451 4.2.0, IMAP "NO [UNAVAILABLE]", and the text says why.
 *
 * Core logic is covered by tests/unit/test_mquota_*.c; this file by
 * tests/integration/test_quota.py against real Dovecot, Postfix, Redis
 * and slapd.
 */
#include "lib.h"
#include "array.h"
#include "ioloop.h"
#include "str-sanitize.h"
#include "module-context.h"
#include "mail-user.h"
#include "mail-namespace.h"
#include "mail-storage-private.h"
#include "mailbox-list-private.h"
#include "mail-storage-hooks.h"
#include "quota-private.h"
#include "quota-plugin.h"

#include "mquota_args.h"
#include "mquota_policy.h"
#include "mquota_redis.h"
#include "mtr_quota.h"

#define MORTAR_QUOTA_EXPORT __attribute__((visibility("default")))

#define MORTAR_QUOTA_CONTEXT_REQUIRE(obj)                                      \
    MODULE_CONTEXT_REQUIRE(obj, mortar_quota_storage_module)

MORTAR_QUOTA_EXPORT void mortar_quota_plugin_init(struct module *module);
MORTAR_QUOTA_EXPORT void mortar_quota_plugin_deinit(void);
MORTAR_QUOTA_EXPORT extern const char *mortar_quota_plugin_dependencies[];
MORTAR_QUOTA_EXPORT extern const char *mortar_quota_plugin_version;

/* One Redis connection of this process. */
struct mortar_quota_conn {
    mquota_args_t args;
    mtr_redis_t  *redis;
    char          where[128];
};

/* What the roots of one user share. */
struct mortar_quota_user {
    unsigned int              refcount;
    struct mail_user         *user;
    struct mortar_quota_conn *conn;
    char                      user_key[MTR_QUOTA_KEY_MAX + 1];
    char                      pool_key[MTR_QUOTA_KEY_MAX + 1];
    mquota_cache_t            cache;
    mquota_down_e             redis_down;
    /* Not an address (Dovecot's "raw mail user" of LMTP and LDA): nothing
       to count, every call answers zero. */
    bool inert;
    bool has_user_root;
    bool has_pool_root;
};

struct mortar_quota_root {
    struct quota_root         root;
    mquota_args_t             args;
    struct mortar_quota_user *mu;
};

/*
 * The save and copy functions this plugin displaced at the top of a
 * mailbox's chain (see mortar_quota_mailbox_allocated).
 */
struct mortar_quota_mailbox {
    union mailbox_module_context module_ctx;
    int (*save_begin)(struct mail_save_context *ctx, struct istream *input);
    int (*copy)(struct mail_save_context *ctx, struct mail *mail);
};

const char *mortar_quota_plugin_dependencies[] = { "quota", NULL };
const char *mortar_quota_plugin_version = DOVECOT_ABI_VERSION;

static MODULE_CONTEXT_DEFINE_INIT(mortar_quota_storage_module,
                                  &mail_storage_module_register);

static ARRAY(struct mortar_quota_conn *) mortar_quota_conns;
static mquota_domains_t *mortar_quota_domains;

static struct quota_backend quota_backend_mortar;

/* ---- helpers ------------------------------------------------------------ */

/* Dovecot's ioloop clock in microseconds: the cache lives one tick. */
static uint64_t
mortar_quota_now(void)
{
    return (uint64_t) ioloop_timeval.tv_sec * 1000000
           + (uint64_t) ioloop_timeval.tv_usec;
}

static bool
mortar_quota_is_ours(const struct quota_root *root)
{
    return strcmp(root->backend.name, quota_backend_mortar.name) == 0;
}

static int
mortar_quota_conn_get(const mquota_args_t       *args,
                      struct mortar_quota_conn **conn_r, const char **error_r)
{
    struct mortar_quota_conn *conn;
    mtr_redis_opts_t          opts;
    mtr_err_t                 err;

    array_foreach_elem(&mortar_quota_conns, conn)
    {
        if (mquota_args_same_redis(&conn->args, args)) {
            *conn_r = conn;
            return 0;
        }
    }

    conn = i_new(struct mortar_quota_conn, 1);
    conn->args = *args;
    mquota_args_describe(args, conn->where, sizeof(conn->where));
    mquota_args_redis_opts(&conn->args, &opts);

    if (mtr_redis_create(&conn->redis, &opts, &err) != MTR_OK) {
        *error_r = t_strdup_printf("Redis %s: %s", conn->where, err.msg);
        i_free(conn);
        return -1;
    }

    array_push_back(&mortar_quota_conns, &conn);
    *conn_r = conn;
    return 0;
}

/* The state the roots of this user share, or NULL for a first root. */
static struct mortar_quota_user *
mortar_quota_user_find(struct quota *quota)
{
    struct quota_root *root;

    array_foreach_elem(&quota->roots, root)
    {
        if (mortar_quota_is_ours(root)) {
            return ((struct mortar_quota_root *) root)->mu;
        }
    }
    return NULL;
}

/* The usage of this user and its pool, from the cache or from Redis. */
static int
mortar_quota_state(struct mortar_quota_user *mu, mtr_quota_state_t *state_r,
                   mtr_err_t *err)
{
    uint64_t now = mortar_quota_now();

    if (mquota_cache_get(&mu->cache, now, state_r) == MTR_OK) {
        return 0;
    }

    if (mtr_quota_get(mu->conn->redis, mu->user_key, mu->pool_key, state_r, err)
        != MTR_OK)
    {
        mquota_cache_clear(&mu->cache);
        return -1;
    }

    mquota_cache_put(&mu->cache, state_r, now);
    return 0;
}

/* ---- the backend ------------------------------------------------------- */

static struct quota_root *
mortar_quota_alloc(void)
{
    struct mortar_quota_root *mroot;

    mroot = i_new(struct mortar_quota_root, 1);
    return &mroot->root;
}

static int
mortar_quota_init(struct quota_root *root, const char *args,
                  const char **error_r)
{
    struct mortar_quota_root *mroot = (struct mortar_quota_root *) root;
    struct mortar_quota_user *mu;
    struct mail_user         *user = root->quota->user;
    const mquota_args_t      *a = &mroot->args;
    mtr_err_t                 err;

    event_set_append_log_prefix(root->backend.event, "mortar-quota: ");

    /* The error names the parameter, never echoes the text: it may hold
       a password. */
    if (mquota_args_parse(args, args == NULL ? 0 : strlen(args), &mroot->args,
                          &err)
        != MTR_OK)
    {
        *error_r = t_strdup_printf("mortar-quota: root '%s': %s",
                                   root->set->name, err.msg);
        return -1;
    }

    /* Dovecot's generic parameters, as quota_root_default_init() would. */
    root->no_enforcing = a->noenforcing != 0;
    root->hidden = a->hidden != 0;
    root->disable_unlimited_tracking = a->ignoreunlimited != 0;
    if (a->has_ns) {
        root->ns_prefix = p_strdup(root->pool, a->ns);
    }

    mu = mortar_quota_user_find(root->quota);
    if (mu != NULL) {
        if (!mquota_args_same_redis(&mu->conn->args, a)) {
            *error_r = t_strdup_printf(
                "mortar-quota: root '%s' uses another Redis than the "
                "user's first mortar root (%s): user and pool counters "
                "move together and must live in one Redis",
                root->set->name, mu->conn->where);
            return -1;
        }
    } else {
        mu = i_new(struct mortar_quota_user, 1);
        mu->user = user;
        mu->redis_down = a->redis_down;

        if (mtr_quota_keys(user->username, strlen(user->username), mu->user_key,
                           sizeof(mu->user_key), mu->pool_key,
                           sizeof(mu->pool_key), &err)
            != MTR_OK)
        {
            /* LMTP and LDA load the plugins for their internal raw user
               too; a real user without an address would be a userdb
               mistake, visible in mail_debug. */
            e_debug(root->backend.event, "user name '%s' not counted: %s",
                    str_sanitize(user->username, 128), err.msg);
            mu->inert = TRUE;
        }

        if (mortar_quota_conn_get(a, &mu->conn, error_r) < 0) {
            *error_r = t_strdup_printf("mortar-quota: %s", *error_r);
            i_free(mu);
            return -1;
        }
    }

    if ((a->role == MQUOTA_ROLE_USER && mu->has_user_root)
        || (a->role == MQUOTA_ROLE_POOL && mu->has_pool_root))
    {
        *error_r = t_strdup_printf(
            "mortar-quota: root '%s': a user has one mortar %s root at "
            "most",
            root->set->name, a->role == MQUOTA_ROLE_POOL ? "pool" : "user");
        if (mu->refcount == 0) {
            i_free(mu);
        }
        return -1;
    }

    if (a->role == MQUOTA_ROLE_USER) {
        mu->has_user_root = TRUE;
    } else {
        mu->has_pool_root = TRUE;
    }

    mu->redis_down = mquota_down_merge(mu->redis_down, a->redis_down);
    mu->refcount++;
    mroot->mu = mu;

    e_debug(root->backend.event,
            "root '%s': %s, Redis %s, redis_down=%s, keys %s %s",
            root->set->name, a->role == MQUOTA_ROLE_POOL ? "pool" : "user",
            mu->conn->where, mquota_down_name(mu->redis_down), mu->user_key,
            mu->pool_key);
    return 0;
}

static void
mortar_quota_deinit(struct quota_root *root)
{
    struct mortar_quota_root *mroot = (struct mortar_quota_root *) root;
    struct mortar_quota_user *mu = mroot->mu;

    if (mu != NULL) {
        /* ignoreunlimited may drop a root right after its init: the other
           root must not count on it any more. */
        if (mroot->args.role == MQUOTA_ROLE_USER) {
            mu->has_user_root = FALSE;
        } else {
            mu->has_pool_root = FALSE;
        }

        i_assert(mu->refcount > 0);
        if (--mu->refcount == 0) {
            i_free(mu);
        }
    }

    i_free(mroot);
}

static const char *const *
mortar_quota_get_resources(struct quota_root *root ATTR_UNUSED)
{
    static const char *resources[] = { QUOTA_NAME_STORAGE_KILOBYTES,
                                       QUOTA_NAME_MESSAGES, NULL };

    return resources;
}

static enum quota_get_result
mortar_quota_get_resource(struct quota_root *root, const char *name,
                          uint64_t *value_r, const char **error_r)
{
    struct mortar_quota_root *mroot = (struct mortar_quota_root *) root;
    mquota_resource_e         res;
    mtr_quota_state_t         state;
    mtr_err_t                 err;

    if (strcmp(name, QUOTA_NAME_STORAGE_BYTES) == 0) {
        res = MQUOTA_RES_BYTES;
    } else if (strcmp(name, QUOTA_NAME_MESSAGES) == 0) {
        res = MQUOTA_RES_MESSAGES;
    } else {
        *error_r = QUOTA_UNKNOWN_RESOURCE_ERROR_STRING;
        return QUOTA_GET_RESULT_UNKNOWN_RESOURCE;
    }

    if (mroot->mu->inert) {
        *value_r = 0;
        return QUOTA_GET_RESULT_LIMITED;
    }

    if (mortar_quota_state(mroot->mu, &state, &err) < 0) {
        *error_r =
            t_strdup_printf("Redis %s: %s", mroot->mu->conn->where, err.msg);
        return QUOTA_GET_RESULT_INTERNAL_ERROR;
    }

    *value_r = mquota_usage_of(mroot->args.role, &state, res);
    return QUOTA_GET_RESULT_LIMITED;
}

static int
mortar_quota_recalc(struct mortar_quota_root *mroot, bool forced,
                    const char **error_r)
{
    struct mortar_quota_user *mu = mroot->mu;
    enum quota_get_result     error_res;
    mtr_quota_usage_t         counted, total;
    mtr_quota_state_t         state;
    mtr_err_t                 err;
    const char               *error;
    uint64_t                  bytes, count;
    unsigned int              actions;
    size_t                    nusers;
    int                       ret;

    actions = mquota_recalc_actions(
        mroot->args.role, mu->has_user_root, forced,
        mquota_domains_has(mortar_quota_domains, mu->pool_key));

    if ((actions & MQUOTA_RECALC_USER) != 0) {
        ret = quota_count(&mroot->root, &bytes, &count, &error_res, &error);
        if (ret < 0) {
            *error_r = t_strdup_printf("counting mailboxes failed: %s", error);
            return -1;
        }
        if (ret == 0) {
            /* quota_count() is already running higher up the stack. */
            return 0;
        }

        counted.bytes = bytes;
        counted.messages = count;
        if (mtr_quota_set_user(mu->conn->redis, mu->user_key, mu->pool_key,
                               &counted, &state, &err)
            != MTR_OK)
        {
            mquota_cache_clear(&mu->cache);
            *error_r =
                t_strdup_printf("Redis %s: %s", mu->conn->where, err.msg);
            return -1;
        }
        mquota_cache_put(&mu->cache, &state, mortar_quota_now());
        e_info(mu->user->event,
               "mortar-quota: recalculated %s: %" PRIu64 " bytes, %" PRIu64
               " messages (pool now %" PRIu64 " bytes)",
               mu->user_key, bytes, count, state.pool.bytes);
    }

    if ((actions & MQUOTA_RECALC_POOL) != 0) {
        if (mquota_domains_add(&mortar_quota_domains, mu->pool_key, &err)
            == MTR_ERROR) {
            *error_r =
                t_strdup_printf("re-summing %s: %s", mu->pool_key, err.msg);
            return -1;
        }

        mquota_cache_clear(&mu->cache);
        if (mquota_pool_resum(mu->conn->redis, mu->pool_key, &total, &nusers,
                              &err)
            != MTR_OK)
        {
            /* Let the next recalc of a user of this domain retry. */
            mquota_domains_remove(mortar_quota_domains, mu->pool_key);
            *error_r = t_strdup_printf("re-summing %s from its users: "
                                       "Redis %s: %s",
                                       mu->pool_key, mu->conn->where, err.msg);
            return -1;
        }
        e_info(mu->user->event,
               "mortar-quota: re-summed %s from %zu users: %" PRIu64
               " bytes, %" PRIu64 " messages",
               mu->pool_key, nusers, total.bytes, total.messages);
    }

    return 0;
}

static int
mortar_quota_update(struct quota_root                *root,
                    struct quota_transaction_context *ctx, const char **error_r)
{
    struct mortar_quota_root *mroot = (struct mortar_quota_root *) root;
    struct mortar_quota_user *mu = mroot->mu;
    mtr_quota_state_t         state;
    mtr_err_t                 err;

    if (mu->inert) {
        return 0;
    }

    if (ctx->recalculate != QUOTA_RECALCULATE_DONT) {
        return mortar_quota_recalc(
            mroot, ctx->recalculate == QUOTA_RECALCULATE_FORCED, error_r);
    }

    if (!mquota_root_writes(mroot->args.role, mu->has_user_root)
        || (ctx->bytes_used == 0 && ctx->count_used == 0))
    {
        return 0;
    }

    if (mtr_quota_update(mu->conn->redis, mu->user_key, mu->pool_key,
                         ctx->bytes_used, ctx->count_used, &state, &err)
        != MTR_OK)
    {
        mquota_cache_clear(&mu->cache);
        *error_r = t_strdup_printf(
            "Redis %s: %s: a change of %" PRId64 " bytes and %" PRId64
            " messages was not counted; run `doveadm quota recalc -u %s` "
            "when Redis is back",
            mu->conn->where, err.msg, ctx->bytes_used, ctx->count_used,
            mu->user->username);
        return -1;
    }

    /* The script's answer is the freshest usage there is: quota_warning
       compares it with the usage before this transaction. */
    mquota_cache_put(&mu->cache, &state, mortar_quota_now());
    return 0;
}

static struct quota_backend quota_backend_mortar = {
    .name = "mortar",
    .v = {
        .alloc = mortar_quota_alloc,
        .init = mortar_quota_init,
        .deinit = mortar_quota_deinit,
        .get_resources = mortar_quota_get_resources,
        .get_resource = mortar_quota_get_resource,
        .update = mortar_quota_update,
    },
};

/* ---- refusing saves while Redis is down ------------------------------- */

static struct mortar_quota_user *
mortar_quota_user_of_box(struct mailbox *box)
{
    struct mail_namespace *ns = box->list->ns;
    struct mail_user      *owner = ns->owner != NULL ? ns->owner : ns->user;
    struct quota          *quota = quota_get_mail_user_quota(owner);
    struct quota_root     *root;

    if (quota == NULL) {
        return NULL;
    }

    array_foreach_elem(&quota->roots, root)
    {
        if (mortar_quota_is_ours(root)
            && quota_root_is_namespace_visible(root, ns)) {
            return ((struct mortar_quota_root *) root)->mu;
        }
    }
    return NULL;
}

/*
 * Read the usage before a save (it also warms the cache the quota check
 * reads right after).  Returns -1 with the storage error set when Redis
 * is down and the policy is tempfail.
 */
static int
mortar_quota_precheck(struct mailbox *box)
{
    struct mortar_quota_user *mu = mortar_quota_user_of_box(box);
    mtr_quota_state_t         state;
    mtr_err_t                 err;

    if (mu == NULL || mu->inert || mortar_quota_state(mu, &state, &err) == 0) {
        return 0;
    }

    if (!mquota_refuse_when_down(mu->redis_down)) {
        e_warning(mu->user->event,
                  "mortar-quota: Redis %s: %s: saving to %s without "
                  "counting it (redis_down=accept)",
                  mu->conn->where, err.msg, mailbox_get_vname(box));
        return 0;
    }

    e_error(mu->user->event,
            "mortar-quota: Redis %s: %s: refusing to save to %s "
            "(redis_down=tempfail)",
            mu->conn->where, err.msg, mailbox_get_vname(box));
    mail_storage_set_error(box->storage, MAIL_ERROR_UNAVAILABLE,
                           MQUOTA_TEMPFAIL_TEXT);
    return -1;
}

static int
mortar_quota_save_begin(struct mail_save_context *ctx, struct istream *input)
{
    struct mailbox              *box = ctx->transaction->box;
    struct mortar_quota_mailbox *mbox = MORTAR_QUOTA_CONTEXT_REQUIRE(box);

    /* A move adds nothing to the quota. */
    if (!ctx->moving && mortar_quota_precheck(box) < 0) {
        return -1;
    }
    return mbox->save_begin(ctx, input);
}

static int
mortar_quota_copy(struct mail_save_context *ctx, struct mail *mail)
{
    struct mailbox              *box = ctx->transaction->box;
    struct mortar_quota_mailbox *mbox = MORTAR_QUOTA_CONTEXT_REQUIRE(box);

    if (!ctx->moving && mortar_quota_precheck(box) < 0) {
        /* copy() owns ctx: on failure it is cancelled here. */
        mailbox_save_cancel(&ctx);
        return -1;
    }
    return mbox->copy(ctx, mail);
}

/*
 * Dovecot chains mailbox functions in plugin name order, the first plugin
 * outermost, so the usual box->vlast insertion would put this plugin
 * (lib20) inside the quota plugin (lib10): the quota plugin would try
 * Redis first, log "saving mail anyway" and only then reach us.  The
 * Redis check must come first, so this plugin wraps the top of the chain
 * (box->v) itself and calls the functions it displaced; plugins hooked
 * after it still insert themselves further down through box->vlast,
 * which is left alone.
 */
static void
mortar_quota_mailbox_allocated(struct mailbox *box)
{
    struct mortar_quota_mailbox *mbox;

    if ((box->storage->class_flags & MAIL_STORAGE_CLASS_FLAG_NOQUOTA) != 0
        || box->v.save_begin == NULL || box->v.copy == NULL
        || mortar_quota_user_of_box(box) == NULL)
    {
        return;
    }

    mbox = p_new(box->pool, struct mortar_quota_mailbox, 1);
    mbox->save_begin = box->v.save_begin;
    mbox->copy = box->v.copy;
    box->v.save_begin = mortar_quota_save_begin;
    box->v.copy = mortar_quota_copy;
    MODULE_CONTEXT_SET(box, mortar_quota_storage_module, mbox);
}

static struct mail_storage_hooks mortar_quota_mail_storage_hooks = {
    .mailbox_allocated = mortar_quota_mailbox_allocated,
};

/* ---- plugin entry points ------------------------------------------------ */

void
mortar_quota_plugin_init(struct module *module)
{
    i_array_init(&mortar_quota_conns, 4);
    quota_backend_register(&quota_backend_mortar);
    mail_storage_hooks_add(module, &mortar_quota_mail_storage_hooks);
}

void
mortar_quota_plugin_deinit(void)
{
    struct mortar_quota_conn *conn;

    mail_storage_hooks_remove(&mortar_quota_mail_storage_hooks);
    /* Before the quota plugin's own deinit, which checks that only its
       built-in backends are left. */
    quota_backend_unregister(&quota_backend_mortar);

    array_foreach_elem(&mortar_quota_conns, conn)
    {
        mtr_redis_destroy(&conn->redis);
        i_free(conn);
    }
    array_free(&mortar_quota_conns);
    mquota_domains_destroy(&mortar_quota_domains);
}
