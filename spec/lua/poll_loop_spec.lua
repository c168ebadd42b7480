-- A multi handle driven by a plain loop in Lua: perform(), info_read(),
-- wait() -- no event library (examples/poll_loop.lua has the same loop).
local xfer = require "xfer"
local helper = require "spec.lua.helper"

-- The loop; on_done(easy, ok, err) for each finished transfer. It ends
-- when nothing runs and on_done left nothing added.
local function poll_loop(m, on_done)
    while true do
        local running = assert(m:perform())
        while true do
            local e, ok, err = m:info_read()
            if not e then break end
            on_done(e, ok, err)
        end
        if running == 0 and #m:get_handles() == 0 then break end
        if running > 0 then assert(m:wait(1000)) end
    end
end

describe("a poll loop in Lua", function()
    setup(helper.start)
    teardown(helper.stop)

    it("runs 1,000 transfers on at most 8 connections", function()
        local m = xfer.multi{ max_total_connections = 8 }
        local n, failed, connects, bytes = 0, 0, 0, 0
        for i = 0, 999 do
            assert(m:add_handle(xfer.easy{
                url = helper.nginx("/files/" .. i .. ".txt"),
                writefunction = function(s) bytes = bytes + #s end,
            }))
        end
        poll_loop(m, function(e, ok)
            n = n + 1
            if not ok then failed = failed + 1 end
            connects = connects + e:getinfo_num_connects()
            m:remove_handle(e)
            e:close()
        end)
        assert.equal(1000, n)
        assert.equal(0, failed)
        assert.is_true(connects <= 8, "connections: " .. connects)
        assert.equal(8890, bytes)
        -- the server's view
        local others = helper.fault_quiet()
        for _ = 1, 200 do
            assert(m:add_handle(xfer.easy{ url = helper.fault("/bytes/100"),
                                           writefunction = function() end }))
        end
        n = 0
        poll_loop(m, function(e, ok)
            assert.is_true(ok)
            n = n + 1
            m:remove_handle(e)
        end)
        assert.equal(200, n)
        m:close()
        local peak = helper.fault_peak(others)
        assert.is_true(peak <= 8, "peak " .. peak)
    end)

    it("re-adds handles from the loop and survives the collector", function()
        local m = xfer.multi{ max_total_connections = 4 }
        local left, n = 100, 0
        local pool = {}
        for i = 1, 4 do
            local chunks = 0
            pool[i] = xfer.easy{ url = helper.nginx("/files/" .. i .. ".txt"),
                writefunction = function()
                    chunks = chunks + 1
                    if chunks % 3 == 0 then collectgarbage("collect") end
                end }
            assert(m:add_handle(pool[i]))
            left = left - 1
        end
        poll_loop(m, function(e, ok)
            assert.is_true(ok)
            n = n + 1
            m:remove_handle(e)
            collectgarbage("collect")
            if left > 0 then
                e:setopt_url(helper.nginx("/files/" .. left .. ".txt"))
                assert(m:add_handle(e))
                left = left - 1
            end
        end)
        assert.equal(100, n)
        m:close()
    end)
end)
