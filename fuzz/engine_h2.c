/*
 * engine_h2.c -- the HTTP/2 mode of the engine harness (xg0 bit 0 of the
 * extension block; engine_input.h documents the bits and the script).
 * #included at the end of engine_harness.c: it works on its state
 * (struct eh, eh_tx, eh_srv) and server plumbing (accept, writes in
 * pieces, the keep/close/reset/stall ends), and engine_harness.c calls
 * the eh2_* hooks declared at its top.  Nothing here runs in h1 mode.
 *
 * Every transfer asks for HTTP/2 with prior knowledge over http://
 * (HTTP_VERSION 2_PRIOR_KNOWLEDGE, PIPEWAIT 1) and the multi handle
 * allows one connection per host, so the transfers share a connection.
 * The server reads the client's bytes with h2_wire.c (every frame
 * checked; each request decoded, rewritten as an HTTP/1.1 head and
 * checked by eh_check_request as in h1 mode; request bodies checked byte
 * by byte) and plays the script: the input's segments are its steps, in
 * order, on each of the first EH2_MAX_CONNS connections (later ones are
 * closed at once).  A step waits (for the client's streams, its request
 * bodies, a frame of its, or 5 ms), then writes its bytes -- raw, or
 * frames built by h2w_compact with streams picked among those the client
 * opened -- in pieces, then the connection goes on, closes, resets or
 * stalls.  What is written is followed by h2w_track: the DATA payload
 * of every stream up to its END_STREAM.
 *
 * Invariants (abort): the client's bytes are HTTP/2 (or TLS, or an
 * HTTP/1.1 request after HTTP_1_1_REQUIRED); every result is one the
 * transfer's options allow (eh2_result_ok); a successful body is exactly
 * the DATA the server sent on the transfer's last stream, which it
 * ended; a transfer that fails with HTTP2 (16) was on a connection that
 * ended (closed by either side, or a GOAWAY); and once every connection
 * and the listener are closed, every transfer that is not paused gets its
 * message within EH2_DRAIN_MS (none is lost).
 */

#include "h2_wire.h"

#define EH2_MAX_CONNS 6          /* connections that play the script */
#define EH2_WAIT_US 10000        /* a wait for the client gives up after */
#define EH2_SHORT_WAIT_US 5000   /* the wait that is only time */
#define EH2_STEP_MAX (1u << 21)  /* bytes one step writes at most */
#define EH2_MAX_REC 256
#define EH2_REC_CAP (1u << 20)
#define EH2_MAX_SERIAL 1024
#define EH2_DRAIN_MS 200

/* A step's control byte (the first byte of a segment). */
#define EH2_RAW 0x04             /* bytes as they are (else compact) */
#define EH2_SIZES_SHIFT 3        /* 2 bits: pieces of 1..4^v bytes */
#define EH2_WAIT_SHIFT 5         /* 3 bits: what the step waits for */
enum { W_NONE = 0, W_STREAMS4 = 4, W_BODIES = 5, W_TIME = 6, W_FRAME = 7 };

struct eh2_stream {
  uint32_t sid;
  int tx;
  int done;                      /* the request's END_STREAM came */
  int last;                      /* last body byte, -1 none */
  long long bytes, clen;         /* body bytes; content-length, -1 none */
};

struct eh2_conn {
  unsigned serial;               /* 0: not an HTTP/2 connection */
  struct eh *h;
  struct eh_srv *s;
  struct h2w_client in;          /* the client's frames */
  struct h2w_track out;          /* the server's, as sent */
  struct eh2_stream st[H2W_MAX_STREAMS];
  int nst;
  int step, preface_sent, waiting;
  unsigned long frames_at_step;
};

/* The DATA the server sent on a stream, up to its END_STREAM. */
struct eh2_rec {
  unsigned serial;
  uint32_t sid;
  char *p;
  size_t len, cap;
  int ended, over;
};

