-- Where a connection goes, from Lua: connect_to (a string or a list, as
-- resolve), unix_socket_path, interface, and the socket options by their
-- lowercase libcurl names; a bad interface is a value (45), as the other
-- faults are.
local xfer = require "xfer"
local helper = require "spec.lua.helper"

describe("connecting", function()
    setup(function() helper.start() end)
    teardown(function()
        xfer.close_idle()
        helper.stop()
    end)

    it("connect_to sends the connection elsewhere; Host stays the URL's", function()
        local to = "example.invalid:1234:127.0.0.1:" .. helper.NGINX_PORT
        for _, v in ipairs{ to, { "other.invalid:1:127.0.0.9:9", to } } do
            local e, body = helper.easy("http://example.invalid:1234/peer",
                                        { connect_to = v })
            assert.is_true(e:perform())
            assert.matches(" example.invalid:1234\n$", body())
            e:close()
        end
        assert.has_error(function()
            xfer.easy{ url = "http://example.invalid/", connect_to = { 7 } }
        end, "bad argument #1 to 'easy' (option 'connect_to' must be an array of strings, got number)")
    end)

    it("unix_socket_path reaches nginx's unix listener", function()
        local e, body = helper.easy("http://localhost/peer",
                                    { unix_socket_path = helper.NGINX_UNIX_SOCKET })
        assert.is_true(e:perform())
        assert.matches("^unix: ", body())
        e:close()
    end)

    it("maps the command's connect flags to options", function()
        local args = require "xfer.cli.args"
        local main = require "xfer.cli.main"
        local o = assert(args.parse({ "--connect-to", "a:1:b:2", "--connect-to", "::c:",
            "--unix-socket", "/s", "--interface", "lo", "--local-port", "4000-4009",
            "--happy-eyeballs-timeout-ms", "50", "--dns-servers", "127.0.0.1:53",
            "--keepalive-time", "7", "u" }))
        local e = main.easy_options(o)
        assert.same({ "a:1:b:2", "::c:" }, e.connect_to)
        assert.equal("/s", e.unix_socket_path)
        assert.equal("lo", e.interface)
        assert.equal(4000, e.localport)
        assert.equal(10, e.localportrange)
        assert.equal(50, e.happy_eyeballs_timeout_ms)
        assert.equal("127.0.0.1:53", e.dns_servers)
        assert.is_true(e.tcp_keepalive)
        assert.equal(7, e.tcp_keepidle)
        assert.equal(7, e.tcp_keepintvl)
        assert.is_nil(args.parse({ "--local-port", "9-8", "u" }))
        assert.is_nil(args.parse({ "--connect-to", "a:b", "u" }))
        -- and a real run through nginx's unix socket
        local out = helper.capture(helper.interpreter() .. " bin/xfer -q --json --unix-socket " ..
            helper.q(helper.NGINX_UNIX_SOCKET) .. " http://localhost/peer 2>/dev/null")
        assert.matches('"status":200', out)
    end)

    it("interface, localport and keepalive options; a bad interface is 45", function()
        local e, body = helper.easy(helper.nginx("/peer"),
            { interface = "host!127.0.0.2", tcp_keepalive = true, tcp_keepidle = 5,
              tcp_keepintvl = 2, tcp_keepcnt = 3, happy_eyeballs_timeout_ms = 100 })
        assert.is_true(e:perform())
        assert.matches("^127%.0%.0%.2 ", body())
        e:close()
        e = helper.easy(helper.nginx("/peer"), { interface = "if!nosuchif0" })
        local ok, err = e:perform()
        assert.is_nil(ok)
        assert.equal(45, err.code)
        e:close()
    end)
end)
