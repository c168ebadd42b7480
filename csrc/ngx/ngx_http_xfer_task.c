
/*
 * ngx_http_xfer_task.c -- transfers ("tasks") and the groups that wait for
 * them.  A group is what one light thread waits on: it owns one
 * ngx_http_lua_module semaphore, and every task of the group that finishes
 * is queued on the group and posts the semaphore once (until the waiter
 * takes the queue).  The response is buffered here; the woken thread reads
 * it through FFI.  A semaphore lives as long as its group and is given back
 * only after its transfers are finished or cancelled, and only once any
 * event it posted has run (the reaper), so a late completion can never wake
 * a semaphore that has been reused by someone else.
 *
 * A streamed response, and a request body fed from Lua, take their own
 * path from the callbacks here: ngx_http_xfer_stream.c.
 *
 * Tasks are recycled: a freed task goes to the worker's pool with its easy
 * handle and its buffers, so a transfer in the steady state allocates
 * nothing here, and xfer keeps the parse of a URL that did not change.
 */


#include "ngx_http_xfer.h"


#define NGX_HTTP_XFER_MIN_BUF  4096


static size_t ngx_http_xfer_write_cb(char *ptr, size_t size, size_t nmemb,
    void *data);
static size_t ngx_http_xfer_header_cb(char *ptr, size_t size, size_t nmemb,
    void *data);
static void ngx_http_xfer_collect(ngx_http_xfer_task_t *t);
static ngx_http_xfer_task_t *ngx_http_xfer_task_alloc(
    ngx_http_xfer_worker_t *w);
static ngx_int_t ngx_http_xfer_task_setup(ngx_http_xfer_task_t *t);
static void ngx_http_xfer_task_recycle(ngx_http_xfer_worker_t *w,
    ngx_http_xfer_task_t *t);
static void ngx_http_xfer_task_destroy(ngx_http_xfer_task_t *t);
static void ngx_http_xfer_buf_trim(ngx_http_xfer_buf_t *b);
static int ngx_http_xfer_task_url(ngx_http_xfer_task_t *t, const char *v,
    size_t len);
static int ngx_http_xfer_task_refuse(ngx_http_xfer_task_t *t, int code,
    const char *why);


/* Called by ngx_http_xfer_dispatch(), or with a reason when aborting. */

void
ngx_http_xfer_task_finish(ngx_http_xfer_worker_t *w, ngx_http_xfer_task_t *t,
    XFERcode code, const char *reason)
{
    u_char  *p;

    if (t->state != NGX_HTTP_XFER_TASK_RUNNING) {
        return;
    }

    ngx_http_xfer_collect(t);

    if (reason != NULL) {
        code = XFERE_ABORTED_BY_CALLBACK;
        (void) ngx_cpystrn((u_char *) t->errbuf, (u_char *) reason,
                           sizeof(t->errbuf));
        w->stats.aborted++;

    } else {
        w->stats.completed++;
    }

    if (t->too_large && code == XFERE_WRITE_ERROR) {
        code = XFERE_FILESIZE_EXCEEDED;
        p = ngx_snprintf((u_char *) t->errbuf, sizeof(t->errbuf) - 1,
                         "response body larger than max_body_size "
                         "(%uz bytes)", t->max_body);
        *p = '\0';
    }

    if (code != XFERE_OK && t->errbuf[0] == '\0') {
        (void) ngx_cpystrn((u_char *) t->errbuf,
                           (u_char *) xfer_easy_strerror(code),
                           sizeof(t->errbuf));
    }

    /* the handle stays with the task: the result's strings point into it */

    if (w->multi != NULL
        && xfer_multi_remove_handle(w->multi, t->easy) != XFERM_OK)
    {
        t->stuck = 1;
    }

    w->stats.running--;
    t->group->running--;

    t->res.code = (int) code;
    t->res.body = t->body.data;
    t->res.body_len = t->body.len;
    t->res.head = t->head.data;
    t->res.head_len = t->head.len;
    /* success leaves errbuf alone (a cache line less) */
    t->res.error = (code == XFERE_OK) ? "" : t->errbuf;

    t->state = NGX_HTTP_XFER_TASK_DONE;

    ngx_queue_insert_tail(&t->group->done, &t->link);
    t->in_done = 1;

    ngx_http_xfer_notify(w, t->group);
}


