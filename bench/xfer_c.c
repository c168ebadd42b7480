/*
 * xfer_c.c -- xfer's own C benchmark client: the xfer API used directly
 * (xfer_* names, no compat header), in two styles:
 *
 *   -e  xfer_multi_socket_action on a plain epoll loop (the default): the
 *       socket callback keeps the epoll set, the timer callback a deadline
 *   -p  xfer_multi_perform + xfer_multi_poll
 *
 * Same workloads, options and output line as bench/curl_bench.c (see
 * there):
 *
 * Usage: xfer_c [-e|-p] [-m win|queue|idle] [-n N] [-c C] [-k K] [-d SECS]
 *               [-f] [-r 0|1] [-a CAFILE] [-v 1.1|2|2tls|2pk] [-w]
 *               [-h H] [-z] [-V] URL [URL...]
 *
 * -V prints xfer_version() and exits.  -v, -w and -h are HTTP_VERSION,
 * PIPEWAIT and the multi's MAX_HOST_CONNECTIONS (W10, W11; see
 * curl_bench.c); -z is ACCEPT_ENCODING "" (W6gz).
 *
 * Prints: requests=N ok=N bytes=N cpu_s=X wall_s=X sockcb=N sockcb_warm=N
 *         warm_requests=N rss0_kb=N rss1_kb=N hwm_kb=N setup_cpu_s=X
 *         user_s=X sys_s=X chunk_min_cpu_us=X httpv1=N httpv2=N httpv_other=N
 *         connects=N
 *         (see curl_bench.c)
 */
#include "xfer.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

enum { MODE_WIN, MODE_QUEUE, MODE_IDLE };

static int mode = MODE_WIN, style_epoll = 1, forbid_reuse = 0;
static long total = 100000, conns = 64, idle_k = 0, sess_cache = -1;
static const char *cainfo;
static long http_version = -1, pipewait, host_max; /* -v, -w, -h */
static int decode;                                /* -z */
static double time_limit; /* idle mode: seconds for the measured phase */
static char **urls;
static int nurls;

static XFERM *multi;
static int epfd = -1;
static int timer_armed;
static double deadline;
static long started, done, ok, failed;
static long idle_started, idle_done, phase;
static long sockcb_calls, sockcb_warm = -1, warm_requests = -1;
static int warm_on;
static long long bytes;
static int finished;
static struct rusage ru0;
static double t0;
static long rss0, rss1;
/* idle mode: the measured phase in eighths; the cheapest eighth's CPU per
 * request is printed too, as a reading less exposed to other load */
static long chunk_n, chunk_start_done;
static double chunk_start_cpu, chunk_min = -1;
static double setup_cpu; /* queue mode: CPU to make the N handles */
/* -v: transfers done over HTTP/1.x and over HTTP/2 (getinfo HTTP_VERSION),
 * so that a row that asked for h2 and ran HTTP/1.1 shows it */
static long httpv1 = -1, httpv2 = -1, httpv_other = -1;
static long connects; /* NUM_CONNECTS summed: connections opened (W12) */

static size_t on_body(char *p, size_t size, size_t n, void *u) {
  (void)p;
  (void)u;
  bytes += (long long)(size * n);
  return size * n;
}

static void start_measuring(void) {
  getrusage(RUSAGE_SELF, &ru0);
  t0 = now_s();
}

static XFER *new_easy(const char *url) {
  XFER *e = xfer_easy_init();
  if (!e) {
    fprintf(stderr, "xfer_c: xfer_easy_init failed\n");
    exit(3);
  }
  xfer_easy_setopt(e, XFEROPT_URL, url);
  xfer_easy_setopt(e, XFEROPT_WRITEFUNCTION, on_body);
  if (forbid_reuse) xfer_easy_setopt(e, XFEROPT_FORBID_REUSE, 1L);
  if (cainfo) xfer_easy_setopt(e, XFEROPT_CAINFO, cainfo);
  if (sess_cache >= 0)
    xfer_easy_setopt(e, XFEROPT_SSL_SESSIONID_CACHE, sess_cache);
  if (http_version >= 0) {
    XFERcode rc = xfer_easy_setopt(e, XFEROPT_HTTP_VERSION, http_version);
    if (rc != XFERE_OK) {
      fprintf(stderr, "xfer_c: HTTP_VERSION %ld: %s\n", http_version,
              xfer_easy_strerror(rc));
      exit(3);
    }
  }
  if (pipewait) xfer_easy_setopt(e, XFEROPT_PIPEWAIT, 1L);
  if (decode) xfer_easy_setopt(e, XFEROPT_ACCEPT_ENCODING, ""); /* W6gz */
  return e;
}

