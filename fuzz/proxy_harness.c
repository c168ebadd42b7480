/*
 * proxy_harness.c -- see proxy_harness.h.
 *
 * One transfer (drive.c's loop) to http://origin.test/p (or the literal
 * 127.0.0.3:8080) through a proxy on 127.0.0.1 played by the harness.
 * The proxy reads the client's bytes and checks every message of the
 * handshake; its replies are the input's segments; once the client sends
 * its HTTP request (through the tunnel, or in absolute form to a plain
 * HTTP proxy) the origin's response follows on the same connection.
 * Every new connection replays the script from its start.
 *
 * Input:
 *  [0] f0: SOCKS: bits 0-1 the type (socks4, socks4a, socks5, socks5h);
 *      HTTP: bit 0 a plain proxy (no tunnel: the request in absolute
 *      form), bit 1 SUPPRESS_CONNECT_HEADERS.  Both: bit 2 credentials
 *      (PROXYUSERPWD "fuzz:pw"); bit 3 perform + poll (else socket_action);
 *      bit 4 burst: every segment (and the harness's origin response) is
 *      written at once, else lockstep: segment k after the client's k-th
 *      message (or after 5 ms of its silence); bit 5 stall at the end of
 *      the script (TIMEOUT_MS 40 ends it), else close (shutdown of the
 *      write side, then the client's bytes are drained); bit 6 the last
 *      segment is the origin's response, else the harness sends
 *      FP_ORIGIN; bit 7 the target is the literal 127.0.0.3:8080, else
 *      origin.test (pinned to 127.0.0.3 with RESOLVE, never connected).
 *  [1] f1: bits 0-3 the server writes k ? 1 << (k - 1) : all bytes a
 *      loop turn; bits 4-7 reserved (0).
 *  [2..] segments separated by FP_SEP (at most FP_MAX_SEG): the proxy's
 *      replies, in order, then (bit 6) the origin's response.
 *
 * Invariants (abort):
 *  - the client's messages are well-formed and in order: SOCKS4 CONNECT
 *    with the target's port and address (4a: 0.0.0.1 and the name), the
 *    user id; SOCKS5 hello offering exactly no-auth (and user/password
 *    with credentials), the RFC 1929 request with the credentials, the
 *    CONNECT request with the target (5h and 4a: by name unless it is a
 *    literal); an HTTP CONNECT "host:port HTTP/1.1" with the same Host
 *    and Proxy-Authorization "Basic" exactly when credentials are set; the
 *    request through the tunnel for /p with Host origin.test (or the
 *    literal and port) and no Proxy-Authorization; a plain proxy's
 *    request in absolute form with Proxy-Authorization as for CONNECT;
 *  - SOCKS: the outcome is what a reference reading of the reply bytes
 *    says (RFC 1928/1929, SOCKS4 and libcurl's CURLPX_* codes): a
 *    rejection ends with 97 and that PROXY_ERROR, no request sent
 *    through; a reply cut short ends with 97 CLOSED (close) or 28
 *    (stall); the client sent exactly the messages the replies asked for;
 *    an accepted reply that ends where the origin's response starts
 *    gives 0, the status 200 and FP_ORIGIN's body exactly;
 *  - HTTP: a request through the tunnel only after a 2xx (HTTP_CONNECTCODE
 *    2xx); without one the result is 56 (or 28 when stalled); a clean
 *    "HTTP/1.x 2xx" answer (token: value lines, nothing after the head)
 *    gives 0, its status as HTTP_CONNECTCODE, FP_ORIGIN's body, and its
 *    lines to the header callback unless SUPPRESS_CONNECT_HEADERS;
 *  - always: a failure has an error message, SIZE_DOWNLOAD is what the
 *    write callback got, a 28 only when stalled; the drive.c contract;
 *    no fd leaked.
 */
#include "proxy_harness.h"

#include "drive.h"
#include "xfer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#define FP_SEP "\r\n~~~\r\n"
#define FP_MAX_SEG 8
#define FP_MAX_CONN 4
#define FP_IN_CAP 8192
#define FP_NUDGE_US 5000
#define FP_ORIGIN_BODY "abcdefghijklmnopqrstuvwxyz"
#define FP_ORIGIN                                                          \
  "HTTP/1.1 200 Origin\r\nContent-Length: 26\r\nX-Origin: yes\r\n\r\n"   \
  FP_ORIGIN_BODY
#define FP_AUTH_B64 "ZnV6ejpwdw==" /* fuzz:pw */

enum { FB_CREDS = 4, FB_PERFORM = 8, FB_BURST = 16, FB_STALL = 32,
       FB_ORIGIN_IN = 64, FB_LITERAL = 128 };
enum { FS4 = 0, FS4A, FS5, FS5H };
/* The client's messages, as the proxy sees them. */
enum { M_HELLO = 1, M_AUTH = 2, M_REQ = 4, M_HTTP = 8 };
enum { O_SHORT = 0, O_ACCEPT, O_REJECT };

