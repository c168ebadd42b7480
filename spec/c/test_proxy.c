/*
 * test_proxy.c -- proxies: HTTP proxies in absolute form, CONNECT tunnels
 * (TLS and h2 inside them), SOCKS4/4a/5/5h, an https:// proxy (TLS inside
 * TLS), credentials (in the URL, PROXYUSERPWD, PROXYUSERNAME/PASSWORD),
 * PROXYHEADER and HEADEROPT, SUPPRESS_CONNECT_HEADERS, PRE_PROXY, the
 * environment variables and NOPROXY, connection reuse through a proxy, and
 * every proxy fault with libcurl's code.
 *
 * Servers: tinyproxy, microsocks and the TLS front of proxies.sh (started
 * by servers.sh), nginx and the fault server as origins, and scripted
 * fault proxies forked here (fake_*), which also record the bytes they
 * were sent.  Each test runs in a process of its own, so setting an
 * environment variable here touches no other test.
 */
#include "driver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers ---- */

static void setl(struct tx *t, XFERoption o, long v) {
  CHECK_EQ(xfer_easy_setopt(t->easy, o, v), XFERE_OK);
}

static void sets(struct tx *t, XFERoption o, const char *v) {
  CHECK_EQ(xfer_easy_setopt(t->easy, o, v), XFERE_OK);
}

static const char *px(const char *scheme, const char *port_var) {
  static char buf[8][128];
  static int n;
  char *b = buf[n++ % 8];
  snprintf(b, sizeof(buf[0]), "%s://127.0.0.1:%d", scheme,
           tl_env_int(port_var));
  return b;
}

static int has(const struct tbuf *b, const char *s) {
  size_t n = strlen(s), i;
  for (i = 0; b->data && i + n <= b->len; i++)
    if (memcmp(b->data + i, s, n) == 0) return 1;
  return 0;
}

/* Lines of tinyproxy's log naming s. */
static int log_has(const char *path, const char *s) {
  FILE *f = fopen(path, "r");
  char line[4096];
  int found = 0;
  if (!f) return 0;
  while (!found && fgets(line, sizeof(line), f)) found = strstr(line, s) != 0;
  fclose(f);
  return found;
}

/* ---- a scripted proxy ----
 * Forked; for each connection it runs the script: read (until the end of
 * a header section, or one read of whatever came), then write.  What it
 * read is appended to a file the test reads afterwards.  After the script
 * it closes, or (FK_SILENT) keeps the connection open and quiet. */
enum { RD_NONE, RD_HEAD, RD_ONCE, FK_END, FK_SILENT };
struct fstep {
  int rd;
  const char *wr;
  size_t wl;
};
#define STEP(rd, lit) {rd, lit, sizeof(lit) - 1}

static pid_t fake_pid;
static char fake_file[64];

static void fake_read(int c, int how, int rec) {
  char buf[4096];
  size_t got = 0;
  char last[4] = {0};
  for (;;) {
    ssize_t n = read(c, buf, sizeof(buf));
    if (n <= 0) return;
    if (write(rec, buf, (size_t)n) < 0) return;
    got += (size_t)n;
    if (how == RD_ONCE) return;
    if (n >= 4) memcpy(last, buf + n - 4, 4);
    else {
      memmove(last, last + n, (size_t)(4 - n));
      memcpy(last + 4 - n, buf, (size_t)n);
    }
    if (memcmp(last, "\r\n\r\n", 4) == 0) return;
  }
}

/* Connection n runs scripts[n] (the last one for those after it), each
 * in a process of its own, so that connections kept open do not hold up
 * the next. */
static int fake_start_n(const struct fstep *const *scripts) {
  struct sockaddr_in sa;
  socklen_t sl = sizeof(sa);
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
  CHECK(ls >= 0);
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(bind(ls, (struct sockaddr *)&sa, sizeof(sa)) == 0);
  CHECK(listen(ls, 16) == 0);
  CHECK(getsockname(ls, (struct sockaddr *)&sa, &sl) == 0);
  snprintf(fake_file, sizeof(fake_file), "/tmp/xfer-fakeproxy.%d",
           (int)getpid());
  unlink(fake_file);
  fake_pid = fork();
  CHECK(fake_pid >= 0);
  if (fake_pid == 0) {
    int rec = open(fake_file, O_WRONLY | O_CREAT | O_APPEND, 0600), n = 0;
    setpgid(0, 0);
    alarm(20);
    for (;; n++) {
      const struct fstep *s = scripts[0];
      int c = accept(ls, NULL, NULL), k;
      if (c < 0) {
        if (errno == EINTR) continue;
        _exit(1);
      }
      for (k = 0; k < n && scripts[k + 1]; k++) s = scripts[k + 1];
      if (fork() != 0) {
        close(c);
        continue;
      }
      if (write(rec, "#ACCEPT#", 8) < 0) _exit(1);
      for (; s->rd != FK_END && s->rd != FK_SILENT; s++) {
        if (s->rd != RD_NONE) fake_read(c, s->rd, rec);
        if (s->wl && write(c, s->wr, s->wl) < 0) break;
      }
      if (s->rd == FK_SILENT) {
        char b[256];
        while (read(c, b, sizeof(b)) > 0) {}
      }
      _exit(0);
    }
  }
  setpgid(fake_pid, fake_pid);
  close(ls);
  return ntohs(sa.sin_port);
}

