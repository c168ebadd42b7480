/*
 * engine_input.h -- the input format of the engine harness (fuzz_engine,
 * fuzz_engine_oom after its mode byte, spec/c/test_fuzz_regress.c), and
 * its decoding (engine_input.c).  engine_harness.c gives the bits their
 * effect; this is where they are written down.
 *
 * THE RULE FOR NEW OPTIONS.  The committed corpora (fuzz/corpus/fuzz_engine*)
 * and the regression inputs (fuzz/regress/fuzz_engine*) must keep their
 * meaning forever, so:
 *  - a bit that has a meaning never changes it, and is never reused;
 *  - a new option takes a reserved bit of the extension block (below),
 *    chosen so that 0 means "as before" (the option off, or left at the
 *    harness's default).  An input without the block, or with a shorter
 *    one, reads as all zero there, so it means what it always meant;
 *  - a multi-bit field is read the same way: value 0 is "as before";
 *  - when the block is full, new bytes go after its last defined byte
 *    (ENGINE_EXT_LEN grows; absent bytes read as 0), never in between;
 *  - mark the bits as defined (ENGINE_XG_DEFINED / ENGINE_XT_DEFINED in
 *    engine_input.c) and document them here and in fuzz/README.md;
 *  - committed inputs leave every reserved bit at 0 (test_fuzz_regress
 *    checks it with engine_input_reserved(): a bit that is ignored today
 *    would change the input's meaning the day it is given one).  Clear
 *    such bits in a fuzzer-found input before committing it.
 *
 * Layout (ENGINE_HDR_LEN bytes, then segments):
 *  [0] g0: bits 0-1 transfers - 1; bit 2 perform+poll (else socket_action
 *      with epoll); bit 3 MAX_HOST_CONNECTIONS 1; bit 4
 *      MAX_TOTAL_CONNECTIONS 2; bit 5 MAXCONNECTS 1; bit 6 multi_cleanup
 *      before removing the handles; bit 7 socket_all every 4th iteration
 *      (socket mode) or xfer_multi_wait instead of poll (perform mode).
 *  [1] g1: bits 0-1 which transfer the loop removes; bits 2-5 at which
 *      iteration (0: none); bit 6 then easy_cleanup it (else re-add it at
 *      the next iteration); bit 7 raise the multi limits at that iteration.
 *  [2] g2: bits 0-4 seed of the write sizes; bit 5 socket_action with an
 *      empty event mask; bits 6-7: 3 the timer callback fails on its 4th
 *      call, 2 the socket callback fails on its 3rd (not a REMOVE).
 *  [3+4i .. 6+4i]: transfer i's option bytes a, b, c, d (i = 0..3, all
 *      four present whatever the number of transfers).
 *   a: bit 0 NOBODY; 1 POSTFIELDS; 2 FOLLOWLOCATION (MAXREDIRS 2);
 *      3 TIMEOUT_MS 20; 4 LOW_SPEED_* and a progress callback;
 *      5 a header callback; 6 FORBID_REUSE; 7 FAILONERROR.
 *   b: bits 0-2 what one callback does, once: 0 nothing, 1 return short
 *      (read: end the body early), 2 remove its handle, 3 remove and clean
 *      it up, 4 remove and re-add it, 5 remove and clean up the next
 *      transfer, 6 clean up its handle (not removed first), 7 fail
 *      (XFER_WRITEFUNC_ERROR, XFER_READFUNC_ABORT, progress 1); bits 3-4
 *      on which call (1, 2, 3, 6); bits 5-6 which callback: write, header,
 *      read, progress; bit 7 FRESH_CONNECT.
 *   c: bits 0-1 a body from the read callback: 1 POST of a known size,
 *      2 POST of unknown size (chunked), 3 PUT (UPLOAD) of a known size;
 *      bits 2-3 the read callback misbehaves on call k (bits 3-4 of b):
 *      1 abort, 2 more than asked, 3 ends before the size; bit 4 a big
 *      body (100000 bytes: POSTFIELDS then goes apart from the head);
 *      bit 5 header tweaks (USERAGENT, "Accept:" removes, "X-Empty;",
 *      User-Agent replaced); bit 6 CUSTOMREQUEST "PATCH"; bit 7 the server
 *      answers as soon as the head is in (before the body), and small
 *      socket buffers (SO_SNDBUF on the client socket in socket mode,
 *      SO_RCVBUF on the listener).
 *   d: bits 0-1 the URL: 0 http://127.0.0.1:P/, 1 http://localhost:P/,
 *      2 http://u:p@h1.test:P/ (RESOLVE, and a Cookie header),
 *      3 https://127.0.0.1:P/; bit 2 MAXREDIRS -1 (with FOLLOWLOCATION);
 *      bit 3 IPRESOLVE V4; bit 4 DNS_CACHE_TIMEOUT 0; bit 5 TCP_KEEPALIVE;
 *      bit 6 a header with a control byte (the transfer must fail before
 *      sending anything); bit 7 no ERRORBUFFER.
 *  [19..]: segments separated by ENGINE_SEP.  A segment that starts with
 *      ENGINE_EXT_MARK is the extension block (below); every other one is
 *      a response, in order (at most ENGINE_MAX_RESP; later ones are
 *      ignored): control byte c, then the bytes.  An empty segment is an
 *      empty response with c = 0.
 *      c bits 0-1: after writing: 0 keep the connection for the next
 *      request, 1 close, 2 reset (SO_LINGER 0), 3 stall (write nothing
 *      more); bits 2-4: write sizes (0 all at once, k: 1..2^(k+1) bytes);
 *      bits 5-7: cut at len*k/8: the close/reset/stall happens there, or
 *      for "keep" a 5 ms pause.  "{P}" in the bytes becomes the port.
 *      The n-th request gets response n mod count (at most 32 requests).
 *
 * The extension block: ENGINE_EXT_MARK, then up to ENGINE_EXT_LEN bytes;
 * missing bytes are 0, and without the block every one of them is 0.  It
 * may be any segment (first, last, between responses); only the first
 * one counts, a further one is reserved (ignored).  Bytes past
 * ENGINE_EXT_LEN are reserved (ignored).
 *  [0..3]   x-global bytes xg0..xg3.
 *   xg0: HTTP/2 (0: HTTP/1.1 as before; engine_h2.c).
 *       bit 0 h2 mode: every transfer sets HTTP_VERSION
 *       2_PRIOR_KNOWLEDGE and PIPEWAIT 1, the multi handle
 *       MAX_HOST_CONNECTIONS 1 (one connection carries them all); the
 *       server speaks HTTP/2 and the segments are its script (below);
 *       bit 1 (h2 mode) the harness sends a valid server preface first,
 *       once the client's preface is in: SETTINGS, then the ACK of the
 *       client's SETTINGS; bits 2-3 what that SETTINGS holds: 0 nothing,
 *       1 MAX_CONCURRENT_STREAMS 1, 2 INITIAL_WINDOW_SIZE 16,
 *       3 HEADER_TABLE_SIZE 0 and MAX_HEADER_LIST_SIZE 64;
 *       bit 4 (h2 mode) no drain: the run ends with the connections as
 *       they are (else, after the loop, the server closes every
 *       connection and the listener, and every transfer that is not
 *       paused must get its message within 200 ms);
 *       bits 5-7 reserved.
 *   xg1..xg3: reserved.
 *  [4+8i .. 11+8i]: transfer i's extension bytes x0..x7.
 *   x0: bit 0 HTTPGET 1, after every other option (back to a plain GET:
 *       no body, the read callback never called, CUSTOMREQUEST kept);
 *       bit 1 with POSTFIELDS (a bit 1): COPYPOSTFIELDS instead, from a
 *       heap copy the harness overwrites and frees at once;
 *       bits 2-3 REDIR_PROTOCOLS_STR: 0 not set, 1 "http", 2 "HTTPS",
 *       3 "" (no redirect at all); bit 4 UNRESTRICTED_AUTH;
 *       bits 5-6 CONNECTTIMEOUT(_MS): 0 not set, 1 1 ms, 2 10 ms,
 *       3 CONNECTTIMEOUT 1 (s); bit 7 reserved.
 *   x1: pause (0: the transfer is never paused, as before).
 *       bits 0-1 which callback pauses, once: 0 none, 1 the write
 *       callback returns XFER_WRITEFUNC_PAUSE, 2 the header callback
 *       returns XFER_WRITEFUNC_PAUSE (the harness then installs one),
 *       3 the read callback returns XFER_READFUNC_PAUSE (only with a
 *       read callback); bits 2-3 on which call of it (1, 2, 3, 6);
 *       bits 4-5 who unpauses (XFERPAUSE_CONT): 0 the harness loop at its
 *       next iteration, 1 a callback (write, header, read, progress) of
 *       another transfer (the loop when no other one is running), 2 the
 *       next socket or timer callback (the loop in perform mode), 3
 *       nobody: it stays paused until the end, then is removed.  For 1
 *       and 2, if the run goes idle first (25 ms without an event), the
 *       loop unpauses;
 *       bit 6 the loop calls xfer_easy_pause on it (x2 says how and
 *       when), and XFERPAUSE_CONT later;
 *       bit 7 rate limits (x3 bits 0-1 say which).
 *   x2: the loop's pause (used only with x1 bit 6): bits 0-1 the
 *       mask: 0 XFERPAUSE_ALL, 1 XFERPAUSE_RECV, 2 XFERPAUSE_SEND,
 *       3 XFERPAUSE_RECV, then XFERPAUSE_SEND instead, then CONT;
 *       bits 2-4 at iteration 1 + v; bits 5-7 CONT 2^v iterations later.
 *   x3: bits 0-1 (used only with x1 bit 7) the limits:
 *       0 MAX_RECV_SPEED_LARGE and MAX_SEND_SPEED_LARGE 16000 B/s, 1 only
 *       MAX_RECV_SPEED_LARGE 4000, 2 only MAX_SEND_SPEED_LARGE 4000, 3 both
 *       1 B/s (one allowance, then a wait past the budget);
 *       bit 2 the pausing callback (x1 bits 0-1) calls xfer_easy_pause
 *       on its own handle (RECV or SEND, added to what it has) and takes
 *       the bytes, instead of returning the PAUSE value;
 *       bit 3 again: after each unpause the next call of that callback
 *       pauses again (at most 4 pauses in a run);
 *       bits 4-7 reserved.
 *       Like x0 bit 1, a bit that refines another does nothing without
 *       it (x1 bits 2-5 and x3 bits 2-3 without x1 bits 0-1).
 *   x4..x7: reserved.
 *
 * The h2 script (xg0 bit 0).  Each segment that is not the extension
 * block is a step, played in order on each of the first 6 connections
 * (later ones are closed at once); no step starts before the client's
 * preface and SETTINGS are in.  Step: control byte c, then the bytes.
 *  c bits 0-1 after the step: 0 go on with the next one (after the last,
 *      the connection stays as it is), 1 close, 2 reset (SO_LINGER 0),
 *      3 stall (nothing more on this connection);
 *    bit 2: the bytes go out as they are (raw); else they are compact
 *      frames (h2_wire.h): [type] [flags] [sel] [len hi] [len lo]
 *      [payload: len bytes or what is left], sel bits 0-3 the stream
 *      (0 none; 1..8 the k-th stream the client opened on the
 *      connection, 2k-1 before it did; 9 the last one it opened; 10 the
 *      one after that; 11 stream 2; 12 0x7fffffff; 13..15 as 9), sel
 *      bits 4-7 a repeat count v (v + 1 for v < 8, else 2^(v-3));
 *    bits 3-4: write sizes (0 all at once, v: pieces of 1..4^v bytes);
 *    bits 5-7: what the step waits for: 0 nothing; 1..4 the client has
 *      opened that many streams on the connection; 5 every stream it
 *      opened has its request whole (END_STREAM or RST_STREAM); 6 5 ms;
 *      7 a frame from the client since the previous step began.  A wait
 *      gives up after 10 ms.
 *  "{P}" is not replaced.  HPACK blocks are the script's own (the seeds
 *  in fuzz/gen_corpus.py have hand-made ones).
 *
 * Example (gen_corpus.py writes it): the 19 bytes, "HTTP/1.1 ..." as
 * response 0, then ENGINE_SEP "EXT1" 00 00 00 00 01: transfer 0 with
 * HTTPGET.
 */
