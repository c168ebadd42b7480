-- spec/lua/helper.lua: test servers and small tools for the busted specs.
--
-- The servers (nginx and the fault server, spec/support/servers.sh) come
-- from the environment when the runner exported them (spec/run.sh and
-- `make lua-test` do); otherwise helper.start() starts a private set and
-- helper.stop() stops it. Each spec file calls both (setup/teardown).
local xfer = require "xfer"

local helper = {}

-- luv frees its default loop when its module table is collected, and a
-- later require of luv then runs on the freed loop (a crash). busted loads
-- each spec file with a fresh package.loaded, so every file that uses luv
-- gets a new module table: keep each one alive for the whole run.
do
    local ok, uv = pcall(require, "luv")
    if ok then
        local reg = debug.getregistry()
        local pins = reg["xfer.spec.luv"] or {}
        reg["xfer.spec.luv"] = pins
        pins[#pins + 1] = uv
    end
end

local NAMES = {
    "NGINX_PORT", "NGINX_DOCROOT", "NGINX_ACCESS_LOG", "FAULT_PORT",
    "FAULT_CLOSE_PORT", "FAULT_RESET_PORT", "FAULT_SILENT_PORT",
    -- HTTP/2: nginx over TLS (ALPN h2) and in cleartext (prior knowledge),
    -- and the CA that signed the TLS servers' certificate
    "TLS_H2_PORT", "NGINX_H2C_PORT", "TLS_CA", "TLS_ACCESS_LOG",
    "DECODE_FIXTURES", "NGINX_UNIX_SOCKET",
    -- the Digest server (authserver.c)
    "AUTH_PORT",
    -- the real proxies (spec/support/proxies.sh)
    "TINYPROXY_PORT", "TINYPROXY_AUTH_PORT", "SOCKS5_PORT", "SOCKS5_AUTH_PORT",
    "HTTPS_PROXY_PORT",
}

local started -- directory of the servers this helper started

local function sh(cmd)
    local ok = os.execute(cmd)
    return ok == true or ok == 0
end

local function read_env(path)
    local env = {}
    local f = assert(io.open(path))
    for line in f:lines() do
        local k, v = line:match("^export ([%w_]+)=(.*)$")
        if k then env[k] = v end
    end
    f:close()
    return env
end

function helper.start()
    if helper.NGINX_PORT then return end
    local env = {}
    if os.getenv("NGINX_PORT") and os.getenv("FAULT_PORT") then
        for _, k in ipairs(NAMES) do env[k] = os.getenv(k) end
    else
        local dir = os.tmpname()
        os.remove(dir)
        assert(sh("spec/support/servers.sh start " .. dir .. " >/dev/null"),
               "could not start the test servers")
        started = dir
        env = read_env(dir .. "/env")
    end
    for _, k in ipairs(NAMES) do
        helper[k] = tonumber(env[k]) or env[k]
    end
    helper.DECODE_FIXTURES = helper.DECODE_FIXTURES or "spec/support/fixtures/decode"
end

function helper.stop()
    if started then
        sh("spec/support/servers.sh stop " .. started .. " >/dev/null 2>&1")
        sh("rm -rf " .. started)
        started = nil
    end
end

function helper.nginx(path)
    return ("http://127.0.0.1:%d%s"):format(helper.NGINX_PORT, path or "/")
end

-- The TLS nginx that offers h2 (ALPN); pass cainfo = helper.TLS_CA.
function helper.h2(path)
    return ("https://127.0.0.1:%d%s"):format(helper.TLS_H2_PORT, path or "/")
end

-- The plain nginx's cleartext HTTP/2 listener (prior knowledge only).
function helper.h2c(path)
    return ("http://127.0.0.1:%d%s"):format(helper.NGINX_H2C_PORT, path or "/")
end

function helper.authsrv(path)
    return ("http://127.0.0.1:%d%s"):format(helper.AUTH_PORT, path or "/")
end

function helper.fault(path)
    return ("http://127.0.0.1:%d%s"):format(helper.FAULT_PORT, path or "/")
end

-- An integer on every Lua version (5.1 and LuaJIT have only doubles).
function helper.is_integer(x)
    if math.type then return math.type(x) == "integer" end
    return type(x) == "number" and x == math.floor(x)
end

function helper.collect()
    collectgarbage("collect")
    collectgarbage("collect")
end

-- A body-collecting easy handle: returns the handle and a function that
-- returns the body received so far.
function helper.easy(url, opts)
    local parts = {}
    opts = opts or {}
    opts.url = url
    opts.writefunction = opts.writefunction or function(s)
        parts[#parts + 1] = s
    end
    local e = xfer.easy(opts)
    return e, function() return table.concat(parts) end
end

-- Drives m with perform + wait until nothing runs; returns the messages
-- as a list of { easy, ok, err }. Steps with collectgarbage when asked.
function helper.drive(m, gc)
    local msgs = {}
    for _ = 1, 100000 do
        local running = assert(m:perform())
        while true do
            local e, ok, err = m:info_read()
            if not e then break end
            msgs[#msgs + 1] = { e, ok, err }
        end
        if gc then helper.collect() end
        if running == 0 then return msgs end
        assert(m:wait(200))
    end
    error("transfers did not finish")
end

-- The fault server's counters: connections, requests, peak, open.
function helper.fault_stats(path)
    local e, body = helper.easy(helper.fault(path or "/stats"))
    assert(e:perform())
    e:close()
    local t = {}
    for k, v in body():gmatch("(%w+)=(%d+)") do t[k] = tonumber(v) end
    return t
end

-- The fault server's counters once it has no more than `others` + 1
-- connections open (the +1 asks), waiting up to 2 s for closes to arrive.
local function settled(others)
    local sleep = require("luv").sleep
    local stats
    for _ = 1, 100 do
        stats = helper.fault_stats()
        if stats.open <= others + 1 then break end
        sleep(20)
    end
    return stats
end

-- Waits for the connections of earlier tests to close (forgotten handles
-- are collected first), then resets the fault server's counters. Returns
-- how many connections that are not this test's stayed open, for
-- fault_peak.
function helper.fault_quiet()
    helper.collect()
    local others = settled(0).open - 1
    helper.fault_stats("/stats/reset")
    return others
end

-- The most connections this test had open at once on the fault server,
-- since fault_quiet returned others. Close the test's handles first: it
-- waits for their connections to be gone, so that the request asking is
-- not counted with them.
function helper.fault_peak(others)
    return settled(others).peak - others
end

-- The interpreter running the specs, to start child processes with: the
-- command line's (busted keeps lua.c's arg[-1]), else a guess.
function helper.interpreter()
    local cmd = rawget(_G, "arg") and arg[-1]
    if type(cmd) == "string" and cmd:match("lua") then return cmd end
    if jit then return "luajit" end
    return "lua" .. _VERSION:match("%d+%.%d+")
end

-- Small shell and file tools for the specs that run commands.
function helper.q(s) -- quotes s for sh
    return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

function helper.sh(cmd)
    local ok = os.execute(cmd)
    return ok == true or ok == 0
end

function helper.capture(cmd)
    local p = io.popen(cmd)
    local out = p:read("*a")
    p:close()
    return out
end

function helper.readfile(path)
    local f = io.open(path, "rb")
    if not f then return nil end
    local s = f:read("*a")
    f:close()
    return s
end

function helper.writefile(path, s)
    local f = assert(io.open(path, "wb"))
    f:write(s)
    f:close()
end

function helper.tmpdir()
    local d = os.tmpname()
    os.remove(d)
    assert(helper.sh("mkdir -p " .. helper.q(d)))
    return d
end

return helper
