#!/usr/bin/env bash
# TLS fixtures for the xfer test suite: a throw-away PKI and one extra nginx
# with a TLS server block per scenario.  Nothing here is committed: every key
# and certificate is made at start time (EC P-256, a fraction of a second).
#
#   spec/support/tls.sh start DIR [--h2-root HTMLDIR]
#       DIR/tls        the PKI: ca.pem/.key (trusted test CA), other-ca.pem/.key
#                      (untrusted CA), and NAME.pem/NAME.key for good,
#                      wrongname, expired, unknownca, client (+ client-enc.key),
#                      wildcards (DNS:f*.example.test, DNS:*.wild.test; served
#                      by the tests' own server only)
#       DIR/tls-nginx  nginx's prefix (nginx.conf, html/, logs/, temp/)
#       Prints shell-sourceable `export` lines:
#           TLS_DIR                DIR/tls
#           TLS_CA                 DIR/tls/ca.pem (the test CA, PEM)
#           TLS_CAPATH             DIR/tls/capath (ca.pem, `openssl rehash`ed)
#           TLS_CLIENT_CERT        client.pem  (CN=xfer test client, by the CA)
#           TLS_CLIENT_KEY         client.key  (unencrypted)
#           TLS_CLIENT_KEY_ENC     client-enc.key (PKCS#8, AES-256, "secret")
#           TLS_GOOD_PORT          cert "good": DNS:localhost, IP:127.0.0.1
#           TLS_WRONGNAME_PORT     cert "wrongname": DNS:other.example only
#           TLS_EXPIRED_PORT       cert "expired": localhost/127.0.0.1, 2020-2021
#           TLS_UNKNOWNCA_PORT     cert "unknownca": by a second, untrusted CA
#           TLS_CLIENTCERT_PORT    cert "good" + ssl_verify_client on (CA ca.pem)
#           TLS_TLS12ONLY_PORT     cert "good", ssl_protocols TLSv1.2
#           TLS_H2_PORT            cert "good", `listen ... ssl http2`: ALPN
#                                  offers h2 (and http/1.1); serves HTMLDIR
#                                  (servers.sh passes the plain nginx's
#                                  docroot: 16k.bin, empty.txt, files/N.txt
#                                  for N < 1000 too) with nginx.sh's
#                                  locations (/echo-method, /status/404,
#                                  /status/500, /redirect-to-1k);
#                                  http2_max_concurrent_streams 128,
#                                  keepalive_requests 1000000 (nginx 1.22
#                                  counts h2 streams against it: no GOAWAY
#                                  every 1000 requests)
#           TLS_ACCESS_LOG         the access log of all of them
#           TLS_GOOD_PUBKEY_SHA256 "sha256//<base64>" pin of good's public key
#           TLS_OTHER_PUBKEY_SHA256 the same for the unknownca cert's key (a
#                                  well-formed pin that does not match "good")
#       Only TLS_H2_PORT has `http2`: every other port answers HTTP/1.1 even
#       to a client that offers h2 through ALPN.
#       Every other server serves the docroot DIR/tls-nginx/html: /1k.bin (1024
#       bytes of the repeating lowercase alphabet), /1m.bin (1 MiB of it),
#       /64m.bin (64 MiB of zeros, sparse),
#       /index.html ("hello from nginx\n"), /files/N.txt for N < 100
#       ("file N\n"), and /echo-method (200, "$request_method\n"; reads and
#       discards a request body up to 10 MiB).
#       With ssl_verify_client on, nginx completes the handshake without a
#       client certificate and answers 400 ("No required SSL certificate was
#       sent"); a certificate it cannot verify gets 400 too.
#
#   spec/support/tls.sh stop DIR
#       Stops that nginx (TERM, bounded wait, KILL). Safe to call twice.
#
# Access log format (one line per request, after the response was sent):
#   $connection $connection_requests $ssl_session_reused $ssl_protocol "$request" $status $server_port
# ($ssl_session_reused is "r" for a resumed session, "." otherwise).
#
# Environment: OPENSSL (default `openssl`), NGINX (as in nginx.sh), LUA.

