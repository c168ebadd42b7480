/*
 * test_limits.c -- connection limits and the connection cache:
 * MAX_TOTAL_CONNECTIONS (a FIFO queue, one waiter woken per freed slot),
 * MAX_HOST_CONNECTIONS (a host at its limit does not hold up the others),
 * limits changed while transfers run, TIMEOUT_MS counting the time queued,
 * QUEUE_TIME_T, the shared connection cache (MAXCONNECTS, its default,
 * FORBID_REUSE, FRESH_CONNECT), idle connections closed by the server, and
 * the one retry of a request that died on a reused connection.
 *
 * Concurrency is measured by the fault server (/stats "peak" and "open").
 * Its counters are global, so every test that reads them starts with
 * st_begin(): it waits until the only connection the server has open is
 * the test's own stats connection (kept alive on a private multi handle of
 * its own), then resets.  From then on "peak - 1" is the peak of the
 * multi handle under test, "open - 1" its open connections, and
 * "connections" the connections it made.
 *
 * Every test also checks that its fds return to the baseline.
 */
#include "driver.h"

#include <sys/stat.h>
#include <unistd.h>

/* ---- fault server stats over one kept-alive connection ---- */

static struct tx *st_tx;
static int st_fds = -1;

struct fstats {
  int connections, requests, peak, open;
};

static void st_fetch(const char *path, struct fstats *s) {
  long nc = -1;
  if (!st_tx) st_tx = tx_new(NULL);
  CHECK_EQ(xfer_easy_setopt(st_tx->easy, XFEROPT_URL,
                            tx_url("%s%s", fault_base(), path)),
           XFERE_OK);
  st_tx->body.len = 0;
  st_tx->headers.len = 0;
  CHECK_EQ(xfer_easy_perform(st_tx->easy), XFERE_OK);
  xfer_easy_getinfo(st_tx->easy, XFERINFO_NUM_CONNECTS, &nc);
  if (s) {
    CHECK(st_tx->body.data);
    CHECK_EQ(sscanf(st_tx->body.data,
                    "connections=%d requests=%d peak=%d open=%d",
                    &s->connections, &s->requests, &s->peak, &s->open),
             4);
  }
  if (s && nc != 0)
    tl_fail(__FILE__, __LINE__,
            "the stats connection was not reused: the counts are off");
}

/* Takes the fd baseline, waits for the fault server to be quiet, resets. */
static void st_begin(void) {
  struct fstats s;
  uint64_t end;
  st_fds = tl_count_fds();
  st_fetch("/stats/reset", NULL); /* opens the stats connection */
  end = tl_now_ms() + 3000;
  for (;;) {
    st_fetch("/stats", &s);
    if (s.open == 1) break;
    if (tl_now_ms() > end)
      tl_fail(__FILE__, __LINE__, "fault server still has %d open", s.open);
    usleep(10000);
  }
  st_fetch("/stats/reset", NULL);
  st_fetch("/stats", &s);
  CHECK_EQ(s.connections, 0);
  CHECK_EQ(s.peak, 1);
  CHECK_EQ(s.open, 1);
}

/* The counters of the multi handle under test (the stats one removed). */
static void st_get(struct fstats *s) {
  st_fetch("/stats", s);
  s->peak -= 1;
  s->open -= 1;
}

/* Polls until the server sees `want` open connections of the tested multi
 * (closes reach it asynchronously); returns the last count seen. */
static int st_wait_open(int want, int ms) {
  struct fstats s;
  uint64_t end = tl_now_ms() + (uint64_t)ms;
  for (;;) {
    st_get(&s);
    if (s.open == want || tl_now_ms() > end) return s.open;
    usleep(10000);
  }
}

static void st_end(void) {
  tx_free(st_tx);
  st_tx = NULL;
  CHECK_EQ(tl_count_fds(), st_fds);
}

/* ---- helpers ---- */



static XFERM *multi_with(long max_total, long max_host, long maxconnects) {
  XFERM *m = xfer_multi_init();
  CHECK(m);
  if (max_total >= 0)
    CHECK_EQ(xfer_multi_setopt(m, XFERMOPT_MAX_TOTAL_CONNECTIONS, max_total),
             XFERM_OK);
  if (max_host >= 0)
    CHECK_EQ(xfer_multi_setopt(m, XFERMOPT_MAX_HOST_CONNECTIONS, max_host),
             XFERM_OK);
  if (maxconnects >= 0)
    CHECK_EQ(xfer_multi_setopt(m, XFERMOPT_MAXCONNECTS, maxconnects),
             XFERM_OK);
  return m;
}

static struct tx *add(XFERM *m, const char *url) {
  struct tx *t = tx_new(url);
  CHECK_EQ(xfer_multi_add_handle(m, t->easy), XFERM_OK);
  return t;
}

static void remove_free(XFERM *m, struct tx **t, int n) {
  int i;
  for (i = 0; i < n; i++) {
    if (!t[i]) continue;
    CHECK_EQ(xfer_multi_remove_handle(m, t[i]->easy), XFERM_OK);
    tx_free(t[i]);
    t[i] = NULL;
  }
}

/* A perform + poll loop that calls hook(m, arg, now_ms_since_start) after
 * every round, until no transfer runs (or, with stay_ms > 0, for exactly
 * stay_ms: the multi keeps being driven while idle, so that events on idle
 * connections are seen).  Fails the test after limit_ms. */
