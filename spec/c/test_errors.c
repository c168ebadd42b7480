/*
 * test_errors.c -- bad input and bad servers: each failure gets its clear,
 * documented code and an ERRORBUFFER message, and NOTHING ELSE in flight is
 * affected.  Every case runs the bad transfer in the middle of three good
 * ones on the same multi handle (nginx /1k.bin twice, fault /bytes/1000),
 * checks their bodies, and checks that the process's file descriptors are
 * back to where they were once the multi handle is cleaned up.
 */
#include "driver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <unistd.h>

/* ---- helpers ---- */


/* Runs bad with three good transfers on one multi handle, checks the good
 * ones and the fds; returns bad's result and the time the run took. */
static XFERcode with_goods_lim(struct tx *bad, int how, int limit_ms,
                               uint64_t *took_ms) {
  struct tx *g[3];
  XFERM *m;
  int fds0 = tl_count_fds(), i;
  uint64_t t0;
  m = xfer_multi_init();
  CHECK(m);
  g[0] = tx_new(tx_url("%s/1k.bin", http_base()));
  g[1] = tx_new(tx_url("%s/bytes/1000", fault_base()));
  g[2] = tx_new(tx_url("%s/1k.bin", http_base()));
  CHECK_EQ(xfer_multi_add_handle(m, g[0]->easy), XFERM_OK);
  CHECK_EQ(xfer_multi_add_handle(m, g[1]->easy), XFERM_OK);
  CHECK_EQ(xfer_multi_add_handle(m, bad->easy), XFERM_OK);
  CHECK_EQ(xfer_multi_add_handle(m, g[2]->easy), XFERM_OK);
  t0 = tl_now_ms();
  if (how == DRIVE_POLL) drive_poll(m, limit_ms);
  else drive_epoll(m, limit_ms, NULL);
  if (took_ms) *took_ms = tl_now_ms() - t0;
  for (i = 0; i < 3; i++) {
    long code = 0;
    CHECK(g[i]->done);
    if (g[i]->result != XFERE_OK)
      tl_fail(__FILE__, __LINE__, "good transfer %d failed: %d (%s)", i,
              g[i]->result, g[i]->errbuf);
    CHECK(is_pattern(&g[i]->body, i == 1 ? 1000 : 1024));
    CHECK_EQ(g[i]->errbuf[0], 0);
    xfer_easy_getinfo(g[i]->easy, XFERINFO_RESPONSE_CODE, &code);
    CHECK_EQ(code, 200);
  }
  CHECK(bad->done);
  /* a failure always leaves a message */
  if (bad->result != XFERE_OK && !bad->errbuf[0])
    tl_fail(__FILE__, __LINE__, "no ERRORBUFFER text for code %d",
            bad->result);
  CHECK(strlen(bad->errbuf) < XFER_ERROR_SIZE);
  for (i = 0; i < 3; i++) {
    CHECK_EQ(xfer_multi_remove_handle(m, g[i]->easy), XFERM_OK);
    tx_free(g[i]);
  }
  CHECK_EQ(xfer_multi_remove_handle(m, bad->easy), XFERM_OK);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
  CHECK_EQ(tl_count_fds(), fds0);
  return bad->result;
}

static XFERcode with_goods_x(struct tx *bad, int how, uint64_t *took_ms) {
  return with_goods_lim(bad, how, 4500, took_ms);
}

static XFERcode with_goods(struct tx *bad) {
  return with_goods_x(bad, DRIVE_EPOLL, NULL);
}

/* The common case: a URL, an expected code, both drivers. */
static void expect_code(const char *url, XFERcode want) {
  char u[512];
  int how;
  snprintf(u, sizeof(u), "%s", url);
  for (how = DRIVE_EPOLL; how <= DRIVE_POLL; how++) {
    struct tx *t = tx_new(NULL);
    XFERcode rc;
    CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_URL, u), XFERE_OK);
    rc = with_goods_x(t, how, NULL);
    if (rc != want)
      tl_fail(__FILE__, __LINE__, "%s: got %d (%s), want %d", u, rc,
              t->errbuf, want);
    tx_free(t);
  }
}

/* A port on 127.0.0.1 that nobody listens on (bound, then released). */
static int free_port(void) {
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  CHECK(fd >= 0);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
  CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
  close(fd);
  return ntohs(a.sin_port);
}

/* ---- bad URLs: failed before anything is sent ---- */

