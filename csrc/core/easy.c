/*
 * easy.c -- the easy handle: options (setopt), results (getinfo), reset,
 * duphandle, cleanup, and xfer_easy_perform on a private multi handle.
 * Every string option is copied; lists (HTTPHEADER, RESOLVE) are used in
 * place, as libcurl does, and must outlive the transfer.
 */

#include "xfer_int.h"
#include "options.h"

#include <limits.h>
#include <sys/un.h>
#include <strings.h>
#include <stdlib.h>
#include <string.h>

void xfer__opts_init(struct xfer_opts *o) {
  memset(o, 0, sizeof(*o));
  o->postfieldsize = -1;
  o->infilesize = -1;
  o->maxredirs = XFER_DEFAULT_MAXREDIRS;
  o->dns_cache_timeout = 60;
  o->noprogress = 1;
  o->tcp_nodelay = 1;
  o->happy_eyeballs_ms = XFER_DEFAULT_HAPPY_EYEBALLS_MS;
  o->keepidle = o->keepintvl = 60;
  o->keepcnt = 9;
  o->localportrange = 1;
  o->ssl_verifypeer = 1;
  o->ssl_verifyhost = 1;
  o->ssl_sessionid_cache = 1;
  o->content_decoding = 1;
  o->httpauth = XFERAUTH_BASIC;
  o->redir_protocols = (1 << XFER_SCHEME_HTTP) | (1 << XFER_SCHEME_HTTPS);
  o->proxyauth = XFERAUTH_BASIC;
  o->proxy_ssl_verifypeer = 1;
  o->proxy_ssl_verifyhost = 1;
}

void xfer__opts_free(struct xfer_opts *o) {
#define FREE_(opt, field, flags) free(o->field);
  XFER_OWNED_STRINGS(FREE_)
#undef FREE_
  free(o->copypostfields);
  xfer_slist_free_all(o->cookiefiles);
}

/* ---- the option table (xfer.h: XFER_EASY_OPTIONS) ---- */

static const struct xfer_easyoption options[] = {
#define ENTRY_(name, number, type) {#name, XFEROPT_##name, XFEROT_##type, 0},
  XFER_EASY_OPTIONS(ENTRY_)
#undef ENTRY_
  {NULL, XFEROPT_LASTENTRY, XFEROT_LONG, 0}
};

const struct xfer_easyoption *xfer_easy_option_by_name(const char *name) {
  const struct xfer_easyoption *o;
  if (!name) return NULL;
  for (o = options; o->name; o++)
    if (strcasecmp(o->name, name) == 0) return o;
  return NULL;
}

const struct xfer_easyoption *xfer_easy_option_by_id(XFERoption id) {
  const struct xfer_easyoption *o;
  for (o = options; o->name; o++)
    if (o->id == id) return o;
  return NULL;
}

const struct xfer_easyoption *xfer_easy_option_next(
    const struct xfer_easyoption *prev) {
  if (!prev) return options;
  if (prev < options || prev >= options + (sizeof(options) /
                                           sizeof(options[0]) - 1))
    return NULL;
  return prev[1].name ? prev + 1 : NULL;
}

/* An option's type, or -1 for one xfer does not have (a jump table). */
static int type_of(XFERoption opt) {
  switch (opt) {
#define CASE_(name, number, type) case XFEROPT_##name: return XFEROT_##type;
    XFER_EASY_OPTIONS(CASE_)
#undef CASE_
  default: return -1;
  }
}

XFER *xfer_easy_init(void) {
  XFER *e = calloc(1, sizeof(*e));
  if (!e) return NULL;
  e->magic = XFER_EASY_MAGIC;
  xfer__opts_init(&e->set);
  xfer_queue_init(&e->mlink);
  xfer_queue_init(&e->qlink);
  xfer_queue_init(&e->hlink);
  xfer_queue_init(&e->msglink);
  e->content_length = -1;
  xfer__proxy_route_free(&e->px); /* no proxy yet: the types say none */
  return e;
}

/* The buffer xfer_easy_keep_errortext made, if any. */
static void drop_errbuf(XFER *e) {
  if (!e->own_errbuf) return;
  free(e->set.errorbuffer);
  e->set.errorbuffer = NULL;
  e->own_errbuf = 0;
}

static void free_run_state(XFER *e) {
  xfer__proxy_route_free(&e->px);
  if (e->url && e->url != e->set.url) free(e->url);
  e->url = NULL;
  e->url_parsed = 0;
  free(e->body_retired);
  e->body_retired = NULL;
  free(e->location);
  e->location = NULL;
  free(e->content_type);
  free(e->redirect_url);
  e->content_type = e->redirect_url = NULL;
  xfer__auth_free(e);
  xfer__proxy_auth_free(e);
}

