/*
 * xfer_int.h -- the core's internal structures and xfer__ prototypes.
 *
 * Included by core files only (never by the Lua binding or the libuv driver,
 * which use xfer.h).  Nothing here includes Lua, libuv or c-ares headers:
 * dns.c keeps c-ares to itself.
 */
#ifndef XFER_INT_H
#define XFER_INT_H

#include "xfer.h"
#include "queue.h"
#include "heap.h"
#include "proto/h1parse.h"
#include "proto/proto.h"
#include "url.h"
#include "filters/cf.h"
#include "request.h"
#include "body.h"
#include "decode.h"
#include "auth.h"
#include "proxy.h"
#include "cookie.h"

#include <stdarg.h>
#include <sys/socket.h>

#define XFER_MULTI_MAGIC 0x78666d75u /* "xfmu" */
#define XFER_EASY_MAGIC  0x78666561u /* "xfea" */

#define XFER_RECVBUF_SIZE (64 * 1024)
#define XFER_UPLOADBUF_SIZE (16 * 1024)
/* Bytes one transfer may receive, and send, per socket event: then the
 * next one's turn.  A level-triggered poller announces the rest, so one
 * fast transfer cannot hold the loop (W9). */
#define XFER_EVENT_BUDGET (256 * 1024)
/* What a paused transfer may hold (pause.c's pieces, the decoders' input):
 * far above what one read or an HTTP/2 stream window can bring. */
#define XFER_HELD_MAX (8u << 20)
#define XFER_DEFAULT_CONNECTTIMEOUT_MS 300000
#define XFER_DEFAULT_HAPPY_EYEBALLS_MS 200
#define XFER_DEFAULT_MAXREDIRS 30  /* libcurl's default since 8.3 */

/* Timer owners (struct xfer_timer.kind). */
enum { XFER_TIMER_EASY = 1, XFER_TIMER_DNS = 2 };

/* What the application's timer holds (XFERM.timer_held): -1 (or nothing
 * yet), timer_reported, or a value that fired and is stale. */
enum {
  XFER_TIMER_HELD_NONE = 0,
  XFER_TIMER_HELD_SET,
  XFER_TIMER_HELD_FIRED
};

/* Transfer states.  xfer__step (transfer.c) runs the scheduled work of
 * START, GRANTED and SENDING; the others move on events. */
enum xfer_state {
  XFER_ST_INIT = 0,     /* not added to a multi handle */
  XFER_ST_START,        /* added; starts at the next timer run */
  XFER_ST_QUEUED,       /* waiting for a connection slot (FIFO) */
  XFER_ST_GRANTED,      /* a freed slot is reserved for it: it connects at
                           its step */
  XFER_ST_RESOLVING,    /* its new connection waits for DNS */
  XFER_ST_CONNECTING,   /* its new connection waits for connect() */
  XFER_ST_SENDING,      /* writing the request (and body) */
  XFER_ST_RECEIVING,    /* reading the response */
  XFER_ST_DONE,         /* finished; a message waits for info_read */
  XFER_ST_COUNT
};

/* Connection states. */
enum xfer_cstate {
  XFER_CS_RESOLVING = 1,
  XFER_CS_CONNECTING,   /* its filters are being set up (TCP, TLS) */
  XFER_CS_ACTIVE,       /* carries a transfer */
  XFER_CS_IDLE          /* in the cache, watched for a server close */
};

/* Socket table entry owners. */
enum { XFER_SOCK_FREE = 0, XFER_SOCK_CONN, XFER_SOCK_DNS };

struct xfer_addr {
  socklen_t len;
  struct sockaddr_storage ss;
};

/* A resolved name: shared by the DNS cache and the connections that try its
 * addresses, hence reference counted. */
struct xfer_addrs {
  int refs;
  int n;
  struct xfer_addr a[1];
};

/* A host bucket: the connections to one scheme://host:port and the transfers
 * waiting because that host is at MAX_HOST_CONNECTIONS. */
