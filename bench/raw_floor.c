/*
 * raw_floor.c -- the least CPU any HTTP/1.1 keep-alive client can spend
 * here: no library, one request string made once, epoll, one send and one
 * recv per request, and only as much parsing as nginx's replies need (the
 * head's end and its Content-Length).  It is not a client anyone should
 * use (no chunked bodies, no errors worth the name); it is the floor that
 * the kernel sets on this machine, so that the table can show how much of
 * a client's CPU is its own.
 *
 * Usage: raw_floor [-n N] [-c C] http://127.0.0.1:PORT/PATH
 * Prints the line of bench/xfer_c.c (requests= ok= bytes= cpu_s= wall_s=
 * user_s= sys_s= rss0_kb= rss1_kb= hwm_kb=).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

struct conn {
  int fd;
  size_t got;       /* bytes of the current reply so far */
  long want;        /* its whole length, once the head is in; -1 before */
};

static char req[512];
static size_t req_len;
static char buf[65536];

static void die(const char *what) {
  perror(what);
  exit(3);
}

static void send_request(struct conn *c) {
  ssize_t n = send(c->fd, req, req_len, MSG_NOSIGNAL);
  if (n != (ssize_t)req_len) die("raw_floor: send");
  c->got = 0;
  c->want = -1;
}

/* Reads what is there; returns 1 when the reply is complete. */
static int receive(struct conn *c, long long *bytes) {
  ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
  if (n < 0 && errno == EAGAIN) return 0;
  if (n <= 0) die("raw_floor: recv (server closed or failed)");
  if (c->want < 0) {
    /* nginx's head arrives whole in the first read */
    const char *end = memmem(buf, (size_t)n, "\r\n\r\n", 4);
    const char *cl = memmem(buf, (size_t)n, "Content-Length: ", 16);
    if (!end || !cl) {
      fprintf(stderr, "raw_floor: head not in one read\n");
      exit(3);
    }
    c->want = (end + 4 - buf) + atol(cl + 16);
    *bytes += atol(cl + 16);
  }
  c->got += (size_t)n;
  return (long)c->got >= c->want;
}

int main(int argc, char **argv) {
  long total = 100000, conns = 64, started = 0, done = 0, i;
  long long bytes = 0;
  int opt, port, ep;
  char host[64], path[256];
  struct sockaddr_in sa;
  struct conn *cs;
  struct epoll_event evs[256];
  struct conn *ready[256];
  int nready;
  struct rusage r0, r1;
  long rss0;
  double t0;
  while ((opt = getopt(argc, argv, "n:c:m:")) != -1) {
    switch (opt) {
    case 'n': total = atol(optarg); break;
    case 'c': conns = atol(optarg); break;
    case 'm': break; /* windowed only */
    default:
      fprintf(stderr, "usage: raw_floor [-n N] [-c C] URL\n");
      return 2;
    }
  }
  if (optind >= argc ||
      sscanf(argv[optind], "http://%63[0-9.]:%d%255s", host, &port, path) != 3) {
    fprintf(stderr, "raw_floor: need http://IPv4:PORT/PATH\n");
    return 2;
  }
  if (conns > total) conns = total;
  req_len = (size_t)snprintf(req, sizeof(req),
                             "GET %s HTTP/1.1\r\nHost: %s:%d\r\n"
                             "Accept: */*\r\n\r\n", path, host, port);
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) return 2;
  rss0 = status_kb("VmRSS");
  getrusage(RUSAGE_SELF, &r0);
  t0 = now_s();
  if ((ep = epoll_create1(0)) < 0) die("epoll_create1");
  cs = calloc((size_t)conns, sizeof(*cs));
  if (!cs) return 3;
  for (i = 0; i < conns; i++) {
    struct epoll_event ev;
    int one = 1;
    cs[i].fd = socket(AF_INET, SOCK_STREAM, 0);
    if (cs[i].fd < 0) die("socket");
    setsockopt(cs[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(cs[i].fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
      die("connect");
    /* non-blocking after the (loopback, immediate) connect */
    if (fcntl(cs[i].fd, F_SETFL, O_NONBLOCK) < 0) die("fcntl");
    ev.events = EPOLLIN;
    ev.data.ptr = &cs[i];
    if (epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev) < 0) die("epoll_ctl");
    send_request(&cs[i]);
    started++;
  }
  while (done < total) {
    int n = epoll_wait(ep, evs, 256, 10000), k;
    if (n < 0 && errno != EINTR) die("epoll_wait");
    if (n == 0) {
      fprintf(stderr, "raw_floor: stalled\n");
      return 3;
    }
    /* Every reply first, then every next request: nginx, woken by the
     * first send, is still busy when the others arrive, so the later sends
     * wake nobody (xfer does the same: a re-added transfer starts at the
     * next timer run, after the events). */
    nready = 0;
    for (k = 0; k < n; k++) {
      struct conn *c = evs[k].data.ptr;
      if (!receive(c, &bytes)) continue;
      done++;
      if (started < total) {
        ready[nready++] = c;
        started++;
      }
    }
    for (k = 0; k < nready; k++) send_request(ready[k]);
  }
  getrusage(RUSAGE_SELF, &r1);
  printf("requests=%ld ok=%ld bytes=%lld cpu_s=%.6f wall_s=%.6f user_s=%.6f "
         "sys_s=%.6f rss0_kb=%ld rss1_kb=%ld hwm_kb=%ld\n",
         done, done, bytes,
         tv_s(&r1.ru_utime) - tv_s(&r0.ru_utime) + tv_s(&r1.ru_stime) -
             tv_s(&r0.ru_stime),
         now_s() - t0, tv_s(&r1.ru_utime) - tv_s(&r0.ru_utime),
         tv_s(&r1.ru_stime) - tv_s(&r0.ru_stime), rss0, rss0,
         status_kb("VmHWM"));
  return 0;
}
