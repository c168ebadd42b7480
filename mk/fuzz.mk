# mk/fuzz.mk -- libFuzzer targets (included by the top-level Makefile; also
# usable alone: make -f mk/fuzz.mk fuzz).
#
#   make fuzz-build          build every target into build-fuzz/
#   make fuzz                build, then run each target FUZZ_SECONDS (60)
#   make fuzz FUZZ_TARGETS="fuzz_url fuzz_engine" FUZZ_SECONDS=300
#   make fuzz-regress        replay the corpora and fuzz/regress/ (no fuzzing)
#
# The core is compiled again with clang, -fsanitize=fuzzer-no-link plus
# ASan and UBSan, into build-fuzz/obj.  A run reads fuzz/corpus/<target>
# (committed seeds, but for crash-* reproducers of known bugs) and writes
# what it finds to build-fuzz/corpus/<target>
# (scratch, never committed); crashes land in build-fuzz/artifacts/<target>/.
# Each target prints its last "#N DONE cov: X ft: Y" line.

FUZZ_CC ?= clang
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= fuzz_url fuzz_h1parse fuzz_chunked fuzz_redirect fuzz_engine \
                fuzz_engine_oom fuzz_engine_tls fuzz_request fuzz_decode \
                fuzz_h2frames fuzz_auth fuzz_socks fuzz_connect fuzz_cookie
FUZZ_NICE ?= nice -n 10
FUZZ_FLAGS ?=
FUZZ_SAN = -fsanitize=fuzzer-no-link,address,undefined \
           -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS = -g -O1 -D_GNU_SOURCE -std=c99 -Wall -Wextra -Icsrc -Icsrc/core -Ifuzz \
              $(FUZZ_SAN)
FUZZ_LIBS = -lcares -lnghttp2 -lssl -lcrypto -lz -lbrotlidec -lzstd -lpsl

# The top-level Makefile's CORE_SRC when included from it, else the same list.
FUZZ_CORE_SRC := $(if $(CORE_SRC),$(CORE_SRC),\
  $(addprefix csrc/core/,multi.c socket.c transfer.c conn.c dns.c easy.c \
    wait.c heap.c url.c util.c request.c body.c pause.c decode.c auth.c \
    crypto.c proxy.c cookie.c cookie_file.c cookie_easy.c) \
  $(addprefix csrc/core/proto/,http1.c h1parse.c http2.c) \
  $(addprefix csrc/core/filters/,tcp.c tls.c tunnel.c socks.c))
FUZZ_CORE_HDR := csrc/xfer.h $(wildcard csrc/core/*.h csrc/core/*/*.h)
FUZZ_CORE_OBJ := $(FUZZ_CORE_SRC:csrc/%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_BINS := $(addprefix $(FUZZ_BUILD)/,$(FUZZ_TARGETS))

.PHONY: fuzz fuzz-build fuzz-regress fuzz-clean
.SECONDARY: $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/obj/fuzz/%.o)

fuzz-build: $(FUZZ_BINS)

