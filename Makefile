# Mortar top-level Makefile.
#
#   make            build libmortar, the tools and the nginx module into build/
#   make run        install missing Debian packages, build, start the stack
#   make stop       stop the stack started by `make run`
#   make test       unit tests (ASan/UBSan) + integration tests on a test stack
#   make clean      remove build/ (run/ holds data: `make distclean` removes it)
#
# Out-of-tree and packager friendly: CC, CFLAGS, LDFLAGS, DESTDIR and PREFIX
# are honoured; nothing outside build/ and run/ is written except by
# `make install`, by scripts/deps.sh (apt) and by the launcher's one line
# in /etc/postfix/main.cf (see start_nginx in scripts/stack.sh).

CC       ?= cc
BUILD    := build
BIN      := $(BUILD)/bin
OBJ      := $(BUILD)/obj
ASAN_OBJ := $(BUILD)/asan
PREFIX   ?= /usr/local

# Stack config files: the demo stack and the test stack differ only by these.
STACK      ?= conf/stack.conf
TEST_STACK ?= conf/stack-test.conf

PYTEST   ?= /usr/bin/python3 -m pytest

WARN     := -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes \
            -Wmissing-prototypes -Wformat=2 -Werror
CSTD     := -std=c11 -D_GNU_SOURCE
CFLAGS   ?= -O2 -g
MTR_CFLAGS := $(CSTD) $(WARN) -fPIC -fvisibility=hidden -Ishared/include \
              $(shell pkg-config --cflags hiredis 2>/dev/null)
MTR_LIBS := -lldap -llber $(shell pkg-config --libs hiredis 2>/dev/null)

SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=all

LIB_SRC  := $(wildcard shared/src/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(OBJ)/%.o)
LIB_ASAN := $(LIB_SRC:%.c=$(ASAN_OBJ)/%.o)
LIBMORTAR      := $(BUILD)/lib/libmortar.a
LIBMORTAR_ASAN := $(BUILD)/lib/libmortar-asan.a

TOOLS    := $(BIN)/mortar-conf

# Fuzz targets (libFuzzer): each runs for FUZZ_SECONDS in `make test`.
FUZZ_TARGETS :=
FUZZ_SECONDS ?= 20

# Each module folder may add tools and fuzz targets in its module.mk.
include $(wildcard */module.mk)

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/unit/%)

.PHONY: all deps lib tools modules run stop status test unit integration fuzz \
        clean distclean format format-check bench
.DELETE_ON_ERROR:
.SECONDARY:

all: lib tools modules

deps:
	@sh scripts/deps.sh

lib: $(LIBMORTAR)

tools: $(TOOLS)

$(OBJ)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(MTR_CFLAGS) -MMD -MP -c $< -o $@

$(ASAN_OBJ)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) -O1 -g $(SAN) $(MTR_CFLAGS) -MMD -MP -c $< -o $@

$(LIBMORTAR): $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(LIBMORTAR_ASAN): $(LIB_ASAN)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BIN)/mortar-conf: $(OBJ)/cli/mortar_conf.o $(LIBMORTAR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(MTR_LIBS)

# nginx dynamic modules, built out of tree against Debian's nginx-dev.
modules: $(LIBMORTAR)
	@sh scripts/build-nginx-modules.sh $(BUILD)

# Unit tests: one cmocka binary per core header.  tests/unit/NAME.flags may
# list extra core sources (*.c, compiled with the sanitizers) and link flags
# such as -Wl,--wrap=ldap_search_ext_s for link-time mocks.
unit_flags = $(shell cat tests/unit/$(1).flags 2>/dev/null)
unit_srcs  = $(filter %.c,$(call unit_flags,$(1)))
unit_ld    = $(filter-out %.c,$(call unit_flags,$(1)))
unit_objs  = $(patsubst %.c,$(ASAN_OBJ)/%.o,$(call unit_srcs,$(1)))

.SECONDEXPANSION:
$(BUILD)/unit/%: tests/unit/%.c $(LIBMORTAR_ASAN) \
        $$(call unit_objs,$$*) \
        $$(wildcard tests/unit/$$*.flags)
	@mkdir -p $(@D)
	$(CC) -O1 -g $(SAN) $(MTR_CFLAGS) -Itests/unit -o $@ $< \
	    $(call unit_objs,$*) \
	    $(LIBMORTAR_ASAN) $(call unit_ld,$*) -lcmocka $(MTR_LIBS)

unit: $(UNIT_BIN)
	@set -e; fail=0; for t in $(UNIT_BIN); do \
	    echo "== $$t"; \
	    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	        $$t || fail=1; \
	done; test $$fail = 0

# deps first, then the build: never in parallel, even under make -j.
run: deps
	@$(MAKE) --no-print-directory all
	@bash scripts/stack.sh -c $(STACK) start

stop:
	@bash scripts/stack.sh -c $(STACK) stop

status:
	@bash scripts/stack.sh -c $(STACK) status

# The pytest session starts the test stack with scripts/stack.sh (the same
# launcher as `make run`) and stops it when done.  tests/dav/install.sh puts
# tsdav (npm, pinned by package-lock.json) into tests/dav/node_modules.
integration: all
	@sh tests/dav/install.sh
	MORTAR_STACK=$(TEST_STACK) $(PYTEST) -ra tests/integration

fuzz: $(FUZZ_TARGETS)
	@set -e; for f in $(FUZZ_TARGETS); do \
	    c=$(BUILD)/fuzz/corpus-$$(basename $$f); mkdir -p $$c; \
	    seeds=$$(ls -d tests/fuzz/$$(basename $$f) 2>/dev/null || true); \
	    echo "== $$f ($(FUZZ_SECONDS) s)"; \
	    $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        $$c $$seeds 2>$(BUILD)/fuzz/$$(basename $$f).log \
	        || { tail -40 $(BUILD)/fuzz/$$(basename $$f).log; exit 1; }; \
	    grep -E 'stat::number_of_executed_units' \
	        $(BUILD)/fuzz/$$(basename $$f).log; \
	done

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory fuzz
	@$(MAKE) --no-print-directory integration

# Benchmarks print figures side by side with their anchors; they are not
# tests.  They run against the demo stack ($(STACK)), started if needed.
bench: all
	@bash scripts/stack.sh -c $(STACK) start >/dev/null
	@echo "== seat reservation and import (bench/bench_import.py)"
	/usr/bin/python3 bench/bench_import.py -c $$(build/bin/mortar-conf -c $(STACK) get run_dir)/mortar.conf
	@echo "== policy service (bench/bench_policy.sh)"
	bash bench/bench_policy.sh -c $(STACK)
	@echo "== LMTP with the quota backend (bench/bench_lmtp_quota.py)"
	/usr/bin/python3 bench/bench_lmtp_quota.py -c $$(build/bin/mortar-conf -c $(STACK) get run_dir)/mortar.conf
	@echo "== CalDAV against Radicale (bench/bench_dav.sh)"
	bash bench/bench_dav.sh -c $(STACK)
	@echo "== content milter (bench/bench_milter.sh)"
	bash bench/bench_milter.sh -c $(STACK)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD)

# Stop the stacks while the launcher still has its tools, then clean.
distclean:
	-bash scripts/stack.sh -c $(STACK) stop
	-bash scripts/stack.sh -c $(TEST_STACK) stop
	$(MAKE) --no-print-directory clean
	rm -rf run run-test

-include $(shell find $(OBJ) $(ASAN_OBJ) -name '*.d' -type f 2>/dev/null)