void xfer__easy_free(XFER *e) {
  if (e->private_multi) xfer_multi_cleanup(e->private_multi);
  xfer__cookies_close(e, 1); /* writes COOKIEJAR */
  free_run_state(e);
  drop_errbuf(e);
  xfer__opts_free(&e->set);
  e->magic = 0;
  free(e);
}

/* Frees e now, or (held by frames that still use it: its own callback,
 * xfer_easy_perform) when the last one lets go (xfer__unhold).  Inside
 * the socket or timer callback nothing may be torn down: the API call
 * that ran the callback finishes it (xfer__end_call). */
void xfer_easy_cleanup(XFER *e) {
  if (!xfer__good_easy(e) || e->free_pending) return;
  e->free_pending = 1;
  if (e->multi && e->multi->in_callback) {
    e->multi->deferred_frees = 1;
    return;
  }
  if (e->multi) xfer__detach(e); /* frees it, unless held */
  else if (!e->busy) xfer__easy_free(e);
}

int xfer__unhold(XFER *e) {
  if (--e->busy > 0 || !e->free_pending) return 0;
  if (e->multi) {
    if (e->multi->in_callback) return 0; /* xfer__end_call frees it */
    xfer__detach(e);
  } else {
    xfer__easy_free(e);
  }
  return 1;
}

static XFERcode set_string(char **dst, const char *v) {
  char *c = NULL;
  if (v && !(c = strdup(v))) return XFERE_OUT_OF_MEMORY;
  free(*dst);
  *dst = c;
  return XFERE_OK;
}

/* libcurl's rules: DIGEST_IE is Digest (its uri without the query), the
 * schemes not built in are dropped, and nothing left (ONLY does not
 * count) is XFERE_NOT_BUILT_IN; NONE turns authentication off. */
static XFERcode set_httpauth(struct xfer_opts *o, unsigned long v) {
  int ie = (v & XFERAUTH_DIGEST_IE) != 0;
  if (v == XFERAUTH_NONE) {
    o->httpauth = v;
    return XFERE_OK;
  }
  if (ie) v = (v | XFERAUTH_DIGEST) & ~XFERAUTH_DIGEST_IE;
  v &= ~(XFERAUTH_NEGOTIATE | XFERAUTH_NTLM | XFERAUTH_NTLM_WB |
         XFERAUTH_AWS_SIGV4);
  if (!(v & 0x7fffffffUL)) return XFERE_NOT_BUILT_IN;
  o->httpauth = v;
  o->digest_ie = (unsigned)ie;
  return XFERE_OK;
}

/* USERPWD "user:password" sets both (the first ':' splits; without one,
 * the password is left unset); NULL unsets both. */
static XFERcode set_userpwd(struct xfer_opts *o, const char *v) {
  const char *colon = v ? strchr(v, ':') : NULL;
  char *u = NULL, *p = NULL;
  if (v && !(u = colon ? strndup(v, (size_t)(colon - v)) : strdup(v)))
    return XFERE_OUT_OF_MEMORY;
  if (colon && !(p = strdup(colon + 1))) {
    free(u);
    return XFERE_OUT_OF_MEMORY;
  }
  free(o->username);
  free(o->password);
  o->username = u;
  o->password = p;
  return XFERE_OK;
}