$(FUZZ_BUILD)/obj/%.o: csrc/%.c $(FUZZ_CORE_HDR)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_BUILD)/obj/fuzz/%.o: fuzz/%.c $(wildcard fuzz/*.h) $(FUZZ_CORE_HDR)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

# The engine harness and its input decoding (engine_input.c), shared by
# fuzz_engine and fuzz_engine_oom; its HTTP/2 mode (engine_h2.c, which
# it #includes) reads and writes frames with h2_wire.c.
FUZZ_ENGINE_OBJ = $(FUZZ_BUILD)/obj/fuzz/engine_harness.o \
    $(FUZZ_BUILD)/obj/fuzz/engine_input.o $(FUZZ_BUILD)/obj/fuzz/h2_wire.o

$(FUZZ_BUILD)/obj/fuzz/engine_harness.o: fuzz/engine_h2.c

$(FUZZ_BUILD)/fuzz_engine: $(FUZZ_BUILD)/obj/fuzz/fuzz_engine.o \
    $(FUZZ_ENGINE_OBJ) $(FUZZ_CORE_OBJ)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer $^ -o $@ $(FUZZ_LIBS)

# HTTP/2 frames straight into one connection (h2_wire.c reads and writes
# them).
$(FUZZ_BUILD)/fuzz_h2frames: $(FUZZ_BUILD)/obj/fuzz/fuzz_h2frames.o \
    $(FUZZ_BUILD)/obj/fuzz/h2_wire.o $(FUZZ_CORE_OBJ)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer $^ -o $@ $(FUZZ_LIBS)

# The targets with their own in-process server share drive.c's loop.
$(FUZZ_BUILD)/fuzz_request: $(FUZZ_BUILD)/obj/fuzz/fuzz_request.o \
    $(FUZZ_BUILD)/obj/fuzz/drive.o $(FUZZ_CORE_OBJ)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer $^ -o $@ $(FUZZ_LIBS)

# A SOCKS or HTTP proxy played by proxy_harness.c on drive.c's loop.
FUZZ_PROXY_OBJ = $(FUZZ_BUILD)/obj/fuzz/proxy_harness.o \
    $(FUZZ_BUILD)/obj/fuzz/drive.o
$(FUZZ_BUILD)/fuzz_socks: $(FUZZ_BUILD)/obj/fuzz/fuzz_socks.o \
    $(FUZZ_PROXY_OBJ) $(FUZZ_CORE_OBJ)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer $^ -o $@ $(FUZZ_LIBS)
$(FUZZ_BUILD)/fuzz_connect: $(FUZZ_BUILD)/obj/fuzz/fuzz_connect.o \
    $(FUZZ_PROXY_OBJ) $(FUZZ_CORE_OBJ)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer $^ -o $@ $(FUZZ_LIBS)

# fuzz_decode encodes its round trips itself (brotli's encoder too).
$(FUZZ_BUILD)/fuzz_decode: $(FUZZ_BUILD)/obj/fuzz/fuzz_decode.o \
    $(FUZZ_BUILD)/obj/fuzz/drive.o $(FUZZ_CORE_OBJ)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer $^ -o $@ $(FUZZ_LIBS) -lbrotlienc

$(FUZZ_BUILD)/fuzz_engine_tls: $(FUZZ_BUILD)/obj/fuzz/fuzz_engine_tls.o \
    $(FUZZ_BUILD)/obj/fuzz/drive.o $(FUZZ_BUILD)/obj/fuzz/tls_certs.o \
    $(FUZZ_CORE_OBJ)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer $^ -o $@ $(FUZZ_LIBS)

# The engine with allocation failures: the same core objects, their
# malloc/calloc/realloc/strdup renamed to fuzz_engine_oom.c's failing ones.
FUZZ_OOM_SYMS = malloc calloc realloc strdup
FUZZ_OOM_OBJ := $(FUZZ_CORE_SRC:csrc/%.c=$(FUZZ_BUILD)/obj-oom/%.o)

$(FUZZ_BUILD)/obj-oom/%.o: $(FUZZ_BUILD)/obj/%.o
	@mkdir -p $(dir $@)
	objcopy $(foreach s,$(FUZZ_OOM_SYMS),--redefine-sym $(s)=fz_oom_$(s)) $< $@

$(FUZZ_BUILD)/fuzz_engine_oom: $(FUZZ_BUILD)/obj/fuzz/fuzz_engine_oom.o \
    $(FUZZ_ENGINE_OBJ) $(FUZZ_OOM_OBJ)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer $^ -o $@ $(FUZZ_LIBS)

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/fuzz/fuzz_%.o $(FUZZ_CORE_OBJ)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer $^ -o $@ $(FUZZ_LIBS)

# Runs every target in turn; a crash does not stop the others, but makes
# the whole run fail at the end.  The seeds go through a copy without the
# crash-* files (reproducers of known bugs: libFuzzer would stop at once).
fuzz: fuzz-build
	@failed=""; \
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/artifacts/$$t fuzz/corpus/$$t \
	    $(FUZZ_BUILD)/seeds/$$t; \
	  rm -f $(FUZZ_BUILD)/seeds/$$t/*; \
	  for s in fuzz/corpus/$$t/*; do \
	    case $${s##*/} in crash-*) ;; *) [ -f "$$s" ] && cp "$$s" $(FUZZ_BUILD)/seeds/$$t/;; esac; \
	  done; \
	  case $$t in fuzz_url|fuzz_redirect) dict=-dict=fuzz/dict/url.dict;; \
	    fuzz_request) dict=-dict=fuzz/dict/request.dict;; \
	    fuzz_h2frames) dict=-dict=fuzz/dict/h2.dict;; \
	    fuzz_auth) dict=-dict=fuzz/dict/auth.dict;; \
	    fuzz_socks|fuzz_connect) dict=-dict=fuzz/dict/proxy.dict;; \
	    fuzz_cookie) dict=-dict=fuzz/dict/cookie.dict;; \
	    fuzz_engine_tls|fuzz_decode) dict=;; \
	    *) dict=-dict=fuzz/dict/http.dict;; esac; \
	  echo "== $$t: $(FUZZ_SECONDS) s"; \
	  $(FUZZ_NICE) ./$(FUZZ_BUILD)/$$t -max_total_time=$(FUZZ_SECONDS) \
	    -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 $$dict \
	    -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t/ $(FUZZ_FLAGS) \
	    $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/seeds/$$t \
	    > $(FUZZ_BUILD)/$$t.log 2>&1; \
	  rc=$$?; \
	  if [ $$rc -ne 0 ]; then failed="$$failed $$t"; \
	    grep -aE "ERROR|invariant|SUMMARY|Test unit written" $(FUZZ_BUILD)/$$t.log | head -n 20; fi; \
	  done_line=$$(grep -aE "^#[0-9]+[[:space:]]+DONE" $(FUZZ_BUILD)/$$t.log | tail -n 1); \
	  [ -n "$$done_line" ] || done_line=$$(grep -aE "^#[0-9]+[[:space:]]" $(FUZZ_BUILD)/$$t.log | tail -n 1); \
	  execs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $(FUZZ_BUILD)/$$t.log); \
	  echo "$$t: execs=$${execs:-?} rc=$$rc $$done_line"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: crashes in:$$failed (see $(FUZZ_BUILD)/artifacts/)"; exit 1; fi

# The replay without libFuzzer is spec/c/test_fuzz_regress.c (a normal C
# test, built by the top-level Makefile); this runs only it.
fuzz-regress:
	$(MAKE) $(or $(BUILD),build)/spec/test_fuzz_regress
	./$(or $(BUILD),build)/spec/test_fuzz_regress

fuzz-clean:
	rm -rf $(FUZZ_BUILD)
