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
--
-- The thread waits on a semaphore that the module posts from C when its
-- transfers finish. Sockets and the timer live in nginx's event loop: no
-- thread, no polling, no Lua in C handlers. See docs/openresty.md.
-- Requires lua-resty-core (ngx.semaphore) and lua/xfer/headers.lua.
local ffi = require "ffi"
local base = require "resty.core.base"
local semaphore = require "ngx.semaphore"   -- declares ngx_http_lua_sema_t
local headers = require "xfer.headers"

local C = ffi.C
local ffi_string = ffi.string
local ffi_new = ffi.new
local ffi_gc = ffi.gc
local get_string_buf = base.get_string_buf
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
} ngx_http_xfer_result_t;

typedef struct {
    int64_t started, completed, cancelled, aborted, posts, running, sockets,
            groups, graveyard, free_connections, multi, timer_set, pooled,
            reused;
} ngx_http_xfer_stats_t;

int ngx_http_xfer_configure(long max_total, long max_host, long maxconnects,
    unsigned char *err, size_t *errlen);
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
]]

if not pcall(function() return C.ngx_http_xfer_group_new end) then
    error("xfer.ngx: ngx_http_xfer_module is not loaded "
          .. "(load_module .../ngx_http_xfer_module.so; see docs/openresty.md)",
          2)
end

local _M = { version = "0.1.0" }

-- xfer's codes (libcurl's values) used here.
local E_FAILED_INIT = 2
local E_OUT_OF_MEMORY = 27
local E_OPERATION_TIMEDOUT = 28

local DEFAULT_TIMEOUT_MS = 60000
local DEFAULT_MAX_BODY = 64 * 1024 * 1024
local DEFAULT_CONNECTIONS = 16  -- fetch_all's window, as require "xfer"
local WAIT_CHUNK = 60           -- seconds per semaphore wait without deadline
local ERR_BUF_SIZE = 256

-- ngx_http_xfer_task_start() flags: what collect() will read.
local WANT_INFO, WANT_HEADERS = 1, 2

-- Keys handled by hand (request fields, and this module's own).
local SPECIAL = {
    url = true, method = true, headers = true, body = true,
    timeout_ms = true, resolve = true, httpheader = true, postfields = true,
    nobody = true, customrequest = true,
    max_body_size = true, wait_timeout_ms = true,
}


-- Options of require "xfer" that have no meaning here, with the reason.
local NOT_HERE = {
    writefunction = "responses are buffered",
    headerfunction = "responses are buffered",
    readfunction = "send the body as a string",
    xferinfofunction = "no Lua runs inside the module",
    upload = "send the body as a string", post = "use method and body",
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
        elseif typ[0] == LONG or typ[0] == VALUES then
            OPTIONS[#OPTIONS + 1] = { n, id[0], "int" }
        elseif typ[0] == STRING then
            OPTIONS[#OPTIONS + 1] = { n, id[0], "str" }
        end
        i = i + 1
    end
end

local OPT_URL, OPT_CUSTOMREQUEST, OPT_NOBODY =
    OPTION_ID.url, OPTION_ID.customrequest, OPTION_ID.nobody
local OPT_HTTPHEADER, OPT_RESOLVE = OPTION_ID.httpheader, OPTION_ID.resolve
local OPT_TIMEOUT_MS = OPTION_ID.timeout_ms

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
        local secs = WAIT_CHUNK
        if deadline then
            update_time()
            local left = deadline - ngx_now()
            if left <= 0 then
                return 0
            end
            if left < secs then
                secs = left < 0.001 and 0.001 or left
            end
        end
        local ok, err = sema_wait(grp.sem, secs)
        if not ok and err ~= "timeout" then
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

-- method and body, as require "xfer" maps them onto easy options.
local function set_method(t, req)
    local nobody, method, body = headers.method_and_body(req)
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

    local v = req.resolve
    if v ~= nil then
        if type(v) == "string" then
            v = { v }
        elseif type(v) ~= "table" then
            return nil, "field 'resolve' must be a string or a list"
        end
        for i = 1, #v do
            if type(v[i]) ~= "string" then
                return nil, "resolve[" .. i .. "] must be a string"
            end
            rc, msg = append(t, OPT_RESOLVE, v[i], "resolve")
            if rc ~= 0 then
                return rc, msg
            end
        end
    end

    if generic then
        for _, o in ipairs(OPTIONS) do
            v = req[o[1]]
            if v ~= nil then
                if o[3] == "str" then
                    rc, msg = set_str(t, o[2], v, o[1])
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

local function info_of(r)
    return {
        response_code = tonumber(r.status),
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
    }
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
            body = buf_string(r.body, r.body_len),
            raw_headers = want_headers and buf_string(r.head, r.head_len)
                          or nil,
            info = want_info and info_of(r) or nil,
        }, res_mt)
    else
        err = make_err(r.code, ffi_string(r.error))
        local status = tonumber(r.status)
        if status ~= 0 then
            err.status = status
        end
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

local TASKS = "ngx_http_xfer_task_t *[?]"
local one_done = ffi_new(TASKS, 1)

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

-- configure{ max_total_connections = n, max_host_connections = n,
--            maxconnects = n } -> true | nil, err
-- (a value left out stays as it is)
function _M.configure(o)
    if type(o) ~= "table" then
        error("bad argument #1 to 'configure' (table expected, got "
              .. type(o) .. ")", 2)
    end
    for k, v in pairs(o) do
        if k ~= "max_total_connections" and k ~= "max_host_connections"
           and k ~= "maxconnects"
        then
            error("bad argument #1 to 'configure' (unknown field '"
                  .. tostring(k) .. "')", 2)
        end
        if not is_int(v) then
            error("bad argument #1 to 'configure' (field '" .. k
                  .. "' must be a non-negative integer)", 2)
        end
    end
    local err = get_string_buf(ERR_BUF_SIZE)
    local errlen = get_size_ptr()
    errlen[0] = ERR_BUF_SIZE
    local rc = C.ngx_http_xfer_configure(o.max_total_connections or -1,
                                         o.max_host_connections or -1,
                                         o.maxconnects or -1, err, errlen)
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
