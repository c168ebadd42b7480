/*
 * tcp.c -- the bottom connection filter: a non-blocking connect over the
 * resolved addresses, then send and recv on the socket.  The socket is the
 * connection's (c->fd): the socket table, and so the application's event
 * loop, watch it.
 *
 * Happy eyeballs: the addresses of the first address's family are tried in
 * turn; the other family's start HAPPY_EYEBALLS_TIMEOUT_MS later, or at
 * once when the first family has none left, and the first socket to
 * connect wins.  While both race, each socket is in the socket table, the
 * connection's (c->fd) being the first family's while it runs.
 */
#include "xfer_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

/* One family's connects: a socket at a time, over its addresses. */
struct attempt {
  int fd;                      /* -1: none in progress */
  int cur;                     /* the address fd connects to */
  int next;                    /* the next address to look at */
  int family;                  /* 0: no address of its own */
};

struct tcp {
  struct xfer_cf cf;
  struct attempt at[2];        /* [0] the first address's family */
  uint64_t second_at;          /* when at[1] starts; 0 once started */
  int last_errno;
  unsigned started : 1;
  unsigned last_full : 1;      /* the last recv filled what it asked for */
  unsigned to_itself : 1;      /* an address connected to itself */
  unsigned no_socket : 1;      /* socket() failed (EMFILE) */
  unsigned bind_failed : 1;    /* INTERFACE or LOCALPORT: INTERFACE_FAILED */
};

/* dns.c's addresses have no port: the connection's own is set here, for
 * every address tried, so no lookup shared with another port can lend it
 * its port. */
static void peer_addr(const struct xfer_conn *c, const struct xfer_addr *a,
                      struct sockaddr_storage *ss) {
  *ss = a->ss;
  if (ss->ss_family == AF_INET6)
    ((struct sockaddr_in6 *)ss)->sin6_port = htons(c->primary_port);
  else if (ss->ss_family == AF_INET)
    ((struct sockaddr_in *)ss)->sin_port = htons(c->primary_port);
}

static int self_connected(struct xfer_conn *c, int idx,
                          struct sockaddr_storage *local, socklen_t len) {
  const struct xfer_addr *peer = &c->addrs->a[idx];
  struct sockaddr_storage ss;
  peer_addr(c, peer, &ss);
  return len == peer->len && memcmp(local, &ss, len) == 0;
}

static int is_local(const struct sockaddr_storage *ss) {
  if (ss->ss_family == AF_INET)
    return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) ==
           127;
  return ss->ss_family == AF_UNIX ||
         (ss->ss_family == AF_INET6 &&
          IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr));
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

static void attempt_close(struct xfer_conn *c, struct attempt *a) {
  if (a->fd < 0) return;
  xfer__sock_forget(c->multi, a->fd, c->easy);
  close(a->fd);
  if (c->fd == a->fd) c->fd = -1;
  a->fd = -1;
}

static void close_fd(struct xfer_conn *c) {
  if (c->fd < 0) return;
  xfer__sock_forget(c->multi, c->fd, c->easy);
  close(c->fd);
  c->fd = -1;
}

/* The handshake of a's socket is done: 0, or -1 when it connected to
 * itself (TCP simultaneous open: a port nobody listens on, inside the
 * ephemeral range, was picked as our own port), which is a refusal. */
