-- xfer.cli.args: the command line of `xfer` (getopt-style, no globals).
--
--   local args = require "xfer.cli.args"
--   local opts, err = args.parse(arg)   -- opts table, or nil + message
--
-- Short options cluster (-Lq), take their value attached or as the next
-- word (-P32, -P 32); long options take --name=value or --name value;
-- "--" ends the options.  Every value is checked here, so a bad number or
-- header is a usage error (exit 2) before anything starts.  Reading files
-- named by options (-i, -d @file, --cacert) is left to the caller: those
-- are local I/O errors (exit 3), not usage errors.
local tonumber, type, ipairs = tonumber, type, ipairs
local concat = table.concat
local floor = math.floor

local _M = { version = "0.1.0" }

local MAX_INT = 2147483647      -- what a C long option takes everywhere
local MAX_SECONDS = 2000000     -- 23 days: milliseconds still fit in 31 bits

-- kind: "flag" (no value), "pick" (no value: sets key to value, the last
-- one given wins, as curl's --http1.1/--http2), "int" (>= min), "seconds"
-- (> 0, or >= 0 when zero_ok), "string"; list = true collects every
-- occurrence.
local OPTIONS = {
    { "i", "input", "input", "string", list = true, meta = "FILE",
      help = "read URLs from FILE, one a line ('-': stdin)" },
    { "o", "output-dir", "output", "string", meta = "DIR",
      help = "save the bodies under DIR (names: docs/cli.md)" },
    { "P", "parallel", "parallel", "int", min = 0, meta = "N",
      help = "connections in all (default 16; 0: no limit)" },
    { nil, "max-host", "max_host", "int", min = 0, meta = "N",
      help = "connections per host (default 0: no limit)" },
    { nil, "timeout", "timeout", "seconds", meta = "S",
      help = "give up a transfer after S s (queue included)" },
    { nil, "connect-timeout", "connect_timeout", "seconds", meta = "S",
      help = "give up a connection attempt after S s" },
    { "H", "header", "headers", "header", list = true, meta = "'Name: value'",
      help = "add/replace a header ('Name:' removes it)" },
    { "X", "request", "method", "method", meta = "METHOD",
      help = "request method (default GET, POST with -d)" },
    { "d", "data", "data", "string", list = true, meta = "DATA",
      help = "POST DATA; @FILE sends a file; repeats join '&'" },
    { "L", "location", "location", "flag",
      help = "follow redirects" },
    { nil, "max-redirs", "max_redirs", "int", min = -1, meta = "N",
      help = "at most N redirects (default 30; -1: no limit)" },
    { nil, "retry", "retry", "int", min = 0, meta = "N",
      help = "retry N times: connect errors, timeouts, 5xx" },
    { nil, "retry-delay", "retry_delay", "seconds", zero_ok = true, meta = "S",
      help = "first retry wait (default 1), doubled, jittered" },
    { nil, "resolve", "resolve", "resolve", list = true, meta = "HOST:PORT:ADDR",
      help = "connect to ADDR for HOST:PORT (repeatable)" },
    { nil, "connect-to", "connect_to", "connect_to", list = true,
      meta = "H1:P1:H2:P2", help = "connect to H2:P2 for H1:P1 (repeatable)" },
    { nil, "unix-socket", "unix_socket", "string", meta = "PATH",
      help = "connect through the unix socket PATH" },
    { nil, "abstract-unix-socket", "abstract_unix_socket", "string",
      meta = "NAME", help = "the same, in the abstract namespace" },
    { nil, "interface", "interface", "string", meta = "NAME",
      help = "local end: interface, address, if!N, host!A" },
    { nil, "local-port", "local_port", "port_range", meta = "N[-M]",
      help = "local port, or the first free of N-M" },
    { nil, "happy-eyeballs-timeout-ms", "happy_eyeballs", "int", min = 0,
      meta = "MS", help = "start the other IP family after MS (200)" },
    { nil, "dns-servers", "dns_servers", "string", meta = "ADDRS",
      help = "name servers: addr[:port],... (no names)" },
    { nil, "keepalive-time", "keepalive_time", "int", min = 1, meta = "S",
      help = "TCP keep-alive probes after S s idle" },
    { nil, "cacert", "cacert", "string", meta = "FILE",
      help = "CA certificates (PEM) to verify servers with" },
    { "k", "insecure", "insecure", "flag",
      help = "skip the certificate and host name checks" },
    { "x", "proxy", "proxy", "proxy", meta = "URL",
      help = "proxy: http(s)://, socks4(a)://, socks5(h)://" },
    { nil, "socks4", "proxy", "proxy", scheme = "socks4", meta = "HOST",
      help = "SOCKS4 proxy (-x socks4://HOST[:PORT])" },
    { nil, "socks4a", "proxy", "proxy", scheme = "socks4a", meta = "HOST",
      help = "SOCKS4a proxy (it resolves the names)" },
    { nil, "socks5", "proxy", "proxy", scheme = "socks5", meta = "HOST",
      help = "SOCKS5 proxy, names resolved here" },
    { nil, "socks5-hostname", "proxy", "proxy", scheme = "socks5h",
      meta = "HOST", help = "SOCKS5 proxy that resolves the names" },
    { nil, "preproxy", "preproxy", "proxy", meta = "URL",
      help = "SOCKS proxy in front of the -x proxy" },
    { nil, "noproxy", "noproxy", "string", meta = "LIST",
      help = "hosts reached directly ('*': all)" },
    { "U", "proxy-user", "proxy_user", "string", meta = "USER:PW",
      help = "credentials for the proxy" },
    { "p", "proxytunnel", "proxytunnel", "flag",
      help = "CONNECT through the HTTP proxy for http too" },
    { nil, "proxy-header", "proxy_headers", "header", list = true,
      meta = "'Name: value'", help = "a header for the proxy only" },
    { nil, "proxy-cacert", "proxy_cacert", "string", meta = "FILE",
      help = "CA certificates (PEM) for an https proxy" },
    { nil, "proxy-insecure", "proxy_insecure", "flag",
      help = "skip the https proxy's certificate checks" },
    { nil, "proxy-basic", "proxy_auth", "pick", value = "basic",
      help = "Basic auth to the proxy (the default)" },
    { nil, "proxy-digest", "proxy_auth", "pick", value = "digest",
      help = "Digest auth to the proxy (asks it first)" },
    { nil, "proxy-anyauth", "proxy_auth", "pick", value = "any",
      help = "the best scheme the proxy offers (asks first)" },
    { nil, "suppress-connect-headers", "suppress_connect_headers", "flag",
      help = "no CONNECT answer in the headers" },
    { nil, "http1.1", "http_version", "pick", value = "1.1",
      help = "HTTP/1.1 only" },
    { nil, "http2", "http_version", "pick", value = "2",
      help = "h2 over https if the server agrees (default)" },
    { nil, "http2-prior-knowledge", "http_version", "pick",
      value = "2-prior-knowledge",
      help = "h2 at once, also over http (h2c)" },
    { "u", "user", "user", "string", meta = "USER:PASSWORD",
      help = "credentials (Basic unless --digest/--anyauth)" },
    { nil, "basic", "auth", "pick", value = "basic",
      help = "-u as Basic, sent at once (default)" },
    { nil, "digest", "auth", "pick", value = "digest",
      help = "-u as Digest (asks the server first)" },
    { nil, "anyauth", "auth", "pick", value = "any",
      help = "the best scheme the server offers (asks first)" },
    { nil, "oauth2-bearer", "bearer", "string", meta = "TOKEN",
      help = "Authorization: Bearer TOKEN" },
    { "A", "user-agent", "user_agent", "string", meta = "NAME",
      help = "User-Agent (default xfer/" .. _M.version .. "; '': none)" },
    { "f", "fail", "fail", "flag",
      help = "HTTP status >= 400 fails (error 22)" },
    { nil, "compressed", "compressed", "flag",
      help = "ask for gzip, deflate, br, zstd; save decoded" },
    { nil, "json", "json", "flag",
      help = "one JSON object per transfer on stdout" },
    { "q", "quiet", "quiet", "flag",
      help = "no progress display, no error lines" },
    { "V", "version", "show_version", "flag",
      help = "print the version" },
    { "h", "help", "show_help", "flag",
      help = "print this help" },
}

local by_short, by_long = {}, {}
for _, o in ipairs(OPTIONS) do
    if o[1] then by_short[o[1]] = o end
    by_long[o[2]] = o
end

local function optname(o)
    return o[1] and ("-" .. o[1]) or ("--" .. o[2])
end

-- Whether an option stands alone (takes no value).
local function alone(o)
    return o[4] == "flag" or o[4] == "pick"
end

-- Checks and converts one value; returns the value or nil, message.
local function convert(o, v)
    local kind = o[4]
    if kind == "int" then
        local n = tonumber(v)
        if not n or n ~= floor(n) or not v:match("^%s*[-+]?%d+%s*$") then
            return nil, ("%s needs an integer, got '%s'"):format(optname(o), v)
        end
        if n < o.min or n > MAX_INT then
            return nil, ("%s must be between %d and %d, got %s"):format(
                optname(o), o.min, MAX_INT, v)
        end
        return n
    elseif kind == "seconds" then
        local n = tonumber(v)
        if not n or n ~= n or n < 0 or (n == 0 and not o.zero_ok) or n > MAX_SECONDS then
            return nil, ("%s needs a number of seconds %s %d, got '%s'"):format(
                optname(o), o.zero_ok and "from 0 to" or "> 0, up to", MAX_SECONDS, v)
        end
        return n
    elseif kind == "header" then
        -- Name: value | Name: | Name;   (curl's forms)
        if not v:match("^[!#$%%&'*+.^_`|~%w-]+[:;]") then
            return nil, ("%s needs 'Name: value', got '%s'"):format(optname(o), v)
        end
        if v:find("[%c]") then
            return nil, ("%s: control characters are not allowed in a header"):format(
                optname(o))
        end
        return v
    elseif kind == "method" then
        if not v:match("^[!#$%%&'*+.^_`|~%w-]+$") then
            return nil, ("%s needs a method name (a token), got '%s'"):format(
                optname(o), v)
        end
        return v
    elseif kind == "proxy" then
        if v:find("[%c%s]") or v == "" then
            return nil, ("%s needs a proxy HOST[:PORT], got '%s'"):format(optname(o), v)
        end
        if o.scheme then
            return o.scheme .. "://" .. (v:match("^[%w]+://(.*)$") or v)
        end
        return v
    elseif kind == "connect_to" then
        if v:find("[%c%s]") or not v:match("^.*:%d*:.*:%d*$") then
            return nil, ("%s needs HOST1:PORT1:HOST2:PORT2, got '%s'"):format(
                optname(o), v)
        end
        return v
    elseif kind == "port_range" then
        local a, b = v:match("^(%d+)%-(%d+)$")
        a, b = tonumber(a or v:match("^%d+$")), tonumber(b)
        if not a or a < 1 or a > 65535 or (b and (b < a or b > 65535)) then
            return nil, ("%s needs a port or a range N-M, got '%s'"):format(
                optname(o), v)
        end
        return { a, b and (b - a + 1) or 1 }
    elseif kind == "resolve" then
        local host, port = v:match("^(%[[^%]]+%]):(%d+):.+$")
        if not host then host, port = v:match("^([^:%[%]]+):(%d+):.+$") end
        if not host or tonumber(port) > 65535 then
            return nil, ("%s needs HOST:PORT:ADDR, got '%s'"):format(optname(o), v)
        end
        return v
    end
    return v
end

local function set(opts, o, v)
    local key = o[3]
    if o[4] == "flag" then
        opts[key] = true
        return true
    elseif o[4] == "pick" then
        opts[key] = o.value
        return true
    end
    local val, err = convert(o, v)
    if val == nil then return nil, err end
    if o.list then
        local t = opts[key]
        t[#t + 1] = val
    else
        opts[key] = val
    end
    return true
end

-- Defaults; lists start empty.
local function defaults()
    return {
        urls = {}, input = {}, headers = {}, data = {}, resolve = {},
        connect_to = {},
        proxy_headers = {},
        parallel = 16, max_host = 0, retry = 0, retry_delay = 1,
        location = false, json = false, quiet = false, fail = false,
        insecure = false,
    }
end

-- parse(argv) -> opts | nil, message.  argv is a list of strings (arg).
function _M.parse(argv)
    local opts = defaults()
    local i, n = 1, #argv
    local only_urls = false
    while i <= n do
        local a = argv[i]
        if type(a) ~= "string" then
            return nil, "bad argument " .. i
        end
        if only_urls or a == "-" or a:sub(1, 1) ~= "-" then
            if a == "-" and not only_urls then
                return nil, "'-' is not a URL (use -i - to read URLs from stdin)"
            end
            opts.urls[#opts.urls + 1] = a
        elseif a == "--" then
            only_urls = true
        elseif a:sub(1, 2) == "--" then
            local name, val = a:match("^%-%-([^=]+)=(.*)$")
            name = name or a:sub(3)
            local o = by_long[name]
            if not o then
                return nil, ("unknown option '--%s'"):format(name)
            end
            if alone(o) then
                if val then
                    return nil, ("option '--%s' takes no value"):format(name)
                end
            elseif not val then
                i = i + 1
                val = argv[i]
                if val == nil then
                    return nil, ("option '--%s' needs a value"):format(name)
                end
            end
            local ok, err = set(opts, o, val)
            if not ok then return nil, err end
        else
            -- a cluster of short options: -Lq, -P32, -o dir
            local j = 2
            while j <= #a do
                local c = a:sub(j, j)
                local o = by_short[c]
                if not o then
                    return nil, ("unknown option '-%s'"):format(c)
                end
                if alone(o) then
                    set(opts, o)
                    j = j + 1
                else
                    local val = a:sub(j + 1)
                    if val == "" then
                        i = i + 1
                        val = argv[i]
                        if val == nil then
                            return nil, ("option '-%s' needs a value"):format(c)
                        end
                    end
                    local ok, err = set(opts, o, val)
                    if not ok then return nil, err end
                    break
                end
            end
        end
        i = i + 1
    end
    if opts.show_help or opts.show_version then return opts end
    local stdin_users = 0
    for _, f in ipairs(opts.input) do
        if f == "-" then stdin_users = stdin_users + 1 end
    end
    for _, d in ipairs(opts.data) do
        if d == "@-" then stdin_users = stdin_users + 1 end
    end
    if stdin_users > 1 then
        return nil, "stdin can be read only once (-i - and -d @-)"
    end
    if #opts.urls == 0 and #opts.input == 0 then
        return nil, "no URL given"
    end
    return opts
end

function _M.usage_line()
    return "Usage: xfer [options] URL...   (xfer --help lists the options)"
end

function _M.help()
    local out = {
        "Usage: xfer [options] URL...",
        "       xfer [options] -i urls.txt",
        "Runs many HTTP(S) transfers at once on one xfer multi handle:",
        "queued under the connection limits, with live progress on a terminal",
        "and a summary at the end. Without -o the bodies are read and dropped.",
        "",
        "Options:",
    }
    for _, o in ipairs(OPTIONS) do
        local names = (o[1] and ("-" .. o[1] .. ", ") or "    ") .. "--" .. o[2]
        if o.meta then names = names .. " " .. o.meta end
        out[#out + 1] = ("  %-28s %s"):format(names, o.help)
    end
    out[#out + 1] = ""
    out[#out + 1] = "Exit status: 0 all transfers succeeded (any HTTP status unless -f),"
    out[#out + 1] = "1 some failed, 2 usage error, 3 local file error before starting"
    out[#out + 1] = "(-o DIR, -i, -d @FILE, --cacert), 4 internal error, 130 interrupted"
    out[#out + 1] = "(SIGINT), 143 terminated (SIGTERM), 141 stdout closed (EPIPE)."
    out[#out + 1] = "See docs/cli.md."
    return concat(out, "\n") .. "\n"
end

_M.OPTIONS = OPTIONS

return _M
