/*
 * tlsproxy.c -- a TLS-terminating TCP proxy for the fault matrix: puts TLS
 * in front of the plain-HTTP fault server so that each of its faults can be
 * seen over HTTPS.  One process, one epoll loop, non-blocking sockets.
 *
 *   tlsproxy CERT.pem KEY.pem NAME=UPSTREAM_PORT...
 *
 * For each NAME=PORT it listens on a free port of 127.0.0.1 and, once all
 * listen, prints "export NAME=<listen port>" lines (one per argument, in
 * order).  It runs until SIGTERM/SIGINT, EOF on stdin (when stdin is a
 * pipe, fifo, socket or tty), or 2 hours.
 *
 * Per connection: the TLS handshake first (with CERT/KEY), then a TCP
 * connection to 127.0.0.1:UPSTREAM_PORT, then bytes both ways.  The
 * upstream's way of ending is relayed: a FIN (after everything it sent was
 * relayed) becomes close_notify + FIN; an RST (or a failed connect) becomes
 * an RST (SO_LINGER 0), without close_notify.  After a FIN the client is
 * still read (and relayed upstream) until it closes or 2 s pass, so that
 * unread data cannot turn the close into an RST.  The client's close (or
 * error) closes the upstream.  Backpressure: at most BUFSZ bytes are held
 * per direction; while the upstream does not read, neither does the proxy.
 * So a fault of the upstream always happens after the handshake, like a
 * TLS-terminating front end whose backend misbehaves.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define BUFSZ (64 * 1024)
#define MAXLISTEN 16
#define LINGER_MS 2000
#define HARD_CAP_MS (2 * 60 * 60 * 1000ULL)

enum { K_LISTEN, K_CLIENT, K_UP, K_STDIN };
enum { ST_HANDSHAKE, ST_CONNECTING, ST_RELAY };

struct tag { int kind; void *p; };

struct buf { size_t off, len; char d[BUFSZ]; };

struct conn {
  struct tag ctag, utag;
  int cfd, ufd, port, state;
  SSL *ssl;
  int u_eof, shut_sent, dead;
  uint64_t drain_until;    /* after close_notify: close at the latest then */
  struct buf c2u, u2c;
  struct conn *prev, *next;
};

struct lsn { struct tag tag; int fd, up_port; };

static int epfd;
static SSL_CTX *ctx;
static struct conn *conns, *graveyard;
static volatile sig_atomic_t stop_sig;
static int debug;

static void dbg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void dbg(const char *fmt, ...) {
  va_list ap;
  if (!debug) return;
  va_start(ap, fmt);
  fputs("tlsproxy: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_signal(int sig) { stop_sig = sig; }

static int ep_add(int fd, struct tag *t, uint32_t ev) {
  struct epoll_event e;
  memset(&e, 0, sizeof(e));
  e.events = ev;
  e.data.ptr = t;
  return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e);
}

static void close_rst(int fd) {
  struct linger l = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  close(fd);
}

/* Closes c's sockets (RST to the client if asked) and moves c to the
 * graveyard: events for it may still be in the current epoll batch, so
 * the memory is freed only after the batch. */
static void conn_free(struct conn *c, int rst_client) {
  dbg("close %d/%d%s", c->cfd, c->ufd, rst_client ? " (RST)" : "");
  if (c->ufd >= 0) close(c->ufd);
  SSL_free(c->ssl);
  c->ssl = NULL;
  if (rst_client) close_rst(c->cfd);
  else close(c->cfd);
  c->dead = 1;
  if (c->prev) c->prev->next = c->next;
  else conns = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = NULL;
  c->next = graveyard;
  graveyard = c;
}

/* The upstream reset (or could not be reached): what it sent before is
 * relayed if the client can take it now, then the client gets an RST. */
static void upstream_reset(struct conn *c) {
  while (c->u2c.len > c->u2c.off) {
    int n = SSL_write(c->ssl, c->u2c.d + c->u2c.off,
                      (int)(c->u2c.len - c->u2c.off));
    if (n <= 0) break;
    c->u2c.off += (size_t)n;
  }
  conn_free(c, 1);
}

/* Returns 0 if c was freed. */
static int start_upstream(struct conn *c) {
  struct sockaddr_in a;
  int one = 1;
  c->ufd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->ufd < 0) { conn_free(c, 1); return 0; }
  setsockopt(c->ufd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)c->port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  c->state = ST_CONNECTING;
  if (ep_add(c->ufd, &c->utag, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET) ||
      (connect(c->ufd, (struct sockaddr *)&a, sizeof(a)) != 0 &&
       errno != EINPROGRESS)) {
    upstream_reset(c);
    return 0;
  }
  dbg("%d: connecting upstream %d", c->cfd, c->port);
  return 1;
}

