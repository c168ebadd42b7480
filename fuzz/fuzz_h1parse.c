/*
 * fuzz_h1parse.c -- the incremental response parser must not depend on
 * where its input is split.
 *
 * Input: 4 control bytes, then the response bytes.
 *   [0] bit 0: is_head; bits 1-2: callback failure (0 none, 1 the k-th
 *       header event fails, 2 the body fails once it reaches a threshold,
 *       3 both); bit 3: keep-alive mode (after a response is done, reset
 *       the parser and parse what follows as the next response, up to 8);
 *       bits 4-5: max_header_bytes (default, 64, 300, 4096).
 *   [1] k / threshold (k = [1] + 1 events; threshold = [1] * 3 bytes)
 *   [2] the failure code (23, 42, 8, 27 by its low 2 bits)
 *   [3] seed of the random splits
 * The response is fed whole, byte by byte (short inputs), split in two, and
 * in random pieces (empty ones included), each piece from its own
 * exact-size heap copy.  The transcripts (header lines, headers-done
 * results, body bytes, result code, bytes consumed, eof result, parser
 * results) must be identical; abort() otherwise.  Statics are prefixed h1_.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz_util.h"
#include "proto/h1parse.h"
#include "xfer.h"

#define H1_MAX_RESPONSES 8

struct h1_opts {
  int is_head, keepalive_mode;
  size_t maxhdr;
  int fail_event;          /* 1-based event number, 0 never */
  long fail_threshold;     /* body bytes, -1 never */
  int fail_code;
};

struct h1_rec {
  struct fz_sb log;
  int in_body;
  int final_section;       /* in a >= 200 response's header section */
  int last_acted;          /* its last field is one the engine acts on */
  int events;              /* on_header + on_headers_done, all responses */
  int ndone;               /* on_headers_done of the current response */
  long body_total;         /* body bytes accepted, all responses */
  int body_failed;
  const struct h1_opts *o;
  const char *buf;         /* the current feed */
  size_t buflen;
  struct xfer_h1p *p;
};

static void h1_end_body(struct h1_rec *r) {
  if (r->in_body) fz_sb_put(&r->log, "\"\n", 2);
  r->in_body = 0;
}

static int h1_in(const char *b, size_t blen, const char *s, size_t n) {
  return blen && s >= b && n <= blen && s <= b + (blen - n);
}

static int h1_on_header(void *ud, const char *raw, size_t rawlen,
                        const char *name, size_t namelen, const char *value,
                        size_t valuelen) {
  struct h1_rec *r = ud;
  h1_end_body(r);
  FZ_CHECK(rawlen > 0 && raw[rawlen - 1] == '\n', "header line without LF");
  FZ_CHECK(h1_in(r->buf, r->buflen, raw, rawlen) ||
               h1_in(r->p->line_, r->p->line_cap_, raw, rawlen),
           "header line points outside the feed and the line buffer");
  /* A fold the parser let through never continues a field the engine
   * acts on (an unfolding peer would read another value). */
  if (!name && (raw[0] == ' ' || raw[0] == '\t'))
    FZ_CHECK(!(r->final_section && r->last_acted && r->ndone == 0),
             "obs-fold continues a framing/Connection/Location field");
  if (!name && rawlen >= 12 && memcmp(raw, "HTTP/1.", 7) == 0) {
    r->final_section = raw[9] >= '2';
    r->last_acted = 0;
  }
  if (name)
    r->last_acted = (namelen == 14 && !strncasecmp(name, "content-length", 14)) ||
                    (namelen == 17 && !strncasecmp(name, "transfer-encoding", 17)) ||
                    (namelen == 10 && !strncasecmp(name, "connection", 10)) ||
                    (namelen == 8 && !strncasecmp(name, "location", 8));
  fz_sb_put(&r->log, "H \"", 3);
  fz_sb_esc(&r->log, raw, rawlen);
  fz_sb_put(&r->log, "\"", 1);
  if (name) {
    FZ_CHECK(name == raw && namelen > 0 && namelen < rawlen, "name");
    FZ_CHECK(value >= raw + namelen + 1 && value + valuelen <= raw + rawlen,
             "value outside the line");
    FZ_CHECK(valuelen == 0 || (value[0] != ' ' && value[0] != '\t' &&
                               value[valuelen - 1] != ' ' &&
                               value[valuelen - 1] != '\t'),
             "value not trimmed");
    fz_sb_put(&r->log, " ", 1);
    fz_sb_esc(&r->log, name, namelen);
    fz_sb_put(&r->log, "=[", 2);
    fz_sb_esc(&r->log, value, valuelen);
    fz_sb_put(&r->log, "]", 1);
  } else {
    FZ_CHECK(namelen == 0 && value == NULL && valuelen == 0, "no name");
  }
  fz_sb_put(&r->log, "\n", 1);
  if (++r->events == r->o->fail_event) return r->o->fail_code;
  return 0;
}

