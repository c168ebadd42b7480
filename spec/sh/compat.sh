#!/usr/bin/env bash
# A libcurl multi-socket program (examples/multi-uv.c, written for libcurl
# and compiled unchanged with only -Icsrc/compat and libxfer) gives the same
# results as the same program linked with real libcurl.
set -u
BUILD=${BUILD:-build}
pass=0 fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; fail=$((fail + 1)); }
base="http://127.0.0.1:$NGINX_PORT"

# The program runs uv_run until it returns by itself: with nginx keeping
# idle connections for 60 s, it only ends in time if those connections
# leave the loop's watch set once the transfers are done.
out=$(timeout 20 "$BUILD/examples/multi-uv" -n 500 -p 16 "$base/1k.bin" "$base/files/1.txt" 2>&1)
[ "$out" = "done=1000 ok=1000 failed=0 bytes=515500 status200=1000" ] && ok compat_multi_uv || { echo "$out"; bad compat_multi_uv; }

if cc -std=c99 -D_GNU_SOURCE -Wall -Werror examples/multi-uv.c -o "$BUILD/multi-uv-libcurl" -lcurl -luv 2>/dev/null; then
  ref=$(timeout 20 "$BUILD/multi-uv-libcurl" -n 500 -p 16 "$base/1k.bin" "$base/files/1.txt" 2>&1)
  [ "$ref" = "$out" ] && ok compat_same_as_libcurl || { echo "libcurl: $ref / xfer: $out"; bad compat_same_as_libcurl; }
else
  bad compat_same_as_libcurl
fi

# The select() style: curl_multi_fdset (and waitfds with poll()), handles
# re-added from info_read, with and without a pause in every transfer; the
# loop ends when the transfers do, and gives what libcurl gives.
sel_args="-n 100 -p 8 $base/1k.bin $base/1m.bin $base/files/1.txt"
sel_want="done=300 ok=300 failed=0 bytes=104960700 status200=300"
cc -std=c99 -D_GNU_SOURCE -Wall -Werror examples/multi-select.c -o "$BUILD/multi-select-libcurl" -lcurl 2>/dev/null || rm -f "$BUILD/multi-select-libcurl"
for flags in "" "-P" "-w" "-w -P"; do
  name="compat_select${flags// /}"
  out=$(timeout 20 "$BUILD/examples/multi-select" $flags $sel_args 2>&1)
  [ "$out" = "$sel_want" ] && ok "$name" || { echo "$out"; bad "$name"; }
  case $flags in *-w*) continue ;; esac
  ref=$(timeout 20 "$BUILD/multi-select-libcurl" $flags $sel_args 2>&1)
  [ "$ref" = "$out" ] && ok "${name}_same_as_libcurl" || { echo "libcurl: $ref / xfer: $out"; bad "${name}_same_as_libcurl"; }
done

# A program with a debug callback compiles unchanged and sees what it
# sees with libcurl: the head out in one call, the body out, the header
# lines in, the body in.
# ($BUILD/spec/compat_debug is made by `make c-tests`, with the build's
# sanitizer flags.)
if [ -x "$BUILD/spec/compat_debug" ] &&
   cc -std=c99 -Wall -Werror spec/sh/compat/debug.c -o "$BUILD/compat-debug-libcurl" -lcurl; then
  out=$("$BUILD/spec/compat_debug" "$base/echo-method" 2>&1)
  ref=$("$BUILD/compat-debug-libcurl" "$base/echo-method" 2>&1)
  case $out in "rc=0 head_out=1 body_out=7 status=1 "*) ok compat_debug_callback ;; *) echo "$out"; bad compat_debug_callback ;; esac
  [ "${out%% head_in_bytes*}" = "${ref%% head_in_bytes*}" ] && [ "${out##* body_in=}" = "${ref##* body_in=}" ] &&
    ok compat_debug_same_as_libcurl || { echo "libcurl: $ref / xfer: $out"; bad compat_debug_same_as_libcurl; }
else
  bad compat_debug_callback
fi

# HTTP/2 as libcurl programs ask for it (2TLS, PIPEWAIT, PIPELINING, one
# connection per host, handles re-added from info_read): every transfer
# over h2 on one connection, the header callback's first line in
# libcurl's HTTP/2 form, the same as libcurl's own run.
if [ -n "${TLS_H2_PORT:-}" ] && [ -x "$BUILD/spec/compat_h2" ] &&
   cc -std=c99 -Wall -Werror spec/sh/compat/h2.c -o "$BUILD/compat-h2-libcurl" -lcurl; then
  h2_args="$TLS_CA localhost:$TLS_H2_PORT:127.0.0.1 https://localhost:$TLS_H2_PORT/1k.bin 200"
  out=$(timeout 20 "$BUILD/spec/compat_h2" $h2_args 2>&1)
  ref=$(timeout 20 "$BUILD/compat-h2-libcurl" $h2_args 2>&1)
  [ "$out" = "done=200 ok=200 h2=200 connects=1 first=HTTP/2 200 " ] && ok compat_h2 || { echo "$out"; bad compat_h2; }
  [ "$out" = "$ref" ] && ok compat_h2_same_as_libcurl || { echo "libcurl: $ref / xfer: $out"; bad compat_h2_same_as_libcurl; }
else
  bad compat_h2
fi

# Failures map to the same codes through the compat names.
out=$(timeout 20 "$BUILD/examples/multi-uv" "http://127.0.0.1:$FAULT_CLOSE_PORT/x" "$base/status/404" 2>/dev/null)
[ "$out" = "done=2 ok=1 failed=1 bytes=10 status200=0" ] && ok compat_failures || { echo "$out"; bad compat_failures; }

# A libcurl program that uses an option xfer lacks must not compile.
printf '#include <curl/curl.h>\nint main(void){CURL*c=curl_easy_init();curl_easy_setopt(c,CURLOPT_FTPPORT,"-");return 0;}\n' > "$BUILD/unsupported.c"
if cc -Icsrc/compat -c "$BUILD/unsupported.c" -o "$BUILD/unsupported.o" 2>/dev/null; then bad compat_unsupported_option_fails; else ok compat_unsupported_option_fails; fi

# Every public name of xfer.h has its libcurl spelling in the compat header
# (options, infos, codes, constants), so the two cannot drift apart.
missing=""
# (The easy options are the entries of XFER_EASY_OPTIONS: X(NAME, ...).)
names=$( { grep -oE '\bXFER(M?OPT|OT|INFO|E|M)_[A-Z0-9_]+' csrc/xfer.h
           sed -n 's/^ *X(\([A-Z0-9_]*\), [0-9]*, [A-Z_]*).*/XFEROPT_\1/p' csrc/xfer.h
         } | sort -u)
[ "$(echo "$names" | grep -c '^XFEROPT_')" -gt 50 ] || bad compat_reads_the_option_list
for n in $names; do
  case $n in *_LASTENTRY|*_LAST|*_LASTONE|XFERINFO_NONE) continue ;; esac
  grep -q "[[:space:]]$n\b" csrc/compat/curl/curl.h || missing="$missing $n"
done
[ -z "$missing" ] && ok compat_maps_every_name || { echo "not mapped:$missing"; bad compat_maps_every_name; }

echo "$pass passed, $fail failed"
