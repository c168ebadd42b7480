/*
 * test_http.c -- HTTP/1.1 behaviour against nginx and the fault server:
 * methods and request bodies (checked byte for byte through the fault
 * server's /echo, whose body is the raw request it received), request
 * headers, redirects, keep-alive, response framing (chunked, 1xx, 204/304,
 * HTTP/1.0, read-until-close), getinfo values and the progress callback.
 * Where a behaviour is libcurl's documented one, the comment says so.
 */
#include "driver.h"

#include <strings.h>
#include <unistd.h>

/* ---- helpers ---- */

/* The request /echo sent back, split into its head (request line and
 * header lines, each ending in CRLF, without the blank line) and body. */
struct echo {
  char *head;
  const char *body;
  size_t body_len;
};

static struct echo echo_of(const struct tx *t) {
  struct echo e;
  const char *end;
  CHECK(t->body.data);
  end = strstr(t->body.data, "\r\n\r\n");
  CHECK(end);
  e.head = calloc(1, (size_t)(end - t->body.data) + 3);
  CHECK(e.head);
  memcpy(e.head, t->body.data, (size_t)(end - t->body.data) + 2);
  e.body = end + 4;
  e.body_len = t->body.len - (size_t)(e.body - t->body.data);
  return e;
}

/* Does the head have this exact line ("Name: value", no CRLF)? */
static int has_line(const struct echo *e, const char *line) {
  const char *p = e->head;
  size_t n = strlen(line);
  while ((p = strstr(p, line)) != NULL) {
    if ((p == e->head || p[-1] == '\n') && p[n] == '\r' && p[n + 1] == '\n')
      return 1;
    p++;
  }
  return 0;
}

/* Does the head have a header of this name, any value (case-insensitive)? */
static int has_header(const struct echo *e, const char *name) {
  const char *p = strchr(e->head, '\n');
  size_t n = strlen(name);
  for (; p && p[1]; p = strchr(p + 1, '\n'))
    if (strncasecmp(p + 1, name, n) == 0 && p[1 + n] == ':') return 1;
  return 0;
}

