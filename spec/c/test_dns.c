/*
 * test_dns.c -- name resolution: localhost without a resolver, numeric
 * IPv4 and IPv6 hosts, RESOLVE pins (and the Host header they leave
 * alone), IPRESOLVE, unresolvable names through c-ares beside good
 * transfers, c-ares sockets through the socket callback, and the multi
 * handle's DNS cache (DNS_CACHE_TIMEOUT).
 *
 * There is no network here, and /etc/hosts may not be changed.  The cache
 * tests still go through c-ares, offline, with HOSTALIASES: c-ares maps a
 * dot-less name through the file it names (read at every lookup), and
 * "cachetest vm" resolves through /etc/hosts ("vm" is listed there) to
 * 127.0.0.1 without any socket.  Pointing the alias elsewhere afterwards
 * ("cachetest nonexistent.invalid") makes a fresh lookup fail, so a
 * transfer that still succeeds got its address from the cache.  Positive
 * answers from a name server, and concurrent lookups of one name sharing
 * a query, come from a UDP name server of the test's own, which the
 * transfers are sent to with DNS_SERVERS.  TTLs from DNS records are not
 * used (xfer, as libcurl, uses DNS_CACHE_TIMEOUT only).
 *
 * IPv6 tests use a one-shot HTTP server of their own on [::1] (nginx
 * listens on 127.0.0.1 only), served from the same perform + poll loop
 * through xfer_multi_poll's extra fds; they are skipped, with a message,
 * when ::1 cannot be bound.
 */
#include "driver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- helpers ---- */



static struct tx *add(XFERM *m, const char *url) {
  struct tx *t = tx_new(url);
  CHECK_EQ(xfer_multi_add_handle(m, t->easy), XFERM_OK);
  return t;
}

static void done_with(XFERM *m, struct tx *t) {
  CHECK_EQ(xfer_multi_remove_handle(m, t->easy), XFERM_OK);
  tx_free(t);
}

/* One transfer on its own multi handle, event driven; the caller frees. */
static struct tx *run_one(const char *url, struct xfer_slist *resolve,
                          long ipresolve, struct drive_stats *ds) {
  XFERM *m = xfer_multi_init();
  struct tx *t = tx_new(url);
  CHECK(m);
  xfer_easy_setopt(t->easy, XFEROPT_TIMEOUT_MS, 10000L);
  if (resolve) xfer_easy_setopt(t->easy, XFEROPT_RESOLVE, resolve);
  if (ipresolve >= 0)
    CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_IPRESOLVE, ipresolve),
             XFERE_OK);
  CHECK_EQ(xfer_multi_add_handle(m, t->easy), XFERM_OK);
  if (ds) memset(ds, 0, sizeof(*ds));
  drive_epoll(m, 12000, ds);
  CHECK(t->done);
  CHECK_EQ(xfer_multi_remove_handle(m, t->easy), XFERM_OK);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  return t;
}

/* ---- a one-shot HTTP server on [::1] ---- */

struct v6srv {
  int lfd, cfd, port, answered;
  char req[4096];
  size_t len;
};

/* Returns 0, or -1 (after printing why) when ::1 is not available. */
static int v6_start(struct v6srv *s) {
  struct sockaddr_in6 a;
  socklen_t len = sizeof(a);
  memset(s, 0, sizeof(*s));
  s->cfd = -1;
  s->lfd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s->lfd < 0) {
    printf("     SKIP: no IPv6 sockets (%s)\n", strerror(errno));
    return -1;
  }
  memset(&a, 0, sizeof(a));
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  if (bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
      listen(s->lfd, 4) != 0 ||
      getsockname(s->lfd, (struct sockaddr *)&a, &len) != 0) {
    printf("     SKIP: cannot listen on [::1] (%s)\n", strerror(errno));
    close(s->lfd);
    s->lfd = -1;
    return -1;
  }
  s->port = ntohs(a.sin6_port);
  return 0;
}

static void v6_stop(struct v6srv *s) {
  if (s->cfd >= 0) close(s->cfd);
  if (s->lfd >= 0) close(s->lfd);
  s->cfd = s->lfd = -1;
}

