/*
 * fuzz_engine.c -- the whole engine (multi handle, transfers, connections,
 * socket and timer callbacks, perform/poll) against an in-process server
 * that answers with the fuzzer's bytes.  All the logic is in
 * engine_harness.c, shared with spec/c/test_fuzz_regress.c.
 */
#include <stddef.h>
#include <stdint.h>

#include "engine_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return engine_run(data, size);
}
