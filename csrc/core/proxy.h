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
/* "Basic <base64(user:pass)>" for a Proxy-Authorization field (malloc'd),
 * or NULL out of memory.  Self-contained so that it can move into the
 * authentication code. */
char *xfer__proxy_basic_header(const char *user, const char *pass);
/* Whether the HTTP proxy gets a Proxy-Authorization field (credentials,
 * and PROXYAUTH allows Basic). */
int xfer__proxy_sends_auth(const struct xfer_easy *e);
/* The filters between the socket and the origin's TLS: SOCKS, TLS to an
 * https proxy, the CONNECT tunnel, as e's route needs.  0, or -1 out of
 * memory. */
int xfer__proxy_chain(struct xfer_conn *c, struct xfer_easy *e);

#endif
