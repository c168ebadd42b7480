/*
 * proxy.h -- the proxies a request goes through (proxy.c): chosen when
 * the request starts (each redirect too) from PROXY, PRE_PROXY, NOPROXY
 * and, as libcurl, the environment (http_proxy, https_proxy/HTTPS_PROXY,
 * all_proxy/ALL_PROXY, no_proxy/NO_PROXY), and what they mean for the
 * connection: the filters conn.c stacks, the connection-cache keys, the
 * request's form (absolute form to an HTTP proxy) and its credentials.
 */
#ifndef XFER_PROXY_H
#define XFER_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"

struct xfer_easy;
struct xfer_conn;
struct xfer_req;

/* One proxy: type is an XFERPROXY_* value, or -1 for none. */
struct xfer_hop {
  int type;
  char *host;                  /* without brackets */
  uint16_t port;
  unsigned host_is_ip : 1, host_v6 : 1;
  char *user, *pass;           /* decoded; NULL when not given */
};

/* The route of the current request.  pre is a SOCKS proxy in front of an
 * HTTP(S) one (PRE_PROXY), or the SOCKS proxy itself when proxy is SOCKS
 * (then proxy is unused); the first hop is the one connected to. */
struct xfer_route {
  struct xfer_hop socks;       /* SOCKS4/4a/5/5h, or type -1 */
  struct xfer_hop http;        /* HTTP or HTTPS proxy, or type -1 */
  unsigned active : 1;         /* any proxy at all */
  unsigned tunnel : 1;         /* CONNECT through http to the origin */
  unsigned absolute : 1;       /* plain HTTP to http, in absolute form */
  char *key;                   /* what besides the bucket decides reuse */
};

#define XFER_IS_SOCKS(t) ((t) >= 4 && (t) <= 7)

/* Chooses e's route for its current URL (e->u).  0, or an XFERcode with
 * the reason given to e: COULDNT_RESOLVE_PROXY (a proxy string that does
 * not parse), COULDNT_CONNECT (a scheme that is no proxy's),
 * OUT_OF_MEMORY. */
int xfer__proxy_route(struct xfer_easy *e);
void xfer__proxy_route_free(struct xfer_route *r);
/* The connection-cache keys of a proxied request: the bucket (the first
 * hop, which MAX_HOST_CONNECTIONS counts, as libcurl does) written into
 * buf like xfer__tls_key (the length needed is returned), and e's route
 * key, made from the proxies, their credentials and TLS options and, for
 * a tunnel or SOCKS, the origin's key: 0, or -1 out of memory. */
size_t xfer__proxy_bucket_key(struct xfer_easy *e, char *buf, size_t cap);
int xfer__proxy_route_key(struct xfer_easy *e, const char *origin_key);
/* Whether the HTTP proxy may get a Proxy-Authorization field: it has
 * credentials and PROXYAUTH allows a scheme xfer does.  Fixed for a
 * request (it is part of the connection's key). */
int xfer__proxy_sends_auth(const struct xfer_easy *e);

/* ---- the proxy's authentication (libcurl's PROXYAUTH semantics) ----
 * Its own state beside the origin's (auth.c), built on auth.c's parser
 * and values: a 407's Proxy-Authenticate picks the scheme, and the
 * CONNECT (tunnel.c) or the absolute-form request (request.c) goes
 * again with Proxy-Authorization.  Only the proxy's credentials answer a
 * 407; they never go to the origin. */
struct xfer_pauth {
  unsigned long picked;        /* one scheme, or the wanted bits before a
                                  407 told which */
  unsigned long avail;         /* PROXYAUTH_AVAIL: schemes 407s offered */
  unsigned long used;          /* PROXYAUTH_USED: the last request's */
  struct xfer_auth_offer offer; /* the 407 being received */
  struct xfer_digest dg;       /* the challenge answered */
  char dg_proxy[300];          /* whose: the proxy's "host:port" */
  uint32_t nc;
  int rounds;                  /* 407s answered for this URL */
  unsigned have_dg : 1;
  unsigned problem : 1;        /* refused, or nothing usable: no more */
};

/* The Proxy-Authorization value for a request to the proxy: method and
 * uri as Digest hashes them (CONNECT and "host:port", or the request's
 * method and path), body for qop auth-int (NULL: not known).  *out is
 * malloc'd, or NULL when nothing is to be sent.  0 or an XFERcode. */
int xfer__proxy_auth_value(struct xfer_easy *e, const char *method,
                           const char *uri, size_t ulen, const char *body,
                           size_t blen, int body_known, char **out);
/* A response from the proxy: its status line starts a header section;
 * each Proxy-Authenticate field of a 407 adds its challenges. */
void xfer__proxy_auth_section(struct xfer_easy *e, int status);
int xfer__proxy_auth_challenge(struct xfer_easy *e, const char *v, size_t n);
/* A 407 is in: 1 when the request must go again with (new) credentials,
 * 0 when the 407 is the answer (no credentials, refused, nothing
 * usable, or too many rounds). */
int xfer__proxy_auth_407(struct xfer_easy *e);
void xfer__proxy_auth_run_start(struct xfer_easy *e);
void xfer__proxy_auth_redirected(struct xfer_easy *e);
void xfer__proxy_auth_free(struct xfer_easy *e);

/* The filters between the socket and the origin's TLS: SOCKS, TLS to an
 * https proxy, the CONNECT tunnel, as e's route needs.  0, or -1 out of
 * memory. */
int xfer__proxy_chain(struct xfer_conn *c, struct xfer_easy *e);

#endif
