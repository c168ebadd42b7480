# mk/lua.mk -- the Lua module xfer.core and its busted specs.
#
#   lua-modules  $(BUILD)/lua/<v>/xfer/core.so for v = 5.1, 5.4, jit (LuaJIT
#                2.1), and 5.2/5.3 when their headers are installed (make
#                deps installs them); each
#                links $(BUILD)/libxfer.a (PIC) + c-ares + libuv.
#   lua-test     runs spec/lua with busted on lua5.1, 5.4, luajit, 5.2, 5.3, each
#                against its own build, and prints busted's summary for each.
#
# Included by the top-level Makefile (include mk/lua.mk), or on its own from
# the top directory:  make -f mk/lua.mk BUILD=build lua-modules
# On its own it reads the top-level Makefile for the core's flags and rules.
# BUILD and SAN work as there: make -f mk/lua.mk BUILD=build-asan \
#   SAN="-fsanitize=address,undefined" lua-modules

ifndef LUA_MK_LOADED
LUA_MK_LOADED := 1

BUILD ?= build
# Included, this file must not become the default goal (see the end).
LUA_MK_GOAL := $(.DEFAULT_GOAL)

# Standalone: `make -f mk/lua.mk` names only this file.  Take the core's
# variables and rules (libxfer.a) from the top-level Makefile, which may in
# turn include this file: the guard above makes that a no-op.
ifeq ($(words $(MAKEFILE_LIST)),1)
include Makefile
LUA_MK_GOAL := lua-modules
endif

LUA_VERSIONS := 5.1 5.4 jit \
  $(if $(wildcard /usr/include/lua5.2/lua.h),5.2) \
  $(if $(wildcard /usr/include/lua5.3/lua.h),5.3)
LUA_INC_5.1 ?= /usr/include/lua5.1
LUA_INC_5.2 ?= /usr/include/lua5.2
LUA_INC_5.3 ?= /usr/include/lua5.3
LUA_INC_5.4 ?= /usr/include/lua5.4
LUA_INC_jit ?= /usr/include/luajit-2.1

LUA_SRC = $(addprefix csrc/lua/,lxfer.c lxfer_easy.c lxfer_multi.c lxfer_fs.c)
LUA_HDR = csrc/lua/lxfer.h csrc/lua/lxfer_compat.h csrc/uv/xfer_uv.h csrc/xfer.h
LUA_UV_OBJ = $(BUILD)/lua/obj/xfer_uv.o
LUA_MODULES = $(foreach v,$(LUA_VERSIONS),$(BUILD)/lua/$(v)/xfer/core.so)
# The core's own symbols stay inside core.so: another module linking its
# own copy of xfer cannot clash with it.
LUA_LDLIBS = $(BUILD)/libxfer.a $(LIBS) -luv -Wl,--exclude-libs,ALL

.PHONY: lua-modules lua-test

lua-modules: $(LUA_MODULES)

$(LUA_UV_OBJ): csrc/uv/xfer_uv.c csrc/uv/xfer_uv.h csrc/xfer.h
	@mkdir -p $(dir $@)
	$(CC) $(XCFLAGS) $(SAN) -c $< -o $@

# One object directory and one module per Lua version.
define LUA_VERSION_RULES
$(BUILD)/lua/$(1)/obj/%.o: csrc/lua/%.c $(LUA_HDR)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(XCFLAGS) $$(SAN) -I$$(LUA_INC_$(1)) -c $$< -o $$@

$(BUILD)/lua/$(1)/xfer/core.so: \
    $(patsubst csrc/lua/%.c,$(BUILD)/lua/$(1)/obj/%.o,$(LUA_SRC)) \
    $(LUA_UV_OBJ) $(BUILD)/libxfer.a
	@mkdir -p $$(dir $$@)
	$$(CC) -shared $$(SAN) -o $$@ $$(filter %.o,$$^) $$(LUA_LDLIBS)
endef
$(foreach v,$(LUA_VERSIONS),$(eval $(call LUA_VERSION_RULES,$(v))))

# The test servers are started here once for the three interpreters,
# unless the caller exported them already (spec/run.sh does).
LUA_TEST_INTERPRETERS ?= lua5.1 lua5.4 luajit lua5.2 lua5.3
BUSTED ?= /usr/bin/busted

lua-test: lua-modules
	@set -u; status=0; dir=""; \
	if [ -z "$${NGINX_PORT:-}" ] || [ -z "$${FAULT_PORT:-}" ]; then \
	  dir=$$(mktemp -d /tmp/xfer-lua.XXXXXX); \
	  trap 'spec/support/servers.sh stop "$$dir" >/dev/null 2>&1; \
	        rm -rf "$$dir"' EXIT INT TERM; \
	  spec/support/servers.sh start "$$dir" >/dev/null || exit 1; \
	  . "$$dir/env"; \
	fi; \
	for lua in $(LUA_TEST_INTERPRETERS); do \
	  case $$lua in luajit) v=jit ;; *) v=$${lua#lua} ;; esac; \
	  echo "== busted on $$lua"; \
	  LUA_CPATH="$(BUILD)/lua/$$v/?.so;;" \
	  LUA_PATH="lua/?.lua;lua/?/init.lua;;" \
	    $$lua $(BUSTED) --output=plainTerminal spec/lua || status=1; \
	done; \
	exit $$status

.DEFAULT_GOAL := $(LUA_MK_GOAL)

endif # LUA_MK_LOADED
