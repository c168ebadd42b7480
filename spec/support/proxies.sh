#!/usr/bin/env bash
# Real proxies on loopback for the proxy tests (servers.sh starts and stops
# them with the other servers).
#
#   spec/support/proxies.sh start DIR TLS_DIR TLSPROXY LUA
#       Starts, each on a free port of 127.0.0.1 (pids and logs in DIR):
#         tinyproxy   HTTP proxy and CONNECT, no auth     TINYPROXY_PORT
#         tinyproxy   the same with Basic auth            TINYPROXY_AUTH_PORT
#                     (user "puser", password "ppass")   TINYPROXY_LOG (its log)
#         microsocks  SOCKS5, no auth                     SOCKS5_PORT
#         microsocks  SOCKS5, user "suser" password "spw" SOCKS5_AUTH_PORT
#         TLS in front of the first tinyproxy (the TLS proxy binary TLSPROXY,
#         certificate "good" of tls.sh for localhost)    HTTPS_PROXY_PORT
#       and prints their "export NAME=VALUE" lines.  A proxy whose program is
#       missing is left out, with a warning.
#   spec/support/proxies.sh stop DIR
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_port PID PORT: up to 5 s for PORT to accept while PID lives.
wait_port() {
    local t
    for ((t = 0; t < 50; t++)); do
        kill -0 "$1" 2>/dev/null || return 1
        port_open "$2" && return 0
        sleep 0.1
    done
    return 1
}

stop_pidfile() {
    local pid t
    [ -s "$1" ] || { rm -f "$1"; return 0; }
    pid=$(tr -dc '0-9' < "$1")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null
        for ((t = 0; t < 30; t++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    fi
    rm -f "$1"
}

# start_tinyproxy DIR NAME PORT [AUTH]: prints nothing; status.
start_tinyproxy() {
    local dir=$1 name=$2 port=$3 auth=${4:-}
    {
        echo "Port $port"
        echo "Listen 127.0.0.1"
        echo "Timeout 30"
        echo "MaxClients 200"
        echo "Allow 127.0.0.1"
        echo "LogFile \"$dir/$name.log\""
        echo "LogLevel Connect"
        echo "PidFile \"$dir/$name.tpid\""
        [ -n "$auth" ] && echo "BasicAuth $auth"
    } > "$dir/$name.conf"
    tinyproxy -d -c "$dir/$name.conf" < /dev/null > "$dir/$name.out" 2>&1 &
    echo $! > "$dir/$name.pid"
    wait_port "$!" "$port"
}

cmd_start() {
    # LUA: an interpreter with luv, for freeport.lua (servers.sh's pick)
    local dir=$1 tls_dir=${2:-} tlsproxy=${3:-} lua=${4:-lua5.4} p env="" try
    mkdir -p "$dir"
    if command -v tinyproxy >/dev/null 2>&1; then
        for try in 1 2 3; do
            p=$("$lua" "$HERE/freeport.lua")
            if start_tinyproxy "$dir" tinyproxy "$p"; then
                env="${env}export TINYPROXY_PORT=$p
export TINYPROXY_LOG=$dir/tinyproxy.log
"
                break
            fi
            stop_pidfile "$dir/tinyproxy.pid"
        done
        for try in 1 2 3; do
            p=$("$lua" "$HERE/freeport.lua")
            if start_tinyproxy "$dir" tinyproxy-auth "$p" 'puser ppass'; then
                env="${env}export TINYPROXY_AUTH_PORT=$p
"
                break
            fi
            stop_pidfile "$dir/tinyproxy-auth.pid"
        done
    else
        echo "proxies.sh: no tinyproxy (apt-get install tinyproxy)" >&2
    fi
    if command -v microsocks >/dev/null 2>&1; then
        for try in 1 2 3; do
            p=$("$lua" "$HERE/freeport.lua")
            microsocks -i 127.0.0.1 -p "$p" < /dev/null > "$dir/socks5.out" 2>&1 &
            echo $! > "$dir/socks5.pid"
            if wait_port "$!" "$p"; then env="${env}export SOCKS5_PORT=$p
"; break; fi
            stop_pidfile "$dir/socks5.pid"
        done
        for try in 1 2 3; do
            p=$("$lua" "$HERE/freeport.lua")
            microsocks -i 127.0.0.1 -p "$p" -u suser -P spw < /dev/null \
                > "$dir/socks5-auth.out" 2>&1 &
            echo $! > "$dir/socks5-auth.pid"
            if wait_port "$!" "$p"; then env="${env}export SOCKS5_AUTH_PORT=$p
"; break; fi
            stop_pidfile "$dir/socks5-auth.pid"
        done
    else
        echo "proxies.sh: no microsocks (apt-get install microsocks)" >&2
    fi
    # TLS in front of tinyproxy: an https:// proxy.
    local tp
    tp=$(sed -n 's/^export TINYPROXY_PORT=//p' <<< "$env")
    if [ -n "$tp" ] && [ -x "$tlsproxy" ] && [ -n "$tls_dir" ]; then
        "$tlsproxy" "$tls_dir/good.pem" "$tls_dir/good.key" HTTPS_PROXY_PORT="$tp" \
            < /dev/null > "$dir/https-proxy.out" 2> "$dir/https-proxy.err" &
        echo $! > "$dir/https-proxy.pid"
        for try in $(seq 50); do
            grep -q '^export HTTPS_PROXY_PORT=' "$dir/https-proxy.out" 2>/dev/null && break
            sleep 0.1
        done
        if grep -q '^export HTTPS_PROXY_PORT=' "$dir/https-proxy.out"; then
            env="${env}$(grep '^export HTTPS_PROXY_PORT=' "$dir/https-proxy.out")
"
        else
            echo "proxies.sh: the TLS front did not start" >&2
            stop_pidfile "$dir/https-proxy.pid"
        fi
    fi
    printf '%s' "$env"
}

cmd_stop() {
    local dir=$1 n
    [ -d "$dir" ] || return 0
    for n in https-proxy tinyproxy tinyproxy-auth socks5 socks5-auth; do
        stop_pidfile "$dir/$n.pid"
    done
}

case "${1:-}" in
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    *) echo "usage: $0 start DIR TLS_DIR TLSPROXY LUA | stop DIR" >&2; exit 2 ;;
esac
