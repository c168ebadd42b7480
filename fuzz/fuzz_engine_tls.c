/*
 * fuzz_engine_tls.c -- the whole engine over HTTPS, against an in-process
 * TLS server (OpenSSL over memory BIOs) whose records the input scripts:
 * where the records split, how they are grouped into TCP sends, what
 * follows a complete response (bytes, a whole response, close_notify,
 * garbage, an alert, a KeyUpdate), pauses, cuts, closes and resets.
 *
 * The certificates come from tls_certs.c (made in memory, once per
 * process).  No name is ever resolved: every URL is 127.0.0.1 or a name
 * pinned with XFEROPT_RESOLVE, and the Locations are the server's own.
 *
 * Input:
 *  [0] g0: bits 0-1 transfers - 1; bit 2 perform + poll (else
 *      socket_action with epoll); bit 3 MAX_HOST_CONNECTIONS 1 (the
 *      transfers take turns on one connection); bit 4 MAXCONNECTS 1;
 *      bit 5 the server stops at TLS 1.2; bit 6 no session tickets;
 *      bit 7 multi_cleanup before the handles.
 *  [1] seed of the server's sizes.
 *  [2+2i, 3+2i] transfer i's options a, b:
 *   a: bits 0-1 host: 127.0.0.1, localhost, tls.test, wrong.test (not in
 *      the certificate); bit 2 VERIFYPEER; bit 3 VERIFYHOST; bits 4-5:
 *      0 -, 1 the right PINNEDPUBLICKEY, 2 a wrong one, 3 CAPATH to
 *      nowhere instead of our CAINFO; bit 6 NOBODY; bit 7 POSTFIELDS.
 *   b: bits 0-1 SSLVERSION: default, 1.2 only, 1.3, 1.2 or later;
 *      bit 2 SSL_SESSIONID_CACHE 0; bit 3 FORBID_REUSE; bit 4
 *      FRESH_CONNECT; bit 5 FOLLOWLOCATION; bit 6 TIMEOUT_MS 200;
 *      bit 7 the write callback fails on its second call.
 *  [10..] response scripts, 4 bytes each; the n-th request gets script
 *   n mod count:
 *   r0: bits 0-1 framing: Content-Length, chunked, until the close,
 *       Content-Length + Connection: close; bits 2-4 status: 200, 204,
 *       304, 404, 302 to /r/<i>, 100 then 200, 200 with 60 headers, 301
 *       to an absolute https URL of the same host; bits 5-7 body length:
 *       0, 1, 7, 100, 1000, 5000, 16384, 40000.
 *   r1: bits 0-2 what follows the complete response: 0 nothing, 1 bytes
 *       (application data), 2 a whole response, 3 close_notify, 4 bytes
 *       that are no record, 5 a plaintext alert record, 6 a session
 *       ticket (with r3 bit 1 a KeyUpdate; TLS 1.3), 7 a whole response
 *       then close_notify;
 *       bits 3-4 how: 0 in the same send() as the response's last
 *       record, 1 in a send() of their own right after, 2 after a 5 ms
 *       pause, 3 in the same record as the response's end;
 *       bits 5-6 then: keep, close_notify + close, close, reset;
 *       bit 7 the response is cut at its middle (then bits 5-6).
 *   r2: bits 0-2 record sizes (0: as OpenSSL splits; k: 1..2^(k+2) bytes
 *       of plaintext per record); bit 3 TLS 1.3 padding to 512; bits 4-6
 *       send sizes (0: all at once; k: 1..2^(k+2), one send per event);
 *       bit 7 a KeyUpdate (TLS 1.3) or a renegotiation (1.2) first.
 *   r3: bit 0 a new session ticket first; bits 1-7 salt of the chunk
 *       sizes.
 *
 * Invariants (abort): every body byte a transfer's write callback gets
 * belongs to a response to one of its own requests -- the body of the
 * response to the server's k-th request is tag(k) repeated and the head
 * says X-K: k; a whole response sent as "extra" says X-K: 100000 + k and
 * its body is '!' -- so bytes the server sent after a complete response
 * reaching the next transfer on a reused connection show; a connection
 * on which the server sent extra bytes that arrived with the end of a
 * complete response (same send or record, or a send right after, before
 * the client ran) never carries another request; a transfer whose
 * certificate check must fail (chain, name, pin) sends no request and
 * fails with 60, 90 (or 35 when no TLS version is shared), and one that
 * must pass does not fail with 35, 60, 77 or 90; the first request of a
 * FRESH_CONNECT transfer is the first on its connection; a successful
 * transfer got its whole last response body, and SIZE_DOWNLOAD is what
 * the write callback saw; the drive.c contract; no fd leaked.
 */
