/*
 * test_pause.c -- pause and rate limits: xfer_easy_pause and the
 * callbacks' *_FUNC_PAUSE, as a libcurl program uses them.  A paused
 * transfer's socket leaves the application's watch set, the refused bytes
 * come again first, unpausing works from anywhere through the timer,
 * TIMEOUT keeps counting, LOW_SPEED does not fire, and pause, unpause,
 * remove and cleanup in any callback, in any order, on many transfers,
 * run no callback of a removed handle and leak nothing (make asan).
 */
#include "driver.h"

#include <unistd.h>

/* ---- a paused download ---- */

struct pdl {
  XFER *e;
  struct tbuf body;
  int calls;            /* write callback calls */
  int pause_at;         /* the call that returns PAUSE (0: none) */
  int refused_len;      /* what that call was given */
  char refused[32];     /* and its first bytes */
  int again_len;        /* the first call after it */
  char again[32];
  int paused_calls;     /* calls while paused: must be none */
  int paused;
};

static size_t pdl_write(char *p, size_t sz, size_t n, void *ud) {
  struct pdl *d = ud;
  size_t len = sz * n;
  d->calls++;
  if (d->paused) d->paused_calls++;
  if (d->calls == d->pause_at) {
    d->refused_len = (int)len;
    memcpy(d->refused, p, len < 32 ? len : 32);
    d->paused = 1;
    return XFER_WRITEFUNC_PAUSE;
  }
  if (d->calls == d->pause_at + 1) {
    d->again_len = (int)len;
    memcpy(d->again, p, len < 32 ? len : 32);
  }
  tbuf_add(&d->body, p, len);
  return len;
}

static void pdl_init(struct pdl *d, const char *url, int pause_at) {
  memset(d, 0, sizeof(*d));
  d->pause_at = pause_at;
  CHECK(d->e = xfer_easy_init());
  CHECK_EQ(xfer_easy_setopt(d->e, XFEROPT_URL, url), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(d->e, XFEROPT_WRITEFUNCTION, pdl_write), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(d->e, XFEROPT_WRITEDATA, d), XFERE_OK);
}

static int alphabet(const struct tbuf *b, size_t n) {
  size_t i;
  if (b->len != n) return 0;
  for (i = 0; i < n; i++)
    if (b->data[i] != (char)('a' + i % 26)) return 0;
  return 1;
}

/* Paused from the write callback: the socket leaves the watch set (the
 * program sleeps in poll(), no socket_action, no spin), the refused chunk
 * comes again first when unpaused from outside any call, and the body is
 * whole. */
TEST(write_pause_holds_then_redelivers) {
  XFERM *m = xfer_multi_init();
  struct ploop p;
  struct pdl d;
  int running = 1, rounds = 0, paused_rounds = 0, spins;
  XFERMsg *msg;
  int left;
  CHECK(m);
  pl_init(&p, m);
  pdl_init(&d, tx_url("%s/1m.bin", http_base()), 3);
  CHECK_EQ(xfer_multi_add_handle(m, d.e), XFERM_OK);
  while (!d.paused) {
    CHECK_INT(++rounds, <, 10000);
    CHECK(pl_round(&p, m, &running));
  }
  /* Paused: its socket is not watched, no timer runs (the program would
   * sleep; libcurl's too). */
  spins = p.spins;
  while (p.timeout == 0 && paused_rounds++ < 3) pl_round(&p, m, &running);
  CHECK_EQ(p.nfds, 0);
  CHECK_EQ(p.timeout, -1);
  CHECK_INT(p.spins - spins, <=, 1);
  CHECK_EQ(d.paused_calls, 0);
  CHECK_EQ(running, 1);
  /* Unpaused from outside any call: the timer callback hears 0 at once. */
  d.paused = 0;
  CHECK_EQ(xfer_easy_pause(d.e, XFERPAUSE_CONT), XFERE_OK);
  CHECK_EQ(p.timeout, 0);
  pl_run(&p, m, &running, &rounds, 100000);
  msg = xfer_multi_info_read(m, &left);
  CHECK(msg && msg->data.result == XFERE_OK);
  CHECK(d.refused_len > 0);
  CHECK_EQ(d.again_len, d.refused_len);
  CHECK(!memcmp(d.again, d.refused, d.refused_len < 32 ? d.refused_len : 32));
  CHECK(alphabet(&d.body, 1 << 20));
  CHECK_EQ(xfer_multi_remove_handle(m, d.e), XFERM_OK);
  xfer_easy_cleanup(d.e);
  tbuf_free(&d.body);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
}

