/*
 * demo.c -- the program behind `make demo`, written with xfer's own API.
 *
 * Usage: demo BASE_URL COUNT MAXCONN
 *
 * Queues COUNT transfers of BASE_URL/files/<i % 1000>.txt on one multi
 * handle at once, capped at MAXCONN connections (0: no cap), and drives them
 * with xfer_multi_perform + xfer_multi_poll, the style for programs without
 * an event loop of their own.  Every body must read "file <i % 1000>\n" (the
 * test docroot of spec/support/nginx.sh).  Prints a summary such as
 *
 *   fetched 1000 URLs in 0.21 s (4761 transfers/s), 1000 ok, 0 failed
 *   connections opened: 16 (max 16 allowed), bytes: 8890, status codes: 200 x1000
 *   per transfer: queue 0.05 ms avg, total 3.1 ms avg
 *
 * and exits 0 only if every transfer succeeded with status 200 and the
 * expected body.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xfer.h"

/* The docroot holds files/0.txt .. files/999.txt. */
#define NFILES 1000
/* Roomier than the longest valid body, "file 999\n": a longer body is then
 * compared whole or flagged as overflow, never cut to a plausible prefix. */
#define BODY_MAX 16
/* Failures beyond this many are only counted, so that a dead server does
 * not bury the summary. */
#define MAX_REPORTED_FAILURES 10
#define MAX_STATUS 1000

struct job {
  XFER *easy;                   /* NULL once finished and cleaned up */
  long index;
  char *url;
  char body[BODY_MAX];
  size_t len;
  int overflow;
  xfer_off_t bytes;
};

struct totals {
  long done;
  long ok;
  long failed;
  long connects;
  xfer_off_t bytes;
  xfer_off_t queue_us;
  xfer_off_t total_us;
  long status[MAX_STATUS];
};

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
  struct job *job = userdata;
  size_t n = size * nmemb;

  job->bytes += (xfer_off_t)n;
  if(job->overflow || n > sizeof(job->body) - job->len) {
    /* Keep the transfer going: a wrong body is reported as such, not as a
     * write error that would hide what the server sent. */
    job->overflow = 1;
    return n;
  }
  memcpy(job->body + job->len, ptr, n);
  job->len += n;
  return n;
}

static void report_failure(struct totals *t, const struct job *job,
                           const char *why)
{
  t->failed++;
  if(t->failed <= MAX_REPORTED_FAILURES)
    fprintf(stderr, "demo: %s: %s\n", job->url, why);
}

/* Accounts for and frees every transfer that has finished. */
static void drain_messages(XFERM *multi, struct totals *t)
{
  XFERMsg *msg;
  int pending;

  while((msg = xfer_multi_info_read(multi, &pending))) {
    XFER *easy;
    XFERcode result;
    char *priv = NULL;
    struct job *job;
    long code = 0;
    long connects = 0;
    xfer_off_t queue_us = 0;
    xfer_off_t total_us = 0;
    char expect[BODY_MAX];
    int expect_len;

    if(msg->msg != XFERMSG_DONE)
      continue;
    /* The message dies with the handle: take what is needed first. */
    easy = msg->easy_handle;
    result = msg->data.result;

    xfer_easy_getinfo(easy, XFERINFO_PRIVATE, &priv);
    xfer_easy_getinfo(easy, XFERINFO_RESPONSE_CODE, &code);
    xfer_easy_getinfo(easy, XFERINFO_NUM_CONNECTS, &connects);
    xfer_easy_getinfo(easy, XFERINFO_QUEUE_TIME_T, &queue_us);
    xfer_easy_getinfo(easy, XFERINFO_TOTAL_TIME_T, &total_us);
    job = (struct job *)priv;

    t->done++;
    t->connects += connects;
    t->bytes += job->bytes;
    t->queue_us += queue_us;
    t->total_us += total_us;
    if(code >= 0 && code < MAX_STATUS)
      t->status[code]++;

    expect_len = snprintf(expect, sizeof(expect), "file %ld\n",
                          job->index % NFILES);
    if(result != XFERE_OK)
      report_failure(t, job, xfer_easy_strerror(result));
    else if(code != 200) {
      char why[32];
      snprintf(why, sizeof(why), "HTTP status %ld", code);
      report_failure(t, job, why);
    }
    else if(job->overflow || job->len != (size_t)expect_len ||
            memcmp(job->body, expect, job->len))
      report_failure(t, job, "unexpected body");
    else
      t->ok++;

    xfer_multi_remove_handle(multi, easy);
    xfer_easy_cleanup(easy);
    job->easy = NULL;
  }
}

