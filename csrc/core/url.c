/*
 * url.c -- see url.h.
 *
 * The parser is deliberately stricter than RFC 3986 where leniency would let
 * a caller smuggle bytes into the request line or the Host header: no byte
 * <= 0x20 or DEL anywhere, a host limited to reg-name characters or a
 * validated IP literal, a port that is digits only.
 */
#include "url.h"
#include "xfer.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define URL_MAX_LEN 65536

static int is_alpha(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(int c) { return c >= '0' && c <= '9'; }

static int is_hex(int c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int to_lower(int c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

/* Length of a leading "scheme:" (RFC 3986 3.1, without the colon), or 0. */
static size_t scheme_len(const char *s, size_t len) {
  size_t i;
  if (len == 0 || !is_alpha((unsigned char)s[0])) return 0;
  for (i = 1; i < len; i++) {
    int c = (unsigned char)s[i];
    if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.')
      break;
  }
  return (i < len && s[i] == ':') ? i : 0;
}

/* XFER_SCHEME_* for a scheme name of any case, 0 for anything else. */
static int scheme_id(const char *s, size_t n) {
  static const char *const names[] = { "http", "https" };
  size_t i, k;
  for (k = 0; k < 2; k++) {
    if (strlen(names[k]) != n) continue;
    for (i = 0; i < n && to_lower((unsigned char)s[i]) == names[k][i]; i++)
      ;
    if (i == n) return (int)k + 1;
  }
  return 0;
}

static int has_slashes(const char *s, size_t len) {
  return len >= 2 && s[0] == '/' && s[1] == '/';
}

/* Without "//" after the colon, "name:rest" is ambiguous: libcurl reads
 * "host:8080/x" and "user:pw@host" as a scheme-less host, and we need
 * "javascript:..." or "mailto:..." to stay a (refused) scheme.  So the colon
 * belongs to the authority only when what follows it up to the path is a
 * (possibly empty) port or contains a userinfo '@'. */
static int colon_starts_port(const char *s, size_t len) {
  size_t i;
  int digits = 1;
  for (i = 0; i < len && s[i] != '/' && s[i] != '?' && s[i] != '#'; i++) {
    if (s[i] == '@') return 1;
    if (!is_digit((unsigned char)s[i])) digits = 0;
  }
  return digits;
}

/* A dotted quad of decimal octets.  Leading zeros are refused: inet_aton()
 * and some resolvers read them as octal, so "010.0.0.1" is ambiguous. */
static int valid_ipv4(const char *s, size_t n) {
  size_t i = 0;
  int parts;
  for (parts = 0; parts < 4; parts++) {
    size_t start = i;
    unsigned v = 0;
    if (parts > 0) {
      if (i >= n || s[i] != '.') return 0;
      start = ++i;
    }
    while (i < n && is_digit((unsigned char)s[i]) && i - start < 3)
      v = v * 10 + (unsigned)(s[i++] - '0');
    if (i == start || v > 255 || (s[start] == '0' && i - start > 1))
      return 0;
  }
  return i == n;
}

/* Validates a host that is not bracketed.  Returns 0, or -1 if malformed;
 * sets *ipv4 for a dotted quad. */
static int check_regname(const char *s, size_t n, int *ipv4) {
  size_t i;
  int numeric = 1;
  if (n > XFER_URL_MAX_HOST) return -1;
  for (i = 0; i < n; i++) {
    int c = (unsigned char)s[i];
    if (c == '%') {
      /* Kept raw, but a stray '%' would be mangled by whoever decodes it. */
      if (i + 2 >= n || !is_hex((unsigned char)s[i + 1]) ||
          !is_hex((unsigned char)s[i + 2]))
        return -1;
      numeric = 0;
    } else if (is_alpha(c) || c == '-' || c == '_' || c == '~') {
      numeric = 0;
    } else if (!is_digit(c) && c != '.') {
      return -1; /* includes bytes >= 0x80: IDN is not converted */
    }
  }
  /* All digits and dots looks like an address: it must be a real one, or
   * "1.2.3.999" would go to DNS as a name. */
  *ipv4 = numeric;
  if (numeric && !valid_ipv4(s, n)) return -1;
  return 0;
}

int xfer__url_parse(const char *url, size_t len, struct xfer_url *u) {
  size_t i, pos = 0, auth_end, hpos, p, end, n;
  const char *at;
  int ipv4 = 0;

  memset(u, 0, sizeof(*u));
  if (url == NULL || len == 0 || len > URL_MAX_LEN) return XFERE_URL_MALFORMAT;
  /* Nothing that could end or split the request line or a header. */
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)url[i];
    if (c <= 0x20 || c == 0x7f) return XFERE_URL_MALFORMAT;
  }

  u->scheme = XFER_SCHEME_HTTP;
  n = scheme_len(url, len);
  if (n > 0) {
    int slashes = has_slashes(url + n + 1, len - n - 1);
    if (slashes || !colon_starts_port(url + n + 1, len - n - 1)) {
      int id = scheme_id(url, n);
      if (id == 0) return XFERE_UNSUPPORTED_PROTOCOL;
      if (!slashes) return XFERE_URL_MALFORMAT; /* "http:x" has no host */
      u->scheme = id;
      pos = n + 3;
    }
  }

  /* The authority runs to the first '/', '?' or '#', so an '@' in the path
   * or query is never taken for userinfo. */
  for (auth_end = pos; auth_end < len; auth_end++)
    if (url[auth_end] == '/' || url[auth_end] == '?' || url[auth_end] == '#')
      break;
  u->auth_off = pos;
  u->auth_len = auth_end - pos;

  /* The first '@' ends the userinfo; a second one then lands in the host
   * and fails there, which refuses the ambiguous "http://a@b@c/". */
  hpos = pos;
  at = memchr(url + pos, '@', auth_end - pos);
  if (at != NULL) {
    size_t ui_end = (size_t)(at - url);
    const char *colon = memchr(url + pos, ':', ui_end - pos);
    u->has_userinfo = 1;
    u->user_off = pos;
    if (colon != NULL) {
      u->user_len = (size_t)(colon - url) - pos;
      u->pass_off = (size_t)(colon - url) + 1;
      u->pass_len = ui_end - u->pass_off;
    } else {
      u->user_len = ui_end - pos;
      u->pass_off = ui_end;
    }
    hpos = ui_end + 1;
  }

  if (hpos < auth_end && url[hpos] == '[') {
    const char *close = memchr(url + hpos, ']', auth_end - hpos);
    char tmp[64];
    unsigned char addr[16];
    if (close == NULL) return XFERE_URL_MALFORMAT;
    u->host_off = hpos + 1;
    u->host_len = (size_t)(close - url) - u->host_off;
    /* inet_pton refuses zone ids ("%25eth0"), which we do not support. */
    if (u->host_len == 0 || u->host_len >= sizeof(tmp))
      return XFERE_URL_MALFORMAT;
    memcpy(tmp, url + u->host_off, u->host_len);
    tmp[u->host_len] = '\0';
    if (inet_pton(AF_INET6, tmp, addr) != 1) return XFERE_URL_MALFORMAT;
    u->host_is_ipv6 = 1;
    p = (size_t)(close - url) + 1;
  } else {
    for (p = hpos; p < auth_end && url[p] != ':'; p++)
      ;
    u->host_off = hpos;
    u->host_len = p - hpos;
    if (u->host_len == 0) return XFERE_URL_MALFORMAT;
    if (check_regname(url + hpos, u->host_len, &ipv4) != 0)
      return XFERE_URL_MALFORMAT;
    u->host_is_ipv4 = ipv4 ? 1 : 0;
  }

  u->port = u->scheme == XFER_SCHEME_HTTPS ? 443 : 80;
  if (p < auth_end) {
    unsigned long v = 0;
    if (url[p] != ':') return XFERE_URL_MALFORMAT; /* "[::1]x" */
    /* An empty port after ':' means the default, as in RFC 3986 3.2.3. */
    if (++p < auth_end) {
      for (; p < auth_end; p++) {
        if (!is_digit((unsigned char)url[p])) return XFERE_URL_MALFORMAT;
        v = v * 10 + (unsigned long)(url[p] - '0');
        if (v > 65535) return XFERE_URL_MALFORMAT; /* also stops overflow */
      }
      if (v == 0) return XFERE_URL_MALFORMAT;
      u->port = (uint16_t)v;
      u->port_explicit = 1;
    }
  }

  end = auth_end;
  while (end < len && url[end] != '#') end++;
  u->path_off = auth_end;
  u->path_len = end - auth_end;
  u->path_needs_slash = (u->path_len > 0 && url[auth_end] == '?') ? 1 : 0;
  return 0;
}

int xfer__url_hostport(const char *url, const struct xfer_url *u, char *buf,
                       size_t cap) {
  char digits[5];
  size_t nd = 0, need, o = 0, i;
  unsigned port = u->port;

  do {
    digits[nd++] = (char)('0' + port % 10);
    port /= 10;
  } while (port > 0 && nd < sizeof(digits));
  need = u->host_len + (u->host_is_ipv6 ? 2 : 0) + 1 + nd;
  if (buf == NULL || need + 1 > cap || need > 0x7fffffff) return -1;

  if (u->host_is_ipv6) buf[o++] = '[';
  for (i = 0; i < u->host_len; i++)
    buf[o++] = (char)to_lower((unsigned char)url[u->host_off + i]);
  if (u->host_is_ipv6) buf[o++] = ']';
  buf[o++] = ':';
  while (nd > 0) buf[o++] = digits[--nd];
  buf[o] = '\0';
  return (int)o;
}

/* RFC 3986 5.2.4, from in (n bytes, modified: the rules that turn "/." or
 * "/.." at the end into "/" do so in place) to out.  Returns the output
 * length, never more than n.  A ".." at the root is simply dropped, so the
 * result never climbs above "/". */
static size_t remove_dots(char *out, char *in, size_t n) {
  size_t i = 0, o = 0;
  /* REST: the input starts with lit; ALL: the input is exactly lit. */
#define REST(lit) \
  (n - i >= sizeof(lit) - 1 && memcmp(in + i, lit, sizeof(lit) - 1) == 0)
#define ALL(lit) \
  (n - i == sizeof(lit) - 1 && memcmp(in + i, lit, sizeof(lit) - 1) == 0)
  while (i < n) {
    if (REST("../")) {
      i += 3; /* A */
    } else if (REST("./")) {
      i += 2; /* A */
    } else if (REST("/./")) {
      i += 2; /* B: leaves the second '/' as the next input */
    } else if (ALL("/.")) {
      i += 1; /* B */
      in[i] = '/';
    } else if (REST("/../") || ALL("/..")) {
      /* C: the input goes on at "/" and the last output segment, along
       * with its '/', is dropped. */
      if (n - i == 3) {
        i += 2;
        in[i] = '/';
      } else {
        i += 3;
      }
      while (o > 0 && out[o - 1] != '/') o--;
      if (o > 0) o--;
    } else if (ALL(".") || ALL("..")) {
      i = n; /* D */
    } else {
      /* E: move the first segment, with its leading '/', to the output. */
      do {
        out[o++] = in[i++];
      } while (i < n && in[i] != '/');
    }
  }
#undef REST
#undef ALL
  return o;
}

/* A reference split per RFC 3986 appendix B, the fragment dropped. */
struct url_ref {
  int has_auth;
  const char *auth, *path, *query; /* query includes its '?' */
  size_t auth_len, path_len, query_len;
};

static void split_ref(const char *s, size_t n, struct url_ref *r) {
  size_t i = 0, j = 0;
  memset(r, 0, sizeof(*r));
  if (has_slashes(s, n)) {
    for (j = 2; j < n && s[j] != '/' && s[j] != '?' && s[j] != '#'; j++)
      ;
    r->has_auth = 1;
    r->auth = s + 2;
    r->auth_len = j - 2;
    i = j;
  }
  for (r->path = s + i; j < n && s[j] != '?' && s[j] != '#'; j++)
    ;
  r->path_len = j - i;
  for (i = j, r->query = s + i; j < n && s[j] != '#'; j++)
    ;
  r->query_len = j - i;
}

/* Trims, checks and percent-encodes a Location value into a new string.
 * Returns NULL with *err set. */
static char *clean_location(const char *s, size_t n, size_t *outlen,
                            int *err) {
  static const char hex[] = "0123456789ABCDEF";
  size_t i, enc = 0, o = 0;
  char *loc;

  /* Servers pad the value; RFC 9110 says field values exclude OWS. */
  while (n > 0 && (s[0] == ' ' || s[0] == '\t')) {
    s++;
    n--;
  }
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
  if (n > URL_MAX_LEN) {
    *err = XFERE_URL_MALFORMAT;
    return NULL;
  }
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    /* Encoding CR or LF would hide an injection attempt: refuse it. */
    if (c < 0x20 || c == 0x7f) {
      *err = XFERE_URL_MALFORMAT;
      return NULL;
    }
    enc += (c == ' ' || c >= 0x80) ? 3 : 1;
  }
  loc = malloc(enc + 1);
  if (loc == NULL) {
    *err = XFERE_OUT_OF_MEMORY;
    return NULL;
  }
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == ' ' || c >= 0x80) {
      loc[o++] = '%';
      loc[o++] = hex[c >> 4];
      loc[o++] = hex[c & 15];
    } else {
      loc[o++] = (char)c;
    }
  }
  loc[o] = '\0';
  *outlen = o;
  return loc;
}

