-- xfer.headers: the header table of a response.
--
--   local h = res.headers
--   h["content-type"], h["Content-Type"]   -- the same value, any case
--   h:get("content-type")                  -- the same, as a method
--   h:all("set-cookie")                    -- { "a=1", "b=2" }: each field
--   for name, value in h:each() do ... end -- fields in received order
--
-- The fields are those of the final response (not of 1xx or followed
-- redirect responses), then the trailers if any. A field that came more
-- than once reads as its values joined with ", " (RFC 9110 5.3); all()
-- gives them one by one, which is what Set-Cookie needs. Values have the
-- whitespace around them trimmed; obs-fold continuation lines are joined
-- with one space.
--
-- Cost: the table starts as the raw header lines the header callback saw
-- (or as one string of them); the first read (by name or a method) sorts
-- them out, in place. So a response whose headers nobody reads costs one
-- table and no parsing. Once
-- read, the array part holds the field lines ("Name: value") and the hash
-- part the lowercase names; before, the raw lines. Use the accessors above
-- rather than pairs/ipairs.
--
-- Names that are method names (get, all, each) are found with h:get(name)
-- and h:all(name): h.all is always the method.
local byte, find, lower, match, sub = string.byte, string.find, string.lower,
                                      string.match, string.sub
local format = string.format
local concat, sort = table.concat, table.sort
local error, getmetatable, ipairs, pairs, rawget, rawset, setmetatable, type =
    error, getmetatable, ipairs, pairs, rawget, rawset, setmetatable, type

local _M = { version = "0.1.0" }

local methods = {}
local Parsed = {}
local Unparsed = {}

-- "Name: value" with the optional whitespace around the value trimmed.
local FIELD = "^([^:]+):[ \t]*(.-)[ \t]*$"

local function is_fold(line)
    local c = byte(line, 1)
    return c == 32 or c == 9
end

-- The field at line i: name, value (obs-fold continuation lines joined
-- with one space), and the index of its last line. nil for a line that is
-- not a field.
local function field_at(h, i)
    local name, value = match(rawget(h, i), FIELD)
    if not name then return nil end
    local nxt = rawget(h, i + 1)
    while nxt and is_fold(nxt) do
        value = value .. " " .. match(nxt, "^[ \t]*(.-)[ \t]*$")
        i = i + 1
        nxt = rawget(h, i + 1)
    end
    return name, value, i
end

-- The line without its line end.
local function chomp(line)
    local len = #line
    if byte(line, len) == 10 then
        len = len - 1
        if byte(line, len) == 13 then len = len - 1 end
        return sub(line, 1, len)
    end
    return line
end

-- The key of a header block not split into lines yet (from_block).
local BLOCK = {}

