/* test_multi_api.c -- the multi API as libcurl documents it: adding and
 * removing handles at any time, the timer and socket callbacks, assign,
 * re-entrancy rules, perform/wait/poll/wakeup, the deprecated socket calls,
 * error texts.  Every test ends with the fd count it started with. */
#include "driver.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- an epoll loop that checks the socket/timer callback contracts ---- */

#define MAXFD 4096
enum { MODE_ACTION, MODE_SOCKET, MODE_ALL }; /* socket_action, socket, _all */

struct loop {
  XFERM *m;
  int epfd, mode, no_drain;
  long tmo;                   /* the application's timer, -1 none */
  uint64_t tmo_at;
  int running;                /* -1: not known yet */
  int sock_calls, timer_calls, removes, assigns, sp_seen, order, msgs;
  long last_timer;
  int last[MAXFD];            /* last `what` + 1 per fd, 0: not watched */
  unsigned gen[MAXFD];        /* bumped at every REMOVE */
  void *exp_sp[MAXFD];        /* the socketp the next call must carry */
  char slot[MAXFD];           /* addresses handed out as socketp */
  int assign_in_cb;
  void (*sock_hook)(struct loop *, int fd, int what);
  void (*timer_hook)(struct loop *);
  void (*done_hook)(struct loop *, struct tx *);
  void *user;
};

static int l_sock(XFER *e, xfer_socket_t fd, int what, void *userp,
                  void *sp) {
  struct loop *L = userp;
  struct epoll_event ev;
  struct tx *t = NULL;
  if (e) { /* the transfer it concerns: a live handle (or one whose
             * cleanup from its own callback is under way) */
    CHECK_EQ(xfer_easy_getinfo(e, XFERINFO_PRIVATE, &t), XFERE_OK);
    CHECK(t && (t->easy == e || !t->easy));
  }
  CHECK(fd >= 0 && fd < MAXFD);
  CHECK(what >= XFER_POLL_NONE && what <= XFER_POLL_REMOVE);
  L->sock_calls++;
  CHECK(sp == L->exp_sp[fd]); /* assign's pointer, NULL for a new socket */
  if (sp) L->sp_seen++;
  if (what == XFER_POLL_REMOVE) {
    CHECK(L->last[fd] != 0);               /* only for a socket it told of */
    CHECK(fcntl(fd, F_GETFD) != -1);       /* and before closing it */
    L->removes++;
    epoll_ctl(L->epfd, EPOLL_CTL_DEL, fd, NULL);
    L->last[fd] = 0;
    L->exp_sp[fd] = NULL;
    L->gen[fd]++;
  } else {
    CHECK(L->last[fd] != what + 1);        /* only when interest changes */
    if (!L->last[fd] && L->assign_in_cb) {
      CHECK_EQ(xfer_multi_assign(L->m, fd, &L->slot[fd]), XFERM_OK);
      L->exp_sp[fd] = &L->slot[fd];
      L->assigns++;
    }
    memset(&ev, 0, sizeof(ev));
    ev.data.fd = fd;
    ev.events = (what & XFER_POLL_IN ? EPOLLIN : 0) |
                (what & XFER_POLL_OUT ? EPOLLOUT : 0);
    if (epoll_ctl(L->epfd, EPOLL_CTL_MOD, fd, &ev) != 0)
      CHECK(epoll_ctl(L->epfd, EPOLL_CTL_ADD, fd, &ev) == 0);
    L->last[fd] = what + 1;
  }
  if (L->sock_hook) L->sock_hook(L, fd, what);
  return 0;
}

static int l_timer(XFERM *m, long ms, void *userp) {
  struct loop *L = userp;
  long to = -5;
  CHECK(m == L->m);
  CHECK(ms >= -1);
  CHECK_EQ(xfer_multi_timeout(m, &to), XFERM_OK); /* allowed here, and */
  CHECK(ms < 0 ? to == -1 : to >= ms - 1 && to <= ms); /* agrees */
  L->timer_calls++;
  L->last_timer = L->tmo = ms;
  L->tmo_at = tl_now_ms();
  if (L->timer_hook) L->timer_hook(L);
  return 0;
}

static void l_init(struct loop *L, XFERM *m) {
  memset(L, 0, sizeof(*L));
  L->m = m;
  L->tmo = L->last_timer = -1;
  L->running = -1;
  L->epfd = epoll_create1(EPOLL_CLOEXEC);
  CHECK(L->epfd >= 0);
  CHECK_EQ(xfer_multi_setopt(m, XFERMOPT_SOCKETFUNCTION, l_sock), XFERM_OK);
  CHECK_EQ(xfer_multi_setopt(m, XFERMOPT_SOCKETDATA, L), XFERM_OK);
  CHECK_EQ(xfer_multi_setopt(m, XFERMOPT_TIMERFUNCTION, l_timer), XFERM_OK);
  CHECK_EQ(xfer_multi_setopt(m, XFERMOPT_TIMERDATA, L), XFERM_OK);
}

static void l_drain(struct loop *L) {
  XFERMsg *msg;
  int left;
  if (L->no_drain) return;
  while ((msg = xfer_multi_info_read(L->m, &left)) != NULL) {
    struct tx *t = NULL;
    CHECK_EQ(msg->msg, XFERMSG_DONE);
    CHECK_EQ(xfer_easy_getinfo(msg->easy_handle, XFERINFO_PRIVATE, &t),
             XFERE_OK);
    CHECK(t && t->easy == msg->easy_handle);
    CHECK(!t->done); /* exactly one message per finished run */
    t->done = 1;
    t->result = msg->data.result;
    t->order = ++L->order;
    L->msgs++;
    if (L->done_hook) L->done_hook(L, t);
  }
}

static void l_call(struct loop *L, int fd, int mask) {
  if (L->mode == MODE_ALL)
    CHECK_EQ(xfer_multi_socket_all(L->m, &L->running), XFERM_OK);
  else if (L->mode == MODE_SOCKET)
    CHECK_EQ(xfer_multi_socket(L->m, fd, &L->running), XFERM_OK);
  else
    CHECK_EQ(xfer_multi_socket_action(L->m, fd, mask, &L->running), XFERM_OK);
  l_drain(L);
}

/* One round: wait up to max_ms (or the timer), dispatch, fire the timer. */
static void l_step(struct loop *L, int max_ms) {
  struct epoll_event evs[64];
  unsigned gens[64];
  int n, i, wait_ms = max_ms;
  uint64_t now = tl_now_ms();
  if (L->tmo >= 0) {
    int64_t left = (int64_t)(L->tmo_at + (uint64_t)L->tmo) - (int64_t)now;
    if (left < wait_ms) wait_ms = left < 0 ? 0 : (int)left;
  }
  n = epoll_wait(L->epfd, evs, 64, wait_ms);
  if (n < 0 && errno == EINTR) n = 0;
  CHECK(n >= 0);
  for (i = 0; i < n; i++) gens[i] = L->gen[evs[i].data.fd];
  if (L->mode == MODE_ALL) l_call(L, -1, 0); /* checks every socket */
  else
    for (i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (gens[i] != L->gen[fd] || !L->last[fd]) continue; /* gone since */
      l_call(L, fd, (evs[i].events & (EPOLLIN | EPOLLHUP) ? XFER_CSELECT_IN : 0) |
                    (evs[i].events & EPOLLOUT ? XFER_CSELECT_OUT : 0) |
                    (evs[i].events & EPOLLERR ? XFER_CSELECT_ERR : 0));
    }
  if (L->tmo >= 0 && tl_now_ms() >= L->tmo_at + (uint64_t)L->tmo) {
    L->tmo = -1; /* one-shot; the callback may set it again */
    l_call(L, XFER_SOCKET_TIMEOUT, 0);
  }
}

