-- xfer.http: requests and responses on top of xfer.core -- the blocking
-- xfer.request and xfer.fetch_all, and the reusable "slots" that
-- xfer.coro's scheduler shares.
--
-- A request is a URL string or a table:
--   { url = "http://...", method = "PUT", headers = {...}, body = "...",
--     <any easy option by its lowercase name> = value, ... }
-- A response is a table:
--   { status = 200, headers = <xfer.headers table>, body = "...",
--     http_version = 1.1 | 2.0, info = <easy:getinfo() table>,
--     cookies = <array of cookies, when the request turned the cookie
--                engine on (cookiefile, cookiejar or cookielist)> }
-- A failed transfer is nil, err (the xfer.error object of xfer.core).
--
-- Speed: a slot is one easy handle with a write and a header callback made
-- once; each request re-arms it (just setopt_url when neither this request
-- nor the last one set other options), so a fan-out makes no closure and no
-- handle per request. Bodies are collected in a table and joined once.
local core = require "xfer.core"
local headers = require "xfer.headers"

local find, format, match = string.find, string.format, string.match
local concat = table.concat
local error, getmetatable, ipairs, next, pairs, pcall, setmetatable, tostring,
      tonumber, type = error, getmetatable, ipairs, next, pairs, pcall,
             setmetatable, tostring, tonumber, type
local easy_init, multi_init = core.easy_init, core.multi_init
local Unparsed, from_block = headers.Unparsed, headers.from_block

local _M = { version = "0.1.0" }

-- Keys of a request table that are not easy options.
local RESERVED = { url = true, method = true, headers = true, body = true,
                   stream = true }
local DEFAULT_CONNECTIONS = 16
local EMPTY = {}

---------------------------------------------------------------------------
-- Slots
---------------------------------------------------------------------------

-- Whether the binding keeps header lines in C (the easy option
-- header_lines and easy:take_header_block()): then a response costs one
-- call into C and one string for its headers, instead of one call into Lua
-- per line.  The same for the body (collect_body, easy:take_body()): no
-- Lua call and no Lua string per chunk, and no concat.
local HAVE_HEADER_LINES, HAVE_TAKE_BODY
do
    local probe = easy_init()
    HAVE_HEADER_LINES = probe.take_header_block ~= nil
    HAVE_TAKE_BODY = probe.take_body ~= nil
    probe:close()
end
_M.HAVE_HEADER_LINES = HAVE_HEADER_LINES

-- A fresh array for a response's header lines, sized for a typical one
-- (a constructor with nils sizes the array part: no rehash while it fills).
local function new_lines()
    return { nil, nil, nil, nil, nil, nil, nil, nil,
             nil, nil, nil, nil, nil, nil, nil, nil }
end

-- A new slot: { easy, write, header, take, dirty, stream, noheaders }.
-- with_headers false: no header callback (res.headers is nil).
local function new_slot(with_headers)
    local parts, n = {}, 0
    local lines, hn = new_lines(), 0
    local noheaders = not with_headers
    local slot = { dirty = false, stream = false, noheaders = noheaders }

    function slot.write(chunk)
        n = n + 1
        parts[n] = chunk
    end

    -- Every header line of every response comes here as it is (1xx,
    -- redirects, the final one, trailers, CRLFs): xfer.headers sorts them
    -- out when they are first read, so a response whose headers nobody
    -- reads costs one table and no parsing.
    function slot.header(line)
        hn = hn + 1
        lines[hn] = line
    end

    local e -- the easy handle, set below

    -- body, headers of the transfer that ended; the slot starts afresh.
    function slot.take()
        local body
        if slot.cbody then
            body = e:take_body()
        elseif n == 1 then
            body = parts[1]
            parts[1] = nil
        elseif n == 0 then
            body = ""
        else
            body = concat(parts, "", 1, n)
            for i = 1, n do parts[i] = nil end
        end
        n = 0
        if noheaders then return body, nil end
        if slot.hlines then
            return body, from_block(e:take_header_block())
        end
        local h = lines
        lines, hn = new_lines(), 0
        return body, setmetatable(h, Unparsed)
    end

    -- The handle's own options, also after a reset. PIPEWAIT: requests
    -- that start together to one https origin wait for the first
    -- connection's ALPN answer and share it when it is h2, instead of
    -- each opening its own (curl --parallel does the same). A request
    -- that runs alone does not wait for anything.
    function slot.defaults()
        if HAVE_TAKE_BODY then
            e:setopt_collect_body(true)
        else
            e:setopt_writefunction(slot.write)
        end
        slot.cbody = HAVE_TAKE_BODY
        e:setopt_pipewait(true)
        if noheaders then return end
        if HAVE_HEADER_LINES then
            e:setopt_header_lines(true)
        else
            e:setopt_headerfunction(slot.header)
        end
        slot.hlines = HAVE_HEADER_LINES
    end

    e = easy_init()
    slot.easy = e
    slot.defaults()
    return slot
