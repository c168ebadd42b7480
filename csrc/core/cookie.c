/*
 * cookie.c -- the cookie store and its rules (cookie.h): Set-Cookie
 * parsing (RFC 6265bis 5.6-5.7), domain and path matching, host-only,
 * Secure, HttpOnly, Max-Age/Expires, SameSite, the __Secure-/__Host-
 * prefixes, public suffixes (libpsl: the only file that includes it),
 * libcurl's limits, and the Cookie field of a request.  The file formats
 * are cookie_file.c's.  Pure: no transfer state, no I/O but libpsl's one
 * read of its list.  The store is a list: a few hundred cookies, scanned.
 */
#include "cookie.h"
#include "cookie_int.h"

#include <arpa/inet.h>
#include <libpsl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the public suffix list: loaded once per process ---- */

static const psl_ctx_t *psl;
static pthread_once_t psl_once = PTHREAD_ONCE_INIT;

/* The newest of the system's list (Debian's publicsuffix) and the one
 * built into libpsl; none at all leaves the fallback rule below. */
static void psl_load(void) {
  psl = psl_latest(NULL);
  if (!psl) psl = psl_builtin();
}

static int lc(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int ieq(const char *a, size_t an, const char *b) {
  size_t i, bn = strlen(b);
  if (an != bn) return 0;
  for (i = 0; i < an; i++)
    if (lc((unsigned char)a[i]) != b[i]) return 0;
  return 1;
}

static int is_ip(const char *h) {
  unsigned char buf[16];
  return strchr(h, ':') != NULL || inet_pton(AF_INET, h, buf) == 1;
}

/* RFC 6265bis 5.1.3: host is domain, or ends with "." domain and is a
 * name, not an address. */
static int domain_match(const char *host, const char *domain) {
  size_t hl = strlen(host), dl = strlen(domain);
  if (hl == dl) return memcmp(host, domain, hl) == 0;
  return hl > dl && host[hl - dl - 1] == '.' &&
         memcmp(host + hl - dl, domain, dl) == 0 && !is_ip(host);
}

/* Whether a cookie set by host may cover domain (which it domain-matches
 * and differs from): not when domain is a public suffix ("co.uk"). */
static int suffix_ok(const char *host, const char *domain) {
  pthread_once(&psl_once, psl_load);
  if (psl) return psl_is_cookie_domain_acceptable(psl, host, domain) == 1;
  return strchr(domain, '.') != NULL; /* no list: top-level names only */
}

static int is_suffix(const char *domain) {
  pthread_once(&psl_once, psl_load);
  if (psl) return psl_is_public_suffix(psl, domain) != 0;
  return strchr(domain, '.') == NULL;
}

/* RFC 6265bis 5.1.4: the cookie path covers the request path. */
static int path_match(const char *req, size_t rl, const char *cp) {
  size_t cl = strlen(cp);
  if (rl == cl) return memcmp(req, cp, cl) == 0;
  if (rl < cl || memcmp(req, cp, cl) != 0) return 0;
  return cp[cl - 1] == '/' || req[cl] == '/';
}

/* The request path without its query ("/" when none). */
static void req_path(const struct xfer_cookie_origin *o, const char **p,
                     size_t *n) {
  size_t i;
  *p = o->path ? o->path : "/";
  *n = o->path ? o->path_len : 1;
  for (i = 0; i < *n; i++)
    if ((*p)[i] == '?' || (*p)[i] == '#') break;
  *n = i;
  if (!*n || (*p)[0] != '/') {
    *p = "/";
    *n = 1;
  }
}

/* RFC 6265bis 5.1.4 default-path: up to the last '/', or "/". */
static char *default_path(const struct xfer_cookie_origin *o) {
  const char *p;
  size_t n;
  req_path(o, &p, &n);
  while (n > 1 && p[n - 1] != '/') n--;
  if (n > 1) n--; /* without the last '/' */
  return strndup(p, n);
}

/* ---- the store ---- */

struct xfer_cookies *xfer__cookies_new(void) {
  return calloc(1, sizeof(struct xfer_cookies));
}

void xfer__cookie_free1(struct xfer_cookie *k) {
  free(k->name);
  free(k->value);
  free(k->domain);
  free(k->path);
  free(k);
}

/* Unlinks and frees the cookie at *pp. */
static void drop(struct xfer_cookies *c, struct xfer_cookie **pp) {
  struct xfer_cookie *k = *pp;
  *pp = k->next;
  c->n--;
  xfer__cookie_free1(k);
}

void xfer__cookies_clear(struct xfer_cookies *c, int session_only) {
  struct xfer_cookie **pp = &c->list;
  while (*pp)
    if (!session_only || !(*pp)->expires) drop(c, pp);
    else pp = &(*pp)->next;
}

void xfer__cookies_free(struct xfer_cookies *c) {
  if (!c) return;
  xfer__cookies_clear(c, 0);
  free(c);
}

static void purge_expired(struct xfer_cookies *c, int64_t now) {
  struct xfer_cookie **pp = &c->list;
  while (*pp)
    if ((*pp)->expires && (*pp)->expires <= now) drop(c, pp);
    else pp = &(*pp)->next;
}

/* Room for one more cookie of domain: the expired go, then the oldest
 * of that domain while it has XFER_COOKIE_PER_DOMAIN. */
static void make_room(struct xfer_cookies *c, const char *domain,
                      int64_t now) {
  struct xfer_cookie **pp, **oldest;
  size_t n;
  purge_expired(c, now);
  for (;;) {
    n = 0;
    oldest = NULL;
    for (pp = &c->list; *pp; pp = &(*pp)->next)
      if (strcmp((*pp)->domain, domain) == 0) {
        n++;
        oldest = pp; /* newest first: the last seen is the oldest */
      }
    if (n < XFER_COOKIE_PER_DOMAIN || !oldest) return;
    drop(c, oldest);
  }
}

/* Puts k in the store: it replaces the cookie of the same name, domain,
 * host-only flag and path (keeping its creation time); one expired
 * already only removes that one. */
enum xfer_cookie_res xfer__cookie_store(struct xfer_cookies *c,
                                        struct xfer_cookie *k, int64_t now) {
  struct xfer_cookie **pp;
  for (pp = &c->list; *pp; pp = &(*pp)->next) {
    struct xfer_cookie *o = *pp;
    if (strcmp(o->name, k->name) == 0 && strcmp(o->domain, k->domain) == 0 &&
        o->host_only == k->host_only && strcmp(o->path, k->path) == 0) {
      k->created = o->created;
      drop(c, pp);
      break;
    }
  }
  if (k->expires && k->expires <= now) {
    xfer__cookie_free1(k);
    return XFER_COOKIE_REMOVED;
  }
  make_room(c, k->domain, now);
  if (!k->created) k->created = ++c->seq;
  k->next = c->list;
  c->list = k;
  c->n++;
  return XFER_COOKIE_STORED;
}

/* ---- Set-Cookie ---- */

static int ws(int ch) { return ch == ' ' || ch == '\t'; }

static void trim(const char **s, const char **e) {
  while (*s < *e && ws((unsigned char)**s)) (*s)++;
  while (*e > *s && ws((unsigned char)(*e)[-1])) (*e)--;
}

/* RFC 6265bis 5.6: a control byte refuses the cookie.  HTAB too in a
 * name or value (tab_ok 0): the Netscape format separates with it. */
static int has_ctl(const char *s, size_t n, int tab_ok) {
  size_t i;
  for (i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if ((ch < 0x20 && !(ch == '\t' && tab_ok)) || ch == 0x7f) return 1;
  }
  return 0;
}

/* A domain as stored: lowercase, no leading dot, no empty label, letters,
 * digits, '-', '_', '.' and ':' only (a Domain attribute with anything
 * else is refused). */
static char *norm_domain(const char *s, size_t n) {
  char *d;
  size_t i;
  if (n && s[0] == '.') s++, n--;
  if (!n || s[0] == '.' || s[n - 1] == '.') return NULL;
  if (!(d = malloc(n + 1))) return NULL;
  for (i = 0; i < n; i++) {
    int ch = lc((unsigned char)s[i]);
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
          ch == '-' || ch == '_' || ch == '.' || ch == ':') ||
        (ch == '.' && s[i - 1] == '.')) { /* no empty label */
      free(d);
      return NULL;
    }
    d[i] = (char)ch;
  }
  d[n] = 0;
  return d;
}

