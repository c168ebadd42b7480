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
-- FAULT_PORT        HTTP/1.1 with keep-alive and pipelining; routes below
--                   (see route table at the bottom). Sends "100 Continue" to
--                   "Expect: 100-continue" unless the query has no100=1.
-- Extra knobs: /chunked/<n>?every_ms=I (one chunk per write, I ms apart),
-- /reset-mid-body?delay_ms=D (RST D ms after the bytes), /no-read-upload?
-- hold_ms=H (close after H ms, default 30000: the client's close can't be
-- seen without reading). A FIN'd connection is drained until the client
-- closes or 2 s pass. /stats "requests" excludes /stats* requests.
-- Set FAULT_DEBUG=1 for a log on stderr.
local uv = require "luv"

local unpack = table.unpack or unpack
local DEBUG = os.getenv("FAULT_DEBUG") == "1"
local HARD_CAP_MS = 2 * 60 * 60 * 1000
local MAX_HEAD = 1024 * 1024
local LINGER_MS = 2000
local ALPHA = "abcdefghijklmnopqrstuvwxyz"
local BASE = string.rep(ALPHA, math.floor(262144 / 26) + 2) -- ~256 KiB + 26

local function log(...)
    if DEBUG then
        io.stderr:write("faultserver: ", table.concat({ ... }, " "), "\n")
    end
end

local function warn(...)
    io.stderr:write("faultserver: ", table.concat({ ... }, " "), "\n")
end

-- Bytes [off, off+n) of the infinite "abc..zabc.." pattern.
local function pattern(n, off)
    off = (off or 0) % 26
    if n <= #BASE - 26 then
        return BASE:sub(off + 1, off + n)
    end
    return string.rep(ALPHA, math.floor((off + n) / 26) + 1):sub(off + 1, off + n)
end

local REASONS = {
    [100] = "Continue", [101] = "Switching Protocols", [103] = "Early Hints",
    [200] = "OK", [201] = "Created", [202] = "Accepted", [204] = "No Content",
    [206] = "Partial Content", [301] = "Moved Permanently", [302] = "Found",
    [303] = "See Other", [304] = "Not Modified", [307] = "Temporary Redirect",
    [308] = "Permanent Redirect", [400] = "Bad Request", [401] = "Unauthorized",
    [403] = "Forbidden", [404] = "Not Found", [405] = "Method Not Allowed",
    [408] = "Request Timeout", [413] = "Content Too Large",
    [429] = "Too Many Requests", [431] = "Request Header Fields Too Large",
    [500] = "Internal Server Error", [502] = "Bad Gateway",
    [503] = "Service Unavailable", [504] = "Gateway Timeout",
}

local function url_decode(s)
    s = s:gsub("+", " ")
    return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- Returns a list of {name, value} pairs (order and repeats kept) and a map
