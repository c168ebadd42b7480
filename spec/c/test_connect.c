/*
 * test_connect.c -- how a connection is made: happy eyeballs between IPv6
 * and IPv4 (HAPPY_EYEBALLS_TIMEOUT_MS), and the options that shape the
 * socket or where it goes: TCP_KEEPIDLE/KEEPINTVL/KEEPCNT, LOCALPORT and
 * LOCALPORTRANGE, INTERFACE, UNIX_SOCKET_PATH and ABSTRACT_UNIX_SOCKET,
 * CONNECT_TO.
 *
 * An address that never answers is made on loopback with a listener whose
 * accept queue is full (backlog 0 and one connection never accepted): the
 * kernel drops further SYNs, so a connect there stays in progress, as to
 * a host that is down.  nginx listens on 127.0.0.1 only, so [::1] at its
 * port is free for such a listener.  Its /peer location answers
 * "$remote_addr $remote_port $http_host".
 */
#include "driver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers ---- */

/* One transfer on its own multi handle, event driven; the caller frees.
 * setup, when given, sets more options first. */
static struct tx *run(const char *url, void (*setup)(XFER *, void *),
                      void *arg, int limit_ms) {
  XFERM *m = xfer_multi_init();
  struct tx *t = tx_new(url);
  CHECK(m);
  xfer_easy_setopt(t->easy, XFEROPT_TIMEOUT_MS, (long)limit_ms);
  if (setup) setup(t->easy, arg);
  CHECK_EQ(xfer_multi_add_handle(m, t->easy), XFERM_OK);
  drive_epoll(m, limit_ms + 2000, NULL);
  CHECK(t->done);
  CHECK_EQ(xfer_multi_remove_handle(m, t->easy), XFERM_OK);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  return t;
}

/* A listener that never completes a handshake: its queue is full.  The
 * caller closes both fds.  Returns the port, or -1 (printed) when the
 * family cannot be used here. */
static int blackhole(int fam, int port, int fds[2]) {
  struct sockaddr_storage ss;
  socklen_t len;
  int one = 1;
  memset(&ss, 0, sizeof(ss));
  if (fam == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_loopback;
    a->sin6_port = htons((uint16_t)port);
    len = sizeof(*a);
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a->sin_port = htons((uint16_t)port);
    len = sizeof(*a);
  }
  fds[0] = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
  fds[1] = -1;
  if (fds[0] < 0) goto skip;
  setsockopt(fds[0], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fds[0], (struct sockaddr *)&ss, len) || listen(fds[0], 0) ||
      getsockname(fds[0], (struct sockaddr *)&ss, &len))
    goto skip;
  /* the one connection the queue holds */
  fds[1] = socket(fam, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fds[1] < 0) goto skip;
  connect(fds[1], (struct sockaddr *)&ss, len);
  usleep(20000);
  return ntohs(fam == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                               : ((struct sockaddr_in *)&ss)->sin_port);
skip:
  printf("     SKIP: no %s loopback listener (%s)\n",
         fam == AF_INET6 ? "IPv6" : "IPv4", strerror(errno));
  if (fds[0] >= 0) close(fds[0]);
  if (fds[1] >= 0) close(fds[1]);
  fds[0] = fds[1] = -1;
  return -1;
}

static void close2(int fds[2]) {
  if (fds[0] >= 0) close(fds[0]);
  if (fds[1] >= 0) close(fds[1]);
}

/* A one-shot HTTP server in a child process on an already bound listener:
 * answers one request with "hello" and exits. */
static pid_t serve_once(int lfd) {
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                               "Connection: close\r\n\r\nhello";
    char buf[4096];
    size_t got = 0;
    int c;
    alarm(10);
    c = accept(lfd, NULL, NULL);
    if (c < 0) _exit(1);
    while (got < sizeof(buf) - 1) {
      ssize_t n = read(c, buf + got, sizeof(buf) - 1 - got);
      if (n <= 0) _exit(2);
      got += (size_t)n;
      buf[got] = 0;
      if (strstr(buf, "\r\n\r\n")) break;
    }
    if (write(c, resp, sizeof(resp) - 1) < 0) _exit(3);
    close(c);
    _exit(0);
  }
  close(lfd);
  return pid;
}

static void reap(pid_t pid) {
  int st;
  kill(pid, SIGTERM);
  waitpid(pid, &st, 0);
}

