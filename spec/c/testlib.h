/*
 * testlib.h -- the C test harness: each TEST runs in its own forked process
 * under a timeout (XFER_TEST_TIMEOUT seconds, default 30), so a crash or a
 * hang fails that test only.  A binary prints one line per test and ends
 * with "N passed, N failed".  Pass test names as arguments to run a subset.
 */
#ifndef XFER_TESTLIB_H
#define XFER_TESTLIB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

typedef void (*tl_fn)(void);
void tl_register(const char *name, tl_fn fn);
void tl_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
/* Environment helpers: a required variable (fails the test when unset). */
const char *tl_env(const char *name);
int tl_env_int(const char *name);
/* Monotonic milliseconds. */
uint64_t tl_now_ms(void);
/* Number of open file descriptors of this process. */
int tl_count_fds(void);

#define TEST(name)                                                   \
  static void test_##name(void);                                     \
  __attribute__((constructor)) static void tl_reg_##name(void) {     \
    tl_register(#name, test_##name);                                 \
  }                                                                  \
  static void test_##name(void)

#define CHECK(c)                                                     \
  do {                                                               \
    if (!(c)) tl_fail(__FILE__, __LINE__, "CHECK(%s)", #c);          \
  } while (0)

#define CHECK_INT(a, op, b)                                          \
  do {                                                               \
    long long tl_a_ = (long long)(a), tl_b_ = (long long)(b);        \
    if (!(tl_a_ op tl_b_))                                           \
      tl_fail(__FILE__, __LINE__, "%s %s %s (%lld vs %lld)", #a, #op, \
              #b, tl_a_, tl_b_);                                     \
  } while (0)
#define CHECK_EQ(a, b) CHECK_INT(a, ==, b)

#define CHECK_STR(a, b)                                              \
  do {                                                               \
    const char *tl_sa_ = (a), *tl_sb_ = (b);                         \
    if (!tl_sa_ || !tl_sb_ || strcmp(tl_sa_, tl_sb_) != 0)           \
      tl_fail(__FILE__, __LINE__, "%s == %s (\"%s\" vs \"%s\")", #a, \
              #b, tl_sa_ ? tl_sa_ : "(null)", tl_sb_ ? tl_sb_ : "(null)"); \
  } while (0)

#endif