/* Serves what is ready: accepts, reads a request head, answers "hello". */
static void v6_serve(struct v6srv *s) {
  static const char resp[] =
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
  if (s->cfd < 0) {
    s->cfd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (s->cfd < 0) return;
  }
  while (!s->answered && s->len < sizeof(s->req) - 1) {
    ssize_t n = read(s->cfd, s->req + s->len, sizeof(s->req) - 1 - s->len);
    if (n <= 0) break;
    s->len += (size_t)n;
    s->req[s->len] = 0;
  }
  if (!s->answered && strstr(s->req, "\r\n\r\n")) {
    CHECK_EQ(write(s->cfd, resp, sizeof(resp) - 1), (ssize_t)sizeof(resp) - 1);
    s->answered = 1;
  }
}

/* perform + poll, with the server's fds as extra fds. */
static void v6_drive(XFERM *m, struct v6srv *s, int limit_ms) {
  int running = 1;
  uint64_t end = tl_now_ms() + (uint64_t)limit_ms;
  while (running) {
    struct xfer_waitfd ex[2];
    unsigned n = 0;
    if (tl_now_ms() > end) tl_fail(__FILE__, __LINE__, "v6_drive: deadline");
    CHECK_EQ(xfer_multi_perform(m, &running), XFERM_OK);
    drain_msgs(m);
    if (!running) break;
    ex[n].fd = s->lfd;
    ex[n].events = XFER_WAIT_POLLIN;
    ex[n++].revents = 0;
    if (s->cfd >= 0 && !s->answered) {
      ex[n].fd = s->cfd;
      ex[n].events = XFER_WAIT_POLLIN;
      ex[n++].revents = 0;
    }
    CHECK_EQ(xfer_multi_poll(m, ex, n, 50, NULL), XFERM_OK);
    v6_serve(s);
  }
  drain_msgs(m);
}

/* One transfer to the [::1] server; returns it (the caller frees). */
static struct tx *v6_fetch(struct v6srv *s, const char *url,
                           struct xfer_slist *resolve, long ipresolve) {
  XFERM *m = xfer_multi_init();
  struct tx *t = tx_new(url);
  xfer_easy_setopt(t->easy, XFEROPT_TIMEOUT_MS, 5000L);
  if (resolve) xfer_easy_setopt(t->easy, XFEROPT_RESOLVE, resolve);
  if (ipresolve >= 0) xfer_easy_setopt(t->easy, XFEROPT_IPRESOLVE, ipresolve);
  CHECK_EQ(xfer_multi_add_handle(m, t->easy), XFERM_OK);
  v6_drive(m, s, 6000);
  CHECK(t->done);
  CHECK_EQ(xfer_multi_remove_handle(m, t->easy), XFERM_OK);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  return t;
}

/* ---- HOSTALIASES for offline c-ares lookups ---- */

static char alias_path[64];

static void alias_set(const char *line) {
  FILE *f;
  if (!alias_path[0]) {
    int fd;
    strcpy(alias_path, "/tmp/xfer-aliases.XXXXXX");
    fd = mkstemp(alias_path);
    CHECK(fd >= 0);
    close(fd);
    CHECK(setenv("HOSTALIASES", alias_path, 1) == 0);
  }
  f = fopen(alias_path, "w");
  CHECK(f);
  fprintf(f, "%s\n", line);
  fclose(f);
}

static void alias_done(void) {
  if (alias_path[0]) unlink(alias_path);
  alias_path[0] = 0;
  unsetenv("HOSTALIASES");
}

/* ---- localhost and numeric hosts ---- */

/* localhost never goes to a resolver (RFC 6761; libcurl resolves it
 * internally): an alias that c-ares would apply to it changes nothing. */
TEST(localhost_without_resolver) {
  int fds = tl_count_fds();
  struct drive_stats ds;
  struct tx *t;
  alias_set("localhost nonexistent.invalid");
  t = run_one(tx_url("http://localhost:%d/1k.bin", tl_env_int("NGINX_PORT")),
              NULL, -1, &ds);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK_EQ(t->body.len, 1024);
  CHECK_STR(info_str(t->easy, XFERINFO_PRIMARY_IP), "127.0.0.1"); /* v4 first */
  CHECK_EQ(ds.max_socks_watched, 1); /* the connection only */
  CHECK(strstr(t->headers.data, "HTTP/1.1 200") == t->headers.data);
  tx_free(t);
  alias_done();
  CHECK_EQ(tl_count_fds(), fds);
}

