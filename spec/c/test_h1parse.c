/*
 * test_h1parse.c -- the HTTP/1.x response parser.
 *
 * Every response is parsed whole, then byte by byte, at every 2-way split
 * point and in random pieces (fixed seed, empty feeds included); all runs
 * must give the same transcript: the header lines, the headers-done event,
 * the concatenated body, the result code, the bytes consumed and the
 * parser's results.  Each piece is fed from its own exact-size heap copy,
 * so ASan catches any read past a feed, and the body spans are checked to
 * point into it.
 */
#include "testlib.h"

#include <stdarg.h>

#include "proto/h1parse.h"
#include "xfer.h"

/* --- a growable string --- */

struct sb {
  char *p;
  size_t len, cap;
};

static void sb_put(struct sb *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    b->p = realloc(b->p, cap);
    CHECK(b->p != NULL);
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void sb_printf(struct sb *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sb *b, const char *fmt, ...) {
  char tmp[512];
  int n;
  va_list ap;
  va_start(ap, fmt);
  n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
  va_end(ap);
  CHECK(n >= 0 && (size_t)n < sizeof(tmp));
  sb_put(b, tmp, (size_t)n);
}

static void sb_esc(struct sb *b, const char *s, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '\r')
      sb_put(b, "\\r", 2);
    else if (c == '\n')
      sb_put(b, "\\n", 2);
    else if (c == '\\' || c == '"')
      sb_printf(b, "\\%c", c);
    else if (c < 32 || c >= 127)
      sb_printf(b, "\\x%02x", c);
    else
      sb_put(b, (const char *)&c, 1);
  }
}

/* --- the recording callbacks --- */

struct rec {
  struct sb log;
  struct sb body;
  int in_body;
  int events;        /* on_header + on_headers_done calls */
  int ndone;         /* on_headers_done calls */
  int fail_event;    /* return fail_code from this event (1-based), 0: never */
  int fail_code;
  int fail_body;     /* return fail_code from the first on_body */
  int raw_copied;    /* header lines not pointing into the input */
  const char *buf;   /* the current feed */
  size_t buflen;
  struct xfer_h1p *p;
};

static int in_feed(struct rec *r, const char *s, size_t n) {
  return s >= r->buf && s + n <= r->buf + r->buflen;
}

static void end_body(struct rec *r) {
  if (r->in_body) sb_put(&r->log, "\"\n", 2);
  r->in_body = 0;
}

static int on_header(void *ud, const char *raw, size_t rawlen,
                     const char *name, size_t namelen, const char *value,
                     size_t valuelen) {
  struct rec *r = ud;
  end_body(r);
  CHECK(rawlen > 0 && raw[rawlen - 1] == '\n');
  if (!in_feed(r, raw, rawlen)) r->raw_copied++;
  sb_put(&r->log, "H \"", 3);
  sb_esc(&r->log, raw, rawlen);
  sb_put(&r->log, "\"", 1);
  if (name) {
    CHECK(name == raw);
    CHECK(value >= raw && value + valuelen <= raw + rawlen);
    sb_put(&r->log, " ", 1);
    sb_esc(&r->log, name, namelen);
    sb_put(&r->log, "=[", 2);
    sb_esc(&r->log, value, valuelen);
    sb_put(&r->log, "]", 1);
  } else {
    CHECK(namelen == 0 && value == NULL && valuelen == 0);
  }
  sb_put(&r->log, "\n", 1);
  if (++r->events == r->fail_event) return r->fail_code;
  return 0;
}

static int on_headers_done(void *ud) {
  struct rec *r = ud;
  struct xfer_h1p *p = r->p;
  end_body(r);
  r->ndone++;
  sb_printf(&r->log, "D %d 1.%d ka=%d ch=%d mode=%d cl=%lld done=%d\n",
            p->status, p->http_minor, p->keepalive, p->chunked,
            p->body_mode, (long long)p->content_length, p->done);
  if (++r->events == r->fail_event) return r->fail_code;
  return 0;
}

static int on_body(void *ud, const char *data, size_t len) {
  struct rec *r = ud;
  CHECK(len > 0);
  CHECK(in_feed(r, data, len));
  CHECK(r->ndone == 1);
  if (r->fail_body) return r->fail_code;
  if (!r->in_body) sb_put(&r->log, "B \"", 3);
  r->in_body = 1;
  sb_esc(&r->log, data, len);
  sb_put(&r->body, data, len);
  return 0;
}

static const struct xfer_h1p_callbacks cbs = {on_header, on_headers_done,
                                              on_body};

/* --- running a response --- */

struct opts {
  int is_head;
  size_t maxhdr;
  int fail_event, fail_body, fail_code;
};

struct res {
  int rc;            /* the first nonzero feed result, or 0 */
  size_t consumed;   /* total bytes consumed (when rc == 0) */
  int eof_rc;        /* xfer__h1p_eof() after the feeds */
  int done_after_eof;
  struct xfer_h1p p; /* the parser's results after the feeds */
  int ndone, raw_copied;
  char *log;         /* the whole transcript, comparable between runs */
  char *body;
  size_t bodylen;
};

static void res_free(struct res *r) {
  free(r->log);
  free(r->body);
  memset(r, 0, sizeof(*r));
}

