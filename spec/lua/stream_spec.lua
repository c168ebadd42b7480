-- The coroutine API's streamed responses (request{ stream = true }),
-- xfer.sleep, and request bodies from functions and readers.
local xfer = require "xfer"
local coro = require "xfer.coro"
local helper = require "spec.lua.helper"
local uv = require "luv"

local WINDOW = coro.STREAM_WINDOW
local MIB64 = 64 * 1024 * 1024

local function raises(pattern, f)
    local ok, msg = pcall(f)
    assert.is_false(ok)
    assert.is_string(msg)
    assert.truthy(msg:find(pattern, 1, true), msg)
    return msg
end

-- A function that gives the chunks of list, then nil.
local function chunks(list)
    local i = 0
    return function()
        i = i + 1
        return list[i]
    end
end

-- The body of the fault server's /echo reply: the request as received.
local function echoed(res)
    local head, body = res.body:match("^(.-\r\n)\r\n(.*)$")
    return head, body
end

describe("streamed responses", function()
    setup(helper.start)
    teardown(function()
        xfer.close_idle()
        helper.stop()
    end)

    for _, driver in ipairs({ "run", "luv" }) do
        it("read 64 MiB with a slow reader in bounded memory (" .. driver .. ")", function()
            local s = coro.new{ driver = driver }
            local got, chunks_read, max_mem, max_buf, max_chunk = 0, 0, 0, 0, 0
            local status, clen
            local t = s:spawn(function()
                local res = assert(s:request{ url = helper.nginx("/64m.bin"), stream = true })
                status, clen = res.status, res.headers["content-length"]
                assert.is_nil(res.body)
                helper.collect()
                local base = collectgarbage("count")
                while true do
                    local c, err = res.body_reader()
                    if not c then
                        assert.is_nil(err)
                        break
                    end
                    got = got + #c
                    chunks_read = chunks_read + 1
                    assert.is_nil(c:find("[^%z]")) -- zeros
                    -- slow: the server could send all 64 MiB meanwhile
                    if chunks_read % 32 == 0 then s:sleep(0.002) end
                    local st = res._stream
                    if st.buffered > max_buf then max_buf = st.buffered end
                    if st.max_chunk > max_chunk then max_chunk = st.max_chunk end
                    -- what is kept alive (the chunks read are garbage)
                    if chunks_read % 128 == 0 then
                        collectgarbage("collect")
                        local mem = collectgarbage("count") - base
                        if mem > max_mem then max_mem = mem end
                    end
                end
                assert.is_nil(res.body_reader()) -- stays at the end
                return res._stream.max_buffered
            end)
            assert.is_true(s:run())
            local ok, max_buffered = t:wait()
            assert.is_true(ok, tostring(max_buffered))
            assert.equal(200, status)
            assert.equal(tostring(MIB64), clen)
            assert.equal(MIB64, got)
            -- the window plus one chunk, whatever the body's size
            assert.is_true(max_buffered <= WINDOW + max_chunk,
                           ("buffered %d > %d + %d"):format(max_buffered, WINDOW, max_chunk))
            assert.is_true(max_buf <= WINDOW + max_chunk)
            -- what Lua keeps alive stays far below the body's size
            assert.is_true(max_mem < 4 * 1024, "grew by " .. max_mem .. " KiB")
            assert.equal(0, s.nflight)
            s:close()
        end)
    end

    it("return at the headers, before any of the body", function()
        local s = coro.new()
        local t = s:spawn(function()
            local t0 = xfer.now_ms()
            local res = assert(s:request{ url = helper.fault("/headers-then-silence"),
                                          stream = true })
            local took = xfer.now_ms() - t0
            assert.equal(200, res.status)
            assert.is_true(took < 1000, took)
            res:close()
            assert.same({ nil, "closed" }, { res.body_reader() })
            return "ok"
        end)
        assert.is_true(s:run())
        assert.same({ true, "ok" }, { t:wait() })
        assert.equal(0, s.nflight)
        s:close()
    end)

    it("reader(max) splits chunks; read_body() gets the rest; redirects are followed", function()
        local want = assert(helper.readfile(helper.NGINX_DOCROOT .. "/16k.bin"))
        local s = coro.new()
        local t = s:spawn(function()
            local res = assert(s:request{ url = helper.fault("/redirect/302?to="
                                              .. helper.nginx("/16k.bin")),
                                          followlocation = true, stream = true })
            local first = {}
            for i = 1, 3 do
                first[i] = assert(res.body_reader(100))
                assert.equal(100, #first[i])
            end
            local rest = assert(res:read_body())
            return res.status, table.concat(first) .. rest
        end)
        assert.is_true(s:run())
        local ok, status, body = t:wait()
        assert.is_true(ok, tostring(status))
        assert.equal(200, status)
        assert.is_true(body == want)
        s:close()
    end)

    it("a failed transfer: nil, err from request, or from the reader mid-body", function()
        local s = coro.new()
        local t = s:spawn(function()
            local res, err = s:request{ url = "http://127.0.0.1:1/", stream = true }
            assert.is_nil(res)
            assert.equal("COULDNT_CONNECT", err.name)
            res = assert(s:request{ url = helper.fault("/reset-mid-body"), stream = true })
            local c, rerr
            repeat c, rerr = res.body_reader() until not c
            assert.is_not_nil(rerr)
            return rerr.name
        end)
        assert.is_true(s:run())
        local ok, name = t:wait()
        assert.is_true(ok, tostring(name))
        assert.is_string(name)
        s:close()
    end)

    -- Abandoning: the transfer stops, nothing stays in flight, and the
    -- memory comes back. Each way ends long before 64 MiB could arrive
    -- through a paused transfer (which never arrives at all).
    local function abandon(how)
        local s = coro.new()
        helper.collect()
        local base = collectgarbage("count")
        local t = s:spawn(function()
            local res = assert(s:request{ url = helper.nginx("/64m.bin"), stream = true })
            assert(res.body_reader())
            s:sleep(0.05) -- the window fills, the transfer pauses
            assert.equal(1, s.nflight)
            assert.is_true(res._stream.paused)
            if how == "close" then
                res:close()
                assert.equal(0, s.nflight)
                assert.same({ nil, "closed" }, { res.body_reader() })
                res:close() -- idempotent
            elseif how == "error" then
                error("gave up")
            end
            return "left"
        end)
        if how == "error" then
            raises("gave up", function() s:run() end)
            assert.equal("failed", t.status)
        else
            assert.is_true(s:run())
            assert.equal("done", t.status)
        end
        assert.equal(0, s.nflight)
        assert.same({}, s.multi:get_handles())
        t = nil -- luacheck: ignore
        helper.collect()
        assert.is_true(collectgarbage("count") - base < 2048)
        s:close()
    end

    it("stop the transfer when the reader is closed mid-body", function() abandon("close") end)
    it("stop the transfer when the task ends without reading", function() abandon("end") end)
    it("stop the transfer when the task raises", function() abandon("error") end)

    it("refuse a stream outside a task, in fetch_all, or with a writefunction", function()
        raises("field 'stream' works in xfer.request inside a task", function()
            xfer.request{ url = helper.nginx("/"), stream = true }
        end)
        raises("field 'stream' works in xfer.request inside a task", function()
            xfer.fetch_all{ { url = helper.nginx("/"), stream = true } }
        end)
        local s = coro.new()
        -- spawn runs the task at once, and raises its error
        raises("no writefunction or headerfunction", function()
            s:spawn(function()
                s:request{ url = helper.nginx("/"), stream = true, writefunction = print }
            end)
        end)
        -- the reader outside a task
        local res
        s:spawn(function()
            res = assert(s:request{ url = helper.nginx("/1m.bin"), stream = true })
        end)
        assert.is_true(s:run()) -- the task ended: its stream was closed
        assert.same({ nil, "closed" }, { res.body_reader() })
        s:close()
    end)
end)

describe("xfer.sleep", function()
    setup(helper.start)
    teardown(function()
        xfer.close_idle()
        helper.stop()
    end)

    for _, driver in ipairs({ "run", "luv" }) do
        it("wake tasks in deadline order, without blocking transfers (" .. driver .. ")", function()
            local s = coro.new{ driver = driver }
            local order = {}
            local t0 = xfer.now_ms()
            for _, d in ipairs({ 0.06, 0.02, 0.04, 0, 0.02 }) do
                s:spawn(function()
                    s:sleep(d)
                    order[#order + 1] = d
                end)
            end
            -- a transfer of 200 ms runs meanwhile, and sleepers wake during it
            local done_at
            s:spawn(function()
                assert(s:request(helper.fault("/sleep?ms=200")))
                done_at = #order
            end)
            assert.is_true(s:run())
            local took = xfer.now_ms() - t0
            assert.same({ 0, 0.02, 0.02, 0.04, 0.06 }, order)
            assert.equal(5, done_at)
            assert.is_true(took >= 200 and took < 2000, took)
            s:close()
        end)
    end

    it("sleep with nothing in flight, and between requests", function()
        local t0 = xfer.now_ms()
        local steps = {}
        xfer.spawn(function()
            xfer.sleep(0.05)
            steps[#steps + 1] = xfer.now_ms() - t0
            assert(xfer.request(helper.nginx("/1k.bin")))
            xfer.sleep(0.05)
            steps[#steps + 1] = xfer.now_ms() - t0
        end)
        assert.is_true(xfer.run())
        assert.equal(2, #steps)
        assert.is_true(steps[1] >= 49, steps[1])
        assert.is_true(steps[2] >= steps[1] + 49, steps[2])
    end)

    it("a luv timer of the program runs while a task sleeps (luv driver)", function()
        local s = coro.new{ driver = "luv" }
        local ticks = 0
        local timer = uv.new_timer()
        timer:start(5, 5, function() ticks = ticks + 1 end)
        local at
        s:spawn(function()
            s:sleep(0.1)
            at = ticks
        end)
        assert.is_true(s:run())
        timer:close()
        uv.run("nowait") -- luv 1.44 crashes at exit on a handle never freed
        assert.is_true(at >= 5, at)
        s:close()
    end)

    it("raise outside a task, and on a bad duration", function()
        raises("xfer.sleep must be called inside a task", function() xfer.sleep(0.01) end)
        raises("xfer.sleep must be called inside a task", function()
            coroutine.wrap(function() xfer.sleep(0) end)()
        end)
        for _, bad in ipairs({ -1, "1", 0 / 0 }) do
            raises("bad argument #1 to 'sleep'", function()
                xfer.spawn(function() xfer.sleep(bad) end)
            end)
        end
    end)
end)

describe("request bodies from functions and readers", function()
    setup(helper.start)
    teardown(function()
        xfer.close_idle()
        helper.stop()
    end)

    for _, method in ipairs({ "PUT", "POST", "PATCH", "DELETE" }) do
        it(method .. " from a function: chunked, or sized by Content-Length", function()
            local res = assert(xfer.request{ url = helper.fault("/echo"), method = method,
                                             body = chunks{ "hello ", "", "world" } })
            assert.equal("11", res.headers["x-body-length"])
            local head, body = echoed(res)
            assert.truthy(head:find("^" .. method .. " /echo HTTP/1.1\r\n"), head)
            assert.truthy(head:find("\r\nTransfer-Encoding: chunked\r\n", 1, true), head)
            assert.is_nil(head:find("Content-Length", 1, true))
            assert.equal("6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n", body)

            res = assert(xfer.request{ url = helper.fault("/echo"), method = method,
                                       body = chunks{ "hello ", "world" },
                                       headers = { ["Content-Length"] = "11" } })
            head, body = echoed(res)
            assert.truthy(head:find("\r\nContent-Length: 11\r\n", 1, true), head)
            assert.is_nil(head:find("chunked", 1, true))
            assert.equal("hello world", body)
        end)
    end

    it("the readfunction option with any method, sized by infilesize or postfieldsize", function()
        for _, case in ipairs({
            { method = "PUT", readfunction = chunks{ "abc" } },
            { method = "POST", post = true, readfunction = chunks{ "abc" } },
            { method = "PATCH", readfunction = chunks{ "abc" }, infilesize = 3 },
            { method = "POST", readfunction = chunks{ "abc" }, postfieldsize = 3 },
            { upload = true, readfunction = chunks{ "abc" } }, -- PUT
            { post = true, readfunction = chunks{ "abc" } },   -- POST
        }) do
            case.url = helper.fault("/echo")
            local res = assert(xfer.request(case))
            assert.equal("3", res.headers["x-body-length"])
            local head = echoed(res)
            local m = case.method or (case.upload and "PUT" or "POST")
            assert.truthy(head:find("^" .. m .. " "), head)
            if case.infilesize or case.postfieldsize then
                assert.truthy(head:find("\r\nContent-Length: 3\r\n", 1, true), head)
            else
                assert.truthy(head:find("\r\nTransfer-Encoding: chunked\r\n", 1, true), head)
            end
        end
    end)

    it("a reader object (a file handle), also inside a task", function()
        local dir = helper.tmpdir()
        local path = dir .. "/body"
        local data = string.rep("0123456789", 30000) -- 300 KB, several reads
        helper.writefile(path, data)
        local f = assert(io.open(path, "rb"))
        local res = assert(xfer.request{ url = helper.fault("/echo"), method = "PUT",
                                         body = f, infilesize = #data })
        f:close()
        assert.equal(tostring(#data), res.headers["x-body-length"])
        local _, body = echoed(res)
        assert.is_true(body == data)
        local t = xfer.spawn(function()
            local g = assert(io.open(path, "rb"))
            local r = assert(xfer.request{ url = helper.fault("/echo"), method = "POST",
                                           body = g })
            g:close()
            return r.headers["x-body-length"]
        end)
        assert.is_true(xfer.run())
        assert.same({ true, tostring(#data) }, { t:wait() })
        os.remove(path)
        os.remove(dir)
    end)

    it("a reader that fails stops the transfer", function()
        local res, err = xfer.request{ url = helper.fault("/echo"), method = "PUT",
                                       body = function() return nil, "disk on fire" end }
        assert.is_nil(res)
        assert.equal("ABORTED_BY_CALLBACK", err.name)
    end)

    it("refuse a body that cannot be sent as asked", function()
        local url = helper.fault("/echo")
        raises("a HEAD request has no body", function()
            xfer.request{ url = url, method = "HEAD", body = chunks{ "x" } }
        end)
        raises("field 'body' must be a string, a function or a reader", function()
            xfer.request{ url = url, method = "PUT", body = 42 }
        end)
        raises("field 'body' must be a string, a function or a reader", function()
            xfer.request{ url = url, method = "PUT", body = {} }
        end)
        raises("not both", function()
            xfer.request{ url = url, body = chunks{ "x" }, readfunction = chunks{ "y" } }
        end)
        raises("'postfields' and a body function", function()
            xfer.request{ url = url, postfields = "a", readfunction = chunks{ "y" } }
        end)
        raises("'httpget' asks for no body", function()
            xfer.request{ url = url, httpget = true, body = chunks{ "y" } }
        end)
        raises("given twice", function()
            xfer.request{ url = url, body = chunks{ "y" }, infilesize = 1, postfieldsize = 2 }
        end)
        raises("the request body's reader returned a number", function()
            xfer.request{ url = url, method = "PUT", body = function() return 5 end }
        end)
        -- a Content-Length that the body does not match fails the transfer
        local res, err = xfer.request{ url = url, method = "PUT", body = chunks{ "abc" },
                                       infilesize = 3, headers = { ["Content-Length"] = "4" } }
        assert.is_nil(res)
        assert.equal("BAD_FUNCTION_ARGUMENT", err.name)
    end)
end)
