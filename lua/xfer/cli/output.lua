-- xfer.cli.output: saving bodies under `-o DIR`.
--
-- DIR may be shared with people who should not be able to make xfer write
-- anywhere else, so every file goes through xfer.core's fs_create
-- (csrc/lua/lxfer_fs.c): the directories below DIR are made and opened one at
-- a time without following symbolic links (one that exists as a link or a
-- non-directory is refused, so nothing is written outside DIR), and the
-- body goes to a temporary file with a random name in the final directory,
-- created with O_EXCL|O_NOFOLLOW and mode 0600, opened at the first body
-- byte (so at most one file per running transfer is open).  On success it
-- gets the mode a plain creation would have and is renamed over the final
-- name (atomic: a reader sees the old file or the whole new one; a link
-- there is replaced, not followed); on failure, retry or interrupt it is
-- closed and removed.  Names come from xfer.cli.names.
local names = require "xfer.cli.names"

local pairs = pairs

local _M = { version = "0.1.0" }

local O = {}
O.__index = O

-- Loaded by new(), not here: --help and --version work without the module.
local core

local function mkdir_p(uv, path)
    local ok, err, code = uv.fs_mkdir(path, 493) -- 0755
    if ok or code == "EEXIST" then return true end
    if code == "ENOENT" then
        local parent = path:match("^(.*[^/])/+[^/]+/*$")
        if parent then
            local pok, perr = mkdir_p(uv, parent)
            if not pok then return nil, perr end
            ok, err = uv.fs_mkdir(path, 493)
            if ok then return true end
        end
    end
    return nil, err
end

-- new(dir, uv) -> output | nil, message (the directory can't be made or
-- written: the caller exits 3).
function _M.new(dir, uv)
    if dir ~= "/" then dir = dir:gsub("/+$", "") end
    if dir == "" then dir = "." end
    local ok, err = mkdir_p(uv, dir)
    if not ok then return nil, err end
    local st = uv.fs_stat(dir)
    if not st or st.type ~= "directory" then
        return nil, "not a directory"
    end
    core = core or require "xfer.core"
    -- The probe is a body's temporary file, discarded: "probe" is never made.
    local f, ferr, why = core.fs_create(dir, {}, "probe")
    if not f then return nil, "not writable (" .. (why or ferr) .. ")" end
    f:discard()
    return setmetatable({ dir = dir, namer = names.namer(), open = {} }, O)
end

-- plan(rec) sets rec.rel, rec.comps and rec.final, or returns nil, why
-- (the name is refused: the transfer fails without being started).
function O:plan(rec)
    local rel, comps = self.namer:assign(rec.url)
    if not rel then return nil, comps end
    rec.rel, rec.comps = rel, comps
    rec.final = self.dir .. "/" .. rel
    return true
end

-- The directories are walked again for every file: a handful of openat()
-- calls, and no answer cached from earlier can be out of date.
function O:start(rec)
    local comps, parents = rec.comps, {}
    for i = 1, #comps - 1 do parents[i] = comps[i] end
    local f, err = core.fs_create(self.dir, parents, comps[#comps])
    if not f then return nil, err end
    rec.file = f
    self.open[rec] = true
    return true
end

-- write(rec, chunk) -> true | nil, message
function O:write(rec, chunk)
    if not rec.file then
        local ok, err = self:start(rec)
        if not ok then return nil, err end
    end
    local ok, err = rec.file:write(chunk)
    if not ok then return nil, "cannot write " .. rec.final .. ": " .. err end
    return true
end

-- commit(rec) -> true | nil, message.  An empty body still makes a file.
function O:commit(rec)
    if not rec.file then
        local ok, err = self:start(rec)
        if not ok then return nil, err end
    end
    local f = rec.file
    rec.file = nil
    self.open[rec] = nil
    local ok, err = f:commit()
    if not ok then return nil, "cannot save " .. rec.final .. ": " .. err end
    return true
end

-- discard(rec): the partial file goes away.
function O:discard(rec)
    if rec.file then
        rec.file:discard()
        rec.file = nil
    end
    self.open[rec] = nil
end

function O:discard_all()
    for rec in pairs(self.open) do self:discard(rec) end
end

return _M