TEST(localhost_subdomain_and_case) {
  int fds = tl_count_fds();
  struct tx *t;
  t = run_one(tx_url("http://app.localhost:%d/index.html",
                     tl_env_int("NGINX_PORT")), NULL, -1, NULL);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK_STR(t->body.data, "hello from nginx\n");
  CHECK_STR(info_str(t->easy, XFERINFO_PRIMARY_IP), "127.0.0.1");
  tx_free(t);
  t = run_one(tx_url("http://LocalHost:%d/index.html",
                     tl_env_int("NGINX_PORT")), NULL, -1, NULL);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK_STR(t->body.data, "hello from nginx\n");
  tx_free(t);
  CHECK_EQ(tl_count_fds(), fds);
}

TEST(numeric_ipv4) {
  int fds = tl_count_fds();
  struct tx *t = run_one(tx_url("http://127.0.0.1:%d/files/3.txt",
                                tl_env_int("NGINX_PORT")), NULL, -1, NULL);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK_STR(t->body.data, "file 3\n");
  CHECK_STR(info_str(t->easy, XFERINFO_PRIMARY_IP), "127.0.0.1");
  CHECK_EQ(info_long(t->easy, XFERINFO_PRIMARY_PORT), tl_env_int("NGINX_PORT"));
  tx_free(t);
  CHECK_EQ(tl_count_fds(), fds);
}

TEST(numeric_ipv6) {
  struct v6srv s;
  struct tx *t;
  char host[64];
  int fds = tl_count_fds();
  if (v6_start(&s)) return;
  t = v6_fetch(&s, tx_url("http://[::1]:%d/v6", s.port), NULL, -1);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK_STR(t->body.data, "hello");
  CHECK_STR(info_str(t->easy, XFERINFO_PRIMARY_IP), "::1");
  CHECK_EQ(info_long(t->easy, XFERINFO_PRIMARY_PORT), s.port);
  CHECK(strncmp(s.req, "GET /v6 HTTP/1.1\r\n", 18) == 0);
  snprintf(host, sizeof(host), "\r\nHost: [::1]:%d\r\n", s.port);
  if (!strstr(s.req, host))
    tl_fail(__FILE__, __LINE__, "no '%s' in request:\n%s", host + 2, s.req);
  tx_free(t);
  v6_stop(&s);
  CHECK_EQ(tl_count_fds(), fds);
}

/* localhost is 127.0.0.1 then ::1: nothing listens on 127.0.0.1 at the
 * server's port, so the connection falls back to ::1; with IPRESOLVE_V6
 * it goes there directly. */
TEST(localhost_falls_back_to_ipv6) {
  long ipr[2] = {-1, XFER_IPRESOLVE_V6};
  int i, fds = tl_count_fds();
  for (i = 0; i < 2; i++) {
    struct v6srv s;
    struct tx *t;
    if (v6_start(&s)) return;
    t = v6_fetch(&s, tx_url("http://localhost:%d/", s.port), NULL, ipr[i]);
    CHECK_EQ(t->result, XFERE_OK);
    CHECK_STR(t->body.data, "hello");
    CHECK_STR(info_str(t->easy, XFERINFO_PRIMARY_IP), "::1");
    tx_free(t);
    v6_stop(&s);
  }
  CHECK_EQ(tl_count_fds(), fds);
}

/* ---- RESOLVE ---- */

TEST(resolve_pin_reaches_nginx) {
  int port = tl_env_int("NGINX_PORT"), fds = tl_count_fds();
  struct xfer_slist *r =
      xfer_slist_append(NULL, tx_url("example.test:%d:127.0.0.1", port));
  struct tx *t = run_one(tx_url("http://example.test:%d/1k.bin", port), r,
                         -1, NULL);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK_EQ(t->body.len, 1024);
  CHECK_STR(info_str(t->easy, XFERINFO_PRIMARY_IP), "127.0.0.1");
  CHECK_EQ(info_long(t->easy, XFERINFO_NUM_CONNECTS), 1);
  tx_free(t);
  /* host names compare case-insensitively */
  t = run_one(tx_url("http://EXAMPLE.Test:%d/files/1.txt", port), r, -1,
              NULL);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK_STR(t->body.data, "file 1\n");
  tx_free(t);
  xfer_slist_free_all(r);
  CHECK_EQ(tl_count_fds(), fds);
}

