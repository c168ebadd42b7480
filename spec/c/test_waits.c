/*
 * test_waits.c -- what a transfer waits for, and how long.
 *
 * No busy loop in any wait state: while a transfer waits for DNS, for a TCP
 * handshake, for the server's TLS handshake reply, or while a keep-alive
 * connection sits idle, the socket callback asks for the direction that
 * will end the wait, and the event loop is not woken for nothing.  Each
 * test drives the multi handle with socket_action for a fixed time in the
 * wait state and counts the socket_action calls it took: a handle that
 * asked for the wrong direction (an always-writable socket) would take
 * thousands.
 *
 * The deadlines: TIMEOUT counts from the add, queue time included, also
 * once the transfer has left the queue; the seconds forms of TIMEOUT and
 * CONNECTTIMEOUT are seconds.
 */
#include "driver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/ssl.h>

/* Wake-ups allowed while waiting 400 ms: the start, and a timer or two. */
#define FEW 4

static xfer_off_t total_ms(XFER *e) {
  xfer_off_t us = 0;
  CHECK_EQ(xfer_easy_getinfo(e, XFERINFO_TOTAL_TIME_T, &us), XFERE_OK);
  return us / 1000;
}

static void finish(XFERM *m, struct tx *t) {
  CHECK_EQ(xfer_multi_remove_handle(m, t->easy), XFERM_OK);
  tx_free(t);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
}

static int listener(int backlog, struct sockaddr_in *a) {
  socklen_t al = sizeof(*a);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(fd >= 0);
  memset(a, 0, sizeof(*a));
  a->sin_family = AF_INET;
  a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(bind(fd, (struct sockaddr *)a, sizeof(*a)) == 0);
  CHECK(listen(fd, backlog) == 0);
  CHECK(getsockname(fd, (struct sockaddr *)a, &al) == 0);
  return fd;
}

/* ---- the wait states ---- */

/* A TCP handshake that never completes: a listener with backlog 0 whose
 * one queued connection is never accepted drops every later SYN. */
TEST(connect_wait_asks_for_out_only) {
  struct sockaddr_in a;
  int lfd = listener(0, &a), filler = socket(AF_INET, SOCK_STREAM, 0);
  XFERM *m = xfer_multi_init();
  struct tx *t;
  struct drive_stats ds;
  CHECK(connect(filler, (struct sockaddr *)&a, sizeof(a)) == 0);
  t = tx_new(tx_url("http://127.0.0.1:%d/", ntohs(a.sin_port)));
  xfer_easy_setopt(t->easy, XFEROPT_CONNECTTIMEOUT_MS, 1500L);
  CHECK_EQ(xfer_multi_add_handle(m, t->easy), XFERM_OK);
  memset(&ds, 0, sizeof(ds));
  CHECK_EQ(drive_epoll_for(m, 400, &ds), 1);
  CHECK_EQ(ds.last_what, XFER_POLL_OUT);
  CHECK_INT(ds.socket_actions + ds.timeout_actions, <=, FEW);
  drive_epoll(m, 5000, NULL);
  CHECK_EQ(t->result, XFERE_OPERATION_TIMEDOUT);
  finish(m, t);
  close(filler);
  close(lfd);
}

/* A name server that never answers: c-ares waits for its socket to be
 * readable, and its own timer. */
TEST(dns_wait_asks_for_in_only) {
  struct sockaddr_in a;
  int dns;
  XFERM *m;
  struct tx *t;
  struct drive_stats ds;
  if (netns_isolate()) return;
  dns = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons(53);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(bind(dns, (struct sockaddr *)&a, sizeof(a)) == 0);
  m = xfer_multi_init();
  t = tx_new("http://never.answered.test/");
  xfer_easy_setopt(t->easy, XFEROPT_TIMEOUT_MS, 1000L);
  CHECK_EQ(xfer_multi_add_handle(m, t->easy), XFERM_OK);
  memset(&ds, 0, sizeof(ds));
  CHECK_EQ(drive_epoll_for(m, 400, &ds), 1);
  CHECK_EQ(ds.last_what, XFER_POLL_IN);
  CHECK_INT(ds.socket_calls_by_what[XFER_POLL_OUT], ==, 0);
  CHECK_INT(ds.socket_actions + ds.timeout_actions, <=, FEW);
  drive_epoll(m, 5000, NULL);
  CHECK_EQ(t->result, XFERE_OPERATION_TIMEDOUT);
  finish(m, t);
  close(dns);
}

/* A TLS server that takes 700 ms to answer the ClientHello: OpenSSL wants
 * to read, so the socket is watched for reading (an always-writable
 * socket watched for writing would spin until the reply came). */