/* Options that hold a long; returns XFERE_UNKNOWN_OPTION if opt is not one. */
static XFERcode set_long(XFER *e, XFERoption opt, long v) {
  struct xfer_opts *o = &e->set;
  switch (opt) {
  case XFEROPT_TIMEOUT:
    if (v < 0 || v > LONG_MAX / 1000) return XFERE_BAD_FUNCTION_ARGUMENT;
    o->timeout_ms = v * 1000;
    break;
  case XFEROPT_TIMEOUT_MS:
    if (v < 0) return XFERE_BAD_FUNCTION_ARGUMENT;
    o->timeout_ms = v;
    break;
  case XFEROPT_CONNECTTIMEOUT:
    if (v < 0 || v > LONG_MAX / 1000) return XFERE_BAD_FUNCTION_ARGUMENT;
    o->connecttimeout_ms = v * 1000;
    break;
  case XFEROPT_CONNECTTIMEOUT_MS:
    if (v < 0) return XFERE_BAD_FUNCTION_ARGUMENT;
    o->connecttimeout_ms = v;
    break;
  case XFEROPT_LOW_SPEED_LIMIT:
    if (v < 0) return XFERE_BAD_FUNCTION_ARGUMENT;
    o->low_speed_limit = v;
    break;
  case XFEROPT_LOW_SPEED_TIME:
    if (v < 0) return XFERE_BAD_FUNCTION_ARGUMENT;
    o->low_speed_time = v;
    break;
  case XFEROPT_MAXREDIRS:
    if (v < -1) return XFERE_BAD_FUNCTION_ARGUMENT;
    o->maxredirs = v;
    break;
  case XFEROPT_DNS_CACHE_TIMEOUT:
    if (v < -1) return XFERE_BAD_FUNCTION_ARGUMENT;
    o->dns_cache_timeout = v;
    break;
  case XFEROPT_IPRESOLVE:
    if (v < XFER_IPRESOLVE_WHATEVER || v > XFER_IPRESOLVE_V6)
      return XFERE_BAD_FUNCTION_ARGUMENT;
    o->ipresolve = (int)v;
    break;
  case XFEROPT_HTTP_VERSION:
    if (v == XFER_HTTP_VERSION_1_0 || v == 30 || v == 31)
      return XFERE_NOT_BUILT_IN; /* HTTP/1.0 and HTTP/3 are not */
    if (v < XFER_HTTP_VERSION_NONE ||
        v > XFER_HTTP_VERSION_2_PRIOR_KNOWLEDGE)
      return XFERE_BAD_FUNCTION_ARGUMENT;
    o->http_version = (int)v;
    break;
  case XFEROPT_INFILESIZE:
    o->infilesize = v < 0 ? -1 : v;
    break;
  case XFEROPT_POSTFIELDSIZE:
    if (v < -1) return XFERE_BAD_FUNCTION_ARGUMENT;
    o->postfieldsize = v;
    break;
  case XFEROPT_UPLOAD:
    o->upload = !!v;
    if (v) o->nobody = 0;
    break;
  case XFEROPT_POST:
    o->post = !!v;
    if (v) o->nobody = o->upload = 0;
    break;
  case XFEROPT_NOBODY:
    o->nobody = !!v;
    if (v) o->upload = o->post = 0;
    break;
  case XFEROPT_HTTPGET:
    if (v) { /* back to a plain GET */
      o->upload = o->post = o->nobody = 0;
      o->postfields = NULL;
    }
    break;
  case XFEROPT_FOLLOWLOCATION: o->followlocation = !!v; break;
  case XFEROPT_COOKIESESSION: o->cookiesession = !!v; break;
  case XFEROPT_FAILONERROR: o->failonerror = !!v; break;
  case XFEROPT_VERBOSE: o->verbose = !!v; break;
  case XFEROPT_NOPROGRESS: o->noprogress = !!v; break;
  case XFEROPT_FORBID_REUSE: o->forbid_reuse = !!v; break;
  case XFEROPT_FRESH_CONNECT: o->fresh_connect = !!v; break;
  case XFEROPT_PIPEWAIT: o->pipewait = !!v; break;
  case XFEROPT_TCP_NODELAY: o->tcp_nodelay = !!v; break;
  case XFEROPT_TCP_KEEPALIVE: o->tcp_keepalive = !!v; break;
  case XFEROPT_TCP_KEEPIDLE:
  case XFEROPT_TCP_KEEPINTVL:
  case XFEROPT_TCP_KEEPCNT:
    if (v <= 0 || v > 0x7fff) return XFERE_BAD_FUNCTION_ARGUMENT;
    *(opt == XFEROPT_TCP_KEEPIDLE    ? &o->keepidle
      : opt == XFEROPT_TCP_KEEPINTVL ? &o->keepintvl
                                     : &o->keepcnt) = (int)v;
    break;
  case XFEROPT_LOCALPORT:
    if (v < 0 || v > 65535) return XFERE_BAD_FUNCTION_ARGUMENT;
    o->localport = (uint16_t)v;
    break;
  case XFEROPT_LOCALPORTRANGE:
    if (v < 1 || v > 65535) return XFERE_BAD_FUNCTION_ARGUMENT;
    o->localportrange = (uint16_t)v;
    break;
  case XFEROPT_HAPPY_EYEBALLS_TIMEOUT_MS:
    if (v < 0) return XFERE_BAD_FUNCTION_ARGUMENT;
    o->happy_eyeballs_ms = v ? v : XFER_DEFAULT_HAPPY_EYEBALLS_MS;
    break;
  case XFEROPT_SSL_VERIFYPEER: o->ssl_verifypeer = !!v; break;
  case XFEROPT_SSL_VERIFYHOST:
    /* libcurl treats 1 as 2 since 7.66: the name is checked or not. */
    if (v < 0 || v > 2) return XFERE_BAD_FUNCTION_ARGUMENT;
    o->ssl_verifyhost = !!v;
    break;
  case XFEROPT_SSL_SESSIONID_CACHE: o->ssl_sessionid_cache = !!v; break;
  case XFEROPT_UNRESTRICTED_AUTH: o->unrestricted_auth = !!v; break;
  case XFEROPT_HTTPAUTH: return set_httpauth(o, (unsigned long)v);
  case XFEROPT_SSLVERSION: {
    long min = v & 0xffff, max = v >> 16;
    if (min == 2 || min == 3 || min > XFER_SSLVERSION_TLSv1_3 ||
        max > XFER_SSLVERSION_TLSv1_3 || max == 2 || max == 3)
      return XFERE_BAD_FUNCTION_ARGUMENT; /* SSLv2/v3: never */
    o->sslversion = v;
    break;
  }
  case XFEROPT_HTTP_CONTENT_DECODING: o->content_decoding = !!v; break;
  case XFEROPT_HTTP_TRANSFER_DECODING:
    /* Chunked framing is always undone: handing it to the application
     * raw is not built in (docs/api.md). */
    if (!v) return XFERE_NOT_BUILT_IN;
    break;
  case XFEROPT_MAXFILESIZE:
    if (v < 0) return XFERE_BAD_FUNCTION_ARGUMENT;
    o->max_filesize = v;
    break;
  case XFEROPT_PROXYPORT:
    if (v < 0 || v > 65535) return XFERE_BAD_FUNCTION_ARGUMENT;
    o->proxyport = v;
    break;
  case XFEROPT_PROXYTYPE:
    if (v != XFERPROXY_HTTP && v != XFERPROXY_HTTP_1_0 &&
        v != XFERPROXY_HTTPS && !XFER_IS_SOCKS(v))
      return XFERE_BAD_FUNCTION_ARGUMENT;
    o->proxytype = (int)v;
    break;
  case XFEROPT_PROXYAUTH: {
    /* As HTTPAUTH, and Bearer too is dropped: libcurl never sends a
     * bearer token to a proxy. */
    unsigned long m = (unsigned long)v;
    int ie = (m & XFERAUTH_DIGEST_IE) != 0;
    if (m == XFERAUTH_NONE) {
      o->proxyauth = m;
      break;
    }
    if (ie) m = (m | XFERAUTH_DIGEST) & ~XFERAUTH_DIGEST_IE;
    m &= ~(XFERAUTH_NEGOTIATE | XFERAUTH_NTLM | XFERAUTH_NTLM_WB |
           XFERAUTH_AWS_SIGV4 | XFERAUTH_BEARER);
    if (!(m & 0x7fffffffUL)) return XFERE_NOT_BUILT_IN;
    o->proxyauth = m;
    o->proxy_digest_ie = (unsigned)ie;
    break;
  }
  case XFEROPT_HTTPPROXYTUNNEL: o->httpproxytunnel = !!v; break;
  case XFEROPT_HEADEROPT:
    if (v != XFERHEADER_UNIFIED && v != XFERHEADER_SEPARATE)
      return XFERE_BAD_FUNCTION_ARGUMENT;
    o->header_unified = v == XFERHEADER_UNIFIED;
    break;
  case XFEROPT_SUPPRESS_CONNECT_HEADERS:
    o->suppress_connect_headers = !!v;
    break;
  case XFEROPT_PROXY_SSL_VERIFYPEER: o->proxy_ssl_verifypeer = !!v; break;
  case XFEROPT_PROXY_SSL_VERIFYHOST:
    if (v < 0 || v > 2) return XFERE_BAD_FUNCTION_ARGUMENT;
    o->proxy_ssl_verifyhost = !!v;
    break;
  case XFEROPT_NOSIGNAL:
    /* xfer never raises or handles signals (MSG_NOSIGNAL, no alarm()):
     * both values behave as libcurl's NOSIGNAL=1. */
    break;
  default:
    return XFERE_UNKNOWN_OPTION;
  }
  return XFERE_OK;
}

