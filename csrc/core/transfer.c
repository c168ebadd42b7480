/*
 * transfer.c -- the per-transfer state machine: START -> (QUEUED) ->
 * RESOLVING -> CONNECTING -> SENDING -> RECEIVING -> DONE, with redirects,
 * the one retry on a reused connection, timeouts and completion.
 *
 * Connections are conn.c's; bytes on the wire are a protocol handler's
 * (proto/), which hands the response here through the xfer__resp_*
 * functions: the header callback, Location, the body's way to the write
 * callback (body.c), redirects and completion are decided here, for any
 * protocol.  Everything here runs either from the ready list (xfer__drain)
 * or from an event on the transfer's connection, never from inside an
 * application callback.
 */

#include "xfer_int.h"

#include <time.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_state(XFER *e, int to) {
  static const char *const names[XFER_ST_COUNT] = {
    "INIT", "START", "QUEUED", "GRANTED", "RESOLVING", "CONNECTING", "SENDING",
    "RECEIVING", "DONE"};
  if (e->state == to) return;
  if (e->set.verbose) xfer__verbose(e, "state %s -> %s", names[e->state],
                                    names[to]);
  e->state = to;
}

static uint64_t since_start(XFER *e) { return xfer__now() - e->t_start; }

/* The earliest of the deadlines that apply in the current state. */
void xfer__recompute_timer(XFER *e) {
  uint64_t when = 0;
#define EARLIEST(t) do { uint64_t t_ = (t); if (!when || t_ < when) when = t_; } while (0)
  if (!e->multi || e->state == XFER_ST_DONE) return;
  if (e->set.timeout_ms > 0)
    EARLIEST(e->t_start + xfer__span(e->set.timeout_ms, 1000));
  if (e->conn && (e->state == XFER_ST_RESOLVING ||
                  e->state == XFER_ST_CONNECTING)) {
    long cto = e->set.connecttimeout_ms > 0 ? e->set.connecttimeout_ms
                                            : XFER_DEFAULT_CONNECTTIMEOUT_MS;
    EARLIEST(e->conn->connect_start + xfer__span(cto, 1000));
    if (e->conn->he_at) EARLIEST(e->conn->he_at);
  }
  if (e->state == XFER_ST_SENDING || e->state == XFER_ST_RECEIVING) {
    if (e->ls_check_at && !e->paused) EARLIEST(e->ls_check_at);
    if (e->progress_at) EARLIEST(e->progress_at);
    if (e->wake_at) EARLIEST(e->wake_at);
    if (e->rate_at) EARLIEST(e->rate_at);
  }
#undef EARLIEST
  if (when) xfer__easy_arm(e, when);
  else xfer__easy_disarm(e);
}

static int progress(XFER *e) {
  XFERM *m = e->multi;
  int rc;
  unsigned run;
  if (e->set.noprogress || !e->set.xferinfofn) return 0;
  run = xfer__cb_enter(e);
  rc = e->set.xferinfofn(e->set.xferinfodata,
                         e->content_length > 0 ? e->content_length : 0,
                         e->size_dl, e->upload_size > 0 ? e->upload_size : 0,
                         e->size_ul);
  if (xfer__cb_leave(e, m, run)) return -1;
  if (rc) {
    xfer__fail(e, "progress callback aborted");
    xfer__done(e, XFERE_ABORTED_BY_CALLBACK);
    return -1;
  }
  return 0;
}

/* After a call that can run an application callback: 1 when the caller
 * must stop, because the transfer finished, was removed, cleaned up or
 * re-added, or its connection c is no longer its own or is closing.  A
 * pure check: what was given up is freed when its holders let go
 * (xfer__unhold, xfer__conn_unhold). */
int xfer__gone(XFER *e, struct xfer_conn *c) {
  return e->state == XFER_ST_DONE || !e->multi || e->free_pending ||
         (c && (c != e->conn || c->closing));
}

/* The request is out: the response is next. */
void xfer__req_sent(XFER *e) { set_state(e, XFER_ST_RECEIVING); }

