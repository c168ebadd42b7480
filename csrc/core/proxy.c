/*
 * proxy.c -- which proxies a request goes through, and what that means
 * for its connection (proxy.h).
 *
 * libcurl's rules: PROXY set (even to "") wins over the environment, ""
 * meaning no proxy; otherwise http_proxy (lowercase only: a CGI program's
 * HTTP_PROXY comes from a request header) for http, https_proxy or
 * HTTPS_PROXY for https, then all_proxy or ALL_PROXY.  NOPROXY, or else
 * no_proxy/NO_PROXY, names the hosts that go direct.  A proxy string
 * without a scheme is of PROXYTYPE; its port is the string's, else
 * PROXYPORT, else 443 for https and 1080 for the others.  Credentials in
 * the proxy string win over PROXYUSERPWD/PROXYUSERNAME/PROXYPASSWORD.
 * PRE_PROXY is a SOCKS proxy in front of an HTTP(S) one.
 *
 * Everything is read when the request starts (each redirect too), never
 * at setopt, so the environment of that moment counts.
 */
#include "xfer_int.h"
#include "options.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void xfer__proxy_route_free(struct xfer_route *r) {
  free(r->socks.host);
  free(r->socks.user);
  free(r->socks.pass);
  free(r->http.host);
  free(r->http.user);
  free(r->http.pass);
  free(r->key);
  memset(r, 0, sizeof(*r));
  r->socks.type = r->http.type = -1;
}

/* ---- NOPROXY ---- */

/* addr/bits against a pattern "a.b.c.d[/n]" or "v6[/n]": 1 on a match. */
static int cidr_match(const char *host, const char *pat, size_t plen) {
  unsigned char h[16], p[16];
  char buf[64];
  const char *slash = memchr(pat, '/', plen);
  size_t alen = slash ? (size_t)(slash - pat) : plen;
  int fam = strchr(host, ':') ? AF_INET6 : AF_INET, bits, i;
  if (alen >= sizeof(buf)) return 0;
  if (inet_pton(fam, host, h) != 1) return 0;
  memcpy(buf, pat, alen);
  buf[alen] = 0;
  if (inet_pton(fam, buf, p) != 1) return 0;
  bits = fam == AF_INET6 ? 128 : 32;
  if (slash) {
    char *end;
    long n = strtol(slash + 1, &end, 10);
    if (end != pat + plen || n < 0 || n > bits) return 0;
    bits = (int)n;
  }
  for (i = 0; bits > 0; i++, bits -= 8) {
    unsigned char mask = bits >= 8 ? 0xff : (unsigned char)(0xff << (8 - bits));
    if ((h[i] & mask) != (p[i] & mask)) return 0;
  }
  return 1;
}

/* Whether host (no brackets) is in the comma (or space) separated list:
 * "*" alone matches all; a name matches itself and its subdomains (a
 * leading dot is the same name), an address matches itself or a CIDR
 * range. */
static int noproxy_match(const char *list, const char *host, int is_ip) {
  size_t hl = strlen(host);
  if (hl && host[hl - 1] == '.') hl--; /* "example.com." is example.com */
  while (*list) {
    size_t n;
    const char *p;
    while (*list == ',' || *list == ' ' || *list == '\t') list++;
    n = strcspn(list, ", \t");
    p = list;
    list += n;
    if (!n) continue;
    if (n == 1 && *p == '*') return 1;
    if (is_ip) {
      if (n > 1 && p[0] == '[' && p[n - 1] == ']') {
        p++;
        n -= 2;
      }
      if (cidr_match(host, p, n)) return 1;
      continue;
    }
    if (*p == '.') {
      p++;
      n--;
    }
    if (n && p[n - 1] == '.') n--;
    if (!n || n > hl) continue;
    if (strncasecmp(host + hl - n, p, n) == 0 &&
        (n == hl || host[hl - n - 1] == '.'))
      return 1;
  }
  return 0;
}

/* ---- parsing a proxy string ---- */

