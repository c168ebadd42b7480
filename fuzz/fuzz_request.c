/*
 * fuzz_request.c -- the request writer (http1.c) fed with fuzzed options:
 * the method (CUSTOMREQUEST, any bytes), custom headers (any bytes: CR,
 * LF, control bytes, DEL, spaces in names, "Name:" and "Name;" forms,
 * Host, Content-Length and Transfer-Encoding of the caller's), the body
 * source (POSTFIELDS with or without a size, COPYPOSTFIELDS, POST or
 * UPLOAD from a read callback of known or unknown size) and what the read
 * callback returns (bytes, more than asked, more than the declared size,
 * READFUNC_ABORT, 0 early).  An in-process server on 127.0.0.1 keeps every
 * byte xfer sends and checks it.
 *
 * Input:
 *  [0] f0: bits 0-2 the body: 0 none, 1 POSTFIELDS + POSTFIELDSIZE,
 *      2 POSTFIELDS (its strlen), 3 COPYPOSTFIELDS (size set first),
 *      4 POST from the read callback (POSTFIELDSIZE), 5 UPLOAD (INFILESIZE),
 *      6 POSTFIELDS then UPLOAD (the read callback wins), 7 POST from the
 *      read callback then HTTPGET (back to a GET); bit 3 NOBODY (set
 *      first); bit 4 a second transfer, a plain GET that waits for the
 *      connection (MAX_HOST_CONNECTIONS 1); bit 5 perform + poll (else
 *      socket_action); bit 6 small socket buffers; bit 7 FORBID_REUSE.
 *  [1] the size: 255 unknown (-1), below 200 itself, else 200 +
 *      (s - 200) * 1000 (a POSTFIELDSIZE is kept within the data).
 *  [2..] segments separated by FQ_SEP: the method (empty: none), the
 *      body data (POSTFIELDS, and what the read callback hands out, in a
 *      cycle), the read callback's script (pairs op, arg: op & 3 = 0 give
 *      arg bytes (arg * 64 with op & 4), 1 fill the buffer and return
 *      more than its size, 2 READFUNC_ABORT, 3 return 0; then 0 for
 *      ever), then one custom header per segment (up to 16; a NUL ends
 *      one, as it does for xfer).
 *
 * Invariants (abort): every connection carries a sequence of requests,
 * each a well-formed HTTP/1.1 request -- a token method, a request target
 * that is one of ours ("/r/0", "/r/1"), " HTTP/1.1" CRLF, header lines
 * "token: value" with no CR, LF, NUL, control byte or DEL inside, CRLF
 * only as line ends, at most one Host, never both Content-Length and
 * Transfer-Encoding, at most one of each, Transfer-Encoding only
 * "chunked", a Content-Length of digits -- and its body framed exactly
 * (Content-Length bytes, or strict chunks) with the bytes the
 * application gave, in order (POSTFIELDS whole; a read callback's bytes
 * as returned, none of a return larger than the buffer); only the last
 * request of a connection may be cut short, and nothing follows the
 * first transfer's request but the second transfer's request line (no
 * smuggled request, no body bytes past the framing); each transfer sends
 * at most one request; a transfer that fails with 43 sent nothing; the
 * first transfer ends with 0, 26, 42 or 43 only (3 never: the URL is
 * fine), and with 0 only if its whole body went out (POSTFIELDS whole,
 * the declared size, or everything the callback gave when chunked); the
 * drive.c contract; no fd leaked.
 */
#include <stddef.h>
#include <stdint.h>

#include "drive.h"
#include "xfer.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define FQ_SEP "\n~~\n"
#define FQ_MAX_HDRS 16
#define FQ_MAX_CONN 8
#define FQ_MAX_OPS 32
#define FQ_CAP (1u << 20)
#define FQ_QUIET_US 15000
#define FQ_RESPONSE "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"

enum { SRC_NONE, SRC_FIELDS, SRC_CALLBACK };

