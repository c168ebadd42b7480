-- The `xfer` command's modules, in process: argument parsing, output file
-- names, JSON, the progress frame, the summary, the easy options.
-- (cli_command_spec and cli_tty_spec run the real command.)
local args = require "xfer.cli.args"
local names = require "xfer.cli.names"
local json = require "xfer.cli.json"
local fmt = require "xfer.cli.fmt"
local progress = require "xfer.cli.progress"
local summary = require "xfer.cli.summary"
local main = require "xfer.cli.main"

describe("xfer.cli.args", function()
    local function parse(...) return args.parse({ ... }) end

    it("has the defaults of docs/cli.md", function()
        local o = assert(parse("http://h/"))
        assert.same({ "http://h/" }, o.urls)
        assert.equal(16, o.parallel)
        assert.equal(0, o.max_host)
        assert.equal(0, o.retry)
        assert.equal(1, o.retry_delay)
        assert.is_false(o.location)
        assert.is_nil(o.timeout)
        assert.is_nil(o.output)
    end)

    it("parses every option, short and long, attached and separate", function()
        local o = assert(parse("-i", "a.txt", "--input=b.txt", "-oout", "-P32",
            "--max-host", "4", "--timeout", "1.5", "--connect-timeout=0.25",
            "-H", "X-A: 1", "--header", "X-B;", "-X", "PUT", "-d", "a=1",
            "--data", "@f", "-L", "--max-redirs", "3", "--retry", "2",
            "--retry-delay", "0", "--resolve", "h:80:127.0.0.1",
            "--resolve=[::1]:443:127.0.0.1", "--cacert", "ca.pem", "-k",
            "-A", "ua/1", "-f", "--json", "-q", "--", "-not-an-option"))
        assert.same({ "a.txt", "b.txt" }, o.input)
        assert.equal("out", o.output)
        assert.equal(32, o.parallel)
        assert.equal(4, o.max_host)
        assert.equal(1.5, o.timeout)
        assert.equal(0.25, o.connect_timeout)
        assert.same({ "X-A: 1", "X-B;" }, o.headers)
        assert.equal("PUT", o.method)
        assert.same({ "a=1", "@f" }, o.data)
        assert.is_true(o.location)
        assert.equal(3, o.max_redirs)
        assert.equal(2, o.retry)
        assert.equal(0, o.retry_delay)
        assert.same({ "h:80:127.0.0.1", "[::1]:443:127.0.0.1" }, o.resolve)
        assert.equal("ca.pem", o.cacert)
        assert.is_true(o.insecure)
        assert.equal("ua/1", o.user_agent)
        assert.is_true(o.fail and o.json and o.quiet)
        assert.same({ "-not-an-option" }, o.urls)
    end)

    it("clusters short flags", function()
        local o = assert(parse("-Lqk", "-fP", "3", "u"))
        assert.is_true(o.location and o.quiet and o.insecure and o.fail)
        assert.equal(3, o.parallel)
    end)

    it("--http1.1, --http2, --http2-prior-knowledge: the last one wins, as in curl", function()
        assert.is_nil(assert(parse("u")).http_version)
        assert.equal("1.1", assert(parse("--http1.1", "u")).http_version)
        assert.equal("2", assert(parse("--http2", "u")).http_version)
        assert.equal("2-prior-knowledge",
                     assert(parse("--http2-prior-knowledge", "u")).http_version)
        assert.equal("1.1", assert(parse("--http2", "--http1.1", "u")).http_version)
        assert.equal("2", assert(parse("--http1.1", "--http2", "u")).http_version)
        local o, err = parse("--http2=yes", "u")
        assert.is_nil(o)
        assert.truthy(err:find("option '--http2' takes no value", 1, true), err)
        o, err = parse("--http3", "u")
        assert.is_nil(o)
        assert.truthy(err:find("unknown option '--http3'", 1, true), err)
    end)

    it("--help and --version need no URL", function()
        assert.is_true(assert(parse("--help")).show_help)
        assert.is_true(assert(parse("-V")).show_version)
    end)

    it("refuses what it cannot use, naming the option", function()
        local cases = {
            { { "--bogus", "u" }, "unknown option '%-%-bogus'" },
            { { "-Z", "u" }, "unknown option '%-Z'" },
            { { "u", "-P" }, "needs a value" },
            { { "-P", "x", "u" }, "%-P needs an integer" },
            { { "-P", "1.5", "u" }, "%-P needs an integer" },
            { { "-P", "-1", "u" }, "must be between 0 and" },
            { { "-P", "99999999999999999999", "u" }, "must be between 0 and 2147483647" },
            { { "--max-redirs", "-2", "u" }, "must be between %-1 and" },
            { { "--timeout", "1e300", "u" }, "seconds > 0, up to 2000000" },
            { { "--retry-delay", "-1", "u" }, "seconds from 0 to 2000000" },
            { { "--timeout", "0", "u" }, "seconds > 0" },
            { { "--timeout", "soon", "u" }, "seconds" },
            { { "--connect-timeout", "-1", "u" }, "seconds" },
            { { "-H", "no colon", "u" }, "Name: value" },
            { { "-H", "X: a\rb", "u" }, "control characters" },
            { { "-X", "GET /", "u" }, "method" },
            { { "--resolve", "h:80", "u" }, "HOST:PORT:ADDR" },
            { { "--resolve", "h:99999:1.2.3.4", "u" }, "HOST:PORT:ADDR" },
            { { "--json=1", "u" }, "takes no value" },
            { { "-i", "-", "-d", "@-" }, "stdin can be read only once" },
            { { "-" }, "not a URL" },
            { {}, "no URL given" },
            { { "-q" }, "no URL given" },
        }
        for _, c in ipairs(cases) do
            local o, err = args.parse(c[1])
            assert.is_nil(o, table.concat(c[1], " "))
            assert.truthy(err:find(c[2]), err .. " ~ " .. c[2])
        end
    end)

    it("--help lists every option in 80 columns", function()
        local h = args.help()
        for _, o in ipairs(args.OPTIONS) do
            assert.truthy(h:find("--" .. o[2], 1, true), o[2])
        end
        for line in h:gmatch("[^\n]+") do
            assert.is_true(#line < 80, line)
        end
    end)
end)

describe("xfer.cli.names", function()
    local function comps(url)
        local c, why = names.components(url)
        return c and table.concat(c, "/") or nil, why
    end

    it("maps host, port, path and query to a relative path", function()
        assert.equal("host/a/b.txt", comps("http://Host/a/b.txt"))
        assert.equal("host/a/b.txt", comps("http://host:80/a/b.txt"))
        assert.equal("host_8080/a/b.txt", comps("http://host:8080/a/b.txt"))
        assert.equal("host/a/b.txt", comps("https://host:443/a//b.txt#frag"))
        assert.equal("host_80/x", comps("https://host:80/x"))
        assert.equal("host/index.html", comps("http://host"))
        assert.equal("host/index.html", comps("http://host/"))
        assert.equal("host/dir/index.html", comps("http://user:pw@host/dir/"))
        assert.equal("host/a@x=1%26y=%20", comps("http://host/a?x=1&y=%20"))
        assert.equal("host/index.html@q", comps("host/?q"))
        assert.equal("host/a%20b%7E%40%25", comps("http://host/a%20b~@%25"))
        assert.equal("%5B%3A%3A1%5D_8080/f", comps("http://[::1]:8080/f"))
    end)

    it("refuses names that could leave the directory or hide", function()
        local bad = {
            "http://h/../../etc/passwd", "http://h/a/%2e%2e/x", "http://h/%2E%2E",
            "http://h/./x", "http://h/%2e/x", "http://h/.hidden", "http://h/a/.git/config",
            "http://h/a%2Fb", "http://h/a%2fb", "http://h/a%00b", "http://../x",
            "http:///nohost", "http://h:/x/%2e%2e%2f%2e%2e/etc",
        }
        for _, url in ipairs(bad) do
            local c, why = names.components(url)
            if c then
                -- the last case has no dot-dot once split: check it is harmless
                for _, part in ipairs(c) do
                    assert.is_nil(part:find("/", 1, true), url)
                    assert.is_false(part == ".." or part:sub(1, 1) == ".", url)
                end
            else
                assert.is_string(why, url)
            end
        end
        assert.is_nil((names.components("http://h/../../etc/passwd")))
        assert.is_nil((names.components("http://h/a/%2e%2e/x")))
        assert.is_nil((names.components("http://h/a%2Fb")))
        assert.is_nil((names.components("http://h/a%00b")))
    end)

    it("every component is safe whatever the URL holds", function()
        local seed = 7
        local alphabet = "/.%2eEfF0a?#:@~ \0\255%/../"
        for _ = 1, 2000 do
            local t = {}
            for k = 1, 12 do
                seed = (seed * 1103515245 + 12345) % 2147483648
                local i = seed % #alphabet + 1
                t[k] = alphabet:sub(i, i)
            end
            local c = names.components("http://h/" .. table.concat(t))
            if c then
                for _, part in ipairs(c) do
                    assert.truthy(part:match("^[%w._,+=%%@~-]+$"), part)
                    assert.is_false(part == "." or part == ".." or part:sub(1, 1) == ".")
                end
            end
        end
    end)

    it("cuts long components and keeps them apart with a hash", function()
        local long1 = "http://h/" .. string.rep("a", 300) .. "1"
        local long2 = "http://h/" .. string.rep("a", 300) .. "2"
        local c1, c2 = comps(long1), comps(long2)
        assert.is_true(#c1 < 2 + 200)
        assert.truthy(c1:match("~h%x%x%x%x%x%x%x%x$"))
        assert.are_not.equal(c1, c2)
        local esc = comps("http://h/" .. string.rep("%20", 100))
        assert.truthy(esc:match("^h/[%%0-9A-F]+~h%x+$"), esc) -- no cut escape
    end)

    it("gives each URL of a run its own name, in input order", function()
        local n = names.namer()
        assert.equal("h/a", n:assign("http://h/a"))
        assert.equal("h/a~2", n:assign("http://h/a"))
        assert.equal("h/a~3", n:assign("http://h:80/a"))
        assert.equal("h/index.html", n:assign("http://h/"))
        assert.equal("h/index.html~2", n:assign("http://h/index.html"))
        assert.equal("h/d/x", n:assign("http://h/d/x"))
        assert.equal("h/d~2", n:assign("http://h/d")) -- "h/d" is a directory
        local rel, why = n:assign("http://h/a/b") -- "h/a" is a file
        assert.is_nil(rel)
        assert.truthy(why:find("earlier URL's file", 1, true))
    end)
end)

describe("xfer.cli.json", function()
    it("encodes objects in the given key order", function()
        local o = json.object({ "b", "a", "n" }, { a = 1, b = "x" })
        assert.equal('{"b":"x","a":1,"n":null}', json.encode(o))
        assert.equal('{"a":[1,2.5,true],"b":{}}', json.encode({ a = { 1, 2.5, true }, b = {} }))
        assert.equal("0.000123", json.encode(0.000123))
        assert.equal("1e-07", json.encode(1e-7))
        assert.equal("null", json.encode(0 / 0))
        assert.equal("12345678901", json.encode(12345678901))
    end)

    it("escapes control characters and keeps only valid UTF-8", function()
        assert.equal([["a\"b\\c\n\r\t\u0000\u001f\u007f"]], json.encode('a"b\\c\n\r\t\0\31\127'))
        assert.equal('"h\195\169"', json.encode("h\195\169"))          -- é stays
        assert.equal('"\226\130\172"', json.encode("\226\130\172"))    -- € stays
        assert.equal('"a\239\191\189b"', json.encode("a\255b"))        -- invalid byte
        assert.equal('"\239\191\189\239\191\189"', json.encode("\192\175")) -- overlong
        assert.equal('"\239\191\189\239\191\189"', json.encode("\226\130")) -- truncated: per byte
        assert.equal('"\239\191\189\239\191\189\239\191\189"', json.encode("\237\160\128")) -- surrogate
    end)
end)

describe("xfer.cli.fmt", function()
    it("formats sizes, rates, times", function()
        assert.equal("0 B", fmt.bytes(0))
        assert.equal("1023 B", fmt.bytes(1023))
        assert.equal("1.0 KiB", fmt.bytes(1024))
        assert.equal("157 MiB", fmt.bytes(157 * 1048576))
        assert.equal("1.5 GiB", fmt.bytes(1.5 * 2 ^ 30))
        assert.equal("2.0 KiB/s", fmt.rate(2048))
        assert.equal("0:05", fmt.eta(5))
        assert.equal("1:01:01", fmt.eta(3661))
        assert.equal("--:--", fmt.eta(nil))
        assert.equal("0.52 s", fmt.seconds(0.52))
        assert.equal("2 min 05 s", fmt.seconds(125))
        assert.equal("ab...yz", fmt.middle("abcdefghijklmnopqrstuvwxyz", 7))
        assert.equal("a?b", fmt.printable("a\27b"))
    end)
end)

describe("xfer.cli.progress", function()
    local function snap(n)
        local list = {}
        for i = 1, n do
            list[i] = { label = "http://127.0.0.1:8080/some/long/path/file" .. i .. ".bin?x=y",
                        bytes = 1000 * i, length = i % 2 == 0 and 100000 or -1 }
        end
        return { total = 5000, done = 1234, failed = 2, bytes = 47400000, rate = 1e8,
                 eta = 12, active = n, queued = 3734, retrying = 1, transfers = list }
    end

    it("draws the overall line and a line per active transfer", function()
        local lines = progress.frame(snap(3), 120, 40)
        assert.equal(4, #lines)
        assert.truthy(lines[1]:find("^%[#+%-+%] 1234/5000  45%.2 MiB  95%.4 MiB/s  ETA 0:12  "
            .. "3 active  3734 queued  1 retrying  2 failed$"), lines[1])
        assert.truthy(lines[2]:find("127.0.0.1:8080/some/long/path/file1.bin?x=y", 1, true))
        assert.truthy(lines[3]:find("2.0 KiB / 97.7 KiB    2%", 1, true), lines[3])
    end)

    it("fits any width and height", function()
        for cols = 1, 130, 3 do
            for _, rows in ipairs({ 1, 2, 3, 5, 24 }) do
                local lines = progress.frame(snap(40), cols, rows)
                assert.is_true(#lines <= math.max(rows - 1, 1), cols .. "x" .. rows)
                for _, l in ipairs(lines) do
                    assert.is_true(#l <= math.max(cols - 1, 1), cols .. ": " .. l)
                    assert.is_nil(l:find("[^\32-\126]"))
                end
            end
        end
        local lines = progress.frame(snap(40), 80, 10)
        assert.equal("  ... and 33 more", lines[#lines])
    end)

    it("redraws over the previous frame at most once per interval", function()
        local t, out = 0, {}
        local p = progress.new{
            write = function(s) out[#out + 1] = s end,
            snapshot = function() return snap(2) end,
            now = function() return t end,
            size = function() return 80, 24 end,
        }
        assert.is_true(p:tick())
        t = 0.05
        assert.is_false(p:tick())
        t = 0.1
        assert.is_true(p:tick())
        assert.equal(2, p.frames)
        assert.is_nil(out[1]:find("\27%[%d+A"))       -- nothing to erase yet
        assert.truthy(out[2]:find("^\r\27%[3A\27%[2K")) -- up over 3 lines
        assert.truthy(out[2]:find("\27%[J$"))
        p:clear()
        assert.equal("\r\27[3A\27[J", out[3])
        p:clear()
        assert.equal(3, #out) -- nothing left to erase
    end)

    it("erases a frame that the terminal re-wrapped after narrowing", function()
        local t, out, cols = 0, {}, 80
        local p = progress.new{
            write = function(s) out[#out + 1] = s end,
            snapshot = function() return snap(2) end,
            now = function() return t end,
            size = function() return cols, 24 end,
        }
        p:tick()
        cols, t = 30, 1
        p:resized()
        p:tick()
        -- 3 lines of up to 79 columns now take up to 3 rows each at 30
        local up = tonumber(out[2]:match("^\r\27%[(%d+)A"))
        assert.is_true(up > 3 and up <= 9, tostring(up))
    end)
end)

describe("xfer.cli.summary", function()
    it("counts by status and by error, connections and retries", function()
        local s = summary.new()
        s:add{ ok = true, status = 200, bytes = 1024, connects = 1, attempts = 1,
               queue_us = 1000, total_us = 3000 }
        s:add{ ok = true, status = 404, bytes = 10, connects = 0, attempts = 3 }
        s:add{ ok = false, status = 0, bytes = 0, connects = 1,
               err = { code = 7, name = "COULDNT_CONNECT" } }
        s:add_attempt(100, 2)
        local text = s:text{ elapsed = 2, total = 3 }
        assert.truthy(text:find("^3 transfers in 2.00 s %(1.5 transfers/s%): 2 ok, 1 failed\n"), text)
        assert.truthy(text:find("received 1.1 KiB (567 B/s), connections opened: 4", 1, true), text)
        assert.truthy(text:find("status codes: 200 x1, 404 x1\n", 1, true))
        assert.truthy(text:find("failed: COULDNT_CONNECT (7) x1\n", 1, true))
        assert.truthy(text:find("retries: 2 (1 transfer retried)", 1, true))
        assert.truthy(text:find("per transfer: queue 1.00 ms avg, total 3.00 ms avg", 1, true))
        local itext = s:text{ elapsed = 0.5, total = 10, interrupted = "interrupted",
                              stopped = 4, not_started = 3, output_dir = "out" }
        assert.truthy(itext:find("^interrupted after 0.50 s: 3 of 10 transfers finished "
            .. "%(2 ok, 1 failed%), 4 stopped, 3 not started\n"), itext)
        assert.truthy(itext:find("saved 0 files under out", 1, true))
        -- no protocol line while everything was HTTP/1.1
        assert.is_nil(text:find("protocols", 1, true))
    end)

    it("counts the protocols once some response came over HTTP/2", function()
        local s = summary.new()
        for _ = 1, 3 do s:add{ ok = true, status = 200, http_version = "2" } end
        s:add{ ok = true, status = 200, http_version = "1.1" }
        s:add{ ok = false, err = { code = 7, name = "COULDNT_CONNECT" } }
        local text = s:text{ elapsed = 1, total = 5 }
        assert.truthy(text:find("\nstatus codes: 200 x4\nprotocols: HTTP/2 x3, HTTP/1.1 x1\n",
                                1, true), text)
    end)
end)

describe("xfer.cli.main options", function()
    it("maps the command line onto easy options", function()
        local o = assert(args.parse({ "--timeout", "1.5", "--connect-timeout", "0.25",
            "-H", "X: 1", "-X", "PUT", "-L", "--max-redirs", "2", "--resolve",
            "h:1:127.0.0.1", "--cacert", "ca", "-k", "-f", "u" }))
        local e = main.easy_options(o, "body")
        assert.equal(1500, e.timeout_ms)
        assert.equal(250, e.connecttimeout_ms)
        assert.same({ "X: 1" }, e.httpheader)
        assert.equal("PUT", e.customrequest)
        assert.equal("body", e.postfields)
        assert.is_true(e.followlocation)
        assert.equal(2, e.maxredirs)
        assert.same({ "h:1:127.0.0.1" }, e.resolve)
        assert.equal("ca", e.cainfo)
        assert.is_false(e.ssl_verifypeer)
        assert.is_false(e.ssl_verifyhost)
        assert.is_true(e.failonerror)
        assert.equal("xfer/" .. args.version, e.useragent)
        local d = main.easy_options(assert(args.parse({ "-A", "", "u" })))
        assert.is_nil(d.useragent)
        -- xfer's default protocol choice, and PIPEWAIT: the transfers of a
        -- run start together and share an h2 connection
        assert.is_nil(d.http_version)
        assert.is_true(d.pipewait)
        local xfer = require "xfer"
        for flag, v in pairs({ ["--http1.1"] = xfer.HTTP_VERSION_1_1,
                               ["--http2"] = xfer.HTTP_VERSION_2TLS,
                               ["--http2-prior-knowledge"] = xfer.HTTP_VERSION_2_PRIOR_KNOWLEDGE }) do
            assert.equal(v, main.easy_options(assert(args.parse({ flag, "u" }))).http_version,
                         flag)
        end
        for flag, v in pairs({ ["--proxy-basic"] = xfer.AUTH_BASIC,
                               ["--proxy-digest"] = xfer.AUTH_DIGEST,
                               ["--proxy-anyauth"] = xfer.AUTH_ANY }) do
            assert.equal(v, main.easy_options(assert(args.parse({ flag, "u" }))).proxyauth,
                         flag)
        end
        assert.is_nil(d.proxyauth)
        assert.is_nil(d.timeout_ms)
        assert.is_nil(d.followlocation)
        -- every option name is one the binding knows: it would raise
        e.url = "http://127.0.0.1:1/"
        e.writefunction = function() end
        xfer.easy(e):close()
    end)
end)
