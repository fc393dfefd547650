# cli/module.mk -- build rules of `mortar`, the administration command.
#
# Included by the top Makefile.  Adds:
#   $(BIN)/mortar   cli/mortar.c (glue: options, output, exit codes) over
#                   the cores cli/admin_dir.c (directory operations) and
#                   cli/admin_import.c (CSV and LDIF import), linked with
#                   liblic.a (the license gate), libmortar, libldap,
#                   hiredis, OpenSSL, jansson and libcsv.
# Unit tests: tests/unit/test_admin_dir.c, tests/unit/test_admin_import.c.
# Integration: tests/integration/test_cli.py.  Benchmark: bench/bench_import.sh.
#
# This file is read before licensing/module.mk (the top Makefile includes
# */module.mk in name order), and prerequisites are expanded as they are
# read: liblic.a and the generated trust header are therefore named here
# by path, not through $(LIBLIC) and $(LIC_TRUST_H).

CLI_LIBLIC   := $(BUILD)/lib/liblic.a
CLI_TRUST_H  := $(BUILD)/gen/lic_trust.h
CLI_OBJ      := $(OBJ)/cli/mortar.o $(OBJ)/cli/admin_dir.o \
                $(OBJ)/cli/admin_import.o
CLI_LIBS     := -lcsv -ljansson -lcrypto

TOOLS += $(BIN)/mortar

# The cores include licensing/lic_gate.h; mortar.c also the trust anchor.
$(CLI_OBJ): MTR_CFLAGS += -Ilicensing -I$(BUILD)/gen
$(ASAN_OBJ)/cli/admin_dir.o $(ASAN_OBJ)/cli/admin_import.o: \
        MTR_CFLAGS += -Ilicensing
$(BUILD)/unit/test_admin_dir $(BUILD)/unit/test_admin_import: \
        MTR_CFLAGS += -Ilicensing -Icli
$(OBJ)/cli/mortar.o: $(CLI_TRUST_H)

$(BIN)/mortar: $(CLI_OBJ) $(CLI_LIBLIC) $(LIBMORTAR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(MTR_LIBS) $(CLI_LIBS)
