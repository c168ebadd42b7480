
/*
 * ngx_http_xfer.h -- shared by the two files of the xfer nginx module:
 * ngx_http_xfer_module.c (the worker's multi handle inside nginx's event
 * loop) and ngx_http_xfer_task.c (transfers, their buffers, and the
 * semaphores that wake Lua).  The "FFI API" block below is what
 * lua/xfer/ngx.lua declares with ffi.cdef: keep the two in step.
 * Nothing here includes Lua headers; no Lua runs inside this module.
 */


#ifndef _NGX_HTTP_XFER_H_INCLUDED_
#define _NGX_HTTP_XFER_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>

#include <xfer.h>


typedef struct ngx_http_xfer_group_s  ngx_http_xfer_group_t;
typedef struct ngx_http_xfer_task_s   ngx_http_xfer_task_t;


/*
 * What the woken light thread reads through FFI (lua/xfer/ngx.lua).  The
 * fields from effective_url on are set only for a run started with
 * NGX_HTTP_XFER_WANT_INFO.
 */
typedef struct {
    int                       code;           /* XFERcode, 0 = success */
    int                       index;          /* the caller's number */
    long                      status;         /* RESPONSE_CODE */
    long                      http_version;   /* XFERINFO_HTTP_VERSION */
    const u_char             *body;
    size_t                    body_len;
    const u_char             *head;           /* the last header block */
    size_t                    head_len;
    const char               *error;          /* "" on success */
    const char               *effective_url;
    const char               *primary_ip;
    long                      primary_port;
    long                      local_port;
    long                      redirect_count;
    long                      num_connects;
    long                      ssl_verifyresult;
    int64_t                   size_download;
    int64_t                   size_upload;
    int64_t                   content_length_download;
    int64_t                   total_time;     /* microseconds */
    int64_t                   queue_time;
    int64_t                   namelookup_time;
    int64_t                   connect_time;
    int64_t                   appconnect_time;
    int64_t                   pretransfer_time;
    int64_t                   starttransfer_time;
    long                      http_connectcode; /* the proxy's to CONNECT */
    long                      proxy_error;    /* XFERPX_*, with XFERE_PROXY */
} ngx_http_xfer_result_t;


typedef struct {
    int64_t                   started;        /* transfers added */
    int64_t                   completed;      /* finished by xfer */
    int64_t                   cancelled;      /* freed by Lua while running */
    int64_t                   aborted;        /* failed by a worker shutdown */
    int64_t                   posts;          /* semaphore posts */
    int64_t                   running;        /* transfers in the multi */
    int64_t                   sockets;        /* nginx connections in use */
    int64_t                   groups;         /* live groups */
    int64_t                   graveyard;      /* freed, semaphore not yet */
    int64_t                   free_connections;
    int64_t                   multi;          /* 1: the multi handle exists */
    int64_t                   timer_set;      /* 1: xfer's timer is armed */
    int64_t                   pooled;         /* finished tasks kept */
    int64_t                   reused;         /* tasks taken from the pool */
    int64_t                   streams;        /* streamed responses open */
    int64_t                   stream_held;    /* bytes in their windows */
    int64_t                   stream_held_max; /* the most ever held */
    int64_t                   stream_pauses;  /* times a window was full */
    int64_t                   body_pieces;    /* request body pieces fed */
    int64_t                   action_max_us;  /* the longest socket_action
                                                 and its dispatch: how long
                                                 xfer held the loop */
} ngx_http_xfer_stats_t;


/* ngx_http_lua_module's semaphore functions, found with dlsym(). */
typedef int (*ngx_http_xfer_sema_new_pt)(void **psem, int n, char **errmsg);
typedef int (*ngx_http_xfer_sema_post_pt)(void *sem, int n);
typedef void (*ngx_http_xfer_sema_gc_pt)(void *sem);


#define NGX_HTTP_XFER_OFF      0   /* not set up yet in this process */
#define NGX_HTTP_XFER_READY    1   /* transfers may start */
#define NGX_HTTP_XFER_CLOSED   2   /* aborted by worker_shutdown_timeout */
#define NGX_HTTP_XFER_EXITED   3   /* exit_process has run */


typedef struct {
    ngx_uint_t                state;
    XFERM                    *multi;          /* created on first use */
    ngx_event_t               timer;          /* xfer's one timer */
    ngx_event_t               reaper;         /* releases dead semaphores */
    ngx_queue_t               groups;         /* live groups */
    ngx_queue_t               graveyard;      /* freed groups, see reaper */
    ngx_queue_t               pool;           /* tasks to reuse, LIFO */
    ngx_uint_t                npool;
    ngx_log_t                *log;

    ngx_http_xfer_sema_new_pt   sema_new;
    ngx_http_xfer_sema_post_pt  sema_post;
    ngx_http_xfer_sema_gc_pt    sema_gc;

    long                      max_total;      /* multi options, kept so */
    long                      max_host;       /* that a re-created multi */
    long                      maxconnects;    /* handle gets them again */
    long                      max_streams;    /* MAX_CONCURRENT_STREAMS */
    long                      pipelining;     /* XFERPIPE_* */

    ngx_http_xfer_stats_t     stats;
} ngx_http_xfer_worker_t;