char *xfer__url_resolve(const char *base, const char *location, size_t loclen,
                        int *err) {
  struct xfer_url b, check;
  struct url_ref r;
  const char *bpath, *bquery, *q, *auth, *query, *rs;
  size_t bpath_len, bquery_len, auth_len, query_len, rn, sn, wn = 0, o, pl;
  char *loc = NULL, *work = NULL, *out = NULL;
  int scheme, rc, dummy, dots = 1;

  if (err == NULL) err = &dummy;
  *err = 0;
  if (base == NULL) {
    *err = XFERE_URL_MALFORMAT;
    return NULL;
  }
  rc = xfer__url_parse(base, strlen(base), &b);
  if (rc != 0) {
    *err = rc;
    return NULL;
  }
  loc = clean_location(location != NULL ? location : "",
                       location != NULL ? loclen : 0, &rn, err);
  if (loc == NULL) return NULL;

  /* The base's path and query, apart; path_needs_slash means no path. */
  bpath = base + b.path_off;
  q = memchr(bpath, '?', b.path_len);
  bpath_len = q != NULL ? (size_t)(q - bpath) : b.path_len;
  bquery = bpath + bpath_len;
  bquery_len = b.path_len - bpath_len;

  scheme = b.scheme;
  rs = loc;
  sn = scheme_len(loc, rn);
  if (sn > 0) {
    int id = scheme_id(loc, sn);
    if (id == 0) {
      *err = XFERE_UNSUPPORTED_PROTOCOL;
      goto fail;
    }
    rs += sn + 1;
    rn -= sn + 1;
    /* "http:g" against an http base is relative: the backward-compatible
     * reading RFC 3986 5.2.2 allows, and what browsers do.  Against an
     * https base it names no host. */
    if (id != b.scheme && !has_slashes(rs, rn)) {
      *err = XFERE_URL_MALFORMAT;
      goto fail;
    }
    scheme = id;
  }
  split_ref(rs, rn, &r);

  work = malloc(bpath_len + r.path_len + 2);
  if (work == NULL) {
    *err = XFERE_OUT_OF_MEMORY;
    goto fail;
  }
  auth = base + b.auth_off;
  auth_len = b.auth_len;
  query = r.query;
  query_len = r.query_len;
  if (r.has_auth) {
    auth = r.auth;
    auth_len = r.auth_len;
    memcpy(work, r.path, wn = r.path_len);
  } else if (r.path_len == 0) {
    /* Same document: the base path as it is, and its query unless the
     * reference brings one ("?" alone is an empty query, not none). */
    memcpy(work, bpath, wn = bpath_len);
    dots = 0;
    if (r.query_len == 0) {
      query = bquery;
      query_len = bquery_len;
    }
  } else if (r.path[0] == '/') {
    memcpy(work, r.path, wn = r.path_len);
  } else {
    /* 5.2.3 merge: the base path up to its last '/', or "/" if empty. */
    size_t keep = bpath_len;
    while (keep > 0 && bpath[keep - 1] != '/') keep--;
    if (keep == 0) work[wn++] = '/';
    memcpy(work + wn, bpath, keep);
    wn += keep;
    memcpy(work + wn, r.path, r.path_len);
    wn += r.path_len;
  }

  out = malloc(sizeof("https://") + auth_len + wn + 1 + query_len);
  if (out == NULL) {
    *err = XFERE_OUT_OF_MEMORY;
    goto fail;
  }
  o = scheme == XFER_SCHEME_HTTPS ? 5 : 4;
  memcpy(out, scheme == XFER_SCHEME_HTTPS ? "https://" : "http://", o + 3);
  o += 3;
  memcpy(out + o, auth, auth_len);
  o += auth_len;
  if (dots) {
    pl = remove_dots(out + o, work, wn);
  } else {
    memcpy(out + o, work, wn);
    pl = wn;
  }
  o += pl;
  /* Always a path, so the result is a complete request target. */
  if (pl == 0) out[o++] = '/';
  memcpy(out + o, query, query_len);
  o += query_len;
  out[o] = '\0';

  /* Whatever the pieces were, the result must be a URL we would accept. */
  rc = xfer__url_parse(out, o, &check);
  if (rc != 0) {
    *err = rc;
    goto fail;
  }
  free(loc);
  free(work);
  return out;

fail:
  free(loc);
  free(work);
  free(out);
  return NULL;
}