end
_M.new_slot = new_slot

-- How a body that is not a string is read: "call" for a function (or a
-- callable object), "read" for an object with a read method (a file
-- handle, ...), or nil.
local function source_kind(b)
    local t = type(b)
    if t == "function" then return "call" end
    if t ~= "table" and t ~= "userdata" then return nil end
    local mt = getmetatable(b)
    if type(mt) == "table" and mt.__call ~= nil then return "call" end
    local ok, r = pcall(function() return b.read end)
    if ok and (type(r) == "function"
               or (type(getmetatable(r)) == "table" and getmetatable(r).__call)) then
        return "read"
    end
    return nil
end

-- The read callback for a body function or reader: src(room) or
-- src:read(room) gives a chunk (a longer one is sent over the next calls),
-- "" for nothing yet (asked again), nil at the end, or nil, err: the
-- transfer stops (ABORTED_BY_CALLBACK).
local function source_reader(src, kind)
    return function(room)
        for _ = 1, 1000 do
            local chunk, err
            if kind == "read" then
                chunk, err = src:read(room)
            else
                chunk, err = src(room)
            end
            if chunk == nil then
                if err ~= nil then return false end
                return nil
            end
            if type(chunk) ~= "string" then
                error("the request body's reader returned a " .. type(chunk)
                      .. " (expected a string, or nil at the end)", 0)
            end
            if chunk ~= "" then return chunk end
        end
        error("the request body's reader returned \"\" 1000 times in a row", 0)
    end
end

-- A method name: an HTTP token (RFC 9110).
local METHOD = "^[%w!#$%%&'*+.^_`|~-]+$"

local SIZE_OPTS = { "infilesize", "infilesize_large", "postfieldsize",
                    "postfieldsize_large" }

-- The method and the easy options of a body from a function, a reader or
-- the readfunction option: with any method; POST as libcurl's POST from a
-- read callback (post), every other method as an upload (upload and
-- customrequest). Sent chunked, unless the size is given (infilesize,
-- postfieldsize, or a Content-Length header, which xfer then checks).
-- nil, msg when the request cannot be sent as asked.
local function streamed_body(req, o)
    local body, rf = req.body, req.readfunction
    if body ~= nil and rf ~= nil then
        return nil, "give the body as 'body' or as 'readfunction', not both"
    end
    if req.postfields ~= nil or req.copypostfields ~= nil then
        return nil, "'postfields' and a body function cannot both be the body"
    end
    local method = req.method
    if method == nil then method = req.customrequest end
    if method == nil then
        if req.upload and req.upload ~= 0 then method = "PUT" else method = "POST" end
    end
    if type(method) ~= "string" or not find(method, METHOD) then
        return nil, "field 'method' must be a method name, got "
                    .. (type(method) == "string" and format("%q", method) or type(method))
    end
    if method == "HEAD" or (req.nobody and req.nobody ~= 0) then
        return nil, "a HEAD request has no body"
    end
    if req.httpget and req.httpget ~= 0 then
        return nil, "'httpget' asks for no body, but a body is given"
    end
    local size
    for _, k in ipairs(SIZE_OPTS) do
        if o[k] ~= nil then
            if size ~= nil and size ~= o[k] then
                return nil, "the body's size is given twice, differently"
            end
            size = o[k]
            o[k] = nil
        end
    end
    if body ~= nil then
        o.readfunction = source_reader(body, source_kind(body))
    end
    o.nobody, o.httpget = nil, nil
    if method == "POST" then
        o.post, o.upload, o.customrequest = true, nil, nil
        o.postfieldsize = size
    else
        o.upload, o.post = true, nil
        o.customrequest = method ~= "PUT" and method or nil
        o.infilesize = size
    end
    return true
