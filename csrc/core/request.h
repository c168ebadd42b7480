/*
 * request.h -- the request a transfer makes, independent of the protocol
 * that carries it: method, target, authority, the header fields, and what
 * the body is.  request.c builds it from the easy handle's options and
 * refuses what cannot be sent; each protocol serialises it (http1.c as an
 * HTTP/1.1 head, with its own framing).
 */
#ifndef XFER_REQUEST_H
#define XFER_REQUEST_H

#include "xfer.h"

#include <stddef.h>
#include <stdint.h>

struct xfer_hdr {
  const char *name, *value;
  size_t nlen, vlen;
};

#define XFER_REQ_SMALL 16 /* header fields held without an allocation */

struct xfer_req {
  const char *method;
  const char *path;            /* path and query, as in the URL */
  size_t path_len;
  unsigned path_slash : 1;     /* "/" goes before path ("" or "?q") */
  /* The authority (Host, :authority): the URL's host, bracketed when
   * host_v6, and ":port" when port_shown; or a caller's Host value, which
   * applies to the original host only. */
  const char *host;
  size_t host_len;
  unsigned host_v6 : 1, port_shown : 1;
  /* To an HTTP proxy: the target in absolute form, "http://" then
   * abs_host (bracketed when host_v6) and ":port" when abs_port_shown. */
  unsigned absolute : 1, abs_port_shown : 1;
  const char *abs_host;
  size_t abs_host_len;
  uint16_t port;
  const char *host_field;      /* the caller's Host value, or NULL */
  size_t host_field_len;
  /* The fields, in order; a protocol puts the body framing it needs
   * before h[framing_at]. */
  struct xfer_hdr *h;
  int nh, cap, framing_at;
  /* The body.  body_len is -1 when unknown (a read callback without a
   * size); chunk_asked: the caller set Transfer-Encoding: chunked;
   * cl_zero: the caller set Content-Length: 0 on a request without one. */
  unsigned has_body : 1, chunk_asked : 1, cl_zero : 1;
  unsigned head : 1;           /* HEAD: the response has no body */
  unsigned skip_body : 1;      /* NOBODY with another method: none is read */
  xfer_off_t body_len;
  char *auth;                  /* an Authorization value made here, owned */
  char *proxy_auth;            /* a Proxy-Authorization value, owned */
  char *cookie;                /* the Cookie value made here, owned */
  struct xfer_hdr small[XFER_REQ_SMALL]; /* last: not cleared by build */
};

/* What can make e's request unsendable (43 with the reason, before it
 * waits in a queue or opens a connection). */
XFERcode xfer__req_check(XFER *e);
/* Builds e's request into r (pointers into e's URL and options).  0, or
 * the XFERcode that refuses it (the reason given to e). */
XFERcode xfer__req_build(XFER *e, struct xfer_req *r);
void xfer__req_free(struct xfer_req *r);
const char *xfer__req_method(XFER *e);

#endif
