/*
 * socks.c -- the SOCKS handshake as a connection filter: SOCKS4 (RFC-less
 * classic), SOCKS4a (the proxy resolves), SOCKS5 (RFC 1928) with
 * username/password authentication (RFC 1929), and SOCKS5 with the name
 * sent to the proxy ("socks5h").  Each step is non-blocking: a request is
 * sent as far as the filter below takes it, and an answer is read exactly
 * (never past its end, so the origin's first bytes stay below).
 *
 * Failures are XFERE_PROXY (97) with XFERINFO_PROXY_ERROR set to the
 * CURLPX_* value libcurl gives for the same step.
 */
#include "xfer_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

enum {
  S_SEND_HELLO, S_RECV_HELLO, /* SOCKS5: methods offered, and picked */
  S_SEND_AUTH, S_RECV_AUTH,   /* SOCKS5: username/password */
  S_SEND_REQ, S_RECV_REQ,     /* the CONNECT request and its answer */
  S_RECV_REQ_REST,            /* SOCKS5: the rest of the bound address */
  S_DONE
};

struct socks {
  struct xfer_cf cf;
  int type;                    /* XFERPROXY_SOCKS4/4A/5/5_HOSTNAME */
  int state;
  unsigned char buf[600];      /* what is sent, then what is read */
  size_t len, off, need;
  char *host;                  /* the target by name, or NULL */
  int host_is_ip;
  unsigned port;
  struct xfer_addr addr;       /* the target by address (host NULL) */
  char *user, *pass;
};

static int px_fail(XFER *e, int pxcode, const char *why) {
  if (e) {
    e->proxy_error = pxcode;
    xfer__fail(e, "SOCKS proxy: %s", why);
  }
  return -XFERE_PROXY;
}

static int is_v5(const struct socks *s) {
  return s->type == XFERPROXY_SOCKS5 || s->type == XFERPROXY_SOCKS5_HOSTNAME;
}

static void to_send(struct socks *s, size_t len, int state) {
  s->len = len;
  s->off = 0;
  s->state = state;
}

static void to_read(struct socks *s, size_t need, int state) {
  s->len = 0;
  s->need = need;
  s->state = state;
}

/* ---- the requests ---- */

static int socks4_request(struct socks *s, XFER *e) {
  unsigned char *b = s->buf;
  size_t n = 8, ul = s->user ? strlen(s->user) : 0;
  struct in_addr a4;
  b[0] = 4;
  b[1] = 1; /* CONNECT */
  b[2] = (unsigned char)(s->port >> 8);
  b[3] = (unsigned char)s->port;
  if (!s->host) {
    memcpy(b + 4, &((struct sockaddr_in *)&s->addr.ss)->sin_addr, 4);
  } else if (s->host_is_ip && inet_pton(AF_INET, s->host, &a4) == 1) {
    memcpy(b + 4, &a4, 4);
  } else {
    memcpy(b + 4, "\0\0\0\1", 4); /* 4a: 0.0.0.x, the name follows */
  }
  if (ul > 255) return px_fail(e, XFERPX_LONG_USER, "user name too long");
  memcpy(b + n, s->user ? s->user : "", ul + 1);
  n += ul + 1;
  if (s->host && memcmp(b + 4, "\0\0\0\1", 4) == 0) {
    size_t hl = strlen(s->host);
    if (hl > 255) return px_fail(e, XFERPX_LONG_HOSTNAME, "host name too long");
    memcpy(b + n, s->host, hl + 1);
    n += hl + 1;
  }
  to_send(s, n, S_SEND_REQ);
  return 0;
}

static void socks5_hello(struct socks *s) {
  s->buf[0] = 5;
  s->buf[1] = s->user ? 2 : 1;
  s->buf[2] = 0; /* no authentication */
  s->buf[3] = 2; /* username/password */
  to_send(s, s->user ? 4 : 3, S_SEND_HELLO);
}

static int socks5_auth(struct socks *s, XFER *e) {
  size_t ul = strlen(s->user), pl = s->pass ? strlen(s->pass) : 0;
  if (ul > 255) return px_fail(e, XFERPX_LONG_USER, "user name too long");
  if (pl > 255) return px_fail(e, XFERPX_LONG_PASSWD, "password too long");
  s->buf[0] = 1;
  s->buf[1] = (unsigned char)ul;
  memcpy(s->buf + 2, s->user, ul);
  s->buf[2 + ul] = (unsigned char)pl;
  if (pl) memcpy(s->buf + 3 + ul, s->pass, pl);
  to_send(s, 3 + ul + pl, S_SEND_AUTH);
  return 0;
}