TEST(malformed_url) {
  expect_code("http://exa mple.com/", XFERE_URL_MALFORMAT);
  expect_code("http://:80/", XFERE_URL_MALFORMAT);
  expect_code("http://host:99999/", XFERE_URL_MALFORMAT);
  expect_code("http://127.0.0.1:0/", XFERE_URL_MALFORMAT);
  expect_code("http://[::1/", XFERE_URL_MALFORMAT);
}

/* A host name past XFER_URL_MAX_HOST (255) is a malformed URL, not an
 * allocation failure (it was OUT_OF_MEMORY, 27). */
TEST(overlong_host_name) {
  char url[700];
  int how;
  memcpy(url, "http://", 7);
  memset(url + 7, 'a', 600);
  strcpy(url + 607, ".test/");
  for (how = DRIVE_EPOLL; how <= DRIVE_POLL; how++) {
    struct tx *t = tx_new(url);
    XFERcode rc = with_goods_x(t, how, NULL);
    if (rc != XFERE_URL_MALFORMAT)
      tl_fail(__FILE__, __LINE__, "got %d (%s)", rc, t->errbuf);
    tx_free(t);
  }
}

TEST(unsupported_scheme) {
  expect_code("ftp://127.0.0.1/", XFERE_UNSUPPORTED_PROTOCOL);
  expect_code("gopher://127.0.0.1/", XFERE_UNSUPPORTED_PROTOCOL);
}

TEST(no_url_set) {
  struct tx *t = tx_new(NULL);
  CHECK_EQ(with_goods(t), XFERE_URL_MALFORMAT);
  tx_free(t);
}

/* CURLOPT_URL stores the string (setopt says OK); the transfer then fails
 * with URL_MALFORMAT, and no byte reaches the server. */
TEST(crlf_in_url_nothing_sent) {
  int c0, r0, c1, r1, p, o;
  struct tx *t = tx_new(NULL);
  char url[256];
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/a\r\nX: y",
           tl_env_int("FAULT_PORT"));
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_URL, url), XFERE_OK);
  fault_stats(&c0, &r0, &p, &o);
  CHECK_EQ(with_goods(t), XFERE_URL_MALFORMAT);
  fault_stats(&c1, &r1, &p, &o);
  /* the good /bytes/1000 transfer's connection and the stats fetch's */
  CHECK_EQ(c1 - c0, 2);
  CHECK_EQ(r1 - r0, 1);
  tx_free(t);
  /* a bare LF, and a CR alone, too */
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/a\nb", tl_env_int("FAULT_PORT"));
  expect_code(url, XFERE_URL_MALFORMAT);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/a\rb", tl_env_int("FAULT_PORT"));
  expect_code(url, XFERE_URL_MALFORMAT);
}

TEST(crlf_in_header_nothing_sent) {
  int c0, r0, c1, r1, p, o;
  struct tx *t = tx_new(tx_url("%s/echo", fault_base()));
  struct xfer_slist *l = xfer_slist_append(NULL, "X-A: b\r\nX-Injected: 1");
  struct xfer_slist *l2 = xfer_slist_append(NULL, "X-Ok: fine");
  xfer_easy_setopt(t->easy, XFEROPT_HTTPHEADER, l);
  fault_stats(&c0, &r0, &p, &o);
  CHECK_EQ(with_goods(t), XFERE_BAD_FUNCTION_ARGUMENT);
  fault_stats(&c1, &r1, &p, &o);
  CHECK_EQ(c1 - c0, 2);
  CHECK_EQ(r1 - r0, 1);
  tx_free(t);
  /* a bare LF in a later entry is refused as well */
  l2 = xfer_slist_append(l2, "X-B: c\nX-Injected: 1");
  t = tx_new(tx_url("%s/echo", fault_base()));
  xfer_easy_setopt(t->easy, XFEROPT_HTTPHEADER, l2);
  CHECK_EQ(with_goods(t), XFERE_BAD_FUNCTION_ARGUMENT);
  tx_free(t);
  xfer_slist_free_all(l);
  xfer_slist_free_all(l2);
}

/* ---- name resolution and connecting ---- */

/* .invalid never resolves (RFC 6761); the resolver normally says so at
 * once, but a slow one gets up to the 10 s TIMEOUT_MS. */
TEST(unresolvable_host) {
  struct tx *t = tx_new("http://nonexistent.invalid/");
  xfer_easy_setopt(t->easy, XFEROPT_TIMEOUT_MS, 10000L);
  CHECK_EQ(with_goods_lim(t, DRIVE_EPOLL, 11000, NULL),
           XFERE_COULDNT_RESOLVE_HOST);
  CHECK(strstr(t->errbuf, "nonexistent.invalid"));
  tx_free(t);
}