static int fake_start(const struct fstep *script) {
  static const struct fstep *one[2];
  one[0] = script;
  return fake_start_n(one);
}

/* How many connections it accepted. */
static int accepts(const struct tbuf *b) {
  int n = 0;
  size_t i;
  for (i = 0; b->data && i + 8 <= b->len; i++)
    if (memcmp(b->data + i, "#ACCEPT#", 8) == 0) n++;
  return n;
}

/* What the scripted proxy was sent (NUL-terminated; stops it), each
 * connection's bytes after a "#ACCEPT#". */
static struct tbuf fake_stop(void) {
  struct tbuf b = {0};
  char buf[4096];
  ssize_t n;
  int fd;
  if (fake_pid > 0) {
    kill(-fake_pid, SIGKILL);
    waitpid(fake_pid, NULL, 0);
    fake_pid = 0;
  }
  fd = open(fake_file, O_RDONLY);
  while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
    tbuf_add(&b, buf, (size_t)n);
  if (fd >= 0) close(fd);
  unlink(fake_file);
  tbuf_add(&b, "", 1);
  b.len--;
  return b;
}

static const char *fake_url(int port) {
  static char b[64];
  snprintf(b, sizeof(b), "http://127.0.0.1:%d", port);
  return b;
}

static const char ok_response[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/* ---- HTTP proxy: absolute form ---- */

TEST(http_proxy_sends_absolute_form_and_credentials) {
  static const struct fstep s[] = {{RD_HEAD, ok_response, sizeof(ok_response) - 1},
                                   {FK_END, 0, 0}};
  int port = fake_start(s);
  struct tx *t = tx_new("http://user:secret@origin.test:8080/a/b?c=d");
  struct tbuf got;
  sets(t, XFEROPT_PROXY, fake_url(port));
  sets(t, XFEROPT_PROXYUSERPWD, "pu:pp");
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 5000), XFERE_OK);
  got = fake_stop();
  CHECK_MEM(t->body.data, t->body.len, "ok", 2);
  CHECKF(has(&got, "GET http://origin.test:8080/a/b?c=d HTTP/1.1\r\n"), "%s",
         got.data);
  CHECK(has(&got, "\r\nHost: origin.test:8080\r\n"));
  CHECK(has(&got, "\r\nProxy-Authorization: Basic cHU6cHA=\r\n"));
  CHECK(has(&got, "\r\nProxy-Connection: Keep-Alive\r\n"));
  CHECK(!has(&got, "secret@")); /* the URL's userinfo is not in the target */
  CHECK_EQ(info_long(t->easy, XFERINFO_PRIMARY_PORT), port);
  tbuf_free(&got);
  tx_free(t);
}

TEST(tinyproxy_carries_plain_http) {
  struct tx *t = tx_new(tx_url("%s/1k.bin?via=tinyproxy", http_base()));
  sets(t, XFEROPT_PROXY, px("http", "TINYPROXY_PORT"));
  CHECK_EQ(run_alone(t, DRIVE_POLL, 5000), XFERE_OK);
  CHECK_EQ(info_long(t->easy, XFERINFO_RESPONSE_CODE), 200);
  CHECK(is_pattern(&t->body, 1024));
  CHECK(log_has(tl_env("TINYPROXY_LOG"), "/1k.bin?via=tinyproxy"));
  CHECK_EQ(info_long(t->easy, XFERINFO_PRIMARY_PORT),
           tl_env_int("TINYPROXY_PORT"));
  tx_free(t);
}

/* A scheme-less proxy string is PROXYTYPE's, with PROXYPORT. */
TEST(proxytype_and_proxyport_apply_to_a_bare_host) {
  struct tx *t = tx_new(tx_url("%s/1k.bin", http_base()));
  sets(t, XFEROPT_PROXY, "127.0.0.1");
  setl(t, XFEROPT_PROXYPORT, tl_env_int("SOCKS5_PORT"));
  setl(t, XFEROPT_PROXYTYPE, XFERPROXY_SOCKS5_HOSTNAME);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 5000), XFERE_OK);
  CHECK(is_pattern(&t->body, 1024));
  tx_free(t);
}

