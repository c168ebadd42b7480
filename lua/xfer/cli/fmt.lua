-- xfer.cli.fmt: human-readable numbers for the progress display and the
-- summary (binary units: 1 KiB = 1024 bytes), and line fitting.
local format, floor = string.format, math.floor

local _M = { version = "0.1.0" }

local UNITS = { "KiB", "MiB", "GiB", "TiB" }

function _M.bytes(n)
    if n < 1024 then return format("%d B", n) end
    local u = 0
    repeat
        n = n / 1024
        u = u + 1
    until n < 1024 or u == #UNITS
    if n >= 100 then return format("%.0f %s", n, UNITS[u]) end
    return format("%.1f %s", n, UNITS[u])
end

function _M.rate(bytes_per_s)
    return _M.bytes(floor(bytes_per_s + 0.5)) .. "/s"
end

-- Wall times: "0.52 s", "12.3 s", "2 min 05 s".
function _M.seconds(s)
    if s < 10 then return format("%.2f s", s) end
    if s < 60 then return format("%.1f s", s) end
    return format("%d min %02d s", floor(s / 60), floor(s % 60))
end

-- ETA as m:ss or h:mm:ss; "--:--" when unknown.
function _M.eta(s)
    if not s or s ~= s or s < 0 or s > 360000 then return "--:--" end
    s = floor(s + 0.5)
    if s >= 3600 then
        return format("%d:%02d:%02d", floor(s / 3600), floor(s / 60) % 60, s % 60)
    end
    return format("%d:%02d", floor(s / 60), s % 60)
end

function _M.per_second(count, secs)
    if secs <= 0 then return "-" end
    local r = count / secs
    if r >= 100 then return format("%.0f", r) end
    return format("%.1f", r)
end

-- Printable ASCII only, so that one byte is one terminal column: every
-- other byte shows as "?".
function _M.printable(s)
    return (s:gsub("[^\32-\126]", "?"))
end

-- Cuts s to at most w columns, keeping both ends: "http://host/...e/file".
function _M.middle(s, w)
    if #s <= w then return s end
    if w <= 3 then return s:sub(1, w) end
    local left = floor((w - 3) / 2)
    local right = w - 3 - left
    return s:sub(1, left) .. "..." .. (right > 0 and s:sub(-right) or "")
end

-- Cuts s to at most w columns at the end.
function _M.cut(s, w)
    if w < 0 then w = 0 end
    if #s <= w then return s end
    return s:sub(1, w)
end

return _M
