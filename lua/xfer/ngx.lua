-- xfer.ngx: xfer's multi handle inside an nginx worker (OpenResty-like
-- hosts), through the nginx module ngx_http_xfer_module (csrc/ngx/).
-- The API is the high-level one of require "xfer" (request, fetch_all);
-- only the calling light thread waits.
--
--   local xfer = require "xfer.ngx"
--   local res, err = xfer.request{ url = "http://127.0.0.1:8080/",
--                                  timeout_ms = 2000 }
--   local results = xfer.fetch_all({ url1, url2, ... },
--                                  { max_total_connections = 8 })
--   local res = xfer.request{ url = u, stream = true }  -- after the headers
--   local chunk = res.body_reader(65536)   -- a piece, nil at the end
--   xfer.request{ url = u, method = "PUT", body = function() ... end }
--
-- The thread waits on a semaphore that the module posts from C when its
-- transfers finish. Sockets and the timer live in nginx's event loop: no
-- thread, no polling, no Lua in C handlers. See docs/openresty.md.
-- Requires lua-resty-core (ngx.semaphore) and lua/xfer/headers.lua.
local ffi = require "ffi"
local bit = require "bit"
local base = require "resty.core.base"
local semaphore = require "ngx.semaphore"   -- declares ngx_http_lua_sema_t
local headers = require "xfer.headers"

local C = ffi.C
local ffi_string = ffi.string
local ffi_new = ffi.new
local ffi_gc = ffi.gc
local get_string_buf = base.get_string_buf
local get_request = base.get_request
local band, bor = bit.band, bit.bor
local concat = table.concat
local get_size_ptr = base.get_size_ptr
local new_tab = base.new_tab
local sema_wait = semaphore.wait
local wrap_headers = headers.wrap
local ngx = ngx
local ngx_now = ngx.now
local update_time = ngx.update_time
local get_phase = ngx.get_phase
local type = type
local pairs = pairs
local ipairs = ipairs
local tonumber = tonumber
local tostring = tostring
local error = error
local pcall = pcall
local setmetatable = setmetatable
local getmetatable = getmetatable
local rawget = rawget
local rawset = rawset
local floor = math.floor
local format = string.format
local str_match = string.match
local str_find = string.find
local str_sub = string.sub

ffi.cdef [[
typedef struct ngx_http_xfer_group_s  ngx_http_xfer_group_t;
typedef struct ngx_http_xfer_task_s   ngx_http_xfer_task_t;

typedef struct {
    int               code;
    int               index;
    long              status;
    long              http_version;
    const unsigned char *body;
    size_t            body_len;
    const unsigned char *head;
    size_t            head_len;
    const char       *error;
    const char       *effective_url;
    const char       *primary_ip;
    long              primary_port;
    long              local_port;
    long              redirect_count;
    long              num_connects;
    long              ssl_verifyresult;
    int64_t           size_download;
    int64_t           size_upload;
    int64_t           content_length_download;
    int64_t           total_time;
    int64_t           queue_time;
    int64_t           namelookup_time;
    int64_t           connect_time;
    int64_t           appconnect_time;
    int64_t           pretransfer_time;
    int64_t           starttransfer_time;
    long              http_connectcode;
    long              proxy_error;
} ngx_http_xfer_result_t;

typedef struct {
    int64_t started, completed, cancelled, aborted, posts, running, sockets,
            groups, graveyard, free_connections, multi, timer_set, pooled,
            reused, streams, stream_held, stream_held_max, stream_pauses,
            body_pieces, action_max_us;
} ngx_http_xfer_stats_t;

int ngx_http_xfer_configure(long max_total, long max_host, long maxconnects,
    long max_streams, long pipelining, unsigned char *err, size_t *errlen);
int ngx_http_xfer_close_idle(unsigned char *err, size_t *errlen);
int ngx_http_xfer_stats(ngx_http_xfer_stats_t *st);
int ngx_http_xfer_fds(int *fds, int n);
const char *ngx_http_xfer_code_name(int code);
const char *ngx_http_xfer_strerror(int code);

ngx_http_xfer_group_t *ngx_http_xfer_group_new(unsigned char *err,
    size_t *errlen);
ngx_http_lua_sema_t *ngx_http_xfer_group_sema(ngx_http_xfer_group_t *g);
int ngx_http_xfer_group_take(ngx_http_xfer_group_t *g,
    ngx_http_xfer_task_t **done, int n, int wait_all);
void ngx_http_xfer_group_free(ngx_http_xfer_group_t *g);

ngx_http_xfer_task_t *ngx_http_xfer_task_new(ngx_http_xfer_group_t *g,
    int index);
int ngx_http_xfer_option_at(int i, const char **name, int *id, int *type);
int ngx_http_xfer_task_setopt_str(ngx_http_xfer_task_t *t, int opt,
    const char *v, size_t len);
int ngx_http_xfer_task_setopt_long(ngx_http_xfer_task_t *t, int opt, long v);
int ngx_http_xfer_task_append(ngx_http_xfer_task_t *t, int opt,
    const char *v, size_t len);
int ngx_http_xfer_task_body(ngx_http_xfer_task_t *t, const char *p,
    size_t len);
int ngx_http_xfer_task_start(ngx_http_xfer_task_t *t, size_t max_body,
    int flags);
const ngx_http_xfer_result_t *ngx_http_xfer_task_result(
    ngx_http_xfer_task_t *t);
void ngx_http_xfer_task_free(ngx_http_xfer_task_t *t);

int ngx_http_xfer_task_body_reader(ngx_http_xfer_task_t *t, int64_t size);
void ngx_http_xfer_group_bind(ngx_http_xfer_group_t *g,
    ngx_http_request_t *r);
int ngx_http_xfer_group_poll(ngx_http_xfer_group_t *g, int want);
ngx_http_xfer_task_t *ngx_http_xfer_group_task(ngx_http_xfer_group_t *g);
size_t ngx_http_xfer_group_read(ngx_http_xfer_group_t *g,
    const unsigned char **p, size_t max);
int ngx_http_xfer_group_feed(ngx_http_xfer_group_t *g, const char *p,
    size_t len, int eof);
]]

