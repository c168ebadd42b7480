/*
 * h2fault_routes.c -- the routes of the HTTP/2 fault server and the
 * nghttp2 callbacks that feed them.  No I/O here: responses are submitted
 * to the session; raw frames are handed to the connection as a raw job
 * (struct raw) that h2fault.c writes between nghttp2's frames.
 *
 * Route = :path before '?'.  Responses carry server: h2fault and (unless
 * 204/304 or noted) content-length; HEAD gets the headers only.
 *   /ok                 200 text/plain "ok\n"
 *   /bytes?n=N          200, N bytes (default 0, at most 1 GiB), byte i =
 *                       'a' + i % 26, made as nghttp2 asks for it
 *   /window-small       /bytes?n=1048576 (the client's flow control is
 *                       what a test of it exercises; nothing server-side)
 *   /echo               after the request's END_STREAM: 200 text/plain
 *                       "METHOD :path\n", ":authority: A\n" (when sent),
 *                       "name: value\n" per header
 *                       (received order, pseudo-headers left out, trailers
 *                       included, 64 KiB at most), "\nbody-length: N\n
 *                       body-sha256: HEX\n"
 *   /slow?n=N&ms=M      200, N bytes (default 4096) in 1 KiB DATA frames,
 *                       one every M ms (default 100; the first at once)
 *   /rst?code=C         RST_STREAM C (default 2) on the request headers
 *   /rst-after-headers  200 without content-length, 1 KiB of DATA without
 *                       END_STREAM, then RST_STREAM INTERNAL_ERROR
 *   /goaway?after=K     per connection (K from the first /goaway, default
 *                       1): when /goaway number K+1 arrives, or 2 s after
 *                       the first, GOAWAY(last = id of the K-th, NO_ERROR),
 *                       then the K lowest get 200 "served ID\n"; later ones
 *                       get nothing; the connection closes when they are
 *                       done
 *   /goaway-now         GOAWAY(0, PROTOCOL_ERROR), then the close
 *   /ping-idle?ms=M     200 "ok\n"; M ms (default 100) after the stream
 *                       closes, a PING "xferping" on its connection
 *   /ping-status        200 "pings=A acks=B" (no newline): those PINGs
 *                       sent, and their ACKs received, by the process
 *   /trailers           200 "body\n", trailers x-trailer-one: 1 and
 *                       x-trailer-two: 2
 *   /1xx                103 (link: </style.css>; rel=preload), 200 "final\n"
 *   /redirect?to=URL    302, location: URL (%XX-decoded), empty body;
 *                       400 without to
 *   /status?code=N      N with "status N\n" (no body for 204/304); 400
 *                       when N is not 200..999
 *   /upload-starve      never answered, and its request body's stream
 *                       window never reopened (the connection's is)
 *   /headers-huge?kb=K  raw: HEADERS + CONTINUATIONs (16 KiB frames) of
 *                       x-big-N: <1000 x 'v'> until names and values reach
 *                       K KiB (default 200, at most 16384), literals
 *                       without indexing; then DATA "x" + END_STREAM, then
 *                       RST_STREAM NO_ERROR from nghttp2 (to let go of the
 *                       stream).  The connection stays usable, except that
 *                       nghttp2 does not know the 1 byte of "x": it sees the
 *                       client's connection window 1 byte larger than it is
 *   /continuation-flood?n=N  raw: HEADERS (:status 200, no END_HEADERS),
 *                       N empty CONTINUATIONs (default 100000), written as
 *                       the socket takes them; then FIN.  Stops (closes) if
 *                       the client resets the stream or closes
 *   /hpack-bomb?mb=M    raw: one x-bomb: <4000 x 'b'> added to the client's
 *                       dynamic table, then 1-byte references to it (index
 *                       62) until the decoded list passes M MiB (default
 *                       64, ~21 KB on the wire), END_STREAM; then FIN
 *   /garbage            raw: 64 bytes, a DATA frame on stream 0; then no
 *                       more reading or writing; close on the client's
 *                       close or after 10 s
 *   /close              close(2) at once, no GOAWAY
 *   anything else       404 "not found\n"
 * A raw route on a connection where a raw job runs, or ran and ended it,
 * is refused with RST_STREAM REFUSED_STREAM.
 */