static void begin_request(XFER *e) {
  uint64_t now = xfer__now();
  struct xfer_conn *c = e->conn;
  set_state(e, XFER_ST_SENDING);
  c->requests++;
  e->got_bytes = 0;
  e->discard_body = 0;
  e->resp_final = 0;
  xfer__ce_reset(e);
  xfer__decode_free(e); /* an earlier attempt's (a retry) */
  e->t_pretransfer = now - e->t_start;
  if (!e->t_connect) e->t_connect = e->t_pretransfer;
  if (!e->t_appconnect && e->u.scheme == XFER_SCHEME_HTTPS)
    e->t_appconnect = e->t_connect;
  if (!e->t_namelookup) e->t_namelookup = e->t_pretransfer;
  memcpy(e->primary_ip, c->primary_ip, sizeof(e->primary_ip));
  memcpy(e->local_ip, c->local_ip, sizeof(e->local_ip));
  e->conn_id = c->id;
  e->primary_port = c->primary_port;
  e->local_port = c->local_port;
  if (e->set.low_speed_limit > 0 && e->set.low_speed_time > 0) {
    e->ls_check_at = now + 1000000;
    e->ls_bytes_at_check = 0;
    e->ls_below_since = 0;
  }
  if (!e->set.noprogress && e->set.xferinfofn) e->progress_at = now + 1000000;
  e->rate_start = now;
  e->rate_dl = e->size_dl;
  e->rate_ul = e->size_ul;
  xfer__recompute_timer(e);
  c->proto->submit(c, e);
}

void xfer__on_connected(XFER *e) { begin_request(e); }

static void follow_redirect(XFER *e);
static void auth_resend(XFER *e);

/* ---- the response, from the protocol handler ---- */

void xfer__resp_started(XFER *e) {
  if (e->got_bytes) return;
  e->got_bytes = 1;
  e->t_starttransfer = xfer__now() - e->t_start;
}

static int name_is(const char *h, size_t nlen, const char *name) {
  return strlen(name) == nlen && xfer__strcasecmp_n(h, name, nlen) == 0;
}

/* Retry-After: delay-seconds, or an HTTP-date (then the seconds from now,
 * 0 when past).  -1 when it is neither. */
static xfer_off_t retry_after(const char *v, size_t n) {
  char buf[64];
  struct tm tm;
  const char *end;
  xfer_off_t s = 0;
  size_t i;
  for (i = 0; i < n && v[i] >= '0' && v[i] <= '9'; i++)
    if ((s = s * 10 + (v[i] - '0')) > ((xfer_off_t)1 << 40)) return -1;
  if (i && i == n) return s;
  if (n >= sizeof(buf)) return -1;
  memcpy(buf, v, n);
  buf[n] = 0;
  memset(&tm, 0, sizeof(tm));
  end = strptime(buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end || *end) return -1;
  s = (xfer_off_t)timegm(&tm) - (xfer_off_t)time(NULL);
  return s > 0 ? s : 0;
}

int xfer__resp_header(XFER *e, const char *raw, size_t rawlen,
                      const char *name, size_t nlen, const char *value,
                      size_t vlen) {
  e->header_size += (long)rawlen;
  if (!name && rawlen > 5 && memcmp(raw, "HTTP/", 5) == 0) {
    /* A status line: a new header section (after a 1xx) */
    free(e->content_type);
    e->content_type = NULL;
    e->retry_after = 0;
    e->resp_final = 0;
    e->cookies_resp = 0;
    xfer__ce_reset(e);
    xfer__auth_section(e, raw, rawlen);
  } else if (name && nlen == 10 && e->cookies && !e->resp_final &&
             name_is(name, nlen, "Set-Cookie")) {
    int rc = xfer__cookie_resp(e, value, vlen); /* not from trailers */
    if (rc) return rc;
  } else if (name && nlen == 16 && e->resp_401 && !e->resp_final &&
             name_is(name, nlen, "WWW-Authenticate")) {
    int rc = xfer__auth_challenge(e, value, vlen);
    if (rc) return rc;
  } else if (name && nlen == 18 && e->resp_407 && !e->resp_final &&
             e->px.absolute && name_is(name, nlen, "Proxy-Authenticate")) {
    int rc = xfer__proxy_auth_challenge(e, value, vlen);
    if (rc) return rc;
  } else if (name && nlen == 16 && !e->resp_final &&
             name_is(name, nlen, "Content-Encoding")) {
    xfer__ce_field(e, value, vlen); /* not in trailers: too late */
  } else if (name && nlen == 12 && !e->resp_final &&
             name_is(name, nlen, "Content-Type")) {
    char *ct = malloc(vlen + 1);
    if (!ct) return XFERE_OUT_OF_MEMORY;
    memcpy(ct, value, vlen);
    ct[vlen] = 0;
    free(e->content_type);
    e->content_type = ct;
  } else if (name && nlen == 11 && !e->resp_final &&
             name_is(name, nlen, "Retry-After")) {
    xfer_off_t s = retry_after(value, vlen);
    if (s >= 0) e->retry_after = s;
  } else if (name && nlen == 8 && name_is(name, nlen, "Location")) {
    char *loc = malloc(vlen + 1);
    if (!loc) return XFERE_OUT_OF_MEMORY;
    memcpy(loc, value, vlen);
    loc[vlen] = 0;
    free(e->location);
    e->location = loc;
    free(e->redirect_url); /* made again from the new one when asked */
    e->redirect_url = NULL;
  }
  xfer__debug(e, XFERINFO_HEADER_IN, raw, rawlen);
  if (e->set.headerfn || e->set.headerdata)
    return xfer__client_write(e, XFER_PIECE_HEADER, raw, rawlen);
  return 0;
}

