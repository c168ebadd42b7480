/*
 * engine_harness.c -- see engine_harness.h.
 *
 * One run: a listening socket on 127.0.0.1:0 owned by the harness, a multi
 * handle with 1-4 transfers to it, and one loop that drives both the engine
 * (xfer_multi_socket_action from epoll, or perform + poll with the server's
 * fds as extra fds) and the server side: accept, read and check each
 * request (streaming and checking its body, plain or chunked), then write
 * the next response from the input in pieces, and end it as the input says
 * (keep the connection, close, reset, or stall).
 *
 * Invariants checked (abort() on any):
 *  - every info_read message is for a handle that is added, once per run;
 *    the running count equals the added handles without a message;
 *  - callbacks (write, header, read, progress, socket) only for live
 *    handles of a running transfer, never from inside the socket callback
 *    nor from inside remove_handle;
 *    the socket callback keeps its contract (REMOVE only for an announced
 *    socket, and before the socket is closed; none left after
 *    multi_cleanup); API calls from it are refused;
 *  - requests are well-formed (no CR/LF/control byte from a Location gets
 *    into a request), Host names our port, Authorization and Cookie never
 *    go to another host, custom headers are applied, a body only with a
 *    method that has one, a body is framed exactly (Content-Length or
 *    valid chunks, never both) and its bytes are the ones the application
 *    gave; a request with a control byte in a header is never sent;
 *  - SIZE_DOWNLOAD is what the write callback saw, and a successful
 *    Content-Length body is complete; a failure has an error message;
 *  - the fd count returns to its value before the run, and no fd of the
 *    harness is closed behind its back.
 *
 * With the options of the extension block (engine_input.h):
 *  - HTTPGET after a body was set up: the requests are GET (or the
 *    CUSTOMREQUEST), without any body or framing, and the read callback
 *    is never called;
 *  - COPYPOSTFIELDS: the body is the bytes given, though the harness
 *    overwrote and freed its buffer right after the setopt;
 *  - REDIR_PROTOCOLS_STR: after a redirect, the effective URL's scheme is
 *    one allowed; when http is not allowed, every plain-HTTP request of
 *    the transfer is for its own URL (no redirect followed to http);
 *  - UNRESTRICTED_AUTH: the Cookie header of h1.test transfers goes on
 *    every request, whatever the host (else never to another host);
 *  - pause (x1..x3): the bytes a write or header callback refused with
 *    XFER_WRITEFUNC_PAUSE are the first that callback gets after the
 *    unpause, and all come before a success; no write/header callback
 *    while receiving is paused, no read callback while sending is (as the
 *    application paused them: callback returns, xfer_easy_pause from the
 *    callback, another transfer's callback, the socket/timer callback or
 *    the loop); every xfer_easy_pause answers OK; a paused transfer never
 *    unpaused is removed at the end; under MAX_RECV_SPEED_LARGE no more
 *    than an allowance per pause plus twice the limit over its time;
 *  - for every transfer never removed: a successful body is the one the
 *    server sent (a prefix; whole when its framing says so);
 *  - a result 28 only with TIMEOUT_MS, LOW_SPEED_* or a short
 *    CONNECTTIMEOUT; from the connect timeout alone it says "Connection
 *    timed out after N milliseconds" with N the transfer's own.
 *
 * HTTP/2 (xg0 bit 0): engine_h2.c, #included at the end, plays an HTTP/2
 * server through the hooks eh2_*; it says what it checks besides.
 *
 * Input: engine_input.h documents every byte and bit (engine_input.c
 * decodes them): 3 global bytes, 4 option bytes per transfer, then the
 * responses separated by ENGINE_SEP, and optionally one extension block
 * (a segment starting with "EXT1": 4 global bytes, then 8 per transfer,
 * all zero when absent).
 *
 * The rule for new options (so that fuzz/corpus/fuzz_engine* and
 * fuzz/regress/fuzz_engine* keep their meaning): a bit that has a meaning
 * never changes it; a new option takes a reserved bit of the extension
 * block, and its 0 means "as before" (off, or the default).  The bytes the
 * header has are all taken: never reinterpret them.  Mark the new bits as
 * defined in engine_input.c; committed inputs keep reserved bits at 0
 * (test_fuzz_regress checks it).
 *
 * Request bodies are 'a'..'z' repeated (the next byte is always the
 * letter after the previous one), so the server checks any slice.
 */
#include "engine_harness.h"

#include "xfer.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define EH_MAX_SRV 24
#define EH_MAX_REQUESTS 32
#define EH_MAX_FD 4096
#define EH_REQ_CAP 16384
#define EH_QUIET_US 25000          /* nothing happened for this long: stop */
#define EH_BUDGET_MS_DEFAULT 300
#define EH_MAX_ITER 20000
#define EH_SMALL_BODY 18           /* POSTFIELDS, small */
#define EH_READ_BODY 4000          /* read callback, small */
#define EH_BIG_BODY 100000         /* either, big */
#define EH_SMALL_SOCKBUF 4096

#define EH_CHECK(cond, ...)                                                \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "engine_harness.c:%d: invariant failed: %s\n",      \
              __LINE__, #cond);                                            \
      fprintf(stderr, __VA_ARGS__);                                        \
      fputc('\n', stderr);                                                 \
      abort();                                                             \
    }                                                                      \
  } while (0)

struct engine_stats engine_stats;
int engine_oom_mode;
volatile int engine_oom_active;

/* ------------------------------------------------------------------ */
/* Nothing leaves the loopback.                                        */
/* ------------------------------------------------------------------ */

static volatile int eh_guard_on;
static volatile uint16_t eh_guard_port;

static int eh_allowed(const struct sockaddr *a, socklen_t len) {
  const struct sockaddr_in *s;
  if (!eh_guard_on || a == NULL) return 1;
  if (a->sa_family == AF_UNSPEC || a->sa_family == AF_UNIX) return 1;
  if (a->sa_family != AF_INET || len < (socklen_t)sizeof(*s)) return 0;
  s = (const struct sockaddr_in *)(const void *)a;
  return s->sin_addr.s_addr == htonl(INADDR_LOOPBACK) &&
         ntohs(s->sin_port) == eh_guard_port && eh_guard_port != 0;
}

/* These replace libc's for the whole program (the engine's connect() and
 * c-ares's, which would otherwise send DNS queries): while a run is
 * active, only the harness's listener may be reached. */
__attribute__((visibility("default"))) int connect(int fd,
                                                   const struct sockaddr *a,
                                                   socklen_t len) {
  if (!eh_allowed(a, len)) {
    engine_stats.blocked_connects++;
    errno = ENETUNREACH;
    return -1;
  }
  return (int)syscall(SYS_connect, fd, a, len);
}

__attribute__((visibility("default"))) ssize_t sendto(
    int fd, const void *buf, size_t n, int flags, const struct sockaddr *a,
    socklen_t len) {
  if (a && !eh_allowed(a, len)) {
    engine_stats.blocked_connects++;
    errno = ENETUNREACH;
    return -1;
  }
  return (ssize_t)syscall(SYS_sendto, fd, buf, n, flags, a, len);
}

__attribute__((visibility("default"))) ssize_t sendmsg(int fd,
                                                       const struct msghdr *m,
                                                       int flags) {
  if (m && m->msg_name &&
      !eh_allowed((const struct sockaddr *)m->msg_name, m->msg_namelen)) {
    engine_stats.blocked_connects++;
    errno = ENETUNREACH;
    return -1;
  }
  return (ssize_t)syscall(SYS_sendmsg, fd, m, flags);
}

/* ------------------------------------------------------------------ */
/* State                                                               */
/* ------------------------------------------------------------------ */

/* Request side of a server connection. */
enum { RQ_HEAD = 0, RQ_BODY, RQ_CHUNK, RQ_TLS };
/* Response side. */
enum { RS_IDLE = 0, RS_WRITE, RS_PAUSE, RS_STALL };
/* After a response. */
enum { END_KEEP = 0, END_CLOSE, END_RESET, END_STALL };
/* The chunked request decoder. */
enum { CK_SIZE = 0, CK_SIZE_LF, CK_DATA, CK_DATA_CR, CK_DATA_LF, CK_LAST_CR,
       CK_LAST_LF };
/* Which callback acts. */
enum { AT_WRITE = 0, AT_HEADER, AT_READ, AT_PROGRESS };
enum { TAG_LISTEN = 1, TAG_SRV = 2, TAG_CLIENT = 3 };

struct eh_tx {
  XFER *e;
  int idx;
  int added, freed, done;
  int result;
  uint8_t a, b, c, d;
  uint8_t x[ENGINE_EXT_PER_TX]; /* extension bytes (engine_input.h) */
  int is_head, has_body, follow, https, rcb, bad_header, tweaks;
  int httpget, unrestricted;
  int redir;                   /* allowed redirect schemes: 1 http, 2 https;
                                  -1 REDIR_PROTOCOLS_STR not set */
  long cto_ms;                 /* the connect timeout set, 0 none */
  long maxredirs;
  int acted, readd_pending;
  unsigned long wr_calls, hdr_calls, prog_calls, rd_calls;
  long long wr_bytes;          /* this run */
  long long rd_total, rd_given;  /* read callback: size, bytes given */
  unsigned rd_pos;             /* pattern position, never reset */
  char url[160];
  char host[32];
  struct xfer_slist *headers;
  char errbuf[XFER_ERROR_SIZE];
  /* Pause (x1..x3): the plan, */
  int pz_at;                   /* AT_WRITE/HEADER/READ that pauses, or -1 */
  int pz_unp;                  /* UNP_* */
  int pz_max;                  /* pauses allowed in a run */
  /* and the state. */
  int pz_paused;               /* paused by its callback, not unpaused */
  int pz_count, pz_rearm;
  int paused_mask;             /* what xfer has as paused, as we know it */
  int lp_state, lp_at, lp_cont, lp_switched; /* the loop's pause */
  int dying;                   /* inside xfer_easy_cleanup of it */
  int removed_once;            /* removed (and maybe re-added) in the run */
  int recv_paused_run;         /* receiving was paused in this run: bytes
                                  may have been held (counted, not given) */
  unsigned gen;                /* a new run (re-add) or a removal */
  char *rf;                    /* refused bytes, to come again first */
  size_t rf_len, rf_off;
  int rf_type;                 /* AT_WRITE or AT_HEADER */
  char *body;                  /* the bytes the write callback took */
  size_t body_len, body_cap;
  int body_over;
  char *served;                /* the last response served to it */
  size_t served_len;
  long long rate_recv;         /* MAX_RECV_SPEED_LARGE set, 0 none */
  uint64_t t_start;            /* added (or re-added) */
};

enum { UNP_LOOP = 0, UNP_OTHER, UNP_SOCKTIMER, UNP_NEVER };
#define EH_BODY_CAP (1u << 20)
#define EH_MAX_PAUSES 4

struct eh_srv {
  int fd, used;
  int rq, rs;
  char req[EH_REQ_CAP];        /* head bytes, then the next request's */
  size_t req_len;
  long long body_left;         /* RQ_BODY */
  int ck_state;                /* RQ_CHUNK */
  long long ck_left;
  unsigned ck_digits;
  int last_body;               /* previous body byte, -1 at a body start */
  long long body_bytes;
  int tx, responded;
  char *out;
  size_t out_len, off, cut;
  int end;                     /* END_* after the cut (or the end) */
  unsigned sizes;              /* write size class */
  uint64_t pause_until;
  unsigned epoll_events;       /* what is registered */
};

struct eh {
  XFERM *m;
  int mode_perform;
  uint8_t g0, g1, g2;
  int epfd, lfd;
  uint16_t port;
  char portstr[8];
  struct eh_tx tx[ENGINE_MAX_TX];
  int ntx;
  struct engine_input in;      /* the decoded input; its responses */
  int served;
  struct eh_srv srv[EH_MAX_SRV];
  uint64_t rng;
  /* socket callback state */
  uint8_t reg[EH_MAX_FD];
  uint32_t gen[EH_MAX_FD];
  int nreg;
  int timer_set;
  uint64_t timer_at;
  int timer_calls, sock_calls;
  int cb_fail_pending;         /* a socket/timer callback returned -1 */
  int in_sockcb;
  int in_remove;               /* inside a remove_handle of the loop */
  int ending;                  /* the loop is over: no more unpausing */
  struct xfer_slist *resolve;
  uint64_t t0, deadline, last_progress;
  int iter;
};

static struct eh *eh_cur;
static void eh_pz_forget(struct eh_tx *t);
/* The HTTP/2 mode (xg0 bit 0): engine_h2.c, #included at the end. */
struct eh_srv;
static int eh2_on;
static void eh2_begin(struct eh *h);
static void eh2_setup_tx(struct eh_tx *t);
static void eh2_setup_multi(struct eh *h);
static void eh2_accept(struct eh *h, struct eh_srv *s);
static void eh2_close(struct eh *h, struct eh_srv *s);
static void eh2_consume(struct eh *h, struct eh_srv *s, const char *d,
                        size_t n);
static void eh2_sent(struct eh *h, struct eh_srv *s, const char *p,
                     size_t n);
static void eh2_kick(struct eh *h, struct eh_srv *s);
static void eh2_timers(struct eh *h, uint64_t now);
static void eh2_check_done(struct eh *h, struct eh_tx *t);
static void eh2_finish(struct eh *h);
static void eh2_end(void);
static int eh_loop_pending(const struct eh *h);
static int eh_idle_unpause(struct eh *h);
static volatile unsigned eh_sink;
static char eh_big[EH_BIG_BODY];  /* the POSTFIELDS bodies */

