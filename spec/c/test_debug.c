/*
 * test_debug.c -- VERBOSE and the debug callback (libcurl's
 * CURLOPT_DEBUGFUNCTION): what each infotype carries, that nothing is
 * given without VERBOSE, the stderr lines without a callback, and that
 * the callback cannot break the multi handle.
 */
#include "driver.h"

#include <fcntl.h>
#include <unistd.h>

struct seen {
  int calls[XFERINFO_END];
  size_t bytes[XFERINFO_END];
  struct tbuf head_out, head_in, text;
  XFERM *m;
  int try_remove;        /* call remove_handle inside: must be refused */
  XFERMcode remove_rc;
  int try_cleanup;       /* clean the handle up inside, once */
  int after_cleanup;     /* calls after that: must be none */
  int cleaned;
};

static int on_debug(XFER *e, xfer_infotype type, char *data, size_t size,
                    void *ud) {
  struct seen *s = ud;
  CHECK(type >= XFERINFO_TEXT && type < XFERINFO_END);
  if (s->cleaned) s->after_cleanup++;
  s->calls[type]++;
  s->bytes[type] += size;
  if (type == XFERINFO_HEADER_OUT) tbuf_add(&s->head_out, data, size);
  if (type == XFERINFO_HEADER_IN) tbuf_add(&s->head_in, data, size);
  if (type == XFERINFO_TEXT) tbuf_add(&s->text, data, size);
  if (s->try_remove && type == XFERINFO_HEADER_IN) {
    s->remove_rc = xfer_multi_remove_handle(s->m, e);
    s->try_remove = 0;
  }
  if (s->try_cleanup && type == XFERINFO_HEADER_IN) {
    s->try_cleanup = 0;
    s->cleaned = 1;
    xfer_easy_cleanup(e);
  }
  return 0;
}

static void seen_free(struct seen *s) {
  tbuf_free(&s->head_out);
  tbuf_free(&s->head_in);
  tbuf_free(&s->text);
}

/* Every infotype of a POST: the head as sent, the body out, the header
 * lines one per call, the body in, and xfer's own lines. */
TEST(debug_callback_gets_every_type) {
  struct tx *t = tx_new(tx_url("%s/echo", fault_base()));
  struct seen s;
  memset(&s, 0, sizeof(s));
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_POSTFIELDS, "hello=world"),
           XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_VERBOSE, 1L), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_DEBUGFUNCTION, on_debug),
           XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_DEBUGDATA, &s), XFERE_OK);
  CHECK_EQ(run_alone(t, 0, 5000), XFERE_OK);
  CHECK_EQ(s.calls[XFERINFO_HEADER_OUT], 1);
  CHECK(!strncmp(s.head_out.data, "POST /echo HTTP/1.1\r\n", 21));
  CHECK(strstr(s.head_out.data, "\r\n\r\n") != NULL);
  CHECK(strstr(s.head_out.data, "hello=world") == NULL); /* head only */
  CHECK_EQ(s.bytes[XFERINFO_DATA_OUT], 11);
  CHECK(!strncmp(s.head_in.data, "HTTP/1.1 200", 12));
  /* one call per line, the blank line included */
  CHECK_INT(s.calls[XFERINFO_HEADER_IN], >=, 4);
  CHECK_EQ(s.bytes[XFERINFO_HEADER_IN], t->headers.len);
  CHECK_EQ(s.bytes[XFERINFO_DATA_IN], t->body.len);
  CHECK_INT(s.calls[XFERINFO_TEXT], >=, 1);
  CHECK(strstr(s.text.data, "connected to") != NULL);
  CHECK_EQ(s.calls[XFERINFO_SSL_DATA_IN] + s.calls[XFERINFO_SSL_DATA_OUT], 0);
  seen_free(&s);
  tx_free(t);
}

TEST(debug_callback_sees_tls_messages) {
  struct tx *t = tx_new(tx_url("https://localhost:%d/index.html",
                               tl_env_int("TLS_GOOD_PORT")));
  struct seen s;
  memset(&s, 0, sizeof(s));
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_CAINFO, getenv("TLS_CA")),
           XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_VERBOSE, 1L), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_DEBUGFUNCTION, on_debug),
           XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_DEBUGDATA, &s), XFERE_OK);
  CHECK_EQ(run_alone(t, 0, 5000), XFERE_OK);
  CHECK_INT(s.calls[XFERINFO_SSL_DATA_OUT], >=, 1); /* ClientHello... */
  CHECK_INT(s.calls[XFERINFO_SSL_DATA_IN], >=, 1);  /* ServerHello... */
  CHECK_EQ(s.bytes[XFERINFO_DATA_IN], 17);          /* not the TLS bytes */
  seen_free(&s);
  tx_free(t);
}

