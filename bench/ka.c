/*
 * ka.c -- keep-alive throughput: N GETs of one URL over C connections, each
 * connection's easy handle re-added as soon as its transfer completes (the
 * windowed style), driven by socket_action on epoll (-s) or perform + poll
 * (-p).  Built twice: against xfer through the compat header, and against
 * libcurl, so both run the very same code.  Prints one line:
 *   requests=N ok=N cpu_us_per_req=X wall_s=X rps=X sockcb_per_req=X
 */
#include <curl/curl.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static int epfd;
static long timeout_ms = -1;
static long sockcb_calls;
static size_t bytes;

static size_t on_body(char *p, size_t s, size_t n, void *u) {
  (void)p;
  (void)u;
  bytes += s * n;
  return s * n;
}

static int sock_cb(CURL *e, curl_socket_t s, int what, void *u, void *sp) {
  struct epoll_event ev;
  (void)e;
  (void)u;
  (void)sp;
  sockcb_calls++;
  if (what == CURL_POLL_REMOVE) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, s, NULL);
    return 0;
  }
  memset(&ev, 0, sizeof(ev));
  ev.data.fd = s;
  ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) |
              (what & CURL_POLL_OUT ? EPOLLOUT : 0);
  if (epoll_ctl(epfd, EPOLL_CTL_MOD, s, &ev) != 0 && errno == ENOENT)
    epoll_ctl(epfd, EPOLL_CTL_ADD, s, &ev);
  return 0;
}

static int timer_cb(CURLM *m, long ms, void *u) {
  (void)m;
  (void)u;
  timeout_ms = ms;
  return 0;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  long total = 100000, conns = 64, started = 0, done = 0, ok = 0;
  int style_socket = 1, opt, running = 0, i;
  const char *url;
  CURLM *m;
  CURL **easies;
  struct rusage ru;
  double t0, wall, cpu;
  while ((opt = getopt(argc, argv, "n:c:sp")) != -1) {
    if (opt == 'n') total = atol(optarg);
    else if (opt == 'c') conns = atol(optarg);
    else if (opt == 's') style_socket = 1;
    else if (opt == 'p') style_socket = 0;
  }
  if (optind >= argc) {
    fprintf(stderr, "usage: ka [-n N] [-c C] [-s|-p] URL\n");
    return 2;
  }
  url = argv[optind];
  m = curl_multi_init();
  curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, conns);
  if (style_socket) {
    epfd = epoll_create1(0);
    curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, timer_cb);
  }
  easies = calloc((size_t)conns, sizeof(*easies));
  t0 = now_s();
  for (i = 0; i < conns && started < total; i++, started++) {
    easies[i] = curl_easy_init();
    curl_easy_setopt(easies[i], CURLOPT_URL, url);
    curl_easy_setopt(easies[i], CURLOPT_WRITEFUNCTION, on_body);
    curl_multi_add_handle(m, easies[i]);
  }
  if (style_socket) curl_multi_socket_action(m, CURL_SOCKET_TIMEOUT, 0, &running);
  else curl_multi_perform(m, &running);
  while (done < total) {
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left))) {
      CURL *e = msg->easy_handle;
      done++;
      if (msg->data.result == CURLE_OK) ok++;
      curl_multi_remove_handle(m, e);
      if (started < total) {
        started++;
        curl_multi_add_handle(m, e);
      }
    }
    if (done >= total) break;
    if (style_socket) {
      struct epoll_event evs[128];
      int n = epoll_wait(epfd, evs, 128, (int)timeout_ms);
      if (n == 0 || timeout_ms == 0) {
        timeout_ms = -1;
        curl_multi_socket_action(m, CURL_SOCKET_TIMEOUT, 0, &running);
      }
      for (i = 0; i < n; i++) {
        int mask = (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR) ? CURL_CSELECT_IN : 0) |
                   (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0);
        curl_multi_socket_action(m, evs[i].data.fd, mask, &running);
      }
    } else {
      curl_multi_poll(m, NULL, 0, 1000, NULL);
      curl_multi_perform(m, &running);
    }
  }
  wall = now_s() - t0;
  getrusage(RUSAGE_SELF, &ru);
  cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
        ru.ru_stime.tv_usec / 1e6;
  printf("requests=%ld ok=%ld cpu_us_per_req=%.2f wall_s=%.3f rps=%.0f "
         "sockcb_per_req=%.4f bytes=%zu\n", done, ok, cpu * 1e6 / done, wall,
         done / wall, (double)sockcb_calls / done, bytes);
  for (i = 0; i < conns; i++)
    if (easies[i]) {
      curl_multi_remove_handle(m, easies[i]);
      curl_easy_cleanup(easies[i]);
    }
  curl_multi_cleanup(m);
  free(easies);
  return ok == total ? 0 : 1;
}
