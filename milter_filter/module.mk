# milter_filter/module.mk -- build rules of mortar-policy, the Postfix SMTPD
# access policy service (RCPT-time quota, sender rate limits, greylisting).
#
# Included by the top Makefile.  Adds:
#   $(BIN)/mortar-policy        the daemon: milter_filter/mortar_policy.c
#                               (glue) over the cores mpolicy.c,
#                               mpolicy_proto.c, mpolicy_rate.c and
#                               mpolicy_grey.c, linked with libmortar,
#                               libldap, hiredis and pthreads
#   $(BUILD)/bench/bench-policy the load generator of bench/bench_policy.sh
# Unit tests: tests/unit/test_mpolicy_proto.c, test_mpolicy_rate.c,
# test_mpolicy_grey.c, test_mpolicy_core.c (cores, with fakes or
# mtr_redis wrapped at link time).  Integration:
# tests/integration/test_policy.py.  Benchmark: bench/bench_policy.sh.
# The content milter's rules are in milter_filter/milter.mk, included at
# the end.

MPOLICY_CORE := $(OBJ)/milter_filter/mpolicy.o \
                $(OBJ)/milter_filter/mpolicy_proto.o \
                $(OBJ)/milter_filter/mpolicy_rate.o \
                $(OBJ)/milter_filter/mpolicy_grey.o

TOOLS += $(BIN)/mortar-policy

$(BIN)/mortar-policy: $(OBJ)/milter_filter/mortar_policy.o $(MPOLICY_CORE) \
        $(LIBMORTAR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(MTR_LIBS) -lpthread

# The unit tests include the core headers by name.
$(BUILD)/unit/test_mpolicy%: MTR_CFLAGS += -Imilter_filter

# Not a tool and not installed: built by bench/bench_policy.sh.
$(BUILD)/bench/bench-policy: bench/bench_policy.c
	@mkdir -p $(@D)
	$(CC) -O2 -g $(CSTD) $(WARN) -o $@ $< -lpthread -lm

include milter_filter/milter.mk