#include "h2fault.h"

#include <stdarg.h>

#define ECHO_MAX (64 * 1024) /* header lines /echo keeps, at most */
#define GOAWAY_WAIT_MS 2000
#define GIB (1ULL << 30)

enum {
  R_NOTFOUND, R_OK, R_BYTES, R_WINDOW_SMALL, R_ECHO, R_SLOW, R_RST,
  R_RST_AFTER, R_GOAWAY, R_GOAWAY_NOW, R_PING_IDLE, R_PING_STATUS,
  R_TRAILERS, R_1XX, R_REDIRECT, R_STATUS, R_STARVE, R_HUGE, R_FLOOD,
  R_BOMB, R_GARBAGE, R_CLOSE
};

static const struct { const char *path; int route; } routes[] = {
  {"/ok", R_OK}, {"/bytes", R_BYTES}, {"/window-small", R_WINDOW_SMALL},
  {"/echo", R_ECHO}, {"/slow", R_SLOW}, {"/rst", R_RST},
  {"/rst-after-headers", R_RST_AFTER}, {"/goaway", R_GOAWAY},
  {"/goaway-now", R_GOAWAY_NOW}, {"/ping-idle", R_PING_IDLE},
  {"/ping-status", R_PING_STATUS}, {"/trailers", R_TRAILERS},
  {"/1xx", R_1XX}, {"/redirect", R_REDIRECT}, {"/status", R_STATUS},
  {"/upload-starve", R_STARVE}, {"/headers-huge", R_HUGE},
  {"/continuation-flood", R_FLOOD}, {"/hpack-bomb", R_BOMB},
  {"/garbage", R_GARBAGE}, {"/close", R_CLOSE},
};

/* For the whole process: PINGs /ping-idle sent, and ACKs for them. */
static unsigned long pings_sent, pings_acked;
static const uint8_t ping_data[8] = {'x', 'f', 'e', 'r', 'p', 'i', 'n', 'g'};

/* ---- request parsing -------------------------------------------------- */

static int route_of(const char *path) {
  size_t n = strcspn(path, "?"), i;
  for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
    if (strlen(routes[i].path) == n && !memcmp(routes[i].path, path, n))
      return routes[i].route;
  return R_NOTFOUND;
}

/* The raw value of query parameter k, or NULL. */
static const char *qparam(const char *path, const char *k, size_t *len) {
  const char *p = strchr(path, '?');
  size_t kl = strlen(k);
  if (!p) return NULL;
  for (p++; *p;) {
    size_t n = strcspn(p, "&");
    if (n > kl && p[kl] == '=' && !memcmp(p, k, kl)) {
      *len = n - kl - 1;
      return p + kl + 1;
    }
    p += n;
    if (*p) p++;
  }
  return NULL;
}

/* A decimal parameter: def when absent or not a number, max at most. */
static uint64_t qnum(const char *path, const char *k, uint64_t def,
                     uint64_t max) {
  size_t len, i;
  uint64_t x = 0;
  const char *v = qparam(path, k, &len);
  if (!v || !len || len > 18) return def;
  for (i = 0; i < len; i++) {
    if (v[i] < '0' || v[i] > '9') return def;
    x = x * 10 + (uint64_t)(v[i] - '0');
  }
  return x > max ? max : x;
}

