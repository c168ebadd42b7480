/*
 * xfer_uv.c -- the built-in event loop (see xfer_uv.h): one uv_poll_t per
 * socket the multi handle asks to watch, one uv_timer_t for its timer (and
 * a uv_idle_t for a 0 ms one), and socket_action from the loop's
 * callbacks.  Uses xfer.h only: nothing
 * here knows the core's internals, and nothing here knows Lua.
 */
#include "xfer_uv.h"

#include <stdlib.h>
#include <string.h>

/* A watched socket: from the first interest in it until POLL_REMOVE. */
struct sock {
  uv_poll_t poll;
  xfer_uv *d;
  xfer_socket_t fd;
  int events;               /* what xfer asked for: UV_READABLE|UV_WRITABLE */
};

struct xfer_uv {
  uv_loop_t *loop;
  XFERM *multi;
  uv_timer_t timer;
  uv_idle_t soon;           /* the timer at 0 ms: see xfer_uv_timer_cb */
  struct sock **socks;      /* by fd; NULL where not watched */
  int nsocks;
  xfer_uv_done_cb done;
  void *done_data;
  int attached;             /* our callbacks are installed on the multi */
  int running;              /* inside xfer_uv_run */
  int stopping;             /* xfer_uv_stop or a failure: leave the loop */
  int status;               /* first failure of this run */
  int closing;              /* xfer_uv_close was called */
  int open_handles;         /* handles whose close callback has not run */
};

static void on_closed(uv_handle_t *h) {
  xfer_uv *d;
  if (h->type == UV_TIMER || h->type == UV_IDLE) {
    d = h->data;
  } else {
    struct sock *k = h->data;
    d = k->d;
    free(k);
  }
  if (--d->open_handles == 0 && d->closing) {
    free(d->socks);
    free(d);
  }
}

static void stop_loop(xfer_uv *d) {
  d->stopping = 1;
  if (d->running) uv_stop(d->loop);
}

/* Records the first failure of the run and leaves the loop: a socket that
 * cannot be watched would otherwise leave its transfer hanging. */
static int fail(xfer_uv *d, int rc) {
  if (!d->status) d->status = rc;
  stop_loop(d);
  return -1;
}

/* Hands every completion message to the done callback.  The message lives
 * in the easy handle, which the callee may free: copy it first. */
static int deliver(xfer_uv *d) {
  XFERMsg *msg;
  int n = 0;
  if (!d->done) return 0;
  while (!d->stopping && !d->closing &&
         (msg = xfer_multi_info_read(d->multi, NULL)) != NULL) {
    XFER *easy = msg->easy_handle;
    XFERcode result = msg->data.result;
    if (msg->msg != XFERMSG_DONE) continue;
    d->done(easy, result, d->done_data);
    n++;
  }
  return n;
}

/* One socket_action, the messages it produced, and the end of the run when
 * nothing is left.  Idle keep-alive connections keep their poll handles
 * active, so uv_run would not end by itself: stop it explicitly. */
static void drive(xfer_uv *d, xfer_socket_t fd, int ev) {
  int running = 0, delivered;
  for (;;) {
    int rc = xfer_multi_socket_action(d->multi, fd, ev, &running);
    if (rc != XFERM_OK) {
      fail(d, rc);
      return;
    }
    delivered = deliver(d);
    if (d->stopping || d->closing || !d->running) return;
    if (!delivered) {
      if (running == 0) uv_stop(d->loop);
      return;
    }
    /* The done callback may have added transfers, or removed (closed)
     * running ones: `running` is stale.  A timer run starts the new ones
     * and tells how many are running now. */
    fd = XFER_SOCKET_TIMEOUT;
    ev = 0;
  }
}

static void on_poll(uv_poll_t *h, int status, int events) {
  struct sock *k = h->data;
  int ev = 0;
  if (k->d->stopping || k->d->closing) return; /* seen again next run */
  if (status < 0) {
    /* libuv stops the handle on POLLERR (an RST, say), but xfer may first
     * read the bytes that came before the error and keep its interest as
     * it is, with no new socket callback: watch on until POLL_REMOVE, or
     * the transfer would never hear of its socket again. */
    if (k->events) uv_poll_start(&k->poll, k->events, on_poll);
    ev = XFER_CSELECT_ERR; /* let xfer find out what went wrong */
  } else {
    if (events & UV_READABLE) ev |= XFER_CSELECT_IN;
    if (events & UV_WRITABLE) ev |= XFER_CSELECT_OUT;
  }
  drive(k->d, k->fd, ev);
}

static void on_timer(uv_timer_t *t) {
  xfer_uv *d = t->data;
  if (d->stopping || d->closing) return; /* the next run starts with one */
  drive(d, XFER_SOCKET_TIMEOUT, 0);
}

static void on_soon(uv_idle_t *h) {
  xfer_uv *d = h->data;
  uv_idle_stop(h);
  if (d->stopping || d->closing) return;
  drive(d, XFER_SOCKET_TIMEOUT, 0);
}

static int grow(xfer_uv *d, int fd) {
  int n = d->nsocks ? d->nsocks : 64;
  struct sock **s;
  while (n <= fd) n *= 2;
  s = realloc(d->socks, (size_t)n * sizeof(*s));
  if (!s) return -1;
  memset(s + d->nsocks, 0, (size_t)(n - d->nsocks) * sizeof(*s));
  d->socks = s;
  d->nsocks = n;
  return 0;
}

