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

static const char *h2c_base(void) {
  static char b[64];
  snprintf(b, sizeof(b), "http://127.0.0.1:%d", tl_env_int("NGINX_H2C_PORT"));
  return b;
}

static const char *tls_h2_base(void) {
  static char b[64];
  snprintf(b, sizeof(b), "https://localhost:%d", tl_env_int("TLS_H2_PORT"));
  return b;
}

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
  static struct xfer_slist pin = {(char *)"localhost:0:127.0.0.1", NULL};
  struct tx *t = tx_new(url);
  if (strncmp(url, "https:", 6) == 0) {
    static char entry[64];
    int port = atoi(strrchr(url + 8, ':') + 1);
    snprintf(entry, sizeof(entry), "localhost:%d:127.0.0.1", port);
    pin.data = entry;
    xfer_easy_setopt(t->easy, XFEROPT_CAINFO, tl_env("TLS_CA"));
    xfer_easy_setopt(t->easy, XFEROPT_RESOLVE, &pin);
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

