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
/* n bytes at s as a C string literal (escaped; cut after 160 bytes), in one
 * of a few static buffers: for failure messages. */
const char *tl_quote(const void *s, size_t n);

/* Tables of cases.  A test that loops over a table says which row it is
 * at, and tl_fail starts its message with "row NAME: ".  FOR_ROWS(r, table)
 * does it for an array of rows that have a `name`; without it, tl_row()
 * names a row (printf-like) and tl_row_done() ends the table. */
void tl_row(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tl_row_done(void);
int tl_at_row(const char *name); /* tl_row(name), or done for NULL */
#define NROWS(a) (sizeof(a) / sizeof((a)[0]))
/* A string literal and its length, NULs and all: "a\0b", 3. */
#define LIT(s) s, sizeof(s) - 1
#define FOR_ROWS(r, table)                                           \
  for ((r) = (table);                                                \
       tl_at_row((r) < (table) + NROWS(table) ? (r)->name : NULL); (r)++)

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

/* Fails with a message of its own when c is false. */
#define CHECKF(c, ...)                                               \
  do {                                                               \
    if (!(c)) tl_fail(__FILE__, __LINE__, __VA_ARGS__);              \
  } while (0)

/* The bytes [a, a+alen) are exactly [b, b+blen). */
#define CHECK_MEM(a, alen, b, blen)                                  \
  do {                                                               \
    const void *tl_ma_ = (a), *tl_mb_ = (b);                         \
    size_t tl_la_ = (size_t)(alen), tl_lb_ = (size_t)(blen);         \
    if (tl_la_ != tl_lb_ || (tl_la_ && memcmp(tl_ma_, tl_mb_, tl_la_))) \
      tl_fail(__FILE__, __LINE__, "%s == %s (%s vs %s)", #a, #b,     \
              tl_quote(tl_ma_, tl_la_), tl_quote(tl_mb_, tl_lb_));   \
  } while (0)

#define CHECK_STR(a, b)                                              \
  do {                                                               \
    const char *tl_sa_ = (a), *tl_sb_ = (b);                         \
    if (!tl_sa_ || !tl_sb_ || strcmp(tl_sa_, tl_sb_) != 0)           \
      tl_fail(__FILE__, __LINE__, "%s == %s (\"%s\" vs \"%s\")", #a, \
              #b, tl_sa_ ? tl_sa_ : "(null)", tl_sb_ ? tl_sb_ : "(null)"); \
  } while (0)

#endif