/*
 * What the response reports.  The status always; the rest only when the
 * caller reads it (request(), fetch_all's info = true).  The strings stay
 * in the easy handle, which lives until the task is freed.
 */

static void
ngx_http_xfer_collect(ngx_http_xfer_task_t *t)
{
    XFER  *e;
    char  *s;

    e = t->easy;

    (void) xfer_easy_getinfo(e, XFERINFO_RESPONSE_CODE, &t->res.status);
    (void) xfer_easy_getinfo(e, XFERINFO_HTTP_VERSION, &t->res.http_version);
    /* the proxy's: also for a failure (err.http_connectcode, proxy_error) */
    (void) xfer_easy_getinfo(e, XFERINFO_HTTP_CONNECTCODE,
                             &t->res.http_connectcode);
    (void) xfer_easy_getinfo(e, XFERINFO_PROXY_ERROR, &t->res.proxy_error);

    if (!(t->flags & NGX_HTTP_XFER_WANT_INFO)) {
        return;
    }

    (void) xfer_easy_getinfo(e, XFERINFO_PRIMARY_PORT, &t->res.primary_port);
    (void) xfer_easy_getinfo(e, XFERINFO_LOCAL_PORT, &t->res.local_port);
    (void) xfer_easy_getinfo(e, XFERINFO_REDIRECT_COUNT,
                             &t->res.redirect_count);
    (void) xfer_easy_getinfo(e, XFERINFO_NUM_CONNECTS, &t->res.num_connects);
    (void) xfer_easy_getinfo(e, XFERINFO_SSL_VERIFYRESULT,
                             &t->res.ssl_verifyresult);
    (void) xfer_easy_getinfo(e, XFERINFO_SIZE_DOWNLOAD_T,
                             &t->res.size_download);
    (void) xfer_easy_getinfo(e, XFERINFO_SIZE_UPLOAD_T, &t->res.size_upload);
    (void) xfer_easy_getinfo(e, XFERINFO_CONTENT_LENGTH_DOWNLOAD_T,
                             &t->res.content_length_download);
    (void) xfer_easy_getinfo(e, XFERINFO_TOTAL_TIME_T, &t->res.total_time);
    (void) xfer_easy_getinfo(e, XFERINFO_QUEUE_TIME_T, &t->res.queue_time);
    (void) xfer_easy_getinfo(e, XFERINFO_NAMELOOKUP_TIME_T,
                             &t->res.namelookup_time);
    (void) xfer_easy_getinfo(e, XFERINFO_CONNECT_TIME_T,
                             &t->res.connect_time);
    (void) xfer_easy_getinfo(e, XFERINFO_APPCONNECT_TIME_T,
                             &t->res.appconnect_time);
    (void) xfer_easy_getinfo(e, XFERINFO_PRETRANSFER_TIME_T,
                             &t->res.pretransfer_time);
    (void) xfer_easy_getinfo(e, XFERINFO_STARTTRANSFER_TIME_T,
                             &t->res.starttransfer_time);

    s = NULL;
    (void) xfer_easy_getinfo(e, XFERINFO_PRIMARY_IP, &s);
    t->res.primary_ip = s ? s : "";

    s = NULL;
    (void) xfer_easy_getinfo(e, XFERINFO_EFFECTIVE_URL, &s);
    t->res.effective_url = s ? s : "";
}


/*
 * One post until the waiter takes the done queue; none while the waiter
 * asked to be woken only when the last of its transfers is done.
 */

void
ngx_http_xfer_notify(ngx_http_xfer_worker_t *w, ngx_http_xfer_group_t *g)
{
    if (g->notified || g->sema == NULL || (g->wait_all && g->running)) {
        return;
    }

    /* counts, and posts the semaphore's event if a thread waits: no Lua */

    g->notified = 1;
    (void) w->sema_post(g->sema, 1);
    w->stats.posts++;
}


/* worker_shutdown_timeout or exit: every waiter learns why. */

