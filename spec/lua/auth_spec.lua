-- HTTP authentication from Lua: the easy options by their lowercase names
-- (userpwd, username, password, httpauth, xoauth2_bearer), xfer.AUTH_*,
-- getinfo's httpauth_avail and httpauth_used, xfer.request, and the
-- command's -u, --basic, --digest, --anyauth and --oauth2-bearer, against
-- nginx (Basic, Bearer) and the Digest server (spec/support/authserver.c).
local xfer = require "xfer"
local helper = require "spec.lua.helper"

local PW = "s3cret:pw"

describe("authentication", function()
    setup(function() helper.start() end)
    teardown(function()
        xfer.close_idle()
        helper.stop()
    end)

    it("has libcurl's HTTPAUTH values", function()
        assert.equal(1, xfer.AUTH_BASIC)
        assert.equal(2, xfer.AUTH_DIGEST)
        assert.equal(64, xfer.AUTH_BEARER)
        assert.equal(-17, xfer.AUTH_ANY)   -- ~DIGEST_IE, as a long
        assert.equal(-18, xfer.AUTH_ANYSAFE)
        assert.equal(2147483648, xfer.AUTH_ONLY)
        assert.is_true(helper.is_integer(xfer.AUTH_ANY))
    end)

    it("xfer.easy: Basic at once, Digest after the 401, getinfo tells", function()
        local e, body = helper.easy(helper.nginx("/basic/index.html"))
        e:setopt{ userpwd = "alice:" .. PW }
        assert.is_true(e:perform())
        assert.equal("hello from nginx\n", body())
        assert.equal(xfer.AUTH_BASIC, e:getinfo_httpauth_used())
        assert.equal(0, e:getinfo_httpauth_avail())
        e:close()
        e, body = helper.easy(helper.authsrv("/digest/x?basic=1&algo=SHA-256"))
        e:setopt{ username = "alice", password = PW, httpauth = xfer.AUTH_ANY }
        assert.is_true(e:perform())
        assert.matches("^ok scheme=digest algo=SHA%-256 qop=auth nc=1 ", body())
        assert.equal(xfer.AUTH_DIGEST, e:getinfo("httpauth_used"))
        assert.equal(xfer.AUTH_BASIC + xfer.AUTH_DIGEST, e:getinfo().httpauth_avail)
        e:close()
    end)

    it("xfer.easy: refused credentials give the 401, bad values raise", function()
        local e, body = helper.easy(helper.authsrv("/digest/x"))
        e:setopt{ userpwd = "alice:nope", httpauth = xfer.AUTH_DIGEST }
        assert.is_true(e:perform())
        assert.equal(401, e:getinfo_response_code())
        assert.matches("wrong response", body())
        e:close()
        e = xfer.easy{ url = helper.nginx("/") }
        assert.is_false(pcall(e.setopt_httpauth, e, true))
        local ok, err = pcall(e.setopt_httpauth, e, xfer.AUTH_NTLM)
        assert.is_false(ok)
        assert.matches("not built in", tostring(err))
        e:close()
        -- a control byte in the bearer token: 43 before anything is sent
        e = helper.easy(helper.fault("/echo"))
        e:setopt{ httpauth = xfer.AUTH_BEARER, xoauth2_bearer = "a\r\nX: y" }
        local okp, perr = e:perform()
        assert.is_nil(okp)
        assert.equal(43, perr.code)
        e:close()
    end)

    it("xfer.request takes them; Bearer over h2", function()
        local res = assert(xfer.request{ url = helper.authsrv("/digest/x"),
                                         method = "POST", body = "a=1",
                                         userpwd = "alice:" .. PW,
                                         httpauth = xfer.AUTH_DIGEST })
        assert.equal(200, res.status)
        assert.matches("method=POST body=3\n$", res.body)
        assert.equal(xfer.AUTH_DIGEST, res.info.httpauth_used)
        res = assert(xfer.request{ url = helper.h2c("/bearer/index.html"),
                                   http_version = xfer.HTTP_VERSION_2_PRIOR_KNOWLEDGE,
                                   httpauth = xfer.AUTH_BEARER,
                                   xoauth2_bearer = "xfer-token" })
        assert.equal(200, res.status)
        assert.equal("hello from nginx\n", res.body)
        -- credentials never follow to another host
        local to = ("http://localhost:%d/echo"):format(helper.FAULT_PORT)
        res = assert(xfer.request{ url = helper.fault("/redirect/302?to=" .. to),
                                   userpwd = "alice:" .. PW, followlocation = true })
        assert.matches("GET /echo", res.body)
        assert.is_nil(res.body:find("Authorization", 1, true))
    end)

    describe("the xfer command", function()
        local LUA = helper.interpreter()
        local function run(argv)
            local parts = { LUA, "bin/xfer", "--json" }
            for _, a in ipairs(argv) do parts[#parts + 1] = helper.q(a) end
            local p = io.popen(table.concat(parts, " ") .. " 2>/dev/null </dev/null")
            local out = p:read("*a")
            p:close()
            return out
        end

        it("-u, --basic, --digest, --anyauth, --oauth2-bearer", function()
            assert.matches('"status":200', run{ "-u", "alice:" .. PW,
                                                helper.nginx("/basic/index.html") })
            assert.matches('"status":200', run{ "--basic", "-u", "alice:" .. PW,
                                                helper.nginx("/basic/index.html") })
            assert.matches('"status":401', run{ "-u", "alice:" .. PW,
                                                helper.authsrv("/digest/x") })
            assert.matches('"status":200', run{ "--digest", "-u", "alice:" .. PW,
                                                helper.authsrv("/digest/x?algo=SHA-256") })
            assert.matches('"status":200', run{ "--anyauth", "-u", "alice:" .. PW,
                                                helper.authsrv("/digest/x?basic=1") })
            assert.matches('"status":200', run{ "--oauth2-bearer", "xfer-token",
                                                helper.nginx("/bearer/index.html") })
            assert.matches('"status":401', run{ "--oauth2-bearer", "wrong",
                                                helper.nginx("/bearer/index.html") })
        end)
    end)
end)
