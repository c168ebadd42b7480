/*
 * http2.c -- the HTTP/2 protocol handler (proto.h) on nghttp2: many
 * transfers on one connection, a stream each.
 *
 * nghttp2 owns the framing, HPACK and flow control; this file connects
 * its session to the filter chain (bytes in and out), to the request of
 * request.h (straight into name/value pairs) and to the transfer's
 * response calls (xfer__resp_*), which see header lines as libcurl
 * delivers them for HTTP/2 ("HTTP/2 200 \r\n", lowercase names).
 *
 * Flow control is pause: the window of a stream is given back (WINDOW_
 * UPDATE) only for bytes the application took, so a paused or rate-
 * limited stream stops at its window while the others go on; the
 * connection's window is given back at once.  What a paused stream
 * receives within its window is held by pause.c, never more.
 *
 * Output is batched: a request is submitted to the session, and the
 * connection is flushed once per driving call (conn.c's flush queue) or
 * at the end of a socket event, so a turn that starts fifty streams costs
 * one send.
 *
 * Application callbacks run from inside nghttp2's callbacks (as the
 * HTTP/1.1 parser calls them); every one may end its own or another
 * transfer, which detaches that stream (RST_STREAM, user data cleared).
 * Nothing here touches a stream after such a call without looking it up
 * again, and the connection is held by the frame that drives the session.
 */

#include "xfer_int.h"

#include <nghttp2/nghttp2.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A stream's receive window.  Large enough for full speed on one stream
 * (W11 measures it); what a paused stream can still receive is at most
 * this, held in pause.c (whose bound is 8 MiB). */
#define H2_STREAM_WINDOW (4 << 20)
/* The connection's window: given back at once, it only has to cover the
 * streams' windows in flight. */
#define H2_CONN_WINDOW (64 << 20)
/* A response's header list, decoded (libcurl's and the HTTP/1 parser's
 * limit): over it, the stream fails with HTTP2_STREAM (92). */
#define H2_HEADER_LIST_MAX (100 * 1024)
/* One header block on the wire (HEADERS and its CONTINUATIONs): past
 * these the peer is abusing the protocol and the connection fails with
 * HTTP2 (16), whatever nghttp2's own limits are. */
#define H2_HEADER_BLOCK_MAX (1 << 20)
#define H2_HEADER_BLOCK_FRAMES 256
/* Output gathered before one send. */
#define H2_OUT_CHUNK (64 * 1024)

struct h2;

struct h2_stream {
  struct xfer_queue link;      /* h2->streams */
  struct xfer_queue tlink;     /* h2->touched, during an event */
  XFER *e;
  int32_t id;
  int status;                  /* of the header block being received */
  size_t hdr_bytes;            /* of the response's header list */
  size_t unacked;              /* delivered while receiving was blocked:
                                  its window is given back on resume */
  xfer_off_t content_length;
  unsigned got_final : 1;      /* the final (non-1xx) header block came */
  unsigned remote_done : 1;    /* END_STREAM received */
  unsigned closed : 1;         /* nghttp2 closed the stream */
  unsigned sent_headers : 1;   /* our HEADERS went out */
  unsigned sent_all : 1;       /* our END_STREAM went out */
  unsigned deferred : 1;       /* the body's data source waits */
};

struct h2 {
  nghttp2_session *s;
  struct xfer_conn *c;
  struct xfer_queue streams;   /* every stream carried */
  struct xfer_queue touched;   /* streams that received bytes this event */
  char *out;                   /* output nghttp2 made that is not sent */
  size_t out_len, out_off, out_cap;
  char *line;                  /* a header line for the callback */
  size_t line_cap;
  size_t block_bytes;
  unsigned block_frames;
  XFERcode conn_error;         /* set by a callback that broke the session */
  const char *conn_error_msg;
  char lib_error[96];          /* nghttp2's word on a protocol error */
  unsigned goaway : 1;         /* GOAWAY received: no new streams */
  unsigned dead : 1;           /* failed: never used again */
  unsigned settings_seen : 1;  /* the server's SETTINGS came: its stream
                                  limit may have changed */
};

static struct h2_stream *stream_of(struct h2 *h, int32_t id) {
  return id ? nghttp2_session_get_stream_user_data(h->s, id) : NULL;
}

/* ---- output ---- */

static int out_reserve(struct h2 *h, size_t more) {
  size_t need = h->out_len + more, cap;
  char *p;
  if (need <= h->out_cap) return 0;
  cap = h->out_cap ? h->out_cap : 16384;
  while (cap < need) cap *= 2;
  if (!(p = realloc(h->out, cap))) return -1;
  h->out = p;
  h->out_cap = cap;
  return 0;
}

/* Sends what nghttp2 has to say, as far as the socket takes it, within
 * the event budget.  0, or an XFERcode for the connection. */
