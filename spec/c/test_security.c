/* test_security.c -- the safe defaults libcurl has, which xfer keeps:
 * credentials stay with their host across redirects, redirects only go to
 * allowed protocols, and bytes after a response never become the next
 * response on a kept-alive connection. */
#include "driver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static struct xfer_slist *creds(void) {
  struct xfer_slist *l = NULL;
  l = xfer_slist_append(l, "Authorization: Bearer secret-token");
  l = xfer_slist_append(l, "Cookie: session=secret-cookie");
  l = xfer_slist_append(l, "X-Other: kept");
  return l;
}

/* GET url with the credential headers and FOLLOWLOCATION; returns the tx. */
static struct tx *follow(const char *url, struct xfer_slist *hdrs,
                         long unrestricted) {
  XFERM *m = xfer_multi_init();
  struct tx *t = tx_new(url);
  xfer_easy_setopt(t->easy, XFEROPT_HTTPHEADER, hdrs);
  xfer_easy_setopt(t->easy, XFEROPT_FOLLOWLOCATION, 1L);
  xfer_easy_setopt(t->easy, XFEROPT_UNRESTRICTED_AUTH, unrestricted);
  CHECK_EQ(xfer_multi_add_handle(m, t->easy), XFERM_OK);
  drive_poll(m, 5000);
  xfer_multi_remove_handle(m, t->easy);
  xfer_multi_cleanup(m);
  return t;
}

static const char *redirect_to(const char *host, const char *path) {
  static char buf[512];
  snprintf(buf, sizeof(buf), "%s/redirect/302?to=http://%s:%d%s", fault_base(),
           host, tl_env_int("FAULT_PORT"), path);
  return buf;
}

TEST(credentials_not_sent_to_another_host) {
  struct xfer_slist *h = creds();
  /* 127.0.0.1 -> localhost: another host, same server. */
  struct tx *t = follow(redirect_to("localhost", "/echo"), h, 0);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK(strstr(t->body.data, "GET /echo HTTP/1.1\r\n") != NULL);
  CHECK(strstr(t->body.data, "secret-token") == NULL);
  CHECK(strstr(t->body.data, "secret-cookie") == NULL);
  CHECK(strstr(t->body.data, "X-Other: kept") != NULL);
  tx_free(t);
  xfer_slist_free_all(h);
}

TEST(credentials_kept_on_the_same_host) {
  struct xfer_slist *h = creds();
  struct tx *t = follow(redirect_to("127.0.0.1", "/echo"), h, 0);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK(strstr(t->body.data, "Authorization: Bearer secret-token") != NULL);
  CHECK(strstr(t->body.data, "Cookie: session=secret-cookie") != NULL);
  tx_free(t);
  xfer_slist_free_all(h);
}

TEST(unrestricted_auth_sends_them_anywhere) {
  struct xfer_slist *h = creds();
  struct tx *t = follow(redirect_to("localhost", "/echo"), h, 1);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK(strstr(t->body.data, "Authorization: Bearer secret-token") != NULL);
  CHECK(strstr(t->body.data, "Cookie: session=secret-cookie") != NULL);
  tx_free(t);
  xfer_slist_free_all(h);
}

TEST(url_userinfo_not_sent_to_another_host) {
  char url[512];
  struct tx *t;
  snprintf(url, sizeof(url), "http://user:pw@127.0.0.1:%d/redirect/302?to="
           "http://localhost:%d/echo", tl_env_int("FAULT_PORT"),
           tl_env_int("FAULT_PORT"));
  t = follow(url, NULL, 0);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK(strstr(t->body.data, "Authorization") == NULL);
  tx_free(t);
  /* the same host keeps it ("user:pw" in base64) */
  snprintf(url, sizeof(url), "http://user:pw@127.0.0.1:%d/redirect/302?to="
           "/echo", tl_env_int("FAULT_PORT"));
  t = follow(url, NULL, 0);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK(strstr(t->body.data, "Authorization: Basic dXNlcjpwdw==") != NULL);
  tx_free(t);
}