static int established(struct tcp *t, struct attempt *a) {
  struct xfer_conn *c = t->cf.conn;
  const struct sockaddr_storage *peer = &c->addrs->a[a->cur].ss;
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  if (peer->ss_family == AF_UNIX) return 0;
  if (getsockname(a->fd, (struct sockaddr *)&ss, &len) == 0) {
    c->local_port = ntohs(ss.ss_family == AF_INET6
                              ? ((struct sockaddr_in6 *)&ss)->sin6_port
                              : ((struct sockaddr_in *)&ss)->sin_port);
    if (!inet_ntop(ss.ss_family,
                   ss.ss_family == AF_INET6
                       ? (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
                       : (void *)&((struct sockaddr_in *)&ss)->sin_addr,
                   c->local_ip, sizeof(c->local_ip)))
      c->local_ip[0] = 0;
    if (self_connected(c, a->cur, &ss, len)) {
      attempt_close(c, a);
      t->to_itself = 1;
      return -1;
    }
  }
  return 0;
}

/* INTERFACE: "if!name", "host!address", "ifhost!name!address", or a name
 * that is an address literal or else an interface.  A host name is never
 * resolved here (libcurl would block on it): it fails as no interface. */
static int bind_interface(int fd, int fam, const char *spec) {
  const char *ifname = NULL, *host = NULL;
  char namebuf[IF_NAMESIZE + 1];
  unsigned char ip[16];
  struct sockaddr_storage ss;
  if (strncmp(spec, "if!", 3) == 0) ifname = spec + 3;
  else if (strncmp(spec, "host!", 5) == 0) host = spec + 5;
  else if (strncmp(spec, "ifhost!", 7) == 0) {
    const char *bang = strchr(spec + 7, '!');
    size_t n = bang ? (size_t)(bang - (spec + 7)) : 0;
    if (!bang || n == 0 || n > IF_NAMESIZE) return -1;
    memcpy(namebuf, spec + 7, n);
    namebuf[n] = 0;
    ifname = namebuf;
    host = bang + 1;
  } else if (inet_pton(fam, spec, ip) == 1) host = spec;
  else ifname = spec;
  if (ifname && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname,
                           (socklen_t)strlen(ifname) + 1) < 0) {
    /* Not allowed (no CAP_NET_RAW): the interface's address instead. */
    struct ifaddrs *ifa, *i;
    int found = 0;
    if (host || getifaddrs(&ifa) < 0) return -1;
    for (i = ifa; i && !found; i = i->ifa_next)
      if (i->ifa_addr && i->ifa_addr->sa_family == fam &&
          strcmp(i->ifa_name, ifname) == 0) {
        memcpy(ip, fam == AF_INET
                       ? (void *)&((struct sockaddr_in *)i->ifa_addr)->sin_addr
                       : (void *)&((struct sockaddr_in6 *)i->ifa_addr)
                             ->sin6_addr,
               fam == AF_INET ? 4 : 16);
        found = 1;
      }
    freeifaddrs(ifa);
    if (!found) return -1;
  } else if (host) {
    if (inet_pton(fam, host, ip) != 1) return -1;
  } else {
    return 0; /* bound to the device */
  }
  memset(&ss, 0, sizeof(ss));
  ss.ss_family = (sa_family_t)fam;
  if (fam == AF_INET)
    memcpy(&((struct sockaddr_in *)&ss)->sin_addr, ip, 4);
  else
    memcpy(&((struct sockaddr_in6 *)&ss)->sin6_addr, ip, 16);
  return bind(fd, (struct sockaddr *)&ss,
              fam == AF_INET ? sizeof(struct sockaddr_in)
                             : sizeof(struct sockaddr_in6));
}

/* LOCALPORT and LOCALPORTRANGE: the first free port of the range, on the
 * address INTERFACE bound (or any).  0, or -1 when none is free. */
static int bind_local_port(int fd, int fam, const XFER *e) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  long p;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return -1;
  for (p = e->set.localport;
       p < (long)e->set.localport + e->set.localportrange && p <= 65535; p++) {
    if (fam == AF_INET)
      ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)p);
    else
      ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)p);
    if (bind(fd, (struct sockaddr *)&ss, len) == 0) return 0;
  }
  return -1;
}

/* The socket options of e, and its local end: 0, or -1 (errno kept) when
 * the local end cannot be had. */
static int socket_setup(int fd, int fam, const XFER *e) {
  int one = 1;
  if (fam == AF_UNIX) return 0;
  if (!e || e->set.tcp_nodelay)
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (!e) return 0;
  if (e->set.tcp_keepalive) {
    int idle = e->set.keepidle, intvl = e->set.keepintvl,
        cnt = e->set.keepcnt;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
  }
  if (e->set.interface && bind_interface(fd, fam, e->set.interface) < 0)
    return -1;
  if (e->set.localport && bind_local_port(fd, fam, e) < 0) return -1;
  return 0;
}

static int usable(const struct xfer_conn *c, int fam) {
  if (fam == AF_UNIX) return 1;
  return !((c->ipresolve == XFER_IPRESOLVE_V4 && fam != AF_INET) ||
           (c->ipresolve == XFER_IPRESOLVE_V6 && fam != AF_INET6));
}

