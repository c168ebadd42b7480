
/*
 * ngx_http_xfer_stream.c -- streamed responses and request bodies fed from
 * Lua, beside the buffered tasks of ngx_http_xfer_task.c.
 *
 * A streamed response (stream = true in Lua) goes through a window of at
 * most NGX_HTTP_XFER_WINDOW bytes: a full window pauses the transfer
 * (XFER_WRITEFUNC_PAUSE), reading it down resumes it.  A request body from
 * a Lua function is fed a piece at a time, and sending pauses
 * (XFER_READFUNC_PAUSE) while there is none.  Such a request is bound to
 * the nginx request that made it, so the request's end cancels it.
 */


#include "ngx_http_xfer.h"


/*
 * A streamed response: the window is t->body, read from t->off.  A piece
 * that does not fit while the window holds anything is refused with
 * XFER_WRITEFUNC_PAUSE (xfer delivers it again, first, on unpause), so
 * the window never holds more than NGX_HTTP_XFER_WINDOW, or one piece.
 */

size_t
ngx_http_xfer_stream_write(ngx_http_xfer_task_t *t, char *ptr, size_t n)
{
    size_t                   held;
    ngx_http_xfer_worker_t  *w;

    w = &ngx_http_xfer_worker;
    held = t->body.len - t->off;

    if (n > t->max_body - t->res.size_download) {
        t->too_large = 1;
        return 0;
    }

    if (held > 0 && held + n > NGX_HTTP_XFER_WINDOW) {
        if (!t->recv_paused) {
            t->recv_paused = 1;
            w->stats.stream_pauses++;
        }

        return XFER_WRITEFUNC_PAUSE;
    }

    if (t->off > 0) {
        ngx_memmove(t->body.data, t->body.data + t->off, held);
        t->body.len = held;
        t->off = 0;
    }

    if (ngx_http_xfer_buf_append(&t->body, ptr, n) != NGX_OK) {
        return 0;
    }

    /* bytes received so far (res is written in full only when it ends) */
    t->res.size_download += n;

    /* a body means the headers before it were the final ones */
    t->head_ready = 1;

    w->stats.stream_held += n;
    if (w->stats.stream_held > w->stats.stream_held_max) {
        w->stats.stream_held_max = w->stats.stream_held;
    }

    ngx_http_xfer_notify(w, t->group);

    return n;
}


/*
 * The final header block is in when its empty line comes and it is
 * neither a 1xx, nor a redirect that xfer follows, nor an error status
 * that FAILONERROR turns into a failure (the failure then wakes the
 * waiter).
 */

void
ngx_http_xfer_stream_header(ngx_http_xfer_task_t *t, const char *ptr,
    size_t n)
{
    long   st;

    if (n >= 5 && ngx_strncmp(ptr, "HTTP/", 5) == 0) {
        t->saw_location = 0;
        t->blk_status = 0;

        while (n > 0 && *ptr != ' ') {
            ptr++;
            n--;
        }

        if (n >= 4) {
            t->blk_status = ngx_atoi((u_char *) ptr + 1, 3);
        }

        return;
    }

    if (n >= 9 && ngx_strncasecmp((u_char *) ptr, (u_char *) "location:", 9)
                  == 0)
    {
        t->saw_location = 1;
        return;
    }

    if (t->head_ready || !(ptr[0] == '\n' || (n == 2 && ptr[0] == '\r'))) {
        return;
    }

    st = t->blk_status;

    if (st < 200
        || (t->follow && t->saw_location
            && (st == 301 || st == 302 || st == 303 || st == 307
                || st == 308))
        || (t->fail_4xx && st >= 400))
    {
        return;
    }

    t->head_ready = 1;
    ngx_http_xfer_notify(&ngx_http_xfer_worker, t->group);
}


/*
 * A request body fed from Lua: the piece in t->up goes out; when it is
 * used up, Lua is asked for the next one at once (so that it is there by
 * the next call), and a call that finds nothing pauses sending until
 * ngx_http_xfer_group_feed() brings a piece.
 */

