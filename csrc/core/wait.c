/*
 * wait.c -- driving a multi handle without an event loop of one's own:
 * perform, wait, poll and wakeup.  These (and xfer_easy_perform) are the only
 * core functions that block, and only in epoll_wait() or poll().
 *
 * The epoll set is made with the multi handle (xfer__ep_init), before any
 * socket exists, so running out of descriptors later cannot leave these
 * calls without one.  The first of them fills it, and from then on it
 * mirrors the interest in every socket (socket.c calls xfer__ep_sync
 * whenever it changes), so a round costs one epoll_wait whatever the
 * number of sockets, idle keep-alive connections included: they stay in
 * the set, and a server that closes one is seen at once.  Programs that
 * use socket_action never fill it: it costs them one descriptor.  The wakeup eventfd is in
 * the set too, edge-triggered: wait does not consume a wakeup, it keeps it
 * for the next poll.  Extra fds of the caller are polled with poll(), next
 * to the epoll set's own fd.
 *
 * perform reuses the readiness that the last wait/poll saw, so the usual
 * perform + poll loop costs one epoll_wait per round; without fresh
 * results it asks with a zero timeout.
 */

#include "xfer_int.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/* At most this many fds are reported by one wait; the rest stay ready
 * (level-triggered) for the next. */
#define READY_MAX 256
#define WAKE_TAG (-1) /* data.fd of the wakeup eventfd in the set */

static uint32_t ep_events_of(int want) {
  return (want & XFER_POLL_IN ? EPOLLIN : 0) |
         (want & XFER_POLL_OUT ? EPOLLOUT : 0);
}

/* Registers, changes or removes fd so that the set watches its want. */
void xfer__ep_sync(XFERM *m, int fd) {
  struct xfer_sock *s = &m->socks[fd];
  int want = s->want & XFER_POLL_INOUT, op;
  struct epoll_event ev;
  if (!m->ep_active || want == s->ep_want) return;
  memset(&ev, 0, sizeof(ev));
  ev.events = ep_events_of(want);
  ev.data.fd = fd;
  op = !s->ep_want ? EPOLL_CTL_ADD : want ? EPOLL_CTL_MOD : EPOLL_CTL_DEL;
  if (epoll_ctl(m->epfd, op, fd, &ev) < 0) {
    /* The set and our record disagree: say what the set holds, if that is
     * certain, and let the next wait try again (ep_activate). */
    if (op == EPOLL_CTL_ADD && errno == EEXIST &&
        epoll_ctl(m->epfd, EPOLL_CTL_MOD, fd, &ev) == 0) {
      s->ep_want = (uint8_t)want;
      return;
    }
    if (op != EPOLL_CTL_DEL) m->ep_stale = 1;
    s->ep_want = 0; /* a DEL of an fd the kernel dropped is done */
    return;
  }
  s->ep_want = (uint8_t)want;
}

/* Made with the multi handle: 0, or -1 when out of descriptors. */
int xfer__ep_init(XFERM *m) {
  struct epoll_event ev;
  if ((m->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) return -1;
  memset(&ev, 0, sizeof(ev));
  ev.events = EPOLLIN | EPOLLET;
  ev.data.fd = WAKE_TAG;
  if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, m->wakeup_fd, &ev) < 0) {
    close(m->epfd);
    m->epfd = -1;
    return -1;
  }
  return 0;
}

void xfer__ep_free(XFERM *m) {
  if (m->epfd >= 0) close(m->epfd);
  m->epfd = -1;
  m->ep_active = 0;
  free(m->ready_fds);
  m->ready_fds = NULL;
  m->nready = 0;
}

/* Fills the set with every socket that has interest, the first time, and
 * after a failed epoll_ctl tries again for the sockets that are not in it
 * as they should be. */
static XFERMcode ep_activate(XFERM *m) {
  int i;
  if (m->ep_active && !m->ep_stale) return XFERM_OK;
  if (!m->ready_fds &&
      !(m->ready_fds = malloc(READY_MAX * sizeof(*m->ready_fds))))
    return XFERM_OUT_OF_MEMORY;
  m->ep_active = 1;
  m->ep_stale = 0;
  for (i = 0; i < m->nlive; i++) xfer__ep_sync(m, m->live[i]);
  return m->ep_stale ? XFERM_UNRECOVERABLE_POLL : XFERM_OK;
}

/* Takes what epoll_wait found: sockets into socks[].revents and the ready
 * list, the wakeup into wake_pending. */
static void take(XFERM *m, const struct epoll_event *ev, int n) {
  int i;
  for (i = 0; i < n; i++) {
    int fd = ev[i].data.fd, r = 0;
    uint32_t e = ev[i].events;
    if (fd == WAKE_TAG) {
      m->wake_pending = 1;
      continue;
    }
    if (fd < 0 || fd >= m->nsocks || !m->socks[fd].want) continue;
    if (e & (EPOLLIN | EPOLLHUP)) r |= XFER_CSELECT_IN;
    if (e & EPOLLOUT) r |= XFER_CSELECT_OUT;
    if (e & EPOLLERR) r |= XFER_CSELECT_ERR;
    /* revents set <=> listed: perform clears what it lists */
    if (!m->socks[fd].revents) {
      if (m->nready == READY_MAX) continue; /* seen again next time */
      m->ready_fds[m->nready++] = fd;
    }
    m->socks[fd].revents |= (uint8_t)r;
  }
}