#include <stddef.h>
#include <stdint.h>

#include "drive.h"
#include "tls_certs.h"
#include "xfer.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#define TL_HDR 10
#define TL_MAX_TX 4
#define TL_MAX_SCRIPTS 32
#define TL_MAX_CONN 24
#define TL_MAX_REQ 48
#define TL_REQ_CAP 8192
#define TL_BUDGET_MS 300
#define TL_POISON_K 100000
#define TL_POST "fuzz=1&tls=1&x=abcd"

enum { X_NONE, X_BYTES, X_RESPONSE, X_NOTIFY, X_GARBAGE, X_ALERT, X_TLSMSG,
       X_RESPONSE_NOTIFY };
enum { T_SAME_SEND, T_OWN_SEND, T_PAUSE, T_SAME_RECORD };
enum { E_KEEP, E_NOTIFY_CLOSE, E_CLOSE, E_RESET };

struct tl_tx {
  int idx, done, result;
  uint8_t a, b;
  int must_fail, version_clash, requests, wr_calls;
  long cur_k;               /* X-K of the response being delivered */
  long long k_bytes, bytes; /* body bytes of cur_k, of the whole run */
  char url[96], hdr[16];
  struct xfer_slist *headers;
  char errbuf[XFER_ERROR_SIZE];
  XFER *e;
};

struct tl_req {
  int tx;
  long body;                /* what the client should deliver */
  int inexact;              /* cut, or until the close: at most body */
};

struct tl_conn {
  int fd;
  SSL *ssl;
  BIO *rbio, *wbio;
  char *out;                /* queued ciphertext, from stream offset sent */
  size_t out_len, out_cap;
  uint64_t sent, queued;    /* stream offsets */
  int busy, poisoned, shut, paused, nreq;
  uint64_t resp_end, x_start, x_end, pause_at, end_at;
  int x_kind, x_timing, end_action, own_send_next;
  unsigned step, end_step, sizes;
  char req[TL_REQ_CAP];
  size_t req_len;
  uint64_t pause_until;
};

struct tl {
  struct drv d;
  uint8_t g0;
  uint64_t rng;
  int lfd;
  uint16_t port;
  struct tl_tx tx[TL_MAX_TX];
  int ntx;
  const uint8_t *scripts;
  int nscripts;
  struct tl_conn conn[TL_MAX_CONN];
  struct tl_req reqs[TL_MAX_REQ];
  int nreq;
  struct xfer_slist *resolve;
};

static struct tls_certs tl_g;

static struct tl *tl_cur;
static int tl_trace; /* XFER_FUZZ_TRACE: the engine's and the server's */

/* ---- the server ------------------------------------------------------- */

static uint64_t tl_rnd(struct tl *t) { return fz_rnd(&t->rng); }

static struct tl_conn *tl_find(struct tl *t, int fd) {
  int i;
  for (i = 0; i < TL_MAX_CONN; i++)
    if (t->conn[i].fd == fd && fd >= 0) return &t->conn[i];
  return NULL;
}

