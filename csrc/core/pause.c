/*
 * pause.c -- flow control of one transfer: pause (xfer_easy_pause and the
 * callbacks' *_FUNC_PAUSE), the pieces held while receiving is paused, and
 * the rate limits (MAX_RECV_SPEED_LARGE, MAX_SEND_SPEED_LARGE).
 *
 * Every change takes effect through the transfer's timer (wake_at, rate_at):
 * xfer_easy_pause may be called from any callback or from outside any call,
 * and the application's loop, which runs the timer anyway, needs no extra
 * step.  The protocol handler asks xfer__recv_blocked/xfer__send_blocked
 * before it watches the socket, so a paused transfer's socket is not
 * watched for that direction (no busy loop), and xfer__resume when the
 * timer runs.
 *
 * What is held: the piece the callback refused and what the same read
 * brings after it (a handler stops reading at once), so at most one read's
 * worth (XFER_RECVBUF_SIZE of the wire) and the header lines in it.
 */
#include "xfer_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PIECE_HDR 5              /* a type byte and a 4-byte length */

/* ---- delivery ---- */

/* Calls the application: 0 (taken), XFER_WRITE_PAUSE (refused, pause), or
 * an XFERcode. */
static int deliver(XFER *e, int type, const char *data, size_t len) {
  XFERM *m = e->multi;
  unsigned run;
  size_t n;
  if (e->free_pending) return XFERE_ABORTED_BY_CALLBACK; /* cleaned up */
  run = xfer__cb_enter(e);
  if (type == XFER_PIECE_BODY) {
    e->size_delivered += (xfer_off_t)len; /* taken, unless refused below */
    if (e->set.writefn)
      n = e->set.writefn((char *)data, 1, len, e->set.writedata);
    else
      n = fwrite(data, 1, len, e->set.writedata ? e->set.writedata : stdout);
  } else {
    if (e->set.headerfn)
      n = e->set.headerfn((char *)data, 1, len, e->set.headerdata);
    else
      n = fwrite(data, 1, len, e->set.headerdata);
  }
  if (xfer__cb_leave(e, m, run)) return XFERE_ABORTED_BY_CALLBACK;
  if (n == XFER_WRITEFUNC_PAUSE) {
    if (type == XFER_PIECE_BODY) e->size_delivered -= (xfer_off_t)len;
    return XFER_WRITE_PAUSE;
  }
  if (n != len) {
    xfer__fail(e, "%s callback took %zu of %zu bytes",
               type == XFER_PIECE_BODY ? "write" : "header", n, len);
    return XFERE_WRITE_ERROR;
  }
  return 0;
}

static int held_add(XFER *e, int type, const char *data, size_t len) {
  size_t need = e->held_len + PIECE_HDR + len;
  uint32_t l32 = (uint32_t)len;
  if (need > XFER_HELD_MAX) {
    xfer__fail(e, "more than %u bytes arrived while paused", XFER_HELD_MAX);
    return XFERE_TOO_LARGE;
  }
  if (need > e->held_cap) {
    size_t cap = e->held_cap ? e->held_cap : 1024;
    char *p;
    while (cap < need) cap *= 2;
    if (!(p = realloc(e->held, cap))) return XFERE_OUT_OF_MEMORY;
    e->held = p;
    e->held_cap = cap;
  }
  e->held[e->held_len] = (char)type;
  memcpy(e->held + e->held_len + 1, &l32, 4);
  memcpy(e->held + e->held_len + PIECE_HDR, data, len);
  e->held_len = need;
  return 0;
}

static int held_any(const XFER *e) { return e->held_off < e->held_len; }

int xfer__client_write(XFER *e, int type, const char *data, size_t len) {
  if (!(e->paused & XFERPAUSE_RECV) && !held_any(e)) {
    int rc = deliver(e, type, data, len);
    if (rc != XFER_WRITE_PAUSE) return rc;
    e->paused |= XFERPAUSE_RECV;
  }
  return held_add(e, type, data, len);
}

static void held_free(XFER *e) {
  free(e->held);
  e->held = NULL;
  e->held_len = e->held_off = e->held_cap = 0;
}

/* Delivers the held pieces in order.  0 when all went, XFER_WRITE_PAUSE
 * when the application paused again (the rest stays), or an XFERcode. */
static int held_flush(XFER *e) {
  while (held_any(e)) {
    uint32_t l32;
    int rc, type = e->held[e->held_off];
    memcpy(&l32, e->held + e->held_off + 1, 4);
    rc = deliver(e, type, e->held + e->held_off + PIECE_HDR, l32);
    if (rc == XFER_WRITE_PAUSE) {
      e->paused |= XFERPAUSE_RECV;
      return rc;
    }
    if (rc) return rc; /* the run may have ended: held is freed */
    e->held_off += PIECE_HDR + l32;
    /* taken, with a pause asked for from inside the callback */
    if (e->paused & XFERPAUSE_RECV && held_any(e)) return XFER_WRITE_PAUSE;
  }
  held_free(e);
  return 0;
}

/* ---- pause ---- */