typedef void (*hook_fn)(XFERM *m, void *arg, uint64_t elapsed_ms);
static void loop(XFERM *m, int limit_ms, int stay_ms, hook_fn hook,
                 void *arg) {
  int running = 1;
  uint64_t t0 = tl_now_ms();
  for (;;) {
    uint64_t el = tl_now_ms() - t0;
    if (el > (uint64_t)limit_ms) tl_fail(__FILE__, __LINE__, "loop: deadline");
    CHECK_EQ(xfer_multi_perform(m, &running), XFERM_OK);
    drain_msgs(m);
    if (hook) hook(m, arg, tl_now_ms() - t0);
    if (stay_ms > 0 ? tl_now_ms() - t0 >= (uint64_t)stay_ms : !running) break;
    CHECK_EQ(xfer_multi_poll(m, NULL, 0, 5, NULL), XFERM_OK);
  }
  drain_msgs(m);
}

/* nginx's access log: its size now, and the lines written after `from`. */
static long log_size(void) {
  struct stat sb;
  if (stat(tl_env("NGINX_ACCESS_LOG"), &sb) != 0) return 0;
  return (long)sb.st_size;
}

/* Waits (bounded) for `want` lines after offset `from`; returns the number
 * of distinct $connection values among them and stores the line count. */
static int log_connections(long from, int want, int *lines) {
  static long seen[4096];
  int nseen = 0, n = 0;
  uint64_t end = tl_now_ms() + 2000;
  char buf[512];
  for (;;) {
    FILE *f = fopen(tl_env("NGINX_ACCESS_LOG"), "r");
    CHECK(f);
    CHECK(fseek(f, from, SEEK_SET) == 0);
    n = nseen = 0;
    while (fgets(buf, sizeof(buf), f)) {
      long c = strtol(buf, NULL, 10);
      int i;
      n++;
      for (i = 0; i < nseen && seen[i] != c; i++) {}
      if (i == nseen && nseen < 4096) seen[nseen++] = c;
    }
    fclose(f);
    if (n >= want || tl_now_ms() > end) break;
    usleep(10000);
  }
  *lines = n;
  return nseen;
}

/* ---- 1. MAX_TOTAL_CONNECTIONS: a FIFO queue ---- */

TEST(max_total_fifo_fault) {
  enum { N = 20 };
  struct tx *t[N];
  struct fstats s;
  struct drive_stats ds;
  XFERM *m;
  int i;
  st_begin();
  m = multi_with(2, -1, -1);
  for (i = 0; i < N; i++)
    t[i] = add(m, tx_url("%s/sleep?ms=50&i=%d", fault_base(), i));
  memset(&ds, 0, sizeof(ds));
  drive_epoll(m, 5000, &ds);
  st_get(&s);
  CHECK_EQ(s.peak, 2);          /* never more than the limit ... */
  CHECK_EQ(s.requests, N);
  CHECK_EQ(s.connections, 2);   /* ... and the two were kept alive */
  CHECK_INT(ds.max_socks_watched, <=, 2);
  for (i = 0; i < N; i++) {
    CHECK(t[i]->done);
    CHECK_EQ(t[i]->result, XFERE_OK);
    CHECK_STR(t[i]->body.data, "slept\n");
  }
  /* FIFO: transfer i starts before i+2 can, and they take the same time */
  for (i = 0; i + 2 < N; i++) {
    if (t[i]->order > t[i + 2]->order)
      tl_fail(__FILE__, __LINE__, "transfer %d completed as #%d, after "
              "transfer %d (#%d)", i, t[i]->order, i + 2, t[i + 2]->order);
    CHECK_INT(info_off(t[i]->easy, XFERINFO_QUEUE_TIME_T), <=,
              info_off(t[i + 2]->easy, XFERINFO_QUEUE_TIME_T) + 5000);
  }
  /* QUEUE_TIME_T (microseconds): ~0 for the first two, ~9 x 50 ms last */
  CHECK_INT(info_off(t[0]->easy, XFERINFO_QUEUE_TIME_T), <, 40000);
  CHECK_INT(info_off(t[1]->easy, XFERINFO_QUEUE_TIME_T), <, 40000);
  CHECK_INT(info_off(t[N - 1]->easy, XFERINFO_QUEUE_TIME_T), >=, 350000);
  CHECK_INT(info_off(t[N - 2]->easy, XFERINFO_QUEUE_TIME_T), >=, 350000);
  CHECK_INT(info_off(t[N - 1]->easy, XFERINFO_QUEUE_TIME_T), <,
            info_off(t[N - 1]->easy, XFERINFO_TOTAL_TIME_T));
  remove_free(m, t, N);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  st_end();
}

TEST(max_total_nginx_keepalive_reuse) {
  enum { N = 200, LIMIT = 8 };
  static struct tx *t[N];
  XFERM *m;
  int i, lines, distinct, fds = tl_count_fds();
  long sum = 0, from = log_size();
  struct drive_stats ds;
  m = multi_with(LIMIT, -1, -1);
  for (i = 0; i < N; i++)
    t[i] = add(m, tx_url("%s/files/%d.txt", http_base(), i));
  memset(&ds, 0, sizeof(ds));
  drive_epoll(m, 5000, &ds);
  CHECK_INT(ds.max_socks_watched, <=, LIMIT);
  for (i = 0; i < N; i++) {
    char want[32];
    CHECK_EQ(t[i]->result, XFERE_OK);
    snprintf(want, sizeof(want), "file %d\n", i);
    CHECK_STR(t[i]->body.data, want);
    sum += info_long(t[i]->easy, XFERINFO_NUM_CONNECTS);
  }
  CHECK_EQ(sum, LIMIT);
  distinct = log_connections(from, N, &lines);
  CHECK_EQ(lines, N);
  CHECK_EQ(distinct, LIMIT);
  remove_free(m, t, N);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  CHECK_EQ(tl_count_fds(), fds);
}