static XFERcode flush_out(struct h2 *h) {
  struct xfer_conn *c = h->c;
  size_t budget = XFER_EVENT_BUDGET;
  for (;;) {
    if (h->out_off == h->out_len) {
      h->out_off = h->out_len = 0;
      /* Gather frames into one send (requests of a turn, window
       * updates, acknowledgements). */
      while (h->out_len < H2_OUT_CHUNK && !c->closing) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(h->s, &data);
        if (n < 0) {
          h->conn_error_msg = nghttp2_strerror((int)n);
          return XFERE_HTTP2;
        }
        if (n == 0) break;
        if (out_reserve(h, (size_t)n)) return XFERE_OUT_OF_MEMORY;
        memcpy(h->out + h->out_len, data, (size_t)n);
        h->out_len += (size_t)n;
      }
      if (!h->out_len || c->closing) return XFERE_OK;
    }
    if (!budget) return XFERE_OK; /* the socket is still writable */
    {
      size_t ask = h->out_len - h->out_off;
      ssize_t n;
      if (ask > budget) ask = budget;
      n = xfer__conn_send(c, h->out + h->out_off, ask);
      if (n == XFER_IO_AGAIN) {
        return XFERE_OK;
      }
      if (n < 0) {
        h->conn_error_msg = c->secure && !errno ? "TLS error" : strerror(errno);
        return XFERE_SEND_ERROR;
      }
      h->out_off += (size_t)n;
      budget -= (size_t)n;
    }
  }
}

static int out_pending(struct h2 *h) {
  return h->out_off < h->out_len || nghttp2_session_want_write(h->s);
}

/* The socket interest: reading while the session wants to, writing while
 * output waits, and what the filters need. */
static void watch(struct xfer_conn *c, struct h2 *h) {
  int want = xfer__conn_io_want(c);
  if (c->closing || c->fd < 0) return;
  if (nghttp2_session_want_read(h->s)) want |= XFER_POLL_IN;
  if (out_pending(h)) want |= XFER_POLL_OUT; /* EAGAIN, or the budget */
  if (xfer__sock_want(c->multi, c->fd, XFER_SOCK_CONN, c, c->easy, want)) {
    h->dead = 1;
    if (!h->conn_error) h->conn_error = XFERE_OUT_OF_MEMORY;
  }
}

/* ---- failing ---- */

/* A stream ends with code (its transfer fails; nothing else does). */
static void fail_stream(struct h2_stream *s, XFERcode code, const char *msg) {
  XFER *e = s->e;
  if (!e) return;
  if (msg) xfer__fail(e, "%s", msg);
  xfer__done(e, code); /* detaches s: RST_STREAM unless closed */
}

/* The connection is unusable: every transfer on it fails, except those
 * the server never saw, which are sent again once elsewhere. */
static void fail_all(struct h2 *h, XFERcode code, const char *why) {
  h->dead = 1;
  while (!xfer_queue_empty(&h->streams)) {
    struct h2_stream *s = xfer_queue_data(xfer_queue_head(&h->streams),
                                          struct h2_stream, link);
    XFER *e = s->e;
    if (!s->sent_headers || (!e->got_bytes && code != XFERE_OUT_OF_MEMORY)) {
      char msg[160];
      snprintf(msg, sizeof(msg), "HTTP/2 connection failed before the "
               "response: %s", why ? why : "error");
      xfer__verbose(e, "%s", msg);
      xfer__xfer_refused(e, code, msg);
    } else {
      xfer__fail(e, "HTTP/2 connection failed: %s", why ? why : "error");
      xfer__done(e, code);
    }
    /* both detach s (and unlink it), or the transfer is re-run */
    if (!xfer_queue_empty(&h->streams) &&
        xfer_queue_data(xfer_queue_head(&h->streams), struct h2_stream,
                        link) == s) {
      xfer_queue_remove(&s->link); /* never loop on one */
    }
  }
}

/* ---- the response ---- */

/* A call into the transfer that can run an application callback holds e
 * (xfer__hold), so that a cleanup of e from inside it is finished when it
 * returns; then: 1 when the caller must stop touching e and its stream. */
static int let_go(XFER *e, struct xfer_conn *c) {
  int gone = xfer__gone(e, c);
  return xfer__unhold(e) || gone;
}

/* Gives a header line to the transfer: "name: value\r\n" from nghttp2's
 * pieces, in the connection's line buffer. */
static int header_line(struct h2 *h, XFER *e, const uint8_t *name,
                       size_t nlen, const uint8_t *value, size_t vlen) {
  size_t len = nlen + vlen + 4;
  char *p;
  if (len > h->line_cap) {
    size_t cap = h->line_cap ? h->line_cap : 256;
    while (cap < len) cap *= 2;
    if (!(p = realloc(h->line, cap))) return XFERE_OUT_OF_MEMORY;
    h->line = p;
    h->line_cap = cap;
  }
  p = h->line;
  memcpy(p, name, nlen);
  p[nlen] = ':';
  p[nlen + 1] = ' ';
  memcpy(p + nlen + 2, value, vlen);
  p[nlen + 2 + vlen] = '\r';
  p[nlen + 3 + vlen] = '\n';
  return xfer__resp_header(e, h->line, len, h->line, nlen, h->line + nlen + 2,
                           vlen);
}

