/*
 * fuzz_auth.c -- the WWW-Authenticate parser (xfer__auth_parse) and the
 * values built from what it keeps (xfer__auth_digest, xfer__auth_basic).
 *
 * The input is one or two field values (split at the first '\n'), parsed
 * from exact-size copies (ASan sees any read past them):
 *  - only known scheme bits; the two fields together offer what each does;
 *  - a kept Digest challenge: realm, nonce, opaque NUL-terminated within
 *    their bounds, no control byte, a nonce, a known algorithm, a qop;
 *  - its Authorization value has no control byte but HTAB (which a
 *    quoted-string may hold: no header injection),
 *    a response of the algorithm's length, and parses back as a challenge
 *    with the same realm, nonce and opaque (the quoting round-trips);
 *  - Basic of the input split as user and password has base64's length.
 *
 * Statics are prefixed auth_ so that the regression test can #include
 * every target into one file.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "auth.h"
#include "xfer.h"

#define AUTH_KNOWN (XFERAUTH_BASIC | XFERAUTH_DIGEST | XFERAUTH_BEARER | \
                    XFERAUTH_NEGOTIATE | XFERAUTH_NTLM)

static void auth_parse_copy(const uint8_t *p, size_t n,
                            struct xfer_auth_offer *o) {
  char *c = malloc(n ? n : 1);
  if (!c) abort();
  memcpy(c, p, n);
  xfer__auth_parse(c, n, o);
  free(c);
}

static void auth_check_field(const char *f, size_t cap, const char *what) {
  size_t n = strnlen(f, cap), i;
  FZ_CHECK(n < cap, "%s not NUL-terminated", what);
  for (i = 0; i < n; i++)
    FZ_CHECK((unsigned char)f[i] >= 0x20 || f[i] == '\t',
             "%s has control byte 0x%02x", what, (unsigned char)f[i]);
}

/* The value of the parameter name in v, found outside quoted-strings (a
 * realm may hold 'response="'): its length, or -1. */
static long auth_param_len(const char *v, const char *name) {
  size_t nl = strlen(name), i;
  int inq = 0;
  for (i = 0; v[i]; i++) {
    if (inq && v[i] == '\\' && v[i + 1]) i++;
    else if (v[i] == '"') inq = !inq;
    else if (!inq && !strncmp(v + i, name, nl) && v[i + nl] == '=' &&
             v[i + nl + 1] == '"' && i > 0 && v[i - 1] == ' ')
      return (long)strcspn(v + i + nl + 2, "\"");
  }
  return -1;
}

static void auth_check_digest(const struct xfer_digest *d) {
  struct xfer_digest_req q = {"POST", "/p?q=\"x\"", 8, 7, "0a1b2c", "body",
                              4, 1};
  struct xfer_auth_offer back;
  size_t i, want;
  int err = 0;
  char *v;
  auth_check_field(d->realm, sizeof(d->realm), "realm");
  auth_check_field(d->nonce, sizeof(d->nonce), "nonce");
  auth_check_field(d->opaque, sizeof(d->opaque), "opaque");
  FZ_CHECK(d->nonce[0], "empty nonce kept");
  FZ_CHECK(d->algo >= XFER_HASH_MD5 && d->algo <= XFER_HASH_SHA512_256,
           "algo %d", d->algo);
  v = xfer__auth_digest(d, "us\"er\\", 6, "pw", 2, &q, &err);
  if (!v) {
    FZ_CHECK(err == XFERE_OUT_OF_MEMORY, "digest refused: %d", err);
    return;
  }
  for (i = 0; v[i]; i++)
    FZ_CHECK(((unsigned char)v[i] >= 0x20 || v[i] == '\t') && v[i] != 0x7f,
             "control byte 0x%02x in the value", (unsigned char)v[i]);
  want = d->algo == XFER_HASH_MD5 ? 32 : 64;
  FZ_CHECK(auth_param_len(v, "response") == (long)want, "response in %s", v);
  memset(&back, 0, sizeof(back));
  FZ_CHECK(xfer__auth_parse(v, strlen(v), &back) == 0, "value: %s", v);
  FZ_CHECK(back.has_digest, "the value is no challenge: %s", v);
  FZ_CHECK(!strcmp(back.digest.realm, d->realm), "realm round trip");
  FZ_CHECK(!strcmp(back.digest.nonce, d->nonce), "nonce round trip");
  FZ_CHECK(!strcmp(back.digest.opaque, d->opaque), "opaque round trip");
  free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct xfer_auth_offer all, a, b;
  const uint8_t *nl = memchr(data, '\n', size);
  size_t n1 = nl ? (size_t)(nl - data) : size;
  char *basic;
  memset(&all, 0, sizeof(all));
  memset(&a, 0, sizeof(a));
  memset(&b, 0, sizeof(b));
  auth_parse_copy(data, n1, &a);
  auth_parse_copy(data, n1, &all);
  if (nl) {
    auth_parse_copy(nl + 1, size - n1 - 1, &b);
    auth_parse_copy(nl + 1, size - n1 - 1, &all);
  }
  FZ_CHECK(!(all.avail & ~(unsigned long)AUTH_KNOWN), "bits %lx", all.avail);
  FZ_CHECK(all.avail == (a.avail | b.avail), "avail %lx != %lx | %lx",
           all.avail, a.avail, b.avail);
  FZ_CHECK(all.has_digest == (a.has_digest || b.has_digest), "has_digest");
  if (all.has_digest) {
    FZ_CHECK(all.avail & XFERAUTH_DIGEST, "a Digest challenge, no bit");
    FZ_CHECK(!memcmp(&all.digest, a.has_digest ? &a.digest : &b.digest,
                     sizeof(all.digest)), "not the first usable one");
    auth_check_digest(&all.digest);
  }
  basic = xfer__auth_basic((const char *)data, n1,
                           nl ? (const char *)nl + 1 : "",
                           nl ? size - n1 - 1 : 0);
  if (basic) {
    size_t raw = n1 + 1 + (nl ? size - n1 - 1 : 0);
    FZ_CHECK(strlen(basic) == 6 + (raw + 2) / 3 * 4, "basic length");
    free(basic);
  }
  return 0;
}