/* ---- 2. one freed slot wakes one waiter ---- */

static void one_slot(int forbid_reuse) {
  struct tx *t[3];
  struct fstats s;
  struct drive_stats ds;
  XFERM *m;
  int i;
  int64_t done_at[3];
  st_begin();
  m = multi_with(1, -1, -1);
  for (i = 0; i < 3; i++) {
    t[i] = add(m, tx_url("%s/sleep?ms=100", fault_base()));
    if (forbid_reuse)
      xfer_easy_setopt(t[i]->easy, XFEROPT_FORBID_REUSE, 1L);
  }
  memset(&ds, 0, sizeof(ds));
  drive_epoll(m, 5000, &ds);
  st_get(&s);
  CHECK_EQ(s.peak, 1);
  CHECK_EQ(s.connections, forbid_reuse ? 3 : 1);
  CHECK_INT(ds.max_socks_watched, <=, 1);
  for (i = 0; i < 3; i++) {
    CHECK_EQ(t[i]->result, XFERE_OK);
    CHECK_EQ(t[i]->order, i + 1);
    done_at[i] = info_off(t[i]->easy, XFERINFO_TOTAL_TIME_T) / 1000;
  }
  CHECK_INT(done_at[0], >=, 90);
  CHECK_INT(done_at[0], <, 250);
  for (i = 1; i < 3; i++) {
    CHECK_INT(done_at[i] - done_at[i - 1], >=, 90);
    CHECK_INT(done_at[i] - done_at[i - 1], <, 250);
  }
  remove_free(m, t, 3);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  st_end();
}

TEST(freed_slot_wakes_one_reused) { one_slot(0); }
TEST(freed_slot_wakes_one_closed) { one_slot(1); }

/* ---- 3. MAX_HOST_CONNECTIONS ---- */

static void host_limit(long max_total, int b_localhost) {
  enum { N = 10 };
  struct tx *a[N + 1], *b;
  struct fstats s;
  XFERM *m;
  int i;
  int64_t b_total, a_last;
  st_begin();
  m = multi_with(max_total, 1, -1);
  for (i = 0; i < N; i++)
    a[i] = add(m, tx_url("%s/sleep?ms=200&i=%d", fault_base(), i));
  if (b_localhost) /* the same server, another host key */
    b = add(m, tx_url("http://localhost:%d/bytes/10", fault_port("")));
  else
    b = add(m, tx_url("%s/1k.bin", http_base()));
  drive_epoll(m, 4000, NULL);
  CHECK_EQ(b->result, XFERE_OK);
  b_total = info_off(b->easy, XFERINFO_TOTAL_TIME_T) / 1000;
  a_last = info_off(a[N - 1]->easy, XFERINFO_TOTAL_TIME_T) / 1000;
  CHECK_INT(b_total, <, 150);     /* not behind host A's queue */
  CHECK_INT(a_last, >=, 1800);    /* A: one at a time */
  CHECK_EQ(b->order, 1);
  for (i = 0; i < N; i++) {
    CHECK_EQ(a[i]->result, XFERE_OK);
    CHECK_EQ(a[i]->order, i + 2);
  }
  st_get(&s);
  CHECK_EQ(s.peak, b_localhost ? 2 : 1);
  a[N] = b;
  remove_free(m, a, N + 1);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  st_end();
}

TEST(max_host_other_host_not_held_up) { host_limit(-1, 0); }
TEST(max_host_localhost_is_another_host) { host_limit(-1, 1); }
/* With MAX_TOTAL too: A's waiters must not sit in the total queue ahead
 * of B (there is a free slot for B). */
TEST(max_host_with_max_total) { host_limit(2, 0); }

/* ---- 4. limits changed while transfers run ---- */

struct raise_arg {
  struct tx **t;
  int n, raised;
  int opt;
  uint64_t raised_at;
};

static void raise_after_first(XFERM *m, void *arg, uint64_t el) {
  struct raise_arg *r = arg;
  int i;
  if (r->raised) return;
  for (i = 0; i < r->n; i++)
    if (r->t[i]->done) {
      CHECK_EQ(xfer_multi_setopt(m, (XFERMoption)r->opt, 0L), XFERM_OK);
      r->raised = 1;
      r->raised_at = el;
      return;
    }
}

static void raise_limit(int opt) {
  enum { N = 10 };
  struct tx *t[N];
  struct raise_arg r;
  struct fstats s;
  XFERM *m;
  int i;
  uint64_t t0;
  st_begin();
  m = opt == XFERMOPT_MAX_TOTAL_CONNECTIONS ? multi_with(1, -1, -1)
                                            : multi_with(-1, 1, -1);
  for (i = 0; i < N; i++)
    t[i] = add(m, tx_url("%s/sleep?ms=200&i=%d", fault_base(), i));
  memset(&r, 0, sizeof(r));
  r.t = t;
  r.n = N;
  r.opt = opt;
  t0 = tl_now_ms();
  loop(m, 4000, 0, raise_after_first, &r);
  CHECK(r.raised);
  CHECK_INT(r.raised_at, >=, 150);
  /* the nine left started together at once: ~200 + 200 ms, not 10 x 200 */
  CHECK_INT(tl_now_ms() - t0, <, 900);
  for (i = 0; i < N; i++) {
    CHECK_EQ(t[i]->result, XFERE_OK);
    if (i) CHECK_INT(info_off(t[i]->easy, XFERINFO_TOTAL_TIME_T) / 1000, <,
                     (int64_t)r.raised_at + 450);
  }
  st_get(&s);
  CHECK_INT(s.peak, >=, 8);
  remove_free(m, t, N);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  st_end();
}

