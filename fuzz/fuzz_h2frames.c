/*
 * fuzz_h2frames.c -- the fastest path into xfer's HTTP/2 session
 * callbacks (csrc/core/proto/http2.c: on_header, on_data_chunk,
 * on_frame_recv, on_stream_close, on_begin_frame's header block limits,
 * GOAWAY and RST_STREAM handling): one connection with prior knowledge
 * over loopback carrying 1-8 transfers, whose requests are all in before
 * the first byte of the input goes back.  The input is then the server's
 * byte stream (after an optional valid SETTINGS and ACK), written in
 * pieces whose sizes come from the input, the client driven after each
 * piece by socket_action on its socket -- no waiting: loopback delivers
 * at once, so a run takes well under a millisecond.  The engine
 * harness's h2 mode (engine_h2.c) covers the rest: several connections,
 * timing, the application's misuse.
 *
 * Input:
 *  [0] f0: bits 0-2 transfers - 1 (1..8: streams 1, 3, 5, ...); bit 3 the
 *      server's SETTINGS (empty) and the ACK of the client's come first;
 *      bit 4 after the last piece the server shuts its side down (then
 *      every transfer must end); bit 5 the bytes are compact frames
 *      (h2_wire.h; stream selector k: the k-th stream); bit 6 transfer
 *      0's write callback pauses on its first call, and is unpaused after
 *      the next piece; bit 7 the last transfer is removed after piece
 *      f1 >> 4 (its stream is reset).
 *  [1] f1: bits 0-3 piece sizes: 0 all at once, v: 1..2^v bytes each
 *      (at least 1/512 of the bytes: a run writes 512 pieces at most);
 *      bits 4-7 see f0 bit 7.
 *  [2] f2: bits 0-1: 1 transfer 1 is a HEAD, 2 transfer 0 POSTs 40 bytes
 *      (POSTFIELDS), 3 both; bit 2 header callbacks; bits 3-7 the seed of
 *      the piece sizes.
 *  [3..] the server's bytes.
 *
 * Invariants (abort): the client's bytes are well-formed HTTP/2
 * (h2_wire.c) with one request per transfer; every result is one of 0,
 * 16 (HTTP2), 92 (HTTP2_STREAM), 52, 55, 56 (a retry over HTTP/1.1 or on
 * a new connection, which this server closes at once); a failure has an error message; SIZE_DOWNLOAD is what
 * the write callback got; a success got exactly the DATA the server sent
 * on its stream (none for a HEAD), which the server ended; a 16 comes with
 * the connection ended (the client's GOAWAY or close, or the server's
 * shutdown); after the shutdown every transfer gets its message; no
 * callback for a finished or removed transfer; no fd leaked.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_util.h"
#include "h2_wire.h"
#include "xfer.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HF_MAX_TX 8
#define HF_MAX_FD 8
#define HF_POST_LEN 40
#define HF_SETUP_ITER 400
#define HF_END_ITER 200
#define HF_MAX_REC 64
#define HF_OUT_CAP (1u << 18)     /* compact frames expand to this */
#define HF_MAX_PIECES 512        /* pieces grow past this many */

struct hf_tx {
  XFER *e;
  int idx, added, done, head, post, paused;
  int was_paused;                /* bytes may have been held */
  int result;
  uint32_t sid;                  /* its (last) stream, 0 before its request */
  int asks;                      /* requests made: 2 after a refusal */
  struct xfer_slist *hl;         /* its HTTPHEADER list */
  char *body;
  size_t len, cap;
  unsigned long wcalls;
  char err[XFER_ERROR_SIZE];
};

/* The DATA the server sent on a stream, up to its END_STREAM. */
struct hf_rec {
  uint32_t sid;
  char *p;
  size_t len, cap;
  int ended;
};