/* "http,https" (case-insensitive, "all" for both); NULL restores the
 * default.  A name xfer does not know (ftp, ...) is refused rather than
 * ignored, so nobody believes a protocol is allowed that never will be. */
static XFERcode set_redir_protocols(struct xfer_opts *o, const char *s) {
  int bits = 0;
  if (!s) {
    o->redir_protocols = (1 << XFER_SCHEME_HTTP) | (1 << XFER_SCHEME_HTTPS);
    return XFERE_OK;
  }
  while (*s) {
    size_t n = strcspn(s, ",");
    if (n == 4 && strncasecmp(s, "http", 4) == 0) bits |= 1 << XFER_SCHEME_HTTP;
    else if (n == 5 && strncasecmp(s, "https", 5) == 0)
      bits |= 1 << XFER_SCHEME_HTTPS;
    else if (n == 3 && strncasecmp(s, "all", 3) == 0)
      bits |= (1 << XFER_SCHEME_HTTP) | (1 << XFER_SCHEME_HTTPS);
    else if (n) return XFERE_BAD_FUNCTION_ARGUMENT;
    s += n;
    if (*s == ',') s++;
  }
  o->redir_protocols = bits;
  return XFERE_OK;
}

/* The COPYPOSTFIELDS copy goes (replaced, or POSTFIELDS set): a running
 * transfer that sends from it keeps it until its run state goes, as it
 * keeps a replaced URL. */