/* Runs until until(L) (or, without one, until no transfer runs). */
static void l_run(struct loop *L, int limit_ms, int (*until)(struct loop *)) {
  uint64_t deadline = tl_now_ms() + (uint64_t)limit_ms;
  L->running = -1;
  for (;;) {
    if (until ? until(L) : L->running == 0) return;
    if (tl_now_ms() > deadline) tl_fail(__FILE__, __LINE__, "l_run: deadline");
    l_step(L, L->mode == MODE_ALL ? 20 : 200);
  }
}

static void l_free(struct loop *L) { close(L->epfd); }

/* ---- helpers ---- */

static struct tx *txf(const char *base, const char *path) {
  char p[1024]; /* path may be tx_url's own static buffer */
  snprintf(p, sizeof(p), "%s", path);
  return tx_new(tx_url("%s%s", base, p));
}
static struct tx *ngx(const char *path) { return txf(http_base(), path); }
static struct tx *flt(const char *path) { return txf(fault_base(), path); }

static void body_add(struct tx *t, const char *p, size_t n) {
  t->body.data = realloc(t->body.data, t->body.len + n + 1);
  CHECK(t->body.data);
  memcpy(t->body.data + t->body.len, p, n);
  t->body.len += n;
  t->body.data[t->body.len] = 0;
}

static void tx_rearm(struct tx *t) {
  t->body.len = t->headers.len = 0;
  t->done = 0;
  t->result = (XFERcode)-1;
}

static void ok_body(struct tx *t, size_t len) {
  CHECK(t->done);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK_EQ(t->body.len, len);
}

static void add_all(XFERM *m, struct tx **t, int n) {
  int i;
  for (i = 0; i < n; i++)
    CHECK_EQ(xfer_multi_add_handle(m, t[i]->easy), XFERM_OK);
}

static void rm_free(XFERM *m, struct tx **t, int n) {
  int i;
  for (i = 0; i < n; i++) {
    if (!t[i]) continue;
    if (t[i]->easy) CHECK_EQ(xfer_multi_remove_handle(m, t[i]->easy), XFERM_OK);
    tx_free(t[i]);
  }
}

/* Each test: a multi with the checking loop; at the end, every handle
 * removed and freed, everything cleaned up, and the fds it started with. */
#define BEGIN                   \
  int fd0 = tl_count_fds();     \
  XFERM *m = xfer_multi_init(); \
  struct loop L;                \
  l_init(&L, m)
#define END(t, n)                              \
  do {                                         \
    rm_free(m, t, n);                          \
    CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK); \
    l_free(&L);                                \
    CHECK_EQ(tl_count_fds(), fd0);             \
  } while (0)
#define ADD(t) CHECK_EQ(xfer_multi_add_handle(m, (t)->easy), XFERM_OK)
#define RM(t) CHECK_EQ(xfer_multi_remove_handle(m, (t)->easy), XFERM_OK)
#define MAX_TOTAL(n) \
  CHECK_EQ(xfer_multi_setopt(m, XFERMOPT_MAX_TOTAL_CONNECTIONS, (long)(n)), XFERM_OK)

/* The number of handles get_handles lists; must1/must2 must be among them. */
static int handles_count(XFERM *m, XFER *must1, XFER *must2) {
  XFER **a = xfer_multi_get_handles(m);
  int n = 0, f1 = !must1, f2 = !must2;
  CHECK(a);
  for (; a[n]; n++) {
    if (a[n] == must1) f1 = 1;
    if (a[n] == must2) f2 = 1;
  }
  free(a);
  CHECK(f1 && f2);
  return n;
}

static int first_body(struct loop *L) {
  return ((struct tx *)L->user)->body.len > 0;
}
static void run_until_body(struct loop *L, struct tx *t) {
  L->user = t;
  l_run(L, 3000, first_body);
  CHECK(!t->done);
}
static int running2(struct loop *L) { return L->running == 2; }
static int running1(struct loop *L) { return L->running == 1; }

/* A write callback that acts once, on its first call. */
enum { ACT_NONE, ACT_REMOVE_SELF, ACT_REMOVE_OTHER, ACT_ADD_OTHER,
       ACT_CLEANUP_SELF, ACT_READD_SELF };
struct wctx {
  struct tx *t, *other;
  XFERM *m;
  int act, calls;
  XFERMcode rc;
};

static size_t w_act(char *p, size_t sz, size_t n, void *ud) {
  struct wctx *w = ud;
  if (w->calls++ == 0) {
    /* a multi handle is never cleaned up from a transfer's callback */
    CHECK_EQ(xfer_multi_cleanup(w->m), XFERM_RECURSIVE_API_CALL);
    switch (w->act) {
    case ACT_REMOVE_SELF:
      w->rc = xfer_multi_remove_handle(w->m, w->t->easy);
      CHECK_EQ(xfer_multi_cleanup(w->m), XFERM_RECURSIVE_API_CALL);
      break;
    case ACT_READD_SELF:
      CHECK_EQ(xfer_multi_remove_handle(w->m, w->t->easy), XFERM_OK);
      w->rc = xfer_multi_add_handle(w->m, w->t->easy);
      return sz * n; /* the new run collects its own body */
    case ACT_REMOVE_OTHER:
      w->rc = xfer_multi_remove_handle(w->m, w->other->easy);
      break;
    case ACT_ADD_OTHER:
      w->rc = xfer_multi_add_handle(w->m, w->other->easy);
      break;
    case ACT_CLEANUP_SELF:
      xfer_easy_cleanup(w->t->easy);
      w->t->easy = NULL;
      CHECK_EQ(xfer_multi_cleanup(w->m), XFERM_RECURSIVE_API_CALL);
      return sz * n;
    }
  }
  body_add(w->t, p, sz * n);
  return sz * n;
}

static void set_act(struct wctx *w, struct tx *t, XFERM *m, int act,
                    struct tx *other) {
  struct wctx w0 = {t, other, m, act, 0, (XFERMcode)-99};
  *w = w0;
  xfer_easy_setopt(t->easy, XFEROPT_WRITEFUNCTION, w_act);
  xfer_easy_setopt(t->easy, XFEROPT_WRITEDATA, w);
}

static char junk[4096];
static XFERM *bad_multi(void) { memset(junk, 0x5a, sizeof(junk)); return (XFERM *)junk; }
static XFER *bad_easy(void) { memset(junk, 0xa5, sizeof(junk)); return (XFER *)junk; }

/* ==== 1. adding and removing at any time ==== */

TEST(add_while_others_run) {
  BEGIN;
  struct tx *t[3] = {flt("/drip?size=20&every_ms=20"), ngx("/1k.bin"),
                     ngx("/files/3.txt")};
  ADD(t[0]);
  run_until_body(&L, t[0]);
  add_all(m, t + 1, 2);
  l_run(&L, 3000, NULL);
  ok_body(t[0], 20);
  ok_body(t[1], 1024);
  CHECK_STR(t[2]->body.data, "file 3\n");
  CHECK(t[1]->order < t[0]->order && t[2]->order < t[0]->order);
  END(t, 3);
}

/* Stop a running transfer mid-body, with remove_handle or with
 * easy_cleanup (which removes it first): its connection is closed at once,
 * it gets no message, and the others complete without waiting for it. */
static void stop_mid_body(int by_cleanup) {
  BEGIN;
  uint64_t t0 = tl_now_ms();
  int removes;
  struct tx *t[3] = {flt("/drip?size=300&every_ms=10"),
                     flt("/drip?size=5&every_ms=20"), ngx("/16k.bin")};
  add_all(m, t, 2);
  run_until_body(&L, t[0]);
  removes = L.removes;
  if (by_cleanup) {
    xfer_easy_cleanup(t[0]->easy);
    t[0]->easy = NULL;
  } else {
    RM(t[0]);
  }
  CHECK_EQ(L.removes, removes + 1);
  CHECK_EQ(handles_count(m, t[1]->easy, NULL), 1);
  ADD(t[2]);
  l_run(&L, 3000, NULL);
  CHECK(!t[0]->done);
  ok_body(t[1], 5);
  ok_body(t[2], 16384);
  CHECK_EQ(L.msgs, 2);
  CHECK(tl_now_ms() - t0 < 2000);
  END(t, 3);
}