static void run(struct res *out, const char *resp, size_t len,
                const struct opts *o, const size_t *sizes, size_t nsizes) {
  struct xfer_h1p p;
  struct rec rec;
  size_t off = 0, i, c;
  int rv = 0;

  memset(&rec, 0, sizeof(rec));
  memset(out, 0, sizeof(*out));
  rec.p = &p;
  rec.fail_event = o->fail_event;
  rec.fail_body = o->fail_body;
  rec.fail_code = o->fail_code;
  xfer__h1p_init(&p, o->is_head, o->maxhdr);
  for (i = 0; i < nsizes && off < len; i++) {
    size_t sz = sizes[i];
    char *chunk;
    if (sz > len - off) sz = len - off;
    chunk = malloc(sz ? sz : 1);
    CHECK(chunk != NULL);
    memcpy(chunk, resp + off, sz);
    rec.buf = chunk;
    rec.buflen = sz;
    c = (size_t)-1;
    rv = xfer__h1p_feed(&p, chunk, sz, &c, &cbs, &rec);
    free(chunk);
    if (rv) break;
    CHECK(c <= sz);
    out->consumed += c;
    off += sz;
    if (c < sz) {
      CHECK(p.done);
      break;
    }
  }
  end_body(&rec);
  out->p = p;
  out->rc = rv;
  if (rv == 0 && p.done) {
    /* Nothing past the end of a response is ever taken. */
    rv = xfer__h1p_feed(&p, "Z", 1, &c, &cbs, &rec);
    CHECK_EQ(rv, 0);
    CHECK_EQ(c, 0);
  }
  if (out->rc) {
    /* Errors are sticky. */
    CHECK_EQ(xfer__h1p_feed(&p, "HTTP/1.1 200 OK\r\n", 17, &c, &cbs, &rec),
             out->rc);
  }
  out->eof_rc = xfer__h1p_eof(&p, &cbs, &rec);
  out->done_after_eof = p.done;
  if (out->rc) CHECK_EQ(out->eof_rc, out->rc);
  out->ndone = rec.ndone;
  out->raw_copied = rec.raw_copied;
  /* When on_body refuses a span, how far the body got depends on the span
   * sizes, hence on the split: leave that out. */
  sb_printf(&rec.log,
            "R rc=%d consumed=%zu status=%d 1.%d ka=%d ch=%d mode=%d "
            "cl=%lld recv=%lld done=%d any=%d eof=%d/%d\n",
            out->rc, out->rc ? (size_t)0 : out->consumed, out->p.status,
            out->p.http_minor, out->p.keepalive, out->p.chunked,
            out->p.body_mode, (long long)out->p.content_length,
            o->fail_body ? -1LL : (long long)out->p.body_received,
            o->fail_body ? -1 : out->p.done, out->p.any_bytes, out->eof_rc,
            o->fail_body ? -1 : out->done_after_eof);
  out->log = rec.log.p;
  out->body = rec.body.p;
  out->bodylen = rec.body.len;
  xfer__h1p_free(&p);
  out->p.line_ = NULL;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

static void same(const struct res *whole, const struct res *r,
                 const char *how, size_t arg) {
  if (strcmp(whole->log, r->log) != 0)
    tl_fail(__FILE__, __LINE__, "split %s %zu differs:\n--- whole\n%s--- split\n%s",
            how, arg, whole->log, r->log);
}

/* Parse resp whole into *out, then check that every way of splitting it
 * gives the same transcript. */
static void check_all(struct res *out, const char *resp, size_t len,
                      const struct opts *o) {
  size_t *sizes = malloc((len + 2) * sizeof(*sizes));
  size_t i, k, n;
  struct res r;
  int iter;

  CHECK(sizes != NULL);
  sizes[0] = len;
  run(out, resp, len, o, sizes, 1);
  /* A whole line in the input is passed from it, never copied. */
  CHECK_EQ(out->raw_copied, 0);
  CHECK(out->ndone <= 1);

  for (i = 0; i < len; i++) sizes[i] = 1;
  run(&r, resp, len, o, sizes, len);
  same(out, &r, "bytewise", 1);
  res_free(&r);

  for (k = 1; k < len; k++) {
    sizes[0] = k;
    sizes[1] = len - k;
    run(&r, resp, len, o, sizes, 2);
    same(out, &r, "at", k);
    res_free(&r);
  }

  for (iter = 0; iter < 100; iter++) {
    size_t maxpiece = 1 + (size_t)(rnd() % (iter < 50 ? 8 : 64));
    size_t left = len;
    n = 0;
    while (left > 0) {
      size_t sz = (size_t)(rnd() % (maxpiece + 1)); /* 0 now and then */
      if (sz > left) sz = left;
      sizes[n++] = sz;
      left -= sz;
      if (n == len + 1) {
        sizes[n++] = left;
        break;
      }
    }
    run(&r, resp, len, o, sizes, n);
    same(out, &r, "random", (size_t)iter);
    res_free(&r);
  }
  free(sizes);
}

static const struct opts defo = {0, 0, 0, 0, 0};

static int check_rc(const char *resp, size_t len, const struct opts *o) {
  struct res r;
  int rc;
  check_all(&r, resp, len, o);
  rc = r.rc;
  res_free(&r);
  return rc;
}

#define RC(lit) check_rc(LIT(lit), &defo)

/* A table of responses and the code each one gives (check_rc, default
 * options).  A failure, from here or from check_all, names the row: its
 * index and its bytes. */
struct rc_case {
  const char *resp;
  size_t len;
  int rc;
};

static void rc_rows(const struct rc_case *c, size_t n) {
  size_t i;
  for (i = 0; i < n; i++, c++) {
    int rc;
    tl_row("%zu %s", i, tl_quote(c->resp, c->len));
    rc = check_rc(c->resp, c->len, &defo);
    CHECKF(rc == c->rc, "rc %d, want %d", rc, c->rc);
  }
  tl_row_done();
}
#define RC_ROWS(table) rc_rows(table, NROWS(table))

/* --- basic responses --- */

TEST(simple_200_cl) {
  struct res r;
  static const char resp[] =
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type:\ttext/plain \r\n"
      "\r\nhello";
  check_all(&r, LIT(resp), &defo);
  CHECK_STR(r.log,
            "H \"HTTP/1.1 200 OK\\r\\n\"\n"
            "H \"Content-Length: 5\\r\\n\" Content-Length=[5]\n"
            "H \"Content-Type:\\x09text/plain \\r\\n\" Content-Type=[text/plain]\n"
            "H \"\\r\\n\"\n"
            "D 200 1.1 ka=1 ch=0 mode=1 cl=5 done=0\n"
            "B \"hello\"\n"
            "R rc=0 consumed=70 status=200 1.1 ka=1 ch=0 mode=1 cl=5 recv=5 "
            "done=1 any=1 eof=0/1\n");
  CHECK_EQ(r.consumed, sizeof(resp) - 1);
  CHECK_EQ(r.bodylen, 5);
  CHECK(memcmp(r.body, "hello", 5) == 0);
  res_free(&r);
}

TEST(bare_lf_and_missing_reason) {
  struct res r;
  check_all(&r, LIT("HTTP/1.1 200\nContent-Length: 2\n\nok"), &defo);
  CHECK_EQ(r.rc, 0);
  CHECK_EQ(r.p.status, 200);
  CHECK_EQ(r.p.done, 1);
  CHECK(strstr(r.log, "H \"HTTP/1.1 200\\n\"\n") != NULL);
  CHECK(strstr(r.log, "H \"\\n\"\n") != NULL);
  res_free(&r);
  check_all(&r, LIT("HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n"), &defo);
  CHECK_EQ(r.rc, 0);
  CHECK_EQ(r.p.status, 404);
  res_free(&r);
  check_all(&r, LIT("HTTP/1.1 599 Odd reason: with \x80\xff bytes\r\n"
                    "Content-Length: 0\r\n\r\n"), &defo);
  CHECK_EQ(r.rc, 0);
  CHECK_EQ(r.p.status, 599);
  res_free(&r);
}

TEST(cl_zero_done_at_headers) {
  struct res r;
  static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  check_all(&r, LIT("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nXYZ"), &defo);
  CHECK_EQ(r.rc, 0);
  CHECK_EQ(r.consumed, sizeof(head) - 1);
  CHECK_EQ(r.p.done, 1);
  CHECK_EQ(r.p.body_mode, XFER_H1P_BODY_LENGTH);
  CHECK_EQ(r.p.content_length, 0);
  CHECK_EQ(r.bodylen, 0);
  CHECK(strstr(r.log, "done=1\n") != NULL); /* done when headers_done ran */
  res_free(&r);
}

TEST(head_with_cl) {
  struct res r;
  struct opts o = defo;
  static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
  o.is_head = 1;
  check_all(&r, LIT("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nEXTRA"), &o);
  CHECK_EQ(r.rc, 0);
  CHECK_EQ(r.consumed, sizeof(head) - 1);
  CHECK_EQ(r.p.done, 1);
  CHECK_EQ(r.p.body_mode, XFER_H1P_BODY_NONE);
  CHECK_EQ(r.p.content_length, 100);
  CHECK_EQ(r.p.keepalive, 1);
  CHECK_EQ(r.bodylen, 0);
  CHECK_EQ(r.eof_rc, 0);
  res_free(&r);
  /* A HEAD response announcing chunked has no body either. */
  check_all(&r, LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"),
            &o);
  CHECK_EQ(r.rc, 0);
  CHECK_EQ(r.p.body_mode, XFER_H1P_BODY_NONE);
  CHECK_EQ(r.p.chunked, 0);
  CHECK_EQ(r.consumed, 47);
  res_free(&r);
}

TEST(no_body_204_304) {
  struct res r;
  static const char h204[] = "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n";
  static const char h304[] =
      "HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n\r\n";
  check_all(&r, LIT("HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\nabcdefg"),
            &defo);
  CHECK_EQ(r.rc, 0);
  CHECK_EQ(r.consumed, sizeof(h204) - 1);
  CHECK_EQ(r.p.body_mode, XFER_H1P_BODY_NONE);
  CHECK_EQ(r.p.done, 1);
  CHECK_EQ(r.bodylen, 0);
  res_free(&r);
  check_all(&r, LIT("HTTP/1.1 304 Not Modified\r\nContent-Length: 1234\r\n\r\n"
                    "HTTP/1.1 200 OK\r\n"), &defo);
  CHECK_EQ(r.rc, 0);
  CHECK_EQ(r.consumed, sizeof(h304) - 1);
  CHECK_EQ(r.p.body_mode, XFER_H1P_BODY_NONE);
  CHECK_EQ(r.p.keepalive, 1);
  res_free(&r);
  /* Without any length header at all they still end at the blank line. */
  check_all(&r, LIT("HTTP/1.1 204 No Content\r\n\r\n"), &defo);
  CHECK_EQ(r.p.done, 1);
  CHECK_EQ(r.p.keepalive, 1);
  res_free(&r);
}

/* --- chunked --- */

TEST(chunked_ext_trailers) {
  struct res r;
  static const char body[] =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;foo=bar\r\nhello\r\n"
      "6 ; name=\"quoted;value\\\" x\";y\r\n world\r\n"
      "0;last=1\r\nX-Trailer: yes\r\nX-Other: \t v \t\r\n\r\n";
  char resp[sizeof(body) + 8];
  memcpy(resp, body, sizeof(body) - 1);
  memcpy(resp + sizeof(body) - 1, "EXTRA", 5);
  check_all(&r, resp, sizeof(body) - 1 + 5, &defo);
  CHECK_EQ(r.rc, 0);
  CHECK_EQ(r.consumed, sizeof(body) - 1);
  CHECK_EQ(r.p.done, 1);
  CHECK_EQ(r.p.chunked, 1);
  CHECK_EQ(r.p.body_mode, XFER_H1P_BODY_CHUNKED);
  CHECK_EQ(r.p.content_length, -1);
  CHECK_EQ(r.p.body_received, 11);
  CHECK_EQ(r.bodylen, 11);
  CHECK(memcmp(r.body, "hello world", 11) == 0);
  CHECK(strstr(r.log, "B \"hello world\"\n"
                      "H \"X-Trailer: yes\\r\\n\" X-Trailer=[yes]\n"
                      "H \"X-Other: \\x09 v \\x09\\r\\n\" X-Other=[v]\n"
                      "R rc=0") != NULL);
  CHECK_EQ(r.ndone, 1);
  res_free(&r);
}

TEST(chunked_many_tiny) {
  struct sb b = {0};
  struct res r;
  int i;
  sb_printf(&b, "HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n");
  for (i = 0; i < 300; i++) sb_printf(&b, "1\r\n%c\r\n", 'a' + i % 26);
  sb_printf(&b, "A\r\n0123456789\r\n00000b\r\nabcdefghijk\n"
                "f\n0123456789ABCDE\r\n0\n\n");
  check_all(&r, b.p, b.len, &defo);
  CHECK_EQ(r.rc, 0);
  CHECK_EQ(r.consumed, b.len);
  CHECK_EQ(r.bodylen, 300 + 10 + 11 + 15);
  CHECK_EQ(r.p.body_received, 336);
  CHECK(memcmp(r.body, "abcdefghijklmnopqrstuvwxyza", 27) == 0);
  CHECK(memcmp(r.body + 300, "0123456789abcdefghijk0123456789ABCDE", 36) == 0);
  res_free(&r);
  free(b.p);
}

static const struct rc_case chunked_bad_size_rows[] = {
  {LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a\0b\r\n"), 8},
  /* Whitespace before the extensions is allowed (BWS). */
  {LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
       "2 \t;x\r\nok\r\n0\r\n\r\n"), 0},
};
TEST(chunked_bad_size) { RC_ROWS(chunked_bad_size_rows); }

static const struct rc_case chunked_size_overflow_rows[] = {
  {LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
       "10000000000000000\r\n"), 56},
  {LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
       "8000000000000000\r\n"), 56},
  {LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
       "ffffffffffffffffffffffffffffffff\r\n"), 56},
};

