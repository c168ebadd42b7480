/*
 * cookie.h -- the cookie engine (RFC 6265bis): a cookie store with a
 * lifetime of its own (struct xfer_cookies: an easy handle owns one now,
 * a share object may own one later), Set-Cookie parsing into it, the
 * Cookie field for a request out of it, and the Netscape cookie file
 * format that libcurl reads and writes.  No transfer state here: the
 * callers give the host, path, scheme and the wall-clock time.
 */
#ifndef XFER_COOKIE_H
#define XFER_COOKIE_H

#include "xfer.h"

#include <stddef.h>
#include <stdint.h>

/* libcurl's limits (docs/api.md, Cookies), and xfer's per domain. */
#define XFER_COOKIE_LINE_MAX   5000 /* a Set-Cookie value, bytes */
#define XFER_COOKIE_NV_MAX     4096 /* a cookie's name and value together */
#define XFER_COOKIE_ATTR_MAX   1024 /* an attribute value (RFC 6265bis) */
#define XFER_COOKIE_PER_RESP   50   /* Set-Cookie taken from one response */
#define XFER_COOKIE_PER_DOMAIN 150  /* kept per domain: the oldest goes */
#define XFER_COOKIE_SEND_MAX   150  /* cookies in one Cookie field */
#define XFER_COOKIE_FIELD_MAX  8190 /* bytes of one Cookie field's value */

/* What xfer__cookie_parse did with a cookie (a refusal is no transfer
 * error: the cookie is dropped, as libcurl does; docs/faults.md). */
enum xfer_cookie_res {
  XFER_COOKIE_STORED = 0,
  XFER_COOKIE_REMOVED,     /* an expiry in the past deleted it */
  XFER_COOKIE_BAD_SYNTAX,  /* no name and no value, or no '=' at all */
  XFER_COOKIE_TOO_BIG,     /* over the line or name+value limit */
  XFER_COOKIE_CONTROL,     /* a control byte in the name or value */
  XFER_COOKIE_BAD_DOMAIN,  /* Domain does not cover the host, or an IP */
  XFER_COOKIE_PUBLIC_SUFFIX, /* Domain is a public suffix (libpsl) */
  XFER_COOKIE_NOT_SECURE,  /* Secure, or over a Secure one, from http */
  XFER_COOKIE_BAD_PREFIX,  /* __Secure- / __Host- rules broken */
  XFER_COOKIE_NOMEM
};

struct xfer_cookie;
struct xfer_cookies {
  struct xfer_cookie *list;    /* newest first */
  size_t n;
  uint64_t seq;                /* creation order, for ties and eviction */
};

/* Where a Set-Cookie came from, or where a request goes. */
struct xfer_cookie_origin {
  const char *host;            /* not NUL-terminated; NULL: no origin (a
                                  line given by the application: it needs
                                  a Domain) */
  size_t host_len;
  const char *path;            /* the request's path, query allowed */
  size_t path_len;
  int secure;                  /* https, or a loopback host */
};

struct xfer_cookies *xfer__cookies_new(void);
void xfer__cookies_free(struct xfer_cookies *c);
void xfer__cookies_clear(struct xfer_cookies *c, int session_only);

/* One Set-Cookie value (without "Set-Cookie:") from origin o at time now
 * (seconds, wall clock). */
enum xfer_cookie_res xfer__cookie_parse(struct xfer_cookies *c,
                                        const char *line, size_t len,
                                        const struct xfer_cookie_origin *o,
                                        int64_t now);
/* One line of a cookie file: Netscape format ("#HttpOnly_" allowed), or
 * "Set-Cookie: ..." with a Domain.  Comments and blank lines: STORED. */
enum xfer_cookie_res xfer__cookie_line(struct xfer_cookies *c,
                                       const char *line, size_t len,
                                       int64_t now, int skip_session);
const char *xfer__cookie_res_text(enum xfer_cookie_res r);

/* The Cookie field's value for a request to o (malloc'd, "" never: NULL
 * with *oom 0 when no cookie applies).  Expired cookies go first. */
char *xfer__cookie_field(struct xfer_cookies *c,
                         const struct xfer_cookie_origin *o, int64_t now,
                         int *oom);

/* Files: load reads every line (a missing file is no error: 0); save
 * writes them all ("-": stdout) through a temporary file and a rename.
 * 0, or -1 with errno. */
int xfer__cookies_load(struct xfer_cookies *c, const char *path,
                       int64_t now, int skip_session);
int xfer__cookies_save(struct xfer_cookies *c, const char *path,
                       int64_t now);
/* Every cookie as a Netscape line (getinfo COOKIELIST); NULL when none
 * (*oom says why). */
struct xfer_slist *xfer__cookies_list(struct xfer_cookies *c, int *oom);

#endif
