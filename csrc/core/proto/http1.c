/*
 * http1.c -- the HTTP/1.1 protocol handler (proto.h): one exchange at a
 * time on a connection.  It writes the request (request.h) as a head,
 * frames the body (Content-Length, or chunked over the client's reader),
 * feeds what comes back to the response parser (h1parse.c) and hands the
 * response to the transfer (xfer__resp_*).
 *
 * Steady state allocates nothing: the request buffer and the upload buffer
 * belong to the connection and serve each request it carries; the receive
 * buffer is the multi handle's.  A keep-alive request costs one send (head
 * and a small body together) and one recv.
 */

#include "xfer_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define SMALL_BODY (64 * 1024)     /* bodies up to this go out with the head */
#define UPLOAD_PIECE (16 * 1024)   /* what is read from a reader at a time */
#define CHUNK_ROOM 16              /* before a piece: its chunk size line */
#define CHUNK_TAIL 7               /* after it: CRLF, and "0\r\n\r\n" */

/* A connection's HTTP/1.1 state. */
struct h1 {
  struct xfer_h1p parser;
  XFER *e;                     /* the transfer it carries, or NULL */
  /* The request head (and a small body, with its framing). */
  char *req;
  size_t req_len, req_cap, req_sent, req_head_len;
  /* A body from memory too big to copy: sent where it is, then (chunked)
   * its end. */
  const char *mem;
  size_t mem_len, mem_sent, tail_sent;
  /* A body from a reader, a piece at a time; when chunked, framed here. */
  struct xfer_reader *body;
  char *up;
  size_t up_len, up_sent, up_data_at, up_data_len;
  unsigned chunked : 1;        /* the body goes chunked */
  unsigned mem_tail : 1;       /* mem is chunked: "\r\n0\r\n\r\n" follows */
  unsigned body_eos : 1;       /* the reader said it ended */
  unsigned sent_all : 1;       /* the whole request is out */
  unsigned no_body : 1;        /* HEAD or NOBODY: no response body */
  unsigned skip_body : 1;      /* NOBODY with another method: a body the
                                  server sends is left unread */
  unsigned resp_done : 1;      /* a 1xx-2xx response came complete before
                                  the request did: the rest still goes out
                                  (as libcurl), then the transfer is done */
};

static const char chunk_end[] = "\r\n0\r\n\r\n";

/* ---- writing the head ---- */

static int reserve(struct h1 *h, size_t more) {
  size_t need = h->req_len + more, cap;
  char *p;
  if (need <= h->req_cap) return 0;
  cap = h->req_cap ? h->req_cap : 512;
  while (cap < need) cap *= 2;
  if (!(p = realloc(h->req, cap))) return -1;
  h->req = p;
  h->req_cap = cap;
  return 0;
}

static int add(struct h1 *h, const char *s, size_t n) {
  if (reserve(h, n)) return -1;
  memcpy(h->req + h->req_len, s, n);
  h->req_len += n;
  return 0;
}

static int adds(struct h1 *h, const char *s) { return add(h, s, strlen(s)); }

#define ADD_LIT(h, lit) add((h), (lit), sizeof(lit) - 1)

/* "Name: value\r\n" ("Name:" when the value is empty), in one copy each. */
static int add_field(struct h1 *h, const struct xfer_hdr *f) {
  char *p;
  if (reserve(h, f->nlen + f->vlen + 4)) return -1;
  p = h->req + h->req_len;
  memcpy(p, f->name, f->nlen);
  p += f->nlen;
  *p++ = ':';
  if (f->vlen) {
    *p++ = ' ';
    memcpy(p, f->value, f->vlen);
    p += f->vlen;
  }
  *p++ = '\r';
  *p++ = '\n';
  h->req_len = (size_t)(p - h->req);
  return 0;
}

static int add_hex(struct h1 *h, size_t n) {
  char line[24];
  int len = snprintf(line, sizeof(line), "%zx\r\n", n);
  return add(h, line, (size_t)len);
}

