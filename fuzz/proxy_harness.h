/*
 * proxy_harness.h -- the whole engine against an in-process proxy whose
 * replies come from the fuzzer's bytes: a SOCKS4/4a/5/5h proxy
 * (fuzz_socks) or an HTTP proxy answering CONNECT, or plain requests in
 * absolute form (fuzz_connect).  When the client accepts the reply, the
 * origin's response comes through the same connection (the tunnel).
 * Shared by fuzz/fuzz_socks.c, fuzz/fuzz_connect.c and
 * spec/c/test_fuzz_regress.c; the input layout is in proxy_harness.c.
 */
#ifndef XFER_FUZZ_PROXY_HARNESS_H
#define XFER_FUZZ_PROXY_HARNESS_H

#include <stddef.h>
#include <stdint.h>

enum { PROXY_KIND_SOCKS = 0, PROXY_KIND_HTTP = 1 };

/* Runs one input; returns 0 (a broken invariant calls abort()). */
int proxy_run(int kind, const uint8_t *data, size_t size);

#endif
