/*
 * test_dns_ports.c -- one host name, two ports: each request must reach the
 * port its URL names, whether the name's addresses come from a fresh
 * lookup, from the DNS cache, from a lookup shared with a transfer to the
 * other port, or from RESOLVE pins.  (A cache that kept the first lookup's
 * port sent "GET /private" and its credentials to the other server.)
 *
 * A real c-ares lookup needs a name server.  Each test moves into network
 * and mount namespaces of its own (netns_isolate in driver.c: the machine's
 * resolv.conf is untouched) and answers the queries itself, on
 * 127.0.0.1:53, from the same perform + poll loop that drives the
 * transfers.  Two recording HTTP servers on
 * 127.0.0.1 say which requests reached which port.  Needs root (CI and
 * the suite run as root); elsewhere each test says SKIP.
 */
#include "driver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#define NAME "twoports.test"
#define MAXC 8

struct rec_server {
  int lfd, port;
  int cfd[MAXC];
  char req[MAXC][2048];
  size_t len[MAXC];
  char log[4096];           /* "GET /path auth\n" per request served */
  int served;
};

static int dns_fd = -1, dns_queries;
static struct rec_server srv[2];

/* ---- the name server: NAME is 127.0.0.1, with no IPv6 address ---- */

static void dns_start(void) {
  struct sockaddr_in a;
  dns_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  CHECK(dns_fd >= 0);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons(53);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(bind(dns_fd, (struct sockaddr *)&a, sizeof(a)) == 0);
}

static void dns_answer(void) {
  unsigned char q[512], r[600];
  struct sockaddr_storage from;
  socklen_t fl = sizeof(from);
  ssize_t n;
  while ((n = recvfrom(dns_fd, q, sizeof(q), 0, (struct sockaddr *)&from,
                       &fl)) > 12) {
    size_t i = 12, rl;
    int qtype;
    char name[256];
    size_t nl = 0;
    dns_queries++;
    while (i < (size_t)n && q[i] && nl + q[i] + 1 < sizeof(name)) {
      if (nl) name[nl++] = '.';
      memcpy(name + nl, q + i + 1, q[i]);
      nl += q[i];
      i += (size_t)q[i] + 1;
    }
    name[nl] = 0;
    i++; /* the root label */
    CHECK(i + 4 <= (size_t)n);
    qtype = q[i] << 8 | q[i + 1];
    i += 4;
    memcpy(r, q, i);
    r[2] = 0x81; /* response, recursion desired */
    r[3] = 0x80; /* recursion available, NOERROR */
    r[4] = r[5] = 0; /* one question */
    r[5] = 1;
    memset(r + 6, 0, 6);
    rl = i;
    if (qtype == 1 && strcasecmp(name, NAME) == 0) {
      static const unsigned char an[] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60,
                                         0, 4, 127, 0, 0, 1};
      r[7] = 1;
      memcpy(r + rl, an, sizeof(an));
      rl += sizeof(an);
    } else if (strcasecmp(name, NAME) != 0) {
      r[3] = 0x83; /* NXDOMAIN */
    }
    CHECK(sendto(dns_fd, r, rl, 0, (struct sockaddr *)&from, fl) ==
          (ssize_t)rl);
    fl = sizeof(from);
  }
}

/* ---- the recording HTTP servers ---- */

static void srv_start(struct rec_server *s) {
  struct sockaddr_in a;
  socklen_t al = sizeof(a);
  int i;
  memset(s, 0, sizeof(*s));
  for (i = 0; i < MAXC; i++) s->cfd[i] = -1;
  s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) == 0);
  CHECK(listen(s->lfd, 16) == 0);
  CHECK(getsockname(s->lfd, (struct sockaddr *)&a, &al) == 0);
  s->port = ntohs(a.sin_port);
}

/* Accepts, reads request heads, logs "METHOD PATH [auth]" and answers
 * with the port's number, closing each connection after one response. */
static void srv_serve(struct rec_server *s) {
  int i, fd;
  while ((fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >=
         0) {
    for (i = 0; i < MAXC && s->cfd[i] >= 0; i++) {}
    CHECK(i < MAXC);
    s->cfd[i] = fd;
    s->len[i] = 0;
  }
  for (i = 0; i < MAXC; i++) {
    ssize_t n;
    char *end, resp[512], line[256];
    int bl;
    if (s->cfd[i] < 0) continue;
    while ((n = read(s->cfd[i], s->req[i] + s->len[i],
                     sizeof(s->req[i]) - 1 - s->len[i])) > 0)
      s->len[i] += (size_t)n;
    s->req[i][s->len[i]] = 0;
    if (!(end = strstr(s->req[i], "\r\n\r\n"))) {
      if (n == 0) {
        close(s->cfd[i]);
        s->cfd[i] = -1;
      }
      continue;
    }
    snprintf(line, sizeof(line), "%.*s%s\n",
             (int)strcspn(s->req[i], " ") + 1 +
                 (int)strcspn(s->req[i] + strcspn(s->req[i], " ") + 1, " "),
             s->req[i], strstr(s->req[i], "\r\nAuthorization:") ? " auth" : "");
    CHECK(strlen(s->log) + strlen(line) < sizeof(s->log));
    strcat(s->log, line);
    s->served++;
    bl = snprintf(line, sizeof(line), "port %d", s->port);
    snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
             "Connection: close\r\n\r\n%s", bl, line);
    CHECK(write(s->cfd[i], resp, strlen(resp)) == (ssize_t)strlen(resp));
    close(s->cfd[i]);
    s->cfd[i] = -1;
  }
}