TEST(raise_max_total_while_running) {
  raise_limit(XFERMOPT_MAX_TOTAL_CONNECTIONS);
}
TEST(raise_max_host_while_running) {
  raise_limit(XFERMOPT_MAX_HOST_CONNECTIONS);
}

struct lower_arg {
  struct tx **t;
  int lowered;
};

static void lower_at_100ms(XFERM *m, void *arg, uint64_t el) {
  struct lower_arg *l = arg;
  if (l->lowered || el < 100) return;
  CHECK_EQ(xfer_multi_setopt(m, XFERMOPT_MAX_TOTAL_CONNECTIONS, 1L), XFERM_OK);
  /* two more, added after lowering: they wait for the busy connections */
  l->t[4] = add(m, tx_url("%s/bytes/10", fault_base()));
  l->t[5] = add(m, tx_url("%s/bytes/10", fault_base()));
  l->lowered = 1;
}

/* libcurl: "Lowering the value does not close down any active transfers,
 * it simply does not allow new ones to get made." */
TEST(lower_max_total_keeps_active) {
  struct tx *t[6] = {0};
  struct lower_arg l;
  struct fstats s;
  XFERM *m;
  int i;
  st_begin();
  m = multi_with(0, -1, -1);
  for (i = 0; i < 4; i++)
    t[i] = add(m, tx_url("%s/sleep?ms=300&i=%d", fault_base(), i));
  l.t = t;
  l.lowered = 0;
  loop(m, 4000, 0, lower_at_100ms, &l);
  CHECK(l.lowered);
  for (i = 0; i < 6; i++) {
    CHECK(t[i]->done);
    CHECK_EQ(t[i]->result, XFERE_OK);
  }
  for (i = 0; i < 4; i++) CHECK_STR(t[i]->body.data, "slept\n");
  /* the two added after lowering waited for a busy connection: none of
   * them made a new one, and none ran before a sleeper finished */
  for (i = 4; i < 6; i++) {
    CHECK_EQ(t[i]->body.len, 10);
    CHECK_INT(t[i]->order, >, 1);
    CHECK_INT(info_off(t[i]->easy, XFERINFO_QUEUE_TIME_T), >=, 150000);
    CHECK_EQ(info_long(t[i]->easy, XFERINFO_NUM_CONNECTS), 0);
  }
  st_get(&s);
  CHECK_EQ(s.peak, 4);
  CHECK_EQ(s.connections, 4);   /* no connection was closed and redone */
  remove_free(m, t, 6);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  st_end();
}

/* ---- 5. TIMEOUT_MS includes the time queued ---- */

TEST(timeout_counts_queue_time) {
  struct tx *t[3];
  XFERM *m;
  int64_t tt, qt;
  st_begin();
  m = multi_with(1, -1, -1);
  t[0] = add(m, tx_url("%s/sleep?ms=700", fault_base()));
  t[1] = add(m, tx_url("%s/bytes/10?timeout", fault_base()));
  CHECK_EQ(xfer_easy_setopt(t[1]->easy, XFEROPT_TIMEOUT_MS, 300L), XFERE_OK);
  t[2] = add(m, tx_url("%s/bytes/10", fault_base()));
  drive_epoll(m, 4000, NULL);
  /* the queued one times out first, while the first still runs */
  CHECK_EQ(t[1]->result, XFERE_OPERATION_TIMEDOUT);
  CHECK_EQ(t[1]->order, 1);
  CHECK(t[1]->errbuf[0] != 0);
  tt = info_off(t[1]->easy, XFERINFO_TOTAL_TIME_T);
  CHECK_INT(tt, >=, 290000);
  CHECK_INT(tt, <, 550000);
  CHECK_EQ(t[1]->body.len, 0);
  /* the others are not disturbed; the third got the slot */
  CHECK_EQ(t[0]->result, XFERE_OK);
  CHECK_EQ(t[2]->result, XFERE_OK);
  CHECK_EQ(t[0]->order, 2);
  CHECK_EQ(t[2]->order, 3);
  CHECK_INT(info_off(t[0]->easy, XFERINFO_QUEUE_TIME_T), <, 50000);
  /* QUEUE_TIME_T is in microseconds: ~700 ms for the third */
  qt = info_off(t[2]->easy, XFERINFO_QUEUE_TIME_T);
  CHECK_INT(qt, >=, 600000);
  CHECK_INT(qt, <, 1500000);
  CHECK_INT(qt, <=, info_off(t[2]->easy, XFERINFO_TOTAL_TIME_T));
  remove_free(m, t, 3);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  st_end();
}

/* A queued transfer whose TIMEOUT_MS is long enough runs normally. */
TEST(timeout_longer_than_queue_time) {
  struct tx *t[2];
  XFERM *m;
  st_begin();
  m = multi_with(1, -1, -1);
  t[0] = add(m, tx_url("%s/sleep?ms=200", fault_base()));
  t[1] = add(m, tx_url("%s/sleep?ms=100", fault_base()));
  CHECK_EQ(xfer_easy_setopt(t[1]->easy, XFEROPT_TIMEOUT_MS, 1500L), XFERE_OK);
  drive_epoll(m, 4000, NULL);
  CHECK_EQ(t[0]->result, XFERE_OK);
  CHECK_EQ(t[1]->result, XFERE_OK);
  CHECK_INT(info_off(t[1]->easy, XFERINFO_QUEUE_TIME_T), >=, 150000);
  remove_free(m, t, 2);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  st_end();
}