static void close_sock(xfer_uv *d, struct sock *k) {
  d->socks[k->fd] = NULL;
  uv_close((uv_handle_t *)&k->poll, on_closed);
}

static struct sock *new_sock(xfer_uv *d, xfer_socket_t fd) {
  struct sock *k;
  int rc;
  if (fd >= d->nsocks && grow(d, fd)) {
    fail(d, UV_ENOMEM);
    return NULL;
  }
  if (!(k = malloc(sizeof(*k)))) {
    fail(d, UV_ENOMEM);
    return NULL;
  }
  rc = uv_poll_init_socket(d->loop, &k->poll, fd);
  if (rc) {
    free(k);
    fail(d, rc);
    return NULL;
  }
  k->poll.data = k;
  k->d = d;
  k->fd = fd;
  d->socks[fd] = k;
  d->open_handles++;
  return k;
}

int xfer_uv_socket_cb(XFER *easy, xfer_socket_t s, int what, void *dp,
                      void *socketp) {
  xfer_uv *d = dp;
  struct sock *k;
  int ev = 0, rc;
  (void)easy;
  (void)socketp;
  if (s < 0 || d->closing) return 0;
  k = s < d->nsocks ? d->socks[s] : NULL;
  if (what == XFER_POLL_REMOVE) {
    /* xfer closes s right after this: the handle stops watching now and is
     * freed later, so a new socket with the same number is no conflict. */
    if (k) close_sock(d, k);
    return 0;
  }
  if (what & XFER_POLL_IN) ev |= UV_READABLE;
  if (what & XFER_POLL_OUT) ev |= UV_WRITABLE;
  if (!k) {
    if (!ev) return 0;
    if (!(k = new_sock(d, s))) return -1;
  }
  k->events = ev;
  rc = ev ? uv_poll_start(&k->poll, ev, on_poll) : uv_poll_stop(&k->poll);
  return rc ? fail(d, rc) : 0;
}

int xfer_uv_timer_cb(XFERM *multi, long timeout_ms, void *dp) {
  xfer_uv *d = dp;
  (void)multi;
  if (d->closing) return 0;
  if (timeout_ms < 0) {
    uv_timer_stop(&d->timer);
    uv_idle_stop(&d->soon);
    return 0;
  }
  /* 0 ms runs at the loop's next turn, after its I/O is polled: libuv 1.44
   * runs a 0 ms timer started from its own callback again in the same
   * pass, before any I/O, so work continued that way would hold the loop.
   * An idle handle runs once per turn, and makes that turn's poll not
   * block. */
  if (timeout_ms == 0) {
    uv_timer_stop(&d->timer);
    return uv_idle_start(&d->soon, on_soon) ? fail(d, UV_EINVAL) : 0;
  }
  uv_idle_stop(&d->soon);
  /* The loop's clock is cached per iteration, and stale between runs. */
  uv_update_time(d->loop);
  if (uv_timer_start(&d->timer, on_timer, (uint64_t)timeout_ms, 0))
    return fail(d, UV_EINVAL);
  return 0;
}

xfer_uv *xfer_uv_new(uv_loop_t *loop, XFERM *multi) {
  xfer_uv *d = calloc(1, sizeof(*d));
  if (!d) return NULL;
  d->loop = loop;
  d->multi = multi;
  if (uv_timer_init(loop, &d->timer)) {
    free(d);
    return NULL;
  }
  uv_idle_init(loop, &d->soon); /* cannot fail */
  d->timer.data = d;
  d->soon.data = d;
  d->open_handles = 2;
  return d;
}

int xfer_uv_attach(xfer_uv *d) {
  int rc = xfer_multi_setopt(d->multi, XFERMOPT_SOCKETFUNCTION,
                             xfer_uv_socket_cb);
  if (!rc) rc = xfer_multi_setopt(d->multi, XFERMOPT_SOCKETDATA, d);
  if (!rc)
    rc = xfer_multi_setopt(d->multi, XFERMOPT_TIMERFUNCTION, xfer_uv_timer_cb);
  if (!rc) rc = xfer_multi_setopt(d->multi, XFERMOPT_TIMERDATA, d);
  if (!rc) d->attached = 1;
  return rc;
}

void xfer_uv_on_done(xfer_uv *d, xfer_uv_done_cb cb, void *data) {
  d->done = cb;
  d->done_data = data;
}

int xfer_uv_run(xfer_uv *d) {
  if (d->running || d->closing) return XFERM_BAD_FUNCTION_ARGUMENT;
  d->running = 1;
  d->stopping = 0;
  d->status = 0;
  /* Start with a timer run: transfers added before this call, or while
   * another driver had the timer, start now. */
  uv_update_time(d->loop);
  uv_timer_start(&d->timer, on_timer, 0, 0);
  uv_run(d->loop, UV_RUN_DEFAULT);
  d->running = 0;
  d->stopping = 0;
  return d->status;
}

void xfer_uv_stop(xfer_uv *d) { stop_loop(d); }

void xfer_uv_close(xfer_uv *d) {
  int i;
  if (d->closing) return;
  d->closing = 1;
  if (d->attached) {
    xfer_multi_setopt(d->multi, XFERMOPT_SOCKETFUNCTION, NULL);
    xfer_multi_setopt(d->multi, XFERMOPT_TIMERFUNCTION, NULL);
  }
  for (i = 0; i < d->nsocks; i++)
    if (d->socks[i]) close_sock(d, d->socks[i]);
  uv_close((uv_handle_t *)&d->timer, on_closed);
  uv_close((uv_handle_t *)&d->soon, on_closed);
}