static void add(XFER *e) {
  XFERMcode rc = xfer_multi_add_handle(multi, e);
  if (rc != XFERM_OK) {
    fprintf(stderr, "xfer_c: add_handle: %s\n", xfer_multi_strerror(rc));
    exit(3);
  }
}

static void start_active_phase(void) {
  XFER *e = new_easy(urls[0]);
  phase = 1;
  if (style_epoll) {
    sockcb_warm = 0;
    warm_on = 1;
  }
  rss1 = status_kb("VmRSS");
  start_measuring();
  chunk_n = total / 8 < 1 ? 1 : total / 8;
  chunk_start_cpu = ru_cpu(&ru0);
  started = 1;
  add(e);
}

static void on_done(XFER *e, XFERcode result) {
  xfer_multi_remove_handle(multi, e);
  if (mode == MODE_IDLE && phase == 0) {
    idle_done++;
    if (result != XFERE_OK && ++failed <= 5)
      fprintf(stderr, "xfer_c: opening: %s\n", xfer_easy_strerror(result));
    if (idle_started < idle_k) {
      xfer_easy_setopt(e, XFEROPT_URL, urls[idle_started % nurls]);
      idle_started++;
      add(e);
    } else {
      xfer_easy_cleanup(e);
      if (idle_done == idle_k) start_active_phase();
    }
    return;
  }
  done++;
  {
    long nc = 0;
    xfer_easy_getinfo(e, XFERINFO_NUM_CONNECTS, &nc);
    connects += nc;
  }
  if (result == XFERE_OK) ok++;
  else if (++failed <= 5)
    fprintf(stderr, "xfer_c: %s\n", xfer_easy_strerror(result));
  if (http_version >= 0 && result == XFERE_OK) {
    long v = 0;
    xfer_easy_getinfo(e, XFERINFO_HTTP_VERSION, &v);
    if (v == XFER_HTTP_VERSION_2_0) httpv2++;
    else if (v == XFER_HTTP_VERSION_1_0 || v == XFER_HTTP_VERSION_1_1) httpv1++;
    else httpv_other++;
  }
  if (mode == MODE_IDLE && done - chunk_start_done == chunk_n) {
    struct rusage r;
    double c, v;
    getrusage(RUSAGE_SELF, &r);
    c = ru_cpu(&r);
    v = (c - chunk_start_cpu) * 1e6 / (double)chunk_n;
    if (chunk_min < 0 || v < chunk_min) chunk_min = v;
    chunk_start_done = done;
    chunk_start_cpu = c;
  }
  /* Warm: from half the transfers done until the window starts to drain
   * (the last C completions, after which idle connections are closed as
   * handles leave the multi). */
  if (mode != MODE_IDLE && style_epoll && total - conns > total / 2) {
    if (done == total / 2) {
      sockcb_warm = 0;
      warm_on = 1;
    } else if (done == total - conns) {
      warm_on = 0;
      warm_requests = total - conns - total / 2;
    }
  }
  if (mode == MODE_QUEUE) {
    xfer_easy_cleanup(e);
  } else if (mode == MODE_IDLE && time_limit > 0 && started < total &&
             now_s() - t0 > time_limit) {
    /* Out of time: this many sequential transfers is the sample. */
    total = started;
    xfer_easy_cleanup(e);
  } else if (started < total) {
    if (nurls > 1 && mode == MODE_WIN)
      xfer_easy_setopt(e, XFEROPT_URL, urls[started % nurls]);
    started++;
    add(e);
  } else {
    xfer_easy_cleanup(e);
  }
  if (done == total) finished = 1;
}

static void check_multi_info(void) {
  XFERMsg *msg;
  int left;
  while ((msg = xfer_multi_info_read(multi, &left))) {
    if (msg->msg != XFERMSG_DONE) continue;
    {
      XFER *e = msg->easy_handle;
      XFERcode result = msg->data.result;
      on_done(e, result);
    }
  }
}

/* ---- socket_action on epoll ---- */

/* socketp is (void *)1 once the fd is in the epoll set: no failed
 * epoll_ctl to find out whether to ADD or MOD. */