/* What the attributes said, before the storage rules. */
struct attrs {
  const char *domain, *path; /* values, not NUL-terminated */
  size_t domain_len, path_len;
  int have_domain, have_path, have_maxage;
  int64_t maxage, expires;   /* expires 0: none */
  unsigned secure : 1, httponly : 1, samesite : 2;
};

static int64_t parse_maxage(const char *v, size_t n, int *ok) {
  size_t i = 0;
  int neg = 0;
  int64_t x = 0;
  *ok = 0;
  if (n && v[0] == '-') neg = 1, i = 1;
  if (i == n) return 0;
  for (; i < n; i++) {
    if (v[i] < '0' || v[i] > '9') return 0;
    if (x < (int64_t)1 << 40) x = x * 10 + (v[i] - '0');
  }
  *ok = 1;
  return neg ? -x : x;
}

static void attribute(struct attrs *a, const char *n, size_t nl,
                      const char *v, size_t vl) {
  if (vl > XFER_COOKIE_ATTR_MAX) return; /* RFC 6265bis: ignored */
  if (ieq(n, nl, "domain")) {
    a->have_domain = vl != 0 && !(vl == 1 && v[0] == '.');
    a->domain = v;
    a->domain_len = vl;
  } else if (ieq(n, nl, "path")) {
    /* a TAB would break the Netscape line: as if no Path were given */
    a->have_path = vl && v[0] == '/' && !memchr(v, '\t', vl);
    a->path = v;
    a->path_len = vl;
  } else if (ieq(n, nl, "max-age")) {
    int ok;
    int64_t x = parse_maxage(v, vl, &ok);
    if (ok) a->have_maxage = 1, a->maxage = x;
  } else if (ieq(n, nl, "expires")) {
    int64_t t = xfer__cookie_date(v, vl);
    if (t) a->expires = t;
  } else if (ieq(n, nl, "secure")) {
    a->secure = 1;
  } else if (ieq(n, nl, "httponly")) {
    a->httponly = 1;
  } else if (ieq(n, nl, "samesite")) {
    a->samesite = ieq(v, vl, "strict") ? XFER_SAMESITE_STRICT
                  : ieq(v, vl, "lax")  ? XFER_SAMESITE_LAX
                  : ieq(v, vl, "none") ? XFER_SAMESITE_NONE
                                       : XFER_SAMESITE_DEFAULT;
  }
}