struct fq_conn {
  int fd;
  uint8_t *buf;             /* everything received */
  size_t len, parsed;       /* parsed: the start of the open request */
  int nreq;                 /* complete requests */
  size_t answered_at;       /* a quiet fallback answered the open one */
  uint64_t last_rx;
};

struct fq {
  struct drv d;
  uint8_t f0;
  int lfd, ntx;
  uint16_t port;
  XFER *e[2];
  int done[2], result[2], complete[2], partial[2];
  size_t body0;             /* transfer 0's body, when complete */
  char url[2][64], errbuf[2][XFER_ERROR_SIZE];
  struct xfer_slist *headers;
  int src;
  long long declared;       /* the size set: -1 unknown */
  char *fields;             /* POSTFIELDS, NUL-terminated copy */
  size_t fields_len;
  const uint8_t *pool, *ops;
  size_t pool_len, nops, op_at, pool_at;
  uint8_t *given;           /* what the read callback returned, in order */
  size_t given_len, given_cap;
  struct fq_conn conn[FQ_MAX_CONN];
};

struct fq_req {
  int owner, hosts, has_cl, chunked;
  size_t line_end, total, body_len;
  unsigned long long cl;
  const uint8_t *body;
  char why[200];
};

static struct fq *fq_cur;
static uint8_t fq_chunked_body[FQ_CAP];

/* ---- the request parser: 1 complete, 0 cut short, -1 malformed -------- */

static int fq_tchar(uint8_t c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int fq_bad(struct fq_req *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->why, sizeof(r->why), fmt, ap);
  va_end(ap);
  return -1;
}

static int fq_is(const uint8_t *p, size_t n, const char *s) {
  return strlen(s) == n && strncasecmp((const char *)p, s, n) == 0;
}

static int fq_header(struct fq_req *r, const uint8_t *name, size_t nl,
                     const uint8_t *v, size_t vl) {
  size_t i;
  while (vl && (*v == ' ' || *v == '\t')) v++, vl--;
  while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
  if (fq_is(name, nl, "Host")) {
    r->hosts++;
  } else if (fq_is(name, nl, "Content-Length")) {
    if (r->has_cl++) return fq_bad(r, "two Content-Length headers");
    for (i = 0; i < vl; i++) {
      if (v[i] < '0' || v[i] > '9' || r->cl > 100000000ull)
        return fq_bad(r, "Content-Length: %.*s", (int)vl, v);
      r->cl = r->cl * 10 + (unsigned)(v[i] - '0');
    }
    if (!vl) return fq_bad(r, "empty Content-Length");
  } else if (fq_is(name, nl, "Transfer-Encoding")) {
    if (r->chunked++) return fq_bad(r, "two Transfer-Encoding headers");
    if (!fq_is(v, vl, "chunked"))
      return fq_bad(r, "Transfer-Encoding: %.*s", (int)vl, v);
  }
  return 0;
}

/* Strict chunks as xfer writes them: hex size CRLF data CRLF, last 0 CRLF
 * CRLF, no extension, no trailer. */
static int fq_chunks(struct fq_req *r, const uint8_t *p, size_t n, size_t *i) {
  r->body = fq_chunked_body;
  for (;;) {
    size_t size = 0, digits = 0;
    while (*i < n && digits < 9) {
      uint8_t c = p[*i];
      int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f'
              ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (v < 0) break;
      size = size * 16 + (size_t)v;
      digits++;
      (*i)++;
    }
    if (*i + 2 > n) return 0;
    if (!digits || digits > 8 || p[*i] != '\r' || p[*i + 1] != '\n')
      return fq_bad(r, "chunk size line: %.*s", (int)(n - *i < 20 ? n - *i
                                                                : 20),
                    p + *i);
    *i += 2;
    if (size == 0) {
      if (*i + 2 > n) return 0;
      if (p[*i] != '\r' || p[*i + 1] != '\n')
        return fq_bad(r, "trailer or garbage after the last chunk");
      *i += 2;
      return 1;
    }
    if (n - *i < size + 2) return 0;
    if (p[*i + size] != '\r' || p[*i + size + 1] != '\n')
      return fq_bad(r, "chunk of %zu bytes not followed by CRLF", size);
    if (r->body_len + size > FQ_CAP) return fq_bad(r, "chunked body too big");
    memcpy(fq_chunked_body + r->body_len, p + *i, size);
    r->body_len += size;
    *i += size + 2;
  }
}