struct fp_conn {
  int fd;
  uint8_t in[FP_IN_CAP];
  size_t in_len, parsed;
  unsigned msgs;               /* M_* seen */
  int nmsg;                    /* messages seen */
  int seg;                     /* next segment to write */
  int shut;
  uint8_t *out;
  size_t out_len, out_off, out_cap;
  uint64_t armed;               /* the idle check's start, 0: none */
};

struct fp {
  struct drv d;
  int kind, type, lfd;
  uint16_t port;
  uint8_t f0, f1;
  const uint8_t *seg[FP_MAX_SEG];
  size_t seg_len[FP_MAX_SEG];
  int nseg, nreply;            /* segments; of them the proxy's replies */
  size_t piece;
  struct fp_conn c[FP_MAX_CONN];
  int nconn;
  char target[32];             /* "origin.test:80" or the literal's */
  /* the client */
  XFER *e;
  int done;
  XFERcode result;
  char errbuf[XFER_ERROR_SIZE];
  uint8_t body[4096];
  size_t body_len;
  long long wr_total;
  char first_hdr[128];
  int nhdr;
};

/* ---- the reference reading of SOCKS replies ---- */

struct fp_ref {
  int outcome, pxcode;
  size_t used;                 /* bytes an accepted handshake read */
  unsigned msgs;               /* what the client must have sent */
};

static const int fp_rep5[] = {
  0, XFERPX_REPLY_GENERAL_SERVER_FAILURE, XFERPX_REPLY_NOT_ALLOWED,
  XFERPX_REPLY_NETWORK_UNREACHABLE, XFERPX_REPLY_HOST_UNREACHABLE,
  XFERPX_REPLY_CONNECTION_REFUSED, XFERPX_REPLY_TTL_EXPIRED,
  XFERPX_REPLY_COMMAND_NOT_SUPPORTED,
  XFERPX_REPLY_ADDRESS_TYPE_NOT_SUPPORTED};

static struct fp_ref fp_ref_reject(struct fp_ref r, int code) {
  r.outcome = O_REJECT;
  r.pxcode = code;
  return r;
}

static struct fp_ref fp_socks_ref(int type, int creds, const uint8_t *s,
                                  size_t n) {
  struct fp_ref r = {O_SHORT, 0, 0, 0};
  size_t pos = 0, len;
  if (type == FS4 || type == FS4A) {
    r.msgs = M_REQ;
    if (n < 8) return r;
    if (s[0] != 0) return fp_ref_reject(r, XFERPX_BAD_VERSION);
    switch (s[1]) {
    case 90: r.outcome = O_ACCEPT; r.used = 8; r.msgs |= M_HTTP; return r;
    case 91: return fp_ref_reject(r, XFERPX_REQUEST_FAILED);
    case 92: return fp_ref_reject(r, XFERPX_IDENTD);
    case 93: return fp_ref_reject(r, XFERPX_IDENTD_DIFFER);
    default: return fp_ref_reject(r, XFERPX_UNKNOWN_FAIL);
    }
  }
  r.msgs = M_HELLO;
  if (n < 2) return r;
  if (s[0] != 5) return fp_ref_reject(r, XFERPX_BAD_VERSION);
  if (s[1] == 2 && creds) {
    r.msgs |= M_AUTH;
    if (n < 4) return r;
    if (s[3] != 0) return fp_ref_reject(r, XFERPX_USER_REJECTED);
    pos = 4;
  } else if (s[1] == 0) {
    pos = 2;
  } else {
    return fp_ref_reject(r, s[1] == 0xff ? XFERPX_NO_AUTH
                                         : XFERPX_UNKNOWN_MODE);
  }
  r.msgs |= M_REQ;
  if (n < pos + 5) return r;
  if (s[pos] != 5) return fp_ref_reject(r, XFERPX_BAD_VERSION);
  if (s[pos + 1] != 0)
    return fp_ref_reject(r, s[pos + 1] < 9 ? fp_rep5[s[pos + 1]]
                                           : XFERPX_REPLY_UNASSIGNED);
  switch (s[pos + 3]) {
  case 1: len = 10; break;
  case 4: len = 22; break;
  case 3: len = 7 + (size_t)s[pos + 4]; break;
  default: return fp_ref_reject(r, XFERPX_BAD_ADDRESS_TYPE);
  }
  if (n < pos + len) return r;
  r.outcome = O_ACCEPT;
  r.used = pos + len;
  r.msgs |= M_HTTP;
  return r;
}

/* ---- the client's messages ---- */

/* The target's address bytes for SOCKS (127.0.0.3) and port. */
static unsigned fp_port(const struct fp *p) {
  return (p->f0 & FB_LITERAL) ? 8080 : 80;
}

static int fp_by_name(const struct fp *p) {
  return !(p->f0 & FB_LITERAL) && (p->type == FS4A || p->type == FS5H);
}

