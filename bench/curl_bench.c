/*
 * curl_bench.c -- a libcurl multi-interface benchmark client, written with
 * libcurl's public API only, in libcurl's two driving styles:
 *
 *   -s  curl_multi_socket_action on libuv, as in libcurl's multi-uv
 *       example: one uv_poll_t per socket (CURLMOPT_SOCKETFUNCTION,
 *       curl_multi_assign), one uv_timer_t for CURLMOPT_TIMERFUNCTION
 *   -p  curl_multi_perform + curl_multi_poll
 *
 * The same source is built twice: against libcurl (cc ... -lcurl -luv) and,
 * unchanged, against xfer through its compat header (cc -Icsrc/compat ...
 * libxfer.a -luv).  Both builds must give the same ok counts and bytes.
 *
 * Usage: curl_bench [-s|-p] [-m win|queue|idle] [-n N] [-c C] [-k K]
 *                   [-d SECS] [-f] [-r 0|1] [-a CAFILE] [-v 1.1|2|2tls|2pk]
 *                   [-w] [-h H] [-z] [-V] URL [URL...]
 *
 *   -m win    (default) N transfers over C easy handles: each handle is
 *             re-added as soon as its transfer completes (the "windowed"
 *             style); MAX_TOTAL_CONNECTIONS = C
 *   -m queue  N easy handles made and added at once, MAX_TOTAL_CONNECTIONS
 *             = C: the multi handle queues what does not fit; each handle
 *             is removed and cleaned up when it completes
 *   -m idle   first opens K connections (K transfers with FRESH_CONNECT,
 *             C at a time, MAXCONNECTS = K + C) and leaves them idle in the
 *             connection cache, then runs N sequential transfers on one
 *             easy handle (one active connection); only that second phase
 *             is measured
 *   -d SECS   idle mode: stop the measured phase after SECS seconds (fewer
 *             than N sequential transfers then make the sample)
 *   -f        FORBID_REUSE (a new connection per transfer)
 *   -r 0|1    SSL_SESSIONID_CACHE
 *   -a FILE   CAINFO (the test CA)
 *   -v VER    HTTP_VERSION: 1.1, 2 (2_0), 2tls, 2pk (2_PRIOR_KNOWLEDGE);
 *             also counts each transfer's getinfo HTTP_VERSION (httpv1,
 *             httpv2, httpv_other below)
 *   -w        PIPEWAIT (wait for a connection that can multiplex rather
 *             than open another)
 *   -h H      MAX_HOST_CONNECTIONS = H (multi)
 *   -z        ACCEPT_ENCODING "": decode what the server compressed (W6gz;
 *             bytes= then counts the decoded body)
 *   -V        print the library version (curl_version()) and exit
 *   URL...    transfer i uses URL i % count (idle mode: the K idle
 *             connections go round-robin over the URLs; the active
 *             transfers use the first)
 *
 * Prints one line on stdout (cpu and wall cover the measured phase):
 *   requests=N ok=N bytes=N cpu_s=X wall_s=X sockcb=N sockcb_warm=N
 *   warm_requests=N rss0_kb=N rss1_kb=N hwm_kb=N setup_cpu_s=X user_s=X
 *   sys_s=X chunk_min_cpu_us=X httpv1=N httpv2=N httpv_other=N connects=N
 * sockcb counts socket-callback calls (-1: not applicable, -p style);
 * sockcb_warm those made while warm_requests transfers completed in the
 * warm part of the run: from half the transfers done until the last C
 * start to complete (after that the window drains and the multi closes
 * idle connections as handles leave it); idle mode: the whole measured
 * phase.  -1 when there is no such part (N <= 2C).  rss0 is VmRSS before
 * any easy handle was made, rss1 after all were made and configured (before
 * adding), hwm is VmHWM at the end; setup_cpu_s is the CPU spent making
 * and configuring the N handles in queue mode (part of cpu_s), user_s and
 * sys_s split cpu_s; chunk_min_cpu_us (idle mode) is the CPU per request of
 * the cheapest eighth of the measured phase (-1 when not even an eighth
 * was done); httpv1 and httpv2 count the successful transfers that ran
 * HTTP/1.x and HTTP/2, httpv_other those whose getinfo said anything else
 * (0: unknown) (all three -1 without -v); connects sums NUM_CONNECTS over
 * the completed transfers: the connections opened (W12).  Exit status 0 when every transfer
 * was CURLE_OK.
 */
