/*
 * body.h -- the body chains.
 *
 * A request body is read through a chain of readers: the client's reader
 * at the bottom (the memory of POSTFIELDS, or the read callback), and
 * whatever a protocol or an encoding puts on top (HTTP/1's chunked
 * framing today; MIME later).  A response body is written through a chain
 * of writers ending in the client's write callback (decoders and pause
 * go in front of it).
 */
#ifndef XFER_BODY_H
#define XFER_BODY_H

#include "xfer.h"

#include <stddef.h>
#include <sys/types.h>

struct xfer_reader;

struct xfer_reader_type {
  /* Up to cap bytes into buf: the count, 0 with *eos set at the end, or
   * -XFERcode (the reason given to the transfer).  Never more than cap. */
  ssize_t (*read)(struct xfer_reader *r, char *buf, size_t cap, int *eos);
  /* Back to the start, for a redirect that sends the body again: 0 or an
   * XFERcode. */
  int (*rewind)(struct xfer_reader *r);
};

struct xfer_reader {
  const struct xfer_reader_type *type;
  struct xfer_reader *next;    /* the reader this one reads from */
  XFER *e;
  xfer_off_t total;            /* the announced size, -1 unknown */
  xfer_off_t done;             /* bytes handed out so far */
  const char *mem;             /* a body in memory (zero-copy), or NULL */
  size_t mem_len;
};

/* The client's reader for e's body: POSTFIELDS from memory, else the read
 * callback (or fread on READDATA), total bytes announced (-1: unknown). */
void xfer__reader_client(struct xfer_reader *r, XFER *e, xfer_off_t total);

static inline ssize_t xfer__reader_read(struct xfer_reader *r, char *buf,
                                        size_t cap, int *eos) {
  return r->type->read(r, buf, cap, eos);
}

/* A reader's result besides a count and -XFERcode: nothing now, the
 * client paused sending (XFER_READFUNC_PAUSE). */
#define XFER_READ_PAUSE (-100000)

/* Results of a writer besides 0 and an XFERcode. */
#define XFER_WRITE_PAUSE (-1) /* took nothing: offer it again later */

struct xfer_writer;

struct xfer_writer_type {
  /* len bytes of the body: 0 when all were taken, or an XFERcode (the
   * reason given to the transfer). */
  int (*write)(struct xfer_writer *w, const char *data, size_t len);
  void (*close)(struct xfer_writer *w);
};

struct xfer_writer {
  const struct xfer_writer_type *type;
  struct xfer_writer *next;    /* where this one writes; NULL: the client */
  XFER *e;
};

/* Writes body bytes through e's writers to the client's write callback.
 * 0, or an XFERcode: XFERE_ABORTED_BY_CALLBACK when the callback removed
 * or cleaned up its handle (stop touching it), XFERE_WRITE_ERROR when it
 * took fewer bytes than given. */
int xfer__body_write(XFER *e, const char *data, size_t len);
/* What a writer calls to pass bytes on to the one after it. */
int xfer__writer_next(struct xfer_writer *w, const char *data, size_t len);

#endif