void
ngx_http_xfer_abort_all(ngx_http_xfer_worker_t *w, const char *reason)
{
    ngx_queue_t            *q, *tq;
    ngx_http_xfer_task_t   *t;
    ngx_http_xfer_group_t  *g;

    for (q = ngx_queue_head(&w->groups);
         q != ngx_queue_sentinel(&w->groups);
         q = ngx_queue_next(q))
    {
        g = ngx_queue_data(q, ngx_http_xfer_group_t, queue);

        for (tq = ngx_queue_head(&g->tasks);
             tq != ngx_queue_sentinel(&g->tasks);
             tq = ngx_queue_next(tq))
        {
            t = ngx_queue_data(tq, ngx_http_xfer_task_t, all);
            ngx_http_xfer_task_finish(w, t, XFERE_ABORTED_BY_CALLBACK,
                                      reason);
        }
    }
}


/* exit_process: every semaphore goes back before the Lua VM is closed. */

void
ngx_http_xfer_release_semas(ngx_http_xfer_worker_t *w)
{
    ngx_queue_t            *q;
    ngx_http_xfer_group_t  *g;

    for (q = ngx_queue_head(&w->groups);
         q != ngx_queue_sentinel(&w->groups);
         q = ngx_queue_next(q))
    {
        g = ngx_queue_data(q, ngx_http_xfer_group_t, queue);

        if (g->sema != NULL) {
            w->sema_gc(g->sema);
            g->sema = NULL;
        }
    }

    ngx_http_xfer_reaper_handler(&w->reaper);
}


/*
 * A posted event, so it runs after any semaphore event posted before the
 * group was freed (the posted queue is FIFO): ngx_http_lua_ffi_sema_gc()
 * does not unlink a posted semaphore event.
 */

void
ngx_http_xfer_reaper_handler(ngx_event_t *ev)
{
    ngx_queue_t             *q;
    ngx_http_xfer_group_t   *g;
    ngx_http_xfer_worker_t  *w;

    w = ev->data;

    while (!ngx_queue_empty(&w->graveyard)) {
        q = ngx_queue_head(&w->graveyard);
        ngx_queue_remove(q);

        g = ngx_queue_data(q, ngx_http_xfer_group_t, queue);

        if (g->sema != NULL) {
            w->sema_gc(g->sema);
        }

        ngx_free(g);
        w->stats.graveyard--;
    }
}


static size_t
ngx_http_xfer_write_cb(char *ptr, size_t size, size_t nmemb, void *data)
{
    size_t                 n;
    ngx_http_xfer_task_t  *t;

    t = data;
    n = size * nmemb;

    if (t->flags & NGX_HTTP_XFER_STREAM) {
        return ngx_http_xfer_stream_write(t, ptr, n);
    }

    if (n > t->max_body - t->body.len) {
        t->too_large = 1;
        return 0;
    }

    if (ngx_http_xfer_buf_append(&t->body, ptr, n) != NGX_OK) {
        return 0;
    }

    return n;
}


/* Keeps the header block of the last response only (redirects, 1xx). */

static size_t
ngx_http_xfer_header_cb(char *ptr, size_t size, size_t nmemb, void *data)
{
    size_t                 n;
    ngx_http_xfer_task_t  *t;

    t = data;
    n = size * nmemb;

    if (n >= 5 && ngx_strncmp(ptr, "HTTP/", 5) == 0) {
        t->head.len = 0;
    }

    if (ngx_http_xfer_buf_append(&t->head, ptr, n) != NGX_OK) {
        return 0;
    }

    if (t->flags & NGX_HTTP_XFER_STREAM) {
        ngx_http_xfer_stream_header(t, ptr, n);
    }

    return n;
}


ngx_int_t
ngx_http_xfer_buf_append(ngx_http_xfer_buf_t *b, const char *p, size_t n)
{
    size_t   size;
    u_char  *data;

    if (n > b->size - b->len) {
        size = b->size ? b->size : NGX_HTTP_XFER_MIN_BUF;

        while (size - b->len < n) {
            size *= 2;
        }

        data = realloc(b->data, size);
        if (data == NULL) {
            ngx_log_error(NGX_LOG_ERR, ngx_http_xfer_worker.log, ngx_errno,
                          "xfer: realloc(%uz) failed", size);
            return NGX_ERROR;
        }

        b->data = data;
        b->size = size;
    }

    ngx_memcpy(b->data + b->len, p, n);
    b->len += n;

    return NGX_OK;
}


/* FFI API */


