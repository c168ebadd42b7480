-- The fault matrix, multi:run() column (the C columns, perform + poll and
-- socket_action + epoll, are spec/c/test_fault_matrix.c; the table of
-- codes is docs/faults.md): every fault of the fault server, over HTTP and
-- over HTTPS (spec/support/tlsproxy.c in front of the fault server), next
-- to three good transfers of the same scheme on the same multi handle.
-- Each cell runs twice (a warm-up, then the measured run) and checks the
-- documented code, the good transfers' bodies, that the process's fds and
-- the Lua heap are back where they were, and that no SIGPIPE was raised.
local xfer = require "xfer"
local uv = require "luv"

local E = {} -- the servers' ports and files
local started -- the directory of servers this spec started itself

local NAMES = {
    "NGINX_PORT", "FAULT_PORT", "FAULT_CLOSE_PORT", "FAULT_RESET_PORT",
    "FAULT_SILENT_PORT", "TLS_CA", "TLS_GOOD_PORT", "FAULT_TLS_PORT",
    "FAULT_TLS_CLOSE_PORT", "FAULT_TLS_RESET_PORT", "FAULT_TLS_SILENT_PORT",
}

local function sh(cmd)
    local ok = os.execute(cmd)
    return ok == true or ok == 0
end

-- The servers spec/run.sh exported, or a private set (servers.sh).
local function start_servers()
    if os.getenv("FAULT_PORT") and os.getenv("TLS_CA") then
        for _, k in ipairs(NAMES) do E[k] = os.getenv(k) end
        return
    end
    local dir = os.tmpname()
    os.remove(dir)
    assert(sh("spec/support/servers.sh start " .. dir .. " >/dev/null"),
           "could not start the test servers")
    started = dir
    for line in io.lines(dir .. "/env") do
        local k, v = line:match("^export ([%w_]+)=(.*)$")
        if k then E[k] = v end
    end
end

local function stop_servers()
    if started then
        sh("spec/support/servers.sh stop " .. started .. " >/dev/null 2>&1")
        sh("rm -rf " .. started)
        started = nil
    end
end

-- The fault server's port `which` ("", "CLOSE", ...) in a scheme.
local function fault_base(scheme, which)
    local name = "FAULT_" .. (scheme == "https" and "TLS_" or "")
                 .. (which ~= "" and which .. "_" or "") .. "PORT"
    local port = E[name]
    if not port or port == "" then
        error(name .. " is not set: the TLS proxy in front of the fault "
              .. "server is not running (is $BUILD/tlsproxy built? see "
              .. "spec/support/servers.sh)", 0)
    end
    return ("%s://127.0.0.1:%s"):format(scheme, port)
end

local function nginx_base(scheme)
    if scheme == "https" then return "https://127.0.0.1:" .. E.TLS_GOOD_PORT end
    return "http://127.0.0.1:" .. E.NGINX_PORT
end

-- The table of docs/faults.md (the same rows as the C matrix).
local FAULTS = {
    { name = "reset mid-body", path = "/reset-mid-body?size=100000&send=20000&delay_ms=50",
      codes = { http = "56", https = "56" }, body = { 20000, 20000 }, msg = "reset" },
    { name = "reset mid-body at once", path = "/reset-mid-body?size=1000&send=500",
      codes = { http = "56", https = "56" }, body = { 0, 500 }, msg = "reset" },
    { name = "truncated chunk", path = "/truncated-chunk",
      codes = { http = "18", https = "18" }, body = { 0, 50 } },
    { name = "truncated body", path = "/truncated-body?size=1000&send=500",
      codes = { http = "18", https = "18" }, body = { 500, 500 } },
    { name = "oversized headers", path = "/oversized-headers?kb=200",
      codes = { http = "100", https = "100" }, body = { 0, 0 } },
    { name = "huge header line", path = "/huge-header-line?kb=200",
      codes = { http = "100", https = "100" }, body = { 0, 0 } },
    { name = "slow drip", path = "/drip?size=100&every_ms=300&chunk=1",
      opts = { low_speed_limit = 100, low_speed_time = 1 },
      codes = { http = "28", https = "28" }, body = { 0, 99 } },
    { name = "silence", path = "/silence", opts = { timeout_ms = 300 },
      codes = { http = "28", https = "28" }, body = { 0, 0 } },
    { name = "headers then silence", path = "/headers-then-silence",
      opts = { timeout_ms = 300 }, codes = { http = "28", https = "28" }, body = { 0, 0 } },
    { name = "silent port", port = "SILENT", path = "/", opts = { timeout_ms = 300 },
      codes = { http = "28", https = "28" }, body = { 0, 0 } },
    { name = "garbage", path = "/garbage", codes = { http = "8", https = "8" } },
    { name = "binary garbage", path = "/garbage-binary", codes = { http = "8", https = "8" } },
    { name = "conflicting length", path = "/conflicting-length",
      codes = { http = "8", https = "8" }, body = { 0, 0 } },
    { name = "close after accept", port = "CLOSE", path = "/",
      codes = { http = "52", https = "52" }, body = { 0, 0 } },
    { name = "reset after accept", port = "RESET", path = "/",
      codes = { http = "7|55|56", https = "55|56" }, body = { 0, 0 }, msg = "reset" },
    { name = "idle close", path = "/keepalive-idle-close?ms=50", idle = true,
      codes = { http = "0", https = "0" } },
    { name = "no-read upload", path = "/no-read-upload?hold_ms=1500", upload = true,
      opts = { timeout_ms = 500 }, codes = { http = "28", https = "28" }, body = { 0, 0 } },
}

