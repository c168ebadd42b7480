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
#           NGINX_H2C_PORT   (the plain nginx in cleartext HTTP/2, prior
#                            knowledge only; NGINX_PORT stays HTTP/1.1)
#           FAULT_PORT FAULT_CLOSE_PORT FAULT_RESET_PORT FAULT_SILENT_PORT
#           SERVERS_DIR
#           DECODE_FIXTURES  (spec/support/fixtures/decode: the bodies that
#                            /enc/ serves coded, and plain.txt decoded)
#       the TLS nginx's (tls.sh: TLS_DIR, TLS_CA, ..., TLS_*_PORT), among
#       them TLS_H2_PORT (the only TLS port with h2 in ALPN; it serves
#       NGINX_DOCROOT with the plain nginx's locations), and:
#       when nghttpd (nghttp2-server) is installed, two nghttpd serving
#       NGINX_DOCROOT on 127.0.0.1 (pids in DIR/nghttpd.pid and
#       DIR/nghttpd-h2c.pid, output in DIR/nghttpd*.log); without it these
#       are left out, with a warning:
#           NGHTTPD_PORT         h2 over TLS (certificate "good" of tls.sh)
#           NGHTTPD_H2C_PORT     h2c, prior knowledge (--no-tls)
#       and, when the TLS proxy binary exists ($TLSPROXY, else
#       $BUILD/tlsproxy, else build/tlsproxy; started after the fault server,
#       stdin on the same fifo, pid in DIR/tlsproxy.pid), the fault server's
#       ports behind TLS (certificate "good" of tls.sh):
#           FAULT_TLS_PORT FAULT_TLS_CLOSE_PORT FAULT_TLS_RESET_PORT
#           FAULT_TLS_SILENT_PORT
#       Without the binary (or if it fails to start) these are left out,
#       with a warning on stderr; the other servers run all the same.
#       Likewise the HTTP/2 fault server, when its binary exists ($H2FAULT,
#       else $BUILD/h2fault, else build/h2fault; `-c good.pem -k good.key`,
#       stdin on the same fifo, pid in DIR/h2fault.pid, its line in
#       DIR/h2fault.out):
#           H2FAULT_PORT H2FAULT_MS1_PORT          h2c (prior knowledge);
#                                                  MS1: max 1 stream
#           H2FAULT_TLS_PORT H2FAULT_TLS_MS1_PORT  the same over TLS
#       Likewise the Digest test server (spec/support/authserver.c; $AUTHSERVER,
#       else $BUILD/authserver, else build/authserver; stdin on the same
#       fifo, pid in DIR/authserver.pid):
#           AUTH_PORT
#       The real proxies of spec/support/proxies.sh (TINYPROXY_PORT,
#       TINYPROXY_AUTH_PORT, TINYPROXY_LOG, SOCKS5_PORT, SOCKS5_AUTH_PORT,
#       HTTPS_PROXY_PORT), each left out with a warning when its program is
#       not installed.
#       On failure it cleans up what it started and exits 1.
#
#   spec/support/servers.sh stop DIR
#       Stops them all (TERM, bounded waits, KILL as last resort). Safe to
#       call twice, or after a failed start.
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

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# start_nghttpd DIR NAME BIN DOCROOT (KEY CERT | --no-tls): one nghttpd on
# 127.0.0.1 and a free port (5 tries), pid in DIR/NAME.pid, output in
# DIR/NAME.log; prints the port.  On failure: a warning, nothing running,
# status 1.
start_nghttpd() {
    local dir=$1 name=$2 bin=$3 root=$4 lua port try t pid
    shift 4
    lua=$(pick_lua) || return 1
    for try in 1 2 3 4 5; do
        port=$("$lua" "$HERE/freeport.lua") || break
        if [ "${1:-}" = --no-tls ]; then
            "$bin" -a 127.0.0.1 -d "$root" --no-tls "$port" \
                < /dev/null > "$dir/$name.log" 2>&1 &
        else
            "$bin" -a 127.0.0.1 -d "$root" "$port" "$1" "$2" \
                < /dev/null > "$dir/$name.log" 2>&1 &
        fi
        pid=$!
        echo "$pid" > "$dir/$name.pid"
        for ((t = 0; t < 50; t++)); do
            pid_alive "$pid" || break
            if port_open "$port" && pid_alive "$pid"; then echo "$port"; return 0; fi
            sleep 0.1
        done
        stop_pid "$dir/$name.pid" 3
        grep -qi 'in use' "$dir/$name.log" 2>/dev/null || break
        echo "servers.sh: $name: port $port taken, retrying ($try/5)" >&2
    done
    echo "servers.sh: $name did not start: its variable is not set; output:" >&2
    cat "$dir/$name.log" >&2
    return 1
}

