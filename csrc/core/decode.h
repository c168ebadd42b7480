/*
 * decode.h -- content decoding (Content-Encoding: gzip, deflate, br, zstd),
 * libcurl's ACCEPT_ENCODING and HTTP_CONTENT_DECODING.
 *
 * The decoders are writers (body.h) put in front of the write callback
 * when a response's header section ends, one per coding, the last one
 * applied first.  They are protocol-neutral: HTTP/1.1 and HTTP/2 hand the
 * body to the same chain (xfer__resp_body).  Memory is bounded whatever
 * the body's size: a fixed output buffer per coding, and what a pause or
 * the fair-scheduling bound leaves undecoded (see decode.c).  decode.c is
 * the only file that includes the zlib, brotli and zstd headers.
 */
#ifndef XFER_DECODE_H
#define XFER_DECODE_H

#include "xfer.h"

#include <stddef.h>

/* Stacked codings a response may name (libcurl's limit): more fail with
 * BAD_CONTENT_ENCODING, so a hostile header cannot make a chain of
 * thousands of decoders. */
#define XFER_CE_MAX 5

/* The codings (XFER.ce). */
enum {
  XFER_CE_GZIP = 1,
  XFER_CE_DEFLATE,
  XFER_CE_BR,
  XFER_CE_ZSTD,
  XFER_CE_UNKNOWN   /* fails with the first body byte, as libcurl */
};

/* What ACCEPT_ENCODING "" sends: every coding built in (libcurl's list,
 * in its order). */
#define XFER_CE_ALL "deflate, gzip, br, zstd"

/* A Content-Encoding field of the response's header section: its codings
 * are noted on e, in order ("identity" is none). */
void xfer__ce_field(XFER *e, const char *value, size_t vlen);
/* A new header section begins (a status line): forget what was noted. */
void xfer__ce_reset(XFER *e);
/* The final header section is complete and a body follows: the decoders
 * its codings need go in front of the write callback, when this request
 * decodes.  0, or an XFERcode (the reason given to e). */
int xfer__decode_start(XFER *e);
/* After a pause, or when the bound of a turn stopped decoding: decodes
 * what the decoders hold, as far as the application takes it now.  0 or
 * an XFERcode. */
int xfer__decode_drain(XFER *e);
/* The body is complete: a coded stream cut short fails (BAD_CONTENT_
 * ENCODING).  0 or the XFERcode. */
int xfer__decode_finish(XFER *e);
/* The decoders go (end of a request or a run); safe from inside them. */
void xfer__decode_free(XFER *e);

#endif
