/*
 * tls_certs.c -- see tls_certs.h.
 */
#include "tls_certs.h"

#include "drive.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

static char tc_written[64];

static void tc_unlink_ca(void) {
  if (tc_written[0]) unlink(tc_written);
}

/* A run that crashed (abort) left its CA file: the ones of processes that
 * are gone are removed. */
static void tc_sweep_ca(void) {
  DIR *dir = opendir("/tmp");
  struct dirent *de;
  char path[300];
  if (!dir) return;
  while ((de = readdir(dir)) != NULL) {
    long pid;
    if (sscanf(de->d_name, "xfer-fuzz-ca-%ld.pem", &pid) != 1 ||
        (kill((pid_t)pid, 0) != 0 && errno == ESRCH) == 0)
      continue;
    snprintf(path, sizeof(path), "/tmp/%s", de->d_name);
    unlink(path);
  }
  closedir(dir);
}

static void tc_ext(X509 *x, X509 *issuer, int nid, const char *value) {
  X509V3_CTX v3;
  X509_EXTENSION *ext;
  X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
  ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
  FZ_CHECK(ext && X509_add_ext(x, ext, -1), "extension %d", nid);
  X509_EXTENSION_free(ext);
}

static X509 *tc_cert(EVP_PKEY *key, EVP_PKEY *signer, X509 *issuer,
                     const char *cn) {
  X509 *x = X509_new();
  X509_NAME *name;
  FZ_CHECK(x != NULL, "X509_new");
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), issuer ? 2 : 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600L * 24 * 365);
  X509_set_pubkey(x, key);
  name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             (const unsigned char *)cn, -1, -1, 0);
  X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
  if (!issuer) {
    tc_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
    tc_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
    tc_ext(x, x, NID_subject_key_identifier, "hash");
  } else {
    tc_ext(x, issuer, NID_basic_constraints, "CA:FALSE");
    tc_ext(x, issuer, NID_ext_key_usage, "serverAuth");
    tc_ext(x, issuer, NID_subject_alt_name,
           "IP:127.0.0.1,DNS:localhost,DNS:tls.test");
    tc_ext(x, issuer, NID_authority_key_identifier, "keyid");
  }
  FZ_CHECK(X509_sign(x, signer, EVP_sha256()) > 0, "X509_sign");
  return x;
}

static void tc_make_pin(struct tls_certs *g, EVP_PKEY *key) {
  unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  char b64[EVP_MAX_MD_SIZE * 2];
  int len = i2d_PUBKEY(key, &der);
  FZ_CHECK(len > 0 && EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(),
                                 NULL), "pin digest");
  OPENSSL_free(der);
  EVP_EncodeBlock((unsigned char *)b64, md, (int)mdlen);
  snprintf(g->pin, sizeof(g->pin), "sha256//%s", b64);
  b64[3] = b64[3] == 'A' ? 'B' : 'A';
  snprintf(g->badpin, sizeof(g->badpin), "sha256//%s", b64);
}

void tls_certs_make(struct tls_certs *g) {
  EVP_PKEY *cakey, *key;
  X509 *ca, *cert;
  FILE *f;
  int fd;
  cakey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  FZ_CHECK(cakey && key, "keygen");
  ca = tc_cert(cakey, cakey, NULL, "xfer fuzz CA");
  cert = tc_cert(key, cakey, ca, "xfer fuzz server");
  tc_sweep_ca();
  snprintf(g->cafile, sizeof(g->cafile), "/tmp/xfer-fuzz-ca-%ld.pem",
           (long)getpid());
  fd = open(g->cafile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  FZ_CHECK(fd >= 0 && (f = fdopen(fd, "w")) != NULL, "CA file");
  FZ_CHECK(PEM_write_X509(f, ca) == 1 && fclose(f) == 0, "CA file");
  snprintf(tc_written, sizeof(tc_written), "%s", g->cafile);
  atexit(tc_unlink_ca);
  tc_make_pin(g, key);
  g->server = SSL_CTX_new(TLS_server_method());
  FZ_CHECK(g->server && SSL_CTX_use_certificate(g->server, cert) == 1 &&
               SSL_CTX_use_PrivateKey(g->server, key) == 1,
           "server SSL_CTX");
  SSL_CTX_set_session_cache_mode(g->server, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_min_proto_version(g->server, TLS1_2_VERSION);
  X509_free(ca);
  X509_free(cert);
  EVP_PKEY_free(cakey);
  EVP_PKEY_free(key);
}

