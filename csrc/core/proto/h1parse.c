/*
 * h1parse.c -- the incremental HTTP/1.x response parser (see h1parse.h).
 *
 * A state machine driven by xfer__h1p_feed().  The line-oriented states
 * (status line, header lines, chunk size lines, trailers) find the line end
 * with memchr() and parse a complete line in one go: straight from the
 * caller's buffer when the whole line is there, else from line_, where the
 * pieces of a line split across feeds are gathered.  The body states hand
 * out spans of the caller's buffer.  Nothing is allocated once line_ is as
 * long as the longest split line seen, and reset keeps it.
 *
 * Every decision depends only on the bytes seen so far, never on where a
 * feed ended, so any split of the input gives the same callbacks and result.
 */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <stdint.h>

#include "h1parse.h"
#include "xfer.h"

enum {
  S_STATUS = 0,     /* expecting a status line */
  S_HEADER,         /* expecting a field line or the blank line */
  S_BODY_LENGTH,    /* Content-Length body */
  S_BODY_CLOSE,     /* body delimited by the connection close */
  S_CHUNK_SIZE,     /* expecting a chunk size line */
  S_CHUNK_DATA,     /* inside chunk data; chunk_left_ bytes to go */
  S_CHUNK_CR,       /* expecting the CRLF that ends chunk data */
  S_CHUNK_LF,       /* got its CR, expecting the LF */
  S_TRAILER,        /* expecting a trailer line or the final blank line */
  S_DONE,
  S_ERROR           /* err_ holds the error every later call returns */
};

/* A chunk size line, extensions and CRLF included, longer than this is not
 * from a sane server; it bounds the buffering of an endless one. */
#define CHUNK_LINE_MAX 4096
#define LINE_MIN_CAP 256

#define WEIRD XFERE_WEIRD_SERVER_REPLY

/* RFC 9110 tchar (! # $ % & ' * + - . ^ _ ` | ~ digits letters), one byte
 * per character: a field name costs a load and a test per byte.  Bytes
 * from 0x80 are 0 (the rest of the array). */
static const unsigned char tchar_tab[256] = {
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x00 */
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
  0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0, /* 0x20 */
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, /* 0x30 */
  0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40 */
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, /* 0x50 */
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60 */
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0, /* 0x70 */
};

static int is_tchar(unsigned char c) {
  return tchar_tab[c];
}

static int is_ows(char c) {
  return c == ' ' || c == '\t';
}

static int is_digit(char c) {
  return c >= '0' && c <= '9';
}

/* Case-insensitive comparison with a lowercase literal. */
static int ieq(const char *s, size_t n, const char *lit, size_t litlen) {
  size_t i;
  if (n != litlen) return 0;
  for (i = 0; i < n; i++) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = (char)(c + ('a' - 'A'));
    if (c != lit[i]) return 0;
  }
  return 1;
}

#define IEQ(s, n, lit) ieq((s), (n), lit, sizeof(lit) - 1)

/* Cut the next comma-separated element off *s (the list ends at end),
 * trimmed of OWS; it may be empty.  Returns 0 once the list is exhausted. */
static int list_next(const char **s, const char *end,
                     const char **el, size_t *len) {
  const char *b = *s, *e;
  if (b == NULL) return 0;
  e = memchr(b, ',', (size_t)(end - b));
  *s = e ? e + 1 : NULL;
  if (e == NULL) e = end;
  while (b < e && is_ows(*b)) b++;
  while (e > b && is_ows(e[-1])) e--;
  *el = b;
  *len = (size_t)(e - b);
  return 1;
}

static void finish(struct xfer_h1p *p) {
  p->done = 1;
  p->state_ = S_DONE;
}

/* Content-Length: 1*DIGIT, or a list of identical ones (RFC 9110 8.6 lets
 * a recipient accept that).  Any other value, or a value that differs from
 * an earlier Content-Length, makes the body length ambiguous. */