-- name -> first value.
local function parse_query(q)
    local list, map = {}, {}
    for part in (q or ""):gmatch("[^&]+") do
        local k, v = part:match("^([^=]*)=(.*)$")
        if not k then k, v = part, "" end
        k, v = url_decode(k), url_decode(v)
        list[#list + 1] = { k, v }
        if map[k] == nil then map[k] = v end
    end
    return list, map
end

local function qnum(req, name, default)
    local v = tonumber(req.query[name] or "")
    if not v or v < 0 then return default end
    return math.floor(v)
end

---------------------------------------------------------------------------
-- Server state
---------------------------------------------------------------------------

local stats = { connections = 0, requests = 0, peak = 0, open = 0 }
local conns = {}      -- every accepted connection (all ports) -> true
local listeners = {}
local shutting_down = false

local function safe_close(h)
    if h and not h:is_closing() then h:close() end
end

-- Connection object for FAULT_PORT (and the plain ports).
local Conn = {}
Conn.__index = Conn

local function new_conn(tcp, counted)
    local c = setmetatable({
        tcp = tcp, counted = counted, closed = false, finishing = false,
        busy = false, discard = false, pending = {}, pending_len = 0,
        head = nil, timers = {},
    }, Conn)
    conns[c] = true
    if counted then
        stats.connections = stats.connections + 1
        stats.open = stats.open + 1
        if stats.open > stats.peak then stats.peak = stats.open end
    end
    return c
end

function Conn:forget()
    if self.closed then return false end
    self.closed = true
    conns[self] = nil
    if self.counted then stats.open = stats.open - 1 end
    for t in pairs(self.timers) do safe_close(t) end
    self.timers = {}
    return true
end

-- Close now (any queued writes are dropped by libuv).
function Conn:close()
    if self:forget() then safe_close(self.tcp) end
end

-- Close with RST, after queued writes have been handed to the kernel.
function Conn:reset()
    if self.closed then return end
    self:send("", function()
        if self:forget() and not self.tcp:is_closing() then
            self.tcp:close_reset()
        end
    end)
end

-- Graceful close: FIN after queued writes; keep draining (so that unread
-- data can't turn the close into an RST) until the client closes too or
-- LINGER_MS passed, then close the handle.
function Conn:fin()
    if self.closed or self.finishing then return end
    self.finishing, self.discard = true, true
    local ok = pcall(self.tcp.shutdown, self.tcp, function()
        self:timer(LINGER_MS, function() self:close() end)
    end)
    if not ok then self:close() end
end

function Conn:send(data, cb)
    if self.closed then return end
    local ok, err = pcall(self.tcp.write, self.tcp, data, function(werr)
        if werr then log("write error", tostring(werr)); self:close(); return end
        if cb and not self.closed then
            local ok2, e2 = pcall(cb)
            if not ok2 then warn("callback error: " .. tostring(e2)); self:close() end
        end
    end)
    if not ok or err == nil then self:close() end
end

function Conn:timer(ms, fn, repeat_ms)
    if self.closed then return nil end
    local t = uv.new_timer()
    self.timers[t] = true
    t:start(ms, repeat_ms or 0, function()
        if not repeat_ms then self.timers[t] = nil; safe_close(t) end
        if self.closed then return end
        local ok, err = pcall(fn, t)
        if not ok then warn("timer error: " .. tostring(err)); self:close() end
    end)
    return t
end

function Conn:cancel_timer(t)
    if t and self.timers[t] then self.timers[t] = nil; safe_close(t) end
end

function Conn:take_buffer()
    local b = table.concat(self.pending)
    self.pending, self.pending_len = { b }, #b
    return b
end

function Conn:consume(n)
    local b = self:take_buffer():sub(n + 1)
    self.pending, self.pending_len = { b }, #b
end

---------------------------------------------------------------------------
-- Request parsing
---------------------------------------------------------------------------

-- Parses the header section at the start of the buffer; returns a request,
-- false (need more), or nil, err.
local function parse_head(conn)
    local b = conn:take_buffer()
    local s, e = b:find("\r?\n\r?\n")
    if not s then
        if #b > MAX_HEAD then return nil, "header section too large" end
        return false
    end
    local head = b:sub(1, s - 1)
    local lines = {}
    for line in (head .. "\n"):gmatch("(.-)\r?\n") do lines[#lines + 1] = line end
    local method, target, version = lines[1]:match("^(%u+) (%S+) (HTTP/%d%.%d)$")
    if not method then return nil, "bad request line" end
    local headers, hlist = {}, {}
    for i = 2, #lines do
        local name, value = lines[i]:match("^([^:%s]+):%s*(.-)%s*$")
        if not name then return nil, "bad header line" end
        name = name:lower()
        hlist[#hlist + 1] = { name, value }
        headers[name] = headers[name] and (headers[name] .. ", " .. value) or value
    end
    local path, qs = target:match("^([^?]*)%??(.*)$")
    local qlist, query = parse_query(qs)
    local connection = (headers["connection"] or ""):lower()
    local req = {
        method = method, target = target, version = version, path = path,
        query = query, qlist = qlist, headers = headers, hlist = hlist,
        head_len = e,
        close = connection:find("close", 1, true) ~= nil
            or (version == "HTTP/1.0" and not connection:find("keep-alive", 1, true)),
    }
    local te = (headers["transfer-encoding"] or ""):lower()
    if te:find("chunked", 1, true) then
        req.chunked = { raw = {}, parts = {}, need = 0 }
    elseif headers["content-length"] then
        local cl = headers["content-length"]:match("^%s*(%d+)%s*$")
        if not cl then return nil, "bad content-length" end
        req.content_length = tonumber(cl)
    else
        req.content_length = 0
    end
    return req
end

-- Decodes complete chunks at the start of b (the unparsed rest of a
-- chunked request). Returns the end index of the request in b when the last
-- chunk and trailers are in; or false, <bytes consumed> (those raw bytes are
-- moved to st.raw, st.need = buffer size needed to make progress); or nil, err.
local function parse_chunked(b, st)
    local pos = 1
    while true do
        local e = b:find("\r\n", pos, true)
        if not e then break end
        local hex = b:sub(pos, e - 1):match("^%s*(%x+)")
        if not hex then return nil, "bad chunk size" end
        local size = tonumber(hex, 16)
        if size == 0 then
            local q = e + 2 -- trailers until an empty line
            while true do
                local e2 = b:find("\r\n", q, true)
                if not e2 then break end
                if e2 == q then
                    st.raw[#st.raw + 1] = b:sub(1, e2 + 1)
                    return e2 + 1
                end
                q = e2 + 2
            end
            break
        end
        if #b < e + 3 + size then
            st.need = e + 3 + size - (pos - 1)
            st.raw[#st.raw + 1] = b:sub(1, pos - 1)
            return false, pos - 1
        end
        if b:sub(e + 2 + size, e + 3 + size) ~= "\r\n" then return nil, "bad chunk end" end
        st.parts[#st.parts + 1] = b:sub(e + 2, e + 1 + size)
        pos = e + 4 + size
    end
    st.need = #b - pos + 2 -- anything more
    st.raw[#st.raw + 1] = b:sub(1, pos - 1)
    return false, pos - 1
end

---------------------------------------------------------------------------
-- Responses
---------------------------------------------------------------------------

local function head_text(status, headers, proto)
    local t = { (proto or "HTTP/1.1") .. " " .. status .. " " .. (REASONS[status] or "Status") .. "\r\n" }
    for _, h in ipairs(headers or {}) do t[#t + 1] = h[1] .. ": " .. h[2] .. "\r\n" end
    t[#t + 1] = "\r\n"
    return table.concat(t)
end

-- Ends an exchange: close if the client asked, else go on with the next
-- request on this connection.
local process

local function done(conn, req)
    if req.close then conn:fin(); return end
    conn.busy = false
    process(conn)
end

-- A normal response with Content-Length (unless opts.no_length).
local function respond(conn, req, status, headers, body, opts)
    opts = opts or {}
    headers = headers or {}
    body = body or ""
    if not opts.no_length then headers[#headers + 1] = { "Content-Length", tostring(#body) } end
    if req.close then headers[#headers + 1] = { "Connection", "close" } end
    if req.method == "HEAD" then body = "" end
    conn:send(head_text(status, headers) .. body)
end

-- Streams n pattern bytes in pieces, each written after the previous one
-- completed; then calls cb.
local function stream_pattern(conn, n, cb)
    local sent = 0
    local function step()
        if sent >= n then return cb() end
        local len = math.min(262144, n - sent)
        local data = pattern(len, sent)
        sent = sent + len
        conn:send(data, step)
    end
    step()
end

---------------------------------------------------------------------------
-- Routes: handler(conn, req, captures...). A handler either answers
-- synchronously with respond() (the next pipelined request follows), or
-- sets conn.busy and later calls done(conn, req) or closes the connection.
---------------------------------------------------------------------------

local routes = {}
local function route(pat, fn) routes[#routes + 1] = { pat, fn } end

route("^/echo$", function(conn, req)
    respond(conn, req, 200, {
        { "Content-Type", "application/octet-stream" },
        { "X-Body-Length", tostring(#req.body) },
    }, req.raw)
end)

route("^/status/(%d+)$", function(conn, req, code)
    code = tonumber(code)
    if code == 204 then
        respond(conn, req, 204, {}, "", { no_length = true })
    elseif code == 304 then
        respond(conn, req, 304, { { "Content-Length", "10" } }, "", { no_length = true })
    else
        respond(conn, req, code, { { "Content-Type", "text/plain" } }, "status " .. code .. "\n")
    end
end)

route("^/bytes/(%d+)$", function(conn, req, n)
    n = tonumber(n)
    local h = { { "Content-Type", "application/octet-stream" }, { "Content-Length", tostring(n) } }
    if req.close then h[#h + 1] = { "Connection", "close" } end
    conn:send(head_text(200, h))
    if req.method == "HEAD" then return done(conn, req) end
    conn.busy = true
    stream_pattern(conn, n, function() done(conn, req) end)
end)

route("^/chunked/(%d+)$", function(conn, req, n)
    n = tonumber(n)
    local size = math.max(1, qnum(req, "size", 100))
    local ext = req.query.ext == "1" and ";ext=1" or ""
    local every = qnum(req, "every_ms", 0)
    local h = { { "Content-Type", "application/octet-stream" }, { "Transfer-Encoding", "chunked" } }
    if req.query.trailers == "1" then h[#h + 1] = { "Trailer", "X-Trailer" } end
    if req.close then h[#h + 1] = { "Connection", "close" } end
    conn:send(head_text(200, h))
    conn.busy = true
    local sent = 0
    local function finish()
        local tail = "0" .. ext .. "\r\n"
        if req.query.trailers == "1" then tail = tail .. "X-Trailer: yes\r\n" end
        conn:send(tail .. "\r\n", function() done(conn, req) end)
    end
    local step
    step = function()
        if sent >= n then return finish() end
        local buf = {}
        local buflen = 0
        repeat -- group small chunks into writes of up to ~4 KiB
            local len = math.min(size, n - sent)
            buf[#buf + 1] = string.format("%x", len) .. ext .. "\r\n" .. pattern(len, sent) .. "\r\n"
            buflen = buflen + len
            sent = sent + len
        until sent >= n or buflen >= 4096 or every > 0
        conn:send(table.concat(buf), function()
            if every > 0 and sent < n then conn:timer(every, step) else step() end
        end)
    end
    step()
end)

route("^/http10/(%d+)$", function(conn, req, n)
    conn:send("HTTP/1.0 200 OK\r\n\r\n")
    conn.busy = true
    stream_pattern(conn, tonumber(n), function() conn:fin() end)
end)

route("^/close%-delimited/(%d+)$", function(conn, req, n)
    conn:send("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
    conn.busy = true
    stream_pattern(conn, tonumber(n), function() conn:fin() end)
end)

route("^/1xx$", function(conn, req)
    conn:send("HTTP/1.1 100 Continue\r\n\r\n")
    conn:send("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
    respond(conn, req, 200, {}, "final\n")
end)

route("^/redirect/(%d+)$", function(conn, req, code)
    respond(conn, req, tonumber(code), { { "Location", req.query.to or "/" } }, "redirect\n")
end)

route("^/redirect%-chain/(%d+)$", function(conn, req, n)
    n = tonumber(n)
    if n == 0 then return respond(conn, req, 200, {}, "done\n") end
    respond(conn, req, 302, { { "Location", "/redirect-chain/" .. (n - 1) } }, "redirect\n")
end)

route("^/reset%-mid%-body$", function(conn, req)
    local size = qnum(req, "size", 1000)
    local send = math.min(qnum(req, "send", math.floor(size / 2)), size)
    conn.busy, conn.discard = true, true
    conn:send(head_text(200, { { "Content-Length", tostring(size) } }) .. pattern(send))
    local delay = qnum(req, "delay_ms", 0)
    if delay > 0 then conn:timer(delay, function() conn:reset() end) else conn:reset() end
end)

route("^/truncated%-body$", function(conn, req)
    local size = qnum(req, "size", 1000)
    local send = math.min(qnum(req, "send", math.floor(size / 2)), size)
    conn.busy = true
    conn:send(head_text(200, { { "Content-Length", tostring(size) } }) .. pattern(send))
    conn:fin()
end)

route("^/truncated%-chunk$", function(conn, req)
    conn.busy = true
    conn:send(head_text(200, { { "Transfer-Encoding", "chunked" } }) .. "64\r\n" .. pattern(50))
    conn:fin()
end)

route("^/oversized%-headers$", function(conn, req)
    local kb = qnum(req, "kb", 64)
    local h, filler = {}, string.rep("x", 1000)
    for i = 1, kb + 1 do h[#h + 1] = { "X-Filler-" .. i, filler } end
    respond(conn, req, 200, h, "ok\n")
end)

route("^/huge%-header%-line$", function(conn, req)
    local kb = qnum(req, "kb", 64)
    respond(conn, req, 200, { { "X-Huge", string.rep("x", kb * 1024) } }, "ok\n")
end)

route("^/drip$", function(conn, req)
    local size = qnum(req, "size", 10)
    local every = qnum(req, "every_ms", 10)
    local chunk = math.max(1, qnum(req, "chunk", 1))
    local h = { { "Content-Length", tostring(size) } }
    if req.close then h[#h + 1] = { "Connection", "close" } end
    conn:send(head_text(200, h))
    conn.busy = true
    local sent = 0
    local function step()
        if sent >= size then return done(conn, req) end
        local len = math.min(chunk, size - sent)
        conn:send(pattern(len, sent))
        sent = sent + len
        if sent >= size then return done(conn, req) end
        conn:timer(every, step)
    end
    conn:timer(every, step)
end)

route("^/silence$", function(conn, req)
    conn.busy, conn.discard = true, true
end)

route("^/headers%-then%-silence$", function(conn, req)
    conn.busy, conn.discard = true, true
    conn:send(head_text(200, { { "Content-Length", "100" } }))
end)

route("^/garbage$", function(conn, req)
    conn.busy = true
    conn:send("SSH-2.0-OpenSSH_9.2p1 Debian\r\n\0\1\2\3\255\254\253binary\0\r\n")
    conn:fin()
end)

local GARBAGE = { 0, 255 }
for i = 3, 64 do GARBAGE[i] = (i * 37) % 256 end
GARBAGE = string.char(unpack(GARBAGE))

route("^/garbage%-binary$", function(conn, req)
    conn.busy = true
    conn:send(GARBAGE)
    conn:fin()
end)

route("^/conflicting%-length$", function(conn, req)
    conn.busy = true
    conn:send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef")
    conn:fin()
end)

route("^/keepalive%-idle%-close$", function(conn, req)
    respond(conn, req, 200, {}, "ok\n")
    if req.close then return end
    conn.idle_timer = conn:timer(qnum(req, "ms", 50), function()
        conn.idle_timer = nil
        conn:fin()
    end)
end)

route("^/close%-after%-response$", function(conn, req)
    conn.busy = true
    conn:send(head_text(200, { { "Content-Length", "3" } }) .. "ok\n")
    conn:fin()
end)

route("^/no%-read%-upload$", function(conn, req)
    -- normally handled right after the header section (see process)
    conn.busy, conn.discard = true, true
end)

local function sleeper(body, param)
    return function(conn, req)
        conn.busy = true
        conn:timer(qnum(req, param, 100), function()
            respond(conn, req, 200, {}, body)
            done(conn, req)
        end)
    end
end
route("^/slow%-headers$", sleeper("slow\n", "ms"))
route("^/sleep$", sleeper("slept\n", "ms"))

route("^/stats$", function(conn, req)
    respond(conn, req, 200, { { "Content-Type", "text/plain" } }, string.format(
        "connections=%d requests=%d peak=%d open=%d\n",
        stats.connections, stats.requests, stats.peak, stats.open))
end)

route("^/stats/reset$", function(conn, req)
    stats.connections, stats.requests, stats.peak = 0, 0, stats.open
    respond(conn, req, 200, { { "Content-Type", "text/plain" } }, "reset\n")
end)

route("^/headers$", function(conn, req)
    local h = {}
    for _, kv in ipairs(req.qlist) do h[#h + 1] = { kv[1], kv[2] } end
    respond(conn, req, 200, h, "ok\n")
end)

local function dispatch(conn, req)
    if not req.path:match("^/stats") then stats.requests = stats.requests + 1 end
    for _, r in ipairs(routes) do
        local caps = { req.path:match(r[1]) }
        if caps[1] then
            log(req.method, req.target)
            return r[2](conn, req, unpack(caps))
        end
    end
    respond(conn, req, 404, { { "Content-Type", "text/plain" } }, "no such fault\n")
end

---------------------------------------------------------------------------
-- Connection processing
---------------------------------------------------------------------------

local function bad_request(conn, why)
    log("bad request:", why)
    conn.busy, conn.discard = true, true
    conn:send(head_text(400, { { "Content-Length", "12" }, { "Connection", "close" } }) .. "bad request\n")
    conn:fin()
end

-- Parses and serves as many complete requests as are buffered.
process = function(conn)
    while not (conn.closed or conn.finishing or conn.busy) do
        local req = conn.head
        if not req then
            if conn.pending_len == 0 then return end
            local err
            req, err = parse_head(conn)
            if req == nil then return bad_request(conn, err) end
            if not req then return end
            conn.head = req
            if conn.idle_timer then conn:cancel_timer(conn.idle_timer); conn.idle_timer = nil end
            if req.path == "/no-read-upload" then
                stats.requests = stats.requests + 1
                conn:consume(req.head_len)
                conn.busy, conn.discard = true, true
                conn.tcp:read_stop()
                conn:timer(qnum(req, "hold_ms", 30000), function() conn:close() end)
                return
            end
            if req.chunked then -- keep the raw head; the body is parsed from 1
                req.chunked.raw[1] = conn:take_buffer():sub(1, req.head_len)
                conn:consume(req.head_len)
            end
            local expect = (req.headers["expect"] or ""):lower()
            if expect == "100-continue" and req.query.no100 ~= "1" then
                req.send_continue = true
            end
        end
        local st, stop = req.chunked, nil
        if st and conn.pending_len >= st.need then
            local r, n = parse_chunked(conn:take_buffer(), st)
            if r == nil then return bad_request(conn, n) end
            if r then
                stop, req.raw, req.body = r, table.concat(st.raw), table.concat(st.parts)
            elseif n > 0 then
                conn:consume(n)
            end
        elseif not st and conn.pending_len >= req.head_len + req.content_length then
            local b = conn:take_buffer() -- concatenate only once the body is complete
            stop = req.head_len + req.content_length
            req.raw, req.body = b:sub(1, stop), b:sub(req.head_len + 1, stop)
        end
        if not stop then
            if req.send_continue then
                req.send_continue = false
                conn:send("HTTP/1.1 100 Continue\r\n\r\n")
            end
            return
        end
        conn.head = nil
        conn:consume(stop)
        dispatch(conn, req)
        if req.close and not conn.busy then conn:fin() end
    end
end

local function on_read(conn)
    return function(err, data)
        if conn.closed then return end
        if err or not data then return conn:close() end -- EOF or error
        if conn.discard then return end
        if conn.idle_timer then conn:cancel_timer(conn.idle_timer); conn.idle_timer = nil end
        conn.pending[#conn.pending + 1] = data
        conn.pending_len = conn.pending_len + #data
        local ok, perr = pcall(process, conn)
        if not ok then
            warn("handler error: " .. tostring(perr))
            conn:close()
        end
    end
end

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
    local conn = new_conn(tcp, true)
    tcp:read_start(on_read(conn))
end)

local close_port = listen("close", function(tcp)
    local conn = new_conn(tcp, false)
    tcp:read_start(on_read(conn))
    conn:fin()
end)

local reset_port = listen("reset", function(tcp)
    new_conn(tcp, false):forget()
    tcp:close_reset()
end)

local silent_port = listen("silent", function(tcp)
    local conn = new_conn(tcp, false)
    conn.discard = true
    tcp:read_start(on_read(conn))
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
    for c in pairs(conns) do c:close() end
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