static const struct {
  const char *name;
  int type;
} schemes[] = {
  {"http", XFERPROXY_HTTP},     {"https", XFERPROXY_HTTPS},
  {"socks4", XFERPROXY_SOCKS4}, {"socks4a", XFERPROXY_SOCKS4A},
  {"socks5", XFERPROXY_SOCKS5}, {"socks5h", XFERPROXY_SOCKS5_HOSTNAME},
};

/* A percent-decoded copy of n bytes; NULL out of memory, or (*bad set)
 * when it would hold a NUL, which no credential can. */
static char *decoded(const char *s, size_t n, int *bad) {
  char *d = malloc(n + 1);
  size_t o;
  if (!d) return NULL;
  o = xfer__pct_decode(d, s, n);
  if (memchr(d, 0, o)) {
    *bad = 1;
    free(d);
    return NULL;
  }
  d[o] = 0;
  return d;
}

static XFERcode bad_proxy(XFER *e, const char *what, const char *s,
                          XFERcode code) {
  xfer__fail(e, "%s: '%.200s'", what, s);
  return code;
}

/* Parses "[scheme://][user[:pass]@]host[:port][/...]" into h.  deftype
 * is the type of a string without a scheme. */
static XFERcode parse_hop(XFER *e, const char *s, int deftype,
                          struct xfer_hop *h) {
  const char *sep = strstr(s, "://"), *rest = s;
  struct xfer_url u;
  char *url;
  size_t i, n;
  int rc, bad = 0;
  h->type = deftype == XFERPROXY_HTTP_1_0 ? XFERPROXY_HTTP : deftype;
  if (sep) {
    n = (size_t)(sep - s);
    for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
      if (strlen(schemes[i].name) == n &&
          strncasecmp(s, schemes[i].name, n) == 0)
        break;
    if (i == sizeof(schemes) / sizeof(schemes[0]))
      return bad_proxy(e, "Unsupported proxy scheme", s,
                       XFERE_COULDNT_CONNECT);
    h->type = schemes[i].type;
    rest = sep + 3;
  }
  /* url.c's parser, with its strictness about the host and port. */
  n = strlen(rest);
  if (!(url = malloc(n + 8))) return XFERE_OUT_OF_MEMORY;
  memcpy(url, "http://", 7);
  memcpy(url + 7, rest, n + 1);
  rc = xfer__url_parse(url, n + 7, &u);
  if (rc) {
    free(url);
    return bad_proxy(e, "Unsupported proxy syntax", s,
                     XFERE_COULDNT_RESOLVE_PROXY);
  }
  h->port = u.port_explicit ? u.port
            : e->set.proxyport ? (uint16_t)e->set.proxyport
            : h->type == XFERPROXY_HTTPS ? 443 : 1080;
  h->host_v6 = u.host_is_ipv6;
  h->host_is_ip = u.host_is_ipv4 || u.host_is_ipv6;
  h->host = strndup(url + u.host_off, u.host_len);
  if (h->host && u.has_userinfo) {
    h->user = decoded(url + u.user_off, u.user_len, &bad);
    if (h->user && u.pass_off != u.user_off + u.user_len)
      h->pass = decoded(url + u.pass_off, u.pass_len, &bad);
  }
  free(url);
  if (bad) return bad_proxy(e, "Bad proxy credentials", s,
                            XFERE_COULDNT_RESOLVE_PROXY);
  if (!h->host || (u.has_userinfo && !h->user) ||
      (u.has_userinfo && u.pass_off != u.user_off + u.user_len && !h->pass))
    return XFERE_OUT_OF_MEMORY;
  return XFERE_OK;
}

/* PROXYUSERNAME/PROXYPASSWORD (percent-decoded, as libcurl) for a hop
 * whose string named none. */