static void tl_close(struct tl *t, struct tl_conn *c, int reset) {
  if (c->fd < 0) return;
  if (reset) {
    struct linger l = {1, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  }
  drv_watch(&t->d, c->fd, 0);
  close(c->fd);
  SSL_free(c->ssl); /* and its BIOs */
  free(c->out);
  memset(c, 0, sizeof(*c));
  c->fd = -1;
}

static void tl_queue(struct tl_conn *c, const void *p, size_t n) {
  if (c->out_len + n > c->out_cap) {
    size_t cap = c->out_cap ? c->out_cap : 4096;
    while (cap < c->out_len + n) cap *= 2;
    c->out = realloc(c->out, cap);
    FZ_CHECK(c->out != NULL, "oom");
    c->out_cap = cap;
  }
  memcpy(c->out + c->out_len, p, n);
  c->out_len += n;
  c->queued += n;
}

/* What OpenSSL wrote: queued behind what is there. */
static void tl_collect(struct tl_conn *c) {
  char buf[4096];
  int n;
  while ((n = BIO_read(c->wbio, buf, sizeof(buf))) > 0)
    tl_queue(c, buf, (size_t)n);
}

static void tl_write(struct tl_conn *c, const char *p, size_t n) {
  size_t w = 0;
  if (n && SSL_write_ex(c->ssl, p, n, &w) != 1) ERR_clear_error();
  tl_collect(c);
}

/* The plaintext in records of the script's sizes. */
static void tl_write_split(struct tl *t, struct tl_conn *c, const char *p,
                           size_t n, unsigned cls) {
  size_t floor = n / 256 + 1;
  while (n) {
    size_t k = cls ? (size_t)(tl_rnd(t) % (2u << (cls + 1))) + 1 : n;
    if (k < floor) k = floor;
    if (k > n) k = n;
    tl_write(c, p, k);
    p += k;
    n -= k;
  }
}

static const long tl_lengths[8] = {0, 1, 7, 100, 1000, 5000, 16384, 40000};

/* Appends the head and body of the response to request k to buf. */
static size_t tl_build(struct tl *t, const uint8_t *s, long k, int tx,
                       int head_only, char *buf, struct tl_req *rq) {
  static const char *const status[8] = {
      "200 OK", "204 No Content", "304 Not Modified", "404 Not Found",
      "302 Found", "200 OK", "200 OK", "301 Moved"};
  int framing = s[0] & 3, st = (s[0] >> 2) & 7, i;
  long blen = tl_lengths[s[0] >> 5], sent_body;
  size_t o = 0;
  if (st == 1 || st == 2) blen = 0;
  if (st == 5) o += (size_t)sprintf(buf + o, "HTTP/1.1 100 Continue\r\n\r\n");
  o += (size_t)sprintf(buf + o, "HTTP/1.1 %s\r\nX-K: %ld\r\n", status[st], k);
  if (st == 4)
    o += (size_t)sprintf(buf + o, "Location: /r/%d?k=%ld\r\n", tx, k);
  if (st == 7)
    o += (size_t)sprintf(buf + o, "Location: %s\r\n", t->tx[tx].url);
  if (st == 6)
    for (i = 0; i < 60; i++)
      o += (size_t)sprintf(buf + o, "X-Filler-%02d: %040d\r\n", i, i);
  if (framing == 2 || framing == 3)
    o += (size_t)sprintf(buf + o, "Connection: close\r\n");
  if (st != 1 && st != 2 && framing == 1)
    o += (size_t)sprintf(buf + o, "Transfer-Encoding: chunked\r\n");
  else if (st != 1 && st != 2 && framing != 2)
    o += (size_t)sprintf(buf + o, "Content-Length: %ld\r\n", blen);
  o += (size_t)sprintf(buf + o, "\r\n");
  sent_body = head_only ? 0 : blen;
  rq->body = st == 1 || st == 2 ? 0 : sent_body;
  rq->inexact = framing == 2;
  if (head_only) return o;
  if (framing == 1 && blen > 0) {
    long left = blen;
    unsigned salt = s[3] >> 1;
    while (left > 0) {
      long n = 1 + (long)((salt * 2654435761u + (unsigned)left) % 4096u);
      if (n > left) n = left;
      o += (size_t)sprintf(buf + o, "%lx\r\n", n);
      memset(buf + o, 'a' + (int)(k % 26), (size_t)n);
      o += (size_t)n;
      o += (size_t)sprintf(buf + o, "\r\n");
      left -= n;
    }
  } else if (blen > 0) {
    memset(buf + o, 'a' + (int)(k % 26), (size_t)blen);
    o += (size_t)blen;
  }
  if (framing == 1 && st != 1 && st != 2)
    o += (size_t)sprintf(buf + o, "0\r\n\r\n");
  return o;
}

/* Answers request k on c as the script says. */
static void tl_respond(struct tl *t, struct tl_conn *c, int tx, int head) {
  static char buf[120000];
  const uint8_t dflt[4] = {0, 0, 0, 0};
  const uint8_t *s = t->nscripts ? t->scripts + 4 * (t->nreq % t->nscripts)
                                 : dflt;
  long k = t->nreq;
  struct tl_req *rq = &t->reqs[t->nreq++];
  size_t n, cut;
  int tls13 = SSL_version(c->ssl) == TLS1_3_VERSION, kind = s[1] & 7;
  char extra[160];
  size_t xl = 0;
  rq->tx = tx;
  n = tl_build(t, s, k, tx, head, buf, rq);
  c->busy = 1;
  c->x_kind = kind;
  c->x_timing = (s[1] >> 3) & 3;
  c->end_action = (s[1] >> 5) & 3;
  c->sizes = (s[2] >> 4) & 7;
  c->pause_at = 0;
  /* Until the close: it ends the body, and what follows is body. */
  if ((s[0] & 3) == 2 && c->end_action == E_KEEP)
    c->end_action = E_NOTIFY_CLOSE;
  if ((s[0] & 3) == 2 || (s[1] & 0x80)) c->x_kind = kind = X_NONE;
  /* A whole response after a pause could pass for the next one's. */
  if (c->x_timing == T_PAUSE &&
      (kind == X_RESPONSE || kind == X_RESPONSE_NOTIFY))
    kind = X_BYTES;
  if (kind == X_BYTES) xl = (size_t)sprintf(extra, "!!!!!!!!");
  if (kind == X_RESPONSE || kind == X_RESPONSE_NOTIFY)
    xl = (size_t)sprintf(extra, "HTTP/1.1 200 OK\r\nX-K: %ld\r\nContent-Length:"
                         " 6\r\n\r\n!!!!!!", TL_POISON_K + k);
  SSL_set_block_padding(c->ssl, (s[2] & 8) ? 512 : 0);
  if ((s[3] & 1) && tls13) SSL_new_session_ticket(c->ssl);
  if (s[2] & 0x80) {
    if (tls13) SSL_key_update(c->ssl, SSL_KEY_UPDATE_REQUESTED);
    else if (SSL_renegotiate(c->ssl) == 1) SSL_do_handshake(c->ssl);
    ERR_clear_error();
  }
  cut = (s[1] & 0x80) ? n / 2 : n;
  if (c->x_timing == T_SAME_RECORD && xl && cut > 0) {
    tl_write_split(t, c, buf, cut - 1, s[2] & 7);
    memcpy(buf + cut, extra, xl); /* past the response: free room */
    tl_write(c, buf + cut - 1, xl + 1);
    c->resp_end = c->x_start = c->x_end = c->queued;
    c->poisoned = 1; /* they come in the very record that ends it */
  } else {
    tl_write_split(t, c, buf, cut, s[2] & 7);
    c->resp_end = c->x_start = c->queued;
    if (c->x_timing == T_PAUSE) c->pause_at = c->queued;
    if (xl) {
      tl_write(c, extra, xl);
    } else if (kind == X_NOTIFY) {
      SSL_shutdown(c->ssl);
      tl_collect(c);
    } else if (kind == X_GARBAGE) {
      static const char g[] = "\x17\x03\x03\x40\x01garbage!";
      tl_queue(c, g, sizeof(g) - 1);
    } else if (kind == X_ALERT) {
      tl_queue(c, "\x15\x03\x03\x00\x02\x02\x28", 7);
    } else if (kind == X_TLSMSG) {
      if (tls13 && (s[3] & 2))
        SSL_key_update(c->ssl, SSL_KEY_UPDATE_NOT_REQUESTED);
      else if (tls13)
        SSL_new_session_ticket(c->ssl);
      SSL_do_handshake(c->ssl);
      ERR_clear_error();
      tl_collect(c);
    }
    c->x_end = c->queued;
  }
  if (kind == X_RESPONSE_NOTIFY) {
    SSL_shutdown(c->ssl);
    tl_collect(c);
    c->x_end = c->queued;
  }
  if (kind == X_NOTIFY || kind == X_RESPONSE_NOTIFY) c->shut = 1;
  if (c->end_action == E_NOTIFY_CLOSE && !c->shut) {
    SSL_shutdown(c->ssl);
    tl_collect(c);
  }
  if ((s[1] & 0x80) && c->end_action == E_KEEP) c->end_action = -1; /* stall */
  c->end_at = c->queued;
  c->own_send_next = 0;
  c->end_step = 0;
  if (c->pause_at == c->x_end) c->pause_at = 0; /* nothing after it */
}

static void tl_end(struct tl *t, struct tl_conn *c);

/* Sends what is queued, as the script splits it. */
static void tl_flush(struct tl *t, struct tl_conn *c) {
  c->step++;
  while (c->fd >= 0 && c->sent < c->queued && !c->paused) {
    uint64_t limit = c->queued, piece;
    ssize_t w;
    int atomic_run = 0;
    if (c->pause_at > c->sent && c->pause_at < limit) limit = c->pause_at;
    piece = limit - c->sent;
    if (c->sizes && !c->own_send_next) {
      uint64_t k = tl_rnd(t) % (2u << (c->sizes + 1)) + 1;
      if (k < c->out_len / 128) k = c->out_len / 128;
      if (k < piece) piece = k;
    }
    if (c->busy && c->x_end > c->x_start && c->sent < c->resp_end &&
        c->sent + piece >= c->resp_end) {
      /* The piece with the response's last byte: the extras go with it
       * (same send), or right after it in a send of their own. */
      if (c->x_timing == T_SAME_SEND && limit >= c->x_end)
        piece = c->x_end - c->sent;
      else if (c->x_timing == T_OWN_SEND)
        piece = c->resp_end - c->sent;
      atomic_run = 1;
    }
    if (c->own_send_next) piece = c->x_end - c->sent;
    w = send(c->fd, c->out, (size_t)piece, MSG_NOSIGNAL);
    if (tl_trace)
      fprintf(stderr, "[server] fd %d step %u send [%llu, +%llu) = %zd "
              "(response ends %llu, extras %llu-%llu)\n", c->fd, c->step,
              (unsigned long long)c->sent, (unsigned long long)piece, w,
              (unsigned long long)c->resp_end, (unsigned long long)c->x_start,
              (unsigned long long)c->x_end);
    if (w < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) tl_close(t, c, 0);
      break;
    }
    if (c->sent < c->resp_end && c->sent + (uint64_t)w >= c->resp_end)
      c->end_step = c->step;
    if (c->busy && c->x_end > c->x_start && c->sent <= c->x_start &&
        c->sent + (uint64_t)w > c->x_start && c->end_step == c->step &&
        c->x_timing != T_PAUSE &&
        (c->x_kind == X_BYTES || c->x_kind == X_RESPONSE ||
         c->x_kind == X_RESPONSE_NOTIFY))
      c->poisoned = 1;
    c->own_send_next = c->x_timing == T_OWN_SEND && atomic_run &&
                       (uint64_t)w == piece && c->x_end > c->x_start;
    memmove(c->out, c->out + w, c->out_len - (size_t)w);
    c->out_len -= (size_t)w;
    c->sent += (uint64_t)w;
    if ((uint64_t)w < piece) break;
    if (c->pause_at && c->sent == c->pause_at) {
      c->paused = 1;
      c->pause_at = 0;
      c->pause_until = drv_now() + 5000;
      if (!t->d.wake_at || c->pause_until < t->d.wake_at)
        t->d.wake_at = c->pause_until;
      break;
    }
    if (c->sizes && !c->own_send_next) break; /* one piece per event */
  }
  if (c->fd < 0) return;
  if (c->busy && c->sent >= c->end_at && !c->paused) tl_end(t, c);
  if (c->fd >= 0)
    drv_watch(&t->d, c->fd,
              DRV_IN | (c->sent < c->queued && !c->paused ? DRV_OUT : 0u));
}