static int on_header(nghttp2_session *ss, const nghttp2_frame *f,
                     const uint8_t *name, size_t nlen, const uint8_t *value,
                     size_t vlen, uint8_t flags, void *ud) {
  struct h2 *h = ud;
  struct h2_stream *s = stream_of(h, f->hd.stream_id);
  struct xfer_conn *c = h->c;
  XFER *e;
  int rc;
  (void)ss;
  (void)flags;
  if (!s || !(e = s->e) || f->hd.type != NGHTTP2_HEADERS) return 0;
  /* RFC 9113's accounting: 32 bytes a field besides name and value. */
  s->hdr_bytes += nlen + vlen + 32;
  if (s->hdr_bytes > H2_HEADER_LIST_MAX) {
    fail_stream(s, XFERE_HTTP2_STREAM,
                "HTTP/2 response header list over the limit (100 KiB)");
    return 0;
  }
  xfer__resp_started(e);
  if (nlen == 7 && memcmp(name, ":status", 7) == 0) {
    char line[32];
    int n;
    s->status = (int)(value[0] - '0') * 100 + (value[1] - '0') * 10 +
                (value[2] - '0'); /* three digits: nghttp2 checked */
    n = snprintf(line, sizeof(line), "HTTP/2 %d \r\n", s->status);
    xfer__hold(e);
    rc = xfer__resp_header(e, line, (size_t)n, NULL, 0, NULL, 0);
  } else if (nlen && name[0] == ':') {
    return 0;
  } else {
    if (!s->got_final && nlen == 14 && memcmp(name, "content-length", 14) == 0) {
      xfer_off_t v = 0;
      size_t i;
      for (i = 0; i < vlen && i < 18; i++) v = v * 10 + (value[i] - '0');
      s->content_length = v; /* digits only: nghttp2 checked */
    }
    xfer__hold(e);
    rc = header_line(h, e, name, nlen, value, vlen);
  }
  if (let_go(e, c)) return 0;
  if (rc) fail_stream(s, (XFERcode)rc, NULL);
  return 0;
}

/* The response is complete: done, or once held pieces are delivered. */
static void complete(struct h2_stream *s) {
  XFER *e = s->e;
  s->remote_done = 1;
  if (!s->got_final) {
    fail_stream(s, XFERE_HTTP2_STREAM, "HTTP/2 stream ended without a response");
    return;
  }
  if (xfer__recv_blocked(e)) {
    e->finish_held = 1; /* pause.c completes it on resume */
    return;
  }
  xfer__resp_complete(e);
}

/* The end of a header block: the blank line, and for the final response
 * the headers-done call; trailers end with no blank line (as libcurl). */
static void headers_end(struct h2 *h, struct h2_stream *s, int end_stream) {
  struct xfer_conn *c = h->c;
  XFER *e = s->e;
  int rc = 0;
  if (s->got_final) { /* trailers */
    if (end_stream) complete(s);
    return;
  }
  xfer__hold(e);
  rc = xfer__resp_header(e, "\r\n", 2, NULL, 0, NULL, 0);
  if (let_go(e, c)) return;
  if (!rc && s->status >= 200) {
    s->got_final = 1;
    rc = xfer__resp_headers_done(e, s->status,
                                 s->content_length >= 0 ? s->content_length
                                                        : -1);
    if (xfer__gone(e, c)) return;
  } else if (!rc) {
    s->content_length = -1; /* a 1xx: the final response follows */
  }
  if (rc) {
    fail_stream(s, (XFERcode)rc, NULL);
    return;
  }
  if (end_stream) complete(s);
}

static int on_frame_recv(nghttp2_session *ss, const nghttp2_frame *f,
                         void *ud) {
  struct h2 *h = ud;
  struct h2_stream *s;
  int end_stream = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  (void)ss;
  switch (f->hd.type) {
  case NGHTTP2_HEADERS:
    if ((s = stream_of(h, f->hd.stream_id)) && s->e) headers_end(h, s, end_stream);
    break;
  case NGHTTP2_DATA:
    if (end_stream && (s = stream_of(h, f->hd.stream_id)) && s->e) complete(s);
    break;
  case NGHTTP2_GOAWAY:
    /* nghttp2 closes the streams above last_stream_id (REFUSED_STREAM:
     * sent again elsewhere); the others finish. */
    h->goaway = 1;
    break;
  case NGHTTP2_SETTINGS:
    if (!(f->hd.flags & NGHTTP2_FLAG_ACK)) h->settings_seen = 1;
    break;
  default:
    break;
  }
  return 0;
}