int xfer__resp_body(XFER *e, const char *data, size_t len) {
  xfer__debug(e, XFERINFO_DATA_IN, data, len);
  if (e->discard_body) return 0;
  e->size_dl += (xfer_off_t)len;
  return xfer__body_write(e, data, len);
}

int xfer__resp_progress(XFER *e) { return progress(e); }

void xfer__resp_complete(XFER *e) {
  XFERcode rc = (XFERcode)xfer__decode_finish(e);
  if (rc) {
    xfer__done(e, rc);
    return;
  }
  if (e->auth_resend) auth_resend(e);
  else if (e->redirecting) follow_redirect(e);
  else xfer__done(e, XFERE_OK);
}

/* Whether e's request can be sent again: once, and not a body that a
 * read callback gave already. */
static int replayable(const XFER *e) {
  return !e->retried && (!e->reader.type || e->reader.mem);
}

/* Sends e's request again: on a new connection (fresh: the old one died
 * under it), or wherever there is room (the server refused it). */
static void retry(XFER *e, int fresh) {
  /* Not the transfer's failure: forget its message (libcurl does not
   * report it either), so that a success leaves ERRORBUFFER empty and a
   * failed retry reports its own reason. */
  if (e->set.errorbuffer) e->set.errorbuffer[0] = 0;
  e->retried = 1;
  e->retry_fresh = fresh != 0;
  xfer__conn_done(e, 0); /* HTTP/1.1: closes it; HTTP/2: resets the stream */
  set_state(e, XFER_ST_START);
  e->redirecting = 1; /* keep the current URL and counters */
  xfer__schedule(e);
}

/* A failure on the connection.  A request that failed on a reused
 * connection before any response byte arrived is retried once on a new
 * one, as libcurl does: the server may have closed it just then. */
void xfer__xfer_failed(XFER *e, XFERcode code, int before_any_byte) {
  struct xfer_conn *c = e->conn;
  if (!(c && c->requests > 1 && before_any_byte && replayable(e) &&
        (code == XFERE_GOT_NOTHING || code == XFERE_SEND_ERROR ||
         code == XFERE_RECV_ERROR))) {
    xfer__done(e, code);
    return;
  }
  xfer__verbose(e, "connection died before the response; retrying once");
  retry(e, 1);
}

void xfer__xfer_refused(XFER *e, XFERcode code, const char *why) {
  if (!replayable(e)) {
    xfer__fail(e, "%s", why);
    xfer__done(e, code);
    return;
  }
  xfer__verbose(e, "the server did not process the request; sending it "
                "again");
  retry(e, 0);
}

static int is_redirect(long code) {
  return code == 301 || code == 302 || code == 303 || code == 307 ||
         code == 308;
}

