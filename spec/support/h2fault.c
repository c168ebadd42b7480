/*
 * h2fault.c -- the HTTP/2 fault server of the client's tests: nghttp2's
 * server session answers the ordinary routes; raw frames, written into the
 * same output buffer, do what nghttp2 will not send.  One process, one
 * epoll loop, non-blocking sockets.  A test tool: no sanitizers.
 *
 *   h2fault [-c CERT.pem -k KEY.pem]
 *
 * Listens on 127.0.0.1 (ports chosen by the kernel) and prints one line:
 *   h2c=PORT h2c_ms1=PORT [tls=PORT tls_ms1=PORT]
 * h2c is HTTP/2 with prior knowledge; tls is HTTP/2 over TLS (ALPN "h2"
 * only, a handshake without it is refused); the _ms1 ports advertise
 * SETTINGS_MAX_CONCURRENT_STREAMS 1 (the others 100).  Runs until
 * SIGTERM/SIGINT, EOF on stdin (when stdin is a pipe, fifo, socket or tty)
 * or 2 hours, then exits 0.  H2FAULT_DEBUG=1 logs events to stderr.
 * The routes are listed at the top of h2fault_routes.c.
 */
#include "h2fault.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#define RDSZ 16384
#define READ_BUDGET 8      /* reads per turn: a fast client cannot starve us */
#define OUT_HIGH 65536     /* stop pulling output / reading input above this */
#define DRAIN_MS 2000      /* after our FIN: wait this long for the client's */
#define DEAF_MS 10000      /* /garbage: how long the deaf connection lives */
#define HARD_CAP_MS (2 * 60 * 60 * 1000ULL)

enum { K_LISTEN, K_CONN, K_STDIN };

struct lsn { struct tag tag; int fd, ms1, tls; };

static int epfd;
static SSL_CTX *ctx;
static struct conn *conns, *graveyard;
static volatile sig_atomic_t stop_sig;
static int debug;
static unsigned conn_seq;

void h2f_dbg(const char *fmt, ...) {
  va_list ap;
  if (!debug) return;
  va_start(ap, fmt);
  fputs("h2fault: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

uint64_t h2f_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_signal(int sig) { stop_sig = sig; }

/* ---- buffers ---------------------------------------------------------- */

/* Growth is bounded by the callers: output is pulled only below OUT_HIGH
 * and one pull adds at most a frame. */
int h2f_buf_add(struct buf *b, const void *p, size_t n) {
  if (b->off && b->off == b->len) b->off = b->len = 0;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    uint8_t *d;
    if (b->off) { /* compact first: the consumed head is dead space */
      memmove(b->d, b->d + b->off, b->len - b->off);
      b->len -= b->off;
      b->off = 0;
    }
    while (cap < b->len + n) cap *= 2;
    if (cap != b->cap) {
      if (!(d = realloc(b->d, cap))) return -1;
      b->d = d;
      b->cap = cap;
    }
  }
  if (n) memcpy(b->d + b->len, p, n);
  b->len += n;
  return 0;
}

void h2f_buf_free(struct buf *b) {
  free(b->d);
  memset(b, 0, sizeof(*b));
}

static size_t pending(const struct conn *c) { return c->out.len - c->out.off; }

/* ---- raw frames --------------------------------------------------------- */

void h2f_frame_hdr(struct buf *b, size_t len, uint8_t type, uint8_t flags,
                   int32_t sid) {
  uint8_t h[9];
  h[0] = (uint8_t)(len >> 16);
  h[1] = (uint8_t)(len >> 8);
  h[2] = (uint8_t)len;
  h[3] = type;
  h[4] = flags;
  h[5] = (uint8_t)((uint32_t)sid >> 24 & 0x7f);
  h[6] = (uint8_t)((uint32_t)sid >> 16);
  h[7] = (uint8_t)((uint32_t)sid >> 8);
  h[8] = (uint8_t)sid;
  h2f_buf_add(b, h, 9);
}

/* Follows the frames in nghttp2's output.  A raw frame may go only between
 * two whole frames and never inside a header block: HEADERS..END_HEADERS
 * must be contiguous on the wire, whoever writes it. */
static void track(struct conn *c, const uint8_t *p, size_t n) {
  while (n) {
    if (c->f_left) {
      size_t k = n < c->f_left ? n : c->f_left;
      c->f_left -= k;
      p += k;
      n -= k;
      continue;
    }
    c->fh[c->fh_n++] = *p++;
    n--;
    if (c->fh_n < 9) continue;
    c->fh_n = 0;
    c->f_left = (size_t)c->fh[0] << 16 | (size_t)c->fh[1] << 8 | c->fh[2];
    if (c->fh[3] == NGHTTP2_HEADERS || c->fh[3] == NGHTTP2_PUSH_PROMISE ||
        c->fh[3] == NGHTTP2_CONTINUATION)
      c->in_block = !(c->fh[4] & NGHTTP2_FLAG_END_HEADERS);
  }
}

/* ... and only after nghttp2's SETTINGS, which must open the connection. */
static int at_boundary(const struct conn *c) {
  return c->preface_out && !c->f_left && !c->fh_n && !c->in_block;
}

/* The raw job is over: what the route wanted after it. */
static void raw_done(struct conn *c) {
  struct raw *r = &c->raw;
  h2f_dbg("conn %u: stream %d: raw frames done", c->id, r->sid);
  if (r->then == THEN_DATA_X) {
    h2f_frame_hdr(&c->out, 1, NGHTTP2_DATA, NGHTTP2_FLAG_END_STREAM, r->sid);
    h2f_buf_add(&c->out, "x", 1);
    /* The session still holds the stream open; RST NO_ERROR after a
     * complete response is the usual way to let it go (RFC 9113 8.1). */
    nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, r->sid,
                              NGHTTP2_NO_ERROR);
  } else if (r->then == THEN_CLOSE) {
    c->mute = c->close_after_flush = 1;
  } else if (r->then == THEN_DEAF) {
    c->mute = c->deaf = 1;
    c->until = h2f_now() + DEAF_MS;
  }
  free(r->blk);
  memset(r, 0, sizeof(*r));
}