/* The pin changes where the connection goes, not what is sent. */
TEST(resolve_keeps_host_header) {
  int port = fault_port(""), fds = tl_count_fds();
  char want[80];
  struct xfer_slist *r =
      xfer_slist_append(NULL, tx_url("echo.test:%d:127.0.0.1", port));
  struct tx *t =
      run_one(tx_url("http://echo.test:%d/echo", port), r, -1, NULL);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK(t->body.data);
  CHECK(strncmp(t->body.data, "GET /echo HTTP/1.1\r\n", 20) == 0);
  snprintf(want, sizeof(want), "\r\nHost: echo.test:%d\r\n", port);
  if (!strstr(t->body.data, want))
    tl_fail(__FILE__, __LINE__, "no '%s' in the echoed request:\n%s",
            want + 2, t->body.data);
  CHECK_STR(tx_url("%s", info_str(t->easy, XFERINFO_EFFECTIVE_URL)),
            tx_url("http://echo.test:%d/echo", port));
  tx_free(t);
  xfer_slist_free_all(r);
  CHECK_EQ(tl_count_fds(), fds);
}

/* An entry for another port does not apply: the name goes to c-ares. */
TEST(resolve_other_port_not_used) {
  int port = tl_env_int("NGINX_PORT"), fds = tl_count_fds();
  struct xfer_slist *r = xfer_slist_append(
      NULL, tx_url("nonexistent.invalid:%d:127.0.0.1", port + 1));
  struct tx *t = run_one(tx_url("http://nonexistent.invalid:%d/1k.bin", port),
                         r, -1, NULL);
  CHECK_EQ(t->result, XFERE_COULDNT_RESOLVE_HOST);
  CHECK_EQ(t->body.len, 0);
  tx_free(t);
  xfer_slist_free_all(r);
  CHECK_EQ(tl_count_fds(), fds);
}

/* A connection made to a RESOLVE pin, or under IPRESOLVE, is not reused
 * by a transfer to the same name without that pin or with another
 * IPRESOLVE: the cache keys on both, so each goes where its own options
 * say (here: a lookup that fails offline, and ::1 where nobody listens). */
TEST(pinned_connection_not_reused_without_the_pin) {
  int port = tl_env_int("NGINX_PORT"), fds = tl_count_fds();
  XFERM *m = xfer_multi_init();
  struct xfer_slist *r = xfer_slist_append(
      NULL, tx_url("nonexistent.invalid:%d:127.0.0.1", port));
  struct tx *a = add(m, tx_url("http://nonexistent.invalid:%d/1k.bin", port));
  struct tx *b, *c, *d;
  xfer_easy_setopt(a->easy, XFEROPT_RESOLVE, r);
  drive_poll(m, 8000);
  CHECK_EQ(a->result, XFERE_OK);
  b = add(m, tx_url("http://nonexistent.invalid:%d/1k.bin", port));
  drive_poll(m, 8000);
  CHECK_EQ(b->result, XFERE_COULDNT_RESOLVE_HOST);
  /* with the same pin it is reused */
  c = add(m, tx_url("http://nonexistent.invalid:%d/1k.bin", port));
  xfer_easy_setopt(c->easy, XFEROPT_RESOLVE, r);
  drive_poll(m, 8000);
  CHECK_EQ(c->result, XFERE_OK);
  CHECK_EQ(info_long(c->easy, XFERINFO_NUM_CONNECTS), 0);
  /* IPRESOLVE: a v6-only transfer does not take the v4 connection */
  d = add(m, tx_url("http://nonexistent.invalid:%d/1k.bin", port));
  xfer_easy_setopt(d->easy, XFEROPT_RESOLVE, r);
  xfer_easy_setopt(d->easy, XFEROPT_IPRESOLVE, (long)XFER_IPRESOLVE_V6);
  drive_poll(m, 8000);
  CHECK_EQ(d->result, XFERE_COULDNT_CONNECT);
  done_with(m, a);
  done_with(m, b);
  done_with(m, c);
  done_with(m, d);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  xfer_slist_free_all(r);
  CHECK_EQ(tl_count_fds(), fds);
}

