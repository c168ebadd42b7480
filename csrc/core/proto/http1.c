/*
 * http1.c -- HTTP/1.1 on a connection: the request writer (head, body from
 * memory or from the read callback, chunked when the size is unknown), and
 * the glue that feeds received bytes to the response parser (h1parse.c) and
 * hands headers and body to the application's callbacks.
 *
 * Steady state allocates nothing: the request buffer belongs to the easy
 * handle and is reused, the receive buffer is shared by the multi handle.
 */

#include "xfer_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int xfer__headers_done(XFER *e); /* transfer.c */

#define SMALL_BODY (64 * 1024) /* bodies up to this go out with the head */

/* A finished transfer hands its request buffer to its multi handle, for the
 * next one to start: a million queued transfers then cost no allocation
 * each for their requests, and hold none while they wait or once done. */
#define POOLED_CAP 512
#define POOL_MAX 256

void xfer__h1_release_request(XFER *e) {
  XFERM *m = e->multi;
  if (!e->req) return;
  if (m && e->req_cap == POOLED_CAP && m->nreqpool < POOL_MAX) {
    memcpy(e->req, &m->reqpool, sizeof(char *));
    m->reqpool = e->req;
    m->nreqpool++;
  } else {
    free(e->req);
  }
  e->req = NULL;
  e->req_cap = e->req_len = 0;
}

void xfer__h1_free_pool(XFERM *m) {
  while (m->reqpool) {
    char *p = m->reqpool;
    memcpy(&m->reqpool, p, sizeof(char *));
    free(p);
  }
  m->nreqpool = 0;
}

static int reserve(XFER *e, size_t more) {
  size_t need = e->req_len + more, cap;
  char *p;
  if (need <= e->req_cap) return 0;
  if (!e->req && need <= POOLED_CAP && e->multi && e->multi->reqpool) {
    XFERM *m = e->multi;
    e->req = m->reqpool;
    memcpy(&m->reqpool, e->req, sizeof(char *));
    m->nreqpool--;
    e->req_cap = POOLED_CAP;
    return 0;
  }
  cap = e->req_cap ? e->req_cap : POOLED_CAP;
  while (cap < need) cap *= 2;
  p = realloc(e->req, cap);
  if (!p) return -1;
  e->req = p;
  e->req_cap = cap;
  return 0;
}

static int add(XFER *e, const char *s, size_t n) {
  if (reserve(e, n)) return -1;
  memcpy(e->req + e->req_len, s, n);
  e->req_len += n;
  return 0;
}

static int adds(XFER *e, const char *s) { return add(e, s, strlen(s)); }

/* The internal headers a custom header can replace or remove.  Not the
 * framing headers: see scan_custom. */
enum { H_HOST, H_UA, H_ACCEPT, H_CTYPE, H_AUTH, H_NUM };
static const char *const internal_names[H_NUM] = {
  "Host", "User-Agent", "Accept", "Content-Type", "Authorization"};

static int name_is(const char *h, size_t nlen, const char *name) {
  return strlen(name) == nlen && xfer__strcasecmp_n(h, name, nlen) == 0;
}

/* RFC 9110 tchar: what a method and a field name are made of. */
static int is_token(const char *s, size_t n) {
  static const char extra[] = "!#$%&'*+-.^_`|~";
  size_t i;
  if (!n) return 0;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
          (c >= 'A' && c <= 'Z') || (c && strchr(extra, c))))
      return 0;
  }
  return 1;
}

/* One custom header as libcurl reads it: "Name: value" sends (and
 * replaces an internal one), "Name:" removes an internal one, "Name;"
 * sends it empty.  Sets the name's length and the value (trimmed in
 * front; "" for both short forms), or returns -1 for a line that is none
 * of these. */
static int custom_parts(const char *h, size_t *nlen, const char **value,
                        int *removes) {
  const char *colon = strchr(h, ':'), *v;
  *removes = 0;
  if (colon) {
    *nlen = (size_t)(colon - h);
    v = colon + 1;
    while (*v == ' ' || *v == '\t') v++;
    *removes = !*v;
  } else {
    const char *semi = strchr(h, ';');
    if (!semi) return -1;
    *nlen = (size_t)(semi - h);
    for (v = semi + 1; *v == ' ' || *v == '\t'; v++) {}
    if (*v) return -1;
  }
  *value = v;
  return 0;
}