static void tl_requests(struct tl *t, struct tl_conn *c);

static void tl_end(struct tl *t, struct tl_conn *c) {
  switch (c->end_action) {
  case E_KEEP:
    c->busy = 0;
    tl_requests(t, c);
    break;
  case E_NOTIFY_CLOSE:
  case E_CLOSE:
    tl_close(t, c, 0);
    break;
  case E_RESET:
    tl_close(t, c, 1);
    break;
  default:
    break; /* stalled */
  }
}

/* Handles the complete requests in c->req, one at a time. */
static void tl_requests(struct tl *t, struct tl_conn *c) {
  while (c->fd >= 0 && !c->busy) {
    char *end, *p;
    size_t head, need;
    long cl = 0;
    int tx = -1, is_head;
    struct tl_tx *x;
    c->req[c->req_len] = 0;
    end = strstr(c->req, "\r\n\r\n");
    if (!end) return;
    head = (size_t)(end - c->req) + 4;
    if ((p = strstr(c->req, "\r\nContent-Length: ")) && p < end)
      cl = atol(p + 18);
    if ((p = strstr(c->req, "\r\nX-T: ")) && p < end) tx = atoi(p + 7);
    need = head + (size_t)cl;
    if (cl < 0 || need >= TL_REQ_CAP) {
      tl_close(t, c, 0);
      return;
    }
    if (c->req_len < need) return;
    FZ_CHECK(tx >= 0 && tx < t->ntx, "request without X-T:\n%.*s",
             (int)head, c->req);
    x = &t->tx[tx];
    FZ_CHECK(!c->poisoned, "transfer %d sent a request on a connection "
             "where bytes after a complete response were waiting (they "
             "came with its end): they would be read as the answer",
             tx);
    FZ_CHECK(!x->must_fail, "transfer %d sent a request although the "
             "server's certificate must fail its checks", tx);
    FZ_CHECK(!(x->b & 0x10) || x->requests || c->nreq == 0, "transfer %d "
             "(FRESH_CONNECT) sent its request on a connection that had "
             "carried %d", tx, c->nreq);
    x->requests++;
    c->nreq++;
    is_head = strncmp(c->req, "HEAD ", 5) == 0;
    memmove(c->req, c->req + need, c->req_len - need);
    c->req_len -= need;
    if (c->shut || t->nreq >= TL_MAX_REQ) {
      tl_close(t, c, 0);
      return;
    }
    tl_respond(t, c, tx, is_head);
    tl_flush(t, c);
  }
}

