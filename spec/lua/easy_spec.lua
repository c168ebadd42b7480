-- The easy handle: options, getinfo, perform, callback return values, and
-- argument checking.
local xfer = require "xfer"
local helper = require "spec.lua.helper"

describe("xfer.easy", function()
    setup(helper.start)
    teardown(helper.stop)

    it("performs a GET and tells about it", function()
        local e, body = helper.easy(helper.nginx("/index.html"))
        assert.is_true(e:perform())
        assert.equal("hello from nginx\n", body())
        assert.equal(200, e:getinfo_response_code())
        assert.equal(helper.nginx("/index.html"), e:getinfo_effective_url())
        assert.equal(17, e:getinfo_size_download_t())
        assert.equal("127.0.0.1", e:getinfo_primary_ip())
        assert.equal(helper.NGINX_PORT, e:getinfo("primary_port"))
        local info = e:getinfo()
        assert.equal(200, info.response_code)
        assert.equal(1, info.num_connects)
        assert.is_true(info.total_time_t > 0)
        e:close()
    end)

    it("sets options as a table, by name, and one by one", function()
        local e, body = helper.easy(helper.nginx("/index.html"))
        e:setopt{ url = helper.nginx("/files/1.txt"), followlocation = true }
        assert.is_true(e:perform())
        assert.equal("file 1\n", body())
        e:setopt("url", helper.nginx("/files/2.txt"))
        assert.is_true(e:perform())
        assert.equal(e, e:setopt_url(helper.nginx("/files/3.txt")))
        assert.is_true(e:perform())
        assert.equal("file 1\nfile 2\nfile 3\n", body())
    end)

    it("returns a failure as nil, err", function()
        local e = xfer.easy{ url = "http://127.0.0.1:1/" }
        local ok, err = e:perform()
        assert.is_nil(ok)
        assert.equal(xfer.E_COULDNT_CONNECT, err.code)
        assert.equal("COULDNT_CONNECT", err.name)
        assert.equal("easy", err.kind)
        assert.matches("Connection refused", err.message)
        assert.matches("^COULDNT_CONNECT %(7%): ", tostring(err))
        e:setopt{ url = helper.nginx("/status/404"), failonerror = true }
        ok, err = e:perform()
        assert.is_nil(ok)
        assert.equal(xfer.E_HTTP_RETURNED_ERROR, err.code)
    end)

    it("gives every header line to the header function", function()
        local lines = {}
        local e = helper.easy(helper.nginx("/1k.bin"), {
            headerfunction = function(l) lines[#lines + 1] = l end,
        })
        assert.is_true(e:perform())
        assert.equal("HTTP/1.1 200 OK\r\n", lines[1])
        assert.equal("\r\n", lines[#lines])
    end)

    it("takes what the write function's return value says", function()
        local function try(ret)
            local e = xfer.easy{ url = helper.nginx("/1k.bin"),
                                 writefunction = function() return ret end }
            return e:perform()
        end
        assert.is_true(try(nil))
        assert.is_true(try(true))
        assert.is_true(try(1024))
        local _, err = try(10)
        assert.equal(xfer.E_WRITE_ERROR, err.code)
        _, err = try(false)
        assert.equal(xfer.E_WRITE_ERROR, err.code)
        local ok, msg = pcall(try, {})
        assert.is_false(ok)
        assert.matches("write callback returned a table value", msg)
    end)

    it("posts binary postfields and sends the headers given", function()
        local data = "a\0b\0c" .. string.rep("x", 1000)
        local e, body = helper.easy(helper.fault("/echo"), {
            postfields = data,
            httpheader = { "X-One: 1", "X-Two: two" },
        })
        assert.is_true(e:perform())
        local echoed = body()
        assert.matches("^POST /echo HTTP/1.1\r\n", echoed)
        assert.matches("\r\nX%-One: 1\r\n", echoed)
        assert.matches("\r\nX%-Two: two\r\n", echoed)
        assert.equal(data, echoed:sub(-#data))
        -- a single string is a one-element list
        e:setopt{ httpheader = "X-Three: 3", postfields = "q=1" }
        assert.is_true(e:perform())
        assert.matches("\r\nX%-Three: 3\r\n", body())
    end)

    it("uploads from the read function, in pieces of the size asked", function()
        local data = string.rep("0123456789", 10000) -- more than one buffer
        local sent, calls = false, 0
        local e, body = helper.easy(helper.fault("/echo"), {
            upload = true,
            infilesize_large = #data,
            readfunction = function(room)
                calls = calls + 1
                assert(helper.is_integer(room) and room > 0)
                if sent then return nil end
                sent = true
                return data -- longer than room: served over several calls
            end,
        })
        assert.is_true(e:perform())
        assert.is_true(calls >= 1)
        assert.equal(#data, e:getinfo_size_upload_t())
        assert.equal(data, body():sub(-#data))
    end)

    it("calls the progress function and aborts when it says so", function()
        local calls = 0
        local e = helper.easy(helper.nginx("/1m.bin"), {
            xferinfofunction = function(dltotal, dlnow)
                calls = calls + 1
                assert(helper.is_integer(dltotal) and helper.is_integer(dlnow))
            end,
        })
        assert.is_true(e:perform())
        assert.is_true(calls > 0)
        e:setopt_xferinfofunction(function() return false end)
        local _, err = e:perform()
        assert.equal(xfer.E_ABORTED_BY_CALLBACK, err.code)
        e:setopt_xferinfofunction(function() return 1 end)
        _, err = e:perform()
        assert.equal(xfer.E_ABORTED_BY_CALLBACK, err.code)
    end)

    it("pins addresses with resolve and keeps a private Lua value", function()
        local url = ("http://pinned.test:%d/index.html"):format(helper.NGINX_PORT)
        local mine = { "any", "value" }
        local e, body = helper.easy(url, {
            resolve = { ("pinned.test:%d:127.0.0.1"):format(helper.NGINX_PORT) },
            private = mine,
        })
        assert.is_true(e:perform())
        assert.equal("hello from nginx\n", body())
        assert.equal(mine, e:getinfo_private())
        e:reset()
        assert.is_nil(e:getinfo_private())
        assert.is_nil(e:getinfo_effective_url())
    end)

    it("raises on an unknown option, naming it", function()
        assert.has_error(function() xfer.easy{ xyz = 1 } end)
        local ok, msg = pcall(xfer.easy, { xyz = 1 })
        assert.is_false(ok)
        assert.matches("unknown option 'xyz'", msg)
        local e = xfer.easy()
        ok, msg = pcall(e.setopt, e, { url = "http://x/", nope = true })
        assert.matches("unknown option 'nope'", msg)
        ok, msg = pcall(e.setopt, e, "nope", 1)
        assert.matches("unknown option 'nope'", msg)
        ok, msg = pcall(e.setopt, e, { [1] = "x" })
        assert.matches("option names are strings", msg)
        ok, msg = pcall(e.getinfo, e, "nope")
        assert.matches("unknown info 'nope'", msg)
    end)

    it("raises on a value of the wrong type, naming the option", function()
        local cases = {
            { { url = 42 }, "option 'url' must be a string" },
            { { timeout_ms = "soon" }, "option 'timeout_ms' must be an integer" },
            { { timeout_ms = 1.5 }, "option 'timeout_ms' must be an integer" },
            { { httpheader = { "A: 1", 2 } }, "option 'httpheader'" },
            { { httpheader = 5 }, "option 'httpheader'" },
            { { writefunction = "print" }, "option 'writefunction' must be a function" },
            { { postfields = {} }, "option 'postfields' must be a string" },
            { { infilesize_large = 0.5 }, "option 'infilesize_large' must be an integer" },
            { { writedata = 1 }, "option 'writedata' is not available from Lua" },
            { { timeout_ms = -1 }, "option 'timeout_ms': .*BAD_FUNCTION_ARGUMENT" },
        }
        -- Called from a Lua function (not straight from pcall), so that the
        -- message can name the function.
        local function raises(f, ...)
            local ok, msg = pcall(f, ...)
            assert.is_false(ok)
            return msg
        end
        for _, c in ipairs(cases) do
            local msg = raises(function() local e = xfer.easy(c[1]) return e end)
            assert.matches(c[2], msg)
            assert.matches("bad argument #1 to 'easy'", msg)
        end
        local e = xfer.easy()
        local msg = raises(function() e:setopt_timeout_ms("x") end)
        assert.matches("bad argument #1 to 'setopt_timeout_ms'", msg)
        msg = raises(e.setopt_url)
        assert.matches("xfer.easy expected", msg)
        msg = raises(function() local x = xfer.easy("url") return x end)
        assert.matches("bad argument #1 to 'easy' %(table expected", msg)
        -- a callable table is a function
        e:setopt_writefunction(setmetatable({}, { __call = function() end }))
    end)

    it("raises on methods of a closed handle", function()
        local e = xfer.easy{ url = helper.nginx("/") }
        e:close()
        e:close() -- idempotent
        for _, name in ipairs({ "perform", "setopt_url", "getinfo", "reset" }) do
            local ok, msg = pcall(e[name], e, "x")
            assert.is_false(ok)
            assert.matches("easy handle is closed", msg)
        end
        assert.equal("xfer.easy (closed)", tostring(e))
    end)
    it("keeps the body in C with collect_body, for take_body", function()
        local e = xfer.easy{ url = helper.fault("/bytes/300000"),
                             collect_body = true }
        assert.equal("", e:take_body())
        assert.is_true(e:perform())
        local b = e:take_body()
        assert.equal(300000, #b)
        assert.equal("", e:take_body()) -- taken: forgotten
        -- each transfer starts afresh, also when the last was not taken
        e:setopt_url(helper.nginx("/index.html"))
        assert.is_true(e:perform())
        assert.is_true(e:perform())
        assert.equal("hello from nginx\n", e:take_body())
        -- a writefunction replaces it, and collect_body replaces that
        local got = {}
        e:setopt_writefunction(function(c) got[#got + 1] = c end)
        assert.is_true(e:perform())
        assert.equal("hello from nginx\n", table.concat(got))
        assert.equal("", e:take_body())
        e:setopt_collect_body(true)
        assert.is_true(e:perform())
        assert.equal(1, #got)
        assert.equal("hello from nginx\n", e:take_body())
        -- on a multi handle too
        local m = xfer.multi()
        e:setopt_url(helper.nginx("/1k.bin"))
        assert.is_true(m:add_handle(e))
        assert.is_true(m:run())
        assert.equal(1024, #e:take_body())
        m:close()
        assert.has_error(function() e:setopt_collect_body("yes") end,
                         "bad argument #1 to 'setopt_collect_body' (option "
                         .. "'collect_body' must be a boolean, got string)")
        e:close()
        assert.has_error(function() e:take_body() end)
    end)

    -- The box stays small (issue #18): no error buffer and no registry
    -- slot of its own per callback; it was 537 bytes on Lua 5.4.
    it("costs little Lua memory per handle", function()
        local sink = function() end
        local t, n = {}, 2000
        collectgarbage()
        collectgarbage()
        local k0 = collectgarbage("count")
        for i = 1, n do
            t[i] = xfer.easy{ url = "http://127.0.0.1:1/", writefunction = sink,
                              headerfunction = sink }
        end
        collectgarbage()
        collectgarbage()
        local per = (collectgarbage("count") - k0) * 1024 / n
        assert.is_true(per < 260, ("%.0f bytes of Lua heap per handle"):format(per))
        -- the failure text comes from the core, per handle
        local m = xfer.multi()
        for i = 1, 3 do m:add_handle(t[i]) end
        local msgs = 0
        m:run{ on_done = function(e, ok, err)
            assert.is_false(ok)
            assert.matches("Connection refused", err.message)
            msgs = msgs + 1
        end }
        assert.equal(3, msgs)
        m:close()
        for i = 1, n do t[i]:close() end
    end)
end)