/* Writes the raw job's next frame(s): the header block as HEADERS then
 * CONTINUATIONs, then the flood's empty CONTINUATIONs, a batch at a time
 * so that memory stays bounded whatever the count. */
static void raw_step(struct conn *c) {
  struct raw *r = &c->raw;
  if (r->plain) {
    h2f_buf_add(&c->out, r->blk, r->len);
    raw_done(c);
  } else if (r->off < r->len) {
    size_t k = r->len - r->off > MAX_FRAME ? MAX_FRAME : r->len - r->off;
    uint8_t flags = r->off ? 0 : (uint8_t)r->hflags;
    if (r->end_headers && r->off + k == r->len)
      flags |= NGHTTP2_FLAG_END_HEADERS;
    h2f_frame_hdr(&c->out, k,
                  r->off ? NGHTTP2_CONTINUATION : NGHTTP2_HEADERS, flags,
                  r->sid);
    h2f_buf_add(&c->out, r->blk + r->off, k);
    r->off += k;
    if (r->off == r->len && !r->flood) raw_done(c);
  } else if (r->flood) {
    unsigned i;
    for (i = 0; i < 1024 && r->flood; i++, r->flood--)
      h2f_frame_hdr(&c->out, 0, NGHTTP2_CONTINUATION, 0, r->sid);
    if (!r->flood) raw_done(c);
  } else {
    raw_done(c);
  }
}

/* ---- connections ------------------------------------------------------ */

static void update_interest(struct conn *c) {
  struct epoll_event e;
  uint32_t ev = 0;
  if (c->ssl && !c->hs_done) {
    ev = c->ssl_ww ? EPOLLOUT : EPOLLIN;
  } else {
    if (c->deaf) ev |= EPOLLRDHUP; /* the client's close is all we want */
    else if (pending(c) < OUT_HIGH || c->ssl_wr) ev |= EPOLLIN;
    if ((pending(c) && !c->ssl_wr) || c->ssl_ww) ev |= EPOLLOUT;
  }
  if (ev == c->events) return;
  memset(&e, 0, sizeof(e));
  e.events = ev;
  e.data.ptr = &c->tag;
  epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e);
  c->events = ev;
}

