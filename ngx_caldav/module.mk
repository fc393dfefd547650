# ngx_caldav/module.mk -- the CalDAV/CardDAV core (pure C, unit-tested) and
# its fuzz target.  The nginx glue (ngx_http_caldav_module.c) is built by
# scripts/build-nginx-modules.sh from ngx_caldav/config, which compiles the
# same core sources.
#
# Core: caldav_buf.c (buffers, XML/href escaping), caldav_xml.c (request
# bodies, libxml2), caldav_ical.c (iCalendar, libical), caldav_vcard.c
# (vCard on libical's parser), caldav_store.c (per-user SQLite),
# caldav_handler.c (methods, paths, ACL), caldav_share.c (sharing between
# users of a domain), caldav_sched.c (scheduling, RFC 6638), caldav_auth.c
# (credential cache).
# Unit tests: tests/unit/test_caldav_*.c.

CALDAV_CFLAGS := -Ingx_caldav $(shell pkg-config --cflags libxml-2.0 libical sqlite3 2>/dev/null)
CALDAV_LIBS   := $(shell pkg-config --libs libical libxml-2.0 sqlite3 2>/dev/null) -licalss

# Core objects see the dependencies' headers.
$(OBJ)/ngx_caldav/%.o $(ASAN_OBJ)/ngx_caldav/%.o: MTR_CFLAGS += $(CALDAV_CFLAGS)
$(BUILD)/unit/test_caldav%: MTR_CFLAGS += $(CALDAV_CFLAGS)

# libFuzzer harness of the request-body parser (caldav_xml.c), with clang:
# the core and libmortar sources are compiled straight in, as in
# licensing/module.mk.  Seeds: tests/fuzz/fuzz_caldav_xml/.
CALDAV_FUZZ_CC  ?= clang
CALDAV_XML_FUZZ := $(BUILD)/fuzz/fuzz_caldav_xml
CALDAV_XML_FUZZ_SRC := tests/fuzz/fuzz_caldav_xml.c ngx_caldav/caldav_xml.c \
                       ngx_caldav/caldav_buf.c shared/src/mtr_core.c

FUZZ_TARGETS += $(CALDAV_XML_FUZZ)

$(CALDAV_XML_FUZZ): $(CALDAV_XML_FUZZ_SRC) ngx_caldav/caldav_xml.h \
        ngx_caldav/caldav_types.h ngx_caldav/caldav_buf.h \
        shared/include/mtr_core.h
	@mkdir -p $(@D)
	$(CALDAV_FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all $(CSTD) $(WARN) -Ishared/include \
	    -Ingx_caldav $(shell pkg-config --cflags libxml-2.0) \
	    -o $@ $(CALDAV_XML_FUZZ_SRC) -lxml2

# libFuzzer harnesses of the parsers PUT bodies reach: iCalendar
# (caldav_ical.c, on an uninstrumented libical) along check, instances,
# match, render and free-busy, and vCard (caldav_vcard.c) along check and
# match.  Seeds: tests/fuzz/fuzz_caldav_ical/, tests/fuzz/fuzz_caldav_vcard/.
CALDAV_ICAL_FUZZ  := $(BUILD)/fuzz/fuzz_caldav_ical
CALDAV_VCARD_FUZZ := $(BUILD)/fuzz/fuzz_caldav_vcard
CALDAV_ICAL_FUZZ_SRC  := tests/fuzz/fuzz_caldav_ical.c ngx_caldav/caldav_ical.c \
                         ngx_caldav/caldav_text.c ngx_caldav/caldav_buf.c \
                         shared/src/mtr_core.c
CALDAV_VCARD_FUZZ_SRC := tests/fuzz/fuzz_caldav_vcard.c \
                         ngx_caldav/caldav_vcard.c ngx_caldav/caldav_text.c \
                         ngx_caldav/caldav_buf.c shared/src/mtr_core.c

FUZZ_TARGETS += $(CALDAV_ICAL_FUZZ) $(CALDAV_VCARD_FUZZ)

$(CALDAV_ICAL_FUZZ): $(CALDAV_ICAL_FUZZ_SRC) ngx_caldav/caldav_ical.h \
        ngx_caldav/caldav_ical_util.h ngx_caldav/caldav_text.h \
        ngx_caldav/caldav_types.h ngx_caldav/caldav_buf.h \
        shared/include/mtr_core.h
	@mkdir -p $(@D)
	$(CALDAV_FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all $(CSTD) $(WARN) -Ishared/include \
	    -Ingx_caldav $(shell pkg-config --cflags libical) \
	    -o $@ $(CALDAV_ICAL_FUZZ_SRC) -lical -licalss

$(CALDAV_VCARD_FUZZ): $(CALDAV_VCARD_FUZZ_SRC) ngx_caldav/caldav_vcard.h \
        ngx_caldav/caldav_text.h ngx_caldav/caldav_types.h \
        ngx_caldav/caldav_buf.h shared/include/mtr_core.h
	@mkdir -p $(@D)
	$(CALDAV_FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all $(CSTD) $(WARN) -Ishared/include \
	    -Ingx_caldav -o $@ $(CALDAV_VCARD_FUZZ_SRC)
