/*
 * uv_run_bench.c -- a libcurl multi program on libuv in the shape of
 * examples/multi-uv.c (and libcurl's docs/examples/multi-uv.c): the socket
 * callback keeps one uv_poll_t per socket (uv_poll_start, and uv_close on
 * CURL_POLL_REMOVE), the timer callback keeps one uv_timer_t
 * (uv_timer_start / uv_timer_stop), and the program runs
 * uv_run(UV_RUN_DEFAULT) until it returns by itself: it never calls
 * uv_stop.  libcurl's public API only; built against libcurl (-lcurl -luv)
 * and, unchanged, against xfer through csrc/compat/curl/curl.h.
 *
 * Two uses in bench/run.lua:
 *   W1  the keep-alive windowed run (N transfers over C easy handles, each
 *       re-added when it completes), and whether uv_run then returns by
 *       itself: it can only when the library leaves no socket watched and
 *       no timer armed once nothing runs (idle keep-alive connections must
 *       leave the watch set: CURL_POLL_REMOVE), with nginx's 600 s
 *       keepalive_timeout holding them open.
 *   W9  latency under bulk (-H MS): a repeating MS-ms heartbeat timer on
 *       the same loop while the transfers (4 × 100 MiB) run; every gap
 *       between two heartbeat callbacks is recorded (CLOCK_MONOTONIC in the
 *       callback, not libuv's cached loop time).  The heartbeat is stopped
 *       at the last completion, so uv_run can still return by itself.
 *
 * Usage: uv_run_bench [-n N] [-c C] [-H MS] [-w SECS] [-V] URL [URL...]
 *   -n N     transfers (default 100000); transfer i uses URL i % count
 *   -c C     easy handles and CURLMOPT_MAX_TOTAL_CONNECTIONS (default 64)
 *   -H MS    heartbeat period in ms (default 0: none)
 *   -w SECS  give up waiting for uv_run to return by itself SECS seconds
 *            after the last completion (default 3): an unreferenced timer
 *            (which keeps nothing alive) then stops the loop, and the line
 *            says uv_returned=0
 *   -V       print the library version and exit
 *
 * The timer callback passes 0 ms to libuv as 0 (examples/multi-uv.c makes it
 * 1 ms): libuv never runs a timer from inside uv_timer_start, so 0 is as
 * safe, and 1 ms would delay each re-added transfer of W1 by a millisecond.
 *
 * Prints one line (cpu and wall: from before the first handle is made to
 * the last completion):
 *   requests=N ok=N bytes=N cpu_s=X wall_s=X sockcb=N sockcb_warm=N
 *   warm_requests=N rss0_kb=N hwm_kb=N user_s=X sys_s=X uv_returned=0|1
 *   return_ms=X hb_n=N hb_max_ms=X hb_p99_ms=X hb_p50_ms=X act_max_ms=X
 *   nivcsw=N
 * sockcb_warm and warm_requests as in curl_bench.c (-1 when N <= 2C);
 * return_ms is the time from the last completion until uv_run returned;
 * hb_* are the heartbeat gaps (-1 without -H); act_max_ms the longest
 * single socket_action call (with -H only: how long the library held the
 * loop at once); nivcsw the involuntary context switches (the process
 * preempted: a gap longer than act_max_ms is the machine's, not the loop's).  Exit status 0 when every
 * transfer was CURLE_OK and uv_run returned by itself.
 */
#include <curl/curl.h>
#include <uv.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench_util.h"

static long total = 100000, conns = 64, hb_ms = 0;
static double wait_limit = 3;
static char **urls;
static int nurls;

static uv_loop_t loop;
static uv_timer_t timer, heartbeat, watchdog;
static CURLM *multi;
static long started, done, ok, failed;
static long sockcb_calls, sockcb_warm = -1, warm_requests = -1;
static int warm_on, finished, gave_up;
static curl_off_t bytes;
static struct rusage ru0, ru1;
static double t0, t_done;

/* heartbeat gaps, in seconds */
static double hb_last, *gaps;
/* the longest single socket_action call (the library holding the loop) */
static double act_max;
static long ngaps, gaps_cap;

struct sock_ctx {
  uv_poll_t poll;
  curl_socket_t fd;
};

static size_t on_body(char *p, size_t size, size_t n, void *u) {
  (void)p;
  (void)u;
  bytes += (curl_off_t)(size * n);
  return size * n;
}

