#!/usr/bin/env bash
# Self-check of the test servers: starts them in a temp dir, pokes every
# route with raw requests (rawclient.lua, no curl needed), prints
# "N passed, N failed", stops them. Exit status 0 iff all passed.
#
#   FAULT_LUA=luajit spec/support/selfcheck.sh      (default interpreter: lua5.1)
#   VERBOSE=1 spec/support/selfcheck.sh              (show raw responses)

set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export FAULT_LUA=${FAULT_LUA:-lua5.1}
CLIENT_LUA=$FAULT_LUA
WORK=$(mktemp -d "${TMPDIR:-/tmp}/xfer-selfcheck.XXXXXX")
PASS=0
FAIL=0

cleanup() {
    "$HERE/servers.sh" stop "$WORK/servers" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "selfcheck: fault server on $FAULT_LUA"
if ! "$HERE/servers.sh" start "$WORK/servers" > "$WORK/start.out"; then
    echo "selfcheck: servers failed to start"
    echo "0 passed, 1 failed"
    exit 1
fi
# shellcheck disable=SC1091
. "$WORK/servers/env"

ok() { PASS=$((PASS + 1)); echo "ok   - $1"; }
nok() {
    FAIL=$((FAIL + 1)); echo "FAIL - $1"
    if [ -f "$WORK/resp" ]; then
        echo "  ---- $(cat "$WORK/end") ----"; head -c 600 "$WORK/resp" | cat -v | sed 's/^/  | /'; echo
    fi
}
check() { # check NAME COMMAND...
    local name=$1; shift
    if "$@"; then ok "$name"; else nok "$name"; fi
}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# raw PORT TIMEOUT_MS REQUEST(printf %b escapes): response in $WORK/resp,
# "END=... BYTES=..." in $WORK/end, elapsed ms in $ELAPSED.
ELAPSED=0
raw() {
    local port=$1 timeout=$2 req=$3 t0
    t0=$(now_ms)
    printf '%b' "$req" | "$CLIENT_LUA" "$HERE/rawclient.lua" "$port" "$timeout" > "$WORK/resp" 2> "$WORK/end"
    ELAPSED=$(( $(now_ms) - t0 ))
    if [ "${VERBOSE:-0}" = 1 ]; then
        echo ">>> $req"; head -c 800 "$WORK/resp" | cat -v; echo; cat "$WORK/end"
    fi
}
# get PORT PATH [EXTRA_HEADERS]: one request with Connection: close.
get() { raw "$1" 2000 "GET $2 HTTP/1.1\r\nHost: 127.0.0.1\r\n${3:-}Connection: close\r\n\r\n"; }

ended()    { grep -q "^END=$1 " "$WORK/end"; }
has()      { grep -qaF -- "$1" "$WORK/resp"; }
hasnt()    { ! has "$1"; }
status()   { head -n1 "$WORK/resp" | grep -qa "^HTTP/1\.[01] $1 "; }
body()     { sed '1,/^\r$/d' "$WORK/resp"; } # after the first blank line
body_is()  { [ "$(body)" = "$1" ]; }
body_len() { [ "$(body | wc -c)" -eq "$1" ]; }
count()    { [ "$(grep -acF -- "$1" "$WORK/resp")" -eq "$2" ]; }
alphabet() { yes abcdefghijklmnopqrstuvwxyz | tr -d '\n' | head -c "$1"; }

########################################################################
echo "# nginx on $NGINX_PORT"
get "$NGINX_PORT" /index.html
check "nginx index.html" eval 'status 200 && body_is "hello from nginx"'
get "$NGINX_PORT" /1k.bin
check "nginx 1k.bin pattern" eval '[ "$(body)" = "$(alphabet 1024)" ]'
check "nginx 16k.bin size" eval '[ "$(wc -c < "$NGINX_DOCROOT/16k.bin")" -eq 16384 ]'
check "nginx 1m.bin content" eval 'cmp -s "$NGINX_DOCROOT/1m.bin" <(alphabet 1048576)'
get "$NGINX_PORT" /empty.txt
check "nginx empty.txt" eval 'status 200 && has "Content-Length: 0" && body_len 0'
get "$NGINX_PORT" /files/999.txt
check "nginx files/999.txt" eval 'body_is "file 999"'
raw "$NGINX_PORT" 2000 "POST /echo-method HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
check "nginx /echo-method" eval 'status 200 && body_is POST'
get "$NGINX_PORT" /status/404
check "nginx /status/404" eval 'status 404 && body_is "not found"'
get "$NGINX_PORT" /status/500
check "nginx /status/500" eval 'status 500 && body_is "boom"'
get "$NGINX_PORT" /redirect-to-1k
check "nginx /redirect-to-1k" eval 'status 302 && grep -qa "^Location: .*/1k.bin" "$WORK/resp"'
raw "$NGINX_PORT" 2000 "GET /files/1.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /files/2.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
sleep 0.1
check "nginx keep-alive + access log" eval 'count "HTTP/1.1 200" 2 &&
    grep -q " 2 \"GET /files/2.txt HTTP/1.1\" 200 7$" "$NGINX_ACCESS_LOG"'

########################################################################
echo "# fault server on $FAULT_PORT (close $FAULT_CLOSE_PORT reset $FAULT_RESET_PORT silent $FAULT_SILENT_PORT)"
F=$FAULT_PORT

raw "$FAULT_CLOSE_PORT" 2000 ""
check "close port: EOF, no bytes" eval 'ended EOF && grep -q "BYTES=0" "$WORK/end"'
raw "$FAULT_RESET_PORT" 2000 "GET / HTTP/1.1\r\n\r\n"
check "reset port: reset" eval 'grep -q ECONNRESET "$WORK/end"'
raw "$FAULT_SILENT_PORT" 300 "GET / HTTP/1.1\r\n\r\n"
check "silent port: timeout, no bytes" eval 'ended TIMEOUT && grep -q "BYTES=0" "$WORK/end"'

get "$F" /stats/reset
check "/stats/reset" eval 'status 200'

get "$F" /bytes/10
check "/bytes/10" eval 'status 200 && has "Content-Length: 10" && body_is abcdefghij'
get "$F" /bytes/100000
check "/bytes/100000" eval '[ "$(body)" = "$(alphabet 100000)" ]'
get "$F" /bytes/0
check "/bytes/0" eval 'status 200 && body_len 0'
raw "$F" 2000 "HEAD /bytes/10 HTTP/1.1\r\nConnection: close\r\n\r\n"
check "HEAD /bytes/10: no body" eval 'has "Content-Length: 10" && body_len 0'

REQ="POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
raw "$F" 2000 "$REQ"
check "/echo content-length" eval 'has "X-Body-Length: 5" && [ "$(body)" = "$(printf "%b" "$REQ")" ]'
REQ="POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3;x=y\r\nhel\r\n2\r\nlo\r\n0\r\nT: 1\r\n\r\n"
raw "$F" 2000 "$REQ"
check "/echo chunked (raw framing, decoded length)" eval 'has "X-Body-Length: 5" && [ "$(body)" = "$(printf "%b" "$REQ")" ]'

# request split over several writes (partial reads)
exec 5<>"/dev/tcp/127.0.0.1/$F"
printf 'POST /echo HTT' >&5; sleep 0.05
printf 'P/1.1\r\nContent-Le' >&5; sleep 0.05
printf 'ngth: 4\r\nConnection: close\r\n\r\nab' >&5; sleep 0.05
printf 'cd' >&5
timeout 2 cat <&5 > "$WORK/resp"; exec 5>&-
echo "END=? BYTES=?" > "$WORK/end"
check "partial reads" eval 'has "X-Body-Length: 4" && has "abcd"'

exec 5<>"/dev/tcp/127.0.0.1/$F"
printf 'POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n1' >&5; sleep 0.05
printf '0\r\n0123456' >&5; sleep 0.05
printf '789abcdef\r' >&5; sleep 0.05
printf '\n0\r\n' >&5; sleep 0.05
printf '\r\n' >&5
timeout 2 cat <&5 > "$WORK/resp"; exec 5>&-
check "partial reads, chunked" eval 'has "X-Body-Length: 16" && has "0123456789abcdef"'

raw "$F" 2000 "GET /bytes/3 HTTP/1.1\r\n\r\nGET /status/201 HTTP/1.1\r\n\r\nGET /bytes/4 HTTP/1.1\r\nConnection: close\r\n\r\n"
check "pipelining: 3 responses in order" eval 'ended EOF && count "HTTP/1.1" 3 &&
    [ "$(grep -ao "HTTP/1.1 [0-9]*" "$WORK/resp" | tr "\n" " ")" = "HTTP/1.1 200 HTTP/1.1 201 HTTP/1.1 200 " ]'

get "$F" /stats
check "/stats counts" eval 'body_is "connections=10 requests=11 peak=1 open=1"'

get "$F" /status/418
check "/status/418" eval 'status 418 && body_is "status 418"'
raw "$F" 300 "GET /status/204 HTTP/1.1\r\n\r\n"
check "/status/204 no body, no CL" eval 'status 204 && hasnt "Content-Length" && body_len 0'
raw "$F" 300 "GET /status/304 HTTP/1.1\r\n\r\n"
check "/status/304 CL 10, no body" eval 'status 304 && has "Content-Length: 10" && body_len 0'

get "$F" "/chunked/250?size=100&ext=1&trailers=1"
check "/chunked ext + trailers" eval 'has "Transfer-Encoding: chunked" && count ";ext=1" 4 &&
    cmp -s <(tail -c 29 "$WORK/resp") <(printf "\r\n0;ext=1\r\nX-Trailer: yes\r\n\r\n")'
get "$F" "/chunked/1000?size=7&every_ms=1"
check "/chunked decodes to pattern" eval '[ "$(body | tr -d "\r" | awk "NR % 2 == 0" | tr -d "\n")" = "$(alphabet 1000)" ]'

raw "$F" 2000 "GET /http10/20 HTTP/1.1\r\n\r\n"
check "/http10/20" eval 'ended EOF && head -n1 "$WORK/resp" | grep -q "^HTTP/1.0 200 OK" && hasnt "Content-Length" && hasnt "Connection" && body_len 20'
raw "$F" 2000 "GET /close-delimited/20 HTTP/1.1\r\n\r\n"
check "/close-delimited/20" eval 'ended EOF && status 200 && has "Connection: close" && hasnt "Content-Length" && body_len 20'

get "$F" /1xx
check "/1xx" eval 'count "HTTP/1.1 100 Continue" 1 && has "HTTP/1.1 103 Early Hints" && has "Link: </style.css>; rel=preload" && has "final"'

get "$F" "/redirect/307?to=%2Fa%20b%3Fc%3Dd"
check "/redirect/307" eval 'status 307 && has "Location: /a b?c=d"'
get "$F" /redirect-chain/2
check "/redirect-chain/2" eval 'status 302 && has "Location: /redirect-chain/1"'
get "$F" /redirect-chain/0
check "/redirect-chain/0" eval 'status 200 && body_is done'

raw "$F" 2000 "GET /reset-mid-body?size=100&send=10&delay_ms=50 HTTP/1.1\r\n\r\n"
check "/reset-mid-body" eval 'ended RESET && has "Content-Length: 100" && body_is abcdefghij'
raw "$F" 2000 "GET /truncated-body?size=100&send=10 HTTP/1.1\r\n\r\n"
check "/truncated-body" eval 'ended EOF && has "Content-Length: 100" && body_is abcdefghij'
raw "$F" 2000 "GET /truncated-chunk HTTP/1.1\r\n\r\n"
check "/truncated-chunk" eval 'ended EOF && has "Transfer-Encoding: chunked" && [ "$(body)" = "64$(printf "\r")
$(alphabet 50)" ]'

get "$F" "/oversized-headers?kb=8"
check "/oversized-headers?kb=8" eval 'status 200 && [ "$(sed "/^\r$/q" "$WORK/resp" | wc -c)" -gt 8192 ] && body_is ok'
get "$F" "/huge-header-line?kb=4"
check "/huge-header-line?kb=4" eval '[ "$(grep -a "^X-Huge:" "$WORK/resp" | wc -c)" -gt 4096 ] && body_is ok'

get "$F" "/drip?size=20&every_ms=20&chunk=3"
check "/drip (20 bytes, >= 120 ms)" eval 'has "Content-Length: 20" && [ "$(body)" = "$(alphabet 20)" ] && [ "$ELAPSED" -ge 120 ]'

raw "$F" 300 "GET /silence HTTP/1.1\r\n\r\n"
check "/silence" eval 'ended TIMEOUT && grep -q "BYTES=0" "$WORK/end"'
raw "$F" 300 "GET /headers-then-silence HTTP/1.1\r\n\r\n"
check "/headers-then-silence" eval 'ended TIMEOUT && status 200 && has "Content-Length: 100" && body_len 0'

get "$F" /garbage
check "/garbage" eval 'ended EOF && head -c 8 "$WORK/resp" | grep -q "^SSH-2.0-"'
get "$F" /garbage-binary
check "/garbage-binary" eval 'ended EOF && [ "$(wc -c < "$WORK/resp")" -eq 64 ] && [ "$(head -c 2 "$WORK/resp" | od -An -tx1 | tr -d " ")" = 00ff ]'
get "$F" /conflicting-length
check "/conflicting-length" eval 'has "Content-Length: 5" && has "Content-Length: 6" && body_is abcdef'

raw "$F" 2000 "GET /keepalive-idle-close?ms=50 HTTP/1.1\r\n\r\n"
check "/keepalive-idle-close" eval 'ended EOF && hasnt "Connection:" && body_is ok && [ "$ELAPSED" -lt 1500 ]'
raw "$F" 2000 "GET /close-after-response HTTP/1.1\r\n\r\n"
check "/close-after-response" eval 'ended EOF && hasnt "Connection:" && has "Content-Length: 3" && body_is ok'

head -c 4000000 /dev/zero > "$WORK/upload"
{ printf 'POST /no-read-upload?hold_ms=800 HTTP/1.1\r\nContent-Length: 4000000\r\n\r\n'; cat "$WORK/upload"; } > "$WORK/upreq"
t0=$(now_ms)
"$CLIENT_LUA" "$HERE/rawclient.lua" "$F" 400 < "$WORK/upreq" > "$WORK/resp" 2> "$WORK/end"
check "/no-read-upload (no answer)" eval 'ended TIMEOUT && grep -q "BYTES=0" "$WORK/end"'
sleep 0.6 # hold_ms: the server closes that connection

get "$F" "/slow-headers?ms=200"
check "/slow-headers?ms=200" eval 'body_is slow && [ "$ELAPSED" -ge 200 ]'
get "$F" "/sleep?ms=100"
check "/sleep?ms=100" eval 'body_is slept && [ "$ELAPSED" -ge 100 ]'

get "$F" "/headers?Set-Cookie=a%3D1&Set-Cookie=b%3D2&X-Custom=hello%20world"
check "/headers" eval 'has "Set-Cookie: a=1" && has "Set-Cookie: b=2" && has "X-Custom: hello world" && body_is ok'

get "$F" /no/such/thing
check "unknown path: 404" eval 'status 404 && body_is "no such fault"'

raw "$F" 300 "POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"
check "Expect: 100-continue" eval 'ended TIMEOUT && count "HTTP/1.1 100 Continue" 1 && [ "$(wc -l < "$WORK/resp")" -eq 2 ]'

raw "$F" 2000 "NOT HTTP AT ALL\r\n\r\n"
check "malformed request: 400 + close" eval 'ended EOF && status 400'

# counters: several connections open at once
get "$F" /stats/reset
exec 6<>"/dev/tcp/127.0.0.1/$F" 7<>"/dev/tcp/127.0.0.1/$F"
printf 'GET /bytes/1 HTTP/1.1\r\n\r\n' >&6
printf 'GET /bytes/1 HTTP/1.1\r\n\r\n' >&7
sleep 0.1
get "$F" /stats
exec 6>&- 7>&-
check "/stats peak/open" eval 'body_is "connections=3 requests=2 peak=3 open=3"'

sleep 0.1
get "$F" /stats
check "fault server still alive, conns closed" eval 'grep -qa "open=1$" "$WORK/resp"'

########################################################################
FPID=$(cat "$WORK/servers/fault.pid")
NPID=$(cat "$WORK/servers/nginx/nginx.pid")
"$HERE/servers.sh" stop "$WORK/servers" > /dev/null 2>&1
"$HERE/servers.sh" stop "$WORK/servers" > /dev/null 2>&1
rm -f "$WORK/resp"
gone() { ! kill -0 "$1" 2>/dev/null || grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null; }
check "stop (twice) ends both servers" eval 'gone "$FPID" && gone "$NPID"'
if [ -s "$WORK/servers/fault.err" ]; then
    echo "fault server stderr:"; sed 's/^/  /' "$WORK/servers/fault.err"
fi
check "fault server stderr empty" test ! -s "$WORK/servers/fault.err"

echo "$PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
