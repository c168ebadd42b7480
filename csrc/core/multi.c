/*
 * multi.c -- the multi handle: its life cycle, adding and removing transfers,
 * options, completion messages, the timer callback, and the "ready" list of
 * transfers to step before an API call returns.
 *
 * Re-entrancy (libcurl's rules; docs/api.md) is decided here in one place,
 * api_enter(): inside the socket or timer callback, perform, socket_action,
 * add_handle, remove_handle, setopt and cleanup return
 * XFERM_RECURSIVE_API_CALL.  From a transfer's own callbacks (write, header,
 * read, progress) adding and removing handles is allowed; it only schedules
 * work, which runs before the outer call returns.
 */

#include "xfer_int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

int xfer__good_multi(XFERM *m) { return m && m->magic == XFER_MULTI_MAGIC; }
int xfer__good_easy(XFER *e) { return e && e->magic == XFER_EASY_MAGIC; }

XFERM *xfer_multi_init(void) {
  XFERM *m = calloc(1, sizeof(*m));
  if (!m) return NULL;
  m->magic = XFER_MULTI_MAGIC;
  xfer_queue_init(&m->easies);
  xfer_queue_init(&m->pending);
  xfer_queue_init(&m->hosts_waiting);
  xfer_queue_init(&m->ready);
  xfer_queue_init(&m->starting);
  xfer_queue_init(&m->msgs);
  xfer_queue_init(&m->conns);
  xfer_queue_init(&m->idle);
  xfer_queue_init(&m->idle_fresh);
  xfer_queue_init(&m->flushq);
  m->epfd = -1;
  m->pipelining = XFERPIPE_MULTIPLEX;
  m->max_streams = 100;
  m->wakeup_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (m->wakeup_fd < 0) {
    free(m);
    return NULL;
  }
  if (xfer__ep_init(m)) {
    close(m->wakeup_fd);
    free(m);
    return NULL;
  }
  return m;
}

/* Guards every entry point that the socket and timer callbacks may not use. */
static XFERMcode api_enter(XFERM *m) {
  if (!xfer__good_multi(m)) return XFERM_BAD_HANDLE;
  if (m->in_callback) return XFERM_RECURSIVE_API_CALL;
  return XFERM_OK;
}

/* Driving calls are refused from every callback, a transfer's own too: they
 * would step transfers while one is in the middle of a step. */
static XFERMcode drive_enter(XFERM *m) {
  XFERMcode rc = api_enter(m);
  if (rc == XFERM_OK && m->easy_cb_depth) rc = XFERM_RECURSIVE_API_CALL;
  if (rc == XFERM_OK) m->call_no++;
  return rc;
}

XFERMcode xfer_multi_cleanup(XFERM *m) {
  XFERMcode rc = api_enter(m);
  if (rc) return rc;
  if (m->easy_cb_depth) return XFERM_RECURSIVE_API_CALL;
  /* Easy handles stay valid (the caller owns them); they are detached. */
  while (!xfer_queue_empty(&m->easies)) {
    XFER *e = xfer_queue_data(xfer_queue_head(&m->easies), XFER, mlink);
    xfer__detach(e);
  }
  while (!xfer_queue_empty(&m->conns))
    xfer__conn_close(xfer_queue_data(xfer_queue_head(&m->conns),
                                     struct xfer_conn, alllink));
  xfer__dns_free(m);
  xfer__hosts_free(m);
  xfer__tls_free(m);
  xfer__heap_free(&m->timers);
  free(m->socks);
  free(m->snap);
  free(m->live);
  free(m->recvbuf);
  xfer__ep_free(m);
  close(m->wakeup_fd);
  m->magic = 0;
  free(m);
  return XFERM_OK;
}

