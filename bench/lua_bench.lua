--[[
bench/lua_bench.lua -- xfer's Lua benchmark client: the same workloads,
flags and output line as bench/xfer_c.c, through one of the Lua drivers:

  --driver run        multi:run(), the built-in libuv loop, with on_done
  --driver luv        xfer.luv on luv's loop, with on_done
  --driver fetch_all  xfer.fetch_all (a response table per request)

Usage: lua5.4 bench/lua_bench.lua --driver D [-m win|queue] [-n N] [-c C]
                                  [-f] [-r 0|1] [-a CAFILE] [-H MS]
                                  [-v 1.1|2|2tls|2pk] [-w] [-h H]
                                  URL [URL...]

-v, -w, -h (W10, W11): the http_version option (xfer.HTTP_VERSION_*),
pipewait, and the multi's max_host_connections, as bench/xfer_c.c; with
-v every successful transfer's getinfo("http_version") is counted
(httpv1, httpv2, httpv_other on the line).  Drivers run and luv only.

-H MS (W9, latency under bulk): a heartbeat every MS ms on the driver's
loop, every gap between two heartbeats recorded (uv.hrtime in the
callback), stopped at the last completion.  The luv driver gets a luv
timer on luv's default loop, which xfer.luv runs; multi:run() gets its
wake timer (m:wake, run{on_wake=}) on its own loop, re-armed from on_wake.
fetch_all: no -H.

Every driver discards the body in a Lua write callback (fetch_all keeps it,
as its users get it).  fetch_all has no queued style (it keeps a window of
C requests by design); -m idle is W7's socket_action scaling, which the C
clients measure, so the script says so and exits 2.

Prints: requests=N ok=N bytes=N cpu_s=X wall_s=X user_s=X sys_s=X
        rss0_kb=N rss1_kb=N hwm_kb=N setup_cpu_s=X sockcb=N sockcb_warm=N
        warm_requests=N [hb_kind=timer hb_n=N hb_max_ms=X
        hb_p99_ms=X hb_p50_ms=X] [httpv1=N httpv2=N httpv_other=N]
sockcb counts the luv driver's socket-callback calls (the script wraps the
function xfer.luv installs; sockcb_warm and warm_requests as in
bench/curl_bench.c); -1 for the other drivers, whose socket callbacks are
not Lua functions the script can see.
(CPU from getrusage, the whole process: the interpreter included.)
]]
local uv = require "luv"
local xfer = require "xfer"

local driver, mode, total, conns = "run", "win", 100000, 64
local forbid, sess, cainfo, hb_ms
local http_version, pipewait, host_max -- -v, -w, -h
local HTTPV = { ["1.1"] = "HTTP_VERSION_1_1", ["2"] = "HTTP_VERSION_2_0",
                ["2tls"] = "HTTP_VERSION_2TLS", ["2pk"] = "HTTP_VERSION_2_PRIOR_KNOWLEDGE" }