/* host (bracketed when v6) and ":port" when shown. */
static int add_authority(struct h1 *h, const char *host, size_t len, int v6,
                         int port_shown, unsigned port) {
  char num[24];
  int oom = 0;
  if (v6) oom |= add(h, "[", 1);
  oom |= add(h, host, len);
  if (v6) oom |= add(h, "]", 1);
  if (port_shown) {
    num[0] = ':';
    oom |= add(h, num, 1 + xfer__fmt_u64(num + 1, port));
  }
  return oom;
}

/* The request head, with the framing the body needs; a small body from
 * memory joins it (one send for both). */
static int write_head(struct h1 *h, const struct xfer_req *r) {
  char num[24];
  int oom = 0, i;
  h->req_len = 0;
  oom |= adds(h, r->method) || add(h, " ", 1);
  if (r->absolute) /* to an HTTP proxy */
    oom |= ADD_LIT(h, "http://") ||
           add_authority(h, r->abs_host, r->abs_host_len, r->host_v6,
                         r->abs_port_shown, r->port);
  if (r->path_slash) oom |= add(h, "/", 1);
  oom |= add(h, r->path, r->path_len) || ADD_LIT(h, " HTTP/1.1\r\n");
  if (r->host_field) {
    struct xfer_hdr f = {"Host", r->host_field, 4, r->host_field_len};
    oom |= add_field(h, &f);
  } else if (r->host) {
    oom |= ADD_LIT(h, "Host: ") ||
           add_authority(h, r->host, r->host_len, r->host_v6, r->port_shown,
                         r->port) ||
           add(h, "\r\n", 2);
  }
  for (i = 0; i <= r->nh; i++) {
    if (i == r->framing_at) {
      if (h->chunked) {
        oom |= ADD_LIT(h, "Transfer-Encoding: chunked\r\n");
      } else if (r->has_body || r->cl_zero) {
        oom |= ADD_LIT(h, "Content-Length: ") ||
               add(h, num, xfer__fmt_u64(num, r->has_body
                                                  ? (uint64_t)r->body_len
                                                  : 0)) ||
               add(h, "\r\n", 2);
      }
    }
    if (i < r->nh) oom |= add_field(h, &r->h[i]);
  }
  oom |= add(h, "\r\n", 2);
  h->req_head_len = h->req_len;
  if (h->mem && (h->mem_len <= SMALL_BODY || !r->has_body)) {
    if (h->chunked && h->mem_len) oom |= add_hex(h, h->mem_len);
    oom |= add(h, h->mem, h->mem_len);
    if (h->chunked) oom |= h->mem_len ? adds(h, chunk_end) : adds(h, "0\r\n\r\n");
    h->mem = NULL;
  } else if (h->mem && h->chunked) {
    oom |= add_hex(h, h->mem_len);
    h->mem_tail = 1;
  }
  return oom;
}

/* ---- the body from a reader ---- */

/* The next piece of the body into h->up, framed as a chunk when chunked.
 * 0, or an XFERcode (the reader's: the reason is given); *paused when the
 * read callback paused sending (no piece). */
static XFERcode next_piece(struct h1 *h, int *paused) {
  char *data;
  size_t room = UPLOAD_PIECE;
  ssize_t n;
  int eos = 0;
  if (!h->up && !(h->up = malloc(CHUNK_ROOM + UPLOAD_PIECE + CHUNK_TAIL)))
    return XFERE_OUT_OF_MEMORY;
  data = h->up + CHUNK_ROOM;
  n = xfer__reader_read(h->body, data, room, &eos);
  *paused = n == XFER_READ_PAUSE;
  if (*paused) return XFERE_OK;
  if (n < 0) return (XFERcode)-n;
  h->body_eos = eos != 0;
  h->up_sent = 0;
  if (!h->chunked) {
    h->up_data_at = 0;
    memmove(h->up, data, (size_t)n);
    h->up_len = h->up_data_len = (size_t)n;
    return XFERE_OK;
  }
  {
    char line[CHUNK_ROOM];
    int hl = n ? snprintf(line, sizeof(line), "%zx\r\n", (size_t)n) : 0;
    char *start = data - hl;
    memcpy(start, line, (size_t)hl);
    h->up_len = (size_t)hl + (size_t)n;
    if (n) {
      memcpy(data + n, "\r\n", 2);
      h->up_len += 2;
    }
    if (eos) {
      memcpy(start + h->up_len, "0\r\n\r\n", 5);
      h->up_len += 5;
    }
    h->up_data_at = (size_t)hl;
    h->up_data_len = (size_t)n;
    memmove(h->up, start, h->up_len);
  }
  return XFERE_OK;
}