XFERMcode xfer_multi_add_handle(XFERM *m, XFER *e) {
  XFERMcode rc = api_enter(m);
  if (rc) return rc;
  if (!xfer__good_easy(e)) return XFERM_BAD_EASY_HANDLE;
  if (e->multi == m) return XFERM_ADDED_ALREADY;
  if (e->multi || e->free_pending) return XFERM_BAD_EASY_HANDLE;
  if (xfer__heap_reserve(&m->timers, (uint32_t)m->num_easy + 2))
    return XFERM_OUT_OF_MEMORY;
  e->multi = m;
  e->run_id++;
  e->state = XFER_ST_START;
  e->result = XFERE_OK;
  e->t_start = xfer__now();
  e->t_queue = e->t_namelookup = e->t_connect = e->t_pretransfer = 0;
  e->t_appconnect = 0;
  e->ssl_verifyresult = 0;
  e->t_starttransfer = e->t_total = 0;
  e->size_dl = e->size_ul = e->size_out = e->size_delivered = 0;
  e->content_length = -1;
  e->response_code = e->redirect_count = e->num_connects = 0;
  e->primary_ip[0] = e->local_ip[0] = 0;
  e->primary_port = e->local_port = 0;
  e->header_size = e->request_size = 0;
  e->os_errno = 0;
  e->retry_after = 0;
  free(e->content_type);
  free(e->redirect_url);
  e->content_type = e->redirect_url = NULL;
  e->xfer_id = m->next_xfer_id++;
  e->conn_id = -1;
  e->retried = e->retry_fresh = e->redirecting = 0;
  xfer__pause_reset(e); /* every run starts unpaused */
  if (e->set.errorbuffer) e->set.errorbuffer[0] = 0;
  xfer_queue_insert_tail(&m->easies, &e->mlink);
  m->num_easy++;
  m->num_running++;
  /* It starts at the next timer run: the timer callback hears 0 now, as
   * libcurl's add_handle documents.  A FIFO, not the timer heap: a million
   * added at once cost O(1) each, and start in the order they came. */
  xfer_queue_insert_tail(&m->starting, &e->qlink);
  e->in_ready = 1;
  xfer__update_timer(m);
  return xfer__end_call(m);
}

XFERMcode xfer_multi_remove_handle(XFERM *m, XFER *e) {
  XFERMcode rc = api_enter(m);
  if (rc) return rc;
  if (!xfer__good_easy(e)) return XFERM_BAD_EASY_HANDLE;
  if (e->multi && e->multi != m) return XFERM_BAD_EASY_HANDLE;
  if (!e->multi) return XFERM_OK; /* not added: nothing to do, as libcurl */
  xfer__detach(e);
  if (!m->easy_cb_depth) {
    /* What the removal woke (a waiting transfer given the freed slot)
     * starts at the next timer run, as an added one does: remove_handle
     * runs no other transfer's I/O or callbacks, as libcurl's does not. */
    xfer_queue_append(&m->starting, &m->ready);
    xfer__update_timer(m);
  }
  return xfer__end_call(m);
}

static XFERMcode setopt_long(XFERM *m, long *dst, long v) {
  if (v < 0) return XFERM_BAD_FUNCTION_ARGUMENT;
  *dst = v;
  xfer__limits_changed(m);
  return XFERM_OK;
}

XFERMcode xfer_multi_setopt(XFERM *m, XFERMoption opt, ...) {
  va_list ap;
  XFERMcode rc = api_enter(m);
  if (rc) return rc;
  va_start(ap, opt);
  switch (opt) {
  case XFERMOPT_SOCKETFUNCTION:
    m->socketfn = va_arg(ap, xfer_socket_callback);
    xfer__sock_callback_changed(m);
    xfer__conn_watcher_changed(m);
    break;
  case XFERMOPT_SOCKETDATA:
    m->socketdata = va_arg(ap, void *);
    break;
  case XFERMOPT_TIMERFUNCTION:
    m->timerfn = va_arg(ap, xfer_multi_timer_callback);
    m->timer_held = XFER_TIMER_HELD_NONE; /* a new timer knows nothing */
    break;
  case XFERMOPT_TIMERDATA:
    m->timerdata = va_arg(ap, void *);
    break;
  case XFERMOPT_MAXCONNECTS:
    rc = setopt_long(m, &m->maxconnects, va_arg(ap, long));
    break;
  case XFERMOPT_MAX_HOST_CONNECTIONS:
    rc = setopt_long(m, &m->max_host, va_arg(ap, long));
    break;
  case XFERMOPT_MAX_TOTAL_CONNECTIONS:
    rc = setopt_long(m, &m->max_total, va_arg(ap, long));
    break;
  case XFERMOPT_PIPELINING: {
    long v = va_arg(ap, long);
    if (v < 0 || v > (XFERPIPE_HTTP1 | XFERPIPE_MULTIPLEX))
      rc = XFERM_BAD_FUNCTION_ARGUMENT;
    else m->pipelining = v;
    break;
  }
  case XFERMOPT_MAX_CONCURRENT_STREAMS: {
    /* 1 to 2^31-1 (libcurl's range); 0 means the default, 100. */
    long v = va_arg(ap, long);
    if (v < 0 || v > 0x7fffffffL) rc = XFERM_BAD_FUNCTION_ARGUMENT;
    else m->max_streams = v ? v : 100;
    break;
  }
  default:
    rc = XFERM_UNKNOWN_OPTION;
  }
  va_end(ap);
  /* Raised limits free slots: start the woken transfers now. */
  if (rc == XFERM_OK && !m->easy_cb_depth &&
      (opt == XFERMOPT_MAXCONNECTS || opt == XFERMOPT_MAX_HOST_CONNECTIONS ||
       opt == XFERMOPT_MAX_TOTAL_CONNECTIONS)) {
    xfer__drain(m);
    xfer__update_timer(m);
    rc = xfer__end_call(m);
  }
  return rc;
}

