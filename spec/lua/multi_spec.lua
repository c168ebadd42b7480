-- The multi handle: run() (the built-in libuv loop), perform + wait,
-- socket_action driven by a luv loop, info_read, and its refusals.
local xfer = require "xfer"
local helper = require "spec.lua.helper"
local uv = require "luv"

-- A minimal luv driver: one poll per socket, one timer, socket_action from
-- the loop (never from inside xfer's callbacks).  Returns the messages.
local function drive_luv(m)
    local polls, msgs, running = {}, {}, 1
    local timer = uv.new_timer()
    local function action(fd, mask)
        running = assert(m:socket_action(fd, mask))
        while true do
            local e, ok, err = m:info_read()
            if not e then break end
            msgs[#msgs + 1] = { e, ok, err }
        end
        if running == 0 then uv.stop() end
    end
    m:setopt_timerfunction(function(ms)
        timer:stop()
        if ms >= 0 then
            timer:start(ms, 0, function() action(xfer.SOCKET_TIMEOUT, 0) end)
        end
    end)
    m:setopt_socketfunction(function(_, fd, what)
        local p = polls[fd]
        if what == xfer.POLL_REMOVE then
            if p then p:close() end
            polls[fd] = nil
            return
        end
        if not p then
            p = uv.new_poll(fd)
            polls[fd] = p
        end
        local ev = ({ [xfer.POLL_IN] = "r", [xfer.POLL_OUT] = "w",
                      [xfer.POLL_INOUT] = "rw" })[what]
        if not ev then p:stop() return end
        p:start(ev, function(perr, events)
            local mask = 0
            if perr then mask = xfer.CSELECT_ERR end
            if events and events:find("r") then mask = mask + xfer.CSELECT_IN end
            if events and events:find("w") then mask = mask + xfer.CSELECT_OUT end
            action(fd, mask)
        end)
    end)
    action(xfer.SOCKET_TIMEOUT, 0)
    if running > 0 then uv.run() end
    -- Leave the handle clean for the next driver: no Lua callbacks, no
    -- luv handles (xfer keeps its idle connections).
    m:setopt_socketfunction(nil)
    m:setopt_timerfunction(nil)
    for fd, p in pairs(polls) do p:close(); polls[fd] = nil end
    timer:close()
    uv.run("nowait")
    return msgs
end

describe("xfer.multi", function()
    setup(helper.start)
    teardown(helper.stop)

    it("runs a GET on the built-in loop", function()
        local m = xfer.multi()
        local e, body = helper.easy(helper.nginx("/index.html"))
        assert.is_true(m:add_handle(e))
        assert.is_true(m:run())
        -- without on_done the message waits for info_read
        local got, ok, err = m:info_read()
        assert.equal(e, got)
        assert.is_true(ok)
        assert.is_nil(err)
        assert.is_nil(m:info_read())
        assert.equal("hello from nginx\n", body())
        assert.equal(200, e:getinfo_response_code())
        m:close()
    end)

    it("runs 1,000 transfers on 8 connections", function()
        local m = xfer.multi{ max_total_connections = 8 }
        local n, connects, failed, bytes = 0, 0, 0, 0
        for i = 0, 999 do
            assert(m:add_handle(xfer.easy{
                url = helper.nginx("/files/" .. i .. ".txt"),
                writefunction = function(s) bytes = bytes + #s end,
            }))
        end
        assert.is_true(m:run{ on_done = function(e, ok)
            n = n + 1
            if not ok then failed = failed + 1 end
            connects = connects + e:getinfo_num_connects()
            m:remove_handle(e)
            e:close()
        end })
        assert.equal(1000, n)
        assert.equal(0, failed)
        assert.equal(8, connects)
        assert.equal(0, #m:get_handles())
        assert.is_true(bytes > 7000)
        -- and the server saw at most 8 at a time (connections that earlier
        -- spec files left open are not counted)
        local others = helper.fault_quiet()
        for _ = 1, 200 do
            assert(m:add_handle(xfer.easy{ url = helper.fault("/bytes/100"),
                                           writefunction = function() end }))
        end
        local ok_count = 0
        assert.is_true(m:run{ on_done = function(e, ok)
            if ok then ok_count = ok_count + 1 end
            m:remove_handle(e)
        end })
        assert.equal(200, ok_count)
        m:close()
        local peak = helper.fault_peak(others)
        assert.is_true(peak <= 8, "peak " .. peak)
        assert.equal(200, helper.fault_stats().requests)
    end)

    it("is driven by perform and wait from Lua", function()
        local m = xfer.multi{ max_total_connections = 2 }
        local bodies = {}
        for i = 1, 10 do
            local e, body = helper.easy(helper.nginx("/files/" .. i .. ".txt"))
            bodies[e] = { i, body }
            assert.is_true(m:add_handle(e))
        end
        local msgs = helper.drive(m)
        assert.equal(10, #msgs)
        for _, msg in ipairs(msgs) do
            assert.is_true(msg[2])
            local i, body = bodies[msg[1]][1], bodies[msg[1]][2]
            assert.equal("file " .. i .. "\n", body())
        end
        m:close()
    end)

    it("is driven by socket_action from a luv loop", function()
        local m = xfer.multi{ max_total_connections = 4 }
        local total = 0
        for i = 1, 20 do
            assert.is_true(m:add_handle(xfer.easy{
                url = helper.nginx("/files/" .. i .. ".txt"),
                writefunction = function(s) total = total + #s end,
            }))
        end
        local msgs = drive_luv(m)
        assert.equal(20, #msgs)
        for _, msg in ipairs(msgs) do assert.is_true(msg[2]) end
        assert.is_true(total > 0)
        m:close()
    end)

    it("hands a new driver the sockets the last one watched", function()
        -- run() leaves an idle keep-alive connection; a luv driver set up
        -- afterwards must hear of it, or the transfer reusing it hangs.
        local m = xfer.multi{ max_total_connections = 1 }
        local e = helper.easy(helper.nginx("/files/1.txt"))
        assert(m:add_handle(e))
        assert.is_true(m:run())
        assert.is_true(select(2, m:info_read()))
        m:remove_handle(e)
        local told = {}
        m:setopt_socketfunction(function(_, fd, what) told[fd] = what end)
        assert.equal(xfer.POLL_IN, next(told) and told[next(told)])
        m:setopt_socketfunction(nil)
        assert(m:add_handle(e))
        local msgs = drive_luv(m)
        assert.equal(1, #msgs)
        assert.is_true(msgs[1][2])
        assert.equal(0, e:getinfo_num_connects()) -- it reused the connection
        -- and back to run(), which replays them into libuv
        m:remove_handle(e)
        assert(m:add_handle(e))
        assert.is_true(m:run())
        assert.is_true(select(2, m:info_read()))
        assert.equal(0, e:getinfo_num_connects())
        m:close()
    end)

    it("runs callbacks on the thread of the call in progress", function()
        local m = xfer.multi()
        local seen = {}
        local function record() seen[#seen + 1] = coroutine.running() or "main" end
        -- made in a coroutine that is over (and collected) before it runs
        local maker = coroutine.create(function()
            assert(m:add_handle(helper.easy(helper.nginx("/16k.bin"),
                                            { writefunction = record })))
        end)
        assert(coroutine.resume(maker))
        maker = nil
        helper.collect()
        local co = coroutine.create(function() return helper.drive(m) end)
        local ok, msgs = coroutine.resume(co)
        assert.is_true(ok)
        assert.is_true(msgs[1][2])
        assert.is_true(#seen > 0)
        for _, th in ipairs(seen) do assert.equal(co, th) end
        -- the next call, from another thread, runs them there
        local e = msgs[1][1]
        m:remove_handle(e)
        seen = {}
        local co2 = coroutine.create(function()
            assert(m:add_handle(e))
            return m:run()
        end)
        assert.is_true(select(2, coroutine.resume(co2)))
        for _, th in ipairs(seen) do assert.equal(co2, th) end
        -- and on the main thread from the main thread
        m:remove_handle(e)
        seen = {}
        assert(m:add_handle(e))
        assert.is_true(m:run())
        local main = coroutine.running() or "main"
        for _, th in ipairs(seen) do assert.equal(main, th) end
        m:close()
    end)

    it("refuses an easy added twice or to two multis, as values", function()
        local m1, m2 = xfer.multi(), xfer.multi()
        local e = helper.easy(helper.nginx("/"))
        assert.is_true(m1:add_handle(e))
        local ok, err = m1:add_handle(e)
        assert.is_nil(ok)
        assert.equal("ADDED_ALREADY", err.name)
        assert.equal(xfer.M_ADDED_ALREADY, err.code)
        assert.equal("multi", err.kind)
        ok, err = m2:add_handle(e)
        assert.is_nil(ok)
        assert.equal("BAD_EASY_HANDLE", err.name)
        ok, err = m2:remove_handle(e) -- in another multi
        assert.is_nil(ok)
        assert.equal("BAD_EASY_HANDLE", err.name)
        assert.is_true(m2:remove_handle(xfer.easy())) -- in none: nothing to do
        assert.is_nil(e:perform())          -- added: cannot perform alone
        assert.is_true(m1:run())
        assert.is_true(select(2, m1:info_read()))
        -- still added after its message: remove, then add again
        assert.equal("ADDED_ALREADY", select(2, m1:add_handle(e)).name)
        assert.is_true(m1:remove_handle(e))
        assert.is_true(m2:add_handle(e))
        assert.is_true(m2:run())
        assert.is_true(select(2, m2:info_read()))
        m1:close()
        m2:close()
    end)

    it("gives assigned values back to the socket function", function()
        local m = xfer.multi()
        local seen = {}
        m:setopt_socketfunction(function(easy, fd, what, socketp)
            if socketp then seen[#seen + 1] = socketp end
            if what ~= xfer.POLL_REMOVE and not socketp then
                assert.is_true(m:assign(fd, { fd = fd }))
            end
        end)
        local ok, err = m:assign(12345, "x")
        assert.is_nil(ok)
        assert.equal("BAD_SOCKET", err.name)
        local e = helper.easy(helper.nginx("/1k.bin"), { forbid_reuse = true })
        assert(m:add_handle(e))
        m:setopt_timerfunction(function() end)
        m:socket_action(xfer.SOCKET_TIMEOUT)
        m:setopt_timerfunction(nil)
        helper.drive(m)
        assert.is_true(#seen > 0)
        assert.is_number(seen[1].fd)
        m:close()
    end)

    it("reports timeouts, wakes up, and lists its handles", function()
        local m = xfer.multi()
        assert.equal(-1, m:timeout())
        local e = helper.easy(helper.fault("/sleep?ms=300"))
        assert(m:add_handle(e))
        assert.equal(0, m:timeout())
        assert.equal(e, m:get_handles()[1])
        assert.is_true(m:wakeup())
        local t0 = uv.hrtime()
        assert.equal(0, m:poll(5000)) -- returns at once: woken up
        assert.is_true(uv.hrtime() - t0 < 1e9)
        m:close()
        assert.equal("xfer.multi (closed)", tostring(m))
        local okc, msg = pcall(function() m:perform() end)
        assert.is_false(okc)
        assert.matches("multi handle is closed", msg)
    end)

    it("refuses to be driven from inside its callbacks", function()
        local m = xfer.multi()
        local inner
        local e = helper.easy(helper.nginx("/1k.bin"), {
            writefunction = function()
                inner = { m:perform() }
            end,
        })
        assert(m:add_handle(e))
        helper.drive(m)
        assert.is_nil(inner[1])
        assert.equal("RECURSIVE_API_CALL", inner[2].name)
        m:remove_handle(e)
        local in_sock
        m:setopt_socketfunction(function()
            in_sock = in_sock or { m:socket_action(xfer.SOCKET_TIMEOUT) }
        end)
        assert(m:add_handle(e))
        m:socket_action(xfer.SOCKET_TIMEOUT)
        assert.equal("RECURSIVE_API_CALL", in_sock[2].name)
        m:setopt_socketfunction(nil)
        helper.drive(m)
        m:remove_handle(e)
        local in_done
        assert(m:add_handle(e))
        m:run{ on_done = function() in_done = { m:run() } end }
        assert.equal("RECURSIVE_API_CALL", in_done[2].name)
        m:close()
    end)

    it("raises on wrong arguments, naming them", function()
        local m = xfer.multi()
        local function raises(f)
            local ok, msg = pcall(f)
            assert.is_false(ok)
            return msg
        end
        assert.matches("bad argument #1 to 'add_handle' %(xfer.easy expected",
                       raises(function() m:add_handle("x") end))
        assert.matches("bad argument #1 to 'socket_action' %(integer expected",
                       raises(function() m:socket_action("x") end))
        assert.matches("bad argument #1 to 'socket_action'",
                       raises(function() m:socket_action(1.5) end))
        assert.matches("bad argument #2 to 'socket_action'",
                       raises(function() m:socket_action(1, {}) end))
        assert.matches("bad argument #1 to 'wait'",
                       raises(function() m:wait("x") end))
        assert.matches("unknown option 'max_connections'",
                       raises(function() m:setopt{ max_connections = 1 } end))
        assert.matches("option 'max_total_connections' must be an integer",
                       raises(function() m:setopt_max_total_connections("8") end))
        assert.matches("option 'socketfunction' must be a function",
                       raises(function() m:setopt_socketfunction(1) end))
        assert.matches("field 'on_done' must be a function",
                       raises(function() m:run{ on_done = 1 } end))
        assert.matches("xfer.multi expected",
                       raises(function() m.add_handle(nil, xfer.easy()) end))
        assert.matches("bad argument #1 to 'multi' %(unknown option 'url'",
                       raises(function() local x = xfer.multi{ url = 1 } return x end))
        m:setopt_timerfunction(function() end)
        assert.matches("run%(%) drives the multi handle itself",
                       raises(function() m:run() end))
        m:close()
    end)
end)
