/*
 * authserver.c -- the test server for HTTP Digest authentication (Debian's
 * nginx has no Digest module), and for hostile challenges.  HTTP/1.1 on
 * 127.0.0.1, keep-alive, one process, poll(); prints "AUTH_PORT=N" and
 * serves until its stdin closes (servers.sh holds it open).
 *
 * It checks Digest honestly (RFC 7616, with its own parser, independent of
 * the client's): the response hash recomputed with OpenSSL (MD5, SHA-256,
 * SHA-512-256, their -sess forms, qop auth and auth-int over the body it
 * received, userhash), the uri equal to the request target, its own
 * nonces only, the opaque echoed, a cnonce present, and nc strictly
 * growing per nonce (a replay is refused).  The one user is alice, with
 * the password "s3cret:pw".
 *
 * Routes (knobs in the query):
 *   /digest/...   401 with challenges until the request carries a good
 *                 Authorization, then 200 "ok scheme=digest algo=A qop=Q
 *                 nc=N user=U conn=C creq=R method=M body=B\n" (C: the
 *                 connection's number, R: its requests so far, B: body
 *                 bytes received).
 *       algo=MD5,SHA-256,...  the challenges, in order, one field each
 *                 (one=1: all in one field); default MD5
 *       qop=auth | auth-int | auth,auth-int | none   (default auth)
 *       userhash=1  asks for the user name hashed
 *       stale=K   K good answers get a 401 with stale=true and a new nonce
 *       basic=1   offers Basic first, and takes it ("ok scheme=basic ...")
 *       to=URL    a good request gets 302 to URL instead of 200
 *   /hostile?kind=K   always 401: huge (a 90 KB realm), unterminated (an
 *                 open quote), params (a good Digest challenge with 5000
 *                 parameters), many (2000 WWW-Authenticate fields), none
 *                 (no WWW-Authenticate), binary (control and high bytes)
 *
 * It is also an HTTP proxy that wants the same credentials (route_proxy):
 * a CONNECT or an absolute-form request gets 407 and Proxy-Authenticate
 * until its Proxy-Authorization is good, with the knobs above in an
 * X-Proxy-Knobs field; then a CONNECT to a 127.0.0.1 port is tunnelled
 * and anything else is answered by the proxy itself.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#define MAXC 128
#define INMAX (4 << 20)
#define NNONCE 512
#define USER "alice"
#define PASS "s3cret:pw"

struct conn {
  int fd;
  unsigned id, nreq;
  char *in;
  size_t len;
  int peer;       /* a tunnel's connection to the origin, or -1 */
  int closing;    /* close after the response */
};
struct nonce {
  char v[33];
  char algo[24];
  int qop;        /* 0 none, 1 auth, 2 auth-int, 3 both offered */
  int userhash, stale_left;
  uint32_t last_nc;
};

static struct conn conns[MAXC];
static struct nonce nonces[NNONCE];
static unsigned nnonce, next_id;

/* ---- hashing ---- */

static const EVP_MD *md_named(const char *algo, int *sess) {
  char base[24];
  size_t n = strlen(algo);
  *sess = n > 5 && !strcasecmp(algo + n - 5, "-sess");
  snprintf(base, sizeof(base), "%.*s", (int)(*sess ? n - 5 : n), algo);
  if (!strcasecmp(base, "MD5")) return EVP_md5();
  if (!strcasecmp(base, "SHA-256")) return EVP_sha256();
  if (!strcasecmp(base, "SHA-512-256")) return EVP_sha512_256();
  return NULL;
}

static void hexdig(const EVP_MD *md, const char *s, size_t n, char *hex) {
  unsigned char d[64];
  unsigned len = 0, i;
  EVP_Digest(s, n, d, &len, md, NULL);
  for (i = 0; i < len; i++) sprintf(hex + 2 * i, "%02x", d[i]);
}

static void hexf(const EVP_MD *md, char *hex, const char *fmt, ...) {
  char buf[8192];
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  hexdig(md, buf, (size_t)n, hex);
}

/* ---- the Authorization header's parameters ---- */

struct params { char name[16][32]; char val[16][512]; int n; };

static const char *param(const struct params *p, const char *name) {
  int i;
  for (i = 0; i < p->n; i++)
    if (!strcasecmp(p->name[i], name)) return p->val[i];
  return NULL;
}