struct ngx_http_xfer_group_s {
    ngx_queue_t               queue;          /* worker groups/graveyard */
    ngx_queue_t               tasks;          /* every task of the group */
    ngx_queue_t               done;           /* finished, not taken yet */
    void                     *sema;           /* ngx_http_lua_sema_t * */
    ngx_uint_t                notified;       /* posted since last take */
    ngx_uint_t                running;        /* tasks in the multi */
    ngx_uint_t                wait_all;       /* post when none runs */
    ngx_http_xfer_task_t     *task;           /* a streamed/fed request */
    ngx_pool_cleanup_t       *cln;            /* on the request's pool */
    ngx_uint_t                bound;          /* had a request (cln) */
};


#define NGX_HTTP_XFER_TASK_NEW      0
#define NGX_HTTP_XFER_TASK_RUNNING  1
#define NGX_HTTP_XFER_TASK_DONE     2

/* ngx_http_xfer_task_start() flags: what the caller will read. */
#define NGX_HTTP_XFER_WANT_INFO     1   /* every field of the result */
#define NGX_HTTP_XFER_WANT_HEADERS  2   /* the last header block */
#define NGX_HTTP_XFER_STREAM        4   /* a window, read while it runs */

/*
 * A streamed response is held in a window of at most this many bytes (one
 * piece from xfer may pass it when the window is empty); a piece that
 * does not fit pauses the transfer (XFER_WRITEFUNC_PAUSE), and reading the
 * window down to half resumes it.
 */
#define NGX_HTTP_XFER_WINDOW        (256 * 1024)

/* ngx_http_xfer_group_poll(): what a streaming/feeding waiter can do. */
#define NGX_HTTP_XFER_EV_HEAD       1   /* the final header block is in */
#define NGX_HTTP_XFER_EV_DATA       2   /* the window holds bytes */
#define NGX_HTTP_XFER_EV_BODY       4   /* the request body wants a piece */
#define NGX_HTTP_XFER_EV_DONE       8   /* the transfer has finished */
#define NGX_HTTP_XFER_EV_GONE       16  /* the request ended: cancelled */

/*
 * At most this many finished tasks (each with its easy handle and its
 * buffers) are kept for reuse; a buffer is kept only up to KEEP_BUF.
 */
#define NGX_HTTP_XFER_POOL_MAX      1024
#define NGX_HTTP_XFER_KEEP_BUF      (16 * 1024)


typedef struct {
    u_char                   *data;
    size_t                    len;
    size_t                    size;
} ngx_http_xfer_buf_t;


/*
 * A task keeps its easy handle for its whole life, and goes back to the
 * worker's pool when Lua frees it.  The handle's options are then either
 * the defaults plus the fixed ones (PRIVATE, WRITEFUNCTION, ...) and the
 * "sticky" ones below, whose values are remembered and only set again when
 * they change (an unchanged URL keeps xfer's parse of it), or, when any
 * other option was set ("dirty"), the handle is reset.
 *
 * Tasks are 64-byte aligned, and what a run touches from start to free is
 * in the first two cache lines and the first line of res: with hundreds of
 * transfers in flight a task is cold again by the time its response comes.
 */

struct ngx_http_xfer_task_s {
    XFER                     *easy;
    ngx_http_xfer_group_t    *group;
    ngx_http_xfer_buf_t       body;
    size_t                    max_body;
    long                      timeout_ms;     /* TIMEOUT_MS's value, -1: ? */
    unsigned                  state:2;
    unsigned                  flags:3;        /* this run's WANT_*, STREAM */
    unsigned                  in_done:1;
    unsigned                  too_large:1;
    unsigned                  dirty:1;        /* reset before reuse */
    unsigned                  url_given:1;    /* set for this run */
    unsigned                  timeout_given:1;
    unsigned                  head_cb:1;      /* HEADERFUNCTION is set */
    unsigned                  stuck:1;        /* not removed: never reused */

    /* a streamed response (STREAM) and a request body fed from Lua */
    unsigned                  head_ready:1;   /* the final header block */
    unsigned                  recv_paused:1;  /* the window was full */
    unsigned                  send_paused:1;  /* the read cb had nothing */
    unsigned                  want_body:1;    /* Lua should feed a piece */
    unsigned                  body_fed:1;     /* READFUNCTION is ours */
    unsigned                  up_eof:1;       /* the last piece is in */
    unsigned                  follow:1;       /* FOLLOWLOCATION */
    unsigned                  fail_4xx:1;     /* FAILONERROR */
    unsigned                  saw_location:1; /* in this header block */

    ngx_queue_t               all;            /* group->tasks, or the pool */
    ngx_queue_t               link;           /* group->done */
    ngx_http_xfer_buf_t       head;
    struct xfer_slist        *headers;        /* HTTPHEADER, owned here */