#ifndef XFER_FUZZ_ENGINE_INPUT_H
#define XFER_FUZZ_ENGINE_INPUT_H

#include <stddef.h>
#include <stdint.h>

#define ENGINE_SEP "\r\n~~~\r\n"
#define ENGINE_HDR_LEN 19
#define ENGINE_MAX_TX 4
#define ENGINE_MAX_RESP 32

/* The extension block: marker, global bytes, then per transfer. */
#define ENGINE_EXT_MARK "EXT1"
#define ENGINE_EXT_GLOBAL 4
#define ENGINE_EXT_PER_TX 8
#define ENGINE_EXT_LEN (ENGINE_EXT_GLOBAL + ENGINE_MAX_TX * ENGINE_EXT_PER_TX)

/* xg0: HTTP/2. */
#define EXG0_H2 0x01                 /* h2 mode */
#define EXG0_H2_PREFACE 0x02         /* the harness sends the preface */
#define EXG0_H2_SETTINGS_SHIFT 2     /* 2 bits: what the preface sets */
#define EXG0_H2_NO_DRAIN 0x10        /* no closing and no lost check */

/* x0 of a transfer. */
#define EX0_HTTPGET 0x01
#define EX0_COPYPOSTFIELDS 0x02
#define EX0_REDIR_SHIFT 2            /* 2 bits: REDIR_PROTOCOLS_STR */
#define EX0_UNRESTRICTED_AUTH 0x10
#define EX0_CONNECTTIMEOUT_SHIFT 5   /* 2 bits: CONNECTTIMEOUT(_MS) */

