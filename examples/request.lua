-- examples/request.lua: one request at a time with xfer.request.
--
--   lua examples/request.lua BASE_URL ECHO_URL
--
-- BASE_URL: a server with /index.html; ECHO_URL: one that sends back the
-- request it got (the test suite's fault server has /echo).
local xfer = require "xfer"

local base, echo = arg[1], arg[2]
if not base or not echo then
    io.stderr:write("usage: lua examples/request.lua BASE_URL ECHO_URL\n")
    os.exit(2)
end

-- A GET: a URL is enough. The response is a table.
local res, err = xfer.request(base .. "/index.html")
assert(res, tostring(err))
print(res.status, res.headers["Content-Type"], #res.body, res.info.effective_url)

-- Any method, headers and a body; every easy option by its lowercase name.
res = assert(xfer.request{
    url = echo,
    method = "PUT",
    headers = { ["X-Example"] = "yes", Accept = "text/plain" },
    body = "hello",
    timeout_ms = 5000,
})
local first = res.body:match("^[^\r\n]*")
print(res.status, first, res.headers["x-body-length"])

-- A failure is a value: nil and an error object.
res, err = xfer.request{ url = "http://127.0.0.1:1/", connecttimeout_ms = 2000 }
print(res, err.name, err.code, err.kind)
