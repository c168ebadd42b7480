/*
 * dns.c -- name resolution for connections, and the only file that includes
 * ares.h.  Order: the transfer's RESOLVE pins, numeric addresses, localhost,
 * the multi's DNS cache (DNS_CACHE_TIMEOUT), then c-ares, whose sockets and
 * timeouts go through the same socket table and timer heap as connections.
 * Concurrent lookups of one name share a single query.  Nothing here blocks.
 * A transfer with DNS_SERVERS asks those servers, through a channel of
 * their own, and its answers are cached apart from the system resolver's.
 *
 * Addresses carry no port (it is 0 in every sockaddr here): one name's
 * addresses serve every port, and conn.c sets the connection's own port
 * when it connects.  A cached or shared result therefore cannot send a
 * request (and its credentials) to the port of the lookup that filled it.
 */

#include "xfer_int.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stddef.h>
#include <sys/un.h>

/* A c-ares channel: the system's servers (servers ""), or DNS_SERVERS. */
struct dns_chan {
  struct dns_chan *next;
  ares_channel ch;
  char servers[1];
};

struct dns_entry {
  struct dns_entry *next;
  uint32_t hash;
  int family;                  /* XFER_IPRESOLVE_* asked for */
  const struct dns_chan *chan; /* who answers it */
  int pending;                 /* a query is running */
  uint64_t resolved_at;
  struct xfer_addrs *addrs;    /* one reference held by the cache */
  struct xfer_queue waiters;   /* connections, by dnslink */
  XFERM *multi;
  char name[1];
};

struct xfer_dns {
  struct dns_chan *chans;
  int lib_ok;                  /* ares_library_init done */
  struct xfer_timer timer;
  struct dns_entry *tab[256];
};

void xfer__addrs_unref(struct xfer_addrs *a) {
  if (a && --a->refs <= 0) free(a);
}

static struct xfer_addrs *addrs_new(int n) {
  struct xfer_addrs *a =
      calloc(1, sizeof(*a) + (size_t)(n > 0 ? n - 1 : 0) * sizeof(a->a[0]));
  if (a) a->refs = 1;
  return a;
}

static void addr_set(struct xfer_addr *d, int fam, const void *ip) {
  memset(d, 0, sizeof(*d));
  if (fam == AF_INET) {
    struct sockaddr_in *s = (struct sockaddr_in *)&d->ss;
    s->sin_family = AF_INET;
    memcpy(&s->sin_addr, ip, 4);
    d->len = sizeof(*s);
  } else {
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)&d->ss;
    s->sin6_family = AF_INET6;
    memcpy(&s->sin6_addr, ip, 16);
    d->len = sizeof(*s);
  }
}

/* Parses one literal (IPv6 may be bracketed) into d. */
static int parse_literal(const char *s, size_t n, struct xfer_addr *d) {
  char buf[64];
  unsigned char ip[16];
  if (n && s[0] == '[' && s[n - 1] == ']') {
    s++;
    n -= 2;
  }
  if (n == 0 || n >= sizeof(buf)) return -1;
  memcpy(buf, s, n);
  buf[n] = 0;
  if (inet_pton(AF_INET, buf, ip) == 1) addr_set(d, AF_INET, ip);
  else if (inet_pton(AF_INET6, buf, ip) == 1) addr_set(d, AF_INET6, ip);
  else return -1;
  return 0;
}

/* RESOLVE entries: "host:port:addr[,addr]..." ("+host..." too).  Returns
 * the address list of the first entry for host (hostlen bytes) and port,
 * or NULL.  The connection cache keys on it too: a connection made to a
 * pinned address is not another transfer's connection to that name. */
const char *xfer__dns_pin(const XFER *e, const char *host, size_t hostlen,
                          uint16_t port, const struct xfer_slist **from) {
  const struct xfer_slist *l = from && *from ? (*from)->next
                                             : e ? e->set.resolve : NULL;
  for (; l; l = l->next) {
    const char *s = l->data, *p1, *p2;
    if (!s || *s == '-') continue;
    if (*s == '+') s++;
    p1 = strchr(s, ':');
    if (!p1 || (size_t)(p1 - s) != hostlen ||
        strncasecmp(s, host, hostlen) != 0)
      continue;
    if (strtoul(p1 + 1, (char **)&p2, 10) != port || *p2 != ':') continue;
    if (from) *from = l;
    return p2 + 1;
  }
  return NULL;
}