ngx_http_xfer_group_t *
ngx_http_xfer_group_new(u_char *err, size_t *errlen)
{
    char                    *msg;
    ngx_http_xfer_group_t   *g;
    ngx_http_xfer_worker_t  *w;

    w = &ngx_http_xfer_worker;

    if (ngx_http_xfer_ready(w, err, errlen) != NGX_OK) {
        return NULL;
    }

    g = ngx_calloc(sizeof(ngx_http_xfer_group_t), w->log);
    if (g == NULL) {
        *errlen = ngx_snprintf(err, *errlen, "no memory") - err;
        return NULL;
    }

    msg = "no memory";

    if (w->sema_new(&g->sema, 0, &msg) != NGX_OK) {
        ngx_free(g);
        *errlen = ngx_snprintf(err, *errlen, "%s", msg) - err;
        return NULL;
    }

    ngx_queue_init(&g->tasks);
    ngx_queue_init(&g->done);
    ngx_queue_insert_tail(&w->groups, &g->queue);

    w->stats.groups++;

    return g;
}


void *
ngx_http_xfer_group_sema(ngx_http_xfer_group_t *g)
{
    return g->sema;
}


/*
 * Moves up to n finished tasks off the group's queue into done (they stay
 * the group's until freed).  Once the queue is empty the next completion
 * posts again, or with wait_all only the one that leaves no task of the
 * group running: a waiter with nothing to do before then (all started, no
 * on_done) is not woken for each of them.
 */

int
ngx_http_xfer_group_take(ngx_http_xfer_group_t *g,
    ngx_http_xfer_task_t **done, int n, int wait_all)
{
    int                    i;
    ngx_queue_t           *q;
    ngx_http_xfer_task_t  *t;

    i = 0;

    while (i < n && !ngx_queue_empty(&g->done)) {
        q = ngx_queue_head(&g->done);
        ngx_queue_remove(q);

        t = ngx_queue_data(q, ngx_http_xfer_task_t, link);
        t->in_done = 0;

        done[i++] = t;
    }

    if (ngx_queue_empty(&g->done)) {
        g->notified = 0;
    }

    g->wait_all = wait_all;

    return i;
}


/*
 * Cancels what still runs, frees every task, and retires the semaphore
 * through the reaper.  Called by Lua when it is done with the group, or by
 * the group's finalizer (a light thread that was killed or raised).
 */

void
ngx_http_xfer_group_free(ngx_http_xfer_group_t *g)
{
    ngx_http_xfer_task_t    *t;
    ngx_http_xfer_worker_t  *w;

    if (g == NULL) {
        return;
    }

    w = &ngx_http_xfer_worker;

    if (g->cln != NULL) {
        /* the request's pool outlives this group: forget it */
        g->cln->handler = NULL;
        g->cln = NULL;
    }

    while (!ngx_queue_empty(&g->tasks)) {
        t = ngx_queue_data(ngx_queue_head(&g->tasks), ngx_http_xfer_task_t,
                           all);
        ngx_http_xfer_task_free(t);
    }

    ngx_queue_remove(&g->queue);
    w->stats.groups--;

    if (g->sema == NULL) {
        /* after exit_process, or never had one */
        ngx_free(g);
        return;
    }

    ngx_queue_insert_tail(&w->graveyard, &g->queue);
    w->stats.graveyard++;

    ngx_post_event(&w->reaper, &ngx_posted_events);
}


ngx_http_xfer_task_t *
ngx_http_xfer_task_new(ngx_http_xfer_group_t *g, int index)
{
    ngx_queue_t             *q;
    ngx_http_xfer_task_t    *t;
    ngx_http_xfer_worker_t  *w;

    w = &ngx_http_xfer_worker;

    if (!ngx_queue_empty(&w->pool)) {
        q = ngx_queue_head(&w->pool);
        ngx_queue_remove(q);
        w->npool--;
        w->stats.reused++;
        t = ngx_queue_data(q, ngx_http_xfer_task_t, all);

    } else {
        t = ngx_http_xfer_task_alloc(w);
        if (t == NULL) {
            return NULL;
        }
    }

    /*
     * Only what a run reads before it sets it: the rest of res is written
     * when the run finishes, errbuf when it starts (xfer clears it) or
     * fails to start.
     */

    t->group = g;
    t->state = NGX_HTTP_XFER_TASK_NEW;
    t->flags = 0;
    t->body.len = 0;
    t->head.len = 0;
    t->too_large = 0;
    t->url_given = 0;
    t->timeout_given = 0;
    t->head_ready = 0;
    t->recv_paused = 0;
    t->send_paused = 0;
    t->want_body = 0;
    t->body_fed = 0;
    t->up_eof = 0;
    t->follow = 0;
    t->fail_4xx = 0;
    t->saw_location = 0;
    t->off = 0;

    t->res.code = 0;
    t->res.index = index;
    t->res.status = 0;
    t->res.error = t->errbuf;

    ngx_queue_insert_tail(&g->tasks, &t->all);

    return t;
}


