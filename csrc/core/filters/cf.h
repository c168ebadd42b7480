/*
 * cf.h -- connection filters: a connection is a chain of them, the socket
 * at the bottom (tcp.c), TLS above it (tls.c), and in round 2 SOCKS, an
 * HTTP proxy's CONNECT tunnel and TLS to a proxy between the two.  The
 * protocol on top (proto/) only sends and receives through the chain.
 *
 * Every operation is non-blocking.  send and recv return a byte count
 * (recv: 0 at the end), XFER_IO_AGAIN, or -XFERcode with errno kept for the
 * message (0 for an error of the filter's own, such as a TLS alert).
 * A filter is set up ("connected") bottom first: conn.c calls connect on
 * the lowest filter that is not, until each has said 0.
 */
#ifndef XFER_CF_H
#define XFER_CF_H

#include <stddef.h>
#include <sys/types.h>

struct xfer_conn;
struct xfer_easy;
struct xfer_cf;

/* What query can ask. */
enum {
  XFER_CF_Q_VERIFY_RESULT = 1, /* long: X509 verify result (TLS) */
  XFER_CF_Q_ALPN,              /* const char *: the protocol agreed, or "" */
  XFER_CF_Q_CONNECT_HEADERS    /* struct xfer_cf_hdrs: the proxy's CONNECT
                                  response, for the header callback */
};

struct xfer_cf_hdrs {
  const char *data;            /* the header lines as received */
  size_t len;
};

struct xfer_cf_type {
  const char *name;
  /* Sets the filter up, with the filters below connected.  ev is the
   * socket readiness that woke the connection (XFER_CSELECT_*, 0 when
   * unknown); e is the transfer waiting for the connection, for error
   * messages, or NULL.  0: connected; XFER_IO_AGAIN: want() tells what to
   * wait for; -XFERcode: failed (the message is given to e). */
  int (*connect)(struct xfer_cf *cf, struct xfer_easy *e, int ev);
  ssize_t (*send)(struct xfer_cf *cf, const char *buf, size_t len);
  ssize_t (*recv)(struct xfer_cf *cf, char *buf, size_t cap);
  /* Bytes this filter holds that no socket event will announce. */
  int (*pending)(struct xfer_cf *cf);
  /* After a response ended at the end of a read: could more bytes follow
   * it?  0: no; 1: yes; 2: this filter cannot tell (its last read from
   * below filled what it asked for): ask the one below. */
  int (*more)(struct xfer_cf *cf);
  /* The socket interest (XFER_POLL_IN/OUT bits) that the filter waits
   * for, while connecting or after its send/recv said AGAIN; 0: none of
   * its own. */
  int (*want)(struct xfer_cf *cf);
  /* Frees the filter (not the one below); may still send (close_notify)
   * through the one below, which is closed after it. */
  void (*close)(struct xfer_cf *cf);
  /* 0 and *out set, or -1 when the filter does not know. */
  int (*query)(struct xfer_cf *cf, int what, void *out);
};

struct xfer_cf {
  const struct xfer_cf_type *type;
  struct xfer_cf *next;        /* the filter below; NULL for the socket */
  struct xfer_conn *conn;
  unsigned connected : 1;
  unsigned held_only : 1;      /* the socket: recv says AGAIN (below) */
};

/* The filters there are.  Each returns a new filter to put on top of
 * `below` (NULL: it is the bottom), or NULL when out of memory. */
struct xfer_cf *xfer__cf_tcp_new(struct xfer_conn *c);
/* For e's TLS options (copied: the filter never looks at e again), the
 * name to send and verify, and the ALPN list in wire form.  flags:
 * FOR_PROXY takes the PROXY_* TLS options (TLS to an https:// proxy);
 * NO_SESSION keeps no session in the host bucket. */
#define XFER_TLS_FOR_PROXY  1
#define XFER_TLS_NO_SESSION 2
struct xfer_cf *xfer__cf_tls_new(struct xfer_conn *c, struct xfer_cf *below,
                                 struct xfer_easy *e, const char *name,
                                 int name_is_ip, const unsigned char *alpn,
                                 size_t alpn_len, int flags);
/* The CONNECT tunnel through an HTTP(S) proxy to e's origin (tunnel.c),
 * and a SOCKS handshake to a target (socks.c): the target is named by
 * host (sent as a name by SOCKS4a/5h) or given as addr (SOCKS4/5, the
 * name resolved here). */
struct xfer_cf *xfer__cf_tunnel_new(struct xfer_conn *c, struct xfer_cf *below,
                                    struct xfer_easy *e);
struct xfer_hop;
struct xfer_addr;
struct xfer_cf *xfer__cf_socks_new(struct xfer_conn *c, struct xfer_cf *below,
                                   const struct xfer_hop *hop,
                                   const char *host, int host_is_ip,
                                   unsigned port,
                                   const struct xfer_addr *addr);

/* The chain, from its top filter. */
static inline ssize_t xfer__cf_send(struct xfer_cf *cf, const char *buf,
                                    size_t len) {
  return cf->type->send(cf, buf, len);
}
static inline ssize_t xfer__cf_recv(struct xfer_cf *cf, char *buf,
                                    size_t cap) {
  return cf->type->recv(cf, buf, cap);
}
/* Only the bytes the filters already hold (TLS records read ahead), with
 * no read from the socket: what is left to take once an event has used
 * its budget, so that the rest waits in the kernel, where a level-
 * triggered poller announces it. */
ssize_t xfer__cf_recv_held(struct xfer_cf *cf, char *buf, size_t cap);
int xfer__cf_pending(struct xfer_cf *cf);
int xfer__cf_more(struct xfer_cf *cf);
int xfer__cf_want(struct xfer_cf *cf);
int xfer__cf_query(struct xfer_cf *cf, int what, void *out);
void xfer__cf_close_all(struct xfer_cf *cf);

#endif
