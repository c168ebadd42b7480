-- Pause from Lua (easy:pause, xfer.WRITEFUNC_PAUSE), and xfer.luv's
-- handling of 0 ms timers armed from inside its own timer callback.
local xfer = require "xfer"
local xluv = require "xfer.luv"
local helper = require "spec.lua.helper"
local uv = require "luv"

local function docfile(name)
    return assert(helper.readfile(helper.NGINX_DOCROOT .. "/" .. name))
end

describe("pause", function()
    setup(helper.start)
    teardown(helper.stop)

    it("easy:pause raises on bits that are no combination of PAUSE_*", function()
        local e = xfer.easy{ url = helper.nginx("/1k.bin") }
        for _, bad in ipairs({ 2, 8, 16, -1, 1000 }) do
            local ok, msg = pcall(e.pause, e, bad)
            assert.is_false(ok)
            assert.truthy(msg:find("not a combination of xfer.PAUSE_", 1, true), msg)
        end
        assert.has_error(function() e:pause("recv") end)
        assert.has_error(function() e:pause(1.5) end)
        -- the good ones, on a handle that is not running: accepted
        assert.equal(e, e:pause(xfer.PAUSE_CONT))
        assert.equal(0, xfer.PAUSE_CONT)
        assert.equal(1, xfer.PAUSE_RECV)
        assert.equal(4, xfer.PAUSE_SEND)
        assert.equal(5, xfer.PAUSE_ALL)
        e:close()
    end)

    it("WRITEFUNC_PAUSE, then PAUSE_CONT from a luv timer: the body is intact", function()
        local want = docfile("1m.bin")
        local m = xfer.multi()
        local parts, pauses, refused = {}, 0, nil
        local e
        local t = uv.new_timer()
        e = xfer.easy{
            url = helper.nginx("/1m.bin"),
            writefunction = function(chunk)
                -- every 4th chunk is refused once: it must come again, first
                if refused == nil and pauses < 8 and #parts % 4 == 1 then
                    refused = chunk
                    pauses = pauses + 1
                    t:start(5, 0, function() e:pause(xfer.PAUSE_CONT) end)
                    return xfer.WRITEFUNC_PAUSE
                end
                if refused then
                    assert.equal(refused, chunk)
                    refused = nil
                end
                parts[#parts + 1] = chunk
            end,
        }
        m:add_handle(e)
        local done
        assert.is_true(xluv.run(m, { on_done = function(_, ok, err) done = { ok, err } end }))
        assert.is_true(done[1], tostring(done[2]))
        assert.is_true(pauses >= 4, pauses)
        assert.equal(#want, #table.concat(parts))
        assert.is_true(want == table.concat(parts))
        t:close()
        uv.run("nowait") -- luv 1.44 crashes at exit on a handle never freed
        e:close()
        m:close()
    end)

    it("easy:pause(PAUSE_RECV) from outside and PAUSE_CONT later, on multi:run()", function()
        local want = docfile("1m.bin")
        local m = xfer.multi()
        local parts, paused_at = {}, nil
        local e
        e = xfer.easy{
            url = helper.nginx("/1m.bin"),
            writefunction = function(chunk)
                parts[#parts + 1] = chunk
                if #parts == 2 then
                    -- pause from inside, resume from another transfer's end
                    e:pause(xfer.PAUSE_RECV)
                    paused_at = #parts
                end
            end,
        }
        local other = xfer.easy{ url = helper.fault("/sleep?ms=100"),
                                 writefunction = function() end }
        m:add_handle(e)
        m:add_handle(other)
        local resumed_with
        assert.is_true(m:run{ on_done = function(h, ok, err)
            assert.is_true(ok, tostring(err))
            if h == other then
                resumed_with = #parts
                e:pause(xfer.PAUSE_CONT)
            end
            m:remove_handle(h)
        end })
        assert.equal(2, paused_at)
        assert.equal(2, resumed_with) -- nothing came while paused
        assert.is_true(want == table.concat(parts))
        e:close()
        other:close()
        m:close()
    end)
end)

describe("xfer.luv and 0 ms timers", function()
    setup(helper.start)
    teardown(helper.stop)

    -- Two transfers hand a pause back and forth: each refuses its chunk
    -- (WRITEFUNC_PAUSE) and unpauses the other, so every step runs through
    -- xfer's timer, armed with 0 ms from inside the driver's own timer
    -- callback. A 0 ms uv timer started there runs again in the same pass
    -- on libuv 1.44: the loop would run every step before polling once.
    -- The program's prepare handle (run once per loop iteration) must get
    -- a turn between steps.
    it("let the loop iterate between successive xfer timer runs", function()
        local m = xfer.multi()
        local STEPS = 200
        local steps, iters, seen = 0, 0, {}
        local prep = uv.new_prepare()
        prep:start(function() iters = iters + 1 end)
        local a, b
        local paused = {}
        local bodies = { 0, 0 }
        local function writer(me, idx)
            return function(chunk)
                if steps < STEPS then
                    steps = steps + 1
                    seen[steps] = iters
                    local other = me() == a and b or a
                    paused[me()] = true
                    if paused[other] then
                        paused[other] = nil
                        other:pause(xfer.PAUSE_CONT)
                    end
                    return xfer.WRITEFUNC_PAUSE
                end
                -- done ping-ponging: let whoever is still paused go
                for h in pairs(paused) do
                    paused[h] = nil
                    if h ~= me() then h:pause(xfer.PAUSE_CONT) end
                end
                bodies[idx] = bodies[idx] + #chunk
            end
        end
        a = xfer.easy{ url = helper.nginx("/1m.bin"),
                       writefunction = writer(function() return a end, 1) }
        b = xfer.easy{ url = helper.nginx("/1m.bin"),
                       writefunction = writer(function() return b end, 2) }
        m:add_handle(a)
        m:add_handle(b)
        local n = 0
        assert.is_true(xluv.run(m, { on_done = function(_, ok, err)
            assert.is_true(ok, tostring(err))
            n = n + 1
        end }))
        prep:stop()
        prep:close()
        uv.run("nowait") -- luv 1.44 crashes at exit on a handle never freed
        assert.equal(2, n)
        assert.same({ 1048576, 1048576 }, bodies)
        assert.equal(STEPS, steps)
        -- Once the first chunks are in, an iteration runs at most a step
        -- from a socket event and one from the deferred timer run (poll
        -- phase, then check phase). With a 0 ms uv timer, all of them run
        -- in one iteration.
        local most, run = 1, 1
        for i = 9, STEPS do
            run = seen[i] == seen[i - 1] and run + 1 or 1
            if run > most then most = run end
        end
        assert.is_true(most <= 2, "steps in one loop iteration: " .. most)
        a:close()
        b:close()
        m:close()
    end)
end)
