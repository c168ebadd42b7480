
/*
 * ngx_http_xfer_module.c -- one xfer multi handle per nginx worker, driven
 * by nginx's own event loop: xfer's socket callback maps each fd onto an
 * ngx_connection_t with level-triggered read/write events, and xfer's one
 * timer is an ngx_event_t in nginx's timer tree.  Handlers call
 * xfer_multi_socket_action and hand finished transfers to
 * ngx_http_xfer_task.c, which posts the waiting light thread's semaphore.
 * This file never runs Lua, never blocks, and never closes an fd: xfer
 * owns its sockets and closes them after POLL_REMOVE.
 */


#include "ngx_http_xfer.h"

#include <dlfcn.h>
#include <time.h>


static int ngx_http_xfer_socket_cb(XFER *easy, xfer_socket_t s, int what,
    void *userp, void *socketp);
static int ngx_http_xfer_timer_cb(XFERM *multi, long timeout_ms, void *userp);
static ngx_connection_t *ngx_http_xfer_conn_get(ngx_http_xfer_worker_t *w,
    ngx_socket_t s);
static void ngx_http_xfer_conn_free(ngx_http_xfer_worker_t *w,
    ngx_connection_t *c);
static ngx_int_t ngx_http_xfer_watch(ngx_event_t *ev, ngx_uint_t want,
    ngx_int_t event);
static void ngx_http_xfer_event_handler(ngx_event_t *ev);
static void ngx_http_xfer_timer_handler(ngx_event_t *ev);
static void ngx_http_xfer_action(ngx_http_xfer_worker_t *w, ngx_socket_t fd,
    int mask);
static void ngx_http_xfer_shutdown(ngx_http_xfer_worker_t *w,
    const char *reason);
static void ngx_http_xfer_error(u_char *err, size_t *errlen, const char *msg);
static ngx_int_t ngx_http_xfer_set_limit(ngx_http_xfer_worker_t *w,
    XFERMoption opt, long *cur, long v);
static void ngx_http_xfer_exit_process(ngx_cycle_t *cycle);


static ngx_http_module_t  ngx_http_xfer_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_xfer_module = {
    NGX_MODULE_V1,
    &ngx_http_xfer_module_ctx,             /* module context */
    NULL,                                  /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_xfer_exit_process,            /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* One per process; zero (NGX_HTTP_XFER_OFF) until the first FFI call. */
ngx_http_xfer_worker_t  ngx_http_xfer_worker;


/*
 * Sets up the worker's state on first use, after fork: the master (and
 * init_by_lua) must never own sockets or timers.  ngx_http_lua_module's
 * semaphore functions are looked up here rather than linked, so that the
 * load_module order does not matter and a missing Lua module is a clear
 * error instead of a failed dlopen().
 */

ngx_int_t
ngx_http_xfer_ready(ngx_http_xfer_worker_t *w, u_char *err, size_t *errlen)
{
    switch (w->state) {

    case NGX_HTTP_XFER_READY:
        return NGX_OK;

    case NGX_HTTP_XFER_CLOSED:
    case NGX_HTTP_XFER_EXITED:
        ngx_http_xfer_error(err, errlen, "the nginx worker is shutting down");
        return NGX_DECLINED;

    default: /* NGX_HTTP_XFER_OFF */
        break;
    }

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        ngx_http_xfer_error(err, errlen,
                            "xfer runs in worker processes only "
                            "(not in init_by_lua or helper processes)");
        return NGX_ERROR;
    }

    w->sema_new = (ngx_http_xfer_sema_new_pt)
                  dlsym(RTLD_DEFAULT, "ngx_http_lua_ffi_sema_new");
    w->sema_post = (ngx_http_xfer_sema_post_pt)
                   dlsym(RTLD_DEFAULT, "ngx_http_lua_ffi_sema_post");
    w->sema_gc = (ngx_http_xfer_sema_gc_pt)
                 dlsym(RTLD_DEFAULT, "ngx_http_lua_ffi_sema_gc");

    if (w->sema_new == NULL || w->sema_post == NULL || w->sema_gc == NULL) {
        ngx_http_xfer_error(err, errlen,
                            "ngx_http_lua_module's semaphore API "
                            "(ngx_http_lua_ffi_sema_*) was not found");
        return NGX_ERROR;
    }

    w->log = ngx_cycle->log;

    ngx_queue_init(&w->groups);
    ngx_queue_init(&w->graveyard);
    ngx_queue_init(&w->pool);

    w->timer.handler = ngx_http_xfer_timer_handler;
    w->timer.data = w;
    w->timer.log = w->log;
    w->timer.cancelable = 1;     /* never holds a quitting worker up */

    w->reaper.handler = ngx_http_xfer_reaper_handler;
    w->reaper.data = w;
    w->reaper.log = w->log;
    w->reaper.cancelable = 1;

    w->pipelining = XFERPIPE_MULTIPLEX;     /* xfer's default */

    w->state = NGX_HTTP_XFER_READY;

    return NGX_OK;
}