struct hf {
  XFERM *m;
  int lfd, sfd;
  int fds[HF_MAX_FD], want[HF_MAX_FD], nfds;
  int timer_set;
  uint64_t timer_at;
  struct hf_tx tx[HF_MAX_TX];
  int ntx, nreq, in_cb;
  uint32_t sids[2 * HF_MAX_TX];  /* streams in the order they opened */
  struct h2w_client in;
  struct h2w_track out;
  struct hf_rec rec[HF_MAX_REC];
  int nrec, rec_full;
  int client_goaway, client_closed, server_shut;
  uint8_t f0, f1, f2;
};

static uint64_t hf_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int hf_count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *de;
  int n = 0;
  if (!d) return -1;
  while ((de = readdir(d)) != NULL)
    if (de->d_name[0] != '.') n++;
  closedir(d);
  return n - 1;
}

static struct hf_rec *hf_rec(struct hf *f, uint32_t sid, int create) {
  int i;
  for (i = 0; i < f->nrec; i++)
    if (f->rec[i].sid == sid) return &f->rec[i];
  if (!create) return NULL;
  if (f->nrec == HF_MAX_REC) {
    f->rec_full = 1;
    return NULL;
  }
  memset(&f->rec[f->nrec], 0, sizeof(f->rec[0]));
  f->rec[f->nrec].sid = sid;
  return &f->rec[f->nrec++];
}

static void hf_append(char **p, size_t *len, size_t *cap, const void *d,
                      size_t n) {
  if (*len + n > *cap) {
    size_t c = *cap ? *cap : 256;
    char *q;
    while (c < *len + n) c *= 2;
    q = realloc(*p, c);
    FZ_CHECK(q != NULL, "oom");
    *p = q;
    *cap = c;
  }
  memcpy(*p + *len, d, n);
  *len += n;
}

/* ---- the server's view ---- */

static void hf_on_request(void *ud, uint32_t sid, const struct h2w_field *fl,
                          size_t n, int end_stream) {
  struct hf *f = ud;
  size_t i;
  int tx = -1;
  for (i = 0; i < n; i++)
    if (fl[i].nlen == 3 && memcmp(fl[i].name, "x-t", 3) == 0 &&
        fl[i].vlen == 1 && fl[i].value[0] >= '0' && fl[i].value[0] <= '7')
      tx = fl[i].value[0] - '0';
  FZ_CHECK(tx >= 0 && tx < f->ntx, "a request without our x-t");
  /* A request the server refused (REFUSED_STREAM) is sent once more, on
   * this connection while it takes streams: at most two asks. */
  FZ_CHECK(f->tx[tx].asks < 2, "transfer %d asks three times (streams %u, %u)",
           tx, f->tx[tx].sid, sid);
  f->tx[tx].asks++;
  FZ_CHECK(end_stream == !f->tx[tx].post, "transfer %d: END_STREAM %d",
           tx, end_stream);
  f->tx[tx].sid = sid;
  f->sids[f->nreq++] = sid;
}

static void hf_on_data(void *ud, uint32_t sid, const uint8_t *p, size_t n,
                       int end_stream) {
  struct hf *f = ud;
  (void)p;
  (void)n;
  (void)end_stream;
  FZ_CHECK(f->tx[0].post && f->tx[0].sid == sid, "request body on %u", sid);
}

static void hf_on_frame(void *ud, uint8_t type, uint8_t flags, uint32_t sid,
                        const uint8_t *p, size_t n) {
  struct hf *f = ud;
  (void)flags;
  (void)sid;
  (void)p;
  (void)n;
  if (type == H2W_GOAWAY) f->client_goaway = 1;
}

static void hf_sent_data(void *ud, uint32_t sid, const uint8_t *p, size_t n) {
  struct hf *f = ud;
  struct hf_rec *r = hf_rec(f, sid, 1);
  if (r && !r->ended) hf_append(&r->p, &r->len, &r->cap, p, n);
}

static void hf_sent_end(void *ud, uint32_t sid) {
  struct hf *f = ud;
  struct hf_rec *r = hf_rec(f, sid, 1);
  if (r) r->ended = 1;
}