#include <curl/curl.h>
#include <uv.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

enum { MODE_WIN, MODE_QUEUE, MODE_IDLE };

/* Parameters */
static int mode = MODE_WIN, style_socket = 1, forbid_reuse = 0;
static long total = 100000, conns = 64, idle_k = 0, sess_cache = -1;
static const char *cainfo;
static long http_version = -1, pipewait, host_max; /* -v, -w, -h */
static int decode;                                /* -z */
static double time_limit; /* idle mode: seconds for the measured phase */
static char **urls;
static int nurls;

/* State */
static CURLM *multi;
static uv_loop_t *loop;
static uv_timer_t timer;
static long started, done, ok, failed;
static long idle_started, idle_done, phase; /* idle mode: phase 0 opens */
static long sockcb_calls, sockcb_warm = -1, warm_requests = -1;
static int warm_on;
static curl_off_t bytes;
static int finished;
static struct rusage ru0;
static double t0;
static long rss0, rss1;
/* idle mode: the measured phase in eighths; the cheapest eighth's CPU per
 * request is printed too, as a reading less exposed to other load */
static long chunk_n, chunk_start_done;
static double chunk_start_cpu, chunk_min = -1;
static double setup_cpu; /* queue mode: CPU to make the N handles */
/* -v: successful transfers per HTTP version (getinfo HTTP_VERSION) */
static long httpv1 = -1, httpv2 = -1, httpv_other = -1;
static long connects; /* NUM_CONNECTS summed: connections opened (W12) */

static size_t on_body(char *p, size_t size, size_t n, void *u) {
  (void)p;
  (void)u;
  bytes += (curl_off_t)(size * n);
  return size * n;
}

static void start_measuring(void) {
  getrusage(RUSAGE_SELF, &ru0);
  t0 = now_s();
}

static CURL *new_easy(const char *url) {
  CURL *e = curl_easy_init();
  if (!e) {
    fprintf(stderr, "curl_bench: curl_easy_init failed\n");
    exit(3);
  }
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  /* SIGPIPE is ignored process-wide below; this spares libcurl its
   * per-call sigaction juggling, as its docs advise for multi programs. */
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  if (forbid_reuse) curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
  if (cainfo) curl_easy_setopt(e, CURLOPT_CAINFO, cainfo);
  if (sess_cache >= 0) curl_easy_setopt(e, CURLOPT_SSL_SESSIONID_CACHE, sess_cache);
  if (http_version >= 0 &&
      curl_easy_setopt(e, CURLOPT_HTTP_VERSION, http_version) != CURLE_OK) {
    fprintf(stderr, "curl_bench: HTTP_VERSION %ld refused\n", http_version);
    exit(3);
  }
  if (pipewait) curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
  if (decode) curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""); /* W6gz */
  return e;
}

static void add(CURL *e) {
  CURLMcode rc = curl_multi_add_handle(multi, e);
  if (rc != CURLM_OK) {
    fprintf(stderr, "curl_bench: curl_multi_add_handle: %s\n",
            curl_multi_strerror(rc));
    exit(3);
  }
}