/* Tells the socket callback, now, of every socket that has interest: for
 * a driver that replaces another (the next driving call would do it too,
 * see xfer__sock_callback_changed; this is for one that must know at
 * once). */
XFERMcode xfer_multi_reannounce(XFERM *m) {
  XFERMcode rc = api_enter(m);
  if (rc) return rc;
  if (m->easy_cb_depth) return XFERM_RECURSIVE_API_CALL;
  m->sock_reannounce = 1;
  xfer__sock_announce_all(m);
  return xfer__end_call(m);
}

XFERMsg *xfer_multi_info_read(XFERM *m, int *msgs_in_queue) {
  XFER *e;
  if (msgs_in_queue) *msgs_in_queue = 0;
  if (!xfer__good_multi(m) || xfer_queue_empty(&m->msgs)) return NULL;
  e = xfer_queue_data(xfer_queue_head(&m->msgs), XFER, msglink);
  xfer_queue_remove(&e->msglink);
  m->nmsgs--;
  /* O(1): draining n messages must not cost O(n^2). */
  if (msgs_in_queue) *msgs_in_queue = m->nmsgs;
  return &e->msg;
}

XFER **xfer_multi_get_handles(XFERM *m) {
  XFER **a;
  struct xfer_queue *q;
  int i = 0;
  if (!xfer__good_multi(m)) return NULL;
  a = malloc(sizeof(*a) * ((size_t)m->num_easy + 1));
  if (!a) return NULL;
  for (q = m->easies.next; q != &m->easies; q = q->next)
    a[i++] = xfer_queue_data(q, XFER, mlink);
  a[i] = NULL;
  return a;
}

XFERMcode xfer_multi_assign(XFERM *m, xfer_socket_t s, void *sockp) {
  if (!xfer__good_multi(m)) return XFERM_BAD_HANDLE;
  if (s < 0 || s >= m->nsocks || m->socks[s].owner == XFER_SOCK_FREE)
    return XFERM_BAD_SOCKET;
  m->socks[s].socketp = sockp;
  return XFERM_OK;
}

/* The earliest deadline of all transfers and the resolver, or 0 if none.
 * Transfers waiting to start are due at once (the first came first). */
static uint64_t next_deadline(XFERM *m) {
  struct xfer_timer *t = xfer__heap_min(&m->timers);
  uint64_t when = t ? t->when : 0;
  if (!xfer_queue_empty(&m->starting)) {
    XFER *e = xfer_queue_data(xfer_queue_head(&m->starting), XFER, qlink);
    if (!when || e->t_start < when) when = e->t_start;
  }
  /* Idle connections still watched: the sweep (xfer__conn_sweep). */
  if (!xfer_queue_empty(&m->idle_fresh) &&
      (!when || m->idle_sweep_at < when))
    when = m->idle_sweep_at;
  return when;
}

XFERMcode xfer_multi_timeout(XFERM *m, long *timeout_ms) {
  uint64_t when, now;
  if (!xfer__good_multi(m)) return XFERM_BAD_HANDLE;
  if (!timeout_ms) return XFERM_BAD_FUNCTION_ARGUMENT;
  when = next_deadline(m);
  if (!when) {
    *timeout_ms = -1;
    return XFERM_OK;
  }
  now = xfer__now();
  *timeout_ms = when <= now ? 0 : (long)((when - now + 999) / 1000);
  return XFERM_OK;
}

