/*
 * xfer_uv.h -- the built-in event loop: drives a multi handle on a libuv
 * loop through xfer.h's public socket and timer callbacks only, the way
 * libcurl's docs/examples/multi-uv.c drives curl_multi_socket_action.
 *
 * Two ways to use it:
 *   - xfer_uv_attach() installs xfer_uv's own callbacks on the multi handle;
 *   - an owner that keeps its own callbacks installed (the Lua binding does,
 *     to track sockets across drivers) forwards them to xfer_uv_socket_cb()
 *     and xfer_uv_timer_cb() with the xfer_uv as the data pointer.
 * xfer_uv never calls socket_action from inside the timer callback: it arms
 * a uv timer (0 ms included), which calls socket_action from the loop.
 */
#ifndef XFER_UV_H
#define XFER_UV_H

#include <uv.h>

#include "xfer.h"

typedef struct xfer_uv xfer_uv;

/* Called for each finished transfer (its info_read message), from the loop
 * and outside every xfer callback: the callee may remove, clean up or add
 * easy handles. */
typedef void (*xfer_uv_done_cb)(XFER *easy, XFERcode result, void *data);

/* A driver for multi on loop; installs nothing yet.  NULL when out of
 * memory or when the uv timer cannot be made. */
xfer_uv *xfer_uv_new(uv_loop_t *loop, XFERM *multi);

/* Installs xfer_uv_socket_cb/xfer_uv_timer_cb (data: d) on the multi
 * handle.  Returns an XFERMcode. */
int xfer_uv_attach(xfer_uv *d);

/* The two callbacks, for an owner that forwards to them (data: the
 * xfer_uv).  The socket callback ignores socketp: xfer_uv keeps its own
 * table by fd, so the application's xfer_multi_assign stays its own. */
int xfer_uv_socket_cb(XFER *easy, xfer_socket_t s, int what, void *d,
                      void *socketp);
int xfer_uv_timer_cb(XFERM *multi, long timeout_ms, void *d);

/* Sets the done callback; NULL (the default) leaves messages for
 * xfer_multi_info_read. */
void xfer_uv_on_done(xfer_uv *d, xfer_uv_done_cb cb, void *data);

/* Drives the multi handle until no transfer is running (and the done
 * callback, if any, has seen every message), or until xfer_uv_stop.
 * Starts with a timer run, so transfers added before the call start.
 * Returns 0, an XFERMcode (> 0) from socket_action, or a libuv error
 * (< 0) from watching a socket.  Must not be called from inside the loop. */
int xfer_uv_run(xfer_uv *d);

/* Makes xfer_uv_run return soon; events already seen are left for the
 * next run (the next run starts with a timer run). */
void xfer_uv_stop(xfer_uv *d);

/* Stops watching every socket, closes the uv handles and frees d once
 * libuv has closed them: the loop must run again (uv_run) for that.  With
 * xfer_uv_attach'ed callbacks, removes them from the multi handle first
 * (which must not be inside one of its callbacks then). */
void xfer_uv_close(xfer_uv *d);

#endif /* XFER_UV_H */
