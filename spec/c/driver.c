/* driver.c -- see driver.h. */
#include "driver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>

int tbuf_add(struct tbuf *b, const char *p, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    b->data = realloc(b->data, cap);
    if (!b->data) return -1;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = 0;
  return 0;
}

void tbuf_free(struct tbuf *b) {
  free(b->data);
  memset(b, 0, sizeof(*b));
}

size_t tl_discard(char *p, size_t sz, size_t n, void *ud) {
  (void)p;
  (void)ud;
  return sz * n;
}

size_t tl_collect(char *p, size_t sz, size_t n, void *ud) {
  return tbuf_add(ud, p, sz * n) ? 0 : sz * n;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
  struct tx *t = ud;
  return tbuf_add(&t->body, p, sz * n) ? 0 : sz * n;
}

static size_t on_hdr(char *p, size_t sz, size_t n, void *ud) {
  struct tx *t = ud;
  return tbuf_add(&t->headers, p, sz * n) ? 0 : sz * n;
}

struct tx *tx_new(const char *url) {
  struct tx *t = calloc(1, sizeof(*t));
  CHECK(t);
  t->easy = xfer_easy_init();
  CHECK(t->easy);
  t->result = (XFERcode)-1;
  if (url) CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_URL, url), XFERE_OK);
  xfer_easy_setopt(t->easy, XFEROPT_WRITEFUNCTION, on_body);
  xfer_easy_setopt(t->easy, XFEROPT_WRITEDATA, t);
  xfer_easy_setopt(t->easy, XFEROPT_HEADERFUNCTION, on_hdr);
  xfer_easy_setopt(t->easy, XFEROPT_HEADERDATA, t);
  xfer_easy_setopt(t->easy, XFEROPT_PRIVATE, t);
  xfer_easy_setopt(t->easy, XFEROPT_ERRORBUFFER, t->errbuf);
  return t;
}

void tx_free(struct tx *t) {
  if (!t) return;
  xfer_easy_cleanup(t->easy);
  free(t->body.data);
  free(t->headers.data);
  free(t);
}

char *tx_url(const char *fmt, ...) {
  static char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  return buf;
}

const char *http_base(void) {
  static char buf[64];
  snprintf(buf, sizeof(buf), "http://127.0.0.1:%d", tl_env_int("NGINX_PORT"));
  return buf;
}

const char *fault_base(void) {
  static char buf[64];
  snprintf(buf, sizeof(buf), "http://127.0.0.1:%d", tl_env_int("FAULT_PORT"));
  return buf;
}

const char *h2c_base(void) {
  static char buf[64];
  snprintf(buf, sizeof(buf), "http://127.0.0.1:%d",
           tl_env_int("NGINX_H2C_PORT"));
  return buf;
}

const char *tls_h2_base(void) {
  static char buf[64];
  snprintf(buf, sizeof(buf), "https://localhost:%d", tl_env_int("TLS_H2_PORT"));
  return buf;
}

void tx_tls_localhost(struct tx *t, const char *url) {
  static struct { int port; char entry[48]; struct xfer_slist l; } pins[16];
  const char *colon = strrchr(url + 8, ':');
  int port = colon ? atoi(colon + 1) : 443, i;
  for (i = 0; i < 16 && pins[i].port && pins[i].port != port; i++) {}
  CHECK(i < 16);
  if (!pins[i].port) {
    pins[i].port = port;
    snprintf(pins[i].entry, sizeof(pins[i].entry), "localhost:%d:127.0.0.1",
             port);
    pins[i].l.data = pins[i].entry;
  }
  xfer_easy_setopt(t->easy, XFEROPT_CAINFO, tl_env("TLS_CA"));
  xfer_easy_setopt(t->easy, XFEROPT_RESOLVE, &pins[i].l);
}

int fault_port(const char *which) {
  char name[64];
  snprintf(name, sizeof(name), "FAULT_%s%sPORT", which, *which ? "_" : "");
  return tl_env_int(name);
}

