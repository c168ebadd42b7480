/*
 * wait.c -- driving a multi handle without an event loop of one's own:
 * perform, wait, poll and wakeup.  These (and xfer_easy_perform) are the only
 * core functions that block, and only in poll().
 *
 * perform reuses the readiness that the last wait/poll saw, so the usual
 * perform + poll loop costs one poll() per round; without fresh results it
 * polls with a zero timeout.
 */

#include "xfer_int.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int ev_of(short re) {
  int ev = 0;
  if (re & (POLLIN | POLLHUP)) ev |= XFER_CSELECT_IN;
  if (re & POLLOUT) ev |= XFER_CSELECT_OUT;
  if (re & (POLLERR | POLLNVAL)) ev |= XFER_CSELECT_ERR;
  return ev;
}

static short events_of(int want) {
  return (short)((want & XFER_POLL_IN ? POLLIN : 0) |
                 (want & XFER_POLL_OUT ? POLLOUT : 0));
}

/* Polls every socket with interest plus extra fds.  Fills revents of our
 * sockets.  Returns the number of ready fds, or -1. */
static int poll_all(XFERM *m, struct xfer_waitfd *extra, unsigned n_extra,
                    int timeout_ms, int use_wakeup, int *numfds) {
  struct pollfd small[64], *p = small;
  unsigned n = 0, i, cap, nsock = (unsigned)m->nactive;
  int rc, ready = 0;
  uint64_t now = xfer__now();
  /* Idle keep-alive sockets are polled only when no transfer runs, or
   * once a second: often enough to see a server close them, while a cache
   * of thousands costs a busy loop nothing (not even between one transfer
   * ending and the next starting, when no socket is active either). */
  if (m->nlive > m->nactive &&
      (!m->num_running || now >= m->idle_sweep_at)) {
    nsock = (unsigned)m->nlive;
    m->idle_sweep_at = now + 1000000;
  }
  m->npolled = (int)nsock;
  cap = nsock + n_extra + 1;
  if (cap > 64 && !(p = malloc(cap * sizeof(*p)))) return -1;
  for (i = 0; i < nsock; i++) {
    int fd = m->live[i];
    if (!m->socks[fd].want) continue;
    p[n].fd = fd;
    p[n].events = events_of(m->socks[fd].want);
    p[n].revents = 0;
    n++;
  }
  for (i = 0; i < n_extra; i++) {
    p[n].fd = extra[i].fd;
    p[n].events = (short)((extra[i].events & XFER_WAIT_POLLIN ? POLLIN : 0) |
                          (extra[i].events & XFER_WAIT_POLLPRI ? POLLPRI : 0) |
                          (extra[i].events & XFER_WAIT_POLLOUT ? POLLOUT : 0));
    p[n].revents = 0;
    n++;
  }
  if (use_wakeup) {
    p[n].fd = m->wakeup_fd;
    p[n].events = POLLIN;
    p[n].revents = 0;
    n++;
  }
  do rc = poll(p, n, timeout_ms);
  while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    if (p != small) free(p);
    return -1;
  }
  n = 0;
  for (i = 0; i < nsock; i++) {
    int fd = m->live[i];
    if (!m->socks[fd].want) continue;
    m->socks[fd].revents = (uint8_t)ev_of(p[n].revents);
    if (p[n].revents) ready++;
    n++;
  }
  for (i = 0; i < n_extra; i++, n++) {
    short re = p[n].revents;
    extra[i].revents = (short)((re & POLLIN ? XFER_WAIT_POLLIN : 0) |
                               (re & POLLPRI ? XFER_WAIT_POLLPRI : 0) |
                               (re & POLLOUT ? XFER_WAIT_POLLOUT : 0));
    if (re) ready++;
  }
  if (use_wakeup && p[n].revents) {
    uint64_t v;
    ssize_t r = read(m->wakeup_fd, &v, sizeof(v));
    (void)r;
  }
  if (p != small) free(p);
  if (numfds) *numfds = ready;
  return ready;
}

static XFERMcode wait_common(XFERM *m, struct xfer_waitfd *extra,
                             unsigned n_extra, int timeout_ms, int *numfds,
                             int use_wakeup) {
  long t;
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
  if (poll_all(m, extra, n_extra, timeout_ms, use_wakeup, numfds) < 0)
    return XFERM_UNRECOVERABLE_POLL;
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

XFERMcode xfer_multi_perform(XFERM *m, int *running) {
  int i, n, *fds;
  XFERMcode rc;
  if (!xfer__good_multi(m)) return XFERM_BAD_HANDLE;
  if (m->in_callback || m->easy_cb_depth) return XFERM_RECURSIVE_API_CALL;
  if (!m->have_revents && m->nlive &&
      poll_all(m, NULL, 0, 0, 0, NULL) < 0)
    return XFERM_UNRECOVERABLE_POLL;
  m->have_revents = 0;
  n = m->npolled;
  if (n > m->nlive) n = m->nlive;
  if (n) {
    if (!(fds = xfer__live_snapshot(m, n))) {
      /* The readiness stays in revents for the next call. */
      m->have_revents = 1;
      if (running) *running = m->num_running;
      return XFERM_OUT_OF_MEMORY;
    }
    for (i = 0; i < n; i++) {
      int fd = fds[i], ev;
      if (fd >= m->nsocks || !(ev = m->socks[fd].revents)) continue;
      m->socks[fd].revents = 0;
      xfer__sock_event(m, fd, ev);
      xfer__drain(m);
    }
  }
  xfer__run_timers(m);
  xfer__update_timer(m);
  rc = xfer__end_call(m);
  if (running) *running = m->num_running;
  return rc;
}