TEST(remove_running_mid_body) { stop_mid_body(0); }
TEST(easy_cleanup_while_added) { stop_mid_body(1); }

/* Remove its own handle from its write callback; MAX_TOTAL_CONNECTIONS=1
 * makes the others wait for the connection it frees.  Then re-add it. */
TEST(remove_self_in_write_cb_then_readd) {
  BEGIN;
  struct wctx w;
  struct tx *t[3] = {flt("/drip?size=50&every_ms=10"), flt("/bytes/3000"),
                     ngx("/files/4.txt")};
  MAX_TOTAL(1);
  set_act(&w, t[0], m, ACT_REMOVE_SELF, NULL);
  add_all(m, t, 3);
  l_run(&L, 3000, NULL);
  CHECK_EQ(w.rc, XFERM_OK);
  CHECK(!t[0]->done);
  ok_body(t[1], 3000);
  CHECK_STR(t[2]->body.data, "file 4\n");
  CHECK_EQ(handles_count(m, t[1]->easy, t[2]->easy), 2);
  tx_rearm(t[0]); /* the removed handle runs again when added again */
  set_act(&w, t[0], m, ACT_NONE, NULL);
  ADD(t[0]);
  l_run(&L, 3000, NULL);
  ok_body(t[0], 50);
  CHECK_EQ(L.msgs, 3);
  END(t, 3);
}

/* Remove and add again its own handle from its write callback: a new run,
 * a new request, the whole body; the first run's connection is closed. */
TEST(readd_self_in_write_cb) {
  BEGIN;
  struct wctx w;
  struct tx *t[2] = {flt("/drip?size=30&every_ms=10"),
                     flt("/drip?size=5&every_ms=10")};
  set_act(&w, t[0], m, ACT_READD_SELF, NULL);
  add_all(m, t, 2);
  l_run(&L, 3000, NULL);
  CHECK_EQ(w.rc, XFERM_OK);
  ok_body(t[0], 30);
  CHECK_STR(t[0]->body.data, "abcdefghijklmnopqrstuvwxyzabcd");
  ok_body(t[1], 5);
  CHECK_EQ(L.msgs, 2);
  /* the first run's connection, and the two left idle at the end */
  CHECK_EQ(L.removes, 3);
  END(t, 2);
}

/* t[0]'s write callback removes t[1], which would never end (/silence). */
TEST(remove_other_in_write_cb) {
  BEGIN;
  struct wctx w;
  struct tx *t[3] = {flt("/silence"), flt("/drip?size=5&every_ms=50"),
                     flt("/drip?size=10&every_ms=20")};
  set_act(&w, t[1], m, ACT_REMOVE_OTHER, t[0]);
  add_all(m, t, 3);
  l_run(&L, 3000, NULL);
  CHECK_EQ(w.rc, XFERM_OK);
  CHECK(!t[0]->done);
  ok_body(t[1], 5);
  ok_body(t[2], 10);
  CHECK_EQ(L.msgs, 2);
  CHECK_EQ(handles_count(m, t[1]->easy, t[2]->easy), 2);
  END(t, 3);
}

TEST(add_in_write_cb) {
  BEGIN;
  struct wctx w;
  struct tx *t[2] = {flt("/drip?size=10&every_ms=20"), ngx("/files/5.txt")};
  set_act(&w, t[0], m, ACT_ADD_OTHER, t[1]);
  ADD(t[0]);
  l_run(&L, 3000, NULL);
  CHECK_EQ(w.rc, XFERM_OK);
  ok_body(t[0], 10);
  CHECK(t[1]->done);
  CHECK_STR(t[1]->body.data, "file 5\n");
  CHECK_EQ(t[1]->order, 1); /* ran alongside, not after */
  END(t, 2);
}

/* Each DONE message adds the next transfer. */
static void chain_next(struct loop *L, struct tx *t) {
  struct tx **c = L->user;
  int i;
  for (i = 0; i < 4; i++)
    if (c[i] == t)
      CHECK_EQ(xfer_multi_add_handle(L->m, c[i + 1]->easy), XFERM_OK);
}

TEST(add_after_info_read) {
  BEGIN;
  int i;
  struct tx *t[5];
  for (i = 0; i < 5; i++) t[i] = ngx(tx_url("/files/%d.txt", 10 + i));
  L.user = t;
  L.done_hook = chain_next;
  ADD(t[0]);
  l_run(&L, 3000, NULL);
  for (i = 0; i < 5; i++) {
    CHECK_EQ(t[i]->result, XFERE_OK);
    CHECK_STR(t[i]->body.data, tx_url("file %d\n", 10 + i));
    CHECK_EQ(t[i]->order, i + 1);
  }
  END(t, 5);
}

TEST(readd_after_done) {
  BEGIN;
  struct tx *t = ngx("/files/1.txt");
  ADD(t);
  l_run(&L, 3000, NULL);
  CHECK_STR(t->body.data, "file 1\n");
  /* done but still added: adding again is ADDED_ALREADY */
  CHECK_EQ(xfer_multi_add_handle(m, t->easy), XFERM_ADDED_ALREADY);
  RM(t);
  tx_rearm(t);
  ADD(t);
  l_run(&L, 3000, NULL);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK_STR(t->body.data, "file 1\n");
  RM(t);
  tx_rearm(t);
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_URL,
                            tx_url("%s/files/2.txt", http_base())), XFERE_OK);
  ADD(t);
  l_run(&L, 3000, NULL);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK_STR(t->body.data, "file 2\n");
  CHECK_EQ(L.msgs, 3);
  END(&t, 1);
}

TEST(add_remove_bad_handles) {
  int fd0 = tl_count_fds(), running = 0;
  XFERM *m = xfer_multi_init(), *m2 = xfer_multi_init();
  XFER *e = xfer_easy_init(), *e2 = xfer_easy_init();
  long to;
  CHECK(m && m2 && e && e2);
  CHECK_EQ(xfer_multi_add_handle(m, e), XFERM_OK);
  CHECK_EQ(xfer_multi_add_handle(m, e), XFERM_ADDED_ALREADY);
  CHECK_EQ(xfer_multi_add_handle(m2, e), XFERM_BAD_EASY_HANDLE);
  CHECK_EQ(xfer_multi_add_handle(NULL, e2), XFERM_BAD_HANDLE);
  CHECK_EQ(xfer_multi_add_handle(bad_multi(), e2), XFERM_BAD_HANDLE);
  CHECK_EQ(xfer_multi_add_handle(m, NULL), XFERM_BAD_EASY_HANDLE);
  CHECK_EQ(xfer_multi_add_handle(m, bad_easy()), XFERM_BAD_EASY_HANDLE);
  CHECK_EQ(xfer_multi_remove_handle(m, e2), XFERM_OK); /* never added */
  CHECK_EQ(xfer_multi_remove_handle(NULL, e), XFERM_BAD_HANDLE);
  CHECK_EQ(xfer_multi_remove_handle(bad_multi(), e), XFERM_BAD_HANDLE);
  CHECK_EQ(xfer_multi_remove_handle(m, NULL), XFERM_BAD_EASY_HANDLE);
  CHECK_EQ(xfer_multi_remove_handle(m, bad_easy()), XFERM_BAD_EASY_HANDLE);
  /* removing it from a multi it is not in leaves it where it is */
  xfer_multi_remove_handle(m2, e);
  CHECK_EQ(handles_count(m, e, NULL), 1);
  CHECK_EQ(handles_count(m2, NULL, NULL), 0);
  CHECK_EQ(xfer_multi_remove_handle(m, e), XFERM_OK);
  CHECK_EQ(xfer_multi_remove_handle(m, e), XFERM_OK); /* twice is fine */
  CHECK_EQ(xfer_multi_add_handle(m2, e), XFERM_OK);   /* free again */
  CHECK_EQ(xfer_multi_remove_handle(m2, e), XFERM_OK);
  CHECK(xfer_multi_get_handles(bad_multi()) == NULL);
  CHECK_EQ(xfer_multi_perform(bad_multi(), &running), XFERM_BAD_HANDLE);
  CHECK_EQ(xfer_multi_timeout(NULL, &to), XFERM_BAD_HANDLE);
  CHECK_EQ(xfer_multi_cleanup(bad_multi()), XFERM_BAD_HANDLE);
  xfer_easy_cleanup(e);
  xfer_easy_cleanup(e2);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  CHECK_EQ(xfer_multi_cleanup(m2), XFERM_OK);
  CHECK_EQ(tl_count_fds(), fd0);
}

