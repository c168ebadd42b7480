/*
 * test_http2.c -- HTTP/2: protocol choice (ALPN, prior knowledge,
 * HTTP_VERSION), multiplexing on one connection with the queue's
 * guarantees, PIPEWAIT, pause as a stream's window, uploads, and the
 * server faults of the h2 fault server (GOAWAY, RST_STREAM, PING,
 * SETTINGS_MAX_CONCURRENT_STREAMS = 1, hostile header blocks).
 *
 * Servers (spec/support/servers.sh): nginx with http2 on TLS (TLS_H2_PORT)
 * and in cleartext (NGINX_H2C_PORT), nghttpd (NGHTTPD_PORT,
 * NGHTTPD_H2C_PORT) and h2fault (H2FAULT_*).
 */
#include "testlib.h"
#include "driver.h"
#include "xfer.h"

#include <string.h>

static const char *h2fault_base(const char *which) {
  static char b[64];
  char var[48];
  snprintf(var, sizeof(var), "H2FAULT%s_PORT", which);
  snprintf(b, sizeof(b), "http://127.0.0.1:%d", tl_env_int(var));
  return b;
}

/* A transfer to url: h2c with prior knowledge, or https verified by the
 * test CA (localhost pinned to 127.0.0.1). */
static struct tx *h2_tx(const char *url) {
  struct tx *t = tx_new(url);
  if (getenv("XFER_TEST_VERBOSE")) xfer_easy_setopt(t->easy, XFEROPT_VERBOSE, 1L);
  if (strncmp(url, "https:", 6) == 0) {
    tx_tls_localhost(t, url);
  } else {
    xfer_easy_setopt(t->easy, XFEROPT_HTTP_VERSION,
                     (long)XFER_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
  }
  return t;
}

static int starts_with(const char *s, const char *p) {
  return s && strncmp(s, p, strlen(p)) == 0;
}

TEST(h2c_prior_knowledge_get) {
  struct tx *t = h2_tx(tx_url("%s/1k.bin", h2c_base()));
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK(is_pattern(&t->body, 1024));
  CHECK_EQ(info_long(t->easy, XFERINFO_RESPONSE_CODE), 200);
  CHECK_EQ(info_long(t->easy, XFERINFO_HTTP_VERSION), XFER_HTTP_VERSION_2_0);
  /* libcurl's form for HTTP/2: "HTTP/2 200 " and lowercase names */
  CHECKF(starts_with(t->headers.data, "HTTP/2 200 \r\n"), "%s",
         tl_quote(t->headers.data, t->headers.len));
  CHECK(strstr(t->headers.data, "\r\ncontent-length: 1024\r\n"));
  CHECK(t->headers.len > 4 &&
        memcmp(t->headers.data + t->headers.len - 4, "\r\n\r\n", 4) == 0);
  tx_free(t);
}

TEST(https_offers_h2_by_default_and_http11_when_asked) {
  struct tx *t = h2_tx(tx_url("%s/16k.bin", tls_h2_base()));
  struct tx *o = h2_tx(tx_url("%s/16k.bin", tls_h2_base()));
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK(is_pattern(&t->body, 16384));
  CHECK_EQ(info_long(t->easy, XFERINFO_HTTP_VERSION), XFER_HTTP_VERSION_2_0);
  xfer_easy_setopt(o->easy, XFEROPT_HTTP_VERSION, (long)XFER_HTTP_VERSION_1_1);
  CHECK_EQ(run_alone(o, DRIVE_POLL, 4500), XFERE_OK);
  CHECK(is_pattern(&o->body, 16384));
  CHECK_EQ(info_long(o->easy, XFERINFO_HTTP_VERSION), XFER_HTTP_VERSION_1_1);
  CHECK(starts_with(o->headers.data, "HTTP/1.1 200"));
  tx_free(t);
  tx_free(o);
}

TEST(plain_http_default_is_http11) {
  struct tx *t = tx_new(tx_url("%s/1k.bin", http_base()));
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK_EQ(info_long(t->easy, XFERINFO_HTTP_VERSION), XFER_HTTP_VERSION_1_1);
  tx_free(t);
}

TEST(http_version_values) {
  XFER *e = xfer_easy_init();
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_HTTP_VERSION, 99L),
           XFERE_BAD_FUNCTION_ARGUMENT);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_HTTP_VERSION, -1L),
           XFERE_BAD_FUNCTION_ARGUMENT);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_HTTP_VERSION, 30L), XFERE_NOT_BUILT_IN);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_HTTP_VERSION,
                            (long)XFER_HTTP_VERSION_2TLS), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(e, XFEROPT_PIPEWAIT, 1L), XFERE_OK);
  xfer_easy_cleanup(e);
}

