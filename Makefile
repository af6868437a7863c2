# boxlite: one non-recursive GNU Makefile. Variants live in build/$(BUILD)/:
#   release (default), debug (fault points), asan (ASan+UBSan), clang.
BUILD ?= release
O := build/$(BUILD)
CC_release := gcc
CC_debug := gcc
CC_asan := gcc
CC_clang := clang
CC := $(or $(CC_$(BUILD)),gcc)

PKGS := libarchive sqlite3 jansson libseccomp
# libcurl and libcrypto are not linked: src/lib/image/curl-dl.c loads libcurl when a pull needs the
# network and src/lib/image/digest.c libcrypto when something is hashed, so that other commands do
# not pay for binding their symbols at start. Only their headers are needed here.
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) libcurl libcrypto)
PKG_LIBS := $(shell pkg-config --libs $(PKGS)) -lpthread -lm
# Executables link libarchive statically (only its tar reader and decompressors end up in the
# binary), SQLite and jansson too, and everything with --as-needed: every library loaded at
# start costs every command its symbol binding (we link with -z now). libarchive's dynamic
# dependencies (libxml2, ICU, libstdc++) cost ~2 ms per run; a shared SQLite ~0.4 ms.
EXE_LIBS := -Wl,--as-needed -Wl,-Bstatic -larchive -lsqlite3 -ljansson -Wl,-Bdynamic \
	$(filter-out -larchive,$(shell pkg-config --static --libs-only-l libarchive)) \
	$(filter-out -larchive -lsqlite3 -ljansson,$(PKG_LIBS))

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
	-Wformat-nonliteral -Wvla -Wpointer-arith -Wundef -Wwrite-strings -Wimplicit-fallthrough \
	-Wswitch-enum -Wno-missing-field-initializers
