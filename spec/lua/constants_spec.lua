-- The module's shape: constants are integers with libcurl's values, and
-- every number the binding hands out is an integer too.
local xfer = require "xfer"
local helper = require "spec.lua.helper"

describe("xfer constants", function()
    setup(helper.start)
    teardown(helper.stop)

    it("are all integers, on every Lua version", function()
        local n = 0
        for k, v in pairs(xfer) do
            if type(v) == "number" then
                assert(helper.is_integer(v), k .. " is not an integer")
                n = n + 1
            end
        end
        assert.is_true(n > 100)
    end)

    it("keep libcurl's numbers", function()
        assert.equal(0, xfer.POLL_NONE)
        assert.equal(1, xfer.POLL_IN)
        assert.equal(2, xfer.POLL_OUT)
        assert.equal(3, xfer.POLL_INOUT)
        assert.equal(4, xfer.POLL_REMOVE)
        assert.equal(1, xfer.CSELECT_IN)
        assert.equal(2, xfer.CSELECT_OUT)
        assert.equal(4, xfer.CSELECT_ERR)
        assert.equal(-1, xfer.SOCKET_TIMEOUT)
        assert.equal(0, xfer.E_OK)
        assert.equal(7, xfer.E_COULDNT_CONNECT)
        assert.equal(23, xfer.E_WRITE_ERROR)
        assert.equal(28, xfer.E_OPERATION_TIMEDOUT)
        assert.equal(42, xfer.E_ABORTED_BY_CALLBACK)
        assert.equal(2, xfer.M_BAD_EASY_HANDLE)
        assert.equal(7, xfer.M_ADDED_ALREADY)
        assert.equal(8, xfer.M_RECURSIVE_API_CALL)
        assert.equal(10002, xfer.OPT_URL)
        assert.equal(20011, xfer.OPT_WRITEFUNCTION)
        assert.equal(13, xfer.MOPT_MAX_TOTAL_CONNECTIONS)
        assert.equal(0x200002, xfer.INFO_RESPONSE_CODE)
        assert.equal(1, xfer.MSG_DONE)
    end)

    it("name the codes as the core does", function()
        assert.equal("COULDNT_CONNECT", xfer.easy_codename(7))
        assert.equal("ADDED_ALREADY", xfer.multi_codename(7))
        assert.is_nil(xfer.easy_codename(12345))
        assert.is_string(xfer.easy_strerror(7))
        assert.is_string(xfer.multi_strerror(7))
        assert.matches("^xfer/", xfer.version())
    end)

    it("are integers where the binding hands out numbers", function()
        local m = xfer.multi()
        local fds, timeouts, progress = {}, {}, {}
        m:setopt_socketfunction(function(_, fd, what)
            fds[#fds + 1] = fd
            fds[#fds + 1] = what
        end)
        m:setopt_timerfunction(function(ms) timeouts[#timeouts + 1] = ms end)
        local e = helper.easy(helper.nginx("/1k.bin"), {
            xferinfofunction = function(a, b, c, d)
                for _, v in ipairs({ a, b, c, d }) do
                    progress[#progress + 1] = v
                end
            end,
        })
        assert(m:add_handle(e))
        local running = m:socket_action(xfer.SOCKET_TIMEOUT, 0)
        assert(helper.is_integer(running))
        assert(helper.is_integer(m:timeout()))
        m:setopt_socketfunction(nil)
        m:setopt_timerfunction(nil)
        helper.drive(m)
        assert.is_true(#fds > 0 and #timeouts > 0 and #progress > 0)
        for _, list in ipairs({ fds, timeouts, progress }) do
            for _, v in ipairs(list) do assert(helper.is_integer(v)) end
        end
        for k, v in pairs(e:getinfo()) do
            if type(v) == "number" then
                assert(helper.is_integer(v), k .. " is not an integer")
            end
        end
        local _, err = xfer.easy{ url = "http://127.0.0.1:1/" }:perform()
        assert(helper.is_integer(err.code))
        m:close()
    end)
end)