TEST(connection_refused) {
  struct tx *t = tx_new(tx_url("http://127.0.0.1:%d/", free_port()));
  CHECK_EQ(with_goods(t), XFERE_COULDNT_CONNECT);
  tx_free(t);
  t = tx_new(tx_url("http://127.0.0.1:%d/", free_port()));
  CHECK_EQ(with_goods_x(t, DRIVE_POLL, NULL), XFERE_COULDNT_CONNECT);
  tx_free(t);
}

/* A connect that hangs, on loopback only: a listener with a backlog of 0
 * whose queue is filled by one connection nobody accepts; the kernel then
 * drops the next SYNs, so the next connect() stays in progress. */
TEST(connect_timeout) {
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  int lfd = socket(AF_INET, SOCK_STREAM, 0), fill[3], i;
  uint64_t took = 0;
  struct tx *t;
  CHECK(lfd >= 0);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0);
  CHECK(listen(lfd, 0) == 0);
  CHECK(getsockname(lfd, (struct sockaddr *)&a, &len) == 0);
  for (i = 0; i < 3; i++) {
    fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    CHECK(fill[i] >= 0);
    CHECK(connect(fill[i], (struct sockaddr *)&a, sizeof(a)) == 0 ||
          errno == EINPROGRESS);
  }
  usleep(50 * 1000);
  t = tx_new(tx_url("http://127.0.0.1:%d/", ntohs(a.sin_port)));
  xfer_easy_setopt(t->easy, XFEROPT_CONNECTTIMEOUT_MS, 400L);
  CHECK_EQ(with_goods_x(t, DRIVE_EPOLL, &took), XFERE_OPERATION_TIMEDOUT);
  CHECK_INT(took, >=, 380);
  CHECK_INT(took, <, 2000);
  tx_free(t);
  for (i = 0; i < 3; i++) close(fill[i]);
  close(lfd);
}

/* ---- timeouts ---- */

TEST(timeout_silence) {
  uint64_t took = 0;
  struct tx *t = tx_new(tx_url("%s/silence", fault_base()));
  xfer_easy_setopt(t->easy, XFEROPT_TIMEOUT_MS, 500L);
  CHECK_EQ(with_goods_x(t, DRIVE_EPOLL, &took), XFERE_OPERATION_TIMEDOUT);
  CHECK_INT(took, >=, 480);
  CHECK_INT(took, <, 1500);
  tx_free(t);
  /* the same through perform + poll, on a silent port */
  t = tx_new(tx_url("http://127.0.0.1:%d/", fault_port("SILENT")));
  xfer_easy_setopt(t->easy, XFEROPT_TIMEOUT_MS, 300L);
  CHECK_EQ(with_goods_x(t, DRIVE_POLL, &took), XFERE_OPERATION_TIMEDOUT);
  CHECK_INT(took, >=, 280);
  CHECK_INT(took, <, 1300);
  tx_free(t);
}

TEST(timeout_headers_then_silence) {
  uint64_t took = 0;
  struct tx *t = tx_new(tx_url("%s/headers-then-silence", fault_base()));
  xfer_easy_setopt(t->easy, XFEROPT_TIMEOUT_MS, 400L);
  CHECK_EQ(with_goods_x(t, DRIVE_EPOLL, &took), XFERE_OPERATION_TIMEDOUT);
  CHECK_INT(took, >=, 380);
  CHECK_INT(took, <, 1400);
  tx_free(t);
}

/* LOW_SPEED_LIMIT bytes/s for LOW_SPEED_TIME seconds: /drip sends 1 byte
 * every 300 ms, far below 100 bytes/s. */
TEST(low_speed_limit) {
  uint64_t took = 0;
  struct tx *t = tx_new(tx_url("%s/drip?size=100&every_ms=300&chunk=1",
                               fault_base()));
  xfer_easy_setopt(t->easy, XFEROPT_LOW_SPEED_LIMIT, 100L);
  xfer_easy_setopt(t->easy, XFEROPT_LOW_SPEED_TIME, 1L);
  CHECK_EQ(with_goods_x(t, DRIVE_EPOLL, &took), XFERE_OPERATION_TIMEDOUT);
  CHECK_INT(took, >=, 900);
  CHECK_INT(took, <, 3500);
  CHECK(t->body.len < 100);
  tx_free(t);
}

/* ---- bad servers ---- */

