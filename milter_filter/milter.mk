# milter_filter/milter.mk -- build rules of mortar-milter, the content
# milter (clamd antivirus, spamd/rspamd antispam).
#
# Included from milter_filter/module.mk.  Adds:
#   $(BIN)/mortar-milter   milter_filter/mortar_milter.c (libmilter glue)
#                          over the cores mfilter_policy.c, mfilter_proto.c,
#                          mfilter_config.c, mfilter_scan.c and
#                          mfilter_cache.c, linked with libmortar,
#                          libmilter, libldap, hiredis, jansson.
# Unit tests: tests/unit/test_mfilter_policy.c, test_mfilter_proto.c,
# test_mfilter_config.c, test_mfilter_cache.c.  Integration:
# tests/integration/test_milter.py (with the miltertest scripts in
# tests/milter/).  Benchmark: bench/bench_milter.sh.

MFILTER_CORE := $(OBJ)/milter_filter/mfilter_policy.o \
                $(OBJ)/milter_filter/mfilter_proto.o \
                $(OBJ)/milter_filter/mfilter_config.o \
                $(OBJ)/milter_filter/mfilter_scan.o \
                $(OBJ)/milter_filter/mfilter_cache.o

TOOLS += $(BIN)/mortar-milter

$(BIN)/mortar-milter: $(OBJ)/milter_filter/mortar_milter.o $(MFILTER_CORE) \
        $(LIBMORTAR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(MTR_LIBS) -lmilter -ljansson \
	    -lpthread

# The unit tests include the core headers by name.
$(BUILD)/unit/test_mfilter%: MTR_CFLAGS += -Imilter_filter