static struct {
  int finishing;
  uint8_t xg0;
  unsigned serials;
  struct eh2_conn c[EH_MAX_SRV];
  struct eh2_rec rec[EH2_MAX_REC];
  int nrec, rec_full;
  unsigned tx_serial[ENGINE_MAX_TX]; /* the last stream of each transfer */
  uint32_t tx_sid[ENGINE_MAX_TX];
  uint8_t ended[EH2_MAX_SERIAL];     /* the connection ended */
} eh2;

static struct eh2_conn *eh2_conn(struct eh *h, struct eh_srv *s) {
  return &eh2.c[s - h->srv];
}

static void eh2_mark_ended(unsigned serial) {
  eh2.ended[serial < EH2_MAX_SERIAL ? serial : EH2_MAX_SERIAL - 1] = 1;
}

static int eh2_was_ended(unsigned serial) {
  return eh2.ended[serial < EH2_MAX_SERIAL ? serial : EH2_MAX_SERIAL - 1];
}

static struct eh2_rec *eh2_rec(unsigned serial, uint32_t sid, int create) {
  int i;
  for (i = 0; i < eh2.nrec; i++)
    if (eh2.rec[i].serial == serial && eh2.rec[i].sid == sid)
      return &eh2.rec[i];
  if (!create) return NULL;
  if (eh2.nrec == EH2_MAX_REC) {
    eh2.rec_full = 1; /* the bodies can no longer be checked */
    return NULL;
  }
  memset(&eh2.rec[eh2.nrec], 0, sizeof(eh2.rec[0]));
  eh2.rec[eh2.nrec].serial = serial;
  eh2.rec[eh2.nrec].sid = sid;
  return &eh2.rec[eh2.nrec++];
}

/* ---- set-up ---- */

static void eh2_begin(struct eh *h) {
  memset(&eh2, 0, sizeof(eh2));
  eh2.xg0 = h->in.xg[0];
  eh2_on = (eh2.xg0 & EXG0_H2) != 0;
  if (!eh2_on) return;
  engine_stats.h2_runs++;
  eh_sum("decode h2 preface=%d settings=%d drain=%d",
         !!(eh2.xg0 & EXG0_H2_PREFACE),
         (eh2.xg0 >> EXG0_H2_SETTINGS_SHIFT) & 3,
         !(eh2.xg0 & EXG0_H2_NO_DRAIN));
}

static void eh2_setup_tx(struct eh_tx *t) {
  EH_CHECK(eh_setopt(t, XFEROPT_HTTP_VERSION,
                     (long)XFER_HTTP_VERSION_2_PRIOR_KNOWLEDGE) == XFERE_OK &&
               eh_setopt(t, XFEROPT_PIPEWAIT, 1L) == XFERE_OK,
           "setopt HTTP/2");
}

static void eh2_setup_multi(struct eh *h) {
  if (h->g0 & 0x08) return; /* set already */
  eh_sum("decode multi MAX_HOST_CONNECTIONS=1");
  EH_CHECK(xfer_multi_setopt(h->m, XFERMOPT_MAX_HOST_CONNECTIONS, 1L) ==
               XFERM_OK, "max host");
}

/* ---- the client's side ---- */

static int eh2_is(const struct h2w_field *f, const char *name) {
  size_t k = strlen(name);
  return f->nlen == k && memcmp(f->name, name, k) == 0;
}

/* A request: checked as HTTP/2 fields, then as the HTTP/1.1 head it
 * stands for (eh_check_request: Host, X-T, credentials, framing...). */
