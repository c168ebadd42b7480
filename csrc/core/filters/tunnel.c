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
 */
#include "xfer_int.h"

#include <stdlib.h>
#include <string.h>

enum { T_SEND, T_RECV, T_OPEN };

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

static char *connect_request(XFER *e, size_t *len) {
  const struct xfer_slist *custom = e->set.header_unified
                                        ? e->set.httpheader
                                        : e->set.proxyheader;
  struct sbuf b = {0};
  char auth[XFER_URL_MAX_HOST + 16];
  int n = xfer__url_hostport(e->url, &e->u, auth, sizeof(auth));
  if (n < 0) return NULL;
  puts_(&b, "CONNECT ");
  put(&b, auth, (size_t)n);
  puts_(&b, " HTTP/1.1\r\nHost: ");
  put(&b, auth, (size_t)n);
  puts_(&b, "\r\n");
  if (xfer__proxy_sends_auth(e) && !custom_has(custom, "Proxy-Authorization")) {
    char *v = xfer__proxy_basic_header(e->px.http.user, e->px.http.pass);
    if (!v) b.oom = 1;
    else {
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
  if (b.oom) {
    free(b.p);
    return NULL;
  }
  *len = b.len;
  return b.p;
}

/* ---- the answer ---- */

static int on_header(void *ud, const char *raw, size_t rawlen,
                     const char *name, size_t nlen, const char *value,
                     size_t vlen) {
  struct tunnel *t = ud;
  (void)name;
  (void)nlen;
  (void)value;
  (void)vlen;
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

/* Reads the answer; 0 once a 2xx came, XFER_IO_AGAIN, or -XFERcode. */
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
    rc = xfer__h1p_feed(&t->parser, buf, (size_t)n, &used, &answer_cb, t);
    if (rc == XFERE_OUT_OF_MEMORY) return -rc;
    if (rc)
      return failed(e, XFERE_RECV_ERROR, rc == XFERE_TOO_LARGE
                    ? "the proxy's answer is too large"
                    : "the proxy's answer is not valid HTTP");
    if (!t->parser.done) continue;
    if (e) e->http_connectcode = t->parser.status;
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

static int tunnel_connect(struct xfer_cf *cf, XFER *e, int ev) {
  struct tunnel *t = (struct tunnel *)cf;
  (void)ev;
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
  if (t->state == T_RECV) {
    int rc = read_answer(t, e);
    if (rc) return rc;
    t->state = T_OPEN;
    xfer__verbose(e, "CONNECT tunnel established, response %d",
                  t->parser.status);
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
  if (what != XFER_CF_Q_CONNECT_HEADERS || t->state != T_OPEN) return -1;
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
  if (!(t->req = connect_request(e, &t->req_len))) {
    free(t);
    return NULL;
  }
  xfer__h1p_init(&t->parser, 1, 0);
  return &t->cf;
}