struct opts {
  struct xfer_slist *resolve, *connect_to;
  long he_ms, cto_ms;
  const char *iface, *unix_path, *abstract;
  long localport, range;
  int keepalive;
};

static void apply(XFER *e, void *arg) {
  struct opts *o = arg;
  if (o->resolve) xfer_easy_setopt(e, XFEROPT_RESOLVE, o->resolve);
  if (o->connect_to) xfer_easy_setopt(e, XFEROPT_CONNECT_TO, o->connect_to);
  if (o->he_ms)
    CHECK_EQ(xfer_easy_setopt(e, XFEROPT_HAPPY_EYEBALLS_TIMEOUT_MS, o->he_ms),
             XFERE_OK);
  if (o->cto_ms) xfer_easy_setopt(e, XFEROPT_CONNECTTIMEOUT_MS, o->cto_ms);
  if (o->iface) CHECK_EQ(xfer_easy_setopt(e, XFEROPT_INTERFACE, o->iface),
                         XFERE_OK);
  if (o->unix_path)
    CHECK_EQ(xfer_easy_setopt(e, XFEROPT_UNIX_SOCKET_PATH, o->unix_path),
             XFERE_OK);
  if (o->abstract)
    CHECK_EQ(xfer_easy_setopt(e, XFEROPT_ABSTRACT_UNIX_SOCKET, o->abstract),
             XFERE_OK);
  if (o->localport) {
    CHECK_EQ(xfer_easy_setopt(e, XFEROPT_LOCALPORT, o->localport), XFERE_OK);
    CHECK_EQ(xfer_easy_setopt(e, XFEROPT_LOCALPORTRANGE, o->range), XFERE_OK);
  }
  if (o->keepalive) {
    xfer_easy_setopt(e, XFEROPT_TCP_KEEPALIVE, 1L);
    CHECK_EQ(xfer_easy_setopt(e, XFEROPT_TCP_KEEPIDLE, 7L), XFERE_OK);
    CHECK_EQ(xfer_easy_setopt(e, XFEROPT_TCP_KEEPINTVL, 3L), XFERE_OK);
    CHECK_EQ(xfer_easy_setopt(e, XFEROPT_TCP_KEEPCNT, 4L), XFERE_OK);
  }
}

static struct xfer_slist *one(const char *s) {
  return xfer_slist_append(NULL, s);
}

/* ---- happy eyeballs ---- */

/* IPv6 first, and it never answers: IPv4 starts after the delay and wins;
 * the IPv6 socket is closed.  Without the race the transfer would hang to
 * its connect timeout. */
TEST(ipv4_wins_after_the_delay_when_ipv6_hangs) {
  int port = tl_env_int("NGINX_PORT"), bh[2], fds;
  struct opts o = {0};
  struct tx *t;
  uint64_t t0;
  if (blackhole(AF_INET6, port, bh) < 0) return;
  fds = tl_count_fds();
  o.resolve = one(tx_url("he.test:%d:[::1],127.0.0.1", port));
  o.he_ms = 150;
  o.cto_ms = 4000;
  t0 = tl_now_ms();
  t = run(tx_url("http://he.test:%d/1k.bin", port), apply, &o, 5000);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK_EQ(t->body.len, 1024);
  CHECK_STR(info_str(t->easy, XFERINFO_PRIMARY_IP), "127.0.0.1");
  CHECK(tl_now_ms() - t0 >= 140);
  CHECK(tl_now_ms() - t0 < 2500);
  tx_free(t);
  CHECK_EQ(tl_count_fds(), fds);
  close2(bh);
  xfer_slist_free_all(o.resolve);
}

/* The default delay is 200 ms; 0 means the default, as libcurl. */
TEST(default_delay_is_200_ms) {
  int port = tl_env_int("NGINX_PORT"), bh[2];
  struct opts o = {0};
  struct tx *t;
  uint64_t t0, took;
  XFER *e = xfer_easy_init();
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_HAPPY_EYEBALLS_TIMEOUT_MS, -1L),
           XFERE_BAD_FUNCTION_ARGUMENT);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_HAPPY_EYEBALLS_TIMEOUT_MS, 0L),
           XFERE_OK);
  xfer_easy_cleanup(e);
  if (blackhole(AF_INET6, port, bh) < 0) return;
  o.resolve = one(tx_url("he.test:%d:[::1],127.0.0.1", port));
  o.cto_ms = 4000;
  t0 = tl_now_ms();
  t = run(tx_url("http://he.test:%d/1k.bin", port), apply, &o, 5000);
  took = tl_now_ms() - t0;
  CHECK_EQ(t->result, XFERE_OK);
  CHECK(took >= 190 && took < 2500);
  tx_free(t);
  close2(bh);
  xfer_slist_free_all(o.resolve);
}

