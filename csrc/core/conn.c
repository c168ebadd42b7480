/*
 * conn.c -- connections and the connection cache: host buckets, the limits
 * MAX_TOTAL_CONNECTIONS / MAX_HOST_CONNECTIONS with their FIFO queues,
 * idle connections bounded by MAXCONNECTS, non-blocking connect() over the
 * resolved addresses, and closing.
 *
 * Queueing rule: a freed slot wakes exactly one waiting transfer, and
 * reserves the slot for it (the counts go up at once), so a transfer that
 * starts later cannot take it first.  Every operation is O(1) except the
 * hash lookup of a host bucket.
 */

#include "xfer_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- host buckets ---- */

static uint32_t hash_str(const char *s) {
  uint32_t h = 2166136261u; /* FNV-1a */
  while (*s) {
    h ^= (unsigned char)*s++;
    h *= 16777619u;
  }
  return h;
}

static int hosts_grow(XFERM *m) {
  uint32_t n = m->hosts_mask ? (m->hosts_mask + 1) * 2 : 64, i;
  struct xfer_host **t = calloc(n, sizeof(*t));
  if (!t) return -1;
  for (i = 0; m->hosts && i <= m->hosts_mask; i++) {
    struct xfer_host *h = m->hosts[i], *next;
    for (; h; h = next) {
      next = h->hnext;
      h->hnext = t[h->hash & (n - 1)];
      t[h->hash & (n - 1)] = h;
    }
  }
  free(m->hosts);
  m->hosts = t;
  m->hosts_mask = n - 1;
  return 0;
}

static struct xfer_host *host_get(XFERM *m, const char *key) {
  uint32_t hv = hash_str(key);
  struct xfer_host *h;
  size_t len;
  if (m->hosts)
    for (h = m->hosts[hv & m->hosts_mask]; h; h = h->hnext)
      if (h->hash == hv && strcmp(h->key, key) == 0) return h;
  if ((!m->hosts || m->nhosts > m->hosts_mask) && hosts_grow(m)) return NULL;
  len = strlen(key);
  h = calloc(1, sizeof(*h) + len);
  if (!h) return NULL;
  memcpy(h->key, key, len + 1);
  h->hash = hv;
  xfer_queue_init(&h->idle);
  xfer_queue_init(&h->waitq);
  xfer_queue_init(&h->pendq);
  xfer_queue_init(&h->wlink);
  xfer_queue_init(&h->mux);
  xfer_queue_init(&h->pipewait);
  h->hnext = m->hosts[hv & m->hosts_mask];
  m->hosts[hv & m->hosts_mask] = h;
  m->nhosts++;
  return h;
}

void xfer__hosts_free(XFERM *m) {
  uint32_t i;
  for (i = 0; m->hosts && i <= m->hosts_mask; i++) {
    struct xfer_host *h = m->hosts[i], *next;
    for (; h; h = next) {
      next = h->hnext;
      xfer__tls_session_free(h->tls_session);
      free(h);
    }
  }
  free(m->hosts);
  m->hosts = NULL;
}

/* ---- queueing ---- */

/* Puts e at the tail of a FIFO: a host's waitq (host_q) or the multi's
 * pending queue.  waiting_host is e's own host either way. */
static void enqueue(XFER *e, struct xfer_queue *q, struct xfer_host *h,
                    int host_q) {
  XFERM *m = e->multi;
  xfer_queue_remove(&e->qlink);
  e->in_ready = 0;
  xfer_queue_insert_tail(q, &e->qlink);
  xfer_queue_remove(&e->hlink);
  if (q == &m->pending) xfer_queue_insert_tail(&h->pendq, &e->hlink);
  e->waiting_host = h;
  if (host_q && !xfer_queue_linked(&h->wlink))
    xfer_queue_insert_tail(&m->hosts_waiting, &h->wlink);
  e->state = XFER_ST_QUEUED;
  xfer__recompute_timer(e);
}

/* A slot counted for h (total and host) that is not used after all: the
 * next waiter gets it. */
static void slot_unused(XFERM *m, struct xfer_host *h) {
  m->nconns--;
  h->nconns--;
  xfer__wake_waiters(m, h);
}

/* Takes e out of whichever queue it waits in; a slot reserved for it goes
 * to the next waiter. */
void xfer__unqueue(XFER *e) {
  XFERM *m = e->multi;
  struct xfer_host *h = e->waiting_host;
  e->waiting_host = NULL;
  if (e->reserved_slot) {
    e->reserved_slot = 0;
    slot_unused(m, h);
    return;
  }
  if (e->state != XFER_ST_QUEUED || e->in_ready) return;
  xfer_queue_remove(&e->qlink);
  xfer_queue_remove(&e->hlink);
  if (h && xfer_queue_empty(&h->waitq)) xfer_queue_remove(&h->wlink);
}

static XFER *pop(struct xfer_queue *q) {
  XFER *e;
  if (xfer_queue_empty(q)) return NULL;
  e = xfer_queue_data(xfer_queue_head(q), XFER, qlink);
  xfer_queue_remove(&e->qlink);
  xfer_queue_remove(&e->hlink);
  return e;
}

static void hand_off(struct xfer_conn *c, XFER *e);
static struct xfer_conn *idle_take(struct xfer_host *h, const XFER *e);

/* Whether c may carry e's request: through a proxy, the bucket is the
 * proxy's, and the route (proxies, credentials, and the origin of a
 * tunnel) must be e's as well. */
static int route_fits(const struct xfer_conn *c, const XFER *e) {
  if (!c->route || !e->px.key) return !c->route && !e->px.key;
  return strcmp(c->route, e->px.key) == 0;
}

