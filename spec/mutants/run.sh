#!/usr/bin/env bash
# spec/mutants/run.sh -- `make mutants`: plants each bug of
# spec/mutants/*.patch, one at a time, in a scratch copy of the tree, builds
# what the tests it names need, runs them, and says whether the suite
# killed the bug (a test failed) or it survived.  Ends with
# "N killed, N survived"; exits 1 when one survived or a patch no longer
# applies or builds (the list must follow the code it plants bugs in).
#
# A patch file: comment lines, then a unified diff against the tree
# (git diff's output):
#   # mutant: what the planted bug does
#   # run: test_waits test_http:get_basic,head_nobody busted:spec/lua/x_spec.lua
# A C test binary runs whole, or only the tests named after the colon;
# busted: runs a spec file on Lua 5.4.  Arguments, if any, name the patches
# to try (file names without .patch).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
work=$(mktemp -d /tmp/xfer-mutants.XXXXXX)
cleanup() {
  "$top/spec/support/servers.sh" stop "$work/servers" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# A copy of the tree as it is (committed or not), without builds.
mkdir -p "$work/tree"
(cd "$top" && git ls-files -co --exclude-standard | tar -cf - -T -) |
  tar -xf - -C "$work/tree"
cd "$work/tree" || exit 1
echo "building the unchanged tree once"
if ! make -s BUILD=build lib build/lua/5.4/xfer/core.so >"$work/build.log" 2>&1; then
  tail -n 20 "$work/build.log"
  echo "0 killed, 0 survived (the unchanged tree does not build)"
  exit 1
fi
if ! "$top/spec/support/servers.sh" start "$work/servers" \
    >"$work/servers.out" 2>&1; then
  cat "$work/servers.out"
  echo "0 killed, 0 survived (could not start the test servers)"
  exit 1
fi
# shellcheck disable=SC1091
. "$work/servers/env"

# Runs one target of a "# run:" line; returns non-zero when a test failed.
run_target() {
  local t=$1 bin names
  case $t in
    busted:*)
      make -s BUILD=build build/lua/5.4/xfer/core.so >"$work/out" 2>&1 &&
        LUA_CPATH="build/lua/5.4/?.so;;" \
        LUA_PATH="lua/?.lua;lua/?/init.lua;;" \
        lua5.4 /usr/bin/busted --output=plainTerminal "${t#busted:}" \
        >"$work/out" 2>&1
      return ;;
  esac
  bin=${t%%:*}
  names=""
  [ "$bin" != "$t" ] && names=$(echo "${t#*:}" | tr ',' ' ')
  # shellcheck disable=SC2086
  make -s BUILD=build "build/spec/$bin" >"$work/out" 2>&1 &&
    BUILD=build "build/spec/$bin" $names >"$work/out" 2>&1
}

killed=0 survived=0 broken=0 list=""
patches=("$here"/*.patch)
if [ $# -gt 0 ]; then
  patches=()
  for n in "$@"; do patches+=("$here/$n.patch"); done
fi
for p in "${patches[@]}"; do
  name=$(basename "$p" .patch)
  what=$(sed -n 's/^# mutant: //p' "$p")
  targets=$(sed -n 's/^# run: //p' "$p")
  if ! patch -p1 -s --dry-run <"$p" >/dev/null 2>&1; then
    echo "BROKEN   $name: the patch no longer applies"
    broken=$((broken + 1)); list="$list $name"
    continue
  fi
  patch -p1 -s <"$p"
  if ! make -s BUILD=build lib >"$work/out" 2>&1; then
    echo "BROKEN   $name: does not build"
    tail -n 5 "$work/out"
    broken=$((broken + 1)); list="$list $name"
  else
    dead=""
    for t in $targets; do
      if ! run_target "$t"; then dead=$t; break; fi
    done
    if [ -n "$dead" ]; then
      echo "killed   $name ($what) by $dead"
      killed=$((killed + 1))
    else
      echo "SURVIVED $name ($what): $targets all passed"
      survived=$((survived + 1)); list="$list $name"
    fi
  fi
  patch -p1 -R -s <"$p"
done
[ -n "$list" ] && echo "to look at:$list"
echo "$killed killed, $survived survived$([ "$broken" -gt 0 ] && echo ", $broken broken")"
[ "$survived" -eq 0 ] && [ "$broken" -eq 0 ]