/* DNS_SERVERS: "addr[:port],..." with IPv6 in brackets when a port
 * follows; 1 when every entry is an address (names would need a resolver
 * to find the resolver). */
int xfer__dns_servers_ok(const char *s) {
  while (*s) {
    size_t n = strcspn(s, ","), hn = n;
    const char *h = s, *port = NULL;
    char buf[64];
    unsigned char ip[16];
    if (n && s[0] == '[') {
      const char *close = memchr(s, ']', n);
      if (!close) return 0;
      h = s + 1;
      hn = (size_t)(close - h);
      if (close + 1 < s + n) {
        if (close[1] != ':') return 0;
        port = close + 2;
      }
    } else {
      const char *colon = memchr(s, ':', n);
      if (colon && !memchr(colon + 1, ':', (size_t)(s + n - colon - 1))) {
        hn = (size_t)(colon - s); /* IPv4 and a port */
        port = colon + 1;
      }
    }
    if (hn == 0 || hn >= sizeof(buf)) return 0;
    memcpy(buf, h, hn);
    buf[hn] = 0;
    if (inet_pton(AF_INET, buf, ip) != 1 && inet_pton(AF_INET6, buf, ip) != 1)
      return 0;
    if (port) {
      char *end;
      unsigned long v = strtoul(port, &end, 10);
      if (end == port || end != s + n || v == 0 || v > 65535) return 0;
    }
    s += n;
    if (*s == ',' && !*++s) return 0; /* an empty last entry */
  }
  return 1;
}

/* One host of a CONNECT_TO entry at *s: a [bracketed] literal or up to the
 * next ':'.  Sets the span (brackets dropped) and moves *s past it; -1
 * when the ':' after it is missing. */
static int ct_host(const char **s, const char **h, size_t *n) {
  const char *p = *s;
  if (*p == '[') {
    const char *close = strchr(p, ']');
    if (!close || close[1] != ':') return -1;
    *h = p + 1;
    *n = (size_t)(close - p - 1);
    *s = close + 2;
    return 0;
  }
  *h = p;
  *n = strcspn(p, ":");
  if (p[*n] != ':') return -1;
  *s = p + *n + 1;
  return 0;
}

/* A port of a CONNECT_TO entry: empty (0) or 1..65535, ended by end. */
static int ct_port(const char **s, int end, uint16_t *port) {
  char *stop;
  unsigned long v;
  if (**s == end) {
    *port = 0;
  } else {
    if (**s < '0' || **s > '9') return -1;
    v = strtoul(*s, &stop, 10);
    if (v == 0 || v > 65535 || *stop != end) return -1;
    *port = (uint16_t)v;
    *s = stop;
  }
  if (end) (*s)++;
  return 0;
}

int xfer__connect_to(const XFER *e, const char *host, size_t hostlen,
                     uint16_t port, struct xfer_target *out) {
  const struct xfer_slist *l;
  for (l = e->set.connect_to; l; l = l->next) {
    const char *s = l->data, *h, *th;
    size_t hn, thn;
    uint16_t p, tp;
    if (!s || ct_host(&s, &h, &hn) || ct_port(&s, ':', &p)) continue;
    if ((hn && (hn != hostlen || strncasecmp(h, host, hn) != 0)) ||
        (p && p != port))
      continue;
    /* the target: host (maybe empty) and port (maybe empty) */
    if (*s == '[') {
      if (ct_host(&s, &th, &thn)) continue;
    } else {
      const char *colon = strrchr(s, ':');
      if (!colon) continue;
      th = s;
      thn = (size_t)(colon - s);
      s = colon + 1;
    }
    if (ct_port(&s, 0, &tp) || thn > XFER_URL_MAX_HOST) continue;
    out->host = thn ? th : host;
    out->hostlen = thn ? thn : hostlen;
    out->port = tp ? tp : port;
    return 1;
  }
  return 0;
}

/* The one address of UNIX_SOCKET_PATH (or the abstract name). */
struct xfer_addrs *xfer__addrs_unix(const char *path, int abstract) {
  struct xfer_addrs *a = addrs_new(1);
  struct sockaddr_un *un;
  size_t n = strlen(path);
  if (!a) return NULL;
  un = (struct sockaddr_un *)&a->a[0].ss;
  un->sun_family = AF_UNIX;
  /* easy.c refused longer paths */
  memcpy(un->sun_path + (abstract ? 1 : 0), path, n);
  a->a[0].len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
                            1);
  a->n = 1;
  return a;
}