/* A TCP port on 127.0.0.1 that nothing uses now: bound, read, closed. */
int free_loopback_port(void) {
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;
  CHECK(fd >= 0);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK_EQ(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  CHECK_EQ(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  port = ntohs(a.sin_port);
  close(fd);
  return port;
}

static int completed;

int drain_msgs(XFERM *m) {
  XFERMsg *msg;
  int n = 0, left;
  while ((msg = xfer_multi_info_read(m, &left)) != NULL) {
    struct tx *t = NULL;
    CHECK_EQ(msg->msg, XFERMSG_DONE);
    xfer_easy_getinfo(msg->easy_handle, XFERINFO_PRIVATE, &t);
    if (t) {
      CHECK(!t->done); /* exactly one message per run */
      t->done = 1;
      t->result = msg->data.result;
      t->order = ++completed;
    }
    n++;
  }
  return n;
}

/* ---- small things every suite needs ---- */

long info_long(XFER *e, XFERINFO what) {
  long v = -12345;
  CHECK_EQ(xfer_easy_getinfo(e, what, &v), XFERE_OK);
  return v;
}

xfer_off_t info_off(XFER *e, XFERINFO what) {
  xfer_off_t v = -12345;
  CHECK_EQ(xfer_easy_getinfo(e, what, &v), XFERE_OK);
  return v;
}

const char *info_str(XFER *e, XFERINFO what) {
  const char *v = NULL;
  CHECK_EQ(xfer_easy_getinfo(e, what, &v), XFERE_OK);
  return v;
}

char *pattern(size_t n, size_t off) {
  char *p = malloc(n + 1);
  size_t i;
  CHECK(p);
  for (i = 0; i < n; i++) p[i] = (char)('a' + (off + i) % 26);
  p[n] = 0;
  return p;
}

int is_pattern(const struct tbuf *b, size_t n) {
  size_t i;
  if (b->len != n) return 0;
  for (i = 0; i < n; i++)
    if (b->data[i] != (char)('a' + i % 26)) return 0;
  return 1;
}

static void drive(XFERM *m, int how, int limit_ms) {
  if (how == DRIVE_POLL) drive_poll(m, limit_ms);
  else drive_epoll(m, limit_ms, NULL);
}

XFERcode run_alone(struct tx *t, int how, int limit_ms) {
  XFERM *m = xfer_multi_init();
  CHECK(m);
  CHECK_EQ(xfer_multi_add_handle(m, t->easy), XFERM_OK);
  drive(m, how, limit_ms);
  CHECK(t->done);
  CHECK_EQ(xfer_multi_remove_handle(m, t->easy), XFERM_OK);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  return t->result;
}

XFERcode run_on(XFERM *m, struct tx *t, int how, int limit_ms) {
  CHECK_EQ(xfer_multi_add_handle(m, t->easy), XFERM_OK);
  drive(m, how, limit_ms);
  CHECK(t->done);
  CHECK_EQ(xfer_multi_remove_handle(m, t->easy), XFERM_OK);
  return t->result;
}

/* ---- epoll driver ---- */

struct ep {
  int epfd;
  long timeout_ms;       /* -1 none */
  uint64_t timer_set_at;
  struct drive_stats *st;
  int watched;
};

static int sock_cb(XFER *e, xfer_socket_t s, int what, void *userp,
                   void *socketp) {
  struct ep *ep = userp;
  struct epoll_event ev;
  (void)e;
  (void)socketp;
  if (ep->st) {
    ep->st->socket_calls++;
    ep->st->last_what = what;
    if (what >= 0 && what <= 4) ep->st->socket_calls_by_what[what]++;
  }
  memset(&ev, 0, sizeof(ev));
  ev.data.fd = s;
  if (what == XFER_POLL_REMOVE) {
    if (epoll_ctl(ep->epfd, EPOLL_CTL_DEL, s, NULL) == 0) ep->watched--;
    return 0;
  }
  ev.events = (what & XFER_POLL_IN ? EPOLLIN : 0) |
              (what & XFER_POLL_OUT ? EPOLLOUT : 0);
  if (epoll_ctl(ep->epfd, EPOLL_CTL_MOD, s, &ev) != 0) {
    CHECK(errno == ENOENT);
    CHECK(epoll_ctl(ep->epfd, EPOLL_CTL_ADD, s, &ev) == 0);
    ep->watched++;
    if (ep->st && ep->watched > ep->st->max_socks_watched)
      ep->st->max_socks_watched = ep->watched;
  }
  return 0;
}

static int timer_cb(XFERM *m, long ms, void *userp) {
  struct ep *ep = userp;
  (void)m;
  if (ep->st) {
    ep->st->timer_calls++;
    ep->st->last_timer_ms = ms;
  }
  ep->timeout_ms = ms;
  ep->timer_set_at = tl_now_ms();
  return 0;
}

/* The epoll loop: until no transfer runs (the deadline then fails the
 * test), or, with `for_ms`, for that long exactly.  Returns running. */
static int drive_ep(XFERM *m, int limit_ms, struct drive_stats *st,
                    int for_ms) {
  struct ep ep;
  int running = 1;
  uint64_t deadline = tl_now_ms() + (uint64_t)(for_ms ? for_ms : limit_ms);
  memset(&ep, 0, sizeof(ep));
  ep.epfd = epoll_create1(EPOLL_CLOEXEC);
  ep.timeout_ms = -1;
  ep.st = st;
  CHECK(ep.epfd >= 0);
  xfer_multi_setopt(m, XFERMOPT_SOCKETFUNCTION, sock_cb);
  xfer_multi_setopt(m, XFERMOPT_SOCKETDATA, &ep);
  xfer_multi_setopt(m, XFERMOPT_TIMERFUNCTION, timer_cb);
  xfer_multi_setopt(m, XFERMOPT_TIMERDATA, &ep);
  CHECK_EQ(xfer_multi_socket_action(m, XFER_SOCKET_TIMEOUT, 0, &running),
           XFERM_OK);
  if (st) st->timeout_actions++;
  drain_msgs(m);
  while (running || for_ms) {
    struct epoll_event evs[64];
    int n, i, wait_ms = -1;
    uint64_t now = tl_now_ms();
    if (now > deadline) {
      if (for_ms) break;
      tl_fail(__FILE__, __LINE__, "drive_epoll: deadline");
    }
    if (ep.timeout_ms >= 0) {
      int64_t left = (int64_t)(ep.timer_set_at + (uint64_t)ep.timeout_ms) -
                     (int64_t)now;
      wait_ms = left < 0 ? 0 : (int)left;
    }
    if (wait_ms < 0 || wait_ms > (int)(deadline - now))
      wait_ms = (int)(deadline - now) + 1;
    n = epoll_wait(ep.epfd, evs, 64, wait_ms);
    if (n < 0 && errno == EINTR) continue;
    CHECK(n >= 0);
    for (i = 0; i < n; i++) {
      int mask = (evs[i].events & (EPOLLIN | EPOLLHUP) ? XFER_CSELECT_IN : 0) |
                 (evs[i].events & EPOLLOUT ? XFER_CSELECT_OUT : 0) |
                 (evs[i].events & EPOLLERR ? XFER_CSELECT_ERR : 0);
      CHECK_EQ(xfer_multi_socket_action(m, evs[i].data.fd, mask, &running),
               XFERM_OK);
      if (st) st->socket_actions++;
      drain_msgs(m);
    }
    if (ep.timeout_ms >= 0 &&
        tl_now_ms() >= ep.timer_set_at + (uint64_t)ep.timeout_ms) {
      ep.timeout_ms = -1;
      CHECK_EQ(xfer_multi_socket_action(m, XFER_SOCKET_TIMEOUT, 0, &running),
               XFERM_OK);
      if (st) st->timeout_actions++;
      drain_msgs(m);
    }
  }
  drain_msgs(m);
  xfer_multi_setopt(m, XFERMOPT_SOCKETFUNCTION, NULL);
  xfer_multi_setopt(m, XFERMOPT_TIMERFUNCTION, NULL);
  close(ep.epfd);
  return running;
}

void drive_epoll(XFERM *m, int limit_ms, struct drive_stats *st) {
  drive_ep(m, limit_ms, st, 0);
}

int drive_epoll_for(XFERM *m, int ms, struct drive_stats *st) {
  return drive_ep(m, ms, st, ms);
}

void drive_poll(XFERM *m, int limit_ms) {
  int running = 1;
  uint64_t deadline = tl_now_ms() + (uint64_t)limit_ms;
  while (running) {
    if (tl_now_ms() > deadline)
      tl_fail(__FILE__, __LINE__, "drive_poll: deadline");
    CHECK_EQ(xfer_multi_perform(m, &running), XFERM_OK);
    drain_msgs(m);
    if (running) CHECK_EQ(xfer_multi_poll(m, NULL, 0, 200, NULL), XFERM_OK);
  }
  drain_msgs(m);
}

static void fetch_stats(const char *path, int *c, int *r, int *p, int *o) {
  struct tx *t = tx_new(tx_url("%s%s", fault_base(), path));
  XFERcode rc = xfer_easy_perform(t->easy);
  CHECK_EQ(rc, XFERE_OK);
  if (c) {
    CHECK(t->body.data);
    CHECK_EQ(sscanf(t->body.data, "connections=%d requests=%d peak=%d open=%d",
                    c, r, p, o), 4);
  }
  tx_free(t);
}

void fault_stats(int *connections, int *requests, int *peak, int *open) {
  fetch_stats("/stats", connections, requests, peak, open);
}

void fault_stats_reset(void) { fetch_stats("/stats/reset", NULL, NULL, NULL, NULL); }

/* ---- a network of one's own ---- */

static int lo_up(void) {
  struct ifreq ifr;
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = -1;
  if (s < 0) return -1;
  memset(&ifr, 0, sizeof(ifr));
  strcpy(ifr.ifr_name, "lo");
  if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    rc = ioctl(s, SIOCSIFFLAGS, &ifr);
  }
  close(s);
  return rc;
}

int netns_isolate(void) {
  char path[] = "/tmp/xfer-resolv.XXXXXX";
  static const char conf[] = "nameserver 127.0.0.1\n"
                             "options timeout:2 attempts:1\n";
  int fd;
  if (unshare(CLONE_NEWNS | CLONE_NEWNET) != 0) {
    printf("     SKIP: no namespaces (%s): needs root\n", strerror(errno));
    return -1;
  }
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 || lo_up()) {
    printf("     SKIP: cannot set up the namespaces (%s)\n", strerror(errno));
    return -1;
  }
  CHECK((fd = mkstemp(path)) >= 0);
  CHECK_EQ(write(fd, conf, sizeof(conf) - 1), (ssize_t)sizeof(conf) - 1);
  close(fd);
  if (mount(path, "/etc/resolv.conf", NULL, MS_BIND, NULL) != 0) {
    printf("     SKIP: cannot bind /etc/resolv.conf (%s)\n", strerror(errno));
    unlink(path);
    return -1;
  }
  unlink(path); /* the mount keeps the file */
  unsetenv("HOSTALIASES");
  return 0;
}

