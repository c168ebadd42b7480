-- xfer.luv: drives a multi handle from a luv (libuv) event loop.
--
--   local uv   = require "luv"
--   local xfer = require "xfer"
--   local m = xfer.multi{ max_total_connections = 8 }
--   local driver = require("xfer.luv").attach(m, {
--       on_done = function(easy, ok, err) m:remove_handle(easy) end,
--   })
--   m:add_handle(xfer.easy{ url = "http://127.0.0.1/", writefunction = ... })
--   driver:run()      -- uv.run() until no transfer is left; or run the loop
--                     -- yourself: the transfers go on with the rest of it
--   driver:close()    -- hands the multi handle back (to run(), ...)
--
-- This file is also the worked example of driving xfer from any event
-- loop. It uses only what every user has: the multi handle's public socket
-- and timer callbacks, socket_action and info_read. The recipe, for any
-- loop that can watch a file descriptor and run a one-shot timer:
--
--  1. socketfunction(easy, fd, what): xfer says which sockets to watch and
--     for what (POLL_IN, POLL_OUT, POLL_INOUT), and when to stop watching
--     one (POLL_REMOVE, just before it closes the socket). Keep one watcher
--     per fd; it is told only about changes, so an idle keep-alive
--     connection stays watched for reading without further calls.
--  2. timerfunction(ms): xfer says when it next needs a call, whatever the
--     sockets do (timeouts, starting transfers that were just added: 0 ms).
--     -1 means no timer (0 ms: see alarm() below for libuv 1.44's trap).
--     Only (re)arm the loop's timer here: never call
--     socket_action from inside this callback (or the socket callback); the
--     multi handle refuses it (RECURSIVE_API_CALL) -- libcurl's rule.
--  3. When a socket is ready: socket_action(fd, CSELECT_IN/OUT/ERR). When
--     the timer fires: socket_action(SOCKET_TIMEOUT, 0). Then info_read()
--     until it returns nothing: each message is a finished transfer.
--
-- Errors. A Lua error inside a luv callback ends the process (luv prints
-- "Uncaught Error" and exits), so every callback this driver gives luv is
-- protected. An error raised by socket_action (a write, header, progress or
-- read callback of a transfer that raised) or by on_done is kept and the
-- loop is stopped (uv.stop()); driver:run() raises it. When you run the loop
-- yourself, call driver:check() after uv.run() returns, or pass on_error to
-- attach() to hear about it at once instead.
--
-- luv's quirk: its poll callback prints "EBADF: bad file descriptor" on
-- stderr when a socket reports an error (libuv's poll handle turns POLLERR
-- into UV_EBADF), for example a refused connection. The driver passes it on
-- to xfer as CSELECT_ERR, which finds out what went wrong.
--
-- Lifetime. The multi handle holds the driver's callbacks, which hold the
-- driver: close() (or closing the multi handle) releases them. Close the
-- driver before the multi handle. The luv handles of a closed driver are
-- freed by the loop's next iteration (close() runs it when the loop is not
-- running).
local uv = require "luv"
local core = require "xfer.core"

local error, getmetatable, ipairs, pairs, pcall, setmetatable, tostring, type =
    error, getmetatable, ipairs, pairs, pcall, setmetatable, tostring, type
local new_socket_poll, new_timer, stop = uv.new_socket_poll, uv.new_timer,
                                         uv.stop
local new_check, new_idle = uv.new_check, uv.new_idle
local loop_mode = uv.loop_mode -- nil before luv 1.33: close() then skips
                               -- the loop turn (see there)

local POLL_REMOVE = core.POLL_REMOVE
local SOCKET_TIMEOUT = core.SOCKET_TIMEOUT
local CSELECT_ERR = core.CSELECT_ERR

-- xfer's interest -> luv's event names.
local EVENTS = {
    [core.POLL_IN] = "r",
    [core.POLL_OUT] = "w",
    [core.POLL_INOUT] = "rw",
}
-- luv's ready events -> socket_action's mask.
local MASK = {
    r = core.CSELECT_IN,
    w = core.CSELECT_OUT,
    rw = core.CSELECT_IN + core.CSELECT_OUT,
}

local _M = { version = "0.1.0" }

local Driver = {}
Driver.__index = Driver

local function callable(f)
    if type(f) == "function" then return true end
    local mt = getmetatable(f)
    return mt ~= nil and type(mt) == "table" and mt.__call ~= nil
end

-- Idle keep-alive connections stay watched, but must not keep the loop
-- alive: while no transfer runs, the poll handles are unreferenced, so a
-- program's uv.run() returns once its own work and the transfers are done.
-- (The timer needs nothing: xfer deletes it when nothing runs, and a
-- transfer added meanwhile arms it.)
local function set_active(self, active)
    self.active = active
    for _, p in pairs(self.polls) do
        if active then p:ref() else p:unref() end
    end
end

-- Keeps the first error and stops the loop (or hands it to on_error).
-- in_loop: called from a luv callback, inside uv.run.
local function fail(self, err, in_loop)
    local on_error = self.on_error
    if on_error then
        local ok, e2 = pcall(on_error, err)
        if ok then return end
        err = e2
    end
    if self.err == nil then self.err = err end
    -- uv.stop() outside uv.run would end the next uv.run at once.
    if in_loop then stop() end