/* The addresses a RESOLVE entry pins: 0 with *out set (NULL when no
 * entry applies), or -1 when out of memory, which must fail the transfer:
 * a pinned name never falls through to the resolver.  An entry that does
 * not parse is skipped, as libcurl does. */
static int from_resolve_list(XFER *e, const char *host, uint16_t port,
                             struct xfer_addrs **out) {
  const struct xfer_slist *l = NULL;
  const char *list;
  *out = NULL;
  while ((list = xfer__dns_pin(e, host, strlen(host), port, &l)) != NULL) {
    const char *a;
    struct xfer_addrs *r;
    int n = 1;
    for (a = list; *a; a++)
      if (*a == ',') n++;
    r = addrs_new(n);
    if (!r) return -1;
    for (a = list; *a;) {
      size_t len = strcspn(a, ",");
      if (parse_literal(a, len, &r->a[r->n]) == 0) r->n++;
      a += len;
      if (*a == ',') a++;
    }
    if (r->n) {
      *out = r;
      return 0;
    }
    free(r);
  }
  return 0;
}

/* An address literal, or localhost: 0 with *out set (NULL: neither), or
 * -1 when out of memory. */
static int from_literal(const char *host, struct xfer_addrs **out) {
  struct xfer_addrs *r;
  struct xfer_addr d;
  size_t n = strlen(host);
  *out = NULL;
  if (parse_literal(host, n, &d) == 0) {
    if ((r = addrs_new(1)) == NULL) return -1;
    r->a[0] = d;
    r->n = 1;
    *out = r;
    return 0;
  }
  /* localhost never goes to a resolver (RFC 6761); IPv4 first, since
   * loopback servers most often listen there. */
  if (strcasecmp(host, "localhost") == 0 ||
      (n > 10 && strcasecmp(host + n - 10, ".localhost") == 0)) {
    static const unsigned char v4[4] = {127, 0, 0, 1};
    static const unsigned char v6[16] = {0, 0, 0, 0, 0, 0, 0, 0,
                                         0, 0, 0, 0, 0, 0, 0, 1};
    if ((r = addrs_new(2)) == NULL) return -1;
    addr_set(&r->a[0], AF_INET, v4);
    addr_set(&r->a[1], AF_INET6, v6);
    r->n = 2;
    *out = r;
  }
  return 0;
}

/* Hands addrs to c (which takes its own reference) and drops ours. */
static void deliver(struct xfer_conn *c, struct xfer_addrs *a, int err) {
  xfer__conn_resolved(c, a, err);
  xfer__addrs_unref(a);
}

static void update_timer(XFERM *m) {
  struct xfer_dns *d = m->dns;
  struct timeval best, cur, *t = NULL;
  struct dns_chan *ch;
  for (ch = d->chans; ch; ch = ch->next) { /* the soonest of them all */
    struct timeval *r = ares_timeout(ch->ch, t, &cur);
    if (r) {
      best = *r;
      t = &best;
    }
  }
  if (!t) {
    xfer__heap_remove(&m->timers, &d->timer);
    return;
  }
  if (xfer__heap_reserve(&m->timers, m->timers.n + 1) == 0)
    xfer__heap_set(&m->timers, &d->timer,
                   xfer__now() + (uint64_t)t->tv_sec * 1000000 +
                       (uint64_t)t->tv_usec);
}

static void sock_state(void *data, ares_socket_t fd, int readable,
                       int writable) {
  XFERM *m = data;
  int what = (readable ? XFER_POLL_IN : 0) | (writable ? XFER_POLL_OUT : 0);
  if (what) xfer__sock_want(m, fd, XFER_SOCK_DNS, NULL, NULL, what);
  else xfer__sock_forget(m, fd, NULL);
}

/* The channel for servers ("": the system's), made on first use; NULL
 * when c-ares cannot be set up or does not take the list. */
