-- Lifetime: handles closed or collected in any order, callbacks that close
-- their own handle, and the garbage collector running while transfers do.
-- Nothing here may crash; the build with AddressSanitizer runs it too.
local xfer = require "xfer"
local helper = require "spec.lua.helper"

-- Objects are made inside functions that return: a dead local of the
-- running function may still be on its stack, and so not collectable.
local function weak_pair(url, add)
    local weak = setmetatable({}, { __mode = "v" })
    local m = xfer.multi()
    local e = helper.easy(url)
    if add then assert(m:add_handle(e)) end
    weak.m, weak.e = m, e
    return weak
end

local function names(m)
    local n = 0
    for _ in ipairs(m:get_handles()) do n = n + 1 end
    return n
end

describe("handle lifetime", function()
    setup(helper.start)
    teardown(helper.stop)

    it("completes an added easy whose last reference was dropped", function()
        local m = xfer.multi{ max_total_connections = 2 }
        local got = {}
        local function add(i)
            assert(m:add_handle(xfer.easy{
                url = helper.nginx("/files/" .. i .. ".txt"),
                private = i,
                writefunction = function(s) got[i] = (got[i] or "") .. s end,
            }))
        end
        for i = 1, 20 do add(i) end
        helper.collect()
        local msgs = helper.drive(m, true) -- collects between steps
        assert.equal(20, #msgs)
        for _, msg in ipairs(msgs) do
            assert.is_true(msg[2])
            local i = msg[1]:getinfo_private()
            assert.equal("file " .. i .. "\n", got[i])
        end
        -- the same through run()
        for i = 21, 40 do add(i) end
        helper.collect()
        local n = 0
        assert.is_true(m:run{ on_done = function(e, ok)
            assert.is_true(ok)
            n = n + 1
            m:remove_handle(e)
            helper.collect()
        end })
        assert.equal(20, n)
        m:close()
    end)

    it("collects a multi and its added easies together", function()
        local weak = weak_pair(helper.nginx("/1k.bin"), true)
        weak.m:perform() -- a connection in flight
        helper.collect()
        assert.is_nil(weak.m)
        assert.is_nil(weak.e)
    end)

    it("keeps a multi while an easy added to it is referenced", function()
        local weak = weak_pair(helper.nginx("/1k.bin"), true)
        local e = weak.e
        helper.collect()
        assert.is_not_nil(weak.m)
        assert.is_true(weak.m:run())
        assert.is_true(select(2, weak.m:info_read()))
        weak.m:remove_handle(e)
        helper.collect()
        assert.is_nil(weak.m)
        assert.is_true(e:perform()) -- the easy lives on alone
    end)

    it("closes a multi before its added easies", function()
        local m = xfer.multi()
        local e1, body = helper.easy(helper.nginx("/index.html"))
        local e2 = helper.easy(helper.nginx("/1m.bin"))
        assert(m:add_handle(e1))
        assert(m:add_handle(e2))
        m:perform()
        m:close()
        m:close()
        -- detached, not freed: usable alone or in another multi
        assert.is_true(e1:perform())
        assert.equal("hello from nginx\n", body():sub(-17))
        local m2 = xfer.multi()
        assert(m2:add_handle(e2))
        assert.is_true(m2:run())
        assert.is_true(select(2, m2:info_read()))
        e2:close()
        m2:close()
        e1:close()
    end)

    it("closes an added easy before its multi", function()
        local m = xfer.multi()
        local e1 = helper.easy(helper.nginx("/1m.bin"))
        local e2, body = helper.easy(helper.nginx("/index.html"))
        assert(m:add_handle(e1))
        assert(m:add_handle(e2))
        m:perform()
        e1:close() -- removed first, mid-transfer
        assert.equal(1, names(m))
        assert.is_true(m:run())
        local got, ok = m:info_read()
        assert.equal(e2, got)
        assert.is_true(ok)
        assert.is_nil(m:info_read())
        assert.equal("hello from nginx\n", body())
        e2:close()
        m:close()
    end)

    it("survives every order of close and collection", function()
        -- m: m:close(), e: e:close(), gm/ge: drop our reference and collect
        local orders = {
            { "m", "e" }, { "e", "m" }, { "gm", "e" }, { "ge", "m" },
            { "gm", "ge" }, { "ge", "gm" }, { "m", "ge" }, { "e", "gm" },
        }
        local function pair()
            local m = xfer.multi()
            local e = helper.easy(helper.nginx("/1m.bin"))
            assert(m:add_handle(e))
            m:perform() -- mid-transfer
            return { m = m, e = e }
        end
        for _, order in ipairs(orders) do
            local strong = pair()
            local weak = setmetatable({ m = strong.m, e = strong.e },
                                      { __mode = "v" })
            for _, step in ipairs(order) do
                local k = step:sub(-1)
                if step:sub(1, 1) == "g" then strong[k] = nil
                else strong[k]:close() end
                helper.collect()
            end
            strong = nil
            helper.collect()
            assert.is_nil(weak.m, table.concat(order, ","))
            assert.is_nil(weak.e, table.concat(order, ","))
        end
    end)

    it("lets a callback close its own easy", function()
        local m = xfer.multi()
        local closer
        closer = helper.easy(helper.nginx("/1m.bin"), {
            writefunction = function() closer:close() end,
        })
        local other = helper.easy(helper.nginx("/index.html"))
        assert(m:add_handle(closer))
        assert(m:add_handle(other))
        local msgs = helper.drive(m, true)
        assert.equal(1, #msgs) -- the closed one leaves no message
        assert.equal(other, msgs[1][1])
        assert.equal("xfer.easy (closed)", tostring(closer))
        m:close()
        -- inside its own perform(): perform returns, then it is closed
        local self_closer
        self_closer = xfer.easy{ url = helper.nginx("/1m.bin"),
                                 writefunction = function()
                                     self_closer:close()
                                     helper.collect()
                                 end }
        self_closer:perform()
        assert.equal("xfer.easy (closed)", tostring(self_closer))
    end)

    it("refuses to close a multi from inside its callbacks", function()
        local m = xfer.multi()
        local e = helper.easy(helper.nginx("/1k.bin"), {
            writefunction = function() m:close() end,
        })
        assert(m:add_handle(e))
        local ok, msg = pcall(m.run, m)
        assert.is_false(ok)
        assert.matches("cannot close a multi handle from inside", msg)
        ok, msg = pcall(m.run, m, { on_done = function() m:close() end })
        m:remove_handle(e)
        assert(m:add_handle(helper.easy(helper.nginx("/"))))
        ok, msg = pcall(m.run, m, { on_done = function() m:close() end })
        assert.is_false(ok)
        assert.matches("cannot close a multi handle from inside", msg)
        m:close()
    end)

    it("re-adds an easy after its message, from on_done", function()
        local m = xfer.multi()
        local e = helper.easy(helper.nginx("/index.html"))
        local runs = 0
        assert(m:add_handle(e))
        assert.is_true(m:run{ on_done = function(done, ok)
            assert.is_true(ok)
            runs = runs + 1
            assert.is_true(m:remove_handle(done))
            if runs < 3 then assert.is_true(m:add_handle(done)) end
        end })
        assert.equal(3, runs)
        m:close()
    end)

    -- The binding finds an added easy through its multi (a slot in the
    -- multi's table, reused after a removal) and a performing one through
    -- its perform() call: each callback and on_done must get its own easy.
    it("hands every callback its own easy after slots are reused", function()
        local m = xfer.multi{ max_total_connections = 2 }
        local mine = {}
        local function add(i)
            local e
            e = xfer.easy{
                url = helper.nginx("/files/" .. (i % 20 + 1) .. ".txt"),
                private = i,
                writefunction = function() mine[i] = (mine[i] or 0) + 1 end,
            }
            assert(m:add_handle(e))
            return e
        end
        local es = {}
        for i = 1, 6 do es[i] = add(i) end
        -- free slots in the middle, then fill them with new handles
        assert(m:remove_handle(es[2]))
        assert(m:remove_handle(es[4]))
        es[2]:close()
        es[2], es[4] = nil, nil
        helper.collect()
        for i = 7, 9 do es[i] = add(i) end
        local seen = {}
        for _, h in ipairs(m:get_handles()) do seen[h:getinfo_private()] = true end
        assert.same({ [1] = true, [3] = true, [5] = true, [6] = true,
                      [7] = true, [8] = true, [9] = true }, seen)
        local done = {}
        assert.is_true(m:run{ on_done = function(e, ok)
            assert.is_true(ok)
            local i = e:getinfo_private()
            assert.equal(es[i], e)
            done[#done + 1] = i
            m:remove_handle(e)
            helper.collect()
        end })
        table.sort(done)
        assert.same({ 1, 3, 5, 6, 7, 8, 9 }, done)
        for _, i in ipairs(done) do assert.is_true(mine[i] >= 1) end
        m:close()
        -- perform(): a read callback serving a leftover over several calls,
        -- the collector running in each
        local data = string.rep("0123456789", 20000)
        local sent, calls, got = false, 0, {}
        local e = xfer.easy{
            url = helper.fault("/echo"), upload = true,
            infilesize_large = #data,
            readfunction = function()
                calls = calls + 1
                collectgarbage()
                if sent then return nil end
                sent = true
                return data -- longer than room: served over several calls
            end,
            writefunction = function(s)
                got[#got + 1] = s
                collectgarbage("step")
            end,
        }
        assert.is_true(e:perform())
        assert.equal(1, calls) -- the leftover is served without a call
        assert.equal(data, table.concat(got):sub(-#data))
        e:close()
    end)

    it("runs with the collector busy in every callback", function()
        local m = xfer.multi{ max_total_connections = 4 }
        local done, bytes = 0, 0
        local junk = {}
        local function churn()
            -- throwaway handles, some added to a throwaway multi
            local jm = xfer.multi()
            local je = xfer.easy{ url = helper.nginx("/") }
            jm:add_handle(je)
            junk[#junk % 8 + 1] = (#junk % 2 == 0) and jm or je
            collectgarbage("step")
        end
        for i = 1, 200 do
            assert(m:add_handle(xfer.easy{
                url = helper.nginx(i % 3 == 0 and "/16k.bin" or "/1k.bin"),
                writefunction = function(s) bytes = bytes + #s; churn() end,
                headerfunction = function() churn() end,
            }))
        end
        assert.is_true(m:run{ on_done = function(e, ok)
            assert.is_true(ok)
            done = done + 1
            m:remove_handle(e)
            if done % 10 == 0 then helper.collect() end
        end })
        assert.equal(200, done)
        assert.equal(66 * 16384 + 134 * 1024, bytes) -- 66 multiples of 3
        junk = nil
        helper.collect()
        m:close()
    end)

    it("closes with __close on Lua 5.4", function()
        if _VERSION ~= "Lua 5.4" then return end
        local chunk = assert(load([[
            local xfer, url = ...
            local mm, ee
            do
                local m <close> = xfer.multi()
                local e <close> = xfer.easy{ url = url }
                m:add_handle(e)
                mm, ee = m, e
            end
            return mm, ee
        ]]))
        local m, e = chunk(xfer, helper.nginx("/"))
        assert.equal("xfer.multi (closed)", tostring(m))
        assert.equal("xfer.easy (closed)", tostring(e))
    end)

    it("tears down at lua_close whatever state handles are in", function()
        local script = ([[
            package.path = %q
            package.cpath = %q
            local xfer = require "xfer"
            local m = xfer.multi{ max_total_connections = 2 }
            KEEP = {}
            for i = 1, 6 do
                local e = xfer.easy{ url = %q, writefunction = function() end }
                m:add_handle(e)
                if i %% 2 == 0 then KEEP[#KEEP + 1] = e end
            end
            m:perform()
            local m2 = xfer.multi()
            m2:add_handle(xfer.easy{ url = %q, writefunction = function() end })
            m2:run()
            KEEP.m = m
            io.write("done")
        ]]):format(package.path, package.cpath, helper.nginx("/1m.bin"),
                   helper.nginx("/"))
        local f = assert(io.popen(helper.interpreter() .. " -e '" ..
                                  script:gsub("'", "'\\''") .. "' 2>&1; echo \" rc=$?\""))
        local out = f:read("*a")
        f:close()
        assert.equal("done rc=0\n", out)
    end)
end)