TEST(tinyproxy_basic_auth_every_way_to_give_it) {
  int way;
  for (way = 0; way < 4; way++) {
    struct tx *t = tx_new(tx_url("%s/1k.bin", http_base()));
    char url[128];
    tl_row("way %d", way);
    snprintf(url, sizeof(url), "http://puser:ppa%%73s@127.0.0.1:%d",
             tl_env_int("TINYPROXY_AUTH_PORT"));
    if (way == 0) sets(t, XFEROPT_PROXY, url);
    else sets(t, XFEROPT_PROXY, px("http", "TINYPROXY_AUTH_PORT"));
    if (way == 1) sets(t, XFEROPT_PROXYUSERPWD, "puser:ppass");
    if (way == 2) {
      sets(t, XFEROPT_PROXYUSERNAME, "puser");
      sets(t, XFEROPT_PROXYPASSWORD, "ppass");
    }
    CHECK_EQ(run_alone(t, DRIVE_EPOLL, 5000), XFERE_OK);
    /* Without credentials the proxy's own 407 is the response. */
    CHECK_EQ(info_long(t->easy, XFERINFO_RESPONSE_CODE), way == 3 ? 407 : 200);
    if (way < 3) CHECK(is_pattern(&t->body, 1024));
    tx_free(t);
  }
  tl_row_done();
}

/* ---- CONNECT ---- */

TEST(connect_tunnel_tls_and_h2_inside) {
  int h2;
  for (h2 = 0; h2 < 2; h2++) {
    struct tx *t = tx_new(tx_url("%s/1k.bin", tls_h2_base()));
    tl_row("h2 %d", h2);
    tx_tls_localhost(t, tx_url("%s/1k.bin", tls_h2_base()));
    sets(t, XFEROPT_PROXY, px("http", "TINYPROXY_AUTH_PORT"));
    sets(t, XFEROPT_PROXYUSERPWD, "puser:ppass");
    setl(t, XFEROPT_HTTP_VERSION,
         h2 ? XFER_HTTP_VERSION_2_0 : XFER_HTTP_VERSION_1_1);
    CHECK_EQ(run_alone(t, DRIVE_EPOLL, 5000), XFERE_OK);
    CHECK(is_pattern(&t->body, 1024));
    CHECK_EQ(info_long(t->easy, XFERINFO_HTTP_CONNECTCODE), 200);
    CHECK_EQ(info_long(t->easy, XFERINFO_HTTP_VERSION),
             h2 ? XFER_HTTP_VERSION_2_0 : XFER_HTTP_VERSION_1_1);
    /* The proxy's answer came first to the header callback. */
    CHECKF(strncmp(t->headers.data, "HTTP/1.", 7) == 0 &&
               has(&t->headers, "200"), "%s",
           tl_quote(t->headers.data, t->headers.len));
    tx_free(t);
  }
  tl_row_done();
}

TEST(httpproxytunnel_tunnels_plain_http_and_suppresses_headers) {
  struct tx *t = tx_new(tx_url("%s/1k.bin", http_base()));
  sets(t, XFEROPT_PROXY, px("http", "TINYPROXY_PORT"));
  setl(t, XFEROPT_HTTPPROXYTUNNEL, 1);
  setl(t, XFEROPT_SUPPRESS_CONNECT_HEADERS, 1);
  CHECK_EQ(run_alone(t, DRIVE_POLL, 5000), XFERE_OK);
  CHECK(is_pattern(&t->body, 1024));
  CHECK_EQ(info_long(t->easy, XFERINFO_HTTP_CONNECTCODE), 200);
  /* Only the origin's header section: one status line. */
  CHECK(strncmp(t->headers.data, "HTTP/1.1 200", 12) == 0);
  CHECK(!has(&t->headers, "onnection established"));
  tx_free(t);
}

TEST(connect_request_carries_proxy_fields_only) {
  static const struct fstep s[] = {
    STEP(RD_HEAD, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"),
    {FK_END, 0, 0}};
  int port = fake_start(s);
  struct tx *t = tx_new("https://user:secret@origin.test:8443/");
  struct xfer_slist *ph = xfer_slist_append(NULL, "X-To-Proxy: 1");
  struct xfer_slist *hh = xfer_slist_append(NULL, "X-To-Origin: 1");
  struct tbuf got;
  sets(t, XFEROPT_PROXY, fake_url(port));
  sets(t, XFEROPT_PROXYUSERNAME, "pu");
  sets(t, XFEROPT_USERAGENT, "agent/1");
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_PROXYHEADER, ph), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_HTTPHEADER, hh), XFERE_OK);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 5000), XFERE_RECV_ERROR);
  got = fake_stop();
  CHECK_EQ(info_long(t->easy, XFERINFO_HTTP_CONNECTCODE), 403);
  CHECKF(strncmp(got.data + 8, "CONNECT origin.test:8443 HTTP/1.1\r\n"
                 "Host: origin.test:8443\r\n", 59) == 0, "%s", got.data);
  CHECK(has(&got, "\r\nProxy-Authorization: Basic cHU6\r\n")); /* "pu:" */
  CHECK(has(&got, "\r\nUser-Agent: agent/1\r\n"));
  CHECK(has(&got, "\r\nX-To-Proxy: 1\r\n"));
  CHECK(!has(&got, "X-To-Origin"));
  CHECK(!has(&got, "Authorization: Basic dXNlcj")); /* the origin's */
  tbuf_free(&got);
  tx_free(t);
  xfer_slist_free_all(ph);
  xfer_slist_free_all(hh);
}

