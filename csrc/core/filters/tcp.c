/*
 * tcp.c -- the bottom connection filter: a non-blocking TCP connect over
 * the resolved addresses (each tried in turn), then send and recv on the
 * socket.  The socket is the connection's (c->fd): the socket table, and
 * so the application's event loop, watch it.
 */
#include "xfer_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tcp {
  struct xfer_cf cf;
  unsigned connecting : 1;     /* a connect() is in progress on c->fd */
  unsigned last_full : 1;      /* the last recv filled what it asked for */
  unsigned to_itself : 1;      /* the last address connected to itself */
};

/* dns.c's addresses have no port: the connection's own is set here, for
 * every address tried, so no lookup shared with another port can lend it
 * its port. */
static void peer_addr(const struct xfer_conn *c, const struct xfer_addr *a,
                      struct sockaddr_storage *ss) {
  *ss = a->ss;
  if (ss->ss_family == AF_INET6)
    ((struct sockaddr_in6 *)ss)->sin6_port = htons(c->primary_port);
  else
    ((struct sockaddr_in *)ss)->sin_port = htons(c->primary_port);
}

static int self_connected(struct xfer_conn *c, struct sockaddr_storage *local,
                          socklen_t len) {
  const struct xfer_addr *peer = &c->addrs->a[c->addr_idx - 1];
  struct sockaddr_storage ss;
  peer_addr(c, peer, &ss);
  return len == peer->len && memcmp(local, &ss, len) == 0;
}

static int is_loopback(const struct sockaddr_storage *ss) {
  if (ss->ss_family == AF_INET)
    return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) ==
           127;
  return ss->ss_family == AF_INET6 &&
         IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

/* On loopback the kernel runs the whole handshake inside connect(), which
 * still says EINPROGRESS: asking saves waiting for POLL_OUT (a socket
 * callback, an event loop round and SO_ERROR) on every connection to a
 * local service.  Elsewhere the answer would always be no: not asked. */
static int connected_already(int fd) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  return getpeername(fd, (struct sockaddr *)&ss, &sl) == 0;
}

static void close_fd(struct xfer_conn *c) {
  if (c->fd < 0) return;
  xfer__sock_forget(c->multi, c->fd, c->easy);
  close(c->fd);
  c->fd = -1;
}

/* The handshake is done: 0, or -1 when the socket connected to itself
 * (TCP simultaneous open: a port nobody listens on, inside the ephemeral
 * range, was picked as our own port), which is a refusal. */
static int established(struct tcp *t) {
  struct xfer_conn *c = t->cf.conn;
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  if (getsockname(c->fd, (struct sockaddr *)&ss, &len) == 0)
    c->local_port = ntohs(ss.ss_family == AF_INET6
                              ? ((struct sockaddr_in6 *)&ss)->sin6_port
                              : ((struct sockaddr_in *)&ss)->sin_port);
  if (c->addrs && self_connected(c, &ss, len)) {
    close_fd(c);
    t->to_itself = 1;
    return -1;
  }
  return 0;
}

/* Tries the addresses from addr_idx on.  0 connected, XFER_IO_AGAIN
 * waiting for POLL_OUT, or -XFERE_COULDNT_CONNECT. */
static int try_addresses(struct tcp *t, XFER *e) {
  struct xfer_conn *c = t->cf.conn;
  int one = 1, last_errno = errno, no_socket = 0;
  while (c->addrs && c->addr_idx < c->addrs->n) {
    struct xfer_addr *a = &c->addrs->a[c->addr_idx++];
    struct sockaddr_storage to;
    int fam = a->ss.ss_family, fd, rc, err;
    if ((c->ipresolve == XFER_IPRESOLVE_V4 && fam != AF_INET) ||
        (c->ipresolve == XFER_IPRESOLVE_V6 && fam != AF_INET6))
      continue;
    fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      last_errno = errno; /* EMFILE: this transfer fails, no other */
      no_socket = 1;
      continue;
    }
    no_socket = 0;
    if (!e || e->set.tcp_nodelay)
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (e && e->set.tcp_keepalive)
      setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    if (fam == AF_INET6)
      inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&a->ss)->sin6_addr,
                c->primary_ip, sizeof(c->primary_ip));
    else
      inet_ntop(AF_INET, &((struct sockaddr_in *)&a->ss)->sin_addr,
                c->primary_ip, sizeof(c->primary_ip));
    c->fd = fd;
    peer_addr(c, a, &to);
    do rc = connect(fd, (struct sockaddr *)&to, a->len);
    while (rc < 0 && errno == EINTR);
    err = rc == 0 ? 0 : errno;
    if (rc == 0 || (err == EINPROGRESS && is_loopback(&a->ss) &&
                    connected_already(fd))) {
      if (established(t) == 0) return 0;
      continue;
    }
    if (err == EINPROGRESS) {
      t->connecting = 1;
      return XFER_IO_AGAIN;
    }
    last_errno = err;
    t->to_itself = 0;
    close(fd);
    c->fd = -1;
  }
  if (e)
    xfer__fail(e, "Failed to connect to %s port %u: %s%s", c->hostname,
               (unsigned)c->primary_port,
               no_socket ? "could not open a socket: " : "",
               t->to_itself ? "the socket connected to itself"
               : last_errno ? strerror(last_errno) : "no usable address");
  return -XFERE_COULDNT_CONNECT;
}

