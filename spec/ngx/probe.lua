-- spec/ngx/probe.lua: latency of a trivial location, one keep-alive
-- connection, one request at a time (luv).
--   lua5.1 spec/ngx/probe.lua PORT N [GAP_MS] [PATH]
-- Prints "p50 p90 max" in milliseconds.
local uv = require "luv"

local port = assert(tonumber(arg[1]), "port")
local n = tonumber(arg[2]) or 200
local gap = tonumber(arg[3]) or 0
local path = arg[4] or "/trivial"

local tcp = uv.new_tcp()
local timer = uv.new_timer()
local lat, buf, t0 = {}, "", 0
local request = "GET " .. path .. " HTTP/1.1\r\nHost: probe\r\n\r\n"

local function send()
    t0 = uv.hrtime()
    tcp:write(request)
end

local function next_request()
    if gap > 0 then
        timer:start(gap, 0, send)
    else
        send()
    end
end

local function on_read(err, data)
    assert(not err, err)
    assert(data, "the server closed the connection")
    buf = buf .. data
    while true do
        local he = buf:find("\r\n\r\n", 1, true)
        if not he then return end
        local cl = tonumber(buf:sub(1, he):lower():match(
            "content%-length:%s*(%d+)")) or 0
        if #buf < he + 3 + cl then return end
        buf = buf:sub(he + 4 + cl)
        lat[#lat + 1] = (uv.hrtime() - t0) / 1e6
        if #lat >= n then
            tcp:read_stop()
            tcp:close()
            timer:close()
            return
        end
        next_request()
    end
end

tcp:connect("127.0.0.1", port, function(err)
    assert(not err, err)
    tcp:read_start(on_read)
    send()
end)

uv.run()

table.sort(lat)
local function pct(p)
    return lat[math.max(1, math.floor(#lat * p + 0.5))]
end
io.write(string.format("%.3f %.3f %.3f\n", pct(0.5), pct(0.9), lat[#lat]))