TEST(headeropt_unified_sends_httpheader_to_the_proxy) {
  static const struct fstep s[] = {
    STEP(RD_HEAD, "HTTP/1.1 407 No\r\nContent-Length: 0\r\n\r\n"),
    {FK_END, 0, 0}};
  int port = fake_start(s);
  struct tx *t = tx_new("https://origin.test/");
  struct xfer_slist *hh = xfer_slist_append(NULL, "X-Both: 1");
  struct tbuf got;
  sets(t, XFEROPT_PROXY, fake_url(port));
  setl(t, XFEROPT_HEADEROPT, XFERHEADER_UNIFIED);
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_HTTPHEADER, hh), XFERE_OK);
  CHECK_EQ(run_alone(t, DRIVE_POLL, 5000), XFERE_RECV_ERROR);
  got = fake_stop();
  CHECK_EQ(info_long(t->easy, XFERINFO_HTTP_CONNECTCODE), 407);
  CHECK(has(&got, "\r\nX-Both: 1\r\n"));
  CHECK(has(&got, "CONNECT origin.test:443 "));
  tbuf_free(&got);
  tx_free(t);
  xfer_slist_free_all(hh);
}

TEST(connect_faults_fail_with_libcurls_codes) {
  static const struct fstep s407[] = {
    STEP(RD_HEAD, "HTTP/1.1 407 Proxy Authentication Required\r\n"
                  "Proxy-Authenticate: Basic realm=\"p\"\r\nContent-Length: 3"
                  "\r\n\r\nno\n"), {FK_END, 0, 0}};
  static const struct fstep closed[] = {{RD_HEAD, 0, 0}, {FK_END, 0, 0}};
  static const struct fstep garbage[] = {
    STEP(RD_HEAD, "SSH-2.0-OpenSSH\r\n\r\n"), {FK_END, 0, 0}};
  static const struct fstep half[] = {
    STEP(RD_HEAD, "HTTP/1.1 200 Connection est"), {FK_END, 0, 0}};
  static const struct fstep silent[] = {{RD_HEAD, 0, 0}, {FK_SILENT, 0, 0}};
  static const struct {
    const char *name;
    const struct fstep *s;
    XFERcode rc;
    long code;
  } rows[] = {
    {"407", s407, XFERE_RECV_ERROR, 407},
    {"closed", closed, XFERE_RECV_ERROR, 0},
    {"garbage", garbage, XFERE_RECV_ERROR, 0},
    {"half a status line, then closed", half, XFERE_RECV_ERROR, 0},
    {"silent", silent, XFERE_OPERATION_TIMEDOUT, 0},
  }, *r;
  FOR_ROWS(r, rows) {
    int port = fake_start(r->s);
    struct tx *t = tx_new("https://origin.test/");
    struct tbuf got;
    uint64_t t0 = tl_now_ms();
    sets(t, XFEROPT_PROXY, fake_url(port));
    setl(t, XFEROPT_CONNECTTIMEOUT_MS, 300);
    CHECK_EQ(run_alone(t, DRIVE_EPOLL, 5000), r->rc);
    CHECK(tl_now_ms() - t0 < 3000);
    CHECK_EQ(info_long(t->easy, XFERINFO_HTTP_CONNECTCODE), r->code);
    CHECK(t->errbuf[0]);
    got = fake_stop();
    tbuf_free(&got);
    tx_free(t);
  }
}

/* ---- SOCKS ---- */

TEST(microsocks_socks5_and_socks5h) {
  static const struct {
    const char *name, *scheme, *port, *creds;
  } rows[] = {
    {"socks5h", "socks5h", "SOCKS5_PORT", NULL},
    {"socks5", "socks5", "SOCKS5_PORT", NULL},
    {"socks5h auth", "socks5h", "SOCKS5_AUTH_PORT", "suser:spw"},
    {"socks5 auth", "socks5", "SOCKS5_AUTH_PORT", "suser:spw"},
  }, *r;
  FOR_ROWS(r, rows) {
    struct tx *t = tx_new(tx_url("http://localhost:%d/1k.bin",
                                 tl_env_int("NGINX_PORT")));
    sets(t, XFEROPT_PROXY, px(r->scheme, r->port));
    if (r->creds) sets(t, XFEROPT_PROXYUSERPWD, r->creds);
    CHECK_EQ(run_alone(t, DRIVE_EPOLL, 5000), XFERE_OK);
    CHECK(is_pattern(&t->body, 1024));
    tx_free(t);
  }
}

TEST(socks5_tls_origin_through_microsocks) {
  struct tx *t = tx_new(tx_url("%s/1k.bin", tls_h2_base()));
  tx_tls_localhost(t, tx_url("%s/1k.bin", tls_h2_base()));
  sets(t, XFEROPT_PROXY, px("socks5h", "SOCKS5_PORT"));
  CHECK_EQ(run_alone(t, DRIVE_POLL, 5000), XFERE_OK);
  CHECK(is_pattern(&t->body, 1024));
  CHECK_EQ(info_long(t->easy, XFERINFO_HTTP_VERSION), XFER_HTTP_VERSION_2_0);
  tx_free(t);
}