static int sock_cb(XFER *e, xfer_socket_t s, int what, void *u, void *sockp) {
  struct epoll_event ev;
  (void)e;
  (void)u;
  sockcb_calls++;
  if (warm_on) sockcb_warm++;
  if (what == XFER_POLL_REMOVE) {
    if (sockp) {
      epoll_ctl(epfd, EPOLL_CTL_DEL, s, NULL);
      xfer_multi_assign(multi, s, NULL);
    }
    return 0;
  }
  memset(&ev, 0, sizeof(ev));
  ev.data.fd = s;
  ev.events = (what & XFER_POLL_IN ? EPOLLIN : 0) |
              (what & XFER_POLL_OUT ? EPOLLOUT : 0);
  if (sockp) {
    epoll_ctl(epfd, EPOLL_CTL_MOD, s, &ev);
  } else {
    epoll_ctl(epfd, EPOLL_CTL_ADD, s, &ev);
    xfer_multi_assign(multi, s, (void *)1);
  }
  return 0;
}

static int timer_cb(XFERM *m, long ms, void *u) {
  (void)m;
  (void)u;
  if (ms < 0) timer_armed = 0;
  else {
    timer_armed = 1;
    deadline = ms ? now_s() + ms / 1e3 : 0;
  }
  return 0;
}

static void action(xfer_socket_t s, int ev) {
  int running;
  XFERMcode rc = xfer_multi_socket_action(multi, s, ev, &running);
  if (rc != XFERM_OK) {
    fprintf(stderr, "xfer_c: socket_action: %s\n", xfer_multi_strerror(rc));
    exit(3);
  }
}

static void run_epoll(void) {
  struct epoll_event evs[256];
  while (!finished) {
    int n, i, wait_ms = -1;
    if (timer_armed) {
      /* A 0 deadline (the usual one, from add_handle) fires at once,
       * without asking the clock or the kernel. */
      double left = deadline ? deadline - now_s() : 0;
      if (left <= 0) {
        timer_armed = 0;
        action(XFER_SOCKET_TIMEOUT, 0);
        check_multi_info();
        continue;
      }
      wait_ms = (int)(left * 1e3) + 1;
    }
    n = epoll_wait(epfd, evs, 256, wait_ms);
    if (n < 0 && errno != EINTR) {
      perror("xfer_c: epoll_wait");
      exit(3);
    }
    for (i = 0; i < n; i++) {
      int ev = (evs[i].events & (EPOLLIN | EPOLLHUP) ? XFER_CSELECT_IN : 0) |
               (evs[i].events & EPOLLOUT ? XFER_CSELECT_OUT : 0) |
               (evs[i].events & EPOLLERR ? XFER_CSELECT_ERR : 0);
      action(evs[i].data.fd, ev);
    }
    check_multi_info();
  }
}

/* ---- perform + poll ---- */

static void run_poll(void) {
  int running;
  xfer_multi_perform(multi, &running);
  for (;;) {
    XFERMcode rc;
    check_multi_info();
    if (finished) break;
    rc = xfer_multi_poll(multi, NULL, 0, 1000, NULL);
    if (rc == XFERM_OK) rc = xfer_multi_perform(multi, &running);
    if (rc != XFERM_OK) {
      fprintf(stderr, "xfer_c: %s\n", xfer_multi_strerror(rc));
      exit(3);
    }
  }
}