static void tl_accept(struct tl *t) {
  for (;;) {
    int fd = accept4(t->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), i,
        one = 1;
    struct tl_conn *c;
    if (fd < 0) return;
    for (i = 0; i < TL_MAX_CONN && t->conn[i].fd >= 0; i++)
      ;
    if (i == TL_MAX_CONN) {
      close(fd);
      continue;
    }
    c = &t->conn[i];
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->fd = fd;
    c->ssl = SSL_new(tl_g.server);
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    FZ_CHECK(c->ssl && c->rbio && c->wbio, "SSL_new");
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    SSL_set_accept_state(c->ssl);
    if (t->g0 & 0x20) SSL_set_max_proto_version(c->ssl, TLS1_2_VERSION);
    if (t->g0 & 0x40) {
      SSL_set_options(c->ssl, SSL_OP_NO_TICKET);
      SSL_set_num_tickets(c->ssl, 0);
    }
    drv_watch(&t->d, fd, DRV_IN);
  }
}

static void tl_readable(struct tl *t, struct tl_conn *c) {
  char buf[16384];
  ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
  int r;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
  if (n <= 0) {
    tl_close(t, c, 0);
    return;
  }
  BIO_write(c->rbio, buf, (int)n);
  for (;;) {
    size_t got = 0;
    if (c->req_len >= TL_REQ_CAP - 1) {
      tl_close(t, c, 0);
      return;
    }
    r = SSL_read_ex(c->ssl, c->req + c->req_len, TL_REQ_CAP - 1 - c->req_len,
                    &got);
    if (r == 1) {
      c->req_len += got;
      continue;
    }
    r = SSL_get_error(c->ssl, 0);
    ERR_clear_error();
    tl_collect(c); /* handshake messages, alerts */
    if (r != SSL_ERROR_WANT_READ && r != SSL_ERROR_WANT_WRITE) {
      tl_flush(t, c);
      if (c->fd >= 0) tl_close(t, c, 0);
      return;
    }
    break;
  }
  tl_requests(t, c);
  tl_flush(t, c);
}