static ngx_http_xfer_task_t *
ngx_http_xfer_task_alloc(ngx_http_xfer_worker_t *w)
{
    ngx_http_xfer_task_t  *t;

    t = ngx_memalign(64, sizeof(ngx_http_xfer_task_t), w->log);
    if (t == NULL) {
        return NULL;
    }

    ngx_memzero(t, sizeof(ngx_http_xfer_task_t));
    t->res.effective_url = "";
    t->res.primary_ip = "";

    t->easy = xfer_easy_init();
    if (t->easy == NULL || ngx_http_xfer_task_setup(t) != NGX_OK) {
        ngx_http_xfer_task_destroy(t);
        return NULL;
    }

    return t;
}


/*
 * The options every run has, set once per easy handle (and after reset).
 * PIPEWAIT: the requests of a worker that start while its first connection
 * to an https origin is being set up wait for its ALPN answer, and share it
 * when it is h2, instead of each opening a connection of its own.
 */

static ngx_int_t
ngx_http_xfer_task_setup(ngx_http_xfer_task_t *t)
{
    if (xfer_easy_setopt(t->easy, XFEROPT_PRIVATE, (char *) t)
        || xfer_easy_setopt(t->easy, XFEROPT_WRITEFUNCTION,
                            ngx_http_xfer_write_cb)
        || xfer_easy_setopt(t->easy, XFEROPT_WRITEDATA, t)
        || xfer_easy_setopt(t->easy, XFEROPT_ERRORBUFFER, t->errbuf)
        || xfer_easy_setopt(t->easy, XFEROPT_NOSIGNAL, 1L)
        || xfer_easy_setopt(t->easy, XFEROPT_PIPEWAIT, 1L))
    {
        return NGX_ERROR;
    }

    t->timeout_ms = 0;
    t->head_cb = 0;
    t->dirty = 0;

    return NGX_OK;
}


/*
 * The i-th of xfer's easy options (xfer_easy_option_next): its name, number
 * and type (XFEROT_*).  ngx.lua builds its option names from these, so a
 * new option of the core is one here too.  0, or -1 past the last.
 */

int
ngx_http_xfer_option_at(int i, const char **name, int *id, int *type)
{
    const struct xfer_easyoption  *o;

    for (o = xfer_easy_option_next(NULL); o && i > 0;
         o = xfer_easy_option_next(o))
    {
        i--;
    }

    if (o == NULL || i < 0) {
        return -1;
    }

    *name = o->name;
    *id = (int) o->id;
    *type = (int) o->type;

    return 0;
}


static int
ngx_http_xfer_option_type(int opt)
{
    const struct xfer_easyoption  *o;

    o = xfer_easy_option_by_id((XFERoption) opt);

    return o ? (int) o->type : -1;
}


/* String options (xfer copies them); never a pointer option. */

int
ngx_http_xfer_task_setopt_str(ngx_http_xfer_task_t *t, int opt,
    const char *v, size_t len)
{
    if (t->state != NGX_HTTP_XFER_TASK_NEW || ngx_strlen(v) != len) {
        return XFERE_BAD_FUNCTION_ARGUMENT;
    }

    if (opt == XFEROPT_URL) {
        return ngx_http_xfer_task_url(t, v, len);
    }

    if (ngx_http_xfer_option_type(opt) != XFEROT_STRING) {
        return XFERE_UNKNOWN_OPTION;
    }

    t->dirty = 1;
    return xfer_easy_setopt(t->easy, (XFERoption) opt, v);
}


/* xfer keeps an unchanged URL and its parse itself: setting it is cheap. */

static int
ngx_http_xfer_task_url(ngx_http_xfer_task_t *t, const char *v, size_t len)
{
    (void) len;
    t->url_given = 1;
    return xfer_easy_setopt(t->easy, XFEROPT_URL, v);
}


