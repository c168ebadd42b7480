-- rawclient.lua: send raw bytes to 127.0.0.1:PORT, dump what comes back.
--
--   printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' | lua5.1 spec/support/rawclient.lua PORT [TIMEOUT_MS]
--
-- Reads the request bytes from stdin (may be empty), connects, writes them,
-- then copies everything received to stdout until the server closes, the
-- connection fails, or TIMEOUT_MS (default 2000) passes since the last byte.
-- Prints how it ended on stderr as one line:
--   END=EOF|RESET|TIMEOUT|CONNECT_ERROR|ERROR BYTES=<n> [ERR=<luv error>]
local uv = require "luv"

local port = tonumber(arg[1])
local timeout = tonumber(arg[2] or "") or 2000
if not port then
    io.stderr:write("usage: rawclient.lua PORT [TIMEOUT_MS]\n")
    os.exit(2)
end

local request = io.stdin:read("*a") or ""
local tcp = uv.new_tcp()
local timer = uv.new_timer()
local got, how, why = 0, nil, nil

local function finish(h, e)
    if how then return end
    how, why = h, e
    timer:stop()
    if not timer:is_closing() then timer:close() end
    if not tcp:is_closing() then tcp:close() end
end

local function arm()
    timer:stop()
    timer:start(timeout, 0, function() finish("TIMEOUT") end)
end

tcp:connect("127.0.0.1", port, function(err)
    if err then return finish("CONNECT_ERROR", err) end
    tcp:read_start(function(rerr, data)
        if rerr then
            return finish(rerr:match("ECONNRESET") and "RESET" or "ERROR", rerr)
        end
        if not data then return finish("EOF") end
        got = got + #data
        io.stdout:write(data)
        arm()
    end)
    if #request > 0 then
        tcp:write(request, function(werr)
            if werr then finish(werr:match("ECONNRESET") and "RESET" or "ERROR", werr) end
        end)
    end
end)
arm()

uv.run()
io.stdout:flush()
io.stderr:write(string.format("END=%s BYTES=%d%s\n", how or "ERROR", got, why and (" ERR=" .. why) or ""))
os.exit(0)
