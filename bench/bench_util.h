/*
 * bench_util.h -- the measuring helpers every benchmark client shares
 * (curl_bench.c, xfer_c.c, raw_floor.c): clocks, rusage and
 * /proc/self/status.  Static functions, so each client stays one file to
 * compile; nothing here depends on the library under test.
 */
#ifndef XFER_BENCH_UTIL_H
#define XFER_BENCH_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>

static inline double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline double tv_s(const struct timeval *tv) {
  return tv->tv_sec + tv->tv_usec / 1e6;
}

/* -v's word as HTTP_VERSION's value: libcurl's numbers, which xfer's are
 * too (1.1: 2, 2: 3, 2tls: 4, 2pk: 5); -2 for anything else. */
static inline long bench_http_version(const char *s) {
  return !strcmp(s, "1.1")    ? 2
         : !strcmp(s, "2")    ? 3
         : !strcmp(s, "2tls") ? 4
         : !strcmp(s, "2pk")  ? 5
                              : -2;
}

static inline double ru_cpu(const struct rusage *r) {
  return tv_s(&r->ru_utime) + tv_s(&r->ru_stime);
}

/* VmRSS or VmHWM from /proc/self/status, in KiB; -1 if unreadable. */
static inline long status_kb(const char *key) {
  char line[256];
  long v = -1;
  size_t kl = strlen(key);
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  while (fgets(line, sizeof(line), f))
    if (!strncmp(line, key, kl) && line[kl] == ':') {
      v = atol(line + kl + 1);
      break;
    }
  fclose(f);
  return v;
}

#endif