TEST(tls_handshake_wait_asks_for_in) {
  struct sockaddr_in a;
  int lfd = listener(8, &a);
  char cert[1024], key[1024];
  XFERM *m = xfer_multi_init();
  struct tx *t;
  struct drive_stats ds;
  pid_t pid;
  snprintf(cert, sizeof(cert), "%s/good.pem", tl_env("TLS_DIR"));
  snprintf(key, sizeof(key), "%s/good.key", tl_env("TLS_DIR"));
  pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    SSL *ssl;
    char buf[4096];
    int c;
    alarm(10);
    if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
      _exit(1);
    c = accept(lfd, NULL, NULL);
    usleep(700 * 1000);
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, c);
    if (SSL_accept(ssl) == 1 && SSL_read(ssl, buf, sizeof(buf)) > 0)
      SSL_write(ssl, ok, (int)sizeof(ok) - 1);
    SSL_shutdown(ssl);
    _exit(0);
  }
  t = tx_new(tx_url("https://localhost:%d/", ntohs(a.sin_port)));
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_CAINFO, tl_env("TLS_CA")),
           XFERE_OK);
  CHECK_EQ(xfer_multi_add_handle(m, t->easy), XFERM_OK);
  memset(&ds, 0, sizeof(ds));
  CHECK_EQ(drive_epoll_for(m, 400, &ds), 1);
  CHECK_EQ(ds.last_what, XFER_POLL_IN);
  CHECK_INT(ds.socket_actions + ds.timeout_actions, <=, FEW);
  drive_epoll(m, 5000, NULL);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK_STR(t->body.data, "ok");
  finish(m, t);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  close(lfd);
}

/* After the transfers: a kept connection waits for the next one without
 * waking the loop. */
TEST(idle_keepalive_connection_is_quiet) {
  XFERM *m = xfer_multi_init();
  struct tx *t = tx_new(tx_url("%s/1k.bin", http_base()));
  struct drive_stats ds;
  CHECK_EQ(xfer_multi_add_handle(m, t->easy), XFERM_OK);
  drive_epoll(m, 5000, NULL);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK_EQ(xfer_multi_remove_handle(m, t->easy), XFERM_OK);
  memset(&ds, 0, sizeof(ds));
  CHECK_EQ(drive_epoll_for(m, 400, &ds), 0);
  CHECK_INT(ds.socket_actions + ds.timeout_actions, <=, FEW);
  tx_free(t);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
}

/* ---- deadlines ---- */

/* TIMEOUT counts the time spent queued, also after the transfer has left
 * the queue: queued 700 ms behind another transfer, it has 300 ms left,
 * and a response that takes 700 ms more ends it at about 1,000 ms. */
TEST(timeout_counts_queue_time_after_dispatch) {
  XFERM *m = xfer_multi_init();
  struct tx *first = tx_new(tx_url("%s/sleep?ms=700", fault_base()));
  struct tx *second = tx_new(tx_url("%s/sleep?ms=700&n=2", fault_base()));
  xfer_multi_setopt(m, XFERMOPT_MAX_TOTAL_CONNECTIONS, 1L);
  xfer_easy_setopt(second->easy, XFEROPT_TIMEOUT_MS, 1000L);
  CHECK_EQ(xfer_multi_add_handle(m, first->easy), XFERM_OK);
  CHECK_EQ(xfer_multi_add_handle(m, second->easy), XFERM_OK);
  drive_epoll(m, 5000, NULL);
  CHECK_EQ(first->result, XFERE_OK);
  CHECK_EQ(second->result, XFERE_OPERATION_TIMEDOUT);
  /* it left the queue when the first one was done, and sent its request */
  {
    xfer_off_t pre = 0;
    CHECK_EQ(xfer_easy_getinfo(second->easy, XFERINFO_PRETRANSFER_TIME_T,
                               &pre), XFERE_OK);
    CHECK_INT(pre / 1000, >=, 650);
  }
  CHECK_INT(total_ms(second->easy), >=, 950);
  CHECK_INT(total_ms(second->easy), <, 1300);
  CHECK_EQ(xfer_multi_remove_handle(m, first->easy), XFERM_OK);
  tx_free(first);
  finish(m, second);
}

/* CONNECTTIMEOUT and TIMEOUT in seconds are seconds: 1 is 1,000 ms, not
 * 1 ms (a normal transfer passes), and not forever (a handshake that never
 * completes, a response that never comes, end near 1 s). */
TEST(timeouts_in_seconds) {
  static const struct {
    XFERoption opt;
    const char *path;      /* NULL: https to the silent port */
    XFERcode want;
  } cases[] = {
    {XFEROPT_CONNECTTIMEOUT, NULL, XFERE_OPERATION_TIMEDOUT},
    {XFEROPT_CONNECTTIMEOUT, "/bytes/1000", XFERE_OK},
    {XFEROPT_TIMEOUT, "/sleep?ms=3000", XFERE_OPERATION_TIMEDOUT},
    {XFEROPT_TIMEOUT, "/bytes/1000", XFERE_OK}};
  size_t i;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    XFERM *m = xfer_multi_init();
    struct tx *t = cases[i].path
        ? tx_new(tx_url("%s%s", fault_base(), cases[i].path))
        : tx_new(tx_url("https://127.0.0.1:%d/", fault_port("SILENT")));
    CHECK_EQ(xfer_easy_setopt(t->easy, cases[i].opt, 1L), XFERE_OK);
    CHECK_EQ(xfer_multi_add_handle(m, t->easy), XFERM_OK);
    drive_epoll(m, 5000, NULL);
    if (t->result != cases[i].want)
      tl_fail(__FILE__, __LINE__, "case %zu: %d [%s]", i, t->result,
              t->errbuf);
    if (cases[i].want == XFERE_OPERATION_TIMEDOUT) {
      CHECK_INT(total_ms(t->easy), >=, 950);
      CHECK_INT(total_ms(t->easy), <, 1500);
    }
    finish(m, t);
  }
}
