#!/usr/bin/env bash
# Starts/stops the test servers (nginx + fault server) for the test suite.
#
#   spec/support/servers.sh start DIR [--log-off]
#       nginx via nginx.sh with prefix DIR/nginx, and faultserver.lua in the
#       background (stdin held open through the fifo DIR/fault.fifo by a
#       `sleep` whose pid is in DIR/fault-holder.pid; server pid in
#       DIR/fault.pid, its stdout in DIR/fault.out, stderr in DIR/fault.err).
#       Writes DIR/env (sourceable `export` lines) and prints it:
#           NGINX_PORT NGINX_PREFIX NGINX_DOCROOT NGINX_ACCESS_LOG
#           FAULT_PORT FAULT_CLOSE_PORT FAULT_RESET_PORT FAULT_SILENT_PORT
#           SERVERS_DIR
#       and, when the TLS proxy binary exists ($TLSPROXY, else
#       $BUILD/tlsproxy, else build/tlsproxy; started after the fault server,
#       stdin on the same fifo, pid in DIR/tlsproxy.pid), the fault server's
#       ports behind TLS (certificate "good" of tls.sh):
#           FAULT_TLS_PORT FAULT_TLS_CLOSE_PORT FAULT_TLS_RESET_PORT
#           FAULT_TLS_SILENT_PORT
#       Without the binary (or if it fails to start) these are left out,
#       with a warning on stderr; the other servers run all the same.
#       On failure it cleans up what it started and exits 1.
#
#   spec/support/servers.sh stop DIR
#       Stops both (TERM, bounded waits, KILL as last resort). Safe to call
#       twice, or after a failed start.
#
# FAULT_LUA picks the fault server's interpreter (default: the first of
# lua5.1, luajit, lua5.4, lua that can require "luv").

set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() { echo "servers.sh: $*" >&2; exit 1; }

pick_lua() {
    if [ -n "${FAULT_LUA:-}" ]; then echo "$FAULT_LUA"; return 0; fi
    local l
    for l in lua5.1 luajit lua5.4 lua; do
        if command -v "$l" >/dev/null 2>&1 && "$l" -e 'require "luv"' >/dev/null 2>&1; then
            echo "$l"; return 0
        fi
    done
    return 1
}