/* Tells the application's timer whenever the value it should hold changes
 * (libcurl's rule): a new deadline, or -1 when none remains.  A timer that
 * fired holds a stale value: it hears the next deadline, even the same
 * one, or -1, so a program that keeps the value for poll() never spins. */
static void update_timer_once(XFERM *m) {
  uint64_t when = next_deadline(m), now;
  long ms;
  if (!when) {
    if (m->timer_held == XFER_TIMER_HELD_NONE) return;
    m->timer_held = XFER_TIMER_HELD_NONE;
    ms = -1;
  } else {
    if (m->timer_held == XFER_TIMER_HELD_SET && m->timer_reported == when)
      return;
    m->timer_held = XFER_TIMER_HELD_SET;
    m->timer_reported = when;
    now = xfer__now();
    ms = when <= now ? 0 : (long)((when - now + 999) / 1000);
  }
  m->in_callback++;
  /* The application can no longer drive the transfers: they all fail when
   * the call ends (xfer__end_call). */
  if (m->timerfn(m, ms, m->timerdata) != 0) m->cb_failed = 1;
  m->in_callback--;
}

/* A callback may move a deadline (xfer_easy_pause in a socket or timer
 * callback): the value just told is then stale, and is told again. */
void xfer__update_timer(XFERM *m) {
  int n = 0;
  if (!m->timerfn) return;
  do {
    m->timer_dirty = 0;
    update_timer_once(m);
  } while (m->timer_dirty && ++n < 4);
}

void xfer__easy_arm(XFER *e, uint64_t when) {
  e->timer.kind = XFER_TIMER_EASY;
  xfer__heap_set(&e->multi->timers, &e->timer, when);
}

void xfer__easy_disarm(XFER *e) {
  if (e->multi) xfer__heap_remove(&e->multi->timers, &e->timer);
}

void xfer__schedule(XFER *e) {
  if (e->in_ready) return;
  e->in_ready = 1;
  xfer_queue_remove(&e->qlink);
  xfer_queue_insert_tail(&e->multi->ready, &e->qlink);
}

/* Steps every transfer that work was scheduled for.  A step may schedule
 * more (a finished transfer hands its connection to a waiting one). */
/* Runs the scheduled steps, then sends what they gathered (one send per
 * HTTP/2 connection for the requests of a turn); sending may schedule
 * more. */
void xfer__drain(XFERM *m) {
  do {
    while (!xfer_queue_empty(&m->ready)) {
      XFER *e = xfer_queue_data(xfer_queue_head(&m->ready), XFER, qlink);
      xfer_queue_remove(&e->qlink);
      e->in_ready = 0;
      xfer__step(e);
    }
    xfer__conn_flush_all(m);
  } while (!xfer_queue_empty(&m->ready));
}

/* Moves every due timer to a local list before acting on any of them, so a
 * callback that adds or removes timers cannot disturb the walk. */
void xfer__run_timers(XFERM *m) {
  uint64_t now = xfer__now();
  struct xfer_timer *t;
  int dns = 0;
  /* The transfers added since the last run start now (in_ready is
   * already set: they move as they are). */
  xfer_queue_append(&m->ready, &m->starting);
  while ((t = xfer__heap_min(&m->timers)) != NULL && t->when <= now) {
    xfer__heap_remove(&m->timers, t);
    if (t->kind == XFER_TIMER_DNS) {
      dns = 1;
    } else {
      XFER *e = (XFER *)((char *)t - offsetof(XFER, timer));
      xfer__timer_expired(e, now);
    }
  }
  if (dns) xfer__dns_timer(m);
  xfer__drain(m);
}

/* A socket or timer callback failed during this call: every transfer in
 * progress fails (libcurl's documented behaviour), and the call says so. */
