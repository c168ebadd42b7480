/*
 * fuzz_engine_oom.c -- fuzz_engine with allocation failures.
 *
 * The core objects of this binary are rewritten (mk/fuzz.mk: objcopy
 * --redefine-sym) so that their malloc/calloc/realloc/strdup calls land
 * here; OpenSSL, c-ares, libc and the harness allocate normally.  While
 * the harness drives the engine (engine_oom_active), the n-th allocation
 * fails, and with bit 7 of the mode byte every one after it as well.
 *
 * Input: [mode] then an engine input (engine_harness.h).  mode bits 0-6
 * give n: 1..63 as they are, 64..127 as 64 + (k - 64) * 8 (up to 568),
 * so failures land anywhere in a run; 0 fails nothing.
 *
 * spec/c/test_fuzz_regress.c replays fuzz/regress/fuzz_engine_oom/ and the
 * corpus through engine_run() without the failures (it links the normal
 * library), which still runs every input's engine path.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine_harness.h"

static unsigned long oom_count, oom_at;
static int oom_sticky;

static int oom_fail(void) {
  if (!engine_oom_active || !oom_at) return 0;
  oom_count++;
  return oom_count == oom_at || (oom_sticky && oom_count > oom_at);
}

void *fz_oom_malloc(size_t n);
void *fz_oom_calloc(size_t n, size_t m);
void *fz_oom_realloc(void *p, size_t n);
char *fz_oom_strdup(const char *s);

void *fz_oom_malloc(size_t n) { return oom_fail() ? NULL : malloc(n); }

void *fz_oom_calloc(size_t n, size_t m) {
  return oom_fail() ? NULL : calloc(n, m);
}

void *fz_oom_realloc(void *p, size_t n) {
  return oom_fail() ? NULL : realloc(p, n);
}

char *fz_oom_strdup(const char *s) {
  char *d;
  size_t n = strlen(s) + 1;
  if (oom_fail()) return NULL;
  d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  engine_oom_mode = 1;
  oom_count = 0;
  oom_at = data[0] & 127;
  if (oom_at > 63) oom_at = 64 + (oom_at - 64) * 8;
  oom_sticky = data[0] >> 7;
  return engine_run(data + 1, size - 1);
}
