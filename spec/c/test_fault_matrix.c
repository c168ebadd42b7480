/*
 * test_fault_matrix.c -- every fault of the fault server (faultserver.lua)
 * x {HTTP, HTTPS} x {perform + poll, socket_action + epoll}: one test per
 * cell, named FAULT_SCHEME_DRIVER (e.g. reset_mid_body_https_epoll).
 *
 * A cell runs the faulty transfer on one multi handle between three good
 * ones of the same scheme (nginx /1k.bin twice, the fault server's
 * /bytes/1000) and checks:
 *   - the faulty transfer's code is one documented for it (docs/faults.md;
 *     a row may allow several where the outcome is a race, see there),
 *     with an ERRORBUFFER message, and what it received is a prefix of
 *     what was sent;
 *   - a transfer that succeeds leaves ERRORBUFFER empty;
 *   - the good transfers all complete, with the right bodies;
 *   - the process's fds and heap (mallinfo2, see heap_used) are back to
 *     their level from before the multi handle was made.  The cell runs
 *     twice: a warm-up (OpenSSL's and libc's one-time allocations), then
 *     the measured run;
 *   - no SIGPIPE kills the process (the harness's SIG_IGN is undone).
 *
 * HTTPS: the fault server speaks plain HTTP only; spec/support/tlsproxy.c
 * (started by servers.sh, FAULT_TLS_*_PORT) terminates TLS in front of it
 * and relays the upstream's FIN as close_notify + FIN and its RST as an
 * RST.  The proxy shakes hands before it connects upstream, so every fault
 * happens after the TLS handshake (faults during the handshake are in
 * test_tls.c).  nginx's HTTPS side is TLS_GOOD_PORT.
 */
#include "driver.h"

#include <malloc.h>
#include <signal.h>
#include <strings.h>
#include <unistd.h>

enum { S_http, S_https };
enum { D_poll, D_epoll };

#define PATTERN 1 /* the body must be a prefix of "abc...zabc..." */

struct fault {
  const char *name;
  const char *port;   /* "" FAULT_PORT, or "CLOSE", "RESET", "SILENT" */
  const char *path;
  const char *codes[2]; /* allowed results, "56" or "7|55|56", per scheme */
  long timeout_ms, low_speed_limit, low_speed_time;
  int upload;         /* a 1 GiB upload (PUT) from the read callback */
  int idle;           /* the idle-close sequence (see idle_cell) */
  int body;           /* PATTERN, or 0: anything */
  long min_body, max_body;
  const char *msg;    /* a word the error message must contain, or NULL */
};