TEST(chunked_size_overflow) {
  struct res r;
  RC_ROWS(chunked_size_overflow_rows);
  /* The largest size is fine; the body is then cut short. */
  check_all(&r, LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "7fffffffffffffff\r\nabc"), &defo);
  CHECK_EQ(r.rc, 0);
  CHECK_EQ(r.p.chunk_left_, INT64_MAX - 3);
  CHECK_EQ(r.eof_rc, 18);
  res_free(&r);
}

static const struct rc_case chunked_missing_crlf_rows[] = {
  {LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
       "5\r\nhelloX\r\n0\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
       "5\r\nhello\rX0\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
       "5\r\nhello\r\r\n0\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
       "5\r\nhello0\r\n\r\n"), 8},
};
TEST(chunked_missing_crlf) { RC_ROWS(chunked_missing_crlf_rows); }

TEST(chunk_line_limit) {
  struct sb b = {0};
  int i;
  sb_printf(&b, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;x=");
  for (i = 0; i < 5000; i++) sb_put(&b, "y", 1);
  sb_printf(&b, "\r\na\r\n0\r\n\r\n");
  CHECK_EQ(check_rc(b.p, b.len, &defo), 8);
  free(b.p);
  /* Just under the limit is fine. */
  b.p = NULL;
  b.len = b.cap = 0;
  sb_printf(&b, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;x=");
  for (i = 0; i < 4096 - 6; i++) sb_put(&b, "y", 1);
  sb_printf(&b, "\r\na\r\n0\r\n\r\n");
  CHECK_EQ(check_rc(b.p, b.len, &defo), 0);
  free(b.p);
}

TEST(trailers) {
  struct res r;
  struct opts o = defo;
  /* Trailers are passed on but never interpreted. */
  check_all(&r, LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "0\r\nContent-Length: 99\r\nConnection: close\r\n"
                    "  folded\r\n\r\n"), &defo);
  CHECK_EQ(r.rc, 0);
  CHECK_EQ(r.p.done, 1);
  CHECK_EQ(r.p.keepalive, 1);
  CHECK_EQ(r.p.content_length, -1);
  CHECK(strstr(r.log, "H \"  folded\\r\\n\"\nR ") != NULL);
  res_free(&r);
  CHECK_EQ(RC("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
              "0\r\nBad Trailer: x\r\n\r\n"), 8);
  CHECK_EQ(RC("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
              "0\r\nX: a\rb\r\n\r\n"), 8);
  /* They count against the header section limit. */
  o.maxhdr = 82;
  CHECK_EQ(check_rc(LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "0\r\nX-A: 0123456789\r\nX-B: 0123456789\r\n\r\n"), &o),
           100);
  o.maxhdr = 83;
  CHECK_EQ(check_rc(LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "0\r\nX-A: 0123456789\r\nX-B: 0123456789\r\n\r\n"), &o),
           0);
}