int xfer__resp_headers_done(XFER *e, int status, xfer_off_t content_length) {
  e->response_code = status;
  e->content_length = content_length;
  e->resp_final = 1;
  /* A 401 answered with credentials (or a probe answered without them):
   * the request goes again once this response is read and dropped. */
  if (xfer__auth_response(e, status)) {
    e->auth_resend = 1;
    e->discard_body = 1;
    return 0;
  }
  if (e->set.followlocation && is_redirect(status) && e->location) {
    e->redirecting = 1;
    e->discard_body = 1;
    return 0;
  }
  if (e->set.failonerror && status >= 400) {
    xfer__fail(e, "The requested URL returned error: %d", status);
    return XFERE_HTTP_RETURNED_ERROR;
  }
  /* A body announced over the limit fails before it comes (libcurl);
   * one that grows past it fails when it does (body.c). */
  if (e->set.max_filesize > 0 && content_length > e->set.max_filesize &&
      !e->method_head && status != 204 && status != 304) {
    xfer__fail(e, "Maximum file size exceeded: the body is %lld bytes, "
               "MAXFILESIZE is %lld", (long long)content_length,
               (long long)e->set.max_filesize);
    return XFERE_FILESIZE_EXCEEDED;
  }
  return xfer__decode_start(e);
}

static int redirect_allowed(XFER *e, const char *to) {
  struct xfer_url u;
  if (xfer__url_parse(to, strlen(to), &u)) return 0;
  return (e->set.redir_protocols & (1 << u.scheme)) != 0;
}

static void follow_redirect(XFER *e) {
  int err = 0;
  char *to;
  long max = e->set.maxredirs, status = e->response_code;
  if (max >= 0 && e->redirect_count >= max) {
    xfer__fail(e, "Maximum (%ld) redirects followed", max);
    xfer__done(e, XFERE_TOO_MANY_REDIRECTS);
    return;
  }
  to = xfer__url_resolve(e->url, e->location, strlen(e->location), &err);
  if (!to) {
    xfer__fail(e, "bad redirect target: %s", e->location);
    xfer__done(e, (XFERcode)err);
    return;
  }
  if (!redirect_allowed(e, to)) {
    xfer__fail(e, "redirect to a protocol REDIR_PROTOCOLS_STR does not allow: "
               "%.100s", to);
    free(to);
    xfer__done(e, XFERE_UNSUPPORTED_PROTOCOL);
    return;
  }
  /* 301/302 turn a POST (not a PUT) into a GET, 303 turns anything but
   * HEAD into a GET (libcurl's default); 307 and 308 keep the method and
   * body. */
  if ((status == 303 && !e->method_head) ||
      ((status == 301 || status == 302) &&
       (e->has_body || (e->auth && e->auth->probe)) &&
       !e->set.upload && !e->set.customrequest))
    e->method_get = 1;
  if (!e->method_get && e->reader.type) {
    XFERcode rc = (XFERcode)e->reader.type->rewind(&e->reader);
    if (rc) {
      free(to);
      xfer__done(e, rc);
      return;
    }
  }
  xfer__verbose(e, "redirect %ld to %s", status, to);
  xfer__conn_done(e, 1); /* the response was complete */
  if (e->url != e->set.url) free(e->url);
  e->url = to;
  free(e->location);
  e->location = NULL;
  e->redirect_count++;
  e->retried = e->retry_fresh = 0;
  xfer__auth_redirected(e);
  set_state(e, XFER_ST_START);
  xfer__schedule(e);
}

/* The same URL again, for authentication (auth.c): a body is read again
 * from its start (a read callback that gave some cannot be, as for a
 * redirect); the connection is kept when the protocol allows. */
static void auth_resend(XFER *e) {
  e->auth_resend = 0;
  if (e->reader.type && !e->method_get) {
    XFERcode rc = (XFERcode)e->reader.type->rewind(&e->reader);
    if (rc) {
      xfer__done(e, rc);
      return;
    }
  }
  xfer__verbose(e, "sending the request again (authentication)");
  xfer__conn_done(e, 1); /* the response was complete */
  e->retried = e->retry_fresh = 0;
  set_state(e, XFER_ST_START);
  e->redirecting = 1; /* keep the current URL and counters */
  xfer__schedule(e);
}

/* The proxy asked for credentials and closed (tunnel.c): the CONNECT
 * goes again, with them, on a new connection, as libcurl's does. */
