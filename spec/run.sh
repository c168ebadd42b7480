#!/usr/bin/env bash
# spec/run.sh -- runs the whole suite against servers it starts itself on
# loopback (nginx and the fault server), and ends with "N passed, N failed".
# BUILD selects the build directory (build, build-asan).  Arguments, if any,
# name the C test binaries to run (e.g. test_limits).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
BUILD=${BUILD:-build}
cd "$top"

work=$(mktemp -d /tmp/xfer-test.XXXXXX)
cleanup() { "$here/support/servers.sh" stop "$work" >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT INT TERM

if ! "$here/support/servers.sh" start "$work" >"$work/servers.out" 2>&1; then
  cat "$work/servers.out"
  echo "could not start the test servers"
  echo "0 passed, 1 failed"
  exit 1
fi
# shellcheck disable=SC1091
. "$work/env"

passed=0 failed=0 failed_names=""
count() { # name, output file
  local p f
  p=$(tail -n 1 "$2" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*/\1/p')
  f=$(tail -n 1 "$2" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*/\2/p')
  if [ -z "$p" ]; then p=0; f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
  [ "$f" -gt 0 ] && failed_names="$failed_names $1"
  return 0
}

tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
  for t in "$BUILD"/spec/test_*; do tests+=("$(basename "$t")"); done
fi
for t in "${tests[@]}"; do
  echo "== $t"
  "$BUILD/spec/$t" 2>&1 | tee "$work/$t.out"
  count "$t" "$work/$t.out"
done

# Shell-level checks (the compat example, installation, ...).
if [ $# -eq 0 ]; then
  for s in "$here"/sh/*.sh; do
    [ -e "$s" ] || continue
    n=$(basename "$s" .sh)
    echo "== $n"
    BUILD=$BUILD bash "$s" 2>&1 | tee "$work/$n.out"
    count "$n" "$work/$n.out"
  done
fi

[ -n "$failed_names" ] && echo "failing:$failed_names"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