/* Reserves a slot (total, and host) for e and schedules it. */
static void grant(XFER *e, struct xfer_host *h) {
  XFERM *m = e->multi;
  m->nconns++;
  h->nconns++;
  e->reserved_slot = 1;
  e->waiting_host = h; /* the bucket whose count holds the reservation */
  xfer__schedule(e);
  e->state = XFER_ST_GRANTED;
}

static int total_full(XFERM *m) {
  return m->max_total && m->nconns >= m->max_total;
}

static int host_full(XFERM *m, struct xfer_host *h) {
  return m->max_host && h->nconns >= m->max_host;
}

/* FRESH_CONNECT, or the retry after a reused connection failed: never
 * handed a kept connection. */
static int wants_fresh(const XFER *e) {
  return e->set.fresh_connect || e->retry_fresh;
}

/* A slot may be free: wake waiters while one is.  Host waiters of h first
 * (the freed slot was theirs), then the global FIFO. */
void xfer__wake_waiters(XFERM *m, struct xfer_host *h) {
  XFER *e;
  while (h && !xfer_queue_empty(&h->waitq) && !host_full(m, h) &&
         !total_full(m)) {
    e = pop(&h->waitq);
    e->waiting_host = NULL;
    if (xfer_queue_empty(&h->waitq)) xfer_queue_remove(&h->wlink);
    grant(e, h);
  }
  while (!xfer_queue_empty(&m->pending) && !total_full(m)) {
    struct xfer_host *eh;
    struct xfer_conn *c;
    e = pop(&m->pending);
    m->head_passed = 0; /* a new first in line */
    eh = e->waiting_host;
    e->waiting_host = NULL;
    if (!wants_fresh(e) && (c = idle_take(eh, e)) != NULL) {
      hand_off(c, e);
      continue;
    }
    if (host_full(m, eh)) {
      enqueue(e, &eh->waitq, eh, 1);
      continue;
    }
    grant(e, eh);
  }
}

/* The limits changed: raising them frees slots.  Lowering them closes
 * nothing, as libcurl documents. */
void xfer__limits_changed(XFERM *m) {
  struct xfer_queue *q, *next;
  for (q = m->hosts_waiting.next; q != &m->hosts_waiting; q = next) {
    next = q->next;
    xfer__wake_waiters(m, xfer_queue_data(q, struct xfer_host, wlink));
  }
  xfer__wake_waiters(m, NULL);
  /* With no handle added the default MAXCONNECTS (4 x the added handles)
   * is 0: trimming to it would close every idle connection whenever a
   * limit is set between transfers.  libcurl checks the default only when
   * a connection is returned. */
  if (m->maxconnects || m->num_easy) xfer__enforce_maxconnects(m);
}

/* ---- idle connections ---- */

static void idle_unlink(struct xfer_conn *c) {
  if (c->state != XFER_CS_IDLE) return;
  xfer_queue_remove(&c->link);
  xfer_queue_remove(&c->ilink);
  xfer_queue_remove(&c->flink);
  c->multi->nidle--;
}

static void mux_link(struct xfer_conn *c);

static struct xfer_conn *idle_take(struct xfer_host *h, const XFER *e) {
  struct xfer_conn *c;
  struct xfer_queue *q = h ? h->idle.next : NULL;
  while (q && q != &h->idle) {
    c = xfer_queue_data(q, struct xfer_conn, link);
    if (!route_fits(c, e)) {
      q = q->next;
      continue;
    }
    /* Bytes that arrived while it was idle, in TLS where no socket event
     * tells: HTTP/1.1 has nothing to hear (never someone else's response),
     * HTTP/2 answers them (PING, SETTINGS) or learns it is going away. */
    if (c->proto->capacity(c) < 1 ||
        ((c->unwatched || xfer__conn_pending(c)) && c->proto->idle_event(c))) {
      xfer__conn_close(c);
      q = h->idle.next; /* the close may have woken others: start over */
      continue;
    }
    idle_unlink(c);
    c->unwatched = 0;
    c->state = XFER_CS_ACTIVE;
    mux_link(c);
    return c;
  }
  return NULL;
}

/* ---- multiplexed connections (HTTP/2) ---- */

static void mux_link(struct xfer_conn *c) {
  if (c->multiplex && !xfer_queue_linked(&c->mlink))
    xfer_queue_insert_tail(&c->host->mux, &c->mlink);
}

/* A connection of h that takes one more transfer now, or NULL.  The list
 * holds at most MAX_HOST_CONNECTIONS of them. */
static struct xfer_conn *mux_take(struct xfer_host *h, const XFER *e) {
  struct xfer_queue *q;
  for (q = h->mux.next; q != &h->mux; q = q->next) {
    struct xfer_conn *c = xfer_queue_data(q, struct xfer_conn, mlink);
    if (c->state == XFER_CS_ACTIVE && !c->closing && !c->no_reuse &&
        route_fits(c, e) &&
        c->proto->capacity(c) > 0)
      return c;
  }
  return NULL;
}

/* The socket callback changed: the new one watches the idle connections
 * the old one did (announced at the next call) until a sweep; without one
 * there is nobody to sweep for. */
void xfer__conn_watcher_changed(XFERM *m) {
  struct xfer_queue *q;
  for (q = m->idle.next; q != &m->idle; q = q->next) {
    struct xfer_conn *c = xfer_queue_data(q, struct xfer_conn, ilink);
    xfer_queue_remove(&c->flink);
    if (m->socketfn && !c->unwatched) {
      if (xfer_queue_empty(&m->idle_fresh)) m->idle_sweep_at = xfer__now();
      c->idle_call = m->call_no;
      xfer_queue_insert_tail(&m->idle_fresh, &c->flink);
    }
  }
}