/* xfer_easy_cleanup from inside its own write callback, with transfers
 * queued behind it (MAX_TOTAL_CONNECTIONS=1). */
TEST(easy_cleanup_in_own_write_cb) {
  BEGIN;
  struct wctx w;
  struct tx *t[3] = {flt("/drip?size=30&every_ms=10"),
                     flt("/drip?size=5&every_ms=10"), ngx("/16k.bin")};
  MAX_TOTAL(1);
  set_act(&w, t[0], m, ACT_CLEANUP_SELF, NULL);
  add_all(m, t, 3);
  l_run(&L, 3000, NULL);
  CHECK(t[0]->easy == NULL && !t[0]->done);
  ok_body(t[1], 5);
  ok_body(t[2], 16384);
  CHECK_EQ(L.msgs, 2);
  CHECK_EQ(handles_count(m, t[1]->easy, t[2]->easy), 2);
  END(t, 3);
}

static XFER *read_done(XFERM *m, int left_after) {
  int left = -1;
  XFERMsg *msg = xfer_multi_info_read(m, &left);
  CHECK(msg && msg->msg == XFERMSG_DONE && msg->data.result == XFERE_OK);
  CHECK_EQ(left, left_after);
  return msg->easy_handle;
}

TEST(info_read_one_message_per_done) {
  BEGIN;
  int left = -1;
  XFER *a, *b;
  struct tx *t[5] = {ngx("/files/1.txt"), ngx("/status/404"), flt("/silence"),
                     flt("/drip?size=100&every_ms=10"), ngx("/files/3.txt")};
  L.no_drain = 1;
  add_all(m, t, 4);
  l_run(&L, 3000, running2);
  RM(t[3]); /* running: never a message */
  a = read_done(m, 1);
  b = read_done(m, 0);
  CHECK((a == t[0]->easy && b == t[1]->easy) ||
        (a == t[1]->easy && b == t[0]->easy));
  CHECK(xfer_multi_info_read(m, &left) == NULL);
  CHECK_EQ(left, 0);
  /* a finished transfer removed before its message was read: no message */
  ADD(t[4]);
  l_run(&L, 3000, running1);
  RM(t[4]);
  CHECK(xfer_multi_info_read(m, &left) == NULL);
  RM(t[2]);
  CHECK(xfer_multi_info_read(m, &left) == NULL);
  CHECK_EQ(left, 0);
  END(t, 5);
}

TEST(get_handles_lists_added) {
  BEGIN;
  int i;
  struct tx *t[3];
  XFER **a = xfer_multi_get_handles(m);
  CHECK(a && a[0] == NULL);
  free(a);
  for (i = 0; i < 3; i++) t[i] = ngx(tx_url("/files/%d.txt", i));
  add_all(m, t, 3);
  CHECK_EQ(handles_count(m, t[0]->easy, t[2]->easy), 3);
  CHECK_EQ(handles_count(m, t[1]->easy, NULL), 3);
  RM(t[1]);
  CHECK_EQ(handles_count(m, t[0]->easy, t[2]->easy), 2);
  l_run(&L, 3000, NULL);
  CHECK(t[0]->done && t[2]->done);
  CHECK_EQ(handles_count(m, t[0]->easy, t[2]->easy), 2); /* done: still in */
  RM(t[0]);
  RM(t[2]);
  CHECK_EQ(handles_count(m, NULL, NULL), 0);
  END(t, 3);
}

/* ==== 2. the timer callback ==== */

/* add_handle calls the timer callback with 0 (once), socket_action on the
 * timeout starts the transfers; a TIMEOUT_MS deadline is reported, and
 * deleted (-1) once nothing remains. */
TEST(timer_add_handle_kickstart_and_delete) {
  BEGIN;
  int running = -1;
  long to = -5;
  struct tx *t[2] = {ngx("/1k.bin"), ngx("/files/2.txt")};
  CHECK_EQ(xfer_easy_setopt(t[0]->easy, XFEROPT_TIMEOUT_MS, 5000L), XFERE_OK);
  CHECK_EQ(L.timer_calls, 0);
  ADD(t[0]);
  CHECK_EQ(L.timer_calls, 1);
  CHECK_EQ(L.last_timer, 0);
  ADD(t[1]);
  CHECK_EQ(L.timer_calls, 1); /* the earliest deadline did not change */
  CHECK_EQ(xfer_multi_timeout(m, &to), XFERM_OK);
  CHECK_EQ(to, 0);
  CHECK_EQ(L.sock_calls, 0);
  L.tmo = -1; /* fired by hand: */
  CHECK_EQ(xfer_multi_socket_action(m, XFER_SOCKET_TIMEOUT, 0, &running),
           XFERM_OK);
  CHECK(L.sock_calls >= 2); /* both transfers have sockets now */
  CHECK(running >= 0 && running <= 2);
  CHECK(L.last_timer > 4000 && L.last_timer <= 5000); /* t[0]'s timeout */
  l_run(&L, 3000, NULL);
  ok_body(t[0], 1024);
  CHECK_STR(t[1]->body.data, "file 2\n");
  CHECK_EQ(L.last_timer, -1);
  CHECK_EQ(xfer_multi_timeout(m, &to), XFERM_OK);
  CHECK_EQ(to, -1);
  END(t, 2);
}

/* 20 keep-alive transfers on one connection, no timeouts: the deadline
 * hardly ever changes, so the timer callback is hardly ever called. */
TEST(timer_called_only_on_change) {
  BEGIN;
  int i, calls;
  struct tx *t[21];
  MAX_TOTAL(1);
  for (i = 0; i < 21; i++) t[i] = ngx(tx_url("/files/%d.txt", 100 + i));
  ADD(t[0]);
  l_run(&L, 3000, NULL);
  CHECK_EQ(t[0]->result, XFERE_OK);
  calls = L.timer_calls;
  add_all(m, t + 1, 20);
  CHECK_EQ(L.timer_calls, calls + 1);
  calls = L.timer_calls;
  l_run(&L, 3000, NULL);
  for (i = 0; i < 21; i++)
    CHECK_STR(t[i]->body.data, tx_url("file %d\n", 100 + i));
  /* the start's -1; at the end 0 for the idle sweep, then its -1 */
  CHECK(L.timer_calls - calls <= 3);
  END(t, 21);
}

static void agrees(struct loop *L) {
  long to = -5, expect;
  CHECK_EQ(xfer_multi_timeout(L->m, &to), XFERM_OK);
  if (L->tmo < 0) {
    CHECK_EQ(to, -1);
    return;
  }
  expect = L->tmo - (long)(tl_now_ms() - L->tmo_at);
  if (expect < 0) expect = 0;
  CHECK(to >= expect - 30 && to <= expect + 30);
}