/* Frees everything of c but its memory, which waits for the end of the
 * epoll batch (an event for c may still be in it). */
static void conn_close(struct conn *c) {
  h2f_dbg("conn %u: closed", c->id);
  nghttp2_session_del(c->h2); /* calls no stream-close callback */
  c->h2 = NULL;
  while (c->streams) h2f_strm_free(c->streams);
  SSL_free(c->ssl);
  c->ssl = NULL;
  close(c->fd);
  h2f_buf_free(&c->out);
  free(c->raw.blk);
  c->raw.blk = NULL;
  c->dead = 1;
  if (c->prev) c->prev->next = c->next;
  else conns = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = NULL;
  c->next = graveyard;
  graveyard = c;
}

/* Our side is done: FIN (after close_notify), then read and drop what the
 * client still sends until its close, so that unread bytes do not turn
 * our close into an RST that could destroy responses in flight. */
static void begin_drain(struct conn *c) {
  h2f_dbg("conn %u: done, draining", c->id);
  if (c->ssl) SSL_shutdown(c->ssl);
  ERR_clear_error();
  shutdown(c->fd, SHUT_WR);
  c->draining = 1;
  c->until = h2f_now() + DRAIN_MS;
}

/* >0 bytes, 0 EOF, -1 try later, -2 error. */
static ssize_t io_read(struct conn *c, void *p, size_t n) {
  ssize_t r;
  if (!c->ssl) {
    r = recv(c->fd, p, n, 0);
    if (r >= 0) return r;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -1 : -2;
  }
  r = SSL_read(c->ssl, p, (int)n);
  if (r > 0) return r;
  switch (SSL_get_error(c->ssl, (int)r)) {
  case SSL_ERROR_WANT_READ: return -1;
  case SSL_ERROR_WANT_WRITE: c->ssl_ww = 1; return -1;
  case SSL_ERROR_ZERO_RETURN: return 0;
  default: ERR_clear_error(); return -2;
  }
}

static ssize_t io_write(struct conn *c, const void *p, size_t n) {
  ssize_t r;
  if (!c->ssl) {
    r = send(c->fd, p, n, MSG_NOSIGNAL);
    if (r >= 0) return r;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -1 : -2;
  }
  c->ssl_ww = c->ssl_wr = 0;
  r = SSL_write(c->ssl, p, (int)(n > INT32_MAX ? INT32_MAX : n));
  if (r > 0) return r;
  switch (SSL_get_error(c->ssl, (int)r)) {
  case SSL_ERROR_WANT_READ: c->ssl_wr = 1; return -1;
  case SSL_ERROR_WANT_WRITE: c->ssl_ww = 1; return -1;
  default: ERR_clear_error(); return -2;
  }
}

/* 1 done, 0 not yet, -1 failed (no ALPN h2, bad client, ...). */
static int handshake(struct conn *c) {
  int r = SSL_accept(c->ssl), e;
  if (r == 1) {
    c->hs_done = 1;
    c->ssl_ww = 0;
    h2f_dbg("conn %u: TLS handshake done", c->id);
    return 1;
  }
  e = SSL_get_error(c->ssl, r);
  c->ssl_ww = e == SSL_ERROR_WANT_WRITE;
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
  h2f_dbg("conn %u: TLS handshake failed", c->id);
  ERR_clear_error();
  return -1;
}

/* Reads at most READ_BUDGET chunks into the session (or drops them while
 * draining).  Returns -1 when the connection is over. */
static int do_read(struct conn *c) {
  uint8_t b[RDSZ];
  int i;
  for (i = 0; i < READ_BUDGET; i++) {
    ssize_t n = io_read(c, b, sizeof(b)), rv;
    if (n == -1) return 0;
    if (n <= 0) {
      h2f_dbg("conn %u: client %s", c->id, n ? "error" : "EOF");
      return -1;
    }
    if (c->draining) continue;
    rv = nghttp2_session_mem_recv(c->h2, b, (size_t)n);
    if (rv < 0) {
      h2f_dbg("conn %u: session: %s", c->id, nghttp2_strerror((int)rv));
      return -1;
    }
    if (c->kill || pending(c) >= OUT_HIGH) return 0;
  }
  c->again = 1; /* budget spent, more may wait */
  return 0;
}

