/*
 * h2_wire.c -- see h2_wire.h.  The client's side is checked strictly
 * (it is xfer with nghttp2: anything odd is a bug); the server's side is
 * only followed, as leniently as the client reads it, and given up at
 * the first frame the client must refuse for the whole connection.
 */
#include "h2_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t h2w_u24(const uint8_t *p) {
  return ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | p[2];
}

static uint32_t h2w_u32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
         ((uint32_t)p[2] << 8) | p[3];
}

void h2w_frame_hdr(uint8_t *out, uint32_t len, uint8_t type, uint8_t flags,
                   uint32_t sid) {
  out[0] = (uint8_t)(len >> 16);
  out[1] = (uint8_t)(len >> 8);
  out[2] = (uint8_t)len;
  out[3] = type;
  out[4] = flags;
  out[5] = (uint8_t)(sid >> 24) & 0x7f;
  out[6] = (uint8_t)(sid >> 16);
  out[7] = (uint8_t)(sid >> 8);
  out[8] = (uint8_t)sid;
}

static int h2w_grow(uint8_t **p, size_t *cap, size_t need) {
  size_t c = *cap ? *cap : 256;
  uint8_t *q;
  if (need <= *cap) return 0;
  while (c < need) c *= 2;
  if (!(q = realloc(*p, c))) return -1;
  *p = q;
  *cap = c;
  return 0;
}

/* ------------------------------------------------------------------ */
/* The client's bytes                                                  */
/* ------------------------------------------------------------------ */

int h2w_client_init(struct h2w_client *c, const struct h2w_client_cb *cb) {
  memset(c, 0, sizeof(*c));
  c->cb = *cb;
  if (nghttp2_hd_inflate_new(&c->infl) != 0) return -1;
  /* Whatever table size a script announces, the client's encoder stays
   * within what it was allowed; be generous here. */
  nghttp2_hd_inflate_change_table_size(c->infl, 1u << 16);
  return 0;
}

void h2w_client_free(struct h2w_client *c) {
  if (c->infl) nghttp2_hd_inflate_del(c->infl);
  free(c->buf);
  free(c->block);
  memset(c, 0, sizeof(*c));
}

#define H2W_FAIL(...)                                   \
  do {                                                  \
    snprintf(c->err, sizeof(c->err), __VA_ARGS__);      \
    return c->err;                                      \
  } while (0)

static int h2w_is_open(const struct h2w_client *c, uint32_t sid) {
  int i;
  for (i = 0; i < c->nopen; i++)
    if (c->open[i] == sid) return i;
  return -1;
}

static void h2w_close(struct h2w_client *c, uint32_t sid) {
  int i = h2w_is_open(c, sid);
  if (i >= 0) c->open[i] = c->open[--c->nopen];
}

/* A whole header block: decode it, hand the request over. */
static const char *h2w_block(struct h2w_client *c) {
  struct h2w_field f[H2W_MAX_FIELDS];
  uint8_t *store = NULL;
  size_t n = 0, used = 0, cap = 0, i, left = c->block_len;
  const uint8_t *in = c->block;
  for (;;) {
    nghttp2_nv nv;
    int fl = 0;
    ssize_t rv = nghttp2_hd_inflate_hd2(c->infl, &nv, &fl, in, left, 1);
    if (rv < 0) {
      free(store);
      H2W_FAIL("the request's header block does not decode: %s",
               nghttp2_strerror((int)rv));
    }
    in += rv;
    left -= (size_t)rv;
    if (fl & NGHTTP2_HD_INFLATE_EMIT) {
      if (n == H2W_MAX_FIELDS) {
        free(store);
        H2W_FAIL("more than %d fields in a request", H2W_MAX_FIELDS);
      }
      /* Copies: nv is valid until the next call only.  Offsets first,
       * pointers once the store stops moving. */
      if (h2w_grow(&store, &cap, used + nv.namelen + nv.valuelen + 2)) {
        free(store);
        H2W_FAIL("out of memory");
      }
      memcpy(store + used, nv.name, nv.namelen);
      f[n].name = (const uint8_t *)(uintptr_t)used;
      f[n].nlen = nv.namelen;
      used += nv.namelen;
      memcpy(store + used, nv.value, nv.valuelen);
      f[n].value = (const uint8_t *)(uintptr_t)used;
      f[n].vlen = nv.valuelen;
      used += nv.valuelen;
      n++;
    }
    if (fl & NGHTTP2_HD_INFLATE_FINAL) {
      nghttp2_hd_inflate_end_headers(c->infl);
      break;
    }
    if (rv == 0 && left == 0) break;
  }
  for (i = 0; i < n; i++) {
    f[i].name = store + (uintptr_t)f[i].name;
    f[i].value = store + (uintptr_t)f[i].value;
  }
  if (!c->block_es) {
    if (c->nopen == H2W_MAX_STREAMS) {
      free(store);
      H2W_FAIL("more than %d request bodies at once", H2W_MAX_STREAMS);
    }
    c->open[c->nopen++] = c->block_sid;
  }
  if (c->cb.request) c->cb.request(c->cb.ud, c->block_sid, f, n, c->block_es);
  free(store);
  return NULL;
}