TEST(multi_timeout_agrees_with_callback) {
  BEGIN;
  int calls;
  struct tx *t[2] = {flt("/silence"), flt("/silence")};
  xfer_easy_setopt(t[0]->easy, XFEROPT_TIMEOUT_MS, 3000L);
  xfer_easy_setopt(t[1]->easy, XFEROPT_TIMEOUT_MS, 1500L);
  ADD(t[0]);
  CHECK_EQ(L.last_timer, 0);
  agrees(&L);
  l_step(&L, 0); /* the 0 timer fires: the transfer starts */
  CHECK(L.last_timer > 2800 && L.last_timer <= 3000);
  agrees(&L);
  ADD(t[1]);
  CHECK_EQ(L.last_timer, 0);
  l_step(&L, 0);
  CHECK(L.last_timer > 1300 && L.last_timer <= 1500);
  agrees(&L);
  l_step(&L, 100);
  agrees(&L);
  calls = L.timer_calls;
  RM(t[1]);
  CHECK_EQ(L.timer_calls, calls + 1); /* the earliest is t[0]'s again */
  CHECK(L.last_timer > 2500 && L.last_timer <= 3000);
  agrees(&L);
  RM(t[0]);
  CHECK_EQ(L.last_timer, -1);
  agrees(&L);
  END(t, 2);
}

/* ==== 3. the socket callback and assign ==== */

/* Transfers that open, reuse and close connections in every way; the loop
 * checks each call (no repeat of the same `what`, REMOVE only for a known
 * socket and while it is open), and after cleanup no socket is left. */
TEST(socket_cb_only_on_change_remove_before_close) {
  static const char *const paths[] = {
    "/1k.bin", "/1m.bin", "/files/1.txt", "/index.html", "/16k.bin"};
  static const char *const fpaths[] = {
    "/drip?size=5&every_ms=10", "/close-after-response", "/bytes/200000",
    "/chunked/5000?every_ms=5&size=1000", "/keepalive-idle-close?ms=10"};
  BEGIN;
  int i, fd;
  struct tx *t[20];
  for (i = 0; i < 20; i++) {
    t[i] = i % 2 ? ngx(paths[i / 2 % 5]) : flt(fpaths[i / 2 % 5]);
    if (i % 7 == 3) xfer_easy_setopt(t[i]->easy, XFEROPT_FORBID_REUSE, 1L);
  }
  add_all(m, t, 20);
  l_run(&L, 4000, NULL);
  for (i = 0; i < 20; i++) CHECK_EQ(t[i]->result, XFERE_OK);
  CHECK(L.removes >= 4); /* close-after-response and FORBID_REUSE ones */
  rm_free(m, t, 20);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  for (fd = 0; fd < MAXFD; fd++) CHECK_EQ(L.last[fd], 0);
  l_free(&L);
  CHECK_EQ(tl_count_fds(), fd0);
}

static int removed_fd = -1;
static void note_remove(struct loop *L, int fd, int what) {
  (void)L;
  if (what == XFER_POLL_REMOVE) removed_fd = fd;
}

TEST(assign_sets_socketp) {
  BEGIN;
  int i, p[2], fd, live = -1;
  struct tx *t[6];
  static char other;
  L.assign_in_cb = 1; /* assign from inside the socket callback */
  L.sock_hook = note_remove;
  for (i = 0; i < 6; i++) {
    t[i] = i < 3 ? flt("/drip?size=4&every_ms=20") : ngx("/1k.bin");
    xfer_easy_setopt(t[i]->easy, XFEROPT_FORBID_REUSE, 1L);
  }
  add_all(m, t, 6);
  run_until_body(&L, t[0]);
  /* assign from outside, on a socket in use: the next calls carry it */
  for (fd = 0; fd < MAXFD; fd++)
    if (L.last[fd]) live = fd;
  CHECK(live >= 0);
  CHECK_EQ(xfer_multi_assign(m, live, &other), XFERM_OK);
  L.exp_sp[live] = &other;
  l_run(&L, 3000, NULL);
  for (i = 0; i < 6; i++) CHECK_EQ(t[i]->result, XFERE_OK);
  CHECK(L.assigns >= 6);
  CHECK(L.sp_seen >= 6); /* every REMOVE at least carried it */
  CHECK(removed_fd >= 0);
  CHECK_EQ(xfer_multi_assign(m, removed_fd, &other), XFERM_BAD_SOCKET);
  CHECK_EQ(pipe(p), 0);
  CHECK_EQ(xfer_multi_assign(m, p[0], &other), XFERM_BAD_SOCKET);
  CHECK_EQ(xfer_multi_assign(m, -1, &other), XFERM_BAD_SOCKET);
  CHECK_EQ(xfer_multi_assign(m, 100000, &other), XFERM_BAD_SOCKET);
  CHECK_EQ(xfer_multi_assign(NULL, p[0], &other), XFERM_BAD_HANDLE);
  close(p[0]), close(p[1]);
  END(t, 6);
}

/* A socket callback set while a transfer waits (a second driver after the
 * first, a driver attached late) hears of every socket that has interest
 * at the next call: without that, the waiting socket would never be
 * watched again and the transfer would hang. */
TEST(new_socket_callback_hears_every_socket) {
  XFERM *m = xfer_multi_init();
  struct tx *t = tx_new(tx_url("%s/sleep?ms=600", fault_base()));
  struct drive_stats first, second;
  memset(&first, 0, sizeof(first));
  memset(&second, 0, sizeof(second));
  CHECK_EQ(xfer_multi_add_handle(m, t->easy), XFERM_OK);
  CHECK_EQ(drive_epoll_for(m, 200, &first), 1);
  CHECK_EQ(first.last_what, XFER_POLL_IN); /* waiting for the response */
  drive_epoll(m, 3000, &second);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK(second.socket_calls_by_what[XFER_POLL_IN] >= 1);
  CHECK_EQ(xfer_multi_remove_handle(m, t->easy), XFERM_OK);
  tx_free(t);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
}

/* xfer_multi_reannounce: the socket callback hears now of every socket
 * with interest (an idle keep-alive connection here), and nothing of
 * sockets that have none; refused from inside a callback. */
static int rec_fd = -1, rec_what = -1, rec_calls, rec_inner_rc;
static int rec_sock(XFER *e, xfer_socket_t s, int what, void *u, void *sp) {
  (void)e, (void)sp;
  rec_fd = s;
  rec_what = what;
  rec_calls++;
  rec_inner_rc = xfer_multi_reannounce((XFERM *)u);
  return 0;
}

TEST(reannounce_tells_the_new_callback_now) {
  XFERM *m = xfer_multi_init();
  struct tx *t = tx_new(tx_url("%s/1k.bin", http_base()));
  CHECK_EQ(run_on(m, t, DRIVE_POLL, 3000), XFERE_OK); /* leaves it idle */
  CHECK_EQ(xfer_multi_setopt(m, XFERMOPT_SOCKETFUNCTION, rec_sock),
           XFERM_OK);
  CHECK_EQ(xfer_multi_setopt(m, XFERMOPT_SOCKETDATA, m), XFERM_OK);
  CHECK_EQ(rec_calls, 0); /* setting it calls nothing */
  CHECK_EQ(xfer_multi_reannounce(m), XFERM_OK);
  CHECK_EQ(rec_calls, 1);
  CHECK(rec_fd >= 0);
  CHECK_EQ(rec_what, XFER_POLL_IN);
  CHECK_EQ(rec_inner_rc, XFERM_RECURSIVE_API_CALL);
  CHECK_EQ(xfer_multi_reannounce(NULL), XFERM_BAD_HANDLE);
  tx_free(t);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
}

