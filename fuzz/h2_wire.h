/*
 * h2_wire.h -- HTTP/2 on the wire, for the fuzz harnesses that play the
 * server to xfer's HTTP/2 client (engine_h2.c, the h2 mode of the engine
 * harness, and fuzz_h2frames.c).  No I/O, no xfer: byte streams in,
 * callbacks out.
 *
 *  - h2w_client: reads what the client sends (the preface, then frames)
 *    and checks it is well-formed HTTP/2 from a client: the exact
 *    preface, SETTINGS first, frames of the right sizes on the right
 *    streams, requests on new odd streams in order, header blocks that
 *    decode (HPACK, nghttp2's inflater), DATA only on a stream still
 *    sending.  Requests and DATA go to callbacks, every frame to another.
 *  - h2w_track: reads what the server sends (raw bytes the fuzzer wrote,
 *    in any pieces) the way the client will, and reports each stream's
 *    DATA payload (padding removed) up to its END_STREAM, so that a
 *    harness can compare what a transfer got with what was sent.  Once a
 *    frame is malformed (the client must fail the connection there) it
 *    reports nothing more.
 *  - h2w_compact: builds frames from a compact form (type, flags, stream
 *    selector with a repeat count, 16-bit length, payload), so that the
 *    fuzzer spends its time on payloads rather than on frame headers.
 *
 * Compact frame: [type] [flags] [sel] [len hi] [len lo] [payload...].
 * The payload is len bytes, or what is left of the input.  sel bits 0-3
 * pick the stream id (through the caller's resolver, H2W_SEL_*), bits 4-7
 * a repeat count v: v + 1 for v < 8, else 1 << (v - 3) (32 .. 4096).
 */
#ifndef XFER_FUZZ_H2_WIRE_H
#define XFER_FUZZ_H2_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include <nghttp2/nghttp2.h>

#define H2W_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2W_PREFACE_LEN 24
#define H2W_HDR 9
/* The client's frames are at most this (SETTINGS_MAX_FRAME_SIZE's top). */
#define H2W_FRAME_MAX ((1u << 24) - 1)
/* Streams a harness keeps track of on one connection. */
#define H2W_MAX_STREAMS 64
#define H2W_MAX_FIELDS 128

enum {
  H2W_DATA = 0, H2W_HEADERS = 1, H2W_PRIORITY = 2, H2W_RST_STREAM = 3,
  H2W_SETTINGS = 4, H2W_PUSH_PROMISE = 5, H2W_PING = 6, H2W_GOAWAY = 7,
  H2W_WINDOW_UPDATE = 8, H2W_CONTINUATION = 9
};
#define H2W_F_END_STREAM 0x01
#define H2W_F_ACK 0x01
#define H2W_F_END_HEADERS 0x04
#define H2W_F_PADDED 0x08
#define H2W_F_PRIORITY 0x20

/* Stream selectors of the compact form (sel & 15). */
enum {
  H2W_SEL_ZERO = 0,     /* 0: the connection */
  /* 1..8: the k-th stream the client opened (2k - 1 before it did) */
  H2W_SEL_LAST = 9,     /* the last one the client opened (1: none yet) */
  H2W_SEL_NEXT = 10,    /* the one after it: idle */
  H2W_SEL_EVEN = 11,    /* 2: a server stream, never opened */
  H2W_SEL_MAX = 12      /* 0x7fffffff */
  /* 13..15: as H2W_SEL_LAST */
};

struct h2w_field {
  const uint8_t *name, *value;
  size_t nlen, vlen;
};

/* ---- the client's bytes ---- */

struct h2w_client_cb {
  void *ud;
  /* A request: its header block decoded; end_stream: no body follows. */
  void (*request)(void *ud, uint32_t sid, const struct h2w_field *f,
                  size_t n, int end_stream);
  /* Request body bytes (padding removed); end_stream on the last call of
   * the stream (n may be 0 then). */
  void (*data)(void *ud, uint32_t sid, const uint8_t *p, size_t n,
               int end_stream);
  /* Every frame, after the calls above (payload whole). */
  void (*frame)(void *ud, uint8_t type, uint8_t flags, uint32_t sid,
                const uint8_t *p, size_t n);
};