static void parse_attrs(struct attrs *a, const char *p, const char *end) {
  memset(a, 0, sizeof(*a));
  while (p < end) {
    const char *semi = memchr(p, ';', (size_t)(end - p)), *ae, *eq;
    const char *ns = p, *ne, *vs, *ve;
    ae = semi ? semi : end;
    eq = memchr(p, '=', (size_t)(ae - p));
    ne = eq ? eq : ae;
    vs = eq ? eq + 1 : ae;
    ve = ae;
    trim(&ns, &ne);
    trim(&vs, &ve);
    if (ne > ns) attribute(a, ns, (size_t)(ne - ns), vs, (size_t)(ve - vs));
    p = semi ? semi + 1 : end;
  }
}

/* The Domain and host-only parts of the storage model. */
static enum xfer_cookie_res place(struct xfer_cookie *k,
                                  const struct attrs *a, const char *host) {
  if (!a->have_domain) {
    if (!host) return XFER_COOKIE_BAD_DOMAIN; /* nothing to bind it to */
    k->host_only = 1;
    return (k->domain = strdup(host)) ? XFER_COOKIE_STORED
                                      : XFER_COOKIE_NOMEM;
  }
  if (!(k->domain = norm_domain(a->domain, a->domain_len)))
    return XFER_COOKIE_BAD_DOMAIN;
  if (!host) return XFER_COOKIE_STORED; /* the application's own line */
  if (strcmp(host, k->domain) == 0) {
    /* The host itself: host-only when that is a public suffix (5.7). */
    k->host_only = is_suffix(host) || is_ip(host);
    return XFER_COOKIE_STORED;
  }
  if (!domain_match(host, k->domain)) return XFER_COOKIE_BAD_DOMAIN;
  if (!suffix_ok(host, k->domain)) return XFER_COOKIE_PUBLIC_SUFFIX;
  return XFER_COOKIE_STORED;
}

