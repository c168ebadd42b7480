-- xfer.cli.output: saving bodies under `-o DIR`.
--
-- Each transfer writes to a hidden temporary file next to its final name,
-- ".xfer-PID-ID-ATTEMPT.part" (URL-derived names never start with ".", so
-- the two can't meet), opened at the first body byte, so that at most one
-- file per running transfer is open.  On success the file is closed and
-- renamed over the final name (atomic: a reader sees the old file or the
-- whole new one); on failure, retry or interrupt it is closed and
-- removed.  Directories below DIR are created as needed; one that exists
-- as a symbolic link or a non-directory is refused, so nothing is written
-- outside DIR.  Names come from xfer.cli.names.
local names = require "xfer.cli.names"

local open, remove, rename = io.open, os.remove, os.rename
local pairs = pairs

local _M = { version = "0.1.0" }

local O = {}
O.__index = O

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

-- new(dir, uv, pid) -> output | nil, message (the directory can't be made
-- or written: the caller exits 3).
function _M.new(dir, uv, pid)
    if dir ~= "/" then dir = dir:gsub("/+$", "") end
    if dir == "" then dir = "." end
    local ok, err = mkdir_p(uv, dir)
    if not ok then return nil, err end
    local st = uv.fs_stat(dir)
    if not st or st.type ~= "directory" then
        return nil, "not a directory"
    end
    local probe = dir .. "/.xfer-probe-" .. pid
    local f, ferr = open(probe, "wb")
    if not f then
        return nil, "not writable (" .. tostring(ferr):gsub("^[^:]*: ", "") .. ")"
    end
    f:close()
    remove(probe)
    return setmetatable({
        dir = dir, uv = uv, pid = pid, namer = names.namer(),
        dirs_ok = {}, open = {},
    }, O)
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

-- Creates the directories of rec below DIR; returns the parent path.
function O:parents(rec)
    local uv, p = self.uv, self.dir
    for i = 1, #rec.comps - 1 do
        p = p .. "/" .. rec.comps[i]
        if not self.dirs_ok[p] then
            local ok, err, code = uv.fs_mkdir(p, 493)
            if not ok then
                if code ~= "EEXIST" then return nil, err end
                local st = uv.fs_lstat(p)
                if not st or st.type ~= "directory" then
                    return nil, "'" .. p .. "' exists and is not a directory"
                end
            end
            self.dirs_ok[p] = true
        end
    end
    return p
end

function O:start(rec)
    local parent, err = self:parents(rec)
    if not parent then return nil, err end
    rec.tmp = ("%s/.xfer-%s-%d-%d.part"):format(parent, self.pid, rec.id, rec.attempt)
    local f, ferr = open(rec.tmp, "wb")
    if not f then
        rec.tmp = nil
        return nil, ferr
    end
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
    if not ok then return nil, (rec.tmp or "") .. ": " .. tostring(err) end
    return true
end

-- commit(rec) -> true | nil, message.  An empty body still makes a file.
function O:commit(rec)
    if not rec.file then
        local ok, err = self:start(rec)
        if not ok then return nil, err end
    end
    local ok, err = rec.file:close()
    rec.file = nil
    self.open[rec] = nil
    if ok then ok, err = rename(rec.tmp, rec.final) end
    if not ok then
        remove(rec.tmp)
        rec.tmp = nil
        return nil, "cannot save " .. rec.final .. ": " .. tostring(err)
    end
    rec.tmp = nil
    return true
end

-- discard(rec): the partial file goes away.
function O:discard(rec)
    if rec.file then
        rec.file:close()
        rec.file = nil
    end
    self.open[rec] = nil
    if rec.tmp then
        remove(rec.tmp)
        rec.tmp = nil
    end
end

function O:discard_all()
    for rec in pairs(self.open) do self:discard(rec) end
end

return _M
