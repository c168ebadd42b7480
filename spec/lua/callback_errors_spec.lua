-- An error raised in a Lua callback: the transfer fails with a documented
-- code, the API call that ran the callback raises the error (with its
-- traceback) once the core has returned, and the handles stay usable.
local xfer = require "xfer"
local helper = require "spec.lua.helper"

-- What each transfer callback's error fails the transfer with.
local CODES = {
    write = xfer.E_WRITE_ERROR,
    header = xfer.E_WRITE_ERROR,
    xferinfo = xfer.E_ABORTED_BY_CALLBACK,
    read = xfer.E_ABORTED_BY_CALLBACK,
}

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

local function good()
    return helper.easy(helper.nginx("/index.html"))
end

-- The raised message carries the text and the traceback into this file.
local function assert_raised(msg, kind)
    assert.is_string(msg)
    assert.truthy(msg:find("boom-" .. kind, 1, true), msg)
    assert.truthy(msg:find("stack traceback:", 1, true), msg)
    assert.truthy(msg:find("callback_errors_spec.lua", 1, true), msg)
end

local function results(msgs)
    local t = {}
    for _, msg in ipairs(msgs) do t[msg[1]] = msg end
    return t
end

describe("an error in a callback", function()
    setup(helper.start)
    teardown(helper.stop)

    for kind, code in pairs(CODES) do
        it("(" .. kind .. ") is raised by perform and fails its transfer", function()
            local m = xfer.multi()
            local bad, ok_easy = failing(kind), good()
            assert(m:add_handle(bad))
            assert(m:add_handle(ok_easy))
            local raised, msgs = {}, {}
            for _ = 1, 1000 do
                local ok, running = pcall(m.perform, m)
                if not ok then raised[#raised + 1] = running; running = 1 end
                while true do
                    local e, eok, err = m:info_read()
                    if not e then break end
                    msgs[#msgs + 1] = { e, eok, err }
                end
                if running == 0 then break end
                m:wait(100)
            end
            assert.equal(1, #raised)
            assert_raised(raised[1], kind)
            local r = results(msgs)
            assert.is_false(r[bad][2])
            assert.equal(code, r[bad][3].code)
            assert.is_true(r[ok_easy][2])
            -- the multi goes on
            local again = good()
            assert(m:add_handle(again))
            assert.is_true(helper.drive(m)[1][2])
            m:close()
        end)

        it("(" .. kind .. ") stops run(), which raises it", function()
            local m = xfer.multi()
            local bad, ok_easy = failing(kind), good()
            assert(m:add_handle(bad))
            assert(m:add_handle(ok_easy))
            local ok, msg = pcall(m.run, m)
            assert.is_false(ok)
            assert_raised(msg, kind)
            assert.is_true(m:run()) -- the rest finishes
            local r = {}
            while true do
                local e, eok, err = m:info_read()
                if not e then break end
                r[e] = { eok, err }
            end
            assert.is_false(r[bad][1])
            assert.equal(code, r[bad][2].code)
            assert.is_true(r[ok_easy][1])
            m:close()
        end)

        it("(" .. kind .. ") is raised by easy:perform", function()
            local bad = failing(kind)
            local ok, msg = pcall(bad.perform, bad)
            assert.is_false(ok)
            assert_raised(msg, kind)
            -- and the handle is fine afterwards
            bad:setopt{ url = helper.nginx("/index.html"), upload = false,
                        writefunction = function() end }
            bad:setopt_headerfunction(nil)
            bad:setopt_xferinfofunction(nil)
            bad:setopt_readfunction(nil)
            assert.is_true(bad:perform())
        end)
    end

    -- libcurl's rule for these two: the application can no longer drive
    -- the handle, so every transfer in progress fails.
    it("(socket) fails the transfers in progress and is raised", function()
        local m = xfer.multi()
        m:setopt_socketfunction(function() error("boom-socket") end)
        local e1, e2 = good(), good()
        assert(m:add_handle(e1))
        assert(m:add_handle(e2))
        local ok, msg = pcall(m.socket_action, m, xfer.SOCKET_TIMEOUT)
        assert.is_false(ok)
        assert_raised(msg, "socket")
        local r = {}
        while true do
            local e, eok, err = m:info_read()
            if not e then break end
            r[e] = { eok, err }
        end
        for _, e in ipairs({ e1, e2 }) do
            assert.is_false(r[e][1])
            assert.equal(xfer.E_ABORTED_BY_CALLBACK, r[e][2].code)
        end
        -- and the multi goes on
        m:setopt_socketfunction(nil)
        m:remove_handle(e1)
        assert(m:add_handle(e1))
        assert.is_true(helper.drive(m)[1][2])
        m:close()
    end)

    it("(timer) fails the transfers in progress and is raised", function()
        local m = xfer.multi()
        m:setopt_timerfunction(function() error("boom-timer") end)
        local e = good()
        local ok, msg = pcall(m.add_handle, m, e) -- add_handle sets the timer
        assert.is_false(ok)
        assert_raised(msg, "timer")
        local got, eok, err = m:info_read()
        assert.equal(e, got)
        assert.is_false(eok)
        assert.equal(xfer.E_ABORTED_BY_CALLBACK, err.code)
        m:setopt_timerfunction(nil)
        m:remove_handle(e)
        assert(m:add_handle(e))
        assert.is_true(helper.drive(m)[1][2])
        m:close()
    end)

    it("(on_done) stops run(), and the next run() goes on", function()
        local m = xfer.multi{ max_total_connections = 1 }
        for _ = 1, 3 do assert(m:add_handle(good())) end
        local done = 0
        local ok, msg = pcall(m.run, m, { on_done = function(e)
            done = done + 1
            m:remove_handle(e)
            error("boom-done")
        end })
        assert.is_false(ok)
        assert_raised(msg, "done")
        assert.equal(1, done)
        assert.is_true(m:run{ on_done = function(e)
            done = done + 1
            m:remove_handle(e)
        end })
        assert.equal(3, done)
        m:close()
    end)

    it("that yields is an error, raised by the call", function()
        local e = helper.easy(helper.nginx("/1k.bin"), {
            writefunction = function() coroutine.yield() end,
        })
        local co = coroutine.create(function() return e:perform() end)
        local ok, msg = coroutine.resume(co)
        assert.is_false(ok)
        assert.matches("yield", msg)
        e:setopt_writefunction(function() end)
        assert.is_true(e:perform())
    end)

    it("keeps an error value that is not a string as it is", function()
        local m = xfer.multi()
        local mine = { tag = "mine" }
        local e = helper.easy(helper.nginx("/1k.bin"), {
            writefunction = function() error(mine) end,
        })
        assert(m:add_handle(e))
        local ok, err = pcall(m.run, m)
        assert.is_false(ok)
        assert.equal(mine, err)
        m:close()
    end)

    it("in a callback that returns a bad value is raised too", function()
        local e = helper.easy(helper.nginx("/1k.bin"), {
            writefunction = function() return "yes" end,
        })
        local ok, msg = pcall(e.perform, e)
        assert.is_false(ok)
        assert.matches("write callback returned a string value", msg)
        e:setopt_writefunction(function() return 1.5 end)
        ok, msg = pcall(e.perform, e)
        assert.is_false(ok)
        assert.matches("write callback returned 1.5, not a byte count", msg)
    end)
end)
