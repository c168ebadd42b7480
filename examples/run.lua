-- examples/run.lua: the libcurl-shaped layer on the built-in loop.
--
--   lua examples/run.lua URL [URL...]
--
-- Every URL becomes an easy handle on one multi handle that opens at most 4
-- connections; m:run() drives them all on xfer's own libuv loop, in C, and
-- calls Lua only for the write callbacks and on_done. This is the fast path.
local xfer = require "xfer"

local urls = { ... }
if #urls == 0 then
    io.stderr:write("usage: lua examples/run.lua URL [URL...]\n")
    os.exit(2)
end

local m = xfer.multi{ max_total_connections = 4 }
local bodies, lines = {}, {}
for i, url in ipairs(urls) do
    local parts = {}
    bodies[i] = parts
    assert(m:add_handle(xfer.easy{
        url = url,
        private = i, -- any Lua value; easy:getinfo_private() gives it back
        writefunction = function(chunk) parts[#parts + 1] = chunk end,
    }))
end

local ok_count, connects = 0, 0
assert(m:run{ on_done = function(easy, ok, err)
    local i = easy:getinfo_private()
    if ok then
        ok_count = ok_count + 1
        lines[i] = ("%d %d bytes %s"):format(easy:getinfo_response_code(),
                                            #table.concat(bodies[i]), urls[i])
    else
        lines[i] = ("failed %s: %s"):format(urls[i], tostring(err))
    end
    connects = connects + easy:getinfo_num_connects()
    m:remove_handle(easy) -- a finished handle stays added until removed
    easy:close()
end })

for i = 1, #urls do print(lines[i]) end
print(("%d ok, %d failed, %d connections"):format(ok_count, #urls - ok_count, connects))
m:close()
