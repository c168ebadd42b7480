-- examples/fetch_all.lua: many requests in parallel with xfer.fetch_all.
--
--   lua examples/fetch_all.lua URL [URL...]
--
-- At most 4 requests run at once (one connection each); on_done hears of
-- each as it ends, and the results come back in the order of the list.
local xfer = require "xfer"

local urls = { ... }
if #urls == 0 then
    io.stderr:write("usage: lua examples/fetch_all.lua URL [URL...]\n")
    os.exit(2)
end

local finished = 0
local results = assert(xfer.fetch_all(urls, {
    max_total_connections = 4,
    on_done = function(i, res, err) finished = finished + 1 end,
}))

local ok_count = 0
for i, r in ipairs(results) do
    if r.err then
        print(("failed %s: %s"):format(urls[i], tostring(r.err)))
    else
        ok_count = ok_count + 1
        print(("%d %d bytes %s"):format(r.status, #r.body, urls[i]))
    end
end
print(("%d ok, %d failed, on_done called %d times"):format(ok_count,
      #urls - ok_count, finished))