/* A plain HTTP proxy: no tunnel, the request in absolute form. */
static int fp_plain(const struct fp *p) {
  return p->kind == PROXY_KIND_HTTP && (p->f0 & 1);
}

static const uint8_t FP_IP[4] = {127, 0, 0, 3};

/* Length of the complete SOCKS message at b (n bytes), 0 if incomplete;
 * aborts on a malformed one.  want: what the proxy expects next. */
static size_t fp_socks_msg(const struct fp *p, const uint8_t *b, size_t n,
                           unsigned *kind) {
  int creds = !!(p->f0 & FB_CREDS);
  unsigned port = fp_port(p);
  if (p->type == FS4 || p->type == FS4A) {
    const uint8_t *z;
    size_t need = 9;
    *kind = M_REQ;
    if (n < 9) return 0;
    FZ_CHECK(b[0] == 4 && b[1] == 1, "SOCKS4 request %u %u", b[0], b[1]);
    FZ_CHECK(b[2] == (port >> 8) && b[3] == (port & 255), "SOCKS4 port");
    if (fp_by_name(p))
      FZ_CHECK(!memcmp(b + 4, "\0\0\0\1", 4), "SOCKS4a: not by name");
    else
      FZ_CHECK(!memcmp(b + 4, FP_IP, 4), "SOCKS4: address %u.%u.%u.%u",
               b[4], b[5], b[6], b[7]);
    if (!(z = memchr(b + 8, 0, n - 8))) return 0;
    FZ_CHECK((size_t)(z - (b + 8)) == (creds ? 4u : 0u) &&
                 (!creds || !memcmp(b + 8, "fuzz", 4)),
             "SOCKS4 user id");
    need = (size_t)(z - b) + 1;
    if (!fp_by_name(p)) return need;
    if (!(z = memchr(b + need, 0, n - need))) return 0;
    FZ_CHECK((size_t)(z - (b + need)) == 11 &&
                 !memcmp(b + need, "origin.test", 11), "SOCKS4a name");
    return (size_t)(z - b) + 1;
  }
  if (b[0] == 1) { /* username/password */
    size_t ul, pl;
    *kind = M_AUTH;
    if (n < 2 || n < 3 + (size_t)b[1]) return 0;
    ul = b[1];
    pl = b[2 + ul];
    if (n < 3 + ul + pl) return 0;
    FZ_CHECK(creds && ul == 4 && !memcmp(b + 2, "fuzz", 4) && pl == 2 &&
                 !memcmp(b + 3 + ul, "pw", 2), "SOCKS5 authentication");
    return 3 + ul + pl;
  }
  FZ_CHECK(b[0] == 5, "SOCKS5 message version %u", b[0]);
  return 0; /* the caller tells the hello from the request */
}

static size_t fp_socks5_hello(const struct fp *p, const uint8_t *b, size_t n) {
  int creds = !!(p->f0 & FB_CREDS);
  if (n < 2 || n < 2 + (size_t)b[1]) return 0;
  FZ_CHECK(b[1] == (creds ? 2 : 1) && b[2] == 0 && (!creds || b[3] == 2),
           "SOCKS5 hello offers %u methods", b[1]);
  return 2 + (size_t)b[1];
}

static size_t fp_socks5_req(const struct fp *p, const uint8_t *b, size_t n) {
  unsigned port = fp_port(p);
  size_t alen;
  if (n < 5) return 0;
  FZ_CHECK(b[1] == 1 && b[2] == 0, "SOCKS5 request %u %u", b[1], b[2]);
  if (fp_by_name(p)) {
    FZ_CHECK(b[3] == 3 && b[4] == 11, "SOCKS5h: not by name (%u)", b[3]);
    alen = 1 + 11;
  } else {
    FZ_CHECK(b[3] == 1, "SOCKS5: address type %u", b[3]);
    alen = 4;
  }
  if (n < 4 + alen + 2) return 0;
  if (fp_by_name(p))
    FZ_CHECK(!memcmp(b + 5, "origin.test", 11), "SOCKS5h name");
  else
    FZ_CHECK(!memcmp(b + 4, FP_IP, 4), "SOCKS5 address");
  FZ_CHECK(b[4 + alen] == (port >> 8) && b[5 + alen] == (port & 255),
           "SOCKS5 port");
  return 4 + alen + 2;
}

/* The value of header name in the head h (NUL-terminated), or NULL. */
static const char *fp_header(const char *h, const char *name, size_t *vlen) {
  size_t nl = strlen(name);
  const char *l = strstr(h, "\r\n");
  while (l && l[2] != '\r') {
    l += 2;
    if (!strncasecmp(l, name, nl) && l[nl] == ':') {
      const char *v = l + nl + 1, *end;
      while (*v == ' ') v++;
      end = strstr(v, "\r\n");
      *vlen = (size_t)(end - v);
      return v;
    }
    l = strstr(l, "\r\n");
  }
  return NULL;
}