end

-- The easy options of a request table (a new table); nil, msg on misuse.
local function build(req)
    local o = {}
    for k, v in pairs(req) do
        if not RESERVED[k] then o[k] = v end
    end
    o.url = req.url
    local h = req.headers
    local body = req.body
    if (body ~= nil and type(body) ~= "string") or req.readfunction ~= nil then
        if body ~= nil and not source_kind(body) then
            return nil, "field 'body' must be a string, a function or a reader "
                        .. "(an object with a read method), got " .. type(body)
        end
        local ok, msg = streamed_body(req, o)
        if not ok then return nil, msg end
    elseif req.method ~= nil or req.body ~= nil then
        local nobody, method, body = headers.method_and_body(req)
        if nobody == nil then return nil, method end
        o.nobody = nobody or nil
        o.customrequest = method
        o.postfields = body
    end
    if h ~= nil then
        if type(h) ~= "table" then
            return nil, "field 'headers' must be a table, got " .. type(h)
        end
        local list = {}
        local given = o.httpheader
        if type(given) == "string" then
            list[1] = given
        elseif type(given) == "table" then
            for i = 1, #given do list[i] = given[i] end
        end
        local err
        list, err = headers.request_lines(h, list)
        if not list then return nil, err end
        o.httpheader = list
    end
    return o
end

-- The text between the parentheses of "bad argument #1 to 'setopt' (...)".
local function inner(msg)
    if type(msg) ~= "string" then return tostring(msg) end
    return match(msg, "^.-bad argument #%d+ to '[^']*' %((.*)%)$") or msg
end

-- Checks the shape of a request (not its option names: setopt does that);
-- nil or a message.
local function check(req)
    local t = type(req)
    if t == "string" then return nil end
    if t ~= "table" then return "URL or request table expected, got " .. t end
    if type(req.url) ~= "string" then
        return "field 'url' must be a string, got " .. type(req.url)
    end
    return nil
end
_M.check = check

-- check, for the calls that do not stream (blocking request, fetch_all).
local function check_nostream(req, where)
    local bad = check(req)
    if bad then return bad end
    if type(req) == "table" and req.stream ~= nil then
        return "field 'stream' works in xfer.request inside a task "
               .. "(xfer.spawn), not " .. where
    end
    return nil
end

-- Arms slot's easy handle for req. true, or nil, msg on misuse (an unknown
-- option, a value of the wrong type): the caller raises it, naming its own
-- argument.
local function arm(slot, req)
    local e = slot.easy
    if slot.dirty then
        -- The last request set options of its own: start from the defaults.
        -- reset writes its cookie jar and keeps the store, which must not
        -- reach the next request: the engine goes off with it.
        e:reset()
        if slot.cookies then e:setopt_cookiefile(nil) end
        slot.defaults()
        slot.dirty, slot.stream, slot.cookies = false, false, false
    end
    if type(req) == "string" then
        e:setopt_url(req)
        return true
    end
    local k = next(req)
    if k == "url" and next(req, k) == nil then
        e:setopt_url(req.url)
        return true
    end
    local o, msg = build(req)
    if not o then return nil, msg end
    slot.dirty = true
    slot.cookies = o.cookiefile ~= nil or o.cookiejar ~= nil
                   or o.cookielist ~= nil
    slot.stream = o.writefunction ~= nil
    if slot.stream then slot.cbody = false end
    -- A header function of the caller's replaces the collector.
    if o.headerfunction ~= nil then slot.hlines = false end
    local ok, err = pcall(e.setopt, e, o)
    if not ok then return nil, inner(err) end
    return true
