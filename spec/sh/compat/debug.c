/* A libcurl program with a debug callback (compat.sh builds it against
 * libcurl and through the compat header): prints what each infotype got. */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

static long calls[CURLINFO_END], bytes[CURLINFO_END];
static int status_line;

static int trace(CURL *h, curl_infotype type, char *data, size_t size,
                 void *ud) {
  (void)h;
  (void)ud;
  calls[type]++;
  bytes[type] += (long)size;
  if (type == CURLINFO_HEADER_IN && size > 12 && !memcmp(data, "HTTP/1.1 200", 12))
    status_line++;
  return 0;
}

static size_t sink(char *p, size_t s, size_t n, void *ud) {
  (void)p;
  (void)ud;
  return s * n;
}

int main(int argc, char **argv) {
  CURL *c;
  CURLcode rc;
  if (argc < 2) return 2;
  c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, argv[1]);
  curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
  curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, trace);
  curl_easy_setopt(c, CURLOPT_DEBUGDATA, NULL);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, "a=1&b=2");
  rc = curl_easy_perform(c);
  /* TEXT lines differ between libraries by design: not printed */
  printf("rc=%d head_out=%ld body_out=%ld status=%d head_in_bytes=%ld "
         "body_in=%ld\n", (int)rc, calls[CURLINFO_HEADER_OUT],
         bytes[CURLINFO_DATA_OUT], status_line, bytes[CURLINFO_HEADER_IN],
         bytes[CURLINFO_DATA_IN]);
  curl_easy_cleanup(c);
  return rc != CURLE_OK;
}
