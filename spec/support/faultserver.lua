-- faultserver.lua: a scriptable HTTP/1.1 server (luv) for behaviour real
-- servers don't show. Runs on lua5.1, lua5.4 and luajit.
--
--   lua5.1 spec/support/faultserver.lua
--
-- Prints one line, then serves until stdin reaches EOF (when stdin is a pipe
-- or tty), SIGTERM/SIGINT, or a 2 hour cap:
--   FAULT_PORT=.. FAULT_CLOSE_PORT=.. FAULT_RESET_PORT=.. FAULT_SILENT_PORT=..
--
-- FAULT_CLOSE_PORT  closes each connection right after accept (FIN).
-- FAULT_RESET_PORT  resets each connection right after accept (RST).
-- FAULT_SILENT_PORT never writes; drains and discards what the client sends
--                   (so it notices the close), keeps the connection open.
-- FAULT_PORT        HTTP/1.1 with keep-alive and pipelining; the routes and
--                   their knobs are in fault/routes.lua. Sends "100
--                   Continue" to "Expect: 100-continue" unless the query has
--                   no100=1. A FIN'd connection is drained until the client
--                   closes or 2 s pass.
-- Set FAULT_DEBUG=1 for a log on stderr.
--
-- The parts, in fault/ beside this file:
--   conn.lua    a TCP connection: writes, timers, close / FIN / RST
--   http1.lua   HTTP/1.1 framing, and the stream interface routes talk to
--   routes.lua  the routes, protocol-neutral but for those flagged H1
--   util.lua    logging, the body pattern, query parsing, /stats counters
local uv = require "luv"

-- The modules live beside this file, wherever it is run from.
local here = (arg and arg[0] or ""):match("^(.*)[/\\][^/\\]*$") or "."
package.path = here .. "/?.lua;" .. package.path

local util = require "fault.util"
local conn = require "fault.conn"
local http1 = require "fault.http1"
local routes = require "fault.routes"

local log, warn, safe_close = util.log, util.warn, conn.safe_close

local HARD_CAP_MS = 2 * 60 * 60 * 1000

local listeners = {}
local shutting_down = false

---------------------------------------------------------------------------
-- Listeners
---------------------------------------------------------------------------

local function listen(kind, on_conn)
    local server = uv.new_tcp()
    assert(server:bind("127.0.0.1", 0))
    assert(server:listen(511, function(lerr)
        if lerr or shutting_down then return end
        local tcp = uv.new_tcp()
        if not pcall(server.accept, server, tcp) then return safe_close(tcp) end
        local ok, err = pcall(on_conn, tcp)
        if not ok then warn(kind .. " accept error: " .. tostring(err)); safe_close(tcp) end
    end))
    listeners[#listeners + 1] = server
    return server:getsockname().port
end

local main_port = listen("main", function(tcp)
    tcp:nodelay(true)
    http1.serve(conn.new(tcp, true), routes)
end)

local close_port = listen("close", function(tcp)
    local c = conn.new(tcp, false)
    c:read_start()
    c:fin()
end)

local reset_port = listen("reset", function(tcp)
    conn.new(tcp, false):forget()
    tcp:close_reset()
end)

local silent_port = listen("silent", function(tcp)
    conn.new(tcp, false):read_start()
end)

---------------------------------------------------------------------------
-- Lifetime: stdin EOF, SIGTERM/SIGINT, hard cap
---------------------------------------------------------------------------

local handles = {}

local function shutdown(why)
    if shutting_down then return end
    shutting_down = true
    log("shutting down:", why)
    for _, l in ipairs(listeners) do safe_close(l) end
    for c in pairs(conn.all) do c:close() end
    for _, h in ipairs(handles) do safe_close(h) end
    uv.stop()
end

for _, sig in ipairs({ "sigterm", "sigint" }) do
    local s = uv.new_signal()
    s:start(sig, function() shutdown(sig) end)
    handles[#handles + 1] = s
end
local sigpipe = uv.new_signal() -- ignore SIGPIPE; writes report EPIPE instead
sigpipe:start("sigpipe", function() end)
handles[#handles + 1] = sigpipe

local cap = uv.new_timer()
cap:start(HARD_CAP_MS, 0, function() shutdown("hard cap") end)
handles[#handles + 1] = cap

local kind = uv.guess_handle(0)
if kind == "pipe" or kind == "tty" or kind == "tcp" then
    local stdin = kind == "tty" and uv.new_tty(0, true) or uv.new_pipe(false)
    if kind ~= "tty" then stdin:open(0) end
    stdin:read_start(function(err, data)
        if err or not data then shutdown("stdin EOF") end
    end)
    handles[#handles + 1] = stdin
end

io.stdout:write(string.format("FAULT_PORT=%d FAULT_CLOSE_PORT=%d FAULT_RESET_PORT=%d FAULT_SILENT_PORT=%d\n",
    main_port, close_port, reset_port, silent_port))
io.stdout:flush()

uv.run()
os.exit(0)