/* xfer_easy_pause(RECV) from outside, on a running download, then CONT. */
TEST(pause_recv_from_outside) {
  XFERM *m = xfer_multi_init();
  struct ploop p;
  struct pdl d;
  int running = 1, rounds = 0, calls;
  CHECK(m);
  pl_init(&p, m);
  pdl_init(&d, tx_url("%s/1m.bin", http_base()), 0);
  CHECK_EQ(xfer_multi_add_handle(m, d.e), XFERM_OK);
  while (d.calls < 2) {
    CHECK_INT(++rounds, <, 10000);
    CHECK(pl_round(&p, m, &running));
  }
  CHECK_EQ(xfer_easy_pause(d.e, XFERPAUSE_RECV), XFERE_OK);
  CHECK_EQ(p.timeout, 0); /* takes effect at the next timer run */
  calls = d.calls;
  while (p.timeout == 0) {
    CHECK_INT(++rounds, <, 10000);
    CHECK(pl_round(&p, m, &running));
  }
  CHECK_EQ(p.nfds, 0);
  CHECK_EQ(p.timeout, -1);
  usleep(50000);
  CHECK_EQ(d.calls, calls);
  CHECK_EQ(xfer_easy_pause(d.e, XFERPAUSE_CONT), XFERE_OK);
  pl_run(&p, m, &running, &rounds, 100000);
  CHECK(alphabet(&d.body, 1 << 20));
  CHECK_EQ(xfer_multi_remove_handle(m, d.e), XFERM_OK);
  xfer_easy_cleanup(d.e);
  tbuf_free(&d.body);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
}

/* The header callback pauses on the status line: the header lines and
 * the body come after, in order, once unpaused. */
struct hp {
  XFER *e;
  struct tbuf all;       /* headers and body, as delivered */
  int hcalls, paused_once;
};

static size_t hp_header(char *p, size_t sz, size_t n, void *ud) {
  struct hp *h = ud;
  h->hcalls++;
  if (!h->paused_once) {
    h->paused_once = 1;
    return XFER_WRITEFUNC_PAUSE;
  }
  tbuf_add(&h->all, "H:", 2);
  tbuf_add(&h->all, p, sz * n);
  return sz * n;
}

static size_t hp_write(char *p, size_t sz, size_t n, void *ud) {
  struct hp *h = ud;
  tbuf_add(&h->all, "B:", 2);
  tbuf_add(&h->all, p, sz * n);
  return sz * n;
}

TEST(header_pause_keeps_order) {
  XFERM *m = xfer_multi_init();
  struct ploop p;
  struct hp h;
  int running = 1, rounds = 0;
  CHECK(m);
  memset(&h, 0, sizeof(h));
  pl_init(&p, m);
  CHECK(h.e = xfer_easy_init());
  CHECK_EQ(xfer_easy_setopt(h.e, XFEROPT_URL,
                            tx_url("%s/index.html", http_base())), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(h.e, XFEROPT_HEADERFUNCTION, hp_header), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(h.e, XFEROPT_HEADERDATA, &h), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(h.e, XFEROPT_WRITEFUNCTION, hp_write), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(h.e, XFEROPT_WRITEDATA, &h), XFERE_OK);
  CHECK_EQ(xfer_multi_add_handle(m, h.e), XFERM_OK);
  while (!h.paused_once) {
    CHECK_INT(++rounds, <, 1000);
    CHECK(pl_round(&p, m, &running));
  }
  while (p.timeout == 0 && rounds++ < 1000) pl_round(&p, m, &running);
  CHECK_EQ(p.nfds, 0);
  /* the whole response has arrived, yet the transfer waits */
  usleep(20000);
  CHECK_EQ(running, 1);
  CHECK_EQ(h.hcalls, 1);
  CHECK_EQ(h.all.len, 0);
  CHECK_EQ(xfer_easy_pause(h.e, XFERPAUSE_CONT), XFERE_OK);
  pl_run(&p, m, &running, &rounds, 1000);
  CHECK(h.all.len > 0);
  CHECK(!strncmp(h.all.data, "H:HTTP/1.1 200 OK\r\n", 19));
  CHECK(strstr(h.all.data, "H:\r\nB:hello from nginx\n") != NULL);
  CHECK_EQ(info_long(h.e, XFERINFO_RESPONSE_CODE), 200);
  CHECK_EQ(xfer_multi_remove_handle(m, h.e), XFERM_OK);
  xfer_easy_cleanup(h.e);
  tbuf_free(&h.all);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
}

