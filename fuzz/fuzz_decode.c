/*
 * fuzz_decode.c -- the content decoders (decode.c) fed through the whole
 * engine: an in-process server on 127.0.0.1 (drive.c's loop) answers one
 * transfer with ACCEPT_ENCODING "" and a Content-Encoding from a table,
 * the body in pieces; each input runs twice, the body in one write and
 * unpaused, then in the input's pieces with the write callback pausing
 * every n-th call (unpaused from the loop).
 *
 * Input:
 *  [0] bits 0-3 the Content-Encoding (CODINGS below); bit 4 round trip:
 *      the harness encodes the payload with those codings itself (zlib,
 *      brotli, zstd), else the payload is the body as it is; bit 5
 *      perform + poll (else socket_action); bit 6 chunked (else
 *      Content-Length); bit 7 MAXFILESIZE_LARGE = byte 1 * 64 (else 4 MiB,
 *      which also bounds what a bomb in the input can cost).  The
 *      body of "" and "identity" is checked as a round trip.
 *  [1] bits 0-3: the write callback pauses every n-th call (0: never);
 *      bits 4-7: the second run's pieces are 1 << (k / 2 + 1) bytes (2
 *      to 256 bytes).
 *  [2..] the payload.
 *
 * Invariants (abort): each run ends with 0, 61 (a coding xfer cannot
 * decode) or 63 (the limit); a round trip of codings xfer knows ends with
 * 0 and delivers the payload exactly (or 63, and a prefix of it); 61 comes
 * with a reason; nothing past MAXFILESIZE is delivered; no call of the
 * write callback while paused; the refused piece comes again first; both
 * runs end with the same code and, on success, the same bytes (on a
 * failure, one delivered a prefix of the other's); the drive.c contract;
 * no fd leaked.
 */
#include <stddef.h>
#include <stdint.h>

#include "drive.h"
#include "xfer.h"

#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const struct {
  const char *value;   /* Content-Encoding ("" none) */
  int known;           /* a round trip must decode */
} CODINGS[16] = {
  {"", 1}, {"gzip", 1}, {"deflate", 1}, {"br", 1}, {"zstd", 1},
  {"gzip, br", 1}, {"deflate, zstd", 1}, {"br, gzip", 1}, {"zstd, zstd", 1},
  {"identity", 1}, {"X-Gzip", 1}, {"gzip, identity, br", 1},
  {"compress", 0}, {"gzip,gzip,gzip,gzip,gzip,gzip", 0},
  {"deflate", 1}, /* encoded raw (RFC 1951), as some servers send it */
  {"br, snappy", 0}};

struct fd_run {
  struct drv d;
  int lfd, cfd;
  uint16_t port;
  const char *coding;
  const uint8_t *body;
  size_t body_len, sent, piece;
  int chunked, head_sent, req_seen;
  char req[4096];
  size_t req_len;
  /* the client's side */
  XFER *e;
  int done;
  XFERcode result;
  char errbuf[XFER_ERROR_SIZE];
  uint8_t *got;
  size_t got_len, limit;
  unsigned every, calls, paused, refused_len, bad;
  uint8_t refused[64];
};

static const char *coding_of(const uint8_t *d) { return CODINGS[d[0] & 15].value; }

/* ---- encoding a round trip ---- */

static int zlib_encode(const uint8_t *in, size_t n, int bits, uint8_t **out,
                       size_t *olen) {
  z_stream z;
  size_t cap = deflateBound(NULL, (uLong)n) + 64;
  memset(&z, 0, sizeof(z));
  if (!(*out = malloc(cap))) abort();
  if (deflateInit2(&z, 6, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    abort();
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)n;
  z.next_out = *out;
  z.avail_out = (uInt)cap;
  FZ_CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END, "deflate");
  *olen = cap - z.avail_out;
  deflateEnd(&z);
  return 0;
}

/* The payload with each coding of value applied in order; raw: "deflate"
 * as RFC 1951 without the zlib wrapper. */