# A process reparented to PID 1 may stay a zombie for a while: count it dead.
pid_alive() {
    [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
    local st
    st=$(sed -n 's/^[0-9]* (.*) \([A-Za-z]\) .*/\1/p' "/proc/$1/stat" 2>/dev/null)
    [ "$st" != Z ] && [ "$st" != X ]
}

read_pid() {
    [ -s "$1" ] && tr -dc '0-9' < "$1"
}

# stop_pid PIDFILE SECONDS: TERM, wait, then KILL.
stop_pid() {
    local pid t
    pid=$(read_pid "$1")
    if pid_alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null
        for ((t = 0; t < $2 * 10; t++)); do
            pid_alive "$pid" || break
            sleep 0.1
        done
        if pid_alive "$pid"; then
            echo "servers.sh: pid $pid ignored TERM, killing" >&2
            kill -KILL "$pid" 2>/dev/null
            for ((t = 0; t < 20; t++)); do
                pid_alive "$pid" || break
                sleep 0.1
            done
        fi
    fi
    rm -f "$1"
}

cmd_stop() {
    [ $# -ge 1 ] || die "usage: servers.sh stop DIR"
    local dir=$1
    [ -d "$dir" ] || return 0
    stop_pid "$dir/tlsproxy.pid" 3
    stop_pid "$dir/fault.pid" 3
    stop_pid "$dir/fault-holder.pid" 2
    rm -f "$dir/fault.fifo"
    if [ -d "$dir/nginx" ]; then "$HERE/nginx.sh" stop "$dir/nginx"; fi
    "$HERE/tls.sh" stop "$dir"
    return 0
}

cmd_start() {
    [ $# -ge 1 ] || die "usage: servers.sh start DIR [--log-off]"
    mkdir -p "$1" || die "cannot create $1"
    local dir
    dir=$(cd "$1" && pwd)
    local lua
    lua=$(pick_lua) || die "no Lua with luv found (set FAULT_LUA)"

    if pid_alive "$(read_pid "$dir/fault.pid")"; then
        die "servers already running in $dir"
    fi
    rm -f "$dir/env" "$dir/fault.out" "$dir/fault.err"

    # nginx
    local nginx_env
    if ! nginx_env=$("$HERE/nginx.sh" start "$dir/nginx" ${2:+"$2"}); then
        cmd_stop "$dir"
        die "nginx failed to start"
    fi

    # TLS nginx and PKI (DIR/tls, DIR/tls-nginx)
    local tls_env
    tls_env=$("$HERE/tls.sh" start "$dir") || { cmd_stop "$dir"; die "TLS nginx failed to start"; }

    # fault server, stdin held open through a fifo
    rm -f "$dir/fault.fifo"
    mkfifo "$dir/fault.fifo" || { cmd_stop "$dir"; die "mkfifo failed"; }
    "$lua" "$HERE/faultserver.lua" < "$dir/fault.fifo" > "$dir/fault.out" 2> "$dir/fault.err" &
    echo $! > "$dir/fault.pid"
    ( exec sleep 7200 ) > "$dir/fault.fifo" 2>/dev/null < /dev/null &
    echo $! > "$dir/fault-holder.pid"

    local t line="" fpid
    fpid=$(read_pid "$dir/fault.pid")
    for ((t = 0; t < 50; t++)); do
        line=$(grep -m1 '^FAULT_PORT=' "$dir/fault.out" 2>/dev/null || true)
        [ -n "$line" ] && break
        pid_alive "$fpid" || break
        sleep 0.1
    done
    if [ -z "$line" ]; then
        echo "servers.sh: fault server ($lua) did not start; stderr:" >&2
        cat "$dir/fault.err" >&2
        cmd_stop "$dir"
        exit 1
    fi

    # TLS proxy in front of the fault server's ports (optional)
    local proxy proxy_env="" tls_dir
    case ${BUILD:-build} in
        /*) proxy=${TLSPROXY:-$BUILD/tlsproxy} ;;
        *) proxy=${TLSPROXY:-$HERE/../../${BUILD:-build}/tlsproxy} ;;
    esac
    [ -x "$proxy" ] || proxy=$HERE/../../build/tlsproxy
    tls_dir=$(sed -n 's/^export TLS_DIR=//p' <<< "$tls_env")
    if [ -x "$proxy" ]; then
        local fp fcp frp fsp
        fp=$(sed -n 's/^FAULT_PORT=\([0-9]*\).*/\1/p' <<< "$line")
        fcp=$(sed -n 's/.*FAULT_CLOSE_PORT=\([0-9]*\).*/\1/p' <<< "$line")
        frp=$(sed -n 's/.*FAULT_RESET_PORT=\([0-9]*\).*/\1/p' <<< "$line")
        fsp=$(sed -n 's/.*FAULT_SILENT_PORT=\([0-9]*\).*/\1/p' <<< "$line")
        "$proxy" "$tls_dir/good.pem" "$tls_dir/good.key" FAULT_TLS_PORT="$fp" \
            FAULT_TLS_CLOSE_PORT="$fcp" FAULT_TLS_RESET_PORT="$frp" \
            FAULT_TLS_SILENT_PORT="$fsp" < "$dir/fault.fifo" \
            > "$dir/tlsproxy.out" 2> "$dir/tlsproxy.err" &
        echo $! > "$dir/tlsproxy.pid"
        for ((t = 0; t < 50; t++)); do
            grep -q '^export FAULT_TLS_SILENT_PORT=' "$dir/tlsproxy.out" 2>/dev/null && break
            pid_alive "$(read_pid "$dir/tlsproxy.pid")" || break
            sleep 0.1
        done
        if grep -q '^export FAULT_TLS_SILENT_PORT=' "$dir/tlsproxy.out" 2>/dev/null; then
            proxy_env=$(cat "$dir/tlsproxy.out")
        else
            echo "servers.sh: $proxy did not start: FAULT_TLS_* not set; stderr:" >&2
            cat "$dir/tlsproxy.err" >&2
            stop_pid "$dir/tlsproxy.pid" 3
        fi
    else
        echo "servers.sh: no $proxy (make all builds it): FAULT_TLS_* not set" >&2
    fi

    {
        local kv
        while IFS= read -r kv; do
            [ -n "$kv" ] && echo "export $kv"
        done <<< "$nginx_env"
        for kv in $line; do echo "export $kv"; done
        echo "export SERVERS_DIR=$dir"
        echo "$tls_env"
        [ -z "$proxy_env" ] || echo "$proxy_env"
    } > "$dir/env.tmp" && mv "$dir/env.tmp" "$dir/env"
    cat "$dir/env"
}

case "${1:-}" in
    start) shift; cmd_start "$@" ;;
    stop)  shift; cmd_stop "$@" ;;
    *) echo "usage: $0 start DIR [--log-off] | stop DIR" >&2; exit 2 ;;
esac
