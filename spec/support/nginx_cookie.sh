# spec/support/nginx_cookie.sh: what the test nginx servers (nginx.sh's
# plain one and its h2c port) serve for the cookie tests.  Sourced; the
# function prints nginx configuration.
#
#   cookie_locations     (server block)
#       /cookie/echo...   answers the request's Cookie value ($http_cookie)
#                         and a newline, on any path below it
#       /cookie/set?c1=..&c2=..&c3=..   answers "set" with one Set-Cookie
#                         field per argument given, its value as it is in
#                         the query (no spaces: "a=1;Path=/;Max-Age=60")
#       /cookie/redir?to=URL&c1=..      302 to URL, with the Set-Cookie
#       /cookie/many      60 Set-Cookie fields, m0=0 .. m59=59 (over the
#                         limit of 50 per response)

cookie_locations() {
    local i many=""
    for i in $(seq 0 59); do
        many="$many            add_header Set-Cookie \"m$i=$i;Path=/\";
"
    done
    cat <<CONF
        location /cookie/echo { return 200 "\$http_cookie\n"; }
        location = /cookie/set {
            add_header Set-Cookie \$arg_c1 always;
            add_header Set-Cookie \$arg_c2 always;
            add_header Set-Cookie \$arg_c3 always;
            return 200 "set\n";
        }
        location = /cookie/redir {
            add_header Set-Cookie \$arg_c1 always;
            return 302 \$arg_to;
        }
        location = /cookie/many {
$many            return 200 "many\n";
        }
CONF
}