/* Idle mode: the measured phase starts once the K connections are open. */
static void start_active_phase(void) {
  CURL *e = new_easy(urls[0]);
  phase = 1;
  if (style_socket) {
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

static void on_done(CURL *e, CURLcode result) {
  curl_multi_remove_handle(multi, e);
  if (mode == MODE_IDLE && phase == 0) {
    idle_done++;
    if (result != CURLE_OK && ++failed <= 5)
      fprintf(stderr, "curl_bench: opening: %s\n", curl_easy_strerror(result));
    if (idle_started < idle_k) {
      curl_easy_setopt(e, CURLOPT_URL, urls[idle_started % nurls]);
      idle_started++;
      add(e);
    } else {
      curl_easy_cleanup(e);
      if (idle_done == idle_k) start_active_phase();
    }
    return;
  }
  done++;
  {
    long nc = 0;
    curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &nc);
    connects += nc;
  }
  if (result == CURLE_OK) ok++;
  else if (++failed <= 5)
    fprintf(stderr, "curl_bench: %s\n", curl_easy_strerror(result));
  if (http_version >= 0 && result == CURLE_OK) {
    long v = 0;
    curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &v);
    if (v == CURL_HTTP_VERSION_2_0) httpv2++;
    else if (v == CURL_HTTP_VERSION_1_0 || v == CURL_HTTP_VERSION_1_1) httpv1++;
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
  if (mode != MODE_IDLE && style_socket && total - conns > total / 2) {
    if (done == total / 2) {
      sockcb_warm = 0;
      warm_on = 1;
    } else if (done == total - conns) {
      warm_on = 0;
      warm_requests = total - conns - total / 2;
    }
  }
  if (mode == MODE_QUEUE) {
    curl_easy_cleanup(e);
  } else if (mode == MODE_IDLE && time_limit > 0 && started < total &&
             now_s() - t0 > time_limit) {
    /* Out of time: this many sequential transfers is the sample. */
    total = started;
    curl_easy_cleanup(e);
  } else if (started < total) {
    if (nurls > 1 && mode == MODE_WIN)
      curl_easy_setopt(e, CURLOPT_URL, urls[started % nurls]);
    started++;
    add(e);
  } else {
    curl_easy_cleanup(e);
  }
  if (done == total) finished = 1;
}

static void check_multi_info(void) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(multi, &left))) {
    if (msg->msg != CURLMSG_DONE) continue;
    /* The message is gone once the handle is removed: copy it first. */
    {
      CURL *e = msg->easy_handle;
      CURLcode result = msg->data.result;
      on_done(e, result);
    }
  }
  if (finished && loop) uv_stop(loop);
}

/* ---- socket_action on libuv (libcurl's multi-uv example) ---- */

struct sock_ctx {
  uv_poll_t poll;
  curl_socket_t fd;
};

static void socket_action(curl_socket_t s, int flags) {
  int running;
  CURLMcode rc = curl_multi_socket_action(multi, s, flags, &running);
  if (rc != CURLM_OK) {
    fprintf(stderr, "curl_bench: socket_action: %s\n", curl_multi_strerror(rc));
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

/* libcurl's example turns 0 into 1 ms so as not to call socket_action from
 * inside the callback; libuv never runs a timer from uv_timer_start, so 0
 * is as safe and does not delay every newly added transfer by 1 ms. */
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
    uv_poll_init_socket(loop, &c->poll, s);
    c->poll.data = c;
    curl_multi_assign(multi, s, c);
  }
  uv_poll_start(&c->poll,
                (what & CURL_POLL_IN ? UV_READABLE : 0) |
                    (what & CURL_POLL_OUT ? UV_WRITABLE : 0),
                on_poll);
  return 0;
}

static void run_uv(void) {
  loop = uv_default_loop();
  uv_timer_init(loop, &timer);
  curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
  curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_cb);
}

/* ---- perform + poll ---- */

static void run_poll(void) {
  int running;
  curl_multi_perform(multi, &running);
  for (;;) {
    CURLMcode rc;
    check_multi_info();
    if (finished) break;
    rc = curl_multi_poll(multi, NULL, 0, 1000, NULL);
    if (rc == CURLM_OK) rc = curl_multi_perform(multi, &running);
    if (rc != CURLM_OK) {
      fprintf(stderr, "curl_bench: %s\n", curl_multi_strerror(rc));
      exit(3);
    }
  }
}

