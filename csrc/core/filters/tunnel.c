/*
 * tunnel.c -- the CONNECT tunnel through an HTTP(S) proxy: a filter that
 * sends "CONNECT host:port" with the proxy's credentials and headers,
 * reads the proxy's answer with the HTTP/1.x parser (as the answer to a
 * HEAD: a 2xx to CONNECT has no body), and from then on passes bytes
 * through.  TLS to the origin goes on top of it.
 *
 * What libcurl 7.88 returns: any non-2xx answer, a close before the
 * answer, or an answer that is not HTTP fail with RECV_ERROR (56); the
 * status is kept for HTTP_CONNECTCODE.  The answer's header lines go to
 * the header callback (conn.c, unless SUPPRESS_CONNECT_HEADERS).
 *
 * A 407 that proxy.c can answer (PROXYAUTH) sends the CONNECT again with
 * Proxy-Authorization: on this connection when the proxy keeps it and
 * the 407's body has a length (it is read and dropped), else on a new
 * one (e->px_reconnect), as libcurl does.
 */
#include "xfer_int.h"

#include <stdlib.h>
#include <string.h>

enum { T_SEND, T_RECV, T_SKIP, T_OPEN };

struct tunnel {
  struct xfer_cf cf;
  int state;
  char *req;                   /* the CONNECT request */
  size_t req_len, req_sent;
  struct xfer_h1p parser;
  char *hdrs;                  /* the answer's header lines */
  size_t hdrs_len, hdrs_cap;
  char *extra;                 /* bytes that came after the answer */
  size_t extra_len, extra_off;
  XFER *e;                     /* while the answer is fed: its transfer */
  int64_t skip;                /* T_SKIP: the 407's body bytes left */
  unsigned closes : 1;         /* the answer said the proxy closes */
  unsigned chunked : 1;        /* the answer's body is chunked */
  unsigned gave_up : 1;        /* a 407 ends it: the CONNECT goes again on
                                  a new connection (its lines are given) */
};

/* ---- the request ---- */

struct sbuf {
  char *p;
  size_t len, cap;
  int oom;
};

