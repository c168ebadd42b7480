# mk/bench.mk -- `make bench`: builds the benchmark clients and runs
# bench/run.lua (see bench/README.md).
#
# Included by the top-level Makefile; also works on its own:
#     make -f mk/bench.mk bench [QUICK=1] [BENCH_ARGS="--only W1,W3"]
#
#   QUICK=1      smaller N everywhere (under a minute)
#   BENCH_ARGS   extra arguments for bench/run.lua (--only, --skip-strace,
#                --out FILE; see bench/README.md)
#   BENCH_LUA    the Lua 5.4 interpreter (default lua5.4)
#
# From the top-level Makefile, bench-build also builds the nginx module that
# W8 loads (ngx-module, mk/ngx.mk).

BUILD ?= build
CC ?= cc
BENCH_LUA ?= lua5.4
BENCH_ARGS ?=
BENCH_OUT = $(BUILD)/bench
BENCH_CFLAGS = -O2 -g -std=c99 -D_GNU_SOURCE -Wall -Wextra
BENCH_XFER_LIBS = -lcares -lnghttp2 -lssl -lcrypto -lz -lbrotlidec -lzstd -lpsl
BENCH_BINS = $(BENCH_OUT)/xfer_c $(BENCH_OUT)/curl_bench-xfer \
             $(BENCH_OUT)/curl_bench-curl $(BENCH_OUT)/pstat \
             $(BENCH_OUT)/raw_floor $(BENCH_OUT)/uv_run_bench-xfer \
             $(BENCH_OUT)/uv_run_bench-curl

.PHONY: bench bench-build

# Standalone (make -f mk/bench.mk): the library's rule lives in the
# top-level Makefile, so ask it to bring libxfer.a up to date.
ifeq ($(origin CORE_OBJ),undefined)
.PHONY: bench-lib
bench-lib:
	$(MAKE) -f Makefile BUILD=$(BUILD) $(BUILD)/libxfer.a
$(BUILD)/libxfer.a: bench-lib ;
endif

bench-build: $(BENCH_BINS)

# W8 (OpenResty fan-out) loads $(BUILD)/ngx/ngx_http_xfer_module.so.  From
# the top-level Makefile (mk/ngx.mk is included before this file) `make
# bench` builds it first, when nginx-dev's sources are there; on its own
# (make -f mk/bench.mk) or without nginx-dev, bench/run.lua skips W8 with a
# note when the module is missing.
ifdef NGX_MK_LOADED
ifneq ($(wildcard $(NGX_SRC)/configure),)
bench-build: ngx-module
else ifneq ($(filter bench bench-build,$(MAKECMDGOALS)),)
$(info mk/bench.mk: $(NGX_SRC) missing (apt-get install nginx-dev): W8 runs only if $(NGX_MODULE) is already built)
endif
endif

# xfer's own client: the xfer API directly.
$(BENCH_OUT)/xfer_c: bench/xfer_c.c bench/bench_util.h csrc/xfer.h $(BUILD)/libxfer.a
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -Icsrc $< -o $@ $(BUILD)/libxfer.a $(BENCH_XFER_LIBS)

# The libcurl client, unchanged, through xfer's compat header.
$(BENCH_OUT)/curl_bench-xfer: bench/curl_bench.c bench/bench_util.h csrc/xfer.h csrc/compat/curl/curl.h $(BUILD)/libxfer.a
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -Icsrc/compat $< -o $@ $(BUILD)/libxfer.a $(BENCH_XFER_LIBS) -luv

# The same client against Debian's libcurl.
$(BENCH_OUT)/curl_bench-curl: bench/curl_bench.c bench/bench_util.h
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $< -o $@ -lcurl -luv

# W1's run-until-uv_run-returns row and W9's heartbeat (libcurl's API on
# libuv, as examples/multi-uv.c): through the compat header and against
# Debian's libcurl.
$(BENCH_OUT)/uv_run_bench-xfer: bench/uv_run_bench.c bench/bench_util.h csrc/xfer.h csrc/compat/curl/curl.h $(BUILD)/libxfer.a
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -Icsrc/compat $< -o $@ $(BUILD)/libxfer.a $(BENCH_XFER_LIBS) -luv

$(BENCH_OUT)/uv_run_bench-curl: bench/uv_run_bench.c bench/bench_util.h
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $< -o $@ -lcurl -luv

# The floor: no library, the least a keep-alive client can do.
$(BENCH_OUT)/raw_floor: bench/raw_floor.c bench/bench_util.h
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $< -o $@

$(BENCH_OUT)/pstat: bench/pstat.c
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) $< -o $@

bench: bench-build
	$(BENCH_LUA) bench/run.lua --build $(BUILD) $(if $(filter 1,$(QUICK)),--quick) $(BENCH_ARGS)