/* Idle connections leave the application's watch set (POLL_REMOVE), so
 * that its loop, run until nothing is left, ends when the transfers do.
 * Called when the application's timer fires (socket_action's TIMEOUT, and
 * perform): after the transfers added since the last call have taken what
 * they need, and only for connections that went idle before this call, so
 * a program that re-adds handles from info_read keeps its connections
 * watched and pays no socket-callback call per request. */
void xfer__conn_sweep(XFERM *m) {
  while (!xfer_queue_empty(&m->idle_fresh)) {
    struct xfer_conn *c = xfer_queue_data(xfer_queue_head(&m->idle_fresh),
                                          struct xfer_conn, flink);
    if (c->idle_call == m->call_no) {
      m->idle_sweep_at = xfer__now(); /* the next timer run takes it */
      return;
    }
    xfer_queue_remove(&c->flink);
    c->unwatched = 1;
    xfer__sock_unwatch(m, c->fd);
  }
}

static long maxconnects(XFERM *m) {
  long n = m->maxconnects;
  if (!n) {
    n = 4L * m->num_easy;
    if (m->max_total && n > m->max_total) n = m->max_total;
  }
  return n;
}

void xfer__enforce_maxconnects(XFERM *m) {
  long max = maxconnects(m);
  while (m->nidle > max && !xfer_queue_empty(&m->idle))
    xfer__conn_close(xfer_queue_data(xfer_queue_head(&m->idle),
                                     struct xfer_conn, ilink));
}

static void hand_off(struct xfer_conn *c, XFER *e) {
  c->state = XFER_CS_ACTIVE;
  c->easy = e;
  c->ntransfers++;
  e->conn = c;
  e->state = XFER_ST_SENDING;
  if (!e->t_queue) e->t_queue = xfer__now() - e->t_start;
  xfer__schedule(e);
}

/* The transfer next in line for a connection (or a stream) of h: the
 * head of h's queue, else the head of the global queue when it is h's,
 * taken out of its queue.  NULL when there is none, or when that one
 * must not reuse a connection (*fresh set; it stays queued). */
static XFER *take_waiter(struct xfer_conn *c, int *fresh) {
  XFERM *m = c->multi;
  struct xfer_host *h = c->host;
  XFER *e, *head = NULL;
  *fresh = 0;
  if (!xfer_queue_empty(&h->waitq)) {
    e = xfer_queue_data(xfer_queue_head(&h->waitq), XFER, qlink);
  } else if (!xfer_queue_empty(&h->pendq)) {
    /* The first of its host's transfers in the global FIFO, though
     * another host's stands first: c then costs nobody a slot, where
     * closing it for the other host makes this one connect again (W12).
     * The first in line is passed over at most once per connection the
     * total limit allows, then gets its slot. */
    e = xfer_queue_data(xfer_queue_head(&h->pendq), XFER, hlink);
    head = xfer_queue_data(xfer_queue_head(&m->pending), XFER, qlink);
    if (head != e && m->head_passed >= (m->max_total ? m->max_total : 1))
      return NULL;
  } else {
    return NULL;
  }
  /* Another route through the same proxy: it wants a connection of its
   * own, as a FRESH_CONNECT one does. */
  if (wants_fresh(e) || !route_fits(c, e)) {
    *fresh = 1;
    return NULL;
  }
  if (head == e) m->head_passed = 0; /* a new first in line */
  else if (head) m->head_passed++;
  xfer_queue_remove(&e->qlink);
  xfer_queue_remove(&e->hlink);
  if (xfer_queue_empty(&h->waitq)) xfer_queue_remove(&h->wlink);
  e->waiting_host = NULL;
  return e;
}

/* A multiplexed connection has streams free: they go to the transfers
 * that wait for its host, in FIFO order.  No connection slot is taken, so
 * nobody else waits longer for it. */
static void mux_offer(struct xfer_conn *c) {
  XFER *e;
  int fresh;
  if (!c->multiplex || c->state != XFER_CS_ACTIVE || c->closing ||
      c->no_reuse)
    return;
  while (c->proto->capacity(c) > 0 &&
         (e = take_waiter(c, &fresh)) != NULL)
    hand_off(c, e);
}

/* The protocol's capacity grew (the server's SETTINGS). */
void xfer__conn_capacity_changed(struct xfer_conn *c) { mux_offer(c); }

/* A transfer finished with its connection: keep it for the next one, or
 * close it. */
static void conn_release(struct xfer_conn *c) {
  XFERM *m = c->multi;
  struct xfer_host *h = c->host;
  XFER *e;
  int fresh;
  c->easy = NULL;
  if ((e = take_waiter(c, &fresh)) != NULL) {
    hand_off(c, e);
    return;
  }
  /* A waiter that wants a connection of its own gets c's slot (closing c
   * wakes it); so does another host's at the total limit: the slot is
   * worth more to it than an idle connection. */
  if (fresh || (!xfer_queue_empty(&m->pending) && total_full(m))) {
    xfer__conn_close(c);
    return;
  }
  c->state = XFER_CS_IDLE;
  xfer_queue_remove(&c->mlink);
  xfer_queue_insert_head(&h->idle, &c->link);
  xfer_queue_insert_tail(&m->idle, &c->ilink);
  m->nidle++;
  if (m->socketfn) { /* the application watches it: until the sweep */
    if (xfer_queue_empty(&m->idle_fresh)) m->idle_sweep_at = xfer__now();
    c->idle_call = m->call_no;
    xfer_queue_insert_tail(&m->idle_fresh, &c->flink);
  }
  xfer__enforce_maxconnects(m);
}

/* e is done with its connection: kept for the next transfer when the
 * protocol says the exchange ended cleanly (ok: the response was complete
 * and taken) and FORBID_REUSE does not forbid it, else closed. */
