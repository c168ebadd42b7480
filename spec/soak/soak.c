/*
 * soak.c -- one multi handle, N transfers (default 1,000,000), a window of
 * them in flight over MAX_TOTAL_CONNECTIONS=64, driven by socket_action on
 * epoll.  Most go to nginx; one in 20 meets a fault (reset, truncation,
 * garbage, refused, closed, timeout).  It checks that every transfer gets
 * exactly one message with the code its kind must give, that RSS stays
 * flat after the warm-up, and that the fd count returns to its start.
 *
 * Environment: NGINX_PORT, FAULT_PORT, FAULT_CLOSE_PORT (spec/run.sh's).
 * Usage: soak [N]      Exit 0 when every check holds.
 */
#include "xfer.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WINDOW 256
#define KINDS 8

struct kind {
  const char *name;
  const char *fmt;      /* URL; %d is the port */
  const char *port_env;
  XFERcode want;
  long timeout_ms;
};

static struct kind kinds[KINDS] = {
  {"ok", "http://127.0.0.1:%d/1k.bin", "NGINX_PORT", XFERE_OK, 0},
  {"reset", "http://127.0.0.1:%d/reset-mid-body?size=1000&send=100",
   "FAULT_PORT", XFERE_RECV_ERROR, 0},
  {"truncated", "http://127.0.0.1:%d/truncated-body?size=1000&send=100",
   "FAULT_PORT", XFERE_PARTIAL_FILE, 0},
  {"garbage", "http://127.0.0.1:%d/garbage", "FAULT_PORT",
   XFERE_WEIRD_SERVER_REPLY, 0},
  {"closed", "http://127.0.0.1:%d/x", "FAULT_CLOSE_PORT", XFERE_GOT_NOTHING,
   0},
  {"refused", "http://127.0.0.1:%d/x", "REFUSED", XFERE_COULDNT_CONNECT, 0},
  {"timeout", "http://127.0.0.1:%d/sleep?ms=500", "FAULT_PORT",
   XFERE_OPERATION_TIMEDOUT, 50},
  {"status", "http://127.0.0.1:%d/status/500", "FAULT_PORT", XFERE_OK, 0},
};

struct slot {
  XFER *easy;
  long index;
  int kind;
  int done;
};

static int epfd;
static long timer_ms = -1;
static struct timespec timer_at;
static char urls[KINDS][256];
static long done_count, bad_count, by_kind[KINDS];

static size_t sink(char *p, size_t s, size_t n, void *u) {
  (void)p;
  (void)u;
  return s * n;
}

static int sock_cb(XFER *e, xfer_socket_t fd, int what, void *u, void *sp) {
  struct epoll_event ev;
  (void)e;
  (void)u;
  (void)sp;
  if (what == XFER_POLL_REMOVE) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
    return 0;
  }
  memset(&ev, 0, sizeof(ev));
  ev.data.fd = fd;
  ev.events = (what & XFER_POLL_IN ? EPOLLIN : 0) |
              (what & XFER_POLL_OUT ? EPOLLOUT : 0);
  if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) != 0 && errno == ENOENT)
    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
  return 0;
}

static int timer_cb(XFERM *m, long ms, void *u) {
  (void)m;
  (void)u;
  timer_ms = ms;
  clock_gettime(CLOCK_MONOTONIC, &timer_at);
  return 0;
}

static long rss_kb(void) {
  char line[256];
  long kb = -1;
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  while (fgets(line, sizeof(line), f))
    if (sscanf(line, "VmRSS: %ld", &kb) == 1) break;
  fclose(f);
  return kb;
}

static int count_fds(void) {
  int n = 0;
  struct dirent *de;
  DIR *d = opendir("/proc/self/fd");
  while (d && (de = readdir(d)) != NULL)
    if (de->d_name[0] != '.') n++;
  if (d) closedir(d);
  return n - 1;
}

static int refused_port(void) {
  struct sockaddr_in a;
  socklen_t l = sizeof(a);
  int fd = socket(AF_INET, SOCK_STREAM, 0), port;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, (struct sockaddr *)&a, sizeof(a));
  getsockname(fd, (struct sockaddr *)&a, &l);
  port = ntohs(a.sin_port);
  close(fd); /* nobody listens there now */
  return port;
}

/* Which kind transfer i is: one in 20 is a fault, spread over the kinds. */
static int kind_of(long i) { return i % 20 ? 0 : 1 + (int)((i / 20) % (KINDS - 1)); }

static void arm(struct slot *s, long index) {
  s->index = index;
  s->kind = kind_of(index);
  s->done = 0;
  xfer_easy_setopt(s->easy, XFEROPT_URL, urls[s->kind]);
  xfer_easy_setopt(s->easy, XFEROPT_TIMEOUT_MS, kinds[s->kind].timeout_ms);
}