static int fq_parse(const uint8_t *p, size_t n, struct fq_req *r) {
  static const char ver[] = "HTTP/1.1\r\n";
  size_t i = 0, ts, k;
  memset(r, 0, sizeof(*r));
  r->owner = -1;
  while (i < n && fq_tchar(p[i])) i++;
  if (i == n) return 0;
  if (i == 0 || p[i] != ' ')
    return fq_bad(r, "method is not a token (byte 0x%02x at %zu)", p[i], i);
  ts = ++i;
  while (i < n && p[i] > 0x20 && p[i] < 0x7f) i++;
  if (i == n) return 0;
  if (p[i] != ' ') return fq_bad(r, "byte 0x%02x in the request target", p[i]);
  if (i - ts == 4 && memcmp(p + ts, "/r/", 3) == 0 &&
      (p[ts + 3] == '0' || p[ts + 3] == '1'))
    r->owner = p[ts + 3] - '0';
  else
    return fq_bad(r, "request for %.*s: no transfer's (smuggled?)",
                  (int)(i - ts), p + ts);
  for (k = 0, i++; k < 10; k++, i++) {
    if (i == n) return 0;
    if (p[i] != (uint8_t)ver[k])
      return fq_bad(r, "request line does not end with HTTP/1.1 CRLF");
  }
  r->line_end = i;
  for (;;) {
    size_t ns = i, vs;
    if (i == n) return 0;
    if (p[i] == '\r') {
      if (i + 1 == n) return 0;
      if (p[i + 1] != '\n') return fq_bad(r, "bare CR in the head");
      i += 2;
      break;
    }
    while (i < n && fq_tchar(p[i])) i++;
    if (i == n) return 0;
    if (p[i] != ':' || i == ns)
      return fq_bad(r, "header name is not a token: \"%.*s\" (byte 0x%02x)",
                    (int)(i - ns + 1), p + ns, p[i]);
    vs = ++i;
    while (i < n && (p[i] == '\t' || (p[i] >= 0x20 && p[i] != 0x7f))) i++;
    if (i == n) return 0;
    if (p[i] != '\r')
      return fq_bad(r, "byte 0x%02x in the value of %.*s", p[i],
                    (int)(vs - 1 - ns), p + ns);
    if (i + 1 == n) return 0;
    if (p[i + 1] != '\n') return fq_bad(r, "bare CR in a header line");
    if (fq_header(r, p + ns, vs - 1 - ns, p + vs, i - vs) < 0) return -1;
    i += 2;
  }
  if (r->has_cl && r->chunked)
    return fq_bad(r, "both Content-Length and Transfer-Encoding");
  if (r->hosts > 1) return fq_bad(r, "%d Host headers", r->hosts);
  if (r->chunked) {
    int rc = fq_chunks(r, p, n, &i);
    if (rc <= 0) return rc;
  } else if (r->has_cl) {
    if (n - i < r->cl) return 0;
    r->body = p + i;
    r->body_len = (size_t)r->cl;
    i += (size_t)r->cl;
  }
  r->total = i;
  return 1;
}

/* ---- the server ------------------------------------------------------- */

static void fq_check_body(struct fq *q, const struct fq_req *r) {
  if (r->owner == 1 || q->src == SRC_NONE) {
    FZ_CHECK(r->body_len == 0, "transfer %d has no body, %zu bytes were "
             "framed as one", r->owner, r->body_len);
  } else if (q->src == SRC_FIELDS) {
    FZ_CHECK(r->body_len == q->fields_len &&
                 (!r->body_len ||
                  memcmp(r->body, q->fields, r->body_len) == 0),
             "POSTFIELDS of %zu bytes went out as a body of %zu bytes (or "
             "other bytes)", q->fields_len, r->body_len);
  } else {
    FZ_CHECK(r->body_len <= q->given_len &&
                 (!r->body_len || memcmp(r->body, q->given, r->body_len) == 0),
             "a body of %zu bytes that the read callback did not give "
             "(it gave %zu)", r->body_len, q->given_len);
  }
}

