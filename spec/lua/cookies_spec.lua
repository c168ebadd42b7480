-- Cookies from Lua: the easy options by their lowercase names (cookie,
-- cookiefile, cookiejar, cookiesession, cookielist), getinfo's cookielist,
-- and xfer.request's res.cookies, against nginx's /cookie/ locations
-- (spec/support/nginx_cookie.sh).
local xfer = require "xfer"
local helper = require "spec.lua.helper"

local function host(name, path)
    return ("http://%s:%d%s"):format(name, helper.NGINX_PORT, path)
end

local function resolve()
    return { "a.example.com:" .. helper.NGINX_PORT .. ":127.0.0.1",
             "b.example.com:" .. helper.NGINX_PORT .. ":127.0.0.1" }
end

describe("cookies", function()
    setup(function() helper.start() end)
    teardown(function()
        xfer.close_idle()
        helper.stop()
    end)

    it("has the options by name, and getinfo cookielist", function()
        local e, body = helper.easy(host("a.example.com",
            "/cookie/set?c1=a=1;Path=/&c2=b=2;Path=/cookie/echo"))
        e:setopt{ resolve = resolve(), cookiefile = "" }
        assert.is_true(e:perform())
        local list = e:getinfo_cookielist()
        assert.equal(2, #list)
        assert.matches("^a%.example%.com\tFALSE\t/", list[2])
        e:setopt{ url = host("a.example.com", "/cookie/echo"),
                  cookie = "extra=1" }
        assert.is_true(e:perform())
        assert.equal("set\nb=2; a=1; extra=1\n", body())
        e:setopt{ cookielist = "ALL" }
        assert.same({}, e:getinfo("cookielist"))
        e:close()
    end)

    it("refuses a bad cookielist line, and values of the wrong type", function()
        local e = xfer.easy{}
        assert.has_error(function() e:setopt{ cookielist = "Set-Cookie: x=1" } end)
        assert.has_error(function() e:setopt{ cookiefile = 42 } end)
        e:close()
    end)

    it("xfer.request: res.cookies, and none without the engine", function()
        local res = assert(xfer.request{
            url = host("a.example.com", "/cookie/set?c1=s=1;Path=/;HttpOnly"
                       .. "&c2=d=2;Domain=example.com;Max-Age=600"),
            resolve = resolve(), cookiefile = "" })
        assert.equal(200, res.status)
        assert.equal(2, #res.cookies)
        local by = {}
        for _, c in ipairs(res.cookies) do by[c.name] = c end
        assert.same({ name = "s", value = "1", domain = "a.example.com",
                      path = "/", secure = false, httponly = true,
                      host_only = true }, by.s)
        assert.equal("example.com", by.d.domain)
        assert.is_false(by.d.host_only)
        assert.is_true(by.d.expires > os.time())
        -- the next request on that slot does not see them
        res = assert(xfer.request{ url = host("a.example.com", "/cookie/echo"),
                                   resolve = resolve() })
        assert.equal("\n", res.body)
        assert.is_nil(res.cookies)
    end)

    it("xfer.request: a redirect to another host takes its own cookies", function()
        local to = host("b.example.com", "/cookie/echo")
        local res = assert(xfer.request{
            url = host("a.example.com", "/cookie/redir?c1=d=1;Path=/;"
                       .. "Domain=example.com&to=" .. to),
            resolve = resolve(), cookiefile = "", followlocation = true })
        assert.equal("d=1\n", res.body)
        assert.equal(1, #res.cookies)
    end)

    it("xfer.request: the jar is written when the request returns, and read", function()
        local dir = helper.tmpdir()
        local jar = dir .. "/jar.txt"
        local res = assert(xfer.request{
            url = host("a.example.com", "/cookie/set?c1=j=1;Path=/;Max-Age=600"),
            resolve = resolve(), cookiejar = jar })
        assert.equal(1, #res.cookies)
        local text = helper.readfile(jar)
        assert.matches("^# Netscape HTTP Cookie File\n", text)
        assert.matches("\na%.example%.com\tFALSE\t/\tFALSE\t%d+\tj\t1\n", text)
        res = assert(xfer.request{ url = host("a.example.com", "/cookie/echo"),
                                   resolve = resolve(), cookiefile = jar })
        assert.equal("j=1\n", res.body)
        -- cookiesession drops only session cookies; j has an expiry
        res = assert(xfer.request{ url = host("a.example.com", "/cookie/echo"),
                                   resolve = resolve(), cookiefile = jar,
                                   cookiesession = true })
        assert.equal("j=1\n", res.body)
        helper.sh("rm -rf " .. helper.q(dir))
    end)
end)