/* What the custom headers say about the body's framing. */
struct framing {
  int cl_set;                /* a Content-Length with a value */
  xfer_off_t cl;
  int te;                    /* TE_* below */
};
enum { TE_NONE = 0, TE_CHUNKED, TE_REMOVED };

static XFERcode refuse(XFER *e, const char *why, const char *h) {
  xfer__fail(e, "%s: %.60s", why, h);
  return XFERE_BAD_FUNCTION_ARGUMENT;
}

/* Checks every custom header and notes which internal ones they replace.
 * Refused (43): a CR, LF, other control byte or DEL anywhere (header
 * injection), a name that is not a token (a space would end the name on
 * the server's side), and framing values xfer cannot honour: a
 * Content-Length that is not a number, a Transfer-Encoding other than
 * chunked.  The request writer frames the body itself from these, so a
 * caller's header can never disagree with the bytes sent. */
static XFERcode scan_custom(XFER *e, int overridden[H_NUM],
                            struct framing *fr) {
  const struct xfer_slist *l;
  memset(fr, 0, sizeof(*fr));
  for (l = e->set.httpheader; l; l = l->next) {
    const char *h = l->data, *p, *v;
    size_t nlen;
    int i, removes;
    if (!h) continue;
    for (p = h; *p; p++)
      if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
        return refuse(e, "control character in request header", h);
    if (custom_parts(h, &nlen, &v, &removes))
      return refuse(e, "request header without a colon", h);
    if (!is_token(h, nlen))
      return refuse(e, "request header name is not a token", h);
    for (i = 0; i < H_NUM; i++)
      if (name_is(h, nlen, internal_names[i])) {
        /* Two Hosts: servers must refuse it, proxies may pick either. */
        if (i == H_HOST && overridden[i] == 2 && !removes)
          return refuse(e, "more than one Host request header", h);
        overridden[i] = removes ? 1 : 2;
      }
    if (name_is(h, nlen, "Content-Length") && !removes) {
      uint64_t x = 0;
      size_t k, vl = strlen(v);
      while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
      for (k = 0; k < vl && x < ((uint64_t)1 << 62); k++) {
        if (v[k] < '0' || v[k] > '9') break;
        x = x * 10 + (uint64_t)(v[k] - '0');
      }
      if (!vl || k < vl || (fr->cl_set && fr->cl != (xfer_off_t)x))
        return refuse(e, "bad Content-Length request header", h);
      fr->cl_set = 1;
      fr->cl = (xfer_off_t)x;
    } else if (name_is(h, nlen, "Transfer-Encoding")) {
      size_t vl = strlen(v);
      while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
      if (removes) fr->te = TE_REMOVED;
      else if (vl == 7 && xfer__strcasecmp_n(v, "chunked", 7) == 0)
        fr->te = TE_CHUNKED;
      else
        return refuse(e, "only 'Transfer-Encoding: chunked' can be sent", h);
    }
  }
  return XFERE_OK;
}

/* The custom headers, minus what the request writer sends itself: the
 * framing (always xfer's own, from scan_custom), a Host meant for the
 * original host only, and credentials on a redirect to another host. */