static void encode(const char *value, int raw, const uint8_t *in, size_t n,
                   uint8_t **out, size_t *olen) {
  uint8_t *cur = malloc(n ? n : 1), *next = NULL;
  size_t len = n, k;
  const char *p = value;
  if (!cur) abort();
  memcpy(cur, in, n);
  while (*p) {
    char t[16];
    size_t tl = 0;
    while (*p == ',' || *p == ' ') p++;
    while (*p && *p != ',' && tl < sizeof(t) - 1) t[tl++] = *p++;
    t[tl] = 0;
    if (!tl || !strcmp(t, "identity")) continue;
    if (!strcmp(t, "gzip") || !strcmp(t, "X-Gzip")) {
      zlib_encode(cur, len, 16 + MAX_WBITS, &next, &k);
    } else if (!strcmp(t, "deflate")) {
      zlib_encode(cur, len, raw ? -MAX_WBITS : MAX_WBITS, &next, &k);
    } else if (!strcmp(t, "br")) {
      k = BrotliEncoderMaxCompressedSize(len) + 16;
      if (!(next = malloc(k))) abort();
      FZ_CHECK(BrotliEncoderCompress(5, 22, BROTLI_MODE_GENERIC, len, cur,
                                     &k, next), "brotli");
    } else if (!strcmp(t, "zstd")) {
      k = ZSTD_compressBound(len);
      if (!(next = malloc(k ? k : 1))) abort();
      k = ZSTD_compress(next, k, cur, len, 3);
      FZ_CHECK(!ZSTD_isError(k), "zstd");
    } else {
      continue; /* not one xfer knows: sent as it is */
    }
    free(cur);
    cur = next;
    len = k;
  }
  *out = cur;
  *olen = len;
}

/* ---- the server ---- */

static void fd_send_some(struct fd_run *r) {
  char head[256];
  if (!r->head_sent) {
    int n = r->chunked
                ? snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\n"
                           "Content-Encoding: %s\r\nTransfer-Encoding: "
                           "chunked\r\n\r\n", r->coding)
                : snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\n"
                           "Content-Encoding: %s\r\nContent-Length: %zu\r\n"
                           "\r\n", r->coding, r->body_len);
    FZ_CHECK(send(r->cfd, head, (size_t)n, MSG_NOSIGNAL) == n, "send head");
    r->head_sent = 1;
  }
  while (r->sent < r->body_len || (r->chunked && r->sent == r->body_len)) {
    size_t n = r->body_len - r->sent;
    char line[24];
    if (n > r->piece) n = r->piece;
    if (r->chunked) {
      int l = snprintf(line, sizeof(line), "%zx\r\n", n);
      if (send(r->cfd, line, (size_t)l, MSG_NOSIGNAL) != l) return;
    }
    if (n && send(r->cfd, r->body + r->sent, n, MSG_NOSIGNAL) != (ssize_t)n)
      return; /* the client went away: its result says why */
    if (r->chunked && send(r->cfd, "\r\n", 2, MSG_NOSIGNAL) != 2) return;
    r->sent += n;
    if (!n) {
      r->sent++; /* the last chunk is out */
      break;
    }
    if (r->piece < r->body_len) { /* one piece a loop turn */
      r->d.wake_at = drv_now();
      return;
    }
  }
}

static void fd_on_fd(void *ud, int fd, unsigned ev) {
  struct fd_run *r = ud;
  (void)ev;
  if (fd == r->lfd) {
    int c = accept(r->lfd, NULL, NULL);
    if (c < 0) return;
    if (r->cfd >= 0) {
      close(c); /* one connection a run */
      return;
    }
    r->cfd = c;
    drv_watch(&r->d, c, DRV_IN);
    return;
  }
  if (fd == r->cfd && !r->req_seen) {
    ssize_t n = recv(fd, r->req + r->req_len, sizeof(r->req) - r->req_len - 1,
                     0);
    if (n <= 0) {
      drv_watch(&r->d, fd, 0);
      return;
    }
    r->req_len += (size_t)n;
    r->req[r->req_len] = 0;
    if (!strstr(r->req, "\r\n\r\n")) return;
    FZ_CHECK(strstr(r->req, "\r\nAccept-Encoding: deflate, gzip, br, zstd\r\n"),
             "the request offers no codings:\n%s", r->req);
    r->req_seen = 1;
    drv_watch(&r->d, fd, 0);
    fd_send_some(r);
  }
}

