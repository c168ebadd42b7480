/*
 * url.h -- parsing the URLs xfer accepts, and resolving redirect targets.
 *
 * Pure: no I/O.  Only http and https.  Components are offsets into the
 * string that was parsed, so parsing allocates nothing.
 */
#ifndef XFER_URL_H
#define XFER_URL_H

#include <stddef.h>
#include <stdint.h>

enum xfer_scheme { XFER_SCHEME_HTTP = 1, XFER_SCHEME_HTTPS = 2 };

/* The longest host name taken: a DNS name has at most 253 characters (255
 * with a final dot and some room); longer is malformed, not a lookup. */
#define XFER_URL_MAX_HOST 255

struct xfer_url {
  int scheme;                  /* enum xfer_scheme */
  uint16_t port;               /* explicit, or 80/443 */
  unsigned port_explicit : 1;
  unsigned host_is_ipv6 : 1;   /* was a [bracketed] literal */
  unsigned host_is_ipv4 : 1;   /* dotted-quad literal */
  size_t host_off, host_len;   /* without brackets; not lowercased */
  size_t user_off, user_len;   /* userinfo before ':' (len 0 if none) */
  size_t pass_off, pass_len;   /* after ':' (len 0 if none) */
  unsigned has_userinfo : 1;
  size_t path_off, path_len;   /* path plus '?query'; len 0 means "/" */
  /* The path part is a bare "?query" ("http://h?x=1"): the request writer
   * must send "/" before it, since a request-target cannot start with '?'. */
  unsigned path_needs_slash : 1;
  /* The whole authority (userinfo@host:port, brackets kept), so a resolver
   * can carry it over to a relative reference unchanged. */
  size_t auth_off, auth_len;
  /* the fragment is dropped: never sent */
};

/* Parses an absolute URL.  A URL with no "scheme://" is taken as http, the
 * way libcurl guesses: "example.com/x", "127.0.0.1:8080/a" and "u:p@h" are
 * hosts, while "name:" followed by anything but a port or a userinfo '@'
 * ("javascript:...", "mailto:...") is a scheme.  Returns 0, or an XFERcode:
 *   XFERE_UNSUPPORTED_PROTOCOL (1) a scheme other than http/https;
 *   XFERE_URL_MALFORMAT (3) empty, no host, bad port (0 or > 65535 or not
 *   digits), bad IPv6 literal, whitespace or control bytes (CR, LF, NUL,
 *   TAB, SP, DEL and < 0x20) anywhere, a host with characters outside
 *   [A-Za-z0-9.-_~%] (or an IPv6 literal), a host name longer than
 *   XFER_URL_MAX_HOST, length over 64 KiB.
 * Also malformed: "http:x" (a scheme without "//"), a '%' in the host not
 * followed by two hex digits, a second '@' (the first one ends the
 * userinfo), a host of only digits and dots that is not a dotted quad of
 * decimal octets without leading zeros ("1.2.3", "1.2.3.999", "010.0.0.1"),
 * and IPv6 zone ids.  An empty port ("h:/") means the default.  Bytes >= 0x80
 * are accepted in the path and query (sent raw, as libcurl does), never in
 * the host.  Backslashes are not separators.  len is explicit, so an
 * embedded NUL is seen (and refused). */
int xfer__url_parse(const char *url, size_t len, struct xfer_url *u);

/* Writes "host:port" lowercased (brackets kept for IPv6) into buf, NUL-
 * terminated; the port is always there, default or not, so the string can
 * key the connection cache.  Returns its length, or -1 if it does not fit
 * (with its NUL) in cap bytes. */
int xfer__url_hostport(const char *url, const struct xfer_url *u, char *buf,
                       size_t cap);

/* Resolves a Location header value against the URL it came from (RFC 3986
 * section 5.2, dot segments removed, never above "/").  The Location is
 * first trimmed of surrounding SP/HTAB; bytes that may not appear in a URL
 * (space, >= 0x80) are then percent-encoded; CR, LF, NUL and other control
 * bytes make it fail.  Fragments (the base's and the Location's) are
 * dropped.  "http:g" against an http base is read as the relative "g" (the
 * RFC's backward-compatible choice).  The result always has a path ("/" at
 * least), always "http://" or "https://", and passes xfer__url_parse.
 * Returns a malloc'd NUL-terminated absolute URL, or NULL (with *err, if
 * not NULL, set to an XFERcode: 3 for malformed, 1 for a scheme other than
 * http/https, 27 for out of memory). */
char *xfer__url_resolve(const char *base, const char *location, size_t loclen,
                        int *err);

#endif
