-- fault/conn.lua: one accepted TCP connection, whatever protocol runs on
-- it: ordered writes with completion callbacks, timers that die with the
-- connection, and the three ways to end it (close, FIN with a drain, RST).
-- A protocol module (fault/http1.lua) reads through conn:read_start().
local uv = require "luv"
local util = require "fault.util"

local log, warn, stats = util.log, util.warn, util.stats

local LINGER_MS = 2000

local M = {}

M.all = {} -- every open connection (all ports) -> true, for the shutdown

local function safe_close(h)
    if h and not h:is_closing() then h:close() end
end
M.safe_close = safe_close

local Conn = {}
Conn.__index = Conn

-- counted: a FAULT_PORT connection (the only ones /stats counts).
function M.new(tcp, counted)
    local c = setmetatable({
        tcp = tcp, counted = counted, closed = false, finishing = false,
        discard = false, timers = {},
    }, Conn)
    M.all[c] = true
    if counted then
        stats.connections = stats.connections + 1
        stats.open = stats.open + 1
        if stats.open > stats.peak then stats.peak = stats.open end
    end
    return c
end

-- Marks the connection closed (timers stopped, uncounted); true the first
-- time only.
function Conn:forget()
    if self.closed then return false end
    self.closed = true
    M.all[self] = nil
    if self.counted then stats.open = stats.open - 1 end
    for t in pairs(self.timers) do safe_close(t) end
    self.timers = {}
    return true
end

-- Close now (any queued writes are dropped by libuv).
function Conn:close()
    if self:forget() then safe_close(self.tcp) end
end

-- Close with RST, after queued writes have been handed to the kernel.
function Conn:reset()
    if self.closed then return end
    self:send("", function()
        if self:forget() and not self.tcp:is_closing() then
            self.tcp:close_reset()
        end
    end)
end

-- Graceful close: FIN after queued writes; keep draining (so that unread
-- data can't turn the close into an RST) until the client closes too or
-- LINGER_MS passed, then close the handle.
function Conn:fin()
    if self.closed or self.finishing then return end
    self.finishing, self.discard = true, true
    local ok = pcall(self.tcp.shutdown, self.tcp, function()
        self:timer(LINGER_MS, function() self:close() end)
    end)
    if not ok then self:close() end
end

-- Queues data; cb runs once it is written (not if the connection closed
-- first). A failed write closes the connection.
function Conn:send(data, cb)
    if self.closed then return end
    local ok, err = pcall(self.tcp.write, self.tcp, data, function(werr)
        if werr then log("write error", tostring(werr)); self:close(); return end
        if cb and not self.closed then
            local ok2, e2 = pcall(cb)
            if not ok2 then warn("callback error: " .. tostring(e2)); self:close() end
        end
    end)
    if not ok or err == nil then self:close() end
end

function Conn:timer(ms, fn, repeat_ms)
    if self.closed then return nil end
    local t = uv.new_timer()
    self.timers[t] = true
    t:start(ms, repeat_ms or 0, function()
        if not repeat_ms then self.timers[t] = nil; safe_close(t) end
        if self.closed then return end
        local ok, err = pcall(fn, t)
        if not ok then warn("timer error: " .. tostring(err)); self:close() end
    end)
    return t
end

function Conn:cancel_timer(t)
    if t and self.timers[t] then self.timers[t] = nil; safe_close(t) end
end

-- Reads until EOF or an error (which close the connection). on_data(data)
-- gets the bytes unless self.discard is set (then they are drained and
-- dropped); an error it raises closes the connection. Without on_data the
-- connection only drains (FAULT_CLOSE_PORT, FAULT_SILENT_PORT).
function Conn:read_start(on_data)
    if not on_data then self.discard = true end
    self.tcp:read_start(function(err, data)
        if self.closed then return end
        if err or not data then return self:close() end -- EOF or error
        if self.discard then return end
        local ok, perr = pcall(on_data, data)
        if not ok then
            warn("handler error: " .. tostring(perr))
            self:close()
        end
    end)
end

-- Stops reading for good: what the client sends stays in the socket
-- buffers (a client's upload stalls), and its close is not seen.
function Conn:read_stop()
    self.discard = true
    self.tcp:read_stop()
end

return M
