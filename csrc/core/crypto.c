/*
 * crypto.c -- the digests and the random bytes that HTTP authentication
 * needs (auth.c), through OpenSSL's EVP and RAND_bytes.  With the TLS
 * filter, the only core file that includes OpenSSL: the rest of the core
 * asks here (mk/check-includes.sh).
 */
#include "xfer_int.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

static const EVP_MD *md_of(int algo) {
  switch (algo) {
  case XFER_HASH_MD5: return EVP_md5();
  case XFER_HASH_SHA256: return EVP_sha256();
  case XFER_HASH_SHA512_256: return EVP_sha512_256();
  default: return NULL;
  }
}

int xfer__hash(int algo, const void *data, size_t len, unsigned char *out) {
  const EVP_MD *md = md_of(algo);
  unsigned int n = 0;
  if (!md || !EVP_Digest(data, len, out, &n, md, NULL)) return -1;
  return (int)n;
}

int xfer__random(void *buf, size_t n) {
  return RAND_bytes(buf, (int)n) == 1 ? 0 : -1;
}