static int parse_params(const char *s, struct params *p) {
  p->n = 0;
  while (*s) {
    size_t k = 0, o = 0;
    while (*s == ' ' || *s == ',') s++;
    if (!*s) break;
    if (p->n == 16) return -1;
    while (*s && *s != '=' && *s != ' ' && k < 31) p->name[p->n][k++] = *s++;
    p->name[p->n][k] = 0;
    while (*s == ' ') s++;
    if (*s++ != '=') return -1;
    while (*s == ' ') s++;
    if (*s == '"') {
      for (s++; *s && *s != '"'; s++) {
        if (*s == '\\' && s[1]) s++;
        if (o < 511) p->val[p->n][o++] = *s;
      }
      if (*s++ != '"') return -1;
    } else {
      while (*s && *s != ',' && *s != ' ' && o < 511) p->val[p->n][o++] = *s++;
    }
    p->val[p->n][o] = 0;
    p->n++;
  }
  return 0;
}

/* ---- requests ---- */

struct req {
  int proxy;      /* a request to the proxy: 407, Proxy-Authenticate */
  char method[16], target[2048], path[2048], query[2048];
  char auth[8192];
  const char *body;
  size_t body_len;
};

static const char *knob(const struct req *r, const char *key, char *out,
                        size_t cap) {
  const char *q = r->query;
  size_t kl = strlen(key);
  while (*q) {
    if (!strncmp(q, key, kl) && q[kl] == '=') {
      size_t n = strcspn(q + kl + 1, "&"), i, o = 0;
      for (i = 0; i < n && o + 1 < cap; i++) {
        const char *c = q + kl + 1 + i;
        if (*c == '%' && i + 2 < n) {
          char h[3] = {c[1], c[2], 0};
          out[o++] = (char)strtol(h, NULL, 16);
          i += 2;
        } else {
          out[o++] = *c;
        }
      }
      out[o] = 0;
      return out;
    }
    q += strcspn(q, "&");
    if (*q) q++;
  }
  return NULL;
}

static struct nonce *new_nonce(const char *algo, int qop, int userhash,
                               int stale_left) {
  struct nonce *n = &nonces[nnonce++ % NNONCE];
  unsigned char r[16];
  int i;
  RAND_bytes(r, sizeof(r));
  for (i = 0; i < 16; i++) sprintf(n->v + 2 * i, "%02x", r[i]);
  snprintf(n->algo, sizeof(n->algo), "%s", algo);
  n->qop = qop;
  n->userhash = userhash;
  n->stale_left = stale_left;
  n->last_nc = 0;
  return n;
}

static struct nonce *find_nonce(const char *v) {
  unsigned i;
  for (i = 0; i < NNONCE && i < nnonce; i++)
    if (!strcmp(nonces[i].v, v)) return &nonces[i];
  return NULL;
}

static void send_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
      struct pollfd pf = {fd, POLLOUT, 0};
      if (poll(&pf, 1, 5000) <= 0) return;
      continue;
    }
    if (w <= 0) return;
    p += w;
    n -= (size_t)w;
  }
}

/* A response; chunked: the body in one chunk instead of a length. */
static void respond_ex(int fd, int status, const char *extra,
                       const char *body, int chunked) {
  char *head, *all, len[64];
  size_t bl = strlen(body);
  int n;
  if (chunked) snprintf(len, sizeof(len), "Transfer-Encoding: chunked");
  else snprintf(len, sizeof(len), "Content-Length: %zu", bl);
  n = asprintf(&head, "HTTP/1.1 %d %s\r\nServer: authserver\r\n"
               "Content-Type: text/plain\r\n%s\r\n%s\r\n",
               status, status == 200 ? "OK" : status == 302 ? "Found"
               : status == 407 ? "Proxy Authentication Required"
               : "Unauthorized", len, extra ? extra : "");
  if (n < 0) return;
  /* one send: a second small one would wait for a delayed ACK (Nagle) */
  if ((all = malloc((size_t)n + bl + 32)) != NULL) {
    size_t o = (size_t)n;
    memcpy(all, head, (size_t)n);
    if (chunked) o += (size_t)sprintf(all + o, "%zx\r\n", bl);
    memcpy(all + o, body, bl);
    o += bl;
    if (chunked) {
      memcpy(all + o, "\r\n0\r\n\r\n", 7);
      o += 7;
    }
    send_all(fd, all, o);
    free(all);
  }
  free(head);
}

