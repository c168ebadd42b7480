-- luarocks make rockspec/xfer-scm-1.rockspec   (from the top directory)
--
-- Builds xfer.core (the C core, the Lua binding and the built-in libuv
-- loop) against the Lua that luarocks is set up for, and installs it with
-- the Lua modules. The C sources are the Makefile's CORE_SRC, mk/lua.mk's
-- LUA_SRC and csrc/uv/xfer_uv.c; spec/sh/rockspec.sh checks that the lists
-- agree, and installs into a temporary tree for Lua 5.4 and 5.1.
-- Debian: apt-get install luarocks libuv1-dev libssl-dev libc-ares-dev
rockspec_format = "3.0"
package = "xfer"
version = "scm-1"

source = {
   url = "git+file://.", -- not used by `luarocks make`, which builds the checkout
}

description = {
   summary = "HTTP(S) transfers with libcurl's multi interface, re-implemented in C",
   detailed = [[
xfer re-implements libcurl's multi interface for HTTP/1.1 and HTTPS:
any number of transfers on one multi handle, connection limits, a shared
connection and DNS cache, and the socket_action API for any event loop.
The Lua module has libcurl's names (xfer.multi, xfer.easy, add_handle,
socket_action, ...), a built-in libuv loop (multi:run()), a luv driver,
and a high-level API: xfer.request, xfer.fetch_all and coroutines.
]],
   homepage = "docs/lua.md",
}

dependencies = {
   "lua >= 5.1, < 5.5",
   -- luv is needed only by xfer.luv and by xfer.coro's driver = "luv".
}

external_dependencies = {
   UV = { header = "uv.h", library = "uv" },
   OPENSSL = { header = "openssl/ssl.h", library = "ssl" },
   CARES = { header = "ares.h", library = "cares" },
   NGHTTP2 = { header = "nghttp2/nghttp2.h", library = "nghttp2" },
   ZLIB = { header = "zlib.h", library = "z" },
   BROTLIDEC = { header = "brotli/decode.h", library = "brotlidec" },
   ZSTD = { header = "zstd.h", library = "zstd" },
   PSL = { header = "libpsl.h", library = "psl" },   -- Debian: libpsl-dev
}

build = {
   type = "builtin",
   modules = {
      ["xfer.core"] = {
         sources = {
            -- the core (Makefile: CORE_SRC)
            "csrc/core/multi.c", "csrc/core/socket.c", "csrc/core/transfer.c",
            "csrc/core/conn.c", "csrc/core/dns.c", "csrc/core/easy.c",
            "csrc/core/wait.c", "csrc/core/heap.c", "csrc/core/url.c",
            "csrc/core/util.c", "csrc/core/request.c", "csrc/core/body.c",
            "csrc/core/pause.c", "csrc/core/decode.c", "csrc/core/auth.c",
            "csrc/core/crypto.c",
            "csrc/core/cookie.c", "csrc/core/cookie_file.c",
            "csrc/core/cookie_easy.c", "csrc/core/proxy.c",
            "csrc/core/proto/http1.c",
            "csrc/core/proto/h1parse.c", "csrc/core/proto/http2.c",
            "csrc/core/filters/tcp.c",
            "csrc/core/filters/tls.c", "csrc/core/filters/tunnel.c",
            "csrc/core/filters/socks.c",
            -- the Lua binding (mk/lua.mk: LUA_SRC) and the built-in loop
            "csrc/lua/lxfer.c", "csrc/lua/lxfer_easy.c", "csrc/lua/lxfer_multi.c",
            "csrc/lua/lxfer_fs.c",
            "csrc/uv/xfer_uv.c",
         },
         defines = { "_GNU_SOURCE" },
         incdirs = { "csrc", "csrc/core", "$(UV_INCDIR)", "$(OPENSSL_INCDIR)", "$(CARES_INCDIR)", "$(NGHTTP2_INCDIR)",
                    "$(ZLIB_INCDIR)", "$(BROTLIDEC_INCDIR)", "$(ZSTD_INCDIR)",
                    "$(PSL_INCDIR)" },
         libdirs = { "$(UV_LIBDIR)", "$(OPENSSL_LIBDIR)", "$(CARES_LIBDIR)", "$(NGHTTP2_LIBDIR)",
                    "$(ZLIB_LIBDIR)", "$(BROTLIDEC_LIBDIR)", "$(ZSTD_LIBDIR)",
                    "$(PSL_LIBDIR)" },
         libraries = { "uv", "ssl", "crypto", "cares", "nghttp2", "z", "brotlidec",
                       "zstd", "psl" },
      },
      ["xfer"] = "lua/xfer/init.lua",
      ["xfer.coro"] = "lua/xfer/coro.lua",
      ["xfer.headers"] = "lua/xfer/headers.lua",
      ["xfer.http"] = "lua/xfer/http.lua",
      ["xfer.luv"] = "lua/xfer/luv.lua",
   },
   copy_directories = { "docs", "examples" },
}