TEST(closed_without_answer) {
  expect_code(tx_url("http://127.0.0.1:%d/", fault_port("CLOSE")),
              XFERE_GOT_NOTHING);
}

/* The server resets right after accept.  The TCP handshake completed in
 * the kernel before the server accepted, so the outcome depends on when the
 * RST lands, exactly as with libcurl (curl 7.88 gives 7 or 56 against this
 * port, about 1 run in 3 vs 2 in 3):
 *   - before xfer checked the connect's result: SO_ERROR is ECONNRESET, so
 *     COULDNT_CONNECT (7), like libcurl's verifyconnect();
 *   - after the request was written: recv() fails, RECV_ERROR (56);
 *   - between the two: send() fails, SEND_ERROR (55).
 * On loopback xfer mostly gives 7 and sometimes 56.  What is consistent:
 * never a success, never GOT_NOTHING (52 is for a clean close, see
 * closed_without_answer), and the message always names the reset. */
TEST(reset_after_accept) {
  int i, code;
  for (i = 0; i < 6; i++) {
    struct tx *t = tx_new(tx_url("http://127.0.0.1:%d/", fault_port("RESET")));
    code = (int)with_goods_x(t, i % 2 ? DRIVE_POLL : DRIVE_EPOLL, NULL);
    if (code != XFERE_COULDNT_CONNECT && code != XFERE_RECV_ERROR &&
        code != XFERE_SEND_ERROR)
      tl_fail(__FILE__, __LINE__, "run %d: code %d (%s)", i, code,
              t->errbuf);
    if (!strcasestr(t->errbuf, "reset"))
      tl_fail(__FILE__, __LINE__, "run %d: code %d, message \"%s\"", i,
              code, t->errbuf);
    tx_free(t);
  }
}

TEST(not_http) {
  expect_code(tx_url("%s/garbage", fault_base()), XFERE_WEIRD_SERVER_REPLY);
  expect_code(tx_url("%s/garbage-binary", fault_base()),
              XFERE_WEIRD_SERVER_REPLY);
}

TEST(conflicting_content_length) {
  expect_code(tx_url("%s/conflicting-length", fault_base()),
              XFERE_WEIRD_SERVER_REPLY);
}

TEST(truncated_body) {
  struct tx *t = tx_new(tx_url("%s/truncated-body?size=1000&send=500",
                               fault_base()));
  CHECK_EQ(with_goods(t), XFERE_PARTIAL_FILE);
  CHECK(is_pattern(&t->body, 500)); /* what came was delivered */
  CHECK_STR(t->errbuf, "connection closed with 500 of 1000 body bytes missing");
  tx_free(t);
  /* a 0x64-byte chunk of which 50 came */
  t = tx_new(tx_url("%s/truncated-chunk", fault_base()));
  CHECK_EQ(with_goods(t), XFERE_PARTIAL_FILE);
  CHECK(is_pattern(&t->body, 50));
  CHECK_STR(t->errbuf, "connection closed inside a chunk, 50 bytes of it missing");
  tx_free(t);
}

TEST(reset_mid_body) {
  struct tx *t = tx_new(tx_url("%s/reset-mid-body?size=1000&send=500",
                               fault_base()));
  CHECK_EQ(with_goods(t), XFERE_RECV_ERROR);
  CHECK(t->body.len <= 500);
  tx_free(t);
  t = tx_new(tx_url("%s/reset-mid-body?size=100000&send=20000&delay_ms=50",
                    fault_base()));
  CHECK_EQ(with_goods_x(t, DRIVE_POLL, NULL), XFERE_RECV_ERROR);
  CHECK(is_pattern(&t->body, 20000));
  tx_free(t);
}

TEST(oversized_headers) {
  expect_code(tx_url("%s/oversized-headers?kb=200", fault_base()),
              XFERE_TOO_LARGE);
  expect_code(tx_url("%s/huge-header-line?kb=200", fault_base()),
              XFERE_TOO_LARGE);
}

TEST(too_many_redirects) {
  struct tx *t = tx_new(tx_url("%s/redirect-chain/5", fault_base()));
  long n = -1;
  xfer_easy_setopt(t->easy, XFEROPT_FOLLOWLOCATION, 1L);
  xfer_easy_setopt(t->easy, XFEROPT_MAXREDIRS, 3L);
  CHECK_EQ(with_goods(t), XFERE_TOO_MANY_REDIRECTS);
  xfer_easy_getinfo(t->easy, XFERINFO_REDIRECT_COUNT, &n);
  CHECK_EQ(n, 3);
  tx_free(t);
}