void xfer__conn_done(XFER *e, int ok) {
  struct xfer_conn *c = e->conn;
  int keep;
  if (!c) return;
  keep = c->state == XFER_CS_ACTIVE && !c->closing && c->ps &&
         c->proto->detach(c, e, ok) && !e->set.forbid_reuse && c->fd >= 0;
  e->conn = NULL;
  if (c->easy == e) c->easy = NULL;
  if (c->ntransfers > 0) c->ntransfers--;
  if (!keep) c->no_reuse = 1;
  if (c->ntransfers > 0) {
    /* Others still use it (HTTP/2): a freed stream goes to a waiter. */
    if (!c->no_reuse) mux_offer(c);
    return;
  }
  if (!c->no_reuse) conn_release(c);
  else xfer__conn_close(c);
}

/* ---- acquiring a connection ---- */

/* What besides scheme://host:port decides where a connection goes: the
 * addresses a RESOLVE entry pins for this host and port, and IPRESOLVE.
 * A transfer without the pin (or with another one) must not be handed a
 * connection made to a pinned address, nor a v6-only one a v4 one.
 * Written like xfer__tls_key: the length needed is returned. */
/* The host and port a connection for e goes to: the URL's, or where
 * CONNECT_TO sends it. */
static struct xfer_target target(const XFER *e) {
  struct xfer_target r;
  r.host = e->url + e->u.host_off;
  r.hostlen = e->u.host_len;
  r.port = e->u.port;
  if (e->set.connect_to && !e->px.active) /* a proxy goes by the URL */
    xfer__connect_to(e, r.host, r.hostlen, r.port, &r);
  return r;
}

/* Appends n bytes at len when they fit below cap: the key is measured and
 * written by the same walk. */
static size_t put(char *buf, size_t cap, size_t len, const char *s, size_t n) {
  if (len + n < cap) {
    memcpy(buf + len, s, n);
    buf[len + n] = 0;
  }
  return len + n;
}

static size_t route_key(XFER *e, char *buf, size_t cap) {
  struct xfer_target r = target(e);
  int moved = r.host != e->url + e->u.host_off || r.port != e->u.port;
  const char *pin = e->set.resolve
      ? xfer__dns_pin(e, r.host, r.hostlen, r.port, NULL)
      : NULL;
  size_t len = 0;
  char mark[3], port[8];
  if (pin || e->set.ipresolve) {
    mark[0] = '\x03';
    mark[1] = (char)('0' + e->set.ipresolve);
    mark[2] = pin ? '\x03' : '\x02';
    len = put(buf, cap, len, mark, 3);
    if (pin) len = put(buf, cap, len, pin, strlen(pin));
  }
  if (e->set.unix_socket_path) { /* the socket, not the name, is where */
    len = put(buf, cap, len, e->set.abstract_unix ? "\x05@" : "\x05/", 2);
    len = put(buf, cap, len, e->set.unix_socket_path,
              strlen(e->set.unix_socket_path));
  } else if (moved) {
    len = put(buf, cap, len, "\x06", 1);
    len = put(buf, cap, len, r.host, r.hostlen);
    snprintf(port, sizeof(port), ":%u", (unsigned)r.port);
    len = put(buf, cap, len, port, strlen(port));
  }
  return len;
}

/* Whether e's connection may speak HTTP/2: offered through ALPN over
 * https unless HTTP/1.1 is asked for (or required by the server); over
 * http only with prior knowledge (no Upgrade: dance). */
static int h2_wanted(const XFER *e) {
  if (e->h1_only || e->px.absolute) return 0; /* HTTP/1.1 to a proxy */
  if (e->u.scheme == XFER_SCHEME_HTTPS)
    return e->set.http_version != XFER_HTTP_VERSION_1_1;
  return e->set.http_version == XFER_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
}

/* The connection-cache key: scheme, host, port, the protocols it may
 * speak, the route (route_key), and for https the TLS options, so a
 * connection is only reused where it fits.  Returns the key in buf, or a
 * malloc'd one when buf is too small (the caller frees a key that is not
 * buf), or NULL. */
static char *host_key(XFER *e, char *buf, size_t cap) {
  int n;
  const char *scheme = e->u.scheme == XFER_SCHEME_HTTPS ? "https://"
                                                         : "http://";
  size_t sl = strlen(scheme), rl, tl = 0;
  char *big;
  memcpy(buf, scheme, sl);
  n = xfer__url_hostport(e->url, &e->u, buf + sl, cap - sl);
  if (n < 0) return NULL; /* url.c caps host names far below cap */
  sl += (size_t)n;
  /* The default needs no mark: https offers h2, http speaks HTTP/1.1. */
  if ((e->u.scheme == XFER_SCHEME_HTTPS) != h2_wanted(e)) {
    buf[sl++] = '\x04';
    buf[sl++] = h2_wanted(e) ? '2' : '1';
    buf[sl] = 0;
  }
  rl = route_key(e, buf + sl, cap - sl);
  if (e->u.scheme == XFER_SCHEME_HTTPS)
    tl = xfer__tls_key(e, 0, rl < cap - sl ? buf + sl + rl : buf,
                       rl < cap - sl ? cap - sl - rl : 0);
  if (sl + rl + tl < cap) return buf;
  if (!(big = malloc(sl + rl + tl + 1))) return NULL;
  memcpy(big, buf, sl);
  route_key(e, big + sl, rl + 1);
  if (e->u.scheme == XFER_SCHEME_HTTPS)
    xfer__tls_key(e, 0, big + sl + rl, tl + 1);
  big[sl + rl + tl] = 0;
  return big;
}

