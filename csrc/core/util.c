/*
 * util.c -- small things the whole core uses: the clock, error messages,
 * verbose output, string lists, and the tables of code names and texts.
 */

#include "xfer_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t xfer__now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Records why a transfer fails, in the caller's ERRORBUFFER when set (the
 * only place libcurl puts the text), or in one allocated now for
 * xfer_easy_keep_errortext, and on stderr when VERBOSE is on. */
void xfer__fail(XFER *e, const char *fmt, ...) {
  char buf[XFER_ERROR_SIZE];
  va_list ap;
  if (!e->set.errorbuffer && e->keep_errtext &&
      (e->set.errorbuffer = malloc(XFER_ERROR_SIZE)) != NULL) {
    e->set.errorbuffer[0] = 0;
    e->own_errbuf = 1;
  }
  if (!e->set.errorbuffer && !e->set.verbose) return;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (e->set.errorbuffer && !e->set.errorbuffer[0])
    memcpy(e->set.errorbuffer, buf, strlen(buf) + 1);
  if (e->set.verbose) fprintf(stderr, "* %s\n", buf);
}

void xfer__verbose(XFER *e, const char *fmt, ...) {
  char line[512];
  va_list ap;
  int n;
  if (!e->set.verbose) return;
  va_start(ap, fmt);
  n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n > sizeof(line) - 2) n = (int)sizeof(line) - 2;
  line[n++] = '\n';
  line[n] = 0;
  xfer__debug(e, XFERINFO_TEXT, line, (size_t)n);
}

/* Each line of data with its prefix ("> ", "< "), as libcurl prints. */
static void print_lines(const char *prefix, const char *data, size_t len) {
  while (len) {
    const char *nl = memchr(data, '\n', len);
    size_t n = nl ? (size_t)(nl - data) + 1 : len;
    fputs(prefix, stderr);
    fwrite(data, 1, n, stderr);
    if (!nl) fputc('\n', stderr);
    data += n;
    len -= n;
  }
}

/* The debug callback runs as the socket and timer callbacks do: the API
 * calls that would change the multi handle are refused in it
 * (RECURSIVE_API_CALL), a cleanup waits for the call to end. */
void xfer__debug(XFER *e, xfer_infotype type, const char *data, size_t len) {
  XFERM *m = e->multi;
  if (!e->set.verbose || e->free_pending) return;
  if (e->set.debugfn) {
    if (m) m->in_callback++;
    e->set.debugfn(e, type, (char *)data, len, e->set.debugdata);
    if (m) m->in_callback--;
    return;
  }
  switch (type) {
  case XFERINFO_TEXT: print_lines("* ", data, len); break;
  case XFERINFO_HEADER_IN: print_lines("< ", data, len); break;
  case XFERINFO_HEADER_OUT: print_lines("> ", data, len); break;
  default: break; /* data is for a debug callback only */
  }
}

size_t xfer__fmt_u64(char *buf, uint64_t v) {
  char tmp[20];
  size_t n = 0, i;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
  return n;
}

int xfer__strcasecmp_n(const char *a, const char *b, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    int ca = tolower((unsigned char)a[i]), cb = tolower((unsigned char)b[i]);
    if (ca != cb) return ca - cb;
    if (!ca) return 0;
  }
  return 0;
}

int xfer__tchar(int c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

struct xfer_slist *xfer_slist_append(struct xfer_slist *list, const char *s) {
  struct xfer_slist *n, *last;
  if (!s) return NULL;
  n = malloc(sizeof(*n));
  if (!n) return NULL;
  n->data = strdup(s);
  n->next = NULL;
  if (!n->data) {
    free(n);
    return NULL;
  }
  if (!list) return n;
  for (last = list; last->next; last = last->next) {}
  last->next = n;
  return list;
}

int xfer__hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

size_t xfer__pct_decode(char *dst, const char *src, size_t n) {
  size_t i, o = 0;
  for (i = 0; i < n; i++) {
    if (src[i] == '%' && i + 2 < n && xfer__hexval(src[i + 1]) >= 0 && xfer__hexval(src[i + 2]) >= 0) {
      dst[o++] = (char)(xfer__hexval(src[i + 1]) * 16 +
                        xfer__hexval(src[i + 2]));
      i += 2;
    } else {
      dst[o++] = src[i];
    }
  }
  return o;
}

char *xfer_easy_escape(XFER *easy, const char *s, int length) {
  static const char hex[] = "0123456789ABCDEF";
  size_t n, i, o = 0;
  char *out;
  (void)easy;
  if (!s || length < 0) return NULL;
  n = length ? (size_t)length : strlen(s);
  if (n > ((size_t)-1) / 3 - 1 || !(out = malloc(n * 3 + 1))) return NULL;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
        (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
        c == '~') {
      out[o++] = (char)c;
    } else {
      out[o++] = '%';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 15];
    }
  }
  out[o] = 0;
  return out;
}