/* Readiness is what the latest wait saw, never an older one's. */
static void clear_ready(XFERM *m) {
  int i;
  for (i = 0; i < m->nready; i++)
    if (m->ready_fds[i] < m->nsocks) m->socks[m->ready_fds[i]].revents = 0;
  m->nready = 0;
}

/* A wakeup is consumed by poll, never by wait. */
static int consume_wakeup(XFERM *m, int use_wakeup) {
  uint64_t v;
  ssize_t r;
  if (!use_wakeup || !m->wake_pending) return 0;
  m->wake_pending = 0;
  r = read(m->wakeup_fd, &v, sizeof(v));
  (void)r;
  return 1;
}

/* One wait on the set and the caller's extra fds.  Returns the number of
 * ready fds (ours and the extra ones), -1 when the wait failed, -2 when
 * out of memory. */
static int wait_fds(XFERM *m, struct xfer_waitfd *extra, unsigned n_extra,
                    int timeout_ms, int use_wakeup) {
  struct epoll_event ev[READY_MAX];
  struct pollfd small[16], *p = small;
  uint64_t deadline = xfer__now() + (uint64_t)timeout_ms * 1000;
  int ready_extra = 0, n;
  unsigned i;
  if (n_extra + 1 > sizeof(small) / sizeof(small[0]) &&
      !(p = malloc((n_extra + 1) * sizeof(*p))))
    return -2;
  /* poll() rewrites only revents: the set is made once for every round */
  for (i = 0; i < n_extra; i++) {
    p[i].fd = extra[i].fd;
    p[i].events = (short)((extra[i].events & XFER_WAIT_POLLIN ? POLLIN : 0) |
                          (extra[i].events & XFER_WAIT_POLLPRI ? POLLPRI : 0) |
                          (extra[i].events & XFER_WAIT_POLLOUT ? POLLOUT : 0));
    p[i].revents = 0;
  }
  p[n_extra].fd = m->epfd;
  p[n_extra].events = POLLIN;
  p[n_extra].revents = 0;
  for (;;) {
    int tmo = use_wakeup && m->wake_pending ? 0 : timeout_ms;
    if (n_extra) {
      n = poll(p, n_extra + 1, tmo);
      if (n > 0)
        n = p[n_extra].revents ? epoll_wait(m->epfd, ev, READY_MAX, 0) : 0;
    } else {
      n = epoll_wait(m->epfd, ev, READY_MAX, tmo);
    }
    if (n < 0 && errno != EINTR) {
      if (p != small) free(p);
      return -1;
    }
    if (n > 0) take(m, ev, n);
    if (n_extra) {
      ready_extra = 0;
      for (i = 0; i < n_extra; i++) {
        short re = p[i].revents;
        extra[i].revents = (short)((re & POLLIN ? XFER_WAIT_POLLIN : 0) |
                                   (re & POLLPRI ? XFER_WAIT_POLLPRI : 0) |
                                   (re & POLLOUT ? XFER_WAIT_POLLOUT : 0));
        if (re) ready_extra++;
      }
    }
    if (consume_wakeup(m, use_wakeup) || m->nready || ready_extra) break;
    /* Nothing for us: a timeout, EINTR, or a wakeup that only poll takes.
     * Wait on for what is left of the time. */
    {
      uint64_t now = xfer__now();
      if (now >= deadline) break;
      timeout_ms = (int)((deadline - now + 999) / 1000);
    }
  }
  if (p != small) free(p);
  return m->nready + ready_extra;
}

static XFERMcode wait_common(XFERM *m, struct xfer_waitfd *extra,
                             unsigned n_extra, int timeout_ms, int *numfds,
                             int use_wakeup) {
  long t;
  int n;
  XFERMcode rc;
  if (numfds) *numfds = 0; /* also when the call fails */
  if (!xfer__good_multi(m)) return XFERM_BAD_HANDLE;
  if (m->in_callback || m->easy_cb_depth) return XFERM_RECURSIVE_API_CALL;
  if (timeout_ms < 0 || (n_extra && !extra))
    return XFERM_BAD_FUNCTION_ARGUMENT;
  xfer_multi_timeout(m, &t);
  if (t >= 0 && t < timeout_ms) timeout_ms = (int)t;
  /* libcurl's wait returns at once when there is nothing to wait on;
   * poll waits (that is the difference between the two). */
  if (!use_wakeup && !n_extra && !m->nlive) {
    if (numfds) *numfds = 0;
    return XFERM_OK;
  }
  if ((rc = ep_activate(m)) != XFERM_OK) return rc;
  clear_ready(m);
  if ((n = wait_fds(m, extra, n_extra, timeout_ms, use_wakeup)) < 0)
    return n == -2 ? XFERM_OUT_OF_MEMORY : XFERM_UNRECOVERABLE_POLL;
  if (numfds) *numfds = n;
  m->have_revents = 1;
  return XFERM_OK;
}