/* The name c resolves next, and the port it goes with. */
static void resolve_next(struct xfer_conn *c, const char *name, size_t len,
                         uint16_t port) {
  memcpy(c->hostname, name, len);
  c->hostname[len] = 0;
  c->primary_port = port;
}

/* Through a proxy: the first hop is resolved and connected to; a SOCKS4
 * or SOCKS5 (not 4a, 5h) hop's target is resolved here first. */
static void proxy_names(struct xfer_conn *c, const XFER *e) {
  const struct xfer_route *r = &e->px;
  const struct xfer_hop *first = r->socks.type >= 0 ? &r->socks : &r->http;
  resolve_next(c, first->host, strlen(first->host), first->port);
  if (r->socks.type != XFERPROXY_SOCKS4 && r->socks.type != XFERPROXY_SOCKS5)
    return;
  c->dns_socks = 1;
  if (r->http.type >= 0) {
    c->socks_target_proxy = 1;
    resolve_next(c, r->http.host, strlen(r->http.host), r->http.port);
  } else {
    resolve_next(c, e->url + e->u.host_off, e->u.host_len, e->u.port);
  }
}

static struct xfer_conn *conn_new(XFER *e, struct xfer_host *h) {
  XFERM *m = e->multi;
  struct xfer_target r = target(e);
  struct xfer_conn *c = calloc(1, sizeof(*c) + (e->px.active
                                                    ? XFER_URL_MAX_HOST + 1
                                                    : r.hostlen));
  if (!c) return NULL;
  if (e->px.key && !(c->route = strdup(e->px.key))) {
    free(c);
    return NULL;
  }
  c->multi = m;
  c->fd = -1;
  c->host = h;
  if (e->px.active) proxy_names(c, e);
  else resolve_next(c, r.host, r.hostlen, r.port);
  c->ipresolve = e->set.ipresolve;
  xfer_queue_init(&c->link);
  xfer_queue_init(&c->ilink);
  xfer_queue_init(&c->dnslink);
  xfer_queue_init(&c->flink);
  xfer_queue_insert_tail(&m->conns, &c->alllink);
  xfer_queue_init(&c->mlink);
  xfer_queue_init(&c->qflink);
  c->proto = &xfer__proto_http1; /* until set up: ALPN may say h2 */
  c->connect_start = xfer__now();
  c->id = m->next_conn_id++;
  c->state = XFER_CS_RESOLVING;
  c->easy = e;
  c->ntransfers = 1;
  c->prior_h2 = e->u.scheme != XFER_SCHEME_HTTPS && h2_wanted(e);
  if (h2_wanted(e) && (m->pipelining & XFERPIPE_MULTIPLEX)) {
    c->may_mux = 1;
    h->nsetup_mux++;
  }
  e->conn = c;
  return c;
}

/* e's host bucket.  An origin whose h2 server required HTTP/1.1 has its
 * transfers go to the HTTP/1.1 bucket from then on. */
static struct xfer_host *host_of(XFER *e) {
  char keybuf[512], *key;
  struct xfer_host *h;
  int again = 1;
  for (;;) {
    if (!(key = host_key(e, keybuf, sizeof(keybuf)))) return NULL;
    if (e->px.active) { /* the proxy's bucket, e's route in it */
      size_t n;
      int bad = xfer__proxy_route_key(e, key);
      if (key != keybuf) free(key);
      if (bad) return NULL;
      n = xfer__proxy_bucket_key(e, keybuf, sizeof(keybuf));
      if (n >= sizeof(keybuf)) {
        if (!(key = malloc(n + 1))) return NULL;
        xfer__proxy_bucket_key(e, key, n + 1);
      } else {
        key = keybuf;
      }
    }
    h = host_get(e->multi, key);
    if (key != keybuf) free(key);
    if (!h || !h->h1_required || e->h1_only || !again) return h;
    e->h1_only = 1;
    again = 0;
  }
}

/* Finds e a connection: an idle one to its host, a new one if the limits
 * allow, else a place in a FIFO.  Returns 0 or an XFERcode. */
int xfer__conn_acquire(XFER *e) {
  XFERM *m = e->multi;
  struct xfer_host *h;
  struct xfer_conn *c;
  int reserved = e->reserved_slot;
  if (reserved) {
    h = e->waiting_host;
    e->reserved_slot = 0;
    e->waiting_host = NULL;
  } else {
    if (!(h = host_of(e))) return XFERE_OUT_OF_MEMORY;
  }
  /* A multiplexed connection with a stream free, else an idle one. */
  if (!wants_fresh(e) &&
      (((reserved || xfer_queue_empty(&h->waitq)) &&
        (c = mux_take(h, e)) != NULL) ||
       (c = idle_take(h, e)) != NULL)) {
    if (reserved) slot_unused(m, h); /* the reservation is not needed */
    hand_off(c, e);
    return 0;
  }
  /* PIPEWAIT: a connection being set up may multiplex; wait to know. */
  if (e->set.pipewait && h->nsetup_mux && !wants_fresh(e) && h2_wanted(e) &&
      (m->pipelining & XFERPIPE_MULTIPLEX)) {
    if (reserved) slot_unused(m, h);
    enqueue(e, &h->pipewait, h, 0);
    return 0;
  }
  if (!reserved) {
    /* A transfer that cannot use its host's idle connections (it must
     * not reuse: FRESH_CONNECT, a retry; or they lead elsewhere through
     * the same proxy) would wait for ever behind them, which nothing
     * closes for it: the oldest goes now. */
    while (xfer_queue_empty(&h->waitq) && host_full(m, h) &&
           !xfer_queue_empty(&h->idle))
      xfer__conn_close(xfer_queue_data(xfer_queue_tail(&h->idle),
                                       struct xfer_conn, link));
    if (!xfer_queue_empty(&h->waitq) || host_full(m, h)) {
      enqueue(e, &h->waitq, h, 1);
      return 0;
    }
    if (!xfer_queue_empty(&m->pending) || total_full(m)) {
      if (xfer_queue_empty(&m->pending) && m->nidle) {
        /* Make room by closing the oldest idle connection (another
         * host's: this host has none idle). */
        xfer__conn_close(xfer_queue_data(xfer_queue_head(&m->idle),
                                         struct xfer_conn, ilink));
      }
      if (total_full(m) || !xfer_queue_empty(&m->pending)) {
        enqueue(e, &m->pending, h, 0);
        return 0;
      }
    }
    m->nconns++;
    h->nconns++;
  }
  c = conn_new(e, h);
  if (!c) {
    slot_unused(m, h);
    return XFERE_OUT_OF_MEMORY;
  }
  if (!e->t_queue) e->t_queue = xfer__now() - e->t_start;
  e->num_connects++;
  e->state = XFER_ST_RESOLVING;
  xfer__recompute_timer(e);
  xfer__verbose(e, "new connection to %s", c->hostname);
  if (e->set.unix_socket_path) { /* no name to resolve */
    struct xfer_addrs *a =
        xfer__addrs_unix(e->set.unix_socket_path, e->set.abstract_unix);
    if (!a) return XFERE_OUT_OF_MEMORY;
    xfer__conn_resolved(c, a, 0);
    xfer__addrs_unref(a);
    return 0;
  }
  return xfer__dns_lookup(c, e);
}