/* The k-th stream the client opened (h2w_compact), or 0. */
static uint32_t hf_opened(void *ud, int k) {
  struct hf *f = ud;
  return k <= f->nreq ? f->sids[k - 1] : 0;
}

/* Reads what the client sent; accepts (and closes at once) any further
 * connection. */
static void hf_server_read(struct hf *f) {
  static uint8_t buf[65536];
  int fd;
  while ((fd = accept4(f->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >=
         0) {
    if (f->sfd < 0) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      f->sfd = fd;
    } else {
      close(fd); /* a retry's connection: not served */
    }
  }
  while (f->sfd >= 0 && !f->client_closed) {
    ssize_t n = recv(f->sfd, buf, sizeof(buf), 0);
    const char *err;
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
      f->client_closed = 1;
      return;
    }
    if (n < 0) return;
    err = h2w_client_feed(&f->in, buf, (size_t)n);
    FZ_CHECK(err == NULL, "the client's HTTP/2: %s", err);
    if (f->in.not_h2) {
      /* An HTTP/1.1 request after HTTP_1_1_REQUIRED: not served. */
      FZ_CHECK(f->in.preface < 4, "the client's preface is wrong");
      f->client_closed = 1;
      return;
    }
  }
}

/* ---- the client's side ---- */

static struct hf *hf_cur;

static struct hf_tx *hf_live(void *ud, const char *what) {
  struct hf_tx *t = ud;
  FZ_CHECK(t->added && !t->done, "%s callback for transfer %d (added %d, "
           "done %d)", what, t->idx, t->added, t->done);
  FZ_CHECK(!hf_cur->in_cb, "%s callback inside the socket callback", what);
  return t;
}

static size_t hf_write(char *p, size_t size, size_t n, void *ud) {
  struct hf_tx *t = hf_live(ud, "write");
  size_t len = size * n;
  FZ_CHECK(!t->paused, "write callback of paused transfer %d", t->idx);
  if (t->idx == 0 && (hf_cur->f0 & 0x40) && t->wcalls++ == 0) {
    t->paused = t->was_paused = 1;
    return XFER_WRITEFUNC_PAUSE;
  }
  hf_append(&t->body, &t->len, &t->cap, p, len);
  return len;
}

static size_t hf_header(char *p, size_t size, size_t n, void *ud) {
  struct hf_tx *t = hf_live(ud, "header");
  size_t len = size * n;
  FZ_CHECK(len > 0 && p[len - 1] == '\n', "header line without LF");
  (void)t;
  return len;
}

static int hf_sockcb(XFER *e, xfer_socket_t s, int what, void *userp,
                     void *socketp) {
  struct hf *f = userp;
  int i;
  (void)e;
  (void)socketp;
  f->in_cb++;
  for (i = 0; i < f->nfds && f->fds[i] != s; i++)
    ;
  if (what == XFER_POLL_REMOVE) {
    FZ_CHECK(i < f->nfds, "REMOVE of an unknown socket %d", s);
    f->fds[i] = f->fds[--f->nfds];
    f->want[i] = f->want[f->nfds];
  } else {
    if (i == f->nfds) {
      FZ_CHECK(f->nfds < HF_MAX_FD, "too many sockets");
      f->fds[f->nfds++] = s;
    }
    f->want[i] = what;
  }
  f->in_cb--;
  return 0;
}

static int hf_timercb(XFERM *m, long ms, void *userp) {
  struct hf *f = userp;
  (void)m;
  f->timer_set = ms >= 0;
  f->timer_at = hf_now() + (uint64_t)(ms < 0 ? 0 : ms) * 1000u;
  return 0;
}

