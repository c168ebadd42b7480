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
local core = require "xfer.core"
local http = require "xfer.http"

local co_create, co_resume, co_running, co_status, co_yield =
    coroutine.create, coroutine.resume, coroutine.running, coroutine.status,
    coroutine.yield
local traceback = debug.traceback
local format = string.format
local error, getmetatable, ipairs, pairs, select, setmetatable, tostring,
      type = error, getmetatable, ipairs, pairs, select, setmetatable,
             tostring, type
local unpack = table.unpack or unpack -- luacheck: ignore

local _M = { version = "0.1.0" }

-- coroutine -> its task, while the task lives.
local current = setmetatable({}, { __mode = "k" })
-- What a task yields to the scheduler; anything else is misuse.
local WAIT = setmetatable({}, { __tostring = function() return "xfer.WAIT" end })
-- A queue entry's value that starts a task with its arguments.
local START = {}

local MOPTS = { max_total_connections = true, max_host_connections = true,
                maxconnects = true }

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
    slot.task, slot.res, slot.err, slot.i = nil, nil, nil, nil
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
    return slot
end

---------------------------------------------------------------------------
-- The run queue
---------------------------------------------------------------------------

local function push(self, task, v)
    local t = self.qt + 1
    self.qt = t
    self.qtask[t], self.qval[t] = task, v
end

-- The task is over: forget it, wake whoever waits for it.
local function retire(self, task)
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
    for slot in pairs(task.inflight) do
        task.inflight[slot] = nil
        self.multi:remove_handle(slot.easy)
        slot.take()
        put_slot(self, slot)
    end
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

-- A transfer of the scheduler's multi handle ended (on_done).
local function complete(self, e, ok, err)
    local slot = self.by_easy[e]
    if not slot or not slot.task then return end
    self.multi:remove_handle(e)
    if ok then
        local res = http.respond(slot, slot.want_info)
        if not slot.want_headers then res.headers = nil end
        slot.res = res
    else
        slot.take()
        slot.err = err
    end
    local task = slot.task
    task.inflight[slot] = nil
    push(self, task, slot)
    dispatch(self)
end

---------------------------------------------------------------------------
-- Schedulers
---------------------------------------------------------------------------

-- new{ max_total_connections =, max_host_connections =, maxconnects =,
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
    }, Sched)
    self.on_done = function(e, ok, err) complete(self, e, ok, err) end
    self.run_opts = { on_done = self.on_done }
    if driver == "luv" then
        self.driver = require("xfer.luv").attach(self.multi, { on_done = self.on_done })
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
    if self.driver then
        self.driver:run()
    else
        local ok, err = self.multi:run(self.run_opts)
        if not ok then return nil, err end
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
    if self.driver then self.driver:close() end
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