/* Several addresses: one that refuses is skipped for the next. */
TEST(resolve_several_addresses) {
  int port = tl_env_int("NGINX_PORT"), fds = tl_count_fds();
  struct xfer_slist *r = xfer_slist_append(
      NULL, tx_url("multi.test:%d:127.0.0.2,127.0.0.1", port));
  struct tx *t =
      run_one(tx_url("http://multi.test:%d/1k.bin", port), r, -1, NULL);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK_EQ(t->body.len, 1024);
  CHECK_STR(info_str(t->easy, XFERINFO_PRIMARY_IP), "127.0.0.1");
  tx_free(t);
  xfer_slist_free_all(r);
  CHECK_EQ(tl_count_fds(), fds);
}

/* A v4-only pin with IPRESOLVE_V6 leaves no usable address. */
TEST(resolve_v4_pin_with_ipresolve_v6) {
  int port = tl_env_int("NGINX_PORT"), fds = tl_count_fds();
  struct xfer_slist *r =
      xfer_slist_append(NULL, tx_url("v4only.test:%d:127.0.0.1", port));
  struct tx *t = run_one(tx_url("http://v4only.test:%d/1k.bin", port), r,
                         XFER_IPRESOLVE_V6, NULL);
  CHECK_EQ(t->result, XFERE_COULDNT_CONNECT);
  CHECK(t->errbuf[0]);
  tx_free(t);
  t = run_one(tx_url("http://v4only.test:%d/1k.bin", port), r,
              XFER_IPRESOLVE_V4, NULL);
  CHECK_EQ(t->result, XFERE_OK);
  tx_free(t);
  xfer_slist_free_all(r);
  CHECK_EQ(tl_count_fds(), fds);
}

TEST(resolve_ipv6_pin) {
  struct v6srv s;
  struct tx *t;
  struct xfer_slist *r;
  char host[64];
  int fds = tl_count_fds();
  if (v6_start(&s)) return;
  r = xfer_slist_append(NULL, tx_url("v6.test:%d:[::1]", s.port));
  t = v6_fetch(&s, tx_url("http://v6.test:%d/pinned", s.port), r, -1);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK_STR(t->body.data, "hello");
  CHECK_STR(info_str(t->easy, XFERINFO_PRIMARY_IP), "::1");
  snprintf(host, sizeof(host), "\r\nHost: v6.test:%d\r\n", s.port);
  CHECK(strstr(s.req, host) != NULL);
  tx_free(t);
  xfer_slist_free_all(r);
  v6_stop(&s);
  CHECK_EQ(tl_count_fds(), fds);
}

/* ---- c-ares ---- */

TEST(unresolvable_beside_good_transfer) {
  int fds = tl_count_fds();
  XFERM *m = xfer_multi_init();
  struct tx *bad = add(m, "http://nonexistent.invalid/");
  struct tx *good = add(m, tx_url("%s/1k.bin", http_base()));
  xfer_easy_setopt(bad->easy, XFEROPT_TIMEOUT_MS, 10000L);
  drive_epoll(m, 12000, NULL);
  CHECK_EQ(bad->result, XFERE_COULDNT_RESOLVE_HOST);
  CHECK(strstr(bad->errbuf, "nonexistent.invalid") != NULL);
  CHECK_EQ(info_long(bad->easy, XFERINFO_RESPONSE_CODE), 0);
  CHECK_EQ(good->result, XFERE_OK);
  CHECK_EQ(good->body.len, 1024);
  done_with(m, bad);
  done_with(m, good);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  CHECK_EQ(tl_count_fds(), fds);
}

/* Through perform + poll as well (c-ares sockets in xfer_multi_poll). */
TEST(unresolvable_perform_poll) {
  int fds = tl_count_fds();
  XFERM *m = xfer_multi_init();
  struct tx *bad = add(m, "http://nonexistent.invalid:8080/x");
  xfer_easy_setopt(bad->easy, XFEROPT_TIMEOUT_MS, 10000L);
  drive_poll(m, 12000);
  CHECK_EQ(bad->result, XFERE_COULDNT_RESOLVE_HOST);
  done_with(m, bad);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  CHECK_EQ(tl_count_fds(), fds);
}

static int has_nameserver(void) {
  char line[256];
  int found = 0;
  FILE *f = fopen("/etc/resolv.conf", "r");
  if (!f) return 0;
  while (!found && fgets(line, sizeof(line), f))
    found = strncmp(line, "nameserver", 10) == 0;
  fclose(f);
  return found;
}

