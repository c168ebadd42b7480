/*
 * body.c -- the client's ends of the body chains (body.h): the reader of a
 * request body (memory or the read callback) and the writer of a response
 * body (the write callback).  The rules libcurl documents for the
 * callbacks live here, once, whatever protocol moves the bytes.
 */
#include "xfer_int.h"

#include <stdio.h>
#include <string.h>

/* ---- request bodies ---- */

static ssize_t mem_read(struct xfer_reader *r, char *buf, size_t cap,
                        int *eos) {
  size_t n = r->mem_len - (size_t)r->done;
  if (n > cap) n = cap;
  memcpy(buf, r->mem + r->done, n);
  r->done += (xfer_off_t)n;
  *eos = (size_t)r->done == r->mem_len;
  return (ssize_t)n;
}

static int mem_rewind(struct xfer_reader *r) {
  r->done = 0;
  return XFERE_OK;
}

/* The read callback is never asked for more than the announced size leaves
 * (what it gave past it would go out as the start of another request), and
 * an answer larger than the ask fails the transfer (libcurl: READ_ERROR,
 * "funny value"). */
static ssize_t cb_read(struct xfer_reader *r, char *buf, size_t cap,
                       int *eos) {
  XFER *e = r->e;
  XFERM *m = e->multi;
  xfer_read_callback fn = e->set.readfn; /* NULL: fread, as libcurl */
  size_t room = cap, n;
  unsigned run;
  *eos = 0;
  if (r->total >= 0) {
    xfer_off_t left = r->total - r->done;
    if (left <= 0) {
      *eos = 1;
      return 0;
    }
    if (left < (xfer_off_t)room) room = (size_t)left;
  }
  run = xfer__cb_enter(e);
  if (fn) n = fn(buf, 1, room, e->set.readdata);
  else n = fread(buf, 1, room, e->set.readdata ? e->set.readdata : stdin);
  if (xfer__cb_leave(e, m, run)) return -XFERE_ABORTED_BY_CALLBACK;
  if (n == XFER_READFUNC_ABORT) {
    xfer__fail(e, "read callback aborted");
    return -XFERE_ABORTED_BY_CALLBACK;
  }
  if (n == XFER_READFUNC_PAUSE) {
    e->paused |= XFERPAUSE_SEND;
    return XFER_READ_PAUSE;
  }
  if (n > room) {
    xfer__fail(e, "read callback returned %zu, more than the %zu bytes "
               "asked for", n, room);
    return -XFERE_READ_ERROR;
  }
  if (n == 0) {
    if (r->total >= 0) {
      xfer__fail(e, "the read callback ended the upload before its "
                 "announced size");
      return -XFERE_READ_ERROR;
    }
    *eos = 1;
    return 0;
  }
  r->done += (xfer_off_t)n;
  *eos = r->total >= 0 && r->done == r->total;
  return (ssize_t)n;
}

/* As libcurl without a seek callback: xfer's own fread on READDATA seeks
 * its FILE back; any other read callback cannot be rewound once read. */
static int cb_rewind(struct xfer_reader *r) {
  XFER *e = r->e;
  FILE *f = e->set.readdata ? (FILE *)e->set.readdata : stdin;
  if (r->done == 0) return XFERE_OK;
  if (!e->set.readfn && fseek(f, 0, SEEK_SET) == 0) {
    r->done = 0;
    return XFERE_OK;
  }
  xfer__fail(e, "cannot send the request body again: the read callback "
             "cannot be rewound");
  return XFERE_SEND_FAIL_REWIND;
}

static const struct xfer_reader_type mem_reader = {mem_read, mem_rewind};
static const struct xfer_reader_type cb_reader = {cb_read, cb_rewind};

void xfer__reader_client(struct xfer_reader *r, XFER *e, xfer_off_t total) {
  memset(r, 0, sizeof(*r));
  r->e = e;
  r->total = total;
  if (e->set.postfields && !e->set.upload) {
    r->type = &mem_reader;
    r->mem = e->set.postfields;
    r->mem_len = (size_t)total;
  } else {
    r->type = &cb_reader;
  }
}

/* ---- response bodies ---- */

/* The end of every writer chain: the write callback, or fwrite to
 * WRITEDATA (stdout), which must take every byte, or pause (pause.c).
 * MAXFILESIZE counts what comes out of the chain, decoded: a small body
 * that decodes into gigabytes stops at the limit, and no byte past it
 * reaches the application (libcurl 8.20's rule). */
static int client_write(XFER *e, const char *data, size_t len) {
  xfer_off_t max = e->set.max_filesize;
  if (max > 0 && (xfer_off_t)len > max - e->size_out) {
    xfer__fail(e, "Exceeded the maximum file size (%lld bytes, "
               "MAXFILESIZE)", (long long)max);
    return XFERE_FILESIZE_EXCEEDED;
  }
  e->size_out += (xfer_off_t)len;
  return xfer__client_write(e, XFER_PIECE_BODY, data, len);
}

int xfer__body_write(XFER *e, const char *data, size_t len) {
  if (e->writers) return e->writers->type->write(e->writers, data, len);
  return client_write(e, data, len);
}

int xfer__writer_next(struct xfer_writer *w, const char *data, size_t len) {
  if (w->next) return w->next->type->write(w->next, data, len);
  return client_write(w->e, data, len);
}
