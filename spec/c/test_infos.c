/*
 * test_infos.c -- the getinfo values that libcurl programs read after a
 * transfer, beyond the sizes and times of test_http.c: CONTENT_TYPE,
 * REDIRECT_URL, SCHEME, EFFECTIVE_METHOD, LOCAL_IP, HEADER_SIZE,
 * REQUEST_SIZE, OS_ERRNO, SPEED_DOWNLOAD_T/UPLOAD_T,
 * CONTENT_LENGTH_UPLOAD_T, RETRY_AFTER, XFER_ID and CONN_ID; against nginx
 * and the fault server.
 */
#include "driver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static xfer_off_t info_offt(XFER *e, XFERINFO what) {
  xfer_off_t v = -2;
  CHECK_EQ(xfer_easy_getinfo(e, what, &v), XFERE_OK);
  return v;
}

/* Nothing run yet: NULL strings, -1 ids and lengths, 0 counts. */
TEST(before_any_transfer) {
  XFER *e = xfer_easy_init();
  const char *s = "x";
  long l = -1;
  CHECK_EQ(xfer_easy_getinfo(e, XFERINFO_CONTENT_TYPE, &s), XFERE_OK);
  CHECK(s == NULL);
  CHECK_EQ(xfer_easy_getinfo(e, XFERINFO_REDIRECT_URL, &s), XFERE_OK);
  CHECK(s == NULL);
  CHECK_EQ(xfer_easy_getinfo(e, XFERINFO_SCHEME, &s), XFERE_OK);
  CHECK(s == NULL);
  CHECK_EQ(xfer_easy_getinfo(e, XFERINFO_EFFECTIVE_METHOD, &s), XFERE_OK);
  CHECK(s == NULL);
  CHECK_EQ(xfer_easy_getinfo(e, XFERINFO_HEADER_SIZE, &l), XFERE_OK);
  CHECK_EQ(l, 0);
  CHECK_EQ(info_offt(e, XFERINFO_XFER_ID), -1);
  CHECK_EQ(info_offt(e, XFERINFO_CONN_ID), -1);
  CHECK_EQ(info_offt(e, XFERINFO_CONTENT_LENGTH_UPLOAD_T), -1);
  xfer_easy_cleanup(e);
}

TEST(content_type_scheme_local_ip_and_sizes) {
  struct tx *t = tx_new(tx_url("%s/1k.bin", http_base()));
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK_STR(info_str(t->easy, XFERINFO_CONTENT_TYPE),
            "application/octet-stream");
  CHECK_STR(info_str(t->easy, XFERINFO_SCHEME), "HTTP");
  CHECK_STR(info_str(t->easy, XFERINFO_EFFECTIVE_METHOD), "GET");
  CHECK_STR(info_str(t->easy, XFERINFO_LOCAL_IP), "127.0.0.1");
  /* every header byte the header callback saw */
  CHECK_EQ(info_long(t->easy, XFERINFO_HEADER_SIZE), (long)t->headers.len);
  /* "GET /1k.bin HTTP/1.1\r\nHost: 127.0.0.1:PORT\r\n...\r\n\r\n" */
  CHECK(info_long(t->easy, XFERINFO_REQUEST_SIZE) > 40);
  CHECK(info_offt(t->easy, XFERINFO_SPEED_DOWNLOAD_T) > 0);
  CHECK_EQ(info_offt(t->easy, XFERINFO_SPEED_UPLOAD_T), 0);
  CHECK_EQ(info_offt(t->easy, XFERINFO_CONTENT_LENGTH_UPLOAD_T), -1);
  CHECK(info_str(t->easy, XFERINFO_REDIRECT_URL) == NULL);
  tx_free(t);
  /* https */
  t = tx_new(tx_url("https://localhost:%d/1k.bin", tl_env_int("TLS_GOOD_PORT")));
  tx_tls_localhost(t, tx_url("https://localhost:%d/", tl_env_int("TLS_GOOD_PORT")));
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK_STR(info_str(t->easy, XFERINFO_SCHEME), "HTTPS");
  tx_free(t);
}

/* A redirect not followed tells where it leads; followed, the values are
 * the last response's and the sizes count both. */
