/*
 * request.c -- the request a transfer makes (request.h): method, target,
 * authority and header fields from the easy handle's options, checked so
 * that nothing a caller sets can inject a header or make the body's
 * framing disagree with its bytes.  Protocol-neutral: http1.c writes the
 * result as an HTTP/1.1 head, HTTP/2 will make it a HEADERS frame.
 *
 * The caller's headers (libcurl's HTTPHEADER forms): "Name: value" adds one
 * or replaces an internal one, "Name:" removes an internal one, "Name;"
 * sends it empty.  Framing (Content-Length, Transfer-Encoding) is always
 * the protocol's own: a caller's values only ask for chunked, announce a
 * size, or are refused.
 */
#include "xfer_int.h"

#include <stdlib.h>
#include <string.h>

/* The internal headers a custom header can replace or remove. */
enum { H_HOST, H_UA, H_ACCEPT, H_AE, H_CTYPE, H_AUTH, H_COOKIE, H_NUM };
static const char *const internal_names[H_NUM] = {
  "Host", "User-Agent", "Accept", "Accept-Encoding", "Content-Type",
  "Authorization", "Cookie"};

static int name_is(const char *h, size_t nlen, const char *name) {
  return strlen(name) == nlen && xfer__strcasecmp_n(h, name, nlen) == 0;
}

/* A method and a field name are tokens (RFC 9110). */
static int is_token(const char *s, size_t n) {
  size_t i;
  if (!n) return 0;
  for (i = 0; i < n; i++)
    if (!xfer__tchar((unsigned char)s[i])) return 0;
  return 1;
}

/* One custom header: the name's length and the value (trimmed in front;
 * "" for both short forms), or -1 for a line that is none of the forms. */
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

static size_t trimmed_len(const char *v) {
  size_t vl = strlen(v);
  while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
  return vl;
}

/* What the custom headers say about the body's framing. */
struct framing {
  int cl_set;                  /* a Content-Length with a value */
  xfer_off_t cl;
  int te;                      /* TE_* below */
};
enum { TE_NONE = 0, TE_CHUNKED, TE_REMOVED };

static XFERcode refuse(XFER *e, const char *why, const char *h) {
  xfer__fail(e, "%s: %.60s", why, h);
  return XFERE_BAD_FUNCTION_ARGUMENT;
}

/* Checks every custom header and notes which internal ones they replace
 * (1: removed, 2: replaced).  Refused (43): a CR, LF, other control byte
 * or DEL anywhere (header injection), a name that is not a token (a space
 * would end the name on the server's side), two Hosts (servers must refuse
 * it, proxies may pick either), and framing values that cannot be
 * honoured: a Content-Length that is not a number, a Transfer-Encoding
 * other than chunked. */
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
        if (i == H_HOST && overridden[i] == 2 && !removes)
          return refuse(e, "more than one Host request header", h);
        overridden[i] = removes ? 1 : 2;
      }
    if (name_is(h, nlen, "Content-Length") && !removes) {
      uint64_t x = 0;
      size_t k, vl = trimmed_len(v);
      for (k = 0; k < vl && x < ((uint64_t)1 << 62); k++) {
        if (v[k] < '0' || v[k] > '9') break;
        x = x * 10 + (uint64_t)(v[k] - '0');
      }
      if (!vl || k < vl || (fr->cl_set && fr->cl != (xfer_off_t)x))
        return refuse(e, "bad Content-Length request header", h);
      fr->cl_set = 1;
      fr->cl = (xfer_off_t)x;
    } else if (name_is(h, nlen, "Transfer-Encoding")) {
      size_t vl = trimmed_len(v);
      if (removes) fr->te = TE_REMOVED;
      else if (vl == 7 && xfer__strcasecmp_n(v, "chunked", 7) == 0)
        fr->te = TE_CHUNKED;
      else
        return refuse(e, "only 'Transfer-Encoding: chunked' can be sent", h);
    }
  }
  return XFERE_OK;
}

static const char *method_of(XFER *e, int *has_body);

