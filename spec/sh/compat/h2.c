/*
 * h2.c -- a libcurl program that asks for HTTP/2 the way libcurl users
 * do (CURLOPT_HTTP_VERSION 2TLS, CURLOPT_PIPEWAIT, CURLMOPT_PIPELINING,
 * one connection per host), driven by curl_multi_perform + curl_multi_poll
 * with handles re-added from curl_multi_info_read.  Built unchanged
 * against libcurl and against xfer's compat header (spec/sh/compat.sh
 * compares the two).
 *
 *   h2 CAFILE RESOLVE URL N
 * prints: done=N ok=N h2=N connects=C first=<first header line>
 */
#include <curl/curl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char first[64];

static size_t sink(char *p, size_t sz, size_t n, void *ud) {
  (void)p;
  (void)ud;
  return sz * n;
}

static size_t header(char *p, size_t sz, size_t n, void *ud) {
  (void)ud;
  if (!first[0] && sz * n < sizeof(first)) {
    memcpy(first, p, sz * n);
    first[strcspn(first, "\r\n")] = 0;
  }
  return sz * n;
}

static CURL *make(const char *url, const char *ca, struct curl_slist *pin) {
  CURL *e = curl_easy_init();
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_CAINFO, ca);
  curl_easy_setopt(e, CURLOPT_RESOLVE, pin);
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header);
  return e;
}

int main(int argc, char **argv) {
  CURLM *m;
  struct curl_slist *pin;
  int total, started = 0, done = 0, ok = 0, h2 = 0, running = 1, i;
  long connects = 0;
  if (argc != 5) return 2;
  total = atoi(argv[4]);
  pin = curl_slist_append(NULL, argv[2]);
  m = curl_multi_init();
  curl_multi_setopt(m, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, 1L);
  for (i = 0; i < 20 && started < total; i++, started++)
    curl_multi_add_handle(m, make(argv[3], argv[1], pin));
  while (running || started < total) {
    CURLMsg *msg;
    int left;
    curl_multi_perform(m, &running);
    while ((msg = curl_multi_info_read(m, &left)) != NULL) {
      CURL *e = msg->easy_handle;
      long v = 0, c = 0;
      if (msg->msg != CURLMSG_DONE) continue;
      done++;
      if (msg->data.result == CURLE_OK) ok++;
      curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &v);
      curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &c);
      if (v == CURL_HTTP_VERSION_2_0) h2++;
      connects += c;
      curl_multi_remove_handle(m, e);
      if (started < total) { /* re-armed and added again */
        curl_multi_add_handle(m, e);
        started++;
        running = 1;
      } else {
        curl_easy_cleanup(e);
      }
    }
    if (running) curl_multi_poll(m, NULL, 0, 1000, NULL);
  }
  printf("done=%d ok=%d h2=%d connects=%ld first=%s\n", done, ok, h2, connects,
         first);
  curl_multi_cleanup(m);
  curl_slist_free_all(pin);
  return 0;
}