static void eh2_on_request(void *ud, uint32_t sid, const struct h2w_field *f,
                           size_t n, int end_stream) {
  static const char *const banned[] = {"connection", "keep-alive",
                                       "proxy-connection", "transfer-encoding",
                                       "upgrade", "host", NULL};
  struct eh2_conn *c = ud;
  const struct h2w_field *method = NULL, *scheme = NULL, *auth = NULL,
                         *path = NULL;
  struct eh2_stream *st;
  struct eh_tx *t;
  size_t i, len = 64, o;
  long long clen = -1;
  int regular = 0, k;
  char *head;
  for (i = 0; i < n; i++) {
    const struct h2w_field *x = &f[i];
    len += x->nlen + x->vlen + 4;
    for (o = 0; o < x->nlen; o++)
      EH_CHECK(!(x->name[o] >= 'A' && x->name[o] <= 'Z'),
               "an uppercase field name: %.*s", (int)x->nlen, x->name);
    if (x->nlen && x->name[0] == ':') {
      const struct h2w_field **slot = eh2_is(x, ":method")      ? &method
                                      : eh2_is(x, ":scheme")    ? &scheme
                                      : eh2_is(x, ":authority") ? &auth
                                      : eh2_is(x, ":path")      ? &path
                                                                : NULL;
      EH_CHECK(slot && !*slot && !regular, "pseudo-header %.*s (again, "
               "unknown, or after a field)", (int)x->nlen, x->name);
      *slot = x;
      continue;
    }
    regular = 1;
    for (k = 0; banned[k]; k++)
      EH_CHECK(!eh2_is(x, banned[k]), "connection-specific field %s in an "
               "HTTP/2 request", banned[k]);
    if (eh2_is(x, "te"))
      EH_CHECK(x->vlen == 8 && memcmp(x->value, "trailers", 8) == 0,
               "te: %.*s", (int)x->vlen, x->value);
  }
  EH_CHECK(method && scheme && auth && path, "a request without one of "
           ":method :scheme :authority :path");
  EH_CHECK(scheme->vlen == 4 && memcmp(scheme->value, "http", 4) == 0,
           ":scheme %.*s", (int)scheme->vlen, scheme->value);
  head = malloc(len + 1);
  EH_CHECK(head != NULL, "oom");
  o = (size_t)snprintf(head, len, "%.*s %.*s HTTP/1.1\r\nHost: %.*s\r\n",
                       (int)method->vlen, method->value, (int)path->vlen,
                       path->value, (int)auth->vlen, auth->value);
  for (i = 0; i < n; i++) {
    if (f[i].nlen && f[i].name[0] == ':') continue;
    memcpy(head + o, f[i].name, f[i].nlen);
    o += f[i].nlen;
    head[o++] = ':';
    head[o++] = ' ';
    memcpy(head + o, f[i].value, f[i].vlen);
    o += f[i].vlen;
    head[o++] = '\r';
    head[o++] = '\n';
    if (eh2_is(&f[i], "content-length")) {
      size_t d;
      for (d = 0, clen = 0; d < f[i].vlen && d < 12; d++)
        clen = clen * 10 + (f[i].value[d] - '0'); /* checked below */
    }
  }
  head[o++] = '\r';
  head[o++] = '\n';
  head[o] = 0;
  c->s->tx = -1;
  eh_check_request(c->h, c->s, head, o);
  free(head);
  c->s->rq = RQ_HEAD; /* the body comes in DATA frames, checked here */
  t = &c->h->tx[c->s->tx];
  if (!t->has_body)
    EH_CHECK(end_stream, "transfer %d has no body, its HEADERS has no "
             "END_STREAM", t->idx);
  EH_CHECK(c->nst < H2W_MAX_STREAMS, "too many streams");
  st = &c->st[c->nst++];
  st->sid = sid;
  st->tx = t->idx;
  st->done = end_stream;
  st->last = -1;
  st->bytes = 0;
  st->clen = clen;
  if (end_stream && clen > 0)
    EH_CHECK(0, "content-length %lld without a body", clen);
  eh2.tx_serial[t->idx] = c->serial;
  eh2.tx_sid[t->idx] = sid;
  engine_stats.h2_requests++;
}

