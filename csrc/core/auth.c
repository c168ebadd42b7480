/*
 * auth.c -- HTTP authentication (auth.h): the challenge parser, the Basic,
 * Digest and Bearer values, and a transfer's HTTPAUTH state.
 *
 * The parser trusts nothing: every field it keeps has a size bound, a
 * challenge with anything out of bounds or malformed is unusable, and its
 * cost is linear in the field.  The values answer with what the caller
 * gave and what the server said, quoted-strings escaped, and refuse what
 * would break a header (a control byte).  The digests and the cnonce come
 * from crypto.c (OpenSSL).
 */
#include "xfer_int.h"
#include "options.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Requests for one URL, the first included: the pick, a stale nonce or
 * two, a probe's body.  A server that keeps asking gets its 401 back. */
#define AUTH_MAX_ROUNDS 4

/* ---- the challenge parser (RFC 7235 section 2.1) ---- */

static int is_ws(char c) { return c == ' ' || c == '\t'; }

static size_t skip_ws(const char *v, size_t n, size_t i) {
  while (i < n && is_ws(v[i])) i++;
  return i;
}

static size_t token_end(const char *v, size_t n, size_t i) {
  while (i < n && xfer__tchar((unsigned char)v[i])) i++;
  return i;
}

static int is_token68(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || (c && strchr("-._~+/", c));
}

/* The quoted-string at v[i] ('"'), unescaped into out (cap bytes with the
 * NUL).  Returns the index after its closing quote, or 0 when it is not
 * terminated.  *bad: it did not fit, or held a control byte. */
static size_t quoted(const char *v, size_t n, size_t i, char *out,
                     size_t cap, int *bad) {
  size_t o = 0;
  for (i++; i < n; i++) {
    unsigned char c = (unsigned char)v[i];
    if (c == '"') {
      if (out) out[o < cap ? o : cap - 1] = 0;
      return i + 1;
    }
    if (c == '\\' && i + 1 < n) c = (unsigned char)v[++i];
    if ((c < 0x20 && c != '\t') || c == 0x7f) *bad = 1;
    if (out) {
      if (o + 1 < cap) out[o++] = (char)c;
      else *bad = 1;
    }
  }
  return 0;
}

static int ieq(const char *a, size_t an, const char *b) {
  return strlen(b) == an && xfer__strcasecmp_n(a, b, an) == 0;
}

/* A challenge being read. */
struct chal {
  unsigned long bit;           /* XFERAUTH_* of its scheme, 0: unknown */
  struct xfer_digest d;
  unsigned seen;               /* the Digest parameters met (bits) */
  int bad;                     /* unusable */
};

enum { P_REALM = 1, P_NONCE = 2, P_OPAQUE = 4, P_ALGO = 8, P_QOP = 16,
       P_STALE = 32, P_USERHASH = 64 };

static void set_algo(struct chal *c, const char *s, size_t n) {
  static const struct { const char *name; int algo, sess; } algos[] = {
    {"MD5", XFER_HASH_MD5, 0}, {"MD5-sess", XFER_HASH_MD5, 1},
    {"SHA-256", XFER_HASH_SHA256, 0}, {"SHA-256-sess", XFER_HASH_SHA256, 1},
    {"SHA-512-256", XFER_HASH_SHA512_256, 0},
    {"SHA-512-256-sess", XFER_HASH_SHA512_256, 1}};
  size_t k;
  for (k = 0; k < sizeof(algos) / sizeof(algos[0]); k++)
    if (ieq(s, n, algos[k].name)) {
      c->d.algo = (unsigned char)algos[k].algo;
      c->d.sess = (unsigned)algos[k].sess;
      c->d.has_algo = 1;
      return;
    }
  c->bad = 1; /* an algorithm xfer does not have */
}

static void set_qop(struct chal *c, const char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    size_t j;
    i = skip_ws(s, n, i);
    for (j = i; j < n && s[j] != ',' && !is_ws(s[j]); j++) {}
    if (ieq(s + i, j - i, "auth")) c->d.qop_auth = 1;
    else if (ieq(s + i, j - i, "auth-int")) c->d.qop_int = 1;
    i = j;
    while (i < n && (s[i] == ',' || is_ws(s[i]))) i++;
  }
  if (!c->d.qop_auth && !c->d.qop_int) c->bad = 1;
}