struct xfer_host {
  struct xfer_host *hnext;     /* hash chain */
  uint32_t hash;
  int nconns;                  /* open connections, any state */
  struct xfer_queue idle;      /* idle connections, most recent at the head */
  struct xfer_queue waitq;     /* transfers waiting for this host */
  struct xfer_queue pendq;     /* its transfers in multi->pending (by
                                  hlink): a connection of this host that
                                  frees goes to the first of them */
  struct xfer_queue wlink;     /* in multi->hosts_waiting when waitq is set */
  struct xfer_queue mux;       /* its multiplexed (HTTP/2) connections that
                                  carry transfers: they take more */
  struct xfer_queue pipewait;  /* PIPEWAIT transfers waiting for a
                                  connection being set up to say whether
                                  it multiplexes */
  int nsetup_mux;              /* connections being set up that may */
  unsigned h1_required : 1;    /* an h2 server answered HTTP_1_1_REQUIRED:
                                  this origin's transfers go HTTP/1.1 */
  void *tls_session;           /* tls.c: the session to resume */
  char key[1];                 /* "http://host:port" */
};

struct xfer_conn {
  XFERM *multi;
  int fd;
  int state;                   /* enum xfer_cstate */
  struct xfer_host *host;
  struct xfer_easy *easy;      /* HTTP/1.1: the transfer it carries; HTTP/2:
                                  the one it was set up for, or the last
                                  that joined (for the socket callback) */
  struct xfer_queue link;      /* host->idle while idle */
  struct xfer_queue ilink;     /* multi->idle (LRU) while idle */
  struct xfer_queue alllink;   /* multi->conns */
  struct xfer_queue dnslink;   /* waiters of a DNS entry while resolving */
  struct xfer_queue flink;     /* multi->idle_fresh: idle, still watched */
  struct xfer_queue mlink;     /* host->mux while multiplexing transfers */
  struct xfer_queue qflink;    /* multi->flushq: output to send this turn */
  int ntransfers;              /* transfers on it (HTTP/1.1: 0 or 1) */
  unsigned may_mux : 1;        /* being set up, may turn out to multiplex */
  unsigned prior_h2 : 1;       /* plain TCP, HTTP/2 with prior knowledge */
  unsigned multiplex : 1;      /* its protocol carries many transfers */
  unsigned no_reuse : 1;       /* closed when its last transfer leaves */
  unsigned idle_call;          /* the driving call in which it went idle */
  unsigned unwatched : 1;      /* idle, dropped from the application's
                                  watch set: checked before reuse */
  char *route;                 /* through a proxy: the route key of the
                                  transfer it was made for (proxy.h); a
                                  transfer with another is not given it */
  unsigned dns_socks : 1;      /* resolving the SOCKS target here first */
  unsigned proxy_tls : 1;      /* TLS to an https:// proxy in the chain */
  unsigned socks_target_proxy : 1; /* that target is the HTTP proxy */
  struct xfer_addr socks_addr; /* its address, once resolved */
  struct xfer_addrs *addrs;    /* while connecting */
  int addr_idx;
  int ipresolve;
  uint64_t connect_start;
  uint64_t he_at;              /* connecting: when the tcp filter starts
                                  the other address family (0: no such) */
  unsigned requests;           /* requests sent on it */
  const struct xfer_proto *proto; /* what it speaks, once set up */
  void *ps;                    /* the protocol's state (proto.h) */
  struct xfer_cf *cf;          /* the top of its filter chain (cf.h) */
  unsigned secure : 1;         /* a TLS filter is in the chain */
  unsigned closing : 1;        /* closed: freed when its holders let go */
  int busy;                    /* frames holding it (xfer__conn_hold) */
  char primary_ip[46];
  char local_ip[46];
  xfer_off_t id;               /* CONN_ID: in the order made, per multi */
  uint16_t primary_port, local_port;
  char hostname[1];            /* the name to resolve */
};