/* n transfers added at once to one multi handle; all must succeed. */
static struct tx **many(XFERM *m, int n, const char *url, int pipewait) {
  struct tx **v = calloc((size_t)n, sizeof(*v));
  int i;
  for (i = 0; i < n; i++) {
    v[i] = h2_tx(url);
    if (pipewait) xfer_easy_setopt(v[i]->easy, XFEROPT_PIPEWAIT, 1L);
    CHECK_EQ(xfer_multi_add_handle(m, v[i]->easy), XFERM_OK);
  }
  return v;
}

static long connects(struct tx **v, int n) {
  long sum = 0;
  int i;
  for (i = 0; i < n; i++) sum += info_long(v[i]->easy, XFERINFO_NUM_CONNECTS);
  return sum;
}

static void all_ok(struct tx **v, int n, size_t len) {
  int i;
  for (i = 0; i < n; i++) {
    CHECKF(v[i]->done && v[i]->result == XFERE_OK, "transfer %d: %d (%s)", i,
           v[i]->result, v[i]->errbuf);
    CHECKF(is_pattern(&v[i]->body, len), "transfer %d: %zu bytes", i,
           v[i]->body.len);
  }
}

static void free_all(XFERM *m, struct tx **v, int n) {
  int i;
  for (i = 0; i < n; i++) {
    xfer_multi_remove_handle(m, v[i]->easy);
    tx_free(v[i]);
  }
  free(v);
}

TEST(pipewait_multiplexes_on_one_connection) {
  XFERM *m = xfer_multi_init();
  struct tx **v = many(m, 150, tx_url("%s/1k.bin", tls_h2_base()), 1);
  int i;
  drive_epoll(m, 9000, NULL);
  all_ok(v, 150, 1024);
  /* 100 streams (MAX_CONCURRENT_STREAMS) on the first connection; the
   * rest could not wait for a stream and opened one more */
  CHECK_INT(connects(v, 150), <=, 2);
  for (i = 0; i < 150; i++)
    CHECK_EQ(info_long(v[i]->easy, XFERINFO_HTTP_VERSION),
             XFER_HTTP_VERSION_2_0);
  free_all(m, v, 150);
  xfer_multi_cleanup(m);
}

/* The same multiplexed download from each h2 server the suite runs:
 * nginx and nghttpd, over TLS (ALPN) and h2c (prior knowledge). */
TEST(every_h2_server_multiplexes_on_one_connection) {
  static const struct { const char *name, *fmt, *port; } servers[] = {
    {"nginx TLS", "https://localhost:%d/16k.bin", "TLS_H2_PORT"},
    {"nginx h2c", "http://127.0.0.1:%d/16k.bin", "NGINX_H2C_PORT"},
    {"nghttpd TLS", "https://localhost:%d/16k.bin", "NGHTTPD_PORT"},
    {"nghttpd h2c", "http://127.0.0.1:%d/16k.bin", "NGHTTPD_H2C_PORT"},
  };
  size_t k;
  for (k = 0; k < NROWS(servers); k++) {
    XFERM *m = xfer_multi_init();
    struct tx **v;
    int i;
    tl_row("%s", servers[k].name);
    xfer_multi_setopt(m, XFERMOPT_MAX_HOST_CONNECTIONS, 1L);
    v = many(m, 50, tx_url(servers[k].fmt, tl_env_int(servers[k].port)), 1);
    drive_epoll(m, 9000, NULL);
    all_ok(v, 50, 16384);
    CHECK_EQ(connects(v, 50), 1);
    for (i = 0; i < 50; i++)
      CHECK_EQ(info_long(v[i]->easy, XFERINFO_HTTP_VERSION),
               XFER_HTTP_VERSION_2_0);
    free_all(m, v, 50);
    xfer_multi_cleanup(m);
  }
  tl_row_done();
}

TEST(host_limit_queues_streams_in_fifo_order) {
  XFERM *m = xfer_multi_init();
  struct tx **v;
  int i;
  xfer_multi_setopt(m, XFERMOPT_MAX_HOST_CONNECTIONS, 1L);
  xfer_multi_setopt(m, XFERMOPT_MAX_CONCURRENT_STREAMS, 10L);
  v = many(m, 60, tx_url("%s/1k.bin", h2c_base()), 0);
  drive_epoll(m, 9000, NULL);
  all_ok(v, 60, 1024);
  CHECK_EQ(connects(v, 60), 1);
  /* a stream frees, the head of the queue takes it: waiters finish in
   * the order they were added, ten at a time */
  for (i = 10; i < 60; i++)
    CHECKF(v[i]->order > 10, "transfer %d finished %d", i, v[i]->order);
  for (i = 0; i + 10 < 60; i++)
    CHECKF(v[i]->order < v[i + 10]->order + 10, "order %d: %d vs %d", i,
           v[i]->order, v[i + 10]->order);
  free_all(m, v, 60);
  xfer_multi_cleanup(m);
}