/* The table of docs/faults.md. */
static const struct fault faults[] = {
  {"reset_mid_body", "", "/reset-mid-body?size=100000&send=20000&delay_ms=50",
   {"56", "56"}, 0, 0, 0, 0, 0, PATTERN, 20000, 20000, "reset"},
  {"reset_mid_body_now", "", "/reset-mid-body?size=1000&send=500",
   {"56", "56"}, 0, 0, 0, 0, 0, PATTERN, 0, 500, "reset"},
  {"truncated_chunk", "", "/truncated-chunk",
   {"18", "18"}, 0, 0, 0, 0, 0, PATTERN, 0, 50, NULL},
  {"truncated_body", "", "/truncated-body?size=1000&send=500",
   {"18", "18"}, 0, 0, 0, 0, 0, PATTERN, 500, 500, NULL},
  {"oversized_headers", "", "/oversized-headers?kb=200",
   {"100", "100"}, 0, 0, 0, 0, 0, PATTERN, 0, 0, NULL},
  {"huge_header_line", "", "/huge-header-line?kb=200",
   {"100", "100"}, 0, 0, 0, 0, 0, PATTERN, 0, 0, NULL},
  {"slow_drip", "", "/drip?size=100&every_ms=300&chunk=1",
   {"28", "28"}, 0, 100, 1, 0, 0, PATTERN, 0, 99, NULL},
  {"silence", "", "/silence",
   {"28", "28"}, 400, 0, 0, 0, 0, PATTERN, 0, 0, NULL},
  {"headers_then_silence", "", "/headers-then-silence",
   {"28", "28"}, 400, 0, 0, 0, 0, PATTERN, 0, 0, NULL},
  {"silent_port", "SILENT", "/",
   {"28", "28"}, 400, 0, 0, 0, 0, PATTERN, 0, 0, NULL},
  {"garbage", "", "/garbage",
   {"8", "8"}, 0, 0, 0, 0, 0, 0, 0, 0, NULL},
  {"garbage_binary", "", "/garbage-binary",
   {"8", "8"}, 0, 0, 0, 0, 0, 0, 0, 0, NULL},
  {"conflicting_length", "", "/conflicting-length",
   {"8", "8"}, 0, 0, 0, 0, 0, PATTERN, 0, 0, NULL},
  {"close_after_accept", "CLOSE", "/",
   {"52", "52"}, 0, 0, 0, 0, 0, PATTERN, 0, 0, NULL},
  {"reset_after_accept", "RESET", "/",
   {"7|55|56", "55|56"}, 0, 0, 0, 0, 0, PATTERN, 0, 0, "reset"},
  {"idle_close", "", "/keepalive-idle-close?ms=50",
   {"0", "0"}, 0, 0, 0, 0, 1, 0, 0, 0, NULL},
  {"no_read_upload", "", "/no-read-upload?hold_ms=2000",
   {"28", "28"}, 800, 0, 0, 1, 0, PATTERN, 0, 0, NULL},
};

/* ---- helpers ---- */

static int is_pattern_prefix(const struct tbuf *b) {
  size_t i;
  for (i = 0; i < b->len; i++)
    if (b->data[i] != (char)('a' + i % 26)) return 0;
  return 1;
}

static int code_allowed(const char *codes, int rc) {
  const char *p = codes;
  for (;;) {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p) return 0;
    if (v == rc) return 1;
    if (*end != '|') return 0;
    p = end + 1;
  }
}

static int fault_tls_port(const char *which) {
  char name[64];
  const char *v;
  snprintf(name, sizeof(name), "FAULT_TLS_%s%sPORT", which, *which ? "_" : "");
  v = getenv(name);
  if (!v || !*v)
    tl_fail(__FILE__, __LINE__,
            "%s is not set: the TLS proxy in front of the fault server is "
            "not running (is $BUILD/tlsproxy built? see "
            "spec/support/servers.sh)", name);
  return atoi(v);
}

/* Base URL of the fault server (its port `which`) in scheme s. */
static const char *fbase(int s, const char *which) {
  static char buf[2][64];
  static int k;
  k ^= 1;
  if (s == S_https)
    snprintf(buf[k], sizeof(buf[k]), "https://127.0.0.1:%d",
             fault_tls_port(which));
  else
    snprintf(buf[k], sizeof(buf[k]), "http://127.0.0.1:%d", fault_port(which));
  return buf[k];
}

static const char *nbase(int s) {
  static char buf[64];
  if (s == S_http) return http_base();
  snprintf(buf, sizeof(buf), "https://127.0.0.1:%d",
           tl_env_int("TLS_GOOD_PORT"));
  return buf;
}

static struct tx *mk(int s, const char *url) {
  struct tx *t = tx_new(url);
  if (s == S_https)
    CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_CAINFO, tl_env("TLS_CA")),
             XFERE_OK);
  return t;
}

static size_t upload_read(char *b, size_t sz, size_t n, void *ud) {
  (void)ud;
  memset(b, 'u', sz * n);
  return sz * n;
}