static void respond(int fd, int status, const char *extra, const char *body) {
  respond_ex(fd, status, extra, body, 0);
}

/* 401 with fresh challenges for the knobs of r. */
static void challenge(int fd, const struct req *r, int stale, int stale_left,
                      const char *why) {
  char algos[256], qopk[64], realm[128], tmp[8], *extra = NULL, *a, *save;
  const char *qop, *field = r->proxy ? "Proxy-Authenticate"
                                     : "WWW-Authenticate";
  int qopv, userhash = knob(r, "userhash", tmp, sizeof(tmp)) != NULL,
      one = knob(r, "one", tmp, sizeof(tmp)) != NULL;
  size_t len = 0;
  FILE *f = open_memstream(&extra, &len);
  if (!knob(r, "algo", algos, sizeof(algos))) strcpy(algos, "MD5");
  if (!knob(r, "qop", qopk, sizeof(qopk))) strcpy(qopk, "auth");
  if (!knob(r, "realm", realm, sizeof(realm))) strcpy(realm, "xfer digest");
  qopv = !strcmp(qopk, "none") ? 0 : !strcmp(qopk, "auth") ? 1
         : !strcmp(qopk, "auth-int") ? 2 : 3;
  qop = qopv == 1 ? "auth" : qopv == 2 ? "auth-int" : "auth,auth-int";
  if (knob(r, "basic", tmp, sizeof(tmp)) ||
      knob(r, "basiconly", tmp, sizeof(tmp)))
    fprintf(f, "%s: Basic realm=\"%s\"\r\n", field, realm);
  if (r->proxy && knob(r, "close", tmp, sizeof(tmp)))
    fprintf(f, "Connection: close\r\n");
  for (a = strtok_r(algos, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
    struct nonce *n;
    if (knob(r, "basiconly", tmp, sizeof(tmp))) break;
    n = new_nonce(a, qopv, userhash, stale_left);
    if (!one || a == algos) fprintf(f, "%s: ", field);
    else fprintf(f, ", ");
    fprintf(f, "Digest realm=\"%s\", nonce=\"%s\", opaque=\"op-%s\", "
            "algorithm=%s", realm, n->v, n->v + 24, a);
    if (qopv) fprintf(f, ", qop=\"%s\"", qop);
    if (userhash) fprintf(f, ", userhash=true");
    if (stale) fprintf(f, ", stale=true");
    if (!one) fprintf(f, "\r\n");
  }
  if (one) fprintf(f, "\r\n");
  fclose(f);
  respond_ex(fd, r->proxy ? 407 : 401, extra, why,
             r->proxy && knob(r, "chunked", tmp, sizeof(tmp)));
  free(extra);
}

static int check_basic(const char *b64) {
  unsigned char out[512];
  int n = EVP_DecodeBlock(out, (const unsigned char *)b64, (int)strlen(b64));
  return n > 0 && !strncmp((char *)out, USER ":" PASS,
                           strlen(USER ":" PASS));
}

/* Verifies a Digest Authorization: NULL, or why not.  *stale_left is the
 * nonce's. */
static const char *check_digest(const struct req *r, const char *auth,
                                char *user_out, struct nonce **np) {
  struct params p;
  const char *nonce, *uri, *resp, *user, *realm, *nc, *cnonce, *qop, *alg,
      *opaque;
  struct nonce *n;
  const EVP_MD *md;
  char ha1[130], ha2[130], want[130], uh[130], hb[130];
  int sess;
  uint32_t ncv;
  if (parse_params(auth, &p)) return "bad Authorization syntax";
  nonce = param(&p, "nonce");
  uri = param(&p, "uri");
  resp = param(&p, "response");
  user = param(&p, "username");
  realm = param(&p, "realm");
  nc = param(&p, "nc");
  cnonce = param(&p, "cnonce");
  qop = param(&p, "qop");
  alg = param(&p, "algorithm");
  opaque = param(&p, "opaque");
  if (!nonce || !uri || !resp || !user || !realm) return "missing parameters";
  if (!(n = find_nonce(nonce))) return "unknown nonce";
  *np = n;
  if (strcmp(uri, r->target)) return "uri is not the request target";
  if (!alg || strcasecmp(alg, n->algo)) return "algorithm not echoed";
  if (!opaque || strncmp(opaque, "op-", 3) || strcmp(opaque + 3, n->v + 24))
    return "opaque not echoed";
  if (!(md = md_named(n->algo, &sess))) return "bad algorithm";
  if (n->qop) {
    if (!qop || !nc || !cnonce || !*cnonce) return "qop without nc/cnonce";
    if ((n->qop == 1 && strcmp(qop, "auth")) ||
        (n->qop == 2 && strcmp(qop, "auth-int")) ||
        (strcmp(qop, "auth") && strcmp(qop, "auth-int")))
      return "qop not offered";
    if (strlen(nc) != 8) return "nc is not 8 hex digits";
    ncv = (uint32_t)strtoul(nc, NULL, 16);
    if (ncv <= n->last_nc) return "nc did not grow (a replay)";
  } else if (qop) {
    return "qop not offered";
  } else {
    ncv = n->last_nc + 1;
  }
  if (n->userhash) {
    hexf(md, uh, "%s:%s", USER, realm);
    if (strcmp(user, uh) || !param(&p, "userhash")) return "userhash wrong";
  } else if (strcmp(user, USER)) {
    return "unknown user";
  }
  hexf(md, ha1, "%s:%s:%s", USER, realm, PASS);
  if (sess) {
    if (!cnonce) return "-sess without cnonce";
    hexf(md, ha1, "%s:%s:%s", ha1, nonce, cnonce);
  }
  if (qop && !strcmp(qop, "auth-int")) {
    hexdig(md, r->body ? r->body : "", r->body_len, hb);
    hexf(md, ha2, "%s:%s:%s", r->method, uri, hb);
  } else {
    hexf(md, ha2, "%s:%s", r->method, uri);
  }
  if (qop) hexf(md, want, "%s:%s:%s:%s:%s:%s", ha1, nonce, nc, cnonce, qop,
                ha2);
  else hexf(md, want, "%s:%s:%s", ha1, nonce, ha2);
  if (strcmp(want, resp)) return "wrong response (password?)";
  n->last_nc = ncv;
  strcpy(user_out, user);
  return NULL;
}

static void route_digest(struct conn *c, const struct req *r) {
  char tmp[2048], body[1024], user[600];
  const char *why;
  struct nonce *n = NULL;
  int stale = knob(r, "stale", tmp, sizeof(tmp)) ? atoi(tmp) : 0;
  if (!r->auth[0]) {
    challenge(c->fd, r, 0, stale, "digest needed\n");
    return;
  }
  if (!strncasecmp(r->auth, "Basic ", 6) &&
      knob(r, "basic", tmp, sizeof(tmp))) {
    if (!check_basic(r->auth + 6)) {
      challenge(c->fd, r, 0, stale, "basic refused\n");
      return;
    }
    snprintf(body, sizeof(body), "ok scheme=basic user=%s conn=%u creq=%u "
             "method=%s body=%zu\n", USER, c->id, c->nreq, r->method,
             r->body_len);
  } else if (strncasecmp(r->auth, "Digest ", 7)) {
    challenge(c->fd, r, 0, stale, "not a Digest authorization\n");
    return;
  } else if ((why = check_digest(r, r->auth + 7, user, &n)) != NULL) {
    snprintf(body, sizeof(body), "digest failed: %s\n", why);
    challenge(c->fd, r, 0, n ? n->stale_left : stale, body);
    return;
  } else if (n->stale_left > 0) {
    challenge(c->fd, r, 1, n->stale_left - 1, "stale nonce\n");
    return;
  } else {
    snprintf(body, sizeof(body), "ok scheme=digest algo=%s qop=%s nc=%u "
             "user=%s conn=%u creq=%u method=%s body=%zu\n", n->algo,
             n->qop ? strstr(r->auth, "qop=auth-int") ? "auth-int" : "auth"
                    : "none",
             (unsigned)n->last_nc, USER, c->id, c->nreq, r->method,
             r->body_len);
  }
  if (knob(r, "to", tmp, sizeof(tmp))) {
    char loc[2100];
    snprintf(loc, sizeof(loc), "Location: %s\r\n", tmp);
    respond(c->fd, 302, loc, body);
  } else {
    respond(c->fd, 200, NULL, body);
  }
}

/* A CONNECT's tunnel to a port on 127.0.0.1 (nothing else: a test
 * server is no open proxy).  The new socket, or -1. */
static int tunnel_to(const char *target) {
  const char *colon = strrchr(target, ':');
  struct sockaddr_in a;
  int fd;
  if (!colon || (strncmp(target, "127.0.0.1:", 10) &&
                 strncmp(target, "localhost:", 10)))
    return -1;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((uint16_t)atoi(colon + 1));
  if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0) return -1;
  if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
    close(fd);
    return -1;
  }
  return fd;
}