static void tl_on_fd(void *ud, int fd, unsigned ev) {
  struct tl *t = ud;
  struct tl_conn *c;
  if (fd == t->lfd) {
    tl_accept(t);
    return;
  }
  if ((c = tl_find(t, fd)) == NULL) return;
  if (ev & DRV_IN) tl_readable(t, c);
  if (c->fd == fd && (ev & DRV_OUT)) tl_flush(t, c);
}

static void tl_on_wake(void *ud, uint64_t now) {
  struct tl *t = ud;
  int i;
  for (i = 0; i < TL_MAX_CONN; i++) {
    struct tl_conn *c = &t->conn[i];
    if (c->fd < 0 || !c->paused) continue;
    if (now >= c->pause_until) {
      c->paused = 0;
      tl_flush(t, c);
    } else if (!t->d.wake_at || c->pause_until < t->d.wake_at) {
      t->d.wake_at = c->pause_until;
    }
  }
}

/* ---- the client ------------------------------------------------------- */

static void tl_live(struct tl_tx *x, const char *what) {
  FZ_CHECK(tl_cur && !x->done, "%s callback for finished transfer %d", what,
           x->idx);
}

static size_t tl_header(char *p, size_t size, size_t n, void *ud) {
  struct tl_tx *x = ud;
  size_t len = size * n;
  tl_live(x, "header");
  if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
    x->cur_k = -1;
    x->k_bytes = 0;
  } else if (len > 5 && strncasecmp(p, "X-K: ", 5) == 0) {
    x->cur_k = atol(p + 5);
    FZ_CHECK(x->cur_k < TL_POISON_K, "transfer %d got the response the "
             "server sent after its complete response %ld (it came with "
             "it, in another TLS record)", x->idx, x->cur_k - TL_POISON_K);
  }
  return len;
}

static size_t tl_write_cb(char *p, size_t size, size_t n, void *ud) {
  struct tl_tx *x = ud;
  size_t len = size * n, i;
  long k = x->cur_k;
  tl_live(x, "write");
  FZ_CHECK(k >= 0 && k < tl_cur->nreq && tl_cur->reqs[k].tx == x->idx,
           "transfer %d got %zu body bytes ('%c'...) of response %ld, "
           "which answers transfer %d", x->idx, len, p[0], k,
           k >= 0 && k < tl_cur->nreq ? tl_cur->reqs[k].tx : -1);
  for (i = 0; i < len; i++)
    FZ_CHECK(p[i] == 'a' + (char)(k % 26), "transfer %d: body byte 0x%02x "
             "at %lld of response %ld: not its bytes (extra bytes after an "
             "earlier response?)", x->idx, (unsigned char)p[i],
             x->k_bytes + (long long)i, k);
  x->k_bytes += (long long)len;
  x->bytes += (long long)len;
  if (++x->wr_calls == 2 && (x->b & 0x80)) return XFER_WRITEFUNC_ERROR;
  return len;
}