static void fp_check_head(const struct fp *p, const char *h, int to_proxy) {
  size_t vl = 0;
  const char *v = fp_header(h, "Host", &vl), *k;
  const char *host = (p->f0 & FB_LITERAL) ? "127.0.0.3:8080" : "origin.test";
  int creds = (p->f0 & FB_CREDS) && to_proxy;
  const char *c;
  for (c = h; *c; c++)
    FZ_CHECK((unsigned char)*c >= 32 || *c == '\r' || *c == '\n' ||
                 *c == '\t', "a control byte in a request:\n%s", h);
  if (!strncmp(h, "CONNECT ", 8)) host = p->target;
  FZ_CHECK(v && vl == strlen(host) && !strncmp(v, host, vl),
           "Host is not %s:\n%s", host, h);
  k = fp_header(h, "Proxy-Authorization", &vl);
  FZ_CHECK(!creds == !k, "Proxy-Authorization %s:\n%s",
           creds ? "missing" : "sent", h);
  if (k)
    FZ_CHECK(vl == 6 + strlen(FP_AUTH_B64) && !strncmp(k, "Basic ", 6) &&
                 !strncmp(k + 6, FP_AUTH_B64, strlen(FP_AUTH_B64)),
             "Proxy-Authorization:\n%s", h);
}

/* An HTTP request head: its length, 0 if incomplete. */
static size_t fp_http_msg(struct fp *p, struct fp_conn *c, const uint8_t *b,
                          size_t n, unsigned *kind) {
  char h[FP_IN_CAP + 1], line[96];
  const uint8_t *end = NULL;
  size_t i, len;
  for (i = 0; i + 3 < n; i++)
    if (!memcmp(b + i, "\r\n\r\n", 4)) {
      end = b + i + 4;
      break;
    }
  if (!end) {
    FZ_CHECK(n < FP_IN_CAP - 16, "a request head over %d bytes", FP_IN_CAP);
    return 0;
  }
  len = (size_t)(end - b);
  memcpy(h, b, len);
  h[len] = 0;
  FZ_CHECK(!memchr(b, 0, len), "a NUL in a request:\n%s", h);
  if (p->kind == PROXY_KIND_HTTP && !fp_plain(p) && !(c->msgs & M_REQ)) {
    snprintf(line, sizeof(line), "CONNECT %s HTTP/1.1\r\n", p->target);
    FZ_CHECK(!strncmp(h, line, strlen(line)), "not a CONNECT:\n%s", h);
    *kind = M_REQ;
  } else {
    if (fp_plain(p))
      snprintf(line, sizeof(line), "GET http://%s/p HTTP/1.1\r\n",
               (p->f0 & FB_LITERAL) ? "127.0.0.3:8080" : "origin.test");
    else
      snprintf(line, sizeof(line), "GET /p HTTP/1.1\r\n");
    FZ_CHECK(!strncmp(h, line, strlen(line)), "not %s:\n%s", line, h);
    FZ_CHECK(!(c->msgs & M_HTTP), "a second request on a connection");
    *kind = M_HTTP;
  }
  fp_check_head(p, h, *kind == M_REQ || fp_plain(p));
  return len;
}

/* ---- the proxy ---- */

static void fp_put(struct fp_conn *c, const void *b, size_t n) {
  if (!n) return;
  if (c->out_len + n > c->out_cap) {
    size_t cap = c->out_cap ? c->out_cap * 2 : 1024;
    while (cap < c->out_len + n) cap *= 2;
    if (!(c->out = realloc(c->out, cap))) abort();
    c->out_cap = cap;
  }
  memcpy(c->out + c->out_len, b, n);
  c->out_len += n;
}

/* The script of a connection: the replies, then the origin's response
 * (segment nreply), which waits for the client's HTTP request unless the
 * proxy is a plain one (or in burst mode). */
static int fp_next_ok(const struct fp *p, const struct fp_conn *c) {
  if (c->seg < p->nreply) return 1;
  return c->seg == p->nreply &&
         ((c->msgs & M_HTTP) || fp_plain(p));
}

static void fp_next_seg(struct fp *p, struct fp_conn *c) {
  if (c->seg < p->nreply)
    fp_put(c, p->seg[c->seg], p->seg_len[c->seg]);
  else if (p->f0 & FB_ORIGIN_IN)
    fp_put(c, p->seg[p->nseg - 1], p->seg_len[p->nseg - 1]);
  else
    fp_put(c, FP_ORIGIN, sizeof(FP_ORIGIN) - 1);
  c->seg++;
}

static void fp_wake(struct fp *p, uint64_t at) {
  if (!p->d.wake_at || at < p->d.wake_at) p->d.wake_at = at;
}

static void fp_shut(struct fp_conn *c) {
  /* The write side only, so that the client's last bytes are still read
   * (a close with unread bytes would be a reset). */
  if (c->shut) return;
  shutdown(c->fd, SHUT_WR);
  c->shut = 1;
}