static int hexval(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/* A parameter, %XX-decoded (malloc'd), or NULL. */
static char *qstr(const char *path, const char *k) {
  size_t len, i, o = 0;
  const char *v = qparam(path, k, &len);
  char *r = v ? malloc(len + 1) : NULL;
  if (!r) return NULL;
  for (i = 0; i < len; i++) {
    if (v[i] == '%' && i + 2 < len && hexval(v[i + 1]) >= 0 &&
        hexval(v[i + 2]) >= 0) {
      r[o++] = (char)(hexval(v[i + 1]) * 16 + hexval(v[i + 2]));
      i += 2;
    } else {
      r[o++] = v[i];
    }
  }
  r[o] = 0;
  return r;
}

/* ---- responses -------------------------------------------------------- */

static nghttp2_nv mknv(const char *name, const char *value) {
  nghttp2_nv nv;
  nv.name = (uint8_t *)name;
  nv.namelen = strlen(name);
  nv.value = (uint8_t *)value;
  nv.valuelen = strlen(value);
  nv.flags = NGHTTP2_NV_FLAG_NONE; /* nghttp2 copies them */
  return nv;
}

/* byte i of a pattern body is 'a' + i % 26 */
static void fill_pattern(uint8_t *p, uint64_t off, size_t n) {
  size_t i;
  unsigned k = (unsigned)(off % 26);
  for (i = 0; i < n; i++) {
    p[i] = (uint8_t)('a' + k);
    if (++k == 26) k = 0;
  }
}

static ssize_t body_read(nghttp2_session *h2, int32_t sid, uint8_t *buf,
                         size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *u) {
  struct strm *s = src->ptr;
  uint64_t left = s->total - s->sent;
  (void)sid;
  (void)u;
  if (s->tick_at) { /* /slow: only what the last tick allowed */
    if (!s->credit && left) {
      s->deferred = 1;
      return NGHTTP2_ERR_DEFERRED;
    }
    if (len > s->credit) len = s->credit;
  }
  if (len > left) len = (size_t)left;
  if (s->body) memcpy(buf, s->body + s->sent, len);
  else fill_pattern(buf, s->sent, len);
  s->sent += len;
  if (s->tick_at) s->credit -= (uint32_t)len;
  if (s->sent == s->total) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (s->trailers) {
      nghttp2_nv tr[2];
      tr[0] = mknv("x-trailer-one", "1");
      tr[1] = mknv("x-trailer-two", "2");
      if (nghttp2_submit_trailer(h2, s->id, tr, 2) == 0)
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    }
    if (s->no_end) *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
  }
  return (ssize_t)len;
}

/* Submits the response; body (malloc'd, taken) or NULL for the pattern. */
static void respond(struct strm *s, int status, const char *ctype,
                    char *body, uint64_t len, const nghttp2_nv *extra,
                    size_t nextra) {
  nghttp2_nv nv[8];
  nghttp2_data_provider dp;
  char st[16], cl[24];
  size_t n = 0, i;
  int bodyless = status == 204 || status == 304;
  snprintf(st, sizeof(st), "%d", status);
  nv[n++] = mknv(":status", st);
  nv[n++] = mknv("server", "h2fault");
  if (ctype) nv[n++] = mknv("content-type", ctype);
  if (!bodyless && !s->no_end) {
    snprintf(cl, sizeof(cl), "%llu", (unsigned long long)len);
    nv[n++] = mknv("content-length", cl);
  }
  for (i = 0; i < nextra && n < 8; i++) nv[n++] = extra[i];
  free(s->body);
  s->body = body;
  s->total = bodyless || s->head ? 0 : len;
  s->sent = 0;
  dp.source.ptr = s;
  dp.read_callback = body_read;
  if (nghttp2_submit_response(s->c->h2, s->id, nv, n,
                              s->total || s->trailers ? &dp : NULL))
    h2f_dbg("conn %u: stream %d: cannot respond", s->c->id, s->id);
}

static void respond_text(struct strm *s, int status, const char *text) {
  char *b = strdup(text);
  respond(s, status, "text/plain", b, b ? strlen(b) : 0, NULL, 0);
}

static void respond_pattern(struct strm *s, uint64_t n) {
  respond(s, 200, "application/octet-stream", NULL, n, NULL, 0);
}

