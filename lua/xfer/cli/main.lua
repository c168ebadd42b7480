-- xfer.cli.main: the `xfer` command (bin/xfer calls main(arg) and exits
-- with what it returns).  docs/cli.md is the user's documentation.
--
-- How it runs.  Every URL becomes an easy handle on one multi handle
-- (max_total_connections = -P, max_host_connections = --max-host), so the
-- engine does the queueing: all transfers are added at once (up to WINDOW
-- at a time, which only bounds memory for very long lists) and wait in the
-- engine's FIFO for a connection slot.
--
-- The loop is plain Lua: multi:perform(), info_read() until empty,
-- multi:wait(<= 100 ms), then uv.run("nowait").  Why this and not
-- multi:run{on_done} or a full luv driver:
-- * control comes back at least every 100 ms (wait's timeout), which is
--   all the progress display needs (at most 10 frames a second), and is
--   where retries whose backoff has expired are added again;
-- * multi:run only returns when every transfer is done, so an interrupt
--   or a redraw would have to happen inside a transfer callback;
-- * wait + perform cost one poll() per round: as fast as run() here
--   (5,000 small files or 500 MiB over loopback: the same wall time);
-- * a luv driver (a poll handle per socket, socket_action from a timer)
--   would work too, but needs Lua socket and timer callbacks and their
--   re-entrancy rules for no gain: 100 ms is well below what a person
--   notices after Ctrl-C.
-- luv is used for what plain Lua cannot do: signal handles (SIGINT,
-- SIGTERM, SIGWINCH, SIGPIPE), a monotonic clock, mkdir/stat, the pid.
-- libuv's signal handler only writes to a pipe; uv.run("nowait") once per
-- round runs our Lua handlers, which set a flag.  A signal that arrives
-- while the process sleeps in wait() (poll, restarted after EINTR) is
-- therefore seen within 100 ms, and the loop stops between two rounds,
-- never in the middle of a write: in-flight transfers are removed, their
-- partial files deleted, and the summary says what finished.
local args = require "xfer.cli.args"
local fmt = require "xfer.cli.fmt"
local json = require "xfer.cli.json"
local output = require "xfer.cli.output"
local progress = require "xfer.cli.progress"
local summary = require "xfer.cli.summary"
local term = require "xfer.cli.term"

local format, concat, sort = string.format, table.concat, table.sort
local floor, min, max, random = math.floor, math.min, math.max, math.random
local pcall, xpcall, ipairs, pairs, tostring = pcall, xpcall, ipairs, pairs, tostring
local stdout, stderr = io.stdout, io.stderr

local _M = { version = args.version }

-- Exit codes (docs/cli.md).
local EXIT = {
    OK = 0, FAILED = 1, USAGE = 2, LOCAL = 3, INTERNAL = 4,
    SIGINT = 130, PIPE = 141, SIGTERM = 143,
}
_M.EXIT = EXIT

local WINDOW = 10000       -- most transfers added to the multi at once
-- getinfo http_version -> what --json and the summary say (curl's
-- %{http_version}: "1.1", "2").
local VERSION_NAME = { [1] = "1.0", [2] = "1.1", [3] = "2" }
local RETRY_CAP = 30       -- seconds: the longest backoff (unless --retry-delay is longer)
local WAIT_MS = 100        -- the loop's longest sleep

local function say(...)
    stderr:write("xfer: ", concat({ ... }), "\n")
end

-- Reads a whole file ("-": stdin) -> contents | nil, message.
local function slurp(name)
    local f, err = io.stdin, nil
    if name ~= "-" then f, err = io.open(name, "rb") end
    if not f then return nil, err end
    local data, rerr = f:read("*a")
    if f ~= io.stdin then f:close() end
    if not data then return nil, name .. ": " .. tostring(rerr) end
    return data
end

-- The URL list: one per line; blank lines and "#" comments skipped.
local function read_urls(opts)
    local urls = {}
    for _, u in ipairs(opts.urls) do urls[#urls + 1] = u end
    for _, name in ipairs(opts.input) do
        local data, err = slurp(name)
        if not data then return nil, "cannot read the URL list: " .. err end
        for line in data:gmatch("[^\n]+") do
            line = line:match("^%s*(.-)%s*$")
            if line ~= "" and line:sub(1, 1) ~= "#" then urls[#urls + 1] = line end
        end
    end
    return urls
end

-- The -d parts, "@FILE" read, joined with "&" (curl's rule).
local function read_body(opts)
    if #opts.data == 0 then return nil end
    local parts = {}
    for i, d in ipairs(opts.data) do
        if d:sub(1, 1) == "@" then
            local data, err = slurp(d:sub(2))
            if not data then return nil, "cannot read -d " .. d .. ": " .. tostring(err) end
            parts[i] = data
        else
            parts[i] = d
        end
    end
    return concat(parts, "&")
end

-- --http1.1, --http2, --http2-prior-knowledge: the HTTP_VERSION values
-- (libcurl's numbers: xfer.HTTP_VERSION_1_1, _2TLS, _2_PRIOR_KNOWLEDGE).
-- Without one, xfer's default: h2 offered over https, HTTP/1.1 over http,
-- which is what --http2 asks for too.
local HTTP_VERSION = { ["1.1"] = 2, ["2"] = 4, ["2-prior-knowledge"] = 5 }

-- --basic, --digest, --anyauth: HTTPAUTH (xfer.AUTH_BASIC, _DIGEST, _ANY:
-- libcurl's ~16 as a long); --oauth2-bearer adds AUTH_BEARER (64), as
-- curl's does.
local HTTPAUTH = { basic = 1, digest = 2, any = -17 }
local AUTH_BEARER = 64

-- Options every easy handle gets (the per-transfer ones are added later).
-- PIPEWAIT: the transfers of a run start together, so without it each one
-- to an h2 origin would open its own connection before the first one's
-- ALPN answer says that one is enough (curl --parallel sets it too).
local function base_options(opts, body)
    local o = { pipewait = true }
    if opts.http_version then o.http_version = HTTP_VERSION[opts.http_version] end
    local ua = opts.user_agent or ("xfer/" .. args.version)
    if ua ~= "" then o.useragent = ua end
    if #opts.headers > 0 then o.httpheader = opts.headers end
    if #opts.resolve > 0 then o.resolve = opts.resolve end
    if #opts.connect_to > 0 then o.connect_to = opts.connect_to end
    if opts.unix_socket then o.unix_socket_path = opts.unix_socket end
    if opts.abstract_unix_socket then
        o.abstract_unix_socket = opts.abstract_unix_socket
    end
    if opts.interface then o.interface = opts.interface end
    if opts.local_port then
        o.localport, o.localportrange = opts.local_port[1], opts.local_port[2]
    end
    if opts.happy_eyeballs then o.happy_eyeballs_timeout_ms = opts.happy_eyeballs end
    if opts.dns_servers then o.dns_servers = opts.dns_servers end
    if opts.keepalive_time then -- curl's: idle and interval alike
        o.tcp_keepalive = true
        o.tcp_keepidle, o.tcp_keepintvl = opts.keepalive_time, opts.keepalive_time
    end
    if opts.method then o.customrequest = opts.method end
    if body then o.postfields = body end
    if opts.location then o.followlocation = true end
    if opts.max_redirs then o.maxredirs = opts.max_redirs end
    if opts.timeout then o.timeout_ms = max(1, floor(opts.timeout * 1000 + 0.5)) end
    if opts.connect_timeout then
        o.connecttimeout_ms = max(1, floor(opts.connect_timeout * 1000 + 0.5))
    end
    if opts.cacert then o.cainfo = opts.cacert end
    if opts.insecure then
        o.ssl_verifypeer = false
        o.ssl_verifyhost = false
    end
    if opts.fail then o.failonerror = true end
    if opts.proxy then o.proxy = opts.proxy end
    if opts.preproxy then o.pre_proxy = opts.preproxy end
    if opts.noproxy then o.noproxy = opts.noproxy end
    if opts.proxy_user then o.proxyuserpwd = opts.proxy_user end
    if opts.proxytunnel then o.httpproxytunnel = true end
    if #opts.proxy_headers > 0 then o.proxyheader = opts.proxy_headers end
    if opts.proxy_cacert then o.proxy_cainfo = opts.proxy_cacert end
    if opts.proxy_insecure then
        o.proxy_ssl_verifypeer = false
        o.proxy_ssl_verifyhost = false
    end
    if opts.proxy_auth then o.proxyauth = HTTPAUTH[opts.proxy_auth] end
    if opts.suppress_connect_headers then o.suppress_connect_headers = true end
    if opts.compressed then o.accept_encoding = "" end -- every coding built in
    if opts.user then o.userpwd = opts.user end
    if opts.bearer then o.xoauth2_bearer = opts.bearer end
    local auth = HTTPAUTH[opts.auth]
    if opts.bearer and auth ~= HTTPAUTH.any then auth = (auth or 0) + AUTH_BEARER end
    if auth then o.httpauth = auth end
    return o
end

-- For the specs: the easy options a command line gives.
_M.easy_options = base_options

local function version_text(xfer, uv)
    return format("xfer %s (engine %s; %s%s; luv %s)\n", args.version,
        xfer and xfer.version() or "not loaded",
        rawget(_G, "jit") and (rawget(_G, "jit").version .. ", ") or "", _VERSION,
        uv and uv.version_string() or "not loaded")
end

-- ---------------------------------------------------------------------
-- One run: every URL to its end, or until a signal.
-- ---------------------------------------------------------------------

local function run(ctx)
    local xfer, uv, opts, urls = ctx.xfer, ctx.uv, ctx.opts, ctx.urls
    local out = ctx.out
    local total = #urls
    local stats = summary.new()
    local now = function() return uv.hrtime() / 1e9 end
    local t0 = now()

    local E_WRITE = xfer.E_WRITE_ERROR
    local E_MALFORMAT = xfer.E_URL_MALFORMAT
    local E_BADARG = xfer.E_BAD_FUNCTION_ARGUMENT
    local RETRY_CODES = {
        [xfer.E_COULDNT_CONNECT] = true, [xfer.E_OPERATION_TIMEDOUT] = true,
        [xfer.E_GOT_NOTHING] = true, [xfer.E_SEND_ERROR] = true,
        [xfer.E_RECV_ERROR] = true, [xfer.E_PARTIAL_FILE] = true,
    }

    local st = {
        next = 1,        -- the next URL to start
        inflight = 0,    -- transfers added to the multi
        flight = {},     -- their records, in the order they were added
        retry = {},      -- records waiting for their backoff to expire
        done = 0, failed = 0, bytes = 0, seq = 0,
        stop = nil,      -- why the run stops early ("interrupted", ...)
        exit = nil,
    }

    local m = xfer.multi{
        max_total_connections = opts.parallel,
        max_host_connections = opts.max_host,
    }
    local base = base_options(opts, ctx.body)

    -- Output streams.  With --json, stdout carries only the JSON lines and
    -- the summary goes to stderr.
    local summary_out = opts.json and stderr or stdout
    local show_progress = not opts.quiet and not opts.json
        and term.stdout_is_tty(uv) and term.capable()
    local prog

    -- The JSON lines go straight to fd 1 with write(2): C stdio would
    -- report a closed pipe (EPIPE) late or never.  The run then stops as
    -- for a signal.
    local function stdout_write(s)
        while #s > 0 do
            local n = uv.fs_write(1, s, -1)
            if not n then
                if not st.stop then
                    st.stop, st.exit = "stopped (stdout closed)", EXIT.PIPE
                end
                return false
            end
            s = s:sub(n + 1)
        end
        return true
    end

    -- Error lines: printable ASCII only, whatever bytes a URL or a server
    -- message holds (no escape sequence reaches the terminal).
    local function log(line)
        if prog then prog:clear() end
        stderr:write("xfer: ", fmt.printable(line), "\n")
    end

    -- ---- signals ----
    local sigs = {}
    local function on_signal(name, fn)
        local h = uv.new_signal()
        if h and h:start(name, fn) then sigs[#sigs + 1] = h
        elseif h then h:close() end
    end
    on_signal("sigint", function()
        if not st.stop then st.stop, st.exit = "interrupted", EXIT.SIGINT end
    end)
    on_signal("sigterm", function()
        if not st.stop then st.stop, st.exit = "terminated", EXIT.SIGTERM end
    end)
    -- With a handler, a write to a closed pipe fails with EPIPE instead of
    -- killing the process: stdout_write stops the run cleanly.
    on_signal("sigpipe", function() end)

    -- ---- one transfer ----
    local by_easy = {}

    local function finish(rec, ok, err, info)
        st.done = st.done + 1
        if not ok then st.failed = st.failed + 1 end
        local status = info and info.response_code or 0
        stats:add{
            ok = ok, status = status, bytes = rec.all_bytes, err = err,
            http_version = VERSION_NAME[info and info.http_version],
            connects = rec.connects, attempts = rec.attempt, saved = rec.saved,
            queue_us = info and info.queue_time_t, total_us = info and info.total_time_t,
        }
        if opts.json then
            local function sec(k) return info and info[k] and info[k] / 1e6 or 0 end
            local times = json.object(
                { "queue", "namelookup", "connect", "appconnect", "pretransfer",
                  "starttransfer", "total" },
                { queue = sec("queue_time_t"), namelookup = sec("namelookup_time_t"),
                  connect = sec("connect_time_t"), appconnect = sec("appconnect_time_t"),
                  pretransfer = sec("pretransfer_time_t"),
                  starttransfer = sec("starttransfer_time_t"), total = sec("total_time_t") })
            local e = err and json.object({ "code", "name", "message" },
                { code = err.code, name = err.name, message = err.message }) or json.null
            local keys = { "url", "ok", "status", "http_version", "bytes", "attempts",
                           "connects", "effective_url", "times", "error" }
            if out then keys[#keys + 1] = "file" end
            stdout_write(json.encode(json.object(keys, {
                url = rec.url, ok = ok, status = status,
                http_version = VERSION_NAME[info and info.http_version] or json.null,
                bytes = rec.bytes,
                attempts = rec.attempt, connects = rec.connects,
                effective_url = info and info.effective_url or rec.url,
                times = times, error = e,
                file = rec.saved and rec.final or json.null,
            })) .. "\n")
        elseif not ok and not opts.quiet then
            log(format("%s: %s (%d): %s", rec.url, err.name, err.code, err.message))
        end
    end

    -- A transfer that fails before it starts (bad name, bad options).
    local function fail_early(rec, code, name, message)
        finish(rec, false, { code = code, name = name, message = message }, nil)
    end

    local add -- (rec): starts an attempt

    local function writer(rec)
        return function(chunk)
            local n = #chunk
            rec.bytes = rec.bytes + n
            rec.all_bytes = rec.all_bytes + n
            st.bytes = st.bytes + n
            if out then
                local ok, err = out:write(rec, chunk)
                if not ok then
                    rec.local_err = err
                    return false
                end
            end
        end
    end

    add = function(rec)
        rec.attempt = rec.attempt + 1
        rec.bytes, rec.active, rec.local_err = 0, false, nil
        local o = { url = rec.url, writefunction = writer(rec) }
        for k, v in pairs(base) do o[k] = v end
        local ok, e = pcall(xfer.easy, o)
        if not ok then
            return fail_early(rec, E_BADARG, "BAD_FUNCTION_ARGUMENT", tostring(e))
        end
        local added, aerr = m:add_handle(e)
        if not added then
            e:close()
            return fail_early(rec, aerr.code, aerr.name, aerr.message)
        end
        rec.easy = e
        by_easy[e] = rec
        st.inflight = st.inflight + 1
        st.flight[#st.flight + 1] = rec
    end

    local function start_next()
        local url = urls[st.next]
        st.next = st.next + 1
        st.seq = st.seq + 1
        local rec = { id = st.seq, url = url, attempt = 0, bytes = 0, all_bytes = 0,
                      connects = 0 }
        if out then
            local ok, why = out:plan(rec)
            if not ok then
                rec.attempt = 1
                local code, name = E_WRITE, "WRITE_ERROR"
                if why:find("no host", 1, true) then
                    code, name = E_MALFORMAT, "URL_MALFORMAT"
                end
                return fail_early(rec, code, name, "refused output name: " .. why)
            end
        end
        add(rec)
    end

    local function retryable(ok, err, status)
        if not ok and err and RETRY_CODES[err.code] then return true end
        return status == 408 or status == 429 or (status >= 500 and status <= 599)
    end

    local function backoff(attempt)
        local d = opts.retry_delay * 2 ^ (attempt - 1)
        local cap = max(RETRY_CAP, opts.retry_delay)
        if d > cap then d = cap end
        return d * (0.5 + 0.5 * random()) -- jitter: between half and all of it
    end

    local function detach(rec)
        local e = rec.easy
        m:remove_handle(e)
        by_easy[e] = nil
        rec.easy = nil
        rec.done_flight = true
        st.inflight = st.inflight - 1
        e:close()
    end

    -- Compacts st.flight once it holds many finished records.
    local function compact()
        local f = st.flight
        if #f <= 2 * st.inflight + 64 then return end
        local n = {}
        for _, rec in ipairs(f) do
            if not rec.done_flight then n[#n + 1] = rec end
        end
        st.flight = n
    end

    local function complete(e, ok, err)
        local rec = by_easy[e]
        if not rec then return end
        local info = e:getinfo()
        rec.connects = rec.connects + (info.num_connects or 0)
        local status = info.response_code or 0
        if rec.local_err then
            ok, err = false, { code = E_WRITE, name = "WRITE_ERROR", message = rec.local_err }
        end
        detach(rec)
        if rec.attempt <= opts.retry and not rec.local_err and not st.stop
            and retryable(ok, err, status) then
            if out then out:discard(rec) end
            rec.due = now() + backoff(rec.attempt)
            st.retry[#st.retry + 1] = rec
            return
        end
        if out then
            if ok then
                local cok, cerr = out:commit(rec)
                if cok then
                    rec.saved = true
                else
                    ok, err = false, { code = E_WRITE, name = "WRITE_ERROR", message = cerr }
                end
            else
                out:discard(rec)
            end
        end
        finish(rec, ok, err, info)
        compact()
    end

    local function drain()
        while true do
            local e, ok, err = m:info_read()
            if not e then return end
            complete(e, ok, err)
        end
    end

    -- Retries whose time has come go back in.
    local function due_retries(t)
        local rest = {}
        for _, rec in ipairs(st.retry) do
            if rec.due <= t then add(rec) else rest[#rest + 1] = rec end
        end
        st.retry = rest
    end

    -- ---- the progress display ----
    local check_limit = opts.parallel > 0 and max(64, 2 * opts.parallel) or 1000
    local function snapshot()
        local list, active, checked = {}, 0, 0
        for _, rec in ipairs(st.flight) do
            if not rec.done_flight then
                -- Active: a connection is assigned (the transfer left the
                -- engine's queue).  Only the oldest waiting ones are asked:
                -- the queue is FIFO.
                if not rec.active then
                    if rec.bytes > 0 then
                        rec.active = true
                    elseif checked < check_limit then
                        checked = checked + 1
                        rec.active = (rec.easy:getinfo("local_port") or 0) > 0
                    end
                end
                if rec.active then
                    active = active + 1
                    if #list < 200 then
                        list[#list + 1] = { label = rec.url, bytes = rec.bytes, id = rec.id,
                                            easy = rec.easy }
                    end
                end
            end
        end
        -- The busiest first (bytes so far), so that a short terminal shows
        -- the big downloads rather than the ones that just got a connection.
        sort(list, function(a, b)
            if a.bytes ~= b.bytes then return a.bytes > b.bytes end
            return a.id < b.id
        end)
        for i = 1, min(#list, 100) do
            list[i].length = list[i].easy:getinfo("content_length_download_t")
        end
        return {
            total = total, done = st.done, failed = st.failed, bytes = st.bytes,
            active = active, retrying = #st.retry,
            queued = st.inflight - active + (total - st.next + 1),
            transfers = list,
        }
    end
    if show_progress then
        prog = progress.new{
            write = function(s) stdout:write(s); stdout:flush() end,
            snapshot = snapshot, now = now,
        }
        on_signal("sigwinch", function() prog:resized() end)
    end

    -- ---- the loop ----
    while true do
        if st.stop then break end
        if #st.retry > 0 then due_retries(now()) end
        while st.next <= total and st.inflight < WINDOW and not st.stop do
            start_next()
        end
        if st.inflight == 0 and #st.retry == 0 and st.next > total then break end
        local running = 0
        if st.inflight > 0 then
            local r, perr = m:perform()
            if not r then error("multi:perform failed: " .. tostring(perr)) end
            running = r
            drain()
        end
        if prog then prog:tick() end
        uv.run("nowait")
        if st.stop then break end
        -- Sleep until a socket is ready, a retry is due, or 100 ms passed.
        local work_now = st.next <= total and st.inflight < WINDOW
        if not work_now then
            local ms = WAIT_MS
            for _, rec in ipairs(st.retry) do
                ms = min(ms, max(0, floor((rec.due - now()) * 1000)))
            end
            if running > 0 then
                m:wait(ms)
            elseif st.inflight == 0 and #st.retry > 0 and ms > 0 then
                uv.sleep(ms)
            end
            uv.run("nowait")
        end
    end

    -- ---- the end: stop what still runs ----
    -- Read every in-flight transfer's state first, then remove them newest
    -- first: removing a running one frees a connection slot, and the
    -- engine would hand it to a queued one at once.
    local stopped, left = 0, {}
    for _, rec in ipairs(st.flight) do
        if not rec.done_flight then
            local e = rec.easy
            rec.connects = rec.connects + (e:getinfo("num_connects") or 0)
            rec.started = rec.bytes > 0 or (e:getinfo("local_port") or 0) > 0
            left[#left + 1] = rec
        end
    end
    for i = #left, 1, -1 do
        local rec = left[i]
        detach(rec)
        if out then out:discard(rec) end
        stats:add_attempt(rec.all_bytes, rec.connects)
        if rec.started then stopped = stopped + 1 end
    end
    for _, rec in ipairs(st.retry) do
        stats:add_attempt(rec.all_bytes, rec.connects)
        stopped = stopped + 1
    end
    st.retry = {}
    if out then out:discard_all() end
    if prog then prog:clear() end
    m:close()
    for _, h in ipairs(sigs) do
        h:stop()
        h:close()
    end
    uv.run("nowait")

    local text = stats:text{
        elapsed = now() - t0, total = total,
        interrupted = st.stop, stopped = stopped,
        not_started = total - st.done - stopped,
        output_dir = out and out.dir,
    }
    if st.exit == EXIT.PIPE then summary_out = stderr end
    summary_out:write(text)
    summary_out:flush()
    if st.exit then return st.exit end
    return st.failed > 0 and EXIT.FAILED or EXIT.OK
end

-- main(argv) -> exit code
function _M.main(argv)
    local opts, perr = args.parse(argv or {})
    if not opts then
        say(perr)
        stderr:write(args.usage_line(), "\n")
        return EXIT.USAGE
    end
    if opts.show_help then
        stdout:write(args.help())
        return EXIT.OK
    end
    local has_xfer, xfer = pcall(require, "xfer")
    local has_uv, uv = pcall(require, "luv")
    if opts.show_version then
        stdout:write(version_text(has_xfer and xfer, has_uv and uv))
        return EXIT.OK
    end
    if not has_xfer then
        say("cannot load the xfer module: ", tostring(xfer))
        return EXIT.INTERNAL
    end
    if not has_uv then
        say("cannot load luv (Debian: lua-luv), needed for signals and the clock: ",
            tostring(uv))
        return EXIT.INTERNAL
    end
    local urls, uerr = read_urls(opts)
    if not urls then
        say(uerr)
        return EXIT.LOCAL
    end
    local body, berr = read_body(opts)
    if berr then
        say(berr)
        return EXIT.LOCAL
    end
    if opts.cacert then
        local f, cerr = io.open(opts.cacert, "rb")
        local st = uv.fs_stat(opts.cacert)
        if f then f:close() end
        if not f or not st or st.type == "directory" then
            say("cannot read --cacert ", opts.cacert, ": ", tostring(cerr or "a directory"))
            return EXIT.LOCAL
        end
    end
    math.randomseed(floor(uv.hrtime() % 2147483647) + uv.os_getpid())
    local out
    if opts.output then
        local oerr
        out, oerr = output.new(opts.output, uv)
        if not out then
            say("cannot use the output directory '", opts.output, "': ", tostring(oerr))
            return EXIT.LOCAL
        end
    end
    local ctx = { xfer = xfer, uv = uv, opts = opts, urls = urls, body = body, out = out }
    local ok, res = xpcall(function() return run(ctx) end, debug.traceback)
    if not ok then
        if out then out:discard_all() end
        say("internal error: ", tostring(res))
        return EXIT.INTERNAL
    end
    return res
end

return _M