end

-- One socket_action and the messages it produced. Errors go to fail: a
-- transfer callback's (re-raised by socket_action) and on_done's. After an
-- error kept for run()/check(), the remaining messages wait for the next
-- action, as with multi:run(); with on_error, delivery goes on.
local function action(self, fd, mask, in_loop)
    local m = self.multi
    local on_done = self.on_done
    while true do
        local ok, running, err = pcall(m.socket_action, m, fd, mask)
        if not ok then
            fail(self, running, in_loop)
            -- How many still run is not known: a timer run at the next
            -- iteration tells (and starts what the failure let start).
            self.arm(0)
            running = self.running
        elseif not running then
            -- A socket closed in this loop iteration may still have had an
            -- event queued: nothing to do for it.
            if err.name ~= "BAD_SOCKET" then fail(self, err, in_loop) end
            running = self.running
        end
        self.running = running
        if not on_done then break end
        local delivered = 0
        while self.err == nil do
            local e, eok, xerr = m:info_read()
            if not e then break end
            delivered = delivered + 1
            local dok, derr = pcall(on_done, e, eok, xerr)
            if not dok then fail(self, derr, in_loop) end
        end
        -- on_done may have added transfers while none was running: a timer
        -- run starts them and says how many run now (as xfer_uv.c does).
        if running > 0 or delivered == 0 or not ok or self.err ~= nil then break end
        fd, mask = SOCKET_TIMEOUT, 0
    end
    local active = self.running > 0
    if active ~= self.active then set_active(self, active) end
    if not active and self.looping then stop() end
end

-- action from a luv callback: nothing may raise into luv.
local function act(self, fd, mask)
    local ok, err = pcall(action, self, fd, mask, true)
    if not ok then
        fail(self, err, true)
        -- The multi handle was closed under the driver: its sockets are
        -- gone, stop watching their numbers.
        if tostring(self.multi) == "xfer.multi (closed)" then self:close() end
    end
end