/* ---- sending ---- */

/* Sends buf[*sent..len), counting the bytes of [from, to) as body, and
 * at most *budget bytes (taken from it).  0 (all sent), 1 (EAGAIN, or the
 * budget is spent: the socket is still writable, the next event goes on)
 * or an XFERcode. */
static int send_buf(struct xfer_conn *c, XFER *e, const char *buf, size_t len,
                    size_t *sent, size_t from, size_t to, size_t *budget) {
  while (*sent < len) {
    size_t ask = len - *sent;
    ssize_t n;
    size_t a, b;
    if (!*budget) return 1;
    if (ask > *budget) ask = *budget;
    n = xfer__conn_send(c, buf + *sent, ask);
    if (n == XFER_IO_AGAIN) return 1;
    if (n < 0) {
      xfer__fail(e, "send failure: %s",
                 c->secure && !errno ? "TLS error" : strerror(errno));
      return XFERE_SEND_ERROR;
    }
    a = *sent > from ? *sent : from;
    b = *sent + (size_t)n < to ? *sent + (size_t)n : to;
    if (b > a) { /* SIZE_UPLOAD: body */
      e->size_ul += (xfer_off_t)(b - a);
      if (e->set.verbose) xfer__debug(e, XFERINFO_DATA_OUT, buf + a, b - a);
    }
    *sent += (size_t)n;
    *budget -= (size_t)n;
  }
  return 0;
}

/* Writes as much of the request as the filters take.  0 with *again when
 * they said EAGAIN, 0 when all is out, or an XFERcode. */
static XFERcode send_request(struct xfer_conn *c, struct h1 *h, XFER *e,
                             int *again) {
  int rc, paused = 0;
  size_t budget = xfer__send_allowance(e);
  *again = 0;
  /* Paused (or ahead of its rate): nothing goes out, the head included. */
  if (xfer__send_blocked(e)) {
    *again = 1;
    return XFERE_OK;
  }
  rc = send_buf(c, e, h->req, h->req_len, &h->req_sent, h->req_head_len,
                (size_t)-1, &budget);
  if (rc) goto out;
  if (h->mem) {
    rc = send_buf(c, e, h->mem, h->mem_len, &h->mem_sent, 0, (size_t)-1,
                  &budget);
    if (rc) goto out;
    if (h->mem_tail) {
      rc = send_buf(c, e, chunk_end, sizeof(chunk_end) - 1, &h->tail_sent,
                    (size_t)-1, (size_t)-1, &budget);
      if (rc) goto out;
    }
  }
  while (h->body) {
    if (h->up_sent == h->up_len) {
      if (h->body_eos) break;
      if (!budget || xfer__send_blocked(e)) { /* at the next event */
        rc = 1;
        goto out;
      }
      if ((rc = next_piece(h, &paused)) != 0) return (XFERcode)rc;
      if (paused) { /* the read callback paused: xfer_easy_pause resumes */
        rc = 1;
        goto out;
      }
      if (!h->up_len) break;
    }
    rc = send_buf(c, e, h->up, h->up_len, &h->up_sent, h->up_data_at,
                  h->up_data_at + h->up_data_len, &budget);
    if (rc) goto out;
  }
  h->sent_all = 1;
  return XFERE_OK;
out:
  if (rc == 1) {
    *again = 1;
    return XFERE_OK;
  }
  return (XFERcode)rc;
}

/* Watches c for what e may do now: reading (when in) unless receiving
 * is blocked, writing (when out) unless sending is (paused, or ahead of
 * its rate: pause.c resumes it through the timer), and whatever the
 * filters need.  -1 when out of memory (e has failed). */