/* c-ares' sockets are the application's to watch, like connections. */
TEST(cares_sockets_through_callback) {
  int fds = tl_count_fds();
  struct drive_stats ds;
  struct tx *t = run_one("http://nonexistent.invalid/", NULL, -1, &ds);
  CHECK_EQ(t->result, XFERE_COULDNT_RESOLVE_HOST);
  if (has_nameserver()) {
    CHECK_INT(ds.socket_calls_by_what[XFER_POLL_IN], >=, 1);
    CHECK_INT(ds.max_socks_watched, >=, 1);
    /* every socket it was told about was removed again */
    CHECK_INT(ds.socket_calls_by_what[XFER_POLL_REMOVE], >=, 1);
  } else {
    printf("     note: no nameserver in /etc/resolv.conf\n");
  }
  tx_free(t);
  CHECK_EQ(tl_count_fds(), fds);
}

/* A transfer removed while its lookup runs; the multi is used again and
 * then cleaned up with the query still pending. */
TEST(remove_while_resolving) {
  int fds = tl_count_fds(), running = 0;
  XFERM *m = xfer_multi_init();
  struct tx *t = add(m, "http://nonexistent.invalid/");
  struct tx *u;
  CHECK_EQ(xfer_multi_perform(m, &running), XFERM_OK); /* query sent */
  drain_msgs(m);
  if (!t->done) CHECK_EQ(running, 1);
  done_with(m, t);
  u = add(m, tx_url("%s/files/9.txt", http_base()));
  drive_poll(m, 5000);
  CHECK_EQ(u->result, XFERE_OK);
  CHECK_STR(u->body.data, "file 9\n");
  done_with(m, u);
  t = add(m, "http://nonexistent.invalid/again");
  CHECK_EQ(xfer_multi_perform(m, &running), XFERM_OK);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK); /* t still added, resolving */
  tx_free(t);
  CHECK_EQ(tl_count_fds(), fds);
}

/* ---- the DNS cache (offline, see the top of the file) ---- */

/* Each transfer closes its connection (FORBID_REUSE), so that the next one
 * needs an address: a cached connection is found by name, without one. */
static struct tx *cached_fetch(XFERM *m, long cache_timeout) {
  struct tx *t = tx_new(tx_url("http://cachetest:%d/1k.bin",
                               tl_env_int("NGINX_PORT")));
  xfer_easy_setopt(t->easy, XFEROPT_TIMEOUT_MS, 10000L);
  xfer_easy_setopt(t->easy, XFEROPT_FORBID_REUSE, 1L);
  if (cache_timeout != -2)
    CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_DNS_CACHE_TIMEOUT,
                              cache_timeout), XFERE_OK);
  CHECK_EQ(xfer_multi_add_handle(m, t->easy), XFERM_OK);
  drive_poll(m, 12000);
  CHECK(t->done);
  return t;
}

/* The cache belongs to the multi handle, shared by its easy handles. */
TEST(dns_cache_shared_by_easies) {
  int fds = tl_count_fds();
  XFERM *m = xfer_multi_init(), *m2;
  struct tx *a, *b, *c;
  alias_set("cachetest vm");
  a = cached_fetch(m, -2);
  CHECK_EQ(a->result, XFERE_OK);
  CHECK_EQ(a->body.len, 1024);
  CHECK_STR(info_str(a->easy, XFERINFO_PRIMARY_IP), "127.0.0.1");
  alias_set("cachetest nonexistent.invalid"); /* a fresh lookup fails */
  /* another easy handle on the same multi, on a new connection: its
   * address comes from the cache */
  b = cached_fetch(m, -2);
  CHECK_EQ(b->result, XFERE_OK);
  CHECK_EQ(info_long(b->easy, XFERINFO_NUM_CONNECTS), 1);
  CHECK_STR(info_str(b->easy, XFERINFO_PRIMARY_IP), "127.0.0.1");
  /* another multi handle has a cache of its own */
  m2 = xfer_multi_init();
  c = cached_fetch(m2, -2);
  CHECK(c->result != XFERE_OK);
  done_with(m2, c);
  CHECK_EQ(xfer_multi_cleanup(m2), XFERM_OK);
  done_with(m, a);
  done_with(m, b);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  alias_done();
  CHECK_EQ(tl_count_fds(), fds);
}