/* ---- bad input, and a handle outside a multi ---- */

TEST(pause_bad_bits_and_no_multi) {
  XFER *e = xfer_easy_init();
  CHECK(e);
  CHECK_EQ(xfer_easy_pause(e, 2), XFERE_BAD_FUNCTION_ARGUMENT);
  CHECK_EQ(xfer_easy_pause(e, 8), XFERE_BAD_FUNCTION_ARGUMENT);
  CHECK_EQ(xfer_easy_pause(e, -1), XFERE_BAD_FUNCTION_ARGUMENT);
  CHECK_EQ(xfer_easy_pause(NULL, XFERPAUSE_ALL), XFERE_BAD_FUNCTION_ARGUMENT);
  /* not in a multi: harmless, and a later run starts unpaused */
  CHECK_EQ(xfer_easy_pause(e, XFERPAUSE_ALL), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_URL,
                            tx_url("%s/index.html", http_base())), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_WRITEFUNCTION, tl_discard), XFERE_OK);
  CHECK_EQ(xfer_easy_perform(e), XFERE_OK);
  CHECK_EQ(xfer_easy_pause(e, XFERPAUSE_CONT), XFERE_OK);
  xfer_easy_cleanup(e);
}

/* ---- time while paused ---- */

/* TIMEOUT keeps counting. */
TEST(timeout_counts_while_paused) {
  XFERM *m = xfer_multi_init();
  struct ploop p;
  struct pdl d;
  int running = 1, rounds = 0;
  uint64_t t0;
  XFERMsg *msg;
  int left;
  CHECK(m);
  pl_init(&p, m);
  pdl_init(&d, tx_url("%s/1m.bin", http_base()), 1);
  CHECK_EQ(xfer_easy_setopt(d.e, XFEROPT_TIMEOUT_MS, 300L), XFERE_OK);
  t0 = tl_now_ms();
  CHECK_EQ(xfer_multi_add_handle(m, d.e), XFERM_OK);
  pl_run(&p, m, &running, &rounds, 10000);
  CHECK_INT(tl_now_ms() - t0, >=, 290);
  CHECK_INT(tl_now_ms() - t0, <, 2000);
  CHECK_INT(rounds, <, 100); /* it slept, it did not spin */
  msg = xfer_multi_info_read(m, &left);
  CHECK(msg && msg->data.result == XFERE_OPERATION_TIMEDOUT);
  CHECK_EQ(xfer_multi_remove_handle(m, d.e), XFERM_OK);
  xfer_easy_cleanup(d.e);
  tbuf_free(&d.body);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
}

/* LOW_SPEED does not fire while paused, and a resumed transfer gets a
 * whole window (libcurl: a paused transfer does not qualify). */
TEST(low_speed_ignores_pause) {
  XFERM *m = xfer_multi_init();
  struct ploop p;
  struct pdl d;
  int running = 1, rounds = 0;
  uint64_t t0;
  XFERMsg *msg;
  int left;
  CHECK(m);
  pl_init(&p, m);
  pdl_init(&d, tx_url("%s/1m.bin", http_base()), 1);
  CHECK_EQ(xfer_easy_setopt(d.e, XFEROPT_LOW_SPEED_LIMIT, 1000L), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(d.e, XFEROPT_LOW_SPEED_TIME, 1L), XFERE_OK);
  CHECK_EQ(xfer_multi_add_handle(m, d.e), XFERM_OK);
  while (!d.paused) {
    CHECK_INT(++rounds, <, 10000);
    CHECK(pl_round(&p, m, &running));
  }
  t0 = tl_now_ms();
  while (tl_now_ms() - t0 < 2500) {
    CHECK_INT(++rounds, <, 10000);
    if (!pl_round(&p, m, &running)) usleep(100000);
  }
  CHECK_EQ(running, 1);
  CHECK_EQ(xfer_easy_pause(d.e, XFERPAUSE_CONT), XFERE_OK);
  pl_run(&p, m, &running, &rounds, 100000);
  msg = xfer_multi_info_read(m, &left);
  CHECK(msg && msg->data.result == XFERE_OK);
  CHECK(alphabet(&d.body, 1 << 20));
  CHECK_EQ(xfer_multi_remove_handle(m, d.e), XFERM_OK);
  xfer_easy_cleanup(d.e);
  tbuf_free(&d.body);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
}