/* name=value of a Digest challenge; value is a token (q 0) or the
 * quoted-string at v[vi] (q 1). */
static void digest_param(struct chal *c, const char *name, size_t nlen,
                         const char *v, size_t vi, size_t vend, int q) {
  static const struct { const char *name; unsigned bit; } known[] = {
    {"realm", P_REALM}, {"nonce", P_NONCE}, {"opaque", P_OPAQUE},
    {"algorithm", P_ALGO}, {"qop", P_QOP}, {"stale", P_STALE},
    {"userhash", P_USERHASH}};
  char buf[XFER_AUTH_FIELD_MAX + 1], *dst = buf;
  size_t k, len;
  unsigned bit = 0;
  for (k = 0; k < sizeof(known) / sizeof(known[0]); k++)
    if (ieq(name, nlen, known[k].name)) bit = known[k].bit;
  if (!bit) return; /* domain, charset, ...: not needed */
  if (c->seen & bit) c->bad = 1; /* each at most once (RFC 7616) */
  c->seen |= bit;
  if (bit == P_REALM) dst = c->d.realm;
  else if (bit == P_NONCE) dst = c->d.nonce;
  else if (bit == P_OPAQUE) dst = c->d.opaque;
  if (q) {
    quoted(v, vend, vi, dst, sizeof(buf), &c->bad);
  } else {
    len = vend - vi;
    if (len > XFER_AUTH_FIELD_MAX) {
      c->bad = 1;
      return;
    }
    memcpy(dst, v + vi, len);
    dst[len] = 0;
  }
  len = strlen(dst);
  if (bit == P_OPAQUE) c->d.has_opaque = 1;
  else if (bit == P_ALGO) set_algo(c, dst, len);
  else if (bit == P_QOP) set_qop(c, dst, len);
  else if (bit == P_STALE) c->d.stale = ieq(dst, len, "true");
  else if (bit == P_USERHASH) c->d.userhash = ieq(dst, len, "true");
}

static unsigned long scheme_bit(const char *s, size_t n) {
  if (ieq(s, n, "Basic")) return XFERAUTH_BASIC;
  if (ieq(s, n, "Digest")) return XFERAUTH_DIGEST;
  if (ieq(s, n, "Bearer")) return XFERAUTH_BEARER;
  if (ieq(s, n, "Negotiate")) return XFERAUTH_NEGOTIATE;
  if (ieq(s, n, "NTLM")) return XFERAUTH_NTLM;
  return 0;
}

static void chal_done(struct chal *c, struct xfer_auth_offer *o) {
  o->avail |= c->bit;
  if (c->bit != XFERAUTH_DIGEST || c->bad || o->has_digest ||
      !(c->seen & P_NONCE) || !c->d.nonce[0])
    return;
  if (!c->d.algo) c->d.algo = XFER_HASH_MD5;
  o->digest = c->d;
  o->has_digest = 1;
}

/* One element of a challenge at v[i]: an auth-param, or (first only) a
 * token68.  Returns the index after it, or 0 at a syntax error. */
static size_t element(struct chal *c, const char *v, size_t n, size_t i,
                      int first) {
  size_t k = token_end(v, n, i), m = skip_ws(v, n, k), p;
  if (k > i && m < n && v[m] == '=') {
    p = skip_ws(v, n, m + 1);
    if (p < n && v[p] == '"') {
      size_t end = quoted(v, n, p, NULL, 0, &c->bad);
      if (!end) return 0;
      if (c->bit == XFERAUTH_DIGEST) digest_param(c, v + i, k - i, v, p, n, 1);
      return end;
    }
    if (p < n && xfer__tchar((unsigned char)v[p])) {
      size_t e = token_end(v, n, p);
      if (c->bit == XFERAUTH_DIGEST) digest_param(c, v + i, k - i, v, p, e, 0);
      return e;
    }
  }
  if (!first) return 0;
  for (k = i; k < n && is_token68((unsigned char)v[k]); k++) {}
  while (k < n && v[k] == '=') k++;
  return k > i ? k : 0;
}

/* After a comma inside a challenge: does an auth-param (name '=') follow,
 * rather than the next challenge's scheme? */
static int param_follows(const char *v, size_t n, size_t i) {
  size_t k = token_end(v, n, i), m = skip_ws(v, n, k);
  if (k == i || m >= n || v[m] != '=') return 0;
  m = skip_ws(v, n, m + 1);
  return m < n && (v[m] == '"' || xfer__tchar((unsigned char)v[m]));
}

