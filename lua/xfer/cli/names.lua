-- xfer.cli.names: output file names from URLs, for `xfer -o DIR`.
--
-- The rule (docs/cli.md, "File names"):
--   http://Host:8080/a/b%20c.txt?x=1   ->  host_8080/a/b%20c.txt@x=1
--   https://host/dir/                  ->  host/dir/index.html
-- * The first component is the host, lowercased, with "_PORT" when the
--   port is not the scheme's default; then one component per non-empty
--   path segment; a path that ends in "/" (or is empty) gets "index.html";
--   the query, if any, is appended to the last component after "@".
-- * Each component is percent-decoded, then re-encoded so that only
--   A-Z a-z 0-9 . _ , + = - stay literal: every other byte (space, "%",
--   "~", "@", ":", bytes >= 0x80, ...) becomes %XX.  So the mapping is
--   injective, and "@" (query) and "~" (suffixes below) are unambiguous.
-- * Refused (the transfer fails, nothing is fetched): a segment that
--   decodes to "." or "..", or starts with "." (hidden files, dot-dot
--   tricks like %2e%2e), or contains "/" or NUL once decoded; a URL
--   without a host.  Components are joined with "/" only after these
--   checks, so a name never leaves DIR.
-- * A component longer than 200 bytes is cut to 180 and gets "~h" plus 8
--   hex digits of a hash of the whole component.
-- * In one run, names are unique: a name already taken (the same URL
--   twice, "/" and "/index.html", ...) gets "~2", "~3", ... in input order;
--   a URL whose directory would be an earlier URL's file is refused.
-- The mapping depends only on the URL (and on the URLs before it in the
-- same run, for the suffixes), never on the response.
local byte, char, format = string.byte, string.char, string.format
local concat = table.concat
local tonumber = tonumber

local _M = { version = "0.1.0" }

local MAX_COMPONENT = 200
local CUT_TO = 180

local DEFAULT_PORT = { http = 80, https = 443 }

local function decode(s)
    return (s:gsub("%%(%x%x)", function(h) return char(tonumber(h, 16)) end))
end

local function encode(s)
    return (s:gsub("[^%w._,+=-]", function(c) return format("%%%02X", byte(c)) end))
end

-- A 32-bit polynomial hash in plain arithmetic (no bit library on 5.1):
-- every intermediate value stays below 2^53.
local function hash8(s)
    local h = 5381
    for i = 1, #s do
        h = (h * 33 + byte(s, i)) % 4294967296
    end
    return format("%08x", h)
end

local function limit(comp)
    if #comp <= MAX_COMPONENT then return comp end
    local cut = comp:sub(1, CUT_TO)
    -- never end inside a %XX escape
    local tail = cut:match("%%%x?$")
    if tail then cut = cut:sub(1, #cut - #tail) end
    return cut .. "~h" .. hash8(comp)
end

-- parse(url) -> { scheme, host, port, path, query } | nil, why
-- Only what naming needs; the engine does its own, stricter parsing.
function _M.parse(url)
    local rest = url:gsub("#.*$", "")
    local scheme, after = rest:match("^([%a][%w+.-]*)://(.*)$")
    if scheme then
        scheme = scheme:lower()
    else
        scheme, after = "http", rest
    end
    local authority, tail = after:match("^([^/?]*)(.*)$")
    authority = authority:gsub("^.*@", "")
    local host, port = authority:match("^(%[[^%]]*%]):?(%d*)$")
    if not host then
        host, port = authority:match("^([^:]*):?(%d*)$")
    end
    if not host or host == "" then
        return nil, "no host in the URL"
    end
    local path, query = tail:match("^([^?]*)%??(.*)$")
    return {
        scheme = scheme,
        host = host:lower(),
        port = tonumber(port),
        path = path,
        query = tail:find("?", 1, true) and query or nil,
    }
end

-- Checks one decoded component; returns nil or why it is refused.
local function refused(seg)
    if seg == "." or seg == ".." then
        return "'" .. seg .. "' in the URL path"
    end
    if seg:sub(1, 1) == "." then
        return "a name starting with '.' ('" .. encode(seg) .. "')"
    end
    if seg:find("/", 1, true) then
        return "an encoded '/' in a path segment"
    end
    if seg:find("\0", 1, true) then
        return "NUL in the URL path"
    end
end

-- components(url) -> list of safe components | nil, why
function _M.components(url)
    local u, err = _M.parse(url)
    if not u then return nil, err end
    local host = decode(u.host)
    local why = refused(host)
    if why then return nil, why end
    local first = encode(host)
    if u.port and u.port ~= DEFAULT_PORT[u.scheme] then
        first = first .. "_" .. u.port
    end
    local comps = { limit(first) }
    local segs = {}
    for seg in u.path:gmatch("[^/]+") do
        local d = decode(seg)
        why = refused(d)
        if why then return nil, why end
        segs[#segs + 1] = encode(d)
    end
    if #segs == 0 or u.path:sub(-1) == "/" then
        segs[#segs + 1] = "index.html"
    end
    if u.query and u.query ~= "" then
        segs[#segs] = segs[#segs] .. "@" .. encode(decode(u.query))
    end
    for i = 1, #segs do comps[#comps + 1] = limit(segs[i]) end
    return comps
end

-- A namer hands out unique relative paths for one run.
local Namer = {}
Namer.__index = Namer

function _M.namer()
    return setmetatable({ files = {}, dirs = {} }, Namer)
end

-- namer:assign(url) -> relative path ("host/a/b"), components | nil, why
function Namer:assign(url)
    local comps, why = _M.components(url)
    if not comps then return nil, why end
    local files, dirs = self.files, self.dirs
    for k = 1, #comps - 1 do
        local p = concat(comps, "/", 1, k)
        if files[p] then
            return nil, "its directory '" .. p .. "' is an earlier URL's file"
        end
    end
    local base = concat(comps, "/")
    local cand, n = base, 1
    while files[cand] or dirs[cand] do
        n = n + 1
        cand = base .. "~" .. n
    end
    if n > 1 then comps[#comps] = comps[#comps] .. "~" .. n end
    files[cand] = true
    for k = 1, #comps - 1 do dirs[concat(comps, "/", 1, k)] = true end
    return cand, comps
end

_M.encode, _M.decode = encode, decode

return _M