/* ---- 6. the connection cache ---- */

/* These drive one multi handle several times over: they use perform + poll
 * (see reuse_across_two_event_loops for the socket_action side). */

TEST(cache_shared_across_easies) {
  struct tx *a, *b;
  XFERM *m;
  int fds = tl_count_fds(), lines;
  long from = log_size();
  m = xfer_multi_init();
  a = add(m, tx_url("%s/1k.bin", http_base()));
  drive_poll(m, 5000);
  CHECK_EQ(a->result, XFERE_OK);
  CHECK_EQ(xfer_multi_remove_handle(m, a->easy), XFERM_OK);
  b = add(m, tx_url("%s/16k.bin", http_base()));
  drive_poll(m, 5000);
  CHECK_EQ(b->result, XFERE_OK);
  CHECK_EQ(b->body.len, 16384);
  CHECK_EQ(info_long(a->easy, XFERINFO_NUM_CONNECTS), 1);
  CHECK_EQ(info_long(b->easy, XFERINFO_NUM_CONNECTS), 0);
  CHECK(info_long(a->easy, XFERINFO_LOCAL_PORT) > 0);
  CHECK_EQ(info_long(b->easy, XFERINFO_LOCAL_PORT),
           info_long(a->easy, XFERINFO_LOCAL_PORT));
  CHECK_EQ(log_connections(from, 2, &lines), 1);
  CHECK_EQ(lines, 2);
  CHECK_EQ(xfer_multi_remove_handle(m, b->easy), XFERM_OK);
  tx_free(a);
  tx_free(b);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  CHECK_EQ(tl_count_fds(), fds);
}

/* Runs n parallel transfers (added together) and returns the sum of their
 * NUM_CONNECTS. */
static long batch(XFERM *m, int n, const char *path, int fresh) {
  struct tx *t[16];
  long sum = 0;
  int i;
  CHECK(n <= 16);
  for (i = 0; i < n; i++) {
    t[i] = tx_new(tx_url("%s%s", fault_base(), path));
    if (fresh) xfer_easy_setopt(t[i]->easy, XFEROPT_FRESH_CONNECT, 1L);
    CHECK_EQ(xfer_multi_add_handle(m, t[i]->easy), XFERM_OK);
  }
  drive_poll(m, 4000);
  for (i = 0; i < n; i++) {
    CHECK_EQ(t[i]->result, XFERE_OK);
    sum += info_long(t[i]->easy, XFERINFO_NUM_CONNECTS);
  }
  remove_free(m, t, n);
  return sum;
}

TEST(maxconnects_bounds_idle) {
  struct fstats s;
  XFERM *m;
  st_begin();
  m = multi_with(-1, -1, 2);
  /* all five run at once: five connections */
  CHECK_EQ(batch(m, 5, "/sleep?ms=100", 0), 5);
  CHECK_EQ(st_wait_open(2, 1000), 2); /* only two kept */
  CHECK_EQ(batch(m, 5, "/sleep?ms=100", 0), 3); /* two reused */
  st_get(&s);
  CHECK_EQ(s.connections, 8);
  CHECK_EQ(s.peak, 5);
  CHECK_EQ(st_wait_open(2, 1000), 2);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  CHECK_EQ(st_wait_open(0, 1000), 0);
  st_end();
}

/* Default cache size: 4 x the number of added easy handles.  Two handles
 * added, five rounds of two FRESH_CONNECT transfers each: ten connections
 * made, eight (4 x 2) kept; then ten plain transfers reuse exactly those. */
TEST(maxconnects_default_4x_added) {
  struct fstats s;
  XFERM *m;
  int r;
  st_begin();
  m = xfer_multi_init();
  for (r = 0; r < 5; r++) CHECK_EQ(batch(m, 2, "/bytes/10", 1), 2);
  CHECK_EQ(st_wait_open(8, 1000), 8);
  CHECK_EQ(batch(m, 10, "/sleep?ms=100", 0), 2);
  st_get(&s);
  CHECK_EQ(s.connections, 12);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  st_end();
}

/* ... and one handle added: four kept. */
TEST(maxconnects_default_4x_one_handle) {
  XFERM *m;
  int r;
  st_begin();
  m = xfer_multi_init();
  for (r = 0; r < 6; r++) CHECK_EQ(batch(m, 1, "/bytes/10", 1), 1);
  CHECK_EQ(st_wait_open(4, 1000), 4);
  CHECK_EQ(batch(m, 6, "/sleep?ms=100", 0), 2);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  st_end();
}

/* The default is capped by MAX_TOTAL_CONNECTIONS when that is set (xfer's
 * rule; libcurl's man page is silent on it).  Only observable when the
 * total limit is lowered below the connections already open: MAX_TOTAL=8
 * with 10 handles leaves 8 idle; lowering it to 2 (10 handles still
 * added, so 4 x 10 = 40 uncapped) keeps at most 2 of them. */