static void serve_all(void) {
  dns_answer();
  srv_serve(&srv[0]);
  srv_serve(&srv[1]);
}

/* perform + poll until no transfer runs, serving from the same loop. */
static void drive(XFERM *m, int limit_ms) {
  int running = 1, i, k;
  uint64_t end = tl_now_ms() + (uint64_t)limit_ms;
  while (running) {
    struct xfer_waitfd ex[3 + 2 * MAXC];
    unsigned n = 0;
    if (tl_now_ms() > end) tl_fail(__FILE__, __LINE__, "drive: deadline");
    CHECK_EQ(xfer_multi_perform(m, &running), XFERM_OK);
    drain_msgs(m);
    if (!running) break;
    ex[n].fd = dns_fd;
    ex[n].events = XFER_WAIT_POLLIN;
    ex[n++].revents = 0;
    for (k = 0; k < 2; k++) {
      ex[n].fd = srv[k].lfd;
      ex[n].events = XFER_WAIT_POLLIN;
      ex[n++].revents = 0;
      for (i = 0; i < MAXC; i++)
        if (srv[k].cfd[i] >= 0) {
          ex[n].fd = srv[k].cfd[i];
          ex[n].events = XFER_WAIT_POLLIN;
          ex[n++].revents = 0;
        }
    }
    CHECK_EQ(xfer_multi_poll(m, ex, n, 100, NULL), XFERM_OK);
    serve_all();
  }
  drain_msgs(m);
}

static int setup(void) {
  if (netns_isolate()) return -1;
  dns_start();
  srv_start(&srv[0]);
  srv_start(&srv[1]);
  return 0;
}

static struct tx *to_port(XFERM *m, const char *userinfo, int port,
                          const char *path, struct xfer_slist *resolve) {
  struct tx *t = tx_new(tx_url("http://%s" NAME ":%d%s", userinfo, port,
                               path));
  xfer_easy_setopt(t->easy, XFEROPT_TIMEOUT_MS, 8000L);
  if (resolve) xfer_easy_setopt(t->easy, XFEROPT_RESOLVE, resolve);
  CHECK_EQ(xfer_multi_add_handle(m, t->easy), XFERM_OK);
  return t;
}

static void check_reached(struct tx *t, int port) {
  char want[32];
  long got = 0;
  snprintf(want, sizeof(want), "port %d", port);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK_STR(t->body.data, want);
  CHECK_EQ(xfer_easy_getinfo(t->easy, XFERINFO_PRIMARY_PORT, &got), XFERE_OK);
  CHECK_EQ(got, port);
}

static void finish(XFERM *m, struct tx *a, struct tx *b) {
  CHECK_EQ(xfer_multi_remove_handle(m, a->easy), XFERM_OK);
  CHECK_EQ(xfer_multi_remove_handle(m, b->easy), XFERM_OK);
  tx_free(a);
  tx_free(b);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
}

/* The second transfer's addresses come from the DNS cache, filled by a
 * lookup made for the other port. */
TEST(cached_name_reaches_each_port) {
  XFERM *m;
  struct tx *a, *b;
  if (setup()) return;
  m = xfer_multi_init();
  a = to_port(m, "", srv[0].port, "/public", NULL);
  drive(m, 8000);
  CHECK(dns_queries > 0);
  dns_queries = 0;
  b = to_port(m, "user:secret@", srv[1].port, "/private", NULL);
  drive(m, 8000);
  CHECK_EQ(dns_queries, 0); /* the cache answered */
  check_reached(a, srv[0].port);
  check_reached(b, srv[1].port);
  CHECK_STR(srv[0].log, "GET /public\n");
  CHECK_STR(srv[1].log, "GET /private auth\n");
  finish(m, a, b);
}

/* Both transfers start together: the second joins the first one's lookup,
 * and one answer serves both ports. */
TEST(shared_lookup_reaches_each_port) {
  XFERM *m;
  struct tx *a, *b;
  if (setup()) return;
  m = xfer_multi_init();
  a = to_port(m, "", srv[0].port, "/public", NULL);
  b = to_port(m, "user:secret@", srv[1].port, "/private", NULL);
  drive(m, 8000);
  check_reached(a, srv[0].port);
  check_reached(b, srv[1].port);
  CHECK_STR(srv[0].log, "GET /public\n");
  CHECK_STR(srv[1].log, "GET /private auth\n");
  /* one lookup: its A and AAAA queries, not two of each */
  CHECK_INT(dns_queries, <=, 2);
  finish(m, a, b);
}

/* RESOLVE pins name the port they are for; no lookup is made. */
TEST(resolve_pins_reach_each_port) {
  XFERM *m;
  struct tx *a, *b;
  struct xfer_slist *pins = NULL;
  char p[64];
  if (setup()) return;
  snprintf(p, sizeof(p), NAME ":%d:127.0.0.1", srv[0].port);
  pins = xfer_slist_append(pins, p);
  snprintf(p, sizeof(p), NAME ":%d:127.0.0.1", srv[1].port);
  pins = xfer_slist_append(pins, p);
  m = xfer_multi_init();
  a = to_port(m, "", srv[0].port, "/public", pins);
  b = to_port(m, "user:secret@", srv[1].port, "/private", pins);
  drive(m, 8000);
  check_reached(a, srv[0].port);
  check_reached(b, srv[1].port);
  CHECK_STR(srv[0].log, "GET /public\n");
  CHECK_STR(srv[1].log, "GET /private auth\n");
  CHECK_EQ(dns_queries, 0);
  finish(m, a, b);
  xfer_slist_free_all(pins);
}