static int hf_allowed(const struct hf *f, const struct hf_tx *t, int r) {
  switch (r) {
  case XFERE_OK:
  case XFERE_HTTP2:
  case XFERE_HTTP2_STREAM:
  case XFERE_GOT_NOTHING:   /* a retry, on a connection closed at once */
  case XFERE_SEND_ERROR:
  case XFERE_RECV_ERROR:
    return 1;
  default:
    (void)f;
    (void)t;
    return 0;
  }
}

static void hf_done(struct hf *f, struct hf_tx *t, int result) {
  xfer_off_t dl = -1;
  struct hf_rec *r;
  t->done = 1;
  t->result = result;
  FZ_CHECK(hf_allowed(f, t, result), "transfer %d ended with %d (\"%s\")",
           t->idx, result, t->err);
  /* SIZE_DOWNLOAD counts what was received, as libcurl's: bytes held for
   * a paused transfer too, which a failure may never give. */
  FZ_CHECK(xfer_easy_getinfo(t->e, XFERINFO_SIZE_DOWNLOAD_T, &dl) == 0 &&
               (dl == (xfer_off_t)t->len ||
                (result != XFERE_OK && t->was_paused &&
                 dl > (xfer_off_t)t->len)),
           "transfer %d: SIZE_DOWNLOAD %lld, the write callback got %zu",
           t->idx, (long long)dl, t->len);
  if (result != XFERE_OK) {
    FZ_CHECK(t->err[0] != 0, "transfer %d failed (%d) without a message",
             t->idx, result);
    return;
  }
  FZ_CHECK(t->sid != 0, "transfer %d succeeded without a request", t->idx);
  if (t->head) {
    FZ_CHECK(t->len == 0, "HEAD transfer %d got %zu body bytes", t->idx,
             t->len);
    return;
  }
  if (f->rec_full) return;
  r = hf_rec(f, t->sid, 0);
  FZ_CHECK(r && r->ended, "transfer %d succeeded, its stream %u was never "
           "ended by the server", t->idx, t->sid);
  FZ_CHECK(r->len == t->len && (!t->len || memcmp(r->p, t->body, t->len) == 0),
           "transfer %d: got %zu bytes, the server sent %zu on stream %u",
           t->idx, t->len, r->len, t->sid);
}

static void hf_messages(struct hf *f) {
  XFERMsg *msg;
  int left;
  while ((msg = xfer_multi_info_read(f->m, &left)) != NULL) {
    int i;
    FZ_CHECK(msg->msg == XFERMSG_DONE, "msg %d", (int)msg->msg);
    for (i = 0; i < f->ntx && f->tx[i].e != msg->easy_handle; i++)
      ;
    FZ_CHECK(i < f->ntx && f->tx[i].added && !f->tx[i].done,
             "a message for a transfer that is not running");
    hf_done(f, &f->tx[i], (int)msg->data.result);
  }
}

/* One round: the engine's due timer, its sockets as they are ready
 * (poll with wait_ms), the server's reading. */
static void hf_pump(struct hf *f, int wait_ms) {
  struct pollfd p[HF_MAX_FD + 2];
  int i, n = 0, running, nf = f->nfds, fds[HF_MAX_FD];
  memcpy(fds, f->fds, sizeof(fds));
  for (i = 0; i < nf; i++) {
    p[n].fd = fds[i];
    p[n].events = (short)((f->want[i] & XFER_POLL_IN ? POLLIN : 0) |
                          (f->want[i] & XFER_POLL_OUT ? POLLOUT : 0));
    p[n++].revents = 0;
  }
  p[n].fd = f->lfd;
  p[n].events = POLLIN;
  p[n++].revents = 0;
  if (f->sfd >= 0 && !f->client_closed) {
    p[n].fd = f->sfd;
    p[n].events = POLLIN;
    p[n++].revents = 0;
  }
  if (f->timer_set) {
    uint64_t now = hf_now();
    int t = f->timer_at <= now ? 0 : (int)((f->timer_at - now) / 1000);
    if (t < wait_ms) wait_ms = t;
  }
  poll(p, (nfds_t)n, wait_ms);
  for (i = 0; i < nf; i++) {
    int ev = (p[i].revents & (POLLIN | POLLHUP | POLLERR) ? XFER_CSELECT_IN
                                                          : 0) |
             (p[i].revents & POLLOUT ? XFER_CSELECT_OUT : 0) |
             (p[i].revents & POLLERR ? XFER_CSELECT_ERR : 0);
    int k, still = 0;
    for (k = 0; k < f->nfds; k++) still |= f->fds[k] == fds[i];
    if (!ev || !still) continue;
    FZ_CHECK(xfer_multi_socket_action(f->m, fds[i], ev, &running) ==
                 XFERM_OK, "socket_action");
    hf_messages(f);
  }
  if (f->timer_set && hf_now() >= f->timer_at) {
    f->timer_set = 0;
    FZ_CHECK(xfer_multi_socket_action(f->m, XFER_SOCKET_TIMEOUT, 0,
                                      &running) == XFERM_OK,
             "socket_action(TIMEOUT)");
    hf_messages(f);
  }
  hf_server_read(f);
}

