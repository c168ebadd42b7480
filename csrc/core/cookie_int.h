/*
 * cookie_int.h -- one cookie, shared by cookie.c (the rules) and
 * cookie_file.c (the Netscape format); nothing else sees it.
 */
#ifndef XFER_COOKIE_INT_H
#define XFER_COOKIE_INT_H

#include "cookie.h"

/* SameSite as stored (RFC 6265bis; xfer sends no cross-site requests of
 * its own, so it is kept, not enforced). */
enum {
  XFER_SAMESITE_DEFAULT = 0,
  XFER_SAMESITE_STRICT,
  XFER_SAMESITE_LAX,
  XFER_SAMESITE_NONE
};

struct xfer_cookie {
  struct xfer_cookie *next;
  char *name, *value;
  char *domain;                /* lowercase, no leading dot */
  char *path;
  int64_t expires;             /* seconds since the epoch; 0: session */
  uint64_t created;            /* the store's sequence */
  unsigned host_only : 1, secure : 1, httponly : 1, samesite : 2;
};

void xfer__cookie_free1(struct xfer_cookie *k);
/* Stores k (taken in every case). */
enum xfer_cookie_res xfer__cookie_store(struct xfer_cookies *c,
                                        struct xfer_cookie *k, int64_t now);
int64_t xfer__cookie_date(const char *s, size_t n);

#endif