size_t
ngx_http_xfer_read_cb(char *buf, size_t size, size_t nitems, void *data)
{
    size_t                 n, room;
    ngx_http_xfer_task_t  *t;

    t = data;
    room = size * nitems;
    n = t->up.len - t->up_off;

    if (n > 0) {
        if (n > room) {
            n = room;
        }

        ngx_memcpy(buf, t->up.data + t->up_off, n);
        t->up_off += n;

        if (t->up_off == t->up.len) {
            t->up.len = 0;
            t->up_off = 0;

            if (!t->up_eof && !t->want_body) {
                t->want_body = 1;
                ngx_http_xfer_notify(&ngx_http_xfer_worker, t->group);
            }
        }

        return n;
    }

    if (t->up_eof) {
        return 0;
    }

    if (!t->want_body) {
        t->want_body = 1;
        ngx_http_xfer_notify(&ngx_http_xfer_worker, t->group);
    }

    t->send_paused = 1;

    return XFER_READFUNC_PAUSE;
}


/* The pause bits this task still needs, after one of them was lifted. */

void
ngx_http_xfer_repause(ngx_http_xfer_task_t *t)
{
    if (t->state != NGX_HTTP_XFER_TASK_RUNNING) {
        return;
    }

    /* takes effect through xfer's timer: no callback runs from here */
    (void) xfer_easy_pause(t->easy,
                           (t->recv_paused ? XFERPAUSE_RECV : 0)
                           | (t->send_paused ? XFERPAUSE_SEND : 0));
}





/* What a streamed task holds goes out of the counters; the run is over. */

void
ngx_http_xfer_stream_drop(ngx_http_xfer_task_t *t)
{
    ngx_http_xfer_worker_t  *w;

    if (!(t->flags & NGX_HTTP_XFER_STREAM)) {
        return;
    }

    w = &ngx_http_xfer_worker;

    w->stats.stream_held -= t->body.len - t->off;
    w->stats.streams--;

    t->body.len = 0;
    t->off = 0;
    t->flags &= ~NGX_HTTP_XFER_STREAM;
}


/*
 * The request body comes from Lua, a piece at a time (read callback,
 * ngx_http_xfer_group_feed()): POST unless CUSTOMREQUEST says otherwise,
 * size bytes with Content-Length, or chunked when size is -1 (xfer also
 * takes the size from a Content-Length request header).
 */

int
ngx_http_xfer_task_body_reader(ngx_http_xfer_task_t *t, int64_t size)
{
    XFERcode  rc;

    if (t->state != NGX_HTTP_XFER_TASK_NEW || size < -1) {
        return XFERE_BAD_FUNCTION_ARGUMENT;
    }

    t->dirty = 1;

    rc = xfer_easy_setopt(t->easy, XFEROPT_POST, 1L);
    if (rc == XFERE_OK) {
        rc = xfer_easy_setopt(t->easy, XFEROPT_POSTFIELDSIZE_LARGE,
                              (xfer_off_t) size);
    }

    if (rc == XFERE_OK) {
        rc = xfer_easy_setopt(t->easy, XFEROPT_READFUNCTION,
                              ngx_http_xfer_read_cb);
    }

    if (rc == XFERE_OK) {
        rc = xfer_easy_setopt(t->easy, XFEROPT_READDATA, t);
    }

    if (rc != XFERE_OK) {
        return rc;
    }

    t->body_fed = 1;
    t->up.len = 0;
    t->up_off = 0;
    t->group->task = t;

    return XFERE_OK;
}


/*
 * Ties a group to the nginx request (or ngx.timer's fake request) that
 * made it: when that request's pool goes, whatever the group still runs
 * is cancelled and its memory given back, even if Lua never closes the
 * reader or the collector takes its time.  The group itself stays until
 * Lua frees it (its cdata may still be referenced); every later call on it
 * reports NGX_HTTP_XFER_EV_GONE.
 */

void
ngx_http_xfer_group_bind(ngx_http_xfer_group_t *g, ngx_http_request_t *r)
{
    ngx_pool_cleanup_t  *cln;

    if (g->cln != NULL || r == NULL || r->pool == NULL) {
        return;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return;
    }

    cln->handler = ngx_http_xfer_group_cleanup;
    cln->data = g;

    g->cln = cln;
    g->bound = 1;
}


void
ngx_http_xfer_group_cleanup(void *data)
{
    ngx_http_xfer_task_t   *t;
    ngx_http_xfer_group_t  *g;

    g = data;
    g->cln = NULL;

    while (!ngx_queue_empty(&g->tasks)) {
        t = ngx_queue_data(ngx_queue_head(&g->tasks), ngx_http_xfer_task_t,
                           all);
        ngx_http_xfer_task_free(t);
    }
}