static int hf_running(const struct hf *f) {
  int i, n = 0;
  for (i = 0; i < f->ntx; i++) n += f->tx[i].added && !f->tx[i].done;
  return n;
}

/* Sends the server's bytes, driving the client while the socket is full. */
static void hf_send(struct hf *f, const uint8_t *p, size_t n) {
  int spins = 0;
  while (n > 0 && f->sfd >= 0) {
    ssize_t w = send(f->sfd, p, n, MSG_NOSIGNAL);
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (++spins > 1000) return; /* the client reads no more */
      hf_pump(f, 1);
      continue;
    }
    if (w <= 0) return; /* the client closed: the rest is lost */
    h2w_track_feed(&f->out, p, (size_t)w); /* what the client may read */
    p += w;
    n -= (size_t)w;
  }
}

static void hf_unpause(struct hf *f) {
  struct hf_tx *t = &f->tx[0];
  if (!t->paused) return;
  t->paused = 0;
  if (t->added && !t->done)
    FZ_CHECK(xfer_easy_pause(t->e, XFERPAUSE_CONT) == XFERE_OK, "unpause");
}

static uint64_t hf_rng;

static unsigned hf_rnd(void) {
  hf_rng ^= hf_rng >> 12;
  hf_rng ^= hf_rng << 25;
  hf_rng ^= hf_rng >> 27;
  return (unsigned)((hf_rng * 0x2545f4914f6cdd1dull) >> 33);
}

