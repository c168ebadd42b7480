/*
 * h1parse.h -- the incremental HTTP/1.x response parser.
 *
 * Pure: no I/O, no allocation except the header-line buffer it owns, no
 * knowledge of transfers or connections.  The engine feeds it whatever bytes
 * a read returned, split anywhere; the parser calls back with header lines
 * and body spans that point into the caller's buffer (no copy of the body).
 * It is the fuzz target for response parsing.
 */
#ifndef XFER_H1PARSE_H
#define XFER_H1PARSE_H

#include <stddef.h>
#include <stdint.h>

#define XFER_H1P_MAX_HEADER_BYTES_DEFAULT (100 * 1024)

struct xfer_h1p_callbacks {
  /* One call per received header line, including the status line of every
   * response (1xx ones too) and the blank line that ends a header section.
   * raw/rawlen is the line as received, CRLF (or bare LF) included, the way
   * libcurl hands lines to CURLOPT_HEADERFUNCTION.  For a field line, name
   * and value are set (value trimmed of surrounding whitespace); for the
   * status line and the blank line they are NULL/0.  An obs-fold
   * continuation line is passed raw with name == NULL (or refused: see
   * xfer__h1p_feed).  Trailer fields of
   * a chunked body come here too, but (as in libcurl) not the blank line
   * that ends the trailers.  Return 0 to go on, or an XFERcode to stop
   * parsing with that error. */
  int (*on_header)(void *ud, const char *raw, size_t rawlen,
                   const char *name, size_t namelen,
                   const char *value, size_t valuelen);
  /* The final (non-1xx) response's header section is complete; p->status,
   * p->content_length, p->chunked, p->keepalive, p->body_mode are set.
   * Return 0 or an XFERcode. */
  int (*on_headers_done)(void *ud);
  /* A span of decoded body (chunk framing removed).  Return 0 or XFERcode. */
  int (*on_body)(void *ud, const char *data, size_t len);
};

enum xfer_h1p_body_mode {
  XFER_H1P_BODY_NONE = 0,   /* HEAD, 204, 304: no body */
  XFER_H1P_BODY_LENGTH,     /* Content-Length */
  XFER_H1P_BODY_CHUNKED,    /* Transfer-Encoding: chunked */
  XFER_H1P_BODY_CLOSE       /* read until the server closes */
};

struct xfer_h1p {
  /* results, valid once on_headers_done ran */
  int status;               /* e.g. 200 */
  int http_minor;           /* 0 for HTTP/1.0, 1 for HTTP/1.1 */
  int keepalive;            /* the connection may carry another request */
  int chunked;              /* body_mode is XFER_H1P_BODY_CHUNKED */
  int body_mode;            /* enum xfer_h1p_body_mode */
  int64_t content_length;   /* the Content-Length header's value (also when
                               body_mode is NONE, e.g. HEAD), -1 if absent */
  int64_t body_received;    /* decoded body bytes delivered so far */
  int done;                 /* the whole response has been parsed */
  int any_bytes;            /* at least one byte was fed */
  /* private state: see h1parse.c */
  int state_;
  int is_head_;
  size_t max_header_bytes_;
  size_t header_bytes_;     /* bytes of header section so far */
  int64_t chunk_left_;
  char *line_;              /* partial line buffer (owned) */
  size_t line_len_, line_cap_;
  int saw_cl_, saw_te_;
  int conn_close_, conn_keepalive_;
  int last_acted_;          /* the last field line was one the engine acts
                               on: a continuation of it is refused */
  int err_;                 /* the sticky error once state_ is the error one */
  int eof_in_;              /* the state the connection closed in */
};

/* is_head: the request was HEAD (a response never has a body).
 * max_header_bytes: 0 means the default (100 KiB).  It bounds all the lines
 * of a response's header sections together, line ends included: 1xx ones,
 * the final one and the chunked trailers; a line still without its end
 * counts as it arrives, so an endless line fails early. */
/* is_head for the answer to a CONNECT: it has no body either, and a 2xx
 * one's Content-Length and Transfer-Encoding are ignored (RFC 9110
 * 9.3.6), where other answers' are checked as any response's. */
#define XFER_H1P_CONNECT 2
void xfer__h1p_init(struct xfer_h1p *p, int is_head, size_t max_header_bytes);
/* Prepare for the next response on the same connection; keeps the buffer. */
void xfer__h1p_reset(struct xfer_h1p *p, int is_head);
void xfer__h1p_free(struct xfer_h1p *p);

/* Feed len bytes.  Returns 0 and sets *consumed (<= len; < len only when the
 * response ended inside the data: the rest is not part of it), or returns an
 * XFERcode:
 *   XFERE_WEIRD_SERVER_REPLY (8) not HTTP, a bad status line, a bad header
 *      line, conflicting or invalid Content-Length, both Content-Length and
 *      chunked, an unsupported Transfer-Encoding, a bad chunk size line,
 *      101 Switching Protocols, an obs-fold continuing Content-Length,
 *      Transfer-Encoding, Connection or Location in the final header
 *      section;
 *   XFERE_TOO_LARGE (100) header section over max_header_bytes;
 *   XFERE_RECV_ERROR (56) a chunk size that overflows;
 *   XFERE_OUT_OF_MEMORY (27) the line buffer could not grow;
 *   or whatever a callback returned.  Errors are sticky: later calls return
 *   the same code.  Once done is set, feed consumes nothing more. */
int xfer__h1p_feed(struct xfer_h1p *p, const char *data, size_t len,
                   size_t *consumed, const struct xfer_h1p_callbacks *cb,
                   void *ud);

/* The server closed the connection.  Returns 0 when that ends the response
 * correctly (a close-delimited body, or a response already done; sets done),
 * else XFERE_GOT_NOTHING (52) when no byte at all was received, or
 * XFERE_PARTIAL_FILE (18) when the header section, the body or a chunk was
 * cut short (these two are sticky as well). */
int xfer__h1p_eof(struct xfer_h1p *p, const struct xfer_h1p_callbacks *cb,
                  void *ud);

/* After xfer__h1p_eof returned PARTIAL_FILE: where the response was cut
 * ("inside a chunk, 12 bytes of it missing"), written into buf. */
const char *xfer__h1p_cut_short(const struct xfer_h1p *p, char *buf,
                                size_t cap);

#endif
