/* test_basic.c -- the basic paths: one GET through each way of driving. */
#include "driver.h"

#include <unistd.h>

static const char *alphabet_prefix(size_t n) {
  static char buf[2048];
  size_t i;
  for (i = 0; i < n && i < sizeof(buf) - 1; i++) buf[i] = (char)('a' + i % 26);
  buf[i] = 0;
  return buf;
}

TEST(get_socket_action) {
  XFERM *m = xfer_multi_init();
  struct tx *t = tx_new(tx_url("%s/1k.bin", http_base()));
  long code = 0;
  CHECK_EQ(xfer_multi_add_handle(m, t->easy), XFERM_OK);
  drive_epoll(m, 5000, NULL);
  CHECK(t->done);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK_EQ(t->body.len, 1024);
  CHECK_STR(t->body.data, alphabet_prefix(1024));
  xfer_easy_getinfo(t->easy, XFERINFO_RESPONSE_CODE, &code);
  CHECK_EQ(code, 200);
  CHECK(strstr(t->headers.data, "HTTP/1.1 200 OK\r\n") == t->headers.data);
  CHECK_EQ(xfer_multi_remove_handle(m, t->easy), XFERM_OK);
  tx_free(t);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
}

TEST(get_perform_poll) {
  XFERM *m = xfer_multi_init();
  struct tx *t = tx_new(tx_url("%s/index.html", http_base()));
  CHECK_EQ(xfer_multi_add_handle(m, t->easy), XFERM_OK);
  drive_poll(m, 5000);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK_STR(t->body.data, "hello from nginx\n");
  xfer_multi_remove_handle(m, t->easy);
  tx_free(t);
  xfer_multi_cleanup(m);
}

TEST(easy_perform) {
  struct tx *t = tx_new(tx_url("%s/files/7.txt", http_base()));
  CHECK_EQ(xfer_easy_perform(t->easy), XFERE_OK);
  CHECK_STR(t->body.data, "file 7\n");
  /* again, on the same easy handle: its private multi keeps the connection */
  t->body.len = 0;
  CHECK_EQ(xfer_easy_perform(t->easy), XFERE_OK);
  CHECK_STR(t->body.data, "file 7\n");
  tx_free(t);
}

TEST(no_fd_leak) {
  int before = tl_count_fds();
  XFERM *m = xfer_multi_init();
  struct tx *t = tx_new(tx_url("%s/1k.bin", http_base()));
  xfer_multi_add_handle(m, t->easy);
  drive_epoll(m, 5000, NULL);
  xfer_multi_remove_handle(m, t->easy);
  tx_free(t);
  xfer_multi_cleanup(m);
  CHECK_EQ(tl_count_fds(), before);
}

#define COUNT_(name, number, type) + 1
#define XFER_EASY_OPTIONS_COUNT_ XFER_EASY_OPTIONS(COUNT_)

/* The option table (libcurl's curl_easy_option_*): every option of xfer.h's
 * list, once, found by name in any case and by number; nothing else. */
TEST(option_table) {
  const struct xfer_easyoption *o, *p;
  int n = 0, want = 0 XFER_EASY_OPTIONS_COUNT_;
  char lower[64];
  XFER *e = xfer_easy_init();
  for (o = xfer_easy_option_next(NULL); o; o = xfer_easy_option_next(o)) {
    size_t i;
    n++;
    CHECK(o->name && *o->name);
    CHECK(xfer_easy_option_by_id(o->id) == o);
    CHECK(xfer_easy_option_by_name(o->name) == o);
    for (i = 0; o->name[i] && i < sizeof(lower) - 1; i++)
      lower[i] = (char)(o->name[i] >= 'A' && o->name[i] <= 'Z' ? o->name[i] + 32 : o->name[i]);
    lower[i] = 0;
    CHECK(xfer_easy_option_by_name(lower) == o);
    CHECK(o->type <= XFEROT_FUNCTION);
    for (p = xfer_easy_option_next(NULL); p != o; p = xfer_easy_option_next(p))
      CHECK(p->id != o->id && strcmp(p->name, o->name) != 0);
  }
  CHECK_EQ(n, want);
  CHECK_EQ(xfer_easy_option_by_name("URL")->id, XFEROPT_URL);
  CHECK_EQ(xfer_easy_option_by_name("url")->type, XFEROT_STRING);
  CHECK_EQ(xfer_easy_option_by_id(XFEROPT_HTTPHEADER)->type, XFEROT_SLIST);
  CHECK_EQ(xfer_easy_option_by_id(XFEROPT_INFILESIZE_LARGE)->type,
           XFEROT_OFF_T);
  CHECK(xfer_easy_option_by_name("FTPPORT") == NULL);
  CHECK(xfer_easy_option_by_name(NULL) == NULL);
  CHECK(xfer_easy_option_by_id(XFEROPT_LASTENTRY) == NULL);
  CHECK(xfer_easy_option_by_id((XFERoption)10017) == NULL);
  /* setopt knows exactly the table's options */
  CHECK_EQ(xfer_easy_setopt(e, (XFERoption)10017, "-"),
           XFERE_UNKNOWN_OPTION);
  CHECK_EQ(xfer_easy_setopt(e, (XFERoption)34, 1L), XFERE_UNKNOWN_OPTION);
  xfer_easy_cleanup(e);
}