static int tcp_connect(struct xfer_cf *cf, XFER *e, int ev) {
  struct tcp *t = (struct tcp *)cf;
  struct xfer_conn *c = cf->conn;
  int err = 0;
  socklen_t len = sizeof(err);
  if (!t->connecting) {
    errno = 0;
    return try_addresses(t, e);
  }
  if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (!err) {
    /* No error is not yet success: a socket_all or mask-0 call comes here
     * while the connect may still be in progress.  Writable from the event
     * loop vouches for it; otherwise getpeername tells. */
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if ((ev & XFER_CSELECT_OUT) ||
        getpeername(c->fd, (struct sockaddr *)&ss, &sl) == 0) {
      t->connecting = 0;
      if (established(t) == 0) return 0;
      return try_addresses(t, e);
    }
    if (errno == ENOTCONN) return XFER_IO_AGAIN; /* still connecting */
    err = errno;
  }
  t->connecting = 0;
  close_fd(c);
  errno = err;
  return try_addresses(t, e);
}

static ssize_t tcp_send(struct xfer_cf *cf, const char *buf, size_t len) {
  ssize_t n;
  do n = send(cf->conn->fd, buf, len, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n >= 0) return n;
  return errno == EAGAIN || errno == EWOULDBLOCK ? XFER_IO_AGAIN
                                                 : -XFERE_SEND_ERROR;
}

static ssize_t tcp_recv(struct xfer_cf *cf, char *buf, size_t cap) {
  struct tcp *t = (struct tcp *)cf;
  ssize_t n;
  if (cf->held_only) return XFER_IO_AGAIN;
  do n = recv(cf->conn->fd, buf, cap, 0);
  while (n < 0 && errno == EINTR);
  if (n >= 0) {
    t->last_full = (size_t)n == cap;
    return n;
  }
  return errno == EAGAIN || errno == EWOULDBLOCK ? XFER_IO_AGAIN
                                                 : -XFERE_RECV_ERROR;
}

static int tcp_pending(struct xfer_cf *cf) {
  (void)cf;
  return 0;
}

/* Only a read that filled its buffer leaves the kernel's side unknown:
 * only then is the socket asked (an ordinary keep-alive response costs no
 * syscall here).  An error or the close counts as "more": the connection
 * cannot carry another request either way. */
static int tcp_more(struct xfer_cf *cf) {
  struct tcp *t = (struct tcp *)cf;
  char b;
  ssize_t n;
  if (!t->last_full) return 0;
  n = recv(cf->conn->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
  return !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

static int tcp_want(struct xfer_cf *cf) {
  return ((struct tcp *)cf)->connecting ? XFER_POLL_OUT : 0;
}

static void tcp_close(struct xfer_cf *cf) {
  close_fd(cf->conn);
  free(cf);
}

static int tcp_query(struct xfer_cf *cf, int what, void *out) {
  (void)cf;
  (void)what;
  (void)out;
  return -1;
}

static const struct xfer_cf_type tcp_type = {
  "tcp", tcp_connect, tcp_send, tcp_recv, tcp_pending, tcp_more, tcp_want,
  tcp_close, tcp_query};

struct xfer_cf *xfer__cf_tcp_new(struct xfer_conn *c) {
  struct tcp *t = calloc(1, sizeof(*t));
  if (!t) return NULL;
  t->cf.type = &tcp_type;
  t->cf.conn = c;
  return &t->cf;
}

/* ---- the chain ---- */

ssize_t xfer__cf_recv_held(struct xfer_cf *cf, char *buf, size_t cap) {
  struct xfer_cf *low = cf;
  ssize_t n;
  while (low->next) low = low->next;
  if (low == cf) return XFER_IO_AGAIN; /* the socket alone holds nothing */
  low->held_only = 1;
  n = xfer__cf_recv(cf, buf, cap);
  low->held_only = 0;
  return n;
}

int xfer__cf_pending(struct xfer_cf *cf) {
  for (; cf; cf = cf->next)
    if (cf->type->pending(cf)) return 1;
  return 0;
}

int xfer__cf_more(struct xfer_cf *cf) {
  for (; cf; cf = cf->next) {
    int r = cf->type->more(cf);
    if (r != 2) return r;
  }
  return 0;
}

int xfer__cf_want(struct xfer_cf *cf) {
  for (; cf; cf = cf->next) {
    int w = cf->type->want(cf);
    if (w) return w;
  }
  return 0;
}

int xfer__cf_query(struct xfer_cf *cf, int what, void *out) {
  for (; cf; cf = cf->next)
    if (cf->type->query(cf, what, out) == 0) return 0;
  return -1;
}

/* Top first: TLS says close_notify through the socket before it closes. */
void xfer__cf_close_all(struct xfer_cf *cf) {
  while (cf) {
    struct xfer_cf *next = cf->next;
    cf->type->close(cf);
    cf = next;
  }
}