    ngx_http_xfer_result_t    res;
    struct xfer_slist        *resolve;        /* RESOLVE, owned here */
    struct xfer_slist        *proxyheader;    /* PROXYHEADER, owned here */
    char                      errbuf[XFER_ERROR_SIZE];

    /* streams and fed bodies only: off the buffered path's cache lines */
    long                      blk_status;     /* this header block's */
    size_t                    off;            /* body read up to here */
    ngx_http_xfer_buf_t       up;             /* request body piece */
    size_t                    up_off;         /* sent up to here */
};


extern ngx_http_xfer_worker_t  ngx_http_xfer_worker;


/* ngx_http_xfer_module.c */
ngx_int_t ngx_http_xfer_ready(ngx_http_xfer_worker_t *w, u_char *err,
    size_t *errlen);
XFERM *ngx_http_xfer_multi(ngx_http_xfer_worker_t *w);
void ngx_http_xfer_dispatch(ngx_http_xfer_worker_t *w);

/* ngx_http_xfer_task.c */
void ngx_http_xfer_task_finish(ngx_http_xfer_worker_t *w,
    ngx_http_xfer_task_t *t, XFERcode code, const char *reason);
void ngx_http_xfer_abort_all(ngx_http_xfer_worker_t *w, const char *reason);
void ngx_http_xfer_release_semas(ngx_http_xfer_worker_t *w);
void ngx_http_xfer_reaper_handler(ngx_event_t *ev);
void ngx_http_xfer_pool_free(ngx_http_xfer_worker_t *w);
ngx_int_t ngx_http_xfer_buf_append(ngx_http_xfer_buf_t *b, const char *p,
    size_t n);
void ngx_http_xfer_notify(ngx_http_xfer_worker_t *w,
    ngx_http_xfer_group_t *g);

/* ngx_http_xfer_stream.c: streamed responses, bodies fed from Lua */
size_t ngx_http_xfer_stream_write(ngx_http_xfer_task_t *t, char *ptr,
    size_t n);
void ngx_http_xfer_stream_header(ngx_http_xfer_task_t *t, const char *ptr,
    size_t n);
size_t ngx_http_xfer_read_cb(char *buf, size_t size, size_t nitems,
    void *data);
void ngx_http_xfer_repause(ngx_http_xfer_task_t *t);
void ngx_http_xfer_stream_drop(ngx_http_xfer_task_t *t);
void ngx_http_xfer_group_cleanup(void *data);


/* FFI API: called from lua/xfer/ngx.lua. */
int ngx_http_xfer_configure(long max_total, long max_host, long maxconnects,
    long max_streams, long pipelining, u_char *err, size_t *errlen);
int ngx_http_xfer_close_idle(u_char *err, size_t *errlen);
int ngx_http_xfer_stats(ngx_http_xfer_stats_t *st);
int ngx_http_xfer_fds(int *fds, int n);
const char *ngx_http_xfer_code_name(int code);
const char *ngx_http_xfer_strerror(int code);

ngx_http_xfer_group_t *ngx_http_xfer_group_new(u_char *err, size_t *errlen);
void *ngx_http_xfer_group_sema(ngx_http_xfer_group_t *g);
int ngx_http_xfer_group_take(ngx_http_xfer_group_t *g,
    ngx_http_xfer_task_t **done, int n, int wait_all);
void ngx_http_xfer_group_free(ngx_http_xfer_group_t *g);

ngx_http_xfer_task_t *ngx_http_xfer_task_new(ngx_http_xfer_group_t *g,
    int index);
int ngx_http_xfer_option_at(int i, const char **name, int *id, int *type);
int ngx_http_xfer_task_setopt_str(ngx_http_xfer_task_t *t, int opt,
    const char *v, size_t len);
int ngx_http_xfer_task_setopt_long(ngx_http_xfer_task_t *t, int opt,
    long v);
int ngx_http_xfer_task_append(ngx_http_xfer_task_t *t, int opt,
    const char *v, size_t len);
int ngx_http_xfer_task_body(ngx_http_xfer_task_t *t, const char *p,
    size_t len);
int ngx_http_xfer_task_start(ngx_http_xfer_task_t *t, size_t max_body,
    int flags);
const ngx_http_xfer_result_t *ngx_http_xfer_task_result(
    ngx_http_xfer_task_t *t);
void ngx_http_xfer_task_free(ngx_http_xfer_task_t *t);

int ngx_http_xfer_task_body_reader(ngx_http_xfer_task_t *t, int64_t size);
void ngx_http_xfer_group_bind(ngx_http_xfer_group_t *g,
    ngx_http_request_t *r);
int ngx_http_xfer_group_poll(ngx_http_xfer_group_t *g, int want);
ngx_http_xfer_task_t *ngx_http_xfer_group_task(ngx_http_xfer_group_t *g);
size_t ngx_http_xfer_group_read(ngx_http_xfer_group_t *g,
    const u_char **p, size_t max);
int ngx_http_xfer_group_feed(ngx_http_xfer_group_t *g, const char *p,
    size_t len, int eof);


#endif /* _NGX_HTTP_XFER_H_INCLUDED_ */
