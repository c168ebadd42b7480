#!/usr/bin/env bash
# Self-check of the HTTP/2 fault server (spec/support/h2fault.c): starts
# $BUILD/h2fault with a throw-away certificate, pokes every route with
# curl, nghttp and h2load, and prints "N passed, N failed".  Exit status 0
# iff all passed.  Run it bounded: timeout 120 spec/sh/h2fault_selfcheck.sh
#
#   BUILD=build spec/sh/h2fault_selfcheck.sh
#   H2FAULT_WRAP="valgrind -q --leak-check=full --error-exitcode=99" \
#     spec/sh/h2fault_selfcheck.sh      (the server under a wrapper: any
#                                        output of it on stderr fails)
#
# Debian's curl 7.88.1 cannot reuse an h2c (prior knowledge) connection
# (error 16 on the second transfer, nghttpd too), so every check that needs
# several streams on one connection uses nghttp instead.
set -u
BUILD=${BUILD:-build}
BIN=${H2FAULT:-$BUILD/h2fault}
WRAP=${H2FAULT_WRAP:-}
T=${H2FAULT_CLIENT_TIMEOUT:-10} # seconds, for each client command
W=$(mktemp -d "${TMPDIR:-/tmp}/h2fault-check.XXXXXX")
PASS=0
FAIL=0
SPID=
trap '[ -n "$SPID" ] && kill "$SPID" 2>/dev/null; rm -rf "$W"' EXIT

