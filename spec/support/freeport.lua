-- Prints a free TCP port on 127.0.0.1 (bind port 0 with luv, report, close).
-- Usage: lua5.1 spec/support/freeport.lua
local uv = require "luv"

local tcp = uv.new_tcp()
local ok, err = tcp:bind("127.0.0.1", 0)
if not ok then
    io.stderr:write("freeport: bind failed: " .. tostring(err) .. "\n")
    os.exit(1)
end
local addr = tcp:getsockname()
io.stdout:write(tostring(addr.port), "\n")
io.stdout:flush()
tcp:close()
uv.run("nowait")