/* Numbers only (long options of the core's list). */

int
ngx_http_xfer_task_setopt_long(ngx_http_xfer_task_t *t, int opt, long v)
{
    XFERcode  rc;

    if (t->state != NGX_HTTP_XFER_TASK_NEW) {
        return XFERE_BAD_FUNCTION_ARGUMENT;
    }

    switch (opt) {

    case XFEROPT_TIMEOUT_MS:
        /* sticky: set only when it changes (-1: not known) */
        if (v != t->timeout_ms || t->timeout_ms < 0) {
            rc = xfer_easy_setopt(t->easy, XFEROPT_TIMEOUT_MS, v);
            if (rc != XFERE_OK) {
                return rc;
            }

            t->timeout_ms = v;
        }

        t->timeout_given = 1;
        return XFERE_OK;

    case XFEROPT_TIMEOUT:
        /* the same setting as TIMEOUT_MS, whose value is then unknown */
        t->dirty = 1;
        t->timeout_ms = -1;
        t->timeout_given = 1;
        return xfer_easy_setopt(t->easy, XFEROPT_TIMEOUT, v);

    case XFEROPT_UPLOAD:
    case XFEROPT_POST:
    case XFEROPT_VERBOSE:
        /* the body comes as a string; nothing reads stdin or writes stderr */
        return XFERE_UNKNOWN_OPTION;

    default:
        switch (ngx_http_xfer_option_type(opt)) {
        case XFEROT_LONG:
        case XFEROT_VALUES:
            t->dirty = 1;

            rc = xfer_easy_setopt(t->easy, (XFERoption) opt, v);
            if (rc != XFERE_OK) {
                return rc;
            }

            /* what a streamed response's header callback must know */
            if (opt == XFEROPT_FOLLOWLOCATION) {
                t->follow = (v != 0);

            } else if (opt == XFEROPT_FAILONERROR) {
                t->fail_4xx = (v != 0);
            }

            return XFERE_OK;
        default:
            return XFERE_UNKNOWN_OPTION;
        }
    }
}


/* HTTPHEADER, RESOLVE and PROXYHEADER lines; the lists live as long as
 * the run. */

int
ngx_http_xfer_task_append(ngx_http_xfer_task_t *t, int opt, const char *v,
    size_t len)
{
    struct xfer_slist  **list, *l;

    if (t->state != NGX_HTTP_XFER_TASK_NEW || ngx_strlen(v) != len) {
        return XFERE_BAD_FUNCTION_ARGUMENT;
    }

    switch (opt) {

    case XFEROPT_HTTPHEADER:
        list = &t->headers;
        break;

    case XFEROPT_RESOLVE:
        list = &t->resolve;
        break;

    case XFEROPT_PROXYHEADER:
        list = &t->proxyheader;
        break;

    default:
        return XFERE_UNKNOWN_OPTION;
    }

    t->dirty = 1;

    l = xfer_slist_append(*list, v);
    if (l == NULL) {
        return XFERE_OUT_OF_MEMORY;
    }

    *list = l;

    return XFERE_OK;
}


/* The request body (bytes, NULs allowed), copied by xfer. */

int
ngx_http_xfer_task_body(ngx_http_xfer_task_t *t, const char *p, size_t len)
{
    XFERcode  rc;

    if (t->state != NGX_HTTP_XFER_TASK_NEW) {
        return XFERE_BAD_FUNCTION_ARGUMENT;
    }

    t->dirty = 1;

    rc = xfer_easy_setopt(t->easy, XFEROPT_POSTFIELDSIZE_LARGE,
                          (xfer_off_t) len);
    if (rc != XFERE_OK) {
        return rc;
    }

    return xfer_easy_setopt(t->easy, XFEROPT_COPYPOSTFIELDS, len ? p : "");
}


