/*
 * engine_harness.h -- the whole engine against an in-process HTTP server
 * whose responses come from the fuzzer's bytes.  Used by fuzz/fuzz_engine.c
 * (libFuzzer), fuzz/fuzz_engine_oom.c and spec/c/test_fuzz_regress.c (replay
 * of the corpus).
 *
 * Input format (every byte and bit: engine_input.h; engine_input.c
 * decodes it):
 *   [0..2]  g0..g2: transfers (1-4), drive mode, multi limits, cleanup
 *           order, a removal from the harness loop, the write-size seed
 *   [3..18] four option bytes a, b, c, d per transfer (all four present)
 *   [19..]  segments separated by ENGINE_SEP: the responses (a control
 *           byte, then the bytes; "{P}" becomes the server's port), and
 *           optionally one extension block (a second is reserved): a
 *           segment with ENGINE_EXT_MARK ("EXT1") first, then 4 global
 *           bytes and 8 bytes x0..x7 per transfer.  It may be any
 *           segment and is never a response; bytes it lacks, or all of
 *           them without it, are 0.
 *
 * Room for new options: the 19 bytes have no bit to spare, so new options
 * take reserved bits of the extension block, with 0 meaning "as before"
 * (not set / the harness's default).  A bit never changes its meaning;
 * the block grows at its end; committed inputs (fuzz/corpus/fuzz_engine*,
 * fuzz/regress/fuzz_engine*) keep reserved bits at 0, which
 * spec/c/test_fuzz_regress.c checks.  So an input decodes the same with
 * every later harness (XFER_FUZZ_SUMMARY=1 prints what it decodes to).
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

#include "engine_input.h"

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
  unsigned long ext_runs;       /* inputs with an extension block */
  unsigned long ext_setopts;    /* setopts made for extension bits */
  unsigned long body_requests;  /* requests with Content-Length or chunks */
  unsigned long creds_elsewhere; /* requests with the transfer's Cookie or
                                    Authorization to another host */
  unsigned long stale_easy_in_sockcb; /* POLL_REMOVE naming a handle the
                                         application cleaned up already */
  /* Pause (x1..x3 of the extension block). */
  unsigned long pauses;         /* a callback returned *_PAUSE */
  unsigned long api_pauses;     /* xfer_easy_pause from a callback */
  unsigned long loop_pauses;    /* xfer_easy_pause from the loop */
  unsigned long unpauses;       /* XFERPAUSE_CONT calls (all of them) */
  unsigned long unpauses_cb;    /* ... from another transfer's callback */
  unsigned long unpauses_sock;  /* ... from the socket/timer callback */
  unsigned long unpauses_idle;  /* ... from the loop, idle (theirs never
                                   came) */
  unsigned long refused_again;  /* refused bytes that came back whole */
  unsigned long left_paused;    /* transfers paused at the end of a run */
  unsigned long bodies_checked; /* OK bodies compared with the served */
  unsigned long rate_checked;   /* OK transfers under a receive limit */
  /* HTTP/2 mode (xg0 bit 0). */
  unsigned long h2_runs;        /* runs in h2 mode */
  unsigned long h2_conns;       /* connections the h2 server accepted */
  unsigned long h2_requests;    /* HTTP/2 requests it decoded */
  unsigned long h2_bodies_checked; /* OK bodies compared with the DATA */
  unsigned long results[128];   /* per XFERcode */
};
extern struct engine_stats engine_stats;

#endif
