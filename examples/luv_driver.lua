-- examples/luv_driver.lua: xfer inside a luv program.
--
--   lua examples/luv_driver.lua URL [URL...]
--
-- The program owns the loop (uv.run) and does its own work on it -- here a
-- timer that ticks every millisecond -- while require("xfer.luv") drives
-- the transfers on the same loop through xfer's socket and timer callbacks.
-- lua/xfer/luv.lua is the worked example of writing such a driver for any
-- other event loop.
local uv = require "luv"
local xfer = require "xfer"
local xluv = require "xfer.luv"

local urls = { ... }
if #urls == 0 then
    io.stderr:write("usage: lua examples/luv_driver.lua URL [URL...]\n")
    os.exit(2)
end

-- The program's own work on the loop.
local ticks = 0
local ticker = uv.new_timer()
ticker:start(0, 1, function() ticks = ticks + 1 end)

local m = xfer.multi{ max_total_connections = 4 }
local sizes, lines = {}, {}
local left, ok_count, connects = #urls, 0, 0
local driver = xluv.attach(m, {
    on_done = function(easy, ok, err)
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
        left = left - 1
        if left == 0 then ticker:close() end -- the program's work is done too
    end,
})

for i, url in ipairs(urls) do
    sizes[i] = 0
    assert(m:add_handle(xfer.easy{
        url = url,
        private = i,
        writefunction = function(chunk) sizes[i] = sizes[i] + #chunk end,
    }))
end

-- The program's loop. It returns when nothing is left on it: the idle
-- keep-alive connections xfer keeps do not hold it.
uv.run()
driver:check()   -- raises an error a callback raised, if any
driver:close()   -- the multi handle could now go to m:run() or another loop

for i = 1, #urls do print(lines[i]) end
print(("%d ok, %d failed, %d connections"):format(ok_count, #urls - ok_count, connects))
print("the timer ran alongside: " .. tostring(ticks > 0))
m:close()