static void fd_on_wake(void *ud, uint64_t now) {
  struct fd_run *r = ud;
  (void)now;
  if (r->paused == 1) { /* unpaused from the loop */
    r->paused = 2;
    FZ_CHECK(xfer_easy_pause(r->e, XFERPAUSE_CONT) == XFERE_OK, "unpause");
  }
  if (r->req_seen && r->cfd >= 0) fd_send_some(r);
}

/* ---- the client ---- */

static size_t fd_write(char *p, size_t size, size_t n, void *ud) {
  struct fd_run *r = ud;
  size_t len = size * n;
  if (r->paused == 1) r->bad = 1; /* called while paused */
  if (r->paused == 2) {
    FZ_CHECK(len == r->refused_len &&
                 !memcmp(p, r->refused, len < 64 ? len : 64),
             "the refused piece (%u bytes) did not come again first (%zu)",
             r->refused_len, len);
    r->paused = 0;
  } else if (r->every && ++r->calls % r->every == 0) {
    r->refused_len = (unsigned)len;
    memcpy(r->refused, p, len < 64 ? len : 64);
    r->paused = 1;
    r->d.wake_at = drv_now();
    return XFER_WRITEFUNC_PAUSE;
  }
  FZ_CHECK(r->got_len + len <= r->limit, "%zu bytes past MAXFILESIZE %zu",
           r->got_len + len - r->limit, r->limit);
  memcpy(r->got + r->got_len, p, len);
  r->got_len += len;
  return len;
}

static void fd_done(void *ud, int i, XFERcode rc) {
  struct fd_run *r = ud;
  (void)i;
  r->done = 1;
  r->result = rc;
}

static void fd_run(struct fd_run *r, const uint8_t *data, const uint8_t *body,
                   size_t body_len, size_t piece, unsigned every) {
  char url[64];
  memset(r, 0, sizeof(*r));
  r->coding = coding_of(data);
  r->cfd = -1;
  r->body = body;
  r->body_len = body_len;
  r->piece = piece;
  r->every = every;
  r->chunked = (data[0] >> 6) & 1;
  r->limit = (data[0] & 0x80) ? ((size_t)data[1] + 1) * 64 : (4u << 20);
  if (!(r->got = malloc(r->limit + 1))) abort();
  r->lfd = drv_listen(0, &r->port);
  FZ_CHECK(r->lfd >= 0, "listen: %s", strerror(errno));
  drv_init(&r->d, (data[0] >> 5) & 1, r);
  r->d.on_fd = fd_on_fd;
  r->d.on_done = fd_done;
  r->d.on_wake = fd_on_wake;
  drv_watch(&r->d, r->lfd, DRV_IN);
  snprintf(url, sizeof(url), "http://127.0.0.1:%u/", (unsigned)r->port);
  r->e = xfer_easy_init();
  FZ_CHECK(r->e, "easy_init");
  xfer_easy_setopt(r->e, XFEROPT_URL, url);
  xfer_easy_setopt(r->e, XFEROPT_ACCEPT_ENCODING, "");
  xfer_easy_setopt(r->e, XFEROPT_MAXFILESIZE_LARGE, (xfer_off_t)r->limit);
  xfer_easy_setopt(r->e, XFEROPT_WRITEFUNCTION, fd_write);
  xfer_easy_setopt(r->e, XFEROPT_WRITEDATA, r);
  xfer_easy_setopt(r->e, XFEROPT_ERRORBUFFER, r->errbuf);
  xfer_easy_setopt(r->e, XFEROPT_TIMEOUT_MS, 1000L);
  drv_add(&r->d, r->e);
  drv_run(&r->d, 1000, 200);
  drv_cleanup(&r->d, 0);
  if (r->cfd >= 0) close(r->cfd);
  close(r->lfd);
}