/* ---- callbacks that refuse ---- */

static size_t short_write(char *p, size_t sz, size_t n, void *ud) {
  (void)p;
  (void)ud;
  return sz * n > 0 ? sz * n - 1 : 0;
}

TEST(write_callback_short) {
  struct tx *t = tx_new(tx_url("%s/bytes/5000", fault_base()));
  xfer_easy_setopt(t->easy, XFEROPT_WRITEFUNCTION, short_write);
  CHECK_EQ(with_goods(t), XFERE_WRITE_ERROR);
  tx_free(t);
  t = tx_new(tx_url("%s/16k.bin", http_base()));
  xfer_easy_setopt(t->easy, XFEROPT_WRITEFUNCTION, short_write);
  CHECK_EQ(with_goods_x(t, DRIVE_POLL, NULL), XFERE_WRITE_ERROR);
  tx_free(t);
}

static size_t short_header(char *p, size_t sz, size_t n, void *ud) {
  (void)p;
  (void)ud;
  return sz * n / 2;
}

TEST(header_callback_short) {
  struct tx *t = tx_new(tx_url("%s/bytes/100", fault_base()));
  xfer_easy_setopt(t->easy, XFEROPT_HEADERFUNCTION, short_header);
  CHECK_EQ(with_goods(t), XFERE_WRITE_ERROR);
  tx_free(t);
}

static int abort_progress(void *ud, xfer_off_t dt, xfer_off_t dn,
                          xfer_off_t ut, xfer_off_t un) {
  (void)ud;
  (void)dt;
  (void)dn;
  (void)ut;
  (void)un;
  return 1;
}

TEST(progress_abort) {
  struct tx *t = tx_new(tx_url("%s/drip?size=50&every_ms=20&chunk=1",
                               fault_base()));
  xfer_easy_setopt(t->easy, XFEROPT_NOPROGRESS, 0L);
  xfer_easy_setopt(t->easy, XFEROPT_XFERINFOFUNCTION, abort_progress);
  CHECK_EQ(with_goods(t), XFERE_ABORTED_BY_CALLBACK);
  CHECK(t->body.len < 50);
  tx_free(t);
}

static size_t abort_read(char *b, size_t sz, size_t n, void *ud) {
  (void)b;
  (void)sz;
  (void)n;
  (void)ud;
  return XFER_READFUNC_ABORT;
}

TEST(read_callback_abort) {
  struct tx *t = tx_new(tx_url("%s/echo", fault_base()));
  xfer_easy_setopt(t->easy, XFEROPT_UPLOAD, 1L);
  xfer_easy_setopt(t->easy, XFEROPT_READFUNCTION, abort_read);
  xfer_easy_setopt(t->easy, XFEROPT_INFILESIZE, 100L);
  CHECK_EQ(with_goods(t), XFERE_ABORTED_BY_CALLBACK);
  tx_free(t);
}

static size_t early_eof_read(char *b, size_t sz, size_t n, void *ud) {
  int *calls = ud;
  (void)sz;
  (void)n;
  if ((*calls)++) return 0;
  memcpy(b, "0123456789", 10);
  return 10;
}

/* The read callback ends the data before INFILESIZE: a read error. */
TEST(read_callback_short_upload) {
  int calls = 0;
  struct tx *t = tx_new(tx_url("%s/echo", fault_base()));
  xfer_easy_setopt(t->easy, XFEROPT_UPLOAD, 1L);
  xfer_easy_setopt(t->easy, XFEROPT_READFUNCTION, early_eof_read);
  xfer_easy_setopt(t->easy, XFEROPT_READDATA, &calls);
  xfer_easy_setopt(t->easy, XFEROPT_INFILESIZE, 100L);
  CHECK_EQ(with_goods(t), XFERE_READ_ERROR);
  tx_free(t);
}

TEST(failonerror) {
  struct tx *t = tx_new(tx_url("%s/status/404", http_base()));
  xfer_easy_setopt(t->easy, XFEROPT_FAILONERROR, 1L);
  CHECK_EQ(with_goods(t), XFERE_HTTP_RETURNED_ERROR);
  tx_free(t);
}

/* ---- running out of file descriptors ----
 * With RLIMIT_NOFILE at 200 and 300 transfers to a server that never
 * answers, the transfers that get no socket fail with COULDNT_CONNECT and
 * say why; the others time out.  Every driving call keeps working and
 * every transfer ends (before, the epoll set was made at the first wait,
 * when no descriptor was left: perform failed for good, timers never ran,
 * and 195 transfers stayed "running"). */