/* ---- sending ---- */

struct up {
  XFER *e;
  size_t sent, total;
  int pauses;            /* READFUNC_PAUSE returned */
  int reads;
};

static size_t up_read(char *buf, size_t sz, size_t n, void *ud) {
  struct up *u = ud;
  size_t room = sz * n, i;
  u->reads++;
  if (u->sent == 0 && u->pauses == 0) {
    u->pauses++;
    return XFER_READFUNC_PAUSE;
  }
  if (u->sent == u->total) return 0;
  if (room > u->total - u->sent) room = u->total - u->sent;
  for (i = 0; i < room; i++) buf[i] = (char)('a' + (u->sent + i) % 26);
  u->sent += room;
  return room;
}

/* READFUNC_PAUSE: nothing more is sent, and the socket is watched only
 * for the server's answer, until unpaused from outside; then the body
 * goes out whole. */
TEST(read_pause_then_unpause) {
  XFERM *m = xfer_multi_init();
  struct ploop p;
  struct up u;
  struct tbuf hdr = {0};
  int running = 1, rounds = 0;
  XFERMsg *msg;
  int left;
  CHECK(m);
  memset(&u, 0, sizeof(u));
  u.total = 300000;
  pl_init(&p, m);
  CHECK(u.e = xfer_easy_init());
  CHECK_EQ(xfer_easy_setopt(u.e, XFEROPT_URL, tx_url("%s/echo", fault_base())),
           XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(u.e, XFEROPT_POST, 1L), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(u.e, XFEROPT_READFUNCTION, up_read), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(u.e, XFEROPT_READDATA, &u), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(u.e, XFEROPT_WRITEFUNCTION, tl_discard), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(u.e, XFEROPT_HEADERFUNCTION, tl_collect), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(u.e, XFEROPT_HEADERDATA, &hdr), XFERE_OK);
  CHECK_EQ(xfer_multi_add_handle(m, u.e), XFERM_OK);
  while (!u.pauses) {
    CHECK_INT(++rounds, <, 1000);
    CHECK(pl_round(&p, m, &running));
  }
  /* paused: nothing to do for the loop, nothing more is read */
  CHECK_EQ(p.timeout, -1);
  CHECK_EQ(p.nfds, 1);
  CHECK_EQ(p.fds[0].events, POLLIN);
  CHECK_EQ(poll(p.fds, 1, 50), 0);
  CHECK_EQ(u.reads, 1);
  CHECK_EQ(xfer_easy_pause(u.e, XFERPAUSE_CONT), XFERE_OK);
  pl_run(&p, m, &running, &rounds, 100000);
  msg = xfer_multi_info_read(m, &left);
  CHECK(msg && msg->data.result == XFERE_OK);
  CHECK_EQ(info_long(u.e, XFERINFO_RESPONSE_CODE), 200);
  CHECK(strstr(hdr.data, "X-Body-Length: 300000\r\n") != NULL);
  CHECK_EQ(info_off(u.e, XFERINFO_SIZE_UPLOAD_T), 300000);
  CHECK_EQ(xfer_multi_remove_handle(m, u.e), XFERM_OK);
  xfer_easy_cleanup(u.e);
  tbuf_free(&hdr);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
}

/* ---- rate limits ---- */

/* MAX_RECV_SPEED_LARGE: 1 MiB at 4 MiB/s takes about 250 ms (within the
 * first tenth's burst), and the loop sleeps meanwhile. */
