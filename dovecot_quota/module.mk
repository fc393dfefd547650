# dovecot_quota/module.mk -- build rules of Mortar's Dovecot quota backend.
#
# Included by the top Makefile.  Adds:
#   $(MQUOTA_PLUGIN)   build/modules/lib20_mortar_quota_plugin.so, loaded by
#                      Dovecot beside its own quota plugin (mail_plugins =
#                      $mail_plugins quota mortar_quota); appended to TOOLS
#                      so that `make` builds it.
# The core (dovecot_quota/mquota_*.c) includes no Dovecot header and is
# compiled like libmortar; the glue (mortar-quota-plugin.c) is compiled
# out of tree against Debian's dovecot-dev headers, with the defines of
# Dovecot's own build (HAVE_CONFIG_H: /usr/include/dovecot/config.h) and
# -isystem, so -Werror applies to our code and not to Dovecot's headers.
# libmortar.a is linked in statically (built -fvisibility=hidden, so its
# helpers never interpose another module's); hiredis dynamically.  Only
# the three plugin symbols are exported.
# Unit tests: tests/unit/test_mquota_args.c, test_mquota_policy.c,
# test_mquota_redis.c.  Integration: tests/integration/test_quota.py.
# Benchmark: bench/bench_lmtp_quota.py.

DOVECOT_INC  ?= /usr/include/dovecot
MQUOTA_CORE  := dovecot_quota/mquota_args.c dovecot_quota/mquota_policy.c \
                dovecot_quota/mquota_redis.c
MQUOTA_OBJ   := $(MQUOTA_CORE:%.c=$(OBJ)/%.o)
MQUOTA_GLUE  := $(OBJ)/dovecot_quota/mortar-quota-plugin.o
MQUOTA_PLUGIN := $(BUILD)/modules/lib20_mortar_quota_plugin.so

# Dovecot builds with gnu99; its headers want GNU C.
MQUOTA_GLUE_CFLAGS := -std=gnu11 -D_GNU_SOURCE -DHAVE_CONFIG_H \
                      -isystem $(DOVECOT_INC) $(WARN) -fPIC \
                      -fvisibility=hidden -Ishared/include -Idovecot_quota \
                      $(shell pkg-config --cflags hiredis 2>/dev/null)

TOOLS += $(MQUOTA_PLUGIN)

$(MQUOTA_GLUE): dovecot_quota/mortar-quota-plugin.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(MQUOTA_GLUE_CFLAGS) -MMD -MP -c $< -o $@

$(MQUOTA_PLUGIN): $(MQUOTA_GLUE) $(MQUOTA_OBJ) $(LIBMORTAR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -shared -fPIC -o $@ $(MQUOTA_GLUE) \
	    $(MQUOTA_OBJ) $(LIBMORTAR) \
	    $(shell pkg-config --libs hiredis 2>/dev/null || echo -lhiredis)

# The unit tests include the core headers by name.
$(BUILD)/unit/test_mquota_%: MTR_CFLAGS += -Idovecot_quota