static XFERcode option_creds(XFER *e, struct xfer_hop *h) {
  const struct xfer_opts *o = &e->set;
  int bad = 0;
  if (h->user || (!o->proxyusername && !o->proxypassword)) return XFERE_OK;
  h->user = decoded(o->proxyusername ? o->proxyusername : "",
                    o->proxyusername ? strlen(o->proxyusername) : 0, &bad);
  if (h->user && o->proxypassword)
    h->pass = decoded(o->proxypassword, strlen(o->proxypassword), &bad);
  if (bad) {
    xfer__fail(e, "Bad proxy credentials: a %%00 in them");
    return XFERE_BAD_FUNCTION_ARGUMENT;
  }
  if (!h->user || (o->proxypassword && !h->pass)) return XFERE_OUT_OF_MEMORY;
  return XFERE_OK;
}

/* The proxy variables of the environment, as libcurl reads them at each
 * request's start, with getenv's rule (the first of a name wins).  Six
 * getenv calls, each a scan of the whole environment, cost a tenth of a
 * keep-alive request's instructions: one pass finds them all, and the
 * multi keeps what it found while the environment's pointers stay the
 * same (setenv, putenv and unsetenv change them). */
enum { ENV_HTTP, ENV_HTTPS, ENV_HTTPS_UC, ENV_ALL, ENV_ALL_UC, ENV_NO,
       ENV_NO_UC, ENV_N };

extern char **environ;

static void env_scan(XFERM *m, const char *v[ENV_N]) {
  static const char *const names[ENV_N] = {
      "http_proxy=", "https_proxy=", "HTTPS_PROXY=", "all_proxy=",
      "ALL_PROXY=", "no_proxy=", "NO_PROXY="};
  static const unsigned char lens[ENV_N] = {11, 12, 12, 10, 10, 9, 9};
  uint64_t sum = 0;
  size_t n = 0;
  char **ep;
  int i;
  /* Checked already in this driving call: the transfers it starts see
   * one environment (a callback's setenv counts from the next call). */
  if (m && m->proxy_env.at && m->proxy_env.call == m->call_no) {
    for (i = 0; i < ENV_N; i++) v[i] = m->proxy_env.v[i];
    return;
  }
  /* Unchanged since the last scan (the same strings at the same places):
   * what it found still holds.  This look costs a tenth of the scan. */
  for (ep = environ; ep && *ep; ep++, n++)
    sum = (sum ^ (uint64_t)(uintptr_t)*ep) * 0x100000001b3ULL;
  if (m && m->proxy_env.at == environ && m->proxy_env.n == n &&
      m->proxy_env.sum == sum && n) {
    m->proxy_env.call = m->call_no;
    for (i = 0; i < ENV_N; i++) v[i] = m->proxy_env.v[i];
    return;
  }
  for (i = 0; i < ENV_N; i++) v[i] = NULL;
  for (ep = environ; ep && *ep; ep++) {
    const char *s = *ep;
    /* every name starts with h, a or n, in either case */
    if ((s[0] | 0x20) != 'h' && (s[0] | 0x20) != 'a' && (s[0] | 0x20) != 'n')
      continue;
    for (i = 0; i < ENV_N; i++)
      if (!v[i] && strncmp(s, names[i], lens[i]) == 0) {
        v[i] = s + lens[i];
        break;
      }
  }
  if (m) {
    m->proxy_env.at = environ;
    m->proxy_env.n = n;
    m->proxy_env.sum = sum;
    m->proxy_env.call = m->call_no;
    for (i = 0; i < ENV_N; i++) m->proxy_env.v[i] = v[i];
  }
}

/* The first of two variables that is set and not empty. */
static const char *env_first(const char *a, const char *b) {
  if (a && *a) return a;
  return b && *b ? b : NULL;
}

/* The proxy string for e's URL: the option's, else the environment's;
 * NULL for none. */
static const char *proxy_string(XFER *e, const char *env[ENV_N]) {
  const char *v;
  if (e->set.proxy) return *e->set.proxy ? e->set.proxy : NULL;
  v = e->u.scheme == XFER_SCHEME_HTTPS
          ? env_first(env[ENV_HTTPS], env[ENV_HTTPS_UC])
          : env_first(env[ENV_HTTP], NULL);
  return v ? v : env_first(env[ENV_ALL], env[ENV_ALL_UC]);
}