static struct dns_chan *channel(XFERM *m, const char *servers) {
  struct xfer_dns *d = m->dns;
  struct dns_chan *ch;
  struct ares_options o;
  for (ch = d->chans; ch; ch = ch->next)
    if (strcmp(ch->servers, servers) == 0) return ch;
  if (!d->lib_ok) {
    if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) return NULL;
    d->lib_ok = 1;
  }
  if (!(ch = calloc(1, sizeof(*ch) + strlen(servers)))) return NULL;
  strcpy(ch->servers, servers);
  memset(&o, 0, sizeof(o));
  o.sock_state_cb = sock_state;
  o.sock_state_cb_data = m;
  if (ares_init_options(&ch->ch, &o, ARES_OPT_SOCK_STATE_CB) != ARES_SUCCESS) {
    free(ch);
    return NULL;
  }
  if (*servers && ares_set_servers_ports_csv(ch->ch, servers) != ARES_SUCCESS) {
    ares_destroy(ch->ch);
    free(ch);
    return NULL;
  }
  ch->next = d->chans;
  d->chans = ch;
  return ch;
}

static void entry_unlink(XFERM *m, struct dns_entry *en) {
  struct dns_entry **pp = &m->dns->tab[en->hash & 255];
  for (; *pp; pp = &(*pp)->next)
    if (*pp == en) {
      *pp = en->next;
      return;
    }
}

static void on_addrinfo(void *arg, int status, int timeouts,
                        struct ares_addrinfo *res) {
  struct dns_entry *en = arg;
  XFERM *m = en->multi;
  struct xfer_addrs *a = NULL;
  struct ares_addrinfo_node *nd;
  struct xfer_queue local;
  int n = 0;
  (void)timeouts;
  en->pending = 0;
  if (status == ARES_EDESTRUCTION) { /* multi cleanup: no waiters left */
    if (res) ares_freeaddrinfo(res);
    return;
  }
  if (status == ARES_SUCCESS && res) {
    for (nd = res->nodes; nd; nd = nd->ai_next) n++;
    if ((a = addrs_new(n)) != NULL)
      for (nd = res->nodes; nd; nd = nd->ai_next) {
        if (nd->ai_family == AF_INET &&
            nd->ai_addrlen >= sizeof(struct sockaddr_in))
          addr_set(&a->a[a->n++], AF_INET,
                   &((const struct sockaddr_in *)nd->ai_addr)->sin_addr);
        else if (nd->ai_family == AF_INET6 &&
                 nd->ai_addrlen >= sizeof(struct sockaddr_in6))
          addr_set(&a->a[a->n++], AF_INET6,
                   &((const struct sockaddr_in6 *)nd->ai_addr)->sin6_addr);
      }
  }
  if (res) ares_freeaddrinfo(res);
  if (a && !a->n) {
    free(a);
    a = NULL;
  }
  /* Waiters may close connections (and so unlink others): take them all
   * off the entry first. */
  xfer_queue_init(&local);
  while (!xfer_queue_empty(&en->waiters)) {
    struct xfer_queue *q = xfer_queue_head(&en->waiters);
    xfer_queue_remove(q);
    xfer_queue_insert_tail(&local, q);
  }
  if (a) {
    en->addrs = a;
    en->resolved_at = xfer__now();
  } else {
    entry_unlink(m, en);
  }
  while (!xfer_queue_empty(&local)) {
    struct xfer_conn *c =
        xfer_queue_data(xfer_queue_head(&local), struct xfer_conn, dnslink);
    xfer_queue_remove(&c->dnslink);
    if (a) a->refs++;
    deliver(c, a, a ? 0 : 1);
  }
  if (!a) free(en);
}

static uint32_t hash_name(const char *s, int fam) {
  uint32_t h = 2166136261u ^ (uint32_t)fam;
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch >= 'A' && ch <= 'Z') ch = (unsigned char)(ch + 32);
    h = (h ^ ch) * 16777619u;
  }
  return h;
}

/* Resolves c->hostname for c; the result arrives through
 * xfer__conn_resolved, now or later.  Returns 0 or XFERE_OUT_OF_MEMORY. */
