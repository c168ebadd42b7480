-- examples/poll_loop.lua: driving a multi handle from a plain loop in Lua,
-- with no event library: perform() does what is ready, wait() sleeps in
-- poll() until a socket of the multi handle is ready or the timeout passes.
--
--   lua examples/poll_loop.lua URL [URL...]
--
-- The same shape fits any program that already has a loop of its own (a
-- game loop, a worker's main loop): call perform() once per turn, and
-- wait() only when there is nothing else to do.
local xfer = require "xfer"

local urls = { ... }
if #urls == 0 then
    io.stderr:write("usage: lua examples/poll_loop.lua URL [URL...]\n")
    os.exit(2)
end

local m = xfer.multi{ max_total_connections = 4 }
local sizes, lines = {}, {}
for i, url in ipairs(urls) do
    sizes[i] = 0
    assert(m:add_handle(xfer.easy{
        url = url,
        private = i,
        writefunction = function(chunk) sizes[i] = sizes[i] + #chunk end,
    }))
end

local ok_count, connects = 0, 0
local running = #urls
while running > 0 do
    -- Run every transfer that can make progress now.
    running = assert(m:perform())
    -- Collect the transfers that ended.
    while true do
        local easy, ok, err = m:info_read()
        if not easy then break end
        local i = easy:getinfo_private()
        if ok then
            ok_count = ok_count + 1
            lines[i] = ("%d %d bytes %s"):format(easy:getinfo_response_code(),
                                                sizes[i], urls[i])
        else
            lines[i] = ("failed %s: %s"):format(urls[i], tostring(err))
        end
        connects = connects + easy:getinfo_num_connects()
        m:remove_handle(easy)
        easy:close()
    end
    -- Sleep until there is something to do (at most 1 s: timeouts are
    -- checked by the next perform).
    if running > 0 then assert(m:wait(1000)) end
end

for i = 1, #urls do print(lines[i]) end
print(("%d ok, %d failed, %d connections"):format(ok_count, #urls - ok_count, connects))
m:close()
