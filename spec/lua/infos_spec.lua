-- The getinfo values of #17 from Lua, by their lowercase libcurl names
-- (the C side is spec/c/test_infos.c).
local xfer = require "xfer"
local helper = require "spec.lua.helper"

describe("getinfo", function()
    setup(function() helper.start() end)
    teardown(function()
        xfer.close_idle()
        helper.stop()
    end)

    it("names the response, the request and the connection", function()
        local e = helper.easy(helper.nginx("/redirect-to-1k"))
        assert.is_true(e:perform())
        local i = e:getinfo()
        assert.equal(302, i.response_code)
        assert.equal(helper.nginx("/1k.bin"), i.redirect_url)
        assert.equal("HTTP", i.scheme)
        assert.equal("GET", i.effective_method)
        assert.equal("127.0.0.1", i.local_ip)
        assert.is_true(i.header_size > 0 and i.request_size > 0)
        assert.equal(-1, i.content_length_upload_t)
        assert.equal(0, i.retry_after)
        assert.is_true(i.xfer_id >= 0 and i.conn_id >= 0)
        assert.equal(0, i.os_errno)
        e:close()
        e = helper.easy(helper.nginx("/retry-after"))
        assert.is_true(e:perform())
        assert.equal(120, e:getinfo("retry_after"))
        assert.equal("application/octet-stream", e:getinfo_content_type())
        e:close()
    end)
end)