static int add_custom(XFER *e, int other_host) {
  const struct xfer_slist *l;
  for (l = e->set.httpheader; l; l = l->next) {
    const char *h = l->data, *v;
    size_t nlen;
    int removes;
    if (!h || custom_parts(h, &nlen, &v, &removes) || removes) continue;
    if (name_is(h, nlen, "Content-Length") ||
        name_is(h, nlen, "Transfer-Encoding"))
      continue;
    if (other_host && name_is(h, nlen, "Host")) continue;
    if (other_host && !e->set.unrestricted_auth &&
        (name_is(h, nlen, "Authorization") || name_is(h, nlen, "Cookie")))
      continue;
    if (add(e, h, nlen) || add(e, ":", 1) || (*v && add(e, " ", 1)) ||
        adds(e, v) || add(e, "\r\n", 2))
      return -1;
  }
  return 0;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Percent-decodes n bytes of src into dst (dst has room for n). */
static size_t unescape(char *dst, const char *src, size_t n) {
  size_t i, o = 0;
  for (i = 0; i < n; i++) {
    if (src[i] == '%' && i + 2 < n && hexval(src[i + 1]) >= 0 &&
        hexval(src[i + 2]) >= 0) {
      dst[o++] = (char)(hexval(src[i + 1]) * 16 + hexval(src[i + 2]));
      i += 2;
    } else {
      dst[o++] = src[i];
    }
  }
  return o;
}

static int add_basic_auth(XFER *e) {
  static const char b64[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t ul = e->u.user_len, pl = e->u.pass_len, n, i;
  char *raw, *out;
  int rc;
  raw = malloc(ul + pl + 2);
  if (!raw) return -1;
  n = unescape(raw, e->url + e->u.user_off, ul);
  raw[n++] = ':';
  n += unescape(raw + n, e->url + e->u.pass_off, pl);
  out = malloc((n + 2) / 3 * 4 + 1);
  if (!out) {
    free(raw);
    return -1;
  }
  for (i = 0; i * 3 < n; i++) {
    unsigned v = (unsigned char)raw[i * 3] << 16;
    size_t k = n - i * 3;
    if (k > 1) v |= (unsigned char)raw[i * 3 + 1] << 8;
    if (k > 2) v |= (unsigned char)raw[i * 3 + 2];
    out[i * 4] = b64[(v >> 18) & 63];
    out[i * 4 + 1] = b64[(v >> 12) & 63];
    out[i * 4 + 2] = k > 1 ? b64[(v >> 6) & 63] : '=';
    out[i * 4 + 3] = k > 2 ? b64[v & 63] : '=';
  }
  out[i * 4] = 0;
  rc = adds(e, "Authorization: Basic ") || adds(e, out) || adds(e, "\r\n");
  free(raw);
  free(out);
  return rc;
}

/* Is the current URL's host:port the one of the URL the caller set? */
static int same_origin_as_set(XFER *e) {
  struct xfer_url o;
  char a[300], b[300];
  if (e->url == e->set.url) return 1;
  if (xfer__url_parse(e->set.url, strlen(e->set.url), &o)) return 0;
  if (xfer__url_hostport(e->set.url, &o, a, sizeof(a)) < 0 ||
      xfer__url_hostport(e->url, &e->u, b, sizeof(b)) < 0)
    return 0;
  return o.scheme == e->u.scheme && strcmp(a, b) == 0;
}

static const char *method_of(XFER *e, int *has_body) {
  const struct xfer_opts *o = &e->set;
  *has_body = 0;
  if (e->method_get) return "GET";
  if (o->upload) {
    *has_body = 1;
    return o->customrequest ? o->customrequest : "PUT";
  }
  if (o->postfields || o->post) {
    *has_body = 1;
    return o->customrequest ? o->customrequest : "POST";
  }
  if (o->nobody) return o->customrequest ? o->customrequest : "HEAD";
  return o->customrequest ? o->customrequest : "GET";
}

/* How the body goes out: its length (-1: unknown) and whether it is
 * chunked.  A caller's Transfer-Encoding: chunked chunks it and drops any
 * Content-Length (libcurl's rule: never both, the CL.TE smuggling
 * pattern).  A caller's Content-Length must be the body's length, and
 * announces the length of a read-callback body of unknown size.  Returns
 * 0 or 43 with the reason. */
static XFERcode body_framing(XFER *e, const struct framing *fr, int has_body,
                             xfer_off_t *blen, int *chunked) {
  *chunked = fr->te == TE_CHUNKED;
  *blen = -1;
  if (!has_body) {
    if (fr->cl_set && fr->cl != 0 && !*chunked) {
      xfer__fail(e, "Content-Length header "
                 "(%lld) on a request without a body", (long long)fr->cl);
      return XFERE_BAD_FUNCTION_ARGUMENT;
    }
    return XFERE_OK;
  }
  if (e->set.postfields && !e->set.upload)
    *blen = e->set.postfieldsize >= 0 ? e->set.postfieldsize
                                      : (xfer_off_t)strlen(e->set.postfields);
  else
    *blen = e->set.upload ? e->set.infilesize : e->set.postfieldsize;
  if (*chunked) return XFERE_OK;
  if (fr->cl_set) {
    if (*blen < 0) *blen = fr->cl;
    if (*blen != fr->cl) {
      xfer__fail(e, "Content-Length header "
                 "(%lld) differs from the body's size (%lld)",
                 (long long)fr->cl, (long long)*blen);
      return XFERE_BAD_FUNCTION_ARGUMENT;
    }
  }
  if (*blen < 0) {
    if (fr->te == TE_REMOVED) {
      xfer__fail(e, "a body of unknown size "
                 "needs Transfer-Encoding: chunked, which a header removed");
      return XFERE_BAD_FUNCTION_ARGUMENT;
    }
    *chunked = 1;
  }
  return XFERE_OK;
}

/* What can make a request unsendable, checked when the transfer starts:
 * before it waits in a queue or opens a connection. */
XFERcode xfer__h1_check_request(XFER *e) {
  int ov[H_NUM] = {0}, has_body, chunked;
  struct framing fr;
  xfer_off_t blen;
  const char *method = method_of(e, &has_body);
  XFERcode rc = scan_custom(e, ov, &fr);
  if (rc) return rc;
  if (!is_token(method, strlen(method))) {
    xfer__fail(e, "bad request method: %.40s",
               method);
    return XFERE_BAD_FUNCTION_ARGUMENT;
  }
  return body_framing(e, &fr, has_body, &blen, &chunked);
}

static int add_hex(XFER *e, size_t n) {
  char head[24];
  int hl = snprintf(head, sizeof(head), "%zx\r\n", n);
  return add(e, head, (size_t)hl);
}

/* Writes the request into e->req when the transfer has its connection, so
 * a queued transfer holds no request buffer. */
XFERcode xfer__h1_build_request(XFER *e) {
  int ov[H_NUM] = {0}, has_body, oom = 0, chunked, other_host;
  struct framing fr;
  const char *method = method_of(e, &has_body);
  const char *path = e->url + e->u.path_off;
  size_t plen = e->u.path_len;
  xfer_off_t blen;
  char num[64];
  XFERcode rc = scan_custom(e, ov, &fr);
  if (rc || (rc = body_framing(e, &fr, has_body, &blen, &chunked))) return rc;
  e->method_head = strcmp(method, "HEAD") == 0;
  /* NOBODY means no body whatever the method (libcurl's rule): a body
   * the server sends anyway is left unread, so its connection closes. */
  e->skip_body = e->set.nobody && !e->method_head;
  e->body = NULL;
  e->body_len = 0;
  e->upload_cb = e->mem_chunked = 0;
  e->upload_chunked = (unsigned)(has_body && chunked);
  e->has_body = (unsigned)has_body;
  if (has_body) {
    if (e->set.postfields && !e->set.upload) {
      e->body = e->set.postfields;
      e->body_len = (size_t)(e->set.postfieldsize >= 0
                                 ? e->set.postfieldsize
                                 : (xfer_off_t)strlen(e->set.postfields));
    } else {
      e->upload_cb = 1;
    }
  }
  /* A custom Host is for the original host only (libcurl's rule), and
   * credentials set for one host are not sent to another after a
   * redirect (libcurl since 7.83) unless UNRESTRICTED_AUTH says so. */
  other_host = !same_origin_as_set(e);
  if (other_host) ov[H_HOST] = 0;
  e->req_len = 0;
  oom |= adds(e, method) || add(e, " ", 1);
  if (!plen || e->u.path_needs_slash) oom |= add(e, "/", 1);
  oom |= add(e, path, plen) || adds(e, " HTTP/1.1\r\n");
  if (!ov[H_HOST]) {
    oom |= adds(e, "Host: ");
    if (e->u.host_is_ipv6) oom |= add(e, "[", 1);
    oom |= add(e, e->url + e->u.host_off, e->u.host_len);
    if (e->u.host_is_ipv6) oom |= add(e, "]", 1);
    if (e->u.port_explicit &&
        e->u.port != (e->u.scheme == XFER_SCHEME_HTTPS ? 443 : 80)) {
      num[0] = ':';
      oom |= add(e, num, 1 + xfer__fmt_u64(num + 1, e->u.port));
    }
    oom |= add(e, "\r\n", 2);
  }
  if (e->u.has_userinfo && !ov[H_AUTH] &&
      (e->set.unrestricted_auth || !other_host))
    oom |= add_basic_auth(e);
  if (e->set.useragent && !ov[H_UA])
    oom |= adds(e, "User-Agent: ") || adds(e, e->set.useragent) ||
           add(e, "\r\n", 2);
  if (!ov[H_ACCEPT]) oom |= adds(e, "Accept: */*\r\n");
  /* The framing is always written here, from body_framing's decision
   * (add_custom leaves the caller's framing headers out). */
  if (chunked) {
    oom |= adds(e, "Transfer-Encoding: chunked\r\n");
  } else if (has_body || fr.cl_set) {
    oom |= adds(e, "Content-Length: ") ||
           add(e, num, xfer__fmt_u64(num, (uint64_t)(has_body ? blen : 0))) ||
           add(e, "\r\n", 2);
  }
  if (has_body && !e->set.upload && !ov[H_CTYPE])
    oom |= adds(e, "Content-Type: application/x-www-form-urlencoded\r\n");
  oom |= add_custom(e, other_host) || add(e, "\r\n", 2);
  e->req_head_len = e->req_len;
  e->upload_size = has_body ? blen : 0;
  if (chunked && !e->upload_cb) {
    /* A body from memory (or none), chunked: one chunk and the end. */
    if (e->body_len) oom |= add_hex(e, e->body_len);
    if (e->body && e->body_len > SMALL_BODY) {
      e->mem_chunked = 1; /* the rest goes out after the body */
      return oom ? XFERE_OUT_OF_MEMORY : XFERE_OK;
    }
    if (e->body_len) oom |= add(e, e->body, e->body_len) ||
                            add(e, "\r\n", 2);
    oom |= add(e, "0\r\n\r\n", 5);
    e->body = NULL;
    e->body_len = 0;
  }
  if (e->body && e->body_len <= SMALL_BODY) {
    /* One send for head and body. */
    oom |= add(e, e->body, e->body_len);
    e->body = NULL;
    e->body_len = 0;
  }
  return oom ? XFERE_OUT_OF_MEMORY : XFERE_OK;
}

/* Sends buf[*sent..len).  Returns 0 (all sent), 1 (EAGAIN) or an XFERcode. */
static int send_buf(XFER *e, const char *buf, size_t len, size_t *sent,
                    size_t uncounted) {
  while (*sent < len) {
    ssize_t n = xfer__conn_send(e->conn, buf + *sent, len - *sent);
    if (n == XFER_IO_AGAIN) return 1;
    if (n < 0) {
      xfer__fail(e, "send failure: %s",
                 e->conn->secure && !errno ? "TLS error" : strerror(errno));
      return XFERE_SEND_ERROR;
    }
    /* SIZE_UPLOAD counts body bytes, not the request head. */
    if (*sent + (size_t)n > uncounted)
      e->size_ul += (xfer_off_t)(*sent + (size_t)n -
                                 (*sent > uncounted ? *sent : uncounted));
    *sent += (size_t)n;
  }
  return 0;
}

/* Refills the upload buffer from the read callback, with chunk framing when
 * the size is unknown.  Returns 0 or an XFERcode. */
static XFERcode fill_upload(XFER *e) {
  XFERM *m = e->multi;
  size_t room = XFER_UPLOADBUF_SIZE, n;
  char *data;
  xfer_read_callback fn = e->set.readfn; /* NULL: fread, as libcurl */
  unsigned run;
  if (!e->upbuf && !(e->upbuf = malloc(XFER_UPLOADBUF_SIZE + 32)))
    return XFERE_OUT_OF_MEMORY;
  data = e->upbuf + 16; /* room for a chunk header */
  if (!e->upload_chunked) {
    /* Never ask for more than the announced size leaves: what a callback
     * gave past it would go out as the start of another request. */
    xfer_off_t left = e->upload_size - e->up_total;
    if (left < (xfer_off_t)room) room = (size_t)left;
  }
  run = xfer__cb_enter(e);
  if (fn) n = fn(data, 1, room, e->set.readdata);
  else n = fread(data, 1, room, e->set.readdata ? e->set.readdata : stdin);
  if (xfer__cb_leave(e, m, run)) return XFERE_ABORTED_BY_CALLBACK;
  if (n == XFER_READFUNC_ABORT) {
    xfer__fail(e, "read callback aborted");
    return XFERE_ABORTED_BY_CALLBACK;
  }
  if (n > room) {
    /* libcurl's answer too (CURLE_READ_ERROR, "funny value"). */
    xfer__fail(e, "read callback returned %zu, more than "
               "the %zu bytes asked for", n, room);
    return XFERE_READ_ERROR;
  }
  if (!e->upload_chunked) {
    if (n == 0 && e->up_total < e->upload_size) {
      xfer__fail(e, "the read callback ended the upload "
                 "before its announced size");
      return XFERE_READ_ERROR;
    }
    memmove(e->upbuf, data, n);
    e->up_len = n;
    e->up_total += (xfer_off_t)n;
    if (n == 0) e->upload_done = 1;
  } else if (n == 0) {
    memcpy(e->upbuf, "0\r\n\r\n", 5);
    e->up_len = 5;
    e->upload_done = 1;
  } else {
    char head[16];
    int hl = snprintf(head, sizeof(head), "%zx\r\n", n);
    memcpy(data - hl, head, (size_t)hl);
    memcpy(data + n, "\r\n", 2);
    memmove(e->upbuf, data - hl, (size_t)hl + n + 2);
    e->up_len = (size_t)hl + n + 2;
  }
  e->up_sent = 0;
  return XFERE_OK;
}

/* A kept body that came from the read callback must be read again from its
 * start (a 307/308 redirect).  As libcurl without a seek callback: xfer's
 * own fread on READDATA seeks its FILE back; any other read callback
 * cannot be rewound, and the transfer fails with SEND_FAIL_REWIND. */
XFERcode xfer__h1_rewind_upload(XFER *e) {
  FILE *f = e->set.readdata ? (FILE *)e->set.readdata : stdin;
  if (!e->upload_cb || e->up_total == 0) return XFERE_OK;
  if (!e->set.readfn && fseek(f, 0, SEEK_SET) == 0) return XFERE_OK;
  xfer__fail(e, "cannot send the request body again: the read callback "
             "cannot be rewound");
  return XFERE_SEND_FAIL_REWIND;
}

XFERcode xfer__h1_send(XFER *e, int *again) {
  int rc;
  *again = 0;
  rc = send_buf(e, e->req, e->req_len, &e->req_sent, e->req_head_len);
  if (rc) goto out;
  if (e->body) {
    rc = send_buf(e, e->body, e->body_len, &e->body_sent, 0);
    if (rc) goto out;
    if (e->mem_chunked) {
      static const char end[] = "\r\n0\r\n\r\n";
      rc = send_buf(e, end, sizeof(end) - 1, &e->up_sent, sizeof(end) - 1);
      if (rc) goto out;
    }
  }
  while (e->upload_cb) {
    xfer_off_t total = e->upload_size;
    if (e->up_sent == e->up_len) {
      if (e->upload_done) break;
      if (!e->upload_chunked && e->up_total >= total) {
        e->upload_done = 1;
        break;
      }
      rc = fill_upload(e);
      if (rc) return (XFERcode)rc;
      if (e->upload_done && !e->up_len) break;
    }
    rc = send_buf(e, e->upbuf, e->up_len, &e->up_sent, 0);
    if (rc) goto out;
  }
  return XFERE_OK;
out:
  if (rc == 1) {
    *again = 1;
    return XFERE_OK;
  }
  return (XFERcode)rc;
}

/* ---- the response ---- */

static int on_header(void *ud, const char *raw, size_t rawlen,
                     const char *name, size_t namelen, const char *value,
                     size_t valuelen) {
  XFER *e = ud;
  XFERM *m = e->multi;
  if (name && name_is(name, namelen, "Location")) {
    char *loc = malloc(valuelen + 1);
    if (!loc) return XFERE_OUT_OF_MEMORY;
    memcpy(loc, value, valuelen);
    loc[valuelen] = 0;
    free(e->location);
    e->location = loc;
  }
  if (e->set.headerfn || e->set.headerdata) {
    size_t n;
    unsigned run = xfer__cb_enter(e);
    if (e->set.headerfn)
      n = e->set.headerfn((char *)raw, 1, rawlen, e->set.headerdata);
    else
      n = fwrite(raw, 1, rawlen, e->set.headerdata);
    if (xfer__cb_leave(e, m, run)) return XFERE_ABORTED_BY_CALLBACK;
    if (n != rawlen) {
      xfer__fail(e, "header callback took %zu of %zu "
                 "bytes", n, rawlen);
      return XFERE_WRITE_ERROR;
    }
  }
  return 0;
}

static int on_headers_done(void *ud) { return xfer__headers_done(ud); }

static int on_body(void *ud, const char *data, size_t len) {
  XFER *e = ud;
  XFERM *m = e->multi;
  size_t n;
  unsigned run;
  if (e->discard_body) return 0;
  e->size_dl += (xfer_off_t)len;
  run = xfer__cb_enter(e);
  if (e->set.writefn)
    n = e->set.writefn((char *)data, 1, len, e->set.writedata);
  else
    n = fwrite(data, 1, len, e->set.writedata ? e->set.writedata : stdout);
  if (xfer__cb_leave(e, m, run)) return XFERE_ABORTED_BY_CALLBACK;
  if (n != len) {
    xfer__fail(e, "write callback took %zu of %zu bytes",
               n, len);
    return XFERE_WRITE_ERROR;
  }
  return 0;
}

static const struct xfer_h1p_callbacks h1_callbacks = {
  on_header, on_headers_done, on_body};

/* Reads what the socket has (one recv unless it filled the buffer) and
 * feeds it to the parser.  *finished is set when the response is complete;
 * bytes past its end make the connection unusable (nothing is read past a
 * response on a keep-alive connection). */
XFERcode xfer__h1_recv(XFER *e, int *finished) {
  XFERM *m = e->multi;
  struct xfer_conn *c = e->conn;
  *finished = 0;
  if (!m->recvbuf && !(m->recvbuf = malloc(XFER_RECVBUF_SIZE)))
    return XFERE_OUT_OF_MEMORY;
  for (;;) {
    size_t consumed = 0;
    int rc;
    ssize_t n = xfer__conn_recv(c, m->recvbuf, XFER_RECVBUF_SIZE);
    if (n == XFER_IO_AGAIN) return XFERE_OK;
    if (n < 0) {
      xfer__fail(e, "recv failure: %s",
                 c->secure && !errno ? "TLS error" : strerror(errno));
      return XFERE_RECV_ERROR;
    }
    if (n == 0) {
      rc = xfer__h1p_eof(&c->parser, &h1_callbacks, e);
      if (rc) {
        if (rc == XFERE_GOT_NOTHING)
          xfer__fail(e, "Empty reply from server");
        else if (rc == XFERE_PARTIAL_FILE) {
          char where[96];
          xfer__fail(e, "connection closed %s",
                     xfer__h1p_cut_short(&c->parser, where, sizeof(where)));
        }
        return (XFERcode)rc;
      }
      c->parser.keepalive = 0;
      *finished = 1;
      return XFERE_OK;
    }
    if (!e->got_bytes) {
      e->got_bytes = 1;
      e->t_starttransfer = xfer__now() - e->t_start;
    }
    rc = xfer__h1p_feed(&c->parser, m->recvbuf, (size_t)n, &consumed,
                        &h1_callbacks, e);
    if (rc) {
      if (rc == XFERE_WEIRD_SERVER_REPLY)
        xfer__fail(e, "the server's response is "
                   "not valid HTTP/1.x");
      else if (rc == XFERE_TOO_LARGE)
        xfer__fail(e, "response header section over the "
                   "limit");
      return (XFERcode)rc;
    }
    if (c->parser.done) {
      /* Anything past the response, in this read, inside TLS (read-ahead
       * takes whole records the socket no longer shows) or in the kernel
       * behind a read that filled its buffer, would become the next
       * request's response: the connection is not kept. */
      if (consumed < (size_t)n ||
          (c->parser.keepalive &&
           xfer__conn_bytes_after(c)))
        c->parser.keepalive = 0;
      *finished = 1;
      return XFERE_OK;
    }
    if ((size_t)n < XFER_RECVBUF_SIZE && !xfer__conn_pending(c))
      return XFERE_OK;
  }
}