/* A refused first family hands over at once: the delay is for a family
 * that is slow, not one that said no (localhost's 200 ms bug). */
TEST(a_refused_family_hands_over_at_once) {
  int port = tl_env_int("NGINX_PORT");
  struct opts o = {0};
  struct tx *t;
  uint64_t t0;
  /* nothing listens on [::1] at nginx's port */
  o.resolve = one(tx_url("he.test:%d:[::1],127.0.0.1", port));
  o.he_ms = 3000;
  t0 = tl_now_ms();
  t = run(tx_url("http://he.test:%d/1k.bin", port), apply, &o, 5000);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK(tl_now_ms() - t0 < 1000);
  tx_free(t);
  xfer_slist_free_all(o.resolve);
}

/* localhost where only ::1 listens: 127.0.0.1 is refused and ::1 is tried
 * at once, whatever the delay. */
TEST(localhost_with_only_ipv6_listening_is_fast) {
  struct sockaddr_in6 a;
  socklen_t len = sizeof(a);
  struct opts o = {0};
  struct tx *t;
  uint64_t t0;
  pid_t pid;
  int lfd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  memset(&a, 0, sizeof(a));
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) ||
      listen(lfd, 4) || getsockname(lfd, (struct sockaddr *)&a, &len)) {
    printf("     SKIP: cannot listen on [::1]\n");
    if (lfd >= 0) close(lfd);
    return;
  }
  pid = serve_once(lfd);
  o.he_ms = 3000;
  t0 = tl_now_ms();
  t = run(tx_url("http://localhost:%d/", ntohs(a.sin6_port)), apply, &o,
          5000);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK_STR(t->body.data, "hello");
  CHECK_STR(info_str(t->easy, XFERINFO_PRIMARY_IP), "::1");
  CHECK(tl_now_ms() - t0 < 1000);
  tx_free(t);
  reap(pid);
}

/* Both families silent: the connect timeout ends it, and both sockets
 * are closed. */
TEST(both_families_silent_time_out_and_close_both) {
  int v4[2], v6[2], port, fds;
  struct opts o = {0};
  struct tx *t;
  if ((port = blackhole(AF_INET, 0, v4)) < 0) return;
  if (blackhole(AF_INET6, port, v6) < 0) {
    close2(v4);
    return;
  }
  fds = tl_count_fds();
  o.resolve = one(tx_url("he.test:%d:[::1],127.0.0.1", port));
  o.he_ms = 50;
  o.cto_ms = 400;
  t = run(tx_url("http://he.test:%d/", port), apply, &o, 3000);
  CHECK_EQ(t->result, XFERE_OPERATION_TIMEDOUT);
  tx_free(t);
  CHECK_EQ(tl_count_fds(), fds);
  close2(v4);
  close2(v6);
  xfer_slist_free_all(o.resolve);
}

/* IPRESOLVE_V4 keeps the race to one family: the hanging IPv6 address is
 * never tried, so the transfer does not wait the delay. */
TEST(ipresolve_leaves_one_family_and_no_delay) {
  int port = tl_env_int("NGINX_PORT"), bh[2];
  struct opts o = {0};
  struct tx *t;
  uint64_t t0;
  if (blackhole(AF_INET6, port, bh) < 0) return;
  o.resolve = one(tx_url("he.test:%d:[::1],127.0.0.1", port));
  o.he_ms = 2000;
  t0 = tl_now_ms();
  {
    XFERM *m = xfer_multi_init();
    t = tx_new(tx_url("http://he.test:%d/1k.bin", port));
    apply(t->easy, &o);
    xfer_easy_setopt(t->easy, XFEROPT_IPRESOLVE, (long)XFER_IPRESOLVE_V4);
    CHECK_EQ(xfer_multi_add_handle(m, t->easy), XFERM_OK);
    drive_epoll(m, 5000, NULL);
    CHECK(t->done);
    xfer_multi_remove_handle(m, t->easy);
    xfer_multi_cleanup(m);
  }
  CHECK_EQ(t->result, XFERE_OK);
  CHECK(tl_now_ms() - t0 < 1000);
  tx_free(t);
  close2(bh);
  xfer_slist_free_all(o.resolve);
}