TEST(socks5_auth_refusals) {
  int wrong;
  for (wrong = 0; wrong < 2; wrong++) {
    struct tx *t = tx_new(tx_url("%s/1k.bin", http_base()));
    tl_row(wrong ? "wrong password" : "no credentials");
    sets(t, XFEROPT_PROXY, px("socks5h", "SOCKS5_AUTH_PORT"));
    if (wrong) sets(t, XFEROPT_PROXYUSERPWD, "suser:nope");
    CHECK_EQ(run_alone(t, DRIVE_EPOLL, 5000), XFERE_PROXY);
    CHECK_EQ(info_long(t->easy, XFERINFO_PROXY_ERROR),
             wrong ? XFERPX_USER_REJECTED : XFERPX_NO_AUTH);
    tx_free(t);
  }
  tl_row_done();
}

/* The SOCKS4 and 4a requests, byte for byte, and then HTTP through. */
TEST(socks4_and_socks4a_requests) {
  static const struct fstep s[] = {
    STEP(RD_ONCE, "\0\x5a\0\0\0\0\0\0"),
    {RD_HEAD, ok_response, sizeof(ok_response) - 1}, {FK_END, 0, 0}};
  int a;
  for (a = 0; a < 2; a++) {
    int port = fake_start(s);
    struct tx *t = tx_new("http://localhost:8080/x");
    char p[64];
    struct tbuf got;
    tl_row(a ? "socks4a" : "socks4");
    snprintf(p, sizeof(p), "%s://127.0.0.1:%d", a ? "socks4a" : "socks4", port);
    sets(t, XFEROPT_PROXY, p);
    sets(t, XFEROPT_PROXYUSERNAME, "me");
    CHECK_EQ(run_alone(t, DRIVE_EPOLL, 5000), XFERE_OK);
    got = fake_stop();
    CHECK_MEM(t->body.data, t->body.len, "ok", 2);
    if (a)
      CHECK_MEM(got.data + 8, 20, "\4\1\x1f\x90\0\0\0\1me\0localhost\0", 20);
    else /* resolved here: localhost is 127.0.0.1 */
      CHECK_MEM(got.data + 8, 11, "\4\1\x1f\x90\x7f\0\0\1me\0", 11);
    CHECK(has(&got, "GET /x HTTP/1.1\r\n"));
    tbuf_free(&got);
    tx_free(t);
  }
  tl_row_done();
}

TEST(socks_faults_fail_with_proxy_error) {
  static const struct fstep v5_bad_version[] = {
    STEP(RD_ONCE, "\4\0"), {FK_END, 0, 0}};
  static const struct fstep v5_short[] = {
    STEP(RD_ONCE, "\5\0"), STEP(RD_ONCE, "\5\0\0\1\0\0"), {FK_END, 0, 0}};
  static const struct fstep v5_refused[] = {
    STEP(RD_ONCE, "\5\0"), STEP(RD_ONCE, "\5\5\0\1\0\0\0\0\0\0"),
    {FK_END, 0, 0}};
  static const struct fstep v5_bad_atyp[] = {
    STEP(RD_ONCE, "\5\0"), STEP(RD_ONCE, "\5\0\0\7\0\0\0\0\0\0"),
    {FK_END, 0, 0}};
  static const struct fstep v5_method[] = {
    STEP(RD_ONCE, "\5\xff"), {FK_END, 0, 0}};
  static const struct fstep v4_rejected[] = {
    STEP(RD_ONCE, "\0\x5b\0\0\0\0\0\0"), {FK_END, 0, 0}};
  static const struct fstep v5_silent[] = {{RD_ONCE, 0, 0}, {FK_SILENT, 0, 0}};
  static const struct {
    const char *name, *scheme;
    const struct fstep *s;
    XFERcode rc;
    long px;
  } rows[] = {
    {"socks5 wrong version", "socks5h", v5_bad_version, XFERE_PROXY,
     XFERPX_BAD_VERSION},
    {"socks5 reply of the wrong length, then closed", "socks5h", v5_short,
     XFERE_PROXY, XFERPX_CLOSED},
    {"socks5 connection refused", "socks5h", v5_refused, XFERE_PROXY,
     XFERPX_REPLY_CONNECTION_REFUSED},
    {"socks5 bad address type", "socks5h", v5_bad_atyp, XFERE_PROXY,
     XFERPX_BAD_ADDRESS_TYPE},
    {"socks5 no acceptable method", "socks5h", v5_method, XFERE_PROXY,
     XFERPX_NO_AUTH},
    {"socks4a rejected", "socks4a", v4_rejected, XFERE_PROXY,
     XFERPX_REQUEST_FAILED},
    {"socks5 silent", "socks5h", v5_silent, XFERE_OPERATION_TIMEDOUT, 0},
  }, *r;
  FOR_ROWS(r, rows) {
    int port = fake_start(r->s);
    struct tx *t = tx_new("http://origin.test/");
    char p[64];
    struct tbuf got;
    snprintf(p, sizeof(p), "%s://127.0.0.1:%d", r->scheme, port);
    sets(t, XFEROPT_PROXY, p);
    setl(t, XFEROPT_CONNECTTIMEOUT_MS, 300);
    CHECK_EQ(run_alone(t, DRIVE_EPOLL, 5000), r->rc);
    CHECK_EQ(info_long(t->easy, XFERINFO_PROXY_ERROR), r->px);
    got = fake_stop();
    tbuf_free(&got);
    tx_free(t);
  }
}