/* A connection reused by the next request: no socket callback at all. */
/* The next transfer is added from info_read, as each one ends (libcurl's
 * usual program): its connection stays watched, so a request on a kept
 * connection costs no socket-callback call. */
struct chain {
  struct tx **t;
  int n, next, socks, timers, socks_end, timers_end;
};
static void reuse_next(struct loop *L, struct tx *done) {
  struct chain *c = L->user;
  XFERM *m = L->m;
  RM(done);
  if (c->next == 1) { /* warm: one connection open, idle */
    c->socks = L->sock_calls;
    c->timers = L->timer_calls;
  }
  if (c->next < c->n) ADD(c->t[c->next++]);
  else { /* the sweep's REMOVE comes after */
    c->socks_end = L->sock_calls;
    c->timers_end = L->timer_calls;
  }
}
static int reuse_done(struct loop *L) {
  struct chain *c = L->user;
  return c->next == c->n && c->t[c->n - 1]->done;
}
TEST(keepalive_reuse_no_socket_calls) {
  BEGIN;
  int i;
  struct tx *t[11];
  struct chain c = {t, 11, 1, 0, 0, 0, 0};
  MAX_TOTAL(1);
  for (i = 0; i < 11; i++) t[i] = ngx(tx_url("/files/%d.txt", i));
  L.user = &c;
  L.done_hook = reuse_next;
  ADD(t[0]);
  l_run(&L, 3000, reuse_done);
  for (i = 0; i < 11; i++) CHECK_STR(t[i]->body.data, tx_url("file %d\n", i));
  CHECK_EQ(c.socks_end - c.socks, 0);
  /* per request: the add's 0, and -1 once the timer fired (the value a
   * program keeps must not stay 0) */
  CHECK(c.timers_end - c.timers <= 20);
  END(t, 11);
}

/* A connection that stays idle across a timer run leaves the watch set
 * (so a loop run until nothing is left ends), and is taken again later:
 * one POLL_REMOVE, one POLL_IN, the same connection. */
TEST(idle_connection_unwatched_then_reused) {
  BEGIN;
  int i, socks, removes;
  struct tx *t[3];
  for (i = 0; i < 3; i++) t[i] = ngx(tx_url("/files/%d.txt", i));
  ADD(t[0]);
  l_run(&L, 3000, NULL);
  CHECK_STR(t[0]->body.data, "file 0\n");
  /* the loop goes on until nothing is left: no socket, no timer */
  while (L.tmo >= 0) l_step(&L, 200);
  CHECK_EQ(L.last_timer, -1);
  for (i = 0; i < MAXFD; i++) CHECK_EQ(L.last[i], 0);
  removes = L.removes;
  for (i = 1; i < 3; i++) {
    socks = L.sock_calls;
    ADD(t[i]);
    l_run(&L, 3000, NULL);
    CHECK_STR(t[i]->body.data, tx_url("file %d\n", i));
    CHECK_EQ(info_long(t[i]->easy, XFERINFO_NUM_CONNECTS), 0);
    while (L.tmo >= 0) l_step(&L, 200);
    CHECK_EQ(L.sock_calls - socks, 2); /* POLL_IN, then POLL_REMOVE */
  }
  CHECK_EQ(L.removes, removes + 2);
  END(t, 3);
}

/* A connect to a loopback listener completes inside connect(): the engine
 * notices and sends at once, without asking for POLL_OUT first.  (The
 * kernel may defer a handshake under load, hence "most", not "all".) */
static void count_out(struct loop *L, int fd, int what) {
  (void)fd;
  if (what == XFER_POLL_OUT || what == XFER_POLL_INOUT) (*(int *)L->user)++;
}
TEST(loopback_connect_no_poll_out) {
  BEGIN;
  int i, outs = 0, n = 16;
  struct tx *t[16];
  L.user = &outs;
  L.sock_hook = count_out;
  for (i = 0; i < n; i++) {
    t[i] = ngx(tx_url("/files/%d.txt", i));
    xfer_easy_setopt(t[i]->easy, XFEROPT_FRESH_CONNECT, 1L);
    ADD(t[i]);
  }
  l_run(&L, 5000, NULL);
  for (i = 0; i < n; i++) {
    CHECK_EQ(t[i]->result, XFERE_OK);
    CHECK_STR(t[i]->body.data, tx_url("file %d\n", i));
  }
  CHECK(outs < n / 2);
  END(t, n);
}

/* CURLMOPT_SOCKETFUNCTION / TIMERFUNCTION: "should return 0 on success,
 * and -1 on error. If this callback returns error, all transfers currently
 * in progress in this multi handle will be aborted and fail." */
static int bad_sock(XFER *e, xfer_socket_t s, int what, void *u, void *sp) {
  (void)e, (void)s, (void)what, (void)sp;
  return ++*(int *)u, -1;
}
static int bad_timer(XFERM *m, long ms, void *u) {
  (void)m, (void)ms;
  return ++*(int *)u, -1;
}

static void callback_error(int timer) {
  int fd0 = tl_count_fds(), calls = 0, running = 1, i;
  XFERM *m = xfer_multi_init();
  struct tx *t[2] = {flt("/silence"), flt("/silence")};
  uint64_t deadline = tl_now_ms() + 1500;
  XFERMsg *msg;
  if (timer) xfer_multi_setopt(m, XFERMOPT_TIMERFUNCTION, bad_timer);
  else xfer_multi_setopt(m, XFERMOPT_SOCKETFUNCTION, bad_sock);
  xfer_multi_setopt(m, timer ? XFERMOPT_TIMERDATA : XFERMOPT_SOCKETDATA, &calls);
  for (i = 0; i < 2; i++) { /* add_handle may report the timer's failure */
    XFERMcode rc = xfer_multi_add_handle(m, t[i]->easy);
    CHECK(rc == XFERM_OK || rc == XFERM_ABORTED_BY_CALLBACK);
  }
  while (running && tl_now_ms() < deadline) {
    XFERMcode rc = xfer_multi_perform(m, &running);
    CHECK(rc == XFERM_OK || rc == XFERM_ABORTED_BY_CALLBACK);
    while ((msg = xfer_multi_info_read(m, NULL)) != NULL) {
      struct tx *x = NULL;
      xfer_easy_getinfo(msg->easy_handle, XFERINFO_PRIVATE, &x);
      x->done = 1;
      x->result = msg->data.result;
    }
    if (running) xfer_multi_wait(m, NULL, 0, 20, NULL);
  }
  CHECK(calls >= 1);
  for (i = 0; i < 2; i++) {
    CHECK(t[i]->done);
    CHECK_EQ(t[i]->result, XFERE_ABORTED_BY_CALLBACK);
  }
  rm_free(m, t, 2);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  CHECK_EQ(tl_count_fds(), fd0);
}

TEST(timer_cb_error_fails_all_transfers) { callback_error(1); }
TEST(socket_cb_error_fails_all_transfers) { callback_error(0); }

/* ==== 4. re-entrancy ==== */

struct reent {
  struct tx *done_unread, *running, *spare;
  int checked, fd;
};

