#!/usr/bin/env bash
# spec/soak/run.sh BINARY N -- the soak against servers it starts itself.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/xfer-soak.XXXXXX)
trap '"$top/spec/support/servers.sh" stop "$work" >/dev/null 2>&1; rm -rf "$work"' EXIT INT TERM
"$top/spec/support/servers.sh" start "$work" --log-off >/dev/null || exit 1
. "$work/env"
"$1" "$2"