/* ---- a libcurl-style poll() program (driver.h) ---- */

static int pl_socket_cb(XFER *e, xfer_socket_t s, int what, void *ud,
                        void *sp) {
  struct ploop *p = ud;
  int i;
  (void)e;
  (void)sp;
  p->socket_calls++;
  for (i = 0; i < p->nfds; i++)
    if (p->fds[i].fd == s) break;
  if (what == XFER_POLL_REMOVE) {
    p->removes++;
    if (i < p->nfds) p->fds[i] = p->fds[--p->nfds];
    return 0;
  }
  if (i == p->nfds) {
    CHECK(p->nfds < PL_MAX);
    p->nfds++;
  }
  p->fds[i].fd = s;
  p->fds[i].events = (short)((what & XFER_POLL_IN ? POLLIN : 0) |
                             (what & XFER_POLL_OUT ? POLLOUT : 0));
  return 0;
}

static int pl_timer_cb(XFERM *m, long ms, void *ud) {
  struct ploop *p = ud;
  (void)m;
  p->timer_calls++;
  p->timeout = ms;
  return 0;
}

void pl_init(struct ploop *p, XFERM *m) {
  memset(p, 0, sizeof(*p));
  p->timeout = -1;
  CHECK_EQ(xfer_multi_setopt(m, XFERMOPT_SOCKETFUNCTION, pl_socket_cb),
           XFERM_OK);
  CHECK_EQ(xfer_multi_setopt(m, XFERMOPT_SOCKETDATA, p), XFERM_OK);
  CHECK_EQ(xfer_multi_setopt(m, XFERMOPT_TIMERFUNCTION, pl_timer_cb),
           XFERM_OK);
  CHECK_EQ(xfer_multi_setopt(m, XFERMOPT_TIMERDATA, p), XFERM_OK);
}