int main(int argc, char **argv) {
  int opt;
  long i, window;
  CURL **easies = NULL;
  struct rusage ru1;
  double wall;
  while ((opt = getopt(argc, argv, "spm:n:c:k:fr:a:d:v:wh:zV")) != -1) {
    switch (opt) {
    case 's': style_socket = 1; break;
    case 'p': style_socket = 0; break;
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
        fprintf(stderr, "curl_bench: -v 1.1|2|2tls|2pk\n");
        return 2;
      }
      httpv1 = httpv2 = httpv_other = 0;
      break;
    case 'w': pipewait = 1; break;
    case 'z': decode = 1; break;
    case 'h': host_max = atol(optarg); break;
    case 'V': printf("%s\n", curl_version()); return 0;
    default:
      fprintf(stderr, "usage: curl_bench [-s|-p] [-m win|queue|idle] [-n N] "
                      "[-c C] [-k K] [-d SECS] [-f] [-r 0|1] [-a CAFILE] "
                      "[-v 1.1|2|2tls|2pk] [-w] [-h H] [-z] URL...\n");
      return 2;
    }
  }
  if (optind >= argc || total < 1 || conns < 1) {
    fprintf(stderr, "curl_bench: need a URL, N >= 1, C >= 1\n");
    return 2;
  }
  urls = argv + optind;
  nurls = argc - optind;
  signal(SIGPIPE, SIG_IGN);
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    fprintf(stderr, "curl_bench: curl_global_init failed\n");
    return 3;
  }
  multi = curl_multi_init();
  if (mode == MODE_IDLE) {
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, idle_k + conns);
  } else {
    curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, conns);
  }
  if (host_max > 0)
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, host_max);
  if (style_socket) run_uv();
  else sockcb_calls = sockcb_warm = -1;

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
    for (i = 0; i < window; i++) {
      CURL *e = new_easy(urls[i % nurls]);
      add(e);
    }
    started = window;
    rss1 = status_kb("VmRSS");
  } else {
    if (idle_k < 1) {
      start_active_phase();
    } else {
      window = conns < idle_k ? conns : idle_k;
      for (i = 0; i < window; i++) {
        CURL *e = new_easy(urls[i % nurls]);
        curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
        add(e);
      }
      idle_started = window;
    }
  }
  if (style_socket) {
    if (!finished) uv_run(loop, UV_RUN_DEFAULT);
  } else {
    run_poll();
  }
  getrusage(RUSAGE_SELF, &ru1);
  wall = now_s() - t0;
  printf("requests=%ld ok=%ld bytes=%lld cpu_s=%.6f wall_s=%.6f sockcb=%ld "
         "sockcb_warm=%ld warm_requests=%ld rss0_kb=%ld rss1_kb=%ld "
         "hwm_kb=%ld setup_cpu_s=%.6f user_s=%.6f sys_s=%.6f "
         "chunk_min_cpu_us=%.3f httpv1=%ld httpv2=%ld httpv_other=%ld "
         "connects=%ld\n",
         done, ok, (long long)bytes, ru_cpu(&ru1) - ru_cpu(&ru0), wall,
         sockcb_calls, sockcb_warm,
         mode == MODE_IDLE ? done : warm_requests, rss0, rss1,
         status_kb("VmHWM"), setup_cpu,
         tv_s(&ru1.ru_utime) - tv_s(&ru0.ru_utime),
         tv_s(&ru1.ru_stime) - tv_s(&ru0.ru_stime), chunk_min, httpv1,
         httpv2, httpv_other, connects);
  fflush(stdout);
  curl_multi_cleanup(multi);
  if (style_socket) {
    /* Let the uv_close callbacks of the last poll handles run. */
    uv_timer_stop(&timer);
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
  }
  curl_global_cleanup();
  return ok == total && !failed ? 0 : 1;
}
