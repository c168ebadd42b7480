-- xfer.cli.json: a small JSON encoder for `xfer --json` (one object per
-- line).  Objects keep the key order given by json.object(keys, t);
-- a plain table is an array when it has [1] or is empty-with-array(),
-- else an object with sorted keys.  Strings must come out as valid JSON
-- whatever bytes a URL or an error message holds: invalid UTF-8 bytes
-- become U+FFFD.
local type, pairs, ipairs, tostring = type, pairs, ipairs, tostring
local byte, format, concat, sort = string.byte, string.format, table.concat, table.sort
local floor, huge = math.floor, math.huge
local getmetatable, setmetatable = getmetatable, setmetatable

local _M = { version = "0.1.0" }

_M.null = setmetatable({}, { __tostring = function() return "null" end })

local ORDER = {} -- metatable key: the ordered key list of an object

-- json.object({"a", "b"}, { a = 1, b = 2 }) keeps "a" before "b".  A nil
-- value is written as null (use json.null for clarity), keys not listed
-- are left out.
function _M.object(keys, t)
    return setmetatable(t, { [ORDER] = keys })
end

local ESC = {
    ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
    ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t", ["\127"] = "\\u007f",
}
for i = 0, 31 do
    local c = string.char(i)
    ESC[c] = ESC[c] or format("\\u%04x", i)
end

-- Replaces every byte that is not part of a well-formed UTF-8 sequence
-- (RFC 3629: no overlongs, no surrogates, <= U+10FFFF) with U+FFFD.
local function utf8_clean(s)
    if not s:find("[\128-\255]") then return s end
    local out, n, i, len = {}, 0, 1, #s
    while i <= len do
        local c = byte(s, i)
        local need, lo, hi = 0, 0x80, 0xBF
        if c < 0x80 then
            need = 0
        elseif c >= 0xC2 and c <= 0xDF then
            need = 1
        elseif c >= 0xE0 and c <= 0xEF then
            need = 2
            if c == 0xE0 then lo = 0xA0 elseif c == 0xED then hi = 0x9F end
        elseif c >= 0xF0 and c <= 0xF4 then
            need = 3
            if c == 0xF0 then lo = 0x90 elseif c == 0xF4 then hi = 0x8F end
        else
            need = -1
        end
        local ok = need >= 0 and i + need <= len
        for k = 1, need do
            if not ok then break end
            local b = byte(s, i + k)
            local l, h = 0x80, 0xBF
            if k == 1 then l, h = lo, hi end
            if b < l or b > h then ok = false end
        end
        n = n + 1
        if ok then
            out[n] = s:sub(i, i + need)
            i = i + need + 1
        else
            out[n] = "\239\191\189" -- U+FFFD
            i = i + 1
        end
    end
    return concat(out)
end

local function str(s)
    return '"' .. utf8_clean(s):gsub('[%c"\\]', ESC) .. '"'
end

local function num(x)
    if x ~= x or x == huge or x == -huge then return "null" end
    if x == floor(x) and x > -2^53 and x < 2^53 then
        return format("%d", x)
    end
    local s = format("%.6f", x):gsub("0+$", "")
    if s:sub(-1) == "." then s = s .. "0" end
    if s == "0.0" or s == "-0.0" then s = format("%.6g", x) end
    return s
end

local encode

local function object(t, keys)
    local parts = {}
    for i, k in ipairs(keys) do
        local v = t[k]
        parts[i] = str(k) .. ":" .. (v == nil and "null" or encode(v))
    end
    return "{" .. concat(parts, ",") .. "}"
end

encode = function(v)
    local tv = type(v)
    if tv == "string" then return str(v) end
    if tv == "number" then return num(v) end
    if tv == "boolean" then return v and "true" or "false" end
    if v == nil or v == _M.null then return "null" end
    if tv ~= "table" then return str(tostring(v)) end
    local mt = getmetatable(v)
    if mt and mt[ORDER] then return object(v, mt[ORDER]) end
    if v[1] ~= nil then
        local parts = {}
        for i, x in ipairs(v) do parts[i] = encode(x) end
        return "[" .. concat(parts, ",") .. "]"
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    sort(keys)
    return object(v, keys)
end

_M.encode = encode

return _M