static struct tx *mk_fault(int s, const struct fault *f, const char *path) {
  struct tx *t = mk(s, tx_url("%s%s", fbase(s, f->port), path));
  XFER *e = t->easy;
  if (f->timeout_ms) xfer_easy_setopt(e, XFEROPT_TIMEOUT_MS, f->timeout_ms);
  if (f->low_speed_limit) {
    xfer_easy_setopt(e, XFEROPT_LOW_SPEED_LIMIT, f->low_speed_limit);
    xfer_easy_setopt(e, XFEROPT_LOW_SPEED_TIME, f->low_speed_time);
  }
  if (f->upload) {
    xfer_easy_setopt(e, XFEROPT_UPLOAD, 1L);
    xfer_easy_setopt(e, XFEROPT_READFUNCTION, upload_read);
    xfer_easy_setopt(e, XFEROPT_INFILESIZE_LARGE, (xfer_off_t)1 << 30);
  }
  return t;
}

static void drive(XFERM *m, int d) {
  if (d == D_poll) drive_poll(m, 8000);
  else drive_epoll(m, 8000, NULL);
}

static long num_connects(struct tx *t) {
  long n = -1;
  xfer_easy_getinfo(t->easy, XFERINFO_NUM_CONNECTS, &n);
  return n;
}

/* The three good transfers: nginx /1k.bin, the fault server's
 * /bytes/1000, nginx /1k.bin; all in scheme s. */
static void goods_new(int s, struct tx *g[3]) {
  g[0] = mk(s, tx_url("%s/1k.bin", nbase(s)));
  g[1] = mk(s, tx_url("%s/bytes/1000", fbase(s, "")));
  g[2] = mk(s, tx_url("%s/1k.bin", nbase(s)));
}

static void goods_check_free(XFERM *m, struct tx *g[3]) {
  int i;
  for (i = 0; i < 3; i++) {
    long code = 0;
    CHECK(g[i]->done);
    if (g[i]->result != XFERE_OK)
      tl_fail(__FILE__, __LINE__, "good transfer %d failed: %d (%s)", i,
              g[i]->result, g[i]->errbuf);
    CHECK_EQ(g[i]->body.len, i == 1 ? 1000 : 1024);
    CHECK(is_pattern_prefix(&g[i]->body));
    if (g[i]->errbuf[0]) /* a success leaves it empty */
      tl_fail(__FILE__, __LINE__, "good transfer %d: ERRORBUFFER says \"%s\"",
              i, g[i]->errbuf);
    xfer_easy_getinfo(g[i]->easy, XFERINFO_RESPONSE_CODE, &code);
    CHECK_EQ(code, 200);
    CHECK_EQ(xfer_multi_remove_handle(m, g[i]->easy), XFERM_OK);
    tx_free(g[i]);
  }
}

/* Checks the faulty transfer's result against the row; returns it. */
static int check_fault(const struct fault *f, int s, struct tx *t) {
  int rc = (int)t->result;
  CHECK(t->done);
  if (getenv("FAULT_MATRIX_VERBOSE"))
    fprintf(stderr, "    %s over %s: %d (%s)\n", f->name,
            s == S_https ? "https" : "http", rc, t->errbuf);
  if (!code_allowed(f->codes[s], rc))
    tl_fail(__FILE__, __LINE__, "%s over %s: code %d (%s), want %s", f->name,
            s == S_https ? "https" : "http", rc, t->errbuf, f->codes[s]);
  if (rc != XFERE_OK && !t->errbuf[0])
    tl_fail(__FILE__, __LINE__, "no ERRORBUFFER text for code %d", rc);
  if (rc == XFERE_OK && t->errbuf[0])
    tl_fail(__FILE__, __LINE__, "success, but ERRORBUFFER says \"%s\"",
            t->errbuf);
  if (f->msg && !strcasestr(t->errbuf, f->msg))
    tl_fail(__FILE__, __LINE__, "code %d: message \"%s\" lacks \"%s\"", rc,
            t->errbuf, f->msg);
  if (f->body == PATTERN) {
    if (!is_pattern_prefix(&t->body))
      tl_fail(__FILE__, __LINE__, "body of %zu bytes is not the pattern",
              t->body.len);
    if ((long)t->body.len < f->min_body || (long)t->body.len > f->max_body)
      tl_fail(__FILE__, __LINE__, "body of %zu bytes, want %ld..%ld",
              t->body.len, f->min_body, f->max_body);
  }
  return rc;
}

