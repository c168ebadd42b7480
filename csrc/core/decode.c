/*
 * decode.c -- the content decoders (decode.h): gzip and deflate through
 * zlib, br through libbrotli, zstd through libzstd.  The only file that
 * includes their headers.
 *
 * Each coding is a stage: a writer (body.h) with its library's state and
 * an output buffer.  A stage decodes what it is given one buffer at a time
 * and passes each piece to the writer after it (the next stage, or the
 * write callback).  It stops, keeping the undecoded rest of its input,
 * when receiving is blocked (the application paused on a piece: pause.c
 * holds that one piece, and nothing is decoded ahead of the application),
 * or when the pieces of this turn reach DECODE_BUDGET (a small body can
 * decode into gigabytes: the fair-scheduling bound counts decoded bytes
 * too).  What a stage keeps is what the protocol handed over while it was
 * stopped: at most one read (HTTP/1.1) or the stream's window (HTTP/2),
 * like pause.c's held pieces, under the same bound.  xfer__decode_drain
 * goes on from there, the stage nearest the application first, so bytes
 * arrive in order and no input is decoded twice.
 *
 * Memory is bounded whatever the body: zlib's window is 32 KiB, brotli's
 * at most 16 MiB (the format's limit), zstd's is capped at 8 MiB (RFC
 * 9659's limit for HTTP; a frame asking for more is refused), and each
 * stage has one OUT_SIZE buffer.
 */
#include "xfer_int.h"
#include "decode.h"

#include <brotli/decode.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A decoded piece: the largest a write callback gets undecoded too
 * (XFER_RECVBUF_SIZE), so decoding costs no extra calls into Lua. */
#define OUT_SIZE XFER_RECVBUF_SIZE
/* Decoded bytes a transfer delivers in one turn (driving call): four
 * times the wire's bound, since a text body decodes to 3 to 10 times its
 * size; past it, the rest waits for the next timer run. */
#define DECODE_BUDGET (4 * XFER_EVENT_BUDGET)
#define ZSTD_WINDOW_LOG_MAX 23   /* 8 MiB */
/* What zlib is given at once (its counts are 32-bit). */
#define ZLIB_IN_MAX (1u << 30)

enum { FAULT = -1, NOMEM = -2 };

static const char *const coding_names[] = {"", "gzip", "deflate", "br",
                                           "zstd", "unknown"};

struct stage {
  struct xfer_writer w;        /* first: the chain's link */
  struct xfer_decoding *d;
  int coding;                  /* XFER_CE_* */
  unsigned started : 1;        /* out and the library's state are set up */
  unsigned inflating : 1;      /* z is initialised */
  unsigned ended : 1;          /* the coded stream is complete */
  unsigned got : 1;            /* input arrived */
  unsigned stalled : 1;        /* stopped: pend (and maybe output inside
                                  the library) waits for a drain */
  unsigned more : 1;           /* the library may hold output */
  unsigned char hdr[2];        /* deflate: the first two bytes tell a zlib
                                  stream from a raw one */
  unsigned nhdr, hdr_left;     /* bytes of hdr read, and not yet inflated */
  z_stream z;
  BrotliDecoderState *br;
  ZSTD_DCtx *zs;
  char *pend;                  /* input kept while stopped */
  size_t pend_len, pend_cap;
  char *out;
};

struct xfer_decoding {
  XFER *e;
  int n;
  int busy;                    /* frames inside the chain */
  unsigned orphan : 1;         /* freed: the last frame out frees it */
  struct stage st[XFER_CE_MAX]; /* st[0] is nearest the application */
};

/* ---- the codings noted from the header section ---- */

static int coding_of(const char *t, size_t n) {
  static const struct { const char *name; int coding; } known[] = {
    {"gzip", XFER_CE_GZIP}, {"x-gzip", XFER_CE_GZIP},
    {"deflate", XFER_CE_DEFLATE}, {"br", XFER_CE_BR},
    {"zstd", XFER_CE_ZSTD}, {"identity", 0}};
  size_t i;
  for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
    if (strlen(known[i].name) == n &&
        xfer__strcasecmp_n(t, known[i].name, n) == 0)
      return known[i].coding;
  return XFER_CE_UNKNOWN;
}

