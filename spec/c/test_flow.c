/*
 * test_flow.c -- flow control and fidelity to libcurl's event contract:
 * the timer value a program keeps is always current (-1 included), a loop
 * that runs until nothing is left ends, one fast transfer cannot hold the
 * loop.  The loops here are written the way libcurl programs write them:
 * the socket callback fills a poll() set, the timer callback's value is
 * kept and passed to poll(), handles are re-added from info_read.
 */
#include "driver.h"

#include <poll.h>
#include <unistd.h>

/* ---- the timer callback: the value a program keeps is current ---- */

/* A transfer that fails as soon as it starts leaves nothing to wait for:
 * the timer that fired to start it must hear -1, or a program that keeps
 * 0 for poll() spins (libcurl calls -1 here). */
TEST(timer_hears_minus_one_after_it_fired) {
  XFERM *m = xfer_multi_init();
  struct ploop p;
  struct tx *t = tx_new("http://[::1/");
  int running = 1, rounds = 0;
  CHECK(m);
  pl_init(&p, m);
  CHECK_EQ(xfer_multi_add_handle(m, t->easy), XFERM_OK);
  CHECK_EQ(p.timeout, 0);
  while (pl_round(&p, m, &running) && rounds < 50) rounds++;
  drain_msgs(m);
  CHECK(t->done);
  CHECK_EQ(t->result, XFERE_URL_MALFORMAT);
  CHECK_EQ(p.timeout, -1);
  CHECK_INT(p.spins, <=, 1);
  CHECK_EQ(xfer_multi_remove_handle(m, t->easy), XFERM_OK);
  tx_free(t);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
}

/* A timer that fired early (a loop's clock is coarser than ours) still
 * holds a deadline: it hears it again, so it is armed once more. */
TEST(timer_fired_early_is_told_again) {
  XFERM *m = xfer_multi_init();
  struct ploop p;
  struct tx *t = tx_new(tx_url("http://127.0.0.1:%d/", fault_port("SILENT")));
  int running = 0, calls;
  CHECK(m);
  pl_init(&p, m);
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_TIMEOUT_MS, 5000L), XFERE_OK);
  CHECK_EQ(xfer_multi_add_handle(m, t->easy), XFERM_OK);
  CHECK_EQ(xfer_multi_socket_action(m, XFER_SOCKET_TIMEOUT, 0, &running),
           XFERM_OK);
  CHECK_EQ(running, 1);
  CHECK_INT(p.timeout, >, 1000); /* the 5 s TIMEOUT */
  calls = p.timer_calls;
  /* fired long before its time */
  CHECK_EQ(xfer_multi_socket_action(m, XFER_SOCKET_TIMEOUT, 0, &running),
           XFERM_OK);
  CHECK_EQ(p.timer_calls, calls + 1);
  CHECK_INT(p.timeout, >, 1000);
  CHECK_EQ(xfer_multi_remove_handle(m, t->easy), XFERM_OK);
  tx_free(t);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
}

/* ---- the end of the loop ---- */

/* A poll() program run until it has nothing left to wait for ends as soon
 * as its transfers do, although nginx keeps their connections for 60 s:
 * idle connections leave the watch set at the next timer run.  A handle
 * re-added from info_read meanwhile finds its connection kept. */