/* ---- connect ---- */

static void connect_chain(struct xfer_conn *c, int ev);

static int connect_headers(struct xfer_conn *c, struct xfer_cf *cf, XFER *e);

static void conn_fail(struct xfer_conn *c, XFERcode code) {
  XFER *e = c->easy;
  if (e && e->px_reconnect) {
    /* A 407 the CONNECT answers on a new connection: its lines reach
     * the header callback first, as libcurl's do. */
    struct xfer_cf *cf;
    e->px_reconnect = 0;
    for (cf = c->cf; cf; cf = cf->next)
      if (connect_headers(c, cf, e)) return; /* failed, or went away */
    xfer__xfer_reconnect(e); /* closes c */
    return;
  }
  if (e) xfer__done(e, code); /* closes c */
  else xfer__conn_close(c);
}

/* The filters a connection to e's URL needs: the socket, the proxies'
 * (proxy.c), and TLS for https (named and verified by the URL's host,
 * offering h2 and HTTP/1.1, or HTTP/1.1). */
static int build_chain(struct xfer_conn *c, XFER *e) {
  static const unsigned char alpn_h1[] = "\x08http/1.1";
  static const unsigned char alpn_h2[] = "\x02h2\x08http/1.1";
  struct xfer_cf *cf = xfer__cf_tcp_new(c);
  char name[XFER_URL_MAX_HOST + 1];
  int h2 = h2_wanted(e);
  if (!cf) return -1;
  c->cf = cf;
  if (e->px.active && xfer__proxy_chain(c, e)) return -1;
  if (e->u.scheme == XFER_SCHEME_HTTPS && !e->px.absolute) {
    /* The URL's host, whatever CONNECT_TO or UNIX_SOCKET_PATH connect to */
    memcpy(name, e->url + e->u.host_off, e->u.host_len);
    name[e->u.host_len] = 0;
    cf = xfer__cf_tls_new(c, c->cf, e, name,
                          e->u.host_is_ipv4 || e->u.host_is_ipv6,
                          h2 ? alpn_h2 : alpn_h1,
                          h2 ? sizeof(alpn_h2) - 1 : sizeof(alpn_h1) - 1,
                          e->px.active ? XFER_TLS_NO_SESSION : 0);
    if (!cf) return -1;
    c->cf = cf;
    c->secure = 1;
  }
  return 0;
}

/* A SOCKS4/SOCKS5 hop's target is resolved: its address for the SOCKS
 * request (SOCKS4 takes IPv4 only), and the first hop's name next. */
static void socks_target_resolved(struct xfer_conn *c, struct xfer_addrs *a,
                                  int err) {
  XFER *e = c->easy;
  const struct xfer_addr *pick = NULL;
  int i, rc;
  c->dns_socks = 0;
  if (!e) {
    xfer__conn_close(c);
    return;
  }
  for (i = 0; !err && a && i < a->n && !pick; i++) {
    int fam = a->a[i].ss.ss_family;
    if ((e->px.socks.type == XFERPROXY_SOCKS4 || c->ipresolve ==
         XFER_IPRESOLVE_V4) ? fam == AF_INET
        : c->ipresolve == XFER_IPRESOLVE_V6 ? fam == AF_INET6 : 1)
      pick = &a->a[i];
  }
  if (!pick) {
    xfer__fail(e, "Could not resolve %s: %s%s",
               c->socks_target_proxy ? "proxy" : "host", c->hostname,
               a && a->n ? " (no IPv4 address for SOCKS4)" : "");
    conn_fail(c, c->socks_target_proxy ? XFERE_COULDNT_RESOLVE_PROXY
                                       : XFERE_COULDNT_RESOLVE_HOST);
    return;
  }
  c->socks_addr = *pick;
  resolve_next(c, e->px.socks.host, strlen(e->px.socks.host),
               e->px.socks.port);
  if ((rc = xfer__dns_lookup(c, e)) != 0) conn_fail(c, (XFERcode)rc);
}