/* PROXYHEADER's lines go into a request head as they are: a CR, LF or
 * other control byte would inject a field (refused, 43, as HTTPHEADER's). */
static XFERcode check_proxyheader(XFER *e) {
  const struct xfer_slist *l;
  for (l = e->set.proxyheader; l; l = l->next) {
    const char *p;
    for (p = l->data; p && *p; p++)
      if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f) {
        xfer__fail(e, "control character in a proxy header: %.60s", l->data);
        return XFERE_BAD_FUNCTION_ARGUMENT;
      }
  }
  return XFERE_OK;
}

int xfer__proxy_route(XFER *e) {
  struct xfer_route *r = &e->px;
  const char *ps, *noproxy, *env[ENV_N];
  char host[XFER_URL_MAX_HOST + 1];
  XFERcode rc;
  xfer__proxy_route_free(r);
  if (e->set.unix_socket_path) return XFERE_OK; /* a local socket: no hop */
  if (e->set.proxy && *e->set.proxy && e->set.noproxy) {
    env[ENV_NO] = env[ENV_NO_UC] = NULL; /* the options say it all */
  } else {
    env_scan(e->multi, env);
  }
  ps = proxy_string(e, env);
  if (!ps && !e->set.pre_proxy) return XFERE_OK;
  noproxy = e->set.noproxy ? e->set.noproxy
                           : env_first(env[ENV_NO], env[ENV_NO_UC]);
  memcpy(host, e->url + e->u.host_off, e->u.host_len);
  host[e->u.host_len] = 0;
  if (noproxy &&
      noproxy_match(noproxy, host, e->u.host_is_ipv4 || e->u.host_is_ipv6))
    return XFERE_OK;
  if (ps) {
    struct xfer_hop h = {0};
    rc = parse_hop(e, ps, e->set.proxytype, &h);
    if (!rc) rc = option_creds(e, &h);
    if (XFER_IS_SOCKS(h.type)) r->socks = h;
    else r->http = h;
    if (rc) goto fail;
  }
  /* A pre-proxy is the SOCKS hop in front of an HTTP one; a SOCKS PROXY
   * is that hop itself. */
  if (e->set.pre_proxy && *e->set.pre_proxy && r->socks.type < 0) {
    rc = parse_hop(e, e->set.pre_proxy, XFERPROXY_SOCKS4, &r->socks);
    if (!rc && !XFER_IS_SOCKS(r->socks.type))
      rc = bad_proxy(e, "PRE_PROXY must be a SOCKS proxy", e->set.pre_proxy,
                     XFERE_COULDNT_CONNECT);
    if (rc) goto fail;
  }
  r->active = r->socks.type >= 0 || r->http.type >= 0;
  if ((rc = check_proxyheader(e)) != XFERE_OK) goto fail;
  if (r->http.type >= 0) {
    r->tunnel = e->u.scheme == XFER_SCHEME_HTTPS || e->set.httpproxytunnel;
    r->absolute = !r->tunnel;
  }
  return XFERE_OK;
fail:
  xfer__proxy_route_free(r);
  return rc;
}

int xfer__proxy_sends_auth(const XFER *e) {
  return e->px.http.type >= 0 && e->px.http.user &&
         (e->set.proxyauth & (XFERAUTH_BASIC | XFERAUTH_DIGEST));
}

/* ---- connection-cache keys ---- */

#define PUT(s, n) do { if (len + (n) < cap) memcpy(buf + len, (s), (n)); \
                       len += (n); } while (0)

/* host:port of a hop, lowercased, then the RESOLVE pin of that name. */
static size_t hop_hostport(XFER *e, const struct xfer_hop *h, char *buf,
                           size_t cap) {
  size_t len = 0, i, hl = strlen(h->host);
  char num[8];
  const char *pin = xfer__dns_pin(e, h->host, hl, h->port, NULL);
  for (i = 0; i < hl; i++) {
    char c = h->host[i];
    c = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
    PUT(&c, 1);
  }
  num[0] = ':';
  PUT(num, 1 + xfer__fmt_u64(num + 1, h->port));
  if (pin) {
    PUT("\x03", 1);
    PUT(pin, strlen(pin));
  }
  return len;
}

