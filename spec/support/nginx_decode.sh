# spec/support/nginx_decode.sh: what the test nginx servers (nginx.sh's
# plain one, tls.sh's HTTP/2 one) serve for the content-decoding tests.
# Sourced; the functions print nginx configuration.
#
#   decode_map                 (http block) the Content-Encoding that
#                              /enc/'s file extensions name, in order
#   decode_locations DOCROOT   (server block)
#       /enc/NAME   spec/support/fixtures/decode/NAME as stored, with that
#                   Content-Encoding (plain.gz.br: "gzip, br")
#       /gz/PATH    DOCROOT/PATH through nginx's gzip filter (on the fly,
#                   for a client that accepts gzip)

DECODE_FIXTURES_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/fixtures/decode" && pwd)

decode_map() {
    cat <<EOF
    map \$uri \$xfer_ce {
        default "";
        ~\\.gz\\.br\$ "gzip, br";
        ~\\.zz\\.zst\\.br\$ "deflate, zstd, br";
        ~\\.gz\$ gzip;
        ~\\.zz\$ deflate;
        ~\\.deflate\$ deflate;
        ~\\.br\$ br;
        ~\\.zst\$ zstd;
    }
EOF
}

decode_locations() {
    cat <<EOF
        location /enc/ {
            alias $DECODE_FIXTURES_DIR/;
            add_header Content-Encoding \$xfer_ce;
        }
        location /gz/ {
            alias $1/;
            gzip on;
            gzip_types *;
            gzip_min_length 0;
        }
EOF
}
