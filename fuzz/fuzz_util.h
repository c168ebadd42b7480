/*
 * fuzz_util.h -- what the pure fuzz targets share: a growable byte string
 * for transcripts, a small PRNG, the failure macro.  Header-only (static
 * functions), so that spec/c/test_fuzz_regress.c can #include every target
 * into one translation unit; plain C99, compiles with gcc and clang.
 */
#ifndef XFER_FUZZ_UTIL_H
#define XFER_FUZZ_UTIL_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__)
#define FZ_UNUSED __attribute__((unused))
#else
#define FZ_UNUSED
#endif

/* An invariant broke: say which, then abort() so that libFuzzer (or the
 * regression test) records the input. */
#define FZ_CHECK(cond, ...)                                               \
  do {                                                                    \
    if (!(cond)) {                                                        \
      fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
              #cond);                                                     \
      fprintf(stderr, __VA_ARGS__);                                       \
      fputc('\n', stderr);                                                \
      abort();                                                            \
    }                                                                     \
  } while (0)

struct fz_sb {
  char *p;
  size_t len, cap;
};

static FZ_UNUSED void fz_sb_put(struct fz_sb *b, const void *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    char *np;
    while (cap < b->len + n + 1) cap *= 2;
    np = realloc(b->p, cap);
    if (!np) abort();
    b->p = np;
    b->cap = cap;
  }
  if (n) memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static FZ_UNUSED void fz_sb_printf(struct fz_sb *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static FZ_UNUSED void fz_sb_printf(struct fz_sb *b, const char *fmt, ...) {
  char tmp[512];
  int n;
  va_list ap;
  va_start(ap, fmt);
  n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
  va_end(ap);
  if (n < 0) abort();
  if ((size_t)n >= sizeof(tmp)) n = (int)sizeof(tmp) - 1;
  fz_sb_put(b, tmp, (size_t)n);
}

/* Appends s escaped, so that a transcript is one readable string. */
static FZ_UNUSED void fz_sb_esc(struct fz_sb *b, const char *s, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '\\' || c == '"' || c < 32 || c >= 127)
      fz_sb_printf(b, "\\x%02x", c);
    else
      fz_sb_put(b, &c, 1);
  }
}

static FZ_UNUSED void fz_sb_free(struct fz_sb *b) {
  free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

/* xorshift64*: deterministic per seed. */
static FZ_UNUSED uint64_t fz_rnd(uint64_t *s) {
  uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545f4914f6cdd1dull;
}

static FZ_UNUSED uint64_t fz_hash(const uint8_t *d, size_t n) {
  uint64_t h = 1469598103934665603ull;
  size_t i;
  for (i = 0; i < n; i++) h = (h ^ d[i]) * 1099511628211ull;
  return h;
}

/* An exact-size heap copy, so ASan sees any read past the end. */
static FZ_UNUSED char *fz_dup(const void *p, size_t n) {
  char *c = malloc(n ? n : 1);
  if (!c) abort();
  if (n) memcpy(c, p, n);
  return c;
}

/* A NUL-terminated heap copy. */
static FZ_UNUSED char *fz_strdup(const void *p, size_t n) {
  char *c = malloc(n + 1);
  if (!c) abort();
  if (n) memcpy(c, p, n);
  c[n] = '\0';
  return c;
}

#endif