static void add_line(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void add_line(struct buf *b, const char *fmt, ...) {
  char line[128];
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  if (n > 0) h2f_buf_add(b, line, (size_t)n < sizeof(line) ? (size_t)n : 0);
}

static void respond_echo(struct strm *s) {
  struct buf b = {0};
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned mdlen = 0, i;
  const char *path = s->path ? s->path : "";
  h2f_buf_add(&b, s->method, strlen(s->method));
  h2f_buf_add(&b, " ", 1);
  h2f_buf_add(&b, path, strlen(path));
  h2f_buf_add(&b, "\n", 1);
  if (s->authority) add_line(&b, ":authority: %s\n", s->authority);
  h2f_buf_add(&b, s->echo.d, s->echo.len);
  add_line(&b, "\nbody-length: %llu\nbody-sha256: ",
           (unsigned long long)s->body_in);
  if (s->sha) EVP_DigestFinal_ex(s->sha, md, &mdlen);
  for (i = 0; i < mdlen; i++) add_line(&b, "%02x", md[i]);
  h2f_buf_add(&b, "\n", 1);
  respond(s, 200, "text/plain", (char *)b.d, b.len, NULL, 0);
}

/* ---- /goaway ------------------------------------------------------------ */

/* Serves the first gw_after waiting streams (lowest ids), GOAWAY naming
 * the last of them before their responses; nghttp2 closes the streams
 * above it once the GOAWAY is out, unanswered. */
static void goaway_fire(struct conn *c) {
  int32_t last = 0;
  int i;
  struct strm *s, *m;
  c->gw_done = 1;
  c->gw_at = 0;
  for (i = 0; i < c->gw_after; i++) {
    for (m = NULL, s = c->streams; s; s = s->next)
      if (s->gw_wait == 1 && (!m || s->id < m->id)) m = s;
    if (!m) break;
    m->gw_wait = 2;
    last = m->id;
  }
  h2f_dbg("conn %u: GOAWAY last_stream_id %d", c->id, last);
  nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, last, NGHTTP2_NO_ERROR,
                        NULL, 0);
  for (s = c->streams; s; s = s->next) {
    char b[32];
    if (s->gw_wait != 2) continue;
    snprintf(b, sizeof(b), "served %d\n", s->id);
    respond_text(s, 200, b);
  }
}

static void goaway_arrive(struct conn *c, struct strm *s, const char *p) {
  if (c->gw_done) return; /* above last_stream_id: never answered */
  if (c->gw_after < 0) {
    c->gw_after = (int)qnum(p, "after", 1, 1000);
    c->gw_at = h2f_now() + GOAWAY_WAIT_MS;
  }
  s->gw_wait = 1;
  if (++c->gw_n > c->gw_after) goaway_fire(c);
}

/* ---- raw routes ------------------------------------------------------- */

static void hpack_int(struct buf *b, uint8_t first, int prefix, size_t v) {
  uint8_t t[12];
  size_t n = 0, max = ((size_t)1 << prefix) - 1;
  if (v < max) {
    t[n++] = (uint8_t)(first | v);
  } else {
    t[n++] = (uint8_t)(first | max);
    for (v -= max; v >= 128; v >>= 7) t[n++] = (uint8_t)(0x80 | (v & 0x7f));
    t[n++] = (uint8_t)v;
  }
  h2f_buf_add(b, t, n);
}

static void hpack_str(struct buf *b, const char *s, size_t n) {
  hpack_int(b, 0, 7, n); /* H = 0: no Huffman */
  h2f_buf_add(b, s, n);
}

/* Starts a raw job for s, or refuses s when one runs (or ran and killed
 * the connection's output). */
static struct raw *raw_begin(struct conn *c, struct strm *s) {
  if (c->raw.on || c->mute) {
    nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, s->id,
                              NGHTTP2_REFUSED_STREAM);
    return NULL;
  }
  memset(&c->raw, 0, sizeof(c->raw));
  c->raw.on = 1;
  c->raw.sid = s->id;
  return &c->raw;
}

static void raw_take(struct raw *r, struct buf *b) {
  r->blk = b->d;
  r->len = b->len;
}

/* Literals without indexing: the client's dynamic table is left as
 * nghttp2's encoder believes it is, so the connection stays usable. */
static void raw_huge(struct conn *c, struct strm *s, const char *p) {
  uint64_t want = qnum(p, "kb", 200, 16384) * 1024, got = 0;
  struct raw *r = raw_begin(c, s);
  struct buf b = {0};
  char name[32], val[1000];
  unsigned i;
  if (!r) return;
  memset(val, 'v', sizeof(val));
  h2f_buf_add(&b, "\x88", 1); /* :status 200, static index 8 */
  for (i = 0; got < want; i++) {
    int nl = snprintf(name, sizeof(name), "x-big-%u", i);
    h2f_buf_add(&b, "", 1); /* 0x00: literal, not indexed, new name */
    hpack_str(&b, name, (size_t)nl);
    hpack_str(&b, val, sizeof(val));
    got += (uint64_t)nl + sizeof(val);
  }
  raw_take(r, &b);
  r->end_headers = 1;
  r->then = THEN_DATA_X;
}