BASE_CFLAGS := -std=gnu11 -D_GNU_SOURCE -g -fPIC $(WARN) -Iinclude -Isrc -Isrc/basic -Isrc/lib $(patsubst %,-I%,$(wildcard src/lib/*/)) -Itests/lib \
	-fvisibility=hidden -fstack-protector-strong $(PKG_CFLAGS)
OPT_release := -O2 -D_FORTIFY_SOURCE=2
OPT_clang := -O2 -D_FORTIFY_SOURCE=2
OPT_debug := -O0 -DBL_FAULT_INJECTION=1
OPT_asan := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all \
	-DBL_FAULT_INJECTION=1
CFLAGS ?=
LDFLAGS ?=
ALL_CFLAGS := $(BASE_CFLAGS) $(OPT_$(BUILD)) $(CFLAGS)
SAN_LD_asan := -fsanitize=address,undefined
ALL_LDFLAGS := -Wl,-z,relro,-z,now $(SAN_LD_$(BUILD)) $(LDFLAGS)

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR := $(PREFIX)/bin
LIBDIR := $(PREFIX)/lib
INCDIR := $(PREFIX)/include
LIBEXECDIR := $(PREFIX)/libexec

VERSION := 0.1.0

BASIC_SRC := $(wildcard src/basic/*.c)
LIB_SRC := $(wildcard src/lib/*.c src/lib/*/*.c)
CLI_SRC := $(wildcard src/cli/*.c)
SHIM_SRC := $(wildcard src/shim/*.c)
UNIT_SRC := $(wildcard tests/unit/test-*.c)
TESTLIB_SRC := $(wildcard tests/lib/*.c)
FIXTURE_SRC := $(wildcard tests/fixtures/*.c)

obj = $(patsubst %.c,$(O)/%.o,$(1))
LIB_OBJ := $(call obj,$(BASIC_SRC) $(LIB_SRC))
CLI_OBJ := $(call obj,$(CLI_SRC))
SHIM_OBJ := $(call obj,$(SHIM_SRC))
TESTLIB_OBJ := $(call obj,$(TESTLIB_SRC))
UNIT_BIN := $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRC))
FIXTURE_BIN := $(patsubst tests/fixtures/%.c,$(O)/fixtures/%,$(FIXTURE_SRC))
PROBE_SRC := $(wildcard tests/probes/*.c)
PROBE_BIN := $(patsubst tests/probes/%.c,$(O)/probes/%,$(PROBE_SRC))

all: $(O)/boxlite $(O)/boxlite-shim $(O)/libboxlite.a $(O)/libboxlite.so.0 \
	$(UNIT_BIN) $(FIXTURE_BIN) $(PROBE_BIN)

$(O)/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC $<"; $(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(O)/libboxlite.a: $(LIB_OBJ)
	@rm -f $@
	@ar rcs $@ $^

$(O)/libboxlite.so.0: $(LIB_OBJ) src/lib/libboxlite.sym
	@$(CC) -shared -Wl,-soname,libboxlite.so.0 -Wl,--version-script=src/lib/libboxlite.sym \
		$(ALL_LDFLAGS) -o $@ $(LIB_OBJ) $(PKG_LIBS)
	ln -sf libboxlite.so.0 $(O)/libboxlite.so

$(O)/boxlite: $(CLI_OBJ) $(O)/libboxlite.a
	@echo "  LD $@"; $(CC) $(ALL_LDFLAGS) -o $@ $(CLI_OBJ) $(O)/libboxlite.a $(EXE_LIBS)

# The shim is small and static: no library beyond libc, so its RSS (a per-box cost) stays low
# and it execs fast. Sanitizer builds link it dynamically (ASan cannot be static).
SHIM_BASIC_OBJ := $(call obj,src/basic/fs-util.c src/basic/alloc-util.c src/basic/error.c \
	src/basic/fault.c src/basic/wire.c src/basic/parse-util.c)
SHIM_STATIC_release := -static
SHIM_STATIC_clang := -static
SHIM_STATIC_debug := -static
$(O)/boxlite-shim: $(SHIM_OBJ) $(SHIM_BASIC_OBJ)
	@echo "  LD $@"; $(CC) $(ALL_LDFLAGS) $(SHIM_STATIC_$(BUILD)) -o $@ $(SHIM_OBJ) $(SHIM_BASIC_OBJ)

$(O)/tests/%: $(O)/tests/unit/%.o $(TESTLIB_OBJ) $(O)/libboxlite.a
	@mkdir -p $(@D)
	@echo "  LD $@"; $(CC) $(ALL_LDFLAGS) -o $@ $< $(TESTLIB_OBJ) $(O)/libboxlite.a $(EXE_LIBS)

$(O)/fixtures/%: $(O)/tests/fixtures/%.o $(O)/libboxlite.a
	@mkdir -p $(@D)
	@echo "  LD $@"; $(CC) $(ALL_LDFLAGS) -o $@ $< $(O)/libboxlite.a $(EXE_LIBS)

# The adversarial suite's probes (tests/integration/cli/060-escape.sh) run inside boxes, from a
# --rootfs or an image of their own: static, libc only, no sanitizer (whatever the variant).
$(O)/probes/%: tests/probes/%.c tests/probes/probe.h
	@mkdir -p $(@D)
	@echo "  CC $@"; gcc -std=gnu11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -static -o $@ $<

# pkg-config file, written at install time so that it names the PREFIX of that install.
define PC_TEXT
prefix=$(PREFIX)
libdir=$(LIBDIR)
includedir=$(INCDIR)

Name: boxlite
Description: Sandbox runtime for OCI images (library)
Version: $(VERSION)
Requires.private: $(PKGS)
Libs: -L$${libdir} -lboxlite
Libs.private: -lpthread
Cflags: -I$${includedir}
endef
export PC_TEXT

# The test runner reads TAP from every unit binary and integration script and ends with
# "N passed, N failed, N skipped".
check: all
	BUILD=$(BUILD) tools/run-tests

check-unit: all
	BUILD=$(BUILD) tools/run-tests unit

check-integration: all
	BUILD=$(BUILD) tools/run-tests integration

check-exports: $(O)/libboxlite.so.0
	tools/check-exports.sh $(O)/libboxlite.so.0

check-style:
	tools/check-style.sh

check-headers:
	tools/check-headers.sh

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR)/boxlite \
		$(DESTDIR)$(LIBEXECDIR)/boxlite
	install -m 0755 $(O)/boxlite $(DESTDIR)$(BINDIR)/boxlite
	install -m 0755 $(O)/boxlite-shim $(DESTDIR)$(BINDIR)/boxlite-shim
	install -m 0644 $(O)/libboxlite.a $(DESTDIR)$(LIBDIR)/libboxlite.a
	install -m 0755 $(O)/libboxlite.so.0 $(DESTDIR)$(LIBDIR)/libboxlite.so.0
	ln -sf libboxlite.so.0 $(DESTDIR)$(LIBDIR)/libboxlite.so
	install -m 0644 include/boxlite/*.h $(DESTDIR)$(INCDIR)/boxlite/
	printf '%s\n' "$$PC_TEXT" > $(DESTDIR)$(LIBDIR)/pkgconfig/boxlite.pc

format:
	clang-format -i $(BASIC_SRC) $(LIB_SRC) $(CLI_SRC) $(SHIM_SRC) $(wildcard src/*/*.h include/boxlite/*.h)

clean:
	rm -rf build

.PHONY: all check check-unit check-integration check-exports check-style check-headers install format clean
.SECONDARY:

-include $(shell find $(O) -name '*.d' 2>/dev/null)

# ---- fuzzing: libFuzzer targets (tests/fuzz, docs/design/fuzzing.md) ----------------------------
# `make fuzz` builds every tests/fuzz/fuzz-*.c into build/fuzz/fuzz/ with clang, against library
# objects instrumented for coverage, ASan and UBSan (BUILD=fuzz: a variant of its own, so that no
# other build's objects carry libFuzzer's hooks); tests/fuzz/run.sh replays the committed corpus
# and fuzzes each target for a while. The shim's wire codec (src/basic/wire.c) is in libboxlite.
FUZZ_SRC := $(wildcard tests/fuzz/fuzz-*.c)
FUZZ_BIN := $(patsubst tests/fuzz/%.c,build/fuzz/fuzz/%,$(FUZZ_SRC))
ifeq ($(BUILD),fuzz)
CC := clang
ALL_CFLAGS := $(BASE_CFLAGS) -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
	-fno-sanitize-recover=all $(CFLAGS)
ALL_LDFLAGS := -fsanitize=address,undefined $(LDFLAGS)
endif

build/fuzz/fuzz/%: build/fuzz/tests/fuzz/%.o build/fuzz/libboxlite.a
	@mkdir -p $(@D)
	@echo "  LD $@"; $(CC) $(ALL_LDFLAGS) -fsanitize=fuzzer -o $@ $(filter %.o,$^) \
		build/fuzz/libboxlite.a $(EXE_LIBS)

ifeq ($(BUILD),fuzz)
fuzz: $(FUZZ_BIN)
else
fuzz:
	@$(MAKE) --no-print-directory BUILD=fuzz fuzz
endif

.PHONY: fuzz