/* Adds a fragment of a header block. */
static const char *h2w_frag(struct h2w_client *c, const uint8_t *p,
                            size_t n) {
  if (h2w_grow(&c->block, &c->block_cap, c->block_len + n))
    H2W_FAIL("out of memory");
  memcpy(c->block + c->block_len, p, n);
  c->block_len += n;
  return NULL;
}

/* A whole frame of the client's. */
static const char *h2w_frame(struct h2w_client *c) {
  const uint8_t *p = c->buf;
  uint32_t len = c->len, sid = c->sid, pad = 0;
  const char *err;
  c->frames++;
  if (!c->settings_in) {
    if (c->type != H2W_SETTINGS || (c->flags & H2W_F_ACK))
      H2W_FAIL("the client's first frame is type %u flags 0x%02x, not "
               "SETTINGS", c->type, c->flags);
    c->settings_in = 1;
  }
  if (c->in_block && (c->type != H2W_CONTINUATION || sid != c->block_sid))
    H2W_FAIL("frame type %u on stream %u inside the header block of "
             "stream %u", c->type, sid, c->block_sid);
  switch (c->type) {
  case H2W_DATA:
    if (sid == 0 || h2w_is_open(c, sid) < 0)
      H2W_FAIL("DATA on stream %u, which sends no body (last opened %u)",
               sid, c->last_sid);
    if (c->flags & H2W_F_PADDED) {
      if (len < 1 || p[0] >= len) H2W_FAIL("DATA with bad padding");
      pad = p[0];
      p++;
      len -= 1 + pad;
    }
    if (c->flags & H2W_F_END_STREAM) h2w_close(c, sid);
    if (c->cb.data)
      c->cb.data(c->cb.ud, sid, p, len, (c->flags & H2W_F_END_STREAM) != 0);
    break;
  case H2W_HEADERS:
    if (sid == 0 || !(sid & 1) || sid <= c->last_sid)
      H2W_FAIL("HEADERS on stream %u after stream %u: not a new client "
               "stream", sid, c->last_sid);
    c->last_sid = sid;
    if (c->flags & H2W_F_PADDED) {
      if (len < 1 || p[0] >= len) H2W_FAIL("HEADERS with bad padding");
      pad = p[0];
      p++;
      len -= 1 + pad;
    }
    if (c->flags & H2W_F_PRIORITY) {
      if (len < 5) H2W_FAIL("HEADERS too short for its priority");
      p += 5;
      len -= 5;
    }
    c->block_len = 0;
    c->block_sid = sid;
    c->block_es = (c->flags & H2W_F_END_STREAM) != 0;
    if ((err = h2w_frag(c, p, len))) return err;
    c->in_block = !(c->flags & H2W_F_END_HEADERS);
    if (!c->in_block && (err = h2w_block(c))) return err;
    break;
  case H2W_CONTINUATION:
    if (!c->in_block) H2W_FAIL("CONTINUATION outside a header block");
    if ((err = h2w_frag(c, p, len))) return err;
    c->in_block = !(c->flags & H2W_F_END_HEADERS);
    if (!c->in_block && (err = h2w_block(c))) return err;
    break;
  case H2W_SETTINGS:
    if (sid != 0 || len % 6 != 0 || ((c->flags & H2W_F_ACK) && len != 0))
      H2W_FAIL("SETTINGS of %u bytes on stream %u, flags 0x%02x", len, sid,
               c->flags);
    break;
  case H2W_PING:
    if (sid != 0 || len != 8) H2W_FAIL("PING of %u bytes on stream %u", len,
                                       sid);
    break;
  case H2W_GOAWAY:
    if (sid != 0 || len < 8) H2W_FAIL("GOAWAY of %u bytes on stream %u", len,
                                      sid);
    break;
  case H2W_WINDOW_UPDATE:
    if (len != 4 || (h2w_u32(p) & 0x7fffffffu) == 0)
      H2W_FAIL("WINDOW_UPDATE of %u bytes, or of 0", len);
    break;
  case H2W_RST_STREAM:
    if (sid == 0 || len != 4 || !(sid & 1) || sid > c->last_sid)
      H2W_FAIL("RST_STREAM of %u bytes on stream %u (last opened %u)", len,
               sid, c->last_sid);
    h2w_close(c, sid);
    break;
  case H2W_PRIORITY:
    if (sid == 0 || len != 5) H2W_FAIL("PRIORITY of %u bytes on stream %u",
                                       len, sid);
    break;
  case H2W_PUSH_PROMISE:
    H2W_FAIL("PUSH_PROMISE from the client");
  default:
    break; /* an extension: ignored, as a server would */
  }
  if (c->cb.frame) c->cb.frame(c->cb.ud, c->type, c->flags, sid, c->buf,
                               c->len);
  return NULL;
}