static XFERcode redirect_with(const char *location_encoded, const char *allow) {
  XFERM *m = xfer_multi_init();
  struct tx *t = tx_new(tx_url("%s/redirect/302?to=%s", fault_base(),
                               location_encoded));
  XFERcode rc;
  xfer_easy_setopt(t->easy, XFEROPT_FOLLOWLOCATION, 1L);
  if (allow)
    CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_REDIR_PROTOCOLS_STR, allow),
             XFERE_OK);
  xfer_multi_add_handle(m, t->easy);
  drive_poll(m, 5000);
  rc = t->result;
  if (rc) CHECK(t->errbuf[0]);
  xfer_multi_remove_handle(m, t->easy);
  tx_free(t);
  xfer_multi_cleanup(m);
  return rc;
}

TEST(redirects_only_to_http_and_https) {
  int fds = tl_count_fds();
  CHECK_EQ(redirect_with("ftp%3A%2F%2F127.0.0.1%2Fx", NULL),
           XFERE_UNSUPPORTED_PROTOCOL);
  CHECK_EQ(redirect_with("file%3A%2F%2F%2Fetc%2Fpasswd", NULL),
           XFERE_UNSUPPORTED_PROTOCOL);
  CHECK_EQ(redirect_with("javascript%3Aalert(1)", NULL),
           XFERE_UNSUPPORTED_PROTOCOL);
  CHECK_EQ(redirect_with("%2Fbytes%2F10", NULL), XFERE_OK);
  CHECK_EQ(tl_count_fds(), fds);
}

TEST(redir_protocols_str_restricts) {
  /* only https allowed: a redirect to http fails before any request */
  CHECK_EQ(redirect_with("%2Fbytes%2F10", "https"), XFERE_UNSUPPORTED_PROTOCOL);
  CHECK_EQ(redirect_with("%2Fbytes%2F10", "HTTP,https"), XFERE_OK);
  CHECK_EQ(redirect_with("%2Fbytes%2F10", "all"), XFERE_OK);
}

TEST(redir_protocols_str_refuses_unknown_names) {
  XFER *e = xfer_easy_init();
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_REDIR_PROTOCOLS_STR, "http,ftp"),
           XFERE_BAD_FUNCTION_ARGUMENT);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_REDIR_PROTOCOLS_STR, "gopher"),
           XFERE_BAD_FUNCTION_ARGUMENT);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_REDIR_PROTOCOLS_STR, NULL), XFERE_OK);
  xfer_easy_cleanup(e);
}

/* A server that answers each request on a connection with `reply` (which
 * may hold more than one response), then waits for the next request. */
static pid_t canned_server(const char *reply, int *port) {
  struct sockaddr_in a;
  socklen_t al = sizeof(a);
  int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  pid_t pid;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  CHECK(bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0);
  CHECK(listen(lfd, 8) == 0);
  CHECK(getsockname(lfd, (struct sockaddr *)&a, &al) == 0);
  *port = ntohs(a.sin_port);
  pid = fork();
  if (pid == 0) {
    alarm(10);
    for (;;) {
      int c = accept(lfd, NULL, NULL);
      char buf[4096];
      if (c < 0) _exit(0);
      if (fork() == 0) {
        /* one reply per request head read */
        while (read(c, buf, sizeof(buf)) > 0)
          if (write(c, reply, strlen(reply)) < 0) break;
        _exit(0);
      }
      close(c);
    }
  }
  close(lfd);
  return pid;
}

TEST(bytes_after_a_response_are_not_the_next_response) {
  /* The first answer carries a second, forged response after its body: a
   * client that kept the connection would hand it to the next request. */
  const char *reply =
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nforged\n";
  int port, i;
  long connects = 0;
  pid_t pid = canned_server(reply, &port);
  XFERM *m = xfer_multi_init();
  xfer_multi_setopt(m, XFERMOPT_MAX_TOTAL_CONNECTIONS, 1L);
  for (i = 0; i < 3; i++) {
    struct tx *t = tx_new(tx_url("http://127.0.0.1:%d/%d", port, i));
    xfer_multi_add_handle(m, t->easy);
    drive_poll(m, 5000);
    CHECK_EQ(t->result, XFERE_OK);
    CHECK_STR(t->body.data, "ok\n");
    xfer_easy_getinfo(t->easy, XFERINFO_NUM_CONNECTS, &connects);
    CHECK_EQ(connects, 1); /* never reused: it had bytes past the end */
    xfer_multi_remove_handle(m, t->easy);
    tx_free(t);
  }
  xfer_multi_cleanup(m);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
}