static uint64_t eh_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t eh_rnd(struct eh *h) {
  uint64_t x = h->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  h->rng = x;
  return x * 0x2545f4914f6cdd1dull;
}

static int eh_count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *de;
  int n = 0;
  if (!d) return -1;
  while ((de = readdir(d)) != NULL)
    if (de->d_name[0] != '.') n++;
  closedir(d);
  return n - 1; /* the directory's own fd */
}

static void eh_list_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *de;
  if (!d) return;
  while ((de = readdir(d)) != NULL) {
    char path[300], target[300];
    ssize_t n;
    if (de->d_name[0] == '.') continue;
    snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
    n = readlink(path, target, sizeof(target) - 1);
    target[n > 0 ? n : 0] = 0;
    fprintf(stderr, "  fd %s -> %s\n", de->d_name, target);
  }
  closedir(d);
}

/* A multi call's result: OK, or ABORTED_BY_CALLBACK only when one of our
 * socket/timer callbacks did return an error since the last such report,
 * or OUT_OF_MEMORY when allocations fail.  Returns 0 for the latter: the
 * call may have stopped early, without setting its running count. */
static int eh_mrc(struct eh *h, XFERMcode rc, const char *what) {
  if (rc == XFERM_ABORTED_BY_CALLBACK && h->cb_fail_pending) {
    h->cb_fail_pending = 0;
    return 1;
  }
  if (rc == XFERM_OUT_OF_MEMORY && engine_oom_mode) return 0;
  EH_CHECK(rc == XFERM_OK, "%s: %d", what, (int)rc);
  return 1;
}

static struct eh_tx *eh_find(struct eh *h, XFER *e) {
  int i;
  for (i = 0; i < h->ntx; i++)
    if (h->tx[i].e == e) return &h->tx[i];
  return NULL;
}

/* ------------------------------------------------------------------ */
/* XFER_FUZZ_SUMMARY: what an input made the harness do                */
/* ------------------------------------------------------------------ */

/* With XFER_FUZZ_SUMMARY set, every run prints "summary decode ..."
 * lines (what the input was decoded to: the multi options, the loop and
 * its plan, every setopt of every transfer in order, the responses) and
 * "summary outcome ..." lines (how each transfer ended).  The decode
 * lines depend only on the input (the port shows as {P}): comparing them
 * between two versions of the harness over a corpus shows that its
 * inputs still mean the same. */
static int eh_summary_on(void) {
  static int v = -1;
  if (v < 0) v = getenv("XFER_FUZZ_SUMMARY") != NULL;
  return v;
}