TEST(a_host_at_its_limit_holds_up_no_other_host) {
  XFERM *m = xfer_multi_init();
  struct tx **a, **b;
  int i, last_a = 0;
  xfer_multi_setopt(m, XFERMOPT_MAX_TOTAL_CONNECTIONS, 2L);
  xfer_multi_setopt(m, XFERMOPT_MAX_HOST_CONNECTIONS, 1L);
  xfer_multi_setopt(m, XFERMOPT_MAX_CONCURRENT_STREAMS, 4L);
  a = many(m, 60, tx_url("%s/16k.bin", h2c_base()), 1);
  b = many(m, 5, tx_url("%s/ok", h2fault_base("")), 1);
  drive_epoll(m, 9000, NULL);
  all_ok(a, 60, 16384);
  for (i = 0; i < 60; i++)
    if (a[i]->order > last_a) last_a = a[i]->order;
  for (i = 0; i < 5; i++) {
    CHECKF(b[i]->result == XFERE_OK, "%d (%s)", b[i]->result, b[i]->errbuf);
    CHECKF(b[i]->order < last_a, "host B's %d finished %d, after A's last %d",
           i, b[i]->order, last_a);
  }
  CHECK_EQ(connects(a, 60), 1);
  CHECK_EQ(connects(b, 5), 1);
  free_all(m, a, 60);
  free_all(m, b, 5);
  xfer_multi_cleanup(m);
}

TEST(pipelining_nothing_gives_each_transfer_its_connection) {
  XFERM *m = xfer_multi_init();
  struct tx **v;
  xfer_multi_setopt(m, XFERMOPT_PIPELINING, (long)XFERPIPE_NOTHING);
  xfer_multi_setopt(m, XFERMOPT_MAX_HOST_CONNECTIONS, 2L);
  v = many(m, 6, tx_url("%s/16k.bin", h2c_base()), 1);
  drive_epoll(m, 9000, NULL);
  all_ok(v, 6, 16384);
  CHECK_EQ(connects(v, 6), 2); /* two connections, reused one at a time */
  free_all(m, v, 6);
  xfer_multi_cleanup(m);
}

TEST(big_bodies_interleave_on_one_connection) {
  XFERM *m = xfer_multi_init();
  struct tx **v;
  xfer_multi_setopt(m, XFERMOPT_MAX_HOST_CONNECTIONS, 1L);
  v = many(m, 4, tx_url("%s/1m.bin", tls_h2_base()), 1);
  drive_epoll(m, 20000, NULL);
  all_ok(v, 4, 1 << 20);
  CHECK_EQ(connects(v, 4), 1);
  free_all(m, v, 4);
  xfer_multi_cleanup(m);
}