end
_M.arm = arm

-- res.http_version: the protocol as ngx.req.http_version() gives it
-- (1.1, 2.0), not libcurl's code (info.http_version: 2, 3), whose 2 reads
-- as HTTP/2 and is HTTP/1.1.
local VERSIONS = { [1] = 1.0, [2] = 1.1, [3] = 2.0 }
local function version_of(e)
    return VERSIONS[e:getinfo_http_version()]
end
_M.version_of = version_of

-- One line of getinfo cookielist (the Netscape format) as a table.
local function cookie_of(line)
    local httponly = false
    if find(line, "^#HttpOnly_") then
        httponly, line = true, line:sub(11)
    end
    local domain, tail, path, secure, expires, name, value =
        match(line, "^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    if not domain then return nil end
    return { name = name, value = value, domain = domain:gsub("^%.", ""),
             path = path, secure = secure == "TRUE", httponly = httponly,
             host_only = tail ~= "TRUE",
             expires = tonumber(expires) ~= 0 and tonumber(expires) or nil }
end

-- res.cookies: what the handle's cookie store holds after the transfer
-- (newest first); the jar is written now, not when the slot goes.
local function cookies_of(slot, e)
    if not slot.cookies then return nil end
    if slot.dirty then pcall(e.setopt_cookielist, e, "FLUSH") end
    local list, n = {}, 0
    for _, line in ipairs(e:getinfo_cookielist()) do
        local c = cookie_of(line)
        if c then n = n + 1; list[n] = c end
    end
    return list
end

-- The response of the transfer that just ended on slot.
local function respond(slot, want_info)
    local e = slot.easy
    local body, h = slot.take()
    if slot.stream then body = nil end
    if slot.noheaders then h = nil end
    local info
    if want_info then info = e:getinfo() end
    return { status = e:getinfo_response_code(), headers = h, body = body,
             http_version = version_of(e), info = info,
             cookies = cookies_of(slot, e) }
end
_M.respond = respond

---------------------------------------------------------------------------
-- xfer.request, blocking
---------------------------------------------------------------------------

-- Idle slots for blocking requests. Each easy handle keeps its own
-- connections (easy:perform's private multi handle), so a program making
-- requests one after the other reuses them. A request made from inside
-- another's callback takes another slot.
local idle, nidle = {}, 0
local MAX_IDLE = 4

-- request(req, lvl): lvl is the error level of the user's call.
function _M.request(req, lvl)
    local bad = check_nostream(req, "outside a task")
    if bad then error("bad argument #1 to 'request' (" .. bad .. ")", lvl) end
    local slot
    if nidle > 0 then
        slot = idle[nidle]
        idle[nidle] = nil
        nidle = nidle - 1
    else
        slot = new_slot(true)
    end
    local ok, msg = arm(slot, req)
    if not ok then
        slot.dirty = true -- some options may be set
        nidle = nidle + 1
        idle[nidle] = slot
        error("bad argument #1 to 'request' (" .. msg .. ")", lvl)
    end
    local e = slot.easy
    local pok, done, err = pcall(e.perform, e)
    if not pok then
        -- A callback of the caller's raised: the handle is dropped, the
        -- error goes on with its traceback.
        e:close()
        error(done, 0)
    end
    local res
    if done then res = respond(slot, true) else slot.take() end
    if nidle < MAX_IDLE then
        nidle = nidle + 1
        idle[nidle] = slot
    else
        e:close()
    end
    if not done then return nil, err end
    return res
end

-- Closes the idle handles of blocking requests, and with them the
-- connections they keep. Those in use stay.
function _M.close_idle()
    for i = nidle, 1, -1 do
        idle[i].easy:close()
        idle[i] = nil
    end
    nidle = 0
end

---------------------------------------------------------------------------
-- xfer.fetch_all, blocking, on the built-in loop
---------------------------------------------------------------------------

local function check_limit(opts, name, lvl)
    local v = opts[name]
    if v ~= nil and (type(v) ~= "number" or v < 0 or v % 1 ~= 0) then
        error(format("bad argument #2 to 'fetch_all' (field '%s' must be a "
                     .. "non-negative integer, got %s)", name, tostring(v)), lvl)
    end
    return v
end

-- Validates fetch_all's arguments; returns the options table.
function _M.check_fetch_all(list, opts, lvl)
    if type(list) ~= "table" then
        error("bad argument #1 to 'fetch_all' (table expected, got " .. type(list) .. ")", lvl)
    end
    if opts == nil then opts = EMPTY end
    if type(opts) ~= "table" then
        error("bad argument #2 to 'fetch_all' (table expected, got " .. type(opts) .. ")", lvl)
    end
    for i = 1, #list do
        local bad = check_nostream(list[i], "in fetch_all")
        if bad then
            error(format("bad argument #1 to 'fetch_all' (request #%d: %s)", i, bad), lvl)
        end
    end
    check_limit(opts, "max_total_connections", lvl + 1)
    check_limit(opts, "max_host_connections", lvl + 1)
    local f = opts.on_done
    if f ~= nil and type(f) ~= "function"
       and not (getmetatable(f) and getmetatable(f).__call) then
        error("bad argument #2 to 'fetch_all' (field 'on_done' must be a function, got "
              .. type(f) .. ")", lvl)
    end
    return opts
end

-- How many requests of n run at once under limit (nil: the default).
function _M.pool_size(limit, n)
    local size = limit or DEFAULT_CONNECTIONS
    if size == 0 or size > n then size = n end
    return size
end

function _M.fetch_all(list, opts, lvl)
    opts = _M.check_fetch_all(list, opts, lvl + 1)
    local n = #list
    local results = {}
    if n == 0 then return results end
    local limit = opts.max_total_connections
    local size = _M.pool_size(limit, n)
    local m = opts.multi
    local own = m == nil
    if own then m = multi_init() end
    if limit then m:setopt_max_total_connections(limit) end
    if opts.max_host_connections then
        m:setopt_max_host_connections(opts.max_host_connections)
    end
    local want_info, want_headers = opts.info, opts.headers ~= false
    local user_done = opts.on_done
    local slots, by_easy = {}, {}
    local issued = 0
    local misuse

    local function start(slot)
        issued = issued + 1
        local i = issued
        slot.i = i
        local ok, msg = arm(slot, list[i])
        if not ok then
            misuse = format("bad argument #1 to 'fetch_all' (request #%d: %s)", i, msg)
            error(misuse, 0)
        end
        local added, err = m:add_handle(slot.easy)
        if not added then
            -- Not a transfer, so no completion: count it done here.
            results[i] = { err = err }
            return false
        end
        return true
    end

    -- The next request for a slot; one that cannot be added is a result
    -- at once. start raises on misuse and on_done may raise: both end in
    -- the same cleanup as an error inside run().
    local function fill(slot)
        while issued < n and not start(slot) do
            if user_done then user_done(issued, nil, results[issued].err) end
        end
    end

    -- One completion: the result, the slot re-armed for the next request,
    -- then the caller's on_done (so the next transfer is already going).
    local function done(e, ok, err)
        local slot = by_easy[e]
        local i = slot.i
        local res
        if ok then
            res = respond(slot, want_info)
            results[i] = res
        else
            slot.take()
            results[i] = { err = err }
        end
        m:remove_handle(e)
        fill(slot)
        if user_done then user_done(i, res, err) end
    end

    local ok, rok, rerr = true, true, nil
    for k = 1, size do
        local slot = new_slot(want_headers)
        slots[k] = slot
        by_easy[slot.easy] = slot
        ok, rok = pcall(fill, slot)
        if not ok then break end
    end
    if ok then
        ok, rok, rerr = pcall(m.run, m, { on_done = done })
    end
    for k = 1, #slots do
        m:remove_handle(slots[k].easy)
        slots[k].easy:close()
    end
    if own then m:close() end
    if not ok then
        if misuse then error(misuse, lvl) end
        error(rok, 0)
    end
    if not rok then return nil, rerr end
    return results
end

return _M