static int h1_on_headers_done(void *ud) {
  struct h1_rec *r = ud;
  struct xfer_h1p *p = r->p;
  h1_end_body(r);
  r->ndone++;
  FZ_CHECK(r->ndone == 1, "headers done twice for one response");
  FZ_CHECK(p->status >= 200 && p->status <= 999, "final status %d",
           p->status);
  FZ_CHECK(p->chunked == (p->body_mode == XFER_H1P_BODY_CHUNKED), "chunked");
  if (p->body_mode == XFER_H1P_BODY_NONE)
    FZ_CHECK(r->o->is_head || p->status == 204 || p->status == 304,
             "no body for status %d", p->status);
  if (p->body_mode == XFER_H1P_BODY_LENGTH)
    FZ_CHECK(p->content_length >= 0, "length body without length");
  if (p->body_mode == XFER_H1P_BODY_CLOSE)
    FZ_CHECK(!p->keepalive, "close-delimited body on a kept connection");
  if (p->http_minor == 0 && p->chunked)
    FZ_CHECK(!p->keepalive, "HTTP/1.0 with chunked framing kept alive");
  fz_sb_printf(&r->log, "D %d 1.%d ka=%d ch=%d mode=%d cl=%lld done=%d\n",
               p->status, p->http_minor, p->keepalive, p->chunked,
               p->body_mode, (long long)p->content_length, p->done);
  if (++r->events == r->o->fail_event) return r->o->fail_code;
  return 0;
}

static int h1_on_body(void *ud, const char *data, size_t len) {
  struct h1_rec *r = ud;
  size_t take = len;
  int rc = 0;
  FZ_CHECK(len > 0, "empty body span");
  FZ_CHECK(h1_in(r->buf, r->buflen, data, len), "body span outside the feed");
  FZ_CHECK(r->ndone == 1, "body before the headers");
  FZ_CHECK(!r->body_failed, "body after a refused span");
  if (r->o->fail_threshold >= 0 &&
      r->body_total + (long)len >= r->o->fail_threshold) {
    /* Only the bytes up to the threshold: that does not depend on the
     * span sizes. */
    take = (size_t)(r->o->fail_threshold - r->body_total);
    r->body_failed = 1;
    rc = r->o->fail_code;
  }
  if (take) {
    if (!r->in_body) fz_sb_put(&r->log, "B \"", 3);
    r->in_body = 1;
    fz_sb_esc(&r->log, data, take);
  }
  r->body_total += (long)take;
  return rc;
}

static const struct xfer_h1p_callbacks h1_cbs = {
  h1_on_header, h1_on_headers_done, h1_on_body};

/* Records the end of one response (or of the run). */
static void h1_result(struct h1_rec *r, const char *what, int rc,
                      size_t consumed) {
  const struct xfer_h1p *p = r->p;
  int bf = r->body_failed;
  h1_end_body(r);
  fz_sb_printf(&r->log,
               "%s rc=%d consumed=%zu status=%d 1.%d ka=%d ch=%d mode=%d "
               "cl=%lld recv=%lld done=%d any=%d\n",
               what, rc, rc ? (size_t)0 : consumed, p->status, p->http_minor,
               p->keepalive, p->chunked, p->body_mode,
               (long long)p->content_length,
               bf ? -1LL : (long long)p->body_received, bf ? -1 : p->done,
               p->any_bytes);
}

/* Parses data fed in pieces of the given sizes (cycled); returns the
 * transcript (malloc'd). */