static void tl_done(void *ud, int i, XFERcode rc) {
  struct tl *t = ud;
  struct tl_tx *x = &t->tx[i];
  xfer_off_t dl = -1;
  int r = (int)rc;
  x->done = 1;
  x->result = r;
  FZ_CHECK(xfer_easy_getinfo(x->e, XFERINFO_SIZE_DOWNLOAD_T, &dl) == 0 &&
               dl == x->bytes,
           "transfer %d: SIZE_DOWNLOAD %lld, write callback %lld", i,
           (long long)dl, x->bytes);
  if (x->must_fail)
    FZ_CHECK(r == XFERE_PEER_FAILED_VERIFICATION ||
                 r == XFERE_SSL_PINNEDPUBKEYNOTMATCH ||
                 (x->version_clash && r == XFERE_SSL_CONNECT_ERROR) ||
                 r == XFERE_OPERATION_TIMEDOUT,
             "transfer %d: certificate checks must fail, result %d (%s)", i,
             r, x->errbuf);
  else
    FZ_CHECK(r != XFERE_PEER_FAILED_VERIFICATION &&
                 r != XFERE_SSL_PINNEDPUBKEYNOTMATCH &&
                 r != XFERE_SSL_CACERT_BADFILE &&
                 (r != XFERE_SSL_CONNECT_ERROR || x->version_clash),
             "transfer %d: result %d (%s) with a good certificate", i, r,
             x->errbuf);
  FZ_CHECK(r == XFERE_OK || x->errbuf[0], "transfer %d failed (%d) without "
           "a message", i, r);
  if (r == XFERE_OK) {
    const struct tl_req *q;
    FZ_CHECK(x->cur_k >= 0 && x->cur_k < t->nreq, "transfer %d ok, X-K %ld",
             i, x->cur_k);
    q = &t->reqs[x->cur_k];
    FZ_CHECK(q->tx == i, "transfer %d ok with response %ld, which answers "
             "transfer %d", i, x->cur_k, q->tx);
    FZ_CHECK(q->inexact ? x->k_bytes <= q->body : x->k_bytes == q->body,
             "transfer %d ok with %lld body bytes of response %ld, which "
             "has %ld", i, x->k_bytes, x->cur_k, q->body);
  }
}