static int watch(struct xfer_conn *c, XFER *e, int in, int out) {
  int want = xfer__conn_io_want(c);
  if (in && !xfer__recv_blocked(e)) want |= XFER_POLL_IN;
  if (out && !xfer__send_blocked(e)) want |= XFER_POLL_OUT;
  if (!xfer__sock_want(c->multi, c->fd, XFER_SOCK_CONN, c, e, want)) return 0;
  xfer__xfer_failed(e, XFERE_OUT_OF_MEMORY, 0);
  return -1;
}

/* The response is complete: done, or once the held pieces are delivered
 * when the application paused (xfer__resume). */
static void complete(struct xfer_conn *c, XFER *e) {
  if (!xfer__recv_blocked(e)) {
    xfer__resp_complete(e);
    return;
  }
  e->finish_held = 1;
  watch(c, e, 0, 0);
}

/* Sends what it can: write first, and ask for POLL_OUT only when the
 * filters say EAGAIN.  Returns 1 when e ended or let go of c (both may be
 * freed). */
static int send_more(struct xfer_conn *c, struct h1 *h, XFER *e) {
  int again = 0;
  XFERcode rc = send_request(c, h, e, &again);
  if (xfer__gone(e, c)) return 1;
  if (rc && h->resp_done) {
    /* The server has answered and stopped reading: its answer stands,
     * the connection is not kept (sent_all is 0). */
    h->resp_done = 0;
    complete(c, e);
    return 1;
  }
  if (rc) {
    xfer__xfer_failed(e, rc, 1);
    return 1;
  }
  xfer__rate_check(e);
  if (again) {
    /* Reading too: a server may answer (and close) before taking it
     * all; not past a response that came already. */
    if (watch(c, e, !h->resp_done, 1)) return 1;
    return 0;
  }
  if (h->resp_done) {
    h->resp_done = 0;
    complete(c, e);
    return 1;
  }
  xfer__req_sent(e);
  if (xfer__sock_want(c->multi, c->fd, XFER_SOCK_CONN, c, e, XFER_POLL_IN)) {
    xfer__done(e, XFERE_OUT_OF_MEMORY);
    return 1;
  }
  return 0;
}

/* ---- the response ---- */

static int on_header(void *ud, const char *raw, size_t rawlen,
                     const char *name, size_t namelen, const char *value,
                     size_t valuelen) {
  return xfer__resp_header(ud, raw, rawlen, name, namelen, value, valuelen);
}

static int on_headers_done(void *ud) {
  XFER *e = ud;
  struct h1 *h = e->conn->ps;
  /* What the server answered with, as libcurl's getinfo reports it. */
  e->http_version = h->parser.http_minor == 0 ? XFER_HTTP_VERSION_1_0
                                              : XFER_HTTP_VERSION_1_1;
  return xfer__resp_headers_done(e, h->parser.status,
                                 h->parser.content_length);
}

static int on_body(void *ud, const char *data, size_t len) {
  return xfer__resp_body(ud, data, len);
}

static const struct xfer_h1p_callbacks h1_callbacks = {
  on_header, on_headers_done, on_body};

/* Reads what the filters have (one recv unless it filled the buffer or
 * TLS holds more) and feeds it to the parser.  *finished is set when the
 * response is complete; bytes past its end make the connection unusable
 * (nothing is read past a response on a keep-alive connection).  After
 * XFER_EVENT_BUDGET bytes only what the filters hold is taken: the rest
 * stays in the kernel for the next event. */