static void fp_flush(struct fp *p, struct fp_conn *c) {
  while (c->out_off < c->out_len) {
    size_t n = c->out_len - c->out_off;
    ssize_t w;
    if (p->piece && n > p->piece) n = p->piece;
    w = send(c->fd, c->out + c->out_off, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EAGAIN) drv_watch(&p->d, c->fd, DRV_IN | DRV_OUT);
      return; /* the client went away: its result says why */
    }
    c->out_off += (size_t)w;
    if (p->piece && c->out_off < c->out_len) {
      fp_wake(p, drv_now()); /* the next piece at the next turn */
      return;
    }
  }
  drv_watch(&p->d, c->fd, DRV_IN);
  if (c->seg > p->nreply && !(p->f0 & FB_STALL)) fp_shut(c);
}

static void fp_message(struct fp *p, struct fp_conn *c, unsigned kind) {
  c->msgs |= kind;
  c->nmsg++;
  if (!(p->f0 & FB_BURST) && fp_next_ok(p, c)) fp_next_seg(p, c);
}

static void fp_parse(struct fp *p, struct fp_conn *c) {
  for (;;) {
    const uint8_t *b = c->in + c->parsed;
    size_t n = c->in_len - c->parsed, used = 0;
    unsigned kind = 0;
    if (!n) return;
    if (c->msgs & M_HTTP) {
      FZ_CHECK(0, "bytes after the request: %.*s", (int)n, (const char *)b);
    } else if (p->kind == PROXY_KIND_HTTP || (c->msgs & M_REQ)) {
      FZ_CHECK(p->kind == PROXY_KIND_HTTP || (c->msgs & M_REQ),
               "a request before the SOCKS handshake");
      used = fp_http_msg(p, c, b, n, &kind);
    } else if (p->type == FS5 || p->type == FS5H) {
      if (!(c->msgs & M_HELLO)) {
        kind = M_HELLO;
        FZ_CHECK(b[0] == 5, "SOCKS5 hello version %u", b[0]);
        used = fp_socks5_hello(p, b, n);
      } else if (b[0] == 1) {
        FZ_CHECK(!(c->msgs & M_AUTH), "a second SOCKS5 authentication");
        used = fp_socks_msg(p, b, n, &kind);
      } else {
        FZ_CHECK(b[0] == 5, "SOCKS5 request version %u", b[0]);
        kind = M_REQ;
        used = fp_socks5_req(p, b, n);
      }
    } else {
      used = fp_socks_msg(p, b, n, &kind);
    }
    if (!used) return;
    c->parsed += used;
    fp_message(p, c, kind);
  }
}

static struct fp_conn *fp_conn_of(struct fp *p, int fd) {
  int i;
  for (i = 0; i < p->nconn; i++)
    if (p->c[i].fd == fd) return &p->c[i];
  return NULL;
}