static void tl_setup_tx(struct tl *t, struct tl_tx *x) {
  static const char *const hosts[4] = {"127.0.0.1", "localhost", "tls.test",
                                       "wrong.test"};
  static const long versions[4] = {
      XFER_SSLVERSION_DEFAULT,
      XFER_SSLVERSION_TLSv1_2 | XFER_SSLVERSION_MAX_TLSv1_2,
      XFER_SSLVERSION_TLSv1_3, XFER_SSLVERSION_TLSv1_2};
  XFER *e = xfer_easy_init();
  int host = x->a & 3, vp = (x->a >> 2) & 1, vh = (x->a >> 3) & 1,
      pin = (x->a >> 4) & 3;
  FZ_CHECK(e != NULL, "easy_init");
  x->e = e;
  x->cur_k = -1;
  snprintf(x->url, sizeof(x->url), "https://%s:%u/r/%d", hosts[host],
           (unsigned)t->port, x->idx);
  snprintf(x->hdr, sizeof(x->hdr), "X-T: %d", x->idx);
  x->headers = xfer_slist_append(NULL, x->hdr);
  x->version_clash = (x->b & 3) == 2 && (t->g0 & 0x20);
  x->must_fail = (vp && pin == 3) || (vh && host == 3) || pin == 2 ||
                 x->version_clash;
#define SET(o, v) \
  FZ_CHECK(xfer_easy_setopt(e, o, v) == XFERE_OK, "setopt %s", #o)
  SET(XFEROPT_URL, x->url);
  SET(XFEROPT_HTTPHEADER, x->headers);
  SET(XFEROPT_RESOLVE, t->resolve);
  SET(XFEROPT_ERRORBUFFER, x->errbuf);
  SET(XFEROPT_WRITEFUNCTION, tl_write_cb);
  SET(XFEROPT_WRITEDATA, (void *)x);
  SET(XFEROPT_HEADERFUNCTION, tl_header);
  SET(XFEROPT_HEADERDATA, (void *)x);
  if (pin == 3) SET(XFEROPT_CAPATH, "/nonexistent/xfer-fuzz");
  else SET(XFEROPT_CAINFO, tl_g.cafile);
  SET(XFEROPT_SSL_VERIFYPEER, (long)vp);
  SET(XFEROPT_SSL_VERIFYHOST, vh ? 2L : 0L);
  if (pin == 1 || pin == 2)
    SET(XFEROPT_PINNEDPUBLICKEY, pin == 1 ? tl_g.pin : tl_g.badpin);
  if (x->a & 0x40) SET(XFEROPT_NOBODY, 1L);
  if (x->a & 0x80) SET(XFEROPT_POSTFIELDS, TL_POST); /* after NOBODY */
  SET(XFEROPT_SSLVERSION, versions[x->b & 3]);
  if (x->b & 4) SET(XFEROPT_SSL_SESSIONID_CACHE, 0L);
  if (x->b & 8) SET(XFEROPT_FORBID_REUSE, 1L);
  if (x->b & 16) SET(XFEROPT_FRESH_CONNECT, 1L);
  if (x->b & 32) {
    SET(XFEROPT_FOLLOWLOCATION, 1L);
    SET(XFEROPT_MAXREDIRS, 3L);
  }
  if (x->b & 64) SET(XFEROPT_TIMEOUT_MS, 200L);
  if (tl_trace) SET(XFEROPT_VERBOSE, 1L);
#undef SET
}

static unsigned tl_budget_ms(void) {
  const char *s = getenv("XFER_FUZZ_BUDGET_MS");
  return s && atoi(s) > 0 ? (unsigned)atoi(s) : TL_BUDGET_MS;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static struct tl *t;
  int i, fds_before;
  char rs[3][64];
  if (size < TL_HDR || size > 4096) return 0;
  if (!tl_g.server) {
    tls_certs_make(&tl_g);
    tl_trace = getenv("XFER_FUZZ_TRACE") != NULL;
  }
  if (!t && !(t = malloc(sizeof(*t)))) abort();
  fds_before = drv_count_fds();
  memset(t, 0, sizeof(*t));
  tl_cur = t;
  t->g0 = data[0];
  t->rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)data[1] << 32);
  t->ntx = (data[0] & 3) + 1;
  t->scripts = data + TL_HDR;
  t->nscripts = (int)((size - TL_HDR) / 4);
  if (t->nscripts > TL_MAX_SCRIPTS) t->nscripts = TL_MAX_SCRIPTS;
  for (i = 0; i < TL_MAX_CONN; i++) t->conn[i].fd = -1;
  t->lfd = drv_listen(0, &t->port);
  FZ_CHECK(t->lfd >= 0, "listen: %s", strerror(errno));
  snprintf(rs[0], sizeof(rs[0]), "localhost:%u:127.0.0.1", (unsigned)t->port);
  snprintf(rs[1], sizeof(rs[1]), "tls.test:%u:127.0.0.1", (unsigned)t->port);
  snprintf(rs[2], sizeof(rs[2]), "wrong.test:%u:127.0.0.1", (unsigned)t->port);
  for (i = 0; i < 3; i++) t->resolve = xfer_slist_append(t->resolve, rs[i]);

  drv_init(&t->d, (data[0] >> 2) & 1, t);
  t->d.on_fd = tl_on_fd;
  t->d.on_done = tl_done;
  t->d.on_wake = tl_on_wake;
  drv_watch(&t->d, t->lfd, DRV_IN);
  if (data[0] & 8)
    FZ_CHECK(xfer_multi_setopt(t->d.m, XFERMOPT_MAX_HOST_CONNECTIONS, 1L) ==
                 XFERM_OK, "max host");
  if (data[0] & 16)
    FZ_CHECK(xfer_multi_setopt(t->d.m, XFERMOPT_MAXCONNECTS, 1L) == XFERM_OK,
             "maxconnects");
  for (i = 0; i < t->ntx; i++) {
    struct tl_tx *x = &t->tx[i];
    x->idx = i;
    x->a = data[2 + 2 * i];
    x->b = data[3 + 2 * i];
    tl_setup_tx(t, x);
    drv_add(&t->d, x->e);
  }
  drv_run(&t->d, tl_budget_ms(), 25);
  if (getenv("XFER_FUZZ_VERBOSE"))
    for (i = 0; i < t->ntx; i++)
      fprintf(stderr, "tls tx%d %s done=%d result=%d requests=%d bytes=%lld "
              "err=\"%s\"\n", i, t->tx[i].url, t->tx[i].done,
              t->tx[i].result, t->tx[i].requests, t->tx[i].bytes,
              t->tx[i].errbuf);
  drv_cleanup(&t->d, (data[0] >> 7) & 1);
  for (i = 0; i < TL_MAX_CONN; i++) tl_close(t, &t->conn[i], 0);
  for (i = 0; i < t->ntx; i++) xfer_slist_free_all(t->tx[i].headers);
  xfer_slist_free_all(t->resolve);
  close(t->lfd);
  tl_cur = NULL;
  ERR_clear_error();
  FZ_CHECK(drv_count_fds() == fds_before, "fds: %d before the run, %d after",
           fds_before, drv_count_fds());
  return 0;
}