/* What a socket or timer callback may and may not call. */
static void reent_checks(struct loop *L) {
  struct reent *r = L->user;
  XFERM *m = L->m;
  int running = 0, left = -1, n, fd = r->fd;
  long to;
  XFERMsg *msg;
  XFER **a;
  CHECK_EQ(xfer_multi_perform(m, &running), XFERM_RECURSIVE_API_CALL);
  CHECK_EQ(xfer_multi_socket_action(m, XFER_SOCKET_TIMEOUT, 0, &running),
           XFERM_RECURSIVE_API_CALL);
  CHECK_EQ(xfer_multi_socket_action(m, fd, XFER_CSELECT_IN, &running),
           XFERM_RECURSIVE_API_CALL);
  CHECK_EQ(xfer_multi_socket(m, fd, &running), XFERM_RECURSIVE_API_CALL);
  CHECK_EQ(xfer_multi_socket_all(m, &running), XFERM_RECURSIVE_API_CALL);
  CHECK_EQ(xfer_multi_add_handle(m, r->spare->easy), XFERM_RECURSIVE_API_CALL);
  CHECK_EQ(xfer_multi_remove_handle(m, r->running->easy),
           XFERM_RECURSIVE_API_CALL);
  CHECK_EQ(xfer_multi_remove_handle(m, r->done_unread->easy),
           XFERM_RECURSIVE_API_CALL);
  CHECK_EQ(xfer_multi_setopt(m, XFERMOPT_MAXCONNECTS, 5L),
           XFERM_RECURSIVE_API_CALL);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_RECURSIVE_API_CALL);
  CHECK_EQ(xfer_multi_wait(m, NULL, 0, 0, NULL), XFERM_RECURSIVE_API_CALL);
  CHECK_EQ(xfer_multi_poll(m, NULL, 0, 0, NULL), XFERM_RECURSIVE_API_CALL);
  /* allowed: */
  CHECK_EQ(xfer_multi_timeout(m, &to), XFERM_OK);
  CHECK_EQ(xfer_multi_wakeup(m), XFERM_OK);
  msg = xfer_multi_info_read(m, &left);
  CHECK(msg && msg->easy_handle == r->done_unread->easy);
  CHECK_EQ(left, 0);
  r->done_unread->done = 1;
  r->done_unread->result = msg->data.result;
  CHECK_EQ(xfer_multi_assign(m, fd, &L->slot[fd]), XFERM_OK);
  L->exp_sp[fd] = &L->slot[fd];
  a = xfer_multi_get_handles(m);
  CHECK(a);
  for (n = 0; a[n]; n++) {}
  CHECK(n >= 2);
  free(a);
  r->checked++;
}

static void reent_sock(struct loop *L, int fd, int what) {
  struct reent *r = L->user;
  if (r->checked || what == XFER_POLL_REMOVE) return;
  r->fd = fd;
  reent_checks(L);
}

static void reent_timer(struct loop *L) {
  if (!((struct reent *)L->user)->checked) reent_checks(L);
}

/* which: 0 socket callback, 1 timer callback */
static void reentrancy(int which) {
  BEGIN;
  struct reent r;
  struct tx *t[4] = {ngx("/files/1.txt"), flt("/drip?size=10&every_ms=20"),
                     ngx("/files/2.txt"), ngx("/files/3.txt")};
  memset(&r, 0, sizeof(r));
  r.done_unread = t[0];
  r.running = t[1];
  r.spare = t[2];
  L.user = &r;
  L.no_drain = 1;
  ADD(t[0]);
  l_run(&L, 3000, NULL);
  L.sock_hook = which ? NULL : reent_sock;
  ADD(t[1]);
  l_run(&L, 3000, running1);
  if (which) {
    l_step(&L, 30);
    for (r.fd = MAXFD - 1; r.fd >= 0 && !L.last[r.fd]; r.fd--) {}
    CHECK(r.fd >= 0);
    L.timer_hook = reent_timer;
    ADD(t[3]); /* the timer callback hears 0 */
  }
  CHECK_EQ(r.checked, 1);
  L.sock_hook = NULL;
  L.timer_hook = NULL;
  L.no_drain = 0;
  ADD(t[2]);
  l_run(&L, 3000, NULL);
  ok_body(t[1], 10); /* the refused calls changed nothing */
  CHECK_STR(t[2]->body.data, "file 2\n");
  if (which) CHECK_STR(t[3]->body.data, "file 3\n");
  END(t, 4);
}

TEST(reentrancy_in_socket_cb) { reentrancy(0); }
TEST(reentrancy_in_timer_cb) { reentrancy(1); }

/* ==== 5. perform, wait, poll, wakeup, easy_perform ==== */

TEST(perform_poll_50_transfers) {
  int fd0 = tl_count_fds(), i;
  XFERM *m = xfer_multi_init();
  struct tx *t[50];
  for (i = 0; i < 50; i++) t[i] = ngx(tx_url("/files/%d.txt", 200 + i));
  add_all(m, t, 50);
  drive_poll(m, 4000);
  for (i = 0; i < 50; i++) {
    CHECK_EQ(t[i]->result, XFERE_OK);
    CHECK_STR(t[i]->body.data, tx_url("file %d\n", 200 + i));
  }
  rm_free(m, t, 50);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  CHECK_EQ(tl_count_fds(), fd0);
}

/* A multi with one transfer to /silence, started: it only waits to read. */
static XFERM *silent_multi(struct tx **t) {
  XFERM *m = xfer_multi_init();
  int i, running = -1;
  *t = flt("/silence");
  CHECK_EQ(xfer_multi_add_handle(m, (*t)->easy), XFERM_OK);
  for (i = 0; i < 4; i++) {
    CHECK_EQ(xfer_multi_perform(m, &running), XFERM_OK);
    CHECK_EQ(xfer_multi_wait(m, NULL, 0, 30, NULL), XFERM_OK);
  }
  CHECK_EQ(xfer_multi_perform(m, &running), XFERM_OK);
  CHECK_EQ(running, 1);
  return m;
}

static void silent_free(XFERM *m, struct tx *t, int fd0) {
  rm_free(m, &t, 1);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  CHECK_EQ(tl_count_fds(), fd0);
}

TEST(wait_reports_extra_fd) {
  int fd0 = tl_count_fds(), p[2], n = -1;
  struct tx *t;
  XFERM *m = silent_multi(&t);
  struct xfer_waitfd w;
  uint64_t t0;
  CHECK_EQ(pipe(p), 0);
  memset(&w, 0, sizeof(w));
  w.fd = p[0];
  w.events = XFER_WAIT_POLLIN;
  t0 = tl_now_ms();
  CHECK_EQ(xfer_multi_wait(m, &w, 1, 200, &n), XFERM_OK); /* nothing yet */
  CHECK(tl_now_ms() - t0 >= 150);
  CHECK_EQ(n, 0);
  CHECK_EQ(w.revents, 0);
  CHECK_EQ(write(p[1], "x", 1), 1);
  t0 = tl_now_ms();
  CHECK_EQ(xfer_multi_wait(m, &w, 1, 3000, &n), XFERM_OK);
  CHECK(tl_now_ms() - t0 < 500);
  CHECK_EQ(n, 1);
  CHECK(w.revents & XFER_WAIT_POLLIN);
  CHECK_EQ(xfer_multi_wait(m, &w, 1, -1, &n), XFERM_BAD_FUNCTION_ARGUMENT);
  CHECK_EQ(xfer_multi_wait(NULL, &w, 1, 0, &n), XFERM_BAD_HANDLE);
  close(p[0]), close(p[1]);
  silent_free(m, t, fd0);
}

/* curl_multi_wait: "If no extra file descriptors are provided and libcurl
 * has no file descriptor to offer to wait for, this function returns
 * immediately."  curl_multi_poll instead waits timeout_ms. */
TEST(wait_without_fds_returns_at_once) {
  int fd0 = tl_count_fds(), n = -1;
  XFERM *m = xfer_multi_init();
  uint64_t t0 = tl_now_ms();
  CHECK_EQ(xfer_multi_wait(m, NULL, 0, 1000, &n), XFERM_OK);
  CHECK(tl_now_ms() - t0 < 100);
  CHECK_EQ(n, 0);
  t0 = tl_now_ms();
  CHECK_EQ(xfer_multi_poll(m, NULL, 0, 300, &n), XFERM_OK);
  CHECK(tl_now_ms() - t0 >= 250);
  CHECK_EQ(n, 0);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  CHECK_EQ(tl_count_fds(), fd0);
}

struct waker {
  XFERM *m;
  int delay_ms;
  XFERMcode rc;
};