if not pcall(function() return C.ngx_http_xfer_group_new end) then
    error("xfer.ngx: ngx_http_xfer_module is not loaded "
          .. "(load_module .../ngx_http_xfer_module.so; see docs/openresty.md)",
          2)
end

local _M = { version = "0.1.0" }

-- The constants of the HTTP/2 options, as require "xfer" has them
-- (libcurl's values): http_version = xfer.HTTP_VERSION_1_1, and
-- configure{ pipelining = xfer.PIPE_NOTHING }.
_M.HTTP_VERSION_NONE = 0
_M.HTTP_VERSION_1_0 = 1
_M.HTTP_VERSION_1_1 = 2
_M.HTTP_VERSION_2_0 = 3
_M.HTTP_VERSION_2TLS = 4
_M.HTTP_VERSION_2_PRIOR_KNOWLEDGE = 5
_M.PIPE_NOTHING = 0
_M.PIPE_HTTP1 = 1
_M.PIPE_MULTIPLEX = 2
-- httpauth's bits (libcurl's; ANY and ANYSAFE are ~16 and ~17 as a long).
_M.AUTH_NONE = 0
_M.AUTH_BASIC = 1
_M.AUTH_DIGEST = 2
_M.AUTH_NEGOTIATE = 4
_M.AUTH_NTLM = 8
_M.AUTH_DIGEST_IE = 16
_M.AUTH_BEARER = 64
_M.AUTH_ONLY = 2147483648
_M.AUTH_ANY = -17
_M.AUTH_ANYSAFE = -18

-- xfer's codes (libcurl's values) used here.
local E_FAILED_INIT = 2
local E_OUT_OF_MEMORY = 27
local E_OPERATION_TIMEDOUT = 28
local E_ABORTED_BY_CALLBACK = 42

local DEFAULT_TIMEOUT_MS = 60000
local DEFAULT_MAX_BODY = 64 * 1024 * 1024
local DEFAULT_CONNECTIONS = 16  -- fetch_all's window, as require "xfer"
local WAIT_CHUNK = 60           -- seconds per semaphore wait without deadline
local ERR_BUF_SIZE = 256

-- ngx_http_xfer_task_start() flags: what collect() will read; STREAM: the
-- body goes through a bounded window, read while the transfer runs.
local WANT_INFO, WANT_HEADERS, STREAM = 1, 2, 4

-- ngx_http_xfer_group_poll() bits (NGX_HTTP_XFER_EV_*).
local EV_HEAD, EV_DATA, EV_BODY, EV_DONE, EV_GONE = 1, 2, 4, 8, 16