int
ngx_http_xfer_task_start(ngx_http_xfer_task_t *t, size_t max_body, int flags)
{
    size_t                   len;
    u_char                  *p;
    XFERM                   *m;
    XFERMcode                mc;
    ngx_uint_t               head;
    ngx_http_xfer_worker_t  *w;

    w = &ngx_http_xfer_worker;

    if (t->state != NGX_HTTP_XFER_TASK_NEW) {
        return ngx_http_xfer_task_refuse(t, XFERE_BAD_FUNCTION_ARGUMENT,
                                         "the transfer was started already");
    }

    len = sizeof(t->errbuf) - 1;

    if (ngx_http_xfer_ready(w, (u_char *) t->errbuf, &len) != NGX_OK) {
        t->errbuf[len] = '\0';
        return XFERE_FAILED_INIT;
    }

    m = ngx_http_xfer_multi(w);
    if (m == NULL) {
        return ngx_http_xfer_task_refuse(t, XFERE_FAILED_INIT,
                                         "cannot create the multi handle");
    }

    t->max_body = max_body;
    t->flags = flags & (NGX_HTTP_XFER_WANT_INFO | NGX_HTTP_XFER_WANT_HEADERS
                        | NGX_HTTP_XFER_STREAM);

    if (flags & NGX_HTTP_XFER_STREAM) {
        /* the headers come before the body is read: always collected */
        flags |= NGX_HTTP_XFER_WANT_HEADERS;
        t->res.size_download = 0;
        t->group->task = t;
        ngx_http_xfer_worker.stats.streams++;
    }

    /* sticky options of an earlier run that this one did not set */

    if (!t->url_given) {
        if (xfer_easy_setopt(t->easy, XFEROPT_URL, NULL) != XFERE_OK) {
            return ngx_http_xfer_task_refuse(t, XFERE_FAILED_INIT,
                                             "cannot set up the transfer");
        }
    }

    if (!t->timeout_given && t->timeout_ms != 0) {
        if (xfer_easy_setopt(t->easy, XFEROPT_TIMEOUT_MS, 0L) != XFERE_OK) {
            return ngx_http_xfer_task_refuse(t, XFERE_FAILED_INIT,
                                             "cannot set up the transfer");
        }

        t->timeout_ms = 0;
    }

    /* no header callback when nobody reads them: xfer then copies none */

    head = (flags & NGX_HTTP_XFER_WANT_HEADERS) ? 1 : 0;

    if (head != t->head_cb) {
        if (xfer_easy_setopt(t->easy, XFEROPT_HEADERFUNCTION,
                             head ? ngx_http_xfer_header_cb : NULL)
            || xfer_easy_setopt(t->easy, XFEROPT_HEADERDATA,
                                head ? t : NULL))
        {
            return ngx_http_xfer_task_refuse(t, XFERE_FAILED_INIT,
                                             "cannot set up the transfer");
        }

        t->head_cb = head;
    }

    if ((t->headers
         && xfer_easy_setopt(t->easy, XFEROPT_HTTPHEADER, t->headers))
        || (t->resolve
            && xfer_easy_setopt(t->easy, XFEROPT_RESOLVE, t->resolve))
        || (t->proxyheader
            && xfer_easy_setopt(t->easy, XFEROPT_PROXYHEADER,
                                t->proxyheader)))
    {
        return ngx_http_xfer_task_refuse(t, XFERE_FAILED_INIT,
                                         "cannot set up the transfer");
    }

    mc = xfer_multi_add_handle(m, t->easy);
    if (mc != XFERM_OK) {
        p = ngx_snprintf((u_char *) t->errbuf, sizeof(t->errbuf) - 1,
                         "xfer_multi_add_handle: %s", xfer_multi_strerror(mc));
        *p = '\0';
        return mc == XFERM_OUT_OF_MEMORY ? XFERE_OUT_OF_MEMORY
                                         : XFERE_FAILED_INIT;
    }

    t->state = NGX_HTTP_XFER_TASK_RUNNING;
    t->group->running++;

    w->stats.running++;
    w->stats.started++;

    ngx_http_xfer_dispatch(w);

    return XFERE_OK;
}


/* A start that failed before xfer had the handle: errbuf says why. */

static int
ngx_http_xfer_task_refuse(ngx_http_xfer_task_t *t, int code, const char *why)
{
    (void) ngx_cpystrn((u_char *) t->errbuf, (u_char *) why,
                       sizeof(t->errbuf));

    return code;
}


const ngx_http_xfer_result_t *
ngx_http_xfer_task_result(ngx_http_xfer_task_t *t)
{
    return &t->res;
}


/*
 * Frees a task: one still running is cancelled (no completion follows).
 * The task then goes back to the pool.
 */