/* Options as set by xfer_easy_setopt.  Strings are owned copies. */
struct xfer_opts {
  char *url;
  void *private_;
  xfer_write_callback writefn;
  void *writedata;
  xfer_write_callback headerfn;
  void *headerdata;
  xfer_read_callback readfn;
  void *readdata;
  xfer_xferinfo_callback xferinfofn;
  void *xferinfodata;
  xfer_debug_callback debugfn;
  void *debugdata;
  const char *postfields;      /* caller's memory, or copypostfields */
  char *copypostfields;
  xfer_off_t postfieldsize;    /* -1: strlen */
  xfer_off_t infilesize;       /* -1: unknown */
  char *customrequest;
  char *useragent;
  char *accept_encoding;       /* NULL: none sent, nothing decoded */
  char *username, *password;   /* NULL: the URL's (USERPWD sets both) */
  char *bearer;                /* XOAUTH2_BEARER */
  unsigned long httpauth;      /* XFERAUTH_* bits wanted */
  char *errorbuffer;           /* caller's memory */
  struct xfer_slist *httpheader;  /* caller's list, as libcurl */
  struct xfer_slist *resolve;     /* caller's list, as libcurl */
  struct xfer_slist *connect_to;  /* caller's list, as libcurl */
  char *interface;             /* INTERFACE: "if!", "host!", ... */
  char *unix_socket_path;      /* UNIX_SOCKET_PATH or ABSTRACT_... */
  char *dns_servers;           /* DNS_SERVERS, checked; NULL: system's */
  long happy_eyeballs_ms;      /* HAPPY_EYEBALLS_TIMEOUT_MS */
  int keepidle, keepintvl, keepcnt; /* TCP_KEEP*, seconds and probes */
  uint16_t localport, localportrange;
  struct xfer_slist *proxyheader; /* caller's list, as libcurl */
  char *proxy, *pre_proxy, *noproxy, *proxyusername, *proxypassword;
  char *proxy_cainfo, *proxy_capath, *proxy_sslcert, *proxy_sslkey;
  char *proxy_keypasswd;
  char *cookie;                /* COOKIE: sent as it is */
  char *cookiejar;             /* COOKIEJAR: written at cleanup */
  struct xfer_slist *cookiefiles; /* COOKIEFILE names, owned */
  long proxyport;              /* 0: the proxy URL's, or its default */
  int proxytype;               /* XFERPROXY_*, for a scheme-less PROXY */
  unsigned long proxyauth;     /* XFERAUTH_* bits */
  char *cainfo, *capath, *sslcert, *sslkey, *keypasswd, *cipher_list;
  char *pinnedpublickey;
  long sslversion;
  int redir_protocols;         /* bits of 1 << enum xfer_scheme */
  long timeout_ms;
  long connecttimeout_ms;
  long low_speed_limit;
  long low_speed_time;
  xfer_off_t max_recv_speed;   /* bytes per second, 0: no limit */
  xfer_off_t max_send_speed;
  xfer_off_t max_filesize;     /* MAXFILESIZE(_LARGE), 0: no limit */
  long maxredirs;
  long dns_cache_timeout;      /* seconds; -1 forever */
  int ipresolve;
  int http_version;            /* XFER_HTTP_VERSION_* */
  unsigned upload : 1;
  unsigned post : 1;
  unsigned nobody : 1;
  unsigned followlocation : 1;
  unsigned failonerror : 1;
  unsigned verbose : 1;
  unsigned noprogress : 1;
  unsigned forbid_reuse : 1;
  unsigned fresh_connect : 1;
  unsigned tcp_nodelay : 1;
  unsigned tcp_keepalive : 1;
  unsigned ssl_verifypeer : 1;
  unsigned ssl_verifyhost : 1;   /* 2 in libcurl's terms; 0 off */
  unsigned ssl_sessionid_cache : 1;
  unsigned unrestricted_auth : 1;
  unsigned pipewait : 1;
  unsigned content_decoding : 1; /* HTTP_CONTENT_DECODING */
  unsigned abstract_unix : 1;  /* unix_socket_path is in the abstract
                                  namespace (ABSTRACT_UNIX_SOCKET) */
  unsigned digest_ie : 1;      /* HTTPAUTH had DIGEST_IE */
  unsigned proxy_digest_ie : 1; /* PROXYAUTH had DIGEST_IE */
  unsigned httpproxytunnel : 1;
  unsigned header_unified : 1;   /* HEADEROPT UNIFIED (SEPARATE is 0) */
  unsigned suppress_connect_headers : 1;
  unsigned proxy_ssl_verifypeer : 1;
  unsigned proxy_ssl_verifyhost : 1;
  unsigned cookiesession : 1;  /* COOKIESESSION: files' session cookies
                                  are not loaded */
};