int main(int argc, char **argv) {
  int opt;
  long i, window;
  XFER **easies = NULL;
  struct rusage ru1;
  double wall;
  while ((opt = getopt(argc, argv, "epm:n:c:k:fr:a:d:v:wh:zV")) != -1) {
    switch (opt) {
    case 'e': style_epoll = 1; break;
    case 'p': style_epoll = 0; break;
    case 'm':
      mode = !strcmp(optarg, "queue") ? MODE_QUEUE
             : !strcmp(optarg, "idle") ? MODE_IDLE : MODE_WIN;
      break;
    case 'n': total = atol(optarg); break;
    case 'c': conns = atol(optarg); break;
    case 'k': idle_k = atol(optarg); break;
    case 'f': forbid_reuse = 1; break;
    case 'r': sess_cache = atol(optarg); break;
    case 'a': cainfo = optarg; break;
    case 'd': time_limit = atof(optarg); break;
    case 'v':
      http_version = bench_http_version(optarg);
      if (http_version == -2) {
        fprintf(stderr, "xfer_c: -v 1.1|2|2tls|2pk\n");
        return 2;
      }
      httpv1 = httpv2 = httpv_other = 0;
      break;
    case 'w': pipewait = 1; break;
    case 'z': decode = 1; break;
    case 'h': host_max = atol(optarg); break;
    case 'V': printf("%s\n", xfer_version()); return 0;
    default:
      fprintf(stderr, "usage: xfer_c [-e|-p] [-m win|queue|idle] [-n N] "
                      "[-c C] [-k K] [-d SECS] [-f] [-r 0|1] [-a CAFILE] "
                      "[-v 1.1|2|2tls|2pk] [-w] [-h H] [-z] URL...\n");
      return 2;
    }
  }
  if (optind >= argc || total < 1 || conns < 1) {
    fprintf(stderr, "xfer_c: need a URL, N >= 1, C >= 1\n");
    return 2;
  }
  urls = argv + optind;
  nurls = argc - optind;
  signal(SIGPIPE, SIG_IGN);
  multi = xfer_multi_init();
  if (!multi) return 3;
  if (mode == MODE_IDLE)
    xfer_multi_setopt(multi, XFERMOPT_MAXCONNECTS, idle_k + conns);
  else
    xfer_multi_setopt(multi, XFERMOPT_MAX_TOTAL_CONNECTIONS, conns);
  if (host_max > 0)
    xfer_multi_setopt(multi, XFERMOPT_MAX_HOST_CONNECTIONS, host_max);
  if (style_epoll) {
    if ((epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) return 3;
    xfer_multi_setopt(multi, XFERMOPT_SOCKETFUNCTION, sock_cb);
    xfer_multi_setopt(multi, XFERMOPT_TIMERFUNCTION, timer_cb);
  } else {
    sockcb_calls = sockcb_warm = -1;
  }

  rss0 = status_kb("VmRSS");
  if (mode != MODE_IDLE) start_measuring();
  if (mode == MODE_QUEUE) {
    easies = malloc((size_t)total * sizeof(*easies));
    if (!easies) return 3;
    for (i = 0; i < total; i++) easies[i] = new_easy(urls[i % nurls]);
    rss1 = status_kb("VmRSS");
    {
      struct rusage r;
      getrusage(RUSAGE_SELF, &r);
      setup_cpu = ru_cpu(&r) - ru_cpu(&ru0);
    }
    for (i = 0; i < total; i++) add(easies[i]);
    started = total;
    free(easies);
  } else if (mode == MODE_WIN) {
    window = conns < total ? conns : total;
    for (i = 0; i < window; i++) add(new_easy(urls[i % nurls]));
    started = window;
    rss1 = status_kb("VmRSS");
  } else if (idle_k < 1) {
    start_active_phase();
  } else {
    window = conns < idle_k ? conns : idle_k;
    for (i = 0; i < window; i++) {
      XFER *e = new_easy(urls[i % nurls]);
      xfer_easy_setopt(e, XFEROPT_FRESH_CONNECT, 1L);
      add(e);
    }
    idle_started = window;
  }
  if (style_epoll) run_epoll();
  else run_poll();
  getrusage(RUSAGE_SELF, &ru1);
  wall = now_s() - t0;
  printf("requests=%ld ok=%ld bytes=%lld cpu_s=%.6f wall_s=%.6f sockcb=%ld "
         "sockcb_warm=%ld warm_requests=%ld rss0_kb=%ld rss1_kb=%ld "
         "hwm_kb=%ld setup_cpu_s=%.6f user_s=%.6f sys_s=%.6f "
         "chunk_min_cpu_us=%.3f httpv1=%ld httpv2=%ld httpv_other=%ld "
         "connects=%ld\n",
         done, ok, bytes, ru_cpu(&ru1) - ru_cpu(&ru0), wall, sockcb_calls,
         sockcb_warm, mode == MODE_IDLE ? done : warm_requests, rss0,
         rss1, status_kb("VmHWM"), setup_cpu,
         tv_s(&ru1.ru_utime) - tv_s(&ru0.ru_utime),
         tv_s(&ru1.ru_stime) - tv_s(&ru0.ru_stime), chunk_min, httpv1,
         httpv2, httpv_other, connects);
  fflush(stdout);
  xfer_multi_cleanup(multi);
  if (epfd >= 0) close(epfd);
  return ok == total && !failed ? 0 : 1;
}