TEST(maxconnects_default_capped_by_max_total) {
  struct tx *t[10];
  XFERM *m;
  int i;
  st_begin();
  m = multi_with(8, -1, -1);
  for (i = 0; i < 10; i++) t[i] = add(m, tx_url("%s/sleep?ms=50", fault_base()));
  drive_poll(m, 4000);
  for (i = 0; i < 10; i++) CHECK_EQ(t[i]->result, XFERE_OK);
  CHECK_EQ(st_wait_open(8, 1000), 8);
  CHECK_EQ(xfer_multi_setopt(m, XFERMOPT_MAX_TOTAL_CONNECTIONS, 2L), XFERM_OK);
  CHECK_INT(st_wait_open(2, 1000), <=, 2);
  /* run them again: still at most 2 kept, and the limit holds */
  for (i = 0; i < 10; i++) {
    CHECK_EQ(xfer_multi_remove_handle(m, t[i]->easy), XFERM_OK);
    t[i]->done = 0;
    CHECK_EQ(xfer_multi_add_handle(m, t[i]->easy), XFERM_OK);
  }
  drive_poll(m, 4000);
  for (i = 0; i < 10; i++) CHECK_EQ(t[i]->result, XFERE_OK);
  CHECK_INT(st_wait_open(2, 1000), <=, 2);
  remove_free(m, t, 10);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  st_end();
}

TEST(forbid_reuse_closes_after_use) {
  struct tx *a, *b;
  struct fstats s;
  XFERM *m;
  st_begin();
  m = xfer_multi_init();
  a = add(m, tx_url("%s/bytes/10", fault_base()));
  xfer_easy_setopt(a->easy, XFEROPT_FORBID_REUSE, 1L);
  drive_poll(m, 4000);
  CHECK_EQ(a->result, XFERE_OK);
  CHECK_EQ(st_wait_open(0, 1000), 0); /* closed at once, not kept idle */
  b = add(m, tx_url("%s/bytes/10", fault_base()));
  drive_poll(m, 4000);
  CHECK_EQ(b->result, XFERE_OK);
  CHECK_EQ(info_long(b->easy, XFERINFO_NUM_CONNECTS), 1);
  CHECK(info_long(b->easy, XFERINFO_LOCAL_PORT) !=
        info_long(a->easy, XFERINFO_LOCAL_PORT));
  st_get(&s);
  CHECK_EQ(s.connections, 2);
  CHECK_EQ(s.open, 1); /* b's connection is kept */
  xfer_multi_remove_handle(m, a->easy);
  xfer_multi_remove_handle(m, b->easy);
  tx_free(a);
  tx_free(b);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  st_end();
}

TEST(fresh_connect_forces_new) {
  struct tx *t[3];
  struct fstats s;
  XFERM *m;
  int i;
  st_begin();
  m = xfer_multi_init();
  for (i = 0; i < 3; i++) {
    t[i] = add(m, tx_url("%s/bytes/10", fault_base()));
    if (i == 1) xfer_easy_setopt(t[i]->easy, XFEROPT_FRESH_CONNECT, 1L);
    drive_poll(m, 4000);
    CHECK_EQ(t[i]->result, XFERE_OK);
    CHECK_EQ(xfer_multi_remove_handle(m, t[i]->easy), XFERM_OK);
  }
  CHECK_EQ(info_long(t[0]->easy, XFERINFO_NUM_CONNECTS), 1);
  CHECK_EQ(info_long(t[1]->easy, XFERINFO_NUM_CONNECTS), 1);
  CHECK(info_long(t[1]->easy, XFERINFO_LOCAL_PORT) !=
        info_long(t[0]->easy, XFERINFO_LOCAL_PORT));
  /* the third reuses one of the two cached connections */
  CHECK_EQ(info_long(t[2]->easy, XFERINFO_NUM_CONNECTS), 0);
  st_get(&s);
  CHECK_EQ(s.connections, 2);
  for (i = 0; i < 3; i++) tx_free(t[i]);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  st_end();
}

/* FRESH_CONNECT also for a transfer that waits in a queue: the connection
 * a finished transfer releases is not handed to it; it is closed, and the
 * freed slot gives the waiter a new connection.  Both queues: the host's
 * (MAX_HOST_CONNECTIONS) and the multi's (MAX_TOTAL_CONNECTIONS). */
static void fresh_connect_queued(long max_total, long max_host) {
  XFERM *m = multi_with(max_total, max_host, -1);
  struct tx *t[3];
  int i;
  for (i = 0; i < 3; i++) {
    t[i] = add(m, tx_url("%s/bytes/10?i=%d", fault_base(), i));
    if (i == 1) xfer_easy_setopt(t[i]->easy, XFEROPT_FRESH_CONNECT, 1L);
  }
  drive_poll(m, 4000);
  for (i = 0; i < 3; i++) CHECK_EQ(t[i]->result, XFERE_OK);
  CHECK_EQ(info_long(t[0]->easy, XFERINFO_NUM_CONNECTS), 1);
  CHECK_EQ(info_long(t[1]->easy, XFERINFO_NUM_CONNECTS), 1);
  CHECK(info_long(t[1]->easy, XFERINFO_LOCAL_PORT) !=
        info_long(t[0]->easy, XFERINFO_LOCAL_PORT));
  /* the next one, without the option, takes the fresh connection */
  CHECK_EQ(info_long(t[2]->easy, XFERINFO_NUM_CONNECTS), 0);
  remove_free(m, t, 3);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
}

/* A FRESH_CONNECT transfer added while its host's one allowed connection
 * is idle: that connection is closed for it (it used to wait for ever:
 * nothing releases an idle connection; found by fuzz_engine). */
