-- examples/*.lua: each one runs in a fresh interpreter (the one running
-- the specs, with the same LUA_PATH/LUA_CPATH) against the test servers,
-- and prints what it should.
local helper = require "spec.lua.helper"

local function quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Runs examples/<name>.lua with args: stdout, exit status, stderr.
local function run(name, args)
    local q = {}
    for i, a in ipairs(args) do q[i] = quote(a) end
    local errfile = os.tmpname()
    local cmd = ("%s examples/%s.lua %s 2>%s; echo \"exit=$?\""):format(
        helper.interpreter(), name, table.concat(q, " "), errfile)
    local p = assert(io.popen(cmd))
    local out = p:read("*a")
    p:close()
    local f = io.open(errfile)
    local err = f and f:read("*a") or ""
    if f then f:close() end
    os.remove(errfile)
    local status = tonumber(out:match("exit=(%d+)\n$"))
    return (out:gsub("exit=%d+\n$", "")), status, err
end

local function lines(s)
    local t = {}
    for l in s:gmatch("[^\n]+") do t[#t + 1] = l end
    return t
end

-- The four URLs every fan-out example gets, and what it prints for them.
local function urls()
    return { helper.nginx("/index.html"), helper.nginx("/files/1.txt"),
             helper.nginx("/nope"), "http://127.0.0.1:1/" }
end

local function check_fanout(out, status, err, summary)
    local u = urls()
    assert.equal(0, status, err)
    local l = lines(out)
    assert.equal("200 17 bytes " .. u[1], l[1])
    assert.equal("200 7 bytes " .. u[2], l[2])
    assert.matches("^404 %d+ bytes " .. u[3]:gsub("%p", "%%%0") .. "$", l[3])
    assert.matches("^failed http://127%.0%.0%.1:1/: COULDNT_CONNECT %(7%): ", l[4])
    assert.matches(summary, l[5])
    return l
end

describe("examples", function()
    setup(helper.start)
    teardown(helper.stop)

    it("run.lua: the built-in loop", function()
        local out, status, err = run("run", urls())
        check_fanout(out, status, err, "^3 ok, 1 failed, %d+ connections$")
    end)

    it("poll_loop.lua: perform and wait in a Lua loop", function()
        local out, status, err = run("poll_loop", urls())
        check_fanout(out, status, err, "^3 ok, 1 failed, %d+ connections$")
        local many = {}
        for i = 1, 200 do many[i] = helper.nginx("/files/" .. i .. ".txt") end
        out, status, err = run("poll_loop", many)
        assert.equal(0, status, err)
        local l = lines(out)
        assert.equal("200 9 bytes " .. many[100], l[100])
        local n = tonumber(l[201]:match("^200 ok, 0 failed, (%d+) connections$"))
        assert.is_true(n and n <= 4, l[201])
    end)

    it("luv_driver.lua: xfer on a luv program's loop", function()
        local out, status, err = run("luv_driver", urls())
        local l = check_fanout(out, status, err, "^3 ok, 1 failed, %d+ connections$")
        assert.equal("the timer ran alongside: true", l[6])
        local many = {}
        for i = 1, 200 do many[i] = helper.nginx("/files/" .. i .. ".txt") end
        out, status, err = run("luv_driver", many)
        assert.equal(0, status, err)
        l = lines(out)
        local n = tonumber(l[201]:match("^200 ok, 0 failed, (%d+) connections$"))
        assert.is_true(n and n <= 4, l[201])
    end)

    it("request.lua: one request at a time", function()
        local out, status, err = run("request", { helper.nginx(""), helper.fault("/echo") })
        assert.equal(0, status, err)
        local l = lines(out)
        assert.equal("200\ttext/html\t17\t" .. helper.nginx("/index.html"), l[1])
        assert.equal("200\tPUT /echo HTTP/1.1\t5", l[2])
        assert.equal("nil\tCOULDNT_CONNECT\t7\teasy", l[3])
    end)

    it("fetch_all.lua: fan-out with results in order", function()
        local out, status, err = run("fetch_all", urls())
        check_fanout(out, status, err, "^3 ok, 1 failed, on_done called 4 times$")
    end)

    it("coroutines.lua: one coroutine per job", function()
        local out, status, err = run("coroutines", urls())
        assert.equal(0, status, err)
        local u = urls()
        local l = lines(out)
        assert.equal("200 17 bytes, HEAD 200 " .. u[1], l[1])
        assert.equal("200 7 bytes, HEAD 200 " .. u[2], l[2])
        assert.matches("^404 %d+ bytes, HEAD 404 ", l[3])
        assert.matches("^failed http://127%.0%.0%.1:1/: COULDNT_CONNECT", l[4])
        assert.equal("fetch_all in a task: true, 3 responses", l[5])
    end)

    it("print their usage without arguments", function()
        for _, name in ipairs({ "run", "poll_loop", "luv_driver", "fetch_all",
                                "coroutines", "request" }) do
            local out, status, err = run(name, {})
            assert.equal(2, status, name)
            assert.equal("", out)
            assert.matches("^usage: lua examples/" .. name .. "%.lua", err)
        end
    end)
end)
