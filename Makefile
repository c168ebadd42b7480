# xfer -- see README.md.  Targets: all test asan demo deps install clean.
PREFIX ?= /usr/local
CC ?= cc
BUILD ?= build
OPT ?= -O2
CFLAGS_BASE = -std=c99 -D_GNU_SOURCE -Wall -Wextra -fvisibility=hidden -fPIC -g
CFLAGS ?= $(OPT)
# csrc/ is the layers of DESIGN.md: csrc/xfer.h (the public header),
# csrc/core/ (the engine: no Lua, libuv or nginx), csrc/lua/ (the binding),
# csrc/uv/ (the built-in libuv loop), csrc/ngx/ (the nginx module),
# csrc/compat/ (libcurl's names).  Only the core and the tests of its
# parts see csrc/core/.
XCFLAGS = $(CFLAGS_BASE) $(CFLAGS) -Icsrc
CORE_CFLAGS = $(XCFLAGS) -Icsrc/core
LIBS = -lcares -lnghttp2 -lssl -lcrypto -lz -lbrotlidec -lzstd -lpsl
SAN ?=

CORE_SRC = $(addprefix csrc/core/,multi.c socket.c transfer.c conn.c dns.c \
             easy.c wait.c heap.c url.c util.c request.c body.c pause.c \
             decode.c auth.c crypto.c proxy.c cookie.c cookie_file.c \
             cookie_easy.c) \
           $(addprefix csrc/core/proto/,http1.c h1parse.c http2.c) \
           $(addprefix csrc/core/filters/,tcp.c tls.c tunnel.c socks.c)
CORE_HDR = csrc/xfer.h $(wildcard csrc/core/*.h csrc/core/*/*.h)
CORE_OBJ = $(CORE_SRC:csrc/%.c=$(BUILD)/obj/%.o)
C_TESTS = $(patsubst spec/c/%.c,$(BUILD)/spec/%,$(filter-out spec/c/testlib.c,$(wildcard spec/c/test_*.c)))

DEB_PKGS = build-essential pkg-config libc-ares-dev libssl-dev libuv1-dev \
  liblua5.4-dev liblua5.1-0-dev libluajit2-5.1-dev lua5.1 lua5.4 luajit2 \
  liblua5.2-dev liblua5.3-dev lua5.2 lua5.3 \
  lua-busted lua-luv nginx libnginx-mod-http-lua nginx-dev libpcre2-dev \
  zlib1g-dev libcurl4-openssl-dev curl wrk strace clang valgrind luarocks \
  libnghttp2-dev nghttp2-server nghttp2-client \
  libbrotli-dev libzstd-dev brotli zstd tinyproxy microsocks \
  libpsl-dev publicsuffix

.PHONY: all lib test asan demo deps install clean check-includes examples soak valgrind \
        mutants

all: lib examples lua-modules $(BUILD)/tlsproxy $(BUILD)/h2fault \
  $(BUILD)/authserver

lib: $(BUILD)/libxfer.a $(BUILD)/libxfer.so

$(BUILD)/obj/%.o: csrc/%.c $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CORE_CFLAGS) $(SAN) -c $< -o $@

$(BUILD)/libxfer.a: $(CORE_OBJ)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/libxfer.so: $(CORE_OBJ)
	$(CC) -shared $(SAN) -o $@ $^ $(LIBS) -Wl,-soname,libxfer.so.0

examples: $(BUILD)/examples/demo $(BUILD)/examples/multi-uv \
  $(BUILD)/examples/multi-select

$(BUILD)/examples/demo: examples/demo.c $(BUILD)/libxfer.a
	@mkdir -p $(dir $@)
	$(CC) $(XCFLAGS) $(SAN) $< -o $@ $(BUILD)/libxfer.a $(LIBS)

# A libcurl program, unchanged, through the compatibility header.
$(BUILD)/examples/multi-uv: examples/multi-uv.c $(BUILD)/libxfer.a csrc/compat/curl/curl.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) $(SAN) -Icsrc/compat $< -o $@ $(BUILD)/libxfer.a $(LIBS) -luv

$(BUILD)/examples/multi-select: examples/multi-select.c $(BUILD)/libxfer.a csrc/compat/curl/curl.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) $(SAN) -Icsrc/compat $< -o $@ $(BUILD)/libxfer.a $(LIBS)

