/*
 * h2fault.h -- what the two halves of the HTTP/2 fault server share:
 * h2fault.c (the loop, sockets, TLS, the output buffer and raw frames)
 * and h2fault_routes.c (nghttp2's callbacks and the routes).
 */
#ifndef H2FAULT_H
#define H2FAULT_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <nghttp2/nghttp2.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#define MAX_FRAME 16384 /* the smallest SETTINGS_MAX_FRAME_SIZE: always ok */

struct tag { int kind; void *p; };

struct buf { uint8_t *d; size_t off, len, cap; };

/* After a raw job: */
enum {
  THEN_NOTHING,
  THEN_DATA_X,  /* DATA "x" + END_STREAM, then RST NO_ERROR through nghttp2 */
  THEN_CLOSE,   /* no more output from nghttp2; FIN once all is out */
  THEN_DEAF     /* no more output, no more reading; close on client's close */
};

/* Frames nghttp2 is not asked to write, on one stream. */
struct raw {
  int on, plain;   /* plain: blk is ready-made bytes, written as they are */
  int32_t sid;
  uint8_t *blk;    /* a header block, framed as HEADERS + CONTINUATIONs */
  size_t len, off;
  int hflags;      /* flags of the HEADERS frame besides END_HEADERS */
  int end_headers; /* 0: the block is never ended (the flood) */
  uint32_t flood;  /* empty CONTINUATIONs still to write */
  int then;
};

struct strm {
  struct strm *prev, *next;
  struct conn *c;
  int32_t id;
  int route, head;
  char method[24];
  char *path;          /* :path as received */
  char *authority;     /* :authority as received, or NULL */
  struct buf echo;     /* /echo: "name: value\n" lines so far */
  EVP_MD_CTX *sha;     /* /echo: of the request body */
  uint64_t body_in;
  char *body;          /* response body (owned), or NULL: the pattern */
  uint64_t total, sent;
  int trailers;        /* /trailers */
  int no_end;          /* /rst-after-headers: no END_STREAM after the body */
  int deferred;        /* the data provider said DEFERRED */
  uint32_t credit;     /* /slow: bytes it may send now */
  unsigned ms;         /* /slow: the tick; /ping-idle: the idle wait */
  uint64_t tick_at;    /* /slow: next tick (0: none) */
  int gw_wait;         /* /goaway: 1 waits, 2 is served */
};

struct conn {
  struct tag tag;
  struct conn *prev, *next;
  unsigned id;
  int fd, ms1, dead;
  uint32_t events;         /* the epoll interest set now */
  SSL *ssl;
  int hs_done;
  int ssl_ww, ssl_wr;      /* OpenSSL waits for writability; SSL_write for
                              readability */
  nghttp2_session *h2;
  struct strm *streams;
  struct buf out;          /* all output, nghttp2's and raw, in wire order */
  uint8_t fh[9];           /* the frame tracker of nghttp2's output */
  int fh_n, in_block, preface_out;
  size_t f_left;
  struct raw raw;
  int kill;                /* close at once, discarding output (/close) */
  int mute;                /* nghttp2's output is no longer written */
  int close_after_flush;
  int deaf, draining, again;
  uint64_t until;          /* deaf/draining: close at the latest then */
  int gw_after, gw_n, gw_done;
  uint64_t gw_at;          /* /goaway: GOAWAY at the latest then */
  uint64_t ping_at;        /* /ping-idle: PING then */
};

/* h2fault.c */
void h2f_dbg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t h2f_now(void);
int h2f_buf_add(struct buf *b, const void *p, size_t n);
void h2f_buf_free(struct buf *b);
void h2f_frame_hdr(struct buf *b, size_t len, uint8_t type, uint8_t flags,
                   int32_t sid);
void h2f_conn_io(struct conn *c, uint32_t ev);

/* h2fault_routes.c */
void h2f_set_callbacks(nghttp2_session_callbacks *cb);
void h2f_strm_free(struct strm *s);
int h2f_conn_timers(struct conn *c, uint64_t now); /* 1: something fired */

#endif