/* A plain cell: the fault between the goods, one drive. */
static void plain_cell(const struct fault *f, int s, int d) {
  struct tx *g[3], *bad;
  XFERM *m = xfer_multi_init();
  CHECK(m);
  goods_new(s, g);
  bad = mk_fault(s, f, f->path);
  CHECK_EQ(xfer_multi_add_handle(m, g[0]->easy), XFERM_OK);
  CHECK_EQ(xfer_multi_add_handle(m, g[1]->easy), XFERM_OK);
  CHECK_EQ(xfer_multi_add_handle(m, bad->easy), XFERM_OK);
  CHECK_EQ(xfer_multi_add_handle(m, g[2]->easy), XFERM_OK);
  drive(m, d);
  check_fault(f, s, bad);
  goods_check_free(m, g);
  CHECK_EQ(xfer_multi_remove_handle(m, bad->easy), XFERM_OK);
  tx_free(bad);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
}

/* Idle close: the server closes a kept-alive connection 50 ms after its
 * response.  Round 1 (with the goods) leaves it idle in the cache; nothing
 * drives the handle for 300 ms, so the close is not seen as it happens.
 * Round 2 sends the next request (and the goods again): the two requests
 * for the fault server meet its two cached connections, one of them dead,
 * and all must succeed (the dead one detected at reuse, or the request
 * retried on a new connection): exactly one new connection between them. */
static void idle_cell(const struct fault *f, int s, int d) {
  struct tx *g[3], *first, *next;
  XFERM *m = xfer_multi_init();
  CHECK(m);
  goods_new(s, g);
  first = mk_fault(s, f, f->path);
  CHECK_EQ(xfer_multi_add_handle(m, g[0]->easy), XFERM_OK);
  CHECK_EQ(xfer_multi_add_handle(m, g[1]->easy), XFERM_OK);
  CHECK_EQ(xfer_multi_add_handle(m, first->easy), XFERM_OK);
  CHECK_EQ(xfer_multi_add_handle(m, g[2]->easy), XFERM_OK);
  drive(m, d);
  check_fault(f, s, first);
  CHECK_STR(first->body.data, "ok\n");
  goods_check_free(m, g);
  usleep(300000);
  next = mk_fault(s, f, "/bytes/10");
  goods_new(s, g);
  CHECK_EQ(xfer_multi_add_handle(m, next->easy), XFERM_OK);
  CHECK_EQ(xfer_multi_add_handle(m, g[0]->easy), XFERM_OK);
  CHECK_EQ(xfer_multi_add_handle(m, g[1]->easy), XFERM_OK);
  CHECK_EQ(xfer_multi_add_handle(m, g[2]->easy), XFERM_OK);
  drive(m, d);
  check_fault(f, s, next);
  CHECK_EQ(next->body.len, 10);
  CHECK_EQ(num_connects(next) + num_connects(g[1]), 1);
  goods_check_free(m, g);
  CHECK_EQ(xfer_multi_remove_handle(m, first->easy), XFERM_OK);
  CHECK_EQ(xfer_multi_remove_handle(m, next->easy), XFERM_OK);
  tx_free(first);
  tx_free(next);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
}

/* Bytes in use on the heap.  mallinfo2's uordblks counts the chunks in
 * glibc's per-thread cache (tcache: up to 7 freed chunks in each of 64
 * size bins) as in use, which would hide small leaks in noise: the cache
 * is emptied into `held` first (7 allocations per bin), so that what is
 * counted is what is live plus a constant. */
static size_t heap_used(void) {
  enum { BINS = 64, PER = 7 };
  static void *held[BINS * PER];
  struct mallinfo2 mi;
  int i;
  for (i = 0; i < BINS * PER; i++) held[i] = malloc((size_t)(i / PER) * 16 + 8);
  mi = mallinfo2();
  for (i = 0; i < BINS * PER; i++) free(held[i]);
  return mi.uordblks + mi.hblkhd;
}

