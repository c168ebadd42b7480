/*
 * fuzz_chunked.c -- the chunked decoder of the response parser.
 *
 * The input is the body of "HTTP/1.1 200 OK\r\nTransfer-Encoding:
 * chunked\r\n\r\n".  It is fed (after the fixed header section) whole, byte
 * by byte (short inputs), and in random pieces; the decoded body, the
 * trailer lines, the result, the bytes consumed and the eof result must be
 * the same every time.
 *
 * Also a differential check against a small strict decoder written here:
 * when the input starts with a well-formed chunked body (hex sizes, plain
 * extensions, CRLF line ends, data, "0", trailer fields, the blank line),
 * the parser must accept it, end exactly where it ends, and give the same
 * body and trailers.  Statics are prefixed ck_.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "proto/h1parse.h"
#include "xfer.h"

static const char ck_head[] =
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
#define CK_HEAD_LEN (sizeof(ck_head) - 1)

struct ck_rec {
  struct fz_sb body, trailers;
  int headers_done;
};

static int ck_on_header(void *ud, const char *raw, size_t rawlen,
                        const char *name, size_t namelen, const char *value,
                        size_t valuelen) {
  struct ck_rec *r = ud;
  (void)name;
  (void)namelen;
  (void)value;
  (void)valuelen;
  if (r->headers_done) fz_sb_put(&r->trailers, raw, rawlen);
  return 0;
}

static int ck_on_headers_done(void *ud) {
  struct ck_rec *r = ud;
  r->headers_done++;
  return 0;
}

static int ck_on_body(void *ud, const char *data, size_t len) {
  struct ck_rec *r = ud;
  FZ_CHECK(r->headers_done == 1, "body before the headers");
  fz_sb_put(&r->body, data, len);
  return 0;
}

static const struct xfer_h1p_callbacks ck_cbs = {
  ck_on_header, ck_on_headers_done, ck_on_body};

struct ck_res {
  int rc, eof_rc, done;
  size_t consumed;          /* of the body part, when rc == 0 */
  int64_t received;
  struct ck_rec rec;
};

/* Feeds the header, then the body in pieces of the given sizes (cycled;
 * 0 means all of the rest).  head_apart: the header in its own feed. */
static void ck_run(struct ck_res *out, const uint8_t *body, size_t len,
                   int head_apart, const size_t *sizes, size_t nsizes) {
  struct xfer_h1p p;
  size_t c, off = 0, i = 0;
  char *all = malloc(CK_HEAD_LEN + len + 1);
  const char *src;
  size_t srclen;
  int rc = 0;

  FZ_CHECK(all != NULL, "oom");
  memset(out, 0, sizeof(*out));
  memcpy(all, ck_head, CK_HEAD_LEN);
  if (len) memcpy(all + CK_HEAD_LEN, body, len);
  xfer__h1p_init(&p, 0, 0);
  if (head_apart) {
    char *h = fz_dup(ck_head, CK_HEAD_LEN);
    rc = xfer__h1p_feed(&p, h, CK_HEAD_LEN, &c, &ck_cbs, &out->rec);
    free(h);
    FZ_CHECK(rc == 0 && c == CK_HEAD_LEN && !p.done && p.chunked,
             "the fixed header: rc %d", rc);
    src = all + CK_HEAD_LEN;
    srclen = len;
  } else {
    src = all;
    srclen = CK_HEAD_LEN + len;
  }
  while (off < srclen && !p.done) {
    size_t sz = sizes[i++ % nsizes];
    char *piece;
    if (sz == 0 || sz > srclen - off) sz = srclen - off;
    piece = fz_dup(src + off, sz);
    rc = xfer__h1p_feed(&p, piece, sz, &c, &ck_cbs, &out->rec);
    free(piece);
    if (rc) break;
    FZ_CHECK(c <= sz && (c == sz || p.done), "consumed %zu of %zu", c, sz);
    out->consumed += c;
    off += sz;
  }
  if (!head_apart && rc == 0) {
    FZ_CHECK(out->consumed >= CK_HEAD_LEN, "header not consumed");
    out->consumed -= CK_HEAD_LEN;
  }
  out->rc = rc;
  out->done = p.done;
  out->received = p.body_received;
  out->eof_rc = xfer__h1p_eof(&p, &ck_cbs, &out->rec);
  if (rc) {
    FZ_CHECK(rc == XFERE_WEIRD_SERVER_REPLY || rc == XFERE_TOO_LARGE ||
                 rc == XFERE_RECV_ERROR,
             "rc %d", rc);
    FZ_CHECK(out->eof_rc == rc, "eof after error");
    out->consumed = 0;
  }
  FZ_CHECK(out->rec.body.len == (size_t)p.body_received, "body_received");
  xfer__h1p_free(&p);
  free(all);
}

static void ck_free(struct ck_res *r) {
  fz_sb_free(&r->rec.body);
  fz_sb_free(&r->rec.trailers);
}

