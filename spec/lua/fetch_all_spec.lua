-- xfer.fetch_all outside coroutines: fan-out on the built-in loop, with a
-- pool of easy handles the size of the connection limit.
local xfer = require "xfer"
local helper = require "spec.lua.helper"

local function files(from, to)
    local list = {}
    for i = from, to do list[#list + 1] = helper.nginx("/files/" .. i .. ".txt") end
    return list
end

local function raises(pattern, f)
    local ok, msg = pcall(f)
    assert.is_false(ok)
    assert.is_string(msg)
    assert.truthy(msg:find(pattern, 1, true), msg)
    return msg
end

describe("xfer.fetch_all", function()
    setup(helper.start)
    teardown(function()
        xfer.close_idle() -- the connections kept for the next request
        helper.stop()
    end)

    it("returns the results in the order of the list", function()
        local list = files(1, 50)
        table.insert(list, 10, "http://127.0.0.1:1/")
        table.insert(list, 20, { url = helper.nginx("/status/404") })
        local seen, count = {}, 0
        local results = assert(xfer.fetch_all(list, {
            max_total_connections = 4,
            on_done = function(i, res, err)
                count = count + 1
                assert.is_nil(seen[i])
                seen[i] = true
                if i == 10 then
                    assert.is_nil(res)
                    assert.equal("COULDNT_CONNECT", err.name)
                else
                    assert.is_table(res)
                    assert.is_nil(err)
                end
            end,
        }))
        assert.equal(52, count)
        assert.equal(52, #results)
        local k = 0
        for i, r in ipairs(results) do
            if i == 10 then
                assert.equal("COULDNT_CONNECT", r.err.name)
                assert.is_nil(r.status)
            elseif i == 20 then
                assert.equal(404, r.status)
            else
                k = k + 1
                assert.equal(200, r.status)
                assert.equal("file " .. k .. "\n", r.body)
                assert.equal("application/octet-stream", r.headers["Content-Type"])
                assert.is_nil(r.info)
            end
        end
        assert.same({}, xfer.fetch_all({}))
    end)

    it("runs 1,000 requests on at most 8 connections", function()
        local list = files(0, 999)
        local results = assert(xfer.fetch_all(list, { max_total_connections = 8,
                                                     info = true }))
        local connects = 0
        for i, r in ipairs(results) do
            assert.equal(200, r.status)
            assert.equal("file " .. (i - 1) .. "\n", r.body)
            connects = connects + r.info.num_connects
        end
        assert.is_true(connects <= 8, "connections: " .. connects)
        -- the server's view: never more than 8 at once
        local others = helper.fault_quiet()
        list = {}
        for i = 1, 300 do list[i] = helper.fault("/bytes/" .. (100 + i)) end
        results = assert(xfer.fetch_all(list, { max_total_connections = 8 }))
        for i, r in ipairs(results) do assert.equal(100 + i, #r.body) end
        local peak = helper.fault_peak(others)
        assert.is_true(peak <= 8, "peak " .. peak)
        assert.equal(300, helper.fault_stats().requests)
    end)

    it("keeps to max_host_connections", function()
        local others = helper.fault_quiet()
        local list = {}
        for i = 1, 60 do
            list[i] = i % 2 == 0 and helper.fault("/sleep?ms=5")
                                  or helper.nginx("/files/" .. i .. ".txt")
        end
        local results = assert(xfer.fetch_all(list, { max_total_connections = 8,
                                                     max_host_connections = 2 }))
        for i, r in ipairs(results) do assert.equal(200, r.status, i) end
        local peak = helper.fault_peak(others)
        assert.is_true(peak <= 2, "peak " .. peak)
    end)

    it("re-arms a handle without what the last request set", function()
        local list = {}
        for i = 1, 20 do
            if i % 2 == 1 then
                list[i] = { url = helper.fault("/echo"), method = "POST", body = "odd",
                            headers = { ["X-Odd"] = tostring(i) }, useragent = "odd/1" }
            else
                list[i] = helper.fault("/echo")
            end
        end
        local results = assert(xfer.fetch_all(list, { max_total_connections = 1 }))
        for i, r in ipairs(results) do
            if i % 2 == 1 then
                assert.truthy(r.body:find("^POST "))
                assert.truthy(r.body:find("X-Odd: " .. i, 1, true))
                assert.truthy(r.body:find("User-Agent: odd/1", 1, true))
            else
                assert.truthy(r.body:find("^GET "), r.body)
                assert.falsy(r.body:find("X-Odd", 1, true))
                assert.falsy(r.body:find("User-Agent", 1, true))
            end
        end
    end)

    it("collects info and headers as asked", function()
        local r = assert(xfer.fetch_all(files(1, 3), { info = true }))
        assert.equal(helper.nginx("/files/1.txt"), r[1].info.effective_url)
        r = assert(xfer.fetch_all(files(1, 3), { headers = false }))
        assert.is_nil(r[2].headers)
        assert.equal("file 2\n", r[2].body)
    end)

    it("runs on a multi handle of the caller's, keeping its connections", function()
        local m = xfer.multi{ max_total_connections = 2 }
        assert(xfer.fetch_all(files(1, 4), { multi = m }))
        local r = assert(xfer.fetch_all(files(5, 8), { multi = m, info = true }))
        for _, res in ipairs(r) do assert.equal(0, res.info.num_connects) end
        assert.equal(0, #m:get_handles())
        m:close()
    end)

    it("raises an error of on_done, and cleans up", function()
        local msg = raises("boom-on-done", function()
            xfer.fetch_all(files(1, 20), {
                max_total_connections = 2,
                on_done = function(i) if i == 5 then error("boom-on-done") end end,
            })
        end)
        assert.truthy(msg:find("fetch_all_spec.lua", 1, true))
        raises("boom-write", function()
            xfer.fetch_all({ helper.nginx("/"), { url = helper.nginx("/1k.bin"),
                writefunction = function() error("boom-write") end } })
        end)
        assert.equal(3, #assert(xfer.fetch_all(files(1, 3))))
    end)

    it("can be called from inside another one's on_done", function()
        local inner
        local r = assert(xfer.fetch_all(files(1, 3), {
            on_done = function(i)
                if i == 2 then inner = assert(xfer.fetch_all(files(10, 12))) end
            end,
        }))
        assert.equal(3, #r)
        assert.equal("file 11\n", inner[2].body)
    end)

    it("survives the collector while transfers run", function()
        local list = files(1, 200)
        list[201] = { url = helper.nginx("/1m.bin"), writefunction = (function()
            local chunks = 0
            return function()
                chunks = chunks + 1
                if chunks % 4 == 0 then collectgarbage("collect") end
            end
        end)() }
        local results = assert(xfer.fetch_all(list, {
            max_total_connections = 8,
            on_done = function(i) if i % 10 == 0 then collectgarbage("collect") end end,
        }))
        for i = 1, 200 do assert.equal("file " .. i .. "\n", results[i].body) end
        assert.equal(200, results[201].status)
    end)

    it("raises on misuse, naming the argument", function()
        raises("bad argument #1 to 'fetch_all' (table expected, got string)",
               function() xfer.fetch_all("x") end)
        raises("bad argument #2 to 'fetch_all' (table expected, got number)",
               function() xfer.fetch_all({}, 1) end)
        raises("bad argument #1 to 'fetch_all' (request #2: URL or request table expected, got number)",
               function() xfer.fetch_all({ helper.nginx("/"), 5 }) end)
        raises("field 'max_total_connections' must be a non-negative integer",
               function() xfer.fetch_all({}, { max_total_connections = -1 }) end)
        raises("field 'on_done' must be a function",
               function() xfer.fetch_all({}, { on_done = 1 }) end)
        -- an unknown option is found when its request starts
        local list = files(1, 10)
        list[7] = { url = helper.nginx("/"), bogus = true }
        local msg = raises("bad argument #1 to 'fetch_all' (request #7: unknown option 'bogus')",
                           function() xfer.fetch_all(list, { max_total_connections = 2 }) end)
        assert.truthy(msg:find("fetch_all_spec.lua:%d+:"), msg)
        assert.equal(3, #assert(xfer.fetch_all(files(1, 3))))
    end)
end)
