# mk/ngx.mk -- the nginx module (csrc/ngx/) and its tests (spec/ngx/).
#
#   ngx-module  $(BUILD)/ngx/ngx_http_xfer_module.so, built against Debian's
#               nginx-dev sources: /usr/share/nginx/src is copied to
#               $(BUILD)/ngx/nginx (nothing is written under /usr/share),
#               configured with its conf_flags plus
#               --add-dynamic-module=csrc/ngx, then `make modules`.  The
#               module links $(BUILD)/libxfer.a (PIC) + c-ares + OpenSSL.
#   ngx-test    spec/ngx/run.sh: a real nginx with the Lua module and this
#               module on loopback; ends with "N passed, N failed".
#
# Included by the top-level Makefile (include mk/ngx.mk), or on its own from
# the top directory:  make -f mk/ngx.mk ngx-test
# Only the plain build: nginx itself is not built with sanitizers, so an
# ASan module cannot be loaded into it.

ifndef NGX_MK_LOADED
NGX_MK_LOADED := 1

BUILD ?= build
NGX_MK_GOAL := $(.DEFAULT_GOAL)

# Standalone: the core's rules (libxfer.a) come from the top-level Makefile.
ifeq ($(words $(MAKEFILE_LIST)),1)
include Makefile
NGX_MK_GOAL := ngx-module
endif

NGX_SRC ?= /usr/share/nginx/src
NGX_BUILD := $(BUILD)/ngx
NGX_TREE := $(NGX_BUILD)/nginx
NGX_MODULE := $(NGX_BUILD)/ngx_http_xfer_module.so
NGX_MODULE_SRC := csrc/ngx/config csrc/ngx/ngx_http_xfer.h \
                  csrc/ngx/ngx_http_xfer_module.c csrc/ngx/ngx_http_xfer_task.c \
                  csrc/ngx/ngx_http_xfer_stream.c
# Debian's own flags for its module packages (nginx -V shows them).
NGX_CC_OPT ?= -g -O2 -fstack-protector-strong -Wformat \
              -Werror=format-security -fPIC -Wdate-time -D_FORTIFY_SOURCE=2
NGX_LD_OPT ?= -Wl,-z,relro -Wl,-z,now -fPIC

.PHONY: ngx-module ngx-test ngx-clean

ngx-module: $(NGX_MODULE)

# configure once per tree (and again when the module's config changes).
$(NGX_TREE)/objs/Makefile: csrc/ngx/config $(NGX_SRC)/conf_flags
	@test -f $(NGX_SRC)/configure || \
	  { echo "ngx.mk: $(NGX_SRC) missing: apt-get install nginx-dev"; exit 1; }
	rm -rf $(NGX_TREE)
	@mkdir -p $(NGX_BUILD)
	cp -a $(NGX_SRC) $(NGX_TREE)
	cd $(NGX_TREE) && XFER_LIB=$(abspath $(BUILD))/libxfer.a bash -c \
	  '. ./conf_flags && ./configure "$${NGX_CONF_FLAGS[@]}" \
	     --with-cc-opt="$(NGX_CC_OPT)" --with-ld-opt="$(NGX_LD_OPT)" \
	     --add-dynamic-module=$(abspath csrc/ngx)' > configure.log 2>&1 \
	  || { tail -n 30 configure.log; exit 1; }

# nginx's own Makefile does not know about libxfer.a: relink every time
# this rule runs.
$(NGX_MODULE): $(NGX_TREE)/objs/Makefile $(NGX_MODULE_SRC) csrc/xfer.h $(BUILD)/libxfer.a
	rm -f $(NGX_TREE)/objs/ngx_http_xfer_module.so
	$(MAKE) -C $(NGX_TREE) -f objs/Makefile modules
	cp $(NGX_TREE)/objs/ngx_http_xfer_module.so $@

ngx-test: $(NGX_MODULE)
	BUILD=$(BUILD) spec/ngx/run.sh

ngx-clean:
	rm -rf $(NGX_BUILD)

.DEFAULT_GOAL := $(NGX_MK_GOAL)

endif # NGX_MK_LOADED