TEST(poll_program_ends_with_kept_connections) {
  XFERM *m = xfer_multi_init();
  struct ploop p;
  struct tx *t[4];
  int running = 0, rounds = 0, i, again = 3;
  uint64_t t0;
  CHECK(m);
  pl_init(&p, m);
  for (i = 0; i < 4; i++) {
    t[i] = tx_new(tx_url("%s/files/%d.txt", http_base(), i));
    CHECK_EQ(xfer_multi_add_handle(m, t[i]->easy), XFERM_OK);
  }
  t0 = tl_now_ms();
  while (pl_round(&p, m, &running)) {
    XFERMsg *msg;
    int left;
    CHECK_INT(++rounds, <, 500);
    CHECK_INT(tl_now_ms() - t0, <, 3000); /* nginx keeps them 60 s */
    while ((msg = xfer_multi_info_read(m, &left)) != NULL) {
      CHECK_EQ(msg->data.result, XFERE_OK);
      if (again > 0 && msg->easy_handle == t[0]->easy) {
        /* run it again, from info_read, as libcurl programs do */
        again--;
        CHECK_EQ(xfer_multi_remove_handle(m, t[0]->easy), XFERM_OK);
        CHECK_EQ(xfer_multi_add_handle(m, t[0]->easy), XFERM_OK);
      }
    }
  }
  CHECK_INT(tl_now_ms() - t0, <, 3000);
  CHECK_EQ(running, 0);
  CHECK_EQ(p.nfds, 0);
  CHECK_EQ(p.timeout, -1);
  /* 0 ms is told for the start, each re-add and each sweep: a handful,
   * where a program that spins would count hundreds. */
  CHECK_INT(p.spins, <=, 16);
  CHECK_EQ(info_long(t[0]->easy, XFERINFO_NUM_CONNECTS), 0);
  for (i = 0; i < 4; i++) {
    CHECK_EQ(xfer_multi_remove_handle(m, t[i]->easy), XFERM_OK);
    tx_free(t[i]);
  }
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
}

/* ---- fair scheduling: one event does bounded work ---- */

/* The engine's per-event byte budget (XFER_EVENT_BUDGET, 256 KiB), plus
 * what a filter already holds (one TLS record) and one read's worth of
 * slack.  Without the budget one event reads until EAGAIN: on loopback,
 * megabytes, while the rest of the loop waits. */
#define FAIR_MAX (256 * 1024 + 64 * 1024)

struct sink {
  size_t total, now, max; /* all, in this call, most in one call */
};

static size_t sink_write(char *p, size_t sz, size_t n, void *ud) {
  struct sink *k = ud;
  (void)p;
  /* a consumer that stalls now and then lets the socket buffer fill, as
   * a busy loop's would: the next event finds megabytes waiting */
  if ((k->total + sz * n) / (4u << 20) != k->total / (4u << 20))
    usleep(20000);
  k->total += sz * n;
  k->now += sz * n;
  return sz * n;
}

static void sink_mark(struct sink *k) {
  if (k->now > k->max) k->max = k->now;
  k->now = 0;
}

static XFER *bulk_easy(const char *url, struct sink *k) {
  XFER *e = xfer_easy_init();
  CHECK(e);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_URL, url), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_WRITEFUNCTION, sink_write), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_WRITEDATA, k), XFERE_OK);
  if (!strncmp(url, "https:", 6))
    CHECK_EQ(xfer_easy_setopt(e, XFEROPT_CAINFO, getenv("TLS_CA")), XFERE_OK);
  return e;
}

#define BULK (64u << 20)

/* socket_action, from a poll() program: every call delivers at most the
 * budget, and the transfer still completes. */
static void fair_socket_action(const char *url) {
  XFERM *m = xfer_multi_init();
  struct ploop p;
  struct sink k = {0, 0, 0};
  XFER *e = bulk_easy(url, &k);
  int running = 1, i, rounds = 0;
  CHECK(m);
  pl_init(&p, m);
  CHECK_EQ(xfer_multi_add_handle(m, e), XFERM_OK);
  /* to the end of the loop: the kept connection leaves it too */
  while (p.nfds || p.timeout >= 0) {
    int n;
    CHECK_INT(++rounds, <, 100000);
    n = poll(p.fds, (nfds_t)p.nfds,
             p.timeout < 0 || p.timeout > 2000 ? 2000 : (int)p.timeout);
    CHECK(n >= 0);
    if (n == 0) {
      CHECK_EQ(xfer_multi_socket_action(m, XFER_SOCKET_TIMEOUT, 0, &running),
               XFERM_OK);
      sink_mark(&k);
      continue;
    }
    for (i = 0; i < p.nfds; i++) {
      int ev = 0;
      short re = p.fds[i].revents;
      if (!re) continue;
      p.fds[i].revents = 0;
      if (re & (POLLIN | POLLHUP)) ev |= XFER_CSELECT_IN;
      if (re & POLLOUT) ev |= XFER_CSELECT_OUT;
      CHECK_EQ(xfer_multi_socket_action(m, p.fds[i].fd, ev, &running),
               XFERM_OK);
      sink_mark(&k);
    }
  }
  drain_msgs(m);
  CHECK_EQ(k.total, BULK);
  CHECK_INT(k.max, <=, FAIR_MAX);
  CHECK_INT(k.max, >, 0);
  CHECK_EQ(xfer_multi_remove_handle(m, e), XFERM_OK);
  xfer_easy_cleanup(e);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
}