/* --- interim responses --- */

TEST(interim_100_103) {
  struct res r;
  check_all(&r, LIT("HTTP/1.1 100 Continue\r\n\r\n"
                    "HTTP/1.1 102 Processing\r\n\r\n"
                    "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n"
                    "\r\n"
                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"), &defo);
  CHECK_EQ(r.rc, 0);
  CHECK_EQ(r.ndone, 1);
  CHECK_EQ(r.p.status, 200);
  CHECK_EQ(r.p.done, 1);
  CHECK_STR(r.log,
            "H \"HTTP/1.1 100 Continue\\r\\n\"\n"
            "H \"\\r\\n\"\n"
            "H \"HTTP/1.1 102 Processing\\r\\n\"\n"
            "H \"\\r\\n\"\n"
            "H \"HTTP/1.1 103 Early Hints\\r\\n\"\n"
            "H \"Link: </s.css>; rel=preload\\r\\n\" Link=[</s.css>; rel=preload]\n"
            "H \"\\r\\n\"\n"
            "H \"HTTP/1.1 200 OK\\r\\n\"\n"
            "H \"Content-Length: 2\\r\\n\" Content-Length=[2]\n"
            "H \"\\r\\n\"\n"
            "D 200 1.1 ka=1 ch=0 mode=1 cl=2 done=0\n"
            "B \"hi\"\n"
            "R rc=0 consumed=149 status=200 1.1 ka=1 ch=0 mode=1 cl=2 recv=2 "
            "done=1 any=1 eof=0/1\n");
  res_free(&r);
  /* The fields of an interim response do not leak into the final one. */
  check_all(&r, LIT("HTTP/1.1 100 Continue\r\nContent-Length: 10\r\n"
                    "Connection: close\r\nTransfer-Encoding: gzip\r\n\r\n"
                    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), &defo);
  CHECK_EQ(r.rc, 0);
  CHECK_EQ(r.p.content_length, 0);
  CHECK_EQ(r.p.keepalive, 1);
  CHECK_EQ(r.p.done, 1);
  res_free(&r);
  /* An interim response alone is not a response. */
  check_all(&r, LIT("HTTP/1.1 100 Continue\r\n\r\n"), &defo);
  CHECK_EQ(r.rc, 0);
  CHECK_EQ(r.p.done, 0);
  CHECK_EQ(r.ndone, 0);
  CHECK_EQ(r.eof_rc, 18);
  res_free(&r);
}

static const struct rc_case status_101_rejected_rows[] = {
  {LIT("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"), 8},
  {LIT("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 Switching\r\n\r\n"), 8},
};
TEST(status_101_rejected) { RC_ROWS(status_101_rejected_rows); }

/* --- connection handling and close-delimited bodies --- */

TEST(http10_close_delimited) {
  struct res r;
  check_all(&r, LIT("HTTP/1.0 200 OK\r\nServer: x\r\n\r\nbody bytes\0and more"),
            &defo);
  CHECK_EQ(r.rc, 0);
  CHECK_EQ(r.p.http_minor, 0);
  CHECK_EQ(r.p.body_mode, XFER_H1P_BODY_CLOSE);
  CHECK_EQ(r.p.keepalive, 0);
  CHECK_EQ(r.p.done, 0);
  CHECK_EQ(r.p.content_length, -1);
  CHECK_EQ(r.bodylen, 19);
  CHECK_EQ(r.p.body_received, 19);
  CHECK_EQ(r.eof_rc, 0);
  CHECK_EQ(r.done_after_eof, 1);
  res_free(&r);
  /* An empty close-delimited body is fine too. */
  check_all(&r, LIT("HTTP/1.0 200 OK\r\n\r\n"), &defo);
  CHECK_EQ(r.eof_rc, 0);
  CHECK_EQ(r.bodylen, 0);
  res_free(&r);
}

TEST(http11_no_length_is_close) {
  struct res r;
  check_all(&r, LIT("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\nabc"),
            &defo);
  CHECK_EQ(r.rc, 0);
  CHECK_EQ(r.p.body_mode, XFER_H1P_BODY_CLOSE);
  CHECK_EQ(r.p.keepalive, 0);
  CHECK_EQ(r.bodylen, 3);
  CHECK_EQ(r.eof_rc, 0);
  res_free(&r);
}

/* Complete responses (each has a Content-Length) and whether the
 * connection may be kept. */
TEST(connection_header) {
  static const struct {
    const char *resp;
    size_t len;
    int keepalive;
  } rows[] = {
    {LIT("HTTP/1.1 200 OK\r\nConnection: Close\r\n"
         "Content-Length: 1\r\n\r\nx"), 0},
    {LIT("HTTP/1.1 200 OK\r\nConnection: te, foo ,CLOSE\r\n"
         "Content-Length: 0\r\n\r\n"), 0},
    {LIT("HTTP/1.1 200 OK\r\nConnection: closed\r\n"
         "Content-Length: 0\r\n\r\n"), 1},
    {LIT("HTTP/1.1 200 OK\r\nConnection: Upgrade\r\n"
         "Connection: close\r\nContent-Length: 0\r\n\r\n"), 0},
  };
  size_t i;
  for (i = 0; i < NROWS(rows); i++) {
    struct res r;
    tl_row("%zu %s", i, tl_quote(rows[i].resp, rows[i].len));
    check_all(&r, rows[i].resp, rows[i].len, &defo);
    CHECK_EQ(r.rc, 0);
    CHECK_EQ(r.p.keepalive, rows[i].keepalive);
    CHECK_EQ(r.p.done, 1);
    res_free(&r);
  }
  tl_row_done();
}

TEST(http10_keepalive) {
  struct res r;
  check_all(&r, LIT("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n"
                    "Content-Length: 2\r\n\r\nok"), &defo);
  CHECK_EQ(r.p.keepalive, 1);
  CHECK_EQ(r.p.http_minor, 0);
  CHECK_EQ(r.p.done, 1);
  res_free(&r);
  check_all(&r, LIT("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"), &defo);
  CHECK_EQ(r.p.keepalive, 0);
  res_free(&r);
  check_all(&r, LIT("HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\n"
                    "Content-Length: 2\r\n\r\nok"), &defo);
  CHECK_EQ(r.p.keepalive, 0);
  res_free(&r);
  /* keep-alive cannot save a close-delimited body. */
  check_all(&r, LIT("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nok"),
            &defo);
  CHECK_EQ(r.p.keepalive, 0);
  CHECK_EQ(r.p.body_mode, XFER_H1P_BODY_CLOSE);
  res_free(&r);
  /* Transfer-Encoding in HTTP/1.0 is faulty framing (RFC 9112 6.1): the
   * body is decoded, the connection is not kept. */
  check_all(&r, LIT("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"),
            &defo);
  CHECK_EQ(r.rc, 0);
  CHECK_EQ(r.p.done, 1);
  CHECK_EQ(r.p.body_mode, XFER_H1P_BODY_CHUNKED);
  CHECK_EQ(r.p.keepalive, 0);
  res_free(&r);
}

/* --- framing headers --- */

TEST(content_length_values) {
  struct res r;
  check_all(&r, LIT("HTTP/1.1 200 OK\r\nContent-Length: 3\r\ncontent-length:3\r\n"
                    "CONTENT-LENGTH: \t 3 \t\r\n\r\nabcdef"), &defo);
  CHECK_EQ(r.rc, 0);
  CHECK_EQ(r.p.content_length, 3);
  CHECK_EQ(r.bodylen, 3);
  CHECK(memcmp(r.body, "abc", 3) == 0);
  res_free(&r);
  check_all(&r, LIT("HTTP/1.1 200 OK\r\nContent-Length: 4, 4 ,4\r\n\r\nabcd"),
            &defo);
  CHECK_EQ(r.rc, 0);
  CHECK_EQ(r.p.content_length, 4);
  res_free(&r);
  check_all(&r, LIT("HTTP/1.1 200 OK\r\nContent-Length: 007\r\n\r\nabcdefg"),
            &defo);
  CHECK_EQ(r.p.content_length, 7);
  res_free(&r);
  check_all(&r, LIT("HTTP/1.1 200 OK\r\n"
                    "Content-Length: 9223372036854775807\r\n\r\nab"), &defo);
  CHECK_EQ(r.rc, 0);
  CHECK_EQ(r.p.content_length, INT64_MAX);
  CHECK_EQ(r.eof_rc, 18);
  res_free(&r);
}

static const struct rc_case content_length_bad_rows[] = {
  {LIT("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nContent-Length: 5,\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nContent-Length: 5 5\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nContent-Length: 0x5\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n"), 8},
};
TEST(content_length_bad) { RC_ROWS(content_length_bad_rows); }

static const struct rc_case cl_and_chunked_rows[] = {
  {LIT("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
       "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
       "Content-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), 8},
};
TEST(cl_and_chunked) { RC_ROWS(cl_and_chunked_rows); }

static const struct rc_case transfer_encoding_other_rows[] = {
  {LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
       "Transfer-Encoding: chunked\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: \r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked;q=1\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding:  CHUNKED ,\r\n\r\n"
       "0\r\n\r\n"), 0},
};
TEST(transfer_encoding_other) { RC_ROWS(transfer_encoding_other_rows); }

/* --- malformed input --- */

static const struct rc_case garbage_status_line_rows[] = {
  {LIT("SSH-2.0-OpenSSH_9.2\r\n"), 8},
  {LIT("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x00"), 8},
  {LIT("HTTP/2 200\r\n\r\n"), 8},
  {LIT("HTTP/2.0 200 OK\r\n\r\n"), 8},
  {LIT("HTTP/1.2 200 OK\r\n\r\n"), 8},
  {LIT("HTTP/1.10 200 OK\r\n\r\n"), 8},
  {LIT("HTTP/0.9 200 OK\r\n\r\n"), 8},
  {LIT("http/1.1 200 OK\r\n\r\n"), 8},
  {LIT("HTTP/1.1 20 OK\r\n\r\n"), 8},
  {LIT("HTTP/1.1 2000 OK\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200OK\r\n\r\n"), 8},
  {LIT("HTTP/1.1  200 OK\r\n\r\n"), 8},
  {LIT("HTTP/1.1 099 Low\r\n\r\n"), 8},
  {LIT("HTTP/1.1 2x0 OK\r\n\r\n"), 8},
  {LIT("HTTP/1.1\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 O\rK\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 O\0K\r\n\r\n"), 8},
  {LIT("\r\nHTTP/1.1 200 OK\r\n\r\n"), 8},
  {LIT(" HTTP/1.1 200 OK\r\n\r\n"), 8},
};

TEST(garbage_status_line) {
  struct res r;
  struct xfer_h1p p;
  size_t c;
  RC_ROWS(garbage_status_line_rows);
  /* A peer that is not HTTP is refused on its first bytes, without a LF. */
  check_all(&r, LIT("SSH-2.0-OpenSSH_9.2"), &defo);
  CHECK_EQ(r.rc, 8);
  res_free(&r);
  xfer__h1p_init(&p, 0, 0);
  CHECK_EQ(xfer__h1p_feed(&p, "HTT", 3, &c, &cbs, NULL), 0);
  CHECK_EQ(xfer__h1p_feed(&p, "X", 1, &c, &cbs, NULL), 8);
  xfer__h1p_free(&p);
  xfer__h1p_init(&p, 0, 0);
  CHECK_EQ(xfer__h1p_feed(&p, "HTTP/1.3", 8, &c, &cbs, NULL), 8);
  xfer__h1p_free(&p);
}

static const struct rc_case bad_header_lines_rows[] = {
  {LIT("HTTP/1.1 200 OK\r\nFoo : bar\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nFoo\t: bar\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nFoo bar\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nFoo\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\n: bar\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nFo(o: bar\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nF\xc3\xa9: bar\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nFo\0o: bar\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nFoo: b\0ar\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nFoo: b\rar\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nFoo: bar\r\r\n\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\nFoo: bar\r\n\r\r\n"), 8},
  {LIT("HTTP/1.1 200 OK\r\n  \0\r\n\r\n"), 8},
  /* Odd but valid. */
  {LIT("HTTP/1.1 200 OK\r\n!#$%&'*+-.^_`|~09AZaz:\r\n"
       "X-Empty:\r\nX-Obs: \x80\xff\r\nX-Colon: a:b\r\n"
       "Content-Length: 0\r\n\r\n"), 0},
};
TEST(bad_header_lines) { RC_ROWS(bad_header_lines_rows); }

TEST(obs_fold) {
  struct res r;
  check_all(&r, LIT("HTTP/1.1 200 OK\r\nX-Long: a\r\n  continued\r\n"
                    "\tmore\r\nContent-Length: 0\r\n\r\n"), &defo);
  CHECK_EQ(r.rc, 0);
  CHECK(strstr(r.log, "H \"X-Long: a\\r\\n\" X-Long=[a]\n"
                      "H \"  continued\\r\\n\"\n"
                      "H \"\\x09more\\r\\n\"\n") != NULL);
  CHECK_EQ(r.p.done, 1);
  res_free(&r);
}

/* A fold that continues a field the engine acts on is refused: an
 * unfolding recipient would read "5 0" where we read 5, or another
 * Location.  Elsewhere (1xx, trailers, other fields) it stays raw. */
TEST(obs_fold_after_acted_on_fields_refused) {
  static const char *const fields[] = {
      "Content-Length: 5\r\n 0", "Transfer-Encoding: chunked\r\n\tx",
      "Connection: keep-alive\r\n close", "Location: /a\r\n b"};
  size_t i;
  struct res r;
  for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
    struct sb b = {0};
    sb_printf(&b, "HTTP/1.1 200 OK\r\n%s\r\nX: y\r\n\r\nhello", fields[i]);
    check_all(&r, b.p, b.len, &defo);
    if (r.rc != XFERE_WEIRD_SERVER_REPLY)
      tl_fail(__FILE__, __LINE__, "%s: rc %d", fields[i], r.rc);
    res_free(&r);
    free(b.p);
  }
  check_all(&r, LIT("HTTP/1.1 103 Early\r\nLink: a\r\n b\r\n\r\n"
                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: a\r\n"
                    " b\r\n\r\nok"), &defo);
  CHECK_EQ(r.rc, 0);
  CHECK_EQ(r.p.done, 1);
  res_free(&r);
}

/* --- the header section size limit --- */

static char *header_section(size_t want, size_t *len) {
  /* A 200 response whose header section is exactly want bytes. */
  struct sb b = {0};
  sb_printf(&b, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n");
  while (b.len + 2 + 40 < want) sb_printf(&b, "X-Pad: %030d\r\n", 0);
  sb_put(&b, "X-Last: ", 8);
  while (b.len + 4 < want) sb_put(&b, "z", 1);
  sb_put(&b, "\r\n\r\n", 4);
  CHECK_EQ(b.len, want);
  *len = b.len;
  return b.p;
}

TEST(header_limit_many_lines) {
  struct opts o = defo;
  size_t len;
  char *resp = header_section(700, &len);
  o.maxhdr = 700;
  CHECK_EQ(check_rc(resp, len, &o), 0);
  o.maxhdr = 699;
  CHECK_EQ(check_rc(resp, len, &o), 100);
  o.maxhdr = 300;
  CHECK_EQ(check_rc(resp, len, &o), 100);
  free(resp);
  /* The default is 100 KiB. */
  resp = header_section(100 * 1024, &len);
  o.maxhdr = 0;
  {
    struct res r;
    size_t one = len;
    run(&r, resp, len, &o, &one, 1);
    CHECK_EQ(r.rc, 0);
    res_free(&r);
  }
  free(resp);
  resp = header_section(100 * 1024 + 1, &len);
  {
    struct res r;
    size_t one = len;
    run(&r, resp, len, &o, &one, 1);
    CHECK_EQ(r.rc, 100);
    res_free(&r);
  }
  free(resp);
}

TEST(header_limit_interim_cumulative) {
  struct opts o = defo;
  static const char resp[] =
      "HTTP/1.1 100 Continue\r\nX-A: 0123456789012345678901234567890123\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  o.maxhdr = sizeof(resp) - 1;
  CHECK_EQ(check_rc(LIT(resp), &o), 0);
  o.maxhdr = sizeof(resp) - 2;
  CHECK_EQ(check_rc(LIT(resp), &o), 100);
}

/* Feed an endless line in pieces of step bytes; return how many bytes were
 * fed when the parser gave up, and its code in *rc. */
static size_t endless(const char *start, size_t maxhdr, size_t step, int *rc) {
  struct xfer_h1p p;
  char buf[256];
  size_t fed, c, n = strlen(start);
  xfer__h1p_init(&p, 0, maxhdr);
  memset(buf, 'a', sizeof(buf));
  *rc = xfer__h1p_feed(&p, start, n, &c, NULL, NULL);
  CHECK_EQ(*rc, 0);
  fed = n;
  while (fed < 10 * maxhdr) {
    fed += step;
    *rc = xfer__h1p_feed(&p, buf, step, &c, NULL, NULL);
    if (*rc) break;
    CHECK_EQ(c, step);
  }
  /* The buffer never held more than the limit. */
  CHECK(p.line_cap_ <= 2 * maxhdr);
  xfer__h1p_free(&p);
  return fed;
}

TEST(header_limit_endless_line) {
  struct res r;
  struct sb b = {0};
  struct opts o = defo;
  int rc, i;
  size_t fed;

  fed = endless("HTTP/1.1 200 OK\r\nX: ", 1000, 1, &rc);
  CHECK_EQ(rc, 100);
  CHECK_EQ(fed, 1001);
  fed = endless("HTTP/1.1 200 OK\r\nX: ", 1000, 64, &rc);
  CHECK_EQ(rc, 100);
  CHECK(fed > 1000 && fed <= 1000 + 64);
  fed = endless("HTTP/1.1 200 ", 1000, 7, &rc);
  CHECK_EQ(rc, 100);
  CHECK(fed > 1000 && fed <= 1000 + 7);
  fed = endless("HTTP/1.1 200 OK\r\nX: ", 100 * 1024, 256, &rc);
  CHECK_EQ(rc, 100);
  CHECK(fed > 100 * 1024 && fed <= 100 * 1024 + 256);

  /* And the same under every split. */
  sb_printf(&b, "HTTP/1.1 200 OK\r\nX: ");
  for (i = 0; i < 3000; i++) sb_put(&b, "a", 1);
  o.maxhdr = 1000;
  check_all(&r, b.p, b.len, &o);
  CHECK_EQ(r.rc, 100);
  res_free(&r);
  free(b.p);
}

/* --- eof --- */

TEST(eof_cases) {
  static const struct {
    const char *resp;
    size_t len;
    int eof_rc;
    size_t bodylen;
  } rows[] = {
    {LIT("H"), 18, 0},
    {LIT("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"), 18, 0},
    {LIT("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhell"), 18, 4},
    {LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
         "5\r\nhel"), 18, 3},
    {LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
         "5\r\nhello\r\n"), 18, 5},
    {LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
         "0\r\nX: y\r\n"), 18, 0},
    {LIT("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"), 0, 5},
  };
  struct xfer_h1p p;
  struct res r;
  size_t c, i;
  xfer__h1p_init(&p, 0, 0);
  CHECK(p.line_ == NULL); /* init does not allocate */
  CHECK_EQ(xfer__h1p_eof(&p, &cbs, NULL), 52);
  CHECK_EQ(xfer__h1p_eof(&p, &cbs, NULL), 52);
  xfer__h1p_free(&p);
  xfer__h1p_init(&p, 0, 0);
  CHECK_EQ(xfer__h1p_feed(&p, "", 0, &c, &cbs, NULL), 0);
  CHECK_EQ(c, 0);
  CHECK_EQ(p.any_bytes, 0);
  CHECK_EQ(xfer__h1p_eof(&p, NULL, NULL), 52);
  xfer__h1p_free(&p);

  /* The connection closes after these bytes: what eof says (18: a
   * response cut short), and how much body was passed on before. */
  for (i = 0; i < NROWS(rows); i++) {
    tl_row("%zu %s", i, tl_quote(rows[i].resp, rows[i].len));
    check_all(&r, rows[i].resp, rows[i].len, &defo);
    CHECK_EQ(r.eof_rc, rows[i].eof_rc);
    CHECK_EQ(r.bodylen, rows[i].bodylen);
    res_free(&r);
  }
  tl_row_done();
}