const char *h2w_client_feed(struct h2w_client *c, const uint8_t *p,
                            size_t n) {
  const char *err;
  if (c->not_h2) return NULL;
  while (n > 0) {
    if (c->preface < H2W_PREFACE_LEN) {
      if (*p != (uint8_t)H2W_PREFACE[c->preface]) {
        c->not_h2 = 1;
        return NULL;
      }
      c->preface++;
      p++;
      n--;
      continue;
    }
    if (c->hdn < H2W_HDR) {
      size_t k = H2W_HDR - c->hdn < n ? H2W_HDR - c->hdn : n;
      memcpy(c->hd + c->hdn, p, k);
      c->hdn += k;
      p += k;
      n -= k;
      if (c->hdn < H2W_HDR) break;
      c->len = h2w_u24(c->hd);
      c->type = c->hd[3];
      c->flags = c->hd[4];
      if (c->hd[5] & 0x80) H2W_FAIL("a frame with the reserved bit set");
      c->sid = h2w_u32(c->hd + 5) & 0x7fffffffu;
      c->got = 0;
      if (h2w_grow(&c->buf, &c->cap, c->len + 1)) H2W_FAIL("out of memory");
    }
    {
      size_t k = c->len - c->got < n ? c->len - c->got : n;
      memcpy(c->buf + c->got, p, k);
      c->got += k;
      p += k;
      n -= k;
    }
    if (c->got < c->len) break;
    c->hdn = 0;
    if ((err = h2w_frame(c))) return err;
  }
  return NULL;
}

/* ------------------------------------------------------------------ */
/* What the server sends                                               */
/* ------------------------------------------------------------------ */

void h2w_track_init(struct h2w_track *t, const struct h2w_track_cb *cb) {
  memset(t, 0, sizeof(*t));
  t->cb = *cb;
  t->max_frame = 16384; /* xfer announces no SETTINGS_MAX_FRAME_SIZE */
}

/* Is this frame header one the client must fail the connection for?
 * Only what nghttp2 surely refuses: then nothing after it is read. */
static int h2w_track_bad(const struct h2w_track *t) {
  if (t->len > t->max_frame) return 1;
  if (t->in_block && (t->type != H2W_CONTINUATION || t->sid != t->block_sid))
    return 1;
  if (!t->in_block && t->type == H2W_CONTINUATION) return 1;
  if ((t->type == H2W_DATA || t->type == H2W_HEADERS) && t->sid == 0)
    return 1;
  return 0;
}

static void h2w_track_end(struct h2w_track *t) {
  t->hdn = 0;
  if (t->skip) return;
  if ((t->type == H2W_DATA || t->type == H2W_HEADERS) &&
      (t->flags & H2W_F_END_STREAM) && t->cb.end)
    t->cb.end(t->cb.ud, t->sid);
}