static int on_data_chunk(nghttp2_session *ss, uint8_t flags, int32_t id,
                         const uint8_t *data, size_t len, void *ud) {
  struct h2 *h = ud;
  struct h2_stream *s = stream_of(h, id);
  struct xfer_conn *c = h->c;
  XFER *e;
  int rc;
  (void)flags;
  nghttp2_session_consume_connection(ss, len);
  if (!s || !(e = s->e)) {
    nghttp2_session_consume_stream(ss, id, len);
    return 0;
  }
  xfer__resp_started(e);
  xfer__hold(e);
  rc = xfer__resp_body(e, (const char *)data, len);
  if (let_go(e, c)) return 0;
  if (rc) {
    fail_stream(s, (XFERcode)rc, NULL);
    return 0;
  }
  xfer__rate_check(e);
  /* The window moves only with what the application took. */
  if (xfer__recv_blocked(e)) s->unacked += len;
  else nghttp2_session_consume_stream(ss, id, len);
  if (!xfer_queue_linked(&s->tlink))
    xfer_queue_insert_tail(&h->touched, &s->tlink);
  return 0;
}

static int on_stream_close(nghttp2_session *ss, int32_t id, uint32_t code,
                           void *ud) {
  struct h2 *h = ud;
  struct h2_stream *s = stream_of(h, id);
  XFER *e;
  char msg[96];
  (void)ss;
  if (!s || !(e = s->e)) return 0;
  s->closed = 1;
  if (s->remote_done) return 0; /* the response was complete (or held) */
  switch (code) {
  case NGHTTP2_NO_ERROR:
    fail_stream(s, XFERE_HTTP2_STREAM, "HTTP/2 stream closed before the end");
    return 0;
  case NGHTTP2_REFUSED_STREAM:
    /* Not processed by the server (GOAWAY, or its stream limit). */
    if (!e->got_bytes) {
      xfer__xfer_refused(e, XFERE_HTTP2_STREAM, "the server refused the "
                         "HTTP/2 stream (REFUSED_STREAM, or above its GOAWAY)");
      return 0;
    }
    break;
  case NGHTTP2_HTTP_1_1_REQUIRED:
    if (!e->got_bytes && !e->h1_only) {
      xfer__verbose(e, "the server requires HTTP/1.1: sending it again so");
      e->h1_only = 1;
      h->c->host->h1_required = 1; /* and the origin's next ones */
      xfer__xfer_refused(e, XFERE_HTTP2_STREAM,
                         "the server requires HTTP/1.1 (HTTP_1_1_REQUIRED)");
      return 0;
    }
    break;
  default: /* ENHANCE_YOUR_CALM among them: never retried */
    break;
  }
  snprintf(msg, sizeof(msg), "HTTP/2 stream %d was reset: %s (%u)", (int)id,
           nghttp2_http2_strerror(code), (unsigned)code);
  fail_stream(s, XFERE_HTTP2_STREAM, msg);
  return 0;
}

static int on_frame_send(nghttp2_session *ss, const nghttp2_frame *f,
                         void *ud) {
  struct h2 *h = ud;
  struct h2_stream *s;
  (void)ss;
  if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) return 0;
  if (!(s = stream_of(h, f->hd.stream_id)) || !s->e) return 0;
  if (f->hd.type == NGHTTP2_HEADERS) s->sent_headers = 1;
  if ((f->hd.flags & NGHTTP2_FLAG_END_STREAM) && !s->sent_all) {
    s->sent_all = 1;
    xfer__req_sent(s->e);
  }
  return 0;
}

static int on_frame_not_send(nghttp2_session *ss, const nghttp2_frame *f,
                             int err, void *ud) {
  struct h2 *h = ud;
  struct h2_stream *s;
  (void)ss;
  (void)err;
  /* A request that could not open its stream (GOAWAY came, stream ids
   * ran out): the server never saw it. */
  if (f->hd.type == NGHTTP2_HEADERS && (s = stream_of(h, f->hd.stream_id)) &&
      s->e && !s->sent_headers)
    xfer__xfer_refused(s->e, XFERE_HTTP2_STREAM, "the HTTP/2 request could "
                       "not be sent: the connection is going away");
  return 0;
}

/* The wire size of header blocks, against floods of CONTINUATION frames
 * and blocks no sane server sends, whatever nghttp2's version checks. */
static int on_begin_frame(nghttp2_session *ss, const nghttp2_frame_hd *hd,
                          void *ud) {
  struct h2 *h = ud;
  (void)ss;
  if (hd->type == NGHTTP2_HEADERS || hd->type == NGHTTP2_PUSH_PROMISE) {
    h->block_bytes = hd->length;
    h->block_frames = 1;
  } else if (hd->type == NGHTTP2_CONTINUATION) {
    h->block_bytes += hd->length;
    h->block_frames++;
  } else {
    return 0;
  }
  if (h->block_bytes > H2_HEADER_BLOCK_MAX ||
      h->block_frames > H2_HEADER_BLOCK_FRAMES) {
    h->conn_error = XFERE_HTTP2;
    h->conn_error_msg = h->block_frames > H2_HEADER_BLOCK_FRAMES
                            ? "a header block in too many CONTINUATION frames"
                            : "a header block over 1 MiB";
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  }
  return 0;
}