/* A request to the proxy (CONNECT, or a target in absolute form): its
 * Proxy-Authorization checked as route_digest checks Authorization (uri:
 * the authority of a CONNECT, the path of the others), knobs from its
 * X-Proxy-Knobs field (those of /digest, and basiconly=1: Basic alone;
 * close=1: a 407 closes the connection; chunked=1: a 407's body is
 * chunked).  Then a CONNECT is tunnelled, an X-Proxy-Saw field in its
 * 200 saying what came, and anything else is answered here, the same
 * in the body ("proxied ..."). */
static void route_proxy(struct conn *c, const struct req *r, int origin_auth) {
  char tmp[64], saw[1024], user[600];
  const char *why;
  struct nonce *n = NULL;
  struct req d = *r;
  int stale = knob(r, "stale", tmp, sizeof(tmp)) ? atoi(tmp) : 0, basic;
  basic = knob(r, "basic", tmp, sizeof(tmp)) ||
          knob(r, "basiconly", tmp, sizeof(tmp));
  if (strcmp(r->method, "CONNECT")) { /* Digest hashes the path */
    const char *p = strstr(r->target, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    snprintf(d.target, sizeof(d.target), "%s", p ? p : "/");
  }
  if (!r->auth[0]) {
    challenge(c->fd, r, 0, stale, "proxy credentials needed\n");
    goto refused;
  }
  if (!strncasecmp(r->auth, "Basic ", 6) && basic) {
    if (!check_basic(r->auth + 6)) {
      challenge(c->fd, r, 0, stale, "basic refused\n");
      goto refused;
    }
    snprintf(saw, sizeof(saw), "scheme=basic user=%s conn=%u creq=%u "
             "origin-auth=%s", USER, c->id, c->nreq,
             origin_auth ? "yes" : "no");
  } else if (strncasecmp(r->auth, "Digest ", 7)) {
    challenge(c->fd, r, 0, stale, "not a Digest authorization\n");
    goto refused;
  } else if ((why = check_digest(&d, r->auth + 7, user, &n)) != NULL) {
    challenge(c->fd, r, 0, n ? n->stale_left : stale, why);
    goto refused;
  } else if (n->stale_left > 0) {
    challenge(c->fd, r, 1, n->stale_left - 1, "stale nonce\n");
    goto refused;
  } else {
    snprintf(saw, sizeof(saw), "scheme=digest algo=%s nc=%u user=%s "
             "conn=%u creq=%u origin-auth=%s", n->algo,
             (unsigned)n->last_nc, USER, c->id, c->nreq,
             origin_auth ? "yes" : "no");
  }
  if (!strcmp(r->method, "CONNECT")) {
    char head[1200];
    if ((c->peer = tunnel_to(r->target)) < 0) {
      respond(c->fd, 502, NULL, "no tunnel there\n");
      return;
    }
    snprintf(head, sizeof(head), "HTTP/1.1 200 Connection established\r\n"
             "X-Proxy-Saw: %s\r\n\r\n", saw);
    send_all(c->fd, head, strlen(head));
  } else {
    char body[1100];
    snprintf(body, sizeof(body), "proxied %s %s\n", r->method, saw);
    respond(c->fd, 200, NULL, body);
  }
  return;
refused:
  if (knob(r, "close", tmp, sizeof(tmp))) c->closing = 1;
}

static void route_hostile(struct conn *c, const struct req *r) {
  char kind[32];
  char *h = NULL;
  size_t len = 0, i;
  FILE *f = open_memstream(&h, &len);
  if (!knob(r, "kind", kind, sizeof(kind))) strcpy(kind, "none");
  if (!strcmp(kind, "huge")) {
    fprintf(f, "WWW-Authenticate: Digest realm=\"");
    for (i = 0; i < 90000; i++) fputc('x', f);
    fprintf(f, "\", nonce=\"n\"\r\n");
  } else if (!strcmp(kind, "unterminated")) {
    fprintf(f, "WWW-Authenticate: Basic realm=\"b\", Digest realm=\"abc, "
            "nonce=\"n\r\n");
  } else if (!strcmp(kind, "params")) {
    fprintf(f, "WWW-Authenticate: Digest nonce=\"n\", realm=\"r\"");
    for (i = 0; i < 5000; i++) fprintf(f, ", p%zu=v", i);
    fprintf(f, "\r\n");
  } else if (!strcmp(kind, "many")) {
    for (i = 0; i < 2000; i++)
      fprintf(f, "WWW-Authenticate: Basic realm=\"r%zu\"\r\n", i);
  } else if (!strcmp(kind, "binary")) {
    fprintf(f, "WWW-Authenticate: Digest realm=\"\x01\x02\xff\", "
            "nonce=\"\x80\x90\", \xfe\xfd=\"x\r\n");
  }
  fclose(f);
  respond(c->fd, 401, h, "hostile\n");
  free(h);
}

/* ---- connections ---- */

static int header(const char *head, const char *name, char *out,
                  size_t cap) {
  const char *p = head;
  size_t nl = strlen(name);
  while ((p = strstr(p, "\r\n")) != NULL) {
    p += 2;
    if (!strncasecmp(p, name, nl) && p[nl] == ':') {
      const char *v = p + nl + 1, *e = strstr(v, "\r\n");
      size_t n;
      while (*v == ' ') v++;
      n = (size_t)(e - v);
      if (n >= cap) n = cap - 1;
      memcpy(out, v, n);
      out[n] = 0;
      return 1;
    }
  }
  return 0;
}

/* A chunked body at p (n bytes): its decoded length into *dlen and the
 * bytes it took, or 0 when incomplete.  Decodes in place. */
static size_t dechunk(char *p, size_t n, size_t *dlen) {
  size_t i = 0, o = 0;
  for (;;) {
    char *e = memmem(p + i, n - i, "\r\n", 2);
    size_t sz;
    if (!e) return 0;
    sz = strtoul(p + i, NULL, 16);
    i = (size_t)(e - p) + 2;
    if (!sz) {
      if (n - i < 2) return 0;
      *dlen = o;
      return i + 2;
    }
    if (n - i < sz + 2) return 0;
    memmove(p + o, p + i, sz);
    o += sz;
    i += sz + 2;
  }
}

static void serve(struct conn *c) {
  for (;;) {
    char *end = memmem(c->in, c->len, "\r\n\r\n", 4), tmp[64];
    size_t hlen, total, blen = 0;
    struct req r;
    if (!end) return;
    hlen = (size_t)(end - c->in) + 4;
    memset(&r, 0, sizeof(r));
    *end = 0;
    if (header(c->in, "Transfer-Encoding", tmp, sizeof(tmp))) {
      char *copy = malloc(c->len - hlen + 1);
      memcpy(copy, c->in + hlen, c->len - hlen);
      total = dechunk(copy, c->len - hlen, &blen);
      if (!total) {
        free(copy);
        *end = '\r';
        return;
      }
      memcpy(c->in + hlen, copy, blen);
      free(copy);
      total += hlen;
    } else {
      blen = header(c->in, "Content-Length", tmp, sizeof(tmp))
                 ? strtoul(tmp, NULL, 10) : 0;
      total = hlen + blen;
      if (c->len < total) {
        *end = '\r';
        return;
      }
    }
    sscanf(c->in, "%15s %2047s", r.method, r.target);
    if (!strcmp(r.method, "CONNECT") || !strncmp(r.target, "http://", 7)) {
      int origin_auth = header(c->in, "Authorization", r.auth, sizeof(r.auth));
      r.proxy = 1;
      r.auth[0] = 0;
      header(c->in, "Proxy-Authorization", r.auth, sizeof(r.auth));
      header(c->in, "X-Proxy-Knobs", r.query, sizeof(r.query));
      c->nreq++;
      route_proxy(c, &r, origin_auth);
      memmove(c->in, c->in + total, c->len - total);
      c->len -= total;
      if (c->peer >= 0 && c->len) send_all(c->peer, c->in, c->len);
      if (c->peer >= 0 || c->closing) {
        c->len = 0;
        return;
      }
      continue;
    }
    snprintf(r.path, sizeof(r.path), "%.*s", (int)strcspn(r.target, "?"),
             r.target);
    if (strchr(r.target, '?'))
      snprintf(r.query, sizeof(r.query), "%s", strchr(r.target, '?') + 1);
    header(c->in, "Authorization", r.auth, sizeof(r.auth));
    r.body = c->in + hlen;
    r.body_len = blen;
    c->nreq++;
    if (!strncmp(r.path, "/digest", 7)) route_digest(c, &r);
    else if (!strcmp(r.path, "/hostile")) route_hostile(c, &r);
    else respond(c->fd, 404, NULL, "no such route\n");
    memmove(c->in, c->in + total, c->len - total);
    c->len -= total;
  }
}

int main(void) {
  struct sockaddr_in a;
  socklen_t al = sizeof(a);
  int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1, i;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 128) ||
      getsockname(lfd, (struct sockaddr *)&a, &al)) {
    perror("authserver");
    return 1;
  }
  printf("AUTH_PORT=%d\n", ntohs(a.sin_port));
  fflush(stdout);
  for (i = 0; i < MAXC; i++) conns[i].fd = conns[i].peer = -1;
  for (;;) {
    struct pollfd pf[2 * MAXC + 2];
    int map[2 * MAXC + 2], n = 0;
    pf[n].fd = 0, pf[n].events = POLLIN, map[n++] = -1;
    pf[n].fd = lfd, pf[n].events = POLLIN, map[n++] = -2;
    for (i = 0; i < MAXC; i++) {
      if (conns[i].fd >= 0) pf[n].fd = conns[i].fd, pf[n].events = POLLIN,
                            map[n++] = i;
      if (conns[i].peer >= 0) pf[n].fd = conns[i].peer,
                              pf[n].events = POLLIN, map[n++] = -3 - i;
    }
    if (poll(pf, (nfds_t)n, -1) < 0 && errno != EINTR) return 1;
    for (i = 0; i < n; i++) {
      if (!pf[i].revents) continue;
      if (map[i] == -1) {
        char b[64];
        if (read(0, b, sizeof(b)) <= 0) return 0; /* stdin closed: stop */
      } else if (map[i] == -2) {
        int fd = accept(lfd, NULL, NULL), k;
        for (k = 0; fd >= 0 && k < MAXC && conns[k].fd >= 0; k++) {}
        if (fd >= 0 && k == MAXC) close(fd);
        else if (fd >= 0) {
          conns[k].fd = fd;
          conns[k].id = ++next_id;
          conns[k].nreq = 0;
          conns[k].len = 0;
          conns[k].peer = -1;
          conns[k].closing = 0;
        }
      } else if (map[i] <= -3 || conns[map[i]].peer >= 0) {
        /* a tunnel: bytes from either side to the other */
        struct conn *c = &conns[map[i] <= -3 ? -3 - map[i] : map[i]];
        char b[16384];
        int from = map[i] <= -3 ? c->peer : c->fd;
        ssize_t r;
        if (c->fd < 0 || c->peer < 0) continue; /* closed this round */
        r = recv(from, b, sizeof(b), 0);
        if (r <= 0) {
          close(c->fd);
          close(c->peer);
          c->fd = c->peer = -1;
          continue;
        }
        send_all(from == c->fd ? c->peer : c->fd, b, (size_t)r);
      } else {
        struct conn *c = &conns[map[i]];
        ssize_t r;
        if (!c->in) c->in = malloc(INMAX);
        r = c->len < INMAX ? recv(c->fd, c->in + c->len, INMAX - c->len, 0)
                           : 0;
        if (r <= 0) {
          close(c->fd);
          c->fd = -1;
          continue;
        }
        c->len += (size_t)r;
        serve(c);
        if (c->closing) {
          close(c->fd);
          c->fd = -1;
        }
      }
    }
  }
}