static struct eh2_stream *eh2_stream(struct eh2_conn *c, uint32_t sid) {
  int i;
  for (i = 0; i < c->nst; i++)
    if (c->st[i].sid == sid) return &c->st[i];
  return NULL;
}

/* Request body bytes: 'a'..'z', each the letter after the one before,
 * exactly content-length of them when there is one. */
static void eh2_on_data(void *ud, uint32_t sid, const uint8_t *p, size_t n,
                        int end_stream) {
  struct eh2_conn *c = ud;
  struct eh2_stream *st = eh2_stream(c, sid);
  size_t i;
  EH_CHECK(st && !st->done, "DATA on stream %u, which has no request body "
           "coming", sid);
  for (i = 0; i < n; i++) {
    EH_CHECK(p[i] >= 'a' && p[i] <= 'z', "request body byte 0x%02x", p[i]);
    if (st->last >= 0)
      EH_CHECK(p[i] == 'a' + (st->last - 'a' + 1) % 26,
               "request body: '%c' after '%c' (byte %lld)", p[i], st->last,
               st->bytes);
    st->last = p[i];
    st->bytes++;
  }
  if (st->clen >= 0)
    EH_CHECK(st->bytes <= st->clen, "stream %u: %lld body bytes, "
             "content-length %lld", sid, st->bytes, st->clen);
  if (end_stream) {
    st->done = 1;
    if (st->clen >= 0)
      EH_CHECK(st->bytes == st->clen, "stream %u ended after %lld body "
               "bytes, content-length %lld", sid, st->bytes, st->clen);
    engine_stats.body_requests++;
  }
}

static void eh2_on_frame(void *ud, uint8_t type, uint8_t flags, uint32_t sid,
                         const uint8_t *p, size_t n) {
  struct eh2_conn *c = ud;
  if (getenv("XFER_FUZZ_TRACE"))
    fprintf(stderr, "[h2 server] conn %u: client frame type %u flags 0x%02x "
            "stream %u, %zu bytes%s%s\n", c->serial, type, flags, sid, n,
            type == H2W_GOAWAY || type == H2W_RST_STREAM ? ", code " : "",
            type == H2W_GOAWAY && n >= 8 ? nghttp2_http2_strerror(
                (p[4] << 24 | p[5] << 16 | p[6] << 8 | p[7]) & 0xffffffffu)
            : type == H2W_RST_STREAM && n == 4 ? nghttp2_http2_strerror(
                (uint32_t)(p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]))
            : "");
  if (type == H2W_GOAWAY) eh2_mark_ended(c->serial);
  if (type == H2W_RST_STREAM) {
    struct eh2_stream *st = eh2_stream(c, sid);
    if (st) st->done = 1; /* no more body */
  }
}

/* ---- the server's side, as sent ---- */

static void eh2_sent_data(void *ud, uint32_t sid, const uint8_t *p,
                          size_t n) {
  struct eh2_conn *c = ud;
  struct eh2_rec *r = eh2_rec(c->serial, sid, 1);
  if (!r || r->ended || r->over) return;
  r->over = eh_append_capped(&r->p, &r->len, &r->cap, EH2_REC_CAP, p, n);
}

static void eh2_sent_end(void *ud, uint32_t sid) {
  struct eh2_conn *c = ud;
  struct eh2_rec *r = eh2_rec(c->serial, sid, 1);
  if (r) r->ended = 1;
}

static void eh2_sent_frame(void *ud, uint8_t type, uint8_t flags,
                           uint32_t sid, uint32_t len) {
  struct eh2_conn *c = ud;
  (void)flags;
  (void)sid;
  (void)len;
  if (type == H2W_GOAWAY) eh2_mark_ended(c->serial);
}

static void eh2_sent(struct eh *h, struct eh_srv *s, const char *p,
                     size_t n) {
  struct eh2_conn *c = eh2_conn(h, s);
  if (c->serial) h2w_track_feed(&c->out, (const uint8_t *)p, n);
}

