-- The `xfer` command on a terminal and under signals: the live progress
-- captured through a pseudo-terminal (util-linux `script`), its rate limit,
-- narrow and resized terminals, no escape codes without a terminal, and
-- SIGINT/SIGTERM in the middle of a run (exit code, summary, no partial
-- files left in -o DIR).
local helper = require "spec.lua.helper"
local uv = require "luv"

local LUA = helper.interpreter()
local q, sh, capture, tmpdir =
    helper.q, helper.sh, helper.capture, helper.tmpdir

local function files(dir)
    local t = {}
    for line in capture("cd " .. q(dir) .. " && find . -type f | sort"):gmatch("[^\n]+") do
        t[#t + 1] = line:sub(3)
    end
    return t
end

local function xfer_cmd(argv)
    local parts = { LUA, "bin/xfer" }
    for _, a in ipairs(argv) do parts[#parts + 1] = q(a) end
    return table.concat(parts, " ")
end

-- Runs `script` around a shell command line; returns the bytes the
-- terminal received, the exit code and the wall time.
local function pty(shell_cmd, cols, rows)
    local inner = ("stty cols %d rows %d; %s; echo \"EXIT:$?\""):format(cols or 100, rows or 24, shell_cmd)
    local t0 = uv.hrtime()
    local out = capture("TERM=xterm script -qfec " .. q(inner) .. " /dev/null </dev/null 2>&1")
    local code = tonumber(out:match("EXIT:(%d+)"))
    return out, code, (uv.hrtime() - t0) / 1e9
end

-- The frames: every run of lines drawn after ESC[2K, split at the overall
-- line (the one with "N/M").  Returns a list of frames, each a list of
-- visible lines.
local function frames(out)
    local list, cur = {}, nil
    for line in out:gmatch("\27%[2K([^\r\n]*)") do
        line = line:gsub("\27%[[%d;]*[A-Za-z]", "")
        if line:find("^%[?[#-]*%]? ?%d+/%d+") then
            cur = {}
            list[#list + 1] = cur
        end
        if cur then cur[#cur + 1] = line end
    end
    return list
end

-- n URLs of the fault server that send size bytes in 40 pieces, every_ms
-- (default 20) apart: 0.8 s each.
local function slow_urls(n, size, extra, every_ms)
    local t = {}
    for i = 1, n do
        t[i] = helper.fault(("/drip?size=%d&every_ms=%d&chunk=%d&i=%d%s"):format(
            size, every_ms or 20, math.floor(size / 40), i, extra or ""))
    end
    return t
end

local has_script = sh("script --version >/dev/null 2>&1")

describe("xfer on a terminal", function()
    local work

    setup(function()
        helper.start()
        work = tmpdir()
    end)

    teardown(function()
        sh("rm -rf " .. q(work))
        helper.stop()
    end)

    it("shows live progress, redrawn at most 10 times a second", function()
        if not has_script then return pending("util-linux script is not installed") end
        local argv = { "-P", "3" }
        for _, u in ipairs(slow_urls(6, 4000)) do argv[#argv + 1] = u end
        local out, code, secs = pty(xfer_cmd(argv), 100, 24)
        assert.equal(0, code, out)
        local fr = frames(out)
        -- six 0.8 s transfers, three at a time: about 1.6 s
        assert.is_true(#fr >= 5, #fr .. " frames")
        assert.is_true(#fr <= secs * 10 + 2, #fr .. " frames in " .. secs .. " s")
        local first = fr[1][1]
        assert.truthy(first:find("^%[[#-]+%] %d+/6  "), first)
        assert.truthy(first:find(" active  %d+ queued"), first)
        -- a line per active transfer, with its bytes and percentage
        local busiest = 0
        for _, f in ipairs(fr) do busiest = math.max(busiest, #f - 1) end
        assert.equal(3, busiest)
        local seen_pct = false
        for _, f in ipairs(fr) do
            for i = 2, #f do
                assert.truthy(f[i]:find("^  127%.0%.0%.1:%d+/drip%?size=4000"), f[i])
                if f[i]:find("/ 3%.9 KiB +%d+%%$") then seen_pct = true end
            end
        end
        assert.is_true(seen_pct)
        -- the frame is erased (cursor up, erase below) before the summary
        assert.truthy(out:find("\27%[%d+A\27%[J6 transfers in [%d.]+ s"), out:sub(-400))
        assert.truthy(out:find("status codes: 200 x6", 1, true))
    end)

    it("fits a narrow terminal: no line reaches the last column", function()
        if not has_script then return pending("util-linux script is not installed") end
        local argv = { "-P", "4" }
        for _, u in ipairs(slow_urls(4, 2000, "&pad=" .. string.rep("x", 60))) do
            argv[#argv + 1] = u
        end
        local out, code = pty(xfer_cmd(argv), 40, 24)
        assert.equal(0, code)
        local fr = frames(out)
        assert.is_true(#fr >= 3)
        for _, f in ipairs(fr) do
            for _, line in ipairs(f) do
                assert.is_true(#line <= 39, #line .. ": " .. line)
            end
        end
        -- and a short one: the transfer lines give way to "... and N more"
        out = pty(xfer_cmd(argv), 80, 4)
        for _, f in ipairs(frames(out)) do assert.is_true(#f <= 3) end
        assert.truthy(out:find("... and %d more"))
    end)

    it("follows a resize (SIGWINCH)", function()
        if not has_script then return pending("util-linux script is not installed") end
        local argv = { "-P", "2" }
        for _, u in ipairs(slow_urls(2, 6000, "&pad=" .. string.rep("y", 40), 30)) do -- 1.2 s
            argv[#argv + 1] = u
        end
        local out, code = pty("(sleep 0.5; stty cols 30 </dev/tty) & " .. xfer_cmd(argv) .. "; wait", 100, 24)
        assert.equal(0, code)
        local fr = frames(out)
        local wide, narrow = 0, 0
        for _, f in ipairs(fr) do
            local w = 0
            for _, line in ipairs(f) do w = math.max(w, #line) end
            if w > 29 then
                assert.equal(0, narrow, "a wide frame after the resize")
                wide = wide + 1
            else
                narrow = narrow + 1
            end
        end
        assert.is_true(wide >= 2 and narrow >= 3, wide .. " wide, " .. narrow .. " narrow")
    end)

    it("writes no escape code when stdout is not a terminal, or with -q, --json, TERM=dumb", function()
        if not has_script then return pending("util-linux script is not installed") end
        local urls = { helper.nginx("/1k.bin"), "http://127.0.0.1:1/", slow_urls(1, 1000)[1] }
        -- stdout is a pipe (stderr on the terminal)
        local out, code = pty(xfer_cmd(urls) .. " | cat", 80, 24)
        assert.truthy(out:find("3 transfers in", 1, true))
        assert.is_nil(out:find("\27", 1, true))
        local argv = { "-q" }
        for _, u in ipairs(urls) do argv[#argv + 1] = u end
        out, code = pty(xfer_cmd(argv), 80, 24)
        assert.equal(1, code)
        assert.truthy(out:find("3 transfers in", 1, true))
        assert.is_nil(out:find("\27", 1, true))
        argv[1] = "--json"
        out = pty(xfer_cmd(argv), 80, 24)
        assert.truthy(out:find('{"url":', 1, true))
        assert.is_nil(out:find("\27", 1, true))
        out = pty("TERM=dumb " .. xfer_cmd(urls), 80, 24)
        assert.truthy(out:find("3 transfers in", 1, true))
        assert.is_nil(out:find("\27", 1, true))
        -- and without any terminal at all
        out = capture(xfer_cmd(urls) .. " 2>&1 </dev/null")
        assert.truthy(out:find("3 transfers in", 1, true))
        assert.is_nil(out:find("\27", 1, true))
    end)
end)

describe("xfer interrupted", function()
    local work

    setup(function()
        helper.start()
        work = tmpdir()
    end)

    teardown(function()
        sh("rm -rf " .. q(work))
        helper.stop()
    end)

    -- Starts the command in the background, sends sig after delay seconds.
    -- The shell leaves SIGINT ignored for a background job: xfer installs
    -- its own handler anyway.
    local function interrupt(argv, sig, delay)
        local cmd = ("%s >%s 2>&1 & pid=$!; sleep %s; kill -%s $pid; wait $pid; echo \"EXIT:$?\""):format(
            xfer_cmd(argv), q(work .. "/out.txt"), delay, sig)
        local t0 = uv.hrtime()
        local status = capture(cmd)
        local f = assert(io.open(work .. "/out.txt"))
        local out = f:read("*a")
        f:close()
        return out, tonumber(status:match("EXIT:(%d+)")), (uv.hrtime() - t0) / 1e9
    end

    it("stops on SIGINT: exit 130, a summary of what finished, no partial file", function()
        local dir = work .. "/sigint"
        local argv = { "-o", dir, "-P", "4", helper.nginx("/1k.bin"), helper.nginx("/files/3.txt") }
        for _, u in ipairs(slow_urls(8, 200000, nil, 50)) do argv[#argv + 1] = u end -- 2 s each
        local out, code, secs = interrupt(argv, "INT", 0.5)
        assert.equal(130, code, out)
        assert.is_true(secs < 3)
        assert.truthy(out:find("^interrupted after [%d.]+ s: 2 of 10 transfers finished "
            .. "%(2 ok, 0 failed%), 4 stopped, 4 not started\n"), out)
        assert.truthy(out:find("saved 2 files under " .. dir, 1, true))
        local host = "127.0.0.1_" .. helper.NGINX_PORT
        assert.same({ host .. "/1k.bin", host .. "/files/3.txt" }, files(dir))
        assert.is_nil(out:find("\27", 1, true))
    end)

    it("stops on SIGTERM with exit 143", function()
        local argv = { "-P", "2" }
        for _, u in ipairs(slow_urls(3, 100000, nil, 50)) do argv[#argv + 1] = u end
        local out, code = interrupt(argv, "TERM", 0.3)
        assert.equal(143, code, out)
        assert.truthy(out:find("^terminated after [%d.]+ s: 0 of 3 transfers finished"), out)
    end)

    it("on a terminal, Ctrl-C erases the progress and prints the summary", function()
        if not has_script then return pending("util-linux script is not installed") end
        local dir = work .. "/ctrlc"
        local argv = { "-o", dir, "-P", "2" }
        for _, u in ipairs(slow_urls(4, 200000, nil, 50)) do argv[#argv + 1] = u end
        local out, code = pty(xfer_cmd(argv) .. " & pid=$!; sleep 0.6; kill -INT $pid; wait $pid", 100, 24)
        assert.equal(130, code, out)
        assert.is_true(#frames(out) >= 3)
        assert.truthy(out:find("\27%[%d+A\27%[Jinterrupted after [%d.]+ s: 0 of 4 transfers "
            .. "finished %(0 ok, 0 failed%), 2 stopped, 2 not started"), out:sub(-600))
        assert.same({}, files(dir))
    end)
end)
