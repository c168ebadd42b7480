-- spec/ngx/t.lua: the Lua side of spec/ngx/run.sh. Every location /t/NAME
-- of the test nginx runs tests.NAME through run(); a test answers "ok ..."
-- on its first line, or "FAIL: why" (a failed check raises a table).
local xfer = require "xfer.ngx"

local ngx = ngx
local say = ngx.say
local now = ngx.now
local update_time = ngx.update_time

local _M = {}
local cfg = {}
local tests = {}

function _M.setup(c)
    cfg = c
end

local function up(path) return "http://127.0.0.1:" .. cfg.nginx .. path end
local function fault(path) return "http://127.0.0.1:" .. cfg.fault .. path end
local function self(path) return "http://127.0.0.1:" .. cfg.self .. path end

local function fail(msg)
    error({ fail = msg }, 2)
end

local function check(cond, msg)
    if not cond then
        error({ fail = msg and tostring(msg) or "check failed" }, 2)
    end
    return cond
end

local function eq(a, b, what)
    if a ~= b then
        error({ fail = (what and what .. ": " or "") .. "expected "
                       .. tostring(b) .. ", got " .. tostring(a) }, 2)
    end
end

local function has(s, pat, what)
    if type(s) ~= "string" or not s:find(pat, 1, true) then
        error({ fail = (what or "text") .. " lacks '" .. pat .. "': "
                       .. tostring(s) }, 2)
    end
end

local function clock()
    update_time()
    return now()
end

-- The failed entries of fetch_all's results: count, first error.
local function failures(results)
    local n, first = 0, nil
    for i = 1, #results do
        if results[i].err then
            n = n + 1
            first = first or results[i].err
        end
    end
    return n, first
end

-- Every list item with extra fields.
local function with(list, fields)
    for i = 1, #list do
        local item = list[i]
        if type(item) == "string" then
            item = { url = item }
            list[i] = item
        end
        for k, v in pairs(fields) do
            if item[k] == nil then
                item[k] = v
            end
        end
    end
    return list
end

