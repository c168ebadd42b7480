/*
 * drive.h -- a small event loop for the fuzz targets that bring their own
 * in-process server (fuzz_engine_tls, fuzz_request): it drives one multi
 * handle, with socket_action from epoll (the socket and timer callbacks)
 * or with perform + poll (the server's fds as extra fds), and hands the
 * server's fds their events in the same loop.  Single-threaded.
 *
 * fuzz_engine's own harness (engine_harness.c) has a richer loop (handles
 * removed and re-added from callbacks, callbacks that fail, socket_all);
 * this one only keeps the API contract it relies on: every message for an
 * added handle, once; the running count right; REMOVE only for an
 * announced socket, none left after multi_cleanup.
 */
#ifndef XFER_FUZZ_DRIVE_H
#define XFER_FUZZ_DRIVE_H

#include <stdint.h>

#include "fuzz_util.h" /* FZ_CHECK */
#include "xfer.h"

#define DRV_MAX_FD 4096
#define DRV_MAX_SRV 32
#define DRV_MAX_TX 8

enum { DRV_IN = 1, DRV_OUT = 2 };

struct drv {
  XFERM *m;
  int perform;                 /* 1: perform + poll; 0: socket_action */
  int epfd;
  /* the engine's sockets (socket callback) */
  uint8_t reg[DRV_MAX_FD];
  uint32_t gen[DRV_MAX_FD];
  int nreg;
  int timer_set;
  uint64_t timer_at;
  /* the server's fds */
  int srv_fd[DRV_MAX_SRV];
  unsigned srv_want[DRV_MAX_SRV];
  /* the transfers */
  XFER *tx[DRV_MAX_TX];
  int ntx, done[DRV_MAX_TX];
  /* the owner's */
  void *ud;
  void (*on_fd)(void *ud, int fd, unsigned events);
  void (*on_done)(void *ud, int idx, XFERcode result);
  uint64_t wake_at;            /* the server's next timer (us), 0: none */
  void (*on_wake)(void *ud, uint64_t now);
  uint64_t last_event;
};

uint64_t drv_now(void);
int drv_count_fds(void);
/* A listening socket on 127.0.0.1:0 (a small receive buffer when asked);
 * returns it and sets *port, or -1. */
int drv_listen(int small_rcvbuf, uint16_t *port);

/* A multi handle in the mode asked; callbacks set up for socket_action. */
void drv_init(struct drv *d, int perform, void *ud);
/* Adds a transfer (its index in d->tx is its number for on_done). */
int drv_add(struct drv *d, XFER *e);
/* Watches (or with want 0 forgets) a server fd. */
void drv_watch(struct drv *d, int fd, unsigned want);
/* Runs until every transfer has its message, nothing happened for
 * quiet_ms (and no timer of the engine or the server is due within the
 * budget), or budget_ms passed. */
void drv_run(struct drv *d, unsigned budget_ms, unsigned quiet_ms);
/* Removes and cleans up every transfer and the multi handle (in one of
 * two orders), checks that no socket is left announced. */
void drv_cleanup(struct drv *d, int multi_first);

#endif