static void hf_setup(struct hf *f, uint16_t port) {
  static const char post[HF_POST_LEN + 1] =
      "abcdefghijklmnopqrstuvwxyzabcdefghijklmn";
  int i;
  f->m = xfer_multi_init();
  FZ_CHECK(f->m != NULL, "multi_init");
  FZ_CHECK(xfer_multi_setopt(f->m, XFERMOPT_SOCKETFUNCTION, hf_sockcb) == 0 &&
               xfer_multi_setopt(f->m, XFERMOPT_SOCKETDATA, (void *)f) == 0 &&
               xfer_multi_setopt(f->m, XFERMOPT_TIMERFUNCTION, hf_timercb) ==
                   0 &&
               xfer_multi_setopt(f->m, XFERMOPT_TIMERDATA, (void *)f) == 0 &&
               xfer_multi_setopt(f->m, XFERMOPT_MAX_HOST_CONNECTIONS, 1L) ==
                   0,
           "multi options");
  for (i = 0; i < f->ntx; i++) {
    struct hf_tx *t = &f->tx[i];
    char url[64], hdr[16];
    struct xfer_slist *hl;
    t->idx = i;
    t->head = i == 1 && (f->f2 & 1);
    t->post = i == 0 && (f->f2 & 2);
    t->e = xfer_easy_init();
    FZ_CHECK(t->e != NULL, "easy_init");
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/s/%d", (unsigned)port, i);
    snprintf(hdr, sizeof(hdr), "X-T: %d", i);
    hl = t->hl = xfer_slist_append(NULL, hdr);
    FZ_CHECK(hl != NULL, "slist");
    FZ_CHECK(xfer_easy_setopt(t->e, XFEROPT_URL, url) == 0 &&
                 xfer_easy_setopt(t->e, XFEROPT_HTTPHEADER, hl) == 0 &&
                 xfer_easy_setopt(t->e, XFEROPT_HTTP_VERSION,
                                  (long)XFER_HTTP_VERSION_2_PRIOR_KNOWLEDGE) ==
                     0 &&
                 xfer_easy_setopt(t->e, XFEROPT_PIPEWAIT, 1L) == 0 &&
                 xfer_easy_setopt(t->e, XFEROPT_WRITEFUNCTION, hf_write) == 0 &&
                 xfer_easy_setopt(t->e, XFEROPT_WRITEDATA, (void *)t) == 0 &&
                 xfer_easy_setopt(t->e, XFEROPT_ERRORBUFFER, t->err) == 0,
             "setopt");
    if (t->head) xfer_easy_setopt(t->e, XFEROPT_NOBODY, 1L);
    if (t->post) {
      xfer_easy_setopt(t->e, XFEROPT_POSTFIELDSIZE, (long)HF_POST_LEN);
      xfer_easy_setopt(t->e, XFEROPT_POSTFIELDS, post);
    }
    if (f->f2 & 4) {
      xfer_easy_setopt(t->e, XFEROPT_HEADERFUNCTION, hf_header);
      xfer_easy_setopt(t->e, XFEROPT_HEADERDATA, (void *)t);
    }
    if (getenv("XFER_FUZZ_TRACE")) xfer_easy_setopt(t->e, XFEROPT_VERBOSE, 1L);
    FZ_CHECK(xfer_multi_add_handle(f->m, t->e) == XFERM_OK, "add_handle");
    t->added = 1;
  }
}