/* The complete requests received on c, answered one by one. */
static void fq_serve(struct fq *q, struct fq_conn *c) {
  for (;;) {
    struct fq_req r;
    int rc = fq_parse(c->buf + c->parsed, c->len - c->parsed, &r);
    FZ_CHECK(rc >= 0, "malformed request on the wire: %s\n--- the "
             "connection's bytes from this request on:\n%.*s", r.why,
             (int)(c->len - c->parsed > 600 ? 600 : c->len - c->parsed),
             c->buf + c->parsed);
    if (rc == 0) break;
    FZ_CHECK(!q->complete[r.owner] && !q->partial[r.owner],
             "transfer %d sent a second request", r.owner);
    FZ_CHECK(r.owner == 1 || c->nreq == 0, "transfer 0's request after "
             "another on the same connection");
    FZ_CHECK(r.owner < q->ntx, "a request for transfer %d", r.owner);
    fq_check_body(q, &r);
    q->complete[r.owner] = 1;
    if (r.owner == 0) q->body0 = r.body_len;
    c->parsed += r.total;
    c->nreq++;
    /* HEAD: the head only.  One send (no Nagle wait for a second one). */
    send(c->fd, FQ_RESPONSE "ok",
         sizeof(FQ_RESPONSE) - 1 +
             (memcmp(c->buf + c->parsed - r.total, "HEAD ", 5) ? 2 : 0),
         MSG_NOSIGNAL);
  }
}

static void fq_read_conn(struct fq *q, struct fq_conn *c) {
  for (;;) {
    ssize_t n;
    if (c->len == FQ_CAP) break; /* checked as far as it goes */
    if (!c->buf) {
      c->buf = malloc(FQ_CAP);
      FZ_CHECK(c->buf != NULL, "oom");
    }
    n = recv(c->fd, c->buf + c->len, FQ_CAP - c->len, 0);
    if (n <= 0) break;
    c->len += (size_t)n;
    c->last_rx = drv_now();
  }
  fq_serve(q, c);
  if (c->parsed < c->len && c->answered_at != c->parsed)
    q->d.wake_at = c->last_rx + FQ_QUIET_US;
}

