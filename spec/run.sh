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
  # XFER_TEST_WRAP runs each binary under a tool (make valgrind); forked
  # test processes stay under it.
  ${XFER_TEST_WRAP:-} "$BUILD/spec/$t" 2>&1 | tee "$work/$t.out"
  count "$t" "$work/$t.out"
done

# Shell-level checks (the compat example, installation, ...).
if [ $# -eq 0 ] && [ -z "${XFER_TEST_ONLY_C:-}" ]; then
  for s in "$here"/sh/*.sh; do
    [ -e "$s" ] || continue
    n=$(basename "$s" .sh)
    echo "== $n"
    BUILD=$BUILD bash "$s" 2>&1 | tee "$work/$n.out"
    count "$n" "$work/$n.out"
  done
fi

# The OpenResty host: a real nginx with the Lua module and xfer's module
# (spec/ngx/run.sh starts its own servers).  Not under the sanitizers:
# nginx itself is not built with them.
if [ $# -eq 0 ] && [ -z "${XFER_TEST_ONLY_C:-}" ] &&
   [ -e "$BUILD/ngx/ngx_http_xfer_module.so" ]; then
  echo "== spec/ngx"
  BUILD=$BUILD "$here/ngx/run.sh" 2>&1 | tee "$work/ngx.out"
  count ngx "$work/ngx.out"
fi

# The Lua specs, with busted, on every interpreter the suite covers.  A
# sanitized build needs the sanitizer runtimes preloaded into the
# interpreter, which was not built with them.
if [ $# -eq 0 ] && [ -z "${XFER_TEST_ONLY_C:-}" ]; then
  # 5.1, 5.4 and LuaJIT everywhere; 5.2 and 5.3 in the plain build only
  # (the sanitized run would add minutes and no new code path).
  preload="" interpreters="lua5.1 lua5.4 luajit lua5.2 lua5.3"
  case $BUILD in *asan*)
    interpreters="lua5.1 lua5.4 luajit"
    preload="$(cc -print-file-name=libasan.so) $(cc -print-file-name=libubsan.so)" ;;
  esac
  for lua in $interpreters; do
    case $lua in luajit) v=jit ;; *) v=${lua#lua} ;; esac
    [ -e "$BUILD/lua/$v/xfer/core.so" ] && command -v $lua >/dev/null || continue
    echo "== busted on $lua"
    LUA_CPATH="$BUILD/lua/$v/?.so;;" LUA_PATH="lua/?.lua;lua/?/init.lua;;" \
      LD_PRELOAD="$preload" ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" \
      $lua /usr/bin/busted --output=plainTerminal spec/lua 2>&1 | tee "$work/busted-$lua.out"
    rc=${PIPESTATUS[0]}
    line=$(grep -E '^[0-9]+ success' "$work/busted-$lua.out" | tail -n 1)
    s=$(echo "$line" | sed -n 's/^\([0-9]*\) success.*/\1/p')
    f=$(echo "$line" | sed -n 's/.* \([0-9]*\) failure.* \([0-9]*\) error.*/\1 \2/p')
    if [ -z "$s" ] || [ -z "$f" ]; then
      failed=$((failed + 1)); failed_names="$failed_names busted-$lua"
    else
      set -- $f
      passed=$((passed + s)); failed=$((failed + $1 + $2))
      [ $(($1 + $2)) -gt 0 ] && failed_names="$failed_names busted-$lua"
      # all passed, yet the interpreter failed (a crash at exit, say)
      if [ $(($1 + $2)) -eq 0 ] && [ "$rc" -ne 0 ]; then
        echo "busted on $lua exited with status $rc after its summary"
        failed=$((failed + 1)); failed_names="$failed_names busted-$lua-exit"
      fi
      set --
    fi
  done
fi

[ -n "$failed_names" ] && echo "failing:$failed_names"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