size_t xfer__proxy_bucket_key(XFER *e, char *buf, size_t cap) {
  const struct xfer_hop *first =
      e->px.socks.type >= 0 ? &e->px.socks : &e->px.http;
  size_t len = 0;
  PUT("proxy://", 8);
  len += hop_hostport(e, first, len < cap ? buf + len : buf,
                      len < cap ? cap - len : 0);
  if (len < cap) buf[len] = 0;
  return len;
}

static size_t cred_key(const char *s, char *buf, size_t cap) {
  char num[24];
  size_t len = 0, n = s ? strlen(s) : 0;
  num[0] = s ? '\x01' : '\x02';
  PUT(num, 1 + xfer__fmt_u64(num + 1, n));
  PUT(":", 1);
  if (n) PUT(s, n);
  return len;
}

static size_t hop_key(XFER *e, const struct xfer_hop *h, char *buf,
                      size_t cap) {
  size_t len = 0;
  char t = (char)('0' + h->type);
  if (h->type < 0) return 0;
  PUT("\x05", 1);
  PUT(&t, 1);
  len += hop_hostport(e, h, len < cap ? buf + len : buf,
                      len < cap ? cap - len : 0);
  /* The credentials themselves, each after its length (so no two pairs
   * read the same): a hash could collide and hand one user's
   * authenticated connection to another. */
  len += cred_key(h->user, len < cap ? buf + len : buf,
                  len < cap ? cap - len : 0);
  len += cred_key(h->pass, len < cap ? buf + len : buf,
                  len < cap ? cap - len : 0);
  return len;
}

static size_t route_key(XFER *e, const char *origin, char *buf, size_t cap) {
  const struct xfer_route *r = &e->px;
  size_t len = 0;
  len += hop_key(e, &r->socks, buf, cap);
  len += hop_key(e, &r->http, len < cap ? buf + len : buf,
                 len < cap ? cap - len : 0);
  if (r->http.type >= 0) {
    char a = xfer__proxy_sends_auth(e) ? 'A' : 'a';
    PUT(&a, 1);
  }
  if (r->http.type == XFERPROXY_HTTPS)
    len += xfer__tls_key(e, 1, len < cap ? buf + len : buf,
                         len < cap ? cap - len : 0);
  /* Plain HTTP through the HTTP proxy goes to any origin on the same
   * connection; a tunnel or SOCKS leads to one. */
  if (!r->absolute) {
    PUT("\x06", 1);
    PUT(origin, strlen(origin));
  }
  if (len < cap) buf[len] = 0;
  return len;
}
#undef PUT

int xfer__proxy_route_key(XFER *e, const char *origin_key) {
  char small[512];
  size_t n = route_key(e, origin_key, small, sizeof(small));
  free(e->px.key);
  if (!(e->px.key = malloc(n + 1))) return -1;
  if (n < sizeof(small)) memcpy(e->px.key, small, n + 1);
  else route_key(e, origin_key, e->px.key, n + 1);
  return 0;
}

/* ---- the proxy's authentication ---- */

/* Requests for one URL that answer a 407: the pick, a stale nonce or
 * two.  A proxy that keeps asking gets its 407 back. */
#define PAUTH_MAX_ROUNDS 4

static struct xfer_pauth *pauth_of(XFER *e) {
  if (!e->pauth) e->pauth = calloc(1, sizeof(*e->pauth));
  return e->pauth;
}

/* The HTTP proxy's "host:port", whose Digest challenge is kept. */
static void proxy_id(const XFER *e, char *buf, size_t cap) {
  snprintf(buf, cap, "%s:%u", e->px.http.host ? e->px.http.host : "",
           (unsigned)e->px.http.port);
}