/* ---- the connection and its script ---- */

static void eh2_accept(struct eh *h, struct eh_srv *s) {
  struct eh2_conn *c = eh2_conn(h, s);
  struct h2w_client_cb ccb;
  struct h2w_track_cb tcb;
  memset(c, 0, sizeof(*c));
  c->serial = ++eh2.serials;
  c->h = h;
  c->s = s;
  engine_stats.h2_conns++;
  memset(&ccb, 0, sizeof(ccb));
  ccb.ud = c;
  ccb.request = eh2_on_request;
  ccb.data = eh2_on_data;
  ccb.frame = eh2_on_frame;
  EH_CHECK(h2w_client_init(&c->in, &ccb) == 0, "oom");
  memset(&tcb, 0, sizeof(tcb));
  tcb.ud = c;
  tcb.data = eh2_sent_data;
  tcb.end = eh2_sent_end;
  tcb.frame = eh2_sent_frame;
  h2w_track_init(&c->out, &tcb);
  if (c->serial > EH2_MAX_CONNS) eh_srv_close(h, s, 0);
}

static void eh2_close(struct eh *h, struct eh_srv *s) {
  struct eh2_conn *c = eh2_conn(h, s);
  if (!c->serial) return;
  eh2_mark_ended(c->serial);
  h2w_client_free(&c->in);
  c->serial = 0;
}

/* The k-th stream the client opened on c (h2w_compact), or 0. */
static uint32_t eh2_opened(void *ud, int k) {
  const struct eh2_conn *c = ud;
  return k <= c->nst ? c->st[k - 1].sid : 0;
}

/* Has what the next step waits for happened? */
static int eh2_ready(const struct eh2_conn *c, int wait) {
  int i;
  switch (wait) {
  case W_NONE:
    return 1;
  case W_BODIES:
    for (i = 0; i < c->nst; i++)
      if (!c->st[i].done) return 0;
    return c->nst > 0;
  case W_TIME:
    return 0;
  case W_FRAME:
    return c->in.frames > c->frames_at_step;
  default:
    return c->nst >= wait;
  }
}

/* The server preface: SETTINGS (xg0 bits 2-3 say which), and the ACK of
 * the client's. */
static size_t eh2_preface(uint8_t *b) {
  static const uint16_t ids[4][2] = {{0, 0}, {3, 0}, {4, 0}, {1, 6}};
  static const uint32_t vals[4][2] = {{0, 0}, {1, 0}, {16, 0}, {0, 64}};
  int k = (eh2.xg0 >> EXG0_H2_SETTINGS_SHIFT) & 3, i, n = k == 0 ? 0
                                                         : k == 3 ? 2 : 1;
  size_t o = H2W_HDR;
  h2w_frame_hdr(b, (uint32_t)(6 * n), H2W_SETTINGS, 0, 0);
  for (i = 0; i < n; i++) {
    b[o++] = (uint8_t)(ids[k][i] >> 8);
    b[o++] = (uint8_t)ids[k][i];
    b[o++] = (uint8_t)(vals[k][i] >> 24);
    b[o++] = (uint8_t)(vals[k][i] >> 16);
    b[o++] = (uint8_t)(vals[k][i] >> 8);
    b[o++] = (uint8_t)vals[k][i];
  }
  h2w_frame_hdr(b + o, 0, H2W_SETTINGS, H2W_F_ACK, 0);
  return o + H2W_HDR;
}