TEST(redirect_url_and_values_across_redirects) {
  struct tx *t = tx_new(tx_url("%s/redirect-to-1k", http_base()));
  long one_req, one_head;
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK_EQ(info_long(t->easy, XFERINFO_RESPONSE_CODE), 302);
  CHECK_STR(info_str(t->easy, XFERINFO_REDIRECT_URL),
            tx_url("%s/1k.bin", http_base()));
  one_req = info_long(t->easy, XFERINFO_REQUEST_SIZE);
  one_head = info_long(t->easy, XFERINFO_HEADER_SIZE);
  tx_free(t);
  t = tx_new(tx_url("%s/redirect-to-1k", http_base()));
  xfer_easy_setopt(t->easy, XFEROPT_FOLLOWLOCATION, 1L);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK_EQ(info_long(t->easy, XFERINFO_RESPONSE_CODE), 200);
  CHECK(info_str(t->easy, XFERINFO_REDIRECT_URL) == NULL);
  CHECK_STR(info_str(t->easy, XFERINFO_CONTENT_TYPE),
            "application/octet-stream");
  CHECK(info_long(t->easy, XFERINFO_REQUEST_SIZE) > one_req);
  CHECK(info_long(t->easy, XFERINFO_HEADER_SIZE) > one_head);
  CHECK_EQ(info_long(t->easy, XFERINFO_HEADER_SIZE), (long)t->headers.len);
  tx_free(t);
  /* a POST that a 303 turns into a GET */
  t = tx_new(tx_url("%s/redirect/303?to=/echo", fault_base()));
  xfer_easy_setopt(t->easy, XFEROPT_POSTFIELDS, "a=b");
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK_STR(info_str(t->easy, XFERINFO_EFFECTIVE_METHOD), "POST");
  CHECK_STR(info_str(t->easy, XFERINFO_REDIRECT_URL),
            tx_url("%s/echo", fault_base()));
  tx_free(t);
  t = tx_new(tx_url("%s/redirect/303?to=/echo", fault_base()));
  xfer_easy_setopt(t->easy, XFEROPT_POSTFIELDS, "a=b");
  xfer_easy_setopt(t->easy, XFEROPT_FOLLOWLOCATION, 1L);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK_STR(info_str(t->easy, XFERINFO_EFFECTIVE_METHOD), "GET");
  tx_free(t);
}

TEST(upload_length_and_speed) {
  struct tx *t = tx_new(tx_url("%s/echo", fault_base()));
  xfer_easy_setopt(t->easy, XFEROPT_POSTFIELDS, "0123456789");
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK_EQ(info_offt(t->easy, XFERINFO_CONTENT_LENGTH_UPLOAD_T), 10);
  CHECK(info_offt(t->easy, XFERINFO_SPEED_UPLOAD_T) > 0);
  tx_free(t);
}

/* Retry-After in seconds, and as an HTTP date (the seconds until then). */
TEST(retry_after_seconds_and_date) {
  struct tx *t = tx_new(tx_url("%s/retry-after", http_base()));
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK_EQ(info_long(t->easy, XFERINFO_RESPONSE_CODE), 503);
  CHECK_EQ(info_offt(t->easy, XFERINFO_RETRY_AFTER), 120);
  tx_free(t);
  t = tx_new(tx_url("%s/retry-after-date", http_base()));
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  /* Wed, 21 Oct 2037 07:28:00 GMT is 2139722880 */
  CHECK_INT(info_offt(t->easy, XFERINFO_RETRY_AFTER), ==,
            (xfer_off_t)2139722880 - (xfer_off_t)time(NULL));
  tx_free(t);
  /* none: 0 */
  t = tx_new(tx_url("%s/1k.bin", http_base()));
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK_EQ(info_offt(t->easy, XFERINFO_RETRY_AFTER), 0);
  tx_free(t);
}

TEST(os_errno_of_a_refused_connect) {
  /* a port nothing listens on */
  struct tx *t =
      tx_new(tx_url("http://127.0.0.1:%d/", free_loopback_port()));
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_COULDNT_CONNECT);
  CHECK_EQ(info_long(t->easy, XFERINFO_OS_ERRNO), ECONNREFUSED);
  tx_free(t);
}

/* XFER_ID: each add to a multi gets the next; CONN_ID: the same for
 * transfers that shared a connection, another for a new one. */
TEST(xfer_and_conn_ids) {
  XFERM *m = xfer_multi_init();
  struct tx *a = tx_new(tx_url("%s/1k.bin", http_base()));
  struct tx *b = tx_new(tx_url("%s/1k.bin", http_base()));
  struct tx *c = tx_new(tx_url("%s/1k.bin", http_base()));
  xfer_off_t ida, idb, idc;
  CHECK_EQ(xfer_multi_add_handle(m, a->easy), XFERM_OK);
  drive_epoll(m, 4000, NULL);
  CHECK_EQ(xfer_multi_add_handle(m, b->easy), XFERM_OK);
  drive_epoll(m, 4000, NULL);
  xfer_easy_setopt(c->easy, XFEROPT_FRESH_CONNECT, 1L);
  CHECK_EQ(xfer_multi_add_handle(m, c->easy), XFERM_OK);
  drive_epoll(m, 4000, NULL);
  ida = info_offt(a->easy, XFERINFO_XFER_ID);
  idb = info_offt(b->easy, XFERINFO_XFER_ID);
  idc = info_offt(c->easy, XFERINFO_XFER_ID);
  CHECK(ida >= 0 && idb == ida + 1 && idc == idb + 1);
  CHECK(info_offt(a->easy, XFERINFO_CONN_ID) >= 0);
  CHECK_EQ(info_offt(a->easy, XFERINFO_CONN_ID),
           info_offt(b->easy, XFERINFO_CONN_ID));
  CHECK(info_offt(c->easy, XFERINFO_CONN_ID) !=
        info_offt(b->easy, XFERINFO_CONN_ID));
  xfer_multi_remove_handle(m, a->easy);
  xfer_multi_remove_handle(m, b->easy);
  xfer_multi_remove_handle(m, c->easy);
  tx_free(a);
  tx_free(b);
  tx_free(c);
  xfer_multi_cleanup(m);
}