static int digest_value(XFER *e, struct xfer_pauth *a, const char *method,
                        const char *uri, size_t ulen, const char *body,
                        size_t blen, int body_known, char **out) {
  const struct xfer_hop *h = &e->px.http;
  struct xfer_digest_req q;
  unsigned char rnd[16];
  char cnonce[33];
  const char *pass = h->pass ? h->pass : "";
  int i, err = 0;
  if (xfer__random(rnd, sizeof(rnd))) {
    xfer__fail(e, "no random bytes for the Digest cnonce");
    return XFERE_OUT_OF_MEMORY;
  }
  for (i = 0; i < 16; i++) snprintf(cnonce + 2 * i, 3, "%02x", rnd[i]);
  memset(&q, 0, sizeof(q));
  q.method = method;
  q.uri = uri;
  q.uri_len = ulen;
  q.nc = ++a->nc;
  q.cnonce = cnonce;
  q.body = body;
  q.body_len = blen;
  q.body_known = body_known;
  *out = xfer__auth_digest(&a->dg, h->user, strlen(h->user), pass,
                           strlen(pass), &q, &err);
  if (!*out && err == XFERE_BAD_FUNCTION_ARGUMENT)
    xfer__fail(e, "control character in the proxy user name (Digest)");
  return *out ? XFERE_OK : err;
}

int xfer__proxy_auth_value(XFER *e, const char *method, const char *uri,
                           size_t ulen, const char *body, size_t blen,
                           int body_known, char **out) {
  const struct xfer_hop *h = &e->px.http;
  struct xfer_pauth *a;
  char id[sizeof(a->dg_proxy)];
  int rc = XFERE_OK;
  *out = NULL;
  if (e->pauth) e->pauth->used = 0;
  if (!xfer__proxy_sends_auth(e)) return XFERE_OK;
  if (!(a = pauth_of(e))) return XFERE_OUT_OF_MEMORY;
  /* One wanted bit is used at once; more wait for a 407 to tell which
   * (libcurl's rule).  A Digest challenge is one proxy's only. */
  if (!a->picked) a->picked = e->set.proxyauth;
  proxy_id(e, id, sizeof(id));
  if (a->picked == XFERAUTH_BASIC) {
    const char *pass = h->pass ? h->pass : "";
    if (!(*out = xfer__auth_basic(h->user, strlen(h->user), pass,
                                  strlen(pass))))
      rc = XFERE_OUT_OF_MEMORY;
  } else if (a->picked == XFERAUTH_DIGEST && a->have_dg &&
             !strcmp(id, a->dg_proxy)) {
    rc = digest_value(e, a, method, uri, ulen, body, blen, body_known, out);
  }
  if (*out) {
    a->used = a->picked;
    xfer__verbose(e, "Proxy auth using %s with user '%.64s'",
                  a->used == XFERAUTH_BASIC ? "Basic" : "Digest", h->user);
  }
  return rc;
}

void xfer__proxy_auth_section(XFER *e, int status) {
  e->resp_407 = status == 407;
  if (e->pauth)
    memset(&e->pauth->offer, 0, offsetof(struct xfer_auth_offer, digest));
}

int xfer__proxy_auth_challenge(XFER *e, const char *v, size_t n) {
  struct xfer_pauth *a = pauth_of(e);
  if (!a) return XFERE_OUT_OF_MEMORY;
  xfer__auth_parse(v, n, &a->offer); /* a bad tail: what came before */
  return 0;
}

/* Digest before Basic, among the offered ones PROXYAUTH wants. */
static unsigned long pauth_pick(const XFER *e, const struct xfer_pauth *a) {
  unsigned long ok = a->offer.avail & e->set.proxyauth;
  if (!a->offer.has_digest || (!a->offer.digest.qop_auth &&
                               a->offer.digest.qop_int))
    ok &= ~XFERAUTH_DIGEST; /* auth-int alone: a CONNECT has no body
                               to hash, a request's may not be known */
  if (ok & XFERAUTH_DIGEST) return XFERAUTH_DIGEST;
  if (ok & XFERAUTH_BASIC) return XFERAUTH_BASIC;
  return 0;
}