/* Keeps nghttp2's reason for a protocol error, for the message. */
static int on_error(nghttp2_session *ss, int code, const char *msg,
                    size_t len, void *ud) {
  struct h2 *h = ud;
  (void)ss;
  (void)code;
  if (!h->lib_error[0])
    snprintf(h->lib_error, sizeof(h->lib_error), "%.*s",
             (int)(len < 90 ? len : 90), msg);
  return 0;
}

/* ---- the request ---- */

/* The body, for nghttp2's data source: from memory, or the reader (the
 * read callback), which may pause (deferred until resume). */
static ssize_t read_body(nghttp2_session *ss, int32_t id, uint8_t *buf,
                         size_t len, uint32_t *flags, nghttp2_data_source *src,
                         void *ud) {
  struct h2 *h = ud;
  struct h2_stream *s = stream_of(h, id);
  struct xfer_conn *c = h->c;
  XFER *e;
  ssize_t n;
  int eos = 0;
  (void)ss;
  (void)src;
  if (!s || !(e = s->e)) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  if (xfer__send_blocked(e)) {
    s->deferred = 1;
    return NGHTTP2_ERR_DEFERRED;
  }
  xfer__hold(e);
  n = xfer__reader_read(&e->reader, (char *)buf, len, &eos);
  if (let_go(e, c) || stream_of(h, id) != s)
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  if (n == XFER_READ_PAUSE) {
    s->deferred = 1;
    return NGHTTP2_ERR_DEFERRED;
  }
  if (n < 0) {
    fail_stream(s, (XFERcode)-n, NULL);
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  if (n > 0) {
    e->size_ul += n;
    if (e->set.verbose || e->set.debugfn)
      xfer__debug(e, XFERINFO_DATA_OUT, (const char *)buf, (size_t)n);
    xfer__rate_check(e);
  }
  if (eos || !n) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return n;
}

/* Connection-specific fields have no place in HTTP/2 (RFC 9113 8.2.2). */
static int connection_specific(const struct xfer_hdr *f) {
  static const char *const names[] = {"connection", "keep-alive",
                                      "proxy-connection", "transfer-encoding",
                                      "upgrade", "host", NULL};
  int i;
  for (i = 0; names[i]; i++)
    if (strlen(names[i]) == f->nlen &&
        xfer__strcasecmp_n(f->name, names[i], f->nlen) == 0)
      return 1;
  return f->nlen == 2 && xfer__strcasecmp_n(f->name, "te", 2) == 0 &&
         !(f->vlen == 8 && xfer__strcasecmp_n(f->value, "trailers", 8) == 0);
}

static void nv_set(nghttp2_nv *nv, const char *name, size_t nlen,
                   const char *value, size_t vlen) {
  nv->name = (uint8_t *)name;
  nv->namelen = nlen;
  nv->value = (uint8_t *)value;
  nv->valuelen = vlen;
  nv->flags = NGHTTP2_NV_FLAG_NONE;
}
#define NV(nv_, n_, nl_, v_, vl_) nv_set((nv_), (n_), (nl_), (v_), (vl_))

/* What VERBOSE shows of a request: its fields as lines. */
static void debug_request(XFER *e, const nghttp2_nv *nva, size_t n) {
  size_t i, len = 0;
  char *buf, *p;
  for (i = 0; i < n; i++) len += nva[i].namelen + nva[i].valuelen + 4;
  if (!(p = buf = malloc(len + 3))) return;
  for (i = 0; i < n; i++) {
    memcpy(p, nva[i].name, nva[i].namelen);
    p += nva[i].namelen;
    *p++ = ':';
    *p++ = ' ';
    memcpy(p, nva[i].value, nva[i].valuelen);
    p += nva[i].valuelen;
    *p++ = '\r';
    *p++ = '\n';
  }
  *p++ = '\r';
  *p++ = '\n';
  e->request_size += (long)(p - buf);
  xfer__debug(e, XFERINFO_HEADER_OUT, buf, (size_t)(p - buf));
  free(buf);
}

/* The request as name/value pairs (names lowercased into one buffer,
 * values where they are: nghttp2 copies both). */
static XFERcode submit_request(struct h2 *h, struct h2_stream *s, XFER *e,
                               const struct xfer_req *r) {
  nghttp2_nv small[24], *nva = small;
  nghttp2_data_provider prd, *dp = NULL;
  char authority[300], clen[24], *lower = NULL, *lp, *path = NULL;
  size_t n = 0, cap = 6 + (size_t)r->nh, low_len = 0, alen;
  const char *scheme = e->u.scheme == XFER_SCHEME_HTTPS ? "https" : "http";
  int32_t id;
  int i;
  XFERcode rc = XFERE_OUT_OF_MEMORY;
  if (cap > sizeof(small) / sizeof(small[0]) &&
      !(nva = malloc(cap * sizeof(*nva))))
    return XFERE_OUT_OF_MEMORY;
  for (i = 0; i < r->nh; i++) low_len += r->h[i].nlen;
  if (!(lower = malloc(low_len + 1))) goto out;
  if (r->host_field) {
    alen = r->host_field_len < sizeof(authority) ? r->host_field_len : 0;
    memcpy(authority, r->host_field, alen);
  } else {
    alen = 0;
    if (r->host_v6) authority[alen++] = '[';
    memcpy(authority + alen, r->host, r->host_len); /* url.c caps it */
    alen += r->host_len;
    if (r->host_v6) authority[alen++] = ']';
    if (r->port_shown) {
      authority[alen++] = ':';
      alen += xfer__fmt_u64(authority + alen, r->port);
    }
  }
  if (r->path_slash || !r->path_len) {
    if (!(path = malloc(r->path_len + 2))) goto out;
    path[0] = '/';
    memcpy(path + 1, r->path, r->path_len);
  }
  NV(&nva[n++], ":method", 7, r->method, strlen(r->method));
  NV(&nva[n++], ":scheme", 7, scheme, strlen(scheme));
  NV(&nva[n++], ":authority", 10, authority, alen);
  NV(&nva[n++], ":path", 5, path ? path : r->path,
     path ? r->path_len + 1 : r->path_len);
  lp = lower;
  for (i = 0; i <= r->nh; i++) {
    if (i == r->framing_at && (r->has_body ? r->body_len >= 0 : r->cl_zero)) {
      NV(&nva[n++], "content-length", 14, clen,
         xfer__fmt_u64(clen, r->has_body ? (uint64_t)r->body_len : 0));
    }
    if (i < r->nh && !connection_specific(&r->h[i])) {
      size_t k;
      for (k = 0; k < r->h[i].nlen; k++) {
        char ch = r->h[i].name[k];
        lp[k] = ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
      }
      NV(&nva[n++], lp, r->h[i].nlen, r->h[i].value, r->h[i].vlen);
      lp += r->h[i].nlen;
    }
  }
  if (e->set.verbose || e->set.debugfn) debug_request(e, nva, n);
  if (r->has_body) {
    prd.source.ptr = NULL;
    prd.read_callback = read_body;
    dp = &prd;
  }
  id = nghttp2_submit_request(h->s, NULL, nva, n, dp, s);
  if (id < 0) {
    xfer__fail(e, "HTTP/2 request refused: %s", nghttp2_strerror(id));
    rc = id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE ? XFERE_HTTP2_STREAM
                                                  : XFERE_HTTP2;
    goto out;
  }
  s->id = id;
  rc = XFERE_OK;
out:
  if (nva != small) free(nva);
  free(lower);
  free(path);
  return rc;
}

/* ---- the handler ---- */

static void stream_free(struct h2_stream *s) {
  xfer_queue_remove(&s->link);
  xfer_queue_remove(&s->tlink);
  free(s);
}

static int h2_init(struct xfer_conn *c) {
  nghttp2_session_callbacks *cb;
  nghttp2_option *opt;
  struct h2 *h = calloc(1, sizeof(*h));
  nghttp2_settings_entry iv[4];
  int rv;
  if (!h) return XFERE_OUT_OF_MEMORY;
  h->c = c;
  xfer_queue_init(&h->streams);
  xfer_queue_init(&h->touched);
  if (nghttp2_session_callbacks_new(&cb)) {
    free(h);
    return XFERE_OUT_OF_MEMORY;
  }
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
  nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(cb,
                                                           on_frame_not_send);
  nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
  nghttp2_session_callbacks_set_error_callback2(cb, on_error);
  if (nghttp2_option_new(&opt)) {
    nghttp2_session_callbacks_del(cb);
    free(h);
    return XFERE_OUT_OF_MEMORY;
  }
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_max_reserved_remote_streams(opt, 0);
  nghttp2_option_set_peer_max_concurrent_streams(opt, 100);
  rv = nghttp2_session_client_new2(&h->s, cb, h, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cb);
  if (rv) {
    free(h);
    return XFERE_OUT_OF_MEMORY;
  }
  iv[0].settings_id = NGHTTP2_SETTINGS_ENABLE_PUSH;
  iv[0].value = 0;
  iv[1].settings_id = NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS;
  iv[1].value = (uint32_t)c->multi->max_streams;
  iv[2].settings_id = NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE;
  iv[2].value = H2_STREAM_WINDOW;
  iv[3].settings_id = NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE;
  iv[3].value = H2_HEADER_LIST_MAX;
  if (nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, 4) ||
      nghttp2_session_set_local_window_size(h->s, NGHTTP2_FLAG_NONE, 0,
                                            H2_CONN_WINDOW)) {
    nghttp2_session_del(h->s);
    free(h);
    return XFERE_OUT_OF_MEMORY;
  }
  c->ps = h;
  return XFERE_OK;
}