/* Is this SSL result the end of the client (EOF, close_notify, error)? */
static int ssl_fatal(struct conn *c, int r) {
  int e = SSL_get_error(c->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
  dbg("%d: client ssl end (ssl error %d, errno %d)", c->cfd, e, errno);
  ERR_clear_error();
  return 1;
}

/* Does whatever can be done now, until nothing more can.  Edge-triggered
 * epoll: every operation is retried until it would block, and an operation
 * skipped for lack of room is retried as soon as the room appears (in this
 * same loop, since only this loop makes room).  Returns 0 if c was freed. */
static int pump(struct conn *c) {
  for (;;) {
    int progress = 0, n;
    if (c->state == ST_HANDSHAKE) {
      n = SSL_accept(c->ssl);
      if (n == 1) {
        dbg("%d: handshake done", c->cfd);
        return start_upstream(c); /* the connect's event resumes c */
      }
      if (ssl_fatal(c, n)) { conn_free(c, 0); return 0; }
      return 1;
    }
    if (c->state != ST_RELAY) return 1;
    /* client -> c2u */
    if (c->c2u.off && c->c2u.off == c->c2u.len) c->c2u.off = c->c2u.len = 0;
    if (c->c2u.len < BUFSZ) {
      n = SSL_read(c->ssl, c->c2u.d + c->c2u.len, (int)(BUFSZ - c->c2u.len));
      if (n > 0) {
        c->c2u.len += (size_t)n;
        progress = 1;
      } else if (ssl_fatal(c, n)) {
        conn_free(c, 0); /* the client closed or failed: close upstream */
        return 0;
      }
    }
    /* c2u -> upstream */
    if (c->c2u.len > c->c2u.off) {
      ssize_t w = send(c->ufd, c->c2u.d + c->c2u.off, c->c2u.len - c->c2u.off,
                       MSG_NOSIGNAL);
      if (w > 0) {
        c->c2u.off += (size_t)w;
        progress = 1;
      } else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
                 errno != EINTR) {
        dbg("%d: upstream send: %s", c->cfd, strerror(errno));
        upstream_reset(c);
        return 0;
      }
    }
    /* upstream -> u2c */
    if (c->u2c.off && c->u2c.off == c->u2c.len) c->u2c.off = c->u2c.len = 0;
    if (!c->u_eof && c->u2c.len < BUFSZ) {
      ssize_t r = recv(c->ufd, c->u2c.d + c->u2c.len, BUFSZ - c->u2c.len, 0);
      if (r > 0) {
        c->u2c.len += (size_t)r;
        progress = 1;
      } else if (r == 0) {
        dbg("%d: upstream FIN", c->cfd);
        c->u_eof = progress = 1;
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        dbg("%d: upstream recv: %s", c->cfd, strerror(errno));
        upstream_reset(c);
        return 0;
      }
    }
    /* u2c -> client */
    if (c->u2c.len > c->u2c.off) {
      n = SSL_write(c->ssl, c->u2c.d + c->u2c.off,
                    (int)(c->u2c.len - c->u2c.off));
      if (n > 0) {
        c->u2c.off += (size_t)n;
        progress = 1;
      } else if (ssl_fatal(c, n)) {
        conn_free(c, 0);
        return 0;
      }
    }
    /* the upstream's FIN, once all it sent is out: close_notify + FIN */
    if (c->u_eof && c->u2c.len == c->u2c.off && !c->shut_sent) {
      n = SSL_shutdown(c->ssl);
      if (n >= 0) {
        dbg("%d: close_notify sent", c->cfd);
        shutdown(c->cfd, SHUT_WR);
        c->shut_sent = progress = 1;
        c->drain_until = now_ms() + LINGER_MS;
      } else if (ssl_fatal(c, n)) {
        conn_free(c, 0);
        return 0;
      }
    }
    if (!progress) return 1;
  }
}

