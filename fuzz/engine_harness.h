/*
 * engine_harness.h -- the whole engine against an in-process HTTP server
 * whose responses come from the fuzzer's bytes.  Used by fuzz/fuzz_engine.c
 * (libFuzzer) and by spec/c/test_fuzz_regress.c (replay of the corpus).
 *
 * Input layout (see engine_harness.c for every bit):
 *   [0]  g0: transfers (1-4), drive mode (socket_action+epoll or
 *        perform+poll), multi limits, cleanup order, socket_all
 *   [1]  g1: a removal from the harness loop (which, when, then what)
 *   [2]  seed of the server's write sizes
 *   [3..18] four option bytes per transfer
 *   [19..] the responses, separated by ENGINE_SEP; each starts with one
 *        control byte (end action, write sizes, cut point), then the bytes
 *        written to the client, where "{P}" becomes the server's port.
 *
 * Everything is single-threaded, bounded in time (ENGINE_BUDGET_MS, env
 * XFER_FUZZ_BUDGET_MS) and cleaned up; no byte leaves the loopback: while a
 * run is active, connect/sendto/sendmsg to anything but the harness's own
 * listener fail with ENETUNREACH.
 */
#ifndef XFER_FUZZ_ENGINE_HARNESS_H
#define XFER_FUZZ_ENGINE_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#define ENGINE_SEP "\r\n~~~\r\n"
#define ENGINE_HDR_LEN 19

/* Runs one input; returns 0 (every invariant broken calls abort()). */
int engine_run(const uint8_t *data, size_t size);

/* Allocation failures (fuzz_engine_oom): when engine_oom_mode is set, API
 * calls may also answer OUT_OF_MEMORY, and engine_oom_active is 1 while
 * the loop drives the engine (setup and cleanup allocate normally). */
extern int engine_oom_mode;
extern volatile int engine_oom_active;

/* Counters over all runs, for the curious (and the regression test). */
struct engine_stats {
  unsigned long runs, transfers, msgs, ok, requests, blocked_connects;
  unsigned long timeouts_hit;   /* runs that ended on the time budget */
  unsigned long stale_easy_in_sockcb; /* POLL_REMOVE naming a handle the
                                         application cleaned up already */
  unsigned long results[128];   /* per XFERcode */
};
extern struct engine_stats engine_stats;

#endif