static int content_length(struct xfer_h1p *p, const char *v, size_t n) {
  const char *s = v, *el;
  size_t len, i;
  while (list_next(&s, v + n, &el, &len)) {
    int64_t x = 0;
    if (len == 0) return WEIRD;
    for (i = 0; i < len; i++) {
      int d = el[i] - '0';
      if (d < 0 || d > 9) return WEIRD;
      if (x > (INT64_MAX - d) / 10) return WEIRD;
      x = x * 10 + d;
    }
    if (p->saw_cl_ && x != p->content_length) return WEIRD;
    p->saw_cl_ = 1;
    p->content_length = x;
  }
  /* Both framings at once is the request smuggling pattern. */
  return p->saw_te_ ? WEIRD : 0;
}

/* Transfer-Encoding: chunked is the only coding we decode, so it must be
 * the only one, and applied once (RFC 9112 6.1). */
static int transfer_encoding(struct xfer_h1p *p, const char *v, size_t n) {
  const char *s = v, *el;
  size_t len;
  int codings = 0;
  while (list_next(&s, v + n, &el, &len)) {
    if (len == 0) continue;  /* empty list elements are allowed */
    if (!IEQ(el, len, "chunked") || p->saw_te_) return WEIRD;
    p->saw_te_ = 1;
    codings++;
  }
  if (codings == 0 || p->saw_cl_) return WEIRD;
  return 0;
}

static void connection(struct xfer_h1p *p, const char *v, size_t n) {
  const char *s = v, *el;
  size_t len;
  while (list_next(&s, v + n, &el, &len)) {
    if (IEQ(el, len, "close"))
      p->conn_close_ = 1;
    else if (IEQ(el, len, "keep-alive"))
      p->conn_keepalive_ = 1;
  }
}

/* A field line of a header or trailer section.  cl is the length without
 * the line end.  interpret: the fields that frame the message count (the
 * final response's header section only). */
static int field_line(struct xfer_h1p *p, const char *line, size_t n,
                      size_t cl, int interpret,
                      const struct xfer_h1p_callbacks *cb, void *ud) {
  const char *name = NULL, *val = NULL, *end;
  size_t namelen = 0, i = 0;
  int rc;

  /* An obs-fold continuation goes to the application raw, unless it
   * continues a field the engine acts on (framing, Connection, Location):
   * a recipient that unfolds would read another value than we did, the
   * start of response splitting.  Such a response is refused. */
  if (is_ows(line[0]) && interpret && p->last_acted_) return WEIRD;
  if (!is_ows(line[0])) {
    while (i < cl && is_tchar((unsigned char)line[i])) i++;
    /* This also refuses whitespace before the colon (RFC 9112 5.1). */
    if (i == 0 || i == cl || line[i] != ':') return WEIRD;
    name = line;
    namelen = i;
    val = line + i + 1;
    end = line + cl;
    while (val < end && is_ows(*val)) val++;
    while (end > val && is_ows(end[-1])) end--;
    if (interpret) {
      size_t vlen = (size_t)(end - val);
      rc = 0;
      p->last_acted_ = 1;
      /* Dispatch on the length first: most fields are none of these. */
      if (p->is_head_ == XFER_H1P_CONNECT && p->status / 100 == 2 &&
          (namelen == 14 || namelen == 17))
        p->last_acted_ = 0; /* a tunnel's framing fields mean nothing */
      else if (namelen == 14 && IEQ(name, namelen, "content-length"))
        rc = content_length(p, val, vlen);
      else if (namelen == 17 && IEQ(name, namelen, "transfer-encoding"))
        rc = transfer_encoding(p, val, vlen);
      else if (namelen == 10 && IEQ(name, namelen, "connection"))
        connection(p, val, vlen);
      else if (!(namelen == 8 && IEQ(name, namelen, "location")))
        p->last_acted_ = 0;
      if (rc) return rc;
    }
    if (cb->on_header)
      return cb->on_header(ud, line, n, name, namelen, val,
                           (size_t)(end - val));
    return 0;
  }
  if (cb->on_header) return cb->on_header(ud, line, n, NULL, 0, NULL, 0);
  return 0;
}

