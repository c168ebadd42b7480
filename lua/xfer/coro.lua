-- xfer.coro: coroutines that make requests in parallel on one multi handle.
--
--   local xfer = require "xfer"
--   for _, url in ipairs(urls) do
--       xfer.spawn(function()
--           local res, err = xfer.request(url)   -- yields until it is done
--           print(url, res and res.status or tostring(err))
--       end)
--   end
--   assert(xfer.run())                           -- until every task is done
--
-- A scheduler owns one multi handle. spawn(fn, ...) makes a task: fn runs
-- in a coroutine of its own, and inside it xfer.request and xfer.fetch_all
-- add their transfers to the scheduler's multi handle and yield; the
-- scheduler resumes the task when they end. Outside a task they block, as
-- before. The scheduler runs on the built-in loop (run() is multi:run()) or
-- on a luv loop (driver = "luv"), where tasks also go on while the rest of
-- a luv program runs the loop.
--
-- Where code runs. A task starts at once when spawned from outside a task
-- (spawn returns when it first waits), or right after the spawning task
-- waits. A task is resumed from the completion callback of its transfer
-- (on_done of multi:run(), or of the luv driver), never from inside a
-- transfer's own callbacks, and never nested: one queue, one task at a
-- time. xfer's callbacks (write, header, ...) run in whatever coroutine
-- calls into the multi handle, as everywhere in xfer.
--
-- Errors. An error raised in a task ends that task (its in-flight
-- transfers are removed) and is raised, with the task's traceback, by the
-- scheduler call that resumed it: run(), wait(), wait_all(), or spawn()
-- when it ran the task at once. The other tasks are not touched; the next
-- run() goes on with them. Inside a task, task:wait() on a task that failed
-- returns false, err.
--
-- Yielding. Tasks yield only through xfer's API. Yielding with
-- coroutine.yield inside a task ends it with an error. On Lua 5.1 (not
-- LuaJIT) a coroutine cannot yield across pcall, so inside a task call
-- xfer.request outside pcall there.
--
-- Waiting without a transfer. xfer.sleep(seconds) suspends the task on
-- the loop's timer (run()'s wake timer, or a luv timer). A streamed
-- response (request{ stream = true }) returns at its headers, and its
-- body_reader yields the task until the next chunk arrives; see "Streams".
local core = require "xfer.core"
local http = require "xfer.http"
local headers = require "xfer.headers"

local co_create, co_resume, co_running, co_status, co_yield =
    coroutine.create, coroutine.resume, coroutine.running, coroutine.status,
    coroutine.yield
local traceback = debug.traceback
local format = string.format
local error, getmetatable, ipairs, next, pairs, pcall, select, setmetatable,
      tostring, type = error, getmetatable, ipairs, next, pairs, pcall, select,
                       setmetatable, tostring, type
local unpack = table.unpack or unpack -- luacheck: ignore
local concat = table.concat
local floor, sub, match, lower = math.floor, string.sub, string.match, string.lower
local now_ms = core.now_ms
local WRITEFUNC_PAUSE, PAUSE_CONT = core.WRITEFUNC_PAUSE, core.PAUSE_CONT

local function uv_run_once()
    require("luv").run("once")
end

local _M = { version = "0.1.0" }

-- coroutine -> its task, while the task lives.
local current = setmetatable({}, { __mode = "k" })
-- What a task yields to the scheduler; anything else is misuse.
local WAIT = setmetatable({}, { __tostring = function() return "xfer.WAIT" end })
-- A queue entry's value that starts a task with its arguments.
local START = {}

local MOPTS = { max_total_connections = true, max_host_connections = true,
                maxconnects = true, pipelining = true,
                max_concurrent_streams = true }

local Sched = {}
Sched.__index = Sched
local Task = {}
Task.__index = Task

local function callable(f)
    if type(f) == "function" then return true end
    local mt = getmetatable(f)
    return type(mt) == "table" and mt.__call ~= nil
end

local function pack(...)
    return { n = select("#", ...), ... }