/* One 4,000-byte entry in the client's dynamic table, then one-byte
 * references to it until the decoded list passes mb MiB.  It changes the
 * client's table behind nghttp2's back: the connection ends with it. */
static void raw_bomb(struct conn *c, struct strm *s, const char *p) {
  uint64_t refs = qnum(p, "mb", 64, 1024) * 1024 * 1024 / 4006 + 1, i;
  struct raw *r = raw_begin(c, s);
  struct buf b = {0};
  char val[4000];
  uint8_t ix[256];
  if (!r) return;
  memset(val, 'b', sizeof(val));
  memset(ix, 0x80 | 62, sizeof(ix)); /* indexed: the newest dynamic entry */
  h2f_buf_add(&b, "\x88\x40", 2);    /* :status 200; literal, indexed */
  hpack_str(&b, "x-bomb", 6);
  hpack_str(&b, val, sizeof(val));
  for (i = 0; i < refs; i += sizeof(ix))
    h2f_buf_add(&b, ix, refs - i < sizeof(ix) ? refs - i : sizeof(ix));
  raw_take(r, &b);
  r->hflags = NGHTTP2_FLAG_END_STREAM;
  r->end_headers = 1;
  r->then = THEN_CLOSE;
}

static void raw_flood(struct conn *c, struct strm *s, const char *p) {
  struct raw *r = raw_begin(c, s);
  struct buf b = {0};
  if (!r) return;
  h2f_buf_add(&b, "\x88", 1);
  raw_take(r, &b);
  r->flood = (uint32_t)qnum(p, "n", 100000, 10000000);
  r->then = THEN_CLOSE; /* the block never ends: only a close can */
}

/* DATA on stream 0: a connection error for any client. */
static void raw_garbage(struct conn *c, struct strm *s) {
  struct raw *r = raw_begin(c, s);
  struct buf b = {0};
  uint8_t junk[55];
  if (!r) return;
  memset(junk, 0xee, sizeof(junk));
  h2f_frame_hdr(&b, sizeof(junk), NGHTTP2_DATA, 0, 0);
  h2f_buf_add(&b, junk, sizeof(junk));
  raw_take(r, &b);
  r->plain = 1;
  r->then = THEN_DEAF;
}

/* ---- dispatch --------------------------------------------------------- */

static void dispatch(struct conn *c, struct strm *s) {
  const char *p = s->path ? s->path : "";
  char b[64], *to;
  nghttp2_nv nv[2];
  uint64_t n;
  h2f_dbg("conn %u: stream %d: %s %s", c->id, s->id, s->method, p);
  switch (s->route) {
  case R_OK: respond_text(s, 200, "ok\n"); break;
  case R_BYTES: respond_pattern(s, qnum(p, "n", 0, GIB)); break;
  case R_WINDOW_SMALL: respond_pattern(s, 1 << 20); break;
  case R_ECHO: /* answered at the request's END_STREAM */
    if ((s->sha = EVP_MD_CTX_new()))
      EVP_DigestInit_ex(s->sha, EVP_sha256(), NULL);
    break;
  case R_SLOW:
    s->ms = (unsigned)qnum(p, "ms", 100, 60000);
    if (!s->ms) s->ms = 1; /* a 0 ms tick would spin */
    s->credit = 1024;
    s->tick_at = h2f_now() + s->ms;
    respond_pattern(s, qnum(p, "n", 4096, GIB));
    break;
  case R_RST:
    nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, s->id,
                              (uint32_t)qnum(p, "code", 2, UINT32_MAX));
    break;
  case R_RST_AFTER: /* the RST follows the DATA: see on_frame_send */
    s->no_end = 1;
    respond_pattern(s, 1024);
    break;
  case R_GOAWAY: goaway_arrive(c, s, p); break;
  case R_GOAWAY_NOW:
    nghttp2_session_terminate_session2(c->h2, 0, NGHTTP2_PROTOCOL_ERROR);
    break;
  case R_PING_IDLE:
    s->ms = (unsigned)qnum(p, "ms", 100, 600000);
    respond_text(s, 200, "ok\n");
    break;
  case R_PING_STATUS:
    snprintf(b, sizeof(b), "pings=%lu acks=%lu", pings_sent, pings_acked);
    respond_text(s, 200, b);
    break;
  case R_TRAILERS: s->trailers = 1; respond_text(s, 200, "body\n"); break;
  case R_1XX:
    nv[0] = mknv(":status", "103");
    nv[1] = mknv("link", "</style.css>; rel=preload");
    nghttp2_submit_headers(c->h2, NGHTTP2_FLAG_NONE, s->id, NULL, nv, 2,
                           NULL);
    respond_text(s, 200, "final\n");
    break;
  case R_REDIRECT:
    if (!(to = qstr(p, "to"))) {
      respond_text(s, 400, "missing to\n");
      break;
    }
    nv[0] = mknv("location", to);
    respond(s, 302, NULL, NULL, 0, nv, 1);
    free(to);
    break;
  case R_STATUS:
    n = qnum(p, "code", 0, 999);
    snprintf(b, sizeof(b), "status %d\n", (int)n);
    if (n < 200) respond_text(s, 400, "bad code\n");
    else respond(s, (int)n, "text/plain", strdup(b), strlen(b), NULL, 0);
    break;
  case R_STARVE: break; /* no WINDOW_UPDATE, no answer: on_data */
  case R_HUGE: raw_huge(c, s, p); break;
  case R_FLOOD: raw_flood(c, s, p); break;
  case R_BOMB: raw_bomb(c, s, p); break;
  case R_GARBAGE: raw_garbage(c, s); break;
  case R_CLOSE: c->kill = 1; break;
  default: respond_text(s, 404, "not found\n"); break;
  }
}