int xfer__dns_lookup(struct xfer_conn *c, XFER *e) {
  XFERM *m = c->multi;
  struct xfer_addrs *a;
  struct dns_entry *en, **pp;
  struct ares_addrinfo_hints hints;
  uint32_t hv;
  long ttl = e->set.dns_cache_timeout;
  const char *servers = e->set.dns_servers ? e->set.dns_servers : "";
  struct dns_chan *chan;
  uint64_t now;
  if (from_resolve_list(e, c->hostname, c->primary_port, &a) ||
      (!a && from_literal(c->hostname, &a)))
    return XFERE_OUT_OF_MEMORY;
  if (a) {
    deliver(c, a, 0);
    return 0;
  }
  if (!m->dns && !(m->dns = calloc(1, sizeof(*m->dns))))
    return XFERE_OUT_OF_MEMORY;
  m->dns->timer.kind = XFER_TIMER_DNS;
  if (!(chan = channel(m, servers))) {
    xfer__fail(e, "Could not set up the resolver%s%s", *servers ? " for " : "",
               servers);
    xfer__conn_resolved(c, NULL, 1);
    return 0;
  }
  hv = hash_name(c->hostname, c->ipresolve);
  now = xfer__now();
  for (pp = &m->dns->tab[hv & 255]; (en = *pp) != NULL;) {
    if (en->hash == hv && en->family == c->ipresolve && en->chan == chan &&
        strcasecmp(en->name, c->hostname) == 0) {
      if (en->pending) {
        xfer_queue_insert_tail(&en->waiters, &c->dnslink);
        return 0;
      }
      if (ttl < 0 || (ttl > 0 && now - en->resolved_at <
                                     xfer__span(ttl, 1000000))) {
        en->addrs->refs++;
        deliver(c, en->addrs, 0);
        return 0;
      }
    }
    /* Drop stale entries met on the way. */
    if (!en->pending && en->addrs &&
        now - en->resolved_at > 24ULL * 3600 * 1000000) {
      *pp = en->next;
      xfer__addrs_unref(en->addrs);
      free(en);
      continue;
    }
    pp = &en->next;
  }
  /* Replace an expired entry of the same name, if any. */
  for (pp = &m->dns->tab[hv & 255]; (en = *pp) != NULL; pp = &en->next)
    if (en->hash == hv && en->family == c->ipresolve && !en->pending &&
        en->chan == chan && strcasecmp(en->name, c->hostname) == 0) {
      *pp = en->next;
      xfer__addrs_unref(en->addrs);
      free(en);
      break;
    }
  en = calloc(1, sizeof(*en) + strlen(c->hostname));
  if (!en) return XFERE_OUT_OF_MEMORY;
  strcpy(en->name, c->hostname);
  en->hash = hv;
  en->family = c->ipresolve;
  en->chan = chan;
  en->pending = 1;
  en->multi = m;
  xfer_queue_init(&en->waiters);
  en->next = m->dns->tab[hv & 255];
  m->dns->tab[hv & 255] = en;
  xfer_queue_insert_tail(&en->waiters, &c->dnslink);
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = c->ipresolve == XFER_IPRESOLVE_V4   ? AF_INET
                    : c->ipresolve == XFER_IPRESOLVE_V6 ? AF_INET6
                                                        : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  /* No service: the answer is shared by every port of this name. */
  ares_getaddrinfo(chan->ch, c->hostname, NULL, &hints, on_addrinfo, en);
  update_timer(m);
  return 0;
}

/* The connection is closing while its lookup runs: it stops waiting. */
void xfer__dns_cancel(struct xfer_conn *c) { xfer_queue_remove(&c->dnslink); }

/* Each channel looks only at its own sockets: the fd is offered to all
 * (there are one or two). */
void xfer__dns_sock_event(XFERM *m, int fd, int ev) {
  struct dns_chan *ch;
  if (!m->dns) return;
  for (ch = m->dns->chans; ch; ch = ch->next)
    ares_process_fd(ch->ch,
                    ev & (XFER_CSELECT_IN | XFER_CSELECT_ERR) || !ev
                        ? (ares_socket_t)fd : ARES_SOCKET_BAD,
                    ev & XFER_CSELECT_OUT ? (ares_socket_t)fd
                                          : ARES_SOCKET_BAD);
  update_timer(m);
}

void xfer__dns_timer(XFERM *m) {
  struct dns_chan *ch;
  if (!m->dns) return;
  for (ch = m->dns->chans; ch; ch = ch->next)
    ares_process_fd(ch->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  update_timer(m);
}

void xfer__dns_free(XFERM *m) {
  struct xfer_dns *d = m->dns;
  int i;
  if (!d) return;
  xfer__heap_remove(&m->timers, &d->timer);
  while (d->chans) {
    struct dns_chan *ch = d->chans;
    d->chans = ch->next;
    ares_destroy(ch->ch);
    free(ch);
  }
  if (d->lib_ok) ares_library_cleanup();
  for (i = 0; i < 256; i++) {
    struct dns_entry *en = d->tab[i], *next;
    for (; en; en = next) {
      next = en->next;
      xfer__addrs_unref(en->addrs);
      free(en);
    }
  }
  free(d);
  m->dns = NULL;
}