/* libcurl calls it only with VERBOSE. */
TEST(debug_callback_silent_without_verbose) {
  struct tx *t = tx_new(tx_url("%s/index.html", http_base()));
  struct seen s;
  int i, n = 0;
  memset(&s, 0, sizeof(s));
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_DEBUGFUNCTION, on_debug),
           XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_DEBUGDATA, &s), XFERE_OK);
  CHECK_EQ(run_alone(t, 0, 5000), XFERE_OK);
  for (i = 0; i < XFERINFO_END; i++) n += s.calls[i];
  CHECK_EQ(n, 0);
  seen_free(&s);
  tx_free(t);
}

/* Without a callback, VERBOSE prints libcurl's lines on stderr: "* "
 * text, "> " the request head, "< " the response head; no body. */
TEST(verbose_prints_headers_to_stderr) {
  struct tx *t = tx_new(tx_url("%s/index.html", http_base()));
  char path[] = "/tmp/xfer-verbose-XXXXXX", buf[8192];
  int fd = mkstemp(path), saved = dup(2);
  ssize_t n;
  CHECK(fd >= 0 && saved >= 0);
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_VERBOSE, 1L), XFERE_OK);
  fflush(stderr);
  dup2(fd, 2);
  CHECK_EQ(run_alone(t, 0, 5000), XFERE_OK);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  n = pread(fd, buf, sizeof(buf) - 1, 0);
  close(fd);
  unlink(path);
  CHECK(n > 0);
  buf[n] = 0;
  CHECK(strstr(buf, "> GET /index.html HTTP/1.1\r\n") != NULL);
  CHECK(strstr(buf, "< HTTP/1.1 200 OK\r\n") != NULL);
  CHECK(strstr(buf, "* connected to") != NULL);
  CHECK(strstr(buf, "hello from nginx") == NULL);
  tx_free(t);
}

/* Inside the debug callback the multi handle cannot be changed
 * (RECURSIVE_API_CALL), and a cleanup takes effect when the call ends:
 * no callback of that handle runs after it. */
TEST(debug_callback_misuse_is_contained) {
  XFERM *m = xfer_multi_init();
  struct tx *t = tx_new(tx_url("%s/index.html", http_base()));
  struct tx *other = tx_new(tx_url("%s/1k.bin", http_base()));
  struct seen s;
  XFER *e2;
  struct seen s2;
  CHECK(m);
  memset(&s, 0, sizeof(s));
  s.m = m;
  s.try_remove = 1;
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_VERBOSE, 1L), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_DEBUGFUNCTION, on_debug),
           XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_DEBUGDATA, &s), XFERE_OK);
  CHECK_EQ(run_on(m, t, 0, 5000), XFERE_OK);
  CHECK_EQ(s.remove_rc, XFERM_RECURSIVE_API_CALL);
  /* a cleanup inside: that handle is gone, the other one finishes */
  memset(&s2, 0, sizeof(s2));
  s2.try_cleanup = 1;
  CHECK(e2 = xfer_easy_init());
  CHECK_EQ(xfer_easy_setopt(e2, XFEROPT_URL,
                            tx_url("%s/1m.bin", http_base())), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(e2, XFEROPT_WRITEFUNCTION, tl_discard), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(e2, XFEROPT_VERBOSE, 1L), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(e2, XFEROPT_DEBUGFUNCTION, on_debug), XFERE_OK);
  CHECK_EQ(xfer_easy_setopt(e2, XFEROPT_DEBUGDATA, &s2), XFERE_OK);
  CHECK_EQ(xfer_multi_add_handle(m, e2), XFERM_OK);
  CHECK_EQ(run_on(m, other, 0, 5000), XFERE_OK);
  CHECK(s2.cleaned);
  CHECK_EQ(s2.after_cleanup, 0);
  CHECK(is_pattern(&other->body, 1024));
  seen_free(&s);
  seen_free(&s2);
  CHECK_EQ(xfer_multi_remove_handle(m, t->easy), XFERM_OK);
  CHECK_EQ(xfer_multi_remove_handle(m, other->easy), XFERM_OK);
  tx_free(t);
  tx_free(other);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
}
