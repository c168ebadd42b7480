-- spec/lua/misuse_child.lua: the risky cases of the Lua misuse suite, run
-- one per process by spec/lua/misuse_spec.lua, so that a crash, a sanitizer
-- report or a hang is a clear failure of one case instead of a dead runner.
--
--   <lua> spec/lua/misuse_child.lua CASE [ARG]
--
-- Environment: XFER_MIS_PATH / XFER_MIS_CPATH (package.path / cpath of the
-- parent), NGINX_PORT, FAULT_PORT, FAULT_SILENT_PORT.  A case prints what it
-- saw, then "PASS CASE"; a failed check prints "FAIL: ..." and exits 1.
package.path = os.getenv("XFER_MIS_PATH") or package.path
package.cpath = os.getenv("XFER_MIS_CPATH") or package.cpath

local xfer = require "xfer"

local NGINX = "http://127.0.0.1:" .. assert(os.getenv("NGINX_PORT"))
local FAULT = "http://127.0.0.1:" .. assert(os.getenv("FAULT_PORT"))
local SILENT = "http://127.0.0.1:" .. assert(os.getenv("FAULT_SILENT_PORT"))
local LUA54 = _VERSION == "Lua 5.4"
local INT64 = math.type ~= nil -- 5.3+: 64-bit integers

local function say(...)
    local t = {}
    for i = 1, select("#", ...) do t[i] = tostring((select(i, ...))) end
    io.stdout:write(table.concat(t, " "), "\n")
    io.stdout:flush()
end

local function fail(fmt, ...)
    error(string.format(fmt, ...), 3)
end

local function check(cond, fmt, ...)
    if not cond then fail(fmt or "check failed", ...) end
    return cond
end

local function eq(got, want, what)
    if got ~= want then
        fail("%s: expected %s, got %s", what, tostring(want), tostring(got))
    end
end

local function matches(s, pat, what)
    if type(s) ~= "string" or not s:find(pat) then
        fail("%s: %q does not match %q", what, tostring(s):sub(1, 300), pat)
    end
end

