-- fault/util.lua: what the fault server's layers share: logging, the body
-- pattern, query parsing and the server-wide counters of /stats.
local M = {}

M.unpack = table.unpack or unpack

local DEBUG = os.getenv("FAULT_DEBUG") == "1"

function M.log(...)
    if DEBUG then
        io.stderr:write("faultserver: ", table.concat({ ... }, " "), "\n")
    end
end

-- Always printed: the selfcheck and the suites expect an empty stderr.
function M.warn(...)
    io.stderr:write("faultserver: ", table.concat({ ... }, " "), "\n")
end

-- Counters of /stats. The connection layer counts connections (only those
-- of FAULT_PORT), the routes count requests (not /stats* ones).
M.stats = { connections = 0, requests = 0, peak = 0, open = 0 }

local ALPHA = "abcdefghijklmnopqrstuvwxyz"
local BASE = string.rep(ALPHA, math.floor(262144 / 26) + 2) -- ~256 KiB + 26

-- Bytes [off, off+n) of the infinite "abc..zabc.." pattern (nginx's test
-- files hold the same, so a client can check any body against it).
function M.pattern(n, off)
    off = (off or 0) % 26
    if n <= #BASE - 26 then
        return BASE:sub(off + 1, off + n)
    end
    return string.rep(ALPHA, math.floor((off + n) / 26) + 1):sub(off + 1, off + n)
end

local function url_decode(s)
    s = s:gsub("+", " ")
    return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- Returns a list of {name, value} pairs (order and repeats kept) and a map
-- name -> first value.
function M.parse_query(q)
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

-- A non-negative integer query parameter, or default.
function M.qnum(req, name, default)
    local v = tonumber(req.query[name] or "")
    if not v or v < 0 then return default end
    return math.floor(v)
end

return M
