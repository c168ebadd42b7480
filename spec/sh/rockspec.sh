#!/usr/bin/env bash
# rockspec/xfer-scm-1.rockspec: its C sources are the Makefile's, and
# `luarocks make` installs a working module into a fresh tree, for Lua 5.4
# and 5.1, without the network; a fresh interpreter then requires it from
# that tree and makes a real GET against $NGINX_PORT (spec/run.sh exports
# it). Ends with "N passed, N failed".
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$(dirname "$here")")
cd "$top" || exit 1
rockspec=rockspec/xfer-scm-1.rockspec
pass=0 fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; [ -n "${2:-}" ] && sed 's/^/     /' "$2" | tail -n 20; fail=$((fail + 1)); }
work=$(mktemp -d /tmp/xfer-rockspec.XXXXXX)
trap 'rm -rf "$work"' EXIT

# A make variable's words, as make expands them.
make_var() { # name
  make -s --no-print-directory "print-$1" | tr -s ' \t' '\n' | sed '/^$/d'
}

# --- the source lists agree --------------------------------------------
{ make_var CORE_SRC; make_var LUA_SRC; echo csrc/uv/xfer_uv.c; } |
  sort > "$work/make.list"
lua5.4 - "$rockspec" 2>"$work/rockspec.err" <<'LUA' | sort > "$work/rock.list"
local env = {}
assert(loadfile(arg[1], "t", env))()
for _, s in ipairs(env.build.modules["xfer.core"].sources) do print(s) end
LUA
if [ -s "$work/make.list" ] && [ -s "$work/rock.list" ] &&
   diff "$work/make.list" "$work/rock.list" > "$work/sources.diff"; then
  ok sources_match_makefile
else
  cat "$work/rockspec.err" >> "$work/sources.diff"
  bad sources_match_makefile "$work/sources.diff"
fi
# Every listed Lua module exists.
if lua5.4 - "$rockspec" 2> "$work/modules.err" <<'LUA'
local env = {}
assert(loadfile(arg[1], "t", env))()
for name, m in pairs(env.build.modules) do
    if type(m) == "string" and not io.open(m) then error(name .. ": no " .. m) end
end
LUA
then
  ok lua_modules_exist
else
  bad lua_modules_exist "$work/modules.err"
fi

# --- luarocks make, per Lua version -------------------------------------
if ! command -v luarocks >/dev/null 2>&1; then
  echo "luarocks is not installed (Debian: apt-get install luarocks)"
  bad luarocks_installed
  echo "$pass passed, $fail failed"
  exit 1
fi
ok luarocks_installed

# Without a network namespace of its own when that works (root), so that a
# download attempt fails the build instead of going unnoticed.
offline=""
if unshare -n true 2>/dev/null; then offline="unshare -n"; fi

for v in 5.4 5.1; do
  lua=lua$v
  command -v "$lua" >/dev/null 2>&1 || { bad "lua${v}_present"; continue; }
  src="$work/src-$v" tree="$work/tree-$v"
  # A copy of what the rock is built from: objects land next to the
  # sources, and neither the checkout nor a concurrent run may see them.
  mkdir -p "$src" "$tree"
  cp -r rockspec csrc lua docs examples "$src"/
  if (cd "$src" && $offline env LUAROCKS_CONFIG=/dev/null \
        luarocks --lua-version="$v" --tree="$tree" make --deps-mode=none "$rockspec") \
        > "$work/make-$v.out" 2>&1 &&
     [ -f "$tree/lib/lua/$v/xfer/core.so" ]; then
    ok "luarocks_make_lua$v"
  else
    bad "luarocks_make_lua$v" "$work/make-$v.out"
    continue
  fi
  # Every Lua file of lua/ is in the tree.
  missing=""
  for f in $(cd lua && find . -name '*.lua'); do
    [ -f "$tree/share/lua/$v/$f" ] || missing="$missing $f"
  done
  if [ -z "$missing" ]; then ok "lua_files_installed_lua$v"
  else echo "missing:$missing" > "$work/missing-$v"; bad "lua_files_installed_lua$v" "$work/missing-$v"; fi
  # A fresh interpreter, the tree first (";;": the system paths, for luv).
  if (cd "$work" && env -u LUA_INIT -u "LUA_INIT_${v/./_}" \
        LUA_PATH="$tree/share/lua/$v/?.lua;$tree/share/lua/$v/?/init.lua;;" \
        LUA_CPATH="$tree/lib/lua/$v/?.so;;" \
        "$lua" - "$tree" "${NGINX_PORT:-}" <<'LUA'
local tree, port = arg[1], arg[2]
local function from_tree(name, path)
    local file = package.searchpath(name, path)
    assert(file and file:sub(1, #tree) == tree, name .. " found at " .. tostring(file))
end
if package.searchpath then -- 5.2+
    from_tree("xfer", package.path)
    from_tree("xfer.core", package.cpath)
end
local xfer = require "xfer"
assert(type(xfer.VERSION) == "string", "no VERSION")
assert(xfer.E_COULDNT_CONNECT == 7)
assert(port and port ~= "", "NGINX_PORT is not set")
local base = "http://127.0.0.1:" .. port
local res, err = xfer.request(base .. "/index.html")
assert(res, tostring(err))
assert(res.status == 200 and res.body == "hello from nginx\n", res.body)
local all = xfer.fetch_all({ base .. "/files/1.txt", base .. "/files/2.txt" })
assert(all[2].body == "file 2\n")
local t = xfer.spawn(function() return xfer.request(base .. "/files/3.txt").body end)
assert(xfer.run())
assert(select(2, t:wait()) == "file 3\n")
if pcall(require, "luv") then
    local m = xfer.multi()
    m:add_handle(xfer.easy{ url = base .. "/", writefunction = function() end })
    assert(require("xfer.luv").run(m))
    m:close()
end
print("xfer " .. xfer.VERSION .. " from " .. tree .. ": GET ok")
LUA
     ) > "$work/run-$v.out" 2>&1; then
    ok "require_and_get_lua$v"
  else
    bad "require_and_get_lua$v" "$work/run-$v.out"
  fi
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