/* The method the request goes with (EFFECTIVE_METHOD). */
const char *xfer__req_method(XFER *e) {
  int has_body;
  return method_of(e, &has_body);
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

/* The body's size (-1: unknown) and whether the caller asked for chunked.
 * A caller's chunked encoding drops any Content-Length (libcurl's rule:
 * never both, the CL.TE smuggling pattern); a caller's Content-Length
 * must be the body's size, and announces the size of a read-callback body
 * of unknown size.  0 or 43 with the reason. */
static XFERcode body_size(XFER *e, const struct framing *fr, int has_body,
                          xfer_off_t *blen) {
  *blen = -1;
  if (!has_body) {
    if (fr->cl_set && fr->cl != 0 && fr->te != TE_CHUNKED) {
      xfer__fail(e, "Content-Length header (%lld) on a request without a "
                 "body", (long long)fr->cl);
      return XFERE_BAD_FUNCTION_ARGUMENT;
    }
    return XFERE_OK;
  }
  if (e->set.postfields && !e->set.upload)
    *blen = e->set.postfieldsize >= 0 ? e->set.postfieldsize
                                      : (xfer_off_t)strlen(e->set.postfields);
  else
    *blen = e->set.upload ? e->set.infilesize : e->set.postfieldsize;
  if (fr->te == TE_CHUNKED) return XFERE_OK;
  if (fr->cl_set) {
    if (*blen < 0) *blen = fr->cl;
    if (*blen != fr->cl) {
      xfer__fail(e, "Content-Length header (%lld) differs from the body's "
                 "size (%lld)", (long long)fr->cl, (long long)*blen);
      return XFERE_BAD_FUNCTION_ARGUMENT;
    }
  }
  if (*blen < 0 && fr->te == TE_REMOVED) {
    xfer__fail(e, "a body of unknown size needs Transfer-Encoding: chunked, "
               "which a header removed");
    return XFERE_BAD_FUNCTION_ARGUMENT;
  }
  return XFERE_OK;
}

XFERcode xfer__req_check(XFER *e) {
  int ov[H_NUM] = {0}, has_body;
  struct framing fr;
  xfer_off_t blen;
  const char *method = method_of(e, &has_body);
  XFERcode rc = scan_custom(e, ov, &fr);
  if (rc) return rc;
  if (!is_token(method, strlen(method))) {
    xfer__fail(e, "bad request method: %.40s", method);
    return XFERE_BAD_FUNCTION_ARGUMENT;
  }
  if ((rc = xfer__auth_check(e))) return rc;
  return body_size(e, &fr, has_body, &blen);
}

/* ---- building ---- */

/* Is the current URL's scheme, host and port the one the caller set? */
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

static int push(struct xfer_req *r, const char *name, size_t nlen,
                const char *value, size_t vlen) {
  if (r->nh == r->cap) {
    int cap = r->cap * 2;
    struct xfer_hdr *h = malloc((size_t)cap * sizeof(*h));
    if (!h) return -1;
    memcpy(h, r->h, (size_t)r->nh * sizeof(*h));
    if (r->h != r->small) free(r->h);
    r->h = h;
    r->cap = cap;
  }
  r->h[r->nh].name = name;
  r->h[r->nh].nlen = nlen;
  r->h[r->nh].value = value;
  r->h[r->nh].vlen = vlen;
  r->nh++;
  return 0;
}

#define PUSH_LIT(r, n, v) push((r), (n), sizeof(n) - 1, (v), strlen(v))
#define PUSH_LITS(r, n, v) push((r), (n), sizeof(n) - 1, (v), sizeof(v) - 1)

/* The caller's fields, minus what the request carries in other ways: the
 * framing, the Host (an authority of its own), and credentials on a
 * redirect to another host (libcurl since 7.83, unless
 * UNRESTRICTED_AUTH). */
static int push_custom(struct xfer_req *r, XFER *e, int other_host) {
  const struct xfer_slist *l;
  for (l = e->set.httpheader; l; l = l->next) {
    const char *h = l->data, *v;
    size_t nlen;
    int removes;
    if (!h || custom_parts(h, &nlen, &v, &removes) || removes) continue;
    if (name_is(h, nlen, "Content-Length") ||
        name_is(h, nlen, "Transfer-Encoding") || name_is(h, nlen, "Host"))
      continue;
    if (other_host && !e->set.unrestricted_auth &&
        (name_is(h, nlen, "Authorization") || name_is(h, nlen, "Cookie")))
      continue;
    if (push(r, h, nlen, v, strlen(v))) return -1;
  }
  return 0;
}

/* Whether the caller's lists going to the proxy name a field. */
static int proxy_list_has(const XFER *e, const char *name) {
  const struct xfer_slist *lists[2], *l;
  size_t n = strlen(name);
  int i;
  lists[0] = e->set.httpheader;
  lists[1] = e->set.header_unified ? NULL : e->set.proxyheader;
  for (i = 0; i < 2; i++)
    for (l = lists[i]; l; l = l->next)
      if (l->data && xfer__strcasecmp_n(l->data, name, n) == 0 &&
          (l->data[n] == ':' || l->data[n] == ';'))
        return 1;
  return 0;
}

/* A request to an HTTP proxy (plain http, no tunnel): the absolute-form
 * target, the proxy's credentials, Proxy-Connection, and (HEADEROPT
 * SEPARATE) the PROXYHEADER fields, which the proxy reads too.  0, an
 * XFERcode, or -1 out of memory. */
static int proxy_fields(struct xfer_req *r, XFER *e) {
  const struct xfer_slist *l;
  int oom = 0;
  r->absolute = 1;
  r->abs_host = e->url + e->u.host_off;
  r->abs_host_len = e->u.host_len;
  r->abs_port_shown = e->u.port != 80;
  if (xfer__proxy_sends_auth(e) && !proxy_list_has(e, "Proxy-Authorization")) {
    /* Digest hashes the path, as libcurl's does, not the absolute URL. */
    size_t tlen;
    char *target = xfer__auth_target(r, e->set.proxy_digest_ie, &tlen);
    int rc;
    if (!target) return XFERE_OUT_OF_MEMORY;
    rc = xfer__proxy_auth_value(e, r->method, target, tlen, NULL, 0, 0,
                                &r->proxy_auth);
    free(target);
    if (rc) return rc;
    if (r->proxy_auth)
      oom |= PUSH_LIT(r, "Proxy-Authorization", r->proxy_auth);
  }
  if (!proxy_list_has(e, "Proxy-Connection"))
    oom |= PUSH_LITS(r, "Proxy-Connection", "Keep-Alive");
  for (l = e->set.header_unified ? NULL : e->set.proxyheader; l;
       l = l->next) {
    const char *h = l->data, *v;
    size_t nlen;
    int removes;
    if (!h || custom_parts(h, &nlen, &v, &removes) || removes ||
        name_is(h, nlen, "Content-Length") ||
        name_is(h, nlen, "Transfer-Encoding") || name_is(h, nlen, "Host"))
      continue;
    oom |= push(r, h, nlen, v, strlen(v));
  }
  return oom;
}

XFERcode xfer__req_build(XFER *e, struct xfer_req *r) {
  int ov[H_NUM] = {0}, has_body, other_host, oom = 0;
  struct framing fr;
  const struct xfer_slist *l;
  XFERcode rc;
  memset(r, 0, offsetof(struct xfer_req, small));
  r->h = r->small;
  r->cap = XFER_REQ_SMALL;
  r->method = method_of(e, &has_body);
  if ((rc = scan_custom(e, ov, &fr)) ||
      (rc = body_size(e, &fr, has_body, &r->body_len)))
    return rc;
  r->has_body = (unsigned)has_body;
  r->chunk_asked = fr.te == TE_CHUNKED;
  r->cl_zero = !has_body && fr.cl_set;
  r->head = strcmp(r->method, "HEAD") == 0;
  /* NOBODY means no body whatever the method (libcurl's rule): a body
   * the server sends anyway is left unread, so its connection closes. */
  r->skip_body = e->set.nobody && !r->head;
  r->path = e->url + e->u.path_off;
  r->path_len = e->u.path_len;
  r->path_slash = !r->path_len || e->u.path_needs_slash;
  r->host = e->url + e->u.host_off;
  r->host_len = e->u.host_len;
  r->host_v6 = e->u.host_is_ipv6;
  r->port = e->u.port;
  r->port_shown = e->u.port_explicit &&
      e->u.port != (e->u.scheme == XFER_SCHEME_HTTPS ? 443 : 80);
  /* A custom Host is for the original host only (libcurl's rule). */
  other_host = !same_origin_as_set(e);
  if (!other_host && ov[H_HOST])
    for (l = e->set.httpheader; l; l = l->next) {
      const char *v;
      size_t nlen;
      int removes;
      if (!l->data || custom_parts(l->data, &nlen, &v, &removes) ||
          !name_is(l->data, nlen, "Host"))
        continue;
      r->host_field = removes ? NULL : v; /* NULL with ov: none at all */
      r->host_field_len = removes ? 0 : strlen(v);
    }
  if (other_host) ov[H_HOST] = 0;
  r->port_shown = r->port_shown && !ov[H_HOST];
  if (ov[H_HOST] && !r->host_field) r->host = NULL; /* "Host:" removed it */
  /* Credentials go to the origin the caller set only (libcurl since
   * 7.83, unless UNRESTRICTED_AUTH); a caller's Authorization wins. */
  rc = xfer__auth_header(e, r, e->set.unrestricted_auth || !other_host,
                         ov[H_AUTH] != 0);
  if (rc) {
    xfer__req_free(r);
    return rc;
  }
  if (r->auth) oom |= PUSH_LIT(r, "Authorization", r->auth);
  if (e->set.useragent && !ov[H_UA])
    oom |= PUSH_LIT(r, "User-Agent", e->set.useragent);
  if (!ov[H_ACCEPT]) oom |= PUSH_LITS(r, "Accept", "*/*");
  /* ACCEPT_ENCODING: "" offers every coding built in.  A caller's own
   * Accept-Encoding header replaces it (decoding is ACCEPT_ENCODING's
   * alone, as in libcurl: a header without the option decodes nothing). */
  if (e->set.accept_encoding && !ov[H_AE])
    oom |= PUSH_LIT(r, "Accept-Encoding", e->set.accept_encoding[0]
                                              ? e->set.accept_encoding
                                              : XFER_CE_ALL);
  /* The cookie engine's and COOKIE's, for this host and path (a redirect
   * has its own).  A caller's Cookie header replaces them, where it goes:
   * not to another host (push_custom). */
  if (!ov[H_COOKIE] || (other_host && !e->set.unrestricted_auth)) {
    if ((rc = xfer__cookie_req(e, &r->cookie))) {
      xfer__req_free(r);
      return rc;
    }
    if (r->cookie) oom |= PUSH_LIT(r, "Cookie", r->cookie);
  }
  r->framing_at = r->nh;
  if (has_body && !e->set.upload && !ov[H_CTYPE])
    oom |= PUSH_LITS(r, "Content-Type", "application/x-www-form-urlencoded");
  oom |= push_custom(r, e, other_host);
  if (e->px.absolute && !oom && (rc = (XFERcode)proxy_fields(r, e)) != 0) {
    xfer__req_free(r);
    return (int)rc < 0 ? XFERE_OUT_OF_MEMORY : rc;
  }
  if (oom) {
    xfer__req_free(r);
    return XFERE_OUT_OF_MEMORY;
  }
  return XFERE_OK;
}

void xfer__req_free(struct xfer_req *r) {
  if (r->h != r->small) free(r->h);
  r->h = r->small;
  free(r->auth);
  r->auth = NULL;
  free(r->proxy_auth);
  r->proxy_auth = NULL;
  free(r->cookie);
  r->cookie = NULL;
}