ok() { PASS=$((PASS + 1)); echo "ok   - $1"; }
nok() { FAIL=$((FAIL + 1)); echo "FAIL - $1${2:+ ($2)}"; }
check() { # check NAME COMMAND...
  local name=$1; shift
  if "$@"; then ok "$name"; else nok "$name"; fi
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

C() { timeout "$T" curl -sS --http2-prior-knowledge "$@"; }
NG() { timeout "$T" nghttp -v "$@"; }
# a failure that is the client's own: not a hang (124), not a crash (>128)
failed_cleanly() { [ "$1" -ne 0 ] && [ "$1" -ne 124 ] && [ "$1" -lt 128 ]; }

# wait_exit PID: its exit status, or 124 if it runs on for 15 s
wait_exit() {
  local i
  for i in $(seq 150); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$1" 2>/dev/null; then kill -9 "$1"; wait "$1"; return 124; fi
  wait "$1"
}

# start NAME FD: a server whose stdin is the fifo $W/NAME.in, held open by
# this shell on FD; sets SPID and the P_<route> port variables.
start() {
  local i
  mkfifo "$W/$1.in"
  eval "exec $2<>\"\$W/$1.in\""
  $WRAP "$BIN" -c "$W/cert.pem" -k "$W/key.pem" <"$W/$1.in" \
    >"$W/$1.ports" 2>"$W/$1.err" 7>&- 8>&- &
  SPID=$!
  for i in $(seq 100); do
    [ -s "$W/$1.ports" ] && break
    sleep 0.1
  done
  PORTS=$(cat "$W/$1.ports")
  eval "$(tr ' ' '\n' <"$W/$1.ports" | grep -E '^[a-z0-9_]+=[0-9]+$' | sed 's/^/P_/')"
}

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$W/key.pem" -out "$W/cert.pem" -days 1 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" >/dev/null 2>&1 ||
  { echo "cannot make a certificate"; echo "0 passed, 1 failed"; exit 1; }
yes abcdefghijklmnopqrstuvwxyz | tr -d '\n' | head -c 1048576 >"$W/pat"
head -c 1000000 "$W/pat" >"$W/pat1m"
head -c 300000 /dev/urandom >"$W/upload"

start main 7
echo "h2fault: $PORTS"
check line_format eval '[[ "$PORTS" =~ ^h2c=[0-9]+\ h2c_ms1=[0-9]+\ tls=[0-9]+\ tls_ms1=[0-9]+$ ]]'
[ -n "${P_h2c:-}" ] && [ -n "${P_tls:-}" ] || { echo "0 passed, 1 failed"; exit 1; }
H=http://127.0.0.1:$P_h2c
S=https://127.0.0.1:$P_tls

# -- ordinary routes ---------------------------------------------------------
C -i "$H/ok" >"$W/r" 2>&1
check ok_body_and_headers eval 'tail -n1 "$W/r" | grep -qx ok &&
  grep -q "^server: h2fault" "$W/r" && grep -q "^content-type: text/plain" "$W/r" &&
  grep -q "^content-length: 3" "$W/r" && head -n1 "$W/r" | grep -q "^HTTP/2 200"'

C -o "$W/r" "$H/bytes?n=1000000"
check bytes_1000000_pattern cmp -s "$W/r" "$W/pat1m"
C -o "$W/r" "$H/window-small"
check window_small_1mib cmp -s "$W/r" "$W/pat"
C -o "$W/r" "$H/bytes?n=0" -w '%{http_code} %{size_download}' >"$W/w"
check bytes_0 grep -qx '200 0' "$W/w"

C --data-binary @"$W/upload" -H 'x-test: 1' "$H/echo?q=1" >"$W/r"
sum=$(sha256sum <"$W/upload" | cut -d' ' -f1)
check echo_post eval 'head -n1 "$W/r" | grep -qx "POST /echo?q=1" &&
  grep -qx "x-test: 1" "$W/r" && grep -qx "body-length: 300000" "$W/r" &&
  grep -qx "body-sha256: $sum" "$W/r" &&
  [ "$(grep -c "^:" "$W/r")" = 1 ] && grep -q "^:authority: 127.0.0.1:" "$W/r"'
C "$H/echo" >"$W/r"
check echo_get eval 'head -n1 "$W/r" | grep -qx "GET /echo" &&
  grep -qx "body-length: 0" "$W/r" &&
  grep -qx "body-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" "$W/r"'

NG "$H/trailers" >"$W/r" 2>&1
check trailers eval 'grep -q "recv (stream_id=[0-9]*) x-trailer-one: 1" "$W/r" &&
  grep -q "recv (stream_id=[0-9]*) x-trailer-two: 2" "$W/r" && grep -q "^body" "$W/r"'

C -i "$H/1xx" >"$W/r"
check early_hints_103 eval 'grep -q "^HTTP/2 103" "$W/r" &&
  grep -q "^link: </style.css>; rel=preload" "$W/r" && grep -q "^HTTP/2 200" "$W/r" &&
  tail -n1 "$W/r" | grep -qx final'

C -o "$W/r" -w '%{http_code}' "$H/status?code=418" >"$W/w"
check status_418 eval 'grep -qx 418 "$W/w" && grep -qx "status 418" "$W/r"'
C -o "$W/r" -w '%{http_code} %{size_download}' "$H/status?code=204" >"$W/w"
check status_204_no_body grep -qx '204 0' "$W/w"
C -o "$W/r" -w '%{http_code}' "$H/nothing-here" >"$W/w"
check not_found_404 eval 'grep -qx 404 "$W/w" && grep -qx "not found" "$W/r"'
C -i "$H/redirect?to=http%3A%2F%2Fexample.test%2Fx%3Fa%3D1" >"$W/r"
check redirect_302 eval 'grep -q "^HTTP/2 302" "$W/r" &&
  grep -q "^location: http://example.test/x?a=1" "$W/r"'

t0=$(now_ms)
C -o "$W/r" "$H/slow?n=4096&ms=100"
dt=$(( $(now_ms) - t0 ))
check slow_4k_100ms eval 'cmp -s "$W/r" <(head -c 4096 "$W/pat") && [ "$dt" -ge 280 ]'
NG "$H/slow?n=3000&ms=20" >"$W/r" 2>&1
check slow_1k_frames eval '[ "$(grep -c "recv DATA frame <length=1024," "$W/r")" -eq 2 ] &&
  grep -q "recv DATA frame <length=952, flags=0x01" "$W/r"'

# -- resets and GOAWAY --------------------------------------------------------
C "$H/rst"; rc=$?
check rst_default_92 [ $rc -eq 92 ]
C "$H/rst?code=11" 2>"$W/e"; rc=$?
check rst_11_92 eval '[ $rc -eq 92 ] && grep -q ENHANCE_YOUR_CALM "$W/e"'
# curl retries a REFUSED_STREAM (5 times) and then gives up with 56
NG "$H/rst?code=7" >"$W/r" 2>&1
check rst_7_refused grep -q 'error_code=REFUSED_STREAM' "$W/r"
NG "$H/rst?code=13" >"$W/r" 2>&1
check rst_13_http11_required grep -q 'error_code=HTTP_1_1_REQUIRED' "$W/r"

NG "$H/rst-after-headers" >"$W/r" 2>&1
check rst_after_headers eval 'grep -q "recv HEADERS frame" "$W/r" &&
  grep -q "recv DATA frame <length=1024, flags=0x00" "$W/r" &&
  grep -q "error_code=INTERNAL_ERROR" "$W/r"'
C -o /dev/null "$H/rst-after-headers" 2>/dev/null; rc=$?
check rst_after_headers_curl_92 [ $rc -eq 92 ]

NG "$H/goaway?after=2&i=1" "$H/goaway?after=2&i=2" "$H/goaway?after=2&i=3" \
  "$H/goaway?after=2&i=4" >"$W/r" 2>&1
served=$(grep -o '^served [0-9]*' "$W/r" | awk '{print $2}' | sort -n | tr '\n' ' ')
last=$(grep -o 'last_stream_id=[0-9]*, error_code=NO_ERROR' "$W/r" | grep -o '[0-9]*' | head -n1)
check goaway_after_2_of_4 eval '[ "$(echo $served | wc -w)" -eq 2 ] &&
  [ "$(echo $served | cut -d" " -f2)" = "$last" ]'
t0=$(now_ms)
NG "$H/goaway?after=2" >"$W/r" 2>&1
dt=$(( $(now_ms) - t0 ))
check goaway_after_2_of_1_waits_2s eval 'grep -q "^served " "$W/r" &&
  grep -q "error_code=NO_ERROR" "$W/r" && [ "$dt" -ge 1900 ]'
NG "$H/goaway-now" >"$W/r" 2>&1
check goaway_now eval 'grep -q "last_stream_id=0, error_code=PROTOCOL_ERROR" "$W/r"'
C "$H/goaway-now" 2>/dev/null; rc=$?
check goaway_now_curl_fails failed_cleanly $rc

# -- PING: the ACK arrives while another stream (/slow) keeps nghttp there --
NG "$H/ping-idle?ms=50" "$H/slow?n=3072&ms=100" >"$W/r" 2>&1
C "$H/ping-status" >"$W/w"
check ping_idle_acked eval 'grep -q "recv PING frame <length=8, flags=0x00" "$W/r" &&
  grep -q "opaque_data=7866657270696e67" "$W/r" &&
  grep -qx "pings=1 acks=1" <(cat "$W/w"; echo)'

# -- flow control -----------------------------------------------------------
C -o /dev/null --data-binary @"$W/upload" --max-time 2 -w '%{size_upload}' \
  "$H/upload-starve" >"$W/w" 2>/dev/null; rc=$?
check upload_starve_window eval '[ $rc -eq 28 ] && grep -qx 65535 "$W/w"'

# -- raw frames -------------------------------------------------------------
C -i "$H/headers-huge?kb=40" >"$W/r"
check headers_huge_40k_ok eval '[ "$(grep -c "^x-big-[0-9]*: v\{1000\}" "$W/r")" -eq 41 ] &&
  tail -n1 "$W/r" | grep -qx x'
NG "$H/headers-huge?kb=40" "$H/ok" >"$W/r" 2>&1; rc=$?
# (nghttp shows the block reassembled: one HEADERS line of the whole length)
check headers_huge_then_ok_same_conn eval '[ $rc -eq 0 ] &&
  grep -q "recv HEADERS frame <length=41[0-9]\{3\}, flags=0x04" "$W/r" &&
  grep -q "recv DATA frame <length=1, flags=0x01" "$W/r" && grep -qx ok "$W/r"'
C -o /dev/null "$H/headers-huge" 2>/dev/null; rc=$?
check headers_huge_200k_curl_fails failed_cleanly $rc
t0=$(now_ms)
C -o /dev/null "$H/continuation-flood" 2>/dev/null; rc=$?
check continuation_flood_curl_fails failed_cleanly $rc
NG "$H/continuation-flood?n=5" >"$W/r" 2>&1; rc=$?
check continuation_flood_5_then_close eval '[ $rc -ne 124 ] &&
  grep -q "recv (stream_id=[0-9]*) :status: 200" "$W/r" && grep -q "processed=0" "$W/r"'
C -o /dev/null "$H/hpack-bomb" 2>/dev/null; rc=$?
check hpack_bomb_curl_fails failed_cleanly $rc
C -o /dev/null "$H/garbage" 2>/dev/null; rc=$?
check garbage_curl_fails failed_cleanly $rc
C -o /dev/null "$H/close" 2>/dev/null; rc=$?
check close_curl_fails failed_cleanly $rc

# -- settings, TLS, load ----------------------------------------------------
NG "http://127.0.0.1:$P_h2c_ms1/ok" >"$W/r" 2>&1
check ms1_settings eval 'grep -A2 "recv SETTINGS frame <length=6, flags=0x00" "$W/r" |
  grep -q "MAX_CONCURRENT_STREAMS(0x03):1\]"'
NG "$H/ok" >"$W/r" 2>&1
check h2c_settings_100 eval 'grep -A2 "recv SETTINGS frame <length=6, flags=0x00" "$W/r" |
  grep -q "MAX_CONCURRENT_STREAMS(0x03):100\]"'
NG "http://127.0.0.1:$P_h2c_ms1/ok?1" "http://127.0.0.1:$P_h2c_ms1/ok?2" \
  "http://127.0.0.1:$P_h2c_ms1/ok?3" >"$W/r" 2>&1
# nghttp opens all three before it has the SETTINGS: any beyond the first
# may be refused, the others wait their turn
nok=$(grep -cx ok "$W/r"); nref=$(grep -c 'error_code=REFUSED_STREAM' "$W/r")
check ms1_three_ok_or_refused eval '[ "$nok" -ge 1 ] && [ $((nok + nref)) -eq 3 ]'

timeout "$T" curl -sS --http2 -k -w '%{http_version}' "$S/ok" >"$W/r"
check tls_ok_h2 eval '[ "$(cat "$W/r")" = "ok
2" ]'
timeout "$T" curl -sS --http1.1 -k "$S/ok" 2>/dev/null; rc=$?
check tls_refuses_http11_alpn [ $rc -eq 35 ]
timeout "$T" openssl s_client -connect "127.0.0.1:$P_tls" </dev/null >"$W/r" 2>&1
check tls_refuses_no_alpn grep -q 'no application protocol' "$W/r"
NG "https://127.0.0.1:$P_tls_ms1/ok" >"$W/r" 2>&1
check tls_ms1_settings eval 'grep -q "negotiated protocol: h2" "$W/r" &&
  grep -A2 "recv SETTINGS frame <length=6, flags=0x00" "$W/r" |
  grep -q "MAX_CONCURRENT_STREAMS(0x03):1\]"'
timeout "$T" curl -sS --http2 -k -o "$W/r" "$S/bytes?n=1000000"
check tls_bytes cmp -s "$W/r" "$W/pat1m"
timeout "$T" curl -sS --http2 -k -o /dev/null "$S/hpack-bomb" 2>/dev/null; rc=$?
check tls_hpack_bomb_curl_fails failed_cleanly $rc

# (-m 1 on the _ms1 port: streams opened before the client has seen the
# server's SETTINGS beyond the first are refused, REFUSED_STREAM)
for a in "h2c 10 $H/ok" "h2c_ms1 1 http://127.0.0.1:$P_h2c_ms1/ok" \
         "tls 10 $S/bytes?n=20000"; do
  set -- $a
  timeout 60 h2load -n 400 -c 4 -m "$2" "$3" >"$W/r" 2>&1
  check "h2load_$1" grep -q 'requests: 400 total, 400 started, 400 done, 400 succeeded' "$W/r"
done

# -- junk from the client: the server ends the connection, and lives on ------
# junk PORT COMMAND: its output to the server, then read until the server
# closes (FIN or RST: cat fails on an RST); 124 if it does not in 5 s
junk() {
  timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 && { $2; } >&3 && cat <&3 >/dev/null"
}
pre="printf 'PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n'"
junk "$P_h2c" "$pre; head -c 20000 /dev/urandom"; rc=$?
check junk_after_preface_closed [ $rc -ne 124 ]
junk "$P_h2c" "printf 'GET /ok HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'"; rc=$?
check http11_on_h2c_closed [ $rc -ne 124 ]
junk "$P_tls" "head -c 5000 /dev/urandom"; rc=$?
check junk_on_tls_closed [ $rc -ne 124 ]

# -- still alive; then exits ------------------------------------------------
C "$H/ok" >"$W/r"
check survives_h2c grep -qx ok "$W/r"
timeout "$T" curl -sS --http2 -k "$S/ok" >"$W/r"
check survives_tls grep -qx ok "$W/r"
kill -TERM "$SPID"
wait_exit "$SPID"; rc=$?
SPID=
check sigterm_exit_0 [ $rc -eq 0 ]
check stderr_quiet eval '[ ! -s "$W/main.err" ] || { head -n 40 "$W/main.err"; false; }'

start eof 8
C "http://127.0.0.1:$P_h2c/ok" >"$W/r"
exec 8>&-
wait_exit "$SPID"; rc=$?
SPID=
check stdin_eof_exit_0 eval '[ $rc -eq 0 ] && grep -qx ok "$W/r"'

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
