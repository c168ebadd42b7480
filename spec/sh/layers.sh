#!/usr/bin/env bash
# The layering check (mk/check-includes.sh, run by make test) passes on the
# tree, and catches each rule broken: a copy of the script runs against a
# scratch tree with one offending file at a time.
set -u
pass=0 fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }
work=$(mktemp -d /tmp/xfer-layers.XXXXXX)
trap 'rm -rf "$work"' EXIT

if mk/check-includes.sh >"$work/out" 2>&1; then ok layers_tree_passes
else cat "$work/out"; bad layers_tree_passes; fi

# caught FILE LINE NAME: the check fails with FILE holding LINE, and names it.
caught() {
  rm -rf "$work/t"
  mkdir -p "$work/t/mk" "$work/t/csrc/core/filters" "$work/t/csrc/lua" \
           "$work/t/csrc/uv" "$work/t/csrc/ngx" "$work/t/csrc/compat" \
           "$work/t/bench" "$work/t/examples"
  cp mk/check-includes.sh "$work/t/mk/"
  mkdir -p "$(dirname "$work/t/$1")"
  printf '%s\n' "$2" > "$work/t/$1"
  if "$work/t/mk/check-includes.sh" >"$work/out" 2>&1; then
    bad "$3"
  elif grep -q "$1" "$work/out"; then ok "$3"
  else cat "$work/out"; bad "$3"; fi
}
caught csrc/core/multi.c '#include <lua.h>' layers_core_no_lua
caught csrc/core/proto/http1.c '#include "lauxlib.h"' layers_core_no_lauxlib
caught csrc/core/wait.c '#include <uv.h>' layers_core_no_libuv
caught csrc/core/conn.c '#include "ngx_core.h"' layers_core_no_nginx
caught csrc/core/conn.c '#include <openssl/ssl.h>' layers_openssl_only_in_tls
caught csrc/lua/lxfer.c '#include <openssl/err.h>' layers_openssl_not_in_binding
caught csrc/core/conn.c '#include <ares.h>' layers_cares_only_in_dns
caught csrc/core/request.c '#include <libpsl.h>' layers_psl_only_in_cookie
caught csrc/lua/lxfer.c '#include "xfer_int.h"' layers_binding_no_xfer_int
caught csrc/ngx/ngx_http_xfer_task.c '#include "../core/xfer_int.h"' layers_ngx_no_xfer_int
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