-- Keys handled by hand (request fields, and this module's own).
local SPECIAL = {
    url = true, method = true, headers = true, body = true,
    timeout_ms = true, resolve = true, proxyheader = true,
    httpheader = true, postfields = true,
    nobody = true, customrequest = true, httpget = true,
    max_body_size = true, wait_timeout_ms = true, stream = true,
}


-- Options of require "xfer" that have no meaning here, with the reason.
local NOT_HERE = {
    writefunction = "use stream = true and res.body_reader",
    headerfunction = "the headers are in res.headers",
    readfunction = "use body = function",
    xferinfofunction = "no Lua runs inside the module",
    upload = "use method and body", post = "use method and body",
    postfieldsize = "the body's size is #body; for a body function, send "
                    .. "a Content-Length header",
    infilesize = "the body's size is #body; for a body function, send a "
                 .. "Content-Length header",
    verbose = "not in nginx",
}

-- The options a request may carry: every number or string option of the
-- core's list (ngx_http_xfer_option_at: xfer_easy_option_next), by its
-- lowercase libcurl name: { name, number, kind }, walked with ipairs (which
-- LuaJIT compiles).  Callbacks, pointers and lists are not options here
-- (headers and resolve are request fields).
local OPTION_ID = {}
local OPTIONS = {}
do
    local name, id, typ = ffi.new("const char *[1]"), ffi.new("int[1]"),
                          ffi.new("int[1]")
    local LONG, VALUES, STRING = 0, 1, 4 -- XFEROT_*
    local i = 0
    while C.ngx_http_xfer_option_at(i, name, id, typ) == 0 do
        local n = ffi.string(name[0]):lower()
        OPTION_ID[n] = id[0]
        if SPECIAL[n] or NOT_HERE[n] then
            -- handled by hand, or refused with its reason
        elseif typ[0] == LONG then
            OPTIONS[#OPTIONS + 1] = { n, id[0], "int" }
        elseif typ[0] == VALUES then
            OPTIONS[#OPTIONS + 1] = { n, id[0], "values" }
        elseif typ[0] == STRING then
            OPTIONS[#OPTIONS + 1] = { n, id[0], "str" }
        end
        i = i + 1
    end
end

local OPT_URL, OPT_CUSTOMREQUEST, OPT_NOBODY =
    OPTION_ID.url, OPTION_ID.customrequest, OPTION_ID.nobody
local OPT_HTTPHEADER, OPT_RESOLVE = OPTION_ID.httpheader, OPTION_ID.resolve
local OPT_PROXYHEADER = OPTION_ID.proxyheader
-- resolve and proxyheader: lists of lines (httpheader is header_lines')
local LISTS = { { "resolve", OPT_RESOLVE }, { "proxyheader", OPT_PROXYHEADER } }
local OPT_TIMEOUT_MS = OPTION_ID.timeout_ms
local OPT_HTTPGET = OPTION_ID.httpget

local KNOWN = {}
for _, o in ipairs(OPTIONS) do
    KNOWN[o[1]] = true
end

local WAIT_PHASES = {
    rewrite = true, access = true, content = true, timer = true,
    ssl_cert = true,
}


-- Errors ------------------------------------------------------------------

local code_names = {}

local function code_name(code)
    local name = code_names[code]
    if not name then
        name = ffi_string(C.ngx_http_xfer_code_name(code))
        code_names[code] = name
    end
    return name
end

-- The shape of xfer.core's "xfer.error" objects.
local err_mt = {
    __name = "xfer.error",
    __tostring = function(e)
        return e.name .. " (" .. e.code .. "): " .. e.message
    end,
}

local function make_err(code, message)
    if not message or message == "" then
        message = ffi_string(C.ngx_http_xfer_strerror(code))
    end
    return setmetatable({ code = code, name = code_name(code),
                          message = message, kind = "easy" }, err_mt)
end

_M.error_mt = err_mt


-- Groups: what one light thread waits on ----------------------------------

local function group_new()
    local err = get_string_buf(ERR_BUF_SIZE)
    local errlen = get_size_ptr()
    errlen[0] = ERR_BUF_SIZE
    local g = C.ngx_http_xfer_group_new(err, errlen)
    if g == nil then
        return nil, ffi_string(err, errlen[0])
    end
    -- A thread that is killed, or raises, leaves its group to the
    -- collector: the finalizer cancels the transfers and retires the
    -- semaphore (after any post of it still pending).
    ffi_gc(g, C.ngx_http_xfer_group_free)
    -- the group owns its tasks: Lua gets them back from group_take
    return { g = g, sem = { sem = C.ngx_http_xfer_group_sema(g) } }
end

local function group_free(grp)
    local g = grp.g
    if g then
        grp.g = nil
        ffi_gc(g, nil)
        C.ngx_http_xfer_group_free(g)
    end
end

-- One wait on the group's semaphore, at most WAIT_CHUNK seconds and never
-- past deadline (nil: none): true (woken, or a chunk went by), false when
-- the deadline has passed, or nil, err.
local function sema_wait_until(grp, deadline)
    local secs = WAIT_CHUNK
    if deadline then
        update_time()
        local left = deadline - ngx_now()
        if left <= 0 then
            return false
        end
        if left < secs then
            secs = left < 0.001 and 0.001 or left
        end
    end
    local ok, err = sema_wait(grp.sem, secs)
    if not ok and err ~= "timeout" then
        return nil, err
    end
    return true
end

-- Waits until some task of the group has finished (all: until none runs);
-- returns how many were taken into done (a task pointer array), 0 when the
-- deadline passed, or nil, err.
local function wait_take(grp, done, cap, deadline, all)
    local g = grp.g
    while true do
        local n = C.ngx_http_xfer_group_take(g, done, cap, all and 1 or 0)
        if n > 0 then
            return n
        end
        local ok, err = sema_wait_until(grp, deadline)
        if ok == false then
            return 0
        elseif not ok then
            return nil, err
        end
    end
end


-- Requests ----------------------------------------------------------------

local function is_int(v)
    return type(v) == "number" and v == floor(v) and v >= 0
end

local function set_str(t, num, v, name)
    if type(v) ~= "string" then
        return nil, "field '" .. name .. "' must be a string, got " .. type(v)
    end
    local rc = C.ngx_http_xfer_task_setopt_str(t, num, v, #v)
    if rc ~= 0 then
        return rc, "bad '" .. name .. "'"
    end
    return 0
end

local function set_num(t, num, v, name, kind)
    if v == true then
        v = 1
    elseif v == false then
        v = 0
    elseif kind == "bool" and v ~= 0 and v ~= 1 then
        return nil, "field '" .. name .. "' must be a boolean, got "
                    .. tostring(v)
    elseif type(v) ~= "number" or v ~= floor(v)
           or (kind ~= "int" and v < 0)
    then
        return nil, "field '" .. name .. "' must be a"
                    .. (kind == "int" and "n" or " non-negative")
                    .. " integer, got " .. tostring(v)
    end
    local rc = C.ngx_http_xfer_task_setopt_long(t, num, v)
    if rc ~= 0 then
        return rc, "bad '" .. name .. "'"
    end
    return 0
end

-- What the options that take constants take (require "xfer" names them
-- the same way).
local VALUES_OF = {
    http_version = "xfer.HTTP_VERSION_NONE, HTTP_VERSION_1_1, "
                   .. "HTTP_VERSION_2_0, HTTP_VERSION_2TLS or "
                   .. "HTTP_VERSION_2_PRIOR_KNOWLEDGE",
    ipresolve = "xfer.IPRESOLVE_WHATEVER, IPRESOLVE_V4 or IPRESOLVE_V6",
    sslversion = "an xfer.SSLVERSION_* value, plus an xfer.SSLVERSION_MAX_* "
                 .. "one",
    httpauth = "xfer.AUTH_* bits (AUTH_BASIC, AUTH_DIGEST, AUTH_BEARER, "
               .. "AUTH_ANY, ...)",
}
local E_NOT_BUILT_IN, E_BAD_FUNCTION_ARGUMENT = 4, 43

-- An option that takes constants: an integer, never a boolean (true would
-- be 1: HTTP/1.0, IPv4 only); a value xfer refuses is misuse, as in
-- require "xfer", not a failed transfer.
local function set_values(t, num, v, name)
    local what = VALUES_OF[name] or "one of the option's constants"
    -- httpauth's masks are libcurl's unsigned longs: AUTH_ANY is -17 as a
    -- long, AUTH_ONLY 2^31
    local lo, hi = 0, 0x7fffffff
    if name == "httpauth" then lo, hi = -0x80000000, 0xffffffff end
    if type(v) ~= "number" or v ~= floor(v) or v < lo or v > hi then
        return nil, "field '" .. name .. "' must be " .. what .. ", got "
                    .. (type(v) == "number" and tostring(v) or type(v))
    end
    local rc = C.ngx_http_xfer_task_setopt_long(t, num, v)
    if rc == E_BAD_FUNCTION_ARGUMENT or rc == E_NOT_BUILT_IN then
        return nil, "field '" .. name .. "' must be " .. what .. ", got "
                    .. v .. (rc == E_NOT_BUILT_IN and " (not built in)" or "")
    elseif rc ~= 0 then
        return rc, "bad '" .. name .. "'"
    end
    return 0
end

local function append(t, num, v, name)
    local rc = C.ngx_http_xfer_task_append(t, num, v, #v)
    if rc ~= 0 then
        return rc, "bad '" .. name .. "' entry"
    end
    return 0
end

-- The header lines of a request, as require "xfer" builds them: httpheader
-- (a string or a list), then the headers table (xfer.headers).
local function header_lines(req)
    local list = {}
    local given = req.httpheader
    if type(given) == "string" then
        list[1] = given
    elseif type(given) == "table" then
        for i = 1, #given do
            if type(given[i]) ~= "string" then
                return nil, "httpheader[" .. i .. "] must be a string"
            end
            list[i] = given[i]
        end
    elseif given ~= nil then
        return nil, "field 'httpheader' must be a string or a list"
    end
    local h = req.headers
    if h == nil then
        return list
    end
    if type(h) ~= "table" then
        return nil, "field 'headers' must be a table, got " .. type(h)
    end
    return headers.request_lines(h, list)
end

local function callable(f)
    if type(f) == "function" then
        return true
    end
    local mt = getmetatable(f)
    return type(mt) == "table" and mt.__call ~= nil
end

local METHOD = "^[%w!#$%%&'*+.^_`|~-]+$"

-- The request body: nil, a string (a list of strings is joined), or a
-- function that gives it a piece at a time (lua-resty-http's convention:
-- a string, then nil at the end, or nil, err). Returns body, or nil, msg.
local function body_of(req)
    local body = req.body
    if body == nil then
        body = req.postfields
    end
    if type(body) == "table" and not callable(body) then
        for i = 1, #body do
            if type(body[i]) ~= "string" then
                return nil, "body[" .. i .. "] must be a string, got "
                            .. type(body[i])
            end
        end
        return concat(body)
    end
    if body ~= nil and type(body) ~= "string" and not callable(body) then
        return nil, "field 'body' must be a string, a list of strings or a "
                    .. "function, got " .. type(body)
    end
    return body
end

-- A body function: POST unless method says otherwise, any method but
-- HEAD; chunked unless a Content-Length header announces the size.
local function set_body_fn(t, req)
    local method = req.method
    if method == nil then
        method = req.customrequest
    end
    if method ~= nil and (type(method) ~= "string"
                          or not str_find(method, METHOD)) then
        return nil, "field 'method' must be a method name, got "
                    .. (type(method) == "string" and format("%q", method)
                        or type(method))
    end
    if method == "HEAD" or req.nobody then
        return nil, "a HEAD request has no body"
    end
    local rc = C.ngx_http_xfer_task_body_reader(t, -1)
    if rc ~= 0 then
        return rc, "cannot set the body"
    end
    if method ~= nil and method ~= "POST" then
        return set_str(t, OPT_CUSTOMREQUEST, method, "method")
    end
    return 0
end

-- method and body, as require "xfer" maps them onto easy options. A body
-- that cannot be sent is misuse, never an empty or missing body.
local function set_method(t, req)
    local body, bad = body_of(req)
    if bad then
        return nil, bad
    end
    if req.httpget and body ~= nil then
        return nil, "field 'httpget' makes a GET without the body: "
                    .. "set method = \"GET\" to send a body with a GET"
    end
    if callable(body) then
        return set_body_fn(t, req)
    end
    if req.httpget then
        return set_num(t, OPT_HTTPGET, req.httpget, "httpget")
    end
    local nobody, method
    nobody, method, body = headers.method_and_body{
        method = req.method, body = body, customrequest = req.customrequest,
        nobody = req.nobody,
    }
    if nobody == nil then
        return nil, method
    end
    if nobody then
        return set_num(t, OPT_NOBODY, 1, "method")
    end
    if body ~= nil then
        local rc = C.ngx_http_xfer_task_body(t, body, #body)
        if rc ~= 0 then
            return rc, "cannot set the body"
        end
    end
    if method ~= nil then
        return set_str(t, OPT_CUSTOMREQUEST, method, "method")
    end
    return 0
end

-- Applies a request table's fields to task t. Returns 0, or code, message;
-- code nil means misuse (the caller raises). The easy options are walked
-- (in OPTIONS' order) only when the request has one.
local function apply(t, req)
    local generic = false
    for k in pairs(req) do
        if not SPECIAL[k] then
            if not KNOWN[k] then
                local why = NOT_HERE[k]
                if why then
                    return nil, "option '" .. tostring(k)
                                .. "' is not supported in nginx (" .. why
                                .. ")"
                end
                return nil, "unknown option '" .. tostring(k) .. "'"
            end
            generic = true
        end
    end
    local rc, msg = set_str(t, OPT_URL, req.url, "url")
    if rc ~= 0 then
        return rc, msg
    end
    rc, msg = set_method(t, req)
    if rc ~= 0 then
        return rc, msg
    end

    local timeout = req.timeout_ms
    if timeout == nil and req.timeout == nil then
        timeout = DEFAULT_TIMEOUT_MS
    elseif timeout == false then
        timeout = 0
    end
    if timeout ~= nil then
        rc, msg = set_num(t, OPT_TIMEOUT_MS, timeout, "timeout_ms")
        if rc ~= 0 then
            return rc, msg
        end
    end

    if req.headers ~= nil or req.httpheader ~= nil then
        local lines
        lines, msg = header_lines(req)
        if not lines then
            return nil, msg
        end
        for i = 1, #lines do
            rc, msg = append(t, OPT_HTTPHEADER, lines[i], "headers")
            if rc ~= 0 then
                return rc, msg
            end
        end
    end

    -- The list options: a string or a list of strings each.
    local v
    for _, l in ipairs(LISTS) do
        local name = l[1]
        v = req[name]
        if v ~= nil then
            if type(v) == "string" then
                v = { v }
            elseif type(v) ~= "table" then
                return nil, "field '" .. name .. "' must be a string or a list"
            end
            for i = 1, #v do
                if type(v[i]) ~= "string" then
                    return nil, name .. "[" .. i .. "] must be a string"
                end
                rc, msg = append(t, l[2], v[i], name)
                if rc ~= 0 then
                    return rc, msg
                end
            end
        end
    end

    if generic then
        for _, o in ipairs(OPTIONS) do
            v = req[o[1]]
            if v ~= nil then
                if o[3] == "str" then
                    rc, msg = set_str(t, o[2], v, o[1])
                elseif o[3] == "values" then
                    rc, msg = set_values(t, o[2], v, o[1])
                else
                    rc, msg = set_num(t, o[2], v, o[1], o[3])
                end
                if rc ~= 0 then
                    return rc, msg
                end
            end
        end
    end
    return 0
end

local function check_req(req)
    local t = type(req)
    if t == "string" then
        return nil
    end
    if t ~= "table" then
        return "URL or request table expected, got " .. t
    end
    if type(req.url) ~= "string" then
        return "field 'url' must be a string, got " .. type(req.url)
    end
    local mb = req.max_body_size
    if mb ~= nil and not is_int(mb) then
        return "field 'max_body_size' must be a non-negative integer"
    end
    return nil
end

-- What only request() can do: a streamed response, a body function.
local function fed_or_streamed(req)
    if type(req) ~= "table" then
        return nil
    end
    local body = req.body
    if body == nil then
        body = req.postfields
    end
    if req.stream then
        return "stream"
    end
    if body ~= nil and type(body) ~= "string" and callable(body) then
        return "body function"
    end
    return nil
end

-- Creates and starts task i of the group (flags: WANT_*). Returns the
-- task (which the group owns), or nil, err, or nil, message, true for
-- misuse.
local function task_start(grp, i, req, flags)
    local t = C.ngx_http_xfer_task_new(grp.g, i)
    if t == nil then
        return nil, make_err(E_OUT_OF_MEMORY, "no memory")
    end
    local rc, msg
    local max_body = DEFAULT_MAX_BODY
    if band(flags, STREAM) ~= 0 then
        max_body = 2^52     -- streamed: no limit unless max_body_size
    end
    if type(req) == "string" then
        rc, msg = set_str(t, OPT_URL, req, "url")
        if rc == 0 then
            rc, msg = set_num(t, OPT_TIMEOUT_MS, DEFAULT_TIMEOUT_MS,
                              "timeout_ms")
        end
    else
        rc, msg = apply(t, req)
        max_body = req.max_body_size or max_body
    end
    if rc == 0 then
        rc = C.ngx_http_xfer_task_start(t, max_body, flags)
        if rc ~= 0 then
            msg = ffi_string(C.ngx_http_xfer_task_result(t).error)
        end
    end
    if rc ~= 0 then
        C.ngx_http_xfer_task_free(t)
        if rc == nil then
            return nil, msg, true
        end
        return nil, make_err(rc, msg)
    end
    return t
end

-- res.headers: an xfer.headers table, made from res.raw_headers when it is
-- first read.
local res_mt = {
    __index = function(res, k)
        if k == "headers" then
            local raw = rawget(res, "raw_headers")
            if not raw then
                return nil
            end
            local lines, n, pos = {}, 0, 1
            while true do
                local e = str_find(raw, "\n", pos, true)
                if not e then
                    break
                end
                n = n + 1
                lines[n] = str_sub(raw, pos, e)
                pos = e + 1
            end
            local h = wrap_headers(lines)
            rawset(res, "headers", h)
            return h
        end
    end,
}

local function buf_string(p, n)
    n = tonumber(n)
    if n == 0 then
        return ""
    end
    return ffi_string(p, n)
end

-- res.http_version: as ngx.req.http_version() gives it (1.1, 2.0), not
-- libcurl's code (info.http_version: 2, 3), whose 2 is HTTP/1.1.
local VERSIONS = { [1] = 1.0, [2] = 1.1, [3] = 2.0 }

local function info_of(r)
    return {
        response_code = tonumber(r.status),
        http_version = tonumber(r.http_version),
        effective_url = ffi_string(r.effective_url),
        primary_ip = ffi_string(r.primary_ip),
        primary_port = tonumber(r.primary_port),
        local_port = tonumber(r.local_port),
        redirect_count = tonumber(r.redirect_count),
        num_connects = tonumber(r.num_connects),
        ssl_verifyresult = tonumber(r.ssl_verifyresult),
        size_download_t = tonumber(r.size_download),
        size_upload_t = tonumber(r.size_upload),
        content_length_download_t = tonumber(r.content_length_download),
        total_time_t = tonumber(r.total_time),
        queue_time_t = tonumber(r.queue_time),
        namelookup_time_t = tonumber(r.namelookup_time),
        connect_time_t = tonumber(r.connect_time),
        appconnect_time_t = tonumber(r.appconnect_time),
        pretransfer_time_t = tonumber(r.pretransfer_time),
        starttransfer_time_t = tonumber(r.starttransfer_time),
        http_connectcode = tonumber(r.http_connectcode),
        proxy_error = tonumber(r.proxy_error),
    }
end

-- The err of a failed task's result: the status, and the proxy's answer
-- to CONNECT or its SOCKS failure, when there was one.
local function result_err(r)
    local err = make_err(r.code, ffi_string(r.error))
    local status = tonumber(r.status)
    if status ~= 0 then
        err.status = status
    end
    if r.http_connectcode ~= 0 then
        err.http_connectcode = tonumber(r.http_connectcode)
    end
    if r.proxy_error ~= 0 then
        err.proxy_error = tonumber(r.proxy_error)
    end
    return err
end


-- Reads a finished task's outcome and frees the task; returns its index
-- in the call, res, err.
local function collect(t, want_info, want_headers)
    local r = C.ngx_http_xfer_task_result(t)
    local i = r.index
    local res, err
    if r.code == 0 then
        res = setmetatable({
            status = tonumber(r.status),
            http_version = VERSIONS[tonumber(r.http_version)],
            body = buf_string(r.body, r.body_len),
            raw_headers = want_headers and buf_string(r.head, r.head_len)
                          or nil,
            info = want_info and info_of(r) or nil,
        }, res_mt)
    else
        err = result_err(r)
    end
    C.ngx_http_xfer_task_free(t)
    return i, res, err
end

local function check_phase(fname)
    local phase = get_phase()
    if not WAIT_PHASES[phase] then
        error("xfer.ngx: " .. fname .. "() cannot wait in the '" .. phase
              .. "' phase (use it in rewrite, access or content handlers, "
              .. "or in an ngx.timer callback)", 3)
    end
end

local function deadline_of(ms, fname)
    if ms == nil then
        return nil
    end
    if not is_int(ms) then
        error("bad argument to '" .. fname .. "' (field 'wait_timeout_ms' "
              .. "must be a non-negative integer)", 3)
    end
    update_time()
    return ngx_now() + ms / 1000
end

local function gave_up(ms)
    return make_err(E_OPERATION_TIMEDOUT, "gave up waiting after " .. ms
                    .. " ms (wait_timeout_ms); the transfer was cancelled")
end

local request_fed
local TASKS = "ngx_http_xfer_task_t *[?]"
local one_done = ffi_new(TASKS, 1)


-- Streamed responses and bodies from a function --------------------------
--
-- One group with one task (group.task in C). The waiting light thread asks
-- ngx_http_xfer_group_poll() what it can do (EV_*), feeds the request body
-- when the transfer asks for a piece, and reads the response's window; the
-- module posts the group's semaphore when any of that changes. The group
-- is bound to the nginx request: when the request ends, whatever still
-- runs is cancelled (EV_GONE from then on).

local read_ptr = ffi_new("const unsigned char *[1]")

-- Calls the body function for its next piece and hands it to the module.
-- true, or nil, err (the function said nil, err), or nil, msg, how
-- (how: "raised" with its error value, or "misuse").
local function feed(st)
    local ok, chunk, ferr = pcall(st.body_fn)
    if not ok then
        return nil, chunk, "raised"
    end
    local g = st.grp.g
    if chunk == nil or chunk == "" then
        if chunk == nil and ferr ~= nil then
            return nil, make_err(E_ABORTED_BY_CALLBACK, "the body function "
                                 .. "failed: " .. tostring(ferr))
        end
        st.body_fn = nil
        C.ngx_http_xfer_group_feed(g, "", 0, 1)
        return true
    end
    if type(chunk) ~= "string" then
        return nil, "the body function must return a string, or nil at the "
                    .. "end, or nil, err; got " .. type(chunk), "misuse"
    end
    local rc = C.ngx_http_xfer_group_feed(g, chunk, #chunk, 0)
    if rc ~= 0 then
        return nil, make_err(rc, "cannot queue the body piece")
    end
    return true
end

-- Waits until the group can do one of want (EV_DONE and EV_GONE always
-- end the wait), feeding the body meanwhile. Returns the EV_* bits, 0 when
-- the deadline passed, or nil, err[, how] as feed().
local function wait_ev(st, want, deadline)
    local grp = st.grp
    want = bor(want, EV_DONE, EV_GONE)
    local ask = bor(want, st.body_fn and EV_BODY or 0)
    while true do
        local ev = C.ngx_http_xfer_group_poll(grp.g, ask)
        if band(ev, EV_BODY) ~= 0 and st.body_fn then
            local ok, err, how = feed(st)
            if not ok then
                return nil, err, how
            end
            ask = bor(want, st.body_fn and EV_BODY or 0)
        elseif band(ev, want) ~= 0 then
            return ev
        else
            local ok, err = sema_wait_until(grp, deadline)
            if ok == false then
                return 0
            elseif not ok then
                return nil, make_err(E_FAILED_INIT, "semaphore wait failed: "
                                                    .. tostring(err))
            end
        end
    end
end

local function gone_err()
    return make_err(E_ABORTED_BY_CALLBACK, "the nginx request that made "
                    .. "this transfer has ended; the transfer was cancelled")
end

-- The outcome of the group's finished task: nil (success) or err.
local function outcome(grp)
    local t = C.ngx_http_xfer_group_task(grp.g)
    if t == nil then
        return gone_err()
    end
    local r = C.ngx_http_xfer_task_result(t)
    if r.code == 0 then
        return nil
    end
    return result_err(r)
end

-- Ends a stream: the transfer (if it still runs) is cancelled, and the
-- task, its window and the group go back.
local function stream_end(st, err)
    if not st.over then
        st.over = true
        st.err = err
        st.body_fn = nil
        group_free(st.grp)
    end
end

-- reader([max]) -> chunk | nil (the end) | nil, err
local function stream_read(st, max)
    if st.over then
        return nil, st.err
    end
    if max ~= nil and (not is_int(max) or max == 0) then
        error("bad argument #1 to 'body_reader' (a positive integer "
              .. "expected, got " .. tostring(max) .. ")", 3)
    end
    local ev, err, how = wait_ev(st, EV_DATA, nil)
    if not ev then
        stream_end(st, how and make_err(E_ABORTED_BY_CALLBACK,
                                        tostring(err)) or err)
        if how == "raised" then
            error(err, 0)
        elseif how then
            error(err, 3)
        end
        return nil, err
    end
    if band(ev, EV_DATA) ~= 0 then
        local n = C.ngx_http_xfer_group_read(st.grp.g, read_ptr, max or 0)
        return ffi_string(read_ptr[0], n)
    end
    if band(ev, EV_GONE) ~= 0 then
        err = gone_err()
    else
        err = outcome(st.grp)
    end
    stream_end(st, err)
    return nil, err
end

-- res[ST]: the stream's state (the reader closes over it too)
local ST = {}

local stream_mt = {
    __index = {
        -- res:read_body() -> the rest of the body | nil, err
        read_body = function(res)
            local st = res[ST]
            local parts, n = {}, 0
            while true do
                local chunk, err = stream_read(st, nil)
                if not chunk then
                    if err then
                        return nil, err
                    end
                    return concat(parts, "", 1, n)
                end
                n = n + 1
                parts[n] = chunk
            end
        end,
        -- res:close(): stops the transfer if it still runs; frees it all
        close = function(res)
            stream_end(res[ST], nil)
            return true
        end,
    },
}
do
    local index = stream_mt.__index
    -- res.headers, made when first read (res_mt's way)
    stream_mt.__index = function(res, k)
        local m = index[k]
        if m ~= nil then
            return m
        end
        return res_mt.__index(res, k)
    end
end

-- request() for a streamed response or a body function. Returns res, or
-- nil, err, or nil, msg, "misuse" / nil, value, "raised".
function request_fed(req, deadline, wait_ms)
    local grp, gerr = group_new()
    if not grp then
        return nil, make_err(E_FAILED_INIT, gerr)
    end
    C.ngx_http_xfer_group_bind(grp.g, get_request())
    local stream = req.stream and true or false
    local flags = stream and STREAM + WANT_HEADERS
                  or WANT_INFO + WANT_HEADERS
    local t, err, misuse = task_start(grp, 1, req, flags)
    if not t then
        group_free(grp)
        return nil, err, misuse and "misuse" or nil
    end
    local body = req.body
    if body == nil then
        body = req.postfields
    end
    local st = { grp = grp, body_fn = callable(body) and type(body) ~= "string"
                                      and body or nil }

    local ev, how
    ev, err, how = wait_ev(st, stream and EV_HEAD or EV_DONE, deadline)
    if not ev or ev == 0 or band(ev, EV_GONE) ~= 0 then
        group_free(grp)
        if how then
            return nil, err, how
        end
        if not ev then
            return nil, err
        end
        return nil, ev == 0 and gave_up(wait_ms) or gone_err()
    end

    if not stream then
        local _, res
        _, res, err = collect(C.ngx_http_xfer_group_task(grp.g), true, true)
        group_free(grp)
        return res, err
    end

    if band(ev, EV_HEAD) == 0 then
        -- failed before the headers (after them, the reader reports it)
        err = outcome(grp)
        group_free(grp)
        return nil, err
    end
    local r = C.ngx_http_xfer_task_result(C.ngx_http_xfer_group_task(grp.g))
    local res = {
        status = tonumber(r.status),
        http_version = VERSIONS[tonumber(r.http_version)],
        raw_headers = buf_string(r.head, r.head_len),
    }
    res[ST] = st
    res.body_reader = function(max)
        return stream_read(st, max)
    end
    return setmetatable(res, stream_mt)
end

-- request(req) -> res | nil, err
--   req: a URL, or { url =, method =, headers =, body =, <easy option> =,
--   max_body_size =, wait_timeout_ms = }.
--   res: { status =, headers =, body =, info = }.
function _M.request(req)
    local bad = check_req(req)
    if bad then
        error("bad argument #1 to 'request' (" .. bad .. ")", 2)
    end
    check_phase("request")
    local wait_ms = type(req) == "table" and req.wait_timeout_ms or nil
    local deadline = deadline_of(wait_ms, "request")

    if fed_or_streamed(req) then
        local res, err, raised = request_fed(req, deadline, wait_ms)
        if raised == "misuse" then
            error("bad argument #1 to 'request' (" .. err .. ")", 2)
        elseif raised then
            error(err, 0)
        end
        return res, err
    end

    local grp, gerr = group_new()
    if not grp then
        return nil, make_err(E_FAILED_INIT, gerr)
    end

    local t, err, misuse = task_start(grp, 1, req, WANT_INFO + WANT_HEADERS)
    if not t then
        group_free(grp)
        if misuse then
            error("bad argument #1 to 'request' (" .. err .. ")", 2)
        end
        return nil, err
    end

    local res
    local n, werr = wait_take(grp, one_done, 1, deadline, false)
    if n == 1 then
        local _
        _, res, err = collect(one_done[0], true, true)
        one_done[0] = nil
    elseif n == 0 then
        err = gave_up(wait_ms)
    else
        err = make_err(E_FAILED_INIT, "semaphore wait failed: "
                                      .. tostring(werr))
    end
    group_free(grp)
    return res, err
end

local FETCH_OPTS = {
    max_total_connections = true, max_host_connections = true,
    on_done = true, info = true, headers = true, multi = true,
    wait_timeout_ms = true,
}

local function check_fetch_all(list, opts)
    if type(list) ~= "table" then
        error("bad argument #1 to 'fetch_all' (table expected, got "
              .. type(list) .. ")", 3)
    end
    if opts == nil then
        opts = {}
    elseif type(opts) ~= "table" then
        error("bad argument #2 to 'fetch_all' (table expected, got "
              .. type(opts) .. ")", 3)
    end
    for k in pairs(opts) do
        if not FETCH_OPTS[k] then
            error("bad argument #2 to 'fetch_all' (unknown field '"
                  .. tostring(k) .. "')", 3)
        end
    end
    if opts.multi ~= nil or opts.max_host_connections ~= nil then
        error("bad argument #2 to 'fetch_all' (field '"
              .. (opts.multi ~= nil and "multi" or "max_host_connections")
              .. "': nginx workers share one multi handle; set its limits "
              .. "with configure{})", 3)
    end
    local limit = opts.max_total_connections
    if limit ~= nil and not is_int(limit) then
        error("bad argument #2 to 'fetch_all' (field 'max_total_connections' "
              .. "must be a non-negative integer, got " .. tostring(limit)
              .. ")", 3)
    end
    local f = opts.on_done
    if f ~= nil and type(f) ~= "function"
       and not (getmetatable(f) and getmetatable(f).__call)
    then
        error("bad argument #2 to 'fetch_all' (field 'on_done' must be a "
              .. "function, got " .. type(f) .. ")", 3)
    end
    for i = 1, #list do
        local bad = check_req(list[i])
        local only = fed_or_streamed(list[i])
        if only then
            bad = only .. ": use request() (fetch_all buffers its responses "
                  .. "and sends string bodies)"
        end
        if bad then
            error(format("bad argument #1 to 'fetch_all' (request #%d: %s)",
                         i, bad), 3)
        end
    end
    return opts
end

-- on_done(i, res, err) for fetch_all: if it raises, nothing of the batch
-- may outlive the error.
local function call_on_done(grp, on_done, i, res, err)
    local ok, uerr = pcall(on_done, i, res, err)
    if not ok then
        group_free(grp)
        error(uerr, 0)
    end
end

-- fetch_all(list, opts) -> results | nil, err
--   results[i] is the response to list[i], or { err = err }.
--   opts: max_total_connections (how many of these transfers run at once;
--   default 16, 0: all), on_done(i, res, err), info (include the info
--   tables), headers (false: none collected), wait_timeout_ms (for the
--   whole batch: what has not finished then is cancelled).
-- No closure is made per call, so that LuaJIT compiles its loops.
function _M.fetch_all(list, opts)
    opts = check_fetch_all(list, opts)
    local n = #list
    local results = new_tab(n, 0)
    if n == 0 then
        return results
    end
    check_phase("fetch_all")

    local window = opts.max_total_connections or DEFAULT_CONNECTIONS
    if window == 0 or window > n then
        window = n
    end
    local on_done = opts.on_done
    local want_info = opts.info and true or false
    local want_headers = opts.headers ~= false
    local flags = (want_info and WANT_INFO or 0)
                  + (want_headers and WANT_HEADERS or 0)
    local wait_ms = opts.wait_timeout_ms
    local deadline = deadline_of(wait_ms, "fetch_all")

    local grp, gerr = group_new()
    if not grp then
        return nil, make_err(E_FAILED_INIT, gerr)
    end

    local cap = n < 256 and n or 256
    local done = ffi_new(TASKS, cap)
    local started, running, finished = 0, 0, 0

    while true do
        -- start what the window allows
        while running < window and started < n do
            started = started + 1
            local t, err, misuse = task_start(grp, started, list[started],
                                              flags)
            if t then
                running = running + 1
            elseif misuse then
                group_free(grp)
                error(format("bad argument #1 to 'fetch_all' (request #%d: "
                             .. "%s)", started, err), 2)
            else
                finished = finished + 1
                results[started] = { err = err }
                if on_done then
                    call_on_done(grp, on_done, started, nil, err)
                end
            end
        end
        if finished >= n then
            break
        end

        -- with nothing left to start and no on_done, only the last
        -- completion needs to wake this thread
        local k, werr = wait_take(grp, done, cap, deadline,
                                  started == n and not on_done)
        if not k then
            group_free(grp)
            return nil, make_err(E_FAILED_INIT, "semaphore wait failed: "
                                                .. tostring(werr))
        end
        if k == 0 then
            group_free(grp)     -- cancels what still runs
            local gerr2 = gave_up(wait_ms)
            for i = 1, n do
                if results[i] == nil then
                    results[i] = { err = gerr2 }
                end
            end
            return results
        end
        for j = 0, k - 1 do
            running = running - 1
            finished = finished + 1
            local i, res, err = collect(done[j], want_info, want_headers)
            results[i] = res or { err = err }
            if on_done then
                call_on_done(grp, on_done, i, res, err)
            end
        end
    end
    group_free(grp)
    return results
end


-- Per-worker settings and introspection ----------------------------------

-- The worker's multi options configure{} takes, with their largest value.
local CONFIGURE = {
    max_total_connections = math.huge, max_host_connections = math.huge,
    maxconnects = math.huge, max_concurrent_streams = 0x7fffffff,
    pipelining = 3,
}

-- configure{ max_total_connections = n, max_host_connections = n,
--            maxconnects = n, max_concurrent_streams = n,
--            pipelining = xfer.PIPE_MULTIPLEX | xfer.PIPE_NOTHING }
--   -> true | nil, err
-- (a value left out stays as it is)
function _M.configure(o)
    if type(o) ~= "table" then
        error("bad argument #1 to 'configure' (table expected, got "
              .. type(o) .. ")", 2)
    end
    for k, v in pairs(o) do
        local max = CONFIGURE[k]
        if not max then
            error("bad argument #1 to 'configure' (unknown field '"
                  .. tostring(k) .. "')", 2)
        end
        if k == "pipelining" and not (is_int(v) and v <= max) then
            error("bad argument #1 to 'configure' (field 'pipelining' must "
                  .. "be xfer.PIPE_NOTHING or xfer.PIPE_MULTIPLEX, got "
                  .. tostring(v) .. ")", 2)
        end
        if not is_int(v) or v > max then
            error("bad argument #1 to 'configure' (field '" .. k
                  .. "' must be a non-negative integer)", 2)
        end
    end
    local err = get_string_buf(ERR_BUF_SIZE)
    local errlen = get_size_ptr()
    errlen[0] = ERR_BUF_SIZE
    local rc = C.ngx_http_xfer_configure(o.max_total_connections or -1,
                                         o.max_host_connections or -1,
                                         o.maxconnects or -1,
                                         o.max_concurrent_streams or -1,
                                         o.pipelining or -1, err, errlen)
    if rc ~= 0 then
        return nil, ffi_string(err, errlen[0])
    end
    return true
end

-- Closes every idle (keep-alive) connection of this worker; refused while
-- transfers run.
function _M.close_idle()
    local err = get_string_buf(ERR_BUF_SIZE)
    local errlen = get_size_ptr()
    errlen[0] = ERR_BUF_SIZE
    local rc = C.ngx_http_xfer_close_idle(err, errlen)
    if rc ~= 0 then
        return nil, ffi_string(err, errlen[0])
    end
    return true
end

local STATES = { [0] = "off", "ready", "closed", "exited" }

-- This worker's counters and state (docs/openresty.md).
function _M.stats()
    local st = ffi_new("ngx_http_xfer_stats_t")
    local state = C.ngx_http_xfer_stats(st)
    return {
        state = STATES[state] or tostring(state),
        started = tonumber(st.started), completed = tonumber(st.completed),
        cancelled = tonumber(st.cancelled), aborted = tonumber(st.aborted),
        posts = tonumber(st.posts), running = tonumber(st.running),
        sockets = tonumber(st.sockets), groups = tonumber(st.groups),
        graveyard = tonumber(st.graveyard),
        free_connections = tonumber(st.free_connections),
        multi = st.multi ~= 0, timer_set = st.timer_set ~= 0,
        pooled = tonumber(st.pooled), reused = tonumber(st.reused),
        streams = tonumber(st.streams),
        stream_held = tonumber(st.stream_held),
        stream_held_max = tonumber(st.stream_held_max),
        stream_pauses = tonumber(st.stream_pauses),
        body_pieces = tonumber(st.body_pieces),
        action_max_us = tonumber(st.action_max_us),
    }
end

-- The fds of xfer's sockets in this worker (for tests and debugging).
function _M.fds()
    local buf = ffi_new("int[?]", 65536)
    local n = C.ngx_http_xfer_fds(buf, 65536)
    local out = new_tab(n, 0)
    for i = 0, n - 1 do
        out[i + 1] = buf[i]
    end
    return out
end

return _M
