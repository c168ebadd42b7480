-- xfer: HTTP transfers with libcurl's multi interface, for Lua.
--
-- The C module xfer.core does the work (csrc/lxfer*.c); this file is the
-- public face: it re-exports everything from xfer.core (functions and the
-- integer constants: xfer.POLL_IN, xfer.E_COULDNT_CONNECT, ...) and names
-- the constructors. The high-level API (request, fetch_all, coroutine
-- helpers) and the loop drivers (xfer.luv, ...) grow here and beside it,
-- each in its own module.
--
--   local xfer = require "xfer"
--   local m = xfer.multi{ max_total_connections = 8 }
--   m:add_handle(xfer.easy{ url = "http://127.0.0.1/",
--                           writefunction = function(chunk) end })
--   m:run{ on_done = function(easy, ok, err) end }
local core = require "xfer.core"

local pairs = pairs

local _M = {}

for k, v in pairs(core) do
    _M[k] = v
end

-- xfer.multi{ option = value, ... } -> multi handle (options: see
-- core.MOPT_* for the names; socketfunction, timerfunction, ...).
_M.multi = core.multi_init

-- xfer.easy{ url = "...", writefunction = fn, ... } -> easy handle
-- (options: the lowercase names of core.OPT_*).
_M.easy = core.easy_init

_M.core = core

return _M