/* The same when the response ends exactly where a full receive buffer
 * (64 KiB) ends, and the connection goes straight to a queued transfer:
 * the forged response is still in the kernel, behind a read that says
 * nothing of it, so the socket is asked before the connection is kept. */
TEST(bytes_after_a_response_that_fills_the_buffer) {
  static char reply[65536 + 64];
  const char *head = "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n";
  int port, i, hl, blen, running;
  pid_t pid;
  XFERM *m = xfer_multi_init();
  struct tx *t[2];
  /* head + body = 65536 bytes exactly */
  hl = snprintf(reply, sizeof(reply), head, 65536 - 44);
  blen = 65536 - hl;
  hl = snprintf(reply, sizeof(reply), head, blen);
  CHECK_EQ(hl + blen, 65536);
  memset(reply + hl, 'x', (size_t)blen);
  strcpy(reply + 65536, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nforged\n");
  pid = canned_server(reply, &port);
  xfer_multi_setopt(m, XFERMOPT_MAX_TOTAL_CONNECTIONS, 1L);
  for (i = 0; i < 2; i++) {
    t[i] = tx_new(tx_url("http://127.0.0.1:%d/%d", port, i));
    xfer_multi_add_handle(m, t[i]->easy);
  }
  CHECK_EQ(xfer_multi_perform(m, &running), XFERM_OK); /* sends the first */
  usleep(50000); /* the whole reply arrives before the first read */
  drive_poll(m, 5000);
  for (i = 0; i < 2; i++) {
    long connects = 0;
    CHECK_EQ(t[i]->result, XFERE_OK);
    CHECK_EQ(t[i]->body.len, (size_t)blen);
    xfer_easy_getinfo(t[i]->easy, XFERINFO_NUM_CONNECTS, &connects);
    CHECK_EQ(connects, 1);
    xfer_multi_remove_handle(m, t[i]->easy);
    tx_free(t[i]);
  }
  xfer_multi_cleanup(m);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
}

/* Two Host headers: a server must refuse the request, a proxy may take
 * either; xfer refuses it before sending (43). */
TEST(two_host_headers_refused) {
  struct xfer_slist *h = xfer_slist_append(NULL, "Host: a.example");
  XFERM *m = xfer_multi_init();
  struct tx *t = tx_new(tx_url("%s/echo", fault_base()));
  h = xfer_slist_append(h, "Host: b.example");
  xfer_easy_setopt(t->easy, XFEROPT_HTTPHEADER, h);
  xfer_multi_add_handle(m, t->easy);
  drive_poll(m, 5000);
  CHECK_EQ(t->result, XFERE_BAD_FUNCTION_ARGUMENT);
  xfer_multi_remove_handle(m, t->easy);
  tx_free(t);
  xfer_multi_cleanup(m);
  xfer_slist_free_all(h);
}

TEST(response_splitting_header_injection_refused) {
  /* A header value with CR LF would let a caller's input add headers or
   * a whole request: refused before connecting. */
  int c0, r0, p0, o0, c1, r1, p1, o1;
  struct xfer_slist *h = xfer_slist_append(NULL, "X-A: b\r\nHost: evil");
  XFERM *m = xfer_multi_init();
  struct tx *t = tx_new(tx_url("%s/echo", fault_base()));
  fault_stats(&c0, &r0, &p0, &o0);
  xfer_easy_setopt(t->easy, XFEROPT_HTTPHEADER, h);
  xfer_multi_add_handle(m, t->easy);
  drive_poll(m, 5000);
  CHECK_EQ(t->result, XFERE_BAD_FUNCTION_ARGUMENT);
  fault_stats(&c1, &r1, &p1, &o1);
  CHECK_EQ(r1, r0); /* nothing reached the server */
  xfer_multi_remove_handle(m, t->easy);
  tx_free(t);
  xfer_multi_cleanup(m);
  xfer_slist_free_all(h);
}

/* A server that records every byte of one connection into `path`: it
 * answers 200 once the client has been quiet for 300 ms, then reads on
 * until the client closes (or 2 s pass), and exits. */
static pid_t capture_server(const char *path, int *port) {
  struct sockaddr_in a;
  socklen_t al = sizeof(a);
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  pid_t pid;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0);
  CHECK(listen(lfd, 8) == 0);
  CHECK(getsockname(lfd, (struct sockaddr *)&a, &al) == 0);
  *port = ntohs(a.sin_port);
  pid = fork();
  if (pid == 0) {
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    FILE *f = fopen(path, "wb");
    int c = accept(lfd, NULL, NULL), answered = 0;
    uint64_t end = tl_now_ms() + 2000;
    alarm(10);
    while (c >= 0 && tl_now_ms() < end) {
      struct pollfd p = {c, POLLIN, 0};
      char buf[4096];
      ssize_t n;
      if (poll(&p, 1, 300) == 0) {
        if (!answered && write(c, ok, sizeof(ok) - 1) < 0) break;
        answered = 1;
        continue;
      }
      if ((n = read(c, buf, sizeof(buf))) <= 0) break;
      fwrite(buf, 1, (size_t)n, f);
      fflush(f);
    }
    fclose(f);
    _exit(0);
  }
  close(lfd);
  return pid;
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *b = calloc(1, 65536);
  CHECK(f && b);
  *len = fread(b, 1, 65535, f);
  fclose(f);
  return b;
}