/* HTTP/1.x SP 3DIGIT [SP reason]. */
static int status_line(struct xfer_h1p *p, const char *line, size_t n,
                       size_t cl, const struct xfer_h1p_callbacks *cb,
                       void *ud) {
  int status;
  if (cl < 12 || memcmp(line, "HTTP/1.", 7) != 0 ||
      (line[7] != '0' && line[7] != '1') || line[8] != ' ' ||
      !is_digit(line[9]) || !is_digit(line[10]) || !is_digit(line[11]) ||
      (cl > 12 && line[12] != ' '))
    return WEIRD;
  status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  /* 101 would hand the connection to another protocol: not supported. */
  if (status < 100 || status == 101) return WEIRD;
  p->status = status;
  p->http_minor = line[7] - '0';
  /* The fields of a 1xx response are not interpreted (field_line), so
   * nothing of theirs needs clearing here. */
  p->state_ = S_HEADER;
  if (cb->on_header) return cb->on_header(ud, line, n, NULL, 0, NULL, 0);
  return 0;
}

/* The blank line after a header section. */
static int headers_end(struct xfer_h1p *p, const char *line, size_t n,
                       const struct xfer_h1p_callbacks *cb, void *ud) {
  int rc, ka;
  if (cb->on_header) {
    rc = cb->on_header(ud, line, n, NULL, 0, NULL, 0);
    if (rc) return rc;
  }
  if (p->status < 200) {
    /* Interim response: the real one follows. */
    p->state_ = S_STATUS;
    return 0;
  }
  if (p->http_minor >= 1)
    ka = !p->conn_close_;
  else
    ka = p->conn_keepalive_ && !p->conn_close_;
  /* Transfer-Encoding in an HTTP/1.0 message is faulty framing (RFC 9112
   * 6.1): the body is decoded, but the connection is not trusted after. */
  if (p->http_minor == 0 && p->saw_te_) ka = 0;
  p->chunked = 0;
  if (p->is_head_ || p->status == 204 || p->status == 304) {
    p->body_mode = XFER_H1P_BODY_NONE;
    finish(p);
  } else if (p->saw_te_) {
    p->body_mode = XFER_H1P_BODY_CHUNKED;
    p->chunked = 1;
    p->state_ = S_CHUNK_SIZE;
  } else if (p->saw_cl_) {
    p->body_mode = XFER_H1P_BODY_LENGTH;
    p->state_ = S_BODY_LENGTH;
    if (p->content_length == 0) finish(p);
  } else {
    /* Only the close can tell where the body ends. */
    p->body_mode = XFER_H1P_BODY_CLOSE;
    p->state_ = S_BODY_CLOSE;
    ka = 0;
  }
  p->keepalive = ka;
  if (cb->on_headers_done) return cb->on_headers_done(ud);
  return 0;
}

/* chunk-size [BWS ";" chunk-ext]: the extensions are ignored, whatever
 * they hold (the line was already checked for NUL and bare CR). */
static int chunk_size_line(struct xfer_h1p *p, const char *line, size_t cl) {
  int64_t size = 0;
  size_t i;
  for (i = 0; i < cl; i++) {
    char c = line[i];
    int d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      break;
    if (size > (INT64_MAX >> 4)) return XFERE_RECV_ERROR;
    size = (size << 4) | d;
  }
  if (i == 0) return WEIRD;
  while (i < cl && is_ows(line[i])) i++;
  if (i < cl && line[i] != ';') return WEIRD;
  if (size == 0) {
    p->state_ = S_TRAILER;
  } else {
    p->chunk_left_ = size;
    p->state_ = S_CHUNK_DATA;
  }
  return 0;
}

