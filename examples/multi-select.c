/*
 * multi-select.c -- fetch URLs with libcurl's multi interface and the
 * application's own select() (curl_multi_fdset) or poll()
 * (curl_multi_waitfds), the way most libcurl programs were written before
 * curl_multi_poll existed.
 *
 * Written for libcurl's public API only, so that the same source builds
 * against real libcurl and, through csrc/compat/curl/curl.h, against xfer:
 *
 *     cc multi-select.c -lcurl
 *     cc -Icsrc/compat multi-select.c -lxfer
 *
 * Usage: multi-select [-n N] [-p WINDOW] [-w] [-P] URL...
 *
 * Fetches N rounds of the URL list (transfer i gets URL i % count) with at
 * most WINDOW (default 4) in flight: a finished handle, read from
 * curl_multi_info_read, is removed, given the next URL and added again.
 * -w waits with curl_multi_waitfds and poll() instead of fdset and select()
 * (where the header has it: libcurl 8.8, or xfer).  -P makes every
 * transfer pause in its write callback on its first chunk; the main loop
 * unpauses it at its next round.  Prints one line:
 *
 *     done=<n> ok=<n> failed=<n> bytes=<total> status200=<n>
 *
 * and exits 0 when every transfer finished with CURLE_OK, 1 otherwise.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include <curl/curl.h>

#if defined(curl_multi_waitfds) || CURL_AT_LEAST_VERSION(8, 8, 0)
#define HAVE_WAITFDS 1
#endif

#define MAX_WINDOW 64

struct slot {
  CURL *easy;
  curl_off_t bytes;
  int paused;        /* paused itself: the main loop unpauses it */
  int pauses;        /* how often (once per transfer with -P) */
};

static int pause_once;

static size_t on_data(char *p, size_t size, size_t n, void *ud) {
  struct slot *s = ud;
  (void)p;
  if (pause_once && !s->pauses) {
    s->pauses++;
    s->paused = 1;
    return CURL_WRITEFUNC_PAUSE; /* the same bytes come again */
  }
  s->bytes += (curl_off_t)(size * n);
  return size * n;
}

static void start(CURLM *multi, struct slot *s, const char *url) {
  s->bytes = 0;
  s->pauses = s->paused = 0;
  curl_easy_setopt(s->easy, CURLOPT_URL, url);
  curl_multi_add_handle(multi, s->easy);
}

/* Waits for what curl_multi_fdset or curl_multi_waitfds lists, at most
 * the time curl_multi_timeout gives. */
static int wait_for_sockets(CURLM *multi, int use_poll) {
  long timeout = -1;
  curl_multi_timeout(multi, &timeout);
  if (timeout < 0 || timeout > 1000) timeout = 1000;
  if (use_poll) {
#ifdef HAVE_WAITFDS
    struct curl_waitfd w[MAX_WINDOW * 2];
    struct pollfd p[MAX_WINDOW * 2];
    unsigned int n = 0, i;
    if (curl_multi_waitfds(multi, w, MAX_WINDOW * 2, &n) != CURLM_OK)
      return -1;
    for (i = 0; i < n; i++) {
      p[i].fd = w[i].fd;
      p[i].events = (short)((w[i].events & CURL_WAIT_POLLIN ? POLLIN : 0) |
                            (w[i].events & CURL_WAIT_POLLOUT ? POLLOUT : 0));
    }
    return poll(p, n, (int)timeout) < 0 ? -1 : 0;
#else
    return -1;
#endif
  } else {
    fd_set r, w, x;
    int maxfd = -1;
    struct timeval tv;
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_ZERO(&x);
    if (curl_multi_fdset(multi, &r, &w, &x, &maxfd) != CURLM_OK) return -1;
    tv.tv_sec = timeout / 1000;
    tv.tv_usec = (timeout % 1000) * 1000;
    if (maxfd < 0) { /* nothing to wait on: libcurl's advice, a short nap */
      usleep(timeout < 100 ? (useconds_t)timeout * 1000 : 100000);
      return 0;
    }
    return select(maxfd + 1, &r, &w, &x, &tv) < 0 ? -1 : 0;
  }
}

int main(int argc, char **argv) {
  struct slot slots[MAX_WINDOW];
  long rounds = 1, total, next = 0, done = 0, ok = 0, failed = 0, st200 = 0;
  int window = 4, use_poll = 0, nurls, i, running = 0, opt;
  curl_off_t bytes = 0;
  CURLM *multi;
  while ((opt = getopt(argc, argv, "n:p:wP")) != -1) {
    switch (opt) {
    case 'n': rounds = atol(optarg); break;
    case 'p': window = atoi(optarg); break;
    case 'w': use_poll = 1; break;
    case 'P': pause_once = 1; break;
    default: return 2;
    }
  }
  nurls = argc - optind;
  if (nurls < 1 || rounds < 1 || window < 1 || window > MAX_WINDOW) {
    fprintf(stderr, "usage: multi-select [-n N] [-p WINDOW] [-w] [-P] URL...\n");
    return 2;
  }
#ifndef HAVE_WAITFDS
  if (use_poll) {
    fprintf(stderr, "multi-select: -w needs curl_multi_waitfds\n");
    return 2;
  }
#endif
  total = rounds * nurls;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  multi = curl_multi_init();
  for (i = 0; i < window && next < total; i++, next++) {
    slots[i].easy = curl_easy_init();
    curl_easy_setopt(slots[i].easy, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(slots[i].easy, CURLOPT_WRITEDATA, &slots[i]);
    curl_easy_setopt(slots[i].easy, CURLOPT_PRIVATE, &slots[i]);
    start(multi, &slots[i], argv[optind + next % nurls]);
  }
  window = i;
  for (;;) {
    CURLMsg *msg;
    int left;
    if (curl_multi_perform(multi, &running) != CURLM_OK) break;
    while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
      struct slot *s;
      long code = 0;
      if (msg->msg != CURLMSG_DONE) continue;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
      curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
      done++;
      if (msg->data.result == CURLE_OK) ok++;
      else failed++;
      if (code == 200) st200++;
      bytes += s->bytes;
      curl_multi_remove_handle(multi, s->easy);
      if (next < total) {
        start(multi, s, argv[optind + next % nurls]);
        next++;
        running = 1; /* added: a round must run before the end */
      }
    }
    if (!running && next >= total) break;
    for (i = 0; i < window; i++)
      if (slots[i].paused) {
        slots[i].paused = 0;
        curl_easy_pause(slots[i].easy, CURLPAUSE_CONT);
      }
    if (wait_for_sockets(multi, use_poll) < 0) break;
  }
  printf("done=%ld ok=%ld failed=%ld bytes=%ld status200=%ld\n", done, ok,
         failed, (long)bytes, st200);
  for (i = 0; i < window; i++) curl_easy_cleanup(slots[i].easy);
  curl_multi_cleanup(multi);
  curl_global_cleanup();
  return done == total && failed == 0 ? 0 : 1;
}