static int starts_with(const char *s, const char *prefix) {
  return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A read callback that hands out a buffer in pieces of at most `step`. */
struct src {
  const char *data;
  size_t len, pos, step;
  int calls;
};

static size_t read_src(char *buf, size_t size, size_t nitems, void *ud) {
  struct src *s = ud;
  size_t n = size * nitems;
  s->calls++;
  if (n > s->len - s->pos) n = s->len - s->pos;
  if (s->step && n > s->step) n = s->step;
  memcpy(buf, s->data + s->pos, n);
  s->pos += n;
  return n;
}

/* Decodes a chunked request body, checking its framing; returns the length
 * of the decoded data written to out (which has room for cap bytes). */
static size_t unchunk(const char *p, size_t len, char *out, size_t cap,
                      int *nchunks) {
  const char *end = p + len;
  size_t o = 0;
  *nchunks = 0;
  for (;;) {
    char *e;
    unsigned long n;
    const char *crlf = strstr(p, "\r\n");
    CHECK(crlf && crlf < end);
    n = strtoul(p, &e, 16);
    CHECK(e == crlf); /* no extensions, only hex digits */
    p = crlf + 2;
    if (n == 0) break;
    CHECK((size_t)(end - p) >= n + 2);
    CHECK(o + n <= cap);
    memcpy(out + o, p, n);
    o += n;
    p += n;
    CHECK(p[0] == '\r' && p[1] == '\n');
    p += 2;
    (*nchunks)++;
  }
  CHECK(end - p == 2 && p[0] == '\r' && p[1] == '\n'); /* no trailers */
  return o;
}

static struct tx *echo_tx(void) {
  return tx_new(tx_url("%s/echo", fault_base()));
}

/* ---- GET and HEAD ---- */

TEST(get_basic) {
  struct tx *t = tx_new(tx_url("%s/1k.bin", http_base()));
  struct tx *e = echo_tx();
  struct echo ec;
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK(is_pattern(&t->body, 1024));
  CHECK_EQ(info_long(t->easy, XFERINFO_RESPONSE_CODE), 200);
  CHECK(starts_with(t->headers.data, "HTTP/1.1 200 OK\r\n"));
  /* what a GET looks like on the wire (libcurl's defaults) */
  CHECK_EQ(run_alone(e, DRIVE_EPOLL, 4500), XFERE_OK);
  ec = echo_of(e);
  CHECK(starts_with(ec.head, "GET /echo HTTP/1.1\r\n"));
  CHECK(has_line(&ec, tx_url("Host: 127.0.0.1:%d", tl_env_int("FAULT_PORT"))));
  CHECK(has_line(&ec, "Accept: */*"));
  CHECK(!has_header(&ec, "Content-Length"));
  CHECK(!has_header(&ec, "Transfer-Encoding"));
  CHECK(!has_header(&ec, "User-Agent")); /* libcurl sends none by default */
  CHECK_EQ(ec.body_len, 0);
  free(ec.head);
  tx_free(t);
  tx_free(e);
}

TEST(head_nobody_then_reuse) {
  XFERM *m = xfer_multi_init();
  struct tx *h = tx_new(tx_url("%s/bytes/5000", fault_base()));
  struct tx *n = tx_new(tx_url("%s/1k.bin", http_base()));
  struct tx *g;
  xfer_easy_setopt(h->easy, XFEROPT_NOBODY, 1L);
  CHECK_EQ(run_on(m, h, DRIVE_POLL, 4500), XFERE_OK);
  CHECK_EQ(h->body.len, 0);
  CHECK_EQ(info_long(h->easy, XFERINFO_RESPONSE_CODE), 200);
  CHECK_EQ(info_off(h->easy, XFERINFO_CONTENT_LENGTH_DOWNLOAD_T), 5000);
  CHECK_EQ(info_off(h->easy, XFERINFO_SIZE_DOWNLOAD_T), 0);
  CHECK(strstr(h->headers.data, "Content-Length: 5000\r\n"));
  /* no body was read: the connection carries the next request */
  g = tx_new(tx_url("%s/bytes/300", fault_base()));
  CHECK_EQ(run_on(m, g, DRIVE_POLL, 4500), XFERE_OK);
  CHECK(is_pattern(&g->body, 300));
  CHECK_EQ(info_long(g->easy, XFERINFO_NUM_CONNECTS), 0);
  /* nginx too */
  xfer_easy_setopt(n->easy, XFEROPT_NOBODY, 1L);
  CHECK_EQ(run_on(m, n, DRIVE_POLL, 4500), XFERE_OK);
  CHECK_EQ(n->body.len, 0);
  CHECK_EQ(info_off(n->easy, XFERINFO_CONTENT_LENGTH_DOWNLOAD_T), 1024);
  n->body.len = n->headers.len = 0;
  n->done = 0;
  xfer_easy_setopt(n->easy, XFEROPT_HTTPGET, 1L);
  CHECK_EQ(run_on(m, n, DRIVE_POLL, 4500), XFERE_OK);
  CHECK(is_pattern(&n->body, 1024));
  CHECK_EQ(info_long(n->easy, XFERINFO_NUM_CONNECTS), 0);
  tx_free(h), tx_free(g), tx_free(n);
  xfer_multi_cleanup(m);
}

/* NOBODY with a custom method sends that method, reads no body (libcurl's
 * rule) and does not keep the connection, whose unread body would
 * otherwise be taken for the next response. */
TEST(nobody_with_customrequest_reads_no_body) {
  XFERM *m = xfer_multi_init();
  struct tx *t = tx_new(tx_url("%s/bytes/5000", fault_base()));
  struct tx *g = tx_new(tx_url("%s/bytes/300", fault_base()));
  xfer_easy_setopt(t->easy, XFEROPT_NOBODY, 1L);
  xfer_easy_setopt(t->easy, XFEROPT_CUSTOMREQUEST, "GET");
  CHECK_EQ(run_on(m, t, DRIVE_POLL, 4500), XFERE_OK);
  CHECK_EQ(t->body.len, 0);
  CHECK_EQ(info_off(t->easy, XFERINFO_SIZE_DOWNLOAD_T), 0);
  CHECK_EQ(info_off(t->easy, XFERINFO_CONTENT_LENGTH_DOWNLOAD_T), 5000);
  CHECK_EQ(run_on(m, g, DRIVE_POLL, 4500), XFERE_OK);
  CHECK(is_pattern(&g->body, 300));
  CHECK_EQ(info_long(g->easy, XFERINFO_NUM_CONNECTS), 1);
  tx_free(t), tx_free(g);
  xfer_multi_cleanup(m);
}

/* ---- POST from memory ---- */

TEST(post_postfields) {
  struct tx *t = echo_tx();
  struct echo ec;
  xfer_easy_setopt(t->easy, XFEROPT_POSTFIELDS, "name=x%20y&b=2");
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  ec = echo_of(t);
  CHECK(starts_with(ec.head, "POST /echo HTTP/1.1\r\n"));
  CHECK(has_line(&ec, "Content-Length: 14"));
  CHECK(has_line(&ec, "Content-Type: application/x-www-form-urlencoded"));
  CHECK(!has_header(&ec, "Transfer-Encoding"));
  CHECK_EQ(ec.body_len, 14);
  CHECK(memcmp(ec.body, "name=x%20y&b=2", 14) == 0);
  CHECK_EQ(info_off(t->easy, XFERINFO_SIZE_UPLOAD_T), 14);
  CHECK(strstr(t->headers.data, "X-Body-Length: 14\r\n"));
  free(ec.head);
  tx_free(t);
}

TEST(post_postfieldsize_binary_and_empty) {
  static const char bin[] = "ab\0cd\r\n\0z";
  struct tx *t = echo_tx(), *z = echo_tx();
  struct echo ec;
  xfer_easy_setopt(t->easy, XFEROPT_POSTFIELDS, bin);
  xfer_easy_setopt(t->easy, XFEROPT_POSTFIELDSIZE, 9L);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  ec = echo_of(t);
  CHECK(has_line(&ec, "Content-Length: 9"));
  CHECK_EQ(ec.body_len, 9);
  CHECK(memcmp(ec.body, bin, 9) == 0);
  free(ec.head);
  /* an empty POST: "Content-Length: 0" and no body */
  xfer_easy_setopt(z->easy, XFEROPT_POSTFIELDS, "");
  CHECK_EQ(run_alone(z, DRIVE_EPOLL, 4500), XFERE_OK);
  ec = echo_of(z);
  CHECK(starts_with(ec.head, "POST /echo HTTP/1.1\r\n"));
  CHECK(has_line(&ec, "Content-Length: 0"));
  CHECK_EQ(ec.body_len, 0);
  free(ec.head);
  tx_free(t);
  tx_free(z);
}

TEST(post_copypostfields) {
  char buf[32];
  struct tx *t = echo_tx(), *b = echo_tx();
  struct echo ec;
  strcpy(buf, "copied=yes");
  CHECK_EQ(xfer_easy_setopt(t->easy, XFEROPT_COPYPOSTFIELDS, buf), XFERE_OK);
  memset(buf, 'X', sizeof(buf)); /* libcurl copied it: changing it is fine */
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  ec = echo_of(t);
  CHECK(starts_with(ec.head, "POST /echo HTTP/1.1\r\n"));
  CHECK(has_line(&ec, "Content-Length: 10"));
  CHECK(has_line(&ec, "Content-Type: application/x-www-form-urlencoded"));
  CHECK_EQ(ec.body_len, 10);
  CHECK(memcmp(ec.body, "copied=yes", 10) == 0);
  free(ec.head);
  /* binary: POSTFIELDSIZE set first says how much to copy */
  memcpy(buf, "a\0b\0c", 5);
  xfer_easy_setopt(b->easy, XFEROPT_POSTFIELDSIZE, 5L);
  CHECK_EQ(xfer_easy_setopt(b->easy, XFEROPT_COPYPOSTFIELDS, buf), XFERE_OK);
  memset(buf, 'Y', sizeof(buf));
  CHECK_EQ(run_alone(b, DRIVE_EPOLL, 4500), XFERE_OK);
  ec = echo_of(b);
  CHECK(has_line(&ec, "Content-Length: 5"));
  CHECK_EQ(ec.body_len, 5);
  CHECK(memcmp(ec.body, "a\0b\0c", 5) == 0);
  free(ec.head);
  tx_free(t);
  tx_free(b);
}

TEST(post_large_body) {
  size_t n = 200 * 1024, i;
  char *data = malloc(n);
  struct tx *t = echo_tx();
  struct echo ec;
  CHECK(data);
  for (i = 0; i < n; i++) data[i] = (char)(i * 7 + i / 251); /* all bytes */
  xfer_easy_setopt(t->easy, XFEROPT_POSTFIELDS, data);
  xfer_easy_setopt(t->easy, XFEROPT_POSTFIELDSIZE_LARGE, (xfer_off_t)n);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  ec = echo_of(t);
  CHECK(starts_with(ec.head, "POST /echo HTTP/1.1\r\n"));
  CHECK(has_line(&ec, "Content-Length: 204800"));
  CHECK_EQ(ec.body_len, n);
  CHECK(memcmp(ec.body, data, n) == 0);
  CHECK_EQ(info_off(t->easy, XFERINFO_SIZE_UPLOAD_T), (xfer_off_t)n);
  free(ec.head);
  free(data);
  tx_free(t);
}

/* ---- POST and PUT from the read callback ---- */

TEST(post_readcb_known_size) {
  char *data = pattern(50000, 3);
  struct src s = {data, 50000, 0, 1000, 0};
  struct tx *t = echo_tx();
  struct echo ec;
  xfer_easy_setopt(t->easy, XFEROPT_POST, 1L);
  xfer_easy_setopt(t->easy, XFEROPT_READFUNCTION, read_src);
  xfer_easy_setopt(t->easy, XFEROPT_READDATA, &s);
  xfer_easy_setopt(t->easy, XFEROPT_POSTFIELDSIZE, 50000L);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  ec = echo_of(t);
  CHECK(starts_with(ec.head, "POST /echo HTTP/1.1\r\n"));
  CHECK(has_line(&ec, "Content-Length: 50000"));
  CHECK(!has_header(&ec, "Transfer-Encoding"));
  CHECK_EQ(ec.body_len, 50000);
  CHECK(memcmp(ec.body, data, 50000) == 0);
  CHECK(s.calls >= 50);
  CHECK_EQ(info_off(t->easy, XFERINFO_SIZE_UPLOAD_T), 50000);
  free(ec.head);
  free(data);
  tx_free(t);
}

TEST(post_readcb_chunked) {
  char *data = pattern(40000, 5), *dec = malloc(40000);
  struct src s = {data, 40000, 0, 7000, 0};
  struct tx *t = echo_tx();
  struct echo ec;
  int nchunks = 0;
  CHECK(dec);
  xfer_easy_setopt(t->easy, XFEROPT_POST, 1L);
  xfer_easy_setopt(t->easy, XFEROPT_READFUNCTION, read_src);
  xfer_easy_setopt(t->easy, XFEROPT_READDATA, &s);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  ec = echo_of(t);
  CHECK(starts_with(ec.head, "POST /echo HTTP/1.1\r\n"));
  CHECK(has_line(&ec, "Transfer-Encoding: chunked"));
  CHECK(!has_header(&ec, "Content-Length"));
  CHECK(strstr(t->headers.data, "X-Body-Length: 40000\r\n"));
  CHECK_EQ(unchunk(ec.body, ec.body_len, dec, 40000, &nchunks), 40000);
  CHECK(memcmp(dec, data, 40000) == 0);
  CHECK(nchunks >= 6); /* one chunk per callback return at least */
  free(ec.head), free(data), free(dec);
  tx_free(t);
}

/* CURLOPT_POST: "This also makes libcurl use a 'Content-Type:
 * application/x-www-form-urlencoded' header", whatever the data source. */
TEST(post_readcb_content_type) {
  char *data = pattern(100, 0);
  struct src s = {data, 100, 0, 0, 0};
  struct tx *t = echo_tx();
  struct echo ec;
  xfer_easy_setopt(t->easy, XFEROPT_POST, 1L);
  xfer_easy_setopt(t->easy, XFEROPT_READFUNCTION, read_src);
  xfer_easy_setopt(t->easy, XFEROPT_READDATA, &s);
  xfer_easy_setopt(t->easy, XFEROPT_POSTFIELDSIZE, 100L);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  ec = echo_of(t);
  CHECK_EQ(ec.body_len, 100);
  CHECK(has_line(&ec, "Content-Type: application/x-www-form-urlencoded"));
  free(ec.head);
  free(data);
  tx_free(t);
}

TEST(put_upload) {
  char *data = pattern(3000, 11);
  struct src s = {data, 3000, 0, 512, 0};
  struct tx *t = echo_tx();
  struct echo ec;
  xfer_easy_setopt(t->easy, XFEROPT_UPLOAD, 1L);
  xfer_easy_setopt(t->easy, XFEROPT_READFUNCTION, read_src);
  xfer_easy_setopt(t->easy, XFEROPT_READDATA, &s);
  xfer_easy_setopt(t->easy, XFEROPT_INFILESIZE, 3000L);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  ec = echo_of(t);
  CHECK(starts_with(ec.head, "PUT /echo HTTP/1.1\r\n"));
  CHECK(has_line(&ec, "Content-Length: 3000"));
  CHECK(!has_header(&ec, "Transfer-Encoding"));
  CHECK(!has_header(&ec, "Content-Type")); /* only POST gets one */
  CHECK_EQ(ec.body_len, 3000);
  CHECK(memcmp(ec.body, data, 3000) == 0);
  CHECK_EQ(info_off(t->easy, XFERINFO_SIZE_UPLOAD_T), 3000);
  free(ec.head);
  free(data);
  tx_free(t);
}

TEST(put_upload_unknown_size_chunked) {
  char *data = pattern(20000, 0), *dec = malloc(20000);
  struct src s = {data, 20000, 0, 0, 0};
  struct tx *t = echo_tx();
  struct echo ec;
  int nchunks;
  CHECK(dec);
  xfer_easy_setopt(t->easy, XFEROPT_UPLOAD, 1L);
  xfer_easy_setopt(t->easy, XFEROPT_READFUNCTION, read_src);
  xfer_easy_setopt(t->easy, XFEROPT_READDATA, &s);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  ec = echo_of(t);
  CHECK(starts_with(ec.head, "PUT /echo HTTP/1.1\r\n"));
  CHECK(has_line(&ec, "Transfer-Encoding: chunked"));
  CHECK_EQ(unchunk(ec.body, ec.body_len, dec, 20000, &nchunks), 20000);
  CHECK(memcmp(dec, data, 20000) == 0);
  free(ec.head), free(data), free(dec);
  tx_free(t);
}

/* ---- custom methods ---- */

TEST(custom_delete_and_patch) {
  struct tx *d = echo_tx(), *p = echo_tx();
  struct tx *n = tx_new(tx_url("%s/echo-method", http_base()));
  struct echo ec;
  xfer_easy_setopt(d->easy, XFEROPT_CUSTOMREQUEST, "DELETE");
  CHECK_EQ(run_alone(d, DRIVE_EPOLL, 4500), XFERE_OK);
  ec = echo_of(d);
  CHECK(starts_with(ec.head, "DELETE /echo HTTP/1.1\r\n"));
  CHECK(!has_header(&ec, "Content-Length"));
  CHECK_EQ(ec.body_len, 0);
  free(ec.head);
  xfer_easy_setopt(n->easy, XFEROPT_CUSTOMREQUEST, "DELETE");
  CHECK_EQ(run_alone(n, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK_STR(n->body.data, "DELETE\n");
  /* PATCH with a body */
  xfer_easy_setopt(p->easy, XFEROPT_CUSTOMREQUEST, "PATCH");
  xfer_easy_setopt(p->easy, XFEROPT_POSTFIELDS, "{\"a\":1}");
  CHECK_EQ(run_alone(p, DRIVE_EPOLL, 4500), XFERE_OK);
  ec = echo_of(p);
  CHECK(starts_with(ec.head, "PATCH /echo HTTP/1.1\r\n"));
  CHECK(has_line(&ec, "Content-Length: 7"));
  CHECK_EQ(ec.body_len, 7);
  CHECK(memcmp(ec.body, "{\"a\":1}", 7) == 0);
  free(ec.head);
  tx_free(d), tx_free(p), tx_free(n);
}

/* ---- request headers ---- */

TEST(headers_add_replace_remove) {
  struct tx *t = echo_tx();
  struct xfer_slist *l = NULL;
  struct echo ec;
  l = xfer_slist_append(l, "X-Custom: one two");
  l = xfer_slist_append(l, "Accept: text/plain");
  l = xfer_slist_append(l, "User-Agent: from-header/2");
  l = xfer_slist_append(l, "Host: example.test:81");
  xfer_easy_setopt(t->easy, XFEROPT_USERAGENT, "from-option/1");
  xfer_easy_setopt(t->easy, XFEROPT_HTTPHEADER, l);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  ec = echo_of(t);
  CHECK(has_line(&ec, "X-Custom: one two"));
  CHECK(has_line(&ec, "Accept: text/plain"));
  CHECK(!strstr(ec.head, "Accept: */*"));
  CHECK(has_line(&ec, "User-Agent: from-header/2"));
  CHECK(!strstr(ec.head, "from-option/1"));
  CHECK(has_line(&ec, "Host: example.test:81"));
  CHECK(!strstr(ec.head, "Host: 127.0.0.1"));
  free(ec.head);
  tx_free(t);
  xfer_slist_free_all(l);
}

/* CURLOPT_HTTPHEADER: "Accept:" removes an internal header; "name;" adds
 * a header "with no content (nothing to the right side of the colon)". */
TEST(headers_remove_and_empty) {
  struct tx *t = echo_tx();
  struct xfer_slist *l = NULL;
  struct echo ec;
  l = xfer_slist_append(l, "Accept:");
  l = xfer_slist_append(l, "X-Not-Sent:");
  l = xfer_slist_append(l, "X-Empty;");
  xfer_easy_setopt(t->easy, XFEROPT_HTTPHEADER, l);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  ec = echo_of(t);
  CHECK(!has_header(&ec, "Accept"));
  CHECK(!has_header(&ec, "X-Not-Sent"));
  CHECK(has_header(&ec, "X-Empty"));
  CHECK(has_line(&ec, "X-Empty:"));
  free(ec.head);
  tx_free(t);
  xfer_slist_free_all(l);
}

/* ---- the body's framing is xfer's own: caller headers cannot make it
 * disagree with the bytes sent (the CL.TE smuggling pattern) ---- */

static struct tx *echo_with(const char *hdr1, const char *hdr2,
                            struct xfer_slist **l) {
  struct tx *t = echo_tx();
  *l = NULL;
  if (hdr1) *l = xfer_slist_append(*l, hdr1);
  if (hdr2) *l = xfer_slist_append(*l, hdr2);
  xfer_easy_setopt(t->easy, XFEROPT_HTTPHEADER, *l);
  return t;
}

/* libcurl: a caller's "Transfer-Encoding: chunked" makes the body go out
 * chunked, with no Content-Length (even one the caller set too). */
TEST(custom_te_chunked_chunks_a_memory_body) {
  static const size_t sizes[3] = {5, 0, 100000}; /* with the head; none;
                                                    sent after the head */
  int i;
  for (i = 0; i < 3; i++) {
    struct xfer_slist *l;
    struct tx *t = echo_with("Transfer-Encoding: chunked",
                             "Content-Length: 999", &l);
    char *data = pattern(sizes[i], 0), *dec = malloc(sizes[i] + 1);
    struct echo ec;
    int nchunks;
    xfer_easy_setopt(t->easy, XFEROPT_POSTFIELDS, data);
    xfer_easy_setopt(t->easy, XFEROPT_POSTFIELDSIZE, (long)sizes[i]);
    CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
    ec = echo_of(t);
    CHECK(has_line(&ec, "Transfer-Encoding: chunked"));
    CHECK(!has_header(&ec, "Content-Length"));
    CHECK_EQ(unchunk(ec.body, ec.body_len, dec, sizes[i], &nchunks),
             sizes[i]);
    CHECK(memcmp(dec, data, sizes[i]) == 0);
    CHECK(strstr(t->headers.data,
                 tx_url("X-Body-Length: %zu\r\n", sizes[i])));
    free(ec.head), free(data), free(dec);
    tx_free(t);
    xfer_slist_free_all(l);
  }
}

TEST(custom_te_chunked_chunks_an_upload_of_known_size) {
  char *data = pattern(5000, 3), *dec = malloc(5000);
  struct src s = {data, 5000, 0, 0, 0};
  struct xfer_slist *l;
  struct tx *t = echo_with("transfer-encoding:  chunked ", NULL, &l);
  struct echo ec;
  int nchunks;
  xfer_easy_setopt(t->easy, XFEROPT_UPLOAD, 1L);
  xfer_easy_setopt(t->easy, XFEROPT_INFILESIZE, 5000L);
  xfer_easy_setopt(t->easy, XFEROPT_READFUNCTION, read_src);
  xfer_easy_setopt(t->easy, XFEROPT_READDATA, &s);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  ec = echo_of(t);
  CHECK(starts_with(ec.head, "PUT /echo HTTP/1.1\r\n"));
  CHECK(has_line(&ec, "Transfer-Encoding: chunked"));
  CHECK(!has_header(&ec, "Content-Length"));
  CHECK_EQ(unchunk(ec.body, ec.body_len, dec, 5000, &nchunks), 5000);
  CHECK(memcmp(dec, data, 5000) == 0);
  free(ec.head), free(data), free(dec);
  tx_free(t);
  xfer_slist_free_all(l);
}

/* A request without a body and a caller's chunked encoding: an empty
 * chunked body, so that the server reads no further. */
TEST(custom_te_chunked_without_body_sends_the_last_chunk) {
  struct xfer_slist *l;
  struct tx *t = echo_with("Transfer-Encoding: chunked", NULL, &l);
  struct echo ec;
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  ec = echo_of(t);
  CHECK(starts_with(ec.head, "GET /echo HTTP/1.1\r\n"));
  CHECK(has_line(&ec, "Transfer-Encoding: chunked"));
  CHECK_EQ(ec.body_len, 5);
  CHECK(memcmp(ec.body, "0\r\n\r\n", 5) == 0);
  free(ec.head);
  tx_free(t);
  xfer_slist_free_all(l);
}

/* A caller's Content-Length is sent only when it is the body's length;
 * for a read-callback body of unknown size it announces the size. */
TEST(custom_content_length_must_match_the_body) {
  char *data = pattern(100, 0);
  struct src s = {data, 100, 0, 30, 0};
  struct xfer_slist *l;
  struct tx *t = echo_with("Content-Length: 100", NULL, &l);
  struct echo ec;
  int c0, r0, p0, o0, c1, r1, p1, o1;
  xfer_easy_setopt(t->easy, XFEROPT_POST, 1L);
  xfer_easy_setopt(t->easy, XFEROPT_READFUNCTION, read_src);
  xfer_easy_setopt(t->easy, XFEROPT_READDATA, &s);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  ec = echo_of(t);
  CHECK(has_line(&ec, "Content-Length: 100"));
  CHECK(!has_header(&ec, "Transfer-Encoding"));
  CHECK_EQ(ec.body_len, 100);
  CHECK(memcmp(ec.body, data, 100) == 0);
  free(ec.head);
  tx_free(t);
  xfer_slist_free_all(l);
  /* the same length as POSTFIELDS: sent once */
  t = echo_with("Content-Length: 5", NULL, &l);
  xfer_easy_setopt(t->easy, XFEROPT_POSTFIELDS, "hello");
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  ec = echo_of(t);
  CHECK(strstr(ec.head, "Content-Length: 5\r\n") ==
        strstr(ec.head, "Content-Length"));
  CHECK(!strstr(strstr(ec.head, "Content-Length") + 1, "Content-Length"));
  free(ec.head);
  tx_free(t);
  xfer_slist_free_all(l);
  /* refused before anything is sent: a length that is not the body's, a
   * length on a request without a body, a value that is not a number,
   * an encoding xfer does not apply, and a body of unknown size whose
   * chunked encoding a header removed */
  {
    static const char *const bad[][2] = {
      {"Content-Length: 3", "post"}, {"Content-Length: 7", "get"},
      {"Content-Length: 5x", "post"}, {"Content-Length: -1", "post"},
      {"Transfer-Encoding: gzip", "post"},
      {"Transfer-Encoding: gzip, chunked", "post"},
      {"Transfer-Encoding:", "readcb"}};
    size_t i;
    fault_stats(&c0, &r0, &p0, &o0);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
      t = echo_with(bad[i][0], NULL, &l);
      if (!strcmp(bad[i][1], "post"))
        xfer_easy_setopt(t->easy, XFEROPT_POSTFIELDS, "hello");
      if (!strcmp(bad[i][1], "readcb")) {
        s.pos = 0;
        xfer_easy_setopt(t->easy, XFEROPT_POST, 1L);
        xfer_easy_setopt(t->easy, XFEROPT_READFUNCTION, read_src);
        xfer_easy_setopt(t->easy, XFEROPT_READDATA, &s);
      }
      if (run_alone(t, DRIVE_EPOLL, 4500) != XFERE_BAD_FUNCTION_ARGUMENT)
        tl_fail(__FILE__, __LINE__, "'%s' (%s): %d, not 43", bad[i][0],
                bad[i][1], t->result);
      CHECK(t->errbuf[0]);
      tx_free(t);
      xfer_slist_free_all(l);
    }
    fault_stats(&c1, &r1, &p1, &o1);
    CHECK_EQ(r1, r0);
  }
  free(data);
}

TEST(useragent_option) {
  struct tx *t = echo_tx();
  struct echo ec;
  xfer_easy_setopt(t->easy, XFEROPT_USERAGENT, "xfer-test/1.0 (spec)");
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  ec = echo_of(t);
  CHECK(has_line(&ec, "User-Agent: xfer-test/1.0 (spec)"));
  free(ec.head);
  tx_free(t);
}

TEST(userinfo_basic_auth) {
  struct tx *t = tx_new(tx_url("http://user:pa%%3Ass@127.0.0.1:%d/echo",
                               tl_env_int("FAULT_PORT")));
  struct echo ec;
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  ec = echo_of(t);
  /* base64("user:pa:ss"): the password is percent-decoded first */
  CHECK(has_line(&ec, "Authorization: Basic dXNlcjpwYTpzcw=="));
  CHECK(starts_with(ec.head, "GET /echo HTTP/1.1\r\n"));
  free(ec.head);
  tx_free(t);
}

/* ---- redirects ---- */

/* CURLOPT_FOLLOWLOCATION: "For 301, 302 and 303 responses libcurl switches
 * method from POST to GET"; the second request then has no body, so no
 * Content-Length or Content-Type either. */
static void post_redirect_to_get(int code) {
  struct tx *t = tx_new(tx_url("%s/redirect/%d?to=/echo", fault_base(), code));
  struct echo ec;
  xfer_easy_setopt(t->easy, XFEROPT_POSTFIELDS, "a=b&c=d");
  xfer_easy_setopt(t->easy, XFEROPT_FOLLOWLOCATION, 1L);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK_EQ(info_long(t->easy, XFERINFO_RESPONSE_CODE), 200);
  CHECK_EQ(info_long(t->easy, XFERINFO_REDIRECT_COUNT), 1);
  CHECK_STR(info_str(t->easy, XFERINFO_EFFECTIVE_URL),
            tx_url("%s/echo", fault_base()));
  ec = echo_of(t);
  CHECK(starts_with(ec.head, "GET /echo HTTP/1.1\r\n"));
  CHECK(!has_header(&ec, "Content-Length"));
  CHECK(!has_header(&ec, "Content-Type"));
  CHECK(!has_header(&ec, "Transfer-Encoding"));
  CHECK_EQ(ec.body_len, 0);
  /* both responses' headers reached the header callback */
  CHECK(starts_with(t->headers.data, tx_url("HTTP/1.1 %d ", code)));
  CHECK(strstr(t->headers.data, "\r\nHTTP/1.1 200 OK\r\n"));
  free(ec.head);
  tx_free(t);
}

TEST(redirect_301_post_becomes_get) { post_redirect_to_get(301); }
TEST(redirect_302_post_becomes_get) { post_redirect_to_get(302); }
TEST(redirect_303_post_becomes_get) { post_redirect_to_get(303); }

static void post_redirect_keeps(int code) {
  struct tx *t = tx_new(tx_url("%s/redirect/%d?to=/echo", fault_base(), code));
  struct echo ec;
  xfer_easy_setopt(t->easy, XFEROPT_POSTFIELDS, "a=b&c=d");
  xfer_easy_setopt(t->easy, XFEROPT_FOLLOWLOCATION, 1L);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK_EQ(info_long(t->easy, XFERINFO_REDIRECT_COUNT), 1);
  ec = echo_of(t);
  CHECK(starts_with(ec.head, "POST /echo HTTP/1.1\r\n"));
  CHECK(has_line(&ec, "Content-Length: 7"));
  CHECK(has_line(&ec, "Content-Type: application/x-www-form-urlencoded"));
  CHECK_EQ(ec.body_len, 7);
  CHECK(memcmp(ec.body, "a=b&c=d", 7) == 0);
  free(ec.head);
  tx_free(t);
}

TEST(redirect_307_keeps_post) { post_redirect_keeps(307); }
TEST(redirect_308_keeps_post) { post_redirect_keeps(308); }

/* Also for a body too large to go out with the head. */
TEST(redirect_307_keeps_large_post) {
  size_t n = 100 * 1024;
  char *data = pattern(n, 1);
  struct tx *t = tx_new(tx_url("%s/redirect/307?to=/echo", fault_base()));
  struct echo ec;
  xfer_easy_setopt(t->easy, XFEROPT_POSTFIELDS, data);
  xfer_easy_setopt(t->easy, XFEROPT_FOLLOWLOCATION, 1L);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  ec = echo_of(t);
  CHECK(starts_with(ec.head, "POST /echo HTTP/1.1\r\n"));
  CHECK(has_line(&ec, "Content-Length: 102400"));
  CHECK_EQ(ec.body_len, n);
  CHECK(memcmp(ec.body, data, n) == 0);
  free(ec.head);
  free(data);
  tx_free(t);
}

/* A 307 keeps a body that came from the read callback: xfer's own fread
 * seeks READDATA back to its start; any other callback cannot be rewound,
 * which fails the transfer with SEND_FAIL_REWIND (65), as in libcurl. */
TEST(redirect_307_rewinds_readdata_file) {
  char *data = pattern(30000, 2);
  FILE *f = tmpfile();
  struct tx *t = tx_new(tx_url("%s/redirect/307?to=/echo", fault_base()));
  struct echo ec;
  CHECK(f);
  CHECK_EQ(fwrite(data, 1, 30000, f), 30000);
  rewind(f);
  xfer_easy_setopt(t->easy, XFEROPT_UPLOAD, 1L);
  xfer_easy_setopt(t->easy, XFEROPT_READDATA, f);
  xfer_easy_setopt(t->easy, XFEROPT_INFILESIZE, 30000L);
  xfer_easy_setopt(t->easy, XFEROPT_FOLLOWLOCATION, 1L);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  ec = echo_of(t);
  CHECK(starts_with(ec.head, "PUT /echo HTTP/1.1\r\n"));
  CHECK_EQ(ec.body_len, 30000);
  CHECK(memcmp(ec.body, data, 30000) == 0);
  free(ec.head);
  fclose(f);
  free(data);
  tx_free(t);
}

/* A POST of s through the read callback, to a redirect of that code. */
static struct tx *readcb_post_redirected(int code, struct src *s) {
  struct tx *t = tx_new(tx_url("%s/redirect/%d?to=/echo", fault_base(), code));
  s->pos = 0;
  xfer_easy_setopt(t->easy, XFEROPT_POST, 1L);
  xfer_easy_setopt(t->easy, XFEROPT_READFUNCTION, read_src);
  xfer_easy_setopt(t->easy, XFEROPT_READDATA, s);
  xfer_easy_setopt(t->easy, XFEROPT_POSTFIELDSIZE, (long)s->len);
  xfer_easy_setopt(t->easy, XFEROPT_FOLLOWLOCATION, 1L);
  return t;
}

TEST(redirect_307_read_callback_cannot_rewind) {
  char *data = pattern(5000, 3);
  struct src s = {data, 5000, 0, 0, 0};
  struct tx *t = readcb_post_redirected(307, &s);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_SEND_FAIL_REWIND);
  CHECK(strstr(t->errbuf, "rewound"));
  CHECK_EQ(info_long(t->easy, XFERINFO_REDIRECT_COUNT), 0);
  tx_free(t);
  /* a 303 makes it a GET: nothing to send again */
  t = readcb_post_redirected(303, &s);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK_EQ(info_long(t->easy, XFERINFO_REDIRECT_COUNT), 1);
  free(data);
  tx_free(t);
}

TEST(redirect_maxredirs) {
  struct tx *t = tx_new(tx_url("%s/redirect-chain/5", fault_base()));
  struct tx *ok = tx_new(tx_url("%s/redirect-chain/5", fault_base()));
  struct tx *z = tx_new(tx_url("%s/redirect-chain/1", fault_base()));
  xfer_easy_setopt(t->easy, XFEROPT_FOLLOWLOCATION, 1L);
  xfer_easy_setopt(t->easy, XFEROPT_MAXREDIRS, 3L);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_TOO_MANY_REDIRECTS);
  CHECK_EQ(info_long(t->easy, XFERINFO_REDIRECT_COUNT), 3);
  CHECK(t->errbuf[0]);
  /* exactly 5 allowed: fine */
  xfer_easy_setopt(ok->easy, XFEROPT_FOLLOWLOCATION, 1L);
  xfer_easy_setopt(ok->easy, XFEROPT_MAXREDIRS, 5L);
  CHECK_EQ(run_alone(ok, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK_STR(ok->body.data, "done\n");
  CHECK_EQ(info_long(ok->easy, XFERINFO_REDIRECT_COUNT), 5);
  CHECK_STR(info_str(ok->easy, XFERINFO_EFFECTIVE_URL),
            tx_url("%s/redirect-chain/0", fault_base()));
  /* CURLOPT_MAXREDIRS: "Setting the limit to 0 makes libcurl refuse any
   * redirect." */
  xfer_easy_setopt(z->easy, XFEROPT_FOLLOWLOCATION, 1L);
  xfer_easy_setopt(z->easy, XFEROPT_MAXREDIRS, 0L);
  CHECK_EQ(run_alone(z, DRIVE_EPOLL, 4500), XFERE_TOO_MANY_REDIRECTS);
  CHECK_EQ(info_long(z->easy, XFERINFO_REDIRECT_COUNT), 0);
  tx_free(t), tx_free(ok), tx_free(z);
}

static void follow_to_echo(const char *path, long redirects) {
  struct tx *t = tx_new(tx_url("%s%s", fault_base(), path));
  struct echo ec;
  xfer_easy_setopt(t->easy, XFEROPT_FOLLOWLOCATION, 1L);
  if (run_alone(t, DRIVE_EPOLL, 4500) != XFERE_OK)
    tl_fail(__FILE__, __LINE__, "%s: result %d (%s)", path, t->result,
            t->errbuf);
  CHECK_EQ(info_long(t->easy, XFERINFO_RESPONSE_CODE), 200);
  CHECK_EQ(info_long(t->easy, XFERINFO_REDIRECT_COUNT), redirects);
  ec = echo_of(t);
  CHECK(starts_with(ec.head, "GET /echo HTTP/1.1\r\n"));
  CHECK_STR(info_str(t->easy, XFERINFO_EFFECTIVE_URL),
            tx_url("%s/echo", fault_base()));
  free(ec.head);
  tx_free(t);
}

TEST(redirect_relative_locations) {
  follow_to_echo("/redirect/302?to=../echo", 1);        /* "../x" */
  follow_to_echo("/redirect/302?to=../../../echo", 1);  /* never above / */
  follow_to_echo("/redirect/301?to=/echo", 1);          /* "/abs" */
  follow_to_echo("/redirect/302?to=./../echo", 1);
  /* "?q": the same path with a new query, which then sends us on: the
   * first Location is "?to=/echo", the second "/echo" */
  follow_to_echo("/redirect/302?to=%3Fto%3D%2Fecho", 2);
  /* an absolute URL (tx_url's buffer is reused: copy it) */
  {
    char abs[128];
    snprintf(abs, sizeof(abs), "/redirect/302?to=http://127.0.0.1:%d/echo",
             tl_env_int("FAULT_PORT"));
    follow_to_echo(abs, 1);
  }
}

TEST(redirect_effective_url_nginx) {
  struct tx *t = tx_new(tx_url("%s/redirect-to-1k", http_base()));
  xfer_easy_setopt(t->easy, XFEROPT_FOLLOWLOCATION, 1L);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK(is_pattern(&t->body, 1024));
  CHECK_STR(info_str(t->easy, XFERINFO_EFFECTIVE_URL),
            tx_url("%s/1k.bin", http_base()));
  CHECK_EQ(info_long(t->easy, XFERINFO_REDIRECT_COUNT), 1);
  tx_free(t);
}

/* A handle re-added keeps its URL's parse only while the URL option is
 * the same: a new URL, a bad one, and the run after a redirect (whose
 * parse was of the Location) all go where the option says. */
static void again_on(XFERM *m, struct tx *t) {
  t->done = 0;
  t->body.len = t->headers.len = 0;
  if (t->body.data) t->body.data[0] = 0;
  if (t->headers.data) t->headers.data[0] = 0;
  run_on(m, t, DRIVE_POLL, 4500);
}

TEST(readd_follows_the_url_option) {
  XFERM *m = xfer_multi_init();
  struct tx *t = tx_new(tx_url("%s/files/1.txt", http_base()));
  CHECK(m);
  again_on(m, t);
  CHECK_STR(t->body.data, "file 1\n");
  again_on(m, t);
  CHECK_STR(t->body.data, "file 1\n");
  xfer_easy_setopt(t->easy, XFEROPT_URL, tx_url("%s/files/2.txt", http_base()));
  again_on(m, t);
  CHECK_STR(t->body.data, "file 2\n");
  xfer_easy_setopt(t->easy, XFEROPT_URL, "http://bad host/");
  again_on(m, t);
  CHECK_EQ(t->result, XFERE_URL_MALFORMAT);
  xfer_easy_setopt(t->easy, XFEROPT_URL, tx_url("%s/redirect-to-1k", http_base()));
  xfer_easy_setopt(t->easy, XFEROPT_FOLLOWLOCATION, 1L);
  again_on(m, t);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK(is_pattern(&t->body, 1024));
  CHECK_EQ(info_long(t->easy, XFERINFO_REDIRECT_COUNT), 1);
  /* the same option again: from the start, not from the Location */
  again_on(m, t);
  CHECK_EQ(info_long(t->easy, XFERINFO_REDIRECT_COUNT), 1);
  xfer_easy_setopt(t->easy, XFEROPT_FOLLOWLOCATION, 0L);
  again_on(m, t);
  CHECK_EQ(t->result, XFERE_OK);
  CHECK_INT(info_long(t->easy, XFERINFO_RESPONSE_CODE), >=, 301);
  CHECK_STR(info_str(t->easy, XFERINFO_EFFECTIVE_URL),
            tx_url("%s/redirect-to-1k", http_base()));
  tx_free(t);
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
}

TEST(redirect_not_followed_by_default) {
  char url[256];
  struct tx *t = tx_new(NULL);
  snprintf(url, sizeof(url), "%s/redirect/302?to=/echo", fault_base());
  xfer_easy_setopt(t->easy, XFEROPT_URL, url);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK_EQ(info_long(t->easy, XFERINFO_RESPONSE_CODE), 302);
  CHECK_STR(t->body.data, "redirect\n");
  CHECK(strstr(t->headers.data, "Location: /echo\r\n"));
  CHECK_EQ(info_long(t->easy, XFERINFO_REDIRECT_COUNT), 0);
  CHECK_STR(info_str(t->easy, XFERINFO_EFFECTIVE_URL), url);
  tx_free(t);
}

/* ---- connections ---- */

TEST(keepalive_sequential) {
  XFERM *m = xfer_multi_init();
  int i, c0, r0, c1, r1, p, o;
  long connects = 0;
  fault_stats(&c0, &r0, &p, &o);
  for (i = 0; i < 10; i++) {
    struct tx *t = tx_new(tx_url("%s/bytes/%d", fault_base(), 100 + i));
    CHECK_EQ(run_on(m, t, DRIVE_POLL, 4500), XFERE_OK);
    CHECK(is_pattern(&t->body, (size_t)(100 + i)));
    connects += info_long(t->easy, XFERINFO_NUM_CONNECTS);
    if (i > 0) CHECK_EQ(info_long(t->easy, XFERINFO_NUM_CONNECTS), 0);
    tx_free(t);
  }
  CHECK_EQ(connects, 1);
  fault_stats(&c1, &r1, &p, &o);
  /* our one connection plus the one that fetched the stats */
  CHECK_EQ(c1 - c0, 2);
  CHECK_EQ(r1 - r0, 10);
  /* nginx as well */
  connects = 0;
  for (i = 0; i < 10; i++) {
    struct tx *t = tx_new(tx_url("%s/files/%d.txt", http_base(), i + 1));
    CHECK_EQ(run_on(m, t, DRIVE_POLL, 4500), XFERE_OK);
    CHECK_STR(t->body.data, tx_url("file %d\n", i + 1));
    connects += info_long(t->easy, XFERINFO_NUM_CONNECTS);
    tx_free(t);
  }
  CHECK_EQ(connects, 1);
  xfer_multi_cleanup(m);
}

/* Finished transfers hand their request buffers on to the next ones: many
 * requests of every size (a small GET, a head past the first buffer, POSTs
 * sent with the head and past it), in turns over few connections, each
 * echoed byte for byte. */
TEST(request_buffers_reused_exactly) {
  enum { N = 120, LIMIT = 3 };
  static struct tx *t[N];
  static struct xfer_slist *hdrs[N];
  static char *bodies[N];
  XFERM *m = xfer_multi_init();
  char big[1500];
  int i;
  CHECK(m);
  CHECK_EQ(xfer_multi_setopt(m, XFERMOPT_MAX_TOTAL_CONNECTIONS, (long)LIMIT),
           XFERM_OK);
  memset(big, 'h', sizeof(big) - 1);
  big[sizeof(big) - 1] = 0;
  for (i = 0; i < N; i++) {
    t[i] = echo_tx();
    hdrs[i] = xfer_slist_append(NULL, tx_url("X-I: %d", i));
    if (i % 4 == 1)
      hdrs[i] = xfer_slist_append(hdrs[i], tx_url("X-Big: %s", big));
    CHECK(hdrs[i]);
    xfer_easy_setopt(t[i]->easy, XFEROPT_HTTPHEADER, hdrs[i]);
    if (i % 4 >= 2) {
      size_t n = i % 4 == 2 ? 100 + (size_t)i : 70000 + (size_t)i;
      bodies[i] = pattern(n, (size_t)i);
      xfer_easy_setopt(t[i]->easy, XFEROPT_POSTFIELDS, bodies[i]);
    }
    CHECK_EQ(xfer_multi_add_handle(m, t[i]->easy), XFERM_OK);
  }
  drive_epoll(m, 10000, NULL);
  for (i = 0; i < N; i++) {
    struct echo ec;
    CHECK_EQ(t[i]->result, XFERE_OK);
    ec = echo_of(t[i]);
    CHECK(starts_with(ec.head, i % 4 >= 2 ? "POST /echo HTTP/1.1\r\n"
                                          : "GET /echo HTTP/1.1\r\n"));
    CHECK(has_line(&ec, tx_url("X-I: %d", i)));
    CHECK_EQ(has_header(&ec, "X-Big"), i % 4 == 1);
    if (i % 4 == 1) CHECK(has_line(&ec, tx_url("X-Big: %s", big)));
    if (bodies[i]) {
      CHECK_EQ(ec.body_len, strlen(bodies[i]));
      CHECK(memcmp(ec.body, bodies[i], ec.body_len) == 0);
    } else {
      CHECK_EQ(ec.body_len, 0);
    }
    free(ec.head);
    CHECK_EQ(xfer_multi_remove_handle(m, t[i]->easy), XFERM_OK);
    tx_free(t[i]);
    xfer_slist_free_all(hdrs[i]);
    free(bodies[i]);
  }
  CHECK_EQ(xfer_multi_cleanup(m), XFERM_OK);
}

/* ---- response framing ---- */

TEST(chunked_extensions_trailers) {
  struct tx *t = tx_new(tx_url("%s/chunked/1000?size=100&ext=1&trailers=1",
                               fault_base()));
  const char *blank;
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK(is_pattern(&t->body, 1000));
  CHECK_EQ(info_off(t->easy, XFERINFO_SIZE_DOWNLOAD_T), 1000);
  CHECK_EQ(info_off(t->easy, XFERINFO_CONTENT_LENGTH_DOWNLOAD_T), -1);
  /* the trailer comes after the header section's blank line */
  blank = strstr(t->headers.data, "\r\n\r\n");
  CHECK(blank);
  CHECK(strstr(blank, "\r\nX-Trailer: yes\r\n"));
  CHECK(strstr(t->headers.data, "Transfer-Encoding: chunked\r\n") < blank);
  tx_free(t);
}

TEST(chunked_many_small) {
  XFERM *m = xfer_multi_init();
  struct tx *t = tx_new(tx_url("%s/chunked/100000?size=7", fault_base()));
  struct tx *n = tx_new(tx_url("%s/bytes/10", fault_base()));
  CHECK_EQ(run_on(m, t, DRIVE_POLL, 4500), XFERE_OK);
  CHECK(is_pattern(&t->body, 100000));
  /* the connection is clean after the last chunk */
  CHECK_EQ(run_on(m, n, DRIVE_POLL, 4500), XFERE_OK);
  CHECK(is_pattern(&n->body, 10));
  CHECK_EQ(info_long(n->easy, XFERINFO_NUM_CONNECTS), 0);
  tx_free(t);
  tx_free(n);
  xfer_multi_cleanup(m);
}

TEST(interim_1xx_skipped) {
  struct tx *t = tx_new(tx_url("%s/1xx", fault_base()));
  const char *h;
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK_STR(t->body.data, "final\n");
  CHECK_EQ(info_long(t->easy, XFERINFO_RESPONSE_CODE), 200);
  h = t->headers.data;
  CHECK(starts_with(h, "HTTP/1.1 100 Continue\r\n\r\n"));
  CHECK(strstr(h, "HTTP/1.1 103 Early Hints\r\n"));
  CHECK(strstr(h, "Link: </style.css>; rel=preload\r\n"));
  CHECK(strstr(h, "HTTP/1.1 103") < strstr(h, "HTTP/1.1 200 OK\r\n"));
  tx_free(t);
}

TEST(no_body_204_304) {
  XFERM *m = xfer_multi_init();
  struct tx *a = tx_new(tx_url("%s/status/204", fault_base()));
  struct tx *b = tx_new(tx_url("%s/status/304", fault_base()));
  struct tx *c = tx_new(tx_url("%s/bytes/50", fault_base()));
  CHECK_EQ(run_on(m, a, DRIVE_POLL, 4500), XFERE_OK);
  CHECK_EQ(info_long(a->easy, XFERINFO_RESPONSE_CODE), 204);
  CHECK_EQ(a->body.len, 0);
  /* 304 with "Content-Length: 10": no body follows it */
  CHECK_EQ(run_on(m, b, DRIVE_POLL, 4500), XFERE_OK);
  CHECK_EQ(info_long(b->easy, XFERINFO_RESPONSE_CODE), 304);
  CHECK_EQ(b->body.len, 0);
  CHECK(strstr(b->headers.data, "Content-Length: 10\r\n"));
  CHECK_EQ(run_on(m, c, DRIVE_POLL, 4500), XFERE_OK);
  CHECK(is_pattern(&c->body, 50));
  CHECK_EQ(info_long(c->easy, XFERINFO_NUM_CONNECTS), 0);
  tx_free(a), tx_free(b), tx_free(c);
  xfer_multi_cleanup(m);
}

static void read_until_close(const char *path, size_t n, long version) {
  XFERM *m = xfer_multi_init();
  struct tx *t = tx_new(tx_url("%s%s", fault_base(), path));
  struct tx *g = tx_new(tx_url("%s/bytes/20", fault_base()));
  CHECK_EQ(run_on(m, t, DRIVE_POLL, 4500), XFERE_OK);
  CHECK_EQ(info_long(t->easy, XFERINFO_RESPONSE_CODE), 200);
  CHECK(is_pattern(&t->body, n));
  CHECK_EQ(info_off(t->easy, XFERINFO_SIZE_DOWNLOAD_T), (xfer_off_t)n);
  CHECK_EQ(info_off(t->easy, XFERINFO_CONTENT_LENGTH_DOWNLOAD_T), -1);
  /* the version the server answered with, as libcurl reports it */
  CHECK_EQ(info_long(t->easy, XFERINFO_HTTP_VERSION), version);
  /* that connection is gone: the next transfer needs a new one */
  CHECK_EQ(run_on(m, g, DRIVE_POLL, 4500), XFERE_OK);
  CHECK(is_pattern(&g->body, 20));
  CHECK_EQ(info_long(g->easy, XFERINFO_HTTP_VERSION), XFER_HTTP_VERSION_1_1);
  CHECK_EQ(info_long(g->easy, XFERINFO_NUM_CONNECTS), 1);
  tx_free(t);
  tx_free(g);
  xfer_multi_cleanup(m);
}

TEST(http10_response) {
  read_until_close("/http10/5000", 5000, XFER_HTTP_VERSION_1_0);
  read_until_close("/http10/300000", 300000, XFER_HTTP_VERSION_1_0);
}

TEST(close_delimited_response) {
  read_until_close("/close-delimited/7000", 7000, XFER_HTTP_VERSION_1_1);
  read_until_close("/close-delimited/0", 0, XFER_HTTP_VERSION_1_1);
}

/* ---- getinfo ---- */

TEST(getinfo_values) {
  struct tx *t = tx_new(tx_url("%s/sleep?ms=30", fault_base()));
  struct tx *p = echo_tx();
  const char *ip;
  xfer_off_t nl, co, pre, st, tot;
  long lport;
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK_STR(t->body.data, "slept\n");
  CHECK_EQ(info_long(t->easy, XFERINFO_RESPONSE_CODE), 200);
  CHECK_EQ(info_off(t->easy, XFERINFO_SIZE_DOWNLOAD_T), 6);
  CHECK_EQ(info_off(t->easy, XFERINFO_SIZE_UPLOAD_T), 0);
  CHECK_EQ(info_off(t->easy, XFERINFO_CONTENT_LENGTH_DOWNLOAD_T), 6);
  ip = info_str(t->easy, XFERINFO_PRIMARY_IP);
  CHECK_STR(ip, "127.0.0.1");
  CHECK_EQ(info_long(t->easy, XFERINFO_PRIMARY_PORT), tl_env_int("FAULT_PORT"));
  lport = info_long(t->easy, XFERINFO_LOCAL_PORT);
  CHECK(lport > 0 && lport < 65536);
  CHECK(lport != tl_env_int("FAULT_PORT"));
  CHECK_EQ(info_long(t->easy, XFERINFO_NUM_CONNECTS), 1);
  nl = info_off(t->easy, XFERINFO_NAMELOOKUP_TIME_T);
  co = info_off(t->easy, XFERINFO_CONNECT_TIME_T);
  pre = info_off(t->easy, XFERINFO_PRETRANSFER_TIME_T);
  st = info_off(t->easy, XFERINFO_STARTTRANSFER_TIME_T);
  tot = info_off(t->easy, XFERINFO_TOTAL_TIME_T);
  CHECK(nl >= 0);
  CHECK_INT(nl, <=, co);
  CHECK_INT(co, <=, pre);
  CHECK_INT(pre, <=, st);
  CHECK_INT(st, <=, tot);
  /* microseconds: the server slept 30 ms first; its libuv timer works in
   * whole milliseconds of cached loop time, so allow it to be early. */
  CHECK_INT(st, >=, 25000);
  CHECK_INT(tot, <, 4000000);
  /* upload size for a POST */
  xfer_easy_setopt(p->easy, XFEROPT_POSTFIELDS, "12345");
  CHECK_EQ(run_alone(p, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK_EQ(info_off(p->easy, XFERINFO_SIZE_UPLOAD_T), 5);
  CHECK_EQ(info_off(p->easy, XFERINFO_SIZE_DOWNLOAD_T), (xfer_off_t)p->body.len);
  tx_free(t);
  tx_free(p);
}

TEST(errorbuffer_set_on_failure_only) {
  struct tx *ok = tx_new(tx_url("%s/index.html", http_base()));
  struct tx *bad = tx_new(tx_url("%s/truncated-body?size=100&send=10",
                                 fault_base()));
  strcpy(ok->errbuf, "stale");
  CHECK_EQ(run_alone(ok, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK_EQ(ok->errbuf[0], 0); /* cleared when the transfer starts */
  CHECK_EQ(run_alone(bad, DRIVE_EPOLL, 4500), XFERE_PARTIAL_FILE);
  CHECK(bad->errbuf[0] != 0);
  CHECK(strlen(bad->errbuf) < XFER_ERROR_SIZE);
  tx_free(ok);
  tx_free(bad);
}

TEST(failonerror) {
  struct tx *f = tx_new(tx_url("%s/status/404", http_base()));
  struct tx *n = tx_new(tx_url("%s/status/404", http_base()));
  struct tx *s = tx_new(tx_url("%s/status/500", fault_base()));
  xfer_easy_setopt(f->easy, XFEROPT_FAILONERROR, 1L);
  CHECK_EQ(run_alone(f, DRIVE_EPOLL, 4500), XFERE_HTTP_RETURNED_ERROR);
  CHECK_EQ(info_long(f->easy, XFERINFO_RESPONSE_CODE), 404);
  CHECK(strstr(f->errbuf, "404"));
  CHECK_EQ(f->body.len, 0); /* the error body is not delivered */
  /* without it, a 404 is a successful transfer */
  CHECK_EQ(run_alone(n, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK_EQ(info_long(n->easy, XFERINFO_RESPONSE_CODE), 404);
  CHECK_STR(n->body.data, "not found\n");
  xfer_easy_setopt(s->easy, XFEROPT_FAILONERROR, 1L);
  CHECK_EQ(run_alone(s, DRIVE_EPOLL, 4500), XFERE_HTTP_RETURNED_ERROR);
  CHECK_EQ(info_long(s->easy, XFERINFO_RESPONSE_CODE), 500);
  tx_free(f), tx_free(n), tx_free(s);
}

/* ---- progress ---- */

struct prog {
  int calls, abort_after;
  xfer_off_t last_dlnow, max_dltotal, max_ultotal, last_ulnow;
  int went_back;
};

static int on_progress(void *ud, xfer_off_t dltotal, xfer_off_t dlnow,
                       xfer_off_t ultotal, xfer_off_t ulnow) {
  struct prog *p = ud;
  p->calls++;
  if (dlnow < p->last_dlnow || ulnow < p->last_ulnow) p->went_back = 1;
  p->last_dlnow = dlnow;
  p->last_ulnow = ulnow;
  if (dltotal > p->max_dltotal) p->max_dltotal = dltotal;
  if (ultotal > p->max_ultotal) p->max_ultotal = ultotal;
  return p->abort_after && p->calls >= p->abort_after;
}

TEST(progress_called_dlnow_grows) {
  struct prog pr;
  struct tx *t = tx_new(tx_url("%s/drip?size=20&every_ms=15&chunk=2",
                               fault_base()));
  memset(&pr, 0, sizeof(pr));
  xfer_easy_setopt(t->easy, XFEROPT_NOPROGRESS, 0L);
  xfer_easy_setopt(t->easy, XFEROPT_XFERINFOFUNCTION, on_progress);
  xfer_easy_setopt(t->easy, XFEROPT_XFERINFODATA, &pr);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK(is_pattern(&t->body, 20));
  CHECK(pr.calls >= 3);
  CHECK(!pr.went_back);
  CHECK_EQ(pr.last_dlnow, 20);
  CHECK_EQ(pr.max_dltotal, 20);
  tx_free(t);
}

TEST(progress_not_called_when_noprogress) {
  struct prog pr;
  struct tx *t = tx_new(tx_url("%s/drip?size=6&every_ms=10&chunk=2",
                               fault_base()));
  memset(&pr, 0, sizeof(pr));
  /* NOPROGRESS defaults to 1 */
  xfer_easy_setopt(t->easy, XFEROPT_XFERINFOFUNCTION, on_progress);
  xfer_easy_setopt(t->easy, XFEROPT_XFERINFODATA, &pr);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK_EQ(pr.calls, 0);
  tx_free(t);
}

/* CURLOPT_XFERINFOFUNCTION: "ultotal is the total number of bytes libcurl
 * expects to upload in this transfer. ulnow is the number of bytes uploaded
 * so far." */
TEST(progress_upload_totals) {
  struct prog pr;
  char *data = pattern(3000, 0);
  struct tx *t = echo_tx();
  memset(&pr, 0, sizeof(pr));
  xfer_easy_setopt(t->easy, XFEROPT_POSTFIELDS, data);
  xfer_easy_setopt(t->easy, XFEROPT_NOPROGRESS, 0L);
  xfer_easy_setopt(t->easy, XFEROPT_XFERINFOFUNCTION, on_progress);
  xfer_easy_setopt(t->easy, XFEROPT_XFERINFODATA, &pr);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_OK);
  CHECK(pr.calls >= 1);
  CHECK_EQ(pr.last_ulnow, 3000);
  CHECK_EQ(pr.max_ultotal, 3000);
  free(data);
  tx_free(t);
}

TEST(progress_abort) {
  struct prog pr;
  struct tx *t = tx_new(tx_url("%s/drip?size=40&every_ms=10&chunk=2",
                               fault_base()));
  memset(&pr, 0, sizeof(pr));
  pr.abort_after = 2;
  xfer_easy_setopt(t->easy, XFEROPT_NOPROGRESS, 0L);
  xfer_easy_setopt(t->easy, XFEROPT_XFERINFOFUNCTION, on_progress);
  xfer_easy_setopt(t->easy, XFEROPT_XFERINFODATA, &pr);
  CHECK_EQ(run_alone(t, DRIVE_EPOLL, 4500), XFERE_ABORTED_BY_CALLBACK);
  CHECK_EQ(pr.calls, 2); /* not called again once it said stop */
  CHECK(t->body.len < 40);
  CHECK(t->errbuf[0]);
  tx_free(t);
}