struct h2w_client {
  struct h2w_client_cb cb;
  size_t preface;              /* preface bytes matched so far */
  int not_h2;                  /* the first bytes were no preface */
  int settings_in;             /* the client's first SETTINGS came */
  uint8_t hd[H2W_HDR];
  size_t hdn;
  uint32_t len, sid;           /* the frame being read */
  uint8_t type, flags;
  uint8_t *buf;                /* its payload */
  size_t got, cap;
  uint8_t *block;              /* a header block across CONTINUATIONs */
  size_t block_len, block_cap;
  uint32_t block_sid;
  int in_block, block_es;
  uint32_t last_sid;           /* the highest stream the client opened */
  uint32_t open[H2W_MAX_STREAMS]; /* streams whose body is still coming */
  int nopen;
  nghttp2_hd_inflater *infl;
  unsigned long frames;
  char err[160];
};

/* 0, or -1 when out of memory. */
int h2w_client_init(struct h2w_client *c, const struct h2w_client_cb *cb);
void h2w_client_free(struct h2w_client *c);
/* Feeds bytes; NULL, or a description of what the client did wrong.
 * When the first bytes are not the preface, c->not_h2 is set, NULL is
 * returned and everything after is ignored (TLS, HTTP/1.1: the caller
 * decides). */
const char *h2w_client_feed(struct h2w_client *c, const uint8_t *p,
                            size_t n);

/* ---- what the server sends ---- */

struct h2w_track_cb {
  void *ud;
  /* DATA payload bytes for a stream (padding removed). */
  void (*data)(void *ud, uint32_t sid, const uint8_t *p, size_t n);
  /* A DATA or HEADERS frame with END_STREAM for sid was sent whole. */
  void (*end)(void *ud, uint32_t sid);
  /* A frame header (type, flags, stream, length) was sent. */
  void (*frame)(void *ud, uint8_t type, uint8_t flags, uint32_t sid,
                uint32_t len);
};

struct h2w_track {
  struct h2w_track_cb cb;
  uint32_t max_frame;          /* the client's SETTINGS_MAX_FRAME_SIZE */
  uint8_t hd[H2W_HDR];
  size_t hdn;
  uint32_t len, sid, pos;      /* the frame, and how far into it */
  uint8_t type, flags;
  uint32_t pad;                /* DATA: padding length; data ends at
                                  len - pad */
  int skip;                    /* this frame reports nothing */
  int in_block;                /* a header block is open (no END_HEADERS
                                  yet): only its CONTINUATIONs may come */
  uint32_t block_sid;
  int broken;                  /* a malformed frame: nothing more counts */
};

void h2w_track_init(struct h2w_track *t, const struct h2w_track_cb *cb);
void h2w_track_feed(struct h2w_track *t, const uint8_t *p, size_t n);

/* ---- building frames ---- */

/* The 9 bytes of a frame header. */
void h2w_frame_hdr(uint8_t *out, uint32_t len, uint8_t type, uint8_t flags,
                   uint32_t sid);

/* Appends frames built from the compact form in[0..n) to *out (grown
 * with realloc; *outlen, *outcap), at most cap bytes in all (frames that
 * would go past it are left out).  The selectors (H2W_SEL_*) name streams
 * among those the client opened: opened(ud, k) gives the k-th (from 1),
 * or 0 when it opened fewer.  0, or -1 when out of memory. */
int h2w_compact(const uint8_t *in, size_t n, uint8_t **out, size_t *outlen,
                size_t *outcap, size_t cap,
                uint32_t (*opened)(void *ud, int k), void *ud);

/* The repeat count of a compact frame's sel byte. */
unsigned h2w_repeat(uint8_t sel);

#endif