static void fq_on_fd(void *ud, int fd, unsigned ev) {
  struct fq *q = ud;
  int i;
  (void)ev;
  if (fd == q->lfd) {
    int nfd, one = 1;
    while ((nfd = accept4(q->lfd, NULL, NULL,
                          SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
      for (i = 0; i < FQ_MAX_CONN && q->conn[i].fd >= 0; i++)
        ;
      FZ_CHECK(i < FQ_MAX_CONN, "too many connections");
      setsockopt(nfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      q->conn[i].fd = nfd;
      q->conn[i].answered_at = (size_t)-1;
      drv_watch(&q->d, nfd, DRV_IN);
    }
    return;
  }
  for (i = 0; i < FQ_MAX_CONN; i++)
    if (q->conn[i].fd == fd) fq_read_conn(q, &q->conn[i]);
}

/* Nothing more came for a request cut short: answer it anyway, so that a
 * request whose framing promises more than it sends shows as a success. */
static void fq_on_wake(void *ud, uint64_t now) {
  struct fq *q = ud;
  int i;
  for (i = 0; i < FQ_MAX_CONN; i++) {
    struct fq_conn *c = &q->conn[i];
    if (c->fd < 0 || c->parsed == c->len || c->answered_at == c->parsed)
      continue;
    if (now < c->last_rx + FQ_QUIET_US) {
      q->d.wake_at = c->last_rx + FQ_QUIET_US;
      continue;
    }
    c->answered_at = c->parsed;
    send(c->fd, FQ_RESPONSE "ok", sizeof(FQ_RESPONSE) + 1, MSG_NOSIGNAL);
    c->last_rx = now;
  }
}

/* ---- the client ------------------------------------------------------- */

static size_t fq_write(char *p, size_t size, size_t n, void *ud) {
  (void)p;
  (void)ud;
  return size * n;
}

static void fq_give(struct fq *q, const char *p, size_t n) {
  if (!n) return;
  if (q->given_len + n > q->given_cap) {
    q->given_cap = (q->given_len + n) * 2;
    q->given = realloc(q->given, q->given_cap);
    FZ_CHECK(q->given != NULL, "oom");
  }
  memcpy(q->given + q->given_len, p, n);
  q->given_len += n;
}

static size_t fq_read(char *buf, size_t size, size_t nitems, void *ud) {
  struct fq *q = ud;
  size_t room = size * nitems, n, i;
  uint8_t op, arg;
  FZ_CHECK(q == fq_cur && !q->done[0], "read callback after the end");
  FZ_CHECK(size == 1 && room > 0, "read callback with %zu x %zu", size,
           nitems);
  if (q->op_at >= q->nops) return 0;
  op = q->ops[2 * q->op_at];
  arg = q->ops[2 * q->op_at + 1];
  q->op_at++;
  switch (op & 3) {
  case 0:
    n = (op & 4) ? (size_t)arg * 64 : arg;
    if (n > room) n = room;
    for (i = 0; i < n; i++)
      buf[i] = q->pool_len ? (char)q->pool[q->pool_at++ % q->pool_len] : 'x';
    fq_give(q, buf, n);
    return n;
  case 1:
    memset(buf, '#', room); /* never to be sent */
    return room + 1 + arg;
  case 2:
    return XFER_READFUNC_ABORT;
  default:
    return 0;
  }
}

/* Splits data at FQ_SEP: *seg, *len for segment k (0 when missing). */
static int fq_segment(const uint8_t *d, size_t n, int k, const uint8_t **seg,
                      size_t *len) {
  const size_t sl = sizeof(FQ_SEP) - 1;
  size_t start = 0, i;
  for (i = 0; i + sl <= n && k > 0; i++)
    if (memcmp(d + i, FQ_SEP, sl) == 0) {
      k--;
      start = i + sl;
      i += sl - 1;
    }
  if (k > 0) return 0;
  for (i = start; i + sl <= n && memcmp(d + i, FQ_SEP, sl) != 0; i++)
    ;
  if (i + sl > n) i = n;
  *seg = d + start;
  *len = i - start;
  return 1;
}

static void fq_setup(struct fq *q, const uint8_t *d, size_t n) {
  int mode = q->f0 & 7, k;
  const uint8_t *seg;
  size_t len;
  char *method = NULL;
  XFER *e = xfer_easy_init();
  FZ_CHECK(e != NULL, "easy_init");
  q->e[0] = e;
  if (fq_segment(d, n, 0, &seg, &len) && len) method = fz_strdup(seg, len);
  if (fq_segment(d, n, 1, &seg, &len)) {
    q->pool = seg;
    q->pool_len = len;
  }
  if (fq_segment(d, n, 2, &seg, &len)) {
    q->ops = seg;
    q->nops = len / 2 > FQ_MAX_OPS ? FQ_MAX_OPS : len / 2;
  }
  for (k = 3; k < 3 + FQ_MAX_HDRS && fq_segment(d, n, k, &seg, &len); k++) {
    char *h = fz_strdup(seg, len); /* a NUL inside ends it, as for xfer */
    struct xfer_slist *l = xfer_slist_append(q->headers, h);
    FZ_CHECK(l != NULL, "slist");
    q->headers = l;
    free(h);
  }
  q->fields = fz_strdup(q->pool ? q->pool : (const uint8_t *)"", q->pool_len);
#define SET(o, v) \
  FZ_CHECK(xfer_easy_setopt(e, o, v) == XFERE_OK, "setopt %s", #o)
  SET(XFEROPT_URL, q->url[0]);
  SET(XFEROPT_ERRORBUFFER, q->errbuf[0]);
  SET(XFEROPT_WRITEFUNCTION, fq_write);
  if (q->headers) SET(XFEROPT_HTTPHEADER, q->headers);
  if (method) SET(XFEROPT_CUSTOMREQUEST, method);
  free(method);
  if (q->f0 & 8) SET(XFEROPT_NOBODY, 1L);
  if (q->f0 & 0x80) SET(XFEROPT_FORBID_REUSE, 1L);
  if (mode >= 1 && mode <= 3) {
    long long size = mode == 2 ? -1
                     : q->declared < 0 || (size_t)q->declared > q->pool_len
                         ? (long long)q->pool_len : q->declared;
    q->src = SRC_FIELDS;
    q->fields_len = size < 0 ? strlen(q->fields) : (size_t)size;
    SET(XFEROPT_POSTFIELDSIZE_LARGE, (xfer_off_t)size);
    SET(mode == 3 ? XFEROPT_COPYPOSTFIELDS : XFEROPT_POSTFIELDS, q->fields);
  } else if (mode >= 4) {
    q->src = mode == 7 ? SRC_NONE : SRC_CALLBACK;
    SET(XFEROPT_READFUNCTION, fq_read);
    SET(XFEROPT_READDATA, (void *)q);
    if (mode == 6) SET(XFEROPT_POSTFIELDS, q->fields);
    if (mode == 5 || mode == 6) {
      SET(XFEROPT_UPLOAD, 1L);
      SET(XFEROPT_INFILESIZE_LARGE, (xfer_off_t)q->declared);
    } else {
      SET(XFEROPT_POST, 1L);
      SET(XFEROPT_POSTFIELDSIZE_LARGE, (xfer_off_t)q->declared);
    }
    if (mode == 7) SET(XFEROPT_HTTPGET, 1L);
  }
  if (getenv("XFER_FUZZ_TRACE")) SET(XFEROPT_VERBOSE, 1L);
  if (q->ntx == 2) {
    q->e[1] = e = xfer_easy_init();
    FZ_CHECK(e != NULL, "easy_init");
    SET(XFEROPT_URL, q->url[1]);
    SET(XFEROPT_ERRORBUFFER, q->errbuf[1]);
    SET(XFEROPT_WRITEFUNCTION, fq_write);
    if (getenv("XFER_FUZZ_TRACE")) SET(XFEROPT_VERBOSE, 1L);
  }
#undef SET
}

/* ---- a run ------------------------------------------------------------ */

static void fq_done(void *ud, int i, XFERcode rc) {
  struct fq *q = ud;
  q->done[i] = 1;
  q->result[i] = (int)rc;
}

/* Reads what is left on the server's side (the client is gone). */
static void fq_drain(struct fq *q) {
  int i, round;
  for (round = 0; round < 3; round++) {
    for (i = 0; i < FQ_MAX_CONN; i++)
      if (q->conn[i].fd >= 0) fq_read_conn(q, &q->conn[i]);
    usleep(200);
  }
}

static void fq_final(struct fq *q) {
  static const char next[] = "GET /r/1 HTTP/1.1\r\n";
  int i;
  for (i = 0; i < FQ_MAX_CONN; i++) {
    struct fq_conn *c = &q->conn[i];
    const uint8_t *rest;
    size_t n = c->len - c->parsed;
    struct fq_req r;
    if (c->fd < 0 || n == 0 || c->len == FQ_CAP) continue;
    rest = c->buf + c->parsed;
    fq_parse(rest, n, &r);
    if (c->nreq > 0)
      FZ_CHECK(q->ntx == 2 &&
                   memcmp(rest, next, n < sizeof(next) - 1
                                          ? n : sizeof(next) - 1) == 0,
               "%zu bytes after a complete request that are not the next "
               "transfer's request (smuggled, or a body longer than its "
               "framing):\n%.*s", n, (int)(n > 400 ? 400 : n), rest);
    if (r.line_end && r.owner >= 0) {
      FZ_CHECK(!q->complete[r.owner] && !q->partial[r.owner],
               "transfer %d sent a second request", r.owner);
      q->partial[r.owner] = 1;
    }
  }
  for (i = 0; i < q->ntx; i++) {
    int rc = q->result[i];
    if (!q->done[i]) continue;
    if (rc == XFERE_BAD_FUNCTION_ARGUMENT)
      FZ_CHECK(!q->complete[i] && !q->partial[i], "transfer %d refused (43: "
               "%s) after sending", i, q->errbuf[i]);
    if (rc != XFERE_OK) continue;
    FZ_CHECK(q->complete[i], "transfer %d succeeded but its request was not "
             "complete per its own framing", i);
  }
  if (!q->done[0]) return;
  FZ_CHECK(q->result[0] == XFERE_OK || q->result[0] == XFERE_READ_ERROR ||
               q->result[0] == XFERE_ABORTED_BY_CALLBACK ||
               q->result[0] == XFERE_BAD_FUNCTION_ARGUMENT,
           "transfer 0 ended with %d (%s)", q->result[0], q->errbuf[0]);
  if (q->result[0] == XFERE_OK && q->src == SRC_CALLBACK)
    FZ_CHECK(q->body0 == (q->declared >= 0 ? (size_t)q->declared
                                             : q->given_len),
             "transfer 0 succeeded with a body of %zu bytes; declared %lld, "
             "the read callback gave %zu", q->body0, q->declared,
             q->given_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static struct fq *q;
  int i, fds_before;
  if (size < 2 || size > 70000) return 0;
  if (!q && !(q = malloc(sizeof(*q)))) abort();
  fds_before = drv_count_fds();
  memset(q, 0, sizeof(*q));
  fq_cur = q;
  q->f0 = data[0];
  q->declared = data[1] == 255 ? -1 : data[1] < 200
                ? data[1] : 200 + (long long)(data[1] - 200) * 1000;
  q->ntx = (data[0] & 0x10) ? 2 : 1;
  for (i = 0; i < FQ_MAX_CONN; i++) q->conn[i].fd = -1;
  q->lfd = drv_listen(q->f0 & 0x40, &q->port);
  FZ_CHECK(q->lfd >= 0, "listen: %s", strerror(errno));
  for (i = 0; i < 2; i++)
    snprintf(q->url[i], sizeof(q->url[i]), "http://127.0.0.1:%u/r/%d",
             (unsigned)q->port, i);
  drv_init(&q->d, (data[0] >> 5) & 1, q);
  q->d.on_fd = fq_on_fd;
  q->d.on_done = fq_done;
  q->d.on_wake = fq_on_wake;
  drv_watch(&q->d, q->lfd, DRV_IN);
  if (q->ntx == 2)
    FZ_CHECK(xfer_multi_setopt(q->d.m, XFERMOPT_MAX_HOST_CONNECTIONS, 1L) ==
                 XFERM_OK, "max host");
  fq_setup(q, data + 2, size - 2);
  for (i = 0; i < q->ntx; i++) drv_add(&q->d, q->e[i]);
  drv_run(&q->d, 300, 25);
  fq_drain(q);
  drv_cleanup(&q->d, 0);
  fq_drain(q);
  if (getenv("XFER_FUZZ_VERBOSE"))
    for (i = 0; i < q->ntx; i++)
      fprintf(stderr, "request tx%d done=%d result=%d complete=%d "
              "partial=%d given=%zu err=\"%s\"\n", i, q->done[i],
              q->result[i], q->complete[i], q->partial[i], q->given_len,
              q->errbuf[i]);
  fq_final(q);
  for (i = 0; i < FQ_MAX_CONN; i++) {
    if (q->conn[i].fd >= 0) close(q->conn[i].fd);
    free(q->conn[i].buf);
  }
  close(q->lfd);
  xfer_slist_free_all(q->headers);
  free(q->fields);
  free(q->given);
  fq_cur = NULL;
  FZ_CHECK(drv_count_fds() == fds_before, "fds: %d before the run, %d after",
           fds_before, drv_count_fds());
  return 0;
}