TEST(connection_reused_across_runs) {
  XFERM *m = xfer_multi_init();
  struct tx *a = h2_tx(tx_url("%s/1k.bin", h2c_base()));
  struct tx *b = h2_tx(tx_url("%s/16k.bin", h2c_base()));
  CHECK_EQ(run_on(m, a, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK_EQ(run_on(m, b, DRIVE_POLL, 4500), XFERE_OK);
  CHECK_EQ(info_long(a->easy, XFERINFO_NUM_CONNECTS), 1);
  CHECK_EQ(info_long(b->easy, XFERINFO_NUM_CONNECTS), 0);
  CHECK(is_pattern(&b->body, 16384));
  tx_free(a);
  tx_free(b);
  xfer_multi_cleanup(m);
}

TEST(head_and_status_codes) {
  struct tx *h = h2_tx(tx_url("%s/1k.bin", h2c_base()));
  struct tx *s = h2_tx(tx_url("%s/status/404", h2c_base()));
  xfer_easy_setopt(h->easy, XFEROPT_NOBODY, 1L);
  CHECK_EQ(run_alone(h, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK_EQ(h->body.len, 0);
  CHECK_EQ(info_off(h->easy, XFERINFO_CONTENT_LENGTH_DOWNLOAD_T), 1024);
  CHECK_EQ(run_alone(s, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK_EQ(info_long(s->easy, XFERINFO_RESPONSE_CODE), 404);
  tx_free(h);
  tx_free(s);
}

TEST(redirect_followed_over_h2) {
  struct tx *t = h2_tx(tx_url("%s/redirect-to-1k", h2c_base()));
  xfer_easy_setopt(t->easy, XFEROPT_FOLLOWLOCATION, 1L);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK(is_pattern(&t->body, 1024));
  CHECK_EQ(info_long(t->easy, XFERINFO_REDIRECT_COUNT), 1);
  CHECK_EQ(info_long(t->easy, XFERINFO_NUM_CONNECTS), 1);
  tx_free(t);
}


/* ---- requests with bodies (h2fault's /echo dumps what it got) ---- */

static const char *echo_field(const struct tx *t, const char *prefix) {
  const char *p = t->body.data ? strstr(t->body.data, prefix) : NULL;
  return p ? p + strlen(prefix) : NULL;
}

TEST(post_from_memory_and_read_callback) {
  struct tx *a = h2_tx(tx_url("%s/echo", h2fault_base("")));
  struct tx *b = h2_tx(tx_url("%s/echo", h2fault_base("")));
  static char big[300000];
  memset(big, 'x', sizeof(big));
  xfer_easy_setopt(a->easy, XFEROPT_POSTFIELDS, "hello=world");
  CHECK_EQ(run_alone(a, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECKF(starts_with(a->body.data, "POST /echo\n"), "%s",
         tl_quote(a->body.data, a->body.len));
  CHECK(strstr(a->body.data, "\ncontent-length: 11\n"));
  CHECK(strstr(a->body.data, "\ncontent-type: application/x-www-form-urlencoded\n"));
  CHECK(starts_with(echo_field(a, "body-length: "), "11\n"));
  CHECK_EQ(info_off(a->easy, XFERINFO_SIZE_UPLOAD_T), 11);
  /* a body bigger than the stream window (64 KiB by default) */
  xfer_easy_setopt(b->easy, XFEROPT_POSTFIELDSIZE, (long)sizeof(big));
  xfer_easy_setopt(b->easy, XFEROPT_POSTFIELDS, big);
  CHECK_EQ(run_alone(b, DRIVE_POLL, 9000), XFERE_OK);
  CHECK(starts_with(echo_field(b, "body-length: "), "300000\n"));
  tx_free(a);
  tx_free(b);
}

struct src { size_t left, calls; int paused_once; XFER *e; };

static size_t read_cb(char *buf, size_t sz, size_t n, void *ud) {
  struct src *s = ud;
  size_t k = sz * n < s->left ? sz * n : s->left;
  if (k > 5000) k = 5000;
  s->calls++;
  if (s->calls == 3 && !s->paused_once) {
    s->paused_once = 1;
    return XFER_READFUNC_PAUSE;
  }
  memset(buf, 'r', k);
  s->left -= k;
  return k;
}

static int unpause_sender(void *ud, xfer_off_t dt, xfer_off_t dn,
                          xfer_off_t ut, xfer_off_t un) {
  struct src *s = ud;
  (void)dt; (void)dn; (void)ut; (void)un;
  if (s->paused_once == 1) {
    s->paused_once = 2;
    xfer_easy_pause(s->e, XFERPAUSE_CONT);
  }
  return 0;
}

TEST(upload_from_read_callback_unknown_size_with_pause) {
  struct tx *t = h2_tx(tx_url("%s/echo", h2fault_base("")));
  struct src s = {70000, 0, 0, NULL};
  s.e = t->easy;
  xfer_easy_setopt(t->easy, XFEROPT_UPLOAD, 1L);
  xfer_easy_setopt(t->easy, XFEROPT_READFUNCTION, read_cb);
  xfer_easy_setopt(t->easy, XFEROPT_READDATA, &s);
  xfer_easy_setopt(t->easy, XFEROPT_NOPROGRESS, 0L);
  xfer_easy_setopt(t->easy, XFEROPT_XFERINFOFUNCTION, unpause_sender);
  xfer_easy_setopt(t->easy, XFEROPT_XFERINFODATA, &s);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 9000), XFERE_OK);
  CHECK(starts_with(t->body.data, "PUT /echo\n"));
  CHECK(!strstr(t->body.data, "content-length")); /* size unknown */
  CHECK(!strstr(t->body.data, "transfer-encoding"));
  CHECK(starts_with(echo_field(t, "body-length: "), "70000\n"));
  CHECK_EQ(s.paused_once, 2);
  tx_free(t);
}

/* ---- responses ---- */

TEST(trailers_and_1xx_reach_the_header_callback) {
  struct tx *t = h2_tx(tx_url("%s/trailers", h2fault_base("")));
  struct tx *i = h2_tx(tx_url("%s/1xx", h2fault_base("")));
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK(t->body.len == 5 && memcmp(t->body.data, "body\n", 5) == 0);
  CHECK(strstr(t->headers.data, "\r\n\r\nx-trailer-one: 1\r\nx-trailer-two: 2\r\n"));
  CHECK_EQ(run_alone(i, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK(starts_with(i->headers.data, "HTTP/2 103 \r\nlink: </style.css>; rel=preload\r\n\r\nHTTP/2 200 \r\n"));
  CHECK(i->body.len == 6 && memcmp(i->body.data, "final\n", 6) == 0);
  CHECK_EQ(info_long(i->easy, XFERINFO_RESPONSE_CODE), 200);
  tx_free(t);
  tx_free(i);
}

/* One fault transfer and a healthy one on the same connection: the fault
 * stays with its stream. */
static void fault_beside_healthy(const char *path, XFERcode want,
                                 long want_connects) {
  XFERM *m = xfer_multi_init();
  struct tx *f = h2_tx(tx_url("%s%s", h2fault_base(""), path));
  struct tx *ok = h2_tx(tx_url("%s/bytes?n=100000", h2fault_base("")));
  xfer_multi_setopt(m, XFERMOPT_MAX_HOST_CONNECTIONS, 1L);
  xfer_easy_setopt(f->easy, XFEROPT_PIPEWAIT, 1L);
  xfer_easy_setopt(ok->easy, XFEROPT_PIPEWAIT, 1L);
  CHECK_EQ(xfer_multi_add_handle(m, ok->easy), XFERM_OK);
  CHECK_EQ(xfer_multi_add_handle(m, f->easy), XFERM_OK);
  drive_epoll(m, 9000, NULL);
  CHECKF(f->result == want, "%s: %d (%s)", path, f->result, f->errbuf);
  CHECK(f->errbuf[0]);
  CHECKF(ok->result == XFERE_OK, "%d (%s)", ok->result, ok->errbuf);
  CHECK_EQ(ok->body.len, 100000);
  if (want_connects >= 0)
    CHECK_EQ(info_long(f->easy, XFERINFO_NUM_CONNECTS) +
                 info_long(ok->easy, XFERINFO_NUM_CONNECTS),
             want_connects);
  xfer_multi_remove_handle(m, f->easy);
  xfer_multi_remove_handle(m, ok->easy);
  tx_free(f);
  tx_free(ok);
  xfer_multi_cleanup(m);
}

TEST(rst_stream_fails_only_its_transfer) {
  fault_beside_healthy("/rst?code=2", XFERE_HTTP2_STREAM, 1);
  fault_beside_healthy("/rst-after-headers", XFERE_HTTP2_STREAM, 1);
}

TEST(enhance_your_calm_is_not_retried) {
  fault_beside_healthy("/rst?code=11", XFERE_HTTP2_STREAM, 1);
}

TEST(refused_stream_is_sent_again_once) {
  /* refused twice: sent again on the same connection (it is not going
   * away), then given up */
  fault_beside_healthy("/rst?code=7", XFERE_HTTP2_STREAM, 1);
}

TEST(header_list_over_the_limit_fails_its_stream) {
  /* 110 KiB decoded, in 8 frames: within nghttp2's framing limits, over
   * xfer's 100 KiB list */
  fault_beside_healthy("/headers-huge?kb=110", XFERE_HTTP2_STREAM, 1);
  /* 200 KiB: the stream fails at 100 KiB, then the 9th CONTINUATION
   * frame makes nghttp2 end the connection; the healthy transfer, which
   * had no answer yet, goes again on a new one */
  fault_beside_healthy("/headers-huge?kb=200", XFERE_HTTP2_STREAM, 2);
}

TEST(http_1_1_required_sends_the_request_again_over_http11) {
  XFERM *m = xfer_multi_init();
  struct tx *t = h2_tx(tx_url("%s/rst?code=13", h2fault_base("")));
  struct tx *n = h2_tx(tx_url("%s/ok", h2fault_base("")));
  XFERcode rc = run_on(m, t, DRIVE_EPOLL, 4500);
  /* h2fault speaks no HTTP/1.1: the retry fails, but it went as one */
  CHECK(rc != XFERE_OK && rc != XFERE_HTTP2_STREAM);
  CHECK_EQ(info_long(t->easy, XFERINFO_HTTP_VERSION), XFER_HTTP_VERSION_1_1);
  CHECK_EQ(info_long(t->easy, XFERINFO_NUM_CONNECTS), 2);
  /* the origin's next transfer goes HTTP/1.1 at once */
  rc = run_on(m, n, DRIVE_EPOLL, 4500);
  CHECK(rc != XFERE_OK);
  CHECK_EQ(info_long(n->easy, XFERINFO_HTTP_VERSION), XFER_HTTP_VERSION_1_1);
  CHECK_EQ(info_long(n->easy, XFERINFO_NUM_CONNECTS), 1);
  tx_free(t);
  tx_free(n);
  xfer_multi_cleanup(m);
}

TEST(goaway_finishes_the_streams_below_and_retries_the_others) {
  XFERM *m = xfer_multi_init();
  struct tx **v;
  xfer_multi_setopt(m, XFERMOPT_MAX_HOST_CONNECTIONS, 1L);
  v = many(m, 4, tx_url("%s/goaway?after=2", h2fault_base("")), 1);
  drive_epoll(m, 9000, NULL);
  {
    int i;
    for (i = 0; i < 4; i++)
      CHECKF(v[i]->result == XFERE_OK, "%d: %d (%s)", i, v[i]->result,
             v[i]->errbuf);
  }
  /* two answered on the first connection; the two above last_stream_id
   * went again on a second, which GOAWAY'd after two as well */
  CHECK_EQ(connects(v, 4), 2);
  free_all(m, v, 4);
  xfer_multi_cleanup(m);
}

TEST(connection_errors_fail_the_connection_with_16) {
  static const char *const paths[] = {"/garbage", "/continuation-flood",
                                      "/hpack-bomb", "/goaway-now", "/close"};
  size_t i;
  for (i = 0; i < NROWS(paths); i++) {
    struct tx *t = h2_tx(tx_url("%s%s", h2fault_base(""), paths[i]));
    uint64_t t0 = tl_now_ms();
    XFERcode rc;
    tl_row("%s", paths[i]);
    rc = run_alone(t, DRIVE_EPOLL, 4500);
    CHECKF(rc == XFERE_HTTP2 || rc == XFERE_HTTP2_STREAM, "%d (%s)", rc,
           t->errbuf);
    CHECK(t->errbuf[0]);
    CHECK_INT(tl_now_ms() - t0, <, 3000);
    tx_free(t);
  }
  tl_row_done();
}

TEST(ping_on_an_idle_connection_is_answered_and_it_is_reused) {
  XFERM *m = xfer_multi_init();
  struct tx *a = h2_tx(tx_url("%s/ping-idle?ms=50", h2fault_base("")));
  struct tx *b = h2_tx(tx_url("%s/ping-status", h2fault_base("")));
  unsigned pings = 0, acks = 0;
  CHECK_EQ(run_on(m, a, DRIVE_EPOLL, 4500), XFERE_OK);
  /* idle, watched: the PING comes 50 ms after the stream closed */
  drive_epoll_for(m, 300, NULL);
  CHECK_EQ(run_on(m, b, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK_EQ(info_long(b->easy, XFERINFO_NUM_CONNECTS), 0); /* not dead */
  CHECK(sscanf(b->body.data, "pings=%u acks=%u", &pings, &acks) == 2);
  CHECK_INT(pings, >=, 1);
  CHECK_EQ(acks, pings);
  tx_free(a);
  tx_free(b);
  xfer_multi_cleanup(m);
}

TEST(server_stream_limit_of_one_queues_the_rest) {
  XFERM *m = xfer_multi_init();
  struct tx **v;
  xfer_multi_setopt(m, XFERMOPT_MAX_HOST_CONNECTIONS, 1L);
  v = many(m, 6, tx_url("%s/bytes?n=20000", h2fault_base("_MS1")), 1);
  drive_epoll(m, 9000, NULL);
  all_ok(v, 6, 20000);
  free_all(m, v, 6);
  xfer_multi_cleanup(m);
}

/* ---- flow control ---- */

struct pauser { struct tx *t; int paused, resumed; size_t at_pause; };

static size_t pause_first(char *p, size_t sz, size_t n, void *ud) {
  struct pauser *ps = ud;
  if (!ps->paused) {
    ps->paused = 1;
    ps->at_pause = ps->t->body.len;
    return XFER_WRITEFUNC_PAUSE;
  }
  return tl_collect(p, sz, n, &ps->t->body);
}

TEST(a_paused_stream_stops_at_its_window_and_others_go_on) {
  XFERM *m = xfer_multi_init();
  struct tx *p = h2_tx(tx_url("%s/bytes?n=20000000", h2fault_base("")));
  struct tx *o = h2_tx(tx_url("%s/bytes?n=3000000", h2fault_base("")));
  struct pauser ps = {NULL, 0, 0, 0};
  int running = 1;
  ps.t = p;
  xfer_multi_setopt(m, XFERMOPT_MAX_HOST_CONNECTIONS, 1L);
  xfer_easy_setopt(p->easy, XFEROPT_PIPEWAIT, 1L);
  xfer_easy_setopt(o->easy, XFEROPT_PIPEWAIT, 1L);
  xfer_easy_setopt(p->easy, XFEROPT_WRITEFUNCTION, pause_first);
  xfer_easy_setopt(p->easy, XFEROPT_WRITEDATA, &ps);
  CHECK_EQ(xfer_multi_add_handle(m, p->easy), XFERM_OK);
  CHECK_EQ(xfer_multi_add_handle(m, o->easy), XFERM_OK);
  /* the other one completes while the first stays paused */
  running = drive_epoll_for(m, 1500, NULL);
  CHECK_EQ(running, 1);
  CHECK(o->done && o->result == XFERE_OK && o->body.len == 3000000);
  CHECK(ps.paused && !p->done);
  /* what came meanwhile is held, within the stream's window */
  CHECK_INT(info_off(p->easy, XFERINFO_SIZE_DOWNLOAD_T), <=, 4 << 20);
  CHECK_EQ(p->body.len, 0);
  CHECK_EQ(xfer_easy_pause(p->easy, XFERPAUSE_CONT), XFERE_OK);
  drive_epoll(m, 20000, NULL);
  CHECKF(p->result == XFERE_OK, "%d (%s)", p->result, p->errbuf);
  CHECK_EQ(p->body.len, 20000000);
  CHECK_EQ(info_long(p->easy, XFERINFO_NUM_CONNECTS) +
               info_long(o->easy, XFERINFO_NUM_CONNECTS), 1);
  xfer_multi_remove_handle(m, p->easy);
  xfer_multi_remove_handle(m, o->easy);
  tx_free(p);
  tx_free(o);
  xfer_multi_cleanup(m);
}

TEST(a_starved_upload_times_out_alone) {
  XFERM *m = xfer_multi_init();
  struct tx *u = h2_tx(tx_url("%s/upload-starve", h2fault_base("")));
  struct tx *ok = h2_tx(tx_url("%s/bytes?n=100000", h2fault_base("")));
  static char body[200000];
  xfer_multi_setopt(m, XFERMOPT_MAX_HOST_CONNECTIONS, 1L);
  xfer_easy_setopt(u->easy, XFEROPT_POSTFIELDSIZE, (long)sizeof(body));
  xfer_easy_setopt(u->easy, XFEROPT_POSTFIELDS, body);
  xfer_easy_setopt(u->easy, XFEROPT_TIMEOUT_MS, 800L);
  xfer_easy_setopt(u->easy, XFEROPT_PIPEWAIT, 1L);
  xfer_easy_setopt(ok->easy, XFEROPT_PIPEWAIT, 1L);
  CHECK_EQ(xfer_multi_add_handle(m, u->easy), XFERM_OK);
  CHECK_EQ(xfer_multi_add_handle(m, ok->easy), XFERM_OK);
  drive_epoll(m, 5000, NULL);
  CHECK_EQ(u->result, XFERE_OPERATION_TIMEDOUT);
  /* stopped at the stream's window (64 KiB), with nothing buffered past it */
  CHECK_INT(info_off(u->easy, XFERINFO_SIZE_UPLOAD_T), <=, 65535);
  CHECK_EQ(ok->result, XFERE_OK);
  CHECK_EQ(ok->body.len, 100000);
  xfer_multi_remove_handle(m, u->easy);
  xfer_multi_remove_handle(m, ok->easy);
  tx_free(u);
  tx_free(ok);
  xfer_multi_cleanup(m);
}

/* ---- misuse from inside callbacks, on shared connections ---- */

#define CHAOS_N 200
static struct tx *chaos[CHAOS_N];
static int chaos_gone[CHAOS_N];
static XFERM *chaos_m;
static unsigned chaos_seed = 12345;

static unsigned chaos_rand(void) {
  chaos_seed = chaos_seed * 1103515245u + 12345u;
  return (chaos_seed >> 16) & 0x7fff;
}

static int chaos_index(XFER *e) {
  int i;
  for (i = 0; i < CHAOS_N; i++)
    if (!chaos_gone[i] && chaos[i] && chaos[i]->easy == e) return i;
  return -1;
}

/* Each write: usually take it; sometimes pause itself, unpause or pause
 * another, remove another, clean up another (or itself). */
static size_t chaos_write(char *p, size_t sz, size_t n, void *ud) {
  struct tx *t = ud;
  int me = chaos_index(t->easy), other = (int)(chaos_rand() % CHAOS_N);
  unsigned r = chaos_rand() % 100;
  (void)p;
  if (me < 0) return sz * n;
  if (r < 3) return XFER_WRITEFUNC_PAUSE; /* offered again later */
  t->body.len += sz * n;
  if (chaos_gone[other] || !chaos[other]) return sz * n;
  if (r < 10) xfer_easy_pause(chaos[other]->easy, XFERPAUSE_CONT);
  else if (r < 12) xfer_easy_pause(chaos[other]->easy, XFERPAUSE_RECV);
  else if (r < 14) {
    xfer_multi_remove_handle(chaos_m, chaos[other]->easy);
    chaos_gone[other] = 1;
  } else if (r < 15) {
    chaos_gone[other] = 1;
    xfer_easy_cleanup(chaos[other]->easy);
    chaos[other]->easy = NULL;
    if (other == me) return XFER_WRITEFUNC_ERROR; /* its run is over */
  }
  return sz * n;
}

TEST(pause_remove_cleanup_inside_callbacks_on_shared_connections) {
  int i, running = 1, rounds = 0;
  if (getenv("XFER_CHAOS_SEED")) chaos_seed = (unsigned)atoi(getenv("XFER_CHAOS_SEED"));
  chaos_m = xfer_multi_init();
  xfer_multi_setopt(chaos_m, XFERMOPT_MAX_HOST_CONNECTIONS, 2L);
  for (i = 0; i < CHAOS_N; i++) {
    chaos[i] = h2_tx(tx_url("%s/bytes?n=%d", h2fault_base(""), 50000 + i * 997));
    chaos_gone[i] = 0;
    xfer_easy_setopt(chaos[i]->easy, XFEROPT_PIPEWAIT, 1L);
    xfer_easy_setopt(chaos[i]->easy, XFEROPT_WRITEFUNCTION, chaos_write);
    xfer_easy_setopt(chaos[i]->easy, XFEROPT_WRITEDATA, chaos[i]);
    xfer_easy_setopt(chaos[i]->easy, XFEROPT_TIMEOUT_MS, 8000L);
    CHECK_EQ(xfer_multi_add_handle(chaos_m, chaos[i]->easy), XFERM_OK);
  }
  /* a driver that also unpauses everyone now and then, from outside */
  while (running && rounds++ < 4000) {
    CHECK_EQ(xfer_multi_perform(chaos_m, &running), XFERM_OK);
    drain_msgs(chaos_m);
    if (rounds % 7 == 0)
      for (i = 0; i < CHAOS_N; i++)
        if (!chaos_gone[i] && chaos[i]->easy)
          xfer_easy_pause(chaos[i]->easy, XFERPAUSE_CONT);
    if (running) xfer_multi_poll(chaos_m, NULL, 0, 20, NULL);
  }
  CHECK_EQ(running, 0);
  for (i = 0; i < CHAOS_N; i++) {
    if (chaos_gone[i]) continue;
    /* what ran to its end got every byte */
    CHECKF(chaos[i]->done, "transfer %d has no message", i);
    if (chaos[i]->result == XFERE_OK)
      CHECK_EQ((long)chaos[i]->body.len, 50000 + i * 997);
  }
  for (i = 0; i < CHAOS_N; i++) {
    if (chaos[i]->easy) xfer_multi_remove_handle(chaos_m, chaos[i]->easy);
    tx_free(chaos[i]);
  }
  xfer_multi_cleanup(chaos_m);
}

TEST(cleanup_and_remove_with_streams_in_flight) {
  int round;
  for (round = 0; round < 2; round++) {
    int i, fds_before = tl_count_fds();
    XFERM *m = xfer_multi_init();
    struct tx **v;
    xfer_multi_setopt(m, XFERMOPT_MAX_HOST_CONNECTIONS, 1L);
    v = many(m, 30, tx_url("%s/slow?n=65536&ms=20", h2fault_base("")), 1);
    drive_epoll_for(m, 150, NULL);
    if (round == 0) { /* every handle removed mid-stream, then cleanup */
      for (i = 0; i < 30; i++)
        CHECK_EQ(xfer_multi_remove_handle(m, v[i]->easy), XFERM_OK);
      for (i = 0; i < 30; i++) CHECK(!v[i]->done);
    }
    xfer_multi_cleanup(m); /* round 1: with the streams still running */
    for (i = 0; i < 30; i++) tx_free(v[i]);
    free(v);
    CHECK_EQ(tl_count_fds(), fds_before);
  }
}

TEST(easy_perform_over_h2) {
  struct tx *t = h2_tx(tx_url("%s/1m.bin", tls_h2_base()));
  int i;
  for (i = 0; i < 3; i++) { /* the private multi keeps the connection */
    t->body.len = 0;
    CHECK_EQ(xfer_easy_perform(t->easy), XFERE_OK);
    CHECK(is_pattern(&t->body, 1 << 20));
    CHECK_EQ(info_long(t->easy, XFERINFO_HTTP_VERSION), XFER_HTTP_VERSION_2_0);
    CHECK_EQ(info_long(t->easy, XFERINFO_NUM_CONNECTS), i == 0);
  }
  tx_free(t);
}

TEST(request_fields_become_h2_name_value_pairs) {
  static struct xfer_slist h4 = {(char *)"TE: trailers", NULL};
  static struct xfer_slist h3 = {(char *)"Host: example.test:8080", &h4};
  static struct xfer_slist h2 = {(char *)"Connection: keep-alive", &h3};
  static struct xfer_slist h1 = {(char *)"X-Custom-Field: Yes", &h2};
  struct tx *t = h2_tx(tx_url("%s/echo?q=1", h2fault_base("")));
  struct tx *d = h2_tx(tx_url("%s/echo", h2fault_base("")));
  xfer_easy_setopt(t->easy, XFEROPT_HTTPHEADER, &h1);
  xfer_easy_setopt(t->easy, XFEROPT_USERAGENT, "xfer-test/1");
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECKF(starts_with(t->body.data, "GET /echo?q=1\n:authority: example.test:8080\n"),
         "%s", tl_quote(t->body.data, t->body.len));
  CHECK(strstr(t->body.data, "\nx-custom-field: Yes\n")); /* lowercased */
  CHECK(strstr(t->body.data, "\nuser-agent: xfer-test/1\n"));
  CHECK(strstr(t->body.data, "\nte: trailers\n"));
  CHECK(!strstr(t->body.data, "onnection"));
  CHECK(!strstr(t->body.data, "\nhost:"));
  /* any method, with a body */
  xfer_easy_setopt(d->easy, XFEROPT_CUSTOMREQUEST, "PATCH");
  xfer_easy_setopt(d->easy, XFEROPT_POSTFIELDS, "abc");
  CHECK_EQ(run_alone(d, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECKF(starts_with(d->body.data, "PATCH /echo\n:authority: 127.0.0.1:"), "%s",
         tl_quote(d->body.data, d->body.len));
  CHECK(starts_with(echo_field(d, "body-length: "), "3\n"));
  tx_free(t);
  tx_free(d);
}