/* Whether a cookie from a plain-http origin would shadow a Secure one
 * (RFC 6265bis 5.7: those are left alone). */
static int shadows_secure(const struct xfer_cookies *c,
                          const struct xfer_cookie *k) {
  const struct xfer_cookie *o;
  for (o = c->list; o; o = o->next)
    if (o->secure && strcmp(o->name, k->name) == 0 &&
        (domain_match(o->domain, k->domain) ||
         domain_match(k->domain, o->domain)) &&
        path_match(k->path, strlen(k->path), o->path))
      return 1;
  return 0;
}

static enum xfer_cookie_res check_prefix(const struct xfer_cookie *k) {
  if (strncmp(k->name, "__Secure-", 9) == 0 && !k->secure)
    return XFER_COOKIE_BAD_PREFIX;
  if (strncmp(k->name, "__Host-", 7) == 0 &&
      (!k->secure || !k->host_only || strcmp(k->path, "/") != 0))
    return XFER_COOKIE_BAD_PREFIX;
  return XFER_COOKIE_STORED;
}

/* The origin's host as a lowercase C string, without IPv6 brackets. */
static char *origin_host(const struct xfer_cookie_origin *o) {
  const char *h = o->host;
  size_t n = o->host_len, i;
  char *d;
  if (n >= 2 && h[0] == '[' && h[n - 1] == ']') h++, n -= 2;
  if (!(d = malloc(n + 1))) return NULL;
  for (i = 0; i < n; i++) d[i] = (char)lc((unsigned char)h[i]);
  d[n] = 0;
  return d;
}

/* The rest of the storage model once the name and value are known. */
static enum xfer_cookie_res finish(struct xfer_cookies *c,
                                   struct xfer_cookie *k,
                                   const struct attrs *a,
                                   const struct xfer_cookie_origin *o,
                                   int64_t now) {
  enum xfer_cookie_res r;
  char *host = NULL;
  if (o->host && !(host = origin_host(o))) return XFER_COOKIE_NOMEM;
  r = place(k, a, host);
  free(host);
  if (r) return r;
  k->path = a->have_path ? strndup(a->path, a->path_len) : default_path(o);
  if (!k->path) return XFER_COOKIE_NOMEM;
  k->secure = a->secure;
  k->httponly = a->httponly;
  k->samesite = a->samesite;
  if (a->have_maxage)
    k->expires = a->maxage <= 0 ? 1 : now + a->maxage;
  else
    k->expires = a->expires;
  if (k->secure && !o->secure && o->host) return XFER_COOKIE_NOT_SECURE;
  if (!o->secure && o->host && shadows_secure(c, k))
    return XFER_COOKIE_NOT_SECURE;
  if ((r = check_prefix(k))) return r;
  return xfer__cookie_store(c, k, now);
}