/* Starts writing a step (r NULL: the server preface). */
static void eh2_start(struct eh *h, struct eh_srv *s, struct eh2_conn *c,
                      const struct engine_resp *r) {
  uint8_t *out = NULL;
  size_t len = 0, cap = 0;
  int v = r ? (r->ctl >> EH2_SIZES_SHIFT) & 3 : 0;
  if (!r) {
    out = malloc(64);
    EH_CHECK(out != NULL, "oom");
    len = eh2_preface(out);
  } else if (r->ctl & EH2_RAW) {
    out = malloc(r->len ? r->len : 1);
    EH_CHECK(out != NULL, "oom");
    memcpy(out, r->p, r->len);
    len = r->len;
  } else {
    EH_CHECK(h2w_compact(r->p, r->len, &out, &len, &cap, EH2_STEP_MAX,
                         eh2_opened, c) == 0, "oom");
    if (!out) EH_CHECK((out = malloc(1)) != NULL, "oom");
  }
  if (r) c->step++;
  c->waiting = 0;
  c->frames_at_step = c->in.frames;
  free(s->out);
  s->out = (char *)out;
  s->out_len = s->cut = len;
  s->off = 0;
  s->end = r ? r->ctl & 3 : END_KEEP;
  s->sizes = v ? (unsigned)(2 * v - 1) : 0;
  s->rs = RS_WRITE;
  eh_srv_update(h, s);
}

/* The connection is ready for its next step: start it, or wait for it. */
static void eh2_kick(struct eh *h, struct eh_srv *s) {
  struct eh2_conn *c = eh2_conn(h, s);
  const struct engine_resp *r;
  int wait;
  if (!c->serial || s->fd < 0 || !c->in.settings_in || eh2.finishing)
    return;
  if (s->rs != RS_IDLE && !(s->rs == RS_PAUSE && c->waiting)) return;
  if (!c->preface_sent) {
    c->preface_sent = 1;
    if (eh2.xg0 & EXG0_H2_PREFACE) {
      eh2_start(h, s, c, NULL);
      return;
    }
  }
  if (c->step >= h->in.nresp) return; /* the script is over */
  r = &h->in.resp[c->step];
  wait = r->ctl >> EH2_WAIT_SHIFT;
  if (eh2_ready(c, wait)) {
    eh2_start(h, s, c, r);
  } else if (!c->waiting) {
    c->waiting = 1;
    s->rs = RS_PAUSE;
    s->pause_until = eh_now() + (wait == W_TIME ? EH2_SHORT_WAIT_US
                                                : EH2_WAIT_US);
    eh_srv_update(h, s);
  }
}

/* Steps whose wait is over (what they waited for never came). */
static void eh2_timers(struct eh *h, uint64_t now) {
  int i;
  for (i = 0; i < EH_MAX_SRV; i++) {
    struct eh_srv *s = &h->srv[i];
    struct eh2_conn *c = &eh2.c[i];
    if (s->used && c->serial && c->waiting && s->rs == RS_PAUSE &&
        now >= s->pause_until && !eh2.finishing)
      eh2_start(h, s, c, &h->in.resp[c->step]);
  }
}

/* Bytes from the client. */
static void eh2_consume(struct eh *h, struct eh_srv *s, const char *d,
                        size_t n) {
  struct eh2_conn *c = eh2_conn(h, s);
  const char *err;
  if (!c->serial) return;
  err = h2w_client_feed(&c->in, (const uint8_t *)d, n);
  EH_CHECK(err == NULL, "the client's HTTP/2: %s", err);
  if (c->in.not_h2) {
    /* TLS (an https:// transfer) or an HTTP/1.1 request (a stream reset
     * with HTTP_1_1_REQUIRED): not for this server. */
    EH_CHECK(c->in.preface < 4, "the client's preface is wrong after %zu "
             "bytes", c->in.preface);
    eh_srv_close(h, s, 0);
    return;
  }
  eh2_kick(h, s);
}

/* ---- the outcome ---- */