/* ---- socket options ---- */

/* The open socket connected to port (the idle connection a finished
 * transfer left), or -1. */
static int socket_to(int port) {
  int fd;
  for (fd = 3; fd < 1024; fd++) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0 &&
        ss.ss_family == AF_INET &&
        ntohs(((struct sockaddr_in *)&ss)->sin_port) == port)
      return fd;
  }
  return -1;
}

static int sockopt(int fd, int level, int name) {
  int v = -1;
  socklen_t len = sizeof(v);
  CHECK_EQ(getsockopt(fd, level, name, &v, &len), 0);
  return v;
}

TEST(keepalive_idle_interval_and_count_reach_the_socket) {
  int port = tl_env_int("NGINX_PORT"), fd;
  XFERM *m = xfer_multi_init();
  struct opts o = {0};
  struct tx *t = tx_new(tx_url("http://127.0.0.1:%d/1k.bin", port));
  o.keepalive = 1;
  apply(t->easy, &o);
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_TCP_KEEPIDLE, 0L),
           XFERE_BAD_FUNCTION_ARGUMENT);
  CHECK_EQ(xfer_multi_add_handle(m, t->easy), XFERM_OK);
  drive_epoll(m, 5000, NULL);
  CHECK_EQ(t->result, XFERE_OK);
  /* the connection stays in the cache: its socket is still open */
  fd = socket_to(port);
  CHECK(fd >= 0);
  CHECK(sockopt(fd, SOL_SOCKET, SO_KEEPALIVE) != 0);
  CHECK_EQ(sockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE), 7);
  CHECK_EQ(sockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL), 3);
  CHECK_EQ(sockopt(fd, IPPROTO_TCP, TCP_KEEPCNT), 4);
  xfer_multi_remove_handle(m, t->easy);
  tx_free(t);
  xfer_multi_cleanup(m);
}

TEST(localport_range_is_used_and_a_busy_range_fails_with_45) {
  int port = tl_env_int("NGINX_PORT"), lp = free_loopback_port(), busy;
  struct sockaddr_in a;
  struct opts o = {0};
  struct tx *t;
  char want[64];
  o.localport = lp;
  o.range = 20;
  t = run(tx_url("http://127.0.0.1:%d/peer", port), apply, &o, 5000);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK(info_long(t->easy, XFERINFO_LOCAL_PORT) >= lp);
  CHECK(info_long(t->easy, XFERINFO_LOCAL_PORT) < lp + 20);
  snprintf(want, sizeof(want), "127.0.0.1 %ld ",
           info_long(t->easy, XFERINFO_LOCAL_PORT));
  CHECK(strncmp(t->body.data, want, strlen(want)) == 0);
  tx_free(t);
  /* a range of one port that another socket holds */
  busy = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  lp = free_loopback_port(); /* not the one above: it may still be closing */
  o.localport = lp;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((uint16_t)lp);
  CHECK_EQ(bind(busy, (struct sockaddr *)&a, sizeof(a)), 0);
  CHECK_EQ(listen(busy, 1), 0);
  o.range = 1;
  t = run(tx_url("http://127.0.0.1:%d/peer", port), apply, &o, 5000);
  CHECK_EQ(t->result, XFERE_INTERFACE_FAILED);
  CHECK(strstr(t->errbuf, "LOCALPORT") != NULL);
  tx_free(t);
  close(busy);
}

/* INTERFACE: an address (host! or a bare literal) is the source address
 * nginx sees; if!lo binds to the device; an interface that does not exist
 * and a host name (never resolved: it would block) fail with 45. */
TEST(interface_sets_the_source_and_bad_ones_fail_with_45) {
  int port = tl_env_int("NGINX_PORT");
  static const struct { const char *spec, *from; XFERcode rc; } cases[] = {
      {"host!127.0.0.2", "127.0.0.2 ", XFERE_OK},
      {"127.0.0.3", "127.0.0.3 ", XFERE_OK},
      {"ifhost!lo!127.0.0.4", "127.0.0.4 ", XFERE_OK},
      {"if!lo", "127.0.0.1 ", XFERE_OK},
      {"lo", "127.0.0.1 ", XFERE_OK},
      {"if!nosuchif0", NULL, XFERE_INTERFACE_FAILED},
      {"no-such-host.invalid", NULL, XFERE_INTERFACE_FAILED},
      {"host!10.255.255.1", NULL, XFERE_INTERFACE_FAILED},
  };
  size_t i;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct opts o = {0};
    struct tx *t;
    o.iface = cases[i].spec;
    t = run(tx_url("http://127.0.0.1:%d/peer", port), apply, &o, 5000);
    if (t->result != cases[i].rc)
      printf("     %s: %d %s\n", cases[i].spec, t->result, t->errbuf);
    CHECK_EQ(t->result, cases[i].rc);
    if (cases[i].from)
      CHECK(strncmp(t->body.data, cases[i].from, strlen(cases[i].from)) == 0);
    tx_free(t);
  }
}