/* Fills the output buffer up to OUT_HIGH from the raw job (when one runs
 * and nghttp2 is between frames) or from nghttp2.  Returns how many bytes
 * it added, -1 on a session error. */
static ssize_t pull_output(struct conn *c) {
  size_t before = pending(c);
  int i;
  for (i = 0; i < 256 && pending(c) < OUT_HIGH; i++) {
    const uint8_t *p;
    ssize_t n;
    if (c->raw.on && at_boundary(c)) {
      raw_step(c);
      continue;
    }
    if (c->mute) break;
    n = nghttp2_session_mem_send(c->h2, &p);
    if (n < 0) return -1;
    if (n == 0) break;
    if (h2f_buf_add(&c->out, p, (size_t)n)) return -1;
    c->preface_out = 1;
    track(c, p, (size_t)n);
  }
  return (ssize_t)(pending(c) - before);
}

/* Writes until the socket is full.  -1 when the connection is gone. */
static int flush_out(struct conn *c) {
  int i;
  for (i = 0; i < 64 && pending(c); i++) {
    ssize_t n = io_write(c, c->out.d + c->out.off, pending(c));
    if (n == -1) return 0;
    if (n < 0) return -1;
    c->out.off += (size_t)n;
  }
  return 0;
}

static int finished(struct conn *c) {
  if (pending(c) || c->raw.on || c->deaf) return 0;
  if (c->close_after_flush) return 1;
  return !nghttp2_session_want_read(c->h2) &&
         !nghttp2_session_want_write(c->h2);
}

/* Everything a connection can do now.  Called on its events, its timers
 * and after anything was submitted to its session. */
void h2f_conn_io(struct conn *c, uint32_t ev) {
  int i;
  c->again = 0;
  if ((ev & (EPOLLHUP | EPOLLERR)) || (c->deaf && (ev & EPOLLRDHUP))) {
    conn_close(c);
    return;
  }
  if (c->ssl && !c->hs_done) {
    int r = handshake(c);
    if (r < 0) { conn_close(c); return; }
    if (r == 0) { update_interest(c); return; }
  }
  if (!c->deaf && pending(c) < OUT_HIGH && do_read(c) < 0) {
    conn_close(c);
    return;
  }
  if (c->kill) { conn_close(c); return; }
  for (i = 0; i < 4; i++) { /* until the socket is full or all is out */
    ssize_t added = c->draining ? 0 : pull_output(c);
    if (added < 0 || flush_out(c) < 0) { conn_close(c); return; }
    if (pending(c) || !added) break;
  }
  if (i == 4) c->again = 1; /* more may be ready: the next turn takes it */
  /* Records OpenSSL holds are invisible to epoll. */
  if (c->ssl && !c->deaf && pending(c) < OUT_HIGH && SSL_pending(c->ssl))
    c->again = 1;
  if (!c->draining && finished(c)) begin_drain(c);
  update_interest(c);
}

static nghttp2_session *new_session(struct conn *c) {
  nghttp2_session_callbacks *cb;
  nghttp2_option *opt;
  nghttp2_session *s = NULL;
  nghttp2_settings_entry iv[1];
  if (nghttp2_session_callbacks_new(&cb)) return NULL;
  if (nghttp2_option_new(&opt)) {
    nghttp2_session_callbacks_del(cb);
    return NULL;
  }
  h2f_set_callbacks(cb);
  /* The window of /upload-starve's request body must stay shut, so the
   * other streams' bodies are consumed by hand (h2fault_routes.c). */
  nghttp2_option_set_no_auto_window_update(opt, 1);
  if (nghttp2_session_server_new2(&s, cb, c, opt) == 0) {
    iv[0].settings_id = NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS;
    iv[0].value = c->ms1 ? 1 : 100;
    nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, iv, 1);
  }
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cb);
  return s;
}

