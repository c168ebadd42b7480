/*
 * fuzz_connect.c -- the whole engine through an HTTP proxy whose answers
 * to CONNECT (or to plain requests in absolute form) are the fuzzer's
 * bytes (proxy_harness.c, shared with spec/c/test_fuzz_regress.c, says
 * the input layout and the checks).
 */
#include <stddef.h>
#include <stdint.h>

#include "proxy_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return proxy_run(PROXY_KIND_HTTP, data, size);
}