/* ---- timers ----------------------------------------------------------- */

int h2f_conn_timers(struct conn *c, uint64_t now) {
  int fired = 0;
  struct strm *s;
  if (c->gw_at && !c->gw_done && now >= c->gw_at) {
    goaway_fire(c);
    fired = 1;
  }
  if (c->ping_at && now >= c->ping_at) {
    c->ping_at = 0;
    nghttp2_submit_ping(c->h2, NGHTTP2_FLAG_NONE, ping_data);
    fired = 1;
  }
  for (s = c->streams; s; s = s->next) {
    if (!s->tick_at || now < s->tick_at) continue;
    if (s->sent >= s->total) {
      s->tick_at = 0;
      continue;
    }
    if (!s->credit) /* one frame a tick: unused credit does not pile up */
      s->credit = 1024;
    s->tick_at = now + s->ms;
    if (s->deferred) {
      s->deferred = 0;
      nghttp2_session_resume_data(c->h2, s->id);
    }
    fired = 1;
  }
  return fired;
}

/* ---- nghttp2 callbacks ------------------------------------------------ */

void h2f_strm_free(struct strm *s) {
  struct conn *c = s->c;
  if (s->prev) s->prev->next = s->next;
  else c->streams = s->next;
  if (s->next) s->next->prev = s->prev;
  if (c->h2) nghttp2_session_set_stream_user_data(c->h2, s->id, NULL);
  free(s->path);
  free(s->authority);
  free(s->body);
  h2f_buf_free(&s->echo);
  EVP_MD_CTX_free(s->sha);
  free(s);
}

static struct strm *strm_of(nghttp2_session *h2, int32_t sid) {
  return sid ? nghttp2_session_get_stream_user_data(h2, sid) : NULL;
}

