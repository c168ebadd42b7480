#!/usr/bin/env bash
# examples/demo.sh -- what `make demo` runs: a local nginx on a free loopback
# port, and 1,000 URLs fetched from it through one multi handle with
# MAX_TOTAL_CONNECTIONS=16 (examples/demo.c), then a summary.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
work=$(mktemp -d /tmp/xfer-demo.XXXXXX)
trap '"$top/spec/support/nginx.sh" stop "$work" >/dev/null 2>&1; rm -rf "$work"' EXIT
eval "$("$top/spec/support/nginx.sh" start "$work" --log-off)"
echo "nginx on 127.0.0.1:$NGINX_PORT; fetching 1000 URLs with 16 connections"
"$top/$BUILD/examples/demo" "http://127.0.0.1:$NGINX_PORT" 1000 16
