/*
 * auth.h -- HTTP authentication (RFC 7235): Basic (RFC 7617), Digest
 * (RFC 7616) and Bearer (RFC 6750).
 *
 * Two layers.  The first knows nothing of transfers, origins or proxies:
 * it parses a WWW-Authenticate (or Proxy-Authenticate) field value and
 * turns credentials, a challenge, a method and a request target into an
 * Authorization (or Proxy-Authorization) value.  The second is a
 * transfer's state (libcurl's HTTPAUTH semantics: which scheme, the extra
 * round trip, when to send again), built on the first.
 */
#ifndef XFER_AUTH_H
#define XFER_AUTH_H

#include "xfer.h"

#include <stddef.h>
#include <stdint.h>

struct xfer_req;

/* The longest realm, nonce or opaque taken from a challenge: a longer one
 * makes that challenge unusable (a hostile server gets no echo of it). */
#define XFER_AUTH_FIELD_MAX 256

/* crypto.c: the digests Digest uses, and a CSPRNG. */
enum { XFER_HASH_MD5 = 1, XFER_HASH_SHA256, XFER_HASH_SHA512_256 };
#define XFER_HASH_MAX 32 /* bytes */
/* The digest of data into out (XFER_HASH_MAX bytes): its length, or -1. */
int xfer__hash(int algo, const void *data, size_t len, unsigned char *out);
int xfer__random(void *buf, size_t n); /* 0, or -1 */

/* One Digest challenge, its quoted-strings unescaped. */
struct xfer_digest {
  char realm[XFER_AUTH_FIELD_MAX + 1];
  char nonce[XFER_AUTH_FIELD_MAX + 1];
  char opaque[XFER_AUTH_FIELD_MAX + 1];
  unsigned char algo;          /* XFER_HASH_* */
  unsigned sess : 1;           /* a -sess algorithm */
  unsigned has_algo : 1;       /* the challenge named it: echoed back */
  unsigned has_opaque : 1;
  unsigned stale : 1;
  unsigned qop_auth : 1, qop_int : 1; /* qop offered: auth, auth-int */
  unsigned userhash : 1;
};

/* What the challenges of one response offer. */
struct xfer_auth_offer {
  unsigned long avail;         /* XFERAUTH_* bits of the schemes named */
  unsigned has_digest : 1;     /* digest holds the first usable one */
  struct xfer_digest digest;
};

/* Adds the challenges of one field value to o: the schemes it names, and
 * its first usable Digest challenge if o has none yet.  0, or -1 at a
 * syntax error (what came before it is kept).  Linear in n; never
 * allocates. */
int xfer__auth_parse(const char *v, size_t n, struct xfer_auth_offer *o);

/* "Basic <base64(user:pass)>", malloc'd; NULL when out of memory. */
char *xfer__auth_basic(const char *user, size_t ulen, const char *pass,
                       size_t plen);

/* A request, as Digest answers it. */
struct xfer_digest_req {
  const char *method;
  const char *uri;             /* the request target as sent */
  size_t uri_len;
  uint32_t nc;                 /* requests with this nonce, this one too */
  const char *cnonce;
  const char *body;            /* for qop auth-int: the body, */
  size_t body_len;
  int body_known;              /* when known (no body, or in memory) */
};

/* The value answering challenge d for user/pass, malloc'd; NULL with
 * *err: XFERE_OUT_OF_MEMORY, XFERE_BAD_FUNCTION_ARGUMENT (a control byte
 * in the user name), XFERE_NOT_BUILT_IN (only auth-int offered and the
 * body is not known). */
char *xfer__auth_digest(const struct xfer_digest *d, const char *user,
                        size_t ulen, const char *pass, size_t plen,
                        const struct xfer_digest_req *q, int *err);

/* ---- a transfer's authentication (e->auth, made when first needed) ---- */

struct xfer_auth {
  unsigned long picked;        /* one scheme, or the wanted bits before a
                                  round trip told which */
  unsigned long avail;         /* HTTPAUTH_AVAIL: schemes 401s offered */
  unsigned long used;          /* HTTPAUTH_USED: the last request's */
  struct xfer_auth_offer offer; /* the 401 being received */
  struct xfer_digest dg;       /* the challenge answered */
  char dg_origin[280];         /* whose: "s://host:port" */
  uint32_t nc;
  int rounds;                  /* sent again for this URL */
  unsigned have_dg : 1;
  unsigned probe : 1;          /* the last request withheld its body */
  unsigned probe_done : 1;     /* a probe got a 2xx: send bodies */
  unsigned problem : 1;        /* credentials refused, or nothing usable:
                                  no more tries this run */
  unsigned body_cb : 1;        /* the request's body comes from a read
                                  callback (auth-int cannot hash it) */
};

/* Refusals before anything is sent: 3 for a control byte in the URL's
 * credentials (libcurl's), 43 for one in the bearer token. */
XFERcode xfer__auth_check(XFER *e);
/* The Authorization value for request r (r->auth, owned by r), if any;
 * may withhold r's body (a probe: Content-Length 0).  allowed: the
 * credentials may go to this origin; custom: the caller set its own
 * Authorization (it wins; nothing is negotiated). */
XFERcode xfer__auth_header(XFER *e, struct xfer_req *r, int allowed,
                           int custom);
/* A response's header section: a status line (is it a 401?), and each
 * WWW-Authenticate field of a 401. */
void xfer__auth_section(XFER *e, const char *status_line, size_t len);
int xfer__auth_challenge(XFER *e, const char *v, size_t n);
/* The final header section is in: 1 when the request must be sent again
 * (with credentials, or with the body a probe withheld; a 407 of the
 * HTTP proxy is proxy.c's to answer). */
int xfer__auth_response(XFER *e, int status);
void xfer__auth_run_start(XFER *e);  /* a new run of the handle */
/* The request target of r as sent ("/" for an empty path), malloc'd, its
 * length in *len; ie: without the query (DIGEST_IE).  NULL out of
 * memory. */
char *xfer__auth_target(const struct xfer_req *r, int ie, size_t *len);
void xfer__auth_redirected(XFER *e); /* a new URL in the same run */
void xfer__auth_free(XFER *e);

#endif