XFERMcode xfer_multi_wait(XFERM *m, struct xfer_waitfd *extra,
                          unsigned int n_extra, int timeout_ms, int *numfds) {
  return wait_common(m, extra, n_extra, timeout_ms, numfds, 0);
}

XFERMcode xfer_multi_poll(XFERM *m, struct xfer_waitfd *extra,
                          unsigned int n_extra, int timeout_ms, int *numfds) {
  return wait_common(m, extra, n_extra, timeout_ms, numfds, 1);
}

XFERMcode xfer_multi_wakeup(XFERM *m) {
  uint64_t one = 1;
  if (!xfer__good_multi(m)) return XFERM_BAD_HANDLE;
  if (write(m->wakeup_fd, &one, sizeof(one)) != sizeof(one) &&
      errno != EAGAIN)
    return XFERM_WAKEUP_FAILURE;
  return XFERM_OK;
}

/* ---- the sockets, for a program's own select() or poll() ----
 * Every socket with interest: the transfers', the resolver's and the idle
 * connections' (libcurl 8 lists its connection pool too), the ones the
 * epoll set mirrors.  perform serves whatever is ready among them. */

XFERMcode xfer_multi_fdset(XFERM *m, fd_set *r, fd_set *w, fd_set *x,
                           int *max_fd) {
  int i, max = -1;
  (void)x; /* nothing is exceptional: errors show as readable */
  if (!xfer__good_multi(m)) return XFERM_BAD_HANDLE;
  if (m->in_callback) return XFERM_RECURSIVE_API_CALL;
  for (i = 0; i < m->nlive; i++) {
    int fd = m->live[i], want = m->socks[fd].want;
    if (!want || fd >= FD_SETSIZE) continue; /* select() cannot say */
    if ((want & XFER_POLL_IN) && r) FD_SET(fd, r);
    if ((want & XFER_POLL_OUT) && w) FD_SET(fd, w);
    if (fd > max) max = fd;
  }
  if (max_fd) *max_fd = max;
  return XFERM_OK;
}

XFERMcode xfer_multi_waitfds(XFERM *m, struct xfer_waitfd *ufds,
                             unsigned int size, unsigned int *fd_count) {
  unsigned n = 0;
  int i;
  if (!xfer__good_multi(m)) return XFERM_BAD_HANDLE;
  if (!ufds && size) return XFERM_BAD_FUNCTION_ARGUMENT;
  if (m->in_callback) return XFERM_RECURSIVE_API_CALL;
  for (i = 0; i < m->nlive; i++) {
    int fd = m->live[i], want = m->socks[fd].want;
    if (!want) continue;
    if (n < size) {
      ufds[n].fd = fd;
      ufds[n].events = (short)((want & XFER_POLL_IN ? XFER_WAIT_POLLIN : 0) |
                               (want & XFER_POLL_OUT ? XFER_WAIT_POLLOUT : 0));
      ufds[n].revents = 0;
    }
    n++;
  }
  if (fd_count) *fd_count = n;
  return size && n > size ? XFERM_OUT_OF_MEMORY : XFERM_OK;
}

/* Without readiness from the set (it could not be filled, or the wait
 * failed), every socket is asked with mask 0, as socket_all does: slower,
 * but the transfers go on and their timeouts still strike. */
static void check_every_socket(XFERM *m) {
  int i, n = m->nlive, *fds = n ? xfer__live_snapshot(m, n) : NULL;
  for (i = 0; fds && i < n; i++)
    if (fds[i] < m->nsocks && m->socks[fds[i]].want) {
      xfer__sock_event(m, fds[i], 0);
      xfer__drain(m);
    }
}

XFERMcode xfer_multi_perform(XFERM *m, int *running) {
  int i;
  XFERMcode rc;
  if (!xfer__good_multi(m)) return XFERM_BAD_HANDLE;
  if (m->in_callback || m->easy_cb_depth) return XFERM_RECURSIVE_API_CALL;
  m->call_no++;
  xfer__sock_announce_all(m);
  if (!m->have_revents && m->nlive) {
    clear_ready(m);
    if (ep_activate(m) != XFERM_OK || wait_fds(m, NULL, 0, 0, 0) < 0)
      check_every_socket(m);
  }
  m->have_revents = 0;
  /* Events close sockets and open others, maybe under the same number:
   * closing one clears its revents (socket.c), so a stale entry of the
   * list finds nothing.  Nothing here can run a wait (no recursion). */
  for (i = 0; i < m->nready; i++) {
    int fd = m->ready_fds[i], ev;
    if (fd >= m->nsocks || !(ev = m->socks[fd].revents)) continue;
    m->socks[fd].revents = 0;
    xfer__sock_event(m, fd, ev);
    xfer__drain(m);
  }
  m->nready = 0;
  xfer__run_timers(m);
  xfer__conn_sweep(m); /* perform is the timer run of its programs */
  xfer__update_timer(m);
  rc = xfer__end_call(m);
  if (running) *running = m->num_running;
  return rc;
}