/* ---- where the connection goes ---- */

/* nginx on its unix socket: the Host header is the URL's; a transfer
 * without the option is not handed that connection, and a missing path
 * fails with 7. */
TEST(unix_socket_path_reaches_nginx_and_is_its_own_route) {
  const char *path = tl_env("NGINX_UNIX_SOCKET");
  int port = tl_env_int("NGINX_PORT");
  XFERM *m = xfer_multi_init();
  struct opts o = {0};
  struct tx *t1, *t2, *t3;
  t1 = tx_new(tx_url("http://127.0.0.1:%d/peer", port));
  o.unix_path = path;
  apply(t1->easy, &o);
  CHECK_EQ(xfer_multi_add_handle(m, t1->easy), XFERM_OK);
  drive_epoll(m, 5000, NULL);
  CHECK_EQ(t1->result, XFERE_OK);
  CHECK(strncmp(t1->body.data, "unix: ", 6) == 0);
  CHECK(strstr(t1->body.data, tx_url("127.0.0.1:%d", port)) != NULL);
  CHECK_STR(info_str(t1->easy, XFERINFO_PRIMARY_IP), "");
  /* the same URL without the option: its own TCP connection */
  t2 = tx_new(tx_url("http://127.0.0.1:%d/peer", port));
  CHECK_EQ(xfer_multi_add_handle(m, t2->easy), XFERM_OK);
  drive_epoll(m, 5000, NULL);
  CHECK_EQ(t2->result, XFERE_OK);
  CHECK(strncmp(t2->body.data, "127.0.0.1 ", 10) == 0);
  /* and the unix one is reused by the next transfer that names it */
  t3 = tx_new(tx_url("http://127.0.0.1:%d/peer", port));
  apply(t3->easy, &o);
  CHECK_EQ(xfer_multi_add_handle(m, t3->easy), XFERM_OK);
  drive_epoll(m, 5000, NULL);
  CHECK_EQ(t3->result, XFERE_OK);
  CHECK(strncmp(t3->body.data, "unix: ", 6) == 0);
  CHECK_EQ(info_long(t3->easy, XFERINFO_NUM_CONNECTS), 0);
  xfer_multi_remove_handle(m, t1->easy);
  xfer_multi_remove_handle(m, t2->easy);
  xfer_multi_remove_handle(m, t3->easy);
  tx_free(t1);
  tx_free(t2);
  tx_free(t3);
  xfer_multi_cleanup(m);
  o.unix_path = "/nonexistent/xfer.sock";
  t1 = run("http://localhost/peer", apply, &o, 3000);
  CHECK_EQ(t1->result, XFERE_COULDNT_CONNECT);
  CHECK(strstr(t1->errbuf, "/nonexistent/xfer.sock") != NULL);
  tx_free(t1);
  {
    XFER *e = xfer_easy_init();
    char big[200];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    CHECK_EQ(xfer_easy_setopt(e, XFEROPT_UNIX_SOCKET_PATH, big),
             XFERE_BAD_FUNCTION_ARGUMENT);
    xfer_easy_cleanup(e);
  }
}

TEST(abstract_unix_socket) {
  struct sockaddr_un a;
  char name[64];
  struct opts o = {0};
  struct tx *t;
  pid_t pid;
  int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  snprintf(name, sizeof(name), "xfer-test-%d", (int)getpid());
  memset(&a, 0, sizeof(a));
  a.sun_family = AF_UNIX;
  memcpy(a.sun_path + 1, name, strlen(name));
  CHECK_EQ(bind(lfd, (struct sockaddr *)&a,
                (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
                            strlen(name))),
           0);
  CHECK_EQ(listen(lfd, 4), 0);
  pid = serve_once(lfd);
  o.abstract = name;
  t = run("http://localhost/", apply, &o, 5000);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK_STR(t->body.data, "hello");
  tx_free(t);
  reap(pid);
}