-- Checks that go on after a failure, so that one known bug does not hide
-- the rest of a case; soft_end() fails with all of them.
local problems = {}
local function soft(cond, fmt, ...)
    if not cond then
        problems[#problems + 1] = string.format(fmt or "check failed", ...)
        say("SOFT FAIL: " .. problems[#problems])
    end
    return cond
end

local function soft_end()
    if #problems > 0 then
        error(#problems .. " failed checks:\n  " ..
              table.concat(problems, "\n  "), 0)
    end
end

local function first_line(s)
    return (tostring(s):gsub("\n.*", ""))
end

local function collect(n)
    for _ = 1, n or 3 do collectgarbage("collect") end
end

-- A body-discarding easy handle.
local function easy(url, opts)
    opts = opts or {}
    opts.url = url
    opts.writefunction = opts.writefunction or function() end
    return xfer.easy(opts)
end

local function good(path)
    return easy(NGINX .. (path or "/index.html"))
end

-- perform + wait until nothing runs.  Returns the messages, keyed by easy
-- ({ ok, err }) and as a list, and the errors the calls raised.
local function drive(m)
    local byeasy, list, raised = {}, {}, {}
    for _ = 1, 20000 do
        local ok, running = pcall(m.perform, m)
        if not ok then raised[#raised + 1] = running; running = 1 end
        while true do
            local e, eok, err = m:info_read()
            if not e then break end
            byeasy[e] = { eok, err }
            list[#list + 1] = { e, eok, err }
        end
        if running == 0 then return byeasy, list, raised end
        m:wait(50)
    end
    fail("transfers did not finish")
end

-- The multi still works: a fresh good transfer completes on it (perform).
local function usable(m, what)
    m:setopt_socketfunction(nil)
    m:setopt_timerfunction(nil)
    for _, e in ipairs(m:get_handles()) do m:remove_handle(e) end
    local e = good()
    check(m:add_handle(e), "%s: add_handle failed", what)
    local r = drive(m)
    check(r[e] and r[e][1] == true, "%s: the good transfer failed: %s", what,
          r[e] and tostring(r[e][2]))
    m:remove_handle(e)
    e:close()
    -- and through run()
    e = good()
    m:add_handle(e)
    check(m:run() == true, "%s: run() failed", what)
    local got, ok = m:info_read()
    check(got == e and ok == true, "%s: run() transfer failed", what)
    m:remove_handle(e)
    e:close()
end

-- A transfer that calls fn from the callback of the given kind.
local function with_callback(kind, fn, opts)
    opts = opts or {}
    local url = NGINX .. "/1m.bin"
    if kind == "read" then
        url = FAULT .. "/echo"
        opts.upload, opts.infilesize = true, 100000
        opts.readfunction = function(room)
            local r = fn()
            if r ~= nil then return r end
            return string.rep("r", room)
        end
    elseif kind == "write" then
        opts.writefunction = function() return fn() end
    elseif kind == "header" then
        opts.headerfunction = function() return fn() end
    elseif kind == "xferinfo" then
        opts.xferinfofunction = function() return fn() end
    else
        error("unknown kind " .. kind)
    end
    return easy(url, opts)
end

local TRANSFER_KINDS = { "write", "header", "read", "xferinfo" }

-- What a transfer callback's error fails its transfer with.
local CODE = {
    write = xfer.E_WRITE_ERROR, header = xfer.E_WRITE_ERROR,
    read = xfer.E_ABORTED_BY_CALLBACK, xferinfo = xfer.E_ABORTED_BY_CALLBACK,
}

local cases = {}

---------------------------------------------------------------------------
-- Closing handles inside callbacks
---------------------------------------------------------------------------

-- The easy closes itself from each of its callbacks, under m:perform(),
-- m:run() and easy:perform(): no crash, no message for the closed one, the
-- other transfer completes, the multi goes on.
function cases.close_easy_in_transfer_callbacks()
    for _, kind in ipairs(TRANSFER_KINDS) do
        for _, driver in ipairs({ "perform", "run", "easy" }) do
            local victim
            victim = with_callback(kind, function()
                victim:close()
                collect(1)
            end)
            local what = kind .. "/" .. driver
            if driver == "easy" then
                local ok, err = victim:perform()
                check(ok == true or (ok == nil and type(err.code) == "number"),
                      "%s: perform returned %s", what, tostring(ok))
            else
                local m = xfer.multi()
                local other = good()
                assert(m:add_handle(victim))
                assert(m:add_handle(other))
                local list = {}
                if driver == "perform" then
                    list = select(2, drive(m))
                else
                    eq(m:run(), true, what .. ": run()")
                    while true do
                        local e, ok = m:info_read()
                        if not e then break end
                        list[#list + 1] = { e, ok }
                    end
                end
                eq(#list, 1, what .. ": messages")
                eq(list[1][1], other, what .. ": the message's easy")
                eq(list[1][2], true, what .. ": the other transfer")
                eq(#m:get_handles(), 1, what .. ": handles left")
                usable(m, what)
                m:close()
            end
            eq(tostring(victim), "xfer.easy (closed)", what .. ": closed")
            say(what, "ok")
        end
    end
end

-- Inside the socket and timer callbacks close() refuses (the core cannot
-- let go of the handle there): the error is raised by the call, every
-- transfer in progress fails with ABORTED_BY_CALLBACK.  __gc called by hand,
-- and 5.4's __close, take the other path: no error, no crash.
function cases.close_easy_in_socket_timer_callbacks()
    -- close() in the socket callback
    local m = xfer.multi()
    local e = good()
    m:setopt_socketfunction(function(easy_) if easy_ then easy_:close() end end)
    assert(m:add_handle(e))
    local ok, err = pcall(m.socket_action, m, xfer.SOCKET_TIMEOUT)
    eq(ok, false, "socket: raised")
    matches(err, "cannot close an easy handle inside its multi handle's " ..
            "socket or timer callback", "socket: message")
    local got, eok, eerr = m:info_read()
    eq(got, e, "socket: message easy")
    eq(eok, false, "socket: transfer ok")
    eq(eerr.code, xfer.E_ABORTED_BY_CALLBACK, "socket: code")
    usable(m, "socket close")
    -- close() in the timer callback (add_handle reports the timer); the
    -- idle connection run() left is swept first, or the new function
    -- hears that deadline at once, outside add_handle
    m:socket_action(xfer.SOCKET_TIMEOUT)
    e = good()
    m:setopt_timerfunction(function() e:close() end)
    ok, err = pcall(m.add_handle, m, e)
    eq(ok, false, "timer: raised")
    matches(err, "cannot close an easy handle", "timer: message")
    eq(select(3, m:info_read()).code, xfer.E_ABORTED_BY_CALLBACK, "timer: code")
    usable(m, "timer close")
    -- __gc by hand, in both
    for _, where in ipairs({ "socket", "timer" }) do
        e = easy(NGINX .. "/index.html", { fresh_connect = true })
        local called = false
        local function gc(easy_)
            if easy_ and not called then
                called = true
                getmetatable(easy_).__gc(easy_)
            end
        end
        if where == "socket" then
            m:setopt_socketfunction(function(easy_) gc(easy_) end)
        else
            m:setopt_timerfunction(function() gc(e) end)
        end
        ok, err = pcall(function()
            assert(m:add_handle(e))
            return m:socket_action(xfer.SOCKET_TIMEOUT)
        end)
        say(where, "__gc:", ok, first_line(err), tostring(e))
        check(called, "%s: the callback ran", where)
        eq(tostring(e), "xfer.easy (closed)", where .. " __gc: closed")
        m:setopt_socketfunction(nil)
        m:setopt_timerfunction(nil)
        drive(m)
        usable(m, where .. " __gc")
    end
    -- 5.4: a to-be-closed variable in the callbacks
    if LUA54 then
        local chunk = assert(load([[
            local m, e, where = ...
            local function tbc(x) local v <close> = x end
            if where == "socket" then
                m:setopt_socketfunction(function(easy_) if easy_ then tbc(easy_) end end)
            else
                m:setopt_timerfunction(function() tbc(e) end)
            end
        ]]))
        for _, where in ipairs({ "socket", "timer" }) do
            e = easy(NGINX .. "/index.html", { fresh_connect = true })
            chunk(m, e, where)
            ok, err = pcall(function()
                m:add_handle(e)
                return m:socket_action(xfer.SOCKET_TIMEOUT)
            end)
            say(where, "<close>:", ok, first_line(err), tostring(e))
            eq(tostring(e), "xfer.easy (closed)", where .. " <close>: closed")
            drive(m)
            usable(m, where .. " <close>")
        end
    end
    m:close()
end

-- The multi cannot close from inside any of its callbacks: close() raises,
-- the call that ran the callback re-raises it, the multi is intact.  An
-- explicit __gc (or __close) there is a no-op.
function cases.close_multi_in_callbacks()
    local function attempt(m, how)
        if how == "close" then return m:close() end
        if how == "gc" then return getmetatable(m).__gc(m) end
        return getmetatable(m).__close(m, nil)
    end
    local hows = { "close", "gc", "close_mm" }
    for _, how in ipairs(hows) do
        -- transfer callbacks, under run() and perform()
        for _, kind in ipairs(TRANSFER_KINDS) do
            for _, driver in ipairs({ "run", "perform" }) do
                local m = xfer.multi()
                local tried = false
                local e = with_callback(kind, function()
                    if not tried then tried = true; attempt(m, how) end
                end)
                assert(m:add_handle(e))
                local what = how .. "/" .. kind .. "/" .. driver
                if driver == "run" then
                    local ok, err = pcall(m.run, m)
                    if how == "close" then
                        eq(ok, false, what .. ": raised")
                        matches(err, "cannot close a multi handle from inside",
                                what .. ": message")
                    else
                        eq(ok, true, what .. ": run() result")
                    end
                else
                    local _, _, raised = drive(m)
                    if how == "close" then
                        matches(raised[1], "cannot close a multi handle",
                                what .. ": message")
                    else
                        eq(#raised, 0, what .. ": raised")
                    end
                end
                check(tried, "%s: the callback ran", what)
                check(tostring(m) ~= "xfer.multi (closed)", "%s: closed", what)
                usable(m, what)
                m:close()
                eq(tostring(m), "xfer.multi (closed)", what .. ": closes after")
            end
        end
        -- on_done, socket, timer
        for _, kind in ipairs({ "on_done", "socket", "timer" }) do
            local m = xfer.multi()
            local tried = false
            local function try()
                if not tried then tried = true; attempt(m, how) end
            end
            local what = how .. "/" .. kind
            local ok, err
            if kind == "on_done" then
                m:add_handle(good())
                ok, err = pcall(m.run, m, { on_done = try })
            else
                if kind == "socket" then m:setopt_socketfunction(try)
                else m:setopt_timerfunction(try) end
                ok, err = pcall(function()
                    m:add_handle(good())
                    return m:socket_action(xfer.SOCKET_TIMEOUT)
                end)
            end
            check(tried, "%s: the callback ran", what)
            if how == "close" then
                eq(ok, false, what .. ": raised")
                matches(err, "cannot close a multi handle", what .. ": message")
            else
                eq(ok, true, what .. ": no error")
            end
            check(tostring(m) ~= "xfer.multi (closed)", "%s: closed", what)
            usable(m, what)
            m:close()
        end
        say(how, "ok")
    end
end

-- run{on_done} closes the other transfers, still running: run() must
-- return once nothing is left.
function cases.on_done_closes_running_others()
    local m = xfer.multi()
    local big = {}
    for i = 1, 5 do -- never answered: they run until closed
        big[i] = easy(SILENT .. "/")
        assert(m:add_handle(big[i]))
    end
    local small = good()
    assert(m:add_handle(small))
    local calls = 0
    local ok = m:run{ on_done = function(e)
        calls = calls + 1
        for i = 1, 5 do if big[i] ~= e then big[i]:close() end end
        collect(1)
    end }
    eq(ok, true, "run()")
    eq(calls, 1, "on_done calls")
    usable(m, "after")
    m:close()
end

-- Completion messages queued (perform until done), then run{on_done} closes
-- the other finished handles as the first message is delivered; and
-- info_read after closing or removing finished handles.
function cases.on_done_closes_queued()
    local function finished(n)
        local m = xfer.multi()
        local es = {}
        for i = 1, n do
            es[i] = good()
            assert(m:add_handle(es[i]))
        end
        for _ = 1, 1000 do
            if m:perform() == 0 then break end
            m:wait(50)
        end
        return m, es
    end
    local m, es = finished(5)
    local calls = 0
    eq(m:run{ on_done = function(e)
        calls = calls + 1
        for i = 1, 5 do if es[i] ~= e then es[i]:close() end end
        collect(1)
    end }, true, "run()")
    eq(calls, 1, "on_done calls")
    eq(m:info_read(), nil, "no message left")
    usable(m, "run")
    m:close()
    -- info_read after close / remove of finished handles
    m, es = finished(4)
    es[2]:close()
    m:remove_handle(es[3])
    es[3]:close()
    m:remove_handle(es[4]) -- removed, not closed: its message goes too
    collect()
    local seen = {}
    while true do
        local e, ok = m:info_read()
        if not e then break end
        eq(ok, true, "message ok")
        seen[#seen + 1] = e
    end
    eq(#seen, 1, "messages left")
    eq(seen[1], es[1], "the live handle's message")
    usable(m, "info_read")
    m:close()
end

---------------------------------------------------------------------------
-- Two multis, re-adding, recursion
---------------------------------------------------------------------------

function cases.one_easy_two_multis()
    local m1, m2 = xfer.multi(), xfer.multi()
    local e, inner, moved
    e = easy(NGINX .. "/1m.bin", { writefunction = function()
        if not inner then
            inner = { m2:add_handle(e) }               -- still in m1
            moved = { m1:remove_handle(e), m2:add_handle(e) } -- now move it
        end
    end })
    assert(m1:add_handle(e))
    eq(m1:run(), true, "m1:run()")
    eq(inner[1], nil, "add to m2 inside m1's callback")
    eq(inner[2].name, "BAD_EASY_HANDLE", "add to m2 inside m1's callback")
    eq(moved[1], true, "remove from m1")
    eq(moved[2], true, "add to m2")
    eq(#m1:get_handles(), 0, "m1 handles")
    eq(m1:info_read(), nil, "no message on m1")
    eq(m2:run(), true, "m2:run()")
    local got, ok = m2:info_read()
    eq(got, e, "m2 message")
    eq(ok, true, "m2 transfer")
    -- an easy inside its own easy:perform() cannot join a multi
    local p, res
    p = easy(NGINX .. "/16k.bin", { writefunction = function()
        res = res or { m1:add_handle(p) }
    end })
    eq(p:perform(), true, "easy:perform")
    eq(res[2].name, "BAD_EASY_HANDLE", "add while performing")
    -- and an added one cannot perform alone, even from its callback
    local q, res2
    q = easy(NGINX .. "/16k.bin", { writefunction = function()
        res2 = res2 or { q:perform() }
    end })
    m1:add_handle(q)
    eq(m1:run(), true, "m1:run() 2")
    eq(res2[1], nil, "perform while added")
    eq(type(res2[2].code), "number", "perform while added: code")
    usable(m1, "m1")
    usable(m2, "m2")
    m1:close()
    m2:close()
end

function cases.readd_while_running()
    for _, driver in ipairs({ "perform", "run" }) do
        for _, kind in ipairs({ "write", "header" }) do
            local m = xfer.multi()
            local e, n, res = nil, 0, {}
            e = with_callback(kind, function()
                n = n + 1
                if n <= 3 then
                    res[#res + 1] = { m:add_handle(e) }   -- already added
                    assert(m:remove_handle(e))
                    assert(m:add_handle(e))            -- starts over
                end
            end)
            assert(m:add_handle(e))
            local list
            if driver == "perform" then
                list = select(2, drive(m))
            else
                eq(m:run(), true, "run()")
                list = {}
                while true do
                    local got, ok = m:info_read()
                    if not got then break end
                    list[#list + 1] = { got, ok }
                end
            end
            local what = driver .. "/" .. kind
            eq(#list, 1, what .. ": one message")
            eq(list[1][2], true, what .. ": completed")
            for _, r in ipairs(res) do
                eq(r[2].name, "ADDED_ALREADY", what .. ": added twice")
            end
            usable(m, what)
            m:close()
        end
    end
    -- inside the socket callback: refused as values
    local m = xfer.multi()
    local e, other = good(), good()
    local r
    m:setopt_socketfunction(function()
        r = r or { { m:remove_handle(e) }, { m:add_handle(other) } }
    end)
    m:add_handle(e)
    m:socket_action(xfer.SOCKET_TIMEOUT)
    eq(r[1][2].name, "RECURSIVE_API_CALL", "remove in socket callback")
    eq(r[2][2].name, "RECURSIVE_API_CALL", "add in socket callback")
    drive(m)
    usable(m, "socket")
    m:close()
end

-- Every driver from inside every callback: RECURSIVE_API_CALL, as a value.
function cases.recursive_drivers()
    local DRIVERS = {
        perform = function(m) return m:perform() end,
        socket_action = function(m) return m:socket_action(xfer.SOCKET_TIMEOUT) end,
        socket_all = function(m) return m:socket_all() end,
        wait = function(m) return m:wait(10) end,
        poll = function(m) return m:poll(10) end,
        run = function(m) return m:run() end,
    }
    local function try_all(m, seen)
        for name, f in pairs(DRIVERS) do
            if not seen[name] then
                local ok, r1, r2 = pcall(f, m)
                seen[name] = ok and r1 == nil and r2 and r2.name or
                             ("got " .. tostring(r1) .. " " .. tostring(r2))
            end
        end
        -- allowed ones
        seen.info_read = pcall(m.info_read, m)
        seen.timeout = pcall(m.timeout, m)
        seen.get_handles = pcall(m.get_handles, m)
    end
    local function verify(seen, what)
        for name in pairs(DRIVERS) do
            eq(seen[name], "RECURSIVE_API_CALL", what .. ": " .. name)
        end
        eq(seen.info_read, true, what .. ": info_read")
        eq(seen.timeout, true, what .. ": timeout")
        eq(seen.get_handles, true, what .. ": get_handles")
    end
    for _, kind in ipairs(TRANSFER_KINDS) do
        for _, driver in ipairs({ "perform", "run" }) do
            local m = xfer.multi()
            local seen = {}
            local e = with_callback(kind, function() try_all(m, seen) end)
            m:add_handle(e)
            if driver == "run" then eq(m:run(), true, "run()") else drive(m) end
            verify(seen, kind .. "/" .. driver)
            usable(m, kind .. "/" .. driver)
            m:close()
        end
    end
    for _, kind in ipairs({ "socket", "timer", "on_done" }) do
        local m = xfer.multi()
        local seen = {}
        local function cb() try_all(m, seen) end
        m:add_handle(good())
        if kind == "on_done" then
            eq(m:run{ on_done = cb }, true, "run()")
        else
            if kind == "socket" then m:setopt_socketfunction(cb)
            else m:setopt_timerfunction(cb) end
            m:socket_action(xfer.SOCKET_TIMEOUT)
            m:setopt_socketfunction(nil)
            m:setopt_timerfunction(nil)
            drive(m)
        end
        verify(seen, kind)
        usable(m, kind)
        m:close()
    end
    -- another multi's run() and perform, nested inside a callback: fine
    local outer, inner = xfer.multi(), xfer.multi()
    local depth2 = {}
    outer:add_handle(easy(NGINX .. "/16k.bin", { writefunction = function()
        if #depth2 < 3 then
            local e = good()
            inner:add_handle(e)
            depth2[#depth2 + 1] = inner:run()
            inner:remove_handle(e)
            local lone = good()
            depth2[#depth2 + 1] = lone:perform()
        end
    end }))
    eq(outer:run(), true, "outer run()")
    for i, r in ipairs(depth2) do eq(r, true, "nested " .. i) end
    outer:close()
    inner:close()
end

-- Each write callback performs a new easy handle, without end: the Lua
-- limit must stop it with an error (run with a 2 MiB C stack, a common
-- thread size).
function cases.unbounded_recursion()
    local depth, maxd = 0, 0
    local function mk()
        return easy(NGINX .. "/index.html", { writefunction = function()
            depth = depth + 1
            if depth > maxd then maxd = depth end
            local inner = mk()
            local ok, r, err = pcall(inner.perform, inner)
            depth = depth - 1
            -- the first line only: every level adds a traceback
            if not ok then error(first_line(r), 0) end
            if not r then error(first_line(err), 0) end
        end })
    end
    local e = mk()
    local ok, err = pcall(e.perform, e)
    say("depth", maxd, first_line(err))
    eq(ok, false, "raised")
    matches(first_line(err), "stack overflow", "message")
    eq(good():perform(), true, "a transfer afterwards")
end

---------------------------------------------------------------------------
-- Yields and errors across callbacks
---------------------------------------------------------------------------

local YIELD = "attempt to yield across"

function cases.yield_across_callbacks()
    for _, kind in ipairs(TRANSFER_KINDS) do
        for _, driver in ipairs({ "perform", "run", "easy" }) do
            local what = kind .. "/" .. driver
            local e = with_callback(kind, function() coroutine.yield("y") end)
            local m = xfer.multi()
            local co = coroutine.create(function()
                if driver == "easy" then return e:perform() end
                m:add_handle(e)
                if driver == "run" then return m:run() end
                for _ = 1, 1000 do
                    if m:perform() == 0 then return 0 end
                    m:wait(50)
                end
            end)
            local ok, err = coroutine.resume(co)
            eq(ok, false, what .. ": resume")
            matches(err, YIELD, what .. ": message")
            eq(coroutine.status(co), "dead", what .. ": coroutine")
            if driver ~= "easy" then
                local got, eok, eerr = m:info_read()
                eq(got, e, what .. ": message easy")
                eq(eok, false, what .. ": transfer ok")
                eq(eerr.code, CODE[kind], what .. ": code")
                matches(eerr.message, YIELD, what .. ": err.message")
                usable(m, what)
            else
                -- the handle itself is fine afterwards
                e:setopt{ url = NGINX .. "/index.html", upload = false,
                          writefunction = function() end }
                e:setopt_readfunction(nil)
                e:setopt_headerfunction(nil)
                e:setopt_xferinfofunction(nil)
                eq(e:perform(), true, what .. ": perform afterwards")
            end
            m:close()
        end
    end
    -- socket, timer (every transfer in progress fails: 42) and on_done
    for _, kind in ipairs({ "socket", "timer", "on_done" }) do
        local m = xfer.multi()
        local e = good()
        local co = coroutine.create(function()
            if kind == "on_done" then
                m:add_handle(e)
                return m:run{ on_done = function() coroutine.yield() end }
            end
            -- set before adding: setting them replays the current state
            if kind == "socket" then
                m:setopt_socketfunction(function() coroutine.yield() end)
            else
                m:setopt_timerfunction(function() coroutine.yield() end)
            end
            m:add_handle(e) -- the timer callback runs here
            return m:socket_action(xfer.SOCKET_TIMEOUT)
        end)
        local ok, err = coroutine.resume(co)
        eq(ok, false, kind .. ": resume")
        matches(err, YIELD, kind .. ": message")
        if kind ~= "on_done" then
            local got, eok, eerr = m:info_read()
            eq(got, e, kind .. ": message easy")
            eq(eok, false, kind .. ": transfer ok")
            eq(eerr.code, xfer.E_ABORTED_BY_CALLBACK, kind .. ": code")
        else
            eq(m:info_read(), nil, "on_done took the message")
        end
        usable(m, kind)
        m:close()
    end
end

-- Errors that are not strings travel as they are; long ones whole; the
-- transfer's err.message is bounded and says what happened.
function cases.error_values()
    local m = xfer.multi()
    local mine = { tag = "mine" }
    local nasty = setmetatable({}, { __tostring = function() error("no") end })
    local long = string.rep("L", 1000000)
    local values = {
        { "nil", nil }, { "table", mine }, { "false", false },
        { "number", 42 }, { "nasty", nasty }, { "long", long },
    }
    for _, v in ipairs(values) do
        for _, kind in ipairs({ "write", "header" }) do
            local what = v[1] .. "/" .. kind
            local e = with_callback(kind, function() error(v[2], 0) end)
            m:add_handle(e)
            local ok, err = pcall(m.run, m)
            eq(ok, false, what .. ": raised")
            if v[1] == "long" then
                check(type(err) == "string" and err:sub(1, #long) == long,
                      "%s: the long message arrives whole", what)
            elseif v[1] == "number" then
                -- documented: "Non-string error values are kept as they are"
                soft(err == 42, "%s: error(42) came back as the %s %q", what,
                     type(err), first_line(err))
            else
                eq(err, v[2], what .. ": the value")
            end
            local got, eok, eerr = m:info_read()
            eq(got, e, what .. ": message")
            eq(eok, false, what .. ": transfer ok")
            eq(eerr.code, xfer.E_WRITE_ERROR, what .. ": code")
            check(#eerr.message < xfer.ERROR_SIZE, "%s: message size", what)
            -- names what was raised, not an empty text
            soft(eerr.message:find("callback raised an error: %S"),
                 "%s: err.message %q says nothing of the error", what,
                 eerr.message)
            m:remove_handle(e)
        end
        say(v[1], "ok")
    end
    -- the same through easy:perform
    local e = with_callback("write", function() error(mine) end)
    local ok, err = pcall(e.perform, e)
    eq(ok, false, "easy: raised")
    eq(err, mine, "easy: the value")
    usable(m, "after")
    m:close()
    soft_end()
end

---------------------------------------------------------------------------
-- Coroutines
---------------------------------------------------------------------------

function cases.coroutines()
    local m = xfer.multi{ max_total_connections = 2 }
    local seen = {}
    local function record() seen[#seen + 1] = coroutine.running() end
    -- made and added in coroutine A, which stays suspended
    local a = coroutine.create(function()
        for i = 1, 3 do
            m:add_handle(easy(NGINX .. "/16k.bin", { writefunction = record,
                                                     private = i }))
        end
        m:perform() -- partly run from A
        coroutine.yield()
        return "a done"
    end)
    assert(coroutine.resume(a))
    -- driven to the end from coroutine B: callbacks run on B
    local b = coroutine.create(function() return select(2, drive(m)) end)
    local ok, list = coroutine.resume(b)
    eq(ok, true, "B")
    eq(#list, 3, "B: messages")
    for _, th in ipairs(seen) do
        check(th == b or th == a, "callback on a foreign thread")
    end
    check(seen[#seen] == b, "the last callbacks ran on B")
    -- A goes on and cleans up; then A and B are collected
    for _, msg in ipairs(list) do m:remove_handle(msg[1]) end
    eq(select(2, coroutine.resume(a)), "a done", "A")
    a, b = nil, nil
    collect()
    -- a callback running on C resumes D, which uses the same handles
    local e1, e2 = easy(NGINX .. "/1m.bin"), good()
    local d_result
    local d = coroutine.create(function(victim)
        local r = {}
        r.perform = { m:perform() }                 -- refused
        r.remove = { m:remove_handle(victim) }      -- allowed
        r.add = { m:add_handle(e2) }                -- allowed
        r.close = { pcall(m.close, m) }             -- refused
        r.lone = good():perform()                   -- another transfer
        r.self = { pcall(coroutine.resume, coroutine.running()) }
        victim:close()
        return r
    end)
    local c = coroutine.create(function()
        e1:setopt_writefunction(function()
            if not d_result then
                local okd, r = coroutine.resume(d, e1)
                d_result = okd and r or { err = r }
            end
        end)
        m:add_handle(e1)
        return select(2, drive(m))
    end)
    local okc, list2 = coroutine.resume(c)
    eq(okc, true, "C")
    check(not d_result.err, "D raised: %s", tostring(d_result.err))
    eq(d_result.perform[2].name, "RECURSIVE_API_CALL", "D: perform")
    eq(d_result.remove[1], true, "D: remove")
    eq(d_result.add[1], true, "D: add")
    eq(d_result.close[1], false, "D: close")
    eq(d_result.lone, true, "D: another transfer")
    eq(tostring(e1), "xfer.easy (closed)", "D closed e1")
    eq(#list2, 1, "C: messages")
    eq(list2[1][1], e2, "C: e2 completed")
    c, d = nil, nil
    collect()
    usable(m, "after")
    m:close()
end

---------------------------------------------------------------------------
-- Collection
---------------------------------------------------------------------------

-- Drops references mid-transfer in every combination and collects
-- repeatedly; on_done closures and callbacks reference the handles.
function cases.gc_orders_midtransfer()
    local combos = {
        { "m" }, { "e" }, { "m", "e" }, { "e", "m" }, { "all" },
    }
    local function setup(weak, driver)
        local m = xfer.multi{ max_total_connections = 2 }
        local es = {}
        for i = 1, 4 do
            -- The write callback captures no handle: that would be a cycle
            -- through the registry (see self_cycle).
            local e = easy(NGINX .. "/1m.bin", { writefunction = function()
                if driver == "error" and i == 1 then error("stop") end
            end })
            m:add_handle(e)
            es[i] = e
            weak[#weak + 1] = e
        end
        weak.m = m
        if driver == "perform" then
            m:perform()
            m:perform()
        else
            local ok = pcall(m.run, m, { on_done = function(done)
                return es[1] == done and m
            end })
            eq(ok, false, "run() stopped")
        end
        return { m = m, es = es }
    end
    for _, driver in ipairs({ "perform", "error" }) do
        for _, combo in ipairs(combos) do
            local weak = setmetatable({}, { __mode = "v" })
            local strong = setup(weak, driver)
            for _, what in ipairs(combo) do
                if what == "m" or what == "all" then strong.m = nil end
                if what == "e" or what == "all" then strong.es = nil end
                collect()
                -- whatever is still referenced is still usable
                if strong.m then strong.m:perform() end
                if strong.es then
                    for _, e in ipairs(strong.es) do tostring(e:getinfo()) end
                end
            end
            strong = nil
            collect()
            local name = driver .. ":" .. table.concat(combo, ",")
            eq(weak.m, nil, name .. ": multi collected")
            for i = 1, 4 do eq(weak[i], nil, name .. ": easy collected") end
        end
    end
    -- closed first, then dropped and collected, in both orders
    for _, first in ipairs({ "m", "e" }) do
        local weak = setmetatable({}, { __mode = "v" })
        local strong = setup(weak, "perform")
        if first == "m" then strong.m:close() end
        for _, e in ipairs(strong.es) do e:close() end
        if first == "e" then strong.m:close() end
        collect()
        strong = nil
        collect()
        eq(weak.m, nil, first .. ": multi collected after close")
        eq(weak[1], nil, first .. ": easy collected after close")
    end
end

-- An easy whose callback captures the easy itself, added and running, all
-- references dropped: nothing crashes; close() releases the cycle; the
-- rest waits for lua_close, which must end cleanly (the parent checks the
-- exit status).
function cases.self_cycle()
    local weak = setmetatable({}, { __mode = "v" })
    local function make()
        local m = xfer.multi()
        local e
        e = easy(NGINX .. "/1m.bin", {
            writefunction = function() return e ~= nil end,
            private = nil,
        })
        m:add_handle(e)
        m:perform()
        weak.m, weak.e = m, e
    end
    make()
    collect()
    say("after collect:", tostring(weak.m), tostring(weak.e))
    -- still reachable through the callback's registry reference: the
    -- documented cost of a cycle.  Closing the multi releases it.
    if weak.m then
        weak.m:close()
        collect()
        eq(weak.m, nil, "multi collected after close")
    end
    if weak.e then
        weak.e:close()
        collect()
        eq(weak.e, nil, "easy collected after close")
    end
    -- and cycles left for lua_close, mid-transfer, through every link
    KEEP = {}
    for i = 1, 3 do
        local m = xfer.multi()
        local e
        e = easy(NGINX .. "/1m.bin", { writefunction = function()
            return m and e and true
        end, private = (i == 2) and m or nil })
        m:add_handle(e)
        if i == 3 then
            m:setopt_socketfunction(function() return m end)
            m:setopt_timerfunction(function() return e end)
        end
        m:perform()
        if i == 1 then KEEP[1] = e end
    end
    collect()
end

-- os.exit(0, true) (lua_close on 5.4) from inside a callback.
function cases.exit_in_callback(where)
    local m = xfer.multi()
    for _ = 1, 3 do m:add_handle(easy(NGINX .. "/1m.bin")) end
    local function bye()
        say("bye")
        os.exit(0, true)
    end
    if where == "write" then
        m:add_handle(easy(NGINX .. "/16k.bin", { writefunction = bye }))
        m:run()
    elseif where == "on_done" then
        m:run{ on_done = bye }
    elseif where == "socket" then
        m:setopt_socketfunction(bye)
        m:socket_action(xfer.SOCKET_TIMEOUT)
    else
        m:setopt_timerfunction(bye)
        m:add_handle(good())
    end
    fail("still running")
end

---------------------------------------------------------------------------
-- Drivers and options changed mid-transfer
---------------------------------------------------------------------------

function cases.socketfunction_nil_midrun()
    -- from a write callback while a Lua socket function drives the handle
    local m = xfer.multi()
    local socks, count = {}, 0
    local es = {}
    for i = 1, 3 do
        es[i] = easy(NGINX .. "/1m.bin", { writefunction = function()
            count = count + 1
            if count == 3 then
                m:setopt_socketfunction(nil)
                m:setopt_timerfunction(nil)
            end
        end })
        m:add_handle(es[i])
    end
    m:setopt_socketfunction(function(_, fd, what) socks[fd] = what end)
    m:setopt_timerfunction(function() end)
    for _ = 1, 200 do
        if count >= 3 then break end
        m:socket_action(xfer.SOCKET_TIMEOUT)
        for fd, what in pairs(socks) do
            if what ~= xfer.POLL_REMOVE then
                m:socket_action(fd, xfer.CSELECT_IN + xfer.CSELECT_OUT)
            end
        end
        m:wait(20)
    end
    check(count >= 3, "the transfers started")
    eq(m:run(), true, "run() finishes them")
    local n = 0
    while true do
        local e, ok = m:info_read()
        if not e then break end
        eq(ok, true, "transfer")
        n = n + 1
    end
    eq(n, 3, "messages")
    -- from inside the socket callback: refused, every transfer fails (42)
    local fresh = easy(NGINX .. "/index.html", { fresh_connect = true })
    local armed = false
    m:setopt_socketfunction(function()
        if armed then m:setopt_socketfunction(nil) end
    end)
    armed = true
    m:add_handle(fresh)
    local ok, err = pcall(m.socket_action, m, xfer.SOCKET_TIMEOUT)
    eq(ok, false, "raised")
    matches(err, "cannot set options inside the socket or timer callback",
            "message")
    local got, eok, eerr = m:info_read()
    eq(got, fresh, "message")
    eq(eok, false, "transfer")
    eq(eerr.code, xfer.E_ABORTED_BY_CALLBACK, "code")
    usable(m, "after")
    -- switching drivers back and forth mid-transfer
    for i = 1, 3 do
        m:add_handle(easy(NGINX .. "/1m.bin", { private = i }))
    end
    local switches = 0
    for _ = 1, 6 do
        m:setopt_socketfunction(function() end) -- hears the live sockets
        m:setopt_timerfunction(function() end)
        m:socket_action(xfer.SOCKET_TIMEOUT)
        m:socket_all()
        m:setopt_socketfunction(nil)
        m:setopt_timerfunction(nil)
        m:perform()
        switches = switches + 1
    end
    eq(m:run(), true, "run() after switching")
    n = 0
    while true do
        local e, okk = m:info_read()
        if not e then break end
        eq(okk, true, "switched transfer")
        n = n + 1
    end
    eq(n, 3, "switched messages")
    m:close()
end

-- Options of a running easy changed from callbacks: the running transfer
-- keeps what it started with; reset() refuses.
function cases.options_mid_transfer()
    local m = xfer.multi()
    local parts = {}
    local e, changed, reset_err
    local body = "a=" .. string.rep("b", 100000)
    e = easy(FAULT .. "/echo", {
        postfields = body,
        httpheader = { "X-First: 1" },
        private = "first",
        writefunction = function(s)
            parts[#parts + 1] = s
            if not changed then
                changed = true
                e:setopt{
                    url = NGINX .. "/nothing-here",
                    httpheader = { "X-Second: 2" },
                    postfields = "short",
                    private = "second",
                    resolve = { "nowhere.test:80:127.0.0.1" },
                    useragent = "changed/1",
                }
                e:setopt_writefunction(function(x) parts[#parts + 1] = x end)
                collect(1)
                reset_err = select(2, pcall(e.reset, e))
            end
        end,
    })
    m:add_handle(e)
    local r = drive(m)
    eq(r[e][1], true, "the running transfer")
    local echoed = table.concat(parts)
    matches(echoed, "X%-First: 1", "old header sent")
    eq(echoed:sub(-#body), body, "old body sent whole")
    matches(reset_err, "cannot reset an easy handle that is added",
            "reset refused")
    eq(e:getinfo_private(), "second", "private changed")
    -- the next run uses the new options
    m:remove_handle(e)
    parts = {}
    m:add_handle(e)
    r = drive(m)
    eq(r[e][1], true, "second run")
    eq(e:getinfo_response_code(), 404, "new url")
    usable(m, "after")
    m:close()
end

-- Raising and lowering the limits from callbacks starts the waiting
-- transfers from inside them.
function cases.limits_in_callbacks()
    local m = xfer.multi{ max_total_connections = 1 }
    local es, n = {}, 0
    for i = 1, 8 do
        es[i] = easy(NGINX .. "/16k.bin", { writefunction = function()
            m:setopt_max_total_connections(i % 2 == 0 and 100 or 1)
            m:setopt_max_host_connections(i % 3)
            m:setopt{ maxconnects = i }
        end })
        m:add_handle(es[i])
    end
    eq(m:run{ on_done = function(e, ok)
        eq(ok, true, "transfer")
        n = n + 1
        m:setopt_max_total_connections(n % 2 == 0 and 0 or 2)
        m:remove_handle(e)
    end }, true, "run()")
    eq(n, 8, "on_done calls")
    for i = 1, 8 do m:add_handle(es[i]) end
    local r = drive(m)
    for i = 1, 8 do eq(r[es[i]][1], true, "perform " .. i) end
    m:close()
end

-- A socket function that fails on POLL_REMOVE: remove_handle and close
-- raise its error after doing their work.
function cases.socket_error_on_remove()
    local m = xfer.multi()
    local e1, e2 = easy(NGINX .. "/1m.bin"), easy(NGINX .. "/1m.bin")
    m:setopt_socketfunction(function(_, _, what)
        if what == xfer.POLL_REMOVE then error("boom-remove") end
    end)
    m:setopt_timerfunction(function() end)
    m:add_handle(e1)
    m:add_handle(e2)
    m:socket_action(xfer.SOCKET_TIMEOUT)
    m:socket_action(xfer.SOCKET_TIMEOUT)
    local ok, err = pcall(m.remove_handle, m, e1)
    say("remove:", ok, first_line(err))
    eq(#m:get_handles(), 1, "removed anyway")
    ok, err = pcall(e2.close, e2)
    say("close:", ok, first_line(err))
    eq(tostring(e2), "xfer.easy (closed)", "closed anyway")
    eq(#m:get_handles(), 0, "none left")
    usable(m, "after")
    m:close()
end

-- Callback return values out of range.
function cases.callback_returns()
    local function run_one(opts)
        local e = easy(opts.url or NGINX .. "/1k.bin", opts)
        local ok, a, b = pcall(e.perform, e)
        e:close()
        return ok, a, b
    end
    local W = {
        { 2 ^ 62, "code" }, { -1, "raise" }, { 0 / 0, "raise" },
        { math.huge, "raise" }, { 1025, "code" }, { 0, "code" },
        { "x", "raise" }, { {}, "raise" },
    }
    for _, w in ipairs(W) do
        if not (w[1] == 2 ^ 62 and not INT64) then
            local ok, a, b = run_one{ writefunction = function() return w[1] end }
            local what = "write returns " .. tostring(w[1])
            if w[2] == "raise" then
                eq(ok, false, what)
            else
                eq(ok, true, what .. " (no raise)")
                eq(a, nil, what)
                eq(b.code, xfer.E_WRITE_ERROR, what .. ": code")
            end
        end
    end
    local R = {
        { true, "raise" }, { 5, "raise" }, { {}, "raise" },
        { false, xfer.E_ABORTED_BY_CALLBACK },
        { string.rep("z", 1000000), true }, -- more than infilesize
    }
    for _, r in ipairs(R) do
        local sent = false
        local ok, a, b = run_one{
            url = FAULT .. "/echo", upload = true, infilesize = 1000,
            readfunction = function()
                if sent then return nil end
                sent = true
                return r[1]
            end,
        }
        local what = "read returns " .. type(r[1])
        if r[2] == "raise" then eq(ok, false, what)
        elseif r[2] == true then eq(a, true, what)
        else eq(b.code, r[2], what .. ": code") end
    end
    -- an upload that ends before its announced size: READ_ERROR, no hang
    local ok, a, b = run_one{
        url = FAULT .. "/echo", upload = true, infilesize = 100000,
        readfunction = function() return nil end, timeout_ms = 5000,
    }
    eq(ok, true, "short upload")
    eq(a, nil, "short upload")
    eq(b.code, xfer.E_READ_ERROR, "short upload: code")
    local X = { { 0 / 0, 42 }, { {}, "raise" }, { "no", "raise" } }
    for _, x in ipairs(X) do
        local ok2, a2, b2 = run_one{ xferinfofunction = function() return x[1] end }
        local what = "xferinfo returns " .. tostring(x[1])
        if x[2] == "raise" then eq(ok2, false, what)
        else eq(a2, nil, what); eq(b2.code, x[2], what .. ": code") end
    end
end

---------------------------------------------------------------------------
-- Memory safety of values the core reads in place
---------------------------------------------------------------------------

-- postfieldsize larger than the postfields string: the core would read
-- past the Lua string (and send the neighbouring memory).
function cases.postfieldsize_beyond_string()
    for _, opt in ipairs({ "postfieldsize", "postfieldsize_large" }) do
        for _, field in ipairs({ "postfields", "copypostfields" }) do
            local parts = {}
            local what = field .. "+" .. opt
            local ok, e = pcall(xfer.easy, {
                url = FAULT .. "/echo", [field] = "abc", [opt] = 100000,
                writefunction = function(s) parts[#parts + 1] = s end,
            })
            if ok then
                local r, err = e:perform()
                local echoed = table.concat(parts)
                say(what, r, err, #echoed)
                -- whatever happens, nothing but "abc" may go out as the body
                check(#echoed < 1000, "%s: %d bytes beyond the 3-byte body " ..
                      "were sent to the server", what, #echoed - 3)
            else
                say(what, "raised:", first_line(e))
                matches(e, "option '" .. opt .. "'", what .. ": message")
            end
        end
    end
end

-- The body a running transfer is sending from is replaced: COPYPOSTFIELDS
-- (the core's own copy) must stay until that transfer is done, as the
-- binding keeps a replaced POSTFIELDS string.
function cases.copypostfields_replaced_midsend(replacement)
    replacement = replacement or "copypostfields"
    local size = 40000000 -- above glibc's mmap threshold: freed = unmapped
    local m = xfer.multi()
    local answered = false
    local a = easy(FAULT .. "/status/200", {
        copypostfields = string.rep("A", size),
        headerfunction = function() answered = true end,
    })
    local midsend
    local b = easy(NGINX .. "/index.html", { writefunction = function()
        if midsend == nil then
            midsend = not answered
            if replacement == "nil" then a:setopt_copypostfields(nil)
            else a:setopt(replacement, "x") end
        end
    end })
    m:add_handle(a)
    for _ = 1, 3 do m:perform() end -- a is sending
    m:add_handle(b)
    local r = drive(m)
    say("replaced mid-send:", midsend, "a:", r[a][1], tostring(r[a][2]))
    eq(r[b][1], true, "the other transfer")
    eq(r[a][1], true, "the transfer whose body was replaced")
    eq(a:getinfo_response_code(), 200, "status")
    m:close()
end

-- 100,000 headers: setting the list must not take quadratic time.
function cases.many_headers()
    local h = {}
    for i = 1, 100000 do h[i] = "X-H" .. i .. ": v" end
    local t0 = os.clock()
    local e = xfer.easy{ url = NGINX .. "/index.html", httpheader = h }
    local dt = os.clock() - t0
    say("setopt of 100000 headers:", dt, "s")
    check(dt < 1.5, "setting 100000 headers took %.1f s", dt)
    e:setopt_writefunction(function() end)
    local ok, err = e:perform()
    say("perform:", ok, err, e:getinfo_response_code())
    check(ok == true or type(err.code) == "number", "perform")
end

-- The module loaded twice: old handles keep working, old and new mix.
function cases.module_reload()
    local m_old = xfer.multi()
    local e_old = good()
    package.loaded["xfer.core"] = nil
    package.loaded["xfer"] = nil
    local core2 = require "xfer.core"
    local xfer2 = require "xfer"
    check(core2 ~= nil and xfer2 ~= nil, "reloaded")
    local m_new = xfer2.multi()
    eq(m_new:add_handle(e_old), true, "old easy into new multi")
    eq(m_new:run(), true, "run")
    eq(select(2, m_new:info_read()), true, "transfer")
    m_new:remove_handle(e_old)
    eq(m_old:add_handle(e_old), true, "back into the old multi")
    eq(m_old:run(), true, "old run")
    eq(select(2, m_old:info_read()), true, "old transfer")
    local e_new = xfer2.easy{ url = NGINX .. "/", writefunction = function() end }
    eq(e_new:perform(), true, "new easy")
    m_old:close()
    m_new:close()
    collect()
end

-- 5.4's to-be-closed variables on the handles inside callbacks.
function cases.tbc_in_callbacks()
    if not LUA54 then
        say("not Lua 5.4: nothing to do")
        return
    end
    local chunk = assert(load([[
        local xfer, easy, NGINX = ...
        local m <close> = xfer.multi()
        local out = {}
        local e
        e = easy(NGINX .. "/1m.bin", { writefunction = function()
            local self <close> = e        -- closes itself
        end })
        m:add_handle(e)
        m:add_handle(easy(NGINX .. "/index.html"))
        out.run = m:run{ on_done = function()
            local mm <close> = m          -- a no-op inside run()
        end }
        out.e = tostring(e)
        out.m_inside = tostring(m)
        return out, m
    ]]))
    local out, m = chunk(xfer, easy, NGINX)
    eq(out.run, true, "run()")
    eq(out.e, "xfer.easy (closed)", "easy closed by <close>")
    check(out.m_inside ~= "xfer.multi (closed)", "multi open inside")
    eq(tostring(m), "xfer.multi (closed)", "multi closed at scope end")
end

-- A full collection inside every kind of callback, while other handles --
-- added ones nobody references any more, and closed ones -- are garbage:
-- the multi keeps what it runs; every transfer completes with its body.
function cases.gc_in_every_callback()
    local function run_with(kind, driver)
        local m = xfer.multi{ max_total_connections = 2 }
        local sizes, gcs = {}, 0
        local function gc()
            gcs = gcs + 1
            collectgarbage("collect")
        end
        for i = 1, 4 do
            local e = easy(NGINX .. "/16k.bin", { private = i,
                writefunction = function(s)
                    sizes[i] = (sizes[i] or 0) + #s
                    if kind == "write" then gc() end
                end,
                headerfunction = kind == "header" and gc or nil,
                xferinfofunction = kind == "xferinfo" and gc or nil,
                noprogress = kind ~= "xferinfo",
            })
            m:add_handle(e)
            -- e is dropped here: only the multi holds it
        end
        local closed = xfer.easy()
        closed:close()
        closed = nil
        local done = 0
        if driver == "run" then
            eq(m:run{ on_done = function(e, ok)
                check(ok, "%s: transfer %s failed", kind, tostring(e:getinfo().private))
                done = done + 1
                if kind == "on_done" then gc() end
            end }, true, kind .. ": run()")
        else
            local socks = {}
            m:setopt_socketfunction(function(_, fd, what)
                socks[fd] = what ~= xfer.POLL_REMOVE or nil
                if kind == "socket" then gc() end
            end)
            m:setopt_timerfunction(function()
                if kind == "timer" then gc() end
            end)
            local running = m:socket_action(xfer.SOCKET_TIMEOUT)
            for _ = 1, 5000 do
                if running == 0 then break end
                m:wait(20)
                running = m:socket_action(xfer.SOCKET_TIMEOUT)
                for fd in pairs(socks) do
                    running = m:socket_action(fd, xfer.CSELECT_IN + xfer.CSELECT_OUT)
                end
            end
            eq(running, 0, kind .. ": all done")
            while true do
                local e, ok = m:info_read()
                if not e then break end
                check(ok, "%s: transfer failed", kind)
                done = done + 1
            end
        end
        eq(done, 4, kind .. ": messages")
        for i = 1, 4 do eq(sizes[i], 16384, kind .. ": body " .. i) end
        check(gcs > 0, "%s: the callback ran", kind)
        m:close()
    end
    for _, kind in ipairs({ "write", "header", "xferinfo", "on_done" }) do
        run_with(kind, "run")
    end
    for _, kind in ipairs({ "write", "socket", "timer" }) do
        run_with(kind, "socket_action")
    end
end

-- A debug hook that raises inside a callback: the error is the callback's
-- error (the transfer fails with its code, the driving call raises it),
-- the others go on.
function cases.debug_hook_raises_in_callbacks()
    if jit then jit.off() end -- count hooks do not fire in compiled code
    local armed = false
    local function hook()
        if armed then
            armed = false
            error("raised by a hook")
        end
    end
    for _, kind in ipairs(TRANSFER_KINDS) do
        for _, driver in ipairs({ "perform", "run" }) do
            local what = kind .. "/" .. driver
            local m = xfer.multi()
            local bad = with_callback(kind, function()
                armed = true
                local x = 0
                for i = 1, 100 do x = x + i end -- the hook fires in here
                return nil
            end)
            local other = good()
            m:add_handle(bad)
            m:add_handle(other)
            debug.sethook(hook, "", 1)
            local r
            if driver == "run" then
                -- the callback's error is raised by the call that drove it
                local ok, err = pcall(m.run, m)
                eq(ok, false, what .. ": run() raised")
                matches(tostring(err), "raised by a hook", what .. ": run()'s error")
                armed = false
                eq(m:run(), true, what .. ": run() again")
                r = {}
                while true do
                    local e, ok, err = m:info_read()
                    if not e then break end
                    r[e] = { ok, err }
                end
            else
                r = drive(m)
            end
            debug.sethook()
            armed = false
            check(r[bad] and r[bad][1] == false, "%s: the transfer failed", what)
            eq(r[bad][2].code, CODE[kind], what .. ": code")
            matches(r[bad][2].message, "raised by a hook", what .. ": message")
            check(r[other] and r[other][1] == true, "%s: the other completed", what)
            usable(m, what)
            m:close()
        end
    end
end

---------------------------------------------------------------------------

local name, extra = arg[1], arg[2]
local case = cases[name]
if not case then
    say("FAIL: no case " .. tostring(name))
    os.exit(2)
end
local ok, err = xpcall(function() return case(extra) end, debug.traceback)
if not ok then
    say("FAIL: " .. tostring(err))
    os.exit(1)
end
say("PASS " .. name)
-- Falling off the end: the interpreter's lua_close runs the finalizers of
-- whatever is left, which is part of every case.