TEST(pre_proxy_socks_before_an_http_proxy) {
  struct tx *t = tx_new(tx_url("%s/1k.bin?via=pre", http_base()));
  sets(t, XFEROPT_PRE_PROXY, px("socks5", "SOCKS5_PORT"));
  sets(t, XFEROPT_PROXY, px("http", "TINYPROXY_PORT"));
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 5000), XFERE_OK);
  CHECK(is_pattern(&t->body, 1024));
  CHECK(log_has(tl_env("TINYPROXY_LOG"), "/1k.bin?via=pre"));
  tx_free(t);
}

/* ---- an https:// proxy ---- */

TEST(https_proxy_tls_to_the_proxy_and_tls_inside_tls) {
  int origin_tls;
  for (origin_tls = 0; origin_tls < 2; origin_tls++) {
    struct tx *t;
    char p[64];
    tl_row(origin_tls ? "https origin" : "http origin");
    t = tx_new(origin_tls ? tx_url("%s/1k.bin", tls_h2_base())
                          : tx_url("%s/1k.bin", http_base()));
    if (origin_tls) tx_tls_localhost(t, tx_url("%s/1k.bin", tls_h2_base()));
    snprintf(p, sizeof(p), "https://localhost:%d",
             tl_env_int("HTTPS_PROXY_PORT"));
    sets(t, XFEROPT_PROXY, p);
    sets(t, XFEROPT_PROXY_CAINFO, tl_env("TLS_CA"));
    CHECK_EQ(run_alone(t, DRIVE_EPOLL, 5000), XFERE_OK);
    CHECK(is_pattern(&t->body, 1024));
    if (origin_tls)
      CHECK_EQ(info_long(t->easy, XFERINFO_HTTP_VERSION),
               XFER_HTTP_VERSION_2_0);
    tx_free(t);
  }
  tl_row_done();
}

TEST(https_proxy_certificate_is_verified) {
  struct tx *t = tx_new(tx_url("%s/1k.bin", http_base()));
  char p[64];
  snprintf(p, sizeof(p), "https://localhost:%d", tl_env_int("HTTPS_PROXY_PORT"));
  sets(t, XFEROPT_PROXY, p);
  /* CAINFO is the origin's: the proxy is checked against PROXY_CAINFO. */
  sets(t, XFEROPT_CAINFO, tl_env("TLS_CA"));
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 5000), XFERE_PEER_FAILED_VERIFICATION);
  CHECK(info_long(t->easy, XFERINFO_PROXY_SSL_VERIFYRESULT) != 0);
  tx_free(t);
  t = tx_new(tx_url("%s/1k.bin", http_base()));
  sets(t, XFEROPT_PROXY, p);
  setl(t, XFEROPT_PROXY_SSL_VERIFYPEER, 0);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 5000), XFERE_OK);
  tx_free(t);
}

/* ---- the environment and NOPROXY ---- */

static XFERcode env_run(const char *url, int *proxied) {
  static const struct fstep s[] = {{RD_HEAD, ok_response, sizeof(ok_response) - 1},
                                   {FK_END, 0, 0}};
  struct tx *t = tx_new(url);
  XFERcode rc;
  struct tbuf got;
  (void)s;
  setl(t, XFEROPT_CONNECTTIMEOUT_MS, 2000);
  rc = run_alone(t, DRIVE_EPOLL, 5000);
  got = fake_stop();
  *proxied = accepts(&got) > 0;
  tbuf_free(&got);
  tx_free(t);
  return rc;
}

TEST(environment_variables_as_libcurl_reads_them) {
  static const struct fstep s[] = {{RD_HEAD, ok_response, sizeof(ok_response) - 1},
                                   {FK_END, 0, 0}};
  const char *direct = tx_url("%s/1k.bin", http_base());
  char durl[256];
  int proxied, port;
  snprintf(durl, sizeof(durl), "%s", direct);
  /* http_proxy, lowercase only */
  port = fake_start(s);
  setenv("HTTP_PROXY", fake_url(port), 1);
  CHECK_EQ(env_run(durl, &proxied), XFERE_OK);
  CHECK(!proxied);
  unsetenv("HTTP_PROXY");
  port = fake_start(s);
  setenv("http_proxy", fake_url(port), 1);
  CHECK_EQ(env_run(durl, &proxied), XFERE_OK);
  CHECK(proxied);
  /* NO_PROXY, a CIDR range */
  port = fake_start(s);
  setenv("http_proxy", fake_url(port), 1);
  setenv("NO_PROXY", "example.test, 127.0.0.0/8", 1);
  CHECK_EQ(env_run(durl, &proxied), XFERE_OK);
  CHECK(!proxied);
  unsetenv("NO_PROXY");
  unsetenv("http_proxy");
  /* ALL_PROXY */
  port = fake_start(s);
  setenv("ALL_PROXY", fake_url(port), 1);
  CHECK_EQ(env_run(durl, &proxied), XFERE_OK);
  CHECK(proxied);
  unsetenv("ALL_PROXY");
}