static void fp_on_fd(void *ud, int fd, unsigned ev) {
  struct fp *p = ud;
  struct fp_conn *c;
  int one = 1;
  if (fd == p->lfd) {
    int s = accept4(p->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (s < 0) return;
    if (p->nconn == FP_MAX_CONN) {
      close(s);
      return;
    }
    c = &p->c[p->nconn++];
    memset(c, 0, sizeof(*c));
    c->fd = s;
    /* Pieces go out as written (Nagle would hold them for an ACK). */
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    drv_watch(&p->d, s, DRV_IN);
    if (p->f0 & FB_BURST)
      while (c->seg <= p->nreply) fp_next_seg(p, c);
    fp_flush(p, c);
    fp_wake(p, drv_now() + FP_NUDGE_US);
    return;
  }
  if (!(c = fp_conn_of(p, fd)) || c->fd < 0) return;
  if (ev & DRV_IN) {
    ssize_t n = recv(fd, c->in + c->in_len, FP_IN_CAP - c->in_len, 0);
    if (n <= 0) {
      if (n < 0 && errno == EAGAIN) return;
      drv_watch(&p->d, fd, 0);
      close(fd);
      c->fd = -1;
      return;
    }
    c->in_len += (size_t)n;
    c->armed = 0;
    fp_parse(p, c);
    FZ_CHECK(c->in_len < FP_IN_CAP, "the client sent over %d bytes",
             FP_IN_CAP);
  }
  fp_flush(p, c);
  if (c->seg <= p->nreply) fp_wake(p, drv_now() + FP_NUDGE_US);
}

/* Pieces, and the script's next step when the client waits: a whole
 * FP_NUDGE_US without an event in the loop (the client runs in it, so a
 * slow machine only stretches this) gives it the next segment (it may wait
 * for more of a reply cut short) or, when the origin's response waits for
 * a request the client will not send, the end: close, or stall. */
static void fp_on_wake(void *ud, uint64_t now) {
  struct fp *p = ud;
  int i;
  for (i = 0; i < p->nconn; i++) {
    struct fp_conn *c = &p->c[i];
    if (c->fd < 0) continue;
    fp_flush(p, c);
    if (c->out_off < c->out_len || c->seg > p->nreply || c->shut) continue;
    if (!c->armed || p->d.last_event > c->armed) {
      c->armed = now; /* something happened: check again later */
      fp_wake(p, now + FP_NUDGE_US);
      continue;
    }
    c->armed = 0;
    if (fp_next_ok(p, c)) {
      fp_next_seg(p, c);
      fp_flush(p, c);
      fp_wake(p, drv_now() + FP_NUDGE_US); /* the next one, or the end */
    } else if (!(p->f0 & FB_STALL)) {
      fp_shut(c);
    }
  }
}

/* The client's last bytes (a request sent just before it failed) may
 * still be unread when its transfer ends. */
static void fp_drain(struct fp *p) {
  int i;
  for (i = 0; i < p->nconn; i++) {
    struct fp_conn *c = &p->c[i];
    ssize_t n;
    while (c->fd >= 0 && c->in_len < FP_IN_CAP &&
           (n = recv(c->fd, c->in + c->in_len, FP_IN_CAP - c->in_len,
                     MSG_DONTWAIT)) > 0) {
      c->in_len += (size_t)n;
      fp_parse(p, c);
    }
  }
}

/* ---- the client ---- */

static size_t fp_write(char *b, size_t size, size_t n, void *ud) {
  struct fp *p = ud;
  size_t len = size * n, k = len;
  if (k > sizeof(p->body) - p->body_len) k = sizeof(p->body) - p->body_len;
  memcpy(p->body + p->body_len, b, k);
  p->body_len += k;
  p->wr_total += (long long)len;
  return len;
}

static size_t fp_hdr(char *b, size_t size, size_t n, void *ud) {
  struct fp *p = ud;
  size_t len = size * n;
  if (!p->nhdr++) {
    size_t k = len < sizeof(p->first_hdr) - 1 ? len : sizeof(p->first_hdr) - 1;
    memcpy(p->first_hdr, b, k);
    p->first_hdr[k] = 0;
  }
  return len;
}

static void fp_done(void *ud, int i, XFERcode rc) {
  struct fp *p = ud;
  (void)i;
  p->done = 1;
  p->result = rc;
}

/* ---- the checks ---- */

/* A CONNECT answer xfer must take: "HTTP/1.x 2xx ...", then token: value
 * lines of printable bytes, and nothing after the empty line.  Its
 * status, or 0. */
static int fp_clean_2xx(const uint8_t *s, size_t n) {
  size_t i = 0, line = 0;
  int status;
  if (n < 16 || n > 2048 || memcmp(s, "HTTP/1.", 7) || (s[7] != '0' &&
      s[7] != '1') || s[8] != ' ' || s[9] != '2' || s[10] < '0' ||
      s[10] > '9' || s[11] < '0' || s[11] > '9' || (s[12] != ' ' &&
      s[12] != '\r'))
    return 0;
  status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
  for (i = 0; i < n; i++) {
    if (s[i] == '\r') {
      if (i + 1 >= n || s[i + 1] != '\n') return 0;
      if (i == line) return i + 2 == n ? status : 0; /* the empty line */
      if (line > 0) { /* a field: token ":" */
        size_t k = line;
        while (k < i && (s[k] == '-' || (s[k] >= 'a' && s[k] <= 'z') ||
                         (s[k] >= 'A' && s[k] <= 'Z') ||
                         (s[k] >= '0' && s[k] <= '9')))
          k++;
        /* Framing fields count for nothing in a 2xx answer to CONNECT
         * (RFC 9110 9.3.6): whatever their values, it is clean. */
        if (k == line || k >= i || s[k] != ':') return 0;
      }
      i++;
      line = i + 1;
    } else if (s[i] < 32 || s[i] > 126) {
      return 0;
    }
  }
  return 0;
}

static size_t fp_replies_len(const struct fp *p, uint8_t *all, size_t cap) {
  size_t n = 0;
  int i;
  for (i = 0; i < p->nreply; i++) {
    size_t k = p->seg_len[i] < cap - n ? p->seg_len[i] : cap - n;
    memcpy(all + n, p->seg[i], k);
    n += k;
  }
  return n;
}

static void fp_check(struct fp *p) {
  static uint8_t all[65536 + 256];
  int stall = !!(p->f0 & FB_STALL), exact = 0;
  unsigned msgs = p->nconn ? p->c[0].msgs : 0;
  size_t n = fp_replies_len(p, all, sizeof(all) - 256);
  long connectcode = 0, code = 0, pxerr = 0;
  xfer_off_t dl = 0;
  if (!p->done) return; /* out of time: nothing to say */
  xfer_easy_getinfo(p->e, XFERINFO_HTTP_CONNECTCODE, &connectcode);
  xfer_easy_getinfo(p->e, XFERINFO_RESPONSE_CODE, &code);
  xfer_easy_getinfo(p->e, XFERINFO_PROXY_ERROR, &pxerr);
  xfer_easy_getinfo(p->e, XFERINFO_SIZE_DOWNLOAD_T, &dl);
  FZ_CHECK(dl == p->wr_total, "SIZE_DOWNLOAD %lld, the write callback got "
           "%lld", (long long)dl, p->wr_total);
  if (p->result != XFERE_OK)
    FZ_CHECK(p->errbuf[0], "result %d without an error message", p->result);
  FZ_CHECK(p->result != XFERE_OPERATION_TIMEDOUT || stall,
           "28 though the proxy closed (%s)", p->errbuf);
  /* Stalled, the 40 ms may run out first on a loaded machine. */
  if (stall && p->result == XFERE_OPERATION_TIMEDOUT) return;
  if (p->kind == PROXY_KIND_SOCKS) {
    struct fp_ref r;
    /* In burst mode the origin's response follows the replies at once. */
    if (p->f0 & FB_BURST) {
      if (p->f0 & FB_ORIGIN_IN) {
        size_t k = p->seg_len[p->nseg - 1];
        if (k > sizeof(all) - n) k = sizeof(all) - n;
        memcpy(all + n, p->seg[p->nseg - 1], k);
        r = fp_socks_ref(p->type, !!(p->f0 & FB_CREDS), all, n + k);
      } else {
        memcpy(all + n, FP_ORIGIN, sizeof(FP_ORIGIN) - 1);
        r = fp_socks_ref(p->type, !!(p->f0 & FB_CREDS), all,
                         n + sizeof(FP_ORIGIN) - 1);
      }
    } else {
      r = fp_socks_ref(p->type, !!(p->f0 & FB_CREDS), all, n);
    }
    FZ_CHECK(p->nconn == 1, "%d connections to the SOCKS proxy", p->nconn);
    if (r.outcome == O_REJECT) {
      FZ_CHECK(p->result == XFERE_PROXY && pxerr == r.pxcode,
               "a rejection: result %d PROXY_ERROR %ld, expected 97 and %d "
               "(%s)", p->result, pxerr, r.pxcode, p->errbuf);
    } else if (r.outcome == O_SHORT) {
      FZ_CHECK(stall ? p->result == XFERE_OPERATION_TIMEDOUT
                     : p->result == XFERE_PROXY && pxerr == XFERPX_CLOSED,
               "a reply cut short: result %d PROXY_ERROR %ld (%s)",
               p->result, pxerr, p->errbuf);
    }
    FZ_CHECK(msgs == r.msgs, "the client sent messages %x, the replies "
               "asked for %x (result %d, %s)", msgs, r.msgs, p->result,
               p->errbuf);
    exact = r.outcome == O_ACCEPT && r.used == n;
  } else if (!(p->f0 & 1)) {
    int clean = fp_clean_2xx(all, n);
    if (msgs & M_HTTP)
      FZ_CHECK(connectcode / 100 == 2, "a request through the tunnel after "
               "CONNECT answered %ld", connectcode);
    else
      FZ_CHECK(p->result == XFERE_RECV_ERROR ||
                   (stall && p->result == XFERE_OPERATION_TIMEDOUT),
               "no tunnel: result %d (%s)", p->result, p->errbuf);
    if (p->result == XFERE_OK)
      FZ_CHECK(connectcode / 100 == 2, "OK after CONNECT answered %ld",
               connectcode);
    if (clean) {
      FZ_CHECK((msgs & M_HTTP) && connectcode == clean,
               "a clean %d answer: HTTP_CONNECTCODE %ld, request %s (%d, "
               "%s)", clean, connectcode, msgs & M_HTTP ? "sent" : "not sent",
               p->result, p->errbuf);
      if (!(p->f0 & FB_ORIGIN_IN))
        FZ_CHECK(!strncmp(p->first_hdr, (p->f0 & 2) ? "HTTP/1.1 200 Origin"
                                                   : (const char *)all, 12),
                 "first header line: %s", p->first_hdr);
    }
    exact = clean != 0;
  } else {
    exact = n == 0; /* the harness's response alone */
  }
  if (exact && !(p->f0 & FB_ORIGIN_IN) && !stall) {
    FZ_CHECK(p->result == XFERE_OK && code == 200 &&
                 p->body_len == sizeof(FP_ORIGIN_BODY) - 1 &&
                 !memcmp(p->body, FP_ORIGIN_BODY, p->body_len),
             "an accepted handshake: result %d, status %ld, %zu body bytes "
             "(%s)", p->result, code, p->body_len, p->errbuf);
  }
}

/* ---- a run ---- */

static int fp_split(struct fp *p, const uint8_t *d, size_t n) {
  const size_t sl = sizeof(FP_SEP) - 1;
  size_t i = 0, start = 0;
  p->nseg = 0;
  while (p->nseg < FP_MAX_SEG) {
    for (i = start; i + sl <= n && memcmp(d + i, FP_SEP, sl); i++)
      ;
    if (i + sl > n) i = n;
    p->seg[p->nseg] = d + start;
    p->seg_len[p->nseg++] = i - start;
    if (i >= n) break;
    start = i + sl;
  }
  p->nreply = p->nseg - ((p->f0 & FB_ORIGIN_IN) ? 1 : 0);
  return 0;
}

int proxy_run(int kind, const uint8_t *data, size_t size) {
  static struct fp *p;
  static const char *const socks_scheme[] = {"socks4", "socks4a", "socks5",
                                             "socks5h"};
  char url[64], proxy[64];
  struct xfer_slist *resolve = NULL;
  int fds_before, i;
  if (size < 2 || size > 65536) return 0;
  if (!p && !(p = malloc(sizeof(*p)))) abort();
  memset(p, 0, sizeof(*p));
  fds_before = drv_count_fds();
  p->kind = kind;
  p->f0 = data[0];
  p->f1 = data[1];
  p->type = data[0] & 3;
  p->piece = (data[1] & 15) ? (size_t)1 << ((data[1] & 15) - 1) : 0;
  fp_split(p, data + 2, size - 2);
  snprintf(p->target, sizeof(p->target), "%s",
           (p->f0 & FB_LITERAL) ? "127.0.0.3:8080" : "origin.test:80");
  p->lfd = drv_listen(0, &p->port);
  FZ_CHECK(p->lfd >= 0, "listen: %s", strerror(errno));
  drv_init(&p->d, !!(p->f0 & FB_PERFORM), p);
  p->d.on_fd = fp_on_fd;
  p->d.on_done = fp_done;
  p->d.on_wake = fp_on_wake;
  drv_watch(&p->d, p->lfd, DRV_IN);
  snprintf(url, sizeof(url), "http://%s/p",
           (p->f0 & FB_LITERAL) ? "127.0.0.3:8080" : "origin.test");
  snprintf(proxy, sizeof(proxy), "%s://127.0.0.1:%u",
           kind == PROXY_KIND_SOCKS ? socks_scheme[p->type] : "http",
           (unsigned)p->port);
  resolve = xfer_slist_append(NULL, "origin.test:80:127.0.0.3");
  p->e = xfer_easy_init();
  FZ_CHECK(p->e && resolve, "easy_init");
  xfer_easy_setopt(p->e, XFEROPT_URL, url);
  xfer_easy_setopt(p->e, XFEROPT_PROXY, proxy);
  xfer_easy_setopt(p->e, XFEROPT_RESOLVE, resolve);
  if (kind == PROXY_KIND_HTTP && !(p->f0 & 1))
    xfer_easy_setopt(p->e, XFEROPT_HTTPPROXYTUNNEL, 1L);
  if (kind == PROXY_KIND_HTTP && (p->f0 & 2))
    xfer_easy_setopt(p->e, XFEROPT_SUPPRESS_CONNECT_HEADERS, 1L);
  if (p->f0 & FB_CREDS) xfer_easy_setopt(p->e, XFEROPT_PROXYUSERPWD, "fuzz:pw");
  xfer_easy_setopt(p->e, XFEROPT_WRITEFUNCTION, fp_write);
  xfer_easy_setopt(p->e, XFEROPT_WRITEDATA, p);
  xfer_easy_setopt(p->e, XFEROPT_HEADERFUNCTION, fp_hdr);
  xfer_easy_setopt(p->e, XFEROPT_HEADERDATA, p);
  xfer_easy_setopt(p->e, XFEROPT_ERRORBUFFER, p->errbuf);
  if (getenv("XFER_FUZZ_TRACE")) xfer_easy_setopt(p->e, XFEROPT_VERBOSE, 1L);
  xfer_easy_setopt(p->e, XFEROPT_TIMEOUT_MS, (p->f0 & FB_STALL) ? 40L : 3000L);
  drv_add(&p->d, p->e);
  drv_run(&p->d, 4000, 500);
  fp_drain(p);
  fp_check(p);
  if (getenv("XFER_FUZZ_VERBOSE"))
    fprintf(stderr, "proxy %s f0=%02x: result %d, %d conns, msgs %x, %zu "
            "body bytes (%s)\n", proxy, p->f0, p->result, p->nconn,
            p->nconn ? p->c[0].msgs : 0, p->body_len, p->errbuf);
  drv_cleanup(&p->d, 0);
  xfer_slist_free_all(resolve);
  for (i = 0; i < p->nconn; i++) {
    if (p->c[i].fd >= 0) close(p->c[i].fd);
    free(p->c[i].out);
  }
  close(p->lfd);
  FZ_CHECK(drv_count_fds() == fds_before, "fds: %d before the run, %d after",
           fds_before, drv_count_fds());
  return 0;
}
