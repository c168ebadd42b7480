-- fault/routes.lua: the fault server's routes on FAULT_PORT. Each one talks
-- to a protocol-neutral stream (interface: the top of fault/http1.lua), so
-- a protocol module can serve them all without writing routes of its own.
--
--   route(pattern, [flags,] handler)   handler(stream, req, captures...)
--
-- Flags:
--   H1          HTTP/1.1 only: the route sends malformed or HTTP/1-only
--               bytes (stream:raw) on purpose; another protocol must not
--               run it.
--   UNREAD      runs as soon as the request head is in; the body is never
--               read (the client's upload stalls).
--
-- Knobs: /chunked/<n>?every_ms=I (one chunk per write, I ms apart),
-- /reset-mid-body?delay_ms=D (RST D ms after the bytes), /no-read-upload?
-- hold_ms=H (close after H ms, default 30000: the client's close can't be
-- seen without reading). /stats "requests" excludes /stats* requests.
local util = require "fault.util"

local pattern, qnum, stats, log = util.pattern, util.qnum, util.stats, util.log
local unpack = util.unpack

local M = {}

local H1 = { h1_only = true }
local UNREAD = { unread_body = true }

local routes = {}
local function route(pat, flags, fn)
    if fn == nil then flags, fn = {}, flags end
    routes[#routes + 1] = {
        pattern = pat, handler = fn,
        h1_only = flags.h1_only or false, unread_body = flags.unread_body or false,
    }
end

-- A complete response with Content-Length (unless no_length), head and
-- body in one write. A HEAD request gets the length but not the body.
local function reply(s, status, headers, body, no_length)
    headers = headers or {}
    body = body or ""
    if not no_length then headers[#headers + 1] = { "Content-Length", tostring(#body) } end
    if s.req.method == "HEAD" then body = "" end
    s:head(status, headers, { data = body })
    s:finish()
end

-- Sends n pattern bytes in pieces, each written after the previous one
-- completed (so a slow client holds the server back); then calls cb.
-- how: "body" (default) or "raw".
local function send_pattern(s, n, cb, how)
    local write = s[how or "body"]
    local sent = 0
    local function step()
        if sent >= n then return cb() end
        local len = math.min(262144, n - sent)
        local data = pattern(len, sent)
        sent = sent + len
        write(s, data, step)
    end
    step()
end

route("^/echo$", function(s, req)
    reply(s, 200, {
        { "Content-Type", "application/octet-stream" },
        { "X-Body-Length", tostring(#req.body) },
    }, req.raw)
end)

route("^/status/(%d+)$", function(s, req, code)
    code = tonumber(code)
    if code == 204 then
        reply(s, 204, {}, "", true)
    elseif code == 304 then
        reply(s, 304, { { "Content-Length", "10" } }, "", true)
    else
        reply(s, code, { { "Content-Type", "text/plain" } }, "status " .. code .. "\n")
    end
end)

route("^/bytes/(%d+)$", function(s, req, n)
    n = tonumber(n)
    s:head(200, { { "Content-Type", "application/octet-stream" }, { "Content-Length", tostring(n) } })
    if req.method == "HEAD" then return s:finish() end
    send_pattern(s, n, function() s:finish() end)
end)

-- size=S bytes a chunk, ext=1 (chunk extensions), trailers=1, every_ms=I.
route("^/chunked/(%d+)$", function(s, req, n)
    n = tonumber(n)
    local size = math.max(1, qnum(req, "size", 100))
    local every = qnum(req, "every_ms", 0)
    local trailers = req.query.trailers == "1"
    local h = { { "Content-Type", "application/octet-stream" }, { "Transfer-Encoding", "chunked" } }
    if trailers then h[#h + 1] = { "Trailer", "X-Trailer" } end
    s:head(200, h, { chunk_ext = req.query.ext == "1" and ";ext=1" or nil })
    local sent = 0
    local step
    step = function()
        if sent >= n then return s:finish(trailers and { { "X-Trailer", "yes" } } or nil) end
        local pieces, buflen = {}, 0
        repeat -- group small chunks into writes of up to ~4 KiB
            local len = math.min(size, n - sent)
            pieces[#pieces + 1] = pattern(len, sent)
            buflen = buflen + len
            sent = sent + len
        until sent >= n or buflen >= 4096 or every > 0
        s:body(pieces, function()
            if every > 0 and sent < n then s:timer(every, step) else step() end
        end)
    end
    step()
end)

-- An HTTP/1.0 status line, the body delimited by the close.
route("^/http10/(%d+)$", H1, function(s, req, n)
    s:raw("HTTP/1.0 200 OK\r\n\r\n")
    send_pattern(s, tonumber(n), function() s:close_connection() end, "raw")
end)

-- A body delimited by the close: only HTTP/1 frames a body that way.
route("^/close%-delimited/(%d+)$", H1, function(s, req, n)
    s:raw("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
    send_pattern(s, tonumber(n), function() s:close_connection() end, "raw")
end)

route("^/1xx$", function(s, req)
    s:info(100, {})
    s:info(103, { { "Link", "</style.css>; rel=preload" } })
    reply(s, 200, {}, "final\n")
end)

route("^/redirect/(%d+)$", function(s, req, code)
    reply(s, tonumber(code), { { "Location", req.query.to or "/" } }, "redirect\n")
end)

route("^/redirect%-chain/(%d+)$", function(s, req, n)
    n = tonumber(n)
    if n == 0 then return reply(s, 200, {}, "done\n") end
    reply(s, 302, { { "Location", "/redirect-chain/" .. (n - 1) } }, "redirect\n")
end)

route("^/reset%-mid%-body$", function(s, req)
    local size = qnum(req, "size", 1000)
    local send = math.min(qnum(req, "send", math.floor(size / 2)), size)
    s:abandon()
    s:head(200, { { "Content-Length", tostring(size) } }, { data = pattern(send) })
    local delay = qnum(req, "delay_ms", 0)
    if delay > 0 then s:timer(delay, function() s:reset() end) else s:reset() end
end)

route("^/truncated%-body$", function(s, req)
    local size = qnum(req, "size", 1000)
    local send = math.min(qnum(req, "send", math.floor(size / 2)), size)
    s:abandon()
    s:head(200, { { "Content-Length", tostring(size) } }, { data = pattern(send) })
    s:close_connection()
end)

-- A chunk cut short by the close: chunks are HTTP/1 framing.
route("^/truncated%-chunk$", H1, function(s, req)
    s:raw("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n" .. pattern(50))
    s:close_connection()
end)

route("^/oversized%-headers$", function(s, req)
    local kb = qnum(req, "kb", 64)
    local h, filler = {}, string.rep("x", 1000)
    for i = 1, kb + 1 do h[#h + 1] = { "X-Filler-" .. i, filler } end
    reply(s, 200, h, "ok\n")
end)

route("^/huge%-header%-line$", function(s, req)
    local kb = qnum(req, "kb", 64)
    reply(s, 200, { { "X-Huge", string.rep("x", kb * 1024) } }, "ok\n")
end)

-- size bytes, chunk bytes every every_ms ms.
route("^/drip$", function(s, req)
    local size = qnum(req, "size", 10)
    local every = qnum(req, "every_ms", 10)
    local chunk = math.max(1, qnum(req, "chunk", 1))
    s:head(200, { { "Content-Length", tostring(size) } })
    local sent = 0
    local function step()
        if sent >= size then return s:finish() end
        local len = math.min(chunk, size - sent)
        s:body(pattern(len, sent))
        sent = sent + len
        if sent >= size then return s:finish() end
        s:timer(every, step)
    end
    s:timer(every, step)
end)

route("^/silence$", function(s, req)
    s:abandon()
end)

route("^/headers%-then%-silence$", function(s, req)
    s:abandon()
    s:head(200, { { "Content-Length", "100" } })
end)

route("^/garbage$", H1, function(s, req)
    s:raw("SSH-2.0-OpenSSH_9.2p1 Debian\r\n\0\1\2\3\255\254\253binary\0\r\n")
    s:close_connection()
end)

local GARBAGE = { 0, 255 }
for i = 3, 64 do GARBAGE[i] = (i * 37) % 256 end
GARBAGE = string.char(unpack(GARBAGE))

route("^/garbage%-binary$", H1, function(s, req)
    s:raw(GARBAGE)
    s:close_connection()
end)

-- Two Content-Length fields: a framing fault of HTTP/1 (HTTP/2 frames by
-- DATA, a content-length mismatch there is a fault of its own).
route("^/conflicting%-length$", H1, function(s, req)
    s:raw("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef")
    s:close_connection()
end)

route("^/keepalive%-idle%-close$", function(s, req)
    reply(s, 200, {}, "ok\n")
    s:close_when_idle(qnum(req, "ms", 50))
end)

-- A complete response, then a close that was not announced.
route("^/close%-after%-response$", function(s, req)
    s:abandon()
    s:head(200, { { "Content-Length", "3" } }, { data = "ok\n" })
    s:close_connection()
end)

route("^/no%-read%-upload$", UNREAD, function(s, req)
    s:timer(qnum(req, "hold_ms", 30000), function() s:close_connection(true) end)
end)

local function sleeper(body, param)
    return function(s, req)
        s:timer(qnum(req, param, 100), function() reply(s, 200, {}, body) end)
    end
end
route("^/slow%-headers$", sleeper("slow\n", "ms"))
route("^/sleep$", sleeper("slept\n", "ms"))

route("^/stats$", function(s, req)
    reply(s, 200, { { "Content-Type", "text/plain" } }, string.format(
        "connections=%d requests=%d peak=%d open=%d\n",
        stats.connections, stats.requests, stats.peak, stats.open))
end)

route("^/stats/reset$", function(s, req)
    stats.connections, stats.requests, stats.peak = 0, 0, stats.open
    reply(s, 200, { { "Content-Type", "text/plain" } }, "reset\n")
end)

-- Each query parameter becomes a response header field.
route("^/headers$", function(s, req)
    local h = {}
    for _, kv in ipairs(req.qlist) do h[#h + 1] = { kv[1], kv[2] } end
    reply(s, 200, h, "ok\n")
end)

-- Coded bodies for the content-decoding tests: /enc/<file> serves
-- spec/support/fixtures/decode/<file> (gen.lua there makes them) with a
-- Content-Encoding named by the file's extensions in order (plain.gz.br:
-- "gzip, br"), or by ce=V instead (ce= sends none).  Knobs: chunked=1
-- (pieces of piece=N bytes, default 4096, one a write, every_ms=I apart),
-- cut=N (only the first N bytes, and Content-Length N: the framing is
-- complete, the coded stream is not), flip=OFF (that byte inverted),
-- tail=S (S after the coded stream), info_ce=V (a 103 first, with
-- Content-Encoding V), trailer_ce=V (chunked: a Content-Encoding trailer).
local FIXTURES = (debug.getinfo(1, "S").source:match("^@(.*)/fault/[^/]*$") or ".")
    .. "/fixtures/decode/"
local CODINGS = { gz = "gzip", zz = "deflate", deflate = "deflate", br = "br",
                  zst = "zstd" }
local fixture_cache = {}

local function fixture(name)
    if fixture_cache[name] == nil then
        local f = io.open(FIXTURES .. name, "rb")
        fixture_cache[name] = f and f:read("*a") or false
        if f then f:close() end
    end
    return fixture_cache[name]
end

route("^/enc/([%w%.%-]+)$", function(s, req, name)
    local data = fixture(name)
    if not data then return reply(s, 404, {}, "no such fixture\n") end
    local ce = req.query.ce
    if not ce then
        local names = {}
        for ext in name:gmatch("%.([%w]+)") do names[#names + 1] = CODINGS[ext] end
        ce = table.concat(names, ", ")
    end
    local flip = qnum(req, "flip", -1)
    if flip >= 0 and flip < #data then
        data = data:sub(1, flip) .. string.char(255 - data:byte(flip + 1)) .. data:sub(flip + 2)
    end
    local cut = qnum(req, "cut", -1)
    if cut >= 0 then data = data:sub(1, cut) end
    data = data .. (req.query.tail or "")
    local h = { { "Content-Type", "application/octet-stream" } }
    if ce ~= "" then h[#h + 1] = { "Content-Encoding", ce } end
    if req.query.info_ce then s:info(103, { { "Content-Encoding", req.query.info_ce } }) end
    if req.query.chunked ~= "1" then return reply(s, 200, h, data) end
    h[#h + 1] = { "Transfer-Encoding", "chunked" }
    s:head(200, h)
    if req.method == "HEAD" then return s:finish() end
    local piece = math.max(1, qnum(req, "piece", 4096))
    local every, at = qnum(req, "every_ms", 0), 1
    local trailers = req.query.trailer_ce and { { "Content-Encoding", req.query.trailer_ce } }
    local function step()
        if at > #data then return s:finish(trailers) end
        local part = data:sub(at, at + piece - 1)
        at = at + piece
        s:body(part, function()
            if every > 0 then s:timer(every, step) else step() end
        end)
    end
    step()
end)

local not_found = {
    handler = function(s, req)
        reply(s, 404, { { "Content-Type", "text/plain" } }, "no such fault\n")
    end,
    h1_only = false, unread_body = false,
}

M.list = routes -- in matching order; entries: pattern, handler, h1_only, unread_body

-- The route of a request: { route = entry, caps = captures }. Unknown paths
-- get a 404 route.
function M.find(req)
    for _, r in ipairs(routes) do
        local caps = { req.path:match(r.pattern) }
        if caps[1] then return { route = r, caps = caps } end
    end
    return { route = not_found, caps = {} }
end

-- Runs a route found by M.find on a stream.
function M.run(s, match)
    local req = s.req
    if not req.path:match("^/stats") then stats.requests = stats.requests + 1 end
    if match.route ~= not_found then log(req.method, req.target) end
    return match.route.handler(s, req, unpack(match.caps))
end

return M