enum xfer_cookie_res xfer__cookie_parse(struct xfer_cookies *c,
                                        const char *line, size_t len,
                                        const struct xfer_cookie_origin *o,
                                        int64_t now) {
  const char *end = line + len, *semi, *eq, *ns, *ne, *vs, *ve;
  struct xfer_cookie *k;
  struct attrs a;
  enum xfer_cookie_res r;
  if (len > XFER_COOKIE_LINE_MAX) return XFER_COOKIE_TOO_BIG;
  semi = memchr(line, ';', len);
  ve = semi ? semi : end;
  eq = memchr(line, '=', (size_t)(ve - line));
  if (!eq) return XFER_COOKIE_BAD_SYNTAX; /* libcurl: a name is needed */
  ns = line;
  ne = eq;
  vs = eq + 1;
  trim(&ns, &ne);
  trim(&vs, &ve);
  if (ns == ne && vs == ve) return XFER_COOKIE_BAD_SYNTAX;
  if ((size_t)(ne - ns) + (size_t)(ve - vs) > XFER_COOKIE_NV_MAX)
    return XFER_COOKIE_TOO_BIG;
  if (has_ctl(ns, (size_t)(ne - ns), 0) || has_ctl(vs, (size_t)(ve - vs), 0) ||
      has_ctl(line, len, 1))
    return XFER_COOKIE_CONTROL;
  parse_attrs(&a, semi ? semi + 1 : end, end);
  if (!(k = calloc(1, sizeof(*k)))) return XFER_COOKIE_NOMEM;
  k->name = strndup(ns, (size_t)(ne - ns));
  k->value = strndup(vs, (size_t)(ve - vs));
  if (!k->name || !k->value) {
    xfer__cookie_free1(k);
    return XFER_COOKIE_NOMEM;
  }
  r = finish(c, k, &a, o, now);
  if (r != XFER_COOKIE_STORED && r != XFER_COOKIE_REMOVED)
    xfer__cookie_free1(k);
  return r;
}

const char *xfer__cookie_res_text(enum xfer_cookie_res r) {
  switch (r) {
  case XFER_COOKIE_STORED: return "stored";
  case XFER_COOKIE_REMOVED: return "expired: removed";
  case XFER_COOKIE_BAD_SYNTAX: return "no name=value";
  case XFER_COOKIE_TOO_BIG: return "too big";
  case XFER_COOKIE_CONTROL: return "control character";
  case XFER_COOKIE_BAD_DOMAIN: return "domain does not match the host";
  case XFER_COOKIE_PUBLIC_SUFFIX: return "domain is a public suffix";
  case XFER_COOKIE_NOT_SECURE: return "Secure cookie from an insecure origin";
  case XFER_COOKIE_BAD_PREFIX: return "__Secure-/__Host- prefix rules";
  case XFER_COOKIE_NOMEM: return "out of memory";
  }
  return "?";
}

/* ---- the Cookie field ---- */

/* RFC 6265bis 5.8.3 order: longer paths first, then older first. */
static int before(const struct xfer_cookie *a, const struct xfer_cookie *b) {
  size_t al = strlen(a->path), bl = strlen(b->path);
  return al != bl ? al > bl : a->created < b->created;
}

static int applies(const struct xfer_cookie *k, const char *host,
                   const char *p, size_t pn, int secure) {
  if (k->secure && !secure) return 0;
  if (k->host_only ? strcmp(host, k->domain) != 0
                   : !domain_match(host, k->domain))
    return 0;
  return path_match(p, pn, k->path);
}

char *xfer__cookie_field(struct xfer_cookies *c,
                         const struct xfer_cookie_origin *o, int64_t now,
                         int *oom) {
  const struct xfer_cookie *pick[XFER_COOKIE_SEND_MAX], *k;
  size_t n = 0, i, j, len = 0, p_len;
  const char *p;
  char *host, *out;
  *oom = 0;
  if (!c || !c->list) return NULL;
  purge_expired(c, now);
  req_path(o, &p, &p_len);
  if (!(host = origin_host(o))) {
    *oom = 1;
    return NULL;
  }
  for (k = c->list; k && n < XFER_COOKIE_SEND_MAX; k = k->next) {
    if (!applies(k, host, p, p_len, o->secure)) continue;
    for (i = n; i > 0 && before(k, pick[i - 1]); i--) pick[i] = pick[i - 1];
    pick[i] = k;
    n++;
  }
  free(host);
  if (!n) return NULL;
  if (!(out = malloc(XFER_COOKIE_FIELD_MAX + 1))) {
    *oom = 1;
    return NULL;
  }
  for (i = 0; i < n; i++) {
    size_t nl = strlen(pick[i]->name), vl = strlen(pick[i]->value);
    size_t need = (len ? 2 : 0) + nl + (nl ? 1 : 0) + vl;
    if (len + need > XFER_COOKIE_FIELD_MAX) break; /* the rest stay home */
    j = len;
    if (len) out[j++] = ';', out[j++] = ' ';
    memcpy(out + j, pick[i]->name, nl);
    j += nl;
    if (nl) out[j++] = '=';
    memcpy(out + j, pick[i]->value, vl);
    len = j + vl;
  }
  out[len] = 0;
  if (!len) {
    free(out);
    return NULL;
  }
  return out;
}