cmd_stop() {
    [ $# -ge 1 ] || die "usage: servers.sh stop DIR"
    local dir=$1
    [ -d "$dir" ] || return 0
    stop_pid "$dir/tlsproxy.pid" 3
    "$HERE/proxies.sh" stop "$dir/proxies"
    stop_pid "$dir/h2fault.pid" 3
    stop_pid "$dir/authserver.pid" 3
    stop_pid "$dir/nghttpd.pid" 3
    stop_pid "$dir/nghttpd-h2c.pid" 3
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
    local docroot
    docroot=$(sed -n 's/^NGINX_DOCROOT=//p' <<< "$nginx_env")
    tls_env=$("$HERE/tls.sh" start "$dir" --h2-root "$docroot") ||
        { cmd_stop "$dir"; die "TLS nginx failed to start"; }

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

    # the real proxies of the proxy tests (proxies.sh: tinyproxy,
    # microsocks, TLS in front of tinyproxy; each optional)
    local proxies_env
    proxies_env=$("$HERE/proxies.sh" start "$dir/proxies" "$tls_dir" "$proxy" "$lua") ||
        proxies_env=""

    # nghttpd, TLS and h2c, on the plain nginx's docroot (optional)
    local nghttpd_env="" nghttpd_bin
    nghttpd_bin=${NGHTTPD:-$(command -v nghttpd || true)}
    if [ -n "$nghttpd_bin" ] && [ -x "$nghttpd_bin" ]; then
        local p
        if p=$(start_nghttpd "$dir" nghttpd "$nghttpd_bin" "$docroot" \
                   "$tls_dir/good.key" "$tls_dir/good.pem"); then
            nghttpd_env="export NGHTTPD_PORT=$p"
        fi
        if p=$(start_nghttpd "$dir" nghttpd-h2c "$nghttpd_bin" "$docroot" --no-tls); then
            nghttpd_env="$nghttpd_env${nghttpd_env:+
}export NGHTTPD_H2C_PORT=$p"
        fi
    else
        echo "servers.sh: no nghttpd (apt-get install nghttp2-server): NGHTTPD_PORT, NGHTTPD_H2C_PORT not set" >&2
    fi

    # the HTTP/2 fault server (optional; spec/support/h2fault.c)
    local h2fault h2fault_env=""
    case ${BUILD:-build} in
        /*) h2fault=${H2FAULT:-$BUILD/h2fault} ;;
        *) h2fault=${H2FAULT:-$HERE/../../${BUILD:-build}/h2fault} ;;
    esac
    [ -x "$h2fault" ] || h2fault=$HERE/../../build/h2fault
    if [ -x "$h2fault" ]; then
        local h2line=""
        "$h2fault" -c "$tls_dir/good.pem" -k "$tls_dir/good.key" < "$dir/fault.fifo" \
            > "$dir/h2fault.out" 2> "$dir/h2fault.err" &
        echo $! > "$dir/h2fault.pid"
        for ((t = 0; t < 50; t++)); do
            h2line=$(grep -m1 '^h2c=[0-9][0-9]* h2c_ms1=[0-9][0-9]* tls=[0-9][0-9]* tls_ms1=[0-9][0-9]*' \
                     "$dir/h2fault.out" 2>/dev/null || true)
            [ -n "$h2line" ] && break
            pid_alive "$(read_pid "$dir/h2fault.pid")" || break
            sleep 0.1
        done
        if [ -n "$h2line" ]; then
            h2fault_env=$(sed -n 's/^h2c=\([0-9]*\) h2c_ms1=\([0-9]*\) tls=\([0-9]*\) tls_ms1=\([0-9]*\).*/export H2FAULT_PORT=\1\
export H2FAULT_MS1_PORT=\2\
export H2FAULT_TLS_PORT=\3\
export H2FAULT_TLS_MS1_PORT=\4/p' <<< "$h2line")
        else
            echo "servers.sh: $h2fault did not start: H2FAULT_* not set; stderr:" >&2
            cat "$dir/h2fault.err" >&2
            stop_pid "$dir/h2fault.pid" 3
        fi
    else
        echo "servers.sh: no $h2fault (make all builds it): H2FAULT_* not set" >&2
    fi

    # the Digest test server (optional; spec/support/authserver.c)
    local authsrv auth_env=""
    case ${BUILD:-build} in
        /*) authsrv=${AUTHSERVER:-$BUILD/authserver} ;;
        *) authsrv=${AUTHSERVER:-$HERE/../../${BUILD:-build}/authserver} ;;
    esac
    [ -x "$authsrv" ] || authsrv=$HERE/../../build/authserver
    if [ -x "$authsrv" ]; then
        "$authsrv" < "$dir/fault.fifo" > "$dir/authserver.out" 2> "$dir/authserver.err" &
        echo $! > "$dir/authserver.pid"
        for ((t = 0; t < 50; t++)); do
            auth_env=$(sed -n 's/^AUTH_PORT=\([0-9]*\)$/export AUTH_PORT=\1/p' \
                       "$dir/authserver.out" 2>/dev/null)
            [ -n "$auth_env" ] && break
            pid_alive "$(read_pid "$dir/authserver.pid")" || break
            sleep 0.1
        done
        if [ -z "$auth_env" ]; then
            echo "servers.sh: $authsrv did not start: AUTH_PORT not set; stderr:" >&2
            cat "$dir/authserver.err" >&2
            stop_pid "$dir/authserver.pid" 3
        fi
    else
        echo "servers.sh: no $authsrv (make all builds it): AUTH_PORT not set" >&2
    fi

    {
        local kv
        while IFS= read -r kv; do
            [ -n "$kv" ] && echo "export $kv"
        done <<< "$nginx_env"
        for kv in $line; do echo "export $kv"; done
        echo "export SERVERS_DIR=$dir"
        echo "export DECODE_FIXTURES=$HERE/fixtures/decode"
        echo "$tls_env"
        [ -z "$proxy_env" ] || echo "$proxy_env"
        [ -z "$proxies_env" ] || echo "$proxies_env"
        [ -z "$nghttpd_env" ] || echo "$nghttpd_env"
        [ -z "$h2fault_env" ] || echo "$h2fault_env"
        [ -z "$auth_env" ] || echo "$auth_env"
    } > "$dir/env.tmp" && mv "$dir/env.tmp" "$dir/env"
    cat "$dir/env"
}

case "${1:-}" in
    start) shift; cmd_start "$@" ;;
    stop)  shift; cmd_stop "$@" ;;
    *) echo "usage: $0 start DIR [--log-off] | stop DIR" >&2; exit 2 ;;
esac