TEST(max_recv_speed) {
  struct tx *t = tx_new(tx_url("%s/1m.bin", http_base()));
  uint64_t t0 = tl_now_ms(), dt;
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_MAX_RECV_SPEED_LARGE,
                            (xfer_off_t)(4 << 20)), XFERE_OK);
  CHECK_EQ(run_alone(t, 0, 10000), XFERE_OK);
  dt = tl_now_ms() - t0;
  CHECK(alphabet(&t->body, 1 << 20));
  CHECK_INT(dt, >=, 150);
  CHECK_INT(dt, <, 3000);
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_MAX_RECV_SPEED_LARGE,
                            (xfer_off_t)-1), XFERE_BAD_FUNCTION_ARGUMENT);
  tx_free(t);
}

/* MAX_SEND_SPEED_LARGE: 256 KiB at 1 MiB/s takes about 250 ms. */
TEST(max_send_speed) {
  struct tx *t = tx_new(tx_url("%s/echo", fault_base()));
  char *body = pattern(256 * 1024, 0);
  uint64_t t0 = tl_now_ms(), dt;
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_POSTFIELDSIZE, 256L * 1024),
           XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_POSTFIELDS, body), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_MAX_SEND_SPEED_LARGE,
                            (xfer_off_t)(1 << 20)), XFERE_OK);
  CHECK_EQ(run_alone(t, 0, 10000), XFERE_OK);
  dt = tl_now_ms() - t0;
  CHECK_EQ(info_off(t->easy, XFERINFO_SIZE_UPLOAD_T), 256 * 1024);
  CHECK_INT(dt, >=, 150);
  CHECK_INT(dt, <, 3000);
  free(body);
  tx_free(t);
}

/* ---- a thousand paused transfers and every callback misuse ---- */

#define NP 1000

struct pt {
  struct tx x;          /* first: the driver's drain_msgs marks x.done */
  XFER *e;
  int id;
  int state;            /* 0 running, 1 paused, 2 removed, 3 cleaned */
  int dead_calls;       /* callbacks after it was removed or cleaned */
  int done_when_removed;
};

static struct pt pts[NP];
static XFERM *pm;
static int n_pause, n_unpause, n_remove, n_cleanup; /* what was done */
static unsigned prng = 12345;

static unsigned rnd(void) {
  prng = prng * 1103515245u + 12345u;
  return (prng >> 16) & 0x7fff;
}

/* Something to another transfer, from inside a callback. */
static void poke_other(void) {
  struct pt *o = &pts[rnd() % NP];
  if (o->state >= 2 || o->x.done) return;
  switch (rnd() % 4) {
  case 0:
    CHECK_EQ(xfer_easy_pause(o->e, XFERPAUSE_CONT), XFERE_OK);
    o->state = 0;
    n_unpause++;
    break;
  case 1:
    CHECK_EQ(xfer_easy_pause(o->e, XFERPAUSE_ALL), XFERE_OK);
    o->state = 1;
    n_pause++;
    break;
  case 2:
    CHECK_EQ(xfer_multi_remove_handle(pm, o->e), XFERM_OK);
    o->state = 2;
    o->done_when_removed = o->x.done;
    n_remove++;
    break;
  default:
    xfer_easy_cleanup(o->e);
    o->state = 3;
    n_cleanup++;
    break;
  }
}

static size_t pt_cb(struct pt *t, size_t len) {
  unsigned r;
  if (t->state >= 2) {
    t->dead_calls++;
    return len;
  }
  /* per callback: pause often, touch another now and then, and rarely
   * remove or clean up itself (a response has a dozen callbacks) */
  r = rnd() % 64;
  if (r < 8) {
    t->state = 1;
    n_pause++;
    return XFER_WRITEFUNC_PAUSE;
  }
  if (r == 8) {
    CHECK_EQ(xfer_easy_pause(t->e, XFERPAUSE_RECV), XFERE_OK);
    t->state = 1;
    n_pause++;
    return len; /* taken, and paused for what follows */
  }
  if (r == 9) {
    CHECK_EQ(xfer_multi_remove_handle(pm, t->e), XFERM_OK);
    t->state = 2;
    t->done_when_removed = t->x.done;
    n_remove++;
    return len;
  }
  if (r == 10) {
    xfer_easy_cleanup(t->e);
    t->state = 3;
    n_cleanup++;
    return len;
  }
  if (r < 14) poke_other();
  return len;
}

static size_t pt_write(char *p, size_t sz, size_t n, void *ud) {
  (void)p;
  return pt_cb(ud, sz * n);
}