static int hf_listen(uint16_t *port) {
  struct sockaddr_in a;
  socklen_t al = sizeof(a);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 8) < 0 ||
      getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static struct hf f;
  struct h2w_client_cb ccb;
  struct h2w_track_cb tcb;
  const uint8_t *in;
  uint8_t *compact = NULL;
  size_t n, pos = 0, clen = 0, ccap = 0;
  int fds_before, i, piece = 0, iter;
  uint16_t port = 0;
  if (size < 3 || size > (1u << 20)) return 0;
  fds_before = hf_count_fds();
  memset(&f, 0, sizeof(f));
  hf_cur = &f;
  f.f0 = data[0];
  f.f1 = data[1];
  f.f2 = data[2];
  f.ntx = (f.f0 & 7) + 1;
  f.sfd = -1;
  hf_rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)(f.f2 >> 3) << 40) ^ f.f1;
  memset(&ccb, 0, sizeof(ccb));
  ccb.ud = &f;
  ccb.request = hf_on_request;
  ccb.data = hf_on_data;
  ccb.frame = hf_on_frame;
  FZ_CHECK(h2w_client_init(&f.in, &ccb) == 0, "oom");
  memset(&tcb, 0, sizeof(tcb));
  tcb.ud = &f;
  tcb.data = hf_sent_data;
  tcb.end = hf_sent_end;
  h2w_track_init(&f.out, &tcb);
  f.lfd = hf_listen(&port);
  FZ_CHECK(f.lfd >= 0, "listen: %s", strerror(errno));
  hf_setup(&f, port);

  /* Every request in (and the POST's body). */
  for (iter = 0; iter < HF_SETUP_ITER; iter++) {
    if (f.in.settings_in && f.nreq == f.ntx && f.in.nopen == 0) break;
    hf_pump(&f, 1);
  }
  FZ_CHECK(iter < HF_SETUP_ITER, "the requests did not come: %d of %d",
           f.nreq, f.ntx);

  in = data + 3;
  n = size - 3;
  if (f.f0 & 0x20) {
    FZ_CHECK(h2w_compact(in, n, &compact, &clen, &ccap, HF_OUT_CAP,
                         hf_opened, &f) == 0, "oom");
    in = compact;
    n = clen;
  }
  if (f.f0 & 0x08) {
    uint8_t pre[2 * H2W_HDR];
    h2w_frame_hdr(pre, 0, H2W_SETTINGS, 0, 0);
    h2w_frame_hdr(pre + H2W_HDR, 0, H2W_SETTINGS, H2W_F_ACK, 0);
    hf_send(&f, pre, sizeof(pre));
    hf_pump(&f, 0);
  }
  while (pos < n && f.sfd >= 0 && !f.client_closed) {
    size_t k = n - pos;
    if (f.f1 & 15) {
      size_t m = 1 + hf_rnd() % (1u << (f.f1 & 15));
      if (m < n / HF_MAX_PIECES) m = n / HF_MAX_PIECES;
      if (m < k) k = m;
    }
    hf_send(&f, in + pos, k);
    pos += k;
    hf_pump(&f, 0);
    if (piece++ > 0) hf_unpause(&f);
    if ((f.f0 & 0x80) && piece == (f.f1 >> 4) + 1) {
      struct hf_tx *t = &f.tx[f.ntx - 1];
      if (t->added && !t->done)
        FZ_CHECK(xfer_multi_remove_handle(f.m, t->e) == XFERM_OK, "remove");
      t->added = 0;
    }
  }
  hf_unpause(&f);
  if ((f.f0 & 0x10) && f.sfd >= 0) {
    shutdown(f.sfd, SHUT_WR);
    f.server_shut = 1;
    for (iter = 0; iter < HF_END_ITER && hf_running(&f); iter++)
      hf_pump(&f, 1);
    for (i = 0; i < f.ntx; i++)
      FZ_CHECK(!f.tx[i].added || f.tx[i].done, "transfer %d is lost: no "
               "message after the server shut its side down", i);
  } else {
    hf_pump(&f, 0);
    hf_pump(&f, 0);
  }
  hf_server_read(&f);
  for (i = 0; i < f.ntx; i++)
    if (f.tx[i].done && f.tx[i].result == XFERE_HTTP2)
      FZ_CHECK(f.client_goaway || f.client_closed || f.server_shut,
               "transfer %d failed with HTTP2 (16: \"%s\"), but the "
               "connection goes on", i, f.tx[i].err);

  if (getenv("XFER_FUZZ_VERBOSE"))
    for (i = 0; i < f.ntx; i++)
      fprintf(stderr, "  tx%d stream %u added=%d done=%d result=%d body=%zu "
              "err=\"%s\"\n", i, f.tx[i].sid, f.tx[i].added, f.tx[i].done,
              f.tx[i].result, f.tx[i].len, f.tx[i].err);
  for (i = 0; i < f.ntx; i++) {
    struct hf_tx *t = &f.tx[i];
    if (t->added)
      FZ_CHECK(xfer_multi_remove_handle(f.m, t->e) == XFERM_OK, "remove");
    t->added = 0;
    xfer_easy_cleanup(t->e);
    xfer_slist_free_all(t->hl);
    free(t->body);
  }
  FZ_CHECK(xfer_multi_cleanup(f.m) == XFERM_OK, "multi_cleanup");
  FZ_CHECK(f.nfds == 0, "%d sockets still announced", f.nfds);
  for (i = 0; i < f.nrec; i++) free(f.rec[i].p);
  free(compact);
  h2w_client_free(&f.in);
  if (f.sfd >= 0) close(f.sfd);
  close(f.lfd);
  hf_cur = NULL;
  FZ_CHECK(hf_count_fds() == fds_before, "fds: %d before, %d after",
           fds_before, hf_count_fds());
  return 0;
}