static void pauth_problem(XFER *e, struct xfer_pauth *a, const char *why) {
  xfer__verbose(e, "Proxy authentication problem: %s", why);
  a->problem = 1;
}

int xfer__proxy_auth_407(XFER *e) {
  struct xfer_pauth *a = pauth_of(e);
  unsigned long p;
  if (!a) return 0;
  a->avail |= a->offer.avail;
  if (a->problem) return 0;
  if (!xfer__proxy_sends_auth(e)) {
    pauth_problem(e, a, "no proxy credentials for its 407");
    return 0;
  }
  if (++a->rounds >= PAUTH_MAX_ROUNDS) {
    pauth_problem(e, a, "too many 407s");
    return 0;
  }
  if (a->used == XFERAUTH_DIGEST && a->offer.has_digest &&
      a->offer.digest.stale) {
    p = XFERAUTH_DIGEST; /* the nonce went stale, not the credentials */
  } else if (a->used) {
    pauth_problem(e, a, "the proxy refused the credentials");
    return 0;
  } else if (!(p = pauth_pick(e, a))) {
    pauth_problem(e, a, "no offered scheme is wanted and usable");
    return 0;
  }
  a->picked = p;
  if (p == XFERAUTH_DIGEST) {
    a->dg = a->offer.digest;
    a->have_dg = 1;
    a->nc = 0;
    proxy_id(e, a->dg_proxy, sizeof(a->dg_proxy));
  }
  return 1;
}

void xfer__proxy_auth_run_start(XFER *e) {
  e->resp_407 = e->px_reconnect = 0;
  if (e->pauth) memset(e->pauth, 0, sizeof(*e->pauth));
}

void xfer__proxy_auth_redirected(XFER *e) {
  if (e->pauth) e->pauth->rounds = 0;
}

void xfer__proxy_auth_free(XFER *e) {
  free(e->pauth);
  e->pauth = NULL;
}

/* ---- the filters ---- */

int xfer__proxy_chain(struct xfer_conn *c, XFER *e) {
  const struct xfer_route *r = &e->px;
  struct xfer_cf *cf;
  if (r->socks.type >= 0) {
    /* Its target: the HTTP proxy behind it, or the origin. */
    const struct xfer_hop *h = &r->http;
    int by_name = r->socks.type == XFERPROXY_SOCKS4A ||
                  r->socks.type == XFERPROXY_SOCKS5_HOSTNAME;
    char origin[XFER_URL_MAX_HOST + 1];
    const char *host = origin;
    unsigned port;
    int is_ip;
    if (h->type >= 0) {
      host = h->host;
      port = h->port;
      is_ip = h->host_is_ip;
    } else {
      memcpy(origin, e->url + e->u.host_off, e->u.host_len);
      origin[e->u.host_len] = 0;
      port = e->u.port;
      is_ip = e->u.host_is_ipv4 || e->u.host_is_ipv6;
    }
    cf = xfer__cf_socks_new(c, c->cf, &r->socks, host, is_ip, port,
                            by_name ? NULL : &c->socks_addr);
    if (!cf) return -1;
    c->cf = cf;
  }
  if (r->http.type == XFERPROXY_HTTPS) {
    static const unsigned char alpn_h1[] = "\x08http/1.1";
    cf = xfer__cf_tls_new(c, c->cf, e, r->http.host, r->http.host_is_ip,
                          alpn_h1, sizeof(alpn_h1) - 1,
                          XFER_TLS_FOR_PROXY | XFER_TLS_NO_SESSION);
    if (!cf) return -1;
    c->cf = cf;
    c->proxy_tls = 1;
  }
  if (r->tunnel) {
    if (!(cf = xfer__cf_tunnel_new(c, c->cf, e))) return -1;
    c->cf = cf;
  }
  return 0;
}