int main(int argc, char **argv) {
  long total = argc > 1 ? atol(argv[1]) : 1000000, started = 0, i;
  long rss_warm = 0, rss_max = 0, next_report = 100000;
  int fds0 = count_fds(), running = 0, k;
  XFERM *m = xfer_multi_init();
  struct slot *slots = calloc(WINDOW, sizeof(*slots));
  time_t t0 = time(NULL);
  for (k = 0; k < KINDS; k++) {
    int port = strcmp(kinds[k].port_env, "REFUSED") == 0
                   ? refused_port()
                   : atoi(getenv(kinds[k].port_env) ? getenv(kinds[k].port_env)
                                                     : "0");
    snprintf(urls[k], sizeof(urls[k]), kinds[k].fmt, port);
  }
  epfd = epoll_create1(EPOLL_CLOEXEC);
  xfer_multi_setopt(m, XFERMOPT_SOCKETFUNCTION, sock_cb);
  xfer_multi_setopt(m, XFERMOPT_TIMERFUNCTION, timer_cb);
  xfer_multi_setopt(m, XFERMOPT_MAX_TOTAL_CONNECTIONS, 64L);
  for (i = 0; i < WINDOW && started < total; i++) {
    slots[i].easy = xfer_easy_init();
    xfer_easy_setopt(slots[i].easy, XFEROPT_WRITEFUNCTION, sink);
    xfer_easy_setopt(slots[i].easy, XFEROPT_PRIVATE, &slots[i]);
    arm(&slots[i], started++);
    xfer_multi_add_handle(m, slots[i].easy);
  }
  while (done_count < total) {
    struct epoll_event evs[128];
    XFERMsg *msg;
    int n, left, wait_ms = -1;
    if (timer_ms >= 0) {
      struct timespec now;
      long el;
      clock_gettime(CLOCK_MONOTONIC, &now);
      el = (now.tv_sec - timer_at.tv_sec) * 1000 +
           (now.tv_nsec - timer_at.tv_nsec) / 1000000;
      wait_ms = el >= timer_ms ? 0 : (int)(timer_ms - el);
    }
    n = epoll_wait(epfd, evs, 128, wait_ms < 0 ? 1000 : wait_ms);
    for (k = 0; k < n; k++) {
      int mask = (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)
                      ? XFER_CSELECT_IN : 0) |
                 (evs[k].events & EPOLLOUT ? XFER_CSELECT_OUT : 0);
      xfer_multi_socket_action(m, evs[k].data.fd, mask, &running);
    }
    if (n == 0 && timer_ms >= 0) {
      timer_ms = -1;
      xfer_multi_socket_action(m, XFER_SOCKET_TIMEOUT, 0, &running);
    }
    while ((msg = xfer_multi_info_read(m, &left)) != NULL) {
      struct slot *s = NULL;
      xfer_easy_getinfo(msg->easy_handle, XFERINFO_PRIVATE, &s);
      if (!s || s->done) {
        fprintf(stderr, "message for a transfer that has one already\n");
        return 1;
      }
      s->done = 1;
      done_count++;
      by_kind[s->kind]++;
      if (msg->data.result != kinds[s->kind].want) {
        if (bad_count++ < 10)
          fprintf(stderr, "transfer %ld (%s): code %d, want %d\n", s->index,
                  kinds[s->kind].name, msg->data.result, kinds[s->kind].want);
      }
      xfer_multi_remove_handle(m, s->easy);
      if (started < total) {
        arm(s, started++);
        xfer_multi_add_handle(m, s->easy);
      }
    }
    if (done_count >= next_report) {
      /* The first 100,000 are the warm-up: buffers, tables and the heap
       * reach their size; after that RSS must stay flat. */
      long rss = rss_kb();
      if (next_report == 100000 && total >= 200000) rss_warm = rss;
      if (rss > rss_max) rss_max = rss;
      next_report += 100000;
      printf("%7ld done  rss %ld KiB  %lds\n", done_count, rss,
             (long)(time(NULL) - t0));
      fflush(stdout);
    }
    if (time(NULL) - t0 > 600) {
      fprintf(stderr, "soak: over 10 minutes, stopping\n");
      return 1;
    }
  }
  for (i = 0; i < WINDOW; i++)
    if (slots[i].easy) {
      xfer_multi_remove_handle(m, slots[i].easy);
      xfer_easy_cleanup(slots[i].easy);
    }
  xfer_multi_cleanup(m);
  close(epfd);
  free(slots);
  printf("transfers %ld in %lds; by kind:", done_count, (long)(time(NULL) - t0));
  for (k = 0; k < KINDS; k++) printf(" %s=%ld", kinds[k].name, by_kind[k]);
  printf("\nwrong codes %ld; rss after warm-up %ld KiB, max %ld KiB; fds %d -> %d\n",
         bad_count, rss_warm, rss_max, fds0, count_fds());
  if (bad_count) return 1;
  if (rss_warm && rss_max > rss_warm + 2048) {
    fprintf(stderr, "RSS grew by %ld KiB after the warm-up\n", rss_max - rss_warm);
    return 1;
  }
  if (count_fds() != fds0) return 1;
  printf("soak: ok\n");
  return 0;
}