static void on_accept(struct lsn *l) {
  int i;
  for (i = 0; i < 64; i++) {
    struct conn *c;
    struct epoll_event e;
    int one = 1, fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c = calloc(1, sizeof(*c));
    if (c) {
      c->fd = fd;
      c->ms1 = l->ms1;
      c->id = ++conn_seq;
      c->gw_after = -1;
      c->tag.kind = K_CONN;
      c->tag.p = c;
      c->h2 = new_session(c);
    }
    if (c && l->tls && (c->ssl = SSL_new(ctx))) SSL_set_fd(c->ssl, fd);
    memset(&e, 0, sizeof(e));
    e.events = c && c->ssl ? EPOLLIN : EPOLLIN | EPOLLOUT;
    e.data.ptr = c ? &c->tag : NULL;
    if (!c || !c->h2 || (l->tls && !c->ssl) ||
        epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e)) {
      if (c) {
        nghttp2_session_del(c->h2);
        SSL_free(c->ssl);
        free(c);
      }
      close(fd);
      continue;
    }
    c->events = e.events;
    c->next = conns;
    if (conns) conns->prev = c;
    conns = c;
    h2f_dbg("conn %u: accepted (%s%s)", c->id, l->tls ? "tls" : "h2c",
            l->ms1 ? ", max streams 1" : "");
    h2f_conn_io(c, 0);
  }
}

/* ---- timers ----------------------------------------------------------- */

static uint64_t conn_deadline(struct conn *c) {
  uint64_t d = UINT64_MAX;
  struct strm *s;
  if (c->draining || c->deaf) d = c->until;
  if (c->gw_at && c->gw_at < d) d = c->gw_at;
  if (c->ping_at && c->ping_at < d) d = c->ping_at;
  for (s = c->streams; s; s = s->next)
    if (s->tick_at && s->tick_at < d) d = s->tick_at;
  return d;
}

static int next_timeout(void) {
  uint64_t d = UINT64_MAX, now = h2f_now(), t;
  struct conn *c;
  for (c = conns; c; c = c->next) {
    if (c->again) return 0;
    t = conn_deadline(c);
    if (t < d) d = t;
  }
  if (d <= now) return 0;
  return d - now > 1000 ? 1000 : (int)(d - now);
}

static void run_timers(void) {
  uint64_t now = h2f_now();
  struct conn *c, *next;
  int fired;
  for (c = conns; c; c = next) {
    next = c->next;
    if ((c->draining || c->deaf) && now >= c->until) {
      conn_close(c);
      continue;
    }
    /* timers first: a connection always "again" must not starve them */
    fired = !c->draining && h2f_conn_timers(c, now);
    if (fired || c->again) h2f_conn_io(c, 0);
  }
}

/* ---- TLS -------------------------------------------------------------- */

/* No ALPN extension at all: refused here, as the ALPN callback is not
 * called then. */
static int on_client_hello(SSL *ssl, int *al, void *arg) {
  const unsigned char *p;
  size_t n;
  (void)arg;
  if (SSL_client_hello_get0_ext(
          ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &p, &n))
    return SSL_CLIENT_HELLO_SUCCESS;
  *al = SSL_AD_NO_APPLICATION_PROTOCOL;
  return SSL_CLIENT_HELLO_ERROR;
}