static int socks5_request(struct socks *s, XFER *e) {
  unsigned char *b = s->buf, ip[16];
  size_t n = 4;
  b[0] = 5;
  b[1] = 1; /* CONNECT */
  b[2] = 0;
  if (!s->host) {
    if (s->addr.ss.ss_family == AF_INET6) {
      b[3] = 4;
      memcpy(b + 4, &((struct sockaddr_in6 *)&s->addr.ss)->sin6_addr, 16);
      n += 16;
    } else {
      b[3] = 1;
      memcpy(b + 4, &((struct sockaddr_in *)&s->addr.ss)->sin_addr, 4);
      n += 4;
    }
  } else if (s->host_is_ip && inet_pton(AF_INET, s->host, ip) == 1) {
    b[3] = 1;
    memcpy(b + 4, ip, 4);
    n += 4;
  } else if (s->host_is_ip && inet_pton(AF_INET6, s->host, ip) == 1) {
    b[3] = 4;
    memcpy(b + 4, ip, 16);
    n += 16;
  } else {
    size_t hl = strlen(s->host);
    if (hl > 255) return px_fail(e, XFERPX_LONG_HOSTNAME, "host name too long");
    b[3] = 3;
    b[4] = (unsigned char)hl;
    memcpy(b + 5, s->host, hl);
    n += 1 + hl;
  }
  b[n++] = (unsigned char)(s->port >> 8);
  b[n++] = (unsigned char)s->port;
  to_send(s, n, S_SEND_REQ);
  return 0;
}

/* ---- the answers ---- */

static int socks4_answer(struct socks *s, XFER *e) {
  if (s->buf[0] != 0)
    return px_fail(e, XFERPX_BAD_VERSION, "SOCKS4 reply has a wrong version");
  switch (s->buf[1]) {
  case 90: s->state = S_DONE; return 0;
  case 91: return px_fail(e, XFERPX_REQUEST_FAILED, "request rejected");
  case 92:
    return px_fail(e, XFERPX_IDENTD, "request rejected: no identd reached");
  case 93:
    return px_fail(e, XFERPX_IDENTD_DIFFER,
                   "request rejected: identd reports another user");
  default: return px_fail(e, XFERPX_UNKNOWN_FAIL, "unknown SOCKS4 reply");
  }
}

static int socks5_hello_answer(struct socks *s, XFER *e) {
  if (s->buf[0] != 5)
    return px_fail(e, XFERPX_BAD_VERSION, "SOCKS5 reply has a wrong version");
  if (s->buf[1] == 0) return socks5_request(s, e);
  if (s->buf[1] == 2 && s->user) return socks5_auth(s, e);
  if (s->buf[1] == 0xff)
    return px_fail(e, XFERPX_NO_AUTH, "no acceptable authentication method");
  return px_fail(e, XFERPX_UNKNOWN_MODE,
                 "the proxy picked a method that was not offered");
}

static int socks5_answer(struct socks *s, XFER *e) {
  static const int rep[] = {
    0, XFERPX_REPLY_GENERAL_SERVER_FAILURE, XFERPX_REPLY_NOT_ALLOWED,
    XFERPX_REPLY_NETWORK_UNREACHABLE, XFERPX_REPLY_HOST_UNREACHABLE,
    XFERPX_REPLY_CONNECTION_REFUSED, XFERPX_REPLY_TTL_EXPIRED,
    XFERPX_REPLY_COMMAND_NOT_SUPPORTED,
    XFERPX_REPLY_ADDRESS_TYPE_NOT_SUPPORTED};
  const unsigned char *b = s->buf;
  if (b[0] != 5)
    return px_fail(e, XFERPX_BAD_VERSION, "SOCKS5 reply has a wrong version");
  if (b[1] != 0)
    return px_fail(e, b[1] < sizeof(rep) / sizeof(rep[0])
                          ? rep[b[1]] : XFERPX_REPLY_UNASSIGNED,
                   "the proxy refused the connection");
  /* Its bound address: what is left of it to read (5 bytes read so far:
   * the 4 fixed ones and the first of the address). */
  switch (b[3]) {
  case 1: s->need = 10; break;
  case 4: s->need = 22; break;
  case 3: s->need = 7 + (size_t)b[4]; break;
  default:
    return px_fail(e, XFERPX_BAD_ADDRESS_TYPE,
                   "the reply's address type is not known");
  }
  s->state = S_RECV_REQ_REST;
  return 0;
}

/* What a complete read means for the state it was made in. */
static int answered(struct socks *s, XFER *e) {
  switch (s->state) {
  case S_RECV_HELLO: return socks5_hello_answer(s, e);
  case S_RECV_AUTH:
    if (s->buf[1] != 0)
      return px_fail(e, XFERPX_USER_REJECTED,
                     "the user name and password were rejected");
    return socks5_request(s, e);
  case S_RECV_REQ:
    return is_v5(s) ? socks5_answer(s, e) : socks4_answer(s, e);
  default: /* S_RECV_REQ_REST */
    s->state = S_DONE;
    return 0;
  }
}