/* The worker's multi handle, created on first use. */

XFERM *
ngx_http_xfer_multi(ngx_http_xfer_worker_t *w)
{
    XFERM  *m;

    if (w->multi != NULL || w->state != NGX_HTTP_XFER_READY) {
        return w->multi;
    }

    m = xfer_multi_init();
    if (m == NULL) {
        ngx_log_error(NGX_LOG_ERR, w->log, 0, "xfer_multi_init() failed");
        return NULL;
    }

    if (xfer_multi_setopt(m, XFERMOPT_SOCKETFUNCTION, ngx_http_xfer_socket_cb)
        || xfer_multi_setopt(m, XFERMOPT_SOCKETDATA, w)
        || xfer_multi_setopt(m, XFERMOPT_TIMERFUNCTION, ngx_http_xfer_timer_cb)
        || xfer_multi_setopt(m, XFERMOPT_TIMERDATA, w)
        || xfer_multi_setopt(m, XFERMOPT_MAX_TOTAL_CONNECTIONS, w->max_total)
        || xfer_multi_setopt(m, XFERMOPT_MAX_HOST_CONNECTIONS, w->max_host)
        || xfer_multi_setopt(m, XFERMOPT_MAXCONNECTS, w->maxconnects)
        || xfer_multi_setopt(m, XFERMOPT_MAX_CONCURRENT_STREAMS,
                             w->max_streams)
        || xfer_multi_setopt(m, XFERMOPT_PIPELINING, w->pipelining))
    {
        ngx_log_error(NGX_LOG_ERR, w->log, 0, "xfer_multi_setopt() failed");
        (void) xfer_multi_cleanup(m);
        return NULL;
    }

    w->multi = m;

    return m;
}


/*
 * xfer's socket callback.  It is called only when the interest in a socket
 * changes, and with POLL_REMOVE just before xfer closes the socket.
 */

static int
ngx_http_xfer_socket_cb(XFER *easy, xfer_socket_t s, int what, void *userp,
    void *socketp)
{
    ngx_connection_t        *c;
    ngx_http_xfer_worker_t  *w;

    w = userp;
    c = socketp;

    if (what == XFER_POLL_REMOVE) {
        if (c != NULL) {
            ngx_http_xfer_conn_free(w, c);
        }

        return 0;
    }

    if (c == NULL) {
        c = ngx_http_xfer_conn_get(w, s);
        if (c == NULL) {
            return -1;
        }

        if (xfer_multi_assign(w->multi, s, c) != XFERM_OK) {
            ngx_http_xfer_conn_free(w, c);
            return -1;
        }
    }

    /*
     * Level-triggered (NGX_LEVEL_EVENT), not ngx_handle_read_event(), which
     * would turn on EPOLLET: xfer does not always read until EAGAIN.
     */

    if (ngx_http_xfer_watch(c->read, what & XFER_POLL_IN, NGX_READ_EVENT)
        != NGX_OK
        || ngx_http_xfer_watch(c->write, what & XFER_POLL_OUT,
                               NGX_WRITE_EVENT)
           != NGX_OK)
    {
        return -1;
    }

    return 0;
}


static ngx_int_t
ngx_http_xfer_watch(ngx_event_t *ev, ngx_uint_t want, ngx_int_t event)
{
    if (want && !ev->active) {
        return ngx_add_event(ev, event, NGX_LEVEL_EVENT);
    }

    if (!want && ev->active) {
        return ngx_del_event(ev, event, 0);
    }

    return NGX_OK;
}