void h2w_track_feed(struct h2w_track *t, const uint8_t *p, size_t n) {
  while (n > 0 && !t->broken) {
    size_t k;
    if (t->hdn < H2W_HDR) {
      k = H2W_HDR - t->hdn < n ? H2W_HDR - t->hdn : n;
      memcpy(t->hd + t->hdn, p, k);
      t->hdn += k;
      p += k;
      n -= k;
      if (t->hdn < H2W_HDR) break;
      t->len = h2w_u24(t->hd);
      t->type = t->hd[3];
      t->flags = t->hd[4];
      t->sid = h2w_u32(t->hd + 5) & 0x7fffffffu;
      t->pos = 0;
      t->pad = 0;
      /* DATA whose padding does not fit: nghttp2 fails the connection if
       * the stream is open, and skips it unread on a stream it reset. */
      t->skip = t->type == H2W_DATA && (t->flags & H2W_F_PADDED) &&
                t->len == 0;
      if (h2w_track_bad(t)) {
        t->broken = 1;
        break;
      }
      if (t->cb.frame)
        t->cb.frame(t->cb.ud, t->type, t->flags, t->sid, t->len);
      if (t->type == H2W_HEADERS || t->type == H2W_CONTINUATION) {
        t->in_block = !(t->flags & H2W_F_END_HEADERS);
        t->block_sid = t->sid;
      }
      if (t->len == 0) h2w_track_end(t);
      continue;
    }
    k = t->len - t->pos < n ? t->len - t->pos : n;
    if (t->type == H2W_DATA) {
      uint32_t from = 0, to, a, b;
      if (t->flags & H2W_F_PADDED) {
        if (t->pos == 0) {
          t->pad = p[0];
          if (t->pad >= t->len) t->skip = 1; /* as above */
        }
        from = 1;
      }
      to = t->len - t->pad;
      a = t->pos > from ? t->pos : from;
      b = t->pos + (uint32_t)k < to ? t->pos + (uint32_t)k : to;
      if (a < b && !t->skip && t->cb.data)
        t->cb.data(t->cb.ud, t->sid, p + (a - t->pos), b - a);
    }
    t->pos += (uint32_t)k;
    p += k;
    n -= k;
    if (t->pos == t->len) h2w_track_end(t);
  }
}

/* ------------------------------------------------------------------ */
/* Building frames                                                     */
/* ------------------------------------------------------------------ */

unsigned h2w_repeat(uint8_t sel) {
  unsigned v = sel >> 4;
  return v < 8 ? v + 1 : 1u << (v - 3);
}

/* The stream id selector sel names (H2W_SEL_*, h2_wire.h). */
static uint32_t select_sid(int sel, uint32_t (*opened)(void *ud, int k),
                           void *ud) {
  uint32_t last = 0, sid;
  int k;
  if (sel == H2W_SEL_ZERO) return 0;
  if (sel <= 8) return (sid = opened(ud, sel)) ? sid : 2u * (unsigned)sel - 1;
  for (k = 1; (sid = opened(ud, k)) != 0; k++) last = sid;
  switch (sel) {
  case H2W_SEL_NEXT:
    return last + 2 - (last == 0);
  case H2W_SEL_EVEN:
    return 2;
  case H2W_SEL_MAX:
    return 0x7fffffffu;
  default:
    return last ? last : 1;
  }
}

int h2w_compact(const uint8_t *in, size_t n, uint8_t **out, size_t *outlen,
                size_t *outcap, size_t cap,
                uint32_t (*opened)(void *ud, int k), void *ud) {
  size_t pos = 0;
  while (pos + 5 <= n) {
    uint8_t type = in[pos], flags = in[pos + 1], sel = in[pos + 2];
    size_t len = ((size_t)in[pos + 3] << 8) | in[pos + 4], k;
    unsigned rep = h2w_repeat(sel), r;
    uint32_t sid = select_sid(sel & 15, opened, ud);
    pos += 5;
    if (len > n - pos) len = n - pos;
    for (r = 0; r < rep; r++) {
      if (*outlen + H2W_HDR + len > cap) return 0;
      if (h2w_grow(out, outcap, *outlen + H2W_HDR + len)) return -1;
      h2w_frame_hdr(*out + *outlen, (uint32_t)len, type, flags, sid);
      *outlen += H2W_HDR;
      for (k = 0; k < len; k++) (*out)[*outlen + k] = in[pos + k];
      *outlen += len;
    }
    pos += len;
  }
  return 0;
}