static void ck_same(const struct ck_res *a, struct ck_res *b,
                    const char *how) {
  FZ_CHECK(a->rc == b->rc && a->eof_rc == b->eof_rc && a->done == b->done &&
               a->consumed == b->consumed && a->received == b->received,
           "%s: rc %d/%d eof %d/%d done %d/%d consumed %zu/%zu", how, a->rc,
           b->rc, a->eof_rc, b->eof_rc, a->done, b->done, a->consumed,
           b->consumed);
  FZ_CHECK(a->rec.body.len == b->rec.body.len &&
               (a->rec.body.len == 0 ||
                memcmp(a->rec.body.p, b->rec.body.p, a->rec.body.len) == 0),
           "%s: decoded bodies differ (%zu vs %zu bytes)", how,
           a->rec.body.len, b->rec.body.len);
  FZ_CHECK(a->rec.trailers.len == b->rec.trailers.len &&
               (a->rec.trailers.len == 0 ||
                memcmp(a->rec.trailers.p, b->rec.trailers.p,
                       a->rec.trailers.len) == 0),
           "%s: trailers differ", how);
  ck_free(b);
}

/* ---- the strict reference decoder ---- */

static int ck_hex(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int ck_tchar(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Returns the length of the well-formed chunked body the input starts
 * with, or -1; fills body and trailers. */
static long ck_reference(const uint8_t *s, size_t n, struct fz_sb *body,
                         struct fz_sb *trailers) {
  size_t pos = 0, tbytes = 0;
  for (;;) {
    size_t start = pos, digits = 0;
    uint64_t size = 0;
    while (pos < n && ck_hex(s[pos]) >= 0 && digits < 12) {
      size = size * 16 + (uint64_t)ck_hex(s[pos]);
      pos++;
      digits++;
    }
    if (digits == 0 || (pos < n && ck_hex(s[pos]) >= 0)) return -1;
    if (pos < n && s[pos] == ';') {
      pos++;
      while (pos < n && ((s[pos] >= 0x20 && s[pos] < 0x7f) || s[pos] == '\t'))
        pos++;
    }
    if (pos + 2 > n || s[pos] != '\r' || s[pos + 1] != '\n') return -1;
    pos += 2;
    if (pos - start > 4000) return -1;
    if (size == 0) break;
    if (size > n - pos || n - pos - size < 2) return -1;
    fz_sb_put(body, s + pos, (size_t)size);
    pos += (size_t)size;
    if (s[pos] != '\r' || s[pos + 1] != '\n') return -1;
    pos += 2;
  }
  /* Trailer fields, then the blank line. */
  for (;;) {
    size_t start = pos, i = pos;
    if (pos + 2 <= n && s[pos] == '\r' && s[pos + 1] == '\n')
      return (long)(pos + 2);
    while (i < n && ck_tchar(s[i])) i++;
    if (i == pos || i >= n || s[i] != ':') return -1;
    i++;
    while (i < n && (s[i] == '\t' || (s[i] >= 0x20 && s[i] != 0x7f))) i++;
    if (i + 2 > n || s[i] != '\r' || s[i + 1] != '\n') return -1;
    pos = i + 2;
    tbytes += pos - start;
    if (tbytes > 50000) return -1;
    fz_sb_put(trailers, s + start, pos - start);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct ck_res whole, r;
  size_t zero = 0, one = 1, sizes[64], i;
  uint64_t seed = fz_hash(data, size < 64 ? size : 64) ^ size;
  struct fz_sb rbody = {0}, rtrail = {0};
  long end;

  if (size > 300000) return 0;
  ck_run(&whole, data, size, 0, &zero, 1);
  ck_run(&r, data, size, 1, &zero, 1);
  ck_same(&whole, &r, "header apart");
  if (size <= 4096) {
    ck_run(&r, data, size, 1, &one, 1);
    ck_same(&whole, &r, "bytewise");
  }
  for (i = 0; i < 64; i++) sizes[i] = (size_t)(fz_rnd(&seed) % 9) + 1;
  ck_run(&r, data, size, 1, sizes, 64);
  ck_same(&whole, &r, "small pieces");
  for (i = 0; i < 64; i++) sizes[i] = (size_t)(fz_rnd(&seed) % 300) + 1;
  ck_run(&r, data, size, 0, sizes, 64);
  ck_same(&whole, &r, "large pieces");

  end = ck_reference(data, size, &rbody, &rtrail);
  if (end >= 0) {
    FZ_CHECK(whole.rc == 0 && whole.done,
             "a well-formed chunked body (%ld bytes) is refused: rc %d done %d",
             end, whole.rc, whole.done);
    FZ_CHECK(whole.consumed == (size_t)end, "ends at %zu, not %ld",
             whole.consumed, end);
    FZ_CHECK(whole.rec.body.len == rbody.len &&
                 (rbody.len == 0 ||
                  memcmp(whole.rec.body.p, rbody.p, rbody.len) == 0),
             "decoded body differs from the reference");
    FZ_CHECK(whole.rec.trailers.len == rtrail.len &&
                 (rtrail.len == 0 ||
                  memcmp(whole.rec.trailers.p, rtrail.p, rtrail.len) == 0),
             "trailers differ from the reference");
  }
  if (whole.rc == 0 && whole.done)
    FZ_CHECK(whole.eof_rc == 0, "eof after done: %d", whole.eof_rc);
  fz_sb_free(&rbody);
  fz_sb_free(&rtrail);
  ck_free(&whole);
  return 0;
}