end

-- The task running now (in this coroutine), or nil.
local function running_task()
    local co = co_running()
    return co and current[co] or nil
end
_M.current = running_task

---------------------------------------------------------------------------
-- Slots: reusable easy handles (xfer.http), one per request in flight
---------------------------------------------------------------------------

local function take_slot(self)
    local n = self.nidle
    if n > 0 then
        local slot = self.idle[n]
        self.idle[n] = nil
        self.nidle = n - 1
        return slot
    end
    local slot = http.new_slot(true)
    self.by_easy[slot.easy] = slot
    return slot
end

local function put_slot(self, slot)
    slot.task, slot.res, slot.err, slot.i, slot.st = nil, nil, nil, nil, nil
    local n = self.nidle + 1
    self.nidle = n
    self.idle[n] = slot
end

-- Starts req for task. slot, or nil, err (not added), or nil, nil, msg
-- (misuse: the caller raises it).
local function submit(self, task, req, want_info, want_headers)
    local slot = take_slot(self)
    local ok, msg = http.arm(slot, req)
    if not ok then
        put_slot(self, slot)
        return nil, nil, msg
    end
    local added, err = self.multi:add_handle(slot.easy)
    if not added then
        put_slot(self, slot)
        return nil, err
    end
    slot.task, slot.want_info, slot.want_headers = task, want_info, want_headers
    task.inflight[slot] = true
    self.nflight = self.nflight + 1
    return slot
end

-- Takes slot's transfer out of the multi handle (it has ended, or is being
-- dropped) and the slot out of its task's list.
local function unflight(self, slot)
    local task = slot.task
    if task and task.inflight[slot] then
        task.inflight[slot] = nil
        self.nflight = self.nflight - 1
    end
    self.multi:remove_handle(slot.easy)
end

---------------------------------------------------------------------------
-- The wake timer: sleepers, and tasks to resume from outside a callback
---------------------------------------------------------------------------

-- Sleepers: a binary min-heap of { at = ms, seq = n, task = t }, by
-- deadline, then in the order they went to sleep.
local function before(a, b)
    return a.at < b.at or (a.at == b.at and a.seq < b.seq)
end

local function heap_push(h, x)
    local n = h.n + 1
    h.n = n
    while n > 1 do
        local p = floor(n / 2)
        if not before(x, h[p]) then break end
        h[n] = h[p]
        n = p
    end
    h[n] = x
end

local function heap_pop(h)
    local n = h.n
    local top, last = h[1], h[n]
    h[n] = nil
    n = n - 1
    h.n = n
    if n > 0 then
        local i = 1
        while true do
            local c = 2 * i
            if c > n then break end
            if c < n and before(h[c + 1], h[c]) then c = c + 1 end
            if not before(h[c], last) then break end
            h[i] = h[c]
            i = c
        end
        h[i] = last
    end
    return top
end

-- (Re)arms the wake timer for what is next: tasks queued from inside a
-- transfer's callback (at once), else the first sleeper, else nothing.
local function rearm(self)
    local ms = -1
    if self.qt >= self.qh then
        ms = 0
    elseif self.sleepers.n > 0 then
        ms = self.sleepers[1].at - now_ms()
        if ms < 0 then ms = 0 end
    end
    -- A 0 ms uv timer armed from inside its own callback runs again before
    -- the loop polls for I/O on libuv 1.44 (see xfer.luv's alarm): from
    -- inside the wake, "at once" means in 1 ms on run()'s loop. (The luv
    -- alarm defers 0 ms past the poll by itself.)
    if ms == 0 and self.waking and not self.driver then ms = 1 end
    if ms < 0 and self.armed == ms then return end
    self.armed = ms
    if self.driver then
        self.alarm:arm(ms)
    else
        self.multi:wake(ms)
    end
end

-- Queues task to be resumed with v, from inside a transfer's callback:
-- the wake timer resumes it once the callback has returned.
local function push(self, task, v)
    local t = self.qt + 1
    self.qt = t
    self.qtask[t], self.qval[t] = task, v