/* DNS_CACHE_TIMEOUT 0: no caching; -1: forever. */
TEST(dns_cache_timeout_zero_and_forever) {
  int fds = tl_count_fds();
  XFERM *m = xfer_multi_init();
  struct tx *a, *b, *c;
  alias_set("cachetest vm");
  a = cached_fetch(m, -2);
  CHECK_EQ(a->result, XFERE_OK);
  alias_set("cachetest nonexistent.invalid");
  b = cached_fetch(m, -1);
  CHECK_EQ(b->result, XFERE_OK);
  c = cached_fetch(m, 0);
  CHECK_EQ(c->result, XFERE_COULDNT_RESOLVE_HOST);
  done_with(m, a);
  done_with(m, b);
  done_with(m, c);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  alias_done();
  CHECK_EQ(tl_count_fds(), fds);
}

TEST(dns_cache_timeout_expires) {
  int fds = tl_count_fds();
  XFERM *m = xfer_multi_init();
  struct tx *a, *b, *c;
  alias_set("cachetest vm");
  a = cached_fetch(m, 1);
  CHECK_EQ(a->result, XFERE_OK);
  alias_set("cachetest nonexistent.invalid");
  b = cached_fetch(m, 1);
  CHECK_EQ(b->result, XFERE_OK); /* well within the second */
  usleep(1100000);
  c = cached_fetch(m, 1);
  CHECK_EQ(c->result, XFERE_COULDNT_RESOLVE_HOST);
  done_with(m, a);
  done_with(m, b);
  done_with(m, c);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  alias_done();
  CHECK_EQ(tl_count_fds(), fds);
}

/* A failed lookup is not cached: once the name resolves, it is used. */
TEST(dns_failure_not_cached) {
  int fds = tl_count_fds();
  XFERM *m = xfer_multi_init();
  struct tx *a, *b;
  alias_set("cachetest nonexistent.invalid");
  a = cached_fetch(m, -2);
  CHECK_EQ(a->result, XFERE_COULDNT_RESOLVE_HOST);
  alias_set("cachetest vm");
  b = cached_fetch(m, -2);
  CHECK_EQ(b->result, XFERE_OK);
  done_with(m, a);
  done_with(m, b);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  alias_done();
  CHECK_EQ(tl_count_fds(), fds);
}

/* libcurl: values below -1 are CURLE_BAD_FUNCTION_ARGUMENT. */
TEST(dns_cache_timeout_option) {
  XFER *e = xfer_easy_init();
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_DNS_CACHE_TIMEOUT, 60L), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_DNS_CACHE_TIMEOUT, 0L), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_DNS_CACHE_TIMEOUT, -1L), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_DNS_CACHE_TIMEOUT, -2L),
           XFERE_BAD_FUNCTION_ARGUMENT);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_IPRESOLVE, 3L),
           XFERE_BAD_FUNCTION_ARGUMENT);
  xfer_easy_cleanup(e);
}

/* ---- DNS_SERVERS, and concurrent lookups sharing one query ---- */

/* A name server of the test's own on 127.0.0.1 (UDP), served from the
 * drive loop: A queries get 127.0.0.1, others an empty answer.  It counts
 * the queries it is asked. */
struct dnssrv {
  int fd, port, queries;
};