local function format_kv(t)
    local keys = {}
    for k in pairs(t) do
        keys[#keys + 1] = k
    end
    table.sort(keys)
    local out = {}
    for i, k in ipairs(keys) do
        out[i] = k .. "=" .. tostring(t[k])
    end
    return " " .. table.concat(out, " ")
end

local function arg(name, default)
    return tonumber(ngx.var["arg_" .. name]) or default
end


-- request(): methods, headers, bodies, redirects, TLS ---------------------

function tests.basic()
    eq(xfer.stats().state, "ready", "state after init_worker configure")
    local res, err = xfer.request{ url = up("/index.html") }
    check(res, tostring(err))
    eq(res.status, 200, "status")
    eq(res.body, "hello from nginx\n", "body")
    eq(res.headers["Content-Type"], "text/html", "Content-Type")
    eq(res.headers["content-type"], "text/html", "content-type")
    eq(res.info.num_connects <= 1, true, "num_connects")

    res = check(xfer.request(up("/index.html")), "string form")
    eq(res.status, 200, "string form")

    res, err = xfer.request{ url = fault("/echo"), method = "POST",
                             body = "a\0b=c",
                             headers = { ["X-Test"] = "1", "X-Two: 2",
                                         ["X-Many"] = { "m1", "m2" } } }
    check(res, tostring(err))
    eq(res.headers["x-body-length"], "5", "posted body length")
    has(res.body, "POST /echo HTTP/1.1", "echo")
    has(res.body, "X-Test: 1", "echo")
    has(res.body, "X-Two: 2", "echo")
    has(res.body, "X-Many: m1", "echo")
    has(res.body, "X-Many: m2", "echo")
    has(res.body, "a\0b=c", "echo")

    res = check(xfer.request{ url = fault("/echo"), method = "PUT",
                              body = "xyz" })
    has(res.body, "PUT /echo", "PUT")
    res = check(xfer.request{ url = fault("/echo"), method = "DELETE" })
    has(res.body, "DELETE /echo", "DELETE")

    res = check(xfer.request{ url = up("/1k.bin"), method = "HEAD" })
    eq(res.status, 200, "HEAD status")
    eq(res.body, "", "HEAD body")
    eq(res.headers["content-length"], "1024", "HEAD length")

    res = check(xfer.request{ url = up("/redirect-to-1k") })
    eq(res.status, 302, "no follow")
    res = check(xfer.request{ url = up("/redirect-to-1k"),
                              followlocation = true })
    eq(res.status, 200, "followed")
    eq(#res.body, 1024, "followed body")
    eq(res.info.redirect_count, 1, "redirect_count")
    check(res.info.effective_url:find("/1k.bin", 1, true), "effective_url")

    res = check(xfer.request{ url = up("/status/404") })
    eq(res.status, 404, "404 is a response")

    res = check(xfer.request{ url = fault("/headers?X-Rep=1&X-Rep=2") })
    eq(res.headers["X-Rep"], "1, 2", "repeated headers joined")
    local rep = res.headers:all("x-rep")
    check(rep[1] == "1" and rep[2] == "2" and rep[3] == nil,
          "repeated headers one by one")
    eq(res.headers:get("content-type"), res.headers["Content-Type"], "get")

    local results = xfer.fetch_all({ up("/index.html") }, { headers = false })
    eq(results[1].headers, nil, "fetch_all headers = false")
    eq(results[1].info, nil, "fetch_all: no info unless asked")
    eq(results[1].body, "hello from nginx\n", "fetch_all body")
    results = xfer.fetch_all({ { url = up("/index.html") } }, { info = true })
    check(results[1].info.total_time_t > 0, "fetch_all info")
    eq(results[1].info.response_code, 200, "info.response_code")
    eq(results[1].headers["content-length"], "17", "fetch_all headers")

    res = check(xfer.request{ url = up("/1m.bin") })
    eq(#res.body, 1048576, "1 MiB body")

    res = check(xfer.request{ url = "http://localhost:" .. cfg.nginx
                                    .. "/index.html" })
    eq(res.status, 200, "localhost (c-ares)")

    if cfg.tls_port then
        -- the test certificate names "localhost" (resolved by c-ares from
        -- /etc/hosts; pinned with resolve as well)
        res, err = xfer.request{ url = "https://localhost:" .. cfg.tls_port
                                       .. "/index.html",
                                 cainfo = cfg.tls_ca,
                                 resolve = { "localhost:" .. cfg.tls_port
                                             .. ":127.0.0.1" } }
        check(res, "https: " .. tostring(err))
        eq(res.status, 200, "https status")
    end
    say("ok")
end


-- Failures are values: nil, err{code, name, message} ----------------------

local function expect_err(req, code, pat)
    local res, err = xfer.request(req)
    if res then
        fail("expected error " .. code .. " for " .. tostring(req.url)
             .. ", got status " .. res.status)
    end
    eq(err.code, code, tostring(req.url) .. " (" .. tostring(err) .. ")")
    check(type(err.name) == "string" and err.name ~= "", "err.name")
    check(type(err.message) == "string" and err.message ~= "", "err.message")
    check(tostring(err):find(err.name, 1, true), "tostring(err)")
    if pat then
        has(err.message, pat, "message")
    end
    return err
end

function tests.errors()
    expect_err({ url = "http://127.0.0.1:1/" }, 7)
    local e = expect_err({ url = fault("/sleep?ms=3000"), timeout_ms = 200 },
                         28)
    eq(e.name, "OPERATION_TIMEDOUT", "name")
    expect_err({ url = "http://127.0.0.1:" .. cfg.silent .. "/",
                 timeout_ms = 200 }, 28)
    expect_err({ url = "ftp://127.0.0.1/" }, 1)
    expect_err({ url = "http://exa mple/" }, 3)
    expect_err({ url = up("/1k.bin"), max_body_size = 100 }, 63,
               "max_body_size")
    e = expect_err({ url = up("/status/404"), failonerror = true }, 22)
    eq(e.status, 404, "err.status")
    expect_err({ url = fault("/garbage") }, 8)
    expect_err({ url = fault("/conflicting-length") }, 8)
    expect_err({ url = "http://127.0.0.1:" .. cfg.fault_close .. "/" }, 52)
    if cfg.tls_port then
        expect_err({ url = "https://localhost:" .. cfg.tls_port .. "/" }, 60)
    end

    -- misuse raises, and leaves nothing behind
    local s0 = xfer.stats()
    local ok, msg = pcall(xfer.request, { url = 42 })
    check(not ok and msg:find("'url' must be a string", 1, true),
          "bad url type: " .. tostring(msg))
    ok, msg = pcall(xfer.request, { url = up("/"), bogus = 1 })
    check(not ok and msg:find("unknown option 'bogus'", 1, true),
          "unknown option: " .. tostring(msg))
    ok, msg = pcall(xfer.request, { url = up("/"), timeout_ms = 1.5 })
    check(not ok and msg:find("timeout_ms", 1, true), "timeout_ms: "
          .. tostring(msg))
    ok, msg = pcall(xfer.fetch_all, { up("/"), { url = up("/"), x = 1 } })
    check(not ok and msg:find("unknown option 'x'", 1, true),
          "fetch_all item: " .. tostring(msg))
    local s1 = xfer.stats()
    eq(s1.groups, s0.groups, "groups after misuse")
    eq(s1.running, s0.running, "running after misuse")

    -- the same codes through fetch_all
    local results = xfer.fetch_all{
        up("/index.html"), "http://127.0.0.1:1/",
        { url = fault("/sleep?ms=3000"), timeout_ms = 100 },
    }
    eq(failures(results), 2, "failures")
    eq(results[1].status, 200, "fetch_all ok entry")
    eq(results[2].err.code, 7, "fetch_all refused")
    eq(results[3].err.code, 28, "fetch_all timeout")
    say("ok")
end


-- Fan-out ------------------------------------------------------------------

function tests.fanout1000()
    local n = arg("n", 1000)
    local nonce = tostring(arg("nonce", 0))
    assert(xfer.close_idle())
    assert(xfer.configure{ max_total_connections = 8 })
    local list = {}
    for i = 1, n do
        list[i] = up("/files/" .. (i - 1) .. ".txt?r=" .. nonce)
    end
    local done = 0
    local t0 = clock()
    local results = xfer.fetch_all(list, {
        on_done = function() done = done + 1 end, info = true,
        max_total_connections = 0,
    })
    local dt = clock() - t0
    assert(xfer.configure{ max_total_connections = 0 })
    local nf, first = failures(results)
    eq(nf, 0, "failures (" .. tostring(first) .. ")")
    eq(done, n, "on_done calls")
    local connects = 0
    for i = 1, n do
        eq(results[i].body, "file " .. (i - 1) .. "\n", "body " .. i)
        connects = connects + results[i].info.num_connects
    end
    check(connects <= 8, "connections opened: " .. connects)
    local st = xfer.stats()
    check(st.sockets <= 8, "sockets: " .. st.sockets)
    eq(st.running, 0, "running")
    say(string.format("ok %d transfers in %.3f s, %d connections",
                      n, dt, connects))
end

-- The same under a per-call window instead of a worker limit.
function tests.window()
    assert(xfer.close_idle())
    local list = {}
    for i = 1, 200 do
        list[i] = { url = up("/files/" .. (i - 1) .. ".txt") }
    end
    local results = xfer.fetch_all(with(list, { timeout_ms = 5000 }),
                                   { max_total_connections = 4, info = true })
    eq(failures(results), 0, "failures")
    local connects = 0
    for i = 1, 200 do
        eq(results[i].body, "file " .. (i - 1) .. "\n", "body " .. i)
        connects = connects + results[i].info.num_connects
    end
    check(connects <= 4, "connections opened: " .. connects)
    say("ok")
end

function tests.fanout_slow()
    local n, ms = arg("n", 200), arg("ms", 1000)
    local list = {}
    for i = 1, n do
        list[i] = fault("/sleep?ms=" .. ms .. "&i=" .. i)
    end
    local results = xfer.fetch_all(with(list,
                                        { timeout_ms = arg("timeout", 30000) }),
                                   { max_total_connections = 0 })
    local nfailed, first = failures(results)
    if nfailed > 0 then
        say("FAIL: ", nfailed, " failed, e.g. ", tostring(first))
        return
    end
    for i = 1, n do
        eq(results[i].body, "slept\n", "body " .. i)
    end
    say("ok ", n)
end

-- A mix for the strace run: keep-alive hits, slow ones, failures.
function tests.mix()
    local list = {}
    for i = 1, 300 do
        list[#list + 1] = up("/files/" .. (i - 1) .. ".txt")
    end
    for i = 1, 50 do
        list[#list + 1] = fault("/sleep?ms=" .. (200 + i * 10))
    end
    list[#list + 1] = "http://127.0.0.1:1/"
    list[#list + 1] = { url = "http://127.0.0.1:" .. cfg.silent .. "/",
                        timeout_ms = 300 }
    list[#list + 1] = "http://localhost:" .. cfg.nginx .. "/index.html"
    local results = xfer.fetch_all(with(list, { timeout_ms = 10000 }),
                                   { max_total_connections = 0 })
    eq(failures(results), 2, "failures")
    say("ok")
end


-- Reused tasks (the worker's pool) -----------------------------------------

-- Sequential requests of one light thread reuse one task (and its easy
-- handle): nothing of a run may reach the next one.
function tests.reuse()
    assert(xfer.close_idle())           -- also empties the pool
    local s0 = xfer.stats()
    eq(s0.pooled, 0, "pool after close_idle")

    -- a run with every kind of option, failing (failonerror)
    local res, err = xfer.request{
        url = fault("/status/404"), method = "PUT", body = "secret-body",
        headers = { ["X-Leak"] = "1" }, useragent = "leaky-agent",
        failonerror = true, timeout_ms = 3000,
        resolve = "leak.invalid:80:127.0.0.1",
    }
    check(not res, "failonerror: expected an error")
    eq(err.code, 22, "failonerror (" .. tostring(err) .. ")")
    eq(xfer.stats().pooled, 1, "pooled after one request")

    -- the same handle, plain: a GET without that run's options
    res, err = xfer.request(fault("/echo"))
    check(res, tostring(err))
    has(res.body, "GET /echo HTTP/1.1", "method after a PUT")
    check(not res.body:find("X-Leak", 1, true), "header leaked: " .. res.body)
    check(not res.body:find("leaky-agent", 1, true),
          "user agent leaked: " .. res.body)
    check(not res.body:find("secret-body", 1, true), "body leaked")
    eq(res.headers["x-body-length"], "0", "no request body")
    res, err = xfer.request(fault("/status/404"))
    check(res, "failonerror leaked: " .. tostring(err))
    eq(res.status, 404, "404 is a response again")

    -- sticky options: a short timeout, then the default again
    res, err = xfer.request{ url = fault("/sleep?ms=2000"), timeout_ms = 100 }
    eq(err and err.code, 28, "short timeout")
    res, err = xfer.request(fault("/sleep?ms=300"))
    check(res, "timeout leaked: " .. tostring(err))
    eq(res.body, "slept\n", "after a timeout")

    -- max_body_size, then a whole body on the same handle
    res, err = xfer.request{ url = up("/1k.bin"), max_body_size = 100 }
    eq(err and err.code, 63, "max_body_size")
    res, err = xfer.request(up("/1k.bin"))
    check(res, tostring(err))
    eq(#res.body, 1024, "body after FILESIZE_EXCEEDED")

    -- followlocation, then none
    res = check(xfer.request{ url = up("/redirect-to-1k"),
                              followlocation = true })
    eq(res.status, 200, "followed")
    res = check(xfer.request(up("/redirect-to-1k")))
    eq(res.status, 302, "followlocation leaked")
    eq(res.info.redirect_count, 0, "redirect_count")
    check(res.info.effective_url:find("/redirect-to-1k", 1, true),
          "effective_url " .. res.info.effective_url)

    -- another URL, then the first again (xfer keeps the parse of a URL
    -- that did not change)
    res = check(xfer.request(up("/index.html")))
    eq(res.body, "hello from nginx\n", "other URL")
    res = check(xfer.request(up("/index.html")))
    eq(res.body, "hello from nginx\n", "same URL")
    res = check(xfer.request(fault("/echo")))
    has(res.body, "GET /echo HTTP/1.1", "URL changed back")

    -- headers and info only when asked, and asked again
    local results = xfer.fetch_all({ up("/index.html") }, { headers = false })
    eq(results[1].raw_headers, nil, "no headers")
    eq(results[1].info, nil, "no info")
    res = check(xfer.request(up("/index.html")))
    eq(res.headers["content-type"], "text/html", "headers again")
    eq(res.info.response_code, 200, "info again")
    eq(res.info.primary_ip, "127.0.0.1", "primary_ip")

    -- a transfer cancelled while running (gave up waiting), then reused
    res, err = xfer.request{ url = fault("/sleep?ms=400"),
                             wait_timeout_ms = 50 }
    eq(err and err.code, 28, "gave up")
    res = check(xfer.request(up("/index.html")))
    eq(res.body, "hello from nginx\n", "after a cancelled run")

    local s1 = xfer.stats()
    eq(s1.pooled, 1, "one task for sequential requests")
    eq(s1.reused - s0.reused, 15, "reused")
    eq(s1.running, 0, "running")
    say("ok ", s1.reused - s0.reused, " runs on one reused task")
end

-- fetch_all wakes its light thread once for a batch that is all started
-- and has no on_done; on_done is still called as each one finishes.
function tests.wakeups()
    local list = {}
    for i = 1, 5 do
        list[i] = fault("/sleep?ms=" .. (60 * i) .. "&w=" .. i)
    end
    local s0 = xfer.stats()
    local results = xfer.fetch_all(list, { max_total_connections = 0 })
    eq(failures(results), 0, "failures")
    local s1 = xfer.stats()
    eq(s1.posts - s0.posts, 1, "posts without on_done")

    local times = {}
    local t0 = clock()
    results = xfer.fetch_all(list, {
        max_total_connections = 0,
        on_done = function(i) times[i] = clock() - t0 end,
    })
    eq(failures(results), 0, "failures with on_done")
    local s2 = xfer.stats()
    check(s2.posts - s1.posts >= 3, "posts with on_done: "
                                     .. (s2.posts - s1.posts))
    check(times[1] < times[5] - 0.1, string.format(
          "on_done as each finishes: first %.3f s, last %.3f s",
          times[1], times[5]))

    -- a window smaller than the batch still starts each as one finishes
    t0 = clock()
    results = xfer.fetch_all(list, { max_total_connections = 2 })
    eq(failures(results), 0, "failures with a window")
    say(string.format("ok windowed batch in %.3f s", clock() - t0))
end

-- xfer's nginx timer is left armed when a later deadline is reported; when
-- it fires early, xfer reports the real one again.
function tests.timer_early()
    local t0 = clock()
    local results = xfer.fetch_all({
        { url = fault("/sleep?ms=3000"), timeout_ms = 300 },
        { url = up("/index.html"), timeout_ms = 100 },
    }, { max_total_connections = 0 })
    local dt = clock() - t0
    eq(results[2].status, 200, "the quick one")
    eq(results[1].err and results[1].err.code, 28, "the slow one")
    check(dt >= 0.28 and dt < 1.5, "timed out after " .. dt .. " s")
    ngx.sleep(0.01)
    eq(xfer.stats().timer_set, false, "timer after the batch")
    say(string.format("ok timed out after %.3f s", dt))
end


-- The worker's own locations ----------------------------------------------

function tests.selfloop()
    local n = arg("n", 300)
    local list = {}
    for i = 1, n do
        list[i] = self((i % 2 == 0 and "/t/small_lua?i=" or "/small?i=") .. i)
    end
    local results = xfer.fetch_all(with(list, { timeout_ms = 20000 }),
                                   { max_total_connections = 0 })
    local nfailed, first = failures(results)
    if nfailed > 0 then
        fail(nfailed .. " failed, e.g. " .. tostring(first))
    end
    for i = 1, n do
        eq(results[i].body, "small " .. i .. "\n", "body " .. i)
    end
    say("ok ", n)
end

function tests.small_lua()
    ngx.sleep(0.002)
    say("small ", ngx.var.arg_i)
end


-- Giving up, and late completions ------------------------------------------

function tests.late()
    local s0 = xfer.stats()
    local t0 = clock()
    local res, err = xfer.request{ url = fault("/sleep?ms=600"),
                                   wait_timeout_ms = 100 }
    local dt = clock() - t0
    check(not res, "expected to give up")
    eq(err.code, 28, "gave-up code")
    has(err.message, "gave up", "gave-up message")
    check(dt < 0.45, "gave up after " .. dt .. " s")
    local s1 = xfer.stats()
    eq(s1.cancelled - s0.cancelled, 1, "cancelled")
    eq(s1.running, s0.running, "running")

    ngx.sleep(0.001)    -- the reaper gives the semaphore back: B may reuse it
    eq(xfer.stats().graveyard, 0, "graveyard")

    t0 = clock()
    res, err = xfer.request{ url = fault("/sleep?ms=1000") }
    dt = clock() - t0
    check(res, tostring(err))
    eq(res.body, "slept\n", "B's body")
    check(dt >= 0.95, "B woke after " .. dt .. " s: woken by A's completion?")
    local s2 = xfer.stats()
    eq(s2.completed - s1.completed, 1, "completions after A gave up")
    eq(s2.posts - s1.posts, 1, "posts after A gave up")

    -- fetch_all gives up on the whole batch
    local s5 = xfer.stats()
    t0 = clock()
    local results = xfer.fetch_all({
        fault("/sleep?ms=600&a"), up("/index.html"), fault("/sleep?ms=600&b"),
    }, { wait_timeout_ms = 150 })
    dt = clock() - t0
    check(dt < 0.5, "batch gave up after " .. dt .. " s")
    eq(results[2].status, 200, "the quick one")
    eq(results[1].err.code, 28, "gave up 1")
    eq(results[3].err.code, 28, "gave up 3")
    has(results[3].err.message, "gave up", "batch message")
    eq(xfer.stats().cancelled - s5.cancelled, 2, "batch cancelled")

    -- A light thread killed while it waits: its group is an orphan until
    -- collected; its late completion posts only its own semaphore.
    local th = ngx.thread.spawn(function()
        return xfer.request{ url = fault("/sleep?ms=400") }
    end)
    ngx.sleep(0.05)
    assert(ngx.thread.kill(th))
    th = nil
    t0 = clock()
    res, err = xfer.request{ url = fault("/sleep?ms=800") }
    dt = clock() - t0
    check(res, tostring(err))
    eq(res.body, "slept\n", "C's body")
    check(dt >= 0.75, "C woke after " .. dt .. " s")
    collectgarbage()
    collectgarbage()
    ngx.sleep(0.001)
    local s3 = xfer.stats()
    eq(s3.groups, s0.groups, "groups after collect")
    eq(s3.graveyard, 0, "graveyard after collect")

    -- Killed and collected before its transfer finishes: cancelled.
    th = ngx.thread.spawn(function()
        return xfer.request{ url = fault("/sleep?ms=400") }
    end)
    ngx.sleep(0.05)
    assert(ngx.thread.kill(th))
    th = nil
    collectgarbage()
    collectgarbage()
    local s4 = xfer.stats()
    eq(s4.cancelled - s3.cancelled, 1, "collected orphan cancelled")
    eq(s4.running, s0.running, "running after collect")
    say("ok")
end


-- Threads killed at random moments while the collector runs: whatever
-- survives gets its own answer, nothing is left behind.
function tests.gc_stress()
    local s0 = xfer.stats()
    local threads = {}
    for i = 1, 40 do
        threads[i] = ngx.thread.spawn(function()
            local res, err = xfer.request{ url = fault("/sleep?ms=" .. (i * 7)
                                                       .. "&i=" .. i) }
            collectgarbage("step")
            return res and res.body, err
        end)
    end
    local killed = {}
    for i = 1, 40, 3 do
        ngx.sleep(0.005)
        if ngx.thread.kill(threads[i]) then
            killed[i] = true
        end
        collectgarbage()
    end
    for i = 1, 40 do
        if not killed[i] then
            local ok, body, err = ngx.thread.wait(threads[i])
            check(ok and body == "slept\n", "thread " .. i .. ": "
                  .. tostring(body) .. " " .. tostring(err))
        end
        threads[i] = nil
    end
    local list = {}
    for i = 1, 100 do
        list[i] = up("/files/" .. (i - 1) .. ".txt")
    end
    local n = 0
    local results = xfer.fetch_all(list, {
        on_done = function() n = n + 1 collectgarbage() end })
    eq(failures(results), 0, "fetch_all under collectgarbage")
    eq(n, 100, "on_done calls")
    eq(results[100].body, "file 99\n", "last body")
    collectgarbage()
    collectgarbage()
    ngx.sleep(0.3)      -- orphans that were not cancelled finish or are gone
    collectgarbage()
    ngx.sleep(0.001)
    local s1 = xfer.stats()
    eq(s1.groups, s0.groups, "groups")
    eq(s1.running, s0.running, "running")
    eq(s1.graveyard, 0, "graveyard")
    say("ok")
end


-- Lua errors in user code ---------------------------------------------------

function tests.lua_error()
    local res = xfer.request(up("/index.html"))
    check(res)
    error("boom from user code")
end

function tests.on_done_error()
    local list = {}
    for i = 1, 50 do
        list[i] = fault("/sleep?ms=" .. (i * 20))
    end
    xfer.fetch_all(list, { on_done = function() error("boom in on_done") end })
end

function tests.stats()
    if ngx.var.arg_gc ~= "0" then   -- gc=0: what runs without the collector
        collectgarbage()
        collectgarbage()
    end
    ngx.sleep(0.001)
    local st = xfer.stats()
    local keys = {}
    for k in pairs(st) do
        keys[#keys + 1] = k
    end
    table.sort(keys)
    local out = {}
    for _, k in ipairs(keys) do
        out[#out + 1] = k .. "=" .. tostring(st[k])
    end
    say("ok ", table.concat(out, " "))
end

function tests.close_idle()
    local ok, err = xfer.close_idle()
    check(ok, tostring(err))
    say("ok")
end

function tests.pid()
    say(ngx.worker.pid())
end


-- HTTP/2 upstreams ---------------------------------------------------------

local function h2(path)
    return "https://127.0.0.1:" .. cfg.h2_port .. path
end

local function h2c(path)
    return "http://127.0.0.1:" .. cfg.h2c_port .. path
end

-- Authentication: userpwd, httpauth and xoauth2_bearer by name, the
-- xfer.AUTH_* constants; Digest's round trip inside the worker.
function tests.auth()
    check(cfg.auth_port, "no AUTH_PORT")
    local res = check(xfer.request{ url = up("/basic/index.html"),
                                    userpwd = "alice:s3cret:pw" })
    eq(res.status, 200, "basic")
    res = check(xfer.request{ url = up("/basic/index.html"),
                              userpwd = "alice:wrong" })
    eq(res.status, 401, "refused credentials: the 401")
    res = check(xfer.request{
        url = "http://127.0.0.1:" .. cfg.auth_port .. "/digest/x?algo=SHA-256",
        method = "POST", body = "a=1", username = "alice",
        password = "s3cret:pw", httpauth = xfer.AUTH_DIGEST })
    eq(res.status, 200, "digest")
    has(res.body, "ok scheme=digest algo=SHA-256 ", "digest body")
    has(res.body, " method=POST body=3\n", "digest body")
    res = check(xfer.request{
        url = "http://127.0.0.1:" .. cfg.auth_port .. "/digest/x?basic=1",
        userpwd = "alice:s3cret:pw", httpauth = xfer.AUTH_ANY })
    has(res.body, "ok scheme=digest", "ANY picks Digest")
    res = check(xfer.request{ url = h2c("/bearer/index.html"),
                              http_version = xfer.HTTP_VERSION_2_PRIOR_KNOWLEDGE,
                              httpauth = xfer.AUTH_BEARER,
                              xoauth2_bearer = "xfer-token" })
    eq(res.body, "hello from nginx\n", "bearer over h2c")
    say("ok")
end

-- Proxies from a worker: tinyproxy in absolute form and through CONNECT
-- (Basic), microsocks (SOCKS5), the auth server's Digest proxy with its
-- knobs in proxyheader; http_connectcode in res.info, and with
-- proxy_error in err for a failure.
function tests.proxy()
    check(cfg.tinyproxy and cfg.socks5 and cfg.auth_port,
          "no TINYPROXY_PORT / SOCKS5_PORT / AUTH_PORT")
    local tiny = "http://127.0.0.1:" .. cfg.tinyproxy
    local tiny_auth = "http://127.0.0.1:" .. cfg.tinyproxy_auth
    local res = check(xfer.request{ url = up("/1k.bin"), proxy = tiny })
    eq(res.status, 200, "absolute form")
    eq(#res.body, 1024, "absolute form body")
    eq(res.info.http_connectcode, 0, "no CONNECT")
    res = check(xfer.request{ url = up("/1k.bin"), proxy = tiny_auth,
                              proxyuserpwd = "puser:ppass",
                              httpproxytunnel = true })
    eq(res.status, 200, "tunnel")
    eq(#res.body, 1024, "tunnel body")
    eq(res.info.http_connectcode, 200, "http_connectcode")
    local r2, err = xfer.request{ url = up("/1k.bin"), proxy = tiny_auth,
                                  httpproxytunnel = true }
    eq(r2, nil, "CONNECT without credentials")
    eq(err.code, 56, "the CONNECT's 407: RECV_ERROR")
    eq(err.http_connectcode, 407, "err.http_connectcode")
    res = check(xfer.request{ url = up("/1k.bin"),
                              proxy = "socks5h://127.0.0.1:" .. cfg.socks5 })
    eq(#res.body, 1024, "socks5h")
    eq(res.info.proxy_error, 0, "proxy_error")
    -- a SOCKS5 proxy that wants a password not given: 97, proxy_error
    r2, err = xfer.request{ url = up("/1k.bin"), proxy = "socks5://127.0.0.1:"
                            .. cfg.socks5_auth }
    eq(r2, nil, "SOCKS5 without credentials")
    eq(err.code, 97, "PROXY")
    check(err.proxy_error and err.proxy_error > 0, "err.proxy_error")
    -- Digest to the proxy, its knobs in proxyheader (the proxy's only)
    res = check(xfer.request{
        url = fault("/echo"), httpproxytunnel = true,
        proxy = "http://127.0.0.1:" .. cfg.auth_port,
        proxyuserpwd = "alice:s3cret:pw", proxyauth = xfer.AUTH_DIGEST,
        proxyheader = { "X-Proxy-Knobs: algo=SHA-256" } })
    eq(res.status, 200, "Digest proxy")
    has(res.body, "GET /echo HTTP/1.1", "tunnelled to the echo")
    check(not res.body:find("X-Proxy-Knobs", 1, true),
          "proxyheader stays with the proxy")
    -- (the proxy tunnels only after a good Digest answer)
    eq(res.info.http_connectcode, 200, "Digest proxy: CONNECT")
    r2, err = pcall(xfer.request, { url = up("/"), proxyheader = 5 })
    check(not r2 and tostring(err):find("proxyheader", 1, true),
          "a bad proxyheader raises")
    say("ok")
end

-- res.http_version and the options, on every path of xfer.ngx.
function tests.h2_basic()
    check(cfg.h2_port and cfg.h2c_port, "no TLS_H2_PORT / NGINX_H2C_PORT")
    local ca = cfg.tls_ca
    local res, err = xfer.request{ url = h2("/1k.bin"), cainfo = ca }
    check(res, tostring(err))
    eq(#res.body, 1024, "h2 body")
    eq(res.http_version, 2, "res.http_version over TLS_H2_PORT")
    eq(res.info.http_version, xfer.HTTP_VERSION_2_0, "info.http_version")
    res = check(xfer.request{ url = h2("/1k.bin"), cainfo = ca,
                              http_version = xfer.HTTP_VERSION_1_1 })
    eq(res.http_version, 1.1, "http_version = HTTP_VERSION_1_1")
    eq(res.info.http_version, xfer.HTTP_VERSION_1_1, "info, 1.1")
    res = check(xfer.request(up("/1k.bin")))
    eq(res.http_version, 1.1, "plain http")
    res = check(xfer.request{
        url = h2c("/1k.bin"),
        http_version = xfer.HTTP_VERSION_2_PRIOR_KNOWLEDGE })
    eq(res.http_version, 2, "h2c with prior knowledge")
    eq(#res.body, 1024, "h2c body")
    res = check(xfer.request{ url = h2("/echo-method"), cainfo = ca,
                              method = "PUT", body = "x" })
    eq(res.body, "PUT\n", "h2 PUT")
    eq(res.http_version, 2, "h2 PUT")

    -- a streamed response knows its version at the headers
    res = check(xfer.request{ url = h2("/1m.bin"), cainfo = ca,
                              stream = true })
    eq(res.http_version, 2, "streamed")
    local body = check(res:read_body())
    eq(#body, 1048576, "streamed body")

    -- fetch_all: every response over h2, one connection for all of them
    assert(xfer.close_idle())
    local list = {}
    for i = 1, 100 do
        list[i] = { url = h2("/files/" .. (i - 1) .. ".txt"), cainfo = ca }
    end
    local results = xfer.fetch_all(list, { info = true,
                                           max_total_connections = 0 })
    eq(failures(results), 0, "fetch_all failures")
    local connects = 0
    for i = 1, 100 do
        eq(results[i].body, "file " .. (i - 1) .. "\n", "body " .. i)
        eq(results[i].http_version, 2, "fetch_all http_version " .. i)
        connects = connects + results[i].info.num_connects
    end
    eq(connects, 1, "connections for 100 h2 transfers")

    -- misuse raises, naming the constants
    local function raises(req, pat)
        local ok, msg = pcall(xfer.request, req)
        check(not ok, "accepted: " .. tostring(req.http_version))
        has(msg, pat, "message")
    end
    raises({ url = h2("/"), http_version = true }, "HTTP_VERSION_2TLS")
    raises({ url = h2("/"), http_version = 9 }, "got 9")
    raises({ url = h2("/"), http_version = 1 }, "not built in")
    raises({ url = h2("/"), http_version = "2" }, "got string")
    local ok, msg = pcall(xfer.configure, { pipelining = true })
    check(not ok, "configure{ pipelining = true } accepted")
    has(msg, "PIPE_MULTIPLEX", "configure pipelining")
    ok, msg = pcall(xfer.configure, { max_concurrent_streams = 2 ^ 31 })
    check(not ok, "configure{ max_concurrent_streams = 2^31 } accepted")
    has(msg, "max_concurrent_streams", "configure max_concurrent_streams")
    say("ok")
end

-- Barriers of the concurrent runs: nonce -> { sema =, n = arrived }.
local gates = {}

-- One request of the concurrent downstream run (spec/ngx/run.sh test_h2):
-- "ok HTTP_VERSION NUM_CONNECTS BODY_LENGTH ...". The n requests of a nonce
-- wait for each other, then all start in the same turn of the event loop:
-- before the first upstream connection is set up, which is where
-- PIPEWAIT decides whether they share it.
function tests.h2_one()
    local nonce, n = arg("nonce", 0), arg("n", 1)
    local g = gates[nonce]
    if not g then
        g = { sema = require("ngx.semaphore").new(), n = 0 }
        gates[nonce] = g
    end
    g.n = g.n + 1
    if g.n >= n then
        gates[nonce] = nil
        g.sema:post(n - 1)
    else
        local ok, err = g.sema:wait(10)
        check(ok, "the others did not come: " .. tostring(err))
    end
    local res, err = xfer.request{
        url = h2("/1k.bin?r=" .. arg("nonce", 0) .. "&i=" .. arg("i", 0)),
        cainfo = cfg.tls_ca }
    check(res, tostring(err))
    say("ok ", res.http_version, " ", res.info.num_connects, " ", #res.body,
        " queue_us=", res.info.queue_time_t, " connect_us=",
        res.info.connect_time_t)
end

-- n x 1 MiB over the h2 upstream, all at once (test_h2's load):
-- "ok N transfers, C connections, T s".
function tests.h2_fanout()
    local n = arg("n", 200)
    local list = {}
    for i = 1, n do
        list[i] = { url = h2("/1m.bin?f=" .. i), cainfo = cfg.tls_ca,
                    timeout_ms = 60000 }
    end
    local t0 = clock()
    local results = xfer.fetch_all(list, { info = true,
                                           max_total_connections = 0 })
    local dt = clock() - t0
    local nf, first = failures(results)
    eq(nf, 0, "failures (" .. tostring(first) .. ")")
    local connects = 0
    for i = 1, n do
        eq(#results[i].body, 1048576, "body " .. i)
        eq(results[i].http_version, 2, "http_version " .. i)
        connects = connects + results[i].info.num_connects
    end
    check(connects <= 1, "connections: " .. connects)
    say(string.format("ok %d transfers, %d connections, %.2f s", n,
                      connects, dt))
end

-- configure{} with the HTTP/2 options: one stream at a time and no
-- multiplexing give a connection per concurrent transfer; the defaults
-- give one connection again.
function tests.h2_configure()
    local ca = cfg.tls_ca
    local function run(n)
        assert(xfer.close_idle())
        local list = {}
        for i = 1, n do
            list[i] = { url = h2("/1k.bin?c=" .. i), cainfo = ca }
        end
        local results = xfer.fetch_all(list, { info = true,
                                               max_total_connections = 0 })
        eq(failures(results), 0, "failures")
        local connects = 0
        for i = 1, n do
            connects = connects + results[i].info.num_connects
        end
        return connects
    end
    assert(xfer.configure{ pipelining = xfer.PIPE_NOTHING })
    local nothing = run(4)
    assert(xfer.configure{ pipelining = xfer.PIPE_MULTIPLEX,
                           max_concurrent_streams = 2 })
    local two = run(6)
    assert(xfer.configure{ max_concurrent_streams = 0 })
    local default = run(6)
    eq(nothing, 4, "PIPE_NOTHING: connections for 4 transfers")
    -- 2 or 3: the transfers that find no room either open a connection
    -- or, under PIPEWAIT, wait for one being set up
    check(two >= 2, "max_concurrent_streams = 2: only " .. two
                    .. " connection for 6 transfers")
    eq(default, 1, "the defaults: connections for 6 transfers")
    say("ok")
end


-- Phases -------------------------------------------------------------------

function tests.timer()
    local dict = ngx.shared.t
    dict:delete("timer")
    assert(ngx.timer.at(0, function(premature)
        local res, err = xfer.request(up("/index.html"))
        dict:set("timer", res and res.body or tostring(err))
    end))
    for _ = 1, 200 do
        local v = dict:get("timer")
        if v then
            eq(v, "hello from nginx\n", "timer result")
            say("ok")
            return
        end
        ngx.sleep(0.01)
    end
    fail("the timer's request did not finish")
end

function _M.access()
    local res, err = xfer.request(up("/index.html"))
    ngx.ctx.phase_body = res and res.body or tostring(err)
end

function tests.phases()
    eq(ngx.ctx.phase_body, "hello from nginx\n", "access-phase request")
    eq(ngx.ctx.rewrite_body, "hello from nginx\n", "rewrite-phase request")
    say("ok")
end

function _M.rewrite()
    local res, err = xfer.request(up("/index.html"))
    ngx.ctx.rewrite_body = res and res.body or tostring(err)
end


-- Sockets: every xfer fd is non-blocking ----------------------------------

function tests.fds()
    local fds = xfer.fds()
    local bad = {}
    for _, fd in ipairs(fds) do
        local f = io.open("/proc/self/fdinfo/" .. fd)
        if f then
            local info = f:read("*a")
            f:close()
            local flags = tonumber(info:match("flags:%s*(%d+)"), 8)
            if not flags or flags % 4096 < 2048 then  -- O_NONBLOCK = 04000
                bad[#bad + 1] = fd
            end
        end
    end
    if #bad > 0 then
        fail("blocking xfer sockets: " .. table.concat(bad, ","))
    end
    say("ok ", #fds)
end


-- worker_connections run out: a clear error, not a crash ----------------

function tests.exhaust()
    local list = {}
    for i = 1, 100 do
        list[i] = fault("/sleep?ms=300&i=" .. i)
    end
    local results = xfer.fetch_all(with(list, { timeout_ms = 5000 }),
                                   { max_total_connections = 0 })
    local nfailed = failures(results)
    check(nfailed > 0, "expected failures")
    for i = 1, #results do
        local e = results[i].err
        if e then
            eq(e.code, 42, "code (" .. tostring(e) .. ")")
        end
    end
    local res, err = xfer.request(up("/index.html"))
    check(res, "afterwards: " .. tostring(err))
    say("ok ", nfailed)
end


-- Streamed responses (stream = true, res.body_reader) ---------------------

local WINDOW = 256 * 1024
-- what one window may hold: the window, or one piece from xfer when empty
local WINDOW_MAX = WINDOW + 64 * 1024

local function alphabet(n)
    local s = string.rep("abcdefghijklmnopqrstuvwxyz", math.ceil(n / 26))
    return s:sub(1, n)
end

local function rss_kib()
    local f = io.open("/proc/self/status")
    local s = f:read("*a")
    f:close()
    return tonumber(s:match("VmRSS:%s*(%d+)"))
end

-- Reads a stream to its end; returns the body, or nil, err.
local function read_all(res, max)
    local parts = {}
    while true do
        local chunk, err = res.body_reader(max)
        if not chunk then
            if err then
                return nil, err
            end
            return table.concat(parts)
        end
        if max then
            check(#chunk <= max, "chunk of " .. #chunk .. " > max " .. max)
        end
        check(#chunk > 0, "empty chunk")
        parts[#parts + 1] = chunk
    end
end

local function quiet_streams(what)
    local st = xfer.stats()
    eq(st.streams, 0, what .. ": streams open")
    eq(st.stream_held, 0, what .. ": bytes held")
    eq(st.running, 0, what .. ": transfers running")
end

-- Content decoding (accept_encoding) --------------------------------------

-- Cookies: the engine within one request (a redirect takes what the 302
-- set), and nothing of it in the next request on a pooled handle.
function tests.cookies()
    local to = up("/cookie/echo")
    local res = check(xfer.request{
        url = up("/cookie/redir?c1=d=1;Path=/&to=" .. to),
        cookiefile = "", followlocation = true })
    eq(res.body, "d=1\n", "cookie sent on the redirect")
    for _ = 1, 4 do
        res = check(xfer.request{ url = up("/cookie/echo") })
        eq(res.body, "\n", "no cookie left in a pooled handle")
    end
    res = check(xfer.request{ url = up("/cookie/echo"), cookie = "k=v" })
    eq(res.body, "k=v\n", "cookie option")
    say("ok")
end


function tests.decode()
    local plain = check(xfer.request{ url = up("/enc/plain.txt") })
    eq(#plain.body, 262144, "plain.txt")
    for _, f in ipairs({ "plain.gz", "plain.zz", "plain.deflate", "plain.br",
                         "plain.zst", "plain.gz.br", "members.gz" }) do
        local res, err = xfer.request{ url = up("/enc/" .. f),
                                       accept_encoding = "" }
        check(res, f .. ": " .. tostring(err))
        eq(res.body == plain.body, true, f .. " decoded")
    end
    -- not asked for: the body as sent
    local raw = check(xfer.request{ url = up("/enc/plain.gz") })
    eq(#raw.body, 67934, "undecoded plain.gz")
    -- a list is sent as given (nginx's gzip filter answers it)
    local results = xfer.fetch_all({
        { url = up("/gz/1m.bin"), accept_encoding = "gzip" },
        { url = up("/enc/plain.br"), accept_encoding = "br" },
    })
    eq(results[1].body, alphabet(1048576), "fetch_all gzip")
    eq(results[1].headers["Content-Encoding"], "gzip", "Content-Encoding")
    eq(results[2].body == plain.body, true, "fetch_all br")
    -- streamed: the window pauses the decoding transfer, nothing is lost
    local res = check(xfer.request{ url = up("/gz/1m.bin"), stream = true,
                                    accept_encoding = "" })
    eq(check(read_all(res, 1000)), alphabet(1048576), "streamed gzip")
    quiet_streams("decode")
    expect_err({ url = fault("/enc/plain.gz?ce=compress"),
                 accept_encoding = "" }, 61, "unrecognized")
    expect_err({ url = fault("/enc/plain.gz?flip=30000"),
                 accept_encoding = "" }, 61)
    expect_err({ url = fault("/enc/zeros-1g.zst"), accept_encoding = "",
                 maxfilesize = 1000000 }, 63)
    say("ok")
end


function tests.stream_basic()
    local res, err = xfer.request{ url = up("/1k.bin"), stream = true }
    check(res, tostring(err))
    eq(res.status, 200, "status")
    eq(res.headers["Content-Length"], "1024", "Content-Length")
    eq(res.body, nil, "no buffered body")
    eq(read_all(res), alphabet(1024), "1k body")
    eq(res.body_reader(), nil, "after the end")

    res = check(xfer.request{ url = up("/1m.bin"), stream = true })
    local body = check(res:read_body())
    eq(#body, 1048576, "1m via read_body")
    eq(body, alphabet(1048576), "1m content")

    res = check(xfer.request{ url = up("/1m.bin"), stream = true })
    eq(#check(read_all(res, 1000)), 1048576, "reader(1000)")

    res = check(xfer.request{ url = up("/status/404"), stream = true })
    eq(res.status, 404, "404 status")
    eq(read_all(res), "not found\n", "404 body")

    res = check(xfer.request{ url = up("/redirect-to-1k"), stream = true,
                              followlocation = true })
    eq(res.status, 200, "followed")
    eq(read_all(res), alphabet(1024), "followed body")

    res = check(xfer.request{ url = up("/1k.bin"), method = "HEAD",
                              stream = true })
    eq(res.status, 200, "HEAD")
    eq(read_all(res), "", "HEAD body")

    res, err = xfer.request{ url = "http://127.0.0.1:1/", stream = true }
    eq(res, nil, "refused connection")
    eq(err.code, 7, "refused: code")

    -- the headers come back before the body: 5 chunks, 300 ms apart
    local t0 = clock()
    res = check(xfer.request{ url = fault("/chunked/5?size=1&every_ms=300"),
                              stream = true, timeout_ms = 10000 })
    local head_ms = (clock() - t0) * 1000
    check(head_ms < 250, "request() took " .. head_ms .. " ms: it waited "
                         .. "for the body")
    local first = check(res.body_reader())
    eq(#first, 1, "first chunk alone")
    local rest = check(read_all(res))
    eq(#first + #rest, 5, "chunked body")

    -- a max_body_size is a limit on the whole body
    res = check(xfer.request{ url = up("/1m.bin"), stream = true,
                              max_body_size = 100000 })
    eq(res.status, 200, "over max_body_size: headers first")
    res, err = read_all(res)
    eq(res, nil, "over max_body_size")
    eq(err.code, 63, "FILESIZE_EXCEEDED")

    local ok, merr = pcall(xfer.fetch_all, { { url = up("/1k.bin"),
                                               stream = true } })
    check(not ok, "fetch_all took stream")
    has(merr, "use request()", "fetch_all stream")

    quiet_streams("stream_basic")
    say("ok")
end

-- One 64 MiB stream read slowly: the module never holds more than a window
-- for it, the transfer pauses, and every byte (zeros) arrives. streams=N:
-- N run at once (the bound is N windows); buffered=1: the buffered path,
-- for comparison (fails the bound).
function tests.stream_slow()
    local sleep_ms = arg("sleep_ms", 2)
    local max = arg("max", 65536)
    local buffered = ngx.var.arg_buffered == "1"
    local pauses0 = xfer.stats().stream_pauses
    local rss0 = rss_kib()
    local t0 = clock()
    local total, held_max, rss_max, reads = 0, 0, rss0, 0
    if buffered then
        -- the buffered path, for comparison (the test must fail with it)
        local res, err = xfer.request{ url = up("/64m.bin"),
                                       timeout_ms = 120000 }
        check(res, tostring(err))
        total = #res.body
        rss_max = math.max(rss_max, rss_kib())
        held_max = total
    else
        local res, err = xfer.request{ url = up("/64m.bin"), stream = true,
                                       timeout_ms = 120000 }
        check(res, tostring(err))
        eq(res.status, 200, "status")
        while true do
            local chunk
            chunk, err = res.body_reader(max)
            if not chunk then
                check(not err, tostring(err))
                break
            end
            if chunk:find("[^%z]") then
                fail("a byte that is not zero near offset " .. total)
            end
            total = total + #chunk
            reads = reads + 1
            local held = xfer.stats().stream_held
            if held > held_max then
                held_max = held
            end
            if reads % 64 == 0 then
                local r = rss_kib()
                if r > rss_max then
                    rss_max = r
                end
            end
            if sleep_ms > 0 then
                ngx.sleep(sleep_ms / 1000)
            end
        end
    end
    local secs = clock() - t0
    eq(total, 64 * 1024 * 1024, "bytes read")
    local pauses = xfer.stats().stream_pauses - pauses0
    -- stream_held is the worker's: streams= says how many run at once
    local bound = arg("streams", 1) * WINDOW_MAX
    say(held_max <= bound and (buffered or pauses > 0) and "ok" or "FAIL:",
        format_kv{ bytes = total, reads = reads, held_max_kib = math.floor(held_max / 1024),
                   pauses = pauses, rss_growth_kib = rss_max - rss0,
                   secs = string.format("%.2f", secs) })
end

-- Abandoning a reader mid-body: how = close (res:close()), kill (the light
-- thread is killed, the collector finalizes), return (the request ends
-- with the reader unread), error (the handler raises).
function tests.stream_abandon()
    local how = ngx.var.arg_how or "close"
    local st0 = xfer.stats()
    if how == "kill" then
        local th = ngx.thread.spawn(function()
            local res = assert(xfer.request{ url = up("/64m.bin"),
                                             stream = true })
            local got = 0
            while got < 1048576 do
                got = got + #assert(res.body_reader())
            end
            ngx.sleep(10)   -- killed here, holding a paused transfer
        end)
        for _ = 1, 200 do
            if xfer.stats().stream_held > 0 then
                break
            end
            ngx.sleep(0.01)
        end
        ngx.sleep(0.1)
        check(xfer.stats().streams == 1, "the stream did not start")
        assert(ngx.thread.kill(th))
        th = nil    -- the dead thread's stack holds the reader  luacheck: ignore
        collectgarbage()
        collectgarbage()
        ngx.sleep(0.01)
        quiet_streams("after kill")
        eq(xfer.stats().groups, st0.groups, "groups")
        say("ok cancelled=", xfer.stats().cancelled - st0.cancelled)
        return
    end
    local res = check(xfer.request{ url = up("/64m.bin"), stream = true })
    local got = 0
    while got < 1048576 do
        got = got + #check(res.body_reader())
    end
    ngx.sleep(0.05)    -- the window fills up, the transfer pauses
    check(xfer.stats().stream_held > 0, "nothing held")
    if how == "close" then
        res:close()
        quiet_streams("after close")
        eq(res.body_reader(), nil, "reader after close")
        say("ok")
    elseif how == "error" then
        error("boom mid-body")
    else
        say("ok left ", xfer.stats().stream_held, " bytes unread")
    end
end


-- Request bodies from a function (body = function) --------------------------

-- A body function giving pieces, then nil.
local function pieces(list, sleep)
    local i = 0
    return function()
        i = i + 1
        if sleep and i > 1 then
            ngx.sleep(sleep)
        end
        return list[i]
    end
end

-- The sink location (run.sh): the request's method, body length and md5.
function _M.sink()
    ngx.req.read_body()
    local data = ngx.req.get_body_data()
    if not data then
        local name = ngx.req.get_body_file()
        data = ""
        if name then
            local f = assert(io.open(name, "rb"))
            data = f:read("*a")
            f:close()
        end
    end
    say(ngx.req.get_method(), " ", #data, " ", ngx.md5(data), " ",
        ngx.var.http_transfer_encoding or "-", " ",
        ngx.var.http_content_length or "-")
end

function tests.body_fn()
    local res, err = xfer.request{ url = fault("/echo"),
                                   body = pieces{ "ab", "c\0d", "efg" } }
    check(res, tostring(err))
    has(res.body, "POST /echo HTTP/1.1", "default method")
    has(res.body, "Transfer-Encoding: chunked", "unknown size")
    eq(res.headers["x-body-length"], "8", "posted length")
    has(res.body, "c\0d", "body bytes")

    res = check(xfer.request{ url = fault("/echo"), method = "PUT",
                              headers = { ["Content-Length"] = "6" },
                              body = pieces({ "abc", "def" }, 0.05) })
    has(res.body, "PUT /echo", "PUT")
    has(res.body, "Content-Length: 6", "announced size")
    check(not res.body:find("chunked", 1, true), "not chunked with a size")
    eq(res.headers["x-body-length"], "6", "PUT length")

    for _, m in ipairs{ "PATCH", "DELETE", "GET", "REPORT" } do
        res = check(xfer.request{ url = fault("/echo"), method = m,
                                  body = pieces{ "x=", m } })
        has(res.body, m .. " /echo HTTP/1.1", m)
        eq(res.headers["x-body-length"], tostring(2 + #m), m .. " length")
    end

    -- 8 MiB in 64 KiB pieces, checked by the server (md5 and length)
    local parts, n = {}, 128
    for i = 1, n do
        parts[i] = string.rep(string.char(i % 251), 65536)
    end
    local want = ngx.md5(table.concat(parts))
    for _, m in ipairs{ "PUT", "POST" } do
        local before = xfer.stats().body_pieces
        res = check(xfer.request{ url = self("/sink"), method = m,
                                  body = pieces(parts), timeout_ms = 30000 })
        eq(res.status, 200, m .. " sink status")
        eq(res.body, m .. " " .. (n * 65536) .. " " .. want .. " chunked -\n",
           m .. " at the server")
        check(xfer.stats().body_pieces - before >= n, "pieces fed")
    end

    -- a list of strings is joined; a streamed response to a fed body
    res = check(xfer.request{ url = self("/sink"), method = "PUT",
                              body = { "ab", "cd" } })
    eq(res.body, "PUT 4 " .. ngx.md5("abcd") .. " - 4\n", "list body")
    res = check(xfer.request{ url = self("/sink"), method = "PUT",
                              stream = true, body = pieces(parts) })
    eq(check(res:read_body()), "PUT " .. (n * 65536) .. " " .. want
                               .. " chunked -\n", "stream + body function")

    -- the function fails: nil, err
    res, err = xfer.request{ url = self("/sink"), method = "PUT",
                             body = function() return nil, "disk gone" end }
    eq(res, nil, "failing body function")
    eq(err.code, 42, "ABORTED_BY_CALLBACK")
    has(err.message, "disk gone", "the function's error")
    -- ... or raises
    local ok, rerr = pcall(xfer.request, { url = self("/sink"), method = "PUT",
                                           body = function()
                                               error("body boom")
                                           end })
    check(not ok, "a raising body function")
    has(tostring(rerr), "body boom", "raised error")
    quiet_streams("body_fn")
    say("ok")
end

-- Body options that cannot be honoured raise; none sends an empty body.
function tests.body_refused()
    local cases = {
        { { body = 42 }, "field 'body' must be" },
        { { body = { "a", 1 } }, "body[2] must be a string" },
        { { body = pieces{ "x" }, method = "HEAD" }, "HEAD request has no body" },
        { { body = "x", nobody = true }, "HEAD request has no body" },
        { { body = "x", httpget = true }, "httpget" },
        { { body = pieces{ "x" }, httpget = true }, "httpget" },
        { { body = "abc", postfieldsize = 10 }, "postfieldsize" },
        { { method = "PUT", infilesize = 5 }, "infilesize" },
        { { readfunction = function() end }, "use body = function" },
        { { upload = true }, "use method and body" },
        { { writefunction = function() end }, "stream = true" },
    }
    for i, c in ipairs(cases) do
        local req = c[1]
        req.url = fault("/echo")
        local ok, err = pcall(xfer.request, req)
        check(not ok, "case " .. i .. " was not refused")
        has(tostring(err), c[2], "case " .. i)
    end
    local ok, err = pcall(xfer.fetch_all, { { url = fault("/echo"),
                                              body = pieces{ "x" } } })
    check(not ok, "fetch_all took a body function")
    has(err, "use request()", "fetch_all body function")
    -- httpget alone still works
    local res = check(xfer.request{ url = fault("/echo"), httpget = true })
    has(res.body, "GET /echo", "httpget")
    quiet_streams("body_refused")
    say("ok")
end


-- Shutdown helpers ----------------------------------------------------------

function tests.slow()
    local res, err = xfer.request{ url = fault("/sleep?ms=" .. arg("ms", 1500)) }
    if not res then
        say("FAIL: ", tostring(err))
        return
    end
    say("ok ", res.body)
end

function tests.silent()
    local res, err = xfer.request{ url = "http://127.0.0.1:" .. cfg.silent
                                         .. "/", timeout_ms = false }
    say("ok ", res and res.status or tostring(err))
end

function tests.timer_silent()
    assert(ngx.timer.at(0, function()
        local res, err = xfer.request{ url = "http://127.0.0.1:" .. cfg.silent
                                             .. "/", timeout_ms = false }
        ngx.log(ngx.NOTICE, "timer_silent: ", res and res.status
                                              or tostring(err))
    end))
    say("ok")
end


function _M.run()
    local name = ngx.var.uri:match("^/t/([%w_]+)$")
    local fn = name and tests[name]
    if not fn then
        ngx.status = 404
        say("FAIL: no test ", tostring(name))
        return
    end
    local ok, err = pcall(fn)
    if not ok then
        if type(err) == "table" and err.fail then
            say("FAIL: ", err.fail)
            return
        end
        error(err, 0)
    end
end

return _M