static char *h1_run(const char *data, size_t len, const struct h1_opts *o,
                    const size_t *sizes, size_t nsizes) {
  struct xfer_h1p p;
  struct h1_rec r;
  size_t off = 0, i = 0, total = 0, c;
  int rc = 0, responses = 0, stopped = 0;

  memset(&r, 0, sizeof(r));
  r.o = o;
  r.p = &p;
  xfer__h1p_init(&p, o->is_head, o->maxhdr);
  while (off < len && !stopped) {
    size_t sz = sizes[i++ % nsizes], pos = 0;
    char *piece;
    if (sz > len - off) sz = len - off;
    piece = fz_dup(data + off, sz);
    r.buf = piece;
    r.buflen = sz;
    do {
      c = (size_t)-1;
      rc = xfer__h1p_feed(&p, piece + pos, sz - pos, &c, &h1_cbs, &r);
      if (rc) {
        stopped = 1;
        break;
      }
      FZ_CHECK(c <= sz - pos, "consumed %zu of %zu", c, sz - pos);
      FZ_CHECK(c == sz - pos || p.done, "stopped short without being done");
      pos += c;
      total += c;
      if (!p.done) break;
      /* The response is complete: nothing more is taken. */
      {
        size_t z = 1;
        FZ_CHECK(xfer__h1p_feed(&p, "Z", 1, &z, &h1_cbs, &r) == 0 && z == 0,
                 "a done parser took more");
      }
      if (p.body_mode == XFER_H1P_BODY_LENGTH && !r.body_failed)
        FZ_CHECK(p.body_received == p.content_length, "length body %lld/%lld",
                 (long long)p.body_received, (long long)p.content_length);
      h1_result(&r, "R", 0, total);
      if (!o->keepalive_mode || ++responses >= H1_MAX_RESPONSES ||
          r.body_failed) {
        stopped = 1;
        break;
      }
      xfer__h1p_reset(&p, o->is_head);
      r.ndone = 0;
      total = 0;
    } while (pos < sz);
    free(piece);
    off += sz;
  }
  r.buf = NULL;
  r.buflen = 0;
  if (rc) {
    size_t z = 7;
    FZ_CHECK(rc == XFERE_WEIRD_SERVER_REPLY || rc == XFERE_TOO_LARGE ||
                 rc == XFERE_RECV_ERROR || rc == XFERE_OUT_OF_MEMORY ||
                 rc == o->fail_code,
             "feed returned %d", rc);
    h1_result(&r, "E", rc, 0);
    /* Errors are sticky. */
    FZ_CHECK(xfer__h1p_feed(&p, "HTTP/1.1 200 OK\r\n", 17, &z, &h1_cbs, &r) ==
                     rc && z == 0,
             "error not sticky");
    FZ_CHECK(xfer__h1p_eof(&p, &h1_cbs, &r) == rc, "eof after error");
  } else if (!stopped || o->keepalive_mode) {
    int e1 = xfer__h1p_eof(&p, &h1_cbs, &r), e2;
    FZ_CHECK(e1 == 0 || e1 == XFERE_PARTIAL_FILE || e1 == XFERE_GOT_NOTHING,
             "eof returned %d", e1);
    if (e1 == 0) FZ_CHECK(p.done, "eof ok but not done");
    if (e1 == XFERE_GOT_NOTHING) FZ_CHECK(!p.any_bytes, "nothing but bytes");
    e2 = xfer__h1p_eof(&p, &h1_cbs, &r);
    FZ_CHECK(e1 == e2, "eof twice: %d then %d", e1, e2);
    h1_result(&r, "EOF", e1, total);
  }
  xfer__h1p_free(&p);
  if (!r.log.p) fz_sb_put(&r.log, "", 0);
  return r.log.p;
}

static void h1_same(const char *whole, char *other, const char *how) {
  if (strcmp(whole, other) != 0) {
    fprintf(stderr, "split %s differs from whole:\n--- whole\n%s--- %s\n%s",
            how, whole, how, other);
    abort();
  }
  free(other);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const int codes[4] = {XFERE_WRITE_ERROR, XFERE_ABORTED_BY_CALLBACK,
                               XFERE_WEIRD_SERVER_REPLY,
                               XFERE_OUT_OF_MEMORY};
  static const size_t maxhdrs[4] = {0, 64, 300, 4096};
  struct h1_opts o;
  const char *resp;
  size_t len, whole_size, one = 1, i;
  size_t sizes[64];
  uint64_t seed;
  char *whole;

  if (size < 4 || size > 300000) return 0;
  memset(&o, 0, sizeof(o));
  o.is_head = data[0] & 1;
  o.fail_event = (data[0] >> 1) & 1 ? data[1] + 1 : 0;
  o.fail_threshold = (data[0] >> 2) & 1 ? (long)data[1] * 3 : -1;
  o.keepalive_mode = (data[0] >> 3) & 1;
  o.maxhdr = maxhdrs[(data[0] >> 4) & 3];
  o.fail_code = codes[data[2] & 3];
  seed = data[3] * 0x100000001b3ull + size;
  resp = (const char *)data + 4;
  len = size - 4;

  whole_size = len ? len : 1;
  whole = h1_run(resp, len, &o, &whole_size, 1);

  if (len <= 4096) h1_same(whole, h1_run(resp, len, &o, &one, 1), "bytewise");
  if (len > 1) {
    size_t two[2];
    two[0] = (size_t)(fz_rnd(&seed) % (len - 1)) + 1;
    two[1] = len;
    h1_same(whole, h1_run(resp, len, &o, two, 2), "in two");
  }
  /* Small random pieces, empty ones included. */
  for (i = 0; i < 64; i++) sizes[i] = (size_t)(fz_rnd(&seed) % 17);
  sizes[0] = sizes[0] ? sizes[0] : 1; /* the cycle makes progress */
  h1_same(whole, h1_run(resp, len, &o, sizes, 64), "small pieces");
  /* Larger ones. */
  for (i = 0; i < 64; i++) sizes[i] = (size_t)(fz_rnd(&seed) % 700) + 1;
  h1_same(whole, h1_run(resp, len, &o, sizes, 64), "large pieces");
  free(whole);
  return 0;
}
