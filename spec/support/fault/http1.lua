-- fault/http1.lua: HTTP/1.1 framing for the fault server. Parses requests
-- (head, Content-Length and chunked bodies, pipelining, Expect:
-- 100-continue) and turns what a route does to its stream into HTTP/1.1
-- bytes. The routes (fault/routes.lua) write no protocol bytes themselves,
-- so another protocol is one more module of this shape:
--
--   M.serve(conn, routes)   serve a connection (fault/conn.lua): for each
--       request, match = routes.find(req), then routes.run(stream, match)
--
-- A stream is one request and its response:
--
--   stream.req   method, target, path, query (name -> first value), qlist
--                ({name, value}, order and repeats kept), headers (lower-case
--                name -> value, repeats joined by ", "), hlist, body (the
--                decoded body), raw (the request as received: the head and
--                the body as framed), close (the client asked to close).
--   stream:info(status, headers)  an interim (1xx) response.
--   stream:head(status, headers [, opts])  the response head. headers is a
--                list of {name, value}, sent in order and as given (the
--                routes write Content-Length themselves). A
--                "Transfer-Encoding: chunked" field asks for a body sent in
--                pieces (chunks here; another protocol drops the field and
--                sends frames). opts.data: the first body bytes, sent with
--                the head; opts.chunk_ext: an extension (";ext=1") for every
--                chunk, ignored where there are no chunks.
--   stream:body(data [, cb])  body bytes: a string, or a list of strings
--                (one chunk or frame each, all in one write). cb runs once
--                they are written.
--   stream:finish([trailers])  ends the response ({name, value} list; only
--                a chunked response carries them); the next request follows.
--   stream:abandon()  the response will not complete normally (it hangs or
--                the route cuts it): no close is announced for it, and what
--                the client sends after the request is dropped.
--   stream:reset()  aborts the response at once. HTTP/1.1: resets the TCP
--                connection (RST) after the queued bytes; HTTP/2: RST_STREAM.
--   stream:close_connection([now])  closes the connection after the queued
--                bytes (FIN, then drains), or at once with `now` (queued
--                bytes dropped; unread input makes it an RST).
--   stream:close_when_idle(ms)  after this response, closes the connection
--                if no request starts within ms (nothing if it closes anyway).
--   stream:timer(ms, fn)  a one-shot timer, stopped if the connection closes.
--   stream:raw(bytes [, cb])  HTTP/1.1 only: bytes as they are, for routes
--                that send malformed HTTP/1.1 on purpose.
--
-- Routes flagged h1_only (the ones using raw, or framing only HTTP/1 has)
-- are not for other protocols. A route flagged unread_body runs as soon as
-- the head is in, and the body is never read (here: the socket is no longer
-- read; HTTP/2: no flow-control window is opened).
--
-- HEAD is the routes' business: a route decides whether a HEAD response
-- carries a body (some send one anyway, as faulty servers do).
local util = require "fault.util"

local log = util.log

local MAX_HEAD = 1024 * 1024

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

local M = {}