/* Starts a's next address.  0 connected, XFER_IO_AGAIN in progress, -1
 * when its family has no address left (the reason kept in t). */
static int attempt_next(struct tcp *t, struct attempt *a, XFER *e) {
  struct xfer_conn *c = t->cf.conn;
  while (c->addrs && a->next < c->addrs->n) {
    int idx = a->next++;
    struct xfer_addr *ad = &c->addrs->a[idx];
    struct sockaddr_storage to;
    int fam = ad->ss.ss_family, fd, rc, err;
    if (fam != a->family) continue;
    fd = socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      t->last_errno = errno; /* EMFILE: this transfer fails, no other */
      t->no_socket = 1;
      continue;
    }
    t->no_socket = 0;
    if (socket_setup(fd, fam, e) < 0) {
      t->last_errno = errno;
      t->bind_failed = 1;
      close(fd);
      continue;
    }
    a->fd = fd;
    a->cur = idx;
    if (c->fd < 0) c->fd = fd;
    peer_addr(c, ad, &to);
    do rc = connect(fd, (struct sockaddr *)&to, ad->len);
    while (rc < 0 && errno == EINTR);
    err = rc == 0 ? 0 : errno;
    if (rc == 0 || (err == EINPROGRESS && is_local(&ad->ss) &&
                    connected_already(fd))) {
      if (established(t, a) == 0) return 0;
      continue;
    }
    if (err == EINPROGRESS) {
      /* The connection's own socket is announced by conn.c; a second
       * racing one is put in the table here. */
      if (fd != c->fd &&
          xfer__sock_want(c->multi, fd, XFER_SOCK_CONN, c, e, XFER_POLL_OUT)) {
        t->last_errno = ENOMEM;
        attempt_close(c, a);
        continue;
      }
      return XFER_IO_AGAIN;
    }
    /* AF_UNIX says EAGAIN for a full backlog: a refusal, as elsewhere. */
    t->last_errno = err;
    t->to_itself = 0;
    attempt_close(c, a);
  }
  return -1;
}

/* The race is won by a: its socket is the connection's from now on. */
static void won(struct tcp *t, struct attempt *a) {
  struct xfer_conn *c = t->cf.conn;
  struct attempt *other = a == &t->at[0] ? &t->at[1] : &t->at[0];
  const struct sockaddr_storage *ss = &c->addrs->a[a->cur].ss;
  attempt_close(c, other);
  t->second_at = 0;
  c->he_at = 0;
  c->fd = a->fd; /* already in the socket table when it raced */
  a->fd = -1;    /* the connection's now: closed with it */
  if (ss->ss_family == AF_INET6)
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr,
              c->primary_ip, sizeof(c->primary_ip));
  else if (ss->ss_family == AF_INET)
    inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr,
              c->primary_ip, sizeof(c->primary_ip));
  else
    c->primary_ip[0] = 0;
}

/* Where a's connect stands: 1 connected, 0 in progress, -1 failed (closed,
 * the reason kept).  sure: the event loop said fd is writable. */
