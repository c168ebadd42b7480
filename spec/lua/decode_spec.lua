-- Content decoding from Lua: the easy options by their lowercase names
-- (accept_encoding, http_content_decoding, maxfilesize_large, ...) and
-- getinfo's size_delivered; accept_encoding in xfer.request, fetch_all and
-- the coroutine API; a decoder's fault is a value (61), as the others are.
local xfer = require "xfer"
local helper = require "spec.lua.helper"

local plain, coded

describe("content decoding", function()
    setup(function()
        helper.start()
        plain = helper.readfile(helper.DECODE_FIXTURES .. "/plain.txt")
        coded = helper.readfile(helper.DECODE_FIXTURES .. "/plain.gz.br")
    end)
    teardown(function()
        xfer.close_idle()
        helper.stop()
    end)

    it("xfer.easy: accept_encoding decodes; getinfo tells both sizes", function()
        local e, body = helper.easy(helper.fault("/enc/plain.gz.br"))
        e:setopt{ accept_encoding = "" }
        assert.is_true(e:perform())
        assert.equal(plain, body())
        assert.equal(#coded, e:getinfo_size_download_t())
        assert.equal(#plain, e:getinfo_size_delivered())
        assert.equal(#coded, e:getinfo("content_length_download_t"))
        e:close()
        -- the option unset, or decoding off: the body as sent
        e, body = helper.easy(helper.fault("/enc/plain.gz.br"))
        e:setopt_accept_encoding("br")
        e:setopt_http_content_decoding(false)
        assert.is_true(e:perform())
        assert.equal(coded, body())
        e:close()
    end)

    it("xfer.easy: the other options, and what is refused", function()
        local e = helper.easy(helper.fault("/enc/zeros-1g.zst"))
        e:setopt{ accept_encoding = "zstd", maxfilesize_large = 1000000 }
        local ok, err = e:perform()
        assert.is_nil(ok)
        assert.equal(63, err.code)
        assert.equal("FILESIZE_EXCEEDED", err.name)
        e:setopt_maxfilesize(0)
        local okset = pcall(e.setopt_http_transfer_decoding, e, false)
        assert.is_false(okset)
        e:setopt_http_transfer_decoding(true)
        e:close()
    end)

    it("xfer.request and fetch_all take accept_encoding", function()
        local res = assert(xfer.request{ url = helper.fault("/enc/plain.zst"),
                                         accept_encoding = "" })
        assert.equal(plain, res.body)
        assert.equal("zstd", res.headers["Content-Encoding"])
        assert.equal(#plain, res.info.size_delivered)
        res = assert(xfer.request{ url = helper.fault("/enc/plain.zst") })
        assert.equal(helper.readfile(helper.DECODE_FIXTURES .. "/plain.zst"), res.body)
        local results = assert(xfer.fetch_all({
            { url = helper.fault("/enc/plain.gz"), accept_encoding = "gzip" },
            { url = helper.nginx("/gz/1m.bin"), accept_encoding = "" },
            { url = helper.fault("/enc/plain.br?flip=100"), accept_encoding = "" },
        }))
        assert.equal(plain, results[1].body)
        assert.equal(string.rep("abcdefghijklmnopqrstuvwxyz", 40330):sub(1, 1048576),
                     results[2].body)
        assert.equal(61, results[3].err and results[3].err.code or results[3].code)
    end)

    it("a decoder's fault is nil, err (61)", function()
        local res, err = xfer.request{ url = helper.fault("/enc/plain.gz?ce=compress"),
                                       accept_encoding = "" }
        assert.is_nil(res)
        assert.equal(61, err.code)
        assert.equal("BAD_CONTENT_ENCODING", err.name)
        assert.truthy(err.message:find("compress", 1, true), err.message)
    end)

    it("the coroutine API decodes too", function()
        local bodies = {}
        for i, f in ipairs({ "plain.gz", "plain.zz", "plain.br", "plain.zz.zst.br" }) do
            xfer.spawn(function()
                local res = assert(xfer.request{ url = helper.fault("/enc/" .. f),
                                                 accept_encoding = "" })
                bodies[i] = res.body
            end)
        end
        assert.is_true(xfer.run())
        for i = 1, 4 do assert.equal(plain, bodies[i]) end
    end)
end)