static ngx_connection_t *
ngx_http_xfer_conn_get(ngx_http_xfer_worker_t *w, ngx_socket_t s)
{
    ngx_connection_t  *c;

    c = ngx_get_connection(s, w->log);

    if (c == NULL) {
        ngx_log_error(NGX_LOG_ERR, w->log, 0,
                      "xfer: no free connection for socket %d, "
                      "every transfer fails: raise worker_connections", s);
        return NULL;
    }

    c->data = w;
    c->log = w->log;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);

    c->read->log = w->log;
    c->write->log = w->log;
    c->read->handler = ngx_http_xfer_event_handler;
    c->write->handler = ngx_http_xfer_event_handler;

    w->stats.sockets++;

    return c;
}


/*
 * The connection goes back to nginx, the fd stays open (xfer closes it).
 * fd = -1 makes nginx ignore events for it that the current epoll batch
 * still holds; ngx_get_connection() flips the instance bit on reuse.
 */

static void
ngx_http_xfer_conn_free(ngx_http_xfer_worker_t *w, ngx_connection_t *c)
{
    if (c->read->active || c->write->active) {

        if (ngx_event_actions.del_conn) {
            /* epoll: one EPOLL_CTL_DEL for both directions */
            (void) ngx_del_conn(c, 0);

        } else {
            if (c->read->active) {
                (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
            }

            if (c->write->active) {
                (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
            }
        }
    }

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    ngx_free_connection(c);

    c->fd = (ngx_socket_t) -1;

    w->stats.sockets--;
}


/*
 * xfer's timer callback: one ngx_event_t.  A timer armed no later than the
 * new deadline is kept: firing early costs one socket_action that finds
 * nothing due and reports the deadline again, while moving it costs two
 * rbtree operations each time the earliest of many transfers finishes.
 * An earlier deadline deletes the timer before re-adding it, because
 * ngx_add_timer() keeps an armed timer that is within NGX_TIMER_LAZY_DELAY
 * (300 ms) of the new one, even a later one.  0 ms becomes an event posted
 * for the next loop iteration: never socket_action from inside the
 * callback.  -1 deletes both, so that an idle worker has no timer.
 */

static int
ngx_http_xfer_timer_cb(XFERM *multi, long timeout_ms, void *userp)
{
    ngx_msec_t               key;
    ngx_event_t             *ev;
    ngx_http_xfer_worker_t  *w;

    w = userp;
    ev = &w->timer;

    if (timeout_ms < 0) {
        if (ev->timer_set) {
            ngx_del_timer(ev);
        }

        if (ev->posted) {
            ngx_delete_posted_event(ev);
        }

        return 0;
    }

    if (timeout_ms == 0) {
        /*
         * To the next loop iteration, after epoll: a timer run that makes
         * more work for 0 ms (an unpause from a stream reader, a light
         * thread woken, ...) would otherwise go round within one pass of
         * ngx_posted_events and keep every other connection waiting.
         */
        if (!ev->posted) {
            ngx_post_event(ev, &ngx_posted_next_events);
        }

        return 0;
    }

    if (ev->posted) {
        ngx_delete_posted_event(ev);
    }

    if (ev->timer_set) {
        key = ngx_current_msec + (ngx_msec_t) timeout_ms;

        if ((ngx_msec_int_t) (key - ev->timer.key) >= 0) {
            return 0;
        }

        ngx_del_timer(ev);
    }

    ngx_add_timer(ev, (ngx_msec_t) timeout_ms);

    return 0;
}


static void
ngx_http_xfer_event_handler(ngx_event_t *ev)
{
    ngx_connection_t        *c;
    ngx_http_xfer_worker_t  *w;

    c = ev->data;
    w = c->data;

    if (c->close) {
        /* worker_shutdown_timeout: nginx is closing every connection */
        ngx_http_xfer_shutdown(w, "the nginx worker is shutting down "
                                  "(worker_shutdown_timeout)");
        w->state = NGX_HTTP_XFER_CLOSED;
        return;
    }

    ngx_http_xfer_action(w, c->fd, ev->write ? XFER_CSELECT_OUT
                                             : XFER_CSELECT_IN);
}


static void
ngx_http_xfer_timer_handler(ngx_event_t *ev)
{
    ngx_http_xfer_action(ev->data, XFER_SOCKET_TIMEOUT, 0);
}


static void
ngx_http_xfer_action(ngx_http_xfer_worker_t *w, ngx_socket_t fd, int mask)
{
    int              running;
    int64_t          us;
    XFERMcode        rc;
    struct timespec  t0, t1;

    if (w->multi == NULL) {
        return;
    }

    /* how long xfer holds the worker's loop (stats: action_max_us) */
    clock_gettime(CLOCK_MONOTONIC, &t0);

    rc = xfer_multi_socket_action(w->multi, fd, mask, &running);

    if (rc != XFERM_OK) {
        ngx_log_error(NGX_LOG_ERR, w->log, 0,
                      "xfer_multi_socket_action(%d) failed: %s",
                      fd, xfer_multi_strerror(rc));
    }

    ngx_http_xfer_dispatch(w);

    clock_gettime(CLOCK_MONOTONIC, &t1);
    us = (int64_t) (t1.tv_sec - t0.tv_sec) * 1000000
         + (t1.tv_nsec - t0.tv_nsec) / 1000;

    if (us > w->stats.action_max_us) {
        w->stats.action_max_us = us;
    }
}


/* Hands every finished transfer to its group, which wakes its waiter. */

void
ngx_http_xfer_dispatch(ngx_http_xfer_worker_t *w)
{
    char     *priv;
    XFER     *easy;
    XFERMsg  *msg;

    /* NULL: xfer_multi_info_read() counts the rest by walking the queue */

    while (w->multi != NULL
           && (msg = xfer_multi_info_read(w->multi, NULL)) != NULL)
    {
        if (msg->msg != XFERMSG_DONE) {
            continue;
        }

        easy = msg->easy_handle;
        priv = NULL;

        if (xfer_easy_getinfo(easy, XFERINFO_PRIVATE, &priv) != XFERE_OK
            || priv == NULL)
        {
            (void) xfer_multi_remove_handle(w->multi, easy);
            continue;
        }

        ngx_http_xfer_task_finish(w, (ngx_http_xfer_task_t *) priv,
                                  msg->data.result, NULL);
    }
}


/*
 * Fails every transfer (their waiters are woken with the reason), closes
 * every connection, and drops the timer.  The groups stay: their light
 * threads still hold them.
 */

static void
ngx_http_xfer_shutdown(ngx_http_xfer_worker_t *w, const char *reason)
{
    if (w->state == NGX_HTTP_XFER_OFF) {
        return;
    }

    ngx_http_xfer_abort_all(w, reason);

    if (w->multi != NULL) {
        (void) xfer_multi_cleanup(w->multi);
        w->multi = NULL;
    }

    if (w->timer.timer_set) {
        ngx_del_timer(&w->timer);
    }

    if (w->timer.posted) {
        ngx_delete_posted_event(&w->timer);
    }
}


static void
ngx_http_xfer_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_xfer_worker_t  *w;

    w = &ngx_http_xfer_worker;

    if (w->state == NGX_HTTP_XFER_OFF || w->state == NGX_HTTP_XFER_EXITED) {
        return;
    }

    ngx_http_xfer_shutdown(w, "the nginx worker is exiting");

    /*
     * No Lua runs after this point, except finalizers when the Lua VM is
     * closed: the semaphores go back now, the groups' memory when their
     * finalizers run.
     */

    ngx_http_xfer_release_semas(w);

    if (w->reaper.posted) {
        ngx_delete_posted_event(&w->reaper);
    }

    w->state = NGX_HTTP_XFER_EXITED;

    /* tasks Lua still holds are freed, not pooled, from now on */
    ngx_http_xfer_pool_free(w);
}


static void
ngx_http_xfer_error(u_char *err, size_t *errlen, const char *msg)
{
    if (err != NULL && errlen != NULL) {
        *errlen = ngx_snprintf(err, *errlen, "%s", msg) - err;
    }
}


/* FFI API */


int
ngx_http_xfer_configure(long max_total, long max_host, long maxconnects,
    long max_streams, long pipelining, u_char *err, size_t *errlen)
{
    ngx_int_t                rc;
    ngx_http_xfer_worker_t  *w;

    w = &ngx_http_xfer_worker;

    rc = ngx_http_xfer_ready(w, err, errlen);
    if (rc != NGX_OK) {
        return (int) rc;
    }

    /*
     * Checked here as xfer would: kept while the multi handle does not
     * exist yet, a bad value would make creating it fail later.
     */

    if (max_streams > 0x7fffffffL
        || pipelining > (XFERPIPE_HTTP1 | XFERPIPE_MULTIPLEX))
    {
        ngx_http_xfer_error(err, errlen, "max_concurrent_streams or "
                            "pipelining out of range");
        return NGX_ERROR;
    }

    /*
     * Only what changes is set: with no transfer added, any limit setopt
     * makes xfer trim the idle connections to 4 x 0 (the MAXCONNECTS
     * default), which would close every keep-alive connection.
     */

    if (ngx_http_xfer_set_limit(w, XFERMOPT_MAX_TOTAL_CONNECTIONS,
                                &w->max_total, max_total) != NGX_OK
        || ngx_http_xfer_set_limit(w, XFERMOPT_MAX_HOST_CONNECTIONS,
                                   &w->max_host, max_host) != NGX_OK
        || ngx_http_xfer_set_limit(w, XFERMOPT_MAXCONNECTS,
                                   &w->maxconnects, maxconnects) != NGX_OK
        || ngx_http_xfer_set_limit(w, XFERMOPT_MAX_CONCURRENT_STREAMS,
                                   &w->max_streams, max_streams) != NGX_OK
        || ngx_http_xfer_set_limit(w, XFERMOPT_PIPELINING,
                                   &w->pipelining, pipelining) != NGX_OK)
    {
        ngx_http_xfer_error(err, errlen, "xfer_multi_setopt() failed");
        return NGX_ERROR;
    }

    /* a raised limit may have started (or failed) waiting transfers */
    ngx_http_xfer_dispatch(w);

    return NGX_OK;
}


static ngx_int_t
ngx_http_xfer_set_limit(ngx_http_xfer_worker_t *w, XFERMoption opt,
    long *cur, long v)
{
    if (v < 0 || v == *cur) {
        return NGX_OK;
    }

    *cur = v;

    if (w->multi != NULL && xfer_multi_setopt(w->multi, opt, v) != XFERM_OK) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* Closes every idle connection (the multi handle is re-created later). */

int
ngx_http_xfer_close_idle(u_char *err, size_t *errlen)
{
    ngx_http_xfer_worker_t  *w;

    w = &ngx_http_xfer_worker;

    if (w->state == NGX_HTTP_XFER_OFF) {
        return NGX_OK;
    }

    if (w->multi == NULL) {
        ngx_http_xfer_pool_free(w);
        return NGX_OK;
    }

    if (w->stats.running > 0) {
        ngx_http_xfer_error(err, errlen, "transfers are running");
        return NGX_DECLINED;
    }

    (void) xfer_multi_cleanup(w->multi);
    w->multi = NULL;

    if (w->timer.timer_set) {
        ngx_del_timer(&w->timer);
    }

    if (w->timer.posted) {
        ngx_delete_posted_event(&w->timer);
    }

    /* the pooled tasks' memory goes back too */
    ngx_http_xfer_pool_free(w);

    return NGX_OK;
}


int
ngx_http_xfer_stats(ngx_http_xfer_stats_t *st)
{
    ngx_http_xfer_worker_t  *w;

    w = &ngx_http_xfer_worker;

    *st = w->stats;
    st->free_connections = (int64_t) ngx_cycle->free_connection_n;
    st->multi = (w->multi != NULL);
    st->timer_set = (w->timer.timer_set || w->timer.posted);
    st->pooled = (int64_t) w->npool;

    return (int) w->state;
}


/* The fds of xfer's sockets (for tests): a walk over every connection. */

int
ngx_http_xfer_fds(int *fds, int n)
{
    int                i;
    ngx_uint_t         k;
    ngx_connection_t  *c;

    c = ngx_cycle->connections;
    i = 0;

    for (k = 0; k < ngx_cycle->connection_n && i < n; k++) {
        if (c[k].fd != (ngx_socket_t) -1
            && c[k].read != NULL
            && c[k].read->handler == ngx_http_xfer_event_handler)
        {
            fds[i++] = c[k].fd;
        }
    }

    return i;
}


const char *
ngx_http_xfer_code_name(int code)
{
    const char  *name;

    name = xfer_easy_codename((XFERcode) code);

    return name ? name : "UNKNOWN";
}


const char *
ngx_http_xfer_strerror(int code)
{
    return xfer_easy_strerror((XFERcode) code);
}