local urls = {}
do
    local i = 1
    while i <= #arg do
        local a = arg[i]
        local function val()
            i = i + 1
            local v = assert(arg[i], a .. " needs a value")
            return v
        end
        if a == "--driver" then driver = val()
        elseif a == "-m" then mode = val()
        elseif a == "-n" then total = assert(tonumber(val()))
        elseif a == "-c" then conns = assert(tonumber(val()))
        elseif a == "-f" then forbid = true
        elseif a == "-r" then sess = assert(tonumber(val()))
        elseif a == "-a" then cainfo = val()
        elseif a == "-H" then hb_ms = assert(tonumber(val()))
        elseif a == "-v" then
            local v = val()
            http_version = HTTPV[v] and xfer[HTTPV[v]]
            if not http_version then
                io.stderr:write("lua_bench: -v 1.1|2|2tls|2pk (not " .. v .. ")\n")
                os.exit(2)
            end
        elseif a == "-w" then pipewait = true
        elseif a == "-h" then host_max = assert(tonumber(val()))
        elseif a == "-k" or a == "-d" then val() -- idle mode only
        elseif a:sub(1, 1) == "-" then
            io.stderr:write("lua_bench: unknown flag " .. a .. "\n")
            os.exit(2)
        else urls[#urls + 1] = a end
        i = i + 1
    end
end
if #urls == 0 or total < 1 or conns < 1 then
    io.stderr:write("lua_bench: need a URL, N >= 1, C >= 1\n")
    os.exit(2)
end
if (http_version or pipewait or host_max) and driver == "fetch_all" then
    io.stderr:write("lua_bench: no -v/-w/-h for fetch_all\n")
    os.exit(2)
end
if mode == "idle" or (driver == "fetch_all" and mode == "queue") then
    io.stderr:write("lua_bench: no " .. mode .. " style for " .. driver .. "\n")
    os.exit(2)
end

local function status_kb(key)
    local f = io.open("/proc/self/status")
    if not f then return -1 end
    local s = f:read("*a")
    f:close()
    return tonumber(s:match(key .. ":%s*(%d+)")) or -1
end

local function tv(t) return t.sec + t.usec / 1e6 end
local function usage()
    local r = uv.getrusage()
    return tv(r.utime), tv(r.stime)
end

local bytes, done, ok, failed = 0, 0, 0, 0
local function on_body(s) bytes = bytes + #s end

-- W9's heartbeat gaps (ns), from a timer on the driver's loop.
local gaps, hb_last, hb_timer, hb_kind = {}, nil, nil, nil
local hrtime = uv.hrtime
local function beat()
    local now = hrtime()
    gaps[#gaps + 1] = now - hb_last
    hb_last = now
end
if hb_ms then
    if driver == "luv" then
        hb_kind = "timer"
    elseif driver == "run" then
        hb_kind = "timer" -- run()'s wake timer, see hb_start
    else
        io.stderr:write("lua_bench: no -H for " .. driver .. "\n")
        os.exit(2)
    end
end
local hb_multi -- multi:run(): the heartbeat is its wake timer
local function hb_start(m)
    hb_last = hrtime()
    if hb_kind ~= "timer" then return end
    if driver == "run" then
        hb_multi = m
        m:wake(hb_ms)
    else
        hb_timer = uv.new_timer()
        hb_timer:start(hb_ms, hb_ms, beat)
    end
end
local function hb_stop()
    if hb_timer then hb_timer:stop(); hb_timer:close(); hb_timer = nil end
    if hb_multi then hb_multi:wake(-1); hb_multi = nil end
end
-- run{on_wake=}: one beat, and the next one armed
local function hb_on_wake()
    if not hb_multi then return false end
    beat()
    hb_multi:wake(hb_ms)
    return false
end

-- The luv driver's socket-callback calls: the script wraps the function
-- xfer.luv installs (one more Lua call per socket-callback call, which is
-- none per request once warm).
local sockcb, sockcb_warm, warm_requests, warm_on = -1, -1, -1, false
local function count_sockcb(m)
    sockcb = 0
    local idx = getmetatable(m).__index
    local set = idx.setopt_socketfunction
    idx.setopt_socketfunction = function(self, f)
        if f == nil then return set(self, f) end
        return set(self, function(...)
            sockcb = sockcb + 1
            if warm_on then sockcb_warm = sockcb_warm + 1 end
            return f(...)
        end)
    end
end
-- Warm: from half the transfers done until the window starts to drain.
local function warm_mark()
    if sockcb < 0 or total - conns <= math.floor(total / 2) then return end
    if done == math.floor(total / 2) then
        sockcb_warm, warm_on = 0, true
    elseif done == total - conns then
        warm_on, warm_requests = false, total - conns - math.floor(total / 2)
    end
end

-- The options every transfer of the run gets, as xfer_c's new_easy.
local function options(url)
    local o = { url = url, writefunction = on_body }
    if forbid then o.forbid_reuse = true end
    if cainfo then o.cainfo = cainfo end
    if sess then o.ssl_sessionid_cache = sess end
    if http_version then o.http_version = http_version end
    if pipewait then o.pipewait = true end
    return o
end

-- -v: successful transfers per getinfo("http_version")
local httpv1, httpv2, httpv_other = 0, 0, 0
local V2, V10, V11 = xfer.HTTP_VERSION_2_0, xfer.HTTP_VERSION_1_0, xfer.HTTP_VERSION_1_1
local function count_version(e)
    local v = e:getinfo("http_version")
    if v == V2 then httpv2 = httpv2 + 1
    elseif v == V10 or v == V11 then httpv1 = httpv1 + 1
    else httpv_other = httpv_other + 1 end
end

local function failure(err)
    failed = failed + 1
    if failed <= 5 then io.stderr:write("lua_bench: " .. tostring(err) .. "\n") end
end

local rss0 = status_kb("VmRSS")
local rss1, setup_cpu
local u0, s0 = usage()
local t0 = uv.hrtime()

if driver == "fetch_all" then
    local list = {}
    local plain = not forbid and not cainfo and not sess
    for i = 1, total do
        local url = urls[(i - 1) % #urls + 1]
        if plain then list[i] = url
        else
            local o = options(url)
            o.writefunction = nil
            list[i] = o
        end
    end
    rss1 = status_kb("VmRSS")
    local u, s = usage()
    setup_cpu = u + s - u0 - s0
    xfer.fetch_all(list, {
        max_total_connections = conns,
        on_done = function(_, res, err)
            done = done + 1
            if res and res.status == 200 then
                ok = ok + 1
                bytes = bytes + #res.body
            else failure(err or res.status) end
        end,
    })
else
    local m = xfer.multi()
    m:setopt_max_total_connections(conns)
    if host_max then m:setopt_max_host_connections(host_max) end
    if driver == "luv" then count_sockcb(m) end
    local started = 0
    local on_done
    if mode == "queue" then
        local easies = {}
        for i = 1, total do easies[i] = xfer.easy(options(urls[(i - 1) % #urls + 1])) end
        rss1 = status_kb("VmRSS")
        local u, s = usage()
        setup_cpu = u + s - u0 - s0
        for i = 1, total do m:add_handle(easies[i]) end
        started, easies = total, nil
        on_done = function(e, eok, err)
            done = done + 1
            if eok then ok = ok + 1 else failure(err) end
            if eok and http_version then count_version(e) end
            warm_mark()
            if done == total then hb_stop() end
            m:remove_handle(e)
            e:close()
        end
    else
        -- windowed: a finished handle is re-armed for the next request
        for i = 1, math.min(conns, total) do
            m:add_handle(xfer.easy(options(urls[(i - 1) % #urls + 1])))
            started = i
        end
        rss1 = status_kb("VmRSS")
        on_done = function(e, eok, err)
            done = done + 1
            if eok then ok = ok + 1 else failure(err) end
            if eok and http_version then count_version(e) end
            warm_mark()
            if done == total then hb_stop() end
            m:remove_handle(e)
            if started < total then
                if #urls > 1 then e:setopt_url(urls[started % #urls + 1]) end
                started = started + 1
                m:add_handle(e)
            else
                e:close()
            end
        end
    end
    hb_start(m)
    if driver == "luv" then
        require("xfer.luv").run(m, { on_done = on_done })
    elseif driver == "run" then
        assert(m:run { on_done = on_done, on_wake = hb_kind and hb_on_wake or nil })
    else
        io.stderr:write("lua_bench: unknown driver " .. driver .. "\n")
        os.exit(2)
    end
    m:close()
end

local u1, s1 = usage()
local wall = (uv.hrtime() - t0) / 1e9
io.stdout:write(string.format(
    "requests=%d ok=%d bytes=%d cpu_s=%.6f wall_s=%.6f user_s=%.6f sys_s=%.6f " ..
    "rss0_kb=%d rss1_kb=%d hwm_kb=%d setup_cpu_s=%.6f",
    done, ok, bytes, u1 + s1 - u0 - s0, wall, u1 - u0, s1 - s0, rss0, rss1,
    status_kb("VmHWM"), setup_cpu or 0))
io.stdout:write(string.format(" sockcb=%d sockcb_warm=%d warm_requests=%d",
    sockcb, sockcb < 0 and -1 or sockcb_warm, sockcb < 0 and -1 or warm_requests))
if http_version then
    io.stdout:write(string.format(" httpv1=%d httpv2=%d httpv_other=%d", httpv1, httpv2, httpv_other))
end
if hb_kind then
    table.sort(gaps)
    local function q(p)
        if #gaps == 0 then return -1 end
        local i = math.max(1, math.min(#gaps, math.ceil(p * #gaps)))
        return gaps[i] / 1e6
    end
    io.stdout:write(string.format(" hb_kind=%s hb_n=%d hb_max_ms=%.3f hb_p99_ms=%.3f hb_p50_ms=%.3f",
        hb_kind, #gaps, q(1), q(0.99), q(0.5)))
end
io.stdout:write("\n")
os.exit(ok == total and failed == 0 and 0 or 1)