static int h2_capacity(struct xfer_conn *c) {
  struct h2 *h = c->ps;
  uint32_t remote;
  long limit;
  if (h->dead || h->goaway || c->closing) return 0;
  if (nghttp2_session_get_next_stream_id(h->s) > 0x7ffffff0) return 0;
  limit = c->multi->pipelining & XFERPIPE_MULTIPLEX ? c->multi->max_streams
                                                   : 1;
  remote = nghttp2_session_get_remote_settings(
      h->s, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  if ((long)remote < limit) limit = (long)remote;
  return limit > c->ntransfers ? (int)(limit - c->ntransfers) : 0;
}

/* After the session ran: what a callback broke, the touched streams'
 * progress, and the socket's interest.  The caller holds c. */
static void after_session(struct xfer_conn *c, struct h2 *h) {
  while (!xfer_queue_empty(&h->touched)) {
    struct h2_stream *s = xfer_queue_data(xfer_queue_head(&h->touched),
                                          struct h2_stream, tlink);
    XFER *e = s->e;
    xfer_queue_remove(&s->tlink);
    if (e && e->state != XFER_ST_DONE) {
      xfer__hold(e);
      xfer__resp_progress(e);
      xfer__unhold(e);
    }
  }
  if (c->closing) return;
  if (h->conn_error) {
    fail_all(h, h->conn_error, h->conn_error_msg);
    return;
  }
  if (h->settings_seen) { /* more streams may be free: waiters join */
    h->settings_seen = 0;
    xfer__conn_capacity_changed(c);
  }
  /* nghttp2 ended the session (a protocol error it answered with
   * GOAWAY, or both sides are done): nothing more will come. */
  if (!nghttp2_session_want_read(h->s) && !out_pending(h)) {
    fail_all(h, XFERE_HTTP2,
             h->lib_error[0] ? h->lib_error : "the HTTP/2 session ended");
    return;
  }
  watch(c, h);
  if (h->conn_error) fail_all(h, h->conn_error, "out of memory");
}

/* Reads and feeds the session, up to the event budget (then only what
 * the filters hold).  0, or an XFERcode for the connection. */
static XFERcode recv_frames(struct xfer_conn *c, struct h2 *h) {
  XFERM *m = c->multi;
  size_t got = 0;
  if (!m->recvbuf && !(m->recvbuf = malloc(XFER_RECVBUF_SIZE)))
    return XFERE_OUT_OF_MEMORY;
  for (;;) {
    ssize_t n, used;
    if (got < XFER_EVENT_BUDGET) {
      size_t ask = XFER_RECVBUF_SIZE;
      if (ask > XFER_EVENT_BUDGET - got) ask = XFER_EVENT_BUDGET - got;
      n = xfer__conn_recv(c, m->recvbuf, ask);
    } else {
      n = xfer__conn_recv_held(c, m->recvbuf, XFER_RECVBUF_SIZE);
    }
    if (n == XFER_IO_AGAIN) return XFERE_OK;
    /* A reset is the server closing too: the kernel resets rather than
     * closes when our last frames (a SETTINGS ack, a WINDOW_UPDATE)
     * arrived after the server stopped reading, a race of timing. */
    if (n < 0 && errno != ECONNRESET) {
      h->conn_error_msg = c->secure && !errno ? "TLS error" : strerror(errno);
      return XFERE_RECV_ERROR;
    }
    if (n <= 0) {
      h->conn_error_msg = n ? "the server reset the connection"
                            : "the server closed the connection";
      return h->goaway ? XFERE_HTTP2_STREAM : XFERE_HTTP2;
    }
    got += (size_t)n;
    used = nghttp2_session_mem_recv(h->s, (const uint8_t *)m->recvbuf,
                                    (size_t)n);
    if (c->closing) return XFERE_OK;
    if (h->conn_error) return h->conn_error;
    if (used < 0) {
      h->conn_error_msg = nghttp2_strerror((int)used);
      return XFERE_HTTP2;
    }
    if ((size_t)n < XFER_RECVBUF_SIZE && !xfer__conn_pending(c))
      return XFERE_OK;
  }
}

/* Runs the session on readiness ev (0: find out).  The caller holds c. */
static void run(struct xfer_conn *c, struct h2 *h, int ev) {
  XFERcode rc = XFERE_OK;
  if (h->dead) return;
  if (!ev || ev & (XFER_CSELECT_IN | XFER_CSELECT_ERR) ||
      xfer__conn_pending(c))
    rc = recv_frames(c, h);
  if (!rc && !c->closing) rc = flush_out(h);
  if (rc && !c->closing && !h->conn_error) {
    h->conn_error = rc;
    if (!h->conn_error_msg) h->conn_error_msg = xfer_easy_strerror(rc);
  }
  after_session(c, h);
}

static void h2_submit(struct xfer_conn *c, XFER *e) {
  struct h2 *h = c->ps;
  struct h2_stream *s;
  struct xfer_req r;
  XFERcode rc;
  if (h->dead || h->goaway) { /* it failed since e joined it */
    xfer__xfer_refused(e, XFERE_HTTP2, "the HTTP/2 connection failed "
                       "before the request went out");
    return;
  }
  rc = xfer__req_build(e, &r);
  if (rc) {
    xfer__xfer_failed(e, rc, 0);
    return;
  }
  e->method_head = r.head;
  e->has_body = r.has_body;
  e->upload_size = r.has_body ? r.body_len : 0;
  e->reader.type = NULL;
  e->http_version = XFER_HTTP_VERSION_2_0;
  if (r.has_body) xfer__reader_client(&e->reader, e, r.body_len);
  if (!(s = calloc(1, sizeof(*s)))) {
    xfer__req_free(&r);
    xfer__xfer_failed(e, XFERE_OUT_OF_MEMORY, 0);
    return;
  }
  s->e = e;
  s->content_length = -1;
  xfer_queue_init(&s->tlink);
  xfer_queue_insert_tail(&h->streams, &s->link);
  e->pstream = s;
  rc = submit_request(h, s, e, &r);
  xfer__req_free(&r);
  if (rc) {
    xfer__xfer_failed(e, rc, 0);
    return;
  }
  /* Sent with the others of this turn (conn.c's flush queue). */
  xfer__conn_want_flush(c);
}

static void h2_flush(struct xfer_conn *c) {
  struct h2 *h = c->ps;
  if (h->dead) return;
  xfer__conn_hold(c);
  run(c, h, XFER_CSELECT_OUT);
  xfer__conn_unhold(c);
}

static void h2_event(struct xfer_conn *c, int ev) {
  xfer__conn_hold(c);
  run(c, c->ps, ev);
  xfer__conn_unhold(c);
}

/* A pause or a rate wait changed: the window of what was taken meanwhile
 * goes back, and a waiting body goes on. */
static void h2_resume(struct xfer_conn *c, XFER *e) {
  struct h2 *h = c->ps;
  struct h2_stream *s = e->pstream;
  if (!s || h->dead) return;
  if (s->unacked && !xfer__recv_blocked(e)) {
    nghttp2_session_consume_stream(h->s, s->id, s->unacked);
    s->unacked = 0;
  }
  if (s->deferred && !xfer__send_blocked(e)) {
    s->deferred = 0;
    nghttp2_session_resume_data(h->s, s->id);
  }
  xfer__conn_want_flush(c);
}

/* e leaves: its stream is reset unless it is closed, and its slot frees.
 * c stays usable unless the session failed or is going away. */
static int h2_detach(struct xfer_conn *c, XFER *e, int ok) {
  struct h2 *h = c->ps;
  struct h2_stream *s = e->pstream;
  (void)ok;
  e->pstream = NULL;
  if (s) {
    s->e = NULL;
    if (s->id > 0) {
      /* Both ends sent END_STREAM: the stream is closed (nghttp2 notes it
       * as the frames go), no RST_STREAM; else the server learns we left. */
      if (!s->closed && !h->dead && !(s->remote_done && s->sent_all)) {
        nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, s->id,
                                  NGHTTP2_CANCEL);
        xfer__conn_want_flush(c);
      }
      nghttp2_session_set_stream_user_data(h->s, s->id, NULL);
    }
    stream_free(s);
  }
  return !h->dead && !h->goaway;
}