-- Sorts the raw lines out, in place: the lines after the last status line
-- (the final response's fields and trailers), without line ends or blank
-- lines, then the lowercase-name lookups.
local function parse(h)
    local block = rawget(h, BLOCK)
    if block then
        rawset(h, BLOCK, nil)
        local pos, len, k = 1, #block, 0
        while pos <= len do
            local nl = find(block, "\n", pos, true) or len
            k = k + 1
            rawset(h, k, sub(block, pos, nl))
            pos = nl + 1
        end
    end
    local n = #h
    local first = 1
    for i = n, 1, -1 do
        local line = rawget(h, i)
        if byte(line, 1) == 72 and sub(line, 1, 5) == "HTTP/" then
            first = i + 1
            break
        end
    end
    local k = 0
    for i = first, n do
        local line = chomp(rawget(h, i))
        if line ~= "" then
            k = k + 1
            rawset(h, k, line)
        end
    end
    for i = k + 1, n do rawset(h, i, nil) end
    local i = 1
    while i <= k do
        local line = rawget(h, i)
        if not is_fold(line) then
            local name, value, last = field_at(h, i)
            if name then
                local key = lower(name)
                if not methods[key] then
                    local old = rawget(h, key)
                    rawset(h, key, old and old .. ", " .. value or value)
                end
                i = last
            end
        end
        i = i + 1
    end
    setmetatable(h, Parsed)
end

Unparsed.__index = function(h, k)
    parse(h)
    return h[k]
end

Parsed.__index = function(h, k)
    if type(k) ~= "string" then return nil end
    local m = methods[k]
    if m then return m end
    local lk = lower(k)
    if lk ~= k then return rawget(h, lk) end
    return nil
end

local function check_name(name, fname)
    if type(name) ~= "string" then
        error("bad argument #1 to '" .. fname .. "' (string expected, got "
              .. type(name) .. ")", 3)
    end
end

-- h:all(name) -> the values of every field called name (any case), in
-- received order; an empty table when there is none.
function methods.all(h, name)
    check_name(name, "all")
    local want, list, n, i = lower(name), {}, 0, 1
    local wl = #want
    local line = rawget(h, 1)
    while line do
        -- A cheap test first: the line must start with the name.
        if #line > wl and lower(sub(line, 1, wl)) == want then
            local fname, value, last = field_at(h, i)
            if fname and lower(fname) == want then
                n = n + 1
                list[n] = value
                i = last
            end
        end
        i = i + 1
        line = rawget(h, i)
    end
    return list
end

-- h:get(name) -> the value of the field (repeated fields joined with
-- ", "), or nil.
function methods.get(h, name)
    check_name(name, "get")
    local k = lower(name)
    if not methods[k] then return h[k] end
    local list = methods.all(h, k)
    if list[1] == nil then return nil end
    return concat(list, ", ")
end

-- for name, value in h:each() do ... end: every field in received order,
-- names as the server spelled them, repeated fields one by one.
function methods.each(h)
    local i = 0
    return function()
        while true do
            i = i + 1
            local line = rawget(h, i)
            if not line then return nil end
            if not is_fold(line) then
                local name, value, last = field_at(h, i)
                if name then
                    i = last
                    return name, value
                end
            end
        end
    end
end

-- headers.wrap(lines) -> h: makes a header table of an array of header
-- lines ("Name: value", with or without line ends; status lines allowed),
-- in place. xfer's collectors use it; so can code that builds responses.
function _M.wrap(lines)
    if type(lines) ~= "table" then
        error("bad argument #1 to 'wrap' (table expected, got " .. type(lines) .. ")", 2)
    end
    return setmetatable(lines, Unparsed)
end

-- headers.from_block(block) -> h: the same for header lines in one string
-- ("Name: value\r\n..."), split only when h is first read.
function _M.from_block(block)
    if type(block) ~= "string" then
        error("bad argument #1 to 'from_block' (string expected, got " .. type(block) .. ")", 2)
    end
    return setmetatable({ [BLOCK] = block }, Unparsed)
end

-- Whether x is a header table.
function _M.is_headers(x)
    local mt = type(x) == "table" and getmetatable(x)
    return mt == Parsed or mt == Unparsed
end

-- For the collectors (xfer.http): the metatable of a fresh line array.
_M.Unparsed = Unparsed

-- The other direction: a request's headers table as header lines for the
-- httpheader option, appended to list.  Array items go as they are
-- ("Name: value"), then name = value pairs by name (a value may be a list
-- of values; false removes a header the library would send; "" sends it
-- empty).  Returns list, or nil, msg on a bad value.  Shared by xfer.http
-- and xfer.ngx, so both send the same lines.
function _M.request_lines(h, list)
    local n = #list
    for i = 1, #h do
        local v = h[i]
        if type(v) ~= "string" then
            return nil, format("headers[%d] must be a string, got %s", i, type(v))
        end
        n = n + 1
        list[n] = v
    end
    local names, nn = {}, 0
    for k in pairs(h) do
        if type(k) == "string" then
            nn = nn + 1
            names[nn] = k
        elseif type(k) ~= "number" then
            return nil, "header names must be strings, got " .. type(k)
        end
    end
    sort(names)
    for _, k in ipairs(names) do
        local v = h[k]
        local tv = type(v)
        if v == false then
            n = n + 1
            list[n] = k .. ":"
        elseif v == "" then
            n = n + 1
            list[n] = k .. ";"
        elseif tv == "string" or tv == "number" then
            n = n + 1
            list[n] = k .. ": " .. v
        elseif tv == "table" then
            for i = 1, #v do
                local x = v[i]
                if type(x) ~= "string" and type(x) ~= "number" then
                    return nil, format("header '%s' #%d must be a string, got %s",
                                       k, i, type(x))
                end
                n = n + 1
                list[n] = k .. ": " .. x
            end
        else
            return nil, format("header '%s' must be a string, a number, a list "
                               .. "or false, got %s", k, tv)
        end
    end
    return list
end

-- A request table's method and body as easy options, the one rule of
-- xfer.http and xfer.ngx: returns nobody (true for HEAD), customrequest
-- (the method when it is neither GET nor POST, or GET with a body), body
-- (the bytes to send: "" for POST, PUT and PATCH without one, else nil);
-- or nil, msg on a bad field.  The body is req.body, else req.postfields.
local METHOD = "^[%w!#$%%&'*+.^_`|~-]+$"
local BODY_METHODS = { POST = true, PUT = true, PATCH = true }

function _M.method_and_body(req)
    local method, body = req.method, req.body
    if body == nil then body = req.postfields end
    if body ~= nil and type(body) ~= "string" then
        return nil, "field 'body' must be a string, got " .. type(body)
                    .. " (stream with readfunction instead)"
    end
    if method == nil then
        method = req.customrequest
        if method == nil and req.nobody then method = "HEAD" end
    end
    if method ~= nil and (type(method) ~= "string" or not find(method, METHOD)) then
        return nil, "field 'method' must be a method name, got "
                    .. (type(method) == "string" and format("%q", method)
                        or type(method))
    end
    if method == "HEAD" then
        if body ~= nil then return nil, "a HEAD request has no body" end
        return true, nil, nil
    end
    if body == nil and method ~= nil and BODY_METHODS[method] then body = "" end
    if method ~= nil and method ~= "POST" and (method ~= "GET" or body) then
        return false, method, body
    end
    return false, nil, body
end

return _M