static void out_of_fds(int how) {
  struct rlimit rl = {200, 200};
  XFERM *m = xfer_multi_init();
  struct tx *t[300];
  int i, running = 1, no_socket = 0, timed_out = 0;
  uint64_t end;
  CHECK(m);
  CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
  for (i = 0; i < 300; i++) {
    t[i] = tx_new(tx_url("http://127.0.0.1:%d/", fault_port("SILENT")));
    xfer_easy_setopt(t[i]->easy, XFEROPT_TIMEOUT_MS, 1500L);
    CHECK_EQ(xfer_multi_add_handle(m, t[i]->easy), XFERM_OK);
  }
  if (how == DRIVE_EPOLL) {
    drive_epoll(m, 8000, NULL);
  } else {
    end = tl_now_ms() + 8000;
    while (running) {
      CHECK(tl_now_ms() < end);
      CHECK_EQ(xfer_multi_perform(m, &running), XFERM_OK);
      drain_msgs(m);
      if (running) CHECK_EQ(xfer_multi_poll(m, NULL, 0, 500, NULL), XFERM_OK);
    }
  }
  for (i = 0; i < 300; i++) {
    CHECK(t[i]->done);
    if (t[i]->result == XFERE_COULDNT_CONNECT) {
      CHECK(strstr(t[i]->errbuf, "could not open a socket: Too many open "
                   "files"));
      no_socket++;
    } else {
      CHECK_EQ(t[i]->result, XFERE_OPERATION_TIMEDOUT);
      timed_out++;
    }
    xfer_multi_remove_handle(m, t[i]->easy);
    tx_free(t[i]);
  }
  CHECK(no_socket >= 100);
  CHECK(timed_out >= 100);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
}

TEST(out_of_descriptors_perform_poll) { out_of_fds(DRIVE_POLL); }
TEST(out_of_descriptors_socket_action) { out_of_fds(DRIVE_EPOLL); }

/* xfer_easy_keep_errortext: the handle keeps the failure's text itself (no
 * ERRORBUFFER), a success leaves "", a caller's ERRORBUFFER takes over,
 * and reset turns it off. */
TEST(kept_error_text) {
  char buf[XFER_ERROR_SIZE];
  XFER *e = xfer_easy_init();
  CHECK(e);
  CHECK_EQ(xfer_easy_errortext(e)[0], 0);
  xfer_easy_keep_errortext(e, 1);
  xfer_easy_setopt(e, XFEROPT_URL, tx_url("http://127.0.0.1:%d/",
                                           free_port()));
  CHECK_EQ(xfer_easy_perform(e), XFERE_COULDNT_CONNECT);
  CHECK(strstr(xfer_easy_errortext(e), "127.0.0.1"));
  xfer_easy_setopt(e, XFEROPT_URL, tx_url("%s/1k.bin", http_base()));
  xfer_easy_setopt(e, XFEROPT_WRITEFUNCTION, tl_discard);
  CHECK_EQ(xfer_easy_perform(e), XFERE_OK);
  CHECK_EQ(xfer_easy_errortext(e)[0], 0);
  /* the caller's buffer takes over, and the kept text goes */
  xfer_easy_setopt(e, XFEROPT_ERRORBUFFER, buf);
  xfer_easy_setopt(e, XFEROPT_URL, tx_url("http://127.0.0.1:%d/",
                                           free_port()));
  CHECK_EQ(xfer_easy_perform(e), XFERE_COULDNT_CONNECT);
  CHECK(strstr(buf, "127.0.0.1"));
  CHECK(xfer_easy_errortext(e) == buf);
  xfer_easy_setopt(e, XFEROPT_ERRORBUFFER, NULL);
  CHECK_EQ(xfer_easy_perform(e), XFERE_COULDNT_CONNECT);
  CHECK(strstr(xfer_easy_errortext(e), "127.0.0.1"));
  xfer_easy_reset(e); /* off again, the text freed */
  CHECK_EQ(xfer_easy_errortext(e)[0], 0);
  xfer_easy_setopt(e, XFEROPT_URL, tx_url("http://127.0.0.1:%d/",
                                           free_port()));
  CHECK_EQ(xfer_easy_perform(e), XFERE_COULDNT_CONNECT);
  CHECK_EQ(xfer_easy_errortext(e)[0], 0);
  xfer_easy_cleanup(e);
  CHECK_EQ(xfer_easy_errortext(NULL)[0], 0);
}