static CURL *new_easy(const char *url) {
  CURL *e = curl_easy_init();
  if (!e) {
    fprintf(stderr, "uv_run_bench: curl_easy_init failed\n");
    exit(3);
  }
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  return e;
}

static void add(CURL *e) {
  CURLMcode rc = curl_multi_add_handle(multi, e);
  if (rc != CURLM_OK) {
    fprintf(stderr, "uv_run_bench: curl_multi_add_handle: %s\n",
            curl_multi_strerror(rc));
    exit(3);
  }
}

static void on_done(CURL *e, CURLcode result) {
  curl_multi_remove_handle(multi, e);
  done++;
  if (result == CURLE_OK) ok++;
  else if (++failed <= 5)
    fprintf(stderr, "uv_run_bench: %s\n", curl_easy_strerror(result));
  if (total - conns > total / 2) {
    if (done == total / 2) {
      sockcb_warm = 0;
      warm_on = 1;
    } else if (done == total - conns) {
      warm_on = 0;
      warm_requests = total - conns - total / 2;
    }
  }
  if (started < total) {
    if (nurls > 1) curl_easy_setopt(e, CURLOPT_URL, urls[started % nurls]);
    started++;
    add(e);
  } else {
    curl_easy_cleanup(e);
  }
  if (done == total) {
    finished = 1;
    getrusage(RUSAGE_SELF, &ru1);
    t_done = now_s();
    if (hb_ms > 0) uv_timer_stop(&heartbeat);
  }
}

static void check_multi_info(void) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(multi, &left))) {
    if (msg->msg != CURLMSG_DONE) continue;
    {
      CURL *e = msg->easy_handle;
      CURLcode result = msg->data.result;
      on_done(e, result);
    }
  }
}

static void socket_action(curl_socket_t s, int flags) {
  int running;
  double a0 = hb_ms > 0 ? now_s() : 0;
  CURLMcode rc = curl_multi_socket_action(multi, s, flags, &running);
  if (hb_ms > 0 && now_s() - a0 > act_max) act_max = now_s() - a0;
  if (rc != CURLM_OK) {
    fprintf(stderr, "uv_run_bench: socket_action: %s\n",
            curl_multi_strerror(rc));
    exit(3);
  }
  check_multi_info();
}

static void on_poll(uv_poll_t *h, int status, int events) {
  struct sock_ctx *c = h->data;
  int flags = 0;
  if (status < 0) flags = CURL_CSELECT_ERR;
  else {
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  }
  socket_action(c->fd, flags);
}

static void on_timeout(uv_timer_t *t) {
  (void)t;
  socket_action(CURL_SOCKET_TIMEOUT, 0);
}

static int timer_cb(CURLM *m, long timeout_ms, void *u) {
  (void)m;
  (void)u;
  if (timeout_ms < 0) uv_timer_stop(&timer);
  else uv_timer_start(&timer, on_timeout, (uint64_t)timeout_ms, 0);
  return 0;
}

static void free_ctx(uv_handle_t *h) { free(h->data); }

static int sock_cb(CURL *e, curl_socket_t s, int what, void *u, void *sockp) {
  struct sock_ctx *c = sockp;
  (void)e;
  (void)u;
  sockcb_calls++;
  if (warm_on) sockcb_warm++;
  if (what == CURL_POLL_REMOVE) {
    if (c) {
      uv_poll_stop(&c->poll);
      uv_close((uv_handle_t *)&c->poll, free_ctx);
      curl_multi_assign(multi, s, NULL);
    }
    return 0;
  }
  if (!c) {
    if (!(c = malloc(sizeof(*c)))) return -1;
    c->fd = s;
    if (uv_poll_init_socket(&loop, &c->poll, s)) {
      free(c);
      return -1;
    }
    c->poll.data = c;
    curl_multi_assign(multi, s, c);
  }
  if (uv_poll_start(&c->poll,
                    (what & CURL_POLL_IN ? UV_READABLE : 0) |
                        (what & CURL_POLL_OUT ? UV_WRITABLE : 0),
                    on_poll))
    return -1;
  return 0;
}

static void on_heartbeat(uv_timer_t *t) {
  double now = now_s();
  (void)t;
  if (ngaps == gaps_cap) {
    gaps_cap = gaps_cap ? gaps_cap * 2 : 4096;
    if (!(gaps = realloc(gaps, (size_t)gaps_cap * sizeof(*gaps)))) exit(3);
  }
  gaps[ngaps++] = now - hb_last;
  hb_last = now;
}