/* A complete line of n bytes, line end included. */
static int line_done(struct xfer_h1p *p, const char *line, size_t n,
                     const struct xfer_h1p_callbacks *cb, void *ud) {
  size_t cl = n - 1;
  if (cl > 0 && line[cl - 1] == '\r') cl--;
  /* A bare CR or a NUL is how smuggling and injection attempts look. */
  if (memchr(line, '\r', cl) != NULL || memchr(line, '\0', cl) != NULL)
    return WEIRD;
  switch (p->state_) {
  case S_STATUS:
    return status_line(p, line, n, cl, cb, ud);
  case S_HEADER:
    if (cl == 0) return headers_end(p, line, n, cb, ud);
    return field_line(p, line, n, cl, p->status >= 200, cb, ud);
  case S_CHUNK_SIZE:
    return chunk_size_line(p, line, cl);
  default: /* S_TRAILER */
    /* Like libcurl, the blank line that ends the trailers is not passed
     * on: the application sees only the trailer fields. */
    if (cl == 0) {
      finish(p);
      return 0;
    }
    return field_line(p, line, n, cl, 0, cb, ud);
  }
}

static int line_append(struct xfer_h1p *p, const char *s, size_t n) {
  size_t need = p->line_len_ + n;
  if (need > p->line_cap_) {
    size_t cap = p->line_cap_ ? p->line_cap_ : LINE_MIN_CAP;
    char *nb;
    while (cap < need) {
      if (cap > SIZE_MAX / 2) {
        cap = need;
        break;
      }
      cap *= 2;
    }
    nb = realloc(p->line_, cap);
    if (nb == NULL) return XFERE_OUT_OF_MEMORY;
    p->line_ = nb;
    p->line_cap_ = cap;
  }
  memcpy(p->line_ + p->line_len_, s, n);
  p->line_len_ = need;
  return 0;
}

/* One step of a line-oriented state: take bytes up to and including the
 * next LF (or all of them), sets *used. */
static int line_step(struct xfer_h1p *p, const char *s, size_t avail,
                     size_t *used, const struct xfer_h1p_callbacks *cb,
                     void *ud) {
  const char *nl = memchr(s, '\n', avail);
  size_t take = nl ? (size_t)(nl - s) + 1 : avail;
  int hdr = p->state_ != S_CHUNK_SIZE;
  /* line_len_ <= room always holds: the check below guards every append,
   * and room does not change while a line is pending. */
  size_t room = hdr ? p->max_header_bytes_ - p->header_bytes_
                    : CHUNK_LINE_MAX;
  const char *line;
  size_t n;
  int rc;

  *used = take;
  if (p->state_ == S_STATUS && p->line_len_ < 8) {
    /* Refuse a non-HTTP peer (say an SSH banner or TLS bytes) as soon as
     * its first bytes show, not after max_header_bytes without a LF.  Only
     * bytes within the size limit are looked at, so that the error is the
     * same whatever the split. */
    static const char pfx[] = "HTTP/1.";
    size_t i, end = p->line_len_ + take;
    if (end > 8) end = 8;
    if (end > room) end = room;
    for (i = p->line_len_; i < end; i++) {
      char c = s[i - p->line_len_];
      if (i < 7 ? c != pfx[i] : (c != '0' && c != '1')) return WEIRD;
    }
  }
  if (take > room - p->line_len_)
    return hdr ? XFERE_TOO_LARGE : WEIRD;
  if (nl == NULL) return line_append(p, s, take);
  if (p->line_len_ == 0) {
    line = s;
    n = take;
  } else {
    rc = line_append(p, s, take);
    if (rc) return rc;
    line = p->line_;
    n = p->line_len_;
  }
  p->line_len_ = 0;
  if (hdr) p->header_bytes_ += n;
  return line_done(p, line, n, cb, ud);
}

void xfer__h1p_reset(struct xfer_h1p *p, int is_head) {
  char *line = p->line_;
  size_t cap = p->line_cap_;
  size_t max = p->max_header_bytes_;
  memset(p, 0, sizeof(*p));
  p->line_ = line;
  p->line_cap_ = cap;
  p->max_header_bytes_ = max;
  p->is_head_ = is_head;
  p->content_length = -1;
  p->state_ = S_STATUS;
}