end

local function push_soon(self, task, v)
    push(self, task, v)
    if not self.dispatching and self.armed ~= 0 then rearm(self) end
end

---------------------------------------------------------------------------
-- The run queue
---------------------------------------------------------------------------

local close_stream -- below

-- The task's transfers still in flight go (a task that ends with an open
-- stream, or that failed).
local function drop_inflight(self, task)
    for slot in pairs(task.inflight) do
        if slot.st then
            close_stream(slot.st, "the task ended")
        else
            unflight(self, slot)
            slot.take()
            put_slot(self, slot)
        end
    end
end

-- The task is over: forget it, wake whoever waits for it.
local function retire(self, task)
    if next(task.inflight) then drop_inflight(self, task) end
    current[task.co] = nil
    self.tasks[task] = nil
    self.alive = self.alive - 1
    local w = task.waiters
    if w then
        task.waiters = nil
        for i = 1, #w do push(self, w[i], task) end
    end
end

-- The task failed: its transfers go, the error is kept on it.
local function kill(self, task, err)
    task.status, task.error = "failed", err
    retire(self, task)
    return err
end

-- After a resume: nil, or the error of a task that failed.
local function settle(self, task, ok, ...)
    local co = task.co
    if not ok then
        local err = ...
        if err == nil then err = "nil error in a spawned task" end
        if type(err) == "string" then err = traceback(co, err) end
        return kill(self, task, err)
    end
    if co_status(co) == "dead" then
        task.status, task.results = "done", pack(...)
        retire(self, task)
        return nil
    end
    if (...) ~= WAIT then
        return kill(self, task, "a spawned task yielded outside xfer's API "
                    .. "(coroutine.yield is not supported inside xfer.spawn)")
    end
    return nil
end

-- Resumes queued tasks, one at a time, until the queue is empty; then
-- raises the first error a task raised.
local function dispatch(self)
    if self.dispatching then return end
    self.dispatching = true
    local qtask, qval = self.qtask, self.qval
    local first
    local h = self.qh
    while h <= self.qt do
        local task, v = qtask[h], qval[h]
        qtask[h], qval[h] = nil, nil
        h = h + 1
        self.qh = h
        if task.status == "running" then
            local err
            self.resumes = self.resumes + 1
            if v == START then
                local a = task.args
                task.args = nil
                err = settle(self, task, co_resume(task.co, unpack(a, 1, a.n)))
            else
                err = settle(self, task, co_resume(task.co, v))
            end
            if err ~= nil and first == nil then first = err end
        end
    end
    self.qh, self.qt = 1, 0
    self.dispatching = false
    if first ~= nil then error(first, 0) end
end

local stream_ended -- below

-- A transfer of the scheduler's multi handle ended (on_done).
local function complete(self, e, ok, err)
    local slot = self.by_easy[e]
    if not slot or not slot.task then return end
    if slot.st then
        stream_ended(slot.st, ok, err)
        dispatch(self)
        return
    end
    unflight(self, slot)
    if ok then
        local res = http.respond(slot, slot.want_info)
        if not slot.want_headers then res.headers = nil end
        slot.res = res
    else
        slot.take()
        slot.err = err
    end
    push(self, slot.task, slot)
    dispatch(self)
end

