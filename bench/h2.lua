--[[
bench/h2.lua -- the HTTP/2 workloads of bench/run.lua (see bench/README.md,
"W10 and W11"): their nginx listener, clients, cases, row notes and
targets.  run.lua requires it and calls it at a few hooks; everything it
needs from run.lua comes in through init().

  W10  N GETs of 1 KiB over h2 (TLS, ALPN) from the bench nginx's h2
       listener: 100 streams on 1 connection, then 400 on 4
       (MAX_HOST_CONNECTIONS, PIPEWAIT); xfer C (both styles), xfer Lua
       multi:run(), libcurl (both styles), and h2load as the floor.
  W11  8 transfers of 100 MiB at once over 1 h2 connection: xfer C
       against libcurl; throughput, CPU, peak RSS, beside W6 (HTTP/1.1, 4
       connections, cleartext) from the same run.  Twice: over TLS (the
       h2 listener above) and over h2c with prior knowledge (a cleartext
       http2 listener on the next port), which compares with W6 like for
       like: over TLS one nginx worker also encrypts every byte.  The h2c
       set has no libcurl rows: 7.88 fails every stream but the first on
       a reused prior-knowledge connection ("Error in the HTTP2 framing
       layer", curl issue #10634, fixed in 8.0.0).

Every h2 row prints the HTTP version its transfers actually ran
(getinfo HTTP_VERSION, counted by the client; h2load's ALPN result), so a
row that asked for h2 and ran HTTP/1.1 shows it.
]]

local H2 = {}
local X -- run.lua's helpers and settings (init)

local HAVE_H2LOAD, HAVE_NGX_H2
local notes = {} -- lines printed under the table
local server_skip -- why the h2 listener is missing, or nil
local made = {} -- the cases H2.cases() returned

function H2.init(ctx)
  X = ctx
  HAVE_H2LOAD = X.capture("command -v h2load") ~= ""
  HAVE_NGX_H2 = X.capture("(" .. X.NGINX .. " -V 2>&1)"):find("--with-http_v2_module", 1, true) ~= nil
  if not HAVE_NGX_H2 then
    server_skip = X.NGINX .. " is built without http_v2_module"
  end
  return H2
end

------------------------------------------------------------------------------
-- nginx: one more server block in the bench nginx (its docroot and
-- certificate), the only one with http2: h2 over TLS on hport, h2c (prior
-- knowledge) on hport + 1.  "" when nginx cannot.
------------------------------------------------------------------------------
function H2.nginx_server(ng, pki, hport)
  if not HAVE_NGX_H2 then return "" end
  return ([[
    server {
        listen 127.0.0.1:%d ssl http2 backlog=4096;
        listen 127.0.0.1:%d http2 backlog=4096;
        server_name localhost;
        root %s/html;
        ssl_certificate %s/srv.pem;
        ssl_certificate_key %s/srv.key;
        # above every client's window (100, and 4 x 100), as in
        # spec/support/tls.sh; keepalive_requests (http level, 10^8) also
        # bounds the streams of an h2 connection in nginx 1.22
        http2_max_concurrent_streams 128;
    }
]]):format(hport, hport + 1, ng, pki, pki, pki)
end

function H2.enabled() return HAVE_NGX_H2 end

------------------------------------------------------------------------------
-- clients: h2load (the floor of W10); xfer and libcurl are run.lua's C
-- and Lua clients, given -v 2tls -w -h H through the case (c_args).
------------------------------------------------------------------------------
local function h2load_parse(out)
  local _, ps = X.parse_kv(out)
  local n = tonumber(out:match("requests: (%d+) total"))
  local succ = tonumber(out:match("(%d+) succeeded"))
  local ok2xx = tonumber(out:match("status codes: (%d+) 2xx"))
  local t, unit = out:match("finished in ([%d.]+)(%a+)")
  local wall = tonumber(t)
  if wall then
    wall = unit == "ms" and wall / 1e3 or unit == "us" and wall / 1e6 or
           unit == "m" and wall * 60 or wall
  end
  if not (n and succ and ok2xx and wall and ps.cpu_s) then return nil, ps end
  return { requests = n, ok = math.min(succ, ok2xx), cpu_s = ps.cpu_s, user_s = ps.user_s,
           wall_s = wall, whole_process = true,
           bytes = tonumber(out:match("%((%d+)%) data")),
           proto = out:match("Application protocol: (%S+)") or "?" }, ps
end

function H2.clients()
  return {
    { id = "h2load", label = "h2load (nghttp2; floor)", family = "h2-floor",
      cmd = function(c)
        if not c.h2load or not HAVE_H2LOAD then return nil end
        -- W11: the windows xfer uses (4 MiB a stream, 64 MiB the
        -- connection): h2load's 64 KiB default makes nginx see a flood
        -- of WINDOW_UPDATEs and close the connection
        return string.format("h2load -n %d -c %d -m %d -t 1 %s%s", c.n, c.h2load.c, c.h2load.m,
                             c.bulk and "-w 22 -W 26 " or "", X.q(c.urls[1]))
      end,
      parse = h2load_parse },
  }
end

-- Why a client of an h2 case left no row (shown in that row's place).
local function why_missing(c, id)
  if c.why and c.why[id] then return c.why[id] end
  if id == "h2load" then return "h2load is not installed (apt-get install nghttp2-client)" end
  if id:match("^lua") then
    return "no xfer Lua module for this interpreter, or no lua-luv (make bench-build)"
  end
  return "the client does not run this case"
end

------------------------------------------------------------------------------
-- cases
------------------------------------------------------------------------------
local W10_CLIENTS = { "xfer-c-epoll", "xfer-c-poll", "lua-run", "curl-uv", "curl-poll", "h2load" }
local W11_CLIENTS = { "xfer-c-epoll", "xfer-c-poll", "curl-uv", "curl-poll", "h2load" }

-- hport: the bench nginx's h2 listener, h2c on hport + 1 (nil when there
-- is none).
function H2.cases(hport)
  local Q = X.Q
  local n10 = Q and 20000 or 100000
  local n11, mb11 = 8, Q and 20 or 100
  local file = Q and "20m.bin" or "100m.bin"
  if Q then X.must("truncate -s 20M " .. X.q(X.NG .. "/html/20m.bin")) end
  local url = "https://127.0.0.1:" .. tostring(hport) .. "/"
  local curl = "http://127.0.0.1:" .. tostring(hport and hport + 1) .. "/"
  local cases = {}
  local skip = (not hport) and (server_skip or "no h2 listener in the bench nginx") or nil
  local function reps(cl)
    return (Q or cl.family == "xfer-lua") and 1 or 2
  end
  for _, s in ipairs { { conns = 1, c = 100 }, { conns = 4, c = 400 } } do
    cases[#cases + 1] = {
      w = "W10", h2 = true, skip = skip,
      variant = string.format("%s × 1 KiB over h2 (TLS), %d streams on %d conn%s",
                              X.fmt_int(n10), s.c, s.conns, s.conns > 1 and "s" or ""),
      mode = "win", n = n10, c = s.c, tls = true, urls = { url .. "1k.bin" },
      httpv = "2tls", pipewait = true, hostmax = s.conns,
      h2load = { c = s.conns, m = 100 },
      clients = skip and {} or W10_CLIENTS, reps = reps }
  end
  local no_pk = "libcurl 7.88 fails every stream but the first on a reused h2c prior-knowledge " ..
                "connection (curl issue #10634, fixed in 8.0.0)"
  -- xfer's h2c rows only when xfer speaks h2c at all: one probe transfer
  -- (before the HTTP/2 core, an HTTP/1.1 request to an h2c-only port)
  local h2c_clients, h2c_why = { "xfer-c-epoll", "xfer-c-poll", "h2load" }, { ["curl-uv"] = no_pk, ["curl-poll"] = no_pk }
  if hport and (not X.opt.only or X.opt.only.W11) then
    local out = X.capture("{ " .. X.BIN .. "xfer_c -p -n 1 -c 1 -v 2pk " .. X.q(curl .. "1k.bin") .. " 2>&1; }")
    if not out:match("ok=1 ") then
      local why = "xfer does not speak h2c with prior knowledge yet (a probe GET of /1k.bin: " ..
                  (out:match("xfer_c: ([^\n]*)") or "failed") .. ")"
      h2c_clients = { "h2load" }
      h2c_why["xfer-c-epoll"], h2c_why["xfer-c-poll"] = why, why
    end
  end
  for _, t in ipairs { { tls = true, what = "h2 conn (TLS)", u = url, v = "2tls", clients = W11_CLIENTS },
                      { tls = false, what = "h2c conn (prior knowledge)", u = curl, v = "2pk",
                        clients = h2c_clients, why = h2c_why } } do
    cases[#cases + 1] = {
      w = "W11", h2 = true, skip = skip,
      variant = string.format("%d × %d MiB at once over 1 %s", n11, mb11, t.what),
      mode = "win", n = n11, c = n11, tls = t.tls, urls = { t.u .. file },
      httpv = t.v, pipewait = true, hostmax = 1, bulk = mb11 * 1048576, why = t.why,
      h2load = { c = 1, m = n11 },
      clients = skip and {} or t.clients, reps = function() return 1 end }
  end
  made = cases
  return cases
end

------------------------------------------------------------------------------
-- notes and targets (after run.lua's compute() and judge())
------------------------------------------------------------------------------
-- The HTTP version a row's transfers ran, and whether all of them ran h2.
local function version_of(r)
  local b = r.rec
  if not b then return nil, false end
  if b.proto then return "ALPN " .. b.proto, b.proto == "h2" end
  if not b.httpv2 or b.httpv2 < 0 then return "HTTP version not reported", false end
  local parts = {}
  if b.httpv2 > 0 then parts[#parts + 1] = "HTTP/2 ×" .. X.fmt_int(b.httpv2) end
  if b.httpv1 > 0 then parts[#parts + 1] = "**HTTP/1.1** ×" .. X.fmt_int(b.httpv1) end
  if (b.httpv_other or 0) > 0 then
    parts[#parts + 1] = "**version unknown** (getinfo 0) ×" .. X.fmt_int(b.httpv_other)
  end
  if #parts == 0 then return "no transfer done", false end
  local all2 = b.httpv2 > 0 and b.httpv2 == b.ok
  return "ran " .. table.concat(parts, ", "), all2
end

-- One placeholder row per client that left none (and one per skipped
-- case), after the case's other rows.
local function fill_skipped(results)
  for _, c in ipairs(made) do
    if not X.opt.only or X.opt.only[c.w] then
      local have, last = {}, nil
      for i, r in ipairs(results) do
        if r.case == c then have[r.client.id], last = true, i end
      end
      local add = {}
      if c.skip then
        add[1] = { case = c, client = { id = "-", label = "(all clients)", family = "skip" },
                   note = "skipped: " .. c.skip }
      else
        for _, id in ipairs(c.w == "W10" and W10_CLIENTS or W11_CLIENTS) do
          if not have[id] then
            local cl = X.client_by_id[id] or { id = id, label = id, family = "skip" }
            add[#add + 1] = { case = c, client = cl, note = "skipped: " .. why_missing(c, id) }
          end
        end
      end
      last = last or #results
      for j, row in ipairs(add) do table.insert(results, last + j, row) end
    end
  end
end

local function target(T, r, name, ok, detail)
  T[#T + 1] = { name = name, ok = ok, detail = detail }
  local short = name:gsub("^W%d+ ", ""):gsub(" %(.*$", "")
  r.target = (r.target and (r.target .. "<br>") or "") .. (ok and "✅ " or "❌ ") .. short
end

function H2.judge(results, T)
  fill_skipped(results)
  local by = {}
  for _, r in ipairs(results) do
    local k = r.case.w .. "|" .. r.case.variant
    by[k] = by[k] or {}
    by[k][r.client.id] = r
  end
  -- W6's GB/s per client (HTTP/1.1, 4 connections), for W11
  local w6 = {}
  for _, r in ipairs(results) do
    if r.case.w == "W6" and r.gbps and not r.failed then w6[r.client.id] = r.gbps end
  end
  for _, r in ipairs(results) do
    local c = r.case
    if c.h2 and r.rec then
      local vtext, all2 = version_of(r)
      local parts = { vtext }
      local k = c.w .. "|" .. c.variant
      if c.w == "W10" then
        local floor = by[k] and by[k]["h2load"]
        local vs = floor and floor.rps and not floor.failed and r.rps and r.rps / floor.rps
        if vs and r.client.id ~= "h2load" then
          parts[#parts + 1] = string.format("req/s %s× h2load's", X.fmt_num(vs))
        end
        if r.client.id == "h2load" and r.ratio then
          -- a reference, not a row the ratio column judges
          parts[#parts + 1] = string.format("CPU %s× libcurl's best", X.fmt_num(r.ratio))
          r.ratio = nil
        end
        if r.client.family == "xfer" and not r.failed then
          target(T, r, "W10 ran HTTP/2 (" .. r.client.id .. ", " .. c.c .. " streams)", all2, vtext)
          if r.ratio then
            target(T, r, "W10 CPU ≤ 0.5× libcurl (" .. r.client.id .. ", " .. c.c .. " streams)",
                   r.ratio <= 0.5, X.fmt_num(r.ratio) .. "×")
          end
          if vs then
            target(T, r, "W10 req/s ≥ 0.8× h2load (" .. r.client.id .. ", " .. c.c .. " streams)",
                   vs >= 0.8, string.format("%s× (%s vs %s req/s)", X.fmt_num(vs), X.fmt_int(r.rps),
                                            X.fmt_int(floor.rps)))
          end
        end
      elseif c.w == "W11" and (r.rec.bytes or 0) > 0 and (r.rec.wall_s or 0) > 0 then
        r.gbps = r.rec.bytes / 1e9 / r.rec.wall_s
        parts[#parts + 1] = string.format("%s MB/s, CPU %s s/GB", X.fmt_int(r.gbps * 1e3),
                                          X.fmt_num(r.rec.cpu_s / (r.rec.bytes / 1e9), 3))
        local h1 = w6[r.client.id]
        local floor = by[k] and by[k]["h2load"]
        local fl = floor and floor ~= r and not floor.failed and floor.rec and floor.rec.bytes and
                   floor.rec.wall_s and floor.rec.bytes / 1e9 / floor.rec.wall_s
        if fl then
          parts[#parts + 1] = string.format("h2load on the same listener %s MB/s: %s×", X.fmt_int(fl * 1e3),
                                            X.fmt_num(r.gbps / fl))
        end
        if h1 then
          parts[#parts + 1] = string.format("W6 (HTTP/1.1, 4 conns) %s MB/s: %s×", X.fmt_int(h1 * 1e3),
                                            X.fmt_num(r.gbps / h1))
        end
        if r.client.family == "xfer" and not r.failed then
          target(T, r, "W11 ran HTTP/2 (" .. r.client.id .. ", " .. (c.tls and "TLS" or "h2c") .. ")",
                 all2, vtext)
          if fl then
            target(T, r, "W11 throughput ≥ 0.9× h2load, the server's h2 floor (" .. r.client.id .. ", " ..
                   (c.tls and "TLS" or "h2c") .. ")", r.gbps >= 0.9 * fl,
                   string.format("%s× (%s vs %s MB/s)", X.fmt_num(r.gbps / fl), X.fmt_int(r.gbps * 1e3),
                                 X.fmt_int(fl * 1e3)))
          end
          if h1 then
            target(T, r, "W11 throughput ≥ 0.9× W6 (" .. r.client.id .. ", " ..
                   (c.tls and "TLS" or "h2c") .. ")", r.gbps >= 0.9 * h1,
                   string.format("%s× (%s vs %s MB/s)", X.fmt_num(r.gbps / h1), X.fmt_int(r.gbps * 1e3),
                                 X.fmt_int(h1 * 1e3)))
          end
        end
      end
      r.note = table.concat(parts, "; ") .. (r.note and ("; " .. r.note) or "")
    end
  end
  local ran10, ran11, w6ran = false, false, next(w6) ~= nil
  for _, r in ipairs(results) do
    if r.case.w == "W10" then ran10 = true end
    if r.case.w == "W11" then ran11 = true end
  end
  if ran11 and not w6ran then
    notes[#notes + 1] = "W11: W6 was not in this run (`--only W6,W11`), so the throughput target against it is not judged."
  end
  if ran10 then
    notes[#notes + 1] = "W10/W11 (HTTP/2): " .. (HAVE_H2LOAD and (X.capture("h2load --version") .. "; ") or "") ..
      "xfer and libcurl with HTTP_VERSION 2TLS, PIPEWAIT and MAX_HOST_CONNECTIONS = the connection count; " ..
      "h2load's CPU is its whole process (pstat), the others' their measured phase."
  end
end

function H2.notes_md()
  if #notes == 0 then return nil end
  return table.concat(notes, "\n\n") .. "\n"
end

return H2
