-- The `xfer` command (bin/xfer), run as a child process of the interpreter
-- running busted (so on 5.1, 5.4 and LuaJIT), without a terminal: every
-- option, --json, -o file naming and cleanup, bad input and exit codes.
-- The terminal display and Ctrl-C are in cli_tty_spec.lua.
local helper = require "spec.lua.helper"
local uv = require "luv"

local LUA = helper.interpreter()
local q, sh, readfile, writefile, tmpdir =
    helper.q, helper.sh, helper.readfile, helper.writefile, helper.tmpdir

-- Lists the files below dir (relative paths, sorted).
local function files(dir)
    local p = io.popen("cd " .. q(dir) .. " && find . -type f | sort")
    local t = {}
    for line in p:lines() do t[#t + 1] = line:sub(3) end
    p:close()
    return t
end

-- Runs bin/xfer with argv (a list, quoted here); o.stdin feeds stdin.
-- Returns { out, err, code, secs }.
local function xfer(argv, o)
    o = o or {}
    local parts = { o.env or "", LUA, "bin/xfer" }
    for _, a in ipairs(argv) do parts[#parts + 1] = q(a) end
    local errf = os.tmpname()
    local cmd = table.concat(parts, " ")
    if o.stdin then
        local inf = os.tmpname()
        writefile(inf, o.stdin)
        cmd = cmd .. " <" .. q(inf)
        o.cleanup = inf
    else
        cmd = cmd .. " </dev/null"
    end
    local t0 = uv.hrtime()
    local p = io.popen(cmd .. " 2>" .. q(errf) .. "; echo \"EXIT:$?\"")
    local out = p:read("*a")
    p:close()
    local secs = (uv.hrtime() - t0) / 1e9
    local code = tonumber(out:match("EXIT:(%d+)\n$"))
    out = out:gsub("EXIT:%d+\n$", "")
    local err = readfile(errf)
    os.remove(errf)
    if o.cleanup then os.remove(o.cleanup) end
    return { out = out, err = err, code = code, secs = secs }
end

-- A small JSON decoder, to check that --json writes JSON.
local NULL = setmetatable({}, { __tostring = function() return "null" end })
local function decode(s)
    local pos = 1
    local function ws() pos = s:find("[^ \t\r\n]", pos) or #s + 1 end
    local function ch() return s:sub(pos, pos) end
    local value
    local ESC = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f",
                  n = "\n", r = "\r", t = "\t" }
    local function str()
        local out = {}
        pos = pos + 1
        while true do
            local c = ch()
            assert(c ~= "", "unterminated string")
            if c == '"' then
                pos = pos + 1
                return table.concat(out)
            elseif c == "\\" then
                local e = s:sub(pos + 1, pos + 1)
                if e == "u" then
                    local h = assert(tonumber(s:sub(pos + 2, pos + 5), 16))
                    out[#out + 1] = h < 128 and string.char(h) or "?"
                    pos = pos + 6
                else
                    out[#out + 1] = assert(ESC[e], "bad escape")
                    pos = pos + 2
                end
            else
                assert(c:byte() >= 32, "control character in a string")
                out[#out + 1] = c
                pos = pos + 1
            end
        end
    end
    value = function()
        ws()
        local c = ch()
        if c == "{" then
            pos = pos + 1
            local t = {}
            ws()
            if ch() == "}" then pos = pos + 1 return t end
            while true do
                ws()
                assert(ch() == '"', "key expected at " .. pos)
                local k = str()
                ws()
                assert(ch() == ":", ": expected")
                pos = pos + 1
                t[k] = value()
                ws()
                local d = ch()
                pos = pos + 1
                if d == "}" then return t end
                assert(d == ",", ", expected")
            end
        elseif c == "[" then
            pos = pos + 1
            local t = {}
            ws()
            if ch() == "]" then pos = pos + 1 return t end
            while true do
                t[#t + 1] = value()
                ws()
                local d = ch()
                pos = pos + 1
                if d == "]" then return t end
                assert(d == ",", ", expected")
            end
        elseif c == '"' then
            return str()
        elseif s:find("^true", pos) then
            pos = pos + 4
            return true
        elseif s:find("^false", pos) then
            pos = pos + 5
            return false
        elseif s:find("^null", pos) then
            pos = pos + 4
            return NULL
        end
        local n = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
        assert(n and n ~= "", "value expected at " .. pos .. ": " .. s)
        pos = pos + #n
        return assert(tonumber(n))
    end
    local v = value()
    ws()
    assert(pos == #s + 1, "trailing text")
    return v
end

local function json_lines(out)
    local t = {}
    for line in out:gmatch("[^\n]+") do t[#t + 1] = decode(line) end
    return t
end

-- The records by URL.
local function by_url(recs)
    local t = {}
    for _, r in ipairs(recs) do t[r.url] = r end
    return t
end

describe("xfer command", function()
    local N, F, work
    local tls, tls_dir

    setup(function()
        helper.start()
        N = function(p) return helper.nginx(p) end
        F = function(p) return helper.fault(p) end
        work = tmpdir()
        tls = {
            port = os.getenv("TLS_GOOD_PORT"), ca = os.getenv("TLS_CA"),
            unknownca = os.getenv("TLS_UNKNOWNCA_PORT"),
            h2 = os.getenv("TLS_H2_PORT"),
        }
        if not tls.port then
            tls_dir = tmpdir()
            local p = io.popen("spec/support/tls.sh start " .. q(tls_dir) .. " 2>/dev/null")
            local env = p:read("*a")
            p:close()
            tls.port = env:match("TLS_GOOD_PORT=(%d+)")
            tls.ca = env:match("TLS_CA=(%S+)")
            tls.unknownca = env:match("TLS_UNKNOWNCA_PORT=(%d+)")
            tls.h2 = env:match("TLS_H2_PORT=(%d+)")
        end
    end)

    teardown(function()
        if tls_dir then
            sh("spec/support/tls.sh stop " .. q(tls_dir) .. " >/dev/null 2>&1")
            sh("rm -rf " .. q(tls_dir))
        end
        sh("rm -rf " .. q(work))
        helper.stop()
    end)

    describe("command line", function()
        it("--help lists the options and exits 0; --version too", function()
            local r = xfer{ "--help" }
            assert.equal(0, r.code)
            assert.truthy(r.out:find("Usage: xfer [options] URL...", 1, true))
            for _, o in ipairs({ "--input", "--output-dir", "--parallel", "--max-host",
                "--timeout", "--connect-timeout", "--header", "--request", "--data",
                "--location", "--max-redirs", "--retry", "--resolve", "--cacert",
                "--insecure", "--http1.1", "--http2", "--http2-prior-knowledge",
                "--json", "--quiet", "--version", "--help" }) do
                assert.truthy(r.out:find(o, 1, true), o)
            end
            r = xfer{ "--version" }
            assert.equal(0, r.code)
            assert.truthy(r.out:find("^xfer 0%.1%.0 %(engine xfer/"), r.out)
        end)

        it("an unknown option prints the usage on stderr and exits 2", function()
            local r = xfer{ "--frobnicate", N("/1k.bin") }
            assert.equal(2, r.code)
            assert.equal("", r.out)
            assert.truthy(r.err:find("xfer: unknown option '--frobnicate'", 1, true))
            assert.truthy(r.err:find("Usage: xfer", 1, true))
        end)

        it("bad values and a missing URL exit 2 too, before any transfer", function()
            for _, argv in ipairs({
                { "-P", "many", N("/") }, { "--timeout", "0", N("/") },
                { "-H", "nocolon", N("/") }, { "--resolve", "x", N("/") },
                { N("/"), "-o" }, {},
            }) do
                local r = xfer(argv)
                assert.equal(2, r.code, table.concat(argv, " "))
                assert.equal("", r.out)
                assert.truthy(r.err:find("^xfer: "))
            end
        end)
    end)

    describe("transfers", function()
        it("fetches the URLs, prints the summary, no escape codes without a tty", function()
            local r = xfer{ N("/1k.bin"), N("/index.html"), N("/status/404") }
            assert.equal(0, r.code) -- a 404 is a transfer that worked
            assert.truthy(r.out:find("^3 transfers in [%d.]+ s %([%d.]+ transfers/s%): 3 ok, 0 failed\n"), r.out)
            assert.truthy(r.out:find("\nreceived 1.0 KiB %([^)]+%), connections opened: %d+\n"), r.out)
            assert.truthy(r.out:find("\nstatus codes: 200 x2, 404 x1\n"), r.out)
            assert.is_nil(r.out:find("\27", 1, true))
            assert.is_nil(r.err:find("\27", 1, true))
            assert.equal("", r.err)
        end)

        it("--json: one object per transfer, the summary on stderr", function()
            local refused = "http://127.0.0.1:1/"
            local r = xfer{ "--json", N("/1k.bin"), refused }
            assert.equal(1, r.code)
            local recs = by_url(json_lines(r.out))
            local ok, bad = recs[N("/1k.bin")], recs[refused]
            assert.is_true(ok.ok)
            assert.equal(200, ok.status)
            assert.equal(1024, ok.bytes)
            assert.equal(1, ok.attempts)
            assert.equal(N("/1k.bin"), ok.effective_url)
            assert.equal(NULL, ok.error)
            for _, k in ipairs({ "queue", "namelookup", "connect", "appconnect",
                                 "pretransfer", "starttransfer", "total" }) do
                assert.is_number(ok.times[k], k)
            end
            assert.is_true(ok.times.total > 0 and ok.times.total < 5)
            assert.is_true(ok.times.starttransfer <= ok.times.total)
            assert.is_false(bad.ok)
            assert.equal(0, bad.status)
            assert.same({ code = 7, name = "COULDNT_CONNECT" },
                        { code = bad.error.code, name = bad.error.name })
            assert.truthy(bad.error.message:find("refused"))
            assert.truthy(r.err:find("^2 transfers in"), r.err)
            assert.truthy(r.err:find("failed: COULDNT_CONNECT (7) x1", 1, true))
        end)

        it("-f/--fail counts HTTP >= 400 as a failure (22)", function()
            local r = xfer{ "-f", "--json", N("/status/404"), N("/1k.bin") }
            assert.equal(1, r.code)
            local rec = by_url(json_lines(r.out))[N("/status/404")]
            assert.is_false(rec.ok)
            assert.equal(404, rec.status)
            assert.equal(22, rec.error.code)
            assert.equal("HTTP_RETURNED_ERROR", rec.error.name)
        end)

        it("-i reads a list (comments, blank lines, CRLF), '-' is stdin", function()
            local list = work .. "/list.txt"
            writefile(list, "# a comment\n\n  " .. N("/1k.bin") .. "  \r\n" .. N("/index.html") .. "\n")
            local r = xfer{ "--json", "-i", list, N("/empty.txt") }
            assert.equal(0, r.code, r.err)
            local recs = json_lines(r.out)
            assert.equal(3, #recs)
            assert.truthy(by_url(recs)[N("/index.html")])
            r = xfer({ "--json", "-i", "-" }, { stdin = N("/1k.bin") .. "\n" .. N("/empty.txt") })
            assert.equal(0, r.code)
            assert.equal(2, #json_lines(r.out))
            r = xfer{ "-i", work .. "/no-such-list" }
            assert.equal(3, r.code)
            assert.truthy(r.err:find("cannot read the URL list", 1, true))
        end)

        it("a malformed URL in the list is reported, the others go on (exit 1)", function()
            local list = work .. "/bad.txt"
            writefile(list, N("/1k.bin") .. "\nhttp://bad host/x\n" .. N("/index.html") .. "\n")
            local r = xfer{ "-i", list }
            assert.equal(1, r.code)
            assert.truthy(r.err:find("xfer: http://bad host/x: URL_MALFORMAT (3): ", 1, true), r.err)
            assert.truthy(r.out:find("3 transfers in [%d.]+ s %([%d.]+ transfers/s%): 2 ok, 1 failed"), r.out)
            assert.truthy(r.out:find("status codes: 200 x2", 1, true))
            assert.truthy(r.out:find("failed: URL_MALFORMAT (3) x1", 1, true))
        end)

        it("error lines carry no control bytes from a URL", function()
            local list = work .. "/esc.txt"
            writefile(list, "http://127.0.0.1:1/\27]0;owned\7\27[31mred\n")
            local r = xfer{ "-i", list }
            assert.equal(1, r.code)
            assert.truthy(r.err:find("xfer: http://127.0.0.1:1/?]0;owned??[31mred: ", 1, true), r.err)
            for line in r.err:gmatch("[^\n]*") do
                assert.is_nil(line:find("%c"), line)
            end
        end)

        it("-q drops the per-transfer error lines, keeps the summary", function()
            local r = xfer{ "-q", "http://127.0.0.1:1/", N("/1k.bin") }
            assert.equal(1, r.code)
            assert.equal("", r.err)
            assert.truthy(r.out:find("1 ok, 1 failed", 1, true))
        end)

        it("-P caps the connections; the other transfers wait in the queue", function()
            local argv = { "--json", "-P", "2" }
            for i = 1, 6 do argv[#argv + 1] = F("/sleep?ms=150&i=" .. i) end
            local r = xfer(argv)
            assert.equal(0, r.code, r.err)
            local recs, connects, queued = json_lines(r.out), 0, 0
            for _, rec in ipairs(recs) do
                connects = connects + rec.connects
                if rec.times.queue >= 0.1 then queued = queued + 1 end
            end
            assert.equal(6, #recs)
            assert.equal(2, connects)
            assert.equal(4, queued)
            assert.is_true(r.secs >= 0.45, tostring(r.secs))
            assert.truthy(r.err:find("connections opened: 2", 1, true))
        end)

        it("--max-host caps each host; --resolve pins the names", function()
            local port = helper.FAULT_PORT
            local argv = { "--json", "-P", "10", "--max-host", "1",
                "--resolve", "a.test:" .. port .. ":127.0.0.1",
                "--resolve", "b.test:" .. port .. ":127.0.0.1" }
            for _, h in ipairs({ "a", "b", "a", "b" }) do
                argv[#argv + 1] = ("http://%s.test:%d/sleep?ms=150&h=%s%d"):format(h, port, h, #argv)
            end
            local r = xfer(argv)
            assert.equal(0, r.code, r.err)
            local recs, queued, connects = json_lines(r.out), {}, 0
            for _, rec in ipairs(recs) do
                assert.equal(200, rec.status)
                connects = connects + rec.connects
                local h = rec.url:match("//(%a)%.test")
                if rec.times.queue >= 0.1 then queued[h] = (queued[h] or 0) + 1 end
            end
            assert.same({ a = 1, b = 1 }, queued)
            assert.equal(2, connects)
            assert.is_true(r.secs < 2)
        end)

        it("--timeout fails a transfer that takes too long (28)", function()
            local r = xfer{ "--json", "--timeout", "0.3", F("/silence") }
            assert.equal(1, r.code)
            local rec = json_lines(r.out)[1]
            assert.equal(28, rec.error.code)
            assert.equal("OPERATION_TIMEDOUT", rec.error.name)
            assert.is_true(rec.times.total >= 0.25 and rec.times.total < 2)
        end)

        it("--connect-timeout is taken (its easy option: cli_modules_spec)", function()
            local r = xfer{ "--connect-timeout", "2.5", N("/1k.bin") }
            assert.equal(0, r.code, r.err)
        end)

        it("-H, -A and the default User-Agent reach the server", function()
            local dir = work .. "/hdr"
            local r = xfer{ "-o", dir, "-H", "X-Test: yes", F("/echo") }
            assert.equal(0, r.code, r.err)
            local req = readfile(dir .. "/127.0.0.1_" .. helper.FAULT_PORT .. "/echo")
            assert.truthy(req:find("^GET /echo HTTP/1.1\r\n"), req)
            assert.truthy(req:find("\r\nX%-Test: yes\r\n"), req)
            assert.truthy(req:find("\r\nUser%-Agent: xfer/0%.1%.0\r\n"), req)
            r = xfer{ "-o", dir, "-A", "probe/9", "-H", "X-Gone:", F("/echo?2") }
            req = readfile(dir .. "/127.0.0.1_" .. helper.FAULT_PORT .. "/echo@2")
            assert.truthy(req:find("\r\nUser%-Agent: probe/9\r\n"), req)
            r = xfer{ "-o", dir, "-H", "User-Agent:", F("/echo?3") }
            req = readfile(dir .. "/127.0.0.1_" .. helper.FAULT_PORT .. "/echo@3")
            assert.is_nil(req:find("User-Agent", 1, true))
        end)

        it("--compressed asks for every coding and saves the body decoded", function()
            local dir = work .. "/comp"
            local host = "127.0.0.1_" .. helper.FAULT_PORT
            local r = xfer{ "-o", dir, "--compressed", F("/echo"), F("/enc/plain.gz.br"),
                            F("/enc/plain.zst") }
            assert.equal(0, r.code, r.err)
            local req = readfile(dir .. "/" .. host .. "/echo")
            assert.truthy(req:find("\r\nAccept%-Encoding: deflate, gzip, br, zstd\r\n"), req)
            local plain = readfile(helper.DECODE_FIXTURES .. "/plain.txt")
            assert.equal(plain, readfile(dir .. "/" .. host .. "/enc/plain.gz.br"))
            assert.equal(plain, readfile(dir .. "/" .. host .. "/enc/plain.zst"))
            -- without it: nothing asked, the body as sent
            r = xfer{ "-o", dir .. "/raw", F("/echo"), F("/enc/plain.zst") }
            assert.equal(0, r.code, r.err)
            assert.is_nil(readfile(dir .. "/raw/" .. host .. "/echo"):find("Accept-Encoding", 1, true))
            assert.equal(readfile(helper.DECODE_FIXTURES .. "/plain.zst"),
                         readfile(dir .. "/raw/" .. host .. "/enc/plain.zst"))
            -- a corrupt body fails with 61
            r = xfer{ "--json", "--compressed", F("/enc/plain.gz?flip=30000") }
            assert.equal(1, r.code, r.err)
            assert.truthy(r.out:find("BAD_CONTENT_ENCODING", 1, true), r.out)
        end)

        it("-X sets the method; -d posts data (repeated: joined by &, @file)", function()
            local dir = work .. "/method"
            local r = xfer{ "-o", dir, "-X", "DELETE", N("/echo-method") }
            assert.equal(0, r.code, r.err)
            assert.equal("DELETE\n", readfile(dir .. "/127.0.0.1_" .. helper.NGINX_PORT .. "/echo-method"))
            r = xfer{ "-o", dir, "-d", "a=1", "-d", "b=2", F("/echo?post") }
            assert.equal(0, r.code, r.err)
            local req = readfile(dir .. "/127.0.0.1_" .. helper.FAULT_PORT .. "/echo@post")
            assert.truthy(req:find("^POST /echo%?post HTTP/1.1\r\n"), req)
            assert.truthy(req:find("\r\nContent%-Type: application/x%-www%-form%-urlencoded\r\n"))
            assert.truthy(req:find("\r\n\r\na=1&b=2$"), req)
            writefile(work .. "/body.bin", "line1\nline2\0end")
            r = xfer{ "-o", dir, "-X", "PUT", "-d", "@" .. work .. "/body.bin", F("/echo?put") }
            assert.equal(0, r.code, r.err)
            req = readfile(dir .. "/127.0.0.1_" .. helper.FAULT_PORT .. "/echo@put")
            assert.truthy(req:find("^PUT /echo%?put HTTP/1.1\r\n"), req)
            assert.truthy(req:find("\r\n\r\nline1\nline2%zend$"), req)
            r = xfer{ "-d", "@" .. work .. "/no-such-body", F("/echo") }
            assert.equal(3, r.code)
            assert.truthy(r.err:find("cannot read -d @", 1, true))
        end)

        it("-L follows redirects, --max-redirs bounds them", function()
            local url = F("/redirect-chain/3")
            local r = xfer{ "--json", url }
            assert.equal(302, json_lines(r.out)[1].status)
            r = xfer{ "--json", "-L", url }
            local rec = json_lines(r.out)[1]
            assert.equal(0, r.code)
            assert.equal(200, rec.status)
            assert.equal(F("/redirect-chain/0"), rec.effective_url)
            r = xfer{ "--json", "--location", "--max-redirs", "1", url }
            assert.equal(1, r.code)
            assert.equal("TOO_MANY_REDIRECTS", json_lines(r.out)[1].error.name)
        end)

        it("--retry retries 5xx and connection errors with a growing, bounded wait", function()
            local refused = "http://127.0.0.1:1/"
            local r = xfer{ "--json", "--retry", "2", "--retry-delay", "0.1",
                            F("/status/503"), F("/status/404"), refused }
            assert.equal(1, r.code)
            local recs = by_url(json_lines(r.out))
            assert.equal(3, recs[F("/status/503")].attempts)
            assert.is_true(recs[F("/status/503")].ok) -- a 503 at the end is still a response
            assert.equal(1, recs[F("/status/404")].attempts)
            assert.equal(3, recs[refused].attempts)
            assert.equal(7, recs[refused].error.code)
            -- waits: 0.05..0.1 s, then 0.1..0.2 s
            assert.is_true(r.secs >= 0.15 and r.secs < 3, tostring(r.secs))
            assert.truthy(r.err:find("retries: 4 (2 transfers retried)", 1, true), r.err)
            r = xfer{ "--json", "-f", "--retry", "1", "--retry-delay", "0", F("/status/500") }
            local rec = json_lines(r.out)[1]
            assert.equal(2, rec.attempts)
            assert.equal(22, rec.error.code)
        end)

        it("--cacert verifies HTTPS with a CA file; -k skips verification", function()
            assert.truthy(tls.port, "the TLS test server")
            local url = ("https://127.0.0.1:%s/index.html"):format(tls.port)
            local r = xfer{ "--json", "--cacert", tls.ca, url }
            assert.equal(0, r.code, r.out .. r.err)
            assert.equal(200, json_lines(r.out)[1].status)
            r = xfer{ "--json", url }
            assert.equal(1, r.code)
            assert.equal(60, json_lines(r.out)[1].error.code) -- PEER_FAILED_VERIFICATION
            r = xfer{ "--json", "--insecure",
                      ("https://127.0.0.1:%s/index.html"):format(tls.unknownca) }
            assert.equal(0, r.code, r.out)
            r = xfer{ "--cacert", work .. "/no-such-ca.pem", url }
            assert.equal(3, r.code)
            assert.truthy(r.err:find("cannot read --cacert", 1, true))
        end)

        it("--http2, --http1.1, --http2-prior-knowledge; a run shares one h2 connection", function()
            assert.truthy(tls.h2, "the TLS h2 test server")
            local function h2(path) return ("https://127.0.0.1:%s%s"):format(tls.h2, path) end
            local urls = { "--json", "--cacert", tls.ca }
            for i = 1, 20 do urls[#urls + 1] = h2("/files/" .. i .. ".txt") end
            -- the default: h2 by ALPN, and the 20 transfers, started
            -- together, on the first connection (PIPEWAIT)
            local r = xfer(urls)
            assert.equal(0, r.code, r.err)
            local connects = 0
            for _, rec in ipairs(json_lines(r.out)) do
                assert.equal("2", rec.http_version)
                connects = connects + rec.connects
            end
            assert.equal(1, connects)
            assert.truthy(r.err:find("\nprotocols: HTTP/2 x20\n", 1, true), r.err)
            -- --http2 says the same; --http1.1 keeps to HTTP/1.1
            r = xfer{ "--json", "--http2", "--cacert", tls.ca, h2("/1k.bin") }
            assert.equal("2", json_lines(r.out)[1].http_version)
            r = xfer{ "--json", "--http1.1", "--cacert", tls.ca, h2("/1k.bin"), h2("/16k.bin") }
            assert.equal(0, r.code, r.err)
            for _, rec in ipairs(json_lines(r.out)) do
                assert.equal("1.1", rec.http_version)
            end
            assert.is_nil(r.err:find("protocols:", 1, true))
            -- over http: HTTP/1.1, even with --http2; h2c with prior knowledge
            r = xfer{ "--json", "--http2", N("/1k.bin") }
            assert.equal("1.1", json_lines(r.out)[1].http_version)
            local h2c = ("http://127.0.0.1:%d/16k.bin"):format(helper.NGINX_H2C_PORT)
            r = xfer{ "--json", "--http2-prior-knowledge", h2c, h2c .. "?2" }
            assert.equal(0, r.code, r.err)
            local recs = json_lines(r.out)
            assert.equal(2, #recs)
            for _, rec in ipairs(recs) do
                assert.equal("2", rec.http_version)
                assert.equal(16384, rec.bytes)
            end
            -- no response, no version
            r = xfer{ "--json", "http://127.0.0.1:1/" }
            assert.equal(NULL, json_lines(r.out)[1].http_version)
        end)

        -- Out of file descriptors: the transfers that get no socket fail
        -- (COULDNT_CONNECT, and why), the others finish; no internal error.
        it("copes with too few file descriptors (ulimit -n)", function()
            local list = os.tmpname()
            local lines = {}
            for i = 1, 400 do lines[i] = N("/1k.bin?fd=" .. i) end
            writefile(list, table.concat(lines, "\n") .. "\n")
            local r = xfer({ "--json", "-P", "0", "-i", list },
                           { env = "ulimit -n 128;" })
            os.remove(list)
            assert.equal(1, r.code, r.err)
            local ok, noconn = 0, 0
            for _, j in ipairs(json_lines(r.out)) do
                if j.ok then ok = ok + 1
                elseif j.error.code == 7 then
                    noconn = noconn + 1
                    assert.truthy(j.error.message:find("Too many open files", 1, true))
                end
            end
            assert.equal(400, ok + noconn)
            assert.truthy(ok >= 50 and noconn >= 50, ok .. " ok, " .. noconn .. " failed")
            assert.falsy(r.err:find("internal error", 1, true))
        end)

        it("stops cleanly when stdout is closed (EPIPE: exit 141)", function()
            local argv = { LUA, "bin/xfer", "--json", "-P", "1" }
            for i = 1, 6 do argv[#argv + 1] = q(F("/sleep?ms=40&i=" .. i)) end
            local p = io.popen("bash -c " .. q(table.concat(argv, " ") ..
                " 2>/dev/null | head -n 1 >/dev/null; echo ${PIPESTATUS[0]}"))
            local out = p:read("*a")
            p:close()
            assert.equal("141", out:match("%d+"))
        end)
    end)

    describe("-o DIR", function()
        it("saves each body under a name from its URL", function()
            local dir = work .. "/out1"
            local r = xfer{ "--json", "-o", dir, N("/1k.bin"), N("/files/7.txt"), N("/"),
                            N("/empty.txt"), N("/1k.bin?v=2"), N("/1k.bin") }
            assert.equal(0, r.code, r.err)
            local host = "127.0.0.1_" .. helper.NGINX_PORT
            assert.same({
                host .. "/1k.bin", host .. "/1k.bin@v=2", host .. "/1k.bin~2",
                host .. "/empty.txt", host .. "/files/7.txt", host .. "/index.html",
            }, files(dir))
            local alpha = string.rep("abcdefghijklmnopqrstuvwxyz", 40):sub(1, 1024)
            assert.equal(alpha, readfile(dir .. "/" .. host .. "/1k.bin"))
            assert.equal(alpha, readfile(dir .. "/" .. host .. "/1k.bin~2"))
            assert.equal("file 7\n", readfile(dir .. "/" .. host .. "/files/7.txt"))
            assert.equal("hello from nginx\n", readfile(dir .. "/" .. host .. "/index.html"))
            assert.equal("", readfile(dir .. "/" .. host .. "/empty.txt"))
            local recs = by_url(json_lines(r.out))
            assert.equal(dir .. "/" .. host .. "/files/7.txt", recs[N("/files/7.txt")].file)
            assert.truthy(r.err:find("saved 6 files under " .. dir, 1, true))
        end)

        it("refuses names that would leave DIR, fetches the rest", function()
            local base = tmpdir()
            local dir = base .. "/out"
            local evil = { N("/../../etc/passwd"), N("/%2e%2e/%2e%2e/x"), N("/a%2F..%2F..%2Fx"),
                           N("/.hidden"), N("/files/%2E%2E"), N("/a%00b") }
            local argv = { "-o", dir }
            for _, u in ipairs(evil) do argv[#argv + 1] = u end
            argv[#argv + 1] = N("/index.html")
            local r = xfer(argv)
            assert.equal(1, r.code)
            for _, u in ipairs(evil) do
                assert.truthy(r.err:find("xfer: " .. u .. ": WRITE_ERROR (23): refused output name", 1, true), u)
            end
            assert.truthy(r.out:find("1 ok, 6 failed", 1, true), r.out)
            assert.same({ "out/127.0.0.1_" .. helper.NGINX_PORT .. "/index.html" }, files(base))
            sh("rm -rf " .. q(base))
        end)

        it("never writes through a symbolic link below DIR", function()
            local dir, outside = work .. "/links", tmpdir()
            local host = dir .. "/127.0.0.1_" .. helper.NGINX_PORT
            assert(sh("mkdir -p " .. q(host) .. " && ln -s " .. q(outside) .. " " .. q(host .. "/files")))
            local r = xfer{ "-o", dir, N("/files/1.txt"), N("/1k.bin") }
            assert.equal(1, r.code)
            assert.truthy(r.err:find("files' exists and is not a directory", 1, true), r.err)
            assert.same({}, files(outside))
            assert.same({ "127.0.0.1_" .. helper.NGINX_PORT .. "/1k.bin" }, files(dir))
            sh("rm -rf " .. q(outside))
        end)

        it("removes the partial file of a failed transfer", function()
            local dir = work .. "/partial"
            local r = xfer{ "--json", "-o", dir, F("/truncated-body?size=100000&send=50000"),
                            "-f", F("/status/500"), F("/bytes/3000") }
            assert.equal(1, r.code)
            local recs = by_url(json_lines(r.out))
            assert.equal("PARTIAL_FILE", recs[F("/truncated-body?size=100000&send=50000")].error.name)
            assert.equal(22, recs[F("/status/500")].error.code)
            assert.same({ "127.0.0.1_" .. helper.FAULT_PORT .. "/bytes/3000" }, files(dir))
        end)

        it("an output directory it cannot use is a clear error (exit 3)", function()
            local file = work .. "/a-file"
            writefile(file, "x")
            local cases = { file, file .. "/sub", "/proc/self" }
            for _, d in ipairs(cases) do
                local r = xfer{ "-o", d, N("/1k.bin") }
                assert.equal(3, r.code, d)
                assert.equal("", r.out)
                assert.truthy(r.err:find("xfer: cannot use the output directory '" .. d .. "': ", 1, true), r.err)
            end
            assert.truthy(xfer{ "-o", file, N("/") }.err:find("not a directory", 1, true))
            assert.truthy(xfer{ "-o", "/proc/self", N("/") }.err:find("not writable", 1, true))
            if uv.getuid and uv.getuid() ~= 0 then -- root writes anywhere
                local ro = tmpdir()
                sh("chmod 500 " .. q(ro))
                local r = xfer{ "-o", ro, N("/1k.bin") }
                assert.equal(3, r.code)
                sh("chmod 700 " .. q(ro) .. "; rm -rf " .. q(ro))
            end
        end)
    end)
end)