set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/nginx_decode.sh"
. "$HERE/nginx_auth.sh"
OPENSSL_BIN=${OPENSSL:-openssl}
NGINX_BIN=${NGINX:-}
if [ -z "$NGINX_BIN" ]; then
    if [ -x /usr/sbin/nginx ]; then NGINX_BIN=/usr/sbin/nginx; else NGINX_BIN=$(command -v nginx || true); fi
fi

die() { echo "tls.sh: $*" >&2; exit 1; }

pick_lua() {
    if [ -n "${LUA:-}" ]; then echo "$LUA"; return; fi
    local l
    for l in lua5.1 luajit lua5.4 lua; do
        if command -v "$l" >/dev/null 2>&1 && "$l" -e 'require "luv"' >/dev/null 2>&1; then
            echo "$l"; return
        fi
    done
    die "no Lua interpreter with luv found (needed for freeport.lua)"
}

abs_dir() {
    mkdir -p "$1" || die "cannot create $1"
    (cd "$1" && pwd)
}

# Runs openssl quietly; on failure shows what it said and dies.
ossl() {
    local out
    if ! out=$("$OPENSSL_BIN" "$@" 2>&1); then
        echo "$out" >&2
        die "openssl $1 failed"
    fi
}

alphabet() {
    yes abcdefghijklmnopqrstuvwxyz 2>/dev/null | tr -d '\n' | head -c "$1"
}

# ---------------------------------------------------------------------------
# PKI
# ---------------------------------------------------------------------------

