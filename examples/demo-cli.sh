#!/usr/bin/env bash
# examples/demo-cli.sh -- what `make demo` runs (after `make all`): a local
# nginx on a free loopback port serving 5,000 generated files of mixed sizes
# (100 bytes to 1 MiB), and the `xfer` command fetching all of them with 32
# connections (-P 32), saving them under a temporary directory: live progress
# on a terminal, then the summary.  nginx and the files go away at the end.
# BUILD selects the build directory (default build); XFER_DEMO_FILES the
# number of files (default 5000).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
FILES=${XFER_DEMO_FILES:-5000}

# The interpreter whose xfer.core was built (lua5.4 first).
lua=""
for cand in 5.4:lua5.4 5.1:lua5.1 jit:luajit; do
    v=${cand%%:*} exe=${cand#*:}
    if [ -e "$top/$BUILD/lua/$v/xfer/core.so" ] && command -v "$exe" >/dev/null 2>&1; then
        lua=$exe
        export LUA_CPATH="$top/$BUILD/lua/$v/?.so;;"
        break
    fi
done
if [ -z "$lua" ]; then
    echo "demo-cli.sh: no built Lua module in $BUILD/lua/*/xfer/core.so (run make all)" >&2
    exit 1
fi
export LUA_PATH="$top/lua/?.lua;$top/lua/?/init.lua;;"

work=$(mktemp -d /tmp/xfer-demo.XXXXXX)
trap '"$top/spec/support/nginx.sh" stop "$work/nginx" >/dev/null 2>&1; rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The files: $work/nginx/html/demo/dNN/fNNNN.bin.  Sizes are drawn (fixed
# seed, log-uniform within a band) from three bands: 80% 100 B-4 KiB, 18%
# 4-64 KiB, 2% 64 KiB-1 MiB: many small files and a few large ones, about
# 50 MiB in all, so that the disk (the files are saved with -o) stays fast.
"$lua" - "$work/nginx/html/demo" "$FILES" "$work/urls" <<'LUA'
local dir, n, list = arg[1], tonumber(arg[2]), arg[3]
local seed = 12345
local function rnd() -- a small LCG: the same files on every Lua
    seed = (seed * 1103515245 + 12345) % 2147483648
    return seed / 2147483648
end
local function between(lo, hi) return math.floor(lo * (hi / lo) ^ rnd()) end
local block = string.rep("xfer demo data, 0123456789 abcdefghijklmnopqrstuvwxyz\n", 20000)
os.execute("mkdir -p '" .. dir .. "'")
local names, total = {}, 0
for d = 0, math.floor((n - 1) / 100) do
    os.execute(("mkdir -p '%s/d%02d'"):format(dir, d))
end
for i = 0, n - 1 do
    local r, size = rnd(), 0
    if r < 0.80 then size = between(100, 4096)
    elseif r < 0.98 then size = between(4096, 65536)
    else size = between(65536, 1048576) end
    local name = ("d%02d/f%04d.bin"):format(math.floor(i / 100), i)
    local f = assert(io.open(dir .. "/" .. name, "wb"))
    f:write(block:sub(1, size))
    f:close()
    names[#names + 1] = name
    total = total + size
end
local f = assert(io.open(list, "w"))
for _, name in ipairs(names) do f:write("/demo/", name, "\n") end
f:close()
io.write(("generated %d files of 100 B to 1 MiB (%.0f MiB in all)\n"):format(n, total / 1048576))
LUA
eval "$("$top/spec/support/nginx.sh" start "$work/nginx" --log-off)"
sed -i "s|^|http://127.0.0.1:$NGINX_PORT|" "$work/urls"

echo "nginx on 127.0.0.1:$NGINX_PORT; running: xfer -P 32 -i urls.txt -o out/"
# xfer's exit code is the demo's (set -e); Ctrl-C stops xfer cleanly (130),
# then the EXIT trap stops nginx.
"$lua" "$top/bin/xfer" -P 32 -i "$work/urls" -o "$work/out"