/* The low-speed window starts again: a paused transfer is not checked
 * (libcurl: it does not qualify), and a resumed one gets a full window. */
static void speed_windows_restart(XFER *e, uint64_t now) {
  if (e->ls_check_at) {
    e->ls_check_at = now + 1000000;
    e->ls_bytes_at_check = e->size_dl + e->size_ul;
    e->ls_below_since = 0;
  }
  e->rate_start = now;
  e->rate_dl = e->size_dl;
  e->rate_ul = e->size_ul;
}

XFERcode xfer_easy_pause(XFER *e, int bitmask) {
  XFERM *m;
  int old;
  if (!xfer__good_easy(e)) return XFERE_BAD_FUNCTION_ARGUMENT;
  if (bitmask & ~XFERPAUSE_ALL) return XFERE_BAD_FUNCTION_ARGUMENT;
  m = e->multi;
  /* Outside a transfer there is nothing to pause: add_handle starts every
   * run unpaused. */
  if (!m || e->state == XFER_ST_DONE) return XFERE_OK;
  old = e->paused;
  e->paused = bitmask;
  if (old == bitmask) return XFERE_OK;
  if (old & ~bitmask) speed_windows_restart(e, xfer__now());
  /* At the next timer run, wherever this was called from: the socket's
   * interest follows, held pieces go out, a stopped read goes on. */
  e->wake_at = xfer__now();
  xfer__recompute_timer(e);
  if (m->in_callback || m->easy_cb_depth) m->timer_dirty = 1;
  else xfer__update_timer(m);
  return XFERE_OK;
}

void xfer__pause_reset(XFER *e) {
  held_free(e);
  e->paused = 0;
  e->wake_at = e->rate_at = 0;
  e->finish_held = 0;
}

int xfer__recv_held(XFER *e) {
  return (e->paused & XFERPAUSE_RECV) || held_any(e);
}

int xfer__recv_blocked(XFER *e) {
  return xfer__recv_held(e) || e->finish_held || e->rate_at ||
         e->dec_pending;
}

int xfer__send_blocked(XFER *e) {
  return (e->paused & XFERPAUSE_SEND) || e->rate_at;
}

/* ---- rate limits ---- */

/* Under a limit, an event moves a tenth of a second's worth (at least
 * 1 KiB): the rate stays smooth instead of a budget's burst and a long
 * wait. */
static size_t allowance(xfer_off_t limit) {
  xfer_off_t a;
  if (limit <= 0) return XFER_EVENT_BUDGET;
  a = limit / 10;
  if (a < 1024) a = 1024;
  return a < XFER_EVENT_BUDGET ? (size_t)a : XFER_EVENT_BUDGET;
}

size_t xfer__recv_allowance(XFER *e) {
  return allowance(e->set.max_recv_speed);
}

size_t xfer__send_allowance(XFER *e) {
  return allowance(e->set.max_send_speed);
}

/* How long moving `moved` bytes since start should have taken at limit. */
static uint64_t due(uint64_t start, xfer_off_t moved, xfer_off_t limit) {
  if (limit <= 0 || moved <= 0) return 0;
  return start + (uint64_t)((double)moved * 1e6 / (double)limit);
}

/* After an event: ahead of a limit, the transfer waits (its socket
 * unwatched for that direction) until the average is back to it. */
void xfer__rate_check(XFER *e) {
  uint64_t now, a, b, until;
  if (e->set.max_recv_speed <= 0 && e->set.max_send_speed <= 0) return;
  now = xfer__now(); /* the window began with the request (transfer.c) */
  a = due(e->rate_start, e->size_dl - e->rate_dl, e->set.max_recv_speed);
  b = due(e->rate_start, e->size_ul - e->rate_ul, e->set.max_send_speed);
  until = a > b ? a : b;
  if (until > now + 1000) { /* over a millisecond ahead */
    e->rate_at = until;
    xfer__recompute_timer(e);
  }
}

/* ---- resuming ---- */

/* The caller holds e (xfer__timer_expired): it may end here. */
void xfer__resume(XFER *e) {
  struct xfer_conn *c = e->conn;
  int rc = 0;
  e->wake_at = e->rate_at = 0;
  if (e->state != XFER_ST_SENDING && e->state != XFER_ST_RECEIVING) return;
  if (c) xfer__conn_hold(c);
  if (!(e->paused & XFERPAUSE_RECV) && held_any(e)) rc = held_flush(e);
  if (rc == XFER_WRITE_PAUSE) rc = 0;
  /* Then what the decoders kept, which came after the held pieces (the
   * drain stops again at a pause or at the turn's bound). */
  else if (!rc && e->dec_pending && !xfer__recv_held(e))
    rc = xfer__decode_drain(e);
  if (xfer__gone(e, c)) goto out;
  if (rc) {
    xfer__done(e, (XFERcode)rc);
  } else if (e->finish_held && !held_any(e) && !e->dec_pending) {
    e->finish_held = 0;
    xfer__resp_complete(e);
  } else if (c) {
    c->proto->resume(c, e); /* pieces still held keep it unwatched */
  }
out:
  if (c) xfer__conn_unhold(c);
}