static void eh_sum(const char *fmt, ...) {
  va_list ap;
  if (!eh_summary_on()) return;
  fputs("summary ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

/* s with the port as {P} and bytes outside printable ASCII escaped. */
static void eh_sum_str(char *out, size_t cap, const char *s) {
  const char *port = eh_cur ? eh_cur->portstr : "";
  size_t o = 0, pl = strlen(port);
  while (*s && o + 8 < cap) {
    if (pl && strncmp(s, port, pl) == 0) {
      memcpy(out + o, "{P}", 3);
      o += 3;
      s += pl;
    } else if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f ||
               *s == '\\') {
      o += (size_t)snprintf(out + o, cap - o, "\\x%02x", (unsigned char)*s);
      s++;
    } else {
      out[o++] = *s++;
    }
  }
  out[o] = 0;
}

/* xfer_easy_setopt, logged in the summary with its value (by the
 * option's type in xfer's option table). */
static XFERcode eh_setopt(struct eh_tx *t, XFERoption o, ...) {
  const struct xfer_easyoption *eo = xfer_easy_option_by_id(o);
  char buf[1024];
  XFERcode rc;
  va_list ap;
  EH_CHECK(eo != NULL, "option %d not in the table", (int)o);
  va_start(ap, o);
  switch (eo->type) {
  case XFEROT_LONG:
  case XFEROT_VALUES: {
    long v = va_arg(ap, long);
    rc = xfer_easy_setopt(t->e, o, v);
    eh_sum("decode tx%d %s=%ld", t->idx, eo->name, v);
    break;
  }
  case XFEROT_OFF_T: {
    xfer_off_t v = va_arg(ap, xfer_off_t);
    rc = xfer_easy_setopt(t->e, o, v);
    eh_sum("decode tx%d %s=%lld", t->idx, eo->name, (long long)v);
    break;
  }
  case XFEROT_STRING: {
    const char *v = va_arg(ap, const char *);
    rc = xfer_easy_setopt(t->e, o, v);
    if (eh_summary_on()) {
      eh_sum_str(buf, sizeof(buf), v ? v : "(null)");
      eh_sum("decode tx%d %s=\"%s\"", t->idx, eo->name, buf);
    }
    break;
  }
  case XFEROT_SLIST: {
    const struct xfer_slist *v = va_arg(ap, const struct xfer_slist *), *l;
    rc = xfer_easy_setopt(t->e, o, v);
    for (l = v; l && eh_summary_on(); l = l->next) {
      eh_sum_str(buf, sizeof(buf), l->data);
      eh_sum("decode tx%d %s+=\"%s\"", t->idx, eo->name, buf);
    }
    break;
  }
  case XFEROT_FUNCTION: {
    void (*v)(void) = va_arg(ap, void (*)(void));
    rc = xfer_easy_setopt(t->e, o, v);
    eh_sum("decode tx%d %s=fn", t->idx, eo->name);
    break;
  }
  default: {
    void *v = va_arg(ap, void *);
    rc = xfer_easy_setopt(t->e, o, v);
    eh_sum("decode tx%d %s=%s", t->idx, eo->name, v ? "ptr" : "NULL");
    break;
  }
  }
  va_end(ap);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Completion messages and the running count                           */
/* ------------------------------------------------------------------ */

/* The body of a response as served (the last of its heads after 1xx
 * ones): 1 with it in *out (malloc'd) and *full set when its framing
 * says it is all there (Content-Length or the last chunk; a success must
 * then have it whole), or 0 when the harness cannot say (not HTTP/1.x,
 * 101, unusual framing, a chunked body it does not decode strictly). */
static int eh_served_body(const char *p, size_t n, int *code_out, char **out,
                          size_t *outl, int *full) {
  size_t pos = 0, hend, i, len = 0;
  long long cl = -1;
  int code, chunked = 0, ncl = 0;
  char *b;
  for (;;) {
    const char *q = p + pos, *line;
    size_t rest = n - pos;
    hend = 0;
    for (i = 0; i + 1 < rest; i++)
      if (q[i] == '\n' && (q[i + 1] == '\n' ||
                           (i + 2 < rest && q[i + 1] == '\r' &&
                            q[i + 2] == '\n'))) {
        hend = pos + i + (q[i + 1] == '\n' ? 2 : 3);
        break;
      }
    if (!hend || rest < 12 || memcmp(q, "HTTP/1.", 7) != 0 || q[8] != ' ')
      return 0;
    for (i = 9, code = 0; i < 12; i++) {
      if (q[i] < '0' || q[i] > '9') return 0;
      code = code * 10 + (q[i] - '0');
    }
    if (code == 101) return 0;
    if (code >= 100 && code < 200) {
      pos = hend;
      continue;
    }
    /* The final head: its framing headers, strictly. */
    for (line = q; line < p + hend;) {
      const char *eol = memchr(line, '\n', (size_t)(p + hend - line));
      size_t ll = (size_t)(eol - line), vl;
      const char *v;
      if (ll && line[ll - 1] == '\r') ll--;
      if (ll > 15 && strncasecmp(line, "Content-Length:", 15) == 0) {
        ncl++;
        v = line + 15;
        vl = ll - 15;
        while (vl && (*v == ' ' || *v == '\t')) v++, vl--;
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
        if (!vl || vl > 12) return 0;
        for (i = 0, cl = 0; i < vl; i++) {
          if (v[i] < '0' || v[i] > '9') return 0;
          cl = cl * 10 + (v[i] - '0');
        }
      } else if (ll > 18 && strncasecmp(line, "Transfer-Encoding:", 18) == 0) {
        v = line + 18;
        vl = ll - 18;
        while (vl && (*v == ' ' || *v == '\t')) v++, vl--;
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
        if (vl != 7 || strncasecmp(v, "chunked", 7) != 0 || chunked)
          return 0;
        chunked = 1;
      } else if (ll >= 14 && strncasecmp(line, "Content-Length", 14) == 0) {
        return 0; /* "Content-Length :" and such: not ours to judge */
      } else if (ll >= 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
        return 0;
      }
      line = eol + 1;
    }
    break;
  }
  if (ncl > 1 || (ncl && chunked)) return 0;
  *code_out = code;
  b = malloc(n - hend + 1);
  EH_CHECK(b != NULL, "oom");
  *full = 0;
  if (code == 204 || code == 304) {
    *full = 1;
  } else if (chunked) {
    size_t k = hend;
    for (;;) {
      unsigned long long sz = 0;
      int digits = 0;
      while (k < n && isxdigit((unsigned char)p[k]) && digits < 15) {
        int c = (unsigned char)p[k++];
        sz = sz * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
        digits++;
      }
      if (k >= n) break; /* cut: what came is a prefix */
      if (!digits || (p[k] != ';' && p[k] != '\r' && p[k] != '\n' &&
                      p[k] != ' ' && p[k] != '\t')) {
        free(b);
        return 0;
      }
      while (k < n && p[k] != '\n') k++;
      if (k >= n) break;
      k++;
      if (sz == 0) {
        *full = 1;
        break;
      }
      for (i = 0; i < sz && k < n; i++) b[len++] = p[k++];
      if (k >= n) break;
      if (p[k] == '\r') k++;
      if (k < n && p[k] != '\n') {
        free(b);
        return 0;
      }
      k++;
    }
  } else if (cl >= 0) {
    len = (size_t)((long long)(n - hend) < cl ? (long long)(n - hend) : cl);
    memcpy(b, p + hend, len);
    *full = (long long)len == cl;
  } else {
    len = n - hend; /* until the close: what came is a prefix */
    memcpy(b, p + hend, len);
  }
  *out = b;
  *outl = len;
  return 1;
}

static void eh_check_done(struct eh *h, struct eh_tx *t) {
  void *priv = NULL;
  long code = -1, redirects = -1;
  xfer_off_t dl = -1, cl = -2, ul = -1;
  const char *eff = NULL;
  EH_CHECK(xfer_easy_getinfo(t->e, XFERINFO_PRIVATE, &priv) == XFERE_OK &&
               priv == t,
           "PRIVATE");
  EH_CHECK(xfer_easy_getinfo(t->e, XFERINFO_RESPONSE_CODE, &code) == 0 &&
               xfer_easy_getinfo(t->e, XFERINFO_SIZE_DOWNLOAD_T, &dl) == 0 &&
               xfer_easy_getinfo(t->e, XFERINFO_SIZE_UPLOAD_T, &ul) == 0 &&
               xfer_easy_getinfo(t->e, XFERINFO_CONTENT_LENGTH_DOWNLOAD_T,
                                 &cl) == 0 &&
               xfer_easy_getinfo(t->e, XFERINFO_REDIRECT_COUNT, &redirects) ==
                   0 &&
               xfer_easy_getinfo(t->e, XFERINFO_EFFECTIVE_URL, &eff) == 0,
           "getinfo");
  EH_CHECK(t->result >= 0 && t->result < 128, "result %d", t->result);
  engine_stats.results[t->result]++;
  if (eh2_on) eh2_check_done(h, t);
  if (t->redir >= 0 && redirects > 0 && eff != NULL) {
    int scheme = strncasecmp(eff, "https:", 6) == 0  ? 2
                 : strncasecmp(eff, "http:", 5) == 0 ? 1
                                                     : 0;
    EH_CHECK(t->redir & scheme, "transfer %d followed a redirect to %s, "
             "REDIR_PROTOCOLS_STR allows %d", t->idx, eff, t->redir);
  }
  if (t->result == XFERE_OPERATION_TIMEDOUT) {
    char want[64];
    EH_CHECK((t->a & (8 | 16)) || t->cto_ms > 0,
             "transfer %d timed out (28) without any timeout set", t->idx);
    snprintf(want, sizeof(want), "Connection timed out after %ld "
             "milliseconds", t->cto_ms);
    if (!(t->a & (8 | 16)) && !(t->d & 0x80))
      EH_CHECK(strcmp(t->errbuf, want) == 0, "transfer %d: 28 with \"%s\"",
               t->idx, t->errbuf);
  }
  /* SIZE_DOWNLOAD counts the body bytes received, as libcurl's: those
   * held for a paused transfer too, and a failure may come before they
   * are given (a success may not, below). */
  if (t->result != XFERE_OK && t->recv_paused_run)
    EH_CHECK(dl >= t->wr_bytes, "transfer %d: SIZE_DOWNLOAD %lld but the "
             "write callback got %lld", t->idx, (long long)dl, t->wr_bytes);
  else
    EH_CHECK(dl == t->wr_bytes,
             "transfer %d: SIZE_DOWNLOAD %lld but the write callback got "
             "%lld", t->idx, (long long)dl, t->wr_bytes);
  EH_CHECK(ul >= 0, "SIZE_UPLOAD %lld", (long long)ul);
  EH_CHECK(eff != NULL, "no effective URL");
  EH_CHECK(redirects >= 0 &&
               redirects <= (t->follow ? (t->maxredirs < 0 ? EH_MAX_REQUESTS
                                                            : t->maxredirs)
                                       : 0),
           "transfer %d: %ld redirects", t->idx, redirects);
  if (t->bad_header)
    EH_CHECK(t->result == XFERE_BAD_FUNCTION_ARGUMENT ||
                 t->result == XFERE_ABORTED_BY_CALLBACK,
             "transfer %d with a control byte in a header: %d", t->idx,
             t->result);
  if (t->result != XFERE_OK) {
    if (!(t->d & 0x80)) {
      EH_CHECK(t->errbuf[0] != 0, "transfer %d failed (%d) without a message",
               t->idx, t->result);
      EH_CHECK(memchr(t->errbuf, 0, sizeof(t->errbuf)) != NULL,
               "error message not terminated");
    }
    return;
  }
  engine_stats.ok++;
  EH_CHECK(code >= 200 && code <= 999, "transfer %d ok with status %ld",
           t->idx, code);
  /* A refusal's bytes came again before the end. */
  EH_CHECK(t->rf == NULL, "transfer %d succeeded without %zu of the %zu "
           "bytes its %s callback refused", t->idx, t->rf_len - t->rf_off,
           t->rf_len, t->rf_type == AT_WRITE ? "write" : "header");
  /* The write callback got the body served, in order, once: whatever
   * pauses, refusals and rate limits came in between. */
  if (!t->is_head && !t->removed_once && !t->body_over && t->served) {
    char *want = NULL;
    size_t wl = 0;
    int full = 0, scode = 0;
    if (eh_served_body(t->served, t->served_len, &scode, &want, &wl,
                       &full)) {
      if (scode == code) {
        EH_CHECK(t->body_len <= wl &&
                     (t->body_len == 0 ||
                      memcmp(t->body, want, t->body_len) == 0),
                 "transfer %d: the write callback got %zu bytes that are not "
                 "the body served (%zu bytes)", t->idx, t->body_len, wl);
        if (full)
          EH_CHECK(t->body_len == wl, "transfer %d: ok with %zu of the %zu "
                   "body bytes served", t->idx, t->body_len, wl);
        engine_stats.bodies_checked++;
      }
      free(want);
    }
  }
  /* Under a receive limit: no faster than it, but for the allowances of
   * an event (one at the start and after each pause). */
  if (t->rate_recv > 0 && !t->removed_once) {
    double secs = (double)(eh_now() - t->t_start) / 1e6;
    long long a = t->rate_recv / 10 < 1024 ? 1024 : t->rate_recv / 10;
    long long cap = (4 + t->pz_count + 2 * (t->lp_state > 0)) * a +
                    (long long)(2.0 * (double)t->rate_recv * secs);
    EH_CHECK(t->wr_bytes <= cap, "transfer %d: %lld bytes in %.3f s under "
             "MAX_RECV_SPEED_LARGE %lld", t->idx, t->wr_bytes, secs,
             t->rate_recv);
    engine_stats.rate_checked++;
  }
  if ((t->a & 0x80) != 0)
    EH_CHECK(code < 400, "FAILONERROR let %ld through", code);
  if (t->is_head) {
    EH_CHECK(dl == 0, "transfer %d: HEAD with %lld body bytes", t->idx,
             (long long)dl);
  } else if (cl >= 0 && code != 204 && code != 304) {
    EH_CHECK(dl == cl,
             "transfer %d: ok with %lld body bytes, Content-Length %lld",
             t->idx, (long long)dl, (long long)cl);
  }
}

static void eh_drain(struct eh *h, int running) {
  XFERMsg *msg;
  int left = 0, expect = -1, i, alive = 0;
  while ((msg = xfer_multi_info_read(h->m, &left)) != NULL) {
    struct eh_tx *t = eh_find(h, msg->easy_handle);
    EH_CHECK(expect < 0 || left == expect - 1, "msgs_in_queue %d after %d",
             left, expect);
    expect = left;
    EH_CHECK(t != NULL, "message for a handle never added (%p)",
             (void *)msg->easy_handle);
    EH_CHECK(!t->freed, "message for a cleaned-up handle");
    EH_CHECK(t->added, "message for transfer %d, which was removed", t->idx);
    EH_CHECK(!t->done, "second message for transfer %d", t->idx);
    EH_CHECK(msg->msg == XFERMSG_DONE, "msg %d", (int)msg->msg);
    t->done = 1;
    t->result = (int)msg->data.result;
    if (getenv("XFER_FUZZ_TRACE"))
      fprintf(stderr, "[harness] message: tx%d result %d\n", t->idx,
              t->result);
    engine_stats.msgs++;
    h->last_progress = eh_now();
    eh_check_done(h, t);
    eh_pz_forget(t);
  }
  EH_CHECK(expect <= 0, "msgs_in_queue said %d more", expect);
  EH_CHECK(left == 0, "no message but %d left", left);
  if (running < 0) return;
  for (i = 0; i < h->ntx; i++)
    if (h->tx[i].added && !h->tx[i].done) alive++;
  if (running != alive)
    for (i = 0; i < h->ntx; i++)
      fprintf(stderr, "  tx%d added=%d done=%d freed=%d result=%d\n", i,
              h->tx[i].added, h->tx[i].done, h->tx[i].freed,
              h->tx[i].result);
  EH_CHECK(running == alive, "running %d, but %d transfers are added and "
           "without a message", running, alive);
}

/* ------------------------------------------------------------------ */
/* Application callbacks                                               */
/* ------------------------------------------------------------------ */

static void eh_readd(struct eh *h, struct eh_tx *t) {
  /* add_handle clears the error buffer itself, and may already fail the
   * transfer (a failing timer callback): leave the buffer alone. */
  XFERMcode rc = xfer_multi_add_handle(h->m, t->e);
  if (getenv("XFER_FUZZ_TRACE"))
    fprintf(stderr, "[harness] re-add tx%d: %d\n", t->idx, (int)rc);
  if (rc == XFERM_OUT_OF_MEMORY && engine_oom_mode) return; /* not added */
  eh_mrc(h, rc, "re-add");
  t->added = 1;
  t->done = 0;
  t->wr_bytes = 0;
  t->rd_given = 0;
  /* A new run: unpaused, nothing held, a new body. */
  t->gen++;
  eh_pz_forget(t);
  t->body_len = 0;
  t->body_over = 0;
  t->recv_paused_run = 0;
  t->t_start = eh_now();
  engine_stats.transfers++;
}

static void eh_remove(struct eh *h, struct eh_tx *t, int cleanup) {
  if (t->freed) return;
  if (getenv("XFER_FUZZ_TRACE"))
    fprintf(stderr, "[harness] remove tx%d%s\n", t->idx,
            cleanup ? " and clean up" : "");
  if (t->added) {
    int was = h->in_remove;
    h->in_remove = 1;
    eh_mrc(h, xfer_multi_remove_handle(h->m, t->e), "remove_handle");
    h->in_remove = was;
    t->added = 0;
    t->gen++;
    t->removed_once = 1;
    eh_pz_forget(t); /* what was held goes with the run */
  }
  if (cleanup) {
    t->dying = 1; /* no xfer_easy_pause on it from a callback meanwhile */
    xfer_easy_cleanup(t->e);
    t->freed = 1;
  }
}

static int eh_act_at(const struct eh_tx *t) { return (t->b >> 5) & 3; }

static unsigned eh_act_call(const struct eh_tx *t) {
  static const unsigned k[4] = {1, 2, 3, 6};
  return k[(t->b >> 3) & 3];
}

/* The once-per-run action of a transfer's callback (not "short" and not
 * "fail", which the callbacks do themselves).  Returns 1 if it did
 * something to a handle. */
static int eh_act(struct eh *h, struct eh_tx *t) {
  t->acted = 1;
  switch (t->b & 7) {
  case 2:
    eh_remove(h, t, 0);
    return 1;
  case 3:
    eh_remove(h, t, 1);
    return 1;
  case 4:
    eh_remove(h, t, 0);
    eh_readd(h, t);
    return 1;
  case 5:
    eh_remove(h, &h->tx[(t->idx + 1) % h->ntx], 1);
    return 1;
  case 6:
    t->dying = 1;
    xfer_easy_cleanup(t->e);
    t->added = 0;
    t->freed = 1;
    t->gen++;
    eh_pz_forget(t);
    return 1;
  default:
    return 0;
  }
}

/* Is it time for this callback's action? */
static int eh_due(const struct eh_tx *t, int at, unsigned long calls) {
  return !t->acted && (t->b & 7) && eh_act_at(t) == at &&
         calls == eh_act_call(t);
}

static void eh_live(struct eh_tx *t, const char *what) {
  EH_CHECK(!t->freed, "%s callback for cleaned-up transfer %d", what,
           t->idx);
  EH_CHECK(t->added, "%s callback for removed transfer %d", what, t->idx);
  EH_CHECK(!t->done, "%s callback for finished transfer %d", what, t->idx);
  EH_CHECK(!eh_cur->in_sockcb, "%s callback inside the socket callback",
           what);
  /* remove_handle only takes a transfer out: what it wakes runs later */
  EH_CHECK(!eh_cur->in_remove, "%s callback inside remove_handle", what);
}

/* ---- pause (x1..x3 of the extension block) ---- */

static int eh_pz_ok(const struct eh_tx *t) { return !t->freed && !t->dying; }

static int eh_pz_dir(const struct eh_tx *t) {
  return t->pz_at == AT_READ ? XFERPAUSE_SEND : XFERPAUSE_RECV;
}

static unsigned eh_pz_call(const struct eh_tx *t) {
  static const unsigned k[4] = {1, 2, 3, 6};
  return k[(t->x[1] >> EX1_CALL_SHIFT) & 3];
}

/* The run ended (or the transfer left it): nothing is paused or held. */
static void eh_pz_forget(struct eh_tx *t) {
  t->pz_paused = 0;
  t->paused_mask = 0;
  free(t->rf);
  t->rf = NULL;
  t->rf_len = t->rf_off = 0;
}

/* xfer_easy_pause(t, mask) from wherever we are (a callback of any
 * transfer, the socket or timer callback, the loop): xfer has mask as
 * paused after it, when the transfer runs. */
static void eh_pause_call(struct eh_tx *t, int mask) {
  XFERcode rc;
  if (!eh_pz_ok(t)) return;
  rc = xfer_easy_pause(t->e, mask);
  if (getenv("XFER_FUZZ_TRACE"))
    fprintf(stderr, "[harness] xfer_easy_pause(tx%d, %d): %d\n", t->idx,
            mask, (int)rc);
  EH_CHECK(rc == XFERE_OK || (engine_oom_mode && rc == XFERE_OUT_OF_MEMORY),
           "xfer_easy_pause(transfer %d, %d): %d", t->idx, mask, (int)rc);
  if (rc != XFERE_OK) return;
  t->paused_mask = t->added && !t->done ? mask : 0;
  if (t->paused_mask & XFERPAUSE_RECV) t->recv_paused_run = 1;
  if (t->pz_paused && !(mask & eh_pz_dir(t))) {
    t->pz_paused = 0;
    t->pz_rearm = 1;
  }
  if (mask == XFERPAUSE_CONT) engine_stats.unpauses++;
}

/* Is another transfer running, unpaused (its callbacks can unpause)? */
static int eh_other_running(const struct eh *h, const struct eh_tx *t) {
  int i;
  for (i = 0; i < h->ntx; i++)
    if (&h->tx[i] != t && h->tx[i].added && !h->tx[i].done &&
        !h->tx[i].freed && !h->tx[i].paused_mask)
      return 1;
  return 0;
}

/* Does the loop have to unpause t (its unpauser cannot)? */
static int eh_loop_unpauses(const struct eh *h, const struct eh_tx *t) {
  if (!t->pz_paused || !eh_pz_ok(t)) return 0;
  return t->pz_unp == UNP_LOOP ||
         (t->pz_unp == UNP_SOCKTIMER && h->mode_perform) ||
         (t->pz_unp == UNP_OTHER && !eh_other_running(h, t));
}

/* The callback-made pauses whose unpauser is `unp` end: called from a
 * callback of `caller` (UNP_OTHER) or from the socket/timer callback. */
static void eh_unpause_by(struct eh *h, int unp, const struct eh_tx *caller) {
  int i;
  if (h->ending) return;
  for (i = 0; i < h->ntx; i++) {
    struct eh_tx *t = &h->tx[i];
    if (t == caller || !t->pz_paused || t->pz_unp != unp || !eh_pz_ok(t))
      continue;
    eh_pause_call(t, XFERPAUSE_CONT);
    if (unp == UNP_OTHER)
      engine_stats.unpauses_cb++;
    else
      engine_stats.unpauses_sock++;
  }
}

/* Is it time for this callback to pause? */
static int eh_pz_due(const struct eh_tx *t, int at, unsigned long calls) {
  if (t->pz_at != at || t->pz_paused || t->pz_count >= t->pz_max) return 0;
  if (t->pz_count > 0) return t->pz_rearm; /* again: right after a CONT */
  return calls == eh_pz_call(t);
}

/* The callback of t pauses now (gen: t->gen when it was called; data:
 * the bytes it was given, NULL for the read callback).  Returns 1 when it
 * must return the PAUSE value (it takes nothing), 0 when it paused with
 * xfer_easy_pause and goes on as usual. */
static int eh_pz_now(struct eh_tx *t, unsigned gen, const char *data,
                     size_t len, int at) {
  int dir = eh_pz_dir(t);
  t->pz_count++;
  t->pz_rearm = 0;
  if (t->x[3] & EX3_API_PAUSE) {
    if (!eh_pz_ok(t)) return 0;
    engine_stats.api_pauses++;
    eh_pause_call(t, t->paused_mask | dir);
    if (t->added && !t->done) t->pz_paused = 1;
    return 0;
  }
  /* A pause of this run, unless the callback ended it first (removed,
   * re-added or cleaned up its handle: xfer then ignores the value). */
  if (!t->freed && t->added && t->gen == gen) {
    engine_stats.pauses++;
    t->pz_paused = 1;
    t->paused_mask |= dir;
    if (dir == XFERPAUSE_RECV) t->recv_paused_run = 1;
    if (getenv("XFER_FUZZ_TRACE"))
      fprintf(stderr, "[harness] tx%d's %s callback returns PAUSE\n",
              t->idx, at == AT_WRITE ? "write" : at == AT_HEADER ? "header"
                                                                 : "read");
    if (data) {
      /* They must come again, first (the rest of an earlier refusal is
       * their start: eh_rf_check took it already). */
      free(t->rf);
      t->rf = malloc(len);
      EH_CHECK(t->rf != NULL, "oom");
      memcpy(t->rf, data, len);
      t->rf_len = len;
      t->rf_off = 0;
      t->rf_type = at;
    }
  }
  return 1;
}

/* The bytes a write or header callback gets after a refusal start with
 * the refused ones, and in the same callback. */
static void eh_rf_check(struct eh_tx *t, int at, const char *p, size_t len) {
  size_t n;
  if (!t->rf) return;
  EH_CHECK(at == t->rf_type, "transfer %d: a %s callback before the %zu "
           "refused bytes of its %s callback", t->idx,
           at == AT_WRITE ? "write" : "header", t->rf_len - t->rf_off,
           t->rf_type == AT_WRITE ? "write" : "header");
  n = t->rf_len - t->rf_off;
  if (n > len) n = len;
  EH_CHECK(memcmp(p, t->rf + t->rf_off, n) == 0,
           "transfer %d: the bytes after a refusal are not the refused ones "
           "(%zu of %zu in, got \"%.*s\")", t->idx, t->rf_off, t->rf_len,
           (int)(len < 40 ? len : 40), p);
  t->rf_off += n;
  if (t->rf_off == t->rf_len) {
    free(t->rf);
    t->rf = NULL;
    t->rf_len = t->rf_off = 0;
    engine_stats.refused_again++;
  }
}

/* Appends p[0..n) to a growing buffer of at most limit bytes: 0, or 1
 * (nothing appended) when it would go past the limit. */
static int eh_append_capped(char **buf, size_t *len, size_t *cap,
                            size_t limit, const void *p, size_t n) {
  if (*len + n > limit) return 1;
  if (*len + n > *cap) {
    size_t c = *cap ? *cap : 1024;
    char *b;
    while (c < *len + n) c *= 2;
    b = realloc(*buf, c);
    EH_CHECK(b != NULL, "oom");
    *buf = b;
    *cap = c;
  }
  memcpy(*buf + *len, p, n);
  *len += n;
  return 0;
}

/* What the write callback took, to compare with what was served. */
static void eh_body_add(struct eh_tx *t, const char *p, size_t len) {
  if (!t->body_over)
    t->body_over = eh_append_capped(&t->body, &t->body_len, &t->body_cap,
                                    EH_BODY_CAP, p, len);
}

static size_t eh_write(char *ptr, size_t size, size_t nmemb, void *ud) {
  struct eh_tx *t = ud;
  size_t len = size * nmemb, i;
  unsigned sum = 0;
  unsigned gen = t->gen;
  int act, pz, refuse;
  eh_live(t, "write");
  EH_CHECK(size == 1 && len > 0, "write callback with %zu x %zu", size,
           nmemb);
  EH_CHECK(!(t->paused_mask & XFERPAUSE_RECV),
           "write callback of transfer %d, whose receiving is paused",
           t->idx);
  for (i = 0; i < len; i++) sum += (unsigned char)ptr[i];
  eh_sink += sum; /* every byte read: ASan checks the span */
  eh_rf_check(t, AT_WRITE, ptr, len);
  eh_unpause_by(eh_cur, UNP_OTHER, t);
  t->wr_calls++;
  act = eh_due(t, AT_WRITE, t->wr_calls);
  /* A short or failing return wins over a pause due on the same call. */
  pz = !(act && ((t->b & 7) == 1 || (t->b & 7) == 7)) &&
       eh_pz_due(t, AT_WRITE, t->wr_calls);
  refuse = pz && !(t->x[3] & EX3_API_PAUSE);
  if (!refuse) {
    t->wr_bytes += (long long)len;
    eh_body_add(t, ptr, len);
  }
  if (act) {
    if ((t->b & 7) == 1) {
      t->acted = 1;
      return len - 1;
    }
    if ((t->b & 7) == 7) {
      t->acted = 1;
      return XFER_WRITEFUNC_ERROR;
    }
    eh_act(eh_cur, t);
  }
  if (pz && eh_pz_now(t, gen, ptr, len, AT_WRITE)) return XFER_WRITEFUNC_PAUSE;
  return len;
}

static size_t eh_header(char *ptr, size_t size, size_t nmemb, void *ud) {
  struct eh_tx *t = ud;
  size_t len = size * nmemb;
  unsigned gen = t->gen;
  int act, pz;
  eh_live(t, "header");
  EH_CHECK(size == 1 && len > 0 && ptr[len - 1] == '\n',
           "header line without its LF");
  EH_CHECK(!(t->paused_mask & XFERPAUSE_RECV),
           "header callback of transfer %d, whose receiving is paused",
           t->idx);
  eh_rf_check(t, AT_HEADER, ptr, len);
  eh_unpause_by(eh_cur, UNP_OTHER, t);
  t->hdr_calls++;
  act = eh_due(t, AT_HEADER, t->hdr_calls);
  pz = !(act && ((t->b & 7) == 1 || (t->b & 7) == 7)) &&
       eh_pz_due(t, AT_HEADER, t->hdr_calls);
  if (act) {
    if ((t->b & 7) == 1) {
      t->acted = 1;
      return len - 1;
    }
    if ((t->b & 7) == 7) {
      t->acted = 1;
      return XFER_WRITEFUNC_ERROR;
    }
    eh_act(eh_cur, t);
  }
  if (pz && eh_pz_now(t, gen, ptr, len, AT_HEADER))
    return XFER_WRITEFUNC_PAUSE;
  return len;
}

static size_t eh_read(char *buf, size_t size, size_t nitems, void *ud) {
  struct eh_tx *t = ud;
  size_t room = size * nitems, n, i;
  unsigned gen = t->gen;
  int act, pz;
  eh_live(t, "read");
  EH_CHECK(!t->httpget, "read callback of transfer %d, set back to GET",
           t->idx);
  EH_CHECK(size == 1 && room > 0, "read callback with %zu x %zu", size,
           nitems);
  EH_CHECK(!(t->paused_mask & XFERPAUSE_SEND),
           "read callback of transfer %d, whose sending is paused", t->idx);
  eh_unpause_by(eh_cur, UNP_OTHER, t);
  t->rd_calls++;
  act = eh_due(t, AT_READ, t->rd_calls);
  pz = !(act && ((t->b & 7) == 1 || (t->b & 7) == 7)) &&
       eh_pz_due(t, AT_READ, t->rd_calls);
  if (act) {
    if ((t->b & 7) == 1) {
      t->acted = 1;
      return 0;
    }
    if ((t->b & 7) == 7) {
      t->acted = 1;
      return XFER_READFUNC_ABORT;
    }
    if (eh_act(eh_cur, t))
      return pz && eh_pz_now(t, gen, NULL, 0, AT_READ) ? XFER_READFUNC_PAUSE
                                                      : 0;
  }
  if (pz && eh_pz_now(t, gen, NULL, 0, AT_READ)) return XFER_READFUNC_PAUSE;
  if ((t->c & 0x0c) && t->rd_calls == eh_act_call(t)) {
    switch ((t->c >> 2) & 3) {
    case 1:
      return XFER_READFUNC_ABORT;
    case 2:
      return room + 1;
    default:
      return 0; /* the body ends before its size */
    }
  }
  n = t->rd_total - t->rd_given < (long long)room
          ? (size_t)(t->rd_total - t->rd_given)
          : room;
  /* Unknown size: pieces of varying sizes. */
  if ((t->c & 3) == 2 && n > 1) n = 1 + (t->rd_calls * 997u) % n;
  for (i = 0; i < n; i++) buf[i] = (char)('a' + t->rd_pos++ % 26);
  t->rd_given += (long long)n;
  return n;
}

static int eh_progress(void *ud, xfer_off_t dltotal, xfer_off_t dlnow,
                       xfer_off_t ultotal, xfer_off_t ulnow) {
  struct eh_tx *t = ud;
  eh_live(t, "progress");
  EH_CHECK(dltotal >= 0 && dlnow >= 0 && ultotal >= 0 && ulnow >= 0,
           "negative progress");
  eh_unpause_by(eh_cur, UNP_OTHER, t);
  t->prog_calls++;
  if (eh_due(t, AT_PROGRESS, t->prog_calls)) {
    if ((t->b & 7) == 7) {
      t->acted = 1;
      return 1;
    }
    eh_act(eh_cur, t);
  }
  return 0;
}

static int eh_sockcb2(XFER *e, xfer_socket_t s, int what, struct eh *h,
                      void *socketp);

static int eh_sockcb(XFER *e, xfer_socket_t s, int what, void *userp,
                     void *socketp) {
  struct eh *h = userp;
  int rc;
  EH_CHECK(h == eh_cur, "socket callback userp");
  h->in_sockcb++;
  rc = eh_sockcb2(e, s, what, h, socketp);
  eh_unpause_by(h, UNP_SOCKTIMER, NULL); /* still inside the callback */
  h->in_sockcb--;
  if (rc == 0 && (h->g2 & 0xc0) == 0x80 && ++h->sock_calls == 3 &&
      what != XFER_POLL_REMOVE) {
    /* "Could not watch it": the transfers fail when the call ends. */
    h->cb_fail_pending = 1;
    return -1;
  }
  return rc;
}

static int eh_sockcb2(XFER *e, xfer_socket_t s, int what, struct eh *h,
                      void *socketp) {
  struct epoll_event ev;
  struct eh_tx *t = NULL;
  int rc, running;
  EH_CHECK(s >= 0 && s < EH_MAX_FD, "socket %d", s);
  EH_CHECK(what >= XFER_POLL_IN && what <= XFER_POLL_REMOVE, "what %d", what);
  if (e) {
    t = eh_find(h, e);
    EH_CHECK(t != NULL, "socket callback with an unknown easy handle");
    /* A handle cleaned up from inside its own callback is only freed once
     * the engine has unwound, and its connection's POLL_REMOVE names it:
     * tolerated (counted), the memory is still valid then. */
    if (t->freed) {
      EH_CHECK(what == XFER_POLL_REMOVE,
               "socket callback (what %d) for cleaned-up transfer %d", what,
               t->idx);
      engine_stats.stale_easy_in_sockcb++;
    }
  }
  EH_CHECK(socketp == NULL || socketp == &h->reg[s], "socketp %p",
           socketp);
  /* The API refuses to be re-entered from here. */
  EH_CHECK(xfer_multi_socket_action(h->m, XFER_SOCKET_TIMEOUT, 0, &running) ==
               XFERM_RECURSIVE_API_CALL,
           "socket_action inside the socket callback");
  if (what == XFER_POLL_REMOVE) {
    EH_CHECK(h->reg[s], "POLL_REMOVE for socket %d, never announced", s);
    rc = epoll_ctl(h->epfd, EPOLL_CTL_DEL, s, NULL);
    EH_CHECK(rc == 0, "POLL_REMOVE for socket %d: %s (closed already?)", s,
             strerror(errno));
    h->reg[s] = 0;
    h->gen[s]++;
    h->nreg--;
    return 0;
  }
  memset(&ev, 0, sizeof(ev));
  ev.events = (what & XFER_POLL_IN ? EPOLLIN : 0u) |
              (what & XFER_POLL_OUT ? EPOLLOUT : 0u);
  ev.data.u64 = ((uint64_t)TAG_CLIENT << 56) | ((uint64_t)h->gen[s] << 24) |
                (uint64_t)s;
  if (h->reg[s]) {
    rc = epoll_ctl(h->epfd, EPOLL_CTL_MOD, s, &ev);
    EH_CHECK(rc == 0, "socket %d was closed without POLL_REMOVE (%s)", s,
             strerror(errno));
  } else {
    rc = epoll_ctl(h->epfd, EPOLL_CTL_ADD, s, &ev);
    EH_CHECK(rc == 0, "epoll add %d: %s", s, strerror(errno));
    h->reg[s] = 1;
    h->nreg++;
    EH_CHECK(xfer_multi_assign(h->m, s, &h->reg[s]) == XFERM_OK, "assign");
    if (t && !t->freed && (t->c & 0x80)) {
      /* A small send buffer: the request has to wait for POLL_OUT. */
      int sz = EH_SMALL_SOCKBUF;
      setsockopt(s, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    }
  }
  return 0;
}

static int eh_timercb(XFERM *m, long ms, void *userp) {
  struct eh *h = userp;
  EH_CHECK(h == eh_cur && m == h->m, "timer callback args");
  EH_CHECK(ms >= -1, "timer %ld", ms);
  h->timer_calls++;
  eh_unpause_by(h, UNP_SOCKTIMER, NULL);
  if (ms < 0) {
    h->timer_set = 0;
  } else {
    h->timer_set = 1;
    h->timer_at = eh_now() + (uint64_t)ms * 1000u;
  }
  if ((h->g2 & 0xc0) == 0xc0 && h->timer_calls == 4) {
    h->cb_fail_pending = 1;
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------------ */
/* The server                                                          */
/* ------------------------------------------------------------------ */

static void eh_srv_update(struct eh *h, struct eh_srv *s) {
  struct epoll_event ev;
  unsigned want;
  if (h->mode_perform || s->fd < 0) return;
  want = EPOLLIN | (s->rs == RS_WRITE ? (unsigned)EPOLLOUT : 0u);
  if (want == s->epoll_events) return;
  memset(&ev, 0, sizeof(ev));
  ev.events = want;
  ev.data.u64 = ((uint64_t)TAG_SRV << 56) | (uint64_t)(s - h->srv);
  EH_CHECK(epoll_ctl(h->epfd, s->epoll_events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
                     s->fd, &ev) == 0,
           "server epoll: %s", strerror(errno));
  s->epoll_events = want;
}

static void eh_srv_close(struct eh *h, struct eh_srv *s, int reset) {
  if (eh2_on) eh2_close(h, s);
  if (s->fd >= 0) {
    if (reset) {
      struct linger l;
      l.l_onoff = 1;
      l.l_linger = 0;
      setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    }
    if (!h->mode_perform && s->epoll_events)
      epoll_ctl(h->epfd, EPOLL_CTL_DEL, s->fd, NULL);
    close(s->fd);
  }
  free(s->out);
  s->out = NULL;
  s->fd = -1;
  s->used = 0;
  s->epoll_events = 0;
  s->req_len = 0;
}

static void eh_accept(struct eh *h) {
  for (;;) {
    int fd = accept4(h->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), i,
        one = 1;
    struct eh_srv *s;
    if (fd < 0) return;
    for (i = 0; i < EH_MAX_SRV && h->srv[i].used; i++)
      ;
    if (i == EH_MAX_SRV) {
      close(fd);
      continue;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    s = &h->srv[i];
    s->fd = fd;
    s->used = 1;
    s->rq = RQ_HEAD;
    s->rs = RS_IDLE;
    s->req_len = 0;
    s->epoll_events = 0;
    s->responded = 0;
    s->tx = -1;
    s->last_body = -1;
    eh_srv_update(h, s);
    h->last_progress = eh_now();
    if (eh2_on) eh2_accept(h, s);
  }
}

static int eh_hdr_is(const char *line, size_t n, const char *name) {
  size_t k = strlen(name);
  return n > k && line[k] == ':' && strncasecmp(line, name, k) == 0;
}

/* The value of a header line, trimmed; sets *vl. */
static const char *eh_hdr_val(const char *line, size_t n, size_t *vl) {
  const char *v = memchr(line, ':', n) + 1, *e = line + n;
  while (v < e && (*v == ' ' || *v == '\t')) v++;
  while (e > v && (e[-1] == ' ' || e[-1] == '\t')) e--;
  *vl = (size_t)(e - v);
  return v;
}

enum { BODY_NONE = 0, BODY_LENGTH, BODY_CHUNKED };

/* Checks a request head (CRLF CRLF included); sets the connection up for
 * its body. */
static void eh_check_request(struct eh *h, struct eh_srv *s, const char *q,
                             size_t n) {
  const char *p = q, *end = q + n, *sp1, *sp2, *eol;
  size_t i, ml;
  int hosts = 0, auth = 0, cookie = 0, tx = -1, te = 0, cls = 0, accept = 0,
      empty = 0, ua_ok = 0;
  long long clen = -1;
  char hostname[300] = "";
  struct eh_tx *t;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)q[i];
    if (c == '\r')
      EH_CHECK(i + 1 < n && q[i + 1] == '\n', "bare CR in the request");
    else if (c == '\n')
      EH_CHECK(i > 0 && q[i - 1] == '\r', "bare LF in the request");
    else
      EH_CHECK((c >= 0x20 && c < 0x7f) || c == '\t',
               "byte 0x%02x in the request head:\n%.*s", c, (int)n, q);
  }
  eol = strstr(p, "\r\n");
  sp1 = memchr(p, ' ', (size_t)(eol - p));
  EH_CHECK(sp1 != NULL, "request line without SP: %.*s", (int)(eol - p), p);
  sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
  EH_CHECK(sp2 != NULL && sp2 + 9 == eol && memcmp(sp2, " HTTP/1.1", 9) == 0,
           "request line: %.*s", (int)(eol - p), p);
  EH_CHECK(sp1[1] == '/', "request target: %.*s", (int)(sp2 - sp1 - 1),
           sp1 + 1);
  ml = (size_t)(sp1 - p);
  p = eol + 2;
  while (p < end) {
    size_t ln, vl;
    const char *v;
    eol = strstr(p, "\r\n");
    ln = (size_t)(eol - p);
    if (ln == 0) break;
    EH_CHECK(memchr(p, ':', ln) != NULL, "header without colon: %.*s",
             (int)ln, p);
    v = eh_hdr_val(p, ln, &vl);
    if (eh_hdr_is(p, ln, "Host")) {
      const char *colon = vl ? memrchr(v, ':', vl) : NULL;
      hosts++;
      EH_CHECK(colon && (size_t)(v + vl - colon - 1) == strlen(h->portstr) &&
                   memcmp(colon + 1, h->portstr, strlen(h->portstr)) == 0,
               "Host is not our port: %.*s", (int)vl, v);
      snprintf(hostname, sizeof(hostname), "%.*s", (int)(colon - v), v);
    } else if (eh_hdr_is(p, ln, "Authorization")) {
      auth++;
    } else if (eh_hdr_is(p, ln, "Cookie")) {
      cookie++;
    } else if (eh_hdr_is(p, ln, "Content-Length")) {
      cls++;
      for (i = 0, clen = 0; i < vl; i++) {
        EH_CHECK(v[i] >= '0' && v[i] <= '9' && clen < 1000000000,
                 "Content-Length: %.*s", (int)vl, v);
        clen = clen * 10 + (v[i] - '0');
      }
    } else if (eh_hdr_is(p, ln, "Transfer-Encoding")) {
      te++;
      EH_CHECK(vl == 7 && strncasecmp(v, "chunked", 7) == 0,
               "Transfer-Encoding: %.*s", (int)vl, v);
    } else if (eh_hdr_is(p, ln, "X-T")) {
      tx = atoi(v);
    } else if (eh_hdr_is(p, ln, "Accept")) {
      accept++;
    } else if (eh_hdr_is(p, ln, "X-Empty")) {
      empty++;
      EH_CHECK(vl == 0, "X-Empty: %.*s", (int)vl, v);
    } else if (eh_hdr_is(p, ln, "User-Agent")) {
      ua_ok = vl == 10 && memcmp(v, "override/2", 10) == 0;
    } else if (eh_hdr_is(p, ln, "Expect")) {
      EH_CHECK(0, "Expect sent");
    } else if (eh_hdr_is(p, ln, "X-Bad")) {
      EH_CHECK(0, "a header with a control byte was sent");
    }
    p = eol + 2;
  }
  EH_CHECK(hosts == 1, "%d Host headers", hosts);
  EH_CHECK(tx >= 0 && tx < h->ntx, "X-T %d in:\n%.*s", tx, (int)n, q);
  t = &h->tx[tx];
  EH_CHECK(!t->bad_header, "transfer %d sent a request despite a bad header",
           tx);
  EH_CHECK(auth <= 1 && cookie <= 1, "%d Authorization, %d Cookie", auth,
           cookie);
  if ((auth || cookie) && strcasecmp(hostname, t->host) != 0)
    engine_stats.creds_elsewhere++;
  if (t->unrestricted && (t->d & 3) == 2)
    EH_CHECK(cookie == 1, "UNRESTRICTED_AUTH: no Cookie to %s", hostname);
  else if (strcasecmp(hostname, t->host) != 0)
    EH_CHECK(!auth && !cookie, "credentials of %s sent to %s", t->host,
             hostname);
  if (t->redir >= 0 && !(t->redir & 1)) {
    /* No redirect to http: every plain request is for the URL itself. */
    char own[32];
    int ol = snprintf(own, sizeof(own), "/r/%d?q=%d", tx, tx);
    EH_CHECK((size_t)(sp2 - sp1 - 1) == (size_t)ol &&
                 memcmp(sp1 + 1, own, (size_t)ol) == 0 &&
                 strcasecmp(hostname, t->host) == 0,
             "transfer %d (REDIR_PROTOCOLS_STR without http) requested "
             "%.*s from %s", tx, (int)(sp2 - sp1 - 1), sp1 + 1, hostname);
  }
  if (t->tweaks) {
    EH_CHECK(accept == 0, "Accept not removed");
    EH_CHECK(empty == 1, "X-Empty missing");
    EH_CHECK(ua_ok, "User-Agent not replaced");
  } else {
    EH_CHECK(accept == 1, "%d Accept headers", accept);
  }
  EH_CHECK(cls <= 1 && te <= 1 && !(cls && te),
           "body framing: %d Content-Length, %d Transfer-Encoding", cls, te);
  EH_CHECK((ml == 3 && memcmp(q, "GET", 3) == 0) ||
               (ml == 4 && memcmp(q, "HEAD", 4) == 0) ||
               (ml == 4 && memcmp(q, "POST", 4) == 0) ||
               (ml == 3 && memcmp(q, "PUT", 3) == 0) ||
               (ml == 5 && memcmp(q, "PATCH", 5) == 0),
           "method %.*s", (int)ml, q);
  if (t->httpget)
    EH_CHECK((ml == 3 && memcmp(q, "GET", 3) == 0) ||
                 ((t->c & 0x40) && ml == 5 && memcmp(q, "PATCH", 5) == 0),
             "transfer %d set back to GET sent %.*s", tx, (int)ml, q);
  if (cls || te) {
    EH_CHECK(t->has_body, "transfer %d has no body to send", tx);
    EH_CHECK(!(ml == 3 && memcmp(q, "GET", 3) == 0) &&
                 !(ml == 4 && memcmp(q, "HEAD", 4) == 0),
             "%.*s with a body", (int)ml, q);
  }
  if (cls && (t->a & 2) && !t->rcb)
    EH_CHECK(clen == ((t->c & 0x10) ? EH_BIG_BODY : EH_SMALL_BODY),
             "POSTFIELDS Content-Length %lld", clen);
  if (cls && t->rcb) EH_CHECK(clen == t->rd_total, "Content-Length %lld", clen);
  if (te)
    EH_CHECK(t->rcb && (t->c & 3) == 2, "chunked without an unknown size");
  engine_stats.requests++;
  if (cls || te) engine_stats.body_requests++;
  s->tx = tx;
  s->last_body = -1;
  s->body_bytes = 0;
  if (te) {
    s->rq = RQ_CHUNK;
    s->ck_state = CK_SIZE;
    s->ck_left = 0;
    s->ck_digits = 0;
  } else if (clen > 0) {
    s->rq = RQ_BODY;
    s->body_left = clen;
  } else {
    s->rq = RQ_HEAD;
  }
}

/* Starts the next response on s. */
static void eh_respond(struct eh *h, struct eh_srv *s) {
  const struct engine_resp *r;
  size_t i, o = 0, plen = strlen(h->portstr);
  s->responded = 1;
  if (h->in.nresp == 0 || h->served >= EH_MAX_REQUESTS) {
    eh_srv_close(h, s, 0);
    return;
  }
  r = &h->in.resp[h->served++ % h->in.nresp];
  s->out = malloc(r->len * (plen > 3 ? plen : 3) / 3 + 8);
  EH_CHECK(s->out != NULL, "oom");
  for (i = 0; i < r->len;) {
    if (i + 3 <= r->len && memcmp(r->p + i, "{P}", 3) == 0) {
      memcpy(s->out + o, h->portstr, plen);
      o += plen;
      i += 3;
    } else {
      s->out[o++] = (char)r->p[i++];
    }
  }
  s->out_len = o;
  if (s->tx >= 0 && s->tx < h->ntx) {
    /* What this transfer's write callback should get, if it is the last
     * response it asks for (eh_check_done). */
    struct eh_tx *t = &h->tx[s->tx];
    free(t->served);
    t->served = malloc(o ? o : 1);
    EH_CHECK(t->served != NULL, "oom");
    memcpy(t->served, s->out, o);
    t->served_len = o;
  }
  s->off = 0;
  s->end = r->ctl & 3;
  s->sizes = (r->ctl >> 2) & 7;
  s->cut = (r->ctl >> 5) ? o * (r->ctl >> 5) / 8 : o;
  s->rs = RS_WRITE;
  eh_srv_update(h, s);
}

/* A body byte: 'a'..'z', each the letter after the one before. */
static void eh_body_byte(struct eh_srv *s, unsigned char c) {
  EH_CHECK(c >= 'a' && c <= 'z', "request body byte 0x%02x", c);
  if (s->last_body >= 0)
    EH_CHECK(c == 'a' + (s->last_body - 'a' + 1) % 26,
             "request body: '%c' after '%c' (byte %lld)", c, s->last_body,
             s->body_bytes);
  s->last_body = c;
  s->body_bytes++;
}

static void eh_srv_consume(struct eh *h, struct eh_srv *s, const char *d,
                           size_t n);

/* The request's body is complete (or it had none). */
static void eh_request_done(struct eh *h, struct eh_srv *s) {
  s->rq = RQ_HEAD;
  if (!s->responded && s->rs == RS_IDLE) eh_respond(h, s);
}

/* A request head waiting in s->req is handled once the previous response
 * is over.  The bytes after it go on as its body. */
static void eh_srv_head(struct eh *h, struct eh_srv *s) {
  char *end, *rest;
  size_t head, nrest;
  if (s->fd < 0 || s->rq != RQ_HEAD || s->rs != RS_IDLE || !s->req_len)
    return;
  if ((unsigned char)s->req[0] == 0x16) {
    /* TLS (a ClientHello, then alerts and such): never HTTP.  The first
     * record gets the input as its answer, whatever it is. */
    s->rq = RQ_TLS;
    s->req_len = 0;
    eh_respond(h, s);
    return;
  }
  s->req[s->req_len] = 0;
  end = strstr(s->req, "\r\n\r\n");
  if (!end) {
    EH_CHECK(memchr(s->req, 0, s->req_len) == NULL, "NUL in a request");
    if (s->req_len >= EH_REQ_CAP - 1) eh_srv_close(h, s, 0);
    return;
  }
  head = (size_t)(end - s->req) + 4;
  s->responded = 0;
  eh_check_request(h, s, s->req, head);
  nrest = s->req_len - head;
  rest = nrest ? malloc(nrest) : NULL;
  if (nrest) {
    EH_CHECK(rest != NULL, "oom");
    memcpy(rest, s->req + head, nrest);
  }
  s->req_len = 0;
  if (s->rq == RQ_HEAD)
    eh_request_done(h, s);
  else if (s->tx >= 0 && (h->tx[s->tx].c & 0x80))
    eh_respond(h, s); /* early: before the body */
  if (nrest) eh_srv_consume(h, s, rest, nrest);
  free(rest);
}

/* Bytes from the client. */
static void eh_srv_consume(struct eh *h, struct eh_srv *s, const char *d,
                           size_t n) {
  if (eh2_on) {
    eh2_consume(h, s, d, n);
    return;
  }
  while (n > 0 && s->fd >= 0) {
    unsigned char c = (unsigned char)*d;
    switch (s->rq) {
    case RQ_TLS:
      return;
    case RQ_HEAD: {
      size_t take = n;
      if (take > EH_REQ_CAP - 1 - s->req_len)
        take = EH_REQ_CAP - 1 - s->req_len;
      if (take == 0) {
        eh_srv_close(h, s, 0); /* a head this long is not ours */
        return;
      }
      memcpy(s->req + s->req_len, d, take);
      s->req_len += take;
      d += take;
      n -= take;
      if (s->rs == RS_IDLE) {
        /* eh_srv_head consumes the rest itself. */
        eh_srv_head(h, s);
      }
      break;
    }
    case RQ_BODY: {
      size_t take = (long long)n < s->body_left ? n : (size_t)s->body_left, i;
      for (i = 0; i < take; i++) eh_body_byte(s, (unsigned char)d[i]);
      s->body_left -= (long long)take;
      d += take;
      n -= take;
      if (s->body_left == 0) eh_request_done(h, s);
      break;
    }
    default: /* RQ_CHUNK: exactly what the engine writes */
      d++;
      n--;
      switch (s->ck_state) {
      case CK_SIZE:
        if (c == '\r') {
          EH_CHECK(s->ck_digits > 0, "chunk without a size");
          s->ck_state = CK_SIZE_LF;
        } else {
          int v = c >= '0' && c <= '9' ? c - '0'
                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
          EH_CHECK(v >= 0 && s->ck_digits < 8, "chunk size byte 0x%02x", c);
          s->ck_left = s->ck_left * 16 + v;
          s->ck_digits++;
        }
        break;
      case CK_SIZE_LF:
        EH_CHECK(c == '\n', "chunk size line end 0x%02x", c);
        s->ck_state = s->ck_left ? CK_DATA : CK_LAST_CR;
        break;
      case CK_DATA:
        eh_body_byte(s, c);
        if (--s->ck_left == 0) s->ck_state = CK_DATA_CR;
        break;
      case CK_DATA_CR:
        EH_CHECK(c == '\r', "chunk data end 0x%02x", c);
        s->ck_state = CK_DATA_LF;
        break;
      case CK_DATA_LF:
        EH_CHECK(c == '\n', "chunk data end 0x%02x", c);
        s->ck_state = CK_SIZE;
        s->ck_digits = 0;
        s->ck_left = 0;
        break;
      case CK_LAST_CR:
        EH_CHECK(c == '\r', "trailers in a chunked request (0x%02x)", c);
        s->ck_state = CK_LAST_LF;
        break;
      default:
        EH_CHECK(c == '\n', "last chunk end 0x%02x", c);
        eh_request_done(h, s);
        break;
      }
      break;
    }
  }
}

/* The fd of an accepted connection still is that connection: its local
 * port is the listener's.  Else the engine closed an fd it did not own and
 * the number was reused. */
static void eh_srv_identity(struct eh *h, struct eh_srv *s) {
  struct sockaddr_in a;
  socklen_t al = sizeof(a);
  int rc;
  memset(&a, 0, sizeof(a));
  rc = getsockname(s->fd, (struct sockaddr *)&a, &al);
  EH_CHECK(rc == 0 && a.sin_family == AF_INET && ntohs(a.sin_port) == h->port,
           "server fd %d is no longer our connection (closed behind our "
           "back?): rc %d family %d port %u", s->fd, rc, (int)a.sin_family,
           (unsigned)ntohs(a.sin_port));
}

static void eh_srv_readable(struct eh *h, struct eh_srv *s) {
  static char buf[65536];
  ssize_t n;
  eh_srv_identity(h, s);
  n = recv(s->fd, buf, sizeof(buf), 0);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
    eh_srv_close(h, s, 0); /* the client went away */
    return;
  }
  if (n < 0) return;
  h->last_progress = eh_now();
  eh_srv_consume(h, s, buf, (size_t)n);
}

/* Writes the next piece; at the cut or the end, does what the response
 * says. */
static void eh_srv_writable(struct eh *h, struct eh_srv *s) {
  size_t limit = s->cut > s->off ? s->cut : s->out_len, n;
  ssize_t w;
  if (s->rs != RS_WRITE) return;
  eh_srv_identity(h, s);
  n = limit - s->off;
  if (s->sizes) {
    size_t k = (size_t)(eh_rnd(h) % (2u << s->sizes)) + 1;
    if (k < n) n = k;
  }
  if (n) {
    w = send(s->fd, s->out + s->off, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) eh_srv_close(h, s, 0);
      return;
    }
    if (eh2_on) eh2_sent(h, s, s->out + s->off, (size_t)w);
    s->off += (size_t)w;
    h->last_progress = eh_now();
  }
  if (s->off < limit) return;
  if (s->off < s->out_len && s->end == END_KEEP) {
    /* The cut of a kept connection: a pause. */
    s->rs = RS_PAUSE;
    s->pause_until = eh_now() + 5000;
    eh_srv_update(h, s);
    return;
  }
  free(s->out);
  s->out = NULL;
  switch (s->end) {
  case END_KEEP:
    s->rs = RS_IDLE;
    eh_srv_update(h, s);
    if (eh2_on) eh2_kick(h, s);
    else if (s->rq == RQ_HEAD) eh_srv_head(h, s);
    break;
  case END_CLOSE:
    eh_srv_close(h, s, 0);
    break;
  case END_RESET:
    eh_srv_close(h, s, 1);
    break;
  default:
    s->rs = RS_STALL;
    eh_srv_update(h, s);
    break;
  }
}

static void eh_srv_timers(struct eh *h, uint64_t now) {
  int i;
  if (eh2_on) {
    eh2_timers(h, now);
    return;
  }
  for (i = 0; i < EH_MAX_SRV; i++) {
    struct eh_srv *s = &h->srv[i];
    if (s->used && s->rs == RS_PAUSE && now >= s->pause_until) {
      s->rs = RS_WRITE;
      s->cut = s->out_len;
      eh_srv_update(h, s);
    }
  }
}

/* ------------------------------------------------------------------ */
/* Setting up                                                          */
/* ------------------------------------------------------------------ */

static int eh_listen(struct eh *h, int small_buffers) {
  struct sockaddr_in a;
  socklen_t al = sizeof(a);
  int one = 1;
  h->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (h->lfd < 0) return -1;
  setsockopt(h->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (small_buffers) {
    int sz = EH_SMALL_SOCKBUF;
    setsockopt(h->lfd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
  }
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(h->lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
      listen(h->lfd, 64) < 0 ||
      getsockname(h->lfd, (struct sockaddr *)&a, &al) < 0) {
    close(h->lfd);
    h->lfd = -1;
    return -1;
  }
  h->port = ntohs(a.sin_port);
  snprintf(h->portstr, sizeof(h->portstr), "%u", (unsigned)h->port);
  return 0;
}

#define SET(o, val) \
  EH_CHECK(eh_setopt(t, o, val) == XFERE_OK, "setopt %s", #o)
/* A setopt that only an extension bit makes (counted: the regression test
 * checks that the block reached the transfers). */
#define XSET(o, val) \
  do { \
    SET(o, val); \
    engine_stats.ext_setopts++; \
  } while (0)

/* The options of the extension block (engine_input.h), after all of the
 * header's: with x all zero (no block), nothing is set. */
static void eh_setup_ext(struct eh_tx *t) {
  static const char *const redir[4] = {NULL, "http", "HTTPS", ""};
  static const int redir_allows[4] = {-1, 1, 2, 0};
  static const long cto[4] = {0, 1, 10, 1000};
  int r = (t->x[0] >> EX0_REDIR_SHIFT) & 3,
      c = (t->x[0] >> EX0_CONNECTTIMEOUT_SHIFT) & 3;
  t->redir = redir_allows[r];
  if (r) XSET(XFEROPT_REDIR_PROTOCOLS_STR, redir[r]);
  if (t->x[0] & EX0_UNRESTRICTED_AUTH) {
    t->unrestricted = 1;
    XSET(XFEROPT_UNRESTRICTED_AUTH, 1L);
  }
  t->cto_ms = cto[c];
  if (c == 3) XSET(XFEROPT_CONNECTTIMEOUT, 1L); /* in seconds */
  else if (c) XSET(XFEROPT_CONNECTTIMEOUT_MS, cto[c]);
  if (t->x[0] & EX0_HTTPGET) {
    /* Last: back to a plain GET, whatever body was set up before. */
    XSET(XFEROPT_HTTPGET, 1L);
    t->httpget = 1;
    t->has_body = t->is_head = t->rcb = 0;
  }
  /* Pause: the plan (a "decode" line only when there is one, so that an
   * input without it prints as before). */
  t->pz_at = -1;
  if (t->x[1] & EX1_PAUSER_MASK) {
    static const int at[4] = {-1, AT_WRITE, AT_HEADER, AT_READ};
    t->pz_at = at[t->x[1] & EX1_PAUSER_MASK];
    t->pz_unp = (t->x[1] >> EX1_UNPAUSER_SHIFT) & 3;
    t->pz_max = (t->x[3] & EX3_AGAIN) ? EH_MAX_PAUSES : 1;
    if (t->pz_at == AT_HEADER && !(t->a & 32) && eh_act_at(t) != AT_HEADER) {
      XSET(XFEROPT_HEADERFUNCTION, eh_header);
      XSET(XFEROPT_HEADERDATA, (void *)t);
    }
  }
  if (t->x[1] & EX1_LOOP_PAUSE)
    t->lp_at = 1 + ((t->x[2] >> EX2_AT_SHIFT) & 7);
  if (t->x[1])
    eh_sum("decode tx%d pause by=%d call=%u unpause=%d api=%d again=%d "
           "loop=%d/%d/%d/%d", t->idx, t->x[1] & 3, eh_pz_call(t),
           (t->x[1] >> EX1_UNPAUSER_SHIFT) & 3, !!(t->x[3] & EX3_API_PAUSE),
           !!(t->x[3] & EX3_AGAIN), !!(t->x[1] & EX1_LOOP_PAUSE),
           t->x[2] & 3, t->lp_at, 1 << ((t->x[2] >> EX2_CONT_SHIFT) & 7));
  if (t->x[1] & EX1_RATE) {
    static const xfer_off_t recv[4] = {16000, 4000, 0, 1},
                            send[4] = {16000, 0, 4000, 1};
    int r = t->x[3] & EX3_RATE_MASK;
    if (recv[r]) XSET(XFEROPT_MAX_RECV_SPEED_LARGE, recv[r]);
    if (send[r]) XSET(XFEROPT_MAX_SEND_SPEED_LARGE, send[r]);
    t->rate_recv = (long long)recv[r];
  }
}

static void eh_setup_tx(struct eh *h, struct eh_tx *t) {
  static const char *const hosts[4] = {"127.0.0.1", "localhost", "h1.test",
                                       "127.0.0.1"};
  char hdr[32];
  int v = t->d & 3, upload = t->c & 3;
  XFER *e = xfer_easy_init();
  EH_CHECK(e != NULL, "easy_init");
  t->e = e;
  t->https = v == 3;
  snprintf(t->host, sizeof(t->host), "%s", hosts[v]);
  snprintf(t->url, sizeof(t->url), "%s://%s%s:%u/r/%d?q=%d",
           t->https ? "https" : "http", v == 2 ? "u:p%41ss@" : "", hosts[v],
           (unsigned)h->port, t->idx, t->idx);
  snprintf(hdr, sizeof(hdr), "X-T: %d", t->idx);
  t->headers = xfer_slist_append(NULL, hdr);
  if (v == 2) t->headers = xfer_slist_append(t->headers, "Cookie: c=1");
  if (t->c & 0x20) {
    t->tweaks = 1;
    t->headers = xfer_slist_append(t->headers, "Accept:");
    t->headers = xfer_slist_append(t->headers, "X-Empty;");
    t->headers = xfer_slist_append(t->headers, "User-Agent: override/2");
  }
  if (t->d & 0x40) {
    t->bad_header = 1;
    t->headers = xfer_slist_append(t->headers, "X-Bad: a\001b");
  }
  EH_CHECK(t->headers != NULL, "slist");
  SET(XFEROPT_URL, t->url);
  SET(XFEROPT_PRIVATE, (void *)t);
  SET(XFEROPT_WRITEFUNCTION, eh_write);
  SET(XFEROPT_WRITEDATA, (void *)t);
  if (!(t->d & 0x80)) SET(XFEROPT_ERRORBUFFER, t->errbuf);
  SET(XFEROPT_HTTPHEADER, t->headers);
  SET(XFEROPT_RESOLVE, h->resolve);
  if (t->https) {
    SET(XFEROPT_CAPATH, "/nonexistent/xfer-fuzz");
    SET(XFEROPT_SSL_VERIFYPEER, (long)(t->a & 1));
    SET(XFEROPT_SSL_VERIFYHOST, 0L);
  }
  if (t->a & 1) SET(XFEROPT_NOBODY, 1L);
  if (t->a & 2) {
    long n = (t->c & 0x10) ? EH_BIG_BODY : EH_SMALL_BODY;
    SET(XFEROPT_POSTFIELDSIZE, n);
    if (t->x[0] & EX0_COPYPOSTFIELDS) {
      /* xfer copies POSTFIELDSIZE bytes: the buffer can go at once. */
      char *copy = malloc((size_t)n);
      EH_CHECK(copy != NULL, "oom");
      memcpy(copy, eh_big, (size_t)n);
      XSET(XFEROPT_COPYPOSTFIELDS, copy);
      memset(copy, '#', (size_t)n);
      free(copy);
    } else {
      SET(XFEROPT_POSTFIELDS, eh_big);
    }
  }
  if (upload) {
    /* A body from the read callback (after POSTFIELDS: that wins over
     * it, as POST/UPLOAD clear nothing of POSTFIELDS). */
    t->rcb = !(t->a & 2) || upload == 3;
    t->rd_total = (t->c & 0x10) ? EH_BIG_BODY : EH_READ_BODY;
    SET(XFEROPT_READFUNCTION, eh_read);
    SET(XFEROPT_READDATA, (void *)t);
    if (upload == 3) {
      SET(XFEROPT_UPLOAD, 1L);
      SET(XFEROPT_INFILESIZE_LARGE, (xfer_off_t)t->rd_total);
    } else if (!(t->a & 2)) {
      SET(XFEROPT_POST, 1L);
      if (upload == 1)
        SET(XFEROPT_POSTFIELDSIZE_LARGE, (xfer_off_t)t->rd_total);
    }
  }
  t->has_body = (t->a & 2) || upload;
  /* NOBODY: no body is read, whatever the method (a CUSTOMREQUEST only
   * replaces the word HEAD; docs/api.md, libcurl's rule). */
  t->is_head = (t->a & 1) && !t->has_body;
  if (t->a & 4) {
    t->maxredirs = (t->d & 4) ? -1 : 2;
    SET(XFEROPT_FOLLOWLOCATION, 1L);
    SET(XFEROPT_MAXREDIRS, t->maxredirs);
    t->follow = 1;
  }
  if (t->a & 8) SET(XFEROPT_TIMEOUT_MS, 20L);
  if (t->a & 16) {
    SET(XFEROPT_LOW_SPEED_LIMIT, 1000000L);
    SET(XFEROPT_LOW_SPEED_TIME, 1L);
  }
  if ((t->a & 16) || eh_act_at(t) == AT_PROGRESS) {
    SET(XFEROPT_XFERINFOFUNCTION, eh_progress);
    SET(XFEROPT_XFERINFODATA, (void *)t);
    SET(XFEROPT_NOPROGRESS, 0L);
  }
  if ((t->a & 32) || eh_act_at(t) == AT_HEADER) {
    SET(XFEROPT_HEADERFUNCTION, eh_header);
    SET(XFEROPT_HEADERDATA, (void *)t);
  }
  if (t->a & 64) SET(XFEROPT_FORBID_REUSE, 1L);
  if (t->a & 128) SET(XFEROPT_FAILONERROR, 1L);
  if (t->b & 128) SET(XFEROPT_FRESH_CONNECT, 1L);
  if (t->c & 0x20) SET(XFEROPT_USERAGENT, "fz-agent/1.0");
  if (t->c & 0x40) SET(XFEROPT_CUSTOMREQUEST, "PATCH");
  if (t->d & 8) SET(XFEROPT_IPRESOLVE, (long)XFER_IPRESOLVE_V4);
  if (t->d & 16) SET(XFEROPT_DNS_CACHE_TIMEOUT, 0L);
  if (t->d & 32) SET(XFEROPT_TCP_KEEPALIVE, 1L);
  eh_setup_ext(t);
  if (eh2_on) eh2_setup_tx(t);
  if (getenv("XFER_FUZZ_TRACE")) SET(XFEROPT_VERBOSE, 1L);
#undef XSET
#undef SET
}

/* ------------------------------------------------------------------ */
/* The loop                                                            */
/* ------------------------------------------------------------------ */

static int eh_all_done(struct eh *h) {
  int i;
  for (i = 0; i < h->ntx; i++)
    if ((h->tx[i].added && !h->tx[i].done) || h->tx[i].readd_pending)
      return 0;
  return 1;
}

/* How long the loop may wait, in ms; -1 when it should stop. */
static int eh_wait_ms(struct eh *h, int engine_due_in_budget,
                      uint64_t engine_at) {
  uint64_t now = eh_now(), until = h->deadline;
  int i;
  if (now >= h->deadline) {
    engine_stats.timeouts_hit++;
    return -1;
  }
  if (eh_loop_pending(h)) return 1; /* pause work of the loop's */
  if (!engine_due_in_budget) {
    /* Only the server's pauses can still make something happen. */
    uint64_t q = h->last_progress + EH_QUIET_US;
    int paused = 0;
    for (i = 0; i < EH_MAX_SRV; i++)
      if (h->srv[i].used && h->srv[i].rs == RS_PAUSE) paused = 1;
    if (!paused && now >= q) {
      /* Idle: a pause whose unpauser never came (no other transfer's
       * callback, no socket or timer callback) ends here instead. */
      if (!eh_idle_unpause(h)) return -1;
      h->last_progress = now;
      return 0;
    }
    if (q < until) until = q;
  } else if (engine_at < until) {
    until = engine_at;
  }
  for (i = 0; i < EH_MAX_SRV; i++)
    if (h->srv[i].used && h->srv[i].rs == RS_PAUSE &&
        h->srv[i].pause_until < until)
      until = h->srv[i].pause_until;
  if (until <= now) return 0;
  return (int)((until - now + 999) / 1000);
}

/* The loop's part in pausing: the unpauses that fall to it, and its own
 * xfer_easy_pause calls (x1 bit 6, x2). */
static void eh_loop_pause(struct eh *h) {
  int i;
  for (i = 0; i < h->ntx; i++) {
    struct eh_tx *t = &h->tx[i];
    int mode = t->x[2] & EX2_MASK_MASK;
    if (!eh_pz_ok(t)) continue;
    if (eh_loop_unpauses(h, t)) eh_pause_call(t, XFERPAUSE_CONT);
    if (!(t->x[1] & EX1_LOOP_PAUSE)) continue;
    if (t->lp_state == 0 && h->iter >= t->lp_at && t->added && !t->done) {
      eh_pause_call(t, mode == 0   ? XFERPAUSE_ALL
                       : mode == 2 ? XFERPAUSE_SEND
                                   : XFERPAUSE_RECV);
      engine_stats.loop_pauses++;
      t->lp_state = 1;
      t->lp_cont = h->iter + (1 << ((t->x[2] >> EX2_CONT_SHIFT) & 7));
    } else if (t->lp_state == 1 && h->iter >= t->lp_cont) {
      if (mode == 3 && !t->lp_switched) {
        eh_pause_call(t, XFERPAUSE_SEND); /* RECV goes on, SEND stops */
        t->lp_switched = 1;
        t->lp_cont = h->iter + 1;
      } else {
        eh_pause_call(t, XFERPAUSE_CONT);
        t->lp_state = 2;
      }
    }
  }
}

/* The loop would stop, idle: the pauses waiting for another transfer's
 * callback or for the socket/timer callback end now.  1 if there was one. */
static int eh_idle_unpause(struct eh *h) {
  int i, n = 0;
  for (i = 0; i < h->ntx; i++) {
    struct eh_tx *t = &h->tx[i];
    if (!t->pz_paused || !eh_pz_ok(t) ||
        (t->pz_unp != UNP_OTHER && t->pz_unp != UNP_SOCKTIMER))
      continue;
    eh_pause_call(t, XFERPAUSE_CONT);
    engine_stats.unpauses_idle++;
    n++;
  }
  return n > 0;
}

/* Something the loop has to do soon (it must not stop as idle). */
static int eh_loop_pending(const struct eh *h) {
  int i;
  for (i = 0; i < h->ntx; i++) {
    const struct eh_tx *t = &h->tx[i];
    if (!eh_pz_ok(t)) continue;
    if (eh_loop_unpauses(h, t)) return 1;
    if ((t->x[1] & EX1_LOOP_PAUSE) &&
        ((t->lp_state == 0 && t->added && !t->done) || t->lp_state == 1))
      return 1;
  }
  return 0;
}

static void eh_harness_step(struct eh *h) {
  int k = (h->g1 >> 2) & 15, i;
  eh_loop_pause(h);
  for (i = 0; i < h->ntx; i++)
    if (h->tx[i].readd_pending) {
      h->tx[i].readd_pending = 0;
      if (!h->tx[i].freed && !h->tx[i].added) eh_readd(h, &h->tx[i]);
    }
  if (k && h->iter == k) {
    struct eh_tx *t = &h->tx[(h->g1 & 3) % h->ntx];
    if (!t->freed && t->added) {
      eh_remove(h, t, (h->g1 >> 6) & 1);
      if (!t->freed) t->readd_pending = 1;
    }
    if (h->g1 & 0x80) {
      eh_mrc(h, xfer_multi_setopt(h->m, XFERMOPT_MAX_HOST_CONNECTIONS, 0L),
             "setopt max host");
      eh_mrc(h, xfer_multi_setopt(h->m, XFERMOPT_MAX_TOTAL_CONNECTIONS, 0L),
             "setopt max total");
    }
  }
}

static unsigned eh_ev_mask(struct eh *h, uint32_t ev) {
  unsigned m = 0;
  if (h->g2 & 0x20) return 0; /* let xfer find out */
  if (ev & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) m |= XFER_CSELECT_IN;
  if (ev & EPOLLOUT) m |= XFER_CSELECT_OUT;
  if (ev & EPOLLERR) m |= XFER_CSELECT_ERR;
  return m;
}

static void eh_loop_socket(struct eh *h) {
  struct epoll_event evs[64];
  int running = 0, ok;
  for (h->iter = 0; h->iter < EH_MAX_ITER; h->iter++) {
    int n, i, wait;
    uint64_t now;
    eh_harness_step(h);
    if (eh_all_done(h)) break;
    wait = eh_wait_ms(h, h->timer_set && h->timer_at < h->deadline,
                      h->timer_at);
    if (wait < 0) break;
    n = epoll_wait(h->epfd, evs, 64, wait);
    if (n < 0 && errno == EINTR) continue;
    EH_CHECK(n >= 0, "epoll_wait: %s", strerror(errno));
    if (n > 0) h->last_progress = eh_now();
    for (i = 0; i < n; i++) {
      uint64_t tag = evs[i].data.u64;
      int type = (int)(tag >> 56);
      if (type == TAG_LISTEN) {
        eh_accept(h);
      } else if (type == TAG_SRV) {
        struct eh_srv *s = &h->srv[tag & 0xffffff];
        if (s->fd < 0) continue;
        if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
          eh_srv_readable(h, s);
        if (s->fd >= 0 && (evs[i].events & EPOLLOUT)) eh_srv_writable(h, s);
      } else {
        int fd = (int)(tag & 0xffffff);
        uint32_t gen = (uint32_t)((tag >> 24) & 0xffffffff);
        /* An event for a socket removed (and maybe reused) since. */
        if (!h->reg[fd] || (h->gen[fd] & 0xffffffff) != gen) continue;
        ok = eh_mrc(h,
                    xfer_multi_socket_action(h->m, fd,
                                             (int)eh_ev_mask(h, evs[i].events),
                                             &running),
                    "socket_action");
        eh_drain(h, ok ? running : -1);
      }
    }
    now = eh_now();
    eh_srv_timers(h, now);
    if (h->timer_set && now >= h->timer_at) {
      h->timer_set = 0;
      ok = eh_mrc(h,
                  xfer_multi_socket_action(h->m, XFER_SOCKET_TIMEOUT, 0,
                                           &running),
                  "socket_action(TIMEOUT)");
      eh_drain(h, ok ? running : -1);
    }
    if ((h->g0 & 0x80) && (h->iter & 3) == 3) {
      ok = eh_mrc(h, xfer_multi_socket_all(h->m, &running), "socket_all");
      eh_drain(h, ok ? running : -1);
    }
  }
}

static void eh_loop_perform(struct eh *h) {
  struct xfer_waitfd extra[EH_MAX_SRV + 1];
  int idx[EH_MAX_SRV + 1];
  int running = 0, ok;
  for (h->iter = 0; h->iter < EH_MAX_ITER; h->iter++) {
    int n = 0, i, wait, numfds = -1;
    long t = -1;
    XFERMcode rc;
    eh_harness_step(h);
    ok = eh_mrc(h, xfer_multi_perform(h->m, &running), "perform");
    eh_drain(h, ok ? running : -1);
    if (eh_all_done(h)) break;
    EH_CHECK(xfer_multi_timeout(h->m, &t) == XFERM_OK, "timeout");
    wait = eh_wait_ms(h, t >= 0 && eh_now() + (uint64_t)t * 1000 < h->deadline,
                      eh_now() + (uint64_t)(t < 0 ? 0 : t) * 1000);
    if (wait < 0) break;
    extra[n].fd = h->lfd;
    extra[n].events = XFER_WAIT_POLLIN;
    idx[n++] = -1;
    for (i = 0; i < EH_MAX_SRV; i++) {
      struct eh_srv *s = &h->srv[i];
      if (!s->used) continue;
      extra[n].fd = s->fd;
      extra[n].events = (short)(XFER_WAIT_POLLIN |
                                (s->rs == RS_WRITE ? XFER_WAIT_POLLOUT : 0));
      idx[n++] = i;
    }
    if (h->g0 & 0x80)
      rc = xfer_multi_wait(h->m, extra, (unsigned)n, wait, &numfds);
    else
      rc = xfer_multi_poll(h->m, extra, (unsigned)n, wait, &numfds);
    eh_mrc(h, rc, "poll");
    EH_CHECK(numfds >= 0, "numfds %d", numfds);
    if (numfds > 0) h->last_progress = eh_now();
    for (i = 0; i < n; i++) {
      short re = extra[i].revents;
      if (!re) continue;
      if (idx[i] < 0) {
        eh_accept(h);
        continue;
      }
      if (h->srv[idx[i]].fd != extra[i].fd) continue;
      if (re & XFER_WAIT_POLLIN) eh_srv_readable(h, &h->srv[idx[i]]);
      if (h->srv[idx[i]].fd == extra[i].fd && (re & XFER_WAIT_POLLOUT))
        eh_srv_writable(h, &h->srv[idx[i]]);
    }
    eh_srv_timers(h, eh_now());
  }
}

/* ------------------------------------------------------------------ */
/* A run                                                               */
/* ------------------------------------------------------------------ */

static long eh_budget_ms(void) {
  static long v = -1;
  if (v < 0) {
    const char *s = getenv("XFER_FUZZ_BUDGET_MS");
    v = s && atol(s) > 0 ? atol(s) : EH_BUDGET_MS_DEFAULT;
  }
  return v;
}

int engine_run(const uint8_t *data, size_t size) {
  static struct eh *h;
  int fds_before, fds_after, i, small = 0;
  char rs[3][64];

  if (size < ENGINE_HDR_LEN || size > 200000) return 0;
  if (!h && !(h = malloc(sizeof(*h)))) abort();
  memset(h, 0, sizeof(*h));
  if (engine_input_decode(&h->in, data, size) != 0) return 0;
  if (!eh_big[0])
    for (i = 0; i < EH_BIG_BODY; i++) eh_big[i] = (char)('a' + i % 26);
  fds_before = eh_count_fds();
  eh_cur = h;
  engine_stats.runs++;
  if (h->in.ext) engine_stats.ext_runs++;
  h->g0 = h->in.g0;
  h->g1 = h->in.g1;
  h->g2 = h->in.g2;
  h->rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)(h->g2 & 31) << 32);
  eh2_begin(h);
  h->mode_perform = (h->g0 >> 2) & 1;
  h->ntx = h->in.ntx;
  for (i = 0; i < EH_MAX_SRV; i++) h->srv[i].fd = -1;
  for (i = 0; i < h->ntx; i++)
    if (h->in.tx[i].c & 0x80) small = 1;
  h->lfd = h->epfd = -1;
  EH_CHECK(eh_listen(h, small) == 0, "listen: %s", strerror(errno));
  eh_guard_port = h->port;
  eh_guard_on = 1;

  if (eh_summary_on()) {
    eh_sum("decode run %s ntx=%d small=%d g0=%02x g1=%02x g2=%02x",
           h->mode_perform ? "perform" : "socket", h->ntx, small, h->g0,
           h->g1, h->g2);
    for (i = 0; i < h->in.nresp; i++) {
      const struct engine_resp *r = &h->in.resp[i];
      uint32_t fnv = 2166136261u;
      size_t k;
      for (k = 0; k < r->len; k++) fnv = (fnv ^ r->p[k]) * 16777619u;
      eh_sum("decode resp%d ctl=%02x len=%zu fnv=%08x", i, r->ctl, r->len,
             fnv);
    }
    /* Only when there is one: an input without it decodes as before. */
    if (h->in.ext) {
      char x[ENGINE_MAX_TX][ENGINE_EXT_PER_TX * 2 + 1];
      int k;
      for (i = 0; i < ENGINE_MAX_TX; i++)
        for (k = 0; k < ENGINE_EXT_PER_TX; k++)
          snprintf(x[i] + 2 * k, 3, "%02x", h->in.tx[i].x[k]);
      eh_sum("decode ext xg=%02x%02x%02x%02x x=%s,%s,%s,%s more=%zu "
             "again=%d", h->in.xg[0], h->in.xg[1], h->in.xg[2], h->in.xg[3],
             x[0], x[1], x[2], x[3], h->in.ext_more_len, h->in.ext_again);
    }
  }
  snprintf(rs[0], sizeof(rs[0]), "h1.test:%u:127.0.0.1", (unsigned)h->port);
  snprintf(rs[1], sizeof(rs[1]), "H2.test:%u:127.0.0.1", (unsigned)h->port);
  snprintf(rs[2], sizeof(rs[2]), "h3.test:%u:[::1],127.0.0.1",
           (unsigned)h->port);
  for (i = 0; i < 3; i++) h->resolve = xfer_slist_append(h->resolve, rs[i]);

  h->m = xfer_multi_init();
  EH_CHECK(h->m != NULL, "multi_init");
  if (!h->mode_perform) {
    struct epoll_event ev;
    h->epfd = epoll_create1(EPOLL_CLOEXEC);
    EH_CHECK(h->epfd >= 0, "epoll_create1");
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.u64 = (uint64_t)TAG_LISTEN << 56;
    EH_CHECK(epoll_ctl(h->epfd, EPOLL_CTL_ADD, h->lfd, &ev) == 0, "epoll");
    EH_CHECK(xfer_multi_setopt(h->m, XFERMOPT_SOCKETFUNCTION, eh_sockcb) ==
                     XFERM_OK &&
                 xfer_multi_setopt(h->m, XFERMOPT_SOCKETDATA, (void *)h) ==
                     XFERM_OK &&
                 xfer_multi_setopt(h->m, XFERMOPT_TIMERFUNCTION, eh_timercb) ==
                     XFERM_OK &&
                 xfer_multi_setopt(h->m, XFERMOPT_TIMERDATA, (void *)h) ==
                     XFERM_OK,
             "multi callbacks");
  }
  if (h->g0 & 0x08) {
    eh_sum("decode multi MAX_HOST_CONNECTIONS=1");
    EH_CHECK(xfer_multi_setopt(h->m, XFERMOPT_MAX_HOST_CONNECTIONS, 1L) ==
                 XFERM_OK, "max host");
  }
  if (h->g0 & 0x10) {
    eh_sum("decode multi MAX_TOTAL_CONNECTIONS=2");
    EH_CHECK(xfer_multi_setopt(h->m, XFERMOPT_MAX_TOTAL_CONNECTIONS, 2L) ==
                 XFERM_OK, "max total");
  }
  if (eh2_on) eh2_setup_multi(h);
  if (h->g0 & 0x20) {
    eh_sum("decode multi MAXCONNECTS=1");
    EH_CHECK(xfer_multi_setopt(h->m, XFERMOPT_MAXCONNECTS, 1L) == XFERM_OK,
             "maxconnects");
  }

  h->t0 = eh_now();
  h->deadline = h->t0 + (uint64_t)eh_budget_ms() * 1000u;
  h->last_progress = h->t0;
  for (i = 0; i < h->ntx; i++) {
    struct eh_tx *t = &h->tx[i];
    t->idx = i;
    t->t_start = h->t0;
    t->a = h->in.tx[i].a;
    t->b = h->in.tx[i].b;
    t->c = h->in.tx[i].c;
    t->d = h->in.tx[i].d;
    memcpy(t->x, h->in.tx[i].x, sizeof(t->x));
    eh_sum("decode tx%d a=%02x b=%02x c=%02x d=%02x", i, t->a, t->b, t->c,
           t->d);
    eh_setup_tx(h, t);
  }
  for (i = 0; i < h->ntx; i++) {
    eh_mrc(h, xfer_multi_add_handle(h->m, h->tx[i].e), "add_handle");
    h->tx[i].added = 1;
    engine_stats.transfers++;
  }

  engine_oom_active = 1;
  if (h->mode_perform)
    eh_loop_perform(h);
  else
    eh_loop_socket(h);
  engine_oom_active = 0;
  h->ending = 1; /* the removals below are the end of paused transfers */
  for (i = 0; i < h->ntx; i++)
    if (h->tx[i].paused_mask && h->tx[i].added && !h->tx[i].done)
      engine_stats.left_paused++;
  if (eh2_on) eh2_finish(h);

  if (getenv("XFER_FUZZ_VERBOSE")) {
    fprintf(stderr, "run: %s, %d transfers, %d requests, %d iterations, "
            "%.1f ms, blocked %lu\n", h->mode_perform ? "perform" : "socket",
            h->ntx, h->served, h->iter, (double)(eh_now() - h->t0) / 1000.0,
            engine_stats.blocked_connects);
    for (i = 0; i < h->ntx; i++) {
      struct eh_tx *t = &h->tx[i];
      long code = 0;
      xfer_off_t ul = 0;
      if (!t->freed) {
        xfer_easy_getinfo(t->e, XFERINFO_RESPONSE_CODE, &code);
        xfer_easy_getinfo(t->e, XFERINFO_SIZE_UPLOAD_T, &ul);
      }
      fprintf(stderr, "  tx%d %s added=%d done=%d freed=%d result=%d "
              "code=%ld body=%lld up=%lld writes=%lu headers=%lu reads=%lu "
              "err=\"%s\"\n", i, t->url, t->added, t->done, t->freed,
              t->result, code, t->wr_bytes, (long long)ul, t->wr_calls,
              t->hdr_calls, t->rd_calls, t->errbuf);
    }
  }

  if (eh_summary_on()) {
    eh_sum("outcome run requests=%d", h->served);
    for (i = 0; i < h->ntx; i++) {
      struct eh_tx *t = &h->tx[i];
      long code = 0;
      if (!t->freed)
        xfer_easy_getinfo(t->e, XFERINFO_RESPONSE_CODE, &code);
      eh_sum("outcome tx%d added=%d done=%d freed=%d result=%d code=%ld "
             "body=%lld", i, t->added, t->done, t->freed,
             t->done ? t->result : -1, code, t->wr_bytes);
    }
  }

  /* Cleaning up, in one of the two orders. */
  if (h->g0 & 0x40) {
    eh_mrc(h, xfer_multi_cleanup(h->m), "multi_cleanup");
    for (i = 0; i < h->ntx; i++)
      if (!h->tx[i].freed) {
        h->tx[i].added = 0;
        xfer_easy_cleanup(h->tx[i].e);
        h->tx[i].freed = 1;
      }
  } else {
    for (i = 0; i < h->ntx; i++) eh_remove(h, &h->tx[i], 1);
    eh_mrc(h, xfer_multi_cleanup(h->m), "multi_cleanup");
  }
  EH_CHECK(h->nreg == 0, "%d sockets still announced after multi_cleanup",
           h->nreg);
  for (i = 0; i < h->ntx; i++) {
    xfer_slist_free_all(h->tx[i].headers);
    free(h->tx[i].rf);
    free(h->tx[i].body);
    free(h->tx[i].served);
  }
  xfer_slist_free_all(h->resolve);
  for (i = 0; i < EH_MAX_SRV; i++) eh_srv_close(h, &h->srv[i], 1);
  if (h->lfd >= 0) close(h->lfd);
  if (h->epfd >= 0) close(h->epfd);
  eh2_end();
  eh_guard_on = 0;
  eh_cur = NULL;
  fds_after = eh_count_fds();
  if (fds_after != fds_before) {
    eh_list_fds();
    EH_CHECK(0, "%d fds before the run, %d after", fds_before, fds_after);
  }
  return 0;
}

/* The HTTP/2 mode. */
#include "engine_h2.c"