/* Hands out `give` bytes per call, whatever it was asked for (copying no
 * more than fits): "10 bytes, then a second request". */
struct greedy {
  const char *data;
  size_t give, asked;
  int honest;                /* returns only what it copied */
};

static size_t greedy_read(char *buf, size_t size, size_t nitems, void *ud) {
  struct greedy *g = ud;
  size_t room = size * nitems, n = g->give < room ? g->give : room;
  g->asked = room;
  memcpy(buf, g->data, n);
  g->data += n;
  return g->honest ? n : g->give;
}

/* PUTs an upload of `size` from g's read callback to a capture server;
 * returns the transfer's result and what went on the wire (malloc'd). */
static XFERcode capture_upload(struct greedy *g, long size, char **wire,
                               size_t *len, char *errbuf) {
  char path[] = "/tmp/xfer-capture.XXXXXX";
  int port, fd = mkstemp(path);
  XFERM *m = xfer_multi_init();
  struct tx *t;
  XFERcode rc;
  pid_t pid;
  CHECK(fd >= 0);
  close(fd);
  pid = capture_server(path, &port);
  t = tx_new(tx_url("http://127.0.0.1:%d/up", port));
  xfer_easy_setopt(t->easy, XFEROPT_UPLOAD, 1L);
  xfer_easy_setopt(t->easy, XFEROPT_INFILESIZE, size);
  xfer_easy_setopt(t->easy, XFEROPT_READFUNCTION, greedy_read);
  xfer_easy_setopt(t->easy, XFEROPT_READDATA, g);
  CHECK_EQ(xfer_multi_add_handle(m, t->easy), XFERM_OK);
  drive_poll(m, 5000);
  rc = t->result;
  memcpy(errbuf, t->errbuf, XFER_ERROR_SIZE);
  xfer_multi_remove_handle(m, t->easy);
  tx_free(t);
  xfer_multi_cleanup(m);
  waitpid(pid, NULL, 0);
  *wire = slurp(path, len);
  unlink(path);
  return rc;
}

/* An upload's read callback that returns more than it was asked for must
 * not put the excess on the wire: a 10-byte upload is asked for 10 bytes
 * at most, and a larger answer fails the transfer (libcurl: READ_ERROR,
 * "read function returned funny value"). */
TEST(upload_read_callback_cannot_smuggle_a_request) {
  static const char payload[] =
      "0123456789GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
  struct greedy g = {payload, sizeof(payload) - 1, 0, 0};
  char err[XFER_ERROR_SIZE], *wire;
  size_t len;
  CHECK_EQ(capture_upload(&g, 10, &wire, &len, err), XFERE_READ_ERROR);
  CHECK(strstr(err, "more than"));
  CHECK_EQ(g.asked, 10);
  CHECK(strstr(wire, "PUT /up HTTP/1.1\r\n") == wire);
  CHECK(strstr(wire, "Content-Length: 10\r\n"));
  CHECK(!strstr(wire, "smuggled"));
  free(wire);
}