struct xfer_easy {
  uint32_t magic;
  XFERM *multi;                /* the multi it is added to */
  XFERM *private_multi;        /* for xfer_easy_perform */
  struct xfer_opts set;
  int state;                   /* enum xfer_state */
  struct xfer_queue mlink;     /* multi->easies */
  struct xfer_queue qlink;     /* pending / host waitq / ready / starting */
  struct xfer_queue hlink;     /* its host's pendq while in pending */
  struct xfer_queue msglink;   /* multi->msgs */
  struct xfer_timer timer;
  struct xfer_host *waiting_host; /* set while in a host's waitq */
  struct xfer_conn *conn;
  XFERMsg msg;
  XFERcode result;

  /* the current request */
  char *url;                   /* effective URL: set.url or a redirect */
  struct xfer_url u;
  struct xfer_route px;        /* the proxies it goes through (proxy.c) */
  struct xfer_reader reader;   /* its body's source (type NULL: none) */
  struct xfer_writer *writers; /* before the write callback (NULL: none) */
  char *body_retired;          /* a replaced COPYPOSTFIELDS body still sent */
  char *location;              /* Location of a 3xx */
  xfer_off_t upload_size;      /* body size announced, -1 unknown */
  unsigned has_body : 1;
  unsigned method_head : 1;
  unsigned method_get : 1;     /* a redirect made it a GET */
  unsigned redirecting : 1;
  unsigned retried : 1;
  unsigned retry_fresh : 1;    /* the retry wants a connection of its own */
  unsigned got_bytes : 1;      /* a response byte arrived */
  unsigned reserved_slot : 1;  /* a freed slot was reserved for it */
  unsigned url_parsed : 1;     /* u holds the parse of set.url, unchanged */
  unsigned free_pending : 1;   /* xfer_easy_cleanup waits for its holders */
  unsigned discard_body : 1;   /* redirect or failonerror body */
  unsigned in_ready : 1;       /* qlink is in multi->ready or ->starting */
  unsigned keep_errtext : 1;   /* xfer_easy_keep_errortext: a failure */
  unsigned own_errbuf : 1;     /* allocates set.errorbuffer, owned here */
  unsigned resp_401 : 1;       /* the header section coming is a 401's */
  unsigned auth_resend : 1;    /* the request goes again (auth.c) */
  unsigned auth_blocked : 1;   /* no credentials in this request: the
                                  caller's Authorization, another host */
  struct xfer_auth *auth;      /* auth.c's state, made when needed */
  struct xfer_cookies *cookies; /* the cookie store: NULL, engine off */
  int cookies_resp;            /* Set-Cookie fields in this response */
  unsigned cookiefiles_loaded : 1; /* COOKIEFILE read since it was set */
  struct xfer_pauth *pauth;    /* the proxy's (proxy.c), likewise */
  unsigned resp_407 : 1;       /* the header section coming is a 407's */
  unsigned px_reconnect : 1;   /* the CONNECT goes again on a new
                                  connection (tunnel.c) */
  int busy;                    /* frames holding it (xfer__hold) */
  unsigned run_id;             /* bumped by add_handle: callbacks of an old
                                * run must not continue into a new one */

  /* accounting for getinfo (times in microseconds since start) */
  uint64_t t_start, t_queue, t_namelookup, t_connect, t_appconnect,
      t_pretransfer,
      t_starttransfer, t_total;
  xfer_off_t size_dl, size_ul, content_length;
  xfer_off_t size_out;         /* body bytes out of the writers (decoded):
                                  what MAXFILESIZE limits */
  xfer_off_t size_delivered;   /* body bytes the write callback took */
  long response_code, redirect_count, num_connects, ssl_verifyresult;
  long http_connectcode;       /* the proxy's answer to CONNECT */
  long proxy_error;            /* XFERPX_* with XFERE_PROXY */
  long proxy_ssl_verifyresult;
  char primary_ip[46];
  char local_ip[46];
  long primary_port, local_port;
  long http_version;           /* XFER_HTTP_VERSION_1_1 or _2_0, 0 none */
  long header_size;            /* response header bytes, redirects too */
  long request_size;           /* request head bytes sent */
  int os_errno;                /* errno of the failed connect, or 0 */
  char *content_type;          /* the last response's Content-Type */
  char *redirect_url;          /* REDIRECT_URL, made when asked */
  xfer_off_t retry_after;      /* Retry-After, in seconds (0: none) */
  xfer_off_t xfer_id, conn_id; /* XFER_ID in its multi, the last
                                  connection's id (-1: none) */

