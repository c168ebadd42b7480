-- xfer.cli.summary: counts finished transfers and writes the summary
-- that ends every run:
--
--   5000 transfers in 2.41 s (2075 transfers/s): 5000 ok, 0 failed
--   received 537 MiB (223 MiB/s), connections opened: 32
--   status codes: 200 x5000
--   per transfer: queue 590 ms avg, total 600 ms avg
--
-- plus, when they apply, "protocols: HTTP/2 xN, HTTP/1.1 xN" (when some
-- response came over HTTP/2), "failed: NAME (code) xN, ...", "retries: ...",
-- "saved N files under DIR", and for an interrupted run a first line that
-- says what finished, what was stopped and what never started.
local fmt = require "xfer.cli.fmt"

local format, concat, sort = string.format, table.concat, table.sort
local pairs = pairs

local _M = { version = "0.1.0" }

local S = {}
S.__index = S

function _M.new()
    return setmetatable({
        finished = 0, ok = 0, failed = 0, bytes = 0, connects = 0,
        statuses = {}, versions = {}, errors = {}, retries = 0, retried = 0,
        saved = 0,
        queue_us = 0, total_us = 0, timed = 0,
    }, S)
end

-- r: ok, status, http_version ("1.1", "2" or nil), bytes, connects,
-- attempts, saved (a file was written),
-- err = { code, name } when not ok, queue_us, total_us (last attempt).
function S:add(r)
    self.finished = self.finished + 1
    if r.ok then self.ok = self.ok + 1 else self.failed = self.failed + 1 end
    self.bytes = self.bytes + (r.bytes or 0)
    self.connects = self.connects + (r.connects or 0)
    if r.status and r.status > 0 then
        self.statuses[r.status] = (self.statuses[r.status] or 0) + 1
    end
    if r.http_version then
        self.versions[r.http_version] = (self.versions[r.http_version] or 0) + 1
    end
    if not r.ok and r.err then
        local key = format("%s (%d)", r.err.name or "ERROR", r.err.code or 0)
        local e = self.errors[key]
        if not e then
            e = { key = key, code = r.err.code or 0, n = 0 }
            self.errors[key] = e
        end
        e.n = e.n + 1
    end
    if (r.attempts or 1) > 1 then
        self.retries = self.retries + r.attempts - 1
        self.retried = self.retried + 1
    end
    if r.saved then self.saved = self.saved + 1 end
    if r.total_us and r.total_us > 0 then
        self.timed = self.timed + 1
        self.queue_us = self.queue_us + (r.queue_us or 0)
        self.total_us = self.total_us + r.total_us
    end
end

-- Extra bytes and connections of attempts that were retried or stopped.
function S:add_attempt(bytes, connects)
    self.bytes = self.bytes + (bytes or 0)
    self.connects = self.connects + (connects or 0)
end

local function ms(us)
    if us < 10000 then return format("%.2f ms", us / 1000) end
    return format("%.0f ms", us / 1000)
end

-- text{ elapsed, total, interrupted (signal name or nil), stopped,
--       not_started, output_dir } -> the summary, one "\n" per line.
function S:text(o)
    local lines = {}
    local el = o.elapsed
    local head = format("%d ok, %d failed", self.ok, self.failed)
    if o.interrupted then
        lines[1] = format("%s after %s: %d of %d transfers finished (%s), "
            .. "%d stopped, %d not started", o.interrupted, fmt.seconds(el),
            self.finished, o.total, head, o.stopped or 0, o.not_started or 0)
    else
        lines[1] = format("%d transfer%s in %s (%s transfers/s): %s", self.finished,
            self.finished == 1 and "" or "s", fmt.seconds(el),
            fmt.per_second(self.finished, el), head)
    end
    lines[#lines + 1] = format("received %s (%s), connections opened: %d",
        fmt.bytes(self.bytes), fmt.rate(el > 0 and self.bytes / el or 0), self.connects)
    local codes = {}
    for code in pairs(self.statuses) do codes[#codes + 1] = code end
    sort(codes)
    if #codes > 0 then
        local parts = {}
        for i, code in ipairs(codes) do
            parts[i] = format("%d x%d", code, self.statuses[code])
        end
        lines[#lines + 1] = "status codes: " .. concat(parts, ", ")
    end
    -- Which protocol, once there is a choice to tell about: HTTP/1.1
    -- alone is what everyone expects.
    if self.versions["2"] then
        local parts = {}
        for _, v in ipairs({ "2", "1.1", "1.0" }) do
            if self.versions[v] then
                parts[#parts + 1] = format("HTTP/%s x%d", v, self.versions[v])
            end
        end
        lines[#lines + 1] = "protocols: " .. concat(parts, ", ")
    end
    local errs = {}
    for _, e in pairs(self.errors) do errs[#errs + 1] = e end
    sort(errs, function(a, b)
        if a.n ~= b.n then return a.n > b.n end
        return a.code < b.code
    end)
    if #errs > 0 then
        local parts = {}
        for i, e in ipairs(errs) do parts[i] = format("%s x%d", e.key, e.n) end
        lines[#lines + 1] = "failed: " .. concat(parts, ", ")
    end
    if self.retries > 0 then
        lines[#lines + 1] = format("retries: %d (%d transfer%s retried)", self.retries,
            self.retried, self.retried == 1 and "" or "s")
    end
    if self.timed > 0 then
        lines[#lines + 1] = format("per transfer: queue %s avg, total %s avg",
            ms(self.queue_us / self.timed), ms(self.total_us / self.timed))
    end
    if o.output_dir then
        lines[#lines + 1] = format("saved %d file%s under %s", self.saved,
            self.saved == 1 and "" or "s", o.output_dir)
    end
    return concat(lines, "\n") .. "\n"
end

return _M