/* Unreferenced: it never keeps the loop alive, and only stops a loop that
 * something else keeps running after the last completion. */
static void on_watchdog(uv_timer_t *t) {
  (void)t;
  if (finished && now_s() - t_done > wait_limit) {
    gave_up = 1;
    uv_stop(&loop);
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The q-quantile of the sorted gaps (nearest rank), in ms. */
static double quantile_ms(double q) {
  long i;
  if (ngaps == 0) return -1;
  i = (long)(q * (double)ngaps + 0.999999) - 1;
  if (i < 0) i = 0;
  if (i >= ngaps) i = ngaps - 1;
  return gaps[i] * 1e3;
}

static void close_leftover(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h)) uv_close(h, h->type == UV_POLL ? free_ctx : NULL);
}

int main(int argc, char **argv) {
  int opt;
  long i, window, rss0;
  double returned;
  while ((opt = getopt(argc, argv, "n:c:H:w:V")) != -1) {
    switch (opt) {
    case 'n': total = atol(optarg); break;
    case 'c': conns = atol(optarg); break;
    case 'H': hb_ms = atol(optarg); break;
    case 'w': wait_limit = atof(optarg); break;
    case 'V': printf("%s\n", curl_version()); return 0;
    default:
      fprintf(stderr, "usage: uv_run_bench [-n N] [-c C] [-H MS] [-w SECS] URL...\n");
      return 2;
    }
  }
  if (optind >= argc || total < 1 || conns < 1 || hb_ms < 0) {
    fprintf(stderr, "uv_run_bench: need a URL, N >= 1, C >= 1\n");
    return 2;
  }
  urls = argv + optind;
  nurls = argc - optind;
  signal(SIGPIPE, SIG_IGN);
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return 3;
  uv_loop_init(&loop);
  uv_timer_init(&loop, &timer);
  uv_timer_init(&loop, &heartbeat);
  uv_timer_init(&loop, &watchdog);
  uv_timer_start(&watchdog, on_watchdog, 100, 100);
  uv_unref((uv_handle_t *)&watchdog);
  multi = curl_multi_init();
  curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, conns);
  curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
  curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_cb);

  rss0 = status_kb("VmRSS");
  getrusage(RUSAGE_SELF, &ru0);
  t0 = now_s();
  window = conns < total ? conns : total;
  for (i = 0; i < window; i++) add(new_easy(urls[i % nurls]));
  started = window;
  if (hb_ms > 0) {
    hb_last = now_s();
    uv_timer_start(&heartbeat, on_heartbeat, (uint64_t)hb_ms, (uint64_t)hb_ms);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  returned = now_s();
  if (!finished) { /* only a stop could end it early: there is none */
    getrusage(RUSAGE_SELF, &ru1);
    t_done = returned;
  }
  qsort(gaps, (size_t)ngaps, sizeof(*gaps), cmp_double);
  printf("requests=%ld ok=%ld bytes=%lld cpu_s=%.6f wall_s=%.6f sockcb=%ld "
         "sockcb_warm=%ld warm_requests=%ld rss0_kb=%ld hwm_kb=%ld "
         "user_s=%.6f sys_s=%.6f uv_returned=%d return_ms=%.3f hb_n=%ld "
         "hb_max_ms=%.3f hb_p99_ms=%.3f hb_p50_ms=%.3f act_max_ms=%.3f "
         "nivcsw=%ld\n",
         done, ok, (long long)bytes, ru_cpu(&ru1) - ru_cpu(&ru0), t_done - t0,
         sockcb_calls, sockcb_warm, warm_requests, rss0, status_kb("VmHWM"),
         tv_s(&ru1.ru_utime) - tv_s(&ru0.ru_utime),
         tv_s(&ru1.ru_stime) - tv_s(&ru0.ru_stime), !gave_up,
         (returned - t_done) * 1e3, ngaps, hb_ms > 0 ? quantile_ms(1) : -1,
         hb_ms > 0 ? quantile_ms(0.99) : -1, hb_ms > 0 ? quantile_ms(0.5) : -1,
         hb_ms > 0 ? act_max * 1e3 : -1, ru1.ru_nivcsw - ru0.ru_nivcsw);
  fflush(stdout);
  curl_multi_cleanup(multi);
  uv_walk(&loop, close_leftover, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  curl_global_cleanup();
  free(gaps);
  return ok == total && !failed && !gave_up ? 0 : 1;
}
