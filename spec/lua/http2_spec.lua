-- HTTP/2 from Lua: the options (http_version, pipewait, pipelining,
-- max_concurrent_streams), getinfo http_version, res.http_version of the
-- high-level API, connection sharing, and bad values.  Servers: the TLS
-- nginx with h2 in ALPN (TLS_H2_PORT, verified with TLS_CA) and the plain
-- nginx's cleartext h2 listener (NGINX_H2C_PORT, prior knowledge only).
local xfer = require "xfer"
local coro = require "xfer.coro"
local helper = require "spec.lua.helper"

local H2, H2C, N = helper.h2, helper.h2c, helper.nginx

-- Raises unless f raises; returns the message.
local function raises(f, ...)
    local ok, msg = pcall(f, ...)
    assert(not ok, "expected an error")
    return tostring(msg)
end

-- One blocking transfer; the easy handle afterwards (for getinfo).
local function perform(opts)
    local e, body = helper.easy(opts.url, opts)
    local ok, err = e:perform()
    assert(ok, tostring(err))
    return e, body()
end

describe("HTTP/2", function()
    setup(function()
        helper.start()
        assert(helper.TLS_H2_PORT and helper.NGINX_H2C_PORT and helper.TLS_CA,
               "servers.sh gives TLS_H2_PORT, NGINX_H2C_PORT and TLS_CA")
    end)
    teardown(function()
        xfer.close_idle()
        helper.stop()
    end)

    it("has libcurl's constants for the options and the info", function()
        assert.equal(0, xfer.HTTP_VERSION_NONE)
        assert.equal(2, xfer.HTTP_VERSION_1_1)
        assert.equal(3, xfer.HTTP_VERSION_2_0)
        assert.equal(4, xfer.HTTP_VERSION_2TLS)
        assert.equal(5, xfer.HTTP_VERSION_2_PRIOR_KNOWLEDGE)
        assert.equal(0, xfer.PIPE_NOTHING)
        assert.equal(2, xfer.PIPE_MULTIPLEX)
        assert.equal(84, xfer.OPT_HTTP_VERSION)
        assert.equal(237, xfer.OPT_PIPEWAIT)
        assert.equal(3, xfer.MOPT_PIPELINING)
        assert.equal(16, xfer.MOPT_MAX_CONCURRENT_STREAMS)
        assert.equal(0x200000 + 46, xfer.INFO_HTTP_VERSION)
    end)

    describe("easy handles", function()
        it("report http_version: h2 over https by ALPN, HTTP/1.1 when asked", function()
            local e, body = perform{ url = H2("/1k.bin"), cainfo = helper.TLS_CA }
            assert.equal(1024, #body)
            assert.equal(xfer.HTTP_VERSION_2_0, e:getinfo_http_version())
            assert.equal(xfer.HTTP_VERSION_2_0, e:getinfo("http_version"))
            assert.equal(xfer.HTTP_VERSION_2_0, e:getinfo().http_version)
            e:close()
            for _, v in ipairs({ xfer.HTTP_VERSION_2TLS, xfer.HTTP_VERSION_2_0 }) do
                e = perform{ url = H2("/1k.bin"), cainfo = helper.TLS_CA,
                             http_version = v }
                assert.equal(xfer.HTTP_VERSION_2_0, e:getinfo_http_version(), v)
                e:close()
            end
            e = perform{ url = H2("/1k.bin"), cainfo = helper.TLS_CA,
                         http_version = xfer.HTTP_VERSION_1_1 }
            assert.equal(xfer.HTTP_VERSION_1_1, e:getinfo_http_version())
            e:close()
        end)

        it("speak h2c over http with prior knowledge only", function()
            local e, body = perform{ url = H2C("/16k.bin"),
                                     http_version = xfer.HTTP_VERSION_2_PRIOR_KNOWLEDGE }
            assert.equal(16384, #body)
            assert.equal(xfer.HTTP_VERSION_2_0, e:getinfo_http_version())
            e:close()
            -- 2TLS over http is HTTP/1.1, as with libcurl
            e = perform{ url = N("/1k.bin"), http_version = xfer.HTTP_VERSION_2TLS }
            assert.equal(xfer.HTTP_VERSION_1_1, e:getinfo_http_version())
            e:close()
            e = perform{ url = N("/1k.bin") }
            assert.equal(xfer.HTTP_VERSION_1_1, e:getinfo_http_version())
            e:close()
        end)

        it("take the options by setopt, setopt_<name> and in tables", function()
            local e = xfer.easy()
            e:setopt("http_version", xfer.HTTP_VERSION_1_1)
            e:setopt_pipewait(true)
            e:setopt{ http_version = xfer.HTTP_VERSION_2TLS, pipewait = 0 }
            e:setopt_http_version(xfer.HTTP_VERSION_NONE)
            e:close()
            local m = xfer.multi{ pipelining = xfer.PIPE_MULTIPLEX,
                                  max_concurrent_streams = 10 }
            m:setopt("pipelining", xfer.PIPE_NOTHING)
            m:setopt_max_concurrent_streams(0) -- the default again
            m:close()
        end)
    end)

    describe("one multi handle", function()
        -- n transfers of path to the h2 server on m, all added before the
        -- first runs; the sum of num_connects and how many went over h2.
        local function batch(m, n, path, opts)
            local easies, bodies = {}, {}
            for i = 1, n do
                local o = { cainfo = helper.TLS_CA }
                for k, v in pairs(opts or {}) do o[k] = v end
                local e, body = helper.easy(H2(path .. "?i=" .. i), o)
                easies[i], bodies[i] = e, body
                assert(m:add_handle(e))
            end
            local failed = 0
            assert(m:run{ on_done = function(_, ok, err)
                if not ok then
                    failed = failed + 1
                    print(err)
                end
            end })
            assert.equal(0, failed)
            local connects, h2 = 0, 0
            for i = 1, n do
                local e = easies[i]
                connects = connects + e:getinfo_num_connects()
                if e:getinfo_http_version() == xfer.HTTP_VERSION_2_0 then h2 = h2 + 1 end
                m:remove_handle(e)
                e:close()
            end
            return connects, h2, bodies
        end

        it("runs 100 transfers with pipewait over one h2 connection", function()
            local m = xfer.multi()
            local connects, h2, bodies = batch(m, 100, "/1k.bin", { pipewait = true })
            assert.equal(1, connects)
            assert.equal(100, h2)
            for i = 1, 100 do assert.equal(1024, #bodies[i]()) end
            -- and the next batch reuses it
            connects = batch(m, 100, "/16k.bin", { pipewait = true })
            assert.equal(0, connects)
            m:close()
        end)

        it("opens a connection per transfer with pipelining = PIPE_NOTHING", function()
            local m = xfer.multi{ pipelining = xfer.PIPE_NOTHING }
            local connects, h2 = batch(m, 8, "/16k.bin", { pipewait = true })
            assert.equal(8, connects)
            assert.equal(8, h2) -- each one still speaks h2
            m:close()
        end)

        it("puts at most max_concurrent_streams on one connection", function()
            local m = xfer.multi{ max_concurrent_streams = 2 }
            -- 1 MiB bodies: the first streams still run when the others start
            local connects, h2 = batch(m, 8, "/1m.bin", { pipewait = true })
            assert.is_true(connects >= 2, connects .. " connection(s) for 8 transfers")
            assert.equal(8, h2)
            m:close()
        end)
    end)

    describe("the high-level API", function()
        before_each(function() xfer.close_idle() end)

        it("gives res.http_version (1.1, 2.0) beside libcurl's info.http_version", function()
            local res = assert(xfer.request{ url = H2("/1k.bin"), cainfo = helper.TLS_CA })
            assert.equal(200, res.status)
            assert.equal(2, res.http_version) -- 2.0 on 5.3+, 2 before: equal
            assert.equal(xfer.HTTP_VERSION_2_0, res.info.http_version)
            res = assert(xfer.request{ url = H2("/1k.bin"), cainfo = helper.TLS_CA,
                                       http_version = xfer.HTTP_VERSION_1_1 })
            assert.equal(1.1, res.http_version)
            assert.equal(xfer.HTTP_VERSION_1_1, res.info.http_version)
            res = assert(xfer.request(N("/1k.bin")))
            assert.equal(1.1, res.http_version)
            res = assert(xfer.request{ url = H2C("/1k.bin"),
                                       http_version = xfer.HTTP_VERSION_2_PRIOR_KNOWLEDGE })
            assert.equal(2, res.http_version)
            assert.equal(1024, #res.body)
            res = assert(xfer.request{ url = H2("/echo-method"), cainfo = helper.TLS_CA,
                                       method = "DELETE" })
            assert.equal("DELETE\n", res.body)
            assert.equal(2, res.http_version)
        end)

        it("fetch_all shares one h2 connection (pipewait is on by default)", function()
            local list = {}
            for i = 1, 50 do
                list[i] = { url = H2("/files/" .. i .. ".txt"), cainfo = helper.TLS_CA }
            end
            list[51] = { url = H2C("/1k.bin"),
                         http_version = xfer.HTTP_VERSION_2_PRIOR_KNOWLEDGE }
            list[52] = N("/1k.bin")
            local results = assert(xfer.fetch_all(list, { info = true,
                                                          max_total_connections = 0 }))
            local connects = 0
            for i = 1, 50 do
                assert.equal("file " .. i .. "\n", results[i].body)
                assert.equal(2, results[i].http_version)
                connects = connects + results[i].info.num_connects
            end
            assert.equal(1, connects)
            assert.equal(2, results[51].http_version)
            assert.equal(1.1, results[52].http_version)
            -- a request may still ask for a connection of its own
            for i = 1, 4 do list[i].pipewait = false end
            results = assert(xfer.fetch_all({ list[1], list[2], list[3], list[4] },
                                            { info = true, max_total_connections = 0 }))
            assert.equal(4, #results)
        end)

        it("coroutines share one h2 connection too, streams included", function()
            local sched = coro.new{ max_concurrent_streams = 50,
                                    pipelining = xfer.PIPE_MULTIPLEX }
            local got, connects = {}, 0
            for i = 1, 20 do
                sched:spawn(function()
                    local res = assert(sched:request{ url = H2("/files/" .. i .. ".txt"),
                                                      cainfo = helper.TLS_CA })
                    got[i] = res.http_version
                    connects = connects + res.info.num_connects
                end)
            end
            sched:spawn(function()
                local res = assert(sched:request{ url = H2("/1m.bin"), cainfo = helper.TLS_CA,
                                                  stream = true })
                got.stream = res.http_version
                local n = 0
                while true do
                    local chunk, err = res.body_reader()
                    if not chunk then
                        assert(err == nil, tostring(err))
                        break
                    end
                    n = n + #chunk
                end
                got.streamed = n
            end)
            assert(sched:run())
            sched:close()
            for i = 1, 20 do assert.equal(2, got[i]) end
            assert.equal(2, got.stream)
            assert.equal(1048576, got.streamed)
            assert.equal(1, connects)
        end)
    end)

    describe("bad values", function()
        local CONSTANTS = "xfer.HTTP_VERSION_NONE, HTTP_VERSION_1_1, HTTP_VERSION_2_0, "
                          .. "HTTP_VERSION_2TLS or HTTP_VERSION_2_PRIOR_KNOWLEDGE"

        it("raise on http_version, naming the constants", function()
            local e = xfer.easy()
            local cases = {
                { 9, "got 9" }, { -1, "got -1" }, { 1, "got 1 (not built in)" },
                { 30, "got 30 (not built in)" }, { true, "got boolean" },
                { "2", "got string" }, { 2.5, "got 2.5" },
            }
            for _, c in ipairs(cases) do
                for _, f in ipairs({
                    function() e:setopt_http_version(c[1]) end,
                    function() e:setopt("http_version", c[1]) end,
                    function() e:setopt{ http_version = c[1] } end,
                    function() xfer.easy{ http_version = c[1] } end,
                }) do
                    local msg = raises(f)
                    assert.truthy(msg:find("option 'http_version' must be " .. CONSTANTS,
                                           1, true), msg)
                    assert.truthy(msg:find(c[2], 1, true), msg)
                    assert.truthy(msg:find("bad argument #%d"), msg)
                end
            end
            -- and the handle still works
            e:setopt{ url = H2("/1k.bin"), cainfo = helper.TLS_CA,
                      writefunction = function() end }
            assert.is_true(e:perform())
            e:close()
        end)

        it("raise on pipelining and max_concurrent_streams", function()
            local m = xfer.multi()
            local msg = raises(function() m:setopt_pipelining(true) end)
            assert.truthy(msg:find("option 'pipelining' must be xfer.PIPE_NOTHING or "
                                   .. "xfer.PIPE_MULTIPLEX, got boolean", 1, true), msg)
            msg = raises(function() m:setopt("pipelining", 7) end)
            assert.truthy(msg:find("got 7", 1, true), msg)
            msg = raises(function() xfer.multi{ max_concurrent_streams = -1 } end)
            assert.truthy(msg:find("option 'max_concurrent_streams' must be from 1 to "
                                   .. "2147483647 (0: the default, 100), got -1", 1, true), msg)
            msg = raises(function() m:setopt_max_concurrent_streams(2 ^ 31) end)
            assert.truthy(msg:find("got 2147483648", 1, true), msg)
            -- PIPE_HTTP1 is taken (libcurl 7.62+ ignores it too)
            m:setopt_pipelining(xfer.PIPE_HTTP1 + xfer.PIPE_MULTIPLEX)
            m:close()
        end)

        it("raise from the high-level API, naming its argument", function()
            local msg = raises(xfer.request, { url = H2("/"), http_version = 9 })
            assert.truthy(msg:find("bad argument #1 to 'request' (option 'http_version' "
                                   .. "must be", 1, true), msg)
            msg = raises(xfer.fetch_all, { { url = H2("/"), http_version = true } })
            assert.truthy(msg:find("bad argument #1 to 'fetch_all' (request #1: option "
                                   .. "'http_version' must be", 1, true), msg)
            msg = raises(coro.new, { pipelining = true })
            assert.truthy(msg:find("option 'pipelining'", 1, true), msg)
            msg = raises(coro.new, { max_concurrent_streams = -5 })
            assert.truthy(msg:find("option 'max_concurrent_streams'", 1, true), msg)
        end)
    end)
end)