/* The results an HTTP/2 transfer may end with, given its options. */
static int eh2_result_ok(const struct eh_tx *t, int r) {
  switch (r) {
  case XFERE_OK:
  case XFERE_HTTP2:              /* the connection failed */
  case XFERE_HTTP2_STREAM:       /* the stream failed, or was refused */
  case XFERE_COULDNT_CONNECT:    /* after the listener closed (the end) */
  case XFERE_WEIRD_SERVER_REPLY:
  case XFERE_PARTIAL_FILE:
  case XFERE_WRITE_ERROR:        /* a write callback's short return */
  case XFERE_ABORTED_BY_CALLBACK:
  case XFERE_GOT_NOTHING:        /* after HTTP_1_1_REQUIRED: HTTP/1.1 */
  case XFERE_SEND_ERROR:
  case XFERE_RECV_ERROR:
  case XFERE_OPERATION_TIMEDOUT: /* eh_check_done checks its cause */
  case XFERE_TOO_LARGE:
    return 1;
  case XFERE_OUT_OF_MEMORY:
    return engine_oom_mode;
  case XFERE_HTTP_RETURNED_ERROR:
    return (t->a & 0x80) != 0;
  case XFERE_UNSUPPORTED_PROTOCOL:
  case XFERE_URL_MALFORMAT:
  case XFERE_TOO_MANY_REDIRECTS:
  case XFERE_COULDNT_RESOLVE_HOST:
    return t->follow;
  case XFERE_READ_ERROR:
  case XFERE_SEND_FAIL_REWIND:
    return t->has_body || t->rcb;
  case XFERE_SSL_CONNECT_ERROR:
  case XFERE_PEER_FAILED_VERIFICATION:
    return t->https || t->follow;
  case XFERE_BAD_FUNCTION_ARGUMENT:
    return t->bad_header;
  default:
    return 0;
  }
}

/* From eh_check_done, for every message. */
static void eh2_check_done(struct eh *h, struct eh_tx *t) {
  struct eh2_rec *r;
  (void)h;
  EH_CHECK(eh2_result_ok(t, t->result), "transfer %d (HTTP/2) ended with "
           "%d: not a result it may have (\"%s\")", t->idx, t->result,
           t->errbuf);
  if (t->result != XFERE_OK || t->is_head || t->removed_once ||
      t->body_over || eh2.rec_full)
    return;
  EH_CHECK(eh2.tx_serial[t->idx] != 0, "transfer %d succeeded over HTTP/2 "
           "without a request the server saw", t->idx);
  r = eh2_rec(eh2.tx_serial[t->idx], eh2.tx_sid[t->idx], 0);
  EH_CHECK(r && r->ended, "transfer %d succeeded, but the server never "
           "ended its stream %u", t->idx, eh2.tx_sid[t->idx]);
  if (r->over) return;
  EH_CHECK(t->body_len == r->len &&
               (r->len == 0 || memcmp(t->body, r->p, r->len) == 0),
           "transfer %d: the write callback got %zu bytes, the server sent "
           "%zu on stream %u (%s)", t->idx, t->body_len, r->len,
           eh2.tx_sid[t->idx],
           t->body_len == r->len ? "other bytes" : "another size");
  engine_stats.h2_bodies_checked++;
}

/* Must this transfer still get its message? */
static int eh2_must_end(const struct eh_tx *t) {
  return t->added && !t->done && !t->freed && !t->paused_mask;
}

/* The engine alone, until every transfer that must end has, or the time
 * is up. */
