-- xfer.luv: a multi handle driven from a luv loop through the public socket
-- and timer callbacks.
local xfer = require "xfer"
local xluv = require "xfer.luv"
local helper = require "spec.lua.helper"
local uv = require "luv"

local function raises(pattern, f)
    local ok, msg = pcall(f)
    assert.is_false(ok)
    assert.is_string(msg)
    assert.truthy(msg:find(pattern, 1, true), msg)
    return msg
end

-- An easy handle whose `kind` callback raises "boom-<kind>".
local function failing(kind)
    local opts = { writefunction = function() end }
    local url = helper.nginx("/1k.bin")
    local function boom() error("boom-" .. kind) end
    if kind == "read" then
        url = helper.fault("/echo")
        opts.upload, opts.infilesize, opts.readfunction = true, 10, boom
    else
        opts[kind .. "function"] = boom
    end
    opts.url = url
    return xfer.easy(opts)
end

local CODES = {
    write = xfer.E_WRITE_ERROR,
    header = xfer.E_WRITE_ERROR,
    xferinfo = xfer.E_ABORTED_BY_CALLBACK,
    read = xfer.E_ABORTED_BY_CALLBACK,
}

describe("xfer.luv", function()
    setup(helper.start)
    teardown(helper.stop)

    it("runs 1,000 transfers on at most 8 connections", function()
        local m = xfer.multi{ max_total_connections = 8 }
        local n, failed, connects, bytes = 0, 0, 0, 0
        local d = xluv.attach(m, { on_done = function(e, ok)
            n = n + 1
            if not ok then failed = failed + 1 end
            connects = connects + e:getinfo_num_connects()
            m:remove_handle(e)
            e:close()
        end })
        for i = 0, 999 do
            assert(m:add_handle(xfer.easy{
                url = helper.nginx("/files/" .. i .. ".txt"),
                writefunction = function(s) bytes = bytes + #s end,
            }))
        end
        assert.is_true(d:run())
        assert.equal(1000, n)
        assert.equal(0, failed)
        assert.is_true(connects <= 8, "connections: " .. connects)
        assert.equal(8890, bytes)
        assert.equal(0, #m:get_handles())
        -- the server's view
        local others = helper.fault_quiet()
        for _ = 1, 200 do
            assert(m:add_handle(xfer.easy{ url = helper.fault("/bytes/100"),
                                           writefunction = function() end }))
        end
        n = 0
        assert.is_true(d:run())
        assert.equal(200, n)
        d:close()
        m:close()
        local peak = helper.fault_peak(others)
        assert.is_true(peak <= 8, "peak " .. peak)
        uv.run("nowait")
    end)

    it("shares the loop with the rest of a luv program", function()
        local m = xfer.multi{ max_total_connections = 2 }
        local done = 0
        local d = xluv.attach(m, { on_done = function(e)
            done = done + 1
            m:remove_handle(e)
        end })
        local ticks = 0
        local t = uv.new_timer()
        t:start(1, 1, function()
            ticks = ticks + 1
            if done == 6 then t:close() end
        end)
        for i = 1, 6 do
            assert(m:add_handle(helper.easy(helper.fault("/sleep?ms=" .. (10 * i)))))
        end
        -- the program's own uv.run: it ends when the timer and the
        -- transfers are done (idle connections do not hold the loop)
        uv.run()
        assert.equal(6, done)
        assert.is_true(ticks > 0)
        assert.is_true(d:check())
        -- transfers added later start from the loop too
        assert(m:add_handle(helper.easy(helper.nginx("/files/3.txt"))))
        uv.run()
        assert.equal(7, done)
        d:close()
        m:close()
        uv.run("nowait")
    end)

    it("hands the multi handle back to run() and takes it again", function()
        local m = xfer.multi{ max_total_connections = 1 }
        local e, body = helper.easy(helper.nginx("/files/5.txt"))
        assert(m:add_handle(e))
        local d = xluv.attach(m)
        assert.is_true(d:run())
        -- without on_done the messages stay for info_read
        local got, ok = m:info_read()
        assert.equal(e, got)
        assert.is_true(ok)
        assert.equal("file 5\n", body())
        d:close()
        d:close() -- idempotent
        raises("the driver is closed", function() d:run() end)
        m:remove_handle(e)
        assert(m:add_handle(e))
        assert.is_true(m:run())
        assert.is_true(select(2, m:info_read()))
        assert.equal(0, e:getinfo_num_connects()) -- the same connection
        m:remove_handle(e)
        assert(m:add_handle(e))
        assert.is_true(xluv.run(m, { on_done = function(x, xok)
            assert.equal(e, x)
            assert.is_true(xok)
        end }))
        assert.equal(0, e:getinfo_num_connects())
        m:close()
        uv.run("nowait")
    end)

    for kind, code in pairs(CODES) do
        it("raises an error of the " .. kind .. " callback from run()", function()
            local m = xfer.multi()
            local results = {}
            local d = xluv.attach(m, { on_done = function(e, ok, err)
                results[e] = { ok, err }
                m:remove_handle(e)
            end })
            local bad, good = failing(kind), helper.easy(helper.nginx("/index.html"))
            assert(m:add_handle(bad))
            assert(m:add_handle(good))
            local msg = raises("boom-" .. kind, function() d:run() end)
            assert.truthy(msg:find("luv_driver_spec.lua", 1, true), msg)
            assert.is_true(d:run()) -- the rest finishes
            assert.is_false(results[bad][1])
            assert.equal(code, results[bad][2].code)
            assert.is_true(results[good][1])
            d:close()
            m:close()
            uv.run("nowait")
        end)
    end

    it("raises an error of on_done from run(), or hands it to on_error", function()
        local m = xfer.multi()
        local d = xluv.attach(m, { on_done = function(e)
            m:remove_handle(e)
            error("boom-done")
        end })
        assert(m:add_handle(helper.easy(helper.nginx("/"))))
        raises("boom-done", function() d:run() end)
        d:close()
        local seen = {}
        d = xluv.attach(m, {
            on_done = function(e) m:remove_handle(e); error("boom-again") end,
            on_error = function(err) seen[#seen + 1] = err end,
        })
        assert(m:add_handle(helper.easy(helper.nginx("/"))))
        assert(m:add_handle(helper.easy(helper.nginx("/"))))
        assert.is_true(d:run())
        assert.equal(2, #seen)
        assert.truthy(tostring(seen[1]):find("boom-again", 1, true))
        d:close()
        -- when the program runs the loop, check() raises what was kept
        d = xluv.attach(m, { on_done = function(e) m:remove_handle(e); error("boom-mine") end })
        assert(m:add_handle(helper.easy(helper.nginx("/"))))
        uv.run()
        raises("boom-mine", function() d:check() end)
        assert.is_true(d:check())
        d:close()
        m:close()
        uv.run("nowait")
    end)

    it("survives the collector while transfers run", function()
        local m = xfer.multi{ max_total_connections = 4 }
        local n = 0
        local d = xluv.attach(m, { on_done = function(e, ok)
            assert.is_true(ok)
            n = n + 1
            m:remove_handle(e)
            if n % 5 == 0 then collectgarbage("collect") end
        end })
        local function add(url)
            local chunks = 0
            assert(m:add_handle(xfer.easy{ url = url, writefunction = function()
                chunks = chunks + 1
                if chunks % 4 == 0 then collectgarbage("collect") end
            end }))
        end
        for i = 1, 50 do add(helper.nginx("/files/" .. i .. ".txt")) end
        add(helper.nginx("/1m.bin"))
        collectgarbage("collect")
        assert.is_true(d:run())
        assert.equal(51, n)
        d:close()
        m:close()
        collectgarbage("collect")
        uv.run("nowait")
    end)

    it("raises on misuse", function()
        raises("bad argument #1 to 'attach' (xfer.multi expected, got string)",
               function() xluv.attach("x") end)
        local m = xfer.multi()
        raises("field 'on_done' must be a function",
               function() xluv.attach(m, { on_done = 1 }) end)
        local d = xluv.attach(m)
        -- the multi handle's own loop is not available while it is attached
        raises("run() drives the multi handle itself", function() m:run() end)
        m:close()
        raises("multi handle is closed", function() d:run() end)
        d:close()
        uv.run("nowait")
    end)
end)
