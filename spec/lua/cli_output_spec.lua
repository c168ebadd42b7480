-- `xfer -o DIR` in a directory that someone else can write to (issue #13,
-- item 6): names planted in advance as symbolic links, a final name that is
-- a link, a directory swapped for a link, the temporary file's mode; and the
-- file handle of xfer.core's fs_create (csrc/lua/lxfer_fs.c) misused from Lua.
-- In process (xfer.cli.output, with a pid of our choosing) and as a command
-- (bin/xfer, run through `exec` so that its pid is known in advance).
local helper = require "spec.lua.helper"
local uv = require "luv"
local core = require "xfer.core"
local output = require "xfer.cli.output"

local LUA = helper.interpreter()
local q, sh, readfile, writefile, tmpdir =
    helper.q, helper.sh, helper.readfile, helper.writefile, helper.tmpdir
local PRECIOUS = "precious, outside DIR\n"

-- The names in dir, hidden ones included, sorted.
local function entries(dir)
    local t = {}
    local req = uv.fs_scandir(dir)
    while req do
        local name = uv.fs_scandir_next(req)
        if not name then break end
        t[#t + 1] = name
    end
    table.sort(t)
    return t
end

local function kind(path)
    local st = uv.fs_lstat(path)
    return st and st.type
end

local function perm(path)
    return uv.fs_stat(path).mode % 512
end

-- 0666 & ~umask, the mode of a file made the ordinary way.
local function plain_mode()
    local p = io.popen("umask")
    local mask = p:read("*a"):match("(%d%d%d)%s*$")
    p:close()
    local m = 0
    for d in mask:gmatch("%d") do
        d = tonumber(d)
        m = m * 8 + 6 - (d - d % 2)
    end
    return m
end

local function symlink(target, path)
    assert(sh("ln -s " .. q(target) .. " " .. q(path)))
end

-- The temporary files left in dir.
local function parts(dir)
    local t = {}
    for _, n in ipairs(entries(dir)) do
        if n:match("^%.xfer%-") and kind(dir .. "/" .. n) ~= "link" then t[#t + 1] = n end
    end
    return t
end

describe("xfer -o in a shared directory", function()
    local work, outside, victim

    before_each(function()
        work, outside = tmpdir(), tmpdir()
        victim = outside .. "/victim"
        writefile(victim, PRECIOUS)
    end)

    after_each(function()
        sh("rm -rf " .. q(work) .. " " .. q(outside))
    end)

    describe("xfer.cli.output", function()
        local PID = 4242

        local function rec(url, id)
            return { url = url, id = id or 1, attempt = 1 }
        end

        it("never opens a name planted in DIR, at any name it uses", function()
            local dir = work .. "/out"
            assert(sh("mkdir -p " .. q(dir .. "/example.test/sub")))
            -- every temporary name of the old scheme, and a guess at the new
            symlink(victim, dir .. "/.xfer-probe-" .. PID)
            for id = 1, 2 do
                symlink(victim, ("%s/example.test/.xfer-%d-%d-1.part"):format(dir, PID, id))
                symlink(victim, ("%s/example.test/sub/.xfer-%d-%d-1.part"):format(dir, PID, id))
            end
            symlink(victim, dir .. "/example.test/.xfer-0000000000000000.part")
            local out = assert(output.new(dir, uv, PID))
            local a, b = rec("http://example.test/a.txt", 1), rec("http://example.test/sub/b.txt", 2)
            assert(out:plan(a))
            assert(out:plan(b))
            assert(out:write(a, "body a\n"))
            assert(out:write(b, "body b\n"))
            assert(out:commit(a))
            assert(out:commit(b))
            assert.equal(PRECIOUS, readfile(victim))
            assert.equal("file", kind(a.final))
            assert.equal("body a\n", readfile(a.final))
            assert.equal("file", kind(b.final))
            assert.equal("body b\n", readfile(b.final))
            assert.same({}, parts(dir .. "/example.test"))
            assert.same({}, parts(dir .. "/example.test/sub"))
            assert.same({ "victim" }, entries(outside))
        end)

        it("replaces a final name that is a link, never writes through it", function()
            local dir = work .. "/out"
            assert(sh("mkdir -p " .. q(dir .. "/example.test")))
            symlink(victim, dir .. "/example.test/a.txt")
            local out = assert(output.new(dir, uv, PID))
            local a = rec("http://example.test/a.txt")
            assert(out:plan(a))
            assert(out:write(a, "new body\n"))
            assert(out:commit(a))
            assert.equal(PRECIOUS, readfile(victim))
            assert.equal("file", kind(a.final))
            assert.equal("new body\n", readfile(a.final))
        end)

        it("refuses a directory below DIR that is a link, host or deeper", function()
            local dir = work .. "/out"
            assert(sh("mkdir -p " .. q(dir .. "/b.test")))
            symlink(outside, dir .. "/a.test")
            symlink(outside, dir .. "/b.test/sub")
            local out = assert(output.new(dir, uv, PID))
            for i, url in ipairs({ "http://a.test/x.txt", "http://b.test/sub/x.txt" }) do
                local r = rec(url, i)
                assert(out:plan(r))
                local ok, err = out:write(r, "x")
                assert.is_nil(ok)
                assert.truthy(err:find("' exists and is not a directory", 1, true), err)
                out:discard(r)
            end
            assert.same({ "victim" }, entries(outside))
            assert.equal(PRECIOUS, readfile(victim))
        end)

        it("keeps writing where it started when a directory is swapped for a link", function()
            local dir = work .. "/out"
            local out = assert(output.new(dir, uv, PID))
            local a = rec("http://example.test/sub/a.txt")
            assert(out:plan(a))
            assert(out:write(a, "first half, "))
            local sub = dir .. "/example.test/sub"
            assert(os.rename(sub, sub .. ".moved"))
            symlink(outside, sub)
            assert(out:write(a, "second half\n"))
            assert(out:commit(a))
            assert.same({ "victim" }, entries(outside))
            assert.equal("first half, second half\n", readfile(sub .. ".moved/a.txt"))
        end)

        it("keeps the body at mode 0600 until commit, then gives the plain mode", function()
            local dir = work .. "/out"
            local out = assert(output.new(dir, uv, PID))
            local a = rec("http://example.test/a.txt")
            assert(out:plan(a))
            assert(out:write(a, "secret"))
            local tmp = parts(dir .. "/example.test")
            assert.equal(1, #tmp)
            assert.matches("^%.xfer%-%x+%.part$", tmp[1])
            assert.equal(384, perm(dir .. "/example.test/" .. tmp[1])) -- 0600
            assert(out:commit(a))
            assert.equal(plain_mode(), perm(a.final))
        end)

        it("removes the temporary file on discard and leaves DIR as it was after new()", function()
            local dir = work .. "/out"
            local out = assert(output.new(dir, uv, PID))
            assert.same({}, entries(dir))
            local a = rec("http://example.test/a.txt")
            assert(out:plan(a))
            assert(out:write(a, "partial"))
            out:discard_all()
            out:discard(a)
            assert.same({}, entries(dir .. "/example.test"))
        end)
    end)

    describe("core.fs_create", function()
        it("gives each file a fresh random name", function()
            local a = assert(core.fs_create(work, {}, "a"))
            local b = assert(core.fs_create(work, {}, "a"))
            local names = entries(work)
            assert.equal(2, #names)
            assert.not_equal(names[1], names[2])
            for _, n in ipairs(names) do assert.matches("^%.xfer%-" .. ("%x"):rep(16) .. "%.part$", n) end
            a:discard()
            b:discard()
            assert.same({}, entries(work))
        end)

        it("survives any order of calls, and leaves no temporary file", function()
            local f = assert(core.fs_create(work, { "d" }, "x"))
            assert.is_true(f:write("abc"))
            assert.is_true(f:commit())
            local ok, err = f:commit()
            assert.is_nil(ok)
            assert.truthy(err:find("already closed", 1, true))
            assert.is_nil((f:write("more")))
            f:discard()
            f:discard()
            assert.equal("abc", readfile(work .. "/d/x"))
            assert.truthy(tostring(f):find("closed", 1, true))

            f = assert(core.fs_create(work, { "d" }, "y"))
            f:discard()
            assert.is_nil((f:write("x")))
            assert.is_nil((f:commit()))
            f:discard()
            assert.same({ "x" }, entries(work .. "/d"))

            -- dropped while open: __gc removes it
            f = assert(core.fs_create(work, { "d" }, "z"))
            assert.is_true(f:write("lost"))
            f = nil
            collectgarbage()
            collectgarbage()
            assert.same({ "x" }, entries(work .. "/d"))

            -- methods on something else raise, they do not crash
            local g = assert(core.fs_create(work, {}, "w"))
            local m = getmetatable(g).__index
            for _, name in ipairs({ "write", "commit", "discard" }) do
                assert.is_false(pcall(m[name], nil))
                assert.is_false(pcall(m[name], {}))
                assert.is_false(pcall(m[name], io.stdout))
            end
            assert.is_false(pcall(g.write, g, {}))
            g:discard()
            assert.same({ "d" }, entries(work))
        end)

        if _VERSION == "Lua 5.4" then
            it("discards on leaving a <close> scope (5.4)", function()
                local run = assert(load([[
                    local core, dir = ...
                    local f <close> = assert(core.fs_create(dir, {}, "c"))
                    f:write("x")
                    error("gone")
                ]]))
                assert.is_false(pcall(run, core, work))
                assert.same({}, entries(work))
            end)
        end

        it("refuses names that leave their directory; wrong types raise", function()
            for _, bad in ipairs({ "", ".", "..", "a/b", "a\0b" }) do
                local f, err = core.fs_create(work, { bad }, "x")
                assert.is_nil(f)
                assert.truthy(err:find("invalid", 1, true), err)
                f, err = core.fs_create(work, {}, bad)
                assert.is_nil(f)
                assert.truthy(err:find("invalid", 1, true), err)
            end
            assert.same({}, entries(work))
            assert.is_false(pcall(core.fs_create, work, { 1 }, "x"))
            assert.is_false(pcall(core.fs_create, work, "d", "x"))
            assert.is_false(pcall(core.fs_create, work, {}, nil))
            assert.is_false(pcall(core.fs_create, nil, {}, "x"))
            local f, err, why = core.fs_create(work .. "/missing", {}, "x")
            assert.is_nil(f)
            assert.truthy(err:find("missing", 1, true), err)
            assert.is_string(why)
        end)

        it("refuses a file where a directory should be", function()
            writefile(work .. "/plain", "x")
            local f, err = core.fs_create(work, { "plain" }, "x")
            assert.is_nil(f)
            assert.equal("'" .. work .. "/plain' exists and is not a directory", err)
        end)

        it("keeps no descriptor open once a file is done, on any path", function()
            writefile(work .. "/plain", "x")
            symlink(outside, work .. "/link")
            collectgarbage()
            local before = #entries("/proc/self/fd")
            for i = 1, 50 do
                local f = assert(core.fs_create(work, { "a", "b" }, "f" .. i))
                f:write("x")
                if i % 3 == 0 then f:commit() elseif i % 3 == 1 then f:discard() end
                f = nil
                collectgarbage()
                assert.is_nil((core.fs_create(work, { "plain" }, "x")))
                assert.is_nil((core.fs_create(work, { "link" }, "x")))
                assert.is_nil((core.fs_create(work .. "/nowhere", {}, "x")))
            end
            collectgarbage()
            assert.equal(before, #entries("/proc/self/fd"))
            assert.equal(16, #entries(work .. "/a/b"))
        end)

        it("is not part of the public xfer table", function()
            assert.is_nil(require("xfer").fs_create)
            assert.equal(core.fs_create, require("xfer").core.fs_create)
        end)
    end)

    describe("the command", function()
        local host

        setup(function()
            helper.start()
            host = "127.0.0.1_" .. helper.NGINX_PORT
        end)

        teardown(function()
            helper.stop()
        end)

        -- Runs `prep; exec xfer argv` in one shell, so that $$ in prep is
        -- xfer's own pid.  Returns stdout, stderr, exit code.
        local function run(prep, argv)
            local parts = {}
            for _, a in ipairs(argv) do parts[#parts + 1] = q(a) end
            local script = prep .. "\nexec " .. LUA .. " bin/xfer " .. table.concat(parts, " ")
            local errf = os.tmpname()
            local p = io.popen("sh -c " .. q(script) .. " </dev/null 2>" .. q(errf) .. "; echo \"EXIT:$?\"")
            local out = p:read("*a")
            p:close()
            local err = readfile(errf)
            os.remove(errf)
            return out:gsub("EXIT:%d+\n$", ""), err, tonumber(out:match("EXIT:(%d+)\n$"))
        end

        it("writes nothing through links planted at its temporary names", function()
            local dir = work .. "/out"
            local h = dir .. "/" .. host
            assert(sh("mkdir -p " .. q(h .. "/files")))
            -- luv's os_getpid is a float on 5.3+: the old names said "123.0"
            local prep = {}
            for _, pid in ipairs({ "$$", "$$.0" }) do
                prep[#prep + 1] = "ln -s " .. q(victim) .. " " .. q(dir) .. "/.xfer-probe-" .. pid
                prep[#prep + 1] = "ln -s " .. q(victim) .. " " .. q(h) .. "/.xfer-" .. pid .. "-1-1.part"
                prep[#prep + 1] = "ln -s " .. q(victim) .. " " .. q(h .. "/files") .. "/.xfer-" ..
                                  pid .. "-2-1.part"
            end
            prep = table.concat(prep, " && ")
            local out, err, code = run(prep, { "-q", "-o", dir, helper.nginx("/1k.bin"),
                                               helper.nginx("/files/7.txt") })
            assert.equal(0, code, err)
            assert.truthy(out:find("2 ok, 0 failed", 1, true), out)
            assert.equal(PRECIOUS, readfile(victim))
            assert.equal("file", kind(h .. "/1k.bin"))
            assert.equal(1024, #readfile(h .. "/1k.bin"))
            assert.equal("file", kind(h .. "/files/7.txt"))
            assert.equal("file 7\n", readfile(h .. "/files/7.txt"))
            assert.same({}, parts(h))
            assert.same({}, parts(h .. "/files"))
        end)

        it("replaces a final name that is a link to a file outside DIR", function()
            local dir = work .. "/out"
            local h = dir .. "/" .. host
            assert(sh("mkdir -p " .. q(h)))
            symlink(victim, h .. "/index.html")
            local _, err, code = run("true", { "-q", "-o", dir, helper.nginx("/") })
            assert.equal(0, code, err)
            assert.equal(PRECIOUS, readfile(victim))
            assert.equal("file", kind(h .. "/index.html"))
            assert.equal("hello from nginx\n", readfile(h .. "/index.html"))
        end)

        it("refuses a host directory that is a link to a directory outside DIR", function()
            local dir = work .. "/out"
            assert(sh("mkdir -p " .. q(dir)))
            symlink(outside, dir .. "/" .. host)
            local out, err, code = run("true", { "-o", dir, helper.nginx("/1k.bin") })
            assert.equal(1, code)
            assert.truthy(err:find("WRITE_ERROR (23): '" .. dir .. "/" .. host ..
                                   "' exists and is not a directory", 1, true), err)
            assert.truthy(out:find("0 ok, 1 failed", 1, true), out)
            assert.same({ "victim" }, entries(outside))
        end)

        it("holds a running body at 0600 and saves it with the umask's mode", function()
            local dir = work .. "/out"
            local fh = dir .. "/127.0.0.1_" .. helper.FAULT_PORT
            -- a 1 s body; the loop looks for its temporary file meanwhile
            local script = table.concat({
                "umask 027",
                "exec " .. LUA .. " bin/xfer -q -o " .. q(dir) .. " " ..
                    q(helper.fault("/drip?size=10&every_ms=100")) .. " >/dev/null 2>&1 &",
                "pid=$!; mode=none",
                "for i in $(seq 200); do",
                "  f=$(ls -A " .. q(fh) .. " 2>/dev/null | grep '^\\.xfer-' | head -n 1)",
                "  if [ -n \"$f\" ]; then mode=$(stat -c %a " .. q(fh) .. "/\"$f\"); break; fi",
                "  sleep 0.02",
                "done",
                "wait $pid; echo \"$mode $?\"",
            }, "\n")
            local p = io.popen("sh -c " .. q(script))
            local res = p:read("*a")
            p:close()
            assert.equal("600 0\n", res)
            local saved = fh .. "/drip@size=10%26every_ms=100"
            assert.equal("file", kind(saved), table.concat(entries(fh), " "))
            assert.equal(416, perm(saved)) -- 0640
            assert.same({}, parts(fh))
        end)
    end)
end)