static void drop_copy(XFER *e) {
  struct xfer_opts *o = &e->set;
  if (o->copypostfields && e->reader.type &&
      e->reader.mem == o->copypostfields) {
    free(e->body_retired); /* not the one being sent */
    e->body_retired = o->copypostfields;
  } else {
    free(o->copypostfields);
  }
  o->copypostfields = NULL;
}

static XFERcode set_ptr(XFER *e, XFERoption opt, void *v) {
  struct xfer_opts *o = &e->set;
  switch (opt) { /* the owned strings without code of their own */
#define OWNED_(name, field, flags)                                  \
  case XFEROPT_##name:                                              \
    if (!((flags) & XFER_OS_OWN)) return set_string(&o->field, v); \
    break;
  XFER_OWNED_STRINGS(OWNED_)
#undef OWNED_
  default: break;
  }
  switch (opt) {
  case XFEROPT_URL:
    /* The same URL again (the usual way to re-arm a handle) keeps the
     * string and its parse: nothing to do. */
    if (v && o->url && strcmp(v, o->url) == 0) return XFERE_OK;
    /* A running transfer keeps the old string: it now owns it. */
    if (e->url == o->url) o->url = NULL;
    e->url_parsed = 0;
    return set_string(&o->url, v);
  case XFEROPT_PRIVATE: o->private_ = v; break;
  case XFEROPT_WRITEDATA: o->writedata = v; break;
  case XFEROPT_HEADERDATA: o->headerdata = v; break;
  case XFEROPT_READDATA: o->readdata = v; break;
  case XFEROPT_XFERINFODATA: o->xferinfodata = v; break;
  case XFEROPT_DEBUGDATA: o->debugdata = v; break;
  case XFEROPT_ERRORBUFFER:
    drop_errbuf(e);
    o->errorbuffer = v;
    if (v) o->errorbuffer[0] = 0;
    break;
  case XFEROPT_POSTFIELDS:
    o->postfields = v;
    drop_copy(e);
    if (v) o->upload = o->nobody = 0;
    break;
  case XFEROPT_COPYPOSTFIELDS: {
    size_t n;
    char *c;
    if (!v) {
      drop_copy(e);
      o->postfields = NULL;
      break;
    }
    n = o->postfieldsize >= 0 ? (size_t)o->postfieldsize : strlen(v);
    c = malloc(n + 1);
    if (!c) return XFERE_OUT_OF_MEMORY;
    memcpy(c, v, n);
    c[n] = 0;
    drop_copy(e);
    o->copypostfields = c;
    o->postfields = c;
    o->postfieldsize = (xfer_off_t)n;
    o->upload = o->nobody = 0;
    break;
  }
  case XFEROPT_HTTPHEADER: o->httpheader = v; break;
  case XFEROPT_COOKIEFILE:
  case XFEROPT_COOKIEJAR:
  case XFEROPT_COOKIELIST:
    return xfer__cookie_setopt(e, opt, v);
  case XFEROPT_REDIR_PROTOCOLS_STR: return set_redir_protocols(o, v);
  case XFEROPT_PINNEDPUBLICKEY: {
    const char *p = v;
    /* Only the "sha256//<base64>[;sha256//...]" form is supported. */
    while (p && *p) {
      if (strncmp(p, "sha256//", 8) != 0) return XFERE_BAD_FUNCTION_ARGUMENT;
      p += strcspn(p, ";");
      if (*p) p++;
    }
    return set_string(&o->pinnedpublickey, v);
  }
  case XFEROPT_RESOLVE: o->resolve = v; break;
  case XFEROPT_CONNECT_TO: o->connect_to = v; break;
  case XFEROPT_DNS_SERVERS:
    if (v && (!*(const char *)v || !xfer__dns_servers_ok(v)))
      return XFERE_BAD_FUNCTION_ARGUMENT;
    return set_string(&o->dns_servers, v);
  case XFEROPT_UNIX_SOCKET_PATH:
  case XFEROPT_ABSTRACT_UNIX_SOCKET: {
    /* One path, the last set: the other option's is dropped, as libcurl. */
    XFERcode rc;
    if (v && strlen(v) >= sizeof(((struct sockaddr_un *)0)->sun_path) -
                               (opt == XFEROPT_ABSTRACT_UNIX_SOCKET))
      return XFERE_BAD_FUNCTION_ARGUMENT;
    rc = set_string(&o->unix_socket_path, v);
    if (rc == XFERE_OK) o->abstract_unix = opt == XFEROPT_ABSTRACT_UNIX_SOCKET;
    return rc;
  }
  case XFEROPT_USERPWD: return set_userpwd(o, v);
  case XFEROPT_PROXYHEADER: o->proxyheader = v; break;
  case XFEROPT_PROXYUSERPWD: {
    /* "user:password", split at the first colon, into PROXYUSERNAME and
     * PROXYPASSWORD (as libcurl: setting it sets both). */
    const char *p = v, *colon = p ? strchr(p, ':') : NULL;
    char *user = NULL;
    XFERcode rc;
    if (p && !(user = colon ? strndup(p, (size_t)(colon - p)) : strdup(p)))
      return XFERE_OUT_OF_MEMORY;
    rc = set_string(&o->proxypassword, colon ? colon + 1 : NULL);
    if (rc) {
      free(user);
      return rc;
    }
    free(o->proxyusername);
    o->proxyusername = user;
    break;
  }
  default:
    return XFERE_UNKNOWN_OPTION;
  }
  return XFERE_OK;
}