TEST(fresh_connect_behind_an_idle_connection_at_the_host_limit) {
  XFERM *m = multi_with(-1, 1, -1);
  struct tx *t[2];
  int i;
  for (i = 0; i < 2; i++) {
    t[i] = add(m, tx_url("%s/bytes/10?i=%d", fault_base(), i));
    if (i == 1) xfer_easy_setopt(t[i]->easy, XFEROPT_FRESH_CONNECT, 1L);
    drive_poll(m, 4000);
    CHECK_EQ(t[i]->result, XFERE_OK);
    CHECK_EQ(info_long(t[i]->easy, XFERINFO_NUM_CONNECTS), 1);
  }
  CHECK(info_long(t[1]->easy, XFERINFO_LOCAL_PORT) !=
        info_long(t[0]->easy, XFERINFO_LOCAL_PORT));
  remove_free(m, t, 2);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
}

TEST(fresh_connect_queued_for_host) { fresh_connect_queued(-1, 1); }
TEST(fresh_connect_queued_for_total) { fresh_connect_queued(1, -1); }

/* ---- 7. a connection the server closed while idle ---- */

/* A finished transfer whose connection is idle now; the server closes it
 * 50 ms after the response. */
static struct tx *idle_closing(XFERM *m) {
  struct tx *a = add(m, tx_url("%s/keepalive-idle-close?ms=50", fault_base()));
  drive_poll(m, 4000);
  CHECK_EQ(a->result, XFERE_OK);
  CHECK_STR(a->body.data, "ok\n");
  return a;
}

static void idle_closed(int keep_driving) {
  struct tx *t[2], *b;
  struct fstats s;
  XFERM *m;
  st_begin();
  m = xfer_multi_init();
  t[0] = idle_closing(m);
  if (keep_driving) {
    loop(m, 2000, 300, NULL, NULL); /* the close event is processed */
    /* ... and the connection closed on our side too */
    CHECK_EQ(st_wait_open(0, 1000), 0);
  } else {
    usleep(300000);
  }
  b = add(m, tx_url("%s/bytes/10", fault_base()));
  drive_poll(m, 4000);
  CHECK_EQ(b->result, XFERE_OK);
  CHECK_EQ(b->body.len, 10);
  CHECK_EQ(info_long(b->easy, XFERINFO_NUM_CONNECTS), 1);
  st_get(&s);
  CHECK_EQ(s.connections, 2);
  t[1] = b;
  remove_free(m, t, 2);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  st_end();
}

TEST(idle_close_detected_while_driven) { idle_closed(1); }
/* Not driven while idle: the close must be noticed at reuse time (or the
 * request retried), never reported as an error. */
TEST(idle_close_detected_at_reuse) { idle_closed(0); }

/* perform + poll watches idle connections too, not only when nothing runs:
 * a server's close of an idle one is seen at once while another transfer
 * keeps the loop busy (it would otherwise stay open until reuse). */
struct seen_close {
  int fds;       /* this process's fds once a's connection is closed */
  uint64_t at;   /* when that was seen, 0: not yet */
};
static void closed_yet(XFERM *m, void *arg, uint64_t el) {
  struct seen_close *sc = arg;
  (void)m;
  if (!sc->at && tl_count_fds() == sc->fds) sc->at = el ? el : 1;
}
TEST(idle_close_seen_while_other_runs) {
  struct tx *t[2], *b;
  struct seen_close sc = {0, 0};
  XFERM *m;
  st_begin();
  m = xfer_multi_init();
  t[0] = idle_closing(m);
  /* b's connection replaces a's in the count once a's is closed; the
   * server closes a's 50 ms after its response, b takes 600 ms. */
  sc.fds = tl_count_fds();
  b = tx_new(tx_url("%s/sleep?ms=600", fault_base()));
  xfer_easy_setopt(b->easy, XFEROPT_FRESH_CONNECT, 1L); /* a's stays idle */
  CHECK_EQ(xfer_multi_add_handle(m, b->easy), XFERM_OK);
  loop(m, 3000, 0, closed_yet, &sc);
  CHECK_EQ(b->result, XFERE_OK);
  CHECK(sc.at > 0);
  CHECK(sc.at < 400);
  t[1] = b;
  remove_free(m, t, 2);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  st_end();
}

/* ---- 8. retry once on a reused connection ---- */

TEST(retry_on_dead_reused_connection) {
  struct tx *a, *b;
  struct fstats s;
  XFERM *m;
  st_begin();
  m = xfer_multi_init();
  a = add(m, tx_url("%s/close-after-response", fault_base()));
  drive_poll(m, 4000);
  CHECK_EQ(a->result, XFERE_OK);
  CHECK_STR(a->body.data, "ok\n");
  b = add(m, tx_url("%s/bytes/10", fault_base()));
  drive_poll(m, 4000);
  CHECK_EQ(b->result, XFERE_OK);
  CHECK_EQ(b->body.len, 10);
  CHECK_EQ(info_long(b->easy, XFERINFO_NUM_CONNECTS), 1);
  {
    long code = info_long(b->easy, XFERINFO_RESPONSE_CODE);
    CHECK_EQ(code, 200);
  }
  st_get(&s);
  CHECK_EQ(s.connections, 2);
  xfer_multi_remove_handle(m, a->easy);
  xfer_multi_remove_handle(m, b->easy);
  tx_free(a);
  tx_free(b);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  st_end();
}

/* The request must really go out on the dead connection for the retry to
 * be needed: with MAX_TOTAL=1 the second transfer waits in the queue and
 * is handed the connection the moment the first is done with it, before
 * the server's FIN can be seen.  The server reads and drops the request
 * (it closed its side), so the client sees EOF before any response byte:
 * libcurl retries such a request once on a new connection. */