static void *wake_later(void *arg) {
  struct waker *w = arg;
  struct timespec ts = {0, (long)w->delay_ms * 1000000L};
  nanosleep(&ts, NULL);
  w->rc = xfer_multi_wakeup(w->m);
  return NULL;
}

/* Waits with poll or wait; delay_ms >= 0: another thread wakes m then. */
static uint64_t timed(XFERM *m, int use_poll, int timeout_ms, int delay_ms) {
  pthread_t th;
  struct waker w = {m, delay_ms, XFERM_OK};
  uint64_t t0 = tl_now_ms();
  int n = -1;
  if (delay_ms >= 0) CHECK_EQ(pthread_create(&th, NULL, wake_later, &w), 0);
  CHECK_EQ(use_poll ? xfer_multi_poll(m, NULL, 0, timeout_ms, &n)
                    : xfer_multi_wait(m, NULL, 0, timeout_ms, &n), XFERM_OK);
  t0 = tl_now_ms() - t0;
  if (delay_ms >= 0) pthread_join(th, NULL);
  CHECK_EQ(w.rc, XFERM_OK);
  CHECK_EQ(n, 0); /* the wakeup is not one of the counted fds */
  return t0;
}

TEST(wakeup_wakes_poll_not_wait) {
  int fd0 = tl_count_fds();
  struct tx *t;
  XFERM *m = silent_multi(&t);
  uint64_t el = timed(m, 1, 5000, 100);
  CHECK(el >= 50 && el < 1000);
  el = timed(m, 0, 500, 50); /* wait ignores the wakeup... */
  CHECK(el >= 400);
  el = timed(m, 1, 5000, -1); /* ...which is still pending for poll */
  CHECK(el < 1000);
  el = timed(m, 1, 300, -1); /* and now consumed */
  CHECK(el >= 250);
  CHECK_EQ(xfer_multi_wakeup(NULL), XFERM_BAD_HANDLE);
  CHECK_EQ(xfer_multi_wakeup(bad_multi()), XFERM_BAD_HANDLE);
  silent_free(m, t, fd0);
}

/* A listening socket on 127.0.0.1: backlog 0 with one connection queued
 * (a listener that drops every further SYN), or closed (refused). */
static int local_port(int *lfd, int *filler) {
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK_EQ(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
  CHECK_EQ(listen(s, 0), 0);
  CHECK_EQ(getsockname(s, (struct sockaddr *)&a, &len), 0);
  if (!lfd) {
    close(s);
    return ntohs(a.sin_port);
  }
  *lfd = s;
  *filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK_EQ(connect(*filler, (struct sockaddr *)&a, sizeof(a)), 0);
  return ntohs(a.sin_port);
}

TEST(easy_perform_returns_code) {
  int fd0 = tl_count_fds();
  struct tx *t = tx_new(tx_url("http://127.0.0.1:%d/", local_port(NULL, NULL)));
  CHECK_EQ(xfer_easy_perform(t->easy), XFERE_COULDNT_CONNECT);
  CHECK(t->errbuf[0] != 0);
  tx_free(t);
  t = ngx("/files/9.txt");
  CHECK_EQ(xfer_easy_perform(t->easy), XFERE_OK);
  CHECK_STR(t->body.data, "file 9\n");
  tx_free(t);
  CHECK_EQ(tl_count_fds(), fd0);
}

TEST(easy_perform_on_added_handle_fails) {
  BEGIN;
  struct tx *t = ngx("/files/8.txt");
  ADD(t);
  CHECK_EQ(xfer_easy_perform(t->easy), XFERE_FAILED_INIT);
  CHECK(t->body.len == 0);
  CHECK_EQ(handles_count(m, t->easy, NULL), 1); /* still the multi's */
  l_run(&L, 3000, NULL);
  CHECK_STR(t->body.data, "file 8\n");
  RM(t);
  tx_rearm(t);
  CHECK_EQ(xfer_easy_perform(t->easy), XFERE_OK); /* legal once removed */
  CHECK_STR(t->body.data, "file 8\n");
  END(&t, 1);
}

/* ==== 6. the deprecated xfer_multi_socket and xfer_multi_socket_all ==== */

static void deprecated(int mode) {
  static const size_t lens[] = {1024, 16384, 7, 5, 3000};
  BEGIN;
  int i;
  struct tx *t[5] = {ngx("/1k.bin"), ngx("/16k.bin"), ngx("/files/6.txt"),
                     flt("/drip?size=5&every_ms=10"),
                     flt("/chunked/3000?every_ms=5&size=500")};
  L.mode = mode;
  add_all(m, t, 5);
  l_run(&L, 3000, NULL);
  for (i = 0; i < 5; i++) ok_body(t[i], lens[i]);
  END(t, 5);
}

TEST(deprecated_multi_socket_drives) { deprecated(MODE_SOCKET); }
TEST(deprecated_multi_socket_all_drives) { deprecated(MODE_ALL); }

/* A connect that never completes (the listener drops the SYN).  socket_all
 * checks every socket, but one still connecting is not connected:
 * CONNECTTIMEOUT ends it as it does under socket_action. */
TEST(pending_connect_under_socket_all) {
  int fd0 = tl_count_fds(), lfd, filler, mode;
  int port = local_port(&lfd, &filler);
  for (mode = MODE_ACTION; mode <= MODE_ALL; mode += MODE_ALL) {
    XFERM *m = xfer_multi_init();
    struct loop L;
    struct tx *t = tx_new(tx_url("http://127.0.0.1:%d/", port));
    uint64_t t0 = tl_now_ms();
    l_init(&L, m);
    L.mode = mode;
    xfer_easy_setopt(t->easy, XFEROPT_CONNECTTIMEOUT_MS, 300L);
    ADD(t);
    l_run(&L, 2000, NULL);
    CHECK_EQ(t->result, XFERE_OPERATION_TIMEDOUT);
    CHECK(tl_now_ms() - t0 >= 250);
    rm_free(m, &t, 1);
    CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
    l_free(&L);
  }
  close(filler);
  close(lfd);
  CHECK_EQ(tl_count_fds(), fd0);
}

/* ==== 7. strerror and codename ==== */

TEST(strerror_every_code) {
  static const int ecodes[] = {
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 18, 22, 23, 25, 26, 27, 28, 33, 35,
    42, 43, 45, 47, 48, 49, 52, 55, 56, 58, 59, 60, 61, 63, 65, 77, 80, 81,
    82, 83, 89, 90, 92, 93, 99, 100};
  size_t i;
  int c;
  const char *unk = xfer_easy_strerror((XFERcode)1000);
  const char *munk = xfer_multi_strerror((XFERMcode)1000);
  CHECK(unk && *unk && munk && *munk);
  for (i = 0; i < sizeof(ecodes) / sizeof(ecodes[0]); i++) {
    const char *s = xfer_easy_strerror((XFERcode)ecodes[i]);
    if (!s || !*s || !strcmp(s, unk) || !xfer_easy_codename((XFERcode)ecodes[i]))
      tl_fail(__FILE__, __LINE__, "easy code %d has no text/name", ecodes[i]);
  }
  for (c = XFERM_CALL_MULTI_PERFORM; c < XFERM_LAST; c++) {
    const char *s = xfer_multi_strerror((XFERMcode)c);
    if (!s || !*s || !strcmp(s, munk) || !xfer_multi_codename((XFERMcode)c))
      tl_fail(__FILE__, __LINE__, "multi code %d has no text/name", c);
  }
  CHECK_STR(xfer_easy_codename(XFERE_COULDNT_CONNECT), "COULDNT_CONNECT");
  CHECK_STR(xfer_multi_codename(XFERM_RECURSIVE_API_CALL), "RECURSIVE_API_CALL");
  CHECK(xfer_easy_codename((XFERcode)1000) == NULL);
}