XFERcode xfer_easy_setopt(XFER *e, XFERoption opt, ...) {
  va_list ap;
  XFERcode rc;
  int type = type_of(opt);
  if (!xfer__good_easy(e)) return XFERE_BAD_FUNCTION_ARGUMENT;
  if (e->multi && e->multi->in_callback) return XFERE_RECURSIVE_API_CALL;
  if (type < 0) return XFERE_UNKNOWN_OPTION;
  va_start(ap, opt);
  switch (type) {
  case XFEROT_LONG:
  case XFEROT_VALUES:
    rc = set_long(e, opt, va_arg(ap, long));
    break;
  case XFEROT_OBJECT:
  case XFEROT_STRING:
  case XFEROT_SLIST:
  case XFEROT_CBPTR:
    rc = set_ptr(e, opt, va_arg(ap, void *));
    break;
  case XFEROT_FUNCTION:
    rc = XFERE_OK;
    switch (opt) {
    case XFEROPT_WRITEFUNCTION:
      e->set.writefn = va_arg(ap, xfer_write_callback);
      break;
    case XFEROPT_HEADERFUNCTION:
      e->set.headerfn = va_arg(ap, xfer_write_callback);
      break;
    case XFEROPT_READFUNCTION:
      e->set.readfn = va_arg(ap, xfer_read_callback);
      break;
    case XFEROPT_XFERINFOFUNCTION:
      e->set.xferinfofn = va_arg(ap, xfer_xferinfo_callback);
      break;
    case XFEROPT_DEBUGFUNCTION:
      e->set.debugfn = va_arg(ap, xfer_debug_callback);
      break;
    default:
      rc = XFERE_UNKNOWN_OPTION;
    }
    break;
  case XFEROT_OFF_T: {
    xfer_off_t v = va_arg(ap, xfer_off_t);
    rc = XFERE_OK;
    if (opt == XFEROPT_INFILESIZE_LARGE) e->set.infilesize = v < 0 ? -1 : v;
    else if (opt == XFEROPT_POSTFIELDSIZE_LARGE && v >= -1)
      e->set.postfieldsize = v;
    else if (opt == XFEROPT_POSTFIELDSIZE_LARGE)
      rc = XFERE_BAD_FUNCTION_ARGUMENT;
    else if (opt == XFEROPT_MAX_RECV_SPEED_LARGE && v >= 0)
      e->set.max_recv_speed = v;
    else if (opt == XFEROPT_MAX_SEND_SPEED_LARGE && v >= 0)
      e->set.max_send_speed = v;
    else if (opt == XFEROPT_MAXFILESIZE_LARGE && v >= 0)
      e->set.max_filesize = v;
    else if (opt == XFEROPT_MAX_RECV_SPEED_LARGE ||
             opt == XFEROPT_MAX_SEND_SPEED_LARGE ||
             opt == XFEROPT_MAXFILESIZE_LARGE)
      rc = XFERE_BAD_FUNCTION_ARGUMENT;
    else rc = XFERE_UNKNOWN_OPTION;
    break;
  }
  default:
    rc = XFERE_UNKNOWN_OPTION;
  }
  va_end(ap);
  return rc;
}

/* REDIRECT_URL: where the last response (a 3xx with a Location) would
 * have led, as an absolute URL; NULL when it was not such a response. */
static const char *redirect_url(XFER *e) {
  int err = 0;
  long s = e->response_code;
  if (!e->location || !e->url ||
      !(s == 301 || s == 302 || s == 303 || s == 307 || s == 308))
    return NULL;
  if (!e->redirect_url)
    e->redirect_url =
        xfer__url_resolve(e->url, e->location, strlen(e->location), &err);
  return e->redirect_url;
}