static void dns_start(struct dnssrv *s) {
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  memset(s, 0, sizeof(*s));
  s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  CHECK(s->fd >= 0);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK_EQ(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
  CHECK_EQ(getsockname(s->fd, (struct sockaddr *)&a, &len), 0);
  s->port = ntohs(a.sin_port);
}

static void dns_serve(struct dnssrv *s) {
  static const unsigned char answer[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0,
                                         60,   0,    4, 127, 0, 0, 1};
  unsigned char q[512], r[600];
  for (;;) {
    struct sockaddr_storage from;
    socklen_t fl = sizeof(from);
    ssize_t n = recvfrom(s->fd, q, sizeof(q), 0, (struct sockaddr *)&from,
                         &fl);
    size_t off = 12, len;
    int qtype;
    if (n < 0) return;
    if (n < 12) continue;
    s->queries++;
    while (off < (size_t)n && q[off]) off += (size_t)q[off] + 1;
    off++;
    if (off + 4 > (size_t)n) continue;
    qtype = q[off] << 8 | q[off + 1];
    len = off + 4; /* the header and the question, nothing after */
    memcpy(r, q, len);
    r[2] = 0x81; /* a response, recursion desired */
    r[3] = 0x80; /* recursion available, no error */
    r[6] = 0;
    r[7] = qtype == 1;
    r[8] = r[9] = r[10] = r[11] = 0;
    if (qtype == 1) {
      memcpy(r + len, answer, sizeof(answer));
      len += sizeof(answer);
    }
    sendto(s->fd, r, len, 0, (struct sockaddr *)&from, fl);
  }
}

static void dns_drive(XFERM *m, struct dnssrv *s, int limit_ms) {
  int running = 1;
  uint64_t end = tl_now_ms() + (uint64_t)limit_ms;
  while (running) {
    struct xfer_waitfd ex;
    if (tl_now_ms() > end) tl_fail(__FILE__, __LINE__, "dns_drive: deadline");
    CHECK_EQ(xfer_multi_perform(m, &running), XFERM_OK);
    drain_msgs(m);
    if (!running) break;
    ex.fd = s->fd;
    ex.events = XFER_WAIT_POLLIN;
    ex.revents = 0;
    CHECK_EQ(xfer_multi_poll(m, &ex, 1, 50, NULL), XFERM_OK);
    dns_serve(s);
  }
  drain_msgs(m);
}

/* 200 transfers to one new name at once: one lookup (an A and an AAAA
 * query) answers them all; later ones come from the cache. */
TEST(concurrent_lookups_of_one_name_share_one_query) {
  enum { N = 200 };
  int port = tl_env_int("NGINX_PORT"), i, fds = tl_count_fds();
  struct dnssrv s;
  struct tx *t[N];
  XFERM *m = xfer_multi_init();
  char servers[32];
  dns_start(&s);
  snprintf(servers, sizeof(servers), "127.0.0.1:%d", s.port);
  for (i = 0; i < N; i++) {
    t[i] = tx_new(tx_url("http://crawl.test:%d/1k.bin", port));
    CHECK_EQ(xfer_easy_setopt(t[i]->easy, XFEROPT_DNS_SERVERS, servers),
             XFERE_OK);
    CHECK_EQ(xfer_multi_add_handle(m, t[i]->easy), XFERM_OK);
  }
  dns_drive(m, &s, 20000);
  for (i = 0; i < N; i++) {
    CHECK_EQ(t[i]->result, XFERE_OK);
    CHECK_EQ(t[i]->body.len, 1024);
  }
  CHECKF(s.queries >= 1 && s.queries <= 2, "%d queries for %d transfers",
         s.queries, N);
  /* again, after the first ones: the cache answers */
  for (i = 0; i < N; i++) {
    xfer_multi_remove_handle(m, t[i]->easy);
    xfer_easy_setopt(t[i]->easy, XFEROPT_FRESH_CONNECT, 1L);
    t[i]->done = 0;
    CHECK_EQ(xfer_multi_add_handle(m, t[i]->easy), XFERM_OK);
  }
  dns_drive(m, &s, 20000);
  for (i = 0; i < N; i++) CHECK_EQ(t[i]->result, XFERE_OK);
  CHECK(s.queries <= 2);
  for (i = 0; i < N; i++) {
    xfer_multi_remove_handle(m, t[i]->easy);
    tx_free(t[i]);
  }
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  close(s.fd);
  CHECK_EQ(tl_count_fds(), fds);
}

TEST(dns_servers_option_checks_its_list) {
  static const char *bad[] = {"", "dns.example", "1.2.3.4:0", "[::1",
                              "1.2.3.4:99999", "1.2.3.4,", "[::1]x"};
  static const char *good[] = {"127.0.0.1", "127.0.0.1:53,[::1]:5353",
                               "::1", "10.0.0.1,10.0.0.2:54"};
  XFER *e = xfer_easy_init();
  size_t i;
  for (i = 0; i < NROWS(bad); i++)
    CHECKF(xfer_easy_setopt(e, XFEROPT_DNS_SERVERS, bad[i]) ==
               XFERE_BAD_FUNCTION_ARGUMENT, "%s", bad[i]);
  for (i = 0; i < NROWS(good); i++)
    CHECKF(xfer_easy_setopt(e, XFEROPT_DNS_SERVERS, good[i]) == XFERE_OK,
           "%s", good[i]);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_DNS_SERVERS, NULL), XFERE_OK);
  xfer_easy_cleanup(e);
}