---------------------------------------------------------------------------
-- Input buffer of a connection (h: this module's state of one connection)
---------------------------------------------------------------------------

-- Concatenates lazily: a large body arrives in many reads.
local function take_buffer(h)
    local b = table.concat(h.pending)
    h.pending, h.pending_len = { b }, #b
    return b
end

local function consume(h, n)
    local b = take_buffer(h):sub(n + 1)
    h.pending, h.pending_len = { b }, #b
end

---------------------------------------------------------------------------
-- Request parsing
---------------------------------------------------------------------------

-- Parses the header section at the start of the buffer; returns a request,
-- false (need more), or nil, err.
local function parse_head(h)
    local b = take_buffer(h)
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
    local qlist, query = util.parse_query(qs)
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
-- Responses: the stream
---------------------------------------------------------------------------

local function head_text(status, headers)
    local t = { "HTTP/1.1 " .. status .. " " .. (REASONS[status] or "Status") .. "\r\n" }
    for _, kv in ipairs(headers or {}) do t[#t + 1] = kv[1] .. ": " .. kv[2] .. "\r\n" end
    t[#t + 1] = "\r\n"
    return table.concat(t)
end

-- data (a string or a list of strings) as chunks; an empty piece is left
-- out (it would read as the last chunk).
local function chunks(data, ext)
    if type(data) == "string" then data = { data } end
    local t = {}
    for _, piece in ipairs(data) do
        if #piece > 0 then
            t[#t + 1] = string.format("%x", #piece) .. ext .. "\r\n" .. piece .. "\r\n"
        end
    end
    return table.concat(t)
end

local process

local Stream = {}
Stream.__index = Stream

-- The end of an exchange: close if the client asked, else go on with the
-- next request on this connection.
local function complete(s)
    if s.finished then return end
    s.finished = true
    local h = s.h
    if h.serving == s then return end -- still in its handler: run() goes on
    if s.req.close then h.conn:fin(); return end
    h.busy = false
    process(h)
end

function Stream:info(status, headers)
    self.h.conn:send(head_text(status, headers))
end

function Stream:head(status, headers, opts)
    opts = opts or {}
    local list = {}
    for i, kv in ipairs(headers or {}) do
        list[i] = kv
        if kv[1]:lower() == "transfer-encoding" and kv[2]:lower():find("chunked", 1, true) then
            self.chunked = true
        end
    end
    if self.req.close and not self.abandoned then list[#list + 1] = { "Connection", "close" } end
    self.chunk_ext = opts.chunk_ext or ""
    local data = opts.data or ""
    if self.chunked then data = chunks(data, self.chunk_ext) end
    self.h.conn:send(head_text(status, list) .. data)
end

function Stream:body(data, cb)
    if self.chunked then
        data = chunks(data, self.chunk_ext)
    elseif type(data) == "table" then
        data = table.concat(data)
    end
    self.h.conn:send(data, cb)
end

function Stream:finish(trailers)
    if not self.chunked then return complete(self) end
    local t = { "0" .. self.chunk_ext .. "\r\n" }
    for _, kv in ipairs(trailers or {}) do t[#t + 1] = kv[1] .. ": " .. kv[2] .. "\r\n" end
    t[#t + 1] = "\r\n"
    self.h.conn:send(table.concat(t), function() complete(self) end)
end

function Stream:abandon()
    self.abandoned = true
    self.h.conn.discard = true -- no later request on this connection is answered
end

function Stream:reset()
    self.h.conn:reset()
end

function Stream:close_connection(now)
    if now then self.h.conn:close() else self.h.conn:fin() end
end

function Stream:close_when_idle(ms)
    if self.req.close then return end
    local h = self.h
    h.idle_timer = h.conn:timer(ms, function()
        h.idle_timer = nil
        h.conn:fin()
    end)
end

function Stream:timer(ms, fn)
    return self.h.conn:timer(ms, fn)
end

function Stream:raw(bytes, cb)
    self.h.conn:send(bytes, cb)
end

---------------------------------------------------------------------------
-- Connection processing
---------------------------------------------------------------------------

-- Runs the request's route. One response at a time: the connection is busy
-- (later requests wait in the buffer) until the stream finishes.
local function run(h, req, match)
    local s = setmetatable({ h = h, req = req, chunk_ext = "" }, Stream)
    h.busy, h.serving = true, s
    h.routes.run(s, match)
    h.serving = nil
    if s.finished then
        h.busy = false
        if req.close then h.conn:fin() end
    end
end

local function bad_request(h, why)
    log("bad request:", why)
    h.busy, h.conn.discard = true, true
    h.conn:send(head_text(400, { { "Content-Length", "12" }, { "Connection", "close" } }) .. "bad request\n")
    h.conn:fin()
end

local function cancel_idle(h)
    if h.idle_timer then h.conn:cancel_timer(h.idle_timer); h.idle_timer = nil end
end

-- Parses and serves as many complete requests as are buffered.
process = function(h)
    local conn = h.conn
    while not (conn.closed or conn.finishing or h.busy) do
        local req = h.head
        if not req then
            if h.pending_len == 0 then return end
            local err
            req, err = parse_head(h)
            if req == nil then return bad_request(h, err) end
            if not req then return end
            h.head = req
            cancel_idle(h)
            h.match = h.routes.find(req)
            if h.match.route.unread_body then -- served now, body left unread
                h.head = nil
                consume(h, req.head_len)
                h.busy = true
                conn:read_stop()
                return run(h, req, h.match)
            end
            if req.chunked then -- keep the raw head; the body is parsed from 1
                req.chunked.raw[1] = take_buffer(h):sub(1, req.head_len)
                consume(h, req.head_len)
            end
            local expect = (req.headers["expect"] or ""):lower()
            if expect == "100-continue" and req.query.no100 ~= "1" then
                req.send_continue = true
            end
        end
        local st, stop = req.chunked, nil
        if st and h.pending_len >= st.need then
            local r, n = parse_chunked(take_buffer(h), st)
            if r == nil then return bad_request(h, n) end
            if r then
                stop, req.raw, req.body = r, table.concat(st.raw), table.concat(st.parts)
            elseif n > 0 then
                consume(h, n)
            end
        elseif not st and h.pending_len >= req.head_len + req.content_length then
            local b = take_buffer(h) -- concatenate only once the body is complete
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
        h.head = nil
        consume(h, stop)
        run(h, req, h.match)
    end
end

function M.serve(conn, routes)
    local h = { conn = conn, routes = routes, pending = {}, pending_len = 0, busy = false }
    conn:read_start(function(data)
        cancel_idle(h) -- any byte from the client keeps the connection
        h.pending[#h.pending + 1] = data
        h.pending_len = h.pending_len + #data
        process(h)
    end)
end

return M
