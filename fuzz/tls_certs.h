/*
 * tls_certs.h -- a throwaway CA and a server certificate for the TLS fuzz
 * target, made in memory (EC P-256) once per process: nothing depends on
 * files in the tree.  The server certificate names IP 127.0.0.1,
 * localhost and tls.test.  xfer has no CAINFO_BLOB, so the CA also goes
 * to /tmp/xfer-fuzz-ca-<pid>.pem for XFEROPT_CAINFO: removed at exit, or
 * by a later process when the one that wrote it is gone (a crash).
 */
#ifndef XFER_FUZZ_TLS_CERTS_H
#define XFER_FUZZ_TLS_CERTS_H

#include <openssl/ssl.h>

struct tls_certs {
  SSL_CTX *server;           /* the certificate and key, TLS 1.2 or later */
  char cafile[64];           /* the CA, PEM */
  char pin[160], badpin[160]; /* PINNEDPUBLICKEY: the key's, another */
};

/* Fills g (aborts on failure). */
void tls_certs_make(struct tls_certs *g);

#endif
