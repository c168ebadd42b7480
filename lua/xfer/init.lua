-- xfer: HTTP transfers with libcurl's multi interface, for Lua.
--
-- The C module xfer.core does the work (csrc/lua/); this file is the
-- public face. It re-exports everything from xfer.core (functions and the
-- integer constants: xfer.POLL_IN, xfer.E_COULDNT_CONNECT, ...), names the
-- constructors, and adds the high-level API. Layers, lowest first (see
-- docs/lua.md):
--
--   xfer.multi{...}, xfer.easy{...}   libcurl's multi interface; m:run() is
--                                     the built-in libuv loop (the fast path)
--   require "xfer.luv"                drives a multi handle from a luv loop
--   xfer.request(req)                 one request -> response | nil, err
--   xfer.fetch_all(list, opts)        many, in parallel -> results in order
--   xfer.spawn(fn, ...), xfer.run()   coroutines: in a task, request and
--                                     fetch_all yield instead of blocking;
--                                     xfer.sleep(s); request{ stream = true }
--
--   local xfer = require "xfer"
--   local m = xfer.multi{ max_total_connections = 8 }
--   m:add_handle(xfer.easy{ url = "http://127.0.0.1/",
--                           writefunction = function(chunk) end })
--   m:run{ on_done = function(easy, ok, err) end }
--
--   local res, err = xfer.request{ url = "http://127.0.0.1/", timeout_ms = 5000 }
--   if res then print(res.status, res.headers["content-type"], #res.body) end
local core = require "xfer.core"
local http = require "xfer.http"
local coro = require "xfer.coro"
local headers = require "xfer.headers"

local pairs = pairs

local _M = {}

for k, v in pairs(core) do
    -- fs_create serves the xfer command (xfer.cli.output), not the API.
    if k ~= "fs_create" then _M[k] = v end
end

-- xfer.multi{ option = value, ... } -> multi handle (options: see
-- core.MOPT_* for the names; socketfunction, timerfunction, ...).
_M.multi = core.multi_init

-- xfer.easy{ url = "...", writefunction = fn, ... } -> easy handle
-- (options: the lowercase names of core.OPT_*).
_M.easy = core.easy_init

_M.core = core
_M.coro = coro
_M.headers = headers

local running_task = coro.current

-- xfer.request(req) -> response | nil, err
-- req: a URL, or { url =, method =, headers =, body =, <easy option> = ... }.
-- response: { status =, headers =, body =, info = }. Blocks, except inside
-- a task (xfer.spawn), where it yields until the transfer is done.
function _M.request(req)
    local task = running_task()
    local res, err
    if task then
        res, err = task.sched:_request(task, req, 3)
    else
        res, err = http.request(req, 3)
    end
    return res, err
end

-- xfer.fetch_all(list, opts) -> results: results[i] is the response to
-- list[i], or { err = err }. opts: max_total_connections (default 16; 0:
-- all at once), max_host_connections, on_done(i, res, err), info (getinfo
-- tables in the responses), headers (false: none collected), multi (a
-- multi handle to run on, kept open). Inside a task it yields.
function _M.fetch_all(list, opts)
    local task = running_task()
    local res, err
    if task then
        res, err = task.sched:_fetch_all(task, list, opts, 3)
    else
        res, err = http.fetch_all(list, opts, 3)
    end
    return res, err
end

-- xfer.spawn(fn, ...) -> task, on the default scheduler (xfer.scheduler()).
function _M.spawn(fn, ...)
    local task = coro.default():_spawn(3, fn, ...)
    return task
end

-- xfer.sleep(seconds): suspends the task running now for seconds (a
-- number, fractions allowed; resolution 1 ms) on its scheduler's loop
-- timer: the loop goes on meanwhile. Raises outside a task.
function _M.sleep(seconds)
    local task = running_task()
    if not task then
        error("xfer.sleep must be called inside a task (xfer.spawn): outside one "
              .. "there is no loop to wait on", 2)
    end
    task.sched:_sleep(task, seconds, 3)
end

-- xfer.run() -> true | nil, err: drives the default scheduler until every
-- spawned task is done. Raises an error a task raised.
function _M.run()
    local ok, err = coro.default():_run(3)
    return ok, err
end

-- xfer.wait_all() is xfer.run(); xfer.wait_all(tasks) -> list of
-- { true, ... } | { false, err } (one per task, in order), after driving
-- (or, inside a task, waiting) until those tasks are done.
function _M.wait_all(tasks)
    local a, b = coro.default():_wait_all(3, tasks)
    return a, b
end

-- xfer.scheduler([opts]) -> the default scheduler (made on first use).
-- With opts (as xfer.coro.new: connection limits, driver = "run"|"luv"),
-- replaces it; only while it has no task alive.
function _M.scheduler(opts)
    local s = coro.default(opts, 3)
    return s
end

-- xfer.close_idle(): closes the connections that xfer.request keeps for
-- the next blocking request, and the default scheduler when no task of it
-- is alive (with its connections; the next xfer.spawn makes a new one).
function _M.close_idle()
    http.close_idle()
    coro.close_idle()
end

return _M
