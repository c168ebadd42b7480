-- xfer.cli.term: is stdout a terminal, how big is it, and the few escape
-- sequences the progress display uses.
--
-- Plain Lua has no isatty() or ioctl(); luv's guess_handle(1) answers the
-- first without a process, and the size comes from `stty size` (rows and
-- columns of the controlling terminal, /dev/tty) or else `tput`, read
-- through io.popen.  Callers ask again after SIGWINCH.
local tonumber, popen, getenv = tonumber, io.popen, os.getenv

local _M = { version = "0.1.0" }

_M.UP = function(n) return "\27[" .. n .. "A" end -- cursor up n lines
_M.CLEAR_LINE = "\27[2K"                           -- erase the whole line
_M.CLEAR_BELOW = "\27[J"                           -- erase to end of screen

local function run(cmd)
    local f = popen(cmd .. " 2>/dev/null")
    if not f then return nil end
    local out = f:read("*a")
    f:close()
    return out
end

-- Whether fd 1 is a terminal.
function _M.stdout_is_tty(uv)
    if uv and uv.guess_handle then
        return uv.guess_handle(1) == "tty"
    end
    local ok = os.execute("test -t 1")
    return ok == true or ok == 0
end

-- Whether the terminal understands the escape sequences (not TERM=dumb).
function _M.capable()
    return getenv("TERM") ~= "dumb"
end

-- size() -> columns, rows (80, 24 when unknown; a pseudo-terminal that
-- nobody sized reports 0 0).
function _M.size()
    local rows, cols
    local out = run("stty size </dev/tty")
    if out then
        rows, cols = out:match("^%s*(%d+)%s+(%d+)")
        rows, cols = tonumber(rows), tonumber(cols)
    end
    if not cols or cols < 1 then
        cols = tonumber(getenv("COLUMNS") or "")
        if not cols or cols < 1 then
            cols = tonumber((run("tput cols") or ""):match("%d+") or "")
        end
    end
    if not rows or rows < 1 then
        rows = tonumber(getenv("LINES") or "")
    end
    if not cols or cols < 1 then cols = 80 end
    if not rows or rows < 1 then rows = 24 end
    return cols, rows
end

return _M