-- alarm(cb) -> an alarm: alarm:arm(ms) calls cb() once, ms milliseconds
-- from now (0: as soon as the loop has polled for I/O; -1: never, it is
-- stopped); a new arm replaces the last. alarm:close() frees its handles.
--
-- 0 ms ("as soon as possible") is never a 0 ms uv timer. libuv up to 1.44
-- (Debian 12's) runs a timer started with 0 ms from inside its own callback
-- again in the same pass over the timers, before any I/O is polled; xfer
-- asks for 0 from inside socket_action(SOCKET_TIMEOUT) whenever work
-- continues through the timer (an unpaused transfer, bytes left over after
-- a turn's read budget, transfers started by a callback), so such work
-- would starve every socket and every other handle of the program. A 0 ms
-- alarm arms a check handle instead, which runs after this loop iteration
-- has polled for I/O, with an idle handle beside it so that the poll does
-- not block (libuv polls with a zero timeout while an idle handle is
-- active). Unlike libcurl's multi-uv.c, which turns 0 into 1 ms, this adds
-- no latency: each turn of work continued through the timer costs one loop
-- iteration, not a millisecond.
local Alarm = {}
Alarm.__index = Alarm

local function noop() end

function _M.alarm(cb)
    local self = setmetatable({ timer = new_timer(), check = new_check(),
                                idle = new_idle() }, Alarm)
    local check, idle = self.check, self.idle
    self.on_check = function()
        check:stop()
        idle:stop()
        cb()
    end
    self.cb = cb
    return self
end

function Alarm:arm(ms)
    if ms < 0 then
        self.timer:stop()
        self.check:stop()
        self.idle:stop()
    elseif ms == 0 then
        self.timer:stop()
        self.check:start(self.on_check)
        self.idle:start(noop)
    else
        self.check:stop()
        self.idle:stop()
        self.timer:start(ms, 0, self.cb)
    end
end

function Alarm:close()
    for _, h in ipairs({ self.timer, self.check, self.idle }) do
        if not h:is_closing() then h:close() end
    end
end

-- attach(multi, opts) -> driver. opts (all optional):
--   on_done(easy, ok, err)  each finished transfer, from info_read (without
--                           it, the messages stay for multi:info_read())
--   on_error(err)           an error raised while the loop runs (default:
--                           keep it, stop the loop, raise from run/check)
-- The driver takes the multi handle's socketfunction and timerfunction.
function _M.attach(multi, opts)
    if getmetatable(multi) == nil or tostring(multi):sub(1, 10) ~= "xfer.multi" then
        error("bad argument #1 to 'attach' (xfer.multi expected, got " .. type(multi) .. ")", 2)
    end
    if opts == nil then opts = {} end
    if type(opts) ~= "table" then
        error("bad argument #2 to 'attach' (table expected, got " .. type(opts) .. ")", 2)
    end
    for _, k in ipairs({ "on_done", "on_error" }) do
        if opts[k] ~= nil and not callable(opts[k]) then
            error("bad argument #2 to 'attach' (field '" .. k .. "' must be a function, got "
                  .. type(opts[k]) .. ")", 2)
        end
    end
    local self = setmetatable({
        multi = multi,
        on_done = opts.on_done,
        on_error = opts.on_error,
        polls = {},        -- fd -> uv_poll_t
        handlers = {},     -- fd -> its poll callback (made once per socket)
        running = 0,       -- transfers in progress after the last action
        active = true,     -- poll handles referenced (see set_active)
        looping = false,   -- inside run()'s uv.run
        closed = false,
        err = nil,
    }, Driver)
    local polls, handlers = self.polls, self.handlers

    -- The loop's timer fired: a timer run of the multi handle.
    local function on_timeout() act(self, SOCKET_TIMEOUT, 0) end
    self.on_timeout = on_timeout
    local alarm = _M.alarm(on_timeout)
    self.alarm = alarm
    local function arm(ms) alarm:arm(ms) end
    self.arm = arm

    -- (2) xfer's timer callback: only arm the loop's timer.
    multi:setopt_timerfunction(arm)

    -- (1) xfer's socket callback: one poll handle per socket.
    multi:setopt_socketfunction(function(_, fd, what)
        local p = polls[fd]
        if what == POLL_REMOVE then
            -- xfer closes fd right after this returns: stop watching now
            -- (a new socket may soon get the same number).
            if p then
                polls[fd], handlers[fd] = nil, nil
                p:stop()
                p:close()
            end
            return
        end
        local events = EVENTS[what]
        if not events then -- POLL_NONE: keep the handle, watch nothing
            if p then p:stop() end
            return
        end
        local handler = handlers[fd]
        if not p then
            local perr
            p, perr = new_socket_poll(fd)
            -- Raising here fails the transfers (the socket would never be
            -- watched) and the call that ran this callback raises it.
            if not p then error("xfer.luv: cannot watch socket " .. fd .. ": " .. tostring(perr)) end
            polls[fd] = p
            if not self.active then p:unref() end
            -- (3) the socket is ready: act on it.
            handler = function(perr, ready)
                act(self, fd, perr and CSELECT_ERR or MASK[ready] or 0)
            end
            handlers[fd] = handler
        end
        local ok, serr = p:start(events, handler)
        if not ok then error("xfer.luv: cannot watch socket " .. fd .. ": " .. tostring(serr)) end
    end)
    return self
end

-- driver:run() -> true. Runs the loop (uv.run) until no transfer is in
-- progress, then raises an error kept from its callbacks, if any. Not from
-- inside a luv callback: luv does not support a nested uv.run.
function Driver:run()
    if self.closed then error("the driver is closed", 2) end
    if self.looping then error("run() is running already", 2) end
    -- Starts what was added before (and says whether anything runs).
    local ok, err = pcall(action, self, SOCKET_TIMEOUT, 0, false)
    if not ok then fail(self, err, false) end
    if self.running > 0 and self.err == nil then
        self.looping = true
        local rok, rerr = pcall(uv.run)
        self.looping = false
        if not rok then fail(self, rerr, false) end
    end
    return self:check()
end

-- driver:_fail(err): keeps err for run()/check() and stops the loop, as
-- for an error of the driver's own callbacks (for xfer.coro's luv
-- callbacks, which share the driver's error reporting).
function Driver:_fail(err)
    fail(self, err, true)
end

-- driver:check() -> true, or raises the error kept from a callback (and
-- forgets it). For programs that run the loop themselves.
function Driver:check()
    local err = self.err
    if err ~= nil then
        self.err = nil
        error(err, 0)
    end
    return true
end

-- driver:close(): unhooks from the multi handle (which keeps its transfers
-- and connections, for run() or another driver) and closes the luv
-- handles. Idempotent. Not from inside xfer's socket or timer callback.
-- Called while the loop is not running, it runs one non-blocking
-- iteration (uv.run("nowait")) so that the handles are freed: other
-- handles' callbacks that are due run then too.
function Driver:close()
    if self.closed then return end
    local m = self.multi
    if tostring(m) ~= "xfer.multi (closed)" then
        m:setopt_socketfunction(nil)
        m:setopt_timerfunction(nil)
    end
    self.closed = true
    for fd, p in pairs(self.polls) do
        self.polls[fd], self.handlers[fd] = nil, nil
        if not p:is_closing() then p:close() end
    end
    self.alarm:close()
    -- A closed handle is freed by the loop's next iteration; luv 1.44
    -- crashes at exit on one that never got it. Outside the loop, run that
    -- iteration now (without blocking). Inside, the loop does it anyway.
    if loop_mode and loop_mode() == nil then uv.run("nowait") end
end

-- xfer.luv.run(multi, opts) -> true: attach, run, close; on the loop of
-- luv, like multi:run() is on its own loop. opts as for attach().
function _M.run(multi, opts)
    local d = _M.attach(multi, opts)
    local ok, err = pcall(d.run, d)
    d:close()
    if not ok then error(err, 0) end
    return true
end

return _M