TEST(proxy_option_beats_the_environment_and_noproxy_matches_domains) {
  static const struct fstep s[] = {{RD_HEAD, ok_response, sizeof(ok_response) - 1},
                                   {FK_END, 0, 0}};
  struct tx *t;
  struct tbuf got;
  int port = fake_start(s);
  setenv("http_proxy", fake_url(port), 1);
  /* PROXY "" disables every proxy, the environment's too */
  t = tx_new(tx_url("%s/1k.bin", http_base()));
  sets(t, XFEROPT_PROXY, "");
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 5000), XFERE_OK);
  tx_free(t);
  /* NOPROXY "" overrides no_proxy: the proxy is used */
  setenv("no_proxy", "*", 1);
  t = tx_new("http://www.origin.test/");
  sets(t, XFEROPT_NOPROXY, "");
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 5000), XFERE_OK);
  tx_free(t);
  got = fake_stop();
  CHECK(has(&got, "GET http://www.origin.test/ HTTP/1.1"));
  CHECK(!has(&got, "1k.bin"));
  tbuf_free(&got);
  /* NOPROXY: a domain matches its subdomains, not a longer name */
  {
    static const struct {
      const char *name, *list;
      int direct;
    } rows[] = {
      {"domain", "origin.test", 1}, {"leading dot", ".origin.test", 1},
      {"other", "rigin.test", 0}, {"star", "*", 1}, {"ip", "127.0.0.1", 0},
    }, *r;
    FOR_ROWS(r, rows) {
      port = fake_start(s);
      t = tx_new("http://www.origin.test:1/");
      sets(t, XFEROPT_PROXY, fake_url(port));
      sets(t, XFEROPT_NOPROXY, r->list);
      setl(t, XFEROPT_CONNECTTIMEOUT_MS, 1000);
      /* direct: origin.test does not resolve (or port 1 refuses) */
      if (r->direct) CHECK(run_alone(t, DRIVE_EPOLL, 8000) != XFERE_OK);
      else CHECK_EQ(run_alone(t, DRIVE_EPOLL, 5000), XFERE_OK);
      got = fake_stop();
      CHECK_EQ(accepts(&got) > 0, !r->direct);
      tbuf_free(&got);
      tx_free(t);
    }
  }
}

/* ---- errors from the proxy string ---- */

TEST(bad_proxy_strings) {
  static const struct {
    const char *name, *proxy;
    XFERcode rc;
  } rows[] = {
    {"unknown scheme", "ftp://127.0.0.1:1", XFERE_COULDNT_CONNECT},
    {"bad port", "http://127.0.0.1:99999", XFERE_COULDNT_RESOLVE_PROXY},
    {"space in host", "http://a b", XFERE_COULDNT_RESOLVE_PROXY},
    {"pre-proxy not socks", NULL, XFERE_COULDNT_CONNECT},
  }, *r;
  FOR_ROWS(r, rows) {
    struct tx *t = tx_new(tx_url("%s/1k.bin", http_base()));
    if (r->proxy) sets(t, XFEROPT_PROXY, r->proxy);
    else sets(t, XFEROPT_PRE_PROXY, "http://127.0.0.1:1");
    CHECK_EQ(run_alone(t, DRIVE_EPOLL, 5000), r->rc);
    CHECK(t->errbuf[0]);
    tx_free(t);
  }
  {
    struct tx *t = tx_new("http://x.test/");
    CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_PROXYAUTH, XFERAUTH_NTLM),
             XFERE_NOT_BUILT_IN);
    CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_PROXYAUTH, XFERAUTH_BEARER),
             XFERE_NOT_BUILT_IN);
    CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_PROXYAUTH, XFERAUTH_DIGEST),
             XFERE_OK);
    CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_PROXYAUTH, XFERAUTH_ANY),
             XFERE_OK);
    CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_PROXYTYPE, 3L),
             XFERE_BAD_FUNCTION_ARGUMENT);
    tx_free(t);
  }
}

TEST(unresolvable_proxy_is_couldnt_resolve_proxy) {
  struct tx *t = tx_new(tx_url("%s/1k.bin", http_base()));
  struct xfer_slist *pin = xfer_slist_append(NULL, "proxy.invalid:3128:");
  sets(t, XFEROPT_PROXY, "http://proxy.invalid:3128");
  /* An empty RESOLVE entry resolves to nothing at once, no DNS needed. */
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_CONNECTTIMEOUT_MS, 3000L),
           XFERE_OK);
  (void)pin;
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 10000), XFERE_COULDNT_RESOLVE_PROXY);
  xfer_slist_free_all(pin);
  tx_free(t);
}

/* ---- connection reuse ---- */

