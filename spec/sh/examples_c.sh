#!/usr/bin/env bash
# examples/demo.c: 1,000 URLs queued at once on one multi handle with
# MAX_TOTAL_CONNECTIONS=16, bodies checked, through perform + poll.
set -u
BUILD=${BUILD:-build}
out=$("$BUILD/examples/demo" "http://127.0.0.1:$NGINX_PORT" 1000 16 2>&1)
rc=$?
echo "$out"
if [ $rc -eq 0 ] && echo "$out" | grep -q '1000 ok, 0 failed' &&
   echo "$out" | grep -q 'connections opened: 16 (max 16 allowed)'; then
  echo "ok   demo_c"; echo "1 passed, 0 failed"
else
  echo "FAIL demo_c"; echo "0 passed, 1 failed"
fi