/* --- several responses, callbacks, buffer reuse --- */

TEST(excess_bytes_not_consumed) {
  struct res r;
  static const char first[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
  check_all(&r, LIT("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
                    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ndef"), &defo);
  CHECK_EQ(r.rc, 0);
  CHECK_EQ(r.consumed, sizeof(first) - 1);
  CHECK_EQ(r.bodylen, 3);
  CHECK_EQ(r.ndone, 1);
  res_free(&r);
  check_all(&r, LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "1\r\na\r\n0\r\n\r\nHTTP/1.1"), &defo);
  CHECK_EQ(r.consumed, 58);
  res_free(&r);
}

TEST(back_to_back_with_reset) {
  static const char two[] =
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-N: first\r\n\r\nabc"
      "HTTP/1.0 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
      "2\r\nde\r\n0\r\n\r\n";
  struct xfer_h1p p;
  struct rec rec;
  size_t c, off = 0, step;
  int rc;
  for (step = 1; step <= sizeof(two); step++) {
    int responses = 0;
    memset(&rec, 0, sizeof(rec));
    rec.p = &p;
    xfer__h1p_init(&p, 0, 0);
    off = 0;
    while (off < sizeof(two) - 1) {
      size_t n = sizeof(two) - 1 - off < step ? sizeof(two) - 1 - off : step;
      rec.buf = two + off;
      rec.buflen = n;
      rc = xfer__h1p_feed(&p, two + off, n, &c, &cbs, &rec);
      CHECK_EQ(rc, 0);
      off += c;
      if (p.done) {
        responses++;
        if (responses == 1) {
          CHECK_EQ(p.status, 200);
          CHECK_EQ(p.keepalive, 1);
          CHECK_EQ(off, 53);
        } else {
          CHECK_EQ(p.status, 404);
          CHECK_EQ(p.http_minor, 0);
          CHECK_EQ(p.keepalive, 0);
          CHECK_EQ(p.body_received, 2);
        }
        rec.ndone = 0;
        xfer__h1p_reset(&p, 0);
        CHECK_EQ(p.done, 0);
        CHECK_EQ(p.any_bytes, 0);
        CHECK_EQ(p.content_length, -1);
      }
    }
    CHECK_EQ(responses, 2);
    CHECK_STR(rec.body.p, "abcde");
    CHECK_EQ(xfer__h1p_eof(&p, NULL, NULL), 52);
    xfer__h1p_free(&p);
    xfer__h1p_free(&p); /* twice is harmless */
    free(rec.log.p);
    free(rec.body.p);
  }
}

TEST(buffer_kept_across_reset) {
  static const char resp[] =
      "HTTP/1.1 200 OK\r\nX-Some-Long-Header: 0123456789012345678901234567890"
      "1234567890123456789012345678901234567890123456789\r\n"
      "Content-Length: 1\r\n\r\nx";
  struct xfer_h1p p;
  size_t c, i, cap;
  char *buf;
  int round;
  xfer__h1p_init(&p, 0, 0);
  xfer__h1p_free(&p); /* free right after init is fine */
  xfer__h1p_init(&p, 0, 0);
  buf = NULL;
  cap = 0;
  for (round = 0; round < 3; round++) {
    for (i = 0; i < sizeof(resp) - 1; i += 10) {
      size_t n = sizeof(resp) - 1 - i < 10 ? sizeof(resp) - 1 - i : 10;
      CHECK_EQ(xfer__h1p_feed(&p, resp + i, n, &c, NULL, NULL), 0);
      CHECK_EQ(c, n);
    }
    CHECK_EQ(p.done, 1);
    CHECK(p.line_ != NULL);
    if (round > 0) {
      /* No allocation in steady state. */
      CHECK(p.line_ == buf);
      CHECK_EQ(p.line_cap_, cap);
    }
    buf = p.line_;
    cap = p.line_cap_;
    xfer__h1p_reset(&p, 0);
    CHECK(p.line_ == buf);
  }
  xfer__h1p_free(&p);
  CHECK(p.line_ == NULL);
}

TEST(callback_errors) {
  struct opts o = defo;
  struct res r;
  static const char resp[] =
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n\r\nhello";
  o.fail_code = XFERE_WRITE_ERROR;
  o.fail_event = 1; /* the status line */
  check_all(&r, LIT(resp), &o);
  CHECK_EQ(r.rc, 23);
  CHECK_EQ(r.ndone, 0);
  res_free(&r);
  o.fail_event = 3;
  o.fail_code = XFERE_ABORTED_BY_CALLBACK;
  check_all(&r, LIT(resp), &o);
  CHECK_EQ(r.rc, 42);
  CHECK(strstr(r.log, "X=[y]") != NULL);
  CHECK(strstr(r.log, "H \"\\r\\n\"") == NULL);
  res_free(&r);
  o.fail_event = 5; /* on_headers_done */
  o.fail_code = 99;
  check_all(&r, LIT(resp), &o);
  CHECK_EQ(r.rc, 99);
  CHECK_EQ(r.ndone, 1);
  CHECK_EQ(r.bodylen, 0);
  res_free(&r);
  o.fail_event = 0;
  o.fail_body = 1;
  o.fail_code = XFERE_WRITE_ERROR;
  check_all(&r, LIT(resp), &o);
  CHECK_EQ(r.rc, 23);
  res_free(&r);
  check_all(&r, LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "5\r\nhello\r\n0\r\n\r\n"), &o);
  CHECK_EQ(r.rc, 23);
  res_free(&r);
  check_all(&r, LIT("HTTP/1.0 200 OK\r\n\r\nhello"), &o);
  CHECK_EQ(r.rc, 23);
  res_free(&r);
}

TEST(raw_lines_from_input) {
  /* Fed whole, every line handed out points into the input; fed in two
   * pieces cut inside a line, that line comes from the parser's buffer and
   * the others still from the input. */
  static const char resp[] =
      "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nContent-Length: 0\r\n\r\n";
  struct xfer_h1p p;
  struct rec rec;
  size_t c;
  memset(&rec, 0, sizeof(rec));
  rec.p = &p;
  xfer__h1p_init(&p, 0, 0);
  rec.buf = resp;
  rec.buflen = 20;
  CHECK_EQ(xfer__h1p_feed(&p, resp, 20, &c, &cbs, &rec), 0);
  rec.buf = resp + 20;
  rec.buflen = sizeof(resp) - 1 - 20;
  CHECK_EQ(xfer__h1p_feed(&p, resp + 20, sizeof(resp) - 1 - 20, &c, &cbs,
                          &rec), 0);
  CHECK_EQ(p.done, 1);
  CHECK_EQ(rec.raw_copied, 1);
  CHECK_EQ(rec.events, 6);
  xfer__h1p_free(&p);
  free(rec.log.p);
}

TEST(large_body_spans) {
  struct sb b = {0};
  struct res r;
  int i;
  sb_printf(&b, "HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n");
  for (i = 0; i < 3000; i++) sb_printf(&b, "%c", (char)(i * 7));
  check_all(&r, b.p, b.len, &defo);
  CHECK_EQ(r.rc, 0);
  CHECK_EQ(r.bodylen, 3000);
  CHECK(memcmp(r.body, b.p + b.len - 3000, 3000) == 0);
  res_free(&r);
  free(b.p);
}

/* Random responses from a grammar of valid and broken pieces: whatever the
 * outcome, it must not depend on the split. */
TEST(random_responses_split_invariant) {
  static const char *status[] = {
      "HTTP/1.1 200 OK\r\n", "HTTP/1.0 200 OK\n",
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n",
      "HTTP/1.1 204 No\r\n", "HTTP/1.1 304\r\n", "HTTP/1.1 500 Err\r\n",
      "HTTP/1.1 200 OK\r\n", "HTTQ/1.1 200\r\n"};
  static const char *fields[] = {
      "Content-Length: 4\r\n", "Transfer-Encoding: chunked\r\n",
      "Connection: close\r\n", "Connection: keep-alive\n", "X-A: b\r\n",
      " fold\r\n", "Bad Name: x\r\n", "Content-Length: 3\r\n", "X: \r\r\n",
      "Content-Length:  4 , 4\r\n"};
  static const char *bodies[] = {
      "\r\nabcd", "\r\n4\r\nabcd\r\n0\r\n\r\n", "\r\n2;x\r\nab\r\n2\r\ncd\n0\r\nT: 1\r\n\r\n",
      "\r\n", "\n1\r\nab\r\n", "\r\nabcdefgh", "\r\nffffffffffffffffff\r\n"};
  int iter, is_head;
  for (iter = 0; iter < 150; iter++) {
    struct sb b = {0};
    struct opts o = defo;
    struct res r;
    int nf = (int)(rnd() % 4), i;
    const char *s = status[rnd() % (sizeof(status) / sizeof(*status))];
    sb_put(&b, s, strlen(s));
    for (i = 0; i < nf; i++) {
      s = fields[rnd() % (sizeof(fields) / sizeof(*fields))];
      sb_put(&b, s, strlen(s));
    }
    s = bodies[rnd() % (sizeof(bodies) / sizeof(*bodies))];
    sb_put(&b, s, strlen(s));
    is_head = (int)(rnd() % 5 == 0);
    o.is_head = is_head;
    o.maxhdr = rnd() % 3 == 0 ? 40 + (size_t)(rnd() % 60) : 0;
    check_all(&r, b.p, b.len, &o);
    res_free(&r);
    free(b.p);
  }
}