  /* low speed and progress */
  uint64_t ls_check_at, ls_below_since;
  xfer_off_t ls_bytes_at_check;
  uint64_t progress_at;

  /* pause and rate limits (pause.c) */
  int paused;                  /* XFERPAUSE_* bits */
  char *held;                  /* header and body pieces the application
                                  refused, in order (pause.c) */
  size_t held_len, held_off, held_cap;
  uint64_t wake_at;            /* pause changed: resume at this timer run */
  uint64_t rate_at;            /* a rate limit's wait ends (0: none) */
  uint64_t rate_start;         /* the rate window: since when, */
  xfer_off_t rate_dl, rate_ul; /* and the byte counts then */
  unsigned finish_held : 1;    /* the response is complete: done once the
                                  held pieces are delivered */
  unsigned h1_only : 1;        /* this run speaks HTTP/1.1 only (an h2
                                  server required it) */
  void *pstream;               /* the protocol's state for it (http2.c:
                                  its stream) */

  /* content decoding (decode.c) */
  unsigned char ce[XFER_CE_MAX]; /* the response's codings, in the order
                                    applied */
  unsigned char nce;
  unsigned ce_over : 1;        /* it named more than XFER_CE_MAX */
  unsigned resp_final : 1;     /* the final header section is complete:
                                  fields now are trailers */
  unsigned dec_pending : 1;    /* the decoders hold input: receiving waits
                                  for xfer__decode_drain */
  char ce_bad[24];             /* the first coding not known, for the error */
  struct xfer_decoding *dec;   /* the decoders, or NULL */
  unsigned dec_call;           /* the driving call dec_turn counts for */
  size_t dec_turn;             /* decoded bytes delivered in it */
};

struct xfer_sock {
  uint8_t owner;               /* XFER_SOCK_* */
  uint8_t reported;            /* last action given to the socket callback */
  uint8_t want;                /* current interest, XFER_POLL_* bits */
  uint8_t revents;             /* readiness from xfer_multi_wait/poll */
  uint8_t announced;           /* the current socket callback knows it */
  uint8_t ep_want;             /* what wait.c's epoll set watches, 0: none */
  uint8_t unwatched;           /* told POLL_REMOVE while still wanted: the
                                  epoll set watches it, the application
                                  does not (an idle connection) */
  uint32_t live_idx;           /* position + 1 in multi->live */
  void *socketp;               /* xfer_multi_assign */
  struct xfer_conn *conn;
};

struct xfer_multi {
  uint32_t magic;
  xfer_socket_callback socketfn;
  void *socketdata;
  xfer_multi_timer_callback timerfn;
  void *timerdata;
  long max_total, max_host, maxconnects;
  long pipelining;             /* XFERPIPE_* bits */
  long max_streams;            /* MAX_CONCURRENT_STREAMS */

  int in_callback;             /* inside the socket or timer callback */
  int sock_reannounce;         /* a new socket callback: tell it of every
                                  socket at the next driving call */
  int cb_failed;               /* one of them returned an error */
  int deferred_frees;          /* easy cleanups asked for inside them */
  int easy_cb_depth;           /* inside a transfer's own callback */

