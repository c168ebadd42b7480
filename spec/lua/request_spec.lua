-- xfer.request outside coroutines: blocking, one response table or nil, err.
local xfer = require "xfer"
local helper = require "spec.lua.helper"

-- The echo route sends back the raw request: its request line and headers.
local function echo(req)
    req.url = helper.fault("/echo")
    local res = assert(xfer.request(req))
    assert.equal(200, res.status)
    local head, body = res.body:match("^(.-\r\n)\r\n(.*)$")
    return head, body, res
end

local function raises(pattern, f)
    local ok, msg = pcall(f)
    assert.is_false(ok)
    assert.is_string(msg)
    assert.truthy(msg:find(pattern, 1, true), msg)
end

describe("xfer.request", function()
    setup(helper.start)
    teardown(function()
        xfer.close_idle() -- the connections kept for the next request
        helper.stop()
    end)

    it("GETs a URL into a response table", function()
        local res, err = xfer.request(helper.nginx("/index.html"))
        assert.is_nil(err)
        assert.equal(200, res.status)
        assert.equal("hello from nginx\n", res.body)
        assert.equal("text/html", res.headers["Content-Type"])
        assert.equal("17", res.headers["content-length"])
        assert.is_table(res.info)
        assert.equal(helper.nginx("/index.html"), res.info.effective_url)
        assert.equal(200, res.info.response_code)
        assert.is_true(helper.is_integer(res.status))
    end)

    it("takes a request table, and the status of any response", function()
        local res = assert(xfer.request{ url = helper.nginx("/status/404") })
        assert.equal(404, res.status)
        assert.equal("not found\n", res.body)
        res = assert(xfer.request{ url = helper.fault("/status/204") })
        assert.equal(204, res.status)
        assert.equal("", res.body)
    end)

    it("sends methods and bodies", function()
        local head, body = echo{ method = "POST", body = "a=1&b=2" }
        assert.truthy(head:find("^POST /echo HTTP/1.1"))
        assert.truthy(head:find("Content-Length: 7", 1, true))
        assert.equal("a=1&b=2", body)
        head, body = echo{ body = "implied" } -- a body without a method: POST
        assert.truthy(head:find("^POST "))
        assert.equal("implied", body)
        head, body = echo{ method = "PUT", body = "put\0binary" }
        assert.truthy(head:find("^PUT "))
        assert.equal("put\0binary", body)
        head = echo{ method = "PATCH" } -- a body method with no body: empty one
        assert.truthy(head:find("^PATCH "))
        assert.truthy(head:find("Content-Length: 0", 1, true))
        head = echo{ method = "DELETE" }
        assert.truthy(head:find("^DELETE "))
        assert.falsy(head:find("Content-Length", 1, true))
        head = echo{ method = "GET" }
        assert.truthy(head:find("^GET "))
        head = echo{ method = "POST" }
        assert.truthy(head:find("Content-Length: 0", 1, true))
        -- the body as the postfields option, with a method: sent (xfer.http
        -- and xfer.ngx share the rule: xfer.headers.method_and_body)
        head, body = echo{ method = "POST", postfields = "as option" }
        assert.truthy(head:find("^POST "))
        assert.equal("as option", body)
        local res = assert(xfer.request{ url = helper.nginx("/1k.bin"), method = "HEAD" })
        assert.equal(200, res.status)
        assert.equal("", res.body)
        assert.equal("1024", res.headers["content-length"])
    end)

    it("sends headers given as a map, a list, or both", function()
        local head = echo{ headers = {
            "X-Raw: raw",
            ["X-One"] = "1",
            ["X-Num"] = 42,
            ["X-Many"] = { "a", "b" },
            ["X-Empty"] = "",
            Accept = false, -- removes the one xfer would send
        } }
        assert.truthy(head:find("X-Raw: raw\r\n", 1, true))
        assert.truthy(head:find("X-One: 1\r\n", 1, true))
        assert.truthy(head:find("X-Num: 42\r\n", 1, true))
        assert.truthy(head:find("X-Many: a\r\nX-Many: b\r\n", 1, true))
        assert.truthy(head:find("X-Empty:", 1, true))
        assert.falsy(head:find("Accept:", 1, true))
        head = echo{ httpheader = { "X-Given: 1" }, headers = { ["X-Added"] = "2" } }
        assert.truthy(head:find("X-Given: 1", 1, true))
        assert.truthy(head:find("X-Added: 2", 1, true))
    end)

    it("passes every other field on as an easy option", function()
        local res = assert(xfer.request{ url = helper.fault("/redirect-chain/3"),
                                         followlocation = true })
        assert.equal("done\n", res.body)
        assert.equal(3, res.info.redirect_count)
        local head = echo{ useragent = "spec-agent/1" }
        assert.truthy(head:find("User-Agent: spec-agent/1", 1, true))
        local res2, err = xfer.request{ url = helper.fault("/sleep?ms=3000"),
                                        timeout_ms = 100 }
        assert.is_nil(res2)
        assert.equal("OPERATION_TIMEDOUT", err.name)
    end)

    it("returns a failure as nil and an error object", function()
        local res, err = xfer.request("http://127.0.0.1:1/")
        assert.is_nil(res)
        assert.equal(xfer.E_COULDNT_CONNECT, err.code)
        assert.equal("COULDNT_CONNECT", err.name)
        assert.equal("easy", err.kind)
        assert.is_string(err.message)
        assert.matches("^COULDNT_CONNECT %(7%): ", tostring(err))
        res, err = xfer.request{ url = helper.nginx("/status/500"), failonerror = true }
        assert.is_nil(res)
        assert.equal("HTTP_RETURNED_ERROR", err.name)
    end)

    it("reuses its connection for the next request", function()
        local a = assert(xfer.request(helper.nginx("/files/1.txt")))
        local b = assert(xfer.request(helper.nginx("/files/2.txt")))
        assert.equal("file 2\n", b.body)
        assert.is_true(a.info.num_connects <= 1)
        assert.equal(0, b.info.num_connects)
        xfer.close_idle() -- lets the kept connection go
        local c = assert(xfer.request(helper.nginx("/files/3.txt")))
        assert.equal(1, c.info.num_connects)
    end)

    it("streams to a writefunction of the caller's, then collects again", function()
        local got = {}
        local res = assert(xfer.request{ url = helper.nginx("/16k.bin"),
            writefunction = function(chunk) got[#got + 1] = chunk end })
        assert.is_nil(res.body)
        assert.equal(16384, #table.concat(got))
        local lines = {}
        res = assert(xfer.request{ url = helper.nginx("/index.html"),
            headerfunction = function(l) lines[#lines + 1] = l end })
        assert.equal("hello from nginx\n", res.body)
        assert.is_nil(res.headers["content-type"])
        assert.truthy(lines[1]:find("^HTTP/1.1 200"))
        -- the next request on the same handle is back to the defaults
        res = assert(xfer.request(helper.nginx("/index.html")))
        assert.equal("hello from nginx\n", res.body)
        assert.equal("text/html", res.headers["content-type"])
        local head = echo{}
        assert.falsy(head:find("User-Agent", 1, true))
    end)

    it("raises an error of the caller's callback, and goes on", function()
        raises("boom-write", function()
            xfer.request{ url = helper.nginx("/1k.bin"),
                          writefunction = function() error("boom-write") end }
        end)
        raises("boom-progress", function()
            xfer.request{ url = helper.nginx("/1k.bin"),
                          xferinfofunction = function() error("boom-progress") end }
        end)
        assert.equal(200, assert(xfer.request(helper.nginx("/"))).status)
    end)

    it("can be called from inside another request's callback", function()
        local inner
        local res = assert(xfer.request{ url = helper.nginx("/1k.bin"),
            writefunction = function()
                inner = inner or assert(xfer.request(helper.nginx("/files/7.txt")))
            end })
        assert.equal(200, res.status)
        assert.equal("file 7\n", inner.body)
    end)

    it("survives the collector in its callbacks", function()
        local n = 0
        local res = assert(xfer.request{ url = helper.nginx("/1m.bin"),
            writefunction = function(chunk)
                n = n + #chunk
                collectgarbage("collect")
            end })
        assert.equal(1048576, n)
        assert.equal(200, res.status)
        for i = 1, 20 do
            local r = assert(xfer.request(helper.nginx("/files/" .. i .. ".txt")))
            assert.equal("file " .. i .. "\n", r.body)
            collectgarbage("collect")
        end
    end)

    it("raises on misuse, naming the argument", function()
        raises("bad argument #1 to 'request' (URL or request table expected, got number)",
               function() xfer.request(1) end)
        raises("bad argument #1 to 'request' (field 'url' must be a string, got nil)",
               function() xfer.request{} end)
        raises("bad argument #1 to 'request' (unknown option 'bogus')",
               function() xfer.request{ url = helper.nginx("/"), bogus = 1 } end)
        raises("bad argument #1 to 'request' (option 'timeout_ms' must be an integer",
               function() xfer.request{ url = helper.nginx("/"), timeout_ms = "x" } end)
        raises("field 'method' must be a method name",
               function() xfer.request{ url = helper.nginx("/"), method = "GET /x" } end)
        raises("field 'body' must be a string, a function or a reader (an object "
               .. "with a read method), got table",
               function() xfer.request{ url = helper.nginx("/"), body = {} } end)
        raises("field 'headers' must be a table, got string",
               function() xfer.request{ url = helper.nginx("/"), headers = "X: 1" } end)
        raises("header 'X-A' must be a string, a number, a list or false, got boolean",
               function() xfer.request{ url = helper.nginx("/"), headers = { ["X-A"] = true } } end)
        raises("a HEAD request has no body",
               function() xfer.request{ url = helper.nginx("/"), method = "HEAD", body = "x" } end)
        -- and the next request is fine
        assert.equal(200, assert(xfer.request(helper.nginx("/"))).status)
    end)

    it("reports where the caller made the mistake", function()
        local ok, msg = pcall(function() xfer.request(1) end)
        assert.is_false(ok)
        assert.truthy(msg:find("request_spec.lua:%d+: bad argument"), msg)
    end)
end)