/* The CURLPX_* of a failed send, or read, in state st. */
static int send_code(int st) {
  return st == S_SEND_HELLO ? XFERPX_SEND_CONNECT
         : st == S_SEND_AUTH ? XFERPX_SEND_AUTH : XFERPX_SEND_REQUEST;
}

static int recv_code(const struct socks *s) {
  switch (s->state) {
  case S_RECV_HELLO: return XFERPX_RECV_CONNECT;
  case S_RECV_AUTH: return XFERPX_RECV_AUTH;
  case S_RECV_REQ_REST: return XFERPX_RECV_ADDRESS;
  default: return is_v5(s) ? XFERPX_RECV_REQACK : XFERPX_RECV_CONNECT;
  }
}

static int socks_connect(struct xfer_cf *cf, XFER *e, int ev) {
  struct socks *s = (struct socks *)cf;
  (void)ev;
  if (s->state < 0) {
    int rc = socks4_request(s, e);
    if (rc) return rc;
  }
  while (s->state != S_DONE) {
    ssize_t n;
    int rc;
    if (s->state == S_SEND_HELLO || s->state == S_SEND_AUTH ||
        s->state == S_SEND_REQ) {
      n = xfer__cf_send(cf->next, (char *)s->buf + s->off, s->len - s->off);
      if (n == XFER_IO_AGAIN) return XFER_IO_AGAIN;
      if (n < 0) return px_fail(e, send_code(s->state), "send error");
      s->off += (size_t)n;
      if (s->off < s->len) continue;
      /* Sent: its answer is 2 bytes (SOCKS5 hello, auth), 8 (SOCKS4), or
       * the first 5 of a SOCKS5 CONNECT answer. */
      to_read(s, s->state == S_SEND_REQ ? (is_v5(s) ? 5 : 8) : 2,
              s->state + 1);
      continue;
    }
    n = xfer__cf_recv(cf->next, (char *)s->buf + s->len, s->need - s->len);
    if (n == XFER_IO_AGAIN) return XFER_IO_AGAIN;
    if (n == 0)
      return px_fail(e, XFERPX_CLOSED,
                     "the proxy closed the connection in the handshake");
    if (n < 0) return px_fail(e, recv_code(s), "receive error");
    s->len += (size_t)n;
    if (s->len < s->need) continue;
    if ((rc = answered(s, e)) != 0) return rc;
  }
  xfer__verbose(e, "SOCKS%s proxy connected to %s port %u",
                is_v5(s) ? "5" : "4", s->host ? s->host : "(address)",
                s->port);
  return 0;
}

static ssize_t socks_send(struct xfer_cf *cf, const char *buf, size_t len) {
  return xfer__cf_send(cf->next, buf, len);
}

static ssize_t socks_recv(struct xfer_cf *cf, char *buf, size_t cap) {
  return xfer__cf_recv(cf->next, buf, cap);
}

static int socks_pending(struct xfer_cf *cf) {
  (void)cf;
  return 0;
}

static int socks_more(struct xfer_cf *cf) {
  (void)cf;
  return 2;
}

static int socks_want(struct xfer_cf *cf) {
  struct socks *s = (struct socks *)cf;
  int w = xfer__cf_want(cf->next);
  if (w || s->state == S_DONE) return w;
  return s->state == S_SEND_HELLO || s->state == S_SEND_AUTH ||
                 s->state == S_SEND_REQ
             ? XFER_POLL_OUT : XFER_POLL_IN;
}

static void socks_close(struct xfer_cf *cf) {
  struct socks *s = (struct socks *)cf;
  free(s->host);
  free(s->user);
  free(s->pass);
  free(s);
}

static int socks_query(struct xfer_cf *cf, int what, void *out) {
  (void)cf;
  (void)what;
  (void)out;
  return -1;
}

static const struct xfer_cf_type socks_type = {
  "socks", socks_connect, socks_send, socks_recv, socks_pending, socks_more,
  socks_want, socks_close, socks_query};

struct xfer_cf *xfer__cf_socks_new(struct xfer_conn *c, struct xfer_cf *below,
                                   const struct xfer_hop *hop,
                                   const char *host, int host_is_ip,
                                   unsigned port,
                                   const struct xfer_addr *addr) {
  struct socks *s = calloc(1, sizeof(*s));
  if (!s) return NULL;
  s->cf.type = &socks_type;
  s->cf.conn = c;
  s->cf.next = below;
  s->type = hop->type;
  s->port = port;
  s->host_is_ip = host_is_ip;
  if (addr) s->addr = *addr;
  if ((!addr && !(s->host = strdup(host))) ||
      (hop->user && !(s->user = strdup(hop->user))) ||
      (hop->pass && !(s->pass = strdup(hop->pass)))) {
    socks_close(&s->cf);
    return NULL;
  }
  if (is_v5(s)) socks5_hello(s);
  else s->state = -1; /* built at the first connect: may fail */
  return &s->cf;
}