void xfer__conn_resolved(struct xfer_conn *c, struct xfer_addrs *a, int err) {
  XFER *e = c->easy;
  if (c->dns_socks) {
    socks_target_resolved(c, a, err);
    return;
  }
  if (err || !a || !a->n) {
    if (e) xfer__fail(e, "Could not resolve %s: %s",
                      c->route ? "proxy" : "host", c->hostname);
    conn_fail(c, c->route ? XFERE_COULDNT_RESOLVE_PROXY
                          : XFERE_COULDNT_RESOLVE_HOST);
    return;
  }
  a->refs++;
  c->addrs = a;
  c->addr_idx = 0;
  if (!e) { /* its transfer went away meanwhile */
    xfer__conn_close(c);
    return;
  }
  e->t_namelookup = xfer__now() - e->t_start;
  if (build_chain(c, e)) {
    conn_fail(c, XFERE_OUT_OF_MEMORY);
    return;
  }
  c->state = XFER_CS_CONNECTING;
  connect_chain(c, 0);
}

/* A connection that might have multiplexed is set up, or failed: the
 * PIPEWAIT transfers of its host join it while it has room, and the
 * others look for a connection again. */
static void setup_ended(struct xfer_conn *c) {
  struct xfer_host *h = c->host;
  if (!c->may_mux) return;
  c->may_mux = 0;
  h->nsetup_mux--;
  while (!xfer_queue_empty(&h->pipewait)) {
    XFER *e = pop(&h->pipewait);
    e->waiting_host = NULL;
    if (c->state == XFER_CS_ACTIVE && c->multiplex && !c->closing &&
        route_fits(c, e) && c->proto->capacity(c) > 0) {
      hand_off(c, e);
    } else {
      e->state = XFER_ST_GRANTED; /* no slot reserved: acquire again */
      xfer__schedule(e);
    }
  }
}

/* Which protocol a set-up connection speaks: what ALPN agreed on, or h2
 * with prior knowledge over plain TCP. */
static const struct xfer_proto *proto_for(struct xfer_conn *c) {
  const char *alpn = NULL;
  if (c->secure) {
    if (!xfer__cf_query(c->cf, XFER_CF_Q_ALPN, &alpn) && alpn &&
        strcmp(alpn, "h2") == 0)
      return &xfer__proto_http2;
    return &xfer__proto_http1;
  }
  return c->prior_h2 ? &xfer__proto_http2 : &xfer__proto_http1;
}

/* Ready for requests: every filter is set up; the protocol takes over. */
static void ready_for_requests(struct xfer_conn *c) {
  XFER *first = c->easy; /* before PIPEWAIT transfers join */
  XFERcode rc;
  c->proto = proto_for(c);
  rc = (XFERcode)c->proto->init(c);
  if (rc) {
    conn_fail(c, rc);
    return;
  }
  c->state = XFER_CS_ACTIVE;
  c->multiplex = c->proto->multiplex != 0;
  if (c->easy) xfer__verbose(c->easy, "using %s", c->proto->name);
  mux_link(c);
  setup_ended(c);
  /* The first request may fail as it is sent and close c: held, so that
   * the streams left are offered only on a connection that still is. */
  xfer__conn_hold(c);
  if (first) xfer__on_connected(first);
  if (!c->closing) mux_offer(c);
  xfer__conn_unhold(c);
}

/* A filter finished its setup: what the transfer records of it. */
static void filter_connected(struct xfer_conn *c, struct xfer_cf *cf,
                             XFER *e) {
  uint64_t now = xfer__now();
  if (!cf->next) { /* the socket */
    xfer__addrs_unref(c->addrs);
    c->addrs = NULL;
    e->t_connect = now - e->t_start;
    xfer__verbose(e, "connected to %s port %u", c->primary_ip,
                  (unsigned)c->primary_port);
  }
  if (cf == c->cf && c->secure) {
    e->t_appconnect = now - e->t_start;
    xfer__cf_query(c->cf, XFER_CF_Q_VERIFY_RESULT, &e->ssl_verifyresult);
  } else if (c->proxy_tls) { /* TLS to the proxy, if cf is that */
    cf->type->query(cf, XFER_CF_Q_VERIFY_RESULT, &e->proxy_ssl_verifyresult);
  }
}

/* The proxy's answer to CONNECT goes to the header callback, as libcurl
 * does unless SUPPRESS_CONNECT_HEADERS.  1 when the connection or its
 * transfer went away meanwhile (the caller stops), else 0. */
static int connect_headers(struct xfer_conn *c, struct xfer_cf *cf, XFER *e) {
  struct xfer_cf_hdrs hd;
  size_t off = 0;
  int stop = 0;
  if (e->set.suppress_connect_headers ||
      cf->type->query(cf, XFER_CF_Q_CONNECT_HEADERS, &hd) || !hd.len)
    return 0;
  xfer__conn_hold(c);
  xfer__hold(e);
  while (off < hd.len && !stop) {
    const char *nl = memchr(hd.data + off, '\n', hd.len - off);
    size_t n = nl ? (size_t)(nl - hd.data - off) + 1 : hd.len - off;
    int rc = 0;
    xfer__debug(e, XFERINFO_HEADER_IN, hd.data + off, n);
    if (e->set.headerfn || e->set.headerdata)
      rc = xfer__client_write(e, XFER_PIECE_HEADER, hd.data + off, n);
    off += n;
    stop = xfer__gone(e, c);
    if (rc && !stop) {
      conn_fail(c, (XFERcode)rc);
      stop = 1;
    }
  }
  if (xfer__unhold(e)) stop = 1;
  if (xfer__conn_unhold(c)) stop = 1;
  return stop;
}

