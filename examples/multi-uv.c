/*
 * multi-uv.c -- fetch URLs with libcurl's multi-socket interface on libuv.
 *
 * Written for libcurl's public API only (curl_* names), in the style of
 * libcurl's docs/examples/multi-uv.c, so that the same source builds against
 * real libcurl and, through csrc/compat/curl/curl.h, against xfer:
 *
 *     cc multi-uv.c -luv -lcurl
 *     cc -Icsrc/compat multi-uv.c -luv -lxfer
 *
 * Usage: multi-uv [-n N] [-p MAXCONN] URL...
 *
 * Fetches N rounds of the URL list (transfer i gets URL i % count), all
 * added to one multi handle at once, with CURLMOPT_MAX_TOTAL_CONNECTIONS =
 * MAXCONN (default 16) so libcurl queues what does not fit.  Bodies are
 * counted and discarded.  Prints one line on stdout,
 *
 *     done=<n> ok=<n> failed=<n> bytes=<total> status200=<n>
 *
 * and exits 0 when every transfer finished with CURLE_OK, 1 otherwise
 * (2 for a usage error).  "ok" is about the transfer, not the HTTP status:
 * a 404 that arrived intact is ok, which is why status200 is counted apart.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <uv.h>

/* Failures beyond this many are only counted: a dead server with a large
 * -n would otherwise bury the summary under identical lines. */
#define MAX_REPORTED_FAILURES 10

struct transfer {
  CURL *easy;                   /* NULL once finished and cleaned up */
  const char *url;
  curl_off_t bytes;
};

struct app {
  uv_loop_t loop;
  uv_timer_t timer;
  CURLM *multi;
  long total;
  long done;
  long ok;
  long failed;
  long status200;
  curl_off_t bytes;
  int fatal;
};

/* One per socket libcurl asks us to watch; it lives from the first
 * CURL_POLL_IN/OUT/INOUT for the socket until CURL_POLL_REMOVE, and is
 * found again through the socketp that curl_multi_assign stores. */
struct sock_ctx {
  uv_poll_t poll;
  curl_socket_t fd;
  struct app *app;
};

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
  struct transfer *t = userdata;
  (void)ptr;
  t->bytes += (curl_off_t)(size * nmemb);
  return size * nmemb;
}

/* Removes and frees every finished transfer.  Called after each
 * curl_multi_socket_action, since any of them may complete transfers. */
static void check_multi_info(struct app *app)
{
  CURLMsg *msg;
  int pending;

  while((msg = curl_multi_info_read(app->multi, &pending))) {
    CURL *easy;
    CURLcode result;
    char *priv = NULL;
    struct transfer *t;
    long code = 0;

    if(msg->msg != CURLMSG_DONE)
      continue;
    /* The message is invalid once the handle is removed: copy it first. */
    easy = msg->easy_handle;
    result = msg->data.result;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    t = (struct transfer *)priv;

    app->done++;
    app->bytes += t->bytes;
    if(code == 200)
      app->status200++;
    if(result == CURLE_OK)
      app->ok++;
    else {
      app->failed++;
      if(app->failed <= MAX_REPORTED_FAILURES)
        fprintf(stderr, "multi-uv: %s: %s\n", t->url,
                curl_easy_strerror(result));
    }

    curl_multi_remove_handle(app->multi, easy);
    curl_easy_cleanup(easy);
    t->easy = NULL;
  }
}

static void socket_action(struct app *app, curl_socket_t s, int flags)
{
  int running;
  CURLMcode rc = curl_multi_socket_action(app->multi, s, flags, &running);

  if(rc != CURLM_OK) {
    /* The multi handle is unusable; without stopping, transfers that will
     * never finish would keep the loop alive forever. */
    fprintf(stderr, "multi-uv: curl_multi_socket_action: %s\n",
            curl_multi_strerror(rc));
    app->fatal = 1;
    uv_stop(&app->loop);
    return;
  }
  check_multi_info(app);
}

static void on_poll(uv_poll_t *handle, int status, int events)
{
  struct sock_ctx *ctx = handle->data;
  int flags = 0;

  if(status < 0)
    /* libuv saw an error on the socket; let libcurl find out which. */
    flags = CURL_CSELECT_ERR;
  else {
    if(events & UV_READABLE)
      flags |= CURL_CSELECT_IN;
    if(events & UV_WRITABLE)
      flags |= CURL_CSELECT_OUT;
  }
  socket_action(ctx->app, ctx->fd, flags);
}

static void on_timeout(uv_timer_t *timer)
{
  socket_action(timer->data, CURL_SOCKET_TIMEOUT, 0);
}

/* CURLMOPT_TIMERFUNCTION: libcurl calls this from inside its own functions,
 * where calling socket_action again is forbidden, so even "now" (0) goes
 * through the loop as a 1 ms timer. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
  struct app *app = userp;
  (void)multi;

  if(timeout_ms < 0)
    uv_timer_stop(&app->timer);
  else
    uv_timer_start(&app->timer, on_timeout,
                   (uint64_t)(timeout_ms ? timeout_ms : 1), 0);
  return 0;
}

static void free_ctx(uv_handle_t *handle)
{
  free(handle->data);
}

/* CURLMOPT_SOCKETFUNCTION: keep one uv_poll_t per socket in step with what
 * libcurl wants to wait for on it. */