static XFERcode recv_response(struct xfer_conn *c, struct h1 *h, XFER *e,
                              int *finished) {
  XFERM *m = c->multi;
  size_t got = 0, budget = xfer__recv_allowance(e);
  *finished = 0;
  if (!m->recvbuf && !(m->recvbuf = malloc(XFER_RECVBUF_SIZE)))
    return XFERE_OUT_OF_MEMORY;
  for (;;) {
    size_t consumed = 0, ask = XFER_RECVBUF_SIZE;
    int rc;
    ssize_t n;
    /* Paused: not a byte more (what a read brought is held, pause.c). */
    if (xfer__recv_blocked(e)) return XFERE_OK;
    if (got < budget) {
      if (ask > budget - got) ask = budget - got;
      n = xfer__conn_recv(c, m->recvbuf, ask);
    } else {
      n = xfer__conn_recv_held(c, m->recvbuf, ask);
    }
    if (n == XFER_IO_AGAIN) return XFERE_OK;
    if (n < 0) {
      xfer__fail(e, "recv failure: %s",
                 c->secure && !errno ? "TLS error" : strerror(errno));
      return XFERE_RECV_ERROR;
    }
    if (n == 0) {
      rc = xfer__h1p_eof(&h->parser, &h1_callbacks, e);
      if (rc) {
        if (rc == XFERE_GOT_NOTHING) {
          xfer__fail(e, "Empty reply from server");
        } else if (rc == XFERE_PARTIAL_FILE) {
          char where[96];
          xfer__fail(e, "connection closed %s",
                     xfer__h1p_cut_short(&h->parser, where, sizeof(where)));
        }
        return (XFERcode)rc;
      }
      h->parser.keepalive = 0;
      *finished = 1;
      return XFERE_OK;
    }
    got += (size_t)n;
    xfer__resp_started(e);
    rc = xfer__h1p_feed(&h->parser, m->recvbuf, (size_t)n, &consumed,
                        &h1_callbacks, e);
    if (rc) {
      if (rc == XFERE_WEIRD_SERVER_REPLY)
        xfer__fail(e, "the server's response is not valid HTTP/1.x");
      else if (rc == XFERE_TOO_LARGE)
        xfer__fail(e, "response header section over the limit");
      return (XFERcode)rc;
    }
    if (h->parser.done) {
      /* Anything past the response, in this read, inside TLS (read-ahead
       * takes whole records the socket no longer shows) or in the kernel
       * behind a read that filled its buffer, would become the next
       * request's response: the connection is not kept. */
      if (consumed < (size_t)n ||
          (h->parser.keepalive && xfer__conn_bytes_after(c)))
        h->parser.keepalive = 0;
      *finished = 1;
      return XFERE_OK;
    }
    if ((size_t)n < ask && !xfer__conn_pending(c)) return XFERE_OK;
  }
}

static void readable(struct xfer_conn *c, struct h1 *h, XFER *e) {
  int finished = 0;
  XFERcode rc;
  if (e->state != XFER_ST_RECEIVING && e->state != XFER_ST_SENDING) return;
  if (h->resp_done) return; /* nothing is read past the response */
  if (!e->finish_held) {
    rc = recv_response(c, h, e, &finished);
    if (xfer__gone(e, c)) return;
    if (rc) {
      xfer__xfer_failed(e, rc, !e->got_bytes);
      return;
    }
    xfer__rate_check(e);
    if (finished && !h->sent_all && h->parser.status < 300) {
      /* Answered before the body was all out: send the rest first. */
      h->resp_done = 1;
      watch(c, e, 0, 1);
      return;
    }
    /* Complete, but the application paused with pieces held: done once
     * they are delivered (xfer__resume). */
    if (finished && xfer__recv_blocked(e)) {
      e->finish_held = 1;
      finished = 0;
    }
  }
  /* Not watched for reading while paused, holding, or ahead of its rate:
   * the timer resumes it (pause.c). */
  if (!finished && e->state == XFER_ST_RECEIVING && watch(c, e, 1, 0))
    return;
  if (e->got_bytes && xfer__resp_progress(e)) {
    xfer__gone(e, c);
    return;
  }
  if (finished) xfer__resp_complete(e);
}

/* ---- the handler ---- */

static int h1_init(struct xfer_conn *c) {
  struct h1 *h = calloc(1, sizeof(*h));
  if (!h) return XFERE_OUT_OF_MEMORY;
  xfer__h1p_init(&h->parser, 0, 0);
  c->ps = h;
  return XFERE_OK;
}

static int h1_capacity(struct xfer_conn *c) {
  return !((struct h1 *)c->ps)->e;
}

