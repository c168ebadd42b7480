-- examples/coroutines.lua: one coroutine per job, all in parallel.
--
--   lua examples/coroutines.lua URL [URL...]
--
-- Inside xfer.spawn, xfer.request and xfer.fetch_all yield instead of
-- blocking, so the code of each job reads top to bottom while all jobs
-- share one multi handle. xfer.run() drives them until every one is done.
local xfer = require "xfer"

local urls = { ... }
if #urls == 0 then
    io.stderr:write("usage: lua examples/coroutines.lua URL [URL...]\n")
    os.exit(2)
end

local lines = {}

-- One task per URL: a GET, then a HEAD of the same URL.
for i, url in ipairs(urls) do
    xfer.spawn(function()
        local res, err = xfer.request(url)
        if not res then
            lines[i] = ("failed %s: %s"):format(url, tostring(err))
            return
        end
        local head = assert(xfer.request{ url = url, method = "HEAD" })
        lines[i] = ("%d %d bytes, HEAD %d %s"):format(res.status, #res.body,
                                                     head.status, url)
    end)
end

-- A task can fan out too, and wait for other tasks.
local all = xfer.spawn(function()
    local results = xfer.fetch_all(urls, { max_total_connections = 2 })
    local n = 0
    for _, r in ipairs(results) do
        if r.status then n = n + 1 end
    end
    return n
end)

assert(xfer.run())

for i = 1, #urls do print(lines[i]) end
local ok, n = all:wait()
print(("fetch_all in a task: %s, %d responses"):format(tostring(ok), n))