static void eh2_drive(struct eh *h, uint64_t until) {
  struct epoll_event evs[64];
  int running = 0, i, n, left;
  while (eh_now() < until) {
    /* A message may wait already (a transfer that add_handle failed). */
    eh_drain(h, -1);
    for (i = 0, left = 0; i < h->ntx; i++) left += eh2_must_end(&h->tx[i]);
    if (!left) return;
    if (h->mode_perform) {
      eh_drain(h, eh_mrc(h, xfer_multi_perform(h->m, &running), "perform")
                      ? running : -1);
      eh_mrc(h, xfer_multi_poll(h->m, NULL, 0, 5, NULL), "poll");
      continue;
    }
    n = epoll_wait(h->epfd, evs, 64, 5);
    for (i = 0; i < n; i++) {
      int fd = (int)(evs[i].data.u64 & 0xffffff);
      uint32_t gen = (uint32_t)((evs[i].data.u64 >> 24) & 0xffffffff);
      if ((int)(evs[i].data.u64 >> 56) != TAG_CLIENT || !h->reg[fd] ||
          (h->gen[fd] & 0xffffffff) != gen)
        continue;
      eh_drain(h, eh_mrc(h, xfer_multi_socket_action(
                                h->m, fd, (int)eh_ev_mask(h, evs[i].events),
                                &running),
                         "socket_action") ? running : -1);
    }
    if (h->timer_set && eh_now() >= h->timer_at) {
      h->timer_set = 0;
      eh_drain(h, eh_mrc(h, xfer_multi_socket_action(h->m,
                                                     XFER_SOCKET_TIMEOUT, 0,
                                                     &running),
                         "socket_action(TIMEOUT)") ? running : -1);
    }
  }
}

/* Reads what the client sent on s (waiting up to wait_ms for more):
 * its last frames, its GOAWAY, its close. */
static void eh2_read_rest(struct eh *h, struct eh_srv *s, int wait_ms) {
  static char buf[65536];
  uint64_t until = eh_now() + (uint64_t)wait_ms * 1000u;
  while (s->used && s->fd >= 0) {
    ssize_t n = recv(s->fd, buf, sizeof(buf), 0);
    struct pollfd p;
    if (n > 0) {
      eh2_consume(h, s, buf, (size_t)n);
      continue;
    }
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
      eh_srv_close(h, s, 0); /* the client closed it */
      return;
    }
    if (eh2_was_ended(eh2_conn(h, s)->serial) || eh_now() >= until) return;
    p.fd = s->fd;
    p.events = POLLIN;
    poll(&p, 1, 1);
  }
}

/* After the loop: what the client said last, the 16s, then every
 * connection and the listener close and no transfer may be lost. */
static void eh2_finish(struct eh *h) {
  int i, k;
  eh2.finishing = 1;
  for (i = 0; i < EH_MAX_SRV; i++) eh2_read_rest(h, &h->srv[i], 0);
  for (i = 0; i < h->ntx; i++) {
    struct eh_tx *t = &h->tx[i];
    if (!t->done || t->result != XFERE_HTTP2 || !eh2.tx_serial[i]) continue;
    /* The client may still be closing it: give it a moment. */
    for (k = 0; k < EH_MAX_SRV; k++)
      if (eh2.c[k].serial == eh2.tx_serial[i])
        eh2_read_rest(h, &h->srv[k], 20);
    EH_CHECK(eh2_was_ended(eh2.tx_serial[i]), "transfer %d failed with "
             "HTTP2 (16: \"%s\"), but its connection goes on (no GOAWAY, "
             "not closed)", i, t->errbuf);
  }
  if (eh2.xg0 & EXG0_H2_NO_DRAIN) return; /* cleaned up as they are */
  for (i = 0; i < EH_MAX_SRV; i++) eh_srv_close(h, &h->srv[i], 0);
  if (h->lfd >= 0) close(h->lfd);
  h->lfd = -1;
  eh2_drive(h, eh_now() + EH2_DRAIN_MS * 1000u);
  for (i = 0; i < h->ntx; i++)
    EH_CHECK(!eh2_must_end(&h->tx[i]), "transfer %d is lost: no message %d "
             "ms after its connections and the listener closed", i,
             EH2_DRAIN_MS);
}

static void eh2_end(void) {
  int i;
  for (i = 0; i < eh2.nrec; i++) free(eh2.rec[i].p);
  for (i = 0; i < EH_MAX_SRV; i++)
    if (eh2.c[i].serial) h2w_client_free(&eh2.c[i].in);
  memset(&eh2, 0, sizeof(eh2));
  eh2_on = 0;
}
