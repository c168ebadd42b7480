-- Coroutines: xfer.spawn, and xfer.request / xfer.fetch_all yielding inside
-- tasks, on one multi handle; the built-in loop and the luv driver.
local xfer = require "xfer"
local coro = require "xfer.coro"
local helper = require "spec.lua.helper"
local uv = require "luv"

local function raises(pattern, f)
    local ok, msg = pcall(f)
    assert.is_false(ok)
    assert.is_string(msg)
    assert.truthy(msg:find(pattern, 1, true), msg)
    return msg
end

local function file(i) return helper.nginx("/files/" .. i .. ".txt") end

describe("coroutines", function()
    setup(helper.start)
    teardown(function()
        xfer.close_idle() -- the connections kept for the next request
        helper.stop()
    end)

    it("fan out 100 requests on one multi handle, in parallel", function()
        local bodies, tasks = {}, {}
        for i = 1, 100 do
            tasks[i] = xfer.spawn(function()
                local res = assert(xfer.request(file(i)))
                bodies[i] = res.body
                return res.status
            end)
            assert.equal("running", tasks[i].status)
        end
        assert.is_true(xfer.run())
        for i = 1, 100 do
            assert.equal("file " .. i .. "\n", bodies[i])
            assert.equal("done", tasks[i].status)
            local ok, status = tasks[i]:wait()
            assert.is_true(ok)
            assert.equal(200, status)
        end
        -- in parallel: 100 requests of 200 ms each take far less than 20 s
        local t0 = uv.hrtime()
        local done = 0
        for _ = 1, 100 do
            xfer.spawn(function()
                assert.equal(200, assert(xfer.request(helper.fault("/sleep?ms=200"))).status)
                done = done + 1
            end)
        end
        assert.is_true(xfer.run())
        assert.equal(100, done)
        assert.is_true((uv.hrtime() - t0) / 1e9 < 5)
    end)

    it("run the task's code in the task, with arguments and results", function()
        local s = coro.new()
        local t = s:spawn(function(a, b)
            local co = coroutine.running()
            local res = assert(xfer.request(file(a)))
            assert.equal(co, coroutine.running())
            local res2 = assert(s:request(file(b)))
            return res.body, res2.body, nil, "last"
        end, 3, 4)
        assert.is_true(s:run())
        local r = { t:wait() }
        assert.same({ true, "file 3\n", "file 4\n", nil, "last" }, r)
        local all = s:wait_all{ t }
        assert.equal(5, all[1].n)
        assert.equal("last", all[1][5])
        s:close()
    end)

    it("let a task fan out and wait for other tasks", function()
        local s = coro.new{ max_total_connections = 4 }
        local order = {}
        local child
        local parent = s:spawn(function()
            child = s:spawn(function()
                local r = assert(xfer.request(file(1)))
                order[#order + 1] = "child"
                return r.body
            end)
            local list = {}
            for i = 1, 30 do list[i] = file(i) end
            local seen = 0
            local results = xfer.fetch_all(list, { max_total_connections = 3,
                on_done = function(i, res)
                    assert.equal(200, res.status)
                    seen = seen + 1
                end })
            assert.equal(30, seen)
            for i = 1, 30 do assert.equal("file " .. i .. "\n", results[i].body) end
            local ok, body = child:wait()
            order[#order + 1] = "parent"
            return ok, body
        end)
        assert.is_true(s:run())
        local _, ok, body = parent:wait()
        assert.is_true(ok)
        assert.equal("file 1\n", body)
        assert.same({ "child", "parent" }, order)
        local waited = s:spawn(function()
            local r = s:wait_all{ child, parent }
            return r[1][1], r[2][1]
        end)
        assert.same({ true, true, true }, { waited:wait() })
        s:close()
    end)

    it("raise an error of a spawned coroutine from run(), with its message", function()
        local s = coro.new()
        local other = s:spawn(function()
            assert(xfer.request(helper.fault("/sleep?ms=100")))
            return "other done"
        end)
        local bad = s:spawn(function()
            assert(xfer.request(file(1)))
            error("boom-task")
        end)
        local msg = raises("boom-task", function() s:run() end)
        assert.truthy(msg:find("coro_spec.lua", 1, true))
        assert.truthy(msg:find("stack traceback", 1, true))
        assert.equal("failed", bad.status)
        assert.truthy(tostring(bad.error):find("boom-task", 1, true))
        -- the other one goes on with the next run
        assert.is_true(s:run())
        assert.same({ true, "other done" }, { other:wait() })
        -- a task that fails at once: spawn raises it
        raises("boom-now", function() s:spawn(function() error("boom-now") end) end)
        -- a waiting task hears of the failure as a value
        local seen
        s:spawn(function()
            local failing = s:spawn(function()
                assert(xfer.request(file(2)))
                error({ code = "mine" })
            end)
            seen = { failing:wait() }
        end)
        local ok, err = pcall(s.run, s)
        assert.is_false(ok)
        assert.equal("mine", err.code)
        assert.is_false(seen[1])
        assert.equal("mine", seen[2].code)
        s:close()
    end)

    it("raise an error of a task's fetch_all on_done, and of its callbacks", function()
        local s = coro.new()
        s:spawn(function()
            xfer.fetch_all({ file(1), file(2), file(3) }, {
                on_done = function(i) if i == 2 then error("boom-on-done") end end,
            })
        end)
        raises("boom-on-done", function() s:run() end)
        assert.equal(0, #s.multi:get_handles())
        -- a write callback's error stops run(); the task gets the failed
        -- transfer as a value on the next run()
        local got
        s:spawn(function()
            got = { xfer.request{ url = helper.nginx("/1k.bin"),
                                  writefunction = function() error("boom-write") end } }
        end)
        raises("boom-write", function() s:run() end)
        assert.is_true(s:run())
        assert.is_nil(got[1])
        assert.equal("WRITE_ERROR", got[2].name)
        s:close()
    end)

    it("refuse a yield that is not xfer's, and misuse", function()
        local s = coro.new()
        raises("yielded outside xfer's API", function()
            s:spawn(function() coroutine.yield("mine") end)
        end)
        raises("run() cannot be called from inside a spawned task", function()
            s:spawn(function() s:run() end)
        end)
        raises("wait_all() inside a task needs the list", function()
            s:spawn(function() s:wait_all() end)
        end)
        raises("a task cannot wait for itself", function()
            local me
            me = s:spawn(function()
                assert(xfer.request(file(1)))
                me:wait()
            end)
            s:run()
        end)
        raises("bad argument #1 to 'spawn' (function expected, got nil)",
               function() xfer.spawn() end)
        raises("bad argument #1 to 'wait_all' (item #1 is not a task)",
               function() xfer.wait_all{ 1 } end)
        raises("bad argument #1 to 'request' (unknown option 'bogus')", function()
            s:spawn(function() xfer.request{ url = file(1), bogus = 1 } end)
        end)
        raises("request() must run inside a task of this scheduler",
               function() s:request(file(1)) end)
        -- callable tables are functions
        local t = s:spawn(setmetatable({}, { __call = function(_, x) return x end }), 7)
        assert.same({ true, 7 }, { t:wait() })
        s:close()
    end)

    it("report tasks that wait for each other with nothing in progress", function()
        local s = coro.new()
        local a, b
        a = s:spawn(function()
            assert(xfer.request(file(1)))
            b:wait()
        end)
        b = s:spawn(function()
            assert(xfer.request(file(2)))
            a:wait()
        end)
        local ok, err = s:run()
        assert.is_nil(ok)
        assert.matches("2 spawned task%(s%) still wait", err)
        s:close()
        assert.equal("failed", a.status)
        assert.equal("the scheduler is closed", a.error)
    end)

    it("keep to the scheduler's connection limit", function()
        local s = xfer.scheduler{ max_total_connections = 4 }
        assert.equal(s, xfer.scheduler())
        local others = helper.fault_quiet()
        local n = 0
        for _ = 1, 40 do
            xfer.spawn(function()
                assert(xfer.request(helper.fault("/sleep?ms=10")))
                n = n + 1
            end)
        end
        raises("has tasks alive", function() xfer.scheduler{} end)
        assert.is_true(xfer.wait_all())
        assert.equal(40, n)
        xfer.scheduler{} -- back to no limit; closes the one above
        local peak = helper.fault_peak(others)
        assert.is_true(peak <= 4, "peak " .. peak)
    end)

    it("survive the collector while transfers run", function()
        local s = coro.new{ max_total_connections = 8 }
        local n = 0
        for i = 1, 100 do
            s:spawn(function()
                collectgarbage("collect")
                local chunks = 0
                local res = assert(xfer.request{ url = i % 10 == 0 and helper.nginx("/1m.bin")
                                                                   or file(i),
                    writefunction = function()
                        chunks = chunks + 1
                        if chunks % 8 == 0 then collectgarbage("collect") end
                    end })
                assert.equal(200, res.status)
                collectgarbage("collect")
                n = n + 1
            end)
        end
        collectgarbage("collect")
        assert.is_true(s:run())
        assert.equal(100, n)
        s:close()
        collectgarbage("collect")
    end)

    it("run on a luv loop, next to the rest of a luv program", function()
        local s = coro.new{ driver = "luv", max_total_connections = 4 }
        local bodies = {}
        for i = 1, 50 do
            s:spawn(function()
                bodies[i] = assert(xfer.request(file(i))).body
            end)
        end
        assert.is_true(s:run())
        for i = 1, 50 do assert.equal("file " .. i .. "\n", bodies[i]) end
        -- the program runs the loop itself: tasks go on with its timers
        local ticks, finished = 0, false
        local timer = uv.new_timer()
        timer:start(1, 1, function()
            ticks = ticks + 1
            if finished then timer:close() end
        end)
        s:spawn(function()
            for i = 1, 5 do
                assert(xfer.request(helper.fault("/sleep?ms=" .. (5 * i))))
            end
            finished = true
        end)
        uv.run()
        assert.is_true(finished)
        assert.is_true(ticks > 0)
        -- an error in a task stops the loop; driver:check() raises it
        s:spawn(function()
            assert(xfer.request(file(1)))
            error("boom-luv-task")
        end)
        raises("boom-luv-task", function() s:run() end)
        s:close()
        uv.run("nowait")
    end)
end)