/* A callback that gives exactly what it is asked for sends the announced
 * size and nothing more. */
TEST(upload_read_callback_asked_for_what_remains) {
  struct greedy g = {"0123456789", 4, 0, 1};
  char err[XFER_ERROR_SIZE], *wire, *body;
  size_t len;
  CHECK_EQ(capture_upload(&g, 6, &wire, &len, err), XFERE_OK);
  CHECK_EQ(g.asked, 2); /* 4 given, 2 left of 6 */
  body = strstr(wire, "\r\n\r\n");
  CHECK(body);
  CHECK_EQ(len - (size_t)(body + 4 - wire), 6);
  CHECK(memcmp(body + 4, "012345", 6) == 0);
  free(wire);
}

/* Methods and header names travel as tokens: control bytes, DEL and
 * spaces in them are refused before anything is sent, as CR/LF are. */
TEST(methods_and_header_names_must_be_tokens) {
  static const char *const methods[] = {"GE\x01T", "GET\x7f", "G ET", "",
                                        "GET\t", "G(ET)"};
  static const char *const headers[] = {"X Foo: bar", "X-Foo\x7f: bar",
                                        "X-Foo: b\x7f" "ar", "X\x01: y",
                                        " X-Foo: bar", "X-Foo;bar",
                                        "(X): y", "NoColon"};
  int c0, r0, p0, o0, c1, r1, p1, o1;
  size_t i;
  fault_stats(&c0, &r0, &p0, &o0);
  for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
    XFERM *m = xfer_multi_init();
    struct tx *t = tx_new(tx_url("%s/echo", fault_base()));
    xfer_easy_setopt(t->easy, XFEROPT_CUSTOMREQUEST, methods[i]);
    xfer_multi_add_handle(m, t->easy);
    drive_poll(m, 5000);
    if (t->result != XFERE_BAD_FUNCTION_ARGUMENT)
      tl_fail(__FILE__, __LINE__, "method %zu: %d", i, t->result);
    xfer_multi_remove_handle(m, t->easy);
    tx_free(t);
    xfer_multi_cleanup(m);
  }
  for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
    struct xfer_slist *h = xfer_slist_append(NULL, headers[i]);
    XFERM *m = xfer_multi_init();
    struct tx *t = tx_new(tx_url("%s/echo", fault_base()));
    xfer_easy_setopt(t->easy, XFEROPT_HTTPHEADER, h);
    xfer_multi_add_handle(m, t->easy);
    drive_poll(m, 5000);
    if (t->result != XFERE_BAD_FUNCTION_ARGUMENT)
      tl_fail(__FILE__, __LINE__, "header '%s': %d", headers[i], t->result);
    xfer_multi_remove_handle(m, t->easy);
    tx_free(t);
    xfer_multi_cleanup(m);
    xfer_slist_free_all(h);
  }
  fault_stats(&c1, &r1, &p1, &o1);
  CHECK_EQ(r1, r0); /* nothing reached the server */
}

/* libcurl uses a custom Host header for the original host only: after a
 * redirect to another host the request names that host. */
TEST(custom_host_header_not_sent_to_another_host) {
  struct xfer_slist *h = xfer_slist_append(NULL, "Host: custom.example");
  struct tx *t = follow(redirect_to("localhost", "/echo"), h, 0);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK(strstr(t->body.data, "GET /echo HTTP/1.1\r\n"));
  CHECK(strstr(t->body.data, tx_url("\r\nHost: localhost:%d\r\n",
                                    tl_env_int("FAULT_PORT"))));
  CHECK(!strstr(t->body.data, "custom.example"));
  tx_free(t);
  /* the same host keeps it */
  t = follow(redirect_to("127.0.0.1", "/echo"), h, 0);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK(strstr(t->body.data, "\r\nHost: custom.example\r\n"));
  tx_free(t);
  xfer_slist_free_all(h);
}