void xfer__h1p_init(struct xfer_h1p *p, int is_head, size_t max_header_bytes) {
  memset(p, 0, sizeof(*p));
  p->max_header_bytes_ = max_header_bytes ? max_header_bytes
                                          : XFER_H1P_MAX_HEADER_BYTES_DEFAULT;
  xfer__h1p_reset(p, is_head);
}

void xfer__h1p_free(struct xfer_h1p *p) {
  free(p->line_);
  p->line_ = NULL;
  p->line_len_ = p->line_cap_ = 0;
}

int xfer__h1p_feed(struct xfer_h1p *p, const char *data, size_t len,
                   size_t *consumed, const struct xfer_h1p_callbacks *cb,
                   void *ud) {
  static const struct xfer_h1p_callbacks nocb;
  size_t pos = 0, n;
  int64_t left;
  int rc = 0;

  *consumed = 0;
  if (p->state_ == S_ERROR) return p->err_;
  if (cb == NULL) cb = &nocb;
  if (len > 0) p->any_bytes = 1;

  while (pos < len && p->state_ != S_DONE) {
    const char *s = data + pos;
    size_t avail = len - pos;
    switch (p->state_) {
    case S_BODY_LENGTH:
    case S_CHUNK_DATA:
      left = p->state_ == S_BODY_LENGTH ? p->content_length - p->body_received
                                        : p->chunk_left_;
      n = (uint64_t)left < avail ? (size_t)left : avail;
      pos += n;
      p->body_received += (int64_t)n;
      if (p->state_ == S_CHUNK_DATA) {
        p->chunk_left_ -= (int64_t)n;
        if (p->chunk_left_ == 0) p->state_ = S_CHUNK_CR;
      } else if ((int64_t)n == left) {
        finish(p);
      }
      if (cb->on_body) rc = cb->on_body(ud, s, n);
      break;
    case S_BODY_CLOSE:
      pos = len;
      p->body_received += (int64_t)avail;
      if (cb->on_body) rc = cb->on_body(ud, s, avail);
      break;
    case S_CHUNK_CR:
    case S_CHUNK_LF:
      pos++;
      if (*s == '\n')
        p->state_ = S_CHUNK_SIZE;
      else if (*s == '\r' && p->state_ == S_CHUNK_CR)
        p->state_ = S_CHUNK_LF;
      else
        rc = WEIRD;
      break;
    default: /* S_STATUS, S_HEADER, S_CHUNK_SIZE, S_TRAILER */
      rc = line_step(p, s, avail, &n, cb, ud);
      pos += n;
      break;
    }
    if (rc) {
      p->state_ = S_ERROR;
      p->err_ = rc;
      *consumed = pos;
      return rc;
    }
  }
  *consumed = pos;
  return 0;
}

const char *xfer__h1p_cut_short(const struct xfer_h1p *p, char *buf,
                                size_t cap) {
  switch (p->eof_in_) {
  case S_STATUS:
  case S_HEADER:
    snprintf(buf, cap, "in the header section");
    break;
  case S_BODY_LENGTH:
    snprintf(buf, cap, "with %lld of %lld body bytes missing",
             (long long)(p->content_length - p->body_received),
             (long long)p->content_length);
    break;
  case S_CHUNK_DATA:
    snprintf(buf, cap, "inside a chunk, %lld bytes of it missing",
             (long long)p->chunk_left_);
    break;
  case S_TRAILER:
    snprintf(buf, cap, "in the trailers, after the last chunk");
    break;
  default:
    snprintf(buf, cap, "between chunks, before the last one");
    break;
  }
  return buf;
}

int xfer__h1p_eof(struct xfer_h1p *p, const struct xfer_h1p_callbacks *cb,
                  void *ud) {
  int rc;
  (void)cb;
  (void)ud;
  if (p->state_ == S_ERROR) return p->err_;
  if (p->done) return 0;
  if (p->state_ == S_BODY_CLOSE) {
    finish(p);
    return 0;
  }
  rc = p->any_bytes ? XFERE_PARTIAL_FILE : XFERE_GOT_NOTHING;
  p->eof_in_ = p->state_;
  p->state_ = S_ERROR;
  p->err_ = rc;
  return rc;
}