/* A proxy that keeps its connections: three requests on each. */
static const struct fstep keepalive[] = {
  {RD_HEAD, ok_response, sizeof(ok_response) - 1},
  {RD_HEAD, ok_response, sizeof(ok_response) - 1},
  {RD_HEAD, ok_response, sizeof(ok_response) - 1}, {FK_END, 0, 0}};

TEST(connections_through_a_proxy_are_reused_only_for_the_same_route) {
  XFERM *m = xfer_multi_init();
  int i, port = fake_start(keepalive);
  long connects[4];
  struct tbuf got;
  for (i = 0; i < 4; i++) {
    struct tx *t = tx_new(i == 1 ? "http://other.test/" : "http://one.test/");
    sets(t, XFEROPT_PROXY, fake_url(port));
    /* 0, 1: the same credentials (1: another origin, which plain HTTP
     * through the proxy may share); 2: others; 3: the first again */
    sets(t, XFEROPT_PROXYUSERPWD, i == 2 ? "puser:other" : "puser:ppass");
    CHECK_EQ(run_on(m, t, DRIVE_EPOLL, 5000), XFERE_OK);
    connects[i] = info_long(t->easy, XFERINFO_NUM_CONNECTS);
    tx_free(t);
  }
  xfer_multi_cleanup(m);
  got = fake_stop();
  CHECK_EQ(connects[0], 1);
  CHECK_EQ(connects[1], 0); /* reused */
  CHECK_EQ(connects[2], 1); /* other credentials: a connection of its own */
  CHECK_EQ(connects[3], 0); /* the first one again */
  CHECK_EQ(accepts(&got), 2);
  tbuf_free(&got);
}

/* Two origins through one proxy, MAX_HOST_CONNECTIONS 1: the proxy is the
 * host, so the second waits for the first's connection, and a tunnel to
 * a third origin waits for both and opens its own. */
TEST(max_host_connections_counts_the_proxy) {
  static const struct fstep tunnel[] = {
    STEP(RD_HEAD, "HTTP/1.1 200 Connection established\r\n\r\n"),
    {RD_HEAD, ok_response, sizeof(ok_response) - 1}, {FK_END, 0, 0}};
  static const struct fstep *const scripts[] = {keepalive, tunnel, NULL};
  XFERM *m = xfer_multi_init();
  struct tx *t[3];
  int i, port = fake_start_n(scripts);
  struct tbuf got;
  CHECK_EQ(xfer_multi_setopt(m, XFERMOPT_MAX_HOST_CONNECTIONS, 1L), XFERM_OK);
  for (i = 0; i < 3; i++) {
    t[i] = tx_new(i == 0 ? "http://a.test/" : i == 1 ? "http://b.test/"
                                                     : "http://c.test/");
    sets(t[i], XFEROPT_PROXY, fake_url(port));
    if (i == 2) setl(t[i], XFEROPT_HTTPPROXYTUNNEL, 1);
    CHECK_EQ(xfer_multi_add_handle(m, t[i]->easy), XFERM_OK);
  }
  drive_epoll(m, 10000, NULL);
  for (i = 0; i < 3; i++) {
    tl_row("transfer %d", i);
    CHECK(t[i]->done);
    CHECK_EQ(t[i]->result, XFERE_OK);
    CHECK_MEM(t[i]->body.data, t[i]->body.len, "ok", 2);
  }
  tl_row_done();
  got = fake_stop();
  /* one connection for a and b, then (a's closed for it) c's tunnel */
  CHECK_EQ(info_long(t[1]->easy, XFERINFO_NUM_CONNECTS), 0);
  CHECK_EQ(info_long(t[2]->easy, XFERINFO_NUM_CONNECTS), 1);
  CHECK_EQ(accepts(&got), 2);
  for (i = 0; i < 3; i++) {
    xfer_multi_remove_handle(m, t[i]->easy);
    tx_free(t[i]);
  }
  xfer_multi_cleanup(m);
  tbuf_free(&got);
}

/* A redirect from a proxied origin to one NOPROXY lets go: the proxy's
 * credentials never reach it. */
TEST(proxy_credentials_never_reach_the_origin) {
  char url[256];
  struct tx *t;
  snprintf(url, sizeof(url), "%s/redirect/302?to=http://localhost:%d/echo",
           fault_base(), tl_env_int("FAULT_PORT"));
  t = tx_new(url);
  sets(t, XFEROPT_PROXY, px("http", "TINYPROXY_AUTH_PORT"));
  sets(t, XFEROPT_PROXYUSERPWD, "puser:ppass");
  sets(t, XFEROPT_NOPROXY, "localhost");
  setl(t, XFEROPT_FOLLOWLOCATION, 1);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 5000), XFERE_OK);
  CHECK_EQ(info_long(t->easy, XFERINFO_REDIRECT_COUNT), 1);
  CHECKF(has(&t->body, "GET /echo HTTP/1.1\r\n"), "%s",
         tl_quote(t->body.data, t->body.len));
  CHECK(!has(&t->body, "Proxy-Authorization"));
  tx_free(t);
}