int xfer__auth_parse(const char *v, size_t n, struct xfer_auth_offer *o) {
  size_t i = 0;
  for (;;) {
    struct chal c;
    size_t s;
    int first = 1;
    while (i < n && (v[i] == ',' || is_ws(v[i]))) i++;
    if (i >= n) return 0;
    s = i;
    i = token_end(v, n, i);
    if (i == s) return -1;
    memset(&c, 0, sizeof(c));
    c.bit = scheme_bit(v + s, i - s);
    i = skip_ws(v, n, i);
    while (i < n && v[i] != ',') {
      size_t e = element(&c, v, n, i, first);
      if (!e) return -1; /* what came before stays */
      first = 0;
      i = skip_ws(v, n, e);
      if (i < n && v[i] != ',') return -1;
      if (i < n) { /* a comma: another param, or the next challenge */
        size_t j = i;
        while (j < n && (v[j] == ',' || is_ws(v[j]))) j++;
        if (!param_follows(v, n, j)) break;
        i = j;
      }
    }
    chal_done(&c, o);
  }
}

/* ---- the values ---- */

static size_t b64(char *out, const unsigned char *in, size_t n) {
  static const char tab[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i, o = 0;
  for (i = 0; i < n; i += 3) {
    unsigned v = (unsigned)in[i] << 16;
    size_t k = n - i;
    if (k > 1) v |= (unsigned)in[i + 1] << 8;
    if (k > 2) v |= in[i + 2];
    out[o++] = tab[(v >> 18) & 63];
    out[o++] = tab[(v >> 12) & 63];
    out[o++] = k > 1 ? tab[(v >> 6) & 63] : '=';
    out[o++] = k > 2 ? tab[v & 63] : '=';
  }
  return o;
}

char *xfer__auth_basic(const char *user, size_t ulen, const char *pass,
                       size_t plen) {
  size_t n = ulen + 1 + plen;
  unsigned char *raw = malloc(n);
  char *out = raw ? malloc(6 + (n + 2) / 3 * 4 + 1) : NULL;
  if (out) {
    memcpy(raw, user, ulen);
    raw[ulen] = ':';
    memcpy(raw + ulen + 1, pass, plen);
    memcpy(out, "Basic ", 6);
    out[6 + b64(out + 6, raw, n)] = 0;
  }
  free(raw);
  return out;
}

/* The hex digest of the parts joined by ':' (NULL-terminated pairs of
 * pointer and length) into hex (2 * XFER_HASH_MAX + 1).  0, or -1. */
static int hhex(int algo, char *hex, ...) {
  va_list ap;
  const char *p;
  size_t total = 0, off = 0;
  unsigned char md[XFER_HASH_MAX];
  char *buf;
  int len, i;
  va_start(ap, hex);
  while ((p = va_arg(ap, const char *)) != NULL) total += va_arg(ap, size_t) + 1;
  va_end(ap);
  if (!(buf = malloc(total + 1))) return -1;
  va_start(ap, hex);
  while ((p = va_arg(ap, const char *)) != NULL) {
    size_t n = va_arg(ap, size_t);
    if (off) buf[off++] = ':';
    memcpy(buf + off, p, n);
    off += n;
  }
  va_end(ap);
  len = xfer__hash(algo, buf, off, md);
  free(buf);
  if (len < 0) return -1;
  for (i = 0; i < len; i++) sprintf(hex + 2 * i, "%02x", md[i]);
  return 0;
}

#define S(s) (s), strlen(s)

/* s as the inside of a quoted-string (escaping '"' and '\') at out, which
 * has room for 2 * strlen + 1; returns out. */
static char *esc(char *out, const char *s, size_t n) {
  char *o = out;
  size_t i;
  for (i = 0; i < n; i++) {
    if (s[i] == '"' || s[i] == '\\') *o++ = '\\';
    *o++ = s[i];
  }
  *o = 0;
  return out;
}

static int has_ctl(const char *s, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return 1;
  return 0;
}

static const char *algo_name(const struct xfer_digest *d) {
  static const char *const names[][2] = {
    {"MD5", "MD5-sess"}, {"SHA-256", "SHA-256-sess"},
    {"SHA-512-256", "SHA-512-256-sess"}};
  return names[d->algo - XFER_HASH_MD5][d->sess];
}

char *xfer__auth_digest(const struct xfer_digest *d, const char *user,
                        size_t ulen, const char *pass, size_t plen,
                        const struct xfer_digest_req *q, int *err) {
  char ha1[2 * XFER_HASH_MAX + 1], ha2[2 * XFER_HASH_MAX + 1];
  char resp[2 * XFER_HASH_MAX + 1], uh[2 * XFER_HASH_MAX + 1], nc[9];
  char *eu = NULL, *er = NULL, *en = NULL, *eo = NULL, *ei = NULL, *out;
  const char *qop = d->qop_auth ? "auth" : d->qop_int ? "auth-int" : NULL;
  size_t cap;
  int algo = d->algo, fail;
  *err = XFERE_OUT_OF_MEMORY;
  if (has_ctl(user, ulen)) {
    *err = XFERE_BAD_FUNCTION_ARGUMENT;
    return NULL;
  }
  if (qop && !strcmp(qop, "auth-int") && !q->body_known) {
    *err = XFERE_NOT_BUILT_IN;
    return NULL;
  }
  snprintf(nc, sizeof(nc), "%08x", (unsigned)q->nc);
  fail = hhex(algo, ha1, user, ulen, S(d->realm), pass, plen, NULL);
  if (!fail && d->sess)
    fail = hhex(algo, ha1, S(ha1), S(d->nonce), S(q->cnonce), NULL);
  if (!fail && qop && !strcmp(qop, "auth-int")) {
    char hb[2 * XFER_HASH_MAX + 1];
    fail = hhex(algo, hb, q->body ? q->body : "", q->body_len, NULL) ||
           hhex(algo, ha2, S(q->method), q->uri, q->uri_len, S(hb), NULL);
  } else if (!fail) {
    fail = hhex(algo, ha2, S(q->method), q->uri, q->uri_len, NULL);
  }
  if (!fail && qop)
    fail = hhex(algo, resp, S(ha1), S(d->nonce), S(nc), S(q->cnonce),
                S(qop), S(ha2), NULL);
  else if (!fail)
    fail = hhex(algo, resp, S(ha1), S(d->nonce), S(ha2), NULL);
  if (!fail && d->userhash)
    fail = hhex(algo, uh, user, ulen, S(d->realm), NULL);
  if (fail) return NULL;
  if (d->userhash) {
    user = uh;
    ulen = strlen(uh);
  }
  eu = malloc(2 * ulen + 1);
  er = malloc(2 * strlen(d->realm) + 1);
  en = malloc(2 * strlen(d->nonce) + 1);
  eo = malloc(2 * strlen(d->opaque) + 1);
  ei = malloc(2 * q->uri_len + 1);
  cap = 2 * (ulen + q->uri_len + strlen(d->realm) + strlen(d->nonce) +
             strlen(d->opaque) + strlen(q->cnonce)) + 300;
  out = eu && er && en && eo && ei ? malloc(cap) : NULL;
  if (out) {
    int n = snprintf(out, cap, "Digest username=\"%s\", realm=\"%s\", "
                     "nonce=\"%s\", uri=\"%s\"", esc(eu, user, ulen),
                     esc(er, S(d->realm)), esc(en, S(d->nonce)),
                     esc(ei, q->uri, q->uri_len));
    if (qop || d->sess)
      n += snprintf(out + n, cap - (size_t)n, ", cnonce=\"%s\"", q->cnonce);
    if (qop)
      n += snprintf(out + n, cap - (size_t)n, ", nc=%s, qop=%s", nc, qop);
    n += snprintf(out + n, cap - (size_t)n, ", response=\"%s\"", resp);
    if (d->has_opaque)
      n += snprintf(out + n, cap - (size_t)n, ", opaque=\"%s\"",
                    esc(eo, S(d->opaque)));
    if (d->has_algo)
      n += snprintf(out + n, cap - (size_t)n, ", algorithm=%s",
                    algo_name(d));
    if (d->userhash) snprintf(out + n, cap - (size_t)n, ", userhash=true");
  }
  free(eu);
  free(er);
  free(en);
  free(eo);
  free(ei);
  return out;
}

/* ---- a transfer's credentials ---- */

struct creds {
  const char *user, *pass;
  size_t ulen, plen;
  char *owned;                 /* the URL's, percent-decoded */
  size_t owned_len;
  int have_user;
};

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Percent-decodes n bytes of src into dst (room for n); the length. */
static size_t unescape(char *dst, const char *src, size_t n) {
  size_t i, o = 0;
  for (i = 0; i < n; i++) {
    if (src[i] == '%' && i + 2 < n && hexval(src[i + 1]) >= 0 &&
        hexval(src[i + 2]) >= 0) {
      dst[o++] = (char)(hexval(src[i + 1]) * 16 + hexval(src[i + 2]));
      i += 2;
    } else {
      dst[o++] = src[i];
    }
  }
  return o;
}

/* The userinfo of the URL being requested, else of the one the caller
 * set (a redirect within the origin keeps them, as libcurl's do). */
static int url_userinfo(XFER *e, const char **url, struct xfer_url *u) {
  *url = e->url;
  *u = e->u;
  if (u->has_userinfo || e->url == e->set.url) return u->has_userinfo;
  *url = e->set.url;
  return !xfer__url_parse(e->set.url, strlen(e->set.url), u) &&
         u->has_userinfo;
}

/* USERNAME/PASSWORD (USERPWD sets both) win over the URL's, each on its
 * own (libcurl's precedence).  0, or -1 when out of memory. */
static int creds_get(XFER *e, struct creds *c) {
  const char *url;
  struct xfer_url u;
  memset(c, 0, sizeof(*c));
  if ((!e->set.username || !e->set.password) && url_userinfo(e, &url, &u)) {
    if (!(c->owned = malloc(u.user_len + u.pass_len + 1))) return -1;
    c->user = c->owned;
    c->ulen = unescape(c->owned, url + u.user_off, u.user_len);
    c->pass = c->owned + c->ulen;
    c->plen = unescape(c->owned + c->ulen, url + u.pass_off, u.pass_len);
    c->owned_len = c->ulen + c->plen;
    c->have_user = 1;
  }
  if (e->set.username) {
    c->user = e->set.username;
    c->ulen = strlen(c->user);
    c->have_user = 1;
  }
  if (e->set.password) {
    c->pass = e->set.password;
    c->plen = strlen(c->pass);
  }
  if (!c->pass) c->pass = "";
  return 0;
}

XFERcode xfer__auth_check(XFER *e) {
  struct creds c;
  if (e->set.bearer && has_ctl(e->set.bearer, strlen(e->set.bearer))) {
    xfer__fail(e, "control character in the bearer token");
    return XFERE_BAD_FUNCTION_ARGUMENT;
  }
  if (!e->u.has_userinfo) return XFERE_OK;
  if (creds_get(e, &c)) return XFERE_OUT_OF_MEMORY;
  if (c.owned && has_ctl(c.owned, c.owned_len)) {
    free(c.owned);
    xfer__fail(e, "control character in the URL's credentials");
    return XFERE_URL_MALFORMAT;
  }
  free(c.owned);
  return XFERE_OK;
}

/* ---- a transfer's HTTPAUTH state ---- */

static struct xfer_auth *auth_of(XFER *e) {
  if (!e->auth) e->auth = calloc(1, sizeof(*e->auth));
  return e->auth;
}

/* "s://host:port" of the URL being requested. */
static void origin_of(XFER *e, char *buf, size_t cap) {
  int n = snprintf(buf, cap, "%d://", e->u.scheme);
  if (xfer__url_hostport(e->url, &e->u, buf + n, cap - (size_t)n) < 0)
    buf[0] = 0;
}

/* The request target as sent ("/" before a bare query); IE style
 * (DIGEST_IE) leaves the query out, as that browser did. */
char *xfer__auth_target(const struct xfer_req *r, int ie, size_t *len) {
  size_t n = r->path_len;
  char *t;
  if (ie) {
    const char *q = memchr(r->path, '?', n);
    if (q) n = (size_t)(q - r->path);
  }
  if (!(t = malloc(n + 2))) return NULL;
  t[0] = '/';
  memcpy(t + (r->path_slash ? 1 : 0), r->path, n);
  *len = n + (r->path_slash ? 1 : 0);
  if (!*len) t[(*len)++] = '/';
  return t;
}

static XFERcode digest_header(XFER *e, struct xfer_auth *a,
                              const struct creds *c, struct xfer_req *r) {
  struct xfer_digest_req q;
  unsigned char rnd[16];
  char cnonce[33];
  int i, err = 0;
  memset(&q, 0, sizeof(q));
  if (xfer__random(rnd, sizeof(rnd))) {
    xfer__fail(e, "no random bytes for the Digest cnonce");
    return XFERE_OUT_OF_MEMORY;
  }
  for (i = 0; i < 16; i++) sprintf(cnonce + 2 * i, "%02x", rnd[i]);
  q.method = r->method;
  q.cnonce = cnonce;
  q.nc = ++a->nc;
  q.body_known = !r->has_body || (e->set.postfields && !e->set.upload);
  if (r->has_body && q.body_known) {
    q.body = e->set.postfields;
    q.body_len = (size_t)r->body_len;
  }
  if (!(q.uri = xfer__auth_target(r, e->set.digest_ie, &q.uri_len)))
    return XFERE_OUT_OF_MEMORY;
  r->auth = xfer__auth_digest(&a->dg, c->user, c->ulen, c->pass, c->plen, &q,
                              &err);
  free((char *)q.uri);
  if (!r->auth && err == XFERE_BAD_FUNCTION_ARGUMENT)
    xfer__fail(e, "control character in the user name (Digest)");
  return r->auth ? XFERE_OK : (XFERcode)err;
}

XFERcode xfer__auth_header(XFER *e, struct xfer_req *r, int allowed,
                           int custom) {
  struct creds c;
  struct xfer_auth *a;
  char origin[sizeof(a->dg_origin)];
  XFERcode rc = XFERE_OK;
  e->auth_blocked = custom || !allowed;
  if (e->auth) e->auth->used = e->auth->probe = 0;
  if (e->auth_blocked || (!e->set.bearer && !e->set.username &&
                          !e->u.has_userinfo && e->url == e->set.url))
    return XFERE_OK;
  if (creds_get(e, &c)) return XFERE_OUT_OF_MEMORY;
  if ((!c.have_user && !e->set.bearer) || !(a = auth_of(e))) {
    rc = c.have_user || e->set.bearer ? XFERE_OUT_OF_MEMORY : XFERE_OK;
    goto out;
  }
  a->body_cb = r->has_body && !(e->set.postfields && !e->set.upload);
  if (!a->picked) a->picked = e->set.httpauth; /* one bit: used at once */
  if (a->picked == XFERAUTH_BASIC && c.have_user) {
    rc = (r->auth = xfer__auth_basic(c.user, c.ulen, c.pass, c.plen))
             ? XFERE_OK : XFERE_OUT_OF_MEMORY;
  } else if (a->picked == XFERAUTH_BEARER && e->set.bearer) {
    size_t n = strlen(e->set.bearer);
    if ((r->auth = malloc(n + 8)) != NULL)
      memcpy(r->auth, "Bearer ", 7), memcpy(r->auth + 7, e->set.bearer, n + 1);
    else rc = XFERE_OUT_OF_MEMORY;
  } else if (a->picked == XFERAUTH_DIGEST && c.have_user) {
    origin_of(e, origin, sizeof(origin));
    if (a->have_dg && !strcmp(origin, a->dg_origin))
      rc = digest_header(e, a, &c, r);
    else if (r->has_body && !a->probe_done) {
      /* No challenge yet: ask without the body (libcurl's probe), which
       * then needs no rewind. */
      r->has_body = 0;
      r->cl_zero = 1;
      a->probe = 1;
    }
  }
  if (r->auth) {
    a->used = a->picked;
    xfer__verbose(e, "Server auth using %s with user '%.*s'",
                  a->picked == XFERAUTH_BASIC ? "Basic"
                  : a->picked == XFERAUTH_DIGEST ? "Digest" : "Bearer",
                  (int)(c.ulen > 64 ? 64 : c.ulen), c.user ? c.user : "");
  }
out:
  free(c.owned);
  return rc;
}

void xfer__auth_section(XFER *e, const char *line, size_t len) {
  const char *sp = memchr(line, ' ', len);
  size_t rest = sp ? len - (size_t)(sp - line) - 1 : 0;
  int status = 0;
  if (rest >= 3 && (rest == 3 || sp[4] == ' ' || sp[4] == '\r' ||
                    sp[4] == '\n') &&
      sp[1] >= '0' && sp[1] <= '9' && sp[2] >= '0' && sp[2] <= '9' &&
      sp[3] >= '0' && sp[3] <= '9')
    status = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
  e->resp_401 = status == 401;
  xfer__proxy_auth_section(e, status); /* a 407 from the proxy */
  if (e->auth) {
    memset(&e->auth->offer, 0, offsetof(struct xfer_auth_offer, digest));
  }
}

int xfer__auth_challenge(XFER *e, const char *v, size_t n) {
  struct xfer_auth *a = auth_of(e);
  if (!a) return XFERE_OUT_OF_MEMORY;
  xfer__auth_parse(v, n, &a->offer); /* a bad tail: what came before */
  return 0;
}

/* The scheme to use among those offered: libcurl's order of preference
 * (Bearer, Digest, Basic), among the wanted ones the credentials fit. */
static unsigned long pick(XFER *e, const struct xfer_auth_offer *o,
                          const struct creds *c) {
  unsigned long ok = o->avail & e->set.httpauth;
  struct xfer_auth *a = e->auth;
  if (!e->set.bearer) ok &= ~XFERAUTH_BEARER;
  if (!c->have_user) ok &= ~(XFERAUTH_BASIC | XFERAUTH_DIGEST);
  /* A Digest challenge xfer cannot answer: auth-int alone, and a body
   * from a read callback (it cannot be hashed before it is sent). */
  if (!o->has_digest ||
      (!o->digest.qop_auth && o->digest.qop_int && a->body_cb))
    ok &= ~XFERAUTH_DIGEST;
  if (ok & XFERAUTH_BEARER) return XFERAUTH_BEARER;
  if (ok & XFERAUTH_DIGEST) return XFERAUTH_DIGEST;
  if (ok & XFERAUTH_BASIC) return XFERAUTH_BASIC;
  return 0;
}

static void take_digest(XFER *e, struct xfer_auth *a) {
  a->dg = a->offer.digest;
  a->have_dg = 1;
  a->nc = 0;
  origin_of(e, a->dg_origin, sizeof(a->dg_origin));
}

static int on_401(XFER *e, struct xfer_auth *a) {
  struct creds c;
  unsigned long p;
  a->avail |= a->offer.avail;
  if (e->auth_blocked || a->problem || creds_get(e, &c)) return 0;
  if (a->used == XFERAUTH_DIGEST && a->offer.has_digest &&
      a->offer.digest.stale) {
    /* The nonce went stale, not the credentials: once more with the
     * new one. */
    take_digest(e, a);
    free(c.owned);
    return 1;
  }
  if (a->used) {
    /* Credentials went and came back refused: the 401 is the answer. */
    xfer__verbose(e, "Authentication problem: the server refused the "
                  "credentials");
    a->problem = 1;
    free(c.owned);
    return 0;
  }
  p = pick(e, &a->offer, &c);
  free(c.owned);
  if (!p) {
    xfer__verbose(e, "Authentication problem: no offered scheme is wanted "
                  "and usable");
    a->problem = 1;
    return 0;
  }
  a->picked = p;
  if (p == XFERAUTH_DIGEST) take_digest(e, a);
  return 1;
}

int xfer__auth_response(XFER *e, int status) {
  struct xfer_auth *a = e->auth;
  int again = 0;
  /* A 407 is the HTTP proxy's (absolute form; a tunnel's are tunnel.c's,
   * and an origin behind a tunnel has no business sending one). */
  if (status == 407 && e->resp_407 && e->px.absolute)
    return xfer__proxy_auth_407(e);
  if (!a) return 0;
  if (status == 401 && e->resp_401) again = on_401(e, a);
  else if (a->probe && status >= 200 && status < 300) {
    /* The server answered the probe without asking for credentials:
     * the request goes again with its body (libcurl's rule). */
    a->probe_done = 1;
    again = 1;
  }
  if (again && ++a->rounds >= AUTH_MAX_ROUNDS) {
    xfer__verbose(e, "Authentication problem: %d requests for one URL",
                  a->rounds);
    a->problem = 1;
    again = 0;
  }
  return again;
}

void xfer__auth_run_start(XFER *e) {
  e->auth_resend = e->resp_401 = 0;
  xfer__proxy_auth_run_start(e);
  if (e->auth) memset(e->auth, 0, sizeof(*e->auth));
}

void xfer__auth_redirected(XFER *e) {
  xfer__proxy_auth_redirected(e);
  if (!e->auth) return;
  e->auth->rounds = 0;
  e->auth->probe_done = 0;
}

void xfer__auth_free(XFER *e) {
  free(e->auth);
  e->auth = NULL;
}