static void retry_handed(int use_epoll) {
  struct tx *a, *b;
  struct fstats s;
  XFERM *m;
  st_begin();
  m = multi_with(1, -1, -1);
  a = add(m, tx_url("%s/close-after-response", fault_base()));
  b = add(m, tx_url("%s/bytes/10", fault_base()));
  if (use_epoll) drive_epoll(m, 4000, NULL);
  else drive_poll(m, 4000);
  CHECK_EQ(a->result, XFERE_OK);
  CHECK_STR(a->body.data, "ok\n");
  CHECK_EQ(b->result, XFERE_OK);
  CHECK_EQ(b->body.len, 10);
  CHECK_EQ(info_long(b->easy, XFERINFO_NUM_CONNECTS), 1);
  st_get(&s);
  CHECK_EQ(s.connections, 2);
  CHECK_EQ(s.requests, 2);
  CHECK_EQ(s.peak, 1);
  xfer_multi_remove_handle(m, a->easy);
  xfer_multi_remove_handle(m, b->easy);
  tx_free(a);
  tx_free(b);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  st_end();
}

TEST(retry_when_handed_dead_connection) { retry_handed(1); }
TEST(retry_when_handed_dead_connection_poll) { retry_handed(0); }

/* The same through perform + poll, several times in a row on one multi. */
TEST(retry_on_dead_reused_connection_poll) {
  struct tx *t;
  struct fstats s;
  XFERM *m;
  int i;
  st_begin();
  m = xfer_multi_init();
  for (i = 0; i < 3; i++) {
    t = add(m, tx_url("%s/close-after-response", fault_base()));
    drive_poll(m, 4000);
    CHECK_EQ(t->result, XFERE_OK);
    CHECK_STR(t->body.data, "ok\n");
    CHECK_EQ(info_long(t->easy, XFERINFO_NUM_CONNECTS), 1);
    xfer_multi_remove_handle(m, t->easy);
    tx_free(t);
  }
  st_get(&s);
  CHECK_EQ(s.connections, 3);
  CHECK_EQ(s.requests, 3);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  st_end();
}

/* ---- the cache and the socket callback ---- */

/* An application may drive one multi handle with one event loop, let it
 * go when nothing runs (drive_epoll closes its epoll and unsets the
 * callbacks), and later drive it with another.  A transfer that reuses a
 * cached connection must then be announced to the new socket callback:
 * libcurl's CURLMOPT_SOCKETFUNCTION documents CURL_POLL_REMOVE as "no
 * longer used by libcurl for any active transfer. It might soon be added
 * again", so a reused connection is always added again. */
TEST(reuse_across_two_event_loops) {
  struct tx *a, *b;
  struct drive_stats ds;
  XFERM *m;
  int fds = tl_count_fds();
  m = xfer_multi_init();
  a = add(m, tx_url("%s/1k.bin", http_base()));
  drive_epoll(m, 2000, NULL);
  CHECK_EQ(a->result, XFERE_OK);
  b = add(m, tx_url("%s/1k.bin", http_base()));
  memset(&ds, 0, sizeof(ds));
  drive_epoll(m, 2000, &ds);
  CHECK_EQ(b->result, XFERE_OK);
  CHECK_EQ(b->body.len, 1024);
  CHECK_EQ(info_long(b->easy, XFERINFO_NUM_CONNECTS), 0);
  CHECK_INT(ds.socket_calls_by_what[XFER_POLL_IN] +
            ds.socket_calls_by_what[XFER_POLL_OUT] +
            ds.socket_calls_by_what[XFER_POLL_INOUT], >=, 1);
  xfer_multi_remove_handle(m, a->easy);
  xfer_multi_remove_handle(m, b->easy);
  tx_free(a);
  tx_free(b);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  CHECK_EQ(tl_count_fds(), fds);
}

/* ---- 7. a freed connection and the transfers of its own host ---- */

/* A crawler's shape: 200 transfers over 5 hosts, in turn, queued at once
 * under 4 connections in all and 2 per host.  A connection that frees goes
 * to the next transfer of its own host even when another host's stands
 * first in the queue, which gets its slot (another host's connection is
 * closed for it) after 4 such passes: with 5 hosts over 4 connections one
 * host is always without, so about one completion in 5 moves a slot.
 * Closing for the first in line at every completion opened a connection
 * per transfer here (W12: 250 for 4,000 transfers, now 20). */
TEST(freed_connection_goes_to_its_own_hosts_queued_transfer) {
  enum { N = 200, H = 5 };
  int port = tl_env_int("NGINX_PORT"), i;
  struct xfer_slist *pins = NULL;
  struct tx *t[N];
  XFERM *m = multi_with(4, 2, -1);
  long connects = 0;
  for (i = 0; i < H; i++)
    pins = xfer_slist_append(pins, tx_url("h%d.test:%d:127.0.0.1", i, port));
  for (i = 0; i < N; i++) {
    t[i] = tx_new(tx_url("http://h%d.test:%d/1k.bin", i % H, port));
    xfer_easy_setopt(t[i]->easy, XFEROPT_RESOLVE, pins);
    CHECK_EQ(xfer_multi_add_handle(m, t[i]->easy), XFERM_OK);
  }
  drive_epoll(m, 20000, NULL);
  for (i = 0; i < N; i++) {
    CHECK_EQ(t[i]->result, XFERE_OK);
    connects += info_long(t[i]->easy, XFERINFO_NUM_CONNECTS);
  }
  CHECKF(connects <= N / 4, "%ld connections for %d transfers", connects, N);
  remove_free(m, t, N);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  xfer_slist_free_all(pins);
}