-- The wake timer fired (run()'s on_wake, or the luv alarm): the sleepers
-- that are due and the tasks queued from callbacks run. True when nothing
-- is in flight (run() may stop: what is left is sleeping).
local function wake(self)
    self.armed = nil
    local h = self.sleepers
    if h.n > 0 then
        local now = now_ms()
        while h.n > 0 and h[1].at <= now do
            local s = heap_pop(h)
            push(self, s.task, s)
        end
    end
    self.waking = true
    local ok, err = pcall(dispatch, self)
    self.waking = false
    rearm(self)
    if not ok then error(err, 0) end
    return self.nflight == 0
end

---------------------------------------------------------------------------
-- Streams: request{ stream = true }
---------------------------------------------------------------------------
--
-- The transfer's write function appends to the stream's buffer; while the
-- buffer holds WINDOW bytes or more it refuses the chunk (WRITEFUNC_PAUSE:
-- xfer pauses receiving and keeps that one chunk, in C, for the unpause).
-- The reader takes from the buffer and unpauses the transfer once it has
-- drained the buffer to half the window. So the bytes held in Lua never
-- exceed WINDOW plus one chunk, whatever the body's size, and the socket
-- is not read meanwhile (TCP's window pushes back on the server).

local WINDOW = 256 * 1024
_M.STREAM_WINDOW = WINDOW

-- The headers of the final response are in: the task that waits in
-- request() goes on.
local function stream_ready(st)
    if st.ready then return end
    st.ready = true
    if st.waiter then push_soon(st.sched, st.waiter, st) end
end

-- Wakes the reader waiting for data, if any.
local function stream_kick(st)
    if st.waiter and not st.kicked then
        st.kicked = true
        push_soon(st.sched, st.waiter, st)
    end
end

local REDIRECTS = { [301] = true, [302] = true, [303] = true, [307] = true,
                    [308] = true }

local function new_stream(self, task, follow)
    local st = {
        sched = self, task = task, slot = nil,
        buf = {}, bh = 1, bt = 0, off = 0, -- chunks bh..bt, off used of bh
        buffered = 0, max_buffered = 0, max_chunk = 0,
        paused = false, ready = false, done = false, err = nil,
        closed = false, waiter = nil, kicked = false,
        status = nil, lines = {}, location = false,
    }
    local lines, n = st.lines, 0

    -- Every header line of every response: the status line starts a
    -- response; its blank line ends it. The final one is not 1xx, and not
    -- a redirect that followlocation follows.
    function st.header(line)
        if st.ready then return end -- trailers
        if sub(line, 1, 5) == "HTTP/" then
            for i = n, 1, -1 do lines[i] = nil end
            n = 0
            st.status = tonumber(match(line, "^HTTP/%S+%s+(%d%d%d)"))
            st.location = false
        elseif line == "\r\n" or line == "\n" then
            local code = st.status or 0
            if code >= 200 and not (follow and REDIRECTS[code] and st.location) then
                stream_ready(st)
            end
            return
        elseif lower(sub(line, 1, 9)) == "location:" then
            st.location = true
        end
        n = n + 1
        lines[n] = line
    end

    function st.write(chunk)
        if st.buffered >= WINDOW then
            st.paused = true
            return WRITEFUNC_PAUSE
        end
        local t = st.bt + 1
        st.bt = t
        st.buf[t] = chunk
        local len = #chunk
        local b = st.buffered + len
        st.buffered = b
        if b > st.max_buffered then st.max_buffered = b end
        if len > st.max_chunk then st.max_chunk = len end
        stream_ready(st) -- headers that were missed: the body says they are in
        stream_kick(st)
    end
    return st
end

-- The transfer ended (on_done): what is buffered stays for the reader.
function stream_ended(st, ok, err)
    local self, slot = st.sched, st.slot
    unflight(self, slot)
    slot.take()
    put_slot(self, slot)
    st.slot = nil
    st.done = true
    if not ok then st.err = err end
    stream_ready(st)
    stream_kick(st)
end

-- Stops the transfer (if it still runs) and drops the buffer.
function close_stream(st, why)
    if st.closed then return end
    st.closed, st.done = true, true
    st.err = st.err or why
    local slot = st.slot
    if slot then
        st.slot = nil
        unflight(st.sched, slot)
        slot.take()
        put_slot(st.sched, slot)
    end
    st.buf, st.bh, st.bt, st.off, st.buffered = {}, 1, 0, 0, 0
end

-- reader([max]) -> a chunk (at most max bytes), nil at the end, or nil,
-- err. Inside a task of the stream's scheduler it yields until data comes.
local function stream_read(st, max, lvl)
    if max ~= nil and (type(max) ~= "number" or max < 1 or max % 1 ~= 0) then
        error("bad argument #1 to 'body_reader' (positive integer expected, got "
              .. tostring(max) .. ")", lvl)
    end
    while true do
        if st.closed then return nil, "closed" end
        if st.bt >= st.bh then
            local chunk, off = st.buf[st.bh], st.off
            local left = #chunk - off
            local piece
            if max and max < left then
                piece = sub(chunk, off + 1, off + max)
                st.off = off + max
            else
                piece = off == 0 and chunk or sub(chunk, off + 1)
                st.buf[st.bh] = nil
                st.bh, st.off = st.bh + 1, 0
                if st.bh > st.bt then st.bh, st.bt = 1, 0 end
            end
            st.buffered = st.buffered - #piece
            if st.paused and st.buffered <= WINDOW / 2 and st.slot then
                st.paused = false
                st.slot.easy:pause(PAUSE_CONT)
            end
            return piece
        end
        if st.done then
            if st.err ~= nil then return nil, st.err end
            return nil
        end
        local me = running_task()
        if not me or me.sched ~= st.sched then
            error("body_reader must be called inside a task of the scheduler "
                  .. "that made the request", lvl)
        end
        st.waiter, st.kicked = me, false
        local got = co_yield(WAIT)
        while got ~= st do got = co_yield(WAIT) end
        st.waiter = nil
    end
end

-- A streamed response's methods.
local Streamed = {}
Streamed.__index = Streamed

-- res:read_body() -> the rest of the body as one string, or nil, err.
function Streamed:read_body()
    local parts, n = {}, 0
    local reader = self.body_reader
    while true do
        local chunk, err = reader()
        if chunk == nil then
            if err ~= nil then return nil, err end
            return concat(parts, "", 1, n)
        end
        n = n + 1
        parts[n] = chunk
    end
end

-- res:close(): stops the transfer if it still runs, drops what is
-- buffered. Idempotent; the reader then returns nil, "closed".
function Streamed:close()
    close_stream(self._stream, "closed")
end
Streamed.__close = Streamed.close

-- request{ stream = true } inside a task: returns at the headers of the
-- final response (or when the transfer ends, whichever comes first).
local function request_stream(self, task, req, lvl)
    if req.writefunction ~= nil or req.headerfunction ~= nil then
        error("bad argument #1 to 'request' (a streamed request takes the "
              .. "body and the headers itself: no writefunction or "
              .. "headerfunction)", lvl)
    end
    local st = new_stream(self, task, req.followlocation and req.followlocation ~= 0)
    local o = {}
    for k, v in pairs(req) do
        if k ~= "stream" then o[k] = v end
    end
    o.writefunction, o.headerfunction = st.write, st.header
    local slot, err, misuse = submit(self, task, o, false, false)
    if misuse then error("bad argument #1 to 'request' (" .. misuse .. ")", lvl) end
    if not slot then return nil, err end
    slot.st, st.slot = st, slot
    st.waiter = task
    while not st.ready do
        local got = co_yield(WAIT)
        while got ~= st do got = co_yield(WAIT) end
    end
    st.waiter = nil
    if st.done and st.err ~= nil and st.bt < st.bh then
        -- failed before anything came
        return nil, st.err
    end
    local e = slot.easy
    local res = setmetatable({
        status = st.status or (st.slot and e:getinfo_response_code()) or 0,
        headers = setmetatable(st.lines, headers.Unparsed),
        http_version = st.slot and http.version_of(e) or nil,
        info = st.slot and e:getinfo() or nil,
        _stream = st,
    }, Streamed)
    res.body_reader = function(max)
        local chunk, rerr = stream_read(st, max, 2)
        return chunk, rerr
    end
    return res
end

---------------------------------------------------------------------------
-- Schedulers
---------------------------------------------------------------------------

-- new{ max_total_connections =, max_host_connections =, maxconnects =,
--      pipelining =, max_concurrent_streams =,
--      driver = "run" | "luv" } -> scheduler
function _M.new(opts, lvl)
    lvl = lvl or 2
    if opts == nil then opts = {} end
    if type(opts) ~= "table" then
        error("bad argument #1 to 'new' (table expected, got " .. type(opts) .. ")", lvl)
    end
    local mo = {}
    for k, v in pairs(opts) do
        if MOPTS[k] then
            mo[k] = v
        elseif k ~= "driver" then
            error(format("bad argument #1 to 'new' (unknown option '%s')", tostring(k)), lvl)
        end
    end
    local driver = opts.driver or "run"
    if driver ~= "run" and driver ~= "luv" then
        error("bad argument #1 to 'new' (field 'driver' must be \"run\" or \"luv\")", lvl)
    end
    local self = setmetatable({
        multi = core.multi_init(mo),
        tasks = {},       -- the tasks alive (task -> true)
        alive = 0,
        qtask = {}, qval = {}, qh = 1, qt = 0,
        dispatching = false,
        idle = {}, nidle = 0, by_easy = {},
        closed = false,
        nflight = 0,      -- slots added to the multi handle
        sleepers = { n = 0 }, seq = 0,
        armed = nil,      -- what the wake timer is armed for (ms), if known
        waking = false,   -- inside wake()
        resumes = 0,      -- tasks resumed so far (progress, for run())
    }, Sched)
    self.on_done = function(e, ok, err) complete(self, e, ok, err) end
    self.on_wake = function() return wake(self) end
    self.run_opts = { on_done = self.on_done, on_wake = self.on_wake }
    if driver == "luv" then
        local xluv = require("xfer.luv")
        local d = xluv.attach(self.multi, { on_done = self.on_done })
        self.driver = d
        -- luv callbacks must not raise: an error goes to the driver, which
        -- stops the loop and raises it from run()/check().
        self.alarm = xluv.alarm(function()
            local ok, err = pcall(wake, self)
            if not ok then d:_fail(err) end
        end)
    end
    return self
end

function Sched:_spawn(lvl, fn, ...)
    if self.closed then error("the scheduler is closed", lvl) end
    if not callable(fn) then
        error("bad argument #1 to 'spawn' (function expected, got " .. type(fn) .. ")", lvl)
    end
    local f = fn
    if type(fn) ~= "function" then f = function(...) return fn(...) end end
    local task = setmetatable({
        co = co_create(f),
        sched = self,
        status = "running", -- "done" | "failed"
        inflight = {},      -- slot -> true
        args = pack(...),
    }, Task)
    current[task.co] = task
    self.tasks[task] = true
    self.alive = self.alive + 1
    push(self, task, START)
    dispatch(self)
    return task
end

-- sched:spawn(fn, ...) -> task
function Sched:spawn(fn, ...)
    local task = self:_spawn(3, fn, ...)
    return task
end

function Sched:_run(lvl)
    if running_task() then
        error("run() cannot be called from inside a spawned task "
              .. "(use task:wait() or wait_all(tasks))", lvl)
    end
    if self.closed then error("the scheduler is closed", lvl) end
    dispatch(self)
    local m, h = self.multi, self.sleepers
    while self.alive > 0 do
        local resumes = self.resumes
        if self.nflight > 0 then
            rearm(self)
            if self.driver then
                self.driver:run()
            else
                local ok, err = m:run(self.run_opts)
                if not ok then return nil, err end
            end
        elseif h.n > 0 then
            -- Only sleepers: wait for the first (the loop stops when no
            -- transfer runs, so it cannot do that).
            local ms = h[1].at - now_ms()
            if ms > 0 then
                if self.driver then
                    rearm(self)
                    uv_run_once()
                    self.driver:check()
                else
                    -- wait() returns early when a kept connection's socket
                    -- becomes readable (the server closed it): perform()
                    -- lets xfer close it.
                    m:wait(ms)
                    m:perform()
                end
            end
            if h.n > 0 and h[1].at <= now_ms() then wake(self) end
        elseif self.qt < self.qh then
            break -- nothing in flight, asleep or queued: they wait for each other
        end
        if self.qt >= self.qh then dispatch(self) end
        if self.nflight > 0 and h.n == 0 and self.resumes == resumes
           and self.qt < self.qh then
            -- The loop ended with transfers in flight and nobody resumed:
            -- a stream is paused for a reader that waits for something
            -- else, which waits for it.
            break
        end
    end
    if self.alive > 0 then
        return nil, format("%d spawned task(s) still wait, but no transfer is "
                           .. "in progress", self.alive)
    end
    return true
end

-- sched:run() -> true, or nil, err: drives until every task is done.
function Sched:run()
    local ok, err = self:_run(3)
    return ok, err
end

function Sched:_wait_all(lvl, tasks)
    local me = running_task()
    if tasks == nil then
        if me then
            error("wait_all() inside a task needs the list of tasks to wait for", lvl)
        end
        local ok, err = self:_run(lvl + 1)
        return ok, err
    end
    if type(tasks) ~= "table" then
        error("bad argument #1 to 'wait_all' (table expected, got " .. type(tasks) .. ")", lvl)
    end
    for i, t in ipairs(tasks) do
        if getmetatable(t) ~= Task then
            error(format("bad argument #1 to 'wait_all' (item #%d is not a task)", i), lvl)
        end
    end
    local out = {}
    for i, t in ipairs(tasks) do
        out[i] = pack(t:_wait(lvl + 1))
    end
    return out
end

-- sched:wait_all([tasks]) -> see xfer.wait_all.
function Sched:wait_all(tasks)
    local a, b = self:_wait_all(3, tasks)
    return a, b
end

function Sched:_request(task, req, lvl)
    local bad = http.check(req)
    if bad then error("bad argument #1 to 'request' (" .. bad .. ")", lvl) end
    if type(req) == "table" and req.stream then
        return request_stream(self, task, req, lvl + 1)
    end
    local slot, err, misuse = submit(self, task, req, true, true)
    if misuse then error("bad argument #1 to 'request' (" .. misuse .. ")", lvl) end
    if not slot then return nil, err end
    local got = co_yield(WAIT)
    while got ~= slot do got = co_yield(WAIT) end
    local res, rerr = slot.res, slot.err
    put_slot(self, slot)
    return res, rerr
end

function Sched:_fetch_all(task, list, opts, lvl)
    opts = http.check_fetch_all(list, opts, lvl + 1)
    local n = #list
    local results = {}
    if n == 0 then return results end
    local cap = http.pool_size(opts.max_total_connections, n)
    local want_info, want_headers = opts.info, opts.headers ~= false
    local user_done = opts.on_done
    local issued, finished, inflight = 0, 0, 0
    while finished < n do
        while issued < n and inflight < cap do
            issued = issued + 1
            local slot, err, misuse = submit(self, task, list[issued], want_info,
                                             want_headers)
            if misuse then
                error(format("bad argument #1 to 'fetch_all' (request #%d: %s)",
                             issued, misuse), lvl)
            end
            if slot then
                slot.i = issued
                inflight = inflight + 1
            else
                results[issued] = { err = err }
                finished = finished + 1
                if user_done then user_done(issued, nil, err) end
            end
        end
        if finished >= n then break end
        local slot = co_yield(WAIT)
        if type(slot) == "table" and slot.i then
            local i, res, err = slot.i, slot.res, slot.err
            put_slot(self, slot)
            inflight, finished = inflight - 1, finished + 1
            results[i] = res or { err = err }
            if user_done then user_done(i, res, err) end
        end
    end
    return results
end

-- Suspends task for seconds on the wake timer.
function Sched:_sleep(task, seconds, lvl)
    if type(seconds) ~= "number" or seconds < 0 or seconds ~= seconds then
        error("bad argument #1 to 'sleep' (non-negative number of seconds "
              .. "expected, got " .. tostring(seconds) .. ")", lvl)
    end
    self.seq = self.seq + 1
    local entry = { at = now_ms() + floor(seconds * 1000 + 0.5), seq = self.seq,
                    task = task }
    heap_push(self.sleepers, entry)
    if self.sleepers[1] == entry then rearm(self) end
    local got = co_yield(WAIT)
    while got ~= entry do got = co_yield(WAIT) end
end

-- sched:sleep(seconds): xfer.sleep inside one of its tasks.
function Sched:sleep(seconds)
    local task = running_task()
    if not task or task.sched ~= self then
        error("sleep() must run inside a task of this scheduler", 2)
    end
    self:_sleep(task, seconds, 3)
end

-- sched:request(req) and sched:fetch_all(list, opts): as xfer.request and
-- xfer.fetch_all, from inside one of this scheduler's tasks.
function Sched:request(req)
    local task = running_task()
    if not task or task.sched ~= self then
        error("request() must run inside a task of this scheduler", 2)
    end
    local res, err = self:_request(task, req, 3)
    return res, err
end

function Sched:fetch_all(list, opts)
    local task = running_task()
    if not task or task.sched ~= self then
        error("fetch_all() must run inside a task of this scheduler", 2)
    end
    local res, err = self:_fetch_all(task, list, opts, 3)
    return res, err
end

-- sched:close(): tasks still alive fail ("the scheduler is closed"), their
-- transfers and the multi handle are closed. Idempotent; not from inside
-- one of its tasks.
function Sched:close()
    if self.closed then return end
    local me = running_task()
    if self.dispatching or (me and me.sched == self) then
        error("cannot close a scheduler from inside its tasks", 2)
    end
    self.closed = true
    for task in pairs(self.tasks) do
        task.status, task.error = "failed", "the scheduler is closed"
        current[task.co] = nil
        self.tasks[task] = nil
    end
    self.alive = 0
    if self.driver then
        self.alarm:close()
        self.driver:close()
    else
        self.multi:wake(-1)
    end
    for e in pairs(self.by_easy) do e:close() end
    self.by_easy, self.idle, self.nidle = {}, {}, 0
    self.multi:close()
end

---------------------------------------------------------------------------
-- Tasks
---------------------------------------------------------------------------

function Task:_wait(lvl)
    local me = running_task()
    if me then
        if me == self then error("a task cannot wait for itself", lvl) end
        if me.sched ~= self.sched then
            error("cannot wait for a task of another scheduler", lvl)
        end
        if self.status == "running" then
            local w = self.waiters
            if not w then
                w = {}
                self.waiters = w
            end
            w[#w + 1] = me
            while self.status == "running" do co_yield(WAIT) end
        end
    elseif self.status == "running" then
        local ok, err = self.sched:_run(lvl + 1)
        if not ok and self.status == "running" then return nil, err end
    end
    if self.status == "done" then
        local r = self.results
        return true, unpack(r, 1, r.n)
    end
    return false, self.error
end

-- task:wait() -> true, ...results | false, err. Inside a task: waits for
-- this one (yields). Outside: drives the scheduler until every task is
-- done (raising an error a task raised); nil, err if this task cannot
-- finish (it waits for something that never comes).
function Task:wait()
    local r = pack(self:_wait(3)) -- not a tail call: keeps the error level
    return unpack(r, 1, r.n)
end

-- The default scheduler, made on first use: xfer.spawn, xfer.run and
-- xfer.wait_all use it.
local default

function _M.default(opts, lvl)
    lvl = lvl or 2
    if opts ~= nil then
        if default and default.alive > 0 then
            error("the default scheduler has tasks alive: make another one "
                  .. "with xfer.coro.new", lvl)
        end
        local new = _M.new(opts, lvl + 1)
        if default then default:close() end
        default = new
    elseif not default or default.closed then
        default = _M.new()
    end
    return default
end

-- Closes the default scheduler if no task of it is alive (with the
-- connections it keeps); the next use makes a new one.
function _M.close_idle()
    if default and default.alive == 0 and not default.dispatching then
        default:close()
        default = nil
    end
end

_M.Task = Task
_M.Scheduler = Sched

return _M