/* An idle connection spoke: PING, SETTINGS, GOAWAY are answered or
 * noted.  1 when it must be closed. */
static int h2_idle_event(struct xfer_conn *c) {
  struct h2 *h = c->ps;
  XFERcode rc;
  if (h->dead || h->goaway) return 1;
  xfer__conn_hold(c);
  rc = recv_frames(c, h);
  if (!rc && !c->closing) rc = flush_out(h);
  if (!rc && !c->closing && !h->conn_error) watch(c, h);
  xfer__conn_unhold(c);
  return rc || h->conn_error || h->goaway || h->dead ||
         !nghttp2_session_want_read(h->s);
}

/* The connection closes with transfers on it (conn.c's safety net): they
 * fail, and none may keep a pointer to it. */
static void h2_orphan(struct xfer_conn *c) {
  struct h2 *h = c->ps;
  h->dead = 1;
  while (!xfer_queue_empty(&h->streams)) {
    struct h2_stream *s = xfer_queue_data(xfer_queue_head(&h->streams),
                                          struct h2_stream, link);
    XFER *e = s->e;
    stream_free(s);
    if (!e) continue;
    e->pstream = NULL;
    if (e->conn == c) e->conn = NULL;
    xfer__fail(e, "HTTP/2 connection closed");
    xfer__done(e, XFERE_HTTP2);
  }
}

static void h2_free(struct xfer_conn *c) {
  struct h2 *h = c->ps;
  if (!h) return;
  while (!xfer_queue_empty(&h->streams)) {
    struct h2_stream *s = xfer_queue_data(xfer_queue_head(&h->streams),
                                          struct h2_stream, link);
    if (s->e) s->e->pstream = NULL;
    stream_free(s);
  }
  nghttp2_session_del(h->s);
  free(h->out);
  free(h->line);
  free(h);
  c->ps = NULL;
}

const struct xfer_proto xfer__proto_http2 = {
  "h2", 1, h2_init, h2_capacity, h2_submit, h2_event, h2_resume, h2_flush,
  h2_detach, h2_idle_event, h2_orphan, h2_free};