TEST(fair_socket_action_plain) {
  fair_socket_action(tx_url("%s/64m.bin", http_base()));
}

/* TLS reads a record at a time and takes what OpenSSL holds before the
 * next event: bounded by that today; this keeps it so. */
TEST(fair_socket_action_tls) {
  fair_socket_action(tx_url("https://localhost:%d/64m.bin",
                            tl_env_int("TLS_GOOD_PORT")));
}

/* perform does the same bounded work per call. */
TEST(fair_perform) {
  XFERM *m = xfer_multi_init();
  struct sink k = {0, 0, 0};
  XFER *e = bulk_easy(tx_url("%s/64m.bin", http_base()), &k);
  int running = 1, rounds = 0;
  CHECK(m);
  CHECK_EQ(xfer_multi_add_handle(m, e), XFERM_OK);
  while (running) {
    CHECK_INT(++rounds, <, 100000);
    CHECK_EQ(xfer_multi_perform(m, &running), XFERM_OK);
    sink_mark(&k);
    if (running) CHECK_EQ(xfer_multi_wait(m, NULL, 0, 1000, NULL), XFERM_OK);
  }
  CHECK_EQ(k.total, BULK);
  CHECK_INT(k.max, <=, FAIR_MAX);
  CHECK_EQ(xfer_multi_remove_handle(m, e), XFERM_OK);
  xfer_easy_cleanup(e);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
}

/* Turns: a small transfer started beside a bulk one ends long before the
 * bulk one has had its fill, in both directions of the loop. */
TEST(fair_small_transfer_not_starved) {
  XFERM *m = xfer_multi_init();
  struct sink k = {0, 0, 0};
  XFER *e = bulk_easy(tx_url("%s/64m.bin", http_base()), &k);
  struct tx *t = tx_new(tx_url("%s/1k.bin", http_base()));
  int running = 1, rounds = 0;
  size_t at_small = 0;
  CHECK(m);
  CHECK_EQ(xfer_multi_add_handle(m, e), XFERM_OK);
  /* the bulk transfer at full speed first */
  while (k.total < (4u << 20)) {
    CHECK_INT(++rounds, <, 100000);
    CHECK_EQ(xfer_multi_perform(m, &running), XFERM_OK);
    CHECK_EQ(xfer_multi_wait(m, NULL, 0, 1000, NULL), XFERM_OK);
  }
  CHECK_EQ(xfer_multi_add_handle(m, t->easy), XFERM_OK);
  at_small = k.total;
  while (running) {
    CHECK_INT(++rounds, <, 100000);
    CHECK_EQ(xfer_multi_perform(m, &running), XFERM_OK);
    drain_msgs(m);
    if (t->done) break;
    CHECK_EQ(xfer_multi_wait(m, NULL, 0, 1000, NULL), XFERM_OK);
  }
  CHECK(t->done);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK_EQ(t->body.len, 1024);
  /* a new connection and one request: a few events, a few budgets */
  CHECK_INT(k.total - at_small, <, (size_t)(8u << 20));
  CHECK_EQ(xfer_multi_remove_handle(m, t->easy), XFERM_OK);
  CHECK_EQ(xfer_multi_remove_handle(m, e), XFERM_OK);
  tx_free(t);
  xfer_easy_cleanup(e);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
}