static void h1_submit(struct xfer_conn *c, XFER *e) {
  struct h1 *h = c->ps;
  struct xfer_req r;
  XFERcode rc = xfer__req_build(e, &r);
  if (rc) {
    xfer__xfer_failed(e, rc, 0);
    return;
  }
  h->e = e;
  h->chunked = r.has_body ? (r.chunk_asked || r.body_len < 0) : r.chunk_asked;
  h->mem = NULL;
  h->mem_len = h->mem_sent = h->tail_sent = 0;
  h->mem_tail = h->body_eos = h->sent_all = h->resp_done = 0;
  h->body = NULL;
  h->req_sent = h->up_len = h->up_sent = 0;
  h->no_body = r.head || r.skip_body;
  h->skip_body = r.skip_body;
  e->method_head = r.head;
  e->http_version = XFER_HTTP_VERSION_1_1;
  e->has_body = r.has_body;
  e->upload_size = r.has_body ? r.body_len : 0;
  e->reader.type = NULL;
  if (r.has_body) {
    xfer__reader_client(&e->reader, e, r.body_len);
    if (e->reader.mem) {
      h->mem = e->reader.mem;
      h->mem_len = e->reader.mem_len;
    } else {
      h->body = &e->reader;
    }
  } else if (h->chunked) {
    h->mem = ""; /* an empty chunked body: "0\r\n\r\n" */
  }
  if (write_head(h, &r)) {
    xfer__req_free(&r);
    xfer__xfer_failed(e, XFERE_OUT_OF_MEMORY, 0);
    return;
  }
  xfer__req_free(&r);
  e->request_size += (long)h->req_head_len;
  xfer__debug(e, XFERINFO_HEADER_OUT, h->req, h->req_head_len);
  xfer__h1p_reset(&h->parser, h->no_body);
  /* The read callback may remove or clean up e, or re-add it: both stay
   * alive until this frame lets go. */
  xfer__conn_hold(c);
  xfer__hold(e);
  send_more(c, h, e);
  xfer__unhold(e);
  xfer__conn_unhold(c);
}

static void h1_event(struct xfer_conn *c, int ev) {
  struct h1 *h = c->ps;
  XFER *e = h->e;
  if (!e) return;
  /* The application's callbacks may remove or clean up e, or remove the
   * connection: both stay alive until this frame lets go. */
  xfer__conn_hold(c);
  xfer__hold(e);
  if (e->state == XFER_ST_RECEIVING) { /* TLS may read on POLL_OUT */
    readable(c, h, e);
  } else if ((!(ev & XFER_CSELECT_OUT) && ev) || !send_more(c, h, e)) {
    if (!xfer__gone(e, c) &&
        (ev & (XFER_CSELECT_IN | XFER_CSELECT_ERR) || !ev))
      readable(c, h, e);
  }
  xfer__unhold(e);
  xfer__conn_unhold(c);
}

/* A pause or a rate wait changed: find out what to do, as an event that
 * claims no readiness would (a read that finds nothing costs one EAGAIN). */
static void h1_resume(struct xfer_conn *c, XFER *e) {
  (void)e;
  h1_event(c, 0);
}

/* Kept only if the whole request went out (a server may answer before
 * reading all of a body: the rest must not become the next request's
 * first bytes) and the response ended where its framing said, with
 * nothing after it. */
static int h1_detach(struct xfer_conn *c, XFER *e, int ok) {
  struct h1 *h = c->ps;
  int keep = ok && h->sent_all && h->parser.done && h->parser.keepalive &&
             !h->skip_body;
  (void)e;
  h->e = NULL;
  h->body = NULL;
  return keep;
}

/* An idle connection has nothing to say: readable means the server closed
 * it (or sent garbage), so it must not be reused. */
static int h1_idle_event(struct xfer_conn *c) {
  char b;
  ssize_t n;
  if (xfer__conn_pending(c)) return 1; /* bytes inside TLS */
  n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
  return !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

static void h1_free(struct xfer_conn *c) {
  struct h1 *h = c->ps;
  if (!h) return;
  xfer__h1p_free(&h->parser);
  free(h->req);
  free(h->up);
  free(h);
  c->ps = NULL;
}

const struct xfer_proto xfer__proto_http1 = {
  "http/1.1", 0, h1_init, h1_capacity, h1_submit, h1_event, h1_resume,
  NULL, h1_detach, h1_idle_event, NULL, h1_free};