/* ---- dates (RFC 6265bis 5.1.1) ---- */

static int delim(int ch) {
  return ch == 0x09 || (ch >= 0x20 && ch <= 0x2f) ||
         (ch >= 0x3b && ch <= 0x40) || (ch >= 0x5b && ch <= 0x60) ||
         (ch >= 0x7b && ch <= 0x7e);
}

/* n (1..max) digits at the start of t, then non-digits or the end. */
static int digits(const char *t, size_t tn, int min, int max, int *v) {
  int i;
  *v = 0;
  for (i = 0; (size_t)i < tn && t[i] >= '0' && t[i] <= '9'; i++) {
    if (i == max) return 0;
    *v = *v * 10 + (t[i] - '0');
  }
  return i >= min;
}

static int time_of(const char *t, size_t tn, int *h, int *m, int *s) {
  const char *e = t + tn, *c1 = memchr(t, ':', tn), *c2;
  if (!c1 || !(c2 = memchr(c1 + 1, ':', (size_t)(e - c1 - 1)))) return 0;
  return digits(t, (size_t)(c1 - t), 1, 2, h) && (c1 - t) <= 2 &&
         digits(c1 + 1, (size_t)(c2 - c1 - 1), 1, 2, m) &&
         (c2 - c1 - 1) <= 2 && digits(c2 + 1, (size_t)(e - c2 - 1), 1, 2, s);
}

static int month_of(const char *t, size_t tn) {
  static const char *const names = "janfebmaraprmayjunjulaugsepoctnovdec";
  int i;
  if (tn < 3) return -1;
  for (i = 0; i < 12; i++)
    if (lc((unsigned char)t[0]) == names[i * 3] &&
        lc((unsigned char)t[1]) == names[i * 3 + 1] &&
        lc((unsigned char)t[2]) == names[i * 3 + 2])
      return i;
  return -1;
}

/* The time a cookie-date names (seconds since the epoch), or 0 when it is
 * not one (the attribute is then ignored). */
int64_t xfer__cookie_date(const char *s, size_t n) {
  int hh = -1, mi = 0, ss = 0, day = -1, mon = -1, year = -1, v, a, b, c;
  const char *e = s + n;
  struct tm tm;
  time_t t;
  while (s < e) {
    const char *t0;
    size_t tn;
    while (s < e && delim((unsigned char)*s)) s++;
    t0 = s;
    while (s < e && !delim((unsigned char)*s)) s++;
    if (!(tn = (size_t)(s - t0))) break;
    if (hh < 0 && time_of(t0, tn, &a, &b, &c)) hh = a, mi = b, ss = c;
    else if (day < 0 && digits(t0, tn, 1, 2, &v)) day = v;
    else if (mon < 0 && month_of(t0, tn) >= 0) mon = month_of(t0, tn);
    else if (year < 0 && digits(t0, tn, 2, 4, &v)) year = v;
  }
  if (year >= 70 && year <= 99) year += 1900;
  else if (year >= 0 && year <= 69) year += 2000;
  if (hh < 0 || day < 1 || day > 31 || mon < 0 || year < 1601 ||
      hh > 23 || mi > 59 || ss > 59)
    return 0;
  memset(&tm, 0, sizeof(tm));
  tm.tm_year = year - 1900;
  tm.tm_mon = mon;
  tm.tm_mday = day;
  tm.tm_hour = hh;
  tm.tm_min = mi;
  tm.tm_sec = ss;
  t = timegm(&tm);
  if (t == (time_t)-1) return 0;
  return t <= 0 ? 1 : (int64_t)t; /* before 1970: expired, not "none" */
}
