-- Proxies from Lua: the options by their lowercase libcurl names on
-- xfer.easy and xfer.request, getinfo http_connectcode, proxy_error and
-- proxyauth_avail/used (a Digest proxy: the auth server's),
-- and the xfer command's proxy flags (-x, -U, -p, --socks5-hostname, ...).
local xfer = require "xfer"
local helper = require "spec.lua.helper"
local args = require "xfer.cli.args"
local main = require "xfer.cli.main"

local function proxy(scheme, port)
    return ("%s://127.0.0.1:%d"):format(scheme, port)
end

describe("proxies", function()
    setup(helper.start)
    teardown(function()
        xfer.close_idle()
        helper.stop()
    end)

    it("goes through an HTTP proxy with credentials (xfer.request)", function()
        local res, err = xfer.request({
            url = helper.nginx("/index.html"),
            proxy = proxy("http", helper.TINYPROXY_AUTH_PORT),
            proxyuserpwd = "puser:ppass",
        })
        assert.is_nil(err)
        assert.equal(200, res.status)
        assert.equal("hello from nginx\n", res.body)
        assert.equal(helper.TINYPROXY_AUTH_PORT, res.info.primary_port)
    end)

    it("tunnels https with CONNECT and reports the proxy's code", function()
        local e, body = helper.easy(helper.h2("/index.html"), {
            proxy = proxy("http", helper.TINYPROXY_PORT),
            cainfo = helper.TLS_CA,
            resolve = { "localhost:" .. helper.TLS_H2_PORT .. ":127.0.0.1" },
        })
        local m = xfer.multi()
        m:add_handle(e)
        helper.drive(m)
        assert.equal(200, e:getinfo("response_code"))
        assert.equal(200, e:getinfo("http_connectcode"))
        assert.equal("hello from nginx\n", body())
        e:close()
        m:close()
    end)

    it("fails a refused CONNECT with RECV_ERROR and the proxy's 407", function()
        local res, err = xfer.request({
            url = helper.h2("/index.html"),
            proxy = proxy("http", helper.TINYPROXY_AUTH_PORT),
        })
        assert.is_nil(res)
        assert.equal("RECV_ERROR", err.name)
    end)

    it("speaks SOCKS5 with proxyheader and socks credentials", function()
        local res, err = xfer.request({
            url = helper.nginx("/index.html"),
            proxy = proxy("socks5h", helper.SOCKS5_AUTH_PORT),
            proxyusername = "suser", proxypassword = "spw",
            proxyheader = { "X-Only-Proxy: 1" },
        })
        assert.is_nil(err)
        assert.equal(200, res.status)
    end)

    it("gives PROXY with proxy_error for a SOCKS refusal", function()
        local e = xfer.easy({ url = helper.nginx("/"),
                              proxy = proxy("socks5h", helper.SOCKS5_AUTH_PORT),
                              writefunction = function() end })
        local m = xfer.multi()
        m:add_handle(e)
        local msgs = helper.drive(m)
        local err = msgs[1][3]
        assert.is_falsy(msgs[1][2])
        assert.equal("PROXY", err.name)
        assert.equal(97, err.code)
        assert.equal(12, e:getinfo("proxy_error")) -- NO_AUTH: no credentials
        e:close()
        m:close()
    end)

    it("answers a Digest proxy's 407 and reports proxyauth_avail/used", function()
        -- the auth server as a proxy (authserver.c): it checks the Digest
        -- answer, then tunnels to the fault server's /echo
        local e, body = helper.easy(
            ("http://127.0.0.1:%d/echo"):format(helper.FAULT_PORT), {
            proxy = proxy("http", helper.AUTH_PORT),
            proxyuserpwd = "alice:s3cret:pw", proxyauth = xfer.AUTH_ANY,
            httpproxytunnel = true,
            proxyheader = { "X-Proxy-Knobs: basic=1&algo=SHA-256" },
        })
        local m = xfer.multi()
        m:add_handle(e)
        helper.drive(m)
        assert.equal(200, e:getinfo("response_code"))
        assert.equal(200, e:getinfo("http_connectcode"))
        assert.equal(xfer.AUTH_DIGEST, e:getinfo("proxyauth_used"))
        assert.equal(xfer.AUTH_BASIC + xfer.AUTH_DIGEST,
                     e:getinfo("proxyauth_avail"))
        local b = body()
        assert.truthy(b:find("GET /echo HTTP/1.1", 1, true), b)
        assert.falsy(b:find("Proxy-Authorization", 1, true), b)
        e:close()
        m:close()
    end)

    it("has the constants", function()
        assert.equal(7, xfer.PROXY_SOCKS5_HOSTNAME)
        assert.equal(1, xfer.AUTH_BASIC)
        assert.equal(0, xfer.HEADER_UNIFIED)
    end)

    it("maps the command's proxy flags to options", function()
        local o = assert(args.parse({ "-x", "http://p:3128", "-U", "u:p", "-p",
                                      "--noproxy", "a.test", "--proxy-header",
                                      "X-P: 1", "--proxy-insecure", "u" }))
        local e = main.easy_options(o)
        assert.equal("http://p:3128", e.proxy)
        assert.equal("u:p", e.proxyuserpwd)
        assert.is_true(e.httpproxytunnel)
        assert.equal("a.test", e.noproxy)
        assert.same({ "X-P: 1" }, e.proxyheader)
        assert.is_false(e.proxy_ssl_verifypeer)
        o = assert(args.parse({ "--socks5-hostname", "h:1080", "u" }))
        assert.equal("socks5h://h:1080", main.easy_options(o).proxy)
        o = assert(args.parse({ "-x", "h:1", "--socks4a", "s:2", "u" }))
        assert.equal("socks4a://s:2", main.easy_options(o).proxy)
        assert.is_nil(args.parse({ "-x", "a b", "u" }))
    end)

    it("runs the command through a SOCKS5 proxy", function()
        local dir = os.tmpname()
        os.remove(dir)
        local cmd = ("LUA_PATH='lua/?.lua;lua/?/init.lua;;' %s bin/xfer -q "
                     .. "--socks5-hostname 127.0.0.1:%d -o %s %s"):format(
            arg and arg[-1] or "lua5.4", helper.SOCKS5_PORT, dir,
            helper.nginx("/index.html"))
        local ok = os.execute(cmd)
        assert.is_true(ok == true or ok == 0)
        os.execute("rm -rf " .. dir)
    end)
end)