static int parse_long(const char *s, long min, long *out)
{
  char *end;
  long v;

  errno = 0;
  v = strtol(s, &end, 10);
  if(errno || end == s || *end || v < min)
    return -1;
  *out = v;
  return 0;
}

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
  const char *base;
  size_t base_len;
  long count, maxconn, i;
  struct job *jobs;
  struct totals t;
  XFERM *multi;
  int running = 0;
  int broken = 0;
  double start, elapsed;

  if(argc != 4 || parse_long(argv[2], 1, &count) ||
     parse_long(argv[3], 0, &maxconn)) {
    fprintf(stderr, "usage: demo BASE_URL COUNT MAXCONN\n");
    return 2;
  }
  base = argv[1];
  base_len = strlen(base);
  /* BASE_URL may come with or without its trailing slash. */
  while(base_len && base[base_len - 1] == '/')
    base_len--;

  jobs = calloc((size_t)count, sizeof(*jobs));
  multi = xfer_multi_init();
  if(!jobs || !multi) {
    fprintf(stderr, "demo: out of memory\n");
    return 1;
  }
  xfer_multi_setopt(multi, XFERMOPT_MAX_TOTAL_CONNECTIONS, maxconn);

  start = now_s();
  for(i = 0; i < count; i++) {
    struct job *job = &jobs[i];
    size_t url_size = base_len + sizeof("/files/999.txt");
    XFER *easy = xfer_easy_init();

    job->easy = easy;
    job->index = i;
    job->url = malloc(url_size);
    if(!easy || !job->url) {
      fprintf(stderr, "demo: out of memory\n");
      return 1;
    }
    snprintf(job->url, url_size, "%.*s/files/%ld.txt", (int)base_len, base,
             i % NFILES);
    xfer_easy_setopt(easy, XFEROPT_URL, job->url);
    xfer_easy_setopt(easy, XFEROPT_WRITEFUNCTION, write_cb);
    xfer_easy_setopt(easy, XFEROPT_WRITEDATA, job);
    xfer_easy_setopt(easy, XFEROPT_PRIVATE, job);
    if(xfer_multi_add_handle(multi, easy) != XFERM_OK) {
      fprintf(stderr, "demo: xfer_multi_add_handle failed\n");
      return 1;
    }
  }

  memset(&t, 0, sizeof(t));
  for(;;) {
    XFERMcode mc = xfer_multi_perform(multi, &running);

    if(mc == XFERM_OK) {
      drain_messages(multi, &t);
      if(!running)
        break;
      /* Sleeps until a socket is ready or xfer's next timeout is due; the
       * 1 s cap only bounds the wait if xfer has no timeout pending. */
      mc = xfer_multi_poll(multi, NULL, 0, 1000, NULL);
    }
    if(mc != XFERM_OK) {
      fprintf(stderr, "demo: %s\n", xfer_multi_strerror(mc));
      broken = 1;
      break;
    }
  }
  elapsed = now_s() - start;

  printf("fetched %ld URLs in %.2f s (%.0f transfers/s), %ld ok, %ld failed\n",
         count, elapsed, elapsed > 0 ? (double)t.done / elapsed : 0.0, t.ok,
         t.failed);
  printf("connections opened: %ld ", t.connects);
  if(maxconn)
    printf("(max %ld allowed)", maxconn);
  else
    printf("(no limit)");
  printf(", bytes: %lld, status codes:", (long long)t.bytes);
  {
    /* Three digits as curl's %{http_code} prints them: 000 is "no
     * response", the status of transfers that failed before one came. */
    int any = 0;
    long code;
    for(code = 0; code < MAX_STATUS; code++) {
      if(t.status[code]) {
        printf("%s%03ld x%ld", any ? ", " : " ", code, t.status[code]);
        any = 1;
      }
    }
    if(!any)
      printf(" none");
  }
  printf("\n");
  if(t.done)
    printf("per transfer: queue %.2f ms avg, total %.1f ms avg\n",
           (double)t.queue_us / (double)t.done / 1000.0,
           (double)t.total_us / (double)t.done / 1000.0);
  if(t.done != count)
    fprintf(stderr, "demo: %ld of %ld transfers never finished\n",
            count - t.done, count);

  /* After a multi error some transfers never finished; they still belong
   * to the multi handle and must leave it before either is cleaned up. */
  for(i = 0; i < count; i++) {
    if(jobs[i].easy) {
      xfer_multi_remove_handle(multi, jobs[i].easy);
      xfer_easy_cleanup(jobs[i].easy);
    }
  }
  xfer_multi_cleanup(multi);
  for(i = 0; i < count; i++)
    free(jobs[i].url);
  free(jobs);

  return !broken && t.ok == count ? 0 : 1;
}