static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp,
                     void *socketp)
{
  struct app *app = userp;
  struct sock_ctx *ctx = socketp;
  int events = 0;
  (void)easy;

  switch(what) {
  case CURL_POLL_IN:
  case CURL_POLL_OUT:
  case CURL_POLL_INOUT:
    if(!ctx) {
      ctx = malloc(sizeof(*ctx));
      if(!ctx)
        return -1;
      if(uv_poll_init_socket(&app->loop, &ctx->poll, s)) {
        free(ctx);
        return -1;
      }
      ctx->fd = s;
      ctx->app = app;
      ctx->poll.data = ctx;
      curl_multi_assign(app->multi, s, ctx);
    }
    if(what != CURL_POLL_OUT)
      events |= UV_READABLE;
    if(what != CURL_POLL_IN)
      events |= UV_WRITABLE;
    if(uv_poll_start(&ctx->poll, events, on_poll))
      return -1;
    break;
  case CURL_POLL_REMOVE:
    if(ctx) {
      /* uv_close takes the fd out of the poller now and frees the context
       * later, so libcurl may close and reuse the fd number right away. */
      uv_poll_stop(&ctx->poll);
      uv_close((uv_handle_t *)&ctx->poll, free_ctx);
      curl_multi_assign(app->multi, s, NULL);
    }
    break;
  default:
    break;
  }
  return 0;
}

/* Closes what is still open at exit: the timer, and poll handles for
 * sockets libcurl never asked us to drop before it was cleaned up. */
static void close_leftover(uv_handle_t *handle, void *arg)
{
  (void)arg;
  if(uv_is_closing(handle))
    return;
  uv_close(handle, handle->type == UV_POLL ? free_ctx : NULL);
}

static int parse_count(const char *s, long min, long *out)
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

static void usage(void)
{
  fprintf(stderr, "usage: multi-uv [-n N] [-p maxconn] URL...\n");
}

int main(int argc, char **argv)
{
  struct app app;
  struct transfer *transfers;
  long rounds = 1;
  long maxconn = 16;
  int first_url = 1;
  int nurls;
  long i;

  while(first_url < argc && argv[first_url][0] == '-') {
    const char *opt = argv[first_url];
    long *target;

    if(!strcmp(opt, "--")) {
      first_url++;
      break;
    }
    if(!strcmp(opt, "-n"))
      target = &rounds;
    else if(!strcmp(opt, "-p"))
      target = &maxconn;
    else {
      usage();
      return 2;
    }
    /* -p 0 means no limit, as CURLMOPT_MAX_TOTAL_CONNECTIONS has it. */
    if(first_url + 1 >= argc ||
       parse_count(argv[first_url + 1], target == &rounds ? 1 : 0, target)) {
      usage();
      return 2;
    }
    first_url += 2;
  }
  nurls = argc - first_url;
  if(nurls < 1) {
    usage();
    return 2;
  }

  memset(&app, 0, sizeof(app));
  app.total = rounds * nurls;
  transfers = calloc((size_t)app.total, sizeof(*transfers));
  if(!transfers) {
    fprintf(stderr, "multi-uv: out of memory\n");
    return 1;
  }

  if(curl_global_init(CURL_GLOBAL_ALL)) {
    fprintf(stderr, "multi-uv: curl_global_init failed\n");
    return 1;
  }
  uv_loop_init(&app.loop);
  uv_timer_init(&app.loop, &app.timer);
  app.timer.data = &app;

  app.multi = curl_multi_init();
  if(!app.multi) {
    fprintf(stderr, "multi-uv: curl_multi_init failed\n");
    return 1;
  }
  curl_multi_setopt(app.multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
  curl_multi_setopt(app.multi, CURLMOPT_SOCKETDATA, &app);
  curl_multi_setopt(app.multi, CURLMOPT_TIMERFUNCTION, timer_cb);
  curl_multi_setopt(app.multi, CURLMOPT_TIMERDATA, &app);
  curl_multi_setopt(app.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, maxconn);

  for(i = 0; i < app.total; i++) {
    struct transfer *t = &transfers[i];
    CURL *easy = curl_easy_init();

    if(!easy) {
      fprintf(stderr, "multi-uv: curl_easy_init failed\n");
      return 1;
    }
    t->easy = easy;
    t->url = argv[first_url + i % nurls];
    curl_easy_setopt(easy, CURLOPT_URL, t->url);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, t);
    if(curl_multi_add_handle(app.multi, easy) != CURLM_OK) {
      fprintf(stderr, "multi-uv: curl_multi_add_handle failed\n");
      return 1;
    }
  }

  /* Adding handles armed the timer; everything else follows from it.  The
   * loop returns by itself once the last transfer is done: connections
   * kept for reuse are no longer watched then (CURL_POLL_REMOVE). */
  uv_run(&app.loop, UV_RUN_DEFAULT);

  /* A fatal stop leaves transfers in the multi handle; they are neither ok
   * nor failed, so done < total reports the run as incomplete. */
  for(i = 0; i < app.total; i++) {
    if(transfers[i].easy) {
      curl_multi_remove_handle(app.multi, transfers[i].easy);
      curl_easy_cleanup(transfers[i].easy);
    }
  }
  curl_multi_cleanup(app.multi);
  uv_walk(&app.loop, close_leftover, NULL);
  uv_run(&app.loop, UV_RUN_DEFAULT);
  uv_loop_close(&app.loop);
  curl_global_cleanup();
  free(transfers);

  printf("done=%ld ok=%ld failed=%ld bytes=%" CURL_FORMAT_CURL_OFF_T
         " status200=%ld\n", app.done, app.ok, app.failed, app.bytes,
         app.status200);
  return app.done == app.total && app.failed == 0 ? 0 : 1;
}