void xfer__ce_reset(XFER *e) {
  e->nce = 0;
  e->ce_over = 0;
  e->ce_bad[0] = 0;
}

void xfer__ce_field(XFER *e, const char *v, size_t vlen) {
  size_t i = 0;
  while (i < vlen) {
    size_t a, b;
    int c;
    while (i < vlen && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
    a = i;
    while (i < vlen && v[i] != ',') i++;
    b = i;
    while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t')) b--;
    if (b == a || !(c = coding_of(v + a, b - a))) continue;
    if (e->nce == XFER_CE_MAX) {
      e->ce_over = 1;
      return;
    }
    if (c == XFER_CE_UNKNOWN && !e->ce_bad[0]) {
      size_t n = b - a < sizeof(e->ce_bad) - 1 ? b - a : sizeof(e->ce_bad) - 1;
      memcpy(e->ce_bad, v + a, n);
      e->ce_bad[n] = 0;
    }
    e->ce[e->nce++] = (unsigned char)c;
  }
}

/* ---- one step of a library ---- */

/* RFC 1950: a zlib stream starts with CM 8, a window of at most 32 KiB
 * and a header check that is a multiple of 31.  Servers that send raw
 * deflate for "deflate" exist (libcurl reads them too): anything else is
 * taken for that. */
static int zlib_header(const unsigned char h[2]) {
  return (h[0] & 0x0f) == 8 && (h[0] >> 4) <= 7 &&
         ((unsigned)h[0] << 8 | h[1]) % 31 == 0;
}

static ssize_t zlib_step(struct stage *s, const char **in, size_t *len,
                         const char **why) {
  z_stream *z = &s->z;
  const char *src = *in;
  size_t avail = *len, taken;
  int rc;
  if (!s->inflating) {
    int bits = 16 + MAX_WBITS; /* gzip */
    if (s->coding == XFER_CE_DEFLATE) {
      while (s->nhdr < 2 && *len) {
        s->hdr[s->nhdr++] = (unsigned char)**in;
        (*in)++;
        (*len)--;
      }
      if (s->nhdr < 2) return 0;
      bits = zlib_header(s->hdr) ? MAX_WBITS : -MAX_WBITS;
      s->hdr_left = 2;
    }
    memset(z, 0, sizeof(*z));
    if (inflateInit2(z, bits) != Z_OK) return NOMEM;
    s->inflating = 1;
  }
  if (s->hdr_left) { /* the bytes that chose the kind go in first */
    src = (const char *)s->hdr + 2 - s->hdr_left;
    avail = s->hdr_left;
  } else if (s->ended) {
    /* RFC 1952 2.2: a gzip body may be several members; after the end
     * of any other stream nothing may follow. */
    if (s->coding != XFER_CE_GZIP) {
      *why = "data after the end of the stream";
      return FAULT;
    }
    if (inflateReset(z) != Z_OK) return NOMEM;
    s->ended = 0;
  }
  if (avail > ZLIB_IN_MAX) avail = ZLIB_IN_MAX;
  z->next_in = (Bytef *)src;
  z->avail_in = (uInt)avail;
  z->next_out = (Bytef *)s->out;
  z->avail_out = OUT_SIZE;
  rc = inflate(z, Z_NO_FLUSH);
  taken = avail - z->avail_in;
  if (src == *in) {
    *in += taken;
    *len -= taken;
  } else {
    s->hdr_left -= (unsigned)taken;
  }
  if (rc == Z_STREAM_END) {
    s->ended = 1;
  } else if (rc == Z_MEM_ERROR) {
    return NOMEM;
  } else if (rc != Z_OK && rc != Z_BUF_ERROR) { /* Z_BUF_ERROR: no room */
    *why = z->msg ? z->msg : "corrupt data";
    return FAULT;
  }
  return (ssize_t)(OUT_SIZE - z->avail_out);
}

static ssize_t br_step(struct stage *s, const char **in, size_t *len,
                       const char **why) {
  size_t ain = *len, aout = OUT_SIZE;
  const uint8_t *nin = (const uint8_t *)*in;
  uint8_t *nout = (uint8_t *)s->out;
  BrotliDecoderResult r;
  if (s->ended) {
    *why = "data after the end of the stream";
    return FAULT;
  }
  r = BrotliDecoderDecompressStream(s->br, &ain, &nin, &aout, &nout, NULL);
  *in += *len - ain;
  *len = ain;
  if (r == BROTLI_DECODER_RESULT_ERROR) {
    BrotliDecoderErrorCode c = BrotliDecoderGetErrorCode(s->br);
    if (c <= BROTLI_DECODER_ERROR_ALLOC_CONTEXT_MODES &&
        c >= BROTLI_DECODER_ERROR_ALLOC_BLOCK_TYPE_TREES)
      return NOMEM;
    *why = BrotliDecoderErrorString(c);
    return FAULT;
  }
  if (r == BROTLI_DECODER_RESULT_SUCCESS) {
    s->ended = 1;
    if (ain) {
      *why = "data after the end of the stream";
      return FAULT;
    }
  }
  return (ssize_t)(OUT_SIZE - aout);
}

static ssize_t zstd_step(struct stage *s, const char **in, size_t *len,
                         const char **why) {
  ZSTD_inBuffer ib;
  ZSTD_outBuffer ob;
  size_t r;
  ib.src = *in;
  ib.size = *len;
  ib.pos = 0;
  ob.dst = s->out;
  ob.size = OUT_SIZE;
  ob.pos = 0;
  r = ZSTD_decompressStream(s->zs, &ob, &ib);
  if (ZSTD_isError(r)) {
    if (ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation) return NOMEM;
    *why = ZSTD_getErrorName(r);
    return FAULT;
  }
  *in += ib.pos;
  *len -= ib.pos;
  /* 0: a frame is complete and flushed.  More frames may follow (RFC
   * 8878 allows several); a body must not end inside one. */
  s->ended = r == 0;
  return (ssize_t)ob.pos;
}

/* Decodes some of *in (advanced past what was taken) into s->out: the
 * bytes made, or FAULT with *why set, or NOMEM. */
static ssize_t step(struct stage *s, const char **in, size_t *len,
                    const char **why) {
  /* At a stream's end with nothing more: nothing to do (zstd would start
   * looking for another frame and forget that it had ended). */
  if (s->ended && !*len && !s->hdr_left) return 0;
  switch (s->coding) {
  case XFER_CE_GZIP:
  case XFER_CE_DEFLATE: return zlib_step(s, in, len, why);
  case XFER_CE_BR: return br_step(s, in, len, why);
  default: return zstd_step(s, in, len, why);
  }
}

/* ---- a stage ---- */

static int begin(struct stage *s) {
  if (!(s->out = malloc(OUT_SIZE))) return XFERE_OUT_OF_MEMORY;
  if (s->coding == XFER_CE_BR) {
    if (!(s->br = BrotliDecoderCreateInstance(NULL, NULL, NULL)))
      return XFERE_OUT_OF_MEMORY;
  } else if (s->coding == XFER_CE_ZSTD) {
    if (!(s->zs = ZSTD_createDCtx())) return XFERE_OUT_OF_MEMORY;
    /* A frame's window is the decoder's memory: the frame says how much. */
    if (ZSTD_isError(ZSTD_DCtx_setParameter(s->zs, ZSTD_d_windowLogMax,
                                            ZSTD_WINDOW_LOG_MAX)))
      return XFERE_OUT_OF_MEMORY;
  }
  s->started = 1;
  return XFERE_OK;
}

/* The stage's library state and buffers (the writer's close). */
static void stage_close(struct xfer_writer *w) {
  struct stage *s = (struct stage *)w;
  if (s->inflating) inflateEnd(&s->z);
  if (s->br) BrotliDecoderDestroyInstance(s->br);
  if (s->zs) ZSTD_freeDCtx(s->zs);
  free(s->out);
  free(s->pend);
  s->inflating = 0;
  s->br = NULL;
  s->zs = NULL;
  s->out = s->pend = NULL;
}

static void destroy(struct xfer_decoding *d) {
  int i;
  for (i = 0; i < d->n; i++) stage_close(&d->st[i].w);
  free(d);
}

/* A frame leaves the chain: the last one out frees a chain freed
 * meanwhile (its transfer ended from a callback). */
static int leave(struct xfer_decoding *d, int rc) {
  if (--d->busy == 0 && d->orphan) destroy(d);
  return rc;
}

static int fault(struct stage *s, ssize_t kind, const char *why) {
  if (kind == NOMEM) return XFERE_OUT_OF_MEMORY;
  xfer__fail(s->d->e, "content decoding (%s) failed: %s",
             coding_names[s->coding], why ? why : "corrupt data");
  return XFERE_BAD_CONTENT_ENCODING;
}

/* Whether this turn's decoded bytes reached the bound; the count starts
 * again with each driving call. */
static int over_budget(XFER *e) {
  unsigned call = e->multi ? e->multi->call_no : 0;
  if (e->dec_call != call) {
    e->dec_call = call;
    e->dec_turn = 0;
  }
  return e->dec_turn >= DECODE_BUDGET;
}

/* Whether decoding must stop: the application holds up receiving, or a
 * stage stopped (what comes later must wait behind what it kept). */
static int stopped(XFER *e) { return xfer__recv_held(e) || e->dec_pending; }

/* Keeps in[0..len) (which may lie in s->pend, when a drain stopped again)
 * for the next drain.  When the bound of the turn stopped it, rather than
 * the application, the next timer run goes on. */
static int hold(struct stage *s, const char *in, size_t len) {
  XFER *e = s->d->e;
  if (s->pend_len + len > XFER_HELD_MAX) {
    xfer__fail(e, "more than %u bytes arrived while paused", XFER_HELD_MAX);
    return XFERE_TOO_LARGE;
  }
  if (s->pend_len + len > s->pend_cap) {
    size_t cap = s->pend_cap ? s->pend_cap : 16384;
    char *p;
    while (cap < s->pend_len + len) cap *= 2;
    if (!(p = realloc(s->pend, cap))) return XFERE_OUT_OF_MEMORY;
    s->pend = p;
    s->pend_cap = cap;
  }
  if (len) memmove(s->pend + s->pend_len, in, len);
  s->pend_len += len;
  s->stalled = 1;
  e->dec_pending = 1;
  if (!xfer__recv_held(e) && !e->wake_at) {
    /* Due at once: the application's loop runs the timer after its other
     * events (a timer run only takes what was due when it began). */
    e->wake_at = xfer__now();
    xfer__recompute_timer(e);
  }
  return XFERE_OK;
}

/* Decodes in[0..len) and passes the pieces on, until all is decoded, or
 * receiving is blocked, or the turn's bound is reached (then the rest is
 * kept).  0 or an XFERcode. */
static int run(struct stage *s, const char *in, size_t len) {
  struct xfer_decoding *d = s->d;
  XFER *e = d->e;
  for (;;) {
    const char *why = NULL, *before = in;
    unsigned hdr_before = s->hdr_left;
    ssize_t n;
    int rc;
    if (!len && !s->more) return XFERE_OK;
    n = step(s, &in, &len, &why);
    if (n < 0) return fault(s, n, why);
    s->more = (size_t)n == OUT_SIZE || s->hdr_left;
    if (n > 0) {
      rc = xfer__writer_next(&s->w, s->out, (size_t)n);
      if (rc) return rc;
      if (d->orphan) return XFERE_ABORTED_BY_CALLBACK;
      if (s == &d->st[0]) {
        over_budget(e); /* starts the turn's count */
        e->dec_turn += (size_t)n;
      }
    } else if (in == before && s->hdr_left == hdr_before) {
      /* Nothing taken, nothing made: the library wants more input. */
      s->more = 0;
      if (len) return fault(s, FAULT, "the decoder made no progress");
      return XFERE_OK;
    }
    if ((len || s->more) && (stopped(e) || over_budget(e)))
      return hold(s, in, len);
  }
}

static int stage_write(struct xfer_writer *w, const char *data, size_t len) {
  struct stage *s = (struct stage *)w;
  struct xfer_decoding *d = s->d;
  int rc;
  if (!len) return XFERE_OK;
  if (s->coding == XFER_CE_UNKNOWN) {
    xfer__fail(d->e, "unrecognized content encoding: %s (xfer decodes "
               XFER_CE_ALL ")", d->e->ce_bad);
    return XFERE_BAD_CONTENT_ENCODING;
  }
  s->got = 1;
  if (s->stalled || stopped(d->e)) return hold(s, data, len);
  if (!s->started && (rc = begin(s)) != XFERE_OK) return rc;
  d->busy++;
  return leave(d, run(s, data, len));
}

static const struct xfer_writer_type stage_type = {stage_write, stage_close};

/* ---- the chain ---- */

int xfer__decode_start(XFER *e) {
  struct xfer_decoding *d;
  int i;
  xfer__decode_free(e);
  if (!e->nce || !e->set.accept_encoding || !e->set.content_decoding)
    return XFERE_OK;
  if (e->ce_over) {
    xfer__fail(e, "the response names more than %d content encodings",
               XFER_CE_MAX);
    return XFERE_BAD_CONTENT_ENCODING;
  }
  if (!(d = calloc(1, sizeof(*d)))) return XFERE_OUT_OF_MEMORY;
  d->e = e;
  d->n = e->nce;
  /* Content-Encoding lists the codings in the order they were applied:
   * the last one is undone first, so it is the chain's head. */
  for (i = 0; i < d->n; i++) {
    struct stage *s = &d->st[i];
    s->w.type = &stage_type;
    s->w.e = e;
    s->w.next = i ? &d->st[i - 1].w : NULL;
    s->d = d;
    s->coding = e->ce[i];
  }
  e->dec = d;
  e->writers = &d->st[d->n - 1].w;
  return XFERE_OK;
}

int xfer__decode_drain(XFER *e) {
  struct xfer_decoding *d = e->dec;
  int i, rc = XFERE_OK;
  if (!d) {
    e->dec_pending = 0;
    return XFERE_OK;
  }
  d->busy++;
  e->dec_pending = 0;
  for (i = 0; i < d->n && !rc; i++) {
    struct stage *s = &d->st[i];
    size_t len;
    if (!s->stalled) continue;
    /* The application paused on the last piece of the stage before, or
     * this turn's bound is reached: the rest waits. */
    if (xfer__recv_held(e) || over_budget(e)) {
      rc = hold(s, NULL, 0);
      break;
    }
    if (!s->started && (rc = begin(s)) != XFERE_OK) break;
    s->stalled = 0;
    len = s->pend_len;
    s->pend_len = 0; /* run keeps what it leaves in place (hold) */
    rc = run(s, s->pend, len);
    if (s->stalled) break;
  }
  if (!d->orphan) {
    e->dec_pending = 0;
    for (i = 0; i < d->n; i++) e->dec_pending |= d->st[i].stalled;
  }
  return leave(d, rc);
}

int xfer__decode_finish(XFER *e) {
  struct xfer_decoding *d = e->dec;
  int i;
  if (!d) return XFERE_OK;
  for (i = d->n - 1; i >= 0; i--) {
    struct stage *s = &d->st[i];
    if (s->got && !s->ended && s->coding != XFER_CE_UNKNOWN) {
      xfer__fail(e, "content decoding (%s) failed: the body ended inside "
                 "the compressed stream", coding_names[s->coding]);
      return XFERE_BAD_CONTENT_ENCODING;
    }
  }
  return XFERE_OK;
}

void xfer__decode_free(XFER *e) {
  struct xfer_decoding *d = e->dec;
  e->dec_pending = 0;
  if (!d) return;
  e->dec = NULL;
  e->writers = NULL;
  if (d->busy) d->orphan = 1;
  else destroy(d);
}