static void on_accept(struct lsn *l) {
  for (;;) {
    struct conn *c;
    int one = 1;
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    c = calloc(1, sizeof(*c));
    if (!c || !(c->ssl = SSL_new(ctx))) {
      free(c);
      close(fd);
      continue;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->cfd = fd;
    c->ufd = -1;
    c->port = l->up_port;
    c->ctag.kind = K_CLIENT;
    c->utag.kind = K_UP;
    c->ctag.p = c->utag.p = c;
    c->next = conns;
    if (conns) conns->prev = c;
    conns = c;
    SSL_set_fd(c->ssl, fd);
    dbg("%d: accepted for upstream %d", fd, c->port);
    if (ep_add(fd, &c->ctag, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)) {
      conn_free(c, 0);
      continue;
    }
    pump(c);
  }
}

static void on_upstream(struct conn *c) {
  if (c->state == ST_CONNECTING) {
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(c->ufd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err == EINPROGRESS) return;
    if (err) {
      dbg("%d: upstream connect: %s", c->cfd, strerror(err));
      upstream_reset(c);
      return;
    }
    dbg("%d: upstream connected", c->cfd);
    c->state = ST_RELAY;
  }
  pump(c);
}

static int listen_on(int *port) {
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 511) ||
      getsockname(fd, (struct sockaddr *)&a, &len)) {
    close(fd);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return fd;
}

static int stdin_watchable(void) {
  struct stat st;
  if (fstat(0, &st) != 0) return 0;
  return S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || isatty(0);
}

int main(int argc, char **argv) {
  static struct lsn lsns[MAXLISTEN];
  static struct tag stdin_tag = {K_STDIN, NULL};
  int i, nl = 0, stdin_on = 0;
  uint64_t cap;
  struct sigaction sa;

  if (argc < 4 || argc - 3 > MAXLISTEN) {
    fprintf(stderr, "usage: %s CERT KEY NAME=UPSTREAM_PORT... (at most %d)\n",
            argv[0], MAXLISTEN);
    return 2;
  }
  debug = getenv("TLSPROXY_DEBUG") && *getenv("TLSPROXY_DEBUG") == '1';
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, argv[1]) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, argv[2], SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1) {
    fprintf(stderr, "tlsproxy: cannot load %s / %s\n", argv[1], argv[2]);
    ERR_print_errors_fp(stderr);
    return 1;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);

  epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) { perror("tlsproxy: epoll_create1"); return 1; }
  for (i = 3; i < argc; i++) {
    char *eq = strchr(argv[i], '=');
    struct lsn *l = &lsns[nl];
    int port;
    if (!eq || eq == argv[i] || atoi(eq + 1) <= 0 || atoi(eq + 1) > 65535) {
      fprintf(stderr, "tlsproxy: bad argument %s (want NAME=PORT)\n", argv[i]);
      return 2;
    }
    l->up_port = atoi(eq + 1);
    l->fd = listen_on(&port);
    l->tag.kind = K_LISTEN;
    l->tag.p = l;
    if (l->fd < 0 || ep_add(l->fd, &l->tag, EPOLLIN)) {
      perror("tlsproxy: listen");
      return 1;
    }
    nl++;
    printf("export %.*s=%d\n", (int)(eq - argv[i]), argv[i], port);
  }
  fflush(stdout);
  if (stdin_watchable() && ep_add(0, &stdin_tag, EPOLLIN) == 0) stdin_on = 1;

  cap = now_ms() + HARD_CAP_MS;
  while (!stop_sig && now_ms() < cap) {
    struct epoll_event evs[64];
    struct conn *c, *next;
    uint64_t now;
    int n = epoll_wait(epfd, evs, 64, 200);
    if (n < 0 && errno != EINTR) { perror("tlsproxy: epoll_wait"); break; }
    for (i = 0; i < n; i++) {
      struct tag *t = evs[i].data.ptr;
      if (t->kind == K_LISTEN) on_accept(t->p);
      else if (t->kind == K_STDIN) {
        char b[256];
        ssize_t r = read(0, b, sizeof(b));
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
          dbg("stdin EOF");
          stop_sig = -1;
        }
      } else if (((struct conn *)t->p)->dead) {
        continue; /* closed earlier in this batch */
      } else if (t->kind == K_CLIENT) {
        pump(t->p);
      } else {
        on_upstream(t->p);
      }
    }
    while (graveyard) {
      c = graveyard;
      graveyard = c->next;
      free(c);
    }
    now = now_ms();
    for (c = conns; c; c = next) {
      next = c->next;
      if (c->shut_sent && now >= c->drain_until) conn_free(c, 0);
    }
  }
  while (conns) conn_free(conns, 0);
  while (graveyard) {
    struct conn *c = graveyard;
    graveyard = c->next;
    free(c);
  }
  for (i = 0; i < nl; i++) close(lsns[i].fd);
  if (stdin_on) epoll_ctl(epfd, EPOLL_CTL_DEL, 0, NULL);
  close(epfd);
  SSL_CTX_free(ctx);
  return 0;
}