  struct xfer_queue easies;    /* every added easy */
  int num_easy, num_running;
  int nmsgs;                   /* length of msgs, for info_read */
  struct xfer_queue pending;   /* FIFO: waiting for MAX_TOTAL */
  xfer_off_t next_xfer_id, next_conn_id; /* XFER_ID, CONN_ID */
  /* The proxy variables of the environment (proxy.c), kept while the
   * environment's pointers stay the same: setenv and putenv change them. */
  struct {
    char **at;
    size_t n;
    uint64_t sum;
    unsigned call;             /* the driving call it was checked in */
    const char *v[7];
  } proxy_env;
  int head_passed;             /* times its first was passed over for a
                                  later transfer of a freed connection's
                                  host (conn.c take_waiter) */
  struct xfer_queue hosts_waiting;
  struct xfer_queue ready;     /* to be stepped before the call returns */
  struct xfer_queue starting;  /* added, to start at the next timer run */
  struct xfer_queue msgs;      /* completed, for info_read */
  struct xfer_queue conns;     /* every connection */
  struct xfer_queue idle;      /* idle connections, oldest at the head */
  struct xfer_queue flushq;    /* connections with output to send before
                                  the call returns (HTTP/2 batches) */
  struct xfer_queue idle_fresh; /* idle ones the application still watches,
                                   oldest at the head (xfer__conn_sweep) */
  uint64_t idle_sweep_at;      /* when the sweep is due (idle_fresh set) */
  unsigned call_no;            /* driving calls so far */
  int nconns, nidle;

  struct xfer_heap timers;
  uint64_t timer_reported;     /* last deadline given to the timer callback */
  int timer_held;              /* what the application's timer holds */
  int timer_dirty;             /* a deadline moved inside a callback */

  struct xfer_host **hosts;    /* hash table */
  uint32_t hosts_mask, nhosts;

  struct xfer_sock *socks;     /* indexed by fd */
  int nsocks;
  int *live;                   /* fds with an owner */
  int nlive, live_cap;

  /* wait.c: an epoll set, made with the multi handle and filled by the
   * first wait/poll/perform (socket_action programs never fill it), which
   * then mirrors every socket's interest; and what its last epoll_wait
   * found. */
  int epfd;
  int ep_active;               /* filled: socket.c keeps it in step */
  int ep_stale;                /* an epoll_ctl failed: sync again */
  int wake_pending;            /* a wakeup seen by wait, kept for poll */
  int have_revents;            /* socks[].revents are fresh from a wait */
  int nready;                  /* ready_fds[0..nready): fds with revents */
  int *ready_fds;
  char *recvbuf;               /* shared by every connection */
  int *snap;                   /* the live fds, copied for perform and */
  int snap_cap;                /* socket_all (kept: no malloc per call) */
  int wakeup_fd;               /* eventfd for xfer_multi_wakeup */

  struct xfer_dns *dns;        /* dns.c */
  struct xfer_tls_ctxs *tls;   /* tls.c: SSL_CTX per CA configuration */
};

/* util.c */
uint64_t xfer__now(void);                 /* monotonic microseconds */
/* v units of `unit` microseconds, for a deadline after a clock value:
 * saturates far beyond any clock value, so that a huge timeout means
 * "never" instead of wrapping around into the past. */