/* CONNECT_TO: the first entry that matches the URL's host and port (an
 * empty one matches any) sends the connection elsewhere; the Host header
 * and, over TLS, the name verified stay the URL's. */
TEST(connect_to_sends_the_connection_elsewhere) {
  /* entries (%d: nginx's port), URL, result, and what /peer says of Host */
  static const struct {
    const char *entry[2], *url;
    XFERcode rc;
    const char *host;
  } rows[] = {
      {{"other.invalid:1234:127.0.0.9:9", "example.invalid:1234:127.0.0.1:%d"},
       "http://example.invalid:1234/peer", XFERE_OK,
       " example.invalid:1234\n"},
      /* an empty host and port match any; an empty target host keeps it */
      {{"::127.0.0.1:%d", NULL}, "http://anything.invalid:77/peer", XFERE_OK,
       " anything.invalid:77\n"},
      {{"localhost:1::%d", NULL}, "http://localhost:1/peer", XFERE_OK,
       " localhost:1\n"},
      /* no match: the URL's own host, which does not resolve */
      {{"example.invalid:1235:127.0.0.1:%d", NULL},
       "http://example.invalid:1234/peer", XFERE_COULDNT_RESOLVE_HOST, NULL},
  };
  int port = tl_env_int("NGINX_PORT"), tls = tl_env_int("TLS_GOOD_PORT");
  size_t i, k;
  for (i = 0; i < NROWS(rows); i++) {
    struct opts o = {0};
    struct tx *t;
    for (k = 0; k < 2 && rows[i].entry[k]; k++)
      o.connect_to =
          xfer_slist_append(o.connect_to, tx_url(rows[i].entry[k], port));
    t = run(rows[i].url, apply, &o, 5000);
    CHECK_EQ(t->result, rows[i].rc);
    if (rows[i].host) CHECK(strstr(t->body.data, rows[i].host) != NULL);
    tx_free(t);
    xfer_slist_free_all(o.connect_to);
  }
  /* TLS: verified against the URL's name (localhost), not 127.0.0.1 */
  {
    XFERM *m = xfer_multi_init();
    struct tx *t2 = tx_new("https://localhost:9/1k.bin");
    struct xfer_slist *ct = one(tx_url("localhost:9:127.0.0.1:%d", tls));
    xfer_easy_setopt(t2->easy, XFEROPT_CAINFO, tl_env("TLS_CA"));
    xfer_easy_setopt(t2->easy, XFEROPT_CONNECT_TO, ct);
    CHECK_EQ(xfer_multi_add_handle(m, t2->easy), XFERM_OK);
    drive_epoll(m, 5000, NULL);
    CHECK_EQ(t2->result, XFERE_OK);
    CHECK_EQ(t2->body.len, 1024);
    xfer_multi_remove_handle(m, t2->easy);
    tx_free(t2);
    xfer_multi_cleanup(m);
    xfer_slist_free_all(ct);
  }
}

/* Two transfers to one URL, one sent elsewhere by CONNECT_TO: neither is
 * handed the other's connection. */
TEST(connect_to_is_part_of_the_route) {
  int port = tl_env_int("NGINX_PORT");
  XFERM *m = xfer_multi_init();
  /* the same address by another name: still another route */
  struct xfer_slist *ct = one(tx_url("127.0.0.1:%d:localhost:%d", port, port));
  struct tx *a = tx_new(tx_url("http://127.0.0.1:%d/peer", port)), *b;
  CHECK_EQ(xfer_multi_add_handle(m, a->easy), XFERM_OK);
  drive_epoll(m, 5000, NULL);
  CHECK_EQ(a->result, XFERE_OK);
  b = tx_new(tx_url("http://127.0.0.1:%d/peer", port));
  xfer_easy_setopt(b->easy, XFEROPT_CONNECT_TO, ct);
  CHECK_EQ(xfer_multi_add_handle(m, b->easy), XFERM_OK);
  drive_epoll(m, 5000, NULL);
  CHECK_EQ(b->result, XFERE_OK);
  CHECK_EQ(info_long(b->easy, XFERINFO_NUM_CONNECTS), 1);
  CHECK_STR(info_str(b->easy, XFERINFO_PRIMARY_IP), "127.0.0.1");
  xfer_multi_remove_handle(m, a->easy);
  xfer_multi_remove_handle(m, b->easy);
  tx_free(a);
  tx_free(b);
  xfer_multi_cleanup(m);
  xfer_slist_free_all(ct);
}