static size_t pt_header(char *p, size_t sz, size_t n, void *ud) {
  (void)p;
  return pt_cb(ud, sz * n);
}

TEST(thousand_paused_transfers_misused_from_callbacks) {
  int i, running = 1, rounds = 0, finished = 0, dead = 0;
  CHECK(pm = xfer_multi_init());
  CHECK_EQ(xfer_multi_setopt(pm, XFERMOPT_MAX_TOTAL_CONNECTIONS, 64L),
           XFERM_OK);
  for (i = 0; i < NP; i++) {
    struct pt *t = &pts[i];
    memset(t, 0, sizeof(*t));
    t->id = i;
    CHECK(t->e = xfer_easy_init());
    CHECK_EQ(xfer_easy_setopt(t->e, XFEROPT_URL,
                              tx_url("%s/%s", http_base(),
                                     i % 3 ? "16k.bin" : "files/1.txt")),
             XFERE_OK);
    CHECK_EQ(xfer_easy_setopt(t->e, XFEROPT_WRITEFUNCTION, pt_write), XFERE_OK);
    CHECK_EQ(xfer_easy_setopt(t->e, XFEROPT_WRITEDATA, t), XFERE_OK);
    CHECK_EQ(xfer_easy_setopt(t->e, XFEROPT_HEADERFUNCTION, pt_header),
             XFERE_OK);
    CHECK_EQ(xfer_easy_setopt(t->e, XFEROPT_HEADERDATA, t), XFERE_OK);
    CHECK_EQ(xfer_easy_setopt(t->e, XFEROPT_TIMEOUT_MS, 20000L), XFERE_OK);
    CHECK_EQ(xfer_easy_setopt(t->e, XFEROPT_PRIVATE, t), XFERE_OK);
    CHECK_EQ(xfer_multi_add_handle(pm, t->e), XFERM_OK);
  }
  while (running) {
    CHECK_INT(++rounds, <, 20000);
    running = drive_epoll_for(pm, 2, NULL); /* and drain_msgs */
    /* from outside: unpause some, remove or clean up a few */
    for (i = 0; i < NP; i++) {
      struct pt *t = &pts[i];
      if (t->state != 1 || t->x.done) continue;
      switch (rnd() % 16) {
      case 12:
        CHECK_EQ(xfer_multi_remove_handle(pm, t->e), XFERM_OK);
        t->state = 2;
        t->done_when_removed = t->x.done;
        n_remove++;
        break;
      case 13:
        xfer_easy_cleanup(t->e);
        t->state = 3;
        n_cleanup++;
        break;
      case 14: case 15:
        break; /* stays paused a while longer */
      default:
        CHECK_EQ(xfer_easy_pause(t->e, XFERPAUSE_CONT), XFERE_OK);
        t->state = 0;
        n_unpause++;
        break;
      }
    }
    /* the last paused ones: unpaused for good after a while */
    if (rounds > 300)
      for (i = 0; i < NP; i++)
        if (pts[i].state == 1 && !pts[i].x.done) {
          CHECK_EQ(xfer_easy_pause(pts[i].e, XFERPAUSE_CONT), XFERE_OK);
          pts[i].state = 0;
        }
  }
  for (i = 0; i < NP; i++) {
    dead += pts[i].dead_calls;
    finished += pts[i].x.done && pts[i].x.result == XFERE_OK;
    /* no message for a handle removed before it finished */
    if (pts[i].state == 2) CHECK_EQ(pts[i].x.done, pts[i].done_when_removed);
    if (pts[i].state == 3) continue;
    if (pts[i].state != 2)
      CHECK_EQ(xfer_multi_remove_handle(pm, pts[i].e), XFERM_OK);
    xfer_easy_cleanup(pts[i].e);
  }
  printf("    %d finished, %d pauses, %d unpauses, %d removes, %d cleanups, "
         "%d rounds\n", finished, n_pause, n_unpause, n_remove, n_cleanup,
         rounds);
  CHECK_EQ(dead, 0);
  CHECK_INT(finished, >, NP / 4);
  CHECK_INT(n_pause, >, NP / 2);
  CHECK_INT(n_unpause, >, NP / 4);
  CHECK_INT(n_remove, >, 10);
  CHECK_INT(n_cleanup, >, 10);
  CHECK_EQ(xfer_multi_cleanup(pm), XFERM_OK);
}
