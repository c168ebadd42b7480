#!/usr/bin/env bash
# make install puts libxfer.so, libxfer.a, xfer.h and xfer.pc under PREFIX,
# and a program builds against it through pkg-config alone.
set -u
BUILD=${BUILD:-build}
pass=0 fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }
prefix=$(mktemp -d /tmp/xfer-prefix.XXXXXX)
trap 'rm -rf "$prefix"' EXIT
if make -s install BUILD="$BUILD" PREFIX="$prefix" >/dev/null 2>&1; then ok install_runs; else bad install_runs; fi
for f in lib/libxfer.so lib/libxfer.a include/xfer.h lib/pkgconfig/xfer.pc; do
  [ -e "$prefix/$f" ] && ok "installed_$(basename "$f")" || bad "installed_$(basename "$f")"
done
cat > "$prefix/t.c" <<'C'
#include <xfer.h>
#include <stdio.h>
int main(int c, char **v) {
  XFER *e = xfer_easy_init();
  XFERcode rc;
  FILE *null = fopen("/dev/null", "w");
  xfer_easy_setopt(e, XFEROPT_URL, v[1]);
  xfer_easy_setopt(e, XFEROPT_WRITEDATA, null);
  rc = xfer_easy_perform(e);
  xfer_easy_cleanup(e);
  fclose(null);
  (void)c;
  return rc;
}
C
# A sanitized library needs its runtime linked into the program too.
case $BUILD in *asan*) san="-fsanitize=address,undefined" ;; *) san="" ;; esac
if PKG_CONFIG_PATH="$prefix/lib/pkgconfig" cc $san "$prefix/t.c" -o "$prefix/t" $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs xfer) -Wl,-rpath,"$prefix/lib" 2>&1 &&
   "$prefix/t" "http://127.0.0.1:$NGINX_PORT/1k.bin"; then
  ok pkgconfig_build_and_run
else
  bad pkgconfig_build_and_run
fi
echo "$pass passed, $fail failed"