static inline uint64_t xfer__span(long v, uint64_t unit) {
  const uint64_t cap = UINT64_MAX / 4;
  if (v <= 0) return 0;
  return (uint64_t)v > cap / unit ? cap : (uint64_t)v * unit;
}
void xfer__fail(XFER *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void xfer__verbose(XFER *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* What VERBOSE shows: to the debug callback, else "* ", "> " and "< "
 * lines on stderr (text and headers), as libcurl. */
void xfer__debug(XFER *e, xfer_infotype type, const char *data, size_t len);
int xfer__strcasecmp_n(const char *a, const char *b, size_t n);
/* A hex digit's value, or -1. */
int xfer__hexval(int c);
/* Percent-decodes n bytes of src into dst (room for n): every valid %XX,
 * the rest kept as it is.  Returns the length written. */
size_t xfer__pct_decode(char *dst, const char *src, size_t n);
/* RFC 9110 tchar: a byte of a token (a method, a field name, a scheme). */
int xfer__tchar(int c);
/* Writes v in decimal into buf (at least 20 bytes), no NUL; returns the
 * length.  For the request writer, where snprintf was a tenth of the cost. */
size_t xfer__fmt_u64(char *buf, uint64_t v);

/* multi.c */
int xfer__good_multi(XFERM *m);
int xfer__good_easy(XFER *e);
void xfer__update_timer(XFERM *m);
void xfer__schedule(XFER *e);             /* step e before the call returns */
void xfer__drain(XFERM *m);
XFERMcode xfer__end_call(XFERM *m);
void xfer__run_timers(XFERM *m);
void xfer__easy_arm(XFER *e, uint64_t when);
void xfer__easy_disarm(XFER *e);

/* socket.c */
int xfer__sock_want(XFERM *m, int fd, int owner, struct xfer_conn *c,
                    XFER *e, int what);
void xfer__sock_forget(XFERM *m, int fd, XFER *e);
void xfer__sock_unwatch(XFERM *m, int fd);
void xfer__sock_callback_changed(XFERM *m);
void xfer__sock_announce_all(XFERM *m);
int xfer__sock_event(XFERM *m, int fd, int ev);

/* conn.c: connections and the connection cache */
int xfer__conn_acquire(XFER *e);          /* 0 got/queued, or XFERcode */
void xfer__conn_done(XFER *e, int ok);    /* e lets go of its connection */
void xfer__conn_close(struct xfer_conn *c);
void xfer__conn_sweep(XFERM *m);          /* idle ones leave the app's set */
void xfer__conn_watcher_changed(XFERM *m);
void xfer__conn_event(struct xfer_conn *c, int ev);
void xfer__conn_resolved(struct xfer_conn *c, struct xfer_addrs *a, int err);
void xfer__unqueue(XFER *e);
void xfer__wake_waiters(XFERM *m, struct xfer_host *h);
void xfer__hosts_free(XFERM *m);
void xfer__limits_changed(XFERM *m);
void xfer__enforce_maxconnects(XFERM *m);
void xfer__conn_want_flush(struct xfer_conn *c); /* send before returning */
void xfer__conn_flush_all(XFERM *m);
void xfer__conn_capacity_changed(struct xfer_conn *c);

/* transfer.c: the per-transfer state machine */
void xfer__step(XFER *e);
void xfer__timer_expired(XFER *e, uint64_t now);
void xfer__done(XFER *e, XFERcode code);
void xfer__detach(XFER *e);
void xfer__on_connected(XFER *e);  /* its new connection is set up */
/* A new connection for the same request: the proxy closed after a 407
 * its CONNECT answers (e->px_reconnect, tunnel.c). */
void xfer__xfer_reconnect(XFER *e);
void xfer__recompute_timer(XFER *e);

/* wait.c: keeps the epoll set (if any) in step with socks[fd].want. */
int xfer__ep_init(XFERM *m);
void xfer__ep_sync(XFERM *m, int fd);
void xfer__ep_free(XFERM *m);
int *xfer__live_snapshot(XFERM *m, int n);

/* conn.c: I/O on a connection, through TLS when it has it.  send/recv
 * return bytes (recv: 0 at EOF), XFER_IO_AGAIN, or -XFERcode. */
#define XFER_IO_AGAIN (-1000)
ssize_t xfer__conn_send(struct xfer_conn *c, const char *buf, size_t len);
ssize_t xfer__conn_recv(struct xfer_conn *c, char *buf, size_t cap);
ssize_t xfer__conn_recv_held(struct xfer_conn *c, char *buf, size_t cap);
int xfer__conn_pending(struct xfer_conn *c);
int xfer__conn_io_want(struct xfer_conn *c);
int xfer__conn_bytes_after(struct xfer_conn *c);

/* filters/tls.c: the only file that includes OpenSSL headers */
void xfer__tls_session_free(void *session);
void xfer__tls_free(XFERM *m);
/* The TLS options' part of a connection-cache key (see tls.c). */
size_t xfer__tls_key(XFER *e, int proxy, char *buf, size_t cap);

/* dns.c */
int xfer__dns_lookup(struct xfer_conn *c, XFER *e);
const char *xfer__dns_pin(const XFER *e, const char *host, size_t hostlen,
                          uint16_t port, const struct xfer_slist **from);
void xfer__dns_cancel(struct xfer_conn *c);
void xfer__dns_free(XFERM *m);
void xfer__dns_sock_event(XFERM *m, int fd, int ev);
void xfer__dns_timer(XFERM *m);
void xfer__addrs_unref(struct xfer_addrs *a);
struct xfer_addrs *xfer__addrs_unix(const char *path, int abstract);
int xfer__dns_servers_ok(const char *s);
/* Where a connection for host:port goes instead (CONNECT_TO). */
struct xfer_target {
  const char *host;            /* not NUL-terminated */
  size_t hostlen;
  uint16_t port;
};
/* 1 with *out set by the first CONNECT_TO entry for host and port, or 0
 * when none applies (*out untouched). */
int xfer__connect_to(const XFER *e, const char *host, size_t hostlen,
                     uint16_t port, struct xfer_target *out);

/* pause.c: pause, the held pieces, rate limits */
#define XFER_PIECE_HEADER 1
#define XFER_PIECE_BODY   2
/* A header line or body bytes for the application: delivered, or held
 * while receiving is paused (and when the callback pauses).  0, or an
 * XFERcode (XFERE_ABORTED_BY_CALLBACK: the run ended, stop touching e). */
int xfer__client_write(XFER *e, int type, const char *data, size_t len);
/* Whether e may not receive now (paused, pieces held, a rate wait, the
 * decoders holding input). */
int xfer__recv_blocked(XFER *e);
/* What stops the decoders: the application (paused, or pieces held).  A
 * rate limit counts wire bytes, which decoding does not add to. */
int xfer__recv_held(XFER *e);
int xfer__send_blocked(XFER *e);
/* Bytes e may receive (send) in this event: the event budget, less under
 * a rate limit; and the accounting after it. */
size_t xfer__recv_allowance(XFER *e);
size_t xfer__send_allowance(XFER *e);
void xfer__rate_check(XFER *e);
/* The timer ran for a pause change or a rate wait: deliver, finish, let
 * the protocol read or send again.  The caller holds e. */
void xfer__resume(XFER *e);
void xfer__pause_reset(XFER *e);  /* a run ends or starts */

/* cookie_easy.c: the cookie engine on an easy handle (cookie.h has the
 * store).  resp: one Set-Cookie value (0 or XFERE_OUT_OF_MEMORY). */
XFERcode xfer__cookie_setopt(XFER *e, XFERoption opt, const char *v);
XFERcode xfer__cookies_run_start(XFER *e);
int xfer__cookie_resp(XFER *e, const char *value, size_t vlen);
XFERcode xfer__cookie_req(XFER *e, char **out);
struct xfer_slist *xfer__cookies_getinfo(XFER *e, int *oom);
void xfer__cookies_close(XFER *e, int free_store);
XFERcode xfer__cookies_dup(XFER *d, const XFER *e);

/* easy.c */
void xfer__opts_init(struct xfer_opts *o);
void xfer__opts_free(struct xfer_opts *o);

/* Lifetime.  The frames that use a transfer or a connection across code
 * that can run an application callback hold it (the protocol handler's
 * submit and event, a timer's progress call, xfer_easy_perform): a cleanup
 * or a close asked for meanwhile takes the handle out of everything at
 * once, and frees it when the last holder lets go.  unhold returns 1 when
 * it freed the handle (the caller must not touch it again). */
static inline void xfer__hold(XFER *e) { e->busy++; }
int xfer__unhold(XFER *e);
static inline void xfer__conn_hold(struct xfer_conn *c) { c->busy++; }
int xfer__conn_unhold(struct xfer_conn *c);
void xfer__easy_free(XFER *e);            /* easy.c: the memory, at last */

/* Callback guards: around every application callback of a transfer.  They
 * count the multi's callback depth (the driving calls are refused inside)
 * and cb_leave says whether the transfer's run ended or changed meanwhile
 * (removed, cleaned up, re-added, finished): the caller must stop. */
static inline unsigned xfer__cb_enter(XFER *e) {
  if (e->multi) e->multi->easy_cb_depth++;
  return e->run_id;
}
int xfer__cb_leave(XFER *e, XFERM *m, unsigned run);

#endif