XFERcode xfer_easy_getinfo(XFER *e, XFERINFO info, ...) {
  va_list ap;
  XFERcode rc = XFERE_OK;
  void *out;
  if (!xfer__good_easy(e)) return XFERE_BAD_FUNCTION_ARGUMENT;
  va_start(ap, info);
  out = va_arg(ap, void *);
  va_end(ap);
  if (!out) return XFERE_BAD_FUNCTION_ARGUMENT;
  switch (info) {
  case XFERINFO_EFFECTIVE_URL:
    *(const char **)out = e->url ? e->url : e->set.url;
    break;
  case XFERINFO_PRIVATE: *(void **)out = e->set.private_; break;
  case XFERINFO_PRIMARY_IP: *(const char **)out = e->primary_ip; break;
  case XFERINFO_COOKIELIST: {
    int oom;
    *(struct xfer_slist **)out = xfer__cookies_getinfo(e, &oom);
    if (oom) rc = XFERE_OUT_OF_MEMORY;
    break;
  }
  case XFERINFO_RESPONSE_CODE: *(long *)out = e->response_code; break;
  case XFERINFO_REDIRECT_COUNT: *(long *)out = e->redirect_count; break;
  case XFERINFO_HTTPAUTH_AVAIL:
    *(long *)out = e->auth ? (long)e->auth->avail : 0;
    break;
  case XFERINFO_HTTPAUTH_USED:
    *(long *)out = e->auth ? (long)e->auth->used : 0;
    break;
  case XFERINFO_PROXYAUTH_AVAIL:
    *(long *)out = e->pauth ? (long)e->pauth->avail : 0;
    break;
  case XFERINFO_PROXYAUTH_USED:
    *(long *)out = e->pauth ? (long)e->pauth->used : 0;
    break;
  case XFERINFO_NUM_CONNECTS: *(long *)out = e->num_connects; break;
  case XFERINFO_PRIMARY_PORT: *(long *)out = e->primary_port; break;
  case XFERINFO_LOCAL_PORT: *(long *)out = e->local_port; break;
  case XFERINFO_HTTP_VERSION: *(long *)out = e->http_version; break;
  case XFERINFO_SIZE_UPLOAD_T: *(xfer_off_t *)out = e->size_ul; break;
  case XFERINFO_SIZE_DOWNLOAD_T: *(xfer_off_t *)out = e->size_dl; break;
  case XFERINFO_SIZE_DELIVERED:
    *(xfer_off_t *)out = e->size_delivered;
    break;
  case XFERINFO_CONTENT_LENGTH_DOWNLOAD_T:
    *(xfer_off_t *)out = e->content_length;
    break;
  case XFERINFO_TOTAL_TIME_T: *(xfer_off_t *)out = (xfer_off_t)e->t_total; break;
  case XFERINFO_QUEUE_TIME_T: *(xfer_off_t *)out = (xfer_off_t)e->t_queue; break;
  case XFERINFO_NAMELOOKUP_TIME_T:
    *(xfer_off_t *)out = (xfer_off_t)e->t_namelookup;
    break;
  case XFERINFO_APPCONNECT_TIME_T:
    *(xfer_off_t *)out = (xfer_off_t)e->t_appconnect;
    break;
  case XFERINFO_SSL_VERIFYRESULT: *(long *)out = e->ssl_verifyresult; break;
  case XFERINFO_HTTP_CONNECTCODE: *(long *)out = e->http_connectcode; break;
  case XFERINFO_PROXY_ERROR: *(long *)out = e->proxy_error; break;
  case XFERINFO_PROXY_SSL_VERIFYRESULT:
    *(long *)out = e->proxy_ssl_verifyresult;
    break;
  case XFERINFO_CONNECT_TIME_T:
    *(xfer_off_t *)out = (xfer_off_t)e->t_connect;
    break;
  case XFERINFO_PRETRANSFER_TIME_T:
    *(xfer_off_t *)out = (xfer_off_t)e->t_pretransfer;
    break;
  case XFERINFO_STARTTRANSFER_TIME_T:
    *(xfer_off_t *)out = (xfer_off_t)e->t_starttransfer;
    break;
  case XFERINFO_CONTENT_TYPE: *(const char **)out = e->content_type; break;
  case XFERINFO_REDIRECT_URL: *(const char **)out = redirect_url(e); break;
  case XFERINFO_LOCAL_IP: *(const char **)out = e->local_ip; break;
  case XFERINFO_SCHEME:
    /* the last request's, in libcurl's capitals */
    *(const char **)out = !e->url                             ? NULL
                          : e->u.scheme == XFER_SCHEME_HTTPS ? "HTTPS"
                                                               : "HTTP";
    break;
  case XFERINFO_EFFECTIVE_METHOD:
    *(const char **)out = e->url ? xfer__req_method(e) : NULL;
    break;
  case XFERINFO_HEADER_SIZE: *(long *)out = e->header_size; break;
  case XFERINFO_REQUEST_SIZE: *(long *)out = e->request_size; break;
  case XFERINFO_OS_ERRNO: *(long *)out = e->os_errno; break;
  case XFERINFO_SPEED_DOWNLOAD_T:
  case XFERINFO_SPEED_UPLOAD_T: {
    /* bytes per second over the whole transfer (libcurl's average) */
    uint64_t us = e->t_total ? e->t_total
                  : e->multi ? xfer__now() - e->t_start : 0;
    xfer_off_t n = info == XFERINFO_SPEED_DOWNLOAD_T ? e->size_dl : e->size_ul;
    *(xfer_off_t *)out = us ? (xfer_off_t)((double)n * 1e6 / (double)us) : 0;
    break;
  }
  case XFERINFO_CONTENT_LENGTH_UPLOAD_T:
    *(xfer_off_t *)out = e->url && e->has_body ? e->upload_size : -1;
    break;
  case XFERINFO_RETRY_AFTER: *(xfer_off_t *)out = e->retry_after; break;
  case XFERINFO_XFER_ID: *(xfer_off_t *)out = e->url ? e->xfer_id : -1; break;
  case XFERINFO_CONN_ID: *(xfer_off_t *)out = e->url ? e->conn_id : -1; break;
  default:
    rc = XFERE_UNKNOWN_OPTION;
  }
  return rc;
}