/*
 * What the waiter of a streamed or fed request can do now (EV_* bits).
 * None of want: the next event posts the semaphore, so the caller waits.
 */

int
ngx_http_xfer_group_poll(ngx_http_xfer_group_t *g, int want)
{
    int                    ev;
    ngx_http_xfer_task_t  *t;

    t = g->task;

    if (t == NULL) {
        return g->bound ? NGX_HTTP_XFER_EV_GONE : NGX_HTTP_XFER_EV_DONE;
    }

    ev = 0;

    if (t->state == NGX_HTTP_XFER_TASK_DONE) {
        ev |= NGX_HTTP_XFER_EV_DONE;

    } else if (t->want_body && !t->up_eof) {
        ev |= NGX_HTTP_XFER_EV_BODY;
    }

    if (t->flags & NGX_HTTP_XFER_STREAM) {
        if (t->state == NGX_HTTP_XFER_TASK_DONE) {
            /*
             * task_finish() has set status and head.  A failure after the
             * headers is the reader's to report, after what came before.
             */
            if (t->head_ready || t->res.code == XFERE_OK) {
                ev |= NGX_HTTP_XFER_EV_HEAD;
            }

        } else if (t->head_ready) {
            ev |= NGX_HTTP_XFER_EV_HEAD;

            t->res.status = t->blk_status;
            (void) xfer_easy_getinfo(t->easy, XFERINFO_HTTP_VERSION,
                                     &t->res.http_version);
            t->res.head = t->head.data;
            t->res.head_len = t->head.len;
        }

        if (t->body.len > t->off) {
            ev |= NGX_HTTP_XFER_EV_DATA;
        }
    }

    if (!(ev & want)) {
        g->notified = 0;
    }

    return ev;
}


ngx_http_xfer_task_t *
ngx_http_xfer_group_task(ngx_http_xfer_group_t *g)
{
    return g->task;
}


/*
 * Up to max bytes of the window (0: all it holds); *p stays valid until
 * the next call into this module for the group.  Reading the window down
 * to half its size resumes a paused transfer.
 */

size_t
ngx_http_xfer_group_read(ngx_http_xfer_group_t *g, const u_char **p,
    size_t max)
{
    size_t                   n;
    ngx_http_xfer_task_t    *t;
    ngx_http_xfer_worker_t  *w;

    t = g->task;

    if (t == NULL || !(t->flags & NGX_HTTP_XFER_STREAM)) {
        return 0;
    }

    w = &ngx_http_xfer_worker;
    n = t->body.len - t->off;

    if (max > 0 && n > max) {
        n = max;
    }

    *p = t->body.data + t->off;
    t->off += n;
    w->stats.stream_held -= n;

    if (t->recv_paused
        && t->body.len - t->off <= NGX_HTTP_XFER_WINDOW / 2)
    {
        t->recv_paused = 0;
        ngx_http_xfer_repause(t);
    }

    return n;
}


/*
 * The next piece of a fed request body (copied); eof: the last one.  A
 * transfer that waited for it resumes sending.
 */

int
ngx_http_xfer_group_feed(ngx_http_xfer_group_t *g, const char *p, size_t len,
    int eof)
{
    size_t                 held;
    ngx_http_xfer_task_t  *t;

    t = g->task;

    if (t == NULL || !t->body_fed || t->up_eof) {
        return XFERE_BAD_FUNCTION_ARGUMENT;
    }

    held = t->up.len - t->up_off;

    if (t->up_off > 0) {
        ngx_memmove(t->up.data, t->up.data + t->up_off, held);
        t->up.len = held;
        t->up_off = 0;
    }

    if (len > 0 && ngx_http_xfer_buf_append(&t->up, p, len) != NGX_OK) {
        return XFERE_OUT_OF_MEMORY;
    }

    ngx_http_xfer_worker.stats.body_pieces++;

    t->want_body = 0;

    if (eof) {
        t->up_eof = 1;
    }

    if (t->send_paused) {
        t->send_paused = 0;
        ngx_http_xfer_repause(t);
    }

    return XFERE_OK;
}