/* One round: poll() with the kept timeout (-1 waits for a socket), then
 * socket_action for what it found, or for the timer.  Returns 0 when the
 * program has nothing left to wait for (no socket, no timer): the point
 * where a libcurl program's loop ends. */
int pl_round(struct ploop *p, XFERM *m, int *running) {
  int n, i;
  if (!p->nfds && p->timeout < 0) return 0;
  if (p->timeout == 0) p->spins++;
  /* A kept -1 with sockets waits for them; the test bounds it. */
  n = poll(p->fds, (nfds_t)p->nfds,
           p->timeout < 0 || p->timeout > 2000 ? 2000 : (int)p->timeout);
  CHECK(n >= 0 || errno == EINTR);
  if (n <= 0) {
    CHECK_EQ(xfer_multi_socket_action(m, XFER_SOCKET_TIMEOUT, 0, running),
             XFERM_OK);
    return 1;
  }
  for (i = 0; i < p->nfds; i++) {
    int ev = 0;
    short re = p->fds[i].revents;
    if (!re) continue;
    if (re & (POLLIN | POLLHUP)) ev |= XFER_CSELECT_IN;
    if (re & POLLOUT) ev |= XFER_CSELECT_OUT;
    if (re & POLLERR) ev |= XFER_CSELECT_ERR;
    p->fds[i].revents = 0;
    CHECK_EQ(xfer_multi_socket_action(m, p->fds[i].fd, ev, running),
             XFERM_OK);
  }
  return 1;
}

void pl_run(struct ploop *p, XFERM *m, int *running, int *rounds, int limit) {
  while (*running) {
    CHECK_INT(++*rounds, <, limit);
    CHECK(pl_round(p, m, running));
  }
}