local function is_pattern_prefix(s)
    local alpha = "abcdefghijklmnopqrstuvwxyz"
    local full = alpha:rep(math.floor(#s / 26) + 1)
    return s == full:sub(1, #s)
end

local function allowed(codes, code)
    for c in codes:gmatch("%d+") do
        if tonumber(c) == code then return true end
    end
    return false
end

local UPLOAD_CHUNK = ("u"):rep(65536)

-- An easy handle that collects its body: returns it and a body getter.
local function easy(scheme, url, opts)
    local parts = {}
    local o = { url = url, writefunction = function(s) parts[#parts + 1] = s end }
    for k, v in pairs(opts or {}) do o[k] = v end
    if scheme == "https" then o.cainfo = E.TLS_CA end
    return xfer.easy(o), function() return table.concat(parts) end
end

-- A fault that xfer fails to notice would leave run() waiting forever
-- (idle keep-alive connections keep its loop alive): a transfer without a
-- timeout of its own gets WATCHDOG_MS, and the wrong code (28) it then
-- ends with fails the test instead.
local WATCHDOG_MS = 5000

local function fault_easy(f, scheme, path)
    local opts = { timeout_ms = WATCHDOG_MS }
    for k, v in pairs(f.opts or {}) do opts[k] = v end
    if f.upload then
        opts.upload = true
        opts.infilesize_large = 2 ^ 30
        opts.readfunction = function(room)
            return room >= #UPLOAD_CHUNK and UPLOAD_CHUNK or UPLOAD_CHUNK:sub(1, room)
        end
    end
    return easy(scheme, fault_base(scheme, f.port or "") .. path, opts)
end

local function goods_new(scheme)
    local g = {}
    for i, u in ipairs({ nginx_base(scheme) .. "/1k.bin",
                         fault_base(scheme, "") .. "/bytes/1000",
                         nginx_base(scheme) .. "/1k.bin" }) do
        local e, body = easy(scheme, u)
        g[i] = { e = e, body = body, size = i == 2 and 1000 or 1024 }
    end
    return g
end

-- xfer must never raise a signal (docs/api.md, NOSIGNAL).  A SIGPIPE
-- would kill the interpreter, and every spec after this one with it: a
-- handler counts them instead, and a cell fails on one.
local sigpipe, sigpipes = nil, 0

local function check_no_sigpipe()
    uv.run("nowait") -- runs the handler of a signal that arrived
    assert(sigpipes == 0, "SIGPIPE raised during the transfers")
end

-- Runs the added transfers with run(); returns easy -> { ok, err }.
local function run(m)
    local res = {}
    assert.is_true(m:run{ on_done = function(e, ok, err)
        assert.is_nil(res[e], "a second on_done for one transfer")
        res[e] = { ok = ok, err = err }
    end })
    check_no_sigpipe()
    return res
end

local function check_goods(m, g, res)
    for i, t in ipairs(g) do
        local r = assert(res[t.e], "good transfer " .. i .. " did not finish")
        assert(r.ok, ("good transfer %d failed: %s"):format(i, tostring(r.err)))
        assert.equal(t.size, #t.body())
        assert.is_true(is_pattern_prefix(t.body()))
        assert.equal(200, t.e:getinfo("response_code"))
        m:remove_handle(t.e)
        t.e:close()
    end
end

local function check_fault(f, scheme, r, body)
    local code = r.ok and 0 or r.err.code
    assert(allowed(f.codes[scheme], code),
           ("%s over %s: code %d (%s), want %s"):format(
               f.name, scheme, code, tostring(r.err), f.codes[scheme]))
    if not r.ok then
        assert.equal(xfer.easy_codename(code), r.err.name)
        assert.is_true(#r.err.message > 0)
        if f.msg then
            assert(r.err.message:lower():find(f.msg, 1, true),
                   ("message %q lacks %q"):format(r.err.message, f.msg))
        end
    end
    if f.body then
        local b = body()
        assert(is_pattern_prefix(b), "the body is not the pattern")
        assert(#b >= f.body[1] and #b <= f.body[2],
               ("body of %d bytes, want %d..%d"):format(#b, f.body[1], f.body[2]))
    end
end

local function plain_cell(f, scheme)
    local m = xfer.multi()
    local g = goods_new(scheme)
    local bad, body = fault_easy(f, scheme, f.path)
    assert(m:add_handle(g[1].e))
    assert(m:add_handle(g[2].e))
    assert(m:add_handle(bad))
    assert(m:add_handle(g[3].e))
    local res = run(m)
    check_fault(f, scheme, assert(res[bad], "the faulty transfer did not finish"), body)
    check_goods(m, g, res)
    m:remove_handle(bad)
    bad:close()
    m:close()
end

-- See idle_cell in test_fault_matrix.c: round 2's two requests to the
-- fault server meet its two cached connections, one closed by the server
-- 250 ms before; all succeed, with one new connection between them.
local function idle_cell(f, scheme)
    local m = xfer.multi()
    local g = goods_new(scheme)
    local first, body1 = fault_easy(f, scheme, f.path)
    assert(m:add_handle(g[1].e))
    assert(m:add_handle(g[2].e))
    assert(m:add_handle(first))
    assert(m:add_handle(g[3].e))
    local res = run(m)
    check_fault(f, scheme, res[first], body1)
    assert.equal("ok\n", body1())
    check_goods(m, g, res)
    uv.sleep(300)
    local nxt, body2 = fault_easy(f, scheme, "/bytes/10")
    g = goods_new(scheme)
    assert(m:add_handle(nxt))
    for i = 1, 3 do assert(m:add_handle(g[i].e)) end
    res = run(m)
    check_fault(f, scheme, res[nxt], body2)
    assert.equal(10, #body2())
    assert.equal(1, nxt:getinfo("num_connects") + g[2].e:getinfo("num_connects"))
    check_goods(m, g, res)
    m:remove_handle(first)
    m:remove_handle(nxt)
    first:close()
    nxt:close()
    m:close()
end

local function count_fds()
    local req = assert(uv.fs_scandir("/proc/self/fd"))
    local n = 0
    while uv.fs_scandir_next(req) do n = n + 1 end
    return n
end

-- The fault server's open connections (this request's own included).
local function fault_open()
    local e, body = easy("http", fault_base("http", "") .. "/stats")
    assert(e:perform())
    e:close()
    return tonumber(body():match("open=(%d+)"))
end

-- Waits until the fault server has closed what the cell left it (a
-- server that does not read holds its connection for hold_ms): the specs
-- after this one count its connections.
local function wait_fault_open(open0)
    local open
    for _ = 1, 50 do
        open = fault_open()
        if open <= open0 then return end
        uv.sleep(100)
    end
    error(("the fault server still has %d connections open (%d before)")
          :format(open, open0))
end

-- A full collection; on LuaJIT the compiled traces go too (they count in
-- collectgarbage("count") and come and go with the JIT's heuristics).
local function collect()
    if jit then jit.flush() end
    collectgarbage("collect")
    collectgarbage("collect")
end

-- Lua heap growth allowed between the warm-up and the measured run (KiB).
local HEAP_SLACK_KB = 4

describe("fault matrix (multi:run)", function()
    setup(function()
        sigpipe = uv.new_signal()
        sigpipe:start("sigpipe", function() sigpipes = sigpipes + 1 end)
        start_servers()
    end)
    teardown(function()
        sigpipe:close()
        uv.run("nowait")
        stop_servers()
    end)

    for _, scheme in ipairs({ "http", "https" }) do
        for _, f in ipairs(FAULTS) do
            it(("%s over %s: %s"):format(f.name, scheme, f.codes[scheme]), function()
                if scheme == "https" then fault_base(scheme, "") end -- fail early
                local cell = f.idle and idle_cell or plain_cell
                local open0 = fault_open()
                collect()
                local fds0 = count_fds()
                uv.run("nowait") -- (a signal of an earlier cell is not ours)
                sigpipes = 0
                cell(f, scheme) -- warm-up
                check_no_sigpipe()
                collect()
                assert.equal(fds0, count_fds())
                local kb0 = collectgarbage("count")
                cell(f, scheme)
                check_no_sigpipe()
                collect()
                assert.equal(fds0, count_fds())
                local grew = collectgarbage("count") - kb0
                if os.getenv("FAULT_MATRIX_VERBOSE") then
                    io.stderr:write(("    %s over %s: Lua heap %+.2f KiB\n")
                                    :format(f.name, scheme, grew))
                end
                assert(grew < HEAP_SLACK_KB,
                       ("the Lua heap grew by %.1f KiB"):format(grew))
                wait_fault_open(open0)
            end)
        end
    end
end)
