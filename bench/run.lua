#!/usr/bin/env lua5.4
--[[
bench/run.lua -- runs every benchmark workload for every client against one
nginx on loopback and prints one table (also written to bench/results.md).
See bench/README.md for what the workloads, clients and columns are.

  lua5.4 bench/run.lua [--build DIR] [--quick] [--only W1,W3,...]
                       [--skip-strace] [--out FILE] [--keep]

  --build DIR     where `make -f mk/bench.mk bench-build` put DIR/bench/*
                  (default: build)
  --quick         small N everywhere (the QUICK=1 run, under a minute)
  --only LIST     run only these workloads (W1..W11, W6gz)
  --skip-strace   no syscall-counting pass
  --out FILE      results file (default: bench/results.md next to this
                  script, bench/results-quick.md with --quick; "-": none)
  --keep          keep the temp dir (nginx prefix, certs, raw outputs)

Every client run goes through `pstat` (bench/pstat.c), which raises the fd
limit, enforces a time limit and reports the process' own rusage; the C
clients also print their own measured-phase CPU, which is what the table
uses for them.  W8 (OpenResty fan-out) starts a second nginx from
bench/ngx_fanout.conf with the Lua module and DIR/ngx/ngx_http_xfer_module.so
(skipped, with a note, when either is missing) and measures its worker's CPU
from /proc/PID/stat.  The HTTP/2 workloads (W10, W11: an h2 listener in the
same nginx, their clients, cases and targets) live in bench/h2.lua.
]]

local T_START = os.time()
local HERE = arg[0]:match("^(.*)/[^/]*$") or "."

------------------------------------------------------------------------------
-- options
------------------------------------------------------------------------------
local opt = { build = "build", quick = false, only = nil, strace = true,
              out = nil, keep = false }
do
  local i = 1
  while i <= #arg do
    local a = arg[i]
    if a == "--build" then i = i + 1; opt.build = arg[i]
    elseif a == "--quick" then opt.quick = true
    elseif a == "--only" then
      i = i + 1; opt.only = {}
      for w in arg[i]:gmatch("[^,%s]+") do opt.only[w:upper()] = true end
    elseif a == "--skip-strace" then opt.strace = false
    elseif a == "--out" then i = i + 1; opt.out = arg[i]
    elseif a == "--keep" then opt.keep = true
    else io.stderr:write("run.lua: unknown argument " .. a .. "\n"); os.exit(2) end
    i = i + 1
  end
end
if os.getenv("QUICK") == "1" then opt.quick = true end
local Q = opt.quick
-- A quick run must not overwrite the full run's results.
opt.out = opt.out or (HERE .. (Q and "/results-quick.md" or "/results.md"))

------------------------------------------------------------------------------
-- small helpers
------------------------------------------------------------------------------
local function log(fmt, ...)
  io.stderr:write(string.format("[%4ds] ", os.time() - T_START),
                  string.format(fmt, ...), "\n")
  io.stderr:flush()
end

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- Runs a shell command; returns its output (stdout+stderr) and success.
local function run(cmd)
  local p = io.popen(cmd .. " 2>&1", "r")
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end

local function capture(cmd)
  local p = io.popen(cmd .. " 2>/dev/null", "r")
  local out = p:read("a") or ""
  p:close()
  return (out:gsub("%s+$", ""))
end

local function must(cmd)
  local out, ok = run(cmd)
  if not ok then error("command failed: " .. cmd .. "\n" .. out, 0) end
  return out
end

local function write_file(path, data)
  local f = assert(io.open(path, "w"))
  f:write(data)
  f:close()
end

local function exists(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end

local function copy(t, extra)
  local r = {}
  for k, v in pairs(t) do r[k] = v end
  for k, v in pairs(extra or {}) do r[k] = v end
  return r
end

local function fmt_num(x, dec)
  if x == nil then return "-" end
  if x ~= x then return "-" end -- NaN
  return string.format("%." .. (dec or 2) .. "f", x)
end

local function fmt_int(x)
  if x == nil then return "-" end
  local s = string.format("%d", math.floor(x + 0.5))
  return (s:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", ""))
end

------------------------------------------------------------------------------
-- environment
------------------------------------------------------------------------------
local BIN = opt.build .. "/bench/"
local PSTAT = BIN .. "pstat"
for _, b in ipairs { "pstat", "xfer_c", "curl_bench-xfer", "curl_bench-curl", "raw_floor",
                     "uv_run_bench-xfer", "uv_run_bench-curl" } do
  if not exists(BIN .. b) then
    io.stderr:write("run.lua: " .. BIN .. b .. " missing: run `make -f mk/bench.mk bench-build` first\n")
    os.exit(2)
  end
end
local NGINX = exists("/usr/sbin/nginx") and "/usr/sbin/nginx" or "nginx"
local HAVE_WRK = capture("command -v wrk") ~= ""
local HAVE_STRACE = capture("command -v strace") ~= ""
if not HAVE_STRACE then opt.strace = false end

local NOFILE_HARD = tonumber(capture("sh -c 'ulimit -Hn'")) or 1048576
local NOFILE = math.min(NOFILE_HARD, 120000)
-- W7's largest idle-connection count: 50,000 when the fd limit allows it;
-- both the client and nginx need one fd per connection (plus a few).
local K_MAX = math.min(50000, math.floor((NOFILE - 500) / 1000) * 1000)

local TMP = capture("mktemp -d /tmp/xfer-bench.XXXXXX")
assert(TMP ~= "", "mktemp failed")
local NG = TMP .. "/nginx"
local ADDRS = 8 -- nginx listens on 127.0.0.1 .. 127.0.0.8
package.path = HERE .. "/?.lua;" .. package.path
local H2 = require "h2" -- W10, W11 (HTTP/2)

------------------------------------------------------------------------------
-- nginx (HTTP and HTTPS, worker_processes 1, logs off)
------------------------------------------------------------------------------
local PORT, SPORT, HPORT -- HPORT: h2 over TLS (bench/h2.lua), 127.0.0.1 only
local CA

local function make_certs()
  local t = TMP .. "/pki"
  must("mkdir -p " .. q(t))
  local san = {}
  for i = 1, ADDRS do san[#san + 1] = "IP:127.0.0." .. i end
  write_file(t .. "/ext.cnf",
    "basicConstraints = critical, CA:FALSE\n" ..
    "keyUsage = critical, digitalSignature\n" ..
    "extendedKeyUsage = serverAuth\n" ..
    "subjectAltName = DNS:localhost, " .. table.concat(san, ", ") .. "\n")
  local ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
  must("cd " .. q(t) .. " && openssl req -x509 " .. ec .. " -days 30 -sha256" ..
       " -subj '/CN=xfer bench CA' -keyout ca.key -out ca.pem" ..
       " -addext 'basicConstraints=critical,CA:TRUE'" ..
       " -addext 'keyUsage=critical,keyCertSign,cRLSign'" ..
       " && openssl req -new " .. ec .. " -subj /CN=localhost" ..
       " -keyout srv.key -out srv.csr" ..
       " && openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key" ..
       " -CAcreateserial -days 30 -sha256 -extfile ext.cnf -out srv.pem" ..
       " && openssl verify -CAfile ca.pem srv.pem")
  CA = t .. "/ca.pem"
  return t
end

local function nginx_conf(pki, port, sport, hport)
  local listen, slisten = {}, {}
  for i = 1, ADDRS do
    listen[#listen + 1] = string.format("        listen 127.0.0.%d:%d backlog=4096;", i, port)
    slisten[#slisten + 1] = string.format("        listen 127.0.0.%d:%d ssl backlog=4096;", i, sport)
  end
  return ([[
# generated by bench/run.lua
user root;
worker_processes 1;
worker_rlimit_nofile %d;
daemon on;
pid %s/nginx.pid;
error_log %s/logs/error.log;

events {
    worker_connections %d;
}

http {
    access_log off;
    keepalive_timeout 600s;
    keepalive_requests 100000000;
    sendfile on;
    tcp_nopush on;
    # W6gz: /text100m.txt as its stored .gz, to a client that accepts gzip
    gzip_static on;
    tcp_nodelay on;
    default_type application/octet-stream;

    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_tickets on;
    ssl_session_cache shared:SSL:10m;
    ssl_session_timeout 10m;

    client_body_temp_path %s/temp/client_body;
    proxy_temp_path %s/temp/proxy;
    fastcgi_temp_path %s/temp/fastcgi;
    uwsgi_temp_path %s/temp/uwsgi;
    scgi_temp_path %s/temp/scgi;

    server {
%s
        server_name localhost;
        root %s/html;
    }

    server {
%s
        server_name localhost;
        root %s/html;
        ssl_certificate %s/srv.pem;
        ssl_certificate_key %s/srv.key;
    }
%s}
]]):format(NOFILE, NG, NG, math.min(60000, NOFILE), NG, NG, NG, NG, NG,
           table.concat(listen, "\n"), NG, table.concat(slisten, "\n"), NG,
           pki, pki, H2.nginx_server(NG, pki, hport))
end

local function port_open(port)
  local _, ok = run("bash -c " .. q("exec 3<>/dev/tcp/127.0.0.1/" .. port))
  return ok
end

local function start_nginx()
  local pki = make_certs()
  must("mkdir -p " .. q(NG .. "/logs") .. " " .. q(NG .. "/html") .. " " ..
       q(NG .. "/temp"))
  -- 1 KiB of the repeating alphabet (as spec/support/nginx.sh serves) and a
  -- sparse 100 MiB file for W6 (sendfile serves holes as zeros).
  write_file(NG .. "/html/1k.bin",
             string.rep("abcdefghijklmnopqrstuvwxyz", 40):sub(1, 1024))
  must("truncate -s 100M " .. q(NG .. "/html/100m.bin"))
  -- W6gz: 100 MiB of text (the decoding tests' plain.txt, 400 times: it
  -- compresses as text does, 3.8:1) and its gzip -6, made once.
  if not io.open(NG .. "/html/text100m.txt.gz") then
    must("for i in $(seq 400); do cat spec/support/fixtures/decode/plain.txt; done > " ..
         q(NG .. "/html/text100m.txt") .. " && gzip -6 -k -n " .. q(NG .. "/html/text100m.txt"))
  end
  for try = 1, 8 do
    -- Below the ephemeral range (32768+), so clients never take it.
    local port = math.random(20000, 31000)
    local sport, hport = port + 1, port + 2
    write_file(NG .. "/nginx.conf", nginx_conf(pki, port, sport, hport))
    write_file(NG .. "/logs/error.log", "")
    local out, ok = run(NGINX .. " -e " .. q(NG .. "/logs/error.log") ..
                        " -p " .. q(NG) .. " -c " .. q(NG .. "/nginx.conf"))
    if ok then
      for _ = 1, 50 do
        if port_open(port) and port_open(sport) and (not H2.enabled() or port_open(hport)) then
          PORT, SPORT, HPORT = port, sport, H2.enabled() and hport or nil
          return
        end
        run("sleep 0.1")
      end
      error("nginx did not accept within 5 s:\n" .. capture("cat " .. q(NG .. "/logs/error.log")), 0)
    end
    local elog = capture("cat " .. q(NG .. "/logs/error.log"))
    if not (out .. elog):find("bind") then
      error("nginx failed to start:\n" .. out .. elog, 0)
    end
  end
  error("nginx: no free port after 8 tries", 0)
end

-- Stops the nginx whose prefix is dir: TERM, then KILL after 5 s.
local function stop_nginx_in(dir)
  local pid = capture("cat " .. q(dir .. "/nginx.pid"))
  if pid == "" then return end
  run("kill -TERM " .. pid)
  for _ = 1, 50 do
    local _, alive = run("kill -0 " .. pid)
    if not alive then return end
    run("sleep 0.1")
  end
  run("kill -KILL " .. pid)
end

-- Connection-heavy workloads take their destination address in turn from
-- 127.0.0.1..8, so that TIME_WAIT ports of one run never starve the next.
local next_addr_i = 0
local function next_addr()
  next_addr_i = next_addr_i % ADDRS + 1
  return "127.0.0." .. next_addr_i
end

------------------------------------------------------------------------------
-- clients
--
-- A client is { id, label, family, cmd = function(case) -> shell command or
-- nil (does not run this case), parse = function(output, case) -> record }.
-- A record has: requests, ok, bytes, cpu_s, wall_s and optionally sockcb,
-- sockcb_warm, warm_requests, rss0_kb, rss1_kb, hwm_kb; run_once adds
-- maxrss_kb, status and pstat's cpu/wall.  family is "xfer" (xfer's own
-- drivers: the targets apply to these), "compat" (the libcurl program
-- through xfer's compat header), "libcurl" (the baseline: ratios are to the
-- better libcurl row of the same case) or "floor" (wrk).
------------------------------------------------------------------------------

-- The C clients' flags for a case (see bench/curl_bench.c).
local function c_args(c)
  local a = { "-m", c.mode, "-n", c.n, "-c", c.c }
  if c.k then a[#a + 1] = "-k"; a[#a + 1] = c.k end
  if c.dlimit then a[#a + 1] = "-d"; a[#a + 1] = c.dlimit end
  if c.forbid then a[#a + 1] = "-f" end
  if c.sess ~= nil then a[#a + 1] = "-r"; a[#a + 1] = c.sess end
  if c.tls then a[#a + 1] = "-a"; a[#a + 1] = q(CA) end
  if c.hb then a[#a + 1] = "-H"; a[#a + 1] = c.hb end
  if c.httpv then a[#a + 1] = "-v"; a[#a + 1] = c.httpv end -- W10, W11
  if c.pipewait then a[#a + 1] = "-w" end
  if c.hostmax then a[#a + 1] = "-h"; a[#a + 1] = c.hostmax end
  if c.gz then a[#a + 1] = "-z" end -- W6gz: ACCEPT_ENCODING ""
  for _, u in ipairs(c.urls) do a[#a + 1] = q(u) end
  return table.concat(a, " ")
end

-- key=value pairs of the last line that has requests=, and pstat's line.
local function parse_kv(out)
  local rec, ps = nil, {}
  for line in out:gmatch("[^\n]+") do
    if line:match("^pstat:") then
      for k, v in line:gmatch("([%w_]+)=(%S+)") do ps[k] = tonumber(v) or v end
    elseif line:match("requests=") then
      rec = {}
      for k, v in line:gmatch("([%w_]+)=(%S+)") do rec[k] = tonumber(v) or v end
    end
  end
  return rec, ps
end

local function c_client(id, label, family, bin, style)
  return {
    id = id, label = label, family = family,
    cmd = function(c) return BIN .. bin .. " " .. style .. " " .. c_args(c) end,
    parse = function(out)
      local rec, ps = parse_kv(out)
      if rec and rec.sockcb and rec.sockcb < 0 then
        rec.sockcb, rec.sockcb_warm = nil, nil
      end
      return rec, ps
    end,
  }
end

-- bench/uv_run_bench.c: W1 and W9 only; -H for W9's heartbeat.
local function uv_run_client(id, label, family, bin)
  return {
    id = id, label = label, family = family,
    cmd = function(c)
      if c.w ~= "W1" and c.w ~= "W9" then return nil end
      local a = { BIN .. bin, "-n", c.n, "-c", c.c }
      if c.hb then a[#a + 1] = "-H"; a[#a + 1] = c.hb end
      for _, u in ipairs(c.urls) do a[#a + 1] = q(u) end
      return table.concat(a, " ")
    end,
    parse = function(out) return parse_kv(out) end,
  }
end

-- wrk: requests from its report, CPU from pstat (utime+stime of the exited
-- process; /proc/PID/stat gives the same at tick resolution).
local function wrk_client()
  return {
    id = "wrk", label = "wrk -t1 -c64 (floor)", family = "floor",
    cmd = function(c)
      if not c.wrk or not HAVE_WRK then return nil end
      return string.format("wrk -t1 -c64 -d%ds %s", c.wrk_d, q(c.urls[1]))
    end,
    parse = function(out)
      local _, ps = parse_kv(out)
      local n = tonumber(out:match("(%d+) requests in"))
      if not n then return nil, ps end
      local bad = tonumber(out:match("Non%-2xx or 3xx responses: (%d+)")) or 0
      local errs = 0
      for v in (out:match("Socket errors:([^\n]*)") or ""):gmatch("(%d+)") do
        errs = errs + tonumber(v)
      end
      return { requests = n, ok = n - bad - errs, cpu_s = ps.cpu_s,
               user_s = ps.user_s, wall_s = ps.wall_s, whole_process = true }, ps
    end,
  }
end

local CLIENTS = {
  c_client("xfer-c-epoll", "xfer C: epoll + socket_action", "xfer", "xfer_c", "-e"),
  c_client("xfer-c-poll", "xfer C: perform + poll", "xfer", "xfer_c", "-p"),
  c_client("compat-uv", "curl_bench → xfer (compat): libuv + socket_action", "compat", "curl_bench-xfer", "-s"),
  c_client("compat-poll", "curl_bench → xfer (compat): perform + poll", "compat", "curl_bench-xfer", "-p"),
  c_client("curl-uv", "curl_bench → libcurl: libuv + socket_action", "libcurl", "curl_bench-curl", "-s"),
  c_client("curl-poll", "curl_bench → libcurl: perform + poll", "libcurl", "curl_bench-curl", "-p"),
  wrk_client(),
  -- libcurl's API on libuv as examples/multi-uv.c: uv_run(UV_RUN_DEFAULT)
  -- until it returns by itself (W1), and W9's heartbeat on the same loop.
  -- The libcurl build is a reference ("libcurl-ref"): not in the baseline.
  uv_run_client("uvrun-xfer", "uv_run_bench → xfer (compat): libuv, uv_run returns by itself", "compat", "uv_run_bench-xfer"),
  uv_run_client("uvrun-curl", "uv_run_bench → libcurl: libuv, uv_run returns by itself", "libcurl-ref", "uv_run_bench-curl"),
  -- No library: the least a keep-alive client can spend here (W1 only).
  { id = "raw-floor", label = "raw_floor.c: no library (kernel floor)", family = "raw",
    cmd = function(c)
      if c.w ~= "W1" then return nil end
      return BIN .. "raw_floor -n " .. c.n .. " -c " .. c.c .. " " .. q(c.urls[1])
    end,
    parse = function(out) return parse_kv(out) end },
}

-- xfer's Lua drivers (bench/lua_bench.lua): multi:run(), the luv driver
-- and fetch_all on Lua 5.4, and multi:run() on LuaJIT.  Family "xfer-lua":
-- ratios to libcurl are shown and judged against the Lua module's targets.
-- The script prints the C clients' line (CPU from its own getrusage: the
-- interpreter's start-up is outside the measured part).  It has no idle
-- style (W7) and fetch_all no queued one: it says so and exits 2, which
-- is taken as "does not run this case".
local HAVE_LUA
local function lua_client(id, label, interp, dir, driver)
  return {
    id = id, label = label, family = "xfer-lua",
    cmd = function(c)
      if c.mode == "idle" or (c.mode == "queue" and driver == "fetch_all") then return nil end
      if not HAVE_LUA[interp] then return nil end
      return "env LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH=" .. q(opt.build .. "/lua/" .. dir .. "/?.so;;") ..
             " " .. interp .. " bench/lua_bench.lua --driver " .. driver .. " " .. c_args(c)
    end,
    parse = function(out)
      return parse_kv(out)
    end,
  }
end
HAVE_LUA = {}
for _, l in ipairs { { "lua5.4", "5.4" }, { "luajit", "jit" } } do
  HAVE_LUA[l[1]] = exists(opt.build .. "/lua/" .. l[2] .. "/xfer/core.so") and
                   capture(l[1] .. " -e 'require(\"luv\")' && echo yes") == "yes"
end
CLIENTS[#CLIENTS + 1] = lua_client("lua-run", "xfer Lua 5.4: multi:run()", "lua5.4", "5.4", "run")
CLIENTS[#CLIENTS + 1] = lua_client("lua-luv", "xfer Lua 5.4: luv driver", "lua5.4", "5.4", "luv")
CLIENTS[#CLIENTS + 1] = lua_client("lua-fetch-all", "xfer Lua 5.4: fetch_all", "lua5.4", "5.4", "fetch_all")
CLIENTS[#CLIENTS + 1] = lua_client("luajit-run", "xfer LuaJIT: multi:run()", "luajit", "jit", "run")
local LUA_IDS = { "lua-run", "lua-luv", "lua-fetch-all", "luajit-run" }
local LUA_W2_BIG = { "lua-run", "lua-luv", "luajit-run" }
-- The Lua module's targets: CPU per request against libcurl's better style.
local LUA_TARGET = { ["lua-run"] = 0.55, ["luajit-run"] = 0.55, ["lua-luv"] = 0.8, ["lua-fetch-all"] = 0.65 }
-- W2's (issue #18), queued and windowed alike
local LUA_TARGET_W2 = { ["lua-run"] = 0.55, ["luajit-run"] = 0.55, ["lua-luv"] = 0.7, ["lua-fetch-all"] = 0.7 }

for _, cl in ipairs(H2.clients()) do CLIENTS[#CLIENTS + 1] = cl end -- h2load

local CLIENT_BY_ID = {}
for _, cl in ipairs(CLIENTS) do CLIENT_BY_ID[cl.id] = cl end
H2.init { capture = capture, must = must, q = q, fmt_int = fmt_int, fmt_num = fmt_num,
          parse_kv = parse_kv, NGINX = NGINX, NG = NG, BIN = BIN, Q = Q, opt = opt,
          client_by_id = CLIENT_BY_ID }

------------------------------------------------------------------------------
-- workloads: a list of cases (one group of rows each)
------------------------------------------------------------------------------
local C_ALL = { "xfer-c-epoll", "xfer-c-poll", "compat-uv", "compat-poll", "curl-uv", "curl-poll" }
local XFER_ALL = { "xfer-c-epoll", "xfer-c-poll", "compat-uv", "compat-poll" }
local function with(list, ...)
  local r = {}
  for _, v in ipairs(list) do r[#r + 1] = v end
  for _, l in ipairs { ... } do for _, v in ipairs(l) do r[#r + 1] = v end end
  return r
end
local function http(path, host) return "http://" .. (host or "127.0.0.1") .. ":" .. PORT .. "/" .. path end
local function https(path, host) return "https://" .. (host or "127.0.0.1") .. ":" .. SPORT .. "/" .. path end

local P = Q and {
  n1 = 10000, wrk_d = 1, w2 = { 5000, 10000 }, w2_curl_max = 5000,
  n3 = 5000, n4 = 200, n5 = 2000, n6 = 4, w7k = { 100, 1000, 3000 }, n7 = 2000, d7 = 1,
  st1 = 5000, n9 = 4, d9 = 2,
} or {
  n1 = 100000, wrk_d = 3, w2 = { 20000, 100000, 1000000 }, w2_curl_max = 100000,
  n3 = 50000, n4 = 2000, n5 = 20000, n6 = 20, w7k = { 100, 1000, 10000, K_MAX }, n7 = 20000, d7 = 3,
  st1 = 20000, n9 = 12, d9 = 5,
}

local function build_cases()
  local cases = {}
  local function add(c) cases[#cases + 1] = c end
  -- W1 keep-alive
  add { w = "W1", variant = string.format("%s × 1 KiB, 64 conns", fmt_int(P.n1)),
        mode = "win", n = P.n1, c = 64, urls = { http("1k.bin") },
        clients = with(C_ALL, { "uvrun-xfer", "uvrun-curl", "wrk", "raw-floor" }, LUA_IDS), wrk = true, wrk_d = P.wrk_d,
        -- best of 2 for the rows that the targets compare (not compat)
        reps = function(cl) return (Q or cl.family == "compat") and 1 or 2 end,
        strace = { n = P.st1 }, wrk_strace_d = 1 }
  -- W2 queue (and the same N windowed)
  for _, n in ipairs(P.w2) do
    local xc = n <= 100000 and XFER_ALL or { "xfer-c-epoll" }
    local curl = {}
    if n <= P.w2_curl_max then
      if n <= 20000 then curl = { "curl-uv", "curl-poll" }
      else curl = { "curl-best" } end -- the better style at the first N
    end
    local reps = (n <= 100000) and (Q and 1 or 2) or 1
    for _, mode in ipairs { "queue", "win" } do
      add { w = "W2", variant = string.format("%s N=%s, max 64 conns", mode == "queue" and "queued" or "windowed", fmt_int(n)),
            mode = mode, n = n, c = 64, urls = { http("1k.bin") }, w2n = n,
            -- Lua at 1,000,000 too (issue #18): its queued memory and
            -- page faults next to C's; fetch_all has no queued style
            clients = with(xc, curl, n <= 100000 and LUA_IDS or LUA_W2_BIG),
            reps = function(cl) return cl.family == "xfer" and reps or 1 end,
            best_by = "wall_s", -- the queued/windowed target is on time
            group = "W2-" .. n,
            -- queued only: the windowed style is W1's
            -- (and not libcurl's quadratic queue: 10 s a run under strace)
            strace = (not Q and n == 20000 and mode == "queue") and { n = 20000, skip_family = "libcurl" } or nil }
    end
  end
  -- W3 HTTPS keep-alive
  add { w = "W3", variant = string.format("%s × 1 KiB over TLS, 64 conns", fmt_int(P.n3)),
        mode = "win", n = P.n3, c = 64, tls = true, urls = { https("1k.bin") },
        clients = with(C_ALL, { "wrk" }, LUA_IDS), wrk = true, wrk_d = P.wrk_d,
        strace = { n = math.floor(P.n3 / 5) }, wrk_strace_d = 1 }
  -- W4 new HTTPS connection per transfer
  for _, sess in ipairs { 0, 1 } do
    add { w = "W4", variant = string.format("%s HTTPS conns, 16 at once, session cache %s", fmt_int(P.n4), sess == 1 and "on" or "off"),
          mode = "win", n = P.n4, c = 16, tls = true, forbid = true, sess = sess,
          urls = { https("1k.bin") }, rotate = true, clients = with(C_ALL, LUA_IDS),
          strace = { n = math.floor(P.n4 / 5) } }
  end
  -- W5 new HTTP connection per transfer
  add { w = "W5", variant = string.format("%s HTTP conns, 64 at once", fmt_int(P.n5)),
        mode = "win", n = P.n5, c = 64, forbid = true, urls = { http("1k.bin") },
        rotate = true, clients = with(C_ALL, LUA_IDS), strace = { n = math.floor(P.n5 / 5) } }
  -- W6 bulk
  add { w = "W6", variant = string.format("%d × 100 MiB, 4 at once", P.n6),
        mode = "win", n = P.n6, c = 4, urls = { http("100m.bin") },
        clients = with(C_ALL, LUA_IDS), strace = { n = 4 }, bulk = 100 * 1048576 }
  -- W6gz: W6 with gzip decoding (nginx's gzip_static, so the server does
  -- no compressing): decoded GB/s and CPU against libcurl's, both zlib
  add { w = "W6gz", variant = string.format("%d × 100 MiB of text, gzip 3.8:1, decoded, 4 at once", P.n6),
        mode = "win", n = P.n6, c = 4, gz = true, urls = { http("text100m.txt") },
        clients = C_ALL, bulk = 100 * 1048576 }
  -- W7 idle-connection scaling
  for _, k in ipairs(P.w7k) do
    local ndest = math.ceil(k / 20000)
    local urls = {}
    for _ = 1, ndest do urls[#urls + 1] = http("1k.bin") end
    add { w = "W7", variant = string.format("≤ %s sequential (≤ %d s), %s idle conns", fmt_int(P.n7), P.d7, fmt_int(k)),
          mode = "idle", n = P.n7, c = 256, k = k, urls = urls, rotate = true, w7k = k,
          dlimit = P.d7, clients = with(C_ALL, LUA_IDS),
          -- strace at 1,000 idle only: tracing the opening of 19,000
          -- connections takes minutes
          strace = (not Q and k == 1000) and { n = 1000, diff = true } or nil }
  end
  -- W9 latency under bulk: a 1 ms heartbeat on the client's own loop
  -- while 4 transfers of 100 MiB run (the nginx worker's row: run_w9_ngx)
  add { w = "W9", variant = string.format("1 ms heartbeat, %d × 100 MiB, 4 at once", P.n9),
        mode = "win", n = P.n9, c = 4, hb = 1, urls = { http("100m.bin") },
        clients = { "uvrun-xfer", "uvrun-curl", "lua-luv", "lua-run", "luajit-run" },
        bulk = 100 * 1048576 }
  -- W12 crawler: 4,000 URLs over 5 hosts (127.0.0.1-5, in turn) queued at
  -- once under 16 connections in all and 4 per host: how many
  -- connections each library opens for them (NUM_CONNECTS summed)
  do
    local urls = {}
    for i = 1, 5 do urls[i] = http("1k.bin", "127.0.0." .. i) end
    add { w = "W12", variant = "crawler: 4,000 URLs over 5 hosts, max 16 conns, 4 per host",
          mode = "queue", n = 4000, c = 16, hostmax = 4, urls = urls, w12 = true,
          clients = C_ALL }
  end
  -- W10, W11: HTTP/2 (bench/h2.lua)
  for _, c in ipairs(H2.cases(HPORT)) do add(c) end
  local r = {}
  for _, c in ipairs(cases) do
    if not opt.only or opt.only[c.w:upper()] then r[#r + 1] = c end
  end
  return r
end

------------------------------------------------------------------------------
-- running
------------------------------------------------------------------------------
local RAW = TMP .. "/raw"
run("mkdir -p " .. q(RAW))
local raw_n = 0
local failures = {}

local function rotated(c)
  if not c.rotate then return c end
  local urls = {}
  for i, u in ipairs(c.urls) do urls[i] = u:gsub("127%.0%.0%.%d+", next_addr()) end
  return copy(c, { urls = urls })
end

-- One run of client cl on case c; returns the record (or nil) and output.
local function run_once(cl, c, timeout)
  local cmd = cl.cmd(rotated(c))
  if not cmd then return nil end
  local full = string.format("%s -t %d -- %s", PSTAT, timeout or 600, cmd)
  local out = run(full)
  raw_n = raw_n + 1
  write_file(string.format("%s/%03d-%s-%s.txt", RAW, raw_n, c.w, cl.id), full .. "\n" .. out)
  local rec, ps = cl.parse(out, c)
  ps = ps or {}
  if rec then
    rec.maxrss_kb = ps.maxrss_kb
    rec.minflt = ps.minflt
    rec.status = ps.status
    rec.ps_cpu_s = ps.cpu_s
  end
  return rec, out, full
end

local function resolve_clients(c, results)
  local ids = {}
  for _, id in ipairs(c.clients) do
    if id == "curl-best" then
      -- The better libcurl style at the first W2 N (queued rows).
      local best, bcpu
      for _, r in ipairs(results) do
        if r.case.w == "W2" and r.case.mode == "queue" and r.client.family == "libcurl" and r.rec and r.rec.cpu_s then
          local v = r.rec.cpu_s / r.rec.requests
          if not bcpu or v < bcpu then best, bcpu = r.client.id, v end
        end
      end
      ids[#ids + 1] = best or "curl-poll"
    elseif CLIENT_BY_ID[id] then
      ids[#ids + 1] = id
    end
  end
  return ids
end

-- Runs a group of cases (usually one; W2 pairs queued with windowed) client
-- by client, interleaving the group's cases within each repetition so that
-- the cases of a pair see the same machine load.  Keeps each (case,
-- client)'s best repetition (by c.best_by, default cpu_s).
local function finish(c, cl, best, out, cmd, results)
  local r = { case = c, client = cl, rec = best }
  -- wrk runs for a time, and W7's sequential phase may stop at its
  -- time limit: their own request count is the expected one.
  local expect = (cl.family == "floor" or c.mode == "idle") and (best and best.requests) or c.n
  if not best or best.status ~= 0 or (best.ok or 0) ~= expect then
    r.failed = true
    failures[#failures + 1] = { case = c, client = cl, cmd = cmd,
                                tail = (out or ""):sub(-1500) }
  end
  results[#results + 1] = r
  if best then
    log("%s %-14s %-44s ok=%s/%s cpu=%sus/req wall=%ss", c.w, cl.id, c.variant,
        tostring(best.ok), tostring(expect),
        fmt_num(best.cpu_s and best.cpu_s * 1e6 / math.max(best.requests, 1), 2),
        fmt_num(best.wall_s, 3))
  else
    log("%s %-14s %-44s FAILED (no result line)", c.w, cl.id, c.variant)
  end
end

local function run_group(group, results)
  local ids, seen, per_case = {}, {}, {}
  for i, c in ipairs(group) do
    per_case[i] = {}
    for _, id in ipairs(resolve_clients(c, results)) do
      per_case[i][id] = {}
      if not seen[id] then seen[id] = true; ids[#ids + 1] = id end
    end
  end
  for _, id in ipairs(ids) do
    local cl = CLIENT_BY_ID[id]
    local reps = 1
    for _, c in ipairs(group) do
      local r = type(c.reps) == "function" and c.reps(cl) or c.reps or 1
      if r > reps then reps = r end
    end
    for rep = 1, reps do
      for i, c in ipairs(group) do
        local st = per_case[i][id]
        local creps = type(c.reps) == "function" and c.reps(cl) or c.reps or 1
        if st and not st.skip and not st.stop and rep <= creps then
          local rec, o, full = run_once(cl, c)
          if rec == nil and o == nil then
            st.skip = true -- the client does not run this case
          else
            local key = c.best_by or "cpu_s"
            if rec and (not st.best or (rec[key] or 1e9) < (st.best[key] or 1e9)) then st.best = rec end
            st.out, st.cmd = o, full
            if not rec then st.stop = true end
          end
        end
      end
    end
  end
  -- Rows in case order, then client order.
  for i, c in ipairs(group) do
    for _, id in ipairs(ids) do
      local st = per_case[i][id]
      if st and st.out then finish(c, CLIENT_BY_ID[id], st.best, st.out, st.cmd, results) end
    end
  end
end

-- strace -c -f: total syscall count of one run.
local function strace_count(cl, c)
  local cmd = cl.cmd(rotated(c))
  if not cmd then return nil end
  raw_n = raw_n + 1
  local file = string.format("%s/%03d-strace-%s-%s.txt", RAW, raw_n, c.w, cl.id)
  local out = run(string.format("%s -t 600 -- strace -c -f -o %s -- %s", PSTAT, q(file), cmd))
  local rec = cl.parse(out, c)
  local f = io.open(file, "r")
  if not f or not rec then return nil end
  local total
  for line in f:lines() do
    if line:match("%stotal%s*$") then
      local fields = {}
      for x in line:gmatch("%S+") do fields[#fields + 1] = x end
      total = tonumber(fields[4])
    end
  end
  f:close()
  return total, rec.requests
end

local function strace_pass(results)
  for _, r in ipairs(results) do
    local c = r.case
    local skip = c.strace and c.strace.skip_family == r.client.family
    -- QUICK: only the rows whose syscalls a target judges (xfer's own C
    -- drivers) and libcurl's beside them, to stay under a minute
    if Q and r.client.family ~= "xfer" and r.client.family ~= "libcurl" then
      skip = true
    end
    if skip then
      -- not traced (too slow under strace)
    elseif c.strace and not r.failed and r.client.family ~= "floor" or
       (c.strace and r.client.family == "floor" and c.wrk_strace_d and not r.failed) then
      local sc
      if r.client.family == "floor" then
        sc = copy(c, { wrk_d = c.wrk_strace_d })
      else
        sc = copy(c, { n = c.strace.n, dlimit = c.dlimit and 30 })
      end
      local s1, n1 = strace_count(r.client, sc)
      if s1 and n1 and n1 > 0 then
        if c.strace.diff then
          -- Twice the requests: the difference is the per-request cost,
          -- without the setup (opening the K idle connections).
          local s2, n2 = strace_count(r.client, copy(sc, { n = sc.n * 2 }))
          if s2 and n2 and n2 > n1 then
            r.syscalls = (s2 - s1) / (n2 - n1)
          end
        else
          r.syscalls = s1 / n1
        end
        log("strace %s %-14s %-44s %s syscalls/req", c.w, r.client.id, c.variant, fmt_num(r.syscalls, 2))
      end
    end
  end
end

------------------------------------------------------------------------------
-- W8: OpenResty fan-out.  A second nginx (bench/ngx_fanout.conf: one
-- worker, the Lua module and xfer's nginx module) answers each client
-- request with 10 keep-alive GETs of /1k.bin to the bench nginx above,
-- through xfer.ngx's fetch_all or through ngx.socket.tcp cosockets in 10
-- light threads.  wrk drives it; the CPU is the fan-out worker's
-- utime+stime from /proc/PID/stat before and after each measured run.
------------------------------------------------------------------------------
local W8_NOTE, W8_DETAIL -- why W8 did not run (printed in the results)
local W8_INFO -- a line for the environment list
local FAN = { prefix = TMP .. "/fanout" }
local NGX_MODDIR = os.getenv("NGX_MODULES_DIR") or "/usr/lib/nginx/modules"
local CLK_TCK = tonumber(capture("getconf CLK_TCK")) or 100
local W8_CLIENTS = {
  xfer = { id = "ngx-xfer", label = "xfer.ngx fetch_all", family = "ngx-xfer", path = "/fanout/xfer" },
  -- W8-h2: the upstream on h2c (bench/ngx_fanout.conf)
  xfer_h2 = { id = "ngx-xfer-h2", label = "xfer.ngx fetch_all, upstream h2c", family = "ngx-xfer-h2",
              path = "/fanout/xfer-h2" },
  cosocket = { id = "ngx-cosocket", label = "ngx.socket.tcp cosockets", family = "ngx-cosocket", path = "/fanout/cosocket" },
}

local function abspath(p)
  if p:sub(1, 1) == "/" then return p end
  return capture("pwd") .. "/" .. p
end

-- An HTTP/1.0 GET with bash's /dev/tcp (no curl needed): the body or nil.
local function http_get(port, path)
  local out, ok = run("timeout 10 bash -c " .. q("exec 3<>/dev/tcp/127.0.0.1/" .. port ..
    " && printf 'GET " .. path .. " HTTP/1.0\\r\\nHost: 127.0.0.1\\r\\n\\r\\n' >&3 && cat <&3"))
  if not ok or not out:match("^HTTP/1%.%d 200") then return nil, out end
  return out:match("\r\n\r\n(.*)$")
end

-- utime and stime of a process, in clock ticks; and its VmHWM (KiB).
local function proc_cpu(pid)
  local f = io.open("/proc/" .. pid .. "/stat", "r")
  if not f then return nil end
  local st = f:read("a")
  f:close()
  local fields = {}
  for x in st:match(".*%) (.*)$"):gmatch("%S+") do fields[#fields + 1] = x end
  -- fields[1] is field 3 (state): utime is field 14, stime field 15
  return tonumber(fields[12]), tonumber(fields[13])
end

local function proc_hwm(pid)
  local f = io.open("/proc/" .. pid .. "/status", "r")
  if not f then return nil end
  local hwm = f:read("a"):match("VmHWM:%s*(%d+)")
  f:close()
  return tonumber(hwm)
end

-- Involuntary context switches of a process: how often the scheduler took
-- the CPU from it (W9: a worker preempted cannot answer a ping either).
local function proc_nivcsw(pid)
  local f = io.open("/proc/" .. pid .. "/status", "r")
  if not f then return nil end
  local n = f:read("a"):match("nonvoluntary_ctxt_switches:%s*(%d+)")
  f:close()
  return tonumber(n)
end

local function fan_log_tail()
  return capture("tail -n 5 " .. q(FAN.prefix .. "/logs/error.log"))
end

-- Why W8 cannot run here, or nil.
local function w8_missing()
  if not HAVE_WRK then return "wrk is missing" end
  for _, m in ipairs { "ndk_http_module.so", "ngx_http_lua_module.so" } do
    if not exists(NGX_MODDIR .. "/" .. m) then
      return NGX_MODDIR .. "/" .. m .. " is missing (apt-get install libnginx-mod-http-lua)"
    end
  end
  if not exists(FAN.module) then
    return FAN.module .. " is missing (make ngx-module; `make bench` builds it)"
  end
  if not exists(HERE .. "/ngx_fanout.conf") then
    return HERE .. "/ngx_fanout.conf is missing"
  end
end

local function start_fanout(upstream_host)
  must("mkdir -p " .. q(FAN.prefix .. "/logs") .. " " .. q(FAN.prefix .. "/temp"))
  local f = assert(io.open(HERE .. "/ngx_fanout.conf", "r"))
  local tmpl = f:read("a")
  f:close()
  for _ = 1, 8 do
    local port
    repeat port = math.random(20000, 31000) until port ~= PORT and port ~= SPORT and port ~= HPORT
    local vars = {
      PREFIX = FAN.prefix, MODDIR = NGX_MODDIR, MODULE = FAN.module,
      TOP = FAN.top, PORT = port, UPSTREAM_HOST = upstream_host,
      UPSTREAM_PORT = PORT,
      UPSTREAM_URL = "http://" .. upstream_host .. ":" .. PORT .. "/1k.bin",
      -- the h2 listener's cleartext port (bench/h2.lua), 127.0.0.1 only
      UPSTREAM_H2C_URL = HPORT and ("http://127.0.0.1:" .. (HPORT + 1) .. "/1k.bin") or "",
      -- W9's bulk: 4 × 100 MiB streamed
      BULK_N = 4, BULK_URL = "http://" .. upstream_host .. ":" .. PORT .. "/100m.bin",
    }
    local conf = tmpl:gsub("@([%u%d_]+)@", function(k) return vars[k] and tostring(vars[k]) end)
    write_file(FAN.prefix .. "/nginx.conf", conf)
    write_file(FAN.prefix .. "/logs/error.log", "")
    local out, ok = run(NGINX .. " -e " .. q(FAN.prefix .. "/logs/error.log") ..
                        " -p " .. q(FAN.prefix) .. " -c " .. q(FAN.prefix .. "/nginx.conf"))
    if ok then
      FAN.started = true
      for _ = 1, 50 do
        local pid = http_get(port, "/pid")
        pid = pid and tonumber(pid:match("%d+"))
        if pid then
          FAN.port, FAN.pid = port, pid
          return true
        end
        run("sleep 0.1")
      end
      return nil, "the fan-out nginx did not answer within 5 s:\n" .. fan_log_tail()
    end
    local elog = fan_log_tail()
    if not (out .. elog):find("bind") then
      return nil, "the fan-out nginx did not start:\n" .. out .. elog
    end
  end
  return nil, "the fan-out nginx: no free port after 8 tries"
end

local function stop_fanout()
  if not FAN.started then return end
  FAN.started = false
  stop_nginx_in(FAN.prefix)
end

-- One wrk run against a fan-out location; the worker's CPU around it.
local function w8_run(cl, secs, measured)
  local cmd = string.format("wrk -t1 -c50 -d%ds %s", secs,
                            q("http://127.0.0.1:" .. FAN.port .. cl.path))
  local full = string.format("%s -t %d -- %s", PSTAT, secs + 60, cmd)
  local u0, s0 = proc_cpu(FAN.pid)
  local uu0, us0 = proc_cpu(FAN.upstream_pid or 0)
  local out = run(full)
  local u1, s1 = proc_cpu(FAN.pid)
  local uu1, us1 = proc_cpu(FAN.upstream_pid or 0)
  raw_n = raw_n + 1
  write_file(string.format("%s/%03d-W8-%s%s.txt", RAW, raw_n, cl.id, measured and "" or "-warmup"),
             full .. "\n" .. out)
  local n = tonumber(out:match("(%d+) requests in"))
  local t, unit = out:match("requests in ([%d.]+)(%a+)")
  local wall = tonumber(t)
  if wall and unit == "ms" then wall = wall / 1000 elseif wall and unit == "m" then wall = wall * 60 end
  local bad = tonumber(out:match("Non%-2xx or 3xx responses: (%d+)")) or 0
  local errs = 0
  for v in (out:match("Socket errors:([^\n]*)") or ""):gmatch("(%d+)") do errs = errs + tonumber(v) end
  local rec
  if n and wall and u0 and u1 then
    rec = { requests = n, ok = n - bad - errs, non2xx = bad, errors = errs, wall_s = wall,
            cpu_s = ((u1 - u0) + (s1 - s0)) / CLK_TCK, user_s = (u1 - u0) / CLK_TCK,
            ticks = (u1 - u0) + (s1 - s0), maxrss_kb = proc_hwm(FAN.pid),
            latency = out:match("Latency%s+(%S+)") }
    if uu0 and uu1 then rec.up_cpu_s = ((uu1 - uu0) + (us1 - us0)) / CLK_TCK end
  end
  return rec, out, full
end

local function run_w8(results)
  FAN.module = abspath(opt.build) .. "/ngx/ngx_http_xfer_module.so"
  FAN.top = abspath(HERE .. "/..")
  local why = w8_missing()
  if why then
    W8_NOTE = "W8 (OpenResty fan-out) skipped: " .. why .. "."
    log("%s", W8_NOTE)
    return
  end
  local upstream = next_addr()
  -- the upstream nginx's worker (its CPU goes into the notes)
  local master = capture("cat " .. q(NG .. "/nginx.pid"))
  FAN.upstream_pid = tonumber(capture("cat /proc/" .. master .. "/task/" .. master .. "/children"):match("%d+"))
  local ok, err = start_fanout(upstream)
  if not ok then
    W8_NOTE = "W8 (OpenResty fan-out) skipped: " .. err:match("^[^\n]*")
    W8_DETAIL = err:match("\n(.*)$")
    log("%s\n%s", W8_NOTE, W8_DETAIL or "")
    return
  end
  local secs, rounds = Q and 1 or 5, 2
  local case = { w = "W8", mode = "fanout",
                 variant = string.format("10 GETs of 1 KiB per client request, wrk -t1 -c50 -d%ds, ≤ 64 upstream conns", secs) }
  W8_INFO = string.format("W8's fan-out host: a second nginx (worker_processes 1, worker_connections 4096, the Lua module %s + xfer's module) on 127.0.0.1:%d; upstream: the nginx above at %s:%d",
    capture("dpkg-query -W -f='${Version}' libnginx-mod-http-lua"), FAN.port, upstream, PORT)
  log("W8 fan-out nginx on 127.0.0.1:%d (worker %d), upstream %s:%d", FAN.port, FAN.pid, upstream, PORT)
  local order = { W8_CLIENTS.xfer, W8_CLIENTS.cosocket }
  if HPORT then table.insert(order, 2, W8_CLIENTS.xfer_h2) end
  local st = {}
  for _, cl in ipairs(order) do st[cl.id] = { runs = {} } end
  -- one request each: 200 and the 10 bodies' bytes (10 × 1,024)
  for _, cl in ipairs(order) do
    local body, out = http_get(FAN.port, cl.path)
    if not body or body:match("^%s*(%d+)") ~= "10240" then
      st[cl.id].failed = true
      st[cl.id].fail_out = "GET " .. cl.path .. ": expected 200 and 10240, got:\n" ..
                           (body or out or ""):sub(1, 500) .. "\n--- fan-out error.log:\n" .. fan_log_tail()
    end
  end
  -- warm-up: the JIT, both connection pools
  for _, cl in ipairs(order) do w8_run(cl, 1, false) end
  for _ = 1, rounds do
    for _, cl in ipairs(order) do
      local s = st[cl.id]
      local rec, out, full = w8_run(cl, secs, true)
      local bad = not rec or rec.ok ~= rec.requests or rec.requests == 0
      if bad then
        s.failed = true
        s.fail_out = (s.fail_out and s.fail_out .. "\n" or "") .. (full .. "\n" .. (out or "")):sub(-1500) ..
                     "\n--- fan-out error.log:\n" .. fan_log_tail()
      end
      if rec then
        rec.rps = rec.requests / rec.wall_s
        s.runs[#s.runs + 1] = rec
        if not s.best or rec.rps > s.best.rps then s.best = rec end
        log("W8 %-14s %d req in %ss (%s req/s, latency avg %s), non-2xx %d, errors %d, worker %d ticks: %s µs/req (%s%% of a core); upstream worker %s%% of a core",
            cl.id, rec.requests, fmt_num(rec.wall_s, 2), fmt_int(rec.rps), tostring(rec.latency), rec.non2xx, rec.errors,
            rec.ticks, fmt_num(rec.cpu_s * 1e6 / math.max(rec.requests, 1), 1), fmt_num(100 * rec.cpu_s / rec.wall_s, 0),
            rec.up_cpu_s and fmt_num(100 * rec.up_cpu_s / rec.wall_s, 0) or "?")
      else
        log("W8 %-14s FAILED (no wrk report)", cl.id)
      end
    end
  end
  -- the same worker all along (a crashed worker would have been replaced)
  local pid_now = http_get(FAN.port, "/pid")
  pid_now = pid_now and tonumber(pid_now:match("%d+"))
  for _, cl in ipairs(order) do
    local s = st[cl.id]
    if pid_now ~= FAN.pid then
      s.failed = true
      s.fail_out = (s.fail_out or "") .. "\nthe fan-out worker " .. FAN.pid .. " was replaced by " ..
                   tostring(pid_now) .. "\n" .. fan_log_tail()
    end
    local r = { case = case, client = cl, rec = s.best, runs = s.runs, failed = s.failed }
    if s.best then s.best.status = 0 end
    if s.failed then
      failures[#failures + 1] = { case = case, client = cl, cmd = "", tail = s.fail_out or "" }
    end
    results[#results + 1] = r
  end
  stop_fanout()
end

------------------------------------------------------------------------------
-- W9's nginx row: latency under bulk in an nginx worker.  The fan-out host
-- above (bench/ngx_fanout.conf) answers /ping itself (no Lua) and fetches
-- 4 × 100 MiB from the bench nginx at /bulk/xfer (xfer.ngx streams).  A
-- background loop of /bulk/xfer requests keeps the bulk going while
-- `wrk -t1 -c1 --latency` measures /ping: one ping at a time, so each
-- ping's latency is how long the worker's event loop took to come round.
------------------------------------------------------------------------------
local W9_NOTE, W9_DETAIL

-- wrk's latency figures (ms): avg, max, p50, p99; and the request count.
local function wrk_ms(v, unit)
  v = tonumber(v)
  if not v then return nil end
  return unit == "us" and v / 1000 or unit == "s" and v * 1000 or unit == "m" and v * 60000 or v
end
local function wrk_latency(out)
  local r = { n = tonumber(out:match("(%d+) requests in")) }
  local a, au, _, _, m, mu = out:match("Latency%s+([%d.]+)(%a+)%s+([%d.]+)(%a+)%s+([%d.]+)(%a+)")
  r.avg, r.max = wrk_ms(a, au), wrk_ms(m, mu)
  r.p50 = wrk_ms(out:match("\n%s*50%%%s+([%d.]+)(%a+)"))
  r.p99 = wrk_ms(out:match("\n%s*99%%%s+([%d.]+)(%a+)"))
  r.bad = (tonumber(out:match("Non%-2xx or 3xx responses: (%d+)")) or 0)
  for v in (out:match("Socket errors:([^\n]*)") or ""):gmatch("(%d+)") do r.bad = r.bad + tonumber(v) end
  return r
end

local function run_w9_ngx(results)
  FAN.module = abspath(opt.build) .. "/ngx/ngx_http_xfer_module.so"
  FAN.top = abspath(HERE .. "/..")
  local why = w8_missing()
  if why then
    W9_NOTE = "W9's nginx row skipped: " .. why .. "."
    log("%s", W9_NOTE)
    return
  end
  local upstream = next_addr()
  local ok, err = start_fanout(upstream)
  if not ok then
    W9_NOTE = "W9's nginx row skipped: " .. err:match("^[^\n]*")
    W9_DETAIL = err:match("\n(.*)$")
    return
  end
  local BULK = 4 * 100 * 1048576
  local secs = P.d9
  local cl = { id = "ngx-w9", label = "nginx worker: /ping (wrk -t1 -c1) while xfer.ngx streams", family = "ngx-w9" }
  local case = { w = "W9", mode = "ngx",
                 variant = string.format("/ping latency, %d s, while 4 × 100 MiB stream (request{stream=true}) in a loop", secs) }
  local r = { case = case, client = cl }
  local fail_out
  -- once: the bulk answers 4 × 100 MiB, and one more copy of a body timed
  local body, bout = http_get(FAN.port, "/bulk/xfer?copy=1")
  local got, copy_ms = (body or ""):match("^(%d+) ([%d.%-e]+)")
  if got ~= tostring(BULK) then
    fail_out = "GET /bulk/xfer: expected 200 and " .. BULK .. ", got:\n" .. (body or bout or ""):sub(1, 500) ..
               "\n--- fan-out error.log:\n" .. fan_log_tail()
  end
  -- the idle worker's ping latency, for reference (and wrk's warm-up)
  local base = wrk_latency(run(string.format("%s -t 60 -- wrk -t1 -c1 -d1s --latency %s", PSTAT,
                                                q("http://127.0.0.1:" .. FAN.port .. "/ping"))))
  -- the bulk loop in the background
  local stopf, blog, pidf = TMP .. "/w9-stop", TMP .. "/w9-bulk.log", TMP .. "/w9-bulk.pid"
  write_file(TMP .. "/w9-bulk.sh", string.format([[
echo $$ > %s
while [ ! -e %s ]; do
  s=$(date +%%s.%%N)
  r=$(timeout 120 bash -c 'exec 3<>/dev/tcp/127.0.0.1/%d && printf "GET /bulk/xfer HTTP/1.0
Host: 127.0.0.1

" >&3 && cat <&3' | tail -n 1)
  echo "$s $(date +%%s.%%N) $r" >> %s
done
]], q(pidf), q(stopf), FAN.port, q(blog)))
  run("rm -f " .. q(stopf) .. " " .. q(blog) .. "; bash " .. q(TMP .. "/w9-bulk.sh") .. " >/dev/null 2>&1 &")
  run("sleep 0.3")
  -- The upstream that sends the bulk would be another machine; here it
  -- shares the bench machine's cores with the worker and wrk.  At nice 10
  -- it yields to them, so the pings measure the worker's loop, not the
  -- scheduler's slices (XFER_BENCH_W9_NICE=0 keeps it at the same nice).
  local up_nice = tonumber(os.getenv("XFER_BENCH_W9_NICE") or "10")
  local up_pids = capture("pgrep -P $(cat " .. q(NG .. "/nginx.pid") .. ") | tr '\n' ' '")
  if up_nice ~= 0 and up_pids ~= "" then run("renice -n " .. up_nice .. " -p " .. up_pids .. " >/dev/null") end
  local u0, s0 = proc_cpu(FAN.pid)
  local iv0 = proc_nivcsw(FAN.pid)
  local full = string.format("%s -t %d -- wrk -t1 -c1 -d%ds --latency %s", PSTAT, secs + 60, secs,
                             q("http://127.0.0.1:" .. FAN.port .. "/ping"))
  local wout = run(full)
  local iv1 = proc_nivcsw(FAN.pid)
  -- the longest xfer event in the worker (the module's stats): how long
  -- xfer itself held the loop, apart from preemption and Lua
  local amax = tonumber((http_get(FAN.port, "/xfer-action-max") or ""):match("(%-?%d+)"))
  run("touch " .. q(stopf))
  local bpid = capture("cat " .. q(pidf))
  for _ = 1, 1200 do
    if bpid == "" or not select(2, run("kill -0 " .. bpid)) then break end
    run("sleep 0.1")
  end
  if up_nice ~= 0 and up_pids ~= "" then run("renice -n 0 -p " .. up_pids .. " >/dev/null") end
  local u1, s1 = proc_cpu(FAN.pid)
  raw_n = raw_n + 1
  local blines = capture("cat " .. q(blog))
  write_file(string.format("%s/%03d-W9-ngx.txt", RAW, raw_n), full .. "\n" .. wout .. "\n--- bulk loop:\n" .. blines)
  local rounds, good, secs_bulk = 0, 0, 0
  for line in blines:gmatch("[^\n]+") do
    local t0, t1, n = line:match("^(%S+) (%S+) (%d*)")
    rounds = rounds + 1
    if n == tostring(BULK) then
      good = good + 1
      secs_bulk = secs_bulk + (tonumber(t1) - tonumber(t0))
    end
  end
  local L = wrk_latency(wout)
  if not L.n or not L.max or L.bad > 0 or good ~= rounds or rounds == 0 then
    fail_out = (fail_out and fail_out .. "\n" or "") .. (full .. "\n" .. wout):sub(-1500) ..
               "\n--- bulk loop (start end bytes):\n" .. blines:sub(-600) .. "\n--- fan-out error.log:\n" .. fan_log_tail()
  end
  case.n = 4 * rounds
  r.rec = { requests = 4 * rounds, ok = 4 * good, bytes = good * BULK, wall_s = secs_bulk > 0 and secs_bulk or nil,
            cpu_s = u1 and ((u1 - u0) + (s1 - s0)) / CLK_TCK, user_s = u1 and (u1 - u0) / CLK_TCK,
            maxrss_kb = proc_hwm(FAN.pid), status = 0, hb_kind = "ping", hb_n = L.n,
            hb_max_ms = L.max, hb_p99_ms = L.p99, hb_p50_ms = L.p50,
            base = base, copy_ms = tonumber(copy_ms), pings = L.n, upstream_nice = up_nice,
            worker_nivcsw = iv0 and iv1 and iv1 - iv0,
            action_max_ms = amax and amax >= 0 and amax / 1000 or nil }
  if fail_out then
    r.failed = true
    failures[#failures + 1] = { case = case, client = cl, cmd = full, tail = fail_out }
  end
  log("W9 ngx-w9 /ping: %s pings, p50 %s ms, p99 %s ms, max %s ms (idle worker: p99 %s, max %s ms); bulk %d rounds ok of %d",
      tostring(L.n), fmt_num(L.p50, 3), fmt_num(L.p99, 3), fmt_num(L.max, 3), fmt_num(base.p99, 3), fmt_num(base.max, 3), good, rounds)
  results[#results + 1] = r
  stop_fanout()
end

------------------------------------------------------------------------------
-- derived metrics, ratios, targets
------------------------------------------------------------------------------
-- W7 (idle mode): the cheapest eighth of the sequential phase, which the
-- C clients report (chunk_min_cpu_us), when there was a full quarter.
local function cpu_req(r)
  if not r.rec or not r.rec.cpu_s or not r.rec.requests or r.rec.requests == 0 then return nil end
  if r.case.mode == "idle" and (r.rec.chunk_min_cpu_us or -1) > 0 then
    return r.rec.chunk_min_cpu_us, r.rec.cpu_s * 1e6 / r.rec.requests
  end
  return r.rec.cpu_s * 1e6 / r.rec.requests
end

local function case_key(c) return c.w .. "|" .. c.variant end

local function compute(results)
  -- libcurl's better style per case (CPU per request), and wrk per case.
  local lbest, wrk = {}, {}
  for _, r in ipairs(results) do
    local v = cpu_req(r)
    if v and not r.failed then
      local k = case_key(r.case)
      if r.client.family == "libcurl" and (not lbest[k] or v < lbest[k].cpu) then
        lbest[k] = { cpu = v, r = r }
      elseif r.client.family == "floor" then
        wrk[k] = v
      end
    end
  end
  for _, r in ipairs(results) do
    local k = case_key(r.case)
    local v = cpu_req(r)
    r.cpu_req = v
    if v and lbest[k] then r.ratio = v / lbest[k].cpu end
    if v and wrk[k] then r.vs_wrk = v / wrk[k] end
    if r.rec then
      if r.rec.user_s and r.rec.requests > 0 then r.user_req = r.rec.user_s * 1e6 / r.rec.requests end
      r.rps = r.rec.requests / r.rec.wall_s
      if r.rec.sockcb_warm and r.rec.warm_requests and r.rec.warm_requests > 0 then
        r.sockcb_req = r.rec.sockcb_warm / r.rec.warm_requests
      end
    end
  end
  return lbest
end

-- Returns the list of target verdicts and annotates rows (r.target, r.note).
local FLOOR -- W1's raw floor: its CPU and its ratio to libcurl
local function judge(results, lbest)
  local T = {}
  -- name: the full text for the list; the row's target column gets the
  -- short form: the part before " (" without the workload prefix.
  local function add(name, ok, detail, r)
    T[#T + 1] = { name = name, ok = ok, detail = detail }
    if r then
      local short = name:gsub("^W%d+ ", ""):gsub(" %(.*$", ""):gsub(", N=[%d,]+", "")
      r.target = (r.target and (r.target .. "<br>") or "") .. (ok and "✅ " or "❌ ") .. short
    end
  end
  local by = {}
  for _, r in ipairs(results) do
    by[case_key(r.case)] = by[case_key(r.case)] or {}
    by[case_key(r.case)][r.client.id] = r
  end
  for _, r in ipairs(results) do
    local c = r.case
    -- notes
    if c.w == "W2" and c.mode == "queue" and r.rec and r.rec.rss0_kb and r.rec.hwm_kb then
      local total = (r.rec.hwm_kb - r.rec.rss0_kb) * 1024 / c.n
      local beyond = (r.rec.hwm_kb - r.rec.rss1_kb) * 1024 / c.n
      local easy = (r.rec.rss1_kb - r.rec.rss0_kb) * 1024 / c.n
      r.mem_beyond = beyond
      r.mem_total = total
      r.note = string.format("mem/transfer %s B = easy+options %s B + queued %s B", fmt_int(total), fmt_int(easy), fmt_int(beyond))
      if r.rec.minflt then
        r.note = r.note .. string.format("; %s page faults/transfer", fmt_num(r.rec.minflt / c.n, 2))
      end
      local wk = "W2|" .. c.variant:gsub("^queued", "windowed")
      local w = by[wk] and by[wk][r.client.id]
      if w and w.rec and r.rec.cpu_s and w.rec.cpu_s then
        r.q_cpu = r.rec.cpu_s / w.rec.cpu_s
        r.q_wall = r.rec.wall_s / w.rec.wall_s
        r.note = r.note .. string.format("; queued/windowed: wall %s×, CPU %s× (%s× without making the N handles)",
          fmt_num(r.q_wall), fmt_num(r.q_cpu), fmt_num((r.rec.cpu_s - (r.rec.setup_cpu_s or 0)) / w.rec.cpu_s))
      end
    elseif c.w12 and r.rec and r.rec.connects then
      r.connects = r.rec.connects
      r.note = string.format("%s connections opened", fmt_int(r.rec.connects))
    elseif c.w == "W4" and r.cpu_req then
      r.note = string.format("CPU/handshake %s µs", fmt_num(r.cpu_req, 0))
    elseif (c.w == "W6" or c.w == "W6gz") and r.rec and r.rec.wall_s and r.rec.bytes then
      local gb = r.rec.bytes / 1e9
      r.gbps = gb / r.rec.wall_s
      r.cpu_gb = r.rec.cpu_s / gb
      r.note = string.format("%s GB/s, CPU %s s/GB", fmt_num(r.gbps, 2), fmt_num(r.cpu_gb, 3))
    elseif c.w == "W7" and r.cpu_req then
      local base_variant = ""
      for _, rr in ipairs(results) do
        if rr.case.w == "W7" and rr.case.w7k == P.w7k[1] then base_variant = rr.case.variant; break end
      end
      local base = by["W7|" .. base_variant]
      local b = base and base[r.client.id]
      if b and b.cpu_req then
        r.flat = r.cpu_req / b.cpu_req
        r.note = string.format("%s× the %s-idle cost", fmt_num(r.flat), fmt_int(P.w7k[1]))
      end
      local _, whole = cpu_req(r)
      if whole then
        r.note = (r.note and r.note .. "; " or "") .. string.format("whole phase %s µs/req", fmt_num(whole))
      end
    end
    if c.w == "W9" and r.rec then
      local b = r.rec
      local parts = {}
      if b.hb_max_ms and b.hb_max_ms >= 0 then
        local what = ({ timer = "heartbeat gaps", ping = "/ping latency" })[b.hb_kind or "timer"]
        parts[#parts + 1] = string.format("%s: worst **%s ms**, p99 %s ms, p50 %s ms (%s)", what,
          fmt_num(b.hb_max_ms, 2), fmt_num(b.hb_p99_ms, 2), fmt_num(b.hb_p50_ms, 2), fmt_int(b.hb_n))
      end
      if b.act_max_ms and b.act_max_ms >= 0 then
        parts[#parts + 1] = string.format("longest socket_action %s ms, %s involuntary context switches",
          fmt_num(b.act_max_ms, 2), fmt_int(b.nivcsw))
      end
      if b.bytes and b.wall_s and b.wall_s > 0 then
        r.gbps = b.bytes / 1e9 / b.wall_s
        parts[#parts + 1] = string.format("bulk %s GB/s", fmt_num(r.gbps, 2))
        if b.cpu_s then parts[#parts + 1] = string.format("CPU %s s/GB", fmt_num(b.cpu_s / (b.bytes / 1e9), 3)) end
      end
      if b.hb_kind == "ping" then
        if b.base then
          parts[#parts + 1] = string.format("idle worker's /ping: p99 %s ms, worst %s ms", fmt_num(b.base.p99, 2), fmt_num(b.base.max, 2))
        end
        if b.action_max_ms then
          parts[#parts + 1] = string.format("longest xfer event in the worker %s ms", fmt_num(b.action_max_ms, 2))
        end
        if b.worker_nivcsw then
          parts[#parts + 1] = string.format("worker preempted %s times during the pings", fmt_int(b.worker_nivcsw))
        end
        if b.upstream_nice and b.upstream_nice ~= 0 then
          parts[#parts + 1] = string.format("the upstream nginx (the bulk's sender) at nice %d", b.upstream_nice)
        end
        parts[#parts + 1] = "GB/s: the bulk requests' bytes over their time; CPU: the worker's over the wrk run and the last bulk request, pings included"
        if b.copy_ms and b.copy_ms >= 0 then parts[#parts + 1] = string.format("one ffi.string copy of a 100 MiB body (as fetch_all makes for each result): %s ms", fmt_num(b.copy_ms, 0)) end
      end
      local ref = by[case_key(c)] and by[case_key(c)]["uvrun-curl"]
      if ref and ref ~= r and ref.rec and ref.rec.hb_max_ms and b.hb_kind ~= "ping" then
        parts[#parts + 1] = string.format("libcurl (uv_run_bench): worst %s ms, p99 %s ms", fmt_num(ref.rec.hb_max_ms, 2), fmt_num(ref.rec.hb_p99_ms, 2))
      end
      if ref and ref.cpu_req and r.cpu_req and b.hb_kind ~= "ping" then r.ratio = r.cpu_req / ref.cpu_req end
      r.note = table.concat(parts, "; ")
    end
    if r.rec and r.rec.whole_process then
      r.note = (r.note and r.note .. "; " or "") .. "CPU of the whole process"
    end
  end

  -- targets (judged on xfer's own C drivers)
  for _, r in ipairs(results) do
    local c, f = r.case, r.client.family
    if f == "xfer" and not r.failed then
      if c.w == "W1" then
        if r.ratio then add("W1 CPU ≤ 0.5× libcurl (" .. r.client.id .. ")", r.ratio <= 0.5, fmt_num(r.ratio) .. "×", r) end
        if r.vs_wrk then add("W1 CPU ≤ 1.0× wrk (" .. r.client.id .. ")", r.vs_wrk <= 1.0, fmt_num(r.vs_wrk) .. "×", r) end
        if r.syscalls then add("W1 ≤ 2.1 syscalls/req (" .. r.client.id .. ")", r.syscalls <= 2.1, fmt_num(r.syscalls), r) end
        if r.sockcb_req then add("W1 0 sockcb/req warm (" .. r.client.id .. ")", r.rec.sockcb_warm == 0, fmt_num(r.sockcb_req, 4), r) end
      elseif c.w == "W2" and c.mode == "queue" then
        if c.n >= 1000000 then add("W2 1,000,000 queued complete (" .. r.client.id .. ")", r.rec.ok == c.n, fmt_int(r.rec.ok) .. " ok", r) end
        if r.mem_beyond then add("W2 ≤ 1 KiB/queued transfer beyond options, N=" .. fmt_int(c.n) .. " (" .. r.client.id .. ")", r.mem_beyond <= 1024, fmt_int(r.mem_beyond) .. " B", r) end
        if r.q_wall then add("W2 queued time ≤ 1.1× windowed, N=" .. fmt_int(c.n) .. " (" .. r.client.id .. ")", r.q_wall <= 1.1, "wall " .. fmt_num(r.q_wall) .. "× (CPU " .. fmt_num(r.q_cpu) .. "×)", r) end
      elseif c.w == "W3" and r.ratio then
        add("W3 CPU ≤ 0.8× libcurl (" .. r.client.id .. ")", r.ratio <= 0.8, fmt_num(r.ratio) .. "×", r)
      elseif c.w == "W4" and r.ratio then
        add("W4 CPU ≤ 0.9× libcurl, session cache " .. (c.sess == 1 and "on" or "off") .. " (" .. r.client.id .. ")", r.ratio <= 0.9, fmt_num(r.ratio) .. "×", r)
      elseif c.w == "W5" and r.ratio then
        add("W5 CPU ≤ 0.7× libcurl (" .. r.client.id .. ")", r.ratio <= 0.7, fmt_num(r.ratio) .. "×", r)
      elseif (c.w == "W6" or c.w == "W6gz") and r.gbps then
        local lb = lbest[case_key(c)]
        local best_gbps, best_cpu_gb
        for _, rr in ipairs(results) do
          if case_key(rr.case) == case_key(c) and rr.client.family == "libcurl" and rr.gbps and not rr.failed then
            best_gbps = math.max(best_gbps or 0, rr.gbps)
            best_cpu_gb = math.min(best_cpu_gb or 1e9, rr.cpu_gb)
          end
        end
        if best_gbps and lb then
          add(c.w .. " GB/s ≥ libcurl (" .. r.client.id .. ")", r.gbps >= best_gbps, fmt_num(r.gbps) .. " vs " .. fmt_num(best_gbps) .. " GB/s", r)
          add(c.w .. " CPU/GB ≤ 0.9× libcurl (" .. r.client.id .. ")", r.cpu_gb <= 0.9 * best_cpu_gb, fmt_num(r.cpu_gb / best_cpu_gb) .. "×", r)
        end
      end
    end
  end
  -- W8: xfer.ngx against the cosocket handler of the same run
  do
    local x, c, h
    for _, r in ipairs(results) do
      if r.case.w == "W8" and r.client.family == "ngx-xfer" then x = r end
      if r.case.w == "W8" and r.client.family == "ngx-xfer-h2" then h = r end
      if r.case.w == "W8" and r.client.family == "ngx-cosocket" then c = r end
    end
    -- W8-h2 (the upstream on h2c): shown beside the others, not judged
    if h and c and h.cpu_req and c.cpu_req and h.rps and c.rps then
      h.ratio = h.cpu_req / c.cpu_req
      h.note = "ratio column: CPU × the cosocket row; req/s " .. fmt_num(h.rps / c.rps) ..
               "× cosockets; upstream: the bench nginx's h2c listener, every request's 10 GETs on the worker's shared h2 connections"
    end
    for _, r in ipairs { x or c, x and c or nil } do
      local runs = {}
      for _, rr in ipairs(r.runs or {}) do
        runs[#runs + 1] = string.format("%s req/s, %s µs/req", fmt_int(rr.rps), fmt_num(rr.cpu_s * 1e6 / math.max(rr.requests, 1), 1))
      end
      local b = r.rec
      r.note = "CPU: the fan-out nginx worker's (/proc stat, utime+stime) per client request" ..
               (b and string.format(", %s%% of a core", fmt_num(100 * b.cpu_s / b.wall_s, 0)) or "") ..
               (b and b.up_cpu_s and string.format("; upstream nginx worker %s µs per client request (%s%% of a core)",
                 fmt_num(b.up_cpu_s * 1e6 / math.max(b.requests, 1), 1), fmt_num(100 * b.up_cpu_s / b.wall_s, 0)) or "") ..
               "; best of " .. #runs .. " by req/s (" .. table.concat(runs, "; ") .. ")"
    end
    if x and c and x.cpu_req and c.cpu_req and x.rps and c.rps then
      x.ratio, c.ratio = x.cpu_req / c.cpu_req, 1
      local rps_ratio = x.rps / c.rps
      x.note = "ratio column: CPU × the cosocket row; req/s " .. fmt_num(rps_ratio) .. "× cosockets; " .. x.note
      c.note = "ratio column: to this row (libcurl has no role in W8); " .. c.note
      if not x.failed and not c.failed then
        add("W8 req/s ≥ 1.2× cosockets (xfer.ngx fetch_all)", rps_ratio >= 1.2,
            string.format("%s× (%s vs %s req/s)", fmt_num(rps_ratio), fmt_int(x.rps), fmt_int(c.rps)), x)
        add("W8 worker CPU/req < cosockets (xfer.ngx fetch_all)", x.cpu_req < c.cpu_req,
            string.format("%s× (%s vs %s µs per client request)", fmt_num(x.ratio), fmt_num(x.cpu_req, 1), fmt_num(c.cpu_req, 1)), x)
      else
        add("W8 req/s ≥ 1.2× cosockets and worker CPU/req < cosockets (xfer.ngx fetch_all)", false,
            "a run had non-2xx responses or errors (see Failed runs)", x)
      end
    elseif x or c then
      add("W8 req/s ≥ 1.2× cosockets and worker CPU/req < cosockets (xfer.ngx fetch_all)", false,
          "no result for one of the two handlers (see Failed runs)", x or c)
    end
  end
  -- W9: worst gap ≤ 5 ms for xfer's drivers (not judged: the libcurl
  -- reference)
  for _, r in ipairs(results) do
    local b = r.rec
    if r.case.w == "W9" and b and b.hb_max_ms and b.hb_max_ms >= 0 and r.client.family ~= "libcurl-ref" then
      if not r.failed then
        add(string.format("W9 worst %s ≤ 5 ms (%s)", b.hb_kind == "ping" and "/ping latency" or "heartbeat gap", r.client.id),
            b.hb_max_ms <= 5, string.format("%s ms (p99 %s ms)", fmt_num(b.hb_max_ms, 2), fmt_num(b.hb_p99_ms, 2)), r)
      end
    end
  end
  -- W1: uv_run returns by itself (xfer through the compat header)
  for _, r in ipairs(results) do
    if r.case.w == "W1" and r.client.id == "uvrun-xfer" and r.rec and r.rec.uv_returned then
      add("W1 uv_run returns by itself (uvrun-xfer)", r.rec.uv_returned == 1 and not r.failed,
          r.rec.uv_returned == 1 and string.format("%s ms after the last completion", fmt_num(r.rec.return_ms, 3)) or "no: stopped by the watchdog", r)
      if r.rec.sockcb_warm and r.rec.sockcb_warm >= 0 then
        add("W1 0 sockcb/req warm (uvrun-xfer)", r.rec.sockcb_warm == 0, fmt_num(r.sockcb_req, 4), r)
      end
    end
    if r.case.w == "W1" and r.client.id == "uvrun-curl" and r.rec and r.rec.uv_returned then
      r.note = (r.note and r.note .. "; " or "") .. (r.rec.uv_returned == 1 and
        string.format("uv_run returned by itself %s ms after the last completion", fmt_num(r.rec.return_ms, 3)) or "uv_run did not return by itself")
    end
  end
  -- W1: how much of each client's CPU the kernel floor already is
  for _, r in ipairs(results) do
    if r.case.w == "W1" and r.client.id == "raw-floor" and r.cpu_req and not r.failed then
      for _, rr in ipairs(results) do
        if rr.case.w == "W1" and rr.cpu_req and rr ~= r and rr.client.family ~= "floor" then
          rr.vs_raw = rr.cpu_req / r.cpu_req
          rr.note = (rr.note and rr.note .. "; " or "") .. fmt_num(rr.vs_raw) .. "× the raw floor"
        end
      end
      FLOOR = { ratio = r.ratio, cpu = r.cpu_req, sys = r.rec.sys_s and r.rec.sys_s * 1e6 / r.rec.requests }
    end
  end
  -- the Lua module's targets (W1; W2: CPU in both styles, and memory per
  -- queued transfer ≤ 1.1× xfer's C client's in the same case)
  for _, r in ipairs(results) do
    local t = (r.case.w == "W2" and LUA_TARGET_W2 or LUA_TARGET)[r.client.id]
    if t and (r.case.w == "W1" or r.case.w == "W2") and r.ratio and not r.failed then
      local n = r.case.w == "W2" and (" " .. r.case.mode .. " N=" .. fmt_int(r.case.n)) or ""
      add(string.format("%s Lua CPU ≤ %s× libcurl%s (%s)", r.case.w, fmt_num(t), n, r.client.id), r.ratio <= t, fmt_num(r.ratio) .. "×", r)
    end
    if t and r.case.w == "W2" and r.mem_total and not r.failed then
      local cr = by[case_key(r.case)] and by[case_key(r.case)]["xfer-c-epoll"]
      if cr and cr.mem_total then
        local q = r.mem_total / cr.mem_total
        add(string.format("W2 Lua memory/queued transfer ≤ 1.1× C, N=%s (%s)", fmt_int(r.case.n), r.client.id),
            q <= 1.1, string.format("%s B, %s×", fmt_int(r.mem_total), fmt_num(q)), r)
      end
    end
  end
  -- W7 flatness, per xfer client over all K
  for _, id in ipairs { "xfer-c-epoll", "xfer-c-poll" } do
    local worst, at, n = nil, nil, 0
    for _, r in ipairs(results) do
      if r.case.w == "W7" and r.client.id == id and r.flat then
        n = n + 1
        if not worst or r.flat > worst then worst, at = r.flat, r.case.w7k end
      end
    end
    if n >= 2 then
      local kmax = P.w7k[#P.w7k]
      add(string.format("W7 flat within 1.2× from %s to %s idle (%s)", fmt_int(P.w7k[1]), fmt_int(kmax), id),
          worst <= 1.2, string.format("worst %s× at %s", fmt_num(worst), fmt_int(at)))
      for _, r in ipairs(results) do
        if r.case.w == "W7" and r.client.id == id and r.case.w7k == kmax then
          r.target = (worst <= 1.2 and "✅ " or "❌ ") .. "flat ≤ 1.2×"
        end
      end
    end
  end
  return T
end

-- Same ok counts and bytes from the libcurl program built both ways.
local function fidelity(results)
  local by, lines, bad = {}, {}, 0
  for _, r in ipairs(results) do
    by[case_key(r.case) .. "|" .. r.client.id] = r
  end
  local pairs_n = 0
  for _, r in ipairs(results) do
    local other = ({ ["compat-uv"] = "curl-uv", ["compat-poll"] = "curl-poll", ["uvrun-xfer"] = "uvrun-curl" })[r.client.id]
    local o = other and by[case_key(r.case) .. "|" .. other]
    if o and r.rec and o.rec then
      pairs_n = pairs_n + 1
      local differ
      if r.case.mode == "idle" then
        -- Time-limited: the counts differ; compare all-ok and the bytes
        -- per transfer (K opening transfers + the sequential ones).
        local k = r.case.k or 0
        differ = r.rec.ok ~= r.rec.requests or o.rec.ok ~= o.rec.requests or
                 r.rec.bytes / (r.rec.requests + k) ~= o.rec.bytes / (o.rec.requests + k)
      else
        differ = r.rec.ok ~= o.rec.ok or r.rec.bytes ~= o.rec.bytes or r.rec.requests ~= o.rec.requests
      end
      if differ then
        bad = bad + 1
        lines[#lines + 1] = string.format("- %s %s: xfer ok=%s bytes=%s, libcurl ok=%s bytes=%s",
          r.case.w, r.case.variant, tostring(r.rec.ok), tostring(r.rec.bytes), tostring(o.rec.ok), tostring(o.rec.bytes))
      end
    end
  end
  return pairs_n, bad, lines
end

------------------------------------------------------------------------------
-- output
------------------------------------------------------------------------------
local function table_md(results)
  local L = {}
  L[#L + 1] = "| W | case | client | ok / N | CPU µs/req | user µs/req | wall s | req/s | peak RSS MiB | syscalls/req | sockcb/req warm | CPU × libcurl best | notes | target |"
  L[#L + 1] = "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
  for _, r in ipairs(results) do
    local rec = r.rec or {}
    local n = (r.client.family == "floor" or r.case.mode == "idle" or r.case.w == "W8" or r.case.mode == "ngx") and rec.requests or r.case.n
    L[#L + 1] = string.format("| %s | %s | %s | %s / %s%s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |",
      r.case.w, r.case.variant, r.client.label,
      fmt_int(rec.ok), fmt_int(n), r.failed and " **FAIL**" or "",
      fmt_num(r.cpu_req, 2), fmt_num(r.user_req, 2), fmt_num(rec.wall_s, 3), fmt_int(r.rps),
      rec.maxrss_kb and fmt_num(rec.maxrss_kb / 1024, 1) or "-",
      fmt_num(r.syscalls, 2), fmt_num(r.sockcb_req, 4),
      (r.client.family == "libcurl" or r.client.family == "libcurl-ref" or r.client.family == "ngx-cosocket") and (r.ratio and fmt_num(r.ratio) .. "×" or "-") or (r.ratio and ("**" .. fmt_num(r.ratio) .. "×**") or "-"),
      r.note or "", r.target or "")
  end
  return table.concat(L, "\n")
end

local function targets_md(T)
  local L = {}
  for _, t in ipairs(T) do
    L[#L + 1] = string.format("- %s %s: %s", t.ok and "✅ met" or "❌ **missed**", t.name, t.detail)
  end
  return table.concat(L, "\n")
end

local function env_md()
  local cpu = capture("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-"):gsub("^%s+", "")
  local mem = capture("awk '/MemTotal/ {printf \"%.1f GiB\", $2/1048576}' /proc/meminfo")
  local xv = capture(BIN .. "xfer_c -V")
  local cv = capture("curl-config --version")
  local clib = capture(BIN .. "curl_bench-curl -V")
  local ov = capture("openssl version")
  local nv = capture("(" .. NGINX .. " -v 2>&1)")
  local uvv = capture("pkg-config --modversion libuv")
  local wv = capture("wrk -v 2>&1 | head -1")
  return table.concat({
    "- date: " .. os.date("!%Y-%m-%d %H:%M UTC"),
    "- mode: " .. (Q and "QUICK (make bench QUICK=1: small N)" or "full (make bench)"),
    "- machine: " .. capture("nproc") .. " CPUs, " .. cpu .. ", " .. mem .. ", Linux " .. capture("uname -r") ..
      ", load average at start " .. capture("cut -d' ' -f1-3 /proc/loadavg"),
    "- xfer: " .. xv .. " (xfer_version())",
    "- libcurl: " .. cv .. " (curl-config --version); runtime " .. clib,
    "- OpenSSL: " .. ov,
    "- nginx: " .. nv:gsub("^nginx version: ", "") .. " (worker_processes 1, access_log off, worker_connections " ..
      math.min(60000, NOFILE) .. ", worker_rlimit_nofile " .. NOFILE .. ")",
    "- libuv: " .. uvv .. "; wrk: " .. wv,
    "- fd limit (hard): " .. NOFILE_HARD .. "; W7's largest idle count: " .. fmt_int(K_MAX) ..
      (K_MAX < 50000 and " (50,000 needs an fd limit above 50,000 for both the client and nginx; the hard limit here is " ..
        NOFILE_HARD .. " and cannot be raised without CAP_SYS_RESOURCE)" or ""),
  }, "\n")
end

------------------------------------------------------------------------------
-- main
------------------------------------------------------------------------------
local function main()
  log("temp dir %s; starting nginx", TMP)
  start_nginx()
  log("nginx on 127.0.0.1-%d:%d (http) and :%d (https); h2 (TLS) on 127.0.0.1:%s", ADDRS, PORT, SPORT, tostring(HPORT))
  local results = {}
  local cases, i = build_cases(), 1
  while i <= #cases do
    local group = { cases[i] }
    while cases[i + 1] and cases[i].group and cases[i + 1].group == cases[i].group do
      i = i + 1
      group[#group + 1] = cases[i]
    end
    run_group(group, results)
    i = i + 1
  end
  if not opt.only or opt.only.W8 then
    local ok, err = pcall(run_w8, results)
    if not ok then
      stop_fanout()
      W8_NOTE = "W8 (OpenResty fan-out) did not complete"
      W8_DETAIL = tostring(err)
      log("%s: %s", W8_NOTE, W8_DETAIL)
    end
  end
  -- W9: its client rows after W8's, then the nginx worker's row
  if not opt.only or opt.only.W9 then
    local rest, w9 = {}, {}
    for _, r in ipairs(results) do
      if r.case.w == "W9" then w9[#w9 + 1] = r else rest[#rest + 1] = r end
    end
    for _, r in ipairs(w9) do rest[#rest + 1] = r end
    results = rest
    local ok, err = pcall(run_w9_ngx, results)
    if not ok then
      stop_fanout()
      W9_NOTE = "W9's nginx row did not complete"
      W9_DETAIL = tostring(err)
      log("%s: %s", W9_NOTE, W9_DETAIL)
    end
  end
  if opt.strace then
    log("syscall-counting pass (strace -c -f)")
    strace_pass(results)
  end
  local lbest = compute(results)
  local T = judge(results, lbest)
  H2.judge(results, T)
  local pn, bad, flines = fidelity(results)
  local env = env_md()
  if W8_INFO then env = env .. "\n- " .. W8_INFO end
  local elapsed = os.time() - T_START
  local doc = {}
  doc[#doc + 1] = "# xfer benchmark results\n"
  doc[#doc + 1] = "Generated by `bench/run.lua` (`make bench" .. (Q and " QUICK=1" or "") .. "`); see bench/README.md for how to read it.\n"
  doc[#doc + 1] = env
  doc[#doc + 1] = "- total run time: " .. elapsed .. " s\n"
  doc[#doc + 1] = "CPU is the client's user+sys CPU over the measured phase, divided by the requests (W7: the sequential phase only, and its cheapest eighth, to keep other load on this shared machine out of the flatness comparison; the whole-phase figure is in the notes); " ..
    "ratios are to the better of libcurl's two styles in the same case (bold: xfer rows). syscalls/req come from a separate, shorter `strace -c -f` run " ..
    "(W7: at 1,000 idle connections, the difference between a 1,000- and a 2,000-request run, which leaves out opening the idle connections). sockcb/req warm: socket-callback calls per request from half the transfers done until the window starts to drain (W7: the sequential phase). W1 rows other than the compat ones are the best of 2 runs (by CPU), the xfer C rows of W2 at N ≤ 100,000 the best of 2 (by wall time; queued and windowed runs alternate). " ..
    "W8 (OpenResty fan-out): wrk drives a second nginx whose handler makes 10 upstream GETs per client request; req/s is wrk's, CPU is the fan-out nginx worker's utime+stime (/proc/PID/stat) per client request, " ..
    "the ratio column is to the cosocket row (libcurl has no role there), and each row is the best of 2 runs by req/s (xfer and cosocket runs alternate).\n"
  doc[#doc + 1] = table_md(results) .. "\n"
  if W8_NOTE then
    doc[#doc + 1] = "**" .. W8_NOTE .. "**\n" .. (W8_DETAIL and ("\n```\n" .. W8_DETAIL .. "\n```\n") or "")
  end
  if W9_NOTE then
    doc[#doc + 1] = "**" .. W9_NOTE .. "**\n" .. (W9_DETAIL and ("\n```\n" .. W9_DETAIL .. "\n```\n") or "")
  end
  doc[#doc + 1] = H2.notes_md()
  doc[#doc + 1] = "## Targets (judged on xfer's own C drivers, bench/xfer_c.c; W8 on xfer's nginx module)\n"
  doc[#doc + 1] = (#T > 0 and targets_md(T) or "- (none judged in this run)") .. "\n"
  if FLOOR and FLOOR.ratio then
    doc[#doc + 1] = string.format("W1's floor: a client with no library at all (bench/raw_floor.c: one prepared request, epoll, " ..
      "one send and one recv per request) spends %s µs per request (%s µs of it in the kernel), **%s× libcurl's best**. " ..
      "No client can go far below that ratio on this machine; a client within ±15%% of the floor is at it (run-to-run noise here is of that size).\n",
      fmt_num(FLOOR.cpu), fmt_num(FLOOR.sys), fmt_num(FLOOR.ratio))
  end
  doc[#doc + 1] = "## Fidelity (curl_bench.c built against libcurl and against xfer)\n"
  doc[#doc + 1] = string.format("%d row pairs compared (ok count, requests, body bytes; W7, which is time-limited: all ok and bytes per transfer): %s\n", pn,
    bad == 0 and "all equal" or (bad .. " differ:\n" .. table.concat(flines, "\n")))
  if #failures > 0 then
    doc[#doc + 1] = "## Failed runs\n"
    for _, f in ipairs(failures) do
      doc[#doc + 1] = string.format("### %s %s — %s\n\n```\n%s\n%s\n```\n", f.case.w, f.case.variant, f.client.id, f.cmd or "", f.tail)
    end
  end
  local text = table.concat(doc, "\n")
  io.stdout:write(text, "\n")
  if opt.out ~= "-" then
    write_file(opt.out, text .. "\n")
    log("wrote %s", opt.out)
  end
  return #failures == 0
end

local ok, res = pcall(main)
stop_fanout()
stop_nginx_in(NG)
if opt.keep then log("kept %s", TMP) else run("rm -rf " .. q(TMP)) end
if not ok then
  io.stderr:write("run.lua: " .. tostring(res) .. "\n")
  os.exit(1)
end
os.exit(res and 0 or 1)
