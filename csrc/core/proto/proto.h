/*
 * proto.h -- protocol handlers.  A connection, once its filters are set
 * up, is driven by one handler (c->proto): http1.c today, http2.c in
 * round 2.  The handler turns a transfer's request (request.h) into bytes
 * on the filter chain and the bytes that come back into the response
 * calls below, which transfer.c owns: no handler knows redirects, limits
 * or callbacks, and transfer.c knows no protocol.
 */
#ifndef XFER_PROTO_H
#define XFER_PROTO_H

#include "xfer.h"

#include <stddef.h>

struct xfer_conn;

struct xfer_proto {
  const char *name;
  /* 1: carries many transfers at once (capacity may say more than 1). */
  int multiplex;
  /* The filters are set up: the protocol's state on c.  0 or XFERcode. */
  int (*init)(struct xfer_conn *c);
  /* How many more transfers c takes now (HTTP/1.1: 1 when it carries
   * none; HTTP/2: the streams left). */
  int (*capacity)(struct xfer_conn *c);
  /* Starts e's request on c (e->conn is c). */
  void (*submit)(struct xfer_conn *c, XFER *e);
  /* Socket readiness (XFER_CSELECT_* bits; 0: find out) while c carries
   * transfers. */
  void (*event)(struct xfer_conn *c, int ev);
  /* e's pause or rate wait changed (pause.c): set c's interest for e anew
   * and move what is due now. */
  void (*resume)(struct xfer_conn *c, XFER *e);
  /* Sends the output gathered this turn (xfer__conn_want_flush); NULL
   * for a protocol that sends as it goes. */
  void (*flush)(struct xfer_conn *c);
  /* e leaves c: its response complete and taken (ok), or not.  Returns
   * whether c may carry another request. */
  int (*detach)(struct xfer_conn *c, XFER *e, int ok);
  /* Readiness while c carries nothing: 1 when c must be closed (an idle
   * HTTP/1.1 connection has nothing to say). */
  int (*idle_event)(struct xfer_conn *c);
  /* c closes with transfers on it (multiplexing only): they fail and let
   * go of it.  NULL for a protocol that carries one. */
  void (*orphan)(struct xfer_conn *c);
  /* c closes: free the state. */
  void (*free)(struct xfer_conn *c);
};

extern const struct xfer_proto xfer__proto_http1;
extern const struct xfer_proto xfer__proto_http2;

/* ---- what a handler tells the transfer (transfer.c) ----
 * Each returns 0 to go on, or an XFERcode to stop the response with (an
 * application callback may have removed or cleaned up e: then the handler
 * must stop touching e and c, see xfer__gone). */

/* The request has gone out: the response is next (the handler watches
 * the socket). */
void xfer__req_sent(XFER *e);
/* The first byte of the response. */
void xfer__resp_started(XFER *e);
/* A header line as received (the status line, each field, the blank line,
 * trailers), with name and value for a field line. */
int xfer__resp_header(XFER *e, const char *raw, size_t rawlen,
                      const char *name, size_t nlen, const char *value,
                      size_t vlen);
/* The final response's header section is complete. */
int xfer__resp_headers_done(XFER *e, int status, xfer_off_t content_length);
/* Body bytes, decoded of the protocol's framing. */
int xfer__resp_body(XFER *e, const char *data, size_t len);
/* Bytes moved (after each read): progress callback, low-speed check.
 * 0, or -1 when the transfer ended. */
int xfer__resp_progress(XFER *e);
/* The response is complete: done, or on to a redirect. */
void xfer__resp_complete(XFER *e);
/* The exchange failed; before_any_byte: no response byte had come (a
 * reused connection closed just then: retried once). */
void xfer__xfer_failed(XFER *e, XFERcode code, int before_any_byte);
/* The server did not process the request (HTTP/2 REFUSED_STREAM, a
 * stream above a GOAWAY's last, a connection that failed before it was
 * sent): sent again once, on any connection that takes it (the one that
 * refused it may: a GOAWAY'd or failed one does not), else it fails with
 * code. */
void xfer__xfer_refused(XFER *e, XFERcode code, const char *why);
/* After any call that can run an application callback: 1 when the handler
 * must stop (e finished, or was removed; c is gone or no longer e's). */
int xfer__gone(XFER *e, struct xfer_conn *c);

#endif