static void fd_check_run(const struct fd_run *r, int round_trip, int known,
                         const uint8_t *payload, size_t plen) {
  /* A Content-Length over the limit fails before the body, whatever the
   * body decodes to (libcurl's rule). */
  int cl_over = !r->chunked && r->body_len > r->limit;
  if (!r->done) return; /* out of time: nothing to say */
  FZ_CHECK(!r->bad, "the write callback was called while paused");
  FZ_CHECK(r->result == XFERE_OK || r->result == XFERE_BAD_CONTENT_ENCODING ||
               r->result == XFERE_FILESIZE_EXCEEDED,
           "result %d (%s)", r->result, r->errbuf);
  if (r->result == XFERE_BAD_CONTENT_ENCODING)
    FZ_CHECK(r->errbuf[0], "61 without a reason");
  if (!round_trip || !known) return;
  if (r->result == XFERE_FILESIZE_EXCEEDED) {
    FZ_CHECK((plen > r->limit || cl_over) && r->got_len <= plen &&
                 !memcmp(r->got, payload, r->got_len),
             "63 on a payload of %zu bytes (limit %zu)", plen, r->limit);
    return;
  }
  FZ_CHECK(r->result == XFERE_OK, "a round trip failed: %d (%s)", r->result,
           r->errbuf);
  FZ_CHECK(r->got_len == plen && !memcmp(r->got, payload, plen),
           "a round trip of %zu bytes decoded into %zu other bytes", plen,
           r->got_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static struct fd_run a, b;
  const uint8_t *payload;
  uint8_t *body;
  size_t plen, blen, shorter;
  int round_trip, known, fds_before;
  if (size < 2 || size > 65536) return 0;
  fds_before = drv_count_fds();
  payload = data + 2;
  plen = size - 2;
  round_trip = (data[0] >> 4) & 1;
  known = CODINGS[data[0] & 15].known;
  if (!strcmp(coding_of(data), "") || !strcmp(coding_of(data), "identity"))
    round_trip = 1; /* nothing to encode: the body is the payload */
  if (round_trip) {
    encode(coding_of(data), (data[0] & 15) == 14, payload, plen, &body, &blen);
  } else {
    if (!(body = malloc(plen ? plen : 1))) abort();
    memcpy(body, payload, plen);
    blen = plen;
  }
  fd_run(&a, data, body, blen, blen ? blen : 1, 0);
  fd_run(&b, data, body, blen, (size_t)1 << ((data[1] >> 4) / 2 + 1),
         data[1] & 15);
  fd_check_run(&a, round_trip, known, payload, plen);
  fd_check_run(&b, round_trip, known, payload, plen);
  if (a.done && b.done) {
    FZ_CHECK(a.result == b.result, "whole: %d (%s), in pieces and paused: "
             "%d (%s)", a.result, a.errbuf, b.result, b.errbuf);
    shorter = a.got_len < b.got_len ? a.got_len : b.got_len;
    FZ_CHECK(!memcmp(a.got, b.got, shorter), "the two runs delivered "
             "different bytes");
    if (a.result == XFERE_OK)
      FZ_CHECK(a.got_len == b.got_len, "whole: %zu bytes, in pieces: %zu",
               a.got_len, b.got_len);
  }
  if (getenv("XFER_FUZZ_VERBOSE"))
    fprintf(stderr, "decode \"%s\" rt=%d body=%zu: %d/%d, %zu/%zu bytes "
            "(%s)\n", coding_of(data), round_trip, blen, a.result, b.result,
            a.got_len, b.got_len, b.errbuf);
  free(a.got);
  free(b.got);
  free(body);
  FZ_CHECK(drv_count_fds() == fds_before, "fds: %d before the run, %d after",
           fds_before, drv_count_fds());
  return 0;
}
