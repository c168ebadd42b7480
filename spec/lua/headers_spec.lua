-- xfer.headers: case-insensitive lookup, repeated fields, order, and the
-- raw lines of 1xx and redirect responses left out.
local xfer = require "xfer"
local headers = require "xfer.headers"
local helper = require "spec.lua.helper"

local function raw(lines)
    local t = {}
    for i, l in ipairs(lines) do t[i] = l .. "\r\n" end
    return headers.wrap(t)
end

describe("xfer.headers", function()
    setup(helper.start)
    teardown(function()
        xfer.close_idle() -- the connections kept for the next request
        helper.stop()
    end)

    it("looks names up in any case", function()
        local h = raw{ "HTTP/1.1 200 OK", "Content-Type: text/plain",
                       "X-Thing:   spaced out  ", "" }
        assert.equal("text/plain", h["content-type"])
        assert.equal("text/plain", h["Content-Type"])
        assert.equal("text/plain", h["CONTENT-TYPE"])
        assert.equal("text/plain", h:get("Content-type"))
        assert.equal("spaced out", h["x-thing"])
        assert.is_nil(h["x-missing"])
        assert.is_nil(h:get("x-missing"))
        assert.is_true(headers.is_headers(h))
        assert.is_false(headers.is_headers({}))
    end)

    it("keeps repeated fields, joined and one by one", function()
        local h = raw{ "HTTP/1.1 200 OK", "Set-Cookie: a=1", "X-A: 1",
                       "set-cookie: b=2", "SET-COOKIE: c=3", "" }
        assert.equal("a=1, b=2, c=3", h["set-cookie"])
        assert.same({ "a=1", "b=2", "c=3" }, h:all("set-cookie"))
        assert.same({ "a=1", "b=2", "c=3" }, h:all("Set-Cookie"))
        assert.same({ "1" }, h:all("x-a"))
        assert.same({}, h:all("x-none"))
    end)

    it("makes the same table of the lines in one string (from_block)", function()
        local block = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
                      .. "Set-Cookie: a=1\r\nX-Folded: one\r\n  two\r\n"
                      .. "set-cookie: b=2\nX-Last: end"
        local h = headers.from_block(block)
        assert.is_true(headers.is_headers(h))
        assert.is_nil(rawget(h, 1)) -- not split before it is read
        assert.equal("a=1, b=2", h["Set-Cookie"])
        assert.same({ "a=1", "b=2" }, h:all("set-cookie"))
        assert.equal("one two", h["x-folded"])
        assert.equal("end", h["x-last"])
        local got = {}
        for name in h:each() do got[#got + 1] = name end
        assert.same({ "Set-Cookie", "X-Folded", "set-cookie", "X-Last" }, got)
        assert.is_nil(headers.from_block("")["x"])
        assert.has_error(function() headers.from_block({}) end)
    end)

    it("iterates in received order, with the server's spelling", function()
        local h = raw{ "HTTP/1.1 200 OK", "B: 2", "a: 1", "B: 3", "" }
        local got = {}
        for name, value in h:each() do got[#got + 1] = name .. "=" .. value end
        assert.same({ "B=2", "a=1", "B=3" }, got)
    end)

    it("keeps only the final response's fields, and the trailers", function()
        local h = raw{ "HTTP/1.1 100 Continue", "", "HTTP/1.1 302 Found",
                       "Location: /x", "X-Old: 1", "", "HTTP/1.1 200 OK",
                       "X-New: 2", "", "X-Trailer: yes", "" }
        assert.is_nil(h["location"])
        assert.is_nil(h["x-old"])
        assert.equal("2", h["x-new"])
        assert.equal("yes", h["x-trailer"])
        local n = 0
        for _ in h:each() do n = n + 1 end
        assert.equal(2, n)
    end)

    it("joins obs-fold continuation lines", function()
        local h = raw{ "HTTP/1.1 200 OK", "X-Long: one", "  two", "\tthree", "X-B: b", "" }
        assert.equal("one two three", h["x-long"])
        assert.same({ "one two three" }, h:all("x-long"))
        local got = {}
        for name, value in h:each() do got[#got + 1] = name .. "=" .. value end
        assert.same({ "X-Long=one two three", "X-B=b" }, got)
    end)

    it("finds fields named like its methods with get and all", function()
        local h = raw{ "HTTP/1.1 200 OK", "All: x", "Get: y", "" }
        assert.is_function(h.all)
        assert.is_function(h.get)
        assert.equal("x", h:get("all"))
        assert.equal("y", h:get("GET"))
        assert.same({ "x" }, h:all("All"))
    end)

    it("raises on a name that is not a string", function()
        local h = raw{ "HTTP/1.1 200 OK", "A: 1", "" }
        assert.has_error(function() h:get(1) end,
                         "bad argument #1 to 'get' (string expected, got number)")
        assert.has_error(function() h:all() end,
                         "bad argument #1 to 'all' (string expected, got nil)")
        assert.has_error(function() headers.wrap("x") end)
    end)

    it("comes back from a real server, repeated fields included", function()
        local res = assert(xfer.request(helper.fault(
            "/headers?Set-Cookie=a%3D1&X-One=1&Set-Cookie=b%3D2")))
        assert.equal(200, res.status)
        assert.same({ "a=1", "b=2" }, res.headers:all("set-cookie"))
        assert.equal("1", res.headers["X-One"])
        local names = {}
        for name in res.headers:each() do names[#names + 1] = name:lower() end
        local pos = {}
        for i, n in ipairs(names) do pos[n] = pos[n] or i end
        assert.is_true(pos["set-cookie"] < pos["x-one"])
    end)

    it("are those of the last response after redirects and 1xx", function()
        local res = assert(xfer.request{ url = helper.fault("/redirect-chain/2"),
                                         followlocation = true })
        assert.equal(200, res.status)
        assert.equal("done\n", res.body)
        assert.is_nil(res.headers["location"])
        res = assert(xfer.request(helper.fault("/1xx")))
        assert.equal(200, res.status)
        assert.is_nil(res.headers["link"])
        assert.equal("final\n", res.body)
    end)
end)