XFERMcode xfer__end_call(XFERM *m) {
  struct xfer_queue *q, *next;
  if (m->deferred_frees && !m->in_callback) {
    /* xfer_easy_cleanup was called inside a socket or timer callback
     * (misuse, but no leak): finish it now.  Rare, so a walk is fine. */
    m->deferred_frees = 0;
    for (q = m->easies.next; q != &m->easies; q = next) {
      XFER *e = xfer_queue_data(q, XFER, mlink);
      next = q->next;
      if (e->free_pending && !e->busy) {
        xfer__detach(e); /* frees it */
      }
    }
  }
  if (!m->cb_failed || m->easy_cb_depth) return XFERM_OK;
  m->cb_failed = 0;
  for (q = m->easies.next; q != &m->easies; q = next) {
    XFER *e = xfer_queue_data(q, XFER, mlink);
    next = q->next;
    if (e->state != XFER_ST_DONE) {
      xfer__fail(e, "the socket or timer callback returned an error");
      xfer__done(e, XFERE_ABORTED_BY_CALLBACK);
    }
  }
  xfer__drain(m);
  m->cb_failed = 0; /* failures while tearing down add nothing */
  xfer__update_timer(m);
  m->cb_failed = 0;
  return XFERM_ABORTED_BY_CALLBACK;
}

static XFERMcode finish_call(XFERM *m, int *running, int timer_fired) {
  XFERMcode rc;
  xfer__run_timers(m);
  if (timer_fired) xfer__conn_sweep(m);
  xfer__update_timer(m);
  rc = xfer__end_call(m);
  if (running) *running = m->num_running;
  return rc;
}

XFERMcode xfer_multi_socket_action(XFERM *m, xfer_socket_t s, int ev,
                                   int *running) {
  XFERMcode rc = drive_enter(m);
  if (rc) return rc;
  xfer__sock_announce_all(m);
  if (s == XFER_SOCKET_TIMEOUT) {
    /* The application's one-shot timer has fired: the value it holds is
     * stale, and must be replaced (by -1 if nothing is left). */
    if (m->timer_held == XFER_TIMER_HELD_SET)
      m->timer_held = XFER_TIMER_HELD_FIRED;
  } else if (xfer__sock_event(m, s, ev) != 0) {
    /* Not ours (any more): libcurl answers BAD_SOCKET only for sockets it
     * never had; a socket closed a moment ago is a normal race. */
    if (s < 0) return XFERM_BAD_SOCKET;
  }
  xfer__drain(m);
  return finish_call(m, running, s == XFER_SOCKET_TIMEOUT);
}

XFERMcode xfer_multi_socket(XFERM *m, xfer_socket_t s, int *running) {
  return xfer_multi_socket_action(m, s, 0, running);
}

/* A copy of the first n live fds, since events close sockets and reorder
 * the live list.  The buffer is the multi's, grown as needed: perform and
 * socket_all never nest (drive_enter). */
int *xfer__live_snapshot(XFERM *m, int n) {
  if (n > m->snap_cap) {
    int cap = m->snap_cap ? m->snap_cap : 64, *p;
    while (cap < n) cap *= 2;
    if (!(p = realloc(m->snap, (size_t)cap * sizeof(*p)))) return NULL;
    m->snap = p;
    m->snap_cap = cap;
  }
  memcpy(m->snap, m->live, (size_t)n * sizeof(*m->snap));
  return m->snap;
}

XFERMcode xfer_multi_socket_all(XFERM *m, int *running) {
  int i, n, *fds;
  XFERMcode rc = drive_enter(m);
  if (rc) return rc;
  xfer__sock_announce_all(m);
  /* Checks every socket: each owner tries its I/O and sees EAGAIN where
   * there is nothing to do. */
  n = m->nlive;
  if (n) {
    if (!(fds = xfer__live_snapshot(m, n))) {
      if (running) *running = m->num_running;
      return XFERM_OUT_OF_MEMORY;
    }
    /* Mask 0: each owner finds out what is ready (no readiness is
     * claimed that the kernel did not report). */
    for (i = 0; i < n; i++)
      if (fds[i] < m->nsocks && m->socks[fds[i]].want)
        xfer__sock_event(m, fds[i], 0);
  }
  xfer__drain(m);
  return finish_call(m, running, 1);
}

int xfer__cb_leave(XFER *e, XFERM *m, unsigned run) {
  if (m) m->easy_cb_depth--;
  return e->multi != m || e->run_id != run || e->free_pending ||
         e->state == XFER_ST_DONE;
}