char *xfer_easy_unescape(XFER *easy, const char *s, int length,
                         int *outlength) {
  size_t n, o;
  char *out;
  (void)easy;
  if (!s || length < 0) return NULL;
  n = length ? (size_t)length : strlen(s);
  if (n > (size_t)2147483646 || !(out = malloc(n + 1))) return NULL;
  o = xfer__pct_decode(out, s, n);
  out[o] = 0;
  if (outlength) *outlength = (int)o;
  return out;
}

void xfer_free(void *p) { free(p); }

void xfer_slist_free_all(struct xfer_slist *list) {
  while (list) {
    struct xfer_slist *next = list->next;
    free(list->data);
    free(list);
    list = next;
  }
}

const char *xfer_version(void) { return "xfer/" XFER_VERSION; }

struct code_text {
  int code;
  const char *name;
  const char *text;
};

static const struct code_text easy_codes[] = {
  {XFERE_OK, "OK", "success"},
  {XFERE_UNSUPPORTED_PROTOCOL, "UNSUPPORTED_PROTOCOL", "the URL's scheme is not http or https"},
  {XFERE_FAILED_INIT, "FAILED_INIT", "initialisation failed"},
  {XFERE_URL_MALFORMAT, "URL_MALFORMAT", "the URL is malformed or missing"},
  {XFERE_NOT_BUILT_IN, "NOT_BUILT_IN", "this feature is not built in"},
  {XFERE_COULDNT_RESOLVE_PROXY, "COULDNT_RESOLVE_PROXY", "the proxy's name did not resolve"},
  {XFERE_COULDNT_RESOLVE_HOST, "COULDNT_RESOLVE_HOST", "the host name did not resolve"},
  {XFERE_COULDNT_CONNECT, "COULDNT_CONNECT", "the connection to the server failed"},
  {XFERE_WEIRD_SERVER_REPLY, "WEIRD_SERVER_REPLY", "the server's reply is not valid HTTP"},
  {XFERE_REMOTE_ACCESS_DENIED, "REMOTE_ACCESS_DENIED", "the server denied access"},
  {XFERE_HTTP2, "HTTP2", "HTTP/2 framing error"},
  {XFERE_PARTIAL_FILE, "PARTIAL_FILE", "the response ended before its announced end"},
  {XFERE_HTTP_RETURNED_ERROR, "HTTP_RETURNED_ERROR", "the server answered with an HTTP error status (400 or above)"},
  {XFERE_WRITE_ERROR, "WRITE_ERROR", "the write callback did not take all the data"},
  {XFERE_UPLOAD_FAILED, "UPLOAD_FAILED", "the upload failed"},
  {XFERE_READ_ERROR, "READ_ERROR", "reading the data to upload failed"},
  {XFERE_OUT_OF_MEMORY, "OUT_OF_MEMORY", "out of memory"},
  {XFERE_OPERATION_TIMEDOUT, "OPERATION_TIMEDOUT", "a timeout expired"},
  {XFERE_RANGE_ERROR, "RANGE_ERROR", "the server did not deliver the requested range"},
  {XFERE_SSL_CONNECT_ERROR, "SSL_CONNECT_ERROR", "the TLS handshake failed"},
  {XFERE_ABORTED_BY_CALLBACK, "ABORTED_BY_CALLBACK", "a callback aborted the transfer"},
  {XFERE_BAD_FUNCTION_ARGUMENT, "BAD_FUNCTION_ARGUMENT", "a function was given a bad argument"},
  {XFERE_INTERFACE_FAILED, "INTERFACE_FAILED", "binding the local end of the connection failed"},
  {XFERE_TOO_MANY_REDIRECTS, "TOO_MANY_REDIRECTS", "the redirect limit was reached"},
  {XFERE_UNKNOWN_OPTION, "UNKNOWN_OPTION", "the option is not known or not supported"},
  {XFERE_SETOPT_OPTION_SYNTAX, "SETOPT_OPTION_SYNTAX", "the option's value has a bad syntax"},
  {XFERE_GOT_NOTHING, "GOT_NOTHING", "the server closed the connection without answering"},
  {XFERE_SEND_ERROR, "SEND_ERROR", "sending to the server failed"},
  {XFERE_RECV_ERROR, "RECV_ERROR", "receiving from the server failed"},
  {XFERE_SSL_CERTPROBLEM, "SSL_CERTPROBLEM", "the local client certificate could not be used"},
  {XFERE_SSL_CIPHER, "SSL_CIPHER", "the cipher list could not be used"},
  {XFERE_PEER_FAILED_VERIFICATION, "PEER_FAILED_VERIFICATION", "the server's certificate did not verify"},
  {XFERE_BAD_CONTENT_ENCODING, "BAD_CONTENT_ENCODING", "unsupported or bad content encoding"},
  {XFERE_FILESIZE_EXCEEDED, "FILESIZE_EXCEEDED", "the response is larger than allowed"},
  {XFERE_SEND_FAIL_REWIND, "SEND_FAIL_REWIND", "the request body could not be sent again"},
  {XFERE_SSL_CACERT_BADFILE, "SSL_CACERT_BADFILE", "the CA certificates could not be loaded"},
  {XFERE_SSL_SHUTDOWN_FAILED, "SSL_SHUTDOWN_FAILED", "the TLS shutdown failed"},
  {XFERE_AGAIN, "AGAIN", "the socket is not ready"},
  {XFERE_SSL_CRL_BADFILE, "SSL_CRL_BADFILE", "the CRL file could not be loaded"},
  {XFERE_SSL_ISSUER_ERROR, "SSL_ISSUER_ERROR", "the issuer check of the server's certificate failed"},
  {XFERE_NO_CONNECTION_AVAILABLE, "NO_CONNECTION_AVAILABLE", "no connection is available under the limits"},
  {XFERE_SSL_PINNEDPUBKEYNOTMATCH, "SSL_PINNEDPUBKEYNOTMATCH", "the server's public key does not match the pinned key"},
  {XFERE_HTTP2_STREAM, "HTTP2_STREAM", "HTTP/2 stream error"},
  {XFERE_RECURSIVE_API_CALL, "RECURSIVE_API_CALL", "the function may not be called from inside a callback"},
  {XFERE_PROXY, "PROXY", "the proxy handshake failed (PROXY_ERROR says how)"},
  {XFERE_UNRECOVERABLE_POLL, "UNRECOVERABLE_POLL", "polling the sockets failed"},
  {XFERE_TOO_LARGE, "TOO_LARGE", "a response field is larger than the limit"},
};