void
ngx_http_xfer_task_free(ngx_http_xfer_task_t *t)
{
    ngx_uint_t               running;
    ngx_http_xfer_worker_t  *w;

    w = &ngx_http_xfer_worker;
    running = 0;

    if (t->state == NGX_HTTP_XFER_TASK_RUNNING) {
        if (w->multi != NULL) {
            if (xfer_multi_remove_handle(w->multi, t->easy) != XFERM_OK) {
                t->stuck = 1;
            }

            running = 1;
        }

        w->stats.running--;
        w->stats.cancelled++;
        t->group->running--;
    }

    if (t->group->task == t) {
        t->group->task = NULL;
    }

    ngx_http_xfer_stream_drop(t);

    ngx_queue_remove(&t->all);

    if (t->in_done) {
        ngx_queue_remove(&t->link);
        t->in_done = 0;
    }

    t->state = NGX_HTTP_XFER_TASK_DONE;
    t->group = NULL;

    ngx_http_xfer_task_recycle(w, t);

    if (running) {
        /* the freed slot may have started, or failed, a waiting transfer */
        ngx_http_xfer_dispatch(w);
    }
}


/*
 * Into the pool, unless the worker is going away or the pool is full.  A
 * handle that had any option besides the sticky ones is reset (libcurl's
 * curl_easy_reset), so nothing of this run reaches the next one.
 */

static void
ngx_http_xfer_task_recycle(ngx_http_xfer_worker_t *w, ngx_http_xfer_task_t *t)
{
    if (t->stuck || w->state != NGX_HTTP_XFER_READY
        || w->npool >= NGX_HTTP_XFER_POOL_MAX)
    {
        /* xfer_easy_cleanup() detaches a handle still in the multi handle */
        ngx_http_xfer_task_destroy(t);
        return;
    }

    if (t->dirty) {
        xfer_easy_reset(t->easy);

        /* reset keeps the cookie store (libcurl's rule): it must not
         * reach the next request, so the engine goes off with it */
        (void) xfer_easy_setopt(t->easy, XFEROPT_COOKIEFILE, (char *) NULL);

        if (ngx_http_xfer_task_setup(t) != NGX_OK) {
            ngx_http_xfer_task_destroy(t);
            return;
        }
    }

    /* after the reset: the handle no longer points to the lists */

    if (t->headers) {
        xfer_slist_free_all(t->headers);
        t->headers = NULL;
    }

    if (t->resolve) {
        xfer_slist_free_all(t->resolve);
        t->resolve = NULL;
    }

    if (t->proxyheader) {
        xfer_slist_free_all(t->proxyheader);
        t->proxyheader = NULL;
    }

    ngx_http_xfer_buf_trim(&t->body);
    ngx_http_xfer_buf_trim(&t->head);
    ngx_http_xfer_buf_trim(&t->up);

    ngx_queue_insert_head(&w->pool, &t->all);
    w->npool++;
}


static void
ngx_http_xfer_buf_trim(ngx_http_xfer_buf_t *b)
{
    b->len = 0;

    if (b->size > NGX_HTTP_XFER_KEEP_BUF) {
        ngx_free(b->data);
        b->data = NULL;
        b->size = 0;
    }
}


static void
ngx_http_xfer_task_destroy(ngx_http_xfer_task_t *t)
{
    if (t->easy != NULL) {
        xfer_easy_cleanup(t->easy);
    }

    xfer_slist_free_all(t->headers);
    xfer_slist_free_all(t->resolve);
    xfer_slist_free_all(t->proxyheader);

    if (t->body.data) {
        ngx_free(t->body.data);
    }

    if (t->head.data) {
        ngx_free(t->head.data);
    }

    if (t->up.data) {
        ngx_free(t->up.data);
    }

    ngx_free(t);
}


/* exit_process and close_idle(): the pool's memory goes back. */

void
ngx_http_xfer_pool_free(ngx_http_xfer_worker_t *w)
{
    ngx_queue_t  *q;

    while (!ngx_queue_empty(&w->pool)) {
        q = ngx_queue_head(&w->pool);
        ngx_queue_remove(q);
        ngx_http_xfer_task_destroy(ngx_queue_data(q, ngx_http_xfer_task_t,
                                                  all));
    }

    w->npool = 0;
}