/* x1 of a transfer: pause. */
#define EX1_PAUSER_MASK 0x03         /* 0 none, 1 write, 2 header, 3 read */
#define EX1_CALL_SHIFT 2             /* 2 bits: on call 1, 2, 3, 6 */
#define EX1_UNPAUSER_SHIFT 4         /* 2 bits: loop, other, sock/timer, never */
#define EX1_LOOP_PAUSE 0x40          /* x2 */
#define EX1_RATE 0x80                /* x3 bits 0-1 */
/* x2: the loop's pause. */
#define EX2_MASK_MASK 0x03           /* ALL, RECV, SEND, RECV then SEND */
#define EX2_AT_SHIFT 2               /* 3 bits: iteration 1 + v */
#define EX2_CONT_SHIFT 5             /* 3 bits: CONT 2^v iterations later */
/* x3. */
#define EX3_RATE_MASK 0x03           /* which limits (with EX1_RATE) */
#define EX3_API_PAUSE 0x04           /* xfer_easy_pause from the callback */
#define EX3_AGAIN 0x08               /* pause again after each unpause */

struct engine_resp {
  const uint8_t *p;  /* into the input */
  size_t len;
  uint8_t ctl;
};

struct engine_tx_input {
  uint8_t a, b, c, d;                /* the header's option bytes */
  uint8_t x[ENGINE_EXT_PER_TX];      /* extension bytes, 0 when absent */
};

struct engine_input {
  uint8_t g0, g1, g2;
  uint8_t xg[ENGINE_EXT_GLOBAL];     /* extension bytes, 0 when absent */
  struct engine_tx_input tx[ENGINE_MAX_TX];
  int ntx;                           /* transfers run: (g0 & 3) + 1 */
  struct engine_resp resp[ENGINE_MAX_RESP];
  int nresp;
  /* The extension block as found (for engine_input_reserved). */
  int ext;                           /* a block was there */
  const uint8_t *ext_more;           /* its bytes past ENGINE_EXT_LEN */
  size_t ext_more_len;
  int ext_again;                     /* further blocks (reserved) */
};

/* Decodes an input; -1 when it is too short to be one (no header). */
int engine_input_decode(struct engine_input *in, const uint8_t *data,
                        size_t size);

/* 0 when the input uses no reserved bit, else 1 with a description in
 * why (at most cap bytes). */
int engine_input_reserved(const struct engine_input *in, char *why,
                          size_t cap);

#endif