/* Heap growth allowed between the warm-up and the measured run: stdio and
 * the like, never a transfer's or a connection's worth. */
#define HEAP_SLACK 4096

/* The fault server's open connections (this request's own included). */
static int fault_open(void) {
  int c, r, p, o;
  fault_stats(&c, &r, &p, &o);
  return o;
}

/* Waits until the fault server has closed what the cell left it: a
 * server that does not read (/no-read-upload) holds its connection until
 * hold_ms passes.  The suites after this one count its connections. */
static void wait_fault_open(int open0) {
  uint64_t until = tl_now_ms() + 5000;
  int open;
  while ((open = fault_open()) > open0) {
    if (tl_now_ms() > until)
      tl_fail(__FILE__, __LINE__, "the fault server still has %d "
              "connections open (%d before the cell)", open, open0);
    usleep(100000);
  }
}

static void run_cell(const char *name, int s, int d) {
  const struct fault *f = NULL;
  size_t i, heap0, heap1;
  int fds0, round, open0;
  for (i = 0; i < sizeof(faults) / sizeof(faults[0]); i++)
    if (strcmp(faults[i].name, name) == 0) f = &faults[i];
  CHECK(f);
  if (s == S_https) fault_tls_port(""); /* fail early and clearly */
  /* The harness ignores SIGPIPE; a program need not (xfer promises never
   * to raise a signal, docs/api.md NOSIGNAL): a cell fails on one. */
  signal(SIGPIPE, SIG_DFL);
  open0 = fault_open();
  fds0 = tl_count_fds();
  heap0 = 0;
  for (round = 0; round < 2; round++) { /* a warm-up, then the real one */
    if (round == 1) heap0 = heap_used();
    if (f->idle) idle_cell(f, s, d);
    else plain_cell(f, s, d);
    CHECK_EQ(tl_count_fds(), fds0);
  }
  heap1 = heap_used();
  if (heap1 > heap0 + HEAP_SLACK)
    tl_fail(__FILE__, __LINE__, "heap grew by %zu bytes (from %zu to %zu)",
            heap1 - heap0, heap0, heap1);
  if (getenv("FAULT_MATRIX_VERBOSE"))
    fprintf(stderr, "    %s: heap %+ld\n", name, (long)heap1 - (long)heap0);
  wait_fault_open(open0);
}

/* One line per row of faults[], one test per cell. */
#define FAULT_ROWS(X)                                                    \
  X(reset_mid_body) X(reset_mid_body_now) X(truncated_chunk)              \
  X(truncated_body) X(oversized_headers) X(huge_header_line) X(slow_drip) \
  X(silence) X(headers_then_silence) X(silent_port) X(garbage)            \
  X(garbage_binary) X(conflicting_length) X(close_after_accept)           \
  X(reset_after_accept) X(idle_close) X(no_read_upload)

#define CELL(f, s, d) \
  TEST(f##_##s##_##d) { run_cell(#f, S_##s, D_##d); }
#define ROW(f) \
  CELL(f, http, poll) CELL(f, http, epoll) CELL(f, https, poll) \
  CELL(f, https, epoll)
FAULT_ROWS(ROW)

/* Every row of faults[] has its tests (and every test its row: run_cell). */
TEST(matrix_table_complete) {
#define NAME(f) #f,
  static const char *rows[] = {FAULT_ROWS(NAME)};
  size_t i, j, n = sizeof(faults) / sizeof(faults[0]);
  CHECK_EQ(n, sizeof(rows) / sizeof(rows[0]));
  for (i = 0; i < n; i++) {
    int found = 0;
    for (j = 0; j < n; j++) found |= strcmp(rows[j], faults[i].name) == 0;
    if (!found)
      tl_fail(__FILE__, __LINE__, "row %s has no tests", faults[i].name);
  }
}