static const struct code_text multi_codes[] = {
  {XFERM_CALL_MULTI_PERFORM, "CALL_MULTI_PERFORM", "call perform again (never returned)"},
  {XFERM_OK, "OK", "success"},
  {XFERM_BAD_HANDLE, "BAD_HANDLE", "not a valid multi handle"},
  {XFERM_BAD_EASY_HANDLE, "BAD_EASY_HANDLE", "not a valid easy handle, or it is in another multi handle"},
  {XFERM_OUT_OF_MEMORY, "OUT_OF_MEMORY", "out of memory"},
  {XFERM_INTERNAL_ERROR, "INTERNAL_ERROR", "internal error"},
  {XFERM_BAD_SOCKET, "BAD_SOCKET", "the socket is not one of this multi handle's"},
  {XFERM_UNKNOWN_OPTION, "UNKNOWN_OPTION", "the option is not known or not supported"},
  {XFERM_ADDED_ALREADY, "ADDED_ALREADY", "the easy handle is already added"},
  {XFERM_RECURSIVE_API_CALL, "RECURSIVE_API_CALL", "the function may not be called from inside a callback"},
  {XFERM_WAKEUP_FAILURE, "WAKEUP_FAILURE", "the wakeup failed"},
  {XFERM_BAD_FUNCTION_ARGUMENT, "BAD_FUNCTION_ARGUMENT", "a function was given a bad argument"},
  {XFERM_ABORTED_BY_CALLBACK, "ABORTED_BY_CALLBACK", "a callback aborted the operation"},
  {XFERM_UNRECOVERABLE_POLL, "UNRECOVERABLE_POLL", "polling the sockets failed"},
};

static const struct code_text *find(const struct code_text *t, size_t n,
                                    int code) {
  size_t i;
  for (i = 0; i < n; i++)
    if (t[i].code == code) return &t[i];
  return NULL;
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

const char *xfer_easy_strerror(XFERcode code) {
  const struct code_text *c = find(easy_codes, NELEM(easy_codes), code);
  return c ? c->text : "Unknown error";
}

const char *xfer_easy_codename(XFERcode code) {
  const struct code_text *c = find(easy_codes, NELEM(easy_codes), code);
  return c ? c->name : NULL;
}

const char *xfer_multi_strerror(XFERMcode code) {
  const struct code_text *c = find(multi_codes, NELEM(multi_codes), code);
  return c ? c->text : "Unknown error";
}

const char *xfer_multi_codename(XFERMcode code) {
  const struct code_text *c = find(multi_codes, NELEM(multi_codes), code);
  return c ? c->name : NULL;
}