static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg) {
  static unsigned char h2[] = "\x02h2";
  unsigned char *sel;
  (void)ssl;
  (void)arg;
  if (SSL_select_next_proto(&sel, outlen, h2, 3, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = sel;
  return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *tls_ctx(const char *cert, const char *key) {
  SSL_CTX *x = SSL_CTX_new(TLS_server_method());
  if (!x || SSL_CTX_use_certificate_chain_file(x, cert) != 1 ||
      SSL_CTX_use_PrivateKey_file(x, key, SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(x) != 1) {
    fprintf(stderr, "h2fault: cannot load %s / %s\n", cert, key);
    ERR_print_errors_fp(stderr);
    SSL_CTX_free(x);
    return NULL;
  }
  SSL_CTX_set_min_proto_version(x, TLS1_2_VERSION); /* RFC 9113 9.2 */
  SSL_CTX_set_mode(x, SSL_MODE_ENABLE_PARTIAL_WRITE |
                          SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_options(x, SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_client_hello_cb(x, on_client_hello, NULL);
  SSL_CTX_set_alpn_select_cb(x, on_alpn, NULL);
  return x;
}

/* ---- main ------------------------------------------------------------- */

static int listen_on(struct lsn *l, int ms1, int tls, int *port) {
  struct sockaddr_in a;
  struct epoll_event e;
  socklen_t len = sizeof(a);
  int one = 1;
  l->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (l->fd < 0) return -1;
  l->ms1 = ms1;
  l->tls = tls;
  l->tag.kind = K_LISTEN;
  l->tag.p = l;
  setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  memset(&e, 0, sizeof(e));
  e.events = EPOLLIN;
  e.data.ptr = &l->tag;
  if (bind(l->fd, (struct sockaddr *)&a, sizeof(a)) || listen(l->fd, 511) ||
      getsockname(l->fd, (struct sockaddr *)&a, &len) ||
      epoll_ctl(epfd, EPOLL_CTL_ADD, l->fd, &e))
    return -1;
  *port = ntohs(a.sin_port);
  return 0;
}

static int stdin_watchable(void) {
  struct stat st;
  if (fstat(0, &st) != 0) return 0;
  return S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || isatty(0);
}

static void reap(void) {
  while (graveyard) {
    struct conn *c = graveyard;
    graveyard = c->next;
    free(c);
  }
}

int main(int argc, char **argv) {
  static struct lsn lsns[4];
  static struct tag stdin_tag = {K_STDIN, NULL};
  static const char *names[4] = {"h2c", "h2c_ms1", "tls", "tls_ms1"};
  const char *cert = NULL, *key = NULL;
  int i, nl, opt, port;
  uint64_t cap;
  struct sigaction sa;
  struct epoll_event e;

  while ((opt = getopt(argc, argv, "c:k:")) != -1) {
    if (opt == 'c') cert = optarg;
    else if (opt == 'k') key = optarg;
    else break;
  }
  if (opt != -1 || optind != argc || !cert != !key) {
    fprintf(stderr, "usage: %s [-c CERT.pem -k KEY.pem]\n", argv[0]);
    return 2;
  }
  debug = getenv("H2FAULT_DEBUG") && *getenv("H2FAULT_DEBUG") == '1';
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  if (cert && !(ctx = tls_ctx(cert, key))) return 1;
  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) { perror("h2fault: epoll_create1"); return 1; }
  nl = ctx ? 4 : 2;
  for (i = 0; i < nl; i++) {
    if (listen_on(&lsns[i], i % 2, i >= 2, &port)) {
      perror("h2fault: listen");
      return 1;
    }
    printf("%s%s=%d", i ? " " : "", names[i], port);
  }
  printf("\n");
  fflush(stdout);
  memset(&e, 0, sizeof(e));
  e.events = EPOLLIN;
  e.data.ptr = &stdin_tag;
  if (stdin_watchable()) epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &e);

  cap = h2f_now() + HARD_CAP_MS;
  while (!stop_sig && h2f_now() < cap) {
    struct epoll_event evs[64];
    int n = epoll_wait(epfd, evs, 64, next_timeout());
    if (n < 0 && errno != EINTR) { perror("h2fault: epoll_wait"); break; }
    for (i = 0; i < n; i++) {
      struct tag *t = evs[i].data.ptr;
      if (t->kind == K_LISTEN) {
        on_accept(t->p);
      } else if (t->kind == K_STDIN) {
        char b[256];
        ssize_t r = read(0, b, sizeof(b));
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
          h2f_dbg("stdin EOF");
          stop_sig = -1;
        }
      } else if (!((struct conn *)t->p)->dead) {
        h2f_conn_io(t->p, evs[i].events);
      }
    }
    reap();
    run_timers();
    reap();
  }
  while (conns) conn_close(conns);
  reap();
  for (i = 0; i < nl; i++) close(lsns[i].fd);
  close(epfd);
  SSL_CTX_free(ctx);
  return 0;
}