void xfer_easy_reset(XFER *e) {
  if (!xfer__good_easy(e) || e->multi) return;
  xfer__cookies_close(e, 0); /* the store stays, as libcurl's */
  free_run_state(e);
  drop_errbuf(e);
  e->keep_errtext = 0;
  xfer__opts_free(&e->set);
  xfer__opts_init(&e->set);
  e->response_code = e->redirect_count = e->num_connects = 0;
}

void xfer_easy_keep_errortext(XFER *e, int on) {
  if (!xfer__good_easy(e)) return;
  e->keep_errtext = on != 0;
  if (!on) drop_errbuf(e);
}

const char *xfer_easy_errortext(XFER *e) {
  if (!xfer__good_easy(e) || !e->set.errorbuffer) return "";
  return e->set.errorbuffer;
}

XFER *xfer_easy_duphandle(XFER *e) {
  XFER *d;
  struct xfer_opts *o;
  if (!xfer__good_easy(e) || !(d = xfer_easy_init())) return NULL;
  o = &d->set;
  *o = e->set;
  o->copypostfields = NULL;
  o->cookiefiles = NULL; /* xfer__cookies_dup copies it */
#define NULL_(name, field, flags) o->field = NULL;
  XFER_OWNED_STRINGS(NULL_)
#undef NULL_
  o->errorbuffer = NULL; /* libcurl: not duplicated */
#define COPY_(name, field, flags) \
  if (set_string(&o->field, e->set.field)) goto oom;
  XFER_OWNED_STRINGS(COPY_)
#undef COPY_
  if (xfer__cookies_dup(d, e)) goto oom;
  if (e->set.copypostfields) {
    size_t n = (size_t)e->set.postfieldsize;
    if (!(o->copypostfields = malloc(n + 1))) goto oom;
    memcpy(o->copypostfields, e->set.copypostfields, n + 1);
    o->postfields = o->copypostfields;
  }
  return d;
oom:
  xfer_easy_cleanup(d);
  return NULL;
}

/* One transfer, blocking, on a multi handle kept for the next perform (so
 * its connection and DNS caches survive between calls, as libcurl's do). */
XFERcode xfer_easy_perform(XFER *e) {
  XFERM *m;
  XFERMsg *msg;
  XFERcode rc = XFERE_OK;
  int running = 1;
  if (!xfer__good_easy(e)) return XFERE_BAD_FUNCTION_ARGUMENT;
  if (e->multi) return XFERE_FAILED_INIT; /* added to a multi handle */
  if (!e->private_multi && !(e->private_multi = xfer_multi_init()))
    return XFERE_OUT_OF_MEMORY;
  m = e->private_multi;
  if (xfer_multi_add_handle(m, e) != XFERM_OK) return XFERE_FAILED_INIT;
  xfer__hold(e); /* a callback may clean it up: freed when this returns */
  while (running) {
    XFERMcode mc = xfer_multi_perform(m, &running);
    if (mc == XFERM_OK && running)
      mc = xfer_multi_poll(m, NULL, 0, 1000, NULL);
    if (mc != XFERM_OK) {
      /* The transfer's own message, if any, says more (below). */
      rc = mc == XFERM_OUT_OF_MEMORY          ? XFERE_OUT_OF_MEMORY
           : mc == XFERM_ABORTED_BY_CALLBACK  ? XFERE_ABORTED_BY_CALLBACK
           : mc == XFERM_UNRECOVERABLE_POLL   ? XFERE_UNRECOVERABLE_POLL
                                              : XFERE_BAD_FUNCTION_ARGUMENT;
      break;
    }
  }
  while ((msg = xfer_multi_info_read(m, NULL)) != NULL)
    if (msg->msg == XFERMSG_DONE && msg->easy_handle == e)
      rc = msg->data.result;
  xfer_multi_remove_handle(m, e);
  if (xfer__unhold(e)) /* cleaned up from its own callback */
    return rc == XFERE_OK ? XFERE_ABORTED_BY_CALLBACK : rc;
  return rc;
}
