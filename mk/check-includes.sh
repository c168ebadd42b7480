#!/bin/sh
# mk/check-includes.sh -- the layering of DESIGN.md, checked by `make test`
# (make check-includes): each dependency stays in the one place that owns
# it.  Prints every file that breaks a rule and exits 1.
#
#   csrc/core/            no Lua, LuaJIT, libuv or nginx header
#   OpenSSL               only in csrc/core/filters/tls.c (the TLS filter)
#                         and csrc/core/crypto.c (auth.c's digests, RNG)
#   c-ares (ares.h)       only in csrc/core/dns.c
#   zlib, brotli, zstd    only in csrc/core/decode.c (the content decoders)
#   libpsl                only in csrc/core/cookie.c (public suffixes)
#   xfer_int.h            only in csrc/core/ (and the core's own tests and
#                         fuzzers): the bindings use csrc/xfer.h
cd "$(dirname "$0")/.." || exit 1
status=0
bad() { echo "check-includes: $1: $2"; status=1; }

for f in $(find csrc/core -name '*.[ch]'); do
  if grep -qE '#include *[<"](lua|lauxlib|lualib|luajit|luaconf|uv|nginx|ngx_[a-z_]+)\.h' "$f"; then
    bad "$f" "a core file includes a Lua, libuv or nginx header"
  fi
done
for f in $(find csrc bench examples -name '*.[ch]'); do
  case $f in csrc/core/filters/tls.c|csrc/core/crypto.c) continue ;; esac
  grep -qE '#include *<openssl/' "$f" && bad "$f" "OpenSSL outside the TLS filter (csrc/core/filters/tls.c) and csrc/core/crypto.c"
done
for f in $(find csrc bench examples -name '*.[ch]'); do
  case $f in csrc/core/dns.c) continue ;; esac
  grep -qE '#include *[<"]ares' "$f" && bad "$f" "c-ares outside csrc/core/dns.c"
done
for f in $(find csrc bench examples -name '*.[ch]'); do
  case $f in csrc/core/decode.c) continue ;; esac
  grep -qE '#include *[<"](zlib|zstd|brotli/)' "$f" && bad "$f" "zlib, brotli or zstd outside csrc/core/decode.c"
done
for f in $(find csrc bench examples -name '*.[ch]'); do
  case $f in csrc/core/cookie.c) continue ;; esac
  grep -qE '#include *[<"]libpsl' "$f" && bad "$f" "libpsl outside csrc/core/cookie.c"
done
for f in $(find csrc/lua csrc/uv csrc/ngx csrc/compat bench examples -name '*.[ch]'); do
  grep -qE '#include *[<"]([^">]*/)?xfer_int\.h' "$f" && bad "$f" "a binding includes the core's xfer_int.h"
done
exit $status