static int attempt_check(struct tcp *t, struct attempt *a, int sure) {
  struct xfer_conn *c = t->cf.conn;
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(a->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  if (!err) {
    /* No error is not yet success: a socket_all or mask-0 call comes here
     * while the connect may still be in progress.  Writable from the event
     * loop vouches for it; otherwise getpeername tells. */
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (sure || getpeername(a->fd, (struct sockaddr *)&ss, &sl) == 0)
      return established(t, a) == 0 ? 1 : -1;
    if (errno == ENOTCONN) return 0;
    err = errno;
  }
  t->last_errno = err;
  t->to_itself = 0;
  attempt_close(c, a);
  return -1;
}

static int fail(struct tcp *t, XFER *e) {
  struct xfer_conn *c = t->cf.conn;
  if (e) e->os_errno = t->last_errno;
  if (e && t->bind_failed) {
    xfer__fail(e, "Could not bind the local end (INTERFACE %s, LOCALPORT "
                  "%ld): %s", e->set.interface ? e->set.interface : "-",
               (long)e->set.localport, strerror(t->last_errno));
    return -XFERE_INTERFACE_FAILED;
  }
  if (e && c->addrs && c->addrs->n &&
      c->addrs->a[0].ss.ss_family == AF_UNIX) {
    const struct sockaddr_un *un = (const void *)&c->addrs->a[0].ss;
    xfer__fail(e, "Failed to connect to the unix socket %s%s: %s",
               un->sun_path[0] ? "" : "@",
               un->sun_path[0] ? un->sun_path : un->sun_path + 1,
               strerror(t->last_errno));
    return -XFERE_COULDNT_CONNECT;
  }
  if (e)
    xfer__fail(e, "Failed to connect to %s port %u: %s%s", c->hostname,
               (unsigned)c->primary_port,
               t->no_socket ? "could not open a socket: " : "",
               t->to_itself ? "the socket connected to itself"
               : t->last_errno ? strerror(t->last_errno)
                               : "no usable address");
  return -XFERE_COULDNT_CONNECT;
}

/* The families of the race, and the time the second one starts. */
static void race_start(struct tcp *t, XFER *e) {
  struct xfer_conn *c = t->cf.conn;
  int i;
  t->started = 1;
  t->at[0].fd = t->at[1].fd = -1;
  for (i = 0; c->addrs && i < c->addrs->n; i++) {
    int fam = c->addrs->a[i].ss.ss_family;
    if (!usable(c, fam)) continue;
    if (!t->at[0].family) t->at[0].family = fam;
    else if (fam != t->at[0].family && !t->at[1].family) t->at[1].family = fam;
  }
  if (t->at[1].family) {
    long he = e ? e->set.happy_eyeballs_ms : XFER_DEFAULT_HAPPY_EYEBALLS_MS;
    t->second_at = xfer__now() + (uint64_t)(he > 0 ? he : 0) * 1000;
  }
}

/* One step of the race: 0 connected, XFER_IO_AGAIN, or -XFERcode. */
static int race(struct tcp *t, XFER *e, int ev) {
  struct xfer_conn *c = t->cf.conn;
  int i, running = 0;
  for (i = 0; i < 2; i++) {
    struct attempt *a = &t->at[i];
    int r;
    if (a->fd < 0) continue;
    /* One socket alone: a writable event is its own. */
    r = attempt_check(t, a, (ev & XFER_CSELECT_OUT) &&
                                (t->at[!i].fd < 0) && a->fd == c->fd);
    if (r > 0) {
      won(t, a);
      return 0;
    }
  }
  for (i = 0; i < 2; i++) {
    struct attempt *a = &t->at[i];
    if (!a->family || a->fd >= 0) continue;
    if (i == 1 && t->second_at) {
      /* The second family waits for its time, unless the first is out. */
      if (t->at[0].fd >= 0 && xfer__now() < t->second_at) continue;
      t->second_at = 0;
    }
    if (a->next < 0) continue; /* out of addresses */
    switch (attempt_next(t, a, e)) {
    case 0:
      won(t, a);
      return 0;
    case -1:
      a->next = -1;
      break;
    default:
      break;
    }
  }
  for (i = 0; i < 2; i++) running += t->at[i].fd >= 0;
  if (!running) {
    if (t->second_at && t->at[1].next >= 0) { /* the first family is out */
      t->second_at = 0;
      return race(t, e, 0);
    }
    c->he_at = 0;
    return fail(t, e);
  }
  /* The connection's socket is one that runs (conn.c watches it). */
  if (c->fd < 0) c->fd = t->at[0].fd >= 0 ? t->at[0].fd : t->at[1].fd;
  if (c->he_at != t->second_at) {
    c->he_at = t->second_at;
    if (e) xfer__recompute_timer(e);
  }
  return XFER_IO_AGAIN;
}

static int tcp_connect(struct xfer_cf *cf, XFER *e, int ev) {
  struct tcp *t = (struct tcp *)cf;
  if (!t->started) {
    errno = 0;
    race_start(t, e);
  }
  return race(t, e, ev);
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
  struct tcp *t = (struct tcp *)cf;
  return cf->conn->fd >= 0 &&
                 (cf->conn->fd == t->at[0].fd || cf->conn->fd == t->at[1].fd)
             ? XFER_POLL_OUT
             : 0;
}

static void tcp_close(struct xfer_cf *cf) {
  struct tcp *t = (struct tcp *)cf;
  attempt_close(cf->conn, &t->at[0]);
  attempt_close(cf->conn, &t->at[1]);
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
  t->at[0].fd = t->at[1].fd = -1;
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