void xfer__xfer_reconnect(XFER *e) {
  xfer__verbose(e, "the proxy closed the connection after its 407; "
                "connecting again");
  xfer__conn_done(e, 0);
  e->retry_fresh = 1;
  set_state(e, XFER_ST_START);
  e->redirecting = 1; /* keep the current URL and counters */
  xfer__schedule(e);
}

static void start(XFER *e) {
  XFERcode rc;
  if (!e->redirecting) {
    /* A fresh run of this easy handle (added, or re-added after done). */
    if (!e->set.url) {
      xfer__fail(e, "No URL set");
      xfer__done(e, XFERE_URL_MALFORMAT);
      return;
    }
    if (e->url && e->url != e->set.url) free(e->url);
    e->url = e->set.url;
    free(e->body_retired); /* the last run's body, replaced meanwhile */
    e->body_retired = NULL;
    e->method_get = 0;
    e->h1_only = 0;
    xfer__auth_run_start(e);
    if ((rc = xfer__cookies_run_start(e))) { /* reads COOKIEFILE */
      xfer__done(e, rc);
      return;
    }
    e->http_connectcode = e->proxy_error = e->proxy_ssl_verifyresult = 0;
    free(e->location);
    e->location = NULL;
  }
  /* A handle re-added with the same URL option (the usual way to re-arm
   * one) keeps its parse; a redirect's run parsed another URL into u. */
  if (e->redirecting || !e->url_parsed) {
    rc = (XFERcode)xfer__url_parse(e->url, strlen(e->url), &e->u);
    e->url_parsed = !rc && e->url == e->set.url;
    if (rc) {
      xfer__fail(e, "bad URL: %s", e->url);
      xfer__done(e, rc);
      return;
    }
  }
  e->redirecting = 0;
  /* The proxies for this URL, from the options and the environment as
   * they are now (libcurl reads them per request, not at setopt). */
  rc = (XFERcode)xfer__proxy_route(e);
  if (rc) {
    xfer__done(e, rc);
    return;
  }
  rc = xfer__req_check(e);
  if (rc) {
    xfer__done(e, rc);
    return;
  }
  rc = (XFERcode)xfer__conn_acquire(e);
  if (rc) xfer__done(e, rc);
}

/* Runs the work scheduled for e (see xfer__schedule). */
void xfer__step(XFER *e) {
  if (!e->multi || e->state == XFER_ST_DONE) return;
  switch (e->state) {
  case XFER_ST_START:
    start(e);
    break;
  case XFER_ST_GRANTED: {
    XFERcode rc = (XFERcode)xfer__conn_acquire(e);
    if (rc) xfer__done(e, rc);
    break;
  }
  case XFER_ST_SENDING:
    /* Handed an idle connection by the transfer that used it last. */
    if (e->conn && e->conn->requests == 0) e->t_connect = since_start(e);
    begin_request(e);
    break;
  default:
    break;
  }
}