static void put(struct sbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    char *p;
    while (cap < b->len + n + 1) cap *= 2;
    if (!(p = realloc(b->p, cap))) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

static void puts_(struct sbuf *b, const char *s) { put(b, s, strlen(s)); }

/* The custom list's line for name: 1 when it has one (so the internal
 * field is left out: replaced, or removed by "Name:"). */
static int custom_has(const struct xfer_slist *l, const char *name) {
  size_t n = strlen(name);
  for (; l; l = l->next)
    if (l->data && xfer__strcasecmp_n(l->data, name, n) == 0 &&
        (l->data[n] == ':' || l->data[n] == ';'))
      return 1;
  return 0;
}

/* The custom fields: "Name: value" sent, "Name;" sent empty, "Name:"
 * only removes.  Host and the framing stay the tunnel's own. */
static void put_custom(struct sbuf *b, const struct xfer_slist *l) {
  for (; l; l = l->next) {
    const char *h = l->data, *sep, *v;
    size_t nlen;
    if (!h || !(sep = strpbrk(h, ":;"))) continue;
    nlen = (size_t)(sep - h);
    v = sep + 1;
    while (*v == ' ' || *v == '\t') v++;
    if ((nlen == 4 && xfer__strcasecmp_n(h, "Host", 4) == 0) ||
        (nlen == 14 && xfer__strcasecmp_n(h, "Content-Length", 14) == 0) ||
        (nlen == 17 && xfer__strcasecmp_n(h, "Transfer-Encoding", 17) == 0))
      continue;
    if (*sep == ':' && !*v) continue;
    put(b, h, nlen);
    puts_(b, *v ? ": " : ":");
    puts_(b, v);
    puts_(b, "\r\n");
  }
}

/* The CONNECT request into t->req: 0, or an XFERcode (the reason given
 * to e). */
static int connect_request(struct tunnel *t, XFER *e) {
  const struct xfer_slist *custom = e->set.header_unified
                                        ? e->set.httpheader
                                        : e->set.proxyheader;
  struct sbuf b = {0};
  char auth[XFER_URL_MAX_HOST + 16];
  int n = xfer__url_hostport(e->url, &e->u, auth, sizeof(auth)), rc = 0;
  if (n < 0) return XFERE_OUT_OF_MEMORY;
  puts_(&b, "CONNECT ");
  put(&b, auth, (size_t)n);
  puts_(&b, " HTTP/1.1\r\nHost: ");
  put(&b, auth, (size_t)n);
  puts_(&b, "\r\n");
  if (!custom_has(custom, "Proxy-Authorization")) {
    char *v = NULL;
    /* Digest hashes "CONNECT" and the authority, as the line has them. */
    rc = xfer__proxy_auth_value(e, "CONNECT", auth, (size_t)n, NULL, 0, 1,
                                &v);
    if (v) {
      puts_(&b, "Proxy-Authorization: ");
      puts_(&b, v);
      puts_(&b, "\r\n");
      free(v);
    }
  }
  if (e->set.useragent && !custom_has(custom, "User-Agent")) {
    puts_(&b, "User-Agent: ");
    puts_(&b, e->set.useragent);
    puts_(&b, "\r\n");
  }
  if (!custom_has(custom, "Proxy-Connection"))
    puts_(&b, "Proxy-Connection: Keep-Alive\r\n");
  put_custom(&b, custom);
  puts_(&b, "\r\n");
  if (b.oom || rc) {
    free(b.p);
    return rc ? rc : XFERE_OUT_OF_MEMORY;
  }
  free(t->req);
  t->req = b.p;
  t->req_len = b.len;
  t->req_sent = 0;
  return 0;
}

/* ---- the answer ---- */

static int has_token(const char *v, size_t n, const char *tok) {
  size_t tl = strlen(tok), i;
  for (i = 0; i + tl <= n; i++)
    if (xfer__strcasecmp_n(v + i, tok, tl) == 0) return 1;
  return 0;
}

static int on_header(void *ud, const char *raw, size_t rawlen,
                     const char *name, size_t nlen, const char *value,
                     size_t vlen) {
  struct tunnel *t = ud;
  if (!name && rawlen > 12 && memcmp(raw, "HTTP/", 5) == 0) {
    int st = t->parser.status;
    t->closes = t->chunked = 0;
    if (t->e) xfer__proxy_auth_section(t->e, st);
  } else if (name && t->e && t->e->resp_407 && nlen == 18 &&
             xfer__strcasecmp_n(name, "Proxy-Authenticate", 18) == 0) {
    int rc = xfer__proxy_auth_challenge(t->e, value, vlen);
    if (rc) return rc;
  } else if (name && ((nlen == 10 &&
                       xfer__strcasecmp_n(name, "Connection", 10) == 0) ||
                      (nlen == 16 && xfer__strcasecmp_n(
                                         name, "Proxy-Connection", 16) == 0))) {
    if (has_token(value, vlen, "close")) t->closes = 1;
  } else if (name && nlen == 17 &&
             xfer__strcasecmp_n(name, "Transfer-Encoding", 17) == 0) {
    t->chunked = 1;
  }
  if (t->hdrs_len + rawlen > t->hdrs_cap) {
    size_t cap = t->hdrs_cap ? t->hdrs_cap * 2 : 256;
    char *p;
    while (cap < t->hdrs_len + rawlen) cap *= 2;
    if (!(p = realloc(t->hdrs, cap))) return XFERE_OUT_OF_MEMORY;
    t->hdrs = p;
    t->hdrs_cap = cap;
  }
  memcpy(t->hdrs + t->hdrs_len, raw, rawlen);
  t->hdrs_len += rawlen;
  return 0;
}

static int on_done(void *ud) {
  (void)ud;
  return 0;
}

static int on_body(void *ud, const char *data, size_t len) {
  (void)ud;
  (void)data;
  (void)len;
  return 0; /* parsed as a HEAD's answer: never called */
}

static const struct xfer_h1p_callbacks answer_cb = {on_header, on_done,
                                                     on_body};

static int failed(XFER *e, XFERcode code, const char *why) {
  if (e) xfer__fail(e, "Proxy CONNECT aborted: %s", why);
  return -(int)code;
}

/* A 407 that proxy.c answers: the CONNECT again, here (its body read
 * and dropped first) or on a new connection.  buf[used..n) came after
 * the 407's header section. */
static int again(struct tunnel *t, XFER *e, size_t rest) {
  int rc;
  if (t->closes || !t->parser.keepalive || t->chunked ||
      t->parser.content_length < 0) {
    e->px_reconnect = 1; /* conn.c: xfer__xfer_reconnect */
    t->gave_up = 1;
    return -XFERE_RECV_ERROR;
  }
  if ((int64_t)rest > t->parser.content_length)
    return failed(e, XFERE_RECV_ERROR, "bytes after the proxy's 407");
  if ((rc = connect_request(t, e)) != 0) return -rc;
  t->skip = t->parser.content_length - (int64_t)rest;
  xfer__h1p_reset(&t->parser, 1);
  t->state = T_SKIP;
  xfer__verbose(e, "the proxy asks for credentials: CONNECT again");
  return 0;
}

/* Reads the answer; 0 once a 2xx came (or a 407 to answer: t->state
 * says), XFER_IO_AGAIN, or -XFERcode. */
static int read_answer(struct tunnel *t, XFER *e) {
  char buf[4096];
  for (;;) {
    ssize_t n = xfer__cf_recv(t->cf.next, buf, sizeof(buf));
    size_t used = 0;
    int rc;
    if (n == XFER_IO_AGAIN) return XFER_IO_AGAIN;
    if (n == 0)
      return failed(e, XFERE_RECV_ERROR, "the proxy closed the connection");
    if (n < 0) return failed(e, XFERE_RECV_ERROR, "receive error");
    t->e = e;
    rc = xfer__h1p_feed(&t->parser, buf, (size_t)n, &used, &answer_cb, t);
    t->e = NULL;
    if (rc == XFERE_OUT_OF_MEMORY) return -rc;
    if (rc)
      return failed(e, XFERE_RECV_ERROR, rc == XFERE_TOO_LARGE
                    ? "the proxy's answer is too large"
                    : "the proxy's answer is not valid HTTP");
    if (!t->parser.done) continue;
    if (e) e->http_connectcode = t->parser.status;
    if (e && t->parser.status == 407 && e->resp_407 &&
        xfer__proxy_auth_407(e))
      return again(t, e, (size_t)n - used);
    if (t->parser.status / 100 != 2) {
      if (e)
        xfer__fail(e, "CONNECT tunnel failed, response %d",
                   t->parser.status);
      return -XFERE_RECV_ERROR;
    }
    if (used < (size_t)n) {
      if (!(t->extra = malloc((size_t)n - used))) return -XFERE_OUT_OF_MEMORY;
      memcpy(t->extra, buf + used, (size_t)n - used);
      t->extra_len = (size_t)n - used;
    }
    return 0;
  }
}

/* T_SKIP: the rest of a 407's body, read and dropped. */
static int skip_body(struct tunnel *t, XFER *e) {
  char buf[4096];
  while (t->skip > 0) {
    size_t want = t->skip < (int64_t)sizeof(buf) ? (size_t)t->skip
                                                 : sizeof(buf);
    ssize_t n = xfer__cf_recv(t->cf.next, buf, want);
    if (n == XFER_IO_AGAIN) return XFER_IO_AGAIN;
    if (n <= 0)
      return failed(e, XFERE_RECV_ERROR, "the proxy closed the connection");
    t->skip -= n;
  }
  t->state = T_SEND;
  return 0;
}

static int tunnel_connect(struct xfer_cf *cf, XFER *e, int ev) {
  struct tunnel *t = (struct tunnel *)cf;
  int rc;
  (void)ev;
  /* Built here, not with the filter: a failure is the transfer's, with
   * its code (a control byte in a Digest user name is 43). */
  if (!t->req && (rc = connect_request(t, e)) != 0) return -rc;
  while (t->state != T_OPEN) {
    if (t->state == T_SKIP) {
      if ((rc = skip_body(t, e)) != 0) return rc;
      continue;
    }
    while (t->state == T_SEND) {
      ssize_t n = xfer__cf_send(cf->next, t->req + t->req_sent,
                                t->req_len - t->req_sent);
      if (n == XFER_IO_AGAIN) return XFER_IO_AGAIN;
      if (n < 0) return failed(e, XFERE_SEND_ERROR, "send error");
      t->req_sent += (size_t)n;
      if (t->req_sent == t->req_len) {
        xfer__debug(e, XFERINFO_HEADER_OUT, t->req, t->req_len);
        t->state = T_RECV;
      }
    }
    if ((rc = read_answer(t, e)) != 0) return rc;
    if (t->state == T_RECV) {
      t->state = T_OPEN;
      xfer__verbose(e, "CONNECT tunnel established, response %d",
                    t->parser.status);
    }
  }
  return 0;
}

static ssize_t tunnel_send(struct xfer_cf *cf, const char *buf, size_t len) {
  return xfer__cf_send(cf->next, buf, len);
}

static ssize_t tunnel_recv(struct xfer_cf *cf, char *buf, size_t cap) {
  struct tunnel *t = (struct tunnel *)cf;
  if (t->extra_off < t->extra_len) {
    size_t n = t->extra_len - t->extra_off;
    if (n > cap) n = cap;
    memcpy(buf, t->extra + t->extra_off, n);
    t->extra_off += n;
    return (ssize_t)n;
  }
  return xfer__cf_recv(cf->next, buf, cap);
}

static int tunnel_pending(struct xfer_cf *cf) {
  struct tunnel *t = (struct tunnel *)cf;
  return t->extra_off < t->extra_len;
}

static int tunnel_more(struct xfer_cf *cf) {
  return tunnel_pending(cf) ? 1 : 2;
}

static int tunnel_want(struct xfer_cf *cf) {
  struct tunnel *t = (struct tunnel *)cf;
  int w = xfer__cf_want(cf->next);
  if (w || t->state == T_OPEN) return w;
  /* T_SKIP reads, as T_RECV does */
  return t->state == T_SEND ? XFER_POLL_OUT : XFER_POLL_IN;
}

static void tunnel_close(struct xfer_cf *cf) {
  struct tunnel *t = (struct tunnel *)cf;
  xfer__h1p_free(&t->parser);
  free(t->req);
  free(t->hdrs);
  free(t->extra);
  free(t);
}

static int tunnel_query(struct xfer_cf *cf, int what, void *out) {
  struct tunnel *t = (struct tunnel *)cf;
  if (what != XFER_CF_Q_CONNECT_HEADERS ||
      (t->state != T_OPEN && !t->gave_up))
    return -1;
  ((struct xfer_cf_hdrs *)out)->data = t->hdrs;
  ((struct xfer_cf_hdrs *)out)->len = t->hdrs_len;
  return 0;
}

static const struct xfer_cf_type tunnel_type = {
  "tunnel", tunnel_connect, tunnel_send, tunnel_recv, tunnel_pending,
  tunnel_more, tunnel_want, tunnel_close, tunnel_query};

struct xfer_cf *xfer__cf_tunnel_new(struct xfer_conn *c, struct xfer_cf *below,
                                    XFER *e) {
  struct tunnel *t = calloc(1, sizeof(*t));
  if (!t) return NULL;
  t->cf.type = &tunnel_type;
  t->cf.conn = c;
  t->cf.next = below;
  (void)e;
  xfer__h1p_init(&t->parser, 1, 0);
  return &t->cf;
}