write_openssl_cnf() {
    local t=$1
    cat > "$t/openssl.cnf" <<EOF
# generated by spec/support/tls.sh
[ req ]
distinguished_name = req_dn
prompt = no
[ req_dn ]
CN = unused

[ ca_main ]
database = $t/db-main/index.txt
new_certs_dir = $t/db-main
serial = $t/db-main/serial
certificate = $t/ca.pem
private_key = $t/ca.key
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no

[ ca_other ]
database = $t/db-other/index.txt
new_certs_dir = $t/db-other
serial = $t/db-other/serial
certificate = $t/other-ca.pem
private_key = $t/other-ca.key
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no

[ policy_any ]
commonName = supplied

[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[ ext_localhost ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:localhost, IP:127.0.0.1

[ ext_wrongname ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:other.example

[ ext_wildcards ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:f*.example.test, DNS:*.wild.test

[ ext_client ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
}

# new_ca NAME CN
new_ca() {
    local t=$1 name=$2 cn=$3
    ossl req -config "$t/openssl.cnf" -x509 -new -newkey ec \
        -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 -days 3650 \
        -subj "/CN=$cn" -extensions v3_ca \
        -keyout "$t/$name.key" -out "$t/$name.pem"
}

# issue CASECTION NAME CN EXTSECTION STARTDATE ENDDATE
issue() {
    local t=$1 ca=$2 name=$3 cn=$4 ext=$5 start=$6 end=$7
    ossl req -config "$t/openssl.cnf" -new -newkey ec \
        -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$cn" \
        -keyout "$t/$name.key" -out "$t/$name.csr"
    ossl ca -config "$t/openssl.cnf" -name "$ca" -batch -notext \
        -extensions "$ext" -startdate "$start" -enddate "$end" \
        -in "$t/$name.csr" -out "$t/$name.pem"
    rm -f "$t/$name.csr"
}

pin_of() {
    local b64
    b64=$("$OPENSSL_BIN" x509 -in "$1" -pubkey -noout |
          "$OPENSSL_BIN" pkey -pubin -outform der |
          "$OPENSSL_BIN" dgst -sha256 -binary | base64 -w0) || return 1
    [ -n "$b64" ] || return 1
    echo "sha256//$b64"
}

make_pki() {
    local t=$1
    rm -rf "$t"
    mkdir -p "$t" "$t/db-main" "$t/db-other" || die "mkdir $t failed"
    write_openssl_cnf "$t"
    : > "$t/db-main/index.txt"; echo 1000 > "$t/db-main/serial"
    : > "$t/db-other/index.txt"; echo 2000 > "$t/db-other/serial"

    local from to
    from=$(date -u -d '-1 day' +%y%m%d%H%M%SZ)
    to=$(date -u -d '+30 days' +%y%m%d%H%M%SZ)

    new_ca "$t" ca "xfer test CA"
    new_ca "$t" other-ca "xfer untrusted CA"
    issue "$t" ca_main good localhost ext_localhost "$from" "$to"
    issue "$t" ca_main wrongname other.example ext_wrongname "$from" "$to"
    issue "$t" ca_main wildcards wild.test ext_wildcards "$from" "$to"
    issue "$t" ca_main expired localhost ext_localhost 200101000000Z 210101000000Z
    issue "$t" ca_other unknownca localhost ext_localhost "$from" "$to"
    issue "$t" ca_main client "xfer test client" ext_client "$from" "$to"
    ossl pkey -in "$t/client.key" -aes256 -passout pass:secret -out "$t/client-enc.key"

    mkdir -p "$t/capath"
    cp "$t/ca.pem" "$t/capath/ca.pem"
    ossl rehash "$t/capath"

    # Sanity: the chain verifies, and "expired" really is.
    ossl verify -CAfile "$t/ca.pem" "$t/good.pem"
    local na
    na=$("$OPENSSL_BIN" x509 -in "$t/expired.pem" -noout -enddate) || die "x509 failed"
    case "$na" in *2021*) ;; *) die "expired cert has $na" ;; esac
    chmod 600 "$t"/*.key
}

# ---------------------------------------------------------------------------
# nginx
# ---------------------------------------------------------------------------

make_docroot() {
    local html=$1 i
    mkdir -p "$html/files"
    alphabet 1024 > "$html/1k.bin"
    alphabet 1048576 > "$html/1m.bin"
    # Sparse zeros: a bulk body (fair-scheduling tests) that costs no disk.
    truncate -s 64M "$html/64m.bin"
    printf 'hello from nginx\n' > "$html/index.html"
    for ((i = 0; i < 100; i++)); do
        printf 'file %d\n' "$i" > "$html/files/$i.txt"
    done
}

# server_block PORT CERTNAME EXTRA...
server_block() {
    local port=$1 cert=$2 extra=$3
    cat <<EOF
    server {
        listen 127.0.0.1:$port ssl;
        server_name localhost;
        root $NG/html;
        ssl_certificate $T/$cert.pem;
        ssl_certificate_key $T/$cert.key;
$extra
        location = /echo-method { return 200 "\$request_method\n"; }
    }

EOF
}

# The HTTP/2 server: like nginx.sh's plain server (its docroot and
# locations), over TLS with ALPN h2.  The only block with `http2`: the
# others stay HTTP/1.1 whatever the client offers.
h2_server_block() {
    cat <<EOF
    server {
        listen 127.0.0.1:$P_H2 ssl http2;
        server_name localhost;
        root $H2_ROOT;
        ssl_certificate $T/good.pem;
        ssl_certificate_key $T/good.key;
        http2_max_concurrent_streams 128;
        keepalive_requests 1000000;

        location /echo-method { return 200 "\$request_method\n"; }
        location = /status/404 { return 404 "not found\n"; }
        location = /status/500 { return 500 "boom\n"; }
        location = /redirect-to-1k { return 302 /1k.bin; }
$(decode_locations "$H2_ROOT")
$(auth_locations "$H2_ROOT")
    }

EOF
}

write_conf() {
    # globals: NG (prefix), T (pki dir), P_* (ports), H2_ROOT
    {
        cat <<EOF
# generated by spec/support/tls.sh
user root;
worker_processes 1;
daemon on;
pid $NG/nginx.pid;
error_log $NG/logs/error.log;

events {
    worker_connections 4096;
}

http {
    log_format xfertls '\$connection \$connection_requests \$ssl_session_reused \$ssl_protocol "\$request" \$status \$server_port';
    access_log $NG/logs/access.log xfertls;
$(decode_map)

    keepalive_timeout 60s;
    keepalive_requests 100000;
    client_max_body_size 10m;
    sendfile on;
    tcp_nodelay on;
    default_type application/octet-stream;

    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_tickets on;
    ssl_session_cache shared:SSL:1m;
    ssl_session_timeout 10m;

    client_body_temp_path $NG/temp/client_body;
    proxy_temp_path $NG/temp/proxy;
    fastcgi_temp_path $NG/temp/fastcgi;
    uwsgi_temp_path $NG/temp/uwsgi;
    scgi_temp_path $NG/temp/scgi;

EOF
        server_block "$P_GOOD" good ""
        server_block "$P_WRONGNAME" wrongname ""
        server_block "$P_EXPIRED" expired ""
        server_block "$P_UNKNOWNCA" unknownca ""
        server_block "$P_CLIENTCERT" good "        ssl_verify_client on;
        ssl_verify_depth 2;
        ssl_client_certificate $T/ca.pem;"
        server_block "$P_TLS12ONLY" good "        ssl_protocols TLSv1.2;"
        h2_server_block
        echo "}"
    } > "$NG/nginx.conf"
}

pid_alive() {
    [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
    local st
    st=$(sed -n 's/^[0-9]* (.*) \([A-Za-z]\) .*/\1/p' "/proc/$1/stat" 2>/dev/null)
    [ "$st" != Z ] && [ "$st" != X ]
}

read_pid() {
    local f=$1/nginx.pid
    [ -s "$f" ] && tr -dc '0-9' < "$f"
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Seven distinct free ports into P_*.
pick_ports() {
    local lua seen="" p name
    lua=$(pick_lua) || exit 1
    for name in GOOD WRONGNAME EXPIRED UNKNOWNCA CLIENTCERT TLS12ONLY H2; do
        while :; do
            p=$("$lua" "$HERE/freeport.lua") || die "freeport.lua failed"
            case " $seen " in *" $p "*) continue ;; esac
            break
        done
        seen="$seen $p"
        printf -v "P_$name" '%s' "$p"
    done
}

cmd_start() {
    [ $# -ge 1 ] || die "usage: tls.sh start DIR [--h2-root HTMLDIR]"
    local dir
    dir=$(abs_dir "$1") || exit 1
    T=$dir/tls
    NG=$dir/tls-nginx
    H2_ROOT=$NG/html
    if [ "${2:-}" = "--h2-root" ]; then
        [ -n "${3:-}" ] && [ -d "$3" ] || die "--h2-root needs an existing directory"
        H2_ROOT=$(cd "$3" && pwd)
    fi
    [ -n "$NGINX_BIN" ] && [ -x "$NGINX_BIN" ] || die "nginx binary not found"
    command -v "$OPENSSL_BIN" >/dev/null 2>&1 || die "openssl not found"

    local old
    old=$(read_pid "$NG")
    if pid_alive "$old"; then die "TLS nginx already running in $NG (pid $old)"; fi
    rm -f "$NG/nginx.pid"

    make_pki "$T"
    local pin other_pin
    pin=$(pin_of "$T/good.pem") || die "cannot compute the pin of good.pem"
    other_pin=$(pin_of "$T/unknownca.pem") || die "cannot compute the pin of unknownca.pem"

    mkdir -p "$NG/logs" "$NG/html" "$NG/temp/client_body" "$NG/temp/proxy" \
             "$NG/temp/fastcgi" "$NG/temp/uwsgi" "$NG/temp/scgi" || die "mkdir failed"
    make_docroot "$NG/html"

    local try started=0 t p all
    for try in 1 2 3 4 5; do
        pick_ports
        write_conf
        : > "$NG/logs/error.log"
        if ! "$NGINX_BIN" -e "$NG/logs/error.log" -p "$NG" -c "$NG/nginx.conf" 2>>"$NG/logs/error.log"; then
            if grep -q 'bind()' "$NG/logs/error.log"; then
                echo "tls.sh: a port was taken, retrying ($try/5)" >&2
                continue
            fi
            cat "$NG/logs/error.log" >&2
            die "nginx failed to start"
        fi
        # Wait (bounded: 5 s) until every port accepts.
        for ((t = 0; t < 50; t++)); do
            all=1
            for p in "$P_GOOD" "$P_WRONGNAME" "$P_EXPIRED" "$P_UNKNOWNCA" "$P_CLIENTCERT" "$P_TLS12ONLY" "$P_H2"; do
                port_open "$p" || { all=0; break; }
            done
            if [ "$all" = 1 ]; then started=1; break; fi
            sleep 0.1
        done
        if [ "$started" = 1 ]; then break; fi
        echo "tls.sh: nginx did not accept on its ports within 5 s; error log:" >&2
        cat "$NG/logs/error.log" >&2
        cmd_stop "$dir" >/dev/null 2>&1
        exit 1
    done
    if [ "$started" != 1 ]; then
        cat "$NG/logs/error.log" >&2
        die "could not bind the ports after 5 tries"
    fi

    cat <<EOF
export TLS_DIR=$T
export TLS_CA=$T/ca.pem
export TLS_CAPATH=$T/capath
export TLS_CLIENT_CERT=$T/client.pem
export TLS_CLIENT_KEY=$T/client.key
export TLS_CLIENT_KEY_ENC=$T/client-enc.key
export TLS_GOOD_PORT=$P_GOOD
export TLS_WRONGNAME_PORT=$P_WRONGNAME
export TLS_EXPIRED_PORT=$P_EXPIRED
export TLS_UNKNOWNCA_PORT=$P_UNKNOWNCA
export TLS_CLIENTCERT_PORT=$P_CLIENTCERT
export TLS_TLS12ONLY_PORT=$P_TLS12ONLY
export TLS_H2_PORT=$P_H2
export TLS_ACCESS_LOG=$NG/logs/access.log
export TLS_GOOD_PUBKEY_SHA256=$pin
export TLS_OTHER_PUBKEY_SHA256=$other_pin
EOF
}

cmd_stop() {
    [ $# -ge 1 ] || die "usage: tls.sh stop DIR"
    local dir=$1 ng pid kids t
    [ -d "$dir/tls-nginx" ] || return 0
    ng=$(cd "$dir/tls-nginx" && pwd)
    pid=$(read_pid "$ng")
    pid_alive "$pid" || { rm -f "$ng/nginx.pid"; return 0; }
    kids=$(pgrep -P "$pid" 2>/dev/null || true)
    kill -TERM "$pid" 2>/dev/null
    for ((t = 0; t < 50; t++)); do
        pid_alive "$pid" || break
        sleep 0.1
    done
    if pid_alive "$pid"; then
        echo "tls.sh: nginx $pid did not stop in 5 s, killing" >&2
        # shellcheck disable=SC2086
        kill -KILL "$pid" $kids 2>/dev/null
        for ((t = 0; t < 20; t++)); do
            pid_alive "$pid" || break
            sleep 0.1
        done
    fi
    rm -f "$ng/nginx.pid"
    return 0
}

case "${1:-}" in
    start) shift; cmd_start "$@" ;;
    stop)  shift; cmd_stop "$@" ;;
    *) echo "usage: $0 start DIR [--h2-root HTMLDIR] | stop DIR" >&2; exit 2 ;;
esac