void xfer__timer_expired(XFER *e, uint64_t now) {
  if (e->set.timeout_ms > 0 &&
      now >= e->t_start + xfer__span(e->set.timeout_ms, 1000)) {
    xfer__fail(e, "Operation timed out after %ld milliseconds",
               e->set.timeout_ms);
    xfer__done(e, XFERE_OPERATION_TIMEDOUT);
    return;
  }
  if (e->conn && (e->state == XFER_ST_RESOLVING ||
                  e->state == XFER_ST_CONNECTING)) {
    long cto = e->set.connecttimeout_ms > 0 ? e->set.connecttimeout_ms
                                            : XFER_DEFAULT_CONNECTTIMEOUT_MS;
    if (now >= e->conn->connect_start + xfer__span(cto, 1000)) {
      xfer__fail(e, "Connection timed out after %ld milliseconds", cto);
      xfer__done(e, XFERE_OPERATION_TIMEDOUT);
      return;
    }
    if (e->conn->he_at && now >= e->conn->he_at) {
      /* happy eyeballs: the other address family's turn to race */
      xfer__hold(e);
      xfer__conn_event(e->conn, 0);
      if (xfer__unhold(e) || e->state == XFER_ST_DONE) return;
      xfer__recompute_timer(e);
      return;
    }
  }
  if ((e->wake_at && now >= e->wake_at) || (e->rate_at && now >= e->rate_at)) {
    int stop;
    xfer__hold(e);
    xfer__resume(e);
    stop = e->state != XFER_ST_SENDING && e->state != XFER_ST_RECEIVING;
    if (xfer__unhold(e) || stop) return;
  }
  /* A paused transfer is not checked for low speed (libcurl: it does not
   * qualify); its window starts again when it is unpaused.  Nor is one
   * busy decoding what came (a bomb takes turns while the wire is quiet):
   * its window starts again at each check until the decoders are through. */
  if (e->ls_check_at && now >= e->ls_check_at && e->dec_pending) {
    e->ls_check_at = now + 1000000;
    e->ls_bytes_at_check = e->size_dl + e->size_ul;
    e->ls_below_since = 0;
  } else if (e->ls_check_at && now >= e->ls_check_at && !e->paused &&
             (e->state == XFER_ST_SENDING || e->state == XFER_ST_RECEIVING)) {
    xfer_off_t moved = e->size_dl + e->size_ul - e->ls_bytes_at_check;
    uint64_t span = now - (e->ls_check_at - 1000000);
    e->ls_bytes_at_check = e->size_dl + e->size_ul;
    e->ls_check_at = now + 1000000;
    if ((uint64_t)moved * 1000000 < (uint64_t)e->set.low_speed_limit * span) {
      if (!e->ls_below_since) e->ls_below_since = now - span;
      if (now - e->ls_below_since >=
          xfer__span(e->set.low_speed_time, 1000000)) {
        xfer__fail(e,
                   "Operation too slow. Less than %ld bytes/sec transferred "
                   "the last %ld seconds", e->set.low_speed_limit,
                   e->set.low_speed_time);
        xfer__done(e, XFERE_OPERATION_TIMEDOUT);
        return;
      }
    } else {
      e->ls_below_since = 0;
    }
  }
  if (e->progress_at && now >= e->progress_at) {
    int stop;
    e->progress_at = now + 1000000;
    xfer__hold(e);
    stop = progress(e);
    if (xfer__unhold(e) || stop) return;
  }
  xfer__recompute_timer(e);
}

/* The one way out of a run, for every exit (done, removed, multi
 * cleanup): e lets go of its connection (kept for the next transfer when
 * ok and the protocol says so), its place in a queue, its timer and its
 * scheduled step. */
static void end_run(XFER *e, int ok) {
  if (e->conn) xfer__conn_done(e, ok);
  xfer__unqueue(e);
  xfer__easy_disarm(e);
  if (e->in_ready) {
    xfer_queue_remove(&e->qlink);
    e->in_ready = 0;
  }
  e->ls_check_at = e->progress_at = 0;
  xfer__decode_free(e);
  xfer__pause_reset(e);
}

/* Ends the transfer with code and queues its message. */
void xfer__done(XFER *e, XFERcode code) {
  XFERM *m = e->multi;
  if (!m || e->state == XFER_ST_DONE) return;
  if (code && e->set.errorbuffer && !e->set.errorbuffer[0])
    xfer__fail(e, "%s", xfer_easy_strerror(code));
  end_run(e, code == XFERE_OK);
  e->t_total = since_start(e);
  set_state(e, XFER_ST_DONE);
  e->result = code;
  e->msg.msg = XFERMSG_DONE;
  e->msg.easy_handle = e;
  e->msg.data.result = code;
  xfer_queue_insert_tail(&m->msgs, &e->msglink);
  m->nmsgs++;
  m->num_running--;
}

/* Takes e out of its multi handle (remove_handle, multi cleanup, and a
 * cleanup of an added handle).  Frames that still use e or its connection
 * hold them: those are freed when they let go.  A handle whose cleanup was
 * asked for and that nobody holds is freed here. */
void xfer__detach(XFER *e) {
  XFERM *m = e->multi;
  if (!m) return;
  if (e->state != XFER_ST_DONE) m->num_running--;
  end_run(e, 0);
  if (xfer_queue_linked(&e->msglink)) m->nmsgs--;
  xfer_queue_remove(&e->msglink);
  xfer_queue_remove(&e->mlink);
  m->num_easy--;
  e->multi = NULL;
  e->state = XFER_ST_INIT;
  if (e->free_pending && !e->busy) xfer__easy_free(e);
}