# The tests of the core's parts (parser, URL) include their headers.
$(BUILD)/spec/%: spec/c/%.c spec/c/testlib.c spec/c/driver.c spec/c/*.h $(BUILD)/libxfer.a
	@mkdir -p $(dir $@)
	$(CC) $(CORE_CFLAGS) $(SAN) -Ispec/c $< spec/c/testlib.c spec/c/driver.c -o $@ $(BUILD)/libxfer.a $(LIBS)

# The replay of the fuzz corpora #includes the fuzz targets (fuzz_decode
# encodes with brotli's encoder).
$(BUILD)/spec/test_fuzz_regress: $(wildcard fuzz/*.c fuzz/*.h)
$(BUILD)/spec/test_fuzz_regress: LIBS += -lbrotlienc

# The cookie tests read xfer's jar with Debian's libcurl, too.
$(BUILD)/spec/test_cookies: LIBS += -lcurl

c-tests: $(C_TESTS) $(BUILD)/spec/compat_debug $(BUILD)/spec/compat_h2

# A libcurl program with a debug callback, through the compatibility
# header (spec/sh/compat.sh runs it beside its libcurl build).
$(BUILD)/spec/compat_debug: spec/sh/compat/debug.c $(BUILD)/libxfer.a csrc/compat/curl/curl.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) $(SAN) -Werror -Icsrc/compat $< -o $@ $(BUILD)/libxfer.a $(LIBS)

# A libcurl program asking for HTTP/2, likewise.
$(BUILD)/spec/compat_h2: spec/sh/compat/h2.c $(BUILD)/libxfer.a csrc/compat/curl/curl.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) $(SAN) -Werror -Icsrc/compat $< -o $@ $(BUILD)/libxfer.a $(LIBS)

# The TLS-terminating proxy the fault matrix puts in front of the fault
# server (spec/support/servers.sh starts it when it exists).  A test tool:
# built without the sanitizers.
$(BUILD)/tlsproxy: spec/support/tlsproxy.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) $< -o $@ -lssl -lcrypto

# The HTTP/2 fault server of the client's HTTP/2 tests (nghttp2's server
# session plus raw frames).  A test tool: built without the sanitizers.
$(BUILD)/h2fault: spec/support/h2fault.c spec/support/h2fault_routes.c spec/support/h2fault.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) $(filter %.c,$^) -o $@ -lnghttp2 -lssl -lcrypto

# The Digest test server (spec/support/authserver.c; servers.sh starts it
# when it exists).  A test tool: built without the sanitizers.
$(BUILD)/authserver: spec/support/authserver.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) $< -o $@ -lssl -lcrypto

# Installs what is missing (Debian 12; run as root).
deps:
	@missing=$$(for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	fi

test: deps
	$(MAKE) all c-tests check-includes ngx-module
	BUILD=$(BUILD) spec/run.sh

asan: deps
	$(MAKE) BUILD=build-asan OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" all c-tests
	BUILD=build-asan ASAN_OPTIONS=detect_leaks=1 spec/run.sh

# The C suite under memcheck: any error or definite leak fails the test
# (valgrind's exit code 99 in the forked test process).
VALGRIND = valgrind -q --error-exitcode=99 --leak-check=full \
  --errors-for-leak-kinds=definite --show-leak-kinds=definite
valgrind: deps
	$(MAKE) all c-tests
	XFER_TEST_ONLY_C=1 XFER_TEST_TIMEOUT=180 XFER_TEST_WRAP="$(VALGRIND)" \
	  BUILD=$(BUILD) spec/run.sh

demo: deps
	$(MAKE) all
	BUILD=$(BUILD) examples/demo-cli.sh

# 1,000,000 transfers through one multi handle, successes and faults mixed
# (not part of make test: it takes a few minutes).  SOAK_N to change N.
SOAK_N ?= 1000000
$(BUILD)/soak: spec/soak/soak.c $(BUILD)/libxfer.a
	$(CC) $(XCFLAGS) $(SAN) $< -o $@ $(BUILD)/libxfer.a $(LIBS)

soak: deps
	$(MAKE) lib $(BUILD)/soak
	spec/soak/run.sh $(BUILD)/soak $(SOAK_N)

# `make -s print-CORE_SRC`: a variable's value (spec/sh/rockspec.sh).
print-%:
	@echo $($*)

# The layers, enforced: see mk/check-includes.sh.
check-includes:
	@mk/check-includes.sh

# Plants each bug of spec/mutants/*.patch in a scratch copy and reports
# whether the tests it names catch it (spec/README.md).  Not part of make
# test: about 20 s a mutant.
mutants: deps
	spec/mutants/run.sh

# The C library, and the Lua module and the xfer command for Lua 5.4
# (LUA_V=5.1 for 5.1/LuaJIT).  LuaRocks users: rockspec/xfer-scm-1.rockspec.
LUA_V ?= 5.4
LUA_LMOD ?= $(PREFIX)/share/lua/$(LUA_V)
LUA_CMOD ?= $(PREFIX)/lib/lua/$(LUA_V)
LUA_BUILD_V = $(if $(filter 5.1,$(LUA_V)),5.1,$(LUA_V))
install: lib lua-modules
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(BUILD)/libxfer.a $(DESTDIR)$(PREFIX)/lib/libxfer.a
	install -m 755 $(BUILD)/libxfer.so $(DESTDIR)$(PREFIX)/lib/libxfer.so.0
	ln -sf libxfer.so.0 $(DESTDIR)$(PREFIX)/lib/libxfer.so
	install -m 644 csrc/xfer.h $(DESTDIR)$(PREFIX)/include/xfer.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|0.1.0|g' xfer.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/xfer.pc
	install -d $(DESTDIR)$(LUA_CMOD)/xfer $(DESTDIR)$(LUA_LMOD)/xfer/cli $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BUILD)/lua/$(LUA_BUILD_V)/xfer/core.so $(DESTDIR)$(LUA_CMOD)/xfer/core.so
	install -m 644 lua/xfer/*.lua $(DESTDIR)$(LUA_LMOD)/xfer/
	install -m 644 lua/xfer/cli/*.lua $(DESTDIR)$(LUA_LMOD)/xfer/cli/
	install -m 755 bin/xfer $(DESTDIR)$(PREFIX)/bin/xfer

clean:
	rm -rf build build-asan

include mk/lua.mk
include mk/ngx.mk
include mk/bench.mk
include mk/fuzz.mk

# The benchmark's Lua rows need the Lua modules (mk/bench.mk alone builds
# only the C clients, and skips the Lua rows when the modules are missing).
bench-build: lua-modules