/* Sets the filters up, the lowest first, as far as they can go now. */
static void connect_chain(struct xfer_conn *c, int ev) {
  for (;;) {
    XFER *e = c->easy;
    struct xfer_cf *cf = c->cf, *low = NULL;
    int rc;
    if (!e) { /* its transfer went away mid-setup */
      xfer__conn_close(c);
      return;
    }
    for (; cf; cf = cf->next)
      if (!cf->connected) low = cf;
    if (!low) {
      ready_for_requests(c);
      return;
    }
    rc = low->type->connect(low, e, ev);
    if (rc == XFER_IO_AGAIN) {
      if (e->state != XFER_ST_CONNECTING) {
        e->state = XFER_ST_CONNECTING;
        xfer__recompute_timer(e);
      }
      if (xfer__sock_want(c->multi, c->fd, XFER_SOCK_CONN, c, e,
                          xfer__cf_want(c->cf)))
        conn_fail(c, XFERE_OUT_OF_MEMORY);
      return;
    }
    if (rc < 0) {
      /* Only a TLS filter answers: the origin's, or the proxy's. */
      low->type->query(low, XFER_CF_Q_VERIFY_RESULT,
                       low == c->cf && c->secure ? &e->ssl_verifyresult
                                                 : &e->proxy_ssl_verifyresult);
      conn_fail(c, (XFERcode)-rc);
      return;
    }
    low->connected = 1;
    filter_connected(c, low, e);
    if (connect_headers(c, low, e)) return;
    ev = 0;
  }
}

void xfer__conn_event(struct xfer_conn *c, int ev) {
  switch (c->state) {
  case XFER_CS_CONNECTING:
    connect_chain(c, ev);
    break;
  case XFER_CS_ACTIVE:
    c->proto->event(c, ev);
    break;
  case XFER_CS_IDLE:
    if (c->proto->idle_event(c)) xfer__conn_close(c);
    break;
  default:
    break;
  }
}

ssize_t xfer__conn_send(struct xfer_conn *c, const char *buf, size_t len) {
  return xfer__cf_send(c->cf, buf, len);
}

ssize_t xfer__conn_recv(struct xfer_conn *c, char *buf, size_t cap) {
  return xfer__cf_recv(c->cf, buf, cap);
}

ssize_t xfer__conn_recv_held(struct xfer_conn *c, char *buf, size_t cap) {
  return xfer__cf_recv_held(c->cf, buf, cap);
}

/* Bytes a filter holds (TLS has decrypted them): no socket event will
 * announce them. */
int xfer__conn_pending(struct xfer_conn *c) {
  return c->cf ? xfer__cf_pending(c->cf) : 0;
}

/* The socket interest the filters need besides reading: TLS may have to
 * write before it can read on. */
int xfer__conn_io_want(struct xfer_conn *c) {
  return xfer__cf_want(c->cf) & XFER_POLL_OUT;
}

/* A response just ended: did anything arrive after it?  Bytes inside TLS
 * are known at no cost.  Bytes in the kernel can only follow a read that
 * filled what it asked for (the receive buffer; the rest of a TLS record):
 * only then is the socket asked, so a keep-alive request costs no extra
 * syscall.  Anything (or an error, or the close) means the connection must
 * not carry another request: those bytes answer none of them. */
int xfer__conn_bytes_after(struct xfer_conn *c) {
  return xfer__cf_more(c->cf);
}

/* The socket, the filters, the protocol's state, the memory. */
static void conn_free(struct xfer_conn *c) {
  if (c->ps) c->proto->free(c);
  xfer__cf_close_all(c->cf); /* closes the socket too */
  xfer_queue_remove(&c->alllink);
  xfer__addrs_unref(c->addrs);
  free(c->route);
  free(c);
}

/* Closes c: at once it carries no transfer, is no longer found and frees
 * its slot (a waiting transfer is woken); its socket and memory go now, or
 * when the frames that hold it let go (xfer__conn_unhold). */
void xfer__conn_close(struct xfer_conn *c) {
  XFERM *m = c->multi;
  struct xfer_host *h = c->host;
  if (c->closing) return;
  c->closing = 1;
  if (c->state == XFER_CS_RESOLVING) xfer__dns_cancel(c);
  /* Transfers still on a multiplexed connection fail (a safety net: the
   * protocol fails them before it lets a connection close). */
  if (c->ntransfers > 0 && c->multiplex && c->ps && c->proto->orphan)
    c->proto->orphan(c);
  if (c->easy && c->easy->conn == c) c->easy->conn = NULL;
  c->easy = NULL;
  c->ntransfers = 0;
  xfer_queue_remove(&c->mlink);
  xfer_queue_remove(&c->qflink);
  idle_unlink(c);
  c->state = 0;
  xfer_queue_remove(&c->dnslink);
  m->nconns--;
  h->nconns--;
  setup_ended(c); /* its PIPEWAIT transfers look elsewhere */
  if (!c->busy) conn_free(c);
  xfer__wake_waiters(m, h);
}

/* ---- output batched over a turn (HTTP/2) ---- */

void xfer__conn_want_flush(struct xfer_conn *c) {
  if (!c->closing && c->proto->flush && !xfer_queue_linked(&c->qflink))
    xfer_queue_insert_tail(&c->multi->flushq, &c->qflink);
}

/* Sends what the connections gathered (xfer__drain, before a driving
 * call returns). */
void xfer__conn_flush_all(XFERM *m) {
  while (!xfer_queue_empty(&m->flushq)) {
    struct xfer_conn *c = xfer_queue_data(xfer_queue_head(&m->flushq),
                                          struct xfer_conn, qflink);
    xfer_queue_remove(&c->qflink);
    c->proto->flush(c);
  }
}

int xfer__conn_unhold(struct xfer_conn *c) {
  if (--c->busy > 0 || !c->closing) return 0;
  conn_free(c);
  return 1;
}
