/*
 * socket.c -- the socket table: an array indexed by fd, giving socket_action
 * an O(1) lookup, and the only place that calls the socket callback.  The
 * callback hears about a socket only when the interest in it changes, and
 * POLL_REMOVE before the socket is closed.
 */
#include "xfer_int.h"

#include <stdlib.h>
#include <string.h>

static int grow(XFERM *m, int fd) {
  int n = m->nsocks ? m->nsocks : 64;
  struct xfer_sock *s;
  while (n <= fd) n *= 2;
  s = realloc(m->socks, (size_t)n * sizeof(*s));
  if (!s) return -1;
  memset(s + m->nsocks, 0, (size_t)(n - m->nsocks) * sizeof(*s));
  m->socks = s;
  m->nsocks = n;
  return 0;
}

/* m->live holds every owned fd (for socket_all and for filling a new epoll
 * set); a removal moves the last one into the hole: O(1). */
static int live_add(XFERM *m, int fd) {
  if (m->nlive == m->live_cap) {
    int cap = m->live_cap ? m->live_cap * 2 : 64;
    int *l = realloc(m->live, (size_t)cap * sizeof(*l));
    if (!l) return -1;
    m->live = l;
    m->live_cap = cap;
  }
  m->live[m->nlive] = fd;
  m->socks[fd].live_idx = (uint32_t)++m->nlive;
  return 0;
}

static void live_del(XFERM *m, int fd) {
  int i = (int)m->socks[fd].live_idx - 1, last;
  if (i < 0) return;
  last = m->live[--m->nlive];
  m->live[i] = last;
  m->socks[last].live_idx = (uint32_t)i + 1;
  m->socks[fd].live_idx = 0;
}

static void report(XFERM *m, XFER *e, int fd, int what) {
  struct xfer_sock *s = &m->socks[fd];
  s->reported = (uint8_t)what;
  if (!m->socketfn) return;
  s->announced = what != XFER_POLL_REMOVE;
  m->in_callback++;
  /* -1 means the application could not watch the socket: every transfer
   * fails when the API call ends (xfer__end_call), as libcurl does. */
  if (m->socketfn(e, fd, what, m->socketdata, s->socketp) != 0)
    m->cb_failed = 1;
  m->in_callback--;
}

/* Sets the interest for fd (XFER_POLL_NONE..INOUT), telling the callback
 * only when it changed.  Returns 0, or -1 when out of memory. */
int xfer__sock_want(XFERM *m, int fd, int owner, struct xfer_conn *c,
                    XFER *e, int what) {
  struct xfer_sock *s;
  if (fd >= m->nsocks && grow(m, fd)) return -1;
  s = &m->socks[fd];
  if (s->owner == XFER_SOCK_FREE) {
    if (live_add(m, fd)) return -1;
    s->owner = (uint8_t)owner;
    s->socketp = NULL;
    s->revents = 0;
    s->announced = 0;
  } else if (s->want == what &&
             (s->announced || !m->socketfn || what == XFER_POLL_NONE)) {
    s->conn = c;
    return 0;
  }
  s->unwatched = 0; /* an idle connection taken again: announced anew */
  s->conn = c;
  s->want = (uint8_t)what;
  if (m->ep_active) xfer__ep_sync(m, fd);
  if (what != XFER_POLL_NONE) {
    report(m, e, fd, what);
  } else if (s->announced) {
    /* No interest for now (a paused transfer): the application stops
     * watching it, as libcurl tells it; the socket stays open. */
    report(m, e, fd, XFER_POLL_REMOVE);
    s->socketp = NULL;
  }
  return 0;
}

/* The owner is about to close fd: POLL_REMOVE first, then forget it. */
void xfer__sock_forget(XFERM *m, int fd, XFER *e) {
  struct xfer_sock *s;
  if (fd < 0 || fd >= m->nsocks) return;
  s = &m->socks[fd];
  if (s->owner == XFER_SOCK_FREE) return;
  if (s->announced) report(m, e, fd, XFER_POLL_REMOVE);
  live_del(m, fd);
  s->want = 0;
  if (s->ep_want) xfer__ep_sync(m, fd);
  memset(s, 0, sizeof(*s));
}

/* The application stops watching fd (POLL_REMOVE), which stays open with
 * its interest: an idle connection, so that a loop run until nothing is
 * left can end.  The epoll set of perform/wait/poll keeps watching it.
 * The next xfer__sock_want announces it again, with no socketp (libcurl
 * forgets the assigned pointer at POLL_REMOVE). */
void xfer__sock_unwatch(XFERM *m, int fd) {
  struct xfer_sock *s;
  if (fd < 0 || fd >= m->nsocks) return;
  s = &m->socks[fd];
  if (s->owner == XFER_SOCK_FREE || !s->want) return;
  if (s->announced) report(m, NULL, fd, XFER_POLL_REMOVE);
  s->announced = 0;
  s->unwatched = 1;
  s->socketp = NULL;
}

/* A new socket callback knows none of the sockets: the next driving call
 * tells it of every socket that has interest (xfer__sock_announce_all), so
 * a driver attached later, or a second one after the first, misses none
 * (an idle connection, a TLS handshake waiting to read). */
void xfer__sock_callback_changed(XFERM *m) {
  int i;
  for (i = 0; i < m->nlive; i++) m->socks[m->live[i]].announced = 0;
  m->sock_reannounce = 1;
}

void xfer__sock_announce_all(XFERM *m) {
  int i;
  if (!m->sock_reannounce || !m->socketfn) return;
  m->sock_reannounce = 0;
  for (i = 0; i < m->nlive; i++) m->socks[m->live[i]].announced = 0;
  /* The callback cannot add or close sockets (RECURSIVE_API_CALL), so the
   * live list holds still. */
  for (i = 0; i < m->nlive; i++) {
    int fd = m->live[i];
    struct xfer_sock *s = &m->socks[fd];
    if (s->want && !s->announced && !s->unwatched)
      report(m, s->conn ? s->conn->easy : NULL, fd, s->want);
  }
}

/* Dispatches readiness on fd to its owner.  Returns -1 for an unknown fd. */
int xfer__sock_event(XFERM *m, int fd, int ev) {
  struct xfer_sock *s;
  if (fd < 0 || fd >= m->nsocks) return -1;
  s = &m->socks[fd];
  switch (s->owner) {
  case XFER_SOCK_CONN:
    xfer__conn_event(s->conn, ev);
    return 0;
  case XFER_SOCK_DNS:
    xfer__dns_sock_event(m, fd, ev);
    return 0;
  default:
    return -1;
  }
}
