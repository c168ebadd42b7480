# spec/support/nginx_auth.sh: what the test nginx servers (nginx.sh's
# plain one and its h2c port, tls.sh's HTTP/2 one) serve for the
# authentication tests.  Sourced; the function prints nginx configuration.
#
#   auth_locations DOCROOT     (server block)
#       /basic/PATH   DOCROOT/PATH behind nginx's auth_basic (realm "xfer"),
#                     for alice, password "s3cret:pw" (a colon in it), from
#                     an htpasswd file made here with `openssl passwd`
#       /bearer/PATH  DOCROOT/PATH for "Authorization: Bearer xfer-token"
#                     only; otherwise 401 with WWW-Authenticate: Bearer

auth_locations() {
    local root=$1 pw="$1/../auth.htpasswd"
    if [ ! -s "$pw" ]; then
        printf 'alice:%s\n' "$(openssl passwd -apr1 's3cret:pw')" > "$pw.tmp" &&
            mv "$pw.tmp" "$pw"
    fi
    cat <<CONF
        location /basic/ {
            auth_basic "xfer";
            auth_basic_user_file $(cd "$root/.." && pwd)/auth.htpasswd;
            alias $root/;
        }
        location /bearer/ {
            if (\$http_authorization != "Bearer xfer-token") {
                add_header WWW-Authenticate 'Bearer realm="xfer"' always;
                return 401 "bearer needed\n";
            }
            alias $root/;
        }
CONF
}
