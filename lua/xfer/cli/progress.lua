-- xfer.cli.progress: the live display on a terminal.
--
--   [##########----------] 1234/5000  45.2 MiB  120 MiB/s  ETA 0:12  32 active  3734 queued
--     http://127.0.0.1:8080/files/0042.bin       12.0 KiB / 100 KiB  12%
--     ...
--
-- One overall line, then one line per active transfer (as many as the
-- terminal has rows for, the rest counted in "... and N more").  A frame is
-- drawn at most every `interval` seconds (0.1: ten frames a second): the
-- cursor goes up over the previous frame, each line is erased
-- (ESC[2K) and rewritten, and ESC[J erases what the previous frame had
-- below.  Lines are cut to the width minus one column, so none wraps; after
-- a resize the previous frame's height is recomputed at the new width (a
-- terminal that re-wraps lines when it narrows makes them taller).  Only
-- printable ASCII reaches the terminal (fmt.printable), so a byte is a
-- column.  The module only draws: the caller says when (tick), what
-- (snapshot), and when the size may have changed (resized).
local fmt = require "xfer.cli.fmt"
local term = require "xfer.cli.term"

local format, rep, concat = string.format, string.rep, table.concat
local floor, max, min, ceil = math.floor, math.max, math.min, math.ceil

local _M = { version = "0.1.0" }

local RATE_WINDOW = 3 -- seconds of samples behind the rate and the ETA

-- A transfer's line: label (the URL without "http(s)://"), bytes so far,
-- length (-1: unknown) and percentage, in fixed-width columns; narrower
-- terminals get fewer columns, then a cut line.
local function transfer_line(t, width)
    local known = t.length and t.length > 0
    local pct = known and format("%3d%%", floor(100 * min(t.bytes, t.length) / t.length)) or ""
    local got = fmt.bytes(t.bytes)
    local rights = {
        format("%9s %s %-9s %4s", got, known and "/" or " ",
            known and fmt.bytes(t.length) or "", pct),
        format("%9s %4s", got, pct),
        known and pct or got,
    }
    local label = fmt.printable((t.label:gsub("^[hH][tT][tT][pP][sS]?://", "")))
    for i, right in ipairs(rights) do
        local lw = width - 4 - #right
        if lw >= 16 or (i == #rights and lw >= 4) then
            lw = min(lw, 60)
            local l = fmt.middle(label, lw)
            return (("  " .. l .. rep(" ", lw - #l) .. "  " .. right):gsub("%s+$", ""))
        end
    end
    return fmt.cut("  " .. label, width)
end

-- frame(snap, cols, rows) -> list of lines, none longer than cols - 1.
-- snap: total, done, failed, bytes, rate, eta (seconds or nil), active,
-- queued, retrying, transfers = { { label, bytes, length }, ... }
function _M.frame(s, cols, rows)
    local width = max(cols - 1, 1)
    local extra = ""
    if (s.retrying or 0) > 0 then extra = extra .. format("  %d retrying", s.retrying) end
    if s.failed > 0 then extra = extra .. format("  %d failed", s.failed) end
    -- the widest variant that fits, then the bar if there is room for it
    local variants = {
        format("%d/%d  %s  %s  ETA %s  %d active  %d queued%s", s.done, s.total,
            fmt.bytes(s.bytes), fmt.rate(s.rate or 0), fmt.eta(s.eta), s.active,
            s.queued, extra),
        format("%d/%d %s ETA %s %d act %d queued%s", s.done, s.total,
            (fmt.bytes(s.bytes):gsub(" ", "")), fmt.eta(s.eta), s.active, s.queued,
            (extra:gsub("  ", " "))),
        format("%d/%d %d act %d queued", s.done, s.total, s.active, s.queued),
    }
    local stats = variants[#variants]
    for _, v in ipairs(variants) do
        if #v <= width then stats = v break end
    end
    local barw = min(width - #stats - 3, 30)
    local first = stats
    if barw >= 10 then
        local filled = s.total > 0 and floor(barw * s.done / s.total) or barw
        first = "[" .. rep("#", filled) .. rep("-", barw - filled) .. "] " .. stats
    end
    local lines = { fmt.cut(first, width) }
    local list = s.transfers or {}
    local n = max(#list, s.active or 0) -- the list may hold only the first ones
    local room = max(rows - 2, 0) -- the overall line, and the cursor's line
    local shown = min(#list, room)
    if n > room and room > 0 then shown = min(shown, room - 1) end
    for i = 1, shown do
        lines[#lines + 1] = transfer_line(list[i], width)
    end
    if n > shown and room > 0 then
        lines[#lines + 1] = fmt.cut(format("  ... and %d more", n - shown), width)
    end
    return lines
end

local P = {}
P.__index = P

-- new{ write = fn(s), snapshot = fn() -> snap, now = fn() -> seconds,
--      size = fn() -> cols, rows (default term.size), interval = 0.1,
--      poll_size = seconds between size checks without SIGWINCH (nil: none) }
function _M.new(o)
    local self = setmetatable({
        write = o.write, snapshot = o.snapshot, now = o.now,
        size = o.size or term.size, interval = o.interval or 0.1,
        poll_size = o.poll_size, last = -math.huge, frames = 0,
        prev = nil, samples = {}, need_size = true, size_at = -math.huge,
    }, P)
    return self
end

function P:resized()
    self.need_size = true
end

-- Rows the previous frame takes now, at the current width.
function P:height()
    if not self.prev then return 0 end
    local h = 0
    for _, len in ipairs(self.prev) do
        h = h + max(1, ceil(len / self.cols))
    end
    return h
end

-- Rate and ETA over the last RATE_WINDOW seconds.
function P:sample(now, s)
    local smp = self.samples
    smp[#smp + 1] = { now, s.bytes, s.done }
    while #smp > 2 and now - smp[2][1] >= RATE_WINDOW do
        table.remove(smp, 1)
    end
    local first = smp[1]
    local dt = now - first[1]
    if dt <= 0 then
        s.rate, s.eta = 0, nil
        return
    end
    s.rate = (s.bytes - first[2]) / dt
    local tps = (s.done - first[3]) / dt
    s.eta = tps > 0 and (s.total - s.done) / tps or nil
end

-- tick([force]) -> true when a frame was drawn.
function P:tick(force)
    local now = self.now()
    if not force and now - self.last < self.interval then return false end
    if self.need_size or (self.poll_size and now - self.size_at >= self.poll_size) then
        self.cols, self.rows = self.size()
        self.need_size, self.size_at = false, now
    end
    local s = self.snapshot()
    self:sample(now, s)
    local lines = _M.frame(s, self.cols, self.rows)
    local up = self:height()
    local buf = { up > 0 and ("\r" .. term.UP(up)) or "\r" }
    local lens = {}
    for i, line in ipairs(lines) do
        buf[#buf + 1] = term.CLEAR_LINE .. line .. "\n"
        lens[i] = #line
    end
    buf[#buf + 1] = term.CLEAR_BELOW
    self.write(concat(buf))
    self.prev = lens
    self.last = now
    self.frames = self.frames + 1
    return true
end

-- Erases the frame (before a log line, and at the end).
function P:clear()
    local up = self:height()
    if up > 0 then self.write("\r" .. term.UP(up) .. term.CLEAR_BELOW) end
    self.prev = nil
end

return _M