static int on_begin_headers(nghttp2_session *h2, const nghttp2_frame *f,
                            void *u) {
  struct conn *c = u;
  struct strm *s;
  if (f->hd.type != NGHTTP2_HEADERS ||
      f->headers.cat != NGHTTP2_HCAT_REQUEST)
    return 0;
  if (!(s = calloc(1, sizeof(*s))))
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
  s->c = c;
  s->id = f->hd.stream_id;
  s->next = c->streams;
  if (c->streams) c->streams->prev = s;
  c->streams = s;
  nghttp2_session_set_stream_user_data(h2, s->id, s);
  return 0;
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *f,
                     const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *u) {
  struct strm *s = strm_of(h2, f->hd.stream_id);
  (void)flags;
  (void)u;
  if (!s || !namelen) return 0;
  if (namelen == 7 && !memcmp(name, ":method", 7)) {
    size_t n = valuelen < sizeof(s->method) ? valuelen : sizeof(s->method) - 1;
    memcpy(s->method, value, n);
    s->method[n] = 0;
    s->head = !strcmp(s->method, "HEAD");
  } else if (namelen == 10 && !memcmp(name, ":authority", 10) &&
             !s->authority) {
    s->authority = strndup((const char *)value, valuelen);
  } else if (namelen == 5 && !memcmp(name, ":path", 5) && !s->path) {
    s->path = strndup((const char *)value, valuelen);
    s->route = s->path ? route_of(s->path) : R_NOTFOUND;
  } else if (name[0] != ':' && s->route == R_ECHO &&
             s->echo.len + namelen + valuelen + 3 <= ECHO_MAX) {
    h2f_buf_add(&s->echo, name, namelen);
    h2f_buf_add(&s->echo, ": ", 2);
    h2f_buf_add(&s->echo, value, valuelen);
    h2f_buf_add(&s->echo, "\n", 1);
  }
  return 0;
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *f,
                         void *u) {
  struct conn *c = u;
  struct strm *s;
  h2f_dbg("conn %u: recv frame type %u stream %d flags 0x%x", c->id,
          f->hd.type, f->hd.stream_id, f->hd.flags);
  if (f->hd.type == NGHTTP2_PING) {
    if ((f->hd.flags & NGHTTP2_FLAG_ACK) &&
        !memcmp(f->ping.opaque_data, ping_data, 8))
      pings_acked++;
    return 0;
  }
  if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) return 0;
  if (!(s = strm_of(h2, f->hd.stream_id))) return 0;
  if (f->hd.type == NGHTTP2_HEADERS &&
      f->headers.cat == NGHTTP2_HCAT_REQUEST)
    dispatch(c, s);
  if ((f->hd.flags & NGHTTP2_FLAG_END_STREAM) && s->route == R_ECHO)
    respond_echo(s);
  return 0;
}

static int on_data(nghttp2_session *h2, uint8_t flags, int32_t sid,
                   const uint8_t *d, size_t len, void *u) {
  struct strm *s = strm_of(h2, sid);
  (void)flags;
  (void)u;
  /* Automatic WINDOW_UPDATE is off: give back what was read, except the
   * starved stream's window (its bytes still count for the connection,
   * which must stay open to the other streams). */
  if (s && s->route == R_STARVE) nghttp2_session_consume_connection(h2, len);
  else nghttp2_session_consume(h2, sid, len);
  if (s && s->route == R_ECHO) {
    s->body_in += len;
    if (s->sha) EVP_DigestUpdate(s->sha, d, len);
  }
  return 0;
}

static int on_frame_send(nghttp2_session *h2, const nghttp2_frame *f,
                         void *u) {
  struct conn *c = u;
  struct strm *s;
  h2f_dbg("conn %u: sent frame type %u stream %d flags 0x%x", c->id,
          f->hd.type, f->hd.stream_id, f->hd.flags);
  if (f->hd.type == NGHTTP2_PING && !(f->hd.flags & NGHTTP2_FLAG_ACK) &&
      !memcmp(f->ping.opaque_data, ping_data, 8))
    pings_sent++;
  if (f->hd.type == NGHTTP2_DATA && (s = strm_of(h2, f->hd.stream_id)) &&
      s->no_end && s->sent == s->total) {
    s->no_end = 0;
    nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, s->id,
                              NGHTTP2_INTERNAL_ERROR);
  }
  return 0;
}

static int on_stream_close(nghttp2_session *h2, int32_t sid, uint32_t err,
                           void *u) {
  struct conn *c = u;
  struct strm *s = strm_of(h2, sid);
  h2f_dbg("conn %u: stream %d closed (error %u)", c->id, sid, err);
  /* The flood's client gave up: its header block can never end now. */
  if (c->raw.on && c->raw.sid == sid && c->raw.flood) c->kill = 1;
  if (!s) return 0;
  if (s->route == R_PING_IDLE && err == NGHTTP2_NO_ERROR)
    c->ping_at = h2f_now() + s->ms;
  h2f_strm_free(s);
  return 0;
}

void h2f_set_callbacks(nghttp2_session_callbacks *cb) {
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb,
                                                          on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
  nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb,
                                                         on_stream_close);
}
